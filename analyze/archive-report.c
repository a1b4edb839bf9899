/* archive-report.c - `salvage archive report --out DIR`: a static HTML view of
 * the archive (no server, no script, no external asset): index.html with the
 * crashes per day and the groups (counts, first and last seen, a sparkline
 * each), one page per group and one per dump (panic, signature, backtraces,
 * log tail).  Everything from the index is HTML-escaped. */
#include "salvage.h"
#include "archive-report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DAY 86400

static const char css[] =
	"body{font-family:sans-serif;margin:1.5em;color:#222}"
	"table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;"
	"text-align:left;vertical-align:top}th{background:#f3f3f3}"
	"code,pre{font-family:monospace}pre{background:#f7f7f7;padding:.6em;overflow-x:auto}"
	".num{text-align:right}.sig{font-family:monospace}svg .bar{fill:#c0392b}"
	"svg .spark{fill:none;stroke:#c0392b;stroke-width:1.5}svg .axis{stroke:#888}"
	"svg text{font-size:11px;fill:#444}";

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			/* control bytes from a dump shown, not obeyed */
			if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
				fprintf(f, "\\x%02x", c);
			else
				putc(c, f);
		}
	}
}

static void day_str(char *buf, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t < 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
		snprintf(buf, len, "-");
}

static void time_str(char *buf, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t < 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "-");
}

static FILE *page(const char *dir, const char *name, const char *title, char *err, size_t errlen)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (!(f = fopen(p, "w"))) {
		snprintf(err, errlen, "%s: %s", p, strerror(errno));
		return NULL;
	}
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", f);
	esc(f, title);
	fprintf(f, "</title><style>%s</style></head><body>\n", css);
	return f;
}

static int page_end(FILE *f, const char *name, char *err, size_t errlen)
{
	fputs("\n</body></html>\n", f);
	if (ferror(f) | fclose(f)) {
		snprintf(err, errlen, "%s: write error", name);
		return -1;
	}
	return 0;
}

/* ---- per-day series -------------------------------------------------------------- */

struct series {
	int64_t first_day, ndays;   /* the range every plot shares */
	int64_t *count;             /* ndays entries */
	int64_t max;
};

static int day_cb(void *arg, int64_t day, int64_t n)
{
	struct series *s = arg;
	int64_t i = (day - s->first_day) / DAY;
	if (i >= 0 && i < s->ndays) {
		s->count[i] += n;
		if (s->count[i] > s->max)
			s->max = s->count[i];
	}
	return 0;
}

static int range_cb(void *arg, int64_t day, int64_t n)
{
	int64_t *r = arg;
	if (r[0] < 0 || day < r[0])
		r[0] = day;
	if (day > r[1])
		r[1] = day;
	return 0;
}

static int series_load(struct arc_db *db, const char *sig_id, int64_t first, int64_t ndays,
		       struct series *s)
{
	s->first_day = first;
	s->ndays = ndays;
	s->max = 0;
	s->count = calloc((size_t)ndays, sizeof(*s->count));
	if (!s->count)
		return -1;
	return arc_db_days(db, sig_id, day_cb, s);
}

/* the crashes per day, as bars with the first and last day under them */
static void plot_days(FILE *f, const struct series *s)
{
	const int w = 720, h = 160, pad = 24;
	double bw = (double)(w - 2 * pad) / (double)s->ndays;
	char a[16], b[16];

	fprintf(f, "<svg id=\"per-day\" role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
		" xmlns=\"http://www.w3.org/2000/svg\"><title>crashes per day</title>\n", w, h + 20, w, h + 20);
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", pad, h, w - pad, h);
	for (int64_t i = 0; i < s->ndays; i++) {
		if (!s->count[i])
			continue;
		double bh = (double)(h - pad) * (double)s->count[i] / (double)s->max;
		day_str(a, sizeof(a), s->first_day + i * DAY);
		fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
			"<title>%s: %" PRId64 "</title></rect>\n", pad + bw * (double)i, (double)h - bh,
			bw > 2 ? bw - 1 : bw, bh, a, s->count[i]);
	}
	day_str(a, sizeof(a), s->first_day);
	day_str(b, sizeof(b), s->first_day + (s->ndays - 1) * DAY);
	fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
		"<text x=\"%d\" y=\"12\">max %" PRId64 "/day</text></svg>\n", pad, h + 15, a, w - pad, h + 15,
		b, pad, s->max);
}

static void sparkline(FILE *f, const struct series *s)
{
	const int w = 120, h = 24;
	fprintf(f, "<svg class=\"sparkline\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
		" xmlns=\"http://www.w3.org/2000/svg\"><polyline class=\"spark\" points=\"", w, h, w, h);
	for (int64_t i = 0; i < s->ndays; i++) {
		double x = s->ndays > 1 ? (double)(w - 2) * (double)i / (double)(s->ndays - 1) + 1 : w / 2.0;
		double y = s->max ? (double)(h - 2) - (double)(h - 4) * (double)s->count[i] / (double)s->max
				  : h - 2;
		fprintf(f, "%s%.1f,%.1f", i ? " " : "", x, y);
	}
	fputs("\"/></svg>", f);
}

/* ---- pages ---------------------------------------------------------------------------- */

struct report {
	struct arc_db *db;
	const char *dir;
	int64_t first, ndays, limit, pages;
	FILE *idx, *grp;
	char err[512];
	int failed;
};

static void dump_row(FILE *f, const struct arc_dump *d)
{
	char t[40];
	time_str(t, sizeof(t), d->crash_time >= 0 ? d->crash_time : d->added_time);
	fprintf(f, "<tr><td><a href=\"dump-%" PRId64 ".html\">%" PRId64 "</a></td><td>%s</td><td>", d->id,
		d->id, t);
	esc(f, d->host ? d->host : "-");
	fputs("</td><td>", f);
	esc(f, d->release ? d->release : "-");
	fputs("</td><td>", f);
	esc(f, d->panic ? d->panic : "(no panic message)");
	fputs("</td></tr>\n", f);
}

static void fact(FILE *f, const char *k, const char *v)
{
	fprintf(f, "<tr><th>%s</th><td>", k);
	esc(f, v ? v : "-");
	fputs("</td></tr>\n", f);
}

static int dump_page(void *arg, const struct arc_dump *d)
{
	struct report *r = arg;
	char name[64], t[40], title[64], n[64];

	if (r->grp)
		dump_row(r->grp, d);
	if (r->limit > 0 && r->pages >= r->limit)
		return 0;
	snprintf(name, sizeof(name), "dump-%" PRId64 ".html", d->id);
	snprintf(title, sizeof(title), "dump %" PRId64, d->id);
	FILE *f = page(r->dir, name, title, r->err, sizeof(r->err));
	if (!f)
		return -1;
	r->pages++;
	fprintf(f, "<p><a href=\"index.html\">all groups</a> &middot; <a href=\"group-%s.html\">this"
		" crash's group</a></p>\n<h1>Dump %" PRId64 "</h1>\n<h2 id=\"panic\">", d->sig_id, d->id);
	esc(f, d->panic ? d->panic : "(no panic message in the log)");
	fputs("</h2>\n<table id=\"facts\">\n", f);
	fact(f, "signature", d->sig);
	fact(f, "host", d->host);
	fact(f, "kernel", d->release);
	fact(f, "build id", d->build_id);
	time_str(t, sizeof(t), d->crash_time);
	fact(f, "crash time", t);
	time_str(t, sizeof(t), d->capture_time);
	fact(f, "captured", t);
	fact(f, "path", d->path);
	fact(f, "format", d->format);
	snprintf(n, sizeof(n), "%" PRId64, d->dump_bytes);
	fact(f, "size (bytes)", n);
	fact(f, "complete", d->incomplete ? "no" : "yes");
	fact(f, "xen", d->xen_version);
	fact(f, "tainted modules", d->tainted_modules && !d->tainted_modules[0] ? "(none)" : d->tainted_modules);
	fact(f, "command line", d->cmdline);
	fact(f, "labels", d->labels);
	fputs("</table>\n<h2>Backtraces</h2>\n<pre id=\"backtrace\">", f);
	esc(f, d->backtrace ? d->backtrace : "(none: no symbols or no CPU registers in the dump)");
	fputs("</pre>\n<h2>Log tail</h2>\n<pre id=\"dmesg\">", f);
	esc(f, d->dmesg_tail ? d->dmesg_tail : "(no log)");
	fputs("</pre>", f);
	return page_end(f, name, r->err, sizeof(r->err));
}

static int group_cb(void *arg, const struct arc_group *g)
{
	struct report *r = arg;
	struct series s;
	char a[40], b[40], name[64];

	if (series_load(r->db, g->sig_id, r->first, r->ndays, &s) < 0) {
		free(s.count);
		snprintf(r->err, sizeof(r->err), "per-day counts: %s", arc_db_err(r->db));
		return -1;
	}
	time_str(a, sizeof(a), g->first);
	time_str(b, sizeof(b), g->last);
	fprintf(r->idx, "<tr><td class=\"sig\"><a href=\"group-%s.html\">", g->sig_id);
	esc(r->idx, g->sig);
	fprintf(r->idx, "</a></td><td class=\"num\">%" PRId64 "</td><td>%s</td><td>%s</td><td>", g->count,
		a, b);
	sparkline(r->idx, &s);
	fputs("</td><td>", r->idx);
	esc(r->idx, g->hosts ? g->hosts : "-");
	fputs("</td><td>", r->idx);
	esc(r->idx, g->kernels ? g->kernels : "-");
	fputs("</td></tr>\n", r->idx);

	snprintf(name, sizeof(name), "group-%s.html", g->sig_id);
	FILE *f = page(r->dir, name, g->sig, r->err, sizeof(r->err));
	if (!f) {
		free(s.count);
		return -1;
	}
	fputs("<p><a href=\"index.html\">all groups</a></p>\n<h1 class=\"sig\">", f);
	esc(f, g->sig);
	fprintf(f, "</h1>\n<p>%" PRId64 " dumps, first %s, last %s</p>\n", g->count, a, b);
	plot_days(f, &s);
	free(s.count);
	fputs("<table id=\"dumps\"><tr><th>dump</th><th>time</th><th>host</th><th>kernel</th>"
	      "<th>panic</th></tr>\n", f);
	struct arc_filter flt = { NULL, NULL, g->sig_id, NULL, -1, -1, 0 };
	r->grp = f;
	int rc = arc_db_list(r->db, &flt, dump_page, r);
	r->grp = NULL;
	fputs("</table>", f);
	if (rc < 0 && !r->err[0])
		snprintf(r->err, sizeof(r->err), "%s", arc_db_err(r->db));
	if (page_end(f, name, r->err, sizeof(r->err)) < 0 || rc < 0)
		return -1;
	return 0;
}

int az_archive_report(struct arc_db *db, const char *dir, int64_t limit, char *err, size_t errlen)
{
	struct report r = { .db = db, .dir = dir, .limit = limit };
	int64_t range[2] = { -1, -1 };
	struct series all = { 0 };
	int ret = -1;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (arc_db_days(db, NULL, range_cb, range) < 0) {
		snprintf(err, errlen, "%s", arc_db_err(db));
		return -1;
	}
	if (range[0] < 0)
		range[0] = range[1] = ((int64_t)time(NULL) / DAY) * DAY;
	r.first = range[0];
	r.ndays = (range[1] - range[0]) / DAY + 1;
	if (series_load(db, NULL, r.first, r.ndays, &all) < 0) {
		snprintf(err, errlen, "per-day counts: %s", arc_db_err(db));
		goto out;
	}
	r.idx = page(dir, "index.html", "salvage archive", err, errlen);
	if (!r.idx)
		goto out;
	int64_t total = 0;
	for (int64_t i = 0; i < all.ndays; i++)
		total += all.count[i];
	fprintf(r.idx, "<h1>Crash archive</h1>\n<p>%" PRId64 " dumps.</p>\n<h2>Crashes per day</h2>\n",
		total);
	plot_days(r.idx, &all);
	fputs("<h2>Groups</h2>\n<table id=\"groups\"><tr><th>signature</th><th>dumps</th><th>first seen"
	      "</th><th>last seen</th><th>per day</th><th>hosts</th><th>kernels</th></tr>\n", r.idx);
	int rc = arc_db_groups(db, group_cb, &r);
	fputs("</table>\n", r.idx);
	if (limit > 0 && r.pages >= limit)
		fprintf(r.idx, "<p>Pages for the first %" PRId64 " dumps only (--limit).</p>\n", limit);
	if (page_end(r.idx, "index.html", err, errlen) < 0)
		goto out;
	if (rc < 0) {
		snprintf(err, errlen, "%s", r.err[0] ? r.err : arc_db_err(db));
		goto out;
	}
	ret = 0;
out:
	free(all.count);
	return ret;
}
