#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds rscsi's out-of-tree modules against the kernel of a flavour, and stages them together
# with the kernel's own modules (the C baselines megaraid_sas, virtio_pci, virtio_scsi) for the
# initramfs: usage `build-modules.sh debug|perf|race`. Prints the staging directory (an
# INSTALL_MOD_PATH) on stdout. A warning from our modules fails the build.
#
# The module sources are copied by content into the cache and built there (`make M=`), so the
# repository stays free of build output and unchanged files keep their timestamps.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: build-modules.sh debug|perf|race}
kdir=$("$TOP/tools/build-kernel.sh" "$flavour")
name=$(basename "$kdir")-$TREE_KEY
msrc=$CACHE/modules-src/$name
stage=$CACHE/modules-stage/$name
mkdir -p "$msrc"
rsync -rc --delete --exclude '*.o' --exclude '*.ko' --exclude '*.cmd' --exclude '*.mod*' \
	--exclude 'modules.order' --exclude 'Module.symvers' --exclude '*.rmeta' \
	--include '/Kbuild' --include '/drivers/***' --exclude '*' "$TOP/" "$msrc/"

KMAKE=(-C "$kdir" LLVM=-19 RUSTC="$RUSTC" HOSTRUSTC="$RUSTC" RUSTDOC="$RUSTDOC" BINDGEN="$BINDGEN"
	RUSTFMT="$RUSTFMT" CLIPPY_DRIVER="$CLIPPY_DRIVER")
log "building rscsi modules against $kdir"
if ! make "${KMAKE[@]}" M="$msrc" CLIPPY=1 -j"$(($(nproc) + 1))" modules >"$msrc/build.log" 2>&1; then
	cat "$msrc/build.log" >&2
	die "module build failed"
fi
if grep -qE '(^|: )(warning|error)(\[[^]]*\])?:' "$msrc/build.log"; then
	cat "$msrc/build.log" >&2
	die "the module build printed warnings (above); rscsi builds warning-free"
fi

# Stage the kernel's modules and ours (depmod runs as part of modules_install).
if [ ! -f "$stage/.stamp" ] || [ "$kdir/.rscsi-built" -nt "$stage/.stamp" ] ||
	[ -n "$(find "$msrc" -name '*.ko' -newer "$stage/.stamp" 2>/dev/null)" ]; then
	rm -rf "$stage"
	mkdir -p "$stage"
	make "${KMAKE[@]}" INSTALL_MOD_PATH="$stage" INSTALL_MOD_STRIP=1 modules_install >"$stage/install.log" 2>&1 ||
		{ cat "$stage/install.log" >&2; die "modules_install failed"; }
	make "${KMAKE[@]}" M="$msrc" INSTALL_MOD_PATH="$stage" INSTALL_MOD_STRIP=1 modules_install >>"$stage/install.log" 2>&1 ||
		{ cat "$stage/install.log" >&2; die "modules_install of rscsi modules failed"; }
	touch "$stage/.stamp"
fi
echo "$stage"
