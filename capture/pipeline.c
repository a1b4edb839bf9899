/* pipeline.c - cap_run: open the source, save the kernel log first, plan the
 * filtering, then write the dump in the chosen format. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_CACHE (1u << 20)

void cap_options_init(struct cap_options *o)
{
	memset(o, 0, sizeof(*o));
	o->input = "/proc/vmcore";
	o->format = CAP_FMT_KDUMP;
	o->dump_level = 31;
	o->codec = VMC_COMP_ZSTD;
	o->threads = 1;
	o->progress = 1;
}

void cap_log(const char *fmt, ...)
{
	va_list ap;
	fputs("salvage-capture: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cap_fail(struct cap_result *r, enum cap_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	r->status = st;
	return -1;
}

void cap_lost_add(struct cap_result *r, uint64_t pfn, uint64_t n)
{
	const size_t cap = sizeof(r->lost) / sizeof(r->lost[0]);
	uint64_t end = pfn + n;
	size_t i = 0, j;

	if (!n || end < pfn)
		return;
	/* the first range that ends at or after pfn: merge into it when they
	 * touch, else insert before it */
	while (i < r->nlost && r->lost[i].end < pfn)
		i++;
	if (i < r->nlost && r->lost[i].start <= end) {
		if (pfn < r->lost[i].start)
			r->lost[i].start = pfn;
		if (end > r->lost[i].end)
			r->lost[i].end = end;
		/* swallow the ranges the grown one now reaches */
		for (j = i + 1; j < r->nlost && r->lost[j].start <= r->lost[i].end; j++)
			if (r->lost[j].end > r->lost[i].end)
				r->lost[i].end = r->lost[j].end;
		if (j > i + 1) {
			memmove(&r->lost[i + 1], &r->lost[j], (r->nlost - j) * sizeof(r->lost[0]));
			r->nlost -= j - i - 1;
		}
		return;
	}
	if (r->nlost == cap) {
		r->lost_unlisted += n;
		return;
	}
	memmove(&r->lost[i + 1], &r->lost[i], (r->nlost - i) * sizeof(r->lost[0]));
	r->lost[i].start = pfn;
	r->lost[i].end = end;
	r->nlost++;
}

char *cap_lost_text(const struct cap_result *r, char *out, size_t len)
{
	size_t used = 0;

	if (!len)
		return out;
	out[0] = 0;
	for (size_t i = 0; i < r->nlost && used < len; i++) {
		const struct cap_lost_range *g = &r->lost[i];
		int n = g->end - g->start > 1 ?
			snprintf(out + used, len - used, "%s0x%llx-0x%llx", i ? ", " : "",
				 (unsigned long long)g->start, (unsigned long long)g->end - 1) :
			snprintf(out + used, len - used, "%s0x%llx", i ? ", " : "",
				 (unsigned long long)g->start);
		used += n > 0 ? (size_t)n : 0;
	}
	if (r->lost_unlisted && used < len)
		snprintf(out + used, len - used, " and %llu more frames",
			 (unsigned long long)r->lost_unlisted);
	return out;
}

void cap_result_free(struct cap_result *r)
{
	for (size_t i = 0; i < r->nwarnings; i++)
		free((void *)r->warnings[i]);
	r->nwarnings = 0;
}

/* ---- the kernel log, saved before anything big is written ---------------- */

/* A record's text is at most ~1 KiB, and escaping turns a byte into at most
 * ten characters ("\\xffffffNN", as makedumpfile prints them). */
#define LOG_LINE_BUF (32u << 10)

struct log_out {
	FILE *f;
	char *buf;
	int err;                /* errno of the first failed write */
};

static int emit_line(void *arg, const struct vmc_logrec *rec)
{
	struct log_out *lo = arg;
	size_t n = vmc_logrec_format(rec, lo->buf, LOG_LINE_BUF);
	if (fwrite(lo->buf, 1, n, lo->f) == n)
		return 0;
	if (!lo->err)
		lo->err = errno ? errno : EIO;
	return -EIO;
}

/* Why the log could not be written: the output's own error when a write
 * failed (e.g. ENOSPC), else what the library said. */
static void log_error(vmc_dump *d, const struct log_out *lo, int rc, char *err, size_t errlen,
		      const char *prefix)
{
	const char *msg = vmc_errmsg(d);

	if (msg && strncmp(msg, "dmesg: ", 7) == 0)
		msg += 7;   /* the caller says "dmesg: " once */

	if (lo->err)
		snprintf(err, errlen, "%swriting the log: %s", prefix, strerror(lo->err));
	else if (rc < 0 && msg && msg[0])
		snprintf(err, errlen, "%s%s", prefix, msg);
	else
		snprintf(err, errlen, "%sno kernel log records found", prefix);
}

/* The kernel log of the dump; for a Xen dump, dom0's (the hypervisor keeps
 * no such log), read through a view of dom0's memory found without symbols.
 * On failure the reason is in err. */
static int log_of(vmc_dump *src, struct log_out *lo, char *err, size_t errlen)
{
	vmc_dump *view = NULL;
	int rc;

	if (!vmc_xen(src)) {
		rc = vmc_dmesg(src, emit_line, lo);
		if (rc != VMC_OK)
			log_error(src, lo, rc, err, errlen, "");
		return rc;
	}
	rc = vmc_xen_dom0_open(src, NULL, &view);
	if (rc != VMC_OK) {
		snprintf(err, errlen, "%s", vmc_errmsg(src));   /* says "dom0: ..." */
		vmc_dump_destroy(view);
		return rc < 0 ? rc : VMC_ERR_NOTFOUND;
	}
	rc = vmc_dmesg(view, emit_line, lo);
	if (rc != VMC_OK)
		log_error(view, lo, rc, err, errlen, "dom0: ");
	vmc_dump_destroy(view);
	return rc;
}

/* Put the finished tmp in path's place: replacing what is there only with
 * overwrite (and then the link itself, never its target). */
static int commit_file(const char *tmp, const char *path, bool overwrite)
{
	if (overwrite)
		return rename(tmp, path) < 0 ? -errno : 0;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* a filesystem without RENAME_NOREPLACE: a hard link cannot replace */
	if (link(tmp, path) < 0)
		return -errno;
	unlink(tmp);
	return 0;
}

/* Write the log to path (under a temporary name created exclusively,
 * fsynced, then renamed).  A log without a single record is no log: it is
 * reported as missing, never committed as a success.  Returns 0, or -1 with
 * r->error set. */
static int save_dmesg(vmc_dump *src, const char *path, bool overwrite, struct cap_result *r)
{
	char tmp[600];
	struct log_out lo;
	int rc, fd;
	static char line[LOG_LINE_BUF];
	char err[300] = "";

	lo.buf = line;
	lo.err = 0;

	if (strcmp(path, "-") == 0) {
		lo.f = stdout;
		rc = log_of(src, &lo, err, sizeof(err));
		fflush(stdout);
		if (rc != VMC_OK)
			cap_fail(r, CAP_ERR, "dmesg: %s", err);
		return rc == VMC_OK ? 0 : -1;
	}
	/* a device or pipe (e.g. /dev/null, a console) is written in place: the
	 * temporary name and rename are only for regular files; a symbolic link
	 * is never followed */
	struct stat st;
	bool in_place = lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode) &&
			!S_ISDIR(st.st_mode);
	if (!in_place && !overwrite && lstat(path, &st) == 0)
		return cap_fail(r, CAP_ERR, "%s exists (use -f to overwrite)", path);
	if (in_place) {
		snprintf(tmp, sizeof(tmp), "%s", path);
		fd = open(tmp, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	} else {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
			return cap_fail(r, CAP_ERR, "%s: %s", path, strerror(ENAMETOOLONG));
		/* exclusive: whatever sits at the temporary name (a symlink an
		 * attacker planted, a leftover) is not ours to write through */
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST && overwrite && lstat(tmp, &st) == 0 &&
		    S_ISREG(st.st_mode) && unlink(tmp) == 0)
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return cap_fail(r, CAP_ERR, "%s: %s", tmp, strerror(errno));
	lo.f = fdopen(fd, "w");
	if (!lo.f) {
		close(fd);
		if (!in_place)
			unlink(tmp);
		return cap_fail(r, CAP_ERR, "%s: %s", tmp, strerror(errno));
	}
	long start = in_place ? -1 : 0;
	rc = log_of(src, &lo, err, sizeof(err));
	if (rc == VMC_OK && fflush(lo.f) != 0) {
		rc = -EIO;
		snprintf(err, sizeof(err), "writing the log: %s", strerror(errno));
	}
	if (rc == VMC_OK && start == 0 && ftell(lo.f) == 0) {
		rc = VMC_ERR_NOTFOUND;
		snprintf(err, sizeof(err), "no kernel log records found in the dump");
	}
	if (rc != VMC_OK) {
		fclose(lo.f);
		if (!in_place)
			unlink(tmp);
		return cap_fail(r, CAP_ERR, "dmesg: %s", err);
	}
	if (!in_place && fsync(fileno(lo.f)) < 0) {
		int e = errno;
		fclose(lo.f);
		unlink(tmp);
		return cap_fail(r, CAP_ERR, "%s: %s", tmp, strerror(e));
	}
	if (fclose(lo.f) != 0) {
		int e = errno;
		if (!in_place)
			unlink(tmp);
		return cap_fail(r, CAP_ERR, "%s: %s", tmp, strerror(e));
	}
	if (!in_place && (rc = commit_file(tmp, path, overwrite)) < 0) {
		unlink(tmp);
		return cap_fail(r, CAP_ERR, "%s: %s", path,
				rc == -EEXIST ? "exists (use -f to overwrite)" : strerror(-rc));
	}
	snprintf(r->dmesg_file, sizeof(r->dmesg_file), "%s", path);
	r->dmesg_saved = true;
	return 0;
}

static void add_warning(struct cap_result *r, const char *s)
{
	char *d;

	if (r->nwarnings < sizeof(r->warnings) / sizeof(r->warnings[0]) && (d = strdup(s)))
		r->warnings[r->nwarnings++] = d;
}

static void copy_warnings(vmc_dump *src, struct cap_result *r)
{
	size_t n = vmc_warning_count(src);
	for (size_t i = 0; i < n && r->nwarnings < sizeof(r->warnings) / sizeof(r->warnings[0]); i++) {
		char *s = strdup(vmc_warning(src, i));
		if (s)
			r->warnings[r->nwarnings++] = s;
	}
}

/* Physical address bits when VMCOREINFO does not say (x86-64 and arm64
 * page tables reach 52 bits; nothing larger exists). */
#define PHYS_BITS_MAX 52
/* Frames the source may map per frame it holds data for.  Filtered ELF
 * dumps (makedumpfile -E) legitimately map far more memory than they
 * store, but a 16 TiB machine whose dump holds 1 MB is a hostile header:
 * every mapped frame costs two bitmap bits in the output and time. */
#define MAP_PER_PRESENT 65536ULL
#define MAP_FREE_FRAMES (1ULL << 24)

/* Refuse, before writing anything, a source whose memory the file cannot
 * justify: none at all, beyond the physical address width, or out of all
 * proportion to the pages it holds. */
static int check_extent(vmc_dump *src, const char *input, struct cap_result *r)
{
	uint64_t max_pfn = vmc_max_pfn(src), ps = vmc_page_size(src);
	uint64_t present = vmc_pages_present(src), limit;
	unsigned bits = PHYS_BITS_MAX;
	const char *why = "the largest physical address width";
	int64_t n;

	if (!vmc_range_count(src) || !max_pfn || !ps)
		return cap_fail(r, CAP_ERR, "%s: no memory in the dump (%s): nothing to capture",
				input, vmc_format(src) == VMC_FMT_ELF ? "no PT_LOAD segment"
								     : "no page frames");
	if (vmc_vmci_number(src, "MAX_PHYSMEM_BITS", &n) == VMC_OK && n >= 20 &&
	    n < PHYS_BITS_MAX && !vmc_xen(src)) {
		bits = (unsigned)n;
		why = "MAX_PHYSMEM_BITS in VMCOREINFO";
	}
	if (max_pfn > (1ULL << bits) / ps)
		return cap_fail(r, CAP_ERR,
				"%s: memory reaches 0x%llx, beyond %s (%u bits): not a real machine's dump",
				input, (unsigned long long)max_pfn * ps, why, bits);
	limit = present > MAP_FREE_FRAMES / MAP_PER_PRESENT ? present * MAP_PER_PRESENT
							     : MAP_FREE_FRAMES;
	if (max_pfn > limit)
		return cap_fail(r, CAP_ERR,
				"%s: the dump maps 0x%llx page frames but holds data for %llu: "
				"more than %llu frames per stored page is no machine's dump",
				input, (unsigned long long)max_pfn, (unsigned long long)present,
				MAP_PER_PRESENT);
	return 0;
}

/* Frames the source was to hold but lost (a dump cut short): counted
 * before writing, so the writers can mark their output incomplete. */
static uint64_t lost_frames(vmc_dump *src, struct cap_result *r)
{
	uint64_t n = 0, ps = vmc_page_size(src);

	if (!vmc_incomplete(src))
		return 0;
	for (size_t i = 0; i < vmc_range_count(src); i++) {
		const struct vmc_range *rg = &vmc_ranges(src)[i];
		uint64_t b = (rg->end + ps - 1) / ps;
		for (uint64_t p = rg->start / ps, run; p < b; p += run)
			if (vmc_page_state_run(src, p, b - p, &run) == VMC_PAGE_INCOMPLETE) {
				n += run;
				cap_lost_add(r, p, run);
			}
	}
	return n;
}

/* A split set is read as one dump (vmcore/vmc_open_paths: a missing or
 * foreign part is refused by name); its parts are ordinary files, read
 * with pread. */
int cap_open_source(vmc_dump *d, const struct cap_options *o, unsigned flags)
{
	if (o->nparts > 1)
		return vmc_open_paths(d, o->parts, o->nparts);
	return vmc_open_path_flags(d, o->input, flags);
}

enum cap_status cap_run(const struct cap_options *o, struct cap_result *r)
{
	struct cap_ctx c;
	double t0 = cap_now();
	char dpath[600];
	int rc;

	memset(r, 0, sizeof(*r));
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.r = r;
	c.src = vmc_dump_create();
	if (!c.src) {
		cap_fail(r, CAP_ERR, "out of memory");
		goto out;
	}
	if (cap_open_source(c.src, o, VMC_OPEN_MMAP) < 0) {
		const char *m = vmc_errmsg(c.src);
		size_t il = strlen(o->input);
		/* the library's message may already name the file (a split
		 * set's names the part, or says which frames none holds) */
		if ((strncmp(m, o->input, il) == 0 && m[il] == ':') || o->nparts > 1)
			cap_fail(r, CAP_ERR, "%s", m);
		else
			cap_fail(r, CAP_ERR, "%s: %s", o->input, m);
		goto out;
	}
	/* a PV guest's core is written by machine frame, which is what crash(8)
	 * reads (docs/formats.md §4.9): the source again, by machine frame;
	 * the handle by pfn stays for the log, classification and header */
	{
		const struct vmc_xen_core *xc = vmc_xen_core(c.src);
		bool pv = (xc && !xc->hvm) || vmc_pv_by_machine(c.src);  /* or its dump */
		vmc_dump *m = pv && o->nparts <= 1 ? vmc_dump_create() : NULL;
		if (m && vmc_open_path_flags(m, o->input, VMC_OPEN_MMAP | VMC_OPEN_MACHINE_FRAMES) == 0 &&
		    vmc_machine_frames(m)) {
			c.guest = c.src;
			c.src = m;
		} else if (m) {
			/* why not (the p2m cannot be carried) is among its warnings */
			copy_warnings(m, r);
			vmc_dump_destroy(m);
		}
	}
	copy_warnings(c.src, r);
	if (check_extent(c.src, o->input, r) < 0)
		goto out;
	{
		const char *rel = vmc_vmcoreinfo_get(c.src, "OSRELEASE");
		if (!rel)
			rel = vmc_kdump_utsname(c.src, "release");
		if (rel)
			snprintf(r->osrelease, sizeof(r->osrelease), "%s", rel);
	}

	/* the kernel log first: if anything below fails, the reason survives */
	vmc_dump *logsrc = c.guest ? c.guest : c.src;
	if (o->dmesg_only) {
		save_dmesg(logsrc, o->output, o->overwrite, r);
		r->seconds_dmesg = cap_now() - t0;
		if (!r->error[0])
			r->status = CAP_OK;
		goto out;
	}
	if (o->dmesg_path)
		snprintf(dpath, sizeof(dpath), "%s", o->dmesg_path);
	else if (strcmp(o->output, "-") != 0)
		snprintf(dpath, sizeof(dpath), "%s.dmesg.txt", o->output);
	else
		dpath[0] = 0;
	if (dpath[0]) {
		double td = cap_now();
		struct cap_result dr;
		memset(&dr, 0, sizeof(dr));
		if (save_dmesg(logsrc, dpath, o->overwrite, &dr) == 0) {
			r->dmesg_saved = true;
			snprintf(r->dmesg_file, sizeof(r->dmesg_file), "%s", dr.dmesg_file);
		} else {
			/* no log is no reason to give up the dump */
			snprintf(r->dmesg_error, sizeof(r->dmesg_error), "%.300s", dr.error);
			snprintf(r->notes, sizeof(r->notes), "kernel log not saved: %.200s", dr.error);
		}
		r->seconds_dmesg = cap_now() - td;
	}

	if (cap_plan_init(&c.plan, c.src, c.guest, o->dump_level, o->mem_budget, o->cycle_pages,
			  o->xen_keep, o->nxen_keep, r) < 0) {
		cap_fail(r, CAP_ERR, "out of memory for the page bitmaps");
		goto out;
	}
	/* after the plan: a Xen source's notes are normalised there first */
	if (vmc_notes_encode(c.src, &c.notes) < 0) {
		cap_fail(r, CAP_ERR, "%s", vmc_errmsg(c.src));
		goto out_plan;
	}
	if (c.notes.changed)
		add_warning(r, "notes written normalised (4-byte alignment, padding and "
			    "empty notes dropped): the source's note area had quirks");
	/* what a kdump file cannot say right is refused before it is written */
	if (o->format == CAP_FMT_KDUMP && !vmc_page_size_known(c.src)) {
		cap_fail(r, CAP_ERR, "the source's page size is unknown (no PAGESIZE in VMCOREINFO): "
			 "a kdump file needs it as its block size; -E writes ELF");
		goto out_plan;
	}
	c.pages_lost = lost_frames(c.src, r);
	/* a PV guest written by machine frame: its pages without one are
	 * left out, and the output says it is incomplete */
	uint64_t nomach = 0;
	if (c.guest && vmc_xen_core(c.guest))
		nomach = vmc_xen_core(c.guest)->machineless;
	c.pages_lost += nomach;
	r->pages_lost = c.pages_lost;
	rc = cap_sink_open(&c.sink, o->output, o->flattened, WRITE_CACHE, o->fail_after_bytes,
			   o->fail_flush, o->overwrite);
	if (rc < 0) {
		/* not even the stream's header: there is no dump */
		if (rc == -EEXIST)
			cap_fail(r, CAP_ERR, "%s exists (use -f to overwrite)", o->output);
		else if (rc == -ELOOP)
			cap_fail(r, CAP_ERR, "%s: is a symbolic link (not followed)", o->output);
		else if (rc == -ENOSPC || rc == -EIO || rc == -EPIPE)
			cap_fail(r, CAP_ERR, "%s: %s before any page was written", o->output,
				 strerror(-rc));
		else
			cap_fail(r, CAP_ERR, "%s: %s", o->output, strerror(-rc));
		r->no_output = rc != -EEXIST && rc != -ELOOP;
		goto out_plan;
	}
	/* batches: enough for every worker to have one while the main thread
	 * fills and writes others */
	/* identical pages stored once (kdump only: an ELF file cannot share) */
	bool dedup = !o->no_dedup && o->format == CAP_FMT_KDUMP;
	/* a small table: hot repeated contents stay in it, and it stays in cache;
	 * three sixteenths of the budget hold pages' bytes to verify hits with */
	size_t budget = o->mem_budget ? o->mem_budget : 64u << 20;
	if (dedup && cap_dedup_init(&c.dedup, budget / 32, budget / 16 * 3, c.plan.page_size,
					o->codec, o->codec_level) < 0) {
		cap_fail(r, CAP_ERR, "out of memory for the duplicate-page table");
		goto out_sink;
	}
	/* dedup re-reads a page's first copy through a handle of its own:
	 * pread for an ordinary file, its own windows on /proc/vmcore */
	c.rsrc = c.src;
	if (c.dedup.e) {
		vmc_dump *rs = vmc_dump_create();
		/* by machine frame too when src is (a PV guest's core) */
		unsigned rf = VMC_OPEN_MMAP_PROC | (c.guest ? VMC_OPEN_MACHINE_FRAMES : 0);
		if (rs && cap_open_source(rs, o, rf) == 0 &&
		    (!c.guest || vmc_machine_frames(rs)))
			c.rsrc = rs;
		else
			vmc_dump_destroy(rs);
	}
	rc = cap_pool_create(&c.pool, o->threads, (size_t)(o->threads > 1 ? 4 * o->threads : 2),
			     c.plan.page_size, o->codec, o->codec_level,
			     (c.plan.level & VMC_DL_ZERO) != 0, c.dedup.e != NULL,
			     c.src, o->nparts > 1 ? o->parts : &o->input,
			     o->nparts > 1 ? o->nparts : 1, (o->message_level & 4) != 0);
	if (rc < 0) {
		cap_fail(r, CAP_ERR, "compression setup: %s", strerror(-rc));
		goto out_sink;
	}
	cap_pool_set_dedup(c.pool, &c.dedup);
	if (o->format == CAP_FMT_ELF)
		rc = cap_write_elf(&c);
	else
		rc = cap_write_kdump(&c);
	if (rc >= 0)
		r->status = CAP_OK;
	if (rc >= 0 && r->incomplete)
		cap_fail(r, CAP_INCOMPLETE, "%s: %llu pages of the source lost (it was cut short), "
			 "%llu with no machine frame (this guest's dump is written by machine "
			 "frame) and %llu unreadable: left out, the output is marked incomplete",
			 o->output, (unsigned long long)(c.pages_lost - nomach),
			 (unsigned long long)nomach, (unsigned long long)r->pages_unreadable);
	cap_pool_destroy(c.pool);
out_sink:
	cap_dedup_fini(&c.dedup);
	if (c.rsrc != c.src)
		vmc_dump_destroy(c.rsrc);
	if (cap_sink_close(&c.sink) < 0 && r->status == CAP_OK)
		cap_fail(r, CAP_INCOMPLETE, "%s: closing failed", o->output);
	if (r->no_output && strcmp(o->output, "-") != 0)
		unlink(o->output);
out_plan:
	r->pages_ram = c.plan.pages_ram;
	r->pages_dumpable = c.plan.pages_dumpable;
	memcpy(r->pages_excluded, c.plan.excluded, sizeof(r->pages_excluded));
	cap_plan_fini(&c.plan);
	vmc_notes_out_free(&c.notes);
out:
	if (r->status != CAP_OK && r->status != CAP_INCOMPLETE && r->dmesg_saved)
		r->status = CAP_DMESG_ONLY;
	vmc_dump_destroy(c.src);
	vmc_dump_destroy(c.guest);
	r->seconds = cap_now() - t0;
	return r->status;
}
