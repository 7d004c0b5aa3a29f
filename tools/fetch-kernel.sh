#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetches the pinned Linux source package (Debian linux-source-7.3 from trixie-backports) through
# a private apt configuration under the cache, so the system's apt sources stay as they are.
# apt checks the package against the archive's signed index; we check it against the SHA-256
# recorded in tools/kernel.pin as well. The .deb and the unpacked tarball are cached.
#
# Prints the path of the kernel tarball on stdout.
#
# Environment: RSCSI_KERNEL_VERSION=<debian version> uses another version of linux-source-7.3
# (for when the pinned one has left the archive); the version used is recorded in the cache and
# printed by every build.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$TOP/tools/kernel.pin"

version=${RSCSI_KERNEL_VERSION:-$KERNEL_DEB_VERSION}
dir=$CACHE/kernel-src
deb=$dir/${KERNEL_DEB_PACKAGE}_${version//:/%3a}_all.deb
tarball=$dir/$version/linux-source-7.3.tar.xz
mkdir -p "$dir"

if [ ! -f "$tarball" ]; then
	if [ ! -f "$deb" ]; then
		apt_dir=$CACHE/apt
		mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $KERNEL_DEB_MIRROR $KERNEL_DEB_SUITE main" \
			>"$apt_dir/sources.list"
		apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
			-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
			-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
			-o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root -q)
		log "fetching $KERNEL_DEB_PACKAGE=$version from $KERNEL_DEB_SUITE (private apt configuration in $apt_dir)"
		apt-get "${apt_opts[@]}" update >&2
		avail=$(apt-cache "${apt_opts[@]}" madison "$KERNEL_DEB_PACKAGE" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}')
		if ! grep -qxF -- "$version" <<<"$avail"; then
			die "$KERNEL_DEB_PACKAGE $version is no longer in $KERNEL_DEB_SUITE (backports keep only the newest version).
  Available now: ${avail:-none}.
  Either put the old .deb at $deb (any cache of an earlier run has it), or build with a newer one:
    RSCSI_KERNEL_VERSION=<version> make check
  The build then records the version it used; update tools/kernel.pin once it passes."
		fi
		(cd "$dir" && apt-get "${apt_opts[@]}" download "$KERNEL_DEB_PACKAGE=$version" >&2)
	fi
	sum=$(sha256sum "$deb" | cut -d' ' -f1)
	if [ "$version" = "$KERNEL_DEB_VERSION" ] && [ "$sum" != "$KERNEL_DEB_SHA256" ]; then
		rm -f "$deb"
		die "checksum mismatch for $deb: got $sum, tools/kernel.pin says $KERNEL_DEB_SHA256"
	fi
	[ "$version" = "$KERNEL_DEB_VERSION" ] || log "warning: using $version, not the pinned $KERNEL_DEB_VERSION (sha256 $sum)"
	tmp=$(mktemp -d "$dir/unpack.XXXXXX")
	dpkg-deb -x "$deb" "$tmp"
	mkdir -p "$(dirname "$tarball")"
	mv "$tmp"/usr/src/linux-source-7.3.tar.xz "$tarball"
	rm -rf "$tmp"
fi
echo "$tarball"
