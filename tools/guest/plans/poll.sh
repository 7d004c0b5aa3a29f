# SPDX-License-Identifier: GPL-2.0
#
# Plan "poll": polled I/O on a driver's poll queues (HostOps::map_queues and mq_poll).
#
#   - The module loads with RSCSI_MODPARAMS (which ask for poll queues) and the host says how
#     many it has; the disk's queue then allows polling (queue/io_poll).
#   - fio with io_uring and hipri (IORING_SETUP_IOPOLL: the submitter polls instead of waiting
#     for an interrupt), verified, at iodepth 1 and 32: no mismatch, no error.
#   - The driver's poll counters moved: polls happened and found completions.
#   - Ordinary (interrupt-driven) I/O still works beside it.
#
# Settings (run.conf): RSCSI_MODULES (one module), RSCSI_MODPARAMS, RSCSI_POLL_QUEUES (what
# the host must report).

plan_tests=7

# polled_job SD IODEPTH: a verified polled job. The one reply queue of MFI serves the poll
# queues too, and QEMU interrupts for every reply, so a poll and the interrupt handler race for
# each completion. fio runs on CPU 0, away from the controller's interrupt (CPU 1, as the bench
# plan prints): the poller spins there between submissions while CPU 1 takes the interrupt, so
# polls find completions in every run, not only when the timing favours them; what the test
# needs is one among thousands of I/Os.
polled_job() {
	fio $FIO_QUICK --name="poll-qd$2" --filename="/dev/$1" --direct=1 --ioengine=io_uring --hipri=1 \
		--cpus_allowed=0 \
		--iodepth="$2" --rw=randwrite --bsrange=4k-128k --verify=crc32c --verify_fatal=1 \
		--size=16M --randseed="$2" --output=/tmp/poll.out
	_rc=$?
	grep -E "IOPS=|err=" /tmp/poll.out | head -n 4
	return $_rc
}

counters_moved() {
	grep -E '^(poll_queues|polls|poll_completions|interrupts|completed):' "$state"
	grep -q "^poll_queues: $RSCSI_POLL_QUEUES\$" "$state" &&
		grep -q '^polls: [1-9]' "$state" && grep -q '^poll_completions: [1-9]' "$state"
}

plan_main() {
	mod=$RSCSI_MODULES
	check "$mod: load $RSCSI_MODPARAMS" modprobe "$mod" $RSCSI_MODPARAMS
	first_disk "$mod" "$DISK_WAIT"
	check "$mod: $sd allows polling" sh -c "cat /sys/block/$sd/queue/io_poll; grep -q 1 /sys/block/$sd/queue/io_poll"
	check "$mod: polled I/O, iodepth 1, verified" polled_job "$sd" 1
	check "$mod: polled I/O, iodepth 32, verified" polled_job "$sd" 32
	check "$mod: polls found completions" counters_moved
	check "$mod: interrupt-driven I/O beside it, verified" fio $FIO_QUICK --name=irq --filename="/dev/$sd" \
		--direct=1 --ioengine=libaio --iodepth=16 --rw=randrw --bsrange=4k-64k --verify=crc32c \
		--verify_fatal=1 --size=16M --offset=32M --randseed=5
	sed 's/^/# /' "$state"
	check "$mod: unload" rmmod "$mod"
}
