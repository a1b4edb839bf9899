#!/usr/bin/python3
"""bigmm.py - grow a small generated ELF vmcore into one of many GiB of RAM,
as a sparse file, to time the mem_map walk (pass 1) at large memory sizes.

Usage: bigmm.py BASE.elf GIB OUT

BASE is a FLATMEM x86_64 vmcore from mkdump.py (tests/fixtures/mdf-linux.desc,
RAM below 1 GiB).  OUT keeps its notes, kernel image and low RAM and gets:

  - one RAM PT_LOAD from BASE's last RAM start up to GIB GiB;
  - a new struct page array at physical 1 GiB (64 bytes per 4 KiB frame:
    GIB * 16 MiB), mem_map pointing at it through the direct map;
    BASE's struct pages copied to its start;
  - every frame above BASE's RAM free, in buddy blocks of the largest aligned
    order up to 10 (only a block's head page is written: tails stay zero, as
    both makedumpfile and salvage skip a block's tails after its head), except
    the frames of the array itself, which are kept (their struct pages are
    zero: in use, no flags);
  - the direct map extended with 1 GiB pages.

Only the non-zero parts are written, so OUT is a sparse file: for 256 GiB its
apparent size is 256 GiB and about 260 MiB are allocated (one 4 KiB block per
buddy head).  At -d 31 a tool reads the whole array once to classify (pass 1)
and its frames again as data (zero pages), so the time grows with memory the
way a real machine's mostly-free memory makes it grow.

Written from docs/formats.md; shares no code with the reader.  Standard
library only.
"""
import os
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4
PS = 4096
MAX_ORDER = 11
GIB = 1 << 30
MM_PHYS = GIB


def die(msg):
    sys.stderr.write("bigmm: %s\n" % msg)
    sys.exit(1)


def main():
    if len(sys.argv) != 4:
        die("usage: bigmm.py BASE.elf GIB OUT")
    base, gib, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if not 2 <= gib <= 4096:
        die("GIB must be 2..4096")
    with open(base, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        die("%s: not an ELF64 file" % base)
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    phs = [struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i) for i in range(phnum)]
    notes = [p for p in phs if p[0] == PT_NOTE]
    loads = [p for p in phs if p[0] == PT_LOAD]
    if len(notes) != 1:
        die("%s: expected one PT_NOTE" % base)
    ktext = [p for p in loads if p[3] >= 0xFFFFFFFF80000000]
    ram = sorted((p for p in loads if p[3] < 0xFFFFFFFF80000000), key=lambda p: p[4])
    if len(ktext) != 1 or not ram:
        die("%s: expected a kernel-text PT_LOAD and RAM PT_LOADs" % base)
    kt = ktext[0]
    last = ram[-1]
    page_offset = last[3] - last[4]
    if last[4] + last[5] > MM_PHYS:
        die("%s: RAM must end below 1 GiB" % base)

    # VMCOREINFO
    nb = data[notes[0][2]:notes[0][2] + notes[0][5]]
    vmci = {}
    pos = 0
    while pos + 12 <= len(nb):
        namesz, descsz, _ = struct.unpack_from("<III", nb, pos)
        name = nb[pos + 12:pos + 12 + namesz].rstrip(b"\0")
        d0 = pos + 12 + (namesz + 3) // 4 * 4
        if name == b"VMCOREINFO":
            for line in nb[d0:d0 + descsz].decode().splitlines():
                if "=" in line:
                    k, v = line.split("=", 1)
                    vmci[k] = v
        pos = d0 + (descsz + 3) // 4 * 4
    try:
        sym_mm = int(vmci["SYMBOL(mem_map)"], 16)
        sym_pgt = int(vmci.get("SYMBOL(init_top_pgt)", vmci.get("SYMBOL(swapper_pg_dir)")), 16)
        sz_page = int(vmci["SIZE(page)"])
        off_mc = int(vmci["OFFSET(page._mapcount)"])
        off_priv = int(vmci["OFFSET(page.private)"])
        buddy = int(vmci["NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"])
    except (KeyError, TypeError, ValueError) as e:
        die("%s: VMCOREINFO lacks %s (a FLATMEM kernel block is needed)" % (base, e))
    if "NUMBER(pgtable_l5_enabled)" in vmci and int(vmci["NUMBER(pgtable_l5_enabled)"]):
        die("4-level paging only")

    ktext_img = bytearray(data[kt[2]:kt[2] + kt[5]])

    def kt_off(va):
        o = va - kt[3]
        if not 0 <= o < len(ktext_img):
            die("address %#x not in the kernel image" % va)
        return o

    def ram_read(pa, n):
        for p in ram:
            if p[4] <= pa and pa + n <= p[4] + p[5]:
                return data[p[2] + pa - p[4]:p[2] + pa - p[4] + n]
        die("physical %#x not in BASE's RAM" % pa)

    # direct map: PUD entries 1.. as 1 GiB pages (P RW A D PSE)
    pgd = kt_off(sym_pgt)
    pgd_e, = struct.unpack_from("<Q", ktext_img, pgd + ((page_offset >> 39) & 511) * 8)
    pud_pa = pgd_e & 0x000FFFFFFFFFF000
    pud = kt_off(kt[3] + pud_pa - kt[4])
    for i in range(1, gib):
        struct.pack_into("<Q", ktext_img, pud + (((page_offset >> 30) + i) & 511) * 8,
                         (i * GIB) | 0xE3)
    if gib > 511:
        die("GIB beyond one PUD table")
    old_mm_va, = struct.unpack_from("<Q", ktext_img, kt_off(sym_mm))
    old_mm_pa = old_mm_va - page_offset
    struct.pack_into("<Q", ktext_img, kt_off(sym_mm), page_offset + MM_PHYS)

    max_pfn = gib * GIB // PS
    base_pfns = (last[4] + last[5] + PS - 1) // PS
    mm_bytes = max_pfn * sz_page
    mm_lo, mm_hi = MM_PHYS // PS, (MM_PHYS + mm_bytes + PS - 1) // PS

    # layout: ELF header, PT_NOTE, kernel text, RAM loads; page aligned
    new_ram = ram[:-1] + [(PT_LOAD, last[1], 0, last[3], last[4], gib * GIB - last[4],
                           gib * GIB - last[4], last[7])]
    nph = 1 + 1 + len(new_ram)
    off = PS
    note_off = off
    off += (notes[0][5] + PS - 1) // PS * PS
    kt_file = off
    off += (kt[5] + PS - 1) // PS * PS
    ram_file = []
    for p in new_ram:
        ram_file.append(off)
        off += (p[5] + PS - 1) // PS * PS
    total = off

    tmp = out + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        def put(at, buf):
            os.pwrite(fd, buf, at)

        eh = bytearray(data[:64])
        struct.pack_into("<Q", eh, 32, 64)
        struct.pack_into("<H", eh, 56, nph)
        put(0, eh)
        ph = [(PT_NOTE, 0, note_off, 0, 0, notes[0][5], notes[0][5], 0),
              (kt[0], kt[1], kt_file, kt[3], kt[4], kt[5], kt[6], kt[7])]
        for p, fo in zip(new_ram, ram_file):
            ph.append((p[0], p[1], fo, p[3], p[4], p[5], p[6], p[7]))
        put(64, b"".join(struct.pack("<IIQQQQQQ", *p) for p in ph))
        put(note_off, nb)
        put(kt_file, ktext_img)
        for p, fo in zip(ram, ram_file):       # BASE's RAM contents
            put(fo, data[p[2]:p[2] + p[5]])

        def pa_file(pa):
            return ram_file[-1] + pa - new_ram[-1][4]

        # struct pages: BASE's first, then buddy heads
        put(pa_file(MM_PHYS), ram_read(old_mm_pa, base_pfns * sz_page))
        heads = 0
        for lo, hi in ((base_pfns, mm_lo), (mm_hi, max_pfn)):
            p = lo
            while p < hi:
                order = MAX_ORDER - 1
                while order and (p % (1 << order) or p + (1 << order) > hi):
                    order -= 1
                sp = bytearray(sz_page)
                struct.pack_into("<i", sp, off_mc, buddy)
                struct.pack_into("<Q", sp, off_priv, order)
                put(pa_file(MM_PHYS + p * sz_page), sp)
                heads += 1
                p += 1 << order
        os.ftruncate(fd, total)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, out)
    print("bigmm: %s: %d GiB, %d frames, struct pages %d MiB at %#x, %d free blocks"
          % (out, gib, max_pfn, mm_bytes >> 20, MM_PHYS, heads))


if __name__ == "__main__":
    main()
