// SPDX-License-Identifier: GPL-2.0

//! The virtio-scsi protocol: device configuration, request and response headers, and what a
//! response means for the SCSI midlayer.
//!
//! Layouts follow [`include/uapi/linux/virtio_scsi.h`](srctree/include/uapi/linux/virtio_scsi.h)
//! (`struct virtio_scsi_config`, `virtio_scsi_cmd_req`, `virtio_scsi_cmd_resp`); the mapping
//! of responses follows `virtscsi_complete_cmd()` in
//! [`drivers/scsi/virtio_scsi.c`](srctree/drivers/scsi/virtio_scsi.c). Everything is
//! little-endian (VIRTIO_F_VERSION_1).
//!
//! This file needs only `core` and is tested on the host (`tools/hosttest`) and in the kernel
//! (KUnit suite `rvirtio_scsi_proto`).

use kernel::scsi::bytes::{put, put32, put64};
use kernel::scsi::status::{HostByte, ScsiStatus};

/// `VIRTIO_SCSI_CDB_SIZE`: the CDB bytes of a request header; the driver writes it to the
/// device's `cdb_size`.
pub(crate) const CDB_SIZE: usize = 32;
/// `VIRTIO_SCSI_SENSE_SIZE`: the sense bytes of a response header; the driver writes it to the
/// device's `sense_size`.
pub(crate) const SENSE_SIZE: usize = 96;
/// Bytes of a command request header with [`CDB_SIZE`] (QEMU takes the first device-readable
/// descriptor as the whole header: it must be exactly this long).
pub(crate) const REQ_SIZE: usize = 19 + CDB_SIZE;
/// Bytes of a command response header with [`SENSE_SIZE`].
pub(crate) const RESP_SIZE: usize = 12 + SENSE_SIZE;

/// Device feature bits (`VIRTIO_SCSI_F_*`).
pub(crate) mod feature {
    /// Hot-plug events: `TRANSPORT_RESET` with `RESCAN` or `REMOVED`.
    pub(crate) const HOTPLUG: u32 = 1;
    /// Parameter change events (`PARAM_CHANGE`: capacity, LUN inventory).
    pub(crate) const CHANGE: u32 = 2;
}

/// Bytes of `struct virtio_scsi_config`.
pub(crate) const CONFIG_SIZE: usize = 36;

/// Offsets of the fields of `struct virtio_scsi_config`.
pub(crate) mod cfg {
    pub(crate) const NUM_QUEUES: usize = 0x00;
    pub(crate) const SEG_MAX: usize = 0x04;
    pub(crate) const MAX_SECTORS: usize = 0x08;
    pub(crate) const CMD_PER_LUN: usize = 0x0c;
    pub(crate) const EVENT_INFO_SIZE: usize = 0x10;
    pub(crate) const SENSE_SIZE: usize = 0x14;
    pub(crate) const CDB_SIZE: usize = 0x18;
    pub(crate) const MAX_CHANNEL: usize = 0x1c;
    pub(crate) const MAX_TARGET: usize = 0x1e;
    pub(crate) const MAX_LUN: usize = 0x20;
}

/// The device configuration (`struct virtio_scsi_config`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) num_queues: u32,
    pub(crate) seg_max: u32,
    pub(crate) max_sectors: u32,
    pub(crate) cmd_per_lun: u32,
    pub(crate) event_info_size: u32,
    pub(crate) sense_size: u32,
    pub(crate) cdb_size: u32,
    pub(crate) max_channel: u16,
    pub(crate) max_target: u16,
    pub(crate) max_lun: u32,
}

/// Why a device configuration cannot be used; each names the field and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConfigError {
    /// `num_queues` is 0: no request queue.
    NoQueues,
    /// `seg_max` is 0: no data descriptor per command.
    NoSegments,
    /// `max_sectors` is 0.
    NoSectors,
    /// `sense_size` or `cdb_size` did not take the value the driver wrote (read back).
    HeaderSize { sense: u32, cdb: u32 },
}

impl Config {
    /// Reads the configuration from its bytes.
    pub(crate) fn parse(b: &[u8; CONFIG_SIZE]) -> Self {
        let r32 = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let r16 = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        Self {
            num_queues: r32(cfg::NUM_QUEUES),
            seg_max: r32(cfg::SEG_MAX),
            max_sectors: r32(cfg::MAX_SECTORS),
            cmd_per_lun: r32(cfg::CMD_PER_LUN),
            event_info_size: r32(cfg::EVENT_INFO_SIZE),
            sense_size: r32(cfg::SENSE_SIZE),
            cdb_size: r32(cfg::CDB_SIZE),
            max_channel: r16(cfg::MAX_CHANNEL),
            max_target: r16(cfg::MAX_TARGET),
            max_lun: r32(cfg::MAX_LUN),
        }
    }

    /// Checks what the driver needs: at least one request queue, one segment and one sector,
    /// and the header sizes the driver wrote ([`CDB_SIZE`], [`SENSE_SIZE`]).
    ///
    /// The C driver takes 0 for `num_queues`, `seg_max` and `cmd_per_lun` as 1 and 0 for
    /// `max_sectors` as 0xffff; the specification gives these fields no such meaning, so a
    /// device that reports them is refused here with the value it reported.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.num_queues == 0 {
            return Err(ConfigError::NoQueues);
        }
        if self.seg_max == 0 {
            return Err(ConfigError::NoSegments);
        }
        if self.max_sectors == 0 {
            return Err(ConfigError::NoSectors);
        }
        // CAST: Small constants.
        if self.sense_size != SENSE_SIZE as u32 || self.cdb_size != CDB_SIZE as u32 {
            return Err(ConfigError::HeaderSize {
                sense: self.sense_size,
                cdb: self.cdb_size,
            });
        }
        Ok(())
    }

    /// `max_lun` for the midlayer, as the C driver sets it: the scan reads LUNs above 255 from
    /// REPORT LUNS in the flat space format (`0x4000 | lun`), so they lie in 0x4000..=0x7fff.
    pub(crate) fn host_max_lun(&self) -> u64 {
        u64::from(self.max_lun) + 1 + 0x4000
    }
}

/// The 8-byte LUN of `target` and `lun` (`virtio_scsi_init_hdr()`): a single-level LUN in
/// the flat space format. `lun` is the midlayer's, which for LUNs above 255 already holds the
/// format bits (`0x4000 | lun`); the 14 bits QEMU decodes are the same either way.
pub(crate) fn lun_bytes(target: u8, lun: u64) -> [u8; 8] {
    // CAST: the LUN's two low bytes, as the C driver takes them.
    let (hi, lo) = (((lun >> 8) as u8) | 0x40, lun as u8);
    [1, target, hi, lo, 0, 0, 0, 0]
}

/// `VIRTIO_SCSI_S_SIMPLE`.
pub(crate) const TASK_ATTR_SIMPLE: u8 = 0;

/// Writes a command request header into `out` (at least [`REQ_SIZE`] bytes): LUN, tag,
/// SIMPLE task attribute, no priority, and the CDB, given padded with zeroes to [`CDB_SIZE`]
/// (`Command::cdb_padded()`), so that every copy is of a known size.
///
/// Returns `false`, and writes nothing, if `out` is shorter than a header.
#[inline]
pub(crate) fn write_cmd_req(out: &mut [u8], lun: [u8; 8], tag: u64, cdb: &[u8; CDB_SIZE]) -> bool {
    if out.len() < REQ_SIZE {
        return false;
    }
    put(out, 0, lun);
    put64(out, 8, tag);
    // Task attribute SIMPLE, no priority, no CRN.
    put(out, 16, [TASK_ATTR_SIMPLE, 0, 0]);
    put(out, 19, *cdb);
    true
}

/// Response codes (`VIRTIO_SCSI_S_*`).
pub(crate) mod response {
    pub(crate) const OK: u8 = 0;
    pub(crate) const OVERRUN: u8 = 1;
    pub(crate) const ABORTED: u8 = 2;
    pub(crate) const BAD_TARGET: u8 = 3;
    pub(crate) const RESET: u8 = 4;
    pub(crate) const BUSY: u8 = 5;
    pub(crate) const TRANSPORT_FAILURE: u8 = 6;
    pub(crate) const TARGET_FAILURE: u8 = 7;
    pub(crate) const NEXUS_FAILURE: u8 = 8;
    pub(crate) const FAILURE: u8 = 9;
    /// Task management only: the function succeeded (an `I_T_NEXUS_RESET`, say).
    pub(crate) const FUNCTION_SUCCEEDED: u8 = 10;
    /// Task management only: the device will not do the function.
    pub(crate) const FUNCTION_REJECTED: u8 = 11;
    pub(crate) const INCORRECT_LUN: u8 = 12;
    /// One more than the highest code: counters are kept for `0..COUNT`, and one for others.
    pub(crate) const COUNT: usize = 13;
}

/// A task management request (`struct virtio_scsi_ctrl_tmf_req`): type, subtype, LUN, tag.
pub(crate) const TMF_REQ_SIZE: usize = 24;
/// A task management response (`struct virtio_scsi_ctrl_tmf_resp`): the response code.
pub(crate) const TMF_RESP_SIZE: usize = 1;

/// `VIRTIO_SCSI_T_TMF`: the type of a task management request on the control queue.
pub(crate) const T_TMF: u32 = 0;

/// Task management functions (`VIRTIO_SCSI_T_TMF_*`), the subtypes the driver sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Tmf {
    /// Aborts the command of a tag (`eh_abort_handler`).
    AbortTask = 0,
    /// Resets every LUN of the target in `lun[1]` (`eh_target_reset_handler`).
    ITNexusReset = 4,
    /// Resets one LUN (`eh_device_reset_handler`).
    LogicalUnitReset = 5,
}

impl Tmf {
    /// The function of subtype number `v`, if it is one the driver sends.
    pub(crate) fn from_raw(v: u32) -> Option<Self> {
        [Self::AbortTask, Self::ITNexusReset, Self::LogicalUnitReset]
            .into_iter()
            .find(|f| *f as u32 == v)
    }
}

/// Writes a task management request into `out` (at least [`TMF_REQ_SIZE`] bytes): `function`
/// on `lun`, for the command the device knows by `tag` (0 for the resets).
///
/// Returns `false`, and writes nothing, if `out` is shorter than the request.
pub(crate) fn write_tmf_req(out: &mut [u8], function: Tmf, lun: [u8; 8], tag: u64) -> bool {
    if out.len() < TMF_REQ_SIZE {
        return false;
    }
    put32(out, 0, T_TMF);
    put32(out, 4, function as u32);
    put(out, 8, lun);
    put64(out, 16, tag);
    true
}

/// Whether a task management response means the function was done, as `virtscsi_tmf()` takes
/// it: `VIRTIO_SCSI_S_OK` ("function complete") or `VIRTIO_SCSI_S_FUNCTION_SUCCEEDED`. Every
/// other code (rejected, incorrect LUN, a failure, nonsense) fails it, and the midlayer
/// escalates.
pub(crate) fn tmf_done(response: u8) -> bool {
    matches!(response, response::OK | response::FUNCTION_SUCCEEDED)
}

/// A command response header (`struct virtio_scsi_cmd_resp`), without the sense bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CmdResp {
    pub(crate) sense_len: u32,
    pub(crate) resid: u32,
    pub(crate) status_qualifier: u16,
    pub(crate) status: u8,
    pub(crate) response: u8,
}

impl CmdResp {
    /// Reads the header from `b` (at least 12 bytes).
    pub(crate) fn read(b: &[u8]) -> Self {
        Self {
            sense_len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            resid: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            status_qualifier: u16::from_le_bytes([b[8], b[9]]),
            status: b[10],
            response: b[11],
        }
    }
}

/// What a response means for the midlayer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) host: HostByte,
    pub(crate) status: ScsiStatus,
    /// Sense bytes to copy from the response: at most [`SENSE_SIZE`] and the device's
    /// `sense_len`.
    pub(crate) sense_len: usize,
    /// The residual, at most the transfer length.
    pub(crate) resid: u32,
    /// The response code is none the specification defines.
    pub(crate) unknown: bool,
    /// The device claimed more sense than the response holds (a device that lies): the driver
    /// copies what fits and counts it.
    pub(crate) sense_clamped: bool,
    /// The device claimed a residual larger than the transfer: taken as the transfer length
    /// (nothing moved), and counted.
    pub(crate) resid_clamped: bool,
}

/// Maps a response to the midlayer's result, as `virtscsi_complete_cmd()` does, for a command
/// of `transfer_len` bytes.
///
/// One difference: `VIRTIO_SCSI_S_INCORRECT_LUN` (QEMU's answer for a LUN that does not exist
/// on a target that does) is `DID_BAD_TARGET`, "no such device", where the C driver takes it
/// as an unknown code (`DID_ERROR` and a warning).
pub(crate) fn outcome(r: &CmdResp, transfer_len: u32) -> Outcome {
    let mut status = ScsiStatus(r.status);
    let mut unknown = false;
    let host = match r.response {
        response::OK => HostByte::Ok,
        response::ABORTED => HostByte::Abort,
        response::BAD_TARGET | response::TARGET_FAILURE | response::INCORRECT_LUN => {
            HostByte::BadTarget
        }
        response::RESET => HostByte::Reset,
        response::BUSY => HostByte::BusBusy,
        response::TRANSPORT_FAILURE => HostByte::TransportDisrupted,
        response::NEXUS_FAILURE => {
            status = ScsiStatus::RESERVATION_CONFLICT;
            HostByte::Ok
        }
        response::OVERRUN | response::FAILURE => HostByte::Error,
        _ => {
            unknown = true;
            HostByte::Error
        }
    };
    Outcome {
        host,
        status,
        // CAST: at most `SENSE_SIZE`.
        sense_len: r.sense_len.min(SENSE_SIZE as u32) as usize,
        resid: r.resid.min(transfer_len),
        unknown,
        // CAST: `SENSE_SIZE` is 96.
        sense_clamped: r.sense_len > SENSE_SIZE as u32,
        resid_clamped: r.resid > transfer_len,
    }
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvirtio_scsi_proto))]
mod tests {
    use super::*;
    use kernel::scsi::rng::Rng;

    /// QEMU's default configuration (virtio-scsi.c, `virtio_scsi_get_config`).
    const QEMU: [u8; CONFIG_SIZE] = [
        2, 0, 0, 0, // num_queues
        254, 0, 0, 0, // seg_max
        0xff, 0xff, 0, 0, // max_sectors
        128, 0, 0, 0, // cmd_per_lun
        16, 0, 0, 0, // event_info_size
        96, 0, 0, 0, // sense_size
        32, 0, 0, 0, // cdb_size
        0, 0, // max_channel
        255, 0, // max_target
        0xff, 0x3f, 0, 0, // max_lun 16383
    ];

    #[test]
    fn the_configuration_parses_at_the_c_offsets() {
        let c = Config::parse(&QEMU);
        assert_eq!(c.num_queues, 2);
        assert_eq!(c.seg_max, 254);
        assert_eq!(c.max_sectors, 0xffff);
        assert_eq!(c.cmd_per_lun, 128);
        assert_eq!(c.event_info_size, 16);
        assert_eq!(c.max_target, 255);
        assert_eq!(c.max_lun, 16383);
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.host_max_lun(), 16384 + 0x4000);
    }

    #[test]
    fn nonsense_configurations_are_refused_by_field() {
        let ok = Config::parse(&QEMU);
        assert_eq!(
            Config {
                num_queues: 0,
                ..ok
            }
            .check(),
            Err(ConfigError::NoQueues)
        );
        assert_eq!(
            Config { seg_max: 0, ..ok }.check(),
            Err(ConfigError::NoSegments)
        );
        assert_eq!(
            Config {
                max_sectors: 0,
                ..ok
            }
            .check(),
            Err(ConfigError::NoSectors)
        );
        assert_eq!(
            Config { cdb_size: 16, ..ok }.check(),
            Err(ConfigError::HeaderSize { sense: 96, cdb: 16 })
        );
    }

    #[test]
    fn luns_use_the_flat_space_format() {
        assert_eq!(lun_bytes(3, 0), [1, 3, 0x40, 0, 0, 0, 0, 0]);
        assert_eq!(lun_bytes(255, 7), [1, 255, 0x40, 7, 0, 0, 0, 0]);
        // LUN 300 as the scan finds it in REPORT LUNS (0x4000 | 300), and as a plain number.
        assert_eq!(lun_bytes(0, 0x4000 | 300), [1, 0, 0x41, 0x2c, 0, 0, 0, 0]);
        assert_eq!(lun_bytes(0, 300), [1, 0, 0x41, 0x2c, 0, 0, 0, 0]);
        // The last LUN QEMU allows.
        assert_eq!(lun_bytes(1, 16383), [1, 1, 0x7f, 0xff, 0, 0, 0, 0]);
    }

    #[test]
    fn request_headers_carry_the_padded_cdb_and_refuse_short_buffers() {
        let mut b = [0xaau8; REQ_SIZE];
        let mut cdb = [0u8; CDB_SIZE];
        cdb[..6].copy_from_slice(&[0x28, 0, 0, 0, 0, 8]);
        assert!(write_cmd_req(&mut b, lun_bytes(1, 2), 0x0102, &cdb));
        assert_eq!(&b[0..4], &[1, 1, 0x40, 2]);
        assert_eq!(&b[8..10], &[2, 1]);
        assert_eq!(b[16], TASK_ATTR_SIMPLE);
        assert_eq!(b[19], 0x28);
        assert_eq!(b[24], 8);
        assert!(b[25..].iter().all(|&x| x == 0));
        let mut c = [0xaau8; REQ_SIZE - 1];
        assert!(!write_cmd_req(
            &mut c,
            lun_bytes(0, 0),
            0,
            &[0x7fu8; CDB_SIZE]
        ));
        assert!(c.iter().all(|&x| x == 0xaa));
        let mut d = [0xaau8; REQ_SIZE + 1];
        assert!(write_cmd_req(
            &mut d,
            lun_bytes(0, 0),
            0,
            &[0x7fu8; CDB_SIZE]
        ));
        assert_eq!(d[REQ_SIZE - 1], 0x7f);
        assert_eq!(d[REQ_SIZE], 0xaa);
    }

    #[test]
    fn tmf_requests_are_laid_out_as_the_header_declares() {
        let mut b = [0xaau8; TMF_REQ_SIZE + 1];
        assert!(write_tmf_req(
            &mut b,
            Tmf::AbortTask,
            lun_bytes(2, 5),
            0x0102_0304_0506_0708
        ));
        assert_eq!(&b[0..4], &[0, 0, 0, 0]);
        assert_eq!(&b[4..8], &[0, 0, 0, 0]);
        assert_eq!(&b[8..16], &[1, 2, 0x40, 5, 0, 0, 0, 0]);
        assert_eq!(&b[16..24], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b[24], 0xaa);
        assert!(write_tmf_req(
            &mut b,
            Tmf::LogicalUnitReset,
            lun_bytes(0, 0),
            0
        ));
        assert_eq!(&b[4..8], &[5, 0, 0, 0]);
        assert!(write_tmf_req(&mut b, Tmf::ITNexusReset, lun_bytes(7, 0), 0));
        assert_eq!(&b[4..8], &[4, 0, 0, 0]);
        assert_eq!(b[9], 7);
        let mut c = [0xaau8; TMF_REQ_SIZE - 1];
        assert!(!write_tmf_req(&mut c, Tmf::AbortTask, lun_bytes(0, 0), 1));
        assert!(c.iter().all(|&x| x == 0xaa));
    }

    #[test]
    fn tmf_subtypes_round_trip_and_others_are_refused() {
        for f in [Tmf::AbortTask, Tmf::ITNexusReset, Tmf::LogicalUnitReset] {
            assert_eq!(Tmf::from_raw(f as u32), Some(f));
        }
        for v in [1, 2, 3, 6, 7, 255, u32::MAX] {
            assert_eq!(Tmf::from_raw(v), None);
        }
    }

    #[test]
    fn only_complete_and_succeeded_tmfs_are_done() {
        for code in 0..=255u8 {
            let done = code == response::OK || code == response::FUNCTION_SUCCEEDED;
            assert_eq!(tmf_done(code), done);
        }
    }

    fn resp(response: u8, status: u8, sense_len: u32, resid: u32) -> CmdResp {
        let mut b = [0u8; RESP_SIZE];
        b[0..4].copy_from_slice(&sense_len.to_le_bytes());
        b[4..8].copy_from_slice(&resid.to_le_bytes());
        b[10] = status;
        b[11] = response;
        CmdResp::read(&b)
    }

    #[test]
    fn responses_map_as_the_c_driver_maps_them() {
        let cases = [
            (response::OK, HostByte::Ok),
            (response::OVERRUN, HostByte::Error),
            (response::ABORTED, HostByte::Abort),
            (response::BAD_TARGET, HostByte::BadTarget),
            (response::RESET, HostByte::Reset),
            (response::BUSY, HostByte::BusBusy),
            (response::TRANSPORT_FAILURE, HostByte::TransportDisrupted),
            (response::TARGET_FAILURE, HostByte::BadTarget),
            (response::FAILURE, HostByte::Error),
            (response::INCORRECT_LUN, HostByte::BadTarget),
        ];
        for (code, host) in cases {
            let o = outcome(&resp(code, 0, 0, 0), 4096);
            assert_eq!(o.host, host);
            assert!(!o.unknown);
        }
        let n = outcome(&resp(response::NEXUS_FAILURE, 0, 0, 0), 0);
        assert_eq!(
            (n.host, n.status),
            (HostByte::Ok, ScsiStatus::RESERVATION_CONFLICT)
        );
        let u = outcome(&resp(200, 0, 0, 0), 0);
        assert_eq!(u.host, HostByte::Error);
        assert!(u.unknown);
    }

    #[test]
    fn sense_and_residual_are_bounded() {
        let o = outcome(&resp(response::OK, 2, 18, 0), 512);
        assert_eq!((o.status, o.sense_len), (ScsiStatus::CHECK_CONDITION, 18));
        // A device that claims more sense than the header holds, or more residual than the
        // transfer.
        let o = outcome(&resp(response::OK, 2, 5000, 9000), 512);
        assert_eq!((o.sense_len, o.resid), (SENSE_SIZE, 512));
        assert!(o.sense_clamped && o.resid_clamped);
        let o = outcome(&resp(response::OK, 0, 0, 100), 512);
        assert_eq!(o.resid, 100);
        assert!(!o.sense_clamped && !o.resid_clamped);
    }

    /// Responses of random bytes, for transfers of random lengths: the sense to copy fits the
    /// response, the residual never exceeds the transfer, each is flagged exactly when the
    /// device claimed more, and an undefined response code is an error, flagged.
    #[test]
    fn random_responses_are_bounded() {
        let mut rng = Rng::new(0x5eed);
        let mut b = [0u8; RESP_SIZE];
        for round in 0..20000 {
            rng.fill(&mut b);
            // Small lengths often enough to be below the limits.
            if round % 2 == 0 {
                // CAST: below 200, then below 4096.
                b[0..4].copy_from_slice(&(rng.below(200) as u32).to_le_bytes());
                b[4..8].copy_from_slice(&(rng.below(4096) as u32).to_le_bytes());
                // CAST: below 16.
                b[11] = rng.below(16) as u8;
            }
            let r = CmdResp::read(&b);
            // CAST: below 1 MiB.
            let len = rng.below(1 << 20) as u32;
            let o = outcome(&r, len);
            assert!(o.sense_len <= SENSE_SIZE);
            assert!(o.resid <= len);
            let sense_cut = usize::try_from(r.sense_len).map_or(true, |n| n > o.sense_len);
            assert_eq!(o.sense_clamped, sense_cut);
            let resid_cut = o.resid < r.resid;
            assert_eq!(o.resid_clamped, resid_cut);
            if usize::from(r.response) >= response::COUNT || r.response == 10 || r.response == 11 {
                assert!(o.unknown);
                assert_eq!(o.host, HostByte::Error);
            }
        }
    }
}
