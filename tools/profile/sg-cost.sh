#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# What the SG cursor costs per segment against the C loop it replaces, on the host, counted
# by valgrind (callgrind): kernel::scsi's sg::write as rmegasas calls it
# (tools/hosttest/examples/sg_cost.rs) and megasas_make_sgl_skinny() over scsi_for_each_sg()
# (sg_cost_ref.c, gcc -O2), each on a chained list of 1 and of 33 segments. Prints
# instructions per list of one segment and per further segment. A guide for changes: the
# kernel's code generation differs (no SSE, kernel code model); tools/profile/insn-profile.py
# measures the drivers in the guest.
#
#   tools/profile/sg-cost.sh [ITERS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
iters=${1:-1000}
command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CARGO_TARGET_DIR=${RSCSI_CACHE:-$HOME/.cache/rscsi}/hosttest-target-sgcost
(cd "$here/../hosttest" && cargo build -q --release --example sg_cost)
gcc -O2 -o "$tmp/ref" "$here/sg_cost_ref.c"
count() { # BINARY FUNCTION SEGS: instructions in FUNCTION and what it calls, per call
	valgrind -q --tool=callgrind --callgrind-out-file="$tmp/cg" "$1" "$3" "$iters" >/dev/null
	callgrind_annotate --inclusive=yes "$tmp/cg" 2>/dev/null | awk -v f="$2" -v n="$iters" \
		'index($0, f) && !done { gsub(",", "", $1); print $1 / n; done = 1 }'
}
printf '%-34s %12s %14s\n' "" "1 segment" "per segment"
for which in "rust sg::write (rmegasas write_sgl)|$CARGO_TARGET_DIR/release/examples/sg_cost|sg_cost::write_sgl " \
	"rust sg::write_within|$CARGO_TARGET_DIR/release/examples/sg_cost|sg_cost::write_sgl_within" \
	"C megasas_make_sgl_skinny|$tmp/ref|make_sgl_skinny"; do
	IFS='|' read -r name bin fn <<<"$which"
	one=$(count "$bin" "$fn" 1)
	many=$(count "$bin" "$fn" 33)
	printf '%-34s %12.1f %14.1f\n' "$name" "$one" "$(awk -v a="$many" -v b="$one" 'BEGIN { print (a - b) / 32 }')"
done
