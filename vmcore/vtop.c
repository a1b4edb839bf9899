/* vtop.c - x86_64 kernel virtual to physical translation from VMCOREINFO alone.
 *
 * The page-table root is SYMBOL(init_top_pgt) (init_level4_pgt before the
 * 5-level rename, ~4.13), a kernel-text address: physical = va -
 * __START_KERNEL_map + phys_base.  NUMBER(pgtable_l5_enabled) chooses 4 or 5
 * levels; NUMBER(sme_mask) is cleared from every entry (AMD SME).  Kernel text
 * and the direct map are translated arithmetically when their bases are known;
 * everything else walks the tables (xen-notes' xnote_pt_walk, the one walk
 * shared with Xen's and dom0's tables), with a small cache of translations.
 */
#include "internal.h"
#include "../xen-notes/xnote.h"

#include <stdlib.h>

#define START_KERNEL_MAP 0xffffffff80000000ULL
#define KERNEL_TEXT_SIZE (1ULL << 30)     /* the text mapping spans at most 1 GiB */

static int init_vtop(vmc_dump *d)
{
	struct vmc_vtop *v = &d->vtop;
	int64_t n;
	uint64_t u;

	if (v->ready)
		return v->ready > 0 ? VMC_OK : vmc_set_err(d, VMC_ERR_NOTFOUND, "%s", v->why);
	v->ready = -1;
	if (vmc_machine_frames(d)) {
		snprintf(v->why, sizeof(v->why),
			 "virtual addresses: the dump is presented by machine frame");
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED, "%s", v->why);
	}
	if (d->machine && d->machine != EM_X86_64) {
		snprintf(v->why, sizeof(v->why),
			 "virtual addresses: only x86_64 dumps are supported");
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED, "%s", v->why);
	}
	/* phys_base: VMCOREINFO, else the kernel-text PT_LOAD, else kdump header */
	if (vmc_vmci_number(d, "phys_base", &n) == VMC_OK) {
		v->phys_base = (uint64_t)n;
	} else {
		bool found = false;
		for (size_t i = 0; i < d->elf.nloads; i++) {
			const struct vmc_elf_load *l = &d->elf.loads[i];
			if (l->vaddr >= START_KERNEL_MAP && l->vaddr - START_KERNEL_MAP < KERNEL_TEXT_SIZE) {
				v->phys_base = l->paddr - (l->vaddr - START_KERNEL_MAP);
				found = true;
				break;
			}
		}
		if (!found && vmc_kdump_phys_base(d, &u) == VMC_OK && strcmp(d->producer, "qemu"))
			found = true, v->phys_base = u;
		if (!found) {
			snprintf(v->why, sizeof(v->why),
				 "virtual addresses: phys_base unknown (no NUMBER(phys_base) in VMCOREINFO and no kernel-text segment)");
			return vmc_set_err(d, VMC_ERR_NOTFOUND, "%s", v->why);
		}
	}
	if (vmc_vmci_symbol(d, "init_top_pgt", &u) != VMC_OK &&
	    vmc_vmci_symbol(d, "init_level4_pgt", &u) != VMC_OK &&
	    vmc_vmci_symbol(d, "swapper_pg_dir", &u) != VMC_OK) {
		snprintf(v->why, sizeof(v->why),
			 "virtual addresses: no page-table root (SYMBOL(init_top_pgt)) in VMCOREINFO");
		return vmc_set_err(d, VMC_ERR_NOTFOUND, "%s", v->why);
	}
	if (u < START_KERNEL_MAP) {
		snprintf(v->why, sizeof(v->why),
			 "virtual addresses: page-table root 0x%llx is not a kernel-text address",
			 (unsigned long long)u);
		return vmc_set_err(d, VMC_ERR_CORRUPT, "%s", v->why);
	}
	v->root = u - START_KERNEL_MAP + v->phys_base;
	v->levels = vmc_vmci_number(d, "pgtable_l5_enabled", &n) == VMC_OK && n ? 5 : 4;
	if (vmc_vmci_number(d, "sme_mask", &n) == VMC_OK)
		v->sme_mask = (uint64_t)n;
	/* direct-map base: from a RAM PT_LOAD of a /proc/vmcore copy, whose p_vaddr
	 * is PAGE_OFFSET + p_paddr; verified by a walk before it is trusted */
	for (size_t i = 0; i < d->elf.nloads; i++) {
		const struct vmc_elf_load *l = &d->elf.loads[i];
		uint64_t base = l->vaddr - l->paddr, pa;
		if (l->vaddr < 0xff00000000000000ULL || l->vaddr >= START_KERNEL_MAP || !l->filesz)
			continue;
		v->ready = 1;
		v->page_offset = 0;
		if (vmc_vtop_walk(d, l->vaddr, &pa) == VMC_OK && pa == l->paddr)
			v->page_offset = base;
		break;
	}
	v->ready = 1;
	return VMC_OK;
}

/* The xen-notes walk reads Linux's tables through this: the callback's
 * VMC_OK and VMC_NOPAGE are XNOTE_OK and XNOTE_NOPAGE, and its errors come
 * back unchanged, with the message on the dump. */
static int read_phys(void *arg, uint64_t pa, void *buf, size_t len)
{
	return vmc_read_phys(arg, pa, buf, len);
}

int vmc_vtop_walk(vmc_dump *d, uint64_t va, uint64_t *pa)
{
	struct vmc_vtop *v = &d->vtop;
	struct xnote_pt_stop st;
	int rc;

	/* canonical: bits above the top level's reach all equal */
	int top = v->levels == 5 ? 56 : 47;
	uint64_t hi = va >> top;
	if (hi != 0 && hi != (~0ULL >> top))
		return vmc_set_err(d, VMC_NOPAGE, "virtual address 0x%llx is not canonical",
				   (unsigned long long)va);
	if (d->xcore)
		rc = vmc_xcore_pt_walk(d, v->root, v->levels, v->sme_mask, va, pa, &st);
	else
		rc = xnote_pt_walk(read_phys, d, v->root, v->levels, v->sme_mask, va, pa, &st);
	if (rc == VMC_OK)
		return VMC_OK;
	if (rc == VMC_NOPAGE && st.unmapped)
		return vmc_set_err(d, VMC_NOPAGE, "virtual address 0x%llx is not mapped",
				   (unsigned long long)va);
	if (rc == VMC_NOPAGE)
		return vmc_set_err(d, VMC_NOPAGE,
				   "virtual address 0x%llx: level-%d page table at 0x%llx not in the dump",
				   (unsigned long long)va, st.level, (unsigned long long)st.table);
	return vmc_prefix_err(d, rc, "virtual address 0x%llx", (unsigned long long)va);
}

int vmc_vtop(vmc_dump *d, uint64_t va, uint64_t *pa)
{
	struct vmc_vtop *v = &d->vtop;
	int rc = init_vtop(d);

	if (rc < 0)
		return rc;
	if (va >= START_KERNEL_MAP && va - START_KERNEL_MAP < KERNEL_TEXT_SIZE) {
		*pa = va - START_KERNEL_MAP + v->phys_base;
		return VMC_OK;
	}
	/* the direct map covers physical memory only; vmalloc and vmemmap lie
	 * above it and need the page tables */
	if (v->page_offset && va >= v->page_offset &&
	    va - v->page_offset < d->max_pfn * (uint64_t)d->page_size) {
		*pa = va - v->page_offset;
		return VMC_OK;
	}
	uint64_t vpage = va & ~0xfffULL;
	struct vmc_tlb_entry *t = &v->tlb[(vpage >> 12) % VMC_TLB_SIZE];
	if (t->valid && t->vpage == vpage) {
		*pa = t->ppage | (va & 0xfff);
		return VMC_OK;
	}
	uint64_t p;
	rc = vmc_vtop_walk(d, va, &p);
	if (rc != VMC_OK)
		return rc;
	t->valid = true;
	t->vpage = vpage;
	t->ppage = p & ~0xfffULL;
	*pa = p;
	return VMC_OK;
}

static int vtop_cb(void *d, uint64_t va, uint64_t *pa)
{
	return vmc_vtop(d, va, pa);
}

int vmc_read_virt(vmc_dump *d, uint64_t va, void *buf, size_t len)
{
	struct xnote_virt_fail f;
	int rc = xnote_read_virt(vtop_cb, read_phys, d, va, buf, len, &f);

	if (rc == VMC_NOPAGE && f.in_read)
		return vmc_set_err(d, VMC_NOPAGE,
				   "virtual address 0x%llx (physical 0x%llx) is not in the dump",
				   (unsigned long long)f.va, (unsigned long long)f.addr);
	return rc;
}

int vmc_kernel_layout(vmc_dump *d, struct vmc_layout *out)
{
	int rc = init_vtop(d);
	if (rc < 0)
		return rc;
	out->phys_base = d->vtop.phys_base;
	out->pgt_root = d->vtop.root;
	out->levels = d->vtop.levels;
	out->page_offset = d->vtop.page_offset;
	return VMC_OK;
}
