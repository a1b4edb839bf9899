/* archive.h - the dump archive: an index of many dumps (SQLite), the crash
 * signatures that group them, and the dump-side helpers the indexer needs
 * that do not read a dump (content identity, agent and kdump-tools
 * directories, meta.json).  The analyzer's `salvage archive` command
 * (analyze/archive-add.c) reads each dump with the analyzer's model and hands
 * this library plain strings and numbers: the library knows nothing of the
 * vmcore formats, and the vmcore library knows nothing of SQL.
 *
 * Errors: functions return 0 on success or -1 with a one-line message in
 * the err buffer they were given ("the failing thing first, lowercase").
 * Ownership: strings in a struct arc_dump handed out by the library belong
 * to the library until the callback returns (copy what you keep). */
#ifndef SALVAGE_ARCHIVE_H
#define SALVAGE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- crash signatures (sig.c) ------------------------------------------- */
/* The library stores signatures and groups dumps by them; what a signature
 * says is the analyzer's (analyze/crashsig.c, the class and frames `salvage
 * triage` shows), handed in as a signer.  The version of those rules; a
 * signature carries it ("v2 ...") so that dumps signed by an older version
 * can be told apart and re-signed. */
#define ARC_SIG_VERSION 2

struct arc_sig {
	char text[512];         /* "v2 null-deref:f1/f2/f3" */
	char id[17];            /* 16 hex digits of a hash of text */
};
/* Sign a crash from what the index stores of it: the panic line, the log's
 * tail and the frames column (text, one a line; any may be NULL).  Writes
 * out->text; the library fills out->id. */
typedef void (*arc_sign_fn)(void *arg, const char *panic, const char *log, const char *frames,
			    struct arc_sig *out);
/* s->id from s->text. */
void arc_sig_set_id(struct arc_sig *s);

/* ---- dump-side helpers (ident.c) ------------------------------------------ */
/* The content identity of a dump file: the size and a 128-bit XXH3 over the
 * first and last MiB and 62 1-MiB samples in between (the whole file when it
 * is smaller than 64 MiB): "SIZE-HEX32".  The same bytes anywhere (another
 * path, a hard link, a copy in the store) give the same identity. */
int arc_ident(const char *path, char *out, size_t size, char *err, size_t errlen);

enum arc_kind {
	ARC_KIND_NONE = 0,      /* not a dump */
	ARC_KIND_FILE,          /* a dump file */
	ARC_KIND_AGENT,         /* our agent's DIR/<host>-<stamp>/ with meta.json */
	ARC_KIND_KDUMP_TOOLS,   /* /var/crash/<date>/dump.<date> (+ dmesg.<date>) */
	ARC_KIND_WRITING,       /* an agent directory still being written */
};
struct arc_found {
	enum arc_kind kind;
	char dump[4096];        /* the dump file */
	char dmesg[4096];       /* the log file written beside it, "" none */
	char meta[4096];        /* meta.json, "" none */
};
/* What path is; a directory's dump file is found inside it.  A directory
 * holding no dump gives ARC_KIND_NONE. */
int arc_classify(const char *path, struct arc_found *f, char *err, size_t errlen);
const char *arc_kind_name(enum arc_kind k);
/* 1 when a writer is at work in directory dir (our agent's temporary
 * names, makedumpfile's "-incomplete"), 0 when not, -1 on error. */
int arc_dir_writing(const char *dir, char *err, size_t errlen);

/* meta.json values (meta.c): a path of keys ("dump.file"); returns a
 * malloc'd string (numbers and booleans as written, null as NULL) or NULL
 * when absent or the text is not JSON. */
char *arc_json_get(const char *json, const char *path);
/* The whole file, NUL-terminated (at most max bytes), malloc'd; NULL on error. */
char *arc_read_file(const char *path, size_t max);

/* ---- the index (db.c) ----------------------------------------------------- */
/* One dump as indexed.  Text fields NULL when unknown; numbers -1 when
 * unknown (counts and sizes 0 allowed). */
struct arc_dump {
	int64_t id;
	const char *ident, *path, *dir, *source, *format, *release, *build_id, *xen_version,
		*host, *panic, *dmesg_tail, *backtrace, *panic_frames, *cmdline, *status;
	int64_t crash_time, capture_time, added_time;   /* seconds since the epoch */
	int64_t capture_seconds_ms;      /* the agent's capture time, ms (-1) */
	int64_t dump_bytes, mem_bytes, dump_level, taint;
	bool incomplete, stored;
	const char *sig, *sig_id;
	int sig_version;
	const char *labels;     /* "k=v\n..." (listing rows) */
	const char *tainted_modules;   /* "name(LETTERS) ..." of modules with taint, "" none */
};

struct arc_db;
/* Open (create) the index at path and bring its schema up to date. */
int arc_db_open(const char *path, struct arc_db **out, char *err, size_t errlen);
void arc_db_close(struct arc_db *db);
const char *arc_db_err(struct arc_db *db);
/* The schema version after opening. */
int arc_db_schema(struct arc_db *db);

/* Insert d (its id ignored) with its labels ("K=V" strings).  Returns 1
 * and *id when added, 0 and the existing *id when a dump with the same
 * ident is already there (nothing changed), -1 on error. */
int arc_db_add(struct arc_db *db, const struct arc_dump *d, const char *const *labels,
	       size_t nlabels, int64_t *id);
/* Is there a dump with this ident (or this path)?  1 yes (*id), 0 no. */
int arc_db_find(struct arc_db *db, const char *ident, const char *path, int64_t *id);

struct arc_filter {
	const char *host, *kernel, *sig, *label;   /* label: "K=V" or "K" */
	int64_t since, until;   /* -1: no bound; on the dump's time */
	int64_t limit;          /* 0: no limit */
};
typedef int (*arc_row_fn)(void *arg, const struct arc_dump *d);
/* Newest first (crash time, else capture, else when added). */
int arc_db_list(struct arc_db *db, const struct arc_filter *f, arc_row_fn fn, void *arg);
int arc_db_get(struct arc_db *db, int64_t id, arc_row_fn fn, void *arg);
/* Full-text search over panic strings and logs: text is one phrase. */
int arc_db_search(struct arc_db *db, const char *text, int64_t limit, arc_row_fn fn, void *arg);

struct arc_group {
	const char *sig_id, *sig, *hosts, *kernels;
	int64_t count, first, last, last_id;
};
typedef int (*arc_group_fn)(void *arg, const struct arc_group *g);
int arc_db_groups(struct arc_db *db, arc_group_fn fn, void *arg);
/* Per-day counts of one group (or of all when sig_id is NULL), oldest
 * first: fn(arg, day_start, count). */
int arc_db_days(struct arc_db *db, const char *sig_id,
		int (*fn)(void *arg, int64_t day, int64_t count), void *arg);

/* Remove the index entry (the files are the caller's business). */
int arc_db_rm(struct arc_db *db, int64_t id);
/* Re-sign every dump from its stored panic string, log tail and frames
 * with sign (each signature's version set to ARC_SIG_VERSION); *changed
 * counts the dumps whose signature changed. */
int arc_db_resign(struct arc_db *db, arc_sign_fn sign, void *arg, int64_t *total,
		  int64_t *changed);

#endif
