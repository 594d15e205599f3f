#!/bin/sh
# vmm-run must exit with the same status QEMU gives the same guest (the
# statuses recorded from QEMU 7.2 in tests/guests/meson.build, checked
# against live QEMU by the qemu-* tests), on every backend.
# Usage: vmm-run-status.sh VMM-RUN BACKEND IMAGE EXPECTED-STATUS
vmm_run=$1
backend=$2
image=$3
expected=$4
if [ "$backend" = kvm ] && [ ! -e /dev/kvm ]; then
	echo "no /dev/kvm: skip"
	exit 77
fi
"$vmm_run" --backend "$backend" --timeout 120 --kernel "$image" >/dev/null
status=$?
echo "vmm-run --backend $backend: status $status, QEMU status $expected"
# vmm-run's own failures are even and never 0 (0 = the guest ended): they
# can never be mistaken for a guest's odd debug-exit status
if [ "$status" -ne 0 ] && [ $((status % 2)) -eq 0 ]; then
	echo "status $status is vmm-run's own failure (2 usage, 4 load," \
	     "6 set-up, 8 internal/emulation, 124 timeout), not the guest's"
fi
[ "$status" -eq "$expected" ]
