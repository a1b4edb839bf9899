/* sys.c - `salvage sys [--json] [--vmlinux F] DUMP`: a crash-like summary
 * (release, version, machine, node name, CPUs, crash time, uptime, load
 * average, memory, task count, panic string), each fact with where it came
 * from when that is not obvious. */
#include "salvage.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char sys_usage[] =
	"usage: salvage sys [--json] [--vmlinux FILE] [--dom0] DUMP\n\n"
	"Prints release, version, machine, node name (init_uts_ns), CPUs, crash\n"
	"time (VMCOREINFO CRASHTIME), uptime (jiffies_64 since INITIAL_JIFFIES at\n"
	"the kernel's HZ, HZ from tick_nsec), load average (avenrun), memory\n"
	"(max_pfn, _totalram_pages, pages in the dump), the number of tasks (when\n"
	"struct layouts are known) and the panic string from the kernel log.\n"
	"  --dom0   Xen host dumps: dom0's kernel, read through its P2M\n"
	"  --json   one object; unknown values are null\n";

struct sysinfo_ {
	char uts[6][65];
	bool has_uts;
	int cpus;
	const char *cpus_from;
	bool has_crashtime;
	int64_t crashtime;
	bool has_uptime;
	uint64_t uptime_ms, jiffies, hz;
	char uptime_how[160];
	bool has_load;
	uint64_t avenrun[3];
	bool has_max_pfn, has_totalram;
	uint64_t max_pfn, totalram;
	uint64_t dump_pages;
	long tasks;
	char tasks_why[640];
	char panic[512];
	uint64_t last_ts;        /* last printk timestamp, ns */
	bool has_last_ts;
};

struct scan {
	char *panic;
	size_t len;
	int prio;                /* 0 none, 1 Oops/BUG, 2 Kernel panic */
	uint64_t last_ts;
	bool any;
};

static int log_cb(void *arg, const struct vmc_logrec *r)
{
	struct scan *s = arg;
	static const struct {
		const char *pfx;
		int prio;
	} pats[] = { { "Kernel panic - not syncing", 2 }, { "BUG: ", 1 }, { "Oops: ", 1 },
		     { "general protection fault", 1 }, { "kernel BUG at", 1 } };

	s->last_ts = r->ts_nsec;
	s->any = true;
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		size_t pl = strlen(pats[i].pfx);
		if (r->text_len >= pl && !memcmp(r->text, pats[i].pfx, pl) && pats[i].prio > s->prio) {
			size_t n = r->text_len < s->len - 1 ? r->text_len : s->len - 1;
			const char *nl = memchr(r->text, '\n', n);
			if (nl)
				n = (size_t)(nl - r->text);
			memcpy(s->panic, r->text, n);
			s->panic[n] = 0;
			s->prio = pats[i].prio;
		}
	}
	return 0;
}

static void gather(struct az_kernel *k, struct sysinfo_ *s)
{
	uint64_t a, v, off;

	memset(s, 0, sizeof(*s));
	if (vmc_vmci_symbol(k->d, "init_uts_ns", &a) == VMC_OK) {
		char buf[6 * 65];
		off = 0;
		vmc_vmci_offset(k->d, "uts_namespace.name", &off);
		if (az_read(k, a + off, buf, sizeof(buf)) == 0) {
			for (int i = 0; i < 6; i++) {
				memcpy(s->uts[i], buf + 65 * i, 64);
				s->uts[i][64] = 0;
			}
			s->has_uts = true;
		}
	}
	s->cpus = (int)vmc_cpu_count(k->d);
	s->cpus_from = "NT_PRSTATUS notes";
	if (az_sym(k, "__cpu_online_mask", &a) == 0 && az_read_u64(k, a, &v) == 0 && v) {
		s->cpus = __builtin_popcountll(v);
		s->cpus_from = "cpu_online_mask";
	}
	s->has_crashtime = vmc_vmci_crashtime(k->d, &s->crashtime) == VMC_OK ||
			   vmc_kdump_timestamp(k->d, &s->crashtime) == VMC_OK;

	struct scan sc = { s->panic, sizeof(s->panic), 0, 0, false };
	vmc_dmesg(k->d, log_cb, &sc);
	s->has_last_ts = sc.any;
	s->last_ts = sc.last_ts;

	/* uptime = (jiffies_64 - INITIAL_JIFFIES) / HZ; INITIAL_JIFFIES is
	 * (u32)(-300 * HZ) (include/linux/jiffies.h); HZ is not exported, but
	 * tick_nsec = NSEC_PER_SEC / HZ (kernel/time/ntp.c) is a variable */
	if (az_sym(k, "jiffies_64", &a) == 0 && az_read_u64(k, a, &s->jiffies) == 0) {
		uint64_t tn;
		if (az_sym(k, "tick_nsec", &a) == 0 && az_read_u64(k, a, &tn) == 0 && tn > 100000 &&
		    tn < 100000000) {
			s->hz = (1000000000ull + tn / 2) / tn;
			snprintf(s->uptime_how, sizeof(s->uptime_how),
				 "jiffies_64 since INITIAL_JIFFIES at HZ %" PRIu64 " (from tick_nsec %" PRIu64 ")",
				 s->hz, tn);
		} else if (s->has_last_ts) {
			/* the closest usual HZ to what the last log record implies */
			static const uint64_t hzs[] = { 100, 250, 300, 1000 };
			double best = 1e300;
			for (size_t i = 0; i < 4; i++) {
				uint64_t init = (uint64_t)(uint32_t)(-(int64_t)(300 * hzs[i]));
				double up = (double)(s->jiffies - init) / (double)hzs[i];
				double diff = up - (double)s->last_ts / 1e9;
				if (diff >= -1 && (diff < 0 ? -diff : diff) < best) {
					best = diff < 0 ? -diff : diff;
					s->hz = hzs[i];
				}
			}
			snprintf(s->uptime_how, sizeof(s->uptime_how),
				 "jiffies_64 since INITIAL_JIFFIES at HZ %" PRIu64 " (HZ guessed from the "
				 "last log timestamp: no tick_nsec)", s->hz);
		}
		if (s->hz) {
			uint64_t init = (uint64_t)(uint32_t)(-(int64_t)(300 * s->hz));
			s->uptime_ms = (s->jiffies - init) * 1000 / s->hz;
			s->has_uptime = true;
		}
	}
	if (!s->has_uptime && s->has_last_ts) {
		s->uptime_ms = s->last_ts / 1000000;
		s->has_uptime = true;
		snprintf(s->uptime_how, sizeof(s->uptime_how),
			 "timestamp of the last kernel log record (no jiffies_64 symbol)");
	}
	if (az_sym(k, "avenrun", &a) == 0 && az_read(k, a, s->avenrun, sizeof(s->avenrun)) == 0)
		s->has_load = true;
	if (az_sym(k, "max_pfn", &a) == 0 && az_read_u64(k, a, &s->max_pfn) == 0)
		s->has_max_pfn = true;
	if ((az_sym(k, "_totalram_pages", &a) == 0 || az_sym(k, "totalram_pages", &a) == 0) &&
	    az_read_u64(k, a, &s->totalram) == 0)
		s->has_totalram = true;
	s->dump_pages = vmc_pages_present(k->d);
	s->tasks = -1;
	if (k->have_types) {
		struct az_tasks t;
		if (az_tasks_load(k, &t) == 0)
			s->tasks = (long)t.n;
		else
			snprintf(s->tasks_why, sizeof(s->tasks_why), "%s", k->err);
		az_tasks_free(&t);
	} else {
		snprintf(s->tasks_why, sizeof(s->tasks_why), "%s and no --vmlinux given: "
			 "struct task_struct layout unknown", k->why_types);
	}
}

static void load_str(char *b, size_t n, const uint64_t av[3])
{
	/* FSHIFT 11, as /proc/loadavg rounds: LOAD_INT, LOAD_FRAC of x + FIXED_1/200 */
	char *p = b;
	for (int i = 0; i < 3; i++) {
		uint64_t x = av[i] + 2048 / 200;
		p += snprintf(p, n - (size_t)(p - b), "%s%" PRIu64 ".%02" PRIu64, i ? ", " : "",
			      x >> 11, ((x & 2047) * 100) >> 11);
	}
}

static void mib(char *b, size_t n, uint64_t pages, uint32_t ps)
{
	snprintf(b, n, "%.1f MiB", (double)pages * ps / 1048576.0);
}

static void print_text(struct az_kernel *k, const char *path, const struct sysinfo_ *s)
{
	char b[256];
	uint32_t ps = vmc_page_size(k->d);

	printf("    DUMPFILE: %s\n", path);
	if (k->have_syms)
		printf("     SYMBOLS: %s (%zu)%s%s\n", k->syms.source, k->syms.n,
		       k->have_types ? ", types from " : "", k->have_types ? k->lay.source : "");
	else
		printf("     SYMBOLS: none (%s)\n", k->why_syms);
	printf("        CPUS: %d\n", s->cpus);
	if (s->has_crashtime) {
		time_t t = (time_t)s->crashtime;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(b, sizeof(b), "%a %b %e %H:%M:%S UTC %Y", &tm);
		printf("        DATE: %s\n", b);
	} else {
		printf("        DATE: (unknown)\n");
	}
	if (s->has_uptime) {
		uint64_t sec = s->uptime_ms / 1000;
		printf("      UPTIME: %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 "  (%" PRIu64 ".%03" PRIu64
		       " s: %s)\n", sec / 3600, sec / 60 % 60, sec % 60, sec, s->uptime_ms % 1000,
		       s->uptime_how);
	} else {
		printf("      UPTIME: (unknown: no jiffies_64 and no kernel log)\n");
	}
	if (s->has_load) {
		load_str(b, sizeof(b), s->avenrun);
		printf("LOAD AVERAGE: %s\n", b);
	} else {
		printf("LOAD AVERAGE: (unknown: no avenrun symbol)\n");
	}
	if (s->tasks >= 0)
		printf("       TASKS: %ld\n", s->tasks);
	else
		printf("       TASKS: (unknown: %s)\n", s->tasks_why);
	static const char *const uts_label[] = { "    NODENAME", "     RELEASE", "     VERSION",
						 "     MACHINE" };
	for (int i = 0; i < 4; i++)
		printf("%s: %s\n", uts_label[i],
		       s->has_uts ? az_tesc(b, sizeof(b), s->uts[i + 1]) : "(unknown)");
	if (s->has_max_pfn) {
		mib(b, sizeof(b), s->max_pfn, ps);
		printf("      MEMORY: %s (max_pfn 0x%" PRIx64 ")", b, s->max_pfn);
	} else {
		printf("      MEMORY: (max_pfn unknown)");
	}
	if (s->has_totalram) {
		mib(b, sizeof(b), s->totalram, ps);
		printf(", %s managed (_totalram_pages)", b);
	}
	mib(b, sizeof(b), s->dump_pages, ps);
	printf(", %s in the dump\n", b);
	if (s->panic[0]) {
		printf("       PANIC: \"");
		az_tput(stdout, s->panic, strnlen(s->panic, sizeof(s->panic)), false);
		printf("\"\n");
	} else
		printf("       PANIC: (no panic message in the kernel log)\n");
}

static void print_json(struct az_kernel *k, const struct sysinfo_ *s)
{
	static const char *const uts_keys[6] = { "sysname", "nodename", "release", "version",
						 "machine", "domainname" };
	struct az_json j;
	char b[64];

	az_json_init(&j, stdout);
	az_json_begin_object(&j);
	for (int i = 0; i < 6; i++) {
		az_json_kstr(&j, uts_keys[i], s->has_uts ? s->uts[i] : NULL);
	}
	az_json_ki64(&j, "cpus", s->cpus);
	az_json_ki64_if(&j, "crash_time", s->has_crashtime, s->crashtime);
	az_json_ku64_if(&j, "uptime_ms", s->has_uptime, s->uptime_ms);
	az_json_kstr(&j, "uptime_from", s->has_uptime ? s->uptime_how : NULL);
	az_json_ku64_if(&j, "jiffies", s->jiffies, s->jiffies);
	az_json_ku64_if(&j, "hz", s->hz, s->hz);
	az_json_key(&j, "load_average");
	if (s->has_load) {
		load_str(b, sizeof(b), s->avenrun);
		az_json_str(&j, b);
	} else {
		az_json_null(&j);
	}
	az_json_ku64_if(&j, "max_pfn", s->has_max_pfn, s->max_pfn);
	az_json_ku64_if(&j, "totalram_pages", s->has_totalram, s->totalram);
	az_json_ku64(&j, "dump_pages", s->dump_pages);
	az_json_ki64_if(&j, "tasks", s->tasks >= 0, s->tasks);
	az_json_kstr(&j, "panic", s->panic[0] ? s->panic : NULL);
	az_json_kstr(&j, "symbols", k->syms.source);
	az_json_kstr(&j, "types", k->have_types ? k->lay.source : NULL);
	az_json_end_object(&j);
	az_json_finish(&j);
}

static int sys_run(struct az_run *r)
{
	struct sysinfo_ s;

	gather(&r->k, &s);
	if (r->a.json)
		print_json(&r->k, &s);
	else
		print_text(&r->k, r->a.pos[0], &s);
	return AZ_EXIT_OK;
}

static const struct az_cmd sys_cmd = { "sys", sys_usage, AZ_OPT_VMLINUX | AZ_OPT_DOM0, 1, 1, 0, sys_run };

int az_cmd_sys(int argc, char **argv)
{
	return az_run_cmd(argc, argv, &sys_cmd);
}
