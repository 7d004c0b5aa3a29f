# SPDX-License-Identifier: GPL-2.0
#
# Plan "soak": both Rust HBAs in one VM, every disk under verified fio (crc32c, verify_fatal),
# while a seeded random driver of events runs; then every byte verified, every counter
# balanced, nothing leaked (the kmemleak scan every plan ends with) and no kernel report (the
# judge).
#
# The soak is RSCSI_SOAK_ROUNDS rounds. In each, a verified fio job runs on every disk for the
# round, while events drawn from RSCSI_SOAK_SEED follow each other every 1 to 4 s for
# RSCSI_SOAK_SECONDS / RSCSI_SOAK_ROUNDS seconds:
#   - sg_reset -d, -t (rvirtio_scsi; rmegasas has no target reset: -d) and -H on a random disk;
#   - the I/O scheduler (none, mq-deadline) and queue_depth (1 to 32) of a random disk;
#   - CPU 1 offline and back (when the guest has one);
#   - a rescan of target 0 of a random host through sysfs (its disks are there: nothing
#     changes);
#   - a burst of fault knobs on a random controller (knobs.sh: completions twice or after
#     contexts never posted, oversized sense or residual, used-ring ids never posted);
#   - a lost completion (rmegasas's lose knob) or a lost interrupt (rvirtio_scsi's drop-irq):
#     the command times out and the error handler finds or aborts it;
#   - a firmware FAULT (rmegasas: the controller is reset) or a ring error that makes the
#     device set DEVICE_NEEDS_RESET (rvirtio_scsi's bad-table: the driver resets it);
#   - a burst of blkdebug errors on the disk RSCSI_SOAK_BAD (its verified load runs beside,
#     on other blocks): three reads of its bad sector and a write of another must fail, a read
#     of a good sector must not;
#   - a disk plugged into the virtio-scsi controller through QMP (at RSCSI_SOAK_PLUG), found
#     by the driver's hot-plug event, written and verified, unplugged, and gone: each plug
#     that does not come and go counts, and the count is judged at the end.
# Between rounds, with no disk held, one of: unbind and bind a random controller; rmmod and
# modprobe a random driver; delete a random disk through sysfs and scan its address again;
# each followed by waiting for the disks.
# The sequence depends on the seed alone (a 31-bit LCG in shell arithmetic): it is printed
# as "soak event N: ...", and the same seed replays it. The same-seed replay of the host's
# timing is of course not: what a seed fixes is which events, where and in which order.
#
# Settings (run.conf): RSCSI_MODULES (the Rust drivers, each driving one HBA of the VM),
# RSCSI_SOAK_SECONDS, RSCSI_SOAK_ROUNDS, RSCSI_SOAK_SEED, RSCSI_SOAK_BAD and RSCSI_SOAK_PLUG
# ("PCI TARGET LUN": the blkdebug disk, and where the host plugs a disk in at the sync points
# soak-plug and soak-unplug).

. /rscsi/plans/knobs.sh

soak_rounds=${RSCSI_SOAK_ROUNDS:-2}
# Per round: fio verified on every disk; after the rounds: counters, hot-plugs, the summary.
plan_tests=$((2 + 2 * soak_rounds + 3))
rng=${RSCSI_SOAK_SEED:-1}

# rand N: a number below N from the seeded sequence, in _r (not printed: a subshell would not
# advance the state).
rand() {
	rng=$(((rng * 1103515245 + 12345) % 2147483648))
	_r=$(((rng / 65536) % $1))
}

# soak_disks: sd names of every expected disk with its driver and PCI address, one per line.
soak_disks() {
	for _mod in $RSCSI_MODULES; do
		rscsi_disks "$_mod" | while read -r _h _k _pci _id _lun _size _bs; do
			echo "$(find_disk "$_pci" "$_id" "$_lun") $_mod $_pci"
		done
	done
}

# pick_disk: a random line of soak_disks into sd, dmod and dpci.
pick_disk() {
	soak_disks >/tmp/soak-disks
	rand "$(wc -l </tmp/soak-disks)"
	read -r sd dmod dpci <<EOT
$(sed -n "$((_r + 1))p" /tmp/soak-disks)
EOT
	state=$(host_state "$dmod" "$dpci")
}

# start_loads ROUND: a verified fio job on every disk, in the background, its pid in
# /tmp/soak-pids. Each writes 16 MiB of its disk over and over (serialize_overlap: no two
# commands over the same blocks in flight), verifying as it goes (verify_backlog) and at the
# end; a failed write or a mismatch stops it with an error.
start_loads() {
	: >/tmp/soak-pids
	# From a file, not a pipe: the jobs must be children of this shell, for stop_loads' wait.
	soak_disks >/tmp/soak-disks
	while read -r _sd _mod _pci; do
		(exec fio $FIO_QUICK --name="soak-$_sd" --filename="/dev/$_sd" --direct=1 \
			--ioengine=libaio --iodepth=16 --serialize_overlap=1 --rw=randwrite \
			--bsrange=4k-128k --verify=crc32c --verify_fatal=1 --do_verify=1 \
			--verify_backlog=64 --randseed="$((rng % 1000 + $1))" --size=16M --time_based \
			--runtime=3600 --output="/tmp/soak-$_sd.out") >/dev/null 2>&1 &
		echo "$! $_sd" >>/tmp/soak-pids
	done </tmp/soak-disks
}

# stop_loads: ends every job (SIGTERM) and checks each: still running when stopped, and no
# error. A job waits for its commands: one a fault knob made time out takes up to the disk's
# timeout (30 s) and the error handler's work.
stop_loads() {
	_bad=0
	while read -r _pid _sd; do
		kill -0 "$_pid" 2>/dev/null || { echo "the job on $_sd ended before it was stopped"; _bad=1; }
		kill -TERM "$_pid" 2>/dev/null
		wait "$_pid"
		_rc=$?
		if [ $_rc != 128 ] || ! grep -q 'err= 0' "/tmp/soak-$_sd.out"; then
			echo "the job on $_sd failed (exit $_rc):"
			tail -n 20 "/tmp/soak-$_sd.out"
			_bad=1
		else
			_w=$(sed -n 's/.*WRITE: bw=[^,]*, [^,]*, io=\([^ ]*\).*/\1/p' "/tmp/soak-$_sd.out")
			echo "$_sd: verified, $_w written"
		fi
	done </tmp/soak-pids
	return $_bad
}

# burst: the blkdebug disk's bad sectors fail, three reads and a write, and a good one does not.
burst() {
	set -- $RSCSI_SOAK_BAD
	_bd=$(find_disk "$1" "$2" "$3")
	[ -n "$_bd" ] || { echo "no blkdebug disk"; return 1; }
	for _i in 1 2 3; do
		dd if="/dev/$_bd" of=/dev/null bs=512 count=1 skip=65536 iflag=direct 2>/dev/null &&
			{ echo "read of the bad sector of $_bd succeeded"; return 1; }
	done
	dd if=/dev/zero of="/dev/$_bd" bs=512 count=1 seek=65544 oflag=direct 2>/dev/null &&
		{ echo "write of the bad sector of $_bd succeeded"; return 1; }
	dd if="/dev/$_bd" of=/dev/null bs=512 count=1 skip=65600 iflag=direct 2>/dev/null ||
		{ echo "read of a good sector of $_bd failed"; return 1; }
	echo "$_bd: 3 reads and a write failed, a good read did not"
}

# plug_disk: the host's disk at RSCSI_SOAK_PLUG, or nothing.
plug_disk() { set -- $RSCSI_SOAK_PLUG; find_disk "$1" "$2" "$3"; }
has_plug() { [ -n "$(plug_disk)" ]; }
no_plug() { [ -z "$(plug_disk)" ]; }

# hotplug: the host plugs a disk in; it must appear by the driver's hot-plug event (60 s bound:
# it comes in seconds), take a verified write, and go once the host unplugs it. A failure
# counts in /tmp/soak-hp-bad.
hotplug() {
	sync_point soak-plug
	if [ "$_answer" != added ]; then
		echo "the host could not plug a disk in: $_answer"
	elif ! wait_until 60 has_plug; then
		echo "the plugged disk did not appear"
		echo x >>/tmp/soak-hp-bad
	else
		_pd=$(plug_disk)
		fio $FIO_QUICK --name=plug --filename="/dev/$_pd" --direct=1 --ioengine=libaio \
			--iodepth=8 --rw=randwrite --bsrange=4k-64k --verify=crc32c --verify_fatal=1 \
			--size=8M --randseed="$rng" --output=/tmp/soak-plug.out ||
			{ echo "verified write on $_pd failed"; tail -n 5 /tmp/soak-plug.out; echo x >>/tmp/soak-hp-bad; }
	fi
	sync_point soak-unplug
	if [ "$_answer" = removed ]; then
		wait_until 60 no_plug || { echo "the unplugged disk stayed"; echo x >>/tmp/soak-hp-bad; return 1; }
		echo "plugged, verified and unplugged"
	else
		echo "the host could not unplug the disk: $_answer"
	fi
}

# hotplugs_ok: every plugged disk came and went.
hotplugs_ok() {
	_b=$(cat /tmp/soak-hp-bad 2>/dev/null | wc -l)
	echo "$(grep -c 'hot-plug' /tmp/soak-events 2>/dev/null) hot-plugs, $_b failed"
	[ "$_b" = 0 ]
}

# settled: the picked disk's host is running (not in error recovery) and none of its
# controller's knobs is armed. A lost completion or a FAULT armed otherwise can strike the
# error handler's own commands (its TEST UNIT READY after a controller reset, say): the
# midlayer then offlines the disk, by design. Seen in the race soak of 2026-12-05: a FAULT,
# then a lost completion armed while the controller was in FAULT; the reset cleared the FAULT
# and the lost completion took the TUR that followed. A real controller that loses that one
# completion loses the disk too; the soak is about the drivers coming through, so such
# events wait for a quiet host (they are skipped, and say so).
settled() {
	[ "$(cat "/sys/class/scsi_host/${_host##*/}/state" 2>/dev/null)" = running ] &&
		! grep -q 'armed [1-9]' "$state"
}

# event N: one event drawn from the sequence, printed with its outcome. An event that fails
# (a reset the driver refuses, a knob that cannot be armed) is shown, not judged: what is
# judged is that the data and the drivers come through all of them.
event() {
	_en=$2
	pick_disk
	rand 12
	_host=$(ls -d "/sys/bus/pci/devices/$dpci"/host* 2>/dev/null | head -n 1)
	_sg=$(sg_of "$sd")
	case $_r in
	0) _what="sg_reset -d $sd" ; sg_reset -d "/dev/$_sg" ;;
	1)
		if [ "$dmod" = rmegasas ]; then
			_what="sg_reset -d $sd (rmegasas has no target reset)"
			sg_reset -d "/dev/$_sg"
		else
			_what="sg_reset -t $sd"
			sg_reset -t "/dev/$_sg"
		fi
		;;
	2) _what="sg_reset -H $sd" ; sg_reset -H "/dev/$_sg" ;;
	3)
		rand 2
		_s=none
		[ $_r = 1 ] && _s=mq-deadline
		_what="scheduler $_s on $sd"
		echo "$_s" >"/sys/block/$sd/queue/scheduler"
		;;
	4)
		rand 32
		_what="queue_depth $((_r + 1)) on $sd"
		echo "$((_r + 1))" >"/sys/block/$sd/device/queue_depth"
		;;
	5)
		if [ -e /sys/devices/system/cpu/cpu1/online ]; then
			_what="cpu1 offline and back"
			echo 0 >/sys/devices/system/cpu/cpu1/online && sleep 1 &&
				echo 1 >/sys/devices/system/cpu/cpu1/online
		else
			_what="cpu1 offline and back (no cpu1: nothing)"
			true
		fi
		;;
	6)
		# Target 0 only: a scan of every target of a virtio-scsi host (256) takes long.
		_what="rescan target 0 of ${_host##*/}"
		echo "0 0 -" >"/sys/class/scsi_host/${_host##*/}/scan"
		;;
	7)
		# A knob the driver has, two to four shots.
		if [ "$dmod" = rmegasas ]; then
			set -- twice bogus sense
		else
			set -- twice bogus sense resid used-id
		fi
		rand $#
		shift "$_r"
		rand 3
		_what="fault $1 $((_r + 2)) on ${dmod}"
		echo "fault $1 $((_r + 2))" >"$state"
		;;
	8 | 9) if ! settled; then
		_what="(a lost completion, interrupt or FAULT: skipped, ${dmod}'s host is recovering or a knob is armed)"
		true
	elif [ $_r = 8 ]; then
		if [ "$dmod" = rmegasas ]; then
			_what="a lost completion on rmegasas (fault lose 1)"
			echo "fault lose 1" >"$state"
		else
			_what="a lost interrupt on rvirtio_scsi (drop-irq 1)"
			echo "drop-irq 1" >"$state"
		fi
	else
		if [ "$dmod" = rmegasas ]; then
			_what="firmware FAULT on rmegasas"
			echo "fault firmware" >"$state"
		else
			_what="a ring error on rvirtio_scsi (bad-table: DEVICE_NEEDS_RESET)"
			echo "bad-table" >"$state"
		fi
	fi
		;;
	10) _what="blkdebug error burst" ; burst ;;
	*) _what="hot-plug on the virtio-scsi controller" ; hotplug ;;
	esac
	_rc=$?
	echo "soak event $_en: $_what: exit $_rc"
}

# quiet_event N: with no disk held, unbind and bind a random controller, rmmod and modprobe a
# random driver, or delete a random disk through sysfs and scan its address again; then waits
# for the driver's disks.
quiet_event() {
	pick_disk
	rand 3
	if [ $_r = 2 ]; then
		# H:C:T:L of the disk, from its device's name.
		_hctl=$(basename "$(readlink -f "/sys/block/$sd/device")")
		echo "soak event $1: delete $sd ($_hctl, $dmod) and scan for it again"
		echo 1 >"/sys/block/$sd/device/delete" || return 1
		echo "$_hctl" | {
			IFS=: read -r _h _c _t _l
			echo "$_c $_t $_l" >"/sys/class/scsi_host/host$_h/scan"
		} || return 1
	elif [ $_r = 0 ]; then
		echo "soak event $1: unbind and bind $dpci ($dmod)"
		echo "$dpci" >"/sys/bus/pci/drivers/$dmod/unbind" || return 1
		echo "$dpci" >"/sys/bus/pci/drivers/$dmod/bind" || return 1
	else
		echo "soak event $1: rmmod and modprobe $dmod"
		rmmod "$dmod" || return 1
		modprobe "$dmod" || return 1
	fi
	wait_disks "$DISK_WAIT" "$dmod"
}

# balanced MOD: the controllers of a driver hold no command, and rmegasas's counters balance
# (submitted = completed); the knobs are disarmed.
balanced() {
	for _pci in $(rscsi_disks "$1" | awk '{print $3}' | sort -u); do
		_st=$(host_state "$1" "$_pci")
		echo "fault off" >"$_st"
		[ "$1" = rvirtio_scsi ] && echo "fault used-id 0" >"$_st"
		grep -E '^(outstanding|submitted|completed|late_completions|sense_clamped|resid_clamped|aborts|host_resets|device_resets|target_resets|fault_)' "$_st" | sed "s|^|$1 $_pci |"
		grep -q '^outstanding: 0$' "$_st" || { echo "$_pci: commands outstanding"; return 1; }
		if grep -q '^submitted:' "$_st"; then
			[ "$(sed -n 's/^submitted: //p' "$_st")" = "$(sed -n 's/^completed: //p' "$_st")" ] ||
				{ echo "$_pci: submitted and completed differ"; return 1; }
		fi
	done
}

plan_main() {
	diag "soak: seed $rng, $soak_rounds rounds, ${RSCSI_SOAK_SECONDS:-60} s of events"
	check "soak: load" sh -c "for m in $RSCSI_MODULES; do modprobe \$m || exit 1; done"
	check "soak: every disk appears" wait_disks "$DISK_WAIT"
	_per=$((${RSCSI_SOAK_SECONDS:-60} / soak_rounds))
	_n=0
	_round=1
	while [ $_round -le "$soak_rounds" ]; do
		start_loads "$_round"
		_end=$(($(date +%s) + _per))
		while [ "$(date +%s)" -lt "$_end" ]; do
			_n=$((_n + 1))
			# Through a file, not a pipe: the sequence's state must advance in this shell.
			event "$_round" "$_n" >/tmp/soak-event.out 2>&1
			sed 's/^/# /' /tmp/soak-event.out
			grep '^soak event' /tmp/soak-event.out >>/tmp/soak-events
			rand 4
			sleep $((_r + 1))
		done
		check "soak: round $_round: every disk's data verified" stop_loads
		_n=$((_n + 1))
		check "soak: round $_round: an unbind or a reload, and the disks come back" quiet_event "$_n"
		_round=$((_round + 1))
	done
	for _mod in $RSCSI_MODULES; do
		check "soak: $_mod: nothing outstanding, counters balanced" balanced "$_mod"
	done
	check "soak: every disk plugged in came, took verified I/O, and went" hotplugs_ok
	diag "soak: $_n events from seed ${RSCSI_SOAK_SEED:-1}"
}
