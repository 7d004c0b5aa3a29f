// SPDX-License-Identifier: GPL-2.0

//! Hosts without hardware: a host on a device of its own, and a software interrupt.
//!
//! C counterparts: the pseudo bus and adapters of `scsi_debug`
//! ([`drivers/scsi/scsi_debug.c`](srctree/drivers/scsi/scsi_debug.c), `sdebug_add_host_helper()`),
//! which completes its commands from an hrtimer (`sdebug_q_cmd_hrt_complete()`); the faux bus
//! ([`include/linux/device/faux.h`](srctree/include/linux/device/faux.h)) and hrtimers
//! ([`include/linux/hrtimer.h`](srctree/include/linux/hrtimer.h)).
//!
//! - [`SoftHost`] is a [`Registration`] whose parent is a faux device it creates and removes
//!   itself, so that a software host needs no bus driver. Its commands are never DMA-mapped:
//!   the driver moves data with [`Command::copy_to_buffer`] and [`Command::copy_from_buffer`].
//! - Every host has a software interrupt ([`Host::raise_soft_interrupt`]): an hrtimer that calls
//!   [`HostOps::interrupt`] with [`SOFT_VECTOR`], in hard interrupt context, as a device's
//!   interrupt would. A software host's "device" keeps the contexts of the commands it holds
//!   and completes them from there, through [`Host::take_from_hardware`], exactly as hardware
//!   does. The registration stops the timer when it stops the host's other interrupts.
//!
//! [`Command::copy_to_buffer`]: crate::scsi::Command::copy_to_buffer
//! [`Command::copy_from_buffer`]: crate::scsi::Command::copy_from_buffer
//! [`Host::take_from_hardware`]: crate::scsi::Host::take_from_hardware

use crate::{
    bindings, device, faux,
    prelude::*,
    scsi::host::{Host, HostConfig, HostData, HostOps, Registration, Template},
    str::CStr,
    time::Delta,
    types::Opaque,
};
use core::marker::PhantomData;

/// The vector number [`HostOps::interrupt`] receives when the software interrupt fires.
pub const SOFT_VECTOR: u16 = u16::MAX;

/// A host's software interrupt: an hrtimer in the host's private area.
///
/// # Invariants
///
/// Once [`SoftIrq::init`] ran, `timer` is an initialised hrtimer whose callback is
/// `soft_irq_fn::<T>` for the host `shost` of `T`, and it stays at this address until
/// [`SoftIrq::stop`] ran.
#[repr(C)]
pub(crate) struct SoftIrq {
    timer: Opaque<bindings::hrtimer>,
    shost: *mut bindings::Scsi_Host,
}

impl SoftIrq {
    /// Sets up the timer of the host `shost` of `T`.
    ///
    /// # Safety
    ///
    /// `this` must point to uninitialised memory in the private area of `shost`, which does not
    /// move until the host is freed; the host's private data must be initialised before the
    /// timer is first raised, and [`SoftIrq::stop`] must run before it is dropped.
    pub(crate) unsafe fn init<T: HostOps>(this: *mut Self, shost: *mut bindings::Scsi_Host) {
        // SAFETY: The caller's promise: `this` is valid for writes.
        unsafe {
            (&raw mut (*this).shost).write(shost);
            bindings::hrtimer_setup(
                Opaque::cast_into(&raw const (*this).timer),
                Some(soft_irq_fn::<T>),
                bindings::CLOCK_MONOTONIC as bindings::clockid_t,
                bindings::hrtimer_mode_HRTIMER_MODE_REL,
            );
        }
    }

    /// Fires the interrupt `after` from now (at once for zero or less). Raising it again before
    /// it fired moves it to the new time.
    pub(crate) fn raise(&self, after: Delta) {
        let ns = after.as_nanos().max(0);
        // SAFETY: By the type invariant the timer is initialised and in place.
        unsafe {
            bindings::hrtimer_start_range_ns(
                self.timer.get(),
                ns,
                0,
                bindings::hrtimer_mode_HRTIMER_MODE_REL,
            )
        };
    }

    /// Stops the timer and waits for a running callback; a callback that raises it again is
    /// stopped too (`hrtimer_cancel()` retries until the timer is neither queued nor running).
    ///
    /// # Safety
    ///
    /// Called once, after [`SoftIrq::init`], when nothing but the callback itself can raise the
    /// timer any more.
    pub(crate) unsafe fn stop(&self) {
        // SAFETY: By the type invariant the timer is initialised.
        unsafe { bindings::hrtimer_cancel(self.timer.get()) };
    }
}

/// The software interrupt's timer callback.
///
/// # Safety
///
/// Called by the hrtimer core with the timer of a [`SoftIrq`] set up by [`SoftIrq::init`] for a
/// host of `T`.
unsafe extern "C" fn soft_irq_fn<T: HostOps>(
    timer: *mut bindings::hrtimer,
) -> bindings::hrtimer_restart {
    // SAFETY: `timer` is the first field of a `repr(C)` `SoftIrq`, so the two share an address.
    let soft = unsafe { &*timer.cast::<SoftIrq>() };
    // SAFETY: The timer only runs between `init`, after which the host data is initialised
    // before anything raises it, and `stop`, which runs before the data is dropped.
    let host = unsafe { Host::<T>::from_raw(soft.shost) };
    let _ = T::interrupt(host, SOFT_VECTOR);
    bindings::hrtimer_restart::HRTIMER_NORESTART
}

/// A host with no hardware: a [`Registration`] under a faux device of its own (`scsi_debug`'s
/// pseudo adapter). Dropping it removes the host, then the device.
///
/// # Invariants
///
/// `reg` was registered under the device of `_dev`, which outlives it: fields drop in order.
pub struct SoftHost<T: HostOps> {
    reg: Pin<KBox<Registration<'static, T>>>,
    _dev: faux::Registration,
    _p: PhantomData<T>,
}

impl<T: HostOps> SoftHost<T>
where
    HostData<'static, T>: Send + Sync,
{
    /// Creates the faux device `name` and adds a host of `template` under it, with `config` and
    /// the host data `data`; the caller scans it afterwards with [`SoftHost::scan`].
    ///
    /// The data is made before the device exists, so it cannot hold a reference to it: the
    /// device's lifetime is this value's, which the type system cannot name.
    pub fn new(
        name: &CStr,
        template: &'static Template<T>,
        config: HostConfig,
        data: impl PinInit<HostData<'static, T>, Error> + 'static,
    ) -> Result<Self> {
        let dev = faux::Registration::new(name, None)?;
        let bound: &device::Device<device::Bound> = dev.as_ref().as_ref();
        // SAFETY: The device stays registered and bound until `dev` is dropped, which is after
        // `reg` (field order), the only holder of this reference: the host data was made
        // before the device existed, and the host hands out its parent only for the lifetime
        // of a `&Host`.
        let bound: &'static device::Device<device::Bound> = unsafe { &*core::ptr::from_ref(bound) };
        let reg = KBox::pin_init(
            Registration::new(template, bound, config, None, data),
            GFP_KERNEL,
        )?;
        // INVARIANT: `reg` is registered under `dev`, declared before it.
        Ok(Self {
            reg,
            _dev: dev,
            _p: PhantomData,
        })
    }

    /// The host.
    pub fn host(&self) -> &Host<T> {
        self.reg.host()
    }

    /// Scans the host for devices (`scsi_scan_host()`).
    pub fn scan(&self) {
        self.reg.scan()
    }
}
