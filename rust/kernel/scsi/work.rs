// SPDX-License-Identifier: GPL-2.0

//! A host's work item: driver work that must sleep, queued from its interrupt.
//!
//! C counterparts: the `struct work_struct`s HBA drivers embed for events their interrupt
//! handler cannot act on (a scan, a device to add or remove, a controller to reset), such as
//! `virtscsi_handle_event()` in [`drivers/scsi/virtio_scsi.c`](srctree/drivers/scsi/virtio_scsi.c)
//! and `megasas_aen_polling()` in
//! [`drivers/scsi/megaraid/megaraid_sas_base.c`](srctree/drivers/scsi/megaraid/megaraid_sas_base.c);
//! workqueues from [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h).
//!
//! Every host has [`MAX_WORK`] of them, numbered from 0 ([`Host::queue_work`]): after
//! `queue_work(n)`, [`HostOps::work`] runs once with `n`, in process context, on an unbound
//! workqueue meant for long work (`system_dfl_long_wq`), and may sleep: add and remove devices,
//! scan, reset the device. Queueing one again while it is queued does nothing; queueing it
//! while it runs runs it once more afterwards, so a driver that records what to do (a counter,
//! a flag, a ring of events) before queueing never loses any. Different work items run
//! independently, so that a long one (a scan waiting on a device that stopped) does not hold
//! up another (the reset that would make the device answer).
//!
//! The [`Registration`](crate::scsi::Registration) stops it as the host goes: before
//! `scsi_remove_host()`, so that no scan or reset races the removal (a work item queued later
//! does not call [`HostOps::work`]), and once more after the interrupt handlers are freed, so
//! that none is left queued when the host's memory goes.

use crate::{
    bindings,
    prelude::*,
    scsi::host::{Host, HostOps},
    sync::atomic::{Acquire, Atomic, Release},
    types::Opaque,
};

/// Work items per host.
pub const MAX_WORK: usize = 2;

/// A host's work item, in the host's private area.
///
/// # Invariants
///
/// Once [`HostWork::init`] ran, `work` is an initialised work item whose function is
/// `host_work_fn::<T>` for the host `shost` of `T`, and it stays at this address until
/// [`HostWork::cancel`] ran after the last thing that can queue it is gone.
#[repr(C)]
pub(crate) struct HostWork {
    work: Opaque<bindings::work_struct>,
    shost: *mut bindings::Scsi_Host,
    /// Which of the host's work items this is (below [`MAX_WORK`]).
    id: u8,
    /// Set by [`HostWork::stop`]: the work item no longer calls the driver.
    stopped: Atomic<bool>,
}

impl HostWork {
    /// Sets up the work item of the host `shost` of `T`.
    ///
    /// # Safety
    ///
    /// `this` must point to uninitialised memory in the private area of `shost`, which does not
    /// move until the host is freed; the host's private data must be initialised before the
    /// work is first queued, and [`HostWork::cancel`] must run before it is dropped, after
    /// everything that can queue it is gone.
    pub(crate) unsafe fn init<T: HostOps>(
        this: *mut Self,
        shost: *mut bindings::Scsi_Host,
        id: u8,
    ) {
        let key = crate::static_lock_class!();
        // SAFETY: The caller's promise: `this` is valid for writes. `init_work_with_key()`
        // initialises the work item in place, with a lock class key in static memory.
        unsafe {
            (&raw mut (*this).shost).write(shost);
            (&raw mut (*this).id).write(id);
            (&raw mut (*this).stopped).write(Atomic::new(false));
            bindings::init_work_with_key(
                Opaque::cast_into(&raw const (*this).work),
                Some(host_work_fn::<T>),
                false,
                c"scsi_host_work".as_char_ptr(),
                key.as_ptr(),
            );
        }
    }

    /// Queues the work item; `false` if it was queued already, or the host is going.
    pub(crate) fn queue(&self) -> bool {
        if self.stopped.load(Acquire) {
            return false;
        }
        // SAFETY: By the type invariant the work item is initialised and in place until
        // `cancel` ran, which the registration calls only once nothing can queue it any more;
        // `system_dfl_long_wq` lives as long as the kernel.
        unsafe {
            bindings::queue_work_on(
                // CAST: `WORK_CPU_UNBOUND` is `NR_CPUS`, a small positive constant.
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as crate::ffi::c_int,
                bindings::system_dfl_long_wq,
                self.work.get(),
            )
        }
    }

    /// Stops the work item from calling the driver, and waits for a run that started.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Release);
        // SAFETY: By the type invariant the work item is initialised and in place.
        unsafe { bindings::cancel_work_sync(self.work.get()) };
    }

    /// Takes the work item off its queue and waits for it to finish.
    ///
    /// # Safety
    ///
    /// Called after [`HostWork::stop`], when nothing but the work item itself can queue it
    /// any more (the host's interrupt handlers, software interrupt and debugfs file are
    /// gone).
    pub(crate) unsafe fn cancel(&self) {
        // SAFETY: By the type invariant the work item is initialised and in place; a run
        // started after `stop` returns at once without queueing it again.
        unsafe { bindings::cancel_work_sync(self.work.get()) };
    }
}

/// The work item's function.
///
/// # Safety
///
/// Called by the workqueue core with the work item of a [`HostWork`] set up by
/// [`HostWork::init`] for a host of `T`.
unsafe extern "C" fn host_work_fn<T: HostOps>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of a `repr(C)` `HostWork`, so the two share an address.
    let w = unsafe { &*work.cast::<HostWork>() };
    if w.stopped.load(Acquire) {
        return;
    }
    // SAFETY: The work item runs the driver only between `init`, after which the host data is
    // initialised before anything queues it, and `stop`, which the registration calls (and
    // which waits for this run) before the host is removed and its data dropped.
    let host = unsafe { Host::<T>::from_raw(w.shost) };
    if T::HAS_WORK {
        T::work(host, w.id);
    }
}
