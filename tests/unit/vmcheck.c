/* vmcheck - print what the vmcore library reads from a dump, for diffing
 * against .expect files.
 *
 *   vmcheck [--pages | --all] DUMP
 *
 * Without options it prints the metadata; --pages prints only the page listing,
 * --all both.  The listing covers every frame from 0 to max_pfn-1 as in tests/fixtures/README.md:
 * "pfn A data CRC32" per stored page, runs of other states collapsed
 * ("pfn A-B hole", "pfn A excluded", "pfn A incomplete": also a stored frame
 * whose data is missing), read errors as
 * "pfn A error: message".  Exit 0 if everything read, 1 otherwise.
 */
#include "../../vmcore/vmcore.h"
#include <elf.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *state_name(enum vmc_page_state s)
{
	switch (s) {
	case VMC_PAGE_HOLE: return "hole";
	case VMC_PAGE_EXCLUDED: return "excluded";
	case VMC_PAGE_PRESENT: return "data";
	case VMC_PAGE_INCOMPLETE: return "incomplete";
	}
	return "?";
}

static void print_meta(vmc_dump *d)
{
	int v;

	printf("format: %s%s\n", vmc_format(d) == VMC_FMT_KDUMP ? "kdump" :
	       vmc_format(d) == VMC_FMT_XEN_CORE ? "xen-core" : "elf",
	       vmc_is_flattened(d) ? " flattened" : "");
	printf("producer: %s\n", vmc_producer(d));
	printf("compression: %s\n", vmc_compression_name(vmc_compression(d)));
	if (vmc_page_size_known(d))
		printf("page_size: %u\n", vmc_page_size(d));
	else
		printf("page_size: unknown (unit %u)\n", vmc_page_size(d));
	printf("arch: %s\n", vmc_arch(d) ? vmc_arch(d) : "unknown");
	printf("incomplete: %s\n", vmc_incomplete(d) ? "yes" : "no");
	if (vmc_kdump_header_version(d, &v) == VMC_OK) {
		int lvl = -1;
		int64_t ts = 0;
		uint64_t pb = 0;
		vmc_kdump_dump_level(d, &lvl);
		vmc_kdump_timestamp(d, &ts);
		vmc_kdump_phys_base(d, &pb);
		printf("kdump: version %d level %d timestamp %" PRId64 " phys_base 0x%" PRIx64 "\n",
		       v, lvl, ts, pb);
		static const char *const f[] = { "sysname", "nodename", "release",
						 "version", "machine", "domainname" };
		for (int i = 0; i < 6; i++) {
			const char *s = vmc_kdump_utsname(d, f[i]);
			if (s)
				printf("utsname %s: %s\n", f[i], s);
		}
	}
	printf("max_pfn: 0x%" PRIx64 "\n", vmc_max_pfn(d));
	printf("pages: total %" PRIu64 " present %" PRIu64 "\n", vmc_pages_total(d),
	       vmc_pages_present(d));
	for (size_t i = 0; i < vmc_range_count(d); i++)
		printf("range: 0x%" PRIx64 "-0x%" PRIx64 "\n", vmc_ranges(d)[i].start,
		       vmc_ranges(d)[i].end);
	for (size_t i = 0; i < vmc_note_count(d); i++) {
		const struct vmc_note *n = vmc_note(d, i);
		printf("note %zu: \"%s\" type 0x%x descsz %u declared %u\n", i, n->name, n->type,
		       n->descsz, n->descsz_declared);
	}
	for (size_t i = 0; i < vmc_cpu_count(d); i++) {
		const struct vmc_cpu *c = vmc_cpu(d, i);
		if (vmc_elf_machine(d) != EM_X86_64) {
			printf("cpu %zu: pid %u %s", i, c->pid, c->empty ? "empty" : "saved");
			if (!c->decoded)
				printf(" registers not decoded\n");
			else if (c->has_lr)
				printf(" %s 0x%" PRIx64 " %s 0x%" PRIx64 " %s 0x%" PRIx64 "\n",
				       vmc_cpu_reg_name(d, VMC_CPU_PC), c->pc,
				       vmc_cpu_reg_name(d, VMC_CPU_SP), c->sp,
				       vmc_cpu_reg_name(d, VMC_CPU_LR), c->lr);
			else
				printf(" %s 0x%" PRIx64 " %s 0x%" PRIx64 "\n",
				       vmc_cpu_reg_name(d, VMC_CPU_PC), c->pc,
				       vmc_cpu_reg_name(d, VMC_CPU_SP), c->sp);
			continue;
		}
		printf("cpu %zu: pid %u %s rip 0x%" PRIx64 " rsp 0x%" PRIx64 " rax 0x%" PRIx64
		       " r15 0x%" PRIx64 " gs 0x%" PRIx64,
		       i, c->pid, c->empty ? "empty" : "saved", c->regs[VMC_REG_RIP],
		       c->regs[VMC_REG_RSP], c->regs[VMC_REG_RAX], c->regs[VMC_REG_R15],
		       c->regs[VMC_REG_GS]);
		if (c->has_cr)
			printf(" cr0 0x%" PRIx64 " cr2 0x%" PRIx64 " cr3 0x%" PRIx64 " cr4 0x%" PRIx64,
			       c->cr0, c->cr2, c->cr3, c->cr4);
		printf("\n");
	}
	printf("panic_cpu: %d\n", vmc_panic_cpu(d));
	for (size_t i = 0; i < vmc_vmcoreinfo_count(d); i++) {
		const struct vmc_kv *kv = vmc_vmcoreinfo_entry(d, i);
		printf("vmcoreinfo: %s=%s\n", kv->key, kv->value);
	}
	{
		/* typed look-ups of the common keys */
		uint64_t u;
		int64_t n;
		if (vmc_vmci_symbol(d, "init_uts_ns", &u) == VMC_OK)
			printf("symbol init_uts_ns: 0x%" PRIx64 "\n", u);
		if (vmc_vmci_number(d, "phys_base", &n) == VMC_OK)
			printf("number phys_base: %" PRId64 "\n", n);
		if (vmc_vmci_kerneloffset(d, &u) == VMC_OK)
			printf("kerneloffset: 0x%" PRIx64 "\n", u);
		if (vmc_vmci_crashtime(d, &n) == VMC_OK)
			printf("crashtime: %" PRId64 "\n", n);
	}
	size_t xl = 0;
	const char *xt = vmc_xen_vmcoreinfo_text(d, &xl);
	if (xt)
		printf("xen_vmcoreinfo: %zu bytes, PAGESIZE=%s SYMBOL(domain_list)=%s\n", xl,
		       vmc_xen_vmcoreinfo_get(d, "PAGESIZE") ? vmc_xen_vmcoreinfo_get(d, "PAGESIZE") : "-",
		       vmc_xen_vmcoreinfo_get(d, "SYMBOL(domain_list)") ?
		       vmc_xen_vmcoreinfo_get(d, "SYMBOL(domain_list)") : "-");
	const struct vmc_xen *x = vmc_xen(d);
	if (x) {
		printf("xen: %" PRIu64 ".%" PRIu64 " extra \"%s\" layout %u pcpus %zu", x->major,
		       x->minor, x->extra_version, x->layout_size, x->pcpus);
		if (x->has_phys_start)
			printf(" phys_start 0x%" PRIx64, x->phys_start);
		if (x->has_p2m)
			printf(" p2m_mfn 0x%" PRIx64, x->p2m_mfn);
		printf("\n");
	}
	const struct vmc_xen_core *xc = vmc_xen_core(d);
	if (xc) {
		printf("xen-core: %s magic 0x%" PRIx64 " header vcpus %" PRIu64 " pages %" PRIu64
		       " xen %" PRId64 ".%" PRId64 "%s format %" PRId64 " shared_info %s\n",
		       xc->hvm ? "hvm" : "pv", xc->magic, xc->header_vcpus, xc->header_pages,
		       (int64_t)xc->xen_major, (int64_t)xc->xen_minor, xc->xen_extra,
		       (int64_t)xc->format_version, xc->has_shared_info ? "yes" : "no");
		printf("xen-core: entries %" PRIu64 " pages %" PRIu64 " padding %" PRIu64
		       " dropped %" PRIu64 " vmcoreinfo %s pfn 0x%" PRIx64 "\n", xc->entries, xc->pages,
		       xc->padding, xc->dropped, xc->vmcoreinfo_from ? xc->vmcoreinfo_from : "-",
		       xc->vmcoreinfo_pfn);
		for (size_t i = 0; i < xc->nvcpus; i++) {
			const struct vmc_xen_vcpu *vc = &xc->vcpus[i];
			printf("xen-core vcpu %zu: flags 0x%" PRIx64 " rip 0x%" PRIx64 " rsp 0x%" PRIx64
			       " cs 0x%x ss 0x%x cr3 0x%" PRIx64, i, vc->flags, vc->rip, vc->rsp, vc->cs,
			       vc->ss, vc->cr3);
			if (vc->cr3_pfn_known)
				printf(" (pfn 0x%" PRIx64 ")", vc->cr3_pfn);
			printf(" kernel_sp 0x%" PRIx64 " gs_base_kernel 0x%" PRIx64 "\n", vc->kernel_sp,
			       vc->gs_base_kernel);
		}
		uint64_t m = 0, p = 0;
		for (size_t i = 0; i < vmc_range_count(d); i++) {
			uint64_t pfn = vmc_ranges(d)[i].start / 4096;
			if (vmc_xen_core_pfn_to_mfn(d, pfn, &m) == VMC_OK) {
				printf("xen-core p2m: pfn 0x%" PRIx64 " -> mfn 0x%" PRIx64, pfn, m);
				if (vmc_xen_core_mfn_to_pfn(d, m, &p) == VMC_OK)
					printf(" -> pfn 0x%" PRIx64, p);
				printf("\n");
			}
		}
	}
	if (vmc_pv_by_machine(d)) {
		/* a PV guest's dump by machine frame (docs/formats.md §4.9): the
		 * file's frame of every pfn, as runs, for a second reader that
		 * addresses the file by its own frames */
		uint64_t rp = 0, rm = 0, rn = 0, m = 0;
		for (size_t i = 0; i < vmc_range_count(d); i++) {
			uint64_t lo = vmc_ranges(d)[i].start / 4096, hi = vmc_ranges(d)[i].end / 4096;
			for (uint64_t pfn = lo; pfn < hi; pfn++) {
				if (vmc_xen_core_pfn_to_mfn(d, pfn, &m) != VMC_OK)
					continue;
				if (rn && pfn == rp + rn && m == rm + rn) {
					rn++;
					continue;
				}
				if (rn)
					printf("machine run: pfn 0x%" PRIx64 " mfn 0x%" PRIx64 " count %" PRIu64 "\n",
					       rp, rm, rn);
				rp = pfn, rm = m, rn = 1;
			}
		}
		if (rn)
			printf("machine run: pfn 0x%" PRIx64 " mfn 0x%" PRIx64 " count %" PRIu64 "\n", rp, rm, rn);
	}
	for (size_t i = 0; i < vmc_warning_count(d); i++)
		printf("warning: %s\n", vmc_warning(d, i));
}

static int list_pages(vmc_dump *d)
{
	uint64_t max = vmc_max_pfn(d), run_start = 0;
	enum vmc_page_state run = VMC_PAGE_HOLE;
	bool in_run = false;
	uint8_t *buf = malloc(vmc_page_size(d));
	int bad = 0;

	if (!buf)
		return 1;
	for (uint64_t p = 0; p <= max; p++) {
		enum vmc_page_state s = p < max ? vmc_page_state(d, p) : VMC_PAGE_PRESENT;
		if (in_run && (s != run || p == max)) {
			if (run_start == p - 1)
				printf("pfn 0x%" PRIx64 " %s\n", run_start, state_name(run));
			else
				printf("pfn 0x%" PRIx64 "-0x%" PRIx64 " %s\n", run_start, p - 1,
				       state_name(run));
			in_run = false;
		}
		if (p == max)
			break;
		if (s != VMC_PAGE_PRESENT) {
			if (!in_run) {
				in_run = true;
				run = s;
				run_start = p;
			}
			continue;
		}
		int rc = vmc_read_page(d, p, buf);
		if (rc == VMC_OK) {
			uLong crc = crc32(0L, buf, vmc_page_size(d));
			printf("pfn 0x%" PRIx64 " data %08lx\n", p, (unsigned long)crc);
		} else if (rc == VMC_NOPAGE) {
			/* stored frame whose data is missing: a descriptor left
			 * unwritten ("never written"), as for an unreadable source page */
			printf("pfn 0x%" PRIx64 " incomplete\n", p);
		} else {
			printf("pfn 0x%" PRIx64 " error: %s\n", p, vmc_errmsg(d));
			bad = 1;
		}
	}
	free(buf);
	/* vmc_page_state_run must agree with vmc_page_state frame by frame */
	for (uint64_t p = 0, len; p < max; p += len) {
		enum vmc_page_state s = vmc_page_state_run(d, p, max - p, &len);
		if (!len || len > max - p) {
			printf("error: vmc_page_state_run(0x%" PRIx64 ") gave a run of %" PRIu64 "\n", p, len);
			return 1;
		}
		for (uint64_t q = p; q < p + len; q++)
			if (vmc_page_state(d, q) != s) {
				printf("error: vmc_page_state_run(0x%" PRIx64 ") says %s for 0x%" PRIx64
				       ", vmc_page_state says %s\n", p, state_name(s), q,
				       state_name(vmc_page_state(d, q)));
				return 1;
			}
	}
	return bad;
}

int main(int argc, char **argv)
{
	bool pages = false, meta = true;
	const char *paths[16];
	size_t npaths = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages")) {
			pages = true;
			meta = false;
		} else if (!strcmp(argv[i], "--all")) {
			pages = true;
		}
		else if (npaths < sizeof(paths) / sizeof(paths[0]))
			paths[npaths++] = argv[i];
	}
	if (!npaths) {
		fprintf(stderr, "usage: vmcheck [--pages | --all] DUMP [PART...]\n");
		return 2;
	}
	vmc_dump *d = vmc_dump_create();
	if (!d)
		return 1;
	rc = vmc_open_paths(d, paths, npaths);
	if (rc < 0) {
		printf("error: %s\n", vmc_errmsg(d));
		vmc_dump_destroy(d);
		return 1;
	}
	if (meta)
		print_meta(d);
	rc = pages ? list_pages(d) : 0;
	vmc_dump_destroy(d);
	return rc;
}
