/* flat.c - makedumpfile's flattened stream, read in place.
 *
 * The stream is a list of "write these bytes at this target offset" records.
 * Opening scans only the 16-byte record headers, then resolves overlapping
 * records so that the last write wins (what makedumpfile -R does by seeking and
 * writing in stream order), leaving a sorted, non-overlapping segment map that
 * reads binary-search.  Target ranges never written read as zeros.
 */
#include "internal.h"
#include "kdump-format.h"

#include <stdlib.h>

/* Largest record or target offset accepted: far beyond any real dump, small
 * enough that offset arithmetic cannot overflow. */
#define FLAT_MAX_OFF (1ULL << 52)

struct flat_rec {
	uint64_t tgt, len, src;
	uint64_t seq;
};

struct flat_seg {
	uint64_t tgt, len, src;
};

struct io_flat {
	struct vmc_io io;
	struct vmc_io *base;
	struct flat_seg *segs;
	size_t nsegs;
};

bool vmc_is_flat_signature(const uint8_t *buf, size_t len)
{
	return len >= FLAT_HDR_VERSION && memcmp(buf, FLAT_SIGNATURE, sizeof(FLAT_SIGNATURE)) == 0;
}

static size_t seg_find(const struct io_flat *f, uint64_t off)
{
	/* index of the first segment ending after off */
	size_t lo = 0, hi = f->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->segs[mid].tgt + f->segs[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int flat_read(vmc_dump *d, struct vmc_io *io, void *buf, size_t len,
		     uint64_t off, size_t *got)
{
	struct io_flat *f = (struct io_flat *)io;
	uint8_t *out = buf;
	size_t i;

	*got = 0;
	if (off >= io->size)
		return VMC_OK;
	if (len > io->size - off)
		len = (size_t)(io->size - off);
	i = seg_find(f, off);
	size_t done = 0;
	while (done < len) {
		uint64_t pos = off + done;
		size_t want = len - done;
		if (i >= f->nsegs || pos < f->segs[i].tgt) {
			/* unwritten gap up to the next segment */
			uint64_t gap_end = i < f->nsegs ? f->segs[i].tgt : io->size;
			size_t n = gap_end - pos < want ? (size_t)(gap_end - pos) : want;
			memset(out + done, 0, n);
			done += n;
			continue;
		}
		const struct flat_seg *s = &f->segs[i];
		uint64_t in = pos - s->tgt;
		size_t n = s->len - in < want ? (size_t)(s->len - in) : want;
		size_t g = 0;
		int rc = f->base->read(d, f->base, out + done, n, s->src + in, &g);
		if (rc < 0)
			return rc;
		if (g != n)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "flattened stream: record data at 0x%llx cut short",
					   (unsigned long long)(s->src + in));
		done += n;
		i++;
	}
	*got = done;
	return VMC_OK;
}

static void flat_destroy(struct vmc_io *io)
{
	struct io_flat *f = (struct io_flat *)io;
	f->base->destroy(f->base);
	free(f->segs);
	free(f);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_rec_tgt(const void *a, const void *b)
{
	const struct flat_rec *x = a, *y = b;
	if (x->tgt != y->tgt)
		return x->tgt < y->tgt ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* max-heap of record indices by seq */
static void heap_push(size_t *h, size_t *n, const struct flat_rec *r, size_t v)
{
	size_t i = (*n)++;
	h[i] = v;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (r[h[p]].seq >= r[h[i]].seq)
			break;
		size_t t = h[p]; h[p] = h[i]; h[i] = t;
		i = p;
	}
}

static void heap_pop(size_t *h, size_t *n, const struct flat_rec *r)
{
	size_t i = 0;
	h[0] = h[--(*n)];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < *n && r[h[l]].seq > r[h[m]].seq)
			m = l;
		if (l + 1 < *n && r[h[l + 1]].seq > r[h[m]].seq)
			m = l + 1;
		if (m == i)
			break;
		size_t t = h[m]; h[m] = h[i]; h[i] = t;
		i = m;
	}
}

/* Turn records (in stream order) into non-overlapping segments, last wins. */
static int resolve(vmc_dump *d, struct io_flat *f, struct flat_rec *r, size_t n)
{
	uint64_t *pts = NULL;
	size_t *heap = NULL, npts = 0, nh = 0, next = 0;
	int rc = VMC_ERR_NOMEM;

	if (n == 0)
		return VMC_OK;
	pts = malloc(2 * n * sizeof(*pts));
	heap = malloc(n * sizeof(*heap));
	f->segs = malloc(2 * n * sizeof(*f->segs));
	if (!pts || !heap || !f->segs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		pts[npts++] = r[i].tgt;
		pts[npts++] = r[i].tgt + r[i].len;
	}
	qsort(pts, npts, sizeof(*pts), cmp_u64);
	qsort(r, n, sizeof(*r), cmp_rec_tgt);
	for (size_t k = 0; k + 1 < npts; k++) {
		uint64_t p = pts[k], q = pts[k + 1];
		if (p == q)
			continue;
		while (next < n && r[next].tgt <= p)
			heap_push(heap, &nh, r, next++);
		while (nh && r[heap[0]].tgt + r[heap[0]].len <= p)
			heap_pop(heap, &nh, r);
		if (!nh)
			continue;
		const struct flat_rec *w = &r[heap[0]];
		uint64_t src = w->src + (p - w->tgt);
		struct flat_seg *last = f->nsegs ? &f->segs[f->nsegs - 1] : NULL;
		if (last && last->tgt + last->len == p && last->src + last->len == src) {
			last->len += q - p;
		} else {
			f->segs[f->nsegs].tgt = p;
			f->segs[f->nsegs].len = q - p;
			f->segs[f->nsegs].src = src;
			f->nsegs++;
		}
	}
	rc = VMC_OK;
out:
	free(pts);
	free(heap);
	if (rc < 0)
		vmc_set_err(d, rc, "out of memory indexing flattened stream");
	return rc;
}

int vmc_io_flat_create(vmc_dump *d, struct vmc_io *base, struct vmc_io **out)
{
	uint8_t hdr[FLAT_REC_HDR];
	struct flat_rec *recs = NULL;
	size_t nrecs = 0, cap = 0, got;
	uint64_t pos = FLAT_HDR_SIZE, vsize = 0;
	struct io_flat *f;
	bool ended = false;
	int rc;

	f = calloc(1, sizeof(*f));
	if (!f) {
		base->destroy(base);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	f->base = base;
	f->io.read = flat_read;
	f->io.destroy = flat_destroy;

	{
		uint8_t sh[32];
		rc = base->read(d, base, sh, sizeof(sh), 0, &got);
		if (rc < 0)
			goto fail;
		if (got < sizeof(sh) || be_get64(sh + FLAT_HDR_TYPE) != FLAT_TYPE_HEADER) {
			rc = vmc_set_err(d, VMC_ERR_CORRUPT,
					 "flattened stream: header type %llu, expected %d",
					 got < sizeof(sh) ? 0ULL :
					 (unsigned long long)be_get64(sh + FLAT_HDR_TYPE),
					 FLAT_TYPE_HEADER);
			goto fail;
		}
		if (base->size < FLAT_HDR_SIZE) {
			rc = vmc_set_err(d, VMC_ERR_CORRUPT,
					 "flattened stream: header cut short (%llu bytes)",
					 (unsigned long long)base->size);
			goto fail;
		}
	}
	while (pos < base->size) {
		rc = base->read(d, base, hdr, FLAT_REC_HDR, pos, &got);
		if (rc < 0)
			goto fail;
		if (got < FLAT_REC_HDR) {
			vmc_warn(d, "flattened stream: record header at 0x%llx cut short; stream truncated",
				 (unsigned long long)pos);
			break;
		}
		int64_t tgt = (int64_t)be_get64(hdr), len = (int64_t)be_get64(hdr + 8);
		if (tgt == -1 && len == -1) {
			ended = true;
			pos += FLAT_REC_HDR;
			break;
		}
		if (tgt < 0 || (uint64_t)tgt > FLAT_MAX_OFF || len <= 0 ||
		    (uint64_t)len > FLAT_MAX_OFF) {
			rc = vmc_set_err(d, VMC_ERR_CORRUPT,
					 "flattened record %zu at 0x%llx: bad offset %lld or size %lld",
					 nrecs, (unsigned long long)pos, (long long)tgt,
					 (long long)len);
			goto fail;
		}
		if ((uint64_t)len > base->size - pos - FLAT_REC_HDR) {
			vmc_warn(d, "flattened record %zu at 0x%llx: data cut short; stream truncated",
				 nrecs, (unsigned long long)pos);
			break;
		}
		if (nrecs == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct flat_rec *nr = realloc(recs, nc * sizeof(*nr));
			if (!nr) {
				rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
				goto fail;
			}
			recs = nr;
			cap = nc;
		}
		recs[nrecs].tgt = (uint64_t)tgt;
		recs[nrecs].len = (uint64_t)len;
		recs[nrecs].src = pos + FLAT_REC_HDR;
		recs[nrecs].seq = nrecs;
		nrecs++;
		if ((uint64_t)tgt + (uint64_t)len > vsize)
			vsize = (uint64_t)tgt + (uint64_t)len;
		pos += FLAT_REC_HDR + (uint64_t)len;
	}
	if (!ended) {
		vmc_warn(d, "flattened stream: no end marker; the dump is incomplete");
		d->incomplete = true;
	} else if (pos < base->size) {
		vmc_warn(d, "flattened stream: %llu bytes after the end marker ignored",
			 (unsigned long long)(base->size - pos));
	}
	rc = resolve(d, f, recs, nrecs);
	if (rc < 0)
		goto fail;
	free(recs);
	f->io.size = vsize;
	f->io.stored = base->size;
	*out = &f->io;
	return VMC_OK;
fail:
	free(recs);
	flat_destroy(&f->io);
	*out = NULL;
	return rc;
}
