/* xen.c - `salvage xen info|log|domains|p2m|frames|bt|extract [--json]
 * [--xen-syms FILE] DUMP`: the hypervisor side of a Xen dump, from the notes
 * and VMCOREINFO_XEN alone, with xen-syms (a symbol table is enough) for the
 * console ring, the crashing CPU and PDX compression.  Here: the context,
 * the console ring, the crashing CPU, `xen info`, `xen log` and the command
 * line; domains, frames, p2m and extract in xen-domains.c, bt in xen-bt.c.
 */
#include "xencmd.h"
#include "../common/le.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define STACK_SIZE (8 * 4096ULL)   /* Xen x86_64: 8 pages per CPU, 32 KiB aligned */
#define PRIMARY_STACK 0x6000ULL    /* pages 6-7: the primary stack */

void az_xc_warn(struct xctx *c, const char *fmt, ...)
{
	va_list ap;
	if (c->nwarn >= 8)
		return;
	va_start(ap, fmt);
	vsnprintf(c->warn[c->nwarn++], sizeof(c->warn[0]), fmt, ap);
	va_end(ap);
}

bool az_xc_sym(const struct xctx *c, const char *name, uint64_t *addr)
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
		az_xc_warn(c, "%s", c->hv_err);
	}
	if (c->syms) {
		size_t len = 0;
		uint64_t va = 0;
		const uint8_t *id = az_xsyms_build_id(c->syms, &len, &va);
		uint8_t mem[64];
		if (!c->hv_ok) {
			az_xc_warn(c, "%s: cannot be checked against the dump; not used", c->syms_path);
		} else if (!id) {
			az_xc_warn(c, "%s: no build id; used unchecked", c->syms_path);
			c->syms_ok = true;
		} else if (xnote_xen_read(c->hv, va, mem, len) != XNOTE_OK) {
			az_xc_warn(c, "%s: the dump lacks Xen's build id at 0x%" PRIx64 "; used unchecked",
			     c->syms_path, va);
			c->syms_ok = true;
		} else if (memcmp(mem, id, len) != 0) {
			az_xc_warn(c, "%s: build id differs from the dumped Xen's; not used", c->syms_path);
		} else {
			c->syms_ok = true;
		}
	}
	if (c->syms_ok) {
		uint64_t a = 0, b = 0, t = 0;
		az_xc_sym(c, "pfn_pdx_hole_shift", &a);
		az_xc_sym(c, "pfn_pdx_bottom_mask", &b);
		az_xc_sym(c, "pfn_top_mask", &t);
		if (a && xnote_xen_set_pdx(c->hv, a, b, t) != XNOTE_OK)
			az_xc_warn(c, "PDX compression parameters unreadable: %s", c->hv->err);
	}
	if (c->hv_ok) {
		c->doms_ok = xnote_xen_domains(c->hv, c->doms, MAX_DOMAINS, &c->ndoms) == XNOTE_OK;
		if (!c->doms_ok)
			az_xc_warn(c, "domain_list: %s", c->hv->err);
		if (c->ndoms > MAX_DOMAINS)
			c->ndoms = MAX_DOMAINS;
		for (size_t i = 0; i < c->ndoms; i++)
			if (c->doms[i].id == 0)
				c->dom0_owner = c->doms[i].owner;
	}
}

/* ---- console ring --------------------------------------------------------- */

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

int az_xc_ring_read(struct xctx *c, struct ring *r)
{
	struct xnote_conring_syms s = { 0, 0, 0, 0 };

	memset(r, 0, sizeof(*r));
	if (!c->hv_ok)
		return -1;
	if (az_xc_sym(c, "conring", &s.conring) && az_xc_sym(c, "conring_size", &s.conring_size) &&
	    az_xc_sym(c, "conringp", &s.conringp)) {
		az_xc_sym(c, "conringc", &s.conringc);
		size_t cap = 64u << 20;
		r->text = malloc(cap);
		if (!r->text)
			return -1;
		if (xnote_xen_conring(c->hv, &s, r->text, cap, &r->len, &r->wrapped) == XNOTE_OK) {
			r->source = "xen-syms";
			return 0;
		}
		az_xc_warn(c, "console ring through xen-syms: %s", c->hv->err);
		free(r->text);
		r->text = NULL;
	}
	return ring_scan(c, r);
}

/* ---- facts ------------------------------------------------------------------- */

/* Which physical CPU ran the crash path. */
int az_xc_crashing_cpu(struct xctx *c, const struct ring *r, const char **how)
{
	uint64_t a;
	uint8_t b[4];
	size_t n = vmc_cpu_count(c->d);

	/* one_cpu_only()'s function-static (common/kexec.c), set by cmpxchg */
	if (c->hv_ok && az_xc_sym(c, "crashing_cpu", &a) && xnote_xen_read(c->hv, a, b, 4) == XNOTE_OK) {
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
	az_xc_ring_read(c, &r);
	int ccpu = az_xc_crashing_cpu(c, &r, &how);
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

	if (az_xc_ring_read(c, &r) != 0) {
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
		ret = az_xc_domains(&c, json);
	else if (!strcmp(sub, "frames"))
		ret = az_xc_frames(&c, json);
	else if (!strcmp(sub, "bt"))
		ret = az_xc_bt(&c, json);
	else if (!strcmp(sub, "extract"))
		ret = az_xc_extract(&c, json, domid, out);
	else
		ret = az_xc_p2m(&c, json);
	if (fflush(stdout) != 0)
		ret = AZ_EXIT_FAIL;
out:
	free(c.hv);
	vmc_dump_destroy(c.d);
	az_xsyms_free(c.syms);
	free(av);
	return ret;
}
