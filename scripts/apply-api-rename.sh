#!/bin/sh
# apply-api-rename.sh - apply the rename table of docs/api-naming.md to the
# whole tree in one stroke (whole identifiers only).  Run from the source
# root on a clean tree; review with `git diff`, then build and run
# `meson test abi_symbols`.  -n: only print the sed script.
set -eu
table=docs/api-naming.md
script=$(sed -n '/BEGIN RENAMES/,/END RENAMES/p' "$table" |
	awk -F'|' 'NF >= 4 && $2 ~ /vmm_/ {
		gsub(/ /, "", $2); gsub(/ /, "", $3);
		printf "s/\\<%s\\>/%s/g\n", $2, $3 }')
[ -n "$script" ] || { echo "no renames found in $table" >&2; exit 1; }
if [ "${1:-}" = -n ]; then
	printf '%s\n' "$script"
	exit 0
fi
git ls-files -- src include tests examples bench fuzz docs README.md \
	'*.c' '*.h' '*.md' '*.map' '*.sh' |
	grep -v '^docs/api-naming.md$' | sort -u |
	while read -r f; do
		[ -f "$f" ] && sed -i -e "$script" "$f"
	done
echo "renamed $(printf '%s\n' "$script" | wc -l) calls; now sort src/libvmm.map and move them to a LIBVMM_0.2 node"
