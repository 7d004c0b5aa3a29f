# SPDX-License-Identifier: GPL-2.0
#
# Plan "probe": a driver binds to each controller, reports the limits the device was started
# with, unbinds and rebinds cleanly, and unloads.
#
# Settings (run.conf): RSCSI_DRIVER (module and PCI driver name), RSCSI_HBAS lines
#   <hba-index> <model> <pci-address> <expected max_cmds> <expected max_sge>
# The driver's debugfs directory is /sys/kernel/debug/<driver>-<pci-address>/.

hbas() { printf '%s\n' "$RSCSI_HBAS" | sed '/^[[:space:]]*$/d'; }
nhbas=$(hbas | wc -l)
plan_tests=$((2 + nhbas * 5))

# debugfs_is DIR FILE VALUE: the file holds the value.
debugfs_is() {
	_v=$(cat "$1/$2" 2>&1)
	echo "$1/$2: $_v (expected $3)"
	[ "$_v" = "$3" ]
}

plan_main() {
	drv=$RSCSI_DRIVER
	check "$drv: load" modprobe "$drv"
	hbas >/tmp/hbas
	while read -r h model pci cmds sge; do
		dir=/sys/kernel/debug/$drv-$pci
		check "$drv: hba$h $model bound" test -e "/sys/bus/pci/drivers/$drv/$pci"
		check "$drv: hba$h firmware READY" debugfs_is "$dir" fw_state '"READY"'
		check "$drv: hba$h max_cmds $cmds" debugfs_is "$dir" max_cmds "$cmds"
		check "$drv: hba$h max_sge $sge" debugfs_is "$dir" max_sge "$sge"
		check "$drv: hba$h unbind and rebind" sh -c "
			echo $pci >/sys/bus/pci/drivers/$drv/unbind &&
			! test -e $dir && ! test -e /sys/bus/pci/drivers/$drv/$pci &&
			echo $pci >/sys/bus/pci/drivers/$drv/bind &&
			test -e /sys/bus/pci/drivers/$drv/$pci && cat $dir/max_cmds"
	done </tmp/hbas
	dmesg | grep "$drv" | sed 's/^/# /'
	check "$drv: unload" rmmod "$drv"
}
