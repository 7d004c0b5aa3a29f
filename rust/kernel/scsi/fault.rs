// SPDX-License-Identifier: GPL-2.0

//! Test-only fault knobs: a device that misbehaves, on demand.
//!
//! A driver's error paths are only as good as the tests that reach them, and a device that
//! behaves never does. A [`Knob`] makes the driver see, for the next N events it applies to,
//! what a broken device would give it (a completion reported twice, a context never posted, a
//! length larger than its buffer, a lost interrupt). Knobs are off unless armed, cost one
//! relaxed load where they are checked, and are armed through the host's debugfs `state`
//! file ([`crate::scsi::HostOps::debugfs_write`]), in the form [`parse`] reads:
//! `fault NAME N` (at most [`MAX_SHOTS`]), or `fault NAME` for a knob that takes no count.
//!
//! What a driver must do: keep its knobs in a [`KnobSet`] in its host data, `take()` one where
//! its fault applies (one relaxed load when no knob is armed), pass `fault ...` commands of
//! its debugfs file to [`KnobSet::command`] and show [`KnobSet::show`] there, count what the
//! driver itself did about each fault in a counter of its own (a test compares the two), and
//! document each knob as test-only.
//!
//! # Examples
//!
//! ```
//! use kernel::scsi::fault::{parse, Knob};
//!
//! let twice = Knob::new();
//! let cmd = parse(b"twice 2")?;
//! assert_eq!((cmd.name, cmd.shots), (&b"twice"[..], Some(2)));
//! twice.arm(cmd.shots.unwrap_or(1));
//! assert!(twice.take() && twice.take() && !twice.take());
//! assert_eq!(twice.fired(), 2);
//! assert!(parse(b"twice 1001").is_err());
//! # Ok::<(), Error>(())
//! ```

use crate::{
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

/// The most events a knob may be armed for at once.
pub const MAX_SHOTS: u32 = 1000;

/// A fault armed for the next N events it applies to.
pub struct Knob {
    left: Atomic<u32>,
    fired: Atomic<u64>,
}

impl Default for Knob {
    fn default() -> Self {
        Self::new()
    }
}

impl Knob {
    /// A knob, disarmed.
    pub const fn new() -> Self {
        Self {
            left: Atomic::new(0),
            fired: Atomic::new(0),
        }
    }

    /// Arms the knob for the next `shots` events (0 disarms it).
    pub fn arm(&self, shots: u32) {
        self.left.store(shots.min(MAX_SHOTS), Relaxed);
    }

    /// Takes one shot, if the knob is armed, and counts it as fired.
    #[inline]
    pub fn take(&self) -> bool {
        let mut cur = self.left.load(Relaxed);
        while cur > 0 {
            match self.left.cmpxchg(cur, cur - 1, Relaxed) {
                Ok(_) => {
                    self.fired.add(1, Relaxed);
                    return true;
                }
                Err(now) => cur = now,
            }
        }
        false
    }

    /// Shots still armed.
    pub fn left(&self) -> u32 {
        self.left.load(Relaxed)
    }

    /// Shots taken since the knob was made.
    pub fn fired(&self) -> u64 {
        self.fired.load(Relaxed)
    }
}

/// A driver's knobs, by name: `N` knobs, and whether any was armed since the last `off`, so
/// that the paths they apply to check one flag when none is.
///
/// # Examples
///
/// ```
/// use kernel::scsi::fault::KnobSet;
///
/// const TWICE: usize = 0;
/// const BOGUS: usize = 1;
/// let knobs = KnobSet::new(["twice", "bogus"]);
/// assert!(!knobs.armed());
/// knobs.command(b"bogus 1")?;
/// assert!(knobs.armed() && !knobs.take(TWICE) && knobs.take(BOGUS));
/// knobs.command(b"off")?;
/// assert!(!knobs.armed());
/// assert!(knobs.command(b"late 1").is_err());
/// # Ok::<(), Error>(())
/// ```
pub struct KnobSet<const N: usize> {
    names: [&'static str; N],
    knobs: [Knob; N],
    armed: Atomic<bool>,
}

impl<const N: usize> KnobSet<N> {
    /// Knobs named `names`, all disarmed.
    pub const fn new(names: [&'static str; N]) -> Self {
        Self {
            names,
            knobs: [const { Knob::new() }; N],
            armed: Atomic::new(false),
        }
    }

    /// Whether a knob may fire: the one check on a path when none was armed.
    #[inline(always)]
    pub fn armed(&self) -> bool {
        self.armed.load(Relaxed)
    }

    /// Takes a shot of knob `i` (its index in the names), if it is armed.
    #[inline]
    pub fn take(&self, i: usize) -> bool {
        self.armed() && self.knobs.get(i).is_some_and(Knob::take)
    }

    /// Knob `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&Knob> {
        self.knobs.get(i)
    }

    /// Applies `NAME N` (arms knob `NAME` for `N` shots) or `off` (disarms them all).
    /// `ENOENT` for a name that is not one of the set, so that a driver may try its own
    /// commands next; `EINVAL` for a malformed command.
    pub fn command(&self, input: &[u8]) -> Result {
        let c = parse(input)?;
        if c.name == b"off" && c.shots.is_none() {
            self.armed.store(false, Relaxed);
            for k in &self.knobs {
                k.arm(0);
            }
            return Ok(());
        }
        let i = self
            .names
            .iter()
            .position(|n| n.as_bytes() == c.name)
            .ok_or(ENOENT)?;
        self.knobs[i].arm(c.shots.ok_or(EINVAL)?);
        self.armed.store(true, Relaxed);
        Ok(())
    }

    /// One line per knob, `fault_NAME: FIRED (armed LEFT)`, for the debugfs file.
    pub fn show(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (name, k) in self.names.iter().zip(&self.knobs) {
            writeln!(f, "fault_{}: {} (armed {})", name, k.fired(), k.left())?;
        }
        Ok(())
    }
}

/// A knob command: the knob's name, and the shots asked for, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnobCommand<'a> {
    /// The knob's name.
    pub name: &'a [u8],
    /// `N`, if given.
    pub shots: Option<u32>,
}

/// Parses `NAME` or `NAME N` (spaces around the words ignored). `EINVAL` for anything else,
/// and for `N` above [`MAX_SHOTS`].
pub fn parse(input: &[u8]) -> Result<KnobCommand<'_>> {
    let mut words = input
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let name = words.next().ok_or(EINVAL)?;
    let shots = match words.next() {
        Some(n) => Some(
            core::str::from_utf8(n)
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n <= MAX_SHOTS)
                .ok_or(EINVAL)?,
        ),
        None => None,
    };
    if words.next().is_some() {
        return Err(EINVAL);
    }
    Ok(KnobCommand { name, shots })
}

#[cfg(CONFIG_RUST_SCSI_KUNIT_TEST)]
#[::kernel::macros::kunit_tests(rust_scsi_fault)]
mod tests {
    use super::*;

    #[test]
    fn parse_takes_a_name_and_a_bounded_count() -> Result {
        assert_eq!(
            parse(b" lose  3\n")?,
            KnobCommand {
                name: b"lose",
                shots: Some(3)
            }
        );
        assert_eq!(parse(b"firmware")?.shots, None);
        assert_eq!(parse(b"lose 1000")?.shots, Some(MAX_SHOTS));
        for bad in [
            &b""[..],
            b"  ",
            b"lose 1001",
            b"lose -1",
            b"lose x",
            b"lose 1 2",
        ] {
            assert!(parse(bad).is_err());
        }
        Ok(())
    }

    #[test]
    fn a_set_arms_by_name_and_disarms_all() -> Result {
        let set = KnobSet::new(["lose", "twice"]);
        assert!(!set.take(0) && !set.armed());
        set.command(b"twice 2")?;
        assert!(!set.take(0) && set.take(1) && set.take(1) && !set.take(1));
        assert_eq!(set.command(b"park 1").err(), Some(ENOENT));
        assert_eq!(set.command(b"lose").err(), Some(EINVAL));
        set.command(b"lose 5")?;
        set.command(b"off")?;
        assert!(!set.armed() && !set.take(0));
        assert!(!set.take(7));
        Ok(())
    }

    #[test]
    fn a_knob_fires_as_often_as_armed() {
        let k = Knob::new();
        assert!(!k.take());
        k.arm(3);
        assert_eq!(k.left(), 3);
        assert!(k.take() && k.take() && k.take());
        assert!(!k.take());
        assert_eq!((k.left(), k.fired()), (0, 3));
        k.arm(5);
        k.arm(0);
        assert!(!k.take());
        assert_eq!(k.fired(), 3);
    }
}
