/*
 * pg_sink.c - JSON records as rows of a PostgreSQL table, exactly-once
 * through prepared transactions (docs/sinks.md, "PostgreSQL").
 *
 * Table (created when absent, create=true):
 *   id     text GENERATED ALWAYS AS (record ->> 'ID_KEY') STORED, indexed
 *   record jsonb NOT NULL
 *
 * delivery=exactly-once (the default): two connections per subtask, one
 * for the rows, one for commits and recovery.
 *   - Records are checked (one JSON object jsonb takes; others are
 *     rejected to the dead letters) and appended to a COPY buffer in text
 *     format; when it reaches batch-size the rows go to the server in one
 *     COPY ... FROM STDIN inside the subtask's open transaction (BEGIN on
 *     the first batch after a barrier): one round trip per batch, none per
 *     record.
 *   - flush(n), the barrier of checkpoint n: the last rows are copied and
 *     the transaction is prepared: PREPARE TRANSACTION 'PREFIX:SUBTASK:n:
 *     NONCE' (NONCE drawn at each open, so an attempt never reuses a
 *     gid of an earlier one). The prepared gids not committed yet are the
 *     sink's operator state (snapshot after the flush), so checkpoint n
 *     names n's transaction.
 *   - commit(n), checkpoint n completed: COMMIT PREPARED every pending gid
 *     of a checkpoint <= n (the control connection; a lost connection is
 *     reopened and the commit tried again, bounded; a gid that no longer
 *     exists on a retry was committed by the first try).
 *   - open after a restore: the gids of the restored checkpoint's state
 *     (union over the old subtasks; old subtask k's go to new subtask
 *     k mod parallelism) are committed if still prepared; every other
 *     prepared transaction with this sink's prefix and an old subtask
 *     k mod parallelism == this subtask is rolled back: it holds records
 *     after the restored checkpoint, which the sources replay. A fresh
 *     start rolls back all of them.
 * delivery=at-least-once: the same rows, COMMIT at each barrier instead of
 * PREPARE (no state); after a restart the rows since the checkpoint come
 * again.
 *
 * Any error of the row connection fails the task with the server's one-line
 * message (the open transaction is lost with the connection; the restart
 * replays it). Limits: rows become visible one checkpoint late; the server
 * needs max_prepared_transactions >= 2 x the sink's parallelism.
 *
 * Threads: each instance belongs to its subtask's thread.
 */
#include <flinc/flinc.h>

#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors.h"
#include "fl_auth.h"
#include "fl_base.h"
#include "graph.h"
#include "stores.h"

#define SNAPSHOT_VERSION 1
#define LINE_BUF_SIZE 4096
#define CONNECT_ATTEMPTS 3
#define COMMIT_ATTEMPTS 3
#define GID_MAX 200

typedef struct pg_conf {
	const fl_pg_addr *a;
	flinc_format_fn fmt;
} pg_conf;

typedef struct pending {
	int64_t id;
	char gid[GID_MAX];
} pending;

/* The test-only fault points (FLINC_TEST_FAULT, docs/sinks.md). */
typedef enum fault_kind {
	FAULT_NONE,
	FAULT_AFTER_FLUSH, /* pg-sink-after-flush: die with N prepared (or committed), the barrier not passed */
	FAULT_AFTER_COMPLETE, /* pg-sink-after-complete: die when commit(N) starts */
} fault_kind;

typedef struct pgsink {
	const pg_conf *conf;
	fault_kind fault;
	int64_t fault_id;
	bool eos;
	PGconn *data, *ctl;
	char *line;
	size_t lcap;
	fl_buf copy;
	uint64_t rows; /* in the copy buffer */
	bool txn_open;
	uint64_t nonce;
	char *qtable; /* the quoted table name */
	char *copy_sql;
	pending *pend;
	size_t npend, pcap;
	char **restored; /* gids of the restored checkpoint to commit */
	size_t nrestored, rcap;
} pgsink;

/* ---- the test-only fault points ---------------------------------------------- */

/* FLINC_TEST_FAULT=pg-sink-after-flush[:N[:SUBTASK]] or
 * pg-sink-after-complete[:N[:SUBTASK]] (N default 1, SUBTASK default every
 * subtask). Read by tests only; anything else in the variable is ignored. */
static void fault_parse(pgsink *s, int subtask)
{
	static const char *const names[] = { "pg-sink-after-flush", "pg-sink-after-complete" };
	int64_t id;
	int k = fl_test_fault(names, 2, subtask, &id);
	if (!k) return;
	s->fault = k == 1 ? FAULT_AFTER_FLUSH : FAULT_AFTER_COMPLETE;
	s->fault_id = id;
}

static void fault_die(pgsink *s, int64_t id, const char *where)
{
	fl_log(FL_LOG_WARN, "postgresql",
	       "FLINC_TEST_FAULT: output %s dies %s of checkpoint %" PRId64 " (test-only fault point)",
	       s->conf->a->display, where, id);
	raise(SIGKILL); /* as kill -9: no close, nothing flushed */
}

/* ---- libpq helpers ---------------------------------------------------------- */

/* The first line of a libpq message. */
static const char *first_line(const char *m, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", m && *m ? m : "unknown error");
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static int fail_conn(flinc_ctx *c, pgsink *s, PGconn *conn, const char *what)
{
	char b[300];
	flinc_ctx_fail(c, "output %s: %s: %s", s->conf->a->display, what,
		       first_line(PQerrorMessage(conn), b, sizeof b));
	return FLINC_EIO;
}

/* Run sql; a result other than `want` fails the task naming `what`. */
static int exec_ok(flinc_ctx *c, pgsink *s, PGconn *conn, const char *sql, ExecStatusType want,
		   const char *what)
{
	PGresult *r = PQexec(conn, sql);
	if (!r) return fail_conn(c, s, conn, what);
	if (PQresultStatus(r) != want) {
		char b[300];
		flinc_ctx_fail(c, "output %s: %s: %s", s->conf->a->display, what,
			       first_line(PQresultErrorMessage(r), b, sizeof b));
		PQclear(r);
		return FLINC_EIO;
	}
	PQclear(r);
	return FLINC_OK;
}

static void pause_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *connect_db(flinc_ctx *c, pgsink *s, const char *role)
{
	char b[300], what[64];
	for (int attempt = 1;; attempt++) {
		PGconn *conn = PQconnectdb(s->conf->a->conninfo);
		if (conn && PQstatus(conn) == CONNECTION_OK) {
			PQsetNoticeProcessor(conn, quiet, NULL); /* "relation already exists, skipping" */
			/* A lock held elsewhere (an ALTER TABLE, a forgotten prepared
			 * transaction) fails the task with a message instead of
			 * blocking its thread for ever. */
			PGresult *r = PQexec(conn, "SET lock_timeout = '60s'");
			PQclear(r);
			if (PQsetClientEncoding(conn, "UTF8") != 0) {
				snprintf(what, sizeof what, "%s connection: client encoding UTF8", role);
				fail_conn(c, s, conn, what);
				PQfinish(conn);
				return NULL;
			}
			return conn;
		}
		first_line(conn ? PQerrorMessage(conn) : "out of memory", b, sizeof b);
		PQfinish(conn);
		if (attempt >= CONNECT_ATTEMPTS) {
			flinc_ctx_fail(c, "output %s: cannot connect (%d attempts): %s", s->conf->a->display,
				       attempt, b);
			return NULL;
		}
		fl_log(FL_LOG_WARN, "postgresql", "output %s: cannot connect (%s); trying again in 1 s",
		       s->conf->a->display, b);
		pause_ms(1000);
	}
}

/* ---- the table ------------------------------------------------------------- */

static char *quote_table(pgsink *s, PGconn *conn)
{
	const char *t = s->conf->a->table;
	const char *dot = strchr(t, '.');
	if (!dot) {
		char *q = PQescapeIdentifier(conn, t, strlen(t));
		if (!q) return NULL;
		char *r = fl_strdup(q);
		PQfreemem(q);
		return r;
	}
	char *a = PQescapeIdentifier(conn, t, (size_t)(dot - t));
	char *b = PQescapeIdentifier(conn, dot + 1, strlen(dot + 1));
	char *r = NULL;
	if (a && b) {
		size_t n = strlen(a) + strlen(b) + 2;
		r = fl_malloc(n);
		snprintf(r, n, "%s.%s", a, b);
	}
	PQfreemem(a);
	PQfreemem(b);
	return r;
}

/* CREATE TABLE IF NOT EXISTS, serialised by an advisory lock: subtasks
 * creating the same table at once would collide in the catalog. */
static int create_table(flinc_ctx *c, pgsink *s)
{
	const fl_pg_addr *a = s->conf->a;
	const char *base = strchr(a->table, '.') ? strchr(a->table, '.') + 1 : a->table;
	char idx[80];
	snprintf(idx, sizeof idx, "%.59s_id", base);
	char *qidx = PQescapeIdentifier(s->data, idx, strlen(idx));
	char *lit = PQescapeLiteral(s->data, a->id_field, strlen(a->id_field));
	char *tl = PQescapeLiteral(s->data, s->qtable, strlen(s->qtable));
	int rc = FLINC_EIO;
	if (!qidx || !lit || !tl) {
		fail_conn(c, s, s->data, "quoting the table");
		goto out;
	}
	/* An existing table is left as it is: CREATE INDEX IF NOT EXISTS would
	 * wait for the locks of prepared transactions on it, which only the
	 * opens of the other subtasks resolve. */
	fl_strbuf q = { 0 };
	fl_sb_printf(&q, "SELECT to_regclass(%s) IS NOT NULL", tl);
	PGresult *r = PQexec(s->data, q.data);
	fl_sb_free(&q);
	bool exists = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	if (exists) {
		rc = FLINC_OK;
		goto out;
	}
	fl_sb_printf(&q,
		     "BEGIN; SET LOCAL lock_timeout = '30s'; SELECT pg_advisory_xact_lock(hashtext(%s)); "
		     "CREATE TABLE IF NOT EXISTS %s (id text GENERATED ALWAYS AS (record ->> %s) STORED, "
		     "record jsonb NOT NULL); CREATE INDEX IF NOT EXISTS %s ON %s (id); COMMIT",
		     tl, s->qtable, lit, qidx, s->qtable);
	r = PQexec(s->data, q.data);
	fl_sb_free(&q);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		char b[300];
		flinc_ctx_fail(
			c, "output %s: creating table %s: %s", a->display, a->table,
			first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(s->data), b, sizeof b));
		PQclear(r);
		exec_ok(c, s, s->data, "ROLLBACK", PGRES_COMMAND_OK, "rollback");
		goto out;
	}
	PQclear(r);
	rc = FLINC_OK;
out:
	PQfreemem(qidx);
	PQfreemem(lit);
	PQfreemem(tl);
	return rc;
}

/* ---- rows ----------------------------------------------------------------- */

static int send_copy(flinc_ctx *c, pgsink *s)
{
	if (!s->copy.len) return FLINC_OK;
	int rc;
	if (!s->txn_open) {
		if ((rc = exec_ok(c, s, s->data, "BEGIN", PGRES_COMMAND_OK, "BEGIN"))) return rc;
		s->txn_open = true;
	}
	PGresult *r = PQexec(s->data, s->copy_sql);
	if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
		char b[300];
		flinc_ctx_fail(
			c, "output %s: COPY: %s", s->conf->a->display,
			first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(s->data), b, sizeof b));
		PQclear(r);
		return FLINC_EIO;
	}
	PQclear(r);
	if (PQputCopyData(s->data, s->copy.p, (int)s->copy.len) != 1 || PQputCopyEnd(s->data, NULL) != 1)
		return fail_conn(c, s, s->data, "COPY");
	rc = FLINC_OK;
	while ((r = PQgetResult(s->data))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == FLINC_OK) {
			char b[300];
			flinc_ctx_fail(c, "output %s: COPY of %" PRIu64 " rows: %s", s->conf->a->display,
				       s->rows, first_line(PQresultErrorMessage(r), b, sizeof b));
			rc = FLINC_EIO;
		}
		PQclear(r);
	}
	s->copy.len = 0;
	s->rows = 0;
	return rc;
}

/* COMMIT or ROLLBACK PREPARED gid on the control connection, reopening it
 * when lost; on a retry, a gid that no longer exists was done by the try
 * before. `missing_ok`: a gid that does not exist is no error at all
 * (recovery). */
static int finish_prepared(flinc_ctx *c, pgsink *s, const char *verb, const char *gid, bool missing_ok)
{
	char sql[GID_MAX + 32], b[300];
	snprintf(sql, sizeof sql, "%s PREPARED '%s'", verb, gid);
	for (int attempt = 1;; attempt++) {
		if (!s->ctl || PQstatus(s->ctl) != CONNECTION_OK) {
			PQfinish(s->ctl);
			if (!(s->ctl = connect_db(c, s, "control"))) return FLINC_EIO;
		}
		PGresult *r = PQexec(s->ctl, sql);
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		bool missing = code && strcmp(code, "42704") == 0; /* undefined_object */
		first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(s->ctl), b, sizeof b);
		PQclear(r);
		if (st == PGRES_COMMAND_OK || (missing && (missing_ok || attempt > 1))) return FLINC_OK;
		if (PQstatus(s->ctl) == CONNECTION_OK || attempt >= COMMIT_ATTEMPTS) break;
		fl_log(FL_LOG_WARN, "postgresql", "output %s: %s PREPARED '%s': %s; trying again",
		       s->conf->a->display, verb, gid, b);
		pause_ms(500 * attempt);
	}
	flinc_ctx_fail(c, "output %s: %s PREPARED '%s': %s", s->conf->a->display, verb, gid, b);
	return FLINC_EIO;
}

/* ---- recovery -------------------------------------------------------------- */

static bool restored_has(const pgsink *s, const char *gid)
{
	for (size_t i = 0; i < s->nrestored; i++)
		if (s->restored[i] && strcmp(s->restored[i], gid) == 0) return true;
	return false;
}

/* Resolve the prepared transactions this subtask is responsible for. */
static int recover(flinc_ctx *c, pgsink *s)
{
	const fl_pg_addr *a = s->conf->a;
	int sub = flinc_ctx_subtask(c), par = flinc_ctx_parallelism(c);
	char like[GID_MAX];
	snprintf(like, sizeof like, "%s:", a->prefix);
	const char *params[1] = { like };
	PGresult *r =
		PQexecParams(s->ctl,
			     "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND "
			     "starts_with(gid, $1) ORDER BY gid",
			     1, NULL, params, NULL, NULL, 0);
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		char b[300];
		flinc_ctx_fail(c, "output %s: reading pg_prepared_xacts: %s", a->display,
			       first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(s->ctl), b, sizeof b));
		PQclear(r);
		return FLINC_EIO;
	}
	int rc = FLINC_OK;
	size_t plen = strlen(like);
	uint64_t committed = 0, rolled = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		const char *gid = PQgetvalue(r, i, 0);
		long long osub, ck;
		unsigned long long nonce;
		int used = 0;
		if (sscanf(gid + plen, "%lld:%lld:%16llx%n", &osub, &ck, &nonce, &used) != 3 ||
		    gid[plen + used] || osub < 0)
			continue; /* not one of ours */
		if (osub % par != sub) continue;
		bool commit = restored_has(s, gid);
		rc = finish_prepared(c, s, commit ? "COMMIT" : "ROLLBACK", gid, true);
		if (!rc) {
			committed += commit;
			rolled += !commit;
			fl_log(FL_LOG_INFO, "postgresql",
			       "output %s: %s %s (checkpoint %lld of old subtask %lld)", a->display,
			       commit ? "committed" : "rolled back", gid, ck, osub);
		}
	}
	PQclear(r);
	if (!rc && s->nrestored)
		fl_log(FL_LOG_INFO, "postgresql",
		       "output %s: subtask %d restored %zu pending transactions: %" PRIu64
		       " committed now, the others before",
		       a->display, sub, s->nrestored, committed);
	(void)rolled;
	return rc;
}

/* ---- the sink function ----------------------------------------------------- */

static int pgsink_open(flinc_ctx *c, void *local)
{
	pgsink *s = local;
	s->conf = flinc_ctx_arg(c);
	const fl_pg_addr *a = s->conf->a;
	s->eos = a->delivery == FL_PG_EXACTLY_ONCE;
	fault_parse(s, flinc_ctx_subtask(c));
	s->lcap = LINE_BUF_SIZE;
	s->line = fl_malloc(s->lcap);
	if (fl_random_bytes(&s->nonce, sizeof s->nonce) != FLINC_OK)
		s->nonce = (uint64_t)fl_mono_ns() ^ ((uint64_t)flinc_ctx_subtask(c) << 48);
	if (!(s->data = connect_db(c, s, "row"))) return FLINC_EIO;
	if (!(s->qtable = quote_table(s, s->data))) return fail_conn(c, s, s->data, "quoting the table name");
	fl_strbuf q = { 0 };
	fl_sb_printf(&q, "COPY %s (record) FROM STDIN", s->qtable);
	s->copy_sql = q.data;
	int rc;
	if (s->eos) {
		PGresult *r = PQexec(s->data, "SHOW max_prepared_transactions");
		long maxp = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
			? atol(PQgetvalue(r, 0, 0))
			: -1;
		PQclear(r);
		if (maxp == 0) {
			flinc_ctx_fail(
				c,
				"output %s: the server has max_prepared_transactions = 0; delivery=exactly-once "
				"needs it >= 2 x the sink's parallelism (docs/sinks.md), or use "
				"delivery=at-least-once",
				a->display);
			return FLINC_ECONFIG;
		}
		if (maxp > 0 && maxp < 2 * (long)flinc_ctx_parallelism(c))
			fl_log(FL_LOG_WARN, "postgresql",
			       "output %s: max_prepared_transactions = %ld is below 2 x the parallelism %d: "
			       "checkpoints may fail",
			       a->display, maxp, flinc_ctx_parallelism(c));
		if (flinc_ctx_restored_checkpoint(c) < 0 && flinc_ctx_subtask(c) == 0)
			fl_log(FL_LOG_WARN, "postgresql",
			       "output %s: the job does not checkpoint: rows are committed only when the input ends",
			       a->display);
		/* Recovery first: the leftovers hold locks on the table. */
		if (!(s->ctl = connect_db(c, s, "control"))) return FLINC_EIO;
		rc = recover(c, s);
		for (size_t i = 0; i < s->nrestored; i++) free(s->restored[i]);
		free(s->restored);
		s->restored = NULL;
		s->nrestored = s->rcap = 0;
		if (rc) return rc;
	}
	if (a->create && (rc = create_table(c, s))) return rc;
	return FLINC_OK;
}

static int pgsink_write(flinc_ctx *c, void *local, const void *rec)
{
	pgsink *s = local;
	size_t n = fl_conn_format(c, s->conf->fmt, rec, &s->line, &s->lcap, s->conf->a->display);
	if (n == SIZE_MAX) return FLINC_EUSER;
	char why[160];
	if (fl_json_check(s->line, n, why, sizeof why) != FLINC_OK) {
		char r[200];
		snprintf(r, sizeof r, "postgresql: %s", why);
		flinc_ctx_reject(c, r);
		return FLINC_OK;
	}
	if (!fl_pg_copy_field(&s->copy, s->line, n) || !fl_buf_add(&s->copy, "\n", 1)) {
		flinc_ctx_fail(c, "output %s: out of memory for a %zu-byte COPY batch", s->conf->a->display,
			       s->copy.len);
		return FLINC_ENOMEM;
	}
	s->rows++;
	if (s->copy.len >= s->conf->a->batch_bytes) return send_copy(c, s);
	return FLINC_OK;
}

static int pgsink_flush(flinc_ctx *c, void *local, int64_t id)
{
	pgsink *s = local;
	if (!s->data) return FLINC_OK;
	int rc = send_copy(c, s);
	if (rc || !s->txn_open) return rc;
	if (!s->eos) {
		rc = exec_ok(c, s, s->data, "COMMIT", PGRES_COMMAND_OK, "COMMIT");
		s->txn_open = false;
		if (!rc && s->fault == FAULT_AFTER_FLUSH && id == s->fault_id)
			fault_die(s, id, "after its commit");
		return rc;
	}
	if (s->npend == s->pcap) {
		s->pcap = s->pcap ? s->pcap * 2 : 4;
		s->pend = fl_realloc(s->pend, s->pcap * sizeof *s->pend);
	}
	pending *p = &s->pend[s->npend];
	p->id = id;
	snprintf(p->gid, sizeof p->gid, "%s:%d:%" PRId64 ":%016" PRIx64, s->conf->a->prefix,
		 flinc_ctx_subtask(c), id, s->nonce);
	char sql[GID_MAX + 32];
	snprintf(sql, sizeof sql, "PREPARE TRANSACTION '%s'", p->gid);
	rc = exec_ok(c, s, s->data, sql, PGRES_COMMAND_OK, "PREPARE TRANSACTION");
	s->txn_open = false; /* prepared, or aborted by the failure */
	if (rc) return rc;
	s->npend++;
	if (s->fault == FAULT_AFTER_FLUSH && id == s->fault_id) fault_die(s, id, "after its PREPARE");
	return FLINC_OK;
}

static int pgsink_commit(flinc_ctx *c, void *local, int64_t id)
{
	pgsink *s = local;
	if (s->fault == FAULT_AFTER_COMPLETE) { /* once: checkpoint ids never come again */
		bool hit = !s->eos && id == s->fault_id;
		for (size_t i = 0; i < s->npend && s->pend[i].id <= id; i++)
			hit |= s->pend[i].id == s->fault_id;
		if (hit) fault_die(s, s->fault_id, "before the commit");
	}
	if (!s->eos) return FLINC_OK;
	size_t done = 0;
	int rc = FLINC_OK;
	while (done < s->npend && s->pend[done].id <= id) {
		if ((rc = finish_prepared(c, s, "COMMIT", s->pend[done].gid, false))) break;
		done++;
	}
	if (done) {
		memmove(s->pend, s->pend + done, (s->npend - done) * sizeof *s->pend);
		s->npend -= done;
	}
	return rc;
}

/*
 * Operator state (exactly-once): a msgpack map
 *   v: 1, subtask, parallelism, gids: [gid, ...]
 * the prepared transactions not committed yet, oldest first.
 */
static int pgsink_snapshot(flinc_ctx *c, void *local, flinc_writer *w)
{
	pgsink *s = local;
	fl_conn_snapshot_head(c, w, SNAPSHOT_VERSION, 1);
	flinc_w_cstr(w, "gids");
	flinc_w_array(w, (uint32_t)s->npend);
	for (size_t i = 0; i < s->npend; i++) flinc_w_cstr(w, s->pend[i].gid);
	return w->err ? FLINC_ENOMEM : FLINC_OK;
}

static int pgsink_restore(flinc_ctx *c, void *local, flinc_reader *r)
{
	pgsink *s = local;
	uint64_t v = 0, subtask = 0;
	bool have_sub = false;
	flinc_reader gids;
	memset(&gids, 0, sizeof gids);
	uint32_t ngids = 0;
	bool have_gids = false;
	uint32_t nkeys = flinc_r_map(r);
	for (uint32_t k = 0; k < nkeys && !r->err; k++) {
		uint32_t kl;
		const char *key = flinc_r_str(r, &kl);
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && memcmp(key, lit, kl) == 0)
		if (KEY_IS("v")) {
			v = flinc_r_uint(r);
		} else if (KEY_IS("subtask")) {
			subtask = flinc_r_uint(r);
			have_sub = true;
		} else if (KEY_IS("gids")) {
			ngids = flinc_r_array(r);
			gids = *r;
			have_gids = true;
			for (uint32_t i = 0; i < ngids && !r->err; i++) flinc_r_skip(r);
		} else if (flinc_r_skip(r) != 0) {
			r->err = 1;
		}
#undef KEY_IS
	}
	if (r->err || v != SNAPSHOT_VERSION || !have_sub || !have_gids) {
		flinc_ctx_fail(
			c,
			"postgresql sink: cannot read its checkpointed transactions (snapshot version %llu)",
			(unsigned long long)v);
		return FLINC_ECODEC;
	}
	if ((int)(subtask % (uint64_t)flinc_ctx_parallelism(c)) != flinc_ctx_subtask(c)) return FLINC_OK;
	for (uint32_t i = 0; i < ngids && !gids.err; i++) {
		uint32_t gl;
		const char *g = flinc_r_str(&gids, &gl);
		if (gids.err || gl == 0 || gl >= GID_MAX) {
			gids.err = 1;
			break;
		}
		if (s->nrestored == s->rcap) {
			s->rcap = s->rcap ? s->rcap * 2 : 4;
			s->restored = fl_realloc(s->restored, s->rcap * sizeof *s->restored);
		}
		char *d = fl_malloc(gl + 1);
		memcpy(d, g, gl);
		d[gl] = 0;
		s->restored[s->nrestored++] = d;
	}
	if (gids.err) {
		flinc_ctx_fail(c, "postgresql sink: a checkpointed transaction id is malformed");
		return FLINC_ECODEC;
	}
	return FLINC_OK;
}

static void pgsink_close(flinc_ctx *c, void *local)
{
	(void)c;
	pgsink *s = local;
	/* Closing the row connection aborts its open transaction; prepared
	 * ones stay for the next open to resolve. */
	PQfinish(s->data);
	PQfinish(s->ctl);
	free(s->line);
	fl_buf_free(&s->copy);
	free(s->qtable);
	free(s->copy_sql);
	free(s->pend);
	for (size_t i = 0; i < s->nrestored; i++) free(s->restored[i]);
	free(s->restored);
	memset(s, 0, sizeof *s);
}

static const flinc_sink_fn pg_sink_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(pgsink),
	.open = pgsink_open,
	.write = pgsink_write,
	.flush = pgsink_flush,
	.commit = pgsink_commit,
	.close = pgsink_close,
};

static const fl_conn_hooks pg_sink_eos_hooks = {
	.snapshot = pgsink_snapshot,
	.restore = pgsink_restore,
};

int fl_pg_sink_to(flinc_env *e, flinc_stream *in, const char *name, const char *address, flinc_format_fn fmt)
{
	const fl_pg_addr *a = fl_pg_parse(e, address, name);
	if (!a) return FLINC_EGRAPH;
	pg_conf *conf = flinc_env_alloc(e, sizeof *conf);
	conf->a = a;
	conf->fmt = fmt;
	flinc_stream *s = flinc_sink(in, name, &pg_sink_fn, conf);
	if (a->delivery == FL_PG_EXACTLY_ONCE) fl_sink_hooks(s, &pg_sink_eos_hooks);
	return e->failed ? FLINC_EGRAPH : FLINC_OK;
}
