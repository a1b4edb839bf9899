/* agent-meta.c - meta.json: what was captured, how, how long it took.
 *
 * meta.json is written last, so its presence says the agent finished with
 * this dump (completely or not: see "status" and "incomplete").  Its space is
 * reserved before the dump starts (cap_agent_reserve_meta) so that a dump
 * that fills the disk still gets its meta.json.
 */
#include "agent-internal.h"
#include "../vmcore/vmcore.h"
#include "../config/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define META_RESERVE (64 * 1024)
#define META_TMP ".meta.json.tmp"

struct jbuf {
	struct strbuf buf;
	bool comma;
};

static void put(struct jbuf *b, const char *s, size_t n)
{
	strbuf_add(&b->buf, s, n);
}

#define putf(b, ...) strbuf_printf(&(b)->buf, __VA_ARGS__)

static void str(struct jbuf *b, const char *s)
{
	if (!s) {
		put(b, "null", 4);
		return;
	}
	put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			putf(b, "\\u%04x", c);
		} else {
			put(b, (const char *)&c, 1);
		}
	}
	put(b, "\"", 1);
}

/* Keys: each starts with a comma unless it opens an object. */
static void key(struct jbuf *b, const char *k)
{
	if (b->comma)
		put(b, ",", 1);
	put(b, "\n  ", 3);
	str(b, k);
	put(b, ": ", 2);
	b->comma = true;
}

static void kstr(struct jbuf *b, const char *k, const char *v)
{
	key(b, k);
	str(b, v && *v ? v : NULL);
}

static void ku64(struct jbuf *b, const char *k, uint64_t v)
{
	key(b, k);
	putf(b, "%" PRIu64, v);
}

static void kbool(struct jbuf *b, const char *k, bool v)
{
	key(b, k);
	put(b, v ? "true" : "false", v ? 4 : 5);
}

static void utc(char *out, size_t len, int64_t secs)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (secs < 0 || !gmtime_r(&t, &tm))
		out[0] = 0;
	else
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void build(struct jbuf *b, const struct cap_agent_run *run)
{
	const struct cap_result *r = run->have_result ? &run->result : NULL;
	const struct cfg *c = &run->cfg;
	char t[40];

	put(b, "{", 1);
	ku64(b, "salvage_meta", 1);
	kstr(b, "status", run->status);
	kbool(b, "incomplete", strcmp(run->status, "ok") != 0);
	kstr(b, "error", run->error);
	kstr(b, "hostname", run->hostname);
	kstr(b, "osrelease", run->osrelease);
	key(b, "crash_time");
	if (run->crash_time >= 0)
		putf(b, "%" PRId64, run->crash_time);
	else
		put(b, "null", 4);
	utc(t, sizeof(t), run->crash_time);
	kstr(b, "crash_time_utc", t);
	utc(t, sizeof(t), run->started);
	kstr(b, "capture_started_utc", t);
	kstr(b, "crash_kernel", run->crash_kernel);
	kstr(b, "producer", "salvage-capture");

	key(b, "dump");
	put(b, "{", 1);
	putf(b, "\"file\": ");
	str(b, run->dump_file[0] ? run->dump_file : NULL);
	putf(b, ", \"format\": \"%s\", \"level\": %d, \"codec\": \"%s\", \"bytes\": %" PRIu64,
	     c->format == CFG_FORMAT_ELF ? "elf" : "kdump", (int)c->level,
	     cap_agent_codec_name(c->codec), run->dump_bytes);
	/* a sealed dump is the flattened stream, sealed (docs/formats.md §8.2);
	 * the key only when there is one */
	if (run->sealed_to[0]) {
		putf(b, ", \"sealed_to\": ");
		str(b, run->sealed_to);
	}
	put(b, "}", 1);
	key(b, "dmesg");
	put(b, "{\"file\": ", 9);
	str(b, run->dmesg_file[0] ? run->dmesg_file : NULL);
	putf(b, ", \"bytes\": %" PRIu64 "}", run->dmesg_bytes);

	if (r) {
		key(b, "pages");
		putf(b, "{\"ram\": %" PRIu64 ", \"dumpable\": %" PRIu64 ", \"written\": %" PRIu64
		     ", \"zero\": %" PRIu64 ", \"unreadable\": %" PRIu64 ", \"excluded\": {",
		     r->pages_ram, r->pages_dumpable, r->pages_written, r->pages_zero,
		     r->pages_unreadable);
		for (int i = 0; i < 8; i++)
			putf(b, "%s\"%s\": %" PRIu64, i ? ", " : "",
			     vmc_pclass_name((enum vmc_pclass)i), r->pages_excluded[i]);
		put(b, "}}", 2);
		/* the frames the dump lacks though the source was to hold
		 * them (cut short, unreadable): inclusive ranges, in order */
		key(b, "lost_pages");
		putf(b, "{\"count\": %" PRIu64 ", \"ranges\": [", r->pages_lost + r->pages_unreadable);
		for (size_t i = 0; i < r->nlost; i++) {
			if (r->lost[i].end - r->lost[i].start > 1)
				putf(b, "%s\"0x%" PRIx64 "-0x%" PRIx64 "\"", i ? ", " : "",
				     r->lost[i].start, r->lost[i].end - 1);
			else
				putf(b, "%s\"0x%" PRIx64 "\"", i ? ", " : "", r->lost[i].start);
		}
		putf(b, "], \"unlisted\": %" PRIu64 "}", r->lost_unlisted);
		ku64(b, "bytes_in", r->bytes_in);
		ku64(b, "bytes_out", r->bytes_out);
	}
	key(b, "seconds");
	putf(b, "{\"total\": %.3f, \"modules\": %.3f, \"device\": %.3f, \"mount\": %.3f, "
	     "\"prune\": %.3f, \"capture\": %.3f, \"dmesg\": %.3f}",
	     run->t_total, run->t_modules, run->t_device, run->t_mount, run->t_prune,
	     run->t_capture, r ? r->seconds_dmesg : 0.0);

	key(b, "target");
	put(b, "{\"spec\": ", 9);
	str(b, c->target);
	put(b, ", \"device\": ", 12);
	str(b, run->target.device[0] ? run->target.device : NULL);
	put(b, ", \"fstype\": ", 12);
	str(b, run->target.fs.type[0] ? run->target.fs.type : NULL);
	put(b, ", \"uuid\": ", 10);
	str(b, run->target.fs.uuid[0] ? run->target.fs.uuid : NULL);
	put(b, ", \"label\": ", 11);
	str(b, run->target.fs.label[0] ? run->target.fs.label : NULL);
	putf(b, ", \"free_before\": %" PRIu64 ", \"free_after\": %" PRIu64 "}",
	     run->free_before, run->free_after);

	key(b, "pruned");
	put(b, "[", 1);
	if (run->pruned[0]) {
		char tmp[sizeof(run->pruned)], *p, *save = NULL;
		bool first = true;

		snprintf(tmp, sizeof(tmp), "%s", run->pruned);
		for (p = strtok_r(tmp, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			if (!first)
				put(b, ", ", 2);
			str(b, p);
			first = false;
		}
	}
	put(b, "]", 1);

	key(b, "warnings");
	put(b, "[", 1);
	for (size_t i = 0; r && i < r->nwarnings && i < 32; i++) {
		if (i)
			put(b, ", ", 2);
		str(b, r->warnings[i]);
	}
	put(b, "]", 1);
	kstr(b, "notes", r ? r->notes : NULL);

	key(b, "log");
	put(b, "[", 1);
	for (size_t i = 0; i < run->nlog; i++) {
		put(b, i ? ",\n    " : "\n    ", i ? 6 : 5);
		str(b, run->log[i]);
	}
	put(b, "]\n}\n", 4);
}

int cap_agent_reserve_meta(const struct cap_agent_run *run)
{
	char path[sizeof(run->dumpdir) + 32];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/" META_TMP, run->dumpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = posix_fallocate(fd, 0, META_RESERVE);
	if (rc == EOPNOTSUPP || rc == EINVAL) {
		/* a file system without fallocate: reserve by writing */
		static const char zeros[4096];
		rc = 0;
		for (int i = 0; i < META_RESERVE / 4096 && !rc; i++)
			if (write(fd, zeros, sizeof(zeros)) != (ssize_t)sizeof(zeros))
				rc = errno ? errno : ENOSPC;
	}
	if (!rc && fsync(fd) < 0)
		rc = errno;
	close(fd);
	return -rc;
}

int cap_agent_write_meta(const struct cap_agent_run *run)
{
	char tmp[sizeof(run->dumpdir) + 32], final[sizeof(run->dumpdir) + 32];
	struct jbuf b = { 0 };
	size_t off = 0;
	int fd, rc = 0;

	build(&b, run);
	if (b.buf.failed) {
		free(b.buf.s);
		return -ENOMEM;
	}
	snprintf(tmp, sizeof(tmp), "%s/" META_TMP, run->dumpdir);
	snprintf(final, sizeof(final), "%s/meta.json", run->dumpdir);
	/* no O_TRUNC: overwrite the reserved blocks in place */
	fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(b.buf.s);
		return -errno;
	}
	while (off < b.buf.len) {
		ssize_t w = pwrite(fd, b.buf.s + off, b.buf.len - off, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	free(b.buf.s);
	if (!rc && ftruncate(fd, (off_t)off) < 0)
		rc = -errno;
	close(fd);
	if (rc)
		return rc;
	return cap_agent_commit(tmp, final);
}
