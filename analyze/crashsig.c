/* crashsig.c - what crashed: the class of a crash from the kernel log (the
 * oops or panic line and the one that says why), the top meaningful frames
 * of the panic CPU's stack, and a signature made of both that stays the same
 * across builds of one source.  No printing: triage.c shows it, the archive
 * indexes it. */
#include "kern.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *id, *text;
} classes[] = {
	[AZ_CC_UNKNOWN] = { "unknown", "unknown (no oops or panic line in the log)" },
	[AZ_CC_SYSRQ] = { "sysrq", "crash requested with sysrq" },
	[AZ_CC_NULL_DEREF] = { "null-deref", "NULL pointer dereference" },
	[AZ_CC_PAGE_FAULT] = { "page-fault", "kernel page fault (bad address)" },
	[AZ_CC_GPF] = { "gpf", "general protection fault" },
	[AZ_CC_BUG] = { "bug", "BUG() (kernel BUG / invalid opcode)" },
	[AZ_CC_WARN] = { "warn", "WARN() with panic_on_warn" },
	[AZ_CC_HARD_LOCKUP] = { "hard-lockup", "hard lockup (NMI watchdog)" },
	[AZ_CC_SOFT_LOCKUP] = { "soft-lockup", "soft lockup" },
	[AZ_CC_HUNG_TASK] = { "hung-task", "hung task" },
	[AZ_CC_RCU_STALL] = { "rcu-stall", "RCU stall" },
	[AZ_CC_OOM] = { "oom", "out of memory" },
	[AZ_CC_MCE] = { "mce", "machine check" },
	[AZ_CC_OOPS] = { "oops", "oops" },
	[AZ_CC_PANIC] = { "panic", "panic" },
};

const char *az_crash_class_id(enum az_crash_class c)
{
	return (unsigned)c < sizeof(classes) / sizeof(classes[0]) ? classes[c].id : "unknown";
}

enum az_crash_class az_crash_class_of(const char *id)
{
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (!strcmp(id, classes[i].id))
			return (enum az_crash_class)i;
	return AZ_CC_UNKNOWN;
}

const char *az_crash_class_text(enum az_crash_class c)
{
	return (unsigned)c < sizeof(classes) / sizeof(classes[0]) ? classes[c].text : "unknown";
}

/* ---- the log --------------------------------------------------------------- */

/* Lines that tell why (the oops's first line, a watchdog's report), with
 * the class each gives.  Matched anywhere in the line: watchdog lines carry
 * a prefix ("watchdog: BUG: soft lockup"). */
static const struct {
	const char *s;
	enum az_crash_class c;
} why_lines[] = {
	{ "BUG: kernel NULL pointer dereference", AZ_CC_NULL_DEREF },
	{ "BUG: unable to handle page fault", AZ_CC_PAGE_FAULT },
	{ "BUG: unable to handle kernel paging request", AZ_CC_PAGE_FAULT },
	{ "general protection fault", AZ_CC_GPF },
	{ "kernel BUG at ", AZ_CC_BUG },
	{ "invalid opcode: ", AZ_CC_BUG },
	{ "hard LOCKUP", AZ_CC_HARD_LOCKUP },
	{ "BUG: soft lockup", AZ_CC_SOFT_LOCKUP },
	{ " blocked for more than ", AZ_CC_HUNG_TASK },
	{ "detected stalls on CPUs", AZ_CC_RCU_STALL },
	{ "self-detected stall on CPU", AZ_CC_RCU_STALL },
	{ "Out of memory", AZ_CC_OOM },
	{ "sysrq: Trigger a crash", AZ_CC_SYSRQ },
	{ "Machine check", AZ_CC_MCE },
	{ "WARNING: CPU: ", AZ_CC_WARN },
};

/* the class a "Kernel panic - not syncing: REASON" gives by itself */
static const struct {
	const char *s;
	enum az_crash_class c;
} panic_reasons[] = {
	{ "sysrq triggered crash", AZ_CC_SYSRQ },
	{ "hung_task", AZ_CC_HUNG_TASK },
	{ "softlockup", AZ_CC_SOFT_LOCKUP },
	{ "Hard LOCKUP", AZ_CC_HARD_LOCKUP },
	{ "panic_on_warn", AZ_CC_WARN },
	{ "Out of memory", AZ_CC_OOM },
	{ "deadlocked on memory", AZ_CC_OOM },
	{ "Machine check", AZ_CC_MCE },
	{ "RCU Stall", AZ_CC_RCU_STALL },
	{ "Fatal exception", AZ_CC_OOPS },
};

static bool has(const char *t, size_t len, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(t + i, s, n))
			return true;
	return false;
}

static void copy_line(char *dst, size_t size, const char *t, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, t, len);
	dst[len] = 0;
}

void az_crashlog_begin(struct az_crashlog *cl)
{
	memset(cl, 0, sizeof(*cl));
}

static void snapshot_before(struct az_crashlog_scan *ls)
{
	ls->why_nbefore = ls->nlast;
	for (int i = 0; i < ls->nlast; i++) {
		int at = (ls->head - ls->nlast + i + 2 * AZ_CRASH_BEFORE) % AZ_CRASH_BEFORE;
		memcpy(ls->why_before[i], ls->last[at], sizeof(ls->why_before[i]));
	}
}

#define RECENT 20   /* lines: a why line older than this is not the oops's */

static void set_why(struct az_crashlog_scan *ls, enum az_crash_class c, const char *t,
		    size_t len, uint64_t ts)
{
	snapshot_before(ls);
	copy_line(ls->why, sizeof(ls->why), t, len);
	ls->why_cls = c;
	ls->why_ts = ts;
	ls->why_line = ls->line_no;
}

/* die()'s header: "TEXT: %04lx [#N]" (Oops, invalid opcode, general
 * protection fault, ...) */
static bool oops_header(const char *t, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++)
		if (t[i] == ' ' && t[i + 1] == '[' && t[i + 2] == '#' && t[i + 3] >= '0' &&
		    t[i + 3] <= '9')
			return memchr(t, ':', i) != NULL;
	return false;
}

static void fix_cause(struct az_crashlog *cl, const struct az_crashlog_scan *ls)
{
	cl->cls = ls->why_cls;
	memcpy(cl->cause, ls->why, sizeof(cl->cause));
	cl->cause_ts_nsec = ls->why_ts;
	cl->have_ts = true;
	cl->nbefore = ls->why_nbefore;
	memcpy(cl->before, ls->why_before, sizeof(cl->before));
}

void az_crashlog_line(struct az_crashlog *cl, const char *t, size_t len, uint64_t ts)
{
	struct az_crashlog_scan *ls = &cl->scan;

	enum az_crash_class c = AZ_CC_UNKNOWN;

	ls->line_no++;
	for (size_t i = 0; i < sizeof(why_lines) / sizeof(why_lines[0]) && !c; i++)
		if (has(t, len, why_lines[i].s))
			c = why_lines[i].c;
	/* a run of lines of one class (kernel BUG at ..., then the oops
	 * header "invalid opcode: ...") is told by its first line */
	if (c && !ls->oopsed &&
	    !(ls->why[0] && ls->why_cls == c && ls->line_no - ls->why_line <= RECENT)) {
		set_why(ls, c, t, len, ts);
		/* the first oops line stands for the panic until a panic line */
		if (!cl->panic[0] && c != AZ_CC_WARN && c != AZ_CC_SYSRQ)
			copy_line(cl->panic, sizeof(cl->panic), t, len);
	}
	if (!ls->oopsed && oops_header(t, len)) {
		/* the first oops (die() prints "TEXT: %04lx [#1] ..."): its
		 * cause is the recent why line before it, else the header */
		ls->oopsed = true;
		if (!ls->why[0] || ls->why_cls == AZ_CC_WARN || ls->why_cls == AZ_CC_SYSRQ ||
		    ls->line_no - ls->why_line > RECENT)
			set_why(ls, c ? c : AZ_CC_OOPS, t, len, ts);
		fix_cause(cl, ls);
		if (!cl->panic[0])
			copy_line(cl->panic, sizeof(cl->panic), t, len);
	}
	static const char kp[] = "Kernel panic - not syncing: ";
	if (len >= sizeof(kp) - 1 && !memcmp(t, kp, sizeof(kp) - 1)) {
		copy_line(cl->panic, sizeof(cl->panic), t, len);
		if (!ls->oopsed) {
			c = AZ_CC_PANIC;
			for (size_t i = 0; i < sizeof(panic_reasons) / sizeof(panic_reasons[0]); i++)
				if (has(t, len, panic_reasons[i].s)) {
					c = panic_reasons[i].c;
					break;
				}
			/* a watchdog's report before its panic names it better;
			 * a WARN counts only when the panic says panic_on_warn */
			if (!ls->why[0] || (ls->why_cls == AZ_CC_WARN && c != AZ_CC_WARN) ||
			    (c != AZ_CC_PANIC && c != AZ_CC_OOPS && ls->why_cls != c)) {
				set_why(ls, c, t, len, ts);
			}
			fix_cause(cl, ls);
			ls->oopsed = true;
		}
	}
	copy_line(ls->last[ls->head], sizeof(ls->last[0]), t, len);
	ls->head = (ls->head + 1) % AZ_CRASH_BEFORE;
	if (ls->nlast < AZ_CRASH_BEFORE)
		ls->nlast++;
}

void az_crashlog_end(struct az_crashlog *cl)
{
	struct az_crashlog_scan *ls = &cl->scan;
	/* neither an oops nor a panic line: the last why line, if any */
	if (!ls->oopsed && ls->why[0])
		fix_cause(cl, ls);
}

static int log_cb(void *arg, const struct vmc_logrec *r)
{
	const char *t = r->text, *end = r->text + r->text_len;
	while (t < end) {   /* a record may hold several lines */
		const char *nl = memchr(t, '\n', (size_t)(end - t));
		size_t n = nl ? (size_t)(nl - t) : (size_t)(end - t);
		az_crashlog_line(arg, t, n, r->ts_nsec);
		t += n + (nl ? 1 : 0);
	}
	return 0;
}

int az_crashlog_read(vmc_dump *d, struct az_crashlog *cl)
{
	az_crashlog_begin(cl);
	int rc = vmc_dmesg(d, log_cb, cl);
	az_crashlog_end(cl);
	return rc == VMC_OK ? 0 : -1;
}

/* ---- the stack ------------------------------------------------------------- */

/* functions of the crash machinery itself: never "where it crashed" */
static const char *const machinery[] = {
	"machine_kexec", "__crash_kexec", "crash_kexec", "panic", "vpanic", "oops_end", "die",
	"die_addr", "__die", "__die_body", "page_fault_oops", "kernelmode_fixup_or_oops",
	"__bad_area_nosemaphore", "bad_area_nosemaphore", "do_user_addr_fault", "exc_page_fault",
	"asm_exc_page_fault", "handle_bug", "exc_invalid_op", "asm_exc_invalid_op", "do_error_trap",
	"do_trap", "exc_general_protection", "asm_exc_general_protection", "__warn", "report_bug",
	"dump_stack", "dump_stack_lvl", "show_stack", "nmi_panic", "watchdog_overflow_callback",
	"watchdog_hardlockup_check", "__perf_event_overflow", "perf_event_overflow",
	"watchdog_timer_fn", "__hrtimer_run_queues", "hrtimer_interrupt", "check_hung_uninterruptible_tasks",
	"crash_nmi_callback", "nmi_handle", "default_do_nmi", "exc_nmi", "end_repeat_nmi",
	"asm_exc_nmi", "sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt",
	"__sysvec_apic_timer_interrupt", "native_machine_crash_shutdown", "crash_setup_regs",
};

bool az_crash_machinery(const char *name)
{
	for (size_t i = 0; i < sizeof(machinery) / sizeof(machinery[0]); i++)
		if (!strcmp(name, machinery[i]))
			return true;
	return false;
}

const struct az_stack *az_crash_stack(const struct az_stack *st, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (st[i].panic)
			return &st[i];
	return n == 1 ? &st[0] : NULL;
}

bool az_crash_reporting(const char *name)
{
	static const char *const names[] = { "panic", "vpanic", "nmi_panic", "oops_end", "die",
					     "__die", "die_addr", "__warn" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

int az_crash_frames(struct az_kernel *k, const struct az_stack *s, struct az_sig_frame *out,
		    int max)
{
	int start = 0, n = 0;

	for (int i = 0; i < s->nf; i++)
		if (s->f[i].has_regs && !s->f[i].user_regs && s->f[i].reliable) {
			start = i + 1;   /* the faulting code and its callers */
			break;
		}
	/* no exception: what lies inside the outermost reporting function is
	 * how the crash was told, or, in a dump taken after the panic (QEMU's
	 * dump-guest-memory, panic=0), where the CPU has waited since (the
	 * delay loop in panic()); the crash is its caller */
	bool skipping = start == 0;
	for (int i = 0; skipping && i < s->nf; i++) {
		struct az_where w;
		if (s->f[i].reliable && az_lookup(k, s->f[i].ip, &w) && !w.mod &&
		    az_crash_reporting(az_sym_name(w.tab, w.sym)))
			start = i + 1;
	}
	for (int i = start; i < s->nf && n < max; i++) {
		const struct az_frame *f = &s->f[i];
		struct az_where w;
		if (!f->reliable)
			continue;
		bool found = az_lookup(k, f->ip, &w);
		const char *name = found ? az_sym_name(w.tab, w.sym) : "";
		if (skipping && found && !w.mod && az_crash_machinery(name))
			continue;
		skipping = false;
		if (f->has_regs && f->user_regs)
			break;
		struct az_sig_frame *o = &out[n++];
		memset(o, 0, sizeof(*o));
		snprintf(o->function, sizeof(o->function), "%s", name);
		if (found && w.mod)
			snprintf(o->module, sizeof(o->module), "%s", w.mod->name);
		o->ip = f->ip;
		o->off = found ? w.off : 0;
	}
	return n;
}

/* name without the compiler's clone suffixes */
static size_t base_len(const char *name)
{
	static const char *const sfx[] = { ".constprop.", ".isra.", ".part.", ".cold", ".lto_priv." };
	size_t len = strlen(name);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		const char *p = strstr(name, sfx[i]);
		if (p && (size_t)(p - name) < len)
			len = (size_t)(p - name);
	}
	return len;
}

void az_crash_signature(enum az_crash_class c, const struct az_sig_frame *f, int n, char *buf,
			size_t len)
{
	size_t o = 0;
	int w = snprintf(buf, len, "%s:", az_crash_class_id(c));
	if (w < 0 || (size_t)w >= len)
		return;
	o = (size_t)w;
	for (int i = 0; i < n && i < 3; i++) {
		const char *name = f[i].function[0] ? f[i].function : "?";
		w = snprintf(buf + o, len - o, "%s%.*s%s%s%s", i ? "/" : "", (int)base_len(name), name,
			     f[i].module[0] ? "[" : "", f[i].module, f[i].module[0] ? "]" : "");
		if (w < 0 || (size_t)w >= len - o)
			return;
		o += (size_t)w;
	}
}
