"""xenpv.py - small pieces the Xen test tools share (standard library only;
written from docs/formats.md §4.9, not from the C reader).

  elf_sections(path)   {name: (offset, size)} of an ELF64 little-endian
                       file's sections (an `xl dump-core` core's .xen_p2m,
                       .xen_shared_info, .note.Xen ...); ValueError when the
                       file is not one.
  translate_tables(mem, root, p2m, keep=None)
                       a PV guest's page tables as it has them: from the
                       4-level table at pseudo-physical `root` down, every
                       present entry's frame turned into its machine frame
                       p2m[pfn]; an entry whose pfn has none (or that
                       keep(pfn) refuses) is marked not present.  mem has
                       read(addr, len) and write(addr, bytes).

Used by kxcore.py and kxen.py (the fixture generators) and
tests/vm/xen-domu-check.py.
"""

import struct

PAGE = 4096
PTE_ADDR = 0x000FFFFFFFFFF000


def elf_sections(path):
    with open(path, "rb") as f:
        eh = f.read(64)
        if len(eh) < 64 or eh[:4] != b"\x7fELF" or eh[4] != 2 or eh[5] != 1:
            raise ValueError("%s: not an ELF64 little-endian file" % path)
        shoff, = struct.unpack_from("<Q", eh, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", eh, 0x3A)
        if shstrndx >= shnum or shentsize < 64:
            raise ValueError("%s: no section names" % path)
        f.seek(shoff)
        raw = f.read(shentsize * shnum)
        if len(raw) < shentsize * shnum:
            raise ValueError("%s: section headers past the end of the file" % path)
        sh = [struct.unpack_from("<IIQQQQIIQQ", raw, i * shentsize) for i in range(shnum)]
        f.seek(sh[shstrndx][4])
        names = f.read(sh[shstrndx][5])
    out = {}
    for s in sh:
        end = names.find(b"\0", s[0])
        out[names[s[0]:end].decode()] = (s[4], s[5])
    return out


def translate_tables(mem, root, p2m, keep=None):
    seen = set()

    def walk(table, level):
        if table in seen:
            return
        seen.add(table)
        raw = bytearray(mem.read(table, PAGE))
        for i in range(512):
            e, = struct.unpack_from("<Q", raw, 8 * i)
            if not e & 1:
                continue
            pa = e & PTE_ADDR
            big = level in (2, 3) and e & 0x80
            if level > 1 and not big:
                walk(pa, level - 1)
            pfn = pa // PAGE
            if pfn in p2m and (keep is None or keep(pfn)):
                e = (e & ~PTE_ADDR) | p2m[pfn] * PAGE
            else:
                e &= ~1              # no machine frame behind it
            struct.pack_into("<Q", raw, 8 * i, e)
        mem.write(table, bytes(raw))

    # children are read before the parent is rewritten: walk reads raw first
    walk(root, 4)
