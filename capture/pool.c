/* pool.c - compression workers.  The main thread fills batches with frame
 * numbers and writes finished batches in submission order; workers read,
 * zero-check, hash and compress them, and so does the main thread when it
 * would otherwise wait.  Batches are taken from a fixed pool allocated once,
 * so memory stays inside the budget and nothing is allocated per page. */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Workers share a set of content hashes already seen, to skip compressing a
 * page that is likely a duplicate.  It is only a hint: whether a page is
 * stored or points at an earlier copy is decided by the writer, in page
 * order, after comparing bytes; a page skipped wrongly (its first copy was
 * seen by another worker first) is compressed then.  Lock-free open
 * addressing over 64-bit hashes; 0 marks an empty slot. */
#define SEEN_SLOTS (1u << 18)      /* 2 MiB at most; cap_pool_fit_seen */
#define SEEN_PROBES 8

static bool seen_check_insert(_Atomic uint64_t *set, size_t mask, uint64_t h)
{
	if (!h)
		h = 1;
	for (unsigned i = 0; i < SEEN_PROBES; i++) {
		_Atomic uint64_t *slot = &set[(h + i) & mask];
		uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
		if (v == h)
			return true;
		if (!v) {
			uint64_t empty = 0;
			if (atomic_compare_exchange_strong_explicit(slot, &empty, h,
								    memory_order_relaxed,
								    memory_order_relaxed) || empty == h)
				return empty == h;
		}
	}
	return false;   /* neighbourhood full: treat as new */
}

enum { B_FREE, B_QUEUED, B_BUSY, B_DONE };

struct cap_pool {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct cap_batch *batches;
	size_t nbatches;
	struct cap_batch *free_list;
	/* submitted batches in order: a ring of pointers */
	struct cap_batch **order;
	size_t head, count;     /* oldest submitted, how many outstanding */
	uint64_t next_seq;
	struct cap_codec *codecs;  /* one per worker (or one for the caller) */
	int ncodecs;
	pthread_t *threads;
	int nthreads;
	bool stop;
	/* the main thread sleeps until `want` batches from the oldest on are
	 * done, not just one: it then writes them and refills them in one go,
	 * woken once for several batches instead of once each */
	bool waiting;
	size_t want;
	size_t page_size;
	bool zero_check;
	bool hash;
	const struct cap_dedup *dedup;  /* without workers: the writer decides */
	const struct cap_dedup *hint;   /* its `active`: whether to hash at all */
	_Atomic uint64_t *seen;         /* hint set shared by workers */
	size_t seen_mask;
	vmc_dump *src;                  /* the caller's source (reads without workers) */
	vmc_dump **wsrc;                /* each worker's own handle on the source */
	int nwsrc;
	bool log_unreadable;
	struct cap_codec main_codec;    /* for cap_pool_compress_one */
};

static bool page_is_zero(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < len / 8; i += 4)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
			return false;
	return true;
}

/* Read a batch's frames, runs of consecutive frames at once; a frame that
 * cannot be read is marked and skipped. */
static void read_batch(struct cap_pool *p, vmc_dump *src, struct cap_batch *b)
{
	size_t ps = p->page_size;

	for (size_t i = 0; i < b->n;) {
		size_t run = 1, done = 0;
		while (i + run < b->n && b->pfn[i + run] == b->pfn[i] + run)
			run++;
		int rc = vmc_read_pages(src, b->pfn[i], run, b->in + i * ps, &done);
		for (size_t k = 0; k < done; k++)
			b->kind[i + k] = CAP_PAGE_RAW;
		i += done;
		if (rc != VMC_OK) {
			b->kind[i] = CAP_PAGE_UNREADABLE;
			if (p->log_unreadable)
				cap_log("page 0x%llx unreadable, skipped: %s",
					(unsigned long long)b->pfn[i], vmc_errmsg(src));
			i++;
		}
	}
}

static void compress_batch(struct cap_pool *p, struct cap_codec *codec, vmc_dump *src,
			   struct cap_batch *b)
{
	size_t ps = p->page_size, pos = 0, bound = cap_codec_bound(ps);

	read_batch(p, src, b);
	/* only a hint: the writer hashes what a batch lacks when it looks */
	b->hashed = p->hash && (!p->hint ||
				atomic_load_explicit(&p->hint->active, memory_order_relaxed));
	bool skip = p->seen && p->hint && atomic_load_explicit(&p->hint->skip, memory_order_relaxed);

	for (size_t i = 0; i < b->n; i++) {
		const uint8_t *page = b->in + i * ps;
		if (b->kind[i] == CAP_PAGE_UNREADABLE)
			continue;
		if (p->zero_check && page_is_zero(page, ps)) {
			b->kind[i] = CAP_PAGE_ZERO;
			b->size[i] = 0;
			continue;
		}
		if (b->hashed) {
			cap_page_hash(page, ps, &b->hash[i]);
			/* without workers the writer, which looks the page up
			 * anyway, compresses it only if it is stored: the
			 * bucket is fetched now, for when it does */
			bool dup = p->dedup ? (cap_dedup_prefetch(p->dedup, &b->hash[i]), true)
					    : skip && seen_check_insert(p->seen, p->seen_mask, b->hash[i].v);
			if (dup) {
				b->kind[i] = CAP_PAGE_SEEN;
				b->size[i] = 0;
				continue;
			}
		}
		size_t n = 0;
		if (codec->codec && pos + bound <= b->out_cap)
			n = cap_codec_page(codec, page, ps, b->out + pos, bound);
		if (n) {
			b->kind[i] = CAP_PAGE_COMPRESSED;
			b->size[i] = (uint32_t)n;
			b->off[i] = (uint32_t)pos;
			pos += n;
		} else {
			b->kind[i] = CAP_PAGE_RAW;
			b->size[i] = (uint32_t)ps;
			b->off[i] = (uint32_t)(i * ps);
		}
	}
}

/* How many batches from the oldest submitted on are done (lock held). */
static size_t done_in_order(const struct cap_pool *p)
{
	size_t n = 0;
	while (n < p->count && p->order[(p->head + n) % p->nbatches]->state == B_DONE)
		n++;
	return n;
}

struct worker_arg {
	struct cap_pool *pool;
	int idx;
};

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct cap_pool *p = wa->pool;
	struct cap_codec *codec = &p->codecs[wa->idx];
	int wa_idx = wa->idx;

	free(wa);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct cap_batch *b = NULL;
		while (!p->stop) {
			for (size_t i = 0; i < p->count; i++) {
				struct cap_batch *c = p->order[(p->head + i) % p->nbatches];
				if (c->state == B_QUEUED) {
					b = c;
					break;
				}
			}
			if (b)
				break;
			pthread_cond_wait(&p->work, &p->lock);
		}
		if (!b)
			break;
		b->state = B_BUSY;
		pthread_mutex_unlock(&p->lock);
		compress_batch(p, codec, p->wsrc[wa_idx], b);
		pthread_mutex_lock(&p->lock);
		b->state = B_DONE;
		if (p->waiting && done_in_order(p) >= p->want)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int cap_pool_create(struct cap_pool **out, int threads, size_t nbatches, size_t page_size,
		    unsigned codec, int level, bool zero_check, bool hash,
		    vmc_dump *src, const char *const *src_paths, size_t npaths,
		    bool log_unreadable)
{
	struct cap_pool *p = calloc(1, sizeof(*p));
	int rc = -ENOMEM;

	if (!p)
		return -ENOMEM;
	if (threads < 1)
		threads = 1;
	if (nbatches < 2)
		nbatches = 2;
	p->page_size = page_size;
	p->zero_check = zero_check;
	p->hash = hash;
	p->src = src;
	p->log_unreadable = log_unreadable;
	p->nbatches = nbatches;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->batches = calloc(nbatches, sizeof(*p->batches));
	p->order = calloc(nbatches, sizeof(*p->order));
	/* threads == 1: no workers, the caller compresses with codecs[0].
	 * threads == N > 1: N - 1 workers, and the caller compresses too
	 * (codecs[N - 1], wsrc[N - 1]) whenever it would otherwise wait for
	 * one: N threads busy on N CPUs, none preempting another */
	p->nthreads = threads > 1 ? threads - 1 : 0;
	p->codecs = calloc((size_t)threads, sizeof(*p->codecs));
	p->threads = calloc((size_t)threads, sizeof(*p->threads));
	if (!p->batches || !p->order || !p->codecs || !p->threads)
		goto fail;
	for (size_t i = 0; i < nbatches; i++) {
		struct cap_batch *b = &p->batches[i];
		b->in = malloc(CAP_BATCH_PAGES * page_size);
		b->out_cap = CAP_BATCH_PAGES * page_size + 2 * cap_codec_bound(page_size);
		b->out = malloc(b->out_cap);
		if (!b->in || !b->out)
			goto fail;
		b->next = p->free_list;
		p->free_list = b;
	}
	if (hash && p->nthreads) {
		p->seen = calloc(SEEN_SLOTS, sizeof(*p->seen));
		if (!p->seen)
			goto fail;
		p->seen_mask = SEEN_SLOTS - 1;
	}
	/* workers read their pages themselves, each through its own handle
	 * (a vmc_dump serves one thread at a time; the main thread, helping,
	 * has one more), so reading scales with the threads too.  They map
	 * /proc/vmcore, whose read() maps every old-memory page on its own,
	 * and pread an ordinary file (VMC_OPEN_MMAP_PROC). */
	if (p->nthreads) {
		p->wsrc = calloc((size_t)threads, sizeof(*p->wsrc));
		if (!p->wsrc)
			goto fail;
		p->nwsrc = threads;
		for (int i = 0; i < threads; i++) {
			p->wsrc[i] = vmc_dump_create();
			if (!p->wsrc[i] ||
			    (npaths > 1 ? vmc_open_paths(p->wsrc[i], src_paths, npaths)
					: vmc_open_path_flags(p->wsrc[i], src_paths[0],
							      VMC_OPEN_MMAP_PROC |
							      (vmc_machine_frames(src) ?
							       VMC_OPEN_MACHINE_FRAMES : 0))) < 0) {
				rc = -EIO;
				goto fail;
			}
		}
	}
	for (int i = 0; i < threads; i++) {
		rc = cap_codec_init(&p->codecs[i], codec, level);
		if (rc < 0)
			goto fail;
		p->ncodecs++;
	}
	rc = cap_codec_init(&p->main_codec, codec, level);
	if (rc < 0)
		goto fail;
	for (int i = 0; i < p->nthreads; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (!wa) {
			rc = -ENOMEM;
			goto fail;
		}
		wa->pool = p;
		wa->idx = i;
		int e = pthread_create(&p->threads[i], NULL, worker_main, wa);
		if (e) {
			free(wa);
			p->nthreads = i;
			rc = -e;
			goto fail;
		}
	}
	*out = p;
	return 0;
fail:
	cap_pool_destroy(p);
	return rc;
}

void cap_pool_destroy(struct cap_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (int i = 0; i < p->ncodecs; i++)
		cap_codec_fini(&p->codecs[i]);
	cap_codec_fini(&p->main_codec);
	if (p->batches)
		for (size_t i = 0; i < p->nbatches; i++) {
			free(p->batches[i].in);
			free(p->batches[i].out);
		}
	for (int i = 0; i < p->nwsrc; i++)
		vmc_dump_destroy(p->wsrc[i]);
	free(p->wsrc);
	free((void *)p->seen);
	free(p->batches);
	free(p->order);
	free(p->codecs);
	free(p->threads);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p);
}

struct cap_batch *cap_pool_get(struct cap_pool *p)
{
	struct cap_batch *b;

	pthread_mutex_lock(&p->lock);
	b = p->free_list;
	if (b)
		p->free_list = b->next;
	pthread_mutex_unlock(&p->lock);
	if (b) {
		b->n = 0;
		b->state = B_FREE;
	}
	return b;
}

void cap_pool_submit(struct cap_pool *p, struct cap_batch *b)
{
	b->seq = p->next_seq++;
	if (!p->nthreads) {
		compress_batch(p, &p->codecs[0], p->src, b);
		b->state = B_DONE;
	} else {
		b->state = B_QUEUED;
	}
	pthread_mutex_lock(&p->lock);
	p->order[(p->head + p->count) % p->nbatches] = b;
	p->count++;
	if (p->nthreads)
		pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

struct cap_batch *cap_pool_done(struct cap_pool *p, bool wait)
{
	struct cap_batch *b = NULL;

	pthread_mutex_lock(&p->lock);
	while (p->count) {
		struct cap_batch *c = p->order[p->head];
		if (c->state == B_DONE) {
			b = c;
			p->head = (p->head + 1) % p->nbatches;
			p->count--;
			break;
		}
		if (!wait)
			break;
		if (p->nthreads) {
			/* rather than sleep, compress a batch still queued,
			 * the oldest first */
			struct cap_batch *q = NULL;
			for (size_t i = 0; i < p->count && !q; i++) {
				struct cap_batch *o = p->order[(p->head + i) % p->nbatches];
				if (o->state == B_QUEUED)
					q = o;
			}
			if (q) {
				q->state = B_BUSY;
				pthread_mutex_unlock(&p->lock);
				compress_batch(p, &p->codecs[p->nthreads], p->wsrc[p->nthreads], q);
				pthread_mutex_lock(&p->lock);
				q->state = B_DONE;
				continue;
			}
		}
		p->want = p->count < p->nbatches / 2 ? p->count : p->nbatches / 2;
		p->waiting = true;
		while (done_in_order(p) < p->want)
			pthread_cond_wait(&p->done, &p->lock);
		p->waiting = false;
	}
	pthread_mutex_unlock(&p->lock);
	return b;
}

void cap_pool_put(struct cap_pool *p, struct cap_batch *b)
{
	pthread_mutex_lock(&p->lock);
	b->state = B_FREE;
	b->next = p->free_list;
	p->free_list = b;
	pthread_mutex_unlock(&p->lock);
}

/* After pass 1, before any batch: a seen set of twice PAGES slots (the
 * probes stay short) when that is smaller than SEEN_SLOTS, written through
 * once: as the dedup table (cap_dedup_fit), what is touched at random is
 * paged in whole, and a page read before it is written faults twice and
 * interrupts the other threads to flush their TLBs.  The workers see the
 * new set: they take batches under the lock, after this. */
int cap_pool_fit_seen(struct cap_pool *p, uint64_t pages)
{
	size_t n = 1024;
	if (!p->seen)
		return 0;
	while (n < SEEN_SLOTS && n < 2 * pages)
		n *= 2;
	_Atomic uint64_t *set = n < SEEN_SLOTS ? malloc(n * sizeof(*set)) : NULL;
	pthread_mutex_lock(&p->lock);
	if (set) {
		free((void *)p->seen);
		p->seen = set;
		p->seen_mask = n - 1;
	}
	for (size_t i = 0; i <= p->seen_mask; i++)
		atomic_init(&p->seen[i], 0);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void cap_pool_set_dedup(struct cap_pool *p, const struct cap_dedup *d)
{
	p->dedup = p->nthreads ? NULL : d;
	p->hint = d;
}

size_t cap_pool_compress_one(struct cap_pool *p, const uint8_t *page, uint8_t *out)
{
	if (!p->main_codec.codec)
		return 0;
	return cap_codec_page(&p->main_codec, page, p->page_size, out,
			      cap_codec_bound(p->page_size));
}
