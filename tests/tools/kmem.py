"""kmem.py - lay out enough Linux x86_64 kernel data in a fixture's memory for
makedumpfile (and our own analysis code) to work on it.

Used by mkdump.py for a `kernel ... end` block.  What is built (Debian 6.1-like
numbers, docs/formats.md §1.15, 2.4-2.8):

* a kernel image of `image_size` bytes at physical `text_phys`, mapped at
  0xffffffff81000000 + kaslr (a kernel-text PT_LOAD is added in front of the
  RAM PT_LOADs, like kexec does); phys_base = text_phys - (text_virt -
  0xffffffff80000000), so it is negative when kaslr moves the text up further
  than the physical load address (printed as a negative decimal);
* 4-level (levels=5: 5-level) page tables rooted at SYMBOL(init_top_pgt):
  the direct map (page_offset + paddr) with 4 KiB pages in the first 2 MiB
  and 2 MiB pages above, the kernel text map with 2 MiB pages;
* init_uts_ns (OFFSET(uts_namespace.name) = 0) holding the utsname;
* memmodel=flatmem (default): a `mem_map` variable pointing (direct map) at
  an array of 64-byte struct pages at physical `memmap_phys`, one per PFN
  below max_pfn, with page states chosen by the block lines (free/buddy, page
  cache, anon, slab);
* memmodel=sparse: the same array mapped at `vmemmap` (default
  0xffffea0000000000) with 4 KiB PTEs, found through SPARSEMEM_EXTREME
  mem_section (root array + one page of sections right after the array;
  sections without RAM not present; memsec=pointer: SYMBOL(mem_section)
  points at a pointer to the root array);
* optionally a kernel log: `printk`/`dmesg` lines, built by kprintk.py
  (5.10+ lockless ring or 3.5-5.9 log_buf; see there);
* a VMCOREINFO note with all the keys above.

Block lines (addresses physical, ranges [START, END), page aligned):
    free START END        buddy free blocks (largest aligned orders <= 10)
    cache START END       page cache: PG_lru|PG_uptodate, file mapping
    cache_private START END   page cache with PG_private
    anon START END [order=N]  anonymous: PG_lru|PG_swapbacked, mapping|1;
                              order=N makes compound pages of order N
    slab START END        PG_slab
    (more, and other kernel versions' page flags and page types: kmm.py)
    dmesg "TEXT" [ts=NSEC]    one printk record (more: kprintk.py)
    vmcoreinfo "KEY=VALUE"    extra VMCOREINFO line
"""

import shlex
import struct

import kmm
import kprintk
import ktask

START_KERNEL_MAP = 0xFFFFFFFF80000000
DEFAULT_TEXT_VIRT = 0xFFFFFFFF81000000
M64 = (1 << 64) - 1

# Debian 6.1 x86_64 struct page (64 bytes): the fields every page gets here
PAGE_SIZE_STRUCT = 64
OFF_FLAGS, OFF_LRU = 0, 8
OFF_MAPCOUNT, OFF_REFCOUNT = 48, 52
PG = {"locked": 0, "referenced": 1, "uptodate": 2, "dirty": 3, "lru": 4,
      "active": 5, "slab": 9, "owner_priv_1": 10, "reserved": 12,
      "private": 13, "head": 16, "swapbacked": 19, "hwpoison": 23}
# (page states, page-type values and their VMCOREINFO: kmm.py)

# image layout (offsets from the start of the kernel image)
IMG_PGT = 0x10000          # init_top_pgt (= swapper_pg_dir)
IMG_PGT_POOL = 0x11000     # further page-table pages
IMG_UTS = 0x30000          # init_uts_ns
IMG_VARS = 0x31000         # mem_map, prb, clear_seq, ...
IMG_PRB = 0x31200          # printk_rb_static
IMG_DESCS = 0x32000
IMG_INFOS = 0x33000
IMG_TEXT = 0x38000

# SPARSEMEM_EXTREME: 2^(MAX_PHYSMEM_BITS-27) sections, 256 per root
PAGES_PER_SECTION = 1 << (27 - 12)


class KernelError(Exception):
    pass


class PageTables:
    def __init__(self, mem, root, pool, pool_end, levels=4):
        self.mem = mem
        self.levels = levels
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
            top = self.root
            if self.levels == 5:
                top = self._child(top, (va >> 48) & 511)
            pdpt = self._child(top, pml4)
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

    def unmap(self, va, size):
        """Clear the 4 KiB entries of [va, va+size) (mapped before)."""
        for v in range(va, va + size, 4096):
            t = self.root
            for shift in ([48] if self.levels == 5 else []) + [39, 30, 21]:
                e, = struct.unpack_from("<Q", self.tables[t],
                                        ((v >> shift) & 511) * 8)
                t = e & 0x000FFFFFFFFFF000
            struct.pack_into("<Q", self.tables[t], ((v >> 12) & 511) * 8, 0)

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
    levels = num("levels", 4)             # 5: 5-level paging (LA57)
    if levels not in (4, 5):
        raise KernelError("levels must be 4 or 5")
    max_physmem_bits = 52 if levels == 5 else 46
    nr_section_roots = (1 << (max_physmem_bits - 27)) // 256
    page_offset = num("page_offset", d.elf["page_offset"] if levels == 4
                      else 0xFF11000000000000)
    memmap_phys = num("memmap_phys", 0x80000)
    crashtime = kv.get("crashtime")
    memmodel = kv.get("memmodel", "flatmem")
    if memmodel not in ("flatmem", "sparse"):
        raise KernelError("memmodel must be flatmem or sparse")
    vmemmap_base = num("vmemmap", 0xFFFFEA0000000000 if levels == 4
                       else 0xFFD4000000000000)
    # memsec=pointer: SYMBOL(mem_section) is the address of a pointer to
    # the root array, as older kernels exported it (docs/formats.md §2.4)
    memsec = kv.get("memsec", "array")
    if memsec not in ("array", "pointer"):
        raise KernelError("memsec must be array or pointer")
    try:
        prof = kmm.profile(kv)
    except kmm.Error as e:
        raise KernelError(str(e)) from None
    drop = kmm.dropped_keys(kv)
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
    # sparse: mem_section root array (nr_section_roots pointers) and one
    # page of 256 struct mem_section follow the struct page array
    msec_root = memmap_phys + memmap_bytes
    msec_page = msec_root + nr_section_roots * 8
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
    pt = PageTables(mem, kpa(IMG_PGT), kpa(IMG_PGT_POOL), kpa(IMG_UTS),
                    levels)
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
    mmb = kmm.Builder(prof, pages, max_pfn, memmap_va, dmap, ps, parse_int,
                      in_ram)
    extra_vmci = []
    printk_lines = []
    az_lines = []           # analyzer world: ktask.py
    for toks in parse_block(body):
        what = toks[0]
        if what in kprintk.LINES:
            printk_lines.append(toks)
            continue
        if what in ktask.LINES:
            az_lines.append(toks)
            continue
        if what == "vmcoreinfo":
            extra_vmci.append(" ".join(toks[1:]))
            continue
        pos, o = kv_args(toks[1:])
        try:
            known = mmb.line(what, pos, o)
        except (kmm.Error, IndexError, KeyError) as e:
            raise KernelError("%s: %s" % (what, e)) from None
        if not known:
            raise KernelError("unknown kernel line %r" % what)
    mem.write(memmap_phys, bytes(pages))
    if mmb.unmapped() and memmodel != "sparse":
        raise KernelError("nomemmap needs memmodel=sparse")
    for a, e in mmb.unmapped():
        pt.unmap(vmemmap_base + a * PAGE_SIZE_STRUCT,
                 (e - a) * PAGE_SIZE_STRUCT)
    pt.write()

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
        root = bytearray(nr_section_roots * 8)
        struct.pack_into("<Q", root, 0, dmap(msec_page))
        secs = bytearray(ps)
        for n in range(nsec):
            lo, hi = n * PAGES_PER_SECTION, (n + 1) * PAGES_PER_SECTION
            if not any(l.paddr < hi * ps and l.paddr + l.memsz > lo * ps
                       for l in ram):
                mmb.no_section(lo, hi)     # no RAM: section not present
                continue
            struct.pack_into("<QQ", secs, 16 * n, vmemmap_base | 0xF,
                             dmap(0x4D00000 + 64 * n))   # usage pointer
        mem.write(msec_root, bytes(root))
        mem.write(msec_page, bytes(secs))
        sym = dmap(msec_root)
        if memsec == "pointer":
            sym = kva(IMG_VARS + 0x10)
            mem.write(kpa(IMG_VARS + 0x10), struct.pack("<Q", dmap(msec_root)))
        mm_lines = ["SYMBOL(mem_section)=%x" % sym,
                    "LENGTH(mem_section)=%d" % nr_section_roots,
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
    ] + mm_lines + kmm.vmcoreinfo(
        prof, vmemmap_base if memmodel == "sparse" else None)
    if printk_lines:
        lines, d.dmesg_expect = kprintk.build(mem, printk_lines, kprintk.Layout(
            mk=mk, error=KernelError, kva=kva, kpa=kpa, dmap=dmap, in_ram=in_ram,
            img_prb=IMG_PRB, img_descs=IMG_DESCS, img_infos=IMG_INFOS,
            img_text=IMG_TEXT, v_prb=v_prb, v_clear_seq=v_clear_seq))
        vmci += lines
    if az_lines:
        try:
            vmci += ktask.build(d, mem, az_lines, note, ktask.Layout(
                kva=kva, kpa=kpa, dmap=dmap, text_virt=text_virt,
                image_size=image_size, uts=uts, printk=printk_lines,
                crashtime=parse_int(crashtime) if crashtime else None,
                parse_int=parse_int, unescape=unescape, Note=mk.Note))
        except ktask.Error as e:
            raise KernelError(str(e)) from None
    vmci += [
        "NUMBER(phys_base)=%d" % (phys_base - (1 << 64)
                                  if phys_base >> 63 else phys_base),
        "SYMBOL(init_top_pgt)=%x" % kva(IMG_PGT),
        "NUMBER(pgtable_l5_enabled)=%d" % (levels == 5),
        "NUMBER(MAX_PHYSMEM_BITS)=%d" % max_physmem_bits,
        "KERNELOFFSET=%x" % kaslr,
        "NUMBER(KERNEL_IMAGE_SIZE)=1073741824",
        "NUMBER(sme_mask)=0",
    ]
    vmci = kmm.drop_lines(vmci, drop)      # extra lines below are kept
    vmci += extra_vmci
    if crashtime is not None:
        vmci.append("CRASHTIME=%d" % parse_int(crashtime))
    d.mm_classes = mmb.cls
    note.desc = "".join(l + "\n" for l in vmci).encode()

