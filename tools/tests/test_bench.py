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
        table, ratios = bench.summarise(samples, "rmegasas", "megaraid_sas")
        (job, r, p), = ratios
        self.assertEqual(job, "randread-4k-qd1")
        self.assertAlmostEqual(r["iops"], 1102 / 1000)
        self.assertAlmostEqual(r["p50"], 900 / 800)
        self.assertAlmostEqual(r["p99"], 2000 / 1600)
        self.assertTrue(any("Rust vs C" in t for t in table))

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
        (_, r, p2), = bench.summarise(samples, "rmegasas", "megaraid_sas")[1]
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
        self.assertTrue(any("95% interval" in t for t in bench.summarise(samples, "rmegasas",
                                                                           "megaraid_sas")[0]))
        # One round is no interval.
        self.assertIsNone(bench.interval(samples[:2], "rmegasas", "megaraid_sas", "a"))

    def test_failed_job_is_skipped(self):
        lines = block("rmegasas", 1, "x", 10, 1, 1, 1)
        lines[-1] = "BENCH-END rmegasas 1 x rc=1"
        self.assertEqual(bench.parse(lines), [])


if __name__ == "__main__":
    unittest.main()
