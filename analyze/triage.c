/* triage.c - `salvage triage [--json] [--vmlinux F] DUMP`: one screen for
 * the person who gets paged: what crashed (class and cause, crashsig.c),
 * where (top meaningful frames, module, taint), when, which kernel, the
 * log lines before it, every CPU in one line, and what to run next. */
#include "salvage.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOP 6

static const char triage_usage[] =
	"usage: salvage triage [--json] [--vmlinux FILE] DUMP\n\n"
	"One screen on a crash: WHAT (class: sysrq, NULL dereference, page fault,\n"
	"general protection, BUG, WARN, hard/soft lockup, hung task, RCU stall,\n"
	"OOM, machine check, oops, panic; the log line that says so and the panic\n"
	"line), WHERE (the panic CPU's top meaningful frames, past the crash\n"
	"machinery, the module holding the first and the taint flags), WHEN (crash\n"
	"time, uptime at the crash), KERNEL, the LOG lines just before it, every\n"
	"CPU in one line, and NEXT: the commands to run.  Nothing needs a vmlinux:\n"
	"symbols, types, ORC and modules come from the dump.\n"
	"  --json   an object {class, class_text, cause, panic, signature, frames:\n"
	"           [{function, module, offset, ip}], module, taint, crash_time,\n"
	"           uptime_ms, release, build_id, panic_cpu, pid, comm, last_log,\n"
	"           cpus: [{cpu, pid, comm, panic, where}], next, notes}\n";

struct tri {
	struct az_crashlog log;
	bool have_log;
	struct az_tasks tasks;
	bool have_tasks;
	struct az_stack *st;
	size_t nst;
	const struct az_stack *pan;
	struct az_sig_frame top[TOP];
	int ntop;
	char sig[512];
	char taint[32];
	bool have_taint;
	int64_t crashtime;
	bool have_crashtime;
	const char *release, *build_id;
	char why_stacks[512];
	char next[6][320];
	int nnext;
};

/* "f+0x5 [mod] <- g+0x12 <- ..." of up to max frames */
static void frames_line(const struct az_sig_frame *f, int n, int max, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; i < n && i < max && o < len; i++) {
		int w;
		if (f[i].function[0])
			w = snprintf(buf + o, len - o, "%s%s+0x%" PRIx64 "%s%s%s", i ? " <- " : "",
				     f[i].function, f[i].off, f[i].module[0] ? " [" : "", f[i].module,
				     f[i].module[0] ? "]" : "");
		else
			w = snprintf(buf + o, len - o, "%s0x%016" PRIx64, i ? " <- " : "", f[i].ip);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

static void gather(struct az_run *r, struct tri *t)
{
	struct az_kernel *k = &r->k;
	uint64_t a, v;

	t->have_log = az_crashlog_read(k->d, &t->log) == 0;
	t->release = vmc_vmcoreinfo_get(k->d, "OSRELEASE");
	t->build_id = vmc_vmcoreinfo_get(k->d, "BUILD-ID");
	t->have_crashtime = vmc_vmci_crashtime(k->d, &t->crashtime) == VMC_OK;
	if (az_sym(k, "tainted_mask", &a) == 0 && az_read_u64(k, a, &v) == 0) {
		az_taint_letters(v, t->taint, sizeof(t->taint));
		t->have_taint = true;
	}
	if (!k->have_syms) {
		snprintf(t->why_stacks, sizeof(t->why_stacks), "no stacks: %s", k->why_syms);
	} else {
		if (!k->have_orc && az_orc_load(k->d, &k->syms, &k->orc, k->why_orc,
						sizeof(k->why_orc)) == 0)
			k->have_orc = true;
		t->have_tasks = k->have_types && az_tasks_load(k, &t->tasks) == 0;
		if (az_stacks_load(k, t->have_tasks ? &t->tasks : NULL, NULL, NULL, 0, &t->st, &t->nst) < 0) {
			snprintf(t->why_stacks, sizeof(t->why_stacks), "no stacks: %.400s", k->err);
			k->err[0] = 0;
		}
	}
	t->pan = az_crash_stack(t->st, t->nst);
	if (t->pan)
		t->ntop = az_crash_frames(k, t->pan, t->top, TOP);
	az_crash_signature(t->log.cls, t->top, t->ntop, t->sig, sizeof(t->sig));

	const char *dump = r->a.pos[0];
#define NEXT(...) snprintf(t->next[t->nnext++], sizeof(t->next[0]), __VA_ARGS__)
	NEXT("salvage bt %s   # every CPU's stack, exception frames with registers", dump);
	NEXT("salvage dmesg %s | less   # the whole kernel log", dump);
	if (t->ntop && t->top[0].module[0])
		NEXT("salvage mod %s   # %s: its base, state, taint, build id", dump, t->top[0].module);
	if (t->pan && t->pan->task)
		NEXT("salvage bt %s %d   # the panicking task alone", dump, t->pan->task->pid);
	NEXT("salvage ps %s   # what was running", dump);
	if (t->release && !r->a.vmlinux)
		NEXT("file:line: apt-get download linux-image-%s-dbg; salvage bt --vmlinux "
		     "usr/lib/debug/boot/vmlinux-%s %s", t->release, t->release, dump);
#undef NEXT
}

static const struct az_stack *cpu_of(const struct tri *t, size_t i, char *where, size_t len,
				     struct az_kernel *k)
{
	const struct az_stack *s = &t->st[i];
	struct az_sig_frame f[3];
	int n = az_crash_frames(k, s, f, 3);
	frames_line(f, n, 3, where, len);
	if (!n)
		snprintf(where, len, "%s", s->nf ? "(crash machinery only)" : "(no frames)");
	return s;
}

static void print_text(struct az_run *r, struct tri *t)
{
	struct az_kernel *k = &r->k;
	char buf[1024], esc[4096];

	printf("WHAT    %s  [%s]\n", az_crash_class_text(t->log.cls), az_crash_class_id(t->log.cls));
	if (t->log.cause[0])
		printf("        %s\n", az_tesc(esc, sizeof(esc), t->log.cause));
	if (t->log.panic[0] && strcmp(t->log.panic, t->log.cause))
		printf("        %s\n", az_tesc(esc, sizeof(esc), t->log.panic));
	if (!t->have_log)
		printf("        (no kernel log: %s)\n", vmc_errmsg(k->d));
	frames_line(t->top, t->ntop, TOP, buf, sizeof(buf));
	printf("WHERE   %s\n", t->ntop ? az_tesc(esc, sizeof(esc), buf) : t->why_stacks[0] ?
	       t->why_stacks : "(no meaningful frame on the panic CPU)");
	if (t->pan)
		printf("        CPU %d, PID %d \"%s\"\n", t->pan->cpu, t->pan->pid,
		       t->pan->task ? az_tesc(esc, sizeof(esc), t->pan->task->comm) : "?");
	if (t->ntop && t->top[0].module[0]) {
		const struct az_module *m = az_module_at(k, t->top[0].ip);
		char mt[32];
		printf("        in module %s (taint %s)\n", az_tesc(esc, sizeof(esc), t->top[0].module),
		       m ? az_taint_letters(m->taints, mt, sizeof(mt)) : "?");
	}
	if (t->have_taint)
		printf("        kernel taint: %s\n", t->taint[0] ? t->taint : "none");
	printf("        signature %s\n", az_tesc(esc, sizeof(esc), t->sig));
	printf("WHEN    ");
	if (t->have_crashtime) {
		time_t tt = (time_t)t->crashtime;
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("%s (VMCOREINFO CRASHTIME)", buf);
	} else {
		printf("crash time unknown (no CRASHTIME)");
	}
	if (t->log.have_ts)
		printf(", %" PRIu64 ".%02" PRIu64 " s after boot (log time of the cause)",
		       t->log.cause_ts_nsec / 1000000000, t->log.cause_ts_nsec / 10000000 % 100);
	printf("\nKERNEL  %s", t->release ? az_tesc(esc, sizeof(esc), t->release) : "(no OSRELEASE)");
	if (t->build_id)
		printf("  build id %s", az_tesc(esc, sizeof(esc), t->build_id));
	printf("\nLOG     %s\n", t->log.nbefore ? "the lines before it:" : "(no lines before it)");
	for (int i = 0; i < t->log.nbefore; i++)
		printf("        %s\n", az_tesc(esc, sizeof(esc), t->log.before[i]));
	printf("CPUS    %s\n", t->nst ? "" : t->why_stacks);
	for (size_t i = 0; i < t->nst; i++) {
		const struct az_stack *s = cpu_of(t, i, buf, sizeof(buf), k);
		char comm[80];
		printf("        %-3d %-16s %6d %-6s %s\n", s->cpu,
		       s->task ? az_tesc(comm, sizeof(comm), s->task->comm) : "?", s->pid,
		       s->panic ? "panic" : "", az_tesc(esc, sizeof(esc), buf));
	}
	printf("NEXT\n");
	for (int i = 0; i < t->nnext; i++)
		printf("        %s\n", az_tesc(esc, sizeof(esc), t->next[i]));
}

static void print_json(struct az_run *r, struct tri *t)
{
	struct az_kernel *k = &r->k;
	struct az_json j;
	char buf[1024];

	az_json_init(&j, stdout);
	az_json_begin_object(&j);
	az_json_kstr(&j, "class", az_crash_class_id(t->log.cls));
	az_json_kstr(&j, "class_text", az_crash_class_text(t->log.cls));
	az_json_kstr(&j, "cause", t->log.cause[0] ? t->log.cause : NULL);
	az_json_kstr(&j, "panic", t->log.panic[0] ? t->log.panic : NULL);
	az_json_kstr(&j, "signature", t->sig);
	az_json_key(&j, "frames");
	az_json_begin_array(&j);
	for (int i = 0; i < t->ntop; i++) {
		az_json_begin_object(&j);
		az_json_kstr(&j, "function", t->top[i].function[0] ? t->top[i].function : NULL);
		az_json_kstr(&j, "module", t->top[i].module[0] ? t->top[i].module : NULL);
		az_json_ku64(&j, "offset", t->top[i].off);
		az_json_khex(&j, "ip", t->top[i].ip);
		az_json_end_object(&j);
	}
	az_json_end_array(&j);
	az_json_kstr(&j, "module", t->ntop && t->top[0].module[0] ? t->top[0].module : NULL);
	az_json_kstr(&j, "taint", t->have_taint ? t->taint : NULL);
	az_json_ki64_if(&j, "crash_time", t->have_crashtime, t->crashtime);
	az_json_ku64_if(&j, "uptime_ms", t->log.have_ts, t->log.cause_ts_nsec / 1000000);
	az_json_kstr(&j, "release", t->release);
	az_json_kstr(&j, "build_id", t->build_id);
	az_json_ki64_if(&j, "panic_cpu", t->pan != NULL, t->pan ? t->pan->cpu : 0);
	az_json_ki64_if(&j, "pid", t->pan != NULL, t->pan ? t->pan->pid : 0);
	az_json_kstr(&j, "comm", t->pan && t->pan->task ? t->pan->task->comm : NULL);
	az_json_key(&j, "last_log");
	az_json_begin_array(&j);
	for (int i = 0; i < t->log.nbefore; i++)
		az_json_str(&j, t->log.before[i]);
	az_json_end_array(&j);
	az_json_key(&j, "cpus");
	az_json_begin_array(&j);
	for (size_t i = 0; i < t->nst; i++) {
		const struct az_stack *s = cpu_of(t, i, buf, sizeof(buf), k);
		az_json_begin_object(&j);
		az_json_ki64(&j, "cpu", s->cpu);
		az_json_ki64(&j, "pid", s->pid);
		az_json_kstr(&j, "comm", s->task ? s->task->comm : NULL);
		az_json_kbool(&j, "panic", s->panic);
		az_json_kstr(&j, "where", buf);
		az_json_end_object(&j);
	}
	az_json_end_array(&j);
	az_json_key(&j, "next");
	az_json_begin_array(&j);
	for (int i = 0; i < t->nnext; i++)
		az_json_str(&j, t->next[i]);
	az_json_end_array(&j);
	az_json_kstr(&j, "notes", t->why_stacks[0] ? t->why_stacks : NULL);
	az_json_end_object(&j);
	az_json_finish(&j);
}

static int triage_run(struct az_run *r)
{
	struct tri *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(r->k.err, sizeof(r->k.err), "out of memory");
		return -1;
	}
	gather(r, t);
	if (r->a.json)
		print_json(r, t);
	else
		print_text(r, t);
	free(t->st);
	az_tasks_free(&t->tasks);
	free(t);
	return AZ_EXIT_OK;
}

static const struct az_cmd triage_cmd = { "triage", triage_usage, AZ_OPT_VMLINUX, 1, 1, 0,
					  triage_run };

int az_cmd_triage(int argc, char **argv)
{
	return az_run_cmd(argc, argv, &triage_cmd);
}
