# SPDX-License-Identifier: GPL-2.0
"""A small QMP client: enough to hot-plug and unplug disks from a sync-point hook.

QEMU's machine protocol is JSON lines over the ``-qmp unix:...`` socket the VM is started
with: a greeting, ``qmp_capabilities``, then one reply per command, with asynchronous events
(``DEVICE_DELETED``) interleaved.
"""

import json
import socket
import time


class QmpError(RuntimeError):
    pass


class Qmp:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError(f"not a QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError("QMP socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, **arguments):
        """Runs a command and returns its ``return`` value; raises QmpError on ``error``."""
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
            elif "error" in r:
                raise QmpError(f"{command}: {r['error'].get('desc', r['error'])}")
            elif "return" in r:
                return r["return"]

    def wait_event(self, name, match=None, timeout=30.0):
        """Waits for an event named ``name`` whose data includes ``match``; returns it."""
        match = match or {}

        def fits(e):
            data = e.get("data", {})
            return e["event"] == name and all(data.get(k) == v for k, v in match.items())

        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if fits(e):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpError(f"no {name} event {match} within {timeout} s")
            self.sock.settimeout(left)
            try:
                r = self._read()
            except socket.timeout:
                raise QmpError(f"no {name} event {match} within {timeout} s") from None
            if "event" in r:
                self.events.append(r)


def hot_add_disk(qmp_path, image, size, bus, scsi_id, node, dev_id, lun=0):
    """Creates a raw image of ``size`` bytes and plugs it in as a scsi-hd at ``scsi_id``:``lun``."""
    with open(image, "wb") as f:
        f.truncate(size)
    with Qmp(qmp_path) as q:
        q.execute("blockdev-add", **{"driver": "raw", "node-name": node,
                                     "file": {"driver": "file", "filename": image}})
        q.execute("device_add", **{"driver": "scsi-hd", "id": dev_id, "bus": bus,
                                   "scsi-id": scsi_id, "lun": lun, "drive": node})


def hot_remove_disk(qmp_path, node, dev_id):
    """Unplugs a disk plugged in by hot_add_disk and waits until QEMU says it is gone."""
    with Qmp(qmp_path) as q:
        q.execute("device_del", id=dev_id)
        q.wait_event("DEVICE_DELETED", {"device": dev_id})
        q.execute("blockdev-del", **{"node-name": node})


def resize_disk(qmp_path, node, size):
    """Grows (or shrinks) the image under block node ``node`` to ``size`` bytes
    (``block_resize``): the disk's device then reports a capacity change."""
    with Qmp(qmp_path) as q:
        q.execute("block_resize", **{"node-name": node, "size": size})


def unplug_device(qmp_path, dev_id, timeout):
    """Unplugs device ``dev_id`` (an HBA behind a root port, say) and waits up to ``timeout``
    seconds for QEMU to report it gone, which it does once the guest let go of it."""
    with Qmp(qmp_path, timeout=timeout) as q:
        q.execute("device_del", id=dev_id)
        q.wait_event("DEVICE_DELETED", {"device": dev_id}, timeout=timeout)
