// SPDX-License-Identifier: GPL-2.0

//! MFI frames: the commands the host writes into DMA memory and posts to the controller.
//!
//! Layouts follow `struct megasas_header`, `megasas_pthru_frame`, `megasas_io_frame`,
//! `megasas_dcmd_frame`, `megasas_init_frame` and `megasas_abort_frame` in
//! [`drivers/scsi/megaraid/megaraid_sas.h`](srctree/drivers/scsi/megaraid/megaraid_sas.h).
//! Frames are little-endian, built in 64-byte units; a frame's SG list may run on into the
//! following units ("extra frames").
//!
//! This file needs only `core`, `kernel::scsi::bytes` and `kernel::scsi::sg` (both core-only), so the host test crate
//! builds it unchanged.

pub(crate) use kernel::scsi::bytes::{
    get16,
    get32, //
};
use kernel::scsi::bytes::{
    put,
    put16,
    put32,
    put64, //
};
use kernel::scsi::sg::{
    DescriptorWriter,
    Segment, //
};

/// Size of one frame unit.
pub(crate) const FRAME_SIZE: usize = 64;

/// The most bytes of a frame and its SG list: QEMU maps 2048 bytes from the frame address (32
/// units), and so does the doorbell's frame count on real controllers with the largest lists.
pub(crate) const MAX_FRAME_BYTES: usize = 2048;

/// Frame commands (`MFI_CMD_*`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MfiCmd {
    /// `MFI_CMD_INIT`: register the reply queue.
    Init = 0,
    /// `MFI_CMD_LD_READ`: read blocks of a logical drive.
    LdRead = 1,
    /// `MFI_CMD_LD_WRITE`: write blocks of a logical drive.
    LdWrite = 2,
    /// `MFI_CMD_LD_SCSI_IO`: a CDB for a logical drive.
    LdScsiIo = 3,
    /// `MFI_CMD_PD_SCSI_IO`: a CDB for a physical drive.
    PdScsiIo = 4,
    /// `MFI_CMD_DCMD`: a firmware management command.
    Dcmd = 5,
    /// `MFI_CMD_ABORT`: abort an outstanding frame.
    Abort = 6,
}

/// `cmd_status` value the host writes before posting; the firmware overwrites it.
pub(crate) const STATUS_PENDING: u8 = 0xff;

/// Frame flags (`MFI_FRAME_*`).
pub(crate) mod flags {
    /// `MFI_FRAME_SGL64`: 64-bit SG elements.
    pub(crate) const SGL64: u16 = 0x0002;
    /// `MFI_FRAME_SENSE64`: a 64-bit sense address.
    pub(crate) const SENSE64: u16 = 0x0004;
    /// `MFI_FRAME_DIR_WRITE`.
    pub(crate) const DIR_WRITE: u16 = 0x0008;
    /// `MFI_FRAME_DIR_READ`.
    pub(crate) const DIR_READ: u16 = 0x0010;
    /// `MFI_FRAME_IEEE`: IEEE ("skinny") SG elements.
    pub(crate) const IEEE: u16 = 0x0020;
}

/// Firmware command status (`MFI_STAT_*`), as the firmware returns it in `cmd_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MfiStatus(pub(crate) u8);

impl MfiStatus {
    /// `MFI_STAT_OK`.
    pub(crate) const OK: Self = Self(0x00);
    /// `MFI_STAT_ABORT_NOT_POSSIBLE`.
    pub(crate) const ABORT_NOT_POSSIBLE: Self = Self(0x05);
    /// `MFI_STAT_DEVICE_NOT_FOUND`.
    pub(crate) const DEVICE_NOT_FOUND: Self = Self(0x0c);
    /// `MFI_STAT_SCSI_DONE_WITH_ERROR`: the SCSI status says what went wrong.
    pub(crate) const SCSI_DONE_WITH_ERROR: Self = Self(0x2d);
    /// `MFI_STAT_SCSI_IO_FAILED`: the command failed or was aborted.
    pub(crate) const SCSI_IO_FAILED: Self = Self(0x2e);
    /// `MFI_STAT_LD_INIT_IN_PROGRESS`.
    pub(crate) const LD_INIT_IN_PROGRESS: Self = Self(0x51);
}

/// DCMD opcodes (`MR_DCMD_*`) the driver uses.
pub(crate) mod dcmd {
    /// `MR_DCMD_CTRL_GET_INFO`: 2048 bytes of controller information.
    pub(crate) const CTRL_GET_INFO: u32 = 0x0101_0000;
    /// `MR_DCMD_CTRL_CACHE_FLUSH`.
    pub(crate) const CTRL_CACHE_FLUSH: u32 = 0x0110_1000;
    /// `MR_DCMD_CTRL_SHUTDOWN`.
    pub(crate) const CTRL_SHUTDOWN: u32 = 0x0105_0000;
    /// `MR_DCMD_PD_GET_LIST`: the physical drives.
    pub(crate) const PD_GET_LIST: u32 = 0x0201_0000;
    /// `MR_DCMD_LD_GET_LIST`: the logical drives.
    pub(crate) const LD_GET_LIST: u32 = 0x0301_0000;
}

/// Target ids the driver exposes: one bit each in a `u64` ([`DriveList::targets`]). The
/// firmware's LD and PD ids in QEMU are below 64.
pub(crate) const MAX_TARGETS: usize = 64;

// One bit per target in a `u64`.
const _: () = assert!(MAX_TARGETS == u64::BITS as usize);

/// The bit of target `t`, or nothing for a target the driver does not expose.
#[inline]
pub(crate) const fn target_bit(t: usize) -> u64 {
    if t < MAX_TARGETS {
        1 << t
    } else {
        0
    }
}

/// The drives a DCMD list reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DriveList {
    /// One bit per target id below [`MAX_TARGETS`].
    pub(crate) targets: u64,
    /// Entries whose target id is [`MAX_TARGETS`] or more, which the driver does not expose.
    pub(crate) ignored: u32,
}

/// A drive list whose count runs past the buffer it came in: the firmware's answer makes no
/// sense, and none of its entries can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListOverflow {
    /// The count the firmware reported.
    pub(crate) count: u32,
    /// How many entries the buffer holds.
    pub(crate) fits: usize,
}

/// Both lists start with 8 bytes of header (`MR_LD_LIST`: count, reserved; `MR_PD_LIST`: size,
/// count).
const LIST_HDR: usize = 8;

/// Reads a list of `entry`-byte entries after the header, whose count is the `u32` at
/// `count_off`; `id` gives an entry's target id.
fn parse_list(
    b: &[u8],
    count_off: usize,
    entry: usize,
    id: impl Fn(&[u8]) -> usize,
) -> Result<DriveList, ListOverflow> {
    let fits = b.len().saturating_sub(LIST_HDR) / entry;
    let count = match b.get(count_off..count_off + 4) {
        Some(c) => get32(c, 0),
        None => return Err(ListOverflow { count: 0, fits }),
    };
    let n = usize::try_from(count)
        .ok()
        .filter(|&n| n <= fits)
        .ok_or(ListOverflow { count, fits })?;
    let mut list = DriveList {
        targets: 0,
        ignored: 0,
    };
    // A buffer shorter than the header fits no entry (`fits` is 0, and so is `n`): there is
    // nothing after it to read.
    let entries = b.get(LIST_HDR..).unwrap_or(&[]);
    for e in entries.chunks_exact(entry).take(n) {
        match target_bit(id(e)) {
            0 => list.ignored += 1,
            bit => list.targets |= bit,
        }
    }
    Ok(list)
}

/// Parses `struct MR_LD_LIST` (`MR_DCMD_LD_GET_LIST`): a count, then 16-byte entries whose
/// first byte is the target id.
pub(crate) fn parse_ld_list(b: &[u8]) -> Result<DriveList, ListOverflow> {
    parse_list(b, 0, 16, |e| usize::from(e[0]))
}

/// Parses `struct MR_PD_LIST` (`MR_DCMD_PD_GET_LIST`): size, count, then 24-byte entries whose
/// first `u16` is the device id, `(scsi id << 8) | lun` in QEMU.
pub(crate) fn parse_pd_list(b: &[u8]) -> Result<DriveList, ListOverflow> {
    parse_list(b, 4, 24, |e| usize::from(get16(e, 0) >> 8))
}

// The frame writers run for every I/O: they are `#[inline]` and store through
// `kernel::scsi::bytes`, so that with constant offsets the compiler checks the bounds once and
// emits plain stores rather than calls to `memcpy`.

/// Offsets in the common 24-byte frame header (`struct megasas_header`).
pub(crate) mod hdr {
    pub(crate) const CMD: usize = 0x00;
    pub(crate) const SENSE_LEN: usize = 0x01;
    pub(crate) const CMD_STATUS: usize = 0x02;
    pub(crate) const SCSI_STATUS: usize = 0x03;
    pub(crate) const TARGET_ID: usize = 0x04;
    pub(crate) const LUN: usize = 0x05;
    pub(crate) const CDB_LEN: usize = 0x06;
    pub(crate) const SGE_COUNT: usize = 0x07;
    pub(crate) const CONTEXT: usize = 0x08;
    pub(crate) const FLAGS: usize = 0x10;
    pub(crate) const DATA_XFER_LEN: usize = 0x14;
}

/// Where each frame kind's SG list starts.
pub(crate) const PTHRU_SGL: usize = 0x30;
/// SG list of LD read/write and DCMD frames.
pub(crate) const IO_SGL: usize = 0x28;

/// The SG element format a frame uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SgeFormat {
    /// 32-bit address, 32-bit length: 8 bytes.
    Sge32,
    /// 64-bit address, 32-bit length: 12 bytes (`MFI_FRAME_SGL64`).
    Sge64,
    /// 64-bit address, 32-bit length, 32-bit flag: 16 bytes (`MFI_FRAME_IEEE`).
    Ieee,
}

impl SgeFormat {
    /// Bytes per element.
    pub(crate) const fn size(self) -> usize {
        match self {
            Self::Sge32 => 8,
            Self::Sge64 => 12,
            Self::Ieee => 16,
        }
    }

    /// The frame flags that select this format.
    pub(crate) const fn flags(self) -> u16 {
        match self {
            Self::Sge32 => 0,
            Self::Sge64 => flags::SGL64,
            Self::Ieee => flags::IEEE | flags::SGL64,
        }
    }

    /// How many elements fit in a frame whose list starts at `sgl_offset`, within
    /// [`MAX_FRAME_BYTES`].
    pub(crate) const fn capacity(self, sgl_offset: usize) -> usize {
        (MAX_FRAME_BYTES - sgl_offset) / self.size()
    }
}

/// `struct megasas_sge32`.
pub(crate) struct Sge32;

impl DescriptorWriter for Sge32 {
    const SIZE: usize = 8;
    #[inline]
    fn write(&self, out: &mut [u8], seg: Segment) {
        let mut d = [0u8; 8];
        // CAST: This format is only used with a 32-bit DMA mask, so the address fits.
        put32(&mut d, 0, seg.addr as u32);
        put32(&mut d, 4, seg.len);
        put(out, 0, d);
    }
}

/// `struct megasas_sge64`.
pub(crate) struct Sge64;

impl DescriptorWriter for Sge64 {
    const SIZE: usize = 12;
    #[inline]
    fn write(&self, out: &mut [u8], seg: Segment) {
        let mut d = [0u8; 12];
        put64(&mut d, 0, seg.addr);
        put32(&mut d, 8, seg.len);
        put(out, 0, d);
    }
}

/// `struct megasas_sge_skinny` (IEEE).
pub(crate) struct SgeIeee;

impl DescriptorWriter for SgeIeee {
    const SIZE: usize = 16;
    #[inline]
    fn write(&self, out: &mut [u8], seg: Segment) {
        // One 16-byte store; the flag word stays zero.
        let mut d = [0u8; 16];
        put64(&mut d, 0, seg.addr);
        put32(&mut d, 8, seg.len);
        put(out, 0, d);
    }
}

/// The header fields every frame sets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    /// The command.
    pub(crate) cmd: MfiCmd,
    /// Target (LD or PD id).
    pub(crate) target: u8,
    /// LUN (zero for LD frames).
    pub(crate) lun: u8,
    /// Opaque context the firmware echoes in the reply queue.
    pub(crate) context: u32,
    /// Frame flags.
    pub(crate) flags: u16,
    /// `data_xfer_len`: bytes (pass-through) or blocks (LD read/write).
    pub(crate) data_xfer_len: u32,
    /// SG elements that follow.
    pub(crate) sge_count: u8,
}

/// Size of the frame header (`struct megasas_header`).
pub(crate) const HEADER_SIZE: usize = 0x18;

/// Writes the header `h`, with `cmd_status` pending and the sense and CDB lengths given, as
/// one 24-byte store. The body is the caller's.
#[inline]
fn put_header(frame: &mut [u8], h: &Header, sense_len: u8, cdb_len: u8) {
    let mut b = [0u8; HEADER_SIZE];
    // CAST: `MfiCmd` is `repr(u8)`.
    b[hdr::CMD] = h.cmd as u8;
    b[hdr::SENSE_LEN] = sense_len;
    b[hdr::CMD_STATUS] = STATUS_PENDING;
    b[hdr::TARGET_ID] = h.target;
    b[hdr::LUN] = h.lun;
    b[hdr::CDB_LEN] = cdb_len;
    b[hdr::SGE_COUNT] = h.sge_count;
    put32(&mut b, hdr::CONTEXT, h.context);
    put16(&mut b, hdr::FLAGS, h.flags);
    put32(&mut b, hdr::DATA_XFER_LEN, h.data_xfer_len);
    put(frame, 0, b);
}

/// Zeroes the header and body of a frame and writes `h`, with `cmd_status` pending.
/// The SG list area past `sgl_offset` is left for the SG cursor. For the management frames;
/// the I/O frames write every byte of their body instead.
pub(crate) fn write_header(frame: &mut [u8], sgl_offset: usize, h: &Header) {
    frame[HEADER_SIZE..sgl_offset].fill(0);
    put_header(frame, h, 0, 0);
}

/// Writes a pass-through frame (`LD_SCSI_IO` or `PD_SCSI_IO`) for `cdb`, with a 64-bit sense
/// address. The SG list goes at [`PTHRU_SGL`].
///
/// # Panics
///
/// If `cdb` is longer than 16 bytes; callers refuse those first.
#[inline]
pub(crate) fn write_pthru(
    frame: &mut [u8],
    h: &Header,
    cdb: &[u8],
    sense_addr: u64,
    sense_len: u8,
) {
    let mut c = [0u8; 16];
    c[..cdb.len()].copy_from_slice(cdb);
    put_header(
        frame,
        &Header {
            flags: h.flags | flags::SENSE64,
            ..*h
        },
        sense_len,
        // CAST: at most 16, checked above.
        cdb.len() as u8,
    );
    put64(frame, 0x18, sense_addr);
    put(frame, 0x20, c);
}

/// Writes an LD read or write frame (`MFI_CMD_LD_READ`/`LD_WRITE`): `h.data_xfer_len` is the
/// block count. The LUN byte stays zero, as the firmware requires. The SG list goes at
/// [`IO_SGL`].
#[inline]
pub(crate) fn write_ldio(frame: &mut [u8], h: &Header, lba: u64, sense_addr: u64, sense_len: u8) {
    put_header(
        frame,
        &Header {
            lun: 0,
            flags: h.flags | flags::SENSE64,
            ..*h
        },
        sense_len,
        0,
    );
    put64(frame, 0x18, sense_addr);
    // CAST: the two halves of the LBA.
    put32(frame, 0x20, lba as u32);
    put32(frame, 0x24, (lba >> 32) as u32);
}

/// Writes a DCMD frame: `opcode`, the 12-byte mailbox, and room for one SG element at
/// [`IO_SGL`] (the caller writes it; `h.sge_count` 0 or 1).
pub(crate) fn write_dcmd(frame: &mut [u8], h: &Header, opcode: u32, mbox: &[u8; 12]) {
    write_header(frame, IO_SGL, h);
    put32(frame, 0x18, opcode);
    frame[0x1c..0x28].copy_from_slice(mbox);
}

/// The queue information `MFI_CMD_INIT` registers (`struct megasas_init_queue_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QueueInfo {
    /// Reply queue entries (the firmware's `max_cmds`).
    pub(crate) entries: u32,
    /// Bus address of the reply queue.
    pub(crate) reply_queue: u64,
    /// Bus address of the producer index.
    pub(crate) producer: u64,
    /// Bus address of the consumer index.
    pub(crate) consumer: u64,
}

/// Size of [`QueueInfo`] in memory.
pub(crate) const QUEUE_INFO_SIZE: usize = 32;

/// Writes the queue information (32 bytes) into `out`.
pub(crate) fn write_queue_info(out: &mut [u8], q: &QueueInfo) {
    out[..QUEUE_INFO_SIZE].fill(0);
    put32(out, 0x04, q.entries);
    put64(out, 0x08, q.reply_queue);
    put64(out, 0x10, q.producer);
    put64(out, 0x18, q.consumer);
}

/// Writes an INIT frame pointing at queue information at `qinfo_addr`.
pub(crate) fn write_init(frame: &mut [u8], context: u32, qinfo_addr: u64) {
    write_header(
        frame,
        FRAME_SIZE,
        &Header {
            cmd: MfiCmd::Init,
            target: 0,
            lun: 0,
            context,
            flags: 0,
            // CAST: the size of the queue information, 32.
            data_xfer_len: QUEUE_INFO_SIZE as u32,
            sge_count: 0,
        },
    );
    put64(frame, 0x18, qinfo_addr);
}

/// Writes an ABORT frame for the frame at `frame_addr` posted with `abort_context`.
pub(crate) fn write_abort(frame: &mut [u8], context: u32, abort_context: u32, frame_addr: u64) {
    write_header(
        frame,
        FRAME_SIZE,
        &Header {
            cmd: MfiCmd::Abort,
            target: 0,
            lun: 0,
            context,
            flags: 0,
            data_xfer_len: 0,
            sge_count: 0,
        },
    );
    put64(frame, 0x18, u64::from(abort_context));
    put64(frame, 0x20, frame_addr);
}

/// The extra 64-byte units a frame uses beyond the first, for the doorbell (4 bits; QEMU
/// ignores it and always maps [`MAX_FRAME_BYTES`]).
pub(crate) const fn extra_frames(frame_bytes: usize) -> u32 {
    let units = frame_bytes.div_ceil(FRAME_SIZE);
    let extra = if units > 0 { units - 1 } else { 0 };
    // CAST: clamped to the 4-bit field.
    if extra > 15 {
        15
    } else {
        extra as u32
    }
}

/// The value to write to the inbound queue port to post a frame below 4 GiB.
pub(crate) const fn iqp_value(frame_addr: u32, extra: u32) -> u32 {
    frame_addr | (extra << 1) | 1
}

/// What the firmware wrote back into a completed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    /// Firmware status.
    pub(crate) status: MfiStatus,
    /// SCSI status of the device.
    pub(crate) scsi_status: u8,
    /// Sense bytes the firmware wrote.
    pub(crate) sense_len: u8,
}

/// Reads the completion fields of a frame.
#[inline]
pub(crate) fn read_completion(frame: &[u8]) -> Completion {
    Completion {
        status: MfiStatus(frame[hdr::CMD_STATUS]),
        scsi_status: frame[hdr::SCSI_STATUS],
        sense_len: frame[hdr::SENSE_LEN],
    }
}

/// SCSI status CHECK CONDITION: the firmware wrote sense data.
pub(crate) const CHECK_CONDITION: u8 = 0x02;

/// How the midlayer is told a command ended (the host byte of its result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `DID_OK`, with the device's SCSI status.
    Ok,
    /// `DID_BAD_TARGET`: the firmware has no such drive.
    BadTarget,
    /// `DID_ERROR`: the firmware failed the command, or said something the driver does not
    /// know.
    Error,
}

/// What a completed I/O frame means, as `megasas_complete_cmd()` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) ending: Ending,
    /// The SCSI status to report.
    pub(crate) scsi_status: u8,
    /// Sense bytes to copy from the frame's sense buffer: none unless the status is CHECK
    /// CONDITION, and never more than the buffer holds.
    pub(crate) sense_len: usize,
    /// The firmware claimed more sense bytes than the buffer holds (a device that lies): the
    /// driver counts it and copies what fits.
    pub(crate) sense_clamped: bool,
}

/// Decides how a command ends from the completion the firmware wrote into its frame;
/// `sense_room` is the size of the command's sense buffer. Total over every input: an MFI
/// status the driver does not know ends the command with `DID_ERROR`, never as a success.
pub(crate) fn decode_completion(c: Completion, sense_room: usize) -> Outcome {
    let (ending, scsi_status) = match c.status {
        MfiStatus::OK | MfiStatus::SCSI_DONE_WITH_ERROR => (Ending::Ok, c.scsi_status),
        MfiStatus::DEVICE_NOT_FOUND => (Ending::BadTarget, 0),
        // The firmware's own failure; 0xf0 is how it says the device returned CHECK
        // CONDITION.
        MfiStatus::SCSI_IO_FAILED | MfiStatus::LD_INIT_IN_PROGRESS => {
            let s = if c.scsi_status == 0xf0 {
                CHECK_CONDITION
            } else {
                c.scsi_status
            };
            (Ending::Error, s)
        }
        _ => (Ending::Error, 0),
    };
    let check = scsi_status == CHECK_CONDITION;
    let claimed = usize::from(c.sense_len);
    Outcome {
        ending,
        scsi_status,
        sense_len: if check { claimed.min(sense_room) } else { 0 },
        sense_clamped: check && claimed > sense_room,
    }
}

/// A READ or WRITE CDB decoded for the LD read/write fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rw {
    /// True for a write.
    pub(crate) write: bool,
    /// First block.
    pub(crate) lba: u64,
    /// Blocks.
    pub(crate) blocks: u32,
}

/// Decodes READ/WRITE(6, 10, 12, 16) for the fast path. Returns `None` for any other CDB and
/// for those the fast path must not take: FUA or DPO set (the LD frame cannot carry them, and
/// the firmware reads byte 1 as a LUN), protection information, or a zero-length transfer.
#[inline]
pub(crate) fn decode_rw(cdb: &[u8]) -> Option<Rw> {
    let op = *cdb.first()?;
    let (write, lba, blocks, flags) = match (op, cdb.len()) {
        (0x08 | 0x0a, 6..) => {
            let lba = u64::from(u32::from_be_bytes([0, cdb[1] & 0x1f, cdb[2], cdb[3]]));
            // A transfer length of 0 means 256 blocks in the 6-byte CDBs.
            let blocks = if cdb[4] == 0 { 256 } else { u32::from(cdb[4]) };
            (op == 0x0a, lba, blocks, 0)
        }
        (0x28 | 0x2a, 10..) => (
            op == 0x2a,
            u64::from(u32::from_be_bytes([cdb[2], cdb[3], cdb[4], cdb[5]])),
            u32::from(u16::from_be_bytes([cdb[7], cdb[8]])),
            cdb[1],
        ),
        (0xa8 | 0xaa, 12..) => (
            op == 0xaa,
            u64::from(u32::from_be_bytes([cdb[2], cdb[3], cdb[4], cdb[5]])),
            u32::from_be_bytes([cdb[6], cdb[7], cdb[8], cdb[9]]),
            cdb[1],
        ),
        (0x88 | 0x8a, 16..) => {
            let mut l = [0u8; 8];
            l.copy_from_slice(&cdb[2..10]);
            (
                op == 0x8a,
                u64::from_be_bytes(l),
                u32::from_be_bytes([cdb[10], cdb[11], cdb[12], cdb[13]]),
                cdb[1],
            )
        }
        _ => return None,
    };
    // DPO (bit 4), FUA (bit 3), RDPROTECT/WRPROTECT (bits 7:5).
    if flags & 0xf8 != 0 || blocks == 0 {
        return None;
    }
    Some(Rw { write, lba, blocks })
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rmegasas_frame))]
mod tests {
    use super::*;
    use kernel::scsi::rng::Rng;

    #[test]
    fn completion_known_statuses() {
        let c = |status, scsi_status, sense_len| Completion {
            status: MfiStatus(status),
            scsi_status,
            sense_len,
        };
        let o = decode_completion(c(0x00, 0x00, 0), 96);
        assert_eq!((o.ending, o.scsi_status, o.sense_len), (Ending::Ok, 0, 0));
        // A device's CHECK CONDITION through the firmware: its sense is copied.
        let o = decode_completion(c(0x2d, CHECK_CONDITION, 18), 96);
        assert_eq!(
            (o.ending, o.sense_len, o.sense_clamped),
            (Ending::Ok, 18, false)
        );
        assert_eq!(
            decode_completion(c(0x0c, 0, 0), 96).ending,
            Ending::BadTarget
        );
        let o = decode_completion(c(0x2e, 0xf0, 18), 96);
        assert_eq!(
            (o.ending, o.scsi_status, o.sense_len),
            (Ending::Error, 2, 18)
        );
        // Sense the firmware claims beyond the buffer: what fits, and counted.
        let o = decode_completion(c(0x2d, CHECK_CONDITION, 255), 96);
        assert_eq!((o.sense_len, o.sense_clamped), (96, true));
        // Sense with a status that is not CHECK CONDITION is not reported.
        assert_eq!(decode_completion(c(0x00, 0x00, 18), 96).sense_len, 0);
    }

    /// Every completion the firmware could write: the outcome is defined, never copies more
    /// sense than the buffer holds, reports sense only with CHECK CONDITION, and ends a
    /// command with an unknown MFI status as an error.
    #[test]
    fn completion_every_input() {
        let known = [0x00, 0x0c, 0x2d, 0x2e, 0x51];
        for status in 0..=255u8 {
            for scsi_status in [0x00, 0x02, 0x08, 0x18, 0x28, 0xf0, 0xff] {
                for sense_len in 0..=255u8 {
                    for room in [0, 18, 96] {
                        let c = Completion {
                            status: MfiStatus(status),
                            scsi_status,
                            sense_len,
                        };
                        let o = decode_completion(c, room);
                        assert!(o.sense_len <= room);
                        assert!(o.sense_len == 0 || o.scsi_status == CHECK_CONDITION);
                        let cut = o.sense_len < usize::from(sense_len);
                        let check = o.scsi_status == CHECK_CONDITION;
                        assert_eq!(o.sense_clamped, cut && check);
                        if !known.contains(&status) {
                            assert_eq!((o.ending, o.scsi_status), (Ending::Error, 0));
                        }
                        if o.ending == Ending::Ok {
                            assert!(status == 0x00 || status == 0x2d);
                        }
                    }
                }
            }
        }
    }

    /// Drive lists of random bytes and lengths, counts included: parsing never reads past
    /// the buffer, accepts a count only if its entries fit, and every target it reports is
    /// below `MAX_TARGETS`, one per entry at most.
    #[test]
    fn drive_lists_random() {
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut b = [0u8; 8 + 24 * 6];
        for round in 0..4000 {
            rng.fill(&mut b);
            // Small counts often enough for the entries to be read.
            if round % 2 == 0 {
                // CAST: below 8.
                let n = rng.below(8) as u32;
                put32(&mut b, 0, n);
                put32(&mut b, 4, n);
            }
            // CAST: at most the buffer's length.
            let len = rng.below(b.len() as u64 + 1) as usize;
            let buf = &b[..len];
            for (r, entry, count_off) in [(parse_ld_list(buf), 16, 0), (parse_pd_list(buf), 24, 4)]
            {
                let fits = len.saturating_sub(8) / entry;
                match r {
                    Ok(l) => {
                        let count = get32(buf, count_off);
                        assert!(usize::try_from(count).is_ok_and(|c| c <= fits));
                        let reported = l.targets.count_ones() + l.ignored;
                        assert!(reported <= count);
                    }
                    Err(e) => assert_eq!(e.fits, fits),
                }
            }
        }
    }

    /// Room for 8 LD list entries (the driver reads 64; the tests run on the kernel stack too).
    const LD_BUF: usize = 8 + 8 * 16;

    /// An `MR_LD_LIST` of `ids` claiming `count` entries.
    fn ld_list(count: u32, ids: &[u8]) -> [u8; LD_BUF] {
        let mut b = [0u8; LD_BUF];
        put32(&mut b, 0, count);
        for (i, &id) in ids.iter().enumerate() {
            b[8 + i * 16] = id;
            b[8 + i * 16 + 4] = 3; // state: optimal
        }
        b
    }

    #[test]
    fn ld_list_targets() {
        let b = ld_list(3, &[0, 5, 63]);
        assert_eq!(
            parse_ld_list(&b),
            Ok(DriveList {
                targets: 1 | 1 << 5 | 1 << 63,
                ignored: 0
            })
        );
        // An empty list.
        assert_eq!(
            parse_ld_list(&ld_list(0, &[])),
            Ok(DriveList {
                targets: 0,
                ignored: 0
            })
        );
        // Entries past the count are not read.
        let b = ld_list(1, &[2, 7]);
        assert_eq!(parse_ld_list(&b).map(|l| l.targets), Ok(1 << 2));
    }

    #[test]
    fn ld_list_ids_beyond_the_driver() {
        let b = ld_list(3, &[1, 64, 200]);
        assert_eq!(
            parse_ld_list(&b),
            Ok(DriveList {
                targets: 1 << 1,
                ignored: 2
            })
        );
    }

    #[test]
    fn ld_list_overflow() {
        // 8 entries fit; 9 cannot.
        assert!(parse_ld_list(&ld_list(8, &[0; 8])).is_ok());
        assert_eq!(
            parse_ld_list(&ld_list(9, &[])),
            Err(ListOverflow { count: 9, fits: 8 })
        );
        let b = ld_list(u32::MAX, &[]);
        assert_eq!(
            parse_ld_list(&b),
            Err(ListOverflow {
                count: u32::MAX,
                fits: 8
            })
        );
        // A buffer too short for the header, with a count of 0 (the property test below
        // found this one panicking).
        assert_eq!(
            parse_ld_list(&ld_list(0, &[])[..5]),
            Ok(DriveList {
                targets: 0,
                ignored: 0
            })
        );
        // A buffer too short for the header.
        assert_eq!(
            parse_ld_list(&b[..3]),
            Err(ListOverflow { count: 0, fits: 0 })
        );
        // The count is checked against the buffer actually given.
        assert_eq!(
            parse_ld_list(&ld_list(2, &[0, 1])[..8 + 16]),
            Err(ListOverflow { count: 2, fits: 1 })
        );
    }

    #[test]
    fn pd_list_targets_and_overflow() {
        // Room for 4 entries.
        let mut b = [0u8; 8 + 4 * 24];
        put32(&mut b, 0, 8 + 3 * 24);
        put32(&mut b, 4, 3);
        // QEMU: device id = scsi id << 8 | lun.
        for (i, dev) in [0x0000u16, 0x0700, 0x4000].iter().enumerate() {
            put16(&mut b, 8 + i * 24, *dev);
        }
        assert_eq!(
            parse_pd_list(&b),
            Ok(DriveList {
                targets: 1 | 1 << 7,
                ignored: 1
            })
        );
        put32(&mut b, 4, 4);
        assert!(parse_pd_list(&b).is_ok());
        put32(&mut b, 4, 5);
        assert_eq!(parse_pd_list(&b), Err(ListOverflow { count: 5, fits: 4 }));
    }

    fn get64(buf: &[u8], off: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[off..off + 8]);
        u64::from_le_bytes(b)
    }

    #[test]
    fn pthru_layout() {
        let mut f = [0xaau8; 128];
        let h = Header {
            cmd: MfiCmd::LdScsiIo,
            target: 3,
            lun: 0,
            context: 0x0001_0007,
            flags: SgeFormat::Ieee.flags(),
            data_xfer_len: 4096,
            sge_count: 1,
        };
        write_pthru(&mut f, &h, &[0x12, 0, 0, 0, 36, 0], 0x1234_5678_9abc, 96);
        assert_eq!(f[0], 3);
        assert_eq!(f[1], 96);
        assert_eq!(f[2], STATUS_PENDING);
        assert_eq!(f[4], 3);
        assert_eq!(f[6], 6);
        assert_eq!(f[7], 1);
        assert_eq!(get32(&f, 8), 0x0001_0007);
        assert_eq!(get32(&f, 12), 0);
        assert_eq!(get16(&f, 0x10), flags::IEEE | flags::SGL64 | flags::SENSE64);
        assert_eq!(get32(&f, 0x14), 4096);
        assert_eq!(get64(&f, 0x18), 0x1234_5678_9abc);
        assert_eq!(&f[0x20..0x26], &[0x12, 0, 0, 0, 36, 0]);
        assert_eq!(f[0x26], 0);
        // The SG list area is left to the cursor.
        assert_eq!(f[PTHRU_SGL], 0xaa);
    }

    #[test]
    fn ldio_layout_and_lun_zero() {
        let mut f = [0u8; 64];
        let h = Header {
            cmd: MfiCmd::LdWrite,
            target: 1,
            lun: 7,
            context: 5,
            flags: 0,
            data_xfer_len: 8,
            sge_count: 2,
        };
        write_ldio(&mut f, &h, 0x1_0000_0002, 0x8000, 96);
        assert_eq!(f[0], 2);
        assert_eq!(f[5], 0);
        assert_eq!(get32(&f, 0x14), 8);
        assert_eq!(get64(&f, 0x18), 0x8000);
        assert_eq!(get32(&f, 0x20), 2);
        assert_eq!(get32(&f, 0x24), 1);
    }

    #[test]
    fn dcmd_init_abort_layouts() {
        let mut f = [0u8; 64];
        let h = Header {
            cmd: MfiCmd::Dcmd,
            target: 0,
            lun: 0,
            context: 9,
            flags: flags::SGL64,
            data_xfer_len: 2048,
            sge_count: 1,
        };
        let mut mbox = [0u8; 12];
        mbox[0] = 1;
        write_dcmd(&mut f, &h, dcmd::CTRL_GET_INFO, &mbox);
        assert_eq!(f[0], 5);
        assert_eq!(get32(&f, 0x18), 0x0101_0000);
        assert_eq!(f[0x1c], 1);

        write_init(&mut f, 0xffff_0000, 0x4000);
        assert_eq!(f[0], 0);
        assert_eq!(get32(&f, 0x14), 32);
        assert_eq!(get64(&f, 0x18), 0x4000);

        write_abort(&mut f, 0xffff_0001, 0x0003_0010, 0x9000);
        assert_eq!(f[0], 6);
        assert_eq!(get64(&f, 0x18), 0x0003_0010);
        assert_eq!(get64(&f, 0x20), 0x9000);

        let mut q = [0xffu8; 32];
        write_queue_info(
            &mut q,
            &QueueInfo {
                entries: 1000,
                reply_queue: 0x1000,
                producer: 0x2000,
                consumer: 0x2040,
            },
        );
        assert_eq!(get32(&q, 0), 0);
        assert_eq!(get32(&q, 4), 1000);
        assert_eq!(get64(&q, 8), 0x1000);
        assert_eq!(get64(&q, 0x10), 0x2000);
        assert_eq!(get64(&q, 0x18), 0x2040);
    }

    #[test]
    fn sge_writers() {
        let seg = Segment {
            addr: 0x1_2345_6789,
            len: 0x1000,
        };
        let mut o = [0xeeu8; 16];
        SgeIeee.write(&mut o, seg);
        assert_eq!(get64(&o, 0), 0x1_2345_6789);
        assert_eq!(get32(&o, 8), 0x1000);
        assert_eq!(get32(&o, 12), 0);
        let mut o = [0xeeu8; 12];
        Sge64.write(&mut o, seg);
        assert_eq!(get64(&o, 0), 0x1_2345_6789);
        let mut o = [0xeeu8; 8];
        Sge32.write(
            &mut o,
            Segment {
                addr: 0x8000,
                len: 512,
            },
        );
        assert_eq!((get32(&o, 0), get32(&o, 4)), (0x8000, 512));
        assert_eq!(SgeFormat::Ieee.capacity(PTHRU_SGL), 125);
        assert_eq!(SgeFormat::Sge64.capacity(IO_SGL), 167);
    }

    #[test]
    fn doorbell() {
        assert_eq!(extra_frames(64), 0);
        assert_eq!(extra_frames(65), 1);
        assert_eq!(extra_frames(0x30 + 16 * 80), 20 - 5);
        assert_eq!(iqp_value(0x1000_0000, 3), 0x1000_0007);
    }

    #[test]
    fn rw_decoding() {
        // READ(10) of 8 blocks at 0x01020304.
        assert_eq!(
            decode_rw(&[0x28, 0, 1, 2, 3, 4, 0, 0, 8, 0]),
            Some(Rw {
                write: false,
                lba: 0x0102_0304,
                blocks: 8
            })
        );
        // WRITE(6) with a length of 0: 256 blocks; LBA masked to 21 bits.
        assert_eq!(
            decode_rw(&[0x0a, 0xff, 0xff, 0xff, 0, 0]),
            Some(Rw {
                write: true,
                lba: 0x1f_ffff,
                blocks: 256
            })
        );
        // WRITE(16) beyond 2 TiB.
        assert_eq!(
            decode_rw(&[0x8a, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
            Some(Rw {
                write: true,
                lba: 0x1_0000_0000,
                blocks: 0x100
            })
        );
        // READ(12).
        assert_eq!(
            decode_rw(&[0xa8, 0, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0]),
            Some(Rw {
                write: false,
                lba: 9,
                blocks: 2
            })
        );
        // FUA, DPO, protection, zero length, other commands and short CDBs take the slow path.
        assert_eq!(decode_rw(&[0x2a, 0x08, 0, 0, 0, 0, 0, 0, 1, 0]), None);
        assert_eq!(decode_rw(&[0x28, 0x10, 0, 0, 0, 0, 0, 0, 1, 0]), None);
        assert_eq!(decode_rw(&[0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0]), None);
        assert_eq!(decode_rw(&[0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode_rw(&[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode_rw(&[0x28, 0, 0]), None);
        assert_eq!(decode_rw(&[]), None);
    }
}
