#!/usr/bin/python3
"""mkdump.py - build synthetic crash dumps from text descriptions.

Usage: mkdump.py DESC OUT [--pages PAGES] [--plain PLAIN]

Written from docs/formats.md only; it must not share code with the
reader library it is meant to check.  The description language is documented in
tests/fixtures/README.md.  Standard library only, plus the Debian packages
python3-lzo, python3-snappy and python3-zstandard for the kdump codecs (imported
only when a description asks for that codec).
"""

import argparse
import random
import shlex
import struct
import sys
import zlib

import kmem
import kmm
import kprintk
import kxcore
import kxen

# --------------------------------------------------------------------------
# constants from docs/formats.md

PT_LOAD, PT_NOTE = 1, 4
PN_XNUM = 0xFFFF
EM_X86_64 = 62
ET_CORE = 4
NT_PRSTATUS = 1
XEN_ELFNOTE_CRASH_INFO = 0x1000001
XEN_ELFNOTE_CRASH_REGS = 0x1000002
DEFAULT_PAGE_OFFSET = 0xFFFF888000000000

CODEC_FLAGS = {"none": 0, "zlib": 0x1, "lzo": 0x2, "snappy": 0x4, "zstd": 0x20}
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
KDUMP_HDR_SIZE = 464
KDUMP_SUB_SIZE = 104
PAGE_DESC_SIZE = 24

# elf_prstatus pr_reg order (docs/formats.md §2.3)
PR_REGS = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
           "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
           "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"]
# QEMUCPUState general registers (docs/formats.md §5.1), offsets
QEMU_REGS = {"rax": 8, "rbx": 16, "rcx": 24, "rdx": 32, "rsi": 40, "rdi": 48,
             "rsp": 56, "rbp": 64, "r8": 72, "r9": 80, "r10": 88, "r11": 96,
             "r12": 104, "r13": 112, "r14": 120, "r15": 128, "rip": 136,
             "rflags": 144, "cr0": 392, "cr1": 400, "cr2": 408, "cr3": 416,
             "cr4": 424}
QEMU_SEGS = ["cs", "ds", "es", "fs", "gs", "ss", "ldt", "tr", "gdt", "idt"]
# Machines (docs/formats.md §1.12, §2.3): ELF e_machine, kdump utsname
# machine, header layout ("64", "i386": 8-byte fields at 4-byte alignment,
# "arm": at 8-byte alignment), byte order, and the elf_prstatus layout:
# (offset of pr_reg, register width, register names in pr_reg order, size).
AARCH64_REGS = ["x%d" % i for i in range(31)] + ["sp", "pc", "pstate"]
RISCV_REGS = ["pc", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1"] + \
    ["a%d" % i for i in range(8)] + ["s%d" % i for i in range(2, 12)] + \
    ["t3", "t4", "t5", "t6"]
PPC64_REGS = ["r%d" % i for i in range(32)] + [
    "nip", "msr", "orig_gpr3", "ctr", "link", "xer", "ccr", "softe", "trap",
    "dar", "dsisr", "result"] + ["pad%d" % i for i in range(4)]
I386_REGS = ["ebx", "ecx", "edx", "esi", "edi", "ebp", "eax", "ds", "es", "fs",
             "gs", "orig_eax", "eip", "cs", "eflags", "esp", "ss"]
ARM_REGS = ["r%d" % i for i in range(16)] + ["cpsr", "orig_r0"]
MACHINES = {
    # name: (e_machine, layout, endian, (reg_off, width, regs, prstatus size))
    "x86_64": (62, "64", "<", (112, 8, None, 336)),
    "aarch64": (183, "64", "<", (112, 8, AARCH64_REGS, 392)),
    "riscv64": (243, "64", "<", (112, 8, RISCV_REGS, 376)),
    "ppc64le": (21, "64", "<", (112, 8, PPC64_REGS, 504)),
    "ppc64": (21, "64", ">", (112, 8, PPC64_REGS, 504)),
    "s390x": (22, "64", ">", (112, 8, None, 336)),
    "i686": (3, "i386", "<", (72, 4, I386_REGS, 144)),
    "armv7l": (40, "arm", "<", (72, 4, ARM_REGS, 148)),
}
# kdump_sub_header per layout: (phys_base fmt, dump_level, split,
# vmcoreinfo offset/size, note offset/size, eraseinfo offset/size,
# start_pfn_64, size of the structure); sizes are unsigned long wide
KDUMP_SUB_LAYOUT = {
    "64": dict(ulong="Q", split=12, vmci=32, note=48, erase=64, pfn64=80, size=104),
    "i386": dict(ulong="I", split=8, vmci=20, note=32, erase=44, pfn64=56, size=80),
    "arm": dict(ulong="I", split=8, vmci=24, note=40, erase=56, pfn64=72, size=96),
}

XEN_INFO_FIELDS = ["major", "minor", "extra", "changeset", "compiler",
                   "compile_date", "compile_time", "tainted", "phys_start",
                   "p2m_mfn"]


class DescError(Exception):
    pass


def parse_int(tok):
    """Integer with optional 0x/0o/0b prefix, sign and K/M/G suffix."""
    t = tok.strip().replace("_", "")
    mult = 1
    if t and t[-1] in "KMG" and not t.lower().startswith("0x"):
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[t[-1]]
        t = t[:-1]
    try:
        return int(t, 0) * mult
    except ValueError:
        raise DescError("bad number %r" % tok) from None


def unescape(s):
    """C-like escapes (\\n, \\t, \\0, \\xNN, \\\\) -> bytes (latin-1)."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 >= len(s):
            out += c.encode("latin-1")
            i += 1
            continue
        n = s[i + 1]
        if n == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
            continue
        out += {"n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", "r": b"\r",
                '"': b'"'}.get(n, ("\\" + n).encode("latin-1"))
        i += 2
    return bytes(out)


def align(v, a):
    return (v + a - 1) // a * a if a > 1 else v


def kv_args(toks, allowed=None):
    """Split tokens into (positional list, key=value dict)."""
    pos, kv = [], {}
    for t in toks:
        if "=" in t:
            k, v = t.split("=", 1)
            if allowed is not None and k not in allowed:
                raise DescError("unknown option %r" % k)
            kv[k] = v
        else:
            pos.append(t)
    return pos, kv


# --------------------------------------------------------------------------
# page contents

WORDS = ("the quick brown fox jumps over lazy dog kernel panic oops page "
         "struct task memory crash dump vmcore xen domain cpu register stack "
         "frame inode dentry slab buddy zone node bitmap header offset "
         "descriptor").split()


def pattern_page(kind, seed, pfn, page_size):
    """Content of one whole page for a fill pattern (independent of ranges)."""
    if kind == "zero":
        return bytes(page_size)
    if kind == "pfn":
        base = pfn * page_size
        return b"".join(struct.pack("<Q", base + i)
                        for i in range(0, page_size, 8))
    if kind == "mixed":
        h = (pfn * 2654435761 + seed * 40503) & 0xFFFFFFFF
        kind = "random" if (h >> 7) % 4 == 0 else "text"
    rng = random.Random("%s:%d:%d" % (kind, seed, pfn))
    if kind == "random":
        return rng.randbytes(page_size)
    if kind == "text":
        parts, n = [], 0
        while n < page_size:
            w = rng.choice(WORDS)
            sep = "\n" if rng.random() < 0.1 else " "
            parts.append(w + sep)
            n += len(w) + 1
        return "".join(parts).encode()[:page_size]
    raise DescError("unknown pattern %r" % kind)


class Memory:
    """Sparse physical memory: pages materialised on first write."""

    def __init__(self, page_size, default_kind="mixed", default_seed=1):
        self.ps = page_size
        self.default = (default_kind, default_seed)
        self.pages = {}

    def _page(self, pfn):
        p = self.pages.get(pfn)
        if p is None:
            kind, seed = self.default
            p = bytearray(pattern_page(kind, seed, pfn, self.ps))
            self.pages[pfn] = p
        return p

    def write(self, addr, data):
        ps = self.ps
        i = 0
        while i < len(data):
            pfn, off = divmod(addr + i, ps)
            n = min(ps - off, len(data) - i)
            self._page(pfn)[off:off + n] = data[i:i + n]
            i += n

    def fill(self, start, end, kind, seed):
        ps = self.ps
        a = start
        while a < end:
            pfn, off = divmod(a, ps)
            n = min(ps - off, end - a)
            src = pattern_page(kind, seed, pfn, ps)
            self._page(pfn)[off:off + n] = src[off:off + n]
            a += n

    def read(self, addr, n):
        ps = self.ps
        out = bytearray()
        while n > 0:
            pfn, off = divmod(addr, ps)
            k = min(ps - off, n)
            p = self.pages.get(pfn)
            if p is None:
                kind, seed = self.default
                p = pattern_page(kind, seed, pfn, ps)
            out += p[off:off + k]
            addr += k
            n -= k
        return bytes(out)

    def u64(self, addr):
        return struct.unpack("<Q", self.read(addr, 8))[0]


# --------------------------------------------------------------------------
# notes


class Note:
    def __init__(self, name, ntype, desc, namesz=None, descsz=None,
                 nonul=False):
        self.name = name
        self.type = ntype
        self.desc = desc
        self.namesz = namesz
        self.descsz = descsz
        self.nonul = nonul


def encode_notes(notes, align_to):
    """Encode notes; return (bytes, {index: desc offset})."""
    out = bytearray()
    desc_offs = {}
    for i, n in enumerate(notes):
        nb = n.name.encode()
        if n.name and not n.nonul:
            nb += b"\0"
        namesz = len(nb) if n.namesz is None else n.namesz
        descsz = len(n.desc) if n.descsz is None else n.descsz
        out += struct.pack("<III", namesz & 0xFFFFFFFF, descsz & 0xFFFFFFFF,
                           n.type & 0xFFFFFFFF)
        out += nb
        out += bytes(align(len(out), align_to) - len(out))
        desc_offs[i] = len(out)
        out += n.desc
        out += bytes(align(len(out), align_to) - len(out))
    return bytes(out), desc_offs


def prstatus_desc(kv, machine="x86_64"):
    reg_off, width, regs, size = MACHINES[machine][3]
    if regs is not None:
        # another machine's elf_prstatus: pid where its layout puts it
        d = bytearray(size)
        struct.pack_into("<i", d, 32 if width == 8 else 24,
                         parse_int(kv.pop("pid", "0")))
        for i, r in enumerate(regs):
            if r in kv:
                struct.pack_into("<Q" if width == 8 else "<I", d,
                                 reg_off + width * i,
                                 parse_int(kv.pop(r)) & (2**(8 * width) - 1))
        return bytes(d)
    d = bytearray(336)
    struct.pack_into("<i", d, 32, parse_int(kv.pop("pid", "0")))
    for k in ("ppid", "pgrp", "sid"):
        if k in kv:
            struct.pack_into("<i", d, {"ppid": 36, "pgrp": 40, "sid": 44}[k],
                             parse_int(kv.pop(k)))
    if "cursig" in kv:
        struct.pack_into("<h", d, 12, parse_int(kv.pop("cursig")))
    for i, r in enumerate(PR_REGS):
        if r in kv:
            struct.pack_into("<Q", d, 112 + 8 * i,
                             parse_int(kv.pop(r)) & (2**64 - 1))
    if "fpvalid" in kv:
        struct.pack_into("<i", d, 328, parse_int(kv.pop("fpvalid")))
    return bytes(d)


def qemu_desc(kv):
    d = bytearray(432)
    struct.pack_into("<II", d, 0, 1, 432)
    for r, off in QEMU_REGS.items():
        if r in kv:
            struct.pack_into("<Q", d, off, parse_int(kv.pop(r)) & (2**64 - 1))
    for i, s in enumerate(QEMU_SEGS):
        off = 152 + 24 * i
        if s + "_sel" in kv:
            struct.pack_into("<I", d, off, parse_int(kv.pop(s + "_sel")))
        if s + "_base" in kv:
            struct.pack_into("<Q", d, off + 16, parse_int(kv.pop(s + "_base")))
    return bytes(d)


# --------------------------------------------------------------------------
# the description


class Load:
    def __init__(self, paddr, memsz, filesz, vaddr, gap, align_to, ktext,
                 own=None):
        self.paddr, self.memsz, self.filesz = paddr, memsz, filesz
        self.vaddr, self.gap, self.align, self.ktext = vaddr, gap, align_to, ktext
        self.own = own          # seed of this segment's own data, or None
        self.offset = None


class Desc:
    def __init__(self):
        self.format = "elf"
        self.machine = "x86_64"
        self.page_size = 4096
        self.seed = 1
        self.default_kind = "mixed"
        self.mem = None
        self.mem_ops = []        # deferred until page size/default known
        self.loads = []
        self.ptnotes = [[]]      # list of note groups, one PT_NOTE each
        self.ptnote_opts = [{}]
        self.note_align = 4
        self.elf = {"vaddr": "direct", "page_offset": DEFAULT_PAGE_OFFSET,
                    "layout": "page", "xnum": False, "flags": 0}
        self.kdump = {"version": 6, "codec": "zlib", "dump_level": 0,
                      "bitmaps": 2}
        self.utsname = {}
        self.excludes = []
        self.incomplete = None
        self.eraseinfo = None
        self.flatten = None
        self.corrupt = []
        self.kernel = None
        self.machine_frames = None   # [(pfn, mfn, count)]: listing by pfn


def read_block(lines, i):
    """Lines after a block opener up to 'end'; leading blanks stripped."""
    body = []
    while i < len(lines):
        s = lines[i].strip()
        i += 1
        if s == "end":
            return body, i
        if s.startswith("#") or not s:
            continue
        body.append(s)
    raise DescError("block not closed by 'end'")


def parse_desc(text):
    d = Desc()
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        raw = lines[i]
        i += 1
        try:
            toks = shlex.split(raw, comments=True)
        except ValueError as e:
            raise DescError("line %d: %s" % (lineno, e)) from None
        if not toks:
            continue
        try:
            i = parse_line(d, toks, lines, i)
        except DescError as e:
            raise DescError("line %d: %s" % (lineno, e)) from None
    return d


def parse_line(d, toks, lines, i):
    cmd, args = toks[0], toks[1:]
    if cmd == "format":
        if args[0] not in ("elf", "kdump", "xen-core"):
            raise DescError("format must be elf, kdump or xen-core")
        d.format = args[0]
    elif cmd == "machine":
        if args[0] not in MACHINES:
            raise DescError("machine must be one of " + " ".join(MACHINES))
        d.machine = args[0]
    elif cmd == "page_size":
        d.page_size = parse_int(args[0])
    elif cmd == "seed":
        d.seed = parse_int(args[0])
    elif cmd == "machine_frames":
        # a PV guest's dump by machine frame (docs/formats.md §4.9): the
        # file's frames are mfns; the listing is by pfn through these runs
        d.machine_frames = []
        for r in args:
            t = [parse_int(x) for x in r.split(":")]
            if len(t) != 3:
                raise DescError("machine_frames takes PFN:MFN:COUNT runs")
            d.machine_frames.append(tuple(t))
    elif cmd == "default":
        d.default_kind = args[0]
        if len(args) > 1:
            d.seed = parse_int(args[1])
    elif cmd in ("ram", "ktext"):
        pos, kv = kv_args(args, {"filesz", "vaddr", "gap", "align", "own"})
        start, end = parse_int(pos[0]), parse_int(pos[1])
        memsz = end - start
        filesz = parse_int(kv["filesz"]) if "filesz" in kv else memsz
        vaddr = kv.get("vaddr")
        if cmd == "ktext" and vaddr is None:
            raise DescError("ktext needs vaddr=")
        d.loads.append(Load(start, memsz, filesz,
                            None if vaddr is None else parse_int(vaddr),
                            parse_int(kv.get("gap", "0")),
                            parse_int(kv.get("align", "0")), cmd == "ktext",
                            parse_int(kv["own"]) if "own" in kv else None))
    elif cmd == "fill":
        start, end = parse_int(args[0]), parse_int(args[1])
        kind = args[2]
        seed = parse_int(args[3]) if len(args) > 3 and kind != "byte" else d.seed
        if kind == "byte":
            d.mem_ops.append(("bytes", start,
                              bytes([parse_int(args[3])]) * (end - start)))
        else:
            d.mem_ops.append(("fill", start, end, kind, seed))
    elif cmd == "put":
        addr, kind, vals = parse_int(args[0]), args[1], args[2:]
        if kind == "string":
            data = b"".join(unescape(v) for v in vals)
        elif kind in ("u8", "u16", "u32", "u64", "i32", "i64"):
            fmt = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q",
                   "i32": "<i", "i64": "<q"}[kind]
            bits = struct.calcsize(fmt) * 8
            data = b"".join(struct.pack(fmt.upper() if kind[0] == "u" else fmt,
                                        parse_int(v) & ((1 << bits) - 1)
                                        if kind[0] == "u" else parse_int(v))
                            for v in vals)
        elif kind == "hex":
            data = bytes.fromhex("".join(vals))
        else:
            raise DescError("unknown put kind %r" % kind)
        d.mem_ops.append(("bytes", addr, data))
    elif cmd == "note":
        i = parse_note(d, args, lines, i)
    elif cmd == "ptnote":
        # start a new PT_NOTE segment (notes that follow go into it)
        pos, kv = kv_args(args, {"trailing", "filesz"})
        if "empty" in pos:
            d.ptnotes.append([])
            d.ptnote_opts.append({"empty": True})
        d.ptnotes.append([])
        d.ptnote_opts.append({})
        if kv:
            # options apply to the segment just opened
            d.ptnote_opts[-1] = {k: parse_int(v) for k, v in kv.items()}
        if pos and pos != ["empty"]:
            raise DescError("ptnote takes 'empty', trailing=N, filesz=N")
    elif cmd == "note_trailing":
        d.ptnote_opts[-1]["trailing"] = parse_int(args[0])
    elif cmd == "note_align":
        d.note_align = parse_int(args[0])
    elif cmd == "elf":
        _, kv = kv_args(args, {"vaddr", "page_offset", "layout", "xnum",
                               "flags"})
        for k, v in kv.items():
            if k in ("page_offset", "flags"):
                d.elf[k] = parse_int(v)
            elif k == "xnum":
                d.elf[k] = v in ("1", "yes", "true")
            elif k == "vaddr":
                if v not in ("direct", "phys"):
                    raise DescError("elf vaddr= direct|phys")
                d.elf[k] = v
            elif k == "layout":
                if v not in ("page", "packed"):
                    raise DescError("elf layout= page|packed")
                d.elf[k] = v
    elif cmd == "kdump":
        _, kv = kv_args(args, {"version", "codec", "dump_level", "phys_base",
                               "timestamp", "bitmaps", "nr_cpus",
                               "max_mapnr", "status", "split_start",
                               "split_end"})
        for k, v in kv.items():
            if k == "codec":
                if v not in CODEC_FLAGS:
                    raise DescError("unknown codec %r" % v)
                d.kdump[k] = v
            else:
                d.kdump[k] = parse_int(v)
    elif cmd == "utsname":
        _, kv = kv_args(args, {"sysname", "nodename", "release", "version",
                               "machine", "domainname"})
        d.utsname.update(kv)
    elif cmd == "exclude":
        d.excludes.append((parse_int(args[0]), parse_int(args[1])))
    elif cmd == "incomplete":
        d.incomplete = parse_int(args[0])
    elif cmd == "eraseinfo":
        d.eraseinfo = b"".join(unescape(a) for a in args)
    elif cmd == "flatten":
        _, kv = kv_args(args, {"seed", "order", "chunk", "overlap", "decoys",
                               "holes", "bad"})
        d.flatten = kv
    elif cmd == "corrupt":
        d.corrupt.append(args)
    elif cmd == "kernel":
        pos, kv = kv_args(args)
        body, i = read_block(lines, i)
        note = Note("VMCOREINFO", 0, b"")     # text filled in by kmem
        d.ptnotes[-1].append(note)
        d.kernel = (kv, body, note)
    elif cmd == "xcore":
        kxcore.parse(d, args, sys.modules[__name__])
    elif cmd in kxen.DIRECTIVES:
        try:
            i = kxen.parse(d, cmd, args, lines, i, sys.modules[__name__])
        except kxen.XenError as e:
            raise DescError("%s: %s" % (cmd, e)) from None
    else:
        raise DescError("unknown directive %r" % cmd)
    return i


def parse_note(d, args, lines, i):
    kind, rest = args[0], args[1:]
    pos, kv = kv_args(rest)
    common = {}
    for k in ("namesz", "descsz"):
        if k in kv:
            common[k] = parse_int(kv.pop(k))
    nonul = "nonul" in pos
    if nonul:
        pos.remove("nonul")
    pad = parse_int(kv.pop("pad", "0"))
    if kind == "prstatus":
        note = Note(kv.pop("name", "CORE"), NT_PRSTATUS,
                    prstatus_desc(kv, d.machine))
    elif kind == "qemu":
        note = Note("QEMU", 0, qemu_desc(kv))
    elif kind in ("vmcoreinfo", "vmcoreinfo-xen", "text"):
        body, i = read_block(lines, i)
        text = "".join(l + "\n" for l in body).encode()
        name = {"vmcoreinfo": "VMCOREINFO",
                "vmcoreinfo-xen": "VMCOREINFO_XEN"}.get(kind)
        name = kv.pop("name", name)
        if name is None:
            raise DescError("note text needs name=")
        ntype = parse_int(kv.pop("type", "0"))
        if kind == "vmcoreinfo-xen":
            size = parse_int(kv.pop("size", "4068"))
            if len(text) > size:
                raise DescError("VMCOREINFO_XEN text longer than %d" % size)
            text += bytes(size - len(text))
        text += bytes(pad)
        note = Note(name, ntype, text)
    elif kind == "xen-regs":
        vals = [parse_int(kv.pop(k, "0")) for k in ("cr0", "cr2", "cr3", "cr4")]
        note = Note("Xen", XEN_ELFNOTE_CRASH_REGS, struct.pack("<4Q", *vals))
    elif kind == "xen-info":
        layout = parse_int(kv.pop("layout", "80"))
        fields = XEN_INFO_FIELDS[:8]
        if layout == 72:
            fields = fields + ["p2m_mfn"]
        elif layout == 80:
            fields = fields + ["phys_start", "p2m_mfn"]
        elif layout != 64:
            raise DescError("xen-info layout must be 64, 72 or 80")
        vals = [parse_int(kv.pop(f, "0")) & (2**64 - 1) for f in fields]
        note = Note("Xen", XEN_ELFNOTE_CRASH_INFO,
                    struct.pack("<%dQ" % len(vals), *vals))
    elif kind == "raw":
        name = unescape(kv.pop("name", "")).decode("latin-1")
        ntype = parse_int(kv.pop("type", "0"))
        if "desc" in kv:
            desc = unescape(kv.pop("desc"))
        else:
            desc = bytes.fromhex(kv.pop("hex", ""))
        desc += bytes(pad)
        note = Note(name, ntype, desc)
        if name == "" and "namesz" not in common:
            common["namesz"] = 0
    else:
        raise DescError("unknown note kind %r" % kind)
    if kv:
        raise DescError("unknown note options %s" % sorted(kv))
    note.namesz = common.get("namesz")
    note.descsz = common.get("descsz")
    note.nonul = nonul
    d.ptnotes[-1].append(note)
    return i


# --------------------------------------------------------------------------
# building


def build_memory(d):
    mem = Memory(d.page_size, d.default_kind, d.seed)
    if d.kernel is not None:
        try:
            kmem.build(d, mem, sys.modules[__name__])
        except kmem.KernelError as e:
            raise DescError("kernel: %s" % e) from None
    if getattr(d, "xen", None) is not None:
        try:
            kxen.build(d, mem, sys.modules[__name__])
        except kxen.XenError as e:
            raise DescError("xen: %s" % e) from None
    for op in d.mem_ops:
        if op[0] == "bytes":
            mem.write(op[1], op[2])
        else:
            mem.fill(op[1], op[2], op[3], op[4])
    d.mem = mem


def all_notes(d):
    return [n for g in d.ptnotes for n in g]


def note_segments(d):
    """[(bytes, opts, notes, desc_offsets)] for each PT_NOTE."""
    segs = []
    for notes, opts in zip(d.ptnotes, d.ptnote_opts):
        if not notes and not opts.get("empty") and len(d.ptnotes) > 1:
            continue
        blob, offs = encode_notes(notes, d.note_align)
        blob += bytes(opts.get("trailing", 0))
        segs.append((blob, opts, notes, offs))
    return segs


class Built:
    """Result of building: file bytes plus what the listing needs."""

    def __init__(self):
        self.data = b""
        self.listing = []    # list of (pfn, state, crc or None)
        self.anchor = {}     # named offsets for corrupt directives
        self.phdrs = []      # ELF: program header file offsets
        self.desc_off = {}   # kdump: pfn -> descriptor file offset


def build_elf(d):
    ps = d.page_size
    b = Built()
    segs = note_segments(d)
    nph = len(segs) + len(d.loads)
    xnum = d.elf["xnum"]
    hdr_end = 64 + 56 * nph + (64 if xnum else 0)
    packed = d.elf["layout"] == "packed"
    note_off = hdr_end if packed else align(hdr_end, ps)
    notes_blob = b"".join(s[0] for s in segs)
    data_off = note_off + len(notes_blob)
    if not packed:
        data_off = align(data_off, ps)
    # PT_LOAD placement
    off = data_off
    chunks = []
    for ld in d.loads:
        off += ld.gap
        if packed:
            if ld.align:
                off = align(off, ld.align)
            ld.offset = off
            chunks.append((off, ld.paddr, ld.filesz))
            off += ld.filesz
        else:
            lo = ld.paddr // ps * ps
            hi = align(ld.paddr + ld.filesz, ps)
            off = align(off, ps)
            ld.offset = off + (ld.paddr - lo)
            chunks.append((off, lo, hi - lo))
            off += hi - lo
    total = off
    out = bytearray(total)
    # ELF header
    e_phnum = PN_XNUM if xnum else nph
    shoff = 64 + 56 * nph if xnum else 0
    out[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", out, 16, ET_CORE, MACHINES[d.machine][0], 1, 0, 64,
                     shoff, d.elf["flags"], 64, 56, e_phnum,
                     64 if xnum else 0, 1 if xnum else 0, 0)
    if xnum:
        # section header 0: SHT_NULL, sh_info = real phnum
        struct.pack_into("<IIQQQQIIQQ", out, shoff, 0, 0, 0, 0, 0, 0, 0,
                         nph, 0, 0)
    ph = 64
    noff = note_off
    for blob, opts, _, _ in segs:
        size = len(blob)
        filesz = opts.get("filesz", size)
        o = noff if size or not opts.get("empty") else 0
        struct.pack_into("<IIQQQQQQ", out, ph, PT_NOTE, 0, o, 0, 0, filesz,
                         filesz, 8 if d.note_align == 8 else 0)
        b.phdrs.append(ph)
        ph += 56
        noff += size
    out[note_off:note_off + len(notes_blob)] = notes_blob
    for ld, (coff, lo, n) in zip(d.loads, chunks):
        if ld.vaddr is not None:
            vaddr = ld.vaddr
        elif d.elf["vaddr"] == "phys":
            vaddr = ld.paddr
        else:
            vaddr = d.elf["page_offset"] + ld.paddr
        struct.pack_into("<IIQQQQQQ", out, ph, PT_LOAD, 7, ld.offset, vaddr,
                         ld.paddr, ld.filesz, ld.memsz, 0)
        b.phdrs.append(ph)
        ph += 56
        if ld.own is None:
            out[coff:coff + n] = d.mem.read(lo, n)
        else:
            # data of its own, so overlapping segments can be told apart
            first = lo // ps
            own = b"".join(pattern_page("random", ld.own, pfn, ps)
                           for pfn in range(first, (lo + n + ps - 1) // ps + 1))
            o = lo - first * ps
            out[coff:coff + n] = own[o:o + n]
    b.data = out
    b.anchor = {"data": data_off, "notes": note_off, "end": total,
                "phdr": 64, "shdr": shoff}
    b.listing = elf_listing(d, out)
    return b


def elf_listing(d, out):
    ps = d.page_size
    loads = d.loads
    if not loads:
        return []
    max_pfn = (max(l.paddr + l.memsz for l in loads) + ps - 1) // ps
    state = {}
    content = {}
    for ld in reversed(loads):      # first in header order wins
        for pfn in range(ld.paddr // ps, (ld.paddr + ld.memsz + ps - 1) // ps):
            state.setdefault(pfn, "excluded")
        a, e = ld.paddr, ld.paddr + ld.filesz
        while a < e:
            pfn, o = divmod(a, ps)
            n = min(ps - o, e - a)
            pg = content.setdefault(pfn, bytearray(ps))
            fo = ld.offset + (a - ld.paddr)
            pg[o:o + n] = out[fo:fo + n]
            state[pfn] = "data"
            a += n
    res = []
    for pfn in range(max_pfn):
        s = state.get(pfn, "hole")
        res.append((pfn, s, zlib.crc32(content[pfn]) if s == "data" else None))
    if d.machine_frames is not None:
        by_mfn = {r[0]: r for r in res}
        m = {}
        for pfn, mfn, n in d.machine_frames:
            for k in range(n):
                m[pfn + k] = by_mfn.get(mfn + k, (0, "hole", None))
        res = [(pfn,) + m[pfn][1:] if pfn in m else (pfn, "hole", None)
               for pfn in range(max(m) + 1 if m else 0)]
    return res


def ram_pfns(d):
    ps = d.page_size
    pfns = set()
    for ld in d.loads:
        if ld.ktext or ld.memsz == 0:
            continue
        pfns.update(range(ld.paddr // ps, (ld.paddr + ld.memsz + ps - 1) // ps))
    return pfns


def compress_page(codec, page):
    if codec == "zlib":
        return zlib.compress(page, 1)
    if codec == "lzo":
        import lzo
        return lzo.compress(page, 1, False)
    if codec == "snappy":
        import snappy
        return snappy.compress(page)
    if codec == "zstd":
        import zstandard
        return zstandard.ZstdCompressor(level=1).compress(page)
    return page


def fixed(s, n):
    b = s.encode()[:n - 1] if isinstance(s, str) else s
    return b + bytes(n - len(b))


def vmcoreinfo_value(d, key):
    for n in all_notes(d):
        if n.name == "VMCOREINFO":
            for line in n.desc.split(b"\n"):
                if line.startswith(key.encode() + b"="):
                    return line.split(b"=", 1)[1].rstrip(b"\0").decode()
    return None


def build_kdump(d):
    ps = d.page_size
    k = d.kdump
    lay = MACHINES[d.machine][1]
    E = MACHINES[d.machine][2]
    sl = KDUMP_SUB_LAYOUT[lay]
    sub_size = sl["size"]
    b = Built()
    ver = k["version"]
    pfns = ram_pfns(d)
    max_mapnr = k.get("max_mapnr")
    if max_mapnr is None:
        max_mapnr = (max(l.paddr + l.memsz for l in d.loads if not l.ktext)
                     + ps - 1) // ps
    bm1 = {p for p in pfns if p < max_mapnr}
    excl = set()
    for s, e in d.excludes:
        excl.update(range(s // ps, (e + ps - 1) // ps))
    bm2 = sorted(bm1 - excl)
    # a --split part: full bitmaps, descriptors and data of its frames only
    # (docs/formats.md §1.9)
    if k.get("split_start") is not None:
        bm2_all = bm2
        bm2 = [p for p in bm2 if k["split_start"] <= p < k["split_end"]]
    else:
        bm2_all = bm2
    # sub header extras
    notes = all_notes(d)
    blob, offs = encode_notes(notes, d.note_align)
    blob += bytes(d.ptnote_opts[-1].get("trailing", 0))
    vmci_off = vmci_size = 0
    extra = b""
    if ver >= 4:
        extra = blob
        for i, n in enumerate(notes):
            if n.name == "VMCOREINFO":
                vmci_off = ps + sub_size + offs[i]
                vmci_size = len(n.desc)
                break
    elif ver == 3:
        for n in notes:
            if n.name == "VMCOREINFO":
                extra = n.desc
                vmci_off = ps + sub_size
                vmci_size = len(n.desc)
                break
    sub_hdr_size = (sub_size + len(extra) + ps - 1) // ps
    bm_blocks_one = ((max_mapnr + 7) // 8 + ps - 1) // ps
    nbitmaps = k["bitmaps"]
    bitmap_blocks = bm_blocks_one * nbitmaps
    bm1_off = (1 + sub_hdr_size) * ps
    bm2_off = bm1_off + bm_blocks_one * ps * (nbitmaps - 1)
    desc_start = (1 + sub_hdr_size + bitmap_blocks) * ps
    data_start = desc_start + PAGE_DESC_SIZE * len(bm2)
    codec = k["codec"]
    cflag = CODEC_FLAGS[codec]
    share_zero = bool(k["dump_level"] & 1)
    descs = bytearray(PAGE_DESC_SIZE * len(bm2))
    data = bytearray()
    zero = bytes(ps)
    if share_zero:
        data += zero
    listing_data = {}
    for idx, pfn in enumerate(bm2):
        page = d.mem.read(pfn * ps, ps)
        listing_data[pfn] = zlib.crc32(page)
        b.desc_off[pfn] = desc_start + PAGE_DESC_SIZE * idx
        if d.incomplete is not None and pfn >= d.incomplete // ps:
            listing_data[pfn] = None
            continue
        if share_zero and page == zero:
            struct.pack_into(E + "qIIQ", descs, PAGE_DESC_SIZE * idx, data_start,
                             ps, 0, 0)
            continue
        c = compress_page(codec, page) if cflag else page
        if cflag and len(c) < ps:
            flags = cflag
        else:
            c, flags = page, 0
        struct.pack_into(E + "qIIQ", descs, PAGE_DESC_SIZE * idx,
                         data_start + len(data), len(c), flags, 0)
        data += c
    end = data_start + len(data)
    erase_off = erase_size = 0
    if d.eraseinfo and ver >= 5:
        erase_off, erase_size = end, len(d.eraseinfo)
        data += d.eraseinfo
    out = bytearray(data_start)
    # main header
    uts = dict(sysname="Linux", nodename="salvage-test",
               release=vmcoreinfo_value(d, "OSRELEASE") or "",
               version="#1 SMP", machine=d.machine, domainname="(none)")
    uts.update(d.utsname)
    out[0:8] = b"KDUMP   "
    struct.pack_into(E + "i", out, 8, ver)
    for j, f in enumerate(("sysname", "nodename", "release", "version",
                           "machine", "domainname")):
        out[12 + 65 * j:12 + 65 * (j + 1)] = fixed(uts[f], 65)
    ts = k.get("timestamp")
    if ts is None:
        ct = vmcoreinfo_value(d, "CRASHTIME")
        ts = int(ct) if ct else 0
    status = k.get("status", cflag)
    if d.incomplete is not None:
        status |= DUMP_DH_COMPRESSED_INCOMPLETE
    nr_cpus = k.get("nr_cpus",
                    sum(1 for n in notes if n.type == NT_PRSTATUS
                        and n.name == "CORE"))
    if lay == "64":
        struct.pack_into(E + "qqIiiIIIIIIi", out, 408, ts, 0, status, ps,
                         sub_hdr_size, bitmap_blocks, min(max_mapnr, 0xFFFFFFFF),
                         0, 0, 0, 0, nr_cpus)
    else:
        # 32-bit writers: struct timeval of two 4-byte longs at 404
        struct.pack_into(E + "iiIiiIIIIIIi", out, 404, ts, 0, status, ps,
                         sub_hdr_size, bitmap_blocks, min(max_mapnr, 0xFFFFFFFF),
                         0, 0, 0, 0, nr_cpus)
    # sub header
    phys_base = k.get("phys_base")
    if phys_base is None:
        pb = vmcoreinfo_value(d, "NUMBER(phys_base)")
        phys_base = int(pb, 0) if pb else 0
    sub = bytearray(sub_size)
    ul = sl["ulong"]
    struct.pack_into(E + ul, sub, 0, phys_base & (2**(8 * struct.calcsize(ul)) - 1))
    if ver >= 1:
        struct.pack_into(E + "i", sub, 8 if lay == "64" else 4, k["dump_level"])
    split_start, split_end = k.get("split_start"), k.get("split_end")
    if ver >= 2 and split_start is not None:
        struct.pack_into(E + "i" + ul + ul, sub, sl["split"], 1,
                         min(split_start, 0xFFFFFFFF), min(split_end, 0xFFFFFFFF))
    if ver >= 3:
        struct.pack_into(E + "q" + ul, sub, sl["vmci"], vmci_off, vmci_size)
    if ver >= 4 and extra:
        struct.pack_into(E + "q" + ul, sub, sl["note"], ps + sub_size, len(extra))
    if ver >= 5:
        struct.pack_into(E + "q" + ul, sub, sl["erase"], erase_off, erase_size)
    if ver >= 6:
        struct.pack_into(E + "QQQ", sub, sl["pfn64"], split_start or 0,
                         split_end or 0, max_mapnr)
    out[ps:ps + sub_size] = sub
    out[ps + sub_size:ps + sub_size + len(extra)] = extra
    bmap1 = bytearray(bm_blocks_one * ps)
    for p in bm1:
        bmap1[p >> 3] |= 1 << (p & 7)
    bmap2 = bytearray(bm_blocks_one * ps)
    for p in bm2_all:
        bmap2[p >> 3] |= 1 << (p & 7)
    if nbitmaps == 2:
        out[bm1_off:bm1_off + len(bmap1)] = bmap1
    out[bm2_off:bm2_off + len(bmap2)] = bmap2
    out[desc_start:data_start] = descs
    out += data
    b.data = out
    b.anchor = {"data": data_start, "desc": desc_start, "bitmap1": bm1_off,
                "bitmap2": bm2_off, "sub": ps, "end": len(out)}
    res = []
    for pfn in range(max_mapnr):
        if pfn in listing_data:
            crc = listing_data[pfn]
            res.append((pfn, "incomplete" if crc is None else "data", crc))
        elif pfn in bm1 and nbitmaps == 2:
            res.append((pfn, "excluded", None))
        else:
            res.append((pfn, "hole", None))
    b.listing = res
    return b


# --------------------------------------------------------------------------
# flattened format (docs/formats.md §1.14)

FLAT_END = struct.pack(">qq", -1, -1)


def flat_header():
    h = bytearray(4096)
    h[0:12] = b"makedumpfile"
    struct.pack_into(">qq", h, 16, 1, 1)
    return bytes(h)


def flatten(data, opts):
    """Turn file bytes into a flattened stream; returns bytes."""
    rng = random.Random(parse_int(opts.get("seed", "7")))
    chunk = parse_int(opts.get("chunk", "3000"))
    holes = opts.get("holes", "yes") == "yes"
    overlap = opts.get("overlap", "yes") == "yes"
    ndecoys = parse_int(opts.get("decoys", "3"))
    order = opts.get("order", "shuffle")
    n = len(data)
    # ranges to write: skip zero runs >= 512 bytes (holes), but never the end
    written = []
    if holes:
        pos = 0
        runstart = None
        for i in range(0, n, 256):
            blk = data[i:i + 256]
            if not any(blk) and i + 256 < n:
                if runstart is None:
                    runstart = i
                continue
            if runstart is not None:
                if i - runstart >= 512:
                    if runstart > pos:
                        written.append((pos, runstart))
                    pos = i
                runstart = None
        written.append((pos, n))
    else:
        written = [(0, n)]
    recs = []
    for s, e in written:
        a = s
        while a < e:
            size = max(1, min(e - a, rng.randint(chunk // 2, chunk * 3 // 2)))
            b_end = a + size
            if overlap and rng.random() < 0.5:
                b_end = min(n, b_end + rng.randint(1, 300))
            recs.append((a, data[a:b_end]))
            a += size
    if order == "shuffle":
        rng.shuffle(recs)
    elif order == "reverse":
        recs.reverse()
    # decoys: wrong bytes written before the record that fixes them
    for _ in range(ndecoys if len(recs) > 1 else 0):
        j = rng.randrange(1, len(recs))
        off, buf = recs[j]
        if len(buf) < 2:
            continue
        s = rng.randrange(0, len(buf) - 1)
        e = rng.randrange(s + 1, len(buf) + 1)
        junk = bytes((x ^ 0xA5) for x in buf[s:e])
        recs.insert(rng.randrange(0, j + 1), (off + s, junk))
    # an exact duplicate (correct bytes) late in the stream
    if recs:
        recs.append(recs[rng.randrange(len(recs))])
        # make sure the duplicate is not itself a decoy: re-emit the true bytes
        off, buf = recs[-1]
        recs[-1] = (off, data[off:off + len(buf)])
    out = bytearray(flat_header())
    for off, buf in recs:
        out += struct.pack(">qq", off, len(buf)) + buf
    bad = opts.get("bad")
    if bad:
        k = max(1, len(recs) // 2)
        pos = 4096
        for off, buf in recs[:k]:
            pos += 16 + len(buf)
        rec = {"negative": struct.pack(">qq", 0, -16),
               "huge": struct.pack(">qq", 0, 0x7FFFFFFFFFFFFF00),
               "offset": struct.pack(">qq", -4096, 16) + bytes(16),
               "noend": b""}[bad]
        if bad == "noend":
            out += b""    # end marker dropped below
        else:
            out[pos:pos] = rec
    if bad != "noend":
        out += FLAT_END
    if not bad:
        assert unflatten(bytes(out)) == bytes(data), "flatten self-check"
    return bytes(out)


def unflatten(stream):
    assert stream[:12] == b"makedumpfile"
    pos = 4096
    out = bytearray()
    while True:
        off, size = struct.unpack_from(">qq", stream, pos)
        pos += 16
        if off == -1 and size == -1:
            return bytes(out)
        if len(out) < off + size:
            out += bytes(off + size - len(out))
        out[off:off + size] = stream[pos:pos + size]
        pos += size


# --------------------------------------------------------------------------
# hostile variants


def anchor_value(b, tok):
    """number, or NAME[+-]number with NAME in the built anchors."""
    for sep in ("+", "-"):
        if sep in tok[1:]:
            name, num = tok.split(sep, 1)
            if name in b.anchor:
                v = parse_int(num)
                return b.anchor[name] + (v if sep == "+" else -v)
    if tok in b.anchor:
        return b.anchor[tok]
    return parse_int(tok)


ELF_EHDR = {"e_type": (16, "<H"), "e_machine": (18, "<H"),
            "e_version": (20, "<I"), "e_phoff": (32, "<Q"),
            "e_shoff": (40, "<Q"), "e_flags": (48, "<I"),
            "e_ehsize": (52, "<H"), "e_phentsize": (54, "<H"),
            "e_phnum": (56, "<H"), "e_shentsize": (58, "<H"),
            "e_shnum": (60, "<H")}
ELF_PHDR = {"p_type": (0, "<I"), "p_flags": (4, "<I"), "p_offset": (8, "<Q"),
            "p_vaddr": (16, "<Q"), "p_paddr": (24, "<Q"),
            "p_filesz": (32, "<Q"), "p_memsz": (40, "<Q"),
            "p_align": (48, "<Q")}
KDUMP_HDR = {"header_version": (8, "<i"), "status": (424, "<I"),
             "block_size": (428, "<i"), "sub_hdr_size": (432, "<i"),
             "bitmap_blocks": (436, "<I"), "max_mapnr": (440, "<I"),
             "nr_cpus": (460, "<i")}
KDUMP_SUB = {"phys_base": (0, "<Q"), "dump_level": (8, "<i"),
             "offset_vmcoreinfo": (32, "<q"), "size_vmcoreinfo": (40, "<Q"),
             "offset_note": (48, "<q"), "size_note": (56, "<Q"),
             "offset_eraseinfo": (64, "<q"), "size_eraseinfo": (72, "<Q"),
             "max_mapnr_64": (96, "<Q")}


def poke(buf, off, fmt, val):
    bits = struct.calcsize(fmt) * 8
    struct.pack_into(fmt.upper() if fmt[1].islower() else fmt, buf, off,
                     val & ((1 << bits) - 1))


def apply_corruptions(d, b):
    buf = bytearray(b.data)
    truncate_at = None
    for c in d.corrupt:
        what, rest = c[0], c[1:]
        pos, kv = kv_args(rest)
        if what == "truncate":
            truncate_at = anchor_value(b, pos[0])
        elif what == "elf":
            for k, v in kv.items():
                off, fmt = ELF_EHDR[k]
                poke(buf, off, fmt, anchor_value(b, v))
        elif what == "phdr":
            base = b.phdrs[parse_int(pos[0])]
            for k, v in kv.items():
                off, fmt = ELF_PHDR[k]
                poke(buf, base + off, fmt, anchor_value(b, v))
        elif what == "kdump":
            for k, v in kv.items():
                if k in KDUMP_HDR:
                    off, fmt = KDUMP_HDR[k]
                else:
                    off, fmt = KDUMP_SUB[k]
                    off += d.page_size
                poke(buf, off, fmt, anchor_value(b, v))
        elif what == "desc":
            pfn = parse_int(pos[0])
            base = b.desc_off[pfn]
            for k, v in kv.items():
                off, fmt = {"offset": (0, "<q"), "size": (8, "<I"),
                            "flags": (12, "<I"),
                            "page_flags": (16, "<Q")}[k]
                poke(buf, base + off, fmt, anchor_value(b, v))
        elif what == "bytes":
            off = anchor_value(b, pos[0])
            data = bytes.fromhex("".join(pos[1:]))
            buf[off:off + len(data)] = data
        else:
            raise DescError("unknown corrupt target %r" % what)
    if truncate_at is not None:
        del buf[truncate_at:]
    b.data = bytes(buf)


# --------------------------------------------------------------------------
# listing


def format_listing(listing):
    lines = []
    i = 0
    n = len(listing)
    while i < n:
        pfn, st, crc = listing[i]
        if st == "data":
            lines.append("pfn %#x data %08x" % (pfn, crc))
            i += 1
            continue
        j = i
        while j + 1 < n and listing[j + 1][1] == st:
            j += 1
        if j == i:
            lines.append("pfn %#x %s" % (pfn, st))
        else:
            lines.append("pfn %#x-%#x %s" % (pfn, listing[j][0], st))
        i = j + 1
    return "".join(l + "\n" for l in lines)


def build(text):
    d = parse_desc(text)
    build_memory(d)
    if d.format == "elf":
        b = build_elf(d)
    elif d.format == "xen-core":
        try:
            b = kxcore.build(d, sys.modules[__name__])
        except kxcore.XcoreError as e:
            raise DescError("xen-core: %s" % e) from None
    else:
        b = build_kdump(d)
    plain = bytes(b.data)
    if d.flatten is not None:
        flat_corrupt = [c for c in d.corrupt if c[0] == "truncate"]
        d.corrupt = [c for c in d.corrupt if c[0] != "truncate"]
        apply_corruptions(d, b)
        b.data = flatten(b.data, d.flatten)
        if flat_corrupt:
            b.anchor = {"end": len(b.data)}
            d.corrupt = flat_corrupt
            apply_corruptions(d, b)
    else:
        apply_corruptions(d, b)
    return d, b, plain


# --------------------------------------------------------------------------
# self-check: re-read the plain output and recompute the listing


def decompress_page(flags, buf, ps):
    if flags == 0x1:
        return zlib.decompress(buf)
    if flags == 0x2:
        import lzo
        return lzo.decompress(buf, False, ps)
    if flags == 0x4:
        import snappy
        return snappy.uncompress(buf)
    if flags == 0x20:
        import zstandard
        return zstandard.ZstdDecompressor().decompress(buf, max_output_size=ps)
    return buf


def reread_listing(data):
    """Listing recomputed from file bytes (ELF or kdump, not flattened)."""
    res = []
    if data[:4] == b"\x7fELF" and struct.unpack_from("<H", data, 56)[0] == 0:
        return kxcore.reread_listing(data)      # a Xen guest core: sections
    if data[:4] == b"\x7fELF":
        phoff, = struct.unpack_from("<Q", data, 32)
        phnum, = struct.unpack_from("<H", data, 56)
        if phnum == PN_XNUM:
            shoff, = struct.unpack_from("<Q", data, 40)
            phnum, = struct.unpack_from("<I", data, shoff + 44)
        loads = []
        for i in range(phnum):
            t, _, off, _, pa, fs, ms, _ = struct.unpack_from(
                "<IIQQQQQQ", data, phoff + 56 * i)
            if t == PT_LOAD:
                loads.append((off, pa, fs, ms))
        ps = 4096
        max_pfn = (max(pa + ms for _, pa, _, ms in loads) + ps - 1) // ps
        for pfn in range(max_pfn):
            a, e = pfn * ps, pfn * ps + ps
            page = bytearray(ps)
            st = "hole"
            for off, pa, fs, ms in reversed(loads):   # first one wins
                if pa < e and pa + ms > a and st == "hole":
                    st = "excluded"
                lo, hi = max(a, pa), min(e, pa + fs)
                if lo < hi:
                    st = "data"
                    page[lo - a:hi - a] = data[off + lo - pa:off + hi - pa]
            res.append((pfn, st, zlib.crc32(page) if st == "data" else None))
        return res
    assert data[:8] == b"KDUMP   "
    ver, = struct.unpack_from("<i", data, 8)
    # the header layout follows the utsname machine (docs/formats.md §1.12)
    machine = data[12 + 65 * 4:12 + 65 * 5].split(b"\0")[0].decode("ascii", "replace")
    if machine in ("i386", "i486", "i586", "i686"):
        lay = "i386"
    elif machine.startswith("arm") and machine != "arm64":
        lay = "arm"
    else:
        lay = "64"
    ps, shs, bmb, mm = struct.unpack_from("<iiII", data, 428 if lay == "64" else 416)
    if ver >= 6:
        mm, = struct.unpack_from("<Q", data, ps + KDUMP_SUB_LAYOUT[lay]["pfn64"] + 16)
    one = ((mm + 7) // 8 + ps - 1) // ps
    two = bmb >= 2 * one
    b2 = (1 + shs + bmb - one) * ps
    b1 = (1 + shs) * ps
    dpos = (1 + shs + bmb) * ps
    for pfn in range(mm):
        bit = lambda base: data[base + (pfn >> 3)] >> (pfn & 7) & 1
        if bit(b2):
            off, size, flags, _ = struct.unpack_from("<qIIQ", data, dpos)
            dpos += 24
            if off == 0:
                res.append((pfn, "incomplete", None))
                continue
            page = decompress_page(flags, data[off:off + size], ps)
            assert len(page) == ps
            res.append((pfn, "data", zlib.crc32(page)))
        elif two and bit(b1):
            res.append((pfn, "excluded", None))
        else:
            res.append((pfn, "hole", None))
    return res


def expand_includes(text, base_dir, depth=0):
    """Replace 'include FILE' lines (path relative to the including file)."""
    import os
    out = []
    for line in text.splitlines():
        toks = line.split()
        if toks[:1] == ["include"] and len(toks) == 2:
            if depth > 8:
                raise DescError("include nested too deeply")
            path = os.path.join(base_dir, toks[1])
            try:
                with open(path) as f:
                    inc = f.read()
            except OSError as e:
                raise DescError("include %s: %s" % (toks[1], e.strerror))
            out.append(expand_includes(inc, os.path.dirname(path), depth + 1))
        else:
            out.append(line)
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("desc")
    ap.add_argument("out")
    ap.add_argument("--pages", help="write the expected page listing here")
    ap.add_argument("--plain", help="also write the un-flattened, "
                    "un-corrupted file here")
    ap.add_argument("--dmesg", help="write the expected `salvage dmesg` "
                    "outputs here (FILE, FILE.raw, FILE.caller, FILE.error; "
                    "see kprintk.py)")
    ap.add_argument("--classes", help="write the expected page "
                    "classification (tests/unit/mmcheck.c output; kmm.py)")
    ap.add_argument("--xen-expect", help="write the expected Xen outputs to "
                    "PREFIX.frames, .p2m, .capture, .dmesg, .ring, .syms (kxen.py)")
    ap.add_argument("--check", action="store_true",
                    help="re-read the un-corrupted file and compare listings")
    a = ap.parse_args(argv)
    try:
        import os
        with open(a.desc) as f:
            text = expand_includes(f.read(), os.path.dirname(a.desc))
        d, b, plain = build(text)
    except DescError as e:
        print("mkdump: %s: %s" % (a.desc, e), file=sys.stderr)
        return 2
    if a.check and reread_listing(plain) != b.listing:
        print("mkdump: %s: self-check failed: listing differs when the "
              "file is re-read" % a.desc, file=sys.stderr)
        return 1
    with open(a.out, "wb") as f:
        f.write(b.data)
    if a.plain:
        with open(a.plain, "wb") as f:
            f.write(plain)
    if a.pages:
        with open(a.pages, "w") as f:
            f.write(format_listing(b.listing))
    if a.dmesg:
        kprintk.write_expected(getattr(d, "dmesg_expect", None), a.dmesg)
    if a.xen_expect:
        try:
            kxen.write_expected(d, b, a.xen_expect, sys.modules[__name__])
        except kxen.XenError as e:
            print("mkdump: %s: %s" % (a.desc, e), file=sys.stderr)
            return 2
    if a.classes:
        try:
            kmm.write_classes(d, a.classes)
        except kmm.Error as e:
            print("mkdump: %s: %s" % (a.desc, e), file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
