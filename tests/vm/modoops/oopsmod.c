// SPDX-License-Identifier: GPL-2.0
/* oopsmod.c - the module of tests/vm/e2e-modoops.sh: one kthread bound to
 * CPU 1 spins (for the NMI half of the dump: the crash NMI finds it in
 * oopsmod_spin), another on CPU 0 dereferences NULL through two of the
 * module's own functions (with panic_on_oops set: an oops, then kdump). */
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched.h>

static int *volatile oopsmod_ptr;      /* NULL, and the compiler cannot know */
static volatile int oopsmod_stop;
static volatile unsigned long oopsmod_spins;

static noinline int oopsmod_deref(int *p)
{
	return READ_ONCE(*p) + 1;
}

static noinline int oopsmod_work(int n)
{
	int v = oopsmod_deref(oopsmod_ptr);

	pr_info("oopsmod: survived the dereference (%d, %d)\n", v, n);
	return v + n;
}

static int oopsmod_crash(void *arg)
{
	msleep(500);
	pr_info("oopsmod: dereferencing NULL on cpu %d\n", raw_smp_processor_id());
	pr_info("oopsmod: result %d\n", oopsmod_work(1));
	while (!kthread_should_stop())
		msleep(100);
	return 0;
}

static noinline void oopsmod_spin(void)
{
	while (!oopsmod_stop) {
		oopsmod_spins++;
		cpu_relax();
	}
}

static int oopsmod_spinner(void *arg)
{
	pr_info("oopsmod: spinning on cpu %d\n", raw_smp_processor_id());
	oopsmod_spin();
	return 0;
}

static int __init oopsmod_init(void)
{
	struct task_struct *spin, *crash;

	if (num_online_cpus() > 1) {
		spin = kthread_create(oopsmod_spinner, NULL, "oopsmod-spin");
		if (IS_ERR(spin))
			return PTR_ERR(spin);
		kthread_bind(spin, 1);
		wake_up_process(spin);
	}
	crash = kthread_create(oopsmod_crash, NULL, "oopsmod-crash");
	if (IS_ERR(crash))
		return PTR_ERR(crash);
	kthread_bind(crash, 0);
	wake_up_process(crash);
	return 0;
}

module_init(oopsmod_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("salvage test: a NULL dereference in a module kthread");
