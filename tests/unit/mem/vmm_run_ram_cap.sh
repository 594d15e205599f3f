#!/bin/sh
# vmm-run -m 100000G must fail fast (< 1 s) with a message naming the
# limit, not allocate gigabytes first.  Usage: vmm_run_ram_cap.sh VMM_RUN IMAGE
set -u
t0=$(date +%s%N)
out=$("$1" --backend soft -m 100000G --kernel "$2" 2>&1)
rc=$?
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
echo "$out"
echo "exit $rc after $ms ms"
[ "$rc" -ne 0 ] || { echo "FAIL: vmm-run succeeded"; exit 1; }
[ "$ms" -lt 1000 ] || { echo "FAIL: took $ms ms"; exit 1; }
# vmm-run's own check (--memory ... too large (at most N KiB)) or the
# library's (guest RAM ... exceeds what this host can back)
echo "$out" | grep -qE "exceeds what this host can back|too large \(at most" || {
	echo "FAIL: no message about the host limit"; exit 1; }
echo ok
