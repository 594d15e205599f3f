#!/bin/sh
# The ABI checker must fail on each kind of drift: a call missing from the
# map, a name in the map that nothing exports, a wildcard, and a node that
# does not inherit its predecessor.  Usage: selftest.sh CHECK MAP HEADERS SO
set -u
check=$1 map=$2 headers=$3 so=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect_fail() { # name map-file
	if python3 "$check" --map "$2" --headers "$headers" --so "$so" >"$tmp/out" 2>&1; then
		echo "FAIL: checker accepted: $1"; fail=1
	else
		echo "ok: rejected $1: $(head -n1 "$tmp/out")"
	fi
}
python3 "$check" --map "$map" --headers "$headers" --so "$so" >/dev/null || {
	echo "FAIL: the real map does not pass"; exit 1; }
grep -v '^[[:space:]]*vmm_vm_create;' "$map" >"$tmp/missing.map"
expect_fail "a call missing from the map" "$tmp/missing.map"
sed 's/^\([[:space:]]*\)vmm_vm_create;/\1vmm_vm_create;\n\1vmm_vm_create_zz;/' "$map" >"$tmp/extra.map"
expect_fail "a name nothing exports" "$tmp/extra.map"
sed 's/^\([[:space:]]*\)vmm_vm_create;/\1vmm_vm_*;/' "$map" >"$tmp/wild.map"
expect_fail "a wildcard" "$tmp/wild.map"
{ cat "$map"; printf 'LIBVMM_0.2 {\n\tglobal:\n\t\tvmm_zz_new;\n};\n'; } >"$tmp/orphan.map"
expect_fail "a node that does not inherit" "$tmp/orphan.map"
exit $fail
