#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run a test guest under QEMU and compare its UART output and exit status
with what the libvmm guest tests expect of the same image.

usage: qemu_check.py QEMU NAME IMAGE EXPECTED STATUS

EXPECTED is a text file; '{n}' in it matches one or more hex/decimal digits
(numbers that depend on the machine: cycle counts, memory size).  Output
before the guest's first line (SeaBIOS's banner) is ignored.  Exit 0 when
both match, 1 otherwise, 77 when QEMU cannot start.
"""
import re
import subprocess
import sys


def pattern(expected):
    parts = expected.split('{n}')
    return '[0-9a-fA-F]+'.join(re.escape(p) for p in parts)


def main():
    qemu, name, image, expected_path, status = sys.argv[1:6]
    status = int(status)
    with open(expected_path) as f:
        expected = f.read()
    cmd = [qemu, '-nodefaults', '-no-reboot', '-display', 'none',
           '-monitor', 'none', '-serial', 'stdio', '-m', '128',
           '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04']
    if name == 'real16':
        cmd += ['-drive', 'file=%s,format=raw,if=floppy,readonly=on' % image]
    else:
        cmd += ['-kernel', image]
    print(' '.join(cmd))
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=90)
    except FileNotFoundError:
        print('qemu not found')
        return 77
    except subprocess.TimeoutExpired as e:
        print('QEMU timed out; output so far:')
        print((e.stdout or b'').decode('latin-1'))
        return 1
    out = p.stdout.decode('latin-1')
    err = p.stderr.decode('latin-1')
    if err:
        print('stderr:', err)
    # Skip the firmware's output: start at the guest's first line.
    first = expected.split('\n', 1)[0].split('{n}', 1)[0]
    start = out.find(first)
    guest_out = out[start:] if start >= 0 else out
    ok = True
    if not re.fullmatch(pattern(expected), guest_out, re.S):
        print('output mismatch.\n--- expected\n%s--- got\n%s---' %
              (expected, guest_out))
        ok = False
    if p.returncode != status:
        print('exit status %d, expected %d' % (p.returncode, status))
        ok = False
    if ok:
        print('%s: output and status %d match\n%s' % (name, status, guest_out))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
