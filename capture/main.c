/* main.c - salvage-capture's command line, compatible with makedumpfile's
 * common options so kdump-tools and kdumpctl can call it in its place. */
#include "internal.h"
#include "agent.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
"       salvage-capture [OPTIONS] VMCORE OUTPUT --target net:ADDR:PORT --key FILE\n"
"                       --receiver-key FILE   (capture, then send to salvage receive)\n"
"       salvage-capture --send DUMP --target net:ADDR:PORT --key FILE --receiver-key FILE\n"
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
"  --domains LIST      with -X (implied), keep these domUs' frames (ids, e.g. 3,7)\n"
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
"  --target net:ADDR:PORT  also send OUTPUT (and its kernel log) to a receiver\n"
"                      (salvage receive): authenticated, encrypted, resumed\n"
"                      after a cut connection\n"
"  --key FILE          this agent's private key (salvage keygen)\n"
"  --receiver-key FILE the receiver's public key (its .pub file)\n"
"  --send              send the existing dump DUMP (and DUMP.dmesg.txt, or\n"
"                      --dmesg FILE) instead of capturing\n"
"  --seal-to PUBFILE   seal OUTPUT and its kernel log to a public key (salvage\n"
"                      keygen's .pub): only its private key opens them\n"
"                      (salvage unseal); the dump is written flattened\n"
"  --net-retries N     connection attempts (default 10), --net-deadline SECS\n"
"                      the time for all of them (default 600)\n"
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
	OPT_CYCLE, OPT_NO_DEDUP, OPT_TARGET, OPT_KEY, OPT_RX_KEY, OPT_SEND, OPT_NET_RETRIES,
	OPT_NET_DEADLINE, OPT_SEAL_TO, OPT_DOMAINS,
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
	{ "domains", required_argument, NULL, OPT_DOMAINS },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "receiver-key", required_argument, NULL, OPT_RX_KEY },
	{ "send", no_argument, NULL, OPT_SEND },
	{ "net-retries", required_argument, NULL, OPT_NET_RETRIES },
	{ "net-deadline", required_argument, NULL, OPT_NET_DEADLINE },
	{ "seal-to", required_argument, NULL, OPT_SEAL_TO },
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

/* meta.json for a dump sent from the command line (the agent writes its own). */
static void net_meta(char *buf, size_t len, const char *status, const char *osrelease,
		     uint64_t dump_bytes, const char *sealed_fp)
{
	bool plain = osrelease && *osrelease;

	for (const char *p = osrelease; plain && *p; p++)
		plain = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
	snprintf(buf, len, "{\n  \"sender\": \"salvage-capture\",\n  \"status\": \"%s\",\n"
		 "  \"dump\": \"vmcore\",\n  \"dump_bytes\": %llu,\n  \"osrelease\": %s%s%s,\n"
		 "  \"sealed_to\": %s%s%s\n}\n",
		 status, (unsigned long long)dump_bytes, plain ? "\"" : "",
		 plain ? osrelease : "null", plain ? "\"" : "", *sealed_fp ? "\"" : "",
		 *sealed_fp ? sealed_fp : "null", *sealed_fp ? "\"" : "");
}

/* --target net:...: send DUMP, its kernel log and a meta.json. */
static int net_send_dump(struct cap_net_send *ns, const char *dump, const char *dmesg,
			 const char *status, const char *osrelease, const char *sealed_fp)
{
	char meta[1024], err[512];
	struct stat st;

	if (stat(dump, &st) < 0) {
		fprintf(stderr, "salvage-capture: %s: %s\n", dump, strerror(errno));
		return CAP_ERR;
	}
	net_meta(meta, sizeof(meta), status, osrelease, (uint64_t)st.st_size, sealed_fp);
	ns->src[0].mem = meta;
	ns->src[0].len = strlen(meta);
	ns->src[1].path = dmesg && access(dmesg, R_OK) == 0 ? dmesg : NULL;
	ns->src[2].path = dump;
	ns->crash_time = (uint64_t)time(NULL);
	if (cap_net_send(ns, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage-capture: net: %s\n", err);
		return CAP_ERR;
	}
	return CAP_OK;
}

int main(int argc, char **argv)
{
	struct cap_net_send ns = { 0 };
	bool send_only = false;
	const char *seal_to = NULL;
	char sealed_fp[17] = "";
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
		case OPT_DOMAINS:
			if (cap_parse_domains(optarg, &o) < 0)
				return bad("--domains list (domain ids 1-32751, comma-separated, at most 16)", optarg);
			xen_domu = true;   /* -X, keeping these */
			break;
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
		case OPT_TARGET:
			if (strncmp(optarg, "net:", 4))
				return bad("--target (net:ADDR:PORT)", optarg);
			ns.target = optarg + 4;
			break;
		case OPT_KEY: ns.key = optarg; break;
		case OPT_RX_KEY: ns.receiver_key = optarg; break;
		case OPT_SEND: send_only = true; break;
		case OPT_SEAL_TO: seal_to = optarg; break;
		case OPT_NET_RETRIES:
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 1000)
				return bad("--net-retries (1-1000)", optarg);
			ns.attempts = (int)v;
			break;
		case OPT_NET_DEADLINE:
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 86400)
				return bad("--net-deadline (seconds)", optarg);
			ns.deadline = (double)v;
			break;
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
	if ((ns.target || send_only) && (!ns.target || !ns.key || !ns.receiver_key ||
					 o.flattened || o.dmesg_only)) {
		fprintf(stderr, "salvage-capture: --target net:ADDR:PORT needs --key and "
			"--receiver-key, a file OUTPUT (not -F or --dump-dmesg); --send needs --target\n");
		return CAP_USAGE;
	}
	if (send_only) {
		char dm[4096];
		if (rest != 1) {
			usage(stderr);
			return CAP_USAGE;
		}
		snprintf(dm, sizeof(dm), "%s.dmesg.txt", argv[optind]);
		return net_send_dump(&ns, argv[optind], o.dmesg_path ? o.dmesg_path : dm,
				     "sent", NULL, "");
	}
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
	struct cap_sealer sealer;
	if (seal_to) {
		char err[512];
		if (cap_seal_start(&sealer, &o, seal_to, sealed_fp, err, sizeof(err)) < 0) {
			fprintf(stderr, "salvage-capture: --seal-to: %s\n", err);
			return CAP_ERR;
		}
	}
	cap_run(&o, &r);
	if (seal_to) {
		char err[512];
		if (cap_seal_finish(&sealer, &o, &r, err, sizeof(err)) < 0) {
			fprintf(stderr, "salvage-capture: --seal-to: %s\n", err);
			if (r.status == CAP_OK)
				r.status = CAP_ERR;
		}
	}
	report(&o, &r, ml);
	int status = r.status;
	if (ns.target && (status == CAP_OK || status == CAP_INCOMPLETE) && !r.no_output) {
		int s = net_send_dump(&ns, o.output, r.dmesg_saved ? r.dmesg_file : NULL,
				      status == CAP_OK ? "complete" : "incomplete", r.osrelease,
				      sealed_fp);
		if (s != CAP_OK)
			status = s;
	}
	cap_result_free(&r);
	return status;
}
