#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-man.py - one man page (section 3) per public libvmm call, made from
the comment above its declaration in include/libvmm/*.h.

  gen-man.py --list HEADERS_DIR            names of the calls, one a line
  gen-man.py HEADERS_DIR OUT_DIR VERSION   write OUT_DIR/<call>.3

A call without a comment of its own gets the nearest comment above it in
the same header (calls documented together share it); a call with no
comment at all is an error, so an undocumented public call fails the build.
"""
import os
import re
import sys

DECL = re.compile(r'\bVMM_API\b([^;{}]*?)\b(vmm_\w+)\s*\(([^;{}]*?)\)\s*;', re.S)


def strip_comment(c):
    body = c[3:-2] if c.startswith('/**') else c[2:-2]
    lines = []
    for ln in body.split('\n'):
        ln = re.sub(r'^\s*\* ?', '', ln)
        lines.append(ln.rstrip())
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse(hdir):
    calls = {}
    for fn in sorted(os.listdir(hdir)):
        if not fn.endswith('.h'):
            continue
        text = open(os.path.join(hdir, fn)).read()
        comments = [(m.start(), m.end(), m.group(0))
                    for m in re.finditer(r'/\*.*?\*/', text, re.S)]
        # blank out comments so declarations are found in code only
        code = list(text)
        for a, b, _ in comments:
            for i in range(a, b):
                if code[i] != '\n':
                    code[i] = ' '
        code = ''.join(code)
        for m in DECL.finditer(code):
            name = m.group(2)
            before = [c for c in comments if c[1] <= m.start()]
            doc = None
            for a, b, c in reversed(before):
                if c.startswith('/**') and not c.startswith('/**<'):
                    doc = strip_comment(c)
                    break
            ret = ' '.join(m.group(1).replace('VMM_MUST_CHECK', '').split())
            args = ' '.join(m.group(3).split())
            calls[name] = (fn, ret, args, doc)
    return calls


def esc(s):
    s = s.replace('\\', '\\e')
    return '\n'.join(('\\&' + l if l.startswith(('.', "'")) else l)
                     for l in s.split('\n'))


def page(name, fn, ret, args, doc, version, all_in_header):
    summary = ''
    body = doc[:]
    if body and re.match(r'^[\w ,/()]+\s+-\s+', body[0]):
        summary = body[0].split(' - ', 1)[1].strip()
        body = body[1:]
    if not summary:
        summary = 'see DESCRIPTION'
    out = ['.TH %s 3 "" "libvmm %s" "libvmm Manual"' % (name, version),
           '.SH NAME', '%s \\- %s' % (name, esc(summary)),
           '.SH SYNOPSIS', '.nf',
           '.B #include <libvmm/libvmm.h>', '.PP',
           esc('%s %s(%s);' % (ret, name, args)).replace(' *', ' *'),
           '.fi', '.SH DESCRIPTION']
    para = []
    for ln in body:
        if not ln.strip():
            if para:
                out.append(esc(' '.join(para)))
                out.append('.PP')
                para = []
            continue
        if ln.lstrip().startswith('@') and para:
            out.append(esc(' '.join(para)))
            out.append('.br')
            para = []
        para.append(ln.strip())
    if para:
        out.append(esc(' '.join(para)))
    out += ['.PP',
            'Every libvmm call returns 0 (or a count) on success and a '
            'negative errno on failure; see',
            '.BR vmm_strerror (3)',
            'and',
            '.BR vmm_last_error (3).',
            '.SH SEE ALSO']
    others = [o for o in all_in_header if o != name][:8]
    for i, o in enumerate(others):
        out.append('.BR %s (3)%s' % (o, ',' if i + 1 < len(others) else ''))
    out.append('.PP')
    out.append('The header <libvmm/%s> and the README of libvmm.' % fn)
    return '\n'.join(l for l in out if l != '') + '\n'


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--headers':
        for fn in sorted(os.listdir(sys.argv[2])):
            if fn.endswith('.h'):
                print(os.path.join(sys.argv[2], fn))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == '--list':
        for n in sorted(parse(sys.argv[2])):
            print(n)
        return 0
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    hdir, outdir, version = sys.argv[1:]
    calls = parse(hdir)
    missing = [n for n, c in calls.items() if not c[3]]
    if missing:
        print('undocumented public calls: ' + ' '.join(sorted(missing)),
              file=sys.stderr)
        return 1
    os.makedirs(outdir, exist_ok=True)
    by_header = {}
    for n, c in calls.items():
        by_header.setdefault(c[0], []).append(n)
    for n, (fn, ret, args, doc) in calls.items():
        with open(os.path.join(outdir, n + '.3'), 'w') as f:
            f.write(page(n, fn, ret, args, doc, version,
                         sorted(by_header[fn])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
