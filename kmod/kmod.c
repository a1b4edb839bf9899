/* kmod.c - modules.dep, module names and compressed modules: the part of
 * modprobe that both the agent and mkinitramfs need (API in kmod.h).
 */
#include "kmod.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#ifdef SALVAGE_HAVE_LZMA
#include <lzma.h>
#endif

int kmod_read_file(const char *path, size_t max, void **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if ((uint64_t)st.st_size > max)
		rc = -EFBIG;
	if (rc < 0) {
		close(fd);
		return rc;
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
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			free(buf);
			close(fd);
			return rc;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = 0;
	*data = buf;
	*len = got;
	return 0;
}

/* kmod_name of the n bytes at path, which need not end in a NUL. */
static void name_n(const char *path, size_t n, char *out, size_t len)
{
	const char *end = path + n, *b = end;
	size_t i = 0;

	while (b > path && b[-1] != '/')
		b--;
	for (; b < end && i + 1 < len; b++) {
		if (end - b >= 3 && !memcmp(b, ".ko", 3) && (b + 3 == end || b[3] == '.'))
			break;
		out[i++] = *b == '-' ? '_' : *b;
	}
	out[i] = 0;
}

void kmod_name(const char *path, char *out, size_t len)
{
	name_n(path, strlen(path), out, len);
}

bool kmod_builtin_has(const char *text, const char *name)
{
	const char *p = text;

	while (p && *p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char nm[KMOD_NAME_MAX];

		if (n) {
			name_n(p, n, nm, sizeof(nm));
			if (!strcmp(nm, name))
				return true;
		}
		p = e ? e + 1 : NULL;
	}
	return false;
}

void kmod_table_free(struct kmod_table *t)
{
	free(t->e);
	free(t->text);
	free(t->sd);
	free(t->sd_text);
	memset(t, 0, sizeof(*t));
}

int kmod_table_load(struct kmod_table *t, const char *dir)
{
	char path[PATH_MAX + 16];
	size_t len, cap = 0;
	void *data;
	int rc;

	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), "%s/modules.dep", dir);
	rc = kmod_read_file(path, KMOD_DEP_MAX_BYTES, &data, &len);
	if (rc < 0)
		return rc;
	t->text = data;
	for (char *line = t->text, *next; line && *line; line = next) {
		struct kmod_entry *m;
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		if (t->n == cap) {
			cap = cap ? cap * 2 : 1024;
			m = realloc(t->e, cap * sizeof(*m));
			if (!m) {
				kmod_table_free(t);
				return -ENOMEM;
			}
			t->e = m;
		}
		m = &t->e[t->n++];
		kmod_name(line, m->name, sizeof(m->name));
		m->path = line;
		m->deps = colon + 1;
		m->seen = false;
	}
	return 0;
}

struct kmod_entry *kmod_table_find(struct kmod_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].name, name))
			return &t->e[i];
	return NULL;
}

static bool is_sep(char c)
{
	return c == ' ' || c == '\t';
}

static int walk(struct kmod_table *t, struct kmod_entry *e, int depth, kmod_visit_fn *visit,
		void *ctx)
{
	const char *end;
	int rc = 0;

	if (e->seen)
		return 0;
	if (depth > KMOD_MAX_DEPTH)
		return -ELOOP;
	e->seen = true;
	/* modules.dep lists a module's dependencies so that the last loads first;
	 * read the list backwards in place, so that no copy can fail */
	end = e->deps + strlen(e->deps);
	for (;;) {
		const char *s;
		char name[KMOD_NAME_MAX];
		struct kmod_entry *d;

		while (end > e->deps && is_sep(end[-1]))
			end--;
		if (end == e->deps)
			break;
		for (s = end; s > e->deps && !is_sep(s[-1]); s--)
			;
		name_n(s, (size_t)(end - s), name, sizeof(name));
		d = kmod_table_find(t, name);
		if (d) {
			int r = walk(t, d, depth + 1, visit, ctx);
			if (r < 0 && rc == 0)
				rc = r;
		}
		end = s;
	}
	if (visit) {
		int r = visit(e, ctx);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

int kmod_table_walk(struct kmod_table *t, struct kmod_entry *e, kmod_visit_fn *visit,
		    void *ctx)
{
	return walk(t, e, 0, visit, ctx);
}

/* ---- soft dependencies and aliases ---- */

/* The next word of *p (NUL-terminated, blanks between words), or NULL. */
static const char *next_word(const char **p, size_t *len)
{
	const char *s = *p;

	while (*s && isspace((unsigned char)*s))
		s++;
	if (!*s)
		return NULL;
	*len = 0;
	while (s[*len] && !isspace((unsigned char)s[*len]))
		(*len)++;
	*p = s + *len;
	return s;
}

/* DIR/NAME read whole into *data, or *data NULL when there is no such file
 * (depmod may not write it); 0 or a negative errno. */
static int read_optional(const char *dir, const char *name, void **data)
{
	char path[PATH_MAX + 32];
	size_t len;
	int rc;

	*data = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = kmod_read_file(path, KMOD_DEP_MAX_BYTES, data, &len);
	return rc == -ENOENT ? 0 : rc;
}

int kmod_table_load_softdep(struct kmod_table *t, const char *dir)
{
	size_t cap = 0;
	void *data;
	int rc = read_optional(dir, "modules.softdep", &data);

	if (rc < 0 || !data)
		return rc;
	free(t->sd);
	free(t->sd_text);
	t->sd = NULL;
	t->nsd = 0;
	t->sd_text = data;
	for (char *line = t->sd_text, *next; line && *line; line = next) {
		const char *p = line, *w;
		size_t wl;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		w = next_word(&p, &wl);
		if (!w || wl != 7 || memcmp(w, "softdep", 7))
			continue;   /* comments, blank lines */
		w = next_word(&p, &wl);
		if (!w)
			continue;
		if (t->nsd == cap) {
			struct kmod_softdep *n;
			cap = cap ? cap * 2 : 64;
			n = realloc(t->sd, cap * sizeof(*n));
			if (!n) {
				free(t->sd);
				free(t->sd_text);
				t->sd = NULL;
				t->sd_text = NULL;
				t->nsd = 0;
				return -ENOMEM;
			}
			t->sd = n;
		}
		name_n(w, wl, t->sd[t->nsd].name, sizeof(t->sd[t->nsd].name));
		t->sd[t->nsd++].rest = p;
	}
	return 0;
}

int kmod_softdep_each(const struct kmod_table *t, const struct kmod_entry *e, bool post,
		      kmod_name_fn *fn, void *ctx)
{
	for (size_t i = 0; i < t->nsd; i++) {
		const char *p = t->sd[i].rest, *w;
		size_t wl;
		int mode = 0;   /* 0 before pre:/post:, 1 pre, 2 post */

		if (strcmp(t->sd[i].name, e->name))
			continue;
		while ((w = next_word(&p, &wl))) {
			char name[KMOD_NAME_MAX];
			int rc;

			if (wl == 4 && !memcmp(w, "pre:", 4)) {
				mode = 1;
			} else if (wl == 5 && !memcmp(w, "post:", 5)) {
				mode = 2;
			} else if (mode == (post ? 2 : 1) && wl < sizeof(name)) {
				memcpy(name, w, wl);
				name[wl] = 0;
				rc = fn(name, ctx);
				if (rc < 0)
					return rc;
			}
		}
	}
	return 0;
}

int kmod_aliases_load(struct kmod_aliases *a, const char *dir)
{
	void *data;
	int rc = read_optional(dir, "modules.alias", &data);

	a->text = NULL;
	a->len = 0;
	if (rc < 0 || !data)
		return rc;
	/* lines split once here, not at every lookup */
	a->text = data;
	a->len = strlen(a->text);
	for (char *nl = a->text; (nl = strchr(nl, '\n'));)
		*nl++ = 0;
	return 0;
}

void kmod_aliases_free(struct kmod_aliases *a)
{
	free(a->text);
	a->text = NULL;
	a->len = 0;
}

int kmod_aliases_each(const struct kmod_aliases *a, const char *name, kmod_name_fn *fn,
		      void *ctx)
{
	for (const char *line = a->text; line && line < a->text + a->len;
	     line += strlen(line) + 1) {
		const char *p = line, *w, *pat, *mod;
		size_t wl, patl, modl;
		char pbuf[256], mbuf[KMOD_NAME_MAX];

		w = next_word(&p, &wl);
		if (!w || wl != 5 || memcmp(w, "alias", 5))
			continue;
		pat = next_word(&p, &patl);
		mod = pat ? next_word(&p, &modl) : NULL;
		if (!mod || patl >= sizeof(pbuf) || modl >= sizeof(mbuf))
			continue;
		memcpy(pbuf, pat, patl);
		pbuf[patl] = 0;
		memcpy(mbuf, mod, modl);
		mbuf[modl] = 0;
		if (fnmatch(pbuf, name, 0) == 0) {
			int rc = fn(mbuf, ctx);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* ---- decompression ---- */

/* The output buffer: doubled when full, never beyond KMOD_MAX_BYTES. */
struct out {
	unsigned char *buf;
	size_t cap, got;
};

static bool room(struct out *o)
{
	unsigned char *nb;

	if (o->got < o->cap)
		return true;
	nb = o->cap * 2 > KMOD_MAX_BYTES ? NULL : realloc(o->buf, o->cap * 2);
	if (!nb)
		return false;
	o->buf = nb;
	o->cap *= 2;
	return true;
}

static int unzstd(struct out *o, const void *in, size_t inlen)
{
	ZSTD_DStream *z = ZSTD_createDStream();
	ZSTD_inBuffer i = { in, inlen, 0 };
	size_t r = 1;
	int rc;

	while (z && r && room(o)) {
		ZSTD_outBuffer ob = { o->buf, o->cap, o->got };

		r = ZSTD_decompressStream(z, &ob, &i);
		o->got = ob.pos;
		/* an error, or input used up with room left: cut short */
		if (ZSTD_isError(r) || (r && i.pos == i.size && ob.pos < ob.size))
			break;
	}
	rc = z && r == 0 ? 0 : -EBADMSG;
	ZSTD_freeDStream(z);
	return rc;
}

static int ungzip(struct out *o, const void *in, size_t inlen)
{
	z_stream z = { 0 };
	int zr = Z_OK;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -EBADMSG;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;   /* inlen <= KMOD_MAX_BYTES */
	while (zr == Z_OK && room(o)) {
		z.next_out = o->buf + o->got;
		z.avail_out = (uInt)(o->cap - o->got);
		zr = inflate(&z, Z_NO_FLUSH);
		o->got = o->cap - z.avail_out;
	}
	inflateEnd(&z);
	return zr == Z_STREAM_END ? 0 : -EBADMSG;
}

#ifdef SALVAGE_HAVE_LZMA
static int unxz(struct out *o, const void *in, size_t inlen)
{
	lzma_stream z = LZMA_STREAM_INIT;
	lzma_ret lr = LZMA_OK;

	if (lzma_stream_decoder(&z, KMOD_MAX_BYTES, 0) != LZMA_OK)
		return -EBADMSG;
	z.next_in = in;
	z.avail_in = inlen;
	while (lr == LZMA_OK && room(o)) {
		z.next_out = o->buf + o->got;
		z.avail_out = o->cap - o->got;
		lr = lzma_code(&z, LZMA_FINISH);
		o->got = o->cap - z.avail_out;
	}
	lzma_end(&z);
	return lr == LZMA_STREAM_END ? 0 : -EBADMSG;
}
#endif

/* Tried in this order; a codec left out of the build has no decoder. */
static const struct codec {
	const char *suffix;
	int (*decode)(struct out *o, const void *in, size_t inlen);
} codecs[] = {
	{ ".ko.zst", unzstd },
	{ ".ko.gz", ungzip },
#ifdef SALVAGE_HAVE_LZMA
	{ ".ko.xz", unxz },
#else
	{ ".ko.xz", NULL },
#endif
};

static const struct codec *codec_of(const char *path)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (strstr(path, codecs[i].suffix))
			return &codecs[i];
	return NULL;
}

bool kmod_is_compressed(const char *path)
{
	return strstr(path, ".ko.") != NULL;
}

bool kmod_can_unpack(const char *path)
{
	const struct codec *c = codec_of(path);

	return c && c->decode;
}

int kmod_unpack(const char *path, const void *in, size_t inlen, void **out,
		size_t *outlen)
{
	const struct codec *c = codec_of(path);
	struct out o = { NULL, inlen * 4 + 65536, 0 };
	int rc;

	if (!c || !c->decode)
		return -ENOTSUP;
	o.buf = malloc(o.cap);
	if (!o.buf)
		return -ENOMEM;
	rc = c->decode(&o, in, inlen);
	if (rc < 0) {
		free(o.buf);
		return rc;
	}
	*out = o.buf;
	*outlen = o.got;
	return 0;
}
