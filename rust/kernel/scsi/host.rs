// SPDX-License-Identifier: GPL-2.0

//! SCSI hosts: the host template a driver implements, and the host it registers.
//!
//! C header: [`include/scsi/scsi_host.h`](srctree/include/scsi/scsi_host.h)
//!
//! - [`HostOps`] is the driver's side of `struct scsi_host_template`: `queuecommand` and the
//!   optional entry points. [`Template`] is the C template built from it, once, in a `static`
//!   (see [`crate::scsi_host_template!`]).
//! - [`Host`] abstracts `struct Scsi_Host`: what the driver's entry points receive.
//! - [`Registration`] owns an added host from `scsi_host_alloc()` to `scsi_host_put()`, with the
//!   driver's [`HostOps::HostData`] in the host's private area (`shost_priv()`) and the
//!   interrupt handlers that complete its commands.

use crate::ffi::{c_int, c_uint, c_ulong, c_void};
use crate::{
    bindings, debugfs, device,
    error::{from_result, to_result, VTABLE_DEFAULT_ERROR},
    irq::IrqReturn,
    pci,
    prelude::*,
    scsi::{
        command::{CmdPdu, Command, EhCommand, Reserved},
        device::{DeviceRef, QueueLimits, ScsiDevice},
        inflight::InFlight,
        soft::SoftIrq,
        status::HostByte,
        trace::{self, EhStep},
        work::{HostWork, MAX_WORK},
    },
    str::{CStr, CString},
    time::Delta,
    types::{CovariantForLt, ForLt, Opaque},
    uaccess::UserSliceReader,
    ThisModule,
};
use core::fmt;
use core::{
    marker::{PhantomData, PhantomPinned},
    mem::size_of,
    ptr::NonNull,
};

/// Per-host data of a driver, for any lifetime of the device binding.
pub type HostData<'a, T> = <<T as HostOps>::HostData as ForLt>::Of<'a>;

/// A host's private area (`shost_priv()`): the abstraction's per-host state, then the driver's
/// [`HostData`].
#[repr(C)]
pub(crate) struct HostPriv<'a, T: HostOps> {
    /// The software interrupt ([`Host::raise_soft_interrupt`]).
    pub(crate) soft: SoftIrq,
    /// Who holds each command index ([`crate::scsi::inflight`]).
    pub(crate) inflight: InFlight,
    /// The host's work items ([`Host::queue_work`]).
    pub(crate) work: [HostWork; MAX_WORK],
    /// The driver's data.
    pub(crate) data: HostData<'a, T>,
}

/// Why `queuecommand` refused a command (`enum scsi_qc_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// `SCSI_MLQUEUE_HOST_BUSY`: the host cannot take commands for now.
    Host,
    /// `SCSI_MLQUEUE_DEVICE_BUSY`: this device cannot take commands for now.
    Device,
    /// `SCSI_MLQUEUE_TARGET_BUSY`: this target cannot take commands for now.
    Target,
}

/// A command `queuecommand` gives back to the midlayer, to be retried later.
pub struct Refused<T: HostOps> {
    /// The command, untouched by the device.
    pub cmd: Command<T>,
    /// Why it was refused.
    pub why: Busy,
}

impl<T: HostOps> Refused<T> {
    /// Refuses `cmd` because the host is busy.
    pub fn host_busy(cmd: Command<T>) -> Self {
        Self {
            cmd,
            why: Busy::Host,
        }
    }
}

/// The outcome of an error-handler entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EhStatus {
    /// `SUCCESS`: the command (or everything the reset covers) no longer belongs to the device.
    Success,
    /// `FAILED`: the midlayer escalates to the next step.
    Failed,
    /// `FAST_IO_FAIL`: the transport failed the I/O.
    FastIoFail,
}

impl EhStatus {
    fn to_raw(self) -> c_int {
        let v = match self {
            Self::Success => bindings::scsi_disposition_SUCCESS,
            Self::Failed => bindings::scsi_disposition_FAILED,
            Self::FastIoFail => bindings::scsi_disposition_FAST_IO_FAIL,
        };
        // CAST: the values are small positive constants (0x2002..0x2009).
        v as c_int
    }
}

/// What to do with a command that timed out (`enum scsi_timeout_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutAction {
    /// `SCSI_EH_DONE`: the driver completed the command itself.
    Done,
    /// `SCSI_EH_RESET_TIMER`: give it more time.
    ResetTimer,
    /// `SCSI_EH_NOT_HANDLED`: start error handling.
    NotHandled,
}

/// A host's limits, set before the host is added (fields of `struct Scsi_Host`).
///
/// Unlike the template, these may come from what the device reports at probe time.
#[derive(Clone, Copy, Debug)]
pub struct HostConfig {
    /// Commands the host takes at once, per hardware queue (`can_queue`).
    pub can_queue: u32,
    /// Commands per device (`cmd_per_lun`).
    pub cmd_per_lun: u16,
    /// SG segments per command (`sg_tablesize`).
    pub sg_tablesize: u16,
    /// Sectors (512 bytes) per command (`max_sectors`).
    pub max_sectors: u32,
    /// Bytes per SG segment (`max_segment_size`).
    pub max_segment_size: u32,
    /// No segment crosses an address multiple of `dma_boundary + 1` (`dma_boundary`).
    pub dma_boundary: u64,
    /// Hardware queues (`nr_hw_queues`).
    pub nr_hw_queues: u16,
    /// Highest channel number (`max_channel`).
    pub max_channel: u32,
    /// One more than the highest target id (`max_id`).
    pub max_id: u32,
    /// One more than the highest LUN (`max_lun`).
    pub max_lun: u64,
    /// Longest CDB the host takes (`max_cmd_len`).
    pub max_cmd_len: u16,
    /// Tags are shared by all hardware queues (`host_tagset`).
    pub host_tagset: bool,
    /// Commands set aside in each hardware queue for the driver's own use (`nr_reserved_cmds`),
    /// run with [`Host::execute_reserved`]; their tags come before the `can_queue` others.
    /// Non-zero needs [`HostOps::queue_reserved_command`].
    pub nr_reserved_cmds: u16,
    /// How many of the `nr_hw_queues` are poll queues, for polled I/O (io_uring `IOPOLL`,
    /// `RWF_HIPRI`); they come after the interrupt-driven ones. Non-zero sets up the three
    /// queue maps (`nr_maps`) and needs [`HostOps::map_queues`] and [`HostOps::mq_poll`].
    pub nr_poll_queues: u16,
    /// Bytes of the host's bounce buffer, for commands whose scatterlist the hardware cannot
    /// describe ([`Command::bounce`]); 0 for none. Allocated DMA-coherent with the host.
    pub bounce_bytes: usize,
}

impl HostConfig {
    /// The midlayer's defaults: one queue, 8 targets, 1 LUN, 16-byte CDBs, 128 segments.
    pub const fn new(can_queue: u32) -> Self {
        Self {
            can_queue,
            cmd_per_lun: 1,
            sg_tablesize: 128,
            max_sectors: 1024,
            max_segment_size: 65536,
            dma_boundary: 0xffff_ffff,
            nr_hw_queues: 1,
            max_channel: 0,
            max_id: 8,
            max_lun: 1,
            max_cmd_len: 16,
            host_tagset: false,
            nr_reserved_cmds: 0,
            nr_poll_queues: 0,
            bounce_bytes: 0,
        }
    }
}

/// The hardware queues a `queues=` module parameter asks for: 0 means one per possible CPU
/// (at most `max`), 1 to `max` that many. Drivers name the parameter `queues`, as
/// `virtio_scsi` and `megaraid_sas` users expect.
///
/// # Errors
///
/// `EINVAL`, with a message on `dev` naming the range, for a value outside `0..=max`.
pub fn queues_param(dev: &device::Device, value: i64, max: u32) -> Result<u32> {
    match u32::try_from(value) {
        Ok(0) => Ok(crate::cpu::nr_cpu_ids().clamp(1, max.max(1))),
        Ok(n) if n <= max => Ok(n),
        _ => {
            dev_err!(
                dev,
                "queues={} is out of range (0 for one per CPU, or 1..={})\n",
                value,
                max
            );
            Err(EINVAL)
        }
    }
}

/// The entry points and data types of a SCSI host driver (`struct scsi_host_template`).
///
/// Every method receives the [`Host`] the midlayer called it for. Methods a driver does not
/// implement are left `NULL` in the C template, so the midlayer's defaults apply.
#[macros::vtable]
pub trait HostOps: Sized + 'static {
    /// The driver's per-host data, kept in the host's private area. A family over the lifetime
    /// of the device binding (see [`CovariantForLt`]), so it may hold a `pci::Bar<'bound>`.
    type HostData: CovariantForLt;

    /// The driver's per-command data, in the command's private area (`cmd_size`). Built by
    /// `Default` when the block layer allocates the command (`init_cmd_priv`) and dropped when
    /// it frees it (`exit_cmd_priv`), never on the I/O path.
    type CmdData: Default + Send + Sync;

    /// The driver's name (`name`, `proc_name`).
    const NAME: &'static CStr;

    /// Queues a command (`queuecommand`). The driver owns `cmd` from here until it completes
    /// it, or gives it back in [`Refused`]. Called with `cmd.is_last()` false when more commands
    /// of a batch follow, so the driver may ring the doorbell once (see
    /// [`HostOps::commit_rqs`]). Must not sleep.
    fn queuecommand(host: &Host<Self>, cmd: Command<Self>) -> Result<(), Refused<Self>>;

    /// Queues a reserved command the driver started with [`Host::execute_reserved`]
    /// (`queue_reserved_command`); as [`HostOps::queuecommand`], but for the driver's own
    /// commands, which bypass the midlayer's device and host checks (they run during error
    /// handling). The command's [`HostOps::CmdData`] says what to do. A reserved command that
    /// times out is taken back from the device and completed with `DID_TIME_OUT` by the
    /// abstraction, so that the error handler never waits on its own command.
    fn queue_reserved_command(
        _host: &Host<Self>,
        _cmd: Command<Self>,
    ) -> Result<(), Refused<Self>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Posts commands queued without the last-of-batch flag (`commit_rqs`).
    fn commit_rqs(_host: &Host<Self>, _hwq: u16) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handles interrupt vector `vector` of the host. Not part of the C template: the
    /// [`Registration`] installs the handlers, so that they exist exactly while the host does.
    fn interrupt(_host: &Host<Self>, _vector: u16) -> IrqReturn {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Aborts a command (`eh_abort_handler`). The error handler owns `cmd`; on
    /// [`EhStatus::Success`] the device must be done with it, which the driver records with
    /// [`EhCommand::reclaim`] (and the abstraction does if the driver did not). The midlayer
    /// gets the answer only once no [`Command`] exists for `cmd`: an interrupt handler that
    /// took it back meanwhile finishes first.
    fn eh_abort(_host: &Host<Self>, _cmd: &EhCommand<Self>) -> EhStatus {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Resets the device `sdev` (`eh_device_reset_handler`): from the error handler, or from
    /// `SG_SCSI_RESET` (`scsi_ioctl_reset()`), whose command is not one the driver was given,
    /// so handlers receive the device, not a command. Commands the reset dropped must be
    /// completed ([`Host::reclaim_matching`]); on [`EhStatus::Success`] the abstraction then
    /// reclaims those of the device the midlayer took back.
    fn eh_device_reset(_host: &Host<Self>, _sdev: &ScsiDevice) -> EhStatus {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Resets the target of `sdev` (`eh_target_reset_handler`); as [`HostOps::eh_device_reset`].
    fn eh_target_reset(_host: &Host<Self>, _sdev: &ScsiDevice) -> EhStatus {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Resets bus `channel` (`eh_bus_reset_handler`); as [`HostOps::eh_device_reset`].
    fn eh_bus_reset(_host: &Host<Self>, _channel: u32) -> EhStatus {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Resets the host (`eh_host_reset_handler`). On success every command the device held
    /// must have been completed or reclaimed (see [`Host::reclaim_all`]). On
    /// [`EhStatus::Failed`] the midlayer gives up on the devices and ends the commands it took
    /// back: the driver must have stopped the device from using them (as the C drivers kill
    /// the adapter), and the abstraction reclaims them whatever the answer. Hosts without this
    /// handler get the same reclaim, with `Failed`.
    fn eh_host_reset(_host: &Host<Self>) -> EhStatus {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Decides about a command that timed out (`eh_timed_out`).
    fn eh_timed_out(_host: &Host<Self>, _cmd: &EhCommand<Self>) -> TimeoutAction {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A device is about to be scanned (`sdev_init`); an error makes the scan skip it.
    fn sdev_init(_host: &Host<Self>, _sdev: &ScsiDevice) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A device was found and is about to be used (`sdev_configure`): the driver may change its
    /// queue limits `lim` (applied after the call) and its queue depth. An error keeps the
    /// device from being added.
    fn sdev_configure(
        _host: &Host<Self>,
        _sdev: &ScsiDevice,
        _lim: &mut QueueLimits<'_>,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A device is going away (`sdev_destroy`).
    fn sdev_destroy(_host: &Host<Self>, _sdev: &ScsiDevice) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Changes a device's queue depth (`change_queue_depth`); returns the new depth.
    fn change_queue_depth(_host: &Host<Self>, _sdev: &ScsiDevice, _depth: u32) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Maps hardware queues to CPUs for each kind of request (`map_queues`), with
    /// [`QueueMaps::map`]. Without it the midlayer spreads the CPUs over all hardware queues
    /// in one map; a host with poll queues must say which queues are which.
    fn map_queues(_host: &Host<Self>, _maps: &mut QueueMaps<'_>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Polls hardware queue `hwq`, one of the poll queues, for completions (`mq_poll`), from
    /// the submitter's context (not an interrupt); returns how many commands it completed.
    fn mq_poll(_host: &Host<Self>, _hwq: u16) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Writes the host's debugfs file `/sys/kernel/debug/<NAME>-host<N>/state`. Not part of the
    /// C template: the [`Registration`] creates the file when this is implemented, and removes
    /// it before the host goes.
    fn debugfs_show(_host: &Host<Self>, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handles a write to the debugfs `state` file (a command such as `reset-stats`).
    fn debugfs_write(_host: &Host<Self>, _input: &[u8]) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Does the driver's work that must sleep (not part of the C template), in process
    /// context, once after each [`Host::queue_work`] of work item `id` (several queued before
    /// it runs count as one): devices to add, remove or rescan, a device to reset. Work items
    /// run independently of each other. Not called any more once the host is going; see
    /// [`crate::scsi::work`].
    fn work(_host: &Host<Self>, _id: u8) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Quiesces the device as the host goes (not part of the C template): called once by the
    /// [`Registration`], after `scsi_remove_host()` returned (no device and no command is
    /// left) and before the interrupt handlers are freed, so that the driver masks its
    /// device's interrupts while a handler is still there to take a last one. The host data
    /// is dropped afterwards.
    fn quiesce(_host: &Host<Self>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A SCSI host (`struct Scsi_Host`) whose private area holds `T`'s [`HostOps::HostData`].
///
/// # Invariants
///
/// `self.0` is a `struct Scsi_Host` allocated from `T`'s [`Template`] whose private area holds
/// an initialised [`HostData`] of `T` for as long as a `&Host<T>` can be obtained.
#[repr(transparent)]
pub struct Host<T: HostOps>(Opaque<bindings::Scsi_Host>, PhantomData<T>);

// SAFETY: `Host` is only used by reference; the midlayer calls its entry points from any CPU,
// and everything reachable through `&Host` is either synchronised by the midlayer or `Sync`
// (`HostData` is required to be `Sync` by `Registration::new`).
unsafe impl<T: HostOps> Sync for Host<T> {}
// SAFETY: See above; a `&Host` may be sent to any CPU.
unsafe impl<T: HostOps> Send for Host<T> {}

impl<T: HostOps> Host<T> {
    /// # Safety
    ///
    /// `ptr` must be a host allocated from `T`'s template whose private data is initialised,
    /// and stay so for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::Scsi_Host) -> &'a Self {
        // SAFETY: `Host` is a transparent wrapper; validity is the caller's promise.
        unsafe { &*ptr.cast::<Self>() }
    }

    #[inline(always)]
    pub(crate) fn as_raw(&self) -> *mut bindings::Scsi_Host {
        self.0.get()
    }

    /// The host's private area: `shost_priv()`, the host's `hostdata` array, computed here
    /// without the C helper as this runs for every command.
    #[inline(always)]
    pub(crate) fn private(&self) -> *mut HostPriv<'_, T> {
        // SAFETY: By the type invariant `self.0` is a valid host; `hostdata` is its trailing
        // array, which `Registration::new` sized and aligned for a `HostPriv<T>`.
        unsafe { (&raw mut (*self.as_raw()).hostdata).cast::<HostPriv<'_, T>>() }
    }

    /// The host's in-flight table.
    #[inline(always)]
    pub(crate) fn inflight(&self) -> &InFlight {
        // SAFETY: The private area is initialised while a `&Host` exists (type invariant).
        unsafe { &(*self.private()).inflight }
    }

    /// Raises the host's software interrupt `after` from now: [`HostOps::interrupt`] then runs
    /// with [`crate::scsi::soft::SOFT_VECTOR`], in hard interrupt context. Raising it again
    /// before it fired moves it to the new time. For hosts whose "device" is software
    /// ([`crate::scsi::soft::SoftHost`]); the registration stops it with the host's other
    /// interrupts.
    pub fn raise_soft_interrupt(&self, after: Delta) {
        // SAFETY: The private area is initialised while a `&Host` exists (type invariant).
        unsafe { (*self.private()).soft.raise(after) }
    }

    /// Queues the host's work item `id` (below [`MAX_WORK`]): [`HostOps::work`] runs soon
    /// after with `id`, in process context. Safe from interrupt context. Returns `false` if it
    /// was queued already (it then runs once for both), the host is going, or there is no
    /// such work item.
    pub fn queue_work(&self, id: u8) -> bool {
        // SAFETY: The private area is initialised while a `&Host` exists (type invariant).
        let works = unsafe { &(*self.private()).work };
        works.get(usize::from(id)).is_some_and(|w| w.queue())
    }

    /// Scans the host for devices it does not have yet (`scsi_scan_host()`): after the device
    /// reported that it lost track of changes. Sleeps.
    pub fn scan(&self) {
        crate::task::might_sleep();
        // SAFETY: By the type invariant `self.0` is a valid host; the scan checks under the
        // host's scan mutex that the host is running and does nothing otherwise.
        unsafe { bindings::scsi_scan_host(self.as_raw()) }
    }

    /// Scans target `id` of `channel` again (`scsi_scan_target()` with `SCSI_SCAN_RESCAN`):
    /// its new LUNs are added, as REPORT LUNS lists them. Sleeps.
    pub fn scan_target(&self, channel: u32, id: u32) {
        crate::task::might_sleep();
        // SAFETY: By the type invariant `self.0` is a valid host, whose `shost_gendev` is the
        // parent of its targets; the scan checks the host's state under its scan mutex.
        unsafe {
            bindings::scsi_scan_target(
                &raw mut (*self.as_raw()).shost_gendev,
                channel,
                id,
                // Every LUN: `SCAN_WILD_CARD` is `~0`.
                u64::MAX,
                bindings::scsi_scan_mode_SCSI_SCAN_RESCAN,
            )
        }
    }

    /// Calls `f` with a reference to each of the host's devices in turn
    /// (`shost_for_each_device()`); `f` may sleep, and remove the device it is given.
    pub fn for_each_device(&self, mut f: impl FnMut(DeviceRef)) {
        crate::task::might_sleep();
        let mut prev: *mut bindings::scsi_device = core::ptr::null_mut();
        loop {
            // SAFETY: By the type invariant `self.0` is a valid host; `prev` is NULL or the
            // device the last call returned, whose reference it gives back, and the next
            // device comes with a reference taken for us.
            let next = unsafe { bindings::__scsi_iterate_devices(self.as_raw(), prev) };
            let Some(p) = NonNull::new(next) else {
                break;
            };
            // SAFETY: `p` is valid while the iterator's reference holds; a second one for `f`
            // (it may be being removed, and is then skipped).
            if unsafe { bindings::scsi_device_get(p.as_ptr()) } == 0 {
                // SAFETY: A valid device with the reference taken above, now the value's.
                f(unsafe { DeviceRef::from_raw(p) });
            }
            prev = next;
        }
    }

    /// The driver's per-host data.
    #[inline]
    pub fn data(&self) -> Pin<&HostData<'_, T>> {
        // SAFETY: By the type invariant the private area holds an initialised `HostData`,
        // which `Registration::new` placed there for the lifetime of the binding (`'bound`).
        let long: &HostData<'_, T> = unsafe { &(*self.private()).data };
        // The data lives at least as long as this borrow of the host; shortening the lifetime
        // is sound because `T::HostData` is covariant.
        let short = <T::HostData as CovariantForLt>::cast_ref(long);
        // SAFETY: The private area never moves: it is part of the host's allocation.
        unsafe { Pin::new_unchecked(short) }
    }

    /// The host number the midlayer gave this host (`host_no`, as in `hostN`).
    pub fn host_no(&self) -> u32 {
        // SAFETY: By the type invariant `self.0` is a valid host; `host_no` is set at
        // allocation and never changes.
        unsafe { (*self.as_raw()).host_no }
    }

    /// Hardware queues (`nr_hw_queues`).
    pub fn nr_hw_queues(&self) -> u32 {
        // SAFETY: By the type invariant `self.0` is a valid host; set before it was added.
        unsafe { (*self.as_raw()).nr_hw_queues }
    }

    /// Poll queues: the last this many of the hardware queues ([`HostConfig::nr_poll_queues`]).
    pub fn nr_poll_queues(&self) -> u32 {
        // SAFETY: By the type invariant `self.0` is a valid host; `nr_maps` is set before it
        // was added and the poll map after, under the tag set's lock, by `map_queues`; a plain
        // read of a word.
        let (maps, poll) = unsafe {
            let s = &*self.as_raw();
            (
                s.tag_set.nr_maps,
                s.tag_set.map[bindings::hctx_type_HCTX_TYPE_POLL as usize].nr_queues,
            )
        };
        if maps > bindings::hctx_type_HCTX_TYPE_POLL {
            poll
        } else {
            0
        }
    }

    /// Commands per hardware queue (`can_queue`).
    pub fn can_queue(&self) -> u32 {
        // SAFETY: By the type invariant `self.0` is a valid host; set before it was added.
        u32::try_from(unsafe { (*self.as_raw()).can_queue }).unwrap_or(0)
    }

    /// The device the host was added under.
    pub fn parent(&self) -> &device::Device {
        // SAFETY: `dma_dev` is the parent given to `scsi_add_host`, which outlives the host's
        // registration and therefore every `&Host`.
        unsafe { device::Device::from_raw((*self.as_raw()).dma_dev) }
    }

    /// Takes back a command the device completed: `ctx` is what [`Command::into_hardware`]
    /// returned for it, as the device echoed it, whichever hardware queue it came on. Returns
    /// `None` for a context that does not name a command the device holds now: a late
    /// completion after an abort or reset, a duplicate, or nonsense from the device. Safe from
    /// interrupt context, and at any time while the host's interrupts are installed: it reads
    /// only the host's in-flight table, never the block layer's tags (which the midlayer frees
    /// before the interrupts go, and whose requests an I/O scheduler may free).
    #[inline]
    pub fn take_from_hardware(&self, ctx: crate::scsi::ring::ContextTag) -> Option<Command<T>> {
        let entry = self.inflight().get(ctx.tag)?;
        let cmd = entry.take(ctx.tag, ctx)?;
        // SAFETY: We moved the entry from `Hardware` to `Driver`; `cmd` is the command the
        // device held, valid until it is completed, which only the new `Command` can do.
        unsafe { Command::from_entry(cmd, entry, ctx.tag) }
    }

    /// Calls `f` with every busy command of the host (`scsi_host_busy_iter()`).
    fn for_each_busy(&self, mut f: impl FnMut(NonNull<bindings::scsi_cmnd>)) {
        /// # Safety
        ///
        /// Called by `scsi_host_busy_iter` with a busy command of the host and the closure
        /// passed below.
        unsafe extern "C" fn iter(cmd: *mut bindings::scsi_cmnd, data: *mut c_void) -> bool {
            // SAFETY: `data` is the closure passed below, alive for the whole iteration.
            let f = unsafe { &mut *data.cast::<&mut dyn FnMut(NonNull<bindings::scsi_cmnd>)>() };
            if let Some(cmd) = NonNull::new(cmd) {
                f(cmd);
            }
            true
        }

        let mut f: &mut dyn FnMut(NonNull<bindings::scsi_cmnd>) = &mut f;
        // SAFETY: By the type invariant `self.0` is a valid host; `iter` matches the callback
        // type and `f` outlives the call.
        unsafe {
            bindings::scsi_host_busy_iter(
                self.as_raw(),
                Some(iter),
                core::ptr::from_mut(&mut f).cast::<c_void>(),
            )
        };
    }

    /// Completes or reclaims every command the device holds, after a reset lost them all:
    /// `f` receives each as an owned [`Command`], and must complete it (typically with
    /// [`crate::scsi::HostByte::Reset`]). Returns how many there were.
    ///
    /// The reset made the device forget every submission, the abandoned ones too (reserved
    /// commands that timed out): their indices become usable again.
    pub fn reclaim_all(&self, f: impl FnMut(Command<T>)) -> u32 {
        let n = self.reclaim_matching(|_| true, f);
        let forgiven = self.inflight().forgive_abandoned();
        if forgiven > 0 {
            crate::pr_info!(
                "scsi{}: {} abandoned command indices usable again after a reset\n",
                self.host_no(),
                forgiven
            );
        }
        n
    }

    /// As [`Host::reclaim_all`], for the commands the device holds whose device matches
    /// `filter`: after a device, target or bus reset.
    pub fn reclaim_matching(
        &self,
        mut filter: impl FnMut(&ScsiDevice) -> bool,
        mut f: impl FnMut(Command<T>),
    ) -> u32 {
        let mut n = 0;
        self.for_each_busy(|cmd| {
            // SAFETY: A busy command of a host of `T`, valid during the iteration; only its
            // device is read here.
            let sdev = unsafe { ScsiDevice::from_ptr((*cmd.as_ptr()).device) };
            if !filter(sdev) {
                return;
            }
            // SAFETY: A busy (started) command of this host, with an initialised PDU.
            if let Some(cmd) = unsafe { Command::<T>::take_any_from_hardware(self, cmd) } {
                n += 1;
                f(cmd);
            }
        });
        n
    }

    /// How many commands the device holds whose device matches `filter`.
    pub fn count_in_hardware(&self, mut filter: impl FnMut(&ScsiDevice) -> bool) -> u32 {
        let mut n = 0;
        self.for_each_busy(|cmd| {
            // SAFETY: A busy command of a host of `T`, valid during the iteration; we only
            // read its state and device.
            let (_, cmd) = unsafe { EhCommand::<T>::from_raw(cmd.as_ptr()) };
            if cmd.in_hardware() && filter(cmd.device()) {
                n += 1;
            }
        });
        n
    }

    /// After an error-handler entry point: makes sure that no command the midlayer took back
    /// (timed out, `SCMD_STATE_COMPLETE` set) in `scope` has a `Command` or, with `reclaim`,
    /// is still held by the device; those are reclaimed (the device has let go of them, or the
    /// driver failed to make it: the midlayer is about to end them either way). Waits, sleeping,
    /// for a `Command` that exists for one of them to be completed: it is an interrupt handler
    /// or a completion path finishing it, which does not sleep.
    fn settle_taken_back(&self, reclaim: bool, mut scope: impl FnMut(&EhCommand<T>) -> bool) {
        let start = crate::time::Instant::<crate::time::Monotonic>::now();
        let mut warned = false;
        loop {
            let mut owned = 0u32;
            self.for_each_busy(|cmd| {
                let raw = cmd.as_ptr();
                // SAFETY: A busy command of this host, valid during the iteration. `state` is
                // a bit field the midlayer sets atomically: a volatile read of the word.
                let state = unsafe { core::ptr::read_volatile(&raw const (*raw).state) };
                if state & (1 << bindings::SCMD_STATE_COMPLETE) == 0 {
                    return;
                }
                // SAFETY: As above; the command's device outlives it.
                let (_, ecmd) = unsafe { EhCommand::<T>::from_raw(raw) };
                if !scope(ecmd) {
                    return;
                }
                if reclaim && ecmd.reclaim() {
                    crate::pr_debug!("scsi: tag {} reclaimed after error handling\n", ecmd.tag());
                }
                if ecmd.owned_by_driver() {
                    owned += 1;
                }
            });
            if owned == 0 {
                return;
            }
            if !warned && start.elapsed() > Delta::from_secs(10) {
                warned = true;
                crate::pr_warn!(
                    "scsi{}: {} commands the midlayer took back are still held by the driver\n",
                    self.host_no(),
                    owned
                );
            }
            crate::time::delay::fsleep(Delta::from_millis(1));
        }
    }

    /// Runs a reserved command: takes one of the host's reserved commands
    /// (`scsi_get_internal_cmd()` on the host's pseudo device, waiting for one to be free),
    /// lets `init` fill its [`HostOps::CmdData`], sends it through
    /// [`HostOps::queue_reserved_command`] and waits until it completes (`blk_execute_rq()`),
    /// at most `timeout`. Returns the completed command; look at its [`Reserved::result`] and
    /// data.
    ///
    /// Sleeps; usable from the error handler (reserved commands bypass the host's recovery
    /// state). `EINVAL` when the host has no reserved commands, `ENOMEM` when none can be had.
    pub fn execute_reserved(
        &self,
        timeout: Delta,
        init: impl FnOnce(&T::CmdData),
    ) -> Result<Reserved<'_, T>> {
        crate::task::might_sleep();
        // SAFETY: By the type invariant `self.0` is a valid host; `pseudo_sdev` is set when it
        // was added with reserved commands and stays until it is removed.
        let sdev = unsafe { (*self.as_raw()).pseudo_sdev };
        if sdev.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: `sdev` is the host's pseudo device, valid while the host is in use.
        let cmd = unsafe {
            bindings::scsi_get_internal_cmd(
                sdev,
                bindings::dma_data_direction::DMA_NONE,
                bindings::BLK_MQ_REQ_RESERVED,
            )
        };
        let cmd = NonNull::new(cmd).ok_or(ENOMEM)?;
        // SAFETY: A fresh command of this host's tag set: `init_cmd_priv` initialised its PDU,
        // and it is ours until we free it; `Reserved` frees it on every path from here.
        let reserved = unsafe { Reserved::<T>::from_raw(cmd) };
        init(reserved.data());
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let jiffies = u32::try_from(crate::time::msecs_to_jiffies(ms)).unwrap_or(u32::MAX);
        // SAFETY: The command is ours and not started; its request precedes it.
        unsafe {
            let rq = bindings::scsi_cmd_to_rq(cmd.as_ptr());
            (*rq).timeout = jiffies;
            bindings::blk_execute_rq(rq, false);
        }
        // INVARIANT: `blk_execute_rq()` returns once the command completed.
        Ok(reserved)
    }

    /// The device at `channel:id:lun` (`scsi_device_lookup()`), unless there is none or it is
    /// being removed. Takes the host lock briefly; not from interrupt context.
    pub fn lookup_device(&self, channel: u32, id: u32, lun: u64) -> Option<DeviceRef> {
        // SAFETY: By the type invariant `self.0` is a valid host. `scsi_device_lookup()`
        // returns a device with a reference taken for us, or NULL.
        let raw = unsafe { bindings::scsi_device_lookup(self.as_raw(), channel, id, lun) };
        // SAFETY: A valid device with one reference that is now ours.
        NonNull::new(raw).map(|p| unsafe { DeviceRef::from_raw(p) })
    }

    /// Probes `channel:id:lun` and adds the device if the target answers (`scsi_add_device()`):
    /// the hot-plug path, for a device the host learnt of after its scan. Nothing happens to a
    /// device that exists already. The host's entry points run meanwhile (INQUIRY goes through
    /// [`HostOps::queuecommand`], then [`HostOps::sdev_init`] and the like), so the caller
    /// must not hold anything they take.
    ///
    /// Sleeps. Returns `ENODEV` when no device answered or the host is going away.
    pub fn add_device(&self, channel: u32, id: u32, lun: u64) -> Result {
        crate::task::might_sleep();
        // SAFETY: By the type invariant `self.0` is a valid host. `scsi_add_device()` checks
        // under the host's scan mutex that the host is running (added and not being removed)
        // and returns an error otherwise.
        to_result(unsafe { bindings::scsi_add_device(self.as_raw(), channel, id, lun) })
    }

    /// How many commands went through the bounce buffer ([`Command::bounce`]) since the host
    /// was added or [`Host::reset_bounce_count`].
    pub fn bounce_count(&self) -> u64 {
        self.inflight().bounce().map_or(0, |b| b.count())
    }

    /// Zeroes [`Host::bounce_count`].
    pub fn reset_bounce_count(&self) {
        if let Some(b) = self.inflight().bounce() {
            b.reset_count();
        }
    }

    /// Commands the midlayer has given the host and not had back (`scsi_host_busy()`).
    pub fn busy(&self) -> u32 {
        // SAFETY: By the type invariant `self.0` is a valid host.
        let n = unsafe { bindings::scsi_host_busy(self.as_raw()) };
        u32::try_from(n).unwrap_or(0)
    }
}

/// A kind of request, with its own queue map (`enum hctx_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum QueueType {
    /// Everything not sent to another map (`HCTX_TYPE_DEFAULT`).
    Default = bindings::hctx_type_HCTX_TYPE_DEFAULT,
    /// Reads, when the driver gives them queues of their own (`HCTX_TYPE_READ`).
    Read = bindings::hctx_type_HCTX_TYPE_READ,
    /// Polled I/O (`HCTX_TYPE_POLL`).
    Poll = bindings::hctx_type_HCTX_TYPE_POLL,
}

/// A host's queue maps, lent to [`HostOps::map_queues`]: for each [`QueueType`], which
/// hardware queues it uses and which CPU submits to which (`struct blk_mq_queue_map`, the
/// tag set's `map[]`).
///
/// # Invariants
///
/// `maps` points to the tag set's `nr_maps` queue maps, which the holder may write for the
/// lifetime `'a`; `nr_hw_queues` is the tag set's.
pub struct QueueMaps<'a> {
    maps: NonNull<bindings::blk_mq_queue_map>,
    nr_maps: u32,
    nr_hw_queues: u32,
    _p: PhantomData<&'a mut bindings::blk_mq_queue_map>,
}

impl QueueMaps<'_> {
    /// # Safety
    ///
    /// `shost` must be a valid host whose tag set's maps the caller may write for the
    /// lifetime of the result.
    unsafe fn from_raw(shost: *mut bindings::Scsi_Host) -> Self {
        // SAFETY: The caller's promise: `shost` is valid.
        let set = unsafe { &mut (*shost).tag_set };
        // INVARIANT: `map` is the array of `HCTX_MAX_TYPES` maps of which the first `nr_maps`
        // are used; the caller lends them to us.
        Self {
            maps: NonNull::from(&mut set.map).cast(),
            nr_maps: set.nr_maps.min(bindings::hctx_type_HCTX_MAX_TYPES),
            nr_hw_queues: set.nr_hw_queues,
            _p: PhantomData,
        }
    }

    /// How many maps the host has: 1 (default only) or 3 (with read and poll maps).
    pub fn nr_maps(&self) -> u32 {
        self.nr_maps
    }

    /// Map `ty`, given the `count` hardware queues from `first`; `EINVAL` for a map the host
    /// does not have, queues it does not have, or a default map without queues.
    fn set(
        &mut self,
        ty: QueueType,
        first: u32,
        count: u32,
    ) -> Result<&mut bindings::blk_mq_queue_map> {
        // CAST: `QueueType` is `repr(u32)`.
        let index = ty as u32;
        let end = first.checked_add(count).ok_or(EINVAL)?;
        if index >= self.nr_maps
            || end > self.nr_hw_queues
            || (ty == QueueType::Default && count == 0)
        {
            return Err(EINVAL);
        }
        // SAFETY: By the type invariant map `index` (below `nr_maps`) is ours to write, for as
        // long as `self` is borrowed.
        let map = unsafe { &mut *self.maps.as_ptr().add(index as usize) };
        map.nr_queues = count;
        map.queue_offset = first;
        Ok(map)
    }

    /// Gives requests of kind `ty` the `count` hardware queues from `first`, and spreads the
    /// CPUs over them (`blk_mq_map_queues()`). A `count` of zero leaves the kind without
    /// queues of its own (its requests use the default map); the default map needs at least
    /// one. `EINVAL` for a map the host does not have or queues it does not have.
    pub fn map(&mut self, ty: QueueType, first: u32, count: u32) -> Result {
        let map = self.set(ty, first, count)?;
        if count > 0 {
            // SAFETY: `map` is a valid map with its queue count and offset set, within the
            // tag set's hardware queues (checked by `set`).
            unsafe { bindings::blk_mq_map_queues(map) };
        }
        Ok(())
    }

    /// Like [`Self::map`], but gives each queue the CPUs its interrupt vector is affine to:
    /// queue `first + i` those of vector `vector_offset + i` of `dev`
    /// (`blk_mq_map_hw_queues()`), so that a command completes on a CPU that submits to its
    /// queue. For vectors whose affinity the kernel manages
    /// (`pci::Device::alloc_irq_vectors_affinity`); for others (INTx, vectors allocated
    /// without it) it spreads the CPUs as [`Self::map`] does.
    pub fn map_by_affinity(
        &mut self,
        ty: QueueType,
        first: u32,
        count: u32,
        dev: &device::Device,
        vector_offset: u32,
    ) -> Result {
        let map = self.set(ty, first, count)?;
        if count == 0 {
            return Ok(());
        }
        // SAFETY: `dev` is a valid device; reading its bus pointer has no side effect.
        let has_bus = !unsafe { (*dev.as_raw()).bus }.is_null();
        if has_bus {
            // SAFETY: `map` is as in `map`; `dev` is a valid device on a bus, which
            // `blk_mq_map_hw_queues()` asks for each queue's affinity (falling back to
            // spreading the CPUs when it has none).
            unsafe { bindings::blk_mq_map_hw_queues(map, dev.as_raw(), vector_offset) };
        } else {
            // SAFETY: As in `map`.
            unsafe { bindings::blk_mq_map_queues(map) };
        }
        Ok(())
    }
}

/// The C host template of a [`HostOps`] implementation, built at compile time.
///
/// Create it with [`crate::scsi_host_template!`], which places it in a `static` with the
/// module's owner pointer, as `scsi_host_alloc()` requires a template that outlives its hosts.
///
/// # Invariants
///
/// `self.0` is a template whose entry points are `T`'s and whose `cmd_size` fits `T`'s PDU.
#[repr(transparent)]
pub struct Template<T: HostOps>(Opaque<bindings::scsi_host_template>, PhantomData<T>);

// SAFETY: The template is never written after construction; the midlayer only reads it.
unsafe impl<T: HostOps> Sync for Template<T> {}

impl<T: HostOps> Template<T> {
    /// Builds the template for the module `module` (its `THIS_MODULE`).
    pub const fn new(module: ThisModule) -> Self {
        // SAFETY: All-zeroes is a valid `scsi_host_template` (every pointer NULL, every limit
        // zero), which the fields below then fill.
        let mut t: bindings::scsi_host_template = unsafe { core::mem::zeroed() };
        t.module = module.as_ptr();
        // The kernel's `char` is unsigned: the bytes, not `CStr::as_ptr`'s `c_char`.
        t.name = T::NAME.to_bytes_with_nul().as_ptr();
        t.proc_name = T::NAME.to_bytes_with_nul().as_ptr();
        // CAST: A PDU is far smaller than 4 GiB.
        t.cmd_size = size_of::<CmdPdu<T>>() as u32;
        t.queuecommand = Some(Callbacks::<T>::queuecommand);
        t.queue_reserved_command = if T::HAS_QUEUE_RESERVED_COMMAND {
            Some(Callbacks::<T>::queue_reserved_command)
        } else {
            None
        };
        t.commit_rqs = if T::HAS_COMMIT_RQS {
            Some(Callbacks::<T>::commit_rqs)
        } else {
            None
        };
        t.init_cmd_priv = Some(Callbacks::<T>::init_cmd_priv);
        t.exit_cmd_priv = Some(Callbacks::<T>::exit_cmd_priv);
        t.eh_abort_handler = if T::HAS_EH_ABORT {
            Some(Callbacks::<T>::eh_abort)
        } else {
            None
        };
        t.eh_device_reset_handler = if T::HAS_EH_DEVICE_RESET {
            Some(Callbacks::<T>::eh_device_reset)
        } else {
            None
        };
        t.eh_target_reset_handler = if T::HAS_EH_TARGET_RESET {
            Some(Callbacks::<T>::eh_target_reset)
        } else {
            None
        };
        t.eh_bus_reset_handler = if T::HAS_EH_BUS_RESET {
            Some(Callbacks::<T>::eh_bus_reset)
        } else {
            None
        };
        // Always: the last step of error handling, where the abstraction reclaims what the
        // midlayer took back.
        t.eh_host_reset_handler = Some(Callbacks::<T>::eh_host_reset);
        t.eh_timed_out = if T::HAS_EH_TIMED_OUT || T::HAS_QUEUE_RESERVED_COMMAND {
            Some(Callbacks::<T>::eh_timed_out)
        } else {
            None
        };
        t.sdev_init = if T::HAS_SDEV_INIT {
            Some(Callbacks::<T>::sdev_init)
        } else {
            None
        };
        t.sdev_configure = if T::HAS_SDEV_CONFIGURE {
            Some(Callbacks::<T>::sdev_configure)
        } else {
            None
        };
        t.sdev_destroy = if T::HAS_SDEV_DESTROY {
            Some(Callbacks::<T>::sdev_destroy)
        } else {
            None
        };
        t.change_queue_depth = if T::HAS_CHANGE_QUEUE_DEPTH {
            Some(Callbacks::<T>::change_queue_depth)
        } else {
            None
        };
        t.map_queues = if T::HAS_MAP_QUEUES {
            Some(Callbacks::<T>::map_queues)
        } else {
            None
        };
        t.mq_poll = if T::HAS_MQ_POLL {
            Some(Callbacks::<T>::mq_poll)
        } else {
            None
        };
        // Limits; the registration overrides the per-host ones with `HostConfig`.
        t.can_queue = 1;
        t.this_id = -1;
        t.sg_tablesize = 1;
        t.cmd_per_lun = 1;
        // INVARIANT: entry points are `T`'s, `cmd_size` is `CmdPdu<T>`'s.
        Self(Opaque::new(t), PhantomData)
    }

    fn as_ptr(&'static self) -> *const bindings::scsi_host_template {
        self.0.get()
    }
}

/// Places the [`Template`] of a [`HostOps`] type in a `static` of the driver's module.
///
/// # Examples
///
/// ```ignore
/// kernel::scsi_host_template!(MY_TEMPLATE, MyHba);
/// ```
#[macro_export]
#[allow(
    clippy::crate_in_macro_def,
    reason = "the template belongs to the calling module: `crate::LocalModule` is its `module!` type"
)]
macro_rules! scsi_host_template {
    ($name:ident, $ops:ty) => {
        static $name: $crate::scsi::Template<$ops> = $crate::scsi::Template::new(
            <crate::LocalModule as $crate::ModuleMetadata>::THIS_MODULE,
        );
    };
}

/// The C entry points of `T`, installed in its [`Template`].
struct Callbacks<T: HostOps>(PhantomData<T>);

impl<T: HostOps> Callbacks<T> {
    /// # Safety
    ///
    /// `shost` must be a host of `T` in use (its private data initialised).
    unsafe fn host<'a>(shost: *mut bindings::Scsi_Host) -> &'a Host<T> {
        // SAFETY: The caller's promise.
        unsafe { Host::from_raw(shost) }
    }

    /// # Safety
    ///
    /// Called by the midlayer with a host of `T` and a command it gives the driver, whose PDU
    /// `init_cmd_priv_callback` initialised.
    unsafe extern "C" fn queuecommand(
        shost: *mut bindings::Scsi_Host,
        cmd: *mut bindings::scsi_cmnd,
    ) -> bindings::scsi_qc_status {
        // SAFETY: The midlayer only queues to added hosts, whose data is initialised.
        let host = unsafe { Self::host(shost) };
        // SAFETY: The midlayer gives us `cmd`, non-NULL and started, to own until `scsi_done()`.
        match unsafe { Command::<T>::from_queue(host, NonNull::new_unchecked(cmd)) } {
            Ok(cmd) => Self::qc_status(T::queuecommand(host, cmd)),
            Err(Some(why)) => Self::busy(why),
            Err(None) => {
                // SAFETY: The midlayer gave us `cmd` in this call; nothing else ends it.
                unsafe { crate::scsi::command::end_unqueued(cmd) };
                0
            }
        }
    }

    /// # Safety
    ///
    /// Called by the midlayer with a host of `T` and a reserved command of it.
    unsafe extern "C" fn queue_reserved_command(
        shost: *mut bindings::Scsi_Host,
        cmd: *mut bindings::scsi_cmnd,
    ) -> bindings::scsi_qc_status {
        // SAFETY: As for `queuecommand`.
        let host = unsafe { Self::host(shost) };
        // SAFETY: As for `queuecommand`.
        match unsafe { Command::<T>::from_queue(host, NonNull::new_unchecked(cmd)) } {
            Ok(cmd) => Self::qc_status(T::queue_reserved_command(host, cmd)),
            Err(Some(why)) => Self::busy(why),
            Err(None) => {
                // SAFETY: As above.
                unsafe { crate::scsi::command::end_unqueued(cmd) };
                0
            }
        }
    }

    /// What `queuecommand` returns for the driver's answer; a refused command goes back.
    #[inline]
    fn qc_status(r: Result<(), Refused<T>>) -> bindings::scsi_qc_status {
        match r {
            Ok(()) => 0,
            Err(Refused { cmd, why }) => {
                cmd.give_back();
                Self::busy(why)
            }
        }
    }

    #[inline]
    fn busy(why: Busy) -> bindings::scsi_qc_status {
        match why {
            Busy::Host => bindings::scsi_qc_status_SCSI_MLQUEUE_HOST_BUSY,
            Busy::Device => bindings::scsi_qc_status_SCSI_MLQUEUE_DEVICE_BUSY,
            Busy::Target => bindings::scsi_qc_status_SCSI_MLQUEUE_TARGET_BUSY,
        }
    }

    /// # Safety
    ///
    /// Called by the midlayer with a host of `T`.
    unsafe extern "C" fn commit_rqs(shost: *mut bindings::Scsi_Host, hwq: u16) {
        // SAFETY: The midlayer only calls this for added hosts.
        T::commit_rqs(unsafe { Self::host(shost) }, hwq)
    }

    /// # Safety
    ///
    /// Called by the midlayer with a command of a host of `T` whose private area is
    /// uninitialised and `cmd_size` bytes long.
    unsafe extern "C" fn init_cmd_priv(
        _shost: *mut bindings::Scsi_Host,
        cmd: *mut bindings::scsi_cmnd,
    ) -> c_int {
        // SAFETY: The private area is `cmd_size` bytes, the size of `CmdPdu<T>`, and suitably
        // aligned (checked in `CmdPdu::init`); nobody else uses it yet.
        unsafe { CmdPdu::<T>::init(cmd) };
        0
    }

    /// # Safety
    ///
    /// Called by the midlayer with a command whose PDU `init_cmd_priv` initialised, once.
    unsafe extern "C" fn exit_cmd_priv(
        _shost: *mut bindings::Scsi_Host,
        cmd: *mut bindings::scsi_cmnd,
    ) -> c_int {
        // SAFETY: The PDU was initialised and is dropped once, here.
        unsafe { CmdPdu::<T>::drop_in_place(cmd) };
        0
    }

    /// # Safety
    ///
    /// Called by the error handler with a started command of a host of `T` that it owns.
    unsafe extern "C" fn eh_abort(cmd: *mut bindings::scsi_cmnd) -> c_int {
        // SAFETY: The command is valid and started during the call; its host is a host of `T`.
        let (host, ecmd) = unsafe { EhCommand::<T>::from_raw(cmd) };
        let r = T::eh_abort(host, ecmd);
        Self::trace_eh(
            host,
            EhStep::Abort,
            ecmd.device(),
            c_int::from(ecmd.tag()),
            r.to_raw(),
        );
        // On success the device is done with the command: reclaim it if the driver did not,
        // and in any case answer only once no `Command` exists for it.
        host.settle_taken_back(r == EhStatus::Success, |c| core::ptr::eq(c, ecmd));
        r.to_raw()
    }

    /// The device of a command the error handler or `scsi_ioctl_reset()` passes: the only part
    /// of it a reset handler may use, as the ioctl's command is a bare allocation (no private
    /// area set up, no request started).
    ///
    /// # Safety
    ///
    /// `cmd` must be such a command, of a host of `T`, valid during the call.
    unsafe fn reset_target<'a>(cmd: *mut bindings::scsi_cmnd) -> (&'a Host<T>, &'a ScsiDevice) {
        // SAFETY: The caller's promise; both set `device` to a device of the host, which they
        // hold a reference on.
        unsafe { ScsiDevice::from_raw::<T>((*cmd).device) }
    }

    /// # Safety
    ///
    /// Called by the error handler or `scsi_ioctl_reset()` with a command of a host of `T`.
    unsafe extern "C" fn eh_device_reset(cmd: *mut bindings::scsi_cmnd) -> c_int {
        // SAFETY: The caller's promise.
        let (host, sdev) = unsafe { Self::reset_target(cmd) };
        let r = T::eh_device_reset(host, sdev);
        Self::trace_eh(host, EhStep::DeviceReset, sdev, -1, r.to_raw());
        let (ch, id, lun) = (sdev.channel(), sdev.id(), sdev.lun());
        host.settle_taken_back(r == EhStatus::Success, |c| {
            let d = c.device();
            d.channel() == ch && d.id() == id && d.lun() == lun
        });
        r.to_raw()
    }

    /// # Safety
    ///
    /// See [`Self::eh_device_reset`].
    unsafe extern "C" fn eh_target_reset(cmd: *mut bindings::scsi_cmnd) -> c_int {
        // SAFETY: The caller's promise.
        let (host, sdev) = unsafe { Self::reset_target(cmd) };
        let r = T::eh_target_reset(host, sdev);
        Self::trace_eh(host, EhStep::TargetReset, sdev, -1, r.to_raw());
        let (ch, id) = (sdev.channel(), sdev.id());
        host.settle_taken_back(r == EhStatus::Success, |c| {
            c.device().channel() == ch && c.device().id() == id
        });
        r.to_raw()
    }

    /// # Safety
    ///
    /// See [`Self::eh_device_reset`].
    unsafe extern "C" fn eh_bus_reset(cmd: *mut bindings::scsi_cmnd) -> c_int {
        // SAFETY: The caller's promise.
        let (host, sdev) = unsafe { Self::reset_target(cmd) };
        let ch = sdev.channel();
        let r = T::eh_bus_reset(host, ch);
        Self::trace_eh(host, EhStep::BusReset, sdev, -1, r.to_raw());
        host.settle_taken_back(r == EhStatus::Success, |c| c.device().channel() == ch);
        r.to_raw()
    }

    /// # Safety
    ///
    /// See [`Self::eh_device_reset`].
    unsafe extern "C" fn eh_host_reset(cmd: *mut bindings::scsi_cmnd) -> c_int {
        // SAFETY: The caller's promise.
        let (host, sdev) = unsafe { Self::reset_target(cmd) };
        let r = if T::HAS_EH_HOST_RESET {
            T::eh_host_reset(host)
        } else {
            EhStatus::Failed
        };
        Self::trace_eh(host, EhStep::HostReset, sdev, -1, r.to_raw());
        // Success or not, the midlayer now retries or ends every command it took back.
        host.settle_taken_back(true, |_| true);
        r.to_raw()
    }

    /// The `rscsi_eh` event: `step` for `sdev` (and the command of `tag`, or -1) ended with
    /// `result`.
    #[inline]
    fn trace_eh(host: &Host<T>, step: EhStep, sdev: &ScsiDevice, tag: c_int, result: c_int) {
        let addr = (sdev.channel(), sdev.id(), sdev.lun());
        trace::eh(host.host_no(), step, addr, tag, result);
    }

    /// # Safety
    ///
    /// Called by the midlayer's timeout handler with a command of a host of `T`.
    unsafe extern "C" fn eh_timed_out(
        cmd: *mut bindings::scsi_cmnd,
    ) -> bindings::scsi_timeout_action {
        // SAFETY: The midlayer passes a valid command of a host of `T`, holding its device.
        let (host, sdev) = unsafe { Self::reset_target(cmd) };
        // Read before the handler may end the command.
        let addr = (sdev.channel(), sdev.id(), sdev.lun());
        // SAFETY: As above; the request is started, so its tag is set.
        let tag = unsafe { (*bindings::scsi_cmd_to_rq(cmd)).tag };
        // SAFETY: The midlayer's promise, as above.
        let action = unsafe { Self::timed_out(cmd) };
        // CAST: `scsi_timeout_action` values are small.
        trace::eh(host.host_no(), EhStep::TimedOut, addr, tag, action as c_int);
        action
    }

    /// What `eh_timed_out` answers.
    ///
    /// # Safety
    ///
    /// As for `eh_timed_out`.
    unsafe fn timed_out(cmd: *mut bindings::scsi_cmnd) -> bindings::scsi_timeout_action {
        // SAFETY: The midlayer passes a valid, started command of this host.
        let rq = unsafe { bindings::scsi_cmd_to_rq(cmd) };
        // SAFETY: `rq` is the command's request; `rq_flags` is set at allocation.
        let reserved = unsafe { (*rq).rq_flags } & (1 << bindings::rqf_flags___RQF_RESV) != 0;
        if reserved {
            // The driver's own command (an abort, say) timed out, maybe in the error handler,
            // which then waits for it: take it back from the device and end it here. The
            // device may still hold it, so its index is abandoned: no later reserved command
            // touches that frame until the device returns it or a reset makes it forget it.
            // SAFETY: The midlayer only times out commands of added hosts.
            let host = unsafe { Host::<T>::from_raw((*(*cmd).device).host) };
            // SAFETY: A started command of this host with an initialised PDU.
            return match unsafe {
                Command::<T>::take_any_from_hardware(host, NonNull::new_unchecked(cmd))
            } {
                Some(c) => {
                    c.complete_abandoned(HostByte::TimeOut);
                    bindings::scsi_timeout_action_SCSI_EH_DONE
                }
                // Completing right now: let that completion end it.
                None => bindings::scsi_timeout_action_SCSI_EH_RESET_TIMER,
            };
        }
        if !T::HAS_EH_TIMED_OUT {
            return bindings::scsi_timeout_action_SCSI_EH_NOT_HANDLED;
        }
        // SAFETY: As for `eh_abort`.
        let (host, cmd) = unsafe { EhCommand::<T>::from_raw(cmd) };
        match T::eh_timed_out(host, cmd) {
            TimeoutAction::Done => bindings::scsi_timeout_action_SCSI_EH_DONE,
            TimeoutAction::ResetTimer => bindings::scsi_timeout_action_SCSI_EH_RESET_TIMER,
            TimeoutAction::NotHandled => bindings::scsi_timeout_action_SCSI_EH_NOT_HANDLED,
        }
    }

    /// # Safety
    ///
    /// Called by the midlayer with a device of a host of `T`.
    unsafe extern "C" fn sdev_init(sdev: *mut bindings::scsi_device) -> c_int {
        // SAFETY: `sdev` and its host are valid during the call.
        let (host, sdev) = unsafe { ScsiDevice::from_raw::<T>(sdev) };
        from_result(|| T::sdev_init(host, sdev).map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by the midlayer with a device of a host of `T`.
    unsafe extern "C" fn sdev_configure(
        sdev: *mut bindings::scsi_device,
        lim: *mut bindings::queue_limits,
    ) -> c_int {
        // SAFETY: `sdev` and its host are valid during the call.
        let (host, sdev) = unsafe { ScsiDevice::from_raw::<T>(sdev) };
        // SAFETY: The midlayer passes the limits it is updating (`queue_limits_start_update()`)
        // and touches them only after the call.
        let mut lim = unsafe { QueueLimits::from_raw(lim) };
        from_result(|| T::sdev_configure(host, sdev, &mut lim).map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by the midlayer with a device of a host of `T`.
    unsafe extern "C" fn sdev_destroy(sdev: *mut bindings::scsi_device) {
        // SAFETY: `sdev` and its host are valid during the call.
        let (host, sdev) = unsafe { ScsiDevice::from_raw::<T>(sdev) };
        T::sdev_destroy(host, sdev)
    }

    /// # Safety
    ///
    /// Called by the midlayer with a device of a host of `T`.
    unsafe extern "C" fn change_queue_depth(
        sdev: *mut bindings::scsi_device,
        depth: c_int,
    ) -> c_int {
        // SAFETY: `sdev` and its host are valid during the call.
        let (host, sdev) = unsafe { ScsiDevice::from_raw::<T>(sdev) };
        let depth = T::change_queue_depth(host, sdev, u32::try_from(depth).unwrap_or(1));
        c_int::try_from(depth).unwrap_or(c_int::MAX)
    }

    /// # Safety
    ///
    /// Called by the midlayer with a host of `T`.
    unsafe extern "C" fn map_queues(shost: *mut bindings::Scsi_Host) {
        // SAFETY: The midlayer calls this while it sets up or updates the host's tag set, with
        // the host's private data initialised (`Registration::new` adds the host after it).
        let host = unsafe { Self::host(shost) };
        // SAFETY: `shost` is valid; the block layer calls `map_queues` with the tag set's maps
        // its own to write (set up, or updated under `tag_list_lock` with the queues frozen).
        let mut maps = unsafe { QueueMaps::from_raw(shost) };
        T::map_queues(host, &mut maps)
    }

    /// # Safety
    ///
    /// Called by the midlayer with a host of `T`.
    unsafe extern "C" fn mq_poll(shost: *mut bindings::Scsi_Host, queue: c_uint) -> c_int {
        // SAFETY: The midlayer only polls added hosts.
        let host = unsafe { Self::host(shost) };
        let queue = u16::try_from(queue).unwrap_or(u16::MAX);
        let n = T::mq_poll(host, queue);
        if n > 0 {
            trace::poll(host, queue, n);
        }
        c_int::try_from(n).unwrap_or(c_int::MAX)
    }

    /// # Safety
    ///
    /// `request_irq` calls this with the cookie `Registration::new` gave it: a `VectorCookie`
    /// inside a live registration.
    unsafe extern "C" fn interrupt(_irq: c_int, cookie: *mut c_void) -> bindings::irqreturn_t {
        // SAFETY: The cookie is a `VectorCookie` kept alive until `free_irq` returns.
        let v = unsafe { &*cookie.cast::<VectorCookie>() };
        // SAFETY: The handler is freed before the host data is dropped.
        let host = unsafe { Self::host(v.shost) };
        match T::interrupt(host, v.vector) {
            IrqReturn::None => bindings::irqreturn::IRQ_NONE,
            IrqReturn::Handled => bindings::irqreturn::IRQ_HANDLED,
        }
    }
}

/// The cookie of one interrupt vector: which host, which vector.
struct VectorCookie {
    shost: *mut bindings::Scsi_Host,
    vector: u16,
    irq: u32,
}

/// The most interrupt vectors a host registers.
pub const MAX_VECTORS: usize = 16;

/// An added SCSI host, from `scsi_host_alloc()` to `scsi_host_put()`.
///
/// Created under a bound device; dropping it removes the host (`scsi_remove_host()`, which
/// waits for the devices and their commands to go), frees the interrupt handlers, drops the
/// host data and puts the last reference, in that order.
///
/// # Invariants
///
/// - `shost` was allocated from `T`'s template and added under the device of `'bound`.
/// - Its private area holds an initialised [`HostData`] of `T` until `drop`.
/// - `cookies[..nr_irqs]` are registered with `request_irq` for `shost`.
#[pin_data(PinnedDrop)]
pub struct Registration<'bound, T: HostOps> {
    shost: NonNull<bindings::Scsi_Host>,
    cookies: [VectorCookie; MAX_VECTORS],
    nr_irqs: usize,
    vectors: Option<pci::IrqVectorRegistration<'bound>>,
    debugfs: Option<HostDebugfs<T>>,
    #[pin]
    _pin: PhantomPinned,
    _p: PhantomData<(&'bound (), T)>,
}

/// A host's debugfs directory and its `state` file.
type HostDebugfs<T> = (debugfs::Dir, Pin<KBox<debugfs::File<HostRef<T>>>>);

/// A host as the data of its debugfs file.
///
/// # Invariants
///
/// `shost` is a host of `T` in use while the file exists: the [`Registration`] removes the file
/// before it removes the host.
struct HostRef<T: HostOps> {
    shost: NonNull<bindings::Scsi_Host>,
    _p: PhantomData<T>,
}

// SAFETY: Only a `&Host<T>` is made from it, which is `Sync`.
unsafe impl<T: HostOps> Send for HostRef<T> {}
// SAFETY: As above.
unsafe impl<T: HostOps> Sync for HostRef<T> {}

impl<T: HostOps> HostRef<T> {
    fn host(&self) -> &Host<T> {
        // SAFETY: By the type invariant the host is in use while the file, which holds `self`,
        // exists.
        unsafe { Host::from_raw(self.shost.as_ptr()) }
    }
}

fn debugfs_show<T: HostOps>(h: &HostRef<T>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    T::debugfs_show(h.host(), f)
}

fn debugfs_write<T: HostOps>(h: &HostRef<T>, reader: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 64];
    let len = reader.len().min(buf.len());
    reader.read_slice(&mut buf[..len])?;
    T::debugfs_write(h.host(), &buf[..len])
}

// SAFETY: The registration only hands out `&Host<T>`, which is `Sync`; dropping it from
// another thread runs the C teardown, which has no thread affinity.
unsafe impl<T: HostOps> Send for Registration<'_, T> {}
// SAFETY: `&Registration` only gives `&Host<T>`, which is `Sync`.
unsafe impl<T: HostOps> Sync for Registration<'_, T> {}

impl<'bound, T: HostOps> Registration<'bound, T>
where
    HostData<'bound, T>: Send + Sync,
{
    /// Allocates a host from `template`, initialises its data with `data`, applies `config`,
    /// adds it under `dev` and installs a handler on every vector of `vectors` (none for a
    /// polled host). The caller scans it afterwards with [`Registration::scan`].
    ///
    /// A failure at any step undoes the steps before it.
    pub fn new(
        template: &'static Template<T>,
        dev: &'bound device::Device<device::Bound>,
        config: HostConfig,
        vectors: Option<pci::IrqVectorRegistration<'bound>>,
        data: impl PinInit<HostData<'bound, T>, Error> + 'bound,
    ) -> impl PinInit<Self, Error> + 'bound {
        try_pin_init!(&this in Self {
            shost: {
                let depth = u64::from(config.can_queue) + u64::from(config.nr_reserved_cmds);
                let queues = if config.host_tagset { 1 } else { u64::from(config.nr_hw_queues) };
                let indices = queues * depth;
                if indices == 0 || indices > 1 << 16 {
                    // Command indices (`Command::index`) and context tags are 16 bits wide.
                    dev_err!(
                        dev,
                        "{} queues of {} commands: 1 to 65536 command indices are possible\n",
                        queues,
                        depth
                    );
                    return Err(EINVAL);
                }
                if let Some(n) = vectors.as_ref().map(|v| v.len()).filter(|&n| n > MAX_VECTORS) {
                    dev_err!(dev, "{} interrupt vectors: a host takes at most {}\n", n, MAX_VECTORS);
                    return Err(EINVAL);
                }
                if config.nr_reserved_cmds > 0 && !T::HAS_QUEUE_RESERVED_COMMAND {
                    dev_err!(dev, "reserved commands need queue_reserved_command\n");
                    return Err(EINVAL);
                }
                if config.nr_poll_queues > 0
                    && (!T::HAS_MAP_QUEUES
                        || !T::HAS_MQ_POLL
                        || config.nr_poll_queues >= config.nr_hw_queues)
                {
                    dev_err!(
                        dev,
                        "{} poll queues of {}: needs map_queues, mq_poll and an interrupt-driven queue\n",
                        config.nr_poll_queues,
                        config.nr_hw_queues
                    );
                    return Err(EINVAL);
                }
                // CAST: at most 65536, checked above.
                let inflight = InFlight::new(dev, indices as usize, config.bounce_bytes)?;
                // CAST: The private area must hold the abstraction's part and the host data.
                let priv_size = size_of::<HostPriv<'bound, T>>() as c_int;
                // SAFETY: `template` is a valid template for the lifetime of the module.
                let shost = unsafe { bindings::scsi_host_alloc(template.as_ptr(), priv_size) };
                let shost = NonNull::new(shost).ok_or(ENOMEM)?;
                // SAFETY: The private area is `priv_size` bytes of the fresh host, aligned to at
                // least `unsigned long` like the C drivers' data, and unused.
                let private =
                    unsafe { bindings::shost_priv(shost.as_ptr()) }.cast::<HostPriv<'bound, T>>();
                if !private.is_aligned() {
                    // SAFETY: `shost` is ours and not added.
                    unsafe { bindings::scsi_host_put(shost.as_ptr()) };
                    return Err(EINVAL);
                }
                // SAFETY: `private` is valid, aligned, uninitialised memory of the right size in
                // the host's allocation, which does not move; the data is initialised below
                // before anything can raise the timer, and `teardown` stops it first.
                unsafe { SoftIrq::init::<T>(&raw mut (*private).soft, shost.as_ptr()) };
                // SAFETY: As above, for the in-flight table, which `teardown` drops.
                unsafe { (&raw mut (*private).inflight).write(inflight) };
                for id in 0..MAX_WORK {
                    // SAFETY: As for the software interrupt: nothing queues a work item before
                    // the data is initialised below, and `teardown` stops and cancels them.
                    unsafe {
                        HostWork::init::<T>(
                            (&raw mut (*private).work).cast::<HostWork>().add(id),
                            shost.as_ptr(),
                            // CAST: below `MAX_WORK`.
                            id as u8,
                        )
                    };
                }
                // SAFETY: As above, for the data field.
                let slot = unsafe { &raw mut (*private).data };
                // SAFETY: `slot` is valid, aligned and uninitialised memory of the right size.
                if let Err(e) = unsafe { data.__init(slot) } {
                    // SAFETY: `shost` is ours and not added; its table was written above and is
                    // dropped once, its data was not initialised.
                    unsafe {
                        core::ptr::drop_in_place(&raw mut (*private).inflight);
                        bindings::scsi_host_put(shost.as_ptr());
                    }
                    return Err(e);
                }
                // SAFETY: `shost` is valid and not yet added, so its limits are ours to set.
                unsafe { apply(shost.as_ptr(), &config) };
                // SAFETY: `shost` is valid; `dev` is bound for `'bound`, which outlives the host.
                let ret = unsafe { bindings::scsi_add_host(shost.as_ptr(), dev.as_raw()) };
                if let Err(e) = to_result(ret) {
                    // SAFETY: The data was initialised above and is dropped once; `shost` is
                    // not added, so nothing else uses it.
                    unsafe {
                        core::ptr::drop_in_place(slot);
                        core::ptr::drop_in_place(&raw mut (*private).inflight);
                        bindings::scsi_host_put(shost.as_ptr());
                    }
                    return Err(e);
                }
                shost
            },
            cookies: [const { VectorCookie { shost: core::ptr::null_mut(), vector: 0, irq: 0 } }; MAX_VECTORS],
            nr_irqs: 0,
            vectors,
            debugfs: None,
            _pin: PhantomPinned,
            _p: PhantomData,
            _: {
                // SAFETY: `this` is pinned and all fields are initialised.
                let me = unsafe { &mut *this.as_ptr() };
                if let Some(v) = &me.vectors {
                    // At most `MAX_VECTORS`, checked above.
                    let n = v.len().min(MAX_VECTORS);
                    for i in 0..n {
                        let irq = match v.index(i) {
                            Ok(r) => crate::irq::IrqRequest::from(r).irq(),
                            Err(e) => {
                                // SAFETY: Undo what was done: the handlers registered so far,
                                // then the host.
                                unsafe { me.teardown() };
                                return Err(e);
                            }
                        };
                        me.cookies[i] = VectorCookie {
                            shost: me.shost.as_ptr(),
                            // CAST: `i` is below `MAX_VECTORS`.
                            vector: i as u16,
                            irq,
                        };
                        // SAFETY: `irq` is a vector of the device; the cookie lives in the
                        // pinned registration until `free_irq` in `drop` (or below).
                        let ret = unsafe {
                            bindings::request_irq(
                                irq,
                                Some(Callbacks::<T>::interrupt),
                                crate::irq::Flags::SHARED.into_inner(),
                                T::NAME.as_char_ptr(),
                                core::ptr::from_mut(&mut me.cookies[i]).cast::<c_void>(),
                            )
                        };
                        if let Err(e) = to_result(ret) {
                            // SAFETY: Undo what was done: the handlers registered so far, then
                            // the host.
                            unsafe { me.teardown() };
                            return Err(e);
                        }
                        me.nr_irqs = i + 1;
                    }
                }
                if T::HAS_DEBUGFS_SHOW {
                    // Debugfs is best effort: a host works without it.
                    let _ = me.create_debugfs();
                }
            },
        })
    }
}

impl<T: HostOps> Registration<'_, T> {
    fn create_debugfs(&mut self) -> Result {
        let name = CString::try_from_fmt(crate::macros::fmt!(
            "{}-host{}",
            T::NAME.to_str()?,
            self.host().host_no()
        ))?;
        let dir = debugfs::Dir::new(&name);
        let data = HostRef::<T> {
            shost: self.shost,
            _p: PhantomData,
        };
        let file = if T::HAS_DEBUGFS_WRITE {
            KBox::pin_init(
                dir.read_write_callback_file(
                    c"state",
                    data,
                    &debugfs_show::<T>,
                    &debugfs_write::<T>,
                ),
                GFP_KERNEL,
            )?
        } else {
            KBox::pin_init(
                dir.read_callback_file(c"state", data, &debugfs_show::<T>),
                GFP_KERNEL,
            )?
        };
        self.debugfs = Some((dir, file));
        Ok(())
    }

    /// The host.
    pub fn host(&self) -> &Host<T> {
        // SAFETY: By the type invariant the host is added and its data initialised while
        // `self` lives.
        unsafe { Host::from_raw(self.shost.as_ptr()) }
    }

    /// Scans the host for devices (`scsi_scan_host()`).
    pub fn scan(&self) {
        // SAFETY: By the type invariant the host is added.
        unsafe { bindings::scsi_scan_host(self.shost.as_ptr()) }
    }

    /// Removes the host, frees the handlers, drops the data, puts the host.
    ///
    /// # Safety
    ///
    /// Called once, with the invariants holding; nothing uses the host afterwards.
    unsafe fn teardown(&mut self) {
        let shost = self.shost.as_ptr();
        // The debugfs file reads the host data: remove it first.
        self.debugfs = None;
        // No scan or reset from the work item may race the removal: stop it, and wait for a
        // run that started.
        // SAFETY: Set up in `new`, in the private area, which lives until the host is freed.
        let works = unsafe { &(*self.host().private()).work };
        for w in works {
            w.stop();
        }
        // SAFETY: The host is added (invariant); removing it waits for its devices and their
        // commands, which still need the interrupt handlers.
        unsafe { bindings::scsi_remove_host(shost) };
        if T::HAS_QUIESCE {
            T::quiesce(self.host());
        }
        for c in &mut self.cookies[..self.nr_irqs] {
            // SAFETY: Registered in `new` with this cookie.
            unsafe { bindings::free_irq(c.irq, core::ptr::from_mut(c).cast::<c_void>()) };
        }
        self.nr_irqs = 0;
        let private = self.host().private();
        // SAFETY: Set up in `new`; nothing but its own callback can raise it now that the
        // host's entry points and interrupt handlers are gone.
        unsafe { (*private).soft.stop() };
        // SAFETY: As above.
        let works = unsafe { &(*private).work };
        for w in works {
            // SAFETY: Stopped above; nothing can queue it any more (an interrupt may have
            // queued it after `stop`: that run calls nothing, and is waited for here).
            unsafe { w.cancel() };
        }
        // SAFETY: No entry point or handler can run any more; the data and the table were
        // initialised in `new` and are dropped once, here, the data first (a `Command` it may
        // hold refers to the table).
        unsafe {
            core::ptr::drop_in_place(&raw mut (*private).data);
            core::ptr::drop_in_place(&raw mut (*private).inflight);
            bindings::scsi_host_put(shost);
        }
    }
}

#[pinned_drop]
impl<T: HostOps> PinnedDrop for Registration<'_, T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `self` is not moved out of; teardown runs once, here.
        unsafe { self.get_unchecked_mut().teardown() };
    }
}

/// Applies `config` to a host that is not yet added.
///
/// # Safety
///
/// `shost` must be a valid host that is not yet added.
unsafe fn apply(shost: *mut bindings::Scsi_Host, c: &HostConfig) {
    // SAFETY: The caller's promise: nobody else looks at these fields yet.
    let s = unsafe { &mut *shost };
    s.can_queue = c_int::try_from(c.can_queue).unwrap_or(c_int::MAX);
    s.cmd_per_lun = i16::try_from(c.cmd_per_lun).unwrap_or(i16::MAX);
    s.sg_tablesize = c.sg_tablesize;
    s.max_sectors = c.max_sectors;
    s.max_segment_size = c.max_segment_size;
    s.dma_boundary = c.dma_boundary.try_into().unwrap_or(c_ulong::MAX);
    s.nr_hw_queues = u32::from(c.nr_hw_queues);
    s.max_channel = c.max_channel;
    s.max_id = c.max_id;
    s.max_lun = c.max_lun;
    s.max_cmd_len = c.max_cmd_len;
    s.set_host_tagset(u32::from(c.host_tagset));
    s.nr_reserved_cmds = u32::from(c.nr_reserved_cmds);
    if c.nr_poll_queues > 0 {
        s.nr_maps = bindings::hctx_type_HCTX_MAX_TYPES;
    }
}
