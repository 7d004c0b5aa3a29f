# SPDX-License-Identifier: GPL-2.0
#
# Steps "knobs": a device that lies, through a Rust driver's test-only fault knobs (debugfs
# `fault NAME N`, on kernel::scsi::fault; the drivers' pages list them). Sourced by the
# "errors" plan, which runs them on each disk when RSCSI_KNOBS is 1, after its own steps. For
# each knob: it fired, the driver's counter moved by exactly as much, and the I/O ended as it
# must (verified, or retried and succeeded). Uses $mod, $m, $sd and $state of the caller, and
# the disk from 16 MiB on (beyond the errors plan's bad sectors).
#
# Both drivers:
#   - twice and bogus: every completion reported twice, or after a context never posted, is
#     ignored: late_completions moves by the shots fired, a verified fio passes.
#   - sense: completions that claim 255 bytes of sense (a unit attention): the driver copies
#     the 96 that fit (sense_clamped moves by the shots fired), the midlayer retries them,
#     a verified fio passes.
# rmegasas:
#   - lose: a completion thrown away, as if its interrupt never came: the command times out
#     (5 s), is aborted and retried; the read succeeds, one abort, none failed.
#   - firmware: the firmware reads FAULT and answers nothing: the command times out, the
#     error handler finds the FAULT (fw_faults), resets the controller, the read succeeds,
#     and a verified fio after it passes.
# rvirtio_scsi (its lost interrupt and DEVICE_NEEDS_RESET knobs run in the recover and events
# plans):
#   - resid: good responses that claim a residual larger than the transfer: taken as nothing
#     transferred (resid_clamped moves by the shots fired), the midlayer retries, a verified
#     fio passes.
#   - used-id: each shot makes the device seem to write two used elements it should not (a
#     head returned already, an id beyond the ring): the ring drops both (its bogus_ids move
#     by twice the shots fired), nothing completes twice, a verified fio passes.

# Steps per disk: eight for either driver.
knobs_tests=8

# counter NAME: a counter of the state file ("fault_NAME: N (armed M)" reads as N).
counter() { sed -n "s/^$1: \([0-9]*\).*/\1/p" "$state"; }

# knob_fio: a verified job over 8 MiB of the disk, 4 KiB to 64 KiB (some 680 commands), enough
# for every shot armed below (at most 8) to fire. fio's report is shown only if it fails.
knob_fio() {
	fio $FIO_QUICK --name=knob --filename="/dev/$sd" --direct=1 --ioengine=libaio \
		--iodepth=8 --rw=randwrite --bsrange=4k-64k --verify=crc32c --verify_fatal=1 \
		--offset=16M --size=8M --randseed=11 --output=/tmp/knob.out && return 0
	cat /tmp/knob.out
	return 1
}

# ignored_exactly KNOB...: arms each knob for 8 shots, runs knob_fio, and checks that every
# shot fired and late_completions moved by the shots fired, no more.
ignored_exactly() {
	_late=$(counter late_completions)
	_before=0
	for _k; do _before=$((_before + $(counter "fault_$_k"))); done
	for _k; do echo "fault $_k 8" >"$state" || return 1; done
	knob_fio || { echo "the verified job failed"; return 1; }
	echo "fault off" >"$state"
	_fired=0
	for _k; do _fired=$((_fired + $(counter "fault_$_k"))); done
	_fired=$((_fired - _before))
	_moved=$(($(counter late_completions) - _late))
	echo "shots fired $_fired (armed $((8 * $#))), late_completions moved by $_moved"
	[ "$_fired" = $((8 * $#)) ] || { echo "not every shot fired"; return 1; }
	[ "$_moved" = "$_fired" ] || { echo "late_completions moved by $_moved, not $_fired"; return 1; }
}

# clamped KNOB COUNTER: 4 responses lie as KNOB says; COUNTER moves once for each, and the
# midlayer retries them.
clamped() {
	_c=$(counter "$2")
	_f=$(counter "fault_$1")
	echo "fault $1 4" >"$state" || return 1
	knob_fio || { echo "the verified job failed"; return 1; }
	echo "fault off" >"$state"
	_fired=$(($(counter "fault_$1") - _f))
	_moved=$(($(counter "$2") - _c))
	echo "shots fired $_fired, $2 moved by $_moved"
	[ "$_fired" = 4 ] && [ "$_moved" = 4 ]
}

# bogus_ids: the sum of the request queues' bogus_ids.
bogus_ids() { sed -n 's/^queue[0-9]*: .* bogus_ids \([0-9]*\) .*/\1/p' "$state" | awk '{s += $1} END {print s + 0}'; }

# used_ids: 4 shots of used-id on every request queue; the rings drop two elements per shot
# fired, and nothing completes twice (late_completions does not move: the ring, not the
# driver's context check, stops them).
used_ids() {
	_b=$(bogus_ids)
	_l=$(counter late_completions)
	_f=$(counter fault_used-id)
	echo "fault used-id 4" >"$state" || return 1
	knob_fio || { echo "the verified job failed"; return 1; }
	_fired=$(($(counter fault_used-id) - _f))
	_left=$(sed -n 's/^fault_used-id: [0-9]* (armed \([0-9]*\))/\1/p' "$state")
	echo "fault used-id 0" >"$state"
	_moved=$(($(bogus_ids) - _b))
	echo "shots fired $_fired (left on idle queues $_left), bogus_ids moved by $_moved"
	[ "$_fired" -ge 4 ] || { echo "fewer than 4 shots fired"; return 1; }
	[ "$_moved" = $((2 * _fired)) ] || { echo "bogus_ids moved by $_moved, not $((2 * _fired))"; return 1; }
	[ "$(counter late_completions)" = "$_l" ] || { echo "a dropped element reached the driver"; return 1; }
}

# with_timeout SECONDS COMMAND...: runs the command with the disk's command timeout lowered
# (the outcome does not depend on when the timeout fires, only that it does), then puts it back.
with_timeout() {
	_dev=/sys/block/$sd/device
	_t=$(cat "$_dev/timeout")
	echo "$1" >"$_dev/timeout"
	shift
	"$@"
	_rc=$?
	echo "$_t" >"$_dev/timeout"
	return $_rc
}

# knob_read KNOB SKIP: arms KNOB for one shot (the firmware knob takes none) and reads 4 KiB at
# block SKIP, which must succeed.
knob_read() {
	if [ "$1" = firmware ]; then
		echo "fault firmware" >"$state" || return 1
	else
		echo "fault $1 1" >"$state" || return 1
	fi
	dd if="/dev/$sd" of=/dev/null bs=4k count=1 skip="$2" iflag=direct
}

# lost_completion: the read whose completion is thrown away is aborted once and retried.
lost_completion() {
	_a=$(counter aborts)
	_af=$(counter aborts_failed)
	_f=$(counter fault_lose)
	with_timeout 5 knob_read lose 4100 || { echo "the read failed"; return 1; }
	# The shot may have taken another command's completion (a command of the kernel's own, with
	# a longer timeout): its abort then comes later. 120 s: the longest timeout here is sd's
	# 30 s, plus the error handler's work, several times over.
	wait_until 120 sh -c "[ \$(sed -n 's/^aborts: //p' $state) -gt $_a ]"
	echo "fault off" >"$state"
	grep -E '^(aborts|aborts_failed|fault_lose|outstanding):' "$state"
	[ $(($(counter fault_lose) - _f)) = 1 ] || { echo "the knob did not fire"; return 1; }
	[ $(($(counter aborts) - _a)) = 1 ] || { echo "not one abort"; return 1; }
	[ "$(counter aborts_failed)" = "$_af" ] || { echo "an abort failed"; return 1; }
}

# firmware_fault: a firmware in FAULT is found by the error handler and the controller reset.
firmware_fault() {
	_r=$(counter host_resets)
	_ff=$(counter fw_faults)
	with_timeout 5 knob_read firmware 4200 || { echo "the read failed"; return 1; }
	grep -E '^(fw_state|fw_faults|aborts|aborts_failed|host_resets|dead|fault_firmware|outstanding):' "$state"
	[ "$(counter fw_faults)" -gt "$_ff" ] || { echo "the FAULT was not found"; return 1; }
	[ "$(counter host_resets)" -gt "$_r" ] || { echo "the controller was not reset"; return 1; }
	grep -q '^fault_firmware: [0-9]* (armed 0)' "$state" || { echo "the reset did not clear the FAULT"; return 1; }
	[ "$(counter dead)" = 0 ] || { echo "the controller was given up"; return 1; }
}

# knob_steps: the steps, on the caller's $sd and $state.
knob_steps() {
	check "$m: knobs: counters read" grep -E '^(late_completions|sense_clamped|resid_clamped|fw_faults|fault_)' "$state"
	check "$m: knobs: completions reported twice are ignored, the data verified" ignored_exactly twice
	check "$m: knobs: contexts never posted are ignored, the data verified" ignored_exactly bogus
	check "$m: knobs: sense longer than the buffer is cut and counted, the commands retried" \
		clamped sense sense_clamped
	case ${mod%%+*} in
	rmegasas)
		check "$m: knobs: a lost completion is aborted and retried" lost_completion
		check "$m: knobs: a firmware in FAULT is reset and the read retried" firmware_fault
		;;
	*)
		check "$m: knobs: a residual beyond the transfer is cut and counted, the commands retried" \
			clamped resid resid_clamped
		check "$m: knobs: used ring ids never posted or returned already are dropped" used_ids
		;;
	esac
	check "$m: knobs: verified I/O after them" knob_fio
	check "$m: knobs: nothing outstanding, nothing armed" sh -c "
		grep -E '^(outstanding|submitted|completed|fault_)' $state;
		grep -q '^outstanding: 0$' $state && ! grep -q 'armed [1-9]' $state"
}
