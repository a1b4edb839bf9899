/* xen.c - `salvage xen info|log|domains|p2m|frames [--json] [--xen-syms FILE] DUMP`:
 * the hypervisor side of a Xen dump, from the notes and VMCOREINFO_XEN alone,
 * with xen-syms (a symbol table is enough) for the console ring, the crashing
 * CPU and PDX compression; `xen bt`: each physical CPU's stack.
 */
#include "salvage.h"
#include "xsyms.h"
#include "xenbt.h"
#include "xenext.h"
#include "../xen-notes/xnote.h"
#include "../common/le.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DOMAINS 1024
#define STACK_SIZE (8 * 4096ULL)   /* Xen x86_64: 8 pages per CPU, 32 KiB aligned */
#define PRIMARY_STACK 0x6000ULL    /* pages 6-7: the primary stack */
#define MAX_COUNT_FRAMES (64ULL << 20)   /* frames scanned for per-domain counts */

struct xctx {
	const char *path;
	vmc_dump *d;
	struct xnote_xen *hv;
	bool hv_ok;
	char hv_err[512];
	struct az_xsyms *syms;
	const char *syms_path;
	bool syms_ok;                /* given and matching the dump */
	struct xnote_domain doms[MAX_DOMAINS];
	size_t ndoms;
	bool doms_ok;
	uint32_t dom0_owner;
	char warn[8][256];
	size_t nwarn;
};

static void warn(struct xctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct xctx *c, const char *fmt, ...)
{
	va_list ap;
	if (c->nwarn >= 8)
		return;
	va_start(ap, fmt);
	vsnprintf(c->warn[c->nwarn++], sizeof(c->warn[0]), fmt, ap);
	va_end(ap);
}

static bool sym(const struct xctx *c, const char *name, uint64_t *addr)
{
	return c->syms_ok && az_xsyms_find(c->syms, name, addr);
}

/* Set up the hypervisor context; check xen-syms against the dump. */
static void setup(struct xctx *c)
{
	c->hv = calloc(1, sizeof(*c->hv));
	if (!c->hv) {
		snprintf(c->hv_err, sizeof(c->hv_err), "out of memory");
		return;
	}
	if (vmc_xen_hv_init(c->d, c->hv) == VMC_OK) {
		c->hv_ok = true;
	} else {
		snprintf(c->hv_err, sizeof(c->hv_err), "%s", vmc_errmsg(c->d));
		warn(c, "%s", c->hv_err);
	}
	if (c->syms) {
		size_t len = 0;
		uint64_t va = 0;
		const uint8_t *id = az_xsyms_build_id(c->syms, &len, &va);
		uint8_t mem[64];
		if (!c->hv_ok) {
			warn(c, "%s: cannot be checked against the dump; not used", c->syms_path);
		} else if (!id) {
			warn(c, "%s: no build id; used unchecked", c->syms_path);
			c->syms_ok = true;
		} else if (xnote_xen_read(c->hv, va, mem, len) != XNOTE_OK) {
			warn(c, "%s: the dump lacks Xen's build id at 0x%" PRIx64 "; used unchecked",
			     c->syms_path, va);
			c->syms_ok = true;
		} else if (memcmp(mem, id, len) != 0) {
			warn(c, "%s: build id differs from the dumped Xen's; not used", c->syms_path);
		} else {
			c->syms_ok = true;
		}
	}
	if (c->syms_ok) {
		uint64_t a = 0, b = 0, t = 0;
		sym(c, "pfn_pdx_hole_shift", &a);
		sym(c, "pfn_pdx_bottom_mask", &b);
		sym(c, "pfn_top_mask", &t);
		if (a && xnote_xen_set_pdx(c->hv, a, b, t) != XNOTE_OK)
			warn(c, "PDX compression parameters unreadable: %s", c->hv->err);
	}
	if (c->hv_ok) {
		c->doms_ok = xnote_xen_domains(c->hv, c->doms, MAX_DOMAINS, &c->ndoms) == XNOTE_OK;
		if (!c->doms_ok)
			warn(c, "domain_list: %s", c->hv->err);
		if (c->ndoms > MAX_DOMAINS)
			c->ndoms = MAX_DOMAINS;
		for (size_t i = 0; i < c->ndoms; i++)
			if (c->doms[i].id == 0)
				c->dom0_owner = c->doms[i].owner;
	}
}

/* ---- console ring --------------------------------------------------------- */

struct ring {
	char *text;
	size_t len;
	bool wrapped;
	const char *source;        /* "xen-syms", "scan" */
	uint64_t maddr;            /* scan: where it was found */
};

/* Without symbols: the longest run of Xen heap frames full of "(XEN) " lines. */
static int ring_scan(struct xctx *c, struct ring *r)
{
	uint64_t best_start = 0, best_n = 0, best_score = 0, run_start = 0, run_n = 0, run_score = 0;
	uint64_t max = vmc_max_pfn(c->d);
	uint8_t *page = malloc(4096);

	if (!page)
		return -1;
	if (!c->hv->have_frame_table)
		return free(page), -1;
	for (uint64_t m = 0; m <= max; m++) {
		struct xnote_page_info pi;
		unsigned score = 0;
		if (m < max && vmc_page_state(c->d, m) == VMC_PAGE_PRESENT &&
		    xnote_xen_page_info(c->hv, m, &pi) == XNOTE_OK && pi.xen_heap &&
		    vmc_read_page(c->d, m, page) == VMC_OK)
			score = xnote_conring_score(page, 4096);
		if (score) {
			if (!run_n)
				run_start = m, run_score = 0;
			run_n++;
			run_score += score;
			continue;
		}
		if (run_n && run_score > best_score)
			best_start = run_start, best_n = run_n, best_score = run_score;
		run_n = 0;
	}
	free(page);
	if (!best_n)
		return -1;
	/* the ring is a power of two of pages; an unwritten tail reads as NULs */
	r->text = malloc(best_n * 4096 + 1);
	if (!r->text)
		return -1;
	if (vmc_read_phys(c->d, best_start * 4096, r->text, best_n * 4096) != VMC_OK) {
		free(r->text);
		r->text = NULL;
		return -1;
	}
	r->len = strnlen(r->text, best_n * 4096);
	r->wrapped = r->len == best_n * 4096;
	r->source = "scan";
	r->maddr = best_start * 4096;
	return 0;
}

static int ring_read(struct xctx *c, struct ring *r)
{
	struct xnote_conring_syms s = { 0, 0, 0, 0 };

	memset(r, 0, sizeof(*r));
	if (!c->hv_ok)
		return -1;
	if (sym(c, "conring", &s.conring) && sym(c, "conring_size", &s.conring_size) &&
	    sym(c, "conringp", &s.conringp)) {
		sym(c, "conringc", &s.conringc);
		size_t cap = 64u << 20;
		r->text = malloc(cap);
		if (!r->text)
			return -1;
		if (xnote_xen_conring(c->hv, &s, r->text, cap, &r->len, &r->wrapped) == XNOTE_OK) {
			r->source = "xen-syms";
			return 0;
		}
		warn(c, "console ring through xen-syms: %s", c->hv->err);
		free(r->text);
		r->text = NULL;
	}
	return ring_scan(c, r);
}

/* ---- facts ------------------------------------------------------------------- */

/* Which physical CPU ran the crash path. */
static int crashing_cpu(struct xctx *c, const struct ring *r, const char **how)
{
	uint64_t a;
	uint8_t b[4];
	size_t n = vmc_cpu_count(c->d);

	/* one_cpu_only()'s function-static (common/kexec.c), set by cmpxchg */
	if (c->hv_ok && sym(c, "crashing_cpu", &a) && xnote_xen_read(c->hv, a, b, 4) == XNOTE_OK) {
		uint32_t v = le_get32(b);
		if (v < n) {
			*how = "xen-syms";
			return (int)v;
		}
	}
	/* its message, "Executing kexec image on cpuN", last in the ring */
	if (r && r->text) {
		const char *key = "Executing kexec image on cpu", *p = r->text, *last = NULL;
		while ((p = memmem(p, r->len - (size_t)(p - r->text), key, strlen(key))) != NULL)
			last = p++;
		if (last) {
			long v = strtol(last + strlen(key), NULL, 10);
			if (v >= 0 && (size_t)v < n) {
				*how = "console ring";
				return (int)v;
			}
		}
	}
	/* The crashing CPU saves its registers on its primary stack; the others
	 * save them in the crash NMI handler, on an IST stack page, unless the
	 * NMI came in guest context (Xen then moves to the primary stack). */
	int primary = -1, nprimary = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vmc_cpu *cpu = vmc_cpu(c->d, i);
		if (cpu->empty)
			continue;
		if ((cpu->regs[VMC_REG_RSP] & (STACK_SIZE - 1)) >= PRIMARY_STACK) {
			primary = (int)i;
			nprimary++;
		}
	}
	if (nprimary == 1) {
		*how = "stacks";
		return primary;
	}
	*how = NULL;
	return -1;
}

static void read_str(struct xctx *c, uint64_t ma, char *buf, size_t cap)
{
	buf[0] = 0;
	if (ma && xnote_read_string(vmc_xen_read_machine, c->d, ma, buf, cap) != XNOTE_OK)
		buf[0] = 0;
}

struct dom0_facts {
	bool ok;
	const char *osrelease;
	const char *from;
	uint64_t end_pfn, valid, present;
	char err[256];
	vmc_dump *view;
};

static void dom0_facts(struct xctx *c, struct dom0_facts *f)
{
	memset(f, 0, sizeof(*f));
	if (vmc_xen_dom0_open(c->d, NULL, &f->view) != VMC_OK) {
		snprintf(f->err, sizeof(f->err), "%s", az_dom0_errmsg(c->d));
		return;
	}
	const struct vmc_dom0_info *in = vmc_xen_dom0_info(f->view);
	f->ok = true;
	f->osrelease = vmc_vmcoreinfo_get(f->view, "OSRELEASE");
	f->from = in->vmcoreinfo_from;
	f->end_pfn = in->end_pfn;
	f->valid = in->pages_valid;
	f->present = in->pages_present;
}

/* ---- info -------------------------------------------------------------------- */

static int cmd_info(struct xctx *c, bool json)
{
	const struct vmc_xen *x = vmc_xen(c->d);
	char extra[128], changeset[128], compiler[256], date[128], tm[64], version[192];
	struct ring r;
	struct dom0_facts d0;
	const char *how = NULL;
	uint64_t ps = 0;
	bool derived = false;

	read_str(c, x->extra_version_addr, extra, sizeof(extra));
	read_str(c, x->changeset_addr, changeset, sizeof(changeset));
	read_str(c, x->compiler_addr, compiler, sizeof(compiler));
	read_str(c, x->compile_date_addr, date, sizeof(date));
	read_str(c, x->compile_time_addr, tm, sizeof(tm));
	snprintf(version, sizeof(version), "%" PRIu64 ".%" PRIu64 "%s", x->major, x->minor, extra);
	bool have_ps = vmc_xen_phys_start(c->d, &ps, &derived) == VMC_OK;
	ring_read(c, &r);
	int ccpu = crashing_cpu(c, &r, &how);
	dom0_facts(c, &d0);
	size_t n = vmc_cpu_count(c->d);

	if (!json) {
		char esc[1024], esc2[1024];
		printf("xen:           %s\n", az_tesc(esc, sizeof(esc), version));
		printf("changeset:     %s\n", changeset[0] ? az_tesc(esc, sizeof(esc), changeset) : "(none)");
		printf("compiler:      %s\n", compiler[0] ? az_tesc(esc, sizeof(esc), compiler) : "(unknown)");
		/* Xen's compile date usually holds the time already */
		printf("compiled:      %s%s%s\n", az_tesc(esc, sizeof(esc), date), strstr(date, tm) ? "" : " ",
		       strstr(date, tm) ? "" : az_tesc(esc2, sizeof(esc2), tm));
		printf("tainted:       0x%" PRIx64 "\n", x->tainted);
		printf("crash info:    %u-byte layout\n", x->layout_size);
		if (have_ps)
			printf("phys start:    0x%" PRIx64 "%s\n", ps,
			       derived ? " (derived from the page tables)" : "");
		else
			printf("phys start:    (unknown)\n");
		if (c->hv_ok) {
			printf("virt start:    0x%" PRIx64 "\n", c->hv->virt_start);
			printf("frame table:   0x%" PRIx64 " (count_info layout %s%s)\n",
			       c->hv->frame_table, xnote_pgc_layout_name(c->hv->pgc),
			       c->hv->pdx_hole_shift ? ", PDX compression" : "");
			printf("max page:      0x%" PRIx64 "\n", c->hv->max_page);
		}
		printf("pcpus:         %zu\n", n);
		for (size_t i = 0; i < n; i++) {
			const struct vmc_cpu *cpu = vmc_cpu(c->d, i);
			if (cpu->empty) {
				printf("  cpu %zu:       (no saved state)\n", i);
				continue;
			}
			printf("  cpu %zu:       rip 0x%016" PRIx64 " rsp 0x%016" PRIx64, i,
			       cpu->regs[VMC_REG_RIP], cpu->regs[VMC_REG_RSP]);
			if (cpu->has_cr)
				printf(" cr3 0x%" PRIx64, cpu->cr3);
			printf("%s\n", (int)i == ccpu ? "  <- crashed" : "");
		}
		if (ccpu >= 0)
			printf("crashing cpu:  %d (from the %s)\n", ccpu, how);
		else
			printf("crashing cpu:  (not told by the dump; give --xen-syms)\n");
		/* how many, then their ids: "domains: 0" read as a count */
		if (c->ndoms) {
			printf("domains:       %zu (id%s", c->ndoms, c->ndoms > 1 ? "s" : "");
			for (size_t i = 0; i < c->ndoms; i++)
				printf(" %u", c->doms[i].id);
			printf(")\n");
		} else {
			printf("domains:       (unknown)\n");
		}
		if (d0.ok)
			printf("dom0:          %s, %" PRIu64 " pages (%" PRIu64 " in the dump), VMCOREINFO from %s\n",
			       d0.osrelease ? az_tesc(esc, sizeof(esc), d0.osrelease) : "(release unknown)",
			       d0.valid, d0.present, d0.from ? d0.from : "nowhere");
		else
			printf("dom0:          (%s)\n", d0.err);
		if (r.source)
			printf("console ring:  %zu bytes (%s%s)\n", r.len, r.source,
			       r.wrapped ? ", wrapped" : "");
		for (size_t i = 0; i < c->nwarn; i++)
			printf("warning:       %s\n", az_tesc(esc, sizeof(esc), c->warn[i]));
	} else {
		struct az_json j;
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_kstr(&j, "version", version);
		az_json_ku64(&j, "major", x->major);
		az_json_ku64(&j, "minor", x->minor);
		az_json_kstr(&j, "extra_version", extra);
		az_json_kstr(&j, "changeset", changeset);
		az_json_kstr(&j, "compiler", compiler);
		az_json_kstr(&j, "compile_date", date);
		az_json_kstr(&j, "compile_time", tm);
		az_json_khex(&j, "tainted", x->tainted);
		az_json_ku64(&j, "crash_info_size", x->layout_size);
		az_json_khex_if(&j, "phys_start", have_ps, ps);
		az_json_kbool(&j, "phys_start_derived", derived);
		az_json_kstr(&j, "count_info_layout", c->hv_ok ? xnote_pgc_layout_name(c->hv->pgc) : NULL);
		az_json_key(&j, "pcpus");
		az_json_begin_array(&j);
		for (size_t i = 0; i < n; i++) {
			const struct vmc_cpu *cpu = vmc_cpu(c->d, i);
			az_json_begin_object(&j);
			az_json_ku64(&j, "cpu", i);
			az_json_kbool(&j, "saved", !cpu->empty);
			az_json_khex(&j, "rip", cpu->regs[VMC_REG_RIP]);
			az_json_khex(&j, "rsp", cpu->regs[VMC_REG_RSP]);
			az_json_key(&j, "cr0");
			cpu->has_cr ? az_json_hex(&j, cpu->cr0) : az_json_null(&j);
			az_json_key(&j, "cr3");
			cpu->has_cr ? az_json_hex(&j, cpu->cr3) : az_json_null(&j);
			az_json_key(&j, "cr4");
			cpu->has_cr ? az_json_hex(&j, cpu->cr4) : az_json_null(&j);
			az_json_end_object(&j);
		}
		az_json_end_array(&j);
		az_json_key(&j, "crashing_cpu");
		ccpu >= 0 ? az_json_i64(&j, ccpu) : az_json_null(&j);
		az_json_kstr(&j, "crashing_cpu_from", how);
		az_json_key(&j, "domains");
		az_json_begin_array(&j);
		for (size_t i = 0; i < c->ndoms; i++)
			az_json_u64(&j, c->doms[i].id);
		az_json_end_array(&j);
		az_json_key(&j, "dom0");
		if (d0.ok) {
			az_json_begin_object(&j);
			az_json_kstr(&j, "osrelease", d0.osrelease);
			az_json_kstr(&j, "vmcoreinfo_from", d0.from);
			az_json_ku64(&j, "pages", d0.valid);
			az_json_ku64(&j, "pages_in_dump", d0.present);
			az_json_end_object(&j);
		} else {
			az_json_null(&j);
		}
		az_json_kstr(&j, "console_ring", r.source);
		az_json_key(&j, "warnings");
		az_json_begin_array(&j);
		for (size_t i = 0; i < vmc_warning_count(c->d); i++)
			az_json_str(&j, vmc_warning(c->d, i));
		for (size_t i = 0; i < c->nwarn; i++)
			az_json_str(&j, c->warn[i]);
		az_json_end_array(&j);
		az_json_end_object(&j);
		az_json_finish(&j);
	}
	if (d0.view)
		vmc_dump_destroy(d0.view);
	free(r.text);
	return AZ_EXIT_OK;
}

/* ---- log ----------------------------------------------------------------------- */

static int cmd_log(struct xctx *c, bool json)
{
	struct ring r;

	if (ring_read(c, &r) != 0) {
		fprintf(stderr, "salvage: %s: Xen's console ring not found%s\n", c->path,
			c->syms_ok ? "" : " (give --xen-syms for its symbols)");
		for (size_t i = 0; i < c->nwarn; i++)
			fprintf(stderr, "salvage: %s: warning: %s\n", c->path, c->warn[i]);
		return AZ_EXIT_FAIL;
	}
	if (!strcmp(r.source, "scan"))
		fprintf(stderr, "salvage: %s: console ring found by scanning Xen's heap at 0x%" PRIx64
			"%s\n", c->path, r.maddr,
			r.wrapped ? "; it is full, so its oldest line is not known (give --xen-syms)" : "");
	if (!json) {
		az_tput(stdout, r.text, r.len, true);
		if (r.len && r.text[r.len - 1] != '\n')
			putchar('\n');
	} else {
		struct az_json j;
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_kstr(&j, "source", r.source);
		az_json_kbool(&j, "wrapped", r.wrapped);
		az_json_key(&j, "lines");
		az_json_begin_array(&j);
		for (size_t i = 0; i < r.len;) {
			char *nl = memchr(r.text + i, '\n', r.len - i);
			size_t l = nl ? (size_t)(nl - (r.text + i)) : r.len - i;
			char save = r.text[i + l];
			r.text[i + l] = 0;
			az_json_str(&j, r.text + i);
			r.text[i + l] = save;
			i += l + 1;
		}
		az_json_end_array(&j);
		az_json_end_object(&j);
		az_json_finish(&j);
	}
	free(r.text);
	return AZ_EXIT_OK;
}

/* ---- domains and frames ----------------------------------------------------------- */

/* What is known of one domain without its struct layout (docs/formats.md §4.12). */
struct dom_facts {
	const char *type;          /* "pv", "hvm|pvh", NULL unknown */
	const char *type_from;
	size_t vcpus;              /* 0: vcpu[] not found */
	bool have_shinfo;
	struct xnote_shared_info si;
	uint64_t pages, present;   /* frames it owns (tot_pages), those in the dump */
};

#define MAX_DOM_VCPUS 4096

static bool p2m_frame_ok(uint64_t m)
{
	return m && m != ~0ULL && m < (1ULL << 40);
}

static void dom_facts(struct xctx *c, const struct xnote_domain *dom, struct dom_facts *f)
{
	const struct vmc_xen *vx = vmc_xen(c->d);
	uint64_t *v = calloc(MAX_DOM_VCPUS, sizeof(*v));
	size_t pv = 0;

	memset(f, 0, sizeof(*f));
	f->have_shinfo = xnote_xen_shared_info(c->hv, dom, &f->si) == XNOTE_OK;
	c->hv->err[0] = 0;
	if (v) {
		f->vcpus = az_xen_vcpu_array(c->hv, dom->va, v, MAX_DOM_VCPUS);
		for (size_t k = 0; k < f->vcpus; k++)
			pv += az_xen_vcpu_pv(c->hv, v[k]);
		free(v);
	}
	if (dom->id == 0 && vx->has_p2m && p2m_frame_ok(vx->p2m_mfn)) {
		f->type = "pv";
		f->type_from = "CRASH_INFO's P2M frame list";
	} else if (f->have_shinfo && p2m_frame_ok(f->si.p2m_mfn)) {
		f->type = "pv";
		f->type_from = "shared_info's P2M frame list";
	} else if (f->have_shinfo && f->si.p2m_vaddr && f->si.p2m_cr3) {
		f->type = "pv";
		f->type_from = "shared_info's linear P2M";
	} else if (pv) {
		f->type = "pv";
		f->type_from = "vCPU registers (PV selectors)";
	} else if (f->vcpus) {
		/* a PV vCPU gets its PV selectors from its first context; an HVM
		 * container's state is in the VMCS/VMCB.  HVM and PVH differ by
		 * d->arch.emulation_flags, whose offset the dump does not give */
		f->type = "hvm|pvh";
		f->type_from = "vCPUs without PV selectors";
	}
}

static int cmd_domains(struct xctx *c, bool json)
{
	struct dom_facts *f = calloc(c->ndoms ? c->ndoms : 1, sizeof(*f));
	uint64_t max = c->hv_ok ? c->hv->max_page : 0;
	bool counted = false;

	if (!c->hv_ok || !c->doms_ok) {
		fprintf(stderr, "salvage: %s: %s\n", c->path,
			!c->hv_ok ? c->hv_err : c->nwarn ? c->warn[c->nwarn - 1] :
			"domain_list could not be walked");
		free(f);
		return AZ_EXIT_FAIL;
	}
	if (!f) {
		fprintf(stderr, "salvage: out of memory\n");
		return AZ_EXIT_FAIL;
	}
	for (size_t i = 0; i < c->ndoms; i++)
		dom_facts(c, &c->doms[i], &f[i]);
	/* frames each domain owns (tot_pages: allocated, in use, not Xen-heap
	 * pages shared with it), from page_info, kept in filtered dumps */
	if (c->hv->have_frame_table && max && max <= MAX_COUNT_FRAMES) {
		counted = true;
		for (uint64_t m = 0; m < max; m++) {
			struct xnote_page_info pi;
			if (xnote_xen_page_info(c->hv, m, &pi) != XNOTE_OK || !pi.allocated ||
			    pi.xen_heap || pi.state != XNOTE_PGS_INUSE || pi.broken || !pi.owner)
				continue;
			for (size_t i = 0; i < c->ndoms; i++)
				if (pi.owner == c->doms[i].owner) {
					f[i].pages++;
					f[i].present += vmc_page_state(c->d, m) == VMC_PAGE_PRESENT;
					break;
				}
		}
	}
	if (!json) {
		printf("%-6s %-8s %5s %9s %9s %5s  %-18s  %s\n", "domain", "type", "vcpus", "pages",
		       "in dump", "", "struct domain", "p2m (shared_info)");
		for (size_t i = 0; i < c->ndoms; i++) {
			char vc[16], pg[24], pr[24], pc[16], p2m[64];
			snprintf(vc, sizeof(vc), f[i].vcpus ? "%zu" : "?", f[i].vcpus);
			snprintf(pg, sizeof(pg), counted ? "%" PRIu64 : "?", f[i].pages);
			snprintf(pr, sizeof(pr), counted ? "%" PRIu64 : "?", f[i].present);
			if (counted && f[i].pages)
				snprintf(pc, sizeof(pc), "%3u%%",
					 (unsigned)(f[i].present * 100 / f[i].pages));
			else
				snprintf(pc, sizeof(pc), "-");
			if (f[i].have_shinfo && p2m_frame_ok(f[i].si.p2m_mfn))
				snprintf(p2m, sizeof(p2m), "mfn 0x%" PRIx64 ", max_pfn 0x%" PRIx64,
					 f[i].si.p2m_mfn, f[i].si.max_pfn);
			else if (f[i].have_shinfo && f[i].si.p2m_vaddr && f[i].si.p2m_cr3)
				snprintf(p2m, sizeof(p2m), "linear at 0x%" PRIx64 ", max_pfn 0x%" PRIx64,
					 f[i].si.p2m_vaddr, f[i].si.max_pfn);
			else if (f[i].have_shinfo)
				snprintf(p2m, sizeof(p2m), "none");
			else
				snprintf(p2m, sizeof(p2m), "(shared_info not found)");
			printf("%-6u %-8s %5s %9s %9s %5s  0x%016" PRIx64 "  %s\n", c->doms[i].id,
			       f[i].type ? f[i].type : "?", vc, pg, pr, pc, c->doms[i].va, p2m);
		}
		for (size_t i = 0; i < c->nwarn; i++)
			fprintf(stderr, "salvage: %s: warning: %s\n", c->path, c->warn[i]);
	} else {
		struct az_json j;
		az_json_init(&j, stdout);
		az_json_begin_array(&j);
		for (size_t i = 0; i < c->ndoms; i++) {
			az_json_begin_object(&j);
			az_json_ku64(&j, "id", c->doms[i].id);
			az_json_kstr(&j, "type", f[i].type);
			az_json_kstr(&j, "type_from", f[i].type_from);
			az_json_key(&j, "vcpus");
			f[i].vcpus ? az_json_u64(&j, f[i].vcpus) : az_json_null(&j);
			az_json_key(&j, "pages");
			counted ? az_json_u64(&j, f[i].pages) : az_json_null(&j);
			az_json_key(&j, "pages_in_dump");
			counted ? az_json_u64(&j, f[i].present) : az_json_null(&j);
			az_json_khex(&j, "struct_domain", c->doms[i].va);
			az_json_khex(&j, "maddr", c->doms[i].maddr);
			az_json_khex_if(&j, "shared_info", f[i].have_shinfo, f[i].si.va);
			az_json_khex_if(&j, "p2m_mfn", f[i].have_shinfo && p2m_frame_ok(f[i].si.p2m_mfn),
					f[i].si.p2m_mfn);
			az_json_khex_if(&j, "p2m_vaddr", f[i].have_shinfo && f[i].si.p2m_vaddr,
					f[i].si.p2m_vaddr);
			az_json_key(&j, "max_pfn");
			f[i].have_shinfo && (p2m_frame_ok(f[i].si.p2m_mfn) || f[i].si.p2m_vaddr)
				? az_json_u64(&j, f[i].si.max_pfn) : az_json_null(&j);
			az_json_end_object(&j);
		}
		az_json_end_array(&j);
		az_json_finish(&j);
	}
	free(f);
	return AZ_EXIT_OK;
}

static void print_run(struct az_json *j, bool json, uint64_t a, uint64_t b, const char *what,
		      const char *state)
{
	if (!json) {
		if (a == b)
			printf("mfn 0x%" PRIx64 " %s%s%s\n", a, what, state ? " " : "", state ? state : "");
		else
			printf("mfn 0x%" PRIx64 "-0x%" PRIx64 " %s%s%s\n", a, b, what, state ? " " : "",
			       state ? state : "");
		return;
	}
	az_json_begin_object(j);
	az_json_khex(j, "start", a);
	az_json_khex(j, "end", b);
	az_json_kstr(j, "owner", what);
	az_json_kstr(j, "in_dump", state);
	az_json_end_object(j);
}

/* Machine frames of the dump's memory map by owner, as runs. */
static int cmd_frames(struct xctx *c, bool json)
{
	struct az_json j;
	uint64_t start = 0, prev_o = ~0ULL, prev_s = ~0ULL, max = vmc_max_pfn(c->d);
	static const char *const st[] = { "hole", "excluded", NULL, "incomplete" };

	if (!c->hv_ok || !c->hv->have_frame_table || !c->dom0_owner) {
		/* say what is missing, never an empty "()" */
		const char *why = !c->hv_ok ? c->hv_err :
				  !c->hv->have_frame_table ?
				  "VMCOREINFO_XEN lacks frame_table or the page_info and domain layouts" :
				  !c->doms_ok ? "domain_list could not be walked" :
				  "domain 0 is not on domain_list";
		if (c->hv_ok && c->hv->err[0] && !c->doms_ok)
			why = c->hv->err;
		fprintf(stderr, "salvage: %s: frame ownership needs frame_table and domain 0 (%s)\n",
			c->path, why);
		return AZ_EXIT_FAIL;
	}
	if (json) {
		az_json_init(&j, stdout);
		az_json_begin_array(&j);
	}
	for (uint64_t m = 0; m <= max; m++) {
		uint64_t o = ~1ULL, s = 0;
		if (m < max) {
			s = vmc_page_state(c->d, m);
			o = s == VMC_PAGE_HOLE ? ~1ULL
			    : xnote_xen_frame_owner(c->hv, m, c->dom0_owner, NULL);
		}
		if (m && (o != prev_o || s != prev_s)) {
			if (prev_o != ~1ULL)
				print_run(&j, json, start, m - 1,
					  xnote_frame_owner_name((enum xnote_frame_owner)prev_o),
					  st[prev_s & 3]);
			start = m;
		}
		prev_o = o;
		prev_s = s;
	}
	if (json) {
		az_json_end_array(&j);
		az_json_finish(&j);
	}
	return AZ_EXIT_OK;
}

/* dom0's P2M as runs (pfn -> mfn). */
static int cmd_p2m(struct xctx *c, bool json)
{
	vmc_dump *v = NULL;
	struct az_json j;

	if (vmc_xen_dom0_open(c->d, &(struct vmc_dom0_opts){ .no_scan = true }, &v) != VMC_OK) {
		fprintf(stderr, "salvage: %s: %s\n", c->path, vmc_errmsg(c->d));
		return AZ_EXIT_FAIL;
	}
	const struct vmc_dom0_info *in = vmc_xen_dom0_info(v);
	if (json) {
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_khex(&j, "p2m_mfn", in->p2m_mfn);
		az_json_khex(&j, "end_pfn", in->end_pfn);
		static const char *const k[] = { "valid", "identity", "foreign", "invalid", "missing" };
		const uint64_t cnt[] = { in->pages_valid, in->pages_identity, in->pages_foreign,
					 in->pages_invalid, in->pages_missing };
		for (int i = 0; i < 5; i++) {
			az_json_ku64(&j, k[i], cnt[i]);
		}
		az_json_ku64(&j, "in_dump", in->pages_present);
		az_json_end_object(&j);
		az_json_finish(&j);
		vmc_dump_destroy(v);
		return AZ_EXIT_OK;
	}
	printf("p2m frame list list: mfn 0x%" PRIx64 ", end pfn 0x%" PRIx64 "\n", in->p2m_mfn,
	       in->end_pfn);
	printf("valid %" PRIu64 " (%" PRIu64 " in the dump), identity %" PRIu64 ", foreign %" PRIu64
	       ", invalid %" PRIu64 ", missing %" PRIu64 "\n", in->pages_valid, in->pages_present,
	       in->pages_identity, in->pages_foreign, in->pages_invalid, in->pages_missing);
	/* runs: consecutive pfns whose machine frames are consecutive too */
	uint64_t rs = 0, rm = 0, n = 0;
	int rk = -1;
	for (uint64_t pfn = 0; pfn <= in->end_pfn; pfn++) {
		uint64_t mfn = 0;
		int k = -1;
		if (pfn < in->end_pfn) {
			int rc = vmc_xen_dom0_pfn_to_mfn(v, pfn, &mfn);
			k = rc == VMC_OK ? 0 : 1;
		}
		if (n && k == rk && (k != 0 || mfn == rm + n)) {
			n++;
			continue;
		}
		if (n) {
			if (rk == 0)
				printf("pfn 0x%" PRIx64 "-0x%" PRIx64 " -> mfn 0x%" PRIx64 "-0x%" PRIx64 "\n",
				       rs, rs + n - 1, rm, rm + n - 1);
			else
				printf("pfn 0x%" PRIx64 "-0x%" PRIx64 " no machine frame\n", rs, rs + n - 1);
		}
		rs = pfn;
		rm = mfn;
		rk = k;
		n = 1;
	}
	vmc_dump_destroy(v);
	return AZ_EXIT_OK;
}

/* ---- bt ------------------------------------------------------------------------------- */

#define MAX_XEN_WORDS 512
#define MAX_TRACE 64
#define XEN_IMAGE_SPAN (16ULL << 20)   /* without symbols: text is in the image's first 16 MiB */

/* xen-syms when given and matching, else Xen's own table from the dump */
static bool xen_lookup(const struct xctx *c, const struct az_xen_symtab *own, uint64_t a,
		       const char **name, uint64_t *off, uint64_t *size)
{
	if (c->syms_ok)
		return az_xsyms_lookup(c->syms, a, name, off, size);
	return own && az_xen_symtab_lookup(own, a, name, off, size);
}

static void xen_symbolize(const struct xctx *c, const struct az_xen_symtab *own, uint64_t a,
			  char *buf, size_t len)
{
	const char *name;
	uint64_t off, size;

	if (xen_lookup(c, own, a, &name, &off, &size))
		snprintf(buf, len, "%s+0x%" PRIx64 "/0x%" PRIx64, name, off, size);
	else
		snprintf(buf, len, "0x%" PRIx64, a);
}

/* The addresses of the last "Xen call trace:" Xen printed into its ring,
 * and the CPU of the register dump before it ("CPU:    N"), -1 unknown. */
static size_t ring_trace(const struct ring *r, uint64_t *out, size_t cap, int *cpu)
{
	const char *key = "Xen call trace:", *p = r->text, *last = NULL, *end;
	size_t n = 0;

	*cpu = -1;
	if (!r->text)
		return 0;
	end = r->text + r->len;
	while ((p = memmem(p, (size_t)(end - p), key, strlen(key))) != NULL)
		last = p++;
	if (!last)
		return 0;
	/* the register dump above it names the CPU */
	for (const char *q = last; q > r->text; q--) {
		if (!strncmp(q, "CPU:    ", 8)) {
			*cpu = atoi(q + 8);
			break;
		}
		if (last - q > 4096)
			break;
	}
	p = memchr(last, '\n', (size_t)(end - last));
	while (p && p < end && n < cap) {
		const char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
		const char *b = memmem(p, (size_t)((nl ? nl : end) - p), "[<", 2);
		if (!b)
			break;
		out[n++] = strtoull(b + 2, NULL, 16);
		p = nl;
	}
	return n;
}

static int cmd_bt(struct xctx *c, bool json)
{
	struct ring r;
	const char *how = NULL;
	uint64_t lo = 0, hi = 0, trace[MAX_TRACE];
	struct az_xen_word *w = calloc(MAX_XEN_WORDS, sizeof(*w));
	size_t n = vmc_cpu_count(c->d), ntrace;
	int tcpu;
	struct az_json j;
	char sbuf[256], esc[1024], own_err[256] = "";
	struct az_xen_symtab *own = NULL;

	if (!w)
		return AZ_EXIT_FAIL;
	if (!c->hv_ok) {
		fprintf(stderr, "salvage: %s: %s\n", c->path, c->hv_err);
		free(w);
		return AZ_EXIT_FAIL;
	}
	if (!c->syms_ok)
		az_xen_symtab_load(c->d, &own, own_err, sizeof(own_err));
	if (!(sym(c, "_stext", &lo) && sym(c, "_etext", &hi) && lo < hi) &&
	    !(!c->syms_ok && az_xen_symtab_text(own, &lo, &hi))) {
		lo = c->hv->virt_start;
		hi = lo + XEN_IMAGE_SPAN;
	}
	ring_read(c, &r);
	int ccpu = crashing_cpu(c, &r, &how);
	ntrace = ring_trace(&r, trace, MAX_TRACE, &tcpu);
	if (tcpu < 0)
		tcpu = ccpu;
	if (json) {
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_kstr(&j, "symbols", c->syms_ok ? "xen-syms" : own ? "xen-image" : NULL);
		az_json_key(&j, "pcpus");
		az_json_begin_array(&j);
	} else if (!c->syms_ok && own) {
		printf("(symbols: Xen's own table in the dump, %zu entries)\n", az_xen_symtab_count(own));
	} else if (!c->syms_ok) {
		printf("(no symbols: %s; give --xen-syms; words in Xen's image are listed)\n", own_err);
	}
	for (size_t i = 0; i < n; i++) {
		const struct vmc_cpu *cpu = vmc_cpu(c->d, i);
		size_t nw = 0, matched = 0;
		char err[256] = "";
		bool ok = az_xen_stack_scan(c->d, i, lo, hi, w, MAX_XEN_WORDS, &nw, err, sizeof(err)) == 0;
		/* the console's trace for this CPU, in order, among RIP and the words */
		if (ok && (int)i == tcpu)
			for (size_t t = 0, k = 0; t < ntrace; t++) {
				if (!t && trace[0] == cpu->regs[VMC_REG_RIP]) {
					matched++;
					continue;
				}
				while (k < nw && w[k].val != trace[t])
					k++;
				if (k == nw)
					break;
				matched++;
				k++;
			}
		if (json) {
			az_json_begin_object(&j);
			az_json_ku64(&j, "cpu", i);
			az_json_kbool(&j, "crashed", (int)i == ccpu);
			az_json_kbool(&j, "saved", !cpu->empty);
			az_json_khex(&j, "rip", cpu->regs[VMC_REG_RIP]);
			az_json_khex(&j, "rsp", cpu->regs[VMC_REG_RSP]);
			az_json_key(&j, "frames");
			az_json_begin_array(&j);
			for (size_t k = 0; !cpu->empty && k <= nw; k++) {
				uint64_t ip = k ? w[k - 1].val : cpu->regs[VMC_REG_RIP];
				const char *name = NULL;
				uint64_t off = 0, size = 0;
				xen_lookup(c, own, ip, &name, &off, &size);
				az_json_begin_object(&j);
				az_json_khex(&j, "sp", k ? w[k - 1].sp : cpu->regs[VMC_REG_RSP]);
				az_json_khex(&j, "ip", ip);
				az_json_kstr(&j, "function", name);
				az_json_ku64(&j, "offset", off);
				az_json_kstr(&j, "how", k ? "scan" : "regs");
				az_json_end_object(&j);
			}
			az_json_end_array(&j);
			if ((int)i == tcpu && ntrace) {
				az_json_key(&j, "console_trace");
				az_json_begin_object(&j);
				az_json_ku64(&j, "addresses", ntrace);
				az_json_ku64(&j, "found_in_order", matched);
				az_json_end_object(&j);
			}
			az_json_kstr(&j, "note", ok ? NULL : err);
			az_json_end_object(&j);
			continue;
		}
		if (i)
			putchar('\n');
		printf("PCPU: %zu%s\n", i, (int)i == ccpu ? "  (crashed)" : "");
		if (cpu->empty) {
			printf("    (no saved state)\n");
			continue;
		}
		xen_symbolize(c, own, cpu->regs[VMC_REG_RIP], sbuf, sizeof(sbuf));
		printf(" #0  [%016" PRIx64 "] %s at %016" PRIx64 "\n", cpu->regs[VMC_REG_RSP],
		       az_tesc(esc, sizeof(esc), sbuf), cpu->regs[VMC_REG_RIP]);
		for (size_t k = 0; k < nw; k++) {
			xen_symbolize(c, own, w[k].val, sbuf, sizeof(sbuf));
			printf("?#%-2zu [%016" PRIx64 "] ? %s at %016" PRIx64 "  (stack scan)\n", k + 1,
			       w[k].sp, az_tesc(esc, sizeof(esc), sbuf), w[k].val);
		}
		if (!ok)
			printf("    (%s)\n", az_tesc(esc, sizeof(esc), err));
		if ((int)i == tcpu && ntrace)
			printf("    (Xen's own call trace in its console ring: %zu of %zu addresses found here, in order)\n",
			       matched, ntrace);
	}
	if (json) {
		az_json_end_array(&j);
		az_json_end_object(&j);
		az_json_finish(&j);
	}
	free(r.text);
	free(w);
	az_xen_symtab_free(own);
	return AZ_EXIT_OK;
}

/* ---- extract ---------------------------------------------------------------------------- */

static int cmd_extract(struct xctx *c, bool json, long domid, const char *out)
{
	struct az_extract_result r;
	char err[768], esc[1024];
	const struct xnote_domain *dom = NULL;

	if (!c->hv_ok || !c->doms_ok) {
		fprintf(stderr, "salvage: %s: %s\n", c->path,
			!c->hv_ok ? c->hv_err : c->nwarn ? c->warn[c->nwarn - 1] :
			"domain_list could not be walked");
		return AZ_EXIT_FAIL;
	}
	for (size_t i = 0; i < c->ndoms; i++)
		if (c->doms[i].id == domid)
			dom = &c->doms[i];
	if (!dom) {
		fprintf(stderr, "salvage: %s: domain %ld is not on Xen's domain_list (salvage xen domains lists them)\n",
			c->path, domid);
		return AZ_EXIT_FAIL;
	}
	if (az_xen_extract(c->d, c->hv, dom, out, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage: %s: %s\n", c->path, az_tesc(esc, sizeof(esc), err));
		return AZ_EXIT_FAIL;
	}
	/* what is missing, said on stderr as warnings: the output is still a dump */
	if (r.present < r.pages)
		fprintf(stderr, "salvage: %s: warning: domain %u: %" PRIu64 " of its %" PRIu64
			" pages are not in the dump (written as excluded)\n", c->path, dom->id,
			r.pages - r.present, r.pages);
	if (!r.vmcoreinfo)
		fprintf(stderr, "salvage: %s: warning: domain %u: its VMCOREINFO was not found in its memory: the output has none (dmesg and page classification need it)\n",
			c->path, dom->id);
	if (!r.vcpus)
		fprintf(stderr, "salvage: %s: warning: domain %u: no vCPU registers (%s)\n", c->path,
			dom->id, r.vcpu_note[0] ? az_tesc(esc, sizeof(esc), r.vcpu_note) : "none found");
	if (json) {
		struct az_json j;
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_ku64(&j, "domain", dom->id);
		az_json_kstr(&j, "output", out);
		az_json_kstr(&j, "format", "elf");
		az_json_kstr(&j, "p2m", r.linear ? "linear" : "tree");
		az_json_khex(&j, "p2m_mfn", r.p2m_mfn);
		az_json_khex_if(&j, "p2m_vaddr", r.linear, r.p2m_vaddr);
		az_json_khex_if(&j, "p2m_cr3", r.linear, r.p2m_cr3);
		az_json_ku64(&j, "max_pfn", r.max_pfn);
		az_json_ku64(&j, "end_pfn", r.end_pfn);
		az_json_ku64(&j, "pages", r.pages);
		az_json_ku64(&j, "pages_in_dump", r.present);
		az_json_kbool(&j, "vmcoreinfo", r.vmcoreinfo);
		az_json_kstr(&j, "osrelease", r.osrelease);
		az_json_ku64(&j, "vcpus", r.vcpus);
		az_json_ku64(&j, "vcpus_with_registers", r.vcpus_with_regs);
		az_json_ku64(&j, "bytes", r.bytes);
		az_json_end_object(&j);
		az_json_finish(&j);
	} else {
		if (r.linear)
			printf("domain %u: %" PRIu64 " pages (%" PRIu64 " in the dump), pfns 0-0x%" PRIx64
			       " through its linear P2M at 0x%" PRIx64 " (cr3 0x%" PRIx64 ")\n", dom->id,
			       r.pages, r.present, r.end_pfn ? r.end_pfn - 1 : 0, r.p2m_vaddr, r.p2m_cr3);
		else
			printf("domain %u: %" PRIu64 " pages (%" PRIu64 " in the dump), pfns 0-0x%" PRIx64
			       " through its P2M at mfn 0x%" PRIx64 "\n", dom->id, r.pages, r.present,
			       r.end_pfn ? r.end_pfn - 1 : 0, r.p2m_mfn);
		printf("kernel: %s (VMCOREINFO %s)\n",
		       r.osrelease ? az_tesc(esc, sizeof(esc), r.osrelease) : "(release unknown)",
		       r.vmcoreinfo ? "found in its memory" : "not found");
		printf("vcpus: %zu (%zu with registers)\n", r.vcpus, r.vcpus_with_regs);
		printf("wrote %s: ELF core, %" PRIu64 " bytes\n", az_tesc(esc, sizeof(esc), out), r.bytes);
	}
	return AZ_EXIT_OK;
}

/* ---- command line ------------------------------------------------------------------- */

static const char xen_usage[] =
"usage: salvage xen info|log|domains|frames|p2m|bt [--json] [--xen-syms FILE] DUMP\n"
"       salvage xen extract --domain ID -o OUT [--json] DUMP\n\n"
"The hypervisor side of a Xen dump (a dom0 crash or a Xen panic captured by\n"
"kexec), from its notes and VMCOREINFO_XEN; no debug information needed.\n"
"  info      version and build strings, load address, physical CPUs with\n"
"            registers and CR3, the crashing CPU, domains, dom0's release\n"
"  log       Xen's console ring (found by its symbols with --xen-syms, else\n"
"            by scanning Xen's heap for console text)\n"
"  domains   domain_list: id, type (pv, hvm|pvh), vCPUs, pages owned and\n"
"            how many are in the dump, struct domain, a PV guest's P2M\n"
"  extract   write domain ID (a PV guest, through the P2M its shared_info\n"
"            publishes) to OUT as an ELF core in its pseudo-physical order,\n"
"            with its VMCOREINFO and vCPU registers: salvage dmesg|bt|ps OUT\n"
"  frames    machine frames by owner (xen, dom0, domU, free) as runs\n"
"  p2m       dom0's pseudo-physical to machine map as runs\n"
"  bt        each physical CPU's hypervisor stack: RIP, then the words in\n"
"            Xen's text from RSP up (a stack scan, marked '?'); checked against\n"
"            the call trace Xen printed into its console ring, if any\n"
"  --xen-syms FILE  xen-syms of the same build (a symbol table is enough:\n"
"                   Debian's xen-hypervisor-*-dbg); checked by build id\n"
"  --json           machine-readable output\n"
"dom0's own kernel: salvage dmesg|bt|ps|sys|sym --dom0 DUMP.\n";

static const struct az_cmd xen_cmd = {
	.name = "xen", .usage = xen_usage, .opts = AZ_OPT_XEN_SYMS, .minpos = 2, .maxpos = 2,
};

int az_cmd_xen(int argc, char **argv)
{
	static struct xctx c;
	struct az_args a;
	const char *sub;
	bool json;
	const char *out = NULL, *domarg = NULL;
	long domid = -1;
	/* extract's own options, taken out before the shared parser */
	char **av = calloc((size_t)argc + 1, sizeof(*av));
	int ac = 0;
	if (!av)
		return AZ_EXIT_FAIL;
	for (int i = 0; i < argc; i++) {
		const char **dst = !strcmp(argv[i], "--domain") ? &domarg :
				   !strcmp(argv[i], "-o") ? &out : NULL;
		if (dst && i + 1 < argc) {
			*dst = argv[++i];
			continue;
		}
		if (dst) {
			fprintf(stderr, "salvage xen: %s needs a value\n", argv[i]);
			free(av);
			return AZ_EXIT_USAGE;
		}
		av[ac++] = argv[i];
	}
	int ret = az_args_status(az_parse_args(ac, av, &xen_cmd, &a));

	if (ret >= 0) {
		free(av);
		return ret;
	}
	memset(&c, 0, sizeof(c));
	sub = a.pos[0];
	c.path = a.pos[1];
	c.syms_path = a.xen_syms;
	json = a.json;
	if (strcmp(sub, "info") && strcmp(sub, "log") && strcmp(sub, "domains") &&
	    strcmp(sub, "frames") && strcmp(sub, "p2m") && strcmp(sub, "bt") &&
	    strcmp(sub, "extract")) {
		fputs(xen_usage, stderr);
		free(av);
		return AZ_EXIT_USAGE;
	}
	if (!strcmp(sub, "extract") != (out || domarg) ||
	    (!strcmp(sub, "extract") && (!out || !domarg || !*out))) {
		fprintf(stderr, "salvage xen: %s\n%s", !strcmp(sub, "extract") ?
			"extract needs --domain ID and -o OUT" : "--domain and -o are extract's",
			xen_usage);
		free(av);
		return AZ_EXIT_USAGE;
	}
	if (domarg) {
		char *end;
		errno = 0;
		domid = strtol(domarg, &end, 10);
		if (errno || end == domarg || *end || domid < 0 || domid > 0x7fef) {
			fprintf(stderr, "salvage xen: --domain takes a domain id (0-32751), not '%s'\n",
				domarg);
			free(av);
			return AZ_EXIT_USAGE;
		}
	}
	if (c.syms_path) {
		char err[512];
		if (az_xsyms_load(c.syms_path, &c.syms, err, sizeof(err)) < 0) {
			fprintf(stderr, "salvage xen: %s\n", err);
			free(av);
			return AZ_EXIT_FAIL;
		}
	}
	c.d = az_open(c.path);
	if (!c.d) {
		az_xsyms_free(c.syms);
		free(av);
		return AZ_EXIT_FAIL;
	}
	if (!vmc_xen(c.d)) {
		fprintf(stderr, "salvage: %s: not a Xen dump (no Xen CRASH_INFO note)\n", c.path);
		ret = AZ_EXIT_FAIL;
		goto out;
	}
	setup(&c);
	if (!strcmp(sub, "info"))
		ret = cmd_info(&c, json);
	else if (!strcmp(sub, "log"))
		ret = cmd_log(&c, json);
	else if (!strcmp(sub, "domains"))
		ret = cmd_domains(&c, json);
	else if (!strcmp(sub, "frames"))
		ret = cmd_frames(&c, json);
	else if (!strcmp(sub, "bt"))
		ret = cmd_bt(&c, json);
	else if (!strcmp(sub, "extract"))
		ret = cmd_extract(&c, json, domid, out);
	else
		ret = cmd_p2m(&c, json);
	if (fflush(stdout) != 0)
		ret = AZ_EXIT_FAIL;
out:
	free(c.hv);
	vmc_dump_destroy(c.d);
	az_xsyms_free(c.syms);
	free(av);
	return ret;
}
