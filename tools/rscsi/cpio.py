# SPDX-License-Identifier: GPL-2.0
"""A writer for the cpio "newc" format the kernel unpacks as an initramfs.

Several archives may be concatenated into one initrd; the kernel unpacks them in order, later
ones overriding earlier ones. rscsi uses that to keep the large, rarely changing userland apart
from the modules, plans and per-run configuration.
"""

import os
import stat

TRAILER = "TRAILER!!!"


class Writer:
    """Writes entries in newc format to a binary file object."""

    def __init__(self, out):
        self.out = out
        self.ino = 1
        self.dirs = set()

    def _header(self, name, mode, size, nlink=1, rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        fields = [
            self.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], len(name_b), 0,
        ]
        self.ino += 1
        hdr = b"070701" + b"".join(b"%08x" % f for f in fields)
        self.out.write(hdr + name_b)
        self._pad(len(hdr) + len(name_b))

    def _pad(self, n):
        if n % 4:
            self.out.write(b"\0" * (4 - n % 4))

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dir(d)

    def dir(self, path, mode=0o755):
        path = path.strip("/")
        if path in self.dirs:
            return
        self._parents(path)
        self.dirs.add(path)
        self._header(path, stat.S_IFDIR | mode, 0, nlink=2)

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        self._parents(path)
        self._header(path, stat.S_IFREG | mode, len(data))
        self.out.write(data)
        self._pad(len(data))

    def copy(self, path, src, mode=None):
        with open(src, "rb") as f:
            data = f.read()
        if mode is None:
            mode = stat.S_IMODE(os.stat(src).st_mode)
        self.file(path, data, mode)

    def symlink(self, path, target):
        path = path.strip("/")
        self._parents(path)
        t = target.encode()
        self._header(path, stat.S_IFLNK | 0o777, len(t))
        self.out.write(t)
        self._pad(len(t))

    def node(self, path, kind, major, minor, mode=0o600):
        path = path.strip("/")
        self._parents(path)
        fmt = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
        self._header(path, fmt | mode, 0, rdev=(major, minor))

    def close(self):
        self._header(TRAILER, 0, 0, nlink=1)
        # Archives are padded to 512 bytes so that concatenation stays aligned.
        pos = self.out.tell()
        if pos % 512:
            self.out.write(b"\0" * (512 - pos % 512))


def read_names(data):
    """Lists (name, mode, size) of the entries of a newc archive; used by the tests."""
    out = []
    off = 0
    while off + 110 <= len(data):
        if data[off:off + 6] != b"070701":
            off += 4
            continue
        fields = [int(data[off + 6 + 8 * i: off + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[off + 110: off + 110 + namesize - 1].decode()
        off += 110 + namesize
        off += -off % 4
        if name == TRAILER:
            off += -off % 512
            continue
        out.append((name, mode, size))
        off += size
        off += -off % 4
    return out
