/* ident.c - what a path is (a dump file, our agent's dump directory, a
 * kdump-tools directory, a directory still being written) and the content
 * identity that makes adding the same dump twice a no-op. */
#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define SAMPLE (1u << 20)
#define SAMPLES 64          /* first, last and 62 between */

int arc_ident(const char *path, char *out, size_t size, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	XXH3_state_t *h = NULL;
	char *buf = NULL;
	int ret = -1;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	h = XXH3_createState();
	buf = malloc(SAMPLE);
	if (!h || !buf || XXH3_128bits_reset(h) != XXH_OK) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	uint64_t len = (uint64_t)st.st_size;
	/* small files whole; large ones by samples spread evenly, so that two
	 * dumps differing in their headers or in most of their pages differ
	 * here, at a cost independent of the size (DESIGN.md) */
	bool whole = len <= (uint64_t)SAMPLE * SAMPLES;
	uint64_t count = whole ? (len + SAMPLE - 1) / SAMPLE : SAMPLES;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t off = whole ? i * SAMPLE : i * ((len - SAMPLE) / (SAMPLES - 1));
		uint64_t want = len - off < SAMPLE ? len - off : SAMPLE;
		if (!whole && i == count - 1)
			off = len - SAMPLE;     /* the last MiB exactly */
		ssize_t r = pread(fd, buf, (size_t)want, (off_t)off);
		if (r != (ssize_t)want) {
			snprintf(err, errlen, "%s: %s", path,
				 r < 0 ? strerror(errno) : "file shrank while read");
			goto out;
		}
		XXH3_128bits_update(h, buf, (size_t)want);
	}
	XXH128_hash_t d = XXH3_128bits_digest(h);
	snprintf(out, size, "%" PRIu64 "-%016llx%016llx", len, (unsigned long long)d.high64,
		 (unsigned long long)d.low64);
	ret = 0;
out:
	free(buf);
	XXH3_freeState(h);
	close(fd);
	return ret;
}

const char *arc_kind_name(enum arc_kind k)
{
	switch (k) {
	case ARC_KIND_FILE: return "file";
	case ARC_KIND_AGENT: return "agent";
	case ARC_KIND_KDUMP_TOOLS: return "kdump-tools";
	case ARC_KIND_WRITING: return "writing";
	default: return "none";
	}
}

static bool exists(const char *dir, const char *name, char *out, size_t size)
{
	struct stat st;
	int n = snprintf(out, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size || stat(out, &st) < 0 || !S_ISREG(st.st_mode)) {
		out[0] = 0;
		return false;
	}
	return true;
}

int arc_classify(const char *path, struct arc_found *f, char *err, size_t errlen)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		if (strlen(path) >= sizeof(f->dump)) {
			snprintf(err, errlen, "%s: path too long", path);
			return -1;
		}
		f->kind = ARC_KIND_FILE;
		snprintf(f->dump, sizeof(f->dump), "%s", path);
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	int w = arc_dir_writing(path, err, errlen);
	if (w < 0)
		return -1;
	if (w) {
		f->kind = ARC_KIND_WRITING;
		return 0;
	}
	/* our agent: meta.json is renamed into place last (capture/agent-meta.c) */
	if (exists(path, "meta.json", f->meta, sizeof(f->meta))) {
		f->kind = ARC_KIND_AGENT;
		if (!exists(path, "vmcore", f->dump, sizeof(f->dump)))
			exists(path, "vmcore.partial", f->dump, sizeof(f->dump));
		exists(path, "dmesg.txt", f->dmesg, sizeof(f->dmesg));
		if (!f->dump[0])
			f->kind = ARC_KIND_NONE;
		return 0;
	}
	/* kdump-tools: dump.<stamp> and dmesg.<stamp>; the kexec-tools/kdump
	 * layout: vmcore and vmcore-dmesg.txt */
	DIR *dp = opendir(path);
	if (!dp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(dp))) {
		if (!strncmp(e->d_name, "dump.", 5) && !f->dump[0])
			exists(path, e->d_name, f->dump, sizeof(f->dump));
		else if (!strncmp(e->d_name, "dmesg.", 6) && !f->dmesg[0])
			exists(path, e->d_name, f->dmesg, sizeof(f->dmesg));
		else if (!strcmp(e->d_name, "vmcore") && !f->dump[0])
			exists(path, e->d_name, f->dump, sizeof(f->dump));
		else if (!strcmp(e->d_name, "vmcore-dmesg.txt") && !f->dmesg[0])
			exists(path, e->d_name, f->dmesg, sizeof(f->dmesg));
	}
	closedir(dp);
	f->kind = f->dump[0] ? ARC_KIND_KDUMP_TOOLS : ARC_KIND_NONE;
	return 0;
}

int arc_dir_writing(const char *dir, char *err, size_t errlen)
{
	/* our agent writes under these names and renames each file when it is
	 * complete (capture/agent.c); makedumpfile (kdump-tools) writes
	 * dump-incomplete / vmcore-incomplete and renames it at the end */
	static const char *const tmp[] = { ".vmcore.tmp", ".dmesg.txt.tmp", ".meta.json.tmp" };
	DIR *dp = opendir(dir);
	struct dirent *e;
	int w = 0;

	if (!dp) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while (!w && (e = readdir(dp))) {
		for (size_t i = 0; i < sizeof(tmp) / sizeof(tmp[0]); i++)
			if (!strcmp(e->d_name, tmp[i]))
				w = 1;
		if (strstr(e->d_name, "-incomplete"))
			w = 1;
	}
	closedir(dp);
	return w;
}

char *arc_read_file(const char *path, size_t max)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!fp)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(fp);
		return NULL;
	}
	n = fread(buf, 1, max, fp);
	fclose(fp);
	buf[n] = 0;
	return buf;
}
