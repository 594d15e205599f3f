#!/bin/sh
# fuzz-campaign.sh - run every libFuzzer target for a given time under
# ASan + UBSan (UBSan fatal), and append per-target totals to
# docs/fuzzing.md: executions, coverage (edges, features), corpus size,
# findings, CPU seconds, commit.
#
#   scripts/fuzz-campaign.sh [--seconds N] [--targets "a b"] [--build DIR]
#                            [--work DIR] [--save-corpus] [--no-record]
#
#   --seconds N     per target (default 60)
#   --targets LIST  names without the fuzz_ prefix (default: all built)
#   --build DIR     the fuzz build (default build-fuzz; configured and built
#                   with clang if missing)
#   --work DIR      corpora and artifacts (default $build/campaign); a
#                   second campaign with the same DIR continues from the
#                   corpora of the first
#   --save-corpus   minimize each corpus into fuzz/corpus/<name> (-merge=1)
#   --no-record     do not touch docs/fuzzing.md
#   --no-build      use the binaries in $build/fuzz as they are (a copy of
#                   them, so that rebuilding the tree does not swap them
#                   under a long campaign)
#
# Each target runs under `nice -n 19` (machines are shared).  A finding
# (crash-, leak-, timeout- or oom- file, a non-zero exit, or any sanitizer
# line in the log) is counted and the target's run ends there (libFuzzer
# stops at the first one); the artifact stays in the work directory to be
# turned into a regression test.  Exit status: 0 without findings, 1 with.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
secs=60
targets=
build=$top/build-fuzz
work=
save=0
record=1
nobuild=0
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) secs=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--save-corpus) save=1; shift ;;
	--no-record) record=0; shift ;;
	--no-build) nobuild=1; shift ;;
	*) echo "usage: $0 [--seconds N] [--targets LIST] [--build DIR]" \
		"[--work DIR] [--save-corpus] [--no-record]" >&2; exit 2 ;;
	esac
done
work=${work:-$build/campaign}

if [ "$nobuild" -eq 0 ]; then
	if [ ! -f "$build/build.ninja" ]; then
		CC=clang meson setup "$build" -Dfuzz=enabled -Dtests=disabled \
			-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	fi
	nice -n 19 ninja -C "$build" $(ninja -C "$build" -t targets all |
		sed -n 's/^\(fuzz\/fuzz_[A-Za-z0-9_]*\): .*/\1/p' |
		sort -u) >/dev/null
fi
if [ -z "$targets" ]; then
	targets=$(cd "$build/fuzz" && for f in fuzz_*; do
		[ -f "$f" ] && [ -x "$f" ] && echo "${f#fuzz_}"; done)
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | head -c1)
[ -n "$dirty" ] && commit="$commit+"
date=$(date -u +%Y-%m-%dT%H:%MZ)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
rows=
total_findings=0
mkdir -p "$work"
for t in $targets; do
	bin=$build/fuzz/fuzz_$t
	[ -x "$bin" ] || { echo "no target $t" >&2; exit 2; }
	d=$work/$t
	mkdir -p "$d/corpus"
	[ -d "fuzz/corpus/$t" ] && cp -rn "fuzz/corpus/$t"/. "$d/corpus/" 2>/dev/null || true
	before=$(ls "$d" | grep -cE '^(crash|leak|timeout|oom)-' || true)
	echo "-- fuzz_$t: $secs s"
	rc=0
	(cd "$d" && /usr/bin/time -f '%U %S' -o "$d/cpu" nice -n 19 "$bin" \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
		-print_final_stats=1 corpus >"$d/log" 2>&1) || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -1)
	last=$(grep -E '^#[0-9]+.*cov: ' "$d/log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(ls "$d/corpus" | wc -l)
	cpu=$(awk 'NF == 2 {printf "%.1f", $1 + $2}' "$d/cpu" 2>/dev/null)
	after=$(ls "$d" | grep -cE '^(crash|leak|timeout|oom)-' || true)
	found=$((after - before))
	if [ "$found" -eq 0 ] && { [ "$rc" -ne 0 ] ||
	   grep -qE 'runtime error:|ERROR: [A-Za-z]*Sanitizer|SUMMARY: [A-Za-z]*Sanitizer' "$d/log"; }; then
		found=1
	fi
	total_findings=$((total_findings + found))
	persec=$(awk -v e="${execs:-0}" -v c="${cpu:-0}" \
		'BEGIN { printf "%d", (c > 0 ? e / c : 0) }')
	echo "   executions ${execs:-0}, cov ${cov:-?}, ft ${ft:-?}, corpus $corp," \
		"findings $found, cpu ${cpu} s (${persec}/cpu-s)"
	[ "$found" -gt 0 ] && grep -E 'fuzz_machine:|SUMMARY|Test unit written' "$d/log" | tail -3
	rows="$rows| $date | $commit | $t | $secs | ${cpu:-0} | ${execs:-0} | $persec | ${cov:-?} | ${ft:-?} | $corp | $found |
"
	if [ "$save" -eq 1 ]; then
		mkdir -p "fuzz/corpus/$t"
		nice -n 19 "$bin" -merge=1 -timeout=120 "fuzz/corpus/$t" \
			"$d/corpus" >"$d/merge.log" 2>&1 || true
	fi
done

if [ "$record" -eq 1 ]; then
	printf '%s' "$rows" >>docs/fuzzing.md
	echo "appended $(printf '%s' "$rows" | grep -c .) rows to docs/fuzzing.md"
fi
[ "$total_findings" -eq 0 ]
