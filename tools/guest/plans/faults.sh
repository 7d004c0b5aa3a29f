# SPDX-License-Identifier: GPL-2.0
#
# Plan "faults": allocation failures swept through each driver's probe.
#
# For each module group of RSCSI_MODULES, in order, on the first controller the group drives:
# load the group, unbind the controller, then bind it again once for each N = 1, 2, ... with the
# Nth slab or page allocation of the binding task failing, until a bind in which no failure was
# injected. The binding task is the shell that writes the function's address to the driver's
# bind file: the driver core probes in that task (no NUMA node here, so no probe on another
# CPU), so every allocation of the probe counts, DMA-coherent memory included (it comes from
# the page allocator). The kernel's per-task /proc/self/fail-nth does the counting, of the
# allocations made with the module's code on the stack (within 32 frames: the fault
# attributes' require-start and require-end), and none made by the ACPI interpreter
# (reject-start and reject-end), so that neither the sysfs write nor ACPI's evaluation of the
# IRQ routing under pci_enable_device() spend the sweep's time (ACPI goes on without the
# allocation, so every such bind succeeded, and took 30 s with its scan and unbind); failslab
# and fail_page_alloc are told to fail sleeping and order-0 allocations too, and to print
# nothing. For C virtio_scsi the module is virtio_scsi: the virtio-pci transport's allocations count when virtio_scsi's
# probe makes them (its virtqueues), not when virtio_pci's own probe does.
#
# After each bind with a failure injected, one of:
#   - the bind failed: no driver holds the function, no SCSI host is left under it, no
#     debugfs directory of the module is left;
#   - the bind succeeded anyway (the failure hit something the kernel goes on without): the
#     controller is unbound again, which must succeed.
# The plan prints, per group, how many allocations the sweep failed, how many binds failed
# with the driver core's "probe ... failed" message and how many without it (before the probe
# ran, or a probe that answered -ENODEV, which the core does not report: megaraid_sas does),
# and how many were absorbed. Then the controller is bound without faults and scanned (the run
# boots with scsi_mod.scan=manual, so that the sweep covers the probe, not the midlayer's
# scan), its disk takes verified I/O, the group unloads, and a kmemleak scan covers every
# failed probe of the group.
#
# With RSCSI_FAULTS_BASELINE=1 (the C drivers), what the sweep or the scan finds is shown and
# the test skipped, not failed: the baseline says what the C drivers do, it is not ours to fix
# (the run allows their kernel reports as well).
#
# Settings (run.conf): RSCSI_MODULES (module groups, each with its controller in the run),
# RSCSI_FAULTS_MAX (the largest N; a sweep that has not ended by then fails),
# RSCSI_FAULTS_STEP (N goes up by this much: 1 fails every allocation in turn, more samples
# them, for a shorter run), RSCSI_FAULTS_BASELINE.

ngroups=$(echo $RSCSI_MODULES | wc -w)
plan_tests=$((1 + ngroups * 6))

FAULTS_MAX=${RSCSI_FAULTS_MAX:-3000}
FAULTS_STEP=${RSCSI_FAULTS_STEP:-1}
DBG=/sys/kernel/debug

# fault_setup: fail-nth counts only the allocations the fault attributes would consider.
fault_setup() {
	for _a in failslab fail_page_alloc; do
		[ -d "$DBG/$_a" ] || { echo "no $_a in this kernel"; return 1; }
		echo 0 >"$DBG/$_a/verbose"
		echo N >"$DBG/$_a/ignore-gfp-wait"
	done
	echo 0 >"$DBG/fail_page_alloc/min-order"
	echo N >"$DBG/fail_page_alloc/ignore-gfp-highmem"
	# ACPICA's code: from its first function to the first function after its last, among
	# the kernel's own (kallsyms lists them by address, up to _etext).
	_r=$(awk '$3 == "_etext" { exit }
		$2 == "t" || $2 == "T" {
			if ($3 ~ /^acpi_(ds|ex|ns|ps|ut|ev|rs|tb|hw)_/) { if (lo == "") lo = $1; hi = ""; b = 1; next }
			if (b && hi == "") hi = $1
		} END { print lo, hi }' /proc/kallsyms)
	set -- $_r
	[ -n "$2" ] || { echo "ACPICA's code not found in /proc/kallsyms"; return 1; }
	for _a in failslab fail_page_alloc; do
		echo "0x$1" >"$DBG/$_a/reject-start" || return 1
		echo "0x$2" >"$DBG/$_a/reject-end" || return 1
	done
	echo "allocations under ACPICA's code (0x$1 to 0x$2) never fail"
}

# driver_range MOD: limits both fault attributes to allocations with MOD's code on the stack:
# from its lowest function in /proc/kallsyms to 16 KiB past its highest (addresses compared as
# strings of 16 hex digits: awk's numbers would round them).
driver_range() {
	_r=$(awk -v m="[$1]" '$4 == m && ($2 == "t" || $2 == "T") {
		a = $1 ""; if (lo == "" || a < lo) lo = a; if (a > hi) hi = a
	} END { print lo, hi }' /proc/kallsyms)
	set -- "$1" $_r
	[ -n "$3" ] || { echo "no functions of $1 in /proc/kallsyms"; return 1; }
	for _a in failslab fail_page_alloc; do
		echo "0x$2" >"$DBG/$_a/require-start" || return 1
		printf '0x%x\n' $((0x$3 + 16384)) >"$DBG/$_a/require-end" || return 1
		echo 32 >"$DBG/$_a/stacktrace-depth" || return 1
	done
	echo "$1: allocations under 0x$2 to 0x$3 (+16 KiB) count"
}

# leftovers PCI MOD OTHERS: prints what a failed or undone bind left behind, if anything.
# OTHERS: the module's debugfs directories before the sweep, those of its other controllers
# (in a combined run, the module binds every controller of its kind in the VM).
leftovers() {
	[ -e "/sys/bus/pci/devices/$1/driver" ] &&
		echo "bound to $(basename "$(readlink "/sys/bus/pci/devices/$1/driver")")"
	ls -d "/sys/bus/pci/devices/$1"/host* "/sys/bus/pci/devices/$1"/virtio*/host* 2>/dev/null
	ls -d "$DBG/$2"-host* 2>/dev/null | grep -vxF "$3"
}

# bind_nth DRV PCI N: binds PCI to DRV (a driver's sysfs directory) with the Nth allocation
# failing; prints "STATUS LEFT": STATUS 0 if the bind succeeded, LEFT 0 if the failure was
# injected. Every file is opened before the count starts and the writes go through builtins
# (no fork, no open), so that only the bind's own allocations count; a count the bind did not
# use up is cleared before anything else allocates (the output to the pipe would).
bind_nth() {
	(
		exec 3>"$1/bind" 4>/proc/self/fail-nth 5</proc/self/fail-nth 6>/dev/null
		echo "$3" >&4
		echo "$2" >&3 2>&6
		_st=$?
		read -r _left <&5
		echo 0 >&4
		echo "$_st $_left"
	)
}

# sweep DRV PCI MOD: the sweep; prints its figures; fails at the first bind that leaves
# anything behind.
sweep() {
	_n=1 _failed=0 _probe=0 _before=0 _absorbed=0 _every="each"
	_others=$(ls -d "$DBG/$3"-host* 2>/dev/null)
	[ "$FAULTS_STEP" = 1 ] || _every="N = 1, $((1 + FAULTS_STEP)), $((1 + 2 * FAULTS_STEP)), ..."
	while [ "$_n" -le "$FAULTS_MAX" ]; do
		dmesg -c >/dev/null
		set -- "$1" "$2" "$3" $(bind_nth "$1" "$2" "$_n")
		if [ "$5" != 0 ]; then
			[ "$4" = 0 ] || { echo "N=$_n: no failure injected, yet the bind failed"; return 1; }
			echo "$3: the bind makes $((_n - $5)) allocations that count; $_failed of them" \
				"failed in turn ($_every): $_probe binds failed with the driver" \
				"core's message, $_before without it (failed before the probe ran, or a probe" \
				"that answered -ENODEV), $_absorbed absorbed"
			# Only allocations under the driver's code count, so every failed bind failed
			# in its probe, which must say so (a probe answering -ENODEV is not reported).
			[ "$_before" = 0 ] || [ "${RSCSI_FAULTS_BASELINE:-0}" = 1 ] ||
				{ echo "$_before failed binds left no error in the log"; return 1; }
			return 0
		fi
		_failed=$((_failed + 1))
		if [ "$4" = 0 ]; then
			_absorbed=$((_absorbed + 1))
			echo "N=$_n: the bind succeeded with the failure; unbinding"
			echo "$2" >"$(readlink -f "/sys/bus/pci/devices/$2/driver")/unbind" || return 1
		elif dmesg | grep -q "probe with driver .* failed with error"; then
			_probe=$((_probe + 1))
		else
			_before=$((_before + 1))
		fi
		_left=$(leftovers "$2" "$3" "$_others")
		if [ -n "$_left" ]; then
			echo "N=$_n left behind: $_left"
			dmesg | tail -n 20
			return 1
		fi
		_n=$((_n + FAULTS_STEP))
	done
	echo "$3: no bind without an injected failure in $FAULTS_MAX"
	return 1
}

# judged NAME COMMAND...: check, or for the baseline, the outcome shown and a failure skipped.
judged() {
	if [ "${RSCSI_FAULTS_BASELINE:-0}" = 1 ]; then
		_name=$1
		shift
		if "$@" >/tmp/judged.out 2>&1; then
			sed 's/^/# /' /tmp/judged.out | tail -n 40
			ok "$_name"
		else
			sed 's/^/# /' /tmp/judged.out | tail -n 60
			skip "$_name" "the C driver's baseline: shown, not judged"
		fi
	else
		check "$@"
	fi
}

# group_leaks: a kmemleak scan for what the group left, then cleared, so that the next group
# and the run's last scan start from nothing.
group_leaks() {
	kmemleak_check
	_rc=$?
	echo clear >/sys/kernel/debug/kmemleak
	return $_rc
}

# scan_hosts PCI: scans the SCSI hosts under PCI (the run boots with scsi_mod.scan=manual, so
# that a bind does not scan: see the run's description).
scan_hosts() {
	for _h in "/sys/bus/pci/devices/$1"/host* "/sys/bus/pci/devices/$1"/virtio*/host*; do
		[ -e "$_h" ] || continue
		echo "- - -" >"/sys/class/scsi_host/${_h##*/}/scan" || return 1
	done
}

plan_main() {
	check "fault injection set up" fault_setup
	for grp in $RSCSI_MODULES; do
		mod=${grp##*+}
		read -r h kind pci id lun size bs <<EOF
$(first_disks "$grp" | head -n 1)
EOF
		check "$grp: load" load_group "$grp"
		check "$grp: fault injection limited to $mod's code" driver_range "$mod"
		scan_hosts "$pci"
		wait_disks "$DISK_WAIT" "$grp" >/dev/null
		drv=$(readlink -f "/sys/bus/pci/devices/$pci/driver")
		if [ -z "$drv" ] || ! echo "$pci" >"$drv/unbind"; then
			not_ok "$grp: allocation failures swept through the probe of $pci"
		else
			judged "$grp: allocation failures swept through the probe of $pci" \
				sweep "$drv" "$pci" "$mod"
		fi
		[ -e "/sys/bus/pci/devices/$pci/driver" ] || echo "$pci" >"$drv/bind"
		scan_hosts "$pci"
		if wait_disks "$DISK_WAIT" "$grp"; then
			sd=$(find_disk "$pci" "$id" "$lun")
			check "$grp: verified I/O after the sweep on $sd" fio $FIO_QUICK --name=after \
				--filename="/dev/$sd" --direct=1 --ioengine=libaio --iodepth=16 \
				--rw=randwrite --bsrange=4k-128k --verify=crc32c --verify_fatal=1 \
				--do_verify=1 --size=8M
		else
			not_ok "$grp: verified I/O after the sweep: the disk did not come back"
		fi
		check "$grp: unload" unload_group "$grp"
		judged "$grp: kmemleak finds nothing after the sweep" group_leaks
	done
}
