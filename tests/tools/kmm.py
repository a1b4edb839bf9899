"""kmm.py - struct page states for kmem.py's `kernel ... end` block, for
several kernel versions, and the page classification they are meant to have
(`mkdump.py --classes FILE`).

Written from docs/formats.md (2.5-2.7, 3.1-3.2) only, without
the reader library.  The expected classes are not decoded from the struct
pages: each block line says what its pages *are* (free, page cache, user
data, ...), and the class follows from that intent.

Kernel options handled here (kmem.py passes them on):
    pagetypes=6.1|6.6|6.10|6.12|6.16   page flag numbers and page-type
        encoding of that kernel (default 6.1, Debian 6.1 numbers):
        6.1   inverted page types (PAGE_BUDDY_MAPCOUNT_VALUE -129), PG_slab,
              hugetlb = HUGETLB_PAGE_DTOR in the first tail's compound_dtor
              byte (+16), order in its compound_order byte (+17)
        6.6   as 6.1 but hugetlb = NUMBER(PG_hugetlb) in the first tail's
              flags (folio._flags_1), order in their low byte; no
              compound_dtor/compound_order offsets
        6.10  slab and hugetlb are inverted page types (-4097, -2049),
              no PG_slab; order in _flags_1
        6.12  page type = id in the top byte of _mapcount (buddy 0xf0000000,
              offline 0xf1, hugetlb 0xf4, slab 0xf5, zsmalloc 0xf6);
              flag numbers of Debian's 6.12; SYMBOL(vmemmap)
        6.16  as 6.12 plus unaccepted memory (0xf7000000)
    drop=KEY,KEY   leave these VMCOREINFO keys out (e.g. drop=SIZE(page))

Block lines (ranges [START, END) physical, page aligned):
    free START END [typedata=N]   buddy blocks, largest aligned order first
                                  (typedata: low 24 bits of the page type,
                                  6.12+ only)
    cache START END [order=N]     page cache (PG_lru), file mapping
    cache_private START END [order=N]
    anon START END [order=N]      anonymous (mapping | 1)
    swapcache START END           PG_swapcache|PG_swapbacked, no PG_lru
    slab START END [order=N]      slab (PG_slab or the slab page type)
    hugetlb START END order=N     hugetlbfs pages of order N
    hwpoison START END            PG_hwpoison added to order-0 pages
    offline START END             logically offline (page type)
    unaccepted START END          unaccepted memory (6.16), blocks of
                                  MAX_ORDER-1
    zsmalloc START END            zsmalloc page type with type data (6.12+)
  hostile (the class is what makedumpfile's rules give, docs/formats.md §2.6/3.2):
    buddy ADDR order=N            one buddy head of order N, nothing else:
                                  free block if N < MAX_ORDER, ADDR is
                                  aligned to it and in RAM, else an
                                  ordinary page
    compound ADDR order=N [kind=anon|cache]  a compound page at ADDR even if
                                  misaligned (then only the head is excluded)
    badtail ADDR ptr=V            compound_head = V (tail bit added): kept
    nomemmap START END            no struct pages (vmemmap left unmapped;
                                  START/END multiples of 256 KiB of RAM)
"""

import struct

CLASSES = ["keep", "cache", "cache_private", "user", "free", "hwpoison",
           "offline", "nomap"]
# docs/formats.md §3.1: dump level bits that drop each class (hwpoison and
# offline pages are dropped at every level)
DROPPED_BY = {"cache": 2 | 4, "cache_private": 4, "user": 8, "free": 16,
              "hwpoison": 0xFF, "offline": 0xFF}
LEVELS = [2, 4, 8, 16, 31]

SZ_PAGE = 64
OFF_FLAGS, OFF_LRU, OFF_MAPPING, OFF_INDEX, OFF_PRIVATE = 0, 8, 24, 32, 40
OFF_COMPOUND_HEAD, OFF_COMPOUND_DTOR, OFF_COMPOUND_ORDER = 8, 16, 17
OFF_MAPCOUNT, OFF_REFCOUNT = 48, 52
MAX_ORDER = 11                          # LENGTH(zone.free_area)
HUGETLB_PAGE_DTOR = 2


def _u32(v):
    return v & 0xFFFFFFFF


def _s32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


PG_61 = {"locked": 0, "referenced": 1, "uptodate": 2, "dirty": 3, "lru": 4,
         "active": 5, "slab": 9, "owner_priv_1": 10, "reserved": 12,
         "private": 13, "head": 16, "swapbacked": 19, "hwpoison": 23}
PG_66 = {"locked": 0, "writeback": 1, "referenced": 2, "uptodate": 3,
         "dirty": 4, "lru": 5, "head": 6, "waiters": 7, "active": 8,
         "slab": 11, "owner_priv_1": 12, "reserved": 14, "private": 15,
         "swapbacked": 19, "hwpoison": 22, "hugetlb": 8}
PG_612 = {"locked": 0, "writeback": 1, "referenced": 2, "uptodate": 3,
          "dirty": 4, "lru": 5, "head": 6, "waiters": 7, "active": 8,
          "owner_priv_1": 10, "reserved": 13, "private": 14,
          "swapbacked": 17, "hwpoison": 20}

PROFILES = {
    "6.1": {"pg": PG_61, "types": {"buddy": -129, "offline": -257},
            "hugetlb": "dtor", "slab": "flag", "order": "byte"},
    "6.6": {"pg": PG_66, "types": {"buddy": -129, "offline": -257},
            "hugetlb": "pgflag", "slab": "flag", "order": "flags1"},
    "6.10": {"pg": PG_612,
             "types": {"buddy": -129, "offline": -257, "hugetlb": -2049,
                       "slab": -4097},
             "hugetlb": "type", "slab": "type", "order": "flags1"},
    "6.12": {"pg": PG_612,
             "types": {"buddy": 0xF0 << 24, "offline": 0xF1 << 24,
                       "hugetlb": 0xF4 << 24, "slab": 0xF5 << 24,
                       "zsmalloc": 0xF6 << 24},
             "hugetlb": "type", "slab": "type", "order": "flags1",
             "vmemmap": True},
    "6.16": {"pg": PG_612,
             "types": {"buddy": 0xF0 << 24, "offline": 0xF1 << 24,
                       "hugetlb": 0xF4 << 24, "slab": 0xF5 << 24,
                       "zsmalloc": 0xF6 << 24, "unaccepted": 0xF7 << 24},
             "hugetlb": "type", "slab": "type", "order": "flags1",
             "vmemmap": True},
}


class Error(Exception):
    pass


def profile(kv):
    name = kv.get("pagetypes", "6.1")
    if name not in PROFILES:
        raise Error("pagetypes must be one of %s" % ", ".join(PROFILES))
    return PROFILES[name]


def dropped_keys(kv):
    return set(k for k in kv.get("drop", "").split(",") if k)


def vmcoreinfo(prof, vmemmap=None):
    """VMCOREINFO lines for struct page, page flags and page types."""
    pg = prof["pg"]
    t = prof["types"]
    out = [
        "SIZE(page)=%d" % SZ_PAGE,
        "SIZE(list_head)=16",
        "OFFSET(page.flags)=%d" % OFF_FLAGS,
        "OFFSET(page._refcount)=%d" % OFF_REFCOUNT,
        "OFFSET(page.mapping)=%d" % OFF_MAPPING,
        "OFFSET(page.lru)=%d" % OFF_LRU,
        "OFFSET(page._mapcount)=%d" % OFF_MAPCOUNT,
        "OFFSET(page.private)=%d" % OFF_PRIVATE,
    ]
    if prof["order"] == "byte":
        out += ["OFFSET(page.compound_dtor)=%d" % OFF_COMPOUND_DTOR,
                "OFFSET(page.compound_order)=%d" % OFF_COMPOUND_ORDER]
    out += [
        "OFFSET(page.compound_head)=%d" % OFF_COMPOUND_HEAD,
        "OFFSET(list_head.next)=0",
        "OFFSET(list_head.prev)=8",
        "LENGTH(zone.free_area)=%d" % MAX_ORDER,
        "NUMBER(PG_lru)=%d" % pg["lru"],
        "NUMBER(PG_private)=%d" % pg["private"],
        "NUMBER(PG_swapcache)=%d" % pg["owner_priv_1"],
        "NUMBER(PG_swapbacked)=%d" % pg["swapbacked"],
    ]
    if prof["slab"] == "flag":
        out.append("NUMBER(PG_slab)=%d" % pg["slab"])
    else:
        out.append("NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=%d" % _s32(t["slab"]))
    out += [
        "NUMBER(PG_hwpoison)=%d" % pg["hwpoison"],
        "NUMBER(PG_head_mask)=%d" % (1 << pg["head"]),
        "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=%d" % _s32(t["buddy"]),
    ]
    if prof["hugetlb"] == "dtor":
        out.append("NUMBER(HUGETLB_PAGE_DTOR)=%d" % HUGETLB_PAGE_DTOR)
    elif prof["hugetlb"] == "pgflag":
        out.append("NUMBER(PG_hugetlb)=%d" % pg["hugetlb"])
    else:
        out.append("NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=%d"
                   % _s32(t["hugetlb"]))
    out.append("NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=%d" % _s32(t["offline"]))
    if "unaccepted" in t:
        out.append("NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)=%d"
                   % _s32(t["unaccepted"]))
    if prof.get("vmemmap") and vmemmap is not None:
        out.append("SYMBOL(vmemmap)=%x" % vmemmap)
    return out


def drop_lines(lines, drop):
    return [l for l in lines if l.split("=", 1)[0] not in drop]


class Builder:
    """Applies block lines to the struct page array of kmem.py.

    `pages` is the bytearray of struct pages (SZ_PAGE each, PFN 0 first),
    `memmap_va` the virtual address of PFN 0's struct page."""

    def __init__(self, prof, pages, max_pfn, memmap_va, dmap, ps, parse_int,
                 in_ram):
        self.prof = prof
        self.in_ram = in_ram
        self.pg = prof["pg"]
        self.types = prof["types"]
        self.pages = pages
        self.max_pfn = max_pfn
        self.memmap_va = memmap_va
        self.dmap = dmap
        self.ps = ps
        self.parse_int = parse_int
        self.cls = ["keep"] * max_pfn
        self.kind = [None] * max_pfn   # None | "page" | "block"

    # ---- struct page fields
    def put(self, pfn, off, fmt, val):
        struct.pack_into(fmt, self.pages, pfn * SZ_PAGE + off, val)

    def get(self, pfn, off, fmt):
        return struct.unpack_from(fmt, self.pages, pfn * SZ_PAGE + off)[0]

    def flag(self, name):
        return 1 << self.pg[name]

    def spaddr(self, pfn):
        return self.memmap_va + pfn * SZ_PAGE

    def set_type(self, pfn, name, data=0):
        self.put(pfn, OFF_MAPCOUNT, "<I", _u32(self.types[name]) | data)

    def plain(self, q, flags, refcount=1):
        self.put(q, OFF_FLAGS, "<Q", flags)
        self.put(q, OFF_REFCOUNT, "<i", refcount)
        self.put(q, OFF_MAPCOUNT, "<i", -1)

    def compound(self, head, order, huge=False):
        """Make [head, head + 2^order) a compound page (head flags set by
        the caller first)."""
        self.put(head, OFF_FLAGS, "<Q",
                 self.get(head, OFF_FLAGS, "<Q") | self.flag("head"))
        for q in range(head + 1, head + (1 << order)):
            self.put(q, OFF_FLAGS, "<Q", 0)
            self.put(q, OFF_COMPOUND_HEAD, "<Q", self.spaddr(head) | 1)
        t1 = head + 1
        if self.prof["order"] == "byte":
            self.put(t1, OFF_COMPOUND_DTOR, "<B",
                     HUGETLB_PAGE_DTOR if huge else 0)
            self.put(t1, OFF_COMPOUND_ORDER, "<B", order)
        else:
            f1 = order
            if huge and self.prof["hugetlb"] == "pgflag":
                f1 |= self.flag("hugetlb")
            self.put(t1, OFF_FLAGS, "<Q", f1)
        if huge and self.prof["hugetlb"] == "type":
            self.set_type(head, "hugetlb")

    # ---- intent
    def mark(self, a, e, cls, kind="page"):
        for q in range(a, e):
            if self.kind[q] is not None:
                raise Error("pfn %#x given a state twice" % q)
            self.cls[q] = cls
            self.kind[q] = kind

    def _range(self, pos):
        a, e = self.parse_int(pos[0]) // self.ps, self.parse_int(pos[1]) // self.ps
        if not 0 <= a < e <= self.max_pfn:
            raise Error("range %s %s outside the struct page array"
                        % (pos[0], pos[1]))
        return a, e

    def _order(self, o, a, e, need=False):
        if "order" not in o:
            if need:
                raise Error("order= is required")
            return 0
        order = self.parse_int(o["order"])
        if a % (1 << order) or (e - a) % (1 << order):
            raise Error("order=%d range not aligned" % order)
        return order

    def line(self, what, pos, o):
        """Handle one block line; False when it is not ours."""
        fn = getattr(self, "do_" + what, None)
        if fn is None:
            return False
        fn(pos, o)
        return True

    # ---- block lines
    def do_free(self, pos, o):
        a, e = self._range(pos)
        data = self.parse_int(o.get("typedata", "0"))
        if data and (data >> 24 or self.types["buddy"] & 0xFFFFFF):
            raise Error("typedata= needs the 6.12 page-type encoding and < 2^24")
        p = a
        while p < e:
            order = MAX_ORDER - 1
            while order and (p % (1 << order) or p + (1 << order) > e):
                order -= 1
            for q in range(p, p + (1 << order)):
                self.plain(q, 0, refcount=0)
                self.put(q, OFF_MAPPING, "<Q", 0)
            self.set_type(p, "buddy", data)
            self.put(p, OFF_PRIVATE, "<Q", order)
            p += 1 << order
        self.mark(a, e, "free", "block")

    def _file(self, pos, o, private):
        a, e = self._range(pos)
        order = self._order(o, a, e)
        fl = self.flag("lru") | self.flag("uptodate")
        if private:
            fl |= self.flag("private")
        for q in range(a, e):
            self.plain(q, fl, refcount=2)
            self.put(q, OFF_MAPPING, "<Q", self.dmap(0x4A3C1D8))
            self.put(q, OFF_INDEX, "<Q", q - a)
            if private:
                self.put(q, OFF_PRIVATE, "<Q",
                         self.dmap(0x4B00000 + 0x68 * (q - a)))
        for h in range(a, e, 1 << order) if order else ():
            self.compound(h, order)
        self.mark(a, e, "cache_private" if private else "cache",
                  "block" if order else "page")

    def do_cache(self, pos, o):
        self._file(pos, o, False)

    def do_cache_private(self, pos, o):
        self._file(pos, o, True)

    def do_anon(self, pos, o):
        a, e = self._range(pos)
        order = self._order(o, a, e)
        fl = self.flag("lru") | self.flag("swapbacked") | self.flag("uptodate")
        for q in range(a, e):
            self.plain(q, fl)
            self.put(q, OFF_MAPPING, "<Q", self.dmap(0x4C12340) | 1)
            self.put(q, OFF_INDEX, "<Q", 0x7F0000000 + q - a)
            self.put(q, OFF_MAPCOUNT, "<i", 0)
        for h in range(a, e, 1 << order) if order else ():
            self.compound(h, order)
        self.mark(a, e, "user", "block" if order else "page")

    def do_swapcache(self, pos, o):
        a, e = self._range(pos)
        fl = (self.flag("owner_priv_1") | self.flag("swapbacked")
              | self.flag("uptodate"))
        for q in range(a, e):
            self.plain(q, fl, refcount=1)
            self.put(q, OFF_MAPPING, "<Q", self.dmap(0x4A5E000))  # shmem
            self.put(q, OFF_PRIVATE, "<Q", 0x1C00 + q - a)         # swp_entry
        self.mark(a, e, "cache")

    def do_slab(self, pos, o):
        a, e = self._range(pos)
        order = self._order(o, a, e)
        for q in range(a, e):
            if self.prof["slab"] == "flag":
                self.plain(q, self.flag("slab"))
                self.put(q, OFF_MAPPING, "<Q", self.dmap(0x100A400))
            else:
                # struct slab overlays struct page; the word at the mapping
                # offset may be odd, which must not make it anonymous
                self.plain(q, 0)
                self.put(q, OFF_MAPPING, "<Q", 0x0000002A00000015)
                self.set_type(q, "slab")
        for h in range(a, e, 1 << order) if order else ():
            self.compound(h, order)
            if self.prof["slab"] == "type":
                for q in range(h + 1, h + (1 << order)):
                    self.put(q, OFF_MAPPING, "<Q", 0x0000002A00000015)
        self.mark(a, e, "keep", "block" if order else "page")

    def do_hugetlb(self, pos, o):
        a, e = self._range(pos)
        order = self._order(o, a, e, need=True)
        if order < 1:
            raise Error("hugetlb needs order >= 1")
        for q in range(a, e):
            self.plain(q, self.flag("uptodate"))
            self.put(q, OFF_MAPPING, "<Q", self.dmap(0x4A7F0C8))  # hugetlbfs
            self.put(q, OFF_INDEX, "<Q", (q - a) >> order)
        for h in range(a, e, 1 << order):
            self.compound(h, order, huge=True)
        self.mark(a, e, "user", "block")

    def do_hwpoison(self, pos, o):
        a, e = self._range(pos)
        for q in range(a, e):
            if self.kind[q] == "block":
                raise Error("hwpoison only on order-0 pages (pfn %#x)" % q)
            self.put(q, OFF_FLAGS, "<Q",
                     self.get(q, OFF_FLAGS, "<Q") | self.flag("hwpoison"))
            # always dropped, whatever else the page is (docs/formats.md §3.1)
            self.cls[q] = "hwpoison"
            self.kind[q] = "page"

    def do_offline(self, pos, o):
        a, e = self._range(pos)
        for q in range(a, e):
            self.plain(q, 0)
            self.set_type(q, "offline")
        self.mark(a, e, "offline")

    def do_unaccepted(self, pos, o):
        if "unaccepted" not in self.types:
            raise Error("unaccepted needs pagetypes=6.16")
        a, e = self._range(pos)
        blk = 1 << (MAX_ORDER - 1)
        if a % blk or e % blk:
            raise Error("unaccepted ranges are MAX_ORDER-1 blocks")
        for q in range(a, e):
            self.plain(q, 0, refcount=0)
        for h in range(a, e, blk):
            self.set_type(h, "unaccepted")
        self.mark(a, e, "free", "block")

    def do_zsmalloc(self, pos, o):
        if "zsmalloc" not in self.types:
            raise Error("zsmalloc needs pagetypes=6.12 or later")
        a, e = self._range(pos)
        for q in range(a, e):
            self.plain(q, 0)
            self.set_type(q, "zsmalloc", 0x80 + q - a)   # first object offset
        self.mark(a, e, "keep")

    # ---- hostile
    def do_buddy(self, pos, o):
        p = self.parse_int(pos[0]) // self.ps
        order = self.parse_int(o["order"])
        if not 0 <= p < self.max_pfn:
            raise Error("buddy outside the struct page array")
        self.plain(p, 0, refcount=0)
        self.set_type(p, "buddy")
        self.put(p, OFF_PRIVATE, "<Q", order)
        # docs/formats.md §2.6: a free block is 1 << private pages, private <
        # LENGTH(zone.free_area); blocks are aligned to their size.  3.2
        # step 0: a frame outside RAM is never looked at
        if not self.in_ram(p * self.ps):
            self.mark(p, p + 1, "keep")
        elif order < MAX_ORDER and p % (1 << order) == 0:
            e = min(p + (1 << order), self.max_pfn)
            for q in range(p + 1, e):
                self.plain(q, 0, refcount=0)
            self.mark(p, e, "free", "block")
        else:
            self.mark(p, p + 1, "keep")

    def do_compound(self, pos, o):
        h = self.parse_int(pos[0]) // self.ps
        order = self.parse_int(o["order"])
        kind = o.get("kind", "anon")
        if kind not in ("anon", "cache"):
            raise Error("compound kind= anon|cache")
        n = 1 << order
        if h < 0 or h + n > self.max_pfn:
            raise Error("compound outside the struct page array")
        fl = self.flag("lru") | self.flag("uptodate")
        for q in range(h, h + n):
            self.plain(q, fl | (self.flag("swapbacked") if kind == "anon" else 0))
            self.put(q, OFF_MAPPING, "<Q", self.dmap(0x4C12340) | 1
                     if kind == "anon" else self.dmap(0x4A3C1D8))
        self.compound(h, order)
        cls = "user" if kind == "anon" else "cache"
        if h % n:
            # a misaligned order is no order (docs/formats.md §3.2): the head is
            # one page and the tails are not looked at
            self.mark(h, h + 1, cls)
            self.mark(h + 1, h + n, "keep")
        else:
            self.mark(h, h + n, cls, "block")

    def do_badtail(self, pos, o):
        p = self.parse_int(pos[0]) // self.ps
        self.plain(p, 0)
        self.put(p, OFF_COMPOUND_HEAD, "<Q", self.parse_int(o["ptr"]) | 1)
        self.mark(p, p + 1, "keep")

    def do_nomemmap(self, pos, o):
        a, e = self._range(pos)
        per = self.ps // SZ_PAGE
        if a % per or e % per:
            raise Error("nomemmap range must cover whole pages of struct pages")
        self.mark(a, e, "nomap")

    def unmapped(self):
        """PFN ranges whose struct pages are not mapped (nomemmap)."""
        out, p = [], 0
        while p < self.max_pfn:
            if self.cls[p] == "nomap" and self.kind[p] is not None:
                q = p
                while q < self.max_pfn and self.cls[q] == "nomap" and \
                        self.kind[q] is not None:
                    q += 1
                out.append((p, q))
                p = q
            else:
                p += 1
        return out

    def no_section(self, a, e):
        """No struct pages at all (section not present)."""
        for q in range(a, min(e, self.max_pfn)):
            if self.kind[q] is not None:
                raise Error("pfn %#x is in a memory section without RAM" % q)
            self.cls[q] = "nomap"


def write_classes(d, path):
    """The expected output of tests/unit/mmcheck.c (see its header)."""
    cls = getattr(d, "mm_classes", None)
    if cls is None:
        raise Error("--classes needs a kernel block")
    ps = d.page_size
    loads = [l for l in d.loads if l.memsz]
    max_pfn = max((l.paddr + l.memsz + ps - 1) // ps for l in loads)
    cls = cls[:max_pfn] + ["nomap"] * (max_pfn - len(cls))
    ram = bytearray(max_pfn)
    for l in loads:
        if not l.ktext:
            for p in range(l.paddr // ps, (l.paddr + l.memsz + ps - 1) // ps):
                ram[p] = 1
    out = []
    p = 0
    while p < max_pfn:
        q = p
        while q + 1 < max_pfn and cls[q + 1] == cls[p]:
            q += 1
        out.append("pfn %#x %s" % (p, cls[p]) if p == q else
                   "pfn %#x-%#x %s" % (p, q, cls[p]))
        p = q + 1
    for c in CLASSES:
        out.append("class %s: %d" % (c, cls.count(c)))
    for lv in LEVELS:
        n = sum(1 for p in range(max_pfn)
                if ram[p] and DROPPED_BY.get(cls[p], 0) & lv)
        out.append("level %d: excluded %d" % (lv, n))
    with open(path, "w") as f:
        f.write("".join(l + "\n" for l in out))
