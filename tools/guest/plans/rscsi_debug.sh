# SPDX-License-Identifier: GPL-2.0
#
# Plan "rscsi_debug": the software host on kernel::scsi, its disks, and the faults it injects
# to hold kernel::scsi to its ownership promises (Documentation/scsi/rscsi_debug.rst).
#
# No emulated hardware: rscsi_debug's "device" completes commands from the host's software
# interrupt, after RSCSI_DEBUG_DELAY_US, and misbehaves on request through its debugfs file.
# Each fault below is checked through the driver's counters, which count what the device saw:
#   lost         a completion for a command the device held was refused (must stay 0);
#   misdirected  a completion gave the driver a command it was not for (must stay 0);
#   park_raced   the midlayer queued a command again while the driver still held it (must
#                stay 0);
#   ignored      completions of contexts the device no longer (or never) held, ignored.
#
# Waits: every wait below ends on an event (a counter moving, fio writing) with a bound of
# DISK_WAIT or more; the command timeout is 1 s (the block layer fires it 1-2 s after
# submission), and no fault depends on anything happening within a time.
#
# Settings (run.conf): RSCSI_DEBUG_PARAMS (module parameters), RSCSI_DEBUG_DISKS (disks they
# make).

plan_tests=23

# wait_counter NAME MIN: waits until the counter NAME of the state file is at least MIN.
wait_counter() {
	_deadline=$(($(date +%s) + DISK_WAIT))
	while :; do
		_v=$(sed -n "s/^$1: //p" "$state")
		[ "${_v:-0}" -ge "$2" ] && { echo "$1: $_v"; return 0; }
		[ "$(date +%s)" -ge "$_deadline" ] && { echo "$1 stayed at ${_v:-?} (wanted $2)"; return 1; }
		sleep 1
	done
}

# clean: the counters that must stay zero are zero.
clean() {
	grep -E '^(lost|misdirected|sim_full|park_raced|park_expired|ignored|aborts|.*resets):' "$state"
	[ "$(counter lost)" = 0 ] && [ "$(counter misdirected)" = 0 ] &&
		[ "$(counter park_raced)" = 0 ] && [ "$(counter park_expired)" = 0 ]
}

# debug_disks: the disks of the rscsi_debug host, by model, in SCSI address order.
debug_disks() {
	for _d in /sys/block/sd*; do
		[ "$(cat "$_d/device/model" 2>/dev/null | tr -d ' ')" = rscsi_debug ] && echo "${_d##*/}"
	done
}

disks_found() {
	_found=$(debug_disks | wc -l)
	echo "disks: $(debug_disks | tr '\n' ' ')(want $RSCSI_DEBUG_DISKS)"
	[ "$_found" = "$RSCSI_DEBUG_DISKS" ]
}

wait_debug_disks() {
	_deadline=$(($(date +%s) + DISK_WAIT))
	until disks_found >/dev/null; do
		[ "$(date +%s)" -ge "$_deadline" ] && break
		sleep 1
	done
	disks_found
}

# verify_all: a crc32c-verified write pass on every disk at once.
verify_all() {
	_args=""
	for _d in $(debug_disks); do
		_args="$_args --name=$_d --filename=/dev/$_d"
	done
	fio $FIO_QUICK --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bsrange=512-256k \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --size=8M --randseed=3 \
		--output=/tmp/verify.out $_args
	_rc=$?
	grep -E "err=" /tmp/verify.out | head -n 8
	[ $_rc = 0 ] && ! grep -q 'err= *[1-9]' /tmp/verify.out
}

sg_io() {
	sg_inq "/dev/$sg" | head -n 8 && sg_readcap -l "/dev/$sg" | head -n 4 &&
		sg_dd if="/dev/$sg" of=/dev/null bs=512 count=2048 blk_sgio=1
}

bad_params() {
	for _p in num_tgts=0 max_luns=9 dev_size_mb=0 delay_us=-1 can_queue=5000 \
		submit_queues=17; do
		if modprobe rscsi_debug $_p 2>/tmp/mp.err; then
			echo "rscsi_debug loaded with $_p"
			rmmod rscsi_debug
			return 1
		fi
		echo "$_p: refused: $(dmesg | grep rscsi_debug | tail -n 1)"
	done
	[ ! -e /sys/module/rscsi_debug ]
}

# one_fault NAME COUNTER...: arms fault NAME for one command under the load, and waits until
# each COUNTER (an abort, a completion ignored) has moved. Every counter is read before the
# fault is armed: what it waits for may happen at once.
one_fault() {
	_f=$1
	shift
	_want=""
	for _c in "$@"; do _want="$_want $_c=$(($(counter "$_c") + 1))"; done
	echo "$_f 1" >"$state"
	for _w in $_want; do wait_counter "${_w%%=*}" "${_w#*=}" || return 1; done
}

# set_sched S: switches the first disk's I/O scheduler (the queue is frozen meanwhile: the
# switch waits for the commands in flight, the faults' included, to end).
set_sched() {
	echo "$1" >"/sys/block/$sd/queue/scheduler" || return 1
	grep -q "\[$1\]" "/sys/block/$sd/queue/scheduler"
}

# faults_under_load: each fault several times while a verified load runs on the first disk;
# the load must see no error, and no completion may reach the wrong command. Each round
# starts with an elevator switch (none, then mq-deadline), which gives the disk new scheduler
# requests, each with a private area of its own: the late completion of the round's first
# command then lands on a driver tag that fresh requests take in turn (the case a sequence
# number kept per request could not tell apart), after the block layer freed the requests of
# the round before.
faults_under_load() {
	for _round in 1 2 3 4; do
		set_sched none && set_sched mq-deadline || return 1
		one_fault late aborts ignored || return 1
		one_fault drop aborts || return 1
		one_fault twice ignored || return 1
		one_fault bogus ignored || return 1
	done
	clean
}

park_race() {
	for _round in 1 2; do
		one_fault park parked aborts || return 1
		wait_counter_zero parked_now || return 1
	done
	clean
}

wait_counter_zero() {
	_deadline=$(($(date +%s) + DISK_WAIT))
	until [ "$(counter "$1")" = 0 ]; do
		[ "$(date +%s)" -ge "$_deadline" ] && { echo "$1 stayed at $(counter "$1")"; return 1; }
		sleep 1
	done
	echo "$1: 0"
}

media_error() {
	echo "error 1" >"$state"
	if dd if="/dev/$sd" of=/dev/null bs=4k count=1 skip=100 iflag=direct 2>/tmp/dd.err; then
		echo "a read with an injected medium error succeeded"
		return 1
	fi
	cat /tmp/dd.err
	dmesg | grep -iE "medium error|sense key" | tail -n 2
}

# resets LEVEL...: sg_reset at each level on the first disk, each counted by the driver.
resets() {
	for _l in d t b H; do
		case $_l in d) _c=device_resets ;; t) _c=target_resets ;; b) _c=bus_resets ;; H) _c=host_resets ;; esac
		_before=$(counter $_c)
		sg_reset -$_l "/dev/$sg" || { echo "sg_reset -$_l failed"; return 1; }
		[ "$(counter $_c)" -gt "$_before" ] || { echo "$_c did not move"; return 1; }
		echo "sg_reset -$_l: $_c $(counter $_c)"
	done
}

storm_unload() {
	# A device that keeps reporting contexts it never had, every 20 us, through the removal of
	# the host: the interrupt runs while the midlayer frees the tags.
	echo "storm 100000000" >"$state"
	wait_counter storm_delivered 100 || return 1
	rmmod rscsi_debug
}

# in_step STEP NAME COMMAND...: check NAME COMMAND... if STEP is among RSCSI_DEBUG_STEPS ("all"
# by default), else a skip: to run one fault alone, as in showing that a kernel::scsi fix's test
# fails without the fix when an earlier step would crash that kernel.
in_step() {
	_step=$1
	shift
	case " ${RSCSI_DEBUG_STEPS:-all} " in
	*" all "* | *" $_step "*) check "$@" ;;
	*) skip "$1" "step $_step is not in RSCSI_DEBUG_STEPS" ;;
	esac
}

plan_main() {
	check "rscsi_debug: out-of-range parameters are refused" bad_params
	check "rscsi_debug: load ($RSCSI_DEBUG_PARAMS)" modprobe rscsi_debug $RSCSI_DEBUG_PARAMS
	check "rscsi_debug: every disk appears" wait_debug_disks
	sd=$(debug_disks | head -n 1)
	sg=$(sg_of "$sd")
	_h=$(ls -d /sys/block/"$sd"/device/scsi_disk/* | head -n 1)
	_h=${_h##*/}
	state=/sys/kernel/debug/rscsi_debug-host${_h%%:*}/state
	check "rscsi_debug: SG_IO (INQUIRY, READ CAPACITY, reads)" sg_io
	check "rscsi_debug: crc32c-verified writes on every disk" verify_all
	check "rscsi_debug: an injected medium error fails the read" media_error
	# Faults: a 1 s timeout on the first disk (the block layer fires it 1-2 s after submission),
	# and mq-deadline, whose requests take a driver tag only at dispatch, so that a tag passes
	# between requests (the case a per-request sequence number cannot tell apart).
	echo 1 >"/sys/block/$sd/device/timeout"
	check "rscsi_debug: $sd uses mq-deadline" set_sched mq-deadline
	in_step faults "rscsi_debug: a verified load starts" load_bg "$sd"
	in_step faults "rscsi_debug: dropped, late, duplicate and bogus completions under load and elevator switches" faults_under_load
	in_step faults "rscsi_debug: the load saw no error" stop_load
	in_step park "rscsi_debug: a verified load starts again" load_bg "$sd"
	in_step park "rscsi_debug: a completion parked in the driver across its abort" park_race
	in_step park "rscsi_debug: the load saw no error" stop_load
	check "rscsi_debug: the disk reads after the faults" dd if="/dev/$sd" of=/dev/null bs=64k count=16 iflag=direct
	in_step resets "rscsi_debug: sg_reset at every level (SG_SCSI_RESET)" resets
	in_step resets "rscsi_debug: a verified load starts under resets" load_bg "$sd"
	in_step resets "rscsi_debug: sg_reset at every level under load" resets
	in_step resets "rscsi_debug: the load saw no error" stop_load
	check "rscsi_debug: nothing lost or misdirected" clean
	sed 's/^/# /' "$state"
	in_step storm "rscsi_debug: unload while the device reports bogus completions" storm_unload
	in_step storm "rscsi_debug: reload, null, submit_queues=2, inline completion" \
		modprobe rscsi_debug null=1 submit_queues=2 can_queue=32
	RSCSI_DEBUG_DISKS=1
	in_step storm "rscsi_debug: its one disk appears" wait_debug_disks
	check "rscsi_debug: unload" rmmod rscsi_debug
}
