# SPDX-License-Identifier: GPL-2.0
#
# Shared settings for the rscsi shell tools. Sourced, not run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything fetched or built lives here, outside the repository.
CACHE=${RSCSI_CACHE:-$HOME/.cache/rscsi}
TOOLS_DIR=$CACHE/tools
# What one working tree builds from its own sources (modules, the initramfs part with modules
# and plans) is kept apart from another's by this key, so that two trees sharing the cache (a
# clean clone under test beside a working one) never run each other's modules or plans. The
# kernel is shared: its build directory is keyed by configuration, and rebuilt in place when
# the overlay in rust/ differs.
TREE_KEY=$(printf '%s' "$TOP" | sha1sum | cut -c1-8)
# The kernel is built with Debian's rustc 1.96 (it has rust-src); rustup's comes first on PATH.
RUSTC=/usr/bin/rustc
RUSTFMT=/usr/bin/rustfmt
RUSTDOC=/usr/bin/rustdoc
CLIPPY_DRIVER=/usr/bin/clippy-driver
BINDGEN=$TOOLS_DIR/bin/bindgen
LIBCLANG_PATH=/usr/lib/llvm-19/lib
export LIBCLANG_PATH

log() { printf '[rscsi %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[rscsi] error: %s\n' "$*" >&2; exit 1; }

# Runs "$@" and prints how long it took, as every stage does.
timed() {
	local name=$1 t0=$SECONDS
	shift
	"$@"
	local rc=$?
	log "stage $name: $((SECONDS - t0)) s"
	return $rc
}
