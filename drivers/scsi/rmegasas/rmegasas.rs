// SPDX-License-Identifier: GPL-2.0

//! rmegasas: a Rust driver for LSI MegaRAID SAS controllers through the MFI interface.
//!
//! Supports the SAS 1078 (PCI 1000:0060, QEMU `-device megasas`) and the SAS 2108
//! (PCI 1000:0079, QEMU `-device megasas-gen2`), in RAID mode (logical drives) and JBOD mode
//! (physical drives, QEMU `use_jbod=on`). Built on `kernel::scsi`; see
//! `Documentation/scsi/rmegasas.rst` for what it does, its parameters and its debugfs file.

use kernel::{
    device::Core,
    dma::{
        Device as _,
        DmaMask, //
    },
    pci,
    prelude::*,
    scsi::{
        self,
        HostConfig, //
    },
    time::Delta,
};

mod fault;
mod frame;
mod fw;
mod host;
mod mfi;
mod regs;

use fw::{
    FwStatus,
    Limits,
    LimitsError, //
};

/// The controller models this driver takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Model {
    /// LSI SAS 1078 (`megasas`, gen1).
    Sas1078,
    /// LSI SAS 2108 (`megasas-gen2`).
    Sas2108,
}

impl Model {
    /// The memory BAR that holds the MFI registers.
    pub(crate) const fn register_bar(self) -> u32 {
        match self {
            Self::Sas1078 => 0,
            Self::Sas2108 => 1,
        }
    }

    /// The model's name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Sas1078 => "SAS1078",
            Self::Sas2108 => "SAS2108",
        }
    }
}

/// The mapped register window.
pub(crate) type Bar<'bound> = pci::Bar<'bound, { regs::WINDOW }>;

/// The largest queue depth the `max_queue_depth` parameter takes (the MFI frame limit).
const MAX_QUEUE_DEPTH: i64 = 2048;

/// Per-controller state: the SCSI host, which owns the controller ([`mfi::Mfi`]).
#[pin_data]
struct Controller<'bound> {
    #[pin]
    host: scsi::Registration<'bound, host::Rmegasas>,
}

/// The PCI driver.
struct Driver;

kernel::pci_device_table!(
    PCI_TABLE,
    <Driver as pci::Driver>::IdInfo,
    [
        (
            pci::DeviceId::from_id(pci::Vendor::LSI_LOGIC, 0x0060),
            Model::Sas1078
        ),
        (
            pci::DeviceId::from_id(pci::Vendor::LSI_LOGIC, 0x0079),
            Model::Sas2108
        ),
    ]
);

/// Checks the firmware's limits, with a message for each kind of nonsense.
fn check_limits(pdev: &pci::Device, status: FwStatus) -> Result<Limits> {
    status.limits().map_err(|e| {
        match e {
            LimitsError::TooFewCommands(n) => dev_err!(
                pdev,
                "firmware reports {} commands, at least {} are needed (status {:#010x})\n",
                n,
                fw::MIN_CMDS,
                status.0
            ),
            LimitsError::NoSgElements => dev_err!(
                pdev,
                "firmware reports 0 SG elements per command (status {:#010x})\n",
                status.0
            ),
        }
        EINVAL
    })
}

/// The module parameters, checked.
struct Params {
    irq_types: pci::IrqTypes,
    depth_cap: Option<u32>,
    use_ldio: bool,
    sge_limit: u16,
    /// Hardware queues, at least 1.
    queues: u32,
    /// Poll queues, in addition to `queues`.
    poll_queues: u32,
    fw_timeout: Delta,
}

/// The longest `fw_timeout` (30 s by default): how long a polled frame (INIT, a DCMD) or an
/// ABORT may take. QEMU answers at once; firmware on real controllers can take seconds, and
/// megaraid_sas allows up to 180 s (`resetwaittime`). A controller that stopped answering
/// (bus mastering off, say) costs the error handler this long per frame, so tests lower it.
const MAX_FW_TIMEOUT_SECS: i64 = 180;

/// The most hardware queues rmegasas sets up.
const MAX_QUEUES: i64 = 16;

/// Reads and checks the module parameters.
fn params(pdev: &pci::Device) -> Result<Params> {
    let depth = module_parameters::max_queue_depth.value();
    if !(0..=MAX_QUEUE_DEPTH).contains(&depth) {
        dev_err!(
            pdev,
            "max_queue_depth={} is out of range (0 for the firmware's limit, or 1..={})\n",
            depth,
            MAX_QUEUE_DEPTH
        );
        return Err(EINVAL);
    }
    let mut types = pci::IrqTypes::default().with(pci::IrqType::Intx);
    if module_parameters::msix.value() {
        types = types.with(pci::IrqType::MsiX);
    }
    if module_parameters::msi.value() {
        types = types.with(pci::IrqType::Msi);
    }
    // CAST: `MAX_QUEUES` is a small positive constant.
    let queues = scsi::queues_param(
        pdev.as_ref(),
        module_parameters::queues.value(),
        MAX_QUEUES as u32,
    )?;
    let poll_queues = module_parameters::poll_queues.value();
    if !(0..MAX_QUEUES).contains(&poll_queues) {
        dev_err!(
            pdev,
            "poll_queues={} is out of range (0 for none, or 1..={})\n",
            poll_queues,
            MAX_QUEUES - 1
        );
        return Err(EINVAL);
    }
    let sge_limit = module_parameters::sge_limit.value();
    if !(0..=255).contains(&sge_limit) {
        dev_err!(
            pdev,
            "sge_limit={} is out of range (0 for no limit, or 1..=255)\n",
            sge_limit
        );
        return Err(EINVAL);
    }
    let fw_timeout = module_parameters::fw_timeout.value();
    if !(1..=MAX_FW_TIMEOUT_SECS).contains(&fw_timeout) {
        dev_err!(
            pdev,
            "fw_timeout={} is out of range (1..={} seconds)\n",
            fw_timeout,
            MAX_FW_TIMEOUT_SECS
        );
        return Err(EINVAL);
    }
    Ok(Params {
        irq_types: types,
        depth_cap: u32::try_from(depth).ok().filter(|&d| d > 0),
        use_ldio: module_parameters::ldio.value(),
        sge_limit: u16::try_from(sge_limit).unwrap_or(0),
        queues,
        poll_queues: u32::try_from(poll_queues).unwrap_or(0),
        fw_timeout: Delta::from_secs(fw_timeout),
    })
}

impl pci::Driver for Driver {
    type IdInfo = Model;
    type Data<'bound> = Controller<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            let model = *info.ok_or(ENODEV)?;
            let Params {
                irq_types,
                depth_cap,
                use_ldio,
                sge_limit,
                queues,
                poll_queues,
                fw_timeout,
            } = params(pdev)?;
            pdev.enable_device_mem()?;
            pdev.set_master();
            // Data buffers anywhere (64-bit SG elements) if the platform allows, else below
            // 4 GiB (32-bit elements); frames, reply queue and sense buffers below 4 GiB, as the
            // 32-bit inbound queue port posts frames there.
            // SAFETY: Nothing has allocated or mapped DMA memory for this device yet: probe is
            // the first user of the device and runs once at a time.
            let dma32 = unsafe { pdev.dma_set_mask(DmaMask::new::<64>()) }.is_err();
            if dma32 {
                // SAFETY: As above.
                unsafe { pdev.dma_set_mask(DmaMask::new::<32>()) }
                    .inspect_err(|_| dev_err!(pdev, "no usable DMA mask\n"))?;
            }
            // SAFETY: As above.
            unsafe { pdev.dma_set_coherent_mask(DmaMask::new::<32>()) }?;
            let bar = pdev
                .iomap_region_sized::<{ regs::WINDOW }>(model.register_bar(), c"rmegasas")
                .inspect_err(|e| {
                    dev_err!(pdev, "cannot map BAR {}: {:?}\n", model.register_bar(), e)
                })?;

            let status = mfi::transition_to_ready(pdev, &bar, false)?;
            let limits = check_limits(pdev, status)?;
            let vectors = pdev
                .alloc_irq_vectors(1, 1, irq_types)
                .inspect_err(|e| dev_err!(pdev, "no interrupt vector: {:?}\n", e))?;
            let irq_type = vectors.irq_type();
            let intx = matches!(irq_type, pci::IrqType::Intx);

            // One reply entry stays free so that a full ring is told from an empty one.
            let firmware = u32::from(limits.max_cmds) - 1;
            let cap = depth_cap.unwrap_or(firmware);
            // The inbound queue port takes one frame per 32-bit write from any CPU, with no
            // lock: every CPU may have its own hardware queue, the firmware's commands split
            // between them (each queue its own tags, the frame pool indexed by
            // `Command::index`). The replies come back on the one reply queue. Poll queues
            // come after the others and split the commands with them; every queue also has
            // its reserved commands (ABORT frames), outside `max_queue_depth`.
            let reserved = u32::from(host::RESERVED_CMDS);
            let queues = queues.min(cap).min(firmware / (1 + reserved)).max(1);
            let all = queues + poll_queues;
            let total = cap.min(firmware.saturating_sub(all * reserved));
            if total < all {
                dev_err!(
                    pdev,
                    "{} queues and {} poll queues need {} commands and {} I/O commands, the controller takes {} and max_queue_depth allows {}\n",
                    queues,
                    poll_queues,
                    all * (1 + reserved),
                    all,
                    firmware,
                    cap
                );
                return Err(EINVAL);
            }
            let can_queue = total / all;
            let max_sge = limits.max_sge.min(255);
            let mut config = HostConfig::new(can_queue);
            // CAST: at most `MAX_QUEUES` each.
            config.nr_hw_queues = all as u16;
            config.nr_poll_queues = poll_queues as u16;
            config.nr_reserved_cmds = host::RESERVED_CMDS;
            // megaraid_sas's `MEGASAS_DEFAULT_CMD_PER_LUN`. The midlayer caps a device's depth
            // at `can_queue`, here one queue's share of the commands: where that share is
            // below 256 (a controller with fewer than about 256 commands per CPU), a device
            // gets less depth than under megaraid_sas, whose one queue has them all. That is
            // the price of a queue per CPU; `queues=1` gives the C driver's depth.
            config.cmd_per_lun =
                u16::try_from(can_queue.min(fw::DEFAULT_CMD_PER_LUN)).unwrap_or(u16::MAX);
            config.sg_tablesize = max_sge;
            config.max_sectors = limits.max_sectors(status.msix_supported());
            config.max_segment_size = u32::MAX;
            config.dma_boundary = u64::from(u32::MAX);
            config.max_channel = 0;
            // CAST: a small constant.
            config.max_id = frame::MAX_TARGETS as u32;
            config.max_lun = 8;
            config.max_cmd_len = 16;
            // Lists longer than a frame takes go through the bounce buffer: one transfer.
            config.bounce_bytes = usize::try_from(config.max_sectors).unwrap_or(0) * 512;

            let dev: &kernel::device::Device<kernel::device::Bound> = pdev.as_ref();
            let setup = mfi::Setup {
                pdev,
                bar,
                model,
                limits,
                msix_supported: status.msix_supported(),
                dma32,
                intx,
                use_ldio,
                // CAST: below `MAX_QUEUES`.
                poll_queues: poll_queues as u16,
                sge_limit,
                fw_timeout,
            };
            Ok(try_pin_init!(Controller {
                host <- scsi::Registration::new(
                    host::template(),
                    dev,
                    config,
                    Some(vectors),
                    mfi::Mfi::new(dev, setup),
                ),
            })
            .pin_chain(move |c| {
                let host = c.host.host();
                let m = host.data();
                m.enable_interrupts();
                dev_info!(
                    pdev,
                    "{} ({}), firmware {}: max_cmds {}, max_sge {}, {} mode, {} drives, {}, host{}\n",
                    mfi::CtrlInfo::text(&m.info.product),
                    model.name(),
                    mfi::CtrlInfo::text(&m.info.package_version),
                    m.limits.max_cmds,
                    m.limits.max_sge,
                    if m.jbod { "JBOD" } else { "RAID" },
                    m.drives.count(),
                    match irq_type {
                        pci::IrqType::MsiX => "MSI-X",
                        pci::IrqType::Msi => "MSI",
                        pci::IrqType::Intx => "INTx",
                    },
                    host.host_no()
                );
                c.host.scan();
                Ok(())
            }))
        })
    }
}

kernel::module_pci_driver! {
    type: Driver,
    name: "rmegasas",
    authors: ["rscsi developers"],
    description: "Rust driver for LSI MegaRAID SAS controllers (MFI interface)",
    license: "GPL v2",
    params: {
        msix: bool {
            default: true,
            description: "Use MSI-X when the controller has it (default: true)",
        },
        msi: bool {
            default: true,
            description: "Use MSI when MSI-X is not used (default: true)",
        },
        max_queue_depth: i64 {
            default: 0,
            description: "Most commands per controller, 1..=2048; 0 takes the firmware's limit",
        },
        ldio: bool {
            default: true,
            description: "Send READ/WRITE to logical drives as LD I/O frames (default: true)",
        },
        queues: i64 {
            default: 0,
            description: "Hardware queues, 1..=16; 0: one per possible CPU, at most 16",
        },
        poll_queues: i64 {
            default: 0,
            description: "Hardware queues for polled I/O (io_uring IOPOLL, RWF_HIPRI), 0..=15, besides the `queues` others; 0: none",
        },
        sge_limit: i64 {
            default: 0,
            description: "Testing: describe at most N (1..=255) SG elements per frame; longer lists go through the bounce buffer. 0: the firmware's limit",
        },
        fw_timeout: i64 {
            default: 30,
            description: "Seconds the firmware may take to answer a polled frame (INIT, DCMD) or an ABORT before the driver gives up on it, 1..=180 (default: 30)",
        },
    },
}
