# SPDX-License-Identifier: GPL-2.0
#
# Plan "recover": the error handling of a driver with task management, in one boot with two
# controllers (rvirtio_scsi: its control queue, eh_timed_out and host reset), after the same
# steps on the C driver as the baseline.
#
# The C baseline (a module group such as virtio_pci+virtio_scsi): the held command of the first
# step is not aborted but given more time until the device answers (virtscsi_eh_timed_out
# always answers SCSI_EH_RESET_TIMER), and must succeed; the resets under load must lose no
# I/O (virtio_scsi has no target or host reset handler: those sg_reset calls fail, which the
# step prints). The C driver has no debugfs counters and no lost-interrupt knob, so those
# steps and the unbind/reload rounds run on the Rust driver only.
#
#   - Controller 1's disk holds every request for RSCSI_LATENCY_MS (10 s, five times the worst
#     case of the 1 s timeout; see ABORT_LATENCY_MS in suite.py): a READ(10) with a 1 s timeout
#     is aborted (ABORT_TASK), without a reset, and the disk answers afterwards (the "abort"
#     plan's steps). Controller 1 is then detached (driver_override), so that the reloads below
#     do not scan its slow disk again.
#   - Controller 0's disk, under a verified fio load: LUN, target and host resets (sg_reset -d,
#     -t, -H) lose no I/O and move the counters; a lost interrupt (the driver's drop-irq debugfs
#     knob) is found by eh_timed_out in the used ring, without an abort; unbind/bind and
#     rmmod/modprobe as in the "robust" plan.
#
# Settings (run.conf): RSCSI_MODULES (the C group, then the Rust module), RSCSI_LATENCY_MS,
# RSCSI_FIO_MB.

. /rscsi/plans/robust.sh
. /rscsi/plans/abort.sh

plan_tests=0
for _m in $RSCSI_MODULES; do
	case $_m in
	*+*) plan_tests=$((plan_tests + 5)) ;;
	*) plan_tests=$((plan_tests + 15)) ;;
	esac
done

# held_completes: the C baseline's first step: the same READ(10) with a 1 s timeout succeeds
# once the device answers, because the driver keeps giving it more time. The elapsed time is
# printed, not judged.
held_completes() {
	_start=$(date +%s)
	if ! sg_raw -t 1 -r 512 "/dev/$sg" 28 00 00 00 00 00 00 00 01 00 >/tmp/sg.out 2>&1; then
		cat /tmp/sg.out
		echo "the held command failed: the driver did not give it more time"
		return 1
	fi
	echo "completed after $(($(date +%s) - _start)) s (the device holds it ${RSCSI_LATENCY_MS} ms)"
}

# baseline GROUP: the C driver's steps.
baseline() {
	check "$1 (baseline): load" load_group "$1"
	check "$1 (baseline): both disks appear" wait_disks 600 "$1"
	rscsi_disks "$1" | sed -n 2p >/tmp/disks
	the_disk
	check "$1 (baseline): a command held past its timeout is given more time, not aborted" \
		held_completes
	rscsi_disks "$1" | head -n 1 >/tmp/disks
	the_disk
	check "$1 (baseline): LUN, target and host resets under load lose no I/O" resets_under_load
	check "$1 (baseline): unload" unload_group "$1"
}

# counters_moved: LUN, target and host resets were each sent, and none failed.
counters_moved() {
	grep -E '^(device|target|host)_resets(_failed)?:|^(reclaimed|late_completions):' "$state"
	for c in device_resets target_resets host_resets; do
		grep -q "^$c: [1-9]" "$state" || { echo "$c did not move"; return 1; }
		grep -q "^${c}_failed: 0$" "$state" || { echo "a ${c%s} failed"; return 1; }
	done
}

# lost_interrupt: the next request queue interrupt is dropped; the read it would have
# completed waits for its timeout (lowered to 5 s: the outcome does not depend on when it
# fires), eh_timed_out finds it in the used ring and completes it. No abort is sent.
lost_interrupt() {
	_dev=/sys/block/$sd/device
	_t=$(cat "$_dev/timeout")
	_aborts=$(sed -n 's/^aborts: //p' "$state")
	echo 5 >"$_dev/timeout"
	echo "drop-irq 1" >"$state" || return 1
	dd if="/dev/$sd" of=/dev/null bs=4k count=1 skip=77 iflag=direct
	_rc=$?
	echo "$_t" >"$_dev/timeout"
	grep -E '^(timeouts|lost_interrupts|dropped_irqs|drop_irqs_pending|aborts):' "$state"
	[ $_rc = 0 ] || { echo "the read failed"; return 1; }
	grep -q '^dropped_irqs: [1-9]' "$state" || { echo "no interrupt was dropped"; return 1; }
	grep -q '^lost_interrupts: [1-9]' "$state" || { echo "no lost interrupt was found"; return 1; }
	[ "$(sed -n 's/^aborts: //p' "$state")" = "$_aborts" ] || { echo "an abort was sent"; return 1; }
}

# detach PCI: unbinds the controller and keeps it unbound (driver_override), and drops its
# disks from the expected ones.
detach() {
	echo none >"/sys/bus/pci/devices/$1/driver_override" || return 1
	echo "$1" >"/sys/bus/pci/drivers/$mod/unbind" || return 1
	RSCSI_DISKS=$(printf '%s\n' "$RSCSI_DISKS" | grep -v " $1 ")
}

# rust MODULE: the Rust driver's steps.
rust() {
	mod=$1
	check "$mod: load" modprobe "$mod"
	# The latency disk's scan reads take RSCSI_LATENCY_MS each: 600 s allows for 60.
	check "$mod: both disks appear" wait_disks 600 "$mod"

	rscsi_disks "$mod" | sed -n 2p >/tmp/disks
	the_disk
	state=$(host_state "$mod" "$pci")
	pci1=$pci
	check "$mod: a command held past its timeout fails, and does not hang" timed_out
	check "$mod: it was aborted, without a reset" abort_counted
	check "$mod: the disk answers after the abort" \
		dd if="/dev/$sd" of=/dev/null bs=4k count=2 iflag=direct
	sed 's/^/# /' "$state"
	check "$mod: the slow controller is detached" detach "$pci1"

	rscsi_disks "$mod" | head -n 1 >/tmp/disks
	the_disk
	state=$(host_state "$mod" "$pci")
	check "$mod: LUN, target and host resets under load lose no I/O" resets_under_load
	check "$mod: reset counters moved, no reset failed" counters_moved
	check "$mod: a lost interrupt is found when the command times out" lost_interrupt
	check "$mod: verified I/O after the resets" load_job "$sd" 5
	rounds
}

plan_main() {
	for _group in $RSCSI_MODULES; do
		case $_group in
		*+*) baseline "$_group" ;;
		*) rust "$_group" ;;
		esac
	done
}
