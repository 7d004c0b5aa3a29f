// SPDX-License-Identifier: GPL-2.0

//! SCSI result codes: the host byte a driver reports and the status the target returned.
//!
//! C header: [`include/scsi/scsi_status.h`](srctree/include/scsi/scsi_status.h)
//!
//! This file needs only `core`, so that the host test crate (`tools/hosttest`) builds it
//! unchanged; the kernel checks its values against the C headers at build time (`scsi.rs`).

/// The host byte of a command's result (`enum scsi_host_status`): what the HBA made of it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostByte {
    /// `DID_OK`: no error at the host level; the SCSI status says the rest.
    Ok = 0x00,
    /// `DID_NO_CONNECT`: the target could not be reached.
    NoConnect = 0x01,
    /// `DID_BUS_BUSY`: the bus stayed busy through the timeout.
    BusBusy = 0x02,
    /// `DID_TIME_OUT`: the command timed out.
    TimeOut = 0x03,
    /// `DID_BAD_TARGET`: there is no such target.
    BadTarget = 0x04,
    /// `DID_ABORT`: the command was aborted.
    Abort = 0x05,
    /// `DID_PARITY`: a parity error.
    Parity = 0x06,
    /// `DID_ERROR`: an internal error of the HBA or its driver.
    Error = 0x07,
    /// `DID_RESET`: the command was lost in a reset.
    Reset = 0x08,
    /// `DID_BAD_INTR`: an unexpected interrupt.
    BadIntr = 0x09,
    /// `DID_PASSTHROUGH`: force the command past the midlayer's checks.
    Passthrough = 0x0a,
    /// `DID_SOFT_ERROR`: the low-level driver wants a retry.
    SoftError = 0x0b,
    /// `DID_IMM_RETRY`: retry without decrementing the retry count.
    ImmRetry = 0x0c,
    /// `DID_REQUEUE`: requeue the command.
    Requeue = 0x0d,
    /// `DID_TRANSPORT_DISRUPTED`: a transport error disrupted the command; retried once the
    /// transport is back.
    TransportDisrupted = 0x0e,
}

/// A SCSI status byte as returned by a target (`enum sam_status`).
///
/// Targets may return values outside the named ones, so this is a transparent byte with
/// named constants rather than an enum.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScsiStatus(pub u8);

impl ScsiStatus {
    /// `SAM_STAT_GOOD`.
    pub const GOOD: Self = Self(0x00);
    /// `SAM_STAT_CHECK_CONDITION`: sense data describes the error.
    pub const CHECK_CONDITION: Self = Self(0x02);
    /// `SAM_STAT_CONDITION_MET`.
    pub const CONDITION_MET: Self = Self(0x04);
    /// `SAM_STAT_BUSY`.
    pub const BUSY: Self = Self(0x08);
    /// `SAM_STAT_RESERVATION_CONFLICT`.
    pub const RESERVATION_CONFLICT: Self = Self(0x18);
    /// `SAM_STAT_TASK_SET_FULL`: the queue is full.
    pub const TASK_SET_FULL: Self = Self(0x28);
    /// `SAM_STAT_ACA_ACTIVE`.
    pub const ACA_ACTIVE: Self = Self(0x30);
    /// `SAM_STAT_TASK_ABORTED`.
    pub const TASK_ABORTED: Self = Self(0x40);
}

/// A command's result word as the midlayer keeps it in `scsi_cmnd::result`: host byte in bits
/// 23:16, SCSI status in bits 7:0.
pub const fn result_word(host: HostByte, status: ScsiStatus) -> u32 {
    // CAST: `HostByte` is `repr(u8)`.
    ((host as u32) << 16) | status.0 as u32
}

#[cfg(any(test, CONFIG_RUST_SCSI_KUNIT_TEST))]
#[cfg_attr(not(test), ::kernel::macros::kunit_tests(rust_scsi_status))]
mod tests {
    use super::*;

    #[test]
    fn result_word_layout() {
        assert_eq!(result_word(HostByte::Ok, ScsiStatus::GOOD), 0);
        assert_eq!(
            result_word(HostByte::Ok, ScsiStatus::CHECK_CONDITION),
            0x0000_0002
        );
        assert_eq!(result_word(HostByte::Reset, ScsiStatus::GOOD), 0x0008_0000);
        assert_eq!(result_word(HostByte::Error, ScsiStatus::BUSY), 0x0007_0008);
    }
}
