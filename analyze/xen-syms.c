/* xen-syms.c - symbols of a xen-syms file (ELF64 symbol table only).
 *
 * Debian's xen-hypervisor-*-dbg ships xen-syms with a symbol table and no
 * DWARF; that is all salvage needs (console ring, crashing CPU, PDX
 * compression).  The file is read whole (a few MiB) and its section and
 * symbol tables are bounds-checked before use.  Checked against the dump by
 * its GNU build id, which Xen's image also carries in memory.
 */
#include "xsyms.h"
#include "../common/le.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHT_SYMTAB 2
#define SHT_NOTE 7
#define SHDR 64
#define SYM 24

struct az_xsyms {
	uint8_t *buf;
	size_t len;
	const uint8_t *sym, *str;   /* inside buf */
	size_t nsym, strlen_;
	uint8_t build_id[64];
	size_t build_id_len;
	uint64_t build_id_va;       /* where the note's descriptor sits in memory */
};

static bool in_file(const struct az_xsyms *s, uint64_t off, uint64_t len)
{
	return off <= s->len && len <= s->len - off;
}

/* A GNU build-id note in section data [off, off+len) at address va. */
static void find_build_id(struct az_xsyms *s, uint64_t off, uint64_t len, uint64_t va)
{
	uint64_t p = 0;

	while (p + 12 <= len) {
		uint64_t nsz = le_get32(s->buf + off + p), dsz = le_get32(s->buf + off + p + 4);
		uint64_t type = le_get32(s->buf + off + p + 8);
		uint64_t desc = p + 12 + ((nsz + 3) & ~3ULL);
		if (desc > len || dsz > len - desc)
			return;
		if (type == 3 && nsz == 4 && memcmp(s->buf + off + p + 12, "GNU", 4) == 0 &&
		    dsz <= sizeof(s->build_id)) {
			memcpy(s->build_id, s->buf + off + desc, (size_t)dsz);
			s->build_id_len = (size_t)dsz;
			s->build_id_va = va + desc;
			return;
		}
		p = desc + ((dsz + 3) & ~3ULL);
	}
}

int az_xsyms_load(const char *path, struct az_xsyms **out, char *err, size_t errlen)
{
	struct az_xsyms *s = calloc(1, sizeof(*s));
	FILE *f = fopen(path, "rb");
	long sz;

	if (!s || !f) {
		snprintf(err, errlen, "%s: %s", path, strerror(s ? errno : ENOMEM));
		goto fail;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    sz > (256L << 20)) {
		snprintf(err, errlen, "%s: cannot size the file (or larger than 256 MiB)", path);
		goto fail;
	}
	s->len = (size_t)sz;
	s->buf = malloc(s->len ? s->len : 1);
	if (!s->buf || fread(s->buf, 1, s->len, f) != s->len) {
		snprintf(err, errlen, "%s: cannot read it", path);
		goto fail;
	}
	fclose(f);
	f = NULL;
	if (s->len < 64 || memcmp(s->buf, "\177ELF", 4) != 0 || s->buf[4] != 2 || s->buf[5] != 1) {
		snprintf(err, errlen, "%s: not a little-endian ELF64 file", path);
		goto fail;
	}
	uint64_t shoff = le_get64(s->buf + 40), shentsize = le_get16(s->buf + 58), shnum = le_get16(s->buf + 60);
	if (shentsize != SHDR || !in_file(s, shoff, shnum * SHDR)) {
		snprintf(err, errlen, "%s: section headers out of bounds", path);
		goto fail;
	}
	for (uint64_t i = 0; i < shnum; i++) {
		const uint8_t *sh = s->buf + shoff + i * SHDR;
		uint64_t type = le_get32(sh + 4), addr = le_get64(sh + 16), off = le_get64(sh + 24);
		uint64_t size = le_get64(sh + 32), link = le_get32(sh + 40);
		if (type == SHT_NOTE && in_file(s, off, size))
			find_build_id(s, off, size, addr);
		if (type != SHT_SYMTAB || s->sym)
			continue;
		if (!in_file(s, off, size) || link >= shnum) {
			snprintf(err, errlen, "%s: symbol table out of bounds", path);
			goto fail;
		}
		const uint8_t *st = s->buf + shoff + link * SHDR;
		uint64_t soff = le_get64(st + 24), ssize = le_get64(st + 32);
		if (!in_file(s, soff, ssize)) {
			snprintf(err, errlen, "%s: string table out of bounds", path);
			goto fail;
		}
		s->sym = s->buf + off;
		s->nsym = (size_t)(size / SYM);
		s->str = s->buf + soff;
		s->strlen_ = (size_t)ssize;
	}
	if (!s->sym) {
		snprintf(err, errlen, "%s: no symbol table (stripped?)", path);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (f)
		fclose(f);
	az_xsyms_free(s);
	return -1;
}

void az_xsyms_free(struct az_xsyms *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}

/* name exactly, or a function-static "name.N" (GCC's local numbering) */
bool az_xsyms_find(const struct az_xsyms *s, const char *name, uint64_t *addr)
{
	size_t nl = strlen(name);
	bool found_local = false;
	uint64_t local = 0;

	for (size_t i = 0; s && i < s->nsym; i++) {
		const uint8_t *e = s->sym + i * SYM;
		uint64_t n = le_get32(e);
		if (n >= s->strlen_)
			continue;
		const char *nm = (const char *)s->str + n;
		size_t max = s->strlen_ - (size_t)n;
		if (strnlen(nm, max) == max)
			continue;
		if (strcmp(nm, name) == 0) {
			*addr = le_get64(e + 8);
			return true;
		}
		if (!found_local && strncmp(nm, name, nl) == 0 && nm[nl] == '.' &&
		    nm[nl + 1] >= '0' && nm[nl + 1] <= '9') {
			found_local = true;
			local = le_get64(e + 8);
		}
	}
	if (found_local)
		*addr = local;
	return found_local;
}

const uint8_t *az_xsyms_build_id(const struct az_xsyms *s, size_t *len, uint64_t *va)
{
	if (!s || !s->build_id_len)
		return NULL;
	*len = s->build_id_len;
	*va = s->build_id_va;
	return s->build_id;
}

/* the function holding addr: the highest STT_FUNC/STT_NOTYPE symbol at or
 * below it (section symbols and files left out); its size from st_size,
 * else the distance to the next symbol */
bool az_xsyms_lookup(const struct az_xsyms *s, uint64_t addr, const char **name, uint64_t *off,
		     uint64_t *size)
{
	const uint8_t *best = NULL;
	uint64_t bv = 0, next = ~0ULL;

	for (size_t i = 0; s && i < s->nsym; i++) {
		const uint8_t *e = s->sym + i * SYM;
		uint64_t v = le_get64(e + 8), n = le_get32(e);
		unsigned type = e[4] & 0xf;
		if ((type != 0 && type != 2) || n == 0 || n >= s->strlen_ || !le_get16(e + 6))
			continue;
		if (strnlen((const char *)s->str + n, s->strlen_ - (size_t)n) == s->strlen_ - (size_t)n)
			continue;
		if (v > addr && v < next)
			next = v;
		if (v <= addr && (!best || v > bv || (v == bv && type == 2))) {
			best = e;
			bv = v;
		}
	}
	if (!best)
		return false;
	uint64_t sz = le_get64(best + 16);
	if (!sz || bv + sz <= addr)
		sz = next != ~0ULL ? next - bv : 0;
	if (!sz || addr - bv >= sz)
		return false;
	*name = (const char *)s->str + le_get32(best);
	*off = addr - bv;
	*size = sz;
	return true;
}
