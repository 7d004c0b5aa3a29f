# SPDX-License-Identifier: GPL-2.0
"""The judge catches every kind of report it must, over logs that hold one each."""

import os
import unittest

from rscsi import judge

LOGS = os.path.join(os.path.dirname(__file__), "logs")


def verdict(name, **kw):
    with open(os.path.join(LOGS, name)) as f:
        return judge.judge(f.read().splitlines(), "disks", **kw)


class JudgeTest(unittest.TestCase):
    def test_clean_log_passes(self):
        v = verdict("clean.log")
        self.assertTrue(v.ok, v.summary())
        self.assertEqual((v.passed, v.failed), (3, 0))

    def assert_finding(self, log, kind):
        v = verdict(log)
        self.assertFalse(v.ok)
        self.assertIn(kind, [k for k, _, _ in v.findings], v.summary())

    def test_warning_splat_fails(self):
        self.assert_finding("warning.log", "warning")

    def test_lockdep_report_fails(self):
        self.assert_finding("lockdep.log", "lockdep")

    def test_kmemleak_report_fails(self):
        self.assert_finding("kmemleak.log", "kmemleak")

    def test_kasan_report_fails(self):
        self.assert_finding("kasan.log", "kasan")

    def test_panic_fails(self):
        v = verdict("panic.log")
        kinds = {k for k, _, _ in v.findings}
        self.assertTrue({"panic", "oops"} <= kinds, v.summary())
        self.assertFalse(v.ok)

    def test_missing_final_result_fails(self):
        v = verdict("truncated.log")
        self.assertFalse(v.ok)
        self.assertTrue(any("missing final result" in p for p in v.problems), v.problems)
        self.assertTrue(any("announced 3 tests but reported 1" in p for p in v.problems), v.problems)

    def test_not_ok_fails(self):
        v = verdict("notok.log")
        self.assertFalse(v.ok)
        self.assertEqual(v.failed, 1)

    def test_kernel_kunit_failure_fails(self):
        v = verdict("kunit-fail.log")
        self.assertFalse(v.ok)
        self.assertIn("kunit", [k for k, _, _ in v.findings], v.summary())

    def test_kernel_kunit_pass_is_counted(self):
        v = verdict("kunit-pass.log")
        self.assertTrue(v.ok, v.summary())
        self.assertIn("kunit: rmegasas_fw", [r.name for r in v.results])

    def test_count_mismatch_fails(self):
        v = verdict("miscount.log")
        self.assertFalse(v.ok)

    def test_hung_task_fails(self):
        self.assert_finding("hung.log", "hung-task")

    def test_timeout_fails(self):
        v = verdict("clean.log", timed_out=True)
        self.assertFalse(v.ok)
        self.assertTrue(any("timeout" in p for p in v.problems))

    def test_allowed_kind_does_not_fail(self):
        with open(os.path.join(LOGS, "warning.log")) as f:
            v = judge.judge(f.read().splitlines(), "disks", allow=("warning",))
        self.assertTrue(v.ok, v.summary())

    def test_one_known_report_is_allowed_and_no_other(self):
        with open(os.path.join(LOGS, "warning.log")) as f:
            lines = f.read().splitlines()
        known = ("warning", r"WARNING: .* at drivers/scsi/scsi_lib\.c:\d+ scsi_queue_rq")
        self.assertTrue(judge.judge(lines, "disks", allow=(known,)).ok)
        other = ("warning", r"WARNING: .* at fs/proc/generic\.c:\d+ remove_proc_entry")
        v = judge.judge(lines, "disks", allow=(other,))
        self.assertFalse(v.ok)
        self.assertIn("warning", [k for k, _, _ in v.findings])

    def test_part_allowance_holds_in_its_part_only(self):
        # A combined run: part 1 is a C driver's baseline with its warnings allowed.
        warn = ["[    8.100000] ------------[ cut here ]------------",
                "[    8.100001] WARNING: kernel/dma/debug.c:896 at dma_debug_device_change+0x1"]

        def log(part0, part1, after):
            return (["RSCSI-BEGIN parts", "KTAP version 1", "1..3", "# part 0: plan faults"]
                    + part0 + ["ok 1 rust", "# part 0: end", "# part 1: plan faults"]
                    + part1 + ["ok 2 c", "# part 1: end"] + after
                    + ["ok 3 kmemleak scan finds nothing", "RSCSI-END parts"])
        allow = (("part", 1, "warning"),)
        self.assertEqual(judge.parts_of(log([], warn, []))[:7],
                         [None, None, None, 0, 0, 0, 1])
        self.assertTrue(judge.judge(log([], warn, []), "parts", allow=allow).ok)
        for lines in (log(warn, [], []), log([], [], warn)):
            v = judge.judge(lines, "parts", allow=allow)
            self.assertFalse(v.ok, "a report outside the part must fail the run")
        # A pattern within a part: that report only.
        other = (("part", 1, ("warning", r"remove_proc_entry")),)
        self.assertFalse(judge.judge(log([], warn, []), "parts", allow=other).ok)


if __name__ == "__main__":
    unittest.main()


class CompareTest(unittest.TestCase):
    """``tools/harness compare``: what changed between passes of the same runs."""

    def test_same_results_in_every_pass(self):
        clean = verdict("clean.log")
        self.assertEqual(judge.compare([{"a": clean}, {"a": verdict("clean.log")}]), [])

    def test_a_test_that_flips_is_reported(self):
        diffs = judge.compare([{"a": verdict("clean.log")}, {"a": verdict("notok.log")},
                               {"a": verdict("clean.log")}])
        self.assertTrue(any("test " in d and "ok, not ok, ok" in d for d in diffs), diffs)
        self.assertTrue(any("verdict ok, FAILED, ok" in d for d in diffs), diffs)

    def test_a_report_alone_changes_the_verdict(self):
        # Same KTAP results, but one pass has a kernel warning: the verdict differs.
        diffs = judge.compare([{"a": verdict("clean.log")}, {"a": verdict("warning.log")}])
        self.assertTrue(any(d.startswith("a: verdict ") for d in diffs), diffs)

    def test_a_missing_run_is_reported(self):
        diffs = judge.compare([{"a": verdict("clean.log")}, {}])
        self.assertEqual(diffs, ["a: log present in pass 1..2: yes, no"])


class NegativeControlTest(unittest.TestCase):
    """A negative control passes only if exactly the disks it corrupted failed their verify."""

    def verdict(self, *failed):
        names = ["megaraid_sas: load", "megaraid_sas: fio verify hba0 megasas 0:0 sda",
                 "megaraid_sas: fio verify hba0 megasas 1:0 sdb", "megaraid_sas: unload"]
        results = [judge.TestResult(i, n, ok=i not in failed) for i, n in enumerate(names, 1)]
        return judge.Verdict("disks", results, [], [], ok=not failed)

    def test_only_the_corrupted_disk_fails(self):
        from rscsi import cli, suite
        run = suite.negative_control()
        self.assertEqual(run.must_fail, ("fio verify hba0 megasas 0:0 ",))
        self.assertTrue(cli.meets_expectation(run, self.verdict(2)))
        # Nothing failed, the other disk failed too, or only the other one: not what it must do.
        self.assertFalse(cli.meets_expectation(run, self.verdict()))
        self.assertFalse(cli.meets_expectation(run, self.verdict(2, 3)))
        self.assertFalse(cli.meets_expectation(run, self.verdict(3)))
        # A failure other than a verify (the load) fails the control.
        self.assertFalse(cli.meets_expectation(run, self.verdict(1, 2)))
