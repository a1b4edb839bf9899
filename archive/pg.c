/* pg.c - the archive's index in PostgreSQL (--db postgresql://...), for
 * fleets: many receivers and analysts share one index.  The same schema as
 * db.c's, in PostgreSQL's dialect: full-text search is a generated tsvector
 * with a GIN index, the schema version a one-row table, migrations run
 * under a transaction-scoped advisory lock, and concurrent adds of one dump
 * meet at the identity's UNIQUE constraint (ON CONFLICT DO NOTHING). */
#include "internal.h"

#include <libpq-fe.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the advisory lock every migrating process takes ("salvage" in ASCII) */
#define MIGRATE_LOCK "7310575239492871781"

/* one summary row a signature (db.c's GROUPS_SELECT, in this dialect) */
#define GROUPS_SELECT(where) \
	"SELECT g.sig_id," \
	" (SELECT sig FROM dumps x WHERE x.sig_id = g.sig_id ORDER BY t DESC, id DESC LIMIT 1)," \
	" g.n, g.first, g.last," \
	" (SELECT id FROM dumps x WHERE x.sig_id = g.sig_id ORDER BY t DESC, id DESC LIMIT 1)," \
	" g.hosts, g.kernels" \
	" FROM (SELECT sig_id, count(*) AS n, min(t) AS first, max(t) AS last," \
	"   string_agg(DISTINCT host, ' ' ORDER BY host) AS hosts," \
	"   string_agg(DISTINCT release, ' ' ORDER BY release) AS kernels" \
	"   FROM dumps WHERE " where " GROUP BY sig_id) g"

static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE dumps ("
	" id BIGSERIAL PRIMARY KEY, ident TEXT NOT NULL UNIQUE, path TEXT NOT NULL, dir TEXT,"
	" stored INTEGER NOT NULL DEFAULT 0, source TEXT, format TEXT, release TEXT,"
	" build_id TEXT, xen_version TEXT, host TEXT, crash_time BIGINT, capture_time BIGINT,"
	" added_time BIGINT NOT NULL, capture_ms BIGINT, dump_bytes BIGINT, mem_bytes BIGINT,"
	" dump_level BIGINT, incomplete INTEGER NOT NULL DEFAULT 0, taint BIGINT, status TEXT,"
	" panic TEXT, dmesg_tail TEXT, backtrace TEXT, panic_frames TEXT, cmdline TEXT,"
	" sig TEXT NOT NULL, sig_id TEXT NOT NULL, sig_version INTEGER NOT NULL,"
	" t BIGINT NOT NULL,"
	" fts tsvector GENERATED ALWAYS AS (to_tsvector('simple',"
	"   coalesce(panic, '') || ' ' || coalesce(dmesg_tail, ''))) STORED);"
	"CREATE INDEX dumps_t ON dumps(t, id);"
	"CREATE INDEX dumps_sig ON dumps(sig_id, t);"
	"CREATE INDEX dumps_host ON dumps(host, t);"
	"CREATE INDEX dumps_release ON dumps(release, t);"
	"CREATE INDEX dumps_path ON dumps(path);"
	"CREATE INDEX dumps_fts ON dumps USING GIN (fts);"
	"CREATE TABLE labels (dump_id BIGINT NOT NULL REFERENCES dumps(id) ON DELETE CASCADE,"
	" key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (dump_id, key));"
	"CREATE INDEX labels_kv ON labels(key, value);",
	/* 1 -> 2: groups read one covering index instead of every row */
	"CREATE INDEX dumps_sig_cover ON dumps(sig_id, t, host, release);"
	"DROP INDEX dumps_sig;",
	/* 2 -> 3: the groups kept up to date (db.c) */
	"CREATE TABLE sig_groups (sig_id TEXT PRIMARY KEY, sig TEXT NOT NULL, n BIGINT NOT NULL,"
	" first BIGINT NOT NULL, last BIGINT NOT NULL, last_id BIGINT NOT NULL, hosts TEXT,"
	" kernels TEXT);"
	"INSERT INTO sig_groups " GROUPS_SELECT("true") ";",
	/* 3 -> 4: the modules that tainted the kernel (db.c) */
	"ALTER TABLE dumps ADD COLUMN tainted_modules TEXT;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

bool arc_pg_uri(const char *spec)
{
	return !strncmp(spec, "postgresql://", 13) || !strncmp(spec, "postgres://", 11);
}

static int fail(struct arc_db *db, const char *what, PGresult *r)
{
	const char *m = r ? PQresultErrorMessage(r) : "";
	if (!m || !*m)
		m = PQerrorMessage(db->pg);
	snprintf(db->err, sizeof(db->err), "%s: %s", what, m);
	/* one line: libpq ends its messages with a newline */
	char *nl = strchr(db->err, '\n');
	if (nl)
		*nl = 0;
	PQclear(r);
	return -1;
}

static int exec(struct arc_db *db, const char *sql)
{
	PGresult *r = PQexec(db->pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(db, "postgresql", r);
	PQclear(r);
	return 0;
}

static void rollback(struct arc_db *db)
{
	PQclear(PQexec(db->pg, "ROLLBACK"));
}

/* parameters as text, NULL for SQL NULL; numbers below 0 are unknown */
struct params {
	const char *v[32];
	char buf[32][24];
	int n;
};

static int p_text(struct params *p, const char *s)
{
	p->v[p->n] = s;
	return ++p->n;
}

static int p_num(struct params *p, int64_t v, bool null_if_negative)
{
	if (v < 0 && null_if_negative) {
		p->v[p->n] = NULL;
	} else {
		snprintf(p->buf[p->n], sizeof(p->buf[0]), "%" PRId64, v);
		p->v[p->n] = p->buf[p->n];
	}
	return ++p->n;
}

static PGresult *q(struct arc_db *db, const char *sql, const struct params *p)
{
	return PQexecParams(db->pg, sql, p ? p->n : 0, NULL, p ? p->v : NULL, NULL, NULL, 0);
}

static int migrate(struct arc_db *db)
{
	PGresult *r;
	int v = 0;

	if (exec(db, "BEGIN") < 0)
		return -1;
	if (exec(db, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")") < 0 ||
	    exec(db, "CREATE TABLE IF NOT EXISTS salvage_schema (version INTEGER NOT NULL)") < 0)
		goto rollback;
	r = PQexec(db->pg, "SELECT version FROM salvage_schema");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fail(db, "schema version", r);
		goto rollback;
	}
	if (PQntuples(r) > 0)
		v = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (v > SCHEMA_VERSION) {
		snprintf(db->err, sizeof(db->err),
			 "schema version %d is newer than this salvage knows (%d)", v, SCHEMA_VERSION);
		goto rollback;
	}
	for (int i = v; i < SCHEMA_VERSION; i++)
		if (exec(db, migrations[i]) < 0)
			goto rollback;
	if (v != SCHEMA_VERSION) {
		char sql[96];
		snprintf(sql, sizeof(sql), "DELETE FROM salvage_schema; INSERT INTO salvage_schema VALUES (%d)",
			 SCHEMA_VERSION);
		if (exec(db, sql) < 0)
			goto rollback;
	}
	if (exec(db, "COMMIT") < 0)
		goto rollback;
	db->schema = SCHEMA_VERSION;
	return 0;
rollback:
	rollback(db);
	return -1;
}

int arc_pg_open(struct arc_db *db, const char *uri)
{
	db->pg = PQconnectdb(uri);
	if (!db->pg) {
		snprintf(db->err, sizeof(db->err), "postgresql: out of memory");
		return -1;
	}
	if (PQstatus(db->pg) != CONNECTION_OK)
		return fail(db, "postgresql", NULL);
	PQclear(PQexec(db->pg, "SET client_min_messages = warning"));
	return migrate(db);
}

void arc_pg_close(struct arc_db *db)
{
	PQfinish(db->pg);
	db->pg = NULL;
}

/* rewrite one signature's summary inside the caller's transaction; writers
 * of one signature take turns on an advisory lock, so each statement after
 * it sees the other's committed rows (READ COMMITTED) */
static int refresh_group(struct arc_db *db, const char *sig_id)
{
	static const char *const sql[] = {
		"SELECT pg_advisory_xact_lock(hashtext($1))",
		"DELETE FROM sig_groups WHERE sig_id = $1",
		"INSERT INTO sig_groups " GROUPS_SELECT("sig_id = $1"),
	};
	struct params p = { .n = 0 };
	p_text(&p, sig_id);
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		PGresult *r = q(db, sql[i], &p);
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
			return fail(db, "groups summary", r);
		PQclear(r);
	}
	return 0;
}

int arc_pg_find(struct arc_db *db, const char *ident, const char *path, int64_t *id)
{
	struct params p = { .n = 0 };
	p_text(&p, ident);
	p_text(&p, path);
	PGresult *r = q(db, "SELECT id FROM dumps WHERE ident = $1 OR path = $2 LIMIT 1", &p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(db, "find", r);
	int found = PQntuples(r) > 0;
	if (found)
		*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return found;
}

int arc_pg_add(struct arc_db *db, const struct arc_dump *d, const char *const *labels,
	       size_t nlabels, int64_t *id)
{
	struct params p = { .n = 0 };
	int64_t added = d->added_time >= 0 ? d->added_time : (int64_t)time(NULL);
	int64_t t = d->crash_time >= 0 ? d->crash_time : d->capture_time >= 0 ? d->capture_time : added;
	PGresult *r;

	struct arc_dump row = *d;
	row.added_time = added;
	char sql[1024];
	size_t o = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO dumps (t" ARC_COL_NAMES ") VALUES ($%d",
				    p_num(&p, t, false));
	for (size_t i = 0; i < arc_ncols; i++) {
		int n = arc_cols[i].kind == ARC_COL_TEXT ? p_text(&p, arc_col_text(&row, i))
			: p_num(&p, arc_col_num(&row, i), arc_cols[i].kind == ARC_COL_NUM);
		o += (size_t)snprintf(sql + o, sizeof(sql) - o, ", $%d", n);
	}
	snprintf(sql + o, sizeof(sql) - o, ") ON CONFLICT (ident) DO NOTHING RETURNING id");
	if (exec(db, "BEGIN") < 0)
		return -1;
	r = q(db, sql, &p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fail(db, "add", r);
		goto rollback;
	}
	if (PQntuples(r) == 0) {
		/* already there (perhaps added by another process a moment ago) */
		PQclear(r);
		rollback(db);
		int rc = arc_pg_find(db, d->ident, NULL, id);
		return rc < 0 ? -1 : 0;
	}
	*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	for (size_t i = 0; i < nlabels; i++) {
		const char *eq = strchr(labels[i], '=');
		char key[256];
		struct params lp = { .n = 0 };
		if (!eq || (size_t)(eq - labels[i]) >= sizeof(key))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(eq - labels[i]), labels[i]);
		p_num(&lp, *id, false);
		p_text(&lp, key);
		p_text(&lp, eq + 1);
		r = q(db, "INSERT INTO labels (dump_id, key, value) VALUES ($1, $2, $3)"
			  " ON CONFLICT (dump_id, key) DO UPDATE SET value = EXCLUDED.value", &lp);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fail(db, "add (labels)", r);
			goto rollback;
		}
		PQclear(r);
	}
	if (refresh_group(db, d->sig_id) < 0 || exec(db, "COMMIT") < 0)
		goto rollback;
	return 1;
rollback:
	rollback(db);
	return -1;
}

#define COLS ARC_SELECT_ROW("string_agg(key || '=' || value, E'\\n' ORDER BY key)")

static const char *col_text(PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

static int64_t col_num(PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? -1 : strtoll(PQgetvalue(r, row, c), NULL, 10);
}

struct row_src {
	PGresult *r;
	int row;
};

static const char *row_text(void *src, int c)
{
	struct row_src *s = src;
	return col_text(s->r, s->row, c);
}

static int64_t row_num(void *src, int c)
{
	struct row_src *s = src;
	return col_num(s->r, s->row, c);
}

static int rows(struct arc_db *db, PGresult *r, arc_row_fn fn, void *arg)
{
	int ret = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(db, "query", r);
	for (int i = 0; i < PQntuples(r) && !ret; i++) {
		struct row_src src = { r, i };
		struct arc_dump d;
		arc_row_read(&d, &src, row_text, row_num);
		ret = fn(arg, &d);
	}
	PQclear(r);
	return ret;
}

int arc_pg_list(struct arc_db *db, const struct arc_filter *f, arc_row_fn fn, void *arg)
{
	char sql[2048];
	size_t o;
	struct params p = { .n = 0 };
	const char *eq = f->label ? strchr(f->label, '=') : NULL;
	char key[256];

	o = (size_t)snprintf(sql, sizeof(sql), "SELECT " COLS " FROM dumps d WHERE true");
#define ADD(...) o += (size_t)snprintf(sql + o, sizeof(sql) - o, __VA_ARGS__)
	if (f->host)
		ADD(" AND d.host = $%d", p_text(&p, f->host));
	if (f->kernel)
		ADD(" AND d.release = $%d", p_text(&p, f->kernel));
	char sig_id[17];
	if (f->sig) {
		arc_sig_id_of(f->sig, sig_id);
		ADD(" AND d.sig_id = $%d", p_text(&p, sig_id));
	}
	if (f->label) {
		snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - f->label) : (int)strlen(f->label),
			 f->label);
		int n = p_text(&p, key);
		if (eq)
			ADD(" AND EXISTS (SELECT 1 FROM labels l WHERE l.dump_id = d.id AND l.key = $%d"
			    " AND l.value = $%d)", n, p_text(&p, eq + 1));
		else
			ADD(" AND EXISTS (SELECT 1 FROM labels l WHERE l.dump_id = d.id AND l.key = $%d)", n);
	}
	if (f->since >= 0)
		ADD(" AND d.t >= $%d", p_num(&p, f->since, false));
	if (f->until >= 0)
		ADD(" AND d.t < $%d", p_num(&p, f->until, false));
	ADD(" ORDER BY d.t DESC, d.id DESC");
	if (f->limit > 0)
		ADD(" LIMIT $%d", p_num(&p, f->limit, false));
#undef ADD
	return rows(db, q(db, sql, &p), fn, arg);
}

int arc_pg_get(struct arc_db *db, int64_t id, arc_row_fn fn, void *arg)
{
	struct params p = { .n = 0 };
	p_num(&p, id, false);
	return rows(db, q(db, "SELECT " COLS " FROM dumps d WHERE d.id = $1", &p), fn, arg);
}

int arc_pg_search(struct arc_db *db, const char *text, int64_t limit, arc_row_fn fn, void *arg)
{
	struct params p = { .n = 0 };
	p_text(&p, text);
	p_num(&p, limit > 0 ? limit : INT64_MAX, false);
	/* the text is one phrase (phraseto_tsquery reads no operators) */
	return rows(db, q(db, "SELECT " COLS " FROM dumps d WHERE d.fts @@ phraseto_tsquery('simple', $1)"
			  " ORDER BY d.t DESC, d.id DESC LIMIT $2", &p), fn, arg);
}

int arc_pg_groups(struct arc_db *db, arc_group_fn fn, void *arg)
{
	PGresult *r = q(db, "SELECT sig_id, sig, n, first, last, hosts, kernels, last_id"
			    " FROM sig_groups ORDER BY n DESC, last DESC", NULL);
	int ret = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(db, "groups", r);
	for (int i = 0; i < PQntuples(r) && !ret; i++) {
		struct arc_group g = {
			.sig_id = col_text(r, i, 0), .sig = col_text(r, i, 1),
			.count = col_num(r, i, 2), .first = col_num(r, i, 3), .last = col_num(r, i, 4),
			.hosts = col_text(r, i, 5), .kernels = col_text(r, i, 6),
			.last_id = col_num(r, i, 7),
		};
		ret = fn(arg, &g);
	}
	PQclear(r);
	return ret;
}

int arc_pg_days(struct arc_db *db, const char *sig_id,
		int (*fn)(void *arg, int64_t day, int64_t count), void *arg)
{
	struct params p = { .n = 0 };
	int ret = 0;

	p_text(&p, sig_id);
	PGresult *r = q(db, "SELECT (t / 86400) * 86400 AS day, count(*) FROM dumps"
			    " WHERE $1::text IS NULL OR sig_id = $1 GROUP BY day ORDER BY day", &p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(db, "days", r);
	for (int i = 0; i < PQntuples(r) && !ret; i++)
		ret = fn(arg, col_num(r, i, 0), col_num(r, i, 1));
	PQclear(r);
	return ret;
}

int arc_pg_rm(struct arc_db *db, int64_t id)
{
	struct params p = { .n = 0 };
	p_num(&p, id, false);
	if (exec(db, "BEGIN") < 0)
		return -1;
	/* the labels go with the row (ON DELETE CASCADE) */
	PGresult *r = q(db, "DELETE FROM dumps WHERE id = $1 RETURNING sig_id", &p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fail(db, "rm", r);
		goto rollback;
	}
	if (PQntuples(r) > 0 && refresh_group(db, PQgetvalue(r, 0, 0)) < 0) {
		PQclear(r);
		goto rollback;
	}
	PQclear(r);
	if (exec(db, "COMMIT") < 0)
		goto rollback;
	return 0;
rollback:
	rollback(db);
	return -1;
}

int arc_pg_resign(struct arc_db *db, arc_sign_fn sign, void *arg, int64_t *total,
		  int64_t *changed)
{
	PGresult *r;

	*total = *changed = 0;
	if (exec(db, "BEGIN") < 0)
		return -1;
	r = q(db, "SELECT id, panic, dmesg_tail, panic_frames, sig, sig_id FROM dumps FOR UPDATE", NULL);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fail(db, "resign", r);
		goto rollback;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		struct arc_sig s;
		const char *old = col_text(r, i, 4), *old_id = col_text(r, i, 5);

		memset(&s, 0, sizeof(s));
		sign(arg, col_text(r, i, 1), col_text(r, i, 2), col_text(r, i, 3), &s);
		arc_sig_set_id(&s);
		(*total)++;
		if (old && !strcmp(old, s.text) && old_id && !strcmp(old_id, s.id))
			continue;
		(*changed)++;
		struct params p = { .n = 0 };
		p_text(&p, PQgetvalue(r, i, 0));
		p_text(&p, s.text);
		p_text(&p, s.id);
		p_num(&p, ARC_SIG_VERSION, false);
		PGresult *u = q(db, "UPDATE dumps SET sig = $2, sig_id = $3, sig_version = $4 WHERE id = $1", &p);
		if (PQresultStatus(u) != PGRES_COMMAND_OK) {
			PQclear(r);
			fail(db, "resign", u);
			goto rollback;
		}
		PQclear(u);
	}
	PQclear(r);
	/* and every group summary, whatever wrote the rows */
	if (exec(db, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")") < 0 ||
	    exec(db, "DELETE FROM sig_groups; INSERT INTO sig_groups " GROUPS_SELECT("true")) < 0)
		goto rollback;
	return exec(db, "COMMIT") < 0 ? -1 : 0;
rollback:
	rollback(db);
	return -1;
}
