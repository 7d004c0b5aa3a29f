// SPDX-License-Identifier: GPL-2.0

//! SCSI sense data: building it for the midlayer and reading what a device returned.
//!
//! C header: [`include/scsi/scsi_common.h`](srctree/include/scsi/scsi_common.h) (`struct
//! scsi_sense_hdr`, `scsi_build_sense_buffer()`, `scsi_normalize_sense()`).
//!
//! Sense data comes in two formats (SPC-4, 4.4): fixed (response codes 0x70 current and 0x71
//! deferred, 18 bytes or more) and descriptor (0x72 and 0x73, an 8-byte header followed by
//! descriptors). A driver that synthesises an error for a command writes sense with
//! [`build`] and sets `CHECK CONDITION`; a driver that must interpret device sense (for example
//! to decide on a retry) reads it with [`Sense::parse`].
//!
//! This file needs only `core` and is tested on the host (`tools/hosttest`) and in the kernel
//! (KUnit suite `rust_scsi_sense`).
//!
//! # Examples
//!
//! ```
//! use kernel::scsi::sense::{
//!     build,
//!     Format,
//!     Sense,
//!     SenseKey, //
//! };
//!
//! // INVALID COMMAND OPERATION CODE, as a driver reports a CDB it cannot send.
//! let mut buf = [0u8; 96];
//! let len = build(&mut buf, Format::Fixed, SenseKey::IllegalRequest, 0x20, 0x00);
//! assert_eq!(len, 18);
//! let sense = Sense::parse(&buf[..len]).ok_or(EINVAL)?;
//! assert_eq!(sense.key, SenseKey::IllegalRequest);
//! assert_eq!((sense.asc, sense.ascq), (0x20, 0x00));
//! # Ok::<(), Error>(())
//! ```

/// Sense key (SPC-4, table 48).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenseKey {
    /// `NO_SENSE`.
    NoSense = 0x0,
    /// `RECOVERED_ERROR`.
    RecoveredError = 0x1,
    /// `NOT_READY`.
    NotReady = 0x2,
    /// `MEDIUM_ERROR`.
    MediumError = 0x3,
    /// `HARDWARE_ERROR`.
    HardwareError = 0x4,
    /// `ILLEGAL_REQUEST`.
    IllegalRequest = 0x5,
    /// `UNIT_ATTENTION`.
    UnitAttention = 0x6,
    /// `DATA_PROTECT`.
    DataProtect = 0x7,
    /// `BLANK_CHECK`.
    BlankCheck = 0x8,
    /// `VENDOR_SPECIFIC`.
    VendorSpecific = 0x9,
    /// `COPY_ABORTED`.
    CopyAborted = 0xa,
    /// `ABORTED_COMMAND`.
    AbortedCommand = 0xb,
    /// Reserved (formerly `EQUAL`).
    Reserved = 0xc,
    /// `VOLUME_OVERFLOW`.
    VolumeOverflow = 0xd,
    /// `MISCOMPARE`.
    Miscompare = 0xe,
    /// `COMPLETED`.
    Completed = 0xf,
}

impl SenseKey {
    /// The key in the low four bits of `bits`.
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0xf {
            0x0 => Self::NoSense,
            0x1 => Self::RecoveredError,
            0x2 => Self::NotReady,
            0x3 => Self::MediumError,
            0x4 => Self::HardwareError,
            0x5 => Self::IllegalRequest,
            0x6 => Self::UnitAttention,
            0x7 => Self::DataProtect,
            0x8 => Self::BlankCheck,
            0x9 => Self::VendorSpecific,
            0xa => Self::CopyAborted,
            0xb => Self::AbortedCommand,
            0xc => Self::Reserved,
            0xd => Self::VolumeOverflow,
            0xe => Self::Miscompare,
            _ => Self::Completed,
        }
    }
}

/// Which sense format to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Fixed format, response code 0x70, 18 bytes.
    Fixed,
    /// Descriptor format, response code 0x72, an 8-byte header with no descriptors.
    Descriptor,
}

/// Length of fixed-format sense as [`build`] writes it.
pub const FIXED_LEN: usize = 18;
/// Length of descriptor-format sense as [`build`] writes it.
pub const DESCRIPTOR_LEN: usize = 8;

/// Writes sense data for `key`, `asc` and `ascq` at the start of `buf` and returns its length,
/// as `scsi_build_sense_buffer()` does. Bytes past the returned length are left as they were.
///
/// # Panics
///
/// Panics if `buf` is shorter than the format needs ([`FIXED_LEN`] or [`DESCRIPTOR_LEN`]);
/// the midlayer's sense buffer (`SCSI_SENSE_BUFFERSIZE`, 96 bytes) always fits.
pub fn build(buf: &mut [u8], format: Format, key: SenseKey, asc: u8, ascq: u8) -> usize {
    // CAST: `SenseKey` is `repr(u8)`.
    let key = key as u8;
    match format {
        Format::Fixed => {
            let s = &mut buf[..FIXED_LEN];
            s.fill(0);
            s[0] = 0x70;
            s[2] = key;
            // Additional sense length: bytes after byte 7.
            s[7] = 0x0a;
            s[12] = asc;
            s[13] = ascq;
            FIXED_LEN
        }
        Format::Descriptor => {
            let s = &mut buf[..DESCRIPTOR_LEN];
            s.fill(0);
            s[0] = 0x72;
            s[1] = key;
            s[2] = asc;
            s[3] = ascq;
            DESCRIPTOR_LEN
        }
    }
}

/// Sense data as read from a device, normalised across both formats (`struct scsi_sense_hdr`
/// plus the INFORMATION field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sense {
    /// Response code: 0x70 or 0x71 (fixed), 0x72 or 0x73 (descriptor).
    pub response_code: u8,
    /// Sense key.
    pub key: SenseKey,
    /// Additional sense code.
    pub asc: u8,
    /// Additional sense code qualifier.
    pub ascq: u8,
    /// The INFORMATION field when the device marked it valid (for example the failing LBA).
    pub information: Option<u64>,
}

impl Sense {
    /// Parses sense data as `scsi_normalize_sense()` does; `None` if `buf` holds none (too short,
    /// or a response code that is not sense data).
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let response_code = *buf.first()? & 0x7f;
        match response_code {
            0x70 | 0x71 => {
                let key = SenseKey::from_bits(*buf.get(2)?);
                // The additional length says how much follows byte 7; ASC/ASCQ sit at 12 and 13
                // and are absent from a short (8-byte) fixed sense.
                let avail = buf.len().min(8 + usize::from(*buf.get(7).unwrap_or(&0)));
                let asc = if avail > 12 { buf[12] } else { 0 };
                let ascq = if avail > 13 { buf[13] } else { 0 };
                let information = if buf[0] & 0x80 != 0 && buf.len() >= 7 {
                    Some(u64::from(u32::from_be_bytes([
                        buf[3], buf[4], buf[5], buf[6],
                    ])))
                } else {
                    None
                };
                Some(Self {
                    response_code,
                    key,
                    asc,
                    ascq,
                    information,
                })
            }
            0x72 | 0x73 => {
                if buf.len() < 4 {
                    return None;
                }
                let key = SenseKey::from_bits(buf[1]);
                let end = buf.len().min(8 + usize::from(*buf.get(7).unwrap_or(&0)));
                let mut information = None;
                let mut pos = 8;
                // Walk the descriptors for the INFORMATION one (type 0x00, length 0x0a).
                while pos + 2 <= end {
                    let len = usize::from(buf[pos + 1]);
                    if buf[pos] == 0x00
                        && len == 0x0a
                        && pos + 12 <= end
                        && buf[pos + 2] & 0x80 != 0
                    {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&buf[pos + 4..pos + 12]);
                        information = Some(u64::from_be_bytes(b));
                    }
                    pos += 2 + len;
                }
                Some(Self {
                    response_code,
                    key,
                    asc: buf[2],
                    ascq: buf[3],
                    information,
                })
            }
            _ => None,
        }
    }

    /// Whether this reports a deferred error (for an earlier command).
    pub const fn is_deferred(&self) -> bool {
        self.response_code == 0x71 || self.response_code == 0x73
    }
}

#[cfg(any(test, CONFIG_RUST_SCSI_KUNIT_TEST))]
#[cfg_attr(not(test), ::kernel::macros::kunit_tests(rust_scsi_sense))]
mod tests {
    use super::*;

    #[test]
    fn fixed_round_trip() {
        let mut buf = [0xaau8; 96];
        let len = build(&mut buf, Format::Fixed, SenseKey::MediumError, 0x11, 0x04);
        assert_eq!(len, 18);
        assert_eq!(buf[0], 0x70);
        assert_eq!(buf[7], 10);
        assert_eq!(buf[18], 0xaa);
        let s = Sense::parse(&buf[..len]).unwrap();
        assert_eq!(s.key, SenseKey::MediumError);
        assert_eq!((s.asc, s.ascq), (0x11, 0x04));
        assert_eq!(s.information, None);
        assert!(!s.is_deferred());
    }

    #[test]
    fn descriptor_round_trip() {
        let mut buf = [0u8; 96];
        let len = build(
            &mut buf,
            Format::Descriptor,
            SenseKey::UnitAttention,
            0x29,
            0x00,
        );
        assert_eq!(len, 8);
        let s = Sense::parse(&buf[..len]).unwrap();
        assert_eq!(s.response_code, 0x72);
        assert_eq!(s.key, SenseKey::UnitAttention);
        assert_eq!((s.asc, s.ascq), (0x29, 0x00));
    }

    #[test]
    fn every_key_round_trips() {
        for bits in 0u8..16 {
            let key = SenseKey::from_bits(bits);
            // CAST: `SenseKey` is `repr(u8)`.
            assert_eq!(key as u8, bits);
            for format in [Format::Fixed, Format::Descriptor] {
                let mut buf = [0u8; 32];
                let len = build(&mut buf, format, key, bits, !bits);
                let s = Sense::parse(&buf[..len]).unwrap();
                assert_eq!((s.key, s.asc, s.ascq), (key, bits, !bits));
            }
        }
    }

    #[test]
    fn fixed_information_and_deferred() {
        // Valid bit, deferred, MEDIUM ERROR at LBA 0x12345678 (as QEMU reports a read error).
        let mut buf = [0u8; 18];
        buf[0] = 0x80 | 0x71;
        buf[2] = 0x03;
        buf[3..7].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        buf[7] = 10;
        buf[12] = 0x11;
        let s = Sense::parse(&buf).unwrap();
        assert_eq!(s.information, Some(0x1234_5678));
        assert!(s.is_deferred());
        assert_eq!(s.asc, 0x11);
    }

    #[test]
    fn descriptor_information() {
        let mut buf = [0u8; 20];
        buf[0] = 0x72;
        buf[1] = 0x03;
        buf[2] = 0x11;
        buf[7] = 12;
        buf[8] = 0x00;
        buf[9] = 0x0a;
        buf[10] = 0x80;
        buf[12..20].copy_from_slice(&0x0000_0001_0000_0002u64.to_be_bytes());
        let s = Sense::parse(&buf).unwrap();
        assert_eq!(s.information, Some(0x1_0000_0002));
    }

    #[test]
    fn rejects_what_is_not_sense() {
        assert_eq!(Sense::parse(&[]), None);
        assert_eq!(Sense::parse(&[0x00; 18]), None);
        assert_eq!(Sense::parse(&[0x72, 0x05]), None);
        // Short fixed sense (8 bytes): key only.
        let s = Sense::parse(&[0x70, 0, 0x05, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((s.key, s.asc), (SenseKey::IllegalRequest, 0));
    }
}
