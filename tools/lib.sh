# SPDX-License-Identifier: GPL-2.0
#
# Shared settings for the rscsi shell tools. Sourced, not run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything fetched or built lives here, outside the repository.
CACHE=${RSCSI_CACHE:-$HOME/.cache/rscsi}
TOOLS_DIR=$CACHE/tools
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
