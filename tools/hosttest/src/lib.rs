// SPDX-License-Identifier: GPL-2.0

//! Host tests for the drivers' hardware-independent logic.
//!
//! Each module is a file of a driver, compiled here unchanged: its `#[cfg(test)]` tests run
//! under `cargo test`, and the same tests run in the kernel through KUnit (`#[kunit_tests]`,
//! active when the file is built into the driver). The overlay's pure modules are tested in
//! the `kernel` crate beside this one.

// The drivers use these items; here only the tests do.
#![allow(dead_code)]

/// rmegasas: firmware state and limits.
#[path = "../../../drivers/scsi/rmegasas/fw.rs"]
pub mod rmegasas_fw;

/// rmegasas: MFI frames.
#[path = "../../../drivers/scsi/rmegasas/frame.rs"]
pub mod rmegasas_frame;

/// rscsi_debug: the CDBs it emulates.
#[path = "../../../drivers/scsi/rscsi_debug/cdb.rs"]
pub mod rscsi_debug_cdb;

/// rvirtio_scsi: the virtio-scsi protocol.
#[path = "../../../drivers/scsi/rvirtio_scsi/proto.rs"]
pub mod rvirtio_scsi_proto;

/// rvirtio_scsi: the modern virtio-pci transport's capabilities and features.
#[path = "../../../drivers/scsi/rvirtio_scsi/virtio.rs"]
pub mod rvirtio_scsi_virtio;

/// rvirtio_scsi: events and what the driver does about them.
#[path = "../../../drivers/scsi/rvirtio_scsi/event.rs"]
pub mod rvirtio_scsi_event;

/// The SG cursor as rmegasas calls it, for the cost example.
pub mod sg_cost;
