/* dedup.c - identical pages stored once.
 *
 * A kdump descriptor points at its page's data by file offset, and nothing
 * requires offsets to be distinct: makedumpfile already points every zero page
 * at one shared copy.  We do the same for any repeated content (a real 6.1
 * dump had 14,473 duplicates among 34,043 non-zero pages).  The table maps a
 * 64-bit content hash (XXH3) to the first page stored with that content; a
 * hit is only used after its bytes compare equal, so a hash collision can
 * cost a comparison, never correctness.  The table is bounded (4-way
 * buckets, the oldest way replaced) and filled in page order, so the output
 * is deterministic.
 *
 * What it must never do is cost more than it saves (DESIGN.md, capture):
 * - a page seen for the first time costs a sampled hash and a table entry,
 *   never a copy of its bytes: most pages are never seen again;
 * - a hash seen for the second time is verified against the first copy
 *   re-read from the source, within a budget (64 + 1/64 of the pages looked
 *   at, plus one per re-read that found a duplicate); a second sighting
 *   that cannot be verified is stored, and its bytes are kept in the hot
 *   ring (the budget's 3/16): from then on, hits are compared with bytes in
 *   memory;
 * - pages are looked at in windows of WINDOW, and each window keeps an
 *   account in units of the work of looking at one page (hash, table
 *   look-up and entry, about 0.2 us): looking costs 1 a page, a copy into
 *   the ring or a comparison that fails 2, a re-read 8; a duplicate saves
 *   compressing the page (hit_units: what the codec costs a page against
 *   looking, measured on the workload vmcore, rounded down) and writing
 *   its bytes (1 a 512 bytes).  A window that saved less than it cost turns
 *   the next windows off (no hash, no table, no copy): 1, then 3, then
 *   OFF_WINDOWS while the sample window after them keeps failing; a window
 *   that pays resets that.
 * Every decision depends only on the pages in page order, never on timing,
 * so the output is the same for any thread count.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define WAYS CAP_DEDUP_WAYS
#define WINDOW 4096u
#define OFF_WINDOWS 7u
#define NO_RING UINT64_MAX
/* With workers, a page whose hash a worker saw before is left to the writer
 * instead of being compressed (pool.c's seen set): that costs every page a
 * probe of a shared table (about 2 units, random memory, measured on the
 * 1 GiB vmcore at -d 31, where it made de-duplication 13% dearer than
 * --no-dedup) and saves a hit its compression.  The workers do it only
 * while the last window's hits paid for the probes. */
#define SKIP_UNITS 2u

/* The hash only finds candidates (a hit is compared byte for byte), so it
 * reads a sample: 8 spans of 64 bytes spread over the page, an eighth of a
 * 4 KiB page.  Pages that differ only outside the sample share a hash: the
 * later one replaces the earlier in the table, costing a missed duplicate,
 * never a wrong one. */
#define SPANS 8
#define SPAN 64

void cap_page_hash(const uint8_t *page, size_t len, struct cap_hash *h)
{
	if (len < SPANS * SPAN * 2) {
		h->v = XXH3_64bits(page, len);
		return;
	}
	uint8_t s[SPANS * SPAN];
	size_t stride = (len - SPAN) / (SPANS - 1);
	for (size_t i = 0; i < SPANS; i++)
		memcpy(s + i * SPAN, page + i * stride, SPAN);
	h->v = XXH3_64bits(s, sizeof(s));
}

/* What a duplicate saves in compressing, in units of looking at a page
 * (DESIGN.md, capture: CPU per page of each codec on the workload
 * vmcore at -d 1, less reading, against 0.2 us a look; rounded down, so
 * that doubt turns looking off). */
static unsigned hit_units(unsigned codec, int level)
{
	switch (codec) {
	case VMC_COMP_LZO:
	case VMC_COMP_SNAPPY:
		return 8;
	case VMC_COMP_ZSTD:
		return level < 0 ? 16 : 28;
	case VMC_COMP_ZLIB:
		return 96;
	default:
		return 0;
	}
}

/* A table of n buckets (zeroed, not yet touched) in place of d's; on
 * failure d's stays. */
static int table_new(struct cap_dedup *d, size_t n)
{
	struct cap_dedup_entry *e = calloc(n * WAYS, sizeof(*e));
	uint64_t *hv = calloc(n * WAYS, sizeof(*hv));
	uint8_t *rr = calloc(n, 1);

	if (!e || !hv || !rr) {
		free(e);
		free(hv);
		free(rr);
		return -ENOMEM;
	}
	free(d->e);
	free(d->hv);
	free(d->rr);
	d->e = e;
	d->hv = hv;
	d->rr = rr;
	d->mask = n - 1;
	return 0;
}

int cap_dedup_init(struct cap_dedup *d, size_t bytes, size_t ring_bytes, size_t page_size,
		   unsigned codec, int level)
{
	size_t n = 1;
	memset(d, 0, sizeof(*d));
	while (n * 2 * WAYS * sizeof(*d->e) <= bytes)
		n *= 2;
	if (n < 16 || !page_size)
		return 0;   /* too small a budget: no de-duplication */
	/* only contents seen twice: the rest never cost a copy */
	d->hot.pages = ring_bytes / page_size;
	if (d->hot.pages)
		d->hot.buf = malloc(d->hot.pages * page_size);
	if (table_new(d, n) < 0 || (d->hot.pages && !d->hot.buf)) {
		cap_dedup_fini(d);
		return -ENOMEM;
	}
	d->page_size = page_size;
	d->hit_units = hit_units(codec, level);
	atomic_store(&d->active, true);
	/* the first window skips: where duplicates are many they often come
	 * early (a freshly booted guest's pages) */
	atomic_store(&d->skip, true);
	return 0;
}

/* Once pass 1 has counted the pages to write: a table for at most that many
 * contents, if smaller than the budget's, written through once.  A table is
 * touched at random, so all of it is soon paged in: on a dump that keeps
 * 26,000 pages, a budget's 2 MiB table and the workers' seen set cost 2,000
 * faults, more than the looking itself.  And a page of it first read
 * (looked up) maps the shared zero page, then written (an entry) faults
 * again to get its own, flushing the TLB of every CPU the process runs on:
 * with workers, an interrupt of theirs each time.  Written first, each
 * page faults once.  The size depends only on the count, so the output
 * stays the same for any thread count. */
int cap_dedup_fit(struct cap_dedup *d, uint64_t pages)
{
	size_t n = 16;
	if (!d->e)
		return 0;
	while (n <= d->mask && (uint64_t)n * WAYS < pages)
		n *= 2;
	/* out of memory: the table of the budget stays */
	if (n <= d->mask && table_new(d, n) < 0)
		n = d->mask + 1;
	memset(d->e, 0, n * WAYS * sizeof(*d->e));
	memset(d->hv, 0, n * WAYS * sizeof(*d->hv));
	memset(d->rr, 0, n);
	return 0;
}

void cap_dedup_fini(struct cap_dedup *d)
{
	free(d->e);
	free(d->hv);
	free(d->rr);
	free(d->hot.buf);
	memset(d, 0, sizeof(*d));
}

/* A hash as the table holds it: never 0, which marks an empty way (a hash
 * of 0 shares 1's tag: a collision costs a comparison, no more). */
static inline uint64_t tag(const struct cap_hash *h)
{
	return h->v ? h->v : 1;
}

const struct cap_dedup_entry *cap_dedup_find(const struct cap_dedup *d, const struct cap_hash *h)
{
	if (!d->e)
		return NULL;
	size_t base = (h->v & d->mask) * WAYS;
	const uint64_t *hv = d->hv + base, v = tag(h);
	for (int i = 0; i < WAYS; i++)
		if (hv[i] == v)
			return &d->e[base + i];
	return NULL;
}

bool cap_dedup_look(struct cap_dedup *d)
{
	if (!d->e)
		return false;
	if (d->win_pages == WINDOW) {
		/* a window ends: did it pay? */
		bool skip = false;
		if (d->off_windows)
			d->off_windows--;
		else if (d->win_saved < d->win_cost) {
			/* 1, 3, 7, 7... windows off while sampling keeps failing */
			d->backoff = d->backoff * 2 + 1 < OFF_WINDOWS ? d->backoff * 2 + 1 : OFF_WINDOWS;
			d->off_windows = d->backoff;
		} else {
			d->backoff = 0;
			skip = d->win_hits * d->hit_units >= SKIP_UNITS * d->win_pages;
		}
		d->win_pages = d->win_saved = d->win_cost = d->win_hits = 0;
		atomic_store_explicit(&d->active, d->off_windows == 0, memory_order_relaxed);
		atomic_store_explicit(&d->skip, skip && d->off_windows == 0, memory_order_relaxed);
	}
	d->win_pages++;
	if (d->off_windows)
		return false;
	d->looked++;
	d->win_cost += 1;
	return true;
}

static const uint8_t *ring_bytes(const struct cap_ring *r, size_t ps, uint64_t seq)
{
	if (seq == NO_RING || !r->pages || seq + r->pages < r->pos)
		return NULL;
	return r->buf + (seq % r->pages) * ps;
}

/* A copy into the ring is work the window must pay for (cap_dedup_look). */
static uint64_t ring_put(struct cap_dedup *d, struct cap_ring *r, const uint8_t *page)
{
	size_t ps = d->page_size;
	if (!r->pages)
		return NO_RING;
	uint64_t seq = r->pos++;
	memcpy(r->buf + (seq % r->pages) * ps, page, ps);
	d->win_cost += 2;
	return seq;
}

const struct cap_dedup_entry *cap_dedup_match(struct cap_dedup *d, const struct cap_hash *h,
					      const uint8_t *page, vmc_dump *src, uint8_t *vbuf)
{
	struct cap_dedup_entry *e = (struct cap_dedup_entry *)cap_dedup_find(d, h);
	if (!e)
		return NULL;
	size_t ps = d->page_size;
	const uint8_t *first = ring_bytes(&d->hot, ps, e->hot_seq);
	bool hot = first != NULL;
	if (first) {
		if (memcmp(first, page, ps) != 0) {
			d->win_cost += 2;
			return NULL;
		}
	} else {
		/* not in memory: re-read the first copy, within the budget */
		if (d->rereads >= 64 + d->looked / 64 + d->rereads_ok)
			return NULL;
		d->rereads++;
		d->win_cost += 8;
		if (vmc_read_page(src, e->pfn, vbuf) != VMC_OK || memcmp(vbuf, page, ps) != 0)
			return NULL;
		d->rereads_ok++;
	}
	/* hit, likely hit again: keep its bytes, again when they are about
	 * to fall out */
	if (!hot || e->hot_seq + d->hot.pages / 2 < d->hot.pos)
		e->hot_seq = ring_put(d, &d->hot, page);
	d->win_saved += d->hit_units + e->size / 512;
	d->win_hits++;
	return e;
}

void cap_dedup_insert(struct cap_dedup *d, const struct cap_hash *h, uint64_t pfn,
		      uint64_t off, uint32_t size, uint32_t flags, const uint8_t *page)
{
	if (!d->e)
		return;
	size_t bucket = h->v & d->mask;
	uint64_t *hv = d->hv + bucket * WAYS, v = tag(h);
	int w = -1;
	bool again = false;
	for (int i = 0; i < WAYS && w < 0; i++)
		if (!hv[i] || hv[i] == v) {
			w = i;
			again = hv[i] != 0;
		}
	if (w < 0) {
		/* the oldest way, passing over contents whose bytes are in the
		 * ring (they were hit, or seen twice) while another can go */
		struct cap_dedup_entry *b = d->e + bucket * WAYS;
		for (int k = 0; k < WAYS && w < 0; k++) {
			int i = (d->rr[bucket] + k) % WAYS;
			if (!ring_bytes(&d->hot, d->page_size, b[i].hot_seq))
				w = i;
		}
		if (w < 0)
			w = d->rr[bucket] % WAYS;
		d->rr[bucket] = (uint8_t)((w + 1) % WAYS);
	}
	hv[w] = v;
	/* the first sighting of a hash costs no copy; the second, which
	 * could not be verified (cap_dedup_match), keeps this copy's bytes
	 * so that the next ones can be */
	d->e[bucket * WAYS + w] = (struct cap_dedup_entry){
		.pfn = pfn, .off = off, .size = size, .flags = flags,
		.hot_seq = again ? ring_put(d, &d->hot, page) : NO_RING };
}
