// SPDX-License-Identifier: GPL-2.0

//! `kernel::scsi`, the parts that need only `core`.

/// Little-endian frame fields.
#[path = "../../../../rust/kernel/scsi/bytes.rs"]
pub mod bytes;
/// Completion ring indices and context tags.
#[path = "../../../../rust/kernel/scsi/ring.rs"]
pub mod ring;
/// The property tests' generator.
#[path = "../../../../rust/kernel/scsi/rng.rs"]
pub mod rng;
/// Sense data.
#[path = "../../../../rust/kernel/scsi/sense.rs"]
pub mod sense;
/// The SG cursor.
#[path = "../../../../rust/kernel/scsi/sg.rs"]
pub mod sg;
/// Result codes.
#[path = "../../../../rust/kernel/scsi/status.rs"]
pub mod status;
/// Split virtqueue rings.
#[path = "../../../../rust/kernel/scsi/vring.rs"]
pub mod vring;
