// SPDX-License-Identifier: GPL-2.0

//! SCSI host bus adapter drivers: the midlayer's host template, hosts and commands, and the
//! toolkit HBA drivers share.
//!
//! C headers: [`include/scsi/scsi_host.h`](srctree/include/scsi/scsi_host.h),
//! [`include/scsi/scsi_cmnd.h`](srctree/include/scsi/scsi_cmnd.h),
//! [`include/scsi/scsi_device.h`](srctree/include/scsi/scsi_device.h).
//!
//! The types with C counterparts:
//!
//! - [`HostOps`] is the driver's `struct scsi_host_template`; [`Template`] is the C template
//!   built from it, at compile time ([`crate::scsi_host_template!`]).
//! - [`Host`] abstracts `struct Scsi_Host`; [`Registration`] owns one from `scsi_host_alloc()`
//!   through `scsi_add_host()` to `scsi_remove_host()` and `scsi_host_put()`.
//! - [`Command`] and [`EhCommand`] abstract `struct scsi_cmnd` as owned by the driver and as
//!   lent by the error handler; [`ScsiDevice`] abstracts `struct scsi_device`, and
//!   [`DeviceRef`] a counted reference to one, for hot-plug ([`Host::lookup_device`],
//!   [`Host::add_device`], [`DeviceRef::remove`]).
//!
//! And the HBA toolkit, which has none (see `Documentation/scsi/rscsi.rst`):
//!
//! - [`slots::SlotPool`]: per-tag DMA-coherent command and response slots, allocated at probe.
//! - [`soft`]: hosts with no hardware ([`SoftHost`]) and the software interrupt every host
//!   has ([`Host::raise_soft_interrupt`]).
//! - [`sg`]: the SG cursor, which writes a command's scatterlist as hardware descriptors.
//! - [`ring`]: completion ring indices and [`ring::ContextTag`]s, which tie a completion to
//!   one submission so that late ones are ignored.
//! - [`sense`] and [`status`]: sense data and result codes.
//! - [`work`]: the host's work item ([`Host::queue_work`], [`HostOps::work`]), for what the
//!   interrupt handler cannot do itself (scans, hot-plug, a reset).
//! - [`trace`]: trace events of commands, doorbells, interrupts and error handling, for every
//!   driver (`include/trace/events/rscsi.h`).
//! - [`virtqueue`]: split virtqueues in DMA-coherent memory the driver owns, on the ring
//!   arithmetic of [`vring`], for virtio devices a driver binds to directly.
//!
//! A driver must:
//!
//! - Implement [`HostOps`] and create its template with [`crate::scsi_host_template!`].
//! - In probe, create a [`Registration`] with its [`HostConfig`] (limits the device reported),
//!   its interrupt vectors and its host data, then [`Registration::scan`] it.
//! - Complete every [`Command`] exactly once: [`Command::complete`] (the types make a second
//!   completion impossible), or hand it to the device with [`Command::into_hardware`] and take
//!   it back with [`Host::take_from_hardware`] when the device reports it. A dropped command is
//!   completed with `DID_ERROR` and a warning.
//! - Not allocate or sleep in `queuecommand` or the interrupt handler.
//!
//! Ownership of hosts, commands and slots is explained in `Documentation/scsi/rscsi.rst`.
//!
//! # Examples
//!
//! A host whose device completes every command at once (as a null device would):
//!
//! ```no_run
//! use kernel::{
//!     device::{Bound, Device},
//!     prelude::*,
//!     scsi::{self, Command, Host, HostByte, HostConfig, HostOps, Refused, ScsiStatus},
//!     types::CovariantForLt,
//! };
//!
//! struct NullHba;
//!
//! #[vtable]
//! impl HostOps for NullHba {
//!     type HostData = CovariantForLt!(());
//!     type CmdData = ();
//!     const NAME: &'static CStr = c"null_hba";
//!
//!     fn queuecommand(_host: &Host<Self>, cmd: Command<Self>) -> Result<(), Refused<Self>> {
//!         cmd.complete_with(HostByte::Ok, ScsiStatus::GOOD);
//!         Ok(())
//!     }
//! }
//!
//! fn probe<'a>(
//!     dev: &'a Device<Bound>,
//!     template: &'static scsi::Template<NullHba>,
//! ) -> impl PinInit<scsi::Registration<'a, NullHba>, Error> + 'a {
//!     scsi::Registration::new(template, dev, HostConfig::new(64), None, Ok::<(), Error>(()))
//! }
//! ```

pub mod bytes;
pub mod command;
pub mod device;
pub mod fault;
pub mod host;
pub mod inflight;
pub mod ring;
pub mod rng;
pub mod sense;
pub mod sg;
pub mod slots;
pub mod soft;
pub mod status;
pub mod trace;
pub mod virtqueue;
pub mod vring;
pub mod work;

pub use command::{Command, CommandId, EhCommand, Reserved, SENSE_BUFFERSIZE};
pub use device::{DeviceRef, QueueLimits, ScsiDevice, UnitReady};
pub use host::{
    queues_param, Busy, EhStatus, Host, HostConfig, HostData, HostOps, QueueMaps, QueueType,
    Refused, Registration, Template, TimeoutAction,
};
pub use soft::{SoftHost, SOFT_VECTOR};
pub use status::{HostByte, ScsiStatus};

use crate::bindings;

// The pure modules carry the ABI values themselves so that they build on the host; check them
// against the C headers here.
const _: () = {
    // CAST: Comparing small C enum values.
    assert!(HostByte::Ok as u32 == bindings::scsi_host_status_DID_OK);
    assert!(HostByte::Error as u32 == bindings::scsi_host_status_DID_ERROR);
    assert!(HostByte::Reset as u32 == bindings::scsi_host_status_DID_RESET);
    assert!(HostByte::Requeue as u32 == bindings::scsi_host_status_DID_REQUEUE);
    assert!(HostByte::BadTarget as u32 == bindings::scsi_host_status_DID_BAD_TARGET);
    assert!(HostByte::Abort as u32 == bindings::scsi_host_status_DID_ABORT);
    assert!(HostByte::BusBusy as u32 == bindings::scsi_host_status_DID_BUS_BUSY);
    assert!(
        HostByte::TransportDisrupted as u32 == bindings::scsi_host_status_DID_TRANSPORT_DISRUPTED
    );
    assert!(ScsiStatus::CHECK_CONDITION.0 as u32 == bindings::sam_status_SAM_STAT_CHECK_CONDITION);
    assert!(ScsiStatus::BUSY.0 as u32 == bindings::sam_status_SAM_STAT_BUSY);
    assert!(ScsiStatus::TASK_SET_FULL.0 as u32 == bindings::sam_status_SAM_STAT_TASK_SET_FULL);
    assert!(SENSE_BUFFERSIZE == 96);
};
