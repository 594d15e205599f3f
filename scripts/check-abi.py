#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-abi.py - the exported ABI of libvmm must be exactly what the
headers declare and what src/libvmm.map lists.

  check-abi.py --map src/libvmm.map --headers include/libvmm [--so libvmm.so]
               [--static libvmm.a]
  check-abi.py --print-new --map ... --headers ...   (calls missing from the map)

Checks:
  * the map has one node per release (LIBVMM_<major>.<minor>), each
    inheriting the previous one, explicit symbol names only (no wildcard
    except the single `local: *;` of the first node), no name twice;
  * the set of VMM_API declarations in the headers == the map's names;
  * `nm -D` of the shared library == the map's names, each bound to the
    version node that lists it (name@@LIBVMM_x.y);
  * the global symbols of the installed static archive == the map's names.
Exit status 0 when all hold, 1 with a list of differences otherwise.
"""
import argparse
import os
import re
import subprocess
import sys


def header_decls(hdir):
    names = {}
    for fn in sorted(os.listdir(hdir)):
        if not fn.endswith('.h'):
            continue
        text = open(os.path.join(hdir, fn)).read()
        text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
        text = re.sub(r'//[^\n]*', ' ', text)
        text = re.sub(r'^\s*#\s*define[^\n]*(\\\n[^\n]*)*', ' ', text, flags=re.M)
        for m in re.finditer(r'\bVMM_API\b([^;{}]*?)\b(vmm_\w+)\s*\(', text):
            names.setdefault(m.group(2), fn)
    return names


def parse_map(path):
    text = open(path).read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'#[^\n]*', ' ', text)
    errs = []
    nodes = []  # (name, [symbols])
    sym_node = {}
    pos = 0
    node_re = re.compile(r'\s*(LIBVMM_\d+\.\d+)\s*\{(.*?)\}\s*([A-Za-z0-9_.]*)\s*;', re.S)
    prev = None
    while True:
        m = node_re.match(text, pos)
        if not m:
            if text[pos:].strip():
                errs.append('map: cannot parse from: %r' % text[pos:pos + 60])
            break
        name, body, parent = m.group(1), m.group(2), m.group(3)
        if prev is None and parent:
            errs.append('map: first node %s must not inherit' % name)
        if prev is not None and parent != prev:
            errs.append('map: node %s must inherit the previous node %s (has %r)'
                        % (name, prev, parent))
        syms = []
        section = None
        for tok in re.split(r';', body):
            tok = tok.strip()
            if not tok:
                continue
            sm = re.match(r'(global|local)\s*:\s*(.*)', tok, re.S)
            if sm:
                section = sm.group(1)
                tok = sm.group(2).strip()
                if not tok:
                    continue
            if section == 'local':
                if tok != '*' or prev is not None:
                    errs.append('map: node %s: only the first node may have '
                                '`local: *;`' % name)
                continue
            if section != 'global':
                errs.append('map: %s: symbol %s outside global:' % (name, tok))
            if any(c in tok for c in '*?['):
                errs.append('map: %s: wildcard %r; list each symbol' % (name, tok))
                continue
            if tok in sym_node:
                errs.append('map: %s listed in %s and %s' % (tok, sym_node[tok], name))
            sym_node[tok] = name
            syms.append(tok)
        if syms != sorted(syms):
            errs.append('map: node %s: keep the names sorted' % name)
        nodes.append((name, syms))
        prev = name
        pos = m.end()
    if not nodes:
        errs.append('map: no LIBVMM_x.y node')
    return nodes, sym_node, errs


def nm_dynamic(so):
    out = subprocess.run(['nm', '-D', '--defined-only', '--with-symbol-versions', so],
                         check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        full = parts[2]
        if parts[1] == 'A':  # the version node names themselves
            continue
        name, _, ver = full.partition('@')
        syms[name] = ver.lstrip('@')
    return syms


def nm_static(a):
    out = subprocess.run(['nm', '-g', '--defined-only', a],
                         check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.add(parts[2])
    return syms


def diff(label_a, a, label_b, b, errs):
    for s in sorted(set(a) - set(b)):
        errs.append('%s but not %s: %s' % (label_a, label_b, s))
    for s in sorted(set(b) - set(a)):
        errs.append('%s but not %s: %s' % (label_b, label_a, s))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--map', required=True)
    ap.add_argument('--headers', required=True)
    ap.add_argument('--so')
    ap.add_argument('--static')
    ap.add_argument('--print-new', action='store_true')
    args = ap.parse_args()

    decls = header_decls(args.headers)
    nodes, sym_node, errs = parse_map(args.map)
    if args.print_new:
        for s in sorted(set(decls) - set(sym_node)):
            print('\t\t%s;' % s)
        return 0
    diff('declared VMM_API in a header', decls, 'listed in the map', sym_node, errs)
    if args.so:
        dyn = nm_dynamic(args.so)
        diff('exported by %s' % os.path.basename(args.so), dyn,
             'listed in the map', sym_node, errs)
        for s, ver in sorted(dyn.items()):
            if s in sym_node and ver != sym_node[s]:
                errs.append('%s is bound to %r, the map lists it under %s'
                            % (s, ver, sym_node[s]))
    if args.static:
        st = nm_static(args.static)
        diff('global in %s' % os.path.basename(args.static), st,
             'listed in the map', sym_node, errs)
    for e in errs:
        print(e)
    if errs:
        print('ABI check failed: %d problem(s).  A new public call goes into '
              'the map node of the release that adds it (scripts/check-abi.py '
              '--print-new lists the missing names).' % len(errs))
        return 1
    print('ABI ok: %d calls in %d node(s)%s%s' % (
        len(sym_node), len(nodes),
        ', %d exported by the shared library' % len(nm_dynamic(args.so)) if args.so else '',
        ', %d global in the static archive' % len(nm_static(args.static)) if args.static else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
