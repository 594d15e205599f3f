#!/bin/sh
# A libvmm VM as vhost-user FRONT-END: its virtio-blk is served by an
# external back-end process on a unix socket in a temp dir.
#   qsd     QEMU's qemu-storage-daemon --export type=vhost-user-blk (a peer
#           nobody here wrote)
#   libvmm  our own examples/vhost-user-blk (both ends ours)
# The guest driver of tests/guests/virtio writes, reads back, flushes; the
# test then checks the image file on the host (the markers at sectors 0
# and 1 and the 8-sector pattern at sector 8).  Both transports.
# Usage: vhost-user-frontend.sh qsd|libvmm CLIENT GUEST [VHOST-USER-BLK]
set -u
kind=$1 client=$2 guest=$3 daemon=${4:-}
[ -e /dev/kvm ] || { echo "no /dev/kvm: skip"; exit 77; }
if [ "$kind" = qsd ]; then
	command -v qemu-storage-daemon >/dev/null 2>&1 ||
		{ echo "qemu-storage-daemon missing (qemu-system-common): skip"; exit 77; }
fi
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
img=$dir/disk.img
truncate -s 16M "$img"
sock=$dir/blk.sock
if [ "$kind" = qsd ]; then
	qemu-storage-daemon \
		--blockdev driver=file,node-name=f,filename="$img" \
		--export type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path="$sock",writable=on \
		>"$dir/daemon.log" 2>&1 &
else
	"$daemon" --socket "$sock" --image "$img" >"$dir/daemon.log" 2>&1 &
fi
pid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$sock" ] || { echo "the back-end did not start"; cat "$dir/daemon.log"; exit 1; }

# one VM on virtio-mmio, then one on virtio-pci (a new connection)
fail=0
for tr in mmio pci; do
	timeout 60 "$client" "$guest" "$sock" $tr
	rc=$?
	[ $rc -eq 77 ] && exit 77
	[ $rc -eq 0 ] || { echo "FAIL: the $tr client exited with $rc"; fail=1; }
done
head -c 30 "$img" | grep -q "written by the guest over mmio" ||
	{ echo "FAIL: no mmio guest marker at sector 0 of the image"; fail=1; }
dd if="$img" bs=512 skip=1 count=1 2>/dev/null | head -c 29 |
	grep -q "written by the guest over pci" ||
	{ echo "FAIL: no pci guest marker at sector 1 of the image"; fail=1; }
# sector 8.. holds bytes (i * 7 + 14) & 0xff for i in 0..4095 (pci last)
want=$(awk 'BEGIN { for (i = 0; i < 4096; i++) printf "%02x", (i * 7 + 14) % 256 }')
got=$(dd if="$img" bs=512 skip=8 count=8 2>/dev/null | od -An -v -tx1 | tr -d ' \n')
[ "$got" = "$want" ] || { echo "FAIL: the image does not hold the guest's pattern"; fail=1; }
if [ $fail -ne 0 ]; then
	echo "--- back-end log"; cat "$dir/daemon.log"
	exit 1
fi
echo "libvmm front-end over the $kind vhost-user-blk back-end: ok"
exit 0
