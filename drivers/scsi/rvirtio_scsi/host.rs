// SPDX-License-Identifier: GPL-2.0

//! rvirtio_scsi as a SCSI host: the request queues, queuing, completion and debugfs.
//!
//! Follows `virtscsi_queuecommand()`, `virtscsi_add_cmd()`, `virtscsi_complete_cmd()`,
//! `virtscsi_req_done()` and `virtscsi_commit_rqs()` in
//! [`drivers/scsi/virtio_scsi.c`](srctree/drivers/scsi/virtio_scsi.c), with the ring of
//! [`kernel::scsi::virtqueue`] in place of the virtio core's.

use core::fmt;

use kernel::{
    device::Bound,
    dma::DataDirection,
    irq::IrqReturn,
    pci,
    prelude::*,
    scsi::{
        ring::ContextTag,
        sense,
        sg,
        slots::SlotPool,
        virtqueue::SplitQueue,
        vring,
        Command,
        Host,
        HostByte,
        HostOps,
        QueueMaps,
        QueueType,
        Refused,
        ScsiStatus, //
    },
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    types::CovariantForLt,
};

use crate::{
    proto::{
        self,
        response,
        CmdResp,
        Config, //
    },
    virtio::{
        self,
        feature, //
    },
    virtio_pci::Transport,
};

/// The SCSI host side of the driver.
pub(crate) struct Rvscsi;

kernel::scsi_host_template!(TEMPLATE, Rvscsi);

/// The host template, for the probe.
pub(crate) fn template() -> &'static kernel::scsi::Template<Rvscsi> {
    &TEMPLATE
}

/// Bytes at the start of a command slot for the request header ([`proto::REQ_SIZE`]), before
/// the command's indirect descriptor table.
pub(crate) const REQ_AREA: usize = 64;

/// The virtqueue index of the first request queue (0 is the control queue, 1 the event queue).
pub(crate) const FIRST_REQUEST_QUEUE: u16 = 2;

/// How the device interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IrqMode {
    /// MSI-X: vector 0 for configuration changes, 1 for the control and event queues, and
    /// `2 + i` for request queue `i`.
    PerQueue,
    /// MSI-X with two vectors: 0 for configuration changes, 1 for every queue.
    Shared,
    /// MSI-X with one vector for everything.
    Single,
    /// The INTx line, with the ISR status byte to tell what happened.
    Intx,
}

impl IrqMode {
    /// The MSI-X vector of request queue `i`, or `VIRTIO_MSI_NO_VECTOR` for INTx.
    pub(crate) fn queue_vector(self, i: u16) -> u16 {
        match self {
            Self::PerQueue => 2 + i,
            Self::Shared => 1,
            Self::Single => 0,
            Self::Intx => virtio::NO_VECTOR,
        }
    }

    /// The configuration-change vector.
    pub(crate) fn config_vector(self) -> u16 {
        match self {
            Self::Intx => virtio::NO_VECTOR,
            _ => 0,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::PerQueue => "MSI-X per queue",
            Self::Shared => "MSI-X shared",
            Self::Single => "MSI-X single",
            Self::Intx => "INTx",
        }
    }
}

/// One request queue: the ring, and where to notify the device of it.
#[pin_data]
pub(crate) struct ReqQueue {
    #[pin]
    pub(crate) vq: SplitQueue,
    /// The virtqueue index (`FIRST_REQUEST_QUEUE + i`).
    pub(crate) index: u16,
    /// The offset in the notify region.
    pub(crate) notify_at: u32,
    /// Interrupts (or INTx ISR hits) that drained this queue.
    pub(crate) interrupts: Atomic<u64>,
}

/// Counters, read and reset through debugfs.
pub(crate) struct Stats {
    /// Commands completed with each response code, and (last) with codes none defines.
    pub(crate) responses: [Atomic<u64>; response::COUNT + 1],
    /// Commands refused as host busy (retried by the midlayer).
    pub(crate) busy: Atomic<u64>,
    /// Completions whose context no longer named a command in the hardware.
    pub(crate) late: Atomic<u64>,
    /// Commands completed by the driver itself, with an error, before the device saw them:
    /// a CDB or LUN the device cannot take, or a list the table cannot hold.
    pub(crate) refused: Atomic<u64>,
    /// INTx interrupts with an ISR of 0 (the line is shared).
    pub(crate) spurious: Atomic<u64>,
    /// Configuration change interrupts.
    pub(crate) config_changes: Atomic<u64>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            responses: [const { Atomic::new(0) }; response::COUNT + 1],
            busy: Atomic::new(0),
            late: Atomic::new(0),
            refused: Atomic::new(0),
            spurious: Atomic::new(0),
            config_changes: Atomic::new(0),
        }
    }

    pub(crate) fn inc(c: &Atomic<u64>) {
        c.add(1, Relaxed);
    }

    fn reset(&self) {
        for c in self.responses.iter() {
            c.store(0, Relaxed);
        }
        for c in [
            &self.busy,
            &self.late,
            &self.refused,
            &self.spurious,
            &self.config_changes,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// One controller: the transport, its request queues and the per-tag slots.
pub(crate) struct Vscsi<'bound> {
    pub(crate) pdev: &'bound pci::Device<Bound>,
    pub(crate) transport: Transport<'bound>,
    pub(crate) queues: KVec<Pin<KBox<ReqQueue>>>,
    /// Per command index: the request header and indirect table (command slot), the response
    /// header (response slot).
    pub(crate) pool: SlotPool,
    pub(crate) features: u64,
    pub(crate) config: Config,
    pub(crate) irq: IrqMode,
    pub(crate) sg_limits: sg::Limits,
    pub(crate) stats: Stats,
}

impl Drop for Vscsi<'_> {
    fn drop(&mut self) {
        // The device must not touch the rings or the slots once they are freed: a reset stops
        // it (the quiesce did this already when the host was added; this covers a probe that
        // failed after the device was set up).
        self.transport.reset_nowait();
    }
}

impl Vscsi<'_> {
    /// Drains request queue `i`.
    #[inline]
    fn drain(&self, host: &Host<Rvscsi>, q: &ReqQueue) {
        Stats::inc(&q.interrupts);
        q.vq.drain(|ctx, _len| self.complete(host, ctx));
    }

    /// Drains every request queue.
    fn drain_all(&self, host: &Host<Rvscsi>) {
        for q in self.queues.iter() {
            if q.vq.has_used() {
                self.drain(host, q);
            }
        }
    }

    /// Completes the command the device returned with context `ctx`.
    #[inline]
    fn complete(&self, host: &Host<Rvscsi>, ctx: ContextTag) {
        let Some(mut cmd) = host.take_from_hardware(ctx) else {
            // Aborted or reset meanwhile: the command is not the device's any more.
            Stats::inc(&self.stats.late);
            return;
        };
        let len = cmd.transfer_len();
        let o = {
            let Some((slot, _)) = self.pool.slot(&mut cmd) else {
                cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
                return;
            };
            let r = CmdResp::read(slot.resp);
            Stats::inc(&self.stats.responses[usize::from(r.response).min(response::COUNT)]);
            proto::outcome(&r, len)
        };
        if o.sense_len > 0 {
            self.copy_sense(&mut cmd, o.sense_len);
        }
        if o.resid > 0 {
            cmd.set_resid(o.resid);
        }
        cmd.complete_with(o.host, o.status);
    }

    /// Copies `n` bytes of sense (at most [`proto::SENSE_SIZE`], [`proto::outcome`] bounds it)
    /// from the response slot into the command's sense buffer: through a copy on the stack,
    /// since the slot is borrowed through the command.
    #[cold]
    fn copy_sense(&self, cmd: &mut Command<Rvscsi>, n: usize) {
        let mut sense = [0u8; proto::SENSE_SIZE];
        let n = n.min(proto::SENSE_SIZE);
        {
            let Some((slot, _)) = self.pool.slot(cmd) else {
                return;
            };
            let Some(src) = slot.resp.get(12..12 + n) else {
                return;
            };
            sense[..n].copy_from_slice(src);
        }
        let sb = cmd.sense_buffer();
        let n = n.min(sb.len());
        sb[..n].copy_from_slice(&sense[..n]);
    }

    /// A configuration change interrupt.
    fn config_changed(&self) {
        Stats::inc(&self.stats.config_changes);
        if self.transport.needs_reset() {
            dev_err!(
                self.pdev,
                "the device needs a reset (status {:#04x}); commands it holds will time out\n",
                self.transport.status()
            );
        }
    }
}

/// Writes the request header and the indirect table of `cmd` into its slot: the request header,
/// then data the device reads, then the response header, then data the device writes (QEMU
/// takes the first descriptor of each direction as the whole header). Returns the number of
/// descriptors and the table's bus address, or `None` if the list does not fit (which the block
/// layer's limits rule out).
fn build(v: &Vscsi<'_>, cmd: &mut Command<Rvscsi>, tag: u64) -> Option<(u16, u64)> {
    const D: usize = vring::DESC_SIZE;
    let (slot, cmd) = v.pool.slot(cmd)?;
    let dev = cmd.device();
    // CAST: checked below 256 by the caller.
    let lun = proto::lun_bytes(dev.id() as u8, dev.lun());
    let (hdr, table) = slot.cmd.split_at_mut(REQ_AREA);
    if !proto::write_cmd_req(hdr, lun, tag, cmd.cdb_padded()) {
        return None;
    }
    let segs = v.sg_limits.max_segments;
    // CAST: small constants.
    vring::write_chained(&mut table[..D], slot.cmd_dma, proto::REQ_SIZE as u32, false);
    let resp = |t: &mut [u8]| {
        // CAST: as above.
        vring::write_chained(&mut t[..D], slot.resp_dma, proto::RESP_SIZE as u32, true)
    };
    let last = match cmd.direction() {
        DataDirection::ToDevice => {
            let w = sg::write(
                cmd.segments(),
                &v.sg_limits,
                &mut [&mut table[D..D * (1 + segs)]],
                &vring::DescWriter {
                    device_writes: false,
                },
            )
            .ok()?;
            resp(&mut table[D * (1 + w.count)..]);
            1 + w.count
        }
        DataDirection::FromDevice => {
            resp(&mut table[D..]);
            let w = sg::write(
                cmd.segments(),
                &v.sg_limits,
                &mut [&mut table[2 * D..D * (2 + segs)]],
                &vring::DescWriter {
                    device_writes: true,
                },
            )
            .ok()?;
            1 + w.count
        }
        _ => {
            resp(&mut table[D..]);
            1
        }
    };
    vring::end_chain(&mut table[D * last..D * (last + 1)]);
    // CAST: a small constant.
    Some((
        u16::try_from(last + 1).ok()?,
        slot.cmd_dma + REQ_AREA as u64,
    ))
}

#[vtable]
impl HostOps for Rvscsi {
    type HostData = CovariantForLt!(Vscsi<'_>);
    type CmdData = ();
    const NAME: &'static CStr = c"rvirtio_scsi";

    fn queuecommand(host: &Host<Self>, mut cmd: Command<Self>) -> Result<(), Refused<Self>> {
        let v = host.data();
        let Some(q) = v.queues.get(usize::from(cmd.hwq())) else {
            Stats::inc(&v.stats.refused);
            cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
            return Ok(());
        };
        if cmd.device().id() > 255 || cmd.device().channel() != 0 {
            Stats::inc(&v.stats.refused);
            cmd.complete_with(HostByte::BadTarget, ScsiStatus::GOOD);
            return Ok(());
        }
        if cmd.cdb().len() > proto::CDB_SIZE {
            // INVALID COMMAND OPERATION CODE: the request header holds 32 CDB bytes.
            Stats::inc(&v.stats.refused);
            cmd.complete_with_sense(sense::SenseKey::IllegalRequest, 0x20, 0x00);
            return Ok(());
        }
        if matches!(cmd.direction(), DataDirection::Bidirectional) {
            // VIRTIO_SCSI_F_INOUT is not negotiated.
            Stats::inc(&v.stats.refused);
            cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
            return Ok(());
        }
        if cmd.dma_map().is_err() {
            Stats::inc(&v.stats.busy);
            return Err(Refused::host_busy(cmd));
        }
        let head = cmd.tag();
        let ctx = cmd.next_context();
        let Some((entries, table)) = build(&v, &mut cmd, u64::from(ctx.to_u32())) else {
            Stats::inc(&v.stats.refused);
            cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
            return Ok(());
        };
        let last = cmd.is_last();
        let ctx = cmd.into_hardware();
        let kick = {
            let mut p = q.vq.producer();
            match p.push_indirect(head, table, entries, ctx) {
                Ok(()) => last && p.kick_prepare(),
                Err(_) => {
                    drop(p);
                    // The head is still out: the device has not returned this tag's last
                    // command. Take this one back and let the midlayer retry it.
                    Stats::inc(&v.stats.busy);
                    return match host.take_from_hardware(ctx) {
                        Some(cmd) => Err(Refused::host_busy(cmd)),
                        None => Ok(()),
                    };
                }
            }
        };
        if kick {
            v.transport.notify(q.notify_at, q.index);
        }
        Ok(())
    }

    fn commit_rqs(host: &Host<Self>, hwq: u16) {
        let v = host.data();
        if let Some(q) = v.queues.get(usize::from(hwq)) {
            let kick = q.vq.producer().kick_prepare();
            if kick {
                v.transport.notify(q.notify_at, q.index);
            }
        }
    }

    fn interrupt(host: &Host<Self>, vector: u16) -> IrqReturn {
        let v = host.data();
        match v.irq {
            IrqMode::Intx => {
                let isr = v.transport.isr();
                if isr == 0 {
                    Stats::inc(&v.stats.spurious);
                    return IrqReturn::None;
                }
                if isr & 2 != 0 {
                    v.config_changed();
                }
                if isr & 1 != 0 {
                    v.drain_all(host);
                }
            }
            IrqMode::Single => {
                v.drain_all(host);
                if v.transport.needs_reset() {
                    v.config_changed();
                }
            }
            IrqMode::Shared => match vector {
                0 => v.config_changed(),
                _ => v.drain_all(host),
            },
            IrqMode::PerQueue => match vector {
                0 => v.config_changed(),
                // The control and event queues: not set up yet.
                1 => {}
                n => {
                    if let Some(q) = v.queues.get(usize::from(n - 2)) {
                        v.drain(host, q);
                    }
                }
            },
        }
        IrqReturn::Handled
    }

    fn map_queues(host: &Host<Self>, maps: &mut QueueMaps<'_>) {
        // With a vector per request queue, each queue serves the CPUs its vector is affine to
        // (vectors 0 and 1 are the configuration's and the control queue's); otherwise the
        // CPUs are spread over the queues. Both take every queue, which cannot fail.
        let v = host.data();
        let n = host.nr_hw_queues();
        let r = if v.irq == IrqMode::PerQueue {
            maps.map_by_affinity(QueueType::Default, 0, n, v.pdev.as_ref(), 2)
        } else {
            maps.map(QueueType::Default, 0, n)
        };
        if let Err(e) = r {
            dev_err!(v.pdev, "cannot map {} queues: {:?}\n", n, e);
        }
    }

    fn quiesce(host: &Host<Self>) {
        // No device and no command is left: stop the device before the handlers go, so that
        // it neither raises an interrupt nor touches the rings again.
        host.data().transport.reset_nowait();
    }

    fn debugfs_show(host: &Host<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = host.data();
        let c = &v.config;
        let has = |b: u32| u8::from(v.features & virtio::bit(b) != 0);
        writeln!(f, "features: {:#018x}", v.features)?;
        writeln!(
            f,
            "indirect_desc: {}\nevent_idx: {}\nversion_1: {}\naccess_platform: {}",
            has(feature::RING_INDIRECT_DESC),
            has(feature::RING_EVENT_IDX),
            has(feature::VERSION_1),
            has(feature::ACCESS_PLATFORM)
        )?;
        writeln!(f, "device_status: {:#04x}", v.transport.status())?;
        writeln!(
            f,
            "num_queues: {}\nseg_max: {}\nmax_sectors: {}\ncmd_per_lun: {}\nmax_target: {}\nmax_lun: {}",
            c.num_queues, c.seg_max, c.max_sectors, c.cmd_per_lun, c.max_target, c.max_lun
        )?;
        writeln!(
            f,
            "irq: {}\nrequest_queues: {}\ncan_queue: {}\nsg_tablesize: {}",
            v.irq.name(),
            v.queues.len(),
            host.can_queue(),
            v.sg_limits.max_segments
        )?;
        for (i, q) in v.queues.iter().enumerate() {
            let s = q.vq.snapshot();
            writeln!(
                f,
                "queue{}: vq {} size {} avail_idx {} used_idx {} last_used {} out {} free {} submitted {} completed {} kicks {} kicks_suppressed {} interrupts {} drains {} max_bundle {} busy {} bogus_ids {} bogus_index {}",
                i,
                q.index,
                s.size,
                s.avail_idx,
                s.used_idx,
                s.last_used,
                s.out,
                u32::from(s.size) - s.out.min(u32::from(s.size)),
                s.submitted,
                s.completed,
                s.kicks,
                s.suppressed,
                q.interrupts.load(Relaxed),
                s.drains,
                s.max_bundle,
                s.busy,
                s.bogus_ids,
                s.bogus_index
            )?;
            let per_kick = s.submitted.checked_div(s.kicks).unwrap_or(0);
            writeln!(f, "queue{}_cmds_per_kick: {}", i, per_kick)?;
            // CAST: a host has at most 14 request queues (`MAX_QUEUES`).
            match v.irq.queue_vector(i as u16) {
                virtio::NO_VECTOR => writeln!(f, "queue{}_vector: none", i)?,
                n => writeln!(f, "queue{}_vector: {}", i, n)?,
            }
        }
        let st = &v.stats;
        const NAMES: [&str; response::COUNT + 1] = [
            "ok",
            "overrun",
            "aborted",
            "bad_target",
            "reset",
            "busy",
            "transport_failure",
            "target_failure",
            "nexus_failure",
            "failure",
            "function_succeeded",
            "function_rejected",
            "incorrect_lun",
            "unknown",
        ];
        for (name, c) in NAMES.iter().zip(st.responses.iter()) {
            writeln!(f, "resp_{}: {}", name, c.load(Relaxed))?;
        }
        writeln!(
            f,
            "busy: {}\nlate: {}\nrefused: {}\nspurious: {}\nconfig_changes: {}",
            st.busy.load(Relaxed),
            st.late.load(Relaxed),
            st.refused.load(Relaxed),
            st.spurious.load(Relaxed),
            st.config_changes.load(Relaxed)
        )
    }

    fn debugfs_write(host: &Host<Self>, input: &[u8]) -> Result {
        let v = host.data();
        match input.trim_ascii() {
            b"reset-stats" => {
                v.stats.reset();
                for q in v.queues.iter() {
                    q.vq.reset_stats();
                    q.interrupts.store(0, Relaxed);
                }
                Ok(())
            }
            _ => {
                dev_err!(
                    v.pdev,
                    "debugfs: unknown command (the state file takes \"reset-stats\")\n"
                );
                Err(EINVAL)
            }
        }
    }
}
