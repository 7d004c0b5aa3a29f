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
//! (`host_tagset`).

use crate::{
    device::{Bound, Device},
    dma::{Coherent, DmaAddress},
    prelude::*,
    scsi::{command::Command, host::HostOps},
    sync::atomic::{Atomic, Full, Relaxed},
};

/// DMA-coherent command and response slots for `count` tags.
///
/// # Invariants
///
/// `cmd` holds `count * cmd_size` bytes and `resp` holds `count * resp_size` bytes;
/// `cmd_size` and `resp_size` are multiples of 64.
pub struct SlotPool {
    cmd: Coherent<[u8]>,
    resp: Coherent<[u8]>,
    count: u32,
    cmd_size: usize,
    resp_size: usize,
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
    /// slots are filled; `None` if its tag is beyond the pool.
    ///
    /// Borrowing the command mutably for as long as the slots are used makes them exclusive:
    /// there is one `Command` per tag and it lends its slots once at a time.
    #[inline]
    pub fn slot<'a, T: HostOps>(
        &'a self,
        cmd: &'a mut Command<T>,
    ) -> Option<(Slot<'a>, &'a Command<T>)> {
        let tag = cmd.index();
        // SAFETY: The caller owns `cmd`, the only `Command` for its tag (its type invariant),
        // and lends it mutably for `'a`, so nobody else reaches these slots meanwhile; the
        // device does not touch them while the driver owns the command (the ownership model
        // of this module).
        let slot = unsafe { self.slot_unchecked(tag) }?;
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

/// A pre-allocated bounce buffer for commands whose scatterlist cannot be described in the
/// hardware's descriptors (the SG cursor's `TooManySegments`): the data is copied through one
/// contiguous DMA-coherent buffer instead. One command owns it at a time; the coalesce counter
/// says how often it was used.
///
/// # Invariants
///
/// `owner` is 0 when the buffer is free, or the owning command's index
/// ([`Command::index`]) plus one; only the owner reaches the buffer.
pub struct Bounce {
    buf: Coherent<[u8]>,
    owner: Atomic<u32>,
    count: Atomic<u64>,
}

impl Bounce {
    /// Allocates a bounce buffer of `len` bytes (the host's largest transfer).
    pub fn new(dev: &Device<Bound>, len: usize) -> Result<Self> {
        Ok(Self {
            buf: Coherent::<u8>::zeroed_slice(dev, len, GFP_KERNEL)?,
            owner: Atomic::new(0),
            count: Atomic::new(0),
        })
    }

    /// Claims the buffer for `cmd` and returns it with its bus address; `None` when another
    /// command holds it (the caller refuses its command as host busy) or the transfer does not
    /// fit. Counts the use.
    pub fn claim<'a, T: HostOps>(
        &'a self,
        cmd: &'a mut Command<T>,
    ) -> Option<(&'a mut [u8], DmaAddress, &'a Command<T>)> {
        let len = usize::try_from(cmd.transfer_len()).ok()?;
        if len > self.buf.len() {
            return None;
        }
        let me = u32::from(cmd.index()) + 1;
        self.owner.cmpxchg(0, me, Full).ok()?;
        self.count.add(1, Relaxed);
        // SAFETY: We just became the owner (type invariant): nobody else reaches the buffer
        // until `release`; `len` is within it.
        let buf =
            unsafe { core::slice::from_raw_parts_mut(self.buf.as_mut_ptr().cast::<u8>(), len) };
        Some((buf, self.buf.dma_address(), cmd))
    }

    /// The buffer, if `cmd` owns it (at completion, to copy a read out).
    #[inline]
    pub fn owned<'a, T: HostOps>(
        &'a self,
        cmd: &'a mut Command<T>,
    ) -> Option<(&'a [u8], &'a mut Command<T>)> {
        if self.owner.load(Relaxed) != u32::from(cmd.index()) + 1 {
            return None;
        }
        let len = usize::try_from(cmd.transfer_len())
            .ok()?
            .min(self.buf.len());
        // SAFETY: `cmd` owns the buffer (type invariant) and lends it for `'a`.
        let buf = unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), len) };
        Some((buf, cmd))
    }

    /// Releases the buffer if the command with index `index` owns it (at completion, or when
    /// the error handler reclaimed that command).
    #[inline]
    pub fn release(&self, index: u16) {
        let me = u32::from(index) + 1;
        // Almost every command never owned the buffer: look before the read-modify-write.
        if self.owner.load(Relaxed) == me {
            let _ = self.owner.cmpxchg(me, 0, Full);
        }
    }

    /// How many commands went through the buffer.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Zeroes the counter.
    pub fn reset_count(&self) {
        self.count.store(0, Relaxed);
    }
}
