#!/bin/sh
# device-models.sh - run the device-models benchmark of vmm-bench and turn
# its JSON lines into docs/device-models.csv and docs/device-models.png
# (gnuplot, Debian package gnuplot-nox).
#
#   bench/device-models.sh [BUILD_DIR [OUT_DIR [VMM_BENCH_ARGS...]]]
#
# Defaults: build, docs, "--trials 3".  Needs /dev/kvm (vmm-bench exits 77
# without it).  Every number comes from this run; nothing is typed in.
set -eu
build=${1:-build}
out=${2:-docs}
[ $# -gt 2 ] && shift 2 || set --
[ $# -gt 0 ] || set -- --trials 3
here=$(dirname "$0")

mkdir -p "$out"
json="$out/device-models.jsonl"
csv="$out/device-models.csv"
png="$out/device-models.png"
"$build/bench/vmm-bench" --json "$@" device-models > "$json"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$json" "$csv" "$tmp" <<'PY'
import csv, json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("bench") == "device-models"]
cols = ["model", "workload", "kib", "exits", "exits_per_kib", "mib_per_s",
        "host_cpu_s", "seconds", "shareable", "migratable", "ratio"]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(cols)
    for r in rows:
        w.writerow([str(r[c]).lower() if isinstance(r[c], bool) else r[c]
                    for c in cols])
# one whitespace-separated file per workload for the chart
for wl in ("console", "block"):
    with open(os.path.join(sys.argv[3], wl + ".dat"), "w") as f:
        for r in rows:
            if r["workload"] == wl:
                f.write("%s %g %g\n" % (r["model"], r["exits_per_kib"],
                                        r["mib_per_s"]))
PY

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "device-models.sh: gnuplot not found (apt-get install gnuplot-nox); wrote $csv only" >&2
	exit 0
fi
gnuplot -e "dir='$tmp'; png='$png'" "$here/device-models.gp"
echo "wrote $csv and $png"
