// SPDX-License-Identifier: GPL-2.0

//! rmegasas: a Rust driver for LSI MegaRAID SAS controllers through the MFI interface.
//!
//! Supports the SAS 1078 (PCI 1000:0060, QEMU `-device megasas`) and the SAS 2108
//! (PCI 1000:0079, QEMU `-device megasas-gen2`). This first slice brings the controller up to a
//! known state and reports its limits: it enables the device, maps the register BAR, reads the
//! firmware state (resetting the controller into READY when it is not), checks the limits the
//! firmware reports, logs them and exposes them in debugfs under
//! `/sys/kernel/debug/rmegasas-<pci address>/`.

use kernel::{
    debugfs,
    device::Core,
    io::{
        poll::read_poll_timeout,
        Io, //
    },
    pci,
    prelude::*,
    str::CString,
    time::Delta, //
};

mod fw;
mod regs;

use fw::{
    FwState,
    FwStatus,
    Limits, //
};

/// The controller models this driver takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Model {
    /// LSI SAS 1078 (`megasas`, gen1).
    Sas1078,
    /// LSI SAS 2108 (`megasas-gen2`).
    Sas2108,
}

impl Model {
    /// The memory BAR that holds the MFI registers.
    pub(crate) const fn register_bar(self) -> u32 {
        match self {
            Self::Sas1078 => 0,
            Self::Sas2108 => 1,
        }
    }

    /// The model's name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Sas1078 => "SAS1078",
            Self::Sas2108 => "SAS2108",
        }
    }
}

type Bar<'bound> = pci::Bar<'bound, { regs::WINDOW }>;

/// How long the firmware may take to reach READY after a reset (Linux allows up to 180 s for
/// real hardware; QEMU is immediate).
const READY_TIMEOUT: Delta = Delta::from_secs(60);

/// Per-controller state.
#[pin_data]
struct Rmegasas<'bound> {
    pdev: &'bound pci::Device,
    _bar: Bar<'bound>,
    #[pin]
    _model: debugfs::File<&'static str>,
    #[pin]
    _fw_state: debugfs::File<&'static str>,
    #[pin]
    _max_cmds: debugfs::File<u16>,
    #[pin]
    _max_sge: debugfs::File<u16>,
    #[pin]
    _msix_supported: debugfs::File<bool>,
    // Dropped last, after the files in it.
    _debugfs: debugfs::Dir,
}

/// Reads the status word until the firmware is READY, resetting it first when it is in any
/// other state but FAULT.
fn transition_to_ready(pdev: &pci::Device, bar: &Bar<'_>) -> Result<FwStatus> {
    let status = FwStatus(bar.read(regs::OSP0).value().into());
    match status.state() {
        FwState::Ready => return Ok(status),
        FwState::Fault => {
            dev_err!(pdev, "firmware is in FAULT state (status {:#010x})\n", status.0);
            return Err(ENODEV);
        }
        state => {
            dev_info!(pdev, "firmware is {}, resetting it to READY\n", state);
            bar.write_reg(regs::IDB::zeroed().with_ready(true).with_abort(true));
        }
    }
    // TIMEOUT: QEMU resets at once; real controllers take seconds.
    read_poll_timeout(
        || Ok(FwStatus(bar.read(regs::OSP0).value().into())),
        |s: &FwStatus| matches!(s.state(), FwState::Ready | FwState::Fault),
        Delta::from_millis(10),
        READY_TIMEOUT,
    )
    .inspect_err(|_| dev_err!(pdev, "firmware never became READY after a reset\n"))
    .and_then(|s| {
        if s.state() == FwState::Fault {
            dev_err!(pdev, "firmware went to FAULT during reset (status {:#010x})\n", s.0);
            Err(ENODEV)
        } else {
            Ok(s)
        }
    })
}

kernel::pci_device_table!(
    PCI_TABLE,
    <Rmegasas<'static> as pci::Driver>::IdInfo,
    [
        (
            pci::DeviceId::from_id(pci::Vendor::LSI_LOGIC, 0x0060),
            Model::Sas1078
        ),
        (
            pci::DeviceId::from_id(pci::Vendor::LSI_LOGIC, 0x0079),
            Model::Sas2108
        ),
    ]
);

impl pci::Driver for Rmegasas<'static> {
    type IdInfo = Model;
    type Data<'bound> = Rmegasas<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        let model = *info.ok_or(ENODEV)?;
        pdev.enable_device_mem()?;
        pdev.set_master();
        let bar = pdev
            .iomap_region_sized::<{ regs::WINDOW }>(model.register_bar(), c"rmegasas")
            .inspect_err(|e| {
                dev_err!(pdev, "cannot map BAR {}: {:?}\n", model.register_bar(), e)
            })?;

        let status = transition_to_ready(pdev, &bar)?;
        let Limits { max_cmds, max_sge } = status.limits().map_err(|e| {
            dev_err!(pdev, "{} (status {:#010x})\n", e, status.0);
            EINVAL
        })?;
        dev_info!(
            pdev,
            "{} firmware {}: max_cmds {}, max_sge {}, MSI-X {}\n",
            model.name(),
            status.state(),
            max_cmds,
            max_sge,
            if status.msix_supported() { "yes" } else { "no" }
        );

        let name = CString::try_from_fmt(fmt!("rmegasas-{}", pdev.as_ref().name().to_str()?))?;
        let dir = debugfs::Dir::new(&name);
        try_pin_init!(Rmegasas {
            pdev,
            _bar: bar,
            _model <- dir.read_only_file(c"model", model.name()),
            _fw_state <- dir.read_only_file(c"fw_state", status.state().name()),
            _max_cmds <- dir.read_only_file(c"max_cmds", max_cmds),
            _max_sge <- dir.read_only_file(c"max_sge", max_sge),
            _msix_supported <- dir.read_only_file(c"msix_supported", status.msix_supported()),
            _debugfs: dir,
        })
    }
}

impl Drop for Rmegasas<'_> {
    fn drop(&mut self) {
        dev_info!(self.pdev, "controller released\n");
    }
}

kernel::module_pci_driver! {
    type: Rmegasas<'static>,
    name: "rmegasas",
    authors: ["rscsi developers"],
    description: "Rust driver for LSI MegaRAID SAS controllers (MFI interface)",
    license: "GPL v2",
}
