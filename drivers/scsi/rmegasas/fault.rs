// SPDX-License-Identifier: GPL-2.0

//! Test-only fault knobs: what a broken controller would give the driver, on demand.
//!
//! Off by default. A write of `fault NAME N` to the host's debugfs `state` file arms knob
//! `NAME` for the next `N` events it applies to (at most [`fault::MAX_SHOTS`], see
//! [`kernel::scsi::fault`]); `fault firmware` puts
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
//! When none is armed they cost one relaxed load per reply queue drain.

use core::fmt;

use kernel::{
    prelude::*,
    scsi::fault::KnobSet,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

/// The knobs that take a count, by index in [`Faults::knobs`].
pub(crate) const LOSE: usize = 0;
pub(crate) const TWICE: usize = 1;
pub(crate) const BOGUS: usize = 2;
pub(crate) const SENSE: usize = 3;

/// The knobs of one controller.
pub(crate) struct Faults {
    /// Whether any knob, the firmware's included, was armed since the last `fault off`: the
    /// one load a reply queue drain makes when none was.
    armed: Atomic<bool>,
    pub(crate) knobs: KnobSet<4>,
    /// The firmware plays FAULT until the next controller reset (`fault firmware`).
    firmware: Atomic<bool>,
    firmware_fired: Atomic<u64>,
}

impl Faults {
    pub(crate) const fn new() -> Self {
        Self {
            armed: Atomic::new(false),
            knobs: KnobSet::new(["lose", "twice", "bogus", "sense"]),
            firmware: Atomic::new(false),
            firmware_fired: Atomic::new(0),
        }
    }

    /// Whether a knob may fire.
    #[inline(always)]
    pub(crate) fn armed(&self) -> bool {
        self.armed.load(Relaxed)
    }

    /// Takes a shot of knob `i`.
    #[inline]
    pub(crate) fn take(&self, i: usize) -> bool {
        self.knobs.take(i)
    }

    /// Whether the firmware plays FAULT.
    #[inline]
    pub(crate) fn firmware(&self) -> bool {
        self.firmware.load(Relaxed)
    }

    /// The controller was reset: a FAULT it played is gone.
    pub(crate) fn controller_reset(&self) {
        self.firmware.store(false, Relaxed);
    }

    /// Applies a `fault ...` command written to debugfs (without the `fault ` prefix).
    pub(crate) fn command(&self, input: &[u8]) -> Result {
        match input.trim_ascii() {
            b"firmware" => {
                self.firmware.store(true, Relaxed);
                self.firmware_fired.add(1, Relaxed);
                self.armed.store(true, Relaxed);
                Ok(())
            }
            b"off" => {
                self.armed.store(false, Relaxed);
                self.firmware.store(false, Relaxed);
                self.knobs.command(b"off")
            }
            _ => {
                self.knobs.command(input).map_err(|_| EINVAL)?;
                self.armed.store(true, Relaxed);
                Ok(())
            }
        }
    }

    /// The knobs' lines of the debugfs `state` file: how often each fired, and what is left.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.knobs.show(f)?;
        writeln!(
            f,
            "fault_firmware: {} (armed {})",
            self.firmware_fired.load(Relaxed),
            u32::from(self.firmware.load(Relaxed))
        )
    }
}
