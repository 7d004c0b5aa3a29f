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
#     plan's steps). Then the timeout ladder: with the driver's tmf-reject knob (3 shots) the
#     device's answers to task management are taken as FUNCTION_REJECTED, so that the same
#     held READ(10) takes the error handler through abort, LUN reset and target reset, each
#     refused, to a host reset (a device reset), which succeeds; the command ends once (its
#     late completion ignored), and a verified load on the controller's second, fast disk
#     loses nothing. QEMU 7.2 itself never makes the midlayer go past the abort: it answers an
#     ABORT_TASK when the held I/O ends, and a LUN reset by draining it; a refusing device is
#     what makes each step fail, whatever the latency. The C driver never aborts (its baseline
#     step above): there is no ladder to compare. Then the ladder as the latency demands it:
#     reloaded with tmf_timeout=1, the same READ(10) gets its abort sent 1 to 2 s after it
#     (its 1 s timeout, rounded up to the next second), and that abort fails by its own 1 s
#     timeout (1 to 2 s) some 3 to 4 s in, while QEMU holds its answer until the I/O ends,
#     10 s in (host time): the guest may fall 6 s behind before the outcome changes, two and
#     a half times the worst case seen here. The queue's one reserved command then stays
#     abandoned until the device answers it or a reset, so the LUN and target resets cannot be
#     sent (they fail at once) and a host reset ends the command (QEMU drains the I/O in the
#     vCPU that reset it: a stall of at most the rest of the 10 s, below the soft-lockup and
#     RCU stall thresholds). Controller 1 is then detached
#     (driver_override), so that the reloads below do not scan its slow disk again.
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
	*) plan_tests=$((plan_tests + 22)) ;;
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

# note NAME:N...: remembers each counter NAME (in _was_NAME).
note() {
	for _c in "$@"; do
		eval "_was_${_c%%:*}=\$(counter ${_c%%:*})"
	done
}

# moved NAME:N...: each counter NAME moved by N since `note`; prints them.
moved() {
	_m=0
	for _c in "$@"; do
		_n=${_c%%:*}
		eval "_was=\$_was_$_n"
		echo "$_n: $(counter "$_n") (was $_was)"
		[ "$(counter "$_n")" = $((_was + ${_c##*:})) ] ||
			{ echo "$_n: wanted $((_was + ${_c##*:}))"; _m=1; }
	done
	return $_m
}

# LADDER: the counters the ladder moves, and by how much.
LADDER="aborts:1 aborts_failed:1 device_resets:1 device_resets_failed:1 target_resets:1
target_resets_failed:1 host_resets:1 host_resets_failed:0"

# ladder FAST: the held READ(10) with the device's task management answers refused (see the
# header), and a verified load on FAST.
ladder() {
	note $LADDER
	load_bg "$1" || return 1
	echo "fault tmf-reject 3" >"$state" || { stop_load; return 1; }
	timed_out
	_held=$?
	echo "# the load on $1:"
	# (stop_load sets _rc of its own.)
	stop_load || { echo "the load on the other disk failed"; return 1; }
	return $_held
}

# ladder_counted: each step of the ladder was tried once and refused, the host reset done, the
# knob spent, nothing left outstanding.
ladder_counted() {
	grep -E '^(late_completions|fault_tmf-reject):' "$state"
	moved $LADDER
	_bad=$?
	grep -q '^fault_tmf-reject: 3 (armed 0)$' "$state" || { echo "the knob did not fire 3 times"; _bad=1; }
	grep -q '^outstanding: 0$' "$state" || { echo "commands outstanding"; _bad=1; }
	return $_bad
}

# TMF_LADDER: what an abort that outlasts tmf_timeout moves: it fails; the queue's one
# reserved command stays abandoned until the device answers it (when the I/O ends) or a reset,
# so the LUN and target resets cannot be sent and fail at once; the host reset ends it.
TMF_LADDER="aborts:1 aborts_failed:1 device_resets:1 device_resets_failed:1 target_resets:1
target_resets_failed:1 host_resets:1 host_resets_failed:0"

# reload_tmf SECONDS: the driver again, with tmf_timeout=SECONDS; the slow disk found again.
reload_tmf() {
	rmmod "$mod" || return 1
	modprobe "$mod" tmf_timeout="$1" || return 1
	# The latency disk's scan reads take RSCSI_LATENCY_MS each: 600 s allows for 60.
	wait_disks 600 "$mod" || return 1
	rscsi_disks "$mod" | sed -n 2p >/tmp/disks
	the_disk
	state=$(host_state "$mod" "$pci")
}

# outlasted: the held READ(10) (see the header) with tmf_timeout=1: the abort gets no answer
# in time and fails, and the ladder climbs to a host reset, which ends the command.
outlasted() {
	note $TMF_LADDER
	timed_out || return 1
	grep -E '^late_completions:' "$state"
	moved $TMF_LADDER
	_bad=$?
	grep -q '^outstanding: 0$' "$state" || { echo "commands outstanding"; _bad=1; }
	return $_bad
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
	check "$mod: tmf_timeout=0 and =301 are refused, naming the range" \
		sh -c "RSCSI_DRIVER=$mod; . /rscsi/plans/probe.sh; refused tmf_timeout=0 && refused tmf_timeout=301"
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
	fast=$(rscsi_disks "$mod" | sed -n 3p | { read -r _h _k _p _id _lun _r; find_disk "$_p" "$_id" "$_lun"; })
	check "$mod: task management refused: abort, LUN and target reset fail, a host reset ends it" \
		ladder "$fast"
	check "$mod: each step tried once, the command ended once, the other disk's load unharmed" \
		ladder_counted
	check "$mod: the disk answers after the host reset" \
		dd if="/dev/$sd" of=/dev/null bs=4k count=2 iflag=direct
	check "$mod: reloaded with tmf_timeout=1" reload_tmf 1
	check "$mod: an abort that outlasts tmf_timeout fails, the ladder climbs to a host reset" outlasted
	check "$mod: the disk answers after the host reset (2)" \
		dd if="/dev/$sd" of=/dev/null bs=4k count=2 iflag=direct
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
