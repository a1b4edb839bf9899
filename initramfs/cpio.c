/* cpio.c - newc ("070701") archives for the kernel's initramfs unpacker,
 * compressed with zstd or gzip through the libraries (never by hand).
 *
 * Reproducible by construction: entries are written sorted by path, inode
 * numbers are assigned in that order, every entry has the same mtime and
 * owner 0:0, and neither compressor stores a time stamp (zlib's gzip header
 * has mtime 0 unless asked otherwise).  Device nodes are written as headers,
 * so building needs no root.
 */
#include "initramfs.h"
#include "../kmod/kmod.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define ZSTD_LEVEL 19
#define ZSTD_WINDOWLOG 21   /* 2 MiB: small decoder memory in the crash kernel */
#define GZIP_LEVEL 9

struct entry {
	char *path;           /* without the leading '/' */
	mode_t mode;
	unsigned rmajor, rminor;
	char *data;           /* file contents or symlink target */
	size_t len;
};

struct irfs_cpio {
	struct entry *e;
	size_t n, cap;
};

struct irfs_cpio *irfs_cpio_create(void)
{
	return calloc(1, sizeof(struct irfs_cpio));
}

void irfs_cpio_destroy(struct irfs_cpio *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].path);
		free(c->e[i].data);
	}
	free(c->e);
	free(c);
}

size_t irfs_cpio_count(const struct irfs_cpio *c)
{
	return c->n;
}

static struct entry *find(struct irfs_cpio *c, const char *p)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->e[i].path, p))
			return &c->e[i];
	return NULL;
}

/* Add or replace; takes ownership of data. */
static int add(struct irfs_cpio *c, const char *path, mode_t mode, unsigned maj,
	       unsigned min, void *data, size_t len)
{
	struct entry *e;
	const char *p = path;

	while (*p == '/')
		p++;
	if (!*p || strstr(p, "//") || p[strlen(p) - 1] == '/') {
		free(data);
		return -EINVAL;
	}
	/* parents first: every path in the archive has its directory */
	for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		char parent[4096];
		if ((size_t)(s - p) >= sizeof(parent)) {
			free(data);
			return -ENAMETOOLONG;
		}
		memcpy(parent, p, (size_t)(s - p));
		parent[s - p] = 0;
		if (!find(c, parent)) {
			int rc = add(c, parent, S_IFDIR | 0755, 0, 0, NULL, 0);
			if (rc < 0) {
				free(data);
				return rc;
			}
		}
	}
	e = find(c, p);
	if (e) {
		free(e->data);
	} else {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			struct entry *ne = realloc(c->e, cap * sizeof(*ne));
			if (!ne) {
				free(data);
				return -ENOMEM;
			}
			c->e = ne;
			c->cap = cap;
		}
		e = &c->e[c->n];
		memset(e, 0, sizeof(*e));
		e->path = strdup(p);
		if (!e->path) {
			free(data);
			return -ENOMEM;
		}
		c->n++;
	}
	e->mode = mode;
	e->rmajor = maj;
	e->rminor = min;
	e->data = data;
	e->len = len;
	return 0;
}

int irfs_cpio_add_dir(struct irfs_cpio *c, const char *path, mode_t mode)
{
	return add(c, path, S_IFDIR | (mode & 07777), 0, 0, NULL, 0);
}

int irfs_cpio_add_data(struct irfs_cpio *c, const char *path, mode_t mode, void *data,
		     size_t len)
{
	return add(c, path, S_IFREG | (mode & 07777), 0, 0, data, len);
}

int irfs_cpio_add_node(struct irfs_cpio *c, const char *path, mode_t mode, unsigned major,
		     unsigned minor)
{
	return add(c, path, mode, major, minor, NULL, 0);
}

int irfs_cpio_add_symlink(struct irfs_cpio *c, const char *path, const char *target)
{
	char *t = strdup(target);

	if (!t)
		return -ENOMEM;
	return add(c, path, S_IFLNK | 0777, 0, 0, t, strlen(target));
}

int irfs_read_file(const char *src, size_t max, void **data, size_t *len, char *err,
		   size_t errlen)
{
	int rc = kmod_read_file(src, max, data, len);

	if (rc < 0)
		snprintf(err, errlen, "%s: %s", src, strerror(-rc));
	return rc;
}

int irfs_cpio_add_file(struct irfs_cpio *c, const char *path, mode_t mode, const char *src,
		     char *err, size_t errlen)
{
	void *data;
	size_t len;
	int rc = irfs_read_file(src, (size_t)1 << 31, &data, &len, err, errlen);

	return rc < 0 ? rc : irfs_cpio_add_data(c, path, mode, data, len);
}

/* ---- output: raw, gzip or zstd ----------------------------------------- */

struct sink {
	int fd;
	enum irfs_cpio_codec codec;
	ZSTD_CCtx *zc;
	z_stream zs;
	unsigned char buf[1 << 16];
	uint64_t raw, out;
	int err;
};

static int put_fd(struct sink *s, const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t w = write(s->fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return s->err = w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
		s->out += (uint64_t)w;
	}
	return 0;
}

/* Feed n bytes (n = 0 with end: flush and finish the stream). */
static int put(struct sink *s, const void *p, size_t n, bool end)
{
	if (s->err)
		return s->err;
	s->raw += n;
	if (s->codec == IRFS_CPIO_NONE)
		return n ? put_fd(s, p, n) : 0;
	if (s->codec == IRFS_CPIO_ZSTD) {
		ZSTD_inBuffer in = { p, n, 0 };
		size_t left;
		do {
			ZSTD_outBuffer o = { s->buf, sizeof(s->buf), 0 };
			left = ZSTD_compressStream2(s->zc, &o, &in, end ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left))
				return s->err = -EIO;
			if (o.pos && put_fd(s, s->buf, o.pos) < 0)
				return s->err;
		} while (end ? left != 0 : in.pos < in.size);
		return 0;
	}
	s->zs.next_in = (Bytef *)p;
	s->zs.avail_in = (uInt)n;
	for (;;) {
		int zr;
		s->zs.next_out = s->buf;
		s->zs.avail_out = sizeof(s->buf);
		zr = deflate(&s->zs, end ? Z_FINISH : Z_NO_FLUSH);
		if (zr == Z_STREAM_ERROR)
			return s->err = -EIO;
		if (sizeof(s->buf) - s->zs.avail_out &&
		    put_fd(s, s->buf, sizeof(s->buf) - s->zs.avail_out) < 0)
			return s->err;
		if (end ? zr == Z_STREAM_END : s->zs.avail_in == 0)
			return 0;
	}
}

static int put_header(struct sink *s, uint32_t ino, const struct entry *e, uint32_t mtime,
		      const char *name, size_t filesize)
{
	char h[111];
	size_t namesize = strlen(name) + 1;
	static const char zeros[4];

	snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 ino, e ? (unsigned)e->mode : 0u, 0u, 0u,
		 e ? (S_ISDIR(e->mode) ? 2u : 1u) : 1u, e ? mtime : 0u, (unsigned)filesize,
		 0u, 0u, e ? e->rmajor : 0u, e ? e->rminor : 0u, (unsigned)namesize, 0u);
	put(s, h, 110, false);
	put(s, name, namesize, false);
	put(s, zeros, (4 - (110 + namesize) % 4) % 4, false);
	return s->err;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

int irfs_cpio_write(struct irfs_cpio *c, int fd, enum irfs_cpio_codec codec, uint32_t mtime,
		  uint64_t *raw_bytes, uint64_t *out_bytes, char *err, size_t errlen)
{
	static const char zeros[4];
	struct sink *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->codec = codec;
	if (codec == IRFS_CPIO_ZSTD) {
		s->zc = ZSTD_createCCtx();
		if (!s->zc || ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_windowLog, ZSTD_WINDOWLOG)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1)))
			rc = -ENOMEM;
	} else if (codec == IRFS_CPIO_GZIP) {
		/* windowBits 16+15: a gzip wrapper, mtime 0, no name */
		if (deflateInit2(&s->zs, GZIP_LEVEL, Z_DEFLATED, 16 + MAX_WBITS, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			rc = -ENOMEM;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot set up the compressor");
		ZSTD_freeCCtx(s->zc);
		free(s);
		return rc;
	}
	qsort(c->e, c->n, sizeof(*c->e), cmp_entry);
	for (size_t i = 0; i < c->n && !s->err; i++) {
		const struct entry *e = &c->e[i];
		size_t size = S_ISREG(e->mode) || S_ISLNK(e->mode) ? e->len : 0;

		put_header(s, (uint32_t)(i + 1), e, mtime, e->path, size);
		if (size) {
			put(s, e->data, size, false);
			put(s, zeros, (4 - size % 4) % 4, false);
		}
	}
	put_header(s, 0, NULL, 0, "TRAILER!!!", 0);
	/* pad the archive to 512 bytes, as cpio(1) does */
	while (!s->err && s->raw % 512) {
		size_t n = 512 - s->raw % 512;
		static const char pad[512];
		put(s, pad, n, false);
	}
	put(s, NULL, 0, true);
	rc = s->err;
	if (rc < 0)
		snprintf(err, errlen, "writing the archive: %s", strerror(-rc));
	*raw_bytes = s->raw;
	*out_bytes = s->out;
	if (codec == IRFS_CPIO_GZIP)
		deflateEnd(&s->zs);
	ZSTD_freeCCtx(s->zc);
	free(s);
	return rc;
}
