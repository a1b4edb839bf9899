/* progress.c - percent, MB/s and ETA on stderr.  On a terminal one line is
 * rewritten in place; elsewhere (a serial console, a log) a line is printed at
 * most every `interval` seconds, so a slow console never slows the dump. */
#include "internal.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double cap_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cap_progress_init(struct cap_progress *p, int mode, double interval, const char *what,
		       uint64_t total)
{
	p->mode = mode == 1 ? (isatty(STDERR_FILENO) ? 1 : 2) : mode ? 2 : 0;
	p->interval = p->mode == 1 ? 0.25 : interval > 0 ? interval : 5.0;
	p->start = p->last = cap_now();
	p->total = total;
	p->what = what;
	p->printed_live = false;
}

static void show(struct cap_progress *p, uint64_t done, uint64_t bytes, double now, bool end)
{
	double el = now - p->start;
	double pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;
	double mbs = el > 0 ? (double)bytes / el / 1e6 : 0;
	double eta = done && p->total > done ? el * (double)(p->total - done) / (double)done : 0;
	char line[160];

	if (end)
		snprintf(line, sizeof(line), "%s: %llu pages, %.1f MB in %.1f s (%.1f MB/s)",
			 p->what, (unsigned long long)done, (double)bytes / 1e6, el, mbs);
	else
		snprintf(line, sizeof(line), "%s: %5.1f%%  %.1f MB/s  ETA %.0f s", p->what, pct,
			 mbs, eta);
	if (p->mode == 1) {
		fprintf(stderr, "\r%-70s%s", line, end ? "\n" : "");
		p->printed_live = !end;
	} else {
		fprintf(stderr, "%s\n", line);
	}
	fflush(stderr);
}

void cap_progress_update(struct cap_progress *p, uint64_t done, uint64_t bytes)
{
	double now;
	if (!p->mode)
		return;
	now = cap_now();
	if (now - p->last < p->interval)
		return;
	p->last = now;
	show(p, done, bytes, now, false);
}

void cap_progress_end(struct cap_progress *p, uint64_t done, uint64_t bytes)
{
	if (!p->mode)
		return;
	show(p, done, bytes, cap_now(), true);
}
