# SPDX-License-Identifier: GPL-2.0
#
# Plan "events": a virtio-scsi driver's events, poll queues, recovery from DEVICE_NEEDS_RESET
# and the removal of its controller, in one boot with two controllers behind PCIe root ports:
# C virtio_scsi on the first, as the baseline, then rvirtio_scsi on the second (each driver has
# its function through driver_override). The host acts at sync points through QMP (suite.py).
#
# For each driver, with a verified fio load on the controller's first disk throughout:
#   - a disk plugged in (QMP device_add of a scsi-hd) appears by itself: the device's hot-plug
#     event, not a rescan by hand; it has its size and takes verified I/O. A second LUN of
#     that target appears beside it. Both unplugged (device_del) disappear by themselves.
#   - the first disk grown (QMP block_resize): its new capacity shows by itself (a parameter
#     change event, CAPACITY DATA HAS CHANGED).
#   - polled I/O (io_uring, hipri) on the poll queue the module was given, verified.
#   - the load lost nothing.
# rvirtio_scsi only, through its test knobs (the C driver has none; see each step):
#   - its event buffers held (debugfs hold-events) while more disks are plugged in than it
#     has buffers, and two disks plugged before are unplugged: the device drops events;
#     released, it reports EVENTS_MISSED and the driver's full rescan finds every change (the
#     two gone, the new ones there); those unplugged, all go.
#   - a ring error (debugfs bad-table: a command posted with an empty indirect table): QEMU
#     sets DEVICE_NEEDS_RESET and stops; the driver resets the device from its work item, the
#     commands the device held are retried, and the load loses nothing. C virtio_scsi does
#     not handle DEVICE_NEEDS_RESET: its commands would time out, and its abort, sent to a
#     device that stopped, would never be answered.
# Last, for each driver, the controller unplugged under load (QMP device_del; the guest's ACPI
# hot-plug removes the function): every command ends (the load fails, as it must), the disks
# and the host go, and nothing leaks (the kmemleak scan at the end).
#
# Settings (run.conf): RSCSI_MODULES (the C group, then the Rust module), RSCSI_DRIVER_OVERRIDE,
# RSCSI_HOTPLUG_BYTES (the size of a plugged disk), RSCSI_EVENT_BURST (disks plugged while the
# event buffers are held: more than the driver has), RSCSI_FIO_MB.

. /rscsi/plans/robust.sh

EV_TESTS_C=10
EV_TESTS_RUST=16
plan_tests=$((EV_TESTS_C + EV_TESTS_RUST + 1))

# on_hba N: sets hba, pci, id, lun, sd, sg for the first disk of HBA N.
on_hba() {
	rscsi_disks | awk -v h="$1" '$1 == h' | head -n 1 >/tmp/disks
	read -r hba kind pci id lun size bs </tmp/disks
	sd=$(find_disk "$pci" "$id" "$lun")
	sg=$(sg_of "$sd")
}

has_disk() { [ -n "$(find_disk "$pci" "$1" "$2")" ]; }
no_disk() { [ -z "$(find_disk "$pci" "$1" "$2")" ]; }

# A disk that an event adds shows up once the driver's work item has scanned it and sd has
# attached it: a second or two here. 120 s bounds a driver that never acts on the event (the
# test fails then), it is not a wait: each wait ends as soon as the disk is there.
EVENT_WAIT=120

# plug TARGET LUN: the host plugs a disk in; it must appear by itself, with its size.
plug() {
	sync_point "plug:$hba:$1:$2"
	[ "$_answer" = added ] || { echo "the host could not plug the disk in: $_answer"; return 1; }
	wait_until "$EVENT_WAIT" has_disk "$1" "$2" || { echo "no disk at $1:$2"; return 1; }
	disk_matches "$(find_disk "$pci" "$1" "$2")" "$RSCSI_HOTPLUG_BYTES" 512
}

# unplug TARGET LUN: the host unplugs a disk; it must disappear by itself.
unplug() {
	_gone=$(find_disk "$pci" "$1" "$2")
	sync_point "unplug:$hba:$1:$2"
	[ "$_answer" = removed ] || { echo "the host could not unplug the disk: $_answer"; return 1; }
	wait_until "$EVENT_WAIT" no_disk "$1" "$2" || { echo "$_gone ($1:$2) is still there"; return 1; }
	echo "$_gone ($1:$2) went away"
}

plug_two() { plug 5 0 && plug 5 1; }
unplug_two() { unplug 5 1 && unplug 5 0; }

verify_on() {
	fio $FIO_QUICK --name=ev --filename="/dev/$(find_disk "$pci" "$1" "$2")" --direct=1 --ioengine=libaio \
		--iodepth=16 --rw=randwrite --bsrange=4k-256k --verify=crc32c --verify_fatal=1 \
		--size=8M --randseed=11 --output=/tmp/verify.out
	_rc=$?
	tail -n 3 /tmp/verify.out
	return $_rc
}

# grow: the host grows the first disk by half; the new size must show by itself.
grow() {
	_new=$((size + size / 2))
	sync_point "resize:$hba:0:$_new"
	[ "$_answer" = resized ] || { echo "the host could not resize the disk: $_answer"; return 1; }
	wait_until "$EVENT_WAIT" sh -c "[ \$((\$(cat /sys/block/$sd/size) * 512)) = $_new ]" ||
		{ echo "$sd still has $(($(cat /sys/block/$sd/size) * 512)) bytes, not $_new"; return 1; }
	echo "$sd now has $_new bytes"
}

# polled: a verified io_uring job with hipri on the poll queue, beside the load, in another
# part of the disk (the load writes its first RSCSI_FIO_MB MiB).
polled() {
	cat "/sys/block/$sd/queue/io_poll"
	grep -q 1 "/sys/block/$sd/queue/io_poll" || { echo "$sd does not allow polling"; return 1; }
	fio $FIO_QUICK --name=poll --filename="/dev/$sd" --direct=1 --ioengine=io_uring --hipri=1 \
		--iodepth=8 --rw=randwrite --bsrange=4k-64k --verify=crc32c --verify_fatal=1 \
		--offset=32M --size=16M --randseed=3 --output=/tmp/poll.out
	_rc=$?
	grep -E "IOPS=|err=" /tmp/poll.out | head -n 4
	return $_rc
}

# burst N: plugs two disks (targets 10 and 11) and waits for them; then holds the event
# buffers, plugs N more (targets 12 to 12 + N - 1) and unplugs the first two, and releases the
# buffers. The device had fewer buffers than events (the first 8 plugs take them all; the
# later plugs and both unplugs are dropped: QEMU takes a buffer as it plugs or unplugs), so it
# reports EVENTS_MISSED, and the driver's rescan must find what changed: the first two gone,
# the N new ones there.
burst() {
	plug 10 0 && plug 11 0 || return 1
	_m0=$(counter events_missed)
	_r0=$(counter rescan_removed)
	echo hold-events >"$state" || return 1
	_i=0
	while [ $_i -lt "$1" ]; do
		sync_point "plug:$hba:$((12 + _i)):0"
		[ "$_answer" = added ] || { echo "the host could not plug disk $_i in: $_answer"; return 1; }
		_i=$((_i + 1))
	done
	for _t in 10 11; do
		sync_point "unplug:$hba:$_t:0"
		[ "$_answer" = removed ] || { echo "the host could not unplug $_t: $_answer"; return 1; }
	done
	grep -E '^events(_held|_missed|_rescan)?:' "$state"
	echo release-events >"$state" || return 1
	_i=0
	while [ $_i -lt "$1" ]; do
		wait_until "$EVENT_WAIT" has_disk $((12 + _i)) 0 || { echo "no disk at $((12 + _i)):0"; return 1; }
		_i=$((_i + 1))
	done
	for _t in 10 11; do
		wait_until "$EVENT_WAIT" no_disk $_t 0 || { echo "a disk at $_t:0 is still there"; return 1; }
	done
	grep -E '^(events(_held|_missed|_rescan)?|rescan_removed):' "$state"
	[ "$(counter events_missed)" -gt "$_m0" ] || { echo "no missed events were reported"; return 1; }
	[ "$(counter rescan_removed)" -ge $((_r0 + 2)) ] || { echo "the rescan removed fewer than 2"; return 1; }
	echo "targets 12 to $((12 + $1 - 1)) are there, 10 and 11 went away"
}

# unburst N: unplugs the disks burst plugged last (targets 12 to 12 + N - 1); they must all go,
# by their events or, if the device drops some, by the rescan that follows.
unburst() {
	_i=0
	while [ $_i -lt "$1" ]; do
		sync_point "unplug:$hba:$((12 + _i)):0"
		[ "$_answer" = removed ] || { echo "the host could not unplug disk $_i: $_answer"; return 1; }
		_i=$((_i + 1))
	done
	_i=0
	while [ $_i -lt "$1" ]; do
		wait_until "$EVENT_WAIT" no_disk $((12 + _i)) 0 || { echo "a disk at $((12 + _i)):0 is still there"; return 1; }
		_i=$((_i + 1))
	done
	echo "all went away"
}

# ring_error: the next command goes out with an empty indirect table; the device stops with
# DEVICE_NEEDS_RESET and the driver must reset it, under the load.
ring_error() {
	_n0=$(counter needs_reset)
	_h0=$(counter host_resets)
	_a0=$(counter aborts)
	echo bad-table >"$state" || return 1
	wait_until "$EVENT_WAIT" sh -c "[ \$(sed -n 's/^needs_reset: //p' $state) -gt $_n0 ]" ||
		{ echo "the device was not reset"; grep -E '^(needs_reset|device_status|state)' "$state"; return 1; }
	# The reset is over once the state says running again (the same bound).
	wait_until "$EVENT_WAIT" grep -q '^state: running' "$state" || { echo "not running again"; return 1; }
	grep -E '^(needs_reset|needs_reset_failed|reclaimed|state|device_status|aborts|host_resets):' "$state"
	[ "$(counter needs_reset_failed)" = 0 ] || return 1
	# The driver's own reset, not the error handler's after the commands timed out.
	[ "$(counter host_resets)" = "$_h0" ] && [ "$(counter aborts)" = "$_a0" ] ||
		{ echo "the error handler stepped in"; return 1; }
}

counters_moved() {
	grep -E '^(events_|needs_reset|polls|poll_completions)' "$state"
	for c in events_rescan events_removed events_param_change events_missed rescan_removed needs_reset polls; do
		[ "$(counter $c)" -gt 0 ] || { echo "$c did not move"; return 1; }
	done
	[ "$(counter events_failed)" = 0 ] || { echo "an event's device could not be added"; return 1; }
}

# remove_under_load: the host unplugs the controller while the load runs. The load must end
# (with errors: its disk went away), the function and its disks must go.
remove_under_load() {
	load_bg "$sd" || return 1
	sync_point "unplug-hba:$hba"
	[ "$_answer" = removed ] || { echo "the host could not unplug the controller: $_answer"; return 1; }
	# The removal has ended every command, so fio sees errors at once; 120 s bounds a command
	# that never ends (a hang: the test fails).
	wait_until "$EVENT_WAIT" sh -c "! kill -0 $pid 2>/dev/null" || { echo "the load is still running"; kill -9 "$pid"; return 1; }
	wait "$pid"
	echo "the load ended with exit status $? (an error is expected: its disk went away)"
	grep -E "err=" /tmp/load.out | head -n 2
	[ ! -e "/sys/bus/pci/devices/$pci" ] || { echo "$pci is still there"; return 1; }
	[ -z "$(find_disk "$pci" "$id" "$lun")" ] && [ ! -e "/sys/block/$sd" ] || { echo "$sd is still there"; return 1; }
	echo "$pci and $sd are gone"
}

# common NAME: the steps both drivers take, under the load (NAME prefixes the test names).
common() {
	check "$1: load under way on $sd" load_bg "$sd"
	check "$1: a plugged-in disk, then a second LUN of its target, appear by themselves" plug_two
	check "$1: verified I/O on the plugged-in disk" verify_on 5 0
	check "$1: both unplugged disappear by themselves" unplug_two
	check "$1: a disk grown through QMP shows its new size by itself" grow
	check "$1: polled I/O (io_uring, hipri), verified" polled
}

baseline() {
	_grp=$1
	on_hba 0
	# virtio_scsi's poll queues (virtscsi_poll_queues): one of the device's two queues.
	check "$_grp (baseline): load, one poll queue" sh -c \
		"modprobe virtio_pci && modprobe virtio_scsi virtscsi_poll_queues=1"
	check "$_grp (baseline): its disk appears" wait_until "$DISK_WAIT" has_disk "$id" "$lun"
	on_hba 0
	common "$_grp (baseline)"
	check "$_grp (baseline): the load lost nothing" stop_load
	check "$_grp (baseline): the controller unplugged under load goes, every command ends" \
		remove_under_load
}

rust() {
	mod=$1
	on_hba 1
	check "$mod: load, one poll queue" modprobe "$mod" poll_queues=1
	check "$mod: its disk appears" wait_until "$DISK_WAIT" has_disk "$id" "$lun"
	on_hba 1
	state=$(host_state "$mod" "$pci")
	common "$mod"
	check "$mod: more changes than event buffers: missed events, then a rescan finds them all" \
		burst "$RSCSI_EVENT_BURST"
	check "$mod: the rest unplugged, all go" unburst "$RSCSI_EVENT_BURST"
	check "$mod: a ring error (DEVICE_NEEDS_RESET) is recovered by a reset" ring_error
	check "$mod: the load lost nothing" stop_load
	check "$mod: the counters moved: events by kind, missed, needs-reset, polls" counters_moved
	check "$mod: verified I/O after it all" load_job "$sd" 3
	sed 's/^/# /' "$state"
	check "$mod: the controller unplugged under load goes, every command ends" \
		remove_under_load
	check "$mod: unload" rmmod "$mod"
}

plan_main() {
	apply_overrides
	for _group in $RSCSI_MODULES; do
		case $_group in
		*+*) baseline "$_group" ;;
		*) rust "$_group" ;;
		esac
	done
	check "virtio_scsi: unload" unload_group virtio_pci+virtio_scsi
}
