/* xenext.h - a PV domain of a Xen host dump as a dump of its own
 * (xen-extract.c, docs/formats.md §4.12).  Model only: nothing here prints. */
#ifndef SALVAGE_AZ_XENEXT_H
#define SALVAGE_AZ_XENEXT_H

#include "../vmcore/vmcore.h"
#include "../xen-notes/xnote.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct az_extract_result {
	uint64_t p2m_mfn, max_pfn;  /* from its shared_info */
	bool linear;                /* its linear P2M was read (no frame list) */
	uint64_t p2m_cr3, p2m_vaddr;
	uint64_t end_pfn;           /* one past its last pfn with a machine frame */
	uint64_t pages, present;    /* pfns with a machine frame; those in the dump */
	bool vmcoreinfo;            /* its VMCOREINFO found (written as a note) */
	const char *osrelease;      /* points into release, or NULL */
	char release[65];
	size_t vcpus, vcpus_with_regs;
	char vcpu_note[256];        /* why no vCPU was found, when none */
	uint64_t bytes;             /* size of the output */
};

/* Write domain dom of the Xen dump top (hypervisor context hv) to path as
 * an ELF core in its pseudo-physical order.  Returns 0, or -1 with a one-line
 * reason in err (nothing is left at path then). */
int az_xen_extract(vmc_dump *top, struct xnote_xen *hv, const struct xnote_domain *dom,
		   const char *path, struct az_extract_result *r, char *err, size_t errlen);

#endif
