#!/bin/sh
# Linux as a guest of vmm-run (issue #12): Debian's stock cloud kernel and
# a busybox initramfs built here, on the given backend with N vCPUs.  The
# guest loads the kernel package's own virtio modules (virtio_pci,
# virtio_blk), counts its CPUs (N expected: ACPI MADT) and virtio-blk
# queues (N: VIRTIO_BLK_F_MQ, one per vCPU by default), mounts the ext4
# image given with --disk (made here with mkfs.ext4, a marker file written
# into it by the host with debugfs), reads the marker, writes a file back,
# and powers off with `poweroff -f` (ACPI S5).  vmm-run must exit 0 and the
# host must find the guest's file in the image with debugfs.
# With "net" as 4th argument it also brings up virtio-net on a tap device
# in a private network namespace, pings the host side, fetches a 2 MB file
# from an httpd there and posts it back over TCP (checksum and TSO
# offloads, mergeable buffers), compared by MD5 (root only).
# Usage: linux-soft.sh VMM-RUN BACKEND CPUS [net]   (kernel: $VMM_TEST_BZIMAGE)
#        linux-soft.sh --prepare DIR   (only build DIR/initrd and DIR/disk.img
#        and print the command line: vmm-bench linux-boot uses the same guest)
set -u
prepare=""
if [ "${1:-}" = --prepare ]; then
	prepare=$2
	set -- /bin/true soft 1
fi
vmm_run=$(realpath "$1")
backend=$2
cpus=$3
net=${4:-}
kernel=${VMM_TEST_BZIMAGE:-}
for p in cpio mkfs.ext4 debugfs; do
	command -v $p >/dev/null 2>&1 ||
		[ -x /usr/sbin/$p ] || [ -x /sbin/$p ] ||
		{ echo "$p missing (cpio, e2fsprogs): skip"; exit 77; }
done
PATH=$PATH:/usr/sbin:/sbin
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && ldd "$busybox" 2>&1 | grep -q "not a dynamic" ||
	{ echo "no static busybox (busybox-static): skip"; exit 77; }
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
	echo "VMM_TEST_BZIMAGE not set or unreadable: skip (scripts/test.sh fetches it)"
	exit 77
fi
if [ "$backend" = kvm ]; then
	[ -e /dev/kvm ] || { echo "no /dev/kvm: skip"; exit 77; }
	# Can this KVM run a kernel's CPL0 code?  On nested kvm_pvm hosts
	# CPL0 is emulated by the host (~1 us per instruction): measure it,
	# the kernel must print its banner within 20 s (it takes well under
	# a second on a normal KVM host, ~80 s of decompression here).
	probe=$(mktemp)
	"$vmm_run" --backend kvm -m 256M --kernel "$kernel" --quiet \
		--cmdline "console=ttyS0" --timeout 20 >"$probe" 2>&1
	pst=$?
	if ! grep -aq "Linux version" "$probe"; then
		kind=$( [ -d /sys/module/kvm_pvm ] && echo "nested kvm_pvm" || echo "this")
		echo "KVM ($kind) did not run the kernel to its banner in 20 s" \
		     "(vmm-run status $pst): CPL0 is emulated by the host here: skip"
		tail -3 "$probe"
		rm -f "$probe"
		exit 77
	fi
	rm -f "$probe"
fi
ver=$(basename "$kernel" | sed 's/^vmlinuz-//')
mods=$(dirname "$kernel")/../lib/modules/$ver
[ -d "$mods" ] || { echo "no modules at $mods: skip"; exit 77; }
if [ -n "$net" ]; then
	[ "$(id -u)" = 0 ] || { echo "net: needs root: skip"; exit 77; }
	[ -e /dev/net/tun ] || { echo "net: no /dev/net/tun: skip"; exit 77; }
	command -v unshare >/dev/null && command -v ip >/dev/null ||
		{ echo "net: no unshare or ip: skip"; exit 77; }
fi

dir=$(mktemp -d)
[ -n "$prepare" ] && { rm -rf "$dir"; dir=$prepare; mkdir -p "$dir"; LT_KEEP=1; }
[ -n "${LT_KEEP:-}" ] && echo "keeping $dir" >&2 || trap 'rm -rf "$dir"' EXIT

modlist="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk"
[ -n "$net" ] && modlist="$modlist failover net_failover virtio_net"
root=$dir/root
mkdir -p "$root/bin" "$root/lib/modules" "$root/dev" "$root/proc" \
	 "$root/sys" "$root/mnt"
cp "$busybox" "$root/bin/busybox"
for m in $modlist; do
	f=$(find "$mods/kernel" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
	[ -n "$f" ] || { echo "module $m not found: skip"; exit 77; }
	case $f in
	*.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
	*) cp "$f" "$root/lib/modules/$m.ko" ;;
	esac
done
echo "$modlist" >"$root/modlist"
echo "$net" >"$root/net"
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modlist); do
	insmod /lib/modules/$m.ko || echo "LT-FAIL insmod $m"
done
echo "LT-CPUS $(grep -c ^processor /proc/cpuinfo)"
echo "LT-CLOCKSOURCE $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
grep -q IO-APIC /proc/interrupts && echo "LT-IOAPIC yes"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
# virtio-blk multi-queue: vmm-run gives the disk one queue per vCPU
echo "LT-BLKMQ $(ls /sys/block/vda/mq 2>/dev/null | wc -l)"
if mount -t ext4 /dev/vda /mnt; then
	echo "LT-MARKER $(cat /mnt/marker.txt)"
	echo "written by the guest with $(grep -c ^processor /proc/cpuinfo) CPUs" >/mnt/guest.txt
	umount /mnt
	sync
else
	echo "LT-FAIL mount"
fi
if [ -n "$(cat /net)" ]; then
	ip link set lo up
	ip link set eth0 up
	ip addr add 10.99.0.2/24 dev eth0
	ping -c 2 -W 5 10.99.0.1 >/dev/null 2>&1 && echo "LT-PING ok"
	echo "LT-NETFEAT $(cat /sys/class/net/eth0/device/features)"
	# TCP both ways through the offloads: a file from the host's httpd
	# (host TSO segments into mergeable buffers, GUEST_CSUM), then the
	# same file posted back (the guest's TSO and checksum offload)
	if wget -q -O /f http://10.99.0.1:8000/f; then
		echo "LT-RX $(md5sum </f | cut -c1-32)"
		wget -q -O /dev/null --post-file /f \
			http://10.99.0.1:8000/cgi-bin/up && echo "LT-TX posted"
	fi
fi
echo "LT-DONE"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$dir/initrd" ||
	{ echo "cpio failed"; exit 1; }

img=$dir/disk.img
truncate -s 32M "$img"
mkfs.ext4 -q -F "$img" >/dev/null 2>&1 || { echo "mkfs.ext4 failed"; exit 1; }
echo "libvmm host marker $$" >"$dir/marker.txt"
debugfs -w -R "write $dir/marker.txt marker.txt" "$img" >/dev/null 2>&1

cmd=${LT_CMDLINE:-"console=ttyS0 panic=-1 quiet"}
if [ -n "$prepare" ]; then
	echo "$cmd"
	exit 0
fi
netargs=""
run() {
	timeout 300 "$vmm_run" --backend "$backend" --cpus "$cpus" -m 512M \
		--kernel "$kernel" --initrd "$dir/initrd" --disk "$img" \
		$netargs --cmdline "$cmd" --timeout ${LT_TIMEOUT:-240} >"$dir/console.txt" 2>"$dir/err.txt"
}
start=$(date +%s.%N)
if [ -n "$net" ]; then
	# vmm-run and the host end of the tap in a private network namespace
	netargs="--net tap=lt0"
	# an httpd there: a 2 MB file to fetch, a CGI that hashes a POST
	mkdir -p "$dir/www/cgi-bin"
	# text (busybox wget --post-file stops at a NUL byte)
	head -c 1500000 /dev/urandom | base64 >"$dir/www/f"
	cat >"$dir/www/cgi-bin/up" <<CGI
#!/bin/sh
head -c "\$CONTENT_LENGTH" | md5sum | cut -c1-32 >"$dir/up.md5"
printf 'Content-Type: text/plain\r\n\r\nok\n'
CGI
	chmod +x "$dir/www/cgi-bin/up"
	LT_WWW=$dir/www unshare -n sh -c '
		ip tuntap add dev lt0 mode tap || exit 77
		ip link set lt0 up
		ip addr add 10.99.0.1/24 dev lt0
		ip link set lo up
		busybox httpd -f -p 10.99.0.1:8000 -h "$LT_WWW" &
		hp=$!
		timeout 300 "$@"
		rc=$?
		kill $hp
		exit $rc
	' sh "$vmm_run" --backend "$backend" --cpus "$cpus" -m 512M \
		--kernel "$kernel" --initrd "$dir/initrd" --disk "$img" \
		$netargs --cmdline "$cmd" --timeout ${LT_TIMEOUT:-240} >"$dir/console.txt" 2>"$dir/err.txt"
	rc=$?
else
	run
	rc=$?
fi
end=$(date +%s.%N)
echo "--- console (vmm-run status $rc, $(echo "$end - $start" | bc 2>/dev/null || echo ?) s)"
grep -a "LT-\|Kernel panic\|BUG\|Oops" "$dir/console.txt"
echo "--- stderr"
tail -5 "$dir/err.txt"
fail=0
[ "$rc" -eq 0 ] || { echo "vmm-run status $rc, want 0 (power-off)"; fail=1; }
grep -aq "LT-CPUS $cpus" "$dir/console.txt" || { echo "want $cpus CPUs"; fail=1; }
# Linux's virtio_blk made one hardware queue per virtqueue (VIRTIO_BLK_F_MQ)
grep -aq "LT-BLKMQ $cpus" "$dir/console.txt" ||
	{ echo "want $cpus virtio-blk queues (VIRTIO_BLK_F_MQ)"; fail=1; }
grep -aq "LT-MARKER libvmm host marker $$" "$dir/console.txt" ||
	{ echo "marker not read"; fail=1; }
grep -aq "LT-FAIL" "$dir/console.txt" && fail=1
if [ -n "$net" ]; then
	grep -aq "LT-PING ok" "$dir/console.txt" || { echo "no ping"; fail=1; }
	# Linux's virtio_net negotiated the offloads and mergeable buffers
	# (feature string: bit 0 first): CSUM 0, GUEST_CSUM 1, GUEST_TSO4 7,
	# GUEST_TSO6 8, HOST_TSO4 11, HOST_TSO6 12, MRG_RXBUF 15
	feat=$(grep -a "LT-NETFEAT" "$dir/console.txt" | tr -d '\r' | awk '{print $2}')
	want=$(md5sum <"$dir/www/f" | cut -c1-32)
	grep -aq "LT-RX $want" "$dir/console.txt" ||
		{ echo "the guest's copy of the host's file differs (want $want)"; fail=1; }
	grep -aq "LT-TX posted" "$dir/console.txt" &&
		[ "$(cat "$dir/up.md5" 2>/dev/null)" = "$want" ] ||
		{ echo "the file the guest posted differs: $(cat "$dir/up.md5" 2>/dev/null)"; fail=1; }
	for b in 0 1 7 8 11 12 15; do
		[ "$(printf %s "$feat" | cut -c$((b + 1)))" = 1 ] ||
			{ echo "virtio-net feature bit $b not negotiated ($feat)"; fail=1; }
	done
fi
got=$(debugfs -R "cat guest.txt" "$img" 2>/dev/null)
echo "host reads guest.txt: $got"
[ "$got" = "written by the guest with $cpus CPUs" ] ||
	{ echo "guest's file not in the image"; fail=1; }
[ $fail -eq 0 ] || { echo "--- full console"; tail -40 "$dir/console.txt"; }
exit $fail
