/* btf.c - struct layouts from the kernel's own BTF (CONFIG_DEBUG_INFO_BTF),
 * found in the dump between the __start_BTF and __stop_BTF symbols and
 * parsed with libbpf (Debian's libbpf-dev). */
#include "kern.h"

#include <bpf/btf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BTF_BYTES (256u << 20)

struct az_btf {
	struct btf *btf;
	void *data;
};

int az_btf_load(vmc_dump *d, const struct az_syms *s, struct az_btf **out,
		char *err, size_t errlen)
{
	uint64_t start, stop;
	struct az_btf *b;

	if (az_syms_addr(s, "__start_BTF", &start) < 0 ||
	    az_syms_addr(s, "__stop_BTF", &stop) < 0) {
		snprintf(err, errlen, "no BTF in this dump (no __start_BTF/__stop_BTF symbols: "
			 "kernel built without CONFIG_DEBUG_INFO_BTF)");
		return -1;
	}
	if (stop <= start || stop - start > MAX_BTF_BYTES) {
		snprintf(err, errlen, "BTF: implausible bounds 0x%" PRIx64 "-0x%" PRIx64, start, stop);
		return -1;
	}
	b = calloc(1, sizeof(*b));
	if (b)
		b->data = malloc(stop - start);
	if (!b || !b->data) {
		free(b);
		snprintf(err, errlen, "BTF: out of memory");
		return -1;
	}
	if (vmc_read_virt(d, start, b->data, stop - start) != VMC_OK) {
		snprintf(err, errlen, "BTF at 0x%" PRIx64 " (%" PRIu64 " bytes) not readable: %s",
			 start, stop - start, vmc_errmsg(d));
		free(b->data);
		free(b);
		return -1;
	}
	errno = 0;
	b->btf = btf__new(b->data, (uint32_t)(stop - start));
	if (!b->btf) {
		snprintf(err, errlen, "BTF at 0x%" PRIx64 " rejected by libbpf: %s", start,
			 strerror(errno ? errno : EINVAL));
		free(b->data);
		free(b);
		return -1;
	}
	*out = b;
	return 0;
}

void az_btf_free(struct az_btf *b)
{
	if (!b)
		return;
	btf__free(b->btf);
	free(b->data);
	free(b);
}

static const struct btf_type *composite(struct btf *btf, int32_t id)
{
	if (id < 0)
		return NULL;
	id = btf__resolve_type(btf, (uint32_t)id);
	if (id < 0)
		return NULL;
	const struct btf_type *t = btf__type_by_id(btf, (uint32_t)id);
	return t && btf_is_composite(t) ? t : NULL;
}

/* Find member `name` in t, searching anonymous members; adds its byte
 * offset to *off and returns its type id, or -1. */
static int32_t find_member(struct btf *btf, const struct btf_type *t, const char *name,
			   uint64_t *off)
{
	const struct btf_member *m = btf_members(t);
	int n = btf_vlen(t);

	for (int i = 0; i < n; i++) {
		const char *mn = btf__name_by_offset(btf, m[i].name_off);
		uint64_t bo = btf_member_bit_offset(t, (uint32_t)i);
		if (mn && *mn) {
			if (!strcmp(mn, name)) {
				*off += bo / 8;
				return (int32_t)m[i].type;
			}
			continue;
		}
		const struct btf_type *sub = composite(btf, (int32_t)m[i].type);
		if (!sub)
			continue;
		uint64_t o = *off + bo / 8;
		int32_t r = find_member(btf, sub, name, &o);
		if (r >= 0) {
			*off = o;
			return r;
		}
	}
	return -1;
}

static int32_t find_struct(struct btf *btf, const char *stype)
{
	int32_t id = btf__find_by_name_kind(btf, stype, BTF_KIND_STRUCT);
	if (id < 0)
		id = btf__find_by_name_kind(btf, stype, BTF_KIND_UNION);
	return id;
}

int az_btf_member(void *ctx, const char *stype, const char *path, uint64_t *off,
		  uint64_t *size)
{
	struct btf *btf = ((struct az_btf *)ctx)->btf;
	int32_t id = find_struct(btf, stype);
	const struct btf_type *t = composite(btf, id);
	uint64_t o = 0;
	char part[128];

	while (t && *path) {
		path = az_path_next(path, part, sizeof(part));
		if (!path)
			return -1;
		id = find_member(btf, t, part, &o);
		if (id < 0)
			return -1;
		if (*path)
			t = composite(btf, id);
	}
	if (!t || *path)
		return -1;
	int64_t sz = btf__resolve_size(btf, (uint32_t)id);
	*off = o;
	*size = sz > 0 ? (uint64_t)sz : 0;
	return 0;
}

int az_btf_sizeof(void *ctx, const char *stype, uint64_t *size)
{
	struct btf *btf = ((struct az_btf *)ctx)->btf;
	int32_t id = find_struct(btf, stype);
	if (id < 0)
		return -1;
	int64_t sz = btf__resolve_size(btf, (uint32_t)id);
	if (sz <= 0)
		return -1;
	*size = (uint64_t)sz;
	return 0;
}
