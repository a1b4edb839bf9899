"""kxen.py - a Xen host's machine memory for fixtures: the hypervisor's data
that salvage reads without symbols, and a PV dom0 behind its P2M.

Written from docs/formats.md §4 (not from the C reader).  Used by
mkdump.py for an `xen ... end` block and an optional `dom0-kernel ... end`
block (the latter is a kmem.py `kernel` block built in dom0's pseudo-physical
memory and scattered into machine frames through the P2M).

    xen version=4.17 [phys_start=0x200000] [cpus=2] [crashing=N]
        [layout=64|72|80] [p2m=tree|zero|invalid] [notes=yes|no]
        [vmcoreinfo_xen=full|minimal] [dup=vmcoreinfo_xen,crash_info]
        [dom0_note=no|yes] [empty_cpu=no|yes] [ring=N] [vcpus=lazy|saved]
      dom0 pages=N [hole=PFN:COUNT] [identity=PFN:COUNT] [foreign=PFN:COUNT]
           [invalid=PFN:COUNT] [extra=COUNT]
      domain ID START END       machine frames [START, END) of domU ID
      pv-domain ID pages=N [vcpus=N] [p2m=tree|linear|none|outside|top-outside]
                [next=self]     a PV domU behind its own P2M tree, published
                                in its shared_info (docs/formats.md §4.12);
                                with a `domu-kernel ID` block its memory
                                holds a kmem.py kernel; linear: the P2M
                                published as p2m_cr3/p2m_vaddr instead (frame
                                list ~0); none: neither; outside: one leaf's
                                worth of its entries point past the machine;
                                top-outside: the frame list itself does;
                                next=self: its next_in_list points at itself
      free START END            free heap frames (state free)
      offlined START END | broken START END
      console "LINE"            a line of Xen's console ring ("(XEN) " added)
    end
    dom0-kernel KEY=VALUE ...   (kmem.py kernel keys; text_phys etc. are dom0
      ... kmem block lines ...   pseudo-physical)
    end
    domu-kernel ID KEY=VALUE ... (the same, in PV domU ID's pseudo-physical
      ... kmem block lines ...   memory)
    end

Machine layout (frames): 0x0-0x9e low memory (Xen's), the Xen image at
phys_start (2 MiB: variables, idle_pg_table and its page tables, version
strings, build id), the frame table (32-byte page_info per frame, count_info
in the encoding of `version`: 4.0-4.16 broken bit 57 and state bits 55-56,
4.17+ broken bit 60 and state bits 58-59, PGC_extra 54 / 57 / 61), the M2P,
struct domains and the console ring in Xen heap frames, then dom0's frames in
2 MiB chunks in reverse order (the first 2 MiB of dom0, mapped with 4 KiB
pages, page by page in reverse), domU ranges, free frames elsewhere.

The P2M is Linux's tree for tools: a top page, mid pages, leaves; absent
ranges point at a shared p2m_mid_missing / p2m_missing pair; leaves carry
identity (bit 62), foreign (bit 63) and invalid (~0) entries as asked.

vcpus=lazy|saved (with a dom0-kernel block holding a ktask `analyzer`, 2
CPUs): dom0's vCPUs as Xen keeps them (docs/formats.md §4.10).  The pCPU
stacks move into the image (I_STACKS, 32 KiB each) with a struct cpu_info
at each top; vCPU 0 (the panicking CPU of ktask) runs on the crashing pCPU,
its registers the guest frame there; vCPU 1's pCPU is idle with vCPU 1's
frame left on its stack (lazy) and a stale copy in struct vcpu, or runs a
domU vCPU with vCPU 1's registers saved in struct vcpu (saved).  dom0's
struct domain points at its vcpu[] array.  The crashing pCPU's stack holds
Xen return addresses (kexec_crash <- hwdom_shutdown <- domain_shutdown <-
do_sched_op) that the generated xen-syms names, and so does Xen's own
symbol table in the image (I_SYMTAB).  ktask's answers become
the dump's az_expect (for `bt/ps/sys/sym --dom0`; written as PREFIX.az.json),
and PREFIX.xenbt lists each pCPU's expected `xen bt` functions.

Expected outputs (mkdump.py --xen-expect PREFIX): PREFIX.frames (`salvage xen
frames`), PREFIX.p2m (`salvage xen p2m`), PREFIX.capture (page listing of
`salvage-capture -X -d 31` output: the source listing with the dropped
frames excluded), PREFIX.dmesg (kprintk's, for `salvage dmesg --dom0`), and
PREFIX.syms, a xen-syms ELF with the symbols of this image.
"""

import json
import os
import struct

import kmem
import kprintk
import xenpv

PAGE = 4096
XEN_VIRT_START = 0xFFFF82D040000000
DIRECTMAP = 0xFFFF830000000000
FRAMETABLE = 0xFFFF82E000000000
RO_MPT = 0xFFFF800000000000
P2M_INVALID = (1 << 64) - 1
FOREIGN = 1 << 63
IDENTITY = 1 << 62
PI_SIZE, OFF_COUNT_INFO, OFF_DOMAIN = 32, 8, 24
OFF_DOMAIN_ID, OFF_NEXT = 0, 96
DOMID_XEN, DOMID_IO = 0x7FF2, 0x7FF1

# image offsets
V_DOMAIN_LIST, V_FRAME_TABLE, V_MAX_PAGE = 0x1000, 0x1008, 0x1010
V_DOM_XEN, V_DOM_IO = 0x1018, 0x1020
V_CONRING, V_CONRING_SIZE, V_CONRINGP, V_CONRINGC = 0x1028, 0x1030, 0x1034, 0x1038
V_CRASHING = 0x103C
V_PDX_SHIFT = 0x1040
I_PGD = 0x2000               # idle_pg_table
I_STRINGS = 0x3000
I_BUILD_ID = 0x4000
I_PT_POOL = 0x10000          # Xen page-table pages (to 0x40000)
I_STACKS = 0x100000          # vcpus=: pCPU stacks, 32 KiB each
I_VCPU = 0x120000            # vcpus=: struct vcpus, vcpu[], the idle domain
I_SYMTAB = 0x140000          # vcpus=: Xen's own symbol table (symbols_*)
STACK = 0x8000
CPU_INFO = 0x140             # sizeof(struct cpu_info) of this fake Xen
VCPU_REGS = 0x2C0            # struct vcpu's arch.user_regs
OFF_VCPU_ARRAY = 0x1A0       # struct domain's vcpu pointer
DOMID_IDLE = 0x7FFF
PV_CS, PV_SS = 0xE033, 0xE02B
# Xen functions on the crashing pCPU's stack (vcpus=): name, text offset, size
XEN_FUNCS = [("kexec_crash_save_cpu", 0x21ECC0, 0x152), ("kexec_crash", 0x21F100, 0x66),
             ("hwdom_shutdown", 0x230470, 0xB4), ("domain_shutdown", 0x207850, 0xF6),
             ("do_sched_op", 0x250D30, 0x55B)]
BUILD_ID = bytes.fromhex("151b373fd64b321593bf987fd923cd10dabadac4")

DIRECTIVES = ("xen", "dom0-kernel", "domu-kernel")
OFF_SHARED_INFO = 0x1C8      # struct domain's shared_info pointer (this fake Xen)
LIN_VA = 0xFFFFC90000000000  # a linear P2M's virtual address (vmalloc space)
SHINFO_ARCH = 3088           # arch_shared_info in shared_info (public ABI, x86_64)


class XenError(Exception):
    pass


class Xen:
    pass


def parse(d, cmd, args, lines, i, mk):
    """mkdump.py hook: an `xen` or `dom0-kernel` block."""
    body, i = mk.read_block(lines, i)
    pos, kv = mk.kv_args(args)
    if cmd == "dom0-kernel":
        d.xen_dom0_kernel = (kv, body)
        return i
    if cmd == "domu-kernel":
        if not pos:
            raise XenError("domu-kernel needs a domain id")
        if not hasattr(d, "xen_domu_kernels"):
            d.xen_domu_kernels = {}
        d.xen_domu_kernels[mk.parse_int(pos[0])] = (kv, body)
        return i
    x = Xen()
    d.xen = x
    x.kv = kv
    x.lines = [mk.shlex.split(l, comments=True) for l in body]
    num = lambda k, dflt: mk.parse_int(kv[k]) if k in kv else dflt
    ver = kv.get("version", "4.17").split(".")
    x.major, x.minor = int(ver[0]), int(ver[1])
    x.phys_start = num("phys_start", 0x200000)
    x.cpus = num("cpus", 2)
    x.crashing = num("crashing", 0)
    x.layout = num("layout", 80)
    x.ring_size = num("ring", 16384)
    x.dup = set(kv.get("dup", "").split(",")) - {""}
    x.p2m_mode = kv.get("p2m", "tree")
    x.vcpus = kv.get("vcpus")
    if x.vcpus not in (None, "lazy", "saved"):
        raise XenError("vcpus must be lazy or saved")
    layout_plan(d, x, mk)
    if kv.get("notes", "yes") == "yes":
        add_notes(d, x, mk)
    return i


# ---- layout (decided at parse time: the notes carry addresses) ----------------

def layout_plan(d, x, mk):
    ram = [l for l in d.loads if not l.ktext]
    if not ram:
        raise XenError("xen block needs ram lines first")
    x.max_page = max((l.paddr + l.memsz + PAGE - 1) // PAGE for l in ram)
    x.ram = ram
    if x.phys_start % (2 << 20):
        raise XenError("phys_start must be 2 MiB aligned")
    img = x.phys_start // PAGE
    x.image = (img, img + 512)
    ft_pages = (x.max_page * PI_SIZE + PAGE - 1) // PAGE
    m2p_pages = (x.max_page * 8 + PAGE - 1) // PAGE
    nxt = img + 512
    x.ft = (nxt, nxt + ft_pages)
    nxt += ft_pages
    x.m2p = (nxt, nxt + m2p_pages)
    nxt += m2p_pages
    ndomu = sorted({mk.parse_int(t[1]) for t in x.lines if t and t[0] in ("domain", "pv-domain")})
    x.domu_ids = ndomu
    x.pv = {}
    for t in x.lines:
        if t and t[0] == "pv-domain":
            _, o = mk.kv_args(t[2:])
            x.pv[mk.parse_int(t[1])] = o
    # struct domains: dom0, dom_xen, dom_io, domUs (one page each)
    x.dom_mfn = {}
    for did in [0, DOMID_XEN, DOMID_IO] + ndomu:
        x.dom_mfn[did] = nxt
        nxt += 1
    ring_pages = (x.ring_size + PAGE - 1) // PAGE
    x.ring = (nxt, nxt + ring_pages)
    nxt += ring_pages
    # shared_info pages (dom0 and PV domUs), PV domUs' vcpu[] and struct vcpus
    x.shinfo = {}
    x.vcpu_pages = {}
    # (dom0's only beside PV domUs: the other fixtures keep their layout)
    has_dom0 = any(t and t[0] == "dom0" for t in x.lines)
    for did in ([0] if has_dom0 and x.pv else []) + sorted(x.pv):
        x.shinfo[did] = nxt
        nxt += 1
        if did:
            nv = mk.parse_int(x.pv[did].get("vcpus", "2"))
            x.vcpu_pages[did] = list(range(nxt, nxt + 1 + nv))
            nxt += 1 + nv
    x.xenheap_end = nxt
    # dom0
    dom0 = [t for t in x.lines if t and t[0] == "dom0"]
    x.dom0 = None
    if dom0:
        _, o = mk.kv_args(dom0[0][1:])
        plan_dom0(x, o, mk, nxt)
        nxt = x.dom0_extra_frames + 8
    # PV domUs: the same layout as dom0's, after it
    x.guests = {}
    for did in sorted(x.pv):
        g = plan_pv(x, x.pv[did], mk, nxt)
        x.guests[did] = g
        nxt = g["top"] + 8
    # explicit ranges
    x.ranges = []
    for t in x.lines:
        if not t or t[0] in ("dom0", "console", "pv-domain"):
            continue
        if t[0] == "domain":
            x.ranges.append(("domU", mk.parse_int(t[1]), mk.parse_int(t[2]) // PAGE,
                             mk.parse_int(t[3]) // PAGE))
        elif t[0] in ("free", "offlined", "broken"):
            x.ranges.append((t[0], None, mk.parse_int(t[1]) // PAGE,
                             mk.parse_int(t[2]) // PAGE))
        else:
            raise XenError("unknown xen line %r" % t[0])
    x.console = [" ".join(t[1:]) for t in x.lines if t and t[0] == "console"]


def pair(s, mk):
    a, b = s.split(":")
    return mk.parse_int(a), mk.parse_int(b)


def plan_dom0(x, o, mk, first_free):
    """dom0's pfns, their machine frames, and the P2M tree's frames."""
    x.dom0 = plan_pv(x, o, mk, first_free)
    x.dom0_extra_frames = x.dom0["top"]


def plan_pv(x, o, mk, first_free):
    """A PV guest's pfns, their machine frames, and its P2M tree's frames."""
    n = mk.parse_int(o.get("pages", "2048"))
    if n % 512 or n < 1024:
        raise XenError("dom0 pages must be a multiple of 512, at least 1024")
    hole = pair(o["hole"], mk) if "hole" in o else None
    special = {}
    for k in ("identity", "foreign", "invalid"):
        if k in o:
            a, c = pair(o[k], mk)
            for p in range(a, a + c):
                special[p] = k
    # the tree's own pages and the VMCOREINFO page: the last pfns of RAM
    nmid = 1
    nleaves = (n + 511) // 512
    extra_pfns = 2 + nmid + nleaves + 1     # missing mid+leaf, mid, leaves, vmci
    base = (first_free + 511) // 512 * 512
    chunks = n // 512
    # 2 MiB machine chunks in reverse order; chunk 0 (4 KiB-mapped in dom0)
    # page by page in reverse
    p2m = {}
    for c in range(chunks):
        mbase = base + (chunks - 1 - c) * 512
        for k in range(512):
            pfn = c * 512 + k
            p2m[pfn] = mbase + (511 - k if c == 0 else k)
    top = base + chunks * 512
    if top + 8 > x.max_page:
        raise XenError("machine too small for the PV guests")
    d0 = {}
    d0["top"] = top
    d0["p2m_mode"] = o.get("p2m", "tree")
    if d0["p2m_mode"] not in ("tree", "none", "outside", "top-outside", "linear"):
        raise XenError("pv-domain p2m must be tree, none, outside, top-outside or linear")
    # p2m=linear: the virtually mapped P2M (SIF_VIRT_P2M_4TOOLS): its leaf
    # pages mapped at LIN_VA by 4 page-table pages of its own after the top
    d0["lin_pt"] = list(range(top + 1, top + 5)) if d0["p2m_mode"] == "linear" else []
    d0["next_self"] = o.get("next") == "self"
    # p2m=outside: one leaf's worth of pfns, in the middle, past the machine
    d0["outside"] = (n // 2, n // 2 + 512) if d0["p2m_mode"] == "outside" else None
    d0["pages"] = n
    d0["p2m"] = p2m
    d0["hole"] = hole
    d0["special"] = special
    d0["mfns"] = (base, base + chunks * 512)
    d0["extra_pfn_count"] = int(o.get("extra", "8"))
    # tree pages inside dom0's RAM, backed by its top chunk's last frames
    last = n - extra_pfns
    tree = list(range(last, n))
    d0["tree_pfns"] = tree
    d0["missing_mid_pfn"], d0["missing_leaf_pfn"] = tree[0], tree[1]
    d0["mid_pfn"] = tree[2]
    d0["leaf_pfns"] = tree[3:3 + nleaves]
    d0["vmci_pfn"] = tree[-1]
    if hole and (hole[0] < 512 or hole[0] + hole[1] > last):
        raise XenError("dom0 hole must lie between 0x200 and the tree pages")
    return d0


def xen_va(x, off):
    return XEN_VIRT_START + off


def ma_img(x, off):
    return x.phys_start + off


def dmap(ma):
    return DIRECTMAP + ma


def tree_top(x):
    """Machine frame of the P2M top page: a dom0 frame right after its chunks."""
    return x.dom0["top"]


def p2m_top_mfn(x):
    """What CRASH_INFO says (p2m=zero|invalid: 0 or ~0, the tree exists)."""
    if x.dom0 is None or x.p2m_mode == "zero" or x.layout == 64:
        return 0
    if x.p2m_mode == "invalid":
        return P2M_INVALID
    return tree_top(x)


def add_notes(d, x, mk):
    Note = mk.Note
    strs = string_addrs(x)
    for cpu in range(x.cpus):
        regs = {}
        empty = x.kv.get("empty_cpu") == "yes" and cpu == x.cpus - 1 and cpu != x.crashing
        if not empty:
            # the crashing CPU saved on its primary stack (pages 6-7 of a 32
            # KiB stack), the others on the NMI IST page (page 2)
            stack = dmap((x.ring[1] + 16 + 8 * cpu) * PAGE)
            if x.vcpus:
                stack = dmap(ma_img(x, I_STACKS + STACK * cpu))
            rsp = stack + (0x7E08 if cpu == x.crashing else 0x2F10)
            regs = {"rip": 0xFFFF82D04021ED72, "rsp": rsp, "cs": 0xE008,
                    "ss": 0xE010, "eflags": 0x46}
        desc = mk.prstatus_desc({k: str(v) for k, v in regs.items()})
        d.ptnotes[-1].append(Note("CORE", 1, desc))
        cr = [0, 0, 0, 0] if empty else [0x80050033, 0, ma_img(x, I_PGD), 0x50660]
        d.ptnotes[-1].append(Note("Xen", 0x1000002, struct.pack("<4Q", *cr)))
        if cpu == 0:
            for _ in range(2 if "crash_info" in x.dup else 1):
                d.ptnotes[-1].append(Note("Xen", 0x1000001, crash_info(x, strs)))
    for _ in range(2 if "vmcoreinfo_xen" in x.dup else 1):
        text = vmcoreinfo_xen(x).encode()
        d.ptnotes[-1].append(Note("VMCOREINFO_XEN", 0, text + bytes(4068 - len(text))))
    if x.kv.get("dom0_note") == "yes":
        # kexec-tools before 2.0.4 also put dom0's VMCOREINFO in: filled at build
        x.dom0_note = Note("VMCOREINFO", 0, b"")
        d.ptnotes[-1].append(x.dom0_note)
    else:
        x.dom0_note = None


def string_addrs(x):
    base = ma_img(x, I_STRINGS)
    return {"extra": base, "changeset": base + 0x10, "compiler": base + 0x20,
            "date": base + 0x60, "time": base + 0x80}


def crash_info(x, s):
    vals = [x.major, x.minor, s["extra"], s["changeset"], s["compiler"], s["date"],
            s["time"], 0]
    if x.layout == 72:
        vals.append(p2m_top_mfn(x))
    elif x.layout == 80:
        vals += [x.phys_start, p2m_top_mfn(x)]
    elif x.layout != 64:
        raise XenError("layout must be 64, 72 or 80")
    return struct.pack("<%dQ" % len(vals), *vals)


def vmcoreinfo_xen(x):
    keys = [
        "PAGESIZE=4096",
        "SYMBOL(domain_list)=%x" % xen_va(x, V_DOMAIN_LIST),
        "SYMBOL(frame_table)=%x" % xen_va(x, V_FRAME_TABLE),
        "SYMBOL(max_page)=%x" % xen_va(x, V_MAX_PAGE),
        "SIZE(page_info)=%d" % PI_SIZE,
        "SIZE(domain)=%d" % PAGE,
        "OFFSET(page_info.count_info)=%d" % OFF_COUNT_INFO,
        "OFFSET(page_info._domain)=%d" % OFF_DOMAIN,
        "OFFSET(domain.domain_id)=%d" % OFF_DOMAIN_ID,
        "OFFSET(domain.next_in_list)=%d" % OFF_NEXT,
        "SYMBOL(dom_xen)=%x" % xen_va(x, V_DOM_XEN),
        "SYMBOL(dom_io)=%x" % xen_va(x, V_DOM_IO),
        "SYMBOL(pgd_l4)=%x" % xen_va(x, I_PGD),
    ]
    return "".join(k + "\n" for k in keys)


# ---- count_info encodings (docs/formats.md §4.8) --------------------------------------

def count_info(x, kind):
    new = (x.major, x.minor) >= (4, 17)
    broken = 60 if new else 57
    state = 58 if new else 55
    extra = 61 if (x.major, x.minor) >= (4, 18) else 57 if new else 54
    alloc, heap = 1 << 63, 1 << 62
    if kind == "xen":
        return 1
    if kind == "xenheap":
        return heap | 1
    if kind in ("dom0", "domU"):
        return alloc | 2
    if kind == "xenheap-shared":             # share_xen_page_with_guest
        return alloc | heap | 1
    if kind == "dom0-extra":
        return alloc | (1 << extra) | 2
    if kind == "free":
        return 3 << state
    if kind == "offlined":
        return 2 << state
    if kind == "broken":
        return (1 << broken) | (2 << state)
    raise XenError(kind)


# ---- building ----------------------------------------------------------------------

def owners(x):
    """Per machine frame: (kind, owner domain id or None)."""
    own = {}
    for m in range(x.max_page):
        if not any(l.paddr <= m * PAGE < l.paddr + l.memsz for l in x.ram):
            continue
        own[m] = ("free", None)
    for m in range(0, min(0x100, x.max_page)):
        if m in own:
            own[m] = ("xen", None)
    for m in range(x.image[0], x.xenheap_end):
        kind = "xen" if m < x.m2p[1] else "xenheap"
        own[m] = (kind, None)
    if x.dom0 is not None:
        d0 = x.dom0
        for p, m in d0["p2m"].items():
            if in_dom0_ram(x, p):
                own[m] = ("dom0", 0)
        for i, m in enumerate(sorted(m for p, m in d0["p2m"].items()
                                     if in_dom0_ram(x, p))):
            if i < d0["extra_pfn_count"]:
                own[m] = ("dom0-extra", 0)
        own[tree_top(x)] = ("dom0", 0)
    for did, g in x.guests.items():
        for p, m in g["p2m"].items():
            if in_guest_ram(g, p):
                own[m] = ("domU", did)
        own[g["top"]] = ("domU", did)
        for m in g["lin_pt"]:
            own[m] = ("domU", did)
    for did, m in x.shinfo.items():
        own[m] = ("xenheap-shared", did)
    for kind, did, a, b in x.ranges:
        for m in range(a, b):
            own[m] = (kind, did)
    return own


def in_dom0_ram(x, pfn):
    return in_guest_ram(x.dom0, pfn)


def in_guest_ram(d0, pfn):
    o = d0.get("outside")
    if o and o[0] <= pfn < o[1]:
        return False
    h = d0["hole"]
    if h and h[0] <= pfn < h[0] + h[1]:
        return False
    return pfn < d0["pages"] and d0["special"].get(pfn) is None


def build(d, mem, mk):
    """Fill machine memory (after kmem's kernel, before the desc's puts)."""
    x = d.xen
    x.own = owners(x)
    if x.dom0 is not None:
        build_dom0(d, x, mem, mk)
    x.domu_expect = {}
    for did, g in x.guests.items():
        kern = getattr(d, "xen_domu_kernels", {}).get(did)
        x.domu_expect[did] = build_pv(d, x, mem, mk, g, kern, False)
    # ---- image variables and strings
    w = lambda off, fmt, v: mem.write(ma_img(x, off), struct.pack(fmt, v))
    dva = {did: dmap(m * PAGE) for did, m in x.dom_mfn.items()}
    w(V_DOMAIN_LIST, "<Q", dva[0])
    w(V_FRAME_TABLE, "<Q", FRAMETABLE)
    w(V_MAX_PAGE, "<Q", x.max_page)
    w(V_DOM_XEN, "<Q", dva[DOMID_XEN])
    w(V_DOM_IO, "<Q", dva[DOMID_IO])
    w(V_CRASHING, "<I", x.crashing)
    w(V_PDX_SHIFT, "<I", 0)
    s = string_addrs(x)
    mem.write(s["extra"], b".7\0")
    mem.write(s["changeset"], b"\0")
    mem.write(s["compiler"], b"gcc (Debian 12.2.0-14) 12.2.0\0")
    mem.write(s["date"], b"Tue Oct 15 09:12:44 UTC 2024\0")
    mem.write(s["time"], b"09:12:44\0")
    mem.write(ma_img(x, I_BUILD_ID), struct.pack("<III", 4, len(BUILD_ID), 3) + b"GNU\0" + BUILD_ID)
    # ---- domains: domain_list = dom0 -> domUs
    chain = [0] + x.domu_ids
    for i, did in enumerate(chain):
        nxt = dva[chain[i + 1]] if i + 1 < len(chain) else 0
        if did in x.guests and x.guests[did]["next_self"]:
            nxt = dva[did]
        page = bytearray(PAGE)
        struct.pack_into("<H", page, OFF_DOMAIN_ID, did)
        struct.pack_into("<Q", page, OFF_NEXT, nxt)
        if did in x.shinfo:
            struct.pack_into("<Q", page, OFF_SHARED_INFO, dmap(x.shinfo[did] * PAGE))
        if did in x.vcpu_pages:
            struct.pack_into("<Q", page, OFF_VCPU_ARRAY, dmap(x.vcpu_pages[did][0] * PAGE))
        mem.write(x.dom_mfn[did] * PAGE, bytes(page))
    for did, m in x.shinfo.items():
        g = x.dom0 if did == 0 else x.guests[did]
        top = g["top"]
        cr3 = va = 0
        if g["p2m_mode"] == "none":
            top = 0
        elif g["p2m_mode"] == "top-outside":
            top = x.max_page + 0x100
        elif g["p2m_mode"] == "linear":
            top, cr3, va = P2M_INVALID, g["lin_pt"][0] * PAGE, LIN_VA
        page = bytearray(PAGE)
        # max_pfn, pfn_to_mfn_frame_list_list, nmi_reason, p2m_cr3, p2m_vaddr
        struct.pack_into("<QQQQQ", page, SHINFO_ARCH, g["pages"], top, 0, cr3, va)
        mem.write(m * PAGE, bytes(page))
    for did, pages in x.vcpu_pages.items():
        vas = [dmap(m * PAGE) for m in pages[1:]]
        mem.write(pages[0] * PAGE, struct.pack("<%dQ" % len(vas), *vas) + bytes(PAGE - 8 * len(vas)))
        for k, m in enumerate(pages[1:]):
            vp = bytearray(PAGE)
            struct.pack_into("<IIQQ", vp, 0, k, k % x.cpus, 0, dva[did])
            # a descheduled PV vCPU: its frame saved in arch.user_regs (a
            # ktask kernel's own registers when it has them)
            kregs = x.domu_expect.get(did, {}).get("regs") or []
            if k < len(kregs):
                regs = list(kregs[k])
            else:
                regs = [0x1000 * did + i for i in range(16)] + [0xFFFFFFFF81000000 + 0x100 * k, 0x10,
                                                                0x246, 0xFFFFC90000004000 + 0x1000 * k, 0x18]
            vp[VCPU_REGS:VCPU_REGS + 200] = user_regs(regs)
            mem.write(m * PAGE, bytes(vp))
    for did in (DOMID_XEN, DOMID_IO):
        page = bytearray(PAGE)
        struct.pack_into("<H", page, OFF_DOMAIN_ID, did)
        mem.write(x.dom_mfn[did] * PAGE, bytes(page))
    # ---- console ring
    text = "".join("(XEN) %s\n" % l for l in x.console)
    text += "(XEN) Hardware Dom0 crashed: Executing kexec image on cpu%d\n" % x.crashing
    text += "(XEN) Shot down all CPUs\n"
    raw = text.encode()
    ring = bytearray(x.ring_size)
    for i, c in enumerate(raw):
        ring[i % x.ring_size] = c
    mem.write(x.ring[0] * PAGE, bytes(ring))
    mem.write(x.ring[0] * PAGE + x.ring_size,
              bytes((x.ring[1] - x.ring[0]) * PAGE - x.ring_size))
    w(V_CONRING, "<Q", dmap(x.ring[0] * PAGE))
    w(V_CONRING_SIZE, "<I", x.ring_size)
    w(V_CONRINGP, "<I", len(raw))
    w(V_CONRINGC, "<I", len(raw))
    x.ring_text = raw if len(raw) <= x.ring_size else raw[-x.ring_size:]
    if x.vcpus:
        build_vcpus(x, mem)
    # ---- frame table and M2P
    pick = lambda did: x.dom_mfn[did]       # pdx of the struct domain's page
    ft = bytearray((x.ft[1] - x.ft[0]) * PAGE)
    for m, (kind, did) in x.own.items():
        ci = count_info(x, kind)
        owner = pick(did) if kind in ("dom0", "dom0-extra", "domU", "xenheap-shared") else 0
        struct.pack_into("<QI", ft, m * PI_SIZE + OFF_COUNT_INFO, ci, 0)
        struct.pack_into("<I", ft, m * PI_SIZE + OFF_DOMAIN, owner)
    mem.write(x.ft[0] * PAGE, bytes(ft))
    m2p = bytearray(b"\xff" * ((x.m2p[1] - x.m2p[0]) * PAGE))
    for g in ([x.dom0] if x.dom0 is not None else []) + list(x.guests.values()):
        for p, m in g["p2m"].items():
            if in_guest_ram(g, p):
                struct.pack_into("<Q", m2p, m * 8, p)
    mem.write(x.m2p[0] * PAGE, bytes(m2p))
    # ---- Xen's page tables: text (2 MiB page), frame table and M2P (4 KiB)
    pt = kmem.PageTables(mem, ma_img(x, I_PGD), ma_img(x, I_PT_POOL), ma_img(x, 0x40000))
    pt.map(XEN_VIRT_START, x.phys_start, 2 << 20)
    pt.map(FRAMETABLE, x.ft[0] * PAGE, (x.ft[1] - x.ft[0]) * PAGE, big=False)
    pt.map(RO_MPT, x.m2p[0] * PAGE, (x.m2p[1] - x.m2p[0]) * PAGE, big=False)
    pt.write()


def user_regs(regs):
    """struct cpu_user_regs (200 bytes) of a 64-bit PV guest from pt_regs
    order: ring 3 selectors, kernel or user."""
    b = bytearray(200)
    struct.pack_into("<15Q", b, 0, *regs[:15])
    struct.pack_into("<Q", b, 128, regs[16])
    struct.pack_into("<H", b, 136, PV_CS)
    struct.pack_into("<Q", b, 144, regs[18] | 2)
    struct.pack_into("<Q", b, 152, regs[19])
    struct.pack_into("<H", b, 160, PV_SS)
    return bytes(b)


def own_symtab():
    """Xen's embedded symbol table (docs/formats.md §4.11): offsets from
    XEN_VIRT_START, num_syms, names (length byte, token numbers; a name is
    its type letter and the symbol), markers, token table, token index.
    Token c is the single character c, so a name's tokens are its bytes."""
    syms = sorted([(0x200000, "T_stext"), (0x400000, "T_etext")] +
                  [(off, "T" + n) for n, off, _ in XEN_FUNCS] +
                  [(0x3000, "dxen.c#version_strings")])
    b = bytearray(struct.pack("<%dI" % len(syms), *[a for a, _ in syms]))
    b += struct.pack("<I", len(syms))
    names = bytearray()
    markers = []
    for k, (_, n) in enumerate(syms):
        if k % 256 == 0:
            markers.append(len(names))
        names += bytes([len(n)]) + n.encode()
    b += names
    b += bytes((-len(b)) % 4)
    b += struct.pack("<%dI" % len(markers), *markers)
    tokens = [b"@@"] + [bytes([i]) for i in range(1, 256)]
    table, index = bytearray(), []
    for t in tokens:
        index.append(len(table))
        table += t + b"\0"
    b += table
    b += bytes((-len(b)) % 4)
    b += struct.pack("<256H", *index)
    return bytes(b)


def build_vcpus(x, mem):
    regs = getattr(x, "dom0_regs", None) or []
    if len(regs) != 2 or x.cpus != 2:
        raise XenError("vcpus= needs 2 pCPUs and a dom0-kernel analyzer with cpus=2")
    va = lambda off: dmap(ma_img(x, off))
    other = 1 - x.crashing
    vcpu = [va(I_VCPU), va(I_VCPU + 0x1000)]
    arr, idle_dom = va(I_VCPU + 0x2000), va(I_VCPU + 0x3000)
    idle = [va(I_VCPU + 0x4000), va(I_VCPU + 0x5000)]
    domu_vcpu = va(I_VCPU + 0x6000)
    dom0 = dmap(x.dom_mfn[0] * PAGE)

    def vcpu_page(vid, proc, dom, saved):
        page = bytearray(PAGE)
        struct.pack_into("<IIQQ", page, 0, vid, proc, 0, dom)
        page[VCPU_REGS:VCPU_REGS + 200] = saved
        return bytes(page)
    # a stale copy: what the vCPU had at an older context switch
    stale = lambda r: user_regs([v ^ 0x5A5A00 if i < 15 else v for i, v in enumerate(r)][:16]
                                + [0xFFFFFFFF81000000 + 0x40 * i for i in (1,)] + list(r[17:]))
    mem.write(ma_img(x, I_VCPU), vcpu_page(0, x.crashing, dom0, stale(regs[0])))
    mem.write(ma_img(x, I_VCPU + 0x1000), vcpu_page(
        1, other, dom0, user_regs(regs[1]) if x.vcpus == "saved" else stale(regs[1])))
    mem.write(ma_img(x, I_VCPU + 0x2000), struct.pack("<2Q", *vcpu) + bytes(PAGE - 16))
    page = bytearray(PAGE)
    struct.pack_into("<H", page, OFF_DOMAIN_ID, DOMID_IDLE)
    mem.write(ma_img(x, I_VCPU + 0x3000), bytes(page))
    for c in range(2):
        mem.write(ma_img(x, I_VCPU + 0x4000 + 0x1000 * c), vcpu_page(c, c, idle_dom, bytes(200)))
    domu = dmap(x.dom_mfn[x.domu_ids[0]] * PAGE) if x.domu_ids else idle_dom
    mem.write(ma_img(x, I_VCPU + 0x6000), vcpu_page(0, other, domu, bytes(200)))
    # dom0's struct domain: the vcpu[] pointer (the page was written above)
    mem.write(x.dom_mfn[0] * PAGE + OFF_VCPU_ARRAY, struct.pack("<Q", arr))
    # the stacks: cpu_info at the top, Xen return addresses on the crashing one
    for c in range(2):
        base = ma_img(x, I_STACKS + STACK * c)
        if c == x.crashing:
            frame, cur = user_regs(regs[0]), vcpu[0]
        elif x.vcpus == "lazy":
            frame, cur = user_regs(regs[1]), idle[c]
        else:
            # the domU vCPU's own registers: never dom0's
            frame, cur = user_regs([0x7000 + i for i in range(16)] + [0xFFFFFFFF81234567, 0x10,
                                                                       0x246, 0xFFFFC90000001000, 0x18]), domu_vcpu
        ci = bytearray(CPU_INFO)
        ci[0:200] = frame
        struct.pack_into("<IIQ", ci, 200, c, 0, cur)
        mem.write(base + STACK - CPU_INFO, bytes(ci))
    mem.write(ma_img(x, I_SYMTAB), own_symtab())
    x.xen_bt = {}
    for c in range(2):
        base = ma_img(x, I_STACKS + STACK * c)
        rsp = 0x7E08 if c == x.crashing else 0x2F10
        names = [XEN_FUNCS[0][0]]
        if c == x.crashing:
            words = [(XEN_FUNCS[k][0], XEN_VIRT_START + XEN_FUNCS[k][1] + XEN_FUNCS[k][2] // 2)
                     for k in range(1, len(XEN_FUNCS))]
            for k, (n, a) in enumerate(words):
                mem.write(base + rsp + 0x18 * k, struct.pack("<Q", a))
                names.append(n)
        x.xen_bt[c] = names


def build_dom0(d, x, mem, mk):
    r = build_pv(d, x, mem, mk, x.dom0, getattr(d, "xen_dom0_kernel", None), True)
    x.dmesg_expect = r["dmesg"]
    x.classes = r["classes"]
    x.dom0_vmci = r["vmci"]


def build_pv(d, x, mem, mk, d0, kernel, is_dom0):
    """A PV guest's memory: a kmem kernel in its pseudo-physical space (page
    tables holding machine frames), its vmcoreinfo note page, its P2M tree,
    all scattered into machine frames.  Returns the kernel's expectations."""
    p2m = d0["p2m"]
    n = d0["pages"]
    pm = mk.Memory(PAGE, d.default_kind, d.seed + 17 + (0 if is_dom0 else 1000))
    vmci = None
    res = {"dmesg": None, "classes": None, "vmci": None}
    in_dom0_ram = lambda _x, p: in_guest_ram(d0, p)
    if kernel:
        kv, body = kernel
        sub = mk.Desc()
        # kmem's RAM: the pfns with machine frames, without the P2M tree's
        # pages at the end (identity, foreign and invalid pfns are holes)
        for valid, a, b in runs((p, in_dom0_ram(x, p)) for p in range(d0["tree_pfns"][0])):
            if valid:
                sub.loads.append(mk.Load(a * PAGE, (b + 1 - a) * PAGE, (b + 1 - a) * PAGE,
                                         None, 0, 0, False))
        note = mk.Note("VMCOREINFO", 0, b"")
        kvd = dict(kv)
        kvd.setdefault("kaslr", "0")           # PV: no KASLR
        sub.kernel = (kvd, body, note)
        sub.ptnotes = [[note]]                 # ktask's NT_PRSTATUS go here
        try:
            kmem.build(sub, pm, mk)
        except kmem.KernelError as e:
            raise XenError("%s-kernel: %s" % ("dom0" if is_dom0 else "domu", e)) from None
        vmci = note.desc
        res["dmesg"] = getattr(sub, "dmesg_expect", None)
        res["classes"] = getattr(sub, "mm_classes", None)
        # the CPU registers as ktask laid them out: Xen's vCPU state
        regs = [struct.unpack_from("<21Q", n.desc, 112)
                for n in sub.ptnotes[0] if n.name == "CORE" and n.type == 1]
        if is_dom0:
            x.dom0_regs = regs
            if getattr(sub, "az_expect", None):
                d.az_expect = sub.az_expect
        else:
            res["regs"] = regs
            res["az"] = getattr(sub, "az_expect", None)
        xenpv.translate_tables(pm, int(kvd.get("text_phys", "0x200000"), 0) + kmem.IMG_PGT,
                               d0["p2m"], lambda pfn: in_guest_ram(d0, pfn))
        if is_dom0 and x.dom0_note is not None:
            x.dom0_note.desc = vmci
    # Linux's vmcoreinfo note page: ELF note header, then the text
    if vmci is not None:
        page = struct.pack("<III", 11, len(vmci), 0) + b"VMCOREINFO\0\0" + vmci
        pm.write(d0["vmci_pfn"] * PAGE, page + bytes(PAGE - len(page)))
    # the P2M tree (machine frames of its pages through the same P2M)
    mfn = lambda p: p2m[p]
    leaf_m = [mfn(p) for p in d0["leaf_pfns"]]
    missing_leaf = mfn(d0["missing_leaf_pfn"])
    missing_mid = mfn(d0["missing_mid_pfn"])
    pm.write(d0["missing_leaf_pfn"] * PAGE, struct.pack("<Q", P2M_INVALID) * 512)
    pm.write(d0["missing_mid_pfn"] * PAGE, struct.pack("<Q", missing_leaf) * 512)
    mid = [missing_leaf] * 512
    h = d0["hole"]
    for li, lm in enumerate(leaf_m):
        lo = li * 512
        if h and h[0] <= lo and lo + 512 <= h[0] + h[1]:
            continue             # a whole absent 2 MiB: p2m_missing
        mid[li] = lm
        ents = []
        for p in range(lo, lo + 512):
            kind = d0["special"].get(p)
            if p >= n or (h and h[0] <= p < h[0] + h[1]):
                ents.append(P2M_INVALID)
            elif d0["outside"] and d0["outside"][0] <= p < d0["outside"][1]:
                ents.append(x.max_page + 0x1000 + p)     # past the machine
            elif kind == "identity":
                ents.append(p | IDENTITY)
            elif kind == "foreign":
                ents.append((0x30 + p % 16) | FOREIGN)     # a low frame, not dom0's
            elif kind == "invalid":
                ents.append(P2M_INVALID)
            else:
                ents.append(p2m[p])
        pm.write(d0["leaf_pfns"][li] * PAGE, struct.pack("<512Q", *ents))
    pm.write(d0["mid_pfn"] * PAGE, struct.pack("<512Q", *mid))
    top = [mfn(d0["mid_pfn"])] + [missing_mid] * 511
    mem.write(d0["top"] * PAGE, struct.pack("<512Q", *top))
    if d0.get("lin_pt"):
        # the same leaves, one after the other at LIN_VA (PV page tables:
        # machine frames), absent ranges on the shared missing leaf
        lp = d0["lin_pt"]
        pt = kmem.PageTables(mem, lp[0] * PAGE, lp[1] * PAGE, (lp[-1] + 1) * PAGE)
        for li, lm in enumerate(leaf_m):
            pt.map(LIN_VA + li * PAGE, mid[li] * PAGE, PAGE, big=False)
        pt.write()
    # scatter the guest's pages into machine frames
    for p in range(n):
        if in_dom0_ram(x, p):
            mem.write(p2m[p] * PAGE, pm.read(p * PAGE, PAGE))
    res["vmci"] = vmci
    return res


# ---- expected outputs -----------------------------------------------------------------

OWNER_NAME = {"xen": "xen", "xenheap": "xen", "xenheap-shared": "xen", "dom0": "dom0", "dom0-extra": "dom0",
              "domU": "domU", "free": "free", "offlined": "free", "broken": "free"}


def runs(items):
    """[(key, a, b)] runs of equal keys over (index, key) items in order."""
    out = []
    for i, k in items:
        if out and out[-1][0] == k and out[-1][2] == i - 1:
            out[-1][2] = i
        else:
            out.append([k, i, i])
    return out


def frames_listing(x):
    lines = []
    for k, a, b in runs(sorted((m, OWNER_NAME[kind]) for m, (kind, _) in x.own.items())):
        lines.append("mfn %#x %s" % (a, k) if a == b else "mfn %#x-%#x %s" % (a, b, k))
    return lines


def p2m_listing(x):
    d0 = x.dom0
    n = d0["pages"]
    ends = [p for p in range(d0["pages"] + 1024) if entry_kind(x, p) not in ("invalid", "missing")]
    end = max(ends) + 1
    cnt = {"valid": 0, "identity": 0, "foreign": 0, "invalid": 0, "missing": 0}
    for p in range(end):
        cnt[entry_kind(x, p)] += 1
    lines = ["p2m frame list list: mfn %#x, end pfn %#x" % (p2m_top_mfn(x), end),
             "valid %d (%d in the dump), identity %d, foreign %d, invalid %d, missing %d" % (
                 cnt["valid"], cnt["valid"], cnt["identity"], cnt["foreign"],
                 cnt["invalid"], cnt["missing"])]
    cur = None
    for p in range(end):
        valid = entry_kind(x, p) == "valid"
        m = d0["p2m"][p] if valid else None
        if cur and cur[0] == valid and (not valid or m == cur[2] + (p - cur[1])):
            cur[3] = p
            continue
        if cur:
            lines.append(run_line(cur))
        cur = [valid, p, m, p]
    if cur:
        lines.append(run_line(cur))
    del n
    return lines


def run_line(r):
    valid, a, m, b = r
    if valid:
        return "pfn %#x-%#x -> mfn %#x-%#x" % (a, b, m, m + b - a)
    return "pfn %#x-%#x no machine frame" % (a, b)


def entry_kind(x, p):
    d0 = x.dom0
    h = d0["hole"]
    if p >= (len(d0["leaf_pfns"])) * 512:
        return "missing"
    if h and h[0] <= p < h[0] + h[1]:
        lo = p // 512 * 512
        if h[0] <= lo and lo + 512 <= h[0] + h[1]:
            return "missing"
        return "invalid"
    if p >= d0["pages"]:
        return "invalid"
    return {"identity": "identity", "foreign": "foreign", "invalid": "invalid"}.get(
        d0["special"].get(p), "valid")


def capture_listing(x, listing, level=31, keep=()):
    """The source listing with the frames -X -d level drops excluded (the
    frames of the domUs in keep stay: --domains)."""
    drop_cls = {"cache": 2 | 4, "cache_private": 4, "user": 8, "free": 16,
                "hwpoison": 0xFF, "offline": 0xFF}
    inv = {}
    if x.dom0 is not None:
        inv = {m: p for p, m in x.dom0["p2m"].items() if in_dom0_ram(x, p)}
    out = []
    for pfn, st, crc in listing:
        if st == "data" and pfn in x.own:
            kind, did = x.own[pfn]
            drop = kind in ("domU", "free", "offlined", "broken") and \
                not (kind == "domU" and did in keep)
            if kind in ("dom0", "dom0-extra") and x.classes is not None and \
                    x.dom0_vmci is not None:
                p = inv.get(pfn)
                c = x.classes[p] if p is not None and p < len(x.classes) else "keep"
                drop = bool(drop_cls.get(c, 0) & level)
            if drop:
                st, crc = "excluded", None
        out.append((pfn, st, crc))
    return out


def xen_syms(x):
    """A xen-syms ELF: symbol table and build-id note only (like Debian's)."""
    syms = [("domain_list", V_DOMAIN_LIST), ("_frame_table.0", V_FRAME_TABLE),
            ("max_page", V_MAX_PAGE), ("dom_xen", V_DOM_XEN), ("dom_io", V_DOM_IO),
            ("conring", V_CONRING), ("conring_size", V_CONRING_SIZE),
            ("conringp", V_CONRINGP), ("conringc", V_CONRINGC),
            ("crashing_cpu.1", V_CRASHING), ("pfn_pdx_hole_shift", V_PDX_SHIFT),
            ("idle_pg_table", I_PGD)]
    funcs = []
    if getattr(x, "vcpus", None):
        syms += [("_stext", 0x200000), ("_etext", 0x400000)]
        funcs = XEN_FUNCS
    strtab = bytearray(b"\0")
    symtab = bytearray(24)
    for name, off in syms:
        idx = len(strtab)
        strtab += name.encode() + b"\0"
        symtab += struct.pack("<IBBHQQ", idx, 1, 0, 1, xen_va(x, off), 8)
    for name, off, size in funcs:            # STT_FUNC, global, in section 1
        idx = len(strtab)
        strtab += name.encode() + b"\0"
        symtab += struct.pack("<IBBHQQ", idx, 0x12, 0, 1, xen_va(x, off), size)
    note = struct.pack("<III", 4, len(BUILD_ID), 3) + b"GNU\0" + BUILD_ID
    shstr = b"\0.note.gnu.build-id\0.symtab\0.strtab\0.shstrtab\0"
    body = bytearray(64)
    offs = {}
    for name, data in (("note", note), ("sym", bytes(symtab)), ("str", bytes(strtab)),
                       ("shstr", shstr)):
        body += bytes((-len(body)) % 8)
        offs[name] = len(body)
        body += data
    body += bytes((-len(body)) % 8)
    shoff = len(body)
    sh = bytearray(64)                                       # null section
    sh += struct.pack("<IIQQQQIIQQ", 1, 7, 2, xen_va(x, I_BUILD_ID), offs["note"],
                      len(note), 0, 0, 4, 0)
    sh += struct.pack("<IIQQQQIIQQ", 20, 2, 0, 0, offs["sym"], len(symtab), 3, 1, 8, 24)
    sh += struct.pack("<IIQQQQIIQQ", 28, 3, 0, 0, offs["str"], len(strtab), 0, 0, 1, 0)
    sh += struct.pack("<IIQQQQIIQQ", 36, 3, 0, 0, offs["shstr"], len(shstr), 0, 0, 1, 0)
    eh = bytearray(64)
    eh[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", eh, 16, 2, 62, 1, XEN_VIRT_START + 0x200000, 0,
                     shoff, 0, 64, 0, 0, 64, 5, 4)
    body[0:64] = eh
    return bytes(body + sh)


def domains_expect(x):
    """`salvage xen domains --json`'s facts per domain; None when the walk
    must fail (a domain_list loop)."""
    chain = [0] + x.domu_ids
    if any(g["next_self"] for g in x.guests.values()):
        return None
    out = []
    for did in chain:
        pages = sum(1 for kind, o in x.own.values()
                    if o == did and kind in ("dom0", "dom0-extra", "domU"))
        pv = did in x.shinfo or did in x.guests
        nv = len(x.vcpu_pages[did]) - 1 if did in x.vcpu_pages else \
            (2 if did == 0 and x.vcpus else None)
        out.append({"id": did, "type": "pv" if pv else None, "vcpus": nv,
                    "pages": pages, "pages_in_dump": pages})
    return out


def extract_expect(x, did):
    """`salvage xen extract`'s page counts, or the error it must give."""
    g = x.guests[did]
    if any(o["next_self"] for o in x.guests.values()):
        return {"error": "domain_list loops"}
    if g["p2m_mode"] == "none":
        return {"error": "has no P2M frame list"}
    if g["p2m_mode"] == "top-outside":
        return {"error": "not in the dump"}
    o = g["outside"]
    h = g["hole"]
    valid = [p for p in range(g["pages"])
             if not (h and h[0] <= p < h[0] + h[1]) and g["special"].get(p) is None]
    present = [p for p in valid if in_guest_ram(g, p)]
    del o
    return {"pages": len(valid), "pages_in_dump": len(present)}


def write_expected(d, b, prefix, mk):
    x = getattr(d, "xen", None)
    if x is None:
        raise XenError("--xen-expect needs an xen block")
    if x.guests:
        with open(prefix + ".domains.json", "w") as f:
            json.dump(domains_expect(x), f, indent=1, sort_keys=True)
        for did in x.guests:
            with open(prefix + ".domU%d.extract.json" % did, "w") as f:
                json.dump(extract_expect(x, did), f, indent=1, sort_keys=True)
            kprintk.write_expected(x.domu_expect[did]["dmesg"], prefix + ".domU%d.dmesg" % did)
            if x.domu_expect[did].get("az"):
                with open(prefix + ".domU%d.az.json" % did, "w") as f:   # ktask's answers
                    json.dump(x.domu_expect[did]["az"], f, indent=1, sort_keys=True)
            with open(prefix + ".capture-domains%d" % did, "w") as f:
                f.write(mk.format_listing(capture_listing(x, b.listing, keep=(did,))))
    with open(prefix + ".frames", "w") as f:
        f.write("".join(l + "\n" for l in frames_listing(x)))
    top = p2m_top_mfn(x)
    if x.dom0 is not None and top not in (0, P2M_INVALID):
        with open(prefix + ".p2m", "w") as f:
            f.write("".join(l + "\n" for l in p2m_listing(x)))
    elif os.path.exists(prefix + ".p2m"):
        os.unlink(prefix + ".p2m")       # `salvage xen p2m` must fail
    with open(prefix + ".capture", "w") as f:
        f.write(mk.format_listing(capture_listing(x, b.listing)))
    kprintk.write_expected(getattr(x, "dmesg_expect", None), prefix + ".dmesg")
    with open(prefix + ".ring", "wb") as f:
        f.write(x.ring_text)
    with open(prefix + ".syms", "wb") as f:
        f.write(xen_syms(x))
    if getattr(d, "az_expect", None):
        with open(prefix + ".az.json", "w") as f:      # ktask's answers for dom0
            json.dump(d.az_expect, f, indent=1, sort_keys=True)
    if getattr(x, "xen_bt", None):
        with open(prefix + ".xenbt", "w") as f:
            f.write("".join("cpu %d: %s\n" % (c, " ".join(n)) for c, n in sorted(x.xen_bt.items())))
