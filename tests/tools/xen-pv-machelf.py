"""xen-pv-machelf.py PFN.elf DOMU.core OUT.elf - the layout crash(8) needs of
a PV guest's dump (docs/formats.md §4.9), made by hand as a reference for the
writers: the pages of PFN.elf (salvage-capture -E output of the PV core
DOMU.core, addressed by pfn) placed at their machine frames from the core's
.xen_p2m, the notes of PFN.elf kept, plus a Xen CRASH_INFO note (type
0x1000001, the current ten-word layout) whose last word is the guest's
pfn_to_mfn_frame_list_list from the core's .xen_shared_info.  Used by
tests/vm/xen-domu-crash.sh only; it reads the files with its own code.
"""

import struct
import sys

from xenpv import elf_sections

PAGE = 4096
SHINFO_FLL = 3096   # shared_info.arch.pfn_to_mfn_frame_list_list, x86_64
CRASH_INFO = 0x1000001


def die(msg):
    sys.stderr.write("xen-pv-machelf: %s\n" % msg)
    sys.exit(1)


def main():
    if len(sys.argv) != 4:
        die("usage: xen-pv-machelf.py PFN.elf DOMU.core OUT.elf")
    try:
        sec = elf_sections(sys.argv[2])
    except (OSError, ValueError) as e:
        die("the core: %s" % e)
    with open(sys.argv[2], "rb") as core:
        for need in (".xen_p2m", ".xen_shared_info"):
            if need not in sec:
                die("the core has no %s (not a PV guest's)" % need)
        core.seek(sec[".xen_p2m"][0])
        table = core.read(sec[".xen_p2m"][1])
        core.seek(sec[".xen_shared_info"][0])
        shinfo = core.read(PAGE)
    fll, = struct.unpack_from("<Q", shinfo, SHINFO_FLL)
    if fll in (0, 2**64 - 1):
        die("the guest publishes no p2m frame list list (0x%x)" % fll)
    p2m = {}
    for i in range(len(table) // 16):
        pfn, mfn = struct.unpack_from("<QQ", table, 16 * i)
        if pfn != 2**64 - 1:
            p2m.setdefault(pfn, mfn)

    with open(sys.argv[1], "rb") as f:
        src = f.read()
    if src[:4] != b"\x7fELF":
        die("PFN.elf is not ELF")
    phoff, = struct.unpack_from("<Q", src, 0x20)
    phnum, = struct.unpack_from("<H", src, 0x38)
    notes = b""
    pages = []
    for i in range(phnum):
        typ, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", src, phoff + 56 * i)
        if typ == 4:
            notes += src[off:off + filesz]
        elif typ == 1:
            for k in range(0, memsz, PAGE):
                mfn = p2m.get((paddr + k) // PAGE)
                if mfn is not None:
                    data = src[off + k:off + k + PAGE] if k < filesz else bytes(PAGE)
                    pages.append((mfn, data))
    desc = struct.pack("<10Q", 4, 17, 0, 0, 0, 0, 0, 0, 0, fll)
    notes += struct.pack("<III", 4, len(desc), CRASH_INFO) + b"Xen\0" + desc
    pages.sort(key=lambda p: p[0])
    runs = []
    for mfn, data in pages:
        if runs and runs[-1][0] + len(runs[-1][1]) == mfn:
            runs[-1][1].append(data)
        elif not runs or runs[-1][0] + len(runs[-1][1]) < mfn:
            runs.append([mfn, [data]])
        # the same machine frame twice: the first pfn's page is kept
    nph = 1 + len(runs)
    noff = 64 + 56 * nph
    pos = (noff + len(notes) + PAGE - 1) // PAGE * PAGE
    eh = bytearray(src[:64])
    struct.pack_into("<Q", eh, 0x20, 64)
    struct.pack_into("<H", eh, 0x38, nph)
    ph = struct.pack("<IIQQQQQQ", 4, 0, noff, 0, 0, len(notes), len(notes), 0)
    for mfn, datas in runs:
        size = len(datas) * PAGE
        ph += struct.pack("<IIQQQQQQ", 1, 7, pos, 0, mfn * PAGE, size, size, PAGE)
        pos += size
    with open(sys.argv[3], "wb") as o:
        o.write(bytes(eh) + ph + notes)
        o.write(bytes((noff + len(notes) + PAGE - 1) // PAGE * PAGE - noff - len(notes)))
        for _, datas in runs:
            o.write(b"".join(datas))
    print("%d machine frames in %d runs; p2m frame list list at mfn 0x%x" % (len(pages), len(runs), fll))


main()
