# SPDX-License-Identifier: GPL-2.0
#
# Plan "hotplug": disks plugged into and unplugged from a running controller, with the host's
# help at two sync points (QMP device_add and device_del, see suite.py), found by the driver's
# rescan (a write of "rescan" to its debugfs state file: QEMU's megasas raises no event).
#
#   - A rescan with nothing changed adds and removes nothing.
#   - A disk plugged in at RSCSI_HOTPLUG_ID appears after a rescan, with its size, and takes
#     verified I/O.
#   - Unplugged under load on the other disk: I/O to it fails at once (no hang), the rescan
#     removes it, and the load on the other disk finishes without an error.
#   - A disk plugged in again at the same id comes up and takes verified I/O.
#
# Settings (run.conf): RSCSI_MODULES (one module), RSCSI_HOTPLUG_ID, RSCSI_HOTPLUG_BYTES.

plan_tests=9

# hp_disk: the sdX of the hot-plugged disk, or nothing.
hp_disk() { find_disk "$pci" "$RSCSI_HOTPLUG_ID" 0; }

has_hp() { [ -n "$(hp_disk)" ]; }
no_hp() { [ -z "$(hp_disk)" ]; }

# rescan EXPECTED: asks the driver to rescan; its summary line must contain EXPECTED.
rescan() {
	echo rescan >"$state" || { echo "write of rescan failed"; return 1; }
	_line=$(dmesg | grep 'rescan:' | tail -n 1)
	echo "driver: ${_line#*] }"
	case "$_line" in *"$1"*) return 0 ;; esac
	echo "expected '$1'"
	return 1
}

# plug: the host plugs a disk in; a rescan must add it, with the size the host gave it.
plug() {
	sync_point hotplug-add
	[ "$_answer" = added ] || { echo "the host could not plug the disk in: $_answer"; return 1; }
	rescan "1 added, 0 removed, 0 failed" || return 1
	# The rescan has added the SCSI device; sd attaches the disk asynchronously, in about a
	# second here: 60 s is a bound, not a wait.
	wait_until 60 has_hp || { echo "no disk at target $RSCSI_HOTPLUG_ID"; return 1; }
	disk_matches "$(hp_disk)" "$RSCSI_HOTPLUG_BYTES" 512
}

verify() {
	fio $FIO_QUICK --name=hp --filename="/dev/$1" --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randwrite --bsrange=4k-256k --verify=crc32c --verify_fatal=1 --size=16M \
		--randseed=11 --output=/tmp/verify.out
	_rc=$?
	tail -n 3 /tmp/verify.out
	return $_rc
}

# unplug_under_load: fio on the other disk, the host unplugs the hot-plugged one; reads of it
# must fail within a minute, and a rescan must remove it.
unplug_under_load() {
	load_bg "$sd" || return 1
	gone=$(hp_disk)
	sync_point hotplug-remove
	[ "$_answer" = removed ] || { echo "the host could not unplug the disk: $_answer"; return 1; }
	# QEMU answers a command for a missing drive at once (DEVICE NOT FOUND), so the read fails
	# within a second; 60 s only bounds a hang.
	timeout 60 dd if="/dev/$gone" of=/dev/null bs=4k count=1 iflag=direct 2>/tmp/dd.err
	_rc=$?
	cat /tmp/dd.err
	case $_rc in
	0) echo "read of the unplugged disk $gone succeeded"; return 1 ;;
	124 | 143) echo "read of the unplugged disk $gone hung"; return 1 ;;
	esac
	rescan "0 added, 1 removed, 0 failed" || return 1
	wait_until 60 no_hp || { echo "$gone is still there"; return 1; }
	# This controller's SCSI device (another controller of a combined run may have one at
	# the same target).
	ls -d /sys/bus/pci/devices/"$pci"/host*/target*/*:0:"$RSCSI_HOTPLUG_ID":0 2>/dev/null &&
		return 1
	echo "$gone removed"
}

# other_disk_ok: the load, which ran through the unplug and the rescan, reports no error.
other_disk_ok() { stop_load; }

plan_main() {
	mod=$RSCSI_MODULES
	check "$mod: load" modprobe "$mod"
	first_disk "$mod" "$DISK_WAIT"
	check "$mod: a rescan with nothing changed adds and removes nothing" \
		rescan "1 drives (were 1), 0 added, 0 removed, 0 failed"
	check "$mod: a plugged-in disk appears after a rescan" plug
	check "$mod: verified I/O on the plugged-in disk" verify "$(hp_disk)"
	check "$mod: unplugged under load: I/O to it fails, the rescan removes it" unplug_under_load
	check "$mod: the load on the other disk lost nothing" other_disk_ok
	check "$mod: a disk plugged in again at the same target comes up" plug
	check "$mod: verified I/O on it" verify "$(hp_disk)"
	sed 's/^/# /' "$state"
	check "$mod: unload" rmmod "$mod"
}
