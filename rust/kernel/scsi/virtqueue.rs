// SPDX-License-Identifier: GPL-2.0

//! Split virtqueues a driver owns: the rings in DMA-coherent memory, the driver's indices, and
//! which command each head carries.
//!
//! C counterpart: the split ring of [`drivers/virtio/virtio_ring.c`](srctree/drivers/virtio/virtio_ring.c)
//! (`vring_create_virtqueue_split()`, `virtqueue_add_split()`, `virtqueue_kick_prepare_split()`,
//! `virtqueue_get_buf_ctx_split()`, `virtqueue_enable_cb_prepare_split()` and
//! `virtqueue_poll_split()`), which a virtio driver reaches through the virtio bus. A
//! [`SplitQueue`] is the same ring for a driver that binds to the device itself and gives each
//! command its descriptors at probe (`Documentation/scsi/rscsi.rst`).
//!
//! The layout and the index arithmetic are in [`crate::scsi::vring`], tested on the host.
//!
//! A driver:
//!
//! - allocates a queue of the size it negotiated ([`SplitQueue::new`]) and gives the device
//!   its three addresses ([`SplitQueue::desc_dma`], [`SplitQueue::avail_dma`],
//!   [`SplitQueue::used_dma`]);
//! - posts each command as one head: the command's tag on its hardware queue, so two commands
//!   never share a head. It fills the command's indirect table (its slot), then
//!   [`Producer::push_indirect`]es the head with the command's [`ContextTag`], under the
//!   queue's producer lock;
//! - after the last command of a batch, asks [`Producer::kick_prepare`] whether the device
//!   wants a notification, and notifies it outside the lock (and calls
//!   [`crate::scsi::trace::doorbell`] with the batch it returns);
//! - drains the used ring from its interrupt handler (or poll) with [`SplitQueue::drain`],
//!   which hands back the context of each head the device returned and re-arms the interrupt.
//!
//! Ownership: descriptor `h` of the ring and the context filed for head `h` belong to the
//! command posted at head `h` from [`Producer::push_indirect`] until [`SplitQueue::drain`]
//! returns it; meanwhile the device reads them. A used element that names a head that is not
//! out (beyond the ring, never posted, or returned already) is counted and dropped, so a
//! device that misbehaves cannot make the driver take a command twice. A used index that
//! moves by more than the ring holds is nonsense too: the drain stops there and counts it, and
//! the commands the device holds are left to the error handler. [`SplitQueue::bad_ids`] is a
//! test-only knob that makes the device seem to do so (see [`crate::scsi::fault`]).
//!
//! # Examples
//!
//! ```no_run
//! use kernel::{device::{Bound, Device}, prelude::*, scsi::{ring::ContextTag, virtqueue::SplitQueue, vring::QueueSize}};
//!
//! fn post(q: &SplitQueue, head: u16, table: u64, entries: u16, ctx: ContextTag, last: bool) -> Result<Option<u16>> {
//!     let mut p = q.producer();
//!     p.push_indirect(head, table, entries, ctx).map_err(|_| EBUSY)?;
//!     // Notify the device (an MMIO write) after unlocking, when this returns a batch.
//!     Ok(if last { p.kick_prepare() } else { None })
//! }
//!
//! fn interrupt(q: &SplitQueue) {
//!     q.drain(|ctx, _len| {
//!         // Take the command of `ctx` back from the hardware and complete it.
//!         let _ = ctx;
//!     });
//! }
//! ```

use crate::{
    device::{Bound, Device},
    dma::{Coherent, DmaAddress},
    new_spinlock_irq,
    prelude::*,
    scsi::{
        fault::Knob,
        ring::ContextTag,
        vring::{self, Layout, QueueSize, UsedElem},
    },
    sync::{
        atomic::{Atomic, Relaxed},
        barrier::{dma_mb, mb, Full, Read, Write},
        SpinLockIrq, SpinLockIrqGuard,
    },
};

/// Whether the DMA API gives `dev` the CPU's physical addresses unchanged (no IOMMU that
/// translates for it, no bus offset, no memory encryption).
///
/// A virtio device that did not negotiate `VIRTIO_F_ACCESS_PLATFORM` addresses guest-physical
/// memory itself, bypassing any IOMMU: the C ring then allocates its rings outside the DMA API
/// and gives the device `virt_to_phys()` addresses (`vring_use_map_api()` is false). A driver
/// that gives such a device the DMA addresses of [`SplitQueue`]s and slots (which come from
/// `dma_alloc_coherent()`) is right only where this is true; elsewhere it must negotiate
/// `VIRTIO_F_ACCESS_PLATFORM` or refuse the device.
pub fn dma_is_physical(dev: &Device) -> bool {
    // SAFETY: `dev` is a valid device; the helper only reads its DMA configuration.
    unsafe { crate::bindings::scsi_dma_is_phys(dev.as_raw()) }
}

/// A head's entry in `SplitQueue::heads` while it is out: its context, with this bit set.
const OUT: u64 = 1 << 32;

/// The driver side of the avail ring, under the producer lock.
#[derive(Default)]
struct ProducerState {
    /// The free-running index of the next entry (`avail_idx_shadow`).
    shadow: u16,
    /// Entries published since the last [`Producer::kick_prepare`] (`num_added`).
    added: u16,
    submitted: u64,
    kicks: u64,
    suppressed: u64,
    busy: u64,
}

/// The driver side of the used ring, under the consumer lock.
#[derive(Default)]
struct ConsumerState {
    /// The free-running index of the next used entry to read (`last_used_idx`).
    last_used: u16,
    completed: u64,
    drains: u64,
    max_bundle: u64,
    bogus_ids: u64,
    bogus_index: u64,
}

/// One split virtqueue in DMA-coherent memory, with the driver's indices.
///
/// # Invariants
///
/// - `mem` holds `layout.total` bytes from `dma_alloc_coherent()`, so it is page aligned and
///   every offset `layout` gives is aligned for its field.
/// - `heads` has `layout.size` entries; entry `h` is 0 while head `h` is not out, and
///   `OUT | ctx` while it is.
#[pin_data]
pub struct SplitQueue {
    mem: Coherent<[u8]>,
    layout: Layout,
    event_idx: bool,
    /// Polled: the driver never asks the device for an interrupt (a poll queue).
    polled: bool,
    heads: KVec<Atomic<u64>>,
    /// A copy of the consumer's `last_used`, for [`SplitQueue::has_used`] without the lock.
    last_used: Atomic<u32>,
    /// The test knob of [`SplitQueue::bad_ids`].
    bad_ids: Knob,
    #[pin]
    producer: SpinLockIrq<ProducerState>,
    #[pin]
    consumer: SpinLockIrq<ConsumerState>,
}

/// Head `h` is still out: its last command was not returned by the device. The driver refuses
/// the command as busy (it is retried), or reports a bug, never overwrites the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadBusy(pub u16);

/// What [`SplitQueue::drain`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Heads returned to the caller.
    pub returned: u32,
    /// Used elements dropped: an id outside the ring, or of a head that was not out.
    pub bogus: u32,
}

/// A queue's indices and counters, for debugfs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    /// Entries.
    pub size: u16,
    /// The driver's avail index.
    pub avail_idx: u16,
    /// The device's used index.
    pub used_idx: u16,
    /// The driver's last seen used index.
    pub last_used: u16,
    /// Heads out (posted, not returned).
    pub out: u32,
    /// Heads posted.
    pub submitted: u64,
    /// Heads returned.
    pub completed: u64,
    /// Notifications the device asked for.
    pub kicks: u64,
    /// Notifications event-idx (or `VRING_USED_F_NO_NOTIFY`) saved.
    pub suppressed: u64,
    /// Pushes refused because the head was out.
    pub busy: u64,
    /// Drains that found work.
    pub drains: u64,
    /// The most heads one drain returned.
    pub max_bundle: u64,
    /// Used elements dropped ([`Drained::bogus`]).
    pub bogus_ids: u64,
    /// Used indices that moved by more than the ring holds.
    pub bogus_index: u64,
}

impl SplitQueue {
    /// Allocates a queue of `size` entries for `dev`, zeroed. `event_idx` says whether
    /// `VIRTIO_F_RING_EVENT_IDX` was negotiated.
    ///
    /// A `polled` queue is one the driver polls (`mq_poll`) and that should not interrupt: its
    /// avail ring says `VRING_AVAIL_F_NO_INTERRUPT`, and a drain never moves `used_event`
    /// (with event-idx the device then interrupts at most once per 65536 used entries, as
    /// `used.idx` passes the unchanged `used_event`). Give it no MSI-X vector.
    pub fn new(
        dev: &Device<Bound>,
        size: QueueSize,
        event_idx: bool,
        polled: bool,
    ) -> Result<impl PinInit<Self, Error>> {
        let layout = Layout::new(size);
        let mem = Coherent::<u8>::zeroed_slice(dev, layout.total, GFP_KERNEL)?;
        let n = usize::from(size.get());
        let mut heads = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            heads.push(Atomic::new(0u64), GFP_KERNEL)?;
        }
        if polled {
            // SAFETY: `avail_flags()` is an even offset inside the `layout.total` bytes of
            // `mem`, which is page aligned, so the `u16` there is in bounds and aligned; the
            // device has not been given the queue yet.
            unsafe {
                mem.as_mut_ptr()
                    .cast::<u8>()
                    .add(layout.avail_flags())
                    .cast::<u16>()
                    .write_volatile(vring::AVAIL_F_NO_INTERRUPT.to_le())
            };
        }
        // INVARIANT: `mem` is `layout.total` bytes of coherent memory; `heads` has `size`
        // entries, none out.
        Ok(try_pin_init!(Self {
            mem,
            layout,
            event_idx,
            polled,
            heads,
            last_used: Atomic::new(0),
            bad_ids: Knob::new(),
            producer <- new_spinlock_irq!(ProducerState::default(), "SplitQueue::producer"),
            consumer <- new_spinlock_irq!(ConsumerState::default(), "SplitQueue::consumer"),
        }))
    }

    /// A test-only knob: armed for N shots, each of the next N used elements is followed, as
    /// if the device had written them, by two it never should: the same id again (a head
    /// already returned) and an id beyond the ring. [`SplitQueue::drain`] must drop both and
    /// count them ([`Snapshot::bogus_ids`]), and return the head once.
    pub fn bad_ids(&self) -> &Knob {
        &self.bad_ids
    }

    /// Whether the queue is polled (see [`SplitQueue::new`]).
    pub fn polled(&self) -> bool {
        self.polled
    }

    /// Entries.
    pub fn size(&self) -> QueueSize {
        self.layout.size
    }

    /// Bus address of the descriptor table (`queue_desc`).
    pub fn desc_dma(&self) -> DmaAddress {
        self.mem.dma_address()
    }

    /// Bus address of the driver area (`queue_driver`, the avail ring).
    pub fn avail_dma(&self) -> DmaAddress {
        // CAST: An offset within the allocation.
        self.mem.dma_address() + self.layout.avail as DmaAddress
    }

    /// Bus address of the device area (`queue_device`, the used ring).
    pub fn used_dma(&self) -> DmaAddress {
        // CAST: An offset within the allocation.
        self.mem.dma_address() + self.layout.used as DmaAddress
    }

    /// The `T` at byte `off` of the queue memory, if it lies inside and is aligned for `T`
    /// (`Layout` gives no other offsets; this keeps a bad one from reaching memory).
    #[inline]
    fn field<T>(&self, off: usize) -> Option<*mut T> {
        let len = size_of::<T>();
        let inside = off % len == 0 && off.checked_add(len).is_some_and(|e| e <= self.layout.total);
        // The allocation is page aligned (the type invariant), so `off` aligned to `len` gives
        // an aligned `T`.
        inside.then(|| {
            self.mem
                .as_mut_ptr()
                .cast::<u8>()
                .wrapping_add(off)
                .cast::<T>()
        })
    }

    /// Reads the little-endian `u16` at `off` (0 for an offset outside the queue).
    #[inline]
    fn read16(&self, off: usize) -> u16 {
        // SAFETY: `field` gives an aligned `u16` inside the allocation. The device may write it
        // at any time: a volatile read of a naturally aligned `u16` of coherent memory is well
        // defined and sees one value or the other.
        self.field::<u16>(off)
            .map_or(0, |p| u16::from_le(unsafe { p.read_volatile() }))
    }

    /// Reads the little-endian `u32` at `off` (0 for an offset outside the queue).
    #[inline]
    fn read32(&self, off: usize) -> u32 {
        // SAFETY: As in `read16`, for a `u32`.
        self.field::<u32>(off)
            .map_or(0, |p| u32::from_le(unsafe { p.read_volatile() }))
    }

    /// Writes `v` little-endian at `off` (nothing for an offset outside the queue).
    #[inline]
    fn write16(&self, off: usize, v: u16) {
        if let Some(p) = self.field::<u16>(off) {
            // SAFETY: As in `read16`; the fields written are the driver's (the driver area,
            // descriptors of heads it owns), which the device only reads, or, in `reset`, any
            // field once the device was reset and no longer touches the queue.
            unsafe { p.write_volatile(v.to_le()) }
        }
    }

    /// Writes `v` little-endian at `off` (nothing for an offset outside the queue).
    #[inline]
    fn write64(&self, off: usize, v: u64) {
        if let Some(p) = self.field::<u64>(off) {
            // SAFETY: As in `write16`, for a `u64`.
            unsafe { p.write_volatile(v.to_le()) }
        }
    }

    /// Takes the producer lock, to post heads.
    #[inline]
    pub fn producer(&self) -> Producer<'_> {
        Producer {
            q: self,
            st: self.producer.lock(),
        }
    }

    /// Returns the heads the device used, calling `f` with each one's context and the length
    /// the device reported, in the order it used them; then re-arms the interrupt (or the next
    /// poll) and looks again, so that nothing used meanwhile waits for an interrupt that will
    /// not come. Safe from interrupt context; `f` runs under the consumer lock, so it must not
    /// drain this queue.
    pub fn drain(&self, mut f: impl FnMut(ContextTag, u32)) -> Drained {
        let mut st = self.consumer.lock();
        let size = self.layout.size;
        let mut d = Drained::default();
        loop {
            let used = self.read16(self.layout.used_idx());
            // The elements were written before the index: read them after it.
            dma_mb(Read);
            let Ok(n) = vring::used_pending(st.last_used, used, size.get()) else {
                // No device returns more than the ring holds: stop, and leave what it holds to
                // the error handler. `last_used` stays, so a later drain sees the same.
                st.bogus_index += 1;
                break;
            };
            // One relaxed load per pass when the test knob is not armed.
            let faults = self.bad_ids.left() != 0;
            for _ in 0..n {
                let pos = size.position(st.last_used);
                let off = self.layout.used_ring(pos);
                let e = UsedElem {
                    id: self.read32(off),
                    len: self.read32(off + 4),
                };
                st.last_used = st.last_used.wrapping_add(1);
                let ctx = self.take_head(e.id, &mut d);
                if faults && self.bad_ids.take() {
                    // The knob: the same id again, then one beyond the ring, through the same
                    // checks as the device's; before `f` completes the command, whose tag, and
                    // so head, may be posted again as soon as it is.
                    for id in [e.id, u32::from(size.get())] {
                        if let Some(c) = self.take_head(id, &mut d) {
                            f(c, e.len);
                        }
                    }
                }
                if let Some(ctx) = ctx {
                    f(ctx, e.len);
                }
            }
            // Ask for an interrupt at the next used entry (`used_event`); without event-idx
            // the avail flags say it once and for all. A polled queue asks for none.
            if self.event_idx && !self.polled {
                self.write16(self.layout.used_event(), st.last_used);
            }
            // The device reads `used_event` after it writes `used.idx`: look again after it.
            mb(Full);
            if self.read16(self.layout.used_idx()) == st.last_used {
                break;
            }
        }
        self.last_used.store(u32::from(st.last_used), Relaxed);
        st.completed += u64::from(d.returned);
        st.bogus_ids += u64::from(d.bogus);
        if d.returned > 0 {
            st.drains += 1;
            st.max_bundle = st.max_bundle.max(u64::from(d.returned));
        }
        d
    }

    /// Takes head `id` of a used element back and returns its context, if the head is out;
    /// else counts the element as bogus (beyond the ring, never posted, or returned already).
    #[inline(always)]
    fn take_head(&self, id: u32, d: &mut Drained) -> Option<ContextTag> {
        let taken = usize::try_from(id)
            .ok()
            .filter(|_| vring::id_in_range(id, self.layout.size))
            .and_then(|h| self.heads.get(h))
            .map_or(0, |h| h.xchg(0, Relaxed));
        if taken & OUT == 0 {
            d.bogus += 1;
            return None;
        }
        d.returned += 1;
        // CAST: The low 32 bits are the context filed by `push_indirect`.
        Some(ContextTag::from_u32(taken as u32))
    }

    /// Whether the device has used entries the driver has not drained (`virtqueue_poll()`), for
    /// a poll that spins without the lock.
    #[inline]
    pub fn has_used(&self) -> bool {
        // CAST: `last_used` holds a `u16`.
        self.read16(self.layout.used_idx()) != self.last_used.load(Relaxed) as u16
    }

    /// Forgets everything: after the device was reset (or before it is set up again) no head
    /// is out and both indices start again at 0. Returns how many heads were out, whose
    /// commands the caller must reclaim (the device will not return them).
    pub fn reset(&self) -> u32 {
        let mut p = self.producer.lock();
        let mut c = self.consumer.lock();
        let mut out = 0;
        for h in self.heads.iter() {
            if h.xchg(0, Relaxed) & OUT != 0 {
                out += 1;
            }
        }
        // Every area is a whole number of `u16`s.
        for off in (0..self.layout.total).step_by(2) {
            self.write16(off, 0);
        }
        if self.polled {
            self.write16(self.layout.avail_flags(), vring::AVAIL_F_NO_INTERRUPT);
        }
        self.last_used.store(0, Relaxed);
        p.shadow = 0;
        p.added = 0;
        c.last_used = 0;
        out
    }

    /// Indices and counters, for debugfs.
    pub fn snapshot(&self) -> Snapshot {
        let (avail_idx, submitted, kicks, suppressed, busy) = {
            let p = self.producer.lock();
            (p.shadow, p.submitted, p.kicks, p.suppressed, p.busy)
        };
        let c = self.consumer.lock();
        Snapshot {
            size: self.layout.size.get(),
            avail_idx,
            used_idx: self.read16(self.layout.used_idx()),
            last_used: c.last_used,
            // CAST: at most 32768 heads.
            out: self
                .heads
                .iter()
                .filter(|h| h.load(Relaxed) & OUT != 0)
                .count() as u32,
            submitted,
            completed: c.completed,
            kicks,
            suppressed,
            busy,
            drains: c.drains,
            max_bundle: c.max_bundle,
            bogus_ids: c.bogus_ids,
            bogus_index: c.bogus_index,
        }
    }

    /// Zeroes the counters (not the indices).
    pub fn reset_stats(&self) {
        {
            let mut p = self.producer.lock();
            (p.submitted, p.kicks, p.suppressed, p.busy) = (0, 0, 0, 0);
        }
        let mut c = self.consumer.lock();
        (
            c.completed,
            c.drains,
            c.max_bundle,
            c.bogus_ids,
            c.bogus_index,
        ) = (0, 0, 0, 0, 0);
    }
}

/// The avail side of a [`SplitQueue`], locked: see [`SplitQueue::producer`].
pub struct Producer<'a> {
    q: &'a SplitQueue,
    st: SpinLockIrqGuard<'a, ProducerState>,
}

impl Producer<'_> {
    /// Posts head `head` as one indirect descriptor: a table of `entries` descriptors at
    /// `table` (the command's, prepared by the caller), for the command posted with `ctx`. The
    /// device may start on it at once; it is notified only through [`Self::kick_prepare`].
    ///
    /// # Errors
    ///
    /// [`HeadBusy`] if `head` is beyond the ring or still out.
    #[inline]
    pub fn push_indirect(
        &mut self,
        head: u16,
        table: DmaAddress,
        entries: u16,
        ctx: ContextTag,
    ) -> Result<(), HeadBusy> {
        // CAST: `DESC_SIZE` is 16.
        let len = u32::from(entries) * vring::DESC_SIZE as u32;
        self.push(head, table, len, vring::DESC_F_INDIRECT, ctx)
    }

    /// Posts head `head` as one direct descriptor of `len` bytes at `addr`, which the device
    /// writes if `device_writes` (a buffer it fills, such as an event) and reads otherwise.
    /// `ctx` comes back from [`SplitQueue::drain`] with it.
    ///
    /// # Errors
    ///
    /// [`HeadBusy`] if `head` is beyond the ring or still out.
    pub fn push_direct(
        &mut self,
        head: u16,
        addr: DmaAddress,
        len: u32,
        device_writes: bool,
        ctx: ContextTag,
    ) -> Result<(), HeadBusy> {
        let flags = if device_writes {
            vring::DESC_F_WRITE
        } else {
            0
        };
        self.push(head, addr, len, flags, ctx)
    }

    /// Posts head `head` as the descriptor {`addr`, `len`, `flags`}, filed with `ctx`.
    #[inline(always)]
    fn push(
        &mut self,
        head: u16,
        addr: DmaAddress,
        len: u32,
        flags: u16,
        ctx: ContextTag,
    ) -> Result<(), HeadBusy> {
        let q = self.q;
        let size = q.layout.size;
        let slot = q
            .heads
            .get(usize::from(head))
            .filter(|_| head < size.get())
            .ok_or(HeadBusy(head))?;
        if slot
            .cmpxchg(0, OUT | u64::from(ctx.to_u32()), Relaxed)
            .is_err()
        {
            self.st.busy += 1;
            return Err(HeadBusy(head));
        }
        let off = q.layout.desc(head);
        // The descriptor: address, length, flags; `next` is unused (no chain in the ring).
        q.write64(off, addr);
        q.write64(off + 8, u64::from(len) | (u64::from(flags) << 32));
        let pos = size.position(self.st.shadow);
        q.write16(q.layout.avail_ring(pos), head);
        // The descriptor, its table and the ring entry before the index that publishes them
        // (`virtio_wmb()`).
        dma_mb(Write);
        self.st.shadow = self.st.shadow.wrapping_add(1);
        q.write16(q.layout.avail_idx(), self.st.shadow);
        self.st.added = self.st.added.wrapping_add(1);
        self.st.submitted += 1;
        Ok(())
    }

    /// Whether the device wants a notification for what was posted since the last call
    /// (`virtqueue_kick_prepare()`): with event-idx, whether the avail index passed the
    /// device's `avail_event`; without, whether it did not set `VRING_USED_F_NO_NOTIFY`. If it
    /// does, returns how many heads were posted since the last call: the batch the
    /// notification tells the device of.
    #[inline]
    pub fn kick_prepare(&mut self) -> Option<u16> {
        let q = self.q;
        let (new, added) = (self.st.shadow, self.st.added);
        if added == 0 {
            return None;
        }
        self.st.added = 0;
        // The published index before the device's event index is read (`virtio_mb()`).
        mb(Full);
        let need = if q.event_idx {
            vring::need_event(
                q.read16(q.layout.avail_event()),
                new,
                new.wrapping_sub(added),
            )
        } else {
            q.read16(q.layout.used_flags()) & vring::USED_F_NO_NOTIFY == 0
        };
        if need {
            self.st.kicks += 1;
            Some(added)
        } else {
            self.st.suppressed += 1;
            None
        }
    }
}

/// Buffers the device writes and the driver reads, such as a virtio-scsi event queue's: `count`
/// buffers of `len` bytes in one DMA-coherent array, buffer `i` posted as head `i` of its
/// queue (a direct, device-writable descriptor) with the context `i`.
///
/// Buffer `i` is the device's from [`DeviceBuffers::post`] until [`SplitQueue::drain`] hands
/// back its context; the driver reads it ([`DeviceBuffers::read`]) before it posts it again.
/// Reads are volatile copies, never references, so a device that writes a buffer it should
/// not gives the driver wrong bytes but cannot make its reads undefined.
///
/// # Invariants
///
/// `mem` holds `count * len` bytes.
pub struct DeviceBuffers {
    mem: Coherent<[u8]>,
    len: usize,
    count: u16,
}

impl DeviceBuffers {
    /// Allocates `count` buffers of `len` bytes for `dev`, zeroed.
    ///
    /// # Errors
    ///
    /// `EINVAL` for no buffer or an empty one, `ENOMEM` when the memory cannot be had.
    pub fn new(dev: &Device<Bound>, count: u16, len: usize) -> Result<Self> {
        if count == 0 || len == 0 || u32::try_from(len).is_err() {
            return Err(EINVAL);
        }
        let total = usize::from(count).checked_mul(len).ok_or(EINVAL)?;
        let mem = Coherent::<u8>::zeroed_slice(dev, total, GFP_KERNEL)?;
        // INVARIANT: `mem` holds `count * len` bytes.
        Ok(Self { mem, len, count })
    }

    /// Buffers.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Posts buffer `i` as head `i` of `p`'s queue, for the device to fill.
    ///
    /// # Errors
    ///
    /// [`HeadBusy`] if `i` is not a buffer, is beyond the ring, or is still out.
    pub fn post(&self, p: &mut Producer<'_>, i: u16) -> Result<(), HeadBusy> {
        if i >= self.count {
            return Err(HeadBusy(i));
        }
        // CAST: An offset within the allocation, which fits the DMA address space; `len` fits
        // in `u32` (checked in `new`).
        let addr = self.mem.dma_address() + (usize::from(i) * self.len) as DmaAddress;
        p.push_direct(
            i,
            addr,
            self.len as u32,
            true,
            ContextTag::from_u32(u32::from(i)),
        )
    }

    /// The buffer a context [`SplitQueue::drain`] returned names, if it is one of these.
    pub fn index_of(&self, ctx: ContextTag) -> Option<u16> {
        u16::try_from(ctx.to_u32()).ok().filter(|&i| i < self.count)
    }

    /// Copies buffer `i` into `out` (as much as both hold); returns the bytes copied, 0 if `i`
    /// is not a buffer.
    pub fn read(&self, i: u16, out: &mut [u8]) -> usize {
        if i >= self.count {
            return 0;
        }
        let n = out.len().min(self.len);
        let base = usize::from(i) * self.len;
        for (k, o) in out[..n].iter_mut().enumerate() {
            // SAFETY: `base + k` is within the allocation (the type invariant, `i < count`,
            // `k < len`). A volatile byte read of DMA-coherent memory is well defined even
            // while the device writes it.
            *o = unsafe { self.mem.as_ptr().cast::<u8>().add(base + k).read_volatile() };
        }
        n
    }
}
