# SPDX-License-Identifier: GPL-2.0
#
# Plan "profile": one fio job on the first disk of RSCSI_PROFILE_MODULE (a module, or a group
# "a+b" loaded in order; the parameters in RSCSI_PROFILE_PARAMS go to the last), for an instruction
# profile taken by the host (tools/profile/insn-profile). Prints the module symbols
# (/proc/kallsyms) and the job's I/O count between PROFILE markers so that the host can map
# guest addresses to functions and count per I/O.

plan_tests=2

# profile_load GROUP PARAM...: loads the modules of GROUP in order, the parameters to the last.
profile_load() {
	_group=$1
	shift
	for _m in $(echo "$_group" | tr + ' '); do
		if [ "$_m" = "${_group##*+}" ]; then
			modprobe "$_m" "$@" || return 1
		else
			modprobe "$_m" || return 1
		fi
	done
}

plan_main() {
	mod=${RSCSI_PROFILE_MODULE:-rmegasas}
	# Module parameters, comma-separated (queues=1,ldio=0).
	params=$(echo "${RSCSI_PROFILE_PARAMS:-}" | tr , ' ')
	job=${RSCSI_PROFILE_JOB:---rw=randread --bs=4k --iodepth=1}
	# shellcheck disable=SC2086 # the parameters are a list
	check "load $mod $params" profile_load "$mod" $params
	group_disk "$mod"
	# The I/O scheduler, when asked for (bench --all profiles every path with the one its
	# timed jobs used); otherwise the block layer's default for the host.
	if [ -n "${RSCSI_PROFILE_SCHED:-}" ]; then
		echo "$RSCSI_PROFILE_SCHED" >"/sys/block/$sd/queue/scheduler"
	fi
	echo "PROFILE-SCHED $(cat "/sys/block/$sd/queue/scheduler")"
	echo "PROFILE-KALLSYMS-BEGIN"
	grep '\[' /proc/kallsyms
	echo "PROFILE-KALLSYMS-END"
	# The device's interrupts (every vector of its PCI function) around the job, for
	# interrupts per I/O; the counts include the two sync calls, which write nothing here.
	irqs() { grep "$pci" /proc/interrupts | awk '{for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i} END {print n + 0}'; }
	irq_before=$(irqs)
	# The sync system calls mark the window the host counts instructions in.
	sync
	# shellcheck disable=SC2086 # the job is a list of options
	fio --name=profile --filename="/dev/$sd" --direct=1 --ioengine=libaio --time_based \
		--runtime="${RSCSI_PROFILE_SECONDS:-10}" $job --output-format=json \
		>/tmp/profile.out 2>&1
	rc=$?
	sync
	echo "PROFILE-IRQS $irq_before $(irqs)"
	if [ $rc = 0 ]; then
		echo "PROFILE-FIO-BEGIN"
		cat /tmp/profile.out
		echo "PROFILE-FIO-END"
		ok "fio $job on $sd"
	else
		sed 's/^/# /' /tmp/profile.out
		not_ok "fio $job on $sd"
	fi
}
