/* stacks.c - the stack of every CPU that saved registers at the crash
 * (NT_PRSTATUS), or of one task, unwound: what bt prints and triage reads. */
#include "kern.h"

#include <stdlib.h>
#include <string.h>

static bool is_panic_path(struct az_kernel *k, const struct az_stack *t)
{
	static const char *const names[] = { "panic", "__crash_kexec", "crash_kexec", "oops_end",
					     "die", "vpanic", "machine_kexec" };
	for (int i = 0; i < t->nf; i++) {
		struct az_where w;
		if (!t->f[i].reliable || !az_lookup(k, t->f[i].ip, &w) || w.mod)
			continue;
		for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
			if (!strcmp(az_sym_name(w.tab, w.sym), names[n]))
				return true;
	}
	return false;
}

static void unwind(struct az_kernel *k, struct az_stack *t)
{
	struct az_unwind_opts o = { t->stack_lo, t->stack_hi };
	t->nf = 0;
	if (!strcmp(t->regs_from, "NT_PRSTATUS")) {
		t->nf = az_unwind_crash_path(k, t->regs, &o, t->f, AZ_MAX_FRAMES, t->why,
					     sizeof(t->why));
		if (!t->nf)
			t->nf = az_unwind_nmi_path(k, t->regs, t->cpu, &o, t->f, AZ_MAX_FRAMES,
						   t->why, sizeof(t->why));
		t->crash_path = t->nf > 0;
	}
	if (!t->nf)
		t->nf = az_unwind(k, t->regs, t->first_is_call, &o, t->f, AZ_MAX_FRAMES, t->why,
				  sizeof(t->why));
	t->panic = is_panic_path(k, t);
}

int az_stacks_load(struct az_kernel *k, const struct az_tasks *tasks, const struct az_task *want,
		   const struct az_regset *extra, size_t nextra, struct az_stack **out, size_t *nout)
{
	struct az_stack *th = calloc(vmc_cpu_count(k->d) + nextra + 1, sizeof(*th));
	size_t nth = 0;

	*out = NULL;
	*nout = 0;
	if (!th) {
		snprintf(k->err, sizeof(k->err), "out of memory");
		return -1;
	}
	for (size_t i = 0; i < vmc_cpu_count(k->d); i++) {
		const struct vmc_cpu *c = vmc_cpu(k->d, i);
		struct az_stack *t = &th[nth];
		if (c->empty)
			continue;
		t->cpu = az_note_cpu(k, i);
		t->pid = (int)c->pid;
		if (tasks && t->cpu >= 0 && t->cpu < tasks->ncpu)
			for (size_t n = 0; n < tasks->n; n++)
				if (tasks->v[n].addr == tasks->curr[t->cpu])
					t->task = &tasks->v[n];
		if (t->task)
			t->pid = t->task->pid;
		if (want && t->task != want && !(want->active_cpu == t->cpu && want->active_cpu >= 0))
			continue;
		memcpy(t->regs, c->regs, sizeof(t->regs));
		t->regs_from = "NT_PRSTATUS";
		nth++;
	}
	for (size_t i = 0; i < nextra; i++) {
		struct az_stack *t = &th[nth];
		t->cpu = extra[i].cpu;
		if (tasks && t->cpu >= 0 && t->cpu < tasks->ncpu)
			for (size_t n = 0; n < tasks->n; n++)
				if (tasks->v[n].addr == tasks->curr[t->cpu])
					t->task = &tasks->v[n];
		t->pid = t->task ? t->task->pid : -1;
		if (want && t->task != want && !(want->active_cpu == t->cpu && want->active_cpu >= 0))
			continue;
		memcpy(t->regs, extra[i].regs, sizeof(t->regs));
		t->regs_from = extra[i].from;
		nth++;
	}
	if (want && nth == 0) {
		struct az_stack *t = &th[0];
		struct az_unwind_opts o;
		t->cpu = want->cpu;
		t->task = want;
		t->pid = want->pid;
		t->regs_from = "inactive_task_frame";
		if (az_task_saved_regs(k, want, t->regs, &t->first_is_call, &o) < 0) {
			free(th);
			return -1;
		}
		t->stack_lo = o.stack_lo;
		t->stack_hi = o.stack_hi;
		nth = 1;
	}
	if (nth == 0) {
		free(th);
		snprintf(k->err, sizeof(k->err), extra ? "no vCPU of dom0 with registers in this dump" :
			 "no CPU saved registers in this dump (no NT_PRSTATUS)");
		return -1;
	}
	for (size_t i = 0; i < nth; i++)
		unwind(k, &th[i]);
	*out = th;
	*nout = nth;
	return 0;
}
