# SPDX-License-Identifier: GPL-2.0
"""Plots of a benchmark report (``bench.write_report``): IOPS per job for every driver with
95% interval whiskers, the paired Rust/C IOPS ratio per job with its interval against 1.0 for
each pair, the queue-depth sweep (``randread-4k-qdN``) as IOPS against N for every driver,
and the guest instructions per I/O of every path stacked by module (``profile.json``).

matplotlib comes from PyPI (``pip install --user matplotlib``) when the harness's Python does
not have it; without it the report has no plots and says so.
"""

import importlib
import os
import site
import subprocess
import sys


def short(driver):
    """A driver's name for a plot: its modules without their parameters (the summary and
    figures.json keep the whole specification)."""
    return "+".join(m.split(":")[0] for m in driver.split("+"))


def _matplotlib():
    """pyplot with a file-only backend, installing matplotlib first if it is missing; None if
    it cannot be had."""
    for attempt in (0, 1):
        try:
            mpl = importlib.import_module("matplotlib")
            mpl.use("Agg")
            return importlib.import_module("matplotlib.pyplot")
        except ImportError:
            if attempt:
                return None
            r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--user",
                                "matplotlib"], capture_output=True, text=True)
            if r.returncode != 0:
                return None
            # A user site directory made by this install is not on the path yet.
            site.addsitedir(site.getusersitepackages())
            importlib.invalidate_caches()
    return None


def draw(outdir, data, profile=None):
    """Draws the plots of `data` (the content of figures.json) and, if given, of `profile`
    (``profile.json``: instructions per I/O by module) into `outdir`; returns the paths
    written, or a reason why there are none."""
    plt = _matplotlib()
    if plt is None:
        return "no plots: matplotlib is not installed and pip could not install it"
    figs = data["figures"]
    jobs = list(dict.fromkeys(f["job"] for f in figs))
    drivers = list(dict.fromkeys(f["driver"] for f in figs))
    by = {(f["driver"], f["job"]): f for f in figs}
    paths = []

    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(jobs)), 4))
    width = 0.8 / max(1, len(drivers))
    for i, d in enumerate(drivers):
        xs, ys, lo, hi = [], [], [], []
        for j, job in enumerate(jobs):
            f = by.get((d, job))
            if not f:
                continue
            m, low, high = f["iops"]["mean_ci95"]
            xs.append(j + (i - (len(drivers) - 1) / 2) * width)
            ys.append(m)
            lo.append(m - low)
            hi.append(high - m)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=short(d))
    ax.set_xticks(range(len(jobs)))
    ax.set_xticklabels(jobs, rotation=20, ha="right")
    ax.set_ylabel("IOPS (mean over rounds, 95% interval)")
    ax.legend()
    paths.append(_save(plt, fig, outdir, "iops.png"))

    pairs = [p for p in data["pairs"] if any("iops" in r for r in p["ratios"])]
    if pairs:
        rjobs = list(dict.fromkeys(r["job"] for p in pairs for r in p["ratios"] if "iops" in r))
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rjobs)), 3.5))
        width = 0.6 / len(pairs)
        for i, pair in enumerate(pairs):
            for r in pair["ratios"]:
                if "iops" not in r:
                    continue
                v = r["iops"]
                x = rjobs.index(r["job"]) + (i - (len(pairs) - 1) / 2) * width
                ax.errorbar([x], [v["geomean"]], yerr=[[v["geomean"] - v["low"]],
                                                       [v["high"] - v["geomean"]]],
                            fmt="o", capsize=4, color=f"C{i}",
                            label=f"{short(pair['rust'])} / {short(pair['c'])}"
                            if r is pair["ratios"][0] else None)
                ax.annotate(v["verdict"], (x, v["high"]), textcoords="offset points",
                            xytext=(0, 4), ha="center", fontsize=7)
        ax.axhline(1.0, color="grey", linewidth=1)
        ax.set_xticks(range(len(rjobs)))
        ax.set_xticklabels(rjobs, rotation=20, ha="right")
        ax.set_ylabel("IOPS Rust / C (paired, 95% interval)")
        ax.legend(fontsize=8)
        paths.append(_save(plt, fig, outdir, "ratios.png"))

    sweep = sorted({int(j[len(SWEEP):]) for j in jobs
                    if j.startswith(SWEEP) and j[len(SWEEP):].isdigit()})
    if len(sweep) > 1:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, d in enumerate(drivers):
            pts = [(qd, by[d, f"{SWEEP}{qd}"]["iops"]["mean_ci95"]) for qd in sweep
                   if (d, f"{SWEEP}{qd}") in by]
            if not pts:
                continue
            ax.errorbar([q for q, _ in pts], [m for _, (m, _, _) in pts],
                        yerr=[[m - lo for _, (m, lo, _) in pts], [hi - m for _, (m, _, hi) in pts]],
                        marker="o", capsize=3, label=short(d))
        ax.set_xscale("log", base=2)
        ax.set_xticks(sweep)
        ax.set_xticklabels([str(q) for q in sweep])
        ax.set_xlabel("iodepth (4 KiB random reads)")
        ax.set_ylabel("IOPS (mean over rounds, 95% interval)")
        ax.legend(fontsize=8)
        paths.append(_save(plt, fig, outdir, "qd-sweep.png"))
    if profile and any(profile["jobs"].values()):
        paths.append(_draw_profile(plt, outdir, profile))
    return paths


def _draw_profile(plt, outdir, profile):
    """``insn.png``: per profiled job (a column), a bar per path of its guest instructions per
    I/O stacked by module group: the whole I/O (top row, the kernel at the bottom), and the
    modules and Rust helpers alone (bottom row), where the drivers' own shares are readable."""
    jobs = [j for j, p in profile["jobs"].items() if p]
    groups = sorted({g for j in jobs for p in profile["jobs"][j] for g in p["groups"]},
                    key=lambda g: (g != "kernel", g == "rust_helper", g))
    colour = {g: f"C{i}" for i, g in enumerate(groups)}
    fig, axes = plt.subplots(2, len(jobs), figsize=(6.5 * len(jobs), 8), squeeze=False)
    for col, job in enumerate(jobs):
        paths = profile["jobs"][job]
        xs = list(range(len(paths)))
        for row, shown in enumerate((groups, [g for g in groups if g != "kernel"])):
            ax = axes[row][col]
            bottom = [0.0] * len(paths)
            for g in shown:
                vals = [p["groups"].get(g, 0) for p in paths]
                ax.bar(xs, vals, 0.6, bottom=bottom, color=colour[g],
                       label=g if (row, col) == (0, 0) else None)
                bottom = [b + v for b, v in zip(bottom, vals)]
            for x, total in zip(xs, bottom):
                ax.annotate(f"{total:.0f}", (x, total), textcoords="offset points",
                            xytext=(0, 3), ha="center", fontsize=7)
            ax.set_ylim(0, 1.12 * max(bottom + [1]))
            ax.set_xticks(xs)
            ax.set_xticklabels([short(p["module"]) for p in paths], rotation=25, ha="right",
                               fontsize=8)
            ax.set_title(job + (": the whole I/O" if row == 0 else ": modules and helpers"),
                         fontsize=9)
            ax.set_ylabel("guest instructions per I/O")
    fig.legend(loc="lower center", ncol=min(len(groups), 8), fontsize=7)
    # Room below the plots for the legend.
    return _save(plt, fig, outdir, "insn.png", rect=(0, 0.05, 1, 1))


def _save(plt, fig, outdir, name, rect=(0, 0, 1, 1)):
    """Writes `fig`, laid out within `rect` (tight_layout's), to `outdir`/`name` and closes
    it; returns the path."""
    fig.tight_layout(rect=rect)
    p = os.path.join(outdir, name)
    fig.savefig(p, dpi=100)
    plt.close(fig)
    return p


# The queue-depth sweep's jobs: this prefix and the depth.
SWEEP = "randread-4k-qd"
