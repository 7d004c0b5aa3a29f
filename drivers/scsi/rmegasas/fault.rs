// SPDX-License-Identifier: GPL-2.0

//! Test-only fault knobs: what a broken controller would give the driver, on demand.
//!
//! Off by default. A write of `fault NAME N` to the host's debugfs `state` file arms knob
//! `NAME` for the next `N` events it applies to (at most [`MAX_SHOTS`]); `fault firmware` puts
//! the firmware in FAULT until the next controller reset; `fault off` disarms them all. What
//! each does, and what the driver must do about it:
//!
//! - `lose`: the next N completions read from the reply queue are thrown away, as if their
//!   interrupt never came. Each command times out; the error handler's ABORT finds no such
//!   frame in the controller (QEMU answers OK) and the midlayer retries the command.
//! - `twice`: the next N completions are reported twice. The second finds its command already
//!   completed and is ignored (`late_completions`).
//! - `bogus`: before each of the next N completions comes a context the driver never posted:
//!   the same command index under another generation. Ignored (`late_completions`); the real
//!   completion that follows still completes its command.
//! - `sense`: the next N I/O frames that succeeded claim CHECK CONDITION with 255 bytes of
//!   sense, UNIT ATTENTION (POWER ON, RESET) in the first 18, more than the sense buffer's 96.
//!   The driver copies what fits and counts it (`sense_clamped`); the midlayer retries a unit
//!   attention.
//! - `firmware`: the firmware state reads FAULT and the reply queue is not read: the
//!   controller answers nothing. The commands time out; the error handler finds the FAULT
//!   (`fw_faults`), does not wait for an ABORT or a device reset that cannot come, and resets
//!   the controller, which clears it; every command held is completed with `DID_RESET` and
//!   retried.
//!
//! Checking whether any knob is armed costs one relaxed load per reply queue drain.

use core::fmt;

use kernel::{
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

/// The most events a knob may be armed for at once.
pub(crate) const MAX_SHOTS: u32 = 1000;

/// A knob armed for the next N events.
pub(crate) struct Knob {
    left: Atomic<u32>,
    fired: Atomic<u64>,
}

impl Knob {
    const fn new() -> Self {
        Self {
            left: Atomic::new(0),
            fired: Atomic::new(0),
        }
    }

    /// Takes one shot of the knob, if it is armed, and counts it.
    pub(crate) fn take(&self) -> bool {
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
}

/// The knobs of one controller.
pub(crate) struct Faults {
    /// Whether any knob was armed since the last `fault off`: the only check on the
    /// completion path when none is.
    armed: Atomic<bool>,
    pub(crate) lose: Knob,
    pub(crate) twice: Knob,
    pub(crate) bogus: Knob,
    pub(crate) sense: Knob,
    firmware: Atomic<bool>,
    firmware_fired: Atomic<u64>,
}

impl Faults {
    pub(crate) const fn new() -> Self {
        Self {
            armed: Atomic::new(false),
            lose: Knob::new(),
            twice: Knob::new(),
            bogus: Knob::new(),
            sense: Knob::new(),
            firmware: Atomic::new(false),
            firmware_fired: Atomic::new(0),
        }
    }

    /// Whether a knob may fire.
    #[inline(always)]
    pub(crate) fn armed(&self) -> bool {
        self.armed.load(Relaxed)
    }

    /// Whether the firmware plays FAULT.
    #[inline]
    pub(crate) fn firmware(&self) -> bool {
        self.armed() && self.firmware.load(Relaxed)
    }

    /// The controller was reset: a FAULT it played is gone.
    pub(crate) fn controller_reset(&self) {
        self.firmware.store(false, Relaxed);
    }

    /// Applies a `fault ...` command written to debugfs (without the `fault ` prefix).
    pub(crate) fn command(&self, input: &[u8]) -> Result {
        let mut words = input.split(|c| *c == b' ').filter(|w| !w.is_empty());
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
        let knob = match name {
            b"lose" => &self.lose,
            b"twice" => &self.twice,
            b"bogus" => &self.bogus,
            b"sense" => &self.sense,
            b"firmware" if shots.is_none() => {
                self.firmware.store(true, Relaxed);
                self.firmware_fired.add(1, Relaxed);
                self.armed.store(true, Relaxed);
                return Ok(());
            }
            b"off" if shots.is_none() => {
                self.armed.store(false, Relaxed);
                for k in [&self.lose, &self.twice, &self.bogus, &self.sense] {
                    k.left.store(0, Relaxed);
                }
                self.firmware.store(false, Relaxed);
                return Ok(());
            }
            _ => return Err(EINVAL),
        };
        knob.left.store(shots.ok_or(EINVAL)?, Relaxed);
        self.armed.store(true, Relaxed);
        Ok(())
    }

    /// The knobs' lines of the debugfs `state` file: how often each fired, and what is left.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, k) in [
            ("lose", &self.lose),
            ("twice", &self.twice),
            ("bogus", &self.bogus),
            ("sense", &self.sense),
        ] {
            writeln!(
                f,
                "fault_{}: {} (armed {})",
                name,
                k.fired.load(Relaxed),
                k.left.load(Relaxed)
            )?;
        }
        writeln!(
            f,
            "fault_firmware: {} (armed {})",
            self.firmware_fired.load(Relaxed),
            u32::from(self.firmware.load(Relaxed))
        )
    }
}
