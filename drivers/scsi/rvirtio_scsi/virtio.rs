// SPDX-License-Identifier: GPL-2.0

//! The modern virtio-pci transport, the parts that need no hardware: vendor capabilities,
//! the common configuration's layout, device status and feature negotiation.
//!
//! Layouts follow [`include/uapi/linux/virtio_pci.h`](srctree/include/uapi/linux/virtio_pci.h)
//! (`struct virtio_pci_cap`, `virtio_pci_notify_cap`, `virtio_pci_common_cfg`) and
//! [`include/uapi/linux/virtio_config.h`](srctree/include/uapi/linux/virtio_config.h); the
//! choice of capabilities follows `vp_modern_probe()` and `virtio_pci_find_capability()` in
//! [`drivers/virtio/virtio_pci_modern_dev.c`](srctree/drivers/virtio/virtio_pci_modern_dev.c).
//! The register accesses are in [`crate::virtio_pci`].
//!
//! This file needs only `core` and is tested on the host (`tools/hosttest`) and in the kernel
//! (KUnit suite `rvirtio_scsi_virtio`).

/// The PCI capability id of a vendor capability (`PCI_CAP_ID_VNDR`).
pub(crate) const PCI_CAP_ID_VNDR: u8 = 0x09;

/// `cfg_type` of a virtio vendor capability (`VIRTIO_PCI_CAP_*`).
pub(crate) mod cap_type {
    pub(crate) const COMMON: u8 = 1;
    pub(crate) const NOTIFY: u8 = 2;
    pub(crate) const ISR: u8 = 3;
    pub(crate) const DEVICE: u8 = 4;
}

/// Offsets in the common configuration (`struct virtio_pci_common_cfg`).
pub(crate) mod common {
    pub(crate) const DEVICE_FEATURE_SELECT: usize = 0x00;
    pub(crate) const DEVICE_FEATURE: usize = 0x04;
    pub(crate) const DRIVER_FEATURE_SELECT: usize = 0x08;
    pub(crate) const DRIVER_FEATURE: usize = 0x0c;
    pub(crate) const MSIX_CONFIG: usize = 0x10;
    pub(crate) const NUM_QUEUES: usize = 0x12;
    pub(crate) const DEVICE_STATUS: usize = 0x14;
    pub(crate) const CONFIG_GENERATION: usize = 0x15;
    pub(crate) const QUEUE_SELECT: usize = 0x16;
    pub(crate) const QUEUE_SIZE: usize = 0x18;
    pub(crate) const QUEUE_MSIX_VECTOR: usize = 0x1a;
    pub(crate) const QUEUE_ENABLE: usize = 0x1c;
    pub(crate) const QUEUE_NOTIFY_OFF: usize = 0x1e;
    pub(crate) const QUEUE_DESC: usize = 0x20;
    pub(crate) const QUEUE_DRIVER: usize = 0x28;
    pub(crate) const QUEUE_DEVICE: usize = 0x30;
    /// Bytes the driver uses (up to `queue_device_hi`).
    pub(crate) const LEN: u32 = 0x38;
}

/// Device status bits (`VIRTIO_CONFIG_S_*`).
pub(crate) mod status {
    pub(crate) const ACKNOWLEDGE: u8 = 1;
    pub(crate) const DRIVER: u8 = 2;
    pub(crate) const DRIVER_OK: u8 = 4;
    pub(crate) const FEATURES_OK: u8 = 8;
    pub(crate) const NEEDS_RESET: u8 = 0x40;
    pub(crate) const FAILED: u8 = 0x80;
}

/// `VIRTIO_MSI_NO_VECTOR`.
pub(crate) const NO_VECTOR: u16 = 0xffff;

/// Transport feature bits (`VIRTIO_F_*`, `VIRTIO_RING_F_*`).
pub(crate) mod feature {
    pub(crate) const RING_INDIRECT_DESC: u32 = 28;
    pub(crate) const RING_EVENT_IDX: u32 = 29;
    pub(crate) const VERSION_1: u32 = 32;
    pub(crate) const ACCESS_PLATFORM: u32 = 33;
}

/// The bit of feature `n`.
pub(crate) const fn bit(n: u32) -> u64 {
    1 << n
}

/// One virtio vendor capability (`struct virtio_pci_cap`, and the notify capability's
/// `notify_off_multiplier`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PciCap {
    pub(crate) cfg_type: u8,
    pub(crate) bar: u8,
    pub(crate) offset: u32,
    pub(crate) length: u32,
    /// For a notify capability of at least 20 bytes; 0 otherwise.
    pub(crate) notify_off_multiplier: u32,
}

/// Bytes of `struct virtio_pci_cap`.
pub(crate) const CAP_LEN: usize = 16;
/// Bytes of `struct virtio_pci_notify_cap`.
pub(crate) const NOTIFY_CAP_LEN: usize = 20;

impl PciCap {
    /// Reads a capability from `b`, its bytes from the capability id on (at least
    /// [`CAP_LEN`]); `None` if it is shorter than its `cap_len` says it must be.
    pub(crate) fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < CAP_LEN || usize::from(b[2]) < CAP_LEN {
            return None;
        }
        let r32 = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let notify = b[3] == cap_type::NOTIFY && usize::from(b[2]) >= NOTIFY_CAP_LEN;
        Some(Self {
            cfg_type: b[3],
            bar: b[4],
            offset: r32(8),
            length: r32(12),
            notify_off_multiplier: if notify && b.len() >= NOTIFY_CAP_LEN {
                r32(16)
            } else {
                0
            },
        })
    }
}

/// A region of a BAR that holds one structure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) bar: u8,
    pub(crate) offset: u32,
    pub(crate) length: u32,
}

/// The regions the driver uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Regions {
    pub(crate) common: Region,
    pub(crate) notify: Region,
    pub(crate) notify_off_multiplier: u32,
    pub(crate) isr: Region,
    pub(crate) device: Region,
}

/// Why the capabilities cannot be used: each names what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CapError {
    /// No usable capability of this type (its name).
    Missing(&'static str),
    /// The region is shorter than the structure it must hold.
    TooShort {
        what: &'static str,
        length: u32,
        need: u32,
    },
}

/// The name of a capability type, for messages.
pub(crate) const fn type_name(t: u8) -> &'static str {
    match t {
        cap_type::COMMON => "common configuration",
        cap_type::NOTIFY => "notification",
        cap_type::ISR => "ISR status",
        cap_type::DEVICE => "device configuration",
        _ => "unknown",
    }
}

/// Chooses the regions from the device's capabilities, in the order they are found: the first
/// capability of each type whose BAR is one of the six (`bar_ok` says whether the BAR is a
/// memory BAR the driver can map). `device_len` is the size of the device configuration the
/// driver reads.
///
/// # Errors
///
/// [`CapError`] for a type with no usable capability, or a region too short for its
/// structure.
pub(crate) fn choose(
    caps: impl Iterator<Item = PciCap>,
    mut bar_ok: impl FnMut(u8) -> bool,
    device_len: u32,
) -> Result<Regions, CapError> {
    let mut found: [Option<PciCap>; 5] = [None; 5];
    for c in caps {
        let t = usize::from(c.cfg_type);
        if (1..=4).contains(&t) && found[t].is_none() && c.bar < 6 && bar_ok(c.bar) {
            found[t] = Some(c);
        }
    }
    let region = |t: u8, need: u32| -> Result<PciCap, CapError> {
        let c = found[usize::from(t)].ok_or(CapError::Missing(type_name(t)))?;
        if c.length < need {
            return Err(CapError::TooShort {
                what: type_name(t),
                length: c.length,
                need,
            });
        }
        Ok(c)
    };
    let common = region(cap_type::COMMON, common::LEN)?;
    let notify = region(cap_type::NOTIFY, 2)?;
    let isr = region(cap_type::ISR, 1)?;
    let device = region(cap_type::DEVICE, device_len)?;
    let r = |c: PciCap| Region {
        bar: c.bar,
        offset: c.offset,
        length: c.length,
    };
    Ok(Regions {
        common: r(common),
        notify: r(notify),
        notify_off_multiplier: notify.notify_off_multiplier,
        isr: r(isr),
        device: r(device),
    })
}

impl Regions {
    /// The offset in the notify region at which queue notifications with `queue_notify_off`
    /// are written (`vp_modern_map_vq_notify()`); `None` if the two bytes would lie outside
    /// the region.
    pub(crate) fn notify_offset(&self, queue_notify_off: u16) -> Option<u32> {
        let off = u64::from(queue_notify_off) * u64::from(self.notify_off_multiplier);
        if off + 2 > u64::from(self.notify.length) {
            return None;
        }
        u32::try_from(off).ok()
    }
}

/// Why features cannot be negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MissingFeatures(pub(crate) u64);

/// The features to accept: those of `wanted` the device `offered`, plus those it offered that
/// the driver must accept when they are offered (`must_accept`: `VIRTIO_F_ACCESS_PLATFORM`);
/// nothing else.
///
/// # Errors
///
/// [`MissingFeatures`] with the bits of `required` the device did not offer.
pub(crate) fn negotiate(
    offered: u64,
    wanted: u64,
    required: u64,
    must_accept: u64,
) -> Result<u64, MissingFeatures> {
    let missing = required & !offered;
    if missing != 0 {
        return Err(MissingFeatures(missing));
    }
    Ok(offered & (wanted | required | must_accept))
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvirtio_scsi_virtio))]
mod tests {
    use super::*;

    /// QEMU's capabilities for virtio-scsi-pci (`virtio_pci_modern_regions_init()`), BAR 4.
    fn qemu_caps() -> [[u8; NOTIFY_CAP_LEN]; 4] {
        let cap = |t: u8, off: u32, len: u32, cap_len: u8, mult: u32| {
            let mut b = [0u8; NOTIFY_CAP_LEN];
            b[0] = PCI_CAP_ID_VNDR;
            b[2] = cap_len;
            b[3] = t;
            b[4] = 4;
            b[8..12].copy_from_slice(&off.to_le_bytes());
            b[12..16].copy_from_slice(&len.to_le_bytes());
            b[16..20].copy_from_slice(&mult.to_le_bytes());
            b
        };
        [
            cap(cap_type::COMMON, 0, 0x1000, 16, 0),
            cap(cap_type::ISR, 0x1000, 0x1000, 16, 0),
            cap(cap_type::DEVICE, 0x2000, 0x1000, 16, 0),
            cap(cap_type::NOTIFY, 0x3000, 0x1000, 20, 4),
        ]
    }

    #[test]
    fn capabilities_parse_and_regions_are_chosen() {
        let caps = qemu_caps();
        let parsed = caps.iter().filter_map(|b| PciCap::parse(b));
        let r = choose(parsed, |bar| bar == 4, 36).unwrap();
        assert_eq!(
            r.common,
            Region {
                bar: 4,
                offset: 0,
                length: 0x1000
            }
        );
        assert_eq!(r.notify.offset, 0x3000);
        assert_eq!(r.notify_off_multiplier, 4);
        assert_eq!(r.isr.offset, 0x1000);
        assert_eq!(r.device.offset, 0x2000);
        assert_eq!(r.notify_offset(2), Some(8));
        // The last queue whose two bytes fit, and the first that does not.
        assert_eq!(r.notify_offset(1023), Some(4092));
        assert_eq!(r.notify_offset(1024), None);
    }

    #[test]
    fn missing_or_short_capabilities_are_named() {
        let caps = qemu_caps();
        let without = |t: u8| {
            choose(
                caps.iter()
                    .filter_map(|b| PciCap::parse(b))
                    .filter(|c| c.cfg_type != t),
                |_| true,
                36,
            )
        };
        assert_eq!(
            without(cap_type::NOTIFY),
            Err(CapError::Missing("notification"))
        );
        assert_eq!(
            without(cap_type::DEVICE),
            Err(CapError::Missing("device configuration"))
        );
        // A BAR the driver cannot map does not count.
        assert_eq!(
            choose(caps.iter().filter_map(|b| PciCap::parse(b)), |_| false, 36),
            Err(CapError::Missing("common configuration"))
        );
        let mut short = caps;
        short[2][12..16].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(
            choose(short.iter().filter_map(|b| PciCap::parse(b)), |_| true, 36),
            Err(CapError::TooShort {
                what: "device configuration",
                length: 8,
                need: 36
            })
        );
        // A capability that says it is shorter than the structure is not read.
        let mut b = caps[0];
        b[2] = 8;
        assert_eq!(PciCap::parse(&b), None);
    }

    #[test]
    fn the_first_capability_of_a_type_wins() {
        let q = qemu_caps();
        let mut second = q[0];
        second[8..12].copy_from_slice(&0x800u32.to_le_bytes());
        let caps = [q[0], q[1], q[2], q[3], second];
        let r = choose(caps.iter().filter_map(|b| PciCap::parse(b)), |_| true, 36).unwrap();
        assert_eq!(r.common.offset, 0);
    }

    #[test]
    fn features_take_only_what_both_sides_have() {
        let offered = bit(feature::VERSION_1)
            | bit(feature::RING_INDIRECT_DESC)
            | bit(feature::RING_EVENT_IDX)
            | bit(1)
            | bit(2)
            | bit(40);
        let required = bit(feature::VERSION_1) | bit(feature::RING_INDIRECT_DESC);
        let wanted = bit(feature::RING_EVENT_IDX);
        let must = bit(feature::ACCESS_PLATFORM);
        assert_eq!(
            negotiate(offered, wanted, required, must),
            Ok(required | wanted)
        );
        assert_eq!(
            negotiate(offered | must, wanted, required, must),
            Ok(required | wanted | must)
        );
        assert_eq!(
            negotiate(offered & !bit(feature::VERSION_1), wanted, required, must),
            Err(MissingFeatures(bit(feature::VERSION_1)))
        );
        assert_eq!(
            negotiate(bit(feature::VERSION_1), wanted, required, must),
            Err(MissingFeatures(bit(feature::RING_INDIRECT_DESC)))
        );
    }
}
