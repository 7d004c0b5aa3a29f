// SPDX-License-Identifier: GPL-2.0
/*
 * The trace events of kernel::scsi (include/trace/events/rscsi.h): defined here, with the
 * functions Rust calls to emit them (rust_do_trace_*, see rust/kernel/tracepoint.rs).
 *
 * Both are exported: kernel::scsi is built in, but its generic code (a command of a driver's
 * host type, say) is instantiated in the driver's module, which then emits the events itself.
 */
#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include <trace/events/rscsi.h>

/* Without tracepoints (the perf kernel, say) the Rust side calls nothing: nothing to export. */
#ifdef CONFIG_TRACEPOINTS
#define RSCSI_EXPORT_EVENT(name)			\
	EXPORT_TRACEPOINT_SYMBOL_GPL(name);		\
	EXPORT_SYMBOL_GPL(rust_do_trace_##name)

RSCSI_EXPORT_EVENT(rscsi_submit);
RSCSI_EXPORT_EVENT(rscsi_doorbell);
RSCSI_EXPORT_EVENT(rscsi_complete);
RSCSI_EXPORT_EVENT(rscsi_reap);
RSCSI_EXPORT_EVENT(rscsi_bounce);
RSCSI_EXPORT_EVENT(rscsi_eh);
#endif
