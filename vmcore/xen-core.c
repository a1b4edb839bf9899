/* xen-core.c - Xen guest cores written by the toolstack (`xl dump-core`,
 * on_crash="coredump-destroy|coredump-restart"): docs/formats.md §4.9.
 *
 * The file is ELF with section headers only: `.note.Xen` (dump-core header,
 * Xen version and format version notes), `.xen_prstatus` (one
 * vcpu_guest_context per vCPU), `.xen_shared_info`, `.xen_pages` (the page
 * data) and `.xen_p2m` ((pfn, gmfn) pairs, PV) or `.xen_pfn` (pfns, HVM),
 * whose entry i describes page i of `.xen_pages`.
 *
 * The dump is presented by the guest's pseudo-physical frame: runs of
 * consecutive pfns stored one after the other become ELF loads over the file
 * itself, so elf.c reads the pages.  The notes a Linux reader expects are
 * made here: the guest's VMCOREINFO (found in its memory, as Linux keeps
 * its vmcoreinfo note and data page there) and one CORE/NT_PRSTATUS per
 * saved vCPU.  A PV guest's page tables hold machine frames: vtop walks them
 * in machine frames and comes back to pfns through the table
 * (vmc_xcore_pt_walk); the pages themselves are never rewritten, so a
 * writer copies them as the guest had them.
 *
 * vmc_xcore_open runs the stages in order: the sections and .note.Xen
 * (xen-core-sections.c), the table, its loads and the page index
 * (xen-core-p2m.c, which also holds the pfn <-> mfn lookups and the
 * page-table walk), then here the vCPUs, the VMCOREINFO scan and the notes.
 */
#include "internal.h"

#include <stdlib.h>

#include "xen-core.h"

bool vmc_xcore_probe(const uint8_t *eh, size_t len)
{
	return len >= 64 && le_get16(eh + 16) == ET_CORE && le_get16(eh + 56) == 0 &&
	       le_get64(eh + 40) != 0 && le_get16(eh + 60) != 0;
}

void vmc_xcore_free(vmc_dump *d)
{
	struct vmc_xcore *x = d->xcore;

	if (!x)
		return;
	free(x->vcpus);
	free(x->by_pfn);
	free(x->by_mfn);
	free(x->runs_pfn);
	free(x->runs_mfn);
	free(x->tree);
	free(x->file_ranges);
	free(x->vmci);
	free(x);
	d->xcore = NULL;
}

const struct vmc_xen_core *vmc_xen_core(const vmc_dump *d)
{
	return d->xcore && !d->xcore->from_note ? &d->xcore->pub : NULL;
}

/* ---- vCPUs ------------------------------------------------------------------------------ */

static int read_vcpus(vmc_dump *d, struct vmc_xcore *x, const struct section *s)
{
	uint64_t avail, stride, n;
	uint8_t *c;

	if (!s->found) {
		vmc_warn(d, "Xen dump-core: no .xen_prstatus section: no vCPU registers");
		return VMC_OK;
	}
	stride = s->entsize ? s->entsize : CTX_SIZE;
	if (stride < CTX_SIZE || stride > 4 * CTX_SIZE) {
		vmc_warn(d, "Xen dump-core: .xen_prstatus entry size %llu is not an x86_64 vcpu_guest_context (%u): no vCPU registers",
			 (unsigned long long)stride, CTX_SIZE);
		return VMC_OK;
	}
	avail = vmc_xcore_section_avail(d, s);
	n = avail / stride;
	if (s->size % stride)
		vmc_warn(d, "Xen dump-core: .xen_prstatus is 0x%llx bytes, not a whole number of %llu-byte contexts",
			 (unsigned long long)s->size, (unsigned long long)stride);
	if (x->pub.header_vcpus != s->size / stride)
		vmc_warn(d, "Xen dump-core: header says %llu vCPUs, .xen_prstatus holds %llu contexts; %llu used",
			 (unsigned long long)x->pub.header_vcpus,
			 (unsigned long long)(s->size / stride), (unsigned long long)n);
	if (n > MAX_VCPUS) {
		vmc_warn(d, "Xen dump-core: %llu vCPU contexts; the first %u used",
			 (unsigned long long)n, MAX_VCPUS);
		n = MAX_VCPUS;
	}
	x->vcpus = calloc(n ? n : 1, sizeof(*x->vcpus));
	c = malloc(CTX_SIZE);
	if (!x->vcpus || !c) {
		free(c);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	for (uint64_t i = 0; i < n; i++) {
		struct vmc_xen_vcpu *v = &x->vcpus[i];
		int rc = vmc_io_read_exact(d, c, CTX_SIZE, s->off + i * stride, ".xen_prstatus");
		if (rc < 0) {
			free(c);
			return rc;
		}
		const uint8_t *r = c + CTX_REGS;
		v->flags = le_get64(c + 512);
		v->rip = le_get64(r + 128);
		v->cs = le_get16(r + 136);
		v->rflags = le_get64(r + 144);
		v->rsp = le_get64(r + 152);
		v->ss = le_get16(r + 160);
		v->cr0 = le_get64(c + CTX_CTRLREG);
		v->cr2 = le_get64(c + CTX_CTRLREG + 16);
		v->cr3 = le_get64(c + CTX_CTRLREG + 24);
		v->cr4 = le_get64(c + CTX_CTRLREG + 32);
		v->kernel_sp = le_get64(c + CTX_KERNEL_SP);
		v->fs_base = le_get64(c + CTX_FS_BASE);
		v->gs_base_kernel = le_get64(c + CTX_FS_BASE + 8);
		v->gs_base_user = le_get64(c + CTX_FS_BASE + 16);
		x->pub.nvcpus++;
	}
	free(c);
	x->pub.vcpus = x->vcpus;
	return VMC_OK;
}

/* NT_PRSTATUS (docs/formats.md §2.3) from a saved context: user_regs are
 * Linux's pt_regs order for the first 15 registers. */
static void prstatus(const struct vmc_xen_vcpu *v, const uint8_t *ctx_regs, uint8_t *out)
{
	uint8_t *r = out + 112;

	memset(out, 0, PRSTATUS_SIZE);
	bool none = !v->flags && !v->rip && !v->rsp;
	for (size_t i = 0; i < 200 && none; i++)
		none = !ctx_regs[i];
	if (none)
		return;     /* a vCPU that saved nothing: an empty CORE note */
	memcpy(r, ctx_regs, 15 * 8);                       /* r15 .. rdi */
	le_put64(r + 8 * VMC_REG_ORIG_RAX, ~0ULL);
	le_put64(r + 8 * VMC_REG_RIP, v->rip);
	/* a 64-bit PV kernel runs in ring 3 (its cs is FLAT_KERNEL_CS64,
	 * 0xe033): in kernel code (VGCF_in_kernel, or a kernel-half rip) the
	 * note says ring 0, as a native pt_regs would, or every unwinder
	 * (ours, crash's) stops at "user mode" */
	bool kernel = (v->flags & 4) || v->rip >= 0xffff800000000000ULL;
	le_put64(r + 8 * VMC_REG_CS, kernel && (v->cs & 3) ? v->cs & ~3ULL : v->cs);
	le_put64(r + 8 * VMC_REG_EFLAGS, v->rflags);
	le_put64(r + 8 * VMC_REG_RSP, v->rsp);
	le_put64(r + 8 * VMC_REG_SS, v->ss);
	le_put64(r + 8 * VMC_REG_FS_BASE, v->fs_base);
	/* the kernel's GS base while the vCPU runs kernel code (VGCF_in_kernel) */
	le_put64(r + 8 * VMC_REG_GS_BASE, kernel ? v->gs_base_kernel : v->gs_base_user);
	le_put64(r + 8 * VMC_REG_ES, le_get64(ctx_regs + 168));
	le_put64(r + 8 * VMC_REG_DS, le_get64(ctx_regs + 176));
	le_put64(r + 8 * VMC_REG_FS, le_get64(ctx_regs + 184));
	le_put64(r + 8 * VMC_REG_GS, le_get64(ctx_regs + 192));
}

/* ---- the guest's VMCOREINFO --------------------------------------------------------- */

static int keep_vmci(struct vmc_xcore *x, const char *t, size_t len, uint64_t pfn)
{
	x->vmci = malloc(len + 1);
	if (!x->vmci)
		return VMC_ERR_NOMEM;
	memcpy(x->vmci, t, len);
	x->vmci[len] = 0;
	x->vmci_len = len;
	x->pub.vmcoreinfo_from = "memory scan";
	x->pub.vmcoreinfo_pfn = pfn;
	return VMC_OK;
}

/* Linux keeps its vmcoreinfo note and data page in whole pages
 * (alloc_pages_exact, get_zeroed_page): only page starts are looked at. */
static int scan_vmcoreinfo(vmc_dump *d, struct vmc_xcore *x)
{
	uint8_t *buf = malloc((size_t)SCAN_BATCH * PAGE);
	int rc = VMC_OK;

	if (!buf)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < d->elf.nloads && !x->vmci; i++) {
		const struct vmc_elf_load *l = &d->elf.loads[i];
		uint64_t first = l->paddr / PAGE, n = l->filesz / PAGE;
		for (uint64_t p = 0; p < n && !x->vmci; p += SCAN_BATCH) {
			size_t m = n - p < SCAN_BATCH ? (size_t)(n - p) : SCAN_BATCH, done = 0;
			if (vmc_read_pages(d, first + p, m, buf, &done) < 0)
				d->errmsg[0] = 0;
			for (size_t k = 0; k < done; k++) {
				const uint8_t *h = buf + k * PAGE;
				const char *t;
				size_t tl;
				if (memcmp(h, "OSRELEASE=", 10) != 0 &&
				    !(le_get32(h) == 11 && memcmp(h + 12, "VMCOREINFO", 10) == 0))
					continue;
				if (!xnote_dom0_vmcoreinfo_page(h, PAGE, &t, &tl))
					continue;
				if (keep_vmci(x, t, tl, first + p + k) < 0) {
					rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
					goto out;
				}
				break;
			}
		}
	}
out:
	free(buf);
	return rc;
}

/* The notes a Linux reader and the writers expect: VMCOREINFO, then one CORE
 * NT_PRSTATUS per vCPU. */

static int make_notes(vmc_dump *d, struct vmc_xcore *x, const struct section *s)
{
	size_t vlen = x->vmci ? 12 + 12 + ((x->vmci_len + 3) & ~(size_t)3) : 0;
	size_t clen = 12 + 8 + PRSTATUS_SIZE, len = vlen + x->pub.nvcpus * clen;
	size_t nruns = x->pub.hvm ? 0 : vmc_xcore_p2m_runs(x, NULL), plen = 0;

	/* a PV guest's page tables hold machine frames: the writers carry the
	 * table along (as runs) so that their output reads like this file */
	if (nruns > P2M_NOTE_MAX_RUNS) {
		vmc_warn(d, "Xen dump-core: the p2m has %zu runs (more than %u): dumps written from this one will not carry it",
			 nruns, P2M_NOTE_MAX_RUNS);
		nruns = 0;
	}
	if (nruns) {
		plen = 12 + 12 + nruns * 24;
		len += plen;
	}
	/* opened to be written by machine frame (docs/formats.md §4.9): the
	 * runs say so, and crash(8) gets the P2M tree through CRASH_INFO;
	 * without the runs no reader could come back to pfns */
	bool mach = (d->open_flags & VMC_OPEN_MACHINE_FRAMES) && nruns;
	size_t cilen = mach ? vmc_xcore_crash_info_note(x, NULL) : 0;
	if ((d->open_flags & VMC_OPEN_MACHINE_FRAMES) && !x->pub.hvm && !mach)
		vmc_warn(d, "Xen dump-core: the p2m cannot be carried: the dump is written by pfn, which crash(8) cannot read");
	else if (mach && !cilen)
		vmc_warn(d, "Xen dump-core: the guest publishes no p2m frame list list in its shared_info: crash(8) cannot read dumps written from this core");
	len += cilen;
	size_t start = 0, off = 0;
	uint64_t foff = 0;
	uint8_t *ctx = NULL;
	int rc;

	d->note_bytes = calloc(1, len ? len : 1);
	if (!d->note_bytes)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	if (x->vmci) {
		le_put32(d->note_bytes, 11);
		le_put32(d->note_bytes + 4, (uint32_t)x->vmci_len);
		memcpy(d->note_bytes + 12, "VMCOREINFO", 10);
		memcpy(d->note_bytes + 24, x->vmci, x->vmci_len);
		off = vlen;
	}
	if (x->pub.nvcpus) {
		ctx = malloc(CTX_SIZE);
		if (!ctx)
			return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < x->pub.nvcpus; i++) {
		uint8_t *n = d->note_bytes + off;
		uint64_t stride = s->entsize ? s->entsize : CTX_SIZE;
		rc = vmc_io_read_exact(d, ctx, CTX_SIZE, s->off + i * stride, ".xen_prstatus");
		if (rc < 0) {
			free(ctx);
			return rc;
		}
		le_put32(n, 5);
		le_put32(n + 4, PRSTATUS_SIZE);
		le_put32(n + 8, 1);
		memcpy(n + 12, "CORE", 5);
		prstatus(&x->vcpus[i], ctx + CTX_REGS, n + 20);
		off += clen;
	}
	free(ctx);
	if (plen) {
		uint8_t *n = d->note_bytes + off;
		le_put32(n, sizeof(P2M_NOTE));
		le_put32(n + 4, (uint32_t)(nruns * 24));
		le_put32(n + 8, mach ? P2M_NOTE_MACHINE : 0);
		memcpy(n + 12, P2M_NOTE, sizeof(P2M_NOTE));
		vmc_xcore_p2m_runs(x, n + 24);
		off += plen;
	}
	if (cilen) {
		vmc_xcore_crash_info_note(x, d->note_bytes + off);
		off += cilen;
	}
	x->machine_view = mach;   /* done at the end of vmc_xcore_open */
	d->note_len = len;
	if (!len)
		return VMC_OK;
	return vmc_notes_parse_areas(d, &start, &len, &foff, 1, 4);
}


/* ---- opening -------------------------------------------------------------------------- */

void vmc_xcore_find_page_offset(vmc_dump *d)
{
	static const uint64_t bases[] = {
		0xffff888000000000ULL,   /* 4-level, 4.20+ */
		0xffff880000000000ULL,   /* 4-level, before 4.20 */
		0xff11000000000000ULL,   /* 5-level */
	};
	struct vmc_layout lay;
	uint64_t pa;

	if (vmc_kernel_layout(d, &lay) != VMC_OK) {
		d->errmsg[0] = 0;
		return;
	}
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (vmc_vtop_walk(d, bases[i] + lay.pgt_root, &pa) == VMC_OK && pa == lay.pgt_root) {
			d->vtop.page_offset = bases[i];
			/* (a dump by machine frame has no direct-map loads) */
			for (size_t k = 0; k < d->elf.nloads && !d->xcore->machine_file; k++)
				d->elf.loads[k].vaddr = bases[i] + d->elf.loads[k].paddr;
			break;
		}
	}
	d->errmsg[0] = 0;
}

int vmc_xcore_open(vmc_dump *d)
{
	struct section s[S_COUNT] = { { 0 } };
	struct vmc_xcore *x;
	const struct section *tab;
	uint64_t npages;
	int rc;

	x = calloc(1, sizeof(*x));
	if (!x)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	d->xcore = x;
	rc = vmc_xcore_read_sections(d, s);
	if (rc < 0)
		return rc;
	if (!s[S_NOTE].found && !s[S_PAGES].found)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "ELF header: no program headers (an ELF core with sections but no Xen dump-core sections)");
	rc = vmc_xcore_read_notes(d, x, &s[S_NOTE]);
	if (rc < 0)
		return rc;
	if (!s[S_PAGES].found)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: no .xen_pages section");
	if (s[S_P2M].found && s[S_PFN].found)
		vmc_warn(d, "Xen dump-core: both .xen_p2m and .xen_pfn; .xen_%s used (the header's guest type)",
			 x->pub.magic == MAGIC_HVM ? "pfn" : "p2m");
	if (!s[S_P2M].found && !s[S_PFN].found)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: neither .xen_p2m nor .xen_pfn");
	x->pub.hvm = s[S_P2M].found && s[S_PFN].found ? x->pub.magic == MAGIC_HVM : s[S_PFN].found;
	if (x->pub.hvm != (x->pub.magic == MAGIC_HVM))
		vmc_warn(d, "Xen dump-core: header says %s, the file has %s: read as %s",
			 x->pub.magic == MAGIC_HVM ? "HVM" : "PV", x->pub.hvm ? ".xen_pfn" : ".xen_p2m",
			 x->pub.hvm ? "HVM" : "PV");
	tab = &s[x->pub.hvm ? S_PFN : S_P2M];
	x->pub.has_shared_info = s[S_SHINFO].found;
	if (s[S_PAGES].off % PAGE)
		vmc_warn(d, "Xen dump-core: .xen_pages at 0x%llx is not page aligned",
			 (unsigned long long)s[S_PAGES].off);
	if (s[S_PAGES].size % PAGE)
		vmc_warn(d, "Xen dump-core: .xen_pages is 0x%llx bytes, not whole pages",
			 (unsigned long long)s[S_PAGES].size);
	npages = s[S_PAGES].size / PAGE;
	x->pages_off = s[S_PAGES].off;
	d->format = VMC_FMT_XEN_CORE;
	d->machine = EM_X86_64;
	d->page_size = PAGE;
	d->page_size_known = true;
	rc = vmc_xcore_read_table(d, x, tab, &s[S_PAGES], npages);
	if (rc < 0)
		return rc;
	if (!x->n)
		vmc_warn(d, "Xen dump-core: no page of the guest is in the file");
	rc = vmc_xcore_build_loads(d, x, &s[S_PAGES]);
	if (rc < 0)
		return rc;
	rc = read_vcpus(d, x, &s[S_PRSTATUS]);
	if (rc < 0)
		return rc;
	d->pagebuf = malloc(PAGE);
	if (!d->pagebuf)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	rc = scan_vmcoreinfo(d, x);
	if (rc < 0)
		return rc;
	if (!x->pub.hvm && s[S_SHINFO].found && s[S_SHINFO].size >= SHINFO_FLL + 8) {
		uint8_t w[8];
		if (vmc_io_read_exact(d, w, 8, s[S_SHINFO].off + SHINFO_FLL, ".xen_shared_info") == VMC_OK &&
		    le_get64(w) != INVALID_ENTRY && le_get64(w) < PFN_LIMIT)
			x->fll = le_get64(w);
		d->errmsg[0] = 0;
	}
	rc = make_notes(d, x, &s[S_PRSTATUS]);
	if (rc < 0)
		return rc;
	rc = vmc_notes_finish(d);
	if (rc < 0)
		return rc;
	d->producer = "xen-toolstack";
	const char *ps = vmc_vmcoreinfo_get(d, "PAGESIZE");
	if (ps && strcmp(ps, "4096") != 0)
		vmc_warn(d, "the guest's VMCOREINFO says PAGESIZE=%s; Xen's pages are 4096 bytes", ps);
	/* Xen's control registers of each vCPU; a PV cr3 names a machine frame */
	for (size_t i = 0; i < d->ncpus && i < x->pub.nvcpus; i++) {
		struct vmc_xen_vcpu *v = &x->vcpus[i];
		struct vmc_cpu *c = &d->cpus[i];
		uint64_t pfn = (v->cr3 & PTE_ADDR) / PAGE;
		v->cr3_pfn_known = x->pub.hvm ? vmc_xcore_find_pfn(x, pfn) != NULL
					      : vmc_xen_core_mfn_to_pfn(d, pfn, &pfn) == VMC_OK;
		v->cr3_pfn = v->cr3_pfn_known ? pfn : 0;
		c->has_cr = true;
		c->cr0 = v->cr0;
		c->cr2 = v->cr2;
		c->cr3 = v->cr3_pfn_known ? (v->cr3 & ~PTE_ADDR) | v->cr3_pfn * PAGE : v->cr3;
		c->cr4 = v->cr4;
	}
	if (!x->vmci)
		vmc_warn(d, "the guest's VMCOREINFO was not found in its memory: dmesg, bt, ps and page classification need it");
	else
		vmc_xcore_find_page_offset(d);
	if (!x->pub.hvm) {
		rc = vmc_xcore_p2m_tree(d, x);
		if (rc < 0)
			return rc;
	}
	if (x->machine_view) {
		x->machine_view = false;
		rc = vmc_xcore_machine_view(d, x);
	}
	return rc;
}
