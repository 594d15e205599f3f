#!/bin/sh
# Linux's own virtio drivers over OUR vhost-user back-ends: boot Debian's
# stock cloud kernel under QEMU TCG (guest RAM a shared memfd), its disk
# served by examples/vhost-user-blk and its hardware RNG by the same daemon
# in --rng mode.  A busybox initramfs built here loads virtio_blk /
# virtio-rng (modules of the same kernel package), writes a pattern to
# /dev/vda, drops the page cache, reads it back and checksums it, reads a
# marker the host put into the image, reads /dev/hwrng, prints the results
# on the serial console and powers off.  The host checks the console AND
# the image file.
# Usage: linux-vhost-user.sh VHOST-USER-BLK   (kernel: $VMM_TEST_BZIMAGE)
set -u
daemon=$1
kernel=${VMM_TEST_BZIMAGE:-}
for p in qemu-system-x86_64 cpio md5sum; do
	command -v $p >/dev/null 2>&1 || { echo "$p missing: skip"; exit 77; }
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && ldd "$busybox" 2>&1 | grep -q "not a dynamic" ||
	{ echo "no static busybox (busybox-static): skip"; exit 77; }
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
	echo "VMM_TEST_BZIMAGE not set or unreadable: skip (scripts/test.sh fetches it)"
	exit 77
fi
ver=$(basename "$kernel" | sed 's/^vmlinuz-//')
mods=$(dirname "$kernel")/../lib/modules/$ver
[ -d "$mods" ] || { echo "no modules at $mods: skip"; exit 77; }

dir=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

# --- the initramfs ---
root=$dir/root
mkdir -p "$root/bin" "$root/lib/modules" "$root/dev" "$root/proc" "$root/sys"
cp "$busybox" "$root/bin/busybox"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev \
	 virtio_pci virtio_blk virtio-rng; do
	f=$(find "$mods/kernel" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
	[ -n "$f" ] || { echo "module $m not found: skip"; exit 77; }
	case $f in
	*.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
	*) cp "$f" "$root/lib/modules/$m.ko" ;;
	esac
done
# 1 MiB pattern the guest writes at 1 MiB
i=0
while [ $i -lt 15000 ]; do
	printf 'libvmm vhost-user block %08d pattern line ..........................\n' $i
	i=$((i + 1))
done | head -c 1048576 >"$root/pattern"
want=$(md5sum <"$root/pattern" | cut -d' ' -f1)
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev \
	 virtio_pci virtio_blk virtio-rng; do
	insmod /lib/modules/$m.ko || echo "VU-FAIL insmod $m"
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
if [ -b /dev/vda ]; then
	echo "VU-SIZE $(cat /sys/block/vda/size)"
	dd if=/dev/vda bs=512 count=1 2>/dev/null | grep -q "host marker" &&
		echo "VU-MARKER ok"
	dd if=/pattern of=/dev/vda bs=4096 seek=256 conv=fsync 2>/dev/null
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo "VU-READBACK $(dd if=/dev/vda bs=4096 skip=256 count=256 2>/dev/null | md5sum | cut -d' ' -f1)"
else
	echo "VU-FAIL no /dev/vda"
fi
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
n=$(dd if=/dev/hwrng bs=64 count=4 2>/dev/null | wc -c)
echo "VU-RNG $cur $n"
echo "VU-DONE"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$dir/initrd" ||
	{ echo "cpio failed"; exit 1; }

# --- the image and the back-ends ---
img=$dir/disk.img
truncate -s 64M "$img"
printf 'libvmm host marker\n' | dd of="$img" conv=notrunc 2>/dev/null
"$daemon" --socket "$dir/blk.sock" --image "$img" --verbose --verbose \
	>"$dir/blk.log" 2>&1 &
pids="$pids $!"
"$daemon" --socket "$dir/rng.sock" --rng --verbose --verbose >"$dir/rng.log" 2>&1 &
pids="$pids $!"
i=0
while { [ ! -S "$dir/blk.sock" ] || [ ! -S "$dir/rng.sock" ]; } && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done

# --- Linux under QEMU TCG ---
start=$(date +%s)
timeout 170 qemu-system-x86_64 -accel tcg -m 512M -smp 1 \
	-object memory-backend-memfd,id=mem,size=512M,share=on \
	-numa node,memdev=mem \
	-kernel "$kernel" -initrd "$dir/initrd" \
	-append "console=ttyS0 panic=-1 quiet" \
	-chardev socket,id=vublk,path="$dir/blk.sock" \
	-device vhost-user-blk-pci,chardev=vublk,num-queues=1 \
	-chardev socket,id=vurng,path="$dir/rng.sock" \
	-device vhost-user-rng-pci,chardev=vurng \
	-display none -monitor none -serial file:"$dir/console.txt" \
	-no-reboot >"$dir/qemu.log" 2>&1
rc=$?
echo "QEMU exited with $rc after $(($(date +%s) - start)) s"
tr -d '\r' <"$dir/console.txt" | grep "VU-" || true

fail=0
grep -q "VU-READBACK $want" "$dir/console.txt" ||
	{ echo "FAIL: read-back checksum (want $want)"; fail=1; }
grep -q "VU-MARKER ok" "$dir/console.txt" ||
	{ echo "FAIL: the host's marker was not read"; fail=1; }
grep -q "VU-SIZE 131072" "$dir/console.txt" ||
	{ echo "FAIL: capacity"; fail=1; }
grep -q "VU-FAIL" "$dir/console.txt" && fail=1
grep -Eq "VU-RNG virtio_rng[.0-9]* 256" "$dir/console.txt" ||
	{ echo "FAIL: virtio-rng"; fail=1; }
got=$(dd if="$img" bs=4096 skip=256 count=256 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$got" = "$want" ] ||
	{ echo "FAIL: the image holds $got at 1 MiB, want $want"; fail=1; }
if [ $fail -ne 0 ]; then
	echo "--- console"; tail -n 40 "$dir/console.txt"
	echo "--- qemu"; cat "$dir/qemu.log"
	echo "--- blk daemon"; cat "$dir/blk.log"
	echo "--- rng daemon"; cat "$dir/rng.log"
	exit 1
fi
echo "Linux virtio-blk and virtio-rng over libvmm's vhost-user back-end: ok"
exit 0
