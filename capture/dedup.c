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
 * - the bytes a hit is compared with come from a ring of the pages stored
 *   most recently, or from a second ring that only verified hits enter, so
 *   hot contents stay in memory (the budget's 3/16 in all); re-reading the first copy from the
 *   source is the exception: 64 + 1/64 of the pages looked at may be
 *   re-read, plus as many as re-reads that found a duplicate;
 * - pages are looked at in windows of WINDOW; a window whose duplicates
 *   saved less than a sixteenth of its bytes (looking costs about that much
 *   time) turns the next windows off (no hash, no table, no ring copy):
 *   1, then 3, then OFF_WINDOWS while the sample window after them keeps
 *   failing; a window that pays resets that.
 * Every decision depends only on the pages in page order, never on timing,
 * so the output is the same for any thread count.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define WAYS 4
#define WINDOW 4096u
#define OFF_WINDOWS 7u
#define NO_RING UINT64_MAX

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

int cap_dedup_init(struct cap_dedup *d, size_t bytes, size_t ring_bytes, size_t page_size)
{
	size_t n = 1;
	memset(d, 0, sizeof(*d));
	while (n * 2 * WAYS * sizeof(*d->e) <= bytes)
		n *= 2;
	if (n < 16 || !page_size)
		return 0;   /* too small a budget: no de-duplication */
	d->e = calloc(n * WAYS, sizeof(*d->e));
	d->hv = calloc(n * WAYS, sizeof(*d->hv));
	d->rr = calloc(n, 1);
	/* a third for recent pages, two thirds for hot contents */
	d->ring.pages = ring_bytes / 3 / page_size;
	d->hot.pages = ring_bytes / page_size - d->ring.pages;
	if (d->ring.pages)
		d->ring.buf = malloc(d->ring.pages * page_size);
	if (d->hot.pages)
		d->hot.buf = malloc(d->hot.pages * page_size);
	if (!d->e || !d->hv || !d->rr || (d->ring.pages && !d->ring.buf) || (d->hot.pages && !d->hot.buf)) {
		cap_dedup_fini(d);
		return -ENOMEM;
	}
	d->mask = n - 1;
	d->page_size = page_size;
	atomic_store(&d->active, true);
	return 0;
}

void cap_dedup_fini(struct cap_dedup *d)
{
	free(d->e);
	free(d->hv);
	free(d->rr);
	free(d->ring.buf);
	free(d->hot.buf);
	memset(d, 0, sizeof(*d));
}

const struct cap_dedup_entry *cap_dedup_find(const struct cap_dedup *d, const struct cap_hash *h)
{
	if (!d->e)
		return NULL;
	size_t base = (h->v & d->mask) * WAYS;
	const uint64_t *hv = d->hv + base;
	for (int i = 0; i < WAYS; i++)
		if (hv[i] == h->v && d->e[base + i].used)
			return &d->e[base + i];
	return NULL;
}

bool cap_dedup_look(struct cap_dedup *d)
{
	if (!d->e)
		return false;
	if (d->win_pages == WINDOW) {
		/* a window ends: did it pay? */
		if (d->off_windows)
			d->off_windows--;
		else if (d->win_saved < (d->win_saved + d->win_bytes) / 16) {
			/* 1, 3, 7, 7... windows off while sampling keeps failing */
			d->backoff = d->backoff * 2 + 1 < OFF_WINDOWS ? d->backoff * 2 + 1 : OFF_WINDOWS;
			d->off_windows = d->backoff;
		} else {
			d->backoff = 0;
		}
		d->win_pages = d->win_saved = d->win_bytes = 0;
		atomic_store_explicit(&d->active, d->off_windows == 0, memory_order_relaxed);
	}
	d->win_pages++;
	if (d->off_windows)
		return false;
	d->looked++;
	return true;
}

static const uint8_t *ring_bytes(const struct cap_ring *r, size_t ps, uint64_t seq)
{
	if (seq == NO_RING || !r->pages || seq + r->pages < r->pos)
		return NULL;
	return r->buf + (seq % r->pages) * ps;
}

static uint64_t ring_put(struct cap_ring *r, size_t ps, const uint8_t *page)
{
	if (!r->pages)
		return NO_RING;
	uint64_t seq = r->pos++;
	memcpy(r->buf + (seq % r->pages) * ps, page, ps);
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
	if (!first)
		first = ring_bytes(&d->ring, ps, e->ring_seq);
	if (first) {
		if (memcmp(first, page, ps) != 0)
			return NULL;
	} else {
		/* in neither ring: re-read the first copy, within the budget */
		if (d->rereads >= 64 + d->looked / 64 + d->rereads_ok)
			return NULL;
		d->rereads++;
		if (vmc_read_page(src, e->pfn, vbuf) != VMC_OK || memcmp(vbuf, page, ps) != 0)
			return NULL;
		d->rereads_ok++;
	}
	/* hit once, likely hit again: keep its bytes where only such are kept,
	 * again when it is about to fall out */
	if (!hot || e->hot_seq + d->hot.pages / 2 < d->hot.pos)
		e->hot_seq = ring_put(&d->hot, ps, page);
	d->win_saved += e->size;
	return e;
}

void cap_dedup_insert(struct cap_dedup *d, const struct cap_hash *h, uint64_t pfn,
		      uint64_t off, uint32_t size, uint32_t flags, const uint8_t *page)
{
	if (!d->e)
		return;
	size_t bucket = h->v & d->mask;
	struct cap_dedup_entry *b = &d->e[bucket * WAYS];
	int w = -1;
	for (int i = 0; i < WAYS && w < 0; i++)
		if (!b[i].used || b[i].h.v == h->v)
			w = i;
	if (w < 0)
		w = d->rr[bucket]++ % WAYS;
	d->hv[bucket * WAYS + w] = h->v;
	b[w] = (struct cap_dedup_entry){ .h = *h, .pfn = pfn, .off = off, .size = size,
					 .flags = flags, .hot_seq = NO_RING,
					 .ring_seq = ring_put(&d->ring, d->page_size, page),
					 .used = true };
}
