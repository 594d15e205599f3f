#!/bin/sh
# vmm-run --cpu MODEL: each model runs the long64 guest to QEMU's status on
# the software backend ("host" is refused there with a reason), and an
# unknown model is refused with a message naming it: vmm-run's even
# statuses, 6 (the VM cannot be created) and 2 (bad usage).
# Usage: vmm-run-cpu.sh VMM-RUN IMAGE EXPECTED-STATUS
vmm_run=$1
image=$2
expected=$3
fail=0
for m in default baseline max; do
	"$vmm_run" --backend soft --cpu $m --timeout 120 --kernel "$image" \
		>/dev/null
	status=$?
	echo "--cpu $m: status $status (want $expected)"
	[ "$status" -eq "$expected" ] || fail=1
done
msg=$("$vmm_run" --backend soft --cpu host --kernel "$image" 2>&1 >/dev/null)
status=$?
echo "--cpu host on soft: status $status: $msg"
[ "$status" -eq 6 ] || fail=1
echo "$msg" | grep -q "needs the KVM backend" || fail=1
msg=$("$vmm_run" --backend soft --cpu pentium --kernel "$image" 2>&1 >/dev/null)
status=$?
echo "--cpu pentium: status $status: $msg"
[ "$status" -eq 2 ] || fail=1
echo "$msg" | grep -q "pentium" || fail=1
exit $fail
