# SPDX-License-Identifier: GPL-2.0
#
# rscsi guest library: KTAP output, disk discovery and the checks plans share.
#
# A plan is /rscsi/plans/<name>.sh. It defines plan_tests (the number of tests it prints) and
# plan_main, which calls ok/not_ok (or check/skip) once per test. Every plan ends with a
# kmemleak scan, counted as one more test. The host gives the expected
# devices in /rscsi/run.conf as RSCSI_DISKS lines:
#   <hba-index> <hba-kind> <pci-address> <scsi-id> <lun> <size-bytes> <logical-block-size>

KTAP_N=0
KTAP_FAILED=0

# Options for every fio the plans run (not the benchmark's): jobs as threads of one process,
# no disk utilisation statistics and no verify state file. Measured on the debug kernel under
# TCG with 16 disks present, 16 jobs of 1 MiB in one fio: 17.6 s without them, 3.2 s with;
# the I/O itself took under 1 s of that, and fio's walk of sysfs for the utilisation
# statistics grows with the disks present (a 64-disk run spent 410 of its 550 s in fio).
FIO_QUICK="--thread --disk_util=0 --verify_state_save=0"

ktap_begin() { echo "KTAP version 1"; echo "1..$1"; }
ok() { KTAP_N=$((KTAP_N + 1)); echo "ok $KTAP_N $*"; }
not_ok() { KTAP_N=$((KTAP_N + 1)); KTAP_FAILED=$((KTAP_FAILED + 1)); echo "not ok $KTAP_N $*"; }
skip() { KTAP_N=$((KTAP_N + 1)); echo "ok $KTAP_N $1 # SKIP ${2:-}"; }
diag() { echo "# $*"; }

# check NAME COMMAND...: runs the command with its output as KTAP diagnostics; ok if it succeeds.
check() {
	_name=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		sed 's/^/# /' /tmp/check.out | tail -n 40
		ok "$_name"
	else
		_rc=$?
		sed 's/^/# /' /tmp/check.out | tail -n 60
		diag "$_name: exit status $_rc"
		not_ok "$_name"
	fi
}

# sync_point NAME: tells the host a named point was reached and waits until it answers, so
# that the host can act (corrupt an image, hot-plug a disk) at a known moment. Written to the
# console, so that it reaches the host from inside check (whose output goes to a file); the
# answer is left in _answer.
sync_point() {
	# A part of a combined run names its sync points with its prefix (RSCSI_SYNC_PREFIX).
	echo "RSCSI-SYNC ${RSCSI_SYNC_PREFIX:-}$1" >/dev/console
	read -r _answer </dev/console
	diag "sync $1: host answered $_answer"
}

# rscsi_disks [GROUP]: prints the expected disks, one per line; with a module group, only the
# disks behind the HBA models that group drives.
rscsi_disks() {
	_models=$(models_of "${1:-}")
	printf '%s\n' "$RSCSI_DISKS" | sed '/^[[:space:]]*$/d' | while read -r _line; do
		set -- $_line
		case " $_models " in *" $2 "* | "  ") echo "$_line" ;; esac
	done
}

# first_disks GROUP: the first expected disk of each HBA the group drives.
first_disks() { rscsi_disks "$1" | awk '!seen[$1]++'; }

# apply_overrides: for each PCI=DRIVER in RSCSI_DRIVER_OVERRIDE, writes the function's
# driver_override, so that only that driver binds it (the C and the Rust driver of one device
# kind each get their own function in one boot). Done before the modules load.
apply_overrides() {
	for _o in ${RSCSI_DRIVER_OVERRIDE:-}; do
		echo "${_o#*=}" >"/sys/bus/pci/devices/${_o%%=*}/driver_override" || return 1
	done
}

# A group is one or more modules joined by "+", loaded in order and unloaded in reverse.
load_group() { for _m in $(echo "$1" | tr + ' '); do modprobe "$_m" || return 1; done; }
unload_group() { for _m in $(echo "$1" | tr + '\n' | sed '1!G;h;$!d'); do rmmod "$_m" || return 1; done; }

# models_of GROUP: the HBA models the modules of a group ("a+b") drive; empty for all.
models_of() {
	for _m in $(echo "$1" | tr + ' '); do
		case "$_m" in
		megaraid_sas | rmegasas) echo megasas megasas-gen2 ;;
		virtio_scsi | rvirtio_scsi) echo virtio-scsi-pci ;;
		virtio_blk) echo virtio-blk-pci ;;
		esac
	done | tr '\n' ' ' | sed 's/ *$//'
}

# find_disk PCI SCSI_ID LUN: prints the sdX name of the disk at that address, or nothing.
# Matches the PCI function in the sysfs path and the target and LUN of H:C:T:L. A LUN above 255
# is reported by REPORT LUNS in the flat space format, and the midlayer names it 0x4000 | LUN
# (LUN 300 is H:C:T:16684), with the C drivers as with ours.
find_disk() {
	_want=$3
	[ "$3" -gt 255 ] && _want=$((16384 + $3))
	# The SCSI host is a child of its PCI function (of the virtio device under it, with the C
	# virtio_scsi): a glob, not a walk over every disk (a walk per lookup made a 64-disk run
	# spend minutes in readlink).
	_d=/sys/bus/pci/devices/$1
	for _b in "$_d"/host*/target*/*:*:"$2":"$_want"/block/sd* \
		"$_d"/virtio*/host*/target*/*:*:"$2":"$_want"/block/sd*; do
		[ -e "$_b" ] || continue
		echo "${_b##*/}"
		return 0
	done
}

# The bound of wait_disks in the plans, in seconds. Scanning is asynchronous; a controller's
# disks come up within a few seconds of loading its driver here (8 disks: about 10 s on the debug
# kernel), and a loaded host may slow that several times. The wait ends as soon as the disks are
# there: the bound only decides when a missing disk is reported.
DISK_WAIT=180

# wait_disks TIMEOUT [GROUP]: waits until every expected disk exists (scanning is asynchronous).
wait_disks() {
	_deadline=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$_deadline" ]; do
		_missing=0
		while read -r _h _k _pci _id _lun _size _bs; do
			[ -n "$(find_disk "$_pci" "$_id" "$_lun")" ] || _missing=1
		done <<EOT
$(rscsi_disks "${2:-}")
EOT
		[ $_missing = 0 ] && return 0
		sleep 1
	done
	return 1
}

# first_disk GROUP TIMEOUT: waits for the group's disks, then sets h, kind, pci, id, lun, size,
# bs, sd, sg and state (the debugfs file of the group's last module) for the first of them.
first_disk() {
	rscsi_disks "$1" | head -n 1 >/tmp/disks
	read -r h kind pci id lun size bs </tmp/disks
	wait_disks "$2" "$1"
	sd=$(find_disk "$pci" "$id" "$lun")
	sg=$(sg_of "$sd")
	state=$(host_state "${1##*+}" "$pci")
}

# soft_disk MODULE: waits (DISK_WAIT, on the disk appearing) for the disk of a software host,
# by its model (scsi_debug's is "scsi_debug", rscsi_debug's "rscsi_debug"), and prints it.
soft_disk() {
	_deadline=$(($(date +%s) + DISK_WAIT))
	while [ "$(date +%s)" -lt "$_deadline" ]; do
		for _d in /sys/block/sd*; do
			if [ "$(tr -d ' ' <"$_d/device/model" 2>/dev/null)" = "$1" ]; then
				echo "${_d##*/}"
				return 0
			fi
		done
		sleep 1
	done
}

# blk_disk PCI: waits (DISK_WAIT, on the disk appearing) for the virtio-blk disk of the
# function PCI, and prints it.
blk_disk() {
	_deadline=$(($(date +%s) + DISK_WAIT))
	while [ "$(date +%s)" -lt "$_deadline" ]; do
		for _b in "/sys/bus/pci/devices/$1"/virtio*/block/vd*; do
			[ -e "$_b" ] && { echo "${_b##*/}"; return 0; }
		done
		sleep 1
	done
}

# group_disk GROUP: waits for the first disk of a module group and sets pci and sd (empty if
# it never came). A software host (C scsi_debug, rscsi_debug) has no PCI function and no disk
# table: its disk is found by model, and pci is the module's name; so for null_blk (nullb0,
# the block layer with no device), and virtio-blk's disk is the vdX of its function.
group_disk() {
	case $1 in
	*scsi_debug)
		pci=$1
		sd=$(soft_disk "$1")
		;;
	null_blk)
		pci=$1
		sd=
		wait_until "$DISK_WAIT" test -e /sys/block/nullb0 && sd=nullb0
		;;
	*virtio_blk)
		rscsi_disks "$1" | head -n 1 >/tmp/disks
		read -r h kind pci id lun size bs </tmp/disks
		sd=$(blk_disk "$pci")
		;;
	*)
		rscsi_disks "$1" | head -n 1 >/tmp/disks
		read -r h kind pci id lun size bs </tmp/disks
		wait_disks "$DISK_WAIT" "$1"
		sd=$(find_disk "$pci" "$id" "$lun")
		;;
	esac
}

# wait_until SECONDS COMMAND...: until the command succeeds, at most that long (a bound for an
# event, checked once a second; the callers say why their bound is what it is).
wait_until() {
	_deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$_deadline" ] && return 1
		sleep 1
	done
}

# disk_matches SD SIZE BS: the disk has the size and logical block size the host gave it.
disk_matches() {
	_sectors=$(cat "/sys/block/$1/size")
	_lbs=$(cat "/sys/block/$1/queue/logical_block_size")
	echo "$1: $((_sectors * 512)) bytes, logical block size $_lbs (expected $2, $3)"
	[ $((_sectors * 512)) = "$2" ] && [ "$_lbs" = "$3" ]
}

# host_state DRIVER PCI: the debugfs state file of the SCSI host a driver made for a controller.
host_state() {
	_h=$(ls -d "/sys/bus/pci/devices/$2"/host* 2>/dev/null | head -n 1)
	echo "/sys/kernel/debug/$1-${_h##*/}/state"
}

# counter NAME: the value of line NAME of the driver's debugfs state file ($state). (The
# knobs plan has its own, which keeps only the leading number of "N (armed M)".)
counter() { sed -n "s/^$1: //p" "$state"; }

# sg_of SD: the sg node of a disk.
sg_of() { ls "/sys/block/$1/device/scsi_generic" 2>/dev/null | head -n 1; }

# load_bg SD: a verified random-write load (crc32c, verify_fatal, RSCSI_FIO_MB MiB) in the
# background until stop_load (or a kill) ends it, with pid set to fio's own pid (exec), so that
# killing it closes the disk. Returns once the load's writes show in the disk's statistics:
# fio holds the disk open from then until it stops. fio takes seconds to start in the guest,
# more on a busy host (a fixed 3 s sleep was not always enough), so this waits for the event,
# with DISK_WAIT as the bound. The load lasts as long as the steps it is under, however slow
# the host; its 900 s only bound it in case a plan never stops it. serialize_overlap: no two
# commands in flight cover the same blocks (the region is rewritten every pass, and what
# verify reads back after two overlapping writes would depend on the device's order).
load_bg() {
	_w0=$(disk_writes "$1")
	(exec fio $FIO_QUICK --name=load --filename="/dev/$1" --direct=1 --ioengine=libaio --iodepth=32 \
		--serialize_overlap=1 \
		--rw=randwrite --bsrange=4k-128k --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--verify_backlog=64 --randseed=7 --size="${RSCSI_FIO_MB:-16}M" --time_based \
		--runtime=900 --output=/tmp/load.out) >/dev/null 2>&1 &
	pid=$!
	_deadline=$(($(date +%s) + DISK_WAIT))
	while [ "$(disk_writes "$1")" -le "$_w0" ]; do
		kill -0 "$pid" 2>/dev/null || { echo "the load on $1 ended before it wrote"; return 1; }
		[ "$(date +%s)" -ge "$_deadline" ] && { echo "no write from the load on $1"; return 1; }
		sleep 1
	done
}

# disk_writes SD: write requests SD has completed (the fifth field of /sys/block/SD/stat).
disk_writes() { set -- $(cat "/sys/block/$1/stat" 2>/dev/null) 0 0 0 0 0; echo "$5"; }

# stop_load: ends the background load (SIGTERM) and waits for it; succeeds if it was still
# running and reports no error. fio exits 128 when a signal ends it, and 0 only if it ran to
# its bound; an error (a failed write, a verify mismatch with verify_fatal) makes it exit 1.
stop_load() {
	kill -0 "$pid" 2>/dev/null || echo "the load ended before it was stopped"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	_rc=$?
	tail -n 5 /tmp/load.out
	grep -E "err=|errors" /tmp/load.out | head -n 5
	[ $_rc = 128 ] && grep -q 'err= 0' /tmp/load.out
}

# kmemleak_check: two forced scans; fails if anything is reported. A leak is reported by the
# second scan after it was made: the first records each object's checksum (an object that
# changed since the scan before is taken as in use, and a new one always has), the second
# reports an unreferenced object whose checksum held, if it is at least 5 s old when that
# scan starts (MSECS_MIN_AGE in mm/kmemleak.c). So a leak made by the plan's last step (an
# unload) needs the second scan to start 5 s after it: the first scan runs at once and the
# second starts no earlier than 7 whole seconds of `date` after the first began, at least 6 s
# (the first scan takes about 6 s here, so there is seldom anything left to wait). The waits
# are on the guest's own clock, against a fixed age, so they hold however slow the host is.
kmemleak_check() {
	[ -e /sys/kernel/debug/kmemleak ] || { echo "no kmemleak in this kernel"; return 0; }
	_t0=$(date +%s)
	# A kmemleak that disabled itself (its own allocation failed, say) refuses the scan and
	# would find nothing: that is a failure, not a pass.
	echo scan >/sys/kernel/debug/kmemleak || { echo "kmemleak refused the scan: disabled"; return 1; }
	_left=$((_t0 + 7 - $(date +%s)))
	[ "$_left" -gt 0 ] && sleep "$_left"
	echo scan >/sys/kernel/debug/kmemleak
	_leaks=$(cat /sys/kernel/debug/kmemleak)
	[ -z "$_leaks" ] && { echo "kmemleak: nothing found"; return 0; }
	echo "$_leaks" | head -n 60
	return 1
}

# KCSAN_IGNORE: on the race kernel, data races of the kernel's own that any driver provokes,
# kept out of KCSAN's reports through its report filter list (a report is dropped when the top
# frame of either access is one of these functions). Each with why it is not ours:
#   aio_read_events: fs/aio.c's event ring. aio_complete() (from iocb_put(), in the completion
#     of any block driver's I/O) writes ring->tail under ctx->completion_lock, and
#     io_getevents()' aio_read_events_ring() reads it without that lock, ordered by
#     smp_wmb()/smp_rmb(): a lockless protocol whose plain accesses lack READ_ONCE/WRITE_ONCE.
#     Seen under fio's libaio with rmegasas completing (make soak FLAVOUR=race, 2026-12-05).
#   d_alloc_parallel: the VFS's own lookup of a new /dev node racing itself, both under
#     newfstatat(): two fio threads stat a disk the soak just hot-plugged. d_alloc_parallel()
#     (fs/dcache.c) sets the dentry's DCACHE_PAR_LOOKUP in d_flags under d_lock while the
#     other task's lookup reads d_flags without it: simple_lookup() (fs/libfs.c, devtmpfs;
#     make soak FLAVOUR=race, second run, 2026-12-05) or __lookup_slow() (fs/namei.c; fourth
#     run, 2026-12-07, d_flags 0x01000080 -> 0x01000280). d_alloc_parallel is the frame both
#     reports share; no driver code on either stack.
KCSAN_IGNORE="aio_read_events d_alloc_parallel"

# kcsan_filter: applies KCSAN_IGNORE, on a kernel with KCSAN.
kcsan_filter() {
	[ -e /sys/kernel/debug/kcsan ] || return 0
	for _f in $KCSAN_IGNORE; do
		if echo "!$_f" >/sys/kernel/debug/kcsan; then
			echo "rscsi: KCSAN reports with $_f on top are filtered (lib.sh, KCSAN_IGNORE)"
		else
			echo "rscsi: KCSAN cannot filter $_f"
		fi
	done
}

# dma_debug_all_errors: CONFIG_DMA_API_DEBUG prints only the first error it finds in a boot
# (kernel/dma/debug.c, show_num_errors = 1) and counts the rest silently: one error of a C
# driver's baseline, or of an early plan, would hide every later one. All of them printed, each
# is a report the judge sees.
dma_debug_all_errors() {
	[ -e /sys/kernel/debug/dma-api/all_errors ] || return 0
	echo 1 >/sys/kernel/debug/dma-api/all_errors
}

# rscsi_run_parts: a combined run (tools/rscsi/suite.py, combined): the plans of RSCSI_PARTS
# in turn, part K with the settings of /rscsi/part-K.conf, as one KTAP. Each part runs in a
# subshell, so that its settings and the functions of its plan do not reach the next; the
# KTAP counters come back through a file (a part that dies before writing them leaves the
# count short, which the host judges a failure).
rscsi_run_parts() {
	_total=0
	_k=0
	for _p in $RSCSI_PARTS; do
		_n=$(. "/rscsi/part-$_k.conf" && . "/rscsi/plans/$_p.sh" && echo "$plan_tests")
		_total=$((_total + ${_n:-0}))
		_k=$((_k + 1))
	done
	echo "RSCSI-BEGIN parts"
	ktap_begin $((_total + 1))
	_k=0
	for _p in $RSCSI_PARTS; do
		diag "part $_k: plan $_p"
		(
			. "/rscsi/part-$_k.conf"
			. "/rscsi/plans/$_p.sh"
			plan_main
			echo "$KTAP_N $KTAP_FAILED" >/tmp/ktap.state
		)
		read -r KTAP_N KTAP_FAILED </tmp/ktap.state
		# The end of the part's lines, for the judge's allowances of one part (judge.py).
		diag "part $_k: end"
		_k=$((_k + 1))
	done
	check "kmemleak scan finds nothing" kmemleak_check
	echo "# rscsi: $KTAP_N tests run, $KTAP_FAILED failed"
	echo "RSCSI-END parts"
}

rscsi_run_plan() {
	[ "$1" = parts ] && { rscsi_run_parts; return; }
	_plan=/rscsi/plans/$1.sh
	if [ ! -f "$_plan" ]; then
		ktap_begin 1
		not_ok "plan_$1 # no such plan"
		echo "RSCSI-END $1"
		return
	fi
	. "$_plan"
	echo "RSCSI-BEGIN $1"
	ktap_begin $((plan_tests + 1))
	plan_main
	check "kmemleak scan finds nothing" kmemleak_check
	echo "# rscsi: $KTAP_N tests run, $KTAP_FAILED failed"
	echo "RSCSI-END $1"
}
