# SPDX-License-Identifier: GPL-2.0
"""The instruction profile maps translation blocks to the right symbols and counts per I/O."""

import json
import unittest

from rscsi import insnprof

SYSTEM_MAP = """\
ffffffff81000000 T _stext
ffffffff81000100 t scsi_queue_rq
ffffffff81000200 D some_data
ffffffff81000300 T scsi_done
"""

LOG = "\n".join([
    "[    1.0] boot",
    "PROFILE-KALLSYMS-BEGIN",
    "ffffffffa0000000 t rmegasas_queue\t[rmegasas]",
    "ffffffffa0000080 T rmegasas_isr\t[rmegasas]",
    "PROFILE-KALLSYMS-END",
    "PROFILE-FIO-BEGIN",
    json.dumps({"jobs": [{"read": {"total_ios": 10}, "write": {"total_ios": 0}}]}, indent=1),
    "PROFILE-FIO-END",
])


class InsnProfTest(unittest.TestCase):
    def test_maps_blocks_to_symbols(self):
        syms = insnprof.parse_system_map(SYSTEM_MAP.splitlines())
        self.assertEqual([n for _, n in syms], ["_stext", "scsi_queue_rq", "scsi_done"])
        mod, ios = insnprof.parse_log(LOG)
        self.assertEqual(ios, 10)
        counts = ["# marks 3",
                  "ffffffff81000100 5 10",   # scsi_queue_rq: 50
                  "ffffffff81000250 2 10",   # past some_data (not text): still scsi_queue_rq
                  "ffffffff81000300 3 1",    # scsi_done: 3
                  "ffffffffa0000004 4 10",   # rmegasas_queue: 40
                  "ffffffffa0000090 1 7"]    # rmegasas_isr: 7
        per, total = insnprof.profile(counts, syms + mod)
        self.assertEqual(per["scsi_queue_rq"], 70)
        self.assertEqual(per["scsi_done"], 3)
        self.assertEqual(per["rmegasas_queue [rmegasas]"], 40)
        self.assertEqual(per["rmegasas_isr [rmegasas]"], 7)
        self.assertEqual(total, 120)
        self.assertEqual(insnprof.group("rmegasas_isr [rmegasas]"), "[rmegasas]")
        self.assertEqual(insnprof.group("rust_helper_sg_next"), "rust_helper")
        self.assertEqual(insnprof.group("scsi_done"), "kernel")
        # Entries: only blocks that start at a function's address count, by their executions.
        calls = insnprof.entries(counts, syms + mod, {"scsi_queue_rq", "scsi_done", "rmegasas_isr"})
        self.assertEqual(calls, {"scsi_queue_rq": 10, "scsi_done": 1})
        # A module's function by its bare name; a block inside it is not an entry.
        calls = insnprof.entries(["# marks 2", "ffffffffa0000080 3 7", "ffffffffa0000090 1 7",
                                  "ffffffffa0000004 4 10"], syms + mod,
                                 {"rmegasas_isr", "rmegasas_queue"})
        self.assertEqual(calls, {"rmegasas_isr": 7})

    def test_device_accesses_by_function_and_region(self):
        syms = insnprof.parse_system_map(SYSTEM_MAP.splitlines())
        mod, _ = insnprof.parse_log(LOG)
        counts = ["# marks 2",
                  "ffffffffa0000004 4 10",
                  "io ffffffffa0000010 0 10 megasas-queue",       # rmegasas_queue posts
                  "io ffffffffa0000090 20 10 megasas-mmio",       # rmegasas_isr: status, ack
                  "io ffffffffa0000094 1 0 megasas-mmio",
                  "io ffffffff81000310 3 0 virtio pci common\n"]  # a name with spaces
        io = insnprof.io_accesses(counts, syms + mod)
        self.assertEqual(io, {("rmegasas_queue [rmegasas]", "megasas-queue", "write"): 10,
                              ("rmegasas_isr [rmegasas]", "megasas-mmio", "read"): 21,
                              ("rmegasas_isr [rmegasas]", "megasas-mmio", "write"): 10,
                              ("scsi_done", "virtio pci common", "read"): 3})
        # The io lines do not disturb the instruction counts.
        per, total = insnprof.profile(counts, syms + mod)
        self.assertEqual(total, 40)
        self.assertEqual(insnprof.entries(counts, syms + mod, {"rmegasas_queue"}), {})

    def test_refuses_a_window_not_closed(self):
        with self.assertRaises(ValueError):
            insnprof.profile(["# marks 1", "ffffffff81000100 5 10"], [(0, "x")])

    def test_interrupts_of_the_window(self):
        self.assertEqual(insnprof.parse_irqs("ok 1 x\nPROFILE-IRQS 120 4620\n"), 4500)
        self.assertIsNone(insnprof.parse_irqs("PROFILE-IRQS 120\n"))
        self.assertIsNone(insnprof.parse_irqs("no such line\n"))


if __name__ == "__main__":
    unittest.main()
