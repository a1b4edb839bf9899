/* dedup.c - identical pages stored once.
 *
 * A kdump descriptor points at its page's data by file offset, and nothing
 * requires offsets to be distinct: makedumpfile already points every zero page
 * at one shared copy.  We do the same for any repeated content (a real 6.1
 * dump had 14,473 duplicates among 34,043 non-zero pages).  The table maps a
 * 64-bit content hash (XXH3) to the first page stored with that content; a
 * hit is only used after the caller compares the bytes, so a hash collision
 * can cost a comparison, never correctness.  The table is bounded (4-way buckets, the oldest
 * way replaced) and filled in page order, so the output is deterministic.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define WAYS 4

void cap_page_hash(const uint8_t *page, size_t len, struct cap_hash *h)
{
	h->v = XXH3_64bits(page, len);
}

int cap_dedup_init(struct cap_dedup *d, size_t bytes)
{
	size_t n = 1;
	memset(d, 0, sizeof(*d));
	while (n * 2 * WAYS * sizeof(*d->e) <= bytes)
		n *= 2;
	if (n < 16)
		return 0;   /* too small a budget: no de-duplication */
	d->e = calloc(n * WAYS, sizeof(*d->e));
	if (!d->e)
		return -ENOMEM;
	d->rr = calloc(n, 1);
	if (!d->rr) {
		free(d->e);
		d->e = NULL;
		return -ENOMEM;
	}
	d->mask = n - 1;
	return 0;
}

void cap_dedup_fini(struct cap_dedup *d)
{
	free(d->e);
	free(d->rr);
	memset(d, 0, sizeof(*d));
}

const struct cap_dedup_entry *cap_dedup_find(const struct cap_dedup *d, const struct cap_hash *h)
{
	if (!d->e)
		return NULL;
	const struct cap_dedup_entry *b = &d->e[(h->v & d->mask) * WAYS];
	for (int i = 0; i < WAYS; i++)
		if (b[i].used && b[i].h.v == h->v)
			return &b[i];
	return NULL;
}

void cap_dedup_insert(struct cap_dedup *d, const struct cap_hash *h, uint64_t pfn,
		      uint64_t off, uint32_t size, uint32_t flags)
{
	if (!d->e)
		return;
	size_t bucket = h->v & d->mask;
	struct cap_dedup_entry *b = &d->e[bucket * WAYS];
	int w = -1;
	for (int i = 0; i < WAYS && w < 0; i++)
		if (!b[i].used)
			w = i;
	if (w < 0)
		w = d->rr[bucket]++ % WAYS;
	b[w] = (struct cap_dedup_entry){ .h = *h, .pfn = pfn, .off = off, .size = size,
					 .flags = flags, .used = true };
}
