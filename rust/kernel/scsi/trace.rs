// SPDX-License-Identifier: GPL-2.0

//! Trace events of the SCSI host abstractions, for every driver on them.
//!
//! C header: [`include/trace/events/rscsi.h`](srctree/include/trace/events/rscsi.h) (the
//! events, in the tracefs system `rscsi`); defined in `rust/kernel/scsi/rscsi_events.c`.
//!
//! The abstractions emit most of them themselves: `rscsi_submit` when a command goes to the
//! device ([`Command::into_hardware`](crate::scsi::Command::into_hardware)), `rscsi_complete`
//! when one goes back to the midlayer, `rscsi_bounce` when its data takes the bounce buffer,
//! `rscsi_reap` for every poll (`mq_poll`), and `rscsi_eh` for every step of error handling. Two
//! happen in the driver's own code, which calls them here:
//!
//! - [`doorbell`]: after the driver told the device of new commands (an MFI inbound queue
//!   port written, a virtqueue notified), with how many it told of at once.
//! - [`interrupt`]: at the end of an interrupt's drain of a queue, with how many commands it
//!   completed.
//!
//! Disabled, an event costs a test of its static key (a patched jump with `CONFIG_JUMP_LABEL`,
//! a load without); with `CONFIG_TRACEPOINTS` off, nothing.
//!
//! # Examples
//!
//! ```no_run
//! use kernel::scsi::{trace, Host, HostOps};
//!
//! fn rang<T: HostOps>(host: &Host<T>, queue: u16, batch: u16) {
//!     // ... the doorbell register was written ...
//!     trace::doorbell(host, queue, batch);
//! }
//! ```

use crate::{
    scsi::{Host, HostOps},
    tracepoint::declare_trace,
};

// Each declaration carries `allow(clippy::macro_metavars_in_unsafe)`: `declare_trace!` passes
// its arguments to the C function inside its own unsafe block, which that lint flags at every
// use (rust/kernel/tracepoint.rs; the arguments here are plain values).
declare_trace! {
    /// # Safety
    ///
    /// Always safe: the arguments are values, copied into the trace buffer.
    #[allow(clippy::macro_metavars_in_unsafe)]
    unsafe fn rscsi_submit(host_no: u32, hwq: u16, tag: u16, ctx: u32, segments: u16, last: bool);
    /// # Safety
    ///
    /// As for `rscsi_submit`.
    #[allow(clippy::macro_metavars_in_unsafe)]
    unsafe fn rscsi_doorbell(host_no: u32, queue: u16, commands: u16);
    /// # Safety
    ///
    /// As for `rscsi_submit`.
    #[allow(clippy::macro_metavars_in_unsafe)]
    unsafe fn rscsi_complete(host_no: u32, hwq: u16, tag: u16, result: i32, resid: u32);
    /// # Safety
    ///
    /// As for `rscsi_submit`.
    #[allow(clippy::macro_metavars_in_unsafe)]
    unsafe fn rscsi_reap(host_no: u32, queue: u16, completions: u32, polled: bool);
    /// # Safety
    ///
    /// As for `rscsi_submit`.
    #[allow(clippy::macro_metavars_in_unsafe)]
    unsafe fn rscsi_bounce(host_no: u32, hwq: u16, tag: u16, bytes: u32, to_device: bool);
    /// # Safety
    ///
    /// As for `rscsi_submit`.
    #[allow(clippy::macro_metavars_in_unsafe)]
    unsafe fn rscsi_eh(
        host_no: u32,
        step: u8,
        channel: u32,
        id: u32,
        lun: u64,
        tag: i32,
        result: i32,
    );
}

/// A step of error handling, as `rscsi_eh` names it (`RSCSI_EH_STEPS` in the C header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum EhStep {
    /// `eh_timed_out` (result: the `scsi_timeout_action`).
    TimedOut = 0,
    /// `eh_abort_handler`.
    Abort = 1,
    /// `eh_device_reset_handler`.
    DeviceReset = 2,
    /// `eh_target_reset_handler`.
    TargetReset = 3,
    /// `eh_bus_reset_handler`.
    BusReset = 4,
    /// `eh_host_reset_handler`.
    HostReset = 5,
}

/// Whether the event `$name` is enabled (its tracepoint's static key), so that its arguments
/// are only gathered for an event that is recorded.
macro_rules! enabled {
    ($name:ident) => {{
        #[cfg(CONFIG_TRACEPOINTS)]
        // SAFETY: `__tracepoint_$name` is the tracepoint `rscsi_events.c` defines for the
        // event; querying its static key is always okay.
        let on = unsafe {
            crate::macros::paste! {
                crate::jump_label::static_branch_unlikely!(
                    crate::bindings::[< __tracepoint_ $name >],
                    crate::bindings::tracepoint,
                    key
                )
            }
        };
        #[cfg(not(CONFIG_TRACEPOINTS))]
        let on = false;
        on
    }};
}

/// The driver told the device of `commands` new commands on its `queue` at once (one doorbell
/// write or virtqueue notification). `queue` is the device's, as the driver numbers it (a
/// virtqueue's index; 0 for a device with one queue), not blk-mq's.
#[inline(always)]
pub fn doorbell<T: HostOps>(host: &Host<T>, queue: u16, commands: u16) {
    if enabled!(rscsi_doorbell) {
        // SAFETY: The event takes values; it may be emitted in any context.
        unsafe { rscsi_doorbell(host.host_no(), queue, commands) }
    }
}

/// An interrupt's drain of the device's `queue` (numbered as for [`doorbell`]) completed
/// `completions` commands.
#[inline(always)]
pub fn interrupt<T: HostOps>(host: &Host<T>, queue: u16, completions: u32) {
    if enabled!(rscsi_reap) {
        // SAFETY: As in `doorbell`.
        unsafe { rscsi_reap(host.host_no(), queue, completions, false) }
    }
}

/// A poll of blk-mq's hardware queue `queue` completed `completions` commands.
#[inline(always)]
pub(crate) fn poll<T: HostOps>(host: &Host<T>, queue: u16, completions: u32) {
    if enabled!(rscsi_reap) {
        // SAFETY: As in `doorbell`.
        unsafe { rscsi_reap(host.host_no(), queue, completions, true) }
    }
}

/// A command went to the device: `args` gives host number, hardware queue, tag, context,
/// segments and whether it is the last of its batch.
#[inline(always)]
pub(crate) fn submit(args: impl FnOnce() -> (u32, u16, u16, u32, u16, bool)) {
    if enabled!(rscsi_submit) {
        let (host_no, hwq, tag, ctx, segments, last) = args();
        // SAFETY: As in `doorbell`.
        unsafe { rscsi_submit(host_no, hwq, tag, ctx, segments, last) }
    }
}

/// A command went back to the midlayer: `args` gives host number, hardware queue, tag, result
/// and residual.
#[inline(always)]
pub(crate) fn complete(args: impl FnOnce() -> (u32, u16, u16, i32, u32)) {
    if enabled!(rscsi_complete) {
        let (host_no, hwq, tag, result, resid) = args();
        // SAFETY: As in `doorbell`.
        unsafe { rscsi_complete(host_no, hwq, tag, result, resid) }
    }
}

/// A command's data took the bounce buffer: `args` gives host number, hardware queue, tag,
/// bytes and whether it is a write.
#[inline(always)]
pub(crate) fn bounce(args: impl FnOnce() -> (u32, u16, u16, u32, bool)) {
    if enabled!(rscsi_bounce) {
        let (host_no, hwq, tag, bytes, to_device) = args();
        // SAFETY: As in `doorbell`.
        unsafe { rscsi_bounce(host_no, hwq, tag, bytes, to_device) }
    }
}

/// A step of error handling ended with `result`, for the device at `addr` (channel, id, LUN)
/// and the command of `tag` (-1 for none).
#[inline(always)]
pub(crate) fn eh(host_no: u32, step: EhStep, addr: (u32, u32, u64), tag: i32, result: i32) {
    if enabled!(rscsi_eh) {
        // CAST: `EhStep` is `repr(u8)`.
        let step = step as u8;
        // SAFETY: As in `doorbell`.
        unsafe { rscsi_eh(host_no, step, addr.0, addr.1, addr.2, tag, result) }
    }
}
