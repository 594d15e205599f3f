#!/bin/bash
# diff-campaign.sh - a differential-testing campaign of the software backend
# against KVM over every class, for issue #11's count (docs/difftest.md).
#
#   scripts/diff-campaign.sh [-b BUILD] [-m MINUTES] [-j JOBS] [-s SEED0]
#                            [-t TOTAL] [-o DOC] [-l LOGDIR] [-c SYSCASES]
#   scripts/diff-campaign.sh -R -l LOGDIR [-o DOC]   (only the table, from a
#                            campaign that was stopped)
#
# Runs rounds of chunks until TOTAL CPL3 sequences are compared or MINUTES
# have passed (whichever first), JOBS chunks at a time, every run under
# `nice`.  A round is: difftest --batch (8192 per VM run) of 4 chunks in
# 64-bit mode, 2 --fp, 2 --x87, 1 in --mode 32 (which the nested KVM of our
# machines emulates, so it is slower there), then sysdiff mmu and seg
# (compared against KVM, one VM run per case: CPL0 is emulated by the host
# kernel there; SYSCASES cases per chunk, default 300) and sysdiff priv
# --only-soft (soft alone: "no stop, architectural outcome", counted
# apart, never as compared).  Cases sysdiff does not compare (oracle-
# incapable, wrote the live paging structures) are summed per class in
# LOGDIR/apart.txt.  Every chunk
# has its own seed (SEED0 + chunk number) and its output is kept in LOGDIR;
# any mismatch line is copied into LOGDIR/mismatches.txt.  At the end one
# row per class is appended to DOC (class, compared, mismatches, seeds,
# commit, date), with a same-run rate of the batched mode against one VM
# run per sequence (difftest without --batch, 2000 cases, just before).
set -eu

build=build
minutes=60
jobs=1
seed0=$(( $(date +%s) % 100000 * 1000 ))
total=100000000
doc=docs/difftest.md
logdir=
chunk=${DIFF_CHUNK:-262144}
report_only=
syscases=300

while getopts b:m:j:s:t:o:l:c:R opt; do
	case $opt in
	b) build=$OPTARG ;;
	m) minutes=$OPTARG ;;
	j) jobs=$OPTARG ;;
	s) seed0=$OPTARG ;;
	t) total=$OPTARG ;;
	o) doc=$OPTARG ;;
	l) logdir=$OPTARG ;;
	c) syscases=$OPTARG ;;
	R) report_only=1 ;;
	*) sed -n '2,24p' "$0" >&2; exit 2 ;;
	esac
done
# the table of a campaign's results (class seed cases mismatches kind)
report() {
	results=$1 commit=$2 single=$3 batched=$4
	today=$(date -u +%Y-%m-%d)
	[ -s "$doc" ] || printf '# Differential-testing campaigns\n\nSee scripts/diff-campaign.sh.\n' >"$doc"
	{
	echo
	echo "### Campaign $today, commit $commit ($(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1))"
	echo
	echo "Same-run rate, 64-bit CPL3, cases per CPU second: one VM run per sequence $single, batched $batched."
	echo
	echo "| class | kind | sequences | mismatches | seeds | commit |"
	echo "|---|---|---:|---:|---|---|"
	for cls in 64 32 fp x87 mmu seg priv; do
		awk -v c="$cls" -v commit="$commit" '
			$1 == c { n += $3; m += $4; kind = $5
				  if (lo == "" || $2 < lo) lo = $2; if ($2 > hi) hi = $2; cnt++ }
			END { if (cnt) printf "| %s | %s | %d | %d | %d runs in %d-%d | %s |\n",
				c, kind, n, m, cnt, lo, hi, commit }' "$results"
	done
	awk '$5 == "compared" { n += $3; m += $4 } END {
		printf "| **all compared** | | %d | %d | | |\n", n, m }' "$results"
	apart=$(dirname "$results")/apart.txt
	if [ -s "$apart" ]; then
		echo
		awk '$1 != "priv" { i[$1] += $3; p[$1] += $4 } END {
			printf "Not compared (sysdiff):"
			for (c in i) printf " %s %d oracle-incapable, %d wrote live paging structures;", c, i[c], p[c]
			printf "\n" }' "$apart"
	fi
	} >>"$doc"
}

if [ -n "$report_only" ]; then
	[ -n "$logdir" ] && [ -s "$logdir/results.txt" ] || { echo "-R needs -l LOGDIR of a campaign" >&2; exit 2; }
	read -r commit single batched <"$logdir/meta"
	report "$logdir/results.txt" "$commit" "$single" "$batched"
	echo "table appended to $doc"
	exit 0
fi

dt=$build/tests/diff/difftest
sd=$build/tests/diff/sysdiff
[ -x "$dt" ] && [ -x "$sd" ] || { echo "build $build first" >&2; exit 2; }
[ -e /dev/kvm ] || { echo "no /dev/kvm: nothing to compare against" >&2; exit 77; }
logdir=${logdir:-$(mktemp -d /tmp/diff-campaign.XXXXXX)}
mkdir -p "$logdir"
results=$logdir/results.txt   # class seed cases mismatches kind
: >"$results"
: >"$logdir/apart.txt"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
end=$(( $(date +%s) + minutes * 60 ))
echo "campaign: logs in $logdir, until $(date -u -d @$end +%H:%M) UTC or $total sequences"

# one chunk: $1 class, $2 seed; appends "class seed cases mismatches kind"
run_chunk() {
	cls=$1 seed=$2 log=$logdir/$1-$2.log
	case $cls in
	64) nice -n 10 "$dt" --mode 64 --batch 8192 --cases "$chunk" --seed "$seed" >"$log" 2>&1 || true ;;
	32) nice -n 10 "$dt" --mode 32 --batch 8192 --cases $((chunk / 4)) --seed "$seed" >"$log" 2>&1 || true ;;
	fp) nice -n 10 "$dt" --mode 64 --fp --batch 8192 --cases "$chunk" --seed "$seed" >"$log" 2>&1 || true ;;
	x87) nice -n 10 "$dt" --mode 64 --x87 --batch 8192 --cases "$chunk" --seed "$seed" >"$log" 2>&1 || true ;;
	mmu|seg) nice -n 10 "$sd" --class "$cls" --cases "$syscases" --seed "$seed" >"$log" 2>&1 || true ;;
	priv) nice -n 10 "$sd" --class priv --only-soft --cases 20000 --seed "$seed" >"$log" 2>&1 || true ;;
	esac
	grep -h 'MISMATCH\|BATCH FAILED' "$log" | sed "s|^|$cls seed $seed: |" >>"$logdir/mismatches.txt" || true
	case $cls in
	mmu|seg|priv)
		# "sysdiff class C seed S: N compared, ..., M mismatches"
		line=$(grep '^sysdiff class' "$log" | tail -1)
		n=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9]*\) compared.*/\1/p')
		m=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9]*\) mismatches.*/\1/p')
		kind=compared
		inc=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9]*\) oracle-incapable.*/\1/p')
		ptw=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9]*\) wrote live paging.*/\1/p')
		echo "$cls $seed ${inc:-0} ${ptw:-0}" >>"$logdir/apart.txt"
		[ "$cls" = priv ] && kind=soft-only ;;
	*)
		line=$(grep 'cases compared in' "$log" | tail -1)
		n=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) cases.*/\1/p')
		m=$(printf '%s\n' "$line" | sed -n 's/.*), \([0-9]*\) mismatches.*/\1/p')
		kind=compared ;;
	esac
	if [ -z "$n" ] || [ -z "$m" ]; then
		# the run died without its summary: count it as a failure
		echo "$cls seed $seed: no summary line (see $log)" >>"$logdir/mismatches.txt"
		n=0 m=1
	fi
	echo "$cls $seed $n $m $kind" >>"$results"
}

# the same-run rate: one VM run per sequence against the batched mode
rate() {
	"$@" 2>&1 | sed -n 's/^rate: [^,]*, [0-9]* cases\/s wall, \([0-9]*\) cases per CPU second.*/\1/p'
}
single=$(rate nice -n 10 "$dt" --mode 64 --cases 2000 --seed "$seed0")
batched=$(rate nice -n 10 "$dt" --mode 64 --cases 32768 --batch 8192 --seed "$seed0")
echo "rate (64-bit, per CPU second): one VM run per sequence $single, batched $batched"
echo "$commit $single $batched" >"$logdir/meta"

compared() {
	awk '$5 == "compared" && $1 != "mmu" && $1 != "seg" { s += $3 } END { print s + 0 }' "$results"
}

k=0
while [ "$(date +%s)" -lt "$end" ] && [ "$(compared)" -lt "$total" ]; do
	for cls in 64 64 64 64 fp fp x87 x87 32 mmu seg priv; do
		[ "$(date +%s)" -lt "$end" ] || break
		k=$((k + 1))
		run_chunk "$cls" $((seed0 + k)) &
		# at most $jobs chunks at once
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
			wait -n || true
		done
	done
done
wait

report "$results" "$commit" "$single" "$batched"
echo "campaign done: $(compared) CPL3 sequences compared; table appended to $doc; logs in $logdir"
if [ -s "$logdir/mismatches.txt" ]; then
	echo "MISMATCHES:"
	cat "$logdir/mismatches.txt"
	exit 1
fi
