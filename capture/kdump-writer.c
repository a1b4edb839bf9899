/* kdump-writer.c - kdump-compressed output, header version 6 (docs/formats.md §1),
 * in the dumped machine's header layout (64-bit, or i386's and ARM's, §1.12).
 *
 * File: header block | sub header + note copy | bitmap1 | bitmap2 |
 *       descriptors (24 bytes per dumped frame) | shared zero page | page data.
 * The descriptor area's size must be known before page data is written, so a
 * first pass over the cycles counts the frames to dump (bitmap2 does not
 * depend on page content: zero pages keep their bit and share one page).
 * Out of space: what reached the disk stays valid; descriptors of pages whose
 * data did not make it stay zero ("never written"), and the header's
 * incomplete flag is set, as makedumpfile does.
 */
#include "internal.h"
#include "../common/le.h"
#include "../vmcore/kdump-format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DESC_BUF 4096            /* descriptors buffered before a write */

/* Where the header and sub header fields lie for the dumped machine's C
 * layout (docs/formats.md §1.12): a 32-bit machine's kdump file is what its
 * own makedumpfile writes, as readers (crash, libkdumpfile, salvage) pick
 * the layout from the utsname machine. */
struct kw_layout {
	bool ilp32;               /* timeval and unsigned long of 4 bytes */
	uint16_t ts, status, block_size, sub_hdr_size, bitmap_blocks, max_mapnr, nr_cpus;
	uint16_t dump_level, off_vmci, size_vmci, off_note, size_note, mapnr64, sub_size;
};

static const struct kw_layout kw_layout64 = {
	false, KDUMP_HDR_TIMESTAMP, KDUMP_HDR_STATUS, KDUMP_HDR_BLOCK_SIZE,
	KDUMP_HDR_SUB_HDR_SIZE, KDUMP_HDR_BITMAP_BLOCKS, KDUMP_HDR_MAX_MAPNR, KDUMP_HDR_NR_CPUS,
	KDUMP_SUB_DUMP_LEVEL, KDUMP_SUB_OFF_VMCOREINFO, KDUMP_SUB_SIZE_VMCOREINFO,
	KDUMP_SUB_OFF_NOTE, KDUMP_SUB_SIZE_NOTE, KDUMP_SUB_MAX_MAPNR_64, KDUMP_SUB_SIZE,
};
static const struct kw_layout kw_layout_i386 = {
	true, KDUMP32_HDR_TIMESTAMP, KDUMP32_HDR_STATUS, KDUMP32_HDR_BLOCK_SIZE,
	KDUMP32_HDR_SUB_HDR_SIZE, KDUMP32_HDR_BITMAP_BLOCKS, KDUMP32_HDR_MAX_MAPNR,
	KDUMP32_HDR_NR_CPUS,
	KDUMP_SUB32_DUMP_LEVEL, KDUMP_SUB32I_OFF_VMCOREINFO, KDUMP_SUB32I_SIZE_VMCOREINFO,
	KDUMP_SUB32I_OFF_NOTE, KDUMP_SUB32I_SIZE_NOTE, KDUMP_SUB32I_MAX_MAPNR_64,
	KDUMP_SUB32I_SIZE,
};
static const struct kw_layout kw_layout_arm = {
	true, KDUMP32_HDR_TIMESTAMP, KDUMP32_HDR_STATUS, KDUMP32_HDR_BLOCK_SIZE,
	KDUMP32_HDR_SUB_HDR_SIZE, KDUMP32_HDR_BITMAP_BLOCKS, KDUMP32_HDR_MAX_MAPNR,
	KDUMP32_HDR_NR_CPUS,
	KDUMP_SUB32_DUMP_LEVEL, KDUMP_SUB32A_OFF_VMCOREINFO, KDUMP_SUB32A_SIZE_VMCOREINFO,
	KDUMP_SUB32A_OFF_NOTE, KDUMP_SUB32A_SIZE_NOTE, KDUMP_SUB32A_MAX_MAPNR_64,
	KDUMP_SUB32A_SIZE,
};

struct kw {
	struct cap_ctx *c;
	const struct kw_layout *l;
	uint64_t ps;
	uint64_t bm1_off, bm2_off, desc_off, data_start, zero_off;
	uint64_t bm_bytes;        /* each bitmap's area (whole blocks) */
	uint64_t cycle;           /* the cycle being written (pass 2) */
	uint64_t data_pos;        /* next page data offset */
	uint8_t *descs;           /* DESC_BUF entries */
	uint64_t desc_base;       /* index of descs[0] */
	size_t ndesc;
	uint64_t next_index;      /* descriptor index of the next dumped frame */
	unsigned codec;
	uint8_t *cbuf;            /* main-thread compression output */
	uint8_t *vbuf;            /* page re-read to confirm a duplicate */
};

/* utsname (docs/formats.md §1.2): the source's kdump header when it is
 * complete, else init_uts_ns in the dump's memory, else built from what the
 * dump says (VMCOREINFO OSRELEASE, Xen's version and extra version, the
 * machine); a field nothing tells is "(unknown)", never empty: readers
 * (libkdumpfile, crash) ignore a header with an empty field and with it
 * the machine. */
static void fill_utsname(vmc_dump *src, uint8_t *uts /* 6 x 65 */)
{
	static const char *const f[] = { "sysname", "nodename", "release", "version",
					 "machine", "domainname" };
	const struct vmc_xen *x = vmc_xen(src);
	uint64_t sym, off = 0;
	const char *rel;
	int i;

	memset(uts, 0, 6 * 65);
	for (i = 0; i < 5 && vmc_kdump_utsname(src, f[i]); i++)
		;
	if (i == 5) {
		for (i = 0; i < 6; i++) {
			const char *s = vmc_kdump_utsname(src, f[i]);
			if (s)
				strncpy((char *)uts + 65 * i, s, 64);
		}
		return;
	}
	if (!x && vmc_vmci_symbol(src, "init_uts_ns", &sym) == VMC_OK) {
		/* before 5.11 the name follows a kref: OFFSET absent, 4 bytes in */
		if (vmc_vmci_offset(src, "uts_namespace.name", &off) != VMC_OK)
			off = 4;
		if (vmc_read_virt(src, sym + off, uts, 6 * 65) == VMC_OK) {
			for (i = 0; i < 6; i++)
				uts[65 * i + 64] = 0;
			rel = vmc_vmcoreinfo_get(src, "OSRELEASE");
			if ((!rel || strcmp((char *)uts + 130, rel) == 0) && uts[0] && uts[65] &&
			    uts[130] && uts[195] && uts[260])
				return;
		}
		memset(uts, 0, 6 * 65);
	}
	for (i = 0; i < 6; i++) {
		const char *s = vmc_kdump_utsname(src, f[i]);
		if (s)
			strncpy((char *)uts + 65 * i, s, 64);
	}
	/* sysname stays "Linux" for a Xen host too, as makedumpfile writes it:
	 * readers take the header only from a Linux kdump (libkdumpfile
	 * ignores it otherwise, and with it the machine and the Xen notes) */
	if (!uts[0])
		strcpy((char *)uts, "Linux");
	rel = vmc_vmcoreinfo_get(src, "OSRELEASE");
	if (rel)
		snprintf((char *)uts + 130, 65, "%s", rel);
	else if (x && !uts[130])
		snprintf((char *)uts + 130, 65, "xen-%llu.%llu%.24s", (unsigned long long)x->major,
			 (unsigned long long)x->minor, x->extra_version);
	if (vmc_arch(src))
		snprintf((char *)uts + 260, 65, "%s", vmc_arch(src));
	for (i = 0; i < 5; i++)
		if (!uts[65 * i])
			strcpy((char *)uts + 65 * i, "(unknown)");
	if (!uts[325])
		strcpy((char *)uts + 325, "(none)");
}

/* The layout for the source's machine: the 32-bit ones for i386 and arm,
 * the 64-bit one for every other (x86_64's, every 64-bit little-endian
 * machine's). */
static const struct kw_layout *layout_of(vmc_dump *src)
{
	const char *a = vmc_arch(src);

	if (a && !strcmp(a, "i386"))
		return &kw_layout_i386;
	if (a && !strcmp(a, "arm"))
		return &kw_layout_arm;
	return &kw_layout64;
}

/* An unsigned long of the layout: 4 or 8 bytes */
static void put_ulong(const struct kw_layout *l, uint8_t *p, uint64_t v)
{
	if (l->ilp32)
		le_put32(p, (uint32_t)v);
	else
		le_put64(p, v);
}

static int write_headers(struct kw *w, uint32_t sub_blocks, uint32_t bitmap_blocks)
{
	struct cap_ctx *c = w->c;
	const struct kw_layout *l = w->l;
	vmc_dump *src = c->src;
	uint8_t *blk = calloc(1, w->ps);
	size_t note_len = c->notes.len;
	const uint8_t *notes = c->notes.bytes;
	uint64_t vmci_off = 0, vmci_len = 0;
	int64_t t = 0;
	int rc;

	if (!blk)
		return -ENOMEM;
	memcpy(blk, KDUMP_SIGNATURE, KDUMP_SIG_LEN);
	le_put32(blk + KDUMP_HDR_VERSION, KDUMP_VERSION_MAX);
	/* a PV guest by machine frame has no virtual addresses: its pfn view */
	fill_utsname(c->guest ? c->guest : src, blk + KDUMP_HDR_UTSNAME);
	if (vmc_vmci_crashtime(src, &t) != VMC_OK)
		vmc_kdump_timestamp(src, &t);
	if (l->ilp32)   /* a 32-bit time_t: what the machine's writer could hold */
		le_put32(blk + l->ts, (uint32_t)(t < INT32_MIN || t > INT32_MAX ? 0 : t));
	else
		le_put64(blk + l->ts, (uint64_t)t);
	le_put32(blk + l->status, w->codec);
	le_put32(blk + l->block_size, (uint32_t)w->ps);
	le_put32(blk + l->sub_hdr_size, sub_blocks);
	le_put32(blk + l->bitmap_blocks, bitmap_blocks);
	le_put32(blk + l->max_mapnr, c->plan.max_pfn > UINT32_MAX ? UINT32_MAX : (uint32_t)c->plan.max_pfn);
	le_put32(blk + l->nr_cpus, (uint32_t)vmc_cpu_count(src));
	rc = cap_sink_write(&c->sink, 0, blk, w->ps);
	free(blk);
	if (rc < 0)
		return rc;

	/* the VMCOREINFO note's descriptor inside the note copy */
	if (c->notes.vmcoreinfo_off != UINT64_MAX) {
		vmci_off = w->ps + l->sub_size + c->notes.vmcoreinfo_off;
		vmci_len = c->notes.vmcoreinfo_len;
	}
	size_t sublen = (size_t)sub_blocks * w->ps;
	uint8_t *sub = calloc(1, sublen);
	struct vmc_layout lay;
	uint64_t phys_base = 0;
	if (!sub)
		return -ENOMEM;
	if (vmc_kernel_layout(c->guest ? c->guest : src, &lay) == VMC_OK)
		phys_base = lay.phys_base;
	else
		vmc_kdump_phys_base(src, &phys_base);
	put_ulong(l, sub + KDUMP_SUB_PHYS_BASE, phys_base);
	le_put32(sub + l->dump_level, (uint32_t)c->plan.level);
	le_put64(sub + l->off_vmci, vmci_off);
	put_ulong(l, sub + l->size_vmci, vmci_len);
	le_put64(sub + l->off_note, note_len ? w->ps + l->sub_size : 0);
	put_ulong(l, sub + l->size_note, note_len);
	le_put64(sub + l->mapnr64, c->plan.max_pfn);
	if (note_len)
		memcpy(sub + l->sub_size, notes, note_len);
	rc = cap_sink_write(&c->sink, w->ps, sub, sublen);
	free(sub);
	return rc;
}

static int flush_descs(struct kw *w)
{
	int rc;
	if (!w->ndesc)
		return 0;
	rc = cap_sink_write(&w->c->sink, w->desc_off + w->desc_base * KDUMP_PD_LEN, w->descs,
			    w->ndesc * KDUMP_PD_LEN);
	/* out of the cache now (they do not continue the data stream anyway):
	 * until they are on disk they stay here, for salvage_partial to patch
	 * (a cut write would leave half a descriptor) */
	if (rc == 0)
		rc = cap_sink_flush(&w->c->sink);
	if (rc < 0)
		return rc;
	w->desc_base += w->ndesc;
	w->ndesc = 0;
	return 0;
}

static int add_desc(struct kw *w, uint64_t off, uint32_t size, uint32_t flags)
{
	uint8_t *d = w->descs + w->ndesc * KDUMP_PD_LEN;
	le_put64(d + KDUMP_PD_OFFSET, off);
	le_put32(d + KDUMP_PD_SIZE, size);
	le_put32(d + KDUMP_PD_FLAGS, flags);
	le_put64(d + KDUMP_PD_PAGE_FLAGS, 0);
	w->ndesc++;
	w->next_index++;
	if (w->ndesc == DESC_BUF)
		return flush_descs(w);
	return 0;
}

static int write_batch(struct kw *w, struct cap_batch *b)
{
	struct cap_ctx *c = w->c;
	int rc = 0;

	for (size_t i = 0; i < b->n && rc >= 0; i++) {
		switch (b->kind[i]) {
		case CAP_PAGE_ZERO:
			rc = add_desc(w, w->zero_off, (uint32_t)w->ps, 0);
			break;
		case CAP_PAGE_UNREADABLE:
			/* offset 0: "never written", which readers treat as missing */
			c->r->pages_unreadable++;
			cap_lost_add(c->r, b->pfn[i], 1);
			rc = add_desc(w, 0, 0, 0);
			break;
		case CAP_PAGE_RAW:
		case CAP_PAGE_COMPRESSED:
		case CAP_PAGE_SEEN: {
			const uint8_t *page = b->in + i * w->ps;
			const uint8_t *data;
			uint32_t size, flags;
			bool look = cap_dedup_look(&c->dedup);
			if (look) {
				if (!b->hashed)
					cap_page_hash(page, w->ps, &b->hash[i]);
				const struct cap_dedup_entry *e =
					cap_dedup_match(&c->dedup, &b->hash[i], page, c->rsrc, w->vbuf);
				if (e) {
					rc = add_desc(w, e->off, e->size, e->flags);
					c->r->pages_dedup++;
					break;
				}
			}
			if (b->kind[i] == CAP_PAGE_SEEN) {
				size_t n = cap_pool_compress_one(c->pool, page, w->cbuf);
				data = n ? w->cbuf : page;
				size = n ? (uint32_t)n : (uint32_t)w->ps;
				flags = n ? w->codec : 0;
			} else if (b->kind[i] == CAP_PAGE_RAW) {
				data = page;
				size = (uint32_t)w->ps;
				flags = 0;
			} else {
				data = b->out + b->off[i];
				size = b->size[i];
				flags = w->codec;
			}
			uint64_t at = w->data_pos;
			rc = cap_sink_write(&c->sink, at, data, size);
			if (rc < 0)
				break;
			w->data_pos += size;
			rc = add_desc(w, at, size, flags);
			if (look)
				cap_dedup_insert(&c->dedup, &b->hash[i], b->pfn[i], at, size, flags,
						 page);
			break;
		}
		}
		if (rc >= 0 && b->kind[i] == CAP_PAGE_ZERO)
			c->r->pages_zero++;
	}
	c->pages_done += b->n;
	c->r->bytes_in += b->n * w->ps;
	cap_progress_update(&c->prog, c->pages_done, c->r->bytes_in);
	return rc;
}

/* A stream cut inside the bitmaps leaves parts of them unstored, and a
 * reader cannot take a dump whose bitmaps are missing.  Write them whole
 * again (later records win): cycles up to the one being written as planned,
 * the rest empty (their frames read as absent), and zeros to the end of each
 * area.  Best effort, like every patch after a failure. */
static void flat_bitmaps_again(struct kw *w)
{
	static const uint8_t zeros[4096];
	struct cap_plan *pl = &w->c->plan;
	struct cap_sink *sk = &w->c->sink;

	for (int k = 0; k < 2; k++) {
		uint64_t base = k ? w->bm2_off : w->bm1_off, done = 0;
		for (uint64_t cyc = 0; cyc <= w->cycle && cyc < pl->ncycles; cyc++) {
			if (cap_plan_cycle(pl, cyc) < 0)
				break;
			uint64_t n = (pl->cyc_end - pl->cyc_start + 7) / 8;
			cap_sink_patch(sk, base + pl->cyc_start / 8, k ? pl->bm2 : pl->bm1, (size_t)n);
			done = pl->cyc_start / 8 + n;
		}
		while (done < w->bm_bytes) {
			uint64_t n = w->bm_bytes - done < sizeof(zeros) ? w->bm_bytes - done : sizeof(zeros);
			if (cap_sink_patch(sk, base + done, zeros, (size_t)n) < 0)
				break;
			done += n;
		}
	}
}

/* Out of space or a write error: keep what reached the file, set the flag. */
static int salvage_partial(struct kw *w, int err)
{
	struct cap_ctx *c = w->c;
	uint64_t valid = c->sink.data_end;
	uint8_t st[4];

	c->sink.cache_len = 0;   /* unwritten data is lost anyway */
	/* buffered descriptors: keep those whose data is entirely on disk */
	for (size_t i = 0; i < w->ndesc; i++) {
		uint8_t *d = w->descs + i * KDUMP_PD_LEN;
		uint64_t off = le_get64(d + KDUMP_PD_OFFSET), size = le_get32(d + KDUMP_PD_SIZE);
		if (off && off + size > valid)
			memset(d, 0, KDUMP_PD_LEN);
	}
	uint64_t kept = 0;
	for (size_t i = 0; i < w->ndesc; i++)
		for (int k = 0; k < 8; k++)
			if (w->descs[i * KDUMP_PD_LEN + k]) {
				kept++;
				break;
			}
	if (w->ndesc)
		cap_sink_patch(&c->sink, w->desc_off + w->desc_base * KDUMP_PD_LEN, w->descs,
			       w->ndesc * KDUMP_PD_LEN);
	/* descriptors flushed earlier all point at data that was on disk then */
	c->r->pages_written = w->desc_base + kept;
	c->r->pages_written -= c->r->pages_unreadable < c->r->pages_written ?
			       c->r->pages_unreadable : c->r->pages_written;
	/* a stream cut inside the bitmaps or descriptors: give it its full
	 * metadata extent (what was not written reads as zero: no page) */
	if (c->sink.flat)
		flat_bitmaps_again(w);
	if (c->sink.flat && c->sink.size < w->data_start) {
		uint8_t z = 0;
		cap_sink_patch(&c->sink, w->data_start - 1, &z, 1);
	}
	le_put32(st, w->codec | KDUMP_DH_COMPRESSED_INCOMPLETE);
	int prc = cap_sink_patch(&c->sink, w->l->status, st, 4);
	cap_sink_sync(&c->sink);
	c->r->incomplete = true;
	return cap_fail(c->r, CAP_INCOMPLETE, "writing %s: %s; dump incomplete%s",
			c->o->output, strerror(-err),
			prc < 0 ? " (and the incomplete flag could not be set)" : "");
}

static int dump_cycle(struct kw *w, uint64_t cyc, struct cap_batch **cur)
{
	struct cap_ctx *c = w->c;
	struct cap_plan *pl = &c->plan;
	uint64_t n = pl->cyc_end - pl->cyc_start;
	int rc;

	rc = cap_sink_write(&c->sink, w->bm1_off + pl->cyc_start / 8, pl->bm1, (size_t)((n + 7) / 8));
	if (rc == 0)
		rc = cap_sink_write(&c->sink, w->bm2_off + pl->cyc_start / 8, pl->bm2,
				    (size_t)((n + 7) / 8));
	if (rc < 0)
		return rc;
	for (uint64_t i = 0; i < n; i++) {
		if (!(i & 7) && !pl->bm2[i >> 3]) {
			i += 7;
			continue;
		}
		if (!cap_bit(pl->bm2, i))
			continue;
		if (!*cur) {
			while (!(*cur = cap_pool_get(c->pool))) {
				struct cap_batch *d = cap_pool_done(c->pool, true);
				rc = write_batch(w, d);
				cap_pool_put(c->pool, d);
				if (rc < 0)
					return rc;
			}
		}
		(*cur)->pfn[(*cur)->n++] = pl->cyc_start + i;
		if ((*cur)->n == CAP_BATCH_PAGES) {
			cap_pool_submit(c->pool, *cur);
			*cur = NULL;
			struct cap_batch *d;
			while ((d = cap_pool_done(c->pool, false))) {
				rc = write_batch(w, d);
				cap_pool_put(c->pool, d);
				if (rc < 0)
					return rc;
			}
		}
	}
	(void)cyc;
	return 0;
}

int cap_write_kdump(struct cap_ctx *c)
{
	struct cap_plan *pl = &c->plan;
	struct kw w;
	uint64_t num = 0;
	size_t note_len = 0;
	int rc;

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.l = layout_of(c->src);
	w.ps = pl->page_size;
	w.codec = c->o->codec;
	/* pass 1: count the frames to dump */
	for (uint64_t cyc = 0; cyc < pl->ncycles; cyc++) {
		rc = cap_plan_cycle(pl, cyc);
		if (rc < 0)
			return cap_fail(c->r, CAP_ERR, "filtering: %s", vmc_errmsg(c->src));
	}
	num = pl->pages_dumpable;
	/* de-duplication's tables for the pages there are, not the budget's
	 * (best effort: on failure the larger ones stay) */
	(void)cap_dedup_fit(&c->dedup, num);
	(void)cap_pool_fit_seen(c->pool, num);
	note_len = c->notes.len;
	uint32_t sub_blocks = (uint32_t)((w.l->sub_size + note_len + w.ps - 1) / w.ps);
	uint64_t bm_each = ((pl->max_pfn + 7) / 8 + w.ps - 1) / w.ps;
	w.bm_bytes = bm_each * w.ps;
	w.bm1_off = (1 + (uint64_t)sub_blocks) * w.ps;
	w.bm2_off = w.bm1_off + bm_each * w.ps;
	w.desc_off = w.bm2_off + bm_each * w.ps;
	w.data_start = w.desc_off + KDUMP_PD_LEN * num;
	w.descs = malloc(DESC_BUF * KDUMP_PD_LEN);
	w.cbuf = malloc(cap_codec_bound(w.ps));
	w.vbuf = malloc(w.ps);
	if (!w.descs || !w.cbuf || !w.vbuf) {
		free(w.descs);
		free(w.cbuf);
		free(w.vbuf);
		return cap_fail(c->r, CAP_ERR, "out of memory");
	}

	cap_progress_init(&c->prog, c->o->progress, c->o->progress_interval, "writing", num);
	rc = cap_sink_reserve(&c->sink, w.data_start + w.ps);
	if (rc == 0)
		rc = write_headers(&w, sub_blocks, (uint32_t)(2 * bm_each));
	/* out now: a stream (-F) cut before them would hold no dump at all */
	if (rc == 0)
		rc = cap_sink_flush(&c->sink);
	if (rc < 0) {
		free(w.descs);
		free(w.cbuf);
		free(w.vbuf);
		/* without its headers the file is no dump: the caller removes it */
		c->r->no_output = true;
		return cap_fail(c->r, CAP_ERR,
				"%s: %s before any page was written (the dump's headers need %llu bytes)",
				c->o->output, strerror(-rc), (unsigned long long)w.data_start);
	}
	cap_sink_data_start(&c->sink, w.data_start);
	w.data_pos = w.data_start;
	if (pl->level & VMC_DL_ZERO) {
		uint8_t *z = calloc(1, w.ps);
		if (!z) {
			free(w.descs);
			free(w.cbuf);
			free(w.vbuf);
			return cap_fail(c->r, CAP_ERR, "out of memory");
		}
		w.zero_off = w.data_start;
		rc = cap_sink_write(&c->sink, w.data_pos, z, w.ps);
		free(z);
		w.data_pos += w.ps;
	}

	/* pass 2: bitmaps, descriptors and data, cycle by cycle */
	struct cap_batch *cur = NULL;
	for (uint64_t cyc = 0; cyc < pl->ncycles && rc >= 0; cyc++) {
		rc = cap_plan_cycle(pl, cyc);
		if (rc < 0) {
			rc = cap_fail(c->r, CAP_ERR, "filtering: %s", vmc_errmsg(c->src));
			break;
		}
		w.cycle = cyc;
		rc = dump_cycle(&w, cyc, &cur);
	}
	if (rc >= 0 && cur && cur->n) {
		cap_pool_submit(c->pool, cur);
		cur = NULL;
	}
	/* drain in order even after a failure, so every batch returns */
	struct cap_batch *d;
	while ((d = cap_pool_done(c->pool, true))) {
		if (rc >= 0)
			rc = write_batch(&w, d);
		cap_pool_put(c->pool, d);
	}
	if (cur)
		cap_pool_put(c->pool, cur);
	if (rc >= 0)
		rc = cap_sink_flush(&c->sink);
	if (rc >= 0)
		rc = flush_descs(&w);
	if (rc >= 0)
		rc = cap_sink_flush(&c->sink);
	if (rc >= 0 && (c->pages_lost || c->r->pages_unreadable)) {
		/* pages left out (lost in the source) or written as "never
		 * written" descriptors (unreadable): readers must know */
		uint8_t st[4];
		le_put32(st, w.codec | KDUMP_DH_COMPRESSED_INCOMPLETE);
		rc = cap_sink_patch(&c->sink, w.l->status, st, 4);
		c->r->incomplete = rc >= 0;
	}
	if (rc >= 0)
		rc = cap_sink_finish(&c->sink);
	if (rc >= 0)
		rc = cap_sink_sync(&c->sink);
	cap_progress_end(&c->prog, c->pages_done, c->r->bytes_in);
	if (rc < 0 && c->r->status == CAP_OK)
		rc = salvage_partial(&w, rc);
	else if (rc >= 0)
		c->r->pages_written = w.next_index - c->r->pages_unreadable;
	c->r->bytes_out = c->sink.size;
	free(w.descs);
	free(w.cbuf);
	free(w.vbuf);
	return rc < 0 ? rc : 0;
}
