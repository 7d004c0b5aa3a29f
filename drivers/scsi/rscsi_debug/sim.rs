// SPDX-License-Identifier: GPL-2.0

//! The software "device" of rscsi_debug: the commands it holds, when it completes them, and the
//! faults it injects.
//!
//! As in `scsi_debug` (`schedule_resp()`, `sdebug_q_cmd_complete()`), a command's data moves in
//! `queuecommand`; what is deferred is its completion. The device knows a command only by the
//! context [`kernel::scsi::Command::into_hardware`] returned, as hardware does, and completes it
//! from the host's software interrupt through [`kernel::scsi::Host::take_from_hardware`]. The
//! faults are what a device that misbehaves does with those contexts: keep one, report it late
//! or twice, report one it never had.

use kernel::{
    prelude::*,
    scsi::{ring::ContextTag, Command, CommandId, Host},
    sync::atomic::{Atomic, Relaxed},
    time::{Delta, Instant, Monotonic},
};

use crate::Sdebug;

/// A point on the monotonic clock, in nanoseconds since the host was made: ordered, unlike
/// `Instant`, so that the earliest completion can be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Time(i64);

impl Time {
    /// Now, on the clock that started at `base`.
    pub(crate) fn now(base: Instant<Monotonic>) -> Self {
        Self(base.elapsed().as_nanos())
    }

    /// The time `d` after this one.
    pub(crate) fn after(self, d: Delta) -> Self {
        Self(self.0.saturating_add(d.as_nanos()))
    }

    /// How long from `now` until this time (zero if it has passed).
    pub(crate) fn until(self, now: Self) -> Delta {
        Delta::from_nanos(self.0.saturating_sub(now.0).max(0))
    }
}

/// What the device reports with a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The completion of a command the device holds.
    Normal,
    /// The completion of a command the error handler aborted (fault `late`), reported when
    /// its index is in use again.
    Stale,
    /// A second completion of a command already completed (fault `twice`).
    Duplicate,
    /// A context the device never had (faults `bogus` and `storm`).
    Bogus,
}

/// A completion the device will report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub(crate) ctx: ContextTag,
    pub(crate) due: Time,
    pub(crate) kind: Kind,
    /// The command as the device saw it, to tell whether the command the abstraction returns
    /// for `ctx` is the one the completion was for.
    pub(crate) id: CmdId,
    /// Target and LUN, for resets.
    pub(crate) target: u32,
    pub(crate) lun: u64,
}

/// What identifies a command to the device: which command it is (none for a completion the
/// device makes up), and its opcode and LBA, for the log. The LBA alone does not tell two
/// commands apart: a new write may go to the blocks of one the device or the driver holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CmdId {
    pub(crate) cmd: Option<CommandId>,
    pub(crate) opcode: u8,
    pub(crate) lba: u64,
}

impl CmdId {
    /// The identity of a completion the device makes up: no command's.
    pub(crate) const NONE: CmdId = CmdId {
        cmd: None,
        opcode: 0,
        lba: 0,
    };
}

/// A command the device keeps without completing it (faults `drop` and `late`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) ctx: ContextTag,
    pub(crate) id: CmdId,
    pub(crate) target: u32,
    pub(crate) lun: u64,
    /// Report it anyway, late, after the error handler aborted it.
    pub(crate) late: bool,
}

/// A command taken back from the device whose completion the driver defers (fault `park`):
/// until the same command is queued again and in the device (the midlayer retried it after
/// its abort while the driver still held it: the race the fault provokes), or else until
/// [`PARK_AFTER_ABORT`] after its abort, or [`PARK_LIMIT`].
pub(crate) struct Parked {
    pub(crate) cmd: Command<Sdebug>,
    pub(crate) due: Time,
    /// Its abort arrived.
    pub(crate) aborted: bool,
}

/// How long a parked command stays parked after its abort arrives if the command does not
/// come back meanwhile: far longer than the midlayer takes to retry a command once its abort
/// answered (milliseconds), so that a retry while the driver holds the command would be seen.
/// `kernel::scsi` answers the abort only once the driver let go, so this is the path taken.
pub(crate) const PARK_AFTER_ABORT: Delta = Delta::from_secs(1);

/// The longest a command stays parked if no abort comes (no timeout set, say): a bound, not a
/// latency any test waits for.
pub(crate) const PARK_LIMIT: Delta = Delta::from_secs(120);

/// The interval between the completions of a `storm`.
pub(crate) const STORM_PERIOD: Delta = Delta::from_micros(20);

/// How many of the next commands on its index a late completion is reported after: it must
/// be ignored every time.
pub(crate) const LATE_REPLAYS: u32 = 16;

/// Completions reported per software interrupt; more raise it again at once.
pub(crate) const BATCH: usize = 32;

/// The state of the device, under the host's lock.
pub(crate) struct Sim {
    /// Completions to report, in no order.
    pub(crate) pending: KVec<Pending>,
    /// Per index: the command the device keeps.
    pub(crate) held: KVec<Option<Held>>,
    /// Per index: a late completion to report each time the index is in use again, and how
    /// many more times.
    pub(crate) stale: KVec<Option<(Held, u32)>>,
    /// Commands whose completion is deferred.
    pub(crate) parked: KVec<Parked>,
    /// When the software interrupt fires next, if it is raised.
    pub(crate) armed: Option<Time>,
    /// Bogus completions of the storm still to report.
    pub(crate) storm: u64,
    /// Pseudo-random state for bogus contexts (xorshift).
    pub(crate) rng: u32,
    /// Bumped by every abort, and at the start and the end of every reset, under the lock: a
    /// completion taken out of `pending` before one and refused after it was reclaimed by it,
    /// not lost.
    pub(crate) epoch: u64,
    /// Resets under way. A command `queuecommand` was submitting when a reset began may be
    /// given to the device after [`Sim::forget`] and reclaimed by the reset all the same (the
    /// midlayer stops dispatch for an ioctl's reset, `tmf_in_progress`, but does not wait for
    /// a dispatch in progress): its completion may be refused until the reset ends.
    pub(crate) resetting: u32,
    /// Indices of the host (`nr_hw_queues * can_queue`, at most 65536).
    pub(crate) indices: u32,
}

impl Sim {
    /// The device of a host with `indices` command indices; nothing is allocated afterwards.
    pub(crate) fn new(indices: u32) -> Result<Self> {
        let n = usize::try_from(indices)?;
        let mut held = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut stale = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            held.push(None, GFP_KERNEL)?;
            stale.push(None, GFP_KERNEL)?;
        }
        Ok(Self {
            // At most one normal, one duplicate, one bogus and one stale completion per index
            // are pending at once, twice over for an index reused before its duplicate went.
            pending: KVec::with_capacity(8 * n + 64, GFP_KERNEL)?,
            held,
            stale,
            parked: KVec::with_capacity(n, GFP_KERNEL)?,
            armed: None,
            storm: 0,
            epoch: 0,
            resetting: 0,
            rng: 0x2545_f491,
            indices,
        })
    }

    /// Queues a completion; `false` when there is no room (the caller then completes the
    /// command itself: nothing is lost).
    pub(crate) fn push(&mut self, p: Pending) -> bool {
        self.pending.push_within_capacity(p).is_ok()
    }

    /// Makes sure the software interrupt fires by `due` (`now` is the current time).
    pub(crate) fn arm(&mut self, host: &Host<Sdebug>, due: Time, now: Time) {
        if self.armed.is_some_and(|a| a <= due) {
            return;
        }
        host.raise_soft_interrupt(due.until(now));
        self.armed = Some(due);
    }

    /// A context the device does not hold: a random index, some beyond the host's, and a
    /// random sequence number other than any the device holds for that index.
    pub(crate) fn bogus_ctx(&mut self) -> ContextTag {
        let mut r = self.rng;
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        self.rng = r;
        // CAST: below `indices + 8`, so within 16 bits except beyond the largest host, where
        // any index is bogus anyway; and the high half of a `u32`.
        let tag = ((r & 0xffff) % (self.indices + 8)) as u16;
        let mut ctx = ContextTag {
            tag,
            seq: (r >> 16) as u16,
        };
        while self.holds(ctx) {
            ctx.seq = ctx.seq.wrapping_add(1);
        }
        ctx
    }

    /// Whether the device holds `ctx` (will report it as a normal completion, or keeps it).
    fn holds(&self, ctx: ContextTag) -> bool {
        self.pending
            .iter()
            .any(|p| p.kind == Kind::Normal && p.ctx == ctx)
            || self.held.iter().flatten().any(|h| h.ctx == ctx)
    }

    /// Forgets every command the device holds for which `scope` is true, as a reset does;
    /// late and duplicate completions stay (a device may still report them). The reset is
    /// under way until [`Sim::reset_done`].
    pub(crate) fn forget(&mut self, mut scope: impl FnMut(u32, u64) -> bool) {
        self.epoch += 1;
        self.resetting += 1;
        self.pending
            .retain(|p| p.kind != Kind::Normal || !scope(p.target, p.lun));
        for h in self.held.iter_mut() {
            if h.is_some_and(|h| scope(h.target, h.lun)) {
                *h = None;
            }
        }
    }

    /// Forgets the command on `index` that a reset reclaimed. It was the only one on the index
    /// (the index is not free until that command completes), but it may have been given to
    /// the device after [`Sim::forget`] ran.
    pub(crate) fn forget_index(&mut self, index: u16) {
        self.pending
            .retain(|p| p.kind != Kind::Normal || p.ctx.tag != index);
        if let Some(h) = self.held.get_mut(usize::from(index)) {
            *h = None;
        }
    }

    /// Ends a reset [`Sim::forget`] began, once it reclaimed every command in its scope.
    pub(crate) fn reset_done(&mut self) {
        self.resetting = self.resetting.saturating_sub(1);
        self.epoch += 1;
    }

    /// Whether a refused normal completion, taken out of `pending` at `epoch`, means a lost
    /// command: no abort or reset reclaimed anything since, and none is under way.
    pub(crate) fn refusal_is_loss(&self, epoch: u64) -> bool {
        self.epoch == epoch && self.resetting == 0
    }
}

/// A count of events, for the debugfs file.
pub(crate) struct Counter(Atomic<u64>);

impl Counter {
    pub(crate) const fn new() -> Self {
        Self(Atomic::new(0))
    }

    pub(crate) fn inc(&self) {
        self.0.add(1, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    pub(crate) fn reset(&self) {
        self.0.store(0, Relaxed);
    }
}
