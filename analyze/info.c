/* info.c - `salvage info [--json] DUMP`: what a dump is and what it holds. */
#include "salvage.h"
#include "xenbt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Facts gathered once, printed as text or JSON.  has_* false means unknown. */
struct facts {
	char format[32];
	const char *compression;
	const char *producer;
	const char *osrelease;
	const char *arch;
	uint32_t page_size;
	bool has_crash_time;
	int64_t crash_time;
	size_t cpus;
	int panic_cpu;
	bool page_size_known;
	bool has_phys_base;
	uint64_t phys_base;
	bool has_kaslr;
	uint64_t kaslr;
	bool has_level, bad_level;
	int level;
	bool incomplete;
	uint64_t present;       /* frames stored in the dump */
	uint64_t unwritten;     /* frames the dump should hold but never got */
	char xen_version[96];
	/* Xen: dom0's kernel through its P2M (the dom0 view) */
	char dom0_release[65], dom0_panic[256], dom0_err[256];
};

static void gather(vmc_dump *d, struct facts *f)
{
	int64_t n;
	uint64_t u;

	memset(f, 0, sizeof(*f));
	snprintf(f->format, sizeof(f->format), "%s%s",
		 vmc_format(d) == VMC_FMT_KDUMP ? "kdump" :
		 vmc_format(d) == VMC_FMT_XEN_CORE ? "xen-core" : "elf",
		 vmc_is_flattened(d) ? "-flattened" : "");
	f->compression = vmc_compression_name(vmc_compression(d));
	f->producer = vmc_producer(d);
	f->osrelease = vmc_vmcoreinfo_get(d, "OSRELEASE");
	if (!f->osrelease)
		f->osrelease = vmc_kdump_utsname(d, "release");
	f->arch = vmc_arch(d);
	if (!f->arch)
		f->arch = vmc_kdump_utsname(d, "machine");
	f->page_size = vmc_page_size(d);
	f->page_size_known = vmc_page_size_known(d);
	if (vmc_vmci_crashtime(d, &n) == VMC_OK || vmc_kdump_timestamp(d, &n) == VMC_OK) {
		f->has_crash_time = true;
		f->crash_time = n;
	}
	f->cpus = vmc_cpu_count(d);
	f->panic_cpu = vmc_panic_cpu(d);
	/* VMCOREINFO first: QEMU writes a wrong phys_base in its kdump sub header
	 * (docs/formats.md §5.3) */
	if (vmc_vmci_number(d, "phys_base", &n) == VMC_OK) {
		f->has_phys_base = true;
		f->phys_base = (uint64_t)n;
	} else if (vmc_kdump_phys_base(d, &u) == VMC_OK && strcmp(f->producer, "qemu") != 0 &&
		   !vmc_xen(d)) {
		f->has_phys_base = true;
		f->phys_base = u;
	}
	if (vmc_vmci_kerneloffset(d, &u) == VMC_OK) {
		f->has_kaslr = true;
		f->kaslr = u;
	}
	/* makedumpfile's levels are 0-31: anything else is a damaged header,
	 * not a level (an unknown value is never printed as a number) */
	if (vmc_kdump_dump_level(d, &f->level) == VMC_OK) {
		f->has_level = f->level >= 0 && f->level <= 31;
		f->bad_level = !f->has_level;
	}
	f->incomplete = vmc_incomplete(d);
	/* a dump cut short: the frames past the cut are not in it, even where
	 * its bitmap says they should be */
	f->present = vmc_pages_present(d);
	if (f->incomplete) {
		uint64_t max = vmc_max_pfn(d), run = 1;
		for (uint64_t pfn = 0; pfn < max; pfn += run)
			if (vmc_page_state_run(d, pfn, max - pfn, &run) == VMC_PAGE_INCOMPLETE)
				f->unwritten += run;
		f->present -= f->unwritten < f->present ? f->unwritten : f->present;
	}
	const struct vmc_xen *x = vmc_xen(d);
	if (x)
		snprintf(f->xen_version, sizeof(f->xen_version), "%" PRIu64 ".%" PRIu64 "%s",
			 x->major, x->minor, x->extra_version);
}

static void human_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	double v = (double)bytes;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* dom0's release and panic line, as `dmesg --dom0` reads them */
static void gather_dom0(vmc_dump *d, struct facts *f)
{
	vmc_dump *v = NULL;
	const char *rel;

	if (vmc_xen_dom0_open(d, NULL, &v) != VMC_OK) {
		snprintf(f->dom0_err, sizeof(f->dom0_err), "%s", az_dom0_errmsg(d));
		return;
	}
	rel = vmc_vmcoreinfo_get(v, "OSRELEASE");
	snprintf(f->dom0_release, sizeof(f->dom0_release), "%s", rel ? rel : "");
	az_log_panic(v, f->dom0_panic, sizeof(f->dom0_panic));
	vmc_dump_destroy(v);
}

/* The saved registers under the names of the dump's architecture. */
static void print_regs(vmc_dump *d, const struct vmc_cpu *c)
{
	const char *pc = vmc_cpu_reg_name(d, VMC_CPU_PC), *sp = vmc_cpu_reg_name(d, VMC_CPU_SP);
	const char *lr = vmc_cpu_reg_name(d, VMC_CPU_LR);

	if (!c->decoded) {
		printf("(registers of this machine not decoded)");
	} else {
		printf("%s 0x%016" PRIx64 " %s 0x%016" PRIx64, pc, c->pc, sp, c->sp);
		if (c->has_lr && lr)
			printf(" %s 0x%016" PRIx64, lr, c->lr);
	}
	printf(" pid %u\n", c->pid);
}

static void json_regs(struct az_json *j, vmc_dump *d, const struct vmc_cpu *c)
{
	const char *lr = vmc_cpu_reg_name(d, VMC_CPU_LR);

	if (!c->decoded) {
		az_json_kbool(j, "decoded", false);
		return;
	}
	az_json_khex(j, vmc_cpu_reg_name(d, VMC_CPU_PC), c->pc);
	az_json_khex(j, vmc_cpu_reg_name(d, VMC_CPU_SP), c->sp);
	if (c->has_lr && lr)
		az_json_khex(j, lr, c->lr);
}

static void print_text(vmc_dump *d, const struct facts *f)
{
	char sz[32];

	printf("format:        %s\n", f->format);
	printf("compression:   %s\n", f->compression);
	printf("producer:      %s\n", f->producer);
	char esc[512];

	printf("osrelease:     %s\n", f->osrelease ? az_tesc(esc, sizeof(esc), f->osrelease) : "(unknown)");
	printf("arch:          %s\n", f->arch ? az_tesc(esc, sizeof(esc), f->arch) : "(unknown)");
	if (f->page_size_known)
		printf("page size:     %u\n", f->page_size);
	else
		printf("page size:     (unknown: not in VMCOREINFO, not fixed by the machine)\n");
	if (f->has_crash_time) {
		char tb[64] = "";
		time_t t = (time_t)f->crash_time;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("crash time:    %s (%" PRId64 ")\n", tb, f->crash_time);
	} else {
		printf("crash time:    (unknown)\n");
	}
	printf("cpus:          %zu\n", f->cpus);
	if (f->panic_cpu >= 0) {
		const struct vmc_cpu *c = vmc_cpu(d, (size_t)f->panic_cpu);
		printf("panic cpu:     %d: ", f->panic_cpu);
		print_regs(d, c);
	} else {
		printf("panic cpu:     (not told by the dump alone)\n");
	}
	for (size_t i = 0; i < f->cpus && f->panic_cpu < 0; i++) {
		const struct vmc_cpu *c = vmc_cpu(d, i);
		if (c->empty)
			printf("  cpu %zu:       (no saved state)\n", i);
		else {
			printf("  cpu %zu:       ", i);
			print_regs(d, c);
		}
	}
	if (f->has_phys_base)
		printf("phys_base:     0x%" PRIx64 "\n", f->phys_base);
	else
		printf("phys_base:     (unknown)\n");
	if (f->has_kaslr)
		printf("kaslr offset:  0x%" PRIx64 "\n", f->kaslr);
	else
		printf("kaslr offset:  (unknown)\n");
	if (f->has_level)
		printf("dump level:    %d\n", f->level);
	else if (f->bad_level)
		printf("dump level:    (unknown: not a makedumpfile level)\n");
	printf("memory:        %zu range%s\n", vmc_range_count(d),
	       vmc_range_count(d) == 1 ? "" : "s");
	for (size_t i = 0; i < vmc_range_count(d); i++) {
		const struct vmc_range *r = &vmc_ranges(d)[i];
		human_size(sz, sizeof(sz), r->end - r->start);
		printf("  0x%012" PRIx64 "-0x%012" PRIx64 "  %s\n", r->start, r->end, sz);
	}
	human_size(sz, sizeof(sz), f->present * f->page_size);
	printf("pages:         %" PRIu64 " total, %" PRIu64 " in dump%s%s%s", vmc_pages_total(d),
	       f->present, f->page_size_known ? " (" : "", f->page_size_known ? sz : "",
	       f->page_size_known ? ")" : " (of 4096-byte units)");
	if (f->unwritten)
		printf(", %" PRIu64 " never written (cut short)", f->unwritten);
	printf("\n");
	printf("incomplete:    %s\n", f->incomplete ? "yes" : "no");
	const struct vmc_xen *x = vmc_xen(d);
	if (x) {
		printf("xen:\n");
		printf("  version:     %s\n", az_tesc(esc, sizeof(esc), f->xen_version));
		if (x->has_phys_start)
			printf("  phys start:  0x%" PRIx64 "\n", x->phys_start);
		else
			printf("  phys start:  (not in this CRASH_INFO layout)\n");
		printf("  pcpus:       %zu\n", x->pcpus);
		if (x->has_p2m)
			printf("  dom0 p2m:    frame 0x%" PRIx64 "\n", x->p2m_mfn);
		else
			printf("  dom0 p2m:    (not in this CRASH_INFO layout)\n");
		if (f->dom0_err[0])
			printf("  dom0:        (%s)\n", az_tesc(esc, sizeof(esc), f->dom0_err));
		else
			printf("  dom0:        %s\n", f->dom0_release[0] ?
			       az_tesc(esc, sizeof(esc), f->dom0_release) : "(release unknown)");
		if (f->dom0_panic[0])
			printf("  dom0 panic:  %s\n", az_tesc(esc, sizeof(esc), f->dom0_panic));
	}
	const struct vmc_xen_core *xc = vmc_xen_core(d);
	if (xc) {
		printf("xen guest:\n");
		printf("  type:        %s\n", xc->hvm ? "HVM (pages by pfn, .xen_pfn)" :
		       "PV (pages by pfn, machine frames in .xen_p2m)");
		if (xc->xen_major != UINT64_MAX)
			printf("  xen:         %" PRIu64 ".%" PRIu64 "%s\n", xc->xen_major, xc->xen_minor,
			       az_tesc(esc, sizeof(esc), xc->xen_extra));
		else
			printf("  xen:         (no version note)\n");
		printf("  vcpus:       %zu (header %" PRIu64 ")\n", xc->nvcpus, xc->header_vcpus);
		printf("  pages:       %" PRIu64 " (header %" PRIu64 ", %" PRIu64 " table entries)\n",
		       xc->pages, xc->header_pages, xc->entries);
		if (xc->vmcoreinfo_from)
			printf("  vmcoreinfo:  %s, pfn 0x%" PRIx64 "\n", xc->vmcoreinfo_from,
			       xc->vmcoreinfo_pfn);
		else
			printf("  vmcoreinfo:  (not found in the guest's memory)\n");
		for (size_t i = 0; i < xc->nvcpus; i++) {
			const struct vmc_xen_vcpu *v = &xc->vcpus[i];
			printf("  vcpu %zu:      rip 0x%016" PRIx64 " rsp 0x%016" PRIx64 " cr3 0x%" PRIx64,
			       i, v->rip, v->rsp, v->cr3);
			if (!xc->hvm && v->cr3_pfn_known)
				printf(" (pfn 0x%" PRIx64 ")", v->cr3_pfn);
			printf("%s%s\n", v->flags & 4 ? " kernel" : "", v->flags & 32 ? "" : " offline");
		}
	}
	if (vmc_warning_count(d)) {
		printf("warnings:\n");
		for (size_t i = 0; i < vmc_warning_count(d); i++)
			printf("  %s\n", az_tesc(esc, sizeof(esc), vmc_warning(d, i)));
	}
}

static void print_json(vmc_dump *d, const struct facts *f)
{
	struct az_json j;

	az_json_init(&j, stdout);
	az_json_begin_object(&j);
	az_json_kstr(&j, "format", f->format);
	az_json_kstr(&j, "compression", f->compression);
	az_json_kstr(&j, "osrelease", f->osrelease);
	az_json_kstr(&j, "arch", f->arch);
	az_json_key(&j, "page_size");
	if (f->page_size_known)
		az_json_u64(&j, f->page_size);
	else
		az_json_null(&j);
	az_json_ki64_if(&j, "crash_time", f->has_crash_time, f->crash_time);
	az_json_ku64(&j, "cpus", f->cpus);
	az_json_khex_if(&j, "phys_base", f->has_phys_base, f->phys_base);
	az_json_khex_if(&j, "kaslr_offset", f->has_kaslr, f->kaslr);
	az_json_kbool(&j, "incomplete", f->incomplete);
	az_json_key(&j, "warnings");
	az_json_begin_array(&j);
	for (size_t i = 0; i < vmc_warning_count(d); i++)
		az_json_str(&j, vmc_warning(d, i));
	az_json_end_array(&j);

	az_json_kstr(&j, "producer", f->producer);
	az_json_ki64_if(&j, "dump_level", f->has_level, f->level);
	az_json_key(&j, "panic_cpu");
	if (f->panic_cpu >= 0) {
		const struct vmc_cpu *c = vmc_cpu(d, (size_t)f->panic_cpu);
		az_json_begin_object(&j);
		az_json_ki64(&j, "cpu", f->panic_cpu);
		az_json_ku64(&j, "pid", c->pid);
		json_regs(&j, d, c);
		az_json_end_object(&j);
	} else {
		az_json_null(&j);
	}
	az_json_key(&j, "cpu_regs");
	az_json_begin_array(&j);
	for (size_t i = 0; i < f->cpus; i++) {
		const struct vmc_cpu *c = vmc_cpu(d, i);
		az_json_begin_object(&j);
		az_json_ku64(&j, "pid", c->pid);
		az_json_kbool(&j, "saved", !c->empty);
		json_regs(&j, d, c);
		if (c->has_cr) {
			az_json_khex(&j, "cr3", c->cr3);
		}
		az_json_end_object(&j);
	}
	az_json_end_array(&j);
	az_json_key(&j, "memory_ranges");
	az_json_begin_array(&j);
	for (size_t i = 0; i < vmc_range_count(d); i++) {
		const struct vmc_range *r = &vmc_ranges(d)[i];
		az_json_begin_object(&j);
		az_json_khex(&j, "start", r->start);
		az_json_khex(&j, "end", r->end);
		az_json_end_object(&j);
	}
	az_json_end_array(&j);
	az_json_key(&j, "pages");
	az_json_begin_object(&j);
	az_json_ku64(&j, "total", vmc_pages_total(d));
	az_json_ku64(&j, "present", f->present);
	az_json_ku64(&j, "unwritten", f->unwritten);
	az_json_end_object(&j);

	const struct vmc_xen_core *xc = vmc_xen_core(d);
	if (xc) {
		az_json_key(&j, "xen_core");
		az_json_begin_object(&j);
		az_json_kstr(&j, "type", xc->hvm ? "HVM" : "PV");
		if (xc->xen_major != UINT64_MAX) {
			char v[64];
			snprintf(v, sizeof(v), "%" PRIu64 ".%" PRIu64 "%s", xc->xen_major,
				 xc->xen_minor, xc->xen_extra);
			az_json_kstr(&j, "xen_version", v);
		} else {
			az_json_kstr(&j, "xen_version", NULL);
		}
		az_json_ku64(&j, "vcpus", xc->nvcpus);
		az_json_ku64(&j, "header_vcpus", xc->header_vcpus);
		az_json_ku64(&j, "pages", xc->pages);
		az_json_ku64(&j, "header_pages", xc->header_pages);
		az_json_ku64(&j, "entries", xc->entries);
		az_json_ku64(&j, "dropped", xc->dropped);
		az_json_kstr(&j, "vmcoreinfo_from", xc->vmcoreinfo_from);
		az_json_key(&j, "vcpu_regs");
		az_json_begin_array(&j);
		for (size_t i = 0; i < xc->nvcpus; i++) {
			const struct vmc_xen_vcpu *v = &xc->vcpus[i];
			az_json_begin_object(&j);
			az_json_khex(&j, "rip", v->rip);
			az_json_khex(&j, "rsp", v->rsp);
			az_json_khex(&j, "rflags", v->rflags);
			az_json_khex(&j, "cs", v->cs);
			az_json_khex(&j, "ss", v->ss);
			az_json_khex(&j, "cr3", v->cr3);
			az_json_khex_if(&j, "cr3_pfn", v->cr3_pfn_known, v->cr3_pfn);
			az_json_khex(&j, "flags", v->flags);
			az_json_khex(&j, "kernel_sp", v->kernel_sp);
			az_json_khex(&j, "gs_base_kernel", v->gs_base_kernel);
			az_json_end_object(&j);
		}
		az_json_end_array(&j);
		az_json_end_object(&j);
	}
	const struct vmc_xen *x = vmc_xen(d);
	if (x) {
		az_json_key(&j, "xen");
		az_json_begin_object(&j);
		az_json_kstr(&j, "version", f->xen_version);
		az_json_khex_if(&j, "phys_start", x->has_phys_start, x->phys_start);
		az_json_ku64(&j, "pcpus", x->pcpus);
		az_json_khex_if(&j, "p2m_mfn", x->has_p2m, x->p2m_mfn);
		az_json_kstr(&j, "dom0_release", f->dom0_release[0] ? f->dom0_release : NULL);
		az_json_kstr(&j, "dom0_panic", f->dom0_panic[0] ? f->dom0_panic : NULL);
		az_json_end_object(&j);
	}
	az_json_end_object(&j);
	az_json_finish(&j);
}

static const char info_usage[] =
"usage: salvage info [--json] DUMP [PART...]\n\n"
		   "Prints the dump's format and codec, kernel release, architecture, page\n"
		   "size, crash time, CPUs (the panic CPU's RIP/RSP when the dump tells it),\n"
		   "phys_base, KASLR offset, memory ranges, page counts, whether the dump is\n"
		   "incomplete, the quirks tolerated while reading it, and for Xen dumps the\n"
		   "hypervisor version, load address, physical CPU count, dom0 P2M frame, and\n"
		   "dom0's release and panic line (read through its P2M); for Xen guest\n"
		   "cores (xl dump-core) the guest type (PV/HVM), vCPUs and their saved\n"
		   "registers, and the guest's pages.\n"
		   "The parts of a makedumpfile --split set are given together.\n"
		   "  --json   stable machine-readable output (unknown values are null)\n";

static const struct az_cmd info_cmd = {
	.name = "info", .usage = info_usage, .opts = 0, .minpos = 1, .maxpos = 64,
};

int az_cmd_info(int argc, char **argv)
{
	struct az_args a;
	struct facts f;
	vmc_dump *d;
	int ret = az_args_status(az_parse_args(argc, argv, &info_cmd, &a));

	if (ret >= 0)
		return ret;
	if (a.npos == 1) {
		d = az_open(a.pos[0]);
	} else {
		/* a split set: the library names the part at fault */
		d = vmc_dump_create();
		if (d && vmc_open_paths(d, a.pos, (size_t)a.npos) < 0) {
			fprintf(stderr, "salvage: %s\n", vmc_errmsg(d));
			vmc_dump_destroy(d);
			d = NULL;
		}
	}
	if (!d)
		return AZ_EXIT_FAIL;
	gather(d, &f);
	if (vmc_xen(d))
		gather_dom0(d, &f);
	if (a.json)
		print_json(d, &f);
	else
		print_text(d, &f);
	vmc_dump_destroy(d);
	return fflush(stdout) == 0 ? AZ_EXIT_OK : AZ_EXIT_FAIL;
}
