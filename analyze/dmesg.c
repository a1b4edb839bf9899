/* dmesg.c - `salvage dmesg [--json] [--raw] [--level N] [--caller] DUMP`: the
 * kernel log, by default exactly as `makedumpfile --dump-dmesg` writes it. */
#include "salvage.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum mode { MODE_TEXT, MODE_RAW, MODE_JSON };

struct dmesg_opts {
	enum mode mode;
	int max_level;           /* keep records with level <= max_level; 7 keeps all */
	bool caller;             /* --caller */
	bool has_caller;         /* the kernel records caller ids */
};

struct dmesg_state {
	const struct dmesg_opts *o;
	char *buf;               /* formatting buffer, grown as needed */
	size_t cap;
	struct az_json j;
	unsigned long records;
};

/* "T123" (task) or "C1" (CPU, bit 31 set), as the kernel prints it */
static void caller_str(char *s, size_t len, uint32_t id)
{
	snprintf(s, len, "%c%u", id & 0x80000000u ? 'C' : 'T', id & ~0x80000000u);
}

/* Does the kernel record caller ids?  vmc_logrec says 0 both for "not
 * recorded" and for task 0, so ask VMCOREINFO which layout carries them. */
static bool kernel_has_caller(vmc_dump *d)
{
	if (vmc_vmcoreinfo_get(d, "SYMBOL(prb)"))
		return vmc_vmcoreinfo_get(d, "OFFSET(printk_info.caller_id)") != NULL;
	return vmc_vmcoreinfo_get(d, "OFFSET(printk_log.caller_id)") != NULL ||
	       vmc_vmcoreinfo_get(d, "OFFSET(log.caller_id)") != NULL;
}

static int grow(struct dmesg_state *s, size_t need)
{
	char *nb;

	if (need <= s->cap)
		return 0;
	nb = realloc(s->buf, need);
	if (!nb)
		return -1;
	s->buf = nb;
	s->cap = need;
	return 0;
}

/* The makedumpfile line; with --caller the kernel's "[  T123]" goes after
 * the timestamp and continuation lines are indented by its width too. */
static int put_text(struct dmesg_state *s, const struct vmc_logrec *r)
{
	/* worst case per byte: "\xffffffNN" (10) or a newline plus the indent */
	size_t need = 64 + r->text_len * 48, n;
	char cs[16], cb[24];
	int cw = 0;

	if (grow(s, need) < 0)
		return -1;
	n = vmc_logrec_format(r, s->buf, s->cap);
	if (!s->o->caller) {
		fwrite(s->buf, 1, n, stdout);
		return 0;
	}
	if (s->o->has_caller) {
		caller_str(cs, sizeof(cs), r->caller_id);
		cw = snprintf(cb, sizeof(cb), "[%6s]", cs);
	}
	const char *p = s->buf, *end = s->buf + n;
	const char *ts_end = memchr(p, ']', n);
	if (!ts_end || !cw) {
		fwrite(p, 1, n, stdout);
		return 0;
	}
	fwrite(p, 1, (size_t)(ts_end + 1 - p), stdout);
	fwrite(cb, 1, (size_t)cw, stdout);
	p = ts_end + 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
		fwrite(p, 1, len, stdout);
		p += len;
		if (nl && p < end)
			printf("%*s", cw, "");
	}
	return 0;
}

/* seq,level,ts_nsec,caller;text with the text escaped as /dev/kmsg does:
 * bytes below 0x20, from 0x7f up, and backslash as \xNN. */
static void put_raw(struct dmesg_state *s, const struct vmc_logrec *r)
{
	char cs[16] = "-", lv[16] = "-";

	if (s->o->has_caller)
		caller_str(cs, sizeof(cs), r->caller_id);
	if (r->level >= 0)
		snprintf(lv, sizeof(lv), "%d", r->level);
	printf("%" PRIu64 ",%s,%" PRIu64 ",%s;", r->seq, lv, r->ts_nsec, cs);
	for (size_t i = 0; i < r->text_len; i++) {
		unsigned char c = (unsigned char)r->text[i];
		if (c < 0x20 || c >= 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('\n');
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* The log text as a JSON string.  az_json_str takes C strings and writes
 * bytes from 0x7f up as \u00NN; log text may hold NUL bytes and UTF-8, so
 * valid UTF-8 passes through and any other byte becomes \u00NN. */
static void put_json_text(FILE *f, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c >= 0x20 && c < 0x7f) {
			fputc(c, f);
		} else if (c >= 0x80 && (n = utf8_len(p + i, len - i)) > 0) {
			fwrite(p + i, 1, n, f);
			i += n;
			continue;
		} else {
			fprintf(f, "\\u%04x", c);
		}
		i++;
	}
	fputc('"', f);
}

static void put_json(struct dmesg_state *s, const struct vmc_logrec *r)
{
	struct az_json *j = &s->j;
	char cs[16];

	az_json_begin_object(j);
	az_json_ku64(j, "seq", r->seq);
	az_json_ku64(j, "ts_nsec", r->ts_nsec);
	az_json_ki64_if(j, "level", r->level >= 0, r->level);
	az_json_ki64_if(j, "facility", r->facility >= 0, r->facility);
	az_json_key(j, "caller");
	if (s->o->has_caller) {
		caller_str(cs, sizeof(cs), r->caller_id);
		az_json_str(j, cs);
	} else {
		az_json_null(j);
	}
	az_json_key(j, "text");
	put_json_text(j->f, r->text, r->text_len);
	j->after_key = false;    /* the value was written here, not by az_json */
	az_json_end_object(j);
}

static int emit(void *arg, const struct vmc_logrec *r)
{
	struct dmesg_state *s = arg;

	if (r->level >= 0 && r->level > s->o->max_level)
		return 0;
	s->records++;
	switch (s->o->mode) {
	case MODE_TEXT:
		if (put_text(s, r) < 0)
			return 2;    /* out of memory */
		break;
	case MODE_RAW:
		put_raw(s, r);
		break;
	case MODE_JSON:
		put_json(s, r);
		break;
	}
	return ferror(stdout) ? 1 : 0;
}

static const char dmesg_usage[] =
"usage: salvage dmesg [--json] [--raw] [--level N] [--caller] [--dom0] DUMP\n\n"
		   "Prints the kernel log found through VMCOREINFO (the 5.10+ lockless\n"
		   "printk ring buffer, or the 3.5-5.9 log_buf), by default line for line as\n"
		   "`makedumpfile --dump-dmesg` writes it.\n"
		   "  --level N  only records of level N (0 emerg ... 7 debug) or more urgent;\n"
		   "             records of unknown level are kept\n"
		   "  --caller   add the caller id after the timestamp, as the kernel does\n"
		   "             with CONFIG_PRINTK_CALLER: [  T123] task, [     C1] CPU\n"
		   "  --raw      one line per record: seq,level,ts_nsec,caller;text (unknown\n"
		   "             values '-', text escaped as in /dev/kmsg: \\xNN)\n"
		   "  --json     an array of {seq, ts_nsec, level, facility, caller, text}\n"
		   "  --dom0     Xen dumps: dom0's log, through its P2M, with dom0's VMCOREINFO\n"
		   "             found in its memory (no symbols needed)\n";

static const struct az_cmd dmesg_cmd = {
	.name = "dmesg", .usage = dmesg_usage, .opts = AZ_OPT_DOM0 | AZ_OPT_LOG, .minpos = 1, .maxpos = 1,
};

int az_cmd_dmesg(int argc, char **argv)
{
	struct dmesg_opts o = { MODE_TEXT, 7, false, false };
	struct dmesg_state s;
	struct az_args a;
	const char *path;
	vmc_dump *d, *top = NULL;
	size_t nwarn;
	int rc, ret = az_args_status(az_parse_args(argc, argv, &dmesg_cmd, &a));

	if (ret >= 0)
		return ret;
	ret = AZ_EXIT_OK;
	path = a.pos[0];
	/* --json wins over --raw */
	o.mode = a.json ? MODE_JSON : a.raw ? MODE_RAW : MODE_TEXT;
	o.max_level = a.level;
	o.caller = a.caller;

	d = az_open(path);
	if (!d)
		return AZ_EXIT_FAIL;
	if (a.dom0) {
		/* Xen: dom0's memory as a dump of its own (vmcore/xen.c) */
		top = d;
		if (vmc_xen_dom0_open(top, NULL, &d) != VMC_OK) {
			fprintf(stderr, "salvage: %s: dom0: %s\n", path, az_dom0_errmsg(top));
			vmc_dump_destroy(top);
			return AZ_EXIT_FAIL;
		}
	}
	o.has_caller = kernel_has_caller(d);
	memset(&s, 0, sizeof(s));
	s.o = &o;
	if (o.mode == MODE_JSON) {
		az_json_init(&s.j, stdout);
		az_json_begin_array(&s.j);
	}
	nwarn = vmc_warning_count(d);
	rc = vmc_dmesg(d, emit, &s);
	if (o.mode == MODE_JSON) {
		az_json_end_array(&s.j);
		az_json_finish(&s.j);
	}
	/* what reading the log tolerated (a damaged ring): the output may be
	 * incomplete */
	for (size_t i = nwarn; i < vmc_warning_count(d); i++)
		fprintf(stderr, "salvage: %s: warning: %s\n", path, vmc_warning(d, i));
	if (fflush(stdout) != 0 || rc == 1) {
		fprintf(stderr, "salvage dmesg: write error on standard output\n");
		ret = AZ_EXIT_FAIL;
	} else if (rc == 2) {
		fprintf(stderr, "salvage dmesg: out of memory\n");
		ret = AZ_EXIT_FAIL;
	} else if (rc < 0) {
		fprintf(stderr, "salvage: %s: %s\n", path, vmc_errmsg(d));
		ret = AZ_EXIT_FAIL;
	}
	free(s.buf);
	vmc_dump_destroy(d);
	vmc_dump_destroy(top);
	return ret;
}
