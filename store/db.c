/*
 * db — the SQLite and PostgreSQL sides of db.h. The SQLite side is mostly in db.h (inline);
 * here are the connection calls and the whole libpq emulation of SQLite's statement calls.
 */
#include "store/db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PG_MAX_PARAMS 64

struct pg_conn {
    PGconn *conn;
    unsigned gen;               /* +1 at each reconnect: server-side statements are gone */
    bool tx_lost;               /* the connection broke inside a transaction: every statement
                                 * fails until the caller's ROLLBACK (or a new BEGIN) */
    char errmsg[512];
    int errcode;                /* SQLite-style code of the last error */
    int changes;                /* rows of the last command */
    int64_t total_changes;
    unsigned next_name;         /* for server-side statement names */
    struct db_stmt *stmts;      /* not owned: for db_reset_all (a linked list via pg->next) */
};

struct pg_stmt {
    char name[24];              /* "" for a one-off statement */
    char *sql;                  /* the $N text (one-off statements run it with PQexecParams) */
    int nparams;
    unsigned gen;               /* the connection's gen when prepared on the server */
    char verb;                  /* 'B' BEGIN, 'R' ROLLBACK (of the transaction), 0 other */
    Oid types[PG_MAX_PARAMS];   /* 0 (PostgreSQL infers it), or text for a number the SQL
                                 * skips (SQLite allows ?1 ?5 without ?2; PostgreSQL cannot
                                 * type a parameter it never sees) */
    char *values[PG_MAX_PARAMS];
    PGresult *res;              /* the last run's rows, or NULL */
    int row;                    /* current row; -1 before the first */
    bool ran;
    struct db_stmt *prev, *next;
};

/* ---------------------------------------------------------------- errors */

static void pg_set_error(struct db *db, const PGresult *r, const char *what)
{
    struct pg_conn *p = db->pg;
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(p->conn);
    size_t n;

    snprintf(p->errmsg, sizeof(p->errmsg), "%s%s%s", what != NULL ? what : "",
             what != NULL ? ": " : "", msg != NULL && msg[0] ? msg : "PostgreSQL error");
    n = strlen(p->errmsg);
    while (n > 0 && (p->errmsg[n - 1] == '\n' || p->errmsg[n - 1] == ' '))
        p->errmsg[--n] = '\0';
    if (state == NULL)
        p->errcode = PQstatus(p->conn) == CONNECTION_OK ? DB_ERROR : SQLITE_IOERR;
    else if (strcmp(state, "23505") == 0)
        p->errcode = DB_CONSTRAINT_UNIQUE;
    else if (strncmp(state, "23", 2) == 0)
        p->errcode = DB_CONSTRAINT;
    else if (strcmp(state, "53100") == 0)
        p->errcode = DB_FULL;
    else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0
             || strcmp(state, "55P03") == 0)
        p->errcode = DB_BUSY;
    else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        p->errcode = SQLITE_IOERR;      /* connection lost, server shutting down */
    else
        p->errcode = DB_ERROR;
}

/* ---------------------------------------------------------------- connections */

/* 'B' for BEGIN / START TRANSACTION, 'R' for ROLLBACK of the whole transaction (not ROLLBACK
 * TO a savepoint), 0 for anything else. */
static char sql_verb(const char *sql)
{
    while (*sql == ' ' || *sql == '\n')
        sql++;
    if (strncasecmp(sql, "BEGIN", 5) == 0 || strncasecmp(sql, "START TRANSACTION", 17) == 0)
        return 'B';
    if (strncasecmp(sql, "ROLLBACK", 8) == 0) {
        const char *t = sql + 8;
        while (*t == ' ')
            t++;
        return strncasecmp(t, "TO", 2) == 0 ? 0 : 'R';
    }
    return 0;
}

/* ---------------------------------------------------------------- round trips of this thread
 * Every blocking libpq call below goes through these, which count the calling thread's round
 * trips and the wall time spent in them (db_thread_waits): the loop thread's figures are how
 * long the loop waited on PostgreSQL (GET /metrics, docs/postgresql.md "What still waits on
 * the loop"). The bus (store/bus.c) uses the non-blocking calls and is not counted. */
static _Thread_local uint64_t tl_round_trips, tl_wait_ns;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void counted(uint64_t t0)
{
    tl_round_trips++;
    tl_wait_ns += mono_ns() - t0;
}

static PGresult *t_exec(PGconn *c, const char *sql)
{
    uint64_t t0 = mono_ns();
    PGresult *r = PQexec(c, sql);
    counted(t0);
    return r;
}

static PGresult *t_prepare(PGconn *c, const char *name, const char *sql, int n, const Oid *types)
{
    uint64_t t0 = mono_ns();
    PGresult *r = PQprepare(c, name, sql, n, types);
    counted(t0);
    return r;
}

static PGresult *t_exec_prepared(PGconn *c, const char *name, int n, const char *const *values,
                                 const int *lengths, const int *formats, int result_format)
{
    uint64_t t0 = mono_ns();
    PGresult *r = PQexecPrepared(c, name, n, values, lengths, formats, result_format);
    counted(t0);
    return r;
}

static PGresult *t_exec_params(PGconn *c, const char *sql, int n, const Oid *types,
                               const char *const *values, const int *lengths,
                               const int *formats, int result_format)
{
    uint64_t t0 = mono_ns();
    PGresult *r = PQexecParams(c, sql, n, types, values, lengths, formats, result_format);
    counted(t0);
    return r;
}

static void t_reset(PGconn *c)
{
    uint64_t t0 = mono_ns();
    PQreset(c);
    counted(t0);
}

void db_thread_waits(uint64_t *round_trips, uint64_t *wait_ns)
{
    *round_trips = tl_round_trips;
    *wait_ns = tl_wait_ns;
}

static void notice_quiet(void *arg, const char *message);

/* What every new session needs: quiet notices, UTC, UTF-8. 0 or -1. */
static int pg_session_setup(PGconn *c)
{
    PQsetNoticeProcessor(c, notice_quiet, NULL);
    PGresult *r = t_exec(c, "SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8'");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

/*
 * Before running a statement with verb `verb`: when the connection is broken, reconnect
 * (PQreset, blocking) — but only outside a transaction, or at the BEGIN of a new one: a
 * statement of a transaction that was lost must not run on a fresh session in autocommit
 * (half a change would commit). Returns true when the statement may run; false with the
 * error recorded (SQLITE_IOERR: the caller's transaction is gone; PostgreSQL is down). A
 * ROLLBACK of a lost transaction is answered true by *done (nothing left to roll back).
 */
static bool pg_ready(struct db *db, char verb, bool *done)
{
    struct pg_conn *p = db->pg;
    *done = false;
    if (p->tx_lost) {
        if (verb == 'R') {
            p->tx_lost = false;
            *done = true;               /* the server rolled it back when the session died */
            return false;
        }
        if (verb != 'B') {
            snprintf(p->errmsg, sizeof(p->errmsg), "the connection to PostgreSQL was lost "
                     "inside a transaction");
            p->errcode = SQLITE_IOERR;
            return false;
        }
        p->tx_lost = false;
    }
    if (PQstatus(p->conn) == CONNECTION_OK)
        return true;
    t_reset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK || pg_session_setup(p->conn) != 0) {
        pg_set_error(db, NULL, "reconnect");
        p->errcode = SQLITE_IOERR;
        return false;
    }
    p->gen++;
    return true;
}

/* A statement failed: when the connection turned out broken (the server restarted since it
 * was last used: libpq learns it only by trying) and nothing of a transaction was lost with it
 * (the statement ran outside one, or began one), reconnect so the caller may run it once more.
 * True when it may. */
static bool pg_retry_after_break(struct db *db, bool was_in_tx, char verb)
{
    bool done;
    if (PQstatus(db->pg->conn) == CONNECTION_OK || (was_in_tx && verb != 'B'))
        return false;
    return pg_ready(db, verb, &done);
}

/* After a failed command: a broken connection inside a transaction loses it. */
static void pg_after_error(struct db *db, bool was_in_tx)
{
    if (PQstatus(db->pg->conn) != CONNECTION_OK && was_in_tx)
        db->pg->tx_lost = true;
}

bool db_url_is_postgres(const char *url)
{
    return url != NULL
        && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
}

static void notice_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;              /* "relation already exists, skipping" and the like */
}

/* PQconnectdb with a bound on the connect (and on every PQreset of the connection, which reuses
 * these parameters): connect_timeout 5 s unless the URL names its own (the URL's keys come after
 * and win). Without it a PostgreSQL host that drops packets holds the caller for the kernel's
 * TCP timeout (minutes). */
static PGconn *connect_bounded(const char *url)
{
    static const char *const keys[] = { "connect_timeout", "dbname", NULL };
    const char *const vals[] = { "5", url, NULL };
    return PQconnectdbParams(keys, vals, 1);
}

int db_open(struct db **out, const char *url, int sqlite_flags, char *err, size_t errlen)
{
    struct db *db = calloc(1, sizeof(*db));

    *out = NULL;
    if (db == NULL) {
        snprintf(err, errlen, "out of memory");
        return DB_NOMEM;
    }
    if (!db_url_is_postgres(url)) {
        db->kind = DB_SQLITE;
        if (sqlite3_open_v2(url, &db->lite, sqlite_flags, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s", db->lite != NULL ? sqlite3_errmsg(db->lite)
                                                         : "out of memory");
            sqlite3_close(db->lite);
            free(db);
            return DB_ERROR;
        }
        *out = db;
        return DB_OK;
    }
    db->kind = DB_POSTGRES;
    if ((db->pg = calloc(1, sizeof(*db->pg))) == NULL) {
        free(db);
        snprintf(err, errlen, "out of memory");
        return DB_NOMEM;
    }
    db->pg->conn = connect_bounded(url);
    if (db->pg->conn == NULL || PQstatus(db->pg->conn) != CONNECTION_OK) {
        const char *m = db->pg->conn != NULL ? PQerrorMessage(db->pg->conn) : "out of memory";
        size_t n;
        snprintf(err, errlen, "PostgreSQL: %s", m);
        n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        PQfinish(db->pg->conn);
        free(db->pg);
        free(db);
        return DB_ERROR;
    }
    /* Timestamps the server makes (now()) are UTC; text compares as SQLite's does. */
    if (pg_session_setup(db->pg->conn) != 0) {
        snprintf(err, errlen, "PostgreSQL: session set-up failed");
        db_close(db);
        return DB_ERROR;
    }
    *out = db;
    return DB_OK;
}

struct db *db_wrap_sqlite(sqlite3 *lite)
{
    struct db *db = calloc(1, sizeof(*db));
    if (db == NULL) {
        sqlite3_close(lite);
        return NULL;
    }
    db->kind = DB_SQLITE;
    db->lite = lite;
    return db;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    if (db->lite != NULL)
        sqlite3_close(db->lite);
    if (db->pg != NULL) {
        PQfinish(db->pg->conn);
        free(db->pg);
    }
    free(db);
}

const char *db_errmsg(struct db *db)
{
    if (db->kind == DB_SQLITE)
        return sqlite3_errmsg(db->lite);
    return db->pg->errmsg[0] ? db->pg->errmsg : "not an error";
}

int db_errcode(struct db *db)
{
    return db->kind == DB_SQLITE ? sqlite3_extended_errcode(db->lite) : db->pg->errcode;
}

int db_exec(struct db *db, const char *sql)
{
    if (db->kind == DB_SQLITE) {
        char *msg = NULL;
        int rc = sqlite3_exec(db->lite, sql, NULL, NULL, &msg);
        sqlite3_free(msg);
        return rc;
    }
    bool done, tx = db_in_transaction(db);
    char verb = sql_verb(sql);
    if (!pg_ready(db, verb, &done))
        return done ? DB_OK : db->pg->errcode;
    PGresult *r = t_exec(db->pg->conn, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY
        && pg_retry_after_break(db, tx, verb)) {   /* the server restarted since the last use */
        PQclear(r);
        r = t_exec(db->pg->conn, sql);
        s = PQresultStatus(r);
    }
    int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY
           ? DB_OK : DB_ERROR;
    if (rc != DB_OK) {
        pg_set_error(db, r, NULL);
        pg_after_error(db, tx);
    } else {
        db->pg->errcode = DB_OK;
    }
    PQclear(r);
    return rc == DB_OK ? DB_OK : db->pg->errcode;
}

int db_changes(struct db *db)
{
    return db->kind == DB_SQLITE ? sqlite3_changes(db->lite) : db->pg->changes;
}

int64_t db_total_changes(struct db *db)
{
    return db->kind == DB_SQLITE ? sqlite3_total_changes64(db->lite) : db->pg->total_changes;
}

int64_t db_last_insert_rowid(struct db *db)
{
    if (db->kind == DB_SQLITE)
        return sqlite3_last_insert_rowid(db->lite);
    /* Inside a failed transaction this would fail too; a savepoint keeps a "no identity drawn
     * yet" error from aborting the caller's transaction. */
    bool tx = db_in_transaction(db);
    if (tx)
        PQclear(t_exec(db->pg->conn, "SAVEPOINT pb_lastval"));
    PGresult *r = t_exec(db->pg->conn, "SELECT lastval()");
    int64_t id = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (tx)
        PQclear(t_exec(db->pg->conn, id != 0 ? "RELEASE pb_lastval"
                                             : "ROLLBACK TO pb_lastval; RELEASE pb_lastval"));
    return id;
}

bool db_in_transaction(struct db *db)
{
    if (db->kind == DB_SQLITE)
        return !sqlite3_get_autocommit(db->lite);
    PGTransactionStatusType t = PQtransactionStatus(db->pg->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

void db_busy_timeout(struct db *db, int ms)
{
    if (db->kind == DB_SQLITE) {
        sqlite3_busy_timeout(db->lite, ms);
        return;
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "SET lock_timeout = %d", ms > 0 ? ms : 0);
    if (!db_in_transaction(db))         /* inside one, SET would end with the transaction */
        db_exec(db, sql);
}

void db_reset_all(struct db *db)
{
    if (db->kind == DB_SQLITE) {
        for (sqlite3_stmt *s = sqlite3_next_stmt(db->lite, NULL); s != NULL;
             s = sqlite3_next_stmt(db->lite, s))
            if (sqlite3_stmt_busy(s))
                sqlite3_reset(s);
        return;
    }
    for (struct db_stmt *s = db->pg->stmts; s != NULL; s = s->pg->next)
        db__pg_reset(s);
}

/* ---------------------------------------------------------------- statements */

/* SQLite's ?N / ? marks -> $N, outside quotes and comments. Returns a malloc'd string and the
 * highest parameter number in *nparams, or NULL (out of memory, more than PG_MAX_PARAMS). */
static char *pg_rewrite(const char *sql, int *nparams, Oid types[PG_MAX_PARAMS])
{
    bool used[PG_MAX_PARAMS + 1] = { false };
    size_t n = strlen(sql);
    char *out = malloc(n * 3 + 1);      /* "?" -> "$NN": at most three bytes for one */
    size_t o = 0;
    int next = 0, max = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = sql[i];
        if (c == '\'' || c == '"') {    /* copy a quoted string or name whole */
            out[o++] = c;
            for (i++; i < n; i++) {
                out[o++] = sql[i];
                if (sql[i] == c)
                    break;
            }
            continue;
        }
        if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
            while (i < n && sql[i] != '\n')
                out[o++] = sql[i++];
            if (i < n)
                out[o++] = '\n';
            continue;
        }
        if (c != '?') {
            out[o++] = c;
            continue;
        }
        int k = 0;
        size_t j = i + 1;
        while (j < n && sql[j] >= '0' && sql[j] <= '9' && k < 1000)
            k = k * 10 + (sql[j++] - '0');
        if (j == i + 1)
            k = ++next;                 /* a bare ? is the next number */
        else
            next = k;
        if (k < 1 || k > PG_MAX_PARAMS) {
            free(out);
            return NULL;
        }
        if (k > max)
            max = k;
        used[k] = true;
        o += (size_t)sprintf(out + o, "$%d", k);
        i = j - 1;
    }
    out[o] = '\0';
    *nparams = max;
    for (int i = 1; i <= max; i++)
        types[i - 1] = used[i] ? 0 : 25;        /* 25: text */
    return out;
}

int db_prepare(struct db *db, const char *sql, bool persistent, struct db_stmt **out)
{
    struct db_stmt *st = calloc(1, sizeof(*st));

    *out = NULL;
    if (st == NULL)
        return DB_NOMEM;
    st->db = db;
    if (db->kind == DB_SQLITE) {
        int rc = persistent
               ? sqlite3_prepare_v3(db->lite, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->lite, NULL)
               : sqlite3_prepare_v2(db->lite, sql, -1, &st->lite, NULL);
        if (rc != SQLITE_OK || st->lite == NULL) {
            sqlite3_finalize(st->lite);
            free(st);
            return rc != SQLITE_OK ? rc : DB_ERROR;     /* NULL: no statement in sql */
        }
        *out = st;
        return DB_OK;
    }
    struct pg_conn *p = db->pg;
    struct pg_stmt *ps = calloc(1, sizeof(*ps));
    if (ps == NULL) {
        free(st);
        return DB_NOMEM;
    }
    st->pg = ps;
    ps->row = -1;
    ps->verb = sql_verb(sql);
    ps->gen = p->gen;
    ps->sql = pg_rewrite(sql, &ps->nparams, ps->types);
    if (ps->sql == NULL) {
        snprintf(p->errmsg, sizeof(p->errmsg), "prepare: too many parameters or no memory");
        p->errcode = DB_ERROR;
        free(ps);
        free(st);
        return DB_ERROR;
    }
    if (persistent) {
        snprintf(ps->name, sizeof(ps->name), "pb%u", ++p->next_name);
        PGresult *r = t_prepare(p->conn, ps->name, ps->sql, ps->nparams, ps->types);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            pg_set_error(db, r, "prepare");
            PQclear(r);
            free(ps->sql);
            free(ps);
            free(st);
            return p->errcode;
        }
        PQclear(r);
    }
    ps->next = p->stmts;                /* linked for db_reset_all */
    if (p->stmts != NULL)
        p->stmts->pg->prev = st;
    p->stmts = st;
    *out = st;
    return DB_OK;
}

void db_finalize(struct db_stmt *st)
{
    if (st == NULL)
        return;
    if (st->lite != NULL) {
        sqlite3_finalize(st->lite);
        free(st);
        return;
    }
    struct pg_stmt *ps = st->pg;
    struct pg_conn *p = st->db->pg;
    if (ps->prev != NULL)
        ps->prev->pg->next = ps->next;
    else
        p->stmts = ps->next;
    if (ps->next != NULL)
        ps->next->pg->prev = ps->prev;
    if (ps->name[0] != '\0' && PQstatus(p->conn) == CONNECTION_OK) {
        char sql[48];
        snprintf(sql, sizeof(sql), "DEALLOCATE %s", ps->name);
        if (!db_in_transaction(st->db) || PQtransactionStatus(p->conn) == PQTRANS_INTRANS)
            PQclear(t_exec(p->conn, sql));
    }
    PQclear(ps->res);
    for (int i = 0; i < PG_MAX_PARAMS; i++)
        free(ps->values[i]);
    free(ps->sql);
    free(ps);
    free(st);
}

int db__pg_reset(struct db_stmt *st)
{
    struct pg_stmt *ps = st->pg;
    PQclear(ps->res);
    ps->res = NULL;
    ps->row = -1;
    ps->ran = false;
    return DB_OK;
}

int db__pg_clear_bindings(struct db_stmt *st)
{
    struct pg_stmt *ps = st->pg;
    for (int i = 0; i < ps->nparams; i++) {
        free(ps->values[i]);
        ps->values[i] = NULL;
    }
    return DB_OK;
}

static int pg_bind(struct db_stmt *st, int i, char *v)
{
    struct pg_stmt *ps = st->pg;
    if (i < 1 || i > ps->nparams) {
        free(v);
        return SQLITE_RANGE;
    }
    free(ps->values[i - 1]);
    ps->values[i - 1] = v;
    return DB_OK;
}

int db__pg_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return DB_NOMEM;
    memcpy(s, buf, (size_t)n + 1);
    return pg_bind(st, i, s);
}

int db__pg_bind_text(struct db_stmt *st, int i, const char *v, int n)
{
    if (v == NULL)
        return pg_bind(st, i, NULL);
    size_t len = n < 0 ? strlen(v) : (size_t)n;
    if (memchr(v, '\0', len) != NULL)   /* PostgreSQL text holds no NUL: cut there */
        len = strlen(v);
    char *s = malloc(len + 1);
    if (s == NULL)
        return DB_NOMEM;
    memcpy(s, v, len);
    s[len] = '\0';
    return pg_bind(st, i, s);
}

int db__pg_bind_null(struct db_stmt *st, int i)
{
    return pg_bind(st, i, NULL);
}

/* Run st once (prepared again first on a new session). The result, or NULL. */
static PGresult *pg_run(struct db_stmt *st)
{
    struct pg_stmt *ps = st->pg;
    struct pg_conn *p = st->db->pg;
    if (ps->name[0] != '\0' && ps->gen != p->gen) {   /* reconnected: prepare again */
        PGresult *pr = t_prepare(p->conn, ps->name, ps->sql, ps->nparams, ps->types);
        bool ok = PQresultStatus(pr) == PGRES_COMMAND_OK;
        if (!ok)
            return pr;                  /* its error is the statement's */
        PQclear(pr);
        ps->gen = p->gen;
    }
    return ps->name[0] != '\0'
        ? t_exec_prepared(p->conn, ps->name, ps->nparams, (const char *const *)ps->values,
                         NULL, NULL, 0)
        : t_exec_params(p->conn, ps->sql, ps->nparams, ps->types,
                       (const char *const *)ps->values, NULL, NULL, 0);
}

int db__pg_step(struct db_stmt *st)
{
    struct pg_stmt *ps = st->pg;
    struct pg_conn *p = st->db->pg;

    if (!ps->ran) {
        bool done, tx = db_in_transaction(st->db);
        ps->ran = true;
        ps->row = -1;
        if (!pg_ready(st->db, ps->verb, &done))
            return done ? DB_DONE : p->errcode;
        PGresult *r = pg_run(st);
        ExecStatusType s = PQresultStatus(r);
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK
            && pg_retry_after_break(st->db, tx, ps->verb)) {
            PQclear(r);                 /* the server restarted since the last use: again */
            r = pg_run(st);
            s = PQresultStatus(r);
        }
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
            pg_set_error(st->db, r, NULL);
            PQclear(r);
            pg_after_error(st->db, tx);
            return p->errcode;
        }
        const char *ct = PQcmdTuples(r);
        p->changes = ct != NULL && ct[0] ? atoi(ct) : 0;
        p->total_changes += p->changes;
        p->errcode = DB_OK;
        if (s == PGRES_COMMAND_OK) {
            PQclear(r);
            return DB_DONE;
        }
        PQclear(ps->res);
        ps->res = r;
    }
    if (ps->res == NULL)
        return DB_DONE;
    if (ps->row + 1 < PQntuples(ps->res)) {
        ps->row++;
        return DB_ROW;
    }
    PQclear(ps->res);
    ps->res = NULL;
    return DB_DONE;
}

static bool pg_has(struct db_stmt *st, int i)
{
    struct pg_stmt *ps = st->pg;
    return ps->res != NULL && ps->row >= 0 && i >= 0 && i < PQnfields(ps->res)
        && !PQgetisnull(ps->res, ps->row, i);
}

int64_t db__pg_column_int64(struct db_stmt *st, int i)
{
    if (!pg_has(st, i))
        return 0;
    const char *v = PQgetvalue(st->pg->res, st->pg->row, i);
    if (v[0] == 't' && v[1] == '\0')    /* a boolean expression */
        return 1;
    return strtoll(v, NULL, 10);
}

const unsigned char *db__pg_column_text(struct db_stmt *st, int i)
{
    if (!pg_has(st, i))
        return NULL;
    return (const unsigned char *)PQgetvalue(st->pg->res, st->pg->row, i);
}

int db__pg_column_bytes(struct db_stmt *st, int i)
{
    return pg_has(st, i) ? PQgetlength(st->pg->res, st->pg->row, i) : 0;
}

int db__pg_column_type(struct db_stmt *st, int i)
{
    if (!pg_has(st, i))
        return DB_NULL;
    switch (PQftype(st->pg->res, i)) {
    case 20: case 21: case 23: case 16:         /* int8, int2, int4, bool */
        return DB_INTEGER;
    case 700: case 701: case 1700:              /* float4, float8, numeric */
        return SQLITE_FLOAT;
    default:
        return DB_TEXT;
    }
}
