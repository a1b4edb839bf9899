/* p2m.c - dom0's pseudo-physical to machine map (docs/formats.md §4.7).
 *
 * The tree Linux publishes for tools (arch/x86/xen/p2m.c,
 * xen_build_mfn_list_list): a top page ("frame list list", its MFN in
 * CRASH_INFO) of 512 mid-page MFNs, each mid page 512 leaf MFNs, each leaf 512
 * entries.  Absent ranges are not zero: they point at shared pages,
 * p2m_mid_missing (every entry the p2m_missing leaf) and p2m_missing (every
 * entry ~0); identity ranges also point at p2m_missing in this tree.  Those
 * shared pages are recognised by repetition, so lookups can say "missing"
 * without reading them.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PAGE 4096u

#define set_err(p, ...) xnote_set_err((p)->err, __VA_ARGS__)

/* Read one page of 512 entries at machine frame mfn. */
static int read_table(struct xnote_p2m *p, uint64_t mfn, uint64_t e[XNOTE_P2M_PER_PAGE],
		      const char *what)
{
	uint8_t buf[PAGE];
	int rc;

	if (mfn > (UINT64_MAX >> 12))
		return set_err(p, XNOTE_ERR_CORRUPT, "p2m %s frame 0x%llx out of range", what,
			       (unsigned long long)mfn);
	rc = p->read(p->arg, mfn << 12, buf, PAGE);
	if (rc == XNOTE_NOPAGE)
		return set_err(p, XNOTE_NOPAGE, "p2m %s page at machine frame 0x%llx not in the dump",
			       what, (unsigned long long)mfn);
	if (rc < 0)
		return set_err(p, XNOTE_ERR_IO, "p2m %s page at machine frame 0x%llx unreadable",
			       what, (unsigned long long)mfn);
	for (unsigned i = 0; i < XNOTE_P2M_PER_PAGE; i++)
		e[i] = le_get64(buf + 8 * i);
	return XNOTE_OK;
}

static const char *const kind_names[] = {
	[XNOTE_P2M_VALID] = "valid", [XNOTE_P2M_IDENTITY] = "identity",
	[XNOTE_P2M_FOREIGN] = "foreign", [XNOTE_P2M_INVALID] = "invalid",
	[XNOTE_P2M_MISSING] = "missing",
};

const char *xnote_p2m_kind_name(enum xnote_p2m_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) && kind_names[k] ?
	       kind_names[k] : "?";
}

/* The most repeated non-zero value of e[], if it repeats at all. */
static uint64_t most_repeated(const uint64_t *e, unsigned n)
{
	uint64_t best = 0;
	unsigned best_n = 1;

	for (unsigned i = 0; i < n; i++) {
		unsigned c = 0;
		if (!e[i] || e[i] == best)
			continue;
		for (unsigned j = i; j < n; j++)
			c += e[j] == e[i];
		if (c > best_n) {
			best = e[i];
			best_n = c;
		}
	}
	return best;
}

int xnote_p2m_init(struct xnote_p2m *p, xnote_read_fn read, void *arg, uint64_t top_mfn)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->read = read;
	p->arg = arg;
	p->top_mfn = top_mfn;
	p->mid_tag = ~0ULL;
	for (unsigned i = 0; i < XNOTE_P2M_LEAVES; i++)
		p->leaf[i].tag = ~0ULL;
	if (top_mfn == 0 || top_mfn == XNOTE_P2M_NONE)
		return set_err(p, XNOTE_ERR_NOTFOUND,
			       "dom0 has no p2m frame list (CRASH_INFO says 0x%llx: PVH dom0, or a dom0 over 512 GiB using the linear p2m)",
			       (unsigned long long)top_mfn);
	rc = read_table(p, top_mfn, p->top, "top");
	if (rc != XNOTE_OK)
		return rc;
	/* Linux's shared p2m_mid_missing: the top entry repeated most (a dom0 of
	 * 512 GiB has none); its entries are all the p2m_missing leaf */
	uint64_t mm = most_repeated(p->top, XNOTE_P2M_PER_PAGE);
	if (mm) {
		uint64_t mid[XNOTE_P2M_PER_PAGE];
		if (read_table(p, mm, mid, "mid") == XNOTE_OK) {
			bool same = true;
			for (unsigned i = 1; i < XNOTE_P2M_PER_PAGE && same; i++)
				same = mid[i] == mid[0];
			if (same) {
				p->missing_mid = mm;
				p->missing_leaf = mid[0];
			}
		}
		p->err[0] = 0;
	}
	return XNOTE_OK;
}

int xnote_p2m_init_linear(struct xnote_p2m *p, xnote_read_fn read, void *arg, uint64_t cr3,
			  uint64_t vaddr, uint64_t max_pfn)
{
	uint64_t mfn;
	enum xnote_p2m_kind k;

	memset(p, 0, sizeof(*p));
	p->read = read;
	p->arg = arg;
	p->mid_tag = ~0ULL;
	for (unsigned i = 0; i < XNOTE_P2M_LEAVES; i++)
		p->leaf[i].tag = ~0ULL;
	p->linear = true;
	p->lin_root = cr3 & 0x000ffffffffff000ULL;
	p->lin_vaddr = vaddr;
	if (!p->lin_root || !vaddr || (vaddr & (PAGE - 1)))
		return set_err(p, XNOTE_ERR_CORRUPT,
			       "linear p2m: cr3 0x%llx, virtual address 0x%llx: not a page-aligned mapping",
			       (unsigned long long)cr3, (unsigned long long)vaddr);
	if (!max_pfn || max_pfn > XNOTE_P2M_MAX_PFN)
		return set_err(p, XNOTE_ERR_CORRUPT, "linear p2m: max_pfn 0x%llx out of range",
			       (unsigned long long)max_pfn);
	p->end_pfn = max_pfn;
	return xnote_p2m_lookup(p, 0, &mfn, &k);
}

/* The cached leaf page of pfns li * 512 ..., or NULL. */
static const uint64_t *cached_leaf(const struct xnote_p2m *p, uint64_t li)
{
	for (unsigned i = 0; i < XNOTE_P2M_LEAVES; i++)
		if (p->leaf[i].tag == li)
			return p->leaf[i].e;
	return NULL;
}

/* Read the leaf page of pfns li * 512 ... from machine frame mfn into the
 * cache, replacing the oldest entry (what: "leaf" or "linear", for errors). */
static const uint64_t *fill_leaf(struct xnote_p2m *p, uint64_t li, uint64_t mfn, const char *what,
				 int *rc)
{
	struct xnote_p2m_leaf *l = &p->leaf[p->next_victim];
	p->next_victim = (p->next_victim + 1) % XNOTE_P2M_LEAVES;
	*rc = read_table(p, mfn, l->e, what);
	if (*rc != XNOTE_OK) {
		l->tag = ~0ULL;
		return NULL;
	}
	l->tag = li;
	return l->e;
}

/* The page of the linear P2M holding the entries of pfns li * 512 ... */
static const uint64_t *linear_leaf(struct xnote_p2m *p, uint64_t li, int *rc)
{
	struct xnote_pt_stop st;
	uint64_t va = p->lin_vaddr + li * PAGE, ma;
	const uint64_t *cached = cached_leaf(p, li);

	if (cached)
		return cached;
	*rc = xnote_pt_walk(p->read, p->arg, p->lin_root, 4, 0, va, &ma, &st);
	if (*rc != XNOTE_OK) {
		*rc = set_err(p, *rc == XNOTE_NOPAGE ? XNOTE_NOPAGE : XNOTE_ERR_IO,
			      "linear p2m page at virtual 0x%llx: %s (level-%d table at machine 0x%llx)",
			      (unsigned long long)va,
			      st.unmapped ? "not mapped" : *rc == XNOTE_NOPAGE ? "a page table not in the dump"
									: "a page table unreadable",
			      st.level, (unsigned long long)st.table);
		return NULL;
	}
	return fill_leaf(p, li, ma >> 12, "linear", rc);
}

static int load_mid(struct xnote_p2m *p, uint64_t ti)
{
	if (p->mid_tag == ti)
		return XNOTE_OK;
	int rc = read_table(p, p->top[ti], p->mid, "mid");
	if (rc != XNOTE_OK) {
		p->mid_tag = ~0ULL;
		return rc;
	}
	p->mid_tag = ti;
	/* the shared p2m_missing leaf also fills holes in real mid pages; learn it
	 * here when the top page had no missing mid page */
	if (!p->missing_leaf) {
		uint64_t ml = most_repeated(p->mid, XNOTE_P2M_PER_PAGE);
		if (ml)
			p->missing_leaf = ml;
	}
	return XNOTE_OK;
}

static const uint64_t *load_leaf(struct xnote_p2m *p, uint64_t li, uint64_t mfn, int *rc)
{
	const uint64_t *cached = cached_leaf(p, li);
	return cached ? cached : fill_leaf(p, li, mfn, "leaf", rc);
}

static enum xnote_p2m_kind decode(uint64_t v, uint64_t *mfn)
{
	if (v == XNOTE_P2M_NONE) {
		*mfn = XNOTE_P2M_NONE;
		return XNOTE_P2M_INVALID;
	}
	*mfn = v & ~(XNOTE_P2M_FOREIGN_BIT | XNOTE_P2M_IDENTITY_BIT);
	if (v & XNOTE_P2M_IDENTITY_BIT)
		return XNOTE_P2M_IDENTITY;
	if (v & XNOTE_P2M_FOREIGN_BIT)
		return XNOTE_P2M_FOREIGN;
	return XNOTE_P2M_VALID;
}

int xnote_p2m_lookup(struct xnote_p2m *p, uint64_t pfn, uint64_t *mfn,
		     enum xnote_p2m_kind *kind)
{
	uint64_t ti = pfn / (512ULL * 512), mi = pfn / 512 % 512, li = pfn / 512;
	int rc = XNOTE_OK;

	*mfn = XNOTE_P2M_NONE;
	*kind = XNOTE_P2M_MISSING;
	if (pfn >= XNOTE_P2M_MAX_PFN)
		return XNOTE_OK;
	if (p->linear) {
		if (pfn >= p->end_pfn)
			return XNOTE_OK;
		const uint64_t *leaf = linear_leaf(p, pfn / 512, &rc);
		if (!leaf)
			return rc;
		*kind = decode(leaf[pfn % 512], mfn);
		return XNOTE_OK;
	}
	if (!p->top[ti] || p->top[ti] == XNOTE_P2M_NONE || p->top[ti] == p->missing_mid)
		return XNOTE_OK;
	rc = load_mid(p, ti);
	if (rc != XNOTE_OK)
		return rc;
	uint64_t lm = p->mid[mi];
	if (!lm || lm == XNOTE_P2M_NONE || lm == p->missing_leaf)
		return XNOTE_OK;
	const uint64_t *leaf = load_leaf(p, li, lm, &rc);
	if (!leaf)
		return rc;
	*kind = decode(leaf[pfn % 512], mfn);
	return XNOTE_OK;
}

/* A tree page that is not in the dump hides what it maps: the end is then
 * taken as the end of the range it covers (lookups there fail, each naming
 * that page), so the rest of the P2M still translates (§4.7). */
int xnote_p2m_find_end(struct xnote_p2m *p, uint64_t *end_pfn)
{
	int rc;

	if (p->linear) {
		*end_pfn = p->end_pfn;
		return XNOTE_OK;
	}
	for (uint64_t ti = XNOTE_P2M_PER_PAGE; ti-- > 0;) {
		if (!p->top[ti] || p->top[ti] == XNOTE_P2M_NONE || p->top[ti] == p->missing_mid)
			continue;
		rc = load_mid(p, ti);
		if (rc == XNOTE_NOPAGE) {
			p->end_pfn = (ti + 1) * 512 * 512;
			goto found;
		}
		if (rc != XNOTE_OK)
			return rc;
		for (uint64_t mi = XNOTE_P2M_PER_PAGE; mi-- > 0;) {
			uint64_t lm = p->mid[mi];
			if (!lm || lm == XNOTE_P2M_NONE || lm == p->missing_leaf)
				continue;
			const uint64_t *leaf = load_leaf(p, ti * 512 + mi, lm, &rc);
			if (!leaf && rc == XNOTE_NOPAGE) {
				p->end_pfn = (ti * 512 + mi + 1) * 512;
				goto found;
			}
			if (!leaf)
				return rc;
			for (uint64_t k = XNOTE_P2M_PER_PAGE; k-- > 0;) {
				uint64_t m;
				enum xnote_p2m_kind kd = decode(leaf[k], &m);
				if (kd != XNOTE_P2M_INVALID) {
					p->end_pfn = (ti * 512 + mi) * 512 + k + 1;
					goto found;
				}
			}
		}
	}
	p->end_pfn = 0;
found:
	p->err[0] = 0;
	*end_pfn = p->end_pfn;
	return XNOTE_OK;
}

int xnote_p2m_tree_frames(struct xnote_p2m *p, uint64_t *mfns, size_t cap, size_t *n)
{
	size_t k = 0;
	int rc;

	if (p->linear) {
		/* its pages are the guest's own, found by page_info like the rest */
		*n = 0;
		return XNOTE_OK;
	}
#define ADD(v) do { if (k < cap) mfns[k] = (v); k++; } while (0)
	ADD(p->top_mfn);
	if (p->missing_mid) {
		ADD(p->missing_mid);
		if (p->missing_leaf)
			ADD(p->missing_leaf);
	}
	for (uint64_t ti = 0; ti < XNOTE_P2M_PER_PAGE; ti++) {
		if (!p->top[ti] || p->top[ti] == XNOTE_P2M_NONE || p->top[ti] == p->missing_mid)
			continue;
		ADD(p->top[ti]);
		rc = load_mid(p, ti);
		if (rc == XNOTE_NOPAGE)
			continue;   /* its leaves are not known: they cannot be listed */
		if (rc != XNOTE_OK)
			return rc;
		for (uint64_t mi = 0; mi < XNOTE_P2M_PER_PAGE; mi++) {
			uint64_t lm = p->mid[mi];
			if (lm && lm != XNOTE_P2M_NONE && lm != p->missing_leaf)
				ADD(lm);
		}
	}
#undef ADD
	p->err[0] = 0;
	*n = k;
	return XNOTE_OK;
}
