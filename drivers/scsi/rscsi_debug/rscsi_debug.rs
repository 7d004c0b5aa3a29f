// SPDX-License-Identifier: GPL-2.0

//! rscsi_debug: a SCSI host with no hardware, for testing `kernel::scsi`.
//!
//! The Rust counterpart of `scsi_debug` ([`drivers/scsi/scsi_debug.c`](srctree/drivers/scsi/scsi_debug.c)),
//! in safe code on `kernel::scsi`: targets and LUNs of RAM-backed (or null) disks, completion in
//! `queuecommand` or from the host's software interrupt after a delay, and faults injected
//! through debugfs (`/sys/kernel/debug/rscsi_debug-host<N>/state`). See
//! `Documentation/scsi/rscsi_debug.rst`.

use core::fmt;

use kernel::{
    prelude::*,
    scsi::{
        sense::{self, SenseKey},
        Command, EhCommand, EhStatus, Host, HostByte, HostConfig, HostOps, Refused, ScsiDevice,
        ScsiStatus, SoftHost,
    },
    sync::{
        atomic::{Atomic, Relaxed},
        new_spinlock, new_spinlock_irq, SpinLock, SpinLockIrq,
    },
    time::{Delta, Instant, Monotonic},
    types::CovariantForLt,
};

mod cdb;
mod sim;

use cdb::{Invalid, Op};
use kernel::scsi::fault::KnobSet;
use sim::{CmdId, Counter, Held, Kind, Parked, Pending, Sim, Time};

kernel::scsi_host_template!(TEMPLATE, Sdebug);

/// The checked module parameters.
#[derive(Clone, Copy)]
struct Params {
    targets: u32,
    luns: u32,
    /// Blocks per LUN.
    capacity: u64,
    null: bool,
    delay: Delta,
    can_queue: u32,
    queues: u16,
}

/// Reads one integer parameter and checks its range.
fn param(name: &str, v: i64, range: core::ops::RangeInclusive<i64>) -> Result<u32> {
    if !range.contains(&v) {
        pr_err!(
            "{}={} is out of range ({}..={})\n",
            name,
            v,
            range.start(),
            range.end()
        );
        return Err(EINVAL);
    }
    u32::try_from(v).map_err(|_| EINVAL)
}

impl Params {
    fn read() -> Result<Self> {
        let targets = param("num_tgts", module_parameters::num_tgts.value(), 1..=16)?;
        let luns = param("max_luns", module_parameters::max_luns.value(), 1..=8)?;
        let mb = param(
            "dev_size_mb",
            module_parameters::dev_size_mb.value(),
            1..=1024,
        )?;
        let delay = param(
            "delay_us",
            module_parameters::delay_us.value(),
            0..=1_000_000,
        )?;
        let can_queue = param("can_queue", module_parameters::can_queue.value(), 1..=4096)?;
        // At most 16 queues of 4096: 65536 commands, which `kernel::scsi` indexes in 16 bits.
        let queues = param(
            "submit_queues",
            module_parameters::submit_queues.value(),
            1..=16,
        )?;
        Ok(Self {
            targets,
            luns,
            capacity: u64::from(mb) * 2048,
            null: module_parameters::null.value(),
            delay: Delta::from_micros(i64::from(delay)),
            can_queue,
            // CAST: checked to be at most 16 above.
            queues: queues as u16,
        })
    }
}

/// The faults debugfs arms (a [`KnobSet`], by these indices); each applies to the next N
/// commands that read or write. Until one is armed, commands skip their checks (six atomic
/// loads, each a call to a C helper in this kernel) after one.
mod knob {
    /// Never completed: the command times out and is aborted.
    pub(crate) const DROP: usize = 0;
    /// As `DROP`, and reported anyway after the abort, once its index is in use again.
    pub(crate) const LATE: usize = 1;
    /// Completed twice.
    pub(crate) const TWICE: usize = 2;
    /// Completed, and a completion with a context the device never had is reported too.
    pub(crate) const BOGUS: usize = 3;
    /// Completed with CHECK CONDITION, MEDIUM ERROR.
    pub(crate) const ERROR: usize = 4;
    /// Taken back from the device, then held by the driver until its abort arrives.
    pub(crate) const PARK: usize = 5;
    /// Their names, in that order.
    pub(crate) const NAMES: [&str; 6] = ["drop", "late", "twice", "bogus", "error", "park"];
}

/// What debugfs shows.
struct Stats {
    queued: Counter,
    inline: Counter,
    deferred: Counter,
    ignored: Counter,
    lost: Counter,
    misdirected: Counter,
    aborts: Counter,
    device_resets: Counter,
    target_resets: Counter,
    bus_resets: Counter,
    host_resets: Counter,
    reset_completed: Counter,
    parked: Counter,
    park_raced: Counter,
    park_expired: Counter,
    storm: Counter,
    full: Counter,
}

impl Stats {
    /// Every counter, with the name debugfs shows it under.
    fn all(&self) -> [(&'static str, &Counter); 17] {
        [
            ("queued", &self.queued),
            ("completed_inline", &self.inline),
            ("completed_deferred", &self.deferred),
            ("ignored", &self.ignored),
            ("lost", &self.lost),
            ("misdirected", &self.misdirected),
            ("aborts", &self.aborts),
            ("device_resets", &self.device_resets),
            ("target_resets", &self.target_resets),
            ("bus_resets", &self.bus_resets),
            ("host_resets", &self.host_resets),
            ("reset_completed", &self.reset_completed),
            ("parked", &self.parked),
            ("park_raced", &self.park_raced),
            ("park_expired", &self.park_expired),
            ("storm_delivered", &self.storm),
            ("sim_full", &self.full),
        ]
    }
}

/// The host: its disks, its device and its faults (rscsi_debug's `HostData`).
#[pin_data]
struct Sdebug {
    p: Params,
    /// The start of the device's clock ([`Time`]).
    base: Instant<Monotonic>,
    /// The disks' blocks, LUN after LUN (empty with `null`).
    #[pin]
    store: SpinLock<KVVec<u8>>,
    #[pin]
    sim: SpinLockIrq<Sim>,
    faults: KnobSet<6>,
    stats: Stats,
    /// How many indices of `sim.stale` are `Some` (changed under the `sim` lock): lets
    /// `queuecommand` skip the lock when none is.
    stale_entries: Atomic<u32>,
}

impl Sdebug {
    fn new(p: Params, indices: u32) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            p,
            base: Instant::now(),
            store <- new_spinlock!(Self::alloc_store(p)?, "rscsi_debug::store"),
            sim <- new_spinlock_irq!(Sim::new(indices)?, "rscsi_debug::sim"),
            faults: KnobSet::new(knob::NAMES),
            stats: Stats {
                queued: Counter::new(),
                inline: Counter::new(),
                deferred: Counter::new(),
                ignored: Counter::new(),
                lost: Counter::new(),
                misdirected: Counter::new(),
                aborts: Counter::new(),
                device_resets: Counter::new(),
                target_resets: Counter::new(),
                bus_resets: Counter::new(),
                host_resets: Counter::new(),
                reset_completed: Counter::new(),
                parked: Counter::new(),
                park_raced: Counter::new(),
                park_expired: Counter::new(),
                storm: Counter::new(),
                full: Counter::new(),
            },
            stale_entries: Atomic::new(0),
        })
    }

    fn alloc_store(p: &Params) -> Result<KVVec<u8>> {
        if p.null {
            return Ok(KVVec::new());
        }
        let bytes = p.capacity * u64::from(cdb::BLOCK) * u64::from(p.targets * p.luns);
        let bytes = usize::try_from(bytes)?;
        KVVec::from_elem(0u8, bytes, GFP_KERNEL).map_err(|_| {
            pr_err!("cannot allocate {} MiB for the disks\n", bytes >> 20);
            ENOMEM
        })
    }

    /// Now, on the device's clock.
    fn now(&self) -> Time {
        Time::now(self.base)
    }

    /// The byte offset of LUN `lun` of `target` in the store.
    fn lun_base(&self, target: u32, lun: u64) -> u64 {
        let n = u64::from(target) * u64::from(self.p.luns) + lun;
        n * self.p.capacity * u64::from(cdb::BLOCK)
    }
}

/// The host as the entry points receive it.
type SdebugHost = Host<Sdebug>;

/// Fills the sense buffer of `cmd` and sets CHECK CONDITION.
fn check_condition(cmd: &mut Command<Sdebug>, key: SenseKey, asc: u8, ascq: u8) {
    sense::build(cmd.sense_buffer(), sense::Format::Fixed, key, asc, ascq);
    cmd.set_result(HostByte::Ok, ScsiStatus::CHECK_CONDITION);
}

/// Returns `data` for a command that reads it, with the residual of a shorter answer.
fn respond(cmd: &mut Command<Sdebug>, data: &[u8]) {
    let copied = cmd.copy_from_buffer(data);
    let resid = cmd
        .transfer_len()
        .saturating_sub(u32::try_from(copied).unwrap_or(u32::MAX));
    cmd.set_resid(resid);
    cmd.set_result(HostByte::Ok, ScsiStatus::GOOD);
}

/// Runs the command `op` (its CDB decoded): moves its data and sets its result. Returns how
/// the device knows it, and whether it reads or writes the medium (the commands faults apply
/// to).
fn execute(
    d: &Sdebug,
    cmd: &mut Command<Sdebug>,
    op: Result<Op, Invalid>,
    error: bool,
) -> (CmdId, bool) {
    let opcode = cmd.cdb().first().copied().unwrap_or(0);
    let mut id = CmdId {
        cmd: Some(cmd.id()),
        opcode,
        lba: 0,
    };
    let op = match op {
        Ok(op) => op,
        Err(e) => {
            check_condition(cmd, SenseKey::IllegalRequest, e.asc(), 0);
            return (id, false);
        }
    };
    match op {
        Op::Read { lba, blocks } | Op::Write { lba, blocks } => {
            id.lba = lba;
            let write = matches!(op, Op::Write { .. });
            let (off, len) = match cdb::check_range(lba, blocks, d.p.capacity) {
                Ok(r) => r,
                Err(e) => {
                    check_condition(cmd, SenseKey::IllegalRequest, e.asc(), 0);
                    return (id, false);
                }
            };
            if error {
                // UNRECOVERED READ ERROR, or WRITE ERROR.
                let asc = if write { 0x0c } else { 0x11 };
                check_condition(cmd, SenseKey::MediumError, asc, 0);
                return (id, true);
            }
            let len = len.min(u64::from(cmd.transfer_len()));
            if !d.p.null {
                let start = d.lun_base(cmd.device().id(), cmd.device().lun()) + off;
                let (Ok(start), Ok(len)) = (usize::try_from(start), usize::try_from(len)) else {
                    check_condition(cmd, SenseKey::IllegalRequest, Invalid::Range.asc(), 0);
                    return (id, true);
                };
                let mut store = d.store.lock();
                let Some(area) = store.get_mut(start..start + len) else {
                    drop(store);
                    check_condition(cmd, SenseKey::IllegalRequest, Invalid::Range.asc(), 0);
                    return (id, true);
                };
                if write {
                    cmd.copy_to_buffer(area);
                } else {
                    cmd.copy_from_buffer(area);
                }
            }
            cmd.set_resid(
                cmd.transfer_len()
                    .saturating_sub(u32::try_from(len).unwrap_or(0)),
            );
            cmd.set_result(HostByte::Ok, ScsiStatus::GOOD);
            (id, true)
        }
        _ => {
            answer(d, cmd, op);
            (id, false)
        }
    }
}

/// Answers a command that does not touch the medium, from a buffer of its own (kept off the
/// read and write path: zeroing it there cost some 60 instructions per I/O).
fn answer(d: &Sdebug, cmd: &mut Command<Sdebug>, op: Op) {
    let (target, lun) = (cmd.device().id(), cmd.device().lun());
    let mut buf = [0u8; 256];
    match op {
        Op::Read { .. } | Op::Write { .. } => {}
        Op::Inquiry { evpd, page } => match cdb::inquiry(&mut buf, evpd, page, target, lun) {
            Ok(n) => respond(cmd, &buf[..n]),
            Err(e) => check_condition(cmd, SenseKey::IllegalRequest, e.asc(), 0),
        },
        Op::ReadCapacity10 => {
            let n = cdb::read_capacity10(&mut buf, d.p.capacity);
            respond(cmd, &buf[..n]);
        }
        Op::ReadCapacity16 => {
            let n = cdb::read_capacity16(&mut buf, d.p.capacity);
            respond(cmd, &buf[..n]);
        }
        Op::ReportLuns => {
            let n = cdb::report_luns(&mut buf, d.p.luns);
            respond(cmd, &buf[..n]);
        }
        Op::ModeSense { ten, page } => match cdb::mode_sense(&mut buf, ten, page) {
            Ok(n) => respond(cmd, &buf[..n]),
            Err(e) => check_condition(cmd, SenseKey::IllegalRequest, e.asc(), 0),
        },
        Op::RequestSense => {
            let n = sense::build(&mut buf, sense::Format::Fixed, SenseKey::NoSense, 0, 0);
            respond(cmd, &buf[..n]);
        }
        Op::NoData => cmd.set_result(HostByte::Ok, ScsiStatus::GOOD),
    }
}

/// Which fault applies to a command that reads or writes, if any.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Injected {
    Drop,
    Late,
    Twice,
    Bogus,
}

/// Which command `cmd` is, with its opcode and LBA, as [`execute`] recorded them.
fn identify(cmd: &Command<Sdebug>) -> CmdId {
    let opcode = cmd.cdb().first().copied().unwrap_or(0);
    let lba = match cdb::decode(cmd.cdb()) {
        Ok(Op::Read { lba, .. } | Op::Write { lba, .. }) => lba,
        _ => 0,
    };
    CmdId {
        cmd: Some(cmd.id()),
        opcode,
        lba,
    }
}

/// Reports one completion of the device.
fn deliver(host: &SdebugHost, p: Pending, epoch: u64) {
    let d = host.data();
    let Some(cmd) = host.take_from_hardware(p.ctx) else {
        if p.kind == Kind::Normal && d.sim.lock().refusal_is_loss(epoch) {
            // The device held this command and no abort or reset reclaimed it since, so the
            // abstraction must have returned it.
            d.stats.lost.inc();
            pr_err!("completion of {:?} was refused: a command is lost\n", p.ctx);
        } else {
            d.stats.ignored.inc();
        }
        return;
    };
    if p.kind != Kind::Normal || identify(&cmd) != p.id {
        d.stats.misdirected.inc();
        pr_err!(
            "a {:?} completion of {:?} (opcode {:#04x} lba {}) took another command (opcode {:#04x} lba {})\n",
            p.kind,
            p.ctx,
            p.id.opcode,
            p.id.lba,
            identify(&cmd).opcode,
            identify(&cmd).lba
        );
    }
    d.stats.deferred.inc();
    if p.kind == Kind::Normal && d.faults.take(knob::PARK) {
        let mut s = d.sim.lock();
        let now = d.now();
        let due = now.after(sim::PARK_LIMIT);
        match s.parked.push_within_capacity(Parked {
            cmd,
            due,
            aborted: false,
        }) {
            Ok(()) => {
                d.stats.parked.inc();
                s.arm(host, due, now);
                return;
            }
            Err(e) => {
                drop(s);
                e.0.cmd.complete();
                return;
            }
        }
    }
    cmd.complete();
}

#[vtable]
impl HostOps for Sdebug {
    type HostData = CovariantForLt!(Sdebug);
    type CmdData = ();
    const NAME: &'static CStr = c"rscsi_debug";

    fn queuecommand(host: &SdebugHost, mut cmd: Command<Self>) -> Result<(), Refused<Self>> {
        let d = host.data();
        d.stats.queued.inc();
        let op = cdb::decode(cmd.cdb());
        let armed = d.faults.armed();
        let media = matches!(op, Ok(Op::Read { .. } | Op::Write { .. }));
        let error = armed && media && d.faults.take(knob::ERROR);
        let fault = if !armed || !media {
            None
        } else if d.faults.take(knob::DROP) {
            Some(Injected::Drop)
        } else if d.faults.take(knob::LATE) {
            Some(Injected::Late)
        } else if d.faults.take(knob::TWICE) {
            Some(Injected::Twice)
        } else if d.faults.take(knob::BOGUS) {
            Some(Injected::Bogus)
        } else {
            None
        };
        let (id, _) = execute(&d, &mut cmd, op, error);
        // The lock only when some index waits to replay a late completion (rare: the `late`
        // fault), not for every command.
        let stale_waits = d.stale_entries.load(Relaxed) != 0
            && d.sim
                .lock()
                .stale
                .get(usize::from(cmd.index()))
                .is_some_and(|s| s.is_some());
        if d.p.delay.is_zero()
            && fault.is_none()
            && !stale_waits
            && (!armed || d.faults.get(knob::PARK).is_none_or(|k| k.left() == 0))
        {
            d.stats.inline.inc();
            cmd.complete();
            return Ok(());
        }
        let (target, lun) = (cmd.device().id(), cmd.device().lun());
        let index = usize::from(cmd.index());
        let now = d.now();
        let due = now.after(d.p.delay);
        let entry = |ctx, kind, due| Pending {
            ctx,
            due,
            kind,
            id,
            target,
            lun,
        };
        let mut s = d.sim.lock();
        // Given to the device under the lock, with its completion queued: a reset that
        // reclaims it now forgets its completion too (`Sim::forget_index`, which takes the
        // lock).
        let ctx = cmd.into_hardware();
        let mut ok = true;
        match fault {
            Some(Injected::Drop | Injected::Late) => {
                if let Some(h) = s.held.get_mut(index) {
                    *h = Some(Held {
                        ctx,
                        id,
                        target,
                        lun,
                        late: fault == Some(Injected::Late),
                    });
                }
            }
            _ => {
                ok = s.push(entry(ctx, Kind::Normal, due));
                if fault == Some(Injected::Twice) {
                    s.push(entry(ctx, Kind::Duplicate, due));
                }
                if fault == Some(Injected::Bogus) {
                    let b = s.bogus_ctx();
                    s.push(entry(b, Kind::Bogus, due));
                }
            }
        }
        // A late completion for this index lands now, while the index's new command is in the
        // device: the worst moment for it.
        let replay = s.stale.get_mut(index).and_then(|slot| {
            let (h, left) = slot.as_mut()?;
            let h = *h;
            *left -= 1;
            if *left == 0 {
                *slot = None;
                d.stale_entries.fetch_sub(1, Relaxed);
            }
            Some(h)
        });
        if let Some(h) = replay {
            let stale = Pending {
                ctx: h.ctx,
                due: now,
                kind: Kind::Stale,
                id: h.id,
                target: h.target,
                lun: h.lun,
            };
            s.push(stale);
            s.arm(host, now, now);
        }
        // The same command parked by the driver while the midlayer retried it: the fault's
        // race. Finish the parked one now, while the retry is in the device.
        let racer = s
            .parked
            .iter()
            .position(|x| identify(&x.cmd) == id)
            .and_then(|i| s.parked.remove(i).ok());
        if ok {
            s.arm(host, due, now);
            drop(s);
            if let Some(x) = racer {
                d.stats.park_raced.inc();
                pr_err!("a parked command was queued again while the driver held it\n");
                x.cmd.complete();
            }
            return Ok(());
        }
        drop(s);
        // No room: complete it here rather than lose it.
        d.stats.full.inc();
        if let Some(c) = host.take_from_hardware(ctx) {
            c.complete();
        }
        Ok(())
    }

    fn interrupt(host: &SdebugHost, _vector: u16) -> kernel::irq::IrqReturn {
        let d = host.data();
        let now = d.now();
        let mut due: [Option<Pending>; sim::BATCH] = [None; sim::BATCH];
        let mut parked: [Option<Command<Self>>; 4] = [const { None }; 4];
        let mut n = 0;
        let epoch;
        {
            let mut s = d.sim.lock();
            epoch = s.epoch;
            s.armed = None;
            let mut i = 0;
            while i < s.pending.len() && n < sim::BATCH {
                if s.pending[i].due <= now {
                    due[n] = s.pending.remove(i).ok();
                    n += 1;
                } else {
                    i += 1;
                }
            }
            if s.storm > 0 && n < sim::BATCH {
                s.storm -= 1;
                let ctx = s.bogus_ctx();
                due[n] = Some(Pending {
                    ctx,
                    due: now,
                    kind: Kind::Bogus,
                    id: CmdId::NONE,
                    target: 0,
                    lun: 0,
                });
                n += 1;
                d.stats.storm.inc();
            }
            let mut p = 0;
            let mut i = 0;
            while i < s.parked.len() && p < parked.len() {
                if s.parked[i].due <= now {
                    if let Ok(x) = s.parked.remove(i) {
                        if !x.aborted {
                            d.stats.park_expired.inc();
                        }
                        parked[p] = Some(x.cmd);
                        p += 1;
                    }
                } else {
                    i += 1;
                }
            }
            // When to come back: at once if there is more to do now, else at the next due time.
            let storm = (s.storm > 0).then(|| now.after(sim::STORM_PERIOD));
            let pending = s.pending.iter().map(|p| p.due);
            let parked_due = s.parked.iter().map(|x| x.due);
            let next = Iterator::chain(Iterator::chain(pending, parked_due), storm).min();
            let next = if n == sim::BATCH || p == parked.len() {
                Some(now)
            } else {
                next
            };
            if let Some(t) = next {
                s.arm(host, t, now);
            }
        }
        for p in due.iter().take(n).flatten() {
            deliver(host, *p, epoch);
        }
        let mut done = n;
        for c in parked.iter_mut().filter_map(|c| c.take()) {
            c.complete();
            done += 1;
        }
        // CAST: at most `sim::BATCH` plus four.
        kernel::scsi::trace::interrupt(host, 0, done as u32);
        kernel::irq::IrqReturn::Handled
    }

    fn eh_abort(host: &SdebugHost, cmd: &EhCommand<Self>) -> EhStatus {
        let d = host.data();
        d.stats.aborts.inc();
        let index = usize::from(cmd.index());
        let Some(ctx) = cmd.context() else {
            // Not in the device: completed meanwhile, or parked by the driver. A parked command
            // is completed shortly after its abort (see `sim::PARK_AFTER_ABORT`).
            let mut s = d.sim.lock();
            let now = d.now();
            let mut found = None;
            for x in s.parked.iter_mut() {
                if usize::from(x.cmd.index()) == index {
                    x.aborted = true;
                    x.due = now.after(sim::PARK_AFTER_ABORT);
                    found = Some(x.due);
                }
            }
            if let Some(t) = found {
                s.arm(host, t, now);
            }
            return EhStatus::Success;
        };
        {
            let mut s = d.sim.lock();
            if let Some(slot) = s.held.get_mut(index) {
                if let Some(h) = slot.take_if(|h| h.ctx == ctx) {
                    if h.late {
                        if let Some(st) = s.stale.get_mut(index) {
                            if st.is_none() {
                                d.stale_entries.add(1, Relaxed);
                            }
                            *st = Some((h, sim::LATE_REPLAYS));
                        }
                    }
                }
            }
            s.pending
                .retain(|p| !(p.kind == Kind::Normal && p.ctx == ctx));
            s.epoch += 1;
        }
        cmd.reclaim();
        EhStatus::Success
    }

    fn eh_device_reset(host: &SdebugHost, sdev: &ScsiDevice) -> EhStatus {
        host.data().stats.device_resets.inc();
        let (t, l) = (sdev.id(), sdev.lun());
        reset(host, |dt, dl| dt == t && dl == l);
        EhStatus::Success
    }

    fn eh_target_reset(host: &SdebugHost, sdev: &ScsiDevice) -> EhStatus {
        host.data().stats.target_resets.inc();
        let t = sdev.id();
        reset(host, |dt, _| dt == t);
        EhStatus::Success
    }

    fn eh_bus_reset(host: &SdebugHost, _channel: u32) -> EhStatus {
        // One channel: every device is on it.
        host.data().stats.bus_resets.inc();
        reset(host, |_, _| true);
        EhStatus::Success
    }

    fn eh_host_reset(host: &SdebugHost) -> EhStatus {
        host.data().stats.host_resets.inc();
        reset(host, |_, _| true);
        EhStatus::Success
    }

    fn sdev_init(host: &SdebugHost, sdev: &ScsiDevice) -> Result {
        let p = &host.data().p;
        if sdev.channel() != 0 || sdev.id() >= p.targets || sdev.lun() >= u64::from(p.luns) {
            return Err(ENXIO);
        }
        Ok(())
    }

    fn change_queue_depth(host: &SdebugHost, sdev: &ScsiDevice, depth: u32) -> u32 {
        sdev.change_queue_depth(depth.clamp(1, host.can_queue()))
    }

    fn debugfs_show(host: &SdebugHost, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = host.data();
        let (pending, held, stale, parked) = {
            let s = d.sim.lock();
            (
                s.pending.len(),
                s.held.iter().flatten().count(),
                s.stale.iter().flatten().count(),
                s.parked.len(),
            )
        };
        writeln!(f, "targets: {}", d.p.targets)?;
        writeln!(f, "luns: {}", d.p.luns)?;
        writeln!(f, "capacity_blocks: {}", d.p.capacity)?;
        writeln!(f, "null: {}", d.p.null)?;
        writeln!(f, "delay_us: {}", d.p.delay.as_micros_ceil())?;
        writeln!(f, "hw_queues: {}", host.nr_hw_queues())?;
        writeln!(f, "can_queue: {}", host.can_queue())?;
        writeln!(f, "pending: {}", pending)?;
        writeln!(f, "held: {}", held)?;
        writeln!(f, "stale_waiting: {}", stale)?;
        writeln!(f, "parked_now: {}", parked)?;
        writeln!(f, "outstanding: {}", host.count_in_hardware(|_| true))?;
        let st = &d.stats;
        for (name, c) in st.all() {
            writeln!(f, "{}: {}", name, c.get())?;
        }
        d.faults.show(f)
    }

    fn debugfs_write(host: &SdebugHost, input: &[u8]) -> Result {
        let d = host.data();
        let s = core::str::from_utf8(input).map_err(|_| EINVAL)?.trim();
        if s == "reset-stats" {
            let st = &d.stats;
            for (_, c) in st.all() {
                c.reset();
            }
            return Ok(());
        }
        // A storm's count is of interrupts, not of shots: it has no bound of its own.
        if let Some(n) = s.strip_prefix("storm ") {
            let n: u32 = n.trim().parse().map_err(|_| EINVAL)?;
            let mut s = d.sim.lock();
            s.storm = u64::from(n);
            let now = d.now();
            s.arm(host, now, now);
            return Ok(());
        }
        d.faults.command(s.as_bytes()).map_err(|_| EINVAL)
    }
}

/// A reset of the commands for which `scope(target, lun)` holds: the device forgets them, and
/// those it held are completed with `DID_RESET` (the midlayer retries what it owns).
fn reset(host: &SdebugHost, mut scope: impl FnMut(u32, u64) -> bool) {
    let d = host.data();
    d.sim.lock().forget(&mut scope);
    let n = host.reclaim_matching(
        |sdev| scope(sdev.id(), sdev.lun()),
        |c| {
            d.sim.lock().forget_index(c.index());
            c.complete_with(HostByte::Reset, ScsiStatus::GOOD)
        },
    );
    d.sim.lock().reset_done();
    for _ in 0..n {
        d.stats.reset_completed.inc();
    }
}

/// The module: one host.
struct RscsiDebug {
    _host: Pin<KBox<SoftHost<Sdebug>>>,
}

impl kernel::Module for RscsiDebug {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let p = Params::read()?;
        let mut config = HostConfig::new(p.can_queue);
        config.nr_hw_queues = p.queues;
        config.cmd_per_lun = u16::try_from(p.can_queue).unwrap_or(u16::MAX);
        config.sg_tablesize = 256;
        config.max_sectors = 2048;
        config.max_segment_size = u32::MAX;
        config.max_id = p.targets;
        config.max_lun = u64::from(p.luns);
        config.max_cmd_len = 16;
        let indices = p.can_queue * u32::from(p.queues);
        let host = SoftHost::new(c"rscsi_debug", &TEMPLATE, config, Sdebug::new(p, indices))?;
        let host = KBox::pin(host, GFP_KERNEL)?;
        host.scan();
        pr_info!(
            "{} targets x {} LUNs of {} MiB{}, {} queues of {}, delay {} us, host{}\n",
            p.targets,
            p.luns,
            p.capacity / 2048,
            if p.null { " (null)" } else { "" },
            p.queues,
            p.can_queue,
            p.delay.as_micros_ceil(),
            host.host().host_no()
        );
        Ok(Self { _host: host })
    }
}

module! {
    type: RscsiDebug,
    name: "rscsi_debug",
    authors: ["rscsi developers"],
    description: "Rust SCSI host with no hardware, for testing kernel::scsi (scsi_debug's counterpart)",
    license: "GPL v2",
    params: {
        num_tgts: i64 {
            default: 1,
            description: "Targets, 1..=16",
        },
        max_luns: i64 {
            default: 1,
            description: "LUNs per target, 1..=8",
        },
        dev_size_mb: i64 {
            default: 16,
            description: "Size of each LUN in MiB, 1..=1024",
        },
        null: bool {
            default: false,
            description: "No backing store: writes are dropped and reads leave the buffer as it was",
        },
        delay_us: i64 {
            default: 0,
            description: "Completion delay in microseconds, 0..=1000000; 0 completes in queuecommand",
        },
        can_queue: i64 {
            default: 64,
            description: "Commands per hardware queue, 1..=4096",
        },
        submit_queues: i64 {
            default: 1,
            description: "Hardware queues, 1..=16",
        },
    },
}
