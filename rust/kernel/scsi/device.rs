// SPDX-License-Identifier: GPL-2.0

//! SCSI devices (logical units) as a host driver sees them.
//!
//! C header: [`include/scsi/scsi_device.h`](srctree/include/scsi/scsi_device.h)

use crate::{
    bindings,
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

    fn raw(&self) -> *mut bindings::scsi_device {
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
