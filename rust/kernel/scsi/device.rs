// SPDX-License-Identifier: GPL-2.0

//! SCSI devices (logical units) as a host driver sees them, and the queue limits a driver may
//! set for one when it is configured.
//!
//! C headers: [`include/scsi/scsi_device.h`](srctree/include/scsi/scsi_device.h),
//! [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h) (`struct queue_limits`).

use core::{ops::Deref, ptr::NonNull};

use crate::{
    bindings,
    error::to_result,
    ffi::c_int,
    prelude::*,
    scsi::host::{Host, HostOps},
    types::Opaque,
};

/// A SCSI device (`struct scsi_device`): one logical unit behind a host.
///
/// # Invariants
///
/// `self.0` is a valid `struct scsi_device`.
#[repr(transparent)]
pub struct ScsiDevice(Opaque<bindings::scsi_device>);

impl ScsiDevice {
    /// # Safety
    ///
    /// `ptr` must be a valid device for `'a`.
    #[inline]
    pub(crate) unsafe fn from_ptr<'a>(ptr: *mut bindings::scsi_device) -> &'a Self {
        // SAFETY: Transparent wrapper; the caller's promise.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// # Safety
    ///
    /// `ptr` must be a valid device of a host of `T` in use, for `'a`.
    pub(crate) unsafe fn from_raw<'a, T: HostOps>(
        ptr: *mut bindings::scsi_device,
    ) -> (&'a Host<T>, &'a Self) {
        // SAFETY: A device's host outlives it; the caller promises it is a host of `T`.
        let host = unsafe { Host::from_raw((*ptr).host) };
        // SAFETY: The caller's promise.
        (host, unsafe { Self::from_ptr(ptr) })
    }

    #[inline]
    pub(crate) fn raw(&self) -> *mut bindings::scsi_device {
        self.0.get()
    }

    /// The channel (bus) number.
    #[inline]
    pub fn channel(&self) -> u32 {
        // SAFETY: By the type invariant; set at allocation, never changed.
        unsafe { (*self.raw()).channel }
    }

    /// The target id.
    #[inline]
    pub fn id(&self) -> u32 {
        // SAFETY: By the type invariant; set at allocation, never changed.
        unsafe { (*self.raw()).id }
    }

    /// The logical unit number.
    #[inline]
    pub fn lun(&self) -> u64 {
        // SAFETY: By the type invariant; set at allocation, never changed.
        unsafe { (*self.raw()).lun }
    }

    /// The current queue depth.
    #[inline]
    pub fn queue_depth(&self) -> u32 {
        // SAFETY: By the type invariant; a plain read of a word the midlayer updates.
        let d = unsafe { (*self.raw()).queue_depth };
        u32::from(d)
    }

    /// Changes the queue depth as the midlayer's default does (`scsi_change_queue_depth()`),
    /// returning the new depth; for [`HostOps::change_queue_depth`].
    pub fn change_queue_depth(&self, depth: u32) -> u32 {
        let depth = crate::ffi::c_int::try_from(depth).unwrap_or(crate::ffi::c_int::MAX);
        // SAFETY: By the type invariant.
        let d = unsafe { bindings::scsi_change_queue_depth(self.raw(), depth) };
        u32::try_from(d).unwrap_or(0)
    }
}

/// A counted reference to a SCSI device (`scsi_device_get()` .. `scsi_device_put()`), from
/// [`Host::lookup_device`]; the hot-plug side of a host driver.
///
/// While it exists the device's memory stays valid and the host's module stays loaded; the
/// device may still be removed meanwhile (its state then says so, and I/O to it fails).
///
/// # Invariants
///
/// `self.0` is a valid `struct scsi_device` on which this value holds one reference taken by
/// `scsi_device_get()` (or returned by `scsi_device_lookup()`, which takes it).
pub struct DeviceRef(NonNull<bindings::scsi_device>);

// SAFETY: The reference may be dropped on any CPU (`scsi_device_put()` has no thread
// affinity), and `ScsiDevice` is only read through it.
unsafe impl Send for DeviceRef {}
// SAFETY: `&DeviceRef` only gives `&ScsiDevice`, whose methods are safe from any CPU.
unsafe impl Sync for DeviceRef {}

impl DeviceRef {
    /// # Safety
    ///
    /// `ptr` must be a valid device on which the caller owns one `scsi_device_get()` reference,
    /// which the new value takes over.
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::scsi_device>) -> Self {
        // INVARIANT: The caller's promise.
        Self(ptr)
    }

    /// Removes the device (`scsi_remove_device()`): its upper-level driver detaches (sd flushes
    /// its cache and deletes the disk), commands still queued end with an error, and the
    /// midlayer forgets it. Then drops the reference. Does nothing more if the device is being
    /// removed already.
    ///
    /// Sleeps. Must not be called from the host's own error handler or from an entry point
    /// the scan calls ([`HostOps::sdev_init`] and the like), which hold locks removal takes.
    pub fn remove(self) {
        crate::task::might_sleep();
        // SAFETY: By the type invariant the device is valid, and the reference we hold keeps
        // it so for the call; `scsi_remove_device()` takes the host's scan mutex itself.
        unsafe { bindings::scsi_remove_device(self.0.as_ptr()) };
    }

    /// Reads the device's identity and capacity again (`scsi_rescan_device()`): after it
    /// reported a change (its capacity, its mode parameters); `sd` updates the disk's size.
    ///
    /// Sleeps. Returns an error when the device does not answer or is not running.
    pub fn rescan(&self) -> Result {
        crate::task::might_sleep();
        // SAFETY: By the type invariant the device is valid while we hold our reference;
        // `scsi_rescan_device()` takes the device's state mutex itself.
        to_result(unsafe { bindings::scsi_rescan_device(self.0.as_ptr()) })
    }

    /// Sends TEST UNIT READY (`scsi_test_unit_ready()`, 10 s, three tries) and returns what
    /// came back: for a driver that checks whether the device is still there.
    ///
    /// Sleeps.
    pub fn test_unit_ready(&self) -> UnitReady {
        crate::task::might_sleep();
        // SAFETY: An all-zero `struct scsi_sense_hdr` is valid (it is plain data).
        let mut sshdr: bindings::scsi_sense_hdr = unsafe { core::mem::zeroed() };
        let timeout = crate::time::msecs_to_jiffies(10_000);
        // SAFETY: By the type invariant the device is valid while we hold our reference;
        // `sshdr` is valid for writes.
        let r = unsafe {
            bindings::scsi_test_unit_ready(
                self.0.as_ptr(),
                c_int::try_from(timeout).unwrap_or(c_int::MAX),
                3,
                &mut sshdr,
            )
        };
        // CAST: The result word's host byte (bits 23:16) and status byte (bits 7:0); a
        // negative value is an error from before the command ran.
        let (host, status) = if r < 0 {
            (u8::MAX, 0)
        } else {
            ((r >> 16) as u8, r as u8)
        };
        UnitReady {
            host,
            status,
            sense: (sshdr.response_code != 0).then_some((sshdr.sense_key, sshdr.asc, sshdr.ascq)),
        }
    }
}

/// What [`DeviceRef::test_unit_ready`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitReady {
    /// The host byte (`DID_*`); `u8::MAX` if the command could not be sent at all.
    pub host: u8,
    /// The SCSI status.
    pub status: u8,
    /// Sense key, additional sense code and qualifier, if the device returned sense.
    pub sense: Option<(u8, u8, u8)>,
}

impl Deref for DeviceRef {
    type Target = ScsiDevice;

    fn deref(&self) -> &ScsiDevice {
        // SAFETY: By the type invariant the device is valid while we hold our reference.
        unsafe { ScsiDevice::from_ptr(self.0.as_ptr()) }
    }
}

impl Drop for DeviceRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own one reference, given back here once.
        unsafe { bindings::scsi_device_put(self.0.as_ptr()) };
    }
}

/// The block queue limits of a device being configured (`struct queue_limits`), lent to
/// [`HostOps::sdev_configure`]: they start from the host's ([`crate::scsi::HostConfig`]) and
/// the device's quirks, and the midlayer applies them after the call
/// (`queue_limits_commit_update()`), which refuses an inconsistent set (the device is then
/// not added).
///
/// # Examples
///
/// A driver whose firmware takes at most 256 KiB per command on some devices:
///
/// ```
/// use kernel::scsi::QueueLimits;
///
/// fn limit(lim: &mut QueueLimits<'_>) {
///     lim.set_max_hw_sectors(lim.max_hw_sectors().min(512));
/// }
/// ```
///
/// [`HostOps::sdev_configure`]: crate::scsi::HostOps::sdev_configure
pub struct QueueLimits<'a>(&'a mut bindings::queue_limits);

impl<'a> QueueLimits<'a> {
    /// # Safety
    ///
    /// `lim` must be valid and not accessed by anyone else for `'a`.
    pub(crate) unsafe fn from_raw(lim: *mut bindings::queue_limits) -> Self {
        // SAFETY: The caller's promise.
        Self(unsafe { &mut *lim })
    }

    /// Most 512-byte sectors per command the hardware takes (`max_hw_sectors`).
    pub fn max_hw_sectors(&self) -> u32 {
        self.0.max_hw_sectors
    }

    /// Sets the most sectors per command; the block layer keeps `max_sectors` within it.
    pub fn set_max_hw_sectors(&mut self, sectors: u32) {
        self.0.max_hw_sectors = sectors;
    }

    /// Most segments per command (`max_segments`).
    pub fn max_segments(&self) -> u16 {
        self.0.max_segments
    }

    /// Sets the most segments per command.
    pub fn set_max_segments(&mut self, segments: u16) {
        self.0.max_segments = segments;
    }

    /// Sets the alignment mask of data buffers (`dma_alignment`: 511 for sector-aligned
    /// buffers); user buffers of direct I/O that do not meet it are refused or bounced.
    pub fn set_dma_alignment(&mut self, mask: u32) {
        self.0.dma_alignment = mask;
    }

    /// Sets the boundary no segment but the first may start off, nor any but the last end off
    /// (`virt_boundary_mask`, as for NVMe PRP lists); 0 for none.
    pub fn set_virt_boundary_mask(&mut self, mask: u64) {
        self.0.virt_boundary_mask = mask.try_into().unwrap_or(crate::ffi::c_ulong::MAX);
    }
}
