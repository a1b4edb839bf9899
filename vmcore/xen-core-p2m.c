/* xen-core-p2m.c - a Xen guest core's pfn table (`.xen_p2m`, (pfn, gmfn)
 * pairs of a PV guest, or `.xen_pfn`, pfns of an HVM one: docs/formats.md
 * §4.9), whose entry i describes page i of `.xen_pages`: the table sorted
 * by pfn (and, PV, by machine frame), the pfn <-> mfn lookups, the ELF
 * loads over the file that elf.c reads the pages through, and the
 * page-table walk of a PV guest, whose tables hold machine frames.
 */
#include "internal.h"

#include <stdlib.h>

#include "xen-core.h"

const struct xent *vmc_xcore_find_pfn(const struct vmc_xcore *x, uint64_t pfn)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->by_pfn[mid].pfn == pfn)
			return &x->by_pfn[mid];
		if (x->by_pfn[mid].pfn < pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct xent *find_mfn(const struct vmc_xcore *x, uint64_t mfn)
{
	size_t lo = 0, hi = x->nm;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->by_mfn[mid].gmfn == mfn)
			return &x->by_mfn[mid];
		if (x->by_mfn[mid].gmfn < mfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int vmc_xen_core_pfn_to_mfn(const vmc_dump *d, uint64_t pfn, uint64_t *mfn)
{
	const struct xent *e;

	if (d->xcore && d->xcore->runs_pfn) {
		const struct xrun *r = vmc_xcore_find_run(d->xcore->runs_pfn, d->xcore->nruns, pfn, false);
		if (!r)
			return VMC_NOPAGE;
		*mfn = r->mfn + (pfn - r->pfn);
		return VMC_OK;
	}

	if (!d->xcore || d->xcore->pub.hvm || !(e = vmc_xcore_find_pfn(d->xcore, pfn)) ||
	    e->gmfn == INVALID_ENTRY)
		return VMC_NOPAGE;
	*mfn = e->gmfn;
	return VMC_OK;
}

int vmc_xen_core_mfn_to_pfn(const vmc_dump *d, uint64_t mfn, uint64_t *pfn)
{
	const struct xent *e;

	if (d->xcore && d->xcore->runs_mfn) {
		const struct xrun *r = vmc_xcore_find_run(d->xcore->runs_mfn, d->xcore->nruns, mfn, true);
		if (!r)
			return VMC_NOPAGE;
		*pfn = r->pfn + (mfn - r->mfn);
		return VMC_OK;
	}

	if (!d->xcore || d->xcore->pub.hvm || !(e = find_mfn(d->xcore, mfn)))
		return VMC_NOPAGE;
	*pfn = e->pfn;
	return VMC_OK;
}

/* ---- the page-table walk ------------------------------------------------------ */

/* Machine memory of a PV guest: its own frames only, through the table. */
static int read_machine(void *arg, uint64_t ma, void *buf, size_t len)
{
	vmc_dump *d = arg;
	uint64_t pfn;

	if (vmc_xen_core_mfn_to_pfn(d, ma / PAGE, &pfn) != VMC_OK || ma % PAGE + len > PAGE)
		return VMC_NOPAGE;
	return vmc_read_phys(d, pfn * PAGE + ma % PAGE, buf, len);
}

static int read_phys(void *arg, uint64_t pa, void *buf, size_t len)
{
	return vmc_read_phys(arg, pa, buf, len);
}

int vmc_xcore_pt_walk(vmc_dump *d, uint64_t root, int levels, uint64_t clear, uint64_t va,
		      uint64_t *pa, struct xnote_pt_stop *st)
{
	uint64_t root_mfn, ma, pfn;
	int rc;

	if (d->xcore->pub.hvm)
		return xnote_pt_walk(read_phys, d, root, levels, clear, va, pa, st);
	if (vmc_xen_core_pfn_to_mfn(d, root / PAGE, &root_mfn) != VMC_OK) {
		st->level = levels;
		st->table = root;
		st->unmapped = false;
		return VMC_NOPAGE;
	}
	rc = xnote_pt_walk(read_machine, d, root_mfn * PAGE + root % PAGE, levels, clear, va, &ma, st);
	if (rc != VMC_OK) {
		/* name the table by the guest's frame when it has one */
		if (vmc_xen_core_mfn_to_pfn(d, st->table / PAGE, &pfn) == VMC_OK)
			st->table = pfn * PAGE + st->table % PAGE;
		return rc;
	}
	if (vmc_xen_core_mfn_to_pfn(d, ma / PAGE, &pfn) != VMC_OK) {
		/* a grant or foreign mapping, or Xen's: not the guest's memory */
		st->unmapped = true;
		st->level = 1;
		st->table = ma;
		return VMC_NOPAGE;
	}
	*pa = pfn * PAGE + ma % PAGE;
	return VMC_OK;
}

/* ---- the pfn table ------------------------------------------------------------------ */

static int cmp_pfn(const void *a, const void *b)
{
	const struct xent *x = a, *y = b;
	if (x->pfn != y->pfn)
		return x->pfn < y->pfn ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_mfn(const void *a, const void *b)
{
	const struct xent *x = a, *y = b;
	if (x->gmfn != y->gmfn)
		return x->gmfn < y->gmfn ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Entries whose page lies past the end of the file are kept (they read as
 * incomplete), but only this many more than the file has pages for: the
 * memory for the table stays in proportion to the file. */
#define MAX_MISSING_ENTRIES (1u << 20)

int vmc_xcore_read_table(vmc_dump *d, struct vmc_xcore *x, const struct section *tab,
			 const struct section *pages, uint64_t npages)
{
	unsigned esz = x->pub.hvm ? 8 : 16;
	uint64_t avail = vmc_xcore_section_avail(d, tab), count;
	uint64_t past = 0, big = 0, first_past = 0, first_big = 0;
	uint64_t fsize = d->io->size, limit, over = 0;
	uint8_t *buf;
	int rc = VMC_OK;

	if (tab->size % esz)
		vmc_warn(d, "Xen dump-core: %s is 0x%llx bytes, not a whole number of %u-byte entries",
			 tab->name, (unsigned long long)tab->size, esz);
	if (tab->entsize && tab->entsize != esz)
		vmc_warn(d, "Xen dump-core: %s entry size %llu (%u expected); read as %u",
			 tab->name, (unsigned long long)tab->entsize, esz, esz);
	/* a flattened stream's virtual file may claim more than it stores */
	count = (avail < d->io->stored ? avail : d->io->stored) / esz;
	x->pub.entries = count;
	if (x->pub.header_pages != tab->size / esz)
		vmc_warn(d, "Xen dump-core: header says %llu pages, %s has %llu entries",
			 (unsigned long long)x->pub.header_pages, tab->name,
			 (unsigned long long)(tab->size / esz));
	/* at most one entry per page of .xen_pages, and those past the end of
	 * the file bounded: the allocation follows the file's size */
	limit = (pages->off < fsize ? (fsize - pages->off) / PAGE + 1 : 0) + MAX_MISSING_ENTRIES;
	if (limit > npages)
		limit = npages;
	if (limit > count)
		limit = count;
	x->by_pfn = malloc((limit ? limit : 1) * sizeof(*x->by_pfn));
	buf = malloc((size_t)TABLE_CHUNK * esz);
	if (!x->by_pfn || !buf) {
		free(buf);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory for %llu table entries",
				   (unsigned long long)count);
	}
	for (uint64_t i = 0; i < count; i += TABLE_CHUNK) {
		size_t m = count - i < TABLE_CHUNK ? (size_t)(count - i) : TABLE_CHUNK;
		rc = vmc_io_read_exact(d, buf, m * esz, tab->off + i * esz, tab->name);
		if (rc < 0)
			goto out;
		for (size_t k = 0; k < m; k++) {
			uint64_t pfn = le_get64(buf + k * esz);
			uint64_t gmfn = x->pub.hvm ? pfn : le_get64(buf + k * esz + 8);
			if (pfn == INVALID_ENTRY) {
				x->pub.padding++;
				continue;
			}
			if (i + k >= npages) {
				if (!past++)
					first_past = i + k;
				continue;
			}
			if (pfn >= PFN_LIMIT) {
				if (!big++)
					first_big = i + k;
				continue;
			}
			if (x->n >= limit) {
				over++;
				continue;
			}
			x->by_pfn[x->n].pfn = pfn;
			x->by_pfn[x->n].gmfn = gmfn;
			x->by_pfn[x->n].idx = i + k;
			x->n++;
		}
	}
	if (past)
		vmc_warn(d, "Xen dump-core: %llu entries of %s (the first: entry %llu) point past the %llu pages of .xen_pages: ignored",
			 (unsigned long long)past, tab->name, (unsigned long long)first_past,
			 (unsigned long long)npages);
	if (big)
		vmc_warn(d, "Xen dump-core: %llu entries of %s (the first: entry %llu) name a pfn beyond 2^40: ignored",
			 (unsigned long long)big, tab->name, (unsigned long long)first_big);
	if (over)
		vmc_warn(d, "Xen dump-core: %llu entries of %s beyond what the file can hold pages for (its pages and 2^20 more): ignored",
			 (unsigned long long)over, tab->name);
	x->pub.dropped = past + big + over;
	qsort(x->by_pfn, x->n, sizeof(*x->by_pfn), cmp_pfn);
	{
		size_t u = 0;
		uint64_t dups = 0, first_dup = 0;
		for (size_t k = 0; k < x->n; k++) {
			if (u && x->by_pfn[u - 1].pfn == x->by_pfn[k].pfn) {
				if (!dups++)
					first_dup = x->by_pfn[k].pfn;
				continue;
			}
			x->by_pfn[u++] = x->by_pfn[k];
		}
		x->n = u;
		if (dups)
			vmc_warn(d, "Xen dump-core: %llu duplicate pfns in %s (the first: pfn 0x%llx): the first entry of each is used",
				 (unsigned long long)dups, tab->name, (unsigned long long)first_dup);
		x->pub.dropped += dups;
	}
	x->pub.pages = x->n;
	if (!x->pub.hvm) {
		size_t u = 0;
		uint64_t dups = 0, first_dup = 0;
		x->by_mfn = malloc((x->n ? x->n : 1) * sizeof(*x->by_mfn));
		if (!x->by_mfn) {
			rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
			goto out;
		}
		/* a machine frame from 2^40 on has no machine address (frame *
		 * 4096 can wrap): such a pfn is read by pfn only */
		uint64_t nmbig = 0, big_pfn = 0, big_mfn = 0;
		for (size_t k = 0; k < x->n; k++) {
			const struct xent *t = &x->by_pfn[k];
			if (t->gmfn == INVALID_ENTRY)
				continue;
			if (t->gmfn >= PFN_LIMIT) {
				if (!nmbig++)
					big_pfn = t->pfn, big_mfn = t->gmfn;
				continue;
			}
			x->by_mfn[u++] = *t;
		}
		x->pub.machineless = nmbig;
		if (nmbig)
			vmc_warn(d, "Xen dump-core: %llu entries of .xen_p2m give a machine frame beyond 2^40 (the first: pfn 0x%llx, mfn 0x%llx): those pages are read by pfn only, and a dump written by machine frame leaves them out",
				 (unsigned long long)nmbig, (unsigned long long)big_pfn,
				 (unsigned long long)big_mfn);
		qsort(x->by_mfn, u, sizeof(*x->by_mfn), cmp_mfn);
		x->nm = 0;
		for (size_t k = 0; k < u; k++) {
			if (x->nm && x->by_mfn[x->nm - 1].gmfn == x->by_mfn[k].gmfn) {
				if (!dups++)
					first_dup = x->by_mfn[k].gmfn;
				continue;
			}
			x->by_mfn[x->nm++] = x->by_mfn[k];
		}
		if (dups)
			vmc_warn(d, "Xen dump-core: %llu machine frames given to more than one pfn in .xen_p2m (the first: 0x%llx): page tables read through the lowest pfn",
				 (unsigned long long)dups, (unsigned long long)first_dup);
	}
out:
	free(buf);
	return rc;
}

/* Loads over the file, one per run of consecutive frames (pfns, or with
 * mfn the machine frames) whose pages are stored one after the other in
 * .xen_pages at pages_off; ents sorted by that frame.  Sets *cut when
 * the file ends inside a load.  Also the machine view (xen-pvdump.c). */
int vmc_xcore_fill_loads(vmc_dump *d, const struct xent *ents, size_t n, bool mfn,
			 uint64_t pages_off, bool *cut)
{
	struct vmc_elf *e = &d->elf;
	uint64_t fsize = d->io->size;
	size_t nl = 0;

	*cut = false;
	e->loads = calloc(n ? n : 1, sizeof(*e->loads));
	if (!e->loads)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	for (size_t k = 0; k < n; k++) {
		const struct xent *t = &ents[k];
		/* below PFN_LIMIT: vmc_xcore_read_table refuses larger pfns
		 * and leaves larger gmfns out of by_mfn, so frame * PAGE
		 * cannot wrap */
		uint64_t frame = mfn ? t->gmfn : t->pfn;
		struct vmc_elf_load *l = nl ? &e->loads[nl - 1] : NULL;
		if (l && l->paddr + l->memsz == frame * PAGE &&
		    l->offset + l->memsz == pages_off + t->idx * PAGE) {
			l->memsz += PAGE;
			continue;
		}
		l = &e->loads[nl++];
		l->paddr = frame * PAGE;
		l->offset = pages_off + t->idx * PAGE;   /* idx < pages: no overflow */
		l->memsz = PAGE;
	}
	e->nloads = nl;
	for (size_t i = 0; i < nl; i++) {
		struct vmc_elf_load *l = &e->loads[i];
		l->filesz_declared = l->memsz;
		if (l->offset >= fsize)
			l->filesz = 0;
		else
			l->filesz = fsize - l->offset < l->memsz ? fsize - l->offset : l->memsz;
		*cut |= l->filesz < l->memsz;
	}
	return VMC_OK;
}

int vmc_xcore_build_loads(vmc_dump *d, struct vmc_xcore *x, const struct section *pages)
{
	struct vmc_elf *e = &d->elf;
	bool cut;
	int rc = vmc_xcore_fill_loads(d, x->by_pfn, x->n, false, pages->off, &cut);

	if (rc != VMC_OK)
		return rc;
	if (cut) {
		vmc_warn(d, "Xen dump-core: .xen_pages is cut short by the end of the file: truncated, the pages past it are missing");
		d->incomplete = true;
	}
	e->machine = EM_X86_64;
	return vmc_elf_build_index(d);
}
