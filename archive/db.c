/* db.c - the archive's index in SQLite: the schema and its migrations, adding
 * (safe from several processes at once: WAL, a busy timeout, one IMMEDIATE
 * transaction per dump, the content identity UNIQUE), listings, full-text
 * search (FTS5 over panic strings and log tails), groups by signature. */
#include "internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One summary row a signature, computed from its dumps through the covering
 * index (sig_id, t, host, release); the text and newest dump by one look-up. */
#define GROUPS_SELECT(where) \
	"SELECT g.sig_id," \
	" (SELECT sig FROM dumps x WHERE x.sig_id = g.sig_id ORDER BY t DESC, id DESC LIMIT 1)," \
	" g.n, g.first, g.last," \
	" (SELECT id FROM dumps x WHERE x.sig_id = g.sig_id ORDER BY t DESC, id DESC LIMIT 1)," \
	" g.hosts, g.kernels" \
	" FROM (SELECT sig_id, count(*) AS n, min(t) AS first, max(t) AS last," \
	"   group_concat(DISTINCT host) AS hosts, group_concat(DISTINCT release) AS kernels" \
	"   FROM dumps WHERE " where " GROUP BY sig_id) g"

/* Each entry takes the schema from version i to i+1; user_version records
 * where a database is.  Never edit a released entry: add one. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE dumps ("
	" id INTEGER PRIMARY KEY, ident TEXT NOT NULL UNIQUE, path TEXT NOT NULL, dir TEXT,"
	" stored INTEGER NOT NULL DEFAULT 0, source TEXT, format TEXT, release TEXT,"
	" build_id TEXT, xen_version TEXT, host TEXT, crash_time INTEGER, capture_time INTEGER,"
	" added_time INTEGER NOT NULL, capture_ms INTEGER, dump_bytes INTEGER, mem_bytes INTEGER,"
	" dump_level INTEGER, incomplete INTEGER NOT NULL DEFAULT 0, taint INTEGER, status TEXT,"
	" panic TEXT, dmesg_tail TEXT, backtrace TEXT, panic_frames TEXT, cmdline TEXT,"
	" sig TEXT NOT NULL, sig_id TEXT NOT NULL, sig_version INTEGER NOT NULL,"
	/* the time a listing sorts and filters on: the crash, else the capture,
	 * else when it was added */
	" t INTEGER NOT NULL);"
	"CREATE INDEX dumps_t ON dumps(t, id);"
	"CREATE INDEX dumps_sig ON dumps(sig_id, t);"
	"CREATE INDEX dumps_host ON dumps(host, t);"
	"CREATE INDEX dumps_release ON dumps(release, t);"
	"CREATE INDEX dumps_path ON dumps(path);"
	"CREATE TABLE labels (dump_id INTEGER NOT NULL REFERENCES dumps(id) ON DELETE CASCADE,"
	" key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (dump_id, key));"
	"CREATE INDEX labels_kv ON labels(key, value);"
	"CREATE VIRTUAL TABLE dumps_fts USING fts5(panic, dmesg);",
	/* 1 -> 2: groups read one covering index instead of every row */
	"CREATE INDEX dumps_sig_cover ON dumps(sig_id, t, host, release);"
	"DROP INDEX dumps_sig;",
	/* 2 -> 3: the groups kept up to date as dumps come and go (one row a
	 * signature, rewritten in the transaction that changes its dumps), so
	 * that `groups` reads a few rows whatever the archive's size */
	"CREATE TABLE sig_groups (sig_id TEXT PRIMARY KEY, sig TEXT NOT NULL, n INTEGER NOT NULL,"
	" first INTEGER NOT NULL, last INTEGER NOT NULL, last_id INTEGER NOT NULL, hosts TEXT,"
	" kernels TEXT);"
	"INSERT INTO sig_groups " GROUPS_SELECT("1") ";",
	/* 3 -> 4: the modules that tainted the kernel, "name(LETTERS) ..." */
	"ALTER TABLE dumps ADD COLUMN tainted_modules TEXT;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int fail(struct arc_db *db, const char *what)
{
	snprintf(db->err, sizeof(db->err), "%s: %s", what, sqlite3_errmsg(db->h));
	return -1;
}

static int exec(struct arc_db *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(db->err, sizeof(db->err), "%s", msg ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int user_version(struct arc_db *db, int *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return fail(db, "schema version");
	*v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

static int migrate(struct arc_db *db)
{
	int v;
	char sql[64];

	if (user_version(db, &v) < 0)
		return -1;
	if (v == SCHEMA_VERSION)
		goto done;
	/* one writer migrates; the others wait on the lock, then see the
	 * new version */
	if (exec(db, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (user_version(db, &v) < 0)
		goto rollback;
	if (v > SCHEMA_VERSION) {
		snprintf(db->err, sizeof(db->err),
			 "schema version %d is newer than this salvage knows (%d)", v, SCHEMA_VERSION);
		goto rollback;
	}
	for (; v < SCHEMA_VERSION; v++)
		if (exec(db, migrations[v]) < 0)
			goto rollback;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (exec(db, sql) < 0 || exec(db, "COMMIT") < 0)
		goto rollback;
done:
	db->schema = SCHEMA_VERSION;
	return 0;
rollback:
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int arc_db_open(const char *path, struct arc_db **out, char *err, size_t errlen)
{
	struct arc_db *db = calloc(1, sizeof(*db));

	if (!db) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (arc_pg_uri(path)) {
		if (arc_pg_open(db, path) < 0) {
			snprintf(err, errlen, "%s", db->err);
			arc_db_close(db);
			return -1;
		}
		*out = db;
		return 0;
	}
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
		sqlite3_close(db->h);
		free(db);
		return -1;
	}
	sqlite3_busy_timeout(db->h, 30000);
	if (exec(db, "PRAGMA journal_mode = WAL") < 0 || exec(db, "PRAGMA foreign_keys = ON") < 0 ||
	    exec(db, "PRAGMA synchronous = NORMAL") < 0 || migrate(db) < 0) {
		snprintf(err, errlen, "%s: %s", path, db->err);
		arc_db_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

void arc_db_close(struct arc_db *db)
{
	if (!db)
		return;
	if (db->pg)
		arc_pg_close(db);
	sqlite3_close(db->h);
	free(db);
}

const char *arc_db_err(struct arc_db *db)
{
	return db->err;
}

int arc_db_schema(struct arc_db *db)
{
	return db->schema;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_num(sqlite3_stmt *st, int i, int64_t v)
{
	if (v >= 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* rewrite the summary of one signature (inside the caller's transaction) */
static int refresh_group(struct arc_db *db, const char *sig_id)
{
	static const char *const sql[] = {
		"DELETE FROM sig_groups WHERE sig_id = ?1",
		"INSERT INTO sig_groups " GROUPS_SELECT("sig_id = ?1"),
	};
	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db->h, sql[i], -1, &st, NULL) != SQLITE_OK)
			return fail(db, "groups summary");
		sqlite3_bind_text(st, 1, sig_id, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return fail(db, "groups summary");
	}
	return 0;
}

int arc_db_find(struct arc_db *db, const char *ident, const char *path, int64_t *id)
{
	if (db->pg)
		return arc_pg_find(db, ident, path, id);
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db->h, "SELECT id FROM dumps WHERE ident = ?1 OR path = ?2 LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(db, "find");
	bind_text(st, 1, ident);
	bind_text(st, 2, path);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(db, "find");
	return rc == SQLITE_ROW;
}

int arc_db_add(struct arc_db *db, const struct arc_dump *d, const char *const *labels,
	       size_t nlabels, int64_t *id)
{
	if (db->pg)
		return arc_pg_add(db, d, labels, nlabels, id);
#define ARC_Q_(c, f, k) ", ?"
	static const char sql[] =
		"INSERT OR IGNORE INTO dumps (t" ARC_COL_NAMES ") VALUES (?" ARC_DUMP_COLUMNS(ARC_Q_) ")";
#undef ARC_Q_
	sqlite3_stmt *st = NULL;
	int64_t added = d->added_time >= 0 ? d->added_time : (int64_t)time(NULL);
	int64_t t = d->crash_time >= 0 ? d->crash_time : d->capture_time >= 0 ? d->capture_time : added;
	int rc;

	if (exec(db, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
		fail(db, "add");
		goto rollback;
	}
	struct arc_dump row = *d;
	row.added_time = added;
	sqlite3_bind_int64(st, 1, t);
	for (size_t i = 0; i < arc_ncols; i++) {
		int c = (int)i + 2;
		if (arc_cols[i].kind == ARC_COL_TEXT)
			bind_text(st, c, arc_col_text(&row, i));
		else if (arc_cols[i].kind == ARC_COL_NUM)
			bind_num(st, c, arc_col_num(&row, i));
		else
			sqlite3_bind_int64(st, c, arc_col_num(&row, i));
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		fail(db, "add");
		goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_changes(db->h) == 0) {
		/* already there: the identity decides, nothing changes */
		rc = arc_db_find(db, d->ident, NULL, id);
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		return rc < 0 ? -1 : 0;
	}
	*id = sqlite3_last_insert_rowid(db->h);
	if (sqlite3_prepare_v2(db->h, "INSERT INTO dumps_fts (rowid, panic, dmesg) VALUES (?1, ?2, ?3)",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(db, "add (search index)");
		goto rollback;
	}
	sqlite3_bind_int64(st, 1, *id);
	bind_text(st, 2, d->panic);
	bind_text(st, 3, d->dmesg_tail);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fail(db, "add (search index)");
		goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db->h, "INSERT OR REPLACE INTO labels (dump_id, key, value) VALUES (?1, ?2, ?3)",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(db, "add (labels)");
		goto rollback;
	}
	for (size_t i = 0; i < nlabels; i++) {
		const char *eq = strchr(labels[i], '=');
		if (!eq)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_text(st, 2, labels[i], (int)(eq - labels[i]), SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, eq + 1, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE) {
			fail(db, "add (labels)");
			goto rollback;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (refresh_group(db, d->sig_id) < 0 || exec(db, "COMMIT") < 0)
		goto rollback;
	return 1;
rollback:
	sqlite3_finalize(st);
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* ---- reading ------------------------------------------------------------------ */

#define COLS ARC_SELECT_ROW("group_concat(key || '=' || value, char(10))")

static const char *col_text(void *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int64_t col_num(void *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static int rows(struct arc_db *db, sqlite3_stmt *st, arc_row_fn fn, void *arg)
{
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct arc_dump d;
		arc_row_read(&d, st, col_text, col_num);
		if ((ret = fn(arg, &d)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(db, "query");
	sqlite3_finalize(st);
	return ret;
}

int arc_db_list(struct arc_db *db, const struct arc_filter *f, arc_row_fn fn, void *arg)
{
	if (db->pg)
		return arc_pg_list(db, f, fn, arg);
	char sql[2048];
	sqlite3_stmt *st;
	const char *eq = f->label ? strchr(f->label, '=') : NULL;

	snprintf(sql, sizeof(sql),
		 "SELECT " COLS " FROM dumps d WHERE 1"
		 "%s%s%s%s%s%s ORDER BY d.t DESC, d.id DESC%s",
		 f->host ? " AND d.host = ?1" : "", f->kernel ? " AND d.release = ?2" : "",
		 f->sig ? " AND d.sig_id = ?3" : "",
		 f->label ? (eq ? " AND EXISTS (SELECT 1 FROM labels l WHERE l.dump_id = d.id AND"
				  " l.key = ?4 AND l.value = ?5)"
				: " AND EXISTS (SELECT 1 FROM labels l WHERE l.dump_id = d.id AND"
				  " l.key = ?4)") : "",
		 f->since >= 0 ? " AND d.t >= ?6" : "", f->until >= 0 ? " AND d.t < ?7" : "",
		 f->limit > 0 ? " LIMIT ?8" : "");
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(db, "list");
	bind_text(st, 1, f->host);
	bind_text(st, 2, f->kernel);
	char sig_id[17];
	if (f->sig) {
		arc_sig_id_of(f->sig, sig_id);
		bind_text(st, 3, sig_id);
	}
	if (f->label) {
		size_t kl = eq ? (size_t)(eq - f->label) : strlen(f->label);
		sqlite3_bind_text(st, 4, f->label, (int)kl, SQLITE_TRANSIENT);
		if (eq)
			sqlite3_bind_text(st, 5, eq + 1, -1, SQLITE_TRANSIENT);
	}
	bind_num(st, 6, f->since);
	bind_num(st, 7, f->until);
	if (f->limit > 0)
		sqlite3_bind_int64(st, 8, f->limit);
	return rows(db, st, fn, arg);
}

int arc_db_get(struct arc_db *db, int64_t id, arc_row_fn fn, void *arg)
{
	if (db->pg)
		return arc_pg_get(db, id, fn, arg);
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db->h, "SELECT " COLS " FROM dumps d WHERE d.id = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return fail(db, "show");
	sqlite3_bind_int64(st, 1, id);
	return rows(db, st, fn, arg);
}

int arc_db_search(struct arc_db *db, const char *text, int64_t limit, arc_row_fn fn, void *arg)
{
	if (db->pg)
		return arc_pg_search(db, text, limit, fn, arg);
	sqlite3_stmt *st;
	size_t n = strlen(text);
	char *q = malloc(2 * n + 3), *o = q;

	if (!q) {
		snprintf(db->err, sizeof(db->err), "out of memory");
		return -1;
	}
	/* one FTS5 phrase: the text's own quotes doubled, nothing of it read
	 * as query syntax */
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '"')
			*o++ = '"';
		*o++ = text[i];
	}
	*o++ = '"';
	*o = 0;
	if (sqlite3_prepare_v2(db->h,
			       "SELECT " COLS " FROM dumps_fts f JOIN dumps d ON d.id = f.rowid"
			       " WHERE dumps_fts MATCH ?1 ORDER BY d.t DESC, d.id DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK) {
		free(q);
		return fail(db, "search");
	}
	sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
	free(q);
	return rows(db, st, fn, arg);
}

int arc_db_groups(struct arc_db *db, arc_group_fn fn, void *arg)
{
	if (db->pg)
		return arc_pg_groups(db, fn, arg);
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (sqlite3_prepare_v2(db->h,
			       "SELECT sig_id, sig, n, first, last, hosts, kernels, last_id FROM sig_groups"
			       " ORDER BY n DESC, last DESC", -1, &st, NULL) != SQLITE_OK)
		return fail(db, "groups");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *hosts = arc_words_sorted(col_text(st, 5), ',');
		char *kernels = arc_words_sorted(col_text(st, 6), ',');
		struct arc_group g = {
			.sig_id = col_text(st, 0), .sig = col_text(st, 1),
			.count = sqlite3_column_int64(st, 2), .first = sqlite3_column_int64(st, 3),
			.last = sqlite3_column_int64(st, 4), .hosts = hosts, .kernels = kernels,
			.last_id = sqlite3_column_int64(st, 7),
		};
		ret = fn(arg, &g);
		free(hosts);
		free(kernels);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(db, "groups");
	sqlite3_finalize(st);
	return ret;
}

int arc_db_days(struct arc_db *db, const char *sig_id,
		int (*fn)(void *arg, int64_t day, int64_t count), void *arg)
{
	if (db->pg)
		return arc_pg_days(db, sig_id, fn, arg);
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (sqlite3_prepare_v2(db->h,
			       "SELECT (t / 86400) * 86400 AS day, count(*) FROM dumps"
			       " WHERE ?1 IS NULL OR sig_id = ?1 GROUP BY day ORDER BY day",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(db, "days");
	bind_text(st, 1, sig_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((ret = fn(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1))) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(db, "days");
	sqlite3_finalize(st);
	return ret;
}

int arc_db_rm(struct arc_db *db, int64_t id)
{
	if (db->pg)
		return arc_pg_rm(db, id);
	sqlite3_stmt *st = NULL;
	static const char *const sql[] = { "DELETE FROM dumps_fts WHERE rowid = ?1",
					   "DELETE FROM labels WHERE dump_id = ?1",
					   "DELETE FROM dumps WHERE id = ?1" };

	char sig_id[17] = "";

	if (exec(db, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (sqlite3_prepare_v2(db->h, "SELECT sig_id FROM dumps WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && col_text(st, 0))
		snprintf(sig_id, sizeof(sig_id), "%s", col_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if (sqlite3_prepare_v2(db->h, sql[i], -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
		sqlite3_finalize(st);
		st = NULL;
	}
	if (sig_id[0] && refresh_group(db, sig_id) < 0)
		goto fail;
	return exec(db, "COMMIT") < 0 ? -1 : 0;
fail:
	fail(db, "rm");
	sqlite3_finalize(st);
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int arc_db_resign(struct arc_db *db, arc_sign_fn sign, void *arg, int64_t *total,
		  int64_t *changed)
{
	if (db->pg)
		return arc_pg_resign(db, sign, arg, total, changed);
	sqlite3_stmt *st = NULL, *up = NULL;
	int rc;

	*total = *changed = 0;
	if (exec(db, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (sqlite3_prepare_v2(db->h, "SELECT id, panic, dmesg_tail, panic_frames, sig, sig_id FROM dumps",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db->h, "UPDATE dumps SET sig = ?2, sig_id = ?3, sig_version = ?4"
			       " WHERE id = ?1", -1, &up, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *old = col_text(st, 4), *old_id = col_text(st, 5);
		struct arc_sig s;

		memset(&s, 0, sizeof(s));
		sign(arg, col_text(st, 1), col_text(st, 2), col_text(st, 3), &s);
		arc_sig_set_id(&s);
		(*total)++;
		if (old && !strcmp(old, s.text) && old_id && !strcmp(old_id, s.id))
			continue;
		(*changed)++;
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
		sqlite3_bind_text(up, 2, s.text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(up, 3, s.id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(up, 4, ARC_SIG_VERSION);
		if (sqlite3_step(up) != SQLITE_DONE)
			goto fail;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	st = up = NULL;
	/* and every group summary, whatever wrote the rows */
	if (exec(db, "DELETE FROM sig_groups; INSERT INTO sig_groups " GROUPS_SELECT("1")) < 0)
		goto fail;
	return exec(db, "COMMIT") < 0 ? -1 : 0;
fail:
	fail(db, "resign");
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
