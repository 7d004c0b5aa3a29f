/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Trace events of the Rust SCSI host abstractions (rust/kernel/scsi), for every driver on
 * them: what a command does between the midlayer and the device, and what the error handler
 * does. Emitted from Rust through `kernel::scsi::trace` (rust/kernel/scsi/trace.rs), defined
 * and exported in rust/kernel/scsi/rscsi_events.c.
 *
 * A command is named as blk-mq names it (hardware queue and tag); "ctx" is the context the
 * driver gave the device (tag in bits 15:0 over all the host's queues, sequence in 31:16).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM rscsi

#if !defined(_TRACE_RSCSI_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_RSCSI_H

#include <linux/tracepoint.h>

/* A command given to the device: its data mapped in "segments", "last" of its batch. */
TRACE_EVENT(rscsi_submit,
	TP_PROTO(unsigned int host_no, u16 hwq, u16 tag, u32 ctx, u16 segments, bool last),
	TP_ARGS(host_no, hwq, tag, ctx, segments, last),
	TP_STRUCT__entry(
		__field(unsigned int, host_no)
		__field(u16, hwq)
		__field(u16, tag)
		__field(u32, ctx)
		__field(u16, segments)
		__field(bool, last)
	),
	TP_fast_assign(
		__entry->host_no = host_no;
		__entry->hwq = hwq;
		__entry->tag = tag;
		__entry->ctx = ctx;
		__entry->segments = segments;
		__entry->last = last;
	),
	TP_printk("host%u hwq=%u tag=%u ctx=%#x segments=%u last=%u",
		  __entry->host_no, __entry->hwq, __entry->tag, __entry->ctx,
		  __entry->segments, __entry->last)
);

/*
 * The device told of "commands" new commands on its "queue" by one doorbell (or virtqueue
 * notification). "queue" is the device's, as the driver numbers it (a virtqueue's index; 0 for
 * a device with one queue), not blk-mq's.
 */
TRACE_EVENT(rscsi_doorbell,
	TP_PROTO(unsigned int host_no, u16 queue, u16 commands),
	TP_ARGS(host_no, queue, commands),
	TP_STRUCT__entry(
		__field(unsigned int, host_no)
		__field(u16, queue)
		__field(u16, commands)
	),
	TP_fast_assign(
		__entry->host_no = host_no;
		__entry->queue = queue;
		__entry->commands = commands;
	),
	TP_printk("host%u queue=%u commands=%u",
		  __entry->host_no, __entry->queue, __entry->commands)
);

/* A command given back to the midlayer (scsi_done()), with its result and residual. */
TRACE_EVENT(rscsi_complete,
	TP_PROTO(unsigned int host_no, u16 hwq, u16 tag, int result, u32 resid),
	TP_ARGS(host_no, hwq, tag, result, resid),
	TP_STRUCT__entry(
		__field(unsigned int, host_no)
		__field(u16, hwq)
		__field(u16, tag)
		__field(int, result)
		__field(u32, resid)
	),
	TP_fast_assign(
		__entry->host_no = host_no;
		__entry->hwq = hwq;
		__entry->tag = tag;
		__entry->result = result;
		__entry->resid = resid;
	),
	TP_printk("host%u hwq=%u tag=%u result=%#x resid=%u",
		  __entry->host_no, __entry->hwq, __entry->tag, __entry->result,
		  __entry->resid)
);

/*
 * An interrupt's drain of the device's "queue" (numbered as for rscsi_doorbell), or a poll of
 * blk-mq's hardware queue "queue" ("polled"), that completed "completions" commands.
 */
TRACE_EVENT(rscsi_reap,
	TP_PROTO(unsigned int host_no, u16 queue, u32 completions, bool polled),
	TP_ARGS(host_no, queue, completions, polled),
	TP_STRUCT__entry(
		__field(unsigned int, host_no)
		__field(u16, queue)
		__field(u32, completions)
		__field(bool, polled)
	),
	TP_fast_assign(
		__entry->host_no = host_no;
		__entry->queue = queue;
		__entry->completions = completions;
		__entry->polled = polled;
	),
	TP_printk("host%u queue=%u completions=%u %s",
		  __entry->host_no, __entry->queue, __entry->completions,
		  __entry->polled ? "poll" : "interrupt")
);

/* A command's data sent through the host's bounce buffer. */
TRACE_EVENT(rscsi_bounce,
	TP_PROTO(unsigned int host_no, u16 hwq, u16 tag, u32 bytes, bool to_device),
	TP_ARGS(host_no, hwq, tag, bytes, to_device),
	TP_STRUCT__entry(
		__field(unsigned int, host_no)
		__field(u16, hwq)
		__field(u16, tag)
		__field(u32, bytes)
		__field(bool, to_device)
	),
	TP_fast_assign(
		__entry->host_no = host_no;
		__entry->hwq = hwq;
		__entry->tag = tag;
		__entry->bytes = bytes;
		__entry->to_device = to_device;
	),
	TP_printk("host%u hwq=%u tag=%u bytes=%u %s",
		  __entry->host_no, __entry->hwq, __entry->tag, __entry->bytes,
		  __entry->to_device ? "write" : "read")
);

/* Error handling steps, as kernel::scsi::trace::EhStep numbers them. */
#define RSCSI_EH_STEPS					\
	{ 0, "timed_out" },				\
	{ 1, "abort" },					\
	{ 2, "device_reset" },				\
	{ 3, "target_reset" },				\
	{ 4, "bus_reset" },				\
	{ 5, "host_reset" }

/*
 * A step of error handling ended, for the device at "channel:id:lun" ("tag" the command's,
 * -1 for a reset): "result" is what the driver answered (SUCCESS 0x2002, FAILED 0x2003; for
 * timed_out, the scsi_timeout_action).
 */
TRACE_EVENT(rscsi_eh,
	TP_PROTO(unsigned int host_no, u8 step, u32 channel, u32 id, u64 lun, int tag, int result),
	TP_ARGS(host_no, step, channel, id, lun, tag, result),
	TP_STRUCT__entry(
		__field(unsigned int, host_no)
		__field(u8, step)
		__field(u32, channel)
		__field(u32, id)
		__field(u64, lun)
		__field(int, tag)
		__field(int, result)
	),
	TP_fast_assign(
		__entry->host_no = host_no;
		__entry->step = step;
		__entry->channel = channel;
		__entry->id = id;
		__entry->lun = lun;
		__entry->tag = tag;
		__entry->result = result;
	),
	TP_printk("host%u %s %u:%u:%llu tag=%d result=%#x",
		  __entry->host_no, __print_symbolic(__entry->step, RSCSI_EH_STEPS),
		  __entry->channel, __entry->id, __entry->lun, __entry->tag,
		  __entry->result)
);

#endif /* _TRACE_RSCSI_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
