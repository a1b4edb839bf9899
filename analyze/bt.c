/* bt.c - `salvage bt [--json] [--vmlinux F] DUMP [PID]`: backtraces of the
 * task each CPU was running (registers from NT_PRSTATUS), or of any task
 * (its registers saved by the scheduler: thread.sp -> inactive_task_frame). */
#include "salvage.h"
#include "xenbt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char bt_usage[] =
	"usage: salvage bt [--json] [--vmlinux FILE] [--mod-dir DIR] [--dom0] DUMP [PID]\n\n"
	"Backtrace of every CPU's active task from the registers the CPUs saved\n"
	"(NT_PRSTATUS), or of task PID.  Unwinds with the kernel's ORC tables read\n"
	"from the dump, then frame pointers, then a scan of the rest of the stack\n"
	"(such frames are marked '?').  Exception frames (entry from user space,\n"
	"interrupts, NMIs) are shown with their registers.  Symbols come from the\n"
	"dump's kallsyms, or from --vmlinux FILE, which adds file:line and inlined\n"
	"functions.\n"
	"When the panic CPU's registers are an oops's exception registers\n"
	"(panic_on_oops: crash_kexec(regs)), the crash path below the exception\n"
	"frame comes first (machine_kexec ... asm_exc_page_fault), then the\n"
	"exception frame ([exception RIP: ...] and its registers), then the\n"
	"faulting code's callers.  Module addresses read 'function+off/size\n"
	"[module]', from the module's own kallsyms and ORC in the dump.\n"
	"--mod-dir DIR: a directory of .ko files (or Debian's -dbg module files,\n"
	"NAME.ko or NAME.ko.debug at any depth) adds file:line to module frames;\n"
	"a file is used only when its GNU build id is the loaded module's.\n"
	"  --json   an object {symbols, unwinder, threads: [{cpu, pid, task, comm,\n"
	"           panic, regs_from, crash_path, frames: [{sp, ip, function,\n"
	"           offset, module, how, reliable, ...}], note}]}\n"
	"  --dom0   Xen host dumps: dom0's vCPUs, with the registers Xen saved for\n"
	"           them (docs/formats.md §4.10), and dom0's tasks\n";

static const char *const how_name[] = { "regs", "orc", "fp", "scan", "retaddr", "called" };
static const char *const reg_name[21] = {
	"R15", "R14", "R13", "R12", "RBP", "RBX", "R11", "R10", "R9", "R8", "RAX",
	"RCX", "RDX", "RSI", "RDI", "ORIG_RAX", "RIP", "CS", "RFLAGS", "RSP", "SS" };

/* the lookup address for source positions: inside the call instruction
 * for return addresses */
static uint64_t where_addr(const struct az_frame *f, int i, bool first_is_call)
{
	if (f->how == AZ_HOW_REGS && !first_is_call)
		return f->ip;
	if (i > 0 && f[-1].has_regs && !f[-1].user_regs)
		return f->ip;      /* interrupted here, not called from here */
	return f->ip - 1;
}

static void print_regs_text(struct az_kernel *k, const struct az_frame *f)
{
	const uint64_t *r = f->regs;
	char sym[256], esc[1024];
	if (!f->user_regs) {
		/* as crash prints it: where the exception hit */
		az_symbolize(k, r[VMC_REG_RIP], sym, sizeof(sym));
		printf("    [exception RIP: %s]\n", az_tesc(esc, sizeof(esc), sym));
	}
	printf("    -- %s%s exception frame at %016" PRIx64 " --\n",
	       f->user_regs ? "user-mode" : "kernel-mode", f->partial_regs ? " (IRET only)" : "",
	       f->regs_addr);
	printf("    RIP: %016" PRIx64 "  RSP: %016" PRIx64 "  RFLAGS: %08" PRIx64 "\n",
	       r[VMC_REG_RIP], r[VMC_REG_RSP], r[VMC_REG_EFLAGS]);
	if (!f->partial_regs) {
		static const int order[] = { VMC_REG_RAX, VMC_REG_RBX, VMC_REG_RCX, VMC_REG_RDX,
			VMC_REG_RSI, VMC_REG_RDI, VMC_REG_RBP, VMC_REG_R8, VMC_REG_R9, VMC_REG_R10,
			VMC_REG_R11, VMC_REG_R12, VMC_REG_R13, VMC_REG_R14, VMC_REG_R15 };
		for (size_t i = 0; i < 15; i++)
			printf("%s%3s: %016" PRIx64 "%s", i % 3 ? "  " : "    ", reg_name[order[i]],
			       r[order[i]], i % 3 == 2 ? "\n" : "");
		printf("    ORIG_RAX: %016" PRIx64 "  CS: %04" PRIx64 "  SS: %04" PRIx64 "\n",
		       r[VMC_REG_ORIG_RAX], r[VMC_REG_CS], r[VMC_REG_SS]);
	} else {
		printf("    CS: %04" PRIx64 "  SS: %04" PRIx64 "\n", r[VMC_REG_CS], r[VMC_REG_SS]);
	}
}

static void print_text(struct az_kernel *k, const struct az_stack *t)
{
	char sym[256], esc[1024], esc2[1024];
	struct az_srcpos pos[8];

	if (t->task)
		printf("PID: %-6d TASK: %016" PRIx64 "  CPU: %-3d COMMAND: \"%s\"%s\n", t->pid,
		       t->task->addr, t->cpu, az_tesc(esc, sizeof(esc), t->task->comm),
		       t->panic ? "  (panic)" : "");
	else
		printf("PID: %-6d TASK: (unknown: %s)  CPU: %d%s\n", t->pid,
		       k->have_types ? "no run queue" : "no struct layouts", t->cpu,
		       t->panic ? "  (panic)" : "");
	for (int i = 0; i < t->nf; i++) {
		const struct az_frame *f = &t->f[i];
		az_symbolize(k, f->ip, sym, sizeof(sym));
		printf("%s#%-2d [%016" PRIx64 "] %s%s at %016" PRIx64 "%s%s\n",
		       f->reliable ? " " : "?", i, f->sp, f->reliable ? "" : "? ",
		       az_tesc(esc, sizeof(esc), sym), f->ip,
		       f->how == AZ_HOW_FP ? "  (frame pointer)" : "",
		       f->how == AZ_HOW_SCAN ? "  (stack scan)" :
		       f->how == AZ_HOW_RETADDR ? "  (return address found by its call)" :
		       f->how == AZ_HOW_CALLED ? "  (running, called by the next frame)" : "");
		int np = az_source_at(k, where_addr(f, i, t->first_is_call), pos, 8);
		for (int p = 0; p < np; p++) {
			if (pos[p].func[0])
				printf("        inlined %s at %s:%u\n", az_tesc(esc, sizeof(esc), pos[p].func),
				       az_tesc(esc2, sizeof(esc2), pos[p].file), pos[p].line);
			else
				printf("        %s:%u\n", az_tesc(esc2, sizeof(esc2), pos[p].file),
				       pos[p].line);
		}
		if (f->has_regs)
			print_regs_text(k, f);
	}
	if (t->why[0])
		printf("    (%s)\n", az_tesc(esc, sizeof(esc), t->why));
}

static void json_thread(struct az_kernel *k, struct az_json *j, const struct az_stack *t)
{
	struct az_srcpos pos[8];

	az_json_begin_object(j);
	az_json_ki64_if(j, "cpu", t->cpu >= 0, t->cpu);
	az_json_ki64(j, "pid", t->pid);
	az_json_khex_if(j, "task", t->task != NULL, t->task ? t->task->addr : 0);
	az_json_kstr(j, "comm", t->task ? t->task->comm : NULL);
	az_json_kbool(j, "panic", t->panic);
	az_json_kstr(j, "regs_from", t->regs_from);
	az_json_kbool(j, "crash_path", t->crash_path);
	az_json_key(j, "frames");
	az_json_begin_array(j);
	for (int i = 0; i < t->nf; i++) {
		const struct az_frame *f = &t->f[i];
		struct az_where w;
		bool found = az_lookup(k, f->ip, &w);
		az_json_begin_object(j);
		az_json_khex(j, "sp", f->sp);
		az_json_khex(j, "ip", f->ip);
		az_json_kstr(j, "function", found ? az_sym_name(w.tab, w.sym) : NULL);
		az_json_ku64(j, "offset", w.off);
		az_json_kstr(j, "module", w.mod ? w.mod->name : NULL);
		az_json_kstr(j, "how", how_name[f->how]);
		az_json_kbool(j, "reliable", f->reliable);
		int np = az_source_at(k, where_addr(f, i, t->first_is_call), pos, 8);
		if (np > 0) {
			az_json_key(j, "source");
			az_json_begin_array(j);
			for (int p = 0; p < np; p++) {
				az_json_begin_object(j);
				az_json_kstr(j, "inlined", pos[p].func[0] ? pos[p].func : NULL);
				az_json_kstr(j, "file", pos[p].file);
				az_json_ku64(j, "line", pos[p].line);
				az_json_end_object(j);
			}
			az_json_end_array(j);
		}
		if (f->has_regs) {
			az_json_key(j, "exception");
			az_json_begin_object(j);
			az_json_kbool(j, "user", f->user_regs);
			az_json_khex(j, "address", f->regs_addr);
			az_json_kbool(j, "partial", f->partial_regs);
			az_json_key(j, "regs");
			az_json_begin_object(j);
			for (int r = 0; r < 21; r++) {
				if (f->partial_regs && r < VMC_REG_RIP)
					continue;
				az_json_khex(j, reg_name[r], f->regs[r]);
			}
			az_json_end_object(j);
			az_json_end_object(j);
		}
		az_json_end_object(j);
	}
	az_json_end_array(j);
	az_json_kstr(j, "note", t->why[0] ? t->why : NULL);
	az_json_end_object(j);
}

static const struct az_cmd bt_cmd = {
	.name = "bt", .usage = bt_usage, .opts = AZ_OPT_VMLINUX | AZ_OPT_MOD_DIR | AZ_OPT_DOM0,
	.minpos = 1, .maxpos = 2,
};

int az_cmd_bt(int argc, char **argv)
{
	struct az_run r;
	struct az_tasks tasks = { 0 };
	struct az_stack *th = NULL;
	size_t nth = 0;
	int ret = az_args_status(az_parse_args(argc, argv, &bt_cmd, &r.a)), pid = -1;
	const struct az_args *a = &r.a;
	struct az_kernel *k = &r.k;

	if (ret >= 0)
		return ret;
	if (a->npos == 2) {
		char *end;
		long v = strtol(a->pos[1], &end, 10);
		if (*end || v < 0 || v > 0x3fffffff) {
			fprintf(stderr, "salvage bt: PID must be a number: '%s'\n", a->pos[1]);
			return AZ_EXIT_USAGE;
		}
		pid = (int)v;
	}
	/* the PID is checked before the dump is opened */
	r.cmd = &bt_cmd;
	ret = az_run_kernel(&r, AZ_NEED_SYMS | AZ_NEED_ORC | (pid >= 0 ? AZ_NEED_TYPES : 0));
	if (ret >= 0)
		return ret;
	k->mod_dir = a->mod_dir;
	bool have_tasks = k->have_types && az_tasks_load(k, &tasks) == 0;
	if (pid >= 0 && !have_tasks)
		goto fail;
	/* dom0 of a Xen dump: its vCPUs are its CPUs; the registers are Xen's copy */
	struct az_vcpu vc[64];
	struct az_regset rs[64];
	size_t nvc = 0, nrs = 0;
	if (r.xen && az_dom0_vcpus(r.xen, vc, 64, &nvc, k->err, sizeof(k->err)) < 0)
		goto fail;
	for (size_t i = 0; i < nvc; i++) {
		if (!vc[i].have_regs) {
			fprintf(stderr, "salvage bt: %s: warning: dom0 vCPU %u: Xen's saved registers not found\n",
				a->pos[0], vc[i].id);
			continue;
		}
		rs[nrs].cpu = (int)vc[i].id;
		rs[nrs].from = vc[i].from;
		memcpy(rs[nrs].regs, vc[i].regs, sizeof(rs[nrs].regs));
		nrs++;
	}
	const struct az_task *want = pid >= 0 ? az_task_by_pid(&tasks, pid) : NULL;
	if (pid >= 0 && !want) {
		snprintf(k->err, sizeof(k->err), "no task with PID %d", pid);
		goto fail;
	}
	if (az_stacks_load(k, have_tasks ? &tasks : NULL, want, r.xen ? rs : NULL, nrs, &th, &nth) < 0)
		goto fail;
	if (a->json) {
		struct az_json j;
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_kstr(&j, "symbols", k->syms.source);
		az_json_kstr(&j, "unwinder", k->have_orc ? "orc" : "frame pointers");
		az_json_key(&j, "threads");
		az_json_begin_array(&j);
		for (size_t i = 0; i < nth; i++)
			json_thread(k, &j, &th[i]);
		az_json_end_array(&j);
		if (a->mod_dir) {
			az_json_key(&j, "mod_dir_notes");
			az_json_begin_array(&j);
			for (size_t m = 0; m < k->mods.n; m++)
				if (k->mods.v[m].file_why[0])
					az_json_str(&j, k->mods.v[m].file_why);
			az_json_end_array(&j);
		}
		az_json_end_object(&j);
		az_json_finish(&j);
	} else {
		if (!k->have_orc)
			printf("(no ORC tables: %s; frame pointers and stack scan only)\n", k->why_orc);
		for (size_t i = 0; i < nth; i++) {
			if (i)
				printf("\n");
			print_text(k, &th[i]);
		}
		for (size_t m = 0; a->mod_dir && m < k->mods.n; m++)
			if (k->mods.v[m].file_why[0]) {
				char esc[1600];
				printf("(--mod-dir: %s: %s)\n", k->mods.v[m].name,
				       az_tesc(esc, sizeof(esc), k->mods.v[m].file_why));
			}
	}
	free(th);
	az_tasks_free(&tasks);
	return az_run_close(&r, AZ_EXIT_OK);
fail:
	free(th);
	az_tasks_free(&tasks);
	return az_run_fail(&r);
}
