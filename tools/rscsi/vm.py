# SPDX-License-Identifier: GPL-2.0
"""The QEMU runner: boots a kernel with any mix of HBAs and disks, under TCG.

A run is described by a list of `Hba`, each with its `Disk` list, and a plan name. Raw disk
images live in RAM (/dev/shm) for the length of the run; ``null`` disks use QEMU's null-co
driver (reads return zeroes, writes are dropped) for speed runs. The serial console is the only
channel between host and guest: the full log is kept, and the guest's ``RSCSI-SYNC <name>``
lines stop the guest until the host has run the matching hook and answered.

KVM hangs on the project's machines, so this always uses TCG.
"""

import dataclasses
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"
HBA_MODELS = ("megasas", "megasas-gen2", "virtio-scsi-pci", "virtio-blk-pci")
# Not an HBA: a virtio block device whose one disk is the device's own drive (the benchmark's
# ceiling, the lightest virtual disk path: no SCSI on either side).
BLOCK_MODELS = ("virtio-blk-pci",)
# HBAs sit on the root bus of a q35 machine from this slot on: 0000:00:10.0, 0000:00:11.0, ...
# (q35's ACPI routing table is static; i440fx's AML loop is too slow under KASAN and TCG).
FIRST_SLOT = 0x10


def parse_size(text):
    """Parses 512, 64K, 16M, 2G, 3T (binary multiples) into bytes."""
    m = re.fullmatch(r"(\d+)([KMGT]?)(i?B)?", text.strip(), re.IGNORECASE)
    if not m:
        raise ValueError(f"bad size '{text}' (examples: 512, 64M, 3T)")
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2).upper()]
    return int(m.group(1)) * mult


@dataclasses.dataclass
class Disk:
    """One scsi-hd behind an HBA."""

    size: int
    kind: str = "raw"  # raw (image in RAM) or null (null-co)
    block_size: int = 512
    scsi_id: int | None = None
    lun: int = 0
    blkdebug: str | None = None  # a blkdebug rules file
    latency_ms: int = 0  # null disks: every request takes this long (null-co latency-ns)
    device_opts: dict = dataclasses.field(default_factory=dict)  # rerror=report, ...
    image: str | None = None  # set by the runner for raw disks

    @classmethod
    def parse(cls, spec):
        """``SIZE[,null][,latency=MS][,bs=N][,id=N][,lun=N][,blkdebug=FILE][,<scsi-hd option>=V]``."""
        parts = spec.split(",")
        disk = cls(size=parse_size(parts[0]))
        for p in parts[1:]:
            k, _, v = p.partition("=")
            if k == "null" and not v:
                disk.kind = "null"
            elif k == "bs":
                disk.block_size = int(v)
            elif k == "id":
                disk.scsi_id = int(v)
            elif k == "lun":
                disk.lun = int(v)
            elif k == "latency":
                disk.latency_ms = int(v)
            elif k == "blkdebug":
                disk.blkdebug = os.path.abspath(v)
            elif v:
                disk.device_opts[k] = v
            else:
                raise ValueError(f"bad disk option '{p}' in '{spec}'")
        if disk.latency_ms and disk.kind != "null":
            raise ValueError(f"latency= is for null disks only, in '{spec}'")
        if disk.block_size not in (512, 4096):
            raise ValueError(f"disk block size must be 512 or 4096, not {disk.block_size}")
        if disk.size % disk.block_size:
            raise ValueError(f"disk size {disk.size} is not a multiple of {disk.block_size}")
        return disk


@dataclasses.dataclass
class Hba:
    """One host bus adapter and its disks."""

    model: str
    opts: dict = dataclasses.field(default_factory=dict)  # use_jbod=on, max_cmds=..., ...
    disks: list = dataclasses.field(default_factory=list)
    slot: int = 0
    # Behind a PCIe root port of its own (``hotplug=on``), so that QMP device_del can unplug
    # it (q35's root bus takes no hot-plug); the guest then sees it on the port's bus.
    hotplug: bool = False
    bus: int = 0

    @classmethod
    def parse(cls, spec):
        """``MODEL[,opt=value...]``, e.g. ``megasas,use_jbod=on`` or ``virtio-scsi-pci,num_queues=2``."""
        model, *rest = spec.split(",")
        if model == "virtio-scsi":
            model = "virtio-scsi-pci"
        if model not in HBA_MODELS:
            raise ValueError(f"unknown HBA '{model}' (have: {', '.join(HBA_MODELS)})")
        opts = {}
        hotplug = False
        for p in rest:
            k, eq, v = p.partition("=")
            if not eq:
                raise ValueError(f"bad HBA option '{p}' in '{spec}' (want name=value)")
            if k == "hotplug":
                hotplug = v == "on"
                continue
            opts[k] = v
        return cls(model=model, opts=opts, hotplug=hotplug)

    @property
    def pci_address(self):
        if self.hotplug:
            return f"0000:{self.bus:02x}:00.0"
        return f"0000:00:{self.slot:02x}.0"


def assign(hbas, first=0):
    """Gives each HBA its PCI slot and each disk without one its SCSI id; checks for clashes.

    ``first`` is the index in the VM of the first of ``hbas`` (a part of a combined run, see
    suite.combined): the slots are those the whole VM's list gives them.

    An HBA behind a root port (``hotplug``) is on the port's secondary bus: the firmware
    numbers the ports' buses from 1 in slot order, and Linux keeps its numbers."""
    bus = 0
    for i, hba in enumerate(hbas):
        if first and hba.hotplug:
            raise ValueError("an HBA behind a root port cannot be part of a combined run")
        hba.slot = FIRST_SLOT + first + i
        if hba.hotplug:
            bus += 1
            hba.bus = bus
        used = set()
        for j, disk in enumerate(hba.disks):
            if disk.scsi_id is None:
                disk.scsi_id = j
            key = (disk.scsi_id, disk.lun)
            if key in used:
                raise ValueError(f"two disks at scsi-id {key[0]} lun {key[1]} on {hba.model}")
            used.add(key)
    return hbas


@dataclasses.dataclass
class RunResult:
    log_path: str
    lines: list
    timed_out: bool
    exit_code: int
    seconds: float
    # The kernel never reached the guest's /init (it prints INIT_MARKER) within the boot
    # deadline: an emulator stall, not a result.
    stalled: bool = False


# What the guest's /init prints first, and how long the kernel may take to get there (the
# debug kernel runs its KUnit suites and doctests first: about 30 s under TCG).
INIT_MARKER = "RSCSI-INIT"
BOOT_DEADLINE = 300


class Vm:
    """One QEMU process, set up from a list of HBAs."""

    def __init__(self, kernel, initrd, hbas, *, memory="2048", smp=2, append="",
                 qmp=None, trace=None, trace_log=None, extra_args=(), workdir=None):
        self.kernel = kernel
        self.initrd = initrd
        self.hbas = hbas
        self.memory = memory
        self.smp = smp
        self.append = append
        self.qmp = qmp
        self.trace = trace
        # Where QEMU's trace goes: out of the working directory, which cleanup() removes.
        self.trace_log = trace_log
        self.extra_args = list(extra_args)
        self.workdir = workdir or tempfile.mkdtemp(prefix="rscsi-", dir="/dev/shm")
        self._assign()

    def _assign(self):
        assign(self.hbas)

    def args(self):
        a = [QEMU, "-M", "q35", "-accel", "tcg", "-m", str(self.memory), "-smp", str(self.smp),
             "-no-reboot", "-kernel", self.kernel, "-initrd", self.initrd,
             "-append", f"console=ttyS0,115200 panic=-1 oops=panic {self.append}".strip(),
             "-nodefaults", "-no-user-config", "-vga", "none"]
        for i, hba in enumerate(self.hbas):
            opts = "".join(f",{k}={v}" for k, v in hba.opts.items())
            if hba.hotplug:
                a += ["-device", f"pcie-root-port,id=rp{i},chassis={i + 1},addr={hba.slot:#x}"]
                a += ["-device", f"{hba.model},id=hba{i},bus=rp{i}{opts}"]
            elif hba.model in BLOCK_MODELS:
                # Its drive, made below with the disks, is the device's.
                if len(hba.disks) != 1:
                    raise ValueError(f"{hba.model} takes one disk, not {len(hba.disks)}")
                opts += f",drive=d{i}_0"
                if hba.disks[0].block_size != 512:
                    bs = hba.disks[0].block_size
                    opts += f",logical_block_size={bs},physical_block_size={bs}"
                a += ["-device", f"{hba.model},id=hba{i},addr={hba.slot:#x}{opts}"]
            else:
                a += ["-device", f"{hba.model},id=hba{i},addr={hba.slot:#x}{opts}"]
            for j, d in enumerate(hba.disks):
                node = f"d{i}_{j}"
                if d.kind == "null":
                    lat = f",latency-ns={d.latency_ms * 1000000}" if d.latency_ms else ""
                    a += ["-blockdev", f"driver=null-co,node-name={node},size={d.size},read-zeroes=on{lat}"]
                else:
                    if d.image is None:
                        d.image = os.path.join(self.workdir, f"hba{i}-disk{j}.img")
                        with open(d.image, "wb") as f:
                            f.truncate(d.size)
                    a += ["-blockdev", f"driver=file,node-name=f{node},filename={d.image}"]
                    proto = f"f{node}"
                    if d.blkdebug:
                        a += ["-blockdev", f"driver=blkdebug,node-name=b{node},config={d.blkdebug},image={proto}"]
                        proto = f"b{node}"
                    a += ["-blockdev", f"driver=raw,node-name={node},file={proto}"]
                if hba.model in BLOCK_MODELS:
                    continue
                dev = (f"scsi-hd,bus=hba{i}.0,scsi-id={d.scsi_id},lun={d.lun},drive={node},"
                       f"logical_block_size={d.block_size},physical_block_size={d.block_size}")
                dev += "".join(f",{k}={v}" for k, v in d.device_opts.items())
                if hba.model == "virtio-scsi-pci":
                    dev = dev.replace("scsi-hd,", "scsi-hd,channel=0,", 1)
                a += ["-device", dev]
        if self.qmp:
            a += ["-qmp", f"unix:{self.qmp},server=on,wait=off"]
        if self.trace:
            a += ["-trace", self.trace, "-D",
                  self.trace_log or os.path.join(self.workdir, "qemu-trace.log")]
        # RSCSI_QEMU_ARGS: extra QEMU arguments for one-off investigations (a TCG plugin, a
        # different -smp); tools/profile uses it.
        return a + self.extra_args + shlex.split(os.environ.get("RSCSI_QEMU_ARGS", ""))

    def run(self, log_path, timeout, hooks=None, echo=False, boot_deadline=BOOT_DEADLINE):
        """Boots, feeds sync points, and waits for QEMU to exit or the timeout.

        ``hooks`` maps a sync-point name to a callable run before the host answers it; a name
        of the form ``NAME:ARG:ARG...`` with no hook of its own calls the hook ``NAME`` with the
        arguments as strings after the VM. A guest that has not reached /init after
        ``boot_deadline`` seconds is stopped and the result marked ``stalled``.
        """
        hooks = hooks or {}
        start = time.monotonic()
        lines = []
        timed_out = False
        stalled = False
        at_init = False
        # Line-buffered, so that the log of a run in progress can be followed (tail -f).
        with open(log_path, "w", errors="replace", buffering=1) as log:
            log.write("# " + " ".join(self.args()) + "\n")
            proc = subprocess.Popen(self.args() + ["-display", "none", "-serial", "stdio", "-monitor", "none"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            buf = b""
            while True:
                elapsed = time.monotonic() - start
                left = timeout - elapsed
                if left <= 0:
                    timed_out = True
                    proc.kill()
                    break
                if not at_init and elapsed > boot_deadline:
                    stalled = True
                    proc.kill()
                    break
                r, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
                if not r:
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                *complete, buf = buf.split(b"\n")
                for raw in complete:
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    lines.append(line)
                    log.write(line + "\n")
                    if not at_init and INIT_MARKER in line:
                        at_init = True
                    if echo:
                        print(line, flush=True)
                    sync = sync_name(line)
                    if sync:
                        answer = "go"
                        name, *hook_args = sync.split(":")
                        hook = hooks.get(sync)
                        if hook:
                            answer = hook(self) or "done"
                        elif hook_args and name in hooks:
                            answer = hooks[name](self, *hook_args) or "done"
                        proc.stdin.write(answer.encode() + b"\n")
                        proc.stdin.flush()
            if buf:
                lines.append(buf.decode("utf-8", "replace"))
                log.write(lines[-1] + "\n")
            code = proc.wait()
            if timed_out:
                log.write(f"# rscsi: timed out after {timeout} s\n")
            if stalled:
                log.write(f"# rscsi: the guest did not reach /init within {boot_deadline} s\n")
        return RunResult(log_path, lines, timed_out, code, time.monotonic() - start, stalled)

    def interactive(self):
        """Boots with the serial console on this terminal."""
        return subprocess.call(self.args() + ["-nographic"])

    def cleanup(self):
        shutil.rmtree(self.workdir, ignore_errors=True)


def sync_name(line):
    """The name of the sync point a console line announces (``RSCSI-SYNC <name>``), or None.

    A kernel message may follow the name on the same line (the serial console interleaves
    printk output with the guest's write before its newline): the name is what precedes it,
    in the characters names use. The shell's echo of the command itself is not one."""
    m = re.search(r"RSCSI-SYNC ([A-Za-z0-9_.:+-]+)", line)
    if not m or line.startswith("echo"):
        return None
    return m.group(1)


def corrupt(disk, offset=None, length=1 << 20):
    """Overwrites part of a raw disk image behind the guest's back (the negative control)."""
    if disk.image is None:
        raise ValueError("only raw disks can be corrupted")
    if offset is None:
        offset = 0
    with open(disk.image, "r+b") as f:
        f.seek(offset)
        f.write(bytes((i * 7 + 13) & 0xFF for i in range(length)))
        f.flush()
        os.fsync(f.fileno())
    print(f"rscsi: corrupted {length} bytes at {offset} of {disk.image}", file=sys.stderr)
