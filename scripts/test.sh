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
meson setup "$out/main" -Dtests=enabled >/dev/null
ninja -C "$out/main"
meson test -C "$out/main" --print-errorlogs --num-processes 2

echo "== ASan + UBSan =="
meson setup "$out/asan" -Dtests=enabled -Db_sanitize=address,undefined \
	-Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
ninja -C "$out/asan"
# sanitizers slow the software backend's long guests several times
VMM_TEST_WATCHDOG=150 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C "$out/asan" --print-errorlogs --num-processes 2 \
	--timeout-multiplier 4 \
	--no-suite bench --no-suite slow

echo "== fuzz targets, bounded (${VMM_FUZZ_SECONDS:-30} s each) =="
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
	(cd "$work" && "$f" -max_total_time="${VMM_FUZZ_SECONDS:-30}" \
		-print_final_stats=1 corpus 2>&1 | tail -n 4)
	# libFuzzer exits non-zero and leaves crash-* on a finding
	if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* >/dev/null 2>&1; then
		echo "fuzz finding in $name: $(ls "$work" | grep -E 'crash|leak|timeout')"
		exit 1
	fi
done

echo "== install and use from outside the tree =="
DESTDIR="$out/stage" meson install -C "$out/main" --quiet
./tests/install/check-install.sh "$out/stage" "$(meson introspect "$out/main" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')"
echo "== all tests passed =="
