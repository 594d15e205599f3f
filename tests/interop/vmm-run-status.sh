#!/bin/sh
# vmm-run must exit with the same status QEMU gives the same guest (the
# statuses recorded from QEMU 7.2 in tests/guests/meson.build, checked
# against live QEMU by the qemu-* tests).
# Usage: vmm-run-status.sh VMM-RUN IMAGE EXPECTED-STATUS
vmm_run=$1
image=$2
expected=$3
[ -e /dev/kvm ] || { echo "no /dev/kvm: skip"; exit 77; }
"$vmm_run" --backend kvm --timeout 60 --kernel "$image" >/dev/null
status=$?
echo "vmm-run status $status, QEMU status $expected"
[ "$status" -eq "$expected" ]
