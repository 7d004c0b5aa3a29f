// SPDX-License-Identifier: GPL-2.0

//! MFI firmware state and the limits the firmware status word reports.
//!
//! The controller reports its state and limits in one 32-bit word, readable at `OSP0` (and
//! mirrored at `OMSG0`). Linux names: `MFI_STATE_MASK`, `MFI_STATE_*` in
//! [`drivers/scsi/megaraid/megaraid_sas.h`](srctree/drivers/scsi/megaraid/megaraid_sas.h).
//!
//! This file needs only `core`: it is built into the driver and, unchanged, into the host test
//! crate (`tools/hosttest`), so that its decoding is tested by `cargo test` as well as by KUnit.

/// Firmware state, bits 31:28 of the status word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FwState {
    /// `MFI_STATE_UNDEFINED`.
    Undefined,
    /// `MFI_STATE_BB_INIT`: boot block initialisation.
    BbInit,
    /// `MFI_STATE_FW_INIT`.
    FwInit,
    /// `MFI_STATE_WAIT_HANDSHAKE`.
    WaitHandshake,
    /// `MFI_STATE_FW_INIT_2`.
    FwInit2,
    /// `MFI_STATE_DEVICE_SCAN`.
    DeviceScan,
    /// `MFI_STATE_BOOT_MESSAGE_PENDING`.
    BootMessagePending,
    /// `MFI_STATE_FLUSH_CACHE`.
    FlushCache,
    /// `MFI_STATE_READY`: waiting for INIT.
    Ready,
    /// `MFI_STATE_OPERATIONAL`: INIT done, queue registered.
    Operational,
    /// `MFI_STATE_FAULT`: the firmware gave up; only a reset may recover it.
    Fault,
    /// Any value the MFI specification does not define.
    Unknown(u8),
}

impl FwState {
    /// Decodes the 4-bit state field.
    pub(crate) const fn from_bits(bits: u8) -> Self {
        match bits {
            0x0 => Self::Undefined,
            0x1 => Self::BbInit,
            0x4 => Self::FwInit,
            0x6 => Self::WaitHandshake,
            0x7 => Self::FwInit2,
            0x8 => Self::DeviceScan,
            0x9 => Self::BootMessagePending,
            0xA => Self::FlushCache,
            0xB => Self::Ready,
            0xC => Self::Operational,
            0xF => Self::Fault,
            other => Self::Unknown(other),
        }
    }

    /// The name Linux gives the state, for messages and debugfs.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Undefined => "UNDEFINED",
            Self::BbInit => "BB_INIT",
            Self::FwInit => "FW_INIT",
            Self::WaitHandshake => "WAIT_HANDSHAKE",
            Self::FwInit2 => "FW_INIT_2",
            Self::DeviceScan => "DEVICE_SCAN",
            Self::BootMessagePending => "BOOT_MESSAGE_PENDING",
            Self::FlushCache => "FLUSH_CACHE",
            Self::Ready => "READY",
            Self::Operational => "OPERATIONAL",
            Self::Fault => "FAULT",
            Self::Unknown(_) => "UNKNOWN",
        }
    }
}

/// The firmware status word (`OSP0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FwStatus(pub(crate) u32);

impl FwStatus {
    /// The firmware state, bits 31:28.
    pub(crate) const fn state(self) -> FwState {
        // CAST: a 4-bit field always fits in a `u8`.
        FwState::from_bits((self.0 >> 28) as u8)
    }

    /// Bit 26: the controller has MSI-X. Linux also reads it as "firmware takes IEEE SGEs".
    pub(crate) const fn msix_supported(self) -> bool {
        self.0 & (1 << 26) != 0
    }

    /// Bits 23:16: the largest number of SG elements in one command.
    pub(crate) const fn max_sge(self) -> u16 {
        // CAST: an 8-bit field always fits in a `u16`.
        ((self.0 >> 16) & 0xFF) as u16
    }

    /// Bits 15:0: the largest number of outstanding frames, also the reply ring's size.
    pub(crate) const fn max_cmds(self) -> u16 {
        // CAST: a 16-bit field always fits in a `u16`.
        (self.0 & 0xFFFF) as u16
    }

    /// Checks that the limits make sense and returns them.
    ///
    /// # Errors
    ///
    /// Returns the first nonsensical value: zero commands, or fewer SG elements than one
    /// command needs.
    pub(crate) const fn limits(self) -> Result<Limits, LimitsError> {
        let max_cmds = self.max_cmds();
        let max_sge = self.max_sge();
        if max_cmds < MIN_CMDS {
            return Err(LimitsError::TooFewCommands(max_cmds));
        }
        if max_sge == 0 {
            return Err(LimitsError::NoSgElements);
        }
        Ok(Limits { max_cmds, max_sge })
    }
}

/// The fewest commands a usable controller takes: one for I/O, one for the host's own
/// management frames (abort, reset), as Linux reserves them too.
pub(crate) const MIN_CMDS: u16 = 2;

/// The controller's limits, as checked by [`FwStatus::limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Frames the firmware accepts at once, and the reply ring's size.
    pub(crate) max_cmds: u16,
    /// SG elements per command.
    pub(crate) max_sge: u16,
}

/// `SGE_BUFFER_SIZE`: megaraid_sas counts a page of data per SG element.
pub(crate) const SGE_BUFFER_SIZE: u32 = 4096;

/// `MEGASAS_MAX_SECTORS_IEEE`: the transfer limit, in 512-byte sectors, megaraid_sas uses with
/// IEEE SG elements.
pub(crate) const MAX_SECTORS_IEEE: u32 = 2 * 128;

/// `MEGASAS_DEFAULT_CMD_PER_LUN`: the queue depth megaraid_sas gives a device.
pub(crate) const DEFAULT_CMD_PER_LUN: u32 = 256;

impl Limits {
    /// The largest transfer, in 512-byte sectors (the host's `max_sectors`).
    ///
    /// As megaraid_sas, or more: a page per SG element (`megasas_init_fw()`), and with IEEE SG
    /// elements (`ieee`, the status word's MSI-X bit, as Linux reads it) at least
    /// [`MAX_SECTORS_IEEE`], which megaraid_sas then uses instead (`megasas_io_attach()`),
    /// even where it is the smaller of the two. A request of this size always fits a list of
    /// `max_sge` elements: the block layer keeps every request within the host's
    /// `sg_tablesize` segments, merging adjacent pages and refusing a pass-through buffer
    /// that needs more (an unaligned one, which needs one element more than an aligned one).
    /// Segment counts are that limit's to enforce, not this one's.
    pub(crate) const fn max_sectors(self, ieee: bool) -> u32 {
        // CAST: a `u16` always fits in a `u32`; the product is below 2^29.
        let per_sge = self.max_sge as u32 * (SGE_BUFFER_SIZE / 512);
        if ieee && per_sge < MAX_SECTORS_IEEE {
            MAX_SECTORS_IEEE
        } else {
            per_sge
        }
    }
}

/// Why the firmware's limits cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitsError {
    /// `max_cmds` below [`MIN_CMDS`].
    TooFewCommands(u16),
    /// `max_sge` is zero.
    NoSgElements,
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rmegasas_fw))]
mod tests {
    use super::*;

    #[test]
    fn decodes_qemu_ready_word() {
        // QEMU megasas, defaults, MSI-X present: READY, 80 SGEs, 1000 commands.
        let s = FwStatus(0xB000_0000 | 1 << 26 | 80 << 16 | 1000);
        assert_eq!(s.state(), FwState::Ready);
        assert!(s.msix_supported());
        assert_eq!(s.max_sge(), 80);
        assert_eq!(s.max_cmds(), 1000);
        assert_eq!(
            s.limits(),
            Ok(Limits {
                max_cmds: 1000,
                max_sge: 80
            })
        );
    }

    #[test]
    fn decodes_every_state() {
        let states = [
            (0x0, FwState::Undefined),
            (0x1, FwState::BbInit),
            (0x4, FwState::FwInit),
            (0x6, FwState::WaitHandshake),
            (0x7, FwState::FwInit2),
            (0x8, FwState::DeviceScan),
            (0x9, FwState::BootMessagePending),
            (0xA, FwState::FlushCache),
            (0xB, FwState::Ready),
            (0xC, FwState::Operational),
            (0xF, FwState::Fault),
            (0x3, FwState::Unknown(3)),
        ];
        for (bits, state) in states {
            assert_eq!(FwStatus(bits << 28 | 0x0050_0010).state(), state);
        }
    }

    #[test]
    fn rejects_nonsense_limits() {
        assert_eq!(
            FwStatus(0xB050_0000).limits(),
            Err(LimitsError::TooFewCommands(0))
        );
        assert_eq!(
            FwStatus(0xB050_0001).limits(),
            Err(LimitsError::TooFewCommands(1))
        );
        assert_eq!(
            FwStatus(0xB000_0400).limits(),
            Err(LimitsError::NoSgElements)
        );
        assert!(FwStatus(0xB001_0002).limits().is_ok());
    }

    #[test]
    fn max_sectors_at_least_megaraid_sas() {
        let l = |max_sge| Limits {
            max_cmds: 1000,
            max_sge,
        };
        // QEMU's two effective values: 16 and 80 SG elements, a page each.
        assert_eq!(l(16).max_sectors(false), 128);
        assert_eq!(l(80).max_sectors(false), 640);
        assert_eq!(l(80).max_sectors(true), 640);
        // megaraid_sas takes 256 sectors with IEEE SG elements, whatever max_sge says.
        assert_eq!(l(16).max_sectors(true), MAX_SECTORS_IEEE);
        assert_eq!(l(1).max_sectors(true), MAX_SECTORS_IEEE);
        assert_eq!(l(1).max_sectors(false), 8);
        assert_eq!(l(255).max_sectors(true), 2040);
        // Never below megaraid_sas's rule (256 with IEEE elements, 8 per element without),
        // nor below a page per element, for any element count.
        for sge in 1..=255u16 {
            let pages = u32::from(sge) * 8;
            assert!(l(sge).max_sectors(true) >= MAX_SECTORS_IEEE);
            assert!(l(sge).max_sectors(true) >= pages);
            assert_eq!(l(sge).max_sectors(false), pages);
        }
    }

    #[test]
    fn no_msix_bit() {
        assert!(!FwStatus(0xB050_03E8).msix_supported());
    }
}
