# SPDX-License-Identifier: GPL-2.0
"""rscsi's command line: ``tools/harness check|run|shell|plan|list``.

- ``check``: everything the project tests, in order: host tests (harness and pure Rust logic),
  the debug kernel and modules, the initramfs, and every guest run, judged from the serial
  logs. Prints KTAP and ends with ``N passed, N failed``.
- ``run``: the main job: builds what is missing, boots a VM with both HBA kinds and disks, loads
  the drivers and shows what they found.
- ``shell``: the same VM (or the devices given with --hba/--disk) with an interactive shell.
- ``plan``: one plan on the devices given with --hba/--disk.
- ``list``: the guest runs of ``check``.
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

from . import bench, initramfs, judge, plots, suite
from .paths import CACHE, TOP, TREE_KEY
from .vm import Vm


def log(msg):
    print(f"[rscsi {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Stage:
    """Times a stage and prints it, as every stage does."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.t0 = time.monotonic()
        log(f"stage {self.name}: start")
        return self

    def __exit__(self, *exc):
        log(f"stage {self.name}: {time.monotonic() - self.t0:.0f} s")


def sh(*cmd, capture=True):
    """Runs a project script; returns its stdout (its stderr goes to ours)."""
    res = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None, text=True)
    if res.returncode != 0:
        raise SystemExit(f"rscsi: {' '.join(cmd)} failed (exit {res.returncode})")
    return res.stdout.strip().splitlines()[-1] if capture and res.stdout.strip() else ""


def prepare(flavour):
    """Installs, builds the kernel and modules, and the initramfs parts; returns the paths."""
    with Stage("setup"):
        sh(os.path.join(TOP, "tools", "setup.sh"), capture=False)
    with Stage(f"kernel and modules ({flavour})"):
        stage_dir = sh(os.path.join(TOP, "tools", "build-modules.sh"), flavour)
        kdir = sh(os.path.join(TOP, "tools", "build-kernel.sh"), flavour)
    with Stage("initramfs"):
        base = initramfs.build_base()
        # The stage directory is named by kernel and working tree (see TREE_KEY in lib.sh).
        overlay = os.path.join(CACHE, "initramfs", f"overlay-{os.path.basename(stage_dir)}.cpio")
        initramfs.build_overlay(stage_dir, overlay)
    return os.path.join(kdir, "arch", "x86", "boot", "bzImage"), [base, overlay]


def run_dir():
    d = os.path.join(CACHE, "runs", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(d, exist_ok=True)
    latest = os.path.join(CACHE, "runs", "latest")
    if os.path.islink(latest) or os.path.exists(latest):
        os.remove(latest)
    os.symlink(d, latest)
    return d


def boot(run, kernel, parts, outdir, *, echo=False, trace=None, interactive=False):
    """Boots one run; returns (RunResult or None, Vm)."""
    settings = dict(run.settings)
    settings["RSCSI_PLAN"] = "shell" if interactive else run.plan
    runpart = os.path.join(outdir, f"{run.name}.run.cpio")
    initramfs.build_run(settings, runpart, run.parts)
    initrd = initramfs.concat(parts + [runpart], os.path.join(outdir, f"{run.name}.initrd"))
    vm = Vm(kernel, initrd, run.hbas, trace=trace,
            trace_log=os.path.join(outdir, f"{run.name}.qemu-trace.log"),
            append=" ".join(a for a in (run.append, "" if run.kunit else "kunit.enable=0") if a),
            qmp=os.path.join(outdir, f"{run.name}.qmp"))
    try:
        if interactive:
            vm.interactive()
            return None, vm
        log_path = os.path.join(outdir, f"{run.name}.log")
        res = vm.run(log_path, run.timeout, run.hooks, echo=echo)
        if res.stalled:
            # Seen once under TCG: the kernel stopped printing during early boot, with QEMU
            # spinning. That is the emulator, not the run: boot once more, and say so.
            stalled_log = log_path + ".stalled"
            os.replace(log_path, stalled_log)
            log(f"{run.name}: the guest stalled before /init (log {stalled_log}); booting again")
            res = vm.run(log_path, run.timeout, run.hooks, echo=echo)
        return res, vm
    finally:
        vm.cleanup()
        os.remove(initrd)


def run_key(run, kernel, parts):
    """Everything a run's verdict depends on: kernel, initramfs parts (modules, plans, tools),
    the run's devices, settings, kernel parameters and allowed reports, and QEMU's version."""
    import hashlib
    h = hashlib.sha256()
    for path in [kernel] + list(parts):
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    h.update(repr((run.name, run.plan, [(x.model, sorted(x.opts.items()), x.hotplug,
                                         [(d.size, d.kind, d.block_size, d.scsi_id, d.lun,
                                           d.blkdebug, d.latency_ms, sorted(d.device_opts.items()))
                                          for d in x.disks]) for x in run.hbas],
                   sorted(run.settings.items()), run.expect, run.kunit, run.append, run.allow,
                   [(p, sorted(s.items())) for p, s in run.parts])).encode())
    if run.hbas and any(d.blkdebug for x in run.hbas for d in x.disks):
        for x in run.hbas:
            for d in x.disks:
                if d.blkdebug:
                    with open(d.blkdebug, "rb") as f:
                        h.update(f.read())
    q = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True)
    h.update(q.stdout.encode())
    return h.hexdigest()[:20]


def judge_run(run, res):
    """Returns (ok, passed, failed, verdict) for a run, applying its expectation."""
    v = judge.judge(res.lines, run.plan, res.timed_out, allow=run.allow)
    if res.exit_code < 0 and not res.timed_out and not res.stalled:
        # QEMU itself died (seen once: a segfault of QEMU 7.2's megasas while the guest reset
        # the controller under load): say so, the guest's log just stops.
        v.problems.append(f"QEMU died from signal {-res.exit_code}: the emulator crashed")
        v.ok = False
    ok = meets_expectation(run, v)
    if run.expect == "pass":
        return ok, v.passed, v.failed + (0 if v.ok or v.failed else 1), v
    return ok, int(ok), int(not ok), v


def meets_expectation(run, v):
    """Whether a run's verdict is what the run expects: a pass, or for a negative control a
    plan that ran to its end and failed, every failure a fio verify, with no kernel report;
    with ``must_fail``, exactly the results it names failed."""
    if run.expect == "pass":
        return v.ok
    failures = [r for r in v.results if not r.ok]
    if not (not v.problems and not v.findings and failures
            and all("fio verify" in r.name for r in failures)):
        return False
    if run.must_fail:
        named = [r for r in failures if any(m in r.name + " " for m in run.must_fail)]
        return (len(named) == len(failures)
                and all(any(m in r.name + " " for r in failures) for m in run.must_fail))
    return True


def host_tests():
    """Runs the host-side suites; returns (passed, failed, text)."""
    passed = failed = 0
    out = []
    res = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s",
                          os.path.join(TOP, "tools", "tests"), "-t", os.path.join(TOP, "tools")],
                         capture_output=True, text=True, cwd=os.path.join(TOP, "tools"))
    text = res.stdout + res.stderr
    m = re.search(r"Ran (\d+) tests?", text)
    ran = int(m.group(1)) if m else 0
    m = re.search(r"FAILED \((?:failures=(\d+))?(?:, )?(?:errors=(\d+))?", text)
    bad = (int(m.group(1) or 0) + int(m.group(2) or 0)) if m else (0 if res.returncode == 0 else max(ran, 1))
    passed += ran - bad
    failed += bad
    out.append(("harness (python unittest)", res.returncode == 0 and ran > 0, ran - bad, bad, text))
    # The overlay and the drivers are formatted as the kernel's `make rustfmtcheck` wants.
    rs = []
    for d in ("rust", "drivers"):
        for root, _dirs, names in os.walk(os.path.join(TOP, d)):
            rs += [os.path.join(root, n) for n in sorted(names) if n.endswith(".rs")]
    res = subprocess.run(["/usr/bin/rustfmt", "--edition", "2021", "--check"] + rs,
                         capture_output=True, text=True)
    ok = res.returncode == 0
    passed += ok
    failed += not ok
    out.append((f"rustfmt --check ({len(rs)} files)", ok, int(ok), int(not ok), res.stdout[-3000:]))
    cargo = os.path.join(TOP, "tools", "hosttest")
    if os.path.exists(os.path.join(cargo, "Cargo.toml")):
        res = subprocess.run(["cargo", "test", "--offline", "-q", "--workspace"], capture_output=True, text=True,
                             cwd=cargo, env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(CACHE, f"hosttest-target-{TREE_KEY}")))
        text = res.stdout + res.stderr
        p = sum(int(x) for x in re.findall(r"(\d+) passed", text))
        f = sum(int(x) for x in re.findall(r"(\d+) failed", text))
        if res.returncode != 0 and f == 0:
            f = 1
        passed += p
        failed += f
        out.append(("pure Rust logic (cargo test)", res.returncode == 0 and p > 0, p, f, text))
    return passed, failed, out


def last_seconds(verdicts, name):
    """How long run ``name`` took when it last passed, from its newest verdict stamp
    (``NAME-KEY``, KEY in hex, holding ``passed failed seconds log``); 0 if it never did here."""
    own = re.compile(re.escape(name) + r"-[0-9a-f]+")
    stamps = [e for e in os.scandir(verdicts) if own.fullmatch(e.name)]
    if not stamps:
        return 0.0
    with open(max(stamps, key=lambda e: e.stat().st_mtime).path) as f:
        return float(f.read().split()[2])


def longest_first(items, verdicts, name=lambda x: x):
    """``items`` (runs, by ``name``) with the longest first: by the time each last took here
    (``last_seconds``), else ``suite.SECONDS_ALONE``; the suite's order among equals."""
    return sorted(items, key=lambda x: -(last_seconds(verdicts, name(x))
                                         or suite.SECONDS_ALONE.get(name(x), 0)))


def cmd_check(args):
    t0 = time.monotonic()
    passed = failed = 0
    lines = []
    runs = suite.check_runs()
    if args.only:
        runs = [r for r in runs + suite.extra_runs() if r.name in args.only]
        if not runs:
            raise SystemExit(f"rscsi: no run named {args.only}; see 'tools/harness list'")
    if not args.only:
        # The host tests use the toolchain set-up installs (rustfmt, cargo).
        with Stage("setup"):
            sh(os.path.join(TOP, "tools", "setup.sh"), capture=False)
        with Stage("host tests"):
            p, f, suites = host_tests()
        passed += p
        failed += f
        for name, ok, sp, sf, text in suites:
            lines.append((ok, f"host: {name}: {sp} passed, {sf} failed", text if not ok else ""))
    kernel, parts = prepare(args.flavour)
    outdir = run_dir()
    # A run whose inputs are all unchanged since it last passed is not booted again, unless
    # asked (--rerun) or under CI, which always runs everything.
    reuse = not args.rerun and os.environ.get("CI", "") not in ("true", "1")
    verdicts = os.path.join(CACHE, "verdicts")
    os.makedirs(verdicts, exist_ok=True)
    todo = []
    for run in runs:
        key = run_key(run, kernel, parts)
        stamp = os.path.join(verdicts, f"{run.name}-{key}")
        if reuse and os.path.exists(stamp):
            with open(stamp) as f:
                p, f_, secs, logp = f.read().split()
            log(f"{run.name}: ok, unchanged since it passed ({p} passed, log {logp}); --rerun runs it")
            passed += int(p)
            lines.append((True, f"guest: {run.name}: {p} passed, 0 failed (unchanged, not rerun)", ""))
            continue
        todo.append((run, stamp, len(lines)))
        lines.append(None)

    def guest_run(run, stamp, _line):
        with Stage(f"guest run {run.name}"):
            res, _vm = boot(run, kernel, parts, outdir, echo=args.verbose)
            ok, p, f, v = judge_run(run, res)
        if ok:
            with open(stamp, "w") as fh:
                fh.write(f"{p} {f} {res.seconds:.0f} {res.log_path}\n")
        log(f"{run.name}: {'ok' if ok else 'FAILED'} ({p} passed, {f} failed, {res.seconds:.0f} s) log {res.log_path}")
        return res, ok, p, f, v

    # Runs boot side by side (--jobs): a guest under TCG leaves the host's CPUs idle while it
    # waits (on resets, timeouts, latency disks, kmemleak's scans), and no plan may depend on
    # timing, so a run's outcome does not depend on what runs beside it. The longest runs start
    # first (by their last time here, else suite.SECONDS_ALONE), so that none is left to run
    # alone at the end.
    order = longest_first(todo, verdicts, lambda t: t[0].name)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {t[0].name: pool.submit(guest_run, *t) for t in order}
        for run, _stamp, line in todo:
            res, ok, p, f, v = futures[run.name].result()
            passed += p
            failed += f
            detail = v.summary()
            if run.expect != "pass":
                detail = (f"negative control: the plan {'failed as it must' if ok else 'did not fail as it must'}"
                          f"\n{detail}")
            lines[line] = (ok, f"guest: {run.name}: {p} passed, {f} failed ({res.seconds:.0f} s)",
                           detail if (not ok or run.expect != "pass") else "")
    print("KTAP version 1")
    print(f"1..{len(lines)}")
    for i, (ok, name, detail) in enumerate(lines, 1):
        for d in detail.splitlines()[-40:]:
            print(f"# {d}")
        print(f"{'ok' if ok else 'not ok'} {i} {name}")
    print(f"# logs: {outdir}")
    print(f"# total time {time.monotonic() - t0:.0f} s")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and all(ok for ok, _, _ in lines) else 1


def run_echoed(run, flavour, stage, trace=None):
    """Boots one run with the console echoed, judges it and prints the verdict."""
    kernel, parts = prepare(flavour)
    with Stage(stage):
        res, _ = boot(run, kernel, parts, run_dir(), echo=True, trace=trace)
    ok, p, f, v = judge_run(run, res)
    print(f"# log: {res.log_path}")
    if not ok:
        print(v.summary())
    print(f"{p} passed, {f} failed")
    return 0 if ok else 1


def cmd_run(args):
    return run_echoed(suite.demo_run(), args.flavour, "boot and show")


def _custom(args, plan):
    specs = [(k, v) for k, v in args.devices] if args.devices else None
    if specs:
        run = suite.custom_run(plan, plan, specs, dict(s.split("=", 1) for s in args.set))
    else:
        run = suite.demo_run()
        run.plan = plan
        run.settings.update(dict(s.split("=", 1) for s in args.set))
    run.timeout = args.timeout
    return run


def cmd_shell(args):
    kernel, parts = prepare(args.flavour)
    run = _custom(args, "shell")
    boot(run, kernel, parts, run_dir(), interactive=True, trace=args.trace)
    return 0


def cmd_plan(args):
    return run_echoed(_custom(args, args.plan), args.flavour, f"plan {args.plan}", args.trace)


def run_profiles(report, seconds, scheduler):
    """Guest instructions per I/O of every path of ``bench --all`` in the jobs of
    ``suite.PROFILE_JOBS``: tools/profile/insn-profile.py, one boot per path and job, the
    paths of one device side by side, with the I/O scheduler the timed jobs used. Writes
    ``profile.json`` into the report directory (per job, per path: the total, its module
    groups, the top functions, the accesses to device memory and the interrupts per I/O) and
    returns it."""
    os.makedirs(report, exist_ok=True)
    tool = os.path.join(TOP, "tools", "profile", "insn-profile.py")
    by_hba = {}
    for path in suite.BENCH_ALL:
        by_hba.setdefault(suite.BENCH_HBA[path], []).append(path)
    data = {"what": "guest instructions per I/O (QEMU TCG plugin, tools/profile/insn-profile.py)",
            "seconds": seconds, "scheduler": scheduler or "default", "jobs": {}}
    for job, opts in suite.PROFILE_JOBS.items():
        data["jobs"][job] = []
        for hba, mods in by_hba.items():
            out = os.path.join(report, f"profile-{job}-{hba}.json")
            sched = ["--scheduler", scheduler] if scheduler else []
            r = subprocess.run([sys.executable, tool, "--hba", hba, "--job", opts, *sched,
                                "--seconds", str(seconds), "--top", "0", "--io",
                                "--json", out, *mods],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"# profile of {' '.join(mods)} ({job}) failed:\n{r.stdout[-2000:]}"
                      f"{r.stderr[-2000:]}", file=sys.stderr)
                continue
            with open(out) as f:
                data["jobs"][job] += json.load(f)["paths"]
    with open(os.path.join(report, "profile.json"), "w") as f:
        json.dump(data, f, indent=1)
    return data


def cmd_bench(args):
    """Boots the perf kernel with one controller and a null-co disk, runs the same fio jobs
    through the C driver and ours, alternating, and prints the side-by-side table."""
    kernel, parts = prepare("perf")
    outdir = run_dir()
    jobs = args.jobs.split(",") if args.jobs else None
    try:
        if args.all:
            run = suite.bench_all_run(args.rounds, args.seconds, pin=not args.no_pin,
                                      scheduler=args.scheduler or "none", jobs=jobs)
            pairs = list(suite.BENCH_PAIRS)
        else:
            run = suite.bench_run(args.hba, args.c_driver, args.rust_driver, args.rounds,
                                  args.seconds, pin=not args.no_pin,
                                  scheduler=args.scheduler or "", jobs=jobs)
            pairs = [(args.rust_driver, args.c_driver)]
    except ValueError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    with Stage("benchmark"):
        res, _ = boot(run, kernel, parts, outdir, echo=args.verbose)
    v = judge.judge(res.lines, run.plan, res.timed_out)
    samples = bench.parse(res.lines)
    table, ratios = bench.summarise(samples, pairs)
    lines = []

    def out(line):
        print(line)
        lines.append(line)

    where = ("megasas, virtio-scsi-pci and virtio-blk-pci with null-co disks, and null_blk"
             if args.all else f"{args.hba} with a null-co disk" if args.hba != "none"
             else "software hosts, no emulated device")
    out(f"# {where}, perf kernel, TCG, {args.rounds} rounds of "
        f"{args.seconds} s per job, drivers alternating job by job; medians over rounds; "
        + ("fio unpinned" if args.no_pin else "fio on CPU 0, interrupts moved to CPU 1 where "
           "they can be (managed vectors keep their CPU: BENCH-IRQ lines in the log)")
        + (f"; scheduler {run.settings['RSCSI_BENCH_SCHED']} for all"
           if run.settings["RSCSI_BENCH_SCHED"] else "; each driver's default I/O scheduler"))
    for line in dict.fromkeys(ln.strip() for ln in res.lines if ln.startswith("BENCH-SCHED ")):
        out(f"# {line}")
    for line in table:
        out(line)
    for line in bench.figure_lines(samples):
        out(line)
    for rust, c in pairs:
        mine = [(job, r, p) for (a, b, job, r, p) in ratios if (a, b) == (rust, c)]
        if not mine:
            continue
        worst = min(min(r.values()) for _, r, _ in mine)
        line = f"# {rust} against {c}: lowest ratio {worst:.2f} of the medians"
        if all(p for _, _, p in mine):
            line += f", {min(min(p.values()) for _, _, p in mine):.2f} paired"
        out(line)
        for job, _, _ in mine:
            iv = bench.interval(samples, rust, c, job)
            if iv and "iops" in iv:
                m, lo, hi = iv["iops"]
                out(f"# {job}: IOPS {rust}/{c} {m:.2f}, 95% interval [{lo:.2f}, {hi:.2f}]: "
                    f"{bench.verdict(iv['iops'])}")
    report = os.path.join(outdir, "report")
    profile = None
    if args.all and not args.no_profile:
        with Stage("instruction profiles"):
            profile = run_profiles(report, args.profile_seconds,
                                   run.settings["RSCSI_BENCH_SCHED"])
        for line in bench.profile_lines(profile):
            out(line)
    bench.write_report(report, samples, pairs, lines)
    with open(os.path.join(report, "figures.json")) as f:
        drawn = plots.draw(report, json.load(f), profile)
    print(f"# report: {report} (samples.csv, figures.json, summary.txt"
          + (", " + ", ".join(os.path.basename(p) for p in drawn) + ")" if isinstance(drawn, list)
             else f"; {drawn})"))
    print(f"# log: {res.log_path}")
    if not v.ok:
        print(v.summary())
        return 1
    return 0


def cmd_bench_compare(args):
    """Holds two runs of the same benchmark to each other: per driver, job and figure, and per
    paired ratio, whether their 95% intervals overlap; then the paired ratios over both runs'
    rounds. Fails if any pair of intervals does not overlap."""
    try:
        a, b = bench.load_samples(args.first), bench.load_samples(args.second)
    except (OSError, ValueError, KeyError) as e:
        print(f"bench-compare: {e}", file=sys.stderr)
        return 2
    pairs = bench.pairs_in(a, suite.BENCH_PAIRS)
    lines, apart = bench.compare(a, b, pairs)
    for line in lines + bench.pooled_lines(a, b, pairs):
        print(line)
    if apart:
        print("# intervals apart:")
        for line in apart:
            print(line)
        return 1
    return 0


def cmd_compare(args):
    """Judges the logs of several passes of check (their log directories) and prints every
    result that is not the same in all of them."""
    passes = []
    for d in args.dirs:
        verdicts = {}
        for run in suite.check_runs():
            path = os.path.join(d, f"{run.name}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    v = judge.judge(f.readlines(), run.plan, allow=run.allow)
                # A negative control's expected failure is its pass.
                v.ok = meets_expectation(run, v)
                verdicts[run.name] = v
        if not verdicts:
            raise SystemExit(f"rscsi: no run logs in {d}")
        passes.append(verdicts)
        p = sum(v.passed for v in verdicts.values())
        f = sum(v.failed for v in verdicts.values())
        bad = [n for n, v in verdicts.items() if not v.ok]
        print(f"# pass {len(passes)}: {d}: {len(verdicts)} runs, {p} passed, {f} failed"
              + (f"; runs that failed: {', '.join(bad)}" if bad else ""))
    diffs = judge.compare(passes)
    for line in diffs:
        print(line)
    print(f"# {len(diffs)} results changed between the {len(passes)} passes")
    return 1 if diffs else 0


def cmd_list(_args):
    extra = suite.extra_runs()
    for r in suite.check_runs() + extra:
        devs = "; ".join(f"{h.model}{''.join(f',{k}={v}' for k, v in h.opts.items())}"
                         f" x{len(h.disks)} disks" for h in r.hbas)
        only = " (on request: check --only)" if r in extra else ""
        print(f"{r.name:28} plan {r.plan:8} [{devs}] {r.description}{only}")
    return 0


class DeviceAction(argparse.Action):
    def __call__(self, parser, ns, values, option_string=None):
        if getattr(ns, "devices", None) is None:
            ns.devices = []
        ns.devices.append((option_string.lstrip("-"), values))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tools/harness", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="run every test")
    c.add_argument("--only", nargs="+", help="only these guest runs (skips host tests)")
    c.add_argument("-v", "--verbose", action="store_true", help="echo the guest console")
    c.add_argument("--rerun", action="store_true",
                   help="boot every run, even those unchanged since they passed")
    c.add_argument("-j", "--jobs", type=int, default=2,
                   help="guest runs booted side by side (default 2: the host idles while a "
                        "guest waits; 1 runs them one after another)")
    c.add_argument("--flavour", default="debug", choices=["debug", "race"],
                   help="the kernel: debug (KASAN, lockdep, kmemleak; what check is judged "
                        "on) or race (KCSAN, UBSAN, lockdep, kmemleak; for the soak)")
    c.set_defaults(func=cmd_check)
    for name, func, hlp in (("run", cmd_run, "the main job"), ("shell", cmd_shell, "interactive VM"),
                            ("plan", cmd_plan, "one plan on the given devices")):
        p = sub.add_parser(name, help=hlp)
        p.add_argument("--flavour", default="debug", choices=["debug", "perf", "race"])
        if name != "run":
            if name == "plan":
                p.add_argument("plan", help="a plan in tools/guest/plans (without .sh)")
            p.add_argument("--hba", action=DeviceAction, dest="devices", default=None,
                           help="MODEL[,opt=v...]: megasas, megasas-gen2, virtio-scsi-pci")
            p.add_argument("--disk", action=DeviceAction, dest="devices", default=None,
                           help="SIZE[,null][,bs=4096][,id=N][,lun=N][,blkdebug=FILE][,rerror=report...]")
            p.add_argument("--set", action="append", default=[], help="a run.conf setting K=V")
            p.add_argument("--trace", help="QEMU trace events, e.g. 'megasas_*'")
            p.add_argument("--timeout", type=int, default=900)
        p.set_defaults(func=func)
    b = sub.add_parser("bench", help="C driver vs ours, side by side, on the perf kernel")
    b.add_argument("--all", action="store_true",
                   help="megaraid_sas, rmegasas, virtio_scsi, rvirtio_scsi and the ceilings "
                        "(virtio-blk, null_blk) in one boot, the queue-depth sweep included, "
                        "scheduler none unless --scheduler")
    b.add_argument("--hba", default="megasas",
                   help="QEMU HBA model (default megasas); none for software hosts "
                        "(scsi_debug, rscsi_debug)")
    b.add_argument("--c-driver", default="megaraid_sas",
                   help="the C module (group), with parameters as MODULE:p=v,p=v")
    b.add_argument("--rust-driver", default="rmegasas",
                   help="our module (group), with parameters as MODULE:p=v,p=v")
    b.add_argument("--jobs", help="comma-separated subset of: " + ", ".join(suite.BENCH_JOBS))
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument("--seconds", type=int, default=10, help="per job")
    b.add_argument("--scheduler", choices=("none", "mq-deadline", "kyber"),
                   help="the same I/O scheduler for both drivers (default: each one's default)")
    b.add_argument("--no-pin", action="store_true",
                   help="leave fio and the interrupt where the scheduler puts them")
    b.add_argument("--no-profile", action="store_true",
                   help="with --all: skip the instruction profiles (one boot per path and job "
                        "after the benchmark)")
    b.add_argument("--profile-seconds", type=int, default=5,
                   help="with --all: the length of each profile's fio job")
    b.add_argument("-v", "--verbose", action="store_true")
    b.set_defaults(func=cmd_bench)
    bc = sub.add_parser("bench-compare",
                        help="two bench reports: whether every figure's interval overlaps")
    bc.add_argument("first", help="a report directory (bench prints it as '# report:')")
    bc.add_argument("second")
    bc.set_defaults(func=cmd_bench_compare)
    cmp_ = sub.add_parser("compare", help="results that differ between passes of check")
    cmp_.add_argument("dirs", nargs="+", help="log directories of check (printed as '# logs:')")
    cmp_.set_defaults(func=cmd_compare)
    lst = sub.add_parser("list", help="list the guest runs of check")
    lst.set_defaults(func=cmd_list)
    args = ap.parse_args(argv)
    return args.func(args)
