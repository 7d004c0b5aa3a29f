# SPDX-License-Identifier: GPL-2.0
#
# Plan "busmaster": a controller that loses its bus mastering under load, and then goes away.
# Every command must end (with an error if need be), the driver must recover or give up cleanly,
# and no DMA mapping may outlive its command: removing the PCI function afterwards must leave no
# "pending DMA allocations" (DMA-API debugging, which the debug kernel has) and no leak, and a
# rescan must bring the disk back.
#
#   - toggled: fio on the disk while the controller's Bus Master bit (PCI COMMAND bit 2) is
#     switched off and on 100 times, 0.1 s apart; then it stays on. Frames posted while it is off
#     never reach the emulated controller, so commands time out; what the error handler then does
#     (an abort, a controller reset, offlining the disk) depends on when each step lands, and
#     nothing below depends on which happened: the load ends, the host's error handling ends,
#     then the function is removed and rescanned and verified I/O must pass.
#   - dead (rmegasas only; RSCSI_BUSMASTER_DEAD=1): bus mastering off for good under load and a
#     host reset through SG_SCSI_RESET: every controller reset fails (the INIT frame is never
#     read), the driver gives up on the controller after RESET_TRIES (3), its commands end with
#     DID_NO_CONNECT and new I/O fails at once; then removal and rescan as above. megaraid_sas
#     answers the same host reset with SUCCESS without touching the controller when nothing is
#     outstanding, so the step says nothing about it and is skipped there.
#
# The disk's command timeout is lowered to 5 s so that error handling starts sooner; no outcome
# depends on it (each wait below is on an event, bounded only to report a hang).
#
# Settings (run.conf): RSCSI_MODULES (one module), RSCSI_MODPARAMS, RSCSI_BUSMASTER_DEAD.

plan_tests=12

# EH_WAIT: the bound, in seconds, on the error handler's work after the bus is back. The C
# driver gives a command 2 * scmd_timeout from its allocation, then waits resetwaittime for
# outstanding commands (90 s and 180 s by default; the run sets 10 s each),
# then tries up to three controller resets of about 35 s each; rmegasas's worst case is an
# ABORT of 30 s per command held (iodepth 4) plus three resets of 31 s: 600 s is several times
# either.
EH_WAIT=600

config() { echo "/sys/bus/pci/devices/$pci/config"; }

# command_reg: the PCI COMMAND register, as a decimal number.
command_reg() {
	set -- $(dd if="$(config)" bs=2 skip=2 count=1 2>/dev/null | od -An -tu2)
	echo "$1"
}

# set_command V: writes V to the COMMAND register (one 16-bit write: sysfs writes an aligned
# pair of bytes as a word).
set_command() {
	printf "\\$(printf %o $(($1 & 255)))\\$(printf %o $(($1 >> 8)))" |
		dd of="$(config)" bs=2 seek=2 count=1 conv=notrunc 2>/dev/null
}

bus_master() {
	_c=$(command_reg)
	case $1 in
	on) set_command $((_c | 4)) ;;
	off) set_command $((_c & ~4)) ;;
	esac
}

# rough_load: fio that goes on through errors (they are expected while the bus is off), until
# stop_rough ends it; pid set as load_bg does.
rough_load() {
	(exec fio $FIO_QUICK --name=rough --filename="/dev/$sd" --direct=1 --ioengine=libaio --iodepth=4 \
		--rw=randrw --bs=4k --size=16M --time_based --runtime=900 \
		--continue_on_error=all --output=/tmp/rough.out) >/dev/null 2>&1 &
	pid=$!
	_deadline=$(($(date +%s) + DISK_WAIT))
	_w0=$(disk_writes "$sd")
	while [ "$(disk_writes "$sd")" -le "$_w0" ]; do
		kill -0 "$pid" 2>/dev/null || { echo "the load ended before it wrote"; return 1; }
		[ "$(date +%s)" -ge "$_deadline" ] && { echo "no write from the load"; return 1; }
		sleep 1
	done
}

# stop_rough: ends the load and waits for it: fio ends only once every command it issued has
# ended, which is what this checks (the run's own timeout catches a command that never does).
stop_rough() {
	kill -TERM "$pid" 2>/dev/null
	_t0=$(date +%s)
	wait "$pid"
	echo "fio ended $(($(date +%s) - _t0)) s after it was told to (status $?)"
	grep -E "err=" /tmp/rough.out | head -n 3
	return 0
}

# toggled: the load while bus mastering flips, then on for good.
toggled() {
	rough_load || return 1
	for _i in $(seq 1 50); do
		bus_master off
		sleep 0.1
		bus_master on
		sleep 0.1
	done
	bus_master on
	echo "COMMAND register after toggling: $(printf %#x "$(command_reg)")"
	stop_rough
}

# eh_idle: waits until the host's error handling ended (its state leaves "recovery").
eh_idle() {
	_hs=$(ls -d "/sys/bus/pci/devices/$pci"/host* | head -n 1)
	_hs="/sys/class/scsi_host/${_hs##*/}/state"
	_deadline=$(($(date +%s) + EH_WAIT))
	while [ "$(cat "$_hs" 2>/dev/null)" != running ]; do
		[ "$(date +%s)" -ge "$_deadline" ] && { echo "host still in $(cat "$_hs") after ${EH_WAIT} s"; return 1; }
		sleep 1
	done
	echo "host state: running; disk state: $(cat "/sys/block/$sd/device/state" 2>/dev/null)"
	[ -f "$state" ] && grep -E '^(aborts|aborts_failed|host_resets|reset_retries|dead|no_connect):' "$state"
	return 0
}

# dead: bus mastering off for good under load, then a host reset that cannot succeed.
dead() {
	rough_load || return 1
	bus_master off
	_t0=$(date +%s)
	if sg_reset -H "/dev/$sg"; then
		echo "the host reset succeeded with bus mastering off"
		return 1
	fi
	echo "sg_reset -H failed after $(($(date +%s) - _t0)) s, as it must"
	stop_rough
	grep -E '^(host_resets|reset_retries|dead|no_connect):' "$state"
	# At least RESET_TRIES - 1 retries: the error handler's own host reset, for the commands
	# that timed out meanwhile, may have tried too.
	grep -q '^dead: 1$' "$state" && awk '/^reset_retries:/ { r = $2 } END { exit !(r >= 2) }' "$state"
}

# fails_fast: I/O to a dead controller's disk fails at once with DID_NO_CONNECT. The error
# handler may have offlined the disk already (its last host reset failed too): then the read
# must fail in the midlayer. If not (the failing reset came from sg_reset alone), the read
# reaches the driver, which must refuse it without posting it (no_connect moves). The read
# does not wait for a timeout: a command the driver posted to a stopped controller would
# instead time out and go through the error handler, which the run's timeout would catch.
fails_fast() {
	_st=$(cat "/sys/block/$sd/device/state")
	echo "disk state: $_st"
	if [ "$_st" = offline ]; then
		# The error handler's own failed reset offlined it: the midlayer refuses the I/O.
		if dd if="/dev/$sd" of=/dev/null bs=4k count=1 iflag=direct 2>/tmp/dd.err; then
			echo "a read from the offlined disk succeeded"
			return 1
		fi
		cat /tmp/dd.err
		return 0
	fi
	_before=$(sed -n 's/^no_connect: //p' "$state")
	if dd if="/dev/$sd" of=/dev/null bs=4k count=1 iflag=direct 2>/tmp/dd.err; then
		echo "a read from the dead controller's disk succeeded"
		return 1
	fi
	cat /tmp/dd.err
	_after=$(sed -n 's/^no_connect: //p' "$state")
	echo "no_connect: $_before before the read, $_after after"
	[ "$_after" -gt "$_before" ]
}

# remove_function: the PCI function goes; nothing of its DMA may be left.
remove_function() {
	dmesg -c >/dev/null
	echo 1 >"/sys/bus/pci/devices/$pci/remove" || return 1
	[ -e "/sys/bus/pci/devices/$pci" ] && { echo "the function is still there"; return 1; }
	dmesg >/tmp/remove.log
	grep -iE "DMA-API|pending DMA|leak" /tmp/remove.log && return 1
	echo "removed; the kernel reported no pending DMA"
}

# rescan_function: the function comes back, the driver binds it, the disk returns.
rescan_function() {
	echo 1 >/sys/bus/pci/rescan || return 1
	wait_disks "$DISK_WAIT" "$mod" || { echo "the disk did not come back"; return 1; }
	the_disk
	echo "disk back as $sd"
}

the_disk() {
	read -r h kind pci id lun size bs </tmp/disks
	sd=$(find_disk "$pci" "$id" "$lun")
	sg=$(sg_of "$sd")
	state=$(host_state "$mod" "$pci")
	echo 5 >"/sys/block/$sd/device/timeout"
}

verified() {
	fio $FIO_QUICK --name=verify --filename="/dev/$sd" --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randwrite --bsrange=4k-128k --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--size=16M --output=/tmp/verify.out || { cat /tmp/verify.out; return 1; }
	grep -E "err=" /tmp/verify.out | head -n 1
}

plan_main() {
	mod=$RSCSI_MODULES
	check "$mod: load $RSCSI_MODPARAMS" modprobe "$mod" $RSCSI_MODPARAMS
	rscsi_disks "$mod" | head -n 1 >/tmp/disks
	check "$mod: the disk appears" wait_disks "$DISK_WAIT" "$mod"
	the_disk
	if [ "${RSCSI_BUSMASTER_DEAD:-0}" = 1 ]; then
		check "$mod: bus mastering off for good: the host reset fails, the controller is given up" dead
		check "$mod: I/O to the dead controller fails at once" fails_fast
		check "$mod: removing the dead function leaves no DMA mapping" remove_function
		check "$mod: after a rescan the disk is back" rescan_function
	else
		for _t in "bus mastering off for good" "I/O to the dead controller" \
			"removing the dead function" "rescan after the dead controller"; do
			skip "$mod: $_t" "megaraid_sas does not reset an idle controller"
		done
	fi
	check "$mod: bus mastering toggled under load: every command ends" toggled
	check "$mod: the error handler finishes" eh_idle
	check "$mod: removing the function leaves no DMA mapping" remove_function
	check "$mod: after a rescan the disk is back" rescan_function
	check "$mod: verified I/O on the rescanned controller" verified
	[ -f "$state" ] && sed 's/^/# /' "$state"
	check "$mod: unload" rmmod "$mod"
}
