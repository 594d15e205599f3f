#!/bin/sh
# density.sh - run vmm-bench density (N = 10, 100, 1000 idle VMs in one
# process, KVM and soft) and turn its JSON lines into docs/density.jsonl
# and the chart docs/density.png (gnuplot, Debian package gnuplot-nox).
#
#   bench/density.sh [BUILD_DIR [OUT_DIR]]
#
# Every number comes from this run; nothing is typed in.  With an existing
# OUT_DIR/density.jsonl and env DENSITY_REUSE=1 only the chart is redrawn.
set -eu
build=${1:-build}
out=${2:-docs}
here=$(dirname "$0")
json="$out/density.jsonl"
png="$out/density.png"
mkdir -p "$out"
if [ "${DENSITY_REUSE:-0}" != 1 ] || [ ! -s "$json" ]; then
	"$build/bench/vmm-bench" --json density > "$json"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$json" "$tmp" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("bench") == "density"]
series = {}
for r in rows:
    series.setdefault("%s-%s" % (r["backend"], r["irqchip"]), []).append(
        (r["vms"], r["per_vm_kib"], r["create_us"]))
    if "raw_per_vm_kib" in r:
        series.setdefault("raw-kvm", [])
        if all(v != r["vms"] for v, _, _ in series["raw-kvm"]):
            series["raw-kvm"].append((r["vms"], r["raw_per_vm_kib"],
                                      r["raw_create_us"]))
with open(os.path.join(sys.argv[2], "series"), "w") as f:
    f.write(" ".join(sorted(series)) + "\n")
for name, pts in series.items():
    with open(os.path.join(sys.argv[2], name + ".dat"), "w") as f:
        for v, kib, us in sorted(pts):
            f.write("%d %g %g\n" % (v, max(kib, 0.1), us))
PY
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "density.sh: gnuplot not found (apt-get install gnuplot-nox); wrote $json only" >&2
	exit 0
fi
gnuplot -e "dir='$tmp'; png='$png'; series='$(cat "$tmp/series")'" \
	"$here/density.gp"
echo "wrote $json and $png"
