#!/bin/sh
# Fetch Debian's stock cloud kernel (linux-image-cloud-amd64) without
# installing it, and print the path of its bzImage.  Used by the bzImage
# boot test.  Usage: fetch-kernel.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
if ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
	ls "$dir"/boot/vmlinuz-* | head -n1
	exit 0
fi
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$pkg" ] || { echo "no linux-image-cloud-amd64 in apt" >&2; exit 1; }
(cd "$dir" && apt-get download -qq "$pkg" >/dev/null 2>&1)
dpkg-deb -x "$dir"/"$pkg"_*.deb "$dir"
rm -f "$dir"/"$pkg"_*.deb
ls "$dir"/boot/vmlinuz-* | head -n1
