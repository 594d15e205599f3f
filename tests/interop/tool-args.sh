#!/bin/sh
# Strict arguments of the other tools (issue #13 item 6): vmm-bench,
# vmm-migrate, vhost-user-blk and sandbox answer each bad argument with
# exit status 2 and one line on stderr naming it, start nothing and create
# nothing in the current directory; --help lists every option.
# Usage: tool-args.sh VMM-BENCH VMM-MIGRATE VHOST-USER-BLK SANDBOX
set -u
bench=$(realpath "$1")
migrate=$(realpath "$2")
vublk=$(realpath "$3")
sandbox=$(realpath "$4")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fails=0
printf 'x' >img

# check WORD-IN-MESSAGE TOOL ARGS...: status 2, one stderr line with WORD
check() {
	word=$1
	shift
	timeout 20 "$@" >out.txt 2>err.txt
	st=$?
	lines=$(wc -l <err.txt)
	after=$(ls | sort | tr '\n' ' ')
	ok=1
	[ "$st" -eq 2 ] || ok=0
	[ "$lines" -eq 1 ] || ok=0
	grep -q -- "$word" err.txt || ok=0
	[ "$after" = "err.txt img out.txt " ] || ok=0
	if [ $ok = 1 ]; then
		echo "ok   [$st] $(basename "$1") ${*#"$1"}: $(cat err.txt)"
	else
		echo "FAIL [$st, $lines lines, files: $after] $*:"
		sed 's/^/     /' err.txt | head -5
		fails=$((fails + 1))
	fi
}

# help TOOL OPTION...: --help exits 0 and names every OPTION
help() {
	tool=$1
	shift
	"$tool" --help >out.txt 2>&1
	st=$?
	missing=
	for o in "$@"; do
		grep -q -- "$o" out.txt || missing="$missing $o"
	done
	if [ "$st" -eq 0 ] && [ -z "$missing" ]; then
		echo "ok   $(basename "$tool") --help lists $*"
	else
		echo "FAIL $(basename "$tool") --help (status $st) misses:$missing"
		fails=$((fails + 1))
	fi
	rm -f out.txt
}

check "unknown bench 'no-such-bench'" "$bench" no-such-bench
check "unknown bench 'vm-entry2'"     "$bench" --trials 1 vm-entry2
check "--trials 0"                 "$bench" --trials 0
check "--trials 3x"                "$bench" --trials 3x
check "--trials 99999999999"       "$bench" --trials 99999999999
check "--iters junk"               "$bench" --iters junk
check "--backend foo"              "$bench" --backend foo
check "--trials needs a value"     "$bench" --trials
check "unknown option --bogus"     "$bench" --bogus
help "$bench" --trials --iters --backend --json

check "--after 5s"                 "$migrate" send /tmp/x --after 5s
check "--downtime 0"               "$migrate" send /tmp/x --downtime 0
check "--rounds -1"                "$migrate" send /tmp/x --rounds -1
check "--timeout abc"              "$migrate" receive /tmp/x --timeout abc
check "--backend foo"              "$migrate" receive /tmp/x --backend foo
check "mode 'sned'"                   "$migrate" sned /tmp/x
check "unexpected argument 'extra'"   "$migrate" send /tmp/x extra
check "expected receive|send"         "$migrate"
check "unknown option --bogus"     "$migrate" --bogus send /tmp/x
check "TCP without authentication" "$migrate" send 127.0.0.1:1
check "TCP without authentication" "$migrate" receive 127.0.0.1:1
check "exclude each other"         "$migrate" send 127.0.0.1:1 --key-file img --insecure
check "--key-file no-such-key"     "$migrate" receive 127.0.0.1:1 --key-file no-such-key
check "16..4096 bytes"             "$migrate" send /tmp/x --key-file img
help "$migrate" --backend --snapshot --after --downtime --rounds --timeout \
	--key-file --insecure --zstd --help receive send ADDR

check "--sessions 0"               "$vublk" --socket s --image img --sessions 0
check "--sessions 2x"              "$vublk" --socket s --image img --sessions 2x
check "--socket PATH is required"  "$vublk" --image img
check "--image FILE"               "$vublk" --socket s
check "--rng takes no --image"     "$vublk" --socket s --rng --image img
check "unexpected argument 'extra'"   "$vublk" --socket s --image img extra
check "--socket needs a value"     "$vublk" --socket
check "unknown option --bogus"     "$vublk" --bogus
help "$vublk" --socket --image --readonly --rng --sessions --verbose

check "--mem 0"                    "$sandbox" --mem 0 img
check "--mem 12Mxyz"               "$sandbox" --mem 12Mxyz img
check "--mem 64G"                  "$sandbox" --mem 64G img
check "--time-ms abc"              "$sandbox" --time-ms abc img
check "--calls 0"                  "$sandbox" --calls 0 img
check "--backend foo"              "$sandbox" --backend foo img
check "no IMAGE"                      "$sandbox"
check "unexpected argument 'extra'"   "$sandbox" img img extra
help "$sandbox" --backend --mem --time-ms --calls --seccomp --quiet

[ "$fails" -eq 0 ] && echo "all passed" || echo "$fails failed"
[ "$fails" -eq 0 ]
