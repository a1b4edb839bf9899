/* archive-add.h - index one dump into the archive: the one path that
 * `salvage archive add`/`watch` and `salvage receive --archive` share. */
#ifndef SALVAGE_ARCHIVE_ADD_H
#define SALVAGE_ARCHIVE_ADD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arc_db;

struct az_archive_add_opts {
	const char *store;              /* hard-link (or move) the files into STORE/<identity>/ */
	bool move;
	const char *const *labels;      /* "K=V" */
	size_t nlabels;
};

enum az_archive_outcome {
	AZ_ARC_ADDED = 1,               /* a new row */
	AZ_ARC_SAME,                    /* the index had it (found when adding) */
	AZ_ARC_KNOWN,                   /* the index had it (found by identity first) */
	AZ_ARC_WRITING,                 /* a dump directory still being written: skipped */
	AZ_ARC_NONE,                    /* no dump there: skipped */
};

struct az_archive_added {
	enum az_archive_outcome outcome;
	int64_t id;                     /* the row (ADDED, SAME, KNOWN) */
	char path[PATH_MAX];            /* the dump file, absolute (ADDED, SAME) */
	char sig[512], sig_id[17], host[128];
};

/* Index PATH (a dump file or a dump directory) into DB.  Prints nothing.
 * 0 and *r filled, or -1 with the reason in err.  Reads the dump with the
 * analyzer's model: not for concurrent use (callers serialize). */
int az_archive_add(struct arc_db *db, const char *path, const struct az_archive_add_opts *ao,
		   struct az_archive_added *r, char *err, size_t errlen);

struct arc_sig;
/* The signature of a stored row (arc_sign_fn, archive.h): what `salvage
 * triage` shows, from the panic line, the log tail and the frames column. */
void az_archive_sign(void *arg, const char *panic, const char *log, const char *frames,
		     struct arc_sig *out);

#endif
