// SPDX-License-Identifier: GPL-2.0

//! rvirtio_scsi: a Rust driver for virtio-scsi over the modern virtio-pci transport.
//!
//! Binds to the PCI function itself (1af4:1048, and the transitional 1af4:1004 through its
//! modern capabilities) and owns its split virtqueues, instead of going through the virtio bus:
//! every tag gets its request header, response header and indirect descriptor table at probe,
//! and a command only fills them. Built on `kernel::scsi`; see
//! `Documentation/scsi/rvirtio_scsi.rst` for what it does, its parameters and its debugfs file.

use kernel::{
    device::Core,
    dma::{
        Device as _,
        DmaMask, //
    },
    pci,
    prelude::*,
    scsi::{
        self, sg,
        slots::SlotPool,
        virtqueue::{
            self,
            DeviceBuffers, //
        },
        vring::{
            self,
            QueueSize, //
        },
        HostConfig,
    },
    sync::atomic::Atomic,
    time::Delta,
};

mod event;
mod host;
mod proto;
mod virtio;
mod virtio_pci;

use host::{
    IrqMode,
    Queue,
    Stats,
    Vscsi,
    CONTROL_QUEUE,
    EVENT_QUEUE,
    FIRST_REQUEST_QUEUE,
    REQ_AREA,
    RESERVED_CMDS, //
};
use proto::{
    Config,
    ConfigError, //
};
use virtio::{
    bit,
    feature,
    status, //
};
use virtio_pci::Transport;

/// The most request queues (with a vector each, plus the configuration and control vectors,
/// within the 16 vectors a `kernel::scsi` host registers).
const MAX_QUEUES: i64 = 14;

/// The most SG segments per command: each tag's indirect table holds this many data
/// descriptors and the two headers (16 KiB per tag at 1024).
const MAX_SEGMENTS: u32 = 1024;

/// Per-controller state: the SCSI host, which owns the device ([`Vscsi`]).
#[pin_data]
struct Controller<'bound> {
    #[pin]
    host: scsi::Registration<'bound, host::Rvscsi>,
}

/// The PCI driver.
struct Driver;

kernel::pci_device_table!(
    PCI_TABLE,
    <Driver as pci::Driver>::IdInfo,
    [
        // Modern (non-transitional) virtio-scsi: 0x1040 + device type 8.
        (
            pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1048),
            ()
        ),
        // Transitional virtio-scsi, driven through its modern capabilities.
        (
            pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1004),
            ()
        ),
    ]
);

/// The module parameters, checked.
struct Params {
    /// Interrupt-driven request queues wanted, at least 1.
    queues: u32,
    /// Poll queues wanted, after them.
    poll_queues: u32,
    msix: bool,
    /// The largest queue size wanted.
    max_queue_size: u16,
    /// How long a task management function may take.
    tmf_timeout: Delta,
}

/// The longest `tmf_timeout`, in seconds (30 by default). C virtio_scsi waits for a task
/// management function without a bound; a bound lets the error handler escalate past a
/// device that never answers.
const MAX_TMF_TIMEOUT_SECS: i64 = 300;

/// Reads and checks the module parameters.
fn params(pdev: &pci::Device) -> Result<Params> {
    // CAST: `MAX_QUEUES` is a small positive constant.
    let queues = scsi::queues_param(
        pdev.as_ref(),
        module_parameters::queues.value(),
        MAX_QUEUES as u32,
    )?;
    let poll = module_parameters::poll_queues.value();
    // CAST: `MAX_QUEUES` is a small positive constant.
    let poll_queues = match u32::try_from(poll) {
        Ok(n) if n < MAX_QUEUES as u32 => n,
        _ => {
            dev_err!(
                pdev,
                "poll_queues={} is out of range (0 for none, or 1..={})\n",
                poll,
                MAX_QUEUES - 1
            );
            return Err(EINVAL);
        }
    };
    let size = module_parameters::max_queue_size.value();
    let max_queue_size = match u16::try_from(size) {
        Ok(0) => vring::MAX_QUEUE_SIZE,
        Ok(n) if QueueSize::new(n).is_some() && n >= 2 => n,
        _ => {
            dev_err!(
                pdev,
                "max_queue_size={} is not 0 (the device's size) or a power of two from 2 to {}\n",
                size,
                vring::MAX_QUEUE_SIZE
            );
            return Err(EINVAL);
        }
    };
    let tmf = module_parameters::tmf_timeout.value();
    if !(1..=MAX_TMF_TIMEOUT_SECS).contains(&tmf) {
        dev_err!(
            pdev,
            "tmf_timeout={} is out of range (1..={} seconds)\n",
            tmf,
            MAX_TMF_TIMEOUT_SECS
        );
        return Err(EINVAL);
    }
    Ok(Params {
        queues,
        poll_queues,
        msix: module_parameters::msix.value(),
        max_queue_size,
        tmf_timeout: Delta::from_secs(tmf),
    })
}

/// Names the features in `bits` that the driver needs, for a message.
fn feature_names(bits: u64) -> &'static str {
    match (
        bits & bit(feature::VERSION_1) != 0,
        bits & bit(feature::RING_INDIRECT_DESC) != 0,
    ) {
        (true, true) => "VERSION_1 and RING_INDIRECT_DESC",
        (true, false) => "VERSION_1",
        (false, true) => "RING_INDIRECT_DESC",
        (false, false) => "none",
    }
}

/// Negotiates features: `VIRTIO_F_VERSION_1` and `VIRTIO_RING_F_INDIRECT_DESC` (each command
/// is one indirect table) are required, `VIRTIO_RING_F_EVENT_IDX` and the events
/// (`VIRTIO_SCSI_F_HOTPLUG`, `VIRTIO_SCSI_F_CHANGE`) taken when offered,
/// `VIRTIO_F_ACCESS_PLATFORM` accepted when offered (then every address the device sees comes
/// from the DMA API; without it the device takes physical addresses, see [`Vscsi::phys`]).
/// Nothing else: bidirectional commands and protection information are not implemented.
fn negotiate(pdev: &pci::Device, t: &Transport<'_>) -> Result<u64> {
    let offered = t.device_features();
    let required = bit(feature::VERSION_1) | bit(feature::RING_INDIRECT_DESC);
    let features = virtio::negotiate(
        offered,
        bit(feature::RING_EVENT_IDX) | bit(proto::feature::HOTPLUG) | bit(proto::feature::CHANGE),
        required,
        bit(feature::ACCESS_PLATFORM),
    )
    .map_err(|m| {
        dev_err!(
            pdev,
            "the device does not offer {} (features {:#018x})\n",
            feature_names(m.0),
            offered
        );
        ENODEV
    })?;
    host::accept_features(pdev, t, features)?;
    Ok(features)
}

/// Writes the header sizes the driver uses and reads the device configuration, checked.
fn read_config(pdev: &pci::Device, t: &Transport<'_>) -> Result<Config> {
    host::write_header_sizes(t)?;
    let mut raw = [0u8; proto::CONFIG_SIZE];
    t.read_config(&mut raw)?;
    let c = Config::parse(&raw);
    c.check().map_err(|e| {
        match e {
            ConfigError::NoQueues => {
                dev_err!(pdev, "the device reports num_queues 0: no request queue\n")
            }
            ConfigError::NoSegments => dev_err!(
                pdev,
                "the device reports seg_max 0: no data descriptor per command\n"
            ),
            ConfigError::NoSectors => dev_err!(pdev, "the device reports max_sectors 0\n"),
            ConfigError::HeaderSize { sense, cdb } => dev_err!(
                pdev,
                "the device kept sense_size {} and cdb_size {}; {} and {} were written\n",
                sense,
                cdb,
                proto::SENSE_SIZE,
                proto::CDB_SIZE
            ),
        }
        EINVAL
    })?;
    Ok(c)
}

/// The queue size for every request queue: the largest power of two all of them and the
/// parameter allow.
fn queue_size(pdev: &pci::Device, t: &Transport<'_>, nq: u16, wanted: u16) -> Result<QueueSize> {
    let mut size: Option<QueueSize> = None;
    for i in 0..nq {
        let index = FIRST_REQUEST_QUEUE + i;
        let max = t.queue_max(index);
        let Some(s) = QueueSize::choose(max, wanted) else {
            dev_err!(
                pdev,
                "request queue {} (virtqueue {}) offers {} entries: a power of two up to {} is needed\n",
                i,
                index,
                max,
                vring::MAX_QUEUE_SIZE
            );
            return Err(EINVAL);
        };
        size = Some(size.map_or(s, |cur| if s.get() < cur.get() { s } else { cur }));
    }
    size.ok_or(EINVAL)
}

impl pci::Driver for Driver {
    type IdInfo = ();
    type Data<'bound> = Controller<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            let p = params(pdev)?;
            pdev.enable_device_mem()?;
            pdev.set_master();
            // SAFETY: Nothing has allocated or mapped DMA memory for this device yet: probe is
            // the first user of the device and runs once at a time.
            if unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<64>()) }.is_err() {
                // SAFETY: As above.
                unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<32>()) }
                    .inspect_err(|_| dev_err!(pdev, "no usable DMA mask\n"))?;
            }
            let t = Transport::probe(pdev)?;
            t.reset()?;
            t.add_status(status::ACKNOWLEDGE);
            t.add_status(status::DRIVER);
            let fail = |e: Error| {
                t.add_status(status::FAILED);
                e
            };
            let features = negotiate(pdev, &t).map_err(fail)?;
            let config = read_config(pdev, &t).map_err(fail)?;
            // Without ACCESS_PLATFORM the device bypasses the DMA API: the rings' and slots'
            // DMA addresses must be physical addresses for it, as they are without an IOMMU.
            let phys = features & bit(feature::ACCESS_PLATFORM) == 0;
            if phys && !virtqueue::dma_is_physical(pdev.as_ref()) {
                dev_err!(
                    pdev,
                    "the device takes physical addresses (no VIRTIO_F_ACCESS_PLATFORM) but its DMA is translated (an IOMMU): not supported; give it VIRTIO_F_ACCESS_PLATFORM (QEMU: iommu_platform=on)\n"
                );
                return Err(fail(ENODEV));
            }
            let device_queues = t.num_queues();
            if device_queues <= FIRST_REQUEST_QUEUE {
                dev_err!(
                    pdev,
                    "the device has {} virtqueues: a control, an event and at least one request queue are needed\n",
                    device_queues
                );
                return Err(fail(EINVAL));
            }
            // CAST: at most `MAX_QUEUES`.
            let nq = (p.queues + p.poll_queues)
                .min(config.num_queues)
                .min(u32::from(device_queues - FIRST_REQUEST_QUEUE))
                .min(MAX_QUEUES as u32) as u16;
            // The poll queues are the last ones; at least one queue takes interrupts.
            let Some(nirq) = u32::from(nq).checked_sub(p.poll_queues).filter(|&n| n > 0) else {
                dev_err!(
                    pdev,
                    "poll_queues={} leaves no interrupt-driven queue: the device has {} request queues\n",
                    p.poll_queues,
                    nq
                );
                return Err(fail(EINVAL));
            };
            // CAST: below `nq`.
            let (nirq, npoll) = (nirq as u16, p.poll_queues as u16);
            let size = queue_size(pdev, &t, nq, p.max_queue_size).map_err(fail)?;

            // Vectors: configuration, control and event, then one per request queue; with
            // fewer, all queues share one, or everything shares one; without MSI-X, INTx.
            let want = 2 + u32::from(nirq);
            let mut types = pci::IrqTypes::default().with(pci::IrqType::Intx);
            if p.msix {
                types = types.with(pci::IrqType::MsiX);
            }
            // The request queues' vectors are spread over the CPUs (the first two keep the
            // default affinity) and the queues mapped by them (`map_queues`); when that many
            // vectors cannot be had, fewer without affinity, as `vp_find_vqs()` falls back.
            let per_queue = if p.msix {
                pdev.alloc_irq_vectors_affinity(
                    want,
                    want,
                    pci::IrqTypes::default().with(pci::IrqType::MsiX),
                    2,
                )
                .ok()
            } else {
                None
            };
            let vectors = match per_queue {
                Some(v) => v,
                None => pdev
                    .alloc_irq_vectors(1, want, types)
                    .inspect_err(|e| dev_err!(pdev, "no interrupt vector: {:?}\n", e))
                    .map_err(fail)?,
            };
            let irq = match (vectors.irq_type(), vectors.len()) {
                (pci::IrqType::MsiX, n) if n >= want as usize => IrqMode::PerQueue,
                (pci::IrqType::MsiX, n) if n >= 2 => IrqMode::Shared,
                (pci::IrqType::MsiX, _) => IrqMode::Single,
                _ => IrqMode::Intx,
            };
            if irq != IrqMode::Intx && !t.set_config_vector(irq.config_vector()) {
                dev_err!(
                    pdev,
                    "the device refused MSI-X vector 0 for configuration changes\n"
                );
                return Err(fail(EBUSY));
            }

            // The control queue: a head for each reserved command (task management).
            let reserved = u32::from(nq) * u32::from(RESERVED_CMDS);
            let ctrl_max = t.queue_max(CONTROL_QUEUE);
            // CAST: at most 14 queues of 1 reserved command.
            let ctrl_size = QueueSize::choose(ctrl_max, (reserved as u16).next_power_of_two())
                .filter(|s| u32::from(s.get()) >= reserved);
            let Some(ctrl_size) = ctrl_size else {
                dev_err!(
                    pdev,
                    "the control queue offers {} entries: a power of two of at least {} is needed\n",
                    ctrl_max,
                    reserved
                );
                return Err(fail(EINVAL));
            };

            let dev: &kernel::device::Device<kernel::device::Bound> = pdev.as_ref();
            let can_queue = u32::from(size.get());
            let segs = config.seg_max.min(MAX_SEGMENTS);
            // CAST: at most `MAX_SEGMENTS`.
            let table = (2 + segs as usize) * vring::DESC_SIZE;
            // Every queue's reserved commands come first (their tags and so their indices).
            let mut pool = SlotPool::new(
                dev,
                u32::from(nq) * (can_queue + u32::from(RESERVED_CMDS)),
                REQ_AREA + table,
                proto::RESP_SIZE,
            )
            .map_err(fail)?;
            // Every table chains entry i to i + 1 once, here; commands never write `next`.
            for i in 0..pool.count() {
                // CAST: below the pool's count, at most 14 * 32768.
                if let Some(slot) = pool.slot_exclusive(i as u16) {
                    vring::chain_table(&mut slot.cmd[REQ_AREA..]);
                }
            }
            let event_idx = features & bit(feature::RING_EVENT_IDX) != 0;
            let ctrl =
                Queue::new(dev, &t, CONTROL_QUEUE, ctrl_size, event_idx, false).map_err(fail)?;
            // The event queue: a head for each event buffer.
            let ev_max = t.queue_max(EVENT_QUEUE);
            let Some(ev_size) = QueueSize::choose(ev_max, event::BUFFERS) else {
                dev_err!(
                    pdev,
                    "the event queue offers {} entries: a power of two is needed\n",
                    ev_max
                );
                return Err(fail(EINVAL));
            };
            let event_bufs =
                DeviceBuffers::new(dev, ev_size.get().min(event::BUFFERS), event::SIZE)
                    .map_err(fail)?;
            let events =
                Queue::new(dev, &t, EVENT_QUEUE, ev_size, event_idx, false).map_err(fail)?;
            let mut queues =
                KVec::with_capacity(usize::from(nq), GFP_KERNEL).map_err(|e| fail(e.into()))?;
            for i in 0..nq {
                // The last `npoll` queues are polled.
                let polled = i >= nirq;
                let q = Queue::new(dev, &t, FIRST_REQUEST_QUEUE + i, size, event_idx, polled)
                    .map_err(fail)?;
                queues.push(q, GFP_KERNEL).map_err(|e| fail(e.into()))?;
            }
            host::enable_queues(&t, &ctrl, &events, &queues, irq).map_err(fail)?;

            let mut hc = HostConfig::new(can_queue);
            hc.nr_hw_queues = nq;
            hc.cmd_per_lun =
                u16::try_from(config.cmd_per_lun.clamp(1, can_queue)).unwrap_or(u16::MAX);
            // CAST: at most `MAX_SEGMENTS`.
            hc.sg_tablesize = segs as u16;
            hc.max_sectors = config.max_sectors;
            hc.max_channel = 0;
            hc.max_id = u32::from(config.max_target) + 1;
            hc.max_lun = config.host_max_lun();
            // CAST: a small constant.
            hc.max_cmd_len = proto::CDB_SIZE as u16;
            hc.nr_reserved_cmds = RESERVED_CMDS;
            hc.nr_poll_queues = npoll;
            let sg_limits = sg::Limits {
                max_segment_size: hc.max_segment_size,
                boundary_mask: hc.dma_boundary,
                max_segments: segs as usize,
            };
            let irq_name = irq.name();
            let nvec = vectors.len();
            let data = try_pin_init!(Vscsi {
                pdev,
                transport: t,
                ctrl,
                events,
                event_bufs,
                queues,
                pool,
                features,
                phys,
                config,
                irq,
                sg_limits,
                stats: Stats::new(),
                tmf_timeout: p.tmf_timeout,
                state: Atomic::new(host::state::RUNNING),
                faults: kernel::scsi::fault::KnobSet::new(host::knob::NAMES),
                hold_events: Atomic::new(false),
                held_events: Atomic::new(0),
                needs_reset: Atomic::new(false),
                reset_lock <- kernel::new_mutex!(()),
            }? Error);
            Ok(try_pin_init!(Controller {
                host <- scsi::Registration::new(
                    host::template(),
                    dev,
                    hc,
                    Some(vectors),
                    data,
                ),
            })
            .pin_chain(move |c| {
                let host = c.host.host();
                let v = host.data();
                v.transport.add_status(status::DRIVER_OK);
                // The event buffers, once the device is live (`virtscsi_kick_event_all()`).
                v.post_events(u32::MAX);
                dev_info!(
                    pdev,
                    "virtio-scsi: {} request queues ({} polled) of {} entries, seg_max {}, max_sectors {}, {} targets, event_idx {}, events {}, {} ({} vectors), host{}\n",
                    v.queues.len(),
                    npoll,
                    size.get(),
                    v.config.seg_max,
                    v.config.max_sectors,
                    u32::from(v.config.max_target) + 1,
                    u8::from(event_idx),
                    u8::from(v.events_on()),
                    irq_name,
                    nvec,
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
    name: "rvirtio_scsi",
    authors: ["rscsi developers"],
    description: "Rust driver for virtio-scsi over the modern virtio-pci transport",
    license: "GPL v2",
    params: {
        queues: i64 {
            default: 0,
            description: "Request queues, 1..=14, at most what the device has; 0: one per possible CPU",
        },
        poll_queues: i64 {
            default: 0,
            description: "Request queues polled (io_uring IOPOLL) instead of interrupt-driven, after the others, 0..=13",
        },
        msix: bool {
            default: true,
            description: "Use MSI-X when the device has it; false: INTx (default: true)",
        },
        max_queue_size: i64 {
            default: 0,
            description: "Largest virtqueue size, a power of two 2..=32768; 0: the device's",
        },
        tmf_timeout: i64 {
            default: 30,
            description: "Seconds a task management function (abort, LUN or target reset) may take before the error handler gives up on it and escalates, 1..=300 (default: 30)",
        },
    },
}
