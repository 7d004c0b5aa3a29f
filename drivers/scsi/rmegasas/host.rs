// SPDX-License-Identifier: GPL-2.0

//! rmegasas as a SCSI host: queuing, completion and error handling.
//!
//! Follows `megasas_queue_command()`, `megasas_build_ldio()`, `megasas_build_dcdb()`,
//! `megasas_complete_cmd()` and the `megasas_*_reset` handlers in
//! [`drivers/scsi/megaraid/megaraid_sas_base.c`](srctree/drivers/scsi/megaraid/megaraid_sas_base.c).

use core::fmt;

use kernel::{
    dma::DataDirection,
    io::Io,
    irq::IrqReturn,
    prelude::*,
    scsi::{
        sense,
        sg,
        trace,
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
        SENSE_BUFFERSIZE, //
    },
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    time::Delta,
    types::CovariantForLt,
};

use crate::{
    frame::{
        self,
        Ending,
        Header,
        MfiCmd,
        MfiStatus,
        SgeFormat,
        MAX_TARGETS, //
    },
    mfi::{
        Completions,
        CtrlInfo,
        Mfi,
        Stats,
        RESET_TRIES, //
    },
    regs,
};

/// The SCSI host side of the driver.
pub(crate) struct Rmegasas;

kernel::scsi_host_template!(TEMPLATE, Rmegasas);

/// The host template, for the probe.
pub(crate) fn template() -> &'static kernel::scsi::Template<Rmegasas> {
    &TEMPLATE
}

/// What a reserved command of the host does, and what came of it: rmegasas's per-command data
/// (`CmdData`). The error handler fills it for an ABORT ([`HostOps::eh_abort`]); I/O commands
/// leave it alone.
pub(crate) struct Internal {
    /// The index of the frame to abort, and the context it was posted with.
    abort_index: Atomic<u32>,
    abort_ctx: Atomic<u32>,
    /// The MFI status the firmware gave the reserved frame.
    mfi_status: Atomic<u32>,
}

impl Default for Internal {
    fn default() -> Self {
        Self {
            abort_index: Atomic::new(0),
            abort_ctx: Atomic::new(0),
            mfi_status: Atomic::new(0),
        }
    }
}

/// Reserved commands per hardware queue: one ABORT at a time (the error handler runs one).
pub(crate) const RESERVED_CMDS: u16 = 1;

/// How long a device reset waits for the device's commands to drain.
const DEVICE_RESET_DRAIN: Delta = Delta::from_secs(30);

/// How long a controller reset first waits for the controller to return the commands it
/// holds, as `megasas_wait_for_outstanding()` does (`resetwaittime`, 180 s by default, before
/// its online controller reset). QEMU's megasas cancels what it holds on a reset, and an I/O
/// whose cancel completes after the reset cleared its frame crashed QEMU 7.2 (a segfault seen
/// once under `sg_reset -H` with fio running, 2026-12-03): a drained controller has nothing to
/// cancel. Commands that do not come back within the bound (a device that stopped, the error
/// handler's own timed-out commands) are reclaimed after the reset as before.
const HOST_RESET_DRAIN: Delta = Delta::from_secs(10);

/// The pause between two controller reset attempts (the C driver waits 5 s after each online
/// controller reset before it looks again; here the next attempt does its own waiting).
const RESET_RETRY_PAUSE: Delta = Delta::from_secs(1);

/// Writes `list` as an SG list in the controller's format at `sgl` in a frame; returns how many
/// SGEs.
///
/// Kept out of `build_frame`, so that the per-segment loop has the registers to itself.
#[inline(never)]
fn write_sgl(
    mfi: &Mfi<'_>,
    list: sg::Within<impl sg::Walk>,
    sgl: &mut [u8],
) -> Result<usize, sg::CursorError> {
    let areas = &mut [sgl];
    let w = match mfi.sge {
        SgeFormat::Ieee => sg::write_within(list, &mfi.sg_limits, areas, &frame::SgeIeee),
        SgeFormat::Sge64 => sg::write_within(list, &mfi.sg_limits, areas, &frame::Sge64),
        SgeFormat::Sge32 => sg::write_within(list, &mfi.sg_limits, areas, &frame::Sge32),
    };
    w.map(|w| w.count)
}

/// Fills the frame of `cmd` and returns its length in bytes, or `None` when the SG list does
/// not fit (the caller then bounces the command). With `bounce`, the frame describes that one
/// segment (the bounce buffer) instead of the command's list.
fn build_frame(
    mfi: &Mfi<'_>,
    cmd: &mut Command<Rmegasas>,
    bounce: Option<sg::Segment>,
) -> Option<usize> {
    let ctx = cmd.next_context();
    let (slot, cmd) = mfi.pool.slot(cmd)?;
    let dev = cmd.device();
    // CAST: checked against `MAX_TARGETS` and 255 by the caller.
    let (target, lun) = (dev.id() as u8, dev.lun() as u8);
    let dir = match cmd.direction() {
        DataDirection::ToDevice => frame::flags::DIR_WRITE,
        DataDirection::FromDevice => frame::flags::DIR_READ,
        _ => 0,
    };
    let rw = if mfi.use_ldio && !mfi.jbod {
        frame::decode_rw(cmd.cdb())
    } else {
        None
    };
    let sgl = if rw.is_some() {
        frame::IO_SGL
    } else {
        frame::PTHRU_SGL
    };
    let mut count = match bounce {
        Some(seg) => write_sgl(mfi, sg::Within::one(seg), &mut slot.cmd[sgl..]).ok()?,
        None => write_sgl(mfi, cmd.mapped_list(), &mut slot.cmd[sgl..]).ok()?,
    };
    if count == 0 {
        // QEMU fails a frame without SG elements (TARGET FAILURE sense), so a command without
        // data (TEST UNIT READY, SYNCHRONIZE CACHE) gets one pointing at its sense buffer, with
        // a transfer length of zero: nothing is transferred.
        let seg = sg::Segment {
            addr: slot.resp_dma,
            // CAST: the sense buffer is 96 bytes.
            len: SENSE_BUFFERSIZE as u32,
        };
        count = write_sgl(mfi, sg::Within::one(seg), &mut slot.cmd[sgl..]).ok()?;
    }
    let mut h = Header {
        cmd: if mfi.jbod {
            MfiCmd::PdScsiIo
        } else {
            MfiCmd::LdScsiIo
        },
        target,
        lun,
        context: ctx.to_u32(),
        flags: mfi.sge.flags() | dir,
        data_xfer_len: cmd.transfer_len(),
        // CAST: at most `max_sge`, which is at most 255 (an 8-bit firmware field).
        sge_count: count as u8,
    };
    // CAST: the sense buffer is 96 bytes.
    let sense_len = SENSE_BUFFERSIZE as u8;
    match rw {
        Some(rw) => {
            h.cmd = if rw.write {
                MfiCmd::LdWrite
            } else {
                MfiCmd::LdRead
            };
            h.data_xfer_len = rw.blocks;
            frame::write_ldio(slot.cmd, &h, rw.lba, slot.resp_dma, sense_len);
        }
        None => frame::write_pthru(slot.cmd, &h, cmd.cdb(), slot.resp_dma, sense_len),
    }
    Some(sgl + count * mfi.sge.size())
}

/// Completes the command the firmware reported with context `ctx`, counting it in `counts`.
/// `faults`: a test knob may be armed ([`crate::fault`]).
#[inline]
fn complete_ctx(
    host: &Host<Rmegasas>,
    mfi: &Mfi<'_>,
    ctx: kernel::scsi::ring::ContextTag,
    faults: bool,
    counts: &mut Completions,
) {
    let Some(mut cmd) = host.take_from_hardware(ctx) else {
        // A completion for a command that was aborted or reset meanwhile, or nonsense.
        counts.late += 1;
        return;
    };
    let (host_byte, status, sense) = {
        let Some((slot, _)) = mfi.pool.slot(&mut cmd) else {
            cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
            return;
        };
        let mut c = frame::read_completion(slot.cmd);
        counts.status(c.status);
        match slot.cmd[frame::hdr::CMD] {
            // `MFI_CMD_LD_READ` or `MFI_CMD_LD_WRITE`: the fast path.
            1 | 2 => counts.ldio += 1,
            // `MFI_CMD_ABORT`, a reserved command: the error handler reads the status.
            6 => {
                cmd.data().mfi_status.store(u32::from(c.status.0), Relaxed);
                cmd.complete_with(HostByte::Ok, ScsiStatus::GOOD);
                return;
            }
            _ => {}
        }
        if faults && c.status == MfiStatus::OK && mfi.faults.take(crate::fault::SENSE) {
            // The `sense` test knob: the firmware claims more sense than the buffer holds.
            // UNIT ATTENTION, POWER ON, RESET, in the first 18 bytes; 255 claimed.
            sense::build(
                slot.resp,
                sense::Format::Fixed,
                sense::SenseKey::UnitAttention,
                0x29,
                0,
            );
            c = frame::Completion {
                status: MfiStatus::SCSI_DONE_WITH_ERROR,
                scsi_status: frame::CHECK_CONDITION,
                sense_len: u8::MAX,
            };
        }
        let o = frame::decode_completion(c, slot.resp.len().min(SENSE_BUFFERSIZE));
        if o.sense_clamped {
            Stats::inc(&mfi.stats.sense_clamped);
        }
        let host_byte = match o.ending {
            Ending::Ok => HostByte::Ok,
            Ending::BadTarget => HostByte::BadTarget,
            Ending::Error => HostByte::Error,
        };
        // Sense data is copied out only when there is some to report (rare).
        let sense = (o.sense_len > 0).then(|| {
            let mut sense = [0u8; SENSE_BUFFERSIZE];
            sense[..o.sense_len].copy_from_slice(&slot.resp[..o.sense_len]);
            sense
        });
        (host_byte, ScsiStatus(o.scsi_status), sense)
    };
    if let Some(sense) = sense {
        cmd.sense_buffer().copy_from_slice(&sense);
    }
    // A bounced read's data is copied out; the completion gives the buffer back.
    if host_byte == HostByte::Ok {
        cmd.copy_from_bounce();
    }
    // The firmware does not report residuals; a short transfer shows as an error.
    cmd.complete_with(host_byte, status);
}

/// Reads the drive list again and adds or removes SCSI devices to match: the hot-plug path.
///
/// The C driver does this on the firmware's LD and PD change events (`megasas_aen_polling()`,
/// one `scsi_add_device()` or `scsi_remove_device()` per target that changed). QEMU's
/// controller raises no event when a disk is plugged or unplugged, so a write of `rescan` to
/// the debugfs `state` file asks for it. Drives are LUN 0 of their target on channel 0, as the
/// scan finds them. May sleep.
fn rescan(host: &Host<Rmegasas>) -> Result {
    let mfi = host.data();
    let (before, now) = mfi
        .rescan_drives()
        .inspect_err(|e| dev_err!(mfi.pdev, "rescan: cannot read the drive list: {:?}\n", e))?;
    let (mut added, mut removed, mut failed) = (0u32, 0u32, 0u32);
    for id in 0..MAX_TARGETS {
        // CAST: below `MAX_TARGETS`, 64.
        let target = id as u32;
        let present = now & frame::target_bit(id) != 0;
        match (present, host.lookup_device(0, target, 0)) {
            (true, None) => match host.add_device(0, target, 0) {
                Ok(()) => added += 1,
                Err(e) => {
                    failed += 1;
                    dev_warn!(mfi.pdev, "rescan: drive {} did not come up: {:?}\n", id, e);
                }
            },
            (false, Some(sdev)) => {
                sdev.remove();
                removed += 1;
            }
            _ => {}
        }
    }
    dev_info!(
        mfi.pdev,
        "rescan: {} drives (were {}), {} added, {} removed, {} failed\n",
        now.count_ones(),
        before.count_ones(),
        added,
        removed,
        failed
    );
    if failed > 0 {
        return Err(EIO);
    }
    Ok(())
}

#[vtable]
impl HostOps for Rmegasas {
    type HostData = CovariantForLt!(Mfi<'_>);
    type CmdData = Internal;
    const NAME: &'static CStr = c"rmegasas";

    fn queuecommand(host: &Host<Self>, mut cmd: Command<Self>) -> Result<(), Refused<Self>> {
        let mfi = host.data();
        if mfi.is_dead() {
            // As megaraid_sas once it killed the adapter: fail at once, never post.
            Stats::inc(&mfi.stats.no_connect);
            cmd.complete_with(HostByte::NoConnect, ScsiStatus::GOOD);
            return Ok(());
        }
        let (id, lun) = (cmd.device().id(), cmd.device().lun());
        if id >= MAX_TARGETS as u32 || lun > 255 {
            cmd.complete_with(HostByte::BadTarget, ScsiStatus::GOOD);
            return Ok(());
        }
        if cmd.cdb().len() > 16 {
            // INVALID COMMAND OPERATION CODE: MFI frames carry at most 16 bytes.
            cmd.complete_with_sense(sense::SenseKey::IllegalRequest, 0x20, 0x00);
            return Ok(());
        }
        let Some(addr) = mfi.frame_addr(cmd.index()) else {
            cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
            return Ok(());
        };
        if cmd.dma_map().is_err() {
            Stats::inc(&mfi.stats.busy);
            return Err(Refused::host_busy(cmd));
        }
        let frame_bytes = match build_frame(&mfi, &mut cmd, None) {
            Some(n) => n,
            None => {
                // More segments than a frame may describe: copy the data through the bounce
                // buffer, described by one element. One command at a time holds it.
                let Some(seg) = cmd.bounce() else {
                    Stats::inc(&mfi.stats.busy);
                    return Err(Refused::host_busy(cmd));
                };
                match build_frame(&mfi, &mut cmd, Some(seg)) {
                    Some(n) => n,
                    None => {
                        // The completion gives the buffer back.
                        cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
                        return Ok(());
                    }
                }
            }
        };
        let _ctx = cmd.into_hardware();
        mfi.post(addr, frame_bytes);
        // MFI has no batches: every frame is a write of the inbound queue port, the one queue.
        trace::doorbell(host, 0, 1);
        Ok(())
    }

    fn queue_reserved_command(
        host: &Host<Self>,
        mut cmd: Command<Self>,
    ) -> Result<(), Refused<Self>> {
        // The only reserved command is the error handler's ABORT (`eh_abort`).
        let mfi = host.data();
        let (index, target_ctx) = (
            cmd.data().abort_index.load(Relaxed),
            cmd.data().abort_ctx.load(Relaxed),
        );
        let target = u16::try_from(index).ok().and_then(|i| mfi.pool.cmd_dma(i));
        let (Some(target), Some(addr)) = (target, mfi.frame_addr(cmd.index())) else {
            cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
            return Ok(());
        };
        let ctx = cmd.next_context();
        match mfi.pool.slot(&mut cmd) {
            Some((slot, _)) => frame::write_abort(slot.cmd, ctx.to_u32(), target_ctx, target),
            None => {
                cmd.complete_with(HostByte::Error, ScsiStatus::GOOD);
                return Ok(());
            }
        }
        let _ctx = cmd.into_hardware();
        mfi.post(addr, frame::FRAME_SIZE);
        Ok(())
    }

    fn interrupt(host: &Host<Self>, _vector: u16) -> IrqReturn {
        let mfi = host.data();
        if mfi.intx {
            // The line may be shared; with MSI and MSI-X the status register reads zero.
            let s = u32::from(mfi.bar.read(regs::OSTS).value());
            if s == 0 {
                return IrqReturn::None;
            }
            mfi.bar.write_reg(regs::ODCR0::zeroed().with_value(s));
        }
        // With MSI and MSI-X there is nothing to acknowledge: the doorbell counter only drives
        // INTx, and a register write costs as much as the rest of the handler under emulation.
        let n = mfi.drain(false, |ctx, faults, counts| {
            complete_ctx(host, &mfi, ctx, faults, counts)
        });
        // One reply queue serves every vector.
        trace::interrupt(host, 0, n);
        IrqReturn::Handled
    }

    fn map_queues(host: &Host<Self>, maps: &mut QueueMaps<'_>) {
        // The interrupt-driven queues first, then the poll queues (`poll_queues`); reads have
        // no queues of their own. The counts were checked at probe, so mapping cannot fail.
        let poll = u32::from(host.data().poll_queues);
        let irq = host.nr_hw_queues() - poll;
        let mut r = maps.map(QueueType::Default, 0, irq);
        if maps.nr_maps() > 1 {
            r = r
                .and_then(|()| maps.map(QueueType::Read, 0, 0))
                .and_then(|()| maps.map(QueueType::Poll, irq, poll));
        }
        if let Err(e) = r {
            dev_err!(
                host.data().pdev,
                "cannot map {} poll queues: {:?}\n",
                poll,
                e
            );
        }
    }

    fn mq_poll(host: &Host<Self>, _hwq: u16) -> u32 {
        // One reply queue serves every hardware queue: a poll completes whatever is there, and
        // an interrupt may complete a polled command first (QEMU's controller interrupts even
        // for frames that ask it not to post), which the block layer allows.
        let mfi = host.data();
        mfi.drain(true, |ctx, faults, counts| {
            complete_ctx(host, &mfi, ctx, faults, counts)
        })
    }

    fn eh_abort(host: &Host<Self>, cmd: &EhCommand<Self>) -> EhStatus {
        let mfi = host.data();
        Stats::inc(&mfi.stats.aborts);
        let Some(ctx) = cmd.context() else {
            // Completed meanwhile.
            return EhStatus::Success;
        };
        if mfi.is_dead() {
            // Nothing answers an ABORT frame any more.
            Stats::inc(&mfi.stats.aborts_failed);
            return EhStatus::Failed;
        }
        if mfi.faulted() {
            // Nor does a firmware in FAULT: only a controller reset brings it back.
            Stats::inc(&mfi.stats.fw_faults);
            Stats::inc(&mfi.stats.aborts_failed);
            dev_warn!(
                mfi.pdev,
                "abort of tag {}: the firmware is in FAULT; a controller reset follows\n",
                cmd.tag()
            );
            return EhStatus::Failed;
        }
        // The ABORT frame is a reserved command: a frame of the pool, posted and completed
        // like I/O (through the interrupt handler), with no lock of its own.
        let status = host
            // An ABORT may take as long as a polled frame (`fw_timeout`) before the error
            // handler gives up on it (and escalates).
            .execute_reserved(mfi.fw_timeout, |d| {
                d.abort_index.store(u32::from(cmd.index()), Relaxed);
                d.abort_ctx.store(ctx.to_u32(), Relaxed);
            })
            .and_then(|r| {
                r.result()?;
                // CAST: an MFI status byte, stored from a `u8`.
                Ok(MfiStatus(r.data().mfi_status.load(Relaxed) as u8))
            });
        match status {
            Ok(MfiStatus::OK) => {
                // The aborted frame may still complete (status 0x2e); once reclaimed, that
                // completion finds an old context and is ignored.
                // Reclaiming it undoes its mapping and gives back its bounce buffer.
                cmd.reclaim();
                EhStatus::Success
            }
            Ok(s) if s == MfiStatus::ABORT_NOT_POSSIBLE && !cmd.in_hardware() => {
                dev_dbg!(
                    mfi.pdev,
                    "abort of tag {}: status {:#04x}, completed meanwhile\n",
                    cmd.tag(),
                    s.0
                );
                EhStatus::Success
            }
            Ok(s) => {
                Stats::inc(&mfi.stats.aborts_failed);
                dev_warn!(
                    mfi.pdev,
                    "abort of tag {} failed: MFI status {:#04x}\n",
                    cmd.tag(),
                    s.0
                );
                EhStatus::Failed
            }
            Err(e) => {
                Stats::inc(&mfi.stats.aborts_failed);
                dev_warn!(mfi.pdev, "abort of tag {} failed: {:?}\n", cmd.tag(), e);
                EhStatus::Failed
            }
        }
    }

    fn eh_device_reset(host: &Host<Self>, sdev: &ScsiDevice) -> EhStatus {
        // MFI has no task management: wait for the device's commands to drain, as the C driver
        // does (`megasas_reset_device`); if they do not, the midlayer escalates to a host reset.
        let mfi = host.data();
        Stats::inc(&mfi.stats.device_resets);
        if mfi.faulted() {
            // The commands cannot drain from a firmware in FAULT: straight to the host reset.
            Stats::inc(&mfi.stats.fw_faults);
            return EhStatus::Failed;
        }
        let (id, lun) = (sdev.id(), sdev.lun());
        let same = |d: &ScsiDevice| d.id() == id && d.lun() == lun;
        let r = kernel::io::poll::read_poll_timeout(
            || Ok(host.count_in_hardware(same)),
            |n: &u32| *n == 0,
            Delta::from_millis(10),
            DEVICE_RESET_DRAIN,
        );
        match r {
            Ok(_) => EhStatus::Success,
            Err(_) => {
                dev_warn!(
                    mfi.pdev,
                    "device {}:{} still has commands after a reset; escalating\n",
                    id,
                    lun
                );
                EhStatus::Failed
            }
        }
    }

    fn eh_host_reset(host: &Host<Self>) -> EhStatus {
        let mfi = host.data();
        Stats::inc(&mfi.stats.resets);
        if mfi.is_dead() {
            dev_err!(mfi.pdev, "cannot recover from previous reset failures\n");
            return EhStatus::Failed;
        }
        let busy = host.busy();
        // The midlayer holds the host in recovery (or `tmf_in_progress`, for SG_SCSI_RESET)
        // while this handler runs, so only a `queuecommand` that had already begun can still
        // give the controller a command; the reset reclaims that one.
        let held = kernel::io::poll::read_poll_timeout(
            || Ok(host.count_in_hardware(|_| true)),
            |n: &u32| *n == 0,
            Delta::from_millis(10),
            HOST_RESET_DRAIN,
        )
        .unwrap_or_else(|_| host.count_in_hardware(|_| true));
        dev_warn!(
            mfi.pdev,
            "resetting the controller ({} commands busy, {} still held by it)\n",
            busy,
            held
        );
        // Each attempt ends with the controller holding no frame (the reset cancels them), or
        // with the controller not answering: try again, as the C driver does, then give up.
        let mut tries = 0;
        let (host_byte, status) = loop {
            tries += 1;
            match mfi.reset() {
                Ok(()) => break (HostByte::Reset, EhStatus::Success),
                // Another reset gave up on the controller meanwhile.
                Err(_) if mfi.is_dead() => break (HostByte::NoConnect, EhStatus::Failed),
                Err(e) if tries < RESET_TRIES => {
                    Stats::inc(&mfi.stats.reset_retries);
                    dev_warn!(
                        mfi.pdev,
                        "controller reset {} of {} failed: {:?}; trying again\n",
                        tries,
                        RESET_TRIES,
                        e
                    );
                    kernel::time::delay::fsleep(RESET_RETRY_PAUSE);
                }
                Err(e) => {
                    dev_err!(mfi.pdev, "controller reset failed: {:?}\n", e);
                    // The controller stops and does no more DMA: what it held can go.
                    mfi.kill();
                    break (HostByte::NoConnect, EhStatus::Failed);
                }
            }
        };
        // The controller dropped every frame it held: complete them (the midlayer retries what
        // it owns, or ends it if the controller is dead) so that none is lost and none
        // completes twice.
        let n = host.reclaim_all(|c| c.complete_with(host_byte, ScsiStatus::GOOD));
        if status == EhStatus::Success {
            dev_info!(
                mfi.pdev,
                "controller reset done after {} attempts; {} commands reclaimed\n",
                tries,
                n
            );
        } else {
            dev_err!(mfi.pdev, "controller dead; {} commands reclaimed\n", n);
        }
        status
    }

    fn sdev_init(host: &Host<Self>, sdev: &ScsiDevice) -> Result {
        let mfi = host.data();
        let id = usize::try_from(sdev.id()).map_err(|_| ENXIO)?;
        // Logical drives have LUN 0 only; physical drives may have more.
        if !mfi.drives.contains(id) || (!mfi.jbod && sdev.lun() != 0) {
            return Err(ENXIO);
        }
        Ok(())
    }

    fn change_queue_depth(host: &Host<Self>, sdev: &ScsiDevice, depth: u32) -> u32 {
        let max = u32::from(host.data().limits.max_cmds);
        sdev.change_queue_depth(depth.clamp(1, max))
    }

    fn quiesce(host: &Host<Self>) {
        // Nothing is outstanding: mask the controller's interrupts while our handler is still
        // installed (an INTx line may be shared). The cache flush and shutdown that follow, when
        // the host data goes, are polled.
        host.data().disable_interrupts();
    }

    fn debugfs_show(host: &Host<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mfi = host.data();
        let st = &mfi.stats;
        let status = crate::mfi::fw_status(&mfi.bar);
        let (p, c) = mfi.ring_indices();
        writeln!(f, "model: {}", mfi.model.name())?;
        writeln!(f, "product: {}", CtrlInfo::text(&mfi.info.product))?;
        writeln!(f, "firmware: {}", CtrlInfo::text(&mfi.info.package_version))?;
        writeln!(f, "fw_state: {}", status.state().name())?;
        writeln!(f, "fw_status: {:#010x}", status.0)?;
        writeln!(f, "max_cmds: {}", mfi.limits.max_cmds)?;
        writeln!(f, "hw_queues: {}", host.nr_hw_queues())?;
        writeln!(f, "poll_queues: {}", host.nr_poll_queues())?;
        writeln!(f, "can_queue: {}", host.can_queue())?;
        writeln!(f, "reserved_cmds: {}", RESERVED_CMDS)?;
        writeln!(f, "max_sge: {}", mfi.limits.max_sge)?;
        writeln!(f, "max_request_size: {}", mfi.info.max_request_size)?;
        writeln!(f, "sge_per_cmd: {}", mfi.max_sge)?;
        writeln!(f, "sge_format: {:?}", mfi.sge)?;
        writeln!(f, "mode: {}", if mfi.jbod { "jbod" } else { "raid" })?;
        writeln!(f, "drives: {}", mfi.drives.count())?;
        writeln!(
            f,
            "interrupt: {}",
            if mfi.intx { "intx" } else { "msi/msi-x" }
        )?;
        writeln!(f, "reply_producer: {}", p)?;
        writeln!(f, "reply_consumer: {}", c)?;
        let outstanding = host.count_in_hardware(|_| true);
        writeln!(f, "outstanding: {}", outstanding)?;
        let counts = mfi.completions();
        writeln!(
            f,
            "submitted: {}",
            counts.completed + u64::from(outstanding)
        )?;
        for (name, v) in [
            ("completed", counts.completed),
            ("ldio", counts.ldio),
            ("interrupts", counts.interrupts),
            ("polls", counts.polls),
            ("poll_completions", counts.polled),
            ("max_completions_per_interrupt", counts.max_per_irq),
            ("spurious", st.spurious.load(Relaxed)),
            ("late_completions", counts.late),
            ("aborts", st.aborts.load(Relaxed)),
            ("aborts_failed", st.aborts_failed.load(Relaxed)),
            ("device_resets", st.device_resets.load(Relaxed)),
            ("host_resets", st.resets.load(Relaxed)),
            ("host_busy", st.busy.load(Relaxed)),
            ("reset_retries", st.reset_retries.load(Relaxed)),
            ("no_connect", st.no_connect.load(Relaxed)),
            ("sense_clamped", st.sense_clamped.load(Relaxed)),
            ("fw_faults", st.fw_faults.load(Relaxed)),
            ("dead", u64::from(mfi.is_dead())),
        ] {
            writeln!(f, "{}: {}", name, v)?;
        }
        mfi.faults.show(f)?;
        writeln!(f, "bounced: {}", host.bounce_count())?;
        for (i, &n) in counts.by_status.iter().enumerate() {
            if n != 0 {
                writeln!(f, "mfi_status_{:#04x}: {}", i, n)?;
            }
        }
        Ok(())
    }

    fn debugfs_write(host: &Host<Self>, input: &[u8]) -> Result {
        match input.trim_ascii() {
            b"reset-stats" => {
                host.data().reset_stats();
                host.reset_bounce_count();
                Ok(())
            }
            b"rescan" => rescan(host),
            // The test knobs (see `crate::fault`).
            s => match s.strip_prefix(b"fault ") {
                Some(knob) => host.data().faults.command(knob),
                None => Err(EINVAL),
            },
        }
    }
}
