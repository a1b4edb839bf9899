/* xen-vcpu.c - dom0's vCPU registers and Xen's per-CPU stacks in a Xen host
 * dump (docs/formats.md §4.10).
 *
 * xen-syms gives no struct layouts, so the few fields used are the ones
 * every Xen 4.x keeps at fixed places, and each is checked against another:
 *   - struct cpu_info sits at the top of each pCPU's 32 KiB stack block and
 *     starts with the guest's struct cpu_user_regs (200 bytes), then
 *     processor_id (u32) and, 8-aligned at +208, current_vcpu;
 *   - struct vcpu starts with vcpu_id (u32), processor (u32), vcpu_info,
 *     domain (+16);
 *   - struct domain holds a pointer to its vcpu[] array, found by what it
 *     points at (vcpu 0, 1, ... of this domain).
 * A cpu_info is accepted only when current_vcpu's processor equals its
 * processor_id; a guest frame only when its CS is a 64-bit PV guest's.
 * domain_id's offset comes from VMCOREINFO_XEN (OFFSET(domain.domain_id)). */
#include "xenbt.h"
#include "../xen-notes/xnote.h"
#include "../common/le.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VCPUS 256
#define MAX_DOMS 4096              /* domain_list entries looked at */
#define REGS_SIZE 200              /* struct cpu_user_regs, x86_64 */
#define CI_PROC 200                /* cpu_info.processor_id */
#define CI_CURRENT 208             /* cpu_info.current_vcpu */
#define CI_SCAN 1024               /* sizeof(cpu_info) is below this in 4.x */
#define VCPU_SCAN 8192             /* struct vcpu prefix searched for user_regs */
#define DOMAIN_SCAN 4096           /* struct domain prefix searched for vcpu[] */
#define PV_CS64 0xe033             /* FLAT_RING3_CS64: a 64-bit PV guest, kernel or user */
#define PV_SS64 0xe02b             /* FLAT_RING3_SS64 */
#define DOMID_IDLE 0x7fff
#define XEN_CS 0xe008              /* __HYPERVISOR_CS */
#define XEN_PRIMARY_STACK 0x6000   /* pages 6-7 of the block: the primary stack */

struct vhdr {
	uint32_t id, processor;
	uint64_t domain;
};

static bool read_vcpu(struct xnote_xen *x, uint64_t va, struct vhdr *h)
{
	uint8_t b[24];
	if (!va || va < x->directmap || xnote_xen_read(x, va, b, sizeof(b)) != XNOTE_OK)
		return false;
	h->id = le_get32(b);
	h->processor = le_get32(b + 4);
	h->domain = le_get64(b + 16);
	return true;
}

/* DOMID_IDLE: a pCPU running its idle vCPU.  Another guest's vCPU there
 * means dom0's state was saved into its struct vcpu. */
static bool idle_domain(struct xnote_xen *x, uint64_t dva)
{
	uint8_t b[2];
	return xnote_xen_read(x, dva + x->off_domain_id, b, 2) == XNOTE_OK &&
	       le_get16(b) == DOMID_IDLE;
}

/* struct cpu_user_regs at b -> pt_regs order.  Its first 15 registers are
 * in pt_regs' order already; then error_code/entry_vector, rip, cs,
 * rflags, rsp, ss. */
static void frame_regs(const uint8_t *b, uint64_t r[21])
{
	for (int i = 0; i < 15; i++)
		r[i] = le_get64(b + 8 * i);
	r[VMC_REG_ORIG_RAX] = le_get32(b + 120);
	r[VMC_REG_RIP] = le_get64(b + 128);
	r[VMC_REG_CS] = le_get16(b + 136);
	r[VMC_REG_EFLAGS] = le_get64(b + 144);
	r[VMC_REG_RSP] = le_get64(b + 152);
	r[VMC_REG_SS] = le_get16(b + 160);
	/* a 64-bit PV kernel runs in ring 3 with the user's selectors: the
	 * kernel half of the address space tells kernel mode, shown with
	 * Linux's own __KERNEL_CS/__KERNEL_DS so the unwinder reads it so */
	if (r[VMC_REG_RIP] >= 0xffff800000000000ULL) {
		r[VMC_REG_CS] = 0x10;
		r[VMC_REG_SS] = 0x18;
	}
}

static bool guest_frame(const uint8_t *b)
{
	uint64_t fl = le_get64(b + 144);
	return le_get16(b + 136) == PV_CS64 && le_get16(b + 160) == PV_SS64 && (fl & 2) &&
	       fl < (1u << 22);
}

/* The vcpu[] array of the struct domain at dva: the first pointer in it
 * whose element 0 is vcpu 0 of this domain. */
static size_t vcpu_array(struct xnote_xen *x, uint64_t dva, uint64_t *v, size_t cap)
{
	uint8_t *b = malloc(DOMAIN_SCAN);
	size_t n = 0;

	if (!b)
		return 0;
	if (xnote_xen_read(x, dva, b, DOMAIN_SCAN) != XNOTE_OK) {
		free(b);
		return 0;
	}
	for (size_t o = 0; o + 8 <= DOMAIN_SCAN && !n; o += 8) {
		uint64_t arr = le_get64(b + o), p;
		uint8_t pb[8];
		struct vhdr h;
		if (arr < x->directmap || arr == dva)
			continue;
		for (size_t k = 0; k < cap; k++) {
			if (xnote_xen_read(x, arr + 8 * k, pb, 8) != XNOTE_OK)
				break;
			p = le_get64(pb);
			if (!read_vcpu(x, p, &h) || h.id != k || h.domain != dva)
				break;
			v[n++] = p;
		}
	}
	free(b);
	return n;
}

/* The cpu_info at the top of the stack block holding rsp: its guest frame
 * (REGS_SIZE bytes into frame), processor_id and current_vcpu. */
static bool cpu_info(struct xnote_xen *x, uint64_t rsp, uint8_t *frame, uint32_t *proc,
		     uint64_t *cur)
{
	uint64_t top = (rsp & ~(AZ_XEN_STACK_SIZE - 1)) + AZ_XEN_STACK_SIZE;
	uint8_t b[CI_SCAN];
	struct vhdr h;

	if (!rsp || xnote_xen_read(x, top - CI_SCAN, b, CI_SCAN) != XNOTE_OK)
		return false;
	/* nearest the top first: sizeof(cpu_info) is at least CI_CURRENT + 8 */
	for (size_t o = CI_SCAN - CI_CURRENT - 8 + 1; o-- > 0;) {
		if (o % 8)
			continue;
		uint32_t p = le_get32(b + o + CI_PROC);
		uint64_t c = le_get64(b + o + CI_CURRENT);
		if (read_vcpu(x, c, &h) && h.processor == p) {
			memcpy(frame, b + o, REGS_SIZE);
			*proc = p;
			*cur = c;
			return true;
		}
	}
	return false;
}

/* A descheduled vCPU's arch.user_regs: the first guest frame in it. */
static bool saved_frame(struct xnote_xen *x, uint64_t vva, uint64_t r[21])
{
	uint8_t *b = malloc(VCPU_SCAN);
	bool ok = false;

	if (!b)
		return false;
	if (xnote_xen_read(x, vva, b, VCPU_SCAN) == XNOTE_OK)
		for (size_t o = 24; o + REGS_SIZE <= VCPU_SCAN && !ok; o += 8)
			if (guest_frame(b + o)) {
				frame_regs(b + o, r);
				ok = true;
			}
	free(b);
	return ok;
}

size_t az_xen_vcpu_array(struct xnote_xen *x, uint64_t dva, uint64_t *v, size_t cap)
{
	return vcpu_array(x, dva, v, cap);
}

bool az_xen_vcpu_pv(struct xnote_xen *x, uint64_t vva)
{
	uint64_t r[21];
	return saved_frame(x, vva, r);
}

int az_dom0_vcpus(vmc_dump *top, struct az_vcpu *out, size_t cap, size_t *n, char *err,
		  size_t errlen)
{
	return az_domain_vcpus(top, 0, out, cap, n, err, errlen);
}

int az_domain_vcpus(vmc_dump *top, unsigned domid, struct az_vcpu *out, size_t cap, size_t *n,
		    char *err, size_t errlen)
{
	struct xnote_xen *x = calloc(1, sizeof(*x));
	struct xnote_domain *doms = calloc(MAX_DOMS, sizeof(*doms));
	size_t nd = 0, nv = 0, npc = vmc_cpu_count(top);
	uint64_t dom0 = 0, *v = calloc(MAX_VCPUS, sizeof(*v));
	int rc = -1;

	*n = 0;
	if (!x || !v) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (vmc_xen_hv_init(top, x) != VMC_OK) {
		snprintf(err, errlen, "hypervisor memory: %s", vmc_errmsg(top));
		goto out;
	}
	if (!doms) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (xnote_xen_domains(x, doms, MAX_DOMS, &nd) != XNOTE_OK && !nd) {
		snprintf(err, errlen, "domain_list: %s", x->err);
		goto out;
	}
	for (size_t i = 0; i < nd && i < MAX_DOMS; i++)
		if (doms[i].id == domid)
			dom0 = doms[i].va;
	if (!dom0) {
		snprintf(err, errlen, "domain %u is not on domain_list", domid);
		goto out;
	}
	nv = vcpu_array(x, dom0, v, MAX_VCPUS);
	/* the running (or lazily switched-out) guest state on each pCPU */
	struct {
		bool ok;
		uint32_t proc;
		uint64_t cur;
		uint8_t frame[REGS_SIZE];
	} *pc = calloc(npc ? npc : 1, sizeof(*pc));
	if (!pc) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < npc; i++) {
		const struct vmc_cpu *c = vmc_cpu(top, i);
		if (!c->empty)
			pc[i].ok = cpu_info(x, c->regs[VMC_REG_RSP], pc[i].frame, &pc[i].proc,
					    &pc[i].cur);
	}
	/* without the array, the vCPUs that were running are still known */
	if (!nv)
		for (size_t i = 0; i < npc && nv < MAX_VCPUS; i++) {
			struct vhdr h;
			if (pc[i].ok && read_vcpu(x, pc[i].cur, &h) && h.domain == dom0)
				v[nv++] = pc[i].cur;
		}
	if (!nv) {
		snprintf(err, errlen, "no vCPU of domain %u found (struct domain at 0x%llx)",
			 domid, (unsigned long long)dom0);
		free(pc);
		goto out;
	}
	for (size_t k = 0; k < nv && *n < cap; k++) {
		struct az_vcpu *o = &out[(*n)++];
		struct vhdr h;
		memset(o, 0, sizeof(*o));
		read_vcpu(x, v[k], &h);
		o->id = h.id;
		o->vcpu_va = v[k];
		o->pcpu = -1;
		for (size_t i = 0; i < npc && !o->have_regs; i++) {
			if (!pc[i].ok || pc[i].cur != v[k] || !guest_frame(pc[i].frame))
				continue;
			frame_regs(pc[i].frame, o->regs);
			o->have_regs = true;
			o->pcpu = (int)i;
			snprintf(o->from, sizeof(o->from), "guest frame on pCPU %zu's stack", i);
		}
		/* Xen switches lazily to its idle vCPU: the guest state stays on
		 * that pCPU's stack until another guest runs there */
		for (size_t i = 0; i < npc && !o->have_regs; i++) {
			struct vhdr ch;
			bool running_elsewhere = false;
			if (!pc[i].ok || pc[i].proc != h.processor || !guest_frame(pc[i].frame) ||
			    !read_vcpu(x, pc[i].cur, &ch) || !idle_domain(x, ch.domain))
				continue;
			for (size_t j = 0; j < npc; j++)
				running_elsewhere |= pc[j].ok && pc[j].cur == v[k];
			if (running_elsewhere)
				continue;
			frame_regs(pc[i].frame, o->regs);
			o->have_regs = true;
			o->pcpu = (int)i;
			snprintf(o->from, sizeof(o->from), "last guest frame on idle pCPU %zu's stack", i);
		}
		if (!o->have_regs && saved_frame(x, v[k], o->regs)) {
			o->have_regs = true;
			snprintf(o->from, sizeof(o->from), "struct vcpu");
		}
	}
	free(pc);
	rc = 0;
out:
	free(doms);
	free(x);
	free(v);
	return rc;
}

/* ---- the panic line --------------------------------------------------------------- */

struct panic_scan {
	char *buf;
	size_t len;
	int prio;
};

static int panic_cb(void *arg, const struct vmc_logrec *r)
{
	static const struct {
		const char *pfx;
		int prio;
	} pats[] = { { "Kernel panic - not syncing", 2 }, { "BUG: ", 1 }, { "Oops: ", 1 },
		     { "kernel BUG at", 1 } };
	struct panic_scan *s = arg;

	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		size_t pl = strlen(pats[i].pfx), n = r->text_len;
		if (n < pl || memcmp(r->text, pats[i].pfx, pl) || pats[i].prio <= s->prio)
			continue;
		const char *nl = memchr(r->text, '\n', n);
		if (nl)
			n = (size_t)(nl - r->text);
		if (n > s->len - 1)
			n = s->len - 1;
		memcpy(s->buf, r->text, n);
		s->buf[n] = 0;
		s->prio = pats[i].prio;
	}
	return 0;
}

bool az_log_panic(vmc_dump *d, char *buf, size_t len)
{
	struct panic_scan s = { buf, len, 0 };

	if (!len)
		return false;
	buf[0] = 0;
	vmc_dmesg(d, panic_cb, &s);
	return s.prio > 0;
}

/* ---- Xen's stacks --------------------------------------------------------------------- */

int az_xen_stack_scan(vmc_dump *top, size_t cpu, uint64_t text_lo, uint64_t text_hi,
		      struct az_xen_word *out, size_t cap, size_t *n, char *err, size_t errlen)
{
	struct xnote_xen *x;
	const struct vmc_cpu *c = cpu < vmc_cpu_count(top) ? vmc_cpu(top, cpu) : NULL;
	uint64_t sp, end;
	uint8_t *b;
	int rc = -1;

	*n = 0;
	if (!c || c->empty) {
		snprintf(err, errlen, "pCPU %zu saved no registers", cpu);
		return -1;
	}
	sp = c->regs[VMC_REG_RSP] & ~7ULL;
	end = (sp & ~(AZ_XEN_STACK_SIZE - 1)) + AZ_XEN_STACK_SIZE;
	x = calloc(1, sizeof(*x));
	b = malloc(AZ_XEN_STACK_SIZE);
	if (!x || !b) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (vmc_xen_hv_init(top, x) != VMC_OK) {
		snprintf(err, errlen, "hypervisor memory: %s", vmc_errmsg(top));
		goto out;
	}
	if (xnote_xen_read(x, sp, b, (size_t)(end - sp)) != XNOTE_OK) {
		snprintf(err, errlen, "stack at 0x%llx: %s", (unsigned long long)sp, x->err);
		goto out;
	}
	/* below the primary stack: an IST stack (the crash NMI), one page; the
	 * interrupted Xen context's IRET frame (rip, cs 0xe008, rflags, rsp)
	 * sends the scan on to the primary stack */
	uint64_t base = end - AZ_XEN_STACK_SIZE, lim = end, next = 0;
	if (sp - base < XEN_PRIMARY_STACK) {
		lim = (sp | 4095) + 1;
		for (uint64_t a = sp; a + 32 <= lim; a += 8) {
			const uint8_t *f = b + (a - sp);
			uint64_t rsp = le_get64(f + 24);
			if (le_get64(f) >= text_lo && le_get64(f) < text_hi &&
			    le_get64(f + 8) == XEN_CS && rsp - base >= XEN_PRIMARY_STACK &&
			    rsp < end)
				next = rsp & ~7ULL;
		}
	}
	for (uint64_t a = sp; a < end && *n < cap; a += 8) {
		uint64_t w;
		if (a == lim) {
			if (!next)
				break;
			a = next;
		}
		w = le_get64(b + (a - sp));
		if (w >= text_lo && w < text_hi) {
			out[*n].sp = a;
			out[(*n)++].val = w;
		}
	}
	rc = 0;
out:
	free(x);
	free(b);
	return rc;
}
