/* modules.c - pick kernel modules out of a module tree (an installed
 * /lib/modules/KVER or an unpacked kernel package) through modules.dep, as
 * depmod wrote it; built-in modules come from modules.builtin.
 *
 * Modules go into the image decompressed (.ko), so the agent never needs the
 * kernel to decompress: zstd and gzip through the libraries linked anyway, xz
 * through liblzma when built with SALVAGE_HAVE_LZMA.  Without it an .ko.xz is
 * kept as is if the kernel's config has CONFIG_MODULE_DECOMPRESS=y (the agent
 * then passes MODULE_INIT_COMPRESSED_FILE), and refused otherwise: better a
 * clear error now than a module that cannot load after a crash.
 */
#include "initramfs.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>
#ifdef SALVAGE_HAVE_LZMA
#include <lzma.h>
#endif

#define MAX_KO ((size_t)256 << 20)

struct mod {
	char name[64];
	char *path;        /* relative to the module directory */
	char *deps;        /* as in modules.dep */
	bool want;
	int order;         /* position in the asked list, or -1 */
};

struct az_modtree {
	char root[PATH_MAX];
	char kver[128];
	char dir[PATH_MAX];
	char *dep_text, *builtin_text;
	struct mod *m;
	size_t n;
	int next_order;
};

static void norm(const char *path, char *out, size_t len)
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

const char *az_modtree_dir(const struct az_modtree *t)
{
	return t->dir;
}

int az_modtree_open(const char *root, const char *kver, struct az_modtree **out,
		    char *err, size_t errlen)
{
	struct az_modtree *t = calloc(1, sizeof(*t));
	char path[PATH_MAX + 32];
	struct stat st;
	size_t len, cap = 0;
	void *data;
	int rc;

	if (!t)
		return -ENOMEM;
	snprintf(t->root, sizeof(t->root), "%s", root);
	snprintf(t->kver, sizeof(t->kver), "%s", kver);
	snprintf(t->dir, sizeof(t->dir), "%s/lib/modules/%s", root, kver);
	if (stat(t->dir, &st) < 0)
		snprintf(t->dir, sizeof(t->dir), "%s/usr/lib/modules/%s", root, kver);
	snprintf(path, sizeof(path), "%s/modules.dep", t->dir);
	rc = az_read_file(path, (size_t)64 << 20, &data, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s/lib/modules/%s/modules.dep: %s%s", root, kver,
			 strerror(-rc), rc == -ENOENT ? " (run depmod -b ROOT KVER)" : "");
		free(t);
		return rc;
	}
	t->dep_text = data;
	snprintf(path, sizeof(path), "%s/modules.builtin", t->dir);
	if (az_read_file(path, (size_t)16 << 20, &data, &len) == 0)
		t->builtin_text = data;
	for (char *line = t->dep_text, *next; line && *line; line = next) {
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		if (t->n == cap) {
			struct mod *nm;
			cap = cap ? cap * 2 : 1024;
			nm = realloc(t->m, cap * sizeof(*nm));
			if (!nm) {
				az_modtree_close(t);
				return -ENOMEM;
			}
			t->m = nm;
		}
		memset(&t->m[t->n], 0, sizeof(t->m[0]));
		norm(line, t->m[t->n].name, sizeof(t->m[0].name));
		t->m[t->n].path = line;
		t->m[t->n].deps = colon + 1;
		t->m[t->n].order = -1;
		t->n++;
	}
	*out = t;
	return 0;
}

void az_modtree_close(struct az_modtree *t)
{
	if (!t)
		return;
	free(t->dep_text);
	free(t->builtin_text);
	free(t->m);
	free(t);
}

static struct mod *lookup(struct az_modtree *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->m[i].name, name))
			return &t->m[i];
	return NULL;
}

static bool builtin(const struct az_modtree *t, const char *name)
{
	const char *p = t->builtin_text;

	while (p && *p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char line[PATH_MAX], nm[64];

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = 0;
			norm(line, nm, sizeof(nm));
			if (!strcmp(nm, name))
				return true;
		}
		p = e ? e + 1 : NULL;
	}
	return false;
}

static void mark(struct az_modtree *t, struct mod *m, int depth)
{
	char *copy, *p, *save = NULL;

	if (m->want || depth > 32)
		return;
	m->want = true;
	copy = strdup(m->deps);
	if (!copy)
		return;
	for (p = strtok_r(copy, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
		char nm[64];
		struct mod *d;

		norm(p, nm, sizeof(nm));
		d = lookup(t, nm);
		if (d)
			mark(t, d, depth + 1);
	}
	free(copy);
}

int az_modtree_want(struct az_modtree *t, const char *name)
{
	char nm[64];
	struct mod *m;

	norm(name, nm, sizeof(nm));
	m = lookup(t, nm);
	if (m) {
		mark(t, m, 0);
		if (m->order < 0)
			m->order = t->next_order++;
		return 0;
	}
	return builtin(t, nm) ? 1 : -ENOENT;
}

int az_modtree_config_y(const struct az_modtree *t, const char *name)
{
	char path[PATH_MAX * 2], want[128];
	void *data;
	size_t len;
	int yes = 0;

	snprintf(path, sizeof(path), "%s/boot/config-%s", t->root, t->kver);
	if (az_read_file(path, (size_t)16 << 20, &data, &len) < 0)
		return -1;
	snprintf(want, sizeof(want), "\n%s=y\n", name);
	yes = strstr(data, want) != NULL;
	free(data);
	return yes;
}

/* Decompress a module into a malloc'd buffer.  -ENOTSUP: codec not built in. */
static int unpack(const char *path, const void *in, size_t inlen, void **out, size_t *outlen)
{
	size_t cap = inlen * 4 + 65536, got = 0;
	unsigned char *buf = malloc(cap);
	int rc = -EBADMSG;

	if (!buf)
		return -ENOMEM;
	if (strstr(path, ".ko.zst")) {
		ZSTD_DStream *z = ZSTD_createDStream();
		ZSTD_inBuffer i = { in, inlen, 0 };
		size_t r = 1;

		while (z && r) {
			if (got == cap) {
				unsigned char *nb = cap * 2 > MAX_KO ? NULL : realloc(buf, cap * 2);
				if (!nb)
					break;
				buf = nb;
				cap *= 2;
			}
			ZSTD_outBuffer o = { buf, cap, got };
			r = ZSTD_decompressStream(z, &o, &i);
			got = o.pos;
			if (ZSTD_isError(r) || (r && i.pos == i.size && o.pos < o.size))
				break;
		}
		if (z && r == 0)
			rc = 0;
		ZSTD_freeDStream(z);
	} else if (strstr(path, ".ko.gz")) {
		z_stream z = { 0 };
		int zr = Z_OK;

		if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
			goto done;
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)inlen;
		while (zr == Z_OK) {
			if (got == cap) {
				unsigned char *nb = cap * 2 > MAX_KO ? NULL : realloc(buf, cap * 2);
				if (!nb)
					break;
				buf = nb;
				cap *= 2;
			}
			z.next_out = buf + got;
			z.avail_out = (uInt)(cap - got);
			zr = inflate(&z, Z_NO_FLUSH);
			got = cap - z.avail_out;
		}
		if (zr == Z_STREAM_END)
			rc = 0;
		inflateEnd(&z);
#ifdef SALVAGE_HAVE_LZMA
	} else if (strstr(path, ".ko.xz")) {
		lzma_stream z = LZMA_STREAM_INIT;
		lzma_ret lr = LZMA_OK;

		if (lzma_stream_decoder(&z, MAX_KO, 0) != LZMA_OK)
			goto done;
		z.next_in = in;
		z.avail_in = inlen;
		while (lr == LZMA_OK) {
			if (got == cap) {
				unsigned char *nb = cap * 2 > MAX_KO ? NULL : realloc(buf, cap * 2);
				if (!nb)
					break;
				buf = nb;
				cap *= 2;
			}
			z.next_out = buf + got;
			z.avail_out = cap - got;
			lr = lzma_code(&z, LZMA_FINISH);
			got = cap - z.avail_out;
		}
		if (lr == LZMA_STREAM_END)
			rc = 0;
		lzma_end(&z);
#endif
	} else {
		rc = -ENOTSUP;
	}
done:
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = got;
	return 0;
}

static int cmp_order(const void *a, const void *b)
{
	const struct mod *x = *(struct mod *const *)a, *y = *(struct mod *const *)b;

	return x->order - y->order;
}

/* Can this program decompress the module file? */
static bool can_unpack(const char *path)
{
	if (strstr(path, ".ko.zst") || strstr(path, ".ko.gz"))
		return true;
#ifdef SALVAGE_HAVE_LZMA
	if (strstr(path, ".ko.xz"))
		return true;
#endif
	return false;
}

/* The path a module gets in the image: .ko when it is decompressed here. */
static void image_rel(const char *rel, char *out, size_t len)
{
	const char *ko = strstr(rel, ".ko");

	if (!ko || !strstr(rel, ".ko.") || !can_unpack(rel))
		snprintf(out, len, "%s", rel);
	else
		snprintf(out, len, "%.*s.ko", (int)(ko - rel), rel);
}

int az_modtree_stage(struct az_modtree *t, struct az_cpio *c, char *list, size_t listlen,
		     unsigned *nfiles, uint64_t *bytes, char *err, size_t errlen)
{
	char *dep = NULL;
	size_t deplen = 0, depcap = 0, nord = 0;
	struct mod **ord = calloc(t->n ? t->n : 1, sizeof(*ord));
	bool kernel_unpacks = az_modtree_config_y(t, "CONFIG_MODULE_DECOMPRESS") == 1;
	int rc = 0;

	*nfiles = 0;
	*bytes = 0;
	list[0] = 0;
	if (!ord)
		return -ENOMEM;
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		struct mod *m = &t->m[i];
		char src[PATH_MAX * 2], rel[PATH_MAX], dst[PATH_MAX + 160], line[8192];
		void *data, *ko;
		size_t len, kolen;
		bool keep = !strstr(m->path, ".ko.") || !can_unpack(m->path);
		int n;

		if (!m->want)
			continue;
		if (m->order >= 0)
			ord[nord++] = m;
		snprintf(src, sizeof(src), "%s/%s", t->dir, m->path);
		rc = az_read_file(src, MAX_KO, &data, &len);
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s", src, strerror(-rc));
			break;
		}
		if (keep && strstr(m->path, ".ko.") && !kernel_unpacks) {
			rc = -ENOTSUP;
			snprintf(err, errlen, "%s: this salvage cannot decompress it and the "
				 "kernel's config lacks CONFIG_MODULE_DECOMPRESS=y", src);
			free(data);
			break;
		}
		if (!keep) {
			rc = unpack(m->path, data, len, &ko, &kolen);
			if (rc < 0) {
				snprintf(err, errlen, "%s: cannot decompress", src);
				free(data);
				break;
			} else {
				free(data);
				data = ko;
				len = kolen;
			}
		}
		image_rel(m->path, rel, sizeof(rel));
		snprintf(dst, sizeof(dst), "/lib/modules/%s/%s", t->kver, rel);
		*bytes += len;
		(*nfiles)++;
		rc = az_cpio_add_data(c, dst, 0644, data, len);
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s", dst, strerror(-rc));
			break;
		}
		/* this module's modules.dep line, with the image's file names */
		n = snprintf(line, sizeof(line), "%s:", rel);
		{
			char *copy = strdup(m->deps), *p, *save = NULL;
			for (p = copy ? strtok_r(copy, " \t", &save) : NULL; p;
			     p = strtok_r(NULL, " \t", &save)) {
				char drel[PATH_MAX];
				image_rel(p, drel, sizeof(drel));
				if (n > 0 && (size_t)n < sizeof(line))
					n += snprintf(line + n, sizeof(line) - (size_t)n, " %s", drel);
			}
			free(copy);
		}
		if (n < 0 || (size_t)n >= sizeof(line) - 1) {
			rc = -E2BIG;
			snprintf(err, errlen, "%s: dependency line too long", m->path);
			break;
		}
		line[n++] = '\n';
		if (deplen + (size_t)n + 1 > depcap) {
			char *nd = realloc(dep, depcap = (deplen + (size_t)n + 1) * 2);
			if (!nd) {
				rc = -ENOMEM;
				break;
			}
			dep = nd;
		}
		memcpy(dep + deplen, line, (size_t)n);
		deplen += (size_t)n;
		dep[deplen] = 0;
	}
	if (rc == 0) {
		char dst[PATH_MAX];

		snprintf(dst, sizeof(dst), "/lib/modules/%s/modules.dep", t->kver);
		if (!dep)
			dep = strdup("");
		rc = dep ? az_cpio_add_data(c, dst, 0644, dep, deplen) : -ENOMEM;
		dep = NULL;
		qsort(ord, nord, sizeof(*ord), cmp_order);
		for (size_t i = 0; i < nord; i++) {
			size_t used = strlen(list);
			snprintf(list + used, listlen - used, "%s%s", used ? "," : "", ord[i]->name);
		}
	}
	free(dep);
	free(ord);
	return rc;
}

int az_elf_is_dynamic(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t phoff;
	uint16_t phentsize, phnum;

	if (len < 64 || memcmp(p, "\177ELF", 4) || p[4] != 2 || p[5] != 1)
		return -1;   /* ELF64 little-endian only: the agent is x86_64 */
	memcpy(&phoff, p + 32, 8);
	memcpy(&phentsize, p + 54, 2);
	memcpy(&phnum, p + 56, 2);
	if (phentsize < 56 || phoff > len || (uint64_t)phnum * phentsize > len - phoff)
		return -1;
	for (uint16_t i = 0; i < phnum; i++) {
		uint32_t type;
		memcpy(&type, p + phoff + (uint64_t)i * phentsize, 4);
		if (type == 3)   /* PT_INTERP */
			return 1;
	}
	return 0;
}
