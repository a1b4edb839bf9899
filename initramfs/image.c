/* image.c - the parts of an image beyond the archive: the static programs,
 * the module lists, /etc/salvage.conf, the output file, and reading a file
 * back out of a written image (API in initramfs.h).
 */
#include "initramfs.h"
#include "../kmod/kmod.h"
#include "../config/config.h"
#include "../config/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IMAGE_MAX ((size_t)1 << 30)   /* an image read back, packed or not */

int irfs_add_static(struct irfs_cpio *c, const char *path, const char *src, const char *what,
		    char *err, size_t errlen)
{
	void *data;
	size_t len;
	int rc = irfs_read_file(src, (size_t)256 << 20, &data, &len, err, errlen);

	if (rc < 0)
		return rc;
	rc = irfs_elf_is_dynamic(data, len);
	if (rc != 0) {
		free(data);
		snprintf(err, errlen, "%s: %s %s (the image has no C library)", src, what,
			 rc > 0 ? "is dynamically linked" : "is not an x86_64 ELF program");
		return -ENOEXEC;
	}
	if (irfs_cpio_add_data(c, path, 0755, data, len) < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	return 0;
}

int irfs_want_list(struct irfs_modtree *t, const char *list, bool required,
		   struct strbuf *builtin, struct strbuf *absent, char *err, size_t errlen)
{
	char *copy = strdup(list), *p, *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (p = strtok_r(copy, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
		int r = irfs_modtree_want(t, p);

		if (r == 1) {
			strbuf_printf(builtin, "%s%s", builtin->len ? " " : "", p);
		} else if (r < 0 && required) {
			if (rc == 0)
				snprintf(err, errlen, "module %s: not in %s/modules.dep and not "
					 "built in", p, irfs_modtree_dir(t));
			rc = r;
		} else if (r < 0) {
			strbuf_printf(absent, "%s%s", absent->len ? " " : "", p);
		}
	}
	free(copy);
	return rc;
}

int irfs_storage_list(const char *list, const char *fs, struct strbuf *out)
{
	char *copy = strdup(list), *fsl = NULL, *p, *save = NULL;

	if (!copy || asprintf(&fsl, ",%s,", fs) < 0) {
		free(copy);
		return -ENOMEM;
	}
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char *pat = NULL;

		if (asprintf(&pat, ",%s,", p) < 0) {
			out->failed = true;
			break;
		}
		if (!strstr(fsl, pat))
			strbuf_printf(out, "%s%s", out->len ? "," : "", p);
		free(pat);
	}
	if (!out->s)
		strbuf_add(out, "", 0);
	free(copy);
	free(fsl);
	return out->failed ? -ENOMEM : 0;
}

int irfs_config_text(const struct cfg *c, const bool *write, struct strbuf *out)
{
	const struct cfg_key *keys;
	size_t n;
	char v[CFG_LINE_MAX + 1], q[CFG_LINE_MAX + 3];

	keys = cfg_keys(&n);
	strbuf_puts(out, "# salvage-capture configuration, written by salvage mkinitramfs.\n"
			 "# Override any key on the crash kernel's command line: "
			 "salvage.KEY=VALUE\n");
	for (size_t i = 0; i < n; i++) {
		if (!write[i])
			continue;
		cfg_value(c, &keys[i], v, sizeof(v));
		if (cfg_quote(v, q, sizeof(q)) < 0)
			return -EINVAL;   /* cfg_set refuses what no line can carry */
		strbuf_printf(out, "%s=%s\n", keys[i].name, q);
	}
	return out->failed ? -ENOMEM : 0;
}

int irfs_write_image(struct irfs_cpio *c, const char *out, enum irfs_cpio_codec codec,
		     uint32_t mtime, uint64_t *raw, uint64_t *size, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
	struct stat st;
	int fd, rc;

	/* only a regular file is replaced: never a device, a fifo, a
	 * directory, nor what a symlink points to */
	if (lstat(out, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a regular file", out);
		return -EEXIST;
	}
	if (strlen(out) >= sizeof(dir)) {
		snprintf(err, errlen, "%s: %s", out, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", out);
	snprintf(base, sizeof(base), "%s", out);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dir),
			     basename(base)) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: %s", out, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	/* created exclusively (O_EXCL): a name planted there is not followed */
	fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return rc;
	}
	err[0] = 0;
	rc = irfs_cpio_write(c, fd, codec, mtime, raw, size, err, errlen);
	if (rc == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	/* once more, just before the rename: whatever appeared meanwhile */
	if (rc == 0 && lstat(out, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a regular file", out);
		rc = -EEXIST;
	} else if (rc == 0 && rename(tmp, out) < 0) {
		rc = -errno;
	}
	if (rc < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: %s", out, strerror(-rc));
		unlink(tmp);
	}
	return rc;
}

/* ---- reading an image back ---------------------------------------------- */

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
	unsigned char *nb;
	size_t nc = *cap ? *cap : 1 << 20;

	if (need > IMAGE_MAX)
		return -EFBIG;
	while (nc < need)
		nc *= 2;
	if (nc > IMAGE_MAX)
		nc = IMAGE_MAX;
	if (nc == *cap)
		return 0;
	nb = realloc(*buf, nc);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = nc;
	return 0;
}

static int unzstd(const unsigned char *in, size_t len, unsigned char **out, size_t *outlen)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, len, 0 };
	unsigned char *buf = NULL;
	size_t cap = 0, got = 0, r;
	int rc = ds ? 0 : -ENOMEM;

	while (rc == 0) {
		ZSTD_outBuffer ob;

		if (got == cap && (rc = grow(&buf, &cap, cap + 1)) < 0)
			break;
		ob = (ZSTD_outBuffer){ buf + got, cap - got, 0 };
		r = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(r)) {
			rc = -EBADMSG;
			break;
		}
		got += ob.pos;
		if (r == 0 && ib.pos == ib.size)
			break;
		if (ib.pos == ib.size && ob.pos < ob.size)
			rc = -EBADMSG;   /* cut short */
	}
	ZSTD_freeDStream(ds);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = got;
	return 0;
}

static int ungzip(const unsigned char *in, size_t len, unsigned char **out, size_t *outlen)
{
	z_stream zs = { 0 };
	unsigned char *buf = NULL;
	size_t cap = 0;
	int rc = 0, zr = Z_OK;

	if (len > UINT_MAX || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (unsigned)len;
	while (zr != Z_STREAM_END) {
		if (zs.total_out == cap && (rc = grow(&buf, &cap, cap + 1)) < 0)
			break;
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (unsigned)(cap - zs.total_out > UINT_MAX ? UINT_MAX
								: cap - zs.total_out);
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			rc = -EBADMSG;
			break;
		}
		if (zr == Z_OK && !zs.avail_in && zs.avail_out) {
			rc = -EBADMSG;   /* cut short */
			break;
		}
	}
	*outlen = zs.total_out;
	inflateEnd(&zs);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

static int hex8(const unsigned char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 8; i++) {
		unsigned char ch = p[i];
		unsigned d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
			   : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : 16;
		if (d > 15)
			return -EBADMSG;
		*v = *v << 4 | d;
	}
	return 0;
}

/* Find name in a newc archive: 0 with the bytes (pointing into a), -ENOENT. */
static int newc_find(const unsigned char *a, size_t len, const char *name,
		     const unsigned char **data, size_t *dlen)
{
	size_t pos = 0;

	while (len - pos >= 110) {
		const unsigned char *h = a + pos;
		uint32_t namesize, filesize;
		const char *n;
		size_t npos, dpos;

		if (memcmp(h, "070701", 6) || hex8(h + 94, &namesize) < 0 ||
		    hex8(h + 54, &filesize) < 0)
			return -EBADMSG;
		npos = pos + 110;
		if (namesize == 0 || namesize > len - npos || a[npos + namesize - 1])
			return -EBADMSG;
		n = (const char *)a + npos;
		dpos = (npos + namesize + 3) & ~(size_t)3;
		if (dpos > len || filesize > len - dpos)
			return -EBADMSG;
		if (!strcmp(n, "TRAILER!!!"))
			return -ENOENT;
		while (*n == '/' || (n[0] == '.' && n[1] == '/'))
			n += *n == '/' ? 1 : 2;
		if (!strcmp(n, name)) {
			*data = a + dpos;
			*dlen = filesize;
			return 0;
		}
		pos = (dpos + filesize + 3) & ~(size_t)3;
		if (pos > len)
			return -EBADMSG;
	}
	return -ENOENT;
}

int irfs_image_read(const char *image, const char *name, char **data, size_t *len, char *err,
		    size_t errlen)
{
	void *raw;
	unsigned char *plain = NULL;
	const unsigned char *a, *found;
	size_t rawlen, plen, flen;
	int rc = kmod_read_file(image, IMAGE_MAX, &raw, &rawlen);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", image, strerror(-rc));
		return rc;
	}
	a = raw;
	plen = rawlen;
	if (rawlen >= 4 && !memcmp(raw, "\x28\xb5\x2f\xfd", 4))
		rc = unzstd(raw, rawlen, &plain, &plen);
	else if (rawlen >= 2 && !memcmp(raw, "\x1f\x8b", 2))
		rc = ungzip(raw, rawlen, &plain, &plen);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot decompress: %s", image,
			 rc == -EBADMSG ? "corrupt or cut short" : strerror(-rc));
		free(raw);
		return rc;
	}
	if (plain)
		a = plain;
	rc = newc_find(a, plen, name, &found, &flen);
	if (rc == 0) {
		char *copy = malloc(flen + 1);
		if (!copy) {
			rc = -ENOMEM;
		} else {
			memcpy(copy, found, flen);
			copy[flen] = 0;
			*data = copy;
			*len = flen;
		}
	}
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", image, rc == -ENOENT ? "no such file in the image"
			 : rc == -EBADMSG ? "not a newc cpio archive (or a corrupt one)"
			 : strerror(-rc));
	free(raw);
	free(plain);
	return rc;
}
