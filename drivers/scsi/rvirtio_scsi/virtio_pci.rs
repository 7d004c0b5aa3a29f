// SPDX-License-Identifier: GPL-2.0

//! The modern virtio-pci transport over `pci::Bar`: the capability walk, device status,
//! features, the device configuration, queue setup and notifications.
//!
//! Follows `vp_modern_probe()`, `vp_modern_set_status()`, `vp_modern_get_features()`,
//! `vp_modern_queue_address()`, `vp_modern_map_vq_notify()` and `vp_modern_generation()` in
//! [`drivers/virtio/virtio_pci_modern_dev.c`](srctree/drivers/virtio/virtio_pci_modern_dev.c).
//! That C library is not used: its `vp_modern_probe()` requests and maps the BARs itself, which
//! the Rust PCI abstraction already owns (`pci::Bar`, which also revokes nothing behind the
//! driver's back: every access is bounds-checked against the BAR), and wrapping its
//! `struct virtio_pci_modern_device` would put `bindings::` in the driver. The capability walk
//! is 30 lines of safe Rust over `pci::ConfigSpace`; the layouts are in [`crate::virtio`],
//! tested on the host.

use kernel::{
    device::Bound,
    io::Io,
    pci,
    prelude::*,
    scsi::virtqueue::SplitQueue,
    time::{delay::fsleep, Delta},
};

use crate::{
    proto,
    virtio::{self, common, status, PciCap, Region, Regions},
};

/// `PCI_STATUS` and its capability-list bit, `PCI_CAPABILITY_LIST`.
const PCI_STATUS: usize = 0x06;
const PCI_STATUS_CAP_LIST: u16 = 0x10;
const PCI_CAPABILITY_LIST: usize = 0x34;
/// The most capabilities walked: a list that loops is nonsense from the device.
const MAX_CAPS: usize = 48;
/// How long a reset may take to read back 0 (QEMU resets at once; the C driver waits without
/// limit, `vp_reset()`).
const RESET_WAIT: Delta = Delta::from_millis(1000);

/// The transport of one device: its regions and the BARs that hold them.
///
/// Dropping it resets the device, so that it uses none of the rings and slots it was given
/// once they are freed: a holder declares it before them (fields drop in order).
pub(crate) struct Transport<'bound> {
    pdev: &'bound pci::Device<Bound>,
    bars: [Option<pci::Bar<'bound>>; 6],
    regions: Regions,
}

impl Drop for Transport<'_> {
    fn drop(&mut self) {
        self.reset_nowait();
    }
}

/// Reads the virtio vendor capabilities from config space, at most `MAX_CAPS` entries.
fn read_caps(pdev: &pci::Device<Bound>, out: &mut [PciCap; MAX_CAPS]) -> usize {
    let cfg = pdev.config_space();
    if cfg.try_read16(PCI_STATUS).unwrap_or(0) & PCI_STATUS_CAP_LIST == 0 {
        return 0;
    }
    let mut n = 0;
    let mut at = usize::from(cfg.try_read8(PCI_CAPABILITY_LIST).unwrap_or(0) & !3);
    let mut walked = 0;
    while at >= 0x40 && walked < MAX_CAPS && n < out.len() {
        walked += 1;
        let id = cfg.try_read8(at).unwrap_or(0);
        let next = cfg.try_read8(at + 1).unwrap_or(0);
        if id == virtio::PCI_CAP_ID_VNDR {
            let mut b = [0u8; virtio::NOTIFY_CAP_LEN];
            let mut ok = true;
            for (i, x) in b.iter_mut().enumerate() {
                match cfg.try_read8(at + i) {
                    Ok(v) => *x = v,
                    // The last bytes of a 16-byte capability at the end of config space.
                    Err(_) => ok = i >= virtio::CAP_LEN,
                }
            }
            if let Some(c) = ok.then(|| PciCap::parse(&b)).flatten() {
                out[n] = c;
                n += 1;
            }
        }
        at = usize::from(next & !3);
    }
    n
}

impl<'bound> Transport<'bound> {
    /// Finds the device's regions and maps the BARs that hold them.
    pub(crate) fn probe(pdev: &'bound pci::Device<Bound>) -> Result<Self> {
        let mut caps = [PciCap::default(); MAX_CAPS];
        let n = read_caps(pdev, &mut caps);
        let bar_len = |bar: u8| pdev.resource_len(u32::from(bar)).unwrap_or(0);
        // CAST: a small constant.
        let regions = virtio::choose(
            caps[..n].iter().copied(),
            |bar| bar_len(bar) > 0,
            proto::CONFIG_SIZE as u32,
        )
        .map_err(|e| {
            match e {
                virtio::CapError::Missing(what) => dev_err!(
                    pdev,
                    "no usable virtio {} capability ({} vendor capabilities found)\n",
                    what,
                    n
                ),
                virtio::CapError::TooShort { what, length, need } => dev_err!(
                    pdev,
                    "the virtio {} region is {} bytes, at least {} are needed\n",
                    what,
                    length,
                    need
                ),
            }
            ENODEV
        })?;
        let mut bars: [Option<pci::Bar<'bound>>; 6] = Default::default();
        for (what, r) in [
            ("common configuration", regions.common),
            ("notification", regions.notify),
            ("ISR status", regions.isr),
            ("device configuration", regions.device),
        ] {
            let end = u64::from(r.offset) + u64::from(r.length);
            if end > bar_len(r.bar) {
                dev_err!(
                    pdev,
                    "the virtio {} region ends at {:#x}, beyond BAR {} ({:#x} bytes)\n",
                    what,
                    end,
                    r.bar,
                    bar_len(r.bar)
                );
                return Err(ENODEV);
            }
            let slot = &mut bars[usize::from(r.bar)];
            if slot.is_none() {
                *slot = Some(
                    pdev.iomap_region(u32::from(r.bar), c"rvirtio_scsi")
                        .inspect_err(|e| dev_err!(pdev, "cannot map BAR {}: {:?}\n", r.bar, e))?,
                );
            }
        }
        Ok(Self {
            pdev,
            bars,
            regions,
        })
    }

    /// The BAR of `r` (mapped by `probe`).
    fn bar(&self, r: Region) -> Option<&pci::Bar<'bound>> {
        self.bars.get(usize::from(r.bar)).and_then(Option::as_ref)
    }

    fn at(r: Region, off: usize) -> usize {
        // CAST: A BAR offset, which `probe` checked lies within the BAR.
        r.offset as usize + off
    }

    fn common_read8(&self, off: usize) -> u8 {
        let r = self.regions.common;
        self.bar(r)
            .map_or(0xff, |b| b.try_read8(Self::at(r, off)).unwrap_or(0xff))
    }

    fn common_read16(&self, off: usize) -> u16 {
        let r = self.regions.common;
        self.bar(r)
            .map_or(0xffff, |b| b.try_read16(Self::at(r, off)).unwrap_or(0xffff))
    }

    fn common_read32(&self, off: usize) -> u32 {
        let r = self.regions.common;
        self.bar(r).map_or(u32::MAX, |b| {
            b.try_read32(Self::at(r, off)).unwrap_or(u32::MAX)
        })
    }

    fn common_write8(&self, off: usize, v: u8) {
        let r = self.regions.common;
        if let Some(b) = self.bar(r) {
            let _ = b.try_write8(v, Self::at(r, off));
        }
    }

    fn common_write16(&self, off: usize, v: u16) {
        let r = self.regions.common;
        if let Some(b) = self.bar(r) {
            let _ = b.try_write16(v, Self::at(r, off));
        }
    }

    fn common_write32(&self, off: usize, v: u32) {
        let r = self.regions.common;
        if let Some(b) = self.bar(r) {
            let _ = b.try_write32(v, Self::at(r, off));
        }
    }

    fn common_write64(&self, off: usize, v: u64) {
        // Two 32-bit writes, low half first, as `vp_iowrite64_twopart()`.
        // CAST: the two halves of `v`.
        self.common_write32(off, v as u32);
        self.common_write32(off + 4, (v >> 32) as u32);
    }

    /// The device status.
    pub(crate) fn status(&self) -> u8 {
        self.common_read8(common::DEVICE_STATUS)
    }

    /// Adds `bits` to the device status.
    pub(crate) fn add_status(&self, bits: u8) {
        let s = self.status();
        self.common_write8(common::DEVICE_STATUS, s | bits);
    }

    /// Resets the device and waits until it reads back 0: it then uses no queue and raises no
    /// interrupt. May sleep.
    pub(crate) fn reset(&self) -> Result {
        self.common_write8(common::DEVICE_STATUS, 0);
        let mut waited = Delta::ZERO;
        while self.status() != 0 {
            if waited >= RESET_WAIT {
                dev_err!(
                    self.pdev,
                    "the device did not reset: status {:#04x} after {} ms\n",
                    self.status(),
                    waited.as_millis()
                );
                return Err(ETIMEDOUT);
            }
            fsleep(Delta::from_millis(1));
            waited += Delta::from_millis(1);
        }
        Ok(())
    }

    /// Resets the device without waiting (for teardown, where nothing may fail).
    pub(crate) fn reset_nowait(&self) {
        self.common_write8(common::DEVICE_STATUS, 0);
        // The read flushes the write (`vp_synchronize_vectors()` is the caller's part).
        let _ = self.status();
    }

    /// The 64 feature bits the device offers.
    pub(crate) fn device_features(&self) -> u64 {
        self.common_write32(common::DEVICE_FEATURE_SELECT, 0);
        let lo = self.common_read32(common::DEVICE_FEATURE);
        self.common_write32(common::DEVICE_FEATURE_SELECT, 1);
        let hi = self.common_read32(common::DEVICE_FEATURE);
        u64::from(lo) | (u64::from(hi) << 32)
    }

    /// Writes the features the driver accepts.
    pub(crate) fn set_driver_features(&self, f: u64) {
        self.common_write32(common::DRIVER_FEATURE_SELECT, 0);
        // CAST: the two halves of `f`.
        self.common_write32(common::DRIVER_FEATURE, f as u32);
        self.common_write32(common::DRIVER_FEATURE_SELECT, 1);
        self.common_write32(common::DRIVER_FEATURE, (f >> 32) as u32);
    }

    /// Queues the device has (`num_queues` of the common configuration: control, event and
    /// request queues).
    pub(crate) fn num_queues(&self) -> u16 {
        self.common_read16(common::NUM_QUEUES)
    }

    /// Reads the device configuration into `out`, again until `config_generation` is the same
    /// before and after (a device may change it meanwhile).
    pub(crate) fn read_config(&self, out: &mut [u8]) -> Result {
        let r = self.regions.device;
        let bar = self.bar(r).ok_or(ENODEV)?;
        for _ in 0..16 {
            let before = self.common_read8(common::CONFIG_GENERATION);
            for (i, b) in out.iter_mut().enumerate() {
                *b = bar.try_read8(Self::at(r, i))?;
            }
            if self.common_read8(common::CONFIG_GENERATION) == before {
                return Ok(());
            }
        }
        dev_err!(
            self.pdev,
            "the device configuration kept changing while it was read\n"
        );
        Err(EIO)
    }

    /// Writes the 32-bit field at `off` of the device configuration.
    pub(crate) fn write_config32(&self, off: usize, v: u32) -> Result {
        let r = self.regions.device;
        self.bar(r).ok_or(ENODEV)?.try_write32(v, Self::at(r, off))
    }

    /// The largest size the device offers for queue `index` (0: no such queue).
    pub(crate) fn queue_max(&self, index: u16) -> u16 {
        self.common_write16(common::QUEUE_SELECT, index);
        self.common_read16(common::QUEUE_SIZE)
    }

    /// The offset in the notify region at which queue `index` is notified.
    ///
    /// # Errors
    ///
    /// `EINVAL` if the device would have it notified outside its notify region.
    pub(crate) fn queue_notify_at(&self, index: u16) -> Result<u32> {
        self.common_write16(common::QUEUE_SELECT, index);
        let noff = self.common_read16(common::QUEUE_NOTIFY_OFF);
        self.regions.notify_offset(noff).ok_or_else(|| {
            dev_err!(
                self.pdev,
                "queue {}: notify offset {} x {} lies beyond the {}-byte notify region\n",
                index,
                noff,
                self.regions.notify_off_multiplier,
                self.regions.notify.length
            );
            EINVAL
        })
    }

    /// Gives queue `index` to the device: size, ring addresses and interrupt vector, then
    /// enables it.
    ///
    /// # Errors
    ///
    /// `EBUSY` if the device refused the vector (reads back `VIRTIO_MSI_NO_VECTOR`).
    pub(crate) fn enable_queue(&self, index: u16, q: &SplitQueue, vector: u16) -> Result {
        self.common_write16(common::QUEUE_SELECT, index);
        self.common_write16(common::QUEUE_SIZE, q.size().get());
        self.common_write64(common::QUEUE_DESC, q.desc_dma());
        self.common_write64(common::QUEUE_DRIVER, q.avail_dma());
        self.common_write64(common::QUEUE_DEVICE, q.used_dma());
        if vector != virtio::NO_VECTOR {
            self.common_write16(common::QUEUE_MSIX_VECTOR, vector);
            if self.common_read16(common::QUEUE_MSIX_VECTOR) != vector {
                dev_err!(
                    self.pdev,
                    "queue {}: the device refused MSI-X vector {}\n",
                    index,
                    vector
                );
                return Err(EBUSY);
            }
        }
        // Only 1 may be written (QEMU takes 0 as an error of the driver).
        self.common_write16(common::QUEUE_ENABLE, 1);
        Ok(())
    }

    /// Sets the configuration-change vector; `false` if the device refused it.
    pub(crate) fn set_config_vector(&self, vector: u16) -> bool {
        self.common_write16(common::MSIX_CONFIG, vector);
        self.common_read16(common::MSIX_CONFIG) == vector
    }

    /// Notifies queue `index` at `at` (from [`Self::queue_notify_at`]).
    #[inline]
    pub(crate) fn notify(&self, at: u32, index: u16) {
        let r = self.regions.notify;
        if let Some(b) = self.bar(r) {
            // CAST: checked against the region by `queue_notify_at`.
            let _ = b.try_write16(index, Self::at(r, at as usize));
        }
    }

    /// Reads (and so clears) the ISR status: bit 0 a queue interrupt, bit 1 a configuration
    /// change. For INTx only.
    pub(crate) fn isr(&self) -> u8 {
        let r = self.regions.isr;
        self.bar(r)
            .map_or(0, |b| b.try_read8(Self::at(r, 0)).unwrap_or(0))
    }

    /// Whether the device asks to be reset (`DEVICE_NEEDS_RESET`), or reads all ones (gone).
    pub(crate) fn needs_reset(&self) -> bool {
        let s = self.status();
        s & status::NEEDS_RESET != 0 && s != 0xff
    }
}
