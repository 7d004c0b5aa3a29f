# SPDX-License-Identifier: GPL-2.0
"""The host-side judge of a guest run: reads the whole serial log and gives a verdict.

A run fails on any KTAP ``not ok``, on a plan that did not finish (no ``RSCSI-END``, or fewer
results than its ``1..N`` line announced), on a timeout, and on any kernel report found anywhere
in the log: ``WARNING:``, ``BUG:``, an Oops, KASAN, UBSAN, lockdep, kmemleak, a hung task, an RCU
stall, a panic or a failed KUnit test in the kernel log, whether or not the plan noticed it.
KUnit suites that pass are counted as results too.
"""

import dataclasses
import re

# (kind, pattern) pairs: any line matching is a finding.
REPORTS = [
    ("kasan", re.compile(r"BUG: KASAN:|KASAN: ")),
    ("ubsan", re.compile(r"UBSAN: ")),
    # The race flavour's data race detector ("BUG: KCSAN: data-race in ...").
    ("kcsan", re.compile(r"BUG: KCSAN: ")),
    ("lockdep", re.compile(
        r"possible circular locking dependency|possible recursive locking|inconsistent lock state"
        r"|possible irq lock inversion|suspicious RCU usage|lock held when returning to user space"
        r"|DEBUG_LOCKS_WARN_ON|INFO: trying to register non-static key")),
    ("kmemleak", re.compile(r"unreferenced object 0x|kmemleak: \d+ new suspected memory leak")),
    ("warning", re.compile(r"(^|\] )WARNING:|------------\[ cut here \]------------")),
    ("bug", re.compile(r"(^|\] )BUG:|kernel BUG at")),
    ("oops", re.compile(r"Oops:|Oops\b|general protection fault")),
    ("rust-panic", re.compile(r"rust_kernel: panicked|panicked at ")),
    ("hung-task", re.compile(r"INFO: task \S+ blocked for more than|rcu: INFO: \S+ (self-)?detected stall")),
    ("panic", re.compile(r"Kernel panic - not syncing")),
]

KERNEL_LINE = re.compile(r"^\[\s*\d+\.\d+\]\s?(.*)$")
KTAP_RESULT = re.compile(r"^(\s*)(not ok|ok) (\d+)\s*(?:-\s*)?(.*)$")
KTAP_PLAN = re.compile(r"^(\s*)1\.\.(\d+)\s*$")


@dataclasses.dataclass
class TestResult:
    number: int
    name: str
    ok: bool
    skipped: bool = False


@dataclasses.dataclass
class Verdict:
    plan: str
    results: list
    findings: list  # (kind, line number, line)
    problems: list  # plan-level problems: timeout, missing end, count mismatch
    ok: bool = False

    @property
    def passed(self):
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self):
        return sum(1 for r in self.results if not r.ok)

    def summary(self):
        lines = []
        for r in self.results:
            if not r.ok:
                lines.append(f"  not ok {r.number} {r.name}")
        for kind, n, text in self.findings[:20]:
            lines.append(f"  {kind} report at log line {n}: {text.strip()[:160]}")
        if len(self.findings) > 20:
            lines.append(f"  ... and {len(self.findings) - 20} more reports")
        for p in self.problems:
            lines.append(f"  {p}")
        return "\n".join(lines)


# How many lines from a report's first one its identifying line may be: "cut here", then the
# message a WARN_ONCE() prints, then "WARNING: <file>:<line> at <function>".
REPORT_HEAD = 4


# A combined run's parts (the guest's rscsi_run_parts): "# part K: plan P" begins part K,
# "# part K: end" ends it.
PART_BEGIN = re.compile(r"^# part (\d+): plan ")
PART_END = re.compile(r"^# part (\d+): end$")


def parts_of(lines):
    """For each line (by index), the combined run's part it belongs to, or None outside every
    part (before the first, between parts, and the run's own end: its leak scan)."""
    part, out = None, []
    for raw in lines:
        line = raw.rstrip("\r\n")
        m = PART_BEGIN.match(line)
        if m:
            part = int(m.group(1))
        out.append(part)
        if PART_END.match(line):
            part = None
    return out


def allowed(finding, allow, lines, parts=None):
    """Whether ``allow`` lets a finding pass: an entry is a report kind (every report of that
    kind), or a pair (kind, pattern): a report of that kind whose first REPORT_HEAD lines
    match the pattern (one known report, not every report of its kind), or ("part", K, entry):
    ``entry`` for a report that begins inside part K of a combined run only (a C driver's
    baseline beside our driver's run in one boot). ``parts`` is `parts_of` the lines."""
    kind, n, _ = finding
    for a in allow:
        if isinstance(a, str):
            if a == kind:
                return True
        elif a[0] == "part":
            if parts is None:
                parts = parts_of(lines)
            if parts[n - 1] == a[1] and allowed(finding, (a[2],), lines, parts):
                return True
        elif a[0] == kind and any(re.search(a[1], line) for line in lines[n - 1:n - 1 + REPORT_HEAD]):
            return True
    return False


def judge(lines, plan, timed_out=False, allow=()):
    """Judges the lines of one run's serial log for the named plan.

    ``allow`` lists report kinds a plan expects (for example ``warning`` in a plan that provokes
    one on purpose), or (kind, pattern) pairs for one known report (see `allowed`); they are
    kept as findings but do not fail the run.
    """
    results = []
    findings = []
    problems = []
    in_plan = False
    ended = False
    announced = None
    kunit = []
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        for kind, pat in REPORTS:
            if pat.search(line):
                findings.append((kind, n, line))
                break
        # KUnit suites (module #[kunit_tests], doctests) print KTAP through the kernel log.
        km = KERNEL_LINE.match(line)
        if km:
            m = KTAP_RESULT.match(km.group(1))
            if m:
                if m.group(2) == "not ok":
                    findings.append(("kunit", n, line))
                if not m.group(1):
                    kunit.append(TestResult(int(m.group(3)), "kunit: " + m.group(4),
                                            m.group(2) == "ok"))
            continue
        if line.startswith("RSCSI-BEGIN "):
            in_plan = True
            continue
        if line.startswith("RSCSI-END "):
            ended = True
            in_plan = False
            continue
        if not in_plan:
            continue
        text = line
        m = KTAP_PLAN.match(text)
        if m and not m.group(1) and announced is None:
            announced = int(m.group(2))
            continue
        m = KTAP_RESULT.match(text)
        if m and not m.group(1):  # Top-level results only; subtests are indented.
            name = m.group(4)
            skipped = bool(re.search(r"#\s*SKIP", name, re.IGNORECASE))
            results.append(TestResult(int(m.group(3)), name, m.group(2) == "ok", skipped))
    if timed_out:
        problems.append("timeout: the VM did not finish in time")
    if not ended:
        problems.append("missing final result: the plan never reported its end (RSCSI-END)")
    if announced is None:
        problems.append("no KTAP plan line (1..N) from the guest")
    elif len(results) != announced:
        problems.append(f"the plan announced {announced} tests but reported {len(results)}")
    per_part = any(not isinstance(a, str) and a[0] == "part" for a in allow)
    parts = parts_of(lines) if per_part else None
    blocking = [f for f in findings if not allowed(f, allow, lines, parts)]
    results += kunit
    ok = not problems and not blocking and all(r.ok for r in results)
    return Verdict(plan, results, findings, problems, ok)


def compare(passes):
    """Compares the verdicts of the same runs over several passes.

    ``passes`` is a list of dicts, one per pass, mapping a run's name to its Verdict (or None
    where the pass has no log for that run). Returns one line per difference: a test whose
    result is not the same in every pass (tests are matched by number: names may carry device
    names that differ between boots), a run that passed in one pass and not in another, or a
    run missing from a pass. No lines: every pass agreed.
    """
    diffs = []
    names = sorted(set().union(*(p.keys() for p in passes)))
    for run in names:
        verdicts = [p.get(run) for p in passes]
        if any(v is None for v in verdicts):
            have = ", ".join("yes" if v else "no" for v in verdicts)
            diffs.append(f"{run}: log present in pass 1..{len(passes)}: {have}")
            continue
        # The plan's own results by number, KUnit's apart.
        plans = [{r.number: r for r in v.results if not r.name.startswith("kunit: ")}
                 for v in verdicts]
        for n in sorted(set().union(*plans)):
            res = [p.get(n) for p in plans]
            states = ["missing" if r is None else ("ok" if r.ok else "not ok") for r in res]
            if len(set(states)) > 1:
                name = next(r.name for r in res if r is not None)
                diffs.append(f"{run}: test {n} ({name}): {', '.join(states)}")
        kunit = [sorted((r.name, r.ok) for r in v.results if r.name.startswith("kunit: "))
                 for v in verdicts]
        if any(k != kunit[0] for k in kunit):
            diffs.append(f"{run}: KUnit results differ between passes")
        oks = ["ok" if v.ok else "FAILED" for v in verdicts]
        if len(set(oks)) > 1:
            why = "; ".join(f"pass {i}: {v.summary().strip() or 'ok'}"
                            for i, v in enumerate(verdicts, 1) if not v.ok)
            diffs.append(f"{run}: verdict {', '.join(oks)} ({why})")
    return diffs

