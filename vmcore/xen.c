/* xen.c - Xen dumps: the bridge to xen-notes, dom0's memory as a dump of its
 * own ("view"), and the normalised notes writers copy (docs/formats.md §4).
 *
 * The dom0 view is an ELF core that exists only in memory: its headers and
 * note (dom0's VMCOREINFO) are built here, and its page data is read through
 * dom0's P2M from the Xen dump.  The ELF reader, vtop, dmesg and page
 * classification then run on it unchanged.  One thing differs from bare
 * metal: a PV dom0's page tables hold machine frames, so page-table pages are
 * handed out with their entries turned into dom0 frames (M2P, checked with
 * the P2M).  The set of page-table pages is found once, by walking dom0's
 * kernel page tables in machine addresses from init_top_pgt.
 */
#include "internal.h"
#include "../xen-notes/xnote.h"

#include <stdlib.h>

#define PAGE 4096u
#define GIB (1ULL << 30)
#define START_KERNEL_MAP 0xffffffff80000000ULL
#define PTE_PRESENT 0x1ULL
#define PTE_PSE 0x80ULL
#define PTE_ADDR 0x000ffffffffff000ULL
#define M2P_CACHE 16
#define XEN_L4_FIRST 256         /* L4 slots 256-271 belong to Xen in a PV guest */
#define XEN_L4_LAST 271
#define MAX_PT_PAGES (1u << 22)  /* 16 GiB of page tables: beyond that, give up */
#define MAX_RUNS (1u << 22)      /* PT_LOADs of the dom0 view */
#define SCAN_BATCH 64            /* pages read at once looking for VMCOREINFO */

static int xstatus(int rc)
{
	switch (rc) {
	case XNOTE_OK: return VMC_OK;
	case XNOTE_NOPAGE: return VMC_NOPAGE;
	case XNOTE_ERR_CORRUPT: return VMC_ERR_CORRUPT;
	case XNOTE_ERR_NOTFOUND: return VMC_ERR_NOTFOUND;
	case XNOTE_ERR_IO: return VMC_ERR_SYSTEM;
	default: return VMC_ERR_ARG;
	}
}

int vmc_xen_read_machine(void *dump, uint64_t maddr, void *buf, size_t len)
{
	int rc = vmc_read_phys(dump, maddr, buf, len);
	if (rc == VMC_OK)
		return XNOTE_OK;
	return rc == VMC_NOPAGE ? XNOTE_NOPAGE : XNOTE_ERR_IO;
}

int vmc_xen_phys_start(vmc_dump *d, uint64_t *ps, bool *derived)
{
	const struct vmc_xen *x = vmc_xen(d);
	uint64_t pgd = 0, anchor = 0;
	size_t len = 0;
	const char *t;

	if (!x)
		return vmc_set_err(d, VMC_ERR_NOTFOUND, "not a Xen dump (no CRASH_INFO note)");
	if (x->has_phys_start && x->phys_start) {
		*ps = x->phys_start;
		*derived = false;
		return VMC_OK;
	}
	/* Xen's image is mapped at XEN_VIRT_START from xen_phys_start; every
	 * page table a CPU can run on (idle or a guest's) has Xen's slots, so a
	 * walk of SYMBOL(pgd_l4) through any saved CR3 gives the offset */
	t = vmc_xen_vmcoreinfo_text(d, &len);
	if (!t || !xnote_kv_hex(t, len, "SYMBOL(pgd_l4)", &pgd))
		return vmc_set_err(d, VMC_ERR_NOTFOUND,
				   "xen_phys_start: not in CRASH_INFO and no SYMBOL(pgd_l4) to derive it");
	if (!xnote_kv_hex(t, len, "SYMBOL(domain_list)", &anchor))
		anchor = pgd;
	uint64_t virt_start = anchor & ~(GIB - 1);
	for (size_t i = 0; i < d->ncpus; i++) {
		const struct vmc_cpu *c = &d->cpus[i];
		uint64_t ma;
		if (!c->has_cr || !c->cr3)
			continue;
		if (xnote_pt_walk(vmc_xen_read_machine, d, c->cr3 & PTE_ADDR, 4, 0, pgd, &ma, NULL) != XNOTE_OK)
			continue;
		uint64_t cand = ma - (pgd - virt_start);
		if (cand & ((2u << 20) - 1))
			continue;   /* Xen is loaded 2 MiB aligned */
		*ps = cand;
		*derived = true;
		d->errmsg[0] = 0;
		return VMC_OK;
	}
	return vmc_set_err(d, VMC_ERR_NOTFOUND,
			   "xen_phys_start: not in CRASH_INFO, and no CPU's CR3 maps SYMBOL(pgd_l4)");
}

int vmc_xen_hv_init(vmc_dump *d, struct xnote_xen *x)
{
	const struct vmc_xen *vx = vmc_xen(d);
	uint64_t ps = 0;
	bool derived;
	size_t len = 0;
	const char *t;
	int rc;

	if (!vx)
		return vmc_set_err(d, VMC_ERR_NOTFOUND, "not a Xen dump (no CRASH_INFO note)");
	rc = vmc_xen_phys_start(d, &ps, &derived);
	if (rc < 0)
		return rc;
	t = vmc_xen_vmcoreinfo_text(d, &len);
	rc = xnote_xen_init(x, vmc_xen_read_machine, d, &d->xen_ci, ps, t, len);
	if (rc < 0)
		return vmc_set_err(d, xstatus(rc), "xen: %s", x->err);
	return VMC_OK;
}

/* ---- the dom0 view ------------------------------------------------------- */

struct dom0_view {
	struct vmc_io io;             /* first: the view's d->io */
	vmc_dump *parent;
	struct xnote_p2m p2m;
	struct xnote_xen xen;
	bool have_xen;
	bool guest;                   /* a domU: its P2M from its shared_info */
	char name[24];                /* "dom0", "domain N" (messages) */
	struct vmc_dom0_info info;
	char *vmci;                   /* dom0's VMCOREINFO text (owned) */
	size_t vmci_len;
	uint8_t *hdr;                 /* ELF header, program headers, note */
	size_t hdr_len;
	uint64_t data_off;            /* file offset of pfn 0 */
	uint64_t *pt;                 /* machine frames of page tables, sorted */
	size_t npt;
	struct {
		uint64_t tag;             /* mfn / 512, ~0 empty */
		uint64_t e[512];
	} m2p[M2P_CACHE];
	unsigned m2p_next;
	uint8_t page[PAGE];
};

static int view_read(vmc_dump *d, struct vmc_io *io, void *buf, size_t len, uint64_t off,
		     size_t *got);

static struct dom0_view *view_of(const vmc_dump *v)
{
	if (!v || !v->io || v->io->read != view_read)
		return NULL;
	return (struct dom0_view *)v->io;
}

static void view_destroy(struct vmc_io *io)
{
	struct dom0_view *w = (struct dom0_view *)io;
	free(w->vmci);
	free(w->hdr);
	free(w->pt);
	free(w);
}

/* M2P entries, a page (512 frames) at a time. */
static int m2p_lookup(struct dom0_view *w, uint64_t mfn, uint64_t *pfn)
{
	uint64_t tag = mfn / 512, ma;
	unsigned slot = M2P_CACHE;

	if (!w->have_xen)
		return VMC_NOPAGE;
	for (unsigned i = 0; i < M2P_CACHE; i++)
		if (w->m2p[i].tag == tag)
			slot = i;
	if (slot == M2P_CACHE) {
		uint8_t b[PAGE];
		slot = w->m2p_next;
		w->m2p_next = (w->m2p_next + 1) % M2P_CACHE;
		w->m2p[slot].tag = ~0ULL;
		if (tag > (1ULL << 31) ||
		    xnote_xen_vtom(&w->xen, XNOTE_XEN_RO_MPT + tag * PAGE, &ma) != XNOTE_OK ||
		    vmc_read_phys(w->parent, ma, b, PAGE) != VMC_OK)
			return VMC_NOPAGE;
		for (unsigned i = 0; i < 512; i++)
			w->m2p[slot].e[i] = le_get64(b + 8 * i);
		w->m2p[slot].tag = tag;
	}
	uint64_t v = w->m2p[slot].e[mfn % 512];
	if (v >= XNOTE_P2M_MAX_PFN)
		return VMC_NOPAGE;
	*pfn = v;
	return VMC_OK;
}

static int p2m(struct dom0_view *w, uint64_t pfn, uint64_t *mfn, enum xnote_p2m_kind *k)
{
	int rc = xnote_p2m_lookup(&w->p2m, pfn, mfn, k);
	return rc == XNOTE_OK ? VMC_OK : xstatus(rc);
}

/* machine frame -> dom0 pfn, trusted only when the P2M agrees */
static int mfn_to_pfn(struct dom0_view *w, uint64_t mfn, uint64_t *pfn)
{
	uint64_t p, back;
	enum xnote_p2m_kind k;

	if (m2p_lookup(w, mfn, &p) != VMC_OK)
		return VMC_NOPAGE;
	if (p >= w->info.end_pfn || p2m(w, p, &back, &k) != VMC_OK || k != XNOTE_P2M_VALID ||
	    back != mfn)
		return VMC_NOPAGE;
	*pfn = p;
	return VMC_OK;
}

static bool is_pt(const struct dom0_view *w, uint64_t mfn)
{
	size_t lo = 0, hi = w->npt;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->pt[mid] == mfn)
			return true;
		if (w->pt[mid] < mfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* A page-table page as dom0 would see it on bare metal: present entries
 * point at dom0 frames; entries whose frame is not dom0's (Xen's slots,
 * grant or foreign mappings) read as not present. */
static void translate_pt(struct dom0_view *w, uint8_t *page)
{
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = le_get64(page + 8 * i), pfn;
		if (!(e & PTE_PRESENT))
			continue;
		if (mfn_to_pfn(w, (e & PTE_ADDR) >> 12, &pfn) == VMC_OK)
			e = (e & ~PTE_ADDR) | pfn << 12;
		else
			e &= ~PTE_PRESENT;
		le_put64(page + 8 * i, e);
	}
}

static int view_read(vmc_dump *d, struct vmc_io *io, void *buf, size_t len, uint64_t off,
		     size_t *got)
{
	struct dom0_view *w = (struct dom0_view *)io;
	uint8_t *out = buf;

	*got = 0;
	if (off >= io->size)
		return VMC_OK;
	if (len > io->size - off)
		len = (size_t)(io->size - off);
	while (len) {
		size_t chunk;
		if (off < w->data_off) {
			chunk = (size_t)(w->data_off - off) < len ? (size_t)(w->data_off - off) : len;
			for (size_t i = 0; i < chunk; i++)
				out[i] = off + i < w->hdr_len ? w->hdr[off + i] : 0;
		} else {
			uint64_t pfn = (off - w->data_off) / PAGE, in = (off - w->data_off) % PAGE, mfn;
			enum xnote_p2m_kind k;
			int rc = p2m(w, pfn, &mfn, &k);
			chunk = PAGE - (size_t)in < len ? PAGE - (size_t)in : len;
			if (rc == VMC_OK && k != XNOTE_P2M_VALID)
				rc = vmc_set_err(d, VMC_ERR_CORRUPT, "%s pfn 0x%llx has no machine frame (%s)",
						 w->name, (unsigned long long)pfn, xnote_p2m_kind_name(k));
			else if (rc != VMC_OK)
				rc = vmc_set_err(d, rc < 0 ? rc : VMC_ERR_CORRUPT, "%s pfn 0x%llx: %s",
						 w->name, (unsigned long long)pfn, w->p2m.err);
			if (rc == VMC_OK) {
				rc = vmc_read_page(w->parent, mfn, w->page);
				if (rc != VMC_OK)
					rc = vmc_set_err(d, rc < 0 ? rc : VMC_ERR_CORRUPT,
							 "%s pfn 0x%llx: machine frame 0x%llx: %s",
							 w->name, (unsigned long long)pfn, (unsigned long long)mfn,
							 rc < 0 ? vmc_errmsg(w->parent) : "not in the dump");
			}
			if (rc != VMC_OK)
				return rc;
			if (w->npt && is_pt(w, mfn))
				translate_pt(w, w->page);
			memcpy(out, w->page + in, chunk);
		}
		out += chunk;
		off += chunk;
		len -= chunk;
		*got += chunk;
	}
	return VMC_OK;
}

/* ---- finding dom0's VMCOREINFO -------------------------------------------- */

static const struct vmc_note *find_note(const vmc_dump *d, const char *name)
{
	for (size_t i = 0; i < d->nnotes; i++)
		if (d->notes[i].type == 0 && strcmp(d->notes[i].name, name) == 0)
			return &d->notes[i];
	return NULL;
}

static int keep_text(struct dom0_view *w, const char *t, size_t len)
{
	w->vmci = malloc(len + 1);
	if (!w->vmci)
		return VMC_ERR_NOMEM;
	memcpy(w->vmci, t, len);
	w->vmci[len] = 0;
	w->vmci_len = len;
	return VMC_OK;
}

static bool try_page(struct dom0_view *w, uint64_t mfn)
{
	const char *t;
	size_t tl;

	if (vmc_read_page(w->parent, mfn, w->page) != VMC_OK ||
	    !xnote_dom0_vmcoreinfo_page(w->page, PAGE, &t, &tl))
		return false;
	if (keep_text(w, t, tl) != VMC_OK)
		return false;
	w->info.vmcoreinfo_from = "memory scan";
	w->info.vmcoreinfo_maddr = mfn * PAGE + (uint64_t)((const uint8_t *)t - w->page);
	return true;
}

/* Linux allocates its vmcoreinfo note and data page whole pages at a time
 * (alloc_pages_exact, get_zeroed_page), so only page starts are looked at;
 * a frame must be dom0's (the P2M says so) to count. */
static int find_vmcoreinfo(struct dom0_view *w, const struct vmc_dom0_opts *o)
{
	const struct vmc_note *n;

	/* the dump's notes are dom0's: a domU's VMCOREINFO is in its memory */
	if (w->guest) {
		if (o && o->no_scan)
			return VMC_OK;
		goto scan;
	}
	if ((n = find_note(w->parent, XNOTE_NAME_DOM0_VMCOREINFO)) != NULL) {
		w->info.vmcoreinfo_from = "note " XNOTE_NAME_DOM0_VMCOREINFO;
		return keep_text(w, (const char *)n->desc, n->descsz);
	}
	if ((n = find_note(w->parent, "VMCOREINFO")) != NULL) {
		w->info.vmcoreinfo_from = "note VMCOREINFO";
		return keep_text(w, (const char *)n->desc, n->descsz);
	}
	if (o && o->vmcoreinfo_maddr && try_page(w, o->vmcoreinfo_maddr / PAGE))
		return VMC_OK;
	if (o && o->no_scan)
		return VMC_OK;
scan:;
	/* runs of consecutive machine frames are read SCAN_BATCH pages at a
	 * time: one read instead of one per page on /proc/vmcore */
	uint8_t *buf = malloc(SCAN_BATCH * PAGE);
	uint64_t run_mfn = 0, run_n = 0;
	bool found = false;
	if (!buf)
		return VMC_ERR_NOMEM;
	for (uint64_t pfn = 0; pfn <= w->info.end_pfn && !found; pfn++) {
		uint64_t mfn = 0;
		enum xnote_p2m_kind k = XNOTE_P2M_INVALID;
		bool ok = pfn < w->info.end_pfn && p2m(w, pfn, &mfn, &k) == VMC_OK &&
			  k == XNOTE_P2M_VALID &&
			  vmc_page_state(w->parent, mfn) == VMC_PAGE_PRESENT;
		if (ok && run_n && run_n < SCAN_BATCH && mfn == run_mfn + run_n) {
			run_n++;
			continue;
		}
		if (run_n) {
			size_t done = 0;
			vmc_read_pages(w->parent, run_mfn, (size_t)run_n, buf, &done);
			for (size_t i = 0; i < done && !found; i++) {
				const uint8_t *h = buf + i * PAGE;
				if (memcmp(h, "OSRELEASE=", 10) != 0 &&
				    !(le_get32(h) == 11 && memcmp(h + 12, "VMCOREINFO", 10) == 0))
					continue;
				found = try_page(w, run_mfn + i);
			}
		}
		run_n = ok ? 1 : 0;
		run_mfn = mfn;
	}
	free(buf);
	w->parent->errmsg[0] = 0;
	return VMC_OK;
}

/* ---- page tables ------------------------------------------------------------ */

static int add_pt(uint64_t **pt, size_t *n, size_t *cap, uint64_t mfn)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		uint64_t *np;
		if (nc > MAX_PT_PAGES)
			return VMC_ERR_UNSUPPORTED;
		np = realloc(*pt, nc * sizeof(*np));
		if (!np)
			return VMC_ERR_NOMEM;
		*pt = np;
		*cap = nc;
	}
	(*pt)[(*n)++] = mfn;
	return VMC_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every table reachable from the root, in machine frames: the top table and
 * the tables below it down to level 1 (level-1 tables are listed, not read). */
static int collect_pt(struct dom0_view *w, uint64_t root_mfn, int levels)
{
	uint64_t *pt = NULL;
	size_t n = 0, cap = 0, done = 0;
	int rc = add_pt(&pt, &n, &cap, root_mfn);
	/* breadth first: [done, n) are the tables of the current level */
	for (int level = levels; level >= 2 && rc == VMC_OK; level--) {
		size_t end = n;
		for (size_t t = done; t < end && rc == VMC_OK; t++) {
			if (vmc_read_page(w->parent, pt[t], w->page) != VMC_OK)
				continue;
			for (unsigned i = 0; i < 512 && rc == VMC_OK; i++) {
				uint64_t e = le_get64(w->page + 8 * i);
				if (level == levels && i >= XEN_L4_FIRST && i <= XEN_L4_LAST && levels == 4)
					continue;
				if (!(e & PTE_PRESENT) || ((level == 2 || level == 3) && (e & PTE_PSE)))
					continue;
				rc = add_pt(&pt, &n, &cap, (e & PTE_ADDR) >> 12);
			}
		}
		done = end;
	}
	if (rc != VMC_OK) {
		free(pt);
		return rc;
	}
	qsort(pt, n, sizeof(*pt), cmp_u64);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || pt[u - 1] != pt[i])
			pt[u++] = pt[i];
	w->pt = pt;
	w->npt = u;
	w->info.pt_pages = u;
	w->parent->errmsg[0] = 0;
	return VMC_OK;
}

/* The root of dom0's kernel page tables and its direct-map base. */
static void setup_paging(struct dom0_view *w)
{
	static const uint64_t bases[] = {
		0xffff888000000000ULL,   /* 4-level, 4.20+ */
		0xffff880000000000ULL,   /* 4-level, before 4.20 */
		0xff11000000000000ULL,   /* 5-level */
	};
	uint64_t sym, root_pfn, root_mfn, ma;
	int64_t pb = 0, l5 = 0;
	enum xnote_p2m_kind k;
	char v[40];

	if (!xnote_kv_hex(w->vmci, w->vmci_len, "SYMBOL(init_top_pgt)", &sym) &&
	    !xnote_kv_hex(w->vmci, w->vmci_len, "SYMBOL(init_level4_pgt)", &sym))
		return;
	if (xnote_kv_get(w->vmci, w->vmci_len, "NUMBER(phys_base)", v, sizeof(v)))
		pb = strtoll(v, NULL, 0);
	if (xnote_kv_get(w->vmci, w->vmci_len, "NUMBER(pgtable_l5_enabled)", v, sizeof(v)))
		l5 = strtoll(v, NULL, 0);
	if (sym < START_KERNEL_MAP)
		return;
	root_pfn = (sym - START_KERNEL_MAP + (uint64_t)pb) / PAGE;
	if (p2m(w, root_pfn, &root_mfn, &k) != VMC_OK || k != XNOTE_P2M_VALID)
		return;
	if (collect_pt(w, root_mfn, l5 ? 5 : 4) != VMC_OK)
		return;
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (xnote_pt_walk(vmc_xen_read_machine, w->parent, root_mfn * PAGE, l5 ? 5 : 4, 0,
				  bases[i] + root_pfn * PAGE, &ma, NULL) == XNOTE_OK &&
		    ma == root_mfn * PAGE) {
			w->info.page_offset = bases[i];
			break;
		}
	}
	w->parent->errmsg[0] = 0;
}

/* ---- the virtual ELF file ---------------------------------------------------- */

struct run {
	uint64_t start, n;
	bool present;
};

/* PT_LOADs over dom0's RAM: runs of valid pfns, present or excluded. */
static int collect_runs(struct dom0_view *w, struct run **out, size_t *nout)
{
	struct run *r = NULL;
	size_t n = 0, cap = 0;
	struct vmc_dom0_info *in = &w->info;

	for (uint64_t pfn = 0; pfn < in->end_pfn; pfn++) {
		uint64_t mfn;
		enum xnote_p2m_kind k;
		int rc = p2m(w, pfn, &mfn, &k);
		if (rc < 0) {
			free(r);
			return vmc_set_err(w->parent, rc, "%s p2m: %s", w->name, w->p2m.err);
		}
		if (rc == VMC_NOPAGE) {
			in->pages_missing++;   /* the tree's own page is not in the dump */
			continue;
		}
		switch (k) {
		case XNOTE_P2M_VALID: in->pages_valid++; break;
		case XNOTE_P2M_IDENTITY: in->pages_identity++; continue;
		case XNOTE_P2M_FOREIGN: in->pages_foreign++; continue;
		case XNOTE_P2M_INVALID: in->pages_invalid++; continue;
		case XNOTE_P2M_MISSING: in->pages_missing++; continue;
		}
		bool present = vmc_page_state(w->parent, mfn) == VMC_PAGE_PRESENT;
		in->pages_present += present;
		if (n && r[n - 1].start + r[n - 1].n == pfn && r[n - 1].present == present) {
			r[n - 1].n++;
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct run *nr = nc <= MAX_RUNS ? realloc(r, nc * sizeof(*nr)) : NULL;
			if (!nr && nc > MAX_RUNS) {
				free(r);
				return vmc_set_err(w->parent, VMC_ERR_UNSUPPORTED,
						   "%s: more than %u runs of pages in the dump (a damaged p2m?)",
						   w->name, MAX_RUNS);
			}
			if (!nr) {
				free(r);
				return vmc_set_err(w->parent, VMC_ERR_NOMEM, "out of memory");
			}
			r = nr;
			cap = nc;
		}
		r[n].start = pfn;
		r[n].n = 1;
		r[n].present = present;
		n++;
	}
	*out = r;
	*nout = n;
	return VMC_OK;
}

static int build_elf(struct dom0_view *w, const struct run *r, size_t nr)
{
	size_t note_sz = w->vmci ? vmc_note_size(11, w->vmci_len) : 0;
	uint64_t note_off = vmc_core_hdr_len(nr);
	size_t hdr_len = (size_t)note_off + note_sz;
	uint8_t *h = note_off ? calloc(1, hdr_len) : NULL;

	if (!h)
		return vmc_set_err(w->parent, VMC_ERR_NOMEM, "out of memory");
	vmc_core_hdr_put(h, &(struct vmc_core_hdr){ .machine = EM_X86_64, .nload = nr,
						      .note_off = note_off, .note_len = note_sz,
						      .note_align = 4 });
	w->data_off = (hdr_len + PAGE - 1) / PAGE * PAGE;
	if (w->vmci)
		vmc_note_put(h + note_off, "VMCOREINFO", 0, w->vmci, w->vmci_len);
	for (size_t i = 0; i < nr; i++) {
		uint64_t pa = r[i].start * PAGE, sz = r[i].n * PAGE;
		/* the direct-map address, as /proc/vmcore has it (vtop checks it) */
		vmc_core_load_put(h, i, &(struct vmc_core_load){
			.offset = w->data_off + pa,
			.vaddr = w->info.page_offset ? w->info.page_offset + pa : pa,
			.paddr = pa, .filesz = r[i].present ? sz : 0, .memsz = sz, .align = PAGE });
	}
	w->hdr = h;
	w->hdr_len = hdr_len;
	w->io.size = w->data_off + w->info.end_pfn * PAGE;
	w->io.stored = w->io.size;
	return VMC_OK;
}

int vmc_xen_dom0_open(vmc_dump *d, const struct vmc_dom0_opts *o, vmc_dump **out)
{
	const struct vmc_xen *x = vmc_xen(d);
	struct dom0_view *w;
	struct run *runs = NULL;
	size_t nruns = 0;
	vmc_dump *v;
	int rc;

	bool guest = o && o->guest;

	if (!x)
		return vmc_set_err(d, VMC_ERR_NOTFOUND, "not a Xen dump (no CRASH_INFO note)");
	if (!guest && !x->has_p2m)
		return vmc_set_err(d, VMC_ERR_NOTFOUND,
				   "dom0: CRASH_INFO in the %u-byte layout has no P2M frame",
				   x->layout_size);
	w = calloc(1, sizeof(*w));
	if (!w)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	w->io.read = view_read;
	w->io.destroy = view_destroy;
	w->parent = d;
	w->guest = guest;
	if (guest)
		snprintf(w->name, sizeof(w->name), "domain %u", o->domid);
	else
		snprintf(w->name, sizeof(w->name), "dom0");
	w->info.p2m_mfn = guest ? o->p2m_mfn : x->p2m_mfn;
	for (unsigned i = 0; i < M2P_CACHE; i++)
		w->m2p[i].tag = ~0ULL;
	if (guest && !o->p2m_mfn) {
		w->info.p2m_linear = true;
		rc = xnote_p2m_init_linear(&w->p2m, vmc_xen_read_machine, d, o->p2m_cr3, o->p2m_vaddr,
					   o->max_pfn);
	} else {
		rc = xnote_p2m_init(&w->p2m, vmc_xen_read_machine, d, w->info.p2m_mfn);
	}
	if (rc == XNOTE_OK)
		rc = xnote_p2m_find_end(&w->p2m, &w->info.end_pfn);
	if (rc != XNOTE_OK) {
		rc = vmc_set_err(d, rc == XNOTE_NOPAGE ? VMC_ERR_NOTFOUND : xstatus(rc), "%s: %s",
				 w->name, w->p2m.err);
		goto fail;
	}
	w->have_xen = vmc_xen_hv_init(d, &w->xen) == VMC_OK;
	if (w->have_xen) {
		uint64_t mfn, pfn;
		enum xnote_p2m_kind k;
		/* the M2P must know the domain's first page */
		for (pfn = 0; pfn < w->info.end_pfn; pfn++)
			if (p2m(w, pfn, &mfn, &k) == VMC_OK && k == XNOTE_P2M_VALID)
				break;
		w->info.m2p = pfn < w->info.end_pfn && mfn_to_pfn(w, mfn, &pfn) == VMC_OK;
		w->have_xen = w->info.m2p;
	}
	d->errmsg[0] = 0;
	rc = find_vmcoreinfo(w, o);
	if (rc < 0)
		goto fail;
	if (w->vmci && w->have_xen)
		setup_paging(w);
	rc = collect_runs(w, &runs, &nruns);
	if (rc < 0)
		goto fail;
	rc = build_elf(w, runs, nruns);
	free(runs);
	if (rc < 0)
		goto fail;
	v = vmc_dump_create();
	if (!v) {
		rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		goto fail;
	}
	/* what open_io does for a file, on the virtual one */
	v->opened = true;
	v->io = &w->io;
	rc = vmc_elf_open(v);
	if (rc == VMC_OK) {
		v->producer = guest ? "xen-domU" : "xen-dom0";
		v->pagebuf = malloc(v->page_size);
		if (!v->pagebuf)
			rc = vmc_set_err(v, VMC_ERR_NOMEM, "out of memory");
	}
	if (rc < 0) {
		vmc_set_err(d, rc, "%s view: %s", w->name, vmc_errmsg(v));
		vmc_dump_destroy(v);
		return rc;
	}
	if (!w->vmci && guest)
		vmc_warn(v, "%s: its VMCOREINFO not found in its memory: dmesg and page classification need it",
			 w->name);
	else if (!w->vmci)
		vmc_warn(v, "dom0's VMCOREINFO not found%s: dmesg and page classification need it",
			 o && o->no_scan ? " in the notes" : " in the notes or dom0's memory");
	if (w->vmci && !w->have_xen)
		vmc_warn(v, "Xen's M2P table is not readable: %s virtual addresses beyond the kernel image do not translate",
			 w->name);
	*out = v;
	return VMC_OK;
fail:
	view_destroy(&w->io);
	return rc;
}

const struct vmc_dom0_info *vmc_xen_dom0_info(const vmc_dump *v)
{
	struct dom0_view *w = view_of(v);
	return w ? &w->info : NULL;
}

int vmc_xen_dom0_pfn_to_mfn(vmc_dump *v, uint64_t pfn, uint64_t *mfn)
{
	struct dom0_view *w = view_of(v);
	enum xnote_p2m_kind k;
	int rc;

	if (!w)
		return vmc_set_err(v, VMC_ERR_ARG, "not a dom0 view");
	rc = p2m(w, pfn, mfn, &k);
	if (rc < 0)
		return vmc_set_err(v, rc, "%s p2m: %s", w->name, w->p2m.err);
	return rc == VMC_OK && k == XNOTE_P2M_VALID ? VMC_OK : VMC_NOPAGE;
}

int vmc_xen_dom0_mfn_to_pfn(vmc_dump *v, uint64_t mfn, uint64_t *pfn)
{
	struct dom0_view *w = view_of(v);

	if (!w)
		return vmc_set_err(v, VMC_ERR_ARG, "not a dom0 view");
	return mfn_to_pfn(w, mfn, pfn);
}

const char *vmc_xen_dom0_vmcoreinfo(const vmc_dump *v, size_t *len)
{
	struct dom0_view *w = view_of(v);
	if (!w || !w->vmci)
		return NULL;
	if (len)
		*len = w->vmci_len;
	return w->vmci;
}

/* ---- notes for output ---------------------------------------------------------- */

static void free_derived(vmc_dump *d)
{
	free(d->notes);
	free(d->note_names);
	free(d->cpus);
	d->notes = NULL;
	d->note_names = NULL;
	d->cpus = NULL;
	d->nnotes = d->ncpus = 0;
	vmc_kv_free(&d->vmci);
	vmc_kv_free(&d->xen_vmci);
	d->has_xen = false;
	memset(&d->xen, 0, sizeof(d->xen));
}

int vmc_xen_normalize_notes(vmc_dump *d, const char *dom0_vmci, size_t dom0_len,
			    uint64_t maddr, struct xnote_fixes *fx)
{
	struct xnote_norm_opts o;
	struct xnote_note *in;
	uint8_t *out;
	size_t outlen = 0, canon = 0, cap, start = 0;
	uint64_t off = 0;
	bool derived = false;
	int rc;

	if (!vmc_xen(d))
		return vmc_set_err(d, VMC_ERR_NOTFOUND, "not a Xen dump (no CRASH_INFO note)");
	memset(&o, 0, sizeof(o));
	if (!vmc_xen(d)->has_phys_start &&
	    vmc_xen_phys_start(d, &o.phys_start, &derived) == VMC_OK && derived)
		o.has_phys_start = true;
	d->errmsg[0] = 0;
	o.dom0_vmcoreinfo = dom0_vmci;
	o.dom0_vmcoreinfo_len = dom0_len;
	o.dom0_vmcoreinfo_maddr = maddr;
	in = calloc(d->nnotes ? d->nnotes : 1, sizeof(*in));
	if (!in)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < d->nnotes; i++) {
		const struct vmc_note *n = &d->notes[i];
		in[i].name = n->name;
		in[i].type = n->type;
		in[i].desc = n->desc;
		in[i].descsz = n->descsz;
		in[i].descsz_declared = n->descsz_declared;
		canon += 12 + ((strlen(n->name) + 1 + 3) & ~(size_t)3) +
			 ((n->descsz_declared + 3u) & ~3u);
	}
	/* padding, empty notes or 8-byte alignment made the area bigger */
	o.repacked = canon != d->note_len;
	cap = xnote_normalize_bound(in, d->nnotes, &o);
	out = malloc(cap);
	if (!out) {
		free(in);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	rc = xnote_normalize(in, d->nnotes, &o, out, cap, &outlen, fx);
	free(in);
	if (rc != XNOTE_OK) {
		free(out);
		return vmc_set_err(d, xstatus(rc), "normalising the Xen notes failed");
	}
	/* the parsed notes point into the old bytes: derive everything anew */
	free_derived(d);
	free(d->note_bytes);
	d->note_bytes = out;
	d->note_len = outlen;
	rc = vmc_notes_parse_areas(d, &start, &outlen, &off, 1, 4);
	if (rc >= 0)
		rc = vmc_notes_finish(d);
	if (rc >= 0)
		vmc_xen_read_strings(d);
	return rc < 0 ? rc : VMC_OK;
}

void vmc_xen_after_open(vmc_dump *d)
{
	const struct vmc_note *n = find_note(d, XNOTE_NAME_SALVAGE);
	const char *t, *end;

	if (!n)
		return;
	t = (const char *)n->desc;
	end = t + n->descsz;
	while (t < end) {
		const char *e = memchr(t, '\n', (size_t)(end - t));
		if (!e)
			e = end;
		if (e - t > 4 && memcmp(t, "FIX=", 4) == 0)
			vmc_warn(d, "xen notes fixed when this dump was written: %.*s",
				 (int)(e - t - 4), t + 4);
		t = e + 1;
	}
}
