#!/bin/sh
# SPDX-License-Identifier: MIT
# check-layering.sh [TREE] - the library's include layering rules (issue 13,
# item 8).  Reads every src/**/*.[ch] of TREE (default: this checkout),
# resolves each #include "..." (next to the file, else under src/) and
# fails (exit 1, one line per offending include) when:
#   1. a device (src/dev/**) includes src/cpu/*;
#   2. a file outside src/cpu/kvm includes <linux/kvm.h>;
#   3. the core (src/core) includes a device (src/dev/*);
#   4. src/mem includes anything but src/mem/* and core/internal.h;
#   5. src/migrate or src/boot includes src/cpu/*;
#   6. the graph of top-level folders under src/ has a cycle;
#   7. one CPU backend includes another (src/cpu/kvm <-> src/cpu/soft): what
#      both need (the PIC/IOAPIC/PIT models) lives in a neutral folder;
#   8. src/irq (the interrupt controllers) includes src/cpu/*.
# core/internal.h is the library's base header (error reporting, the
# allocator, the vm handle): every layer includes it, so rules 4 and 6 do
# not count an include of it (see docs/design.md, "Layering").
set -eu
tree=${1:-$(cd "$(dirname "$0")/.." && pwd)}
[ -d "$tree/src" ] || { echo "check-layering: no src/ in $tree" >&2; exit 2; }
exec python3 - "$tree" <<'PY'
import os, re, sys

root = sys.argv[1]
src = os.path.join(root, 'src')
inc_re = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
BASE = 'src/core/internal.h'
bad = []
edges = {}  # (from folder, to folder) -> first include seen


def top(rel):  # src/dev/virtio/blk.c -> dev
    p = rel.split('/')
    return p[1] if len(p) > 2 else ''


for dp, dn, fn in os.walk(src):
    dn.sort()
    for f in sorted(fn):
        if not f.endswith(('.c', '.h')):
            continue
        path = os.path.join(dp, f)
        rel = os.path.relpath(path, root)
        with open(path, errors='replace') as fh:
            lines = fh.readlines()
        for ln, line in enumerate(lines, 1):
            m = inc_re.match(line)
            if not m:
                continue
            kind, name = m.groups()
            where = f'{rel}:{ln}: #include {kind}{name}{">" if kind == "<" else chr(34)}'
            if name == 'linux/kvm.h' and not rel.startswith('src/cpu/kvm/'):
                bad.append(f'{where}: only src/cpu/kvm may include <linux/kvm.h>')
            if kind == '<':
                continue
            cand = os.path.normpath(os.path.join(dp, name))
            if os.path.isfile(cand):
                tgt = os.path.relpath(cand, root)
            elif os.path.isfile(os.path.join(src, name)):
                tgt = 'src/' + os.path.normpath(name)
            else:
                continue  # config.h (build dir) or a public header
            a, b = top(rel), top(tgt)
            if a == 'dev' and b == 'cpu':
                bad.append(f'{where}: a device includes the CPU backends')
            if a == 'core' and b == 'dev':
                bad.append(f'{where}: the core includes a device')
            if a == 'mem' and b != 'mem' and tgt != BASE:
                bad.append(f'{where}: src/mem includes a layer above it')
            if a in ('migrate', 'boot') and b == 'cpu':
                bad.append(f'{where}: src/{a} includes the CPU backends')
            ra, rb = rel.split('/'), tgt.split('/')
            if (a == 'cpu' and b == 'cpu' and len(ra) > 3 and len(rb) > 3
                    and ra[2] != rb[2]):
                bad.append(f'{where}: src/cpu/{ra[2]} includes another '
                           f'backend (src/cpu/{rb[2]})')
            if a == 'irq' and b == 'cpu':
                bad.append(f'{where}: src/irq includes the CPU backends')
            if a != b and a and b and tgt != BASE:
                edges.setdefault((a, b), where)

graph = {}
for a, b in edges:
    graph.setdefault(a, set()).add(b)
state = {}


def dfs(n, stack):
    state[n] = 1
    stack.append(n)
    for m in sorted(graph.get(n, ())):
        if state.get(m) == 1:
            cyc = stack[stack.index(m):] + [m]
            steps = [edges[(cyc[i], cyc[i + 1])] for i in range(len(cyc) - 1)]
            bad.append('folder include cycle ' + ' -> '.join(cyc) +
                       ' (' + '; '.join(steps) + ')')
        elif not state.get(m):
            dfs(m, stack)
    stack.pop()
    state[n] = 2


for n in sorted(graph):
    if not state.get(n):
        dfs(n, [])
for b in bad:
    print('check-layering:', b)
if bad:
    print(f'check-layering: {len(bad)} violation(s)')
    sys.exit(1)
print('check-layering: ok (' + ', '.join(f'{a}->{b}' for a, b in sorted(edges)) + ')')
PY
