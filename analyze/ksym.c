/* ksym.c - symbol tables: the kernel's own kallsyms read from the dump
 * (no debug package needed), or filled from a vmlinux by dwarf.c.
 *
 * kallsyms layout (kernel/kallsyms.c, scripts/kallsyms.c), as VMCOREINFO
 * exports it since 6.0 (commit 5fd8fea935a1 "vmcoreinfo: include kallsyms
 * symbols"):
 *   kallsyms_num_syms      u32
 *   kallsyms_names         per symbol: a length, then that many token
 *                          indexes; the expanded first byte is the type.
 *                          6.1+ (commit 73bbb94466fd, "big" symbols): a
 *                          length byte with bit 7 set is the low 7 bits and
 *                          the next byte holds the rest (ULEB128, 2 bytes)
 *   kallsyms_token_table   256 NUL-terminated strings
 *   kallsyms_token_index   256 u16 offsets into the token table
 *   kallsyms_offsets       s32 per symbol, with kallsyms_relative_base:
 *                          KALLSYMS_ABSOLUTE_PERCPU (x86_64 SMP up to 6.14):
 *                          >= 0 absolute (per-cpu), < 0: base - 1 - off;
 *                          otherwise base + (u32)off
 *   kallsyms_addresses     u64 per symbol (old !KALLSYMS_BASE_RELATIVE)
 * 6.2 added kallsyms_seqs_of_names (a name-sorted index, commit
 * 60443c88f3a8); we build our own, so it is not needed.  Which offset
 * encoding is in use is told by the data (any negative offset) and checked
 * against VMCOREINFO's SYMBOL(_stext). */
#include "kern.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SYMS (4u << 20)          /* sanity bound: 4 Mi symbols */
#define MAX_NAMES_BYTES (64u << 20)

static int add_name(struct az_syms *s, const char *name, size_t len, uint32_t *off)
{
	if (s->names_len + len + 1 > s->names_cap) {
		size_t nc = s->names_cap ? s->names_cap * 2 : 1 << 16;
		while (nc < s->names_len + len + 1)
			nc *= 2;
		char *nn = realloc(s->names, nc);
		if (!nn)
			return -1;
		s->names = nn;
		s->names_cap = nc;
	}
	memcpy(s->names + s->names_len, name, len);
	s->names[s->names_len + len] = 0;
	*off = (uint32_t)s->names_len;
	s->names_len += len + 1;
	return 0;
}

int az_syms_add(struct az_syms *s, const char *name, uint64_t addr, char type)
{
	if (s->n % 1024 == 0) {
		struct az_sym *nv = realloc(s->v, (s->n + 1024) * sizeof(*nv));
		if (!nv)
			return -1;
		s->v = nv;
	}
	struct az_sym *y = &s->v[s->n];
	if (add_name(s, name, strlen(name), &y->name) < 0)
		return -1;
	y->addr = addr;
	y->type = type;
	s->n++;
	return 0;
}

const char *az_sym_name(const struct az_syms *s, const struct az_sym *y)
{
	return s->names + y->name;
}

static int cmp_addr(const void *a, const void *b)
{
	const struct az_sym *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;   /* table order */
}

static const struct az_syms *sort_ctx;
static int cmp_name(const void *a, const void *b)
{
	const struct az_sym *x = &sort_ctx->v[*(const uint32_t *)a];
	const struct az_sym *y = &sort_ctx->v[*(const uint32_t *)b];
	int c = strcmp(sort_ctx->names + x->name, sort_ctx->names + y->name);
	if (c)
		return c;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

int az_syms_finish(struct az_syms *s)
{
	uint64_t a;

	qsort(s->v, s->n, sizeof(*s->v), cmp_addr);
	free(s->by_name);
	s->by_name = malloc((s->n + 1) * sizeof(*s->by_name));
	if (!s->by_name)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		s->by_name[i] = (uint32_t)i;
	sort_ctx = s;
	qsort(s->by_name, s->n, sizeof(*s->by_name), cmp_name);
	sort_ctx = NULL;
	s->stext = s->etext = 0;
	if (az_syms_addr(s, "_stext", &a) == 0)
		s->stext = a;
	if (az_syms_addr(s, "_etext", &a) == 0)
		s->etext = a;
	return 0;
}

void az_syms_free(struct az_syms *s)
{
	free(s->v);
	free(s->names);
	free(s->by_name);
	memset(s, 0, sizeof(*s));
}

int az_syms_addr(const struct az_syms *s, const char *name, uint64_t *addr)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->names + s->v[s->by_name[mid]].name, name);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && !strcmp(s->names + s->v[s->by_name[lo]].name, name)) {
		*addr = s->v[s->by_name[lo]].addr;
		return 0;
	}
	return -1;
}

bool az_syms_is_text(const struct az_syms *s, uint64_t addr)
{
	uint64_t off;
	const struct az_sym *y;

	if (s->stext && s->etext)
		return addr >= s->stext && addr < s->etext;
	y = az_syms_find(s, addr, &off, NULL);
	return y && (y->type == 't' || y->type == 'T' || y->type == 'w' || y->type == 'W');
}

/* per-cpu and absolute symbols live in another address space */
static bool findable(const struct az_sym *y)
{
	return y->type != 'A' && y->type != 'a' && y->addr >= 0xffff800000000000ull;
}

const struct az_sym *az_syms_find(const struct az_syms *s, uint64_t addr,
				  uint64_t *off, uint64_t *size)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo = first symbol above addr; take the last findable one at or below,
	 * preferring the first of several names at the same address */
	size_t i = lo;
	while (i > 0 && !findable(&s->v[i - 1]))
		i--;
	if (i == 0)
		return NULL;
	size_t at = i - 1;
	while (at > 0 && s->v[at - 1].addr == s->v[at].addr && findable(&s->v[at - 1]))
		at--;
	if (s->v[at].addr < 0xffff800000000000ull)
		return NULL;
	if (off)
		*off = addr - s->v[at].addr;
	if (size) {
		size_t j = lo;
		while (j < s->n && !findable(&s->v[j]))
			j++;
		*size = j < s->n ? s->v[j].addr - s->v[at].addr : 0;
	}
	return &s->v[at];
}

/* ---- kallsyms from the dump ---------------------------------------------- */

static int rd(vmc_dump *d, uint64_t va, void *buf, size_t len, const char *what,
	      char *err, size_t errlen)
{
	int rc = vmc_read_virt(d, va, buf, len);
	if (rc != VMC_OK) {
		snprintf(err, errlen, "kallsyms: cannot read %s at 0x%" PRIx64 ": %s", what, va,
			 vmc_errmsg(d));
		return -1;
	}
	return 0;
}

struct ktables {
	uint64_t names_va, tt_va, ti_va, off_va, base_va, addrs_va, num_va;
};

static int need_sym(vmc_dump *d, const char *name, uint64_t *v, char *err, size_t errlen)
{
	if (!vmc_vmcoreinfo_text(d, NULL)) {
		snprintf(err, errlen, "the dump has no Linux VMCOREINFO note%s", vmc_xen(d) ?
			 " (a Xen hypervisor dump: the Linux analyzer does not apply)" : "");
		return -1;
	}
	if (vmc_vmci_symbol(d, name, v) != VMC_OK) {
		snprintf(err, errlen, "no SYMBOL(%s) in VMCOREINFO (kernel older than 6.0 or "
			 "built without CONFIG_KALLSYMS)", name);
		return -1;
	}
	return 0;
}

int az_ksyms_load(vmc_dump *d, struct az_syms *s, char *err, size_t errlen)
{
	struct ktables t = { 0 };
	uint32_t num;
	uint16_t tidx[256];
	char *tokens = NULL;
	uint8_t *names = NULL;
	int32_t *offs = NULL;
	uint64_t *addrs = NULL;
	uint64_t base = 0, stext;
	size_t names_len, tt_len = 0;
	int ret = -1;

	memset(s, 0, sizeof(*s));
	if (need_sym(d, "kallsyms_num_syms", &t.num_va, err, errlen) < 0 ||
	    need_sym(d, "kallsyms_names", &t.names_va, err, errlen) < 0 ||
	    need_sym(d, "kallsyms_token_table", &t.tt_va, err, errlen) < 0 ||
	    need_sym(d, "kallsyms_token_index", &t.ti_va, err, errlen) < 0)
		return -1;
	bool rel = vmc_vmci_symbol(d, "kallsyms_offsets", &t.off_va) == VMC_OK &&
		   vmc_vmci_symbol(d, "kallsyms_relative_base", &t.base_va) == VMC_OK;
	if (!rel && vmc_vmci_symbol(d, "kallsyms_addresses", &t.addrs_va) != VMC_OK) {
		snprintf(err, errlen, "no SYMBOL(kallsyms_offsets)/SYMBOL(kallsyms_relative_base) "
			 "or SYMBOL(kallsyms_addresses) in VMCOREINFO");
		return -1;
	}
	if (rd(d, t.num_va, &num, 4, "kallsyms_num_syms", err, errlen) < 0 ||
	    rd(d, t.ti_va, tidx, sizeof(tidx), "kallsyms_token_index", err, errlen) < 0)
		return -1;
	if (num == 0 || num > MAX_SYMS) {
		snprintf(err, errlen, "kallsyms: implausible kallsyms_num_syms %u", num);
		return -1;
	}
	/* the token table ends with the NUL of its farthest token */
	for (int i = 0; i < 256; i++)
		if (tidx[i] > tt_len)
			tt_len = tidx[i];
	tt_len += 256;
	tokens = calloc(1, tt_len + 1);
	if (!tokens)
		goto nomem;
	if (rd(d, t.tt_va, tokens, tt_len - 256, "kallsyms_token_table", err, errlen) < 0)
		goto out;
	/* the last token may straddle an unreadable page: read it byte-wise */
	for (size_t i = tt_len - 256; i < tt_len; i++)
		if (vmc_read_virt(d, t.tt_va + i, tokens + i, 1) != VMC_OK)
			break;
	/* kallsyms_names is followed by kallsyms_markers and the token table
	 * in every layout since 4.x; bound the read by that when it holds */
	names_len = t.tt_va > t.names_va && t.tt_va - t.names_va <= MAX_NAMES_BYTES
		? (size_t)(t.tt_va - t.names_va) : (size_t)num * 64;
	if (names_len > MAX_NAMES_BYTES)
		names_len = MAX_NAMES_BYTES;
	names = malloc(names_len);
	if (!names)
		goto nomem;
	if (rd(d, t.names_va, names, names_len, "kallsyms_names", err, errlen) < 0)
		goto out;
	if (rel) {
		offs = malloc((size_t)num * 4);
		if (!offs)
			goto nomem;
		if (rd(d, t.off_va, offs, (size_t)num * 4, "kallsyms_offsets", err, errlen) < 0 ||
		    rd(d, t.base_va, &base, 8, "kallsyms_relative_base", err, errlen) < 0)
			goto out;
	} else {
		addrs = malloc((size_t)num * 8);
		if (!addrs)
			goto nomem;
		if (rd(d, t.addrs_va, addrs, (size_t)num * 8, "kallsyms_addresses", err, errlen) < 0)
			goto out;
	}
	bool abs_percpu = false;
	for (uint32_t i = 0; rel && i < num; i++)
		if (offs[i] < 0) {
			abs_percpu = true;
			break;
		}

	size_t pos = 0;
	char name[1024];
	for (uint32_t i = 0; i < num; i++) {
		if (pos >= names_len)
			goto trunc;
		size_t len = names[pos++];
		if (len & 0x80) {
			if (pos >= names_len)
				goto trunc;
			len = (len & 0x7f) | ((size_t)names[pos++] << 7);
		}
		if (len == 0 || pos + len > names_len)
			goto trunc;
		size_t nl = 0;
		for (size_t k = 0; k < len; k++) {
			const char *tok = tokens + tidx[names[pos + k]];
			while (*tok && nl < sizeof(name) - 1)
				name[nl++] = *tok++;
		}
		pos += len;
		name[nl] = 0;
		if (nl < 2)
			continue;
		uint64_t a;
		if (!rel)
			a = addrs[i];
		else if (!abs_percpu)
			a = base + (uint32_t)offs[i];
		else if (offs[i] >= 0)
			a = (uint64_t)offs[i];
		else
			a = base - 1 - (uint64_t)(int64_t)offs[i];
		if (az_syms_add(s, name + 1, a, name[0]) < 0)
			goto nomem;
	}
	if (az_syms_finish(s) < 0)
		goto nomem;
	s->source = "kallsyms";
	/* the decoding must give back what VMCOREINFO says */
	uint64_t got = 0;
	if (vmc_vmci_symbol(d, "_stext", &stext) == VMC_OK &&
	    (az_syms_addr(s, "_stext", &got) < 0 || got != stext)) {
		snprintf(err, errlen, "kallsyms: decoded _stext 0x%" PRIx64 " differs from "
			 "VMCOREINFO's 0x%" PRIx64 ": unknown kallsyms layout", got, stext);
		goto out;
	}
	ret = 0;
	goto out;
trunc:
	snprintf(err, errlen, "kallsyms: kallsyms_names ends inside symbol %zu of %u",
		 (size_t)s->n, num);
	goto out;
nomem:
	snprintf(err, errlen, "kallsyms: out of memory");
out:
	free(tokens);
	free(names);
	free(offs);
	free(addrs);
	if (ret < 0)
		az_syms_free(s);
	return ret;
}
