# SPDX-License-Identifier: GPL-2.0
#
# Plan "integrity": data integrity through a driver under mixed load, on the first disk of
# each HBA (one boot covers several controller configurations). Every job writes with crc32c verify headers and verifies what it wrote
# (verify_fatal=1), with random offsets:
#   - block sizes 512 bytes to 1 MiB, iodepth 64, O_DIRECT (libaio);
#   - the same at iodepth 1;
#   - O_DIRECT from buffers at odd offsets in their pages (iomem_align), so that scatterlists
#     start and end inside pages;
#   - SG_IO through the sg node (ioengine=sg), the pass-through path of sg3_utils;
#   - sg3_utils' sg_dd copying through SG_IO and compared with a direct read.
#
# Settings (run.conf): RSCSI_MODULES (one group), RSCSI_FIO_MB (per job, default 16),
# RSCSI_MODPARAMS (parameters for the last module of the group), RSCSI_EXPECT_BOUNCE=1 (the
# driver's debugfs must show bounced commands: with rmegasas sge_limit=N), RSCSI_CHECK_AFFINITY=1
# (each hardware queue must serve exactly the CPUs its MSI-X vector is affine to; the driver's
# debugfs gives each queue's vector as "queue<N>_vector: <vector>"), RSCSI_ACCESS_PLATFORM (the
# PCI addresses of the virtio controllers that offer VIRTIO_F_ACCESS_PLATFORM: the driver's
# debugfs must say it took it there, and not elsewhere, so that both address paths ran).

_per_hba=6
[ -n "$RSCSI_EXPECT_BOUNCE" ] && _per_hba=$((_per_hba + 1))
[ -n "$RSCSI_CHECK_AFFINITY" ] && _per_hba=$((_per_hba + 1))
[ -n "$RSCSI_ACCESS_PLATFORM" ] && _per_hba=$((_per_hba + 1))
plan_tests=$((2 + _per_hba * $(first_disks "$RSCSI_MODULES" | wc -l)))

# job NAME [fio options...]: one verified fio job on $sd, region $2 MiB.
# (Not _name: that is check's, which prints it after the command.)
job() {
	_job=$1
	_region=$2
	shift 2
	fio $FIO_QUICK --name="$_job" --direct=1 --rw=randwrite --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randseed=42 --offset="${_region}M" --size="${RSCSI_FIO_MB:-16}M" "$@"
}

# cpus LIST: a CPU list ("0-2, 5" or "0-2,5") as one CPU per line.
cpus() {
	echo "$1" | tr ',' '\n' | awk -F- 'NF { a = $1 + 0; b = (NF > 1 ? $2 : $1) + 0;
		for (c = a; c <= b; c++) print c }' | sort -n
}

# affinity PCI SD STATE: with more than one hardware queue, each queue of SD's host serves
# exactly the CPUs that its MSI-X vector's interrupt is affine to (blk_mq_map_hw_queues), the
# vector taken from the driver's debugfs STATE and its interrupt from /proc/interrupts.
affinity() {
	_nq=0
	for _q in /sys/block/"$2"/mq/*; do
		_i=${_q##*/}
		_v=$(sed -n "s/^queue${_i}_vector: //p" "$3")
		_irq=$(awk -v p="PCI-MSIX-$1" -v v="$_v-edge" \
			'{ for (i = 2; i < NF; i++) if ($i == p && $(i + 1) == v) { sub(":", "", $1); print $1 } }' \
			/proc/interrupts)
		_c=$(cat "$_q/cpu_list")
		_a=$(cat "/proc/irq/$_irq/smp_affinity_list" 2>/dev/null)
		echo "hwq $_i: cpus $_c; vector ${_v:-?}, irq ${_irq:-?}, affinity ${_a:-?}"
		[ -n "$_irq" ] && [ -n "$_a" ] && [ "$(cpus "$_c")" = "$(cpus "$_a")" ] || return 1
		_nq=$((_nq + 1))
	done
	[ "$_nq" -gt 1 ] || { echo "$_nq hardware queue(s): nothing to map"; return 1; }
}

# integrity_hba: the jobs on disk $sd of HBA $h (the variables of a /tmp/disks line).
integrity_hba() {
	m="$mod hba$h"
	sd=$(find_disk "$pci" "$id" "$lun")
	if [ -z "$sd" ]; then
		not_ok "$m: disk found # timed out"
		for t in 3 4 5 6 7; do not_ok "$m: skipped: no disk"; done
	else
		sg=$(sg_of "$sd")
		ok "$m: disk found ($sd, $sg)"
		min=$bs
		if [ "$bs" -le 512 ]; then
			split=512/5:1k/5:4k/30:8k/10:32k/10:64k/10:128k/10:256k/10:1m/10
		else
			split=4k/40:8k/10:32k/10:64k/10:128k/10:256k/10:1m/10
		fi
		check "$m: fio 512B-1MiB iodepth 64" job bigmix 0 --filename="/dev/$sd" \
			--ioengine=libaio --iodepth=64 --bssplit="$split"
		check "$m: fio 512B-1MiB iodepth 1" job qd1 16 --filename="/dev/$sd" \
			--ioengine=libaio --iodepth=1 --bssplit="$split"
		# iomem_align offsets each buffer from a page boundary: lists that start and end
		# inside pages. O_DIRECT needs the host's DMA alignment (4 bytes for SCSI hosts).
		check "$m: fio O_DIRECT from unaligned buffers" job unaligned 32 \
			--filename="/dev/$sd" --ioengine=libaio --iodepth=16 --bsrange="$min-64k" \
			--iomem_align=$((min + 4))
		check "$m: fio SG_IO (ioengine=sg)" job sgio 48 --filename="/dev/$sg" \
			--ioengine=sg --direct=0 --iodepth=16 --bsrange="$min-128k"
		check "$m: sg_dd through SG_IO matches a direct read" sh -c "
			sg_dd if=/dev/$sg of=/tmp/a.bin bs=$bs count=$((4194304 / bs)) skip=$((50331648 / bs)) &&
			dd if=/dev/$sd of=/tmp/b.bin bs=1M count=4 skip=48 iflag=direct &&
			cmp /tmp/a.bin /tmp/b.bin && rm -f /tmp/a.bin /tmp/b.bin"
	fi
	state=$(host_state "${mod##*+}" "$pci")
	[ -f "$state" ] && sed 's/^/# /' "$state"
	if [ -n "$RSCSI_EXPECT_BOUNCE" ]; then
		check "$m: long lists went through the bounce buffer" grep -q '^bounced: [1-9]' "$state"
	fi
	if [ -n "$RSCSI_CHECK_AFFINITY" ]; then
		check "$m: each hardware queue serves the CPUs of its vector" affinity "$pci" "$sd" "$state"
	fi
	if [ -n "$RSCSI_ACCESS_PLATFORM" ]; then
		_want=0
		case " $RSCSI_ACCESS_PLATFORM " in *" $pci "*) _want=1 ;; esac
		check "$m: access_platform $_want (data $([ $_want = 1 ] && echo DMA-mapped || echo at guest-physical addresses))" \
			grep -q "^access_platform: $_want\$" "$state"
	fi
}

plan_main() {
	mod=$RSCSI_MODULES
	check "$mod: load $RSCSI_MODPARAMS" sh -c "for m in \$(echo $mod | tr + ' '); do modprobe \$m $RSCSI_MODPARAMS || exit 1; done"
	first_disks "$mod" >/tmp/disks
	if ! wait_disks "$DISK_WAIT" "$mod"; then
		diag "disks present: $(ls /sys/block | tr '\n' ' ')"
	fi
	while read -r h kind pci id lun size bs; do
		integrity_hba </dev/null
	done </tmp/disks
	check "$mod: unload" sh -c "for m in \$(echo $mod | tr + '\n' | sed '1!G;h;\$!d'); do rmmod \$m || exit 1; done"
}
