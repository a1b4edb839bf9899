/* xencmd.h - what the `salvage xen` subcommands share (xen.c: the context,
 * the console ring, the crashing CPU, info, log and the command line;
 * xen-domains.c: domains, frames, p2m, extract; xen-bt.c: bt).  Private to
 * those files. */
#ifndef SALVAGE_AZ_XENCMD_H
#define SALVAGE_AZ_XENCMD_H

#include "salvage.h"
#include "xsyms.h"
#include "../xen-notes/xnote.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_DOMAINS 1024

/* one run of `salvage xen`: the dump, the hypervisor context, xen-syms, the
 * domains on domain_list and the warnings said at the end */
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

/* Xen's console ring, by its symbols or found by a scan of Xen's heap */
struct ring {
	char *text;
	size_t len;
	bool wrapped;
	const char *source;        /* "xen-syms", "scan" */
	uint64_t maddr;            /* scan: where it was found */
};

void az_xc_warn(struct xctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* name's address in xen-syms, when given and matching the dump */
bool az_xc_sym(const struct xctx *c, const char *name, uint64_t *addr);
/* 0 with the ring in r (r->text malloc'd, the caller frees it), or -1 */
int az_xc_ring_read(struct xctx *c, struct ring *r);
/* the physical CPU that ran the crash path, and how it was told (*how), or -1 */
int az_xc_crashing_cpu(struct xctx *c, const struct ring *r, const char **how);

/* the subcommands: an AZ_EXIT_* status */
int az_xc_domains(struct xctx *c, bool json);
int az_xc_frames(struct xctx *c, bool json);
int az_xc_p2m(struct xctx *c, bool json);
int az_xc_bt(struct xctx *c, bool json);
int az_xc_extract(struct xctx *c, bool json, long domid, const char *out);

#endif
