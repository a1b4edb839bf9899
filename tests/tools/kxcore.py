"""kxcore.py - Xen guest cores (`xl dump-core`) for fixtures.

Written from docs/formats.md §4.9 (not from the C reader).  mkdump.py uses
it for `format xen-core`: the description's `ram` lines are the guest's
pseudo-physical memory (pfns), built as for any other fixture (a `kernel`
block included); this module stores those pages in a dump-core file:

    xcore [type=pv|hvm] [mfn_base=N] [pages=sorted|shuffle] [vmcoreinfo=ADDR]
          [vmcoreinfo_form=note|data] [header_vcpus=N] [header_pages=N]
          [magic=N] [format_version=N] [xen=4.17] [extra=.7]
          [shared_info=yes|no] [prstatus_entsize=N] [padding=N]
          [dup=PFN,PFN] [past=N] [bigpfn=N] [biggmfn=N] [vcpus=N] [p2m_tree=ADDR]

* PV (default): `.xen_p2m` (pfn, gmfn) pairs; machine frames are the pfns
  in 2 MiB chunks in reverse order from `mfn_base` (default 0x40000; the
  first 2 MiB page by page in reverse), and the kernel's page tables (a
  `kernel` block's) hold machine frames, as a PV guest's do.  HVM:
  `.xen_pfn`, tables untouched.
* vCPUs: one vcpu_guest_context per CORE NT_PRSTATUS note of the
  description (ktask's or `note prstatus` lines), user_regs from pr_reg,
  ctrlreg[3] = the kernel's top page table (machine address for PV), then
  `vcpus=N` all-zero contexts up to N.  The notes themselves are not
  written: a dump-core has none of its own.
* `p2m_tree=ADDR` (PV): the guest publishes its P2M tree as Linux does for
  tools (docs/formats.md §4.7, §4.9): the top page ("frame list list") at
  guest address ADDR, one mid page after it, then the leaf pages (each 512
  mfns, ~0 for pfns without a frame); the top page's first entry names the
  mid page, the mid page's first entries the leaves, the rest zero; the top
  page's machine frame goes into `.xen_shared_info` at offset 3096
  (arch.pfn_to_mfn_frame_list_list).  The pages overwrite what the
  description put there (they must be guest RAM).
* VMCOREINFO: the kernel block's text written into guest memory at
  `vmcoreinfo` (page aligned, in RAM) as Linux keeps it: its vmcoreinfo note
  (`note`) or its data page (`data`).
* Hostile shapes: `header_vcpus`/`header_pages` disagree with the sections;
  `dup=PFN` adds a second entry (and page, other data) for PFN after the
  others; `past=N` adds N entries beyond `.xen_pages`; `bigpfn=N` N
  entries naming pfns beyond 2^40; `biggmfn=N` N entries for the pfns after
  the highest (pages of their own) whose machine frames are 2^52 on (no
  machine address: frame * 4096 wraps); `padding=N` N invalid (~0) entries with
  zero pages, as xl writes when the guest shrank; `prstatus_entsize`
  overrides the context size.  Anchors for `corrupt`: notes, prstatus,
  pages, p2m (the table), shdr, strtab, end.

Listing: pfn order, a page `data` when its pfn has an entry (the first
one), `hole` otherwise, up to the highest pfn stored.
"""

import random
import struct
import zlib

from xenpv import translate_tables

PAGE = 4096
CTX = 5168
MAGIC_PV, MAGIC_HVM = 0xF00FEBED, 0xF00FEBEE
NT_NONE, NT_HEADER, NT_VERSION, NT_FORMAT = 0x2000000, 0x2000001, 0x2000002, 0x2000003
SHT_PROGBITS, SHT_NOTE, SHT_STRTAB = 1, 7, 3
KEYS = {"type", "mfn_base", "pages", "vmcoreinfo", "vmcoreinfo_form", "header_vcpus",
        "header_pages", "magic", "format_version", "xen", "extra", "shared_info", "p2m_tree",
        "prstatus_entsize", "padding", "dup", "past", "bigpfn", "biggmfn", "vcpus"}
# pr_reg order (docs/formats.md §2.3)
PR = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
      "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
      "gs_base", "ds", "es", "fs", "gs"]


class XcoreError(Exception):
    pass


def parse(d, args, mk):
    _, kv = mk.kv_args(args, KEYS)
    d.xcore = kv


def guest_pfns(d):
    pfns = set()
    for ld in d.loads:
        if ld.ktext:
            continue
        if ld.paddr % PAGE or ld.memsz % PAGE:
            raise XcoreError("ram ranges of a guest core must be whole pages")
        pfns.update(range(ld.paddr // PAGE, (ld.paddr + ld.memsz) // PAGE))
    return sorted(pfns)


def make_p2m(pfns, base):
    """pfn -> mfn: 2 MiB chunks in reverse order, the first 2 MiB page by
    page in reverse (frames within a later chunk stay contiguous, so 2 MiB
    mappings stay valid)."""
    chunks = sorted({p // 512 for p in pfns})
    where = {c: i for i, c in enumerate(reversed(chunks))}
    m = {}
    for p in pfns:
        c = p // 512
        if c == 0:
            m[p] = base + where[c] * 512 + (511 - p % 512)
        else:
            m[p] = base + where[c] * 512 + p % 512
    return m


def note(ntype, desc):
    return struct.pack("<III", 4, len(desc), ntype) + b"Xen\0" + desc


def fixed(s, n):
    b = s.encode()[:n - 1]
    return b + bytes(n - len(b))


def context(regs, cr3, flags):
    c = bytearray(CTX)
    struct.pack_into("<Q", c, 512, flags)
    r = 520
    for i, name in enumerate(PR[:15]):
        struct.pack_into("<Q", c, r + 8 * i, regs.get(name, 0))
    struct.pack_into("<Q", c, r + 128, regs.get("rip", 0))
    struct.pack_into("<H", c, r + 136, regs.get("cs", 0) & 0xFFFF)
    struct.pack_into("<Q", c, r + 144, regs.get("eflags", 0))
    struct.pack_into("<Q", c, r + 152, regs.get("rsp", 0))
    struct.pack_into("<H", c, r + 160, regs.get("ss", 0) & 0xFFFF)
    for i, s in enumerate(("es", "ds", "fs", "gs")):
        struct.pack_into("<Q", c, r + 168 + 8 * i, regs.get(s, 0))
    struct.pack_into("<Q", c, 4976, regs.get("rsp", 0))           # kernel_sp
    struct.pack_into("<Q", c, 4984 + 24, cr3)                      # ctrlreg[3]
    struct.pack_into("<Q", c, 5144, regs.get("fs_base", 0))
    struct.pack_into("<Q", c, 5152, regs.get("gs_base", 0))        # gs_base_kernel
    return bytes(c)


def build(d, mk):
    kv = d.xcore if getattr(d, "xcore", None) is not None else {}
    num = lambda k, dflt: mk.parse_int(kv[k]) if k in kv else dflt
    hvm = kv.get("type", "pv") == "hvm"
    pfns = guest_pfns(d)
    if not pfns:
        raise XcoreError("a guest core needs ram lines")
    mem = d.mem
    p2m = make_p2m(pfns, num("mfn_base", 0x40000))
    root = None
    if d.kernel is not None:
        kkv = d.kernel[0]
        root = (mk.parse_int(kkv.get("text_phys", "0x200000")) + 0x10000)
    # VMCOREINFO in guest memory, as Linux keeps it
    vnote = d.kernel[2] if d.kernel is not None else None
    if vnote is not None and "vmcoreinfo" in kv:
        at = num("vmcoreinfo", 0)
        if at % PAGE or at // PAGE not in p2m:
            raise XcoreError("vmcoreinfo= must be a page of guest RAM")
        if kv.get("vmcoreinfo_form", "note") == "note":
            page = struct.pack("<III", 11, len(vnote.desc), 0) + b"VMCOREINFO\0\0" + vnote.desc
        else:
            page = vnote.desc
        if len(page) > PAGE:
            raise XcoreError("VMCOREINFO larger than a page")
        mem.write(at, page + bytes(PAGE - len(page)))
    if not hvm and root is not None:
        translate_tables(mem, root, p2m)
    fll = None
    if not hvm and "p2m_tree" in kv:
        top = num("p2m_tree", 0) // PAGE
        nleaves = (max(pfns) + 512) // 512
        tree = [top, top + 1] + [top + 2 + i for i in range(nleaves)]
        if any(t not in p2m for t in tree):
            raise XcoreError("p2m_tree= must be followed by %d pages of guest RAM" % len(tree))
        for i in range(nleaves):
            leaf = struct.pack("<512Q", *[p2m.get(i * 512 + k, (1 << 64) - 1) for k in range(512)])
            mem.write((top + 2 + i) * PAGE, leaf)
        mid = struct.pack("<%dQ" % nleaves, *[p2m[top + 2 + i] for i in range(nleaves)])
        mem.write((top + 1) * PAGE, mid + bytes(PAGE - len(mid)))
        mem.write(top * PAGE, struct.pack("<Q", p2m[top + 1]) + bytes(PAGE - 8))
        fll = p2m[top]
    # vCPUs from the CORE notes
    ctxs = []
    cr3 = 0
    if root is not None:
        cr3 = p2m[root // PAGE] * PAGE if not hvm else root
    for n in (n for g in d.ptnotes for n in g):
        if n.name == "CORE" and n.type == 1 and len(n.desc) >= 112 + 27 * 8:
            vals = struct.unpack_from("<27Q", n.desc, 112)
            regs = dict(zip(PR, vals))
            flags = 0x20 | (0x4 if regs["rip"] >= 0xFFFF800000000000 else 0)
            ctxs.append(context(regs, cr3, flags))
    while len(ctxs) < num("vcpus", 0):
        ctxs.append(bytes(CTX))
    esz = num("prstatus_entsize", CTX)
    prstatus = b"".join(c[:esz] + bytes(max(0, esz - CTX)) for c in ctxs)
    # table entries in .xen_pages order
    ents = [(p, p2m[p] if not hvm else p, mem.read(p * PAGE, PAGE)) for p in pfns]
    if kv.get("pages", "sorted") == "shuffle":
        random.Random(d.seed).shuffle(ents)
    rnd = random.Random(d.seed + 99)
    for p in [mk.parse_int(x) for x in kv.get("dup", "").split(",") if x]:
        ents.append((p, 0x7FFF0 + p, bytes(rnd.getrandbits(8) for _ in range(PAGE))))
    top = max(pfns) + 1
    for i in range(num("biggmfn", 0)):
        ents.append((top + i, (1 << 52) + i, bytes(rnd.getrandbits(8) for _ in range(PAGE))))
    for _ in range(num("bigpfn", 0)):
        ents.append(((1 << 41) + len(ents), 0x7FFFF, bytes(PAGE)))
    for _ in range(num("padding", 0)):
        ents.append(((1 << 64) - 1, (1 << 64) - 1, bytes(PAGE)))
    past = [(0x100000 + i, 0x7FFE0 + i) for i in range(num("past", 0))]
    npages = len(ents)
    if hvm:
        table = b"".join(struct.pack("<Q", e[0]) for e in ents) + \
            b"".join(struct.pack("<Q", e[0]) for e in past)
    else:
        table = b"".join(struct.pack("<QQ", e[0], e[1]) for e in ents) + \
            b"".join(struct.pack("<QQ", e[0], e[1]) for e in past)
    # notes
    ver = kv.get("xen", "4.17").split(".")
    vdesc = struct.pack("<QQ", int(ver[0]), int(ver[1])) + fixed(kv.get("extra", ".7"), 16) + \
        fixed("gcc (Debian 12.2.0-14) 12.2.0", 64) + fixed("pkg-xen-devel", 16) + \
        fixed("lists.alioth.debian.org", 32) + fixed("Thu Oct  2 12:00:00 UTC 2026", 32) + \
        fixed("xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64", 1024) + \
        fixed("", 64) + struct.pack("<QQ", 0xFFFF800000000000, PAGE)
    magic = num("magic", MAGIC_HVM if hvm else MAGIC_PV)
    notes = note(NT_NONE, b"") + \
        note(NT_HEADER, struct.pack("<QQQQ", magic, num("header_vcpus", len(ctxs)),
                                    num("header_pages", npages + len(past)), PAGE)) + \
        note(NT_VERSION, vdesc) + note(NT_FORMAT, struct.pack("<Q", num("format_version", 1)))
    shinfo = kv.get("shared_info", "yes") == "yes"
    names = [".shstrtab", ".note.Xen", ".xen_prstatus"] + \
        ([".xen_shared_info"] if shinfo else []) + [".xen_pages", ".xen_pfn" if hvm else ".xen_p2m"]
    strtab = b"\0"
    name_off = {}
    for n in names:
        name_off[n] = len(strtab)
        strtab += n.encode() + b"\0"
    nsh = len(names) + 1
    off = 64 + 64 * nsh
    secs = {}
    secs[".note.Xen"] = (off, len(notes), SHT_NOTE, 0, 0)
    off += len(notes)
    secs[".xen_prstatus"] = (off, len(prstatus), SHT_PROGBITS, 8, esz)
    off += len(prstatus)
    if shinfo:
        secs[".xen_shared_info"] = (off, PAGE, SHT_PROGBITS, 8, PAGE)
        off += PAGE
    off = (off + PAGE - 1) // PAGE * PAGE
    pages_off = off
    secs[".xen_pages"] = (off, npages * PAGE, SHT_PROGBITS, PAGE, PAGE)
    off += npages * PAGE
    tname = ".xen_pfn" if hvm else ".xen_p2m"
    secs[tname] = (off, len(table), SHT_PROGBITS, 8, 8 if hvm else 16)
    off += len(table)
    secs[".shstrtab"] = (off, len(strtab), SHT_STRTAB, 0, 0)
    off += len(strtab)
    out = bytearray(off)
    out[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", out, 16, 4, 62, 1, 0, 0, 64, 0, 64, 56, 0, 64, nsh, 1)
    for i, n in enumerate(names):
        o, size, typ, al, ent = secs[n]
        struct.pack_into("<IIQQQQIIQQ", out, 64 + 64 * (i + 1), name_off[n], typ, 0, 0, o, size,
                         0, 0, al, ent)
    for n, blob in ((".note.Xen", notes), (".xen_prstatus", prstatus), (tname, table),
                    (".shstrtab", strtab)):
        o = secs[n][0]
        out[o:o + len(blob)] = blob
    if shinfo:
        # arch.pfn_to_mfn_frame_list_list: ~0 when the guest has none
        struct.pack_into("<Q", out, secs[".xen_shared_info"][0] + 3096,
                         fll if fll is not None else (1 << 64) - 1)
    for i, e in enumerate(ents):
        out[pages_off + i * PAGE:pages_off + (i + 1) * PAGE] = e[2]
    b = mk.Built()
    b.data = out
    b.anchor = {"notes": secs[".note.Xen"][0], "prstatus": secs[".xen_prstatus"][0],
                "pages": pages_off, "data": pages_off, "p2m": secs[tname][0], "shdr": 64,
                "strtab": secs[".shstrtab"][0], "end": off}
    b.listing = listing(ents)
    return b


def listing(ents):
    first = {}
    for p, _, data in ents:
        if p < (1 << 40) and p not in first:
            first[p] = data
    if not first:
        return []
    return [(p, "data", zlib.crc32(first[p])) if p in first else (p, "hole", None)
            for p in range(max(first) + 1)]


def reread_listing(data):
    """The listing from the file's bytes, by a second reading of the sections."""
    shoff, = struct.unpack_from("<Q", data, 40)
    shnum, shstrndx = struct.unpack_from("<HH", data, 60)
    sh = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i) for i in range(shnum)]
    so, ss = sh[shstrndx][4], sh[shstrndx][5]
    st = data[so:so + ss]
    sec = {}
    for s in sh[1:]:
        name = st[s[0]:st.index(b"\0", s[0])].decode()
        sec[name] = (s[4], s[5])
    po, psz = sec[".xen_pages"]
    if ".xen_p2m" in sec:
        to, tsz = sec[".xen_p2m"]
        pf = [struct.unpack_from("<Q", data, to + 16 * i)[0] for i in range(tsz // 16)]
    else:
        to, tsz = sec[".xen_pfn"]
        pf = [struct.unpack_from("<Q", data, to + 8 * i)[0] for i in range(tsz // 8)]
    ents = [(p, 0, data[po + i * PAGE:po + (i + 1) * PAGE])
            for i, p in enumerate(pf[:psz // PAGE]) if p != (1 << 64) - 1]
    return listing(ents)
