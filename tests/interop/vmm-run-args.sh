#!/bin/sh
# vmm-run's own failures: every bad argument of issue #13 item 6 (and the
# device options of #12) gives one line on stderr naming the argument, an
# EVEN exit status (odd ones are the guest's debug-exit statuses), and
# creates nothing in the current directory.
# Usage: vmm-run-args.sh VMM-RUN GUEST-IMAGE
set -u
vmm_run=$(realpath "$1")
guest=$(realpath "$2")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fails=0
: >empty
mkdir adir
printf 'x' >tiny

# check EXPECTED-STATUS WORD-IN-MESSAGE ARGS...
check() {
	want=$1 word=$2
	shift 2
	"$vmm_run" "$@" >out.txt 2>err.txt
	st=$?
	lines=$(wc -l <err.txt)
	after=$(ls | sort | tr '\n' ' ')
	ok=1
	[ "$st" -eq "$want" ] || ok=0
	[ $((st % 2)) -eq 0 ] || ok=0
	[ "$lines" -eq 1 ] || ok=0
	grep -q -- "$word" err.txt || ok=0
	[ "$after" = "adir empty err.txt out.txt tiny " ] || ok=0
	if [ $ok = 1 ]; then
		echo "ok   [$st] $*: $(cat err.txt)"
	else
		echo "FAIL [$st, want $want, $lines lines, files: $after] $*:"
		sed 's/^/     /' err.txt | head -5
		fails=$((fails + 1))
	fi
}

k="--kernel $guest --backend soft"
check 2 "memory 0"          $k -m 0
check 2 "memory 1T"         $k -m 1T
check 2 "memory 12Mxyz"     $k -m 12Mxyz
check 2 "17179869185G"      $k -m 17179869185G
check 2 "memory 100000G"    $k -m 100000G
check 2 "cpus 0"            $k --cpus 0
check 2 "cpus 2x"           $k --cpus 2x
check 2 "at most\|1..64"    $k --cpus 65
check 2 "load-addr junk"    $k --load-addr junk
check 2 "extra"             $k extra
check 2 "timeout abc"       $k --timeout abc
check 2 "timeout 99999999999" $k --timeout 99999999999
check 2 "gdb 99999"         $k --gdb 99999
check 2 "gdb tcp:0:"         $k --gdb tcp:0
check 2 "gdb foo"           $k --gdb foo
check 2 "backend foo"       $k --backend foo
check 2 "mode bogus"        $k --mode bogus
check 2 "format coff"       $k --format coff
check 2 "cpu pentium"       $k --cpu pentium
check 2 "no-such-option"    $k --no-such-option
check 2 "kernel"            --backend soft
check 2 "disk nonexistent.img" $k --disk nonexistent.img
check 2 "disk adir"         $k --disk adir
check 2 "disk tiny"         $k --disk tiny
check 2 "disk empty,zz"     $k --disk empty,zz
check 2 "net tap"           $k --net tap
check 2 "net bridge=x"      $k --net bridge=x
check 2 "console vga"       $k --console vga
check 2 "transport ccw"     $k --transport ccw
check 2 "needs an argument" $k --disk
check 4 "kernel /tmp"       --backend soft --kernel /tmp
check 4 "empty"             --backend soft --kernel empty
check 4 "nonexistent"       --backend soft --kernel nonexistent
check 4 "initrd nonexistent" $k --initrd nonexistent
if [ "$(id -u)" != 0 ]; then
	check 6 "tap=vmmrun0"  $k --net tap=vmmrun0
elif [ -e /dev/net/tun ]; then
	# a name the kernel refuses even for root
	check 6 "tap=bad/name" $k --net tap=bad/name
fi
# status 0 help, and the guest's own status still reaches the caller
"$vmm_run" --help >out.txt 2>&1 && grep -q "exit status" out.txt ||
	{ echo "FAIL --help"; fails=$((fails + 1)); }
echo "$fails failures"
[ $fails -eq 0 ]
