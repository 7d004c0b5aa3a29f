// SPDX-License-Identifier: GPL-2.0

//! virtio-scsi events: what the device reports on its event queue, and what the driver does
//! about each.
//!
//! Layout from [`include/uapi/linux/virtio_scsi.h`](srctree/include/uapi/linux/virtio_scsi.h)
//! (`struct virtio_scsi_event`); the handling follows `virtscsi_handle_event()`,
//! `virtscsi_handle_transport_reset()` and `virtscsi_handle_param_change()` in
//! [`drivers/scsi/virtio_scsi.c`](srctree/drivers/scsi/virtio_scsi.c), and goes further where
//! the C driver only logs: a hard reset of a target rescans it, and REPORTED LUNS DATA HAS
//! CHANGED rescans the target's LUNs.
//!
//! This file needs only `core` and is tested on the host (`tools/hosttest`) and in the kernel
//! (KUnit suite `rvirtio_scsi_event`).

/// Bytes of an event (`struct virtio_scsi_event`: event, LUN, reason).
pub(crate) const SIZE: usize = 16;

/// Event buffers the driver keeps posted (`VIRTIO_SCSI_EVENT_LEN`, as the C driver).
pub(crate) const BUFFERS: u16 = 8;

/// Event types (`VIRTIO_SCSI_T_*`).
pub(crate) mod kind {
    pub(crate) const NO_EVENT: u32 = 0;
    pub(crate) const TRANSPORT_RESET: u32 = 1;
    pub(crate) const ASYNC_NOTIFY: u32 = 2;
    pub(crate) const PARAM_CHANGE: u32 = 3;
    /// Set in `event` when the device had no buffer for some events (`EVENTS_MISSED`).
    pub(crate) const EVENTS_MISSED: u32 = 0x8000_0000;
}

/// Reasons of a `TRANSPORT_RESET` (`VIRTIO_SCSI_EVT_RESET_*`).
pub(crate) mod reason {
    pub(crate) const HARD: u32 = 0;
    pub(crate) const RESCAN: u32 = 1;
    pub(crate) const REMOVED: u32 = 2;
}

/// An event as the device wrote it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) event: u32,
    pub(crate) lun: [u8; 8],
    pub(crate) reason: u32,
}

/// What the driver does about an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing (no event, an event the driver did not ask for, or nonsense).
    None,
    /// Add the LUN (`scsi_add_device()`): the device has a new one.
    Add { target: u8, lun: u64 },
    /// Remove the LUN: the device lost it.
    Remove { target: u8, lun: u64 },
    /// Rescan the LUN: its capacity or parameters changed.
    Rescan { target: u8, lun: u64 },
    /// Rescan the target's LUNs: it was reset, or its LUN inventory changed.
    ScanTarget { target: u8 },
}

/// The kinds of event counted apart in debugfs, in [`Event::counter`]'s order.
pub(crate) const COUNTERS: [&str; 7] = [
    "no_event",
    "rescan",
    "removed",
    "hard_reset",
    "param_change",
    "async_notify",
    "unknown",
];

impl Event {
    /// Reads an event from its bytes (little-endian, `VIRTIO_F_VERSION_1`).
    pub(crate) fn parse(b: &[u8; SIZE]) -> Self {
        let r32 = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut lun = [0u8; 8];
        lun.copy_from_slice(&b[4..12]);
        Self {
            event: r32(0),
            lun,
            reason: r32(12),
        }
    }

    /// Whether the device dropped events before this one for want of a buffer: the driver
    /// must look at every device again (its inventory may have changed in any way).
    pub(crate) fn missed(&self) -> bool {
        self.event & kind::EVENTS_MISSED != 0
    }

    /// The event's type, without the missed flag.
    pub(crate) fn kind(&self) -> u32 {
        self.event & !kind::EVENTS_MISSED
    }

    /// The target and the midlayer's LUN of a single-level LUN (the only format the device
    /// uses, `lun[0] == 1`); the LUN keeps the flat space bits (`0x4000 | lun` above 255), as
    /// REPORT LUNS gives it to the midlayer.
    pub(crate) fn address(&self) -> Option<(u8, u64)> {
        if self.lun[0] != 1 {
            return None;
        }
        let lun = (u64::from(self.lun[2]) << 8) | u64::from(self.lun[3]);
        Some((self.lun[1], lun))
    }

    /// Which debugfs counter the event goes to (an index into [`COUNTERS`]).
    pub(crate) fn counter(&self) -> usize {
        match (self.kind(), self.reason) {
            (kind::NO_EVENT, _) => 0,
            (kind::TRANSPORT_RESET, reason::RESCAN) => 1,
            (kind::TRANSPORT_RESET, reason::REMOVED) => 2,
            (kind::TRANSPORT_RESET, reason::HARD) => 3,
            (kind::PARAM_CHANGE, _) => 4,
            (kind::ASYNC_NOTIFY, _) => 5,
            _ => 6,
        }
    }

    /// What to do about the event itself (a missed flag is handled apart, by [`Event::missed`]).
    pub(crate) fn action(&self) -> Action {
        let Some((target, lun)) = self.address() else {
            return Action::None;
        };
        match (self.kind(), self.reason) {
            (kind::TRANSPORT_RESET, reason::RESCAN) => Action::Add { target, lun },
            (kind::TRANSPORT_RESET, reason::REMOVED) => Action::Remove { target, lun },
            (kind::TRANSPORT_RESET, reason::HARD) => Action::ScanTarget { target },
            (kind::PARAM_CHANGE, r) => {
                // CAST: The additional sense code and qualifier, in the reason's low bytes.
                let (asc, ascq) = ((r & 0xff) as u8, ((r >> 8) & 0xff) as u8);
                match (asc, ascq) {
                    // PARAMETERS CHANGED, MODE PARAMETERS CHANGED, CAPACITY DATA HAS CHANGED.
                    (0x2a, 0x00 | 0x01 | 0x09) => Action::Rescan { target, lun },
                    // REPORTED LUNS DATA HAS CHANGED.
                    (0x3f, 0x0e) => Action::ScanTarget { target },
                    _ => Action::None,
                }
            }
            _ => Action::None,
        }
    }
}

/// Whether a device that answered TEST UNIT READY with host byte `host` and sense
/// `(key, asc, ascq)` is gone: its target is not there (`DID_BAD_TARGET`), or its LUN is not
/// (ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED, as QEMU answers for a LUN it lost). For the
/// rescan after missed events (`virtscsi_rescan_hotunplug()`).
pub(crate) fn gone(host: u8, sense: Option<(u8, u8, u8)>) -> bool {
    const DID_BAD_TARGET: u8 = 0x04;
    host == DID_BAD_TARGET || matches!(sense, Some((0x05, 0x25, 0x00)))
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvirtio_scsi_event))]
mod tests {
    use super::*;

    fn bytes(event: u32, lun: [u8; 8], reason: u32) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        b[0..4].copy_from_slice(&event.to_le_bytes());
        b[4..12].copy_from_slice(&lun);
        b[12..16].copy_from_slice(&reason.to_le_bytes());
        b
    }

    /// The LUN bytes QEMU writes (`virtio_scsi_push_event()`): above 255, `0x40 | lun >> 8`.
    fn qemu_lun(target: u8, lun: u16) -> [u8; 8] {
        let hi = if lun >= 256 {
            ((lun >> 8) as u8) | 0x40
        } else {
            0
        };
        [1, target, hi, lun as u8, 0, 0, 0, 0]
    }

    #[test]
    fn events_parse_at_the_c_offsets() {
        let e = Event::parse(&bytes(1, qemu_lun(3, 7), 2));
        assert_eq!(e.event, 1);
        assert_eq!(e.reason, 2);
        assert_eq!(e.address(), Some((3, 7)));
    }

    #[test]
    fn hot_plug_adds_and_removes_the_lun_the_midlayer_knows() {
        let add = Event::parse(&bytes(
            kind::TRANSPORT_RESET,
            qemu_lun(5, 0),
            reason::RESCAN,
        ));
        assert_eq!(add.action(), Action::Add { target: 5, lun: 0 });
        // LUN 300 is 0x4000 | 300 for the midlayer (REPORT LUNS' flat space format).
        let rm = Event::parse(&bytes(
            kind::TRANSPORT_RESET,
            qemu_lun(5, 300),
            reason::REMOVED,
        ));
        assert_eq!(
            rm.action(),
            Action::Remove {
                target: 5,
                lun: 0x4000 | 300
            }
        );
        let hard = Event::parse(&bytes(kind::TRANSPORT_RESET, qemu_lun(9, 1), reason::HARD));
        assert_eq!(hard.action(), Action::ScanTarget { target: 9 });
        assert_eq!((add.counter(), rm.counter(), hard.counter()), (1, 2, 3));
    }

    #[test]
    fn parameter_changes_rescan_the_lun_or_the_target() {
        let cap = Event::parse(&bytes(kind::PARAM_CHANGE, qemu_lun(2, 1), 0x2a | 0x09 << 8));
        assert_eq!(cap.action(), Action::Rescan { target: 2, lun: 1 });
        let luns = Event::parse(&bytes(kind::PARAM_CHANGE, qemu_lun(2, 1), 0x3f | 0x0e << 8));
        assert_eq!(luns.action(), Action::ScanTarget { target: 2 });
        let other = Event::parse(&bytes(kind::PARAM_CHANGE, qemu_lun(2, 1), 0x29));
        assert_eq!(other.action(), Action::None);
        assert_eq!(cap.counter(), 4);
    }

    #[test]
    fn missed_events_are_flagged_whatever_the_event() {
        let e = Event::parse(&bytes(kind::EVENTS_MISSED, [0; 8], 0));
        assert!(e.missed());
        assert_eq!(e.kind(), kind::NO_EVENT);
        assert_eq!(e.action(), Action::None);
        assert_eq!(e.counter(), 0);
        let e = Event::parse(&bytes(
            kind::EVENTS_MISSED | kind::TRANSPORT_RESET,
            qemu_lun(1, 0),
            reason::RESCAN,
        ));
        assert!(e.missed());
        assert_eq!(e.action(), Action::Add { target: 1, lun: 0 });
    }

    #[test]
    fn nonsense_does_nothing() {
        // A LUN that is not single-level, an unknown type, an unknown reset reason.
        let e = Event::parse(&bytes(kind::TRANSPORT_RESET, [2, 1, 0, 0, 0, 0, 0, 0], 1));
        assert_eq!(e.action(), Action::None);
        let e = Event::parse(&bytes(77, qemu_lun(1, 0), 1));
        assert_eq!((e.action(), e.counter()), (Action::None, 6));
        let e = Event::parse(&bytes(kind::TRANSPORT_RESET, qemu_lun(1, 0), 9));
        assert_eq!((e.action(), e.counter()), (Action::None, 6));
        let e = Event::parse(&bytes(kind::ASYNC_NOTIFY, qemu_lun(1, 0), 0));
        assert_eq!((e.action(), e.counter()), (Action::None, 5));
    }

    #[test]
    fn gone_devices_are_missing_targets_or_luns() {
        assert!(gone(0x04, None));
        assert!(gone(0, Some((0x05, 0x25, 0x00))));
        assert!(!gone(0, None));
        assert!(!gone(0, Some((0x06, 0x29, 0x00))));
        assert!(!gone(0x07, None));
    }
}
