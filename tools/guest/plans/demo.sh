# SPDX-License-Identifier: GPL-2.0
#
# Plan "demo": the main job's VM. Loads the drivers in RSCSI_MODULES and shows what they found:
# controllers, their limits (debugfs), SCSI devices and disks. Then unloads them.
# RSCSI_DRIVER_OVERRIDE (PCI=DRIVER ...) binds each listed function to one driver only.

plan_tests=$(($(echo $RSCSI_MODULES | wc -w) * 2))

show() {
	echo "== PCI storage controllers"
	for d in /sys/bus/pci/devices/*; do
		cls=$(cat "$d/class")
		case "$cls" in 0x01*) ;; *) continue ;; esac
		drv=$(basename "$(readlink -f "$d/driver" 2>/dev/null)" 2>/dev/null)
		echo "${d##*/} $(cat "$d/vendor"):$(cat "$d/device") class $cls driver ${drv:-none}"
	done
	for f in /sys/kernel/debug/r*-host*/state; do
		[ -f "$f" ] || continue
		echo "== $f"
		sed 's/^/  /' "$f"
	done
	echo "== SCSI devices (H:C:T:L type vendor model)"
	for s in /sys/class/scsi_device/*; do
		[ -e "$s" ] || continue
		d=$s/device
		echo "${s##*/} $(cat "$d/type") $(cat "$d/vendor") $(cat "$d/model")"
	done
	echo "== disks"
	for b in /sys/block/sd*; do
		[ -e "$b" ] || continue
		echo "${b##*/} $(($(cat "$b/size") * 512)) bytes, block $(cat "$b/queue/logical_block_size"), at $(readlink -f "$b/device" | sed 's|/sys/devices/||')"
	done
}

plan_main() {
	# RSCSI_DRIVER_OVERRIDE gives each virtio-scsi function its driver, C or Rust.
	apply_overrides || diag "a driver_override could not be written"
	for mod in $RSCSI_MODULES; do
		check "load $mod" sh -c "for m in \$(echo $mod | tr + ' '); do modprobe \$m || exit 1; done"
	done
	# Scanning is asynchronous: wait until every disk the host gave is there (a bound, not a
	# wait: they come up in seconds).
	wait_disks "$DISK_WAIT" || diag "not every disk came up within $DISK_WAIT s"
	show | sed 's/^/# /'
	for mod in $RSCSI_MODULES; do
		check "unload $mod" sh -c "for m in \$(echo $mod | tr + '\n' | sed '1!G;h;\$!d'); do rmmod \$m || exit 1; done"
	done
}
