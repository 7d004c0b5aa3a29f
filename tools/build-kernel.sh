#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the rscsi test kernel: usage `build-kernel.sh debug|perf|race`.
#
#  1. Fetches the pinned source (fetch-kernel.sh) and extracts it once into the cache.
#  2. Applies the overlay: the repository's rust/ and include/ trees (new files, copied) and
#     tools/kernel/patches/*.patch (edits of existing files). Only files whose content changed are
#     rewritten, so make rebuilds no more than it must.
#  3. Configures out of tree: tinyconfig + configs/base.config + configs/<flavour>.config, then
#     checks that every requested option holds.
#  4. Builds bzImage and modules with clang 19 and Debian's rustc 1.96.
#
# The build directory is keyed by everything that changes the configuration or the toolchain
# (kernel version, fragments, compiler versions); overlay changes are incremental rebuilds in the
# same directory, and a stamp of the overlay skips make entirely when nothing changed.
# Prints the build directory on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: build-kernel.sh debug|perf|race}
cfgdir=$TOP/tools/kernel/configs
[ -f "$cfgdir/$flavour.config" ] || die "unknown flavour '$flavour' (have: $(cd "$cfgdir" && ls *.config | sed 's/.config$//' | grep -v base | tr '\n' ' '))"

tarball=$("$TOP/tools/fetch-kernel.sh")
version=$(basename "$(dirname "$tarball")")
src=$CACHE/src/$version/linux
orig=$CACHE/src/$version/linux.orig

# 1. Extract once: a pristine tree, and the work tree as hard links to it. Files the overlay
#    writes are replaced (never edited in place), so the pristine tree stays pristine.
if [ ! -f "$orig/.rscsi-extracted" ]; then
	log "extracting $tarball"
	rm -rf "$orig" "$src"
	mkdir -p "$orig"
	tar -xf "$tarball" -C "$orig" --strip-components=1
	touch "$orig/.rscsi-extracted"
fi
[ -d "$src" ] || cp -al "$orig" "$src"

# 2. The overlay, staged in full, then synchronised by content.
overlay_hash=$(cd "$TOP" && { find rust include tools/kernel/patches -type f 2>/dev/null || true; } | LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -c1-16)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for p in "$TOP"/tools/kernel/patches/*.patch; do
	[ -f "$p" ] || continue
	for f in $(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$p"); do
		[ -f "$stage/$f" ] || { [ -f "$orig/$f" ] && install -D -m644 "$orig/$f" "$stage/$f"; } || true
	done
	patch -s -p1 -d "$stage" <"$p" || die "overlay patch $(basename "$p") does not apply to $version"
done
[ -d "$TOP/rust" ] && cp -r "$TOP/rust/." "$stage/rust/"
[ -d "$TOP/include" ] && mkdir -p "$stage/include" && cp -r "$TOP/include/." "$stage/include/"
manifest=$src/.rscsi-overlay
(cd "$stage" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$stage.list"
if [ -f "$manifest" ]; then
	# Files the overlay no longer provides go back to their pristine content (or away).
	LC_ALL=C comm -23 "$manifest" "$stage.list" | while read -r f; do
		if [ -f "$orig/$f" ]; then cp --remove-destination "$orig/$f" "$src/$f"; else rm -f "$src/$f"; fi
	done
fi
rsync -rc --no-perms "$stage/" "$src/"
mv "$stage.list" "$manifest"

# 3. Configure.
toolchain="$("$RUSTC" --version) | $("$BINDGEN" --version) | $(clang-19 --version | head -1)"
key=$( { echo "$version"; echo "$toolchain"; cat "$cfgdir/base.config" "$cfgdir/$flavour.config"; } | sha256sum | cut -c1-12)
out=$CACHE/build/$flavour-$key
MAKE_ARGS=(-C "$src" O="$out" LLVM=-19 RUSTC="$RUSTC" HOSTRUSTC="$RUSTC" RUSTDOC="$RUSTDOC" BINDGEN="$BINDGEN"
	RUSTFMT="$RUSTFMT" CLIPPY_DRIVER="$CLIPPY_DRIVER" CLIPPY=1 -j"$(($(nproc) + 1))")
if [ ! -f "$out/.config" ] || [ ! -f "$out/.rscsi-configured" ]; then
	log "configuring $flavour kernel in $out"
	mkdir -p "$out"
	make "${MAKE_ARGS[@]}" -s tinyconfig >&2
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"$cfgdir/base.config" "$cfgdir/$flavour.config" >/dev/null
	make "${MAKE_ARGS[@]}" -s olddefconfig >&2
	bad=0
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		opt=${line%%=*} want=${line#*=}
		if [ "$want" = n ]; then
			grep -qx "$opt=.*" "$out/.config" && { log "config: $opt is set, wanted not set"; bad=1; }
		else
			grep -qxF "$line" "$out/.config" || { log "config: wanted $line, got: $(grep -E "^(# )?$opt[= ]" "$out/.config" || echo absent)"; bad=1; }
		fi
	done < <(cat "$cfgdir/base.config" "$cfgdir/$flavour.config")
	[ $bad = 0 ] || die "the $flavour configuration did not take every requested option (see above)"
	make "${MAKE_ARGS[@]}" -s rustavailable >&2 || die "Rust is not available for this kernel build (see above)"
	printf '%s\n%s\n' "$version" "$toolchain" >"$out/.rscsi-configured"
fi

# 4. Build, unless this exact overlay was already built here.
if [ "$(cat "$out/.rscsi-built" 2>/dev/null)" != "$overlay_hash" ]; then
	log "building $flavour kernel (Linux $version, overlay $overlay_hash) in $out"
	make "${MAKE_ARGS[@]}" bzImage modules >"$out/build.log" 2>&1 ||
		{ tail -40 "$out/build.log" >&2; die "kernel build failed; full log: $out/build.log"; }
	if grep -E '^(warning|error)(\[|:)|: warning:' "$out/build.log" >&2; then
		log "the kernel build printed warnings (above); full log: $out/build.log"
		# The overlay builds warning-free (rustc, clippy): a warning in it fails the build.
		if grep -A3 -E '^warning' "$out/build.log" | grep -qE 'rust/(kernel/scsi|helpers/scsi)'; then
			die "warnings in the rscsi overlay (rust/kernel/scsi*); full log: $out/build.log"
		fi
	fi
	echo "$overlay_hash" >"$out/.rscsi-built"
fi
echo "$out"
