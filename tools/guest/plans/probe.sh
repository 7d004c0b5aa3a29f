# SPDX-License-Identifier: GPL-2.0
#
# Plan "probe": a driver binds to each controller, reports the limits the device was started
# with, unbinds and rebinds cleanly, and unloads.
#
# Settings (run.conf): RSCSI_DRIVER (module and PCI driver name), RSCSI_HBAS lines
#   <hba-index> <model> <pci-address> <expected max_cmds> <expected max_sge>
# and RSCSI_BAD_PARAMS: module parameters (space-separated) each of which the driver must refuse
# with a message naming it, binding to nothing.
# The driver's debugfs file is /sys/kernel/debug/<driver>-host<N>/state, with "key: value"
# lines; N is the SCSI host number of the controller (/sys/bus/pci/devices/<pci>/host<N>).

hbas() { printf '%s\n' "$RSCSI_HBAS" | sed '/^[[:space:]]*$/d'; }
nhbas=$(hbas | wc -l)
bad_params=${RSCSI_BAD_PARAMS:-}
plan_tests=$((2 + nhbas * 6 + $(echo $bad_params | wc -w)))

# refused PARAM: loading with PARAM binds no controller and logs why; unloads again.
refused() {
	_n=$(dmesg | wc -l)
	modprobe "$RSCSI_DRIVER" "$1" || return 1
	_bound=$(ls "/sys/bus/pci/drivers/$RSCSI_DRIVER" | grep -c '^0000:')
	_msg=$(dmesg | tail -n +$((_n + 1)) | grep "${1%%=*}=.*out of range" | head -n 1)
	rmmod "$RSCSI_DRIVER"
	echo "bound: $_bound; message: $_msg"
	[ "$_bound" = 0 ] && [ -n "$_msg" ]
}

# queues_split PCI CMDS: one hardware queue per CPU, the firmware's commands (less one, and
# less one reserved command per queue) split.
queues_split() {
	_cpus=$(grep -c '^processor' /proc/cpuinfo)
	state_is "$1" hw_queues "$_cpus" && state_is "$1" reserved_cmds 1 &&
		state_is "$1" can_queue $((($2 - 1 - _cpus) / _cpus))
}

# state_is PCI KEY VALUE: the controller's debugfs state says KEY: VALUE.
state_is() {
	_f=$(host_state "$RSCSI_DRIVER" "$1")
	_v=$(sed -n "s/^$2: //p" "$_f" 2>&1)
	echo "$_f $2: $_v (expected $3)"
	[ "$_v" = "$3" ]
}

plan_main() {
	drv=$RSCSI_DRIVER
	for p in $bad_params; do
		check "$drv: $p refused" refused "$p"
	done
	check "$drv: load" modprobe "$drv"
	hbas >/tmp/hbas
	while read -r h model pci cmds sge; do
		check "$drv: hba$h $model bound" test -e "/sys/bus/pci/drivers/$drv/$pci"
		check "$drv: hba$h firmware OPERATIONAL" state_is "$pci" fw_state OPERATIONAL
		check "$drv: hba$h max_cmds $cmds" state_is "$pci" max_cmds "$cmds"
		check "$drv: hba$h max_sge $sge" state_is "$pci" max_sge "$sge"
		check "$drv: hba$h one queue per CPU" queues_split "$pci" "$cmds"
		old=$(host_state "$drv" "$pci")
		check "$drv: hba$h unbind and rebind" sh -c "
			echo $pci >/sys/bus/pci/drivers/$drv/unbind &&
			! test -e $old && ! test -e /sys/bus/pci/drivers/$drv/$pci &&
			echo $pci >/sys/bus/pci/drivers/$drv/bind &&
			test -e /sys/bus/pci/drivers/$drv/$pci &&
			grep max_cmds \$(. /rscsi/lib.sh; host_state $drv $pci)"
	done </tmp/hbas
	dmesg | grep "$drv" | sed 's/^/# /'
	check "$drv: unload" rmmod "$drv"
}
