# SPDX-License-Identifier: GPL-2.0
"""Benchmark analysis: turns the "bench" plan's serial log into a side-by-side table.

For each driver and job, over the rounds: median IOPS, median of the p50 and p99 completion
latencies, and guest CPU time per I/O (all CPUs, user + system + irq + softirq, from
/proc/stat), I/Os per interrupt of the device's function, and for a Rust driver its commands
per doorbell (its debugfs counters). Ratios compare the Rust driver with the C one so that above 1 means the Rust
driver is better: IOPS Rust/C, latency and CPU time C/Rust.

Two ratios per job: of the medians, and the median of the per-round ratios ("paired": in each
round the two drivers run a job back to back, so a drift of the host between rounds, which
moves a 128 KiB figure by 30% here, cancels out). Each paired ratio gets a 95% interval: the
geometric mean of the per-round ratios with a Student t interval on their logarithms. An
interval that contains 1.0 is parity, whatever the point estimate says.

Every figure of a driver and job gets its own 95% interval too: the mean over the rounds with
a Student t interval (``figure_interval``), beside the median. ``write_report`` puts the raw
samples (one row per round, driver and job), these figures and the printed summary in a
directory; ``plots.py`` draws them.
"""

import csv
import json
import os
import math
import re
import statistics

from rscsi import insnprof

BEGIN = re.compile(r"^BENCH-BEGIN (\S+) (\d+) (\S+)")
END = re.compile(r"^BENCH-END (\S+) (\d+) (\S+) rc=(\d+)")
CPU = re.compile(r"^BENCH-CPU-(BEFORE|AFTER) cpu\s+(.*)$")
# Interrupts of the device's function (its MSI-X vectors, or its INTx line) before and after.
IRQS = re.compile(r"^BENCH-IRQS-(BEFORE|AFTER) (\d+)$")
# A Rust driver's commands submitted and doorbells rung so far (its debugfs counters), before
# and after; a driver that counts neither prints no numbers.
DOORBELLS = re.compile(r"^BENCH-DOORBELLS-(BEFORE|AFTER) (\d+) (\d+)$")
USER_HZ = 100


def _busy_jiffies(fields):
    v = [int(x) for x in fields.split()]
    # user nice system idle iowait irq softirq steal ...
    return v[0] + v[1] + v[2] + v[5] + v[6]


def parse(lines):
    """Returns a list of samples: dicts with driver, round, job, iops, p50_us, p99_us,
    cpu_us_per_io."""
    samples = []
    cur = None
    for line in lines:
        line = line.rstrip("\r")
        m = BEGIN.match(line)
        if m:
            cur = {"driver": m.group(1), "round": int(m.group(2)), "job": m.group(3),
                   "json": [], "cpu": {}, "irqs": {}, "doorbells": {}}
            continue
        if cur is None:
            continue
        m = CPU.match(line)
        if m:
            cur["cpu"][m.group(1)] = _busy_jiffies(m.group(2))
            continue
        m = IRQS.match(line)
        if m:
            cur["irqs"][m.group(1)] = int(m.group(2))
            continue
        m = DOORBELLS.match(line)
        if m:
            cur["doorbells"][m.group(1)] = (int(m.group(2)), int(m.group(3)))
            continue
        if line.startswith("BENCH-DOORBELLS-"):  # Not counted by this driver.
            continue
        m = END.match(line)
        if m:
            if m.group(4) == "0":
                s = _sample(cur)
                if s:
                    samples.append(s)
            cur = None
            continue
        if not line.startswith("["):  # Kernel messages may interleave.
            cur["json"].append(line)
    return samples


def _sample(cur):
    try:
        data = json.loads("\n".join(cur["json"]))
    except ValueError:
        return None
    job = data["jobs"][0]
    io = job["read"] if job["read"]["iops"] > 0 else job["write"]
    pct = io.get("clat_ns", {}).get("percentile", {})
    ios = io["total_ios"]
    runtime_s = io["runtime"] / 1000.0
    busy = cur["cpu"].get("AFTER", 0) - cur["cpu"].get("BEFORE", 0)
    # The CPU window includes fio's ramp time; scale to the measured part.
    window = runtime_s + 2.0
    cpu_us = busy * 1e6 / USER_HZ * (runtime_s / window) if window else 0
    # Interrupts over the same window, scaled alike; none (null_blk, a polled job): 0.
    irqs = (cur["irqs"].get("AFTER", 0) - cur["irqs"].get("BEFORE", 0)) * (runtime_s / window)
    # Commands per doorbell over the whole window (a ratio, so the ramp time does not matter);
    # 0 for a driver that does not count them.
    db = cur["doorbells"]
    cmds = db["AFTER"][0] - db["BEFORE"][0] if len(db) == 2 else 0
    rings = db["AFTER"][1] - db["BEFORE"][1] if len(db) == 2 else 0
    return {
        "driver": cur["driver"], "round": cur["round"], "job": cur["job"],
        "iops": io["iops"],
        "p50_us": pct.get("50.000000", 0) / 1000.0,
        "p99_us": pct.get("99.000000", 0) / 1000.0,
        "cpu_us_per_io": cpu_us / ios if ios else 0,
        "ios_per_irq": ios / irqs if irqs >= 1 else 0,
        "cmds_per_doorbell": cmds / rings if rings > 0 else 0,
    }


def _ratios(a, b):
    """Rust (a) against C (b), above 1 when Rust is better."""
    return {
        "iops": a["iops"] / b["iops"] if b["iops"] else 0,
        "p50": b["p50_us"] / a["p50_us"] if a["p50_us"] else 0,
        "p99": b["p99_us"] / a["p99_us"] if a["p99_us"] else 0,
        "cpu": b["cpu_us_per_io"] / a["cpu_us_per_io"] if a["cpu_us_per_io"] else 0,
    }


def paired(samples, rust, c, job):
    """Median over the rounds that ran both drivers of the per-round ratios, or None."""
    by = {(s["driver"], s["round"]): s for s in samples if s["job"] == job}
    rounds = sorted({r for (_, r) in by if (rust, r) in by and (c, r) in by})
    if not rounds:
        return None
    per = [_ratios(by[rust, r], by[c, r]) for r in rounds]
    return {k: statistics.median(p[k] for p in per) for k in per[0]}


# Two-sided 95% quantiles of Student's t, by degrees of freedom (beyond 30: 2.0).
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
        10: 2.23, 12: 2.18, 15: 2.13, 20: 2.09, 30: 2.04}


def _t95(df):
    return next((_T95[k] for k in sorted(_T95) if k >= df), 2.0)


def interval(samples, rust, c, job):
    """Per ratio (as _ratios), the geometric mean of the per-round ratios and its 95% Student t
    interval, as (mean, low, high); None with fewer than two paired rounds."""
    by = {(s["driver"], s["round"]): s for s in samples if s["job"] == job}
    rounds = sorted({r for (_, r) in by if (rust, r) in by and (c, r) in by})
    if len(rounds) < 2:
        return None
    per = [_ratios(by[rust, r], by[c, r]) for r in rounds]
    out = {}
    for k in per[0]:
        logs = [math.log(p[k]) for p in per if p[k] > 0]
        if len(logs) < 2:
            continue
        m = statistics.mean(logs)
        h = _t95(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
        out[k] = (math.exp(m), math.exp(m - h), math.exp(m + h))
    return out


FIGURES = ("iops", "p50_us", "p99_us", "cpu_us_per_io", "ios_per_irq", "cmds_per_doorbell")


def figure_interval(values):
    """The mean of `values` (one per round) and its 95% Student t interval, as (mean, low,
    high); with one value, that value three times."""
    m = statistics.mean(values)
    if len(values) < 2:
        return (m, m, m)
    h = _t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return (m, m - h, m + h)


def figures(samples):
    """Per (driver, job), in the order they first appear: the rounds, and per figure its
    median and its interval (``figure_interval``)."""
    out = {}
    for s in samples:
        out.setdefault((s["driver"], s["job"]), []).append(s)
    res = {}
    for key, sel in out.items():
        res[key] = {"rounds": len(sel)}
        for k in FIGURES:
            vals = [x[k] for x in sel]
            res[key][k] = {"median": statistics.median(vals),
                           "mean_ci95": figure_interval(vals)}
    return res


def figure_lines(samples):
    """Printable lines: per driver and job, each figure's mean over the rounds with its 95%
    interval."""
    out = [f"{'job':20} {'driver':14} mean over rounds [95% interval]"]
    for (drv, job), f in figures(samples).items():
        parts = []
        for k, name, fmt in (("iops", "IOPS", ".0f"), ("p50_us", "p50 us", ".1f"),
                             ("p99_us", "p99 us", ".1f"), ("cpu_us_per_io", "CPU us/IO", ".1f"),
                             ("ios_per_irq", "IO/irq", ".2f"),
                             ("cmds_per_doorbell", "cmds/doorbell", ".2f")):
            m, lo, hi = f[k]["mean_ci95"]
            if k == "cmds_per_doorbell" and hi == 0:
                continue  # Not counted by this driver.
            parts.append(f"{name} {m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]")
        out.append(f"{job:20} {drv:14} " + "; ".join(parts))
    return out


def write_report(outdir, samples, pairs, summary_lines):
    """Writes the report directory: ``samples.csv`` (one row per round, driver and job),
    ``figures.json`` (per driver and job, each figure's median and 95% interval; for each
    (Rust, C) pair of ``pairs``, per job the paired ratios with their intervals and verdicts)
    and ``summary.txt``. Returns the paths written."""
    os.makedirs(outdir, exist_ok=True)
    paths = []
    p = os.path.join(outdir, "samples.csv")
    with open(p, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["driver", "round", "job"] + list(FIGURES))
        w.writeheader()
        for s in sorted(samples, key=lambda s: (s["job"], s["round"], s["driver"])):
            w.writerow({k: s[k] for k in w.fieldnames})
    paths.append(p)
    figs = figures(samples)
    jobs = list(dict.fromkeys(s["job"] for s in samples))
    data = {"interval": "95%, Student t over rounds",
            "figures": [dict(driver=d, job=j, **v) for (d, j), v in figs.items()],
            "pairs": []}
    for rust, c in pairs:
        ratios = []
        for job in jobs:
            iv = interval(samples, rust, c, job)
            if iv:
                ratios.append({"job": job, **{
                    k: {"geomean": v[0], "low": v[1], "high": v[2], "verdict": verdict(v)}
                    for k, v in iv.items()}})
        data["pairs"].append({"rust": rust, "c": c, "ratios": ratios})
    p = os.path.join(outdir, "figures.json")
    with open(p, "w") as f:
        json.dump(data, f, indent=1)
    paths.append(p)
    p = os.path.join(outdir, "summary.txt")
    with open(p, "w") as f:
        f.write("\n".join(summary_lines) + "\n")
    paths.append(p)
    return paths


def verdict(iv):
    """"parity" for an interval that contains 1.0, else which driver is better."""
    _, lo, hi = iv
    return "parity" if lo <= 1.0 <= hi else ("Rust better" if lo > 1.0 else "C better")


def summarise(samples, pairs):
    """Median per (driver, job), and for each (Rust, C) pair of ``pairs`` the ratios; returns
    printable lines and, per pair and job, (rust, c, job, ratios of the medians, paired
    ratios)."""
    jobs = list(dict.fromkeys(s["job"] for s in samples))
    drivers = list(dict.fromkeys(s["driver"] for s in samples))
    med = {}
    for (drv, job) in {(s["driver"], s["job"]) for s in samples}:
        sel = [s for s in samples if s["driver"] == drv and s["job"] == job]
        med[drv, job] = {k: statistics.median(s[k] for s in sel)
                         for k in ("iops", "p50_us", "p99_us", "cpu_us_per_io")}
        med[drv, job]["n"] = len(sel)
    w = max([14] + [len(d) for d in drivers])
    out = [f"{'job':20} {'driver':{w}} {'IOPS':>9} {'p50 us':>9} {'p99 us':>9} {'CPU us/IO':>10}  rounds"]
    ratios = []
    for job in jobs:
        for drv in drivers:
            m = med.get((drv, job))
            if m:
                out.append(f"{job:20} {drv:{w}} {m['iops']:9.0f} {m['p50_us']:9.1f} {m['p99_us']:9.1f}"
                           f" {m['cpu_us_per_io']:10.1f}  {m['n']}")
        for rust, c in pairs:
            out += _pair_lines(samples, med, rust, c, job, w, ratios)
    return out, ratios


def _pair_lines(samples, med, rust, c, job, w, ratios):
    """The summary's lines comparing ``rust`` with ``c`` in ``job``; appends to ``ratios``."""
    out = []
    a, b = med.get((rust, job)), med.get((c, job))
    if a and b:
        r = _ratios(a, b)
        p = paired(samples, rust, c, job)
        ratios.append((rust, c, job, r, p))
        name = f"{rust} vs C"[:w]
        out.append(f"{job:20} {name:{w}} {r['iops']:9.2f} {r['p50']:9.2f} {r['p99']:9.2f}"
                   f" {r['cpu']:10.2f}  (above 1: Rust better)")
        if p:
            out.append(f"{job:20} {'paired':{w}} {p['iops']:9.2f} {p['p50']:9.2f}"
                       f" {p['p99']:9.2f} {p['cpu']:10.2f}  (median of per-round ratios)")
        iv = interval(samples, rust, c, job)
        if iv:
            out.append(f"{job:20} {'95% interval':{w}} " + "; ".join(
                f"{k} {iv[k][0]:.2f} [{iv[k][1]:.2f}, {iv[k][2]:.2f}] {verdict(iv[k])}"
                for k in ("iops", "p50", "p99", "cpu") if k in iv))
    return out


def profile_lines(profile):
    """Printable lines of ``run_profiles``'s data: per job and path, the guest instructions
    per I/O and their share by module group (the kernel, each module, the Rust helpers), and
    where the profile counted them, the accesses to device memory per I/O by QEMU memory
    region and the device's interrupts per I/O."""
    out = []
    if not profile:
        return out
    out.append(f"# {profile['what']}, {profile['seconds']} s per job, scheduler "
               f"{profile.get('scheduler', 'default')}")
    for job, paths in profile["jobs"].items():
        for p in paths:
            groups = sorted(p["groups"].items(), key=lambda kv: -kv[1])
            out.append(f"{job:20} {p['module']:14} instructions/IO {p['per_io']:8.0f}: "
                       + ", ".join(f"{g} {v:.0f}" for g, v in groups))
            io = p.get("io_per_io")
            if io is not None:
                irqs = p.get("interrupts_per_io")
                out.append(f"{job:20} {p['module']:14} device accesses/IO {io['total']:5.2f}"
                           + (f"; {insnprof.regions_text(io['regions'])}" if io["regions"]
                              else "")
                           + ("" if irqs is None else f"; interrupts/IO {irqs:.2f}"))
    return out


def load_samples(report):
    """The samples of a report directory (its ``samples.csv``), as ``parse`` returns them."""
    with open(os.path.join(report, "samples.csv"), newline="") as f:
        return [{k: (v if k in ("driver", "job") else
                     int(v) if k == "round" else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def _overlap(a, b):
    """Whether two (mean, low, high) intervals share a point."""
    return a[1] <= b[2] and b[1] <= a[2]


# The figures ``compare`` holds two runs to, with their names and formats; commands per
# doorbell only where a driver counts them.
_COMPARED = (("iops", "IOPS", ".0f"), ("p50_us", "p50 us", ".1f"), ("p99_us", "p99 us", ".1f"),
             ("cpu_us_per_io", "CPU us/IO", ".1f"), ("cmds_per_doorbell", "cmds/doorbell", ".2f"))


def compare(a, b, pairs):
    """Two runs of the same benchmark (their samples): for every driver and job in both, each
    figure's 95% interval in either run and whether they overlap; for every (Rust, C) pair of
    ``pairs``, the paired ratios' intervals and verdicts likewise. Returns printable lines and
    the lines of the figures whose intervals do not overlap (a run that disagrees with the
    other beyond its own spread)."""
    fa, fb = figures(a), figures(b)
    w = max([14] + [len(d) for d, _ in fa] + [len(r) + 2 for r, _ in pairs])
    out = [f"{'job':20} {'driver':{w}} {'figure':14} {'first run [95%]':26} "
           f"{'second run [95%]':26} overlap"]
    apart = []
    compared = 0

    def line(job, who, name, fmt, x, y):
        nonlocal compared
        compared += 1
        ok = _overlap(x, y)
        text = (f"{job:20} {who:{w}} {name:14} "
                + f"{x[0]:{fmt}} [{x[1]:{fmt}}, {x[2]:{fmt}}]".ljust(26) + " "
                + f"{y[0]:{fmt}} [{y[1]:{fmt}}, {y[2]:{fmt}}]".ljust(26) + " "
                + ("yes" if ok else "NO"))
        out.append(text)
        if not ok:
            apart.append(text)

    for key in (k for k in fa if k in fb):
        drv, job = key
        for k, name, fmt in _COMPARED:
            x, y = fa[key][k]["mean_ci95"], fb[key][k]["mean_ci95"]
            if k == "cmds_per_doorbell" and x[2] == 0 and y[2] == 0:
                continue  # Not counted by this driver.
            line(job, drv, name, fmt, x, y)
    jobs = [j for j in dict.fromkeys(s["job"] for s in a) if any(s["job"] == j for s in b)]
    verdicts_differ = 0
    for rust, c in pairs:
        for job in jobs:
            ia, ib = interval(a, rust, c, job), interval(b, rust, c, job)
            if not ia or not ib:
                continue
            for k in ("iops", "p50", "p99", "cpu"):
                if k in ia and k in ib:
                    line(job, f"{rust}/C", f"ratio {k}", ".2f", ia[k], ib[k])
                    if verdict(ia[k]) != verdict(ib[k]):
                        verdicts_differ += 1
                        out.append(f"{'':20} {'':{w}} {'':14} verdicts differ: "
                                   f"{verdict(ia[k])} / {verdict(ib[k])}")
    out.append(f"# {compared - len(apart)} of {compared} intervals overlap; "
               f"{verdicts_differ} ratio verdicts differ")
    return out, apart


def pairs_in(samples, pairs):
    """The (Rust, C) pairs of ``pairs`` as the samples name their drivers: a driver given with
    parameters (``rmegasas:queues=1``) stands for its module."""
    drivers = list(dict.fromkeys(s["driver"] for s in samples))

    def named(module):
        return [d for d in drivers if d == module or d.split(":", 1)[0] == module]

    return [(r, c) for rust, cdrv in pairs for r in named(rust) for c in named(cdrv)]


def pooled(a, b):
    """The samples of two runs of the same benchmark as one run: the second run's rounds
    numbered after the first's, so that a paired ratio stays within one round of one run."""
    last = max((s["round"] for s in a), default=0)
    return a + [dict(s, round=s["round"] + last) for s in b]


def pooled_lines(a, b, pairs):
    """Per (Rust, C) pair and job, the paired IOPS and CPU time ratios over the rounds of both
    runs (``pooled``), with their intervals and verdicts: more rounds, narrower intervals."""
    both = pooled(a, b)
    out = [f"# both runs pooled ({len({s['round'] for s in both})} rounds): paired ratios, "
           "95% Student t"]
    jobs = [j for j in dict.fromkeys(s["job"] for s in a) if any(s["job"] == j for s in b)]
    for rust, c in pairs:
        for job in jobs:
            iv = interval(both, rust, c, job)
            if iv:
                out.append(f"{job:20} {rust + '/C':18} " + "; ".join(
                    f"{k} {iv[k][0]:.2f} [{iv[k][1]:.2f}, {iv[k][2]:.2f}] {verdict(iv[k])}"
                    for k in ("iops", "cpu") if k in iv))
    return out
