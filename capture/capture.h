/* capture.h - the dump writer at the heart of salvage-capture.
 *
 * cap_run() turns a vmcore (normally /proc/vmcore) into a filtered, compressed
 * dump.  It is used by the command line (capture/main.c) and by the crash
 * kernel agent (capture/agent.c).  Helpers return negative errno or a cap
 * status and never print; only cap_run's caller reports, through cap_log().
 */
#ifndef SALVAGE_CAPTURE_H
#define SALVAGE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cap_format {
	CAP_FMT_KDUMP,      /* kdump-compressed, header version 6 (default) */
	CAP_FMT_ELF,        /* ELF64 core (-E) */
};

/* Exit statuses of salvage-capture, and cap_run's return values. */
enum cap_status {
	CAP_OK = 0,
	CAP_ERR = 1,          /* nothing useful written (bad input, cannot open output) */
	CAP_USAGE = 2,
	CAP_INCOMPLETE = 3,   /* out of space or a write error: the output is kept,
			       * marked incomplete, readable up to the failure */
	CAP_DMESG_ONLY = 4,   /* the dump failed but the kernel log was saved */
};

/* With dump_level: Xen dumps drop domU pages (makedumpfile's -X). */
#define CAP_DL_XEN_DOMU 0x100

struct cap_options {
	const char *input;          /* vmcore path, e.g. /proc/vmcore */
	const char *output;         /* dump path; "-" with flattened = stdout */
	enum cap_format format;
	bool flattened;             /* -F: makedumpfile's flattened stream */
	int dump_level;             /* 0-31, makedumpfile's bits, plus
				     * CAP_DL_XEN_DOMU */
	unsigned codec;             /* VMC_COMP_* bit, 0 = none */
	int codec_level;            /* zstd level (negative = fast); 0 = default */
	int threads;                /* compression threads, >= 1 */
	size_t mem_budget;          /* bytes of working memory; 0 = default 64 MiB */
	uint64_t cycle_pages;       /* frames per filtering cycle (multiple of 64);
				     * 0 = derived from mem_budget */
	const char *dmesg_path;     /* where to save the kernel log first; NULL:
				     * OUTPUT.dmesg.txt ("-" output: no file) */
	bool dmesg_only;            /* --dump-dmesg: write only the log, to output */
	int message_level;          /* makedumpfile's --message-level bits; 0 quiet */
	int progress;               /* 0 off, 1 auto (tty: live line; else every
				     * progress_interval seconds), 2 forced line mode */
	double progress_interval;   /* seconds between lines off a terminal; 0 = 5 */
	uint64_t fail_after_bytes;  /* test hook: fail writes with ENOSPC after
				     * this many bytes (0 = off) */
	bool fail_flush;            /* test hook: the first background flush of
				     * the output fails with EIO */
	bool no_dedup;              /* store every page, even identical ones */
	bool overwrite;             /* -f: replace existing outputs (the dump and
				     * the kernel log); never through a symlink */
	/* Xen dumps: domain ids whose frames -X keeps (--domains 3,7), at most
	 * CAP_XEN_DOMAINS_MAX; implies CAP_DL_XEN_DOMU */
	unsigned xen_keep[16];
	size_t nxen_keep;
};
#define CAP_XEN_DOMAINS_MAX 16
/* Parse a --domains list ("3,7", decimal ids 1-32751, at most
 * CAP_XEN_DOMAINS_MAX) into o; -1 on a malformed list. */
int cap_parse_domains(const char *s, struct cap_options *o);

struct cap_result {
	enum cap_status status;
	bool incomplete;
	bool dmesg_saved;
	char dmesg_file[512];
	uint64_t pages_ram;         /* frames in the source's memory map */
	uint64_t pages_dumpable;    /* frames kept by the dump level */
	uint64_t pages_written;     /* frames whose data reached the output */
	uint64_t pages_zero;        /* kept frames stored as the shared zero page */
	uint64_t pages_dedup;       /* kept frames sharing an identical page's data */
	uint64_t pages_excluded[8]; /* by enum vmc_pclass */
	uint64_t pages_unreadable;  /* source frames that could not be read */
	uint64_t bytes_in;          /* page bytes read from the source */
	uint64_t bytes_out;         /* bytes of the output file */
	double seconds;             /* wall time of the whole run */
	double seconds_dmesg;
	char error[512];            /* one-line reason when status != CAP_OK */
	bool no_output;             /* the output file was removed: it held no dump */
	const char *warnings[32];   /* quirks of the source (owned by the result) */
	size_t nwarnings;
	char osrelease[65];
	char notes[512];            /* what filtering could or could not do */
	char dmesg_error[320];      /* why the kernel log was not saved, e.g.
				     * "dmesg: no printk ring buffer symbols ...";
				     * empty when it was (no file is left then) */
};

void cap_options_init(struct cap_options *o);
/* Run a capture.  Always fills *r (r->error on failure); returns r->status. */
enum cap_status cap_run(const struct cap_options *o, struct cap_result *r);
void cap_result_free(struct cap_result *r);

/* Logging for the top-level stages only (the agent and main). */
void cap_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
