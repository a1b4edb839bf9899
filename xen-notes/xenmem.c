/* xenmem.c - the hypervisor's memory: its address space, frame_table and
 * page_info ownership, domain_list, the M2P table and the console ring
 * (docs/formats.md §4.5, §4.8).
 *
 * Everything is found from CRASH_INFO (xen_phys_start) and VMCOREINFO_XEN
 * alone; xen-syms only adds PDX compression and the console symbols.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PAGE 4096ULL
#define GIB (1ULL << 30)
#define DIRECTMAP 0xffff830000000000ULL          /* !BIGMEM (all x86_64 4.x) */
#define DIRECTMAP_BIGMEM 0xffff848000000000ULL   /* CONFIG_BIGMEM, 4.6+ */
#define DIRECTMAP_SIZE (5ULL << 40)
#define MAX_DOMAINS 65536

#define set_err(x, ...) xnote_set_err((x)->err, __VA_ARGS__)

static int mread(struct xnote_xen *x, uint64_t ma, void *buf, size_t len, const char *what)
{
	int rc = x->read(x->arg, ma, buf, len);
	if (rc == XNOTE_NOPAGE)
		return set_err(x, XNOTE_NOPAGE, "%s at machine 0x%llx not in the dump", what,
			       (unsigned long long)ma);
	if (rc < 0)
		return set_err(x, XNOTE_ERR_IO, "%s at machine 0x%llx unreadable", what,
			       (unsigned long long)ma);
	return XNOTE_OK;
}

static const char *const pgc_names[] = {
	[XNOTE_PGC_4_0] = "4.0-4.13", [XNOTE_PGC_4_14] = "4.14-4.16",
	[XNOTE_PGC_4_17] = "4.17", [XNOTE_PGC_4_18] = "4.18+",
};

const char *xnote_pgc_layout_name(enum xnote_pgc_layout l)
{
	return (unsigned)l < sizeof(pgc_names) / sizeof(pgc_names[0]) && pgc_names[l] ?
	       pgc_names[l] : "?";
}

enum xnote_pgc_layout xnote_pgc_layout_for(unsigned major, unsigned minor)
{
	if (major < 4 || (major == 4 && minor < 14))
		return XNOTE_PGC_4_0;
	if (major == 4 && minor < 17)
		return XNOTE_PGC_4_14;
	if (major == 4 && minor == 17)
		return XNOTE_PGC_4_17;
	return XNOTE_PGC_4_18;
}

/* PG_shift(i) = 64 - i.  Xen 4.17's asm/mm.h moved PGC_broken and PGC_state
 * up (docs/formats.md §4.8, read at the RELEASE-4.x tags) and 4.18 put PGC_extra
 * where PGC_page_table was; allocated and xen_heap never moved. */
void xnote_pgc_decode(enum xnote_pgc_layout l, uint64_t ci, struct xnote_page_info *pi)
{
	unsigned broken, state;

	if (l == XNOTE_PGC_4_0 || l == XNOTE_PGC_4_14)
		broken = 57, state = 55;
	else
		broken = 60, state = 58;
	pi->count_info = ci;
	pi->allocated = ci >> 63 & 1;
	pi->xen_heap = ci >> 62 & 1;
	pi->broken = ci >> broken & 1;
	pi->state = (enum xnote_pg_state)(ci >> state & 3);
}

const char *xnote_frame_owner_name(enum xnote_frame_owner o)
{
	switch (o) {
	case XNOTE_FRAME_XEN: return "xen";
	case XNOTE_FRAME_DOM0: return "dom0";
	case XNOTE_FRAME_DOMU: return "domU";
	case XNOTE_FRAME_FREE: return "free";
	case XNOTE_FRAME_UNKNOWN: return "unknown";
	}
	return "?";
}

uint32_t xnote_xen_pickle(const struct xnote_xen *x, uint64_t va)
{
	if (va < x->directmap || va - x->directmap >= DIRECTMAP_SIZE)
		return 0;
	uint64_t mfn = (va - x->directmap) >> 12;
	if (x->pdx_hole_shift)
		mfn = (mfn & x->pdx_bottom_mask) | ((mfn & x->pdx_top_mask) >> x->pdx_hole_shift);
	return (uint32_t)mfn;
}

int xnote_xen_init(struct xnote_xen *x, xnote_read_fn read, void *arg,
		   const struct xnote_crash_info *ci, uint64_t phys_start_override,
		   const char *v, size_t len)
{
	uint8_t b[8];

	memset(x, 0, sizeof(*x));
	x->read = read;
	x->arg = arg;
	x->pi_tag = ~0ULL;
	x->major = (unsigned)ci->major;
	x->minor = (unsigned)ci->minor;
	x->pgc = xnote_pgc_layout_for(x->major, x->minor);
	x->directmap = DIRECTMAP;
	if (ci->has_phys_start && ci->phys_start)
		x->phys_start = ci->phys_start;
	else if (phys_start_override)
		x->phys_start = phys_start_override;
	else
		return set_err(x, XNOTE_ERR_NOTFOUND,
			       "xen_phys_start unknown (CRASH_INFO in the %s layout)",
			       xnote_layout_name(ci->layout));
	if (!v)
		return set_err(x, XNOTE_ERR_NOTFOUND, "no VMCOREINFO_XEN note");
	xnote_kv_hex(v, len, "SYMBOL(domain_list)", &x->sym_domain_list);
	xnote_kv_hex(v, len, "SYMBOL(frame_table)", &x->sym_frame_table);
	xnote_kv_hex(v, len, "SYMBOL(max_page)", &x->sym_max_page);
	xnote_kv_hex(v, len, "SYMBOL(dom_xen)", &x->sym_dom_xen);
	xnote_kv_hex(v, len, "SYMBOL(dom_io)", &x->sym_dom_io);
	xnote_kv_hex(v, len, "SYMBOL(pgd_l4)", &x->sym_pgd_l4);
	bool sizes = xnote_kv_dec(v, len, "SIZE(page_info)", &x->page_info_size) &&
		     xnote_kv_dec(v, len, "SIZE(domain)", &x->domain_size) &&
		     xnote_kv_dec(v, len, "OFFSET(page_info.count_info)", &x->off_count_info) &&
		     xnote_kv_dec(v, len, "OFFSET(page_info._domain)", &x->off_domain) &&
		     xnote_kv_dec(v, len, "OFFSET(domain.domain_id)", &x->off_domain_id) &&
		     xnote_kv_dec(v, len, "OFFSET(domain.next_in_list)", &x->off_next_in_list);
	uint64_t anchor = x->sym_domain_list ? x->sym_domain_list : x->sym_pgd_l4;
	if (!anchor || !x->sym_pgd_l4)
		return set_err(x, XNOTE_ERR_NOTFOUND,
			       "VMCOREINFO_XEN lacks SYMBOL(pgd_l4) or SYMBOL(domain_list)");
	/* the 1 GiB text/data/bss mapping holds every symbol (makedumpfile's
	 * trick: works for the 3.2 ... 4.15+ bases alike) */
	x->virt_start = anchor & ~(GIB - 1);
	if (x->sym_pgd_l4 < x->virt_start || x->sym_pgd_l4 - x->virt_start >= GIB)
		return set_err(x, XNOTE_ERR_CORRUPT,
			       "SYMBOL(pgd_l4) 0x%llx outside Xen's image mapping at 0x%llx",
			       (unsigned long long)x->sym_pgd_l4, (unsigned long long)x->virt_start);
	x->root = x->sym_pgd_l4 - x->virt_start + x->phys_start;

	/* BIGMEM builds move the direct map: tell by where domain structs are */
	if (x->sym_domain_list && xnote_xen_read(x, x->sym_domain_list, b, 8) == XNOTE_OK) {
		uint64_t d0 = le_get64(b);
		if (d0 >= DIRECTMAP_BIGMEM && d0 - DIRECTMAP_BIGMEM < DIRECTMAP_SIZE)
			x->directmap = DIRECTMAP_BIGMEM;
	}
	if (x->sym_max_page && xnote_xen_read(x, x->sym_max_page, b, 8) == XNOTE_OK)
		x->max_page = le_get64(b);
	if (sizes && x->sym_frame_table && x->page_info_size >= 16 && x->page_info_size <= 256 &&
	    x->off_count_info + 8 <= x->page_info_size && x->off_domain + 4 <= x->page_info_size &&
	    xnote_xen_read(x, x->sym_frame_table, b, 8) == XNOTE_OK) {
		x->frame_table = le_get64(b);
		x->have_frame_table = x->frame_table != 0;
	}
	if (x->sym_dom_xen && xnote_xen_read(x, x->sym_dom_xen, b, 8) == XNOTE_OK)
		x->owner_xen = xnote_xen_pickle(x, le_get64(b));
	if (x->sym_dom_io && xnote_xen_read(x, x->sym_dom_io, b, 8) == XNOTE_OK)
		x->owner_io = xnote_xen_pickle(x, le_get64(b));
	x->err[0] = 0;
	return XNOTE_OK;
}

int xnote_xen_set_pdx(struct xnote_xen *x, uint64_t s_shift, uint64_t s_bottom, uint64_t s_top)
{
	uint8_t b[8];
	uint64_t shift = 0, bottom = ~0ULL, top = 0;
	int rc;

	if (s_shift) {
		rc = xnote_xen_read(x, s_shift, b, 8);
		if (rc != XNOTE_OK)
			return rc;
		shift = le_get64(b) & 0xffffffffu;   /* unsigned int in Xen */
	}
	if (s_bottom && (rc = xnote_xen_read(x, s_bottom, b, 8)) == XNOTE_OK)
		bottom = le_get64(b);
	if (s_top && (rc = xnote_xen_read(x, s_top, b, 8)) == XNOTE_OK)
		top = le_get64(b);
	if (shift >= 64)
		return set_err(x, XNOTE_ERR_CORRUPT, "pfn_pdx_hole_shift %llu out of range",
			       (unsigned long long)shift);
	x->pdx_hole_shift = (unsigned)shift;
	x->pdx_bottom_mask = bottom;
	x->pdx_top_mask = top;
	x->pi_tag = ~0ULL;
	return XNOTE_OK;
}

int xnote_xen_vtom(struct xnote_xen *x, uint64_t va, uint64_t *ma)
{
	struct xnote_pt_stop st;
	int rc;

	if (va >= x->virt_start && va - x->virt_start < GIB) {
		*ma = va - x->virt_start + x->phys_start;
		return XNOTE_OK;
	}
	if (va >= x->directmap && va - x->directmap < DIRECTMAP_SIZE) {
		*ma = va - x->directmap;
		return XNOTE_OK;
	}
	unsigned slot = (unsigned)(va >> 12) % XNOTE_XEN_TLB;
	if (x->tlb[slot].vpage == (va | 0xfff) && x->tlb[slot].mpage) {
		*ma = x->tlb[slot].mpage | (va & 0xfff);
		return XNOTE_OK;
	}
	rc = xnote_pt_walk(x->read, x->arg, x->root, 4, 0, va, ma, &st);
	if (rc != XNOTE_OK && st.unmapped)
		return set_err(x, XNOTE_NOPAGE, "xen virtual 0x%llx is not mapped",
			       (unsigned long long)va);
	if (rc != XNOTE_OK)
		return set_err(x, rc == XNOTE_NOPAGE ? XNOTE_NOPAGE : XNOTE_ERR_IO,
			       "xen virtual 0x%llx: level-%d page table at machine 0x%llx %s",
			       (unsigned long long)va, st.level, (unsigned long long)st.table,
			       rc == XNOTE_NOPAGE ? "not in the dump" : "unreadable");
	x->tlb[slot].vpage = va | 0xfff;
	x->tlb[slot].mpage = *ma & ~0xfffULL;
	return XNOTE_OK;
}

static int vtom_cb(void *x, uint64_t va, uint64_t *ma)
{
	return xnote_xen_vtom(x, va, ma);
}

static int mread_cb(void *x, uint64_t ma, void *buf, size_t len)
{
	return mread(x, ma, buf, len, "xen memory");
}

int xnote_xen_read(struct xnote_xen *x, uint64_t va, void *buf, size_t len)
{
	return xnote_read_virt(vtom_cb, mread_cb, x, va, buf, len, NULL);
}

int xnote_read_string(xnote_read_fn read, void *arg, uint64_t ma, char *buf, size_t cap)
{
	size_t i = 0;

	if (!cap)
		return XNOTE_ERR_ARG;
	while (i + 1 < cap) {
		/* up to the end of the page at once */
		size_t chunk = (size_t)(PAGE - ((ma + i) & (PAGE - 1)));
		if (chunk > cap - 1 - i)
			chunk = cap - 1 - i;
		int rc = read(arg, ma + i, buf + i, chunk);
		if (rc != XNOTE_OK) {
			buf[i] = 0;
			return rc;
		}
		char *z = memchr(buf + i, 0, chunk);
		if (z)
			return XNOTE_OK;
		i += chunk;
	}
	buf[i] = 0;
	return XNOTE_OK;
}

int xnote_xen_page_info(struct xnote_xen *x, uint64_t mfn, struct xnote_page_info *pi)
{
	uint64_t pdx = mfn, va, ma, off;
	int rc;

	if (!x->have_frame_table)
		return set_err(x, XNOTE_ERR_NOTFOUND,
			       "VMCOREINFO_XEN lacks the frame_table, page_info or domain keys");
	if (x->max_page && mfn >= x->max_page)
		return set_err(x, XNOTE_NOPAGE, "machine frame 0x%llx beyond max_page 0x%llx",
			       (unsigned long long)mfn, (unsigned long long)x->max_page);
	if (x->pdx_hole_shift)
		pdx = (mfn & x->pdx_bottom_mask) | ((mfn & x->pdx_top_mask) >> x->pdx_hole_shift);
	if (pdx > (1ULL << 40))
		return set_err(x, XNOTE_ERR_ARG, "machine frame 0x%llx out of range",
			       (unsigned long long)mfn);
	va = x->frame_table + pdx * x->page_info_size;
	/* a page_info never straddles a page when the size divides 4096; other
	 * sizes go through the byte reader */
	if (PAGE % x->page_info_size == 0) {
		rc = xnote_xen_vtom(x, va, &ma);
		if (rc != XNOTE_OK)
			return rc;
		if ((ma & ~(PAGE - 1)) != x->pi_tag) {
			rc = mread(x, ma & ~(PAGE - 1), x->pi_page, PAGE, "page_info");
			if (rc != XNOTE_OK) {
				x->pi_tag = ~0ULL;
				return rc;
			}
			x->pi_tag = ma & ~(PAGE - 1);
		}
		off = ma & (PAGE - 1);
		xnote_pgc_decode(x->pgc, le_get64(x->pi_page + off + x->off_count_info), pi);
		pi->owner = (uint32_t)le_get32(x->pi_page + off + x->off_domain);
		return XNOTE_OK;
	}
	uint8_t b[256];
	rc = xnote_xen_read(x, va, b, (size_t)x->page_info_size);
	if (rc != XNOTE_OK)
		return rc;
	xnote_pgc_decode(x->pgc, le_get64(b + x->off_count_info), pi);
	pi->owner = (uint32_t)le_get32(b + x->off_domain);
	return XNOTE_OK;
}

enum xnote_frame_owner xnote_xen_frame_owner(struct xnote_xen *x, uint64_t mfn,
					     uint32_t dom0_owner, struct xnote_page_info *pi)
{
	struct xnote_page_info tmp;

	if (!pi)
		pi = &tmp;
	if (xnote_xen_page_info(x, mfn, pi) != XNOTE_OK)
		return XNOTE_FRAME_UNKNOWN;
	if (pi->xen_heap)
		return XNOTE_FRAME_XEN;
	if (pi->state == XNOTE_PGS_FREE || pi->state == XNOTE_PGS_OFFLINED || pi->broken)
		return XNOTE_FRAME_FREE;
	if (!pi->allocated)
		return XNOTE_FRAME_XEN;
	if (!pi->owner || pi->owner == x->owner_xen || pi->owner == x->owner_io)
		return XNOTE_FRAME_XEN;
	if (pi->owner == dom0_owner)
		return XNOTE_FRAME_DOM0;
	return XNOTE_FRAME_DOMU;
}

int xnote_xen_domains(struct xnote_xen *x, struct xnote_domain *out, size_t cap, size_t *n)
{
	uint8_t b[8];
	uint64_t va, first;
	size_t k = 0;
	int rc;

	*n = 0;
	if (!x->sym_domain_list || !x->domain_size)
		return set_err(x, XNOTE_ERR_NOTFOUND,
			       "VMCOREINFO_XEN lacks SYMBOL(domain_list) or the domain offsets");
	if (x->off_domain_id + 2 > x->domain_size || x->off_next_in_list + 8 > x->domain_size)
		return set_err(x, XNOTE_ERR_CORRUPT, "domain offsets beyond SIZE(domain) %llu",
			       (unsigned long long)x->domain_size);
	rc = xnote_xen_read(x, x->sym_domain_list, b, 8);
	if (rc != XNOTE_OK)
		return rc;
	first = va = le_get64(b);
	while (va) {
		uint64_t ma;
		if (k >= MAX_DOMAINS)
			return set_err(x, XNOTE_ERR_CORRUPT,
				       "domain_list: more than %d entries (a cycle?)", MAX_DOMAINS);
		rc = xnote_xen_vtom(x, va, &ma);
		if (rc == XNOTE_OK)
			rc = mread(x, ma + x->off_domain_id, b, 2, "struct domain");
		if (rc != XNOTE_OK)
			return rc;
		if (k < cap) {
			out[k].id = (uint16_t)le_get16(b);
			out[k].va = va;
			out[k].maddr = ma;
			out[k].owner = xnote_xen_pickle(x, va);
		}
		k++;
		rc = xnote_xen_read(x, va + x->off_next_in_list, b, 8);
		if (rc != XNOTE_OK)
			return rc;
		va = le_get64(b);
		if (va == first)
			return set_err(x, XNOTE_ERR_CORRUPT, "domain_list loops back to its head");
		/* a loop that misses the head: an entry seen before (those kept) */
		*n = k;
		for (size_t i = 0; i < k && i < cap; i++)
			if (out[i].va == va)
				return set_err(x, XNOTE_ERR_CORRUPT,
					       "domain_list loops: domain %u's next_in_list points back at domain %u",
					       out[k - 1 < cap ? k - 1 : 0].id, out[i].id);
		*n = k;
	}
	*n = k;
	return XNOTE_OK;
}

int xnote_xen_shared_info(struct xnote_xen *x, const struct xnote_domain *dom,
			  struct xnote_shared_info *out)
{
	uint8_t b[4096];
	size_t len = sizeof(b);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!x->have_frame_table)
		return set_err(x, XNOTE_ERR_NOTFOUND,
			       "domain %u: shared_info is recognised by its page_info, and VMCOREINFO_XEN lacks the frame table keys",
			       dom->id);
	if (x->domain_size && x->domain_size < len)
		len = (size_t)x->domain_size;
	rc = xnote_xen_read(x, dom->va, b, len);
	if (rc != XNOTE_OK)
		return rc;
	for (size_t o = 0; o + 8 <= len; o += 8) {
		uint64_t va = le_get64(b + o);
		struct xnote_page_info pi;
		if ((va & (PAGE - 1)) || va < x->directmap || va - x->directmap >= DIRECTMAP_SIZE ||
		    va == dom->va)
			continue;
		uint64_t mfn = (va - x->directmap) >> 12;
		if (xnote_xen_page_info(x, mfn, &pi) != XNOTE_OK || !pi.xen_heap ||
		    pi.owner != dom->owner)
			continue;
		uint8_t a[48];
		rc = mread(x, mfn * PAGE + XNOTE_SHINFO_ARCH, a, sizeof(a), "shared_info");
		if (rc != XNOTE_OK)
			return rc;
		out->va = va;
		out->mfn = mfn;
		out->max_pfn = le_get64(a);
		out->p2m_mfn = le_get64(a + 8);
		/* a + 16: nmi_reason */
		out->p2m_cr3 = le_get64(a + 24);
		out->p2m_vaddr = le_get64(a + 32);
		out->p2m_generation = le_get64(a + 40);
		x->err[0] = 0;
		return XNOTE_OK;
	}
	return set_err(x, XNOTE_ERR_NOTFOUND,
		       "domain %u: no shared_info (no pointer in its struct domain to a Xen-heap page it owns)",
		       dom->id);
}

int xnote_xen_m2p(struct xnote_xen *x, uint64_t mfn, uint64_t *pfn)
{
	uint8_t b[8];
	uint64_t ma, v;
	int rc;

	if (mfn > (1ULL << 40))
		return XNOTE_NOPAGE;
	rc = xnote_xen_vtom(x, XNOTE_XEN_RO_MPT + 8 * mfn, &ma);
	if (rc != XNOTE_OK)
		return rc;
	rc = mread(x, ma, b, 8, "m2p entry");
	if (rc != XNOTE_OK)
		return rc;
	v = le_get64(b);
	/* INVALID_M2P_ENTRY ~0, SHARED_M2P_ENTRY ~0 - 1 */
	if (v >= XNOTE_P2M_MAX_PFN)
		return XNOTE_NOPAGE;
	*pfn = v;
	return XNOTE_OK;
}

int xnote_xen_conring(struct xnote_xen *x, const struct xnote_conring_syms *s, char *out,
		      size_t cap, size_t *len, bool *wrapped)
{
	uint8_t b[8];
	uint64_t ring;
	uint32_t size, prod;
	int rc;

	*len = 0;
	*wrapped = false;
	if (!s->conring || !s->conring_size || !s->conringp)
		return set_err(x, XNOTE_ERR_NOTFOUND,
			       "console ring symbols (conring, conring_size, conringp) not given");
	if ((rc = xnote_xen_read(x, s->conring, b, 8)) != XNOTE_OK)
		return rc;
	ring = le_get64(b);
	if ((rc = xnote_xen_read(x, s->conring_size, b, 4)) != XNOTE_OK)
		return rc;
	size = (uint32_t)le_get32(b);
	if ((rc = xnote_xen_read(x, s->conringp, b, 4)) != XNOTE_OK)
		return rc;
	prod = (uint32_t)le_get32(b);
	if (!size || (size & (size - 1)) || size > (64u << 20))
		return set_err(x, XNOTE_ERR_CORRUPT, "conring_size %u is not a power of two up to 64 MiB",
			       size);
	/* conringp counts every byte ever written (u32, wraps at 4 GiB) */
	uint32_t have = prod < size ? prod : size;
	uint32_t start = prod - have;
	*wrapped = prod > size;
	if (have > cap)
		return set_err(x, XNOTE_ERR_SPACE, "console ring holds %u bytes, buffer %zu", have, cap);
	for (uint32_t done = 0; done < have;) {
		uint32_t idx = (start + done) & (size - 1);
		uint32_t chunk = size - idx;
		if (chunk > have - done)
			chunk = have - done;
		rc = xnote_xen_read(x, ring + idx, out + done, chunk);
		if (rc != XNOTE_OK)
			return rc;
		done += chunk;
	}
	*len = have;
	return XNOTE_OK;
}

unsigned xnote_conring_score(const uint8_t *page, size_t len)
{
	unsigned score = 1;
	size_t text = len;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = page[i];
		if (!c) {
			text = i;
			break;
		}
		/* console text is printable; a line may cross into the next page */
		if ((c < 0x20 || c >= 0x7f) && c != '\n' && c != '\t' && c != '\r')
			return 0;
		if (c == '(' && i + 6 <= len && memcmp(page + i, "(XEN) ", 6) == 0)
			score++;
	}
	/* an unwritten tail is all NULs */
	for (size_t i = text; i < len; i++)
		if (page[i])
			return 0;
	return text ? score : 0;
}
