/* xen-symtab.c - Xen's own symbol table, found in the hypervisor image in
 * the dump (docs/formats.md §4.11), for `salvage xen bt` without xen-syms.
 *
 * Nothing says where the tables are (VMCOREINFO_XEN does not name them), so
 * they are recognised by their shape and each part is checked against the
 * next: symbols_token_index (256 increasing u16, the first 0) indexes
 * symbols_token_table just before it (256 NUL-terminated tokens ending at
 * those offsets); symbols_markers before that (0, then the names offset of
 * every 256th symbol); symbols_names before that (a length byte and that
 * many token numbers per symbol), whose walk from just after
 * symbols_num_syms must land on the markers; symbols_offsets (u32 from
 * XEN_VIRT_START, sorted) just before symbols_num_syms. */
#include "xenbt.h"
#include "../xen-notes/xnote.h"
#include "../common/le.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE_SPAN (16ULL << 20)     /* Xen's image (text at +2 MiB) from XEN_VIRT_START */
#define MAX_MARKERS 4096             /* a million symbols */
#define NAMES_MAX (8u << 20)
#define PAGE 4096

struct az_xen_symtab {
	uint64_t *addr;          /* sorted */
	uint32_t *name;          /* offsets into names */
	char *names;
	size_t n;
	uint64_t stext, etext;
};

struct img {
	uint8_t *b;
	size_t len;
};

static bool token_index_at(const struct img *m, size_t o, uint16_t idx[256])
{
	if (o + 512 > m->len || le_get16(m->b + o) != 0)
		return false;
	for (int i = 0; i < 256; i++) {
		idx[i] = le_get16(m->b + o + 2 * i);
		if (i && idx[i] < idx[i - 1] + 2)
			return false;
	}
	return idx[255] < 8192;
}

/* The token table ending just before the index at o (up to 8 bytes of
 * padding): every token non-empty and NUL-terminated at the next offset. */
static bool token_table_at(const struct img *m, size_t o, const uint16_t idx[256], size_t *t)
{
	for (size_t pad = 0; pad < 8; pad++) {
		size_t end = o - pad, last;
		if (end < (size_t)idx[255] + 2)
			return false;
		/* the last token runs to the NUL just before end */
		if (m->b[end - 1] != 0)
			continue;
		last = end - 1;
		while (last > 0 && m->b[last - 1] != 0 && end - last < 64)
			last--;
		if (last < idx[255])
			continue;
		size_t base = last - idx[255];
		bool ok = m->b[base] != 0;
		for (int i = 0; ok && i < 255; i++)
			ok = m->b[base + idx[i + 1] - 1] == 0 && m->b[base + idx[i]] != 0 &&
			     !memchr(m->b + base + idx[i], 0, idx[i + 1] - 1 - idx[i]);
		if (ok) {
			*t = base;
			return true;
		}
	}
	return false;
}

/* symbols_names from start: n entries ending within 8 bytes of end, with
 * the markers (nm of them at mk) at every 256th entry. */
static bool names_walk(const struct img *m, size_t start, size_t n, size_t end, size_t mk, size_t nm)
{
	size_t p = start;
	for (size_t k = 0; k < n; k++) {
		if (k % 256 == 0 && le_get32(m->b + mk + 4 * (k / 256)) != p - start)
			return false;
		if (p >= end || m->b[p] == 0)
			return false;
		p += 1 + (size_t)m->b[p];
	}
	return p <= end && end - p < 8 && (n + 255) / 256 == nm;
}

static int build(struct az_xen_symtab *s, const struct img *m, uint64_t origin, size_t offs,
		 size_t names, size_t n, size_t tt, const uint16_t idx[256])
{
	size_t cap = 0, used = 0, p = names;

	free(s->addr);
	free(s->name);
	free(s->names);
	memset(s, 0, sizeof(*s));
	s->addr = calloc(n, sizeof(*s->addr));
	s->name = calloc(n, sizeof(*s->name));
	if (!s->addr || !s->name)
		return -1;
	for (size_t k = 0; k < n; k++) {
		size_t len = m->b[p++], need = 0;
		char buf[512];
		for (size_t i = 0; i < len; i++) {
			const char *tok = (const char *)m->b + tt + idx[m->b[p + i]];
			size_t tl = strlen(tok);     /* NUL-terminated: checked above */
			if (need + tl >= sizeof(buf))
				tl = sizeof(buf) - 1 - need;
			memcpy(buf + need, tok, tl);
			need += tl;
		}
		p += len;
		buf[need] = 0;
		/* drop the type letter and a "file#" prefix of local symbols */
		const char *nm = need ? buf + 1 : buf, *h = strchr(nm, '#');
		if (h)
			nm = h + 1;
		size_t nl = strlen(nm) + 1;
		if (used + nl > cap) {
			size_t nc = cap ? cap * 2 : 65536;
			char *nb;
			while (nc < used + nl)
				nc *= 2;
			if (nc > NAMES_MAX || !(nb = realloc(s->names, nc)))
				return -1;
			s->names = nb;
			cap = nc;
		}
		memcpy(s->names + used, nm, nl);
		s->name[k] = (uint32_t)used;
		used += nl;
		s->addr[k] = origin + le_get32(m->b + offs + 4 * k);
		if (k && s->addr[k] < s->addr[k - 1])
			return -1;
		if (!strcmp(nm, "_stext"))
			s->stext = s->addr[k];
		if (!strcmp(nm, "_etext"))
			s->etext = s->addr[k];
	}
	s->n = n;
	return 0;
}

/* The whole chain behind a token index at o; 0 when found. */
static int find_at(struct az_xen_symtab *s, const struct img *m, uint64_t origin, size_t o)
{
	uint16_t idx[256];
	size_t tt;

	if (!token_index_at(m, o, idx) || !token_table_at(m, o, idx, &tt))
		return -1;
	for (size_t nm = 1; nm <= MAX_MARKERS; nm++) {
		for (size_t pad = 0; pad < 8; pad += 4) {
			if (tt < pad + 4 * nm + 8)
				return -1;
			size_t mk = tt - pad - 4 * nm;
			if (le_get32(m->b + mk) != 0)
				continue;
			bool inc = true;
			for (size_t k = 1; k < nm && inc; k++)
				inc = le_get32(m->b + mk + 4 * k) >= le_get32(m->b + mk + 4 * (k - 1)) + 512;
			if (!inc)
				continue;
			uint64_t span = le_get32(m->b + mk + 4 * (nm - 1)) + 256ULL * 256;
			if (span > NAMES_MAX)
				continue;
			/* symbols_num_syms: a count that fits the markers, then the names */
			for (size_t p = mk & ~(size_t)3; p >= 4 && mk - p <= span + 8; p -= 4) {
				size_t at = p - 4;
				uint32_t n = le_get32(m->b + at);
				if (n <= 256 * (nm - 1) || n > 256 * nm || at < 4ULL * n)
					continue;
				for (size_t names = at + 4; names <= at + 8; names += 4)
					if (names_walk(m, names, n, mk, mk, nm) &&
					    build(s, m, origin, at - 4ULL * n, names, n, tt, idx) == 0)
						return 0;
			}
		}
	}
	return -1;
}

int az_xen_symtab_load(vmc_dump *top, struct az_xen_symtab **out, char *err, size_t errlen)
{
	struct xnote_xen *x = calloc(1, sizeof(*x));
	struct az_xen_symtab *s = calloc(1, sizeof(*s));
	struct img m = { malloc(IMAGE_SPAN), 0 };
	int rc = -1;

	*out = NULL;
	if (!x || !s || !m.b) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (vmc_xen_hv_init(top, x) != VMC_OK) {
		snprintf(err, errlen, "hypervisor memory: %s", vmc_errmsg(top));
		goto out;
	}
	/* the image a page at a time; what is not in the dump reads as zeros,
	 * which no table matches */
	for (m.len = 0; m.len < IMAGE_SPAN; m.len += PAGE)
		if (xnote_xen_read(x, x->virt_start + m.len, m.b + m.len, PAGE) != XNOTE_OK)
			memset(m.b + m.len, 0, PAGE);
	for (size_t o = 0; o + 512 <= m.len; o += 4) {
		if (le_get16(m.b + o) || le_get16(m.b + o + 2) < 2 || le_get16(m.b + o + 2) > 64)
			continue;
		memset(s, 0, sizeof(*s));
		if (find_at(s, &m, x->virt_start, o) == 0) {
			*out = s;
			s = NULL;
			rc = 0;
			break;
		}
		free(s->addr);
		free(s->name);
		free(s->names);
	}
	if (rc)
		snprintf(err, errlen, "no symbol table found in Xen's image (%zu KiB read)", m.len / 1024);
out:
	if (s)
		memset(s, 0, sizeof(*s));
	az_xen_symtab_free(s);
	free(x);
	free(m.b);
	return rc;
}

void az_xen_symtab_free(struct az_xen_symtab *s)
{
	if (!s)
		return;
	free(s->addr);
	free(s->name);
	free(s->names);
	free(s);
}

size_t az_xen_symtab_count(const struct az_xen_symtab *s)
{
	return s ? s->n : 0;
}

bool az_xen_symtab_text(const struct az_xen_symtab *s, uint64_t *lo, uint64_t *hi)
{
	if (!s || !s->stext || s->etext <= s->stext)
		return false;
	*lo = s->stext;
	*hi = s->etext;
	return true;
}

bool az_xen_symtab_lookup(const struct az_xen_symtab *s, uint64_t a, const char **name,
			  uint64_t *off, uint64_t *size)
{
	size_t lo = 0, hi = s ? s->n : 0;

	while (lo < hi) {               /* the last entry at or below a */
		size_t mid = lo + (hi - lo) / 2;
		if (s->addr[mid] <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	size_t k = lo - 1, next = lo;
	while (next < s->n && s->addr[next] == s->addr[k])
		next++;
	if (next == s->n)
		return false;           /* past the last symbol: no size */
	*name = s->names + s->name[k];
	*off = a - s->addr[k];
	*size = s->addr[next] - s->addr[k];
	return true;
}
