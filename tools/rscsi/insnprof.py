# SPDX-License-Identifier: GPL-2.0
"""Maps a guest instruction count (tools/profile/insn-count.c) to kernel and module symbols.

Used by tools/profile/insn-profile.py; kept here, without I/O of its own, to be tested."""

import bisect
import collections
import json
import shutil
import subprocess


def parse_system_map(lines):
    """Text symbols of a System.map, as (address, name)."""
    syms = []
    for line in lines:
        p = line.split()
        if len(p) >= 3 and p[1] in "tTwW":
            syms.append((int(p[0], 16), p[2]))
    return syms


def parse_log(text):
    """Module symbols (from /proc/kallsyms, between the profile plan's markers) as
    (address, "name [module]"), and the I/Os fio did in the window."""
    syms = []
    block = text.split("PROFILE-KALLSYMS-BEGIN", 1)[1].split("PROFILE-KALLSYMS-END", 1)[0]
    for line in block.splitlines():
        p = line.split()
        if len(p) >= 4 and p[1] in "tT":
            syms.append((int(p[0], 16), f"{p[2]} {p[3]}"))
    fio = text.split("PROFILE-FIO-BEGIN", 1)[1].split("PROFILE-FIO-END", 1)[0]
    fio = json.loads(fio[fio.index("{"):fio.rindex("}") + 1])
    job = fio["jobs"][0]
    return syms, job["read"]["total_ios"] + job["write"]["total_ios"]


def parse_irqs(text):
    """The device's interrupts during the job, from the plan's "PROFILE-IRQS before after"
    line, or None if the log has none."""
    for line in text.splitlines():
        p = line.split()
        if len(p) == 3 and p[0] == "PROFILE-IRQS" and p[1].isdigit() and p[2].isdigit():
            return int(p[2]) - int(p[1])
    return None


def profile(count_lines, syms):
    """Instructions per symbol from the plugin's "vaddr insns execs" lines (after the
    "# marks N" line, which must show both marks). Returns (Counter, total)."""
    syms = sorted(syms)
    addrs = [a for a, _ in syms]
    lines = iter(count_lines)
    marks = next(lines, "").split()
    if len(marks) != 3 or marks[:2] != ["#", "marks"] or int(marks[2]) < 2:
        raise ValueError("the guest did not mark the window twice")
    per = collections.Counter()
    total = 0
    for line in lines:
        if line.startswith("io "):
            continue
        va, n, execs = line.split()
        va, n = int(va, 16), int(n) * int(execs)
        i = bisect.bisect_right(addrs, va) - 1
        per[syms[i][1] if i >= 0 else "?"] += n
        total += n
    return per, total


def entries(count_lines, syms, names):
    """How many times each function of ``names`` (bare names, a module's as the kernel's) was
    entered in the window: the executions of
    the block that starts at its address (a function's first block begins there; a loop back
    to its first instruction would count too, which the kernel's functions do not do). From
    the same lines as ``profile``. Returns a Counter by name."""
    # A module's symbols are "name [module]"; ``names`` are bare.
    starts = {a: n.split(" ")[0] for a, n in syms if n.split(" ")[0] in names}
    lines = iter(count_lines)
    next(lines, "")
    calls = collections.Counter()
    for line in lines:
        if line.startswith("io "):
            continue
        va, _, execs = line.split()
        name = starts.get(int(va, 16))
        if name:
            calls[name] += int(execs)
    return calls


def io_accesses(count_lines, syms):
    """The guest's accesses to device memory in the window, from the plugin's "io vaddr reads
    writes region" lines (its io=1): a Counter by (function, region, "read" or "write"), the
    function the symbol of the accessing instruction."""
    syms = sorted(syms)
    addrs = [a for a, _ in syms]
    out = collections.Counter()
    for line in count_lines:
        if not line.startswith("io "):
            continue
        _, va, reads, writes, region = line.rstrip("\n").split(" ", 4)
        i = bisect.bisect_right(addrs, int(va, 16)) - 1
        name = syms[i][1] if i >= 0 else "?"
        for kind, n in (("read", int(reads)), ("write", int(writes))):
            if n:
                out[name, region, kind] += n
    return out


def regions_text(regions):
    """``{region: {kind: per I/O}}`` as printed: "region 1.00 writes; region 2.00 reads, ..."
    (regions and kinds sorted)."""
    return "; ".join(f"{r} " + ", ".join(f"{v:.2f} {k}s" for k, v in sorted(c.items()))
                     for r, c in sorted(regions.items()))


def group(name):
    """The module a symbol belongs to, "rust_helper" for the C helpers, else "kernel"."""
    if " [" in name:
        return name.split(" ", 1)[1]
    return "rust_helper" if name.startswith("rust_helper") else "kernel"


def demangle(names):
    """Demangles Rust symbols with llvm-cxxfilt (Rust v0 mangling); other names unchanged."""
    names = list(names)
    tool = next((t for t in ("llvm-cxxfilt-19", "llvm-cxxfilt") if shutil.which(t)), None)
    if not tool:
        return {n: n for n in names}
    bare = [n.split(" ")[0] for n in names]
    out = subprocess.run([tool], input="\n".join(bare), capture_output=True, text=True).stdout
    return {n: d + n[len(b):] for n, b, d in zip(names, bare, out.splitlines())}
