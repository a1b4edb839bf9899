"""kmem.py - lay out enough Linux x86_64 kernel data in a fixture's memory for
makedumpfile (and our own analysis code) to work on it.

Used by mkdump.py for a `kernel ... end` block.  What is built (Debian 6.1-like
numbers, formats.md 1.15, 2.4-2.8):

* a kernel image of `image_size` bytes at physical `text_phys`, mapped at
  0xffffffff81000000 + kaslr (a kernel-text PT_LOAD is added in front of the
  RAM PT_LOADs, like kexec does); phys_base = text_phys - (text_virt -
  0xffffffff80000000), so it is negative when kaslr moves the text up further
  than the physical load address (printed as a negative decimal);
* 4-level page tables rooted at SYMBOL(init_top_pgt): the direct map
  (page_offset + paddr) with 4 KiB pages in the first 2 MiB and 2 MiB pages
  above, the kernel text map with 2 MiB pages;
* init_uts_ns (OFFSET(uts_namespace.name) = 0) holding the utsname;
* memmodel=flatmem (default): a `mem_map` variable pointing (direct map) at
  an array of 64-byte struct pages at physical `memmap_phys`, one per PFN
  below max_pfn, with page states chosen by the block lines (free/buddy, page
  cache, anon, slab);
* memmodel=sparse: the same array mapped at `vmemmap` (default
  0xffffea0000000000) with 4 KiB PTEs, found through SPARSEMEM_EXTREME
  mem_section (root array + one page of sections right after the array);
* optionally a 5.10+ lockless printk ring (SYMBOL(prb)) with `dmesg` lines;
* a VMCOREINFO note with all the keys above.

Block lines (addresses physical, ranges [START, END), page aligned):
    free START END        buddy free blocks (largest aligned orders <= 10)
    cache START END       page cache: PG_lru|PG_uptodate, file mapping
    cache_private START END   page cache with PG_private
    anon START END [order=N]  anonymous: PG_lru|PG_swapbacked, mapping|1;
                              order=N makes compound pages of order N
    slab START END        PG_slab
    dmesg "TEXT" [ts=NSEC]    one printk record
    vmcoreinfo "KEY=VALUE"    extra VMCOREINFO line
"""

import shlex
import struct

START_KERNEL_MAP = 0xFFFFFFFF80000000
DEFAULT_TEXT_VIRT = 0xFFFFFFFF81000000
M64 = (1 << 64) - 1

# Debian 6.1 x86_64 struct page (64 bytes) and page flag bit numbers
PAGE_SIZE_STRUCT = 64
OFF_FLAGS, OFF_LRU, OFF_MAPPING, OFF_INDEX, OFF_PRIVATE = 0, 8, 24, 32, 40
OFF_COMPOUND_HEAD, OFF_COMPOUND_DTOR, OFF_COMPOUND_ORDER = 8, 16, 17
OFF_MAPCOUNT, OFF_REFCOUNT = 48, 52
PG = {"locked": 0, "referenced": 1, "uptodate": 2, "dirty": 3, "lru": 4,
      "active": 5, "slab": 9, "owner_priv_1": 10, "reserved": 12,
      "private": 13, "head": 16, "swapbacked": 19, "hwpoison": 23}
PG_SWAPCACHE = PG["owner_priv_1"]
PAGE_BUDDY_MAPCOUNT_VALUE = -129      # ~0x80 (4.18 .. 6.11)
PAGE_OFFLINE_MAPCOUNT_VALUE = -257    # ~0x100
MAX_ORDER = 11                        # LENGTH(zone.free_area)

# image layout (offsets from the start of the kernel image)
IMG_PGT = 0x10000          # init_top_pgt (= swapper_pg_dir)
IMG_PGT_POOL = 0x11000     # further page-table pages
IMG_UTS = 0x30000          # init_uts_ns
IMG_VARS = 0x31000         # mem_map, prb, clear_seq, ...
IMG_PRB = 0x31200          # printk_rb_static
IMG_DESCS = 0x32000
IMG_INFOS = 0x33000
IMG_TEXT = 0x38000
PRB_COUNT_BITS = 5         # 32 descriptors
PRB_SIZE_BITS = 13         # 8 KiB text ring

# printk ring buffer layouts (6.1, x86_64)
SZ_PRB_DESC, SZ_PRINTK_INFO = 24, 88
# SPARSEMEM_EXTREME, 4-level: 2^(46-27) sections / 256 per root
NR_SECTION_ROOTS = 2048
PAGES_PER_SECTION = 1 << (27 - 12)


class KernelError(Exception):
    pass


class PageTables:
    def __init__(self, mem, root, pool, pool_end):
        self.mem = mem
        self.tables = {root: bytearray(4096)}
        self.root = root
        self.next = pool
        self.pool_end = pool_end

    def _alloc(self):
        if self.next >= self.pool_end:
            raise KernelError("page-table pool exhausted")
        a = self.next
        self.next += 4096
        self.tables[a] = bytearray(4096)
        return a

    def _child(self, table, idx):
        e, = struct.unpack_from("<Q", self.tables[table], idx * 8)
        if e & 1:
            return e & 0x000FFFFFFFFFF000
        c = self._alloc()
        struct.pack_into("<Q", self.tables[table], idx * 8, c | 0x63)
        return c

    def map(self, va, pa, size, big=True):
        """Map [va, va+size) -> pa; 2 MiB pages where aligned and big."""
        end = va + size
        while va < end:
            pml4 = (va >> 39) & 511
            pud = (va >> 30) & 511
            pmd = (va >> 21) & 511
            pdpt = self._child(self.root, pml4)
            pd = self._child(pdpt, pud)
            if big and va % (1 << 21) == 0 and pa % (1 << 21) == 0 \
                    and end - va >= (1 << 21):
                struct.pack_into("<Q", self.tables[pd], pmd * 8,
                                 pa | 0xE3)          # P RW A D PSE
                va += 1 << 21
                pa += 1 << 21
                continue
            pt = self._child(pd, pmd)
            struct.pack_into("<Q", self.tables[pt], ((va >> 12) & 511) * 8,
                             pa | 0x63)
            va += 4096
            pa += 4096

    def write(self):
        for a, t in self.tables.items():
            self.mem.write(a, bytes(t))


def parse_block(body):
    ops = []
    for line in body:
        toks = shlex.split(line, comments=True)
        if toks:
            ops.append(toks)
    return ops


def build(d, mem, mk):
    """Fill `mem` and finish the VMCOREINFO note placed by the parser.

    `mk` is the mkdump module (for Load and the number/escape parsers)."""
    Load, parse_int, unescape, kv_args = (mk.Load, mk.parse_int, mk.unescape,
                                          mk.kv_args)
    kv, body, note = d.kernel
    num = lambda k, dflt: parse_int(kv[k]) if k in kv else dflt
    ps = d.page_size
    if ps != 4096:
        raise KernelError("kernel builder supports 4 KiB pages only")
    release = kv.get("release", "6.1.0-56-amd64")
    kaslr = num("kaslr", 0x1C000000)
    text_phys = num("text_phys", 0x200000)
    image_size = num("image_size", 0x100000)
    page_offset = num("page_offset", d.elf["page_offset"])
    memmap_phys = num("memmap_phys", 0x80000)
    crashtime = kv.get("crashtime")
    memmodel = kv.get("memmodel", "flatmem")
    if memmodel not in ("flatmem", "sparse"):
        raise KernelError("memmodel must be flatmem or sparse")
    vmemmap_base = num("vmemmap", 0xFFFFEA0000000000)
    text_virt = DEFAULT_TEXT_VIRT + kaslr
    phys_base = (text_phys - (text_virt - START_KERNEL_MAP)) & M64
    if phys_base % (1 << 21):
        raise KernelError("text_phys/kaslr must keep phys_base 2 MiB aligned")
    d.elf["page_offset"] = page_offset
    ram = [l for l in d.loads if not l.ktext]
    if not ram:
        raise KernelError("kernel block needs ram lines")
    max_paddr = max(l.paddr + l.memsz for l in ram)
    max_pfn = (max_paddr + ps - 1) // ps

    def in_ram(pa):
        return any(l.paddr <= pa < l.paddr + l.memsz for l in ram)

    if not (in_ram(text_phys) and in_ram(text_phys + image_size - 1)):
        raise KernelError("kernel image not inside RAM")
    memmap_bytes = (max_pfn * PAGE_SIZE_STRUCT + ps - 1) // ps * ps
    # sparse: mem_section root array (NR_SECTION_ROOTS pointers) and one
    # page of 256 struct mem_section follow the struct page array
    msec_root = memmap_phys + memmap_bytes
    msec_page = msec_root + NR_SECTION_ROOTS * 8
    need_end = msec_page + ps if memmodel == "sparse" else \
        memmap_phys + memmap_bytes
    if not in_ram(memmap_phys) or not in_ram(need_end - 1):
        raise KernelError("mem_map array not inside RAM")
    # kernel-text PT_LOAD first, as kexec-tools emits it
    d.loads.insert(0, Load(text_phys, image_size, image_size, text_virt, 0, 0,
                           True))

    def kva(off):                 # kernel virtual address of an image offset
        return text_virt + off

    def kpa(off):
        return text_phys + off

    def dmap(pa):
        return (page_offset + pa) & M64

    # ---- page tables
    pt = PageTables(mem, kpa(IMG_PGT), kpa(IMG_PGT_POOL), kpa(IMG_UTS))
    low = min(max_paddr, 1 << 21)
    for pfn in range(low // ps):
        if in_ram(pfn * ps):
            pt.map(dmap(pfn * ps), pfn * ps, ps, big=False)
    top = (max_paddr + (1 << 21) - 1) >> 21 << 21
    if top > (1 << 21):
        pt.map(dmap(1 << 21), 1 << 21, top - (1 << 21))
    kt_lo = text_virt >> 21 << 21
    kt_hi = (text_virt + image_size + (1 << 21) - 1) >> 21 << 21
    pt.map(kt_lo, (kt_lo - START_KERNEL_MAP + phys_base) & M64, kt_hi - kt_lo)
    if memmodel == "sparse":
        # vmemmap: 4 KiB pages onto the struct page array
        pt.map(vmemmap_base, memmap_phys, memmap_bytes, big=False)
    pt.write()

    # ---- utsname
    uts = [kv.get("sysname", "Linux"), kv.get("nodename", "salvage-test"),
           release,
           kv.get("version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 "
                  "(2025-11-09)"),
           kv.get("machine", "x86_64"), kv.get("domainname", "(none)")]
    mem.write(kpa(IMG_UTS), b"".join(s.encode()[:64].ljust(65, b"\0")
                                     for s in uts))

    # ---- struct pages
    memmap_va = dmap(memmap_phys) if memmodel == "flatmem" else vmemmap_base
    pages = bytearray(max_pfn * PAGE_SIZE_STRUCT)

    def sp(pfn, off, fmt, val):
        struct.pack_into(fmt, pages, pfn * PAGE_SIZE_STRUCT + off, val)

    for pfn in range(max_pfn):
        if not in_ram(pfn * ps):
            sp(pfn, OFF_FLAGS, "<Q", 1 << PG["reserved"])
            sp(pfn, OFF_REFCOUNT, "<i", 1)
            sp(pfn, OFF_MAPCOUNT, "<i", -1)
            continue
        me = memmap_va + pfn * PAGE_SIZE_STRUCT + OFF_LRU
        sp(pfn, OFF_LRU, "<Q", me)            # empty list: points to itself
        sp(pfn, OFF_LRU + 8, "<Q", me)
        sp(pfn, OFF_MAPCOUNT, "<i", -1)
        sp(pfn, OFF_REFCOUNT, "<i", 1)
        if text_phys <= pfn * ps < text_phys + image_size or pfn < 0x100:
            sp(pfn, OFF_FLAGS, "<Q", 1 << PG["reserved"])
    extra_vmci = []
    dmesg = []
    for toks in parse_block(body):
        what = toks[0]
        if what == "dmesg":
            # first token is the text (it may contain '='), then ts=
            _, o = kv_args(toks[2:])
            dmesg.append((unescape(toks[1]),
                          parse_int(o.get("ts", str(1000000 * (len(dmesg) + 1))))))
            continue
        if what == "vmcoreinfo":
            extra_vmci.append(" ".join(toks[1:]))
            continue
        pos, o = kv_args(toks[1:])
        a, e = parse_int(pos[0]) // ps, parse_int(pos[1]) // ps
        if e > max_pfn:
            raise KernelError("%s range beyond max_pfn" % what)
        if what == "free":
            p = a
            while p < e:
                order = MAX_ORDER - 1
                while order and (p % (1 << order) or p + (1 << order) > e):
                    order -= 1
                for q in range(p, p + (1 << order)):
                    sp(q, OFF_REFCOUNT, "<i", 0)
                    sp(q, OFF_FLAGS, "<Q", 0)
                sp(p, OFF_MAPCOUNT, "<i", PAGE_BUDDY_MAPCOUNT_VALUE)
                sp(p, OFF_PRIVATE, "<Q", order)
                p += 1 << order
        elif what in ("cache", "cache_private"):
            fl = 1 << PG["lru"] | 1 << PG["uptodate"]
            if what == "cache_private":
                fl |= 1 << PG["private"]
            for q in range(a, e):
                sp(q, OFF_FLAGS, "<Q", fl)
                sp(q, OFF_MAPPING, "<Q", dmap(0x4A3C1D8))   # address_space
                sp(q, OFF_INDEX, "<Q", q - a)
                if what == "cache_private":
                    sp(q, OFF_PRIVATE, "<Q", dmap(0x4B00000 + 0x68 * (q - a)))
                sp(q, OFF_REFCOUNT, "<i", 2)
        elif what == "anon":
            order = parse_int(o.get("order", "0"))
            fl = 1 << PG["lru"] | 1 << PG["swapbacked"] | 1 << PG["uptodate"]
            for q in range(a, e):
                sp(q, OFF_FLAGS, "<Q", fl)
                sp(q, OFF_MAPPING, "<Q", dmap(0x4C12340) | 1)  # anon_vma | 1
                sp(q, OFF_INDEX, "<Q", 0x7F0000000 + q - a)
                sp(q, OFF_MAPCOUNT, "<i", 0)
            if order:
                if a % (1 << order) or (e - a) % (1 << order):
                    raise KernelError("anon order=%d range not aligned" % order)
                for h in range(a, e, 1 << order):
                    sp(h, OFF_FLAGS, "<Q", fl | 1 << PG["head"])
                    for q in range(h + 1, h + (1 << order)):
                        sp(q, OFF_FLAGS, "<Q", 0)
                        sp(q, OFF_COMPOUND_HEAD, "<Q",
                           (memmap_va + h * PAGE_SIZE_STRUCT) | 1)
                    sp(h + 1, OFF_COMPOUND_DTOR, "<B", 0)
                    sp(h + 1, OFF_COMPOUND_ORDER, "<B", order)
        elif what == "slab":
            for q in range(a, e):
                sp(q, OFF_FLAGS, "<Q", 1 << PG["slab"])
                sp(q, OFF_MAPPING, "<Q", dmap(0x100A400))   # slab cache
        else:
            raise KernelError("unknown kernel line %r" % what)
    mem.write(memmap_phys, bytes(pages))

    # ---- variables
    v_mem_map = IMG_VARS
    v_prb = IMG_VARS + 0x8
    v_clear_seq = IMG_VARS + 0x40
    mem.write(kpa(v_mem_map), struct.pack("<Q", memmap_va))
    if memmodel == "flatmem":
        mm_lines = ["SYMBOL(mem_map)=%x" % kva(v_mem_map)]
    else:
        # SPARSEMEM_EXTREME + VMEMMAP: SYMBOL(mem_section) is the root
        # array itself (4.15+); section_mem_map = vmemmap base (encoded
        # as mem_map - section start pfn) | PRESENT|HAS_MEM_MAP|ONLINE|EARLY
        nsec = (max_pfn + PAGES_PER_SECTION - 1) // PAGES_PER_SECTION
        if nsec > 256:
            raise KernelError("sparse model: too much RAM for one root")
        root = bytearray(NR_SECTION_ROOTS * 8)
        struct.pack_into("<Q", root, 0, dmap(msec_page))
        secs = bytearray(ps)
        for n in range(nsec):
            struct.pack_into("<QQ", secs, 16 * n, vmemmap_base | 0xF,
                             dmap(0x4D00000 + 64 * n))   # usage pointer
        mem.write(msec_root, bytes(root))
        mem.write(msec_page, bytes(secs))
        mm_lines = ["SYMBOL(mem_section)=%x" % dmap(msec_root),
                    "LENGTH(mem_section)=%d" % NR_SECTION_ROOTS,
                    "SIZE(mem_section)=16",
                    "OFFSET(mem_section.section_mem_map)=0",
                    "NUMBER(SECTION_SIZE_BITS)=27"]
    vmci = [
        "OSRELEASE=%s" % release,
        "BUILD-ID=%s" % kv.get("build_id",
                               "5a1e0c7d2b9f4e8a1c3d6b0f9e2a7c4d8b1f3e6a"),
        "PAGESIZE=4096",
        "SYMBOL(init_uts_ns)=%x" % kva(IMG_UTS),
        "OFFSET(uts_namespace.name)=0",
        "SYMBOL(swapper_pg_dir)=%x" % kva(IMG_PGT),
        "SYMBOL(_stext)=%x" % text_virt,
    ] + mm_lines + [
        "SIZE(page)=%d" % PAGE_SIZE_STRUCT,
        "SIZE(list_head)=16",
        "OFFSET(page.flags)=%d" % OFF_FLAGS,
        "OFFSET(page._refcount)=%d" % OFF_REFCOUNT,
        "OFFSET(page.mapping)=%d" % OFF_MAPPING,
        "OFFSET(page.lru)=%d" % OFF_LRU,
        "OFFSET(page._mapcount)=%d" % OFF_MAPCOUNT,
        "OFFSET(page.private)=%d" % OFF_PRIVATE,
        "OFFSET(page.compound_dtor)=%d" % OFF_COMPOUND_DTOR,
        "OFFSET(page.compound_order)=%d" % OFF_COMPOUND_ORDER,
        "OFFSET(page.compound_head)=%d" % OFF_COMPOUND_HEAD,
        "OFFSET(list_head.next)=0",
        "OFFSET(list_head.prev)=8",
        "LENGTH(zone.free_area)=%d" % MAX_ORDER,
        "NUMBER(PG_lru)=%d" % PG["lru"],
        "NUMBER(PG_private)=%d" % PG["private"],
        "NUMBER(PG_swapcache)=%d" % PG_SWAPCACHE,
        "NUMBER(PG_swapbacked)=%d" % PG["swapbacked"],
        "NUMBER(PG_slab)=%d" % PG["slab"],
        "NUMBER(PG_hwpoison)=%d" % PG["hwpoison"],
        "NUMBER(PG_head_mask)=%d" % (1 << PG["head"]),
        "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=%d" % PAGE_BUDDY_MAPCOUNT_VALUE,
        "NUMBER(HUGETLB_PAGE_DTOR)=2",
        "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=%d" % PAGE_OFFLINE_MAPCOUNT_VALUE,
    ]
    if dmesg:
        vmci += build_printk(mem, dmesg, kva, kpa, v_prb, v_clear_seq)
    vmci += [
        "NUMBER(phys_base)=%d" % (phys_base - (1 << 64)
                                  if phys_base >> 63 else phys_base),
        "SYMBOL(init_top_pgt)=%x" % kva(IMG_PGT),
        "NUMBER(pgtable_l5_enabled)=0",
        "NUMBER(MAX_PHYSMEM_BITS)=46",
        "KERNELOFFSET=%x" % kaslr,
        "NUMBER(KERNEL_IMAGE_SIZE)=1073741824",
        "NUMBER(sme_mask)=0",
    ]
    vmci += extra_vmci
    if crashtime is not None:
        vmci.append("CRASHTIME=%d" % parse_int(crashtime))
    note.desc = "".join(l + "\n" for l in vmci).encode()


def build_printk(mem, records, kva, kpa, v_prb, v_clear_seq):
    """Lockless printk ring (5.10+, 6.1 layout) with the given records."""
    count = 1 << PRB_COUNT_BITS
    size = 1 << PRB_SIZE_BITS
    if len(records) > count:
        raise KernelError("too many dmesg records")
    descs = bytearray(count * SZ_PRB_DESC)
    infos = bytearray(count * SZ_PRINTK_INFO)
    text = bytearray(size)
    lpos = 0
    for i, (msg, ts) in enumerate(records):
        rid = i          # ids 0 .. n-1; id % count = slot
        blk = 8 + len(msg)
        blk = (blk + 7) // 8 * 8
        if lpos + blk > size:
            raise KernelError("dmesg text too long for the ring")
        struct.pack_into("<Q", text, lpos, rid)
        text[lpos + 8:lpos + 8 + len(msg)] = msg
        state = (2 << 62) | rid        # desc_finalized
        struct.pack_into("<QQQ", descs, rid * SZ_PRB_DESC, state, lpos,
                         lpos + blk)
        inf = rid * SZ_PRINTK_INFO
        struct.pack_into("<QQHBBI", infos, inf, i, ts, len(msg), 0,
                         (6 << 5), 0x80000000 if i % 3 == 0 else i + 1)
        lpos += blk
    n = len(records)
    # printk_ringbuffer: desc_ring {count_bits, descs, infos, head_id,
    # tail_id, last_finalized_id} (48), text_data_ring {size_bits, data,
    # head_lpos, tail_lpos} (32), fail (8) = 88 bytes
    prb = struct.pack("<I4xQQQQQ", PRB_COUNT_BITS, kva(IMG_DESCS),
                      kva(IMG_INFOS), n - 1, 0, n - 1)
    prb += struct.pack("<I4xQQQ", PRB_SIZE_BITS, kva(IMG_TEXT), lpos, 0)
    prb += struct.pack("<Q", 0)
    mem.write(kpa(IMG_PRB), prb)
    mem.write(kpa(IMG_DESCS), bytes(descs))
    mem.write(kpa(IMG_INFOS), bytes(infos))
    mem.write(kpa(IMG_TEXT), bytes(text))
    mem.write(kpa(v_prb), struct.pack("<Q", kva(IMG_PRB)))
    # clear_seq: latched_seq {seqcount_latch_t (4) + pad, u64 val[2]}
    mem.write(kpa(v_clear_seq), struct.pack("<I4xQQ", 0, 0, 0))
    return [
        "SYMBOL(prb)=%x" % kva(v_prb),
        "SYMBOL(printk_rb_static)=%x" % kva(IMG_PRB),
        "SYMBOL(clear_seq)=%x" % kva(v_clear_seq),
        "SIZE(printk_ringbuffer)=88",
        "OFFSET(printk_ringbuffer.desc_ring)=0",
        "OFFSET(printk_ringbuffer.text_data_ring)=48",
        "OFFSET(printk_ringbuffer.fail)=80",
        "SIZE(prb_desc_ring)=48",
        "OFFSET(prb_desc_ring.count_bits)=0",
        "OFFSET(prb_desc_ring.descs)=8",
        "OFFSET(prb_desc_ring.infos)=16",
        "OFFSET(prb_desc_ring.head_id)=24",
        "OFFSET(prb_desc_ring.tail_id)=32",
        "SIZE(prb_desc)=%d" % SZ_PRB_DESC,
        "OFFSET(prb_desc.state_var)=0",
        "OFFSET(prb_desc.text_blk_lpos)=8",
        "SIZE(prb_data_blk_lpos)=16",
        "OFFSET(prb_data_blk_lpos.begin)=0",
        "OFFSET(prb_data_blk_lpos.next)=8",
        "SIZE(printk_info)=%d" % SZ_PRINTK_INFO,
        "OFFSET(printk_info.seq)=0",
        "OFFSET(printk_info.ts_nsec)=8",
        "OFFSET(printk_info.text_len)=16",
        "OFFSET(printk_info.caller_id)=20",
        "OFFSET(printk_info.dev_info)=24",
        "SIZE(dev_printk_info)=64",
        "OFFSET(dev_printk_info.subsystem)=0",
        "LENGTH(printk_info_subsystem)=16",
        "OFFSET(dev_printk_info.device)=16",
        "LENGTH(printk_info_device)=48",
        "SIZE(prb_data_ring)=32",
        "OFFSET(prb_data_ring.size_bits)=0",
        "OFFSET(prb_data_ring.data)=8",
        "OFFSET(prb_data_ring.head_lpos)=16",
        "OFFSET(prb_data_ring.tail_lpos)=24",
        "SIZE(atomic_long_t)=8",
        "OFFSET(atomic_long_t.counter)=0",
        "SIZE(latched_seq)=24",
        "OFFSET(latched_seq.val)=8",
    ]
