#!/bin/sh
# The README's test command, and what CI runs: install what is needed,
# build from scratch, run the whole suite, then run it again under
# ASan+UBSan, then check that an installed libvmm is usable from outside.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh --test
top=$(pwd)
out=${VMM_BUILD_ROOT:-$top/build-ci}
rm -rf "$out"
mkdir -p "$out"

# The stock Debian kernel for the bzImage test (optional: skipped if absent).
if k=$(./scripts/fetch-kernel.sh "$out/kernel" 2>/dev/null); then
	export VMM_TEST_BZIMAGE="$k"
fi

echo "== build and test =="
# gcc with -Werror on the project's warning set (warning_level=2 and the
# flags of meson.build): the -Werror leg of issue 13, at no extra cost.
CC=${CC:-gcc} meson setup "$out/main" -Dtests=enabled -Dwerror=true >/dev/null
ninja -C "$out/main"
meson test -C "$out/main" --print-errorlogs --num-processes 2

# Sanitizer and fuzz legs (owned by the reliability work, issue 18):
# UBSan is fatal everywhere: compiled with -fno-sanitize-recover=all and
# run with halt_on_error=1, so a report fails the test that produced it.
san_opts_asan=detect_leaks=1:abort_on_error=1
san_opts_ubsan=halt_on_error=1:print_stacktrace=1
leg_start() { leg_t0=$(date +%s); echo "== $1 =="; }
leg_end() { echo "== $1 took $(( $(date +%s) - leg_t0 )) s =="; }

leg_start "ASan + UBSan (gcc)"
meson setup "$out/asan" -Dtests=enabled -Db_sanitize=address,undefined \
	-Db_lundef=false -Dbuildtype=debugoptimized \
	-Dc_args=-fno-sanitize-recover=all >/dev/null
ninja -C "$out/asan"
# sanitizers slow the software backend's long guests several times
VMM_TEST_WATCHDOG=150 \
ASAN_OPTIONS=$san_opts_asan UBSAN_OPTIONS=$san_opts_ubsan \
	meson test -C "$out/asan" --print-errorlogs --num-processes 2 \
	--timeout-multiplier 4 \
	--no-suite bench --no-suite slow
leg_end "ASan + UBSan (gcc)"

# clang at -O1 schedules registers differently from gcc -O2 (it found the
# soft backend's setjmp bug): the whole suite minus KVM, on the soft backend.
leg_start "ASan + UBSan (clang -O1, soft backend)"
CC=clang meson setup "$out/clang-asan" -Dtests=enabled \
	-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=plain \
	-Dc_args="-O1 -g -fno-sanitize-recover=all" >/dev/null
ninja -C "$out/clang-asan"
VMM_TEST_WATCHDOG=150 \
ASAN_OPTIONS=$san_opts_asan UBSAN_OPTIONS=$san_opts_ubsan \
	meson test -C "$out/clang-asan" --print-errorlogs --num-processes 2 \
	--timeout-multiplier 4 \
	--no-suite bench --no-suite slow --no-suite kvm
leg_end "ASan + UBSan (clang -O1, soft backend)"

# Each target gets VMM_FUZZ_SECONDS (CI: 12 s; the fuzz build's archive is
# compiled once for all targets).  A finding is a crash/leak/timeout file,
# a non-zero exit, or any sanitizer line in the output.
leg_start "fuzz targets, bounded (${VMM_FUZZ_SECONDS:-12} s each)"
CC=clang meson setup "$out/fuzz" -Dfuzz=enabled -Dtests=disabled \
	-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
# only the fuzz targets: the rest of the tree is built and tested above
ninja -C "$out/fuzz" $(ninja -C "$out/fuzz" -t targets all |
	sed -n 's/^\(fuzz\/fuzz_[A-Za-z0-9_]*\): .*/\1/p' | sort -u)
mkdir -p "$out/fuzzwork"
for f in "$out"/fuzz/fuzz/fuzz_*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	name=$(basename "$f")
	seeds="$top/fuzz/corpus/${name#fuzz_}"
	work="$out/fuzzwork/$name"
	mkdir -p "$work/corpus"
	[ -d "$seeds" ] && cp -r "$seeds"/. "$work/corpus/" 2>/dev/null || true
	echo "-- $name"
	rc=0
	(cd "$work" && ASAN_OPTIONS=$san_opts_asan \
		UBSAN_OPTIONS=$san_opts_ubsan \
		"$f" -max_total_time="${VMM_FUZZ_SECONDS:-12}" -timeout=10 \
		-print_final_stats=1 corpus >"$work/log" 2>&1) || rc=$?
	grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec' \
		"$work/log" || true
	# libFuzzer exits non-zero and leaves crash-* on a finding
	if [ "$rc" -ne 0 ] ||
	   ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* >/dev/null 2>&1 ||
	   grep -qE 'runtime error:|ERROR: [A-Za-z]*Sanitizer|SUMMARY: [A-Za-z]*Sanitizer|WARNING: [A-Za-z]*Sanitizer' \
		"$work/log"; then
		tail -n 60 "$work/log"
		echo "fuzz finding in $name (exit $rc): $(ls "$work" | grep -E 'crash|leak|timeout' || true)"
		exit 1
	fi
done
leg_end "fuzz targets, bounded (${VMM_FUZZ_SECONDS:-12} s each)"

# ---- Issue 13 item 8: legs that never ran before ----------------------
# (the -Werror leg is the main build above: -Dwerror=true with gcc.)
leg_start "include layering (scripts/check-layering.sh)"
./scripts/check-layering.sh
leg_end "include layering (scripts/check-layering.sh)"

# One build without the KVM backend and without liburing: the unit and
# software-backend suites run without KVM, and the virtio devices run on
# the event loop's poll() implementation (src/io/evloop.c uses poll() when
# the library is built without liburing, or when the ring cannot be set up
# at run time).  One build for both keeps CI well under 30 minutes.
# The same build is the interpreter-only one (-Djit=disabled: the suite must
# pass without the soft backend's JIT tier) and leaves the add-ons out
# (-Dgdb=disabled -Dvhost_user_server=disabled: their calls stay in the ABI,
# which abi_symbols checks, and return -ENOTSUP).
leg_start "no KVM, poll() event loop, no JIT, no add-ons"
meson setup "$out/nokvm" -Dtests=enabled -Dkvm=disabled -Dio_uring=disabled \
	-Djit=disabled -Dgdb=disabled -Dvhost_user_server=disabled \
	-Dbench=disabled >/dev/null
ninja -C "$out/nokvm"
meson test -C "$out/nokvm" --print-errorlogs --num-processes 2 \
	--suite unit --suite soft --suite virtio --no-suite kvm --no-suite slow
leg_end "no KVM, poll() event loop, no JIT, no add-ons"
# The core alone: every add-on device model left out (-Ddevices=disabled;
# their calls stay in the ABI and return -ENOTSUP), with -Werror.  Only the
# unit suite (abi_symbols, abi_selftest and layering included) applies.
leg_start "core only (-Ddevices=disabled -Dkvm=disabled, -Werror)"
meson setup "$out/nodev" -Dtests=enabled -Dwerror=true -Ddevices=disabled \
	-Dkvm=disabled -Dbench=disabled >/dev/null
ninja -C "$out/nodev"
meson test -C "$out/nodev" --print-errorlogs --num-processes 2 \
	--suite unit --no-suite slow
leg_end "core only (-Ddevices=disabled -Dkvm=disabled, -Werror)"
# ---- end of issue 13 item 8 legs ----------------------------------------

echo "== install and use from outside the tree =="
DESTDIR="$out/stage" meson install -C "$out/main" --quiet
./tests/install/check-install.sh "$out/stage" "$(meson introspect "$out/main" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')"
echo "== all tests passed =="
