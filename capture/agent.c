/* agent.c - salvage-capture as init of the crash kernel: the stages, the
 * watchdog and the final action.
 *
 *   init       mount /proc, /sys, /dev; console on fds 0-2
 *   config     /etc/salvage.conf, then salvage.KEY=VALUE on /proc/cmdline
 *   source     open /proc/vmcore: release, crash time, host name
 *   modules    finit_module in modules.dep order
 *   target     wait for the device (UUID=, LABEL=, /dev/...), mount, mkdir
 *   prune      old dumps by count and free-space floor
 *   capture    cap_run() into DIR/<host>-<UTC>/, files renamed after fsync
 *   meta       meta.json (space reserved before the capture)
 *   action     reboot, poweroff, shell or exit
 *
 * Each stage logs one line when it fails; then the failure action runs.  When
 * nothing can be written (no target), the tail of the crashed kernel's log is
 * printed on the console: the last place it can go.  The watchdog thread ends
 * the run after `timeout` seconds whatever happens, with alarm(2) behind it.
 */
#include "agent-internal.h"
#include "../vmcore/vmcore.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define DMESG_TAIL 60

static struct cap_agent_run run;
static bool is_init;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

double cap_agent_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void alog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void alog(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cap_log("agent: %s", line);
	/* the watchdog thread logs too */
	pthread_mutex_lock(&log_lock);
	if (run.nlog < CAP_AGENT_LOGLINES) {
		char *copy = strdup(line);
		if (copy)
			run.log[run.nlog++] = copy;
	}
	pthread_mutex_unlock(&log_lock);
}

/* ---- watchdog -------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	bool have_snapshot;
	struct cap_agent_run snapshot;   /* state when the capture began */
	unsigned timeout;
	enum cap_agent_action action;
} wd = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void hard_stop(enum cap_agent_action a)
{
	if (a == CAP_ACT_EXIT && !is_init)
		_exit(CAP_ERR);
	/* no sync(): the disk may be what hangs */
	reboot(a == CAP_ACT_POWEROFF ? RB_POWER_OFF : RB_AUTOBOOT);
	_exit(CAP_ERR);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "agent: watchdog alarm: stopping now\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	hard_stop(wd.action);
}

/* Save what the snapshot knows: the log is renamed, meta.json says "timeout". */
static void *emergency(void *arg)
{
	struct cap_agent_run *s = arg;
	char tmp[sizeof(s->dumpdir) + 32], fin[sizeof(s->dumpdir) + 32];
	struct stat st;

	snprintf(tmp, sizeof(tmp), "%s/.dmesg.txt.tmp", s->dumpdir);
	snprintf(fin, sizeof(fin), "%s/dmesg.txt", s->dumpdir);
	if (stat(tmp, &st) == 0 && cap_agent_commit(tmp, fin) == 0) {
		snprintf(s->dmesg_file, sizeof(s->dmesg_file), "dmesg.txt");
		s->dmesg_bytes = (uint64_t)st.st_size;
	}
	s->status = "timeout";
	snprintf(s->error, sizeof(s->error), "watchdog: not finished after %u s", wd.timeout);
	s->t_total = cap_agent_now() - s->t_start;
	cap_agent_write_meta(s);
	sync();
	return NULL;
}

static void sleep_until(double t)
{
	double now;

	while ((now = cap_agent_now()) < t) {
		double d = t - now;
		struct timespec ts = { (time_t)d, (long)((d - (time_t)d) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

static void *watchdog(void *arg)
{
	double start = run.t_start, grace = wd.timeout >= 60 ? 15 : wd.timeout / 4.0;
	pthread_t t;

	(void)arg;
	sleep_until(start + wd.timeout - grace);
	alog("watchdog: run not finished after %.0f s, saving what is known",
	     wd.timeout - grace);
	pthread_mutex_lock(&wd.lock);
	if (wd.have_snapshot && pthread_create(&t, NULL, emergency, &wd.snapshot) == 0)
		pthread_detach(t);
	pthread_mutex_unlock(&wd.lock);
	sleep_until(start + wd.timeout);
	alog("watchdog: %u s limit reached, %s", wd.timeout,
	     wd.action == CAP_ACT_EXIT && !is_init ? "exiting"
	     : wd.action == CAP_ACT_POWEROFF ? "powering off" : "rebooting");
	hard_stop(wd.action);
	return NULL;
}

static void watchdog_start(uint64_t timeout, enum cap_agent_action action)
{
	pthread_t t;
	struct sigaction sa = { .sa_handler = on_alarm };

	/* the schema bounds it (CFG_TIMEOUT_MAX): alarm's margin cannot wrap */
	wd.timeout = timeout < CFG_TIMEOUT_MIN ? CFG_TIMEOUT_MIN
		   : timeout > CFG_TIMEOUT_MAX ? CFG_TIMEOUT_MAX : (unsigned)timeout;
	/* the watchdog never leaves the machine waiting in a shell */
	wd.action = action == CAP_ACT_SHELL ? CAP_ACT_REBOOT : action;
	sigaction(SIGALRM, &sa, NULL);
	/* the backup, in case the thread cannot run: a signal the kernel delivers */
	alarm(wd.timeout + 30);
	if (pthread_create(&t, NULL, watchdog, NULL) == 0)
		pthread_detach(t);
	else
		alog("watchdog: no thread (%s), alarm(2) only", strerror(errno));
}

/* ---- stages ------------------------------------------------------------------ */

static void setup_init(void)
{
	static const struct { const char *src, *dir, *type; unsigned long fl; const char *data; } m[] = {
		{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
		{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
		{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	};
	char failed[128] = "";

	umask(022);
	if (chdir("/") < 0)
		snprintf(failed, sizeof(failed), " chdir /(%s)", strerror(errno));
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		mkdir(m[i].dir, 0755);
		if (mount(m[i].src, m[i].dir, m[i].type, m[i].fl, m[i].data) < 0 && errno != EBUSY)
			snprintf(failed + strlen(failed), sizeof(failed) - strlen(failed), " %s(%s)",
				 m[i].dir, strerror(errno));
	}
	mkdir("/run", 0755);
	/* the kernel opened /dev/console for us if the image has the node */
	if (fcntl(2, F_GETFD) < 0) {
		int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0) {
			for (int i = 0; i < 3; i++)
				dup2(fd, i);
			if (fd > 2)
				close(fd);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (failed[0])
		alog("init: mount failed:%s", failed);
}

/* Read at most len - 1 bytes of a small file (sysfs, /proc) into buf, NUL
 * terminated; the count read, or -errno. */
ssize_t cap_agent_read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = 0;
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	buf[n < 0 ? 0 : n] = 0;
	return n;
}

static int read_cmdline(const char *path, char *buf, size_t len)
{
	ssize_t n = cap_agent_read_small(path, buf, len);

	if (n < 0)
		return (int)n;
	/* a buffer filled up may end inside a word: drop that word whole */
	if ((size_t)n == len - 1)
		while (n > 0 && buf[n - 1] != ' ' && buf[n - 1] != '\n')
			n--;
	buf[n] = 0;
	return 0;
}

/* The crashed kernel's host name: init_uts_ns.name.nodename (struct
 * new_utsname: sysname[65] then nodename[65]). */
static void dump_nodename(vmc_dump *d, char *out, size_t len)
{
	uint64_t sym, off = 0;
	char name[65];

	out[0] = 0;
	if (vmc_vmci_symbol(d, "init_uts_ns", &sym) != VMC_OK)
		return;
	vmc_vmci_offset(d, "uts_namespace.name", &off);
	if (vmc_read_virt(d, sym + off + 65, name, sizeof(name)) != VMC_OK)
		return;
	name[64] = 0;
	if (name[0] && strcmp(name, "(none)"))
		snprintf(out, len, "%s", name);
}

struct tail {
	char lines[DMESG_TAIL][200];
	size_t n;
};

static int tail_emit(void *arg, const struct vmc_logrec *rec)
{
	struct tail *t = arg;
	char buf[1024];
	size_t n = vmc_logrec_format(rec, buf, sizeof(buf));

	if (n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	snprintf(t->lines[t->n++ % DMESG_TAIL], sizeof(t->lines[0]), "%.*s",
		 (int)sizeof(t->lines[0]) - 1, buf);
	return 0;
}

/* Nowhere to write: the console gets the end of the crashed kernel's log. */
static void print_dmesg_tail(vmc_dump *d)
{
	static struct tail t;
	size_t first;

	if (!d)
		return;
	t.n = 0;
	if (vmc_dmesg(d, tail_emit, &t) < 0 && !t.n)
		return;
	first = t.n > DMESG_TAIL ? t.n - DMESG_TAIL : 0;
	cap_log("agent: last %zu lines of the crashed kernel's log:", t.n - first);
	for (size_t i = first; i < t.n; i++)
		cap_log("agent: | %s", t.lines[i % DMESG_TAIL]);
}

static int dmesg_emit(void *arg, const struct vmc_logrec *rec)
{
	char buf[2048];
	size_t n = vmc_logrec_format(rec, buf, sizeof(buf));

	return fwrite(buf, 1, n, arg) == n ? 0 : -EIO;
}

/* The capture core did not save the log: write it from the dump ourselves,
 * into a file created here (never through a link left in the directory).  A
 * log with no record is no log: the file is removed and the reason given. */
static int write_dmesg(vmc_dump *d, const char *path, char *why, size_t whylen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f;
	int rc;
	long end;

	if (fd < 0) {
		snprintf(why, whylen, "%.200s: %s", path, strerror(errno));
		return -errno;
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		snprintf(why, whylen, "%.200s: %s", path, strerror(errno));
		return -ENOMEM;
	}
	rc = vmc_dmesg(d, dmesg_emit, f);
	end = ftell(f);
	if (rc < 0)
		snprintf(why, whylen, "%s", rc == -EIO ? "writing the log: I/O error" : vmc_errmsg(d));
	if (fclose(f) != 0 && rc == 0) {
		rc = -errno;
		snprintf(why, whylen, "writing the log: %s", strerror(errno));
	}
	if (rc == 0 && end <= 0) {
		rc = -ENODATA;
		snprintf(why, whylen, "the kernel log has no records");
	}
	if (rc < 0)
		unlink(path);
	return rc;
}

#define MEM_MIN ((uint64_t)8 << 20)
#define MEM_AUTO_MAX ((uint64_t)64 << 20)
/* What one compression thread costs beyond the budget: a zstd context at
 * the levels used and its buffers (threads=2000 took 430 MB). */
#define MEM_PER_THREAD ((uint64_t)1 << 20)

/* Bytes of MemAvailable, or 0 when unknown. */
static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
				break;
		fclose(f);
	}
	return kb > UINT64_MAX / 1024 ? 0 : (uint64_t)kb * 1024;
}

/* The working memory: the configured budget, at most half of what is
 * available (a budget the machine cannot give would mean no dump at all),
 * else a third of it up to 64M; never below 8M. */
static uint64_t mem_budget(uint64_t configured, uint64_t avail)
{
	uint64_t b;

	if (configured) {
		b = configured;
		if (avail && b > avail / 2) {
			b = avail / 2;
			alog("memory: %llu MiB asked, %llu MiB available: using %llu MiB",
			     (unsigned long long)(configured >> 20),
			     (unsigned long long)(avail >> 20), (unsigned long long)(b >> 20));
		}
	} else {
		b = avail / 3;
		if (b > MEM_AUTO_MAX || !avail)
			b = MEM_AUTO_MAX;
	}
	return b < MEM_MIN ? MEM_MIN : b;
}

/* Compression threads: as configured (0: online CPUs), but no more than
 * the available memory can hold beside the budget. */
static int thread_count(uint64_t configured, uint64_t budget, uint64_t avail)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t n = configured ? configured : ncpu > 0 ? (uint64_t)ncpu : 1, fit;

	if (avail) {
		fit = avail > budget ? (avail - budget) / 2 / MEM_PER_THREAD : 0;
		if (fit < 1)
			fit = 1;
		if (n > fit) {
			alog("threads: %llu asked, memory for %llu", (unsigned long long)n,
			     (unsigned long long)fit);
			n = fit;
		}
	}
	return n > 256 ? 256 : (int)n;
}

static int finish(enum cap_status st)
{
	enum cap_agent_action a = st == CAP_OK ? run.cfg.action : run.cfg.failure_action;

	fflush(NULL);
	if (a == CAP_ACT_EXIT && is_init)
		a = CAP_ACT_REBOOT;   /* init must not return: the kernel would panic */
	if (a == CAP_ACT_EXIT) {
		alarm(0);
		return st;
	}
	if (a == CAP_ACT_SHELL) {
		if (access(run.cfg.shell, X_OK) == 0) {
			alog("starting %s (the watchdog stops here)", run.cfg.shell);
			alarm(0);
			execl(run.cfg.shell, "sh", (char *)NULL);
		}
		alog("no shell at %s, rebooting", run.cfg.shell);
		a = CAP_ACT_REBOOT;
	}
	alog("%s", a == CAP_ACT_POWEROFF ? "powering off" : "rebooting");
	sync();
	reboot(a == CAP_ACT_POWEROFF ? RB_POWER_OFF : RB_AUTOBOOT);
	alog("reboot(2) failed: %s", strerror(errno));
	if (is_init)
		for (;;)
			pause();   /* the watchdog still ends the run */
	return st;
}

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: salvage-capture --init [--config FILE] [--cmdline FILE] "
		   "[--set KEY=VALUE]... [--print-config]\n"
		   "       salvage-capture --init --probe DEVICE\n\n"
		   "Runs as the crash kernel's init (PID 1) or with --init.  Keys of %s\n"
		   "and of salvage.KEY=VALUE on the kernel command line (numbers are\n"
		   "decimal; sizes take K, M, G or T):\n", CFG_PATH);
	cfg_print_help(f);
	return rc;
}

/* A net: target streams the dump: the writer's flattened stream goes into
 * this FIFO, which the sender reads (stage_net). */
static const char *stream_fifo;

static enum cap_status capture(vmc_dump *src)
{
	struct cap_options o;
	char out[sizeof(run.dumpdir) + 32], dmesg[sizeof(run.dumpdir) + 32];
	char fin[sizeof(run.dumpdir) + 32];
	struct stat st;
	enum cap_status s;
	double t0 = cap_agent_now();
	uint64_t avail = mem_available();

	snprintf(out, sizeof(out), "%s/.vmcore.tmp", run.dumpdir);
	snprintf(dmesg, sizeof(dmesg), "%s/.dmesg.txt.tmp", run.dumpdir);
	cap_options_init(&o);
	o.input = run.cfg.vmcore;
	o.output = out;
	o.format = cap_agent_format(run.cfg.format);
	o.dump_level = (int)run.cfg.level | (run.cfg.xen_domu ? CAP_DL_XEN_DOMU : 0);
	/* xen_domains: checked by the schema already (config/config.c) */
	if (run.cfg.xen_domains[0] && cap_parse_domains(run.cfg.xen_domains, &o) == 0)
		o.dump_level |= CAP_DL_XEN_DOMU;
	o.codec = cap_agent_codec_bit(run.cfg.codec);
	o.codec_level = (int)run.cfg.codec_level;
	o.mem_budget = (size_t)mem_budget(run.cfg.memory, avail);
	o.threads = thread_count(run.cfg.threads, o.mem_budget, avail);
	o.dmesg_path = dmesg;
	o.progress = run.cfg.progress ? 2 : 0;
	o.progress_interval = run.cfg.progress;
	o.fail_after_bytes = run.cfg.fail_after;
	if (stream_fifo) {
		o.output = stream_fifo;
		o.flattened = true;
		o.overwrite = true;     /* the FIFO exists, made by stage_net */
	}

	/* sealed: the writers' bytes go through pipes into sealed files */
	struct cap_sealer sealer;
	bool sealed = run.cfg.seal_to[0] != 0;
	char err[512];
	if (sealed && cap_seal_start(&sealer, &o, run.cfg.seal_to, run.sealed_to, err,
				     sizeof(err)) < 0) {
		alog("seal: %s", err);
		snprintf(run.error, sizeof(run.error), "seal: %.400s", err);
		run.sealed_to[0] = 0;
		run.status = "failed";
		return CAP_ERR;
	}
	s = cap_run(&o, &run.result);
	if (sealed && cap_seal_finish(&sealer, &o, &run.result, err, sizeof(err)) < 0) {
		alog("seal: %s", err);
		if (s == CAP_OK)
			s = CAP_ERR;
	}
	run.have_result = true;
	run.t_capture = cap_agent_now() - t0;
	/* what the capture took of the crash kernel's memory: the figures
	 * behind the smallest crashkernel= (README, tests/bench/reservation-bench.sh) */
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		alog("memory: %llu MiB available, budget %llu MiB, %d thread%s, peak RSS %.1f MiB",
		     (unsigned long long)(avail >> 20), (unsigned long long)(o.mem_budget >> 20),
		     o.threads, o.threads == 1 ? "" : "s", (double)ru.ru_maxrss / 1024);
	if (s != CAP_OK)
		alog("capture: %s", run.result.error[0] ? run.result.error : run.status);
	snprintf(run.error, sizeof(run.error), "%s", s == CAP_OK ? "" : run.result.error);

	/* the log first: it is the part that must survive */
	snprintf(fin, sizeof(fin), "%s/dmesg.txt", run.dumpdir);
	if (!sealed && (!run.result.dmesg_saved || stat(dmesg, &st) < 0)) {
		char why[sizeof(run.result.dmesg_error)];
		/* the core tried and says why: trying again would say less */
		if (run.result.dmesg_error[0])
			alog("%s%s", strncmp(run.result.dmesg_error, "dmesg:", 6) ? "dmesg: " : "",
			     run.result.dmesg_error);
		else if (write_dmesg(src, dmesg, why, sizeof(why)) < 0)
			alog("dmesg: %s", why);
	}
	if (stat(dmesg, &st) == 0) {
		int rc = cap_agent_commit(dmesg, fin);
		if (rc < 0) {
			alog("dmesg: %s: %s", fin, strerror(-rc));
		} else {
			snprintf(run.dmesg_file, sizeof(run.dmesg_file), "dmesg.txt");
			run.dmesg_bytes = (uint64_t)st.st_size;
		}
	}
	/* a writer cut short before its headers leaves bytes no reader accepts */
	if (s != CAP_OK && !sealed && stat(out, &st) == 0) {
		vmc_dump *chk = vmc_dump_create();

		if (chk && vmc_open_path(chk, out) < 0) {
			alog("dump: %s: unreadable (%s), removed", out, vmc_errmsg(chk));
			unlink(out);
			if (s == CAP_INCOMPLETE)
				s = CAP_DMESG_ONLY;
		}
		vmc_dump_destroy(chk);
	}
	if (stat(out, &st) == 0) {
		const char *name = s == CAP_OK || s == CAP_INCOMPLETE ? "vmcore" : "vmcore.partial";
		int rc;

		snprintf(fin, sizeof(fin), "%s/%s", run.dumpdir, name);
		if (st.st_size == 0 && s != CAP_OK) {
			unlink(out);
		} else if ((rc = cap_agent_commit(out, fin)) < 0) {
			alog("dump: %s: %s", fin, strerror(-rc));
		} else {
			snprintf(run.dump_file, sizeof(run.dump_file), "%s", name);
			run.dump_bytes = (uint64_t)st.st_size;
		}
	}
	if (stream_fifo && (s == CAP_OK || s == CAP_INCOMPLETE) && run.result.bytes_out) {
		/* the receiver rebuilds the file from the stream, or stores
		 * the sealed file as it came */
		snprintf(run.dump_file, sizeof(run.dump_file), "vmcore");
		run.dump_bytes = sealed ? sealer.dump.written : run.result.bytes_out;
	}
	if (s == CAP_DMESG_ONLY && !run.dmesg_file[0])
		s = CAP_ERR;
	run.status = s == CAP_OK ? "ok" : s == CAP_INCOMPLETE ? "incomplete"
		   : s == CAP_DMESG_ONLY ? "dmesg-only" : "failed";
	return s;
}

static int probe_main(const char *dev)
{
	struct cap_agent_fsinfo fi;
	int rc = cap_agent_probe(dev, &fi);

	if (rc < 0) {
		fprintf(stderr, "salvage-capture: %s: %s\n", dev,
			rc == -ENODATA ? "no ext4 or xfs file system" : strerror(-rc));
		return CAP_ERR;
	}
	printf("TYPE=%s\nUUID=%s\nLABEL=%s\n", fi.type, fi.uuid, fi.label);
	return CAP_OK;
}

/* ---- the run, one function per stage -------------------------------------- */

struct args {
	const char *config, *cmdline_path;
	const char *sets[32];
	size_t nsets;
	bool print_config;
};

/* -1: go on; else the exit status. */
static int stage_args(int argc, char **argv, struct args *a)
{
	a->config = CFG_PATH;
	a->cmdline_path = "/proc/cmdline";
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(arg, "--init"))
			continue;
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
			return usage(stdout, CAP_OK);
		if (!strcmp(arg, "--probe") && v)
			return probe_main(v);
		if (!strcmp(arg, "--print-config"))
			a->print_config = true;
		else if (!strcmp(arg, "--config") && v)
			a->config = argv[++i];
		else if (!strcmp(arg, "--cmdline") && v)
			a->cmdline_path = argv[++i];
		else if (!strcmp(arg, "--set") && v && a->nsets < 32)
			a->sets[a->nsets++] = argv[++i];
		else if (!is_init)   /* as init, the kernel passes leftover words */
			return usage(stderr, CAP_USAGE);
	}
	return -1;
}

static void stage_init(void)
{
	struct utsname u;

	memset(&run, 0, sizeof(run));
	run.t_start = cap_agent_now();
	run.started = time(NULL);
	run.crash_time = -1;
	run.status = "failed";
	if (is_init)
		setup_init();
	if (uname(&u) == 0)
		snprintf(run.crash_kernel, sizeof(run.crash_kernel), "%s", u.release);
}

#define CONFIG_REPORT_MAX 10
static unsigned config_reported;
static bool config_print;

static void config_report(const char *where, const char *why)
{
	if (config_print)
		cfg_print_error(stdout, where, why);
	else if (config_reported++ < CONFIG_REPORT_MAX)
		alog("config: %s: %s, ignored", where, why);
}

/* The file, then the kernel command line, then --set; -1: go on, else the
 * exit status (--print-config). */
static int stage_config(const struct args *a)
{
	static char cmdline[16384];
	bool have_cmdline = read_cmdline(a->cmdline_path, cmdline, sizeof(cmdline)) == 0;

	config_print = a->print_config;
	config_reported = 0;
	cap_agent_config_load(&run.cfg, a->config, have_cmdline ? cmdline : NULL, a->sets,
			      a->nsets, config_report);
	if (config_reported > CONFIG_REPORT_MAX)
		alog("config: %u more refused values", config_reported - CONFIG_REPORT_MAX);
	if (a->print_config) {
		cfg_print(&run.cfg, stdout);
		return CAP_OK;
	}
	return -1;
}

static void stage_announce(void)
{
	watchdog_start(run.cfg.timeout, run.cfg.failure_action);
	alog("salvage-capture on %s%s: target %s, level %d, codec %s, %s, then %s; "
	     "watchdog %u s", run.crash_kernel, is_init ? " as init" : "",
	     run.cfg.target[0] ? run.cfg.target : "(none)", (int)run.cfg.level,
	     cap_agent_codec_name(run.cfg.codec),
	     run.cfg.format == CFG_FORMAT_ELF ? "elf" : "kdump",
	     cap_agent_action_name(run.cfg.action), wd.timeout);
}

/* What crashed, when, on which host.  NULL when the source cannot be read. */
static vmc_dump *stage_source(void)
{
	vmc_dump *src = vmc_dump_create(), *view = NULL, *kern;
	const char *rel;
	int64_t ct;
	char node[65];

	if (!src || vmc_open_path(src, run.cfg.vmcore) < 0) {
		alog("source: %s: %s", run.cfg.vmcore, src ? vmc_errmsg(src) : "out of memory");
		snprintf(run.error, sizeof(run.error), "%s: %s", run.cfg.vmcore,
			 src ? vmc_errmsg(src) : "out of memory");
		vmc_dump_destroy(src);
		return NULL;
	}
	/* Xen has no release or host name of the kind asked here: dom0's
	 * kernel has, read through a view of dom0's memory (found without
	 * symbols, as for its log) */
	kern = vmc_xen(src) && vmc_xen_dom0_open(src, NULL, &view) == VMC_OK ? view : src;
	rel = vmc_vmcoreinfo_get(kern, "OSRELEASE");
	snprintf(run.osrelease, sizeof(run.osrelease), "%s", rel ? rel : "");
	if (vmc_vmci_crashtime(src, &ct) == VMC_OK)
		run.crash_time = ct;
	dump_nodename(kern, node, sizeof(node));
	vmc_dump_destroy(view);
	snprintf(run.hostname, sizeof(run.hostname), "%s",
		 run.cfg.hostname[0] ? run.cfg.hostname : node[0] ? node : "");
	alog("source: %s, kernel %s, host %s", run.cfg.vmcore,
	     run.osrelease[0] ? run.osrelease : "unknown",
	     run.hostname[0] ? run.hostname : "unknown");
	return src;
}

static void stage_modules(void)
{
	double t = cap_agent_now();
	struct cap_agent_kmod_stats ks;

	if (run.cfg.modules[0]) {
		if (cap_agent_kmod_load(run.cfg.modules, &ks) < 0)
			alog("modules: %u loaded, %u present, %u failed: %s", ks.loaded,
			     ks.present, ks.failed, ks.first_error);
		else
			alog("modules: %u loaded, %u present%s", ks.loaded, ks.present,
			     ks.soft_failed ? " (some optional soft dependencies did not load)" : "");
	}
	run.t_modules = cap_agent_now() - t;
}

static int stage_target(void)
{
	char why[512];
	double t = cap_agent_now();
	int rc = cap_agent_target_parse(run.cfg.target, &run.target, why, sizeof(why));

	if (rc == 0)
		rc = cap_agent_target_find(&run.target, (unsigned)run.cfg.wait, why, sizeof(why));
	run.t_device = cap_agent_now() - t;
	t = cap_agent_now();
	if (rc == 0)
		rc = cap_agent_target_mount(&run.target, run.cfg.fstype, why, sizeof(why));
	run.t_mount = cap_agent_now() - t;
	if (rc < 0) {
		alog("target: %s", why);
		return rc;
	}
	cap_agent_free_bytes(run.target.dir, &run.free_before);
	if (run.target.is_dir)
		alog("target: %s", run.target.dir);
	else
		alog("target: %s is %s (%s%s%s), mounted in %.1f s, %llu MiB free",
		     run.target.spec, run.target.device, run.target.fs.type,
		     run.target.fs.label[0] ? " label " : "", run.target.fs.label,
		     run.t_device + run.t_mount,
		     (unsigned long long)(run.free_before >> 20));
	return 0;
}

static void stage_prune(void)
{
	double t = cap_agent_now();
	int rc = cap_agent_prune(run.target.dir, (unsigned)run.cfg.keep, run.cfg.minfree,
				 run.pruned, sizeof(run.pruned), &run.npruned);

	run.t_prune = cap_agent_now() - t;
	if (rc < 0)
		alog("prune: %s: %s (removed %u)", run.target.dir, strerror(-rc), run.npruned);
	else if (run.npruned)
		alog("prune: removed %s", run.pruned);
	if (run.npruned)
		cap_agent_free_bytes(run.target.dir, &run.free_before);
}

/* The dump directory, and room for meta.json before the dump can fill it. */
static int stage_dump_dir(void)
{
	int rc = cap_agent_make_dump_dir(run.target.dir, run.hostname,
					 run.crash_time >= 0 ? run.crash_time : run.started,
					 run.dumpdir, sizeof(run.dumpdir));

	if (rc == 0 && (rc = cap_agent_reserve_meta(&run)) < 0)
		alog("meta: cannot reserve space: %s", strerror(-rc));
	if (rc < 0 && !run.dumpdir[0]) {
		alog("target: cannot create a dump directory in %s: %s", run.target.dir,
		     strerror(-rc));
		return rc;
	}
	if (run.cfg.minfree && run.free_before < run.cfg.minfree)
		alog("target: %llu MiB free, below minfree %llu MiB: trying anyway",
		     (unsigned long long)(run.free_before >> 20),
		     (unsigned long long)(run.cfg.minfree >> 20));
	return 0;
}

static enum cap_status stage_capture(vmc_dump *src)
{
	enum cap_status st;

	alog("capture: writing %s", run.dumpdir);
	pthread_mutex_lock(&wd.lock);
	wd.snapshot = run;
	wd.have_snapshot = true;
	pthread_mutex_unlock(&wd.lock);

	st = capture(src);
	cap_agent_free_bytes(run.target.dir, &run.free_after);
	run.t_total = cap_agent_now() - run.t_start;
	alog("capture: %s: %s %llu bytes, dmesg.txt %llu bytes, %.1f s (capture %.1f s)",
	     run.status, run.dump_file[0] ? run.dump_file : "no dump",
	     (unsigned long long)run.dump_bytes, (unsigned long long)run.dmesg_bytes,
	     run.t_total, run.t_capture);
	return st;
}

/* meta.json says the agent is done with this dump. */
static enum cap_status stage_commit(enum cap_status st)
{
	int rc;

	pthread_mutex_lock(&wd.lock);
	wd.have_snapshot = false;   /* from here the real meta.json is ours to write */
	pthread_mutex_unlock(&wd.lock);
	rc = cap_agent_write_meta(&run);
	if (rc < 0)
		alog("meta: %s/meta.json: %s", run.dumpdir, strerror(-rc));
	return rc < 0 && st == CAP_OK ? CAP_INCOMPLETE : st;
}

static enum cap_status done(vmc_dump *src, enum cap_status st)
{
	vmc_dump_destroy(src);
	if (!is_init)
		cap_result_free(&run.result);
	return st;
}

/* Forget a capture whose target failed, before the next target runs. */
static void forget_capture(void)
{
	if (run.have_result)
		cap_result_free(&run.result);
	run.have_result = false;
	run.dumpdir[0] = run.dump_file[0] = run.dmesg_file[0] = run.error[0] = 0;
	run.dump_bytes = run.dmesg_bytes = 0;
	run.status = NULL;
}

/* Remove the staged copy of a dump sent over the network. */
static void unstage(void)
{
	static const char *const names[] = { "vmcore", "vmcore.partial", "dmesg.txt", "meta.json",
					     ".vmcore.tmp", ".dmesg.txt.tmp", ".meta.json.tmp" };
	char p[sizeof(run.dumpdir) + 32];

	if (!run.dumpdir[0])
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", run.dumpdir, names[i]);
		unlink(p);
	}
	rmdir(run.dumpdir);
}

/* A net:ADDR:PORT target: bring the network up (once), then capture while
 * sending (agent-stream.c): the writer's flattened stream, or the sealed
 * file made of it (seal_to), goes through a FIFO in the staging directory to
 * the sender's thread, which keeps only its window of unacknowledged bytes
 * in memory; dmesg.txt and meta.json (small) are staged in /run and follow
 * the dump. */
static enum cap_status stage_net(vmc_dump *src, const char *addr)
{
	static struct cap_agent_net net;
	static bool net_ready;
	static struct cap_net_stream ss;
	char why[512], p[2][sizeof(run.dumpdir) + 48], fifo[sizeof(run.dumpdir) + 48];
	enum cap_status st;
	double t = cap_agent_now();
	struct stat vst = { 0 };

	if (!net_ready) {
		if (cap_agent_net_up(&run.cfg, &net, why, sizeof(why)) < 0) {
			alog("net: %s", why);
			return CAP_ERR;
		}
		net_ready = true;
		if (!strcmp(run.cfg.net, "none"))
			alog("net: as configured already (net=none)");
		else
			alog("net: %s (%s) %s/%u%s%s by %s in %.1f s, drivers: %s", net.ifname,
			     net.mac, net.addr, net.prefix, net.gw[0] ? " via " : "", net.gw,
			     net.dhcp ? "DHCP" : "static configuration", cap_agent_now() - t,
			     net.modules[0] ? net.modules : "none needed");
	}
	memset(&run.target, 0, sizeof(run.target));
	run.target.is_dir = true;
	snprintf(run.target.dir, sizeof(run.target.dir), "%s", run.cfg.net_stage);
	mkdir(run.target.dir, 0700);
	if (stage_dump_dir() < 0)
		return CAP_ERR;
	struct cap_net_send ns = { .target = addr, .key = run.cfg.net_key,
				   .receiver_key = run.cfg.receiver_key };
	ns.crash_time = (uint64_t)(run.crash_time >= 0 ? run.crash_time : run.started);
	/* net_wait without progress, within the watchdog's deadline less a
	 * margin for the final action */
	double left = (double)run.cfg.timeout - (cap_agent_now() - run.t_start) - 20;
	ns.deadline = left < (double)run.cfg.net_wait ? left : (double)run.cfg.net_wait;
	if (ns.deadline < 5)
		ns.deadline = 5;
	snprintf(p[0], sizeof(p[0]), "%s/meta.json", run.dumpdir);
	snprintf(p[1], sizeof(p[1]), "%s/dmesg.txt", run.dumpdir);
	snprintf(fifo, sizeof(fifo), "%s/.vmcore.stream", run.dumpdir);
	ns.bound = cap_net_stream_bound(stat(run.cfg.vmcore, &vst) == 0 ? (uint64_t)vst.st_size : 0);
	ns.window = cap_net_window(mem_available());
	ns.sealed = run.cfg.seal_to[0] != 0;
	if (cap_net_stream_start(&ss, &ns, fifo, why, sizeof(why)) < 0) {
		alog("net: %s", why);
		unstage();
		return CAP_ERR;
	}
	stream_fifo = fifo;
	t = cap_agent_now();
	st = stage_capture(src);
	st = stage_commit(st);
	stream_fifo = NULL;
	bool ok = st == CAP_OK || st == CAP_INCOMPLETE;
	int rc = cap_net_stream_finish(&ss, ok, p[0], NULL, 0, p[1], why, sizeof(why));
	unstage();
	if (rc < 0 && !ok) {
		forget_capture();
		return st;
	}
	if (rc < 0) {
		alog("net: %s", why);
		forget_capture();
		return CAP_ERR;
	}
	alog("net: %s: sent in %.1f s", addr, cap_agent_now() - t);
	return st;
}

int cap_agent_main(int argc, char **argv)
{
	struct args a = { 0 };
	vmc_dump *src;
	enum cap_status st;
	int rc;

	is_init = getpid() == 1;
	if ((rc = stage_args(argc, argv, &a)) >= 0)
		return rc;
	stage_init();
	if ((rc = stage_config(&a)) >= 0)
		return rc;
	stage_announce();
	src = stage_source();
	if (!src)
		return finish(CAP_ERR);
	stage_modules();
	/* the targets in order: the first that takes the dump ends the run */
	char list[sizeof(run.cfg.target)], entry[sizeof(run.cfg.target)];
	snprintf(list, sizeof(list), "%s", run.cfg.target);
	for (size_t i = 0; !i || cfg_target_entry(list, i, entry, sizeof(entry)) == 0; i++) {
		if (cfg_target_entry(list, i, entry, sizeof(entry)) < 0)
			entry[0] = 0;   /* none configured: stage_target says so */
		if (i)
			alog("target: trying the next one, %s", entry);
		if (!strncmp(entry, "net:", 4)) {
			st = stage_net(src, entry + 4);
			if (st == CAP_OK || st == CAP_INCOMPLETE)
				return finish(done(src, st));
			continue;
		}
		snprintf(run.cfg.target, sizeof(run.cfg.target), "%s", entry);
		if (stage_target() < 0)
			continue;
		stage_prune();
		if (stage_dump_dir() < 0) {
			cap_agent_target_umount(&run.target);
			continue;
		}
		st = stage_capture(src);
		st = stage_commit(st);
		cap_agent_target_umount(&run.target);
		return finish(done(src, st));
	}
	print_dmesg_tail(src);
	return finish(CAP_ERR);
}
