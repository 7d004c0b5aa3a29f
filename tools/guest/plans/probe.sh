# SPDX-License-Identifier: GPL-2.0
#
# Plan "probe": a driver binds to each controller, reports the limits the device was started
# with, unbinds and rebinds cleanly, and unloads.
#
# Settings (run.conf): RSCSI_DRIVER (module and PCI driver name), RSCSI_HBAS lines
#   <hba-index> <model> <pci-address> <expected max_cmds> <expected max_sge>
# The driver's debugfs file is /sys/kernel/debug/<driver>-host<N>/state, with "key: value"
# lines; N is the SCSI host number of the controller (/sys/bus/pci/devices/<pci>/host<N>).

hbas() { printf '%s\n' "$RSCSI_HBAS" | sed '/^[[:space:]]*$/d'; }
nhbas=$(hbas | wc -l)
plan_tests=$((2 + nhbas * 5))

# state_is PCI KEY VALUE: the controller's debugfs state says KEY: VALUE.
state_is() {
	_f=$(host_state "$RSCSI_DRIVER" "$1")
	_v=$(sed -n "s/^$2: //p" "$_f" 2>&1)
	echo "$_f $2: $_v (expected $3)"
	[ "$_v" = "$3" ]
}

plan_main() {
	drv=$RSCSI_DRIVER
	check "$drv: load" modprobe "$drv"
	hbas >/tmp/hbas
	while read -r h model pci cmds sge; do
		check "$drv: hba$h $model bound" test -e "/sys/bus/pci/drivers/$drv/$pci"
		check "$drv: hba$h firmware OPERATIONAL" state_is "$pci" fw_state OPERATIONAL
		check "$drv: hba$h max_cmds $cmds" state_is "$pci" max_cmds "$cmds"
		check "$drv: hba$h max_sge $sge" state_is "$pci" max_sge "$sge"
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
