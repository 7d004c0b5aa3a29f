# SPDX-License-Identifier: GPL-2.0
"""Builds the guest initramfs in three concatenated parts.

- ``base``: busybox, fio, sg3_utils and their shared libraries and ELF interpreter. Large and
  rarely changing: rebuilt only when one of its binaries changes.
- ``overlay``: /init, the guest library and plans, and the kernel's and our modules. Small;
  rebuilt when any of those change.
- ``run``: /rscsi/run.conf for one run. Written for every boot.
"""

import hashlib
import os
import re
import subprocess

from . import cpio
from .paths import CACHE, TOP

GUEST_BINARIES = [
    "/usr/bin/fio",
    "/usr/bin/sg_inq",
    "/usr/bin/sg_readcap",
    "/usr/bin/sg_reset",
    "/usr/bin/sg_turs",
    "/usr/bin/sg_dd",
    "/usr/bin/sg_raw",
    "/usr/bin/sg_sync",
    "/usr/bin/sg_vpd",
    "/usr/bin/sg_luns",
    "/usr/bin/sg_requests",
    "/usr/bin/sg_map26",
]


def _digest(paths, extra=b""):
    h = hashlib.sha256(extra)
    for p in paths:
        h.update(p.encode() + b"\0")
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def _libraries(binary):
    """The shared libraries and ELF interpreter a dynamic binary needs, from ldd."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0:  # Static binary.
        return []
    libs = []
    for line in out.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs


def build_base():
    """Builds (or reuses) the userland archive; returns its path."""
    missing = [b for b in GUEST_BINARIES + ["/bin/busybox"] if not os.path.exists(b)]
    if missing:
        raise SystemExit(f"initramfs: missing host binaries {missing}: run tools/setup.sh")
    files = {}
    for b in GUEST_BINARIES:
        files[b] = b
        for lib in _libraries(b):
            files[lib] = lib
    key = _digest(sorted(files) + ["/bin/busybox"])
    out = os.path.join(CACHE, "initramfs", f"base-{key}.cpio")
    if os.path.exists(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        w = cpio.Writer(f)
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "etc"]:
            w.dir(d)
        w.node("dev/console", "c", 5, 1)
        w.node("dev/null", "c", 1, 3)
        w.copy("bin/busybox", "/bin/busybox", 0o755)
        w.symlink("bin/sh", "busybox")
        for path in sorted(files):
            real = os.path.realpath(path)
            w.copy(path, real)
        w.file("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n")
        w.file("etc/group", b"root:x:0:\n")
        w.close()
    os.replace(tmp, out)
    return out


def build_overlay(modules_dir, out_path):
    """Writes the overlay archive: /init, guest scripts and plans, and the modules tree.

    ``modules_dir`` is an INSTALL_MOD_PATH staging directory (holding lib/modules/<release>).
    The archive is rewritten only when one of these inputs changed.
    """
    guest = os.path.join(TOP, "tools", "guest")
    inputs = []
    for base in (guest, modules_dir):
        for root, _dirs, names in os.walk(base):
            inputs += [os.path.join(root, n) for n in names
                       if not os.path.islink(os.path.join(root, n))]
    key = _digest(sorted(inputs))
    stamp = out_path + ".key"
    if os.path.exists(out_path) and os.path.exists(stamp) and open(stamp).read() == key:
        return out_path
    with open(out_path, "wb") as f:
        w = cpio.Writer(f)
        w.copy("init", os.path.join(guest, "init"), 0o755)
        w.copy("rscsi/lib.sh", os.path.join(guest, "lib.sh"))
        plans = os.path.join(guest, "plans")
        for name in sorted(os.listdir(plans)):
            w.copy(f"rscsi/plans/{name}", os.path.join(plans, name))
        for root, _dirs, names in os.walk(modules_dir):
            rel = os.path.relpath(root, modules_dir)
            for name in sorted(names):
                src = os.path.join(root, name)
                if os.path.islink(src):
                    continue
                w.copy(os.path.join(rel, name), src)
        w.close()
    with open(stamp, "w") as f:
        f.write(key)
    return out_path


def shell_quote(value):
    return "'" + str(value).replace("'", "'\\''") + "'"


def _conf(settings):
    return "".join(f"{k}={shell_quote(v)}\n" for k, v in sorted(settings.items())).encode()


def build_run(settings, out_path, parts=()):
    """Writes the per-run archive with /rscsi/run.conf from a dict of shell variables, and
    /rscsi/part-K.conf for each part (plan, settings) of a combined run."""
    with open(out_path, "wb") as f:
        w = cpio.Writer(f)
        w.file("rscsi/run.conf", _conf(settings))
        for k, (_plan, part) in enumerate(parts):
            w.file(f"rscsi/part-{k}.conf", _conf(part))
        w.close()
    return out_path


def concat(parts, out_path):
    with open(out_path, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
    return out_path
