// SPDX-License-Identifier: GPL-2.0

//! The host's in-flight table: who holds each command index, and under which generation.
//!
//! C counterparts: the per-tag command arrays HBA drivers keep to map a completion back to its
//! command, such as `instance->cmd_list` of `megaraid_sas`
//! ([`drivers/scsi/megaraid/megaraid_sas_base.c`](srctree/drivers/scsi/megaraid/megaraid_sas_base.c)),
//! instead of `scsi_host_find_tag()` ([`include/scsi/scsi_tcq.h`](srctree/include/scsi/scsi_tcq.h)).
//!
//! One [`Entry`] per command index ([`crate::scsi::Command::index`]), allocated with the host
//! and freed after its interrupts are: a completion is looked up here, never in the block
//! layer's tags. That makes the lookup safe whatever the block layer did meanwhile (an I/O
//! scheduler passing a driver tag between requests, an elevator switch freeing requests, the
//! tag set freed by `scsi_remove_host()` while an interrupt still runs), and it makes the
//! generation in a completion's context belong to the index, so that a late completion can only
//! ever match the submission it was for (see [`IndexState`]).

use crate::{
    bindings,
    device::{Bound, Device},
    dma::Coherent,
    prelude::*,
    scsi::ring::{ContextTag, IndexState, Phase},
    sync::atomic::{Acquire, Atomic, Full, Relaxed, Release},
};
use core::cell::UnsafeCell;

/// The state of one command index.
///
/// # Invariants
///
/// - `state` is an [`IndexState`] word.
/// - In [`Phase::Driver`] exactly one `Command` exists for the index, and it owns `mapped` and
///   may write `cmd`; in [`Phase::Hardware`], `cmd` is the command the device holds, published
///   by the release store that entered the phase; in [`Phase::Idle`] nobody uses `mapped`.
/// - In [`Phase::Abandoned`] no command is attached (`cmd` is stale) and no `Command` can be
///   made for the index: only the device's completion of the state's generation, or
///   [`Entry::forgive`] after a reset, makes it idle again.
pub(crate) struct Entry {
    state: Atomic<u32>,
    cmd: Atomic<*mut bindings::scsi_cmnd>,
    mapped: UnsafeCell<i32>,
    /// Whether the index's command holds the host's bounce buffer (owner only, as `mapped`).
    bounced: UnsafeCell<bool>,
}

// SAFETY: `mapped` and `bounced` are only accessed by the owner of the `Driver` phase (type
// invariant), which the state's atomic transitions hand from CPU to CPU with acquire and
// release ordering.
unsafe impl Sync for Entry {}
// SAFETY: As above; the raw command pointer is only dereferenced by an owner.
unsafe impl Send for Entry {}

/// The state after the last submission, as [`Entry::state`] returns it.
pub(crate) type State = IndexState;

impl Entry {
    const fn new() -> Self {
        Self {
            state: Atomic::new(IndexState::IDLE.pack()),
            cmd: Atomic::new(core::ptr::null_mut()),
            mapped: UnsafeCell::new(0),
            bounced: UnsafeCell::new(false),
        }
    }

    /// The current state (a snapshot).
    #[inline(always)]
    pub(crate) fn state(&self) -> State {
        // By the type invariant the word is a valid state; the fallback is never taken.
        IndexState::unpack(self.state.load(Relaxed)).unwrap_or(IndexState::IDLE)
    }

    /// The command the device holds, or the `Command` of the index is for (meaningful in the
    /// `Driver` and `Hardware` phases).
    #[inline(always)]
    pub(crate) fn cmd(&self) -> *mut bindings::scsi_cmnd {
        self.cmd.load(Relaxed)
    }

    /// Claims the idle index for `cmd`, which the midlayer gives the driver: `Idle` to `Driver`.
    /// `Err` with the state found when the index is not idle.
    #[inline]
    pub(crate) fn claim(&self, cmd: *mut bindings::scsi_cmnd) -> Result<(), State> {
        let cur = self.state();
        if cur.phase != Phase::Idle {
            return Err(cur);
        }
        self.state
            .cmpxchg(cur.pack(), cur.with(Phase::Driver).pack(), Acquire)
            .map_err(|v| IndexState::unpack(v).unwrap_or(cur))?;
        self.cmd.store(cmd, Relaxed);
        // SAFETY: We own the `Driver` phase, and with it `mapped` and `bounced`; the index's
        // last owner gave the bounce buffer back when it let go of the index.
        unsafe {
            *self.mapped.get() = 0;
            *self.bounced.get() = false;
        }
        Ok(())
    }

    /// Takes an index the device holds for a command the midlayer took back without the driver
    /// (a bug the caller reports): the old submission's completion will match nothing.
    pub(crate) fn claim_stale(&self, cmd: *mut bindings::scsi_cmnd) -> bool {
        let cur = self.state();
        if cur.phase != Phase::Hardware
            || self
                .state
                .cmpxchg(cur.pack(), cur.with(Phase::Driver).pack(), Full)
                .is_err()
        {
            return false;
        }
        self.cmd.store(cmd, Relaxed);
        // SAFETY: We own the `Driver` phase. The old mapping cannot be undone: its scatterlist
        // belongs to a request the midlayer ended. A bounce buffer the old command held stays
        // with the index (`bounced` is left as it is) and goes back with this command.
        unsafe { *self.mapped.get() = 0 };
        true
    }

    /// The owner gives the command to the device: `Driver` to `Hardware`, next generation.
    /// Returns the context of this submission.
    ///
    /// # Safety
    ///
    /// The caller owns the `Driver` phase.
    #[inline]
    pub(crate) unsafe fn submit(&self, index: u16) -> ContextTag {
        let next = self.state().submitted();
        // Release: everything written to the command and its slots before is visible to whoever
        // takes it back.
        self.state.store(next.pack(), Release);
        next.context(index)
    }

    /// The context the next submission will have (owner only, to write into a frame).
    #[inline]
    pub(crate) fn next_context(&self, index: u16) -> ContextTag {
        self.state().submitted().context(index)
    }

    /// Takes the command back from the device if `ctx` names its current submission:
    /// `Hardware` to `Driver`. Returns the command.
    ///
    /// The completion of an abandoned submission makes the index idle and returns `None`: the
    /// device is done with it, and its command was ended long ago.
    #[inline]
    pub(crate) fn take(&self, index: u16, ctx: ContextTag) -> Option<*mut bindings::scsi_cmnd> {
        let cur = self.state();
        if !cur.matches(index, ctx) {
            if cur.returns_abandoned(index, ctx) {
                let _ = self
                    .state
                    .cmpxchg(cur.pack(), cur.with(Phase::Idle).pack(), Full);
            }
            return None;
        }
        self.state
            .cmpxchg(cur.pack(), cur.with(Phase::Driver).pack(), Full)
            .ok()?;
        Some(self.cmd())
    }

    /// Takes the command back from the device if it holds `cmd`, whatever the generation (a
    /// reset, a reclaim by the error handler).
    #[inline]
    pub(crate) fn take_cmd(&self, cmd: *mut bindings::scsi_cmnd) -> bool {
        let cur = self.state();
        cur.phase == Phase::Hardware
            && self.cmd() == cmd
            && self
                .state
                .cmpxchg(cur.pack(), cur.with(Phase::Driver).pack(), Full)
                .is_ok()
    }

    /// Whether a `Command` for `cmd` exists now.
    pub(crate) fn owned_by_driver(&self, cmd: *mut bindings::scsi_cmnd) -> bool {
        self.state().phase == Phase::Driver && self.cmd() == cmd
    }

    /// Whether the device holds `cmd`, and under which context.
    pub(crate) fn in_hardware(
        &self,
        index: u16,
        cmd: *mut bindings::scsi_cmnd,
    ) -> Option<ContextTag> {
        let cur = self.state();
        (cur.phase == Phase::Hardware && self.cmd() == cmd).then(|| cur.context(index))
    }

    /// The owner lets go of the index: `Driver` to `Idle`, same generation.
    ///
    /// # Safety
    ///
    /// The caller owns the `Driver` phase and gives it up.
    #[inline]
    pub(crate) unsafe fn release(&self) {
        let cur = self.state();
        self.state.store(cur.with(Phase::Idle).pack(), Release);
    }

    /// The owner ends its command while the device may still hold the index's last
    /// submission: `Driver` to `Abandoned`, same generation.
    ///
    /// # Safety
    ///
    /// The caller owns the `Driver` phase and gives it up.
    pub(crate) unsafe fn abandon(&self) {
        let cur = self.state();
        self.state.store(cur.with(Phase::Abandoned).pack(), Release);
    }

    /// After a reset, when the device forgot every submission: `Abandoned` to `Idle`. Whether
    /// the index was abandoned.
    pub(crate) fn forgive(&self) -> bool {
        let cur = self.state();
        cur.phase == Phase::Abandoned
            && self
                .state
                .cmpxchg(cur.pack(), cur.with(Phase::Idle).pack(), Full)
                .is_ok()
    }

    /// The owner's DMA mapping count.
    ///
    /// # Safety
    ///
    /// The caller owns the `Driver` phase, for as long as it uses the reference.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn mapped(&self) -> &mut i32 {
        // SAFETY: The caller's promise: the owner alone reaches `mapped`.
        unsafe { &mut *self.mapped.get() }
    }

    /// Whether the owner's command holds the host's bounce buffer.
    ///
    /// # Safety
    ///
    /// The caller owns the `Driver` phase, for as long as it uses the reference.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bounced(&self) -> &mut bool {
        // SAFETY: The caller's promise: the owner alone reaches `bounced`.
        unsafe { &mut *self.bounced.get() }
    }
}

/// The host's bounce buffer ([`HostConfig::bounce_bytes`](crate::scsi::HostConfig)): one
/// DMA-coherent buffer through which a command whose scatterlist the hardware cannot describe
/// is copied, one command at a time.
///
/// Ownership belongs to a command index, like its DMA mapping: a command claims it through
/// [`crate::scsi::Command::bounce`], and whatever ends the command's hold on its index (its
/// completion, a refusal, a reclaim by the error handler or a reset) gives it back, so that no
/// path can keep it. Drivers never see the buffer's memory: the abstraction copies the data
/// in and out through the command's scatterlist.
///
/// # Invariants
///
/// `owner` is 0 when the buffer is free, or the owning index plus one; that index's entry has
/// `bounced` set while it is in the `Driver` or `Hardware` phase, or `Abandoned`.
pub(crate) struct Bounce {
    pub(crate) buf: Coherent<[u8]>,
    owner: Atomic<u32>,
    count: Atomic<u64>,
}

impl Bounce {
    fn new(dev: &Device<Bound>, len: usize) -> Result<Self> {
        Ok(Self {
            buf: Coherent::<u8>::zeroed_slice(dev, len, GFP_KERNEL)?,
            owner: Atomic::new(0),
            count: Atomic::new(0),
        })
    }

    /// Claims the buffer for the owner of `index`'s `Driver` phase; counts the use.
    pub(crate) fn claim(&self, index: u16) -> bool {
        let ok = self.owner.cmpxchg(0, u32::from(index) + 1, Acquire).is_ok();
        if ok {
            self.count.add(1, Relaxed);
        }
        ok
    }

    /// Gives the buffer back from `index`, which holds it.
    #[inline]
    fn release(&self, index: u16) {
        let _ = self.owner.cmpxchg(u32::from(index) + 1, 0, Release);
    }

    /// How many commands went through the buffer.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Zeroes the counter.
    pub(crate) fn reset_count(&self) {
        self.count.store(0, Relaxed);
    }
}

/// The in-flight table of a host: one [`Entry`] per command index, and the bounce buffer
/// the indices share.
pub(crate) struct InFlight {
    entries: KVVec<Entry>,
    bounce: Option<Bounce>,
}

impl InFlight {
    /// A table of `count` idle entries, with a bounce buffer of `bounce_bytes` (none for 0).
    pub(crate) fn new(dev: &Device<Bound>, count: usize, bounce_bytes: usize) -> Result<Self> {
        let mut entries = KVVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            entries.push(Entry::new(), GFP_KERNEL)?;
        }
        let bounce = match bounce_bytes {
            0 => None,
            n => Some(Bounce::new(dev, n).inspect_err(|_| {
                crate::dev_err!(dev, "cannot allocate a {} byte bounce buffer\n", n)
            })?),
        };
        Ok(Self { entries, bounce })
    }

    /// The bounce buffer, if the host has one.
    #[inline]
    pub(crate) fn bounce(&self) -> Option<&Bounce> {
        self.bounce.as_ref()
    }

    /// Gives the bounce buffer back if the owner of `index`'s `Driver` phase holds it.
    ///
    /// # Safety
    ///
    /// The caller owns `index`'s `Driver` phase and the device no longer uses the buffer.
    #[inline]
    pub(crate) unsafe fn unbounce(&self, entry: &Entry, index: u16) {
        // SAFETY: The caller owns the `Driver` phase.
        let bounced = unsafe { entry.bounced() };
        if *bounced {
            *bounced = false;
            if let Some(b) = &self.bounce {
                b.release(index);
            }
        }
    }

    /// The entry of command index `index`, if the host has that index.
    #[inline(always)]
    pub(crate) fn get(&self, index: u16) -> Option<&Entry> {
        self.entries.get(usize::from(index))
    }

    /// Makes every abandoned index idle again, after a reset; returns how many there were.
    pub(crate) fn forgive_abandoned(&self) -> u32 {
        let mut n = 0;
        for (i, e) in self.entries.iter().enumerate() {
            if e.forgive() {
                n += 1;
                // The abandoned command may have held the bounce buffer, which the device has
                // forgotten too. CAST: the table has at most 65536 entries.
                if let Some(b) = &self.bounce {
                    b.release(i as u16);
                }
            }
        }
        n
    }
}
