/* plan.c - which page frames go into the dump, one cycle at a time.
 *
 * Bitmaps for the whole machine may not fit the memory budget (a 1 TiB machine
 * needs 32 MiB per bitmap), so frames are processed in cycles whose bitmaps do
 * fit, as makedumpfile's cyclic mode does.  bm1 = in the source's memory map,
 * bm2 = to be dumped: present in the source and not excluded by the level.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLS_CHUNK 65536          /* frames classified per call */
#define CYCLE_ALIGN 32768        /* keeps bitmap chunks block aligned */
#define DEFAULT_BUDGET (64u << 20)

int cap_plan_init(struct cap_plan *pl, vmc_dump *src, vmc_dump *guest, int level, size_t budget,
		  uint64_t cycle_pages, const unsigned *keep_ids, size_t nkeep_ids,
		  struct cap_result *r)
{
	memset(pl, 0, sizeof(*pl));
	pl->src = src;
	pl->guest = guest;
	if (guest && vmc_xen_core_p2m_frames(src, &pl->tree, &pl->ntree) != VMC_OK)
		pl->ntree = 0;
	pl->keep_ids = keep_ids;
	pl->nkeep_ids = nkeep_ids;
	pl->level = level & 31;    /* CAP_DL_XEN_DOMU is for xen-filter.c */
	pl->max_pfn = vmc_max_pfn(src);
	pl->page_size = vmc_page_size(src);
	pl->cyc_loaded = ~0ULL;
	if (!budget)
		budget = DEFAULT_BUDGET;

	if (vmc_xen(src)) {
		/* machine frames: classified by xen-filter.c (also takes -X) */
		if (cap_xen_plan_init(pl, level, r) < 0)
			return -ENOMEM;
	} else if (level & (VMC_DL_CACHE | VMC_DL_CACHE_PRIVATE | VMC_DL_USER | VMC_DL_FREE)) {
		/* by machine frame: classified by pfn (guest_classify) */
		int rc = vmc_mm_create(guest ? guest : src, &pl->mm);
		if (rc < 0) {
			/* save what we can: a bigger dump beats no dump */
			/* after what is there (the kernel log's fate); the
			 * level as given, without the internal -X bit */
			size_t used = strlen(r->notes);
			snprintf(r->notes + used, sizeof(r->notes) - used,
				 "%sdump level %d not applied, only zero pages excluded: %s",
				 used ? "; " : "", level & 31, vmc_errmsg(src));
			pl->mm = NULL;
			pl->level = level & VMC_DL_ZERO;
		}
	}
	/* half the budget for the two bitmaps; the rest holds the batches,
	 * write cache and descriptor buffer */
	uint64_t per_bitmap = budget / 4;
	uint64_t cyc = per_bitmap * 8 / CYCLE_ALIGN * CYCLE_ALIGN;
	uint64_t need = (pl->max_pfn + CYCLE_ALIGN - 1) / CYCLE_ALIGN * CYCLE_ALIGN;
	if (cyc < CYCLE_ALIGN)
		cyc = CYCLE_ALIGN;
	if (cyc > need)
		cyc = need ? need : CYCLE_ALIGN;
	if (cycle_pages)
		cyc = (cycle_pages + 63) / 64 * 64;
	pl->cycle_pfns = cyc;
	pl->ncycles = (pl->max_pfn + cyc - 1) / cyc;
	pl->bm1 = malloc((size_t)(cyc / 8));
	pl->bm2 = malloc((size_t)(cyc / 8));
	pl->cls = malloc(CLS_CHUNK);
	if (!pl->bm1 || !pl->bm2 || !pl->cls)
		return -ENOMEM;
	return 0;
}

void cap_plan_fini(struct cap_plan *pl)
{
	if (pl->mm)
		vmc_mm_destroy(pl->mm);
	cap_xen_plan_fini(pl);
	free(pl->bm1);
	free(pl->bm2);
	free(pl->cls);
	memset(pl, 0, sizeof(*pl));
}

/* A PV guest by machine frame: each frame classified by its pfn, runs of
 * consecutive pfns at once; the P2M tree's pages are always kept (crash(8)
 * reads the dump through them, docs/formats.md §4.9). */
static int guest_classify(struct cap_plan *pl, uint64_t start, uint64_t n, uint8_t *cls)
{
	for (uint64_t i = 0, run; i < n; i += run) {
		uint64_t pfn, p;
		run = 1;
		if (vmc_xen_core_mfn_to_pfn(pl->src, start + i, &pfn) != VMC_OK) {
			cls[i] = VMC_PC_KEEP;   /* not in the memory map: bm2 is clear */
			continue;
		}
		while (i + run < n && run < CLS_CHUNK &&
		       vmc_xen_core_mfn_to_pfn(pl->src, start + i + run, &p) == VMC_OK &&
		       p == pfn + run)
			run++;
		int rc = vmc_mm_classify(pl->mm, pfn, run, cls + i);
		if (rc < 0)
			return rc;
	}
	/* the tree's frames in [start, start + n) */
	size_t lo = 0, hi = pl->ntree;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pl->tree[mid] < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < pl->ntree && pl->tree[lo] - start < n; lo++)
		cls[pl->tree[lo] - start] = VMC_PC_KEEP;
	return 0;
}

static void set_bit(uint8_t *bm, uint64_t i)
{
	bm[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static void clear_bit(uint8_t *bm, uint64_t i)
{
	bm[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

int cap_plan_cycle(struct cap_plan *pl, uint64_t c)
{
	uint64_t start = c * pl->cycle_pfns;
	uint64_t end = start + pl->cycle_pfns;
	uint64_t ps = pl->page_size;
	/* counters are summed on the first pass over the cycles only */
	bool count = c == pl->counted;

	if (pl->cyc_loaded == c)
		return 0;
	if (end > pl->max_pfn)
		end = pl->max_pfn;
	memset(pl->bm1, 0, (size_t)(pl->cycle_pfns / 8));
	memset(pl->bm2, 0, (size_t)(pl->cycle_pfns / 8));
	pl->cyc_start = start;
	pl->cyc_end = end;

	for (size_t ri = 0; ri < vmc_range_count(pl->src); ri++) {
		const struct vmc_range *rg = &vmc_ranges(pl->src)[ri];
		uint64_t a = rg->start / ps, b = (rg->end + ps - 1) / ps;
		if (a < start)
			a = start;
		if (b > end)
			b = end;
		for (uint64_t p = a, run; p < b; p += run) {
			enum vmc_page_state st = vmc_page_state_run(pl->src, p, b - p, &run);
			if (st == VMC_PAGE_HOLE)
				continue;
			for (uint64_t q = p; q < p + run; q++) {
				set_bit(pl->bm1, q - start);
				if (st == VMC_PAGE_PRESENT)
					set_bit(pl->bm2, q - start);
			}
			if (count)
				pl->pages_ram += run;
		}
		if (!pl->mm && !pl->xen)
			continue;
		for (uint64_t s = a; s < b; s += CLS_CHUNK) {
			uint64_t n = b - s < CLS_CHUNK ? b - s : CLS_CHUNK;
			int rc = pl->xen ? cap_xen_classify(pl, s, n, pl->cls)
				 : pl->guest ? guest_classify(pl, s, n, pl->cls)
					     : vmc_mm_classify(pl->mm, s, n, pl->cls);
			if (rc < 0)
				return rc;
			for (uint64_t i = 0; i < n; i++) {
				uint8_t k = pl->cls[i];
				if (!cap_bit(pl->bm2, s + i - start) ||
				    (k != CAP_PC_DROP &&
				     !vmc_pclass_excluded(pl->level, (enum vmc_pclass)k)))
					continue;
				clear_bit(pl->bm2, s + i - start);
				if (count && k < 8)
					pl->excluded[k]++;
			}
		}
	}
	if (count) {
		for (uint64_t i = 0; i < (end - start + 7) / 8; i++)
			pl->pages_dumpable += (uint64_t)__builtin_popcount(pl->bm2[i]);
		pl->counted = c + 1;
	}
	pl->cyc_loaded = c;
	return 0;
}
