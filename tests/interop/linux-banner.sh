#!/bin/sh
# Boot Debian's stock cloud kernel (a bzImage nobody here wrote) through
# vmm-run's bzImage path on KVM and wait for its "Linux version" banner and
# the e820 map it read from our boot_params on our UART.  The kernel cannot
# finish booting on the development machines' nested KVM (see
# docs/machines.md), so the banner and the memory map are the check.
# Usage: linux-banner.sh VMM-RUN   (kernel from $VMM_TEST_BZIMAGE)
set -u
vmm_run=$1
kernel=${VMM_TEST_BZIMAGE:-}
[ -e /dev/kvm ] || { echo "no /dev/kvm: skip"; exit 77; }
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
	echo "VMM_TEST_BZIMAGE not set or unreadable: skip (scripts/test.sh fetches it)"
	exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null' EXIT
"$vmm_run" --backend kvm -m 512M --kernel "$kernel" \
	--cmdline "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1" \
	--timeout 280 >"$out" 2>&1 &
pid=$!
i=0
while [ $i -lt 290 ]; do
	if grep -q "BIOS-e820: \[mem 0x0000000000100000-0x000000001fffffff\] usable" "$out" &&
	   grep -q "Command line: console=ttyS0" "$out"; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=
		grep -m1 "Linux version" "$out"
		echo "banner and e820 map seen after ${i}s"
		exit 0
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
	i=$((i + 1))
done
echo "no Linux banner; vmm-run output:"
cat "$out"
exit 1
