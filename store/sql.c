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

/* ---------------------------------------------------------------- errors and statements */

void store__error(struct store *s, const char *what)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, sqlite3_errmsg(s->db));
    fprintf(stderr, "store: %s\n", s->errmsg);
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg;
}

sqlite3_stmt *store__stmt(struct store *s, enum store_stmt id)
{
    sqlite3_stmt *st = s->stmts[id];

    if (st == NULL) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL)
            != SQLITE_OK) {
            store__error(s, "prepare");
            return NULL;
        }
        s->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int store__run(struct store *s, sqlite3_stmt *st, const char *what, int *rc)
{
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)            /* INSERT .. RETURNING is not used; treat as done */
        r = SQLITE_DONE;
    if (r != SQLITE_DONE) {
        if (rc != NULL)
            *rc = sqlite3_extended_errcode(s->db);
        store__error(s, what);
        sqlite3_reset(st);
        return PB_EINTERNAL;
    }
    if (rc != NULL)
        *rc = SQLITE_OK;
    sqlite3_reset(st);
    return 0;
}

int store__begin(struct store *s)
{
    bool nest = !sqlite3_get_autocommit(s->db);
    sqlite3_stmt *st = store__stmt(s, nest ? ST_NEST_BEGIN : ST_BEGIN);
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

sqlite3_stmt *store__prepare(struct store *s, const char *sql, const char *what)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        store__error(s, what);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int store__step_row(struct store *s, sqlite3_stmt *st, const char *what)
{
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        return 1;
    if (r == SQLITE_DONE)
        return 0;
    store__error(s, what);
    return PB_EINTERNAL;
}

int store__run_final(struct store *s, sqlite3_stmt *st, const char *what, int *ext,
                     int *changes)
{
    int r = sqlite3_step(st);
    int x = sqlite3_extended_errcode(s->db);
    if (r != SQLITE_DONE)
        store__error(s, what);
    else if (changes != NULL)
        *changes = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    if (ext != NULL)
        *ext = r == SQLITE_DONE ? SQLITE_OK : x;
    return r == SQLITE_DONE ? 0 : PB_EINTERNAL;
}

int store__commit(struct store *s)
{
    struct timespec t0, t1;
    if (s->nested) {
        sqlite3_stmt *rel = store__stmt(s, ST_NEST_RELEASE);
        if (rel == NULL || store__run(s, rel, "release", NULL) != 0) {
            store__rollback(s);
            return PB_EINTERNAL;
        }
        s->nested = false;
        return 0;
    }
    sqlite3_stmt *st = store__stmt(s, ST_COMMIT);
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
            sqlite3_reset(s->stmts[i]);
    if (sqlite3_get_autocommit(s->db)) {
        s->nested = false;
        return;                     /* SQLite already rolled back (e.g. after SQLITE_FULL) */
    }
    if (s->nested) {                /* undo the savepoint's work, then end it */
        s->nested = false;
        sqlite3_stmt *to = store__stmt(s, ST_NEST_ROLLBACK);
        sqlite3_stmt *rel = to != NULL && sqlite3_step(to) == SQLITE_DONE
                          ? store__stmt(s, ST_NEST_RELEASE) : NULL;
        if (rel == NULL || sqlite3_step(rel) != SQLITE_DONE)
            fprintf(stderr, "store: rollback to savepoint: %s\n", sqlite3_errmsg(s->db));
        if (to != NULL)
            sqlite3_reset(to);
        if (rel != NULL)
            sqlite3_reset(rel);
        return;
    }
    sqlite3_stmt *st = store__stmt(s, ST_ROLLBACK);
    if (st == NULL || sqlite3_step(st) != SQLITE_DONE)
        fprintf(stderr, "store: rollback: %s\n", sqlite3_errmsg(s->db));
    if (st != NULL)
        sqlite3_reset(st);
}

void store__bind_text_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL || *v == '\0')
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

void store__bind_id_opt(sqlite3_stmt *st, int i, int64_t id)
{
    if (id == 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, id);
}

char *store__col_strdup(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return strdup(v != NULL ? v : "");
}

void store__col_copy(sqlite3_stmt *st, int i, char *buf, size_t size)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    snprintf(buf, size, "%s", v != NULL ? v : "");
}

int store_exec(struct store *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", err != NULL ? err : "?");
        if (!s->quiet)
            fprintf(stderr, "store: exec: %s\n", s->errmsg);
        sqlite3_free(err);
        return PB_EINTERNAL;
    }
    return 0;
}
