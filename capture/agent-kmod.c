/* agent-kmod.c - load kernel modules the way modprobe would, without kmod:
 * names resolved through /lib/modules/<release>/modules.dep, dependencies
 * first, each file given to finit_module(2).
 *
 * Compressed modules (.ko.xz, .ko.zst, .ko.gz) are first offered to the kernel
 * with MODULE_INIT_COMPRESSED_FILE (5.17+, CONFIG_MODULE_DECOMPRESS; Debian's
 * 6.12 has it); a kernel that refuses gets the module decompressed in memory
 * and loaded with init_module(2).  xz needs liblzma: built only when the
 * Makefile defines SALVAGE_HAVE_LZMA and links -llzma.
 */
#include "agent-internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <dirent.h>
#include <zlib.h>
#include <zstd.h>
#ifdef SALVAGE_HAVE_LZMA
#include <lzma.h>
#endif

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

#define MAX_MODULE_BYTES (256u << 20)   /* no module is near this; bounds a bad file */
#define MAX_DEPTH 32

struct mod {
	char name[64];        /* normalised: '-' -> '_' */
	const char *path;     /* relative to the module directory */
	char *deps;           /* space separated paths, or "" */
	bool visited;
};

struct moddb {
	char dir[PATH_MAX];
	char *text;           /* modules.dep, modified in place */
	struct mod *mods;
	size_t n;
};

static void norm_name(const char *path, char *out, size_t len)
{
	const char *b = strrchr(path, '/');
	size_t i = 0;

	b = b ? b + 1 : path;
	for (; *b && i + 1 < len; b++) {
		if (!strncmp(b, ".ko", 3) && (b[3] == 0 || b[3] == '.'))
			break;
		out[i++] = *b == '-' ? '_' : *b;
	}
	out[i] = 0;
}

static int read_all(const char *path, char **out, size_t *len, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
		int e = errno ? -errno : -EFBIG;
		close(fd);
		return e;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = 0;
	*out = buf;
	*len = got;
	return 0;
}

static int find_moddir(char *dir, size_t len)
{
	struct utsname u;
	struct stat st;
	DIR *d;
	struct dirent *e;
	int found = 0;

	if (uname(&u) == 0) {
		snprintf(dir, len, "/lib/modules/%s", u.release);
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
	}
	/* an image built for another release of the same kernel: use its only tree */
	d = opendir("/lib/modules");
	if (!d)
		return -ENOENT;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, len, "/lib/modules/%s", e->d_name);
		found++;
	}
	closedir(d);
	return found == 1 ? 0 : -ENOENT;
}

static int db_open(struct moddb *db)
{
	char path[PATH_MAX + 16];
	size_t len, cap = 0;
	int rc;

	memset(db, 0, sizeof(*db));
	rc = find_moddir(db->dir, sizeof(db->dir));
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/modules.dep", db->dir);
	rc = read_all(path, &db->text, &len, 64u << 20);
	if (rc < 0)
		return rc;
	for (char *line = db->text, *next; line && *line; line = next) {
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		if (db->n == cap) {
			struct mod *m;
			cap = cap ? cap * 2 : 64;
			m = realloc(db->mods, cap * sizeof(*m));
			if (!m)
				return -ENOMEM;
			db->mods = m;
		}
		norm_name(line, db->mods[db->n].name, sizeof(db->mods[db->n].name));
		db->mods[db->n].path = line;
		db->mods[db->n].deps = colon + 1;
		db->mods[db->n].visited = false;
		db->n++;
	}
	return 0;
}

static void db_close(struct moddb *db)
{
	free(db->mods);
	free(db->text);
}

static struct mod *db_find(struct moddb *db, const char *name)
{
	for (size_t i = 0; i < db->n; i++)
		if (!strcmp(db->mods[i].name, name))
			return &db->mods[i];
	return NULL;
}

/* Built in, or already loaded: /sys/module/NAME, else modules.builtin. */
static bool present(const struct moddb *db, const char *name)
{
	char path[PATH_MAX + 32], *text, *p;
	size_t len;
	struct stat st;
	bool yes = false;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	if (stat(path, &st) == 0)
		return true;
	snprintf(path, sizeof(path), "%s/modules.builtin", db->dir);
	if (read_all(path, &text, &len, 16u << 20) < 0)
		return false;
	for (p = strtok(text, "\n"); p && !yes; p = strtok(NULL, "\n")) {
		char n[64];
		norm_name(p, n, sizeof(n));
		yes = !strcmp(n, name);
	}
	free(text);
	return yes;
}

static int decompress(const char *path, const char *data, size_t len, char **out,
		      size_t *outlen)
{
	size_t cap = len * 4 + 65536, got = 0;
	char *buf = malloc(cap);
	int rc = -ENOTSUP;

	if (!buf)
		return -ENOMEM;
	if (strstr(path, ".ko.zst")) {
		ZSTD_DStream *z = ZSTD_createDStream();
		ZSTD_inBuffer in = { data, len, 0 };
		size_t r = 1;

		rc = -EBADMSG;
		while (z && r != 0) {
			ZSTD_outBuffer o;
			if (got == cap) {
				char *nb = cap * 2 > MAX_MODULE_BYTES ? NULL : realloc(buf, cap * 2);
				if (!nb)
					break;
				buf = nb;
				cap *= 2;
			}
			o = (ZSTD_outBuffer){ buf, cap, got };
			r = ZSTD_decompressStream(z, &o, &in);
			got = o.pos;
			if (ZSTD_isError(r) || (r && in.pos == in.size && o.pos < o.size))
				break;
		}
		if (z && r == 0)
			rc = 0;
		ZSTD_freeDStream(z);
	} else if (strstr(path, ".ko.gz")) {
		z_stream z = { 0 };
		int zr = Z_OK;

		rc = -EBADMSG;
		if (inflateInit2(&z, 16 + MAX_WBITS) == Z_OK) {
			z.next_in = (Bytef *)data;
			z.avail_in = (uInt)len;
			while (zr == Z_OK) {
				if (got == cap) {
					char *nb = cap * 2 > MAX_MODULE_BYTES ? NULL : realloc(buf, cap * 2);
					if (!nb)
						break;
					buf = nb;
					cap *= 2;
				}
				z.next_out = (Bytef *)buf + got;
				z.avail_out = (uInt)(cap - got);
				zr = inflate(&z, Z_NO_FLUSH);
				got = cap - z.avail_out;
			}
			if (zr == Z_STREAM_END)
				rc = 0;
			inflateEnd(&z);
		}
#ifdef SALVAGE_HAVE_LZMA
	} else if (strstr(path, ".ko.xz")) {
		lzma_stream z = LZMA_STREAM_INIT;
		lzma_ret lr = LZMA_OK;

		rc = -EBADMSG;
		if (lzma_stream_decoder(&z, MAX_MODULE_BYTES, 0) == LZMA_OK) {
			z.next_in = (const uint8_t *)data;
			z.avail_in = len;
			while (lr == LZMA_OK) {
				if (got == cap) {
					char *nb = cap * 2 > MAX_MODULE_BYTES ? NULL : realloc(buf, cap * 2);
					if (!nb)
						break;
					buf = nb;
					cap *= 2;
				}
				z.next_out = (uint8_t *)buf + got;
				z.avail_out = cap - got;
				lr = lzma_code(&z, LZMA_FINISH);
				got = cap - z.avail_out;
			}
			if (lr == LZMA_STREAM_END)
				rc = 0;
			lzma_end(&z);
		}
#endif
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = got;
	return 0;
}

/* Load one module file; 0 also when it is already loaded. */
static int load_file(const char *dir, const char *rel, char *err, size_t errlen)
{
	char path[PATH_MAX * 2];
	bool compressed = !!strstr(rel, ".ko.");
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", rel, strerror(-rc));
		return rc;
	}
	if (syscall(SYS_finit_module, fd, "", compressed ? MODULE_INIT_COMPRESSED_FILE : 0) < 0)
		rc = -errno;
	close(fd);
	if (rc == -EEXIST)
		return 0;
	if (compressed && (rc == -EOPNOTSUPP || rc == -EINVAL || rc == -ENOSYS)) {
		/* the kernel cannot decompress: do it here */
		char *data, *mod;
		size_t len, modlen;

		rc = read_all(path, &data, &len, MAX_MODULE_BYTES);
		if (rc == 0) {
			rc = decompress(rel, data, len, &mod, &modlen);
			free(data);
			if (rc == 0) {
				if (syscall(SYS_init_module, mod, (unsigned long)modlen, "") < 0)
					rc = errno == EEXIST ? 0 : -errno;
				free(mod);
			} else if (rc == -ENOTSUP) {
				snprintf(err, errlen, "%s: kernel cannot decompress it and this "
					 "agent was built without that codec", rel);
				return rc;
			}
		}
	}
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", rel, strerror(-rc));
	return rc;
}

static int load_mod(struct moddb *db, struct mod *m, int depth,
		    struct cap_agent_kmod_stats *st)
{
	char *deps[MAX_DEPTH * 4], *copy, *p;
	size_t nd = 0;
	int rc = 0;

	if (m->visited)
		return 0;
	m->visited = true;
	if (depth > MAX_DEPTH)
		return -ELOOP;
	copy = strdup(m->deps);
	if (!copy)
		return -ENOMEM;
	for (p = strtok(copy, " \t"); p && nd < sizeof(deps) / sizeof(deps[0]); p = strtok(NULL, " \t"))
		deps[nd++] = p;
	/* modules.dep lists a module's dependencies so that the last loads first */
	while (nd-- > 0) {
		char name[64];
		struct mod *d;

		norm_name(deps[nd], name, sizeof(name));
		d = db_find(db, name);
		if (d) {
			int r = load_mod(db, d, depth + 1, st);
			if (r < 0 && rc == 0)
				rc = r;
		}
	}
	free(copy);
	if (present(db, m->name)) {
		st->present++;
	} else {
		char err[256];
		int r = load_file(db->dir, m->path, err, sizeof(err));
		if (r < 0) {
			st->failed++;
			if (!st->first_error[0])
				snprintf(st->first_error, sizeof(st->first_error), "%s", err);
			if (rc == 0)
				rc = r;
		} else {
			st->loaded++;
		}
	}
	return rc;
}

int cap_agent_kmod_load(const char *names, struct cap_agent_kmod_stats *st)
{
	struct moddb db;
	char *list, *p, *save = NULL;
	int dbrc, first = 0;

	memset(st, 0, sizeof(*st));
	if (!names || !*names)
		return 0;
	dbrc = db_open(&db);
	if (dbrc < 0 && dbrc != -ENOENT) {
		snprintf(st->first_error, sizeof(st->first_error), "modules.dep: %s",
			 strerror(-dbrc));
		db_close(&db);
		return dbrc;
	}
	list = strdup(names);
	if (!list) {
		db_close(&db);
		return -ENOMEM;
	}
	for (p = strtok_r(list, ", \t", &save); p; p = strtok_r(NULL, ", \t", &save)) {
		char name[64];
		struct mod *m;

		norm_name(p, name, sizeof(name));
		m = dbrc == 0 ? db_find(&db, name) : NULL;
		if (m) {
			int rc = load_mod(&db, m, 0, st);
			if (rc < 0 && !first)
				first = rc;
		} else if (present(&db, name)) {
			st->present++;
		} else {
			st->failed++;
			if (!st->first_error[0])
				snprintf(st->first_error, sizeof(st->first_error),
					 "%.63s: not in %.150s/modules.dep", name,
					 db.dir[0] ? db.dir : "/lib/modules");
			if (!first)
				first = -ENOENT;
		}
	}
	free(list);
	db_close(&db);
	return first;
}

bool cap_agent_have_fs(const char *fstype)
{
	FILE *f = fopen("/proc/filesystems", "re");
	char line[128];
	bool yes = false;

	if (!f)
		return false;
	while (!yes && fgets(line, sizeof(line), f)) {
		char *s = line, *e;

		if (!strncmp(s, "nodev", 5))
			continue;
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = 0;
		yes = !strcmp(s, fstype);
	}
	fclose(f);
	return yes;
}
