# SPDX-License-Identifier: GPL-2.0
#
# Plan "abort": a command the device holds past its timeout is aborted, and the disk works on.
#
# The host gives the first disk a latency (null-co latency-ns, see suite.py): every request
# takes RSCSI_LATENCY_MS (10 s: five times the worst case of the 1 s timeout, which the block
# layer rounds up to the next whole second; the reason is next to ABORT_LATENCY_MS in suite.py).
# A READ(10) through SG_IO with a 1 s timeout times out in the device;
# the midlayer asks the driver to abort it (eh_abort_handler), which for rmegasas sends an MFI
# ABORT frame as a reserved command. The SG_IO call must return an error, not hang; the abort
# must succeed (no escalation to a host reset), and the disk must still answer afterwards.
#
# Settings (run.conf): RSCSI_MODULES (one module), RSCSI_LATENCY_MS.

plan_tests=5

timed_out() {
	_start=$(date +%s)
	# READ(10), LBA 0, one block.
	if sg_raw -t 1 -r 512 "/dev/$sg" 28 00 00 00 00 00 00 00 01 00 >/tmp/sg.out 2>&1; then
		cat /tmp/sg.out
		echo "the command completed within its 1 s timeout; the device should take ${RSCSI_LATENCY_MS} ms"
		return 1
	fi
	cat /tmp/sg.out
	echo "sg_raw failed after $(($(date +%s) - _start)) s"
	dmesg | grep -iE "abort|timed out|timeout" | tail -n 5
}

abort_counted() {
	grep -E '^(aborts|aborts_failed|host_resets|device_resets|late_completions):' "$state"
	grep -q '^aborts: [1-9]' "$state" && grep -q '^aborts_failed: 0$' "$state" &&
		grep -q '^host_resets: 0$' "$state"
}

plan_main() {
	mod=$RSCSI_MODULES
	check "$mod: load" modprobe "$mod"
	# The scan's reads each take RSCSI_LATENCY_MS too; 600 s allows for 60 of them (the
	# scan makes a few).
	first_disk "$mod" 600
	check "$mod: a command held past its timeout fails, and does not hang" timed_out
	check "$mod: it was aborted, without a reset" abort_counted
	check "$mod: the disk answers after the abort" \
		dd if="/dev/$sd" of=/dev/null bs=4k count=2 iflag=direct
	sed 's/^/# /' "$state"
	check "$mod: unload" rmmod "$mod"
}
