/*
 * sql — the lowest file of store/: the SQLite connection's prepared-statement cache, error
 * recording, stepping, transactions (with the commit latency histogram and the commit hook),
 * and bind / column helpers. Every other file of store/ uses it; it uses none of them (this is
 * what keeps store.c and board.c from calling each other: both call down to here). The names
 * keep the store__ prefix of store_int.h, where they are declared, so the callers did not
 * change.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const stmt_sql[ST__COUNT] = {
#define STORE_STMT_SQL(name, sql) [ST_##name] = sql,
    STORE_STMTS(STORE_STMT_SQL)
#undef STORE_STMT_SQL
};

/* PostgreSQL's spelling of the statements it spells differently (NULL: the same text). */
static const char *const stmt_sql_pg[ST__COUNT] = {
#define STORE_STMT_SQL(name, sql) [ST_##name] = sql,
    STORE_STMTS_PG(STORE_STMT_SQL)
#undef STORE_STMT_SQL
};

const char *store__sql(const struct store *s, enum store_stmt id)
{
    return s->db->kind == DB_POSTGRES && stmt_sql_pg[id] != NULL ? stmt_sql_pg[id] : stmt_sql[id];
}

/* ---------------------------------------------------------------- errors and statements */

void store__error(struct store *s, const char *what)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, db_errmsg(s->db));
    fprintf(stderr, "store: %s\n", s->errmsg);
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg;
}

struct db_stmt *store__stmt(struct store *s, enum store_stmt id)
{
    struct db_stmt *st = s->stmts[id];

    if (st == NULL) {
        if (db_prepare(s->db, store__sql(s, id), true, &st) != DB_OK) {
            store__error(s, "prepare");
            return NULL;
        }
        s->stmts[id] = st;
    }
    db_reset(st);
    db_clear_bindings(st);
    return st;
}

int store__run(struct store *s, struct db_stmt *st, const char *what, int *rc)
{
    int r = db_step(st);
    if (r == DB_ROW)            /* INSERT .. RETURNING is not used; treat as done */
        r = DB_DONE;
    if (r != DB_DONE) {
        if (rc != NULL)
            *rc = db_errcode(s->db);
        store__error(s, what);
        db_reset(st);
        return PB_EINTERNAL;
    }
    if (rc != NULL)
        *rc = DB_OK;
    db_reset(st);
    return 0;
}

int store__begin(struct store *s)
{
    bool nest = !!db_in_transaction(s->db);
    struct db_stmt *st = store__stmt(s, nest ? ST_NEST_BEGIN : ST_BEGIN);
    if (st == NULL || store__run(s, st, "begin", NULL) != 0)
        return PB_EINTERNAL;
    s->nested = nest;
    return 0;
}

const double pb_commit_bounds[PB_COMMIT_BUCKETS - 1] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0
};

const struct pb_histogram *store_commit_histogram(const struct store *s)
{
    return &s->commits;
}

static void commit_observe(struct store *s, double seconds)
{
    size_t i = 0;
    while (i < PB_COMMIT_BUCKETS - 1 && seconds > pb_commit_bounds[i])
        i++;
    s->commits.counts[i]++;
    s->commits.count++;
    s->commits.sum_seconds += seconds;
}

struct db_stmt *store__prepare(struct store *s, const char *sql, const char *what)
{
    struct db_stmt *st = NULL;
    if (db_prepare(s->db, sql, false, &st) != DB_OK) {
        store__error(s, what);
        return NULL;
    }
    return st;
}

int store__step_row(struct store *s, struct db_stmt *st, const char *what)
{
    int r = db_step(st);
    if (r == DB_ROW)
        return 1;
    if (r == DB_DONE)
        return 0;
    store__error(s, what);
    return PB_EINTERNAL;
}

int store__run_final(struct store *s, struct db_stmt *st, const char *what, int *ext,
                     int *changes)
{
    int r = db_step(st);
    int x = db_errcode(s->db);
    if (r != DB_DONE)
        store__error(s, what);
    else if (changes != NULL)
        *changes = db_changes(s->db);
    db_finalize(st);
    if (ext != NULL)
        *ext = r == DB_DONE ? DB_OK : x;
    return r == DB_DONE ? 0 : PB_EINTERNAL;
}

int store__commit(struct store *s)
{
    struct timespec t0, t1;
    if (s->nested) {
        struct db_stmt *rel = store__stmt(s, ST_NEST_RELEASE);
        if (rel == NULL || store__run(s, rel, "release", NULL) != 0) {
            store__rollback(s);
            return PB_EINTERNAL;
        }
        s->nested = false;
        return 0;
    }
    struct db_stmt *st = store__stmt(s, ST_COMMIT);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (st == NULL || store__run(s, st, "commit", NULL) != 0) {
        store__rollback(s);
        return PB_EINTERNAL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    commit_observe(s, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    s->commit_seq++;
    if (s->on_commit != NULL)
        s->on_commit(s->on_commit_ctx, s->commit_seq);
    return 0;
}

void store_commit_noted(struct store *s)
{
    s->commit_seq++;
    if (s->on_commit != NULL)
        s->on_commit(s->on_commit_ctx, s->commit_seq);
}

void store_set_commit_hook(struct store *s, store_commit_fn cb, void *ctx)
{
    s->on_commit = cb;
    s->on_commit_ctx = ctx;
}

uint64_t store_commit_seq(const struct store *s)
{
    return s->commit_seq;
}

const char *store_wal_path(const struct store *s)
{
    return s->wal_path;
}

void store__rollback(struct store *s)
{
    /* Reset every statement first: a statement still running would make ROLLBACK fail with
     * SQLITE_BUSY in older SQLite versions. */
    for (size_t i = 0; i < ST__COUNT; i++)
        if (s->stmts[i] != NULL)
            db_reset(s->stmts[i]);
    if (!db_in_transaction(s->db)) {
        s->nested = false;
        return;                     /* SQLite already rolled back (e.g. after SQLITE_FULL) */
    }
    if (s->nested) {                /* undo the savepoint's work, then end it */
        s->nested = false;
        struct db_stmt *to = store__stmt(s, ST_NEST_ROLLBACK);
        struct db_stmt *rel = to != NULL && db_step(to) == DB_DONE
                          ? store__stmt(s, ST_NEST_RELEASE) : NULL;
        if (rel == NULL || db_step(rel) != DB_DONE)
            fprintf(stderr, "store: rollback to savepoint: %s\n", db_errmsg(s->db));
        if (to != NULL)
            db_reset(to);
        if (rel != NULL)
            db_reset(rel);
        return;
    }
    struct db_stmt *st = store__stmt(s, ST_ROLLBACK);
    if (st == NULL || db_step(st) != DB_DONE)
        fprintf(stderr, "store: rollback: %s\n", db_errmsg(s->db));
    if (st != NULL)
        db_reset(st);
}

void store__bind_text_opt(struct db_stmt *st, int i, const char *v)
{
    if (v == NULL || *v == '\0')
        db_bind_null(st, i);
    else
        db_bind_text(st, i, v, -1, DB_STATIC);
}

void store__bind_id_opt(struct db_stmt *st, int i, int64_t id)
{
    if (id == 0)
        db_bind_null(st, i);
    else
        db_bind_int64(st, i, id);
}

char *store__col_strdup(struct db_stmt *st, int i)
{
    const char *v = (const char *)db_column_text(st, i);
    return strdup(v != NULL ? v : "");
}

void store__col_copy(struct db_stmt *st, int i, char *buf, size_t size)
{
    const char *v = (const char *)db_column_text(st, i);
    snprintf(buf, size, "%s", v != NULL ? v : "");
}

int store_exec(struct store *s, const char *sql)
{
    if (db_exec(s->db, sql) != DB_OK) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", db_errmsg(s->db));
        if (!s->quiet)
            fprintf(stderr, "store: exec: %s\n", s->errmsg);
        return PB_EINTERNAL;
    }
    return 0;
}
