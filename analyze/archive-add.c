/* archive-add.c - index one dump into the archive (archive-add.h): read it
 * with the analyzer's model (kern.h), store its files, sign it, add the row.
 * `salvage archive add`/`watch` (archive.c) and `salvage receive --archive`
 * share this one path. */
#include "salvage.h"
#include "../archive/archive.h"
#include "../config/strbuf.h"
#include "archive-add.h"
#include "xenbt.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAIL_LINES 60

/* ---- reading one dump --------------------------------------------------------------- */

struct facts {
	struct arc_dump d;
	char format[32], build_id[128], xen[96], host[128], release[128], status[32];
	char panic[512], cmdline[2048];
	struct strbuf tail, bt, frames, tmods;
	char *lines[TAIL_LINES];     /* the log's last lines, a ring */
	size_t nlines;
	struct az_crashlog cl;       /* the class and panic line, as triage reads them */
};

static void facts_free(struct facts *f)
{
	for (size_t i = 0; i < TAIL_LINES; i++)
		free(f->lines[i]);
	free(f->tail.s);
	free(f->bt.s);
	free(f->frames.s);
	free(f->tmods.s);
}

static int log_cb(void *arg, const struct vmc_logrec *r)
{
	struct facts *f = arg;
	const char *t = r->text, *end = r->text + r->text_len;
	char *line;

	while (t < end) {   /* a record may hold several lines */
		const char *nl = memchr(t, '\n', (size_t)(end - t));
		size_t n = nl ? (size_t)(nl - t) : (size_t)(end - t);
		az_crashlog_line(&f->cl, t, n, r->ts_nsec);
		t += n + (nl ? 1 : 0);
	}
	line = malloc(r->text_len + 1);
	if (!line)
		return 0;
	memcpy(line, r->text, r->text_len);
	line[r->text_len] = 0;
	free(f->lines[f->nlines % TAIL_LINES]);
	f->lines[f->nlines % TAIL_LINES] = line;
	f->nlines++;
	return 0;
}

static void read_cmdline(struct az_kernel *k, struct facts *f)
{
	uint64_t a, p;
	char buf[sizeof(f->cmdline)];

	if (az_sym(k, "saved_command_line", &a) < 0 || az_read_u64(k, a, &p) < 0 || !p)
		return;
	/* read what can be read, a page at a time (the string may end before
	 * a page that is not in the dump) */
	size_t got = 0;
	while (got < sizeof(buf) - 1) {
		size_t chunk = 256 - ((p + got) & 255);
		if (chunk > sizeof(buf) - 1 - got)
			chunk = sizeof(buf) - 1 - got;
		if (az_read(k, p + got, buf + got, chunk) < 0)
			break;
		if (memchr(buf + got, 0, chunk)) {
			got += chunk;
			break;
		}
		got += chunk;
	}
	buf[got] = 0;
	if (got && strnlen(buf, got) > 0)
		snprintf(f->cmdline, sizeof(f->cmdline), "%s", buf);
}

/* every CPU's stack (text, for show) and, in the frames column, the crash's
 * class and the panicking CPU's top frames as triage chooses them
 * (crashsig.c): "class CLASS" then one "function [module]" a line */
static void read_backtraces(struct az_kernel *k, const struct az_regset *extra, size_t nextra,
			    struct facts *f)
{
	struct az_tasks tasks = { 0 };
	struct az_stack *st = NULL;
	size_t nst = 0;
	bool have_tasks = k->have_types && az_tasks_load(k, &tasks) == 0;
	char sym[256];

	if (az_stacks_load(k, have_tasks ? &tasks : NULL, NULL, extra, nextra, &st, &nst) < 0) {
		k->err[0] = 0;
		az_tasks_free(&tasks);
		return;
	}
	const struct az_stack *pan = az_crash_stack(st, nst);
	for (size_t i = 0; i < nst; i++) {
		const struct az_stack *s = &st[i];
		strbuf_printf(&f->bt, "CPU %d PID %d%s%s%s\n", s->cpu, s->pid, s->task ? " " : "",
			      s->task ? s->task->comm : "", s == pan ? " (panic)" : "");
		for (int j = 0; j < s->nf; j++) {
			az_symbolize(k, s->f[j].ip, sym, sizeof(sym));
			strbuf_printf(&f->bt, "  %s%s\n", s->f[j].reliable ? "" : "? ", sym);
		}
		if (s->why[0])
			strbuf_printf(&f->bt, "  (%s)\n", s->why);
	}
	if (pan) {
		struct az_sig_frame top[3];
		int n = az_crash_frames(k, pan, top, 3);
		for (int i = 0; i < n; i++)
			strbuf_printf(&f->frames, "%s%s%s%s\n", top[i].function[0] ? top[i].function : "?",
				      top[i].module[0] ? " [" : "", top[i].module,
				      top[i].module[0] ? "]" : "");
	}
	free(st);
	az_tasks_free(&tasks);
}

static void read_dump(vmc_dump *d, struct facts *f)
{
	const char *s;
	int64_t n;
	int level;

	snprintf(f->format, sizeof(f->format), "%s%s",
		 vmc_format(d) == VMC_FMT_KDUMP ? "kdump" : vmc_format(d) == VMC_FMT_XEN_CORE ? "xen-core" : "elf",
		 vmc_is_flattened(d) ? "-flattened" : "");
	f->d.format = f->format;
	s = vmc_vmcoreinfo_get(d, "OSRELEASE");
	if (!s)
		s = vmc_kdump_utsname(d, "release");
	if (s) {
		snprintf(f->release, sizeof(f->release), "%s", s);
		f->d.release = f->release;
	}
	if ((s = vmc_vmcoreinfo_get(d, "BUILD-ID"))) {
		snprintf(f->build_id, sizeof(f->build_id), "%s", s);
		f->d.build_id = f->build_id;
	}
	if (!f->d.host && (s = vmc_kdump_utsname(d, "nodename")) && *s) {
		snprintf(f->host, sizeof(f->host), "%s", s);
		f->d.host = f->host;
	}
	if (f->d.crash_time < 0 &&
	    (vmc_vmci_crashtime(d, &n) == VMC_OK || vmc_kdump_timestamp(d, &n) == VMC_OK))
		f->d.crash_time = n;
	if (vmc_kdump_dump_level(d, &level) == VMC_OK && level >= 0 && level <= 31)
		f->d.dump_level = level;
	f->d.incomplete = f->d.incomplete || vmc_incomplete(d);
	f->d.mem_bytes = (int64_t)(vmc_max_pfn(d) * vmc_page_size(d));
	const struct vmc_xen *x = vmc_xen(d);
	if (x) {
		snprintf(f->xen, sizeof(f->xen), "%" PRIu64 ".%" PRIu64 "%s", x->major, x->minor,
			 x->extra_version);
		f->d.xen_version = f->xen;
	}
}

/* the kernel log (of a Xen host: dom0's, through its view), its tail and
 * the class line of the frames column: a Xen host's dump is dom0's crash
 * when dom0's log tells one, else the hypervisor's */
static void read_log(vmc_dump *d, bool xen_host, struct facts *f)
{
	az_crashlog_begin(&f->cl);
	if (d)
		vmc_dmesg(d, log_cb, f);
	az_crashlog_end(&f->cl);
	if (f->cl.panic[0])
		snprintf(f->panic, sizeof(f->panic), "%s", f->cl.panic);
	if (xen_host && f->cl.cls == AZ_CC_UNKNOWN)
		strbuf_puts(&f->frames, "class xen\n");
	else
		strbuf_printf(&f->frames, "class %s%s\n", xen_host ? "dom0 " : "",
			      az_crash_class_id(f->cl.cls));
	size_t first = f->nlines > TAIL_LINES ? f->nlines - TAIL_LINES : 0;
	for (size_t i = first; i < f->nlines; i++)
		strbuf_printf(&f->tail, "%s\n", f->lines[i % TAIL_LINES]);
	if (f->panic[0])
		f->d.panic = f->panic;
	f->d.dmesg_tail = f->tail.s;
}

/* the kernel model: symbols, tasks, unwinding, the node name and command
 * line from memory; what cannot be had is left out, never an error */
static void read_kernel(struct az_kernel *k, const struct az_regset *extra, size_t nextra,
			struct facts *f)
{
	uint64_t a, v, off = 0;

	if (!k->have_syms)
		return;
	/* ORC is wanted but not needed: opened with need 0 so that a dump
	 * without symbols is still indexed, the tables are loaded here */
	if (!k->have_orc && az_orc_load(k->d, &k->syms, &k->orc, k->why_orc, sizeof(k->why_orc)) == 0)
		k->have_orc = true;
	if (!f->d.host && vmc_vmci_symbol(k->d, "init_uts_ns", &a) == VMC_OK) {
		char buf[2 * 65];
		vmc_vmci_offset(k->d, "uts_namespace.name", &off);
		if (az_read(k, a + off, buf, sizeof(buf)) == 0) {
			memcpy(f->host, buf + 65, 64);
			f->host[64] = 0;
			if (f->host[0])
				f->d.host = f->host;
		}
	}
	if (az_sym(k, "tainted_mask", &a) == 0 && az_read_u64(k, a, &v) == 0)
		f->d.taint = (int64_t)(v & INT64_MAX);
	/* the modules that tainted it, as lsmod's taint column names them */
	if (az_modules_load(k) == 0) {
		char letters[64];
		for (size_t i = 0; i < k->mods.n; i++)
			if (k->mods.v[i].taints)
				strbuf_printf(&f->tmods, "%s%s(%s)", f->tmods.s && f->tmods.s[0] ? " " : "",
					      k->mods.v[i].name,
					      az_taint_letters(k->mods.v[i].taints, letters, sizeof(letters)));
		f->d.tainted_modules = f->tmods.s ? f->tmods.s : "";
	}
	read_cmdline(k, f);
	if (f->cmdline[0])
		f->d.cmdline = f->cmdline;
	read_backtraces(k, extra, nextra, f);
	f->d.backtrace = f->bt.s;
	f->d.panic_frames = f->frames.s;
}

/* meta.json of our agent: the host, times and status it knew */
static void read_meta(const char *path, struct facts *f)
{
	char *json = arc_read_file(path, 1 << 20), *v;

	if (!json)
		return;
	if ((v = arc_json_get(json, "hostname")) && *v) {
		snprintf(f->host, sizeof(f->host), "%s", v);
		f->d.host = f->host;
	}
	free(v);
	if ((v = arc_json_get(json, "crash_time")) && *v)
		f->d.crash_time = strtoll(v, NULL, 10);
	free(v);
	if ((v = arc_json_get(json, "capture_started_utc")) && *v) {
		struct tm tm = { 0 };
		const char *e = strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (e && !*e)
			f->d.capture_time = (int64_t)timegm(&tm);
	}
	free(v);
	if ((v = arc_json_get(json, "status"))) {
		snprintf(f->status, sizeof(f->status), "%s", v);
		f->d.status = f->status;
	}
	free(v);
	if ((v = arc_json_get(json, "incomplete")))
		f->d.incomplete = !strcmp(v, "true");
	free(v);
	if ((v = arc_json_get(json, "seconds.capture")))
		f->d.capture_seconds_ms = (int64_t)(strtod(v, NULL) * 1000);
	free(v);
	if ((v = arc_json_get(json, "dump.level")) && *v)
		f->d.dump_level = strtoll(v, NULL, 10);
	free(v);
	free(json);
}

/* ---- store ------------------------------------------------------------------------------ */

static int place(const char *src, const char *dir, bool move, char *out, size_t size)
{
	const char *base = strrchr(src, '/');
	base = base ? base + 1 : src;
	int n = snprintf(out, size, "%s/%s", dir, base);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (move ? rename(src, out) : link(src, out))
		return errno == EEXIST ? 0 : -errno;
	return 0;
}

/* STORE/<identity>/ with the dump and what was written beside it */
static int store_files(const char *store, const char *ident, bool move, struct arc_found *fd,
		       char *dir, size_t dsize)
{
	char p[4096];
	int rc;

	if (mkdir(store, 0755) < 0 && errno != EEXIST)
		return -errno;
	int n = snprintf(dir, dsize, "%s/%s", store, ident);
	if (n < 0 || (size_t)n >= dsize)
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if ((rc = place(fd->dump, dir, move, p, sizeof(p))) < 0)
		return rc;
	snprintf(fd->dump, sizeof(fd->dump), "%s", p);
	if (fd->dmesg[0] && place(fd->dmesg, dir, move, p, sizeof(p)) == 0)
		snprintf(fd->dmesg, sizeof(fd->dmesg), "%s", p);
	if (fd->meta[0] && place(fd->meta, dir, move, p, sizeof(p)) == 0)
		snprintf(fd->meta, sizeof(fd->meta), "%s", p);
	return 0;
}

/* ---- signing ---------------------------------------------------------------------------- */

/* The signature `salvage triage` shows (az_crash_signature), from what the
 * index stores: the frames column as read_backtraces writes it ("class
 * CLASS", then the chosen frames).  Rows of signature version 1 stored the
 * panicking CPU's reliable frames instead ('|' after an exception frame):
 * their class is read from the log tail and panic line, their frames
 * chosen by az_crash_frames' rule (after the first exception frame, else
 * past the crash machinery). */
void az_archive_sign(void *arg, const char *panic, const char *log, const char *frames,
			struct arc_sig *out)
{
	struct az_sig_frame top[3];
	enum az_crash_class cls = AZ_CC_UNKNOWN;
	char *copy = strdup(frames ? frames : ""), *v[128], *save = NULL;
	size_t nv = 0, start = 0;
	bool v1 = !copy || strncmp(copy, "class ", 6) != 0, skipping = v1;
	int n = 0;

	(void)arg;
	for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l && nv < 128;
	     l = strtok_r(NULL, "\n", &save))
		v[nv++] = l;
	const char *who = "";   /* a Xen host's: "dom0 " or "xen" */
	if (!v1) {
		const char *c = v[0] + 6;
		if (!strcmp(c, "xen"))
			who = "xen";
		else if (!strncmp(c, "dom0 ", 5))
			who = "dom0 ", c += 5;
		cls = az_crash_class_of(c);
		start = 1;
	} else {
		struct az_crashlog cl;
		az_crashlog_begin(&cl);
		for (const char *t = log ? log : ""; *t;) {
			const char *nl = strchr(t, '\n');
			size_t len = nl ? (size_t)(nl - t) : strlen(t);
			az_crashlog_line(&cl, t, len, 0);
			t += len + (nl ? 1 : 0);
		}
		if (!cl.scan.oopsed && panic)
			az_crashlog_line(&cl, panic, strlen(panic), 0);
		az_crashlog_end(&cl);
		cls = cl.cls;
		/* az_crash_frames' rule on names: after the first exception
		 * frame, else past the outermost reporting function */
		for (size_t i = 0; i < nv && !start; i++)
			if (!strcmp(v[i], "|"))
				start = i + 1, skipping = false;
		for (size_t i = 0; i < nv && skipping; i++)
			if (az_crash_reporting(v[i]))
				start = i + 1;
	}
	for (size_t i = start; i < nv && n < 3; i++) {
		char *line = v[i];
		if (!strcmp(line, "|") || (skipping && az_crash_machinery(line)))
			continue;
		skipping = false;
		struct az_sig_frame *f = &top[n++];
		memset(f, 0, sizeof(*f));
		char *mod = strstr(line, " [");
		if (mod && mod[strlen(mod) - 1] == ']') {
			*mod = 0;
			snprintf(f->module, sizeof(f->module), "%.*s", (int)strlen(mod + 2) - 1, mod + 2);
		}
		snprintf(f->function, sizeof(f->function), "%s", strcmp(line, "?") ? line : "");
	}
	free(copy);
	int w = snprintf(out->text, sizeof(out->text), "v%d %s", ARC_SIG_VERSION, who);
	if (!strcmp(who, "xen"))   /* the hypervisor crashed: dom0's frames are not it */
		snprintf(out->text + w, sizeof(out->text) - (size_t)w, ":");
	else
		az_crash_signature(cls, top, n, out->text + w, sizeof(out->text) - (size_t)w);
}

/* ---- add ---------------------------------------------------------------------------------- */

/* Index one dump or dump directory into an open db (archive-add.h).  Prints
 * nothing: the outcome is in *r, a failure's reason in err. */
int az_archive_add(struct arc_db *db, const char *path, const struct az_archive_add_opts *ao,
		   struct az_archive_added *r, char *err, size_t errlen)
{
	struct arc_found fd;
	struct facts f;
	char ident[128], dir[4096] = "";
	struct arc_sig sig;
	int rc;

	memset(r, 0, sizeof(*r));
	r->id = -1;
	if (arc_classify(path, &fd, err, errlen) < 0)
		return -1;
	if (fd.kind == ARC_KIND_WRITING || fd.kind == ARC_KIND_NONE) {
		r->outcome = fd.kind == ARC_KIND_WRITING ? AZ_ARC_WRITING : AZ_ARC_NONE;
		return 0;
	}
	if (arc_ident(fd.dump, ident, sizeof(ident), err, errlen) < 0)
		return -1;
	if ((rc = arc_db_find(db, ident, NULL, &r->id)) != 0) {
		if (rc < 0) {
			snprintf(err, errlen, "%s", arc_db_err(db));
			return -1;
		}
		r->outcome = AZ_ARC_KNOWN;
		return 0;
	}
	memset(&f, 0, sizeof(f));
	f.d.crash_time = f.d.capture_time = f.d.added_time = f.d.capture_seconds_ms = -1;
	f.d.dump_level = f.d.taint = -1;
	f.d.source = arc_kind_name(fd.kind);
	if (fd.meta[0])
		read_meta(fd.meta, &f);
	vmc_dump *d = az_open(fd.dump);
	if (!d) {
		snprintf(err, errlen, "%s: cannot open the dump", fd.dump);
		rc = -1;
		goto out;
	}
	read_dump(d, &f);
	/* a Xen host's dump: dom0's kernel through its view, its vCPUs'
	 * registers as Xen saved them for its stacks (as bt --dom0) */
	vmc_dump *xen_top = NULL, *view = NULL;
	struct az_regset rs[64];
	size_t nrs = 0;
	if (vmc_xen(d)) {
		struct az_vcpu vc[64];
		size_t nvc = 0;
		char xerr[512];
		xen_top = d;
		if (vmc_xen_dom0_open(d, NULL, &view) == VMC_OK &&
		    az_dom0_vcpus(d, vc, 64, &nvc, xerr, sizeof(xerr)) == 0)
			for (size_t i = 0; i < nvc; i++)
				if (vc[i].have_regs) {
					rs[nrs].cpu = (int)vc[i].id;
					rs[nrs].from = "dom0 vCPU (Xen's copy)";
					memcpy(rs[nrs].regs, vc[i].regs, sizeof(rs[nrs].regs));
					nrs++;
				}
		d = view;
		/* the crashed kernel is dom0's: its release and crash time */
		const char *rel = view ? vmc_vmcoreinfo_get(view, "OSRELEASE") : NULL;
		int64_t ct;
		if (rel && !f.d.release) {
			snprintf(f.release, sizeof(f.release), "%s", rel);
			f.d.release = f.release;
		}
		if (view && f.d.crash_time < 0 && vmc_vmci_crashtime(view, &ct) == VMC_OK)
			f.d.crash_time = ct;
	}
	read_log(d, xen_top != NULL, &f);
	struct az_kernel k;
	memset(&k, 0, sizeof(k));
	if (d && az_kernel_open(&k, d, NULL, 0) == 0)
		read_kernel(&k, xen_top ? rs : NULL, nrs, &f);
	/* the dump is read; now move it if asked, before the index names it */
	if (ao->store) {
		if ((rc = store_files(ao->store, ident, ao->move, &fd, dir, sizeof(dir))) < 0) {
			snprintf(err, errlen, "%s: into %s: %s", path, ao->store, strerror(-rc));
			az_kernel_close(&k);
			vmc_dump_destroy(xen_top);
			rc = -1;
			goto out;
		}
		f.d.stored = true;
	}
	struct stat st;
	if (stat(fd.dump, &st) == 0)
		f.d.dump_bytes = (int64_t)st.st_size;
	if (!realpath(fd.dump, r->path))
		snprintf(r->path, sizeof(r->path), "%s", fd.dump);
	f.d.path = r->path;
	if (fd.kind != ARC_KIND_FILE || f.d.stored) {
		char *slash = strrchr(r->path, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - r->path) : 0, r->path);
		f.d.dir = dir;
	}
	f.d.ident = ident;
	f.d.panic_frames = f.frames.s;
	memset(&sig, 0, sizeof(sig));
	az_archive_sign(NULL, f.d.panic, f.d.dmesg_tail, f.d.panic_frames, &sig);
	arc_sig_set_id(&sig);
	f.d.sig = sig.text;
	f.d.sig_id = sig.id;
	f.d.sig_version = ARC_SIG_VERSION;
	rc = arc_db_add(db, &f.d, ao->labels, ao->nlabels, &r->id);
	az_kernel_close(&k);
	vmc_dump_destroy(xen_top);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, arc_db_err(db));
		goto out;
	}
	snprintf(r->sig, sizeof(r->sig), "%s", sig.text);
	snprintf(r->sig_id, sizeof(r->sig_id), "%s", sig.id);
	snprintf(r->host, sizeof(r->host), "%s", f.d.host ? f.d.host : "");
	r->outcome = rc == 1 ? AZ_ARC_ADDED : AZ_ARC_SAME;
	rc = 0;
out:
	facts_free(&f);
	return rc;
}

