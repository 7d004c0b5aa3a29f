# SPDX-License-Identifier: GPL-2.0
"""rscsi host-side harness: initramfs, QEMU runner, log judge and test orchestration."""
