/* sig.c - crash signatures: what makes two dumps "the same crash" (DESIGN.md,
 * "Crash signatures").  Built only from names and text the kernel printed,
 * never from addresses, so KASLR, a rebuild that moves code and the dump's
 * source (our agent, makedumpfile, QEMU dump-guest-memory) do not change it. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* The classes, most specific first. */
static const struct {
	const char *pat, *cls;
} classes[] = {
	{ "BUG: kernel NULL pointer dereference", "null-deref" },
	{ "BUG: unable to handle page fault", "page-fault" },
	{ "BUG: unable to handle kernel paging request", "page-fault" },
	{ "BUG: soft lockup", "soft-lockup" },
	{ "hard LOCKUP", "hard-lockup" },
	{ "blocked for more than", "hung-task" },
	{ "hung_task: blocked tasks", "hung-task" },
	{ "general protection fault", "gpf" },
	{ "kernel BUG at", "bug" },
	{ "BUG: scheduling while atomic", "atomic-sleep" },
	{ "BUG: KASAN", "kasan" },
	{ "invalid opcode", "invalid-opcode" },
	{ "stack-protector", "stack-protector" },
	{ "Kernel stack is corrupted", "stack-protector" },
	{ "Out of memory and no killable processes", "oom" },
	{ "System is deadlocked on memory", "oom" },
	{ "Attempted to kill init", "init-exit" },
	{ "VFS: Unable to mount root fs", "no-root" },
	{ "sysrq triggered crash", "sysrq" },
	{ "Hardware Error", "mce" },
	{ "Machine check", "mce" },
	{ "Xen panic", "xen" },
	{ "WARNING: CPU:", "warning" },
	{ "BUG: ", "bug" },
	{ "Oops", "oops" },
	{ "Kernel panic - not syncing", "panic" },
};

const char *arc_sig_class(const char *panic, const char *log)
{
	/* the most specific class either text names: "Fatal exception" in the
	 * panic string says less than the Oops line before it in the log */
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if ((panic && strstr(panic, classes[i].pat)) || (log && strstr(log, classes[i].pat)))
			return classes[i].cls;
	return "unknown";
}

void arc_sig_func(const char *name, char *out, size_t size)
{
	size_t n = 0;

	if (!size)
		return;
	/* the kernel's function names hold no '.' or '+': what follows either
	 * is a compiler suffix (.cold, .isra.0, .constprop.0, .part.0,
	 * .llvm.123) or an offset */
	while (name[n] && name[n] != '.' && name[n] != '+' && name[n] != ' ')
		n++;
	if (n >= size)
		n = size - 1;
	memcpy(out, name, n);
	out[n] = 0;
}

static bool prefixed(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

bool arc_sig_generic(const char *f)
{
	static const char *const exact[] = {
		/* panic and oops handling */
		"panic", "vpanic", "nmi_panic", "__crash_kexec", "crash_kexec", "oops_end",
		"die", "__die", "__die_body", "die_addr", "do_trap", "do_error_trap",
		"handle_bug", "report_bug", "__warn", "warn_slowpath_fmt", "do_exit",
		"make_task_dead", "page_fault_oops", "kernelmode_fixup_or_oops",
		"__bad_area_nosemaphore", "bad_area_nosemaphore", "bad_area",
		"do_user_addr_fault", "handle_page_fault", "do_page_fault", "no_context",
		"fixup_exception", "dump_stack", "dump_stack_lvl", "show_stack",
		"machine_crash_shutdown", "native_machine_crash_shutdown", "crash_setup_regs",
		"watchdog_overflow_callback", "watchdog_timer_fn", "watchdog_hardlockup_check",
		"__perf_event_overflow", "perf_event_overflow", "check_hung_uninterruptible_tasks",
		"watchdog", "out_of_memory",
		/* sysrq dispatch (the handler itself, sysrq_handle_*, is kept) */
		"__handle_sysrq", "handle_sysrq", "write_sysrq_trigger", "sysrq_handle_keypress",
		/* interrupt and system call entry */
		"do_syscall_64", "do_int80_syscall_32", "common_interrupt", "irq_exit_rcu",
		"__irq_exit_rcu", "do_softirq", "__do_softirq", "handle_softirqs", "do_nmi",
		"default_do_nmi", "nmi_handle", "ret_from_fork", "kthread",
	};
	static const char *const prefix[] = {
		"exc_", "asm_exc_", "asm_sysvec_", "sysvec_", "__sysvec_", "entry_SYSCALL",
		"entry_INT80", "ret_from_fork", "rewind_stack", "panic_", "__x64_sys_", "__ia32_sys_",
		"__do_sys_", "xen_",
	};

	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(f, exact[i]))
			return true;
	for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (prefixed(f, prefix[i]))
			return true;
	return false;
}

static bool reporting(const char *f)
{
	static const char *const names[] = { "panic", "vpanic", "nmi_panic", "oops_end", "die",
					     "__die", "die_addr", "__warn", "check_panic_on_warn" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(f, names[i]))
			return true;
	return false;
}

void arc_sign(const char *panic, const char *log, const char *const *frames, size_t n,
	      struct arc_sig *out)
{
	size_t start = 0, o;

	memset(out, 0, sizeof(*out));
	snprintf(out->cls, sizeof(out->cls), "%s", arc_sig_class(panic, log));
	/* what is inside the outermost reporting frame is how the crash was
	 * reported (and, in a dump taken after the panic, where the CPU waited
	 * since: delay loops, halt); the crash is what called it */
	for (size_t i = 0; i < n; i++) {
		char f[128];
		if (!frames[i])
			continue;
		arc_sig_func(frames[i], f, sizeof(f));
		if (reporting(f))
			start = i + 1;
	}
	for (size_t i = start; i < n && out->nframes < ARC_SIG_FRAMES; i++) {
		char f[128];
		if (!frames[i])
			continue;
		/* an exception frame: before any meaningful frame it leads from
		 * the exception handling to the code that faulted; after one,
		 * into code the crash interrupted, which is not the crash */
		if (!strcmp(frames[i], "|")) {
			if (out->nframes)
				break;
			continue;
		}
		arc_sig_func(frames[i], f, sizeof(f));
		if (!f[0] || arc_sig_generic(f))
			continue;
		/* the same function twice in a row (recursion) counts once */
		if (out->nframes && !strcmp(out->frames[out->nframes - 1], f))
			continue;
		memcpy(out->frames[out->nframes++], f, sizeof(f));
	}
	o = (size_t)snprintf(out->text, sizeof(out->text), "v%d %s:", ARC_SIG_VERSION, out->cls);
	for (int i = 0; i < out->nframes && o < sizeof(out->text); i++)
		o += (size_t)snprintf(out->text + o, sizeof(out->text) - o, "%s%s", i ? " < " : " ",
				      out->frames[i]);
	if (!out->nframes && o < sizeof(out->text))
		snprintf(out->text + o, sizeof(out->text) - o, " (no frames)");
	arc_sig_id_of(out->text, out->id);
}

void arc_sig_id_of(const char *s, char out[17])
{
	if (strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16) {
		memcpy(out, s, 17);
		return;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)XXH3_64bits(s, strlen(s)));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *arc_words_sorted(const char *s, char sep)
{
	size_t n = 1, len;
	char *copy, *out, **w;

	if (!s)
		return NULL;
	len = strlen(s);
	for (const char *p = s; *p; p++)
		n += *p == sep;
	copy = strdup(s);
	out = malloc(len + 1);
	w = malloc(n * sizeof(*w));
	if (!copy || !out || !w) {
		free(copy);
		free(out);
		free(w);
		return NULL;
	}
	n = 0;
	for (char *p = copy, *e; p; p = e) {
		e = strchr(p, sep);
		if (e)
			*e++ = 0;
		w[n++] = p;
	}
	qsort(w, n, sizeof(*w), cmp_str);
	out[0] = 0;
	for (size_t i = 0, o = 0; i < n; i++) {
		size_t l = strlen(w[i]);
		if (i)
			out[o++] = ' ';
		memcpy(out + o, w[i], l + 1);
		o += l;
	}
	free(copy);
	free(w);
	return out;
}

void arc_sign_text(const char *panic, const char *log, const char *frames, struct arc_sig *out)
{
	const char *v[128];
	char buf[8192];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", frames ? frames : "");
	for (char *s = buf; *s && n < sizeof(v) / sizeof(v[0]);) {
		char *nl = strchr(s, '\n');
		v[n++] = s;
		if (!nl)
			break;
		*nl = 0;
		s = nl + 1;
	}
	arc_sign(panic, log, v, n, out);
}
