// SPDX-License-Identifier: GPL-2.0

//! A small deterministic pseudo-random generator for the property tests of the drivers' pure
//! logic (descriptor writers, frame and response decoding), so that a test that fails on the
//! host fails the same way in KUnit, and for anything else that must replay from a seed.
//!
//! xorshift64* (Marsaglia's xorshift with Vigna's multiplier): not for anything an adversary
//! sees. The kernel's own `prandom` is not on the host; this is the same on both.
//!
//! This file needs only `core` and is tested on the host (`tools/hosttest`) and in the kernel
//! (KUnit suite `rust_scsi_rng`).
//!
//! # Examples
//!
//! ```
//! use kernel::scsi::rng::Rng;
//!
//! let mut rng = Rng::new(7);
//! let mut buf = [0u8; 16];
//! rng.fill(&mut buf);
//! assert!(rng.below(10) < 10);
//! ```

/// A seeded xorshift64* generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with `seed` (0, which xorshift cannot leave, is taken as another seed).
    pub const fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (`n` must not be 0; the slight bias of the modulo does not matter
    /// to a test).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(any(test, CONFIG_RUST_SCSI_KUNIT_TEST))]
#[cfg_attr(not(test), ::kernel::macros::kunit_tests(rust_scsi_rng))]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        // A zero seed does not get stuck at zero.
        let mut z = Rng::new(0);
        assert_ne!(z.next_u64(), 0);
    }

    #[test]
    fn below_and_fill_stay_in_range() {
        let mut r = Rng::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = r.below(10);
            assert!(v < 10);
            // CAST: below 10.
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        // A length that is not a multiple of 8 is filled to its end.
        let mut buf = [0u8; 13];
        r.fill(&mut buf);
        assert!(buf[8..].iter().any(|b| *b != 0));
    }
}
