# SPDX-License-Identifier: GPL-2.0
#
# Plan "limits": two drivers on the same controllers, one after the other; every command the
# first (the C driver) accepts, the second (ours) must accept too.
#
# For each module group in RSCSI_MODULES, in order ("a+b" loads a then b), on every expected
# disk:
#   - the queue limits the driver set: /sys/block/sdX/queue/max_hw_sectors_kb, max_segments,
#     max_segment_size and /sys/block/sdX/device/queue_depth;
#   - the largest SG_IO READ the disk takes, to 512 bytes, up to 8 MiB (what the limits
#     predict is tried first, with the next 512 bytes; a bisection finds it otherwise), once into a page-aligned buffer (sg_raw) and once into a buffer 512 bytes into a page
#     (fio's sg engine). Both issue SG_IO on the block device, where blk_rq_map_user() maps
#     the buffer's own pages, so the unaligned buffer needs one SG element more for the same
#     length;
#   - sg_dd through the sg node with its default of 128 blocks (64 KiB) per command.
# Then, per disk, every figure of the last group must be at least the first group's.
#
# Settings (run.conf): RSCSI_MODULES (two groups: the baseline first), RSCSI_DISKS.

ngroups=$(echo $RSCSI_MODULES | wc -w)
ndisks=$(rscsi_disks "${RSCSI_MODULES%% *}" | wc -l)
plan_tests=$((ngroups * (2 + 2 * ndisks) + ndisks))

# The most the bisection tries, in 512-byte units (8 MiB): a result of 8 MiB means "at least".
SGIO_MAX_UNITS=16384

# aligned_ok SD BYTES: one SG_IO READ(10) of BYTES (sg_raw, whose buffer is page-aligned).
aligned_ok() {
	_n=$(($2 / 512))
	sg_raw -r "$2" "/dev/$1" 28 00 00 00 00 00 \
		"$(printf %02x $((_n >> 8)))" "$(printf %02x $((_n & 255)))" 00 >/dev/null 2>&1
}

# unaligned_ok SD BYTES: one SG_IO READ of BYTES into a buffer 512 bytes past a page boundary
# (fio's sg engine; sg3_utils has no way to place its buffer).
unaligned_ok() {
	fio $FIO_QUICK --name=sgio --filename="/dev/$1" --ioengine=sg --rw=read --bs="$2" --size="$2" \
		--number_ios=1 --iomem_align=512 >/dev/null 2>&1
}

# largest TEST SD LO HI: bisection, in 512-byte units, for the largest transfer TEST accepts,
# given that LO units passed (or is 0) and HI units failed (or is past the range); in bytes.
largest() {
	_lo=$3
	_hi=$4
	while [ $((_hi - _lo)) -gt 1 ]; do
		_mid=$(((_lo + _hi) / 2))
		if "$1" "$2" $((_mid * 512)); then _lo=$_mid; else _hi=$_mid; fi
	done
	echo $((_lo * 512))
}

# largest_from TEST SD GUESS LO HI: as largest, trying GUESS (in 512-byte units) first: if
# GUESS passes and GUESS + 1 fails, that is the answer, from two commands instead of the
# fourteen of a bisection over 8 MiB; otherwise the bisection goes on between what the two
# showed. The answer is exact either way: the largest that passes, the next that fails.
largest_from() {
	_t=$1 _sd=$2 _g=$3 _lo=$4 _hi=$5
	if [ "$_g" -gt "$_lo" ] && [ "$_g" -lt "$_hi" ]; then
		if "$_t" "$_sd" $((_g * 512)); then
			_lo=$_g
			if [ $((_g + 1)) -lt "$_hi" ]; then
				if "$_t" "$_sd" $(((_g + 1) * 512)); then _lo=$((_g + 1)); else _hi=$((_g + 1)); fi
			fi
		else
			_hi=$_g
		fi
	fi
	largest "$_t" "$_sd" "$_lo" "$_hi"
}

# largest_unaligned SD ALIGNED: an unaligned buffer needs at most one SG element (a page) more
# than an aligned one of the same length, so its limit is the aligned one, or 512 bytes below
# it when the aligned one is bound by the segment count (the buffer starts 512 bytes into a
# page): those are tried first (fio is slow to start in the guest), then the bisection
# searches wherever they leave it.
largest_unaligned() {
	_top=$(($2 / 512))
	if [ "$_top" -gt 0 ] && unaligned_ok "$1" $((_top * 512)); then
		echo $((_top * 512))
		return
	fi
	largest_from unaligned_ok "$1" $((_top - 1)) 0 "$_top"
}

# measure SD OUT: writes "hw_kb segments segment_size queue_depth aligned unaligned" to OUT.
measure() {
	_q=/sys/block/$1/queue
	_hw=$(cat "$_q/max_hw_sectors_kb")
	_segs=$(cat "$_q/max_segments")
	_segsz=$(cat "$_q/max_segment_size")
	_qd=$(cat "/sys/block/$1/device/queue_depth")
	# The first guess: what the limits allow when every page is a segment of its own.
	_g=$((_hw * 2))
	[ $((_segs * 8)) -lt "$_g" ] && _g=$((_segs * 8))
	_al=$(largest_from aligned_ok "$1" "$_g" 0 $((SGIO_MAX_UNITS + 1)))
	_un=$(largest_unaligned "$1" "$_al")
	echo "$_hw $_segs $_segsz $_qd $_al $_un" >"$2"
	echo "$1: max_hw_sectors_kb $_hw, max_segments $_segs, max_segment_size $_segsz," \
		"queue_depth $_qd; largest SG_IO: $_al bytes aligned, $_un bytes unaligned (512)"
	[ "$_al" -gt 0 ] && [ "$_un" -gt 0 ]
}

# at_least BASE OURS: every figure of OURS is at least BASE's.
at_least() {
	read -r b_hw b_segs b_segsz b_qd b_al b_un <"$1"
	read -r o_hw o_segs o_segsz o_qd o_al o_un <"$2"
	_ok=0
	for f in hw:max_hw_sectors_kb segs:max_segments segsz:max_segment_size qd:queue_depth \
		al:aligned_SG_IO un:unaligned_SG_IO; do
		eval "_b=\$b_${f%%:*} _o=\$o_${f%%:*}"
		if [ "$_o" -ge "$_b" ]; then
			echo "${f#*:}: $_o >= $_b"
		else
			echo "${f#*:}: $_o < $_b"
			_ok=1
		fi
	done
	return $_ok
}

plan_main() {
	first=${RSCSI_MODULES%% *}
	last=${RSCSI_MODULES##* }
	for mod in $RSCSI_MODULES; do
		check "$mod: load" load_group "$mod"
		rscsi_disks "$mod" >/tmp/disks
		# A bound, not a wait: the disks come up in seconds.
		wait_disks "$DISK_WAIT" "$mod" || diag "not every disk came up within $DISK_WAIT s"
		while read -r h kind pci id lun size bs; do
			sd=$(find_disk "$pci" "$id" "$lun")
			sg=$(sg_of "$sd")
			check "$mod: hba$h $kind limits and largest SG_IO measured" \
				measure "$sd" "/tmp/limits-$mod-$h-$id-$lun"
			check "$mod: hba$h sg_dd, 128 blocks (64 KiB) per command" \
				sg_dd if="/dev/$sg" of=/dev/null bs=512 count=8192
		done </tmp/disks
		check "$mod: unload" unload_group "$mod"
	done
	rscsi_disks "$first" >/tmp/disks
	while read -r h kind pci id lun size bs; do
		check "hba$h $kind: $last's limits at least $first's" \
			at_least "/tmp/limits-$first-$h-$id-$lun" "/tmp/limits-$last-$h-$id-$lun"
	done </tmp/disks
}
