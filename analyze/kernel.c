/* kernel.c - open a dump as a kernel: symbols (a --vmlinux, else kallsyms
 * from the dump), struct layouts (DWARF from the vmlinux, else BTF from the
 * dump), ORC tables; memory reading helpers. */
#include "kern.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *st, *member;
} fields[AZ_F_COUNT] = {
#define AZ_F_TAB(id, st, m) [AZ_F_##id] = { st, m },
	AZ_FIELDS(AZ_F_TAB)
#undef AZ_F_TAB
};

const char *az_field_name(enum az_field f)
{
	static char buf[AZ_F_COUNT][64];
	if (!buf[f][0])
		snprintf(buf[f], sizeof(buf[f]), "%s.%s", fields[f].st, fields[f].member);
	return buf[f];
}

const char *az_path_next(const char *path, char *part, size_t size)
{
	const char *dot = strchr(path, '.');
	size_t len = dot ? (size_t)(dot - path) : strlen(path);

	if (len >= size)
		return NULL;
	memcpy(part, path, len);
	part[len] = 0;
	return path + len + (dot ? 1 : 0);
}

void az_layout_fill(struct az_layout *l, az_member_fn member, az_sizeof_fn sz, void *ctx,
		    const char *source)
{
	uint64_t off, size;

	for (int i = 0; i < AZ_F_COUNT; i++) {
		l->off[i] = -1;
		l->size[i] = 0;
		if (member(ctx, fields[i].st, fields[i].member, &off, &size) == 0) {
			l->off[i] = (int64_t)off;
			l->size[i] = (uint32_t)size;
		}
	}
	/* struct inactive_task_frame (arch/x86/include/asm/switch_to.h) is the
	 * same on x86_64 since 4.9: r15 r14 r13 r12 bx bp ret_addr; used when
	 * the type information does not carry it */
	if (sz(ctx, "inactive_task_frame", &size) == 0) {
		l->inactive_frame_size = size;
	} else {
		l->inactive_frame_size = 56;
		l->off[AZ_F_ITF_BP] = 40;
		l->off[AZ_F_ITF_RET] = 48;
	}
	l->module_memory_size = sz(ctx, "module_memory", &size) == 0 ? size : 0;
	l->bin_attribute_size = sz(ctx, "bin_attribute", &size) == 0 ? size : 0;
	l->source = source;
}

int az_read(struct az_kernel *k, uint64_t va, void *buf, size_t len)
{
	return vmc_read_virt(k->d, va, buf, len) == VMC_OK ? 0 : -1;
}

int az_read_u64(struct az_kernel *k, uint64_t va, uint64_t *v)
{
	return az_read(k, va, v, 8);
}

int az_read_u32(struct az_kernel *k, uint64_t va, uint32_t *v)
{
	return az_read(k, va, v, 4);
}

int az_read_uint(struct az_kernel *k, uint64_t va, uint32_t size, uint64_t *v)
{
	uint8_t b[8] = { 0 };
	if (size == 0 || size > 8 || az_read(k, va, b, size) < 0)
		return -1;
	*v = 0;
	for (uint32_t i = 0; i < size; i++)
		*v |= (uint64_t)b[i] << (8 * i);
	return 0;
}

int az_sym(struct az_kernel *k, const char *name, uint64_t *addr)
{
	if (k->have_syms && az_syms_addr(&k->syms, name, addr) == 0)
		return 0;
	/* VMCOREINFO exports a few without any symbol table */
	return vmc_vmci_symbol(k->d, name, addr) == VMC_OK ? 0 : -1;
}

int az_percpu(struct az_kernel *k, uint64_t sym, unsigned cpu, uint64_t *addr)
{
	uint64_t tab, off;
	if (az_sym(k, "__per_cpu_offset", &tab) < 0 || cpu >= 8192 ||
	    az_read_u64(k, tab + 8ull * cpu, &off) < 0)
		return -1;
	*addr = sym + off;
	return 0;
}

void az_symbolize(struct az_kernel *k, uint64_t addr, char *buf, size_t len)
{
	struct az_where w;
	/* beyond the symbol's end by more than a page: not really in it */
	if (!az_lookup(k, addr, &w) || (w.size && w.off >= w.size && w.off > 4096) ||
	    w.off > (1u << 24)) {
		snprintf(buf, len, "0x%016" PRIx64, addr);
		return;
	}
	int n;
	if (w.size)
		n = snprintf(buf, len, "%s+0x%" PRIx64 "/0x%" PRIx64, az_sym_name(w.tab, w.sym),
			     w.off, w.size);
	else
		n = snprintf(buf, len, "%s+0x%" PRIx64, az_sym_name(w.tab, w.sym), w.off);
	if (w.mod && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " [%s]", w.mod->name);
}

int az_kernel_open(struct az_kernel *k, vmc_dump *d, const char *vmlinux, unsigned need)
{
	memset(k, 0, sizeof(*k));
	k->d = d;
	if (vmc_vmci_kerneloffset(k->d, &k->kaslr) != VMC_OK)
		k->kaslr = 0;
	if (vmlinux) {
		if (az_vmlinux_open(k->d, vmlinux, &k->vml, &k->syms, k->err, sizeof(k->err)) < 0)
			return -1;
		k->have_syms = true;
	} else if (az_ksyms_load(k->d, &k->syms, k->why_syms, sizeof(k->why_syms)) == 0) {
		k->have_syms = true;
	}
	if (!k->have_syms && (need & (AZ_NEED_SYMS | AZ_NEED_TYPES | AZ_NEED_ORC))) {
		snprintf(k->err, sizeof(k->err), "no kernel symbols: %s, and no --vmlinux given",
			 k->why_syms);
		return -1;
	}
	if (k->vml) {
		az_layout_fill(&k->lay, az_dwarf_member, az_dwarf_sizeof, k->vml, "DWARF");
		k->have_types = k->lay.off[AZ_F_TASK_TASKS] >= 0;
		if (!k->have_types)
			snprintf(k->why_types, sizeof(k->why_types),
				 "%s has no DWARF description of struct task_struct", vmlinux);
	} else if (k->have_syms) {
		if (az_btf_load(k->d, &k->syms, &k->btf, k->why_types, sizeof(k->why_types)) == 0) {
			az_layout_fill(&k->lay, az_btf_member, az_btf_sizeof, k->btf, "BTF");
			k->have_types = k->lay.off[AZ_F_TASK_TASKS] >= 0;
			if (!k->have_types)
				snprintf(k->why_types, sizeof(k->why_types),
					 "the dump's BTF has no struct task_struct");
		}
	} else {
		snprintf(k->why_types, sizeof(k->why_types), "no symbols to find BTF with");
	}
	if (!k->have_types && (need & AZ_NEED_TYPES)) {
		snprintf(k->err, sizeof(k->err), "%s%s: struct task_struct layout unknown",
			 k->why_types, vmlinux ? "" : " and no --vmlinux given");
		return -1;
	}
	if (k->have_syms && (need & AZ_NEED_ORC) &&
	    az_orc_load(k->d, &k->syms, &k->orc, k->why_orc, sizeof(k->why_orc)) == 0)
		k->have_orc = true;
	return 0;
}

void az_kernel_close(struct az_kernel *k)
{
	az_orc_free(&k->orc);
	az_modules_free(&k->mods);
	az_btf_free(k->btf);
	az_vmlinux_close(k->vml);
	az_syms_free(&k->syms);
	if (k->d)
		vmc_dump_destroy(k->d);
	memset(k, 0, sizeof(*k));
}
