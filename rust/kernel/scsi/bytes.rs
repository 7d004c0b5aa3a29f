// SPDX-License-Identifier: GPL-2.0

//! Little-endian fields of hardware frames and descriptors, stored and loaded with accesses of
//! known size.
//!
//! Frame and descriptor writers run for every command. `copy_from_slice` is not inlined into
//! modules in this kernel: each call is a call to `core::slice::copy_from_slice_impl` in the
//! kernel image and from there to `memcpy`, some 30 guest instructions to store 8 bytes
//! (measured with `tools/profile/insn-profile.py`; `Documentation/scsi/rscsi.rst`). These
//! helpers store through fixed-size arrays instead, so that with constant offsets the compiler
//! checks the bounds once and emits plain stores.
//!
//! This file needs only `core` and is tested on the host (`tools/hosttest`) and in the kernel
//! (KUnit suite `rust_scsi_bytes`).
//!
//! # Examples
//!
//! ```
//! use kernel::scsi::bytes::{get32, put16, put64};
//!
//! let mut desc = [0u8; 16];
//! put64(&mut desc, 0, 0x1000);
//! put16(&mut desc, 12, 1);
//! assert_eq!(get32(&desc, 0), 0x1000);
//! assert_eq!(desc[12], 1);
//! ```

/// Stores the `N` bytes `v` at `off`: one `N`-byte store.
///
/// # Panics
///
/// If `buf` is shorter than `off + N`: callers pass offsets inside the frame they fill, so this
/// is a bug in the caller, which the host tests of each writer catch.
#[inline(always)]
pub fn put<const N: usize>(buf: &mut [u8], off: usize, v: [u8; N]) {
    // The conversion cannot fail (the range is `N` long): it makes this one `N`-byte store.
    if let Ok(d) = <&mut [u8; N]>::try_from(&mut buf[off..off + N]) {
        *d = v;
    }
}

/// Stores `v` little-endian at `off` (see [`put`]).
#[inline(always)]
pub fn put16(buf: &mut [u8], off: usize, v: u16) {
    put(buf, off, v.to_le_bytes());
}

/// Stores `v` little-endian at `off` (see [`put`]).
#[inline(always)]
pub fn put32(buf: &mut [u8], off: usize, v: u32) {
    put(buf, off, v.to_le_bytes());
}

/// Stores `v` little-endian at `off` (see [`put`]).
#[inline(always)]
pub fn put64(buf: &mut [u8], off: usize, v: u64) {
    put(buf, off, v.to_le_bytes());
}

/// Loads the little-endian `u16` at `off`.
///
/// # Panics
///
/// If `buf` is shorter than `off + 2` (as [`put`]).
#[inline]
pub fn get16(buf: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([buf[off], buf[off + 1]])
}

/// Loads the little-endian `u32` at `off`.
///
/// # Panics
///
/// If `buf` is shorter than `off + 4` (as [`put`]).
#[inline]
pub fn get32(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

#[cfg(any(test, CONFIG_RUST_SCSI_KUNIT_TEST))]
#[cfg_attr(not(test), ::kernel::macros::kunit_tests(rust_scsi_bytes))]
mod tests {
    use super::*;

    #[test]
    fn stores_are_little_endian_and_touch_only_their_bytes() {
        let mut b = [0xaau8; 16];
        put64(&mut b, 0, 0x0102_0304_0506_0708);
        put32(&mut b, 8, 0x1122_3344);
        put16(&mut b, 12, 0x5566);
        assert_eq!(
            b,
            [8, 7, 6, 5, 4, 3, 2, 1, 0x44, 0x33, 0x22, 0x11, 0x66, 0x55, 0xaa, 0xaa]
        );
        assert_eq!(get32(&b, 8), 0x1122_3344);
        assert_eq!(get16(&b, 12), 0x5566);
        put(&mut b, 14, [1, 2]);
        assert_eq!(get16(&b, 14), 0x0201);
    }
}
