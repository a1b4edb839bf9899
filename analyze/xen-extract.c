/* xen-extract.c - one PV domain of a Xen host dump written as a dump of its
 * own (`salvage xen extract`, docs/formats.md §4.12).  Model only: nothing
 * here prints.
 *
 * The domain's pseudo-physical memory is read through its P2M tree, whose
 * top frame its shared_info publishes (arch.pfn_to_mfn_frame_list_list), by
 * the same view that opens dom0 (vmcore/xen.c): page-table pages come out
 * with machine frames turned into the guest's own frames.  The output is an
 * ELF core as /proc/vmcore would be in the guest: PT_LOADs in pseudo-physical
 * order (p_paddr = pfn * 4096; p_filesz 0 where the machine frame is not in
 * the host dump), a VMCOREINFO note (the guest's, found in its memory) and an
 * NT_PRSTATUS per vCPU from the registers Xen saved (§4.10).
 */
#include "xenext.h"
#include "xenbt.h"
#include "../xen-notes/xnote.h"
#include "../common/le.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PAGE 4096u
#define PRSTATUS_SIZE 336          /* x86_64 elf_prstatus */
#define PR_REG 112                 /* its pr_reg */
#define MAX_LOADS 65000            /* program headers, without PN_XNUM */
#define MAX_VCPUS 512

struct run {
	uint64_t start, n;
	bool present;
};

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

int az_xen_extract(vmc_dump *top, struct xnote_xen *hv, const struct xnote_domain *dom,
		   const char *path, struct az_extract_result *r, char *err, size_t errlen)
{
	struct xnote_shared_info si;
	vmc_dump *v = NULL;
	struct run *runs = NULL;
	size_t nruns = 0, cap = 0;
	struct az_vcpu *vc = NULL;
	size_t nvc = 0;
	uint8_t *hdr = NULL, *page = NULL;
	FILE *f = NULL;
	bool regular = false;     /* only a regular file is removed after a failure */
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (xnote_xen_shared_info(hv, dom, &si) != XNOTE_OK)
		return fail(err, errlen, "%s", hv->err);
	r->max_pfn = si.max_pfn;
	r->p2m_mfn = si.p2m_mfn;
	bool tree = si.p2m_mfn && si.p2m_mfn != ~0ULL;
	r->linear = !tree && si.p2m_vaddr && si.p2m_cr3;
	r->p2m_cr3 = si.p2m_cr3;
	r->p2m_vaddr = si.p2m_vaddr;
	if (!tree && !r->linear)
		return fail(err, errlen,
			    "domain %u: its shared_info (machine frame 0x%" PRIx64 ") has no P2M frame list "
			    "(pfn_to_mfn_frame_list_list 0x%" PRIx64 ") and no linear P2M (p2m_vaddr 0x%" PRIx64
			    "): only a PV guest publishes one; an HVM or "
			    "PVH guest's pseudo-physical map is Xen's own p2m, which the dump does not locate "
			    "without Xen's struct layouts (its machine frames: salvage xen frames)",
			    dom->id, si.mfn, si.p2m_mfn, si.p2m_vaddr);
	struct vmc_dom0_opts o = { .guest = true, .p2m_mfn = tree ? si.p2m_mfn : 0, .domid = dom->id,
				   .p2m_cr3 = si.p2m_cr3, .p2m_vaddr = si.p2m_vaddr,
				   .max_pfn = si.max_pfn };
	if (vmc_xen_dom0_open(top, &o, &v) != VMC_OK)
		return fail(err, errlen, "%s", vmc_errmsg(top));
	const struct vmc_dom0_info *in = vmc_xen_dom0_info(v);
	size_t vmci_len = 0;
	const char *vmci = vmc_xen_dom0_vmcoreinfo(v, &vmci_len);
	r->end_pfn = in->end_pfn;
	r->vmcoreinfo = vmci != NULL;
	r->osrelease = vmci ? vmc_vmcoreinfo_get(v, "OSRELEASE") : NULL;
	if (r->osrelease)
		snprintf(r->release, sizeof(r->release), "%s", r->osrelease);
	r->osrelease = r->osrelease ? r->release : NULL;

	/* runs of the domain's pfns with a machine frame: stored or not */
	for (uint64_t pfn = 0; pfn < in->end_pfn; pfn++) {
		uint64_t mfn;
		if (vmc_xen_dom0_pfn_to_mfn(v, pfn, &mfn) != VMC_OK)
			continue;
		bool present = vmc_page_state(top, mfn) == VMC_PAGE_PRESENT;
		r->pages++;
		r->present += present;
		if (nruns && runs[nruns - 1].start + runs[nruns - 1].n == pfn &&
		    runs[nruns - 1].present == present) {
			runs[nruns - 1].n++;
			continue;
		}
		if (nruns == cap) {
			if (cap >= MAX_LOADS) {
				fail(err, errlen, "domain %u: more than %u runs of pages (a damaged p2m?)",
				     dom->id, MAX_LOADS);
				goto out;
			}
			size_t nc = cap ? cap * 2 : 64;
			struct run *nr = realloc(runs, nc * sizeof(*nr));
			if (!nr) {
				fail(err, errlen, "out of memory");
				goto out;
			}
			runs = nr;
			cap = nc;
		}
		runs[nruns++] = (struct run){ pfn, 1, present };
	}
	if (!r->present) {
		fail(err, errlen, "domain %u: none of its %" PRIu64 " pages is in the dump%s", dom->id,
		     r->pages, r->pages ? " (their machine frames were left out, or its p2m points outside the dump)" : "");
		goto out;
	}

	/* its vCPUs' registers as Xen saved them */
	vc = calloc(MAX_VCPUS, sizeof(*vc));
	if (!vc) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (az_domain_vcpus(top, dom->id, vc, MAX_VCPUS, &nvc, r->vcpu_note, sizeof(r->vcpu_note)) < 0)
		nvc = 0;
	for (size_t i = 0; i < nvc; i++)
		r->vcpus_with_regs += vc[i].have_regs;
	r->vcpus = nvc;

	/* the file: ELF header, program headers, notes, then the pages */
	size_t notes = (vmci ? vmc_note_size(11, vmci_len) : 0) + nvc * vmc_note_size(5, PRSTATUS_SIZE);
	size_t note_off = (size_t)vmc_core_hdr_len(nruns);
	size_t hdr_len = note_off + notes;
	uint64_t data = (hdr_len + PAGE - 1) / PAGE * PAGE;
	hdr = calloc(1, (size_t)data);
	page = malloc(PAGE);
	if (!hdr || !page) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	vmc_core_hdr_put(hdr, &(struct vmc_core_hdr){ .machine = EM_X86_64, .nload = nruns,
						       .note_off = note_off, .note_len = notes,
						       .note_align = 4 });
	uint8_t *n = hdr + note_off;
	for (size_t i = 0; i < nvc; i++) {
		uint8_t pr[PRSTATUS_SIZE];
		memset(pr, 0, sizeof(pr));
		if (vc[i].have_regs) {
			for (int k = 0; k < 21; k++)
				le_put64(pr + PR_REG + 8 * k, vc[i].regs[k]);
		}
		n = vmc_note_put(n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	}
	if (vmci)
		n = vmc_note_put(n, "VMCOREINFO", 0, vmci, vmci_len);
	uint64_t off = data;
	for (size_t i = 0; i < nruns; i++) {
		uint64_t pa = runs[i].start * PAGE, sz = runs[i].n * PAGE;
		vmc_core_load_put(hdr, i, &(struct vmc_core_load){
			.offset = runs[i].present ? off : 0,
			.vaddr = in->page_offset ? in->page_offset + pa : pa, .paddr = pa,
			.filesz = runs[i].present ? sz : 0, .memsz = sz, .align = PAGE });
		if (runs[i].present)
			off += sz;
	}
	f = fopen(path, "wb");
	if (!f) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	struct stat st;
	regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	if (fwrite(hdr, 1, (size_t)data, f) != data) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < nruns; i++) {
		if (!runs[i].present)
			continue;
		for (uint64_t k = 0; k < runs[i].n; k++) {
			uint64_t pfn = runs[i].start + k;
			if (vmc_read_phys(v, pfn * PAGE, page, PAGE) != VMC_OK) {
				fail(err, errlen, "domain %u pfn 0x%" PRIx64 ": %s", dom->id, pfn,
				     vmc_errmsg(v));
				goto out;
			}
			if (fwrite(page, 1, PAGE, f) != PAGE) {
				fail(err, errlen, "%s: %s", path, strerror(errno));
				goto out;
			}
		}
	}
	if (fflush(f) != 0 || ferror(f)) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	r->bytes = off;
	rc = 0;
out:
	if (f && fclose(f) != 0 && rc == 0)
		rc = fail(err, errlen, "%s: %s", path, strerror(errno));
	if (rc < 0 && f && regular)
		remove(path);
	free(hdr);
	free(page);
	free(vc);
	free(runs);
	if (v)
		vmc_dump_destroy(v);
	return rc;
}
