/* unwind.c - x86_64 kernel stack unwinding.  ORC first (the rules of
 * arch/x86/kernel/unwind_orc.c: CFA from sp/bp/registers, return address
 * below it, pt_regs for REGS entries, IRET frames for REGS_PARTIAL); where
 * no ORC entry covers an address (objtool left it undefined, modules, no
 * ORC at all): the return address whose call targets the function, then
 * frame pointers, and when all fail a scan of the rest of the stack for
 * kernel text addresses, each marked unreliable.  The tables: orc.c. */
#include "kern.h"
#include "../common/le.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PT_REGS_WORDS 21
#define IRET_OFFSET (16 * 8)      /* offsetof(struct pt_regs, ip) */
#define STACK_GUESS (16 * 1024)   /* THREAD_SIZE on x86_64 without KASAN */
#define MAX_SCAN 48

enum { R_R15, R_R14, R_R13, R_R12, R_BP, R_BX, R_R11, R_R10, R_R9, R_R8, R_AX,
       R_CX, R_DX, R_SI, R_DI, R_ORIG_AX, R_IP, R_CS, R_FLAGS, R_SP, R_SS };

struct ustate {
	uint64_t ip, sp, bp;
	bool signal;
	bool have_regs, full;     /* cur[] holds the registers of this frame */
	uint64_t cur[PT_REGS_WORDS];
};

static bool get_reg(const struct ustate *s, int r, uint64_t *v)
{
	if (!s->have_regs)
		return false;
	if (!s->full && r != R_IP && r != R_CS && r != R_FLAGS && r != R_SP && r != R_SS)
		return false;
	*v = s->cur[r];
	return true;
}

static bool user_mode(const uint64_t *regs)
{
	return (regs[R_CS] & 3) != 0;
}

static int emit(struct az_frame *out, int max, int *n, const struct ustate *s,
		enum az_frame_how how, bool reliable)
{
	if (*n >= max)
		return -1;
	struct az_frame *f = &out[(*n)++];
	memset(f, 0, sizeof(*f));
	f->ip = s->ip;
	f->sp = s->sp;
	f->how = how;
	f->reliable = reliable;
	return 0;
}

static void scan(struct az_kernel *k, uint64_t from, uint64_t hi, struct az_frame *out,
		 int max, int *n)
{
	int found = 0;
	for (uint64_t a = from & ~7ull; a + 8 <= hi && found < MAX_SCAN && *n < max; a += 8) {
		uint64_t w;
		if (az_read_u64(k, a, &w) < 0)
			break;
		if (!az_is_text(k, w))
			continue;
		struct az_frame *f = &out[(*n)++];
		memset(f, 0, sizeof(*f));
		f->ip = w;
		f->sp = a;
		f->how = AZ_HOW_SCAN;
		f->reliable = false;
		found++;
	}
}

/* One step for a function without unwind data: the first word above sp
 * that is a return address right after a direct call (e8 rel32) of the
 * function holding ip.  Strong enough to trust (a stale address would have
 * to come from another call of the same function), unlike a plain scan. */
static bool retaddr_step(struct az_kernel *k, struct ustate *s, uint64_t hi)
{
	uint64_t fn;
	struct az_where wh;
	if (!az_lookup(k, s->ip, &wh))
		return false;
	fn = wh.sym->addr;
	for (uint64_t a = s->sp & ~7ull; a + 8 <= hi && a < s->sp + 4096; a += 8) {
		uint64_t w;
		uint8_t call[5];
		if (az_read_u64(k, a, &w) < 0)
			return false;
		if (!az_is_text(k, w) || az_read(k, w - 5, call, 5) < 0 || call[0] != 0xe8)
			continue;
		int32_t rel = (int32_t)le_get32(call + 1);
		if (w + (uint64_t)(int64_t)rel != fn)
			continue;
		s->ip = w;
		s->sp = a + 8;
		s->signal = false;
		s->have_regs = false;
		return true;
	}
	return false;
}

/* One step by frame pointer: bp points at the saved bp, the return address
 * above it. */
static bool fp_step(struct az_kernel *k, struct ustate *s, uint64_t hi)
{
	uint64_t nbp, ret;
	if (s->bp < s->sp || s->bp + 16 > hi || (s->bp & 7))
		return false;
	if (az_read_u64(k, s->bp, &nbp) < 0 || az_read_u64(k, s->bp + 8, &ret) < 0)
		return false;
	if (!az_is_text(k, ret))
		return false;
	s->sp = s->bp + 16;
	s->ip = ret;
	s->bp = nbp;
	s->signal = false;
	s->have_regs = false;
	return true;
}

int az_unwind(struct az_kernel *k, const uint64_t regs[21], bool first_is_call,
	      const struct az_unwind_opts *o, struct az_frame *out, int max, char *why,
	      size_t whylen)
{
	struct ustate s = { 0 };
	int n = 0;
	uint64_t lo, hi;
	enum az_frame_how how = AZ_HOW_REGS;

	*why = 0;
	memcpy(s.cur, regs, sizeof(s.cur));
	s.have_regs = s.full = true;
	s.ip = regs[R_IP];
	s.sp = regs[R_SP];
	s.bp = regs[R_BP];
	s.signal = !first_is_call;
	lo = o && o->stack_lo ? o->stack_lo : s.sp & ~(uint64_t)(STACK_GUESS - 1);
	hi = o && o->stack_hi ? o->stack_hi : lo + STACK_GUESS;
	if (user_mode(regs)) {
		snprintf(why, whylen, "the CPU was in user mode");
		return 0;
	}
	for (;;) {
		struct az_orc_entry e;
		uint64_t cfa, t;
		bool indirect = false, stack_switch = false;

		if (emit(out, max, &n, &s, how, true) < 0) {
			snprintf(why, whylen, "stopped after %d frames", max);
			return n;
		}
		if (s.have_regs && user_mode(s.cur))
			return n;
		uint64_t prev_sp = s.sp;
		if (!az_find_orc(k, s.signal ? s.ip : s.ip - 1, &e) ||
		    e.type == AZ_ORC_T_UNDEFINED) {
			/* no ORC for this address: its call site, frame pointers,
			 * then a scan */
			if (retaddr_step(k, &s, hi)) {
				how = AZ_HOW_RETADDR;
				continue;
			}
			if (fp_step(k, &s, hi)) {
				how = AZ_HOW_FP;
				continue;
			}
			snprintf(why, whylen, "no unwind data at %s; rest of the stack scanned",
				 k->have_orc ? "this address" : "all (no ORC tables)");
			scan(k, prev_sp, hi, out, max, &n);
			return n;
		}
		if (e.type == AZ_ORC_T_END)
			return n;
		switch (e.sp_reg) {
		case AZ_ORC_REG_SP: cfa = s.sp + (uint64_t)(int64_t)e.sp_offset; break;
		case AZ_ORC_REG_BP: cfa = s.bp + (uint64_t)(int64_t)e.sp_offset; break;
		case AZ_ORC_REG_SP_INDIRECT: cfa = s.sp; indirect = true; break;
		case AZ_ORC_REG_BP_INDIRECT:
			cfa = s.bp + (uint64_t)(int64_t)e.sp_offset;
			indirect = true;
			break;
		case AZ_ORC_REG_R10: case AZ_ORC_REG_R13: case AZ_ORC_REG_DI: case AZ_ORC_REG_DX: {
			int r = e.sp_reg == AZ_ORC_REG_R10 ? R_R10 : e.sp_reg == AZ_ORC_REG_R13 ? R_R13 :
				e.sp_reg == AZ_ORC_REG_DI ? R_DI : R_DX;
			if (!get_reg(&s, r, &cfa)) {
				snprintf(why, whylen, "ORC needs a register not saved here; rest scanned");
				scan(k, prev_sp, hi, out, max, &n);
				return n;
			}
			stack_switch = true;
			break;
		}
		default:
			snprintf(why, whylen, "unknown ORC sp_reg %u; rest of the stack scanned",
				 e.sp_reg);
			scan(k, prev_sp, hi, out, max, &n);
			return n;
		}
		if (indirect) {
			if (az_read_u64(k, cfa, &cfa) < 0)
				goto unreadable;
			if (e.sp_reg == AZ_ORC_REG_SP_INDIRECT)
				cfa += (uint64_t)(int64_t)e.sp_offset;
			stack_switch = true;
		}
		uint64_t old_bp = s.bp;
		switch (e.type) {
		case AZ_ORC_T_CALL:
			if (az_read_u64(k, cfa - 8, &s.ip) < 0)
				goto unreadable;
			s.sp = cfa;
			s.have_regs = false;
			s.signal = false;
			break;
		case AZ_ORC_T_REGS: {
			struct az_frame *f = &out[n - 1];
			if (az_read(k, cfa, s.cur, sizeof(s.cur)) < 0)
				goto unreadable;
			f->has_regs = true;
			f->regs_addr = cfa;
			memcpy(f->regs, s.cur, sizeof(f->regs));
			f->user_regs = user_mode(s.cur);
			s.ip = s.cur[R_IP];
			s.sp = s.cur[R_SP];
			s.have_regs = s.full = true;
			s.signal = true;
			stack_switch = true;
			break;
		}
		case AZ_ORC_T_REGS_PARTIAL: {
			struct az_frame *f = &out[n - 1];
			uint64_t iret[5];
			if (az_read(k, cfa, iret, sizeof(iret)) < 0)
				goto unreadable;
			memset(s.cur, 0, sizeof(s.cur));
			memcpy(&s.cur[R_IP], iret, sizeof(iret));
			f->has_regs = true;
			f->partial_regs = true;
			f->regs_addr = cfa - IRET_OFFSET;
			memcpy(f->regs, s.cur, sizeof(f->regs));
			f->user_regs = user_mode(s.cur);
			s.ip = iret[0];
			s.sp = iret[3];
			s.have_regs = true;
			s.full = false;
			s.signal = true;
			stack_switch = true;
			break;
		}
		default:
			snprintf(why, whylen, "unknown ORC type; rest of the stack scanned");
			scan(k, prev_sp, hi, out, max, &n);
			return n;
		}
		switch (e.bp_reg) {
		case AZ_ORC_REG_UNDEFINED:
			if (get_reg(&s, R_BP, &t))
				s.bp = t;
			break;
		case AZ_ORC_REG_PREV_SP:
			if (az_read_u64(k, cfa + (uint64_t)(int64_t)e.bp_offset, &s.bp) < 0)
				goto unreadable;
			break;
		case AZ_ORC_REG_BP:
			if (az_read_u64(k, old_bp + (uint64_t)(int64_t)e.bp_offset, &s.bp) < 0)
				goto unreadable;
			break;
		default:
			break;
		}
		if (!stack_switch && s.sp <= prev_sp) {
			snprintf(why, whylen, "stack pointer did not move up (bad ORC data?)");
			return n;
		}
		if (stack_switch && !(s.have_regs && user_mode(s.cur))) {
			/* a new stack (IRQ/exception stack -> task stack, or back) */
			lo = s.sp & ~(uint64_t)(STACK_GUESS - 1);
			if (!(o && o->stack_hi && s.sp >= o->stack_lo && s.sp < o->stack_hi))
				hi = lo + STACK_GUESS;
			else
				hi = o->stack_hi;
		}
		how = AZ_HOW_ORC;
		if (s.have_regs && user_mode(s.cur))
			return n;
		continue;
unreadable:
		snprintf(why, whylen, "stack word not readable in the dump: %s", vmc_errmsg(k->d));
		return n;
	}
}

int az_task_saved_regs(struct az_kernel *k, const struct az_task *p, uint64_t regs[21],
		       bool *first_is_call, struct az_unwind_opts *o)
{
	uint64_t sp, bp, ret, stack, rff;
	int64_t off = k->lay.off[AZ_F_TASK_THREAD_SP];

	memset(o, 0, sizeof(*o));
	if (off < 0 || az_read_u64(k, p->addr + (uint64_t)off, &sp) < 0) {
		snprintf(k->err, sizeof(k->err), "task %d: thread.sp unknown or unreadable", p->pid);
		return -1;
	}
	if (az_read_u64(k, sp + (uint64_t)k->lay.off[AZ_F_ITF_BP], &bp) < 0 ||
	    az_read_u64(k, sp + (uint64_t)k->lay.off[AZ_F_ITF_RET], &ret) < 0) {
		snprintf(k->err, sizeof(k->err), "task %d: saved frame at 0x%" PRIx64 " not readable",
			 p->pid, sp);
		return -1;
	}
	memset(regs, 0, PT_REGS_WORDS * sizeof(regs[0]));
	regs[VMC_REG_RSP] = sp + k->lay.inactive_frame_size;
	regs[VMC_REG_RBP] = bp;
	regs[VMC_REG_RIP] = ret;
	regs[VMC_REG_CS] = 0x10;
	/* a new task returns into ret_from_fork: not a call site */
	*first_is_call = !((az_sym(k, "ret_from_fork_asm", &rff) == 0 && rff == ret) ||
			   (az_sym(k, "ret_from_fork", &rff) == 0 && rff == ret));
	if (k->lay.off[AZ_F_TASK_STACK] >= 0 &&
	    az_read_u64(k, p->addr + (uint64_t)k->lay.off[AZ_F_TASK_STACK], &stack) == 0 && stack) {
		o->stack_lo = stack;
		o->stack_hi = stack + STACK_GUESS;
	}
	return 0;
}

/* The crash path below an exception's registers (docs/formats.md §7.4).
 * oops_end() hands the exception's pt_regs to crash_kexec(), so the saved
 * registers of an oopsing CPU are the faulting code's, while the stack
 * below them still holds the path from the exception entry down to
 * machine_kexec().  Its start is the return address whose call instruction
 * targets machine_kexec (which never returns, so no stale copy of that
 * call can sit on the stack); the unwind from there must meet an exception
 * frame holding exactly these registers, or nothing is claimed.  When the
 * registers were taken in the function that made that call (panic() without
 * an exception: __crash_kexec's crash_setup_regs), machine_kexec is added
 * above them. */
int az_unwind_crash_path(struct az_kernel *k, const uint64_t regs[21],
			 const struct az_unwind_opts *o, struct az_frame *out, int max,
			 char *why, size_t whylen)
{
	uint64_t mk, sp = regs[R_SP], lo;

	*why = 0;
	if (max < 3 || user_mode(regs) || az_sym(k, "machine_kexec", &mk) < 0)
		return 0;
	lo = o && o->stack_lo && sp >= o->stack_lo && sp < o->stack_hi ? o->stack_lo :
		sp & ~(uint64_t)(STACK_GUESS - 1);
	if (sp < lo + 16 || sp - lo > STACK_GUESS)
		return 0;
	for (uint64_t a = (sp - 8) & ~7ull; a >= lo; a -= 8) {
		uint64_t w, tmp[PT_REGS_WORDS] = { 0 };
		uint8_t call[5];
		if (az_read_u64(k, a, &w) < 0)
			return 0;
		if (!az_is_text(k, w) || az_read(k, w - 5, call, 5) < 0 || call[0] != 0xe8 ||
		    w + (uint64_t)(int64_t)(int32_t)le_get32(call + 1) != mk)
			continue;
		tmp[R_IP] = w;
		tmp[R_SP] = a + 8;
		tmp[R_CS] = regs[R_CS];
		int n = az_unwind(k, tmp, true, o, out + 1, max - 1, why, whylen);
		for (int i = 1; i <= n; i++) {
			const struct az_frame *f = &out[i];
			if (!f->has_regs || f->user_regs || f->partial_regs ||
			    f->regs[R_IP] != regs[R_IP] || f->regs[R_SP] != regs[R_SP])
				continue;
			memset(&out[0], 0, sizeof(out[0]));
			out[0].ip = mk;
			out[0].sp = a;
			out[0].how = AZ_HOW_CALLED;
			out[0].reliable = true;
			out[1].how = AZ_HOW_RETADDR;
			return n + 1;
		}
		/* panic() without an exception: the registers are
		 * __crash_kexec's own (crash_setup_regs), taken in the function
		 * that then called machine_kexec; only that call is added */
		struct az_where wa, wr;
		if (az_lookup(k, w, &wa) && az_lookup(k, regs[R_IP], &wr) && wa.sym == wr.sym &&
		    a + 8 <= sp) {
			int m = az_unwind(k, regs, false, o, out + 1, max - 1, why, whylen);
			memset(&out[0], 0, sizeof(out[0]));
			out[0].ip = mk;
			out[0].sp = a;
			out[0].how = AZ_HOW_CALLED;
			out[0].reliable = true;
			return m + 1;
		}
		break;   /* only one call of machine_kexec can be live */
	}
	*why = 0;
	return 0;
}

/* The NMI stack above an NMI-stopped CPU's registers (docs/formats.md §7.4).
 * The CPU runs crash_nmi_callback() on its NMI stack (cea_exception_stacks'
 * NMI_stack, per CPU) with the interrupted context's pt_regs at the stack's
 * top.  crash_nmi_callback spins in its halt loop: the return addresses of
 * the calls it made (saving this CPU's registers) are still right below its
 * frame, each a place in it from which its frame unwinds; the unwind must
 * meet the NMI's exception frame holding exactly regs. */
int az_unwind_nmi_path(struct az_kernel *k, const uint64_t regs[21], int cpu,
		       const struct az_unwind_opts *o, struct az_frame *out, int max,
		       char *why, size_t whylen)
{
	uint64_t cn, pcpu, cea, lo, hi;
	struct az_where w;
	int64_t off = k->lay.off[AZ_F_CEA_NMI_STACK];
	uint32_t size = k->lay.size[AZ_F_CEA_NMI_STACK];

	(void)o;
	*why = 0;
	if (max < 3 || cpu < 0 || off < 0 || size < 1024 || size > 65536 ||
	    az_sym(k, "crash_nmi_callback", &cn) < 0 || !az_lookup(k, cn, &w) || !w.size ||
	    az_sym(k, "cea_exception_stacks", &pcpu) < 0 ||
	    az_percpu(k, pcpu, (unsigned)cpu, &pcpu) < 0 || az_read_u64(k, pcpu, &cea) < 0 || !cea)
		return 0;
	lo = cea + (uint64_t)off;
	hi = lo + size;
	if (hi < lo)
		return 0;
	struct az_unwind_opts no = { lo, hi };
	for (uint64_t a = lo; a + 8 <= hi; a += 8) {
		uint64_t v, tmp[PT_REGS_WORDS] = { 0 };
		if (az_read_u64(k, a, &v) < 0)
			return 0;
		if (v <= cn || v - cn >= w.size)
			continue;
		tmp[R_IP] = v;
		tmp[R_SP] = a + 8;
		tmp[R_CS] = regs[R_CS] & ~3ull;
		int n = az_unwind(k, tmp, true, &no, out, max, why, whylen);
		for (int i = 1; i < n; i++) {
			const struct az_frame *f = &out[i];
			if (!f->has_regs || f->partial_regs || f->regs[R_IP] != regs[R_IP] ||
			    f->regs[R_SP] != regs[R_SP])
				continue;
			out[0].how = AZ_HOW_CALLED;
			return n;
		}
	}
	*why = 0;
	return 0;
}
