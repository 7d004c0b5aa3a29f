// SPDX-License-Identifier: GPL-2.0

//! What the SG cursor costs per segment, on the host: `sg::write` over a scatterlist laid out
//! as the kernel's (`struct scatterlist` with `dma_length`, chain links, end mark), walked the
//! way `Command::segments()` walks it, into 16-byte IEEE SGEs as rmegasas writes them.
//!
//! `cargo run --release --example sg_cost -- SEGS ITERS` runs the writer ITERS times on a list
//! of SEGS segments; run it under `valgrind --tool=callgrind` twice (two segment counts) and
//! divide the difference in `write_sgl`'s instructions by the difference in segments
//! (`tools/profile/sg-cost.sh` does that). The kernel's code generation differs (no SSE,
//! kernel code model), so the figure guides changes; the guest profiler measures them.

use kernel::scsi::sg::{self, Limits, Segment};
use rscsi_hosttest::sg_cost::{write_sgl, write_sgl_within};

/// `struct scatterlist` on x86_64 with `CONFIG_NEED_SG_DMA_LENGTH`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Scatterlist {
    page_link: u64,
    offset: u32,
    length: u32,
    dma_address: u64,
    dma_length: u32,
    dma_flags: u32,
}

const SG_CHAIN: u64 = 1;
const SG_END: u64 = 2;
const SG_PAGE_LINK_MASK: u64 = 3;

/// `sg_chain_ptr()`, out of line: chain links are rare.
#[cold]
#[inline(never)]
fn chain_ptr(link: u64) -> *mut Scatterlist {
    core::ptr::with_exposed_provenance_mut(usize::try_from(link & !SG_PAGE_LINK_MASK).unwrap())
}

/// `Command::segments()`: the first `n` entries from `sg`, as an iterator over the walk below.
#[inline(always)]
fn segments(sg: *mut Scatterlist, n: usize) -> impl Iterator<Item = Segment> {
    mapped_list(sg, n, Limits::NONE).into_iter()
}

/// `kernel::scsi`'s `SgWalk`: an entry of a list, stepped by its caller, following chain links.
struct SgWalk(*mut Scatterlist);

impl sg::Walk for SgWalk {
    #[inline(always)]
    unsafe fn segment(&self) -> Segment {
        // SAFETY: The walk is at an entry of the list (the caller's promise).
        let e = unsafe { &*self.0 };
        Segment {
            addr: e.dma_address,
            len: e.dma_length,
        }
    }

    #[inline(always)]
    unsafe fn advance(&mut self) {
        // SAFETY: An entry follows (the caller's promise): `self.0 + 1` is it or a chain link.
        let next = unsafe { self.0.add(1) };
        // SAFETY: As above.
        let link = unsafe { (*next).page_link };
        self.0 = if link & SG_CHAIN != 0 {
            chain_ptr(link)
        } else {
            next
        };
    }
}

/// `Command::mapped_list()`: the same list, as a guaranteed list (the block layer's limits).
#[inline(always)]
fn mapped_list(sg: *mut Scatterlist, n: usize, within: Limits) -> sg::Within<SgWalk> {
    // SAFETY: `sg` is the first of `n` entries (built by `main`).
    unsafe { sg::Within::new(n, within, SgWalk(sg)) }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("SEGS ITERS"))
        .collect();
    let (segs, iters) = (args[0], args[1]);
    // Two arrays chained, as the block layer's inline list and its chained rest.
    let first = segs.min(8);
    let mut a = vec![Scatterlist::default(); first + 1];
    let mut b = vec![Scatterlist::default(); segs.saturating_sub(first).max(1)];
    for (i, e) in a.iter_mut().chain(b.iter_mut()).enumerate() {
        e.dma_address = 0x1_0000_0000 + (i as u64) * 0x2000;
        e.dma_length = 4096;
        e.length = 4096;
    }
    let bp = b.as_mut_ptr();
    a[first].page_link = (bp.expose_provenance() as u64) | SG_CHAIN;
    if segs <= first {
        a[segs - 1].page_link = SG_END;
    } else {
        let last = b.len() - 1;
        b[last].page_link = SG_END;
    }
    let limits = Limits {
        max_segment_size: u32::MAX,
        boundary_mask: u64::from(u32::MAX),
        max_segments: 128,
    };
    let mut sgl = vec![0u8; 16 * 128];
    let mut total = 0u64;
    // The queue's limits, as the host gave them to the block layer.
    let queue = Limits {
        max_segment_size: 65536,
        boundary_mask: u64::from(u32::MAX),
        max_segments: 128,
    };
    for _ in 0..iters {
        let list = mapped_list(std::hint::black_box(a.as_mut_ptr()), segs, queue);
        let w = write_sgl_within(list, &limits, &mut sgl).unwrap();
        total += w as u64 * 4096;
    }
    for _ in 0..iters {
        let w = write_sgl(
            segments(std::hint::black_box(a.as_mut_ptr()), segs),
            &limits,
            &mut sgl,
        )
        .unwrap();
        total += w as u64 * 4096;
    }
    assert_eq!(total, (2 * segs * 4096 * iters) as u64);
    println!("{segs} segments x {iters}: ok");
}
