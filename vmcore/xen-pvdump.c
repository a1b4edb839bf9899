/* xen-pvdump.c - a PV guest's dump by machine frame (docs/formats.md §4.9):
 * the machine view of a PV core that salvage-capture writes from, and the
 * reading back of what it wrote (or of an older pfn-addressed dump written
 * from a PV core).
 *
 * crash(8) reads a PV kernel's page tables in machine frames and then
 * turns each frame back into a pfn through the guest's P2M tree, which it
 * finds through a Xen CRASH_INFO note; it reads the dump itself by machine
 * frame.  So the writers get the core's pages by machine frame (the
 * machine view: loads by MFN), keep the P2M tree's pages, and add that note
 * and a SALVAGE_P2M note of type 1 holding the (pfn, mfn, count) runs.  A
 * reader finding that note translates every pfn to its machine frame before
 * reading the file (dump.c), so the dump reads as the core did.
 */
#include "xen-core.h"

#include <stdlib.h>

const struct xrun *vmc_xcore_find_run(const struct xrun *r, size_t n, uint64_t v, bool by_mfn)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {      /* first run starting after v */
		size_t mid = lo + (hi - lo) / 2;
		if ((by_mfn ? r[mid].mfn : r[mid].pfn) <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	const struct xrun *c = &r[lo - 1];
	return v - (by_mfn ? c->mfn : c->pfn) < c->n ? c : NULL;
}

size_t vmc_xcore_p2m_runs(const struct vmc_xcore *x, uint8_t *out)
{
	uint64_t rp = 0, rm = 0, rc = 0;
	size_t n = 0;

	for (size_t k = 0; k <= x->n; k++) {
		const struct xent *t = k < x->n ? &x->by_pfn[k] : NULL;
		if (t && t->gmfn == INVALID_ENTRY)
			continue;
		if (t && rc && rp + rc == t->pfn && rm + rc == t->gmfn) {
			rc++;
			continue;
		}
		if (rc) {
			if (out) {
				le_put64(out + n * 24, rp);
				le_put64(out + n * 24 + 8, rm);
				le_put64(out + n * 24 + 16, rc);
			}
			n++;
		}
		if (t) {
			rp = t->pfn;
			rm = t->gmfn;
			rc = 1;
		}
	}
	return n;
}

/* ---- the machine view of a PV core ------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static size_t uniq(uint64_t *v, size_t n)
{
	size_t k = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

/* One page of the tree, by machine frame, from the core (still by pfn). */
static int read_tree_page(vmc_dump *d, uint64_t mfn, uint8_t *buf)
{
	uint64_t pfn;

	if (vmc_xen_core_mfn_to_pfn(d, mfn, &pfn) != VMC_OK)
		return VMC_NOPAGE;
	return vmc_read_page(d, pfn, buf);
}

/* As crash's x86_64_xen_kdump_p2m_create: the frame list list, the mid
 * pages it names up to the first zero entry, the leaf pages they name
 * (their non-zero entries).  The shared "missing" pages come out once. */
int vmc_xcore_p2m_tree(vmc_dump *d, struct vmc_xcore *x)
{
	uint64_t *mids = NULL, *all = NULL;
	uint8_t *buf = NULL;
	size_t nmid = 0, n = 0, bad = 0;
	int rc = VMC_OK;

	if (!x->fll)
		return VMC_OK;
	buf = malloc(PAGE);
	mids = malloc(512 * sizeof(*mids));
	if (!buf || !mids) {
		rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (read_tree_page(d, x->fll, buf) != VMC_OK) {
		vmc_warn(d, "Xen PV guest: the p2m frame list list (mfn 0x%llx) is not in the dump: crash(8) cannot read dumps written from it",
			 (unsigned long long)x->fll);
		d->errmsg[0] = 0;
		goto out;
	}
	for (size_t i = 0; i < 512; i++) {
		uint64_t m = le_get64(buf + i * 8);
		if (!m)
			break;
		mids[nmid++] = m;
	}
	nmid = uniq(mids, nmid);
	/* the top page, the mid pages, at most 512 leaves per mid page */
	all = malloc((1 + nmid + nmid * 512) * sizeof(*all));
	if (!all) {
		rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		goto out;
	}
	all[n++] = x->fll;
	for (size_t i = 0; i < nmid; i++) {
		if (read_tree_page(d, mids[i], buf) != VMC_OK) {
			bad++;
			continue;
		}
		all[n++] = mids[i];
		for (size_t k = 0; k < 512; k++) {
			uint64_t m = le_get64(buf + k * 8);
			if (m && m != INVALID_ENTRY)
				all[n++] = m;
		}
	}
	d->errmsg[0] = 0;
	n = uniq(all, n);
	/* only the guest's own frames can be kept */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t pfn;
		if (vmc_xen_core_mfn_to_pfn(d, all[i], &pfn) == VMC_OK)
			all[k++] = all[i];
		else
			bad++;
	}
	if (bad)
		vmc_warn(d, "Xen PV guest: %zu pages of the p2m tree are not the guest's or not in the dump",
			 bad);
	x->tree = all;
	x->ntree = k;
	all = NULL;
out:
	free(all);
	free(mids);
	free(buf);
	return rc;
}

size_t vmc_xcore_crash_info_note(const struct vmc_xcore *x, uint8_t *out)
{
	if (!x->fll)
		return 0;
	if (out) {
		memset(out, 0, 16 + CRASH_INFO_SIZE);
		le_put32(out, 4);
		le_put32(out + 4, CRASH_INFO_SIZE);
		le_put32(out + 8, NT_XEN_CRASH_INFO);
		memcpy(out + 12, "Xen", 4);
		/* the version crash shows; the other words are the host's */
		le_put64(out + 16, x->pub.xen_major == ~0ULL ? 0 : x->pub.xen_major);
		le_put64(out + 24, x->pub.xen_minor == ~0ULL ? 0 : x->pub.xen_minor);
		le_put64(out + 16 + CRASH_INFO_SIZE - 8, x->fll);
	}
	return 16 + CRASH_INFO_SIZE;
}

int vmc_xcore_machine_view(vmc_dump *d, struct vmc_xcore *x)
{
	struct vmc_elf *e = &d->elf;
	bool cut;
	int rc;

	if (!x->nm)
		return VMC_OK;
	free(e->loads);
	free(e->cover_end);
	free(d->ranges);
	e->cover_end = NULL;
	d->ranges = NULL;
	d->nranges = 0;
	d->pages_total = d->pages_present = 0;
	/* the pfn view's loads already warned of a cut */
	rc = vmc_xcore_fill_loads(d, x->by_mfn, x->nm, true, x->pages_off, &cut);
	if (rc != VMC_OK)
		return rc;
	x->machine_view = true;
	memset(&d->vtop, 0, sizeof(d->vtop));
	return vmc_elf_build_index(d);
}

bool vmc_machine_frames(const vmc_dump *d)
{
	return d->xcore && d->xcore->machine_view;
}

int vmc_xen_core_p2m_frames(const vmc_dump *d, const uint64_t **mfns, size_t *n)
{
	if (!d->xcore || !d->xcore->tree)
		return VMC_ERR_NOTFOUND;
	*mfns = d->xcore->tree;
	*n = d->xcore->ntree;
	return VMC_OK;
}

/* ---- a dump written from a PV guest core ------------------------------------------- */

/* Its SALVAGE_P2M note ((pfn, mfn, count) runs) gives the table back, so
 * that its page tables are walked as the core's were; type 1: the file is
 * by machine frame, and every pfn is read through the runs. */
static int cmp_run_pfn(const void *a, const void *b)
{
	const struct xrun *x = a, *y = b;
	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

static int cmp_run_mfn(const void *a, const void *b)
{
	const struct xrun *x = a, *y = b;
	return x->mfn < y->mfn ? -1 : x->mfn > y->mfn;
}

int vmc_xcore_pfn_run(const vmc_dump *d, uint64_t pfn, uint64_t *mfn, uint64_t *n)
{
	const struct vmc_xcore *x = d->xcore;
	const struct xrun *r = x->runs_pfn;
	size_t lo = 0, hi = x->nruns;

	while (lo < hi) {      /* first run starting after pfn */
		size_t mid = lo + (hi - lo) / 2;
		if (r[mid].pfn <= pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && pfn - r[lo - 1].pfn < r[lo - 1].n) {
		*mfn = r[lo - 1].mfn + (pfn - r[lo - 1].pfn);
		*n = r[lo - 1].n - (pfn - r[lo - 1].pfn);
		return VMC_OK;
	}
	*n = lo < x->nruns ? r[lo].pfn - pfn : UINT64_MAX;
	return VMC_NOPAGE;
}

/* The dump's frames are machine frames: its ranges become the runs' pfns. */
static int machine_file(vmc_dump *d, struct vmc_xcore *x)
{
	struct vmc_range *rg = malloc(x->nruns * sizeof(*rg));
	uint64_t max = 0;

	if (!rg)
		return VMC_ERR_NOMEM;
	for (size_t i = 0; i < x->nruns; i++) {
		rg[i].start = x->runs_pfn[i].pfn * PAGE;
		rg[i].end = (x->runs_pfn[i].pfn + x->runs_pfn[i].n) * PAGE;
		if (x->runs_pfn[i].pfn + x->runs_pfn[i].n > max)
			max = x->runs_pfn[i].pfn + x->runs_pfn[i].n;
	}
	x->file_ranges = d->ranges;      /* the file's own, for VMC_OPEN_MACHINE_FRAMES */
	x->nfile_ranges = d->nranges;
	d->ranges = rg;
	d->nranges = vmc_ranges_merge(rg, x->nruns);
	d->pages_total = 0;
	for (size_t i = 0; i < d->nranges; i++)
		d->pages_total += (d->ranges[i].end - d->ranges[i].start) / PAGE;
	x->machine_file = true;
	x->file_frames = d->max_pfn;
	d->max_pfn = max;
	return VMC_OK;
}

/* A dump by machine frame opened with VMC_OPEN_MACHINE_FRAMES (to be
 * written again, filtered or recompressed): the P2M tree from its
 * CRASH_INFO (read by pfn first), then its own frames, untranslated, as the
 * machine view of a core. */
static void machine_again(vmc_dump *d, struct vmc_xcore *x)
{
	if (!(d->open_flags & VMC_OPEN_MACHINE_FRAMES))
		return;
	for (size_t i = 0; i < d->nnotes; i++) {
		const struct vmc_note *nt = &d->notes[i];
		if (nt->type == NT_XEN_CRASH_INFO && strcmp(nt->name, "Xen") == 0 &&
		    nt->descsz >= 8 && nt->descsz % 8 == 0)
			x->fll = le_get64(nt->desc + nt->descsz - 8);
	}
	if (x->fll >= PFN_LIMIT)
		x->fll = 0;
	if (vmc_xcore_p2m_tree(d, x) < 0)
		d->errmsg[0] = 0;
	free(d->ranges);
	d->ranges = x->file_ranges;
	d->nranges = x->nfile_ranges;
	x->file_ranges = NULL;
	d->max_pfn = x->file_frames;
	x->machine_file = false;
	x->machine_view = true;
	memset(&d->vtop, 0, sizeof(d->vtop));
}

bool vmc_pv_by_machine(const vmc_dump *d)
{
	return d->xcore && d->xcore->machine_file;
}

void vmc_xcore_after_open(vmc_dump *d)
{
	const struct vmc_note *nt = NULL;
	struct vmc_xcore *x;
	struct xrun *rp, *rm;
	size_t n;
	bool mach;

	if (d->xcore || d->machine != EM_X86_64 || d->page_size != PAGE)
		return;
	for (size_t i = 0; i < d->nnotes; i++)
		if ((d->notes[i].type == 0 || d->notes[i].type == P2M_NOTE_MACHINE) &&
		    strcmp(d->notes[i].name, P2M_NOTE) == 0)
			nt = &d->notes[i];
	if (!nt)
		return;
	mach = nt->type == P2M_NOTE_MACHINE;
	n = nt->descsz / 24;
	if (nt->descsz % 24 || !n || n > P2M_NOTE_MAX_RUNS) {
		vmc_warn(d, "%s note of %u bytes is not a list of (pfn, mfn, count) runs: ignored",
			 P2M_NOTE, nt->descsz);
		return;
	}
	rp = malloc(n * sizeof(*rp));
	rm = malloc(n * sizeof(*rm));
	x = calloc(1, sizeof(*x));
	if (!rp || !rm || !x)
		goto drop;
	for (size_t i = 0; i < n; i++) {
		uint64_t e, f;
		rp[i].pfn = le_get64(nt->desc + i * 24);
		rp[i].mfn = le_get64(nt->desc + i * 24 + 8);
		rp[i].n = le_get64(nt->desc + i * 24 + 16);
		/* the file's frames are the pfns (type 0) or the mfns (type 1) */
		if (!rp[i].n || !vmc_add_ok(rp[i].pfn, rp[i].n, &e) ||
		    e > (mach ? PFN_LIMIT : d->max_pfn) || !vmc_add_ok(rp[i].mfn, rp[i].n, &f) ||
		    f > (mach ? d->max_pfn : PFN_LIMIT)) {
			vmc_warn(d, "%s note: run %zu (pfn 0x%llx, mfn 0x%llx, %llu frames) outside the dump's 0x%llx frames: ignored",
				 P2M_NOTE, i, (unsigned long long)rp[i].pfn,
				 (unsigned long long)rp[i].mfn, (unsigned long long)rp[i].n,
				 (unsigned long long)d->max_pfn);
			goto drop;
		}
	}
	memcpy(rm, rp, n * sizeof(*rm));
	qsort(rp, n, sizeof(*rp), cmp_run_pfn);
	qsort(rm, n, sizeof(*rm), cmp_run_mfn);
	for (size_t i = 1; i < n; i++)
		if (rp[i - 1].pfn + rp[i - 1].n > rp[i].pfn || rm[i - 1].mfn + rm[i - 1].n > rm[i].mfn) {
			vmc_warn(d, "%s note: runs overlap: ignored", P2M_NOTE);
			goto drop;
		}
	x->from_note = true;
	x->runs_pfn = rp;
	x->runs_mfn = rm;
	x->nruns = n;
	if (mach && machine_file(d, x) < 0)
		goto drop;
	d->xcore = x;
	memset(&d->vtop, 0, sizeof(d->vtop));
	vmc_xcore_find_page_offset(d);
	if (mach)
		machine_again(d, x);
	return;
drop:
	free(rp);
	free(rm);
	free(x);
}
