#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_loaders (fuzz/corpus/loaders/): small
synthetic images of every format the loaders take, each prefixed with the
fuzzer's option byte (bits 0-1 flat mode, bit 2 module/initrd, bit 3
command line).  No real kernels; every file is a few KiB at most."""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loaders")
MB_MAGIC = 0x1BADB002


def elf(is64, entry, segs, total=0x200):
    eh, ph = (64, 56) if is64 else (52, 32)
    b = bytearray(total)
    b[0:4] = b"\x7fELF"
    b[4] = 2 if is64 else 1
    b[5] = 1
    b[6] = 1
    struct.pack_into("<HHI", b, 16, 2, 62 if is64 else 3, 1)
    if is64:
        struct.pack_into("<QQQIHHHH", b, 24, entry, eh, 0, 0, eh, ph,
                         len(segs), 0)
    else:
        struct.pack_into("<IIIIHHHH", b, 24, entry, eh, 0, 0, eh, ph,
                         len(segs), 0)
    for i, (off, vaddr, paddr, filesz, memsz) in enumerate(segs):
        o = eh + i * ph
        if is64:
            struct.pack_into("<IIQQQQQQ", b, o, 1, 5, off, vaddr, paddr,
                             filesz, memsz, 0x1000)
        else:
            struct.pack_into("<IIIIIIII", b, o, 1, off, vaddr, paddr,
                             filesz, memsz, 5, 0x1000)
    for i in range(0x100, total):
        b[i] = (i * 7) & 0xFF
    return b


def mb_header(b, off, flags, addr=None):
    struct.pack_into("<III", b, off, MB_MAGIC, flags,
                     (-(MB_MAGIC + flags)) & 0xFFFFFFFF)
    if addr:
        struct.pack_into("<5I", b, off + 12, *addr)


def multiboot_aout():
    b = bytearray(0x400)
    load = 0x100000
    mb_header(b, 0x40, 0x10003,
              [load + 0x40, load, load + 0x400, load + 0x2000, load + 0x80])
    return b


def multiboot_elf():
    b = elf(False, 0x200010, [(0x100, 0x200000, 0x200000, 0x100, 0x800)])
    mb_header(b, 0x1C0, 0x2)
    return b


def bzimage(payload=0x400):
    setup = 5 * 512
    b = bytearray(setup + payload)
    b[0x1F1] = 4
    struct.pack_into("<H", b, 0x1FE, 0xAA55)
    b[0x200] = 0xEB
    b[0x201] = 0x66
    b[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", b, 0x206, 0x20F)
    b[0x211] = 1
    struct.pack_into("<I", b, 0x214, 0x100000)
    struct.pack_into("<III", b, 0x22C, 0x7FFFFFFF, 0x200000, 0)
    b[0x234] = 1
    struct.pack_into("<HI", b, 0x236, 3, 2047)
    struct.pack_into("<Q", b, 0x258, 0x1000000)
    struct.pack_into("<I", b, 0x260, 0x200000)
    for i in range(payload):
        b[setup + i] = (i * 13) & 0xFF
    return b


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "flat-real16": bytes([0x00]) + b"\xfa\xf4\xeb\xfd",
        "flat-prot32": bytes([0x01]) + b"\x90" * 32,
        "flat-long64": bytes([0x0a]) + b"\x90" * 32,
        "elf32": bytes([0x01]) + elf(False, 0x100010,
                                     [(0x100, 0x100000, 0x100000, 0x80, 0x80),
                                      (0x180, 0x200000, 0x200000, 0x20,
                                       0x1000)]),
        "elf64": bytes([0x02]) + elf(True, 0xFFFFFFFF80100020,
                                     [(0x100, 0xFFFFFFFF80100000, 0x100000,
                                       0x40, 0x2000)]),
        "multiboot-aout": bytes([0x0c]) + multiboot_aout(),
        "multiboot-elf": bytes([0x08]) + multiboot_elf(),
        "bzimage": bytes([0x0c]) + bzimage(),
        "bzimage-noinitrd": bytes([0x00]) + bzimage(0x200),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
