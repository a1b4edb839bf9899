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
