/* internal.h - shared by the archive's two index backends (db.c: SQLite,
 * pg.c: PostgreSQL); not part of the library's interface (archive.h). */
#ifndef SALVAGE_ARCHIVE_INTERNAL_H
#define SALVAGE_ARCHIVE_INTERNAL_H

#include "archive.h"

struct sqlite3;
struct pg_conn;

struct arc_db {
	struct sqlite3 *h;       /* one of the two is set */
	struct pg_conn *pg;
	int schema;
	char err[512];
};

/* The dumps table's columns that hold struct arc_dump's fields, in one order
 * for both backends: they bind them on INSERT and read them back from SELECT
 * in it (columns.c).  X(column, field, kind); kind TEXT (NULL stays NULL),
 * NUM (int64_t, negative is NULL), FLAG (bool), INT (int). */
#define ARC_DUMP_COLUMNS(X) \
	X(ident, ident, TEXT) X(path, path, TEXT) X(dir, dir, TEXT) X(stored, stored, FLAG) \
	X(source, source, TEXT) X(format, format, TEXT) X(release, release, TEXT) \
	X(build_id, build_id, TEXT) X(xen_version, xen_version, TEXT) X(host, host, TEXT) \
	X(crash_time, crash_time, NUM) X(capture_time, capture_time, NUM) \
	X(added_time, added_time, NUM) X(capture_ms, capture_seconds_ms, NUM) \
	X(dump_bytes, dump_bytes, NUM) X(mem_bytes, mem_bytes, NUM) \
	X(dump_level, dump_level, NUM) X(incomplete, incomplete, FLAG) X(taint, taint, NUM) \
	X(status, status, TEXT) X(panic, panic, TEXT) X(dmesg_tail, dmesg_tail, TEXT) \
	X(backtrace, backtrace, TEXT) X(panic_frames, panic_frames, TEXT) \
	X(cmdline, cmdline, TEXT) X(sig, sig, TEXT) X(sig_id, sig_id, TEXT) \
	X(sig_version, sig_version, INT) X(tainted_modules, tainted_modules, TEXT)

/* ", name" and ", d.name" for each column, as one string literal */
#define ARC_COL_NAME_(c, f, k) ", " #c
#define ARC_COL_D_(c, f, k) ", d." #c
#define ARC_COL_NAMES ARC_DUMP_COLUMNS(ARC_COL_NAME_)
/* What every listing selects: the id, the columns, then the labels as
 * "k=v\n..." (the backend's own aggregate, LABELS_AGG). */
#define ARC_SELECT_ROW(labels_agg) \
	"d.id" ARC_DUMP_COLUMNS(ARC_COL_D_) \
	", (SELECT " labels_agg " FROM labels WHERE dump_id = d.id)"

enum arc_col_kind { ARC_COL_TEXT, ARC_COL_NUM, ARC_COL_FLAG, ARC_COL_INT };
struct arc_col {
	enum arc_col_kind kind;
	size_t off;             /* of the field in struct arc_dump */
};
extern const struct arc_col arc_cols[];
extern const size_t arc_ncols;

/* Column i of d: its text (TEXT), or its number (the others). */
const char *arc_col_text(const struct arc_dump *d, size_t i);
int64_t arc_col_num(const struct arc_dump *d, size_t i);
/* A row read back: column c of the SELECT above (the id is column 0) as
 * text (NULL for SQL NULL), through the backend's accessor. */
typedef const char *(*arc_cell_text_fn)(void *src, int c);
typedef int64_t (*arc_cell_num_fn)(void *src, int c);   /* -1 for NULL */
void arc_row_read(struct arc_dump *d, void *src, arc_cell_text_fn text, arc_cell_num_fn num);

/* s with its sep-separated words sorted and joined by spaces, malloc'd
 * (NULL for NULL or out of memory). */
char *arc_words_sorted(const char *s, char sep);
/* The id a --signature filter means: s itself when it is 16 hex digits,
 * else the id of the signature text s. */
void arc_sig_id_of(const char *s, char out[17]);

/* pg.c: the same operations as arc_db_* (archive.h), on db->pg. */
bool arc_pg_uri(const char *spec);
int arc_pg_open(struct arc_db *db, const char *uri);
void arc_pg_close(struct arc_db *db);
int arc_pg_add(struct arc_db *db, const struct arc_dump *d, const char *const *labels,
	       size_t nlabels, int64_t *id);
int arc_pg_find(struct arc_db *db, const char *ident, const char *path, int64_t *id);
int arc_pg_list(struct arc_db *db, const struct arc_filter *f, arc_row_fn fn, void *arg);
int arc_pg_get(struct arc_db *db, int64_t id, arc_row_fn fn, void *arg);
int arc_pg_search(struct arc_db *db, const char *text, int64_t limit, arc_row_fn fn, void *arg);
int arc_pg_groups(struct arc_db *db, arc_group_fn fn, void *arg);
int arc_pg_days(struct arc_db *db, const char *sig_id,
		int (*fn)(void *arg, int64_t day, int64_t count), void *arg);
int arc_pg_rm(struct arc_db *db, int64_t id);
int arc_pg_resign(struct arc_db *db, arc_sign_fn sign, void *arg, int64_t *total,
		  int64_t *changed);

#endif
