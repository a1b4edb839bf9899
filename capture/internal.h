/* internal.h - shared by the capture core's files (not the agent's API). */
#ifndef SALVAGE_CAPTURE_INTERNAL_H
#define SALVAGE_CAPTURE_INTERNAL_H

#include "capture.h"
#include "../vmcore/vmcore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ---- sink.c: the output ---------------------------------------------- */
struct cap_sink {
	int fd;
	bool owned;
	bool flat;
	uint8_t *cache;
	size_t cache_cap, cache_len;
	uint64_t cache_off;
	uint64_t size;          /* highest offset written + 1 */
	uint64_t data_end;      /* how far the sequential data stream reached */
	uint64_t bytes_written;
	uint64_t fail_after;    /* test hook: ENOSPC after this many bytes */
	uint64_t unflushed;     /* bytes written since the last flush request */
	/* the flusher thread (sink.c) */
	bool fl_on, fl_stop;
	pthread_t fl_thread;
	pthread_mutex_t fl_lock;
	pthread_cond_t fl_cond;
	uint64_t fl_req, fl_done;
	int fl_err;             /* first error a background flush saw */
	bool fail_flush;        /* test hook: the first flush reports EIO */
};

/* Opens path ("-" with flat: stdout).  Without overwrite an existing path is
 * refused (EEXIST); a symbolic link is never followed (ELOOP).  On failure
 * nothing is left to close. */
int cap_sink_open(struct cap_sink *s, const char *path, bool flat, size_t cache,
		  uint64_t fail_after, bool fail_flush, bool overwrite);
int cap_sink_write(struct cap_sink *s, uint64_t off, const void *buf, size_t len);
int cap_sink_flush(struct cap_sink *s);
int cap_sink_reserve(struct cap_sink *s, uint64_t len);
void cap_sink_data_start(struct cap_sink *s, uint64_t off);
int cap_sink_patch(struct cap_sink *s, uint64_t off, const void *buf, size_t len);
int cap_sink_sync(struct cap_sink *s);
int cap_sink_finish(struct cap_sink *s);
int cap_sink_close(struct cap_sink *s);

/* ---- compress.c: per-thread page compressors --------------------------- */
struct cap_codec {
	unsigned codec;
	int level;
	void *zs;               /* z_stream */
	void *lzo_wrk;
	void *zc;               /* ZSTD_CCtx */
};
/* zstd's level when none is given (0).  2, not 1: on the bench's dumps
 * (README "Capture speed") level 1 came out up to 0.5% larger than
 * makedumpfile -c at -d 31 and level 2 smaller, for 2.5% more instructions;
 * level 3 costs 25% more for another 0.8%. */
#define CAP_ZSTD_DEFAULT_LEVEL 2
int cap_codec_init(struct cap_codec *c, unsigned codec, int level);
void cap_codec_fini(struct cap_codec *c);
/* Compress one page into out (capacity >= cap_codec_bound).  Returns the
 * compressed size if smaller than len, or 0: store the page raw. */
size_t cap_codec_page(struct cap_codec *c, const uint8_t *in, size_t len, uint8_t *out,
		      size_t outcap);
size_t cap_codec_bound(size_t page_size);

/* ---- dedup.c: identical pages stored once ------------------------------ */
struct cap_hash {
	uint64_t v;
};
#define CAP_DEDUP_WAYS 4       /* entries in a bucket */
struct cap_dedup_entry {
	uint64_t pfn;           /* the first page stored with this content */
	uint64_t off;           /* its data: offset, size, descriptor flags */
	uint32_t size, flags;
	uint64_t hot_seq;       /* where its bytes are in the ring (may be overwritten) */
};
struct cap_dedup {
	struct cap_dedup_entry *e;
	uint64_t *hv;           /* the entries' hashes, packed (a bucket is 32 bytes);
				 * 0: an empty way */
	uint8_t *rr;            /* per-bucket replacement counter */
	size_t mask;
	/* hits are verified against bytes held here: contents seen at least
	 * twice (dedup.c) */
	struct cap_ring {
		uint8_t *buf;
		uint64_t pages, pos;
	} hot;
	size_t page_size;
	/* the writer's page-order schedule (dedup.c): windows of pages looked
	 * at or not; `active` tells the pool whether hashes are wanted,
	 * `skip` whether its workers should skip compressing pages whose hash
	 * they saw before (only where the last window's hits paid for that) */
	_Atomic bool active, skip;
	uint64_t win_pages, win_saved, win_cost, win_hits, off_windows, backoff;
	unsigned hit_units;     /* what a duplicate saves (dedup.c) */
	uint64_t looked, rereads, rereads_ok;
};
void cap_page_hash(const uint8_t *page, size_t len, struct cap_hash *h);
/* bytes: the table's budget; ring_bytes: the budget for the bytes of
 * contents seen twice. */
int cap_dedup_init(struct cap_dedup *d, size_t bytes, size_t ring_bytes, size_t page_size,
		   unsigned codec, int level);
void cap_dedup_fini(struct cap_dedup *d);
/* After pass 1, before any page is looked up: the table shrunk to PAGES
 * contents when that is smaller than the budget's, and written through
 * once (dedup.c). */
int cap_dedup_fit(struct cap_dedup *d, uint64_t pages);
const struct cap_dedup_entry *cap_dedup_find(const struct cap_dedup *d, const struct cap_hash *h);
/* Bring h's bucket into the cache ahead of cap_dedup_find. */
static inline void cap_dedup_prefetch(const struct cap_dedup *d, const struct cap_hash *h)
{
	if (d->e)
		__builtin_prefetch(d->hv + (h->v & d->mask) * CAP_DEDUP_WAYS);
}
/* Writer, in page order: whether the next stored-or-shared page is looked up
 * at all (false while a window found too few duplicates to pay). */
bool cap_dedup_look(struct cap_dedup *d);
/* The entry whose bytes equal page, or NULL; compared from the ring, or,
 * within a budget, re-read from src into vbuf (a handle of its own, so that
 * a far read moves none of the pipeline's mmap windows). */
const struct cap_dedup_entry *cap_dedup_match(struct cap_dedup *d, const struct cap_hash *h,
					      const uint8_t *page, vmc_dump *src, uint8_t *vbuf);
void cap_dedup_insert(struct cap_dedup *d, const struct cap_hash *h, uint64_t pfn,
		      uint64_t off, uint32_t size, uint32_t flags, const uint8_t *page);

/* ---- batches: pages read, zero-checked and compressed in parallel ------ */
enum cap_page_kind {
	CAP_PAGE_RAW,           /* stored as is */
	CAP_PAGE_COMPRESSED,
	CAP_PAGE_ZERO,          /* all zero and level excludes zero: shared page */
	CAP_PAGE_UNREADABLE,    /* source could not be read: no data */
	CAP_PAGE_SEEN,          /* seen before (or, without workers, left to the
				 * writer, which looks it up): not compressed yet */
};

#define CAP_BATCH_PAGES 64

struct cap_batch {
	uint64_t seq;
	size_t n;
	uint64_t pfn[CAP_BATCH_PAGES];
	uint8_t kind[CAP_BATCH_PAGES];
	uint32_t size[CAP_BATCH_PAGES];   /* bytes of data for the page */
	uint32_t off[CAP_BATCH_PAGES];    /* where in out (compressed) or in (raw) */
	struct cap_hash hash[CAP_BATCH_PAGES]; /* content hash (dedup) */
	bool hashed;                      /* hash[] filled (else the writer hashes) */
	uint8_t *in;                      /* n pages */
	uint8_t *out;                     /* compressed data, packed */
	size_t out_cap;
	int state;                        /* pool.c */
	struct cap_batch *next;
};

struct cap_pool;
/* A pool of workers that compress batches; with threads <= 1 there are no
 * workers and cap_pool_submit compresses in the caller.  With threads N > 1
 * there are N - 1 workers, and cap_pool_done(wait) compresses queued
 * batches in the caller instead of waiting. */
/* Batches are read there too: by each worker through its own handle on
 * src_paths (one path, or the parts of a split set), or by the caller through src when there are no workers. */
int cap_pool_create(struct cap_pool **out, int threads, size_t nbatches, size_t page_size,
		    unsigned codec, int level, bool zero_check, bool hash,
		    vmc_dump *src, const char *const *src_paths, size_t npaths,
		    bool log_unreadable);
/* Open the capture's source (o->input, or the parts of a split set) on d. */
int cap_open_source(vmc_dump *d, const struct cap_options *o, unsigned flags);
/* Without worker threads, batches are compressed in the caller, which may
 * then skip pages whose content the table already holds. */
void cap_pool_set_dedup(struct cap_pool *p, const struct cap_dedup *d);
/* After pass 1, before any batch: the workers' seen set sized to PAGES. */
int cap_pool_fit_seen(struct cap_pool *p, uint64_t pages);
/* Compress one page with the caller's codec (main thread, pool without
 * workers or not): returns the size in out, or 0 to store it raw. */
size_t cap_pool_compress_one(struct cap_pool *p, const uint8_t *page, uint8_t *out);
void cap_pool_destroy(struct cap_pool *p);
/* A free batch to fill (blocks until one is free). */
struct cap_batch *cap_pool_get(struct cap_pool *p);
/* Hand a filled batch over for compression. */
void cap_pool_submit(struct cap_pool *p, struct cap_batch *b);
/* The oldest submitted batch once it is done (in submission order), or NULL if
 * none is outstanding.  With wait false, NULL also when it is not done yet. */
struct cap_batch *cap_pool_done(struct cap_pool *p, bool wait);
void cap_pool_put(struct cap_pool *p, struct cap_batch *b);

/* ---- progress.c ---------------------------------------------------------- */
struct cap_progress {
	int mode;               /* 0 off, 1 live line (tty), 2 periodic lines */
	double interval;
	double start, last;
	uint64_t total;
	const char *what;
	bool printed_live;
};
double cap_now(void);
void cap_progress_init(struct cap_progress *p, int mode, double interval, const char *what,
		       uint64_t total);
void cap_progress_update(struct cap_progress *p, uint64_t done, uint64_t bytes);
void cap_progress_end(struct cap_progress *p, uint64_t done, uint64_t bytes);

/* ---- plan.c: which frames go into the dump ------------------------------ */
struct cap_plan {
	vmc_dump *src;
	vmc_mm *mm;             /* NULL when levels 2-16 cannot be applied */
	int level;              /* effective dump level */
	uint64_t max_pfn;
	uint32_t page_size;
	uint64_t cycle_pfns;    /* frames per cycle (multiple of 64) */
	uint64_t ncycles;
	uint8_t *bm1, *bm2;     /* the current cycle's bitmaps */
	uint64_t cyc_start, cyc_end;
	uint64_t cyc_loaded;    /* which cycle is in bm1/bm2 (~0: none) */
	uint64_t counted;       /* cycles already added to the counters */
	uint8_t *cls;           /* classification scratch */
	struct cap_xen *xen;    /* Xen dumps: xen-filter.c classifies the frames */
	vmc_dump *guest;        /* src by machine frame: the guest by pfn (mm's) */
	const uint64_t *tree;   /* ... and its P2M tree's frames, always kept */
	size_t ntree;
	const unsigned *keep_ids;   /* Xen: domain ids whose frames -X keeps */
	size_t nkeep_ids;
	uint64_t pages_ram, pages_dumpable;
	uint64_t excluded[8];
};

/* guest: NULL, or src's pfn view when src is by machine frame */
int cap_plan_init(struct cap_plan *pl, vmc_dump *src, vmc_dump *guest, int level, size_t budget,
		  uint64_t cycle_pages, const unsigned *keep_ids, size_t nkeep_ids,
		  struct cap_result *r);
void cap_plan_fini(struct cap_plan *pl);
/* Fill bm1 (in the memory map) and bm2 (to dump) for cycle c. */
int cap_plan_cycle(struct cap_plan *pl, uint64_t c);
static inline bool cap_bit(const uint8_t *bm, uint64_t i)
{
	return bm[i >> 3] >> (i & 7) & 1;
}

/* ---- xen-filter.c: Xen dumps (machine frames, docs/formats.md §4.8) ---------- */
/* -X (makedumpfile's "exclude domU pages") rides on cap_options.dump_level
 * above the 0-31 levels; cap_plan_init takes it off. */
/* A class that plan.c excludes whatever the level (domU frames with -X,
 * free Xen heap frames with -X alone). */
#define CAP_PC_DROP 0xff
struct cap_xen;
/* Set up for a Xen source (vmc_xen(src) != NULL): frame ownership, dom0's
 * view and classification, the output's normalised notes; sets pl->xen and
 * pl->level.  Reports through r (warnings, notes at fini). */
int cap_xen_plan_init(struct cap_plan *pl, int level, struct cap_result *r);
/* Classes (enum vmc_pclass, or CAP_PC_DROP) of machine frames [start, start+n). */
int cap_xen_classify(struct cap_plan *pl, uint64_t start, uint64_t n, uint8_t *cls);
void cap_xen_plan_fini(struct cap_plan *pl);

/* ---- writers ------------------------------------------------------------- */
struct cap_ctx {
	const struct cap_options *o;
	struct cap_result *r;
	vmc_dump *src;
	vmc_dump *guest;             /* src is a PV guest's core by machine frame
				      * (vmc_machine_frames): the same by pfn,
				      * for its log, classification, header */
	vmc_dump *rsrc;              /* dedup's re-reads (pipeline.c): not src */
	struct cap_plan plan;
	struct cap_sink sink;
	struct cap_pool *pool;
	struct cap_dedup dedup;
	struct cap_progress prog;
	uint64_t pages_done;
	uint64_t pages_lost;         /* frames the source should hold but lost
				      * (cut short): absent from the output,
				      * which the writers mark incomplete */
	struct vmc_notes_out notes;  /* what the writers copy, never the raw notes */
};

int cap_write_kdump(struct cap_ctx *c);
int cap_write_elf(struct cap_ctx *c);


/* Set r->error from a negative errno or the dump's message. */
int cap_fail(struct cap_result *r, enum cap_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
