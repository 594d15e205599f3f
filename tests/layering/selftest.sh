#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/check-layering.sh passes on this tree and fails on a copy of it
# with one injected violation of each rule (each run on a fresh copy).
set -eu
check=$1
srcroot=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

"$check" "$srcroot" || { echo "FAIL: the tree itself violates a rule"; exit 1; }

# inject FILE LINE EXPECT: copy the tree's src/, append LINE to FILE
# (created if absent), expect a failure whose output contains EXPECT.
inject() {
	rm -rf "$tmp/t"
	mkdir -p "$tmp/t"
	cp -r "$srcroot/src" "$tmp/t/src"
	mkdir -p "$(dirname "$tmp/t/$1")"
	printf '%s\n' "$2" >>"$tmp/t/$1"
	if out=$("$check" "$tmp/t" 2>&1); then
		echo "FAIL: '$2' in $1 was accepted"
		fail=1
	elif ! printf '%s\n' "$out" | grep -q "$3"; then
		echo "FAIL: '$2' in $1: expected '$3', got:"
		printf '%s\n' "$out"
		fail=1
	else
		echo "ok: $1: $(printf '%s\n' "$out" | head -n 1)"
	fi
}

inject src/dev/uart16550.c '#include "cpu/soft/soft.h"' 'a device includes the CPU backends'
inject src/dev/virtio/blk.c '#include "../../cpu/kvm/kvm.h"' 'a device includes the CPU backends'
inject src/core/vm.c '#include <linux/kvm.h>' 'only src/cpu/kvm may include'
inject src/dev/vfio/vfio_pci.c '#include <linux/kvm.h>' 'only src/cpu/kvm may include'
inject src/core/bus.c '#include "dev/direct.h"' 'the core includes a device'
inject src/mem/guest_mem.c '#include "core/vm_impl.h"' 'src/mem includes a layer above it'
inject src/mem/pagewalk.c '#include "io/evloop.h"' 'src/mem includes a layer above it'
inject src/migrate/migrate.c '#include "cpu/soft/soft.h"' 'src/migrate includes the CPU backends'
inject src/boot/linux.c '#include "cpu/kvm/kvm.h"' 'src/boot includes the CPU backends'
inject src/cpu/kvm/kvm_split.c '#include "cpu/soft/soft.h"' 'src/cpu/kvm includes another backend'
inject src/cpu/soft/backend.c '#include "../kvm/kvm.h"' 'src/cpu/soft includes another backend'
inject src/irq/pit.c '#include "cpu/soft/soft.h"' 'src/irq includes the CPU backends'
# io -> dev plus the existing dev -> io: a cycle no single-file rule names
inject src/io/evloop.c '#include "dev/direct.h"' 'folder include cycle'
exit $fail
