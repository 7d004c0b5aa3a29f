// SPDX-License-Identifier: GPL-2.0

//! MFI register map of the SAS 1078 (`megasas`) and SAS 2108 (`megasas-gen2`) controllers.
//!
//! # Definitions
//!
//! - MFI: MegaRAID Firmware Interface, the frame-based protocol both controllers speak.
//! - IDB: inbound doorbell, host to firmware.
//! - OSTS, OMSK, ODCR: outbound interrupt status, mask and doorbell clear, firmware to host.
//! - IQP: inbound queue port, where the host posts a frame's bus address.
//! - OSP0: outbound scratch pad 0, the firmware status word (see [`crate::fw`]).
//!
//! Names follow `struct megasas_register_set` in
//! [`drivers/scsi/megaraid/megaraid_sas.h`](srctree/drivers/scsi/megaraid/megaraid_sas.h).
//! Both models share this map; only the BAR that holds it differs
//! ([`crate::Model::register_bar`]).

#![allow(non_camel_case_types)]

use kernel::io::register;

/// Size of the register window the driver maps; every register below lies inside it.
pub(crate) const WINDOW: usize = 0x100;

register! {
    /// Outbound message 0: a mirror of the firmware status word.
    pub(crate) OMSG0(u32) @ 0x18 {
        31:0 value;
    }

    /// Inbound doorbell.
    pub(crate) IDB(u32) @ 0x20 {
        /// `MFI_STOP_ADP`: stop the adapter (the firmware goes to FAULT).
        5:5 stop_adp => bool;
        /// `MFI_INIT_MFIMODE`.
        2:2 mfi_mode => bool;
        /// `MFI_INIT_READY`: reset the controller into READY.
        1:1 ready => bool;
        /// `MFI_INIT_ABORT`: abort every outstanding command.
        0:0 abort => bool;
    }

    /// Outbound interrupt status.
    pub(crate) OSTS(u32) @ 0x30 {
        31:0 value;
    }

    /// Outbound interrupt mask. All ones disables interrupts and, on these controllers, also
    /// resets the firmware's reply queue: never write it once the queue is registered.
    pub(crate) OMSK(u32) @ 0x34 {
        31:0 value;
    }

    /// Inbound queue port: posts a frame below 4 GiB (address | extra frames << 1 | 1).
    pub(crate) IQP(u32) @ 0x40 {
        31:0 value;
    }

    /// Outbound doorbell clear: acknowledges an interrupt.
    pub(crate) ODCR0(u32) @ 0xA0 {
        31:0 value;
    }

    /// Outbound scratch pad 0: the firmware status word.
    pub(crate) OSP0(u32) @ 0xB0 {
        31:0 value;
    }

    /// Inbound queue port, low half of a 64-bit frame address (after [`IQPH`]).
    pub(crate) IQPL(u32) @ 0xC0 {
        31:0 value;
    }

    /// Inbound queue port, high half of a 64-bit frame address.
    pub(crate) IQPH(u32) @ 0xC4 {
        31:0 value;
    }
}
