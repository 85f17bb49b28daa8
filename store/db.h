/*
 * db — one statement API over two database engines (issue 13 item 1, SPEC §12 `[database] url`):
 * SQLite (embedded, the default) and PostgreSQL (libpq). Every file of store/ talks to the
 * database through this and nothing else.
 *
 * Why not a library: Debian's libdbi has no prepared statements (it builds query strings), and
 * the store's speed on SQLite comes from prepared statements; ODBC would add a driver manager
 * and a configuration file to every install. This layer is thin on purpose: the calls mirror
 * SQLite's own (db_step, db_bind_int64, db_column_text ...), so on SQLite each one is a branch
 * and the SQLite call (static inline below), and on PostgreSQL it emulates them:
 *   - db_prepare rewrites SQLite's parameter marks ?N (and bare ?) to $N, and prepares the
 *     statement on the server once (PQprepare) when it is persistent; a one-off statement is
 *     sent with its parameters in one round trip (PQexecParams).
 *   - bound values are sent as text (integers printed in decimal);
 *   - the first db_step after binding executes the statement and keeps its whole result; each
 *     db_step then moves to the next row (DB_ROW) until DB_DONE. Columns are read from the
 *     kept result: a NULL reads as NULL text and 0.
 *   - errors are mapped to SQLite's result codes (db_errcode: 23505 unique_violation ->
 *     DB_CONSTRAINT_UNIQUE, other class 23 -> DB_CONSTRAINT, 53100 disk_full -> DB_FULL, 40001 /
 *     40P01 / 55P03 -> DB_BUSY, anything else DB_ERROR), so callers test one set of codes.
 * SQL text that differs between the engines is chosen by the caller (db_kind); the store keeps
 * the SQLite text and overrides only what PostgreSQL spells differently (store_int.h).
 *
 * Threads: a connection and its statements are used by one thread at a time.
 * Errors: functions returning int return DB_OK (0), or for db_step DB_ROW / DB_DONE, else an
 * SQLite-style error code (db_errcode / db_errmsg of the connection say more).
 */
#ifndef PB_DB_H
#define PB_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_kind { DB_SQLITE, DB_POSTGRES };

#define DB_OK SQLITE_OK
#define DB_ERROR SQLITE_ERROR
#define DB_BUSY SQLITE_BUSY
#define DB_FULL SQLITE_FULL
#define DB_NOMEM SQLITE_NOMEM
#define DB_CONSTRAINT SQLITE_CONSTRAINT
#define DB_CONSTRAINT_UNIQUE SQLITE_CONSTRAINT_UNIQUE
#define DB_ROW SQLITE_ROW
#define DB_DONE SQLITE_DONE
#define DB_NULL SQLITE_NULL
#define DB_INTEGER SQLITE_INTEGER
#define DB_TEXT SQLITE_TEXT
#define DB_STATIC SQLITE_STATIC
#define DB_TRANSIENT SQLITE_TRANSIENT

struct pg_conn;                 /* db.c: the libpq side */
struct pg_stmt;

/* A connection. `lite` is set on SQLite, `pg` on PostgreSQL. */
struct db {
    enum db_kind kind;
    sqlite3 *lite;
    struct pg_conn *pg;
};

/* A prepared statement of one connection. */
struct db_stmt {
    struct db *db;
    sqlite3_stmt *lite;
    struct pg_stmt *pg;
};

/* ---------------------------------------------------------------- connections */

/*
 * Open a connection. url: "postgresql://..." (or "postgres://...") opens PostgreSQL with libpq
 * (blocking connect); anything else is an SQLite path opened with `sqlite_flags`
 * (SQLITE_OPEN_*). On success *out is the connection (end it with db_close) and DB_OK is
 * returned; on failure *out is NULL, a reason (at most errlen bytes) is in err and DB_ERROR or
 * DB_NOMEM is returned.
 */
int db_open(struct db **out, const char *url, int sqlite_flags, char *err, size_t errlen);

/* Wrap an SQLite connection the caller opened (then owned by the db: db_close closes it).
 * NULL when out of memory (lite is closed then). */
struct db *db_wrap_sqlite(sqlite3 *lite);

/* The calling thread's blocking PostgreSQL round trips so far (libpq calls that wait for the
 * server: statements, prepares, reconnects) and the wall time spent in them, in ns; both 0 on
 * a thread that never used PostgreSQL (SQLite calls are not counted). Issue 13 "the loop never
 * waits on a PostgreSQL round trip": the loop thread's figures say how far from that it is
 * (GET /metrics planboard_loop_db_*). */
void db_thread_waits(uint64_t *round_trips, uint64_t *wait_ns);

/* Close the connection (finalize its statements first). NULL is fine. */
void db_close(struct db *db);

/* True when `url` names PostgreSQL ("postgresql://" or "postgres://"). */
bool db_url_is_postgres(const char *url);

/* The engine's last error message on this connection; never NULL. Owned by db. */
const char *db_errmsg(struct db *db);

/* The last error as an SQLite extended result code (see the mapping above). */
int db_errcode(struct db *db);

/* Run one or more SQL statements with no parameters and no rows wanted. DB_OK or an error. */
int db_exec(struct db *db, const char *sql);

/* Rows changed by the last INSERT / UPDATE / DELETE of this connection. */
int db_changes(struct db *db);

/* Rows changed since the connection opened (SQLite's total_changes; on PostgreSQL the sum of
 * db_changes over its statements). */
int64_t db_total_changes(struct db *db);

/* The id the last INSERT of this connection gave its row: SQLite's rowid, PostgreSQL's
 * lastval() (the last identity value drawn by this session; one round trip). 0 when none. */
int64_t db_last_insert_rowid(struct db *db);

/* True while a transaction is open on this connection. */
bool db_in_transaction(struct db *db);

/* Busy timeout in milliseconds: SQLite waits that long for another connection's write lock;
 * PostgreSQL sets lock_timeout (a lock wait past it fails with DB_BUSY). */
void db_busy_timeout(struct db *db, int ms);

/* Reset every statement of the connection that is part way through its rows (before a
 * ROLLBACK: SQLite refuses to roll back under a running statement). */
void db_reset_all(struct db *db);

/* ---------------------------------------------------------------- statements */

/*
 * Prepare the first statement of `sql` (SQLite syntax for parameters: ?N or ?). persistent:
 * the statement is kept and run many times (SQLite: SQLITE_PREPARE_PERSISTENT; PostgreSQL: a
 * named server-side statement). DB_OK with *out set (end it with db_finalize), or an error with
 * *out NULL (db_errmsg says why).
 */
int db_prepare(struct db *db, const char *sql, bool persistent, struct db_stmt **out);

/* Finalize (free) a statement. NULL is fine. */
void db_finalize(struct db_stmt *st);

int db__pg_reset(struct db_stmt *st);
int db__pg_clear_bindings(struct db_stmt *st);
int db__pg_bind_int64(struct db_stmt *st, int i, int64_t v);
int db__pg_bind_text(struct db_stmt *st, int i, const char *v, int n);
int db__pg_bind_null(struct db_stmt *st, int i);
int db__pg_step(struct db_stmt *st);
int64_t db__pg_column_int64(struct db_stmt *st, int i);
const unsigned char *db__pg_column_text(struct db_stmt *st, int i);
int db__pg_column_bytes(struct db_stmt *st, int i);
int db__pg_column_type(struct db_stmt *st, int i);

/* Back to the start: rows of the last run dropped, bindings kept. DB_OK. */
static inline int db_reset(struct db_stmt *st)
{
    return st->lite != NULL ? sqlite3_reset(st->lite) : db__pg_reset(st);
}

/* Every parameter back to NULL. DB_OK. */
static inline int db_clear_bindings(struct db_stmt *st)
{
    return st->lite != NULL ? sqlite3_clear_bindings(st->lite) : db__pg_clear_bindings(st);
}

/* Bind parameter i (1-based). DB_OK, or DB_NOMEM / DB_ERROR (index out of range). */
static inline int db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    return st->lite != NULL ? sqlite3_bind_int64(st->lite, i, v) : db__pg_bind_int64(st, i, v);
}

static inline int db_bind_int(struct db_stmt *st, int i, int v)
{
    return st->lite != NULL ? sqlite3_bind_int(st->lite, i, v) : db__pg_bind_int64(st, i, v);
}

/* Text: n bytes (n < 0: up to the NUL). NULL v binds NULL. DB_STATIC: v stays valid until the
 * statement is stepped (PostgreSQL copies it anyway); DB_TRANSIENT: copied now. */
static inline int db_bind_text(struct db_stmt *st, int i, const char *v, int n,
                               sqlite3_destructor_type d)
{
    return st->lite != NULL ? sqlite3_bind_text(st->lite, i, v, n, d)
                            : db__pg_bind_text(st, i, v, n);
}

static inline int db_bind_null(struct db_stmt *st, int i)
{
    return st->lite != NULL ? sqlite3_bind_null(st->lite, i) : db__pg_bind_null(st, i);
}

/* Run or go on: DB_ROW (a row is ready), DB_DONE, or an error code. */
static inline int db_step(struct db_stmt *st)
{
    return st->lite != NULL ? sqlite3_step(st->lite) : db__pg_step(st);
}

/* Column i (0-based) of the current row. Text is owned by the statement, valid until the next
 * db_step / db_reset / db_finalize; NULL for an SQL NULL. */
static inline int64_t db_column_int64(struct db_stmt *st, int i)
{
    return st->lite != NULL ? sqlite3_column_int64(st->lite, i) : db__pg_column_int64(st, i);
}

static inline int db_column_int(struct db_stmt *st, int i)
{
    return st->lite != NULL ? sqlite3_column_int(st->lite, i) : (int)db__pg_column_int64(st, i);
}

static inline const unsigned char *db_column_text(struct db_stmt *st, int i)
{
    return st->lite != NULL ? sqlite3_column_text(st->lite, i) : db__pg_column_text(st, i);
}

/* Bytes of column i's text (after db_column_text). */
static inline int db_column_bytes(struct db_stmt *st, int i)
{
    return st->lite != NULL ? sqlite3_column_bytes(st->lite, i) : db__pg_column_bytes(st, i);
}

/* DB_NULL, DB_INTEGER, DB_TEXT (or SQLite's other types). */
static inline int db_column_type(struct db_stmt *st, int i)
{
    return st->lite != NULL ? sqlite3_column_type(st->lite, i) : db__pg_column_type(st, i);
}

#endif
