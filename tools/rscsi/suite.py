# SPDX-License-Identifier: GPL-2.0
"""The guest runs every ``check`` makes, and the VM the main job boots.

A `Run` is one boot: the HBAs and disks QEMU gets, the plan the guest runs, its settings, and
what the host does at the plan's sync points. Each run's result is judged from the whole serial
log (see judge.py).
"""

import dataclasses
import os

from . import qemu_model, qmp
from .vm import FIRST_SLOT, Disk, Hba, assign, corrupt


@dataclasses.dataclass
class Run:
    name: str
    plan: str
    hbas: list
    settings: dict = dataclasses.field(default_factory=dict)
    # A bound for a run that hangs, not a wait: a run ends when its plan does. rmegasas-raid (half
    # of today's rmegasas-disks) took 762 s on a host busy with a second check; 2400 s is three
    # times that. Longer runs set their own.
    timeout: int = 2400
    hooks: dict = dataclasses.field(default_factory=dict)
    # "pass": the plan must pass. "fail-verify": a negative control; the run must fail, and only
    # through fio verify failures, with no kernel report.
    expect: str = "pass"
    description: str = ""
    # Kernel report kinds (judge.REPORTS) that do not fail the run: only for a C driver's
    # baseline, whose reports the plan shows but which are not ours to fix.
    allow: tuple = ()
    # For "fail-verify": the results that must fail, by a part of their names; every other
    # result must pass.
    must_fail: tuple = ()
    # Whether KUnit runs in this boot: the overlay's suites and doctests at boot, and the
    # suites of every module the plan loads. They take some 10 s of every boot of the debug
    # kernel under TCG and give the same results each time, so check runs them in the few
    # boots that together load every module (see check_runs); the others boot with
    # kunit.enable=0.
    kunit: bool = True
    # More kernel parameters for this boot.
    append: str = ""
    # The parts of a combined run (see `combined`): (plan, settings) in the order they run.
    parts: list = dataclasses.field(default_factory=list)


def disk_table(hbas, first=0):
    """The plans' RSCSI_DISKS: HBA index, model, PCI address, SCSI id, LUN, size, block size;
    ``first`` as in `assign`."""
    assign(hbas, first)
    return "\n".join(
        f"{first + i} {h.model} {h.pci_address} {d.scsi_id} {d.lun} {d.size} {d.block_size}"
        for i, h in enumerate(hbas) for d in h.disks)


def hba_table(hbas, first=0):
    """Per-HBA expectations for the probe plan: index, model, PCI address, max_cmds, max_sge."""
    assign(hbas, first)
    lines = []
    for i, h in enumerate(hbas):
        if h.model.startswith("megasas"):
            cmds, sge = qemu_model.megasas_limits(h.model, h.opts)
            lines.append(f"{first + i} {h.model} {h.pci_address} {cmds} {sge}")
    return "\n".join(lines)


def combined(name, runs, description, shared=False):
    """One boot for several runs: their HBAs side by side in one VM and their plans in turn
    (the guest's "parts" plan), each part with its own settings, disk table and sync points
    (prefixed ``p<k>.``), as one KTAP. Each part's plan sees only its own disks; a module it
    loads binds every controller of its kind in the VM, and each plan unloads what it loaded.

    What it saves: a boot of the debug kernel under TCG reaches /init in some 11 s, and the
    leak scan that ends every run some 12 s (two kmemleak scans), so each run folded into
    another saves some 25 s of check. Runs that need
    kernel parameters the others do not, KUnit or an expectation of their own keep their boot. A part built by a
    function that bakes a PCI address or an HBA id into its settings or hooks must be told its
    place (``at``, the index of its first HBA here). Parts share the boot's kernel parameters,
    so they must ask for the same ones; a part's allowed reports (a C driver's baseline) are
    allowed in its own part of the log only.

    ``shared``: the parts run on the same controllers, one after the other (each unloads its
    drivers before the next loads its own), so their runs must have been built with the same
    ones; a C driver's baseline after ours on the same devices, say."""
    hbas, parts, hooks, timeout, allow = [], [], {}, 0, []
    # Before any is placed (placing sets the disks' SCSI ids).
    specs = [_hba_specs(r.hbas) for r in runs]
    for k, r in enumerate(runs):
        if r.append != runs[0].append or r.expect != "pass":
            raise ValueError(f"{r.name} needs a boot of its own")
        if shared and specs[k] != specs[0]:
            raise ValueError(f"{r.name}: not the controllers of {runs[0].name}")
        allow += [("part", k, a) for a in r.allow]
        first = 0 if shared else len(hbas)
        # A builder that placed its controllers itself (to name an address in its settings)
        # must have placed them where they are in the VM.
        if any(h.slot and h.slot != FIRST_SLOT + first + i for i, h in enumerate(r.hbas)):
            raise ValueError(f"{r.name}: built for another place in the VM (give it at={first})")
        if not shared or not k:
            hbas += r.hbas
        settings = dict(r.settings)
        settings.setdefault("RSCSI_DISKS", disk_table(r.hbas, first))
        settings.setdefault("RSCSI_HBAS", hba_table(r.hbas, first))
        settings["RSCSI_SYNC_PREFIX"] = f"p{k}."
        parts.append((r.plan, settings))
        hooks.update({f"p{k}.{n}": f for n, f in r.hooks.items()})
        # A bound for a run that hangs: the largest part's (each is several times that part's
        # slowest run), and 300 s for every other part (the runs folded so far take 30 to
        # 120 s each).
        timeout = max(timeout, r.timeout) + (300 if k else 0)
    assign(hbas)
    return Run(name, "parts", hbas, {"RSCSI_PARTS": " ".join(p for p, _ in parts)},
               timeout=timeout, hooks=hooks, parts=parts, description=description,
               allow=tuple(allow), append=runs[0].append)


def _hba_specs(hbas):
    """What makes controllers the same for `combined`: models, options and disks."""
    return [(h.model, sorted(h.opts.items()), h.hotplug,
             [dataclasses.astuple(d) for d in h.disks]) for h in hbas]


def _disks(*specs):
    return [Disk.parse(s) for s in specs]


def c_drivers():
    """The data-path plan on the C drivers, for all three HBA models in one VM."""
    hbas = [
        Hba("megasas", disks=_disks("64M", "32M,bs=4096")),
        Hba("megasas-gen2", disks=_disks("48M")),
        Hba("virtio-scsi-pci", disks=_disks("64M", "40M,lun=1")),
    ]
    return Run("c-drivers", "disks", hbas,
               {"RSCSI_MODULES": "megaraid_sas virtio_pci+virtio_scsi"},
               description="megaraid_sas and virtio_scsi: disks, fio crc32c verify, SG_IO")


def negative_control():
    """The same plan with an image overwritten between the write and verify passes: two disks
    verified by one fio process (RSCSI_FIO_PARALLEL=2), the first corrupted. The first must
    fail and the second must pass: a disk of a batch passes or fails on its own."""
    hbas = [Hba("megasas", disks=_disks("64M", "32M"))]
    assign(hbas)
    first = hbas[0].disks[0]

    def corrupt_first_disk(vm):
        disk = vm.hbas[0].disks[0]
        # fio writes 16 MiB ending 1 MiB before the end of the disk (the disks plan); overwrite
        # 8 MiB in the middle of that.
        start = disk.size - (17 << 20)
        corrupt(disk, offset=start + (4 << 20), length=8 << 20)
        return "corrupted"

    return Run("negative-control", "disks", hbas,
               {"RSCSI_MODULES": "megaraid_sas", "RSCSI_FIO_PARALLEL": "2"},
               hooks={"megaraid_sas-written": corrupt_first_disk},
               expect="fail-verify",
               must_fail=(f"fio verify hba0 megasas {first.scsi_id}:{first.lun} ",),
               description="data changed behind the driver's back must be reported, on that "
                           "disk only")


def rmegasas_disks():
    """The data-path plan on rmegasas, in RAID and in JBOD mode in one boot: each mode on both
    models, with 1 and 8 disks, a disk over 2 TiB (written beyond 2 TiB) and one with
    4096-byte blocks."""
    eight = ["3T", "48M,bs=4096", "24M", "24M", "24M", "24M", "24M", "32M"]
    jbod = {"use_jbod": "on"}
    hbas = [Hba("megasas", disks=_disks(*eight)),
            Hba("megasas-gen2", disks=_disks("64M")),
            Hba("megasas", opts=dict(jbod), disks=_disks("64M")),
            Hba("megasas-gen2", opts=dict(jbod), disks=_disks(*eight))]
    # Twice rmegasas-raid's work: twice its bound.
    return Run("rmegasas-disks", "disks", hbas, {"RSCSI_MODULES": "rmegasas"}, timeout=4800,
               description="rmegasas in RAID and JBOD mode: 1 and 8 disks, >2 TiB, 4 KiB blocks")


def rmegasas_integrity():
    return Run("rmegasas-integrity", "integrity",
               [Hba("megasas-gen2", disks=_disks("128M"))], {"RSCSI_MODULES": "rmegasas"},
               description="rmegasas: 512 B-1 MiB, iodepth 1 and 64, unaligned buffers, SG_IO")


def rmegasas_bounce():
    return Run("rmegasas-bounce", "integrity",
               [Hba("megasas", disks=_disks("128M"))],
               {"RSCSI_MODULES": "rmegasas", "RSCSI_MODPARAMS": "sge_limit=4",
                "RSCSI_EXPECT_BOUNCE": "1"},
               description="rmegasas sge_limit=4: lists over 4 elements through the bounce buffer")


def rmegasas_robust():
    return Run("rmegasas-robust", "robust",
               [Hba("megasas", disks=_disks("64M"))], {"RSCSI_MODULES": "rmegasas"},
               timeout=3000,
               description="rmegasas: resets under load, unbind/bind and reload under load")


def rmegasas_errors():
    rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blkdebug-errors.conf")
    disk = Disk.parse(f"64M,blkdebug={rules},rerror=report,werror=report")
    return Run("rmegasas-errors", "errors",
               [Hba("megasas", disks=[disk])], {"RSCSI_MODULES": "rmegasas", "RSCSI_KNOBS": "1"},
               description="rmegasas: injected read/write errors reach userspace with sense; "
                           "a controller that lies (fault knobs: completions twice, bogus, "
                           "lost, oversized sense, firmware FAULT)")


HOTPLUG_ID = 5
HOTPLUG_BYTES = 64 << 20


def _plugger(hba, scsi_id, size, node_prefix, dev_id):
    """Host hooks (plug, unplug) for a plan's sync points: plug a new raw disk of ``size``
    bytes in at ``scsi_id`` of HBA ``hba`` through QMP (a block node of its own each time,
    named ``node_prefix`` and a count), and unplug the last one. They answer "added" or
    "removed", or the error."""
    plugged = []

    def plug(vm):
        node = f"{node_prefix}{len(plugged)}"
        try:
            qmp.hot_add_disk(vm.qmp, os.path.join(vm.workdir, f"{node}.img"), size,
                             f"hba{hba}.0", scsi_id, node, dev_id)
        except (OSError, qmp.QmpError) as e:
            return f"error:{e}".replace(" ", "_")
        plugged.append(node)
        return "added"

    def unplug(vm):
        try:
            qmp.hot_remove_disk(vm.qmp, plugged[-1], dev_id)
        except (OSError, IndexError, qmp.QmpError) as e:
            return f"error:{e}".replace(" ", "_")
        return "removed"

    return plug, unplug


def rmegasas_hotplug(name, model, jbod, at=0):
    """Disks plugged in and out through QMP at the plan's sync points; the driver finds them
    with its rescan. The same target is plugged twice, so each plug gets its own node. ``at``:
    the HBA's index in the VM (see `combined`)."""
    opts = {"use_jbod": "on"} if jbod else {}
    add, remove = _plugger(at, HOTPLUG_ID, HOTPLUG_BYTES, f"hp{at}_", f"hpdisk{at}")
    mode = "JBOD" if jbod else "RAID"
    return Run(name, "hotplug", [Hba(model, opts=opts, disks=_disks("64M"))],
               {"RSCSI_MODULES": "rmegasas", "RSCSI_HOTPLUG_ID": str(HOTPLUG_ID),
                "RSCSI_HOTPLUG_BYTES": str(HOTPLUG_BYTES)},
               hooks={"hotplug-add": add, "hotplug-remove": remove},
               description=f"rmegasas {model} in {mode} mode: disks plugged in and out, rescan")


def rmegasas_poll():
    return Run("rmegasas-poll", "poll", [Hba("megasas-gen2", disks=_disks("64M"))],
               {"RSCSI_MODULES": "rmegasas", "RSCSI_MODPARAMS": "queues=2 poll_queues=2",
                "RSCSI_POLL_QUEUES": "2"},
               description="rmegasas poll_queues=2: io_uring polled I/O through mq_poll")


# The abort plan's command has a 1 s timeout (sg_raw -t 1). blk_add_timer() rounds the expiry up
# to the next whole second and the timeout work runs from a workqueue, so the timeout fires 1 to
# 2 s after submission, later on a loaded host. The device holds every request for 10 s: five
# times the rounded worst case, so the timeout always fires first. (2 s, the old value, raced:
# the command sometimes completed before its timer fired.) QEMU cancels the held request
# synchronously when the ABORT frame arrives (scsi_req_cancel() waits for the AIO), so the
# guest stalls for the rest of the 10 s; that stays under the soft-lockup (20 s) and RCU stall
# (21 s) thresholds, and the driver's ABORT_TIMEOUT is 30 s.
ABORT_LATENCY_MS = 10000


def rmegasas_abort():
    disk = Disk.parse(f"64M,null,latency={ABORT_LATENCY_MS}")
    # Every request to the disk takes 10 s, the scan's reads included: the timeout allows for
    # many more than the few the scan makes.
    return Run("rmegasas-abort", "abort", [Hba("megasas", disks=[disk])],
               {"RSCSI_MODULES": "rmegasas", "RSCSI_LATENCY_MS": str(ABORT_LATENCY_MS)},
               timeout=2400,
               description="rmegasas: a command held past its timeout is aborted (MFI ABORT "
                           "as a reserved command); the disk works on")


def rmegasas_limits():
    """megaraid_sas, then rmegasas, on the same two controllers: one of each model, with
    QEMU's two effective SG limits (80, the default, on megasas; 16 on megasas-gen2, where
    rmegasas used to refuse a 64 KiB SG_IO); rmegasas's limits and largest SG_IO transfers
    must be at least megaraid_sas's. Two controllers, not all four pairs: megaraid_sas takes
    about 27 s to probe each one here (it scans every channel), and both models take the same
    IEEE SG elements."""
    hbas = [Hba("megasas", disks=_disks("64M,null")),
            Hba("megasas-gen2", opts={"max_sge": "16"}, disks=_disks("64M,null"))]
    return Run("rmegasas-limits", "limits", hbas, {"RSCSI_MODULES": "megaraid_sas rmegasas"},
               description="rmegasas against megaraid_sas: queue limits and the largest SG_IO, "
                           "aligned and not (megasas, max_sge 80; megasas-gen2, max_sge 16)")


def rmegasas_probe(name, bad_params=""):
    """Both models with QEMU's defaults and both with small limits (max_cmds 64, max_sge 40),
    in one boot."""
    small = {"max_cmds": "64", "max_sge": "40"}
    hbas = [Hba("megasas"), Hba("megasas-gen2"),
            Hba("megasas", opts=dict(small)), Hba("megasas-gen2", opts=dict(small))]
    return Run(name, "probe", hbas, {"RSCSI_DRIVER": "rmegasas", "RSCSI_BAD_PARAMS": bad_params},
               description="rmegasas binds and reports the limits QEMU was given (defaults, "
                           "and max_cmds 64 max_sge 40)")


def rscsi_debug():
    """The software host: no emulated hardware. Two targets of two RAM-backed LUNs, completions
    from the software interrupt 100 us after queueing, then the faults of the plan."""
    return Run("rscsi_debug", "rscsi_debug", [],
               {"RSCSI_DEBUG_PARAMS": "num_tgts=2 max_luns=2 dev_size_mb=32 delay_us=100",
                "RSCSI_DEBUG_DISKS": "4"},
               description="rscsi_debug: RAM disks, SG_IO, and faults (dropped, late, duplicate, "
                           "bogus and parked completions, sg_reset, unload under a storm)")


def busmaster(name, module, dead):
    """A controller whose bus mastering goes off under load (issue 13, hole 7): on megasas-gen2
    in JBOD mode, where the leak was seen. The same plan on megaraid_sas is the baseline."""
    hbas = [Hba("megasas-gen2", opts={"use_jbod": "on"}, disks=_disks("64M"))]
    # megaraid_sas gives a timed-out command more time until twice scmd_timeout (90 s by
    # default) after it was allocated, then waits resetwaittime (180 s by default) for
    # commands the controller lost before it resets it; their minimums, 10 s each, get it to
    # the reset sooner, the outcome is the same (with resetwaittime=10 alone, a run in which
    # the toggling lost commands took 344 s, 211 of them before the first abort).
    # rmegasas waits fw_timeout (30 s by default) for each ABORT and each INIT frame of a
    # controller reset; a controller without bus mastering answers none of them, however long
    # the wait, so 5 s (QEMU answers a frame it can read at once, in the vCPU's own write of the
    # doorbell) gets to the same outcome sooner: step 3 of the plan waited 92 s for four frames.
    params = ("resetwaittime=10 scmd_timeout=10" if module == "megaraid_sas"
              else "fw_timeout=5")
    return Run(name, "busmaster", hbas,
               {"RSCSI_MODULES": module, "RSCSI_MODPARAMS": params,
                "RSCSI_BUSMASTER_DEAD": "1" if dead else "0"},
               description=f"{module}: bus mastering toggled under load, then the function "
                           "removed and rescanned: every command ends, no DMA mapping is left"
                           + (", and a controller that cannot be reset is given up" if dead
                              else ""))


# The C drivers' sweep in check: a sample, a ninth of faults-c's binds (some 11 per driver).
FAULTS_C_STEP = 61


def faults(name, modules, step, baseline=False):
    """Allocation failures swept through each driver's probe (the faults plan): the Nth
    allocation of the bind fails, for N = 1, 1 + step, ... until a bind without one. One
    controller of each kind, one disk each. The C drivers' sweep is the baseline: what it finds
    is shown, their kernel reports allowed, nothing of it judged."""
    # Small queues (64 firmware commands, 16 ring entries): blk-mq allocates per request (the
    # midlayer's sense buffers), retrying at half the depth when one fails, so that at QEMU's
    # default depths the sweep spent most of its time failing those one by one (over 1000
    # per queue with megasas-gen2's 1008 commands, each a whole bind and unbind).
    hbas = [Hba("megasas-gen2", opts={"max_cmds": "64"}, disks=_disks("64M")),
            Hba("virtio-scsi-pci", opts={"virtqueue_size": "16"}, disks=_disks("64M"))]
    settings = {"RSCSI_MODULES": modules, "RSCSI_FAULTS_STEP": str(step)}
    if baseline:
        settings["RSCSI_FAULTS_BASELINE"] = "1"
    every = "every N" if step == 1 else f"every {step}th N"
    # One known report of the kernel's own: when creating an entry of /proc/irq/N fails,
    # register_irq_proc() goes on without it, and unregister_irq_proc() then warns that the
    # entry it removes does not exist. It comes from request_irq() and free_irq() in any
    # driver's probe and remove (megaraid_sas's too), not from the driver.
    irq_proc = ("warning", r"WARNING: fs/proc/generic\.c:\d+ at remove_proc_entry")
    # scsi_mod.scan=manual: the midlayer scans a host synchronously at the end of its probe
    # (no SCSI_SCAN_ASYNC here), so that every allocation of the scan and of sd and sg counted
    # too, each absorbed (a device left out): hundreds of binds that test the midlayer, not the
    # driver. The plan scans through sysfs when it wants the disks.
    return Run(name, "faults", hbas, settings, timeout=7200, append="scsi_mod.scan=manual",
               allow=("kmemleak", "warning") if baseline else (irq_proc,),
               description=f"{modules.replace(' ', ', ')}: the Nth allocation of a probe "
                           f"fails, for {every}: nothing bound or left behind, no leak, "
                           "and the controller works after")


# The soak's hot-plugged disk: on the virtio-scsi controller, at a target none of its disks use.
SOAK_PLUG_TARGET = 3
SOAK_PLUG_BYTES = 32 << 20


def soak(name, seconds, seed, rounds):
    """Both Rust HBAs in one VM, every disk under verified fio, while events drawn from
    `seed` run for `seconds` (the soak plan), in `rounds` rounds with an unbind or a reload
    between them."""
    rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blkdebug-soak.conf")
    # The third rmegasas disk takes blkdebug error bursts beside its verified load.
    bad = Disk.parse(f"64M,blkdebug={rules},rerror=report,werror=report")
    hbas = [Hba("megasas-gen2", disks=_disks("64M", "64M") + [bad]),
            Hba("virtio-scsi-pci", opts={"num_queues": "2"}, disks=_disks("64M", "64M,id=1"))]
    assign(hbas)
    # Disks plugged into the virtio-scsi controller (hba1) at SOAK_PLUG_TARGET.
    plug, unplug = _plugger(1, SOAK_PLUG_TARGET, SOAK_PLUG_BYTES, "soak", "soakplug")

    # A bound for a run that hangs: the events' time, plus each round's start and stop (fio
    # waits for a command the error handler holds, a reset's 10 s drain) many times over.
    return Run(name, "soak", hbas,
               {"RSCSI_MODULES": "rmegasas rvirtio_scsi", "RSCSI_SOAK_SECONDS": str(seconds),
                "RSCSI_SOAK_SEED": str(seed), "RSCSI_SOAK_ROUNDS": str(rounds),
                "RSCSI_SOAK_BAD": f"{hbas[0].pci_address} 2 0",
                "RSCSI_SOAK_PLUG": f"{hbas[1].pci_address} {SOAK_PLUG_TARGET} 0"},
               hooks={"soak-plug": plug, "soak-unplug": unplug},
               timeout=seconds * 3 + 1800,
               description=f"the seeded soak, seed {seed}: both Rust drivers, verified fio on "
                           f"every disk, {seconds} s of resets, scheduler and queue depth "
                           "changes, a CPU offline, rescans, fault knobs (lost completions and "
                           "interrupts, a firmware FAULT, DEVICE_NEEDS_RESET among them), "
                           "blkdebug error bursts, QMP hot-plug, unbind or reload between rounds")


def soak_long():
    """`make soak`: RSCSI_SOAK_SECONDS (1800 by default) from RSCSI_SOAK_SEED (by default one
    drawn now, and printed: the same seed replays the same events)."""
    seconds = int(os.environ.get("RSCSI_SOAK_SECONDS", "1800"))
    seed = os.environ.get("RSCSI_SOAK_SEED") or str(int.from_bytes(os.urandom(4), "little") >> 1)
    return soak("soak-long", seconds, int(seed), rounds=max(2, seconds // 300))


def rvirtio_disks():
    """The data-path plan on rvirtio_scsi: three controllers in one boot, one per interrupt
    mode (MSI-X with a vector per queue, one shared vector, INTx) and per queue count (1, 2
    and 4). The first has 8 disks: over 2 TiB (written beyond 2 TiB), 4 KiB blocks, several
    LUNs of one target, LUNs 255, 256 and 300 (above 255: the flat format), and the last
    target (255) and LUN (16383) QEMU allows."""
    eight = ["3T", "48M,bs=4096", "24M,lun=1", "24M,id=3,lun=300", "24M,id=255,lun=16383",
             "24M,id=200", "24M,id=7,lun=255", "32M,id=7,lun=256"]
    hbas = [Hba("virtio-scsi-pci", opts={"num_queues": "1"}, disks=_disks(*eight)),
            Hba("virtio-scsi-pci", opts={"num_queues": "2", "vectors": "2"},
                disks=_disks("64M")),
            Hba("virtio-scsi-pci", opts={"num_queues": "4", "vectors": "0"},
                disks=_disks("64M,id=1"))]
    return Run("rvirtio_scsi-disks", "disks", hbas, {"RSCSI_MODULES": "rvirtio_scsi"},
               description="rvirtio_scsi: 8 disks over targets and LUNs (>2 TiB, 4 KiB, LUN "
                           "300, target 255 LUN 16383); 1, 2 and 4 queues; MSI-X per queue, "
                           "shared and INTx")


def rvirtio_many():
    """64 disks on one controller: 16 targets of 4 LUNs, the scan and every disk's data path
    (1 MiB of fio each, about 60 commands of 512 B to 256 KiB, written then verified; 16 disks
    per fio process). The write and verify passes were most of this run's time: at 2 MiB per
    disk they took 7 of its 8.7 minutes on the debug kernel, and what the run shows (every
    disk's commands reach it and come back intact) needs no more than a few dozen commands
    per disk; the integrity runs are where the volume is. At 1 MiB the two passes still took
    410 of 550 s, nearly all of it fio's own work (its disk statistics walk sysfs, a walk that
    grows with the disks present); with lib.sh's FIO_QUICK options the whole run takes 154 s."""
    disks = [f"8M,id={t * 16},lun={lun}" for t in range(16) for lun in range(4)]
    hbas = [Hba("virtio-scsi-pci", disks=_disks(*disks))]
    return Run("rvirtio_scsi-64", "disks", hbas,
               {"RSCSI_MODULES": "rvirtio_scsi", "RSCSI_FIO_MB": "1", "RSCSI_FIO_PARALLEL": "16"},
               description="rvirtio_scsi: 64 disks, 16 targets of 4 LUNs")


def rvirtio_integrity(at=0):
    """Two controllers in one boot: QEMU's default ring and virtqueue_size=16 (16 commands in
    flight per queue: can_queue follows the ring). Both have a queue per CPU, each on its own
    MSI-X vector: the queue map must follow the vectors' affinity. The second offers
    VIRTIO_F_ACCESS_PLATFORM (iommu_platform=on, which QEMU allows a modern-only device:
    disable-legacy=on, PCI 1af4:1048), so that its commands' data goes through the
    DMA API (Command::dma_map) while the first's goes unmapped (guest-physical addresses)."""
    hbas = [Hba("virtio-scsi-pci", disks=_disks("128M")),
            Hba("virtio-scsi-pci", opts={"virtqueue_size": "16", "iommu_platform": "on",
                      "disable-legacy": "on"},
                disks=_disks("128M"))]
    assign(hbas, at)
    return Run("rvirtio_scsi-integrity", "integrity", hbas,
               {"RSCSI_MODULES": "rvirtio_scsi", "RSCSI_CHECK_AFFINITY": "1",
                "RSCSI_ACCESS_PLATFORM": hbas[1].pci_address},
               description="rvirtio_scsi: 512 B-1 MiB, iodepth 1 and 64, unaligned buffers, "
                           "SG_IO (default ring with physical addresses, and virtqueue_size 16 "
                           "with ACCESS_PLATFORM)")


def rvirtio_errors():
    rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blkdebug-errors.conf")

    def disk():
        return Disk.parse(f"64M,blkdebug={rules},rerror=report,werror=report")
    hbas = [Hba("virtio-scsi-pci", disks=[disk()]),
            Hba("virtio-scsi-pci", opts={"virtqueue_size": "16"}, disks=[disk()])]
    return Run("rvirtio_scsi-errors", "errors", hbas,
               {"RSCSI_MODULES": "rvirtio_scsi", "RSCSI_KNOBS": "1"},
               description="rvirtio_scsi: injected read/write errors reach userspace with "
                           "sense (default ring, and virtqueue_size 16); a device that lies "
                           "(fault knobs: completions twice, bogus contexts and used ids, "
                           "oversized sense and residual)")


def rscsi_trace():
    """kernel::scsi's trace events through tracefs, on both Rust drivers: a batch of reads and a
    device reset, every command submitted and completed once, doorbells that tell of batches on
    virtio-scsi (one per frame on MFI), the interrupts, the reset."""
    hbas = [Hba("megasas-gen2", disks=_disks("64M,null")),
            Hba("virtio-scsi-pci", disks=_disks("64M,null"))]
    return Run("rscsi-trace", "trace", hbas,
               {"RSCSI_MODULES": "rmegasas rvirtio_scsi", "RSCSI_TRACE_BATCH": "rvirtio_scsi"},
               description="kernel::scsi's trace events on rmegasas and rvirtio_scsi: a traced "
                           "batch and device reset, one completion per submission, doorbells")


def rvirtio_limits():
    """virtio_scsi, then rvirtio_scsi, on the same two controllers: QEMU's default (seg_max 254)
    and virtqueue_size=16 (seg_max 14); rvirtio_scsi's limits and largest SG_IO transfers must
    be at least virtio_scsi's (issue 12)."""
    hbas = [Hba("virtio-scsi-pci", disks=_disks("64M,null")),
            Hba("virtio-scsi-pci", opts={"virtqueue_size": "16"}, disks=_disks("64M,null"))]
    return Run("rvirtio_scsi-limits", "limits", hbas,
               {"RSCSI_MODULES": "virtio_pci+virtio_scsi rvirtio_scsi"},
               description="rvirtio_scsi against virtio_scsi: queue limits and the largest "
                           "SG_IO, aligned and not (seg_max 254 and 14)")


def rvirtio_recover():
    """rvirtio_scsi's error handling in one boot, after C virtio_scsi's as the baseline: an
    abort on a controller whose disk holds every request for ABORT_LATENCY_MS, then on a
    second controller LUN, target and host resets under load, a lost interrupt, unbind/bind
    and reloads."""
    slow = Disk.parse(f"64M,null,latency={ABORT_LATENCY_MS}")
    # The slow controller's second disk takes a verified load through its timeout ladder.
    hbas = [Hba("virtio-scsi-pci", disks=_disks("64M")),
            Hba("virtio-scsi-pci", opts={"num_queues": "1"}, disks=[slow, Disk.parse("64M")])]
    return Run("rvirtio_scsi-recover", "recover", hbas,
               {"RSCSI_MODULES": "virtio_pci+virtio_scsi rvirtio_scsi",
                "RSCSI_LATENCY_MS": str(ABORT_LATENCY_MS)},
               timeout=3000,
               description="rvirtio_scsi after C virtio_scsi as the baseline: ABORT_TASK of a "
                           "held command (the C driver gives it more time), and its timeout "
                           "ladder up to a host reset with task management refused; LUN, target and "
                           "host resets under load; a lost interrupt found by eh_timed_out; "
                           "unbind/bind and reload under load")


EVENT_DISK_BYTES = 32 << 20
# More disks than rvirtio_scsi keeps event buffers posted (event.rs BUFFERS, 8), so that the
# device must drop some while they are held.
EVENT_BURST = 9


def rvirtio_events():
    """Events, poll queues, DEVICE_NEEDS_RESET and removal of the controller (issue 15), on C
    virtio_scsi as the baseline and on rvirtio_scsi, in one boot: two controllers behind root
    ports (so that QMP can unplug them), each driver on its own through driver_override. The
    hooks plug and unplug disks (``plug:HBA:TARGET:LUN``), grow the first disk
    (``resize:HBA:DISK:BYTES``) and unplug a controller (``unplug-hba:HBA``)."""
    hbas = [Hba("virtio-scsi-pci", disks=_disks("64M"), hotplug=True),
            Hba("virtio-scsi-pci", disks=_disks("64M"), hotplug=True)]
    assign(hbas)

    def plug(vm, hba, target, lun):
        node = f"hp{hba}_{target}_{lun}"
        image = os.path.join(vm.workdir, f"{node}.img")
        try:
            qmp.hot_add_disk(vm.qmp, image, EVENT_DISK_BYTES, f"hba{hba}.0", int(target), node,
                             node, lun=int(lun))
        except (OSError, ValueError, qmp.QmpError) as e:
            return f"error:{e}".replace(" ", "_")
        return "added"

    def unplug(vm, hba, target, lun):
        node = f"hp{hba}_{target}_{lun}"
        try:
            qmp.hot_remove_disk(vm.qmp, node, node)
        except (OSError, qmp.QmpError) as e:
            return f"error:{e}".replace(" ", "_")
        return "removed"

    def resize(vm, hba, disk, size):
        try:
            qmp.resize_disk(vm.qmp, f"d{hba}_{disk}", int(size))
        except (OSError, ValueError, qmp.QmpError) as e:
            return f"error:{e}".replace(" ", "_")
        return "resized"

    def unplug_hba(vm, hba):
        # QEMU reports the controller gone once the guest's ACPI hot-plug has removed its
        # driver and ejected it: seconds on the debug kernel under TCG; 300 s bounds a guest
        # that never lets go (the guest's test then fails).
        try:
            qmp.unplug_device(vm.qmp, f"hba{hba}", timeout=300)
        except (OSError, qmp.QmpError) as e:
            return f"error:{e}".replace(" ", "_")
        return "removed"

    return Run("rvirtio_scsi-events", "events", hbas,
               {"RSCSI_MODULES": "virtio_pci+virtio_scsi rvirtio_scsi",
                "RSCSI_DRIVER_OVERRIDE": f"{hbas[0].pci_address}=virtio-pci "
                                         f"{hbas[1].pci_address}=rvirtio_scsi",
                "RSCSI_HOTPLUG_BYTES": str(EVENT_DISK_BYTES),
                "RSCSI_EVENT_BURST": str(EVENT_BURST)},
               hooks={"plug": plug, "unplug": unplug, "resize": resize,
                      "unplug-hba": unplug_hba},
               description="virtio_scsi (baseline) and rvirtio_scsi: hot-plug events, a "
                           "capacity change, polled I/O, missed events, DEVICE_NEEDS_RESET, "
                           "the controller unplugged under load")


def _defaults(runs):
    for r in runs:
        r.settings.setdefault("RSCSI_DISKS", disk_table(r.hbas))
        r.settings.setdefault("RSCSI_HBAS", hba_table(r.hbas))
    return runs


def extra_runs():
    """Runs that check does not make, for ``check --only``: longer versions of its runs."""
    runs = [
        faults("faults-full", "rmegasas rvirtio_scsi", step=1),
        faults("faults-c", "megaraid_sas virtio_pci+virtio_scsi", step=7, baseline=True),
        soak_long(),
    ]
    for r in runs:
        r.kunit = False
    return _defaults(runs)


# How long each run of ``check`` took alone (CI of 2026-12-07, debug kernel, 2 cores), for
# ``check --jobs``, which starts the longest runs first; a run's own last time, where this
# machine has one, comes before these.
SECONDS_ALONE = {
    "recover": 492, "faults": 277, "rvirtio_scsi-io": 258, "rmegasas-io": 251,
    "soak": 211, "rvirtio_scsi-events": 210, "rvirtio_scsi-64": 204, "rmegasas-disks": 195,
    "limits": 188, "megaraid_sas-busmaster": 186, "rmegasas-robust": 174,
    "rmegasas-busmaster": 145, "rscsi_debug": 134, "rvirtio_scsi-disks": 124,
    "c-drivers": 119, "rmegasas-probe": 63, "negative-control": 54,
}


def check_runs():
    """Every guest run of ``check``, in order."""
    runs = [
        c_drivers(),
        negative_control(),
        rscsi_debug(),
        rmegasas_probe("rmegasas-probe",
                       "max_queue_depth=4096 queues=17 sge_limit=256 max_queue_depth=-1 "
                       "poll_queues=16 fw_timeout=0 fw_timeout=181"),
        rmegasas_disks(),
        # Six runs of one controller each, in one boot (see combined): two minutes less.
        # Not robust: its three reloads would bind every controller of the VM each time,
        # which cost more (49 s, measured) than its boot saved.
        combined("rmegasas-io", [
            rmegasas_integrity(),
            rmegasas_bounce(),
            rmegasas_poll(),
            rmegasas_hotplug("rmegasas-hotplug-raid", "megasas", jbod=False, at=3),
            rmegasas_hotplug("rmegasas-hotplug-jbod", "megasas-gen2", jbod=True, at=4),
            rmegasas_errors(),
        ], "rmegasas, one controller each: integrity (512 B-1 MiB, unaligned, SG_IO), through "
           "the bounce buffer (sge_limit=4), polled I/O, disks plugged in and out (RAID and "
           "JBOD), injected errors and fault knobs"),
        rmegasas_robust(),

        busmaster("megaraid_sas-busmaster", "megaraid_sas", dead=False),
        busmaster("rmegasas-busmaster", "rmegasas", dead=True),
        # Samples: every 7th allocation of the Rust drivers' probes (every one, faults-full on
        # request, takes about seven times as long), then, as the baseline on the same
        # controllers, a step of FAULTS_C_STEP through the C drivers' (faults-c on request: 7),
        # whose failed binds take several times as long as ours (megaraid_sas waits for its
        # firmware in each). Their reports are allowed in their part of the log only.
        combined("faults", [
            faults("faults-rust", "rmegasas rvirtio_scsi", step=7),
            faults("faults-c", "megaraid_sas virtio_pci+virtio_scsi", step=FAULTS_C_STEP,
                   baseline=True),
        ], "rmegasas, rvirtio_scsi, then megaraid_sas and virtio_scsi as the baseline, on the "
           "same controllers: the Nth allocation of a probe fails, for N = 1, 8, 15, ... (a step "
           f"of {FAULTS_C_STEP} for the C drivers): nothing bound or left behind, no leak, and "
           "the controller works after", shared=True),
        rvirtio_disks(),
        rvirtio_many(),
        # Not the disks run: its 8-disk controller would be scanned at every load of the others.
        # With the trace plan: it loads rmegasas too, which binds none of the others'.
        combined("rvirtio_scsi-io", [rvirtio_integrity(), rvirtio_errors(), rscsi_trace()],
                 "rvirtio_scsi: integrity on two rings and both address paths, injected "
                 "errors and fault knobs; kernel::scsi's trace events on both Rust drivers"),
        # The C and the Rust driver of each HBA kind, one kind after the other: neither
        # kind's drivers bind the other's controllers.
        combined("limits", [rmegasas_limits(), rvirtio_limits()],
                 "rmegasas against megaraid_sas, rvirtio_scsi against virtio_scsi: queue limits "
                 "and the largest SG_IO, aligned and not"),
        combined("recover", [rmegasas_abort(), rvirtio_recover()],
                 "rmegasas: a held command aborted with an MFI ABORT; rvirtio_scsi after C "
                 "virtio_scsi as the baseline: ABORT_TASK of a held command, its timeout "
                 "ladder up to a host reset with task management refused, resets under load, a "
                 "lost interrupt, unbind/bind and reloads"),
        rvirtio_events(),
        # A short soak, seed fixed: 120 s of events in two rounds (make soak runs a long one).
        soak("soak", 120, 1, rounds=2),
    ]
    # KUnit in the boots that load each Rust module at least once; the built-in suites run in
    # every one of them.
    kunit_runs = {"c-drivers", "rscsi_debug", "rmegasas-probe", "rvirtio_scsi-disks"}
    for r in runs:
        r.kunit = r.name in kunit_runs
    return _defaults(runs)


def demo_run():
    """The main job's VM: both HBA kinds with disks, both Rust drivers, and the C virtio one
    on a virtio-scsi function of its own (driver_override), for comparison."""
    hbas = [
        Hba("megasas", disks=_disks("64M", "3T,null")),
        Hba("megasas-gen2", disks=_disks("128M,bs=4096")),
        Hba("virtio-scsi-pci", disks=_disks("256M", "1G,null")),
        Hba("virtio-scsi-pci", disks=_disks("128M", "2T,null,lun=1")),
    ]
    assign(hbas)
    run = Run("demo", "demo", hbas, {
        "RSCSI_MODULES": "rmegasas rvirtio_scsi virtio_pci+virtio_scsi",
        "RSCSI_DRIVER_OVERRIDE": f"{hbas[2].pci_address}=rvirtio_scsi "
                                 f"{hbas[3].pci_address}=virtio-pci"})
    run.settings["RSCSI_DISKS"] = disk_table(hbas)
    run.settings["RSCSI_HBAS"] = hba_table(hbas)
    return run


# The jobs every bench runs by default, and one more on request: 4 KiB random reads at QD1
# through io_uring with hipri, polled on a poll queue (give both drivers poll queues:
# virtio_scsi:virtscsi_poll_queues=1, rvirtio_scsi:poll_queues=1).
DEFAULT_BENCH_JOBS = ("randread-4k-qd1", "randread-4k-qd32", "randwrite-4k-qd32",
                      "read-128k-seq")
# The queue-depth sweep of 4 KiB random reads (bench --all).
QD_SWEEP = tuple(f"randread-4k-qd{n}" for n in (1, 2, 4, 8, 16, 32, 64, 128))
BENCH_JOBS = tuple(dict.fromkeys(DEFAULT_BENCH_JOBS + ("randread-4k-qd1-poll",) + QD_SWEEP))

# bench --all: both HBAs' C and Rust drivers, and two ceilings beside them: virtio-blk on the
# same null-co backend (the lightest virtual disk path) and null_blk (the block layer alone, no
# device; its queue as deep as the sweep's deepest job).
BENCH_ALL = ("megaraid_sas", "rmegasas", "virtio_pci+virtio_scsi", "rvirtio_scsi",
             "virtio_pci+virtio_blk", "null_blk:hw_queue_depth=256")
BENCH_PAIRS = (("rmegasas", "megaraid_sas"), ("rvirtio_scsi", "virtio_pci+virtio_scsi"))
# The QEMU device each path of BENCH_ALL drives ("none": no device), for its profile.
BENCH_HBA = {"megaraid_sas": "megasas", "rmegasas": "megasas",
             "virtio_pci+virtio_scsi": "virtio-scsi-pci", "rvirtio_scsi": "virtio-scsi-pci",
             "virtio_pci+virtio_blk": "virtio-blk-pci", "null_blk:hw_queue_depth=256": "none"}
# bench --all's instruction profiles (tools/profile/insn-profile.py, one boot per path and
# job): the job's fio options, as the bench plan's job_options gives them (the profile plan
# adds --ioengine=libaio).
PROFILE_JOBS = {"randread-4k-qd1": "--rw=randread --bs=4k --iodepth=1",
                "read-128k-seq": "--rw=read --bs=128k --iodepth=8"}


def bench_run(model, c_driver, rust_driver, rounds, seconds, pin=True, scheduler="", jobs=None):
    """One controller with a null-co disk; the drivers alternate job by job, C first in odd
    rounds and ours first in even ones. ``jobs`` is a subset of BENCH_JOBS (default:
    DEFAULT_BENCH_JOBS).
    Model "none" gives no controller at all, for software hosts (scsi_debug against
    rscsi_debug), whose disks their module parameters make."""
    hbas = []
    if model != "none":
        hbas = [Hba.parse(model)]
        hbas[0].disks = _disks("8G,null")
    names = list(jobs or DEFAULT_BENCH_JOBS)
    unknown = [j for j in names if j not in BENCH_JOBS]
    if unknown:
        raise ValueError(f"unknown benchmark job {unknown[0]} (known: {', '.join(BENCH_JOBS)})")
    njobs = len(names) * (rounds * 2)
    run = Run("bench", "bench", hbas, {
        "RSCSI_MODULES": f"{c_driver} {rust_driver}",
        "RSCSI_BENCH_ROUNDS": str(rounds),
        "RSCSI_BENCH_SECONDS": str(seconds),
        "RSCSI_BENCH_PIN": "1" if pin else "0",
        "RSCSI_BENCH_SCHED": scheduler,
        "RSCSI_BENCH_JOBS": " ".join(names),
    }, timeout=300 + njobs * (seconds + 25))
    run.settings["RSCSI_DISKS"] = disk_table(hbas)
    run.settings["RSCSI_HBAS"] = hba_table(hbas)
    return run


def bench_all_run(rounds, seconds, pin=True, scheduler="none", jobs=None):
    """``bench --all``: one boot with a megasas, a virtio-scsi-pci and a virtio-blk-pci
    controller, each with an 8 GiB null-co disk, and the drivers of BENCH_ALL in turn, job by
    job (see bench_run); by default the usual jobs and the queue-depth sweep, and the same
    scheduler (none) for every path."""
    hbas = [Hba("megasas", disks=_disks("8G,null")),
            Hba("virtio-scsi-pci", disks=_disks("8G,null")),
            Hba("virtio-blk-pci", disks=_disks("8G,null"))]
    names = list(jobs or dict.fromkeys(DEFAULT_BENCH_JOBS + QD_SWEEP))
    run = bench_run("none", "", "", rounds, seconds, pin, scheduler, names)
    run.hbas = hbas
    run.settings["RSCSI_MODULES"] = " ".join(BENCH_ALL)
    run.settings["RSCSI_DISKS"] = disk_table(hbas)
    run.settings["RSCSI_HBAS"] = hba_table(hbas)
    run.timeout = 300 + len(names) * rounds * len(BENCH_ALL) * (seconds + 25)
    return run


def custom_run(name, plan, hba_specs, settings):
    """A run from command-line specs: ``--hba`` starts an HBA, ``--disk`` adds to the last one."""
    hbas = []
    for kind, spec in hba_specs:
        if kind == "hba":
            hbas.append(Hba.parse(spec))
        else:
            if not hbas:
                raise ValueError("--disk must follow an --hba")
            hbas[-1].disks.append(Disk.parse(spec))
    run = Run(name, plan, hbas, dict(settings))
    run.settings.setdefault("RSCSI_DISKS", disk_table(hbas))
    run.settings.setdefault("RSCSI_HBAS", hba_table(hbas))
    return run


__all__ = ["Run", "check_runs", "demo_run", "custom_run"]
