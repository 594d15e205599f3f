#!/bin/sh
# The README's demo: install what is needed, build, and run the bundled
# 64-bit demo guest on the best available backend.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "== vmm-run --kernel tests/guests/long64 (backend: auto) =="
set +e
./build/examples/vmm-run --stats --kernel build/tests/guests/long64
status=$?
set -e
echo "== guest exit status: $status =="
