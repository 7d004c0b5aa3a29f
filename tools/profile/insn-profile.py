#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest instruction profile of a fio job through one driver, per I/O.

Boots the perf kernel under TCG with the insn-count plugin (tools/profile/insn-count.c), runs
the ``profile`` plan (one fio job through one module, between two sync(2) calls that open and
close the counting window) and maps the executed translation blocks to kernel symbols
(System.map) and module symbols (/proc/kallsyms, printed by the guest). Prints the guest
instructions per I/O in all, per module, and for the top functions; with two modules, side
by side. Instruction counts do not depend on host load, so a comparison is repeatable where
TCG timings are not (they say nothing of register accesses or interrupts, which cost more).

    tools/profile/insn-profile.py [--hba megasas] [--job '--rw=randread --bs=4k --iodepth=1']
                                  [--seconds 10] [--top 40] [--calls F,F] [--reuse]
                                  [--scheduler none|mq-deadline|kyber] [--io] MODULE [MODULE]

With ``--calls``, also how many times each function F was entered per I/O (by default
``dma_direct_map_phys``, once per mapped SG element: the elements per I/O, by which a
per-I/O figure of an SG writer is divided).

With ``--io``, also the guest's accesses to device memory per I/O (MMIO and port I/O: each
one leaves translated code for QEMU's device model, and costs far more than an instruction),
by QEMU memory region and by the function that made them. The guest runs several times slower
while they are counted; instruction counts do not change.

A MODULE may carry parameters: ``rmegasas:queues=1,ldio=0``.
"""

import argparse
import collections
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from rscsi import insnprof, paths  # noqa: E402


def build_plugin(cache):
    """The plugin built from this tree's source, named by the source's hash: clones of the
    repository at other commits share the cache, and a time stamp would take their build."""
    src = os.path.join(HERE, "insn-count.c")
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    out = os.path.join(cache, "tools", f"insn-count-{digest}.so")
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = f"{out}.{os.getpid()}"
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-Wall", "-o", tmp, src, "-lpthread"],
                       check=True)
        os.replace(tmp, out)
    return out


def perf_map(cache):
    """The System.map of the perf kernel built last."""
    maps = sorted(glob.glob(os.path.join(cache, "build", "perf-*", "System.map")),
                  key=os.path.getmtime)
    if not maps:
        sys.exit("no perf kernel: run tools/build-kernel.sh perf first")
    return maps[-1]


def symbol_address(system_map, name):
    with open(system_map) as f:
        for line in f:
            p = line.split()
            if p[2] == name:
                return p[0]
    sys.exit(f"{name} is not in {system_map}")


def file_name(spec):
    """A module spec as a file name QEMU's option parser takes (a comma ends an option)."""
    return re.sub(r"[^A-Za-z0-9_.+=-]", "_", spec)


def run_profile(spec, args, plugin, outdir, mark):
    module, _, params = spec.partition(":")
    counts = os.path.join(outdir, f"{file_name(spec)}.counts")
    env = dict(os.environ, RSCSI_QEMU_ARGS=f"-plugin {plugin},outfile={counts},"
               f"min=ffffffff80000000,mark={mark}" + (",io=1" if args.io else ""))
    # --hba none: a software host (scsi_debug, rscsi_debug), whose disk its parameters make.
    devices = [] if args.hba == "none" else ["--hba", args.hba, "--disk", "8G,null"]
    cmd = [os.path.join(ROOT, "tools", "harness"), "plan", "profile", "--flavour", "perf",
           *devices,
           "--set", f"RSCSI_PROFILE_MODULE={module}",
           "--set", f"RSCSI_PROFILE_PARAMS={params}",
           "--set", f"RSCSI_PROFILE_JOB={args.job}",
           "--set", f"RSCSI_PROFILE_SECONDS={args.seconds}",
           "--set", f"RSCSI_PROFILE_SCHED={args.scheduler or ''}", "--timeout", "900"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    m = re.search(r"# log: (\S+)", r.stdout)
    if r.returncode != 0 or not m:
        sys.exit(f"profile run for {spec} failed:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    return counts, m.group(1)


def io_lines(mod, io, ios):
    """Prints a run's device accesses per I/O, by region and by function; returns them as
    {region: {kind: per I/O}} with the functions under "by_function"."""
    regions = collections.defaultdict(collections.Counter)
    funcs = collections.Counter()
    for (func, region, kind), n in io.items():
        regions[region][kind] += n / ios
        funcs[func, region, kind] += n / ios
    # Regions reached less than once in 200 I/Os (a timer, a console) are left out.
    regions = {r: c for r, c in regions.items() if sum(c.values()) >= 0.005}
    total = sum(sum(c.values()) for c in regions.values())
    print(f"# {mod}: {total:.2f} device accesses per I/O: " + insnprof.regions_text(regions))
    shown = insnprof.demangle(dict.fromkeys(f for f, _, _ in funcs))
    for (func, region, kind), v in funcs.most_common():
        if v >= 0.005:
            print(f"#   {v:8.2f} {kind:5} {region:24} {shown[func]}")
    return {"total": total, "regions": {r: dict(c) for r, c in regions.items()},
            "by_function": [[shown[f], r, k, v] for (f, r, k), v in funcs.most_common()]}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="+")
    ap.add_argument("--hba", default="megasas")
    ap.add_argument("--job", default="--rw=randread --bs=4k --iodepth=1")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--width", type=int, default=70)
    ap.add_argument("--scheduler", choices=("none", "mq-deadline", "kyber"),
                    help="the disk's I/O scheduler (default: the block layer's choice)")
    ap.add_argument("--calls", default="dma_direct_map_phys",
                    help="comma-separated functions whose calls per I/O to print (by default "
                    "the DMA mapping of one scatterlist entry: the SG elements per I/O)")
    ap.add_argument("--json", metavar="FILE",
                    help="also write the figures per I/O to FILE (per module: the total, the "
                    "share of each module group, the calls, the top functions)")
    ap.add_argument("--io", action="store_true",
                    help="also count the accesses to device memory per I/O, by region and "
                    "function (slows the guest; instruction counts unchanged)")
    ap.add_argument("--reuse", action="store_true",
                    help="map the counts of the last runs again instead of booting (valid while "
                    "the perf kernel is the one they ran on)")
    args = ap.parse_args()
    cache = paths.CACHE
    plugin = build_plugin(cache)
    outdir = os.path.join(cache, "profile")
    os.makedirs(outdir, exist_ok=True)
    results = []
    paths_out = []
    wanted = {n for n in args.calls.split(",") if n}
    for mod in args.modules:
        saved = os.path.join(outdir, f"{file_name(mod)}.log-path")
        if args.reuse and os.path.exists(saved):
            counts = os.path.join(outdir, f"{file_name(mod)}.counts")
            log = open(saved).read().strip()
        else:
            # A changed overlay rebuilds the kernel, which moves its text: build first, then
            # read the map (the mark's address, and the symbols below).
            subprocess.run([os.path.join(ROOT, "tools", "build-modules.sh"), "perf"],
                           check=True, stdout=subprocess.DEVNULL)
            counts, log = run_profile(mod, args, plugin, outdir,
                                      symbol_address(perf_map(cache), "__x64_sys_sync"))
            with open(saved, "w") as f:
                f.write(log)
        with open(perf_map(cache)) as f:
            kernel_syms = insnprof.parse_system_map(f)
        text = open(log, errors="replace").read()
        mod_syms, ios = insnprof.parse_log(text)
        irqs = insnprof.parse_irqs(text)
        with open(counts) as f:
            blocks = f.readlines()
        per, total = insnprof.profile(blocks, kernel_syms + mod_syms)
        calls = insnprof.entries(blocks, kernel_syms + mod_syms, wanted)
        results.append((mod, per, total, ios))
        paths_out.append({"module": mod, "ios": ios, "per_io": total / ios,
                          "interrupts_per_io": None if irqs is None else irqs / ios,
                          "calls_per_io": {n: calls[n] / ios for n in sorted(wanted)}})
        per_irq = "" if irqs is None else f", {irqs / ios:.2f} interrupts per I/O"
        print(f"# {mod}: {ios} I/Os, {total / ios:.0f} guest instructions per I/O{per_irq}; "
              f"log {log}")
        for name in sorted(wanted):
            print(f"# {mod}: {calls[name] / ios:.2f} calls of {name} per I/O")
        if args.io:
            io = insnprof.io_accesses(blocks, kernel_syms + mod_syms)
            paths_out[-1]["io_per_io"] = io_lines(mod, io, ios)
    groups = collections.Counter()
    names = collections.Counter()
    for mod, per, _, ios in results:
        for k, v in per.items():
            groups[(mod, insnprof.group(k))] += v / ios
            names[k] = max(names[k], v / ios)
    for g in sorted({g for _, g in groups}):
        print(f"# {g:20}" + "".join(f"{groups.get((m, g), 0):14.0f}" for m, _, _, _ in results))
    shown = insnprof.demangle(k for k, _ in names.most_common(args.top))
    if args.json:
        for out, (mod, per, _, ios) in zip(paths_out, results):
            out["groups"] = {g: v for (m, g), v in groups.items() if m == mod}
            top = per.most_common(20)
            names20 = insnprof.demangle(k for k, _ in top)
            out["top"] = [[names20[k], v / ios] for k, v in top]
        with open(args.json, "w") as f:
            json.dump({"hba": args.hba, "job": args.job, "seconds": args.seconds,
                       "scheduler": args.scheduler,
                       "paths": paths_out}, f, indent=1)
    head = "".join(f"{m:>14}" for m, _, _, _ in results)
    print(f"{'function (instructions per I/O)':{args.width}}{head}")
    for k, _ in names.most_common(args.top):
        row = "".join(f"{per.get(k, 0) / ios:14.0f}" for _, per, _, ios in results)
        print(f"{shown[k][:args.width]:{args.width}}{row}")


if __name__ == "__main__":
    main()
