// SPDX-License-Identifier: GPL-2.0

//! Split virtqueue rings: the layout of the three areas, free-running indices, descriptors and
//! notification suppression. The queue in DMA memory that uses them is
//! [`crate::scsi::virtqueue::SplitQueue`].
//!
//! C counterparts: [`include/uapi/linux/virtio_ring.h`](srctree/include/uapi/linux/virtio_ring.h)
//! (`struct vring_desc`, `vring_avail`, `vring_used`, `vring_need_event()`) and the split ring
//! of [`drivers/virtio/virtio_ring.c`](srctree/drivers/virtio/virtio_ring.c)
//! (`virtqueue_add_split()`, `virtqueue_kick_prepare_split()`, `virtqueue_get_buf_ctx_split()`,
//! `virtqueue_enable_cb_prepare_split()`). The virtio 1.x specification, section 2.7, is the
//! contract.
//!
//! A split virtqueue of `N` entries (a power of two) is three areas of memory the driver
//! allocates and the device reads or writes:
//!
//! - the descriptor table, `N` [`Desc`]s of 16 bytes;
//! - the driver area (avail ring): flags, the free-running index `idx`, `N` heads, and
//!   `used_event`;
//! - the device area (used ring): flags, `idx`, `N` [`UsedElem`]s, and `avail_event`.
//!
//! Indices are free-running `u16`s: they count every entry ever added and wrap at 65536, and
//! entry `i` lives at ring position `i % N`. [`Layout`] places the areas in one allocation;
//! [`QueueSize`] maps indices to positions; [`need_event`] is the notification decision
//! shared by both sides (`VIRTIO_F_RING_EVENT_IDX`); [`used_pending`] says how many entries
//! the device has returned, and refuses an index no device could have written.
//!
//! A driver that uses indirect descriptors prepares one table per command at probe, with every
//! `next` field already chaining entry `i` to `i + 1` ([`chain_table`]); a command then only
//! writes addresses, lengths and flags ([`DescWriter`], for the SG cursor) and ends the chain
//! ([`end_chain`]).
//!
//! This file needs only `core` (and [`crate::scsi::bytes`]) and is tested on the host
//! (`tools/hosttest`) and in the kernel (KUnit suite `rust_scsi_vring`).

use crate::scsi::bytes::{
    get16,
    put16,
    put32,
    put64, //
};

/// `VRING_DESC_F_NEXT`: the chain continues at `next`.
pub const DESC_F_NEXT: u16 = 1;
/// `VRING_DESC_F_WRITE`: the device writes this buffer (otherwise it reads it).
pub const DESC_F_WRITE: u16 = 2;
/// `VRING_DESC_F_INDIRECT`: the buffer is a table of descriptors.
pub const DESC_F_INDIRECT: u16 = 4;
/// `VRING_AVAIL_F_NO_INTERRUPT`: the driver needs no interrupt (without event-idx).
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// `VRING_USED_F_NO_NOTIFY`: the device needs no notification (without event-idx).
pub const USED_F_NO_NOTIFY: u16 = 1;

/// Bytes of one descriptor (`struct vring_desc`).
pub const DESC_SIZE: usize = 16;
/// Bytes of one used element (`struct vring_used_elem`).
pub const USED_ELEM_SIZE: usize = 8;
/// The largest split queue the specification allows.
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// The number of entries of a split virtqueue: a power of two from 1 to 32768.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSize(u16);

impl QueueSize {
    /// `n` entries; `None` unless `n` is a power of two no larger than [`MAX_QUEUE_SIZE`].
    #[inline]
    pub const fn new(n: u16) -> Option<Self> {
        if n.is_power_of_two() && n <= MAX_QUEUE_SIZE {
            Some(Self(n))
        } else {
            None
        }
    }

    /// The size to set up for a queue the device offers with `device_max` entries (its
    /// `queue_size` register) when the driver wants at most `wanted`: the largest power of
    /// two within both. `None` if the device offers nothing usable (0, or not a power of two,
    /// which the specification forbids for split queues) or `wanted` is 0.
    #[inline]
    pub const fn choose(device_max: u16, wanted: u16) -> Option<Self> {
        if Self::new(device_max).is_none() || wanted == 0 {
            return None;
        }
        let limit = if wanted < device_max {
            wanted
        } else {
            device_max
        };
        // The highest bit of `limit`: a power of two at most `limit`.
        Some(Self(1 << (15 - limit.leading_zeros())))
    }

    /// Entries.
    #[inline]
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The ring position of free-running index `idx`.
    #[inline]
    pub const fn position(self, idx: u16) -> u16 {
        idx & (self.0 - 1)
    }
}

/// Where the areas of one split virtqueue lie in a single allocation, in bytes from its start.
///
/// The descriptor table comes first (16-byte aligned, as the allocation is), the driver area
/// after it (2-byte aligned), and the device area on the next 64-byte boundary: the driver
/// writes one and the device the other, so they do not share a cache line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Entries.
    pub size: QueueSize,
    /// Offset of the driver area (avail ring).
    pub avail: usize,
    /// Offset of the device area (used ring).
    pub used: usize,
    /// Bytes of the whole allocation.
    pub total: usize,
}

impl Layout {
    /// The layout of a queue of `size` entries.
    #[inline]
    pub const fn new(size: QueueSize) -> Self {
        let n = size.0 as usize;
        let avail = DESC_SIZE * n;
        let used = (avail + 6 + 2 * n + 63) & !63;
        Self {
            size,
            avail,
            used,
            total: used + 6 + USED_ELEM_SIZE * n,
        }
    }

    /// Offset of descriptor `i` (a position, below the size).
    #[inline]
    pub const fn desc(&self, i: u16) -> usize {
        DESC_SIZE * i as usize
    }

    /// Offset of the driver area's `flags`.
    #[inline]
    pub const fn avail_flags(&self) -> usize {
        self.avail
    }

    /// Offset of the driver area's `idx`.
    #[inline]
    pub const fn avail_idx(&self) -> usize {
        self.avail + 2
    }

    /// Offset of the driver area's entry at position `pos`.
    #[inline]
    pub const fn avail_ring(&self, pos: u16) -> usize {
        self.avail + 4 + 2 * pos as usize
    }

    /// Offset of `used_event`, after the driver area's ring.
    #[inline]
    pub const fn used_event(&self) -> usize {
        self.avail + 4 + 2 * self.size.0 as usize
    }

    /// Offset of the device area's `flags`.
    #[inline]
    pub const fn used_flags(&self) -> usize {
        self.used
    }

    /// Offset of the device area's `idx`.
    #[inline]
    pub const fn used_idx(&self) -> usize {
        self.used + 2
    }

    /// Offset of the device area's element at position `pos`.
    #[inline]
    pub const fn used_ring(&self, pos: u16) -> usize {
        self.used + 4 + USED_ELEM_SIZE * pos as usize
    }

    /// Offset of `avail_event`, after the device area's ring.
    #[inline]
    pub const fn avail_event(&self) -> usize {
        self.used + 4 + USED_ELEM_SIZE * self.size.0 as usize
    }
}

/// `vring_need_event()`: whether the other side asked to be told, when an index moves from
/// `old` to `new` and its event index is `event`.
///
/// The driver notifies the device when `avail.idx` passes the device's `avail_event`; the
/// device interrupts the driver when `used.idx` passes the driver's `used_event`. All three
/// are free-running, so the comparison is modulo 65536.
#[inline]
pub const fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// The device reported a used index that moved further than the queue has entries, or past
/// what the driver posted: nonsense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadUsedIndex {
    /// The index the device wrote.
    pub used: u16,
    /// The driver's last seen used index.
    pub last: u16,
}

/// How many used entries lie between the driver's `last` seen used index and the device's
/// `used` index, given that `outstanding` heads are posted and not yet returned.
///
/// # Errors
///
/// [`BadUsedIndex`] if the device claims more entries than are outstanding: a device that
/// moves `used.idx` by more than it was given has written nonsense, and the driver must not
/// read elements it never handed out (QEMU checks the mirror case, an avail index that
/// jumps by more than the queue size, and stops the device).
#[inline]
pub const fn used_pending(last: u16, used: u16, outstanding: u16) -> Result<u16, BadUsedIndex> {
    let n = used.wrapping_sub(last);
    if n > outstanding {
        Err(BadUsedIndex { used, last })
    } else {
        Ok(n)
    }
}

/// One descriptor (`struct vring_desc`), as the device sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc {
    /// Bus address of the buffer.
    pub addr: u64,
    /// Length of the buffer in bytes.
    pub len: u32,
    /// `DESC_F_*`.
    pub flags: u16,
    /// The next descriptor of the chain, when `flags` has [`DESC_F_NEXT`].
    pub next: u16,
}

impl Desc {
    /// Writes the descriptor, little-endian, into `out` (at least [`DESC_SIZE`] bytes).
    #[inline]
    pub fn write(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.addr.to_le_bytes());
        out[8..12].copy_from_slice(&self.len.to_le_bytes());
        out[12..14].copy_from_slice(&self.flags.to_le_bytes());
        out[14..16].copy_from_slice(&self.next.to_le_bytes());
    }

    /// Reads a descriptor from `b` (at least [`DESC_SIZE`] bytes).
    #[inline]
    pub fn read(b: &[u8]) -> Self {
        Self {
            addr: u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            len: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            flags: u16::from_le_bytes([b[12], b[13]]),
            next: u16::from_le_bytes([b[14], b[15]]),
        }
    }
}

/// One used element (`struct vring_used_elem`): the head of a returned chain and the bytes the
/// device says it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsedElem {
    /// The head descriptor of the chain, as the driver posted it.
    pub id: u32,
    /// Bytes written into the chain's device-writable buffers (QEMU reports their total size).
    pub len: u32,
}

impl UsedElem {
    /// Reads an element from `b` (at least [`USED_ELEM_SIZE`] bytes).
    #[inline]
    pub fn read(b: &[u8]) -> Self {
        Self {
            id: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            len: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// Prepares a descriptor table (one per command, at probe) so that every entry chains to the
/// one after it: `next` of entry `i` is `i + 1`. Commands then never write `next`.
pub fn chain_table(table: &mut [u8]) {
    for (i, d) in table.chunks_exact_mut(DESC_SIZE).enumerate() {
        // CAST: A table holds at most 65536 entries; the last one's `next` is never followed.
        let next = (i + 1) as u16;
        d[14..16].copy_from_slice(&next.to_le_bytes());
    }
}

/// Writes one descriptor of a prepared table ([`chain_table`]) with [`DESC_F_NEXT`] set,
/// leaving its `next` as prepared. Inlined into the driver's command path: three stores.
///
/// # Panics
///
/// If `out` is shorter than a descriptor's first 14 bytes (callers pass whole descriptors).
#[inline]
pub fn write_chained(out: &mut [u8], addr: u64, len: u32, device_writes: bool) {
    let flags = DESC_F_NEXT | if device_writes { DESC_F_WRITE } else { 0 };
    put64(out, 0, addr);
    put32(out, 8, len);
    put16(out, 12, flags);
}

/// Ends a chain at the descriptor in `out`: clears its [`DESC_F_NEXT`].
///
/// # Panics
///
/// As [`write_chained`].
#[inline]
pub fn end_chain(out: &mut [u8]) {
    put16(out, 12, get16(out, 12) & !DESC_F_NEXT);
}

/// The SG cursor's writer for data descriptors in a prepared table: every descriptor chained
/// (the response header or the next direction may follow; the driver ends the chain with
/// [`end_chain`]), device-writable for data the device writes.
#[derive(Clone, Copy, Debug)]
pub struct DescWriter {
    /// The device writes these buffers (data-in).
    pub device_writes: bool,
}

impl crate::scsi::sg::DescriptorWriter for DescWriter {
    const SIZE: usize = DESC_SIZE;

    #[inline]
    fn write(&self, out: &mut [u8], seg: crate::scsi::sg::Segment) {
        write_chained(out, seg.addr, seg.len, self.device_writes);
    }
}

/// Whether a used element's `id` can name a head of a queue of `size` entries. An id the device
/// returns must also be one the driver has out, which the queue checks
/// ([`crate::scsi::virtqueue::SplitQueue`]).
#[inline]
pub const fn id_in_range(id: u32, size: QueueSize) -> bool {
    id < size.0 as u32
}

#[cfg(any(test, CONFIG_RUST_SCSI_KUNIT_TEST))]
#[cfg_attr(not(test), ::kernel::macros::kunit_tests(rust_scsi_vring))]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_powers_of_two_within_the_spec() {
        assert_eq!(QueueSize::new(0), None);
        assert_eq!(QueueSize::new(3), None);
        assert_eq!(QueueSize::new(65535), None);
        assert_eq!(QueueSize::new(1).map(QueueSize::get), Some(1));
        assert_eq!(QueueSize::new(32768).map(QueueSize::get), Some(32768));
    }

    #[test]
    fn choose_takes_the_largest_power_of_two_both_allow() {
        assert_eq!(QueueSize::choose(256, 1024).map(QueueSize::get), Some(256));
        assert_eq!(QueueSize::choose(256, 100).map(QueueSize::get), Some(64));
        assert_eq!(QueueSize::choose(256, 16).map(QueueSize::get), Some(16));
        assert_eq!(
            QueueSize::choose(1024, 65535).map(QueueSize::get),
            Some(1024)
        );
        assert_eq!(QueueSize::choose(1, 1).map(QueueSize::get), Some(1));
        // A device that offers nothing, or nonsense.
        assert_eq!(QueueSize::choose(0, 256), None);
        assert_eq!(QueueSize::choose(100, 256), None);
        assert_eq!(QueueSize::choose(256, 0), None);
    }

    #[test]
    fn positions_wrap_with_the_size() {
        let q = QueueSize::new(16).unwrap();
        assert_eq!(q.position(0), 0);
        assert_eq!(q.position(17), 1);
        assert_eq!(q.position(65535), 15);
        // A free-running index wraps from 65535 to 0, and the position follows.
        assert_eq!(q.position(65535u16.wrapping_add(1)), 0);
    }

    #[test]
    fn layout_matches_the_c_structures() {
        let l = Layout::new(QueueSize::new(256).unwrap());
        assert_eq!(l.avail, 4096);
        assert_eq!(l.avail_idx(), 4098);
        assert_eq!(l.avail_ring(3), 4096 + 4 + 6);
        assert_eq!(l.used_event(), 4096 + 4 + 512);
        // The device area starts on a cache line after the driver area's 6 + 2N bytes.
        assert_eq!(l.used, (4096 + 6 + 512 + 63) & !63);
        assert_eq!(l.used % 64, 0);
        assert_eq!(l.used_ring(1), l.used + 4 + 8);
        assert_eq!(l.avail_event(), l.used + 4 + 8 * 256);
        assert_eq!(l.total, l.avail_event() + 2);
        let one = Layout::new(QueueSize::new(1).unwrap());
        assert_eq!(one.avail, 16);
        assert_eq!(one.used, 64);
        assert_eq!(one.total, 64 + 6 + 8);
    }

    #[test]
    fn need_event_is_vring_need_event() {
        // The C macro, for every case below: (u16)(new - event - 1) < (u16)(new - old).
        fn c(event: u16, new: u16, old: u16) -> bool {
            new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
        }
        // The device asked for index 5: moving 4 -> 6 passes it, 6 -> 8 does not.
        assert!(need_event(5, 6, 4));
        assert!(need_event(5, 6, 5));
        assert!(!need_event(5, 5, 4));
        assert!(!need_event(5, 8, 6));
        // Moving past the event across the wrap at 65536.
        assert!(need_event(65535, 1, 65534));
        assert!(need_event(0, 2, 65535));
        assert!(!need_event(3, 2, 65535));
        // Nothing moved: never.
        assert!(!need_event(7, 7, 7));
        for (e, n, o) in [
            (0u16, 0u16, 0u16),
            (100, 200, 50),
            (65000, 10, 64990),
            (9, 9, 8),
        ] {
            assert_eq!(need_event(e, n, o), c(e, n, o));
        }
    }

    #[test]
    fn need_event_holds_across_every_wrap_offset() {
        // One batch of 3 added, for every starting index near the wrap and every event index
        // around it: notify exactly when the event index is one of the three new entries.
        for base in 65530u16..=65535 {
            for d in 0u16..8 {
                let old = base.wrapping_add(d);
                let new = old.wrapping_add(3);
                for k in 0u16..6 {
                    let event = old.wrapping_add(k);
                    assert_eq!(need_event(event, new, old), k < 3);
                }
            }
        }
    }

    #[test]
    fn used_pending_counts_across_the_wrap_and_refuses_nonsense() {
        assert_eq!(used_pending(10, 13, 16), Ok(3));
        assert_eq!(used_pending(65534, 1, 16), Ok(3));
        assert_eq!(used_pending(7, 7, 0), Ok(0));
        // More returned than outstanding.
        assert_eq!(
            used_pending(10, 20, 4),
            Err(BadUsedIndex { used: 20, last: 10 })
        );
        // An index that went backwards looks like a jump of nearly 65536.
        assert_eq!(
            used_pending(10, 9, 256),
            Err(BadUsedIndex { used: 9, last: 10 })
        );
    }

    #[test]
    fn descriptors_round_trip_little_endian() {
        let d = Desc {
            addr: 0x1122_3344_5566_7788,
            len: 0x99aa_bbcc,
            flags: DESC_F_NEXT | DESC_F_WRITE,
            next: 0x0102,
        };
        let mut b = [0u8; DESC_SIZE];
        d.write(&mut b);
        assert_eq!(b[0], 0x88);
        assert_eq!(b[8], 0xcc);
        assert_eq!(b[12], 3);
        assert_eq!(b[14], 0x02);
        assert_eq!(Desc::read(&b), d);
        let u = UsedElem::read(&[5, 0, 0, 0, 0x10, 0, 0, 0]);
        assert_eq!(u, UsedElem { id: 5, len: 16 });
    }

    #[test]
    fn a_prepared_table_chains_and_commands_write_only_what_changes() {
        let mut t = [0u8; 4 * DESC_SIZE];
        chain_table(&mut t);
        for i in 0..4 {
            assert_eq!(Desc::read(&t[i * DESC_SIZE..]).next as usize, i + 1);
        }
        write_chained(&mut t[0..DESC_SIZE], 0x1000, 51, false);
        write_chained(&mut t[DESC_SIZE..2 * DESC_SIZE], 0x2000, 108, true);
        end_chain(&mut t[DESC_SIZE..2 * DESC_SIZE]);
        let a = Desc::read(&t[0..]);
        let b = Desc::read(&t[DESC_SIZE..]);
        assert_eq!(
            a,
            Desc {
                addr: 0x1000,
                len: 51,
                flags: DESC_F_NEXT,
                next: 1
            }
        );
        assert_eq!(
            b,
            Desc {
                addr: 0x2000,
                len: 108,
                flags: DESC_F_WRITE,
                next: 2
            }
        );
    }

    #[test]
    fn the_sg_cursor_writes_chained_data_descriptors() {
        use crate::scsi::sg::{self, Limits, Segment};
        let mut t = [0u8; 8 * DESC_SIZE];
        chain_table(&mut t);
        let limits = Limits {
            max_segment_size: 4096,
            boundary_mask: u64::MAX,
            max_segments: 6,
        };
        let segs = [Segment {
            addr: 0x10_0000,
            len: 10000,
        }];
        let w = sg::write(
            segs.iter().copied(),
            &limits,
            &mut [&mut t[2 * DESC_SIZE..]],
            &DescWriter {
                device_writes: true,
            },
        )
        .unwrap();
        assert_eq!(w.count, 3);
        let lens: [u32; 3] = core::array::from_fn(|i| Desc::read(&t[(2 + i) * DESC_SIZE..]).len);
        assert_eq!(lens, [4096, 4096, 1808]);
        for i in 2..5 {
            let d = Desc::read(&t[i * DESC_SIZE..]);
            assert_eq!(d.flags, DESC_F_NEXT | DESC_F_WRITE);
            assert_eq!(d.next as usize, i + 1);
        }
    }

    #[test]
    fn used_ids_outside_the_queue_are_refused() {
        let q = QueueSize::new(16).unwrap();
        assert!(id_in_range(15, q));
        assert!(!id_in_range(16, q));
        assert!(!id_in_range(u32::MAX, q));
    }
}
