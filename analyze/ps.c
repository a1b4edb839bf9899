/* ps.c - `salvage ps [--json] [--vmlinux F] DUMP`: the task list. */
#include "salvage.h"

#include <inttypes.h>
#include <stdlib.h>

static const char ps_usage[] =
	"usage: salvage ps [--json] [--vmlinux FILE] [--dom0] DUMP\n\n"
	"Lists every task (PID, PPID, CPU, state, command), walking init_task.tasks\n"
	"and each process's threads with struct layouts from the dump's BTF (or the\n"
	"DWARF of --vmlinux FILE).  '>' marks the task each CPU was running (the\n"
	"per-cpu run queue's curr); kernel threads are shown in [brackets].\n"
	"State letters as in ps(1): R S D T t X Z P I.\n"
	"  --dom0   Xen host dumps: dom0's tasks, read through its P2M\n"
	"  --json   an object {tasks: [{pid, tgid, ppid, cpu, active_cpu, state,\n"
	"           comm, kthread, task}], source, warning}\n";

static int cmp_pid(const void *a, const void *b)
{
	const struct az_task *x = a, *y = b;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->active_cpu < y->active_cpu ? -1 : x->active_cpu > y->active_cpu;
}

static int ps_run(struct az_run *r)
{
	const struct az_args *a = &r->a;
	struct az_kernel *k = &r->k;
	struct az_tasks t;

	if (az_tasks_load(k, &t) < 0)
		return -1;
	qsort(t.v, t.n, sizeof(*t.v), cmp_pid);
	if (a->json) {
		struct az_json j;
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_kstr(&j, "source", k->lay.source);
		az_json_kstr(&j, "symbols", k->syms.source);
		az_json_kstr(&j, "warning", t.warn[0] ? t.warn : NULL);
		az_json_key(&j, "tasks");
		az_json_begin_array(&j);
		for (size_t i = 0; i < t.n; i++) {
			const struct az_task *p = &t.v[i];
			char st[2] = { p->state, 0 };
			az_json_begin_object(&j);
			az_json_ki64(&j, "pid", p->pid);
			az_json_ki64(&j, "tgid", p->tgid);
			az_json_ki64(&j, "ppid", p->ppid);
			az_json_ki64(&j, "cpu", p->cpu);
			az_json_ki64_if(&j, "active_cpu", p->active_cpu >= 0, p->active_cpu);
			az_json_kstr(&j, "state", st);
			az_json_kstr(&j, "comm", p->comm);
			az_json_kbool(&j, "kthread", p->kthread);
			az_json_khex(&j, "task", p->addr);
			az_json_end_object(&j);
		}
		az_json_end_array(&j);
		az_json_end_object(&j);
		az_json_finish(&j);
	} else {
		printf("     PID    PPID  CPU ST  TASK              COMMAND\n");
		for (size_t i = 0; i < t.n; i++) {
			const struct az_task *p = &t.v[i];
			char comm[4 * sizeof(p->comm)];
			printf("%c%7d %7d %4d %c   %016" PRIx64 "  %s%s%s\n",
			       p->active_cpu >= 0 ? '>' : ' ', p->pid, p->ppid,
			       p->active_cpu >= 0 ? p->active_cpu : p->cpu, p->state, p->addr,
			       p->kthread ? "[" : "", az_tesc(comm, sizeof(comm), p->comm),
			       p->kthread ? "]" : "");
		}
		if (t.warn[0])
			fprintf(stderr, "salvage ps: %s: warning: %s\n", a->pos[0], t.warn);
	}
	az_tasks_free(&t);
	return AZ_EXIT_OK;
}

static const struct az_cmd ps_cmd = { "ps", ps_usage, AZ_OPT_VMLINUX | AZ_OPT_DOM0, 1, 1, AZ_NEED_TYPES, ps_run };

int az_cmd_ps(int argc, char **argv)
{
	return az_run_cmd(argc, argv, &ps_cmd);
}
