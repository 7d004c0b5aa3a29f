// SPDX-License-Identifier: GPL-2.0

//! The hardware-independent parts of `kernel::scsi`, built on the host for `cargo test`.
//!
//! The files are the overlay's own (`rust/kernel/scsi/*.rs`), included unchanged.

/// `kernel::scsi`, pure parts.
#[path = "scsi.rs"]
pub mod scsi;
