/* tasks.c - the task list: init_task, every thread group leader on
 * init_task.tasks with its threads (signal->thread_head through
 * task->thread_node), and the idle tasks of the other CPUs (not on the list:
 * copy_process() links only tasks with a pid), found through the per-cpu
 * run queues, which also tell which task each CPU was running. */
#include "kern.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TASKS (1u << 22)
#define PF_KTHREAD 0x00200000u
#define TASK_REPORT 0x7fu
#define TASK_IDLE 0x402u            /* TASK_UNINTERRUPTIBLE | TASK_NOLOAD */
#define TASK_RTLOCK_WAIT 0x1000u

static uint64_t online_mask(struct az_kernel *k, bool *known)
{
	uint64_t a, m;
	*known = false;
	if (az_sym(k, "__cpu_online_mask", &a) == 0 && az_read_u64(k, a, &m) == 0 && m) {
		*known = true;
		return m;
	}
	return 0;
}

int az_note_cpu(struct az_kernel *k, size_t i)
{
	bool known;
	/* a Xen guest core has one context per vCPU, in vCPU order, online or
	 * not (docs/formats.md §4.9): a panic takes the other vCPUs offline,
	 * so counting online CPUs would give the panic's registers to another */
	if (vmc_xen_core(k->d))
		return (int)i;
	uint64_t m = online_mask(k, &known);
	if (!known)
		return (int)i;
	for (int c = 0; c < 64; c++)
		if ((m >> c) & 1) {
			if (i == 0)
				return c;
			i--;
		}
	return -1;
}

static char state_letter(uint64_t st, uint64_t exit_state)
{
	static const char letters[] = "RSDTtXZPI";
	unsigned s = (unsigned)((st | exit_state) & TASK_REPORT);
	if ((st & TASK_IDLE) == TASK_IDLE)
		s = TASK_REPORT + 1;
	if (st == TASK_RTLOCK_WAIT)
		s = 2;
	int idx = 0;
	while (s) {
		idx++;
		s >>= 1;
	}
	return idx < (int)sizeof(letters) - 1 ? letters[idx] : '?';
}

#define OFF(f) (k->lay.off[AZ_F_##f])

static int rd_field(struct az_kernel *k, uint64_t task, enum az_field f, uint64_t *v)
{
	if (k->lay.off[f] < 0)
		return -1;
	return az_read_uint(k, task + (uint64_t)k->lay.off[f],
			    k->lay.size[f] ? k->lay.size[f] : 8, v);
}

static int read_task(struct az_kernel *k, uint64_t addr, struct az_task *t)
{
	uint64_t v, parent;

	memset(t, 0, sizeof(*t));
	t->addr = addr;
	t->cpu = t->active_cpu = -1;
	t->ppid = -1;
	if (rd_field(k, addr, AZ_F_TASK_PID, &v) < 0)
		return -1;
	t->pid = (int)(int32_t)v;
	t->tgid = rd_field(k, addr, AZ_F_TASK_TGID, &v) == 0 ? (int)(int32_t)v : t->pid;
	if (OFF(TASK_COMM) < 0 || az_read(k, addr + (uint64_t)OFF(TASK_COMM), t->comm, 16) < 0)
		return -1;
	t->comm[16] = 0;
	uint64_t st = 0, ex = 0;
	t->state = '?';
	if (rd_field(k, addr, AZ_F_TASK_STATE_NEW, &st) == 0 ||
	    rd_field(k, addr, AZ_F_TASK_STATE_OLD, &st) == 0) {
		rd_field(k, addr, AZ_F_TASK_EXIT_STATE, &ex);
		t->state = state_letter(st, ex);
		t->state_raw = st;
	}
	if (rd_field(k, addr, AZ_F_TASK_REAL_PARENT, &parent) == 0 &&
	    rd_field(k, parent, AZ_F_TASK_TGID, &v) == 0)
		t->ppid = (int)(int32_t)v;
	if (rd_field(k, addr, AZ_F_TASK_TI_CPU, &v) == 0 ||
	    rd_field(k, addr, AZ_F_TASK_CPU, &v) == 0)
		t->cpu = (int)(int32_t)v;
	if (rd_field(k, addr, AZ_F_TASK_FLAGS, &v) == 0)
		t->kthread = (v & PF_KTHREAD) != 0;
	return 0;
}

static int add(struct az_kernel *k, struct az_tasks *t, uint64_t addr, size_t *cap)
{
	for (size_t i = 0; i < t->n && addr && t->n < 4096; i++)
		if (t->v[i].addr == addr)
			return 0;
	if (t->n >= MAX_TASKS)
		return -1;
	if (t->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 128;
		struct az_task *nv = realloc(t->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		t->v = nv;
		*cap = nc;
	}
	if (read_task(k, addr, &t->v[t->n]) < 0) {
		if (!t->warn[0])
			snprintf(t->warn, sizeof(t->warn), "task at 0x%" PRIx64 " not readable: %s",
				 addr, vmc_errmsg(k->d));
		return 0;
	}
	t->n++;
	return 0;
}

/* Walk a list_head ring from head; calls add() for each entry's container. */
static void walk(struct az_kernel *k, struct az_tasks *t, uint64_t head, int64_t link_off,
		 uint64_t skip, size_t *cap, const char *what)
{
	uint64_t p;
	size_t steps = 0;
	if (az_read_u64(k, head, &p) < 0) {
		snprintf(t->warn, sizeof(t->warn), "%s: list head 0x%" PRIx64 " not readable", what, head);
		return;
	}
	while (p != head) {
		if (++steps > MAX_TASKS || !p) {
			snprintf(t->warn, sizeof(t->warn), "%s: list does not return to its head", what);
			return;
		}
		uint64_t task = p - (uint64_t)link_off;
		if (task != skip && add(k, t, task, cap) < 0) {
			snprintf(t->warn, sizeof(t->warn), "%s: out of memory or too many tasks", what);
			return;
		}
		if (az_read_u64(k, p, &p) < 0) {
			snprintf(t->warn, sizeof(t->warn), "%s: link at 0x%" PRIx64 " not readable",
				 what, p);
			return;
		}
	}
}

int az_tasks_load(struct az_kernel *k, struct az_tasks *t)
{
	uint64_t init_task, rq_sym, rq, v;
	size_t cap = 0;
	bool known;

	memset(t, 0, sizeof(*t));
	if (!k->have_types) {
		snprintf(k->err, sizeof(k->err), "%s: struct task_struct layout unknown", k->why_types);
		return -1;
	}
	if (az_sym(k, "init_task", &init_task) < 0) {
		snprintf(k->err, sizeof(k->err), "no init_task symbol");
		return -1;
	}
	if (OFF(TASK_PID) < 0 || OFF(TASK_COMM) < 0) {
		snprintf(k->err, sizeof(k->err), "%s has no task_struct.pid or .comm", k->lay.source);
		return -1;
	}
	uint64_t mask = online_mask(k, &known), present;
	if (!known)
		mask = vmc_cpu_count(k->d) >= 64 ? ~0ull : (1ull << vmc_cpu_count(k->d)) - 1;
	/* a panic stops the other CPUs and takes them offline (a Xen dom0's
	 * too): their runqueues still say what they were running */
	if (az_sym(k, "__cpu_present_mask", &v) == 0 && az_read_u64(k, v, &present) == 0)
		mask |= present;
	if (!mask)
		mask = 1;
	add(k, t, init_task, &cap);
	if (t->n)
		t->v[0].idle = true;
	/* other CPUs' idle tasks and every CPU's current task */
	if (az_sym(k, "runqueues", &rq_sym) == 0 && OFF(RQ_CURR) >= 0) {
		for (int c = 0; c < 64; c++) {
			if (!((mask >> c) & 1))
				continue;
			t->ncpu = c + 1;
			if (az_percpu(k, rq_sym, (unsigned)c, &rq) < 0)
				continue;
			if (az_read_u64(k, rq + (uint64_t)OFF(RQ_CURR), &v) == 0)
				t->curr[c] = v;
			if (OFF(RQ_IDLE) >= 0 && az_read_u64(k, rq + (uint64_t)OFF(RQ_IDLE), &v) == 0 &&
			    v && v != init_task) {
				size_t before = t->n;
				add(k, t, v, &cap);
				if (t->n > before)
					t->v[t->n - 1].idle = true;
			}
		}
	} else if (!t->warn[0]) {
		snprintf(t->warn, sizeof(t->warn), "no run queues (runqueues or rq.curr unknown): "
			 "running tasks marked from NT_PRSTATUS pids only");
	}
	size_t first_leader = t->n;
	if (OFF(TASK_TASKS) >= 0)
		walk(k, t, init_task + (uint64_t)OFF(TASK_TASKS), OFF(TASK_TASKS), 0, &cap,
		     "init_task.tasks");
	size_t leaders = t->n;
	if (OFF(TASK_SIGNAL) >= 0 && OFF(TASK_THREAD_NODE) >= 0 && OFF(SIGNAL_THREAD_HEAD) >= 0) {
		for (size_t i = first_leader; i < leaders; i++) {
			uint64_t sig;
			if (az_read_u64(k, t->v[i].addr + (uint64_t)OFF(TASK_SIGNAL), &sig) < 0 || !sig)
				continue;
			walk(k, t, sig + (uint64_t)OFF(SIGNAL_THREAD_HEAD), OFF(TASK_THREAD_NODE),
			     t->v[i].addr, &cap, "signal.thread_head");
		}
	}
	/* mark what each CPU was running */
	for (size_t i = 0; i < t->n; i++)
		for (int c = 0; c < t->ncpu; c++)
			if (t->curr[c] && t->curr[c] == t->v[i].addr)
				t->v[i].active_cpu = c;
	if (!t->ncpu) {
		/* no run queues: NT_PRSTATUS pids (ambiguous for idle tasks) */
		for (size_t n = 0; n < vmc_cpu_count(k->d); n++) {
			const struct vmc_cpu *c = vmc_cpu(k->d, n);
			for (size_t i = 0; i < t->n; i++)
				if (!c->empty && t->v[i].pid == (int)c->pid && !(c->pid == 0 && !t->v[i].idle)) {
					t->v[i].active_cpu = az_note_cpu(k, n);
					break;
				}
		}
	}
	return 0;
}

void az_tasks_free(struct az_tasks *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

const struct az_task *az_task_by_pid(const struct az_tasks *t, int pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].pid == pid)
			return &t->v[i];
	return NULL;
}
