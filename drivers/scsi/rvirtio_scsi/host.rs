// SPDX-License-Identifier: GPL-2.0

//! rvirtio_scsi as a SCSI host: the request queues, queuing, completion and debugfs.
//!
//! Follows `virtscsi_queuecommand()`, `virtscsi_add_cmd()`, `virtscsi_complete_cmd()`,
//! `virtscsi_req_done()`, `virtscsi_commit_rqs()` and `virtscsi_tmf()` in
//! [`drivers/scsi/virtio_scsi.c`](srctree/drivers/scsi/virtio_scsi.c), with the ring of
//! [`kernel::scsi::virtqueue`] in place of the virtio core's.
//!
//! Error handling goes further than the C driver's, whose `eh_timed_out` always gives a
//! command more time and which has no host reset: a command that times out is first looked
//! for in its used ring (an interrupt may have been lost), then aborted (`ABORT_TASK` on the
//! control queue, as a reserved command), then its LUN and its target are reset
//! (`LOGICAL_UNIT_RESET`, `I_T_NEXUS_RESET`), and last the device is reset and set up again
//! from the rings and slots allocated at probe. A device that does not come back ends every
//! command with `DID_NO_CONNECT`.

use core::fmt;

use kernel::{
    device::Bound,
    dma::DataDirection,
    irq::IrqReturn,
    pci,
    prelude::*,
    scsi::{
        fault::KnobSet,
        ring::ContextTag,
        sense,
        sg,
        slots::SlotPool,
        trace,
        virtqueue::{
            DeviceBuffers,
            SplitQueue, //
        },
        vring,
        Command,
        EhCommand,
        EhStatus,
        Host,
        HostByte,
        HostOps,
        QueueMaps,
        QueueType,
        Refused,
        ScsiDevice,
        ScsiStatus,
        TimeoutAction, //
    },
    sync::{
        atomic::{
            Atomic,
            Relaxed,
            Release, //
        },
        Mutex,
    },
    time::Delta,
    types::CovariantForLt,
};

use crate::{
    event::{
        self,
        Action,
        Event, //
    },
    proto::{
        self,
        response,
        CmdResp,
        Config,
        Tmf, //
    },
    virtio::{
        self,
        feature,
        status, //
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

/// The virtqueue index of the control queue.
pub(crate) const CONTROL_QUEUE: u16 = 0;

/// The virtqueue index of the event queue.
pub(crate) const EVENT_QUEUE: u16 = 1;

/// The virtqueue index of the first request queue (0 is the control queue, 1 the event queue).
pub(crate) const FIRST_REQUEST_QUEUE: u16 = 2;

/// Reserved commands per request queue, for task management functions: the error handler
/// sends one at a time, and an `SG_SCSI_RESET` from another CPU (so from another queue) may
/// send one meanwhile. The control queue holds one head per reserved command.
pub(crate) const RESERVED_CMDS: u16 = 1;

/// The host's work item for events (`HostOps::work`).
pub(crate) const EVENT_WORK: u8 = 0;

/// The host's work item for resets after DEVICE_NEEDS_RESET: apart from the events', so that a
/// scan waiting on a device that stopped does not hold up the reset that recovers it.
pub(crate) const RESET_WORK: u8 = 1;

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

    /// The MSI-X vector of the control queue (which the event queue will share).
    pub(crate) fn ctrl_vector(self) -> u16 {
        match self {
            Self::PerQueue | Self::Shared => 1,
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

/// One virtqueue (the control queue or a request queue): the ring, and where to notify the
/// device of it.
#[pin_data]
pub(crate) struct Queue {
    #[pin]
    pub(crate) vq: SplitQueue,
    /// The virtqueue index ([`CONTROL_QUEUE`], or `FIRST_REQUEST_QUEUE + i`).
    pub(crate) index: u16,
    /// The offset in the notify region.
    pub(crate) notify_at: u32,
    /// Interrupts (or INTx ISR hits) that drained this queue.
    pub(crate) interrupts: Atomic<u64>,
}

impl Queue {
    /// Allocates virtqueue `index` of `size` entries (polled or not, see [`SplitQueue::new`])
    /// and finds where to notify the device of it.
    pub(crate) fn new(
        dev: &kernel::device::Device<Bound>,
        t: &Transport<'_>,
        index: u16,
        size: vring::QueueSize,
        event_idx: bool,
        polled: bool,
    ) -> Result<Pin<KBox<Self>>> {
        let notify_at = t.queue_notify_at(index)?;
        KBox::pin_init(
            try_pin_init!(Queue {
                vq <- SplitQueue::new(dev, size, event_idx, polled)?,
                index,
                notify_at,
                interrupts: Atomic::new(0),
            }),
            GFP_KERNEL,
        )
    }
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
    /// Task management functions answered, by response code (and, last, codes none defines).
    pub(crate) tmf_responses: [Atomic<u64>; response::COUNT + 1],
    pub(crate) aborts: Atomic<u64>,
    pub(crate) aborts_failed: Atomic<u64>,
    pub(crate) device_resets: Atomic<u64>,
    pub(crate) device_resets_failed: Atomic<u64>,
    pub(crate) target_resets: Atomic<u64>,
    pub(crate) target_resets_failed: Atomic<u64>,
    pub(crate) host_resets: Atomic<u64>,
    pub(crate) host_resets_failed: Atomic<u64>,
    /// Commands a host reset took back from the device and completed.
    pub(crate) reclaimed: Atomic<u64>,
    /// Commands that timed out (`eh_timed_out` calls).
    pub(crate) timeouts: Atomic<u64>,
    /// Timed-out commands found completed in their used ring: their interrupt was lost.
    pub(crate) lost_interrupts: Atomic<u64>,
    /// Request queue interrupts ignored on purpose (the `drop-irq` debugfs command).
    pub(crate) dropped_irqs: Atomic<u64>,
    /// Responses that claimed more sense than the response holds, or a residual larger than
    /// the transfer: cut to what can be true, and counted.
    pub(crate) sense_clamped: Atomic<u64>,
    pub(crate) resid_clamped: Atomic<u64>,
    /// Commands ended with `DID_NO_CONNECT` because the device did not come back from a reset.
    pub(crate) no_connect: Atomic<u64>,
    /// Events received, by kind ([`event::COUNTERS`]).
    pub(crate) events: [Atomic<u64>; event::COUNTERS.len()],
    /// Events that said the device had dropped some for want of a buffer.
    pub(crate) events_missed: Atomic<u64>,
    /// Devices a rescan after missed events found gone and removed.
    pub(crate) rescan_removed: Atomic<u64>,
    /// Hot-plug events whose device could not be added.
    pub(crate) events_failed: Atomic<u64>,
    /// Times the device set DEVICE_NEEDS_RESET and the work item reset it.
    pub(crate) needs_reset: Atomic<u64>,
    pub(crate) needs_reset_failed: Atomic<u64>,
    /// Polls of a poll queue ([`HostOps::mq_poll`]) and the commands they completed.
    pub(crate) polls: Atomic<u64>,
    pub(crate) poll_completions: Atomic<u64>,
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
            tmf_responses: [const { Atomic::new(0) }; response::COUNT + 1],
            aborts: Atomic::new(0),
            aborts_failed: Atomic::new(0),
            device_resets: Atomic::new(0),
            device_resets_failed: Atomic::new(0),
            target_resets: Atomic::new(0),
            target_resets_failed: Atomic::new(0),
            host_resets: Atomic::new(0),
            host_resets_failed: Atomic::new(0),
            reclaimed: Atomic::new(0),
            timeouts: Atomic::new(0),
            lost_interrupts: Atomic::new(0),
            dropped_irqs: Atomic::new(0),
            sense_clamped: Atomic::new(0),
            resid_clamped: Atomic::new(0),
            no_connect: Atomic::new(0),
            events: [const { Atomic::new(0) }; event::COUNTERS.len()],
            events_missed: Atomic::new(0),
            rescan_removed: Atomic::new(0),
            events_failed: Atomic::new(0),
            needs_reset: Atomic::new(0),
            needs_reset_failed: Atomic::new(0),
            polls: Atomic::new(0),
            poll_completions: Atomic::new(0),
        }
    }

    pub(crate) fn inc(c: &Atomic<u64>) {
        c.add(1, Relaxed);
    }

    fn reset(&self) {
        let all = Iterator::chain(self.responses.iter(), self.tmf_responses.iter());
        for c in Iterator::chain(all, self.events.iter()) {
            c.store(0, Relaxed);
        }
        for c in [
            &self.busy,
            &self.late,
            &self.refused,
            &self.spurious,
            &self.config_changes,
            &self.aborts,
            &self.aborts_failed,
            &self.device_resets,
            &self.device_resets_failed,
            &self.target_resets,
            &self.target_resets_failed,
            &self.host_resets,
            &self.host_resets_failed,
            &self.reclaimed,
            &self.timeouts,
            &self.lost_interrupts,
            &self.dropped_irqs,
            &self.sense_clamped,
            &self.resid_clamped,
            &self.no_connect,
            &self.events_missed,
            &self.rescan_removed,
            &self.events_failed,
            &self.needs_reset,
            &self.needs_reset_failed,
            &self.polls,
            &self.poll_completions,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// The test-only fault knobs of [`Vscsi::faults`], by index (see
/// `Documentation/scsi/rvirtio_scsi.rst`): each armed for the next N events it applies to.
pub(crate) mod knob {
    /// A request queue interrupt ignored, as if lost (`drop-irq N`).
    pub(crate) const DROP_IRQ: usize = 0;
    /// A command posted with an empty indirect table, a ring error (`bad-table`).
    pub(crate) const BAD_TABLE: usize = 1;
    /// A completion reported twice.
    pub(crate) const TWICE: usize = 2;
    /// A context never posted before a real completion.
    pub(crate) const BOGUS: usize = 3;
    /// A good response claims a residual larger than the transfer.
    pub(crate) const RESID: usize = 4;
    /// A good response claims CHECK CONDITION with more sense than it holds.
    pub(crate) const SENSE: usize = 5;
    /// A task management function the device answered is taken as `FUNCTION_REJECTED`, as
    /// from a device that will not do it: the error handler escalates (abort, LUN reset,
    /// target reset, host reset), whatever the device did.
    pub(crate) const TMF_REJECT: usize = 6;
    /// Their names.
    pub(crate) const NAMES: [&str; 7] = [
        "drop-irq",
        "bad-table",
        "twice",
        "bogus",
        "resid",
        "sense",
        "tmf-reject",
    ];
}

/// Whether the device takes commands ([`Vscsi::state`]).
pub(crate) mod state {
    /// Set up and running.
    pub(crate) const RUNNING: u32 = 0;
    /// A host reset is setting it up again: commands are refused as busy, and retried.
    pub(crate) const RESETTING: u32 = 1;
    /// It did not come back from a reset: commands end with `DID_NO_CONNECT`.
    pub(crate) const DEAD: u32 = 2;
}

/// A reserved command's task management function, and what came of it: rvirtio_scsi's
/// per-command data (`CmdData`). [`Vscsi::tmf`] fills it; I/O commands leave it alone.
pub(crate) struct TmfData {
    /// The function ([`Tmf`], as its subtype number).
    function: Atomic<u32>,
    /// The 8-byte LUN, as a little-endian number.
    lun: Atomic<u64>,
    /// The tag of the command to abort (its context).
    tag: Atomic<u64>,
    /// The response code the device wrote.
    response: Atomic<u32>,
}

impl Default for TmfData {
    fn default() -> Self {
        Self {
            function: Atomic::new(0),
            lun: Atomic::new(0),
            tag: Atomic::new(0),
            response: Atomic::new(0),
        }
    }
}

/// One controller: the transport, its queues and the per-tag slots.
///
/// The transport comes before the queues and the pool: dropping it resets the device, so
/// that it touches neither the rings nor the slots once they are freed (the quiesce did this
/// already when the host was added; this covers a probe that failed after the device was set
/// up, and a host data that was never built).
#[pin_data]
pub(crate) struct Vscsi<'bound> {
    pub(crate) pdev: &'bound pci::Device<Bound>,
    pub(crate) transport: Transport<'bound>,
    /// The control queue: task management functions, one head per reserved command.
    pub(crate) ctrl: Pin<KBox<Queue>>,
    /// The event queue: hot-plug and parameter change events, into [`Vscsi::event_bufs`],
    /// which the driver keeps posted (buffer `i` on head `i`). On the control queue's vector.
    pub(crate) events: Pin<KBox<Queue>>,
    pub(crate) event_bufs: DeviceBuffers,
    pub(crate) queues: KVec<Pin<KBox<Queue>>>,
    /// Per command index: the request header and indirect table (command slot), the response
    /// header (response slot). Reserved commands use theirs for a task management request.
    pub(crate) pool: SlotPool,
    /// How long a task management function may take (`tmf_timeout`).
    pub(crate) tmf_timeout: Delta,
    pub(crate) features: u64,
    /// `VIRTIO_F_ACCESS_PLATFORM` was not negotiated: the device takes guest-physical
    /// addresses, bypassing the DMA API, and commands' data is given it unmapped
    /// ([`Command::phys_segments`]), as the C ring does. Probe checked that the DMA addresses
    /// of the rings and slots are physical addresses too.
    pub(crate) phys: bool,
    pub(crate) config: Config,
    pub(crate) irq: IrqMode,
    pub(crate) sg_limits: sg::Limits,
    pub(crate) stats: Stats,
    /// [`state::RUNNING`], [`state::RESETTING`] or [`state::DEAD`]. Submitters read it under
    /// the queue's producer lock, which a reset takes once after setting it, so that no
    /// command reaches a ring while the device is reset.
    pub(crate) state: Atomic<u32>,
    /// The test-only fault knobs ([`knob`]), off unless armed through debugfs.
    pub(crate) faults: KnobSet<7>,
    /// A test knob (`hold-events`): event buffers are handled but not posted again, so that
    /// the device runs out of them and drops events (`EVENTS_MISSED`).
    pub(crate) hold_events: Atomic<bool>,
    /// The event buffers handled and not posted again while `hold_events` was set (a bit per
    /// buffer).
    pub(crate) held_events: Atomic<u32>,
    /// The device set DEVICE_NEEDS_RESET: the work item resets it.
    pub(crate) needs_reset: Atomic<bool>,
    /// Serialises host resets (the error handler's, and `SG_SCSI_RESET`'s).
    #[pin]
    pub(crate) reset_lock: Mutex<()>,
}

/// Gives the control queue and the request queues to the device, each with its vector.
pub(crate) fn enable_queues(
    t: &Transport<'_>,
    ctrl: &Queue,
    events: &Queue,
    queues: &[Pin<KBox<Queue>>],
    irq: IrqMode,
) -> Result {
    t.enable_queue(CONTROL_QUEUE, &ctrl.vq, irq.ctrl_vector())?;
    t.enable_queue(EVENT_QUEUE, &events.vq, irq.ctrl_vector())?;
    for (i, q) in (0u16..).zip(queues.iter()) {
        // A poll queue has no vector: the device cannot interrupt for it.
        let vector = if q.vq.polled() {
            virtio::NO_VECTOR
        } else {
            irq.queue_vector(i)
        };
        t.enable_queue(q.index, &q.vq, vector)?;
    }
    Ok(())
}

/// Accepts `features`: writes them, sets FEATURES_OK and checks that it stuck.
pub(crate) fn accept_features(pdev: &pci::Device, t: &Transport<'_>, features: u64) -> Result {
    t.set_driver_features(features);
    t.add_status(status::FEATURES_OK);
    if t.status() & status::FEATURES_OK == 0 {
        dev_err!(
            pdev,
            "the device refused features {:#018x} (FEATURES_OK did not stick)\n",
            features
        );
        return Err(ENODEV);
    }
    Ok(())
}

/// Writes the header sizes the driver uses (the device's defaults, which a reset restores).
pub(crate) fn write_header_sizes(t: &Transport<'_>) -> Result {
    // CAST: small constants.
    t.write_config32(proto::cfg::SENSE_SIZE, proto::SENSE_SIZE as u32)?;
    t.write_config32(proto::cfg::CDB_SIZE, proto::CDB_SIZE as u32)
}

/// The 8-byte LUN of `sdev` (the scan never adds a target above 255; see `max_id`).
fn lun_of(sdev: &ScsiDevice) -> Option<[u8; 8]> {
    Some(proto::lun_bytes(u8::try_from(sdev.id()).ok()?, sdev.lun()))
}

impl Vscsi<'_> {
    /// Drains request queue `q` from its interrupt, unless the `drop-irq` debugfs command
    /// asked to lose this interrupt.
    #[inline]
    fn drain(&self, host: &Host<Rvscsi>, q: &Queue) {
        let faults = self.faults.armed();
        if faults && self.drop_one() {
            return;
        }
        Stats::inc(&q.interrupts);
        let n = self.reap(host, q, faults);
        trace::interrupt(host, q.index, n);
    }

    /// Takes one from the interrupts still to drop; `false` if none is left.
    #[cold]
    fn drop_one(&self) -> bool {
        let drop = self.faults.take(knob::DROP_IRQ);
        if drop {
            Stats::inc(&self.stats.dropped_irqs);
        }
        drop
    }

    /// Completes every command the device returned on request queue `q`; returns how many
    /// heads came back. From the interrupt, a poll or the error handler: the queue's consumer
    /// lock makes them take turns. `faults`: a test knob may be armed (read once by the
    /// caller).
    fn reap(&self, host: &Host<Rvscsi>, q: &Queue, faults: bool) -> u32 {
        q.vq.drain(|ctx, _len| {
            if !faults {
                self.complete(host, ctx, false);
                return;
            }
            // The test knobs: a context never posted (the same index, another generation)
            // before the real one, and the real one twice.
            if self.faults.take(knob::BOGUS) {
                let other = ContextTag {
                    tag: ctx.tag,
                    seq: ctx.seq ^ 0x8000,
                };
                self.complete(host, other, false);
            }
            self.complete(host, ctx, true);
            if self.faults.take(knob::TWICE) {
                self.complete(host, ctx, false);
            }
        })
        .returned
    }

    /// Reaps every request queue (`virtscsi_poll_requests()`): after a task management
    /// function, whose commands the device returned before it answered, but whose interrupts
    /// may not have run yet.
    fn reap_all(&self, host: &Host<Rvscsi>) {
        for q in self.queues.iter() {
            if q.vq.has_used() {
                self.reap(host, q, self.faults.armed());
            }
        }
    }

    /// Drains every queue, for an interrupt vector they share.
    fn drain_all(&self, host: &Host<Rvscsi>) {
        if self.ctrl.vq.has_used() {
            self.drain_ctrl(host);
        }
        self.check_events(host);
        // Poll queues are `mq_poll`'s (INTx may still signal them, rarely: see
        // `SplitQueue::new`).
        for q in self.queues.iter().filter(|q| !q.vq.polled()) {
            if q.vq.has_used() {
                self.drain(host, q);
            }
        }
    }

    /// Drains the control queue: each head is a reserved command's task management function,
    /// whose response code the error handler reads from the command's data.
    fn drain_ctrl(&self, host: &Host<Rvscsi>) {
        Stats::inc(&self.ctrl.interrupts);
        let d = self.ctrl.vq.drain(|ctx, _len| {
            let Some(mut cmd) = host.take_from_hardware(ctx) else {
                Stats::inc(&self.stats.late);
                return;
            };
            let code = match self.pool.slot(&mut cmd) {
                Some((slot, _)) => slot.resp.first().copied(),
                None => None,
            };
            match code {
                Some(code) => {
                    cmd.data().response.store(u32::from(code), Relaxed);
                    cmd.complete_with(HostByte::Ok, ScsiStatus::GOOD);
                }
                None => cmd.complete_with(HostByte::Error, ScsiStatus::GOOD),
            }
        });
        trace::interrupt(host, self.ctrl.index, d.returned);
    }

    /// Sends task management function `function` for `lun` (and `tag`, the context of the
    /// command to abort) on the control queue as a reserved command, and waits for the answer:
    /// the response code, or why there was none (no reserved command could be had, it timed
    /// out, or a host reset took it back).
    fn tmf(&self, host: &Host<Rvscsi>, function: Tmf, lun: [u8; 8], tag: u64) -> Result<u8> {
        // QEMU answers an `ABORT_TASK` only once the aborted request's I/O has ended (it
        // cannot cancel AIO); a function that takes longer than `tmf_timeout` fails (the
        // midlayer escalates), and its reserved command's index stays abandoned until the
        // device answers late or a reset makes it forget.
        let r = host.execute_reserved(self.tmf_timeout, |d| {
            d.function.store(function as u32, Relaxed);
            d.lun.store(u64::from_le_bytes(lun), Relaxed);
            d.tag.store(tag, Relaxed);
            d.response.store(u32::from(u8::MAX), Relaxed);
        })?;
        r.result()?;
        // CAST: stored from a `u8` by `drain_ctrl`.
        let mut code = r.data().response.load(Relaxed) as u8;
        if self.faults.take(knob::TMF_REJECT) {
            code = response::FUNCTION_REJECTED;
        }
        Stats::inc(&self.stats.tmf_responses[usize::from(code).min(response::COUNT)]);
        Ok(code)
    }

    /// Resets `sdev`'s LUN or target with `function` (`eh_device_reset_handler`,
    /// `eh_target_reset_handler`).
    fn reset_tmf(&self, host: &Host<Rvscsi>, sdev: &ScsiDevice, function: Tmf) -> EhStatus {
        let st = &self.stats;
        let (what, count, failed) = match function {
            Tmf::ITNexusReset => ("target reset", &st.target_resets, &st.target_resets_failed),
            _ => ("LUN reset", &st.device_resets, &st.device_resets_failed),
        };
        Stats::inc(count);
        let r = lun_of(sdev)
            .ok_or(EINVAL)
            .and_then(|lun| self.tmf(host, function, lun, 0));
        self.tmf_status(host, what, sdev, r, failed)
    }

    /// A reset's answer for a task management function `what` on `sdev`: on success the
    /// device returned the commands it dropped before it answered; reaps them.
    fn tmf_status(
        &self,
        host: &Host<Rvscsi>,
        what: &str,
        sdev: &ScsiDevice,
        r: Result<u8>,
        failed: &Atomic<u64>,
    ) -> EhStatus {
        match r {
            Ok(code) if proto::tmf_done(code) => {
                self.reap_all(host);
                EhStatus::Success
            }
            Ok(code) => {
                Stats::inc(failed);
                dev_warn!(
                    self.pdev,
                    "{} of {}:{}:{} failed: response {}\n",
                    what,
                    sdev.channel(),
                    sdev.id(),
                    sdev.lun(),
                    code
                );
                EhStatus::Failed
            }
            Err(e) => {
                Stats::inc(failed);
                dev_warn!(
                    self.pdev,
                    "{} of {}:{}:{} got no answer: {:?}\n",
                    what,
                    sdev.channel(),
                    sdev.id(),
                    sdev.lun(),
                    e
                );
                EhStatus::Failed
            }
        }
    }

    /// Resets the device and sets it up again from the rings and slots it had: every command
    /// it held is completed with `DID_RESET` (and retried by the midlayer). Returns how many.
    ///
    /// On an error the device is left reset (or broken) and marked dead: the commands it held
    /// are completed with `DID_NO_CONNECT`, and so is every later one.
    fn restart(&self, host: &Host<Rvscsi>) -> Result<u32> {
        let _guard = self.reset_lock.lock();
        if self.state.load(Relaxed) == state::DEAD {
            return Err(ENODEV);
        }
        self.state.store(state::RESETTING, Relaxed);
        // A submitter that read RUNNING holds its queue's producer lock until its command is
        // on the ring: once each lock was taken here, no command reaches a ring any more.
        drop(self.ctrl.vq.producer());
        for q in self.queues.iter() {
            drop(q.vq.producer());
        }
        // After the reset the device neither reads the rings nor writes a slot: what it held
        // can be taken back (the driver's indices are forgotten under the rings' locks, so an
        // interrupt handler draining now finds nothing more).
        let reset = self.transport.reset();
        self.ctrl.vq.reset();
        self.events.vq.reset();
        self.held_events.store(0, Relaxed);
        for q in self.queues.iter() {
            q.vq.reset();
        }
        let r = reset.and_then(|()| self.bring_up());
        let (host_byte, next) = match r {
            Ok(()) => (HostByte::Reset, state::RUNNING),
            Err(_) => {
                self.transport.add_status(status::FAILED);
                (HostByte::NoConnect, state::DEAD)
            }
        };
        let n = host.reclaim_all(|c| c.complete_with(host_byte, ScsiStatus::GOOD));
        self.stats.reclaimed.add(u64::from(n), Relaxed);
        self.state.store(next, Release);
        if r.is_ok() {
            // The event buffers the reset took back, posted again.
            self.post_events(u32::MAX);
        }
        r.map(|()| n)
    }

    /// Sets the device up again after a reset (status 0): the steps of the probe, with the
    /// features, rings and vectors it chose.
    fn bring_up(&self) -> Result {
        let t = &self.transport;
        t.add_status(status::ACKNOWLEDGE);
        t.add_status(status::DRIVER);
        accept_features(self.pdev, t, self.features)?;
        write_header_sizes(t)?;
        if self.irq != IrqMode::Intx && !t.set_config_vector(self.irq.config_vector()) {
            dev_err!(
                self.pdev,
                "the device refused MSI-X vector 0 for configuration changes\n"
            );
            return Err(EBUSY);
        }
        enable_queues(t, &self.ctrl, &self.events, &self.queues, self.irq)?;
        t.add_status(status::DRIVER_OK);
        // The read also makes the writes above reach the device before a submitter, once the
        // state says RUNNING, notifies it.
        let st = t.status();
        if st & status::DRIVER_OK == 0 || st & status::NEEDS_RESET != 0 {
            dev_err!(
                self.pdev,
                "the device did not take DRIVER_OK after a reset (status {:#04x})\n",
                st
            );
            return Err(EIO);
        }
        Ok(())
    }

    /// Completes the command the device returned with context `ctx`; `false` if no command
    /// had it (aborted or reset meanwhile). `faults`: a response knob may be armed.
    #[inline]
    fn complete(&self, host: &Host<Rvscsi>, ctx: ContextTag, faults: bool) -> bool {
        let Some(mut cmd) = host.take_from_hardware(ctx) else {
            // Aborted or reset meanwhile: the command is not the device's any more.
            Stats::inc(&self.stats.late);
            return false;
        };
        let len = cmd.transfer_len();
        let o = {
            let Some((slot, _)) = self.pool.slot(&mut cmd) else {
                cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
                return true;
            };
            let mut r = CmdResp::read(slot.resp);
            if faults && r.response == response::OK && r.status == 0 {
                self.lie(&mut r, slot.resp, len);
            }
            Stats::inc(&self.stats.responses[usize::from(r.response).min(response::COUNT)]);
            proto::outcome(&r, len)
        };
        if o.sense_clamped {
            Stats::inc(&self.stats.sense_clamped);
        }
        if o.resid_clamped {
            Stats::inc(&self.stats.resid_clamped);
        }
        if o.sense_len > 0 {
            self.copy_sense(&mut cmd, o.sense_len);
        }
        if o.resid > 0 {
            cmd.set_resid(o.resid);
        }
        cmd.complete_with(o.host, o.status);
        true
    }

    /// The response knobs: a good response `r` (in `resp`) of a command of `len` bytes made to
    /// claim a residual larger than the transfer, or CHECK CONDITION with 255 bytes of sense
    /// (UNIT ATTENTION, POWER ON OR RESET, in the first 18), more than the response holds.
    #[cold]
    fn lie(&self, r: &mut CmdResp, resp: &mut [u8], len: u32) {
        if self.faults.take(knob::RESID) {
            r.resid = len.saturating_add(4096);
        } else if self.faults.take(knob::SENSE) {
            if let Some(b) = resp.get_mut(12..) {
                sense::build(
                    b,
                    sense::Format::Fixed,
                    sense::SenseKey::UnitAttention,
                    0x29,
                    0,
                );
            }
            r.status = ScsiStatus::CHECK_CONDITION.0;
            r.sense_len = 255;
        }
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

    /// A configuration change interrupt: a device that set DEVICE_NEEDS_RESET (QEMU does on a
    /// ring it cannot use) is reset from the work item, as the error handler's host reset
    /// would, without waiting for its commands to time out.
    fn config_changed(&self, host: &Host<Rvscsi>) {
        Stats::inc(&self.stats.config_changes);
        if self.transport.needs_reset() && !self.needs_reset.xchg(true, Relaxed) {
            host.queue_work(RESET_WORK);
        }
    }

    /// Whether the device may send events the driver asked for (hot-plug, parameter change).
    pub(crate) fn events_on(&self) -> bool {
        self.features & (virtio::bit(proto::feature::HOTPLUG) | virtio::bit(proto::feature::CHANGE))
            != 0
    }

    /// Posts the event buffers of `mask` (a bit per buffer) and notifies the device if it
    /// asked: also how a device that dropped events learns it may report that it did.
    pub(crate) fn post_events(&self, mask: u32) {
        if !self.events_on() {
            return;
        }
        let kick = {
            let mut p = self.events.vq.producer();
            for i in 0..self.event_bufs.count() {
                if mask & (1 << i) != 0 {
                    // Already posted (a reset and the work item both posting): nothing to do.
                    let _ = self.event_bufs.post(&mut p, i);
                }
            }
            p.kick_prepare()
        };
        if kick.is_some() {
            self.transport
                .notify(self.events.notify_at, self.events.index);
        }
    }

    /// From an interrupt: if the device used event buffers, has the work item handle them.
    fn check_events(&self, host: &Host<Rvscsi>) {
        if self.events.vq.has_used() {
            Stats::inc(&self.events.interrupts);
            host.queue_work(EVENT_WORK);
        }
    }

    /// Handles the events the device returned (from the work item, which may sleep), in the
    /// order it reported them, then posts their buffers again.
    fn handle_events(&self, host: &Host<Rvscsi>) {
        let mut got = [0u16; event::BUFFERS as usize];
        let mut n = 0;
        self.events.vq.drain(|ctx, _len| {
            // At most `BUFFERS` heads are out, so `got` holds them all.
            if let (Some(i), Some(g)) = (self.event_bufs.index_of(ctx), got.get_mut(n)) {
                *g = i;
                n += 1;
            }
        });
        let mut done = 0u32;
        for &i in &got[..n] {
            let mut b = [0u8; event::SIZE];
            self.event_bufs.read(i, &mut b);
            self.handle_event(host, &Event::parse(&b));
            done |= 1 << i;
        }
        if self.hold_events.load(Relaxed) {
            let mut cur = self.held_events.load(Relaxed);
            while let Err(v) = self.held_events.cmpxchg(cur, cur | done, Relaxed) {
                cur = v;
            }
            // Released meanwhile: post what was just held too.
            if self.hold_events.load(Relaxed) {
                return;
            }
            done |= self.held_events.xchg(0, Relaxed);
        }
        if done != 0 {
            self.post_events(done);
        }
    }

    /// Acts on one event (`virtscsi_handle_event()`).
    fn handle_event(&self, host: &Host<Rvscsi>, e: &Event) {
        let st = &self.stats;
        if let Some(c) = st.events.get(e.counter()) {
            Stats::inc(c);
        }
        if e.missed() {
            Stats::inc(&st.events_missed);
            dev_info!(
                self.pdev,
                "the device dropped events: looking at every device again\n"
            );
            self.rescan_all(host);
        }
        match e.action() {
            Action::Add { target, lun } => match host.add_device(0, u32::from(target), lun) {
                Ok(()) => dev_info!(self.pdev, "hot-plug: added 0:{}:{}\n", target, lun),
                Err(err) => {
                    Stats::inc(&st.events_failed);
                    dev_warn!(
                        self.pdev,
                        "hot-plug: 0:{}:{} could not be added: {:?}\n",
                        target,
                        lun,
                        err
                    );
                }
            },
            Action::Remove { target, lun } => {
                if let Some(d) = host.lookup_device(0, u32::from(target), lun) {
                    dev_info!(self.pdev, "hot-plug: removing 0:{}:{}\n", target, lun);
                    d.remove();
                }
            }
            Action::Rescan { target, lun } => {
                if let Some(d) = host.lookup_device(0, u32::from(target), lun) {
                    // A device that does not answer is left to the error handler.
                    let _ = d.rescan();
                }
            }
            Action::ScanTarget { target } => host.scan_target(0, u32::from(target)),
            Action::None => {}
        }
    }

    /// After missed events (`virtscsi_rescan_hotunplug()`, then `scsi_scan_host()`): removes
    /// the devices that are gone and adds the new ones.
    fn rescan_all(&self, host: &Host<Rvscsi>) {
        host.for_each_device(|d| {
            let r = d.test_unit_ready();
            if event::gone(r.host, r.sense) {
                Stats::inc(&self.stats.rescan_removed);
                dev_info!(
                    self.pdev,
                    "rescan: 0:{}:{} is gone, removing it\n",
                    d.id(),
                    d.lun()
                );
                d.remove();
            }
        });
        host.scan();
    }

    /// Resets a device that set DEVICE_NEEDS_RESET (from the work item).
    fn recover(&self, host: &Host<Rvscsi>) {
        Stats::inc(&self.stats.needs_reset);
        dev_warn!(
            self.pdev,
            "the device needs a reset (status {:#04x}): resetting it\n",
            self.transport.status()
        );
        match self.restart(host) {
            Ok(n) => dev_info!(self.pdev, "device reset done; {} commands reclaimed\n", n),
            Err(e) => {
                Stats::inc(&self.stats.needs_reset_failed);
                dev_err!(
                    self.pdev,
                    "the device did not come back from a reset ({:?}): its commands fail from now on\n",
                    e
                );
            }
        }
    }
}

/// Writes the data descriptors of `cmd` into `area` of its indirect table, device-readable or
/// device-writable: guest-physical addresses when the device takes them ([`Vscsi::phys`]),
/// else the DMA mapping. Returns how many, or `None` if the list does not fit.
#[inline]
fn write_data(
    v: &Vscsi<'_>,
    cmd: &Command<Rvscsi>,
    area: &mut [u8],
    device_writes: bool,
) -> Option<usize> {
    let writer = vring::DescWriter { device_writes };
    let w = if v.phys {
        sg::write_within(cmd.phys_list(), &v.sg_limits, &mut [area], &writer)
    } else {
        sg::write_within(cmd.mapped_list(), &v.sg_limits, &mut [area], &writer)
    };
    w.ok().map(|w| w.count)
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
            let n = write_data(v, cmd, &mut table[D..D * (1 + segs)], false)?;
            resp(&mut table[D * (1 + n)..]);
            1 + n
        }
        DataDirection::FromDevice => {
            resp(&mut table[D..]);
            1 + write_data(v, cmd, &mut table[2 * D..D * (2 + segs)], true)?
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
    type CmdData = TmfData;
    const NAME: &'static CStr = c"rvirtio_scsi";

    fn queuecommand(host: &Host<Self>, mut cmd: Command<Self>) -> Result<(), Refused<Self>> {
        let v = host.data();
        if v.state.load(Relaxed) == state::DEAD {
            Stats::inc(&v.stats.no_connect);
            cmd.complete_with(HostByte::NoConnect, ScsiStatus::GOOD);
            return Ok(());
        }
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
        // A device that takes guest-physical addresses gets its data's without a mapping.
        if !v.phys && cmd.dma_map().is_err() {
            Stats::inc(&v.stats.busy);
            return Err(Refused::host_busy(cmd));
        }
        // The reserved commands' tags come first on every queue; the ring's heads are the
        // others'.
        let head = cmd.tag().wrapping_sub(RESERVED_CMDS);
        let ctx = cmd.next_context();
        let Some((entries, table)) = build(&v, &mut cmd, u64::from(ctx.to_u32())) else {
            Stats::inc(&v.stats.refused);
            cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
            return Ok(());
        };
        let last = cmd.is_last();
        let entries = if v.faults.take(knob::BAD_TABLE) {
            0
        } else {
            entries
        };
        let ctx = cmd.into_hardware();
        let kick = {
            let mut p = q.vq.producer();
            // Read under the lock: see `Vscsi::state`.
            let pushed = if v.state.load(Relaxed) == state::RUNNING {
                p.push_indirect(head, table, entries, ctx).is_ok()
            } else {
                false
            };
            if !pushed {
                drop(p);
                // The head is still out (the device has not returned this tag's last
                // command), or a reset is under way. Take this one back and let the midlayer
                // retry it; if the reset took it first, the reset completes it.
                Stats::inc(&v.stats.busy);
                return match host.take_from_hardware(ctx) {
                    Some(cmd) => Err(Refused::host_busy(cmd)),
                    None => Ok(()),
                };
            }
            if last {
                p.kick_prepare()
            } else {
                None
            }
        };
        if let Some(batch) = kick {
            v.transport.notify(q.notify_at, q.index);
            trace::doorbell(host, q.index, batch);
        }
        Ok(())
    }

    fn queue_reserved_command(
        host: &Host<Self>,
        mut cmd: Command<Self>,
    ) -> Result<(), Refused<Self>> {
        // The only reserved commands are task management functions (`Vscsi::tmf`).
        const D: usize = vring::DESC_SIZE;
        let v = host.data();
        let d = cmd.data();
        let (function, lun, tag) = (
            Tmf::from_raw(d.function.load(Relaxed)),
            d.lun.load(Relaxed).to_le_bytes(),
            d.tag.load(Relaxed),
        );
        // One control queue head per reserved command of every request queue.
        let head = cmd.hwq() * RESERVED_CMDS + cmd.tag();
        let table = function.and_then(|function| {
            let (slot, _) = v.pool.slot(&mut cmd)?;
            let (hdr, table) = slot.cmd.split_at_mut(REQ_AREA);
            if !proto::write_tmf_req(hdr, function, lun, tag) {
                return None;
            }
            // CAST: small constants.
            vring::write_chained(
                &mut table[..D],
                slot.cmd_dma,
                proto::TMF_REQ_SIZE as u32,
                false,
            );
            vring::write_chained(
                &mut table[D..2 * D],
                slot.resp_dma,
                proto::TMF_RESP_SIZE as u32,
                true,
            );
            vring::end_chain(&mut table[D..2 * D]);
            Some(slot.cmd_dma + REQ_AREA as u64)
        });
        let Some(table) = table else {
            cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
            return Ok(());
        };
        let ctx = cmd.into_hardware();
        let kick = {
            let mut p = v.ctrl.vq.producer();
            if v.state.load(Relaxed) == state::RUNNING
                && p.push_indirect(head, table, 2, ctx).is_ok()
            {
                Some(p.kick_prepare())
            } else {
                None
            }
        };
        match kick {
            Some(kick) => {
                if let Some(batch) = kick {
                    v.transport.notify(v.ctrl.notify_at, v.ctrl.index);
                    trace::doorbell(host, v.ctrl.index, batch);
                }
            }
            // A reset is under way, or the head is still out: a function that timed out and
            // that the device never answered keeps its head until a reset. Either way this
            // one fails, and the error handler escalates.
            None => {
                if let Some(cmd) = host.take_from_hardware(ctx) {
                    cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
                }
            }
        }
        Ok(())
    }

    fn commit_rqs(host: &Host<Self>, hwq: u16) {
        let v = host.data();
        if let Some(q) = v.queues.get(usize::from(hwq)) {
            if let Some(batch) = q.vq.producer().kick_prepare() {
                v.transport.notify(q.notify_at, q.index);
                trace::doorbell(host, q.index, batch);
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
                    v.config_changed(host);
                }
                if isr & 1 != 0 {
                    v.drain_all(host);
                }
            }
            IrqMode::Single => {
                v.drain_all(host);
                if v.transport.needs_reset() {
                    v.config_changed(host);
                }
            }
            IrqMode::Shared => match vector {
                0 => v.config_changed(host),
                _ => v.drain_all(host),
            },
            IrqMode::PerQueue => match vector {
                0 => v.config_changed(host),
                // The control queue and the event queue.
                1 => {
                    v.drain_ctrl(host);
                    v.check_events(host);
                }
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
        // The poll queues come last and have a map of their own; reads have none.
        let v = host.data();
        // CAST: at most `MAX_QUEUES` queues.
        let poll =
            (v.queues.iter().filter(|q| q.vq.polled()).count() as u32).min(host.nr_hw_queues());
        let n = host.nr_hw_queues() - poll;
        let mut r = if v.irq == IrqMode::PerQueue {
            maps.map_by_affinity(QueueType::Default, 0, n, v.pdev.as_ref(), 2)
        } else {
            maps.map(QueueType::Default, 0, n)
        };
        if maps.nr_maps() > 1 {
            r = r
                .and_then(|()| maps.map(QueueType::Read, 0, 0))
                .and_then(|()| maps.map(QueueType::Poll, n, poll));
        }
        if let Err(e) = r {
            dev_err!(
                v.pdev,
                "cannot map {} queues ({} polled): {:?}\n",
                n + poll,
                poll,
                e
            );
        }
    }

    fn work(host: &Host<Self>, id: u8) {
        let v = host.data();
        match id {
            RESET_WORK => {
                if v.needs_reset.xchg(false, Relaxed) {
                    v.recover(host);
                }
            }
            _ => {
                if v.events_on() {
                    v.handle_events(host);
                }
            }
        }
    }

    fn mq_poll(host: &Host<Self>, hwq: u16) -> u32 {
        let v = host.data();
        let Some(q) = v.queues.get(usize::from(hwq)) else {
            return 0;
        };
        // A poll that finds nothing takes no lock: the used index against the last one seen.
        if !q.vq.has_used() {
            return 0;
        }
        Stats::inc(&v.stats.polls);
        let n = v.reap(host, q, v.faults.armed());
        v.stats.poll_completions.add(u64::from(n), Relaxed);
        n
    }

    fn eh_timed_out(host: &Host<Self>, cmd: &EhCommand<Self>) -> TimeoutAction {
        // The device may have returned the command without an interrupt (or the interrupt was
        // lost): look in its used ring first, as the C driver cannot (it always gives the
        // command more time, so a lost interrupt hangs it for ever).
        let v = host.data();
        Stats::inc(&v.stats.timeouts);
        let (tag, hwq) = (cmd.tag(), cmd.hwq());
        let (Some(want), Some(q)) = (cmd.context(), v.queues.get(usize::from(hwq))) else {
            return TimeoutAction::NotHandled;
        };
        let mut completed = false;
        q.vq.drain(|ctx, _len| {
            let took = v.complete(host, ctx, false);
            completed |= took && ctx == want;
        });
        if !completed {
            return TimeoutAction::NotHandled;
        }
        // `complete()` ended it with the device's result: `cmd` may be gone, and is not
        // looked at again.
        Stats::inc(&v.stats.lost_interrupts);
        dev_info!(
            v.pdev,
            "tag {} on queue {}: found completed in its used ring after it timed out (lost interrupt)\n",
            tag,
            hwq
        );
        TimeoutAction::Done
    }

    fn eh_abort(host: &Host<Self>, cmd: &EhCommand<Self>) -> EhStatus {
        let v = host.data();
        Stats::inc(&v.stats.aborts);
        let Some(ctx) = cmd.context() else {
            // Completed meanwhile.
            return EhStatus::Success;
        };
        let Some(lun) = lun_of(cmd.device()) else {
            Stats::inc(&v.stats.aborts_failed);
            return EhStatus::Failed;
        };
        match v.tmf(host, Tmf::AbortTask, lun, u64::from(ctx.to_u32())) {
            Ok(code) if proto::tmf_done(code) => {
                // The device returns the aborted command (ABORTED) before it answers: reap
                // it, in case its interrupt has not run yet. A device that did not return it
                // has still let go of it: its late completion finds an old context.
                v.reap_all(host);
                cmd.reclaim();
                EhStatus::Success
            }
            r => {
                let dev = cmd.device();
                v.tmf_status(host, "abort", dev, r, &v.stats.aborts_failed)
            }
        }
    }

    fn eh_device_reset(host: &Host<Self>, sdev: &ScsiDevice) -> EhStatus {
        host.data().reset_tmf(host, sdev, Tmf::LogicalUnitReset)
    }

    fn eh_target_reset(host: &Host<Self>, sdev: &ScsiDevice) -> EhStatus {
        host.data().reset_tmf(host, sdev, Tmf::ITNexusReset)
    }

    fn eh_host_reset(host: &Host<Self>) -> EhStatus {
        let v = host.data();
        Stats::inc(&v.stats.host_resets);
        dev_warn!(
            v.pdev,
            "resetting the device ({} commands busy)\n",
            host.busy()
        );
        match v.restart(host) {
            Ok(n) => {
                dev_info!(v.pdev, "device reset done; {} commands reclaimed\n", n);
                EhStatus::Success
            }
            Err(e) => {
                Stats::inc(&v.stats.host_resets_failed);
                dev_err!(
                    v.pdev,
                    "the device did not come back from a reset ({:?}): its commands fail from now on\n",
                    e
                );
                EhStatus::Failed
            }
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
                _ if q.vq.polled() => writeln!(f, "queue{}_vector: none (polled)", i)?,
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
        for (name, c) in NAMES.iter().zip(st.tmf_responses.iter()) {
            writeln!(f, "tmf_{}: {}", name, c.load(Relaxed))?;
        }
        writeln!(
            f,
            "busy: {}\nlate_completions: {}\nrefused: {}\nspurious: {}\nconfig_changes: {}",
            st.busy.load(Relaxed),
            st.late.load(Relaxed),
            st.refused.load(Relaxed),
            st.spurious.load(Relaxed),
            st.config_changes.load(Relaxed)
        )?;
        let s = v.ctrl.vq.snapshot();
        writeln!(
            f,
            "ctrl: vq {} size {} submitted {} completed {} interrupts {} bogus_ids {}",
            v.ctrl.index,
            s.size,
            s.submitted,
            s.completed,
            v.ctrl.interrupts.load(Relaxed),
            s.bogus_ids
        )?;
        let s = v.events.vq.snapshot();
        writeln!(
            f,
            "events: vq {} size {} buffers {} out {} interrupts {} bogus_ids {}",
            v.events.index,
            s.size,
            v.event_bufs.count(),
            s.out,
            v.events.interrupts.load(Relaxed),
            s.bogus_ids
        )?;
        for (name, c) in event::COUNTERS.iter().zip(st.events.iter()) {
            writeln!(f, "events_{}: {}", name, c.load(Relaxed))?;
        }
        writeln!(
            f,
            "events_missed: {}\nrescan_removed: {}\nevents_failed: {}\nevents_held: {}\nhold_events: {}",
            st.events_missed.load(Relaxed),
            st.rescan_removed.load(Relaxed),
            st.events_failed.load(Relaxed),
            v.held_events.load(Relaxed).count_ones(),
            u8::from(v.hold_events.load(Relaxed))
        )?;
        writeln!(
            f,
            "needs_reset: {}\nneeds_reset_failed: {}\npolls: {}\npoll_completions: {}",
            st.needs_reset.load(Relaxed),
            st.needs_reset_failed.load(Relaxed),
            st.polls.load(Relaxed),
            st.poll_completions.load(Relaxed)
        )?;
        let state = match v.state.load(Relaxed) {
            state::RUNNING => "running",
            state::RESETTING => "resetting",
            _ => "dead",
        };
        writeln!(f, "state: {}", state)?;
        writeln!(f, "outstanding: {}", host.count_in_hardware(|_| true))?;
        for (name, c) in [
            ("aborts", &st.aborts),
            ("aborts_failed", &st.aborts_failed),
            ("device_resets", &st.device_resets),
            ("device_resets_failed", &st.device_resets_failed),
            ("target_resets", &st.target_resets),
            ("target_resets_failed", &st.target_resets_failed),
            ("host_resets", &st.host_resets),
            ("host_resets_failed", &st.host_resets_failed),
            ("reclaimed", &st.reclaimed),
            ("timeouts", &st.timeouts),
            ("lost_interrupts", &st.lost_interrupts),
            ("dropped_irqs", &st.dropped_irqs),
            ("no_connect", &st.no_connect),
        ] {
            writeln!(f, "{}: {}", name, c.load(Relaxed))?;
        }
        writeln!(
            f,
            "sense_clamped: {}\nresid_clamped: {}",
            st.sense_clamped.load(Relaxed),
            st.resid_clamped.load(Relaxed)
        )?;
        let drop = v.faults.get(knob::DROP_IRQ);
        writeln!(f, "drop_irqs_pending: {}", drop.map_or(0, |k| k.left()))?;
        v.faults.show(f)?;
        let used = v
            .queues
            .iter()
            .map(|q| (q.vq.bad_ids().fired(), q.vq.bad_ids().left()));
        let (fired, left) = used.fold((0, 0), |(f, l), (a, b)| (f + a, l + b));
        writeln!(f, "fault_used-id: {} (armed {})", fired, left)
    }

    fn debugfs_write(host: &Host<Self>, input: &[u8]) -> Result {
        let v = host.data();
        let input = input.trim_ascii();
        if input == b"reset-stats" {
            v.stats.reset();
            for q in Iterator::chain(v.queues.iter(), [&v.ctrl, &v.events]) {
                q.vq.reset_stats();
                q.interrupts.store(0, Relaxed);
            }
            return Ok(());
        }
        // Test knobs for events: hold the event buffers the driver handled (the device runs
        // out and drops events), then post them again (it reports that it dropped some).
        if input == b"hold-events" {
            v.hold_events.store(true, Relaxed);
            return Ok(());
        }
        // A test knob: the next command goes to the device with an empty indirect table, a
        // ring error (QEMU then sets DEVICE_NEEDS_RESET and stops), which the driver recovers
        // from with a reset.
        if input == b"bad-table" {
            return v.faults.command(b"bad-table 1");
        }
        if input == b"release-events" {
            v.hold_events.store(false, Relaxed);
            v.post_events(v.held_events.xchg(0, Relaxed));
            return Ok(());
        }
        // A test knob: the next N request queue interrupts are ignored, as if lost; each
        // command they would have completed times out and is found by `eh_timed_out`.
        if input.starts_with(b"drop-irq ") && v.faults.command(input).is_ok() {
            return Ok(());
        }
        // The other test knobs (see `knob`).
        if let Some(k) = input.strip_prefix(b"fault ") {
            let c = kernel::scsi::fault::parse(k)?;
            // `used-id` is the rings' own knob; `off` disarms it too.
            let used = match (c.name, c.shots) {
                (b"used-id", Some(n)) => Some(n),
                (b"off", None) => Some(0),
                _ => None,
            };
            if let Some(n) = used {
                for q in v.queues.iter() {
                    q.vq.bad_ids().arm(n);
                }
            }
            if c.name == b"used-id" {
                return used.map(|_| ()).ok_or(EINVAL);
            }
            return v.faults.command(k).map_err(|_| EINVAL);
        }
        dev_err!(
            v.pdev,
            "debugfs: unknown command (the state file takes \"reset-stats\", \"drop-irq N\" with N at most 1000, \"hold-events\", \"release-events\", \"bad-table\" and \"fault NAME N\")\n"
        );
        Err(EINVAL)
    }
}
