#!/bin/sh
# apply-api-rename.sh - apply the 0.2 rename table of docs/api-naming.md to
# the whole tree in one stroke.  Run from the source root of a clean git
# tree; then build (-Werror) and run the tests, review with `git diff`,
# commit.
#
#   scripts/apply-api-rename.sh        apply
#   scripts/apply-api-rename.sh -n     only print the sed script
#
# What it does:
#  1. every tracked text file that names an old identifier (git grep -w,
#     so C, headers, meson.build, shell and python test scripts, docs,
#     README, the map) gets whole-identifier replacements (\<old\> ->
#     new), except CHANGELOG.md (history keeps the old names) and the
#     table itself;
#  2. the field `struct vmm_vcpu_stats.size` becomes `.struct_size`
#     (growable-struct rule 6): not whole-identifier safe, so edited only
#     in the files that use that struct, each edit checked;
#  3. src/libvmm.map: the renamed calls leave LIBVMM_0.1 and are listed,
#     sorted, in a new node `LIBVMM_0.2 { global: ...; } LIBVMM_0.1;`;
#  4. meson.build's project version becomes 0.2.0 (the generated
#     <libvmm/version.h> follows; the map node names the release);
#  5. CHANGELOG.md gets an "Unreleased (0.2.0)" entry listing the renames.
# The man pages (scripts/gen-man.py, one per VMM_API call, installed under
# man3) are generated from the headers at build time, so they follow the
# renamed headers; the script checks afterwards that every old name is
# gone (outside CHANGELOG.md and the table).
set -eu
table=docs/api-naming.md
[ -f "$table" ] && [ -f src/libvmm.map ] || {
	echo "run from the libvmm source root" >&2; exit 1; }
pairs=$(sed -n '/<!-- BEGIN RENAMES -->/,/<!-- END RENAMES -->/p' "$table" |
	awk -F'|' 'NF >= 4 && $2 ~ /vmm_/ {
		gsub(/[ `]/, "", $2); gsub(/[ `]/, "", $3); print $2, $3 }')
[ -n "$pairs" ] || { echo "no renames found in $table" >&2; exit 1; }
script=$(printf '%s\n' "$pairs" |
	awk '{ printf "s/\\<%s\\>/%s/g\n", $1, $2 }')
if [ "${1:-}" = -n ]; then
	printf '%s\n' "$script"
	exit 0
fi
git diff --quiet HEAD -- || { echo "the tree has changes; commit first" >&2; exit 1; }
old_re=$(printf '%s\n' "$pairs" | awk '{ printf "%s%s", sep, $1; sep = "|" }')

# 1. whole identifiers, in every tracked text file that has one
git grep -lIwE "$old_re" -- . ':!CHANGELOG.md' ":!$table" |
	while read -r f; do
		sed -i -e "$script" "$f"
	done

# 2-5 in python: checked edits
python3 - "$table" <<'EOF'
import re, subprocess, sys

table = sys.argv[1]
pairs = []
for ln in open(table).read().split('<!-- BEGIN RENAMES -->', 1)[1] \
                       .split('<!-- END RENAMES -->', 1)[0].splitlines():
    f = [c.strip().strip('`') for c in ln.split('|')]
    if len(f) >= 4 and f[1].startswith('vmm_'):
        pairs.append((f[1], f[2], f[3]))
new_names = {n for _, n, _ in pairs}

def edit(path, subs, need=True):
    s = open(path).read()
    n = 0
    for a, b in subs:
        s, k = re.subn(a, b, s)
        n += k
    if need and not n:
        sys.exit('apply-api-rename: %s: nothing matched %r' % (path, subs))
    open(path, 'w').write(s)

# 2. struct vmm_vcpu_stats.size -> .struct_size
edit('include/libvmm/vcpu.h',
     [(r'(struct vmm_vcpu_stats \{\n\s*uint32_t )size;( *)',
       lambda m: m.group(1) + 'struct_size;' + ' ' * max(1, len(m.group(2)) - 7)),
      (r'@st->size\b', '@st->struct_size')])
edit('src/core/vcpu.c', [(r'\bout->size\b', 'out->struct_size'),
                         (r'\bst\.size = ', 'st.struct_size = ')])
users = subprocess.run(['git', 'grep', '-l', 'struct vmm_vcpu_stats', '--',
                        'examples', 'bench', 'tests', 'fuzz'],
                       capture_output=True, text=True).stdout.split()
for f in users:
    # only the stats variables' own .size (these files use no other .size
    # on a vmm_vcpu_stats-typed name)
    edit(f, [(r'(\{ )\.size( = sizeof\()', r'\1.struct_size\2'),
             (r'\b((?:u\.|s\.)?s|st|vs)\.size\b', r'\1.struct_size')],
         need=False)

# 3. the map: renamed calls move to a LIBVMM_0.2 node
mp = 'src/libvmm.map'
s = open(mp).read()
if re.search(r'^LIBVMM_0\.2\s*\{', s, re.M):
    sys.exit('apply-api-rename: %s already has LIBVMM_0.2' % mp)
lines = s.split('\n')
moved = []
keep = []
for ln in lines:
    name = ln.strip().rstrip(';')
    if name in new_names and ln.strip().endswith(';'):
        moved.append(name)
    else:
        keep.append(ln)
if not moved:
    sys.exit('apply-api-rename: no renamed call found in the map')
hdrs = subprocess.run(['git', 'ls-files', 'include/libvmm/*.h'],
                      capture_output=True, text=True).stdout.split()
api = set(re.findall(r'\bVMM_API\b[^;{}]*?\b(vmm_\w+)\s*\(',
                     ''.join(open(h).read() for h in hdrs)))
missing = sorted(n for n in new_names if n in api and n not in moved)
if missing:
    sys.exit('apply-api-rename: calls renamed in the headers but not in '
             'the map: %s' % ', '.join(missing))
out = '\n'.join(keep).rstrip('\n') + '\n\nLIBVMM_0.2 {\n\tglobal:\n' + \
      ''.join('\t\t%s;\n' % n for n in sorted(moved)) + '} LIBVMM_0.1;\n'
open(mp, 'w').write(out)

# 4. the release
edit('meson.build', [(r"(project\('libvmm', 'c',\s*\n\s*version : )'0\.1\.0'",
                      r"\1'0.2.0'")])

# 5. CHANGELOG
cl = open('CHANGELOG.md').read()
import textwrap
entry = ('## Unreleased (0.2.0)\n\n' + textwrap.fill(
         'API: one naming scheme (docs/api-naming.md): `vmm_<object>_<verb>`, '
         '`vmm_<dev>_config_init` + `vmm_<dev>_attach`, `_get_<what>` for '
         'filled structs, create/destroy.  0.x: no compatibility aliases; '
         'the renamed calls are in the map node `LIBVMM_0.2`.  '
         '`struct vmm_vcpu_stats.size` is now `.struct_size`.  '
         '%d renames:' % len(pairs), 76, break_on_hyphens=False) + '\n\n' +
         ''.join('- `%s` → `%s`\n' % (o, n) for o, n, _ in pairs) + '\n')
i = cl.index('## ')
open('CHANGELOG.md', 'w').write(cl[:i] + entry + cl[i:])
print('renamed %d identifiers; %d calls moved to LIBVMM_0.2; version 0.2.0'
      % (len(pairs), len(moved)))
EOF

# every old name gone (outside the history and the table)
if git grep -nwE "$old_re" -- . ':!CHANGELOG.md' ":!$table"; then
	echo "apply-api-rename: old names left (above)" >&2
	exit 1
fi
echo "done: review with git diff, build with -Werror, run meson test"
