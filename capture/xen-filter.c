/* xen-filter.c - which machine frames of a Xen dump go into the output.
 *
 * A Xen /proc/vmcore holds every machine frame: the hypervisor, dom0 and all
 * domUs.  Each frame is classified through Xen's frame_table (page_info
 * count_info and owner, in the layout of this Xen version; docs/formats.md §4.8):
 *
 *   Xen's own (heap, not allocated to a domain, dom_xen/dom_io)  kept
 *   free, offlined or broken         dropped with -d 16 (free pages) or -X
 *   a domU's                         dropped with -X (makedumpfile's meaning),
 *                                    unless --domains names it: kept whole
 *   dom0's                           the Linux dump level, applied to the
 *                                    dom0 pfn the frame backs (M2P, checked
 *                                    by the P2M), classified through dom0's
 *                                    own VMCOREINFO found in its memory
 *   no readable page_info            kept (a bigger dump beats a lost page)
 *
 * The output keeps the Xen dump's shape (machine frames, Xen notes), with
 * the notes normalised and the fixes listed in the result's warnings.
 */
#include "internal.h"
#include "../xen-notes/xnote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536               /* = plan.c's classification chunk */
#define MAX_DOMS 4096             /* domain_list entries looked at */

struct cap_xen {
	vmc_dump *src;
	struct cap_result *r;
	struct xnote_xen hv;
	bool hv_ok;
	uint32_t dom0_owner;
	size_t ndomains;
	int level;
	bool exclude_domu;
	vmc_dump *dom0;               /* dom0's memory as a dump (vmcore/xen.c) */
	vmc_mm *mm;                   /* dom0's page classification */
	uint64_t *pfn;                /* per frame of a chunk: dom0 pfn or ~0 */
	uint8_t *dcls;
	uint64_t counted_to;          /* frames below were counted (first pass) */
	uint64_t n[5];                /* frames by enum xnote_frame_owner */
	uint64_t dom0_unmapped;       /* dom0's frames without a pfn (M2P/P2M) */
	uint64_t domu_dropped, free_dropped, domu_kept;
	uint32_t keep_owner[CAP_XEN_DOMAINS_MAX];   /* pickled owners --domains keeps */
	size_t nkeep;
	char why_no_levels[320];
};

static void add_warning(struct cap_result *r, const char *fmt, const char *s)
{
	char buf[400];
	char *dup;

	if (r->nwarnings >= sizeof(r->warnings) / sizeof(r->warnings[0]))
		return;
	snprintf(buf, sizeof(buf), fmt, s);
	dup = strdup(buf);
	if (dup)
		r->warnings[r->nwarnings++] = dup;
}

static void append_note(struct cap_result *r, const char *s)
{
	size_t l = strlen(r->notes);
	if (l && l + 2 < sizeof(r->notes)) {
		r->notes[l++] = ';';
		r->notes[l++] = ' ';
		r->notes[l] = 0;
	}
	snprintf(r->notes + l, sizeof(r->notes) - l, "%s", s);
}

int cap_parse_domains(const char *s, struct cap_options *o)
{
	o->nxen_keep = 0;
	while (*s) {
		char *end;
		if (*s < '0' || *s > '9')
			return -1;
		errno = 0;
		unsigned long v = strtoul(s, &end, 10);
		if (errno || v < 1 || v > 0x7fef || o->nxen_keep >= CAP_XEN_DOMAINS_MAX ||
		    (*end && *end != ','))
			return -1;
		o->xen_keep[o->nxen_keep++] = (unsigned)v;
		s = *end ? end + 1 : end;
		if (end[0] == ',' && !*s)
			return -1;
	}
	return o->nxen_keep ? 0 : -1;
}

int cap_xen_plan_init(struct cap_plan *pl, int level, struct cap_result *r)
{
	struct cap_xen *x = calloc(1, sizeof(*x));
	struct xnote_fixes fx;
	const char *vmci = NULL;
	size_t vmci_len = 0;
	uint64_t vmci_ma = 0;

	if (!x)
		return -ENOMEM;
	pl->xen = x;
	x->src = pl->src;
	x->r = r;
	x->exclude_domu = level & CAP_DL_XEN_DOMU;
	x->level = level & 31;
	x->pfn = malloc(CHUNK * sizeof(*x->pfn));
	x->dcls = malloc(CHUNK);
	if (!x->pfn || !x->dcls)
		return -ENOMEM;

	x->hv_ok = vmc_xen_hv_init(x->src, &x->hv) == VMC_OK;
	if (x->hv_ok && !x->hv.have_frame_table)
		snprintf(x->why_no_levels, sizeof(x->why_no_levels),
			 "no frame_table in VMCOREINFO_XEN: no frame filtering");
	else if (!x->hv_ok)
		snprintf(x->why_no_levels, sizeof(x->why_no_levels), "%s", vmc_errmsg(x->src));
	if (x->hv_ok) {
		struct xnote_domain *doms = calloc(MAX_DOMS, sizeof(*doms));
		if (!doms)
			return -ENOMEM;
		if (xnote_xen_domains(&x->hv, doms, MAX_DOMS, &x->ndomains) == XNOTE_OK ||
		    x->ndomains) {
			for (size_t i = 0; i < x->ndomains && i < MAX_DOMS; i++)
				if (doms[i].id == 0)
					x->dom0_owner = doms[i].owner;
		}
		/* --domains: the owners to keep; a domain not on the list
		 * (a damaged or cut walk included) is said, not guessed */
		for (size_t k = 0; k < pl->nkeep_ids && x->nkeep < CAP_XEN_DOMAINS_MAX; k++) {
			size_t i;
			for (i = 0; i < x->ndomains && i < MAX_DOMS; i++)
				if (doms[i].id == pl->keep_ids[k])
					break;
			if (i < x->ndomains && i < MAX_DOMS) {
				x->keep_owner[x->nkeep++] = doms[i].owner;
			} else {
				char id[16];
				snprintf(id, sizeof(id), "%u", pl->keep_ids[k]);
				add_warning(r, "xen: --domains: domain %s is not on domain_list: no frames kept for it", id);
			}
		}
		free(doms);
		if (!x->dom0_owner) {
			/* without dom0 every allocated frame would look like a domU's */
			x->hv.have_frame_table = false;
			snprintf(x->why_no_levels, sizeof(x->why_no_levels),
				 "domain 0 not found in domain_list (%.200s): no frame filtering",
				 x->hv.err);
		}
	}
	if (vmc_xen_dom0_open(x->src, NULL, &x->dom0) == VMC_OK) {
		vmci = vmc_xen_dom0_vmcoreinfo(x->dom0, &vmci_len);
		vmci_ma = vmc_xen_dom0_info(x->dom0)->vmcoreinfo_maddr;
		const char *rel = vmc_vmcoreinfo_get(x->dom0, "OSRELEASE");
		if (rel && !r->osrelease[0])
			snprintf(r->osrelease, sizeof(r->osrelease), "%s", rel);
		if (vmci && (x->level & ~VMC_DL_ZERO) && vmc_mm_create(x->dom0, &x->mm) < 0) {
			add_warning(r, "xen: dump level not applied to dom0's pages: %s",
				    vmc_errmsg(x->dom0));
			x->mm = NULL;
		} else if (!vmci && (x->level & ~VMC_DL_ZERO)) {
			add_warning(r, "xen: %s", "dom0's VMCOREINFO not found: dump level not applied to dom0's pages");
		}
	} else {
		add_warning(r, "xen: dom0 not readable: %s", vmc_errmsg(x->src));
		x->dom0 = NULL;
	}
	/* the output's notes: quirks fixed, dom0's VMCOREINFO added (the
	 * text is copied before the view goes) */
	char *copy = NULL;
	if (vmci && (copy = malloc(vmci_len + 1)) != NULL)
		memcpy(copy, vmci, vmci_len);
	if (vmc_xen_normalize_notes(x->src, copy, copy ? vmci_len : 0, vmci_ma, &fx) == VMC_OK) {
		for (size_t i = 0; i < fx.n; i++)
			add_warning(r, "xen notes fixed: %s", fx.text[i]);
	} else {
		add_warning(r, "xen: notes written as found: %s", vmc_errmsg(x->src));
	}
	free(copy);
	if (x->why_no_levels[0])
		add_warning(r, "xen: %s", x->why_no_levels);
	pl->level = x->level;
	return 0;
}

void cap_xen_plan_fini(struct cap_plan *pl)
{
	struct cap_xen *x = pl->xen;
	char buf[400];

	if (!x)
		return;
	if (x->r && x->counted_to) {
		snprintf(buf, sizeof(buf),
			 "xen %u.%u: frames xen %llu, dom0 %llu, domU %llu (%llu dropped%s%s), free %llu "
			 "(%llu dropped), unknown %llu; %zu domain%s; dom0 %s",
			 x->hv.major, x->hv.minor, (unsigned long long)x->n[XNOTE_FRAME_XEN],
			 (unsigned long long)x->n[XNOTE_FRAME_DOM0],
			 (unsigned long long)x->n[XNOTE_FRAME_DOMU],
			 (unsigned long long)x->domu_dropped, x->exclude_domu ? ", -X" : "",
			 x->nkeep ? ", those of --domains kept" : "",
			 (unsigned long long)x->n[XNOTE_FRAME_FREE],
			 (unsigned long long)x->free_dropped,
			 (unsigned long long)x->n[XNOTE_FRAME_UNKNOWN], x->ndomains,
			 x->ndomains == 1 ? "" : "s",
			 x->mm ? "pages filtered by dump level" : "pages all kept");
		append_note(x->r, buf);
	}
	if (x->mm)
		vmc_mm_destroy(x->mm);
	if (x->dom0)
		vmc_dump_destroy(x->dom0);
	free(x->pfn);
	free(x->dcls);
	free(x);
	pl->xen = NULL;
}

/* Classes of dom0's frames: runs of consecutive pfns classified at once. */
static int classify_dom0(struct cap_xen *x, uint64_t n, uint8_t *cls)
{
	for (uint64_t i = 0; i < n;) {
		if (x->pfn[i] == ~0ULL) {
			i++;
			continue;
		}
		uint64_t run = 1;
		while (i + run < n && x->pfn[i + run] == x->pfn[i] + run)
			run++;
		int rc = vmc_mm_classify(x->mm, x->pfn[i], run, x->dcls);
		if (rc < 0) {
			/* keep them: a bigger dump beats none */
			memset(cls + i, VMC_PC_KEEP, run);
		} else {
			memcpy(cls + i, x->dcls, run);
		}
		i += run;
	}
	return 0;
}

int cap_xen_classify(struct cap_plan *pl, uint64_t start, uint64_t n, uint8_t *cls)
{
	struct cap_xen *x = pl->xen;
	bool count = start >= x->counted_to;
	bool any_dom0 = false;

	if (n > CHUNK)
		return -EINVAL;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t mfn = start + i;
		enum xnote_frame_owner o = XNOTE_FRAME_UNKNOWN;

		struct xnote_page_info pi = { 0 };
		x->pfn[i] = ~0ULL;
		if (x->hv_ok && x->hv.have_frame_table)
			o = xnote_xen_frame_owner(&x->hv, mfn, x->dom0_owner, &pi);
		if (count)
			x->n[o]++;
		switch (o) {
		case XNOTE_FRAME_XEN:
		case XNOTE_FRAME_UNKNOWN:
			cls[i] = VMC_PC_KEEP;
			break;
		case XNOTE_FRAME_FREE:
			if (x->level & VMC_DL_FREE) {
				cls[i] = VMC_PC_FREE;
			} else if (x->exclude_domu) {
				cls[i] = CAP_PC_DROP;
			} else {
				cls[i] = VMC_PC_KEEP;
				break;
			}
			if (count)
				x->free_dropped++;
			break;
		case XNOTE_FRAME_DOMU: {
			bool keep = !x->exclude_domu;
			for (size_t k = 0; k < x->nkeep && !keep; k++)
				keep = pi.owner == x->keep_owner[k];
			cls[i] = keep ? VMC_PC_KEEP : CAP_PC_DROP;
			if (count && !keep)
				x->domu_dropped++;
			break;
		}
		case XNOTE_FRAME_DOM0:
			cls[i] = VMC_PC_KEEP;
			if (!x->mm)
				break;
			if (vmc_xen_dom0_mfn_to_pfn(x->dom0, mfn, &x->pfn[i]) == VMC_OK) {
				any_dom0 = true;
			} else {
				x->pfn[i] = ~0ULL;
				if (count)
					x->dom0_unmapped++;
			}
			break;
		}
	}
	if (count)
		x->counted_to = start + n;
	if (any_dom0)
		classify_dom0(x, n, cls);
	return 0;
}
