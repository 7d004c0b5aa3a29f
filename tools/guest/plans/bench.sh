# SPDX-License-Identifier: GPL-2.0
#
# Plan "bench": the same fio jobs on the first disk through each driver in RSCSI_MODULES,
# alternating drivers, RSCSI_BENCH_ROUNDS rounds (default 3) of RSCSI_BENCH_SECONDS per job
# (default 10). For every job it prints fio's JSON, the system-wide CPU time (/proc/stat) and
# the interrupts of the disk's PCI function (/proc/interrupts) and, for a Rust driver, the
# commands it submitted and the doorbells it rang (its debugfs counters) before and after,
# between BENCH markers; the host (tools/harness bench) computes IOPS, latency percentiles, CPU
# time per I/O, I/Os per interrupt and commands per doorbell, and the ratios.
#
# With RSCSI_BENCH_PIN=1 (the default) fio runs on CPU 0 and the HBA's interrupt is steered to
# CPU 1 for both drivers: left to the scheduler, fio sometimes shares the interrupt's CPU and
# sometimes not, which moves a 10-second figure by 20% between identical runs.
#
# RSCSI_BENCH_SCHED (empty: each driver's default) sets the same I/O scheduler for both
# drivers' disks, for a like-for-like comparison: the block layer picks mq-deadline for a
# single-queue host and none for a multiqueue one.
#
# RSCSI_BENCH_JOBS names the jobs to run (default: the first four; randread-4k-qd1-poll polls,
# and needs drivers with poll queues). A driver in RSCSI_MODULES may
# carry module parameters, for the last module of its group: "rmegasas:queues=1,ldio=0",
# "virtio_pci+virtio_scsi:virtscsi_poll_queues=1"; the results keep that name. A software
# host (scsi_debug, rscsi_debug) needs no HBA: its disk is found by its model.
#
# The drivers alternate job by job, each loaded for its job and unloaded after it, so that the
# two runs of a job are seconds apart rather than a whole round; odd rounds run the first
# driver first, even rounds the second, so that a steady drift of the host favours neither.

rounds=${RSCSI_BENCH_ROUNDS:-3}
secs=${RSCSI_BENCH_SECONDS:-10}
all_jobs="randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd32 read-128k-seq randread-4k-qd1-poll"
jobs=${RSCSI_BENCH_JOBS:-randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd32 read-128k-seq}
njobs=$(echo $jobs | wc -w)
plan_tests=$((rounds * $(echo $RSCSI_MODULES | wc -w) * 3 * njobs))

cpu_line() { head -n 1 /proc/stat; }

# irq_moved BEFORE: every interrupt line that fired more than 100 times since /proc/interrupts
# was saved to BEFORE, with how many times (where the job's interrupts went: its device's
# vectors, the timer, IPIs, and anything that should not be there).
irq_moved() {
	awk 'NR == FNR { if ($1 ~ /:$/) { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; was[$1] = s }; next }
		$1 ~ /:$/ { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
		  if (s - was[$1] > 100) { name = ""; for (j = i; j <= NF; j++) name = name " " $j
		                           printf "# irq %s %d%s\n", $1, s - was[$1], name } }' "$1" /proc/interrupts
}

# irq_total PCI: the interrupts the function PCI raised so far, on every CPU (its MSI or MSI-X
# vectors, else its INTx line); 0 for no function (null_blk, a software host).
irq_total() {
	_irqs=$(ls "/sys/bus/pci/devices/$1/msi_irqs" 2>/dev/null)
	[ -n "$_irqs" ] || _irqs=$(cat "/sys/bus/pci/devices/$1/irq" 2>/dev/null)
	awk -v list=" $(echo $_irqs) " '
		{ n = $1; sub(/:$/, "", n)
		  if (index(list, " " n " ")) for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i }
		END { print s + 0 }' /proc/interrupts
}

# doorbells STATE: the commands a Rust driver submitted and the doorbells it rang so far, from
# its debugfs state file STATE: rvirtio_scsi counts both per queue ("queueN: ... submitted S
# ... kicks K ..."); rmegasas posts every frame with a write of its own to the inbound queue
# port (MFI has no batched doorbell), so its doorbells are its submissions ("submitted: S").
# Prints nothing without the file: the C drivers count neither.
doorbells() {
	[ -r "$1" ] || return 0
	awk '/^queue[0-9]+:/ { q = 1; for (i = 2; i < NF; i++) { if ($i == "submitted") c += $(i + 1)
	                                                          if ($i == "kicks") d += $(i + 1) } }
	     /^submitted: / { s = $2 }
	     END { if (q) print c + 0, d + 0; else if (s != "") print s, s }' "$1"
}

# bench_job DRIVER ROUND JOB fio-options...: runs one job and prints its results between
# markers on the console (not through `check`, which keeps only the end of the output).
bench_job() {
	_bd=$1 _br=$2 _bj=$3
	shift 3
	echo "BENCH-BEGIN $_bd $_br $_bj"
	echo "BENCH-CPU-BEFORE $(cpu_line)"
	echo "BENCH-IRQS-BEFORE $(irq_total "$pci")"
	echo "BENCH-DOORBELLS-BEFORE $(doorbells "$state")"
	cat /proc/interrupts >/tmp/bench.irq
	fio --name="$_bj" --filename="/dev/$sd" --direct=1 --time_based --runtime="$secs" $pin \
		--ramp_time=2 --output-format=json "$@" >/tmp/bench.json 2>/tmp/bench.err
	_brc=$?
	echo "BENCH-CPU-AFTER $(cpu_line)"
	echo "BENCH-IRQS-AFTER $(irq_total "$pci")"
	echo "BENCH-DOORBELLS-AFTER $(doorbells "$state")"
	cat /tmp/bench.json
	echo "BENCH-END $_bd $_br $_bj rc=$_brc"
	irq_moved /tmp/bench.irq
	if [ $_brc = 0 ]; then
		ok "round $_br $_bd: $_bj"
	else
		sed 's/^/# /' /tmp/bench.err
		not_ok "round $_br $_bd: $_bj"
	fi
}

# job_options JOB: the fio options of a job by name.
job_options() {
	case $1 in
	randread-4k-qd1) echo --rw=randread --bs=4k --ioengine=libaio --iodepth=1 ;;
	randread-4k-qd32) echo --rw=randread --bs=4k --ioengine=libaio --iodepth=32 ;;
	randwrite-4k-qd32) echo --rw=randwrite --bs=4k --ioengine=libaio --iodepth=32 ;;
	read-128k-seq) echo --rw=read --bs=128k --ioengine=libaio --iodepth=8 ;;
	# Polled: the drivers must have been given poll queues (their module parameters).
	randread-4k-qd1-poll) echo --rw=randread --bs=4k --ioengine=io_uring --hipri=1 --iodepth=1 ;;
	# The queue-depth sweep: randread-4k-qd1, -qd2, ... -qd128.
	randread-4k-qd[0-9]*)
		_qd=${1#randread-4k-qd}
		case $_qd in *[!0-9]*) return 1 ;; esac
		echo --rw=randread --bs=4k --ioengine=libaio --iodepth="$_qd"
		;;
	*) return 1 ;;
	esac
}

# bench_driver SPEC ROUND JOB: loads SPEC's modules, runs JOB on its first disk, unloads them.
bench_driver() {
	_spec=$1 _r=$2 _job=$3
	mod=${_spec%%:*}
	params=
	[ "$mod" = "$_spec" ] || params=$(echo "${_spec#*:}" | tr , ' ')
	# The parameters are the group's last module's (virtio_pci+virtio_scsi:virtscsi_poll_queues=1).
	_last=${mod##*+}
	check "round $_r $_spec $_job: load" sh -c "for m in \$(echo $mod | tr + ' '); do if [ \$m = $_last ]; then modprobe \$m $params; else modprobe \$m; fi || exit 1; done"
	group_disk "$mod"
	if [ -z "$sd" ]; then
		not_ok "round $_r $_spec $_job: no disk"
		unload_group "$mod"
		return
	fi
	# A Rust driver's debugfs state file, for its counters (none for the other paths).
	state=$(host_state "${mod##*+}" "$pci")
	if [ -n "${RSCSI_BENCH_SCHED:-}" ]; then
		echo "$RSCSI_BENCH_SCHED" >"/sys/block/$sd/queue/scheduler"
	fi
	# The queue's flags that change the cost of every I/O besides the driver: a rotational
	# disk adds each completion to the entropy pool (add_random).
	echo "BENCH-SCHED $_spec $(cat "/sys/block/$sd/queue/scheduler"); rotational" \
		"$(cat "/sys/block/$sd/queue/rotational") add_random $(cat "/sys/block/$sd/queue/add_random")"
	# Let what a probe leaves running (the partition scan, sd's async probe) finish before the
	# CPU time is counted.
	sleep 2
	pin=
	if [ "${RSCSI_BENCH_PIN:-1}" = 1 ]; then
		pin=--cpus_allowed=0
		# Managed interrupts refuse a new affinity; both drivers' land on CPU 1 anyway
		# (printed below).
		for irq in $(grep "$pci\|$mod" /proc/interrupts | cut -d: -f1); do
			echo 1 >"/proc/irq/$irq/smp_affinity_list" 2>/dev/null
			echo "BENCH-IRQ $_spec $irq effective $(cat "/proc/irq/$irq/effective_affinity_list")"
		done
	fi
	# shellcheck disable=SC2046 # the options are words
	bench_job "$_spec" "$_r" "$_job" $(job_options "$_job")
	check "round $_r $_spec $_job: unload" sh -c "for m in \$(echo $mod | tr + '\n' | sed '1!G;h;\$!d'); do rmmod \$m || exit 1; done"
}

plan_main() {
	for job in $jobs; do
		if ! job_options "$job" >/dev/null; then
			not_ok "unknown benchmark job $job (known: $all_jobs)"
			return
		fi
	done
	reversed=$(echo $RSCSI_MODULES | tr ' ' '\n' | sed '1!G;h;$!d' | tr '\n' ' ')
	for r in $(seq 1 "$rounds"); do
		order=$RSCSI_MODULES
		[ $((r % 2)) = 1 ] || order=$reversed
		for job in $jobs; do
			for spec in $order; do
				bench_driver "$spec" "$r" "$job"
			done
		done
	done
}
