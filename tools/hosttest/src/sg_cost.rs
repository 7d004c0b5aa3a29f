// SPDX-License-Identifier: GPL-2.0

//! The SG cursor as rmegasas calls it, for `examples/sg_cost.rs` (`tools/profile/sg-cost.sh`):
//! out of line, into IEEE SGEs (`rmegasas`'s `frame::SgeIeee`), returning the count.

use crate::rmegasas_frame::SgeIeee;
use kernel::scsi::sg::{self, Limits, Segment};

/// As rmegasas's `write_sgl()`, with a list of segments checked one by one.
#[inline(never)]
pub fn write_sgl(
    segs: impl Iterator<Item = Segment>,
    limits: &Limits,
    sgl: &mut [u8],
) -> Result<usize, sg::CursorError> {
    sg::write(segs, limits, &mut [sgl], &SgeIeee).map(|w| w.count)
}

/// As rmegasas's `write_sgl()`, with a command's guaranteed list.
#[inline(never)]
pub fn write_sgl_within(
    list: sg::Within<impl sg::Walk>,
    limits: &Limits,
    sgl: &mut [u8],
) -> Result<usize, sg::CursorError> {
    sg::write_within(list, limits, &mut [sgl], &SgeIeee).map(|w| w.count)
}
