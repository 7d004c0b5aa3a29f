# SPDX-License-Identifier: GPL-2.0
#
# Plan "trace": kernel::scsi's trace events (include/trace/events/rscsi.h) through tracefs.
#
# For each module of RSCSI_MODULES (a Rust driver), on the first disk of its first controller:
# the events of the system "rscsi" are enabled, a short batch of I/O runs (fio, libaio, 1024
# reads of 4 KiB at iodepth 32, submitted 16 at a time: one io_submit() of 16 is one plug, so
# blk-mq hands the driver 16 commands of which only the last is "last"), then a device reset
# (sg_reset -d), and the events are switched off and read back. For the disk's host:
#   - every command completes once: per hardware queue and tag, submissions and completions
#     alternate, beginning with a submission and ending with a completion, and there is at
#     least one of each per I/O of the batch;
#   - doorbells: no more commands told of than submitted; on a driver whose device takes
#     batches (RSCSI_TRACE_BATCH=1: virtio-scsi), a doorbell that told of more than one
#     command, and a submission that was not the last of its batch; on one without (MFI:
#     every frame is a write of the inbound queue port), one doorbell per submission;
#   - interrupts and polls ("rscsi_reap") account for every completion, no more, no fewer;
#   - the device reset shows as an "rscsi_eh" event of step device_reset, answered SUCCESS.
#
# Settings (run.conf): RSCSI_MODULES, RSCSI_TRACE_BATCH (modules whose devices take batches),
# RSCSI_DISKS.

plan_tests=$(($(echo $RSCSI_MODULES | wc -w) * 8))

TRACING=/sys/kernel/tracing
BATCH_IOS=1024

# trace_setup: tracefs mounted, the rscsi events off and the buffer empty, large enough for
# the batch (four events of some 60 bytes per I/O, plus the per-CPU split).
trace_setup() {
	[ -e "$TRACING/trace" ] || mount -t tracefs nodev "$TRACING" || return 1
	[ -d "$TRACING/events/rscsi" ] || { echo "no rscsi events in this kernel"; return 1; }
	echo 0 >"$TRACING/events/rscsi/enable"
	echo 4096 >"$TRACING/buffer_size_kb"
	: >"$TRACING/trace"
}

# traced_batch SD SG: the batch and the reset with the events on; the events in /tmp/trace.
traced_batch() {
	echo 1 >"$TRACING/events/rscsi/enable" || return 1
	fio $FIO_QUICK --name=batch --filename="/dev/$1" --direct=1 --ioengine=libaio --rw=randread \
		--bs=4k --iodepth=32 --iodepth_batch_submit=16 --iodepth_batch_complete_min=1 \
		--number_ios=$BATCH_IOS --size=16M --output=/tmp/batch.out
	_rc=$?
	grep -E "IOPS=|err=" /tmp/batch.out | head -n 2
	sg_reset -d "/dev/$2" || _rc=1
	echo 0 >"$TRACING/events/rscsi/enable"
	cat "$TRACING/trace" >/tmp/trace
	: >"$TRACING/trace"
	# An overrun buffer would lose events, and the counts below would be wrong.
	awk '/^# entries-in-buffer\/entries-written:/ { split($3, n, "/"); ok = (n[1] == n[2]) }
		END { exit !ok }' /tmp/trace ||
		{ grep "entries-in-buffer" /tmp/trace; echo "the trace buffer overran"; _rc=1; }
	grep -c "rscsi_" /tmp/trace | sed 's/^/events: /'
	return $_rc
}

# events NAME: the events NAME of host $hno, as "field=value" words after the event name.
events() { sed -n "s/.* $1: host$hno //p" /tmp/trace; }

# one_completion_each: per hwq and tag, submit and complete alternate, first a submission,
# last a completion.
one_completion_each() {
	sed -n -E "s/.* rscsi_(submit|complete): host$hno hwq=([0-9]+) tag=([0-9]+) .*/\1 \2 \3/p" \
		/tmp/trace | awk -v min=$BATCH_IOS '
		{ k = $2 ":" $3
		  if ($1 == "submit") { if (open[k]) { bad++; print "submitted twice: hwq:tag " k }
		                        open[k] = 1; s++ }
		  else { if (!open[k]) { bad++; print "completed without a submission: hwq:tag " k }
		         open[k] = 0; c++ } }
		END { for (k in open) if (open[k]) { bad++; print "never completed: hwq:tag " k }
		      printf "submissions %d, completions %d\n", s, c
		      exit (bad > 0 || s < min || c != s) }'
}

# doorbells_count BATCH: the doorbells against the submissions (see the header).
doorbells_count() {
	_subs=$(events rscsi_submit | wc -l)
	_notlast=$(events rscsi_submit | grep -c "last=0")
	events rscsi_doorbell | awk -v subs="$_subs" -v notlast="$_notlast" -v batch="$1" '
		{ sub(/.*commands=/, ""); n++; told += $1; if ($1 > most) most = $1 }
		END { printf "doorbells %d telling of %d commands (at most %d at once); %d submissions, %d not last of their batch\n",
		             n, told, most, subs, notlast
		      if (n == 0 || told > subs) exit 1
		      if (batch) exit !(most > 1 && notlast > 0)
		      exit !(n == subs && most == 1) }'
}

# reaps_count: the completions that interrupts and polls reported are the command completions
# (the reset's task management function too, on virtio-scsi's control queue).
reaps_count() {
	_done=$(events rscsi_complete | wc -l)
	events rscsi_reap | awk -v done="$_done" '
		{ for (i = 1; i <= NF; i++) if ($i ~ /^completions=/) { sub(/completions=/, "", $i); n += $i }
		  if ($NF == "poll") polls++; else irqs++ }
		END { printf "%d interrupts and %d polls reaped %d; %d commands completed\n", irqs, polls, n, done
		      exit !(n == done && done > 0) }'
}

# reset_traced: the device reset's event, answered SUCCESS (0x2002).
reset_traced() {
	events rscsi_eh | grep "device_reset" | tee /tmp/eh
	grep -q "result=0x2002" /tmp/eh
}

plan_main() {
	for mod in $RSCSI_MODULES; do
		batch=0
		case " ${RSCSI_TRACE_BATCH:-} " in *" $mod "*) batch=1 ;; esac
		check "$mod: load" modprobe "$mod"
		first_disk "$mod" "$DISK_WAIT"
		hno=$(ls -d /sys/block/"$sd"/device/scsi_device/* 2>/dev/null | sed 's|.*/||; s|:.*||')
		check "$mod: tracefs has the rscsi events" trace_setup
		check "$mod: a traced batch on $sd (host$hno) and a device reset" traced_batch "$sd" "$sg"
		check "$mod: every submission completed once" one_completion_each
		if [ $batch = 1 ]; then
			check "$mod: doorbells tell of batches of commands" doorbells_count 1
		else
			check "$mod: one doorbell per command" doorbells_count 0
		fi
		check "$mod: interrupts and polls reaped every completion" reaps_count
		check "$mod: the device reset is traced" reset_traced
		check "$mod: unload" rmmod "$mod"
	done
}
