"""xen-pv-machcheck.py OUT.elf DOMU.core - checks that OUT.elf (salvage-capture
-E output of the PV guest core DOMU.core) has the layout crash(8) needs of a
PV guest's dump (docs/formats.md §4.9), reading both files with its own
code (no salvage):

- every page of every PT_LOAD sits at a machine frame (p_paddr / 4096) that
  the core's .xen_p2m gives to a pfn, and its bytes are that pfn's page in
  the core's .xen_pages;
- a Xen CRASH_INFO note (name "Xen", type 0x1000001) of 80 bytes whose last
  word is the guest's frame list list (shared_info.arch.
  pfn_to_mfn_frame_list_list, offset 3096 of .xen_shared_info);
- a SALVAGE_P2M note of type 1 (the dump is by machine frame);
- the P2M tree's pages (the frame list list, the mid pages it names up to
  the first zero entry, the leaves those name) are all in the dump.

Prints one line of counts; exits 1 with the first fault found.
"""

import struct
import sys

from xenpv import elf_sections  # the same directory

PAGE = 4096
SHINFO_FLL = 3096
CRASH_INFO = 0x1000001
INVALID = 2**64 - 1


def die(msg):
    sys.stderr.write("xen-pv-machcheck: %s\n" % msg)
    sys.exit(1)


def notes(blob):
    off = 0
    while off + 12 <= len(blob):
        namesz, descsz, typ = struct.unpack_from("<III", blob, off)
        name = blob[off + 12:off + 12 + namesz].rstrip(b"\0").decode(errors="replace")
        d = off + 12 + (namesz + 3) // 4 * 4
        yield name, typ, blob[d:d + descsz]
        off = d + (descsz + 3) // 4 * 4


def main():
    if len(sys.argv) != 3:
        die("usage: xen-pv-machcheck.py OUT.elf DOMU.core")
    try:
        sec = elf_sections(sys.argv[2])
    except ValueError as e:
        die("the core: %s" % e)
    core = open(sys.argv[2], "rb")
    for need in (".xen_p2m", ".xen_pages", ".xen_shared_info"):
        if need not in sec:
            die("the core has no %s" % need)
    core.seek(sec[".xen_p2m"][0])
    table = core.read(sec[".xen_p2m"][1])
    core.seek(sec[".xen_shared_info"][0] + SHINFO_FLL)
    fll, = struct.unpack("<Q", core.read(8))
    pages_off = sec[".xen_pages"][0]
    m2i = {}          # machine frame -> index in .xen_pages (first pfn's)
    seen = set()
    for i in range(len(table) // 16):
        pfn, mfn = struct.unpack_from("<QQ", table, 16 * i)
        if pfn == INVALID or pfn in seen:
            continue
        seen.add(pfn)
        m2i.setdefault(mfn, i)

    def core_page(mfn):
        core.seek(pages_off + m2i[mfn] * PAGE)
        return core.read(PAGE)

    with open(sys.argv[1], "rb") as f:
        out = f.read()
    if out[:4] != b"\x7fELF":
        die("OUT.elf is not ELF")
    phoff, = struct.unpack_from("<Q", out, 0x20)
    phnum, = struct.unpack_from("<H", out, 0x38)
    have = set()
    ci = p2m_note = None
    for i in range(phnum):
        typ, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", out, phoff + 56 * i)
        if typ == 4:
            for name, ntype, desc in notes(out[off:off + filesz]):
                if name == "Xen" and ntype == CRASH_INFO:
                    ci = desc
                elif name == "SALVAGE_P2M":
                    p2m_note = ntype
        elif typ == 1:
            if paddr % PAGE:
                die("PT_LOAD at 0x%x is not page aligned" % paddr)
            for k in range(0, filesz // PAGE * PAGE, PAGE):
                mfn = (paddr + k) // PAGE
                if mfn not in m2i:
                    die("page at 0x%x: machine frame 0x%x is not the guest's" % (paddr + k, mfn))
                if out[off + k:off + k + PAGE] != core_page(mfn):
                    die("machine frame 0x%x: not the core's page of that frame" % mfn)
                have.add(mfn)
    if ci is None:
        die("no Xen CRASH_INFO note")
    if len(ci) != 80:
        die("CRASH_INFO is %d bytes, not 80" % len(ci))
    last, = struct.unpack_from("<Q", ci, 72)
    if last != fll:
        die("CRASH_INFO's last word 0x%x is not the frame list list 0x%x" % (last, fll))
    if p2m_note != 1:
        die("no SALVAGE_P2M note of type 1 (found %r)" % p2m_note)
    # the P2M tree, as crash walks it
    tree = {fll}
    top = core_page(fll) if fll in m2i else die("the frame list list 0x%x is not the guest's" % fll)
    for i in range(512):
        mid, = struct.unpack_from("<Q", top, 8 * i)
        if not mid:
            break
        tree.add(mid)
        if mid not in m2i:
            die("mid page 0x%x is not the guest's" % mid)
        for leaf in struct.unpack("<512Q", core_page(mid)):
            if leaf and leaf != INVALID:
                tree.add(leaf)
    missing = sorted(tree - have)
    if missing:
        die("%d pages of the p2m tree are not in the dump (first: mfn 0x%x)" % (len(missing), missing[0]))
    print("%d pages by machine frame, equal to the core's; CRASH_INFO names 0x%x; the p2m tree's %d pages present"
          % (len(have), fll, len(tree)))


main()
