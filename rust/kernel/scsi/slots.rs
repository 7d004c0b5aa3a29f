// SPDX-License-Identifier: GPL-2.0

//! Per-tag DMA-coherent command and response slots, prepared at probe.
//!
//! C counterparts: the frame pools HBA drivers allocate at probe and index by tag, such as
//! `megasas_create_frame_pool()` in
//! [`drivers/scsi/megaraid/megaraid_sas_base.c`](srctree/drivers/scsi/megaraid/megaraid_sas_base.c)
//! and `pvscsi_allocate_sg()` in [`drivers/scsi/vmw_pvscsi.c`](srctree/drivers/scsi/vmw_pvscsi.c);
//! DMA memory from [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h).
//!
//! A [`SlotPool`] is two DMA-coherent arrays allocated once: command slots (the hardware frame
//! of each command, with room for its SG list) and response slots (sense data, or a response
//! header), slot N of each paired with the command whose index is N
//! ([`Command::index`](crate::scsi::Command::index): its tag, made unique over the host's
//! hardware queues). Nothing is allocated or mapped on the I/O path: `queuecommand` only fills
//! the slot of its command.
//!
//! Ownership follows the command's: [`SlotPool::slot`] takes the [`Command`] the caller owns,
//! and the [`Slot`] it returns borrows it. A slot can therefore only be touched between
//! `queuecommand` and [`Command::into_hardware`], and again after
//! [`crate::scsi::Host::take_from_hardware`] until completion; while the device holds the
//! command, nobody can reach its slot. One pool serves all of a host's hardware queues:
//! `nr_hw_queues * can_queue` slots, or `can_queue` when the queues share tags
//! (`host_tagset`), and one host only: the first whose command asks for a slot (the same index
//! on two hosts would otherwise name one slot twice).
//!
//! The slots are plain `&mut [u8]` because the device does not access them while a `Command`
//! exists, on every path the abstraction allows:
//!
//! - a `Command` exists only while the host's in-flight table has its index in the `Driver`
//!   phase: between `queuecommand` and the submission, and between the device's completion
//!   (its context matched) and the command's end;
//! - the error handler ends a command the device held only when the device let go of it: an
//!   abort or a reset that succeeded (the device's contract: an aborted command is finished),
//!   or a host reset that failed, after which the driver must have stopped the device (as the C
//!   drivers kill the adapter: see [`HostOps::eh_host_reset`](crate::scsi::HostOps));
//! - a reserved command that timed out while the device held it leaves its index
//!   `Abandoned`: no command uses that index, nor its slots, until the device returns the
//!   submission or a reset ([`crate::scsi::Host::reclaim_all`]) makes it forget it.
//!
//! A device that writes a slot after it completed, aborted or reset the command breaks that
//! contract, as it would for the command's data pages; nothing in the driver can stop such a
//! device except an IOMMU.

use crate::{
    device::{Bound, Device},
    dma::{Coherent, DmaAddress},
    prelude::*,
    scsi::{command::Command, host::HostOps},
    sync::atomic::{Atomic, Relaxed},
};

/// DMA-coherent command and response slots for `count` tags.
///
/// # Invariants
///
/// `cmd` holds `count * cmd_size` bytes and `resp` holds `count * resp_size` bytes;
/// `cmd_size` and `resp_size` are multiples of 64. `host` is 0 until a command asks for a slot
/// ([`SlotPool::slot`]), then the address of that command's host, for good: slots are lent
/// only to that host's commands.
pub struct SlotPool {
    cmd: Coherent<[u8]>,
    resp: Coherent<[u8]>,
    count: u32,
    cmd_size: usize,
    resp_size: usize,
    host: Atomic<usize>,
}

/// Rounds `n` up to the 64-byte unit in which slots are laid out (so every slot is at least
/// 64-byte aligned: the arrays start on a page).
const fn round64(n: usize) -> usize {
    (n + 63) & !63
}

impl SlotPool {
    /// Allocates slots for `count` tags: `cmd_size` bytes of command slot and `resp_size` bytes
    /// of response slot each, rounded up to 64 bytes, zeroed.
    ///
    /// # Errors
    ///
    /// `EINVAL` for zero tags or sizes, `ENOMEM` when the memory cannot be had.
    pub fn new(dev: &Device<Bound>, count: u32, cmd_size: usize, resp_size: usize) -> Result<Self> {
        if count == 0 || cmd_size == 0 || resp_size == 0 {
            return Err(EINVAL);
        }
        let (cmd_size, resp_size) = (round64(cmd_size), round64(resp_size));
        let n = usize::try_from(count)?;
        let cmd =
            Coherent::<u8>::zeroed_slice(dev, n.checked_mul(cmd_size).ok_or(EINVAL)?, GFP_KERNEL)?;
        let resp =
            Coherent::<u8>::zeroed_slice(dev, n.checked_mul(resp_size).ok_or(EINVAL)?, GFP_KERNEL)?;
        // INVARIANT: sizes as allocated above.
        Ok(Self {
            cmd,
            resp,
            count,
            cmd_size,
            resp_size,
            host: Atomic::new(0),
        })
    }

    /// Tags the pool serves.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Bytes of one command slot.
    pub fn cmd_size(&self) -> usize {
        self.cmd_size
    }

    /// Bytes of one response slot.
    pub fn resp_size(&self) -> usize {
        self.resp_size
    }

    /// The bus address of the command slot of `tag` (for the device; no access).
    pub fn cmd_dma(&self, tag: u16) -> Option<DmaAddress> {
        // CAST: An offset within the allocation, which fits the DMA address space.
        (u32::from(tag) < self.count)
            .then(|| self.cmd.dma_address() + (usize::from(tag) * self.cmd_size) as DmaAddress)
    }

    /// The slots of the command the caller owns, with the command itself to read while the
    /// slots are filled; `None` if its index is beyond the pool or the command is of another
    /// host than the one the pool serves.
    ///
    /// Borrowing the command mutably for as long as the slots are used makes them exclusive:
    /// there is one `Command` per index of a host and it lends its slots once at a time.
    #[inline]
    pub fn slot<'a, T: HostOps>(
        &'a self,
        cmd: &'a mut Command<T>,
    ) -> Option<(Slot<'a>, &'a Command<T>)> {
        let host = cmd.host_id();
        let bound = self.host.load(Relaxed);
        if bound != host
            && !(bound == 0
                && self
                    .host
                    .cmpxchg(0, host, Relaxed)
                    .map_or_else(|v| v == host, |_| true))
        {
            return None;
        }
        // SAFETY: The pool serves `cmd`'s host alone (checked above); the caller owns `cmd`,
        // the only `Command` for its index on that host (its type invariant), and lends it
        // mutably for `'a`, so nobody else reaches these slots meanwhile; the device does not
        // touch them while a `Command` exists (the ownership model of this module).
        let slot = unsafe { self.slot_unchecked(cmd.index()) }?;
        Some((slot, cmd))
    }

    /// The slots of `index`, for a driver's own commands on tags the midlayer does not use
    /// (reserved commands, or before the host is added).
    ///
    /// # Safety
    ///
    /// The caller must have exclusive use of slot `index` and the device must not be using it,
    /// for `'a`.
    #[inline]
    pub unsafe fn slot_unchecked(&self, index: u16) -> Option<Slot<'_>> {
        if u32::from(index) >= self.count {
            return None;
        }
        let i = usize::from(index);
        let (c, r) = (i * self.cmd_size, i * self.resp_size);
        // SAFETY: In bounds by the type invariant; exclusive by the caller's promise.
        let (cmd, resp) = unsafe {
            (
                core::slice::from_raw_parts_mut(
                    self.cmd.as_mut_ptr().cast::<u8>().add(c),
                    self.cmd_size,
                ),
                core::slice::from_raw_parts_mut(
                    self.resp.as_mut_ptr().cast::<u8>().add(r),
                    self.resp_size,
                ),
            )
        };
        Some(Slot {
            cmd,
            resp,
            // CAST: Offsets within an allocation that fits the DMA address space.
            cmd_dma: self.cmd.dma_address() + c as DmaAddress,
            // CAST: As above.
            resp_dma: self.resp.dma_address() + r as DmaAddress,
        })
    }
}

impl SlotPool {
    /// The slots of `index`, exclusively: for a driver's own commands (management frames,
    /// polled commands at probe) on a pool it owns, or holds under a lock.
    pub fn slot_exclusive(&mut self, index: u16) -> Option<Slot<'_>> {
        // SAFETY: `&mut self` gives exclusive use of every slot for the borrow; the driver posts
        // a frame only after it stopped using the slot, and polls it with `cmd_byte`.
        unsafe { self.slot_unchecked(index) }
    }

    /// Reads one byte of the command slot of `index` with a volatile access: for polling a
    /// frame the device owns (its status byte), which no reference may alias.
    pub fn cmd_byte(&self, index: u16, offset: usize) -> Option<u8> {
        if u32::from(index) >= self.count || offset >= self.cmd_size {
            return None;
        }
        let off = usize::from(index) * self.cmd_size + offset;
        // SAFETY: In bounds by the type invariant and the checks above. A volatile byte read
        // of DMA-coherent memory is well defined even while the device writes it.
        Some(unsafe { self.cmd.as_mut_ptr().cast::<u8>().add(off).read_volatile() })
    }
}

/// The command and response slots of one tag, owned through its command.
pub struct Slot<'a> {
    /// The command slot: the hardware frame and its SG list.
    pub cmd: &'a mut [u8],
    /// The response slot: sense data or a response header the device writes.
    pub resp: &'a mut [u8],
    /// Bus address of `cmd`.
    pub cmd_dma: DmaAddress,
    /// Bus address of `resp`.
    pub resp_dma: DmaAddress,
}
