# SPDX-License-Identifier: GPL-2.0
"""The cpio writer, the device specs and QEMU command line, and the QEMU limit model."""

import io
import sys
import tempfile
import stat
import unittest

from rscsi import cpio, qemu_model
from rscsi.vm import Disk, Hba, Vm, parse_size, sync_name


class CpioTest(unittest.TestCase):
    def test_round_trip(self):
        buf = io.BytesIO()
        w = cpio.Writer(buf)
        w.file("rscsi/plans/a.sh", b"echo a\n", 0o644)
        w.symlink("bin/sh", "busybox")
        w.node("dev/console", "c", 5, 1)
        w.close()
        data = buf.getvalue()
        self.assertEqual(len(data) % 512, 0)
        names = {n: (m, s) for n, m, s in cpio.read_names(data)}
        self.assertIn("rscsi", names)
        self.assertTrue(stat.S_ISDIR(names["rscsi/plans"][0]))
        self.assertEqual(names["rscsi/plans/a.sh"], (stat.S_IFREG | 0o644, 7))
        self.assertTrue(stat.S_ISLNK(names["bin/sh"][0]))
        self.assertTrue(stat.S_ISCHR(names["dev/console"][0]))

    def test_concatenated_archives_are_aligned(self):
        a, b = io.BytesIO(), io.BytesIO()
        for buf, name in ((a, "one"), (b, "two")):
            w = cpio.Writer(buf)
            w.file(name, b"x" * 3)
            w.close()
        names = [n for n, _, _ in cpio.read_names(a.getvalue() + b.getvalue())]
        self.assertEqual(names, ["one", "two"])


class SpecTest(unittest.TestCase):
    def test_sizes(self):
        self.assertEqual(parse_size("512"), 512)
        self.assertEqual(parse_size("64M"), 64 << 20)
        self.assertEqual(parse_size("3T"), 3 << 40)
        with self.assertRaises(ValueError):
            parse_size("12Q")

    def test_disk_spec(self):
        d = Disk.parse("3T,null,bs=4096,id=5,lun=1,rerror=report")
        self.assertEqual((d.size, d.kind, d.block_size, d.scsi_id, d.lun),
                         (3 << 40, "null", 4096, 5, 1))
        self.assertEqual(d.device_opts, {"rerror": "report"})
        with self.assertRaises(ValueError):
            Disk.parse("1M,bs=1024")
        with self.assertRaises(ValueError):
            Disk.parse("1000,bs=4096")

    def test_hba_spec(self):
        h = Hba.parse("megasas,use_jbod=on")
        self.assertEqual((h.model, h.opts), ("megasas", {"use_jbod": "on"}))
        self.assertEqual(Hba.parse("virtio-scsi").model, "virtio-scsi-pci")
        with self.assertRaises(ValueError):
            Hba.parse("lsi53c895a")
        with self.assertRaises(ValueError):
            Hba.parse("megasas,msix")

    def test_command_line(self):
        h1 = Hba.parse("megasas-gen2,msix=off")
        h1.disks = [Disk.parse("8M,null"), Disk.parse("4M,bs=4096")]
        h2 = Hba.parse("virtio-scsi-pci,num_queues=2")
        h2.disks = [Disk.parse("4M,lun=3")]
        vm = Vm("bzImage", "initrd", [h1, h2], workdir="/tmp")
        try:
            args = " ".join(vm.args())
            self.assertIn("-accel tcg", args)
            self.assertIn("megasas-gen2,id=hba0,addr=0x10,msix=off", args)
            self.assertIn("virtio-scsi-pci,id=hba1,addr=0x11,num_queues=2", args)
            self.assertIn("driver=null-co,node-name=d0_0,size=8388608", args)
            self.assertIn("scsi-hd,bus=hba0.0,scsi-id=1,lun=0,drive=d0_1,logical_block_size=4096", args)
            self.assertIn("scsi-hd,channel=0,bus=hba1.0,scsi-id=0,lun=3", args)
            self.assertEqual(h2.pci_address, "0000:00:11.0")
        finally:
            for d in h1.disks + h2.disks:
                if d.image:
                    import os
                    os.remove(d.image)

    def test_null_disk_latency(self):
        h = Hba.parse("megasas")
        h.disks = [Disk.parse("8M,null,latency=2000"), Disk.parse("8M,null")]
        args = Vm("k", "i", [h], workdir="/tmp").args()
        self.assertIn("driver=null-co,node-name=d0_0,size=8388608,read-zeroes=on,"
                      "latency-ns=2000000000", args)
        self.assertIn("driver=null-co,node-name=d0_1,size=8388608,read-zeroes=on", args)
        with self.assertRaises(ValueError):
            Disk.parse("8M,latency=5")

    def test_hotplug_hba_behind_a_root_port(self):
        h1 = Hba.parse("virtio-scsi-pci,hotplug=on")
        h2 = Hba.parse("megasas")
        h3 = Hba.parse("virtio-scsi-pci,hotplug=on,num_queues=2")
        args = " ".join(Vm("k", "i", [h1, h2, h3], workdir="/tmp").args())
        self.assertIn("pcie-root-port,id=rp0,chassis=1,addr=0x10", args)
        self.assertIn("virtio-scsi-pci,id=hba0,bus=rp0", args)
        self.assertIn("megasas,id=hba1,addr=0x11", args)
        self.assertIn("virtio-scsi-pci,id=hba2,bus=rp2,num_queues=2", args)
        self.assertNotIn("hotplug", args)
        # The firmware numbers the ports' buses from 1, in slot order.
        self.assertEqual((h1.pci_address, h2.pci_address, h3.pci_address),
                         ("0000:01:00.0", "0000:00:11.0", "0000:02:00.0"))

    def test_sync_names(self):
        self.assertEqual(sync_name("RSCSI-SYNC hotplug-add"), "hotplug-add")
        self.assertEqual(sync_name("RSCSI-SYNC plug:1:11:0"), "plug:1:11:0")
        # A kernel message that ends the line before the guest's newline.
        self.assertEqual(sync_name("RSCSI-SYNC plug:1:11:0[  123.456] sd 0:0:0:0: x"),
                         "plug:1:11:0")
        self.assertIsNone(sync_name('echo "RSCSI-SYNC $1" >/dev/console'))
        self.assertIsNone(sync_name("[  1.0] nothing here"))

    def test_duplicate_address_rejected(self):
        h = Hba.parse("megasas")
        h.disks = [Disk.parse("1M,id=1"), Disk.parse("1M,id=1")]
        with self.assertRaises(ValueError):
            Vm("k", "i", [h], workdir="/tmp")


class QemuModelTest(unittest.TestCase):
    def test_megasas_limits(self):
        # Seen with `-trace megasas_init` on QEMU 7.2: 40 -> 16, 100 -> 80, 3000 cmds -> 2048.
        self.assertEqual(qemu_model.megasas_limits("megasas", {}), (1000, 80))
        self.assertEqual(qemu_model.megasas_limits("megasas-gen2", {}), (1008, 80))
        self.assertEqual(qemu_model.megasas_limits("megasas", {"max_sge": "40"})[1], 16)
        self.assertEqual(qemu_model.megasas_limits("megasas", {"max_sge": "100"})[1], 80)
        self.assertEqual(qemu_model.megasas_limits("megasas", {"max_cmds": "3000"})[0], 2048)


if __name__ == "__main__":
    unittest.main()


class BenchRunTest(unittest.TestCase):
    def test_jobs_subset_and_timeout(self):
        from rscsi import suite
        full = suite.bench_run("megasas", "megaraid_sas", "rmegasas", 3, 10)
        one = suite.bench_run("megasas", "megaraid_sas", "rmegasas:queues=1", 3, 10,
                              jobs=["read-128k-seq"])
        self.assertEqual(full.settings["RSCSI_BENCH_JOBS"].split(), list(suite.DEFAULT_BENCH_JOBS))
        self.assertEqual(one.settings["RSCSI_BENCH_JOBS"], "read-128k-seq")
        self.assertEqual(one.settings["RSCSI_MODULES"], "megaraid_sas rmegasas:queues=1")
        self.assertLess(one.timeout, full.timeout)

    def test_software_hosts_get_no_controller(self):
        from rscsi import suite
        soft = suite.bench_run("none", "scsi_debug:fake_rw=1", "rscsi_debug:null=1", 1, 5)
        hw = suite.bench_run("megasas", "megaraid_sas", "rmegasas", 1, 5)
        self.assertEqual(soft.hbas, [])
        self.assertEqual(soft.settings["RSCSI_DISKS"], "")
        self.assertEqual(len(hw.hbas), 1)
        self.assertEqual(len(hw.hbas[0].disks), 1)

    def test_unknown_job_refused(self):
        from rscsi import suite
        with self.assertRaises(ValueError):
            suite.bench_run("megasas", "megaraid_sas", "rmegasas", 1, 1, jobs=["randread-8k"])

    def test_all_paths_in_one_boot(self):
        from rscsi import suite
        from rscsi.vm import Vm
        run = suite.bench_all_run(2, 5)
        self.assertEqual(run.settings["RSCSI_MODULES"].split(), list(suite.BENCH_ALL))
        jobs = run.settings["RSCSI_BENCH_JOBS"].split()
        self.assertEqual(jobs[:4], list(suite.DEFAULT_BENCH_JOBS))
        self.assertTrue(all(j in jobs for j in suite.QD_SWEEP))
        self.assertEqual(len(jobs), len(set(jobs)))
        self.assertEqual(run.settings["RSCSI_BENCH_SCHED"], "none")
        # virtio-blk's disk is the device's own drive, not a SCSI disk on a bus of it.
        args = " ".join(Vm("k", "i", run.hbas, workdir="/tmp").args())
        self.assertIn("-device virtio-blk-pci,id=hba2,addr=0x12,drive=d2_0", args)
        self.assertNotIn("bus=hba2.0", args)
        for rust, c in suite.BENCH_PAIRS:
            self.assertIn(rust, suite.BENCH_ALL)
            self.assertIn(c, suite.BENCH_ALL)


class CombinedRunTest(unittest.TestCase):
    def test_parts_see_their_own_controllers(self):
        from rscsi import suite
        run = suite.combined("io", [
            suite.rmegasas_integrity(),
            suite.rmegasas_hotplug("hp", "megasas", jbod=False, at=1),
            suite.rvirtio_integrity(at=2),
        ], "three parts")
        self.assertEqual(run.plan, "parts")
        self.assertEqual(run.settings["RSCSI_PARTS"], "integrity hotplug integrity")
        self.assertEqual([h.pci_address for h in run.hbas],
                         ["0000:00:10.0", "0000:00:11.0", "0000:00:12.0", "0000:00:13.0"])
        tables = [s["RSCSI_DISKS"].splitlines() for _, s in run.parts]
        # Each part's disk table holds its own controllers, by their index and address in
        # the whole VM.
        self.assertEqual([t.split()[:3] for t in tables[0]], [["0", "megasas-gen2", "0000:00:10.0"]])
        self.assertEqual([t.split()[:3] for t in tables[1]], [["1", "megasas", "0000:00:11.0"]])
        self.assertEqual([t.split()[2] for t in tables[2]], ["0000:00:12.0", "0000:00:13.0"])
        # Settings that name an address name the part's own controller.
        self.assertEqual(run.parts[2][1]["RSCSI_ACCESS_PLATFORM"], "0000:00:13.0")
        self.assertEqual([s["RSCSI_SYNC_PREFIX"] for _, s in run.parts], ["p0.", "p1.", "p2."])
        self.assertEqual(sorted(run.hooks), ["p1.hotplug-add", "p1.hotplug-remove"])

    def test_part_out_of_place_or_with_kernel_parameters_refused(self):
        from rscsi import suite
        with self.assertRaises(ValueError):
            # Built for slot 0, placed second.
            suite.combined("x", [suite.rmegasas_integrity(), suite.rvirtio_integrity()], "")
        with self.assertRaises(ValueError):
            # scsi_mod.scan=manual for one part only.
            suite.combined("x", [suite.faults("f", "rmegasas", 7), suite.rvirtio_integrity(at=2)],
                           "")

    def test_shared_parts_run_on_the_same_controllers(self):
        from rscsi import suite
        run = suite.combined("f", [suite.faults("r", "rmegasas", 7),
                                   suite.faults("c", "megaraid_sas", 61, baseline=True)], "",
                             shared=True)
        self.assertEqual(len(run.hbas), 2)
        self.assertEqual(run.parts[0][1]["RSCSI_DISKS"], run.parts[1][1]["RSCSI_DISKS"])
        with self.assertRaises(ValueError):
            suite.combined("x", [suite.rmegasas_integrity(), suite.rvirtio_integrity()], "",
                           shared=True)

    def test_parts_allowances_stay_in_their_part(self):
        from rscsi import suite
        run = suite.combined("f", [suite.faults("r", "rmegasas", 7),
                                   suite.faults("c", "megaraid_sas", 7, baseline=True)], "")
        self.assertEqual(run.append, "scsi_mod.scan=manual")
        self.assertIn(("part", 1, "warning"), run.allow)
        self.assertNotIn(("part", 0, "warning"), run.allow)
        self.assertTrue(all(a[0] == "part" for a in run.allow))


class FakeVm(Vm):
    """A Vm whose "QEMU" is a Python one-liner, to test the runner without booting."""

    def __init__(self, code):
        super().__init__("k", "i", [], workdir="/tmp")
        self.code = code

    def args(self):
        return [sys.executable, "-c", self.code]


class BootWatchdogTest(unittest.TestCase):
    def run_fake(self, code, **kw):
        with tempfile.NamedTemporaryFile(suffix=".log") as f:
            return FakeVm(code).run(f.name, timeout=20, **kw)

    def test_stall_before_init_is_reported(self):
        res = self.run_fake("import time; print('[0.0] booting', flush=True); time.sleep(10)",
                            boot_deadline=1)
        self.assertTrue(res.stalled)
        self.assertFalse(res.timed_out)
        self.assertLess(res.seconds, 8)

    def test_guest_at_init_is_not_stalled(self):
        res = self.run_fake("import time; print('RSCSI-INIT', flush=True); time.sleep(2); "
                            "print('ok 1 x', flush=True)", boot_deadline=1)
        self.assertFalse(res.stalled)
        self.assertIn("ok 1 x", res.lines)


class CheckOrderTest(unittest.TestCase):
    def test_longest_first_from_stamps_then_the_table(self):
        import os
        from rscsi import cli, suite
        with tempfile.TemporaryDirectory() as d:
            def stamp(name, secs, age):
                path = os.path.join(d, name)
                with open(path, "w") as f:
                    f.write(f"5 0 {secs} /x.log\n")
                os.utime(path, (1000 - age, 1000 - age))
            # soak: its newest stamp counts (an older, longer one does not), and soak-long's
            # stamp, whose name only starts like it, is not its.
            stamp("soak-0123abcd", 900, age=10)
            stamp("soak-4567ef01", 30, age=1)
            stamp("soak-long-89ab", 5000, age=0)
            self.assertEqual(cli.last_seconds(d, "soak"), 30.0)
            self.assertEqual(cli.last_seconds(d, "soak-long"), 5000.0)
            self.assertEqual(cli.last_seconds(d, "recover"), 0.0)
            names = ["negative-control", "soak", "recover", "unknown", "c-drivers"]
            order = cli.longest_first(names, d)
            # Without a stamp, the table's measured times; unknown runs last, in suite order.
            self.assertEqual(order, ["recover", "c-drivers", "negative-control", "soak", "unknown"])
            self.assertGreater(suite.SECONDS_ALONE["recover"], suite.SECONDS_ALONE["c-drivers"])
