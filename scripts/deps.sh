#!/bin/sh
# Install the Debian 12 packages libvmm needs to build (and, with --test, to
# run the whole test suite).  Runs apt-get as root or through sudo.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# libzstd-dev: compressed migration streams and snapshots (optional,
# -Dzstd); libssl-dev: libcrypto's HMAC-SHA256 for authenticated migration
# on kernels without AF_ALG hash sockets (optional, -Dcrypto).
PKGS="gcc meson ninja-build pkg-config liburing-dev libcmocka-dev libseccomp-dev binutils libzstd-dev libssl-dev"
if [ "${1:-}" = "--test" ]; then
	# qemu-system-x86: the peer whose exit statuses our guests must match;
	# clang/llvm for the fuzz targets; gcc's sanitizer runtimes for ASan.
	# vhost-user interop: qemu-system-common ships qemu-storage-daemon,
	# busybox-static and cpio build the Linux test's initramfs.
	# iproute2: the migration test between network namespaces (ip netns,
	# veth).  libunicorn-dev: vmm-bench soft-vs-unicorn-*.
	# gdb: the gdb stub's interop test (tests/debug).
	# e2fsprogs: mkfs.ext4 and debugfs for the Linux disk test.
	PKGS="$PKGS qemu-system-x86 qemu-system-common busybox-static clang libclang-rt-14-dev cpio xz-utils iproute2 libunicorn-dev gdb e2fsprogs"
fi
missing=""
for p in $PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	# wait (up to 10 min) for another apt/dpkg that holds the lock
	# instead of failing at once
	lock="-o DPkg::Lock::Timeout=600"
	$SUDO apt-get $lock update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get $lock install -y -qq --no-install-recommends $missing
fi
