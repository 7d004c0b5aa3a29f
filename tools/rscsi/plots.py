# SPDX-License-Identifier: GPL-2.0
"""Plots of a benchmark report (``bench.write_report``): IOPS per job for every driver with
95% interval whiskers, and the paired Rust/C IOPS ratio per job with its interval against 1.0.

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


def draw(outdir, data):
    """Draws the plots of `data` (the content of figures.json) into `outdir`; returns the
    paths written, or a reason why there are none."""
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
    fig.tight_layout()
    p = os.path.join(outdir, "iops.png")
    fig.savefig(p, dpi=100)
    plt.close(fig)
    paths.append(p)

    ratios = [r for r in data["ratios"] if "iops" in r]
    if ratios:
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(ratios)), 3.5))
        for j, r in enumerate(ratios):
            v = r["iops"]
            ax.errorbar([j], [v["geomean"]], yerr=[[v["geomean"] - v["low"]],
                                                   [v["high"] - v["geomean"]]],
                        fmt="o", capsize=4)
            ax.annotate(v["verdict"], (j, v["high"]), textcoords="offset points",
                        xytext=(0, 4), ha="center", fontsize=8)
        ax.axhline(1.0, color="grey", linewidth=1)
        ax.set_xticks(range(len(ratios)))
        ax.set_xticklabels([r["job"] for r in ratios], rotation=20, ha="right")
        ax.set_ylabel(f"IOPS {short(data['rust'])} / {short(data['c'])}")
        fig.tight_layout()
        p = os.path.join(outdir, "ratios.png")
        fig.savefig(p, dpi=100)
        plt.close(fig)
        paths.append(p)
    return paths
