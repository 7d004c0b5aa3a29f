# SPDX-License-Identifier: GPL-2.0
#
# Plan "errors": errors the device reports reach userspace as I/O errors with their sense data,
# and nothing else breaks. The host starts the first disk behind blkdebug rules (suite.py):
# reads of sector 4096 (LBA 4096 at 512-byte blocks) fail with ENODATA, which QEMU reports as
# MEDIUM ERROR / UNRECOVERED READ ERROR (rerror=report), and the block layer returns to
# userspace as ENODATA; writes of sector 8192 fail with EIO, reported as ABORTED COMMAND /
# I/O PROCESS TERMINATED (werror=report), returned as EIO. The test kernel has no
# SCSI_CONSTANTS, so it logs sense keys and codes as numbers. The tests run on the first disk
# of each HBA (each behind the same rules), one HBA after the other, the kernel log cleared
# between them.
#
# With RSCSI_KNOBS=1 (a Rust driver with fault knobs), the steps of knobs.sh follow on each
# disk: a device that lies.
#
# Settings (run.conf): RSCSI_MODULES (one group), RSCSI_KNOBS.

. /rscsi/plans/knobs.sh

per_disk=5
[ "${RSCSI_KNOBS:-0}" = 1 ] && per_disk=$((per_disk + knobs_tests))
plan_tests=$((2 + per_disk * $(first_disks "$RSCSI_MODULES" | wc -l)))

# errors_hba: the tests on the disk of a /tmp/disks line.
errors_hba() {
	m="$mod hba$h"
	sd=$(find_disk "$pci" "$id" "$lun")
	sg=$(sg_of "$sd")
	diag "$m: disk ${sd:-missing}, ${sg:-missing}"
	dmesg -c >/dev/null
	check "$m: read of a bad sector fails (ENODATA, a medium error)" sh -c "
		! dd if=/dev/$sd of=/dev/null bs=512 count=1 skip=4096 iflag=direct 2>/tmp/dd.err;
		cat /tmp/dd.err; grep -q 'No data available' /tmp/dd.err"
	# READ(10) of LBA 4096 through SG_IO: sg_raw decodes the sense the driver returned.
	check "$m: the medium error's sense reaches SG_IO" sh -c "
		sg_raw -r 512 /dev/$sg 28 00 00 00 10 00 00 00 01 00 >/tmp/sg.err 2>&1;
		cat /tmp/sg.err; grep -qi 'Medium Error' /tmp/sg.err &&
		grep -qi 'Unrecovered read error' /tmp/sg.err"
	check "$m: write of a bad sector fails with EIO" sh -c "
		! dd if=/dev/zero of=/dev/$sd bs=512 count=1 seek=8192 oflag=direct 2>/tmp/dd.err;
		cat /tmp/dd.err; grep -q 'Input/output error' /tmp/dd.err"
	check "$m: the kernel logged both senses" sh -c "
		dmesg | grep -E 'Sense Key|ASC=' | tail -n 6;
		dmesg | grep -q 'Sense Key : 0x3 ' && dmesg | grep -q 'ASC=0x11 ASCQ=0x0' &&
		dmesg | grep -q 'Sense Key : 0xb ' && dmesg | grep -q 'ASC=0x0 ASCQ=0x6'"
	check "$m: the rest of the disk still works (fio verify)" fio $FIO_QUICK --name=ok --filename="/dev/$sd" \
		--direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bsrange="$bs-64k" \
		--verify=crc32c --verify_fatal=1 --offset=16M --size=16M --randseed=3
	state=$(host_state "${mod%%+*}" "$pci")
	[ "${RSCSI_KNOBS:-0}" = 1 ] && knob_steps
	[ -f "$state" ] && sed 's/^/# /' "$state"
}

plan_main() {
	mod=$RSCSI_MODULES
	check "$mod: load" sh -c "for m in \$(echo $mod | tr + ' '); do modprobe \$m || exit 1; done"
	first_disks "$mod" >/tmp/disks
	wait_disks "$DISK_WAIT" "$mod" || diag "disks present: $(ls /sys/block | tr '\n' ' ')"
	while read -r h kind pci id lun size bs; do
		errors_hba </dev/null
	done </tmp/disks
	check "$mod: unload" sh -c "for m in \$(echo $mod | tr + '\n' | sed '1!G;h;\$!d'); do rmmod \$m || exit 1; done"
}
