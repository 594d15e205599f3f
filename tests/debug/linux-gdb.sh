#!/bin/sh
# The stock Linux kernel under vmm-run --gdb (soft backend) with gdb
# attached and continuing: Linux's boot-time INT3 self-test
# (int3_selftest() in alternative_instructions()) executes INT3s of its
# own; the stub must hand them to the guest and not stop gdb.  Passes when
# the console shows "Freeing SMP alternatives memory" (printed after the
# self-test) and gdb never reported a stop.
#   linux-gdb.sh VMM_RUN
# Skips (77) without gdb or without $VMM_TEST_BZIMAGE.
set -u
vmm_run=$1
command -v gdb >/dev/null 2>&1 || { echo "gdb not installed"; exit 77; }
bz=${VMM_TEST_BZIMAGE:-}
[ -n "$bz" ] && [ -r "$bz" ] || { echo "VMM_TEST_BZIMAGE not set"; exit 77; }
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
pid=
"$vmm_run" --backend soft --kernel "$bz" --mem 256M \
	--cmdline "console=ttyS0 panic=-1" \
	--gdb "unix:$dir/sock" --timeout 45 >"$dir/console" 2>&1 &
pid=$!
i=0
while [ ! -S "$dir/sock" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "vmm-run did not listen"; cat "$dir/console"; exit 1; }
	sleep 0.05
done
# gdb continues until vmm-run's --timeout closes the connection
timeout 80 gdb -batch -nx -ex "target remote $dir/sock" -ex continue \
	>"$dir/gdb.out" 2>&1
wait $pid
pid=
echo "--- gdb transcript"
cat "$dir/gdb.out"
echo "--- console (last lines)"
tail -5 "$dir/console"
fail=0
grep -q 'Freeing SMP alternatives memory' "$dir/console" ||
	{ echo "MISSING: Linux did not get past its INT3 self-test"; fail=1; }
if grep -q -E 'SIGTRAP|received signal' "$dir/gdb.out"; then
	echo "gdb stopped: the guest's INT3 was not handed back"; fail=1
fi
grep -q -i 'int3' "$dir/console" && { echo "the console mentions int3:"; grep -i int3 "$dir/console"; fail=1; }
exit $fail
