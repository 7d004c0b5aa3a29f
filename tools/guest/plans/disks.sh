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
# RSCSI_FIO_PARALLEL (disks written and verified at once, default 1). With N > 1, one fio
# process runs N jobs, one per disk: fio takes about 1.7 s to start on the debug kernel under
# TCG, far longer than a small region takes to write, and one process per disk made the 64-disk
# run spend most of its time starting fio. Each disk still passes or fails on its own, on its
# job's "err= 0" line (the negative control checks that a corrupted disk fails and a disk of
# the same batch does not).

plan_tests=0
for _g in $RSCSI_MODULES; do
	plan_tests=$((plan_tests + 3 + 2 * $(rscsi_disks "$_g" | wc -l)))
done

# fio_job SD BS SIZE: the options of one disk's fio job: RSCSI_FIO_MB MiB ending 1 MiB before
# the end of the disk, block sizes for its logical block size.
fio_job() {
	_mb=${RSCSI_FIO_MB:-16}
	_off=$(($3 / 1048576 - _mb - 1))
	[ "$_off" -ge 0 ] || _off=0
	if [ "$2" -le 512 ]; then
		_split=512/10:4k/40:8k/10:64k/25:256k/15
	else
		_split=4k/50:16k/20:64k/20:256k/10
	fi
	echo "--name=$1 --filename=/dev/$1 --bssplit=$_split --offset=${_off}M --size=${_mb}M"
}

# fio_run PHASE JOBS...: the workload, written (PHASE=write) or verified (PHASE=verify), for
# the jobs fio_job printed. The seed is fixed, so the verify pass replays the offsets and sizes
# the write pass used.
fio_run() {
	_phase=$1
	shift
	_g="--direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --verify=crc32c
		--verify_fatal=1 --randseed=1234 $RSCSI_FIO_EXTRA"
	if [ "$_phase" = write ]; then
		fio $FIO_QUICK $_g --do_verify=0 "$@"
	else
		fio $FIO_QUICK $_g --verify_only "$@"
	fi
}

# fio_batches PHASE: runs PHASE for every disk of /tmp/disks, RSCSI_FIO_PARALLEL disks per fio
# process. Leaves, per disk, /tmp/fio-PHASE-H-ID-LUN naming the output file of its batch (whose
# exit status is in that file's .rc).
fio_batches() {
	rm -f /tmp/fio-"$1"-*
	_b=0
	_n=0
	_jobs=
	while read -r h kind pci id lun size bs; do
		sd=$(find_disk "$pci" "$id" "$lun")
		[ -n "$sd" ] || continue
		_jobs="$_jobs $(fio_job "$sd" "$bs" "$size")"
		echo "/tmp/fio-$1-batch$_b" >"/tmp/fio-$1-$h-$id-$lun"
		_n=$((_n + 1))
		if [ "$_n" = "${RSCSI_FIO_PARALLEL:-1}" ]; then
			fio_run "$1" $_jobs >"/tmp/fio-$1-batch$_b" 2>&1
			echo $? >"/tmp/fio-$1-batch$_b.rc"
			_b=$((_b + 1))
			_n=0
			_jobs=
		fi
	done </tmp/disks
	if [ -n "$_jobs" ]; then
		fio_run "$1" $_jobs >"/tmp/fio-$1-batch$_b" 2>&1
		echo $? >"/tmp/fio-$1-batch$_b.rc"
	fi
}

# fio_batch_ok PHASE H ID LUN SD: whether SD's job in its batch ended without error, and prints
# SD's part of the batch's output (all of it if the job failed). Not fio's exit status: it is
# not 0 when any job of the batch failed, and a disk passes or fails on its own.
fio_batch_ok() {
	_out=$(cat "/tmp/fio-$1-$2-$3-$4" 2>/dev/null) || {
		echo "no fio job ran for $5"
		return 1
	}
	if grep -q "^$5: (groupid=[0-9]*, jobs=1): err= *0:" "$_out"; then
		awk -v j="$5: " -v f="/dev/$5" '
			index($0, f " ") || substr($0, length($0) - length(f) + 1) == f { print; next }
			/^[^ ]+: \(groupid=/ || /^Run status/ { on = (index($0, j) == 1) }
			on' "$_out"
		return 0
	fi
	cat "$_out"
	echo "$5: its fio job did not end with err=0 (fio's exit status $(cat "$_out.rc" 2>/dev/null))"
	return 1
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

		# Write every disk, then one sync point, then verify every disk,
		# RSCSI_FIO_PARALLEL disks per fio process.
		fio_batches write
		sync_point "$mod-written"
		fio_batches verify
		while read -r h kind pci id lun size bs; do
			sd=$(find_disk "$pci" "$id" "$lun")
			name="$mod: fio verify hba$h $kind $id:$lun ${sd:-missing}"
			if [ -z "$sd" ]; then
				not_ok "$name"
				continue
			fi
			if ! fio_batch_ok write "$h" "$id" "$lun" "$sd" >/tmp/fio-w.out; then
				sed 's/^/# write: /' /tmp/fio-w.out | cut -c1-200 | tail -n 40
				not_ok "$name # write phase failed"
				continue
			fi
			check "$name" fio_batch_ok verify "$h" "$id" "$lun" "$sd"
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
