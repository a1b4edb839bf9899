/* elf-writer.c - ELF64 core output (-E), like makedumpfile -E.
 *
 * The source's segments are kept (their physical and virtual addresses, so the
 * kernel-text segment that crash uses for phys_base survives).  Within each,
 * runs of dumped frames become PT_LOADs; a run of excluded frames ends a
 * PT_LOAD with p_memsz > p_filesz, except that gaps shorter than 256 frames
 * whose pages the source holds are written with their real content (fewer
 * program headers).  Zero pages (level bit 1) count as excluded here, since an
 * ELF file has no shared zero page.  Program headers come first, so the runs
 * are found in a first pass and the data written in a second.
 */
#include "internal.h"
#include "../common/le.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EHDR 64
#define PHDR 56
#define GAP_FILL 256
#define ELF_INCOMPLETE 0x1

struct seg {
	uint64_t paddr, end, vaddr;   /* bytes */
};

struct run {
	size_t seg;
	uint64_t pfn;                  /* first frame */
	uint64_t nfile, nmem;          /* frames with data, frames in all */
};

struct ew {
	struct cap_ctx *c;
	uint64_t ps;
	struct seg *segs;
	size_t nsegs;
	struct run *runs;
	size_t nruns, cap;
	uint8_t *page;
};

static int source_segments(struct ew *w)
{
	vmc_dump *src = w->c->src;
	struct vmc_layout lay;
	size_t nloads = vmc_elf_load_count(src);

	if (nloads) {
		w->segs = calloc(nloads, sizeof(*w->segs));
		if (!w->segs)
			return -ENOMEM;
		for (size_t i = 0; i < nloads; i++) {
			uint64_t pa, va, memsz;
			vmc_elf_load(src, i, &pa, &va, &memsz);
			if (!memsz)
				continue;
			w->segs[w->nsegs].paddr = pa;
			w->segs[w->nsegs].end = pa + memsz;
			w->segs[w->nsegs].vaddr = va;
			w->nsegs++;
		}
		return 0;
	}
	size_t n = vmc_range_count(src);
	uint64_t po = vmc_kernel_layout(src, &lay) == VMC_OK ? lay.page_offset : 0;
	w->segs = calloc(n ? n : 1, sizeof(*w->segs));
	if (!w->segs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct vmc_range *r = &vmc_ranges(src)[i];
		w->segs[i].paddr = r->start;
		w->segs[i].end = r->end;
		w->segs[i].vaddr = po ? po + r->start : 0;
	}
	w->nsegs = n;
	return 0;
}

static int push_run(struct ew *w, size_t seg, uint64_t pfn, uint64_t nfile, uint64_t nmem)
{
	if (!nmem)
		return 0;
	if (w->nruns == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 256;
		struct run *nr = realloc(w->runs, nc * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		w->runs = nr;
		w->cap = nc;
	}
	w->runs[w->nruns++] = (struct run){ seg, pfn, nfile, nmem };
	return 0;
}

static bool zero_page(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Is frame p to be written?  Loads the plan's cycle as needed. */
static int keep(struct ew *w, uint64_t p, bool *out)
{
	struct cap_plan *pl = &w->c->plan;
	uint64_t cyc = p / pl->cycle_pfns;
	int rc = cap_plan_cycle(pl, cyc);

	if (rc < 0)
		return rc;
	*out = cap_bit(pl->bm2, p - pl->cyc_start);
	if (!*out)
		return 0;
	/* a page the source cannot give is left out of the runs: an ELF file
	 * has no "missing" mark, and zeros in its place would be a lie */
	if (vmc_read_page(w->c->src, p, w->page) != VMC_OK) {
		*out = false;
		w->c->r->pages_unreadable++;
		cap_lost_add(w->c->r, p, 1);
	} else if ((pl->level & VMC_DL_ZERO) && zero_page(w->page, w->ps)) {
		*out = false;
		w->c->r->pages_zero++;
	}
	return 0;
}

static int find_runs(struct ew *w)
{
	for (size_t s = 0; s < w->nsegs; s++) {
		uint64_t first = w->segs[s].paddr / w->ps;
		uint64_t last = (w->segs[s].end + w->ps - 1) / w->ps;
		uint64_t start = first, nfile = 0, gap = 0;
		bool gap_readable = true;
		int rc;

		for (uint64_t p = first; p < last; p++) {
			bool k;
			if ((rc = keep(w, p, &k)) < 0)
				return rc;
			if (!k) {
				gap++;
				gap_readable = gap_readable &&
					vmc_page_state(w->c->src, p) == VMC_PAGE_PRESENT &&
					vmc_read_page(w->c->src, p, w->page) == VMC_OK;
				continue;
			}
			if (gap && nfile && gap < GAP_FILL && gap_readable) {
				nfile += gap;        /* fill: write the real content */
			} else if (gap) {
				if ((rc = push_run(w, s, start, nfile, nfile + gap)) < 0)
					return rc;
				start = p;
				nfile = 0;
			}
			gap = 0;
			gap_readable = true;
			nfile++;
		}
		if ((rc = push_run(w, s, start, nfile, nfile + gap)) < 0)
			return rc;
	}
	return 0;
}

/* A run's byte range, clipped to its segment. */
static void run_bytes(const struct ew *w, const struct run *r, uint64_t *pa, uint64_t *filesz,
		      uint64_t *memsz)
{
	const struct seg *s = &w->segs[r->seg];
	uint64_t a = r->pfn * w->ps, fe = (r->pfn + r->nfile) * w->ps,
		 me = (r->pfn + r->nmem) * w->ps;
	if (a < s->paddr)
		a = s->paddr;
	if (fe > s->end)
		fe = s->end;
	if (me > s->end)
		me = s->end;
	*pa = a;
	*filesz = fe > a ? fe - a : 0;
	*memsz = me > a ? me - a : 0;
}

/* Cut short at file offset valid: each PT_LOAD keeps, as p_filesz, only the
 * whole pages that reached the file, so that no reader takes a half-written
 * page (or, in a stream, a record completed with zeros) for data. */
static void cut_segments(struct ew *w, uint8_t *hdr, uint64_t phnum, uint64_t valid)
{
	for (uint64_t i = 1; i < phnum; i++) {
		uint8_t *p = hdr + EHDR + i * PHDR;
		uint64_t off = 0, pa = 0, fs = 0, keep = 0;
		for (int k = 7; k >= 0; k--) {
			off = off << 8 | p[8 + k];
			pa = pa << 8 | p[24 + k];
			fs = fs << 8 | p[32 + k];
		}
		if (valid > off) {
			keep = valid - off;
			if (keep < fs)
				keep = (pa + keep) / w->ps * w->ps > pa ? (pa + keep) / w->ps * w->ps - pa : 0;
			else
				keep = fs;
		}
		if (keep != fs)
			le_put64(p + 32, keep);
		/* nothing of a segment that starts inside a page: readers take
		 * that first page as present even with p_filesz 0, so the
		 * segment goes (PT_NULL: its frames read as a hole, not data) */
		if (!keep && fs && pa % w->ps)
			le_put32(p, 0);
	}
	w->c->sink.cache_len = 0;
	cap_sink_patch(&w->c->sink, EHDR, hdr + EHDR, (size_t)((phnum) * PHDR));
}

static int frame_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Frames with data in the output, each once: runs may overlap (the kernel
 * text PT_LOAD duplicates RAM) and two runs may share a partial page. */
static uint64_t distinct_frames(struct ew *w)
{
	uint64_t (*iv)[2] = calloc(w->nruns ? w->nruns : 1, sizeof(*iv)), n = 0, end = 0;
	size_t k = 0;

	if (!iv)
		return w->c->pages_done;
	for (size_t i = 0; i < w->nruns; i++) {
		uint64_t pa, fs, ms;
		run_bytes(w, &w->runs[i], &pa, &fs, &ms);
		if (!fs)
			continue;
		iv[k][0] = pa / w->ps;
		iv[k][1] = (pa + fs + w->ps - 1) / w->ps;
		k++;
	}
	qsort(iv, k, sizeof(*iv), frame_cmp);
	for (size_t i = 0; i < k; i++) {
		uint64_t a = iv[i][0] > end ? iv[i][0] : end;
		if (iv[i][1] > a)
			n += iv[i][1] - a;
		if (iv[i][1] > end)
			end = iv[i][1];
	}
	free(iv);
	return n;
}

int cap_write_elf(struct cap_ctx *c)
{
	struct ew w;
	size_t note_len = c->notes.len;
	const uint8_t *notes = c->notes.bytes;
	int rc;

	uint8_t *hdr = NULL;

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.ps = c->plan.page_size;
	w.page = malloc(w.ps);
	if (!w.page || source_segments(&w) < 0) {
		rc = cap_fail(c->r, CAP_ERR, "out of memory");
		goto out;
	}
	if (find_runs(&w) < 0) {
		rc = cap_fail(c->r, CAP_ERR, "filtering: %s", vmc_errmsg(c->src));
		goto out;
	}
	/* pages_dumpable counted by the plan includes zero pages; ELF drops them */
	uint64_t phnum = 1 + w.nruns, total = 0;
	uint64_t hdr_len = vmc_core_hdr_len(w.nruns);
	uint64_t note_off = hdr_len;
	uint64_t data_off = (note_off + note_len + w.ps - 1) / w.ps * w.ps;
	hdr = hdr_len ? calloc(1, (size_t)hdr_len) : NULL;
	if (!hdr) {
		rc = cap_fail(c->r, CAP_ERR, "out of memory for %llu program headers",
			      (unsigned long long)phnum);
		goto out;
	}
	vmc_core_hdr_put(hdr, &(struct vmc_core_hdr){
		.machine = vmc_elf_machine(c->src) ? vmc_elf_machine(c->src) : EM_X86_64,
		.nload = w.nruns, .note_off = note_off, .note_len = note_len });
	uint64_t off = data_off;
	for (size_t i = 0; i < w.nruns; i++) {
		uint64_t pa, fs, ms;
		run_bytes(&w, &w.runs[i], &pa, &fs, &ms);
		const struct seg *s = &w.segs[w.runs[i].seg];
		/* keep p_offset congruent to p_paddr modulo the page, as /proc/vmcore does */
		/* (a run without data stays where the data is: an offset past
		 * the end of the file would read as a truncated dump) */
		if (fs)
			off = (off + w.ps - 1) / w.ps * w.ps + pa % w.ps;
		vmc_core_load_put(hdr, i, &(struct vmc_core_load){
			.offset = off, .vaddr = s->vaddr ? s->vaddr + (pa - s->paddr) : 0,
			.paddr = pa, .filesz = fs, .memsz = ms });
		off += fs;
		total += (w.runs[i].nfile);
	}
	cap_progress_init(&c->prog, c->o->progress, c->o->progress_interval, "writing", total);
	rc = cap_sink_reserve(&c->sink, data_off);
	if (rc == 0)
		rc = cap_sink_write(&c->sink, 0, hdr, (size_t)hdr_len);
	if (rc == 0 && note_len)
		rc = cap_sink_write(&c->sink, note_off, notes, note_len);
	/* the padding up to the data too: the file reaches data_off even when
	 * no run has data (offsets past the end read as a truncated dump) */
	if (rc == 0 && data_off > note_off + note_len) {
		uint8_t *pad = calloc(1, (size_t)(data_off - note_off - note_len));
		rc = pad ? cap_sink_write(&c->sink, note_off + note_len, pad,
					  (size_t)(data_off - note_off - note_len)) : -ENOMEM;
		free(pad);
	}
	if (rc == 0)
		rc = cap_sink_flush(&c->sink);
	if (rc < 0) {
		/* without its headers the file is no dump: the caller removes it */
		c->r->no_output = true;
		rc = cap_fail(c->r, CAP_ERR,
			      "%s: %s before any page was written (the dump's headers need %llu bytes)",
			      c->o->output, strerror(-rc), (unsigned long long)data_off);
		goto out;
	}
	cap_sink_data_start(&c->sink, data_off);

	off = data_off;
	for (size_t i = 0; i < w.nruns && rc == 0; i++) {
		uint64_t pa, fs, ms;
		run_bytes(&w, &w.runs[i], &pa, &fs, &ms);
		uint64_t at = fs ? (off + w.ps - 1) / w.ps * w.ps + pa % w.ps : off;
		/* alignment padding keeps the data stream contiguous */
		static const uint8_t zeros[4096];
		while (off < at && rc == 0) {
			size_t n = at - off < sizeof(zeros) ? (size_t)(at - off) : sizeof(zeros);
			rc = cap_sink_write(&c->sink, off, zeros, n);
			off += n;
		}
		for (uint64_t b = pa; b < pa + fs && rc == 0;) {
			uint64_t pfn = b / w.ps, in = b % w.ps;
			uint64_t n = w.ps - in < pa + fs - b ? w.ps - in : pa + fs - b;
			/* the first pass read it: a failure now is no longer
			 * the source's quirk but an error */
			int r = vmc_read_page(c->src, pfn, w.page);
			if (r != VMC_OK) {
				rc = -EIO;
				break;
			}
			rc = cap_sink_write(&c->sink, off, w.page + in, (size_t)n);
			off += n;
			b += n;
			if (!in) {
				c->pages_done++;
				c->r->bytes_in += w.ps;
				cap_progress_update(&c->prog, c->pages_done, c->r->bytes_in);
			}
		}
	}
	if (rc == 0)
		rc = cap_sink_flush(&c->sink);
	if (rc == 0 && (c->pages_lost || c->r->pages_unreadable)) {
		/* pages left out of the PT_LOADs that the source was to hold */
		uint8_t fl[4];
		le_put32(fl, ELF_INCOMPLETE);
		rc = cap_sink_patch(&c->sink, 48, fl, 4);
		c->r->incomplete = rc >= 0;
	}
	if (rc == 0)
		rc = cap_sink_finish(&c->sink);
	if (rc == 0)
		rc = cap_sink_sync(&c->sink);
	cap_progress_end(&c->prog, c->pages_done, c->r->bytes_in);
	if (rc < 0) {
		uint8_t fl[4];
		le_put32(fl, ELF_INCOMPLETE);
		c->sink.cache_len = 0;
		cap_sink_patch(&c->sink, 48, fl, 4);
		cut_segments(&w, hdr, phnum, c->sink.data_end);
		cap_sink_sync(&c->sink);
		c->r->incomplete = true;
		c->r->pages_written = (c->sink.data_end - data_off) / w.ps;
		rc = cap_fail(c->r, CAP_INCOMPLETE, "writing %s: %s; dump incomplete",
			      c->o->output, strerror(-rc));
	} else {
		c->r->pages_written = distinct_frames(&w);
	}
	c->r->bytes_out = c->sink.size;
out:
	free(hdr);
	free(w.page);
	free(w.segs);
	free(w.runs);
	return rc < 0 ? -1 : 0;
}
