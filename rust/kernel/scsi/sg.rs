// SPDX-License-Identifier: GPL-2.0

//! The SG cursor: turns a command's DMA-mapped scatterlist into hardware descriptors.
//!
//! C counterparts: the loops every HBA driver writes over `scsi_for_each_sg()` (for example
//! `megasas_make_sgl64()` in
//! [`drivers/scsi/megaraid/megaraid_sas_base.c`](srctree/drivers/scsi/megaraid/megaraid_sas_base.c)
//! and `virtscsi_add_cmd()`), and the block layer's segment limits in
//! [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h) (`max_segment_size`,
//! `seg_boundary_mask`, `max_segments`).
//!
//! A cursor walks [`Segment`]s (bus address and length), splits each at the HBA's
//! [`Limits::max_segment_size`] and at its DMA boundary, and writes each piece through a
//! [`DescriptorWriter`] that knows the hardware's format (MFI 32-bit, 64-bit and IEEE SGEs,
//! virtio descriptors; all little-endian). Descriptors fill the areas given to [`write`] in
//! order: an area is the inline space in a frame, then chained or indirect space. When a list
//! needs more descriptors than [`Limits::max_segments`] or the areas hold, [`write`] fails with
//! [`CursorError::TooManySegments`]; the driver does not post what was written and copies the
//! data through a bounce buffer instead, and counts it.
//!
//! The cursor keeps no state between calls, so any number of CPUs may use it at once.
//!
//! This file needs only `core` and is tested on the host (`tools/hosttest`, with property
//! tests) and in the kernel (KUnit suite `rust_scsi_sg`).
//!
//! # Examples
//!
//! ```
//! use kernel::scsi::sg::{self, DescriptorWriter, Limits, Segment};
//!
//! /// A 64-bit address and a 32-bit length, 12 bytes, little-endian.
//! struct Sge64;
//!
//! impl DescriptorWriter for Sge64 {
//!     const SIZE: usize = 12;
//!     fn write(&self, out: &mut [u8], seg: Segment, _last: bool) {
//!         out[0..8].copy_from_slice(&seg.addr.to_le_bytes());
//!         out[8..12].copy_from_slice(&seg.len.to_le_bytes());
//!     }
//! }
//!
//! let limits = Limits { max_segment_size: 4096, boundary_mask: 0xffff_ffff, max_segments: 8 };
//! let mut frame = [0u8; 96];
//! // 6 KiB from 0x1000: two descriptors, split at the maximum segment size.
//! let segs = [Segment { addr: 0x1000, len: 6144 }];
//! let written = sg::write(segs.iter().copied(), &limits, &mut [&mut frame[..]], &Sge64)
//!     .map_err(|_| EINVAL)?;
//! assert_eq!(written.count, 2);
//! assert_eq!(written.bytes, 6144);
//! assert_eq!(&frame[12..20], &0x2000u64.to_le_bytes());
//! # Ok::<(), Error>(())
//! ```

/// A DMA segment: a bus address and a length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Bus address of the first byte.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
}

/// What one HBA's descriptors can describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest segment one descriptor may hold (at least 1).
    pub max_segment_size: u32,
    /// No segment may cross an address that is a multiple of `boundary_mask + 1`
    /// (`dma_boundary`; all ones for no boundary). Must be one less than a power of two.
    pub boundary_mask: u64,
    /// The most descriptors one command may use (`sg_tablesize`).
    pub max_segments: usize,
}

impl Limits {
    /// Whether `seg` (not empty) may be one descriptor as it is: not longer than the maximum
    /// and not crossing the boundary.
    #[inline]
    pub fn fits(&self, seg: Segment) -> bool {
        let last = seg.addr.wrapping_add(u64::from(seg.len).wrapping_sub(1));
        seg.len <= self.max_segment_size && (seg.addr ^ last) & !self.boundary_mask == 0
    }

    /// Cuts the first piece that respects these limits off `seg`: the piece, and what is left
    /// of `seg` after it, if anything.
    #[inline]
    pub fn cut(&self, seg: Segment) -> (Segment, Option<Segment>) {
        let len = self.first_piece(seg);
        let piece = Segment {
            addr: seg.addr,
            len,
        };
        if len == seg.len {
            return (piece, None);
        }
        let rest = Segment {
            addr: seg.addr + u64::from(len),
            len: seg.len - len,
        };
        (piece, Some(rest))
    }

    /// The length of the first piece of `seg` that respects these limits.
    #[inline]
    pub fn first_piece(&self, seg: Segment) -> u32 {
        let len = seg.len.min(self.max_segment_size);
        // Bytes from `addr` to the next boundary; saturates for a mask of all ones.
        let room = (self.boundary_mask - (seg.addr & self.boundary_mask)).saturating_add(1);
        // `room` below `len` fits in a `u32`; otherwise `len` is the answer.
        u32::try_from(room).map_or(len, |room| len.min(room))
    }
}

/// Iterator adapter that splits segments at [`Limits`]; see [`split`].
#[derive(Clone, Debug)]
pub struct Split<I> {
    inner: I,
    cur: Option<Segment>,
    limits: Limits,
}

/// Splits `segments` so that none exceeds `limits.max_segment_size` or crosses the boundary.
/// Zero-length segments are skipped.
#[inline]
pub fn split<I: Iterator<Item = Segment>>(segments: I, limits: &Limits) -> Split<I> {
    Split {
        inner: segments,
        cur: None,
        limits: *limits,
    }
}

impl<I: Iterator<Item = Segment>> Iterator for Split<I> {
    type Item = Segment;

    #[inline]
    fn next(&mut self) -> Option<Segment> {
        loop {
            let seg = match self.cur.take() {
                Some(s) => s,
                None => self.inner.next()?,
            };
            if seg.len == 0 {
                continue;
            }
            let (piece, rest) = self.limits.cut(seg);
            self.cur = rest;
            return Some(piece);
        }
    }
}

/// Writes one descriptor in a hardware format.
pub trait DescriptorWriter {
    /// Size of one descriptor in bytes.
    const SIZE: usize;

    /// Writes `seg` into `out`, which is exactly [`Self::SIZE`] bytes. `last` is true for the
    /// final descriptor of the list. [`write`] writes each descriptor with `last` false and
    /// then the final one again with `last` true, so this must write the whole descriptor from
    /// its arguments, whatever `out` held.
    fn write(&self, out: &mut [u8], seg: Segment, last: bool);
}

/// What [`write`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Descriptors written, over all areas.
    pub count: usize,
    /// Descriptors written in each of the first areas (the rest wrote none).
    pub per_area: [usize; MAX_AREAS],
    /// Bytes described.
    pub bytes: u64,
}

/// The most areas one [`write`] fills.
pub const MAX_AREAS: usize = 4;

/// Why a list could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorError {
    /// The list needs more descriptors than the limits or the areas allow: bounce it.
    TooManySegments,
    /// More areas than [`MAX_AREAS`] were given.
    TooManyAreas,
}

/// Writes `segments`, split at `limits`, through `writer` into `areas` in order.
///
/// Each area holds `area.len() / W::SIZE` descriptors. One pass, no allocation. A segment that
/// is already within the limits (the block layer builds lists to the limits the host gave it,
/// so this is the rule) costs one comparison before its descriptor is written; only a segment
/// over the limits goes through the splitting loop.
///
/// # Errors
///
/// [`CursorError::TooManySegments`] when the split list needs more than
/// `limits.max_segments` descriptors or more than the areas hold. The areas then hold a
/// partial list, which the driver must not post: it bounces the command instead.
#[inline]
pub fn write<I, W>(
    segments: I,
    limits: &Limits,
    areas: &mut [&mut [u8]],
    writer: &W,
) -> Result<Written, CursorError>
where
    I: Iterator<Item = Segment>,
    W: DescriptorWriter,
{
    if areas.len() > MAX_AREAS {
        return Err(CursorError::TooManyAreas);
    }
    let mut out = Out::new(areas, limits.max_segments);
    let mut bytes = 0u64;
    // The last descriptor written, and what it holds: it is written again, marked last, when
    // the list ends (no look-ahead in the loop, which costs more per segment than one
    // descriptor written twice per list).
    let mut last: Option<(&mut [u8], Segment)> = None;
    for mut seg in segments {
        if seg.len == 0 {
            continue;
        }
        // The loop ends after at most `limits.max_segments + 1` segments of at most 4 GiB:
        // no real limit wraps this, and a nonsense one gives a nonsense count, not a panic.
        bytes = bytes.wrapping_add(u64::from(seg.len));
        loop {
            let (piece, rest) = if limits.fits(seg) {
                (seg, None)
            } else {
                limits.cut(seg)
            };
            let d = out.next(W::SIZE)?;
            writer.write(d, piece, false);
            last = Some((d, piece));
            let Some(rest) = rest else {
                break;
            };
            seg = rest;
        }
    }
    if let Some((d, seg)) = last {
        writer.write(d, seg, true);
    }
    Ok(out.written(bytes))
}

/// Where [`write`] puts the next descriptor: the unused part of the current area, then the
/// areas not yet used.
///
/// The two fields the loop touches for every descriptor (`rest`, `left`) are apart from the
/// state only a move to the next area needs ([`More`]): that move is an out-of-line call, and
/// only `more`'s address goes to it, so `rest` and `left` stay in registers across the loop.
///
/// # Invariants
///
/// `more.max - left` descriptors were taken; `rest` is the unused tail of area
/// `more.used - 1` (empty while `more.used` is 0) and `more.areas` the areas after it.
struct Out<'a, 'b> {
    rest: &'a mut [u8],
    left: usize,
    more: More<'a, 'b>,
}

/// The areas [`Out`] has not entered yet, and where each entered one started.
///
/// # Invariants
///
/// `starts[i]` is the number of descriptors taken when area `i < used` was entered.
struct More<'a, 'b> {
    areas: &'a mut [&'b mut [u8]],
    max: usize,
    used: usize,
    starts: [usize; MAX_AREAS],
}

impl<'a, 'b> Out<'a, 'b> {
    /// Starts in the first area, if there is one (most lists fit it: the common case then
    /// never reaches [`More::next_area`]).
    #[inline]
    fn new(areas: &'a mut [&'b mut [u8]], max: usize) -> Self {
        let (rest, areas, used): (&'a mut [u8], _, _) = match areas.split_first_mut() {
            Some((first, after)) => (&mut **first, after, 1),
            None => (&mut [], &mut [], 0),
        };
        // INVARIANT: Nothing taken; `rest` is area 0 (`used` 1, `starts[0]` 0) or, with no
        // areas, empty (`used` 0).
        Out {
            rest,
            left: max,
            more: More {
                areas,
                max,
                used,
                starts: [0; MAX_AREAS],
            },
        }
    }

    /// The next `size` bytes for a descriptor.
    #[inline]
    fn next(&mut self, size: usize) -> Result<&'a mut [u8], CursorError> {
        if self.left == 0 {
            return Err(CursorError::TooManySegments);
        }
        if self.rest.len() < size {
            self.rest = self.more.next_area(size, self.more.max - self.left)?;
        }
        self.left -= 1;
        // In bounds: `rest` holds at least `size` bytes, checked above or so returned by
        // `next_area`.
        let (d, rest) = core::mem::take(&mut self.rest).split_at_mut(size);
        self.rest = rest;
        Ok(d)
    }

    /// What was written, with `bytes` described.
    #[inline]
    fn written(&self, bytes: u64) -> Written {
        let count = self.more.max - self.left;
        let mut per_area = [0; MAX_AREAS];
        let mut end = count;
        for i in (0..self.more.used.min(MAX_AREAS)).rev() {
            per_area[i] = end - self.more.starts[i];
            end = self.more.starts[i];
        }
        Written {
            count,
            per_area,
            bytes,
        }
    }
}

impl<'a, 'b> More<'a, 'b> {
    /// Enters the first of the remaining areas with room for a descriptor of `size` bytes,
    /// `taken` descriptors in, and returns it (areas too small for one are entered and left
    /// empty).
    #[cold]
    fn next_area(&mut self, size: usize, taken: usize) -> Result<&'a mut [u8], CursorError> {
        loop {
            let (area, after) = core::mem::take(&mut self.areas)
                .split_first_mut()
                .ok_or(CursorError::TooManySegments)?;
            self.areas = after;
            if let Some(start) = self.starts.get_mut(self.used) {
                *start = taken;
            }
            self.used += 1;
            if area.len() >= size {
                return Ok(&mut **area);
            }
        }
    }
}

#[cfg(any(test, CONFIG_RUST_SCSI_KUNIT_TEST))]
#[cfg_attr(not(test), ::kernel::macros::kunit_tests(rust_scsi_sg))]
mod tests {
    use super::*;
    use crate::scsi::rng::Rng;

    /// Records segments as 12-byte little-endian descriptors, marking the last in byte 11's
    /// top bit (lengths in tests stay below 2^31).
    struct Rec;

    impl DescriptorWriter for Rec {
        const SIZE: usize = 12;
        fn write(&self, out: &mut [u8], seg: Segment, last: bool) {
            out[0..8].copy_from_slice(&seg.addr.to_le_bytes());
            let len = seg.len | if last { 0x8000_0000 } else { 0 };
            out[8..12].copy_from_slice(&len.to_le_bytes());
        }
    }

    /// The descriptor at the start of `d` and whether it is marked last.
    fn read_one(d: &[u8]) -> (Segment, bool) {
        let mut a = [0u8; 8];
        a.copy_from_slice(&d[0..8]);
        let l = u32::from_le_bytes([d[8], d[9], d[10], d[11]]);
        let seg = Segment {
            addr: u64::from_le_bytes(a),
            len: l & 0x7fff_ffff,
        };
        (seg, l & 0x8000_0000 != 0)
    }

    #[test]
    fn splits_at_size_and_boundary() {
        let l = Limits {
            max_segment_size: 0x1000,
            boundary_mask: 0xffff,
            max_segments: 16,
        };
        let segs = [Segment {
            addr: 0xf800,
            len: 0x2000,
        }];
        let mut pieces = [Segment { addr: 0, len: 0 }; 4];
        let mut n = 0;
        for (i, p) in split(segs.iter().copied(), &l).enumerate() {
            pieces[i] = p;
            n += 1;
        }
        assert_eq!(n, 3);
        assert_eq!(
            pieces[0],
            Segment {
                addr: 0xf800,
                len: 0x800
            }
        );
        assert_eq!(
            pieces[1],
            Segment {
                addr: 0x10000,
                len: 0x1000
            }
        );
        assert_eq!(
            pieces[2],
            Segment {
                addr: 0x11000,
                len: 0x800
            }
        );
    }

    #[test]
    fn no_boundary_and_zero_lengths() {
        let l = Limits {
            max_segment_size: u32::MAX,
            boundary_mask: u64::MAX,
            max_segments: 4,
        };
        let segs = [
            Segment {
                addr: u64::MAX - 0xfff,
                len: 0x1000,
            },
            Segment {
                addr: 0x5000,
                len: 0,
            },
        ];
        assert_eq!(split(segs.iter().copied(), &l).count(), 1);
    }

    #[test]
    fn too_many_is_refused() {
        let l = Limits {
            max_segment_size: 512,
            boundary_mask: u64::MAX,
            max_segments: 3,
        };
        let mut area = [0x55u8; 36];
        let segs = [Segment { addr: 0, len: 2048 }];
        let r = write(segs.iter().copied(), &l, &mut [&mut area[..]], &Rec);
        assert_eq!(r, Err(CursorError::TooManySegments));
        // Limited by the area rather than max_segments.
        let l = Limits {
            max_segments: 100,
            ..l
        };
        let r = write(segs.iter().copied(), &l, &mut [&mut area[..]], &Rec);
        assert_eq!(r, Err(CursorError::TooManySegments));
    }

    #[test]
    fn spills_into_the_next_area() {
        let l = Limits {
            max_segment_size: 0x1000,
            boundary_mask: u64::MAX,
            max_segments: 8,
        };
        // The inline area holds two descriptors (and a spare 4 bytes); the chain holds four.
        let mut inline = [0u8; 28];
        let mut chain = [0u8; 48];
        let segs = [Segment {
            addr: 0x10_0000,
            len: 0x5000,
        }];
        let w = write(
            segs.iter().copied(),
            &l,
            &mut [&mut inline[..], &mut chain[..]],
            &Rec,
        )
        .unwrap();
        assert_eq!(w.count, 5);
        assert_eq!(&w.per_area[..2], &[2, 3]);
        let (a1, last_a) = read_one(&inline[12..]);
        let (b0, _) = read_one(&chain);
        let (b2, last_b) = read_one(&chain[24..]);
        assert!(!last_a && last_b);
        assert_eq!(a1.addr, 0x10_1000);
        assert_eq!(b0.addr, 0x10_2000);
        assert_eq!(
            b2,
            Segment {
                addr: 0x10_4000,
                len: 0x1000
            }
        );
    }

    /// Property: over random lists, limits and areas (inline space then up to three chained
    /// areas, of sizes that need not be multiples of a descriptor), every input byte appears
    /// once and in order, no piece exceeds the maximum or crosses the boundary, only the final
    /// descriptor is marked last, areas fill in order, and the count respects the limit or the
    /// call fails (the bounce path).
    #[test]
    fn property_every_byte_once_in_order() {
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
        for _ in 0..500 {
            let l = Limits {
                max_segment_size: 1 + rng.below(0x3000) as u32,
                boundary_mask: (1u64 << (9 + rng.below(8))) - 1,
                max_segments: 1 + rng.below(40) as usize,
            };
            let n = 1 + rng.below(8) as usize;
            let mut segs = [Segment { addr: 0, len: 0 }; 8];
            let mut addr = rng.below(1 << 20);
            for s in segs.iter_mut().take(n) {
                // Gaps between segments, as a scatterlist over scattered pages has.
                addr += rng.below(0x4000);
                *s = Segment {
                    addr,
                    len: rng.below(0x6000) as u32,
                };
                addr += u64::from(s.len);
            }
            let input = &segs[..n];
            let total: u64 = input.iter().map(|s| u64::from(s.len)).sum();
            let mut buf = [0u8; 12 * 64];
            // Cut the buffer into 1 to 4 areas of random sizes.
            let nareas = 1 + rng.below(4) as usize;
            let mut cuts = [buf.len(); MAX_AREAS];
            cuts[0] = 0;
            for i in 1..nareas {
                cuts[i] = cuts[i - 1] + rng.below(12 * 16 + 1) as usize;
            }
            let capacity: usize = (0..nareas)
                .map(|i| (cuts.get(i + 1).copied().unwrap_or(buf.len()) - cuts[i]) / 12)
                .sum();
            let (a0, rest) = buf.split_at_mut(cuts[1]);
            let (a1, rest) = rest.split_at_mut(cuts[2] - cuts[1]);
            let (a2, a3) = rest.split_at_mut(cuts[3] - cuts[2]);
            let mut all = [a0, a1, a2, a3];
            let areas = &mut all[..nareas];
            let expected = split(input.iter().copied(), &l).count();
            match write(input.iter().copied(), &l, areas, &Rec) {
                Err(e) => {
                    assert_eq!(e, CursorError::TooManySegments);
                    assert!(expected > l.max_segments.min(capacity));
                }
                Ok(w) => {
                    assert!(w.count <= l.max_segments);
                    assert_eq!(w.count, expected);
                    assert_eq!(w.bytes, total);
                    assert_eq!(w.per_area.iter().sum::<usize>(), w.count);
                    // Gather the descriptors area by area; an area is used only once the ones
                    // before it are full.
                    let mut out = [Segment { addr: 0, len: 0 }; 64];
                    let mut cnt = 0;
                    for (i, area) in areas.iter().enumerate() {
                        let k = w.per_area[i];
                        if k > 0 && i > 0 {
                            assert_eq!(w.per_area[i - 1], areas[i - 1].len() / 12);
                        }
                        for j in 0..k {
                            let (s, last) = read_one(&area[j * 12..]);
                            assert_eq!(last, cnt + 1 == w.count);
                            out[cnt] = s;
                            cnt += 1;
                        }
                    }
                    assert_eq!(cnt, w.count);
                    // Walk the input byte ranges alongside the output pieces.
                    let mut i = 0;
                    let mut off = 0u64;
                    for p in &out[..cnt] {
                        while u64::from(input[i].len) == off {
                            i += 1;
                            off = 0;
                        }
                        assert_eq!(p.addr, input[i].addr + off);
                        assert!(p.len >= 1 && p.len <= l.max_segment_size);
                        assert!(off + u64::from(p.len) <= u64::from(input[i].len));
                        let first = p.addr & !l.boundary_mask;
                        let lastb = (p.addr + u64::from(p.len) - 1) & !l.boundary_mask;
                        assert_eq!(first, lastb);
                        off += u64::from(p.len);
                    }
                }
            }
        }
    }
}
