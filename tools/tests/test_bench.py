# SPDX-License-Identifier: GPL-2.0
"""The benchmark analysis reads the bench plan's output and compares drivers correctly."""

import json
import unittest

from rscsi import bench


def block(driver, rnd, job, iops, p50_ns, p99_ns, busy_jiffies, rw="read"):
    other = "write" if rw == "read" else "read"
    data = {"jobs": [{
        rw: {"iops": iops, "total_ios": int(iops * 10), "runtime": 10000,
             "clat_ns": {"percentile": {"50.000000": p50_ns, "99.000000": p99_ns}}},
        other: {"iops": 0, "total_ios": 0, "runtime": 0},
    }]}
    return ([f"BENCH-BEGIN {driver} {rnd} {job}",
             "BENCH-CPU-BEFORE cpu  100 0 100 5000 0 0 0 0 0 0"]
            + json.dumps(data, indent=1).splitlines()
            + [f"BENCH-CPU-AFTER cpu  {100 + busy_jiffies} 0 100 6000 0 0 0 0 0 0",
               f"BENCH-END {driver} {rnd} {job} rc=0"])


class BenchTest(unittest.TestCase):
    def test_parse_and_ratios(self):
        lines = []
        for r in (1, 2, 3):
            lines += block("megaraid_sas", r, "randread-4k-qd1", 1000, 900_000, 2_000_000, 120)
            lines += ["[   12.3] some kernel message"]
            lines += block("rmegasas", r, "randread-4k-qd1", 1100 + r, 800_000, 1_600_000, 120)
        samples = bench.parse(lines)
        self.assertEqual(len(samples), 6)
        s = samples[0]
        self.assertEqual((s["driver"], s["job"], s["iops"]), ("megaraid_sas", "randread-4k-qd1", 1000))
        self.assertAlmostEqual(s["p50_us"], 900.0)
        # 120 jiffies = 1.2 s of CPU over a 12 s window (10 s measured): 1 s for 10000 I/Os.
        self.assertAlmostEqual(s["cpu_us_per_io"], 100.0)
        table, ratios = bench.summarise(samples, [("rmegasas", "megaraid_sas")])
        (rust, c, job, r, p), = ratios
        self.assertEqual((rust, c), ("rmegasas", "megaraid_sas"))
        self.assertEqual(job, "randread-4k-qd1")
        self.assertAlmostEqual(r["iops"], 1102 / 1000)
        self.assertAlmostEqual(r["p50"], 900 / 800)
        self.assertAlmostEqual(r["p99"], 2000 / 1600)
        self.assertTrue(any("rmegasas vs C" in t for t in table))

    def test_paired_ratio_cancels_drift(self):
        # The host slows down from round to round; in each round Rust does 10% better, but
        # the medians over rounds compare C's round 2 with Rust's round 2 only by luck.
        lines = []
        for r, base in ((1, 3000), (2, 1000), (3, 2000), (4, 900)):
            lines += block("megaraid_sas", r, "read-128k-seq", base, 1_000_000, 2_000_000, 100)
            lines += block("rmegasas", r, "read-128k-seq", base * 1.1, 1_000_000, 2_000_000, 100)
        # A round where only the C driver ran is left out of the pairs.
        lines += block("megaraid_sas", 5, "read-128k-seq", 5000, 1_000_000, 2_000_000, 100)
        samples = bench.parse(lines)
        p = bench.paired(samples, "rmegasas", "megaraid_sas", "read-128k-seq")
        self.assertAlmostEqual(p["iops"], 1.1)
        (_, _, _, r, p2), = bench.summarise(samples, [("rmegasas", "megaraid_sas")])[1]
        self.assertEqual(p, p2)
        # Medians: C over 5 rounds (2000) against Rust over 4 (1650): the drift shows.
        self.assertAlmostEqual(r["iops"], 1650 / 2000)
        self.assertIsNone(bench.paired(samples, "rmegasas", "megaraid_sas", "other"))

    def test_interval_says_parity_when_it_contains_one(self):
        lines = []
        # Rust 10% better in every round: the interval is narrow and above 1.
        for r in (1, 2, 3, 4):
            lines += block("megaraid_sas", r, "a", 1000 * r, 1_000_000, 2_000_000, 100)
            lines += block("rmegasas", r, "a", 1100 * r, 1_000_000, 2_000_000, 100)
        # Rust 30% better in one round and 20% worse in two: parity.
        for r, f in ((1, 1.3), (2, 0.8), (3, 0.8), (4, 1.3)):
            lines += block("megaraid_sas", r, "b", 1000, 1_000_000, 2_000_000, 100)
            lines += block("rmegasas", r, "b", 1000 * f, 1_000_000, 2_000_000, 100)
        samples = bench.parse(lines)
        m, lo, hi = bench.interval(samples, "rmegasas", "megaraid_sas", "a")["iops"]
        self.assertAlmostEqual(m, 1.1)
        self.assertAlmostEqual(lo, 1.1)
        self.assertEqual(bench.verdict((m, lo, hi)), "Rust better")
        iv = bench.interval(samples, "rmegasas", "megaraid_sas", "b")["iops"]
        self.assertLess(iv[1], 1.0)
        self.assertGreater(iv[2], 1.0)
        self.assertEqual(bench.verdict(iv), "parity")
        self.assertEqual(bench.verdict((0.8, 0.7, 0.9)), "C better")
        self.assertTrue(any("95% interval" in t for t in bench.summarise(
            samples, [("rmegasas", "megaraid_sas")])[0]))
        # One round is no interval.
        self.assertIsNone(bench.interval(samples[:2], "rmegasas", "megaraid_sas", "a"))

    def test_commands_per_doorbell_from_the_counters(self):
        lines = block("rvirtio_scsi", 1, "randread-4k-qd32", 1000, 1, 1, 1)
        # 12,000 commands, 3,000 kicks between the two readings: 4 per doorbell.
        lines[2:2] = ["BENCH-DOORBELLS-BEFORE 500 100"]
        lines[-1:-1] = ["BENCH-DOORBELLS-AFTER 12500 3100"]
        # The C driver counts neither: its lines carry no numbers.
        c = block("virtio_scsi", 1, "randread-4k-qd32", 1000, 1, 1, 1)
        c[2:2] = ["BENCH-DOORBELLS-BEFORE "]
        c[-1:-1] = ["BENCH-DOORBELLS-AFTER "]
        rust, cs = bench.parse(lines + c)
        self.assertAlmostEqual(rust["cmds_per_doorbell"], 4.0)
        self.assertEqual(cs["cmds_per_doorbell"], 0)
        shown = bench.figure_lines([rust, cs])
        self.assertIn("cmds/doorbell 4.00", shown[1])
        self.assertNotIn("cmds/doorbell", shown[2])

    def test_failed_job_is_skipped(self):
        lines = block("rmegasas", 1, "x", 10, 1, 1, 1)
        lines[-1] = "BENCH-END rmegasas 1 x rc=1"
        self.assertEqual(bench.parse(lines), [])


if __name__ == "__main__":
    unittest.main()


class ReportTest(unittest.TestCase):
    """The report directory holds every sample and the intervals the summary prints."""

    def samples(self):
        lines = []
        for r, base in ((1, 1000), (2, 1100), (3, 900)):
            lines += block("virtio_scsi", r, "randread-4k-qd1", base, 900_000, 2_000_000, 120)
            lines += block("rvirtio_scsi", r, "randread-4k-qd1", base * 1.2, 800_000,
                           1_600_000, 120)
        return bench.parse(lines)

    def test_figure_interval_is_a_t_interval_around_the_mean(self):
        m, lo, hi = bench.figure_interval([1000, 1100, 900])
        self.assertAlmostEqual(m, 1000)
        # stdev 100, n 3, t(2) 4.30: half width 4.30 * 100 / sqrt(3).
        self.assertAlmostEqual(hi - m, 4.30 * 100 / 3 ** 0.5)
        self.assertAlmostEqual(m - lo, hi - m)
        self.assertEqual(bench.figure_interval([5.0]), (5.0, 5.0, 5.0))

    def test_report_has_one_row_per_sample_and_the_ratio_verdicts(self):
        import csv
        import os
        import tempfile
        samples = self.samples()
        with tempfile.TemporaryDirectory() as d:
            paths = bench.write_report(d, samples, [("rvirtio_scsi", "virtio_scsi")], ["x", "y"])
            self.assertEqual([os.path.basename(p) for p in paths],
                             ["samples.csv", "figures.json", "summary.txt"])
            with open(os.path.join(d, "samples.csv")) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual(len(rows), 6)
            self.assertEqual({r["driver"] for r in rows}, {"virtio_scsi", "rvirtio_scsi"})
            with open(os.path.join(d, "figures.json")) as f:
                data = json.load(f)
            self.assertEqual(len(data["figures"]), 2)
            (pair,) = data["pairs"]
            self.assertEqual((pair["rust"], pair["c"]), ("rvirtio_scsi", "virtio_scsi"))
            (r,) = pair["ratios"]
            self.assertAlmostEqual(r["iops"]["geomean"], 1.2)
            # The ratio is exactly 1.2 in every round: a zero-width interval above 1.
            self.assertEqual(r["iops"]["verdict"], "Rust better")
            with open(os.path.join(d, "summary.txt")) as f:
                self.assertEqual(f.read(), "x\ny\n")
        lines = bench.figure_lines(samples)
        self.assertEqual(len(lines), 3)
        self.assertIn("IOPS 1200 [", lines[2])

    def test_compare_reads_reports_and_finds_intervals_apart(self):
        import os
        import tempfile
        first = self.samples()
        pairs = [("rvirtio_scsi", "virtio_scsi")]
        with tempfile.TemporaryDirectory() as d:
            bench.write_report(d, first, pairs, [])
            again = bench.load_samples(d)
        self.assertEqual(len(again), len(first))
        for x, y in zip(sorted(first, key=lambda s: (s["driver"], s["round"])),
                        sorted(again, key=lambda s: (s["driver"], s["round"]))):
            self.assertEqual((x["driver"], x["round"], x["job"]),
                             (y["driver"], y["round"], y["job"]))
            for k in bench.FIGURES:
                self.assertAlmostEqual(x[k], y[k])
        lines, apart = bench.compare(first, again, pairs)
        self.assertEqual(apart, [])
        self.assertIn("# 12 of 12 intervals overlap; 0 ratio verdicts differ", lines[-1])
        # A second run where the Rust driver is twice as fast in every round: its IOPS and
        # the ratio's interval lie apart from the first run's, and the verdict stays.
        faster = [dict(s, iops=s["iops"] * 2) if s["driver"] == "rvirtio_scsi" else s
                  for s in first]
        lines, apart = bench.compare(first, faster, pairs)
        self.assertEqual(len(apart), 2)
        self.assertIn("rvirtio_scsi", apart[0])
        self.assertIn("IOPS", apart[0])
        self.assertIn("ratio iops     1.20 [1.20, 1.20]", apart[1])
        self.assertTrue(apart[1].endswith("NO"))
        self.assertIn("# 10 of 12 intervals overlap; 0 ratio verdicts differ", lines[-1])
        # The C driver's rounds spread: its interval widens and still overlaps, but the
        # exact ratio of the first run becomes parity in the second.
        spread = [dict(s, iops=s["iops"] * (0.5 if s["round"] == 1 else 1.6))
                  if s["driver"] == "virtio_scsi" else s for s in first]
        lines, _ = bench.compare(first, spread, pairs)
        self.assertIn("verdicts differ: Rust better / parity", "\n".join(lines))
        self.assertIn("1 ratio verdicts differ", lines[-1])
        # Pooled: six rounds, the second run's numbered 4 to 6, ratios paired within a round.
        both = bench.pooled(first, faster)
        self.assertEqual(sorted({s["round"] for s in both}), [1, 2, 3, 4, 5, 6])
        (head, line) = bench.pooled_lines(first, faster, pairs)
        self.assertIn("(6 rounds)", head)
        # Ratios 1.2 and 2.4, three rounds each: geometric mean sqrt(1.2 * 2.4).
        self.assertIn(f"iops {(1.2 * 2.4) ** 0.5:.2f} [", line)
        self.assertIn("Rust better", line)
        # A driver given with parameters stands for its module.
        self.assertEqual(
            bench.pairs_in([{"driver": "rmegasas:queues=1"}, {"driver": "megaraid_sas"},
                            {"driver": "null_blk"}],
                           [("rmegasas", "megaraid_sas"), ("rvirtio_scsi", "virtio_scsi")]),
            [("rmegasas:queues=1", "megaraid_sas")])


class PlotTest(unittest.TestCase):
    def test_sweep_and_both_pairs_drawn(self):
        import os
        import tempfile
        from rscsi import plots
        if plots._matplotlib() is None:
            self.skipTest("no matplotlib")
        lines = []
        for r in (1, 2):
            for qd in (1, 2, 4):
                for d, base in (("megaraid_sas", 1000), ("rmegasas", 1100),
                                ("virtio_scsi", 2000), ("rvirtio_scsi", 2100), ("null_blk", 5000)):
                    lines += block(d, r, f"randread-4k-qd{qd}", base * qd + r, 900_000,
                                   2_000_000, 100)
        samples = bench.parse(lines)
        pairs = [("rmegasas", "megaraid_sas"), ("rvirtio_scsi", "virtio_scsi")]
        with tempfile.TemporaryDirectory() as d:
            bench.write_report(d, samples, pairs, [])
            with open(os.path.join(d, "figures.json")) as f:
                data = json.load(f)
            self.assertEqual([(p["rust"], p["c"]) for p in data["pairs"]], pairs)
            profile = {"what": "guest instructions per I/O", "seconds": 5, "jobs": {
                "randread-4k-qd1": [
                    {"module": "megaraid_sas", "per_io": 9000,
                     "groups": {"kernel": 8000, "[megaraid_sas]": 1000}},
                    {"module": "rmegasas", "per_io": 8600,
                     "groups": {"kernel": 7900, "[rmegasas]": 650, "rust_helper": 50},
                     "interrupts_per_io": 1.0,
                     "io_per_io": {"total": 1.5, "regions": {
                         "megasas-queue": {"write": 1.0},
                         "megasas-mmio": {"read": 0.25, "write": 0.25}}}}],
                "read-128k-seq": []}}
            drawn = plots.draw(d, data, profile)
            self.assertEqual([os.path.basename(p) for p in drawn],
                             ["iops.png", "ratios.png", "qd-sweep.png", "insn.png"])
            self.assertTrue(all(os.path.getsize(p) > 1000 for p in drawn))
            lines = bench.profile_lines(profile)
            self.assertEqual(len(lines), 4)
            self.assertIn("rmegasas       instructions/IO     8600: kernel 7900, [rmegasas] 650,"
                          " rust_helper 50", lines[2])
            self.assertIn("rmegasas       device accesses/IO  1.50; megasas-mmio 0.25 reads, "
                          "0.25 writes; megasas-queue 1.00 writes; interrupts/IO 1.00", lines[3])


class PlotNameTest(unittest.TestCase):
    def test_parameters_left_out_of_plot_labels(self):
        from rscsi import plots
        self.assertEqual(plots.short("rscsi_debug:null=1,can_queue=64"), "rscsi_debug")
        self.assertEqual(plots.short("virtio_pci+virtio_scsi"), "virtio_pci+virtio_scsi")
        self.assertEqual(plots.short("rmegasas:queues=1,ldio=0"), "rmegasas")
