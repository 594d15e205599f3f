#!/bin/sh
# backend=auto falls back to the software backend where /dev/kvm is
# missing: hide /dev/kvm in a private mount namespace (bind-mount an empty
# file over it) and run a guest with --backend auto; it must run on "soft"
# and give QEMU's status.
# Usage: vmm-run-fallback.sh VMM-RUN IMAGE EXPECTED-STATUS
vmm_run=$1
image=$2
expected=$3
command -v unshare >/dev/null || { echo "no unshare: skip"; exit 77; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
unshare -m sh -c '
	if [ -e /dev/kvm ]; then
		mount --bind "$1" /dev/kvm || exit 77
	fi
	[ -r /dev/kvm ] && [ -s /dev/kvm ] && exit 77
	exec "$2" --backend auto --stats --timeout 120 --kernel "$3" >/dev/null
' sh "$out" "$vmm_run" "$image" 2>"$out.err"
status=$?
cat "$out.err"
grep -q "backend soft" "$out.err" || { echo "did not fall back to soft"; rm -f "$out.err"; exit 1; }
rm -f "$out.err"
[ "$status" -eq 77 ] && { echo "cannot hide /dev/kvm here: skip"; exit 77; }
echo "auto without /dev/kvm: backend soft, status $status (QEMU $expected)"
[ "$status" -eq "$expected" ]
