/* archive.c - `salvage archive`: index many dumps (archive/ library: SQLite,
 * PostgreSQL, signatures), list, search, group them, retention, watch.
 * Reading one dump and adding it is archive-add.c's. */
#include "salvage.h"
#include "../archive/archive.h"
#include "../config/strbuf.h"
#include "archive-report.h"
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
#include <dirent.h>

#define DEFAULT_DB "/var/lib/salvage/archive.db"

static const char archive_usage[] =
	"usage: salvage archive [--db PATH] COMMAND [OPTIONS]\n\n"
	"An index of many dumps: every dump findable, the same crash grouped.\n"
	"  add [--store DIR [--move]] [--label K=V]... DUMP_OR_DIR...\n"
	"                  index dumps: files, our agent's dump directories (with\n"
	"                  meta.json), kdump-tools directories (/var/crash/<date>/);\n"
	"                  the same dump twice is a no-op; --store hard-links (or\n"
	"                  moves) the files into DIR/<identity>/\n"
	"  list [--host H] [--kernel R] [--signature S] [--label K[=V]]\n"
	"       [--since T] [--until T] [--limit N]     newest first, N (1000; 0: all)\n"
	"  show ID          everything indexed about one dump\n"
	"  search [--limit N] TEXT   dumps whose panic string or log tail holds the\n"
	"                   phrase, newest first, N (1000; 0: all)\n"
	"  groups           dumps grouped by crash signature\n"
	"  rm [--delete-files] ID...   forget dumps (files in the store are deleted)\n"
	"  gc [--keep N] [--max-age AGE] [--max-size SIZE] [--delete-files] [--dry-run]\n"
	"                   retention: keep the N newest, none older than AGE\n"
	"                   (30d, 12h, 90m, seconds), at most SIZE bytes (K, M, G)\n"
	"                   newest first; never a dump still being written\n"
	"  watch [--once] [--interval SECS] [--rounds N] DIR   add dumps as they appear\n"
	"  resign           recompute every signature (after an algorithm change)\n"
	"  report --out DIR [--limit N]   static HTML: groups with sparklines, crashes\n"
	"                   per day, a page per group and per dump (N: dump pages,\n"
	"                   1000; 0: all)\n"
	"  --db PATH        the index: an SQLite file (default " DEFAULT_DB "),\n"
	"                   or postgresql://[user@host]/db[?host=SOCKET_DIR]\n"
	"  --json           every listing as JSON\n"
	"Times (T) are seconds since the epoch, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.\n";

struct opts {
	const char *db, *store, *host, *kernel, *sig, *label, *out;
	const char *labels[64];
	size_t nlabels;
	bool json, move, once, dry_run, delete_files;
	int64_t since, until, limit, keep, max_age, max_size, interval, rounds;
	const char *pos[256];
	int npos;
};

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "salvage archive: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return AZ_EXIT_USAGE;
}

static bool parse_num(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || *end || x < 0)
		return false;
	*v = x;
	return true;
}

/* 30d 12h 90m 45s or plain seconds */
static bool parse_age(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	int64_t mul = 1;
	if (errno || end == s || x < 0)
		return false;
	if (*end == 'd') mul = 86400;
	else if (*end == 'h') mul = 3600;
	else if (*end == 'm') mul = 60;
	else if (*end == 'w') mul = 7 * 86400;
	else if (*end && *end != 's') return false;
	if (*end && end[1])
		return false;
	if (x > INT64_MAX / mul)
		return false;
	*v = x * mul;
	return true;
}

static bool parse_size(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	int64_t mul = 1;
	if (errno || end == s || x < 0)
		return false;
	if (*end == 'K' || *end == 'k') mul = 1024;
	else if (*end == 'M') mul = 1024 * 1024;
	else if (*end == 'G') mul = 1024LL * 1024 * 1024;
	else if (*end == 'T') mul = 1024LL * 1024 * 1024 * 1024;
	else if (*end) return false;
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return false;
	if (x > INT64_MAX / mul)
		return false;
	*v = x * mul;
	return true;
}

static bool parse_time(const char *s, int64_t *v)
{
	struct tm tm = { 0 };
	const char *e;

	if (parse_num(s, v))
		return true;
	e = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!e || *e) {
		memset(&tm, 0, sizeof(tm));
		e = strptime(s, "%Y-%m-%d", &tm);
		if (!e || *e)
			return false;
	}
	*v = (int64_t)timegm(&tm);
	return true;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const char *const valued[] = { "--db", "--store", "--host", "--kernel",
		"--signature", "--label", "--since", "--until", "--limit", "--keep", "--max-age",
		"--max-size", "--interval", "--rounds", "--out" };

	for (int i = 0; i < argc; i++) {
		const char *s = argv[i], *val = NULL, *name = s;
		char nbuf[32];
		size_t v;

		if (!strcmp(s, "--json")) { o->json = true; continue; }
		if (!strcmp(s, "--move")) { o->move = true; continue; }
		if (!strcmp(s, "--once")) { o->once = true; continue; }
		if (!strcmp(s, "--dry-run")) { o->dry_run = true; continue; }
		if (!strcmp(s, "--delete-files")) { o->delete_files = true; continue; }
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(archive_usage, stdout);
			return 1;
		}
		if (s[0] != '-' || !s[1]) {
			if (o->npos >= (int)(sizeof(o->pos) / sizeof(o->pos[0])))
				return usage_err("too many arguments%s", "");
			o->pos[o->npos++] = s;
			continue;
		}
		const char *eq = strchr(s, '=');
		if (eq && (size_t)(eq - s) < sizeof(nbuf)) {
			memcpy(nbuf, s, (size_t)(eq - s));
			nbuf[eq - s] = 0;
			name = nbuf;
			val = eq + 1;
		}
		for (v = 0; v < sizeof(valued) / sizeof(valued[0]); v++)
			if (!strcmp(name, valued[v]))
				break;
		if (v == sizeof(valued) / sizeof(valued[0]))
			return usage_err("unknown option '%s'", s);
		if (!val) {
			if (i + 1 >= argc)
				return usage_err("%s needs a value", name);
			val = argv[++i];
		}
		bool ok = true;
		if (!strcmp(name, "--db")) o->db = val;
		else if (!strcmp(name, "--store")) o->store = val;
		else if (!strcmp(name, "--out")) o->out = val;
		else if (!strcmp(name, "--host")) o->host = val;
		else if (!strcmp(name, "--kernel")) o->kernel = val;
		else if (!strcmp(name, "--signature")) o->sig = val;
		else if (!strcmp(name, "--label")) {
			if (o->nlabels >= sizeof(o->labels) / sizeof(o->labels[0]))
				return usage_err("too many labels%s", "");
			o->labels[o->nlabels++] = val;
		}
		else if (!strcmp(name, "--since")) ok = parse_time(val, &o->since);
		else if (!strcmp(name, "--until")) ok = parse_time(val, &o->until);
		else if (!strcmp(name, "--limit")) ok = parse_num(val, &o->limit);
		else if (!strcmp(name, "--keep")) ok = parse_num(val, &o->keep);
		else if (!strcmp(name, "--max-age")) ok = parse_age(val, &o->max_age);
		else if (!strcmp(name, "--max-size")) ok = parse_size(val, &o->max_size);
		else if (!strcmp(name, "--interval")) ok = parse_num(val, &o->interval);
		else if (!strcmp(name, "--rounds")) ok = parse_num(val, &o->rounds);
		if (!ok)
			return usage_err("bad value for %s", name);
	}
	return 0;
}

/* 1 added, 0 already there or not a dump (skip), -1 failed */
static int add_one(struct arc_db *db, const struct opts *o, const char *path, bool quiet_none,
		   struct az_json *j)
{
	struct az_archive_add_opts ao = { .store = o->store, .move = o->move,
					  .labels = o->labels, .nlabels = o->nlabels };
	struct az_archive_added r;
	char err[512];

	if (az_archive_add(db, path, &ao, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage archive: %s\n", err);
		return -1;
	}
	switch (r.outcome) {
	case AZ_ARC_WRITING:
	case AZ_ARC_NONE:
		if (!quiet_none)
			fprintf(stderr, "salvage archive: %s: %s, skipped\n", path,
				r.outcome == AZ_ARC_WRITING ? "still being written" : "no dump in it");
		return r.outcome == AZ_ARC_WRITING || quiet_none ? 0 : -1;
	case AZ_ARC_KNOWN:
		if (!j && !quiet_none)
			printf("%" PRId64 " %s (already archived)\n", r.id, path);
		return 0;
	default:
		break;
	}
	if (j) {
		az_json_begin_object(j);
		az_json_ki64(j, "id", r.id);
		az_json_kstr(j, "path", r.path);
		az_json_kbool(j, "added", r.outcome == AZ_ARC_ADDED);
		az_json_kstr(j, "signature", r.sig);
		az_json_kstr(j, "signature_id", r.sig_id);
		az_json_end_object(j);
	} else {
		printf("%" PRId64 " %s %s%s\n", r.id, path, r.sig,
		       r.outcome == AZ_ARC_ADDED ? "" : " (already archived)");
	}
	return r.outcome == AZ_ARC_ADDED;
}

static int cmd_add(struct arc_db *db, const struct opts *o)
{
	struct az_json j;
	int failed = 0;

	if (o->npos < 1)
		return usage_err("add needs a dump or a directory%s", "");
	if (o->json) {
		az_json_init(&j, stdout);
		az_json_begin_array(&j);
	}
	for (int i = 0; i < o->npos; i++)
		if (add_one(db, o, o->pos[i], false, o->json ? &j : NULL) < 0)
			failed++;
	if (o->json) {
		az_json_end_array(&j);
		az_json_finish(&j);
	}
	return failed ? AZ_EXIT_FAIL : AZ_EXIT_OK;
}

/* ---- listings ------------------------------------------------------------------------------ */

static void utc(char *buf, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t < 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

static void json_dump(struct az_json *j, const struct arc_dump *d, bool full)
{
	char t[32];

	az_json_begin_object(j);
	az_json_ki64(j, "id", d->id);
	az_json_kstr(j, "host", d->host);
	az_json_kstr(j, "kernel", d->release);
	az_json_ki64_if(j, "crash_time", d->crash_time >= 0, d->crash_time);
	utc(t, sizeof(t), d->crash_time);
	az_json_kstr(j, "crash_time_utc", d->crash_time >= 0 ? t : NULL);
	az_json_kstr(j, "signature", d->sig);
	az_json_kstr(j, "signature_id", d->sig_id);
	az_json_kstr(j, "panic", d->panic);
	az_json_kstr(j, "path", d->path);
	az_json_ki64_if(j, "dump_bytes", d->dump_bytes >= 0, d->dump_bytes);
	az_json_key(j, "labels");
	az_json_begin_object(j);
	for (const char *l = d->labels; l && *l;) {
		const char *nl = strchr(l, '\n'), *eq = strchr(l, '=');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		char key[256], val[1024];
		if (eq && (size_t)(eq - l) < len) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - l), l);
			snprintf(val, sizeof(val), "%.*s", (int)(len - (size_t)(eq - l) - 1), eq + 1);
			az_json_kstr(j, key, val);
		}
		l = nl ? nl + 1 : l + len;
	}
	az_json_end_object(j);
	if (full) {
		az_json_kstr(j, "identity", d->ident);
		az_json_kstr(j, "dir", d->dir);
		az_json_kbool(j, "stored", d->stored);
		az_json_kstr(j, "source", d->source);
		az_json_kstr(j, "format", d->format);
		az_json_kstr(j, "build_id", d->build_id);
		az_json_kstr(j, "xen_version", d->xen_version);
		az_json_ki64_if(j, "capture_time", d->capture_time >= 0, d->capture_time);
		az_json_ki64(j, "added_time", d->added_time);
		az_json_ki64_if(j, "capture_ms", d->capture_seconds_ms >= 0, d->capture_seconds_ms);
		az_json_ki64_if(j, "memory_bytes", d->mem_bytes >= 0, d->mem_bytes);
		az_json_ki64_if(j, "dump_level", d->dump_level >= 0, d->dump_level);
		az_json_kbool(j, "incomplete", d->incomplete);
		az_json_kstr(j, "status", d->status);
		az_json_ki64_if(j, "taint", d->taint >= 0, d->taint);
		az_json_kstr(j, "tainted_modules", d->tainted_modules);
		az_json_kstr(j, "cmdline", d->cmdline);
		az_json_ki64(j, "signature_version", d->sig_version);
		az_json_kstr(j, "backtrace", d->backtrace);
		az_json_kstr(j, "panic_frames", d->panic_frames);
		az_json_kstr(j, "dmesg_tail", d->dmesg_tail);
	}
	az_json_end_object(j);
}

struct lister {
	const struct opts *o;
	struct az_json j;
	int64_t n;
};

static int list_row(void *arg, const struct arc_dump *d)
{
	struct lister *l = arg;
	char t[32], e1[256], e2[256], e3[512];

	l->n++;
	if (l->o->json) {
		json_dump(&l->j, d, false);
		return 0;
	}
	utc(t, sizeof(t), d->crash_time >= 0 ? d->crash_time : d->capture_time >= 0 ? d->capture_time
											   : d->added_time);
	printf("%-6" PRId64 " %-20s %-16s %-28s %s  %s\n", d->id, t,
	       az_tesc(e1, sizeof(e1), d->host ? d->host : "-"),
	       az_tesc(e2, sizeof(e2), d->release ? d->release : "-"), d->sig_id,
	       az_tesc(e3, sizeof(e3), d->panic ? d->panic : "(no panic message)"));
	return 0;
}

static int listing(struct arc_db *db, const struct opts *o, int kind)
{
	struct lister l = { .o = o };
	int rc;

	if (o->json) {
		az_json_init(&l.j, stdout);
		az_json_begin_array(&l.j);
	} else {
		printf("%-6s %-20s %-16s %-28s %-16s  %s\n", "ID", "TIME", "HOST", "KERNEL", "SIGNATURE",
		       "PANIC");
	}
	/* the newest 1000 unless told: a listing of a fleet's archive stays a
	 * screenful of work, not the whole table */
	int64_t limit = o->limit < 0 ? 1000 : o->limit;
	if (kind == 0) {
		struct arc_filter f = { o->host, o->kernel, o->sig, o->label, o->since, o->until, limit };
		rc = arc_db_list(db, &f, list_row, &l);
	} else {
		rc = arc_db_search(db, o->pos[0], limit, list_row, &l);
	}
	if (rc < 0) {
		fprintf(stderr, "salvage archive: %s\n", arc_db_err(db));
		return AZ_EXIT_FAIL;
	}
	if (o->json) {
		az_json_end_array(&l.j);
		az_json_finish(&l.j);
	}
	return kind == 1 && l.n == 0 ? AZ_EXIT_FAIL : AZ_EXIT_OK;
}

static void show_line(const char *label, const char *s, char *esc, size_t size)
{
	printf("%-14s%s\n", label, s ? az_tesc(esc, size, s) : "-");
}

static int show_row(void *arg, const struct arc_dump *d)
{
	struct lister *l = arg;
	char t[32], esc[1024];

	l->n++;
	if (l->o->json) {
		json_dump(&l->j, d, true);
		return 0;
	}
#define P(label, s) show_line(label, s, esc, sizeof(esc))
	printf("%-14s%" PRId64 "\n", "id:", d->id);
	P("path:", d->path);
	P("source:", d->source);
	P("format:", d->format);
	P("host:", d->host);
	P("kernel:", d->release);
	P("build id:", d->build_id);
	P("xen:", d->xen_version);
	utc(t, sizeof(t), d->crash_time);
	P("crash time:", t);
	utc(t, sizeof(t), d->capture_time);
	P("captured:", t);
	utc(t, sizeof(t), d->added_time);
	P("added:", t);
	if (d->capture_seconds_ms >= 0)
		printf("%-14s%.3f s\n", "capture took:", (double)d->capture_seconds_ms / 1000);
	printf("%-14s%" PRId64 " bytes (memory %" PRId64 ")\n", "size:", d->dump_bytes, d->mem_bytes);
	if (d->dump_level >= 0)
		printf("%-14s%" PRId64 "\n", "dump level:", d->dump_level);
	printf("%-14s%s%s%s\n", "complete:", d->incomplete ? "no" : "yes", d->status ? ", status " : "",
	       d->status ? d->status : "");
	if (d->taint >= 0)
		printf("%-14s0x%" PRIx64 "\n", "taint:", (uint64_t)d->taint);
	printf("%-14s%s\n", "tainted mods:", !d->tainted_modules ? "(unknown: no module list)" :
	       d->tainted_modules[0] ? d->tainted_modules : "(none)");
	P("cmdline:", d->cmdline);
	P("identity:", d->ident);
	P("signature:", d->sig);
	P("sig id:", d->sig_id);
	P("panic:", d->panic);
	if (d->labels) {
		printf("labels:\n");
		az_tput(stdout, d->labels, strlen(d->labels), true);
		printf("\n");
	}
	printf("backtraces:\n");
	if (d->backtrace)
		az_tput(stdout, d->backtrace, strlen(d->backtrace), true);
	else
		printf("  (none: no symbols or no CPU registers in the dump)\n");
	printf("log tail:\n");
	if (d->dmesg_tail)
		az_tput(stdout, d->dmesg_tail, strlen(d->dmesg_tail), true);
#undef P
	return 0;
}

static bool parse_id(const char *s, int64_t *id)
{
	return parse_num(s, id) && *id > 0;
}

static int cmd_show(struct arc_db *db, const struct opts *o)
{
	struct lister l = { .o = o };
	int64_t id;

	if (o->npos != 1 || !parse_id(o->pos[0], &id))
		return usage_err("show needs one dump ID%s", "");
	if (o->json)
		az_json_init(&l.j, stdout);
	if (arc_db_get(db, id, show_row, &l) < 0) {
		fprintf(stderr, "salvage archive: %s\n", arc_db_err(db));
		return AZ_EXIT_FAIL;
	}
	if (!l.n) {
		fprintf(stderr, "salvage archive: no dump %" PRId64 "\n", id);
		return AZ_EXIT_FAIL;
	}
	if (o->json)
		az_json_finish(&l.j);
	return AZ_EXIT_OK;
}

static int group_row(void *arg, const struct arc_group *g)
{
	struct lister *l = arg;
	char a[32], b[32], esc[512];

	utc(a, sizeof(a), g->first);
	utc(b, sizeof(b), g->last);
	if (l->o->json) {
		az_json_begin_object(&l->j);
		az_json_kstr(&l->j, "signature_id", g->sig_id);
		az_json_kstr(&l->j, "signature", g->sig);
		az_json_ki64(&l->j, "count", g->count);
		az_json_ki64(&l->j, "first", g->first);
		az_json_ki64(&l->j, "last", g->last);
		az_json_ki64(&l->j, "last_id", g->last_id);
		az_json_kstr(&l->j, "hosts", g->hosts);
		az_json_kstr(&l->j, "kernels", g->kernels);
		az_json_end_object(&l->j);
		return 0;
	}
	printf("%-16s %6" PRId64 "  %s  %s  %s\n", g->sig_id, g->count, a, b,
	       az_tesc(esc, sizeof(esc), g->sig));
	printf("%-16s hosts: %s\n", "", az_tesc(esc, sizeof(esc), g->hosts ? g->hosts : "-"));
	printf("%-16s kernels: %s\n", "", az_tesc(esc, sizeof(esc), g->kernels ? g->kernels : "-"));
	return 0;
}

static int cmd_groups(struct arc_db *db, const struct opts *o)
{
	struct lister l = { .o = o };

	if (o->json) {
		az_json_init(&l.j, stdout);
		az_json_begin_array(&l.j);
	} else {
		printf("%-16s %6s  %-20s  %-20s  %s\n", "SIGNATURE", "COUNT", "FIRST", "LAST", "CRASH");
	}
	if (arc_db_groups(db, group_row, &l) < 0) {
		fprintf(stderr, "salvage archive: %s\n", arc_db_err(db));
		return AZ_EXIT_FAIL;
	}
	if (o->json) {
		az_json_end_array(&l.j);
		az_json_finish(&l.j);
	}
	return AZ_EXIT_OK;
}

/* ---- rm, gc --------------------------------------------------------------------------------- */

struct victim {
	int64_t id, t, bytes;
	char *path, *dir;
	bool stored;
};

static int collect_row(void *arg, const struct arc_dump *d)
{
	struct { struct victim *v; size_t n, cap; } *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct victim *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return -1;
		c->v = v;
		c->cap = cap;
	}
	struct victim *x = &c->v[c->n++];
	x->id = d->id;
	x->t = d->crash_time >= 0 ? d->crash_time : d->capture_time >= 0 ? d->capture_time : d->added_time;
	x->bytes = d->dump_bytes > 0 ? d->dump_bytes : 0;
	x->path = strdup(d->path ? d->path : "");
	x->dir = d->dir ? strdup(d->dir) : NULL;
	x->stored = d->stored;
	return 0;
}

/* the files of a dump: the dump itself; in a directory of its own (the
 * store's, an agent's, kdump-tools') every regular file, then the
 * directory.  Returns -errno of the first failure. */
static int delete_files(const struct victim *v)
{
	int rc = 0;

	if (!v->dir) {
		if (unlink(v->path) < 0 && errno != ENOENT)
			rc = -errno;
		return rc;
	}
	DIR *dp = opendir(v->dir);
	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	char p[4096];
	while ((e = readdir(dp))) {
		struct stat st;
		if (snprintf(p, sizeof(p), "%s/%s", v->dir, e->d_name) >= (int)sizeof(p))
			continue;
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && unlink(p) < 0 && !rc)
			rc = -errno;
	}
	closedir(dp);
	if (rmdir(v->dir) < 0 && !rc)
		rc = -errno;
	return rc;
}

/* a dump whose directory is being written again (an agent writing into
 * the directory, makedumpfile's -incomplete file) is left alone */
static bool being_written(const struct victim *v)
{
	char err[256];
	return v->dir && arc_dir_writing(v->dir, err, sizeof(err)) == 1;
}

static int remove_one(struct arc_db *db, const struct opts *o, const struct victim *v,
		      struct az_json *j)
{
	int rc = 0;

	if (being_written(v)) {
		fprintf(stderr, "salvage archive: %" PRId64 ": %s is being written, kept\n", v->id, v->dir);
		return 0;
	}
	if (!o->dry_run) {
		if ((v->stored || o->delete_files) && (rc = delete_files(v)) < 0)
			fprintf(stderr, "salvage archive: %" PRId64 ": %s: %s\n", v->id,
				v->dir ? v->dir : v->path, strerror(-rc));
		if (rc == 0 && arc_db_rm(db, v->id) < 0) {
			fprintf(stderr, "salvage archive: %s\n", arc_db_err(db));
			rc = -1;
		}
	}
	if (rc < 0)
		return -1;
	if (j) {
		az_json_begin_object(j);
		az_json_ki64(j, "id", v->id);
		az_json_kstr(j, "path", v->path);
		az_json_kbool(j, "files_deleted", !o->dry_run && (v->stored || o->delete_files));
		az_json_end_object(j);
	} else {
		printf("%s%" PRId64 " %s\n", o->dry_run ? "would remove " : "removed ", v->id, v->path);
	}
	return 1;
}

static int rm_gc(struct arc_db *db, const struct opts *o, bool gc)
{
	struct { struct victim *v; size_t n, cap; } c = { 0 };
	struct az_json j;
	int failed = 0;

	if (gc && o->npos)
		return usage_err("gc takes no arguments%s", "");
	if (!gc && !o->npos)
		return usage_err("rm needs dump IDs%s", "");
	if (!gc) {
		for (int i = 0; i < o->npos; i++) {
			int64_t id;
			if (!parse_id(o->pos[i], &id))
				return usage_err("not a dump ID: '%s'", o->pos[i]);
			size_t before = c.n;
			if (arc_db_get(db, id, collect_row, &c) < 0) {
				fprintf(stderr, "salvage archive: %s\n", arc_db_err(db));
				return AZ_EXIT_FAIL;
			}
			if (c.n == before) {
				fprintf(stderr, "salvage archive: no dump %" PRId64 "\n", id);
				failed++;
			}
		}
	} else {
		struct arc_filter f = { NULL, NULL, NULL, NULL, -1, -1, 0 };
		if (o->keep < 0 && o->max_age < 0 && o->max_size < 0)
			return usage_err("gc needs --keep, --max-age or --max-size%s", "");
		if (arc_db_list(db, &f, collect_row, &c) < 0) {
			fprintf(stderr, "salvage archive: %s\n", arc_db_err(db));
			return AZ_EXIT_FAIL;
		}
	}
	if (o->json) {
		az_json_init(&j, stdout);
		az_json_begin_array(&j);
	}
	/* newest first: the policy keeps a prefix, by count, age and size */
	int64_t now = (int64_t)time(NULL), total = 0;
	for (size_t i = 0; i < c.n; i++) {
		struct victim *v = &c.v[i];
		total += v->bytes;
		bool go = !gc || (o->keep >= 0 && (int64_t)i >= o->keep) ||
			  (o->max_age >= 0 && v->t < now - o->max_age) ||
			  (o->max_size >= 0 && total > o->max_size);
		if (go && remove_one(db, o, v, o->json ? &j : NULL) < 0)
			failed++;
		free(v->path);
		free(v->dir);
	}
	free(c.v);
	if (o->json) {
		az_json_end_array(&j);
		az_json_finish(&j);
	}
	return failed ? AZ_EXIT_FAIL : AZ_EXIT_OK;
}

/* ---- watch ---------------------------------------------------------------------------------- */

static int watch_pass(struct arc_db *db, const struct opts *o, const char *dir, struct az_json *j)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char p[4096];
	int failed = 0;

	if (!dp) {
		fprintf(stderr, "salvage archive: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
			continue;
		/* a file that is no dump is not an error here: the directory
		 * also holds logs and whatever else was put there */
		struct arc_found f;
		char err[256];
		if (arc_classify(p, &f, err, sizeof(err)) < 0 || f.kind == ARC_KIND_NONE)
			continue;
		if (f.kind == ARC_KIND_FILE) {
			vmc_dump *d = vmc_dump_create();
			bool ok = d && vmc_open_path(d, p) == 0;
			vmc_dump_destroy(d);
			if (!ok)
				continue;
		}
		if (add_one(db, o, p, true, j) < 0)
			failed++;
	}
	closedir(dp);
	fflush(stdout);
	return failed ? -1 : 0;
}

static int cmd_watch(struct arc_db *db, const struct opts *o)
{
	int64_t rounds = o->once ? 1 : o->rounds > 0 ? o->rounds : -1;
	int64_t interval = o->interval > 0 ? o->interval : 10;
	int failed = 0;
	struct az_json j;

	if (o->npos != 1)
		return usage_err("watch needs one directory%s", "");
	/* --json: one array of what was added, closed when the rounds end */
	if (o->json) {
		az_json_init(&j, stdout);
		az_json_begin_array(&j);
	}
	for (int64_t r = 0; rounds < 0 || r < rounds; r++) {
		if (r)
			sleep((unsigned)interval);
		if (watch_pass(db, o, o->pos[0], o->json ? &j : NULL) < 0)
			failed = 1;
	}
	if (o->json) {
		az_json_end_array(&j);
		az_json_finish(&j);
	}
	return failed ? AZ_EXIT_FAIL : AZ_EXIT_OK;
}

static int cmd_resign(struct arc_db *db, const struct opts *o)
{
	int64_t total, changed;

	if (arc_db_resign(db, az_archive_sign, NULL, &total, &changed) < 0) {
		fprintf(stderr, "salvage archive: %s\n", arc_db_err(db));
		return AZ_EXIT_FAIL;
	}
	if (o->json) {
		struct az_json j;
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_ki64(&j, "dumps", total);
		az_json_ki64(&j, "changed", changed);
		az_json_ki64(&j, "signature_version", ARC_SIG_VERSION);
		az_json_end_object(&j);
		az_json_finish(&j);
	} else {
		printf("re-signed %" PRId64 " dumps (v%d): %" PRId64 " changed\n", total,
		       ARC_SIG_VERSION, changed);
	}
	return AZ_EXIT_OK;
}

static int cmd_report(struct arc_db *db, const struct opts *o)
{
	char err[512];

	if (!o->out || o->npos)
		return usage_err("report needs --out DIR and no arguments%s", "");
	if (az_archive_report(db, o->out, o->limit < 0 ? 1000 : o->limit, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage archive: report: %s\n", err);
		return AZ_EXIT_FAIL;
	}
	printf("%s/index.html\n", o->out);
	return AZ_EXIT_OK;
}

int az_cmd_archive(int argc, char **argv)
{
	struct opts o;
	struct arc_db *db;
	char err[512];
	int rc;

	memset(&o, 0, sizeof(o));
	o.since = o.until = o.keep = o.max_age = o.max_size = o.limit = -1;
	if (argc < 2) {
		fputs(archive_usage, stderr);
		return AZ_EXIT_USAGE;
	}
	const char *cmd = NULL;
	/* the command is the first argument that is not an option (or the
	 * value of --db) */
	rc = parse(argc - 1, argv + 1, &o);   /* 1: --help printed; else a usage error */
	if (rc)
		return rc == 1 ? AZ_EXIT_OK : AZ_EXIT_USAGE;
	if (!o.npos) {
		fputs(archive_usage, stderr);
		return AZ_EXIT_USAGE;
	}
	cmd = o.pos[0];
	memmove(o.pos, o.pos + 1, (size_t)(o.npos - 1) * sizeof(o.pos[0]));
	o.npos--;
	static const char *const known[] = { "add", "list", "show", "search", "groups", "rm", "gc",
					     "watch", "resign", "report" };
	size_t c;
	for (c = 0; c < sizeof(known) / sizeof(known[0]); c++)
		if (!strcmp(cmd, known[c]))
			break;
	if (c == sizeof(known) / sizeof(known[0]))
		return usage_err("unknown command '%s'", cmd);
	/* add and watch attach labels; the listings filter on one */
	if (strcmp(cmd, "add") && strcmp(cmd, "watch"))
		o.label = o.nlabels ? o.labels[0] : NULL;
	if (!strcmp(cmd, "search") && o.npos != 1)
		return usage_err("search needs one TEXT%s", "");
	if (!o.db) {
		o.db = DEFAULT_DB;
		/* the default's folder may not exist on a fresh machine */
		if (mkdir("/var/lib/salvage", 0755) < 0 && errno != EEXIST)
			fprintf(stderr, "salvage archive: /var/lib/salvage: %s\n", strerror(errno));
	}
	if (arc_db_open(o.db, &db, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage archive: %s\n", err);
		return AZ_EXIT_FAIL;
	}
	if (!strcmp(cmd, "add")) rc = cmd_add(db, &o);
	else if (!strcmp(cmd, "list")) rc = o.npos ? usage_err("list takes no arguments%s", "") : listing(db, &o, 0);
	else if (!strcmp(cmd, "search")) rc = listing(db, &o, 1);
	else if (!strcmp(cmd, "show")) rc = cmd_show(db, &o);
	else if (!strcmp(cmd, "groups")) rc = cmd_groups(db, &o);
	else if (!strcmp(cmd, "rm")) rc = rm_gc(db, &o, false);
	else if (!strcmp(cmd, "gc")) rc = rm_gc(db, &o, true);
	else if (!strcmp(cmd, "watch")) rc = cmd_watch(db, &o);
	else if (!strcmp(cmd, "report")) rc = cmd_report(db, &o);
	else rc = cmd_resign(db, &o);
	arc_db_close(db);
	return fflush(stdout) == 0 ? rc : AZ_EXIT_FAIL;
}
