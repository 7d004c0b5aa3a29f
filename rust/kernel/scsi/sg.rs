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
//! A command's own list comes with its source's guarantee ([`Within`]: the block layer built it
//! to the queue's limits); [`write_within`] writes such a list without checking each segment
//! when that guarantee covers the HBA's limits, and through [`write`]'s checks otherwise.
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
//!     fn write(&self, out: &mut [u8], seg: Segment) {
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
    /// Whether `seg` may be one descriptor as it is: not empty, not longer than the maximum
    /// and not crossing the boundary.
    #[inline]
    pub fn fits(&self, seg: Segment) -> bool {
        // One comparison for both ends of the length: an empty segment wraps to the largest
        // value (lengths are 32-bit, the arithmetic 64-bit).
        let len_1 = u64::from(seg.len).wrapping_sub(1);
        // The last byte's offset from the boundary below the first: past the mask, it is over
        // the boundary. With a mask of all ones nothing crosses, and the sum may wrap to
        // something that is still not above it.
        len_1 < u64::from(self.max_segment_size)
            && (seg.addr & self.boundary_mask).wrapping_add(len_1) <= self.boundary_mask
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

    /// Writes `seg` into `out`, which is exactly [`Self::SIZE`] bytes.
    fn write(&self, out: &mut [u8], seg: Segment);

    /// Marks the descriptor in `out` (exactly [`Self::SIZE`] bytes, written by
    /// [`Self::write`]) as the final one of the list. [`write`] calls it once per list, on its
    /// last descriptor. The default does nothing, for formats without such a mark (MFI SGEs
    /// take a count in the frame; a virtio driver chains the data to the headers after it).
    #[inline]
    fn mark_last(&self, _out: &mut [u8]) {}
}

/// What [`write`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Descriptors written, over all areas.
    pub count: usize,
    /// Bytes described.
    pub bytes: u64,
    /// Descriptors written before each area entered (the first `used`).
    starts: [usize; MAX_AREAS],
    /// Areas entered.
    used: usize,
}

impl Written {
    /// `count` descriptors, all in the first area, describing `bytes`.
    #[inline]
    fn in_first(count: usize, bytes: u64) -> Self {
        Written {
            count,
            bytes,
            starts: [0; MAX_AREAS],
            used: 1,
        }
    }

    /// Descriptors written in each of the first areas (the rest wrote none). Computed on
    /// demand: most drivers need only [`Written::count`].
    pub fn per_area(&self) -> [usize; MAX_AREAS] {
        let mut per_area = [0; MAX_AREAS];
        let mut end = self.count;
        for i in (0..self.used.min(MAX_AREAS)).rev() {
            per_area[i] = end - self.starts[i];
            end = self.starts[i];
        }
        per_area
    }
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
/// so this is the rule, and [`write_within`] takes advantage of it) costs one comparison before
/// its descriptor is written, and each descriptor one comparison for the space left (an area
/// is cut, when it is entered, to what `limits.max_segments` still allows, so that one
/// comparison checks both); a segment over the limits and the move to the next area are out
/// of line.
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
    let (mut rest, mut more) = More::start(areas, limits.max_segments, W::SIZE);
    let mut bytes = 0u64;
    // The last descriptor written, for `mark_last` (unused, and optimised away, with the
    // default one).
    let mut last: Option<&mut [u8]> = None;
    for seg in segments {
        // The loop ends after at most `limits.max_segments + 1` segments of at most 4 GiB:
        // no real limit wraps this, and a nonsense one gives a nonsense count, not a panic.
        bytes = bytes.wrapping_add(u64::from(seg.len));
        if limits.fits(seg) {
            if rest.len() < W::SIZE {
                rest = more.next_area(W::SIZE)?;
            }
            let (d, after) = core::mem::take(&mut rest).split_at_mut(W::SIZE);
            writer.write(d, seg);
            rest = after;
            last = Some(d);
        } else if seg.len > 0 {
            let (d, after) = write_split(seg, limits, writer, rest, &mut more)?;
            rest = after;
            last = Some(d);
        }
    }
    if let Some(d) = last {
        writer.mark_last(d);
    }
    Ok(more.written(rest.len() / W::SIZE, bytes))
}

/// A list's segments, read one at a time by a caller that counts them: [`write_within`] reads
/// the segment a walk is at and steps it to the next only when it wants one more, so the walk
/// keeps no count of its own (the C loops over `scsi_for_each_sg()` keep one count, too).
pub trait Walk {
    /// The segment the walk is at.
    ///
    /// # Safety
    ///
    /// The walk is at a segment of its list: the list is not empty, and every step was to a
    /// segment that followed (see [`Walk::advance`]).
    unsafe fn segment(&self) -> Segment;

    /// Steps to the segment after the one the walk is at.
    ///
    /// # Safety
    ///
    /// The walk is at a segment of its list, and another segment follows it.
    unsafe fn advance(&mut self);
}

/// A list of segments that its source guarantees: exactly `count` of them, none empty, each
/// within `limits`, read through a [`Walk`] (which [`write_within`] steps `count - 1` times).
///
/// A command's mapped scatterlist is such a list (`Command::mapped_list()`): the block layer
/// builds it to the request queue's limits and the DMA API maps (and, behind an IOMMU, merges)
/// it under the DMA device's parameters, which `scsi_init_limits()` in
/// [`drivers/scsi/scsi_lib.c`](srctree/drivers/scsi/scsi_lib.c) sets to the same host values.
/// A list that broke its limits would give the device descriptors over its limits, not touch
/// memory it does not own; kernels with `CONFIG_RUST_DEBUG_ASSERTIONS` (the harness's debug
/// and race kernels) check every segment against them.
///
/// # Invariants
///
/// When `count > 0`, `walk` is at the first segment of a list that has at least `count`.
pub struct Within<S> {
    count: usize,
    limits: Limits,
    walk: S,
}

impl<S: Walk> Within<S> {
    /// The list of `count` segments `walk` is at the first of, each within `limits`.
    ///
    /// # Safety
    ///
    /// When `count > 0`, `walk` is at the first segment of a list that has at least `count`
    /// (so that it may step `count - 1` times), and that stays so while the result is used.
    #[inline]
    pub unsafe fn new(count: usize, limits: Limits, walk: S) -> Self {
        // INVARIANT: The caller's promise.
        Within {
            count,
            limits,
            walk,
        }
    }

    /// The number of segments.
    #[inline]
    pub fn count(&self) -> usize {
        self.count
    }
}

impl Within<One> {
    /// A list of one segment, guaranteed nothing (checked as [`write`] checks it): a bounce
    /// buffer, a driver's own buffer.
    #[inline]
    pub fn one(seg: Segment) -> Self {
        // INVARIANT: `One` is at its segment, the first of a list of one.
        Within {
            count: 1,
            limits: Limits::NONE,
            walk: One(seg),
        }
    }
}

impl<'a> Within<Slice<'a>> {
    /// The segments of `segs`, each within `limits` (checked on kernels with
    /// `CONFIG_RUST_DEBUG_ASSERTIONS` only, as for any list; [`Limits::NONE`] promises nothing).
    #[inline]
    pub fn slice(segs: &'a [Segment], limits: Limits) -> Self {
        // INVARIANT: `Slice` is at the first of `segs.len()` segments when there are any.
        Within {
            count: segs.len(),
            limits,
            walk: Slice { segs, at: 0 },
        }
    }
}

/// The walk of a list of one segment ([`Within::one`]).
#[derive(Clone, Copy, Debug)]
pub struct One(Segment);

impl Walk for One {
    #[inline]
    unsafe fn segment(&self) -> Segment {
        self.0
    }

    #[inline]
    unsafe fn advance(&mut self) {
        // No segment follows the one: the caller's promise cannot hold, so this is not called.
    }
}

/// The walk of a slice of segments ([`Within::slice`]).
#[derive(Clone, Copy, Debug)]
pub struct Slice<'a> {
    segs: &'a [Segment],
    at: usize,
}

impl Walk for Slice<'_> {
    #[inline]
    unsafe fn segment(&self) -> Segment {
        // Bounds-checked all the same: this walk is for lists nobody counts per segment.
        self.segs[self.at]
    }

    #[inline]
    unsafe fn advance(&mut self) {
        self.at += 1;
    }
}

impl<S: Walk> IntoIterator for Within<S> {
    type Item = Segment;
    type IntoIter = Steps<S>;

    /// The segments, in order, each read once.
    #[inline]
    fn into_iter(self) -> Steps<S> {
        // INVARIANT: Not started; `walk` is at the first of at least `count` segments when
        // `count > 0` (the invariant of `Within`).
        Steps {
            walk: self.walk,
            left: self.count,
            started: false,
        }
    }
}

/// The segments of a [`Within`] list as an iterator, for [`write`] (and any caller that does
/// not count them itself).
///
/// # Invariants
///
/// When `left > 0`, `walk` is at the first of at least `left` segments if not `started`, and
/// at a segment with at least `left` more after it if `started`.
pub struct Steps<S> {
    walk: S,
    left: usize,
    started: bool,
}

impl<S: Walk> Iterator for Steps<S> {
    type Item = Segment;

    #[inline]
    fn next(&mut self) -> Option<Segment> {
        self.left = self.left.checked_sub(1)?;
        if self.started {
            // SAFETY: `left` was above 0: by the invariant, at least that many segments follow
            // the one the walk is at.
            unsafe { self.walk.advance() };
        }
        // INVARIANT: The walk is at a segment with at least the new `left` after it.
        self.started = true;
        // SAFETY: The walk is at a segment: the first (not started, `left` was above 0), or the
        // one it just stepped to.
        Some(unsafe { self.walk.segment() })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl Limits {
    /// No limits: what a list whose source guarantees nothing is within.
    pub const NONE: Limits = Limits {
        max_segment_size: u32::MAX,
        boundary_mask: u64::MAX,
        max_segments: usize::MAX,
    };

    /// Whether a segment within `inner` is within these limits too: its maximum is not above
    /// ours and its boundaries are boundaries of ours (masks one less than powers of two, so
    /// a smaller mask's multiples include the larger's). The count is checked per list.
    #[inline]
    pub fn covers(&self, inner: &Limits) -> bool {
        inner.max_segment_size <= self.max_segment_size && inner.boundary_mask <= self.boundary_mask
    }
}

/// Writes a guaranteed list through `writer` into `areas`, as [`write`] does, without checking
/// each segment when the guarantee is enough: when `limits` covers the list's limits
/// ([`Limits::covers`]) and the first area has room for the whole list (within
/// `limits.max_segments`), each segment costs its descriptor and nothing else, as in the C
/// drivers' loops over `scsi_for_each_sg()`. Otherwise the list goes through [`write`]'s checks.
///
/// # Errors
///
/// As [`write`].
#[inline]
pub fn write_within<S, W>(
    list: Within<S>,
    limits: &Limits,
    areas: &mut [&mut [u8]],
    writer: &W,
) -> Result<Written, CursorError>
where
    S: Walk,
    W: DescriptorWriter,
{
    let room = match areas.first() {
        Some(first) => (first.len() / W::SIZE).min(limits.max_segments),
        None => 0,
    };
    let (count, within) = (list.count, list.limits);
    let (first, mut walk) = match areas.first_mut() {
        Some(first) if count <= room && limits.covers(&within) => (first, list.walk),
        _ => return write(list.into_iter(), limits, areas, writer),
    };
    // Not above `first.len()`: `count` is not above `room`.
    let list = &mut first[..count * W::SIZE];
    let mut descs = list.chunks_exact_mut(W::SIZE);
    let mut bytes = 0u64;
    let mut put = |d: &mut [u8], seg: Segment| {
        debug_assert!(within.fits(seg), "a segment broke its source's guarantee");
        bytes = bytes.wrapping_add(u64::from(seg.len));
        writer.write(d, seg);
    };
    if let Some(d) = descs.next() {
        // SAFETY: `count` is above 0 (there is a descriptor for each segment): by the invariant
        // of `Within`, `walk` is at the first segment.
        put(d, unsafe { walk.segment() });
        // One descriptor for each of the other `count - 1` segments.
        for d in descs {
            // SAFETY: Fewer than `count - 1` steps were taken: a segment follows (the invariant
            // of `Within`), and the walk is at it after the step.
            let seg = unsafe {
                walk.advance();
                walk.segment()
            };
            put(d, seg);
        }
    }
    if let Some(d) = list.chunks_exact_mut(W::SIZE).next_back() {
        writer.mark_last(d);
    }
    Ok(Written::in_first(count, bytes))
}

/// Writes `seg`, which is over the limits, as the pieces they allow, from `rest` on: returns
/// the last descriptor written and what is left of the area then. Out of line, and taking and
/// returning `rest` by value, so that [`write`]'s loop keeps its state in registers.
#[cold]
#[inline(never)]
fn write_split<'a, W: DescriptorWriter>(
    mut seg: Segment,
    limits: &Limits,
    writer: &W,
    mut rest: &'a mut [u8],
    more: &mut More<'a, '_>,
) -> Result<(&'a mut [u8], &'a mut [u8]), CursorError> {
    loop {
        let (piece, left) = limits.cut(seg);
        if rest.len() < W::SIZE {
            rest = more.next_area(W::SIZE)?;
        }
        let (d, after) = core::mem::take(&mut rest).split_at_mut(W::SIZE);
        writer.write(d, piece);
        rest = after;
        match left {
            Some(left) => seg = left,
            None => return Ok((d, rest)),
        }
    }
}

/// The areas [`write`] has not entered yet, and what it took from the ones it entered.
///
/// # Invariants
///
/// Areas `0..used` were entered; area `i < used` was entered with `starts[i]` descriptors
/// taken before it, and the current one (`used - 1`) was cut to `cap` descriptors (at most
/// `max - starts[used - 1]`). The caller's `rest` is the untaken part of the current area, or
/// empty while `used` is 0; `areas` are the areas after the current one.
struct More<'a, 'b> {
    areas: &'a mut [&'b mut [u8]],
    max: usize,
    used: usize,
    cap: usize,
    starts: [usize; MAX_AREAS],
}

impl<'a, 'b> More<'a, 'b> {
    /// Enters the first area, if there is one (most lists fit it: the common case then never
    /// reaches [`More::next_area`]); returns it, cut to what the limit allows, as the caller's
    /// `rest`.
    #[inline]
    fn start(areas: &'a mut [&'b mut [u8]], max: usize, size: usize) -> (&'a mut [u8], Self) {
        let mut more = More {
            areas: &mut [],
            max,
            used: 0,
            cap: 0,
            starts: [0; MAX_AREAS],
        };
        match areas.split_first_mut() {
            Some((first, after)) => {
                more.areas = after;
                // INVARIANT: Area 0 entered with nothing taken, cut to `cap` descriptors.
                more.used = 1;
                more.cap = (first.len() / size).min(max);
                let end = more.cap * size;
                (&mut first[..end], more)
            }
            // INVARIANT: Nothing entered.
            None => (&mut [], more),
        }
    }

    /// Descriptors taken when `left` are still free in the current area.
    #[inline]
    fn taken(&self, left: usize) -> usize {
        match self.used.checked_sub(1) {
            Some(cur) => self.starts.get(cur).copied().unwrap_or(0) + self.cap - left,
            None => 0,
        }
    }

    /// Enters the first of the remaining areas with room for a descriptor of `size` bytes once
    /// the current one is full, and returns it cut to what the limit still allows (areas too
    /// small for one are entered and left empty).
    #[cold]
    #[inline(never)]
    fn next_area(&mut self, size: usize) -> Result<&'a mut [u8], CursorError> {
        let taken = self.taken(0);
        loop {
            if taken >= self.max {
                return Err(CursorError::TooManySegments);
            }
            let (area, after) = core::mem::take(&mut self.areas)
                .split_first_mut()
                .ok_or(CursorError::TooManySegments)?;
            self.areas = after;
            if let Some(start) = self.starts.get_mut(self.used) {
                *start = taken;
            }
            // INVARIANT: `area` is entered with `taken` before it, cut to `cap`.
            self.used += 1;
            self.cap = (area.len() / size).min(self.max - taken);
            if self.cap > 0 {
                let end = self.cap * size;
                return Ok(&mut area[..end]);
            }
        }
    }

    /// What was written, `left` descriptors still free in the current area, `bytes` described.
    #[inline]
    fn written(&self, left: usize, bytes: u64) -> Written {
        Written {
            count: self.taken(left),
            bytes,
            starts: self.starts,
            used: self.used,
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
        fn write(&self, out: &mut [u8], seg: Segment) {
            out[0..8].copy_from_slice(&seg.addr.to_le_bytes());
            out[8..12].copy_from_slice(&seg.len.to_le_bytes());
        }
        fn mark_last(&self, out: &mut [u8]) {
            out[11] |= 0x80;
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
    fn fits_at_the_edges() {
        let l = Limits {
            max_segment_size: 0x1000,
            boundary_mask: 0xffff,
            max_segments: 4,
        };
        let fits = |addr, len| l.fits(Segment { addr, len });
        assert!(!fits(0x1000, 0));
        assert!(fits(0x1000, 1) && fits(0x1000, 0x1000) && !fits(0x1000, 0x1001));
        // Up to the boundary, and one byte over it.
        assert!(fits(0xf000, 0x1000) && !fits(0xf001, 0x1000));
        assert!(fits(0x1_0000, 0x1000));
        // No limits: nothing but an empty segment is refused, even at the top of the space.
        let l = Limits {
            max_segment_size: u32::MAX,
            boundary_mask: u64::MAX,
            max_segments: 4,
        };
        assert!(l.fits(Segment {
            addr: u64::MAX - 0xfff,
            len: 0x1000
        }));
        assert!(l.fits(Segment {
            addr: 0,
            len: u32::MAX
        }));
        assert!(!l.fits(Segment { addr: 0, len: 0 }));
        // A 4 GiB boundary: a segment across it is cut there.
        let l = Limits {
            boundary_mask: u64::from(u32::MAX),
            ..l
        };
        let seg = Segment {
            addr: 0xffff_f000,
            len: 0x2000,
        };
        assert!(!l.fits(seg));
        assert_eq!(l.first_piece(seg), 0x1000);
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
        assert_eq!(&w.per_area()[..2], &[2, 3]);
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
                    let per_area = w.per_area();
                    assert_eq!(per_area.iter().sum::<usize>(), w.count);
                    // Gather the descriptors area by area; an area is used only once the ones
                    // before it are full.
                    let mut out = [Segment { addr: 0, len: 0 }; 64];
                    let mut cnt = 0;
                    for (i, area) in areas.iter().enumerate() {
                        let k = per_area[i];
                        if k > 0 && i > 0 {
                            assert_eq!(per_area[i - 1], areas[i - 1].len() / 12);
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

    /// Property: a guaranteed list ([`write_within`]) comes out exactly as [`write`] writes the
    /// same segments (descriptors, count, bytes, areas), whether the cursor's limits cover the
    /// guarantee (the unchecked loop), are tighter (the checked path, splitting), or the list
    /// does not fit the first area (spilling or refused).
    #[test]
    fn property_within_writes_as_write() {
        let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
        let random_limits = |rng: &mut Rng| Limits {
            max_segment_size: 1 + rng.below(0x3000) as u32,
            boundary_mask: (1u64 << (9 + rng.below(8))) - 1,
            max_segments: 1 + rng.below(40) as usize,
        };
        for round in 0..500 {
            // A list built to `within`, as the block layer builds one to the queue's limits.
            let within = random_limits(&mut rng);
            let mut raw = [Segment { addr: 0, len: 0 }; 8];
            let mut addr = rng.below(1 << 20);
            for s in raw.iter_mut() {
                addr += rng.below(0x4000);
                *s = Segment {
                    addr,
                    len: 1 + rng.below(0x6000) as u32,
                };
                addr += u64::from(s.len);
            }
            let mut list = [Segment { addr: 0, len: 0 }; 64];
            let mut n = 0;
            for p in split(raw[..1 + rng.below(8) as usize].iter().copied(), &within).take(64) {
                list[n] = p;
                n += 1;
            }
            let list = &list[..n];
            // The cursor's limits: the same, looser or tighter (every third round of each).
            let limits = match round % 3 {
                0 => within,
                1 => Limits::NONE,
                _ => random_limits(&mut rng),
            };
            let limits = Limits {
                max_segments: 1 + rng.below(64) as usize,
                ..limits
            };
            let mut a = [0u8; 12 * 70];
            let mut b = [0u8; 12 * 70];
            let cut = rng.below(12 * 40) as usize;
            let (a0, a1) = a.split_at_mut(cut);
            let (b0, b1) = b.split_at_mut(cut);
            let expected = write(list.iter().copied(), &limits, &mut [a0, a1], &Rec);
            let guaranteed = Within::slice(list, within);
            let got = write_within(guaranteed, &limits, &mut [b0, b1], &Rec);
            assert_eq!(got, expected);
            if let (Ok(g), Ok(e)) = (got, expected) {
                assert_eq!(g.per_area(), e.per_area());
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn one_segment_is_checked() {
        let l = Limits {
            max_segment_size: 0x1000,
            boundary_mask: u64::MAX,
            max_segments: 4,
        };
        let mut area = [0u8; 48];
        let seg = Segment {
            addr: 0x10_0000,
            len: 0x2800,
        };
        let w = write_within(Within::one(seg), &l, &mut [&mut area[..]], &Rec).unwrap();
        assert_eq!((w.count, w.bytes), (3, 0x2800));
        let (last, marked) = read_one(&area[24..]);
        assert!(marked);
        assert_eq!(last.len, 0x800);
    }
}
