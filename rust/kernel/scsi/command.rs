// SPDX-License-Identifier: GPL-2.0

//! SCSI commands and who owns them.
//!
//! C header: [`include/scsi/scsi_cmnd.h`](srctree/include/scsi/scsi_cmnd.h)
//!
//! A `struct scsi_cmnd` passes between the midlayer, the driver and the device. Rust makes the
//! driver's part a value:
//!
//! - [`Command`] is the driver's ownership of a command, from `queuecommand` until it is
//!   completed. It cannot be copied; [`Command::complete`] consumes it and calls `scsi_done()`,
//!   so a command is completed at most once by construction. Dropping a `Command` without
//!   completing it is a driver bug: the command is then completed with `DID_ERROR` and a
//!   warning, so that nothing is lost and nothing hangs.
//! - While the device holds a command the driver holds no `Command`:
//!   [`Command::into_hardware`] gives it up and returns the [`ContextTag`] to give the device,
//!   and [`crate::scsi::Host::take_from_hardware`] returns it when the device reports it done.
//!   A context the device reports twice, late (after an abort or reset reclaimed the command)
//!   or made up gives `None`.
//! - [`EhCommand`] is a command seen by the error handler, which owns it. The driver may only
//!   look at it, and [`EhCommand::reclaim`] it from the device once the device has let go.
//!
//! The state that makes this safe lives in the host's in-flight table, one entry per command
//! index ([`Command::index`]; see [`crate::scsi::inflight`]): who holds the index (nobody, a
//! `Command`, the device) and the generation of its last submission, which is the `seq` of
//! the context the device is given. The generation belongs to the index, not to the request:
//! under an I/O scheduler a driver tag passes between requests, and a completion reported late
//! for one of them must not match the next. The command's private area ([`CmdPdu`]) holds only
//! the driver's [`HostOps::CmdData`].
//!
//! ```text
//!        queuecommand            into_hardware            take_from_hardware
//!  Idle ─────────────▶ Driver ─────────────────▶ Hardware ───────────────────▶ Driver
//!   ▲                   │  │                        │                           │
//!   │     complete()    │  │ Refused (give back)    │ reclaim() (EH, reset)      │
//!   └───────────────────┴──┴────────────────────────┴───────────────────────────┘
//! ```
//!
//! The midlayer never sees a command in the `Driver` phase: `queuecommand` refuses an index
//! whose previous command still has a `Command` (a completion racing the error handler), and
//! the error handler's entry points return only once no `Command` exists for the commands they
//! hand back (see `HostOps::eh_abort`).
//!
//! The scatterlist is DMA-mapped by [`Command::dma_map`] and unmapped when the command leaves
//! the driver (completion, refusal, reclaim); the mapping cannot be forgotten.

use crate::ffi::c_ulong;
use crate::{
    bindings,
    dma::DataDirection,
    prelude::*,
    scsi::{
        device::ScsiDevice,
        host::{Busy, Host, HostOps},
        inflight::Entry,
        ring::ContextTag,
        sg::{self, Segment},
        status::{result_word, HostByte, ScsiStatus},
        trace,
    },
};
use core::{marker::PhantomData, mem, ptr::NonNull};

/// Size of the sense buffer the midlayer gives every command (`SCSI_SENSE_BUFFERSIZE`).
pub const SENSE_BUFFERSIZE: usize = bindings::SCSI_SENSE_BUFFERSIZE as usize;

/// The private area of a command of a host of `T` (`scsi_cmd_priv()`): the driver's data.
///
/// Who holds the command is not recorded here but in the host's in-flight table, by command
/// index (see the [module documentation](self)).
#[repr(C)]
pub struct CmdPdu<T: HostOps> {
    data: T::CmdData,
}

/// The private area of `cmd`: `scsi_cmd_priv()`, which is `cmd + 1` (the midlayer allocates
/// `cmd_size` bytes right after the `struct scsi_cmnd`). Computed here rather than through the
/// C helper: it is on the path of every command.
///
/// # Safety
///
/// `cmd` must point to a command allocated by the midlayer.
#[inline(always)]
unsafe fn cmd_priv(cmd: *mut bindings::scsi_cmnd) -> *mut u8 {
    // SAFETY: The private area follows the command in the same allocation.
    unsafe { cmd.add(1).cast::<u8>() }
}

/// The request of `cmd`: `scsi_cmd_to_rq()`, which is `blk_mq_rq_from_pdu()`, the address
/// `sizeof(struct request)` bytes before the command (a command is its request's PDU).
///
/// # Safety
///
/// `cmd` must point to a command allocated by the midlayer.
#[inline(always)]
unsafe fn cmd_rq(cmd: *mut bindings::scsi_cmnd) -> *mut bindings::request {
    // SAFETY: The request precedes its PDU in the same allocation.
    unsafe {
        cmd.cast::<u8>()
            .sub(mem::size_of::<bindings::request>())
            .cast::<bindings::request>()
    }
}

/// Tags per hardware queue of a host: `can_queue` and the reserved commands
/// (`tag_set.queue_depth`).
///
/// # Safety
///
/// `shost` must be a valid host.
#[inline(always)]
pub(crate) unsafe fn tags_per_queue(shost: *const bindings::Scsi_Host) -> u32 {
    // SAFETY: The caller's promise; both are set before the host is added and never change.
    let (can_queue, reserved) = unsafe { ((*shost).can_queue, (*shost).nr_reserved_cmds) };
    // CAST: `can_queue` is positive (the registration sets it from a `u32`).
    (can_queue as u32).saturating_add(reserved)
}

/// The index of `cmd` among all its host's commands: its tag when the host has one hardware
/// queue or shares tags between queues (`host_tagset`), else `hwq * depth + tag`, where `depth`
/// is `can_queue` plus the reserved commands (whose tags come first in each queue). Below
/// `nr_hw_queues * depth`, which [`crate::scsi::Registration::new`] keeps within 65536.
///
/// # Safety
///
/// `cmd` must be a command of a host in use whose request is started (`tag` and `mq_hctx` set).
#[inline(always)]
unsafe fn raw_index(cmd: *mut bindings::scsi_cmnd) -> u16 {
    // SAFETY: The caller's promise; a command's device and host outlive it.
    let (tag, hwq, shost) = unsafe {
        let rq = cmd_rq(cmd);
        ((*rq).tag, (*(*rq).mq_hctx).queue_num, (*(*cmd).device).host)
    };
    // CAST: a started request's tag is below `can_queue`, itself below 65536 here.
    let tag = tag as u32;
    if hwq == 0 {
        return tag as u16;
    }
    // SAFETY: `shost` is the command's host, valid; these fields are set before the host is
    // added and never change.
    let (shared, depth) = unsafe { ((*shost).host_tagset() != 0, tags_per_queue(shost)) };
    if shared {
        return tag as u16;
    }
    // CAST: `Registration::new` refused hosts whose indices do not fit in 16 bits.
    (hwq * depth + tag) as u16
}

/// `sg_dma_len()`: the mapped length of a scatterlist entry.
#[inline(always)]
fn sg_dma_len(e: &bindings::scatterlist) -> u32 {
    #[cfg(CONFIG_NEED_SG_DMA_LENGTH)]
    {
        e.dma_length
    }
    #[cfg(not(CONFIG_NEED_SG_DMA_LENGTH))]
    {
        e.length
    }
}

/// A walk over the entries of a scatterlist, following chain links, stepped by its caller
/// ([`sg::Walk`]): `for_each_sg()`, written out (from `include/linux/scatterlist.h`) because
/// the SG cursor takes it for every segment of every command. It reads each entry as its bus
/// segment (`sg_dma_address()`, `sg_dma_len()`) or, with `PHYS`, as its guest-physical one
/// (`sg_phys()`, `length`).
///
/// Unlike `sg_next()`, it does not look for the end mark: its caller steps it only when it
/// wants one more entry, so it never reads past the entry it was asked to stop at (which may
/// be before the marked end, as after a DMA mapping that merged entries), and keeps no count.
///
/// # Invariants
///
/// `sg` is the entry the walk is at, in a list that stays valid and unchanged for `'a`; or the
/// list is empty, and the walk is at no entry.
struct SgWalk<'a, const PHYS: bool> {
    sg: *mut bindings::scatterlist,
    _list: PhantomData<&'a bindings::scatterlist>,
}

impl<'a, const PHYS: bool> SgWalk<'a, PHYS> {
    /// A walk at `sg`, the first entry of a list (or anything, for an empty list).
    ///
    /// # Safety
    ///
    /// Unless the list is empty, `sg` is its first entry, and the list stays valid and
    /// unchanged for `'a`.
    #[inline(always)]
    unsafe fn new(sg: *mut bindings::scatterlist) -> Self {
        // INVARIANT: The caller's promise.
        SgWalk {
            sg,
            _list: PhantomData,
        }
    }

    /// `sg_chain_ptr()`: the array a chain link's `page_link` points to. Out of line: a list
    /// has a link every `SG_CHUNK_SIZE` (128) entries at most, and the branch to it stays a
    /// branch, cheaper on the path of every other entry than a select.
    #[cold]
    #[inline(never)]
    fn chain_ptr(link: c_ulong) -> *mut bindings::scatterlist {
        // CAST: the flag bits of `page_link`, as in `sg_chain_ptr()`.
        core::ptr::with_exposed_provenance_mut(link & !(bindings::SG_PAGE_LINK_MASK as c_ulong))
    }
}

impl<const PHYS: bool> sg::Walk for SgWalk<'_, PHYS> {
    #[inline(always)]
    unsafe fn segment(&self) -> Segment {
        // SAFETY: The walk is at an entry (the caller's promise), so `sg` is that entry, valid
        // for `'a` (the invariant).
        let e = unsafe { &*self.sg };
        if PHYS {
            Segment {
                // SAFETY: `e` is an entry of a command's list, whose page the block layer set
                // (`sg_phys()` reads `page_link` and `offset`).
                addr: unsafe { bindings::sg_phys(self.sg) },
                len: e.length,
            }
        } else {
            Segment {
                addr: e.dma_address,
                len: sg_dma_len(e),
            }
        }
    }

    #[inline(always)]
    unsafe fn advance(&mut self) {
        // SAFETY: An entry follows the one the walk is at (the caller's promise), so
        // `sg + 1` is in its array: that entry, or a chain link to the array it is in.
        let next = unsafe { self.sg.add(1) };
        // SAFETY: As above, `next` is an entry of the list, valid for `'a` (the invariant).
        let link = unsafe { (*next).page_link };
        // INVARIANT: The walk is at the entry after the one it was at: the next in the array,
        // or the first of the array a chain link points to.
        // CAST: the flag bit of `page_link`, as in `sg_is_chain()`.
        self.sg = if link & bindings::SG_CHAIN as c_ulong != 0 {
            Self::chain_ptr(link)
        } else {
            next
        };
    }
}

impl<T: HostOps> CmdPdu<T> {
    /// Initialises the PDU of `cmd`.
    ///
    /// # Safety
    ///
    /// `cmd`'s private area must be `size_of::<CmdPdu<T>>()` bytes, uninitialised and unused.
    pub(crate) unsafe fn init(cmd: *mut bindings::scsi_cmnd) {
        // SAFETY: The caller's promise.
        let p = unsafe { cmd_priv(cmd) }.cast::<Self>();
        crate::build_assert::build_assert!(
            mem::align_of::<Self>() <= mem::align_of::<bindings::scsi_cmnd>()
        );
        // SAFETY: `p` is valid for writes and aligned: the private area directly follows a
        // `struct scsi_cmnd`, whose alignment is at least ours (checked above).
        unsafe {
            p.write(Self {
                data: T::CmdData::default(),
            })
        };
    }

    /// Drops the PDU of `cmd`.
    ///
    /// # Safety
    ///
    /// The PDU must have been initialised by [`CmdPdu::init`] and be dropped once.
    pub(crate) unsafe fn drop_in_place(cmd: *mut bindings::scsi_cmnd) {
        // SAFETY: The caller's promise.
        unsafe { core::ptr::drop_in_place(cmd_priv(cmd).cast::<Self>()) };
    }

    /// # Safety
    ///
    /// `cmd` must be a command of a host of `T` whose PDU is initialised.
    #[inline(always)]
    unsafe fn of<'a>(cmd: *mut bindings::scsi_cmnd) -> &'a Self {
        // SAFETY: The caller's promise.
        unsafe { &*cmd_priv(cmd).cast::<Self>() }
    }
}

/// Read access to the parts of a command every owner may look at.
///
/// # Safety
///
/// Implementors return a valid command whose PDU is initialised.
unsafe trait CmdView<T: HostOps> {
    fn raw(&self) -> *mut bindings::scsi_cmnd;

    #[inline(always)]
    fn pdu(&self) -> &CmdPdu<T> {
        // SAFETY: By the trait's contract.
        unsafe { CmdPdu::of(self.raw()) }
    }
}

/// Which command a [`Command`] or [`EhCommand`] is: the identity of its `struct scsi_cmnd`
/// (and so of its request), which stays the same when the midlayer queues the command again
/// (`scsi_queue_insert()`, a retry after the error handler) but not when the block layer gives
/// the same driver tag to another request, as [`Command::index`] does.
///
/// Two commands alive at once never have the same id; a command freed and allocated again may.
/// Meant for checks such as a test device's "is this the command I was given": by the type
/// invariant of [`Command`], a driver never holds two `Command`s with the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandId(usize);

macro_rules! command_accessors {
    () => {
        /// Which command this is (see [`CommandId`]).
        #[inline]
        pub fn id(&self) -> CommandId {
            CommandId(self.raw() as usize)
        }

        /// The CDB.
        #[inline]
        pub fn cdb(&self) -> &[u8] {
            // SAFETY: The command is valid; `cmd_len` bytes of `cmnd` are set by the midlayer
            // before the driver sees the command and do not change while it owns it.
            unsafe {
                let c = &*self.raw();
                &c.cmnd[..usize::from(c.cmd_len).min(c.cmnd.len())]
            }
        }

        /// The CDB in the whole of the midlayer's CDB field (`cmnd`, 32 bytes), for a driver
        /// that copies a fixed-size CDB field into its frame: a copy of known size, without a
        /// call to `memcpy`. The bytes after [`Self::cdb`] are zero as the midlayer leaves them
        /// (it clears `cmnd` before a CDB is written into it: `scsi_initialize_rq()` for
        /// passthrough requests, `scsi_prepare_cmd()` for the others, `scsi_eh_prep_cmnd()`
        /// for the error handler's); a device takes a CDB's length from its operation code.
        #[inline]
        pub fn cdb_padded(&self) -> &[u8; 32] {
            // SAFETY: As in `cdb`: the field is set before the driver sees the command and does
            // not change while it owns it.
            unsafe { &(*self.raw()).cmnd }
        }

        /// The data direction.
        #[inline]
        pub fn direction(&self) -> DataDirection {
            // SAFETY: The command is valid; the direction is set before queueing.
            let d = unsafe { (*self.raw()).sc_data_direction };
            match d {
                bindings::dma_data_direction::DMA_TO_DEVICE => DataDirection::ToDevice,
                bindings::dma_data_direction::DMA_FROM_DEVICE => DataDirection::FromDevice,
                bindings::dma_data_direction::DMA_BIDIRECTIONAL => DataDirection::Bidirectional,
                _ => DataDirection::None,
            }
        }

        /// Bytes to transfer (`scsi_bufflen()`).
        #[inline]
        pub fn transfer_len(&self) -> u32 {
            // SAFETY: The command is valid; `sdb.length` is set before queueing.
            unsafe { (*self.raw()).sdb.length }
        }

        /// The block layer's tag, unique among the commands in flight on its hardware queue.
        #[inline]
        pub fn tag(&self) -> u16 {
            // SAFETY: The command is valid and its request started, so `tag` holds its driver
            // tag, below the host's `can_queue` (at most 16 bits, as in
            // `blk_mq_unique_tag()`).
            let tag = unsafe { (*cmd_rq(self.raw())).tag };
            // CAST: the low 16 bits, as `blk_mq_unique_tag_to_tag()` takes them.
            tag as u16
        }

        /// The hardware queue the command came on.
        #[inline]
        pub fn hwq(&self) -> u16 {
            // SAFETY: The command is valid and its request started, so `mq_hctx` points to its
            // hardware queue (`blk_mq_unique_tag_to_hwq()` reads the same number).
            let q = unsafe { (*(*cmd_rq(self.raw())).mq_hctx).queue_num };
            u16::try_from(q).unwrap_or(u16::MAX)
        }

        /// The device the command is for.
        #[inline]
        pub fn device(&self) -> &ScsiDevice {
            // SAFETY: A command holds a reference on its device for its whole life.
            unsafe { ScsiDevice::from_ptr((*self.raw()).device) }
        }

        /// The driver's per-command data.
        #[inline]
        pub fn data(&self) -> &T::CmdData {
            &self.pdu().data
        }
    };
}

/// The driver's ownership of a command; see the [module documentation](self).
///
/// # Invariants
///
/// `cmd` is a valid command of a host of `T` with an initialised PDU; `entry` is the in-flight
/// entry of its index `index`, in the host's table, which outlives every command of the host;
/// the entry is in the `Driver` phase for `cmd`, and this is the only `Command` for it.
pub struct Command<T: HostOps> {
    cmd: NonNull<bindings::scsi_cmnd>,
    entry: NonNull<Entry>,
    index: u16,
    _p: PhantomData<T>,
}

// SAFETY: Owning a command may move between CPUs: a command is queued on one and completed from
// an interrupt on another. `T::CmdData` is `Send + Sync`; the entry is `Sync`.
unsafe impl<T: HostOps> Send for Command<T> {}
// SAFETY: `&Command` only reads fields the midlayer set before queueing, and the entry, which is
// `Sync`.
unsafe impl<T: HostOps> Sync for Command<T> {}

// SAFETY: `cmd` is valid with an initialised PDU by the type invariant.
unsafe impl<T: HostOps> CmdView<T> for Command<T> {
    #[inline(always)]
    fn raw(&self) -> *mut bindings::scsi_cmnd {
        self.cmd.as_ptr()
    }
}

impl<T: HostOps> Command<T> {
    command_accessors!();

    /// The command's index among all the host's commands: its tag when the host has one
    /// hardware queue or shares tags between queues (`host_tagset`), else `hwq * depth + tag`,
    /// where `depth` is `can_queue` plus the reserved commands (whose tags come first in each
    /// queue). Below `nr_hw_queues * depth` (which [`crate::scsi::Registration::new`] keeps
    /// within 65536): the index of the command's slots in a [`crate::scsi::SlotPool`] and of
    /// its [`ContextTag`].
    #[inline(always)]
    pub fn index(&self) -> u16 {
        self.index
    }

    #[inline(always)]
    fn entry(&self) -> &Entry {
        // SAFETY: By the type invariant the entry is in the host's table, which outlives us.
        unsafe { self.entry.as_ref() }
    }

    /// The host of the command.
    #[inline]
    pub(crate) fn host(&self) -> &Host<T> {
        // SAFETY: By the type invariant the command is valid, of a host of `T` that is in use
        // (its data initialised) for as long as a `Command` exists.
        unsafe { Host::from_raw((*(*self.raw()).device).host) }
    }

    /// The host this command's slots must come from: a [`crate::scsi::SlotPool`] serves one.
    #[inline]
    pub(crate) fn host_id(&self) -> usize {
        // SAFETY: By the type invariant the command and its device are valid.
        unsafe { (*(*self.raw()).device).host as usize }
    }

    /// Sends the command's data through the host's bounce buffer
    /// ([`HostConfig::bounce_bytes`](crate::scsi::HostConfig)), for a scatterlist the
    /// hardware cannot describe: claims the buffer, copies a write's data into it, and returns
    /// the one segment that describes it. `None` when the host has no buffer, the transfer
    /// does not fit, or another command holds it (refuse the command as host busy: it is
    /// retried).
    ///
    /// The buffer is the command's index's until the command is completed, refused or
    /// reclaimed, which give it back whatever the driver does; a read's data is copied out by
    /// [`Command::copy_from_bounce`].
    pub fn bounce(&mut self) -> Option<Segment> {
        let len = self.transfer_len();
        let b = self.host().inflight().bounce()?;
        let n = usize::try_from(len).ok()?;
        if n > b.buf.len() || !b.claim(self.index) {
            return None;
        }
        // SAFETY: We own the entry's `Driver` phase.
        unsafe { *self.entry().bounced() = true };
        let to_device = self.direction() == DataDirection::ToDevice;
        trace::bounce(|| {
            (
                self.host().host_no(),
                self.hwq(),
                self.tag(),
                len,
                to_device,
            )
        });
        if to_device {
            // SAFETY: We own the buffer (claimed above) and the device has not been given it;
            // the scatterlist describes `scsi_sg_count` entries and the buffer holds `n`
            // bytes. No reference to the DMA-coherent memory is made.
            unsafe {
                bindings::sg_copy_to_buffer(
                    bindings::scsi_sglist(self.raw()),
                    bindings::scsi_sg_count(self.raw()),
                    b.buf.as_mut_ptr().cast(),
                    n,
                )
            };
        }
        Some(Segment {
            addr: b.buf.dma_address(),
            len,
        })
    }

    /// For a read sent through the bounce buffer ([`Command::bounce`]) that the device
    /// completed: copies the data out into the command's scatterlist. Returns whether the
    /// command was bounced.
    pub fn copy_from_bounce(&mut self) -> bool {
        // SAFETY: We own the entry's `Driver` phase.
        if !unsafe { *self.entry().bounced() } {
            return false;
        }
        let Some(b) = self.host().inflight().bounce() else {
            return false;
        };
        if self.direction() == DataDirection::FromDevice {
            let n = usize::try_from(self.transfer_len())
                .unwrap_or(0)
                .min(b.buf.len());
            // SAFETY: The command's index holds the buffer (`bounced`) and the device gave the
            // command back, so it no longer writes the buffer; the scatterlist describes
            // `scsi_sg_count` entries and the buffer holds at least `n` bytes.
            unsafe {
                bindings::sg_copy_from_buffer(
                    bindings::scsi_sglist(self.raw()),
                    bindings::scsi_sg_count(self.raw()),
                    b.buf.as_ptr().cast(),
                    n,
                )
            };
        }
        true
    }

    /// Takes ownership of a command the midlayer gives the driver now (`queuecommand`): claims
    /// its index in the host's in-flight table. `Err(Some(_))` when the index is not idle: a
    /// `Command` of the index's previous command still exists (a completion that raced the
    /// error handler is being finished), and the midlayer should retry shortly. `Err(None)`
    /// when the index is abandoned ([`Phase::Abandoned`](crate::scsi::ring::Phase)): the
    /// device may still use its slots, so the command cannot run until a reset; the caller
    /// ends it ([`end_unqueued`]).
    ///
    /// # Safety
    ///
    /// `cmd` is a command of `host`, started, with an initialised PDU, that the midlayer gives
    /// the driver now.
    #[inline]
    pub(crate) unsafe fn from_queue(
        host: &Host<T>,
        cmd: NonNull<bindings::scsi_cmnd>,
    ) -> Result<Self, Option<Busy>> {
        // SAFETY: The caller's promise.
        let index = unsafe { raw_index(cmd.as_ptr()) };
        let Some(entry) = host.inflight().get(index) else {
            // `Registration::new` sized the table for every index; never taken.
            crate::pr_err!("scsi: command index {} beyond the host's table\n", index);
            return Err(Some(Busy::Host));
        };
        match entry.claim(cmd.as_ptr()) {
            Ok(()) => {}
            Err(st) if st.phase == crate::scsi::ring::Phase::Hardware => {
                // The index's previous command was ended by the midlayer while the device held
                // it, without the driver (the error handler's wrappers reclaim what the
                // midlayer takes back, so this is a driver or midlayer bug). Its completion
                // will match nothing from here; its DMA mapping, if any, is lost.
                crate::pr_warn!(
                    "scsi: index {} reused while the device held its previous command\n",
                    index
                );
                if !entry.claim_stale(cmd.as_ptr()) {
                    return Err(Some(Busy::Device));
                }
            }
            Err(st) if st.phase == crate::scsi::ring::Phase::Abandoned => return Err(None),
            Err(_) => return Err(Some(Busy::Device)),
        }
        // INVARIANT: We moved the entry to `Driver` for `cmd`; no other `Command` exists.
        Ok(Self {
            cmd,
            entry: NonNull::from(entry),
            index,
            _p: PhantomData,
        })
    }

    /// A command taken back from the device through its entry.
    ///
    /// # Safety
    ///
    /// The caller moved `entry` (the entry of `index`) from `Hardware` to `Driver`; `cmd` is
    /// the command it held.
    #[inline]
    pub(crate) unsafe fn from_entry(
        cmd: *mut bindings::scsi_cmnd,
        entry: &Entry,
        index: u16,
    ) -> Option<Self> {
        // INVARIANT: The caller's promise; a command in the device is valid and started.
        Some(Self {
            cmd: NonNull::new(cmd)?,
            entry: NonNull::from(entry),
            index,
            _p: PhantomData,
        })
    }

    /// Takes back `cmd` if the device holds it, whatever its generation.
    ///
    /// # Safety
    ///
    /// `cmd` must be a started command of `host` with an initialised PDU.
    pub(crate) unsafe fn take_any_from_hardware(
        host: &Host<T>,
        cmd: NonNull<bindings::scsi_cmnd>,
    ) -> Option<Self> {
        // SAFETY: The caller's promise.
        let index = unsafe { raw_index(cmd.as_ptr()) };
        let entry = host.inflight().get(index)?;
        if !entry.take_cmd(cmd.as_ptr()) {
            return None;
        }
        // SAFETY: We moved the entry from `Hardware` to `Driver` for `cmd`.
        unsafe { Self::from_entry(cmd.as_ptr(), entry, index) }
    }

    /// Whether this is the last command of a batch (`SCMD_LAST`): the driver must post it and
    /// every command queued before it.
    #[inline]
    pub fn is_last(&self) -> bool {
        // SAFETY: We own the command; `flags` is set before queueing.
        let flags = unsafe { (*self.raw()).flags };
        // CAST: `SCMD_LAST` is a small flag bit.
        flags & bindings::SCMD_LAST as c_int != 0
    }

    /// The sense buffer (`SENSE_BUFFERSIZE` bytes), for the device or the driver to fill.
    #[inline]
    pub fn sense_buffer(&mut self) -> &mut [u8] {
        // SAFETY: The midlayer gives every command a `SCSI_SENSE_BUFFERSIZE`-byte sense buffer,
        // which the owner of the command may write.
        unsafe { core::slice::from_raw_parts_mut((*self.raw()).sense_buffer, SENSE_BUFFERSIZE) }
    }

    /// Sets the result: host byte and SCSI status.
    #[inline]
    pub fn set_result(&mut self, host: HostByte, status: ScsiStatus) {
        // CAST: The result word is a C `int` holding these bits.
        let word = result_word(host, status) as c_int;
        // SAFETY: We own the command; `result` is the driver's to set.
        unsafe { (*self.raw()).result = word };
    }

    /// Sets the residual: bytes of the transfer that did not happen.
    pub fn set_resid(&mut self, resid: u32) {
        // SAFETY: We own the command.
        unsafe { bindings::scsi_set_resid(self.raw(), resid) }
    }

    /// DMA-maps the command's scatterlist and returns the number of mapped segments (0 for a
    /// command without data). Mapping twice returns the first mapping's count.
    ///
    /// # Errors
    ///
    /// `ENOMEM` when the mapping fails: the driver should refuse the command as host busy.
    #[inline]
    pub fn dma_map(&mut self) -> Result<usize> {
        // SAFETY: We own the entry's `Driver` phase, and with it `mapped`.
        let mapped = unsafe { self.entry().mapped() };
        if *mapped > 0 {
            return Ok(usize::try_from(*mapped).unwrap_or(0));
        }
        // SAFETY: We own the command; `scsi_dma_map` maps its data buffer.
        let n = unsafe { bindings::scsi_dma_map(self.raw()) };
        if n < 0 {
            return Err(ENOMEM);
        }
        *mapped = n;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The mapped segments, in order (nothing before [`Command::dma_map`]).
    #[inline]
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        self.mapped_within(sg::Limits::NONE).into_iter()
    }

    /// The mapped segments as a list for [`sg::write_within`], which writes them without
    /// checking each against the HBA's limits when their source's guarantee covers those.
    ///
    /// The guarantee is the request queue's limits (`max_segment_size`, `seg_boundary_mask`),
    /// to which the block layer built the list, and which the DMA API keeps when it merges
    /// entries behind an IOMMU, under the DMA device's parameters: `scsi_init_limits()` gives
    /// both the host's values. A DMA device without parameters (`dma_parms`; every PCI
    /// function has them) guarantees nothing ([`sg::Limits::NONE`]): an IOMMU would merge under
    /// its defaults.
    #[inline]
    pub fn mapped_list(&self) -> sg::Within<impl sg::Walk + '_> {
        // SAFETY: `parent()` is a valid device (the one given to `scsi_add_host`, which
        // outlives the host and so the command).
        let parms = unsafe { (*self.host().parent().as_raw()).dma_parms };
        let limits = if parms.is_null() {
            sg::Limits::NONE
        } else {
            self.queue_limits()
        };
        self.mapped_within(limits)
    }

    /// The mapped segments, each within `limits`.
    #[inline(always)]
    fn mapped_within(&self, limits: sg::Limits) -> sg::Within<SgWalk<'_, false>> {
        // SAFETY: We own the entry's `Driver` phase, and with it `mapped`.
        let count = usize::try_from(*unsafe { self.entry().mapped() }).unwrap_or(0);
        // SAFETY: `sdb.table.sgl` is the command's scatterlist (`scsi_sglist()`), whose first
        // `count` entries are mapped (`scsi_dma_map()` returned `count`, at most the list's
        // length; none before it), and which the command keeps unchanged while the driver owns
        // it, for as long as `self` is borrowed.
        unsafe { sg::Within::new(count, limits, SgWalk::new((*self.raw()).sdb.table.sgl)) }
    }

    /// The command's guest-physical segments ([`Command::phys_segments`]) as a list for
    /// [`sg::write_within`]: the block layer built them to the request queue's limits.
    #[inline]
    pub fn phys_list(&self) -> sg::Within<impl sg::Walk + '_> {
        self.phys_within(self.queue_limits())
    }

    /// The command's guest-physical segments, each within `limits`.
    #[inline(always)]
    fn phys_within(&self, limits: sg::Limits) -> sg::Within<SgWalk<'_, true>> {
        // SAFETY: We own the command; `sdb.table` describes its data (`scsi_sglist()`,
        // `scsi_sg_count()`: a list of `nents` entries), set before queueing and unchanged
        // while the driver owns it, for as long as `self` is borrowed.
        unsafe {
            let t = &(*self.raw()).sdb.table;
            // CAST: `nents` is a C `unsigned int`.
            sg::Within::new(t.nents as usize, limits, SgWalk::new(t.sgl))
        }
    }

    /// The limits of the command's request queue, which the block layer built its list to.
    #[inline]
    fn queue_limits(&self) -> sg::Limits {
        // SAFETY: We own the command, so its request is started; the request's queue outlives
        // its requests.
        let l = unsafe { &(*(*cmd_rq(self.raw())).q).limits };
        sg::Limits {
            max_segment_size: l.max_segment_size,
            // CAST: `unsigned long` is 64 bits wide or less.
            boundary_mask: l.seg_boundary_mask as u64,
            max_segments: usize::from(l.max_segments),
        }
    }

    /// The command's data as guest-physical segments (`sg_phys()` and `length` of each entry
    /// of its scatterlist), in order, without DMA-mapping anything: for a device whose bus
    /// contract is that it addresses guest-physical memory itself, bypassing the DMA API and
    /// any IOMMU. That is a virtio device without `VIRTIO_F_ACCESS_PLATFORM`, for which the C
    /// ring does the same (`vring_use_dma_api()` is false, `vring_map_one_sg()` writes
    /// `sg_phys()`). Any other device needs [`Command::dma_map`] and [`Command::segments`].
    ///
    /// There is nothing to undo: the pages are the request's, held by the block layer until
    /// the command is completed, and the ownership rules that keep a mapping alive while the
    /// device holds the command keep the pages too.
    #[inline]
    pub fn phys_segments(&self) -> impl Iterator<Item = Segment> + '_ {
        self.phys_within(sg::Limits::NONE).into_iter()
    }

    /// The context [`Command::into_hardware`] will return, to write into the device's frame
    /// before handing it over.
    #[inline]
    pub fn next_context(&self) -> ContextTag {
        self.entry().next_context(self.index)
    }

    /// Copies the command's data (its scatterlist's pages, not the DMA mapping) into `buf`, for
    /// a command sent through a bounce buffer or a host with no hardware; returns the bytes
    /// copied. Safe in atomic context.
    pub fn copy_to_buffer(&self, buf: &mut [u8]) -> usize {
        // SAFETY: We own the command; its scatterlist describes `scsi_sg_count` entries and
        // `buf` is valid for `buf.len()` bytes. `sg_copy_to_buffer` maps pages atomically.
        unsafe {
            bindings::sg_copy_to_buffer(
                bindings::scsi_sglist(self.raw()),
                bindings::scsi_sg_count(self.raw()),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        }
    }

    /// Copies `buf` into the command's data, for a read completed through a bounce buffer;
    /// returns the bytes copied. Safe in atomic context.
    pub fn copy_from_buffer(&mut self, buf: &[u8]) -> usize {
        // SAFETY: As in `copy_to_buffer`; `buf` is only read.
        unsafe {
            bindings::sg_copy_from_buffer(
                bindings::scsi_sglist(self.raw()),
                bindings::scsi_sg_count(self.raw()),
                buf.as_ptr().cast(),
                buf.len(),
            )
        }
    }

    /// Gives the command to the device: returns the context to put in the device's frame, and
    /// ends this `Command`. The command comes back through
    /// [`crate::scsi::Host::take_from_hardware`] with that context.
    #[inline]
    pub fn into_hardware(self) -> ContextTag {
        // Before the device may have it: once it does, a completion or the timeout handler may
        // end the command at any time.
        trace::submit(|| {
            // SAFETY: We own the entry's `Driver` phase, and with it `mapped` and `bounced`.
            let (mapped, bounced) = unsafe { (*self.entry().mapped(), *self.entry().bounced()) };
            let segments = if bounced {
                1
            } else {
                u16::try_from(mapped).unwrap_or(u16::MAX)
            };
            (
                self.host().host_no(),
                self.hwq(),
                self.tag(),
                self.next_context().to_u32(),
                segments,
                self.is_last(),
            )
        });
        // SAFETY: We own the entry's `Driver` phase and give it to the device.
        let ctx = unsafe { self.entry().submit(self.index) };
        mem::forget(self);
        ctx
    }

    /// Undoes the command's DMA mapping and gives back the bounce buffer, if it has them.
    #[inline]
    fn unmap(&self) {
        self.unmap_sg();
        // SAFETY: We own the entry's `Driver` phase, and with it `bounced`.
        if unsafe { *self.entry().bounced() } {
            // SAFETY: We own the `Driver` phase; the device gave the command back or was made
            // to let go of it, so it no longer uses the buffer.
            unsafe { self.host().inflight().unbounce(self.entry(), self.index) };
        }
    }

    /// Undoes the command's DMA mapping, if it has one.
    #[inline]
    fn unmap_sg(&self) {
        // SAFETY: We own the entry's `Driver` phase, and with it `mapped`.
        let mapped = unsafe { self.entry().mapped() };
        if *mapped > 0 {
            // SAFETY: The list was mapped by `dma_map` and not yet unmapped.
            unsafe { bindings::scsi_dma_unmap(self.raw()) };
            *mapped = 0;
        }
    }

    /// Ends this `Command` and lets go of the index; returns the command.
    #[inline]
    fn release(self) -> *mut bindings::scsi_cmnd {
        self.unmap();
        // SAFETY: We own the entry's `Driver` phase and give it up.
        unsafe { self.entry().release() };
        let raw = self.raw();
        mem::forget(self);
        raw
    }

    /// Completes the command (`scsi_done()`) with the result set before.
    #[inline]
    pub fn complete(self) {
        self.trace_complete();
        let raw = self.release();
        // SAFETY: We owned the command; the midlayer takes it back now, exactly once.
        unsafe { bindings::scsi_done(raw) };
    }

    /// Completes the command with CHECK CONDITION and fixed-format sense data (`key`, `asc`,
    /// `ascq`; `scsi_build_sense()`): for a command the driver ends itself because the device
    /// cannot take it (a CDB longer than its frames hold, say).
    pub fn complete_with_sense(mut self, key: crate::scsi::sense::SenseKey, asc: u8, ascq: u8) {
        use crate::scsi::sense;
        sense::build(self.sense_buffer(), sense::Format::Fixed, key, asc, ascq);
        self.complete_with(HostByte::Ok, ScsiStatus::CHECK_CONDITION);
    }

    /// Completes the command with `host` and `status`.
    #[inline]
    pub fn complete_with(mut self, host: HostByte, status: ScsiStatus) {
        self.set_result(host, status);
        self.complete();
    }

    /// The `rscsi_complete` event, for a command about to be completed.
    #[inline(always)]
    fn trace_complete(&self) {
        trace::complete(|| {
            // SAFETY: We own the command; `result` and `resid_len` (`scsi_get_resid()`) are the
            // driver's to set.
            let (result, resid) = unsafe { ((*self.raw()).result, (*self.raw()).resid_len) };
            (self.host().host_no(), self.hwq(), self.tag(), result, resid)
        });
    }

    /// Gives a refused command back to the midlayer without completing it.
    pub(crate) fn give_back(self) {
        let _ = self.release();
    }

    /// Completes the command with `host` while the device may still hold the index's last
    /// submission (a reserved command that timed out): the index stays unusable, its slots
    /// untouched, until the device returns that submission or a reset makes it forget it
    /// ([`Phase::Abandoned`](crate::scsi::ring::Phase)).
    pub(crate) fn complete_abandoned(mut self, host: HostByte) {
        self.set_result(host, ScsiStatus::GOOD);
        self.trace_complete();
        // The scatterlist goes with the request; a bounce buffer stays with the index, which
        // the device may still write (`InFlight::forgive_abandoned` gives it back).
        self.unmap_sg();
        // SAFETY: We own the entry's `Driver` phase and give it up.
        unsafe { self.entry().abandon() };
        let raw = self.raw();
        mem::forget(self);
        // SAFETY: We owned the command; the midlayer takes it back now, exactly once.
        unsafe { bindings::scsi_done(raw) };
    }
}

/// Ends a command the midlayer gave the driver without a [`Command`] ever being made for it
/// (its index is abandoned, see [`Command::from_queue`]): `DID_ERROR`.
///
/// # Safety
///
/// The midlayer gave `cmd` to the driver in this call of `queuecommand`, and nothing else
/// completes it.
pub(crate) unsafe fn end_unqueued(cmd: *mut bindings::scsi_cmnd) {
    // CAST: The result word is a C `int` holding these bits.
    let word = result_word(HostByte::Error, ScsiStatus::GOOD) as c_int;
    // SAFETY: The caller's promise: the command is ours to end, once.
    unsafe {
        (*cmd).result = word;
        bindings::scsi_done(cmd);
    }
}

impl<T: HostOps> Drop for Command<T> {
    fn drop(&mut self) {
        // A driver bug: a command that is neither completed nor given to the device would hang
        // until the midlayer times it out. Complete it with an error instead.
        crate::pr_warn!(
            "scsi: command tag {} dropped without completion; completing it with DID_ERROR\n",
            self.tag()
        );
        self.set_result(HostByte::Error, ScsiStatus::GOOD);
        self.trace_complete();
        self.unmap();
        // SAFETY: We own the entry's `Driver` phase and give it up; `self` is not used after
        // `drop`.
        unsafe { self.entry().release() };
        // SAFETY: We own the command and complete it once.
        unsafe { bindings::scsi_done(self.raw()) };
    }
}

/// A reserved command the driver ran for itself, once it has completed: what
/// [`crate::scsi::Host::execute_reserved`] returns. Its [`HostOps::CmdData`] holds what the
/// driver's completion left there; dropping it frees the command (`scsi_put_internal_cmd()`).
///
/// # Invariants
///
/// `cmd` is a completed internal command of a host of `T` (from `scsi_get_internal_cmd()`)
/// with an initialised PDU, which this value owns until it is dropped.
pub struct Reserved<'a, T: HostOps> {
    cmd: NonNull<bindings::scsi_cmnd>,
    _p: PhantomData<&'a Host<T>>,
}

// SAFETY: The PDU is valid by the type invariant.
unsafe impl<T: HostOps> CmdView<T> for Reserved<'_, T> {
    fn raw(&self) -> *mut bindings::scsi_cmnd {
        self.cmd.as_ptr()
    }
}

impl<T: HostOps> Reserved<'_, T> {
    /// # Safety
    ///
    /// `cmd` must be a completed internal command of a host of `T` with an initialised PDU,
    /// whose ownership passes to the new value.
    pub(crate) unsafe fn from_raw(cmd: NonNull<bindings::scsi_cmnd>) -> Self {
        // INVARIANT: The caller's promise.
        Self {
            cmd,
            _p: PhantomData,
        }
    }

    /// The driver's data of the command, as its completion left it.
    pub fn data(&self) -> &T::CmdData {
        &self.pdu().data
    }

    /// The host byte it completed with, as a raw byte (`host_byte()`).
    pub fn host_byte(&self) -> u8 {
        // SAFETY: By the type invariant the command is valid and completed: nobody writes
        // `result` any more.
        let result = unsafe { (*self.raw()).result };
        // CAST: Bits 23:16 of the result word.
        (result >> 16) as u8
    }

    /// `Ok` if it completed with `DID_OK`; `ETIMEDOUT` if it timed out, else `EIO`.
    pub fn result(&self) -> Result {
        match self.host_byte() {
            // CAST: Comparing `repr(u8)` host bytes.
            b if b == HostByte::Ok as u8 => Ok(()),
            b if b == HostByte::TimeOut as u8 => Err(ETIMEDOUT),
            _ => Err(EIO),
        }
    }
}

impl<T: HostOps> Drop for Reserved<'_, T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own the completed command; it is freed once.
        unsafe { bindings::scsi_put_internal_cmd(self.cmd.as_ptr()) };
    }
}

/// A command as the error handler shows it to the driver (`eh_abort_handler`, `eh_timed_out`);
/// the error handler owns it.
///
/// # Invariants
///
/// `self.0` is a valid, started command of a host of `T` in use, with an initialised PDU.
#[repr(transparent)]
pub struct EhCommand<T: HostOps>(crate::types::Opaque<bindings::scsi_cmnd>, PhantomData<T>);

// SAFETY: The PDU is valid by the type invariant.
unsafe impl<T: HostOps> CmdView<T> for EhCommand<T> {
    fn raw(&self) -> *mut bindings::scsi_cmnd {
        self.0.get()
    }
}

impl<T: HostOps> EhCommand<T> {
    command_accessors!();

    /// # Safety
    ///
    /// `cmd` must be a valid, started command of a host of `T` in use, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(cmd: *mut bindings::scsi_cmnd) -> (&'a Host<T>, &'a Self) {
        // SAFETY: A command's device and host outlive it; the host is in use.
        let host = unsafe { Host::from_raw((*(*cmd).device).host) };
        // SAFETY: `EhCommand` is a transparent wrapper of the valid `cmd`.
        (host, unsafe { &*cmd.cast::<Self>() })
    }

    /// The command's index among all the host's commands (see [`Command::index`]).
    #[inline]
    pub fn index(&self) -> u16 {
        // SAFETY: By the type invariant the command is valid and started.
        unsafe { raw_index(self.raw()) }
    }

    /// The command's in-flight entry.
    fn entry(&self) -> Option<&Entry> {
        // SAFETY: By the type invariant the command's host is in use.
        let host = unsafe { Host::<T>::from_raw((*(*self.raw()).device).host) };
        let entry = host.inflight().get(self.index())?;
        // SAFETY: The entry lives in the host's table, as long as the host, which outlives the
        // error handler's use of this command.
        Some(unsafe { &*core::ptr::from_ref(entry) })
    }

    /// Whether the device holds the command (given by [`Command::into_hardware`] and not yet
    /// taken back).
    pub fn in_hardware(&self) -> bool {
        self.context().is_some()
    }

    /// The context the device knows the command by, if it holds it.
    pub fn context(&self) -> Option<ContextTag> {
        self.entry()?.in_hardware(self.index(), self.raw())
    }

    /// Whether a `Command` for this command exists now (the driver is completing it).
    pub(crate) fn owned_by_driver(&self) -> bool {
        self.entry().is_some_and(|e| e.owned_by_driver(self.raw()))
    }

    /// Records that the device has let go of the command (it was aborted or the device reset):
    /// a later completion with its context is then ignored, and its DMA mapping is undone.
    /// Returns false if the command was not in the device (it completed meanwhile).
    pub fn reclaim(&self) -> bool {
        let Some(entry) = self.entry() else {
            return false;
        };
        if !entry.take_cmd(self.raw()) {
            return false;
        }
        // SAFETY: We moved the entry from `Hardware` to `Driver` for this command.
        if let Some(cmd) = unsafe { Command::<T>::from_entry(self.raw(), entry, self.index()) } {
            // Undoes the mapping, gives back the bounce buffer and the index; the error
            // handler, not the driver, ends the command.
            cmd.give_back();
        }
        true
    }
}

/// The layout shortcuts above (`cmd_priv`, `cmd_rq`, `SgWalk`) against the C helpers they
/// stand for. They are written out because `CONFIG_RUST_INLINE_HELPERS` needs rustc and clang
/// on the same LLVM (here rustc 1.96 is on LLVM 22 and the kernel is built with clang 19), so
/// each helper would be an out-of-line call on the path of every command; these tests keep
/// them equal to the helpers.
#[cfg(CONFIG_RUST_SCSI_KUNIT_TEST)]
#[::kernel::macros::kunit_tests(rust_scsi_layout)]
mod tests {
    use super::*;

    /// Room for a request followed by its command and a private area, as the block layer
    /// lays them out.
    #[repr(C, align(64))]
    struct Room([u8; 4096]);

    #[test]
    fn private_area_and_request_match_the_helpers() -> Result {
        assert!(mem::size_of::<bindings::request>() + mem::size_of::<bindings::scsi_cmnd>() < 4000);
        let mut room = KBox::new(Room([0; 4096]), GFP_KERNEL)?;
        let base = room.0.as_mut_ptr();
        // SAFETY: Within `room`.
        let cmd =
            unsafe { base.add(mem::size_of::<bindings::request>()) }.cast::<bindings::scsi_cmnd>();
        // SAFETY: `cmd` lies in `room` with a request's size before it and a command's after;
        // the helpers and the shortcuts only compute addresses.
        let (priv_ours, priv_c, rq_ours, rq_c) = unsafe {
            (
                cmd_priv(cmd).cast::<crate::ffi::c_void>(),
                bindings::scsi_cmd_priv(cmd),
                cmd_rq(cmd),
                bindings::scsi_cmd_to_rq(cmd),
            )
        };
        assert_eq!(priv_ours, priv_c);
        assert_eq!(rq_ours, rq_c);
        Ok(())
    }

    #[test]
    fn sg_walk_follows_chains_as_sg_next() {
        // SAFETY: A scatterlist entry is plain data; all zeroes is a valid unused entry.
        let mut a: [bindings::scatterlist; 3] = unsafe { mem::zeroed() };
        // SAFETY: As above.
        let mut b: [bindings::scatterlist; 2] = unsafe { mem::zeroed() };
        // SAFETY: Both arrays are valid for their lengths; `sg_init_table()` marks the last
        // entry of each as the end.
        unsafe {
            bindings::sg_init_table(a.as_mut_ptr(), 3);
            bindings::sg_init_table(b.as_mut_ptr(), 2);
        }
        // `sg_chain(a, 3, b)`: the last entry of `a` becomes a link to `b` (not an end).
        // CAST: the flag bits of `page_link`, as `sg_chain()` sets them.
        a[2].page_link = (b.as_mut_ptr() as c_ulong) | bindings::SG_CHAIN as c_ulong;
        // Every prefix of the list (a[0], a[1], then b[0], b[1]: the link entry is skipped),
        // as a mapping that merged entries leaves: the walk stops at it, `sg_next()` agrees
        // on each entry on the way.
        for n in 0..=4 {
            // SAFETY: The valid, chained table built above has 4 entries.
            let mut walk = unsafe { SgWalk::<'_, false>::new(a.as_mut_ptr()) };
            let mut theirs = a.as_mut_ptr();
            for i in 0..n {
                if i > 0 {
                    // SAFETY: The walk is at entry `i - 1` of the 4, and `i < n <= 4`.
                    unsafe { sg::Walk::advance(&mut walk) };
                }
                assert_eq!(walk.sg, theirs);
                // SAFETY: As above.
                theirs = unsafe { bindings::sg_next(theirs) };
            }
            assert_eq!(theirs.is_null(), n == 4);
        }
    }
}
