#!/bin/sh
# prelink-static.sh IN.a OUT.a - build the installed libvmm.a from the
# library's objects: link them into one relocatable object (ld -r), make
# every hidden symbol local (objcopy --localize-hidden; the library is
# compiled with -fvisibility=hidden, so that is everything but VMM_API),
# and archive that object.  An embedder's static link then sees only vmm_*.
set -eu
in=$1
out=$2
LD=${LD:-ld}
OBJCOPY=${OBJCOPY:-objcopy}
AR=${AR:-ar}
tmp="$out.prelink.o"
rm -f "$out" "$tmp"
"$LD" -r --whole-archive "$in" -o "$tmp"
"$OBJCOPY" --localize-hidden "$tmp"
"$AR" rcs "$out" "$tmp"
rm -f "$tmp"
