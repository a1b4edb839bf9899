/* xenbt.h - the Xen side of backtraces (xen-vcpu.c): dom0's virtual CPUs as
 * the crash left them, and each physical CPU's hypervisor stack.  Model
 * only: nothing here prints.  Functions return 0, or -1 with a message in
 * err ("the failing thing first, lowercase"). */
#ifndef SALVAGE_AZ_XENBT_H
#define SALVAGE_AZ_XENBT_H

#include "../vmcore/vmcore.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AZ_XEN_STACK_SIZE (8 * 4096ULL)   /* Xen x86_64: 8 pages a CPU, aligned */

/* One of dom0's vCPUs (docs/formats.md §4.9). */
struct az_vcpu {
	unsigned id;             /* vcpu_id: dom0's own CPU number */
	int pcpu;                /* physical CPU (note index) it ran on, -1 none */
	uint64_t vcpu_va;        /* struct vcpu */
	bool have_regs;
	uint64_t regs[21];       /* pt_regs order (VMC_REG_R15 .. VMC_REG_SS) */
	/* where the registers came from: "guest frame on pCPU N's stack",
	 * "last guest frame on idle pCPU N's stack", "struct vcpu" */
	char from[64];
};

/* dom0's vCPUs from the Xen dump `top` (domain_list -> dom0 -> d->vcpu[],
 * each pCPU's struct cpu_info at the top of its stack).  Up to cap into
 * out, *n the number found. */
int az_dom0_vcpus(vmc_dump *top, struct az_vcpu *out, size_t cap, size_t *n,
		  char *err, size_t errlen);

/* The same for any domain on domain_list (a PV domU's registers alike). */
int az_domain_vcpus(vmc_dump *top, unsigned domid, struct az_vcpu *out, size_t cap, size_t *n,
		    char *err, size_t errlen);
struct xnote_xen;
/* The struct vcpus of the struct domain at dva (its vcpu[] array, found by
 * what it points at; docs/formats.md §4.10): up to cap into v, the count. */
size_t az_xen_vcpu_array(struct xnote_xen *x, uint64_t dva, uint64_t *v, size_t cap);
/* Does the struct vcpu at vva hold a 64-bit PV guest's register frame
 * (arch.user_regs: FLAT_RING3_CS64/SS64, set at the vCPU's first context)? */
bool az_xen_vcpu_pv(struct xnote_xen *x, uint64_t vva);

/* The first "Kernel panic - not syncing" line of a dump's kernel log (else
 * an Oops/BUG line) into buf; false when there is none. */
bool az_log_panic(vmc_dump *d, char *buf, size_t len);

/* A physical CPU's hypervisor stack: the words from its saved RSP up to
 * the top of its stack block that lie in Xen's text, innermost first. */
struct az_xen_word {
	uint64_t sp, val;
};
/* text_lo/text_hi: Xen's text bounds; words go to out (at most cap). */
int az_xen_stack_scan(vmc_dump *top, size_t cpu, uint64_t text_lo, uint64_t text_hi,
		      struct az_xen_word *out, size_t cap, size_t *n, char *err, size_t errlen);

/* Xen's own symbol table (symbols_names & co) found in the hypervisor
 * image in the dump (xen-symtab.c, docs/formats.md §4.11). */
struct az_xen_symtab;
int az_xen_symtab_load(vmc_dump *top, struct az_xen_symtab **out, char *err, size_t errlen);
void az_xen_symtab_free(struct az_xen_symtab *s);
size_t az_xen_symtab_count(const struct az_xen_symtab *s);
/* _stext.._etext when the table has them. */
bool az_xen_symtab_text(const struct az_xen_symtab *s, uint64_t *lo, uint64_t *hi);
/* The symbol holding a (name inside s); false past the last one. */
bool az_xen_symtab_lookup(const struct az_xen_symtab *s, uint64_t a, const char **name,
			  uint64_t *off, uint64_t *size);

#endif
