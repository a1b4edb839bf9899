/* main.c - salvage-capture's command line, compatible with makedumpfile's
 * common options so kdump-tools and kdumpctl can call it in its place. */
#include "internal.h"
#include "agent.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* makedumpfile's --message-level bits */
#define ML_PROGRESS 0x01
#define ML_COMMON 0x02
#define ML_ERROR 0x04
#define ML_REPORT 0x10

static void usage(FILE *f)
{
	fprintf(f,
"usage: salvage-capture [OPTIONS] VMCORE OUTPUT\n"
"       salvage-capture -F [OPTIONS] VMCORE > OUTPUT\n"
"       salvage-capture --dump-dmesg VMCORE LOGFILE\n"
"       salvage-capture --init [--config FILE] [--set KEY=VALUE]...\n"
"                       (the crash kernel's agent; also when run as PID 1:\n"
"                       salvage-capture --init --help lists its settings)\n"
"\n"
"Write a filtered, compressed dump of VMCORE (normally /proc/vmcore).\n"
"makedumpfile's common options, with the same meaning:\n"
"  -d LEVEL            exclude pages: 1 zero, 2 cache without private, 4 all\n"
"                      cache, 8 user data, 16 free (sum them; default 31)\n"
"  -c | -l | -p | -z   zlib | lzo | snappy | zstd compression (default zstd)\n"
"  -E                  ELF output instead of kdump-compressed\n"
"  -F                  makedumpfile's flattened stream, to stdout\n"
"  --message-level N   1 progress, 2 common messages, 4 errors, 16 report (default 7)\n"
"  --dump-dmesg        write only the kernel log, to OUTPUT\n"
"  -f                  overwrite OUTPUT if it exists\n"
"  --num-threads N     same as --threads\n"
"  -x FILE, -i FILE    accepted and ignored: salvage needs only VMCOREINFO\n"
"  -X                  Xen dumps: exclude domU pages (and free Xen heap pages);\n"
"                      the level applies to dom0's pages, found without symbols\n"
"Own options:\n"
"  --compress=CODEC[:LEVEL]  zstd (default level 1; negative = faster), zlib,\n"
"                      lzo, snappy, none\n"
"  --threads N         compress with N threads (output identical for any N)\n"
"  --mem-budget SIZE   working memory (default 64M; bitmaps go cyclic beyond)\n"
"  --dmesg FILE        where to save the kernel log first\n"
"                      (default OUTPUT.dmesg.txt)\n"
"  --progress=MODE     auto (default: live on a terminal, else a line every\n"
"                      --progress-interval seconds, default 5), line, off\n"
"  --no-dedup          store identical pages separately (by default a repeated\n"
"                      page points at the first copy, verified byte by byte)\n"
"  --cycle-pages N     frames per filtering cycle (default: from --mem-budget)\n"
"  --fail-after SIZE   testing: fail writes with ENOSPC after SIZE bytes\n"
"  --fail-flush        testing: the first background flush of OUTPUT fails (EIO)\n"
"Exit status: 0 done; 1 failed; 2 usage; 3 output incomplete (out of space or a\n"
"write error: what was written is kept, marked incomplete, readable); 4 the dump\n"
"failed but the kernel log was saved.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	uint64_t mul = 1;
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	default: break;
	}
	if (*end || (mul > 1 && v > UINT64_MAX / mul))
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_codec(const char *s, struct cap_options *o)
{
	char name[16];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	if (n >= sizeof(name))
		return -1;
	memcpy(name, s, n);
	name[n] = 0;
	o->codec_level = 0;
	if (colon) {
		char *end;
		long lv = strtol(colon + 1, &end, 10);
		if (*end || !colon[1] || lv < -131072 || lv > 22)
			return -1;
		o->codec_level = (int)lv;
	}
	if (!strcmp(name, "zstd"))
		o->codec = VMC_COMP_ZSTD;
	else if (!strcmp(name, "zlib"))
		o->codec = VMC_COMP_ZLIB;
	else if (!strcmp(name, "lzo") && !colon)
		o->codec = VMC_COMP_LZO;
	else if (!strcmp(name, "snappy") && !colon)
		o->codec = VMC_COMP_SNAPPY;
	else if (!strcmp(name, "none") && !colon)
		o->codec = 0;
	else
		return -1;
	if (o->codec == VMC_COMP_ZLIB && (o->codec_level < 0 || o->codec_level > 9))
		return -1;
	return 0;
}

enum {
	OPT_MSG = 256, OPT_DMESG_ONLY, OPT_COMPRESS, OPT_THREADS, OPT_BUDGET, OPT_DMESG,
	OPT_PROGRESS, OPT_PROGRESS_INTERVAL, OPT_FAIL_AFTER, OPT_FAIL_FLUSH, OPT_HELP, OPT_VERSION,
	OPT_CYCLE, OPT_NO_DEDUP,
};

static const struct option longopts[] = {
	{ "message-level", required_argument, NULL, OPT_MSG },
	{ "dump-dmesg", no_argument, NULL, OPT_DMESG_ONLY },
	{ "compress", required_argument, NULL, OPT_COMPRESS },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "num-threads", required_argument, NULL, OPT_THREADS },
	{ "mem-budget", required_argument, NULL, OPT_BUDGET },
	{ "dmesg", required_argument, NULL, OPT_DMESG },
	{ "progress", required_argument, NULL, OPT_PROGRESS },
	{ "progress-interval", required_argument, NULL, OPT_PROGRESS_INTERVAL },
	{ "fail-after", required_argument, NULL, OPT_FAIL_AFTER },
	{ "fail-flush", no_argument, NULL, OPT_FAIL_FLUSH },
	{ "cycle-pages", required_argument, NULL, OPT_CYCLE },
	{ "no-dedup", no_argument, NULL, OPT_NO_DEDUP },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "salvage-capture: invalid %s '%s'\n", what, arg);
	return CAP_USAGE;
}

static void report(const struct cap_options *o, const struct cap_result *r, int ml)
{
	if ((ml & ML_ERROR) && r->error[0])
		cap_log("%s", r->error);
	if ((ml & ML_COMMON) && r->notes[0])
		cap_log("%s", r->notes);
	if ((ml & ML_COMMON) && r->dmesg_saved && !o->dmesg_only)
		cap_log("kernel log saved to %s", r->dmesg_file);
	if ((ml & ML_COMMON) && (r->status == CAP_OK || r->status == CAP_INCOMPLETE) &&
	    !o->dmesg_only)
		cap_log("%s%s: %llu of %llu pages written (%llu zero, %llu duplicate, %llu unreadable), "
			"%.1f MiB in %.2f s",
			r->incomplete ? "INCOMPLETE " : "", o->output,
			(unsigned long long)r->pages_written,
			(unsigned long long)r->pages_ram, (unsigned long long)r->pages_zero,
			(unsigned long long)r->pages_dedup,
			(unsigned long long)r->pages_unreadable,
			(double)r->bytes_out / (1 << 20), r->seconds);
	if (ml & ML_REPORT) {
		static const char *const cls[] = { "kept", "cache", "cache private", "user",
						   "free", "hwpoison", "offline", "no struct page" };
		for (int i = 1; i < 8; i++)
			if (r->pages_excluded[i])
				cap_log("excluded %s pages: %llu", cls[i],
					(unsigned long long)r->pages_excluded[i]);
		for (size_t i = 0; i < r->nwarnings; i++)
			cap_log("source: %s", r->warnings[i]);
	}
}

int main(int argc, char **argv)
{
	struct cap_options o;
	struct cap_result r;
	bool force = false, level_set = false, xen_domu = false;
	int ml = ML_PROGRESS | ML_COMMON | ML_ERROR;
	int opt, progress_mode = 1;
	uint64_t v;

	/* as the crash kernel's init, or asked to behave like it */
	if (getpid() == 1)
		return cap_agent_main(argc, argv);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--init"))
			return cap_agent_main(argc, argv);
	cap_options_init(&o);
	while ((opt = getopt_long(argc, argv, "d:clpzEFfx:i:hvX", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': {
			char *end;
			long lv = strtol(optarg, &end, 10);
			if (*end || lv < 0 || lv > 31)
				return bad("dump level (0-31)", optarg);
			o.dump_level = (int)lv;
			level_set = true;
			break;
		}
		case 'c': o.codec = VMC_COMP_ZLIB; o.codec_level = 0; break;
		case 'l': o.codec = VMC_COMP_LZO; break;
		case 'p': o.codec = VMC_COMP_SNAPPY; break;
		case 'z': o.codec = VMC_COMP_ZSTD; o.codec_level = 0; break;
		case 'E': o.format = CAP_FMT_ELF; break;
		case 'F': o.flattened = true; break;
		case 'f': force = true; break;
		case 'X': xen_domu = true; break;
		case 'x': case 'i':
			fprintf(stderr, "salvage-capture: -%c %s ignored: VMCOREINFO in the dump is enough\n",
				opt, optarg);
			break;
		case OPT_MSG:
			if (parse_size(optarg, &v) < 0 || v > 31)
				return bad("message level", optarg);
			ml = (int)v;
			break;
		case OPT_DMESG_ONLY: o.dmesg_only = true; break;
		case OPT_COMPRESS:
			if (parse_codec(optarg, &o) < 0)
				return bad("--compress value", optarg);
			break;
		case OPT_THREADS:
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 256)
				return bad("thread count (1-256)", optarg);
			o.threads = (int)v;
			break;
		case OPT_BUDGET:
			if (parse_size(optarg, &v) < 0 || v < (4u << 20))
				return bad("memory budget (at least 4M)", optarg);
			o.mem_budget = (size_t)v;
			break;
		case OPT_DMESG: o.dmesg_path = optarg; break;
		case OPT_PROGRESS:
			if (!strcmp(optarg, "auto")) progress_mode = 1;
			else if (!strcmp(optarg, "line")) progress_mode = 2;
			else if (!strcmp(optarg, "off")) progress_mode = 0;
			else return bad("--progress mode", optarg);
			break;
		case OPT_PROGRESS_INTERVAL: {
			char *end;
			double s = strtod(optarg, &end);
			if (*end || s <= 0 || s > 3600)
				return bad("progress interval", optarg);
			o.progress_interval = s;
			break;
		}
		case OPT_NO_DEDUP: o.no_dedup = true; break;
		case OPT_CYCLE:
			if (parse_size(optarg, &v) < 0 || v < 64 || v % 64)
				return bad("--cycle-pages (a multiple of 64)", optarg);
			o.cycle_pages = v;
			break;
		case OPT_FAIL_AFTER:
			if (parse_size(optarg, &v) < 0 || !v)
				return bad("--fail-after size", optarg);
			o.fail_after_bytes = v;
			break;
		case OPT_FAIL_FLUSH: o.fail_flush = true; break;
		case 'h': case OPT_HELP: usage(stdout); return CAP_OK;
		case 'v': case OPT_VERSION: puts("salvage-capture 0.1"); return CAP_OK;
		default: usage(stderr); return CAP_USAGE;
		}
	}
	(void)level_set;
	if (xen_domu)
		o.dump_level |= CAP_DL_XEN_DOMU;
	o.message_level = ml;
	o.progress = (ml & ML_PROGRESS) ? progress_mode : 0;
	int rest = argc - optind;
	if (rest == 2) {
		o.input = argv[optind];
		o.output = argv[optind + 1];
	} else if (rest == 1 && o.flattened) {
		o.input = argv[optind];
		o.output = "-";
	} else {
		usage(stderr);
		return CAP_USAGE;
	}
	if (o.flattened && strcmp(o.output, "-") == 0 && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "salvage-capture: -F writes a binary stream to stdout; redirect it\n");
		return CAP_USAGE;
	}
	/* lstat: a dangling symlink exists too (writing through it would
	 * create its target); the kernel log's file obeys -f as well */
	struct stat st;
	char dpath[600] = "";
	if (o.dmesg_path)
		snprintf(dpath, sizeof(dpath), "%s", o.dmesg_path);
	else if (!o.dmesg_only && strcmp(o.output, "-") != 0)
		snprintf(dpath, sizeof(dpath), "%s.dmesg.txt", o.output);
	if (strcmp(o.output, "-") != 0 && !force && lstat(o.output, &st) == 0) {
		fprintf(stderr, "salvage-capture: %s exists (use -f to overwrite)\n", o.output);
		return CAP_USAGE;
	}
	if (dpath[0] && strcmp(dpath, "-") != 0 && !force && lstat(dpath, &st) == 0 &&
	    (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode))) {
		fprintf(stderr, "salvage-capture: %s exists (use -f to overwrite)\n", dpath);
		return CAP_USAGE;
	}
	o.overwrite = force;
	cap_run(&o, &r);
	report(&o, &r, ml);
	cap_result_free(&r);
	return r.status;
}
