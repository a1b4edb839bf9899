/* mm.c - page classification for filtering, from VMCOREINFO alone
 * (docs/formats.md §2.5-§2.7 for the keys and encodings, §3.2 for the rules).
 *
 * makedumpfile (__exclude_unnecessary_pages) walks mem_map in PFN order; a page
 * that starts a multi-page block (a free buddy block, an unaccepted block, an
 * excluded compound page) makes the walk skip the pages the block covers, and
 * compound tails are never looked at on their own.  We give the same answer for
 * any range of frames without walking from PFN 0:
 *
 *  - frames are classified in aligned windows of at least 512 frames and at
 *    least the largest buddy block (1 << (LENGTH(zone.free_area) - 1)); buddy
 *    and unaccepted blocks are aligned to their size (checked), so no block
 *    begins before the window it covers;
 *  - a compound tail takes its class from the head that page.compound_head
 *    points to, wherever that head is, if the head's block reaches the tail.
 *
 * For a consistent kernel state this equals makedumpfile's walk at dump level
 * 31.  Where one page matches several rules, the class is the first match of
 * §3.2 except that a hwpoison or offline page that would be page cache or user
 * data is reported as hwpoison/offline: makedumpfile excludes it at every dump
 * level (as cache at -d 2, as hwpoison at -d 0), so only the always-excluded
 * class gives the same frame set at every level.
 *
 * Deviations on corrupt input only: makedumpfile trusts a misaligned buddy
 * block; here it is ignored (the page is kept), as is a buddy order outside
 * [0, LENGTH(zone.free_area)) (makedumpfile warns and keeps it too).
 */
#include "internal.h"

#include <stdlib.h>

#define MM_BATCH 512               /* struct pages per read (PGMM_CACHED) */
#define MM_MAX_ORDERS 16           /* largest LENGTH(zone.free_area) believed */
#define MM_SEC_CACHE 64            /* section look-ups remembered */
#define MM_MAX_TAIL_DIST (1ULL << 24) /* farthest believed tail-to-head distance */
#define MM_SIZE_PAGE_MAX 1024
#define SECTION_MARKED_PRESENT 0x1ULL
#define SECTION_FLAG_MASK 0x3fULL  /* flag bits below the encoded mem_map (§2.7) */
#define PAGE_MAPPING_ANON 0x1ULL
#define KVER(a, b, c) ((a) << 16 | (b) << 8 | ((c) > 255 ? 255 : (c)))

/* A page type as stored in the 32-bit word at page._mapcount.  Up to 6.11 the
 * exported value is the whole word (inverted bits, e.g. -129 for buddy);
 * from 6.12 ("mm: support only one page_type per page") the type is an id in
 * the top byte and the low 24 bits may hold type-private data, so only the top
 * byte is compared when the exported value has that shape. */
struct mm_ptype {
	bool on;
	bool top_byte;
	uint32_t v;
};

enum mm_model { MM_FLATMEM, MM_SPARSE, MM_SPARSE_EXTREME };
/* where a compound page keeps its order and destructor (first tail page) */
enum mm_ord { ORD_NONE, ORD_U8, ORD_U16, ORD_FLAGS1 };
enum mm_dtor { DTOR_NONE, DTOR_U8, DTOR_U16, DTOR_ULONG };


struct mm_sec_slot {
	bool valid, has;
	uint64_t nr, map;
};

struct mm_verdict {
	uint8_t cls;      /* class of the block the page starts */
	uint8_t own;      /* class of the page itself (differs for a hwpoison buddy head) */
	uint64_t n;       /* frames in the block */
};

struct vmc_mm {
	vmc_dump *d;
	uint64_t max_pfn;
	uint64_t page_size;
	struct vmc_layout layout;

	/* struct page layout */
	uint64_t sz_page, off_flags, off_mapping, off_mapcount, off_private, off_chead;
	bool has_mapcount, has_private, has_chead;
	enum mm_ord ord;
	uint64_t off_order;
	enum mm_dtor dtor;
	uint64_t off_dtor, dtor_hugetlb;
	bool has_dtor_hugetlb;

	/* page flags as masks; 0 when the kernel does not export the bit */
	uint64_t f_lru, f_private, f_swapcache, f_swapbacked, f_slab, f_hwpoison,
		 f_head, f_buddy, f_hugetlb;
	struct mm_ptype t_buddy, t_offline, t_hugetlb, t_slab, t_unaccepted;
	bool buddy_ok;           /* free buddy pages can be recognised */
	unsigned nr_orders;      /* LENGTH(zone.free_area); 0 when unusable */

	/* memory model */
	enum mm_model model;
	uint64_t mem_map;        /* FLATMEM: the struct page array */
	uint64_t sec_base;       /* SPARSEMEM: mem_section (root pointers if EXTREME) */
	unsigned sec_shift;      /* pfn >> sec_shift = section number */
	uint64_t nr_sections, per_root, nr_roots, sz_section, off_sec_map;
	bool root_valid;
	uint64_t root_idx, root_val;
	struct mm_sec_slot sc[MM_SEC_CACHE];

	/* classification */
	uint64_t batch, win;     /* frames per struct page read / per window */
	bool win_valid;
	uint64_t win_start;
	uint8_t *win_cls;
	uint8_t *sp, *sp_ok;     /* one batch of struct pages and which read */
	uint8_t *vpage_ok;       /* per virtual page of a batch, on partial reads */
	uint8_t hsp[2 * MM_SIZE_PAGE_MAX], hsp_ok[2];
	struct {
		bool valid;
		uint64_t pfn, n;
		uint8_t cls;
	} head;                  /* last compound head a tail was resolved to */
};

bool vmc_pclass_excluded(int level, enum vmc_pclass c)
{
	if (level < 0 || level > 31)
		return false;
	switch (c) {
	case VMC_PC_CACHE: return level & (VMC_DL_CACHE | VMC_DL_CACHE_PRIVATE);
	case VMC_PC_CACHE_PRIVATE: return level & VMC_DL_CACHE_PRIVATE;
	case VMC_PC_USER: return level & VMC_DL_USER;
	case VMC_PC_FREE: return level & VMC_DL_FREE;
	case VMC_PC_HWPOISON:
	case VMC_PC_OFFLINE: return true;
	case VMC_PC_KEEP:
	case VMC_PC_NOMAP: return false;
	}
	return false;
}

static const char *const pclass_names[] = {
	[VMC_PC_KEEP] = "keep", [VMC_PC_CACHE] = "cache",
	[VMC_PC_CACHE_PRIVATE] = "cache_private", [VMC_PC_USER] = "user",
	[VMC_PC_FREE] = "free", [VMC_PC_HWPOISON] = "hwpoison",
	[VMC_PC_OFFLINE] = "offline", [VMC_PC_NOMAP] = "nomap",
};

const char *vmc_pclass_name(enum vmc_pclass c)
{
	return (unsigned)c < sizeof(pclass_names) / sizeof(pclass_names[0]) && pclass_names[c] ?
	       pclass_names[c] : "unknown";
}

/* ---- VMCOREINFO look-ups ------------------------------------------------ */

/* 1 found, 0 absent; a value that does not parse is a warning and absent. */
static int key_u(vmc_mm *mm, int (*get)(const vmc_dump *, const char *, uint64_t *),
		 const char *kind, const char *name, uint64_t *v)
{
	int rc = get(mm->d, name, v);
	if (rc == VMC_ERR_CORRUPT)
		vmc_warn(mm->d, "page classification: VMCOREINFO %s(%s) is not a number; ignored",
			 kind, name);
	return rc == VMC_OK;
}
#define SIZE_(mm, n, v) key_u(mm, vmc_vmci_size, "SIZE", n, v)
#define OFFSET_(mm, n, v) key_u(mm, vmc_vmci_offset, "OFFSET", n, v)
#define LENGTH_(mm, n, v) key_u(mm, vmc_vmci_length, "LENGTH", n, v)
#define SYMBOL_(mm, n, v) key_u(mm, vmc_vmci_symbol, "SYMBOL", n, v)

static int key_num(vmc_mm *mm, const char *name, int64_t *v)
{
	int rc = vmc_vmci_number(mm->d, name, v);
	if (rc == VMC_ERR_CORRUPT)
		vmc_warn(mm->d, "page classification: VMCOREINFO NUMBER(%s) is not a number; ignored",
			 name);
	return rc == VMC_OK;
}

static uint64_t flag_mask(vmc_mm *mm, const char *name)
{
	int64_t n;
	if (!key_num(mm, name, &n))
		return 0;
	if (n < 0 || n > 63) {
		vmc_warn(mm->d, "page classification: NUMBER(%s)=%lld is not a bit number; ignored",
			 name, (long long)n);
		return 0;
	}
	return 1ULL << n;
}

static void ptype_set(struct mm_ptype *t, uint32_t v)
{
	t->on = true;
	t->v = v;
	t->top_byte = (v & 0xffffffu) == 0 && v >> 24 >= 0xf0 && v >> 24 < 0xff;
}

static void ptype_init(vmc_mm *mm, struct mm_ptype *t, const char *name)
{
	int64_t n;
	if (!key_num(mm, name, &n))
		return;
	if (n < INT32_MIN || n > (int64_t)UINT32_MAX) {
		vmc_warn(mm->d, "page classification: NUMBER(%s)=%lld does not fit the 32-bit page type; ignored",
			 name, (long long)n);
		return;
	}
	ptype_set(t, (uint32_t)n);
}

static inline bool ptype_is(const struct mm_ptype *t, uint32_t mc)
{
	return t->on && (t->top_byte ? mc >> 24 == t->v >> 24 : mc == t->v);
}

/* KVER of OSRELEASE ("6.1.0-56-amd64" -> 6.1.0), 0 when unknown. */
static unsigned kernel_version(const vmc_dump *d)
{
	const char *s = vmc_vmcoreinfo_get(d, "OSRELEASE");
	unsigned v[3] = { 0, 0, 0 };
	int i = 0;

	if (!s)
		return 0;
	while (i < 3 && *s >= '0' && *s <= '9') {
		while (*s >= '0' && *s <= '9') {
			if (v[i] < 100000)
				v[i] = v[i] * 10 + (unsigned)(*s - '0');
			s++;
		}
		i++;
		if (*s != '.')
			break;
		s++;
	}
	if (i < 2 || v[0] > 255 || v[1] > 255)
		return 0;
	return KVER(v[0], v[1], v[2]);
}

/* ---- kernel virtual memory ---------------------------------------------- */

static int mm_read(vmc_mm *mm, uint64_t va, void *buf, size_t len)
{
	return vmc_read_virt(mm->d, va, buf, len);
}

/* ---- struct page location ------------------------------------------------ */

static int read_u64_virt(vmc_mm *mm, uint64_t va, uint64_t *v)
{
	uint8_t b[8];
	int rc = mm_read(mm, va, b, 8);
	if (rc == VMC_OK)
		*v = le_get64(b);
	return rc;
}

/* Failures that mean "this struct page (or table) is not available"; a
 * corrupt page of a kdump file counts as one (the rest stays usable). */
static bool missing(int rc)
{
	return rc == VMC_NOPAGE || rc == VMC_ERR_CORRUPT;
}

/* Encoded mem_map of a section (struct page of pfn = map + pfn * SIZE(page)):
 * 1 found, 0 no mem_map, <0 error. */
static int sec_map(vmc_mm *mm, uint64_t nr, uint64_t *map)
{
	struct mm_sec_slot *s = &mm->sc[nr % MM_SEC_CACHE];
	uint64_t sec, v;
	int rc;

	if (nr >= mm->nr_sections)
		return 0;
	if (s->valid && s->nr == nr) {
		*map = s->map;
		return s->has;
	}
	s->valid = false;
	if (mm->model == MM_SPARSE_EXTREME) {
		uint64_t r = nr / mm->per_root;
		if (r >= mm->nr_roots)
			goto none;
		if (!mm->root_valid || mm->root_idx != r) {
			rc = read_u64_virt(mm, mm->sec_base + 8 * r, &v);
			if (rc < 0 && !missing(rc))
				return rc;
			mm->root_val = rc == VMC_OK ? v : 0;
			mm->root_idx = r;
			mm->root_valid = true;
		}
		if (!mm->root_val)
			goto none;
		sec = mm->root_val + (nr % mm->per_root) * mm->sz_section;
	} else {
		sec = mm->sec_base + nr * mm->sz_section;
	}
	rc = read_u64_virt(mm, sec + mm->off_sec_map, &v);
	if (rc < 0 && !missing(rc))
		return rc;
	if (rc != VMC_OK || !(v & SECTION_MARKED_PRESENT) || !(v & ~SECTION_FLAG_MASK))
		goto none;
	*s = (struct mm_sec_slot){ .valid = true, .has = true, .nr = nr,
				   .map = v & ~SECTION_FLAG_MASK };
	*map = s->map;
	return 1;
none:
	*s = (struct mm_sec_slot){ .valid = true, .has = false, .nr = nr };
	return 0;
}

/* Address of pfn's struct page: 1 found, 0 none, <0 error. */
static int page_addr(vmc_mm *mm, uint64_t pfn, uint64_t *addr)
{
	uint64_t map;

	if (pfn >= mm->max_pfn)
		return 0;
	if (mm->model == MM_FLATMEM) {
		map = mm->mem_map;
	} else {
		int rc = sec_map(mm, pfn >> mm->sec_shift, &map);
		if (rc <= 0)
			return rc;
	}
	/* wraps like the kernel's pointer arithmetic; a bogus map fails to read */
	*addr = map + pfn * mm->sz_page;
	return 1;
}

/* Read the struct pages of [pfn, pfn+n), all in one section, into buf; ok[i]
 * says which could be read.  <0 only for errors other than missing pages. */
static int read_structs(vmc_mm *mm, uint64_t pfn, uint64_t n, uint8_t *buf, uint8_t *ok)
{
	uint64_t addr, len = n * mm->sz_page, end, first, last;
	int rc;

	memset(ok, 0, n);
	rc = page_addr(mm, pfn, &addr);
	if (rc <= 0)
		return rc;
	if (!vmc_add_ok(addr, len - 1, &end))
		return 0;
	rc = mm_read(mm, addr, buf, len);
	if (rc == VMC_OK) {
		memset(ok, 1, n);
		return 0;
	}
	if (!missing(rc))
		return rc;
	/* partly readable (e.g. vmemmap of a hole, or pages left out of a
	 * filtered dump): retry page by page of the virtual range */
	first = addr & ~4095ULL;
	last = end & ~4095ULL;
	for (uint64_t va = first, k = 0;; va += 4096, k++) {
		uint64_t s = va > addr ? va : addr;
		uint64_t e = va + 4095 < end ? va + 4095 : end;
		rc = mm_read(mm, s, buf + (s - addr), e - s + 1);
		if (rc < 0 && !missing(rc))
			return rc;
		mm->vpage_ok[k] = rc == VMC_OK;
		if (va == last)
			break;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a = (addr + i * mm->sz_page) & ~4095ULL;
		uint64_t b = (addr + (i + 1) * mm->sz_page - 1) & ~4095ULL;
		ok[i] = 1;
		for (uint64_t k = (a - first) / 4096; k <= (b - first) / 4096; k++)
			ok[i] &= mm->vpage_ok[k];
	}
	return 0;
}

/* Index of the first RAM range that ends after physical address pa. */
static size_t range_after(const vmc_mm *mm, uint64_t pa)
{
	const struct vmc_range *r = vmc_ranges(mm->d);
	size_t lo = 0, hi = vmc_range_count(mm->d);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r[mid].end <= pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool pfn_in_ram(const vmc_mm *mm, uint64_t pfn)
{
	uint64_t pa = pfn * mm->page_size;
	size_t i = range_after(mm, pa);

	return i < vmc_range_count(mm->d) && vmc_ranges(mm->d)[i].start <= pa;
}

/* ---- one struct page ------------------------------------------------------ */

static inline bool is_tail(const vmc_mm *mm, const uint8_t *s)
{
	return mm->has_chead && (le_get64(s + mm->off_chead) & 1);
}

/* Order and hugetlb-ness of a compound head s whose first tail is s1. */
static void compound_info(const vmc_mm *mm, const uint8_t *s1, uint32_t mc,
			  unsigned *order, bool *huge)
{
	uint64_t f1 = le_get64(s1 + mm->off_flags), dt = 0;

	/* 6.9+: hugetlb is a page type of the head (kernel d99e3140a4d3);
	 * 6.6-6.8: PG_hugetlb in the first tail's flags (folio._flags_1); both
	 * keep the order in the low byte of _flags_1 */
	if (mm->t_hugetlb.on) {
		*order = (unsigned)(f1 & 0xff);
		*huge = ptype_is(&mm->t_hugetlb, mc);
		return;
	}
	if (mm->f_hugetlb) {
		*order = (unsigned)(f1 & 0xff);
		*huge = f1 & mm->f_hugetlb;
		return;
	}
	switch (mm->ord) {
	case ORD_U8: *order = s1[mm->off_order]; break;
	case ORD_U16: *order = le_get16(s1 + mm->off_order); break;
	case ORD_FLAGS1: *order = (unsigned)(f1 & 0xff); break;
	case ORD_NONE: *order = 0; break;
	}
	switch (mm->dtor) {
	case DTOR_U8: dt = s1[mm->off_dtor]; break;
	case DTOR_U16: dt = le_get16(s1 + mm->off_dtor); break;
	case DTOR_ULONG: dt = le_get64(s1 + mm->off_dtor); break;
	case DTOR_NONE: return;
	}
	*huge = mm->has_dtor_hugetlb && dt == mm->dtor_hugetlb;
}

/* Class of a page that is not a compound tail (docs/formats.md §3.2, in order);
 * s1 is the next struct page or NULL when it could not be read. */
static struct mm_verdict classify_page(const vmc_mm *mm, uint64_t pfn,
				       const uint8_t *s, const uint8_t *s1)
{
	uint64_t flags = le_get64(s + mm->off_flags);
	uint64_t mapping = le_get64(s + mm->off_mapping);
	uint32_t mc = mm->has_mapcount ? le_get32(s + mm->off_mapcount) : 0;
	unsigned order = 0;
	bool huge = false;
	struct mm_verdict v = { VMC_PC_KEEP, VMC_PC_KEEP, 1 };

	if ((flags & mm->f_head) && s1)
		compound_info(mm, s1, mc, &order, &huge);
	if (order >= 64 || (pfn & ((1ULL << order) - 1)))
		order = 0;      /* as makedumpfile: a bad order makes a single page */

	bool slab = ptype_is(&mm->t_slab, mc) || (flags & mm->f_slab);
	bool hwpoison = flags & mm->f_hwpoison;
	bool offline = !slab && ptype_is(&mm->t_offline, mc);
	uint8_t always = hwpoison ? VMC_PC_HWPOISON : offline ? VMC_PC_OFFLINE : 0;

	if (mm->buddy_ok && !slab && (ptype_is(&mm->t_buddy, mc) || (flags & mm->f_buddy))) {
		uint64_t o = mm->has_private ? le_get64(s + mm->off_private) : 0;
		if (o >= mm->nr_orders || (pfn & ((1ULL << o) - 1)))
			return v;
		v.cls = VMC_PC_FREE;
		v.own = always ? always : VMC_PC_FREE;
		v.n = 1ULL << o;
		return v;
	}
	/* unaccepted memory is queued in MAX_PAGE_ORDER blocks only */
	if (mm->nr_orders && ptype_is(&mm->t_unaccepted, mc)) {
		uint64_t o = mm->nr_orders - 1;
		if (pfn & ((1ULL << o) - 1))
			return v;
		v.cls = VMC_PC_FREE;
		v.own = always ? always : VMC_PC_FREE;
		v.n = 1ULL << o;
		return v;
	}
	bool cache = (flags & mm->f_lru) ||
		     ((!mm->f_swapbacked || (flags & mm->f_swapbacked)) &&
		      (flags & mm->f_swapcache));
	bool anon = (mapping & PAGE_MAPPING_ANON) && !slab;
	uint8_t c = VMC_PC_KEEP;

	if (cache && !anon)
		c = (flags & mm->f_private) ? VMC_PC_CACHE_PRIVATE : VMC_PC_CACHE;
	else if (anon || huge)
		c = VMC_PC_USER;
	if (always)
		c = always;
	v.cls = v.own = c;
	v.n = 1ULL << order;
	return v;
}

/* Class of tail page p (struct page s): that of its head's block if the
 * block reaches p, else keep.  The current batch [b, b+bn) is in mm->sp. */
static int resolve_tail(vmc_mm *mm, uint64_t p, const uint8_t *s, uint64_t b, uint64_t bn)
{
	uint64_t ch = le_get64(s + mm->off_chead) - 1, ap, ah, diff, head;
	const uint8_t *hs, *hs1;
	int rc = page_addr(mm, p, &ap);

	if (rc <= 0)
		return rc < 0 ? rc : VMC_PC_KEEP;
	diff = ap - ch;
	if (!diff || diff % mm->sz_page || diff / mm->sz_page > p ||
	    diff / mm->sz_page > MM_MAX_TAIL_DIST)
		return VMC_PC_KEEP;
	head = p - diff / mm->sz_page;
	if (!mm->head.valid || mm->head.pfn != head) {
		mm->head.valid = true;
		mm->head.pfn = head;
		mm->head.cls = VMC_PC_KEEP;
		mm->head.n = 1;
		/* the head must be where the pointer says (another section's
		 * mem_map need not continue this one's) and be a frame of RAM */
		rc = page_addr(mm, head, &ah);
		if (rc < 0) {
			mm->head.valid = false;
			return rc;
		}
		if (rc == 0 || ah != ch || !pfn_in_ram(mm, head))
			return VMC_PC_KEEP;
		if (head >= b && head < b + bn) {
			uint64_t i = head - b;
			if (!mm->sp_ok[i])
				return VMC_PC_KEEP;
			hs = mm->sp + i * mm->sz_page;
			hs1 = i + 1 < bn && mm->sp_ok[i + 1] ? hs + mm->sz_page : NULL;
		} else {
			/* an odd head cannot have an order > 0: one struct page will do */
			uint64_t cnt = (head & 1) || head + 1 >= mm->max_pfn ? 1 : 2;
			rc = read_structs(mm, head, cnt, mm->hsp, mm->hsp_ok);
			if (rc < 0) {
				mm->head.valid = false;
				return rc;
			}
			if (!mm->hsp_ok[0])
				return VMC_PC_KEEP;
			hs = mm->hsp;
			hs1 = cnt == 2 && mm->hsp_ok[1] ? mm->hsp + mm->sz_page : NULL;
		}
		if (is_tail(mm, hs))
			return VMC_PC_KEEP;
		struct mm_verdict v = classify_page(mm, head, hs, hs1);
		mm->head.cls = v.cls;
		mm->head.n = v.n;
	}
	if (mm->head.cls != VMC_PC_KEEP && p - head < mm->head.n)
		return mm->head.cls;
	return VMC_PC_KEEP;
}

/* ---- windows ----------------------------------------------------------------- */

static int compute_window(vmc_mm *mm, uint64_t w0)
{
	const struct vmc_range *r = vmc_ranges(mm->d);
	size_t nr = vmc_range_count(mm->d), ri = 0;
	uint64_t cover_end = 0, sz = mm->sz_page;
	uint8_t cover_cls = VMC_PC_KEEP;
	int rc;

	mm->win_valid = false;
	if (w0 >= mm->max_pfn) {
		memset(mm->win_cls, VMC_PC_NOMAP, mm->win);
		goto done;
	}
	{       /* first RAM range that ends after the window start */
		ri = range_after(mm, w0 * mm->page_size);
	}
	for (uint64_t b = w0; b < w0 + mm->win; b += mm->batch) {
		uint8_t *out = mm->win_cls + (b - w0);
		uint64_t bn = mm->batch;

		if (b >= mm->max_pfn) {
			memset(out, VMC_PC_NOMAP, w0 + mm->win - b);
			break;
		}
		if (bn > mm->max_pfn - b) {
			bn = mm->max_pfn - b;
			memset(out + bn, VMC_PC_NOMAP, mm->batch - bn);
		}
		rc = read_structs(mm, b, bn, mm->sp, mm->sp_ok);
		if (rc < 0)
			return rc;
		for (uint64_t i = 0; i < bn; i++) {
			uint64_t p = b + i, pa = p * mm->page_size;
			const uint8_t *s = mm->sp + i * sz;

			if (p < cover_end) {
				out[i] = cover_cls;
				continue;
			}
			if (!mm->sp_ok[i]) {
				out[i] = VMC_PC_NOMAP;
				continue;
			}
			/* frames outside the dump's RAM are never examined */
			while (ri < nr && r[ri].end <= pa)
				ri++;
			if (ri == nr || r[ri].start > pa) {
				out[i] = VMC_PC_KEEP;
				continue;
			}
			if (is_tail(mm, s)) {
				rc = resolve_tail(mm, p, s, b, bn);
				if (rc < 0)
					return rc;
				out[i] = (uint8_t)rc;
				continue;
			}
			struct mm_verdict v = classify_page(mm, p, s,
				i + 1 < bn && mm->sp_ok[i + 1] ? s + sz : NULL);
			out[i] = v.own;
			if (v.cls != VMC_PC_KEEP && v.n > 1) {
				cover_end = v.n > UINT64_MAX - p ? UINT64_MAX : p + v.n;
				cover_cls = v.cls;
			}
		}
	}
done:
	mm->win_start = w0;
	mm->win_valid = true;
	return VMC_OK;
}

int vmc_mm_classify(vmc_mm *mm, uint64_t start, uint64_t n, uint8_t *cls)
{
	uint64_t end;

	if (!mm || (n && !cls))
		return VMC_ERR_ARG;
	if (!vmc_add_ok(start, n, &end))
		return vmc_set_err(mm->d, VMC_ERR_ARG,
				   "page classification: frame range 0x%llx+0x%llx overflows",
				   (unsigned long long)start, (unsigned long long)n);
	for (uint64_t p = start; p < end;) {
		uint64_t w0 = p / mm->win * mm->win, k;
		if (!mm->win_valid || mm->win_start != w0) {
			int rc = compute_window(mm, w0);
			if (rc < 0)
				return vmc_prefix_err(mm->d, rc,
						      "page classification of frame 0x%llx",
						      (unsigned long long)p);
		}
		k = w0 + mm->win - p;
		if (k > end - p)
			k = end - p;
		memcpy(cls + (p - start), mm->win_cls + (p - w0), k);
		p += k;
	}
	return VMC_OK;
}

/* ---- set-up ------------------------------------------------------------------- */

struct missing_keys {
	char buf[300];
	size_t len;
	int n;
};

static void need(struct missing_keys *m, bool have, const char *key)
{
	if (have)
		return;
	int w = snprintf(m->buf + m->len, sizeof(m->buf) - m->len, "%s%s",
			 m->n ? ", " : "", key);
	if (w > 0 && (size_t)w < sizeof(m->buf) - m->len)
		m->len += (size_t)w;
	m->n++;
}

/* Is there a present section below max_pfn whose first struct page reads? */
static int sparse_validate(vmc_mm *mm)
{
	uint64_t pps = 1ULL << mm->sec_shift;
	uint64_t nsec = (mm->max_pfn + pps - 1) / pps;
	uint8_t b[MM_SIZE_PAGE_MAX];

	memset(mm->sc, 0, sizeof(mm->sc));
	mm->root_valid = false;
	if (nsec > mm->nr_sections)
		nsec = mm->nr_sections;
	for (uint64_t nr = 0; nr < nsec; nr++) {
		uint64_t map, pfn = nr * pps;
		int rc = sec_map(mm, nr, &map);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		rc = mm_read(mm, map + pfn * mm->sz_page, b, mm->sz_page);
		if (rc == VMC_OK)
			return 1;
		if (!missing(rc))
			return rc;
	}
	return 0;
}

static int setup_sparse(vmc_mm *mm, uint64_t sym, struct missing_keys *miss)
{
	vmc_dump *d = mm->d;
	uint64_t len = 0, ptr;
	int64_t n;
	unsigned ssb = 27, mpb = 46, shift = 0;   /* x86_64 defaults (§2.7) */
	bool have_len;
	int rc;

	need(miss, SIZE_(mm, "mem_section", &mm->sz_section), "SIZE(mem_section)");
	need(miss, OFFSET_(mm, "mem_section.section_mem_map", &mm->off_sec_map),
	     "OFFSET(mem_section.section_mem_map)");
	if (miss->n)
		return VMC_ERR_NOTFOUND;
	while ((1ULL << shift) < mm->page_size)
		shift++;
	if (key_num(mm, "pgtable_l5_enabled", &n) && n)
		mpb = 52;
	if (key_num(mm, "SECTION_SIZE_BITS", &n))
		ssb = n > 0 && n < 64 ? (unsigned)n : 0;
	if (key_num(mm, "MAX_PHYSMEM_BITS", &n))
		mpb = n > 0 && n <= 64 ? (unsigned)n : 0;
	if (ssb <= shift || mpb < ssb || mpb - ssb > 40)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "page classification: SECTION_SIZE_BITS %u / MAX_PHYSMEM_BITS %u are not usable",
				   ssb, mpb);
	if (mm->sz_section < mm->off_sec_map + 8 || mm->sz_section > mm->page_size)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "page classification: SIZE(mem_section)=%llu does not hold OFFSET(mem_section.section_mem_map)=%llu",
				   (unsigned long long)mm->sz_section,
				   (unsigned long long)mm->off_sec_map);
	mm->sec_shift = ssb - shift;
	mm->nr_sections = 1ULL << (mpb - ssb);
	mm->per_root = mm->page_size / mm->sz_section;
	mm->nr_roots = (mm->nr_sections + mm->per_root - 1) / mm->per_root;
	have_len = LENGTH_(mm, "mem_section", &len);
	/* EXTREME: LENGTH(mem_section) counts root pointers (makedumpfile's
	 * is_sparsemem_extreme) */
	mm->model = !have_len || len == mm->nr_roots ? MM_SPARSE_EXTREME : MM_SPARSE;
	/* SYMBOL(mem_section) is the array itself since the 4.15-era fixes; older
	 * EXTREME kernels gave the address of the pointer to it (§2.4) */
	mm->sec_base = sym;
	rc = sparse_validate(mm);
	if (rc == 0 && mm->model == MM_SPARSE_EXTREME) {
		rc = read_u64_virt(mm, sym, &ptr);
		if (rc == VMC_OK) {
			mm->sec_base = ptr;
			rc = sparse_validate(mm);
		} else if (missing(rc)) {
			rc = 0;
		}
	}
	if (rc < 0)
		return vmc_prefix_err(d, rc, "page classification: SYMBOL(mem_section) 0x%llx",
				      (unsigned long long)sym);
	if (rc == 0)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "page classification: SYMBOL(mem_section) 0x%llx: no present memory section with a readable struct page",
				   (unsigned long long)sym);
	return VMC_OK;
}

static int setup_layout(vmc_mm *mm, unsigned kver)
{
	vmc_dump *d = mm->d;
	uint64_t v, lru, next, prev;
	int64_t n;

	mm->has_mapcount = OFFSET_(mm, "page._mapcount", &mm->off_mapcount);
	mm->has_private = OFFSET_(mm, "page.private", &mm->off_private);
	/* "compound_info" is Linux 7.1's name (makedumpfile f50c015) */
	mm->has_chead = OFFSET_(mm, "page.compound_head", &mm->off_chead) ||
			OFFSET_(mm, "page.compound_info", &mm->off_chead);
	if (OFFSET_(mm, "page.compound_order", &mm->off_order)) {
		mm->ord = kver && kver < KVER(4, 16, 0) ? ORD_U16 : ORD_U8;
	} else if (kver && kver < KVER(4, 4, 0) && OFFSET_(mm, "page.lru", &lru) &&
		   OFFSET_(mm, "list_head.prev", &prev)) {
		mm->ord = ORD_U16;      /* order kept in lru.prev of the first tail */
		mm->off_order = lru + prev;
	} else if (kver >= KVER(6, 6, 0)) {
		mm->ord = ORD_FLAGS1;   /* folio._flags_1 low byte */
	}
	if (OFFSET_(mm, "page.compound_dtor", &mm->off_dtor)) {
		mm->dtor = kver && kver < KVER(4, 4, 0) ? DTOR_ULONG :
			   kver && kver < KVER(4, 16, 0) ? DTOR_U16 : DTOR_U8;
	} else if (kver && kver < KVER(4, 4, 0) && OFFSET_(mm, "page.lru", &lru) &&
		   OFFSET_(mm, "list_head.next", &next)) {
		mm->dtor = DTOR_ULONG;  /* destructor address in lru.next */
		mm->off_dtor = lru + next;
	}
	if (mm->dtor == DTOR_ULONG) {
		mm->has_dtor_hugetlb = SYMBOL_(mm, "free_huge_page", &mm->dtor_hugetlb);
	} else if (key_num(mm, "HUGETLB_PAGE_DTOR", &n)) {
		mm->has_dtor_hugetlb = true;
		mm->dtor_hugetlb = (uint64_t)n;
	}

	const struct { const char *name; uint64_t off, size; bool have; } f[] = {
		{ "OFFSET(page.flags)", mm->off_flags, 8, true },
		{ "OFFSET(page.mapping)", mm->off_mapping, 8, true },
		{ "OFFSET(page._mapcount)", mm->off_mapcount, 4, mm->has_mapcount },
		{ "OFFSET(page.private)", mm->off_private, 8, mm->has_private },
		{ "OFFSET(page.compound_head)", mm->off_chead, 8, mm->has_chead },
		{ "OFFSET(page.compound_order)", mm->off_order,
		  mm->ord == ORD_U16 ? 2 : 1, mm->ord == ORD_U8 || mm->ord == ORD_U16 },
		{ "OFFSET(page.compound_dtor)", mm->off_dtor,
		  mm->dtor == DTOR_ULONG ? 8 : mm->dtor == DTOR_U16 ? 2 : 1,
		  mm->dtor != DTOR_NONE },
	};
	if (mm->sz_page < 8 || mm->sz_page > MM_SIZE_PAGE_MAX)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "page classification: SIZE(page)=%llu is not plausible",
				   (unsigned long long)mm->sz_page);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].have && (!vmc_add_ok(f[i].off, f[i].size, &v) || v > mm->sz_page))
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "page classification: %s=%llu lies beyond SIZE(page)=%llu",
					   f[i].name, (unsigned long long)f[i].off,
					   (unsigned long long)mm->sz_page);
	return VMC_OK;
}

static void setup_flags(vmc_mm *mm, unsigned kver)
{
	vmc_dump *d = mm->d;
	int64_t n;
	uint64_t len;

	mm->f_lru = flag_mask(mm, "PG_lru");
	mm->f_private = flag_mask(mm, "PG_private");
	mm->f_swapcache = flag_mask(mm, "PG_swapcache");
	mm->f_swapbacked = flag_mask(mm, "PG_swapbacked");
	mm->f_slab = flag_mask(mm, "PG_slab");
	mm->f_hwpoison = flag_mask(mm, "PG_hwpoison");
	mm->f_hugetlb = flag_mask(mm, "PG_hugetlb");
	mm->f_buddy = flag_mask(mm, "PG_buddy");
	if (key_num(mm, "PG_head_mask", &n))   /* a mask, not a bit number */
		mm->f_head = (uint64_t)n;
	ptype_init(mm, &mm->t_buddy, "PAGE_BUDDY_MAPCOUNT_VALUE");
	ptype_init(mm, &mm->t_offline, "PAGE_OFFLINE_MAPCOUNT_VALUE");
	ptype_init(mm, &mm->t_hugetlb, "PAGE_HUGETLB_MAPCOUNT_VALUE");
	ptype_init(mm, &mm->t_slab, "PAGE_SLAB_MAPCOUNT_VALUE");
	ptype_init(mm, &mm->t_unaccepted, "PAGE_UNACCEPTED_MAPCOUNT_VALUE");
	/* kernels before the value was exported: what makedumpfile assumes */
	if (!mm->t_buddy.on && !mm->f_buddy && kver >= KVER(2, 6, 38) && kver < KVER(4, 18, 0))
		ptype_set(&mm->t_buddy, kver == KVER(2, 6, 38) ? (uint32_t)-2 : (uint32_t)-128);
	if (!mm->has_mapcount) {
		mm->t_buddy.on = mm->t_offline.on = mm->t_hugetlb.on = false;
		mm->t_slab.on = mm->t_unaccepted.on = false;
	}

	if (LENGTH_(mm, "zone.free_area", &len)) {
		if (len >= 1 && len <= MM_MAX_ORDERS)
			mm->nr_orders = (unsigned)len;
		else
			vmc_warn(d, "page classification: LENGTH(zone.free_area)=%llu is not plausible; free pages not recognised",
				 (unsigned long long)len);
	}
	mm->buddy_ok = mm->nr_orders && mm->has_private && (mm->t_buddy.on || mm->f_buddy);
	if (!mm->buddy_ok)
		vmc_warn(d, "page classification: free pages not recognised (needs NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE), OFFSET(page._mapcount), OFFSET(page.private), LENGTH(zone.free_area))");
	if (!mm->f_lru)
		vmc_warn(d, "page classification: page cache not recognised (no NUMBER(PG_lru))");
	if (!mm->has_chead)
		vmc_warn(d, "page classification: no OFFSET(page.compound_head); compound tail pages are classified on their own");
}

static int setup_flatmem(vmc_mm *mm, uint64_t sym)
{
	int rc = read_u64_virt(mm, sym, &mm->mem_map);

	mm->model = MM_FLATMEM;
	if (rc < 0)
		return vmc_prefix_err(mm->d, rc, "page classification: SYMBOL(mem_map) 0x%llx",
				      (unsigned long long)sym);
	if (!mm->mem_map)
		return vmc_set_err(mm->d, VMC_ERR_CORRUPT,
				   "page classification: mem_map (at 0x%llx) is NULL",
				   (unsigned long long)sym);
	return VMC_OK;
}

/* Everything after the required keys were found; more missing keys (those
 * of mem_section) are added to miss. */
static int setup(vmc_mm *mm, bool sparse, uint64_t sym, struct missing_keys *miss)
{
	unsigned kver = kernel_version(mm->d);
	int rc;

	if (mm->page_size != 4096)
		return vmc_set_err(mm->d, VMC_ERR_UNSUPPORTED,
				   "page classification: page size %llu is not supported",
				   (unsigned long long)mm->page_size);
	rc = setup_layout(mm, kver);
	if (rc < 0)
		return rc;
	/* virtual addresses must work before anything is read */
	rc = vmc_kernel_layout(mm->d, &mm->layout);
	if (rc < 0)
		return vmc_prefix_err(mm->d, rc, "page classification");
	rc = sparse ? setup_sparse(mm, sym, miss) : setup_flatmem(mm, sym);
	if (rc < 0)
		return rc;
	setup_flags(mm, kver);

	/* a window holds the largest buddy block, so none begins before it */
	mm->batch = MM_BATCH;
	if (mm->model != MM_FLATMEM && (1ULL << mm->sec_shift) < mm->batch)
		mm->batch = 1ULL << mm->sec_shift;
	mm->win = mm->batch;
	if (mm->nr_orders && (1ULL << (mm->nr_orders - 1)) > mm->win)
		mm->win = 1ULL << (mm->nr_orders - 1);
	mm->win_cls = malloc(mm->win);
	mm->sp = malloc(mm->batch * mm->sz_page);
	mm->sp_ok = malloc(mm->batch);
	mm->vpage_ok = malloc(mm->batch * mm->sz_page / 4096 + 2);
	if (!mm->win_cls || !mm->sp || !mm->sp_ok || !mm->vpage_ok)
		return vmc_set_err(mm->d, VMC_ERR_NOMEM, "out of memory");
	memset(mm->sc, 0, sizeof(mm->sc));
	mm->root_valid = false;
	return VMC_OK;
}

int vmc_mm_create(vmc_dump *d, vmc_mm **out)
{
	struct missing_keys miss = { .len = 0, .n = 0 };
	uint64_t sym_sec = 0, sym_map = 0, b;
	bool sparse, flat;
	int rc = VMC_OK;

	if (!d || !out)
		return VMC_ERR_ARG;
	if (!d->opened)
		return vmc_set_err(d, VMC_ERR_ARG, "dump not opened");
	if (vmc_xen(d))
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "page classification of Xen dumps (dom0 frames through the P2M) is not supported");
	if (!vmc_vmcoreinfo_count(d))
		return vmc_set_err(d, VMC_ERR_NOTFOUND,
				   "page classification needs VMCOREINFO: the dump has none");
	vmc_mm *mm = calloc(1, sizeof(*mm));
	if (!mm)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	mm->d = d;
	mm->max_pfn = vmc_max_pfn(d);
	mm->page_size = vmc_page_size(d);

	need(&miss, SIZE_(mm, "page", &mm->sz_page), "SIZE(page)");
	need(&miss, OFFSET_(mm, "page.flags", &mm->off_flags), "OFFSET(page.flags)");
	need(&miss, OFFSET_(mm, "page.mapping", &mm->off_mapping), "OFFSET(page.mapping)");
	sparse = SYMBOL_(mm, "mem_section", &sym_sec);
	flat = !sparse && SYMBOL_(mm, "mem_map", &sym_map);
	need(&miss, sparse || flat, "SYMBOL(mem_section) or SYMBOL(mem_map)");
	if (miss.n && sparse) {  /* name the section keys in the same message */
		need(&miss, vmc_vmci_size(d, "mem_section", &b) == VMC_OK, "SIZE(mem_section)");
		need(&miss, vmc_vmci_offset(d, "mem_section.section_mem_map", &b) == VMC_OK,
		     "OFFSET(mem_section.section_mem_map)");
	}
	if (!miss.n)
		rc = setup(mm, sparse, sparse ? sym_sec : sym_map, &miss);
	if (miss.n)
		rc = vmc_set_err(d, VMC_ERR_NOTFOUND,
				 "page classification needs %s: not in VMCOREINFO", miss.buf);
	if (rc < 0) {
		vmc_mm_destroy(mm);
		return rc;
	}
	*out = mm;
	return VMC_OK;
}

void vmc_mm_destroy(vmc_mm *mm)
{
	if (!mm)
		return;
	free(mm->win_cls);
	free(mm->sp);
	free(mm->sp_ok);
	free(mm->vpage_ok);
	free(mm);
}
