#!/bin/bash
# fuzz-campaign.sh - run the libFuzzer targets under ASan + UBSan (UBSan
# fatal) and append per-target totals to docs/fuzzing.md: executions,
# coverage (edges, features), corpus size, findings, CPU seconds, commit;
# then rewrite the "executions to date" table there (the sum of all rows).
#
#   scripts/fuzz-campaign.sh [--seconds N] [--runs N] [--goal N]
#                            [--until HH:MM] [--jobs J] [--targets "a b"]
#                            [--build DIR] [--work DIR] [--no-build]
#                            [--save-corpus] [--no-record]
#   scripts/fuzz-campaign.sh --totals     (only rewrite the to-date table)
#
#   --seconds N     one slice of a target runs at most N s (default 60,
#                   600 with --goal)
#   --runs N        one slice runs at most N executions (libFuzzer -runs)
#   --goal N        accumulate: give each target slice after slice until
#                   its executions to date (the rows of docs/fuzzing.md
#                   plus this campaign) reach N; without --goal every
#                   target gets one slice
#   --until T       stop at T (UTC HH:MM today, or seconds since the
#                   epoch): running slices are interrupted (SIGTERM, so
#                   libFuzzer prints its totals) and recorded
#   --jobs J        run J targets at once (default 1)
#   --targets LIST  names without the fuzz_ prefix (default: all built);
#                   slices go to the target with the fewest slices so far
#                   in this campaign, ties in LIST order, so with --goal
#                   the first targets are served first and the rest round-
#                   robin
#   --build DIR     the fuzz build (default build-fuzz; configured and built
#                   with clang if missing)
#   --work DIR      corpora, binaries and artifacts (default
#                   $build/campaign); a second campaign with the same DIR
#                   continues from the corpora of the first
#   --no-build      do not build: copy the binaries of $build/fuzz into
#                   $work/bin (once; a later campaign with the same work
#                   directory reuses that copy and its commit), so that
#                   rebuilding the tree does not swap them under a long
#                   campaign
#   --save-corpus   minimize each corpus into fuzz/corpus/<name> (-merge=1)
#   --no-record     do not touch docs/fuzzing.md
#
# Everything runs under `nice -n 19` (machines are shared).  SIGINT or
# SIGTERM to the script stops it like --until does.  A finding (crash-,
# leak-, timeout- or oom- file, a non-zero exit that is not an interrupt,
# or any sanitizer line in the log) is counted and that target gets no
# more slices (libFuzzer stops at the first one); the artifact stays in
# the work directory to be turned into a regression test.  Each slice is
# also appended to $work/slices.tsv.  Exit status: 0 without findings, 1
# with.
#
# The whole script is one function, called on the last line together
# with `exit`: bash reads a script while it runs it, so editing this file
# under a running campaign would otherwise change what it does.
main() {
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
secs=
runs=0
goal=0
until=0
jobs=1
targets=
build=$top/build-fuzz
work=
save=0
record=1
nobuild=0
totals_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) secs=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--goal) goal=$2; shift 2 ;;
	--until) until=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--save-corpus) save=1; shift ;;
	--no-record) record=0; shift ;;
	--no-build) nobuild=1; shift ;;
	--totals) totals_only=1; shift ;;
	*) sed -n '/^#   scripts/,/^#   --no-record/p' "$0" >&2; exit 2 ;;
	esac
done
if [ "$totals_only" -eq 1 ]; then
	write_totals
	return 0
fi
[ -n "$secs" ] || { [ "$goal" -gt 0 ] && secs=600 || secs=60; }
case $until in
*:*) until=$(date -u -d "$until" +%s) ;;
esac
work=${work:-$build/campaign}
mkdir -p "$work"

if [ "$nobuild" -eq 0 ]; then
	if [ ! -f "$build/build.ninja" ]; then
		CC=clang meson setup "$build" -Dfuzz=enabled -Dtests=disabled \
			-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	fi
	nice -n 19 ninja -C "$build" $(ninja -C "$build" -t targets all |
		sed -n 's/^\(fuzz\/fuzz_[A-Za-z0-9_]*\): .*/\1/p' |
		sort -u) >/dev/null
	bindir=$build/fuzz
	commit="$(tree_commit)$(build_label "$build")"
else
	bindir=$work/bin
	if [ ! -f "$bindir/COMMIT" ]; then
		mkdir -p "$bindir"
		for f in "$build"/fuzz/fuzz_*; do
			# the targets, not meson's fuzz_*.p object directories
			[ -f "$f" ] && [ -x "$f" ] && cp -p "$f" "$bindir/"
		done
		echo "$(tree_commit)$(build_label "$build")" >"$bindir/COMMIT"
	fi
	commit=$(cat "$bindir/COMMIT")
fi
if [ -z "$targets" ]; then
	targets=$(cd "$bindir" && for f in fuzz_*; do
		[ -f "$f" ] && [ -x "$f" ] && echo "${f#fuzz_}"; done)
fi
for t in $targets; do
	[ -x "$bindir/fuzz_$t" ] || { echo "no target $t" >&2; exit 2; }
done

date=$(date -u +%Y-%m-%dT%H:%MZ)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
declare -A slices=() execs=() done_=() running=() base=() intr=()
for t in $targets; do
	slices[$t]=0; execs[$t]=0; done_[$t]=0
	base[$t]=$(to_date "$t")
	[ "$goal" -gt 0 ] && [ "${base[$t]}" -ge "$goal" ] && done_[$t]=1
	d=$work/$t
	mkdir -p "$d/corpus"
	[ -d "fuzz/corpus/$t" ] && cp -rn "fuzz/corpus/$t"/. "$d/corpus/" 2>/dev/null || true
done
stop=0
trap 'stop=1' INT TERM
echo "campaign $date: commit $commit, targets: $targets" \
	"(slice ${secs} s, $runs runs, goal $goal, jobs $jobs)"
while :; do
	# collect finished slices
	for t in "${!running[@]}"; do
		[ -f "$work/$t/rc" ] || continue
		finish_slice "$t"
		unset "running[$t]" "intr[$t]"
	done
	now=$(date +%s)
	if [ "$stop" -eq 0 ] && [ "$until" -gt 0 ] && [ "$now" -ge "$until" ]; then
		stop=1
	fi
	if [ "$stop" -eq 1 ]; then
		[ ${#running[@]} -eq 0 ] && break
		# one SIGTERM (libFuzzer prints its totals and exits; a background
		# job of a script ignores SIGINT), SIGKILL to the slice's group
		# if a slice is still there 60 s later
		for t in "${!running[@]}"; do
			if [ -z "${intr[$t]:-}" ]; then
				intr[$t]=$now
				# the fuzzer, not the group: time(1) must
				# live to write its CPU time
				pkill -TERM -P "$(cat "$work/$t/pgid")" 2>/dev/null || true
			elif [ $((now - intr[$t])) -gt 60 ]; then
				kill -KILL -- "-$(cat "$work/$t/pgid")" 2>/dev/null || true
			fi
		done
		sleep 1
		continue
	fi
	# start slices: fewest slices first, ties in list order
	while [ ${#running[@]} -lt "$jobs" ]; do
		pick=
		for t in $targets; do
			[ -n "${running[$t]:-}" ] && continue
			[ "${done_[$t]}" -eq 1 ] && continue
			if [ -z "$pick" ] || [ "${slices[$t]}" -lt "${slices[$pick]}" ]; then
				pick=$t
			fi
		done
		[ -n "$pick" ] || break
		start_slice "$pick"
		running[$pick]=1
	done
	[ ${#running[@]} -eq 0 ] && break
	sleep 2 || true
done

rows=
total_findings=0
for t in $targets; do
	[ "${slices[$t]}" -gt 0 ] || continue
	row=$(awk -F'\t' -v c="$date" -v t="$t" '
		$1 == c && $3 == t { s += $4; cpu += $5; e += $6; cov = $7
			ft = $8; corp = $9; f += $10 }
		END { printf "| %s | %s | %s | %d | %.1f | %d | %d | %s | %s | %s | %d |",
			c, cm, t, s, cpu, e, (cpu > 0 ? e / cpu : 0), cov, ft,
			corp, f }' cm="$commit" "$work/slices.tsv")
	rows="$rows$row
"
	f=$(echo "$row" | awk -F'|' '{ gsub(/ /, "", $12); print $12 }')
	total_findings=$((total_findings + f))
	if [ "$save" -eq 1 ]; then
		mkdir -p "fuzz/corpus/$t"
		nice -n 19 "$bindir/fuzz_$t" -merge=1 -timeout=120 "fuzz/corpus/$t" \
			"$work/$t/corpus" >"$work/$t/merge.log" 2>&1 || true
	fi
done
printf '%s' "$rows"
if [ "$record" -eq 1 ] && [ -n "$rows" ]; then
	printf '%s' "$rows" >>docs/fuzzing.md
	echo "appended $(printf '%s' "$rows" | grep -c .) rows to docs/fuzzing.md"
	write_totals
fi
[ "$total_findings" -eq 0 ]
}

# the commit of the source tree, `+` if it has local changes
tree_commit() {
	local c
	c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null |
		head -c1)" ] && c="$c+"
	echo "$c"
}

# what fuzz build $1 is when it is not the default (ASan + UBSan, the
# library with comparison tracing), appended to the commit column of the
# rows so that rows from a faster build say what they are: " ubsan" for
# -Dfuzz_sanitize=undefined, " no-cmp" for -Dfuzz_trace_cmp=false
build_label() {
	local san cmp
	read -r san cmp < <(meson introspect --buildoptions "$1" 2>/dev/null |
		python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o.get("fuzz_sanitize", ""), o.get("fuzz_trace_cmp", True))' \
		2>/dev/null || true)
	case $san in
	'' | address,undefined | undefined,address) ;;
	undefined) printf ' ubsan' ;;
	*) printf ' %s' "$(echo "$san" | tr , +)" ;;
	esac
	[ "$cmp" = False ] && printf ' no-cmp'
	echo
}

# executions to date of target $1: the sum of its rows in docs/fuzzing.md
to_date() {
	awk -F'|' -v t="$1" '$2 ~ /^ [0-9-]+T/ { x = $4; gsub(/ /, "", x)
		if (x == t) { e = $7; gsub(/ /, "", e); s += e } }
		END { printf "%d", s }' docs/fuzzing.md
}

start_slice() {
	local t=$1 d=$work/$1 r n
	slices[$t]=$((slices[$t] + 1))
	n=${slices[$t]}
	r=$runs
	if [ "$goal" -gt 0 ]; then
		r=$((goal - base[$t] - execs[$t]))
		[ "$runs" -gt 0 ] && [ "$runs" -lt "$r" ] && r=$runs
	fi
	rm -f "$d/rc" "$d/pgid"
	ls "$d" | grep -cE '^(crash|leak|timeout|oom)-' >"$d/before" || true
	date +%s >"$d/started"
	echo "-- fuzz_$t slice $n: ${secs} s, $r runs ($(date -u +%H:%M:%S))"
	(
		# a signal to this subshell must not lose the slice: caught
		# (reset to default in the fuzzer), and wait again until the
		# fuzzer is gone
		trap ':' INT TERM HUP
		cd "$d"
		setsid /usr/bin/time -f '%U %S' -o "$d/cpu" nice -n 19 \
			"$bindir/fuzz_$t" -max_total_time="$secs" \
			$([ "$r" -gt 0 ] && echo "-runs=$r") -timeout=10 \
			-rss_limit_mb=4096 -print_final_stats=1 corpus \
			>"$d/log" 2>&1 </dev/null &
		pid=$!
		echo $pid >"$d/pgid"
		rc=0
		wait $pid || rc=$?
		while kill -0 $pid 2>/dev/null; do
			rc=0
			wait $pid || rc=$?
		done
		echo $rc >"$d/rc"
	) &
	while [ ! -s "$d/pgid" ]; do sleep 0.1; done
}

finish_slice() {
	local t=$1 d=$work/$1 rc e last cov ft corp cpu before after found wall
	rc=$(cat "$d/rc")
	e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -1)
	e=${e:-0}
	last=$(grep -E '^#[0-9]+.*cov: ' "$d/log" | tail -1 || true)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(ls "$d/corpus" | wc -l)
	cpu=$(awk 'NF == 2 {printf "%.1f", $1 + $2}' "$d/cpu" 2>/dev/null)
	before=$(cat "$d/before")
	after=$(ls "$d" | grep -cE '^(crash|leak|timeout|oom)-' || true)
	found=$((after - before))
	# 72: libFuzzer's exit after SIGTERM (our --until / stop), not a finding
	if [ "$rc" -eq 72 ] && grep -q 'libFuzzer: run interrupted' "$d/log"; then
		rc=0
	fi
	# killed by our stop before its handler was there, or SIGKILLed
	# after 60 s: not a finding (its executions are lost)
	if [ -n "${intr[$t]:-}" ] && { [ "$rc" -eq 143 ] || [ "$rc" -eq 137 ]; }; then
		rc=0
	fi
	if [ "$found" -eq 0 ] && { [ "$rc" -ne 0 ] ||
	   grep -qE 'runtime error:|ERROR: [A-Za-z]*Sanitizer|SUMMARY: [A-Za-z]*Sanitizer' "$d/log"; }; then
		found=1
	fi
	wall=$(($(date +%s) - $(cat "$d/started")))
	execs[$t]=$((execs[$t] + e))
	cp "$d/log" "$d/log.${slices[$t]}"
	printf '%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%d\t%d\n' "$date" "$commit" \
		"$t" "$wall" "${cpu:-0}" "$e" "${cov:-?}" "${ft:-?}" "$corp" \
		"$found" >>"$work/slices.tsv"
	echo "   fuzz_$t slice ${slices[$t]}: executions $e (to date" \
		"$((base[$t] + execs[$t]))), cov ${cov:-?}, ft ${ft:-?}," \
		"corpus $corp, findings $found, cpu ${cpu:-0} s"
	if [ "$found" -gt 0 ]; then
		grep -E 'fuzz_machine:|SUMMARY|Test unit written' "$d/log" | tail -3 || true
		done_[$t]=1
	elif [ "$goal" -gt 0 ]; then
		[ $((base[$t] + execs[$t])) -ge "$goal" ] && done_[$t]=1
	else
		done_[$t]=1
	fi
	return 0
}

# rewrite the table between the "to-date" markers of docs/fuzzing.md:
# per target the sum of executions and CPU seconds over all rows, the
# number of rows and of findings
write_totals() {
	local tmp
	tmp=$(mktemp)
	awk -F'|' '
		$2 ~ /^ [0-9-]+T/ { t = $4; gsub(/ /, "", t)
			if (!(t in e)) order[n++] = t
			x = $7; gsub(/ /, "", x); e[t] += x
			x = $6; gsub(/ /, "", x); c[t] += x
			x = $12; gsub(/ /, "", x); f[t] += x; r[t]++ }
		END { for (i = 0; i < n; i++) { t = order[i]
			printf "%s\t%d\t%.0f\t%d\t%d\n", t, e[t], c[t], r[t], f[t] } }
		' docs/fuzzing.md | sort -t"$(printf '\t')" -k2,2nr |
	awk -F'\t' 'function g(x, s) { s = ""; while (x >= 1000) {
			s = sprintf(",%03d", x % 1000) s; x = int(x / 1000) }
			return x s }
		BEGIN {
		print "| target | executions to date | cpu s | rows | findings |"
		print "|---|---|---|---|---|" }
		{ printf "| %s | %s | %s | %d | %d |\n", $1, g($2), g($3), $4, $5 }' \
		>"$tmp.table"
	awk -v tf="$tmp.table" '
		/<!-- to-date begin/ { print; while ((getline l < tf) > 0) print l
			skip = 1; next }
		/<!-- to-date end/ { skip = 0 }
		!skip' docs/fuzzing.md >"$tmp"
	cat "$tmp" >docs/fuzzing.md
	rm -f "$tmp" "$tmp.table"
}

main "$@"; exit $?
