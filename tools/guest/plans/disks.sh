# SPDX-License-Identifier: GPL-2.0
#
# Plan "disks": the data path of a SCSI host driver, the same for the C drivers and ours.
#
# For each module group in RSCSI_MODULES (in order; "a+b" loads a then b): load it, find every expected disk with the size
# and block size the host gave it, write each with fio (crc32c verify headers, mixed block sizes,
# random offsets, iodepth 16, O_DIRECT), stop at a sync point (where the host may corrupt an
# image: the negative control), verify everything that was written, exercise SG_IO with
# sg_inq and sg_readcap, and unload the module.
#
# fio covers RSCSI_FIO_MB MiB (default 16) ending 1 MiB before the end of each disk, so that a
# disk over 2 TiB is written beyond 2 TiB (READ/WRITE(16)).
#
# Settings (run.conf): RSCSI_MODULES, RSCSI_FIO_MB, RSCSI_FIO_EXTRA (more fio options),
# RSCSI_FIO_PARALLEL (disks written and verified at once, default 1).

plan_tests=0
for _g in $RSCSI_MODULES; do
	plan_tests=$((plan_tests + 3 + 2 * $(rscsi_disks "$_g" | wc -l)))
done

# fio_disk SD BS PHASE SIZE: the workload, written (PHASE=write) or verified (PHASE=verify).
# The seed is fixed, so the verify pass replays the offsets and sizes the write pass used.
fio_disk() {
	_mb=${RSCSI_FIO_MB:-16}
	_off=$(($4 / 1048576 - _mb - 1))
	[ "$_off" -ge 0 ] || _off=0
	if [ "$2" -le 512 ]; then
		_split=512/10:4k/40:8k/10:64k/25:256k/15
	else
		_split=4k/50:16k/20:64k/20:256k/10
	fi
	_job="--name=$1 --filename=/dev/$1 --direct=1 --ioengine=libaio --iodepth=16
		--rw=randwrite --bssplit=$_split --offset=${_off}M --size=${_mb}M
		--verify=crc32c --verify_fatal=1 --randseed=1234 $RSCSI_FIO_EXTRA"
	if [ "$3" = write ]; then
		fio $_job --do_verify=0
	else
		fio $_job --verify_only
	fi
}

plan_main() {
	for mod in $RSCSI_MODULES; do
		check "$mod: load" load_group "$mod"
		rscsi_disks "$mod" >/tmp/disks
		if wait_disks "$DISK_WAIT" "$mod"; then
			all=1
			while read -r h kind pci id lun size bs; do
				sd=$(find_disk "$pci" "$id" "$lun")
				disk_matches "$sd" "$size" "$bs" || all=0
			done </tmp/disks
			[ $all = 1 ] && ok "$mod: every disk found with its size" ||
				not_ok "$mod: every disk found with its size"
		else
			diag "disks present: $(ls /sys/block | tr '\n' ' ')"
			not_ok "$mod: every disk found with its size # timed out"
		fi

		# Write every disk, then one sync point, then verify every disk. With
		# RSCSI_FIO_PARALLEL=N, N disks at a time (fio's start-up dominates a small region).
		_n=0
		while read -r h kind pci id lun size bs; do
			sd=$(find_disk "$pci" "$id" "$lun")
			(
				[ -n "$sd" ] && fio_disk "$sd" "$bs" write "$size" >"/tmp/fio-write-$h-$id-$lun" 2>&1
				echo $? >"/tmp/fio-write-$h-$id-$lun.rc"
			) &
			_n=$((_n + 1))
			[ $((_n % ${RSCSI_FIO_PARALLEL:-1})) = 0 ] && wait
		done </tmp/disks
		wait
		sync_point "$mod-written"
		if [ "${RSCSI_FIO_PARALLEL:-1}" -gt 1 ]; then
			_n=0
			while read -r h kind pci id lun size bs; do
				sd=$(find_disk "$pci" "$id" "$lun")
				[ -n "$sd" ] || continue
				(
					fio_disk "$sd" "$bs" verify "$size" >"/tmp/fio-verify-$h-$id-$lun" 2>&1
					echo $? >"/tmp/fio-verify-$h-$id-$lun.rc"
				) &
				_n=$((_n + 1))
				[ $((_n % RSCSI_FIO_PARALLEL)) = 0 ] && wait
			done </tmp/disks
			wait
		fi
		while read -r h kind pci id lun size bs; do
			sd=$(find_disk "$pci" "$id" "$lun")
			name="$mod: fio verify hba$h $kind $id:$lun ${sd:-missing}"
			if [ -z "$sd" ]; then
				not_ok "$name"
				continue
			fi
			sed 's/^/# write: /' "/tmp/fio-write-$h-$id-$lun" | cut -c1-200 | tail -n 20
			if [ "$(cat "/tmp/fio-write-$h-$id-$lun.rc")" != 0 ]; then
				not_ok "$name # write phase failed"
				continue
			fi
			if [ "${RSCSI_FIO_PARALLEL:-1}" -gt 1 ]; then
				_v=/tmp/fio-verify-$h-$id-$lun
				check "$name" sh -c "cat $_v; exit \$(cat $_v.rc 2>/dev/null || echo 1)"
			else
				check "$name" fio_disk "$sd" "$bs" verify "$size"
			fi
		done </tmp/disks
		while read -r h kind pci id lun size bs; do
			sd=$(find_disk "$pci" "$id" "$lun")
			sg=$(sg_of "$sd")
			check "$mod: SG_IO sg_inq+sg_readcap hba$h $id:$lun ${sg:-missing}" \
				sh -c "sg_inq /dev/$sg && sg_readcap -16 /dev/$sg"
		done </tmp/disks
		check "$mod: unload" unload_group "$mod"
	done
}
