# SPDX-License-Identifier: GPL-2.0
"""What QEMU's emulated HBAs report for a given set of properties.

The expectations the probe plans check come from here, written from QEMU's
hw/scsi/megasas.c (``megasas_scsi_realize``) for the QEMU the project runs (Debian 12's 7.2).
When the device disagrees, the device is right: ``-trace megasas_init`` prints what it chose.
"""

MEGASAS_DEFAULT_CMDS = {"megasas": 1000, "megasas-gen2": 1008}
MEGASAS_MAX_FRAMES = 2048
MEGASAS_DEFAULT_SGE = 80
MEGASAS_MAX_SGE = 128
MFI_PASS_FRAME_SIZE = 48


def megasas_limits(model, opts):
    """(max_cmds, max_sge) the firmware status word reports for these device properties."""
    cmds = int(opts.get("max_cmds", MEGASAS_DEFAULT_CMDS[model]))
    cmds = min(cmds, MEGASAS_MAX_FRAMES)
    sge = int(opts.get("max_sge", MEGASAS_DEFAULT_SGE))
    # QEMU 7.2: three steps, not a clamp.
    if sge >= MEGASAS_MAX_SGE - MFI_PASS_FRAME_SIZE:
        sge = MEGASAS_MAX_SGE - MFI_PASS_FRAME_SIZE
    elif sge >= 128 - MFI_PASS_FRAME_SIZE:
        sge = 128 - MFI_PASS_FRAME_SIZE
    else:
        sge = 64 - MFI_PASS_FRAME_SIZE
    return cmds, sge
