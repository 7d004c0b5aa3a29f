// SPDX-License-Identifier: GPL-2.0

//! The MFI controller: bring-up, polled management commands, the reply queue and reset.
//!
//! Follows `megasas_init_adapter_mfi()`, `megasas_issue_polled()` and
//! `megasas_complete_cmd_dpc()` in
//! [`drivers/scsi/megaraid/megaraid_sas_base.c`](srctree/drivers/scsi/megaraid/megaraid_sas_base.c).
//!
//! # Memory
//!
//! All of it is allocated at probe, below 4 GiB (the frames are posted through the 32-bit
//! inbound queue port):
//!
//! - the I/O frame pool: one frame per tag, with room for the SG list, and a sense buffer per
//!   tag ([`SlotPool`]);
//! - management frames for polled commands (INIT, DCMD, ABORT), each with a 4 KiB data buffer;
//! - the reply queue: the producer and consumer words, the queue information INIT registers,
//!   and `max_cmds` reply entries, each the context of a completed frame.
//!
//! # Quirks of the emulated controller (see `Documentation/scsi/rmegasas.rst`)
//!
//! Writing all ones to the interrupt mask resets the controller, so it is written only to reset
//! it. Polled commands also land in the reply queue once interrupts are on; their contexts are
//! recognised and skipped.

use kernel::{
    device::Bound,
    dma::Coherent,
    io::{
        poll::read_poll_timeout,
        Io, //
    },
    new_mutex, new_spinlock_irq, pci,
    prelude::*,
    scsi::{
        ring::{
            ContextTag,
            Ring, //
        },
        sg,
        slots::SlotPool,
        SENSE_BUFFERSIZE,
    },
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Mutex, SpinLockIrq,
    },
    time::Delta,
};

use crate::{
    fault::{
        self,
        Faults, //
    },
    frame::{
        self,
        dcmd,
        Header,
        MfiCmd,
        MfiStatus,
        SgeFormat,
        MAX_TARGETS, //
    },
    fw::{
        FwState,
        FwStatus,
        Limits, //
    },
    regs,
    Bar,
    Model, //
};

/// The tag value in the context of management frames; I/O tags stay below `max_cmds` (≤ 2048).
pub(crate) const MGMT_TAG: u16 = 0xffff;
/// The management frame, for polled commands (INIT, DCMD) at probe, during a reset and for a
/// rescan. The error handler's ABORT frames are reserved commands of the host instead.
const MGMT_POLL: u16 = 0;
/// Bytes of a management command's data buffer (CTRL_GET_INFO needs 2048).
const MGMT_BUF: usize = 4096;

/// Word indices in the reply queue memory: the producer and consumer words and the queue
/// information each on their own 64-byte line, then the reply entries.
const PRODUCER: usize = 0;
const CONSUMER: usize = 16;
const QUEUE_INFO: usize = 32;
const REPLIES: usize = 64;

/// How long the firmware may take to reach READY after a reset.
const READY_TIMEOUT: Delta = Delta::from_secs(60);

/// How often the error handler tries a controller reset before it gives up on the controller
/// ([`Mfi::kill`]): `megasas_wait_for_outstanding()` issues at most three online controller
/// resets before `megaraid_sas_kill_hba()`.
pub(crate) const RESET_TRIES: u32 = 3;

/// The completion path's counters, kept under the reply queue lock with the consumer index:
/// plain integers, no atomic operation per I/O. debugfs takes the lock to read them.
#[derive(Clone, Copy)]
pub(crate) struct Completions {
    pub(crate) completed: u64,
    pub(crate) ldio: u64,
    pub(crate) interrupts: u64,
    /// Calls of `mq_poll`, and the entries they found.
    pub(crate) polls: u64,
    pub(crate) polled: u64,
    pub(crate) late: u64,
    pub(crate) max_per_irq: u64,
    /// Completions by MFI status (index: status byte, 0x00..0x3f; the rest in 0x3f).
    pub(crate) by_status: [u64; 64],
}

impl Completions {
    const ZERO: Self = Self {
        completed: 0,
        ldio: 0,
        interrupts: 0,
        polls: 0,
        polled: 0,
        late: 0,
        max_per_irq: 0,
        by_status: [0; 64],
    };

    /// Counts a completion with MFI status `s`.
    #[inline]
    pub(crate) fn status(&mut self, s: MfiStatus) {
        self.completed += 1;
        self.by_status[usize::from(s.0.min(63))] += 1;
    }
}

/// What the reply queue lock protects: the consumer index and the completion counters.
pub(crate) struct Reply {
    consumer: u32,
    pub(crate) counts: Completions,
}

/// Counters of rarer events, shown in debugfs. Relaxed atomics: they are statistics, not
/// synchronisation.
pub(crate) struct Stats {
    pub(crate) spurious: Atomic<u64>,
    pub(crate) aborts: Atomic<u64>,
    pub(crate) aborts_failed: Atomic<u64>,
    pub(crate) resets: Atomic<u64>,
    pub(crate) device_resets: Atomic<u64>,
    pub(crate) busy: Atomic<u64>,
    /// Controller resets that failed and were tried again.
    pub(crate) reset_retries: Atomic<u64>,
    /// Commands refused because the controller is dead ([`Mfi::kill`]).
    pub(crate) no_connect: Atomic<u64>,
    /// Completions that claimed more sense bytes than the sense buffer holds.
    pub(crate) sense_clamped: Atomic<u64>,
    /// Times the error handler found the firmware in FAULT.
    pub(crate) fw_faults: Atomic<u64>,
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Self {
            spurious: Atomic::new(0),
            aborts: Atomic::new(0),
            aborts_failed: Atomic::new(0),
            resets: Atomic::new(0),
            device_resets: Atomic::new(0),
            busy: Atomic::new(0),
            reset_retries: Atomic::new(0),
            no_connect: Atomic::new(0),
            sense_clamped: Atomic::new(0),
            fw_faults: Atomic::new(0),
        }
    }

    /// Counts an event that may happen on several CPUs at once.
    pub(crate) fn inc(c: &Atomic<u64>) {
        c.add(1, Relaxed);
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.spurious,
            &self.aborts,
            &self.aborts_failed,
            &self.resets,
            &self.device_resets,
            &self.busy,
            &self.reset_retries,
            &self.no_connect,
            &self.sense_clamped,
            &self.fw_faults,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// What CTRL_GET_INFO reported (`struct megasas_ctrl_info`).
#[derive(Clone, Copy)]
pub(crate) struct CtrlInfo {
    pub(crate) product: [u8; 80],
    pub(crate) package_version: [u8; 96],
    pub(crate) max_request_size: u32,
    pub(crate) ld_present: u16,
    pub(crate) pd_present: u16,
}

impl CtrlInfo {
    fn parse(b: &[u8]) -> Self {
        let mut product = [0u8; 80];
        product.copy_from_slice(&b[0x540..0x590]);
        let mut package_version = [0u8; 96];
        package_version.copy_from_slice(&b[0x640..0x6a0]);
        Self {
            product,
            package_version,
            max_request_size: frame::get32(b, 0x5bc),
            ld_present: frame::get16(b, 0x5c0),
            pd_present: frame::get16(b, 0x5c6),
        }
    }

    /// A NUL-padded string field as text (printable ASCII only).
    pub(crate) fn text(field: &[u8]) -> &str {
        let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
        let s = &field[..end];
        if s.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            core::str::from_utf8(s).unwrap_or("?")
        } else {
            "?"
        }
    }
}

/// The targets the firmware reported, one bit per target id. Read by the scan and replaced by
/// a rescan ([`Mfi::rescan_drives`]) while I/O runs, hence atomic.
pub(crate) struct Drives(Atomic<u64>);

impl Drives {
    /// Whether target `id` is present.
    pub(crate) fn contains(&self, id: usize) -> bool {
        self.0.load(Relaxed) & frame::target_bit(id) != 0
    }

    /// How many targets are present.
    pub(crate) fn count(&self) -> u32 {
        self.0.load(Relaxed).count_ones()
    }
}

/// The controller: everything the I/O path, the interrupt handler and the error handler use.
///
/// Dropped after the host is removed and its interrupt handlers freed (the SCSI
/// registration's order); the drop flushes and shuts down the firmware, polled.
#[pin_data(PinnedDrop)]
pub(crate) struct Mfi<'bound> {
    pub(crate) pdev: &'bound pci::Device,
    pub(crate) bar: Bar<'bound>,
    pub(crate) model: Model,
    pub(crate) jbod: bool,
    pub(crate) intx: bool,
    pub(crate) use_ldio: bool,
    /// Hardware queues for polled I/O, the last ones of the host's.
    pub(crate) poll_queues: u16,
    pub(crate) limits: Limits,
    pub(crate) sge: SgeFormat,
    /// SG elements per command: the firmware's limit, capped by the frame window.
    pub(crate) max_sge: u16,
    pub(crate) sg_limits: sg::Limits,
    pub(crate) pool: SlotPool,
    pub(crate) info: CtrlInfo,
    pub(crate) drives: Drives,
    ring_mem: Coherent<[u32]>,
    ring: Ring,
    #[pin]
    reply: SpinLockIrq<Reply>,
    #[pin]
    mgmt: Mutex<Mgmt>,
    /// How long a polled frame or an ABORT may take (`fw_timeout`).
    pub(crate) fw_timeout: Delta,
    /// Non-zero once the controller was given up on ([`Mfi::kill`]): nothing is posted to it
    /// again until it is probed anew.
    dead: Atomic<u32>,
    pub(crate) stats: Stats,
    /// Test-only fault knobs, off unless armed through debugfs.
    pub(crate) faults: Faults,
}

/// Reads the firmware status word.
pub(crate) fn fw_status(bar: &Bar<'_>) -> FwStatus {
    FwStatus(bar.read(regs::OSP0).value().into())
}

/// Brings the firmware to READY, resetting it when it is in any other state but FAULT.
pub(crate) fn transition_to_ready(
    pdev: &pci::Device,
    bar: &Bar<'_>,
    force: bool,
) -> Result<FwStatus> {
    let status = fw_status(bar);
    match status.state() {
        FwState::Ready if !force => return Ok(status),
        FwState::Fault => {
            dev_err!(
                pdev,
                "firmware is in FAULT state (status {:#010x})\n",
                status.0
            );
            return Err(ENODEV);
        }
        state => {
            if !force {
                dev_info!(
                    pdev,
                    "firmware is {}, resetting it to READY\n",
                    state.name()
                );
            }
            // Abort everything and reinitialise (`MFI_RESET_FLAGS`).
            bar.write_reg(regs::IDB::zeroed().with_ready(true).with_abort(true));
        }
    }
    // TIMEOUT: QEMU resets at once; real controllers take seconds.
    let s = read_poll_timeout(
        || Ok(fw_status(bar)),
        |s: &FwStatus| matches!(s.state(), FwState::Ready | FwState::Fault),
        Delta::from_millis(1),
        READY_TIMEOUT,
    )
    .inspect_err(|_| dev_err!(pdev, "firmware never became READY after a reset\n"))?;
    if s.state() == FwState::Fault {
        dev_err!(
            pdev,
            "firmware went to FAULT during reset (status {:#010x})\n",
            s.0
        );
        return Err(ENODEV);
    }
    Ok(s)
}

/// Settings the probe decided before building the controller.
pub(crate) struct Setup<'bound> {
    pub(crate) pdev: &'bound pci::Device,
    pub(crate) bar: Bar<'bound>,
    pub(crate) model: Model,
    pub(crate) limits: Limits,
    pub(crate) msix_supported: bool,
    /// The streaming DMA mask is 32 bits: data buffers below 4 GiB, 32-bit SG elements.
    pub(crate) dma32: bool,
    pub(crate) intx: bool,
    pub(crate) use_ldio: bool,
    pub(crate) poll_queues: u16,
    /// Most SG elements a frame describes; 0 for the firmware's limit (`sge_limit`).
    pub(crate) sge_limit: u16,
    /// How long a polled frame or an ABORT may take (`fw_timeout`).
    pub(crate) fw_timeout: Delta,
}

/// The management frame, polled by probe, the rescans and controller resets (under
/// [`Mfi`]'s `mgmt` lock), and how long the firmware may take to answer it.
struct Mgmt {
    pool: SlotPool,
    timeout: Delta,
}

impl<'bound> Mfi<'bound> {
    /// Allocates the controller's memory, registers the reply queue (INIT), reads the
    /// controller information and the drive lists. Interrupts stay masked: the caller enables
    /// them once its handler is installed ([`Mfi::enable_interrupts`]).
    pub(crate) fn new(
        dev: &'bound kernel::device::Device<Bound>,
        s: Setup<'bound>,
    ) -> impl PinInit<Self, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            let Setup {
                pdev,
                bar,
                model,
                limits,
                msix_supported,
                dma32,
                intx,
                use_ldio,
                poll_queues,
                sge_limit,
                fw_timeout,
            } = s;
            // Linux reads the MSI-X bit as "the firmware takes IEEE SGEs"; QEMU agrees.
            let sge = if dma32 {
                SgeFormat::Sge32
            } else if msix_supported {
                SgeFormat::Ieee
            } else {
                SgeFormat::Sge64
            };
            let cap = sge.capacity(frame::PTHRU_SGL);
            let max_sge = limits.max_sge.min(u16::try_from(cap).unwrap_or(u16::MAX));
            let frame_bytes = frame::PTHRU_SGL + usize::from(max_sge) * sge.size();
            let cmds = u32::from(limits.max_cmds);

            let pool = SlotPool::new(dev, cmds, frame_bytes, SENSE_BUFFERSIZE)
                .inspect_err(|_| dev_err!(pdev, "cannot allocate {} frames\n", cmds))?;
            let mut mgmt = Mgmt {
                pool: SlotPool::new(dev, 1, frame::FRAME_SIZE, MGMT_BUF)?,
                timeout: fw_timeout,
            };
            let ring_words = REPLIES + usize::from(limits.max_cmds);
            let ring_mem = Coherent::<u32>::zeroed_slice(dev, ring_words, GFP_KERNEL)
                .inspect_err(|_| dev_err!(pdev, "cannot allocate the reply queue\n"))?;
            let ring = Ring::new(cmds).ok_or(EINVAL)?;

            // Mask interrupts, which also resets the firmware's reply queue, then register ours.
            bar.write_reg(regs::OMSK::zeroed().with_value(u32::MAX));
            init_queue(pdev, &bar, &mut mgmt, &ring_mem, limits.max_cmds)?;

            let info = {
                let b = polled_dcmd(
                    pdev,
                    &bar,
                    &mut mgmt,
                    dcmd::CTRL_GET_INFO,
                    &mbox_byte0(1),
                    2048,
                )?;
                CtrlInfo::parse(b)
            };
            let jbod = info.ld_present == 0 && info.pd_present > 0;
            let drives = Drives(Atomic::new(drive_list(pdev, &bar, &mut mgmt, jbod)?));

            let sg_limits = sg::Limits {
                max_segment_size: u32::MAX,
                boundary_mask: u64::from(u32::MAX),
                max_segments: usize::from(if sge_limit > 0 {
                    sge_limit.min(max_sge)
                } else {
                    max_sge
                }),
            };
            Ok(try_pin_init!(Mfi {
                pdev,
                bar,
                model,
                jbod,
                intx,
                use_ldio,
                poll_queues,
                limits,
                sge,
                max_sge,
                sg_limits,
                pool,
                info,
                drives,
                ring_mem,
                ring,
                reply <- new_spinlock_irq!(
                    Reply {
                        consumer: 0,
                        counts: Completions::ZERO,
                    },
                    "rmegasas_reply"
                ),
                mgmt <- new_mutex!(mgmt, "rmegasas_mgmt"),
                fw_timeout,
                dead: Atomic::new(0),
                stats: Stats::new(),
                faults: Faults::new(),
            }))
        })
    }

    /// Enables interrupts: acknowledges anything pending, then unmasks (never all ones).
    pub(crate) fn enable_interrupts(&self) {
        self.bar
            .write_reg(regs::ODCR0::zeroed().with_value(u32::MAX));
        let mask = match self.model {
            Model::Sas1078 => 0x7fff_ffffu32,
            Model::Sas2108 => !0x5u32,
        };
        self.bar.write_reg(regs::OMSK::zeroed().with_value(mask));
    }

    /// Masks every interrupt (all ones, which also resets the emulated controller's reply
    /// queue: only with nothing outstanding, or before a reset).
    pub(crate) fn disable_interrupts(&self) {
        self.bar
            .write_reg(regs::OMSK::zeroed().with_value(u32::MAX));
    }

    /// The bus address of the I/O frame of `tag`, as the inbound queue port takes it.
    #[inline]
    pub(crate) fn frame_addr(&self, tag: u16) -> Option<u32> {
        self.pool.cmd_dma(tag).and_then(|a| u32::try_from(a).ok())
    }

    /// Posts a frame at `addr` (below 4 GiB) that is `frame_bytes` long.
    #[inline]
    pub(crate) fn post(&self, addr: u32, frame_bytes: usize) {
        let v = frame::iqp_value(addr, frame::extra_frames(frame_bytes));
        self.bar.write_reg(regs::IQP::zeroed().with_value(v));
    }

    /// Drains the reply queue, calling `f` with each completed I/O context, whether a test
    /// knob may be armed ([`Faults::armed`], read once per drain) and the completion counters,
    /// under the reply queue lock. Returns how many entries were found. Safe from
    /// interrupt context; serialised with [`Mfi::reset`]. `polled` says whether a poll
    /// (`mq_poll`) or an interrupt asks, for the counters: either completes whatever is there,
    /// as there is one reply queue for all hardware queues.
    #[inline]
    pub(crate) fn drain(
        &self,
        polled: bool,
        mut f: impl FnMut(ContextTag, bool, &mut Completions),
    ) -> u32 {
        // A poll spins: when the producer has not moved past the consumer (written under the
        // lock below), there is nothing to take the lock for. A race only makes this poll
        // find nothing; the next one or the interrupt sees the entry.
        if polled
            && ring_read(&self.ring_mem, PRODUCER).ok() == ring_read(&self.ring_mem, CONSUMER).ok()
        {
            return 0;
        }
        let faults = self.faults.armed();
        // A controller in FAULT (the `firmware` knob) answers nothing: its replies are not read.
        if faults && self.faults.firmware() {
            return 0;
        }
        let mut reply = self.reply.lock();
        let reply = &mut *reply;
        if polled {
            reply.counts.polls += 1;
        } else {
            reply.counts.interrupts += 1;
        }
        let producer = ring_read(&self.ring_mem, PRODUCER).unwrap_or(reply.consumer);
        // The entries were written before the producer: read them after it.
        kernel::sync::barrier::dma_mb(kernel::sync::barrier::Read);
        let Ok(pending) = self.ring.pending(reply.consumer, producer) else {
            // A producer outside the ring is nonsense from the device: ignore it rather than
            // read past the ring; the commands will time out and be recovered by a reset.
            Stats::inc(&self.stats.spurious);
            return 0;
        };
        let mut n = 0;
        let mut it = pending;
        for i in it.by_ref() {
            let Ok(ctx) = ring_read(&self.ring_mem, REPLIES + usize::try_from(i).unwrap_or(0))
            else {
                continue;
            };
            n += 1;
            let ctx = ContextTag::from_u32(ctx);
            if ctx.tag == MGMT_TAG {
                continue;
            }
            if !faults {
                f(ctx, false, &mut reply.counts);
                continue;
            }
            // The test knobs (see `fault`): what a broken controller would report.
            if self.faults.take(fault::LOSE) {
                continue;
            }
            if self.faults.take(fault::BOGUS) {
                let other = ContextTag {
                    tag: ctx.tag,
                    seq: ctx.seq ^ 0x8000,
                };
                f(other, true, &mut reply.counts);
            }
            f(ctx, true, &mut reply.counts);
            if self.faults.take(fault::TWICE) {
                f(ctx, true, &mut reply.counts);
            }
        }
        reply.consumer = it.at();
        let _ = ring_write(&self.ring_mem, CONSUMER, reply.consumer);
        if polled {
            reply.counts.polled += u64::from(n);
        } else {
            reply.counts.max_per_irq = reply.counts.max_per_irq.max(u64::from(n));
        }
        n
    }

    /// A copy of the completion counters, for debugfs.
    pub(crate) fn completions(&self) -> Completions {
        self.reply.lock().counts
    }

    /// Zeroes every counter.
    pub(crate) fn reset_stats(&self) {
        self.stats.reset();
        self.reply.lock().counts = Completions::ZERO;
    }

    /// Producer and consumer indices, for debugfs.
    pub(crate) fn ring_indices(&self) -> (u32, u32) {
        let p = ring_read(&self.ring_mem, PRODUCER).unwrap_or(u32::MAX);
        let c = ring_read(&self.ring_mem, CONSUMER).unwrap_or(u32::MAX);
        (p, c)
    }

    /// Resets the controller and registers the reply queue again; every frame it held is lost.
    /// The caller then reclaims every command the device held. May sleep.
    pub(crate) fn reset(&self) -> Result {
        let mut mgmt = self.mgmt.lock();
        // Two resets may queue on the lock (the error handler's and one from `sg_reset`): the
        // second does not bring back a controller the first gave up on.
        if self.is_dead() {
            return Err(ENODEV);
        }
        // Masking all interrupts resets QEMU's controller and its reply queue; the doorbell
        // reset does the same on real firmware, and clears a FAULT.
        self.disable_interrupts();
        self.faults.controller_reset();
        transition_to_ready(self.pdev, &self.bar, true)?;
        {
            // No interrupt handler may drain while the indices restart.
            let mut reply = self.reply.lock();
            reply.consumer = 0;
            let _ = ring_write(&self.ring_mem, PRODUCER, 0);
            let _ = ring_write(&self.ring_mem, CONSUMER, 0);
        }
        init_queue(
            self.pdev,
            &self.bar,
            &mut mgmt,
            &self.ring_mem,
            self.limits.max_cmds,
        )?;
        drop(mgmt);
        self.enable_interrupts();
        Ok(())
    }

    /// Gives up on the controller after its resets failed, as `megaraid_sas_kill_hba()` does:
    /// masks its interrupts and writes `MFI_STOP_ADP` (the firmware stops, FAULT) with
    /// `MFI_INIT_ABORT` (every outstanding command is cancelled), so that the controller does
    /// no more DMA for the commands it held and the caller may reclaim them all. From then on
    /// nothing is posted to it ([`Mfi::is_dead`]); unbinding and binding the driver, or
    /// removing and rescanning the PCI function, probes it anew.
    pub(crate) fn kill(&self) {
        // Excludes the management path, which polls frames of its own, and another reset.
        let _mgmt = self.mgmt.lock();
        if self.dead.xchg(1, Relaxed) != 0 {
            return;
        }
        self.disable_interrupts();
        self.bar
            .write_reg(regs::IDB::zeroed().with_stop_adp(true).with_abort(true));
        dev_err!(
            self.pdev,
            "controller reset failed {} times: stopping the controller; its commands fail\n",
            RESET_TRIES
        );
    }

    /// Whether the firmware is in FAULT: it will answer no frame until the controller is
    /// reset. Reads a register: for the error handler, not the I/O path (which reads none).
    pub(crate) fn faulted(&self) -> bool {
        self.faults.firmware() || fw_status(&self.bar).state() == FwState::Fault
    }

    /// Whether the controller was given up on ([`Mfi::kill`]).
    #[inline]
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Relaxed) != 0
    }

    /// Reads the drive list again (the LD list in RAID mode, the PD list in JBOD mode) and
    /// makes it the one the scan checks. Returns the targets present before and now. May
    /// sleep.
    pub(crate) fn rescan_drives(&self) -> Result<(u64, u64)> {
        if self.is_dead() {
            return Err(ENODEV);
        }
        let mut mgmt = self.mgmt.lock();
        let now = drive_list(self.pdev, &self.bar, &mut mgmt, self.jbod)?;
        Ok((self.drives.0.xchg(now, Relaxed), now))
    }

    /// Flushes the controller's cache and shuts it down, at unbind. Polled; the host's
    /// `quiesce` masked the interrupts before (which also reset the emulated controller's
    /// queue, as nothing was outstanding).
    pub(crate) fn shutdown(&self) {
        if self.is_dead() {
            // A stopped controller answers no frame: nothing to flush.
            return;
        }
        let mut mgmt = self.mgmt.lock();
        for op in [dcmd::CTRL_CACHE_FLUSH, dcmd::CTRL_SHUTDOWN] {
            if let Err(e) = polled_dcmd(self.pdev, &self.bar, &mut mgmt, op, &[0; 12], 0) {
                dev_warn!(self.pdev, "DCMD {:#010x} at shutdown failed: {:?}\n", op, e);
            }
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Mfi<'_> {
    fn drop(self: Pin<&mut Self>) {
        self.shutdown();
    }
}

/// Reads word `i` of the reply queue memory (a volatile access: the firmware writes it).
#[inline]
fn ring_read(ring: &Coherent<[u32]>, i: usize) -> Result<u32> {
    Ok(kernel::io::io_read!(ring, [try: i]))
}

/// Writes word `i` of the reply queue memory.
#[inline]
fn ring_write(ring: &Coherent<[u32]>, i: usize, v: u32) -> Result {
    kernel::io::io_write!(ring, [try: i], v);
    Ok(())
}

fn mbox_byte0(b: u8) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[0] = b;
    m
}

/// Polls the status byte of management frame `index` until the firmware writes it.
fn wait_status(mgmt: &Mgmt, index: u16) -> Result<MfiStatus> {
    // TIMEOUT: the `fw_timeout` module parameter (rmegasas.rs).
    let s = read_poll_timeout(
        || {
            Ok(mgmt
                .pool
                .cmd_byte(index, frame::hdr::CMD_STATUS)
                .unwrap_or(0))
        },
        |s: &u8| *s != frame::STATUS_PENDING,
        Delta::from_micros(20),
        mgmt.timeout,
    )?;
    Ok(MfiStatus(s))
}

/// Registers the reply queue with a polled INIT frame.
fn init_queue(
    pdev: &pci::Device,
    bar: &Bar<'_>,
    mgmt: &mut Mgmt,
    ring_mem: &Coherent<[u32]>,
    max_cmds: u16,
) -> Result {
    let base = ring_mem.dma_address();
    // CAST: word indices to byte offsets, small constants.
    let addr = |word: usize| base + (word * 4) as u64;
    let q = frame::QueueInfo {
        entries: u32::from(max_cmds),
        reply_queue: addr(REPLIES),
        producer: addr(PRODUCER),
        consumer: addr(CONSUMER),
    };
    let mut qi = [0u8; frame::QUEUE_INFO_SIZE];
    frame::write_queue_info(&mut qi, &q);
    for (i, chunk) in qi.chunks(4).enumerate() {
        let v = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        ring_write(ring_mem, QUEUE_INFO + i, v)?;
    }
    let ctx = ContextTag {
        tag: MGMT_TAG,
        seq: MGMT_POLL,
    }
    .to_u32();
    let fa = {
        let slot = mgmt.pool.slot_exclusive(MGMT_POLL).ok_or(EINVAL)?;
        frame::write_init(slot.cmd, ctx, addr(QUEUE_INFO));
        u32::try_from(slot.cmd_dma).map_err(|_| EINVAL)?
    };
    let v = frame::iqp_value(fa, 0);
    bar.write_reg(regs::IQP::zeroed().with_value(v));
    let status = wait_status(mgmt, MGMT_POLL)
        .inspect_err(|_| dev_err!(pdev, "INIT frame never completed\n"))?;
    if status != MfiStatus::OK {
        dev_err!(pdev, "INIT failed with MFI status {:#04x}\n", status.0);
        return Err(EIO);
    }
    Ok(())
}

/// Runs a polled DCMD with `len` bytes of data and returns the data.
fn polled_dcmd<'a>(
    pdev: &pci::Device,
    bar: &Bar<'_>,
    mgmt: &'a mut Mgmt,
    opcode: u32,
    mbox: &[u8; 12],
    len: usize,
) -> Result<&'a [u8]> {
    let fmt = SgeFormat::Sge64;
    {
        let slot = mgmt.pool.slot_exclusive(MGMT_POLL).ok_or(EINVAL)?;
        slot.resp[..len].fill(0);
        let h = Header {
            cmd: MfiCmd::Dcmd,
            target: 0,
            lun: 0,
            context: ContextTag {
                tag: MGMT_TAG,
                seq: MGMT_POLL,
            }
            .to_u32(),
            flags: fmt.flags(),
            data_xfer_len: u32::try_from(len)?,
            sge_count: u8::from(len > 0),
        };
        frame::write_dcmd(slot.cmd, &h, opcode, mbox);
        if len > 0 {
            let seg = sg::Segment {
                addr: slot.resp_dma,
                len: u32::try_from(len)?,
            };
            sg::write(
                core::iter::once(seg),
                &sg::Limits {
                    max_segment_size: u32::MAX,
                    boundary_mask: u64::MAX,
                    max_segments: 1,
                },
                &mut [&mut slot.cmd[frame::IO_SGL..]],
                &frame::Sge64,
            )
            .map_err(|_| EINVAL)?;
        }
        let fa = u32::try_from(slot.cmd_dma).map_err(|_| EINVAL)?;
        bar.write_reg(regs::IQP::zeroed().with_value(frame::iqp_value(fa, 0)));
    }
    let status = wait_status(mgmt, MGMT_POLL)
        .inspect_err(|_| dev_err!(pdev, "DCMD {:#010x} never completed\n", opcode))?;
    if status != MfiStatus::OK {
        dev_err!(
            pdev,
            "DCMD {:#010x} failed with MFI status {:#04x}\n",
            opcode,
            status.0
        );
        return Err(EIO);
    }
    let slot = mgmt.pool.slot_exclusive(MGMT_POLL).ok_or(EINVAL)?;
    Ok(&slot.resp[..len])
}

/// Reads the targets present: the PD list in JBOD mode, else the LD list. Polled. A list whose
/// count runs past its buffer fails (probe, or the rescan, which then changes nothing).
fn drive_list(pdev: &pci::Device, bar: &Bar<'_>, mgmt: &mut Mgmt, jbod: bool) -> Result<u64> {
    // QEMU rejects LD lists over 1032 bytes (8 + 64 entries of 16).
    let (name, opcode, len) = if jbod {
        ("PD", dcmd::PD_GET_LIST, MGMT_BUF)
    } else {
        ("LD", dcmd::LD_GET_LIST, 1032)
    };
    let list = polled_dcmd(pdev, bar, mgmt, opcode, &[0; 12], len)?;
    let parsed = if jbod {
        frame::parse_pd_list(list)
    } else {
        frame::parse_ld_list(list)
    };
    let drives = parsed.map_err(|e| {
        dev_err!(
            pdev,
            "{} list reports {} drives but its {}-byte buffer holds {}\n",
            name,
            e.count,
            len,
            e.fits
        );
        EIO
    })?;
    if drives.ignored > 0 {
        dev_warn!(
            pdev,
            "{} list: {} drives with a target id of {} or more are not exposed\n",
            name,
            drives.ignored,
            MAX_TARGETS
        );
    }
    Ok(drives.targets)
}
