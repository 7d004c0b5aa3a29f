# SPDX-License-Identifier: GPL-2.0
"""The QMP client speaks to a scripted server as QEMU would: events interleaved with replies."""

import json
import os
import socket
import tempfile
import threading
import unittest

from rscsi import qmp


class FakeQemu(threading.Thread):
    """Answers QMP commands from a script: command name -> list of messages to send."""

    def __init__(self, path, script):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.script = script
        self.received = []

    def run(self):
        conn, _ = self.srv.accept()
        f = conn.makefile("rwb")
        f.write(b'{"QMP": {"version": {}, "capabilities": []}}\n')
        f.flush()
        for line in f:
            msg = json.loads(line)
            self.received.append(msg)
            for out in self.script.get(msg["execute"], [{"return": {}}]):
                f.write(json.dumps(out).encode() + b"\n")
            f.flush()
        conn.close()


class QmpTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "qmp.sock")

    def serve(self, script):
        s = FakeQemu(self.path, script)
        s.start()
        return s

    def test_hot_add_sends_blockdev_then_device(self):
        s = self.serve({})
        image = os.path.join(self.dir, "hp.img")
        qmp.hot_add_disk(self.path, image, 1 << 20, "hba0.0", 5, "hp0", "hpdisk")
        s.join(5)
        self.assertEqual(os.path.getsize(image), 1 << 20)
        cmds = [m["execute"] for m in s.received]
        self.assertEqual(cmds, ["qmp_capabilities", "blockdev-add", "device_add"])
        dev = s.received[2]["arguments"]
        self.assertEqual((dev["bus"], dev["scsi-id"], dev["drive"]), ("hba0.0", 5, "hp0"))

    def test_remove_waits_for_its_device_deleted_event(self):
        # The event of another device comes first, then ours after the reply.
        other = {"event": "DEVICE_DELETED", "data": {"device": "other"}}
        ours = {"event": "DEVICE_DELETED", "data": {"device": "hpdisk"}}
        s = self.serve({"device_del": [other, {"return": {}}, ours]})
        with qmp.Qmp(self.path) as q:
            q.execute("device_del", id="hpdisk")
            e = q.wait_event("DEVICE_DELETED", {"device": "hpdisk"}, timeout=5)
            self.assertEqual(e["data"]["device"], "hpdisk")
            self.assertEqual(q.events, [other])
        s.join(5)

    def test_hot_remove_deletes_the_node_after_the_device(self):
        ours = {"event": "DEVICE_DELETED", "data": {"device": "hpdisk"}}
        s = self.serve({"device_del": [{"return": {}}, ours]})
        qmp.hot_remove_disk(self.path, "hp0", "hpdisk")
        s.join(5)
        cmds = [m["execute"] for m in s.received]
        self.assertEqual(cmds, ["qmp_capabilities", "device_del", "blockdev-del"])
        self.assertEqual(s.received[2]["arguments"], {"node-name": "hp0"})

    def test_remove_times_out_without_the_event(self):
        s = self.serve({"device_del": [{"return": {}}]})
        with qmp.Qmp(self.path) as q:
            q.execute("device_del", id="hpdisk")
            with self.assertRaises(qmp.QmpError):
                q.wait_event("DEVICE_DELETED", {"device": "hpdisk"}, timeout=0.3)
        s.join(5)

    def test_error_reply_raises(self):
        s = self.serve({"device_add": [{"error": {"class": "GenericError",
                                                   "desc": "Bus 'hba0.0' not found"}}]})
        with self.assertRaisesRegex(qmp.QmpError, "not found"):
            qmp.hot_add_disk(self.path, os.path.join(self.dir, "x.img"), 4096, "hba0.0", 5,
                             "hp0", "hpdisk")
        s.join(5)


if __name__ == "__main__":
    unittest.main()
