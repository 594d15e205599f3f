#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vmm-migrate-resume.py VMM_MIGRATE - post-copy recovery across processes
with the `vmm-migrate resume` command (docs/migration.md).

Two vmm-migrate processes, `send` and `receive`, each with a --control
socket and the same pre-shared key, talk through a proxy in this script.
The sender runs with --postcopy-on-request: `vmm-migrate postcopy` switches
it over.  The proxy cuts both connections 256 KiB into the post-copy
phase.  Both processes keep their VM (the receiver's waits for missing
pages, the sender's stays paused); `vmm-migrate resume DST-CTL NEW` makes
the receiver listen on NEW, `vmm-migrate resume SRC-CTL NEW` makes the
sender connect there, authenticate afresh and deliver what is missing.
The guest then finishes at the receiver with the exit value, memory hash
and UART output of an uninterrupted run (the same guest sent nowhere runs
on where it is).  Also checked: commands refused in the wrong state or at
the wrong side.  Exit 0 pass, 1 fail, 77 skip (no post-copy here).
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

CUT_AFTER = 256 << 10     # bytes of the post-copy phase before the cut
F_SWITCH, F_COMMIT = 0x42, 10


def fail(msg):
    print('FAIL: ' + msg)
    sys.exit(1)


def run(*args, timeout=60):
    p = subprocess.run([MIG] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def exit_line(text):
    m = re.search(r'guest exited with value (0x[0-9a-f]+), memory hash '
                  r'([0-9a-f]+)', text)
    return m.groups() if m else None


class Proxy:
    """Forwards sender -> receiver frame by frame (the header says the
    length; a MAC follows when flag bit 0 is set) and bytes back; cuts
    both connections CUT_AFTER bytes after the COMMIT that follows a
    SWITCH."""

    def __init__(self, listen_path, dst_path):
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(listen_path)
        self.ls.listen(1)
        self.dst_path = dst_path
        self.connected = threading.Event()
        self.switched = threading.Event()
        self.cut = threading.Event()
        threading.Thread(target=self.main, daemon=True).start()

    def main(self):
        self.a, _ = self.ls.accept()
        self.b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.b.connect(self.dst_path)
        self.connected.set()
        threading.Thread(target=self.back, daemon=True).start()
        self.forward()

    def read_full(self, n):
        buf = b''
        while len(buf) < n:
            got = self.a.recv(n - len(buf))
            if not got:
                raise EOFError
            buf += got
        return buf

    def forward(self):
        after = None
        try:
            while True:
                hdr = self.read_full(24)
                ftype, flags = struct.unpack_from('<HH', hdr, 4)
                plen = struct.unpack_from('<I', hdr, 12)[0]
                body = self.read_full(plen + (32 if flags & 1 else 0))
                frame = hdr + body
                if after is not None and after + len(frame) > CUT_AFTER:
                    self.b.sendall(frame[:CUT_AFTER - after])
                    break
                self.b.sendall(frame)
                if ftype == F_SWITCH:
                    self.switched.set()
                if after is not None:
                    after += len(frame)
                elif ftype == F_COMMIT and self.switched.is_set():
                    after = 0
        except (EOFError, OSError):
            pass
        for s in (self.a, self.b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.cut.set()

    def back(self):
        try:
            while True:
                got = self.b.recv(65536)
                if not got:
                    break
                self.a.sendall(got)
        except OSError:
            pass


def wait_for(what, pred, secs):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    fail('timed out waiting for ' + what)


def status(ctl):
    return run('status', ctl, timeout=10)[1]


def main():
    global MIG
    MIG = os.path.realpath(sys.argv[1])
    backend = os.environ.get('VMM_TEST_MIGRATE_BACKEND') or \
        ('kvm' if os.access('/dev/kvm', os.R_OK | os.W_OK) else 'soft')
    # long enough that the guest is still running at the switch-over
    iters = '400000000' if backend == 'kvm' else '100000000'
    guest = ['--backend', backend, '--guest-iterations', iters,
             '--guest-pages', '1024']
    d = tempfile.mkdtemp(prefix='vmm-mig-resume-')
    procs = []
    try:
        key = os.path.join(d, 'key')
        with open(key, 'wb') as f:
            f.write(os.urandom(32))
        p = {n: os.path.join(d, n) for n in
             ('dst.sock', 'proxy.sock', 'new.sock', 'src.ctl', 'dst.ctl',
              'nobody.sock')}

        # the uninterrupted run: sent nowhere, it runs on where it is
        ref = subprocess.run([MIG, 'send', p['nobody.sock'], '--after', '0']
                             + guest, capture_output=True, text=True,
                             timeout=120)
        ref_exit = exit_line(ref.stderr)
        if ref.returncode or not ref_exit:
            fail('reference run: %d %s' % (ref.returncode, ref.stderr))

        rlog = open(os.path.join(d, 'receive.log'), 'w+')
        rout = open(os.path.join(d, 'receive.out'), 'w+')
        recv = subprocess.Popen([MIG, 'receive', p['dst.sock'], '--postcopy',
                                 '--control', p['dst.ctl'], '--key-file', key,
                                 '--timeout', '120', '--backend', backend],
                                stdout=rout, stderr=rlog)
        procs.append(recv)
        wait_for('the receiver', lambda: os.path.exists(p['dst.sock']), 20)
        proxy = Proxy(p['proxy.sock'], p['dst.sock'])
        slog = open(os.path.join(d, 'send.log'), 'w+')
        sout = open(os.path.join(d, 'send.out'), 'w+')
        send = subprocess.Popen([MIG, 'send', p['proxy.sock'], '--postcopy',
                                 '--postcopy-on-request', '--bandwidth', '8',
                                 '--control', p['src.ctl'], '--key-file', key,
                                 '--after', '100'] + guest,
                                stdout=sout, stderr=slog)
        procs.append(send)
        wait_for('the sender control socket',
                 lambda: os.path.exists(p['src.ctl']), 20)

        # refused in the wrong state or at the wrong side
        rc, out = run('resume', p['src.ctl'], p['new.sock'])
        if rc != 1 or 'no interrupted post-copy' not in out:
            fail('resume before any cut: %d %s' % (rc, out))
        rc, out = run('postcopy', p['dst.ctl'])
        if rc != 1 or 'for the sender' not in out:
            fail('postcopy at the receiver: %d %s' % (rc, out))
        rc, out = run('cancel', p['dst.ctl'])
        if rc != 1:
            fail('cancel at the receiver: %d %s' % (rc, out))

        proxy.connected.wait(30)
        wait_for('pre-copy rounds', lambda: 'migrating' in status(p['src.ctl']),
                 20)
        time.sleep(0.4)
        rc, out = run('postcopy', p['src.ctl'])
        if rc == 1 and 'does not take post-copy' in out:
            print('SKIP: no post-copy at the receiver here')
            sys.exit(77)
        if rc != 0:
            fail('postcopy: %d %s' % (rc, out))
        print('postcopy: ' + out.strip())
        if not proxy.cut.wait(60):
            fail('no cut')
        wait_for('the receiver to notice',
                 lambda: 'interrupted' in status(p['dst.ctl']), 20)
        wait_for('the sender to notice',
                 lambda: 'interrupted' in status(p['src.ctl']), 20)
        print('after the cut: ' + status(p['dst.ctl']).strip())
        print('after the cut: ' + status(p['src.ctl']).strip())
        if recv.poll() is not None or send.poll() is not None:
            fail('a process ended after the cut')

        rc, out = run('resume', p['dst.ctl'], p['new.sock'])
        if rc != 0 or 'listening' not in out:
            fail('resume at the receiver: %d %s' % (rc, out))
        print('resume receiver: ' + out.strip())
        rc, out = run('resume', p['src.ctl'], p['new.sock'], timeout=120)
        if rc != 0 or 'resumed' not in out:
            time.sleep(0.5)
            slog.seek(0)
            rlog.seek(0)
            fail('resume at the sender: %d %s\nsender (%s): %s\n'
                 'receiver (%s): %s' %
                 (rc, out, send.poll(), slog.read()[-2000:], recv.poll(),
                  rlog.read()[-2000:]))
        print('resume sender: ' + out.strip())

        if send.wait(60) != 0:
            fail('sender exit status %d' % send.returncode)
        if recv.wait(120) != 0:
            fail('receiver exit status %d' % recv.returncode)
        rlog.seek(0)
        rtext = rlog.read()
        got = exit_line(rtext)
        if got != ref_exit:
            fail('receiver ended with %s, uninterrupted run %s\n%s' %
                 (got, ref_exit, rtext))
        if '1 resumes' not in rtext or 'post-copy resumed' not in rtext:
            fail('receiver log:\n' + rtext)
        sout.seek(0)
        rout.seek(0)
        both = sout.read() + rout.read()
        if both.strip() != ref.stdout.strip():
            fail('UART output %r, uninterrupted %r' % (both, ref.stdout))
        for n in ('src.ctl', 'dst.ctl'):
            if os.path.exists(p[n]):
                fail(n + ' left behind')
        print('ok: cut 256 KiB into the post-copy, resumed across processes '
              'with `vmm-migrate resume`: value %s, memory hash %s, output '
              'as uninterrupted (%s)' % (got[0], got[1], backend))
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    main()
