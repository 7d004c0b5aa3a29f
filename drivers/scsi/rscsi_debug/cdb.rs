// SPDX-License-Identifier: GPL-2.0

//! The SCSI commands rscsi_debug emulates: decoding their CDBs and encoding the data they return.
//!
//! Follows `get_data_transfer_info()`, `resp_inquiry()`, `resp_readcap()`, `resp_readcap16()`,
//! `resp_mode_sense()` and `resp_report_luns()` in
//! [`drivers/scsi/scsi_debug.c`](srctree/drivers/scsi/scsi_debug.c); opcodes as in
//! [`include/scsi/scsi_proto.h`](srctree/include/scsi/scsi_proto.h).
//!
//! This file needs only `core`: it is built into the driver and, unchanged, into the host test
//! crate (`tools/hosttest`), so that it is tested by `cargo test` as well as by KUnit.

/// Opcodes (`include/scsi/scsi_proto.h`).
pub(crate) mod op {
    pub(crate) const TEST_UNIT_READY: u8 = 0x00;
    pub(crate) const REQUEST_SENSE: u8 = 0x03;
    pub(crate) const READ_6: u8 = 0x08;
    pub(crate) const WRITE_6: u8 = 0x0a;
    pub(crate) const INQUIRY: u8 = 0x12;
    pub(crate) const MODE_SENSE: u8 = 0x1a;
    pub(crate) const START_STOP: u8 = 0x1b;
    pub(crate) const READ_CAPACITY: u8 = 0x25;
    pub(crate) const READ_10: u8 = 0x28;
    pub(crate) const WRITE_10: u8 = 0x2a;
    pub(crate) const VERIFY: u8 = 0x2f;
    pub(crate) const SYNCHRONIZE_CACHE: u8 = 0x35;
    pub(crate) const MODE_SENSE_10: u8 = 0x5a;
    pub(crate) const READ_16: u8 = 0x88;
    pub(crate) const WRITE_16: u8 = 0x8a;
    pub(crate) const VERIFY_16: u8 = 0x8f;
    pub(crate) const SYNCHRONIZE_CACHE_16: u8 = 0x91;
    pub(crate) const SERVICE_ACTION_IN_16: u8 = 0x9e;
    pub(crate) const REPORT_LUNS: u8 = 0xa0;
    /// `SAI_READ_CAPACITY_16`, the service action of SERVICE ACTION IN(16).
    pub(crate) const SAI_READ_CAPACITY_16: u8 = 0x10;
}

/// Logical block size.
pub(crate) const BLOCK: u32 = 512;

/// What a CDB asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// READ(6/10/16): `blocks` blocks from `lba`.
    Read { lba: u64, blocks: u32 },
    /// WRITE(6/10/16).
    Write { lba: u64, blocks: u32 },
    /// INQUIRY: the standard data, or VPD page `page` with `evpd`.
    Inquiry { evpd: bool, page: u8 },
    /// READ CAPACITY(10).
    ReadCapacity10,
    /// READ CAPACITY(16).
    ReadCapacity16,
    /// REPORT LUNS.
    ReportLuns,
    /// MODE SENSE(6) or (10) of page `page`.
    ModeSense { ten: bool, page: u8 },
    /// REQUEST SENSE.
    RequestSense,
    /// Commands that move no data and always succeed here (TEST UNIT READY, SYNCHRONIZE
    /// CACHE, START STOP UNIT, VERIFY without data).
    NoData,
}

/// Why a CDB is refused: ILLEGAL REQUEST with this additional sense code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// INVALID COMMAND OPERATION CODE (0x20).
    Opcode,
    /// INVALID FIELD IN CDB (0x24).
    Field,
    /// LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21).
    Range,
}

impl Invalid {
    /// The additional sense code.
    pub(crate) const fn asc(self) -> u8 {
        match self {
            Self::Opcode => 0x20,
            Self::Field => 0x24,
            Self::Range => 0x21,
        }
    }
}

// Big-endian fields of a CDB. Inlined: `decode` checked the CDB's length, so the bounds
// checks fold away (out of line, with a check per byte, they were a third of `decode`'s cost).
#[inline(always)]
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

#[inline(always)]
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline(always)]
fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// The length a CDB of `opcode` has (its group code), or `None` for a group rscsi_debug does
/// not take.
const fn cdb_len(opcode: u8) -> Option<usize> {
    match opcode >> 5 {
        0 => Some(6),
        1 | 2 => Some(10),
        4 => Some(16),
        5 => Some(12),
        _ => None,
    }
}

/// Decodes `cdb`. Checks the lengths and fields rscsi_debug relies on, not the block range
/// (see [`check_range`]).
#[inline]
pub(crate) fn decode(cdb: &[u8]) -> Result<Op, Invalid> {
    // READ(10) and WRITE(10) first: what sd sends for nearly every I/O to a disk this size.
    if let Some(c) = cdb.get(..10) {
        let (lba, blocks) = (u64::from(be32(&c[2..])), u32::from(be16(&c[7..])));
        match c[0] {
            op::READ_10 => return Ok(Op::Read { lba, blocks }),
            op::WRITE_10 => return Ok(Op::Write { lba, blocks }),
            _ => {}
        }
    }
    let opcode = *cdb.first().ok_or(Invalid::Opcode)?;
    let len = cdb_len(opcode).ok_or(Invalid::Opcode)?;
    if cdb.len() < len {
        return Err(Invalid::Field);
    }
    let op = match opcode {
        op::READ_6 | op::WRITE_6 => {
            let lba = u64::from(u32::from(cdb[1] & 0x1f) << 16 | u32::from(be16(&cdb[2..])));
            // A length of 0 means 256 blocks in the 6-byte commands.
            let blocks = if cdb[4] == 0 { 256 } else { u32::from(cdb[4]) };
            if opcode == op::READ_6 {
                Op::Read { lba, blocks }
            } else {
                Op::Write { lba, blocks }
            }
        }
        op::READ_10 | op::WRITE_10 => {
            let (lba, blocks) = (u64::from(be32(&cdb[2..])), u32::from(be16(&cdb[7..])));
            if opcode == op::READ_10 {
                Op::Read { lba, blocks }
            } else {
                Op::Write { lba, blocks }
            }
        }
        op::READ_16 | op::WRITE_16 => {
            let (lba, blocks) = (be64(&cdb[2..]), be32(&cdb[10..]));
            if opcode == op::READ_16 {
                Op::Read { lba, blocks }
            } else {
                Op::Write { lba, blocks }
            }
        }
        op::INQUIRY => {
            let evpd = cdb[1] & 1 != 0;
            if !evpd && cdb[2] != 0 {
                return Err(Invalid::Field);
            }
            Op::Inquiry { evpd, page: cdb[2] }
        }
        op::READ_CAPACITY => Op::ReadCapacity10,
        op::SERVICE_ACTION_IN_16 if cdb[1] & 0x1f == op::SAI_READ_CAPACITY_16 => Op::ReadCapacity16,
        op::REPORT_LUNS => Op::ReportLuns,
        op::MODE_SENSE | op::MODE_SENSE_10 => Op::ModeSense {
            ten: opcode == op::MODE_SENSE_10,
            page: cdb[2] & 0x3f,
        },
        op::REQUEST_SENSE => Op::RequestSense,
        // VERIFY with BYTCHK would send data to compare: not emulated.
        op::VERIFY | op::VERIFY_16 if cdb[1] & 0x06 != 0 => return Err(Invalid::Field),
        op::TEST_UNIT_READY
        | op::SYNCHRONIZE_CACHE
        | op::SYNCHRONIZE_CACHE_16
        | op::START_STOP
        | op::VERIFY
        | op::VERIFY_16 => Op::NoData,
        _ => return Err(Invalid::Opcode),
    };
    Ok(op)
}

/// Checks that `blocks` blocks from `lba` lie within `capacity` blocks; returns the byte offset
/// and length.
pub(crate) fn check_range(lba: u64, blocks: u32, capacity: u64) -> Result<(u64, u64), Invalid> {
    match lba.checked_add(u64::from(blocks)) {
        Some(end) if end <= capacity => {
            Ok((lba * u64::from(BLOCK), u64::from(blocks) * u64::from(BLOCK)))
        }
        _ => Err(Invalid::Range),
    }
}

/// Identity strings of the emulated disks.
pub(crate) const VENDOR: &[u8; 8] = b"Linux   ";
/// The product identification.
pub(crate) const PRODUCT: &[u8; 16] = b"rscsi_debug     ";
/// The product revision.
pub(crate) const REVISION: &[u8; 4] = b"0001";

/// Writes the INQUIRY data of a disk at `target:lun` into `buf` (at least 64 bytes); returns
/// its length. `Err` for a VPD page the disk does not have.
pub(crate) fn inquiry(
    buf: &mut [u8],
    evpd: bool,
    page: u8,
    target: u32,
    lun: u64,
) -> Result<usize, Invalid> {
    buf.fill(0);
    if !evpd {
        // Direct-access block device, SPC-4, response data format 2, command queueing.
        buf[2] = 0x06;
        buf[3] = 0x02;
        buf[4] = 36 - 5;
        buf[7] = 0x02;
        buf[8..16].copy_from_slice(VENDOR);
        buf[16..32].copy_from_slice(PRODUCT);
        buf[32..36].copy_from_slice(REVISION);
        return Ok(36);
    }
    let body = match page {
        // Supported pages.
        0x00 => {
            buf[4..8].copy_from_slice(&[0x00, 0x80, 0x83, 0xb1]);
            4
        }
        // Unit serial number: 8 hex digits of target and LUN.
        0x80 => {
            write_hex(&mut buf[4..12], (target << 16) | (lun as u32 & 0xffff));
            8
        }
        // Device identification: one T10 vendor ID designator, ASCII.
        0x83 => {
            let d = &mut buf[4..];
            d[0] = 0x02;
            d[1] = 0x01;
            d[3] = 8 + 16 + 8;
            d[4..12].copy_from_slice(VENDOR);
            d[12..28].copy_from_slice(PRODUCT);
            write_hex(&mut d[28..36], (target << 16) | (lun as u32 & 0xffff));
            4 + 32
        }
        // Block device characteristics: a non-rotating medium (as C scsi_debug says), so that
        // sd clears the queue's rotational and add_random flags; a rotating disk feeds every
        // completion to the entropy pool, some 400 guest instructions per I/O.
        0xb1 => {
            buf[4..6].copy_from_slice(&1u16.to_be_bytes());
            0x3c
        }
        _ => return Err(Invalid::Field),
    };
    buf[1] = page;
    // CAST: the bodies above are shorter than 256 bytes.
    buf[3] = body as u8;
    Ok(4 + body)
}

fn write_hex(out: &mut [u8], v: u32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, c) in out.iter_mut().enumerate() {
        let shift = 4 * (7 - i as u32);
        *c = DIGITS[((v >> shift) & 0xf) as usize];
    }
}

/// Writes READ CAPACITY(10) data for `capacity` blocks (at least 8 bytes of `buf`).
pub(crate) fn read_capacity10(buf: &mut [u8], capacity: u64) -> usize {
    let last = u32::try_from(capacity.saturating_sub(1)).unwrap_or(u32::MAX);
    buf[0..4].copy_from_slice(&last.to_be_bytes());
    buf[4..8].copy_from_slice(&BLOCK.to_be_bytes());
    8
}

/// Writes READ CAPACITY(16) data (at least 32 bytes of `buf`).
pub(crate) fn read_capacity16(buf: &mut [u8], capacity: u64) -> usize {
    buf[..32].fill(0);
    buf[0..8].copy_from_slice(&capacity.saturating_sub(1).to_be_bytes());
    buf[8..12].copy_from_slice(&BLOCK.to_be_bytes());
    32
}

/// Writes the REPORT LUNS list of `luns` LUNs (0..luns, single-level addressing) into `buf`;
/// returns its length, or the length that `buf` could hold of it.
pub(crate) fn report_luns(buf: &mut [u8], luns: u32) -> usize {
    let list = 8 * luns as usize;
    let total = 8 + list;
    let n = total.min(buf.len());
    buf[..n].fill(0);
    if n >= 4 {
        // CAST: `luns` is at most 256, so the list length fits.
        buf[0..4].copy_from_slice(&(list as u32).to_be_bytes());
    }
    for l in 0..luns as usize {
        let at = 8 + 8 * l;
        if at + 2 > n {
            break;
        }
        // CAST: single-level LUNs below 256.
        buf[at + 1] = l as u8;
    }
    n
}

/// Writes MODE SENSE data for page `page` (the caching page 0x08, or all pages 0x3f) into
/// `buf` (at least 32 bytes); returns its length. Write cache off, no block descriptors.
pub(crate) fn mode_sense(buf: &mut [u8], ten: bool, page: u8) -> Result<usize, Invalid> {
    if page != 0x08 && page != 0x3f {
        return Err(Invalid::Field);
    }
    let header = if ten { 8 } else { 4 };
    buf[..header + 20].fill(0);
    // The caching page: page code, length 18, everything off.
    buf[header] = 0x08;
    buf[header + 1] = 0x12;
    let len = header + 20;
    if ten {
        // CAST: a short constant length.
        buf[0..2].copy_from_slice(&((len - 2) as u16).to_be_bytes());
    } else {
        // CAST: as above.
        buf[0] = (len - 1) as u8;
    }
    Ok(len)
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rscsi_debug_cdb))]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_of_every_length() {
        assert_eq!(
            decode(&[op::READ_6, 0x1f, 0xff, 0xff, 0, 0]),
            Ok(Op::Read {
                lba: 0x1f_ffff,
                blocks: 256
            })
        );
        assert_eq!(
            decode(&[op::WRITE_10, 0, 0, 0, 1, 2, 0, 0, 8, 0]),
            Ok(Op::Write {
                lba: 0x102,
                blocks: 8
            })
        );
        let mut c = [0u8; 16];
        c[0] = op::READ_16;
        c[2..10].copy_from_slice(&0x1_0000_0000u64.to_be_bytes());
        c[10..14].copy_from_slice(&2048u32.to_be_bytes());
        assert_eq!(
            decode(&c),
            Ok(Op::Read {
                lba: 1 << 32,
                blocks: 2048
            })
        );
    }

    #[test]
    fn short_or_unknown_cdbs_are_refused() {
        assert_eq!(decode(&[]), Err(Invalid::Opcode));
        assert_eq!(decode(&[op::READ_10, 0, 0]), Err(Invalid::Field));
        assert_eq!(decode(&[0xe0, 0, 0, 0, 0, 0]), Err(Invalid::Opcode));
        assert_eq!(decode(&[0x04, 0, 0, 0, 0, 0]), Err(Invalid::Opcode));
        assert_eq!(
            decode(&[op::INQUIRY, 0, 0x80, 0, 255, 0]),
            Err(Invalid::Field)
        );
        assert_eq!(
            decode(&[op::VERIFY, 0x02, 0, 0, 0, 0, 0, 0, 1, 0]),
            Err(Invalid::Field)
        );
    }

    #[test]
    fn ranges_stop_at_capacity_and_never_overflow() {
        assert_eq!(check_range(0, 8, 8), Ok((0, 4096)));
        assert_eq!(check_range(1, 8, 8), Err(Invalid::Range));
        assert_eq!(check_range(u64::MAX, 1, u64::MAX), Err(Invalid::Range));
        assert_eq!(check_range(8, 0, 8), Ok((4096, 0)));
    }

    #[test]
    fn inquiry_pages() {
        let mut b = [0u8; 64];
        assert_eq!(inquiry(&mut b, false, 0, 0, 0), Ok(36));
        assert_eq!(&b[8..16], VENDOR);
        assert_eq!(inquiry(&mut b, true, 0x00, 0, 0), Ok(8));
        assert_eq!(&b[4..8], &[0x00, 0x80, 0x83, 0xb1]);
        assert_eq!(inquiry(&mut b, true, 0xb1, 0, 0), Ok(64));
        assert_eq!((b[1], b[3], b[4], b[5]), (0xb1, 0x3c, 0, 1));
        assert_eq!(inquiry(&mut b, true, 0x80, 3, 2), Ok(12));
        assert_eq!(&b[4..12], b"00030002");
        assert_eq!(inquiry(&mut b, true, 0x83, 0, 1), Ok(40));
        assert_eq!(b[3], 36);
        assert_eq!(inquiry(&mut b, true, 0xb0, 0, 0), Err(Invalid::Field));
    }

    #[test]
    fn capacity_and_luns() {
        let mut b = [0u8; 32];
        read_capacity10(&mut b, 1 << 40);
        assert_eq!(&b[0..4], &[0xff; 4]);
        read_capacity16(&mut b, 1 << 40);
        assert_eq!(
            u64::from_be_bytes(b[0..8].try_into().unwrap()),
            (1 << 40) - 1
        );
        assert_eq!(u32::from_be_bytes(b[8..12].try_into().unwrap()), BLOCK);
        let mut l = [0u8; 64];
        assert_eq!(report_luns(&mut l, 3), 32);
        assert_eq!(&l[0..4], &24u32.to_be_bytes());
        assert_eq!(l[8 + 8 * 2 + 1], 2);
        // A short allocation gets the start of the list.
        let mut s = [0u8; 12];
        assert_eq!(report_luns(&mut s, 3), 12);
        assert_eq!(&s[0..4], &24u32.to_be_bytes());
    }

    #[test]
    fn mode_sense_caching_page() {
        let mut b = [0u8; 32];
        assert_eq!(mode_sense(&mut b, false, 0x3f), Ok(24));
        assert_eq!(b[0], 23);
        assert_eq!(b[4], 0x08);
        assert_eq!(mode_sense(&mut b, true, 0x08), Ok(28));
        assert_eq!(&b[0..2], &26u16.to_be_bytes());
        assert_eq!(mode_sense(&mut b, false, 0x0a), Err(Invalid::Field));
    }
}
