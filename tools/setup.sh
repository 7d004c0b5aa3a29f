#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs everything rscsi needs on a Debian 12 machine, idempotently:
# the Debian packages (rustc-web 1.96 with its sources, clang/LLVM 19, QEMU, busybox, fio,
# sg3_utils, kernel build tools) and bindgen from crates.io at a pinned version.
# Safe to run again: it only installs what is missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BINDGEN_VERSION=0.73.2

PKGS=(
	# Kernel build.
	gcc make flex bison bc libelf-dev libssl-dev cpio dwarves xz-utils kmod rsync python3 patch perl
	# Rust for the kernel: rustc 1.96 with core sources, its clippy and rustfmt.
	rustc-web rust-web-src rust-web-clippy rustfmt-web
	# clang/LLVM 19: bindgen's libclang, and the LLVM=-19 build that KASAN with Rust requires.
	libclang1-19 libclang-19-dev clang-19 lld-19 llvm-19
	# Guest and emulator.
	qemu-system-x86 busybox-static fio sg3-utils
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Lists older than a day (or none at all) are refreshed first.
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
		apt-get update -q
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	log "installing bindgen-cli $BINDGEN_VERSION from crates.io into $TOOLS_DIR"
	mkdir -p "$TOOLS_DIR"
	LIBCLANG_PATH="$LIBCLANG_PATH" cargo install --locked --root "$TOOLS_DIR" \
		bindgen-cli --version "$BINDGEN_VERSION"
fi

log "toolchain: $("$RUSTC" --version), $("$BINDGEN" --version), $(clang-19 --version | head -1)"
