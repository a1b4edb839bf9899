/* xen-domains.c - `salvage xen domains|frames|p2m|extract`: the domains on
 * Xen's domain_list and what is known of each without its struct layout,
 * machine frames by owner, dom0's P2M as runs, and one PV domain written
 * as a dump of its own (xen-extract.c).  The context is xen.c's (xencmd.h).
 */
#include "xencmd.h"
#include "xenbt.h"
#include "xenext.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COUNT_FRAMES (64ULL << 20)   /* frames scanned for per-domain counts */

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

int az_xc_domains(struct xctx *c, bool json)
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
int az_xc_frames(struct xctx *c, bool json)
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
int az_xc_p2m(struct xctx *c, bool json)
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

/* ---- extract ---------------------------------------------------------------------------- */

int az_xc_extract(struct xctx *c, bool json, long domid, const char *out)
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
