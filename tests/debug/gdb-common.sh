# Shared by the gdb interop scripts (sourced, not run): a scratch
# directory removed on exit, vmm-run started with its gdb stub on a unix
# socket, the wait for the socket, the transcript and the checks.
#   gdb_start ARGS...   vmm-run ARGS... --gdb unix:$dir/sock in the
#                       background ($pid); returns once it listens
#   gdb_finish          waits for vmm-run ($st) after gdb ($gdbst),
#                       prints the transcript $dir/gdb.out
#   expect REGEX        a line of the transcript must match; else fail=1
command -v gdb >/dev/null 2>&1 || { echo "gdb not installed"; exit 77; }
dir=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
fail=0

gdb_start() {
	"$@" --gdb "unix:$dir/sock" 2>"$dir/vmm.err" &
	pid=$!
	i=0
	while [ ! -S "$dir/sock" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { echo "vmm-run did not listen"; cat "$dir/vmm.err"; exit 1; }
		sleep 0.05
	done
}

gdb_finish() {
	gdbst=$?
	wait $pid
	st=$?
	pid=
	echo "--- gdb transcript ($backend)"
	cat "$dir/gdb.out"
	echo "--- vmm-run exit status $st, gdb $gdbst"
}

expect() {
	grep -q -- "$1" "$dir/gdb.out" || { echo "MISSING: $1"; fail=1; }
}
