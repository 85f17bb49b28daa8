/*
 * test_writer — store/writer.c on a real uv_loop_t and a real SQLite file (schema.sql applied
 * by store_open) in a temp directory. An independent connection ("peek") reads what was really
 * committed. Every test ends with uv_loop_close() == 0 (teardown).
 *
 * Where a test needs jobs to be folded into one transaction, the first job holds the writer
 * thread (it waits on a semaphore the test posts) while the others are submitted: a condition,
 * never a sleep.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/errors.h"
#include "store/store.h"
#include "store/writer.h"
#include "test/test_db.h"

/* ---------------------------------------------------------------- fixture */

#define MAX_EVENTS 4096

struct fx {
    char dir[64];
    char path[96];
    uv_loop_t loop;
    struct store *s;            /* applies the schema; the loop's own (read) connection */
    sqlite3 *peek;              /* independent connection to the same file */
    struct writer *w;           /* NULL once closed */
    int closed;                 /* close callbacks seen */
    int events[MAX_EVENTS];     /* done: k; prepare: 1000 + k (in call order) */
    size_t n_events;
};

#include "test/db_peek.h"
#define peek_int(f, ...) db_peek_int((f)->peek, __VA_ARGS__)

static void log_event(struct fx *f, int e)
{
    assert_true(f->n_events < MAX_EVENTS);
    f->events[f->n_events++] = e;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    test_db_open(f->dir, f->path, &f->s, &f->peek, "writer", NULL);
    assert_int_equal(store_exec(f->s,
        "CREATE TABLE wt(id INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, k INTEGER NOT NULL);"
        "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
        "CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER "
        "  REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"), 0);
    *state = f;
    return 0;
}

static void on_writer_closed(void *ctx)
{
    struct fx *f = ctx;
    f->closed++;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f->w != NULL) {
        writer_close(f->w, on_writer_closed, f);
        f->w = NULL;
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    test_db_close(f->dir, f->s, f->peek);
    free(f);
    return 0;
}

static void open_writer(struct fx *f, const struct writer_options *opts)
{
    char err[300] = "";
    struct writer_options o = opts != NULL ? *opts : (struct writer_options){ 0 };
    o.errbuf = err;
    o.errlen = sizeof(err);
    int rc = writer_open(&f->w, &f->loop, f->path, &o);
    if (rc != 0)
        fail_msg("writer_open: %s", err);
}

/* ---------------------------------------------------------------- jobs */

/* One test job: inserts (tenant, k) into wt, optionally after the test lets it go. */
struct tjob {
    struct fx *f;
    int64_t tenant;
    int k;
    int fail;                   /* run returns this after its insert (0 = success) */
    int prepare_ret;            /* prepare returns this */
    int prepare_calls;
    uv_sem_t *started;          /* posted when run begins (NULL: none) */
    uv_sem_t *hold;             /* run waits on it before inserting (NULL: none) */
    int (*extra)(sqlite3 *db, struct tjob *j);  /* more SQL after the insert, or NULL */
    int runs;                   /* times run was called (writer thread) */
    int status;                 /* from done */
    uint64_t seq;
    int done_calls;
};

static int tjob_prepare(void *ctx)
{
    struct tjob *j = ctx;
    j->prepare_calls++;
    log_event(j->f, 1000 + j->k);
    return j->prepare_ret;
}

static int tjob_run(struct db *wdb, void *ctx)
{
    sqlite3 *db = wdb->lite;
    struct tjob *j = ctx;
    sqlite3_stmt *st;
    int rc;

    j->runs++;
    if (j->started != NULL)
        uv_sem_post(j->started);
    if (j->hold != NULL)
        uv_sem_wait(j->hold);
    if (sqlite3_prepare_v2(db, "INSERT INTO wt(tenant, k) VALUES (?1, ?2)", -1, &st, NULL)
        != SQLITE_OK)
        return PB_EINTERNAL;
    sqlite3_bind_int64(st, 1, j->tenant);
    sqlite3_bind_int(st, 2, j->k);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return PB_EINTERNAL;
    if (j->extra != NULL && (rc = j->extra(db, j)) != 0)
        return rc;
    return j->fail;
}

static void tjob_done(void *ctx, int status, uint64_t seq)
{
    struct tjob *j = ctx;
    j->status = status;
    j->seq = seq;
    j->done_calls++;
    log_event(j->f, j->k);
}

static struct tjob tj(struct fx *f, int64_t tenant, int k)
{
    return (struct tjob){ .f = f, .tenant = tenant, .k = k };
}

static int submit(struct fx *f, struct tjob *j)
{
    return writer_submit(f->w, j->tenant, tjob_prepare, tjob_run, tjob_done, j);
}

static int64_t rows_with_k(struct fx *f, int k)
{
    return peek_int(f, "SELECT count(*) FROM wt WHERE k = %d", k);
}

/* ---------------------------------------------------------------- tests */

/* 300 jobs of three tenants and ungated: every done once, in submit order (each tenant's jobs
 * are in order, and the log is ordered by commit_seq), rows in the database in that order. */
static void test_writer_completions_arrive_in_commit_order(void **state)
{
    struct fx *f = *state;
    enum { N = 300 };
    static struct tjob j[N];

    open_writer(f, NULL);
    for (int i = 0; i < N; i++) {
        j[i] = tj(f, i % 4, i);         /* tenants 0 (no gate), 1, 2, 3 */
        assert_int_equal(submit(f, &j[i]), 0);
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);   /* returns when nothing is outstanding */

    uint64_t last_seq = 0;
    int last_k_of[4] = { -1, -1, -1, -1 };
    size_t dones = 0;
    int64_t last_id = 0;
    for (size_t e = 0; e < f->n_events; e++) {
        int k = f->events[e];
        if (k >= 1000)
            continue;                   /* a prepare */
        dones++;
        assert_int_equal(j[k].status, 0);
        assert_int_equal(j[k].done_calls, 1);
        assert_true(j[k].seq >= last_seq);          /* commit order */
        last_seq = j[k].seq;
        assert_true(k > last_k_of[k % 4]);          /* a tenant's submit order */
        last_k_of[k % 4] = k;
        /* the row of a later done has a later rowid: the database agrees with the order */
        int64_t id = peek_int(f, "SELECT id FROM wt WHERE k = %d", k);
        assert_true(id > last_id);
        last_id = id;
    }
    assert_int_equal(dones, N);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM wt"), N);

    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.jobs, N);
    assert_int_equal(st.jobs_committed, N);
    assert_int_equal(st.jobs_failed, 0);
    assert_int_equal(st.outstanding, 0);
    assert_int_equal(st.gated, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.transactions, last_seq);
    /* every COMMIT is timed, one sample each (/metrics planboard_sqlite_commit_seconds) */
    assert_int_equal(st.commits.count, st.transactions);
    assert_true(st.commits.sum_seconds > 0);
}

/* While the writer thread runs one held job, 63 more are submitted: they commit together in
 * the next transaction (group commit), each with that transaction's commit_seq. */
static void test_writer_folds_queued_jobs_into_one_transaction(void **state)
{
    struct fx *f = *state;
    enum { N = 64 };
    static struct tjob j[N];
    uv_sem_t started, hold;

    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&hold, 0), 0);
    open_writer(f, NULL);
    j[0] = tj(f, 0, 0);
    j[0].started = &started;
    j[0].hold = &hold;
    assert_int_equal(submit(f, &j[0]), 0);
    uv_sem_wait(&started);              /* the writer thread is inside job 0's transaction */
    for (int i = 1; i < N; i++) {
        j[i] = tj(f, 100 + i, i);       /* 63 tenants */
        assert_int_equal(submit(f, &j[i]), 0);
    }
    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.queued, N - 1);
    assert_int_equal(st.outstanding, N);
    uv_sem_post(&hold);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    assert_int_equal(j[0].seq, 1);
    for (int i = 1; i < N; i++) {
        assert_int_equal(j[i].status, 0);
        assert_int_equal(j[i].seq, 2);
    }
    writer_stats(f->w, &st);
    assert_int_equal(st.transactions, 2);
    assert_int_equal(st.max_group_seen, N - 1);
    assert_int_equal(st.group_sizes[0], 1);    /* the held job alone */
    assert_int_equal(st.group_sizes[6], 1);    /* 33-64 jobs: the 63 */
    assert_int_equal(st.jobs_committed, N);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM wt"), N);
    uv_sem_destroy(&started);
    uv_sem_destroy(&hold);
}

/* Hold the writer on a first job, queue `n` jobs behind it, release, run the loop. */
static void run_group_of(struct fx *f, struct tjob *first, struct tjob *jobs, int n)
{
    uv_sem_t started, hold;
    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&hold, 0), 0);
    *first = tj(f, 0, 900);
    first->started = &started;
    first->hold = &hold;
    assert_int_equal(submit(f, first), 0);
    uv_sem_wait(&started);
    for (int i = 0; i < n; i++)
        assert_int_equal(submit(f, &jobs[i]), 0);
    uv_sem_post(&hold);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_sem_destroy(&started);
    uv_sem_destroy(&hold);
}

/* Three jobs in one transaction, the middle one fails after its insert: only its insert is
 * rolled back (its SAVEPOINT); the others commit in the same transaction. */
static void test_writer_failing_job_rolls_back_only_itself(void **state)
{
    struct fx *f = *state;
    struct tjob first, j[3] = { tj(f, 1, 1), tj(f, 2, 2), tj(f, 3, 3) };

    j[1].fail = PB_ECONFLICT;
    open_writer(f, NULL);
    run_group_of(f, &first, j, 3);

    assert_int_equal(j[0].status, 0);
    assert_int_equal(j[1].status, PB_ECONFLICT);
    assert_int_equal(j[1].seq, 0);
    assert_int_equal(j[2].status, 0);
    assert_int_equal(j[0].seq, 2);
    assert_int_equal(j[2].seq, 2);
    assert_int_equal(rows_with_k(f, 1), 1);
    assert_int_equal(rows_with_k(f, 2), 0);
    assert_int_equal(rows_with_k(f, 3), 1);
    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.transactions, 2);
    assert_int_equal(st.rollbacks, 0);
    assert_int_equal(st.jobs_failed, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(j[i].runs, 1);
}

/* Disk full: the job grows the file past PRAGMA max_page_count (SQLITE_FULL). Whatever SQLite
 * does with the transaction, that job changes nothing and its neighbours commit. */
static int fill_disk(sqlite3 *db, struct tjob *j)
{
    (void)j;
    int rc = sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL);
    int full = sqlite3_exec(db, "INSERT INTO wt(tenant, k) VALUES (0, 777), "
                                "(0, zeroblob(1000000))", NULL, NULL, NULL);
    int code = sqlite3_extended_errcode(db);
    sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(full, SQLITE_FULL);
    assert_int_equal(code & 0xff, SQLITE_FULL);
    return PB_EINTERNAL;
}

static void test_writer_disk_full_job_changes_nothing_and_neighbours_commit(void **state)
{
    struct fx *f = *state;
    struct tjob first, j[3] = { tj(f, 1, 1), tj(f, 2, 2), tj(f, 3, 3) };

    j[1].extra = fill_disk;
    open_writer(f, NULL);
    run_group_of(f, &first, j, 3);

    assert_int_equal(j[1].status, PB_EINTERNAL);
    assert_int_equal(j[1].seq, 0);
    assert_int_equal(j[0].status, 0);
    assert_int_equal(j[2].status, 0);
    assert_int_equal(rows_with_k(f, 1), 1);
    assert_int_equal(rows_with_k(f, 2), 0);
    assert_int_equal(rows_with_k(f, 3), 1);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM wt WHERE tenant = 0 AND k <> 900"), 0);
}

/* SQLite ends the transaction under a job (what it may do on an I/O error or SQLITE_FULL; here
 * the job issues ROLLBACK itself on its first run). The group is lost: each job is run again
 * alone; the ones that succeed alone commit, the culprit fails. */
static int rollback_under_writer(sqlite3 *db, struct tjob *j)
{
    if (j->runs == 1) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return PB_EINTERNAL;
    }
    return PB_ECONFLICT;            /* its second run: fails as a plain job */
}

static void test_writer_lost_transaction_retries_each_job_alone(void **state)
{
    struct fx *f = *state;
    struct tjob first, j[3] = { tj(f, 1, 1), tj(f, 2, 2), tj(f, 3, 3) };

    j[1].extra = rollback_under_writer;
    open_writer(f, NULL);
    run_group_of(f, &first, j, 3);

    assert_int_equal(j[0].status, 0);
    assert_int_equal(j[1].status, PB_ECONFLICT);
    assert_int_equal(j[2].status, 0);
    assert_int_equal(j[0].runs, 2);
    assert_int_equal(j[1].runs, 2);
    assert_int_equal(j[2].runs, 1);     /* never reached in the lost group */
    assert_true(j[0].seq < j[2].seq);   /* each committed alone, in order */
    assert_int_equal(rows_with_k(f, 1), 1);
    assert_int_equal(rows_with_k(f, 2), 0);
    assert_int_equal(rows_with_k(f, 3), 1);
    /* the log: the held job, then 1, 2, 3 in order */
    int dones[4], n = 0;
    for (size_t e = 0; e < f->n_events; e++)
        if (f->events[e] < 1000)
            dones[n++] = f->events[e];
    assert_int_equal(n, 4);
    assert_int_equal(dones[1], 1);
    assert_int_equal(dones[2], 2);
    assert_int_equal(dones[3], 3);
    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.rollbacks, 1);     /* the group (the culprit's solo run is a plain
                                             * failure: rolled back to its savepoint) */
    assert_int_equal(st.solo_retries, 3);
    assert_int_equal(st.transactions, 3);  /* the held job, 1 alone, 3 alone: the culprit's
                                             * solo transaction had nothing to commit */
}

/* COMMIT itself fails (a deferred foreign key, checked only at COMMIT): the whole group rolls
 * back, then each job runs alone; only the violating one fails. */
static int orphan_child(sqlite3 *db, struct tjob *j)
{
    (void)j;
    return sqlite3_exec(db, "INSERT INTO child(parent_id) VALUES (424242)", NULL, NULL, NULL)
                   == SQLITE_OK ? 0 : PB_EINTERNAL;
}

static void test_writer_failed_commit_fails_only_the_job_that_fails_alone(void **state)
{
    struct fx *f = *state;
    struct tjob first, j[3] = { tj(f, 1, 1), tj(f, 2, 2), tj(f, 3, 3) };

    j[1].extra = orphan_child;
    open_writer(f, NULL);
    run_group_of(f, &first, j, 3);

    assert_int_equal(j[0].status, 0);
    assert_int_equal(j[1].status, PB_EINTERNAL);
    assert_int_equal(j[2].status, 0);
    assert_int_equal(rows_with_k(f, 1), 1);
    assert_int_equal(rows_with_k(f, 2), 0);
    assert_int_equal(rows_with_k(f, 3), 1);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM child"), 0);
    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.solo_retries, 3);
    assert_int_equal(st.rollbacks, 2);  /* the group's COMMIT, the culprit's own COMMIT */
}

/* Per-tenant gate: tenant 1 has a long job in flight and two more waiting; tenant 2's job,
 * submitted last, is not held behind them. Tenant 1's next job is prepared only after the
 * done of the previous one (so it validates against a cache that has that change). */
static void test_writer_gate_orders_a_tenant_and_lets_others_pass(void **state)
{
    struct fx *f = *state;
    uv_sem_t started, hold;
    struct tjob a1 = tj(f, 1, 1), a2 = tj(f, 1, 2), a3 = tj(f, 1, 3), b1 = tj(f, 2, 4);

    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&hold, 0), 0);
    open_writer(f, NULL);
    a1.started = &started;
    a1.hold = &hold;
    assert_int_equal(submit(f, &a1), 0);
    uv_sem_wait(&started);
    assert_int_equal(submit(f, &a2), 0);
    assert_int_equal(submit(f, &a3), 0);
    assert_int_equal(submit(f, &b1), 0);
    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.gated, 2);
    assert_int_equal(a2.prepare_calls, 0);  /* not before a1 is done */
    uv_sem_post(&hold);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    /* prepare a1, prepare b1, done a1, prepare a2, done b1, done a2, prepare a3, done a3:
     * b1 (submitted after a2 and a3) commits before them; without the gate it would be last */
    static const int want[] = { 1001, 1004, 1, 1002, 4, 2, 1003, 3 };
    assert_int_equal(f->n_events, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < f->n_events; i++)
        assert_int_equal(f->events[i], want[i]);
    assert_true(a1.seq < a2.seq && a2.seq < a3.seq);
    assert_true(b1.seq <= a2.seq);
    char buf[64];
    assert_string_equal(db_peek_str(f->peek, buf, sizeof(buf), "SELECT group_concat(k) FROM "
                                    "(SELECT k FROM wt ORDER BY id)"), "1,4,2,3");
    uv_sem_destroy(&started);
    uv_sem_destroy(&hold);
}

/* A prepare that fails: at submit it is returned and no callback runs; for a job that waited
 * behind its tenant it reaches done, and the tenant's next job goes ahead. */
static void test_writer_prepare_failure_finishes_the_job_without_sql(void **state)
{
    struct fx *f = *state;
    uv_sem_t started, hold;
    struct tjob now = tj(f, 5, 50), a1 = tj(f, 1, 1), a2 = tj(f, 1, 2), a3 = tj(f, 1, 3);

    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&hold, 0), 0);
    open_writer(f, NULL);
    now.prepare_ret = PB_ENOT_FOUND;
    assert_int_equal(submit(f, &now), PB_ENOT_FOUND);
    a1.started = &started;
    a1.hold = &hold;
    a2.prepare_ret = PB_ECONFLICT;
    assert_int_equal(submit(f, &a1), 0);
    uv_sem_wait(&started);
    assert_int_equal(submit(f, &a2), 0);
    assert_int_equal(submit(f, &a3), 0);
    uv_sem_post(&hold);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    assert_int_equal(now.done_calls, 0);
    assert_int_equal(now.runs, 0);
    assert_int_equal(a2.done_calls, 1);
    assert_int_equal(a2.status, PB_ECONFLICT);
    assert_int_equal(a2.runs, 0);
    assert_int_equal(a3.status, 0);
    assert_int_equal(rows_with_k(f, 2), 0);
    assert_int_equal(rows_with_k(f, 3), 1);
    assert_int_equal(rows_with_k(f, 50), 0);
    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.jobs, 3);
    assert_int_equal(st.jobs_failed, 1);
    uv_sem_destroy(&started);
    uv_sem_destroy(&hold);
}

/* Back-pressure: with max_jobs = 4 outstanding, the fifth submit is PB_ERATE_LIMITED, runs no
 * callback and changes nothing; the four accepted ones all complete. */
static void test_writer_full_queue_answers_rate_limited(void **state)
{
    struct fx *f = *state;
    uv_sem_t started, hold;
    struct tjob j[5];
    struct writer_options o = { .max_jobs = 4 };

    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&hold, 0), 0);
    open_writer(f, &o);
    for (int i = 0; i < 5; i++)
        j[i] = tj(f, 0, i);
    j[0].started = &started;
    j[0].hold = &hold;
    assert_int_equal(submit(f, &j[0]), 0);
    uv_sem_wait(&started);
    for (int i = 1; i < 4; i++)
        assert_int_equal(submit(f, &j[i]), 0);
    assert_int_equal(submit(f, &j[4]), PB_ERATE_LIMITED);
    uv_sem_post(&hold);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    for (int i = 0; i < 4; i++)
        assert_int_equal(j[i].status, 0);
    assert_int_equal(j[4].done_calls, 0);
    assert_int_equal(j[4].prepare_calls, 0);
    assert_int_equal(rows_with_k(f, 4), 0);
    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.jobs, 4);
    /* room again */
    assert_int_equal(submit(f, &j[4]), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(j[4].status, 0);
    uv_sem_destroy(&started);
    uv_sem_destroy(&hold);
}

/* Another process holds the write lock past busy_timeout_ms (SQLITE_BUSY): the job fails with
 * PB_EINTERNAL and changes nothing; once the lock is gone the next job commits. */
static void test_writer_busy_database_fails_the_job_cleanly(void **state)
{
    struct fx *f = *state;
    struct writer_options o = { .busy_timeout_ms = 20 };
    struct tjob a = tj(f, 1, 1), b = tj(f, 1, 2);

    open_writer(f, &o);
    assert_int_equal(sqlite3_exec(f->peek, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(submit(f, &a), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(a.status, PB_EINTERNAL);
    assert_int_equal(a.seq, 0);
    assert_int_equal(a.runs, 0);
    assert_int_equal(sqlite3_exec(f->peek, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(rows_with_k(f, 1), 0);
    assert_int_equal(submit(f, &b), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(b.status, 0);
    assert_int_equal(rows_with_k(f, 2), 1);
}

/* ---------------------------------------------------------------- a big job and the loop */

/* 100,000 orders inserted in one job while a 1 ms uv_timer runs on the loop. The job does not
 * finish until the loop has ticked BIG_TICKS times while the job was open (a condition with a
 * 10 s deadline, not a sleep): a loop blocked by the write would never get there. */
#define BIG_ROWS 100000
#define BIG_TICKS 20

struct big {
    struct fx *f;
    int64_t tenant;
    uv_timer_t timer;
    uv_mutex_t lock;
    uv_cond_t ticked;
    uint64_t ticks;             /* {lock} timer callbacks so far */
    uint64_t ticks_at_start, ticks_after_insert, ticks_at_done;
    uint64_t insert_ns;
    bool running;               /* {lock} the job is open */
    int status;
    bool done;
};

static void big_tick(uv_timer_t *t)
{
    struct big *b = t->data;
    uv_mutex_lock(&b->lock);
    b->ticks++;
    uv_cond_signal(&b->ticked);
    uv_mutex_unlock(&b->lock);
}

static int big_run(struct db *wdb, void *ctx)
{
    sqlite3 *db = wdb->lite;
    struct big *b = ctx;
    sqlite3_stmt *st;
    char number[32];
    uint64_t t0 = uv_hrtime();
    int rc = 0;

    uv_mutex_lock(&b->lock);
    b->ticks_at_start = b->ticks;
    uv_mutex_unlock(&b->lock);
    if (sqlite3_prepare_v2(db, "INSERT INTO orders(tenant_id, order_number, stock_code, "
                               "description, quantity_to_make, created_at, updated_at) "
                               "VALUES (?1, ?2, 'STK', 'A part', 5, '2026-01-01T00:00:00Z', "
                               "'2026-01-01T00:00:00Z')", -1, &st, NULL) != SQLITE_OK)
        return PB_EINTERNAL;
    sqlite3_bind_int64(st, 1, b->tenant);
    for (int i = 0; i < BIG_ROWS && rc == 0; i++) {
        snprintf(number, sizeof(number), "MO-%06d", i);
        sqlite3_bind_text(st, 2, number, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = PB_EINTERNAL;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    b->insert_ns = uv_hrtime() - t0;

    uint64_t deadline = uv_hrtime() + 10 * 1000000000ull;
    uv_mutex_lock(&b->lock);
    b->ticks_after_insert = b->ticks;
    while (rc == 0 && b->ticks - b->ticks_at_start < BIG_TICKS) {
        uint64_t now = uv_hrtime();
        if (now >= deadline) {
            rc = PB_EINTERNAL;          /* the loop did not run: fail the test */
            break;
        }
        uv_cond_timedwait(&b->ticked, &b->lock, deadline - now);
    }
    uv_mutex_unlock(&b->lock);
    return rc;
}

static void big_done(void *ctx, int status, uint64_t seq)
{
    struct big *b = ctx;
    (void)seq;
    b->status = status;
    b->done = true;
    uv_mutex_lock(&b->lock);
    b->ticks_at_done = b->ticks;
    uv_mutex_unlock(&b->lock);
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, NULL);
}

static void test_writer_big_job_does_not_stop_the_loop(void **state)
{
    struct fx *f = *state;
    struct big b = { .f = f };

    assert_int_equal(store_tenant_create(f->s, "big", "Big Ltd", &b.tenant), 0);
    assert_int_equal(uv_mutex_init(&b.lock), 0);
    assert_int_equal(uv_cond_init(&b.ticked), 0);
    open_writer(f, NULL);
    assert_int_equal(uv_timer_init(&f->loop, &b.timer), 0);
    b.timer.data = &b;
    assert_int_equal(uv_timer_start(&b.timer, big_tick, 1, 1), 0);
    assert_int_equal(writer_submit(f->w, b.tenant, NULL, big_run, big_done, &b), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    assert_true(b.done);
    assert_int_equal(b.status, 0);
    assert_true(b.ticks_at_done - b.ticks_at_start >= BIG_TICKS);
    print_message("big job: %d rows inserted in %.0f ms; 1 ms timer ticks during the insert %llu,"
                  " during the whole job %llu\n", BIG_ROWS, b.insert_ns / 1e6,
                  (unsigned long long)(b.ticks_after_insert - b.ticks_at_start),
                  (unsigned long long)(b.ticks_at_done - b.ticks_at_start));
    assert_int_equal(peek_int(f, "SELECT count(*) FROM orders WHERE tenant_id = %lld",
                              (long long)b.tenant), BIG_ROWS);
    uv_cond_destroy(&b.ticked);
    uv_mutex_destroy(&b.lock);
}

/* ---------------------------------------------------------------- close */

/* An exclusive (loop-side write) waits for every job accepted before it, runs before any job
 * submitted after it, and meets no open writer transaction: it writes through the loop's own
 * connection with a zero busy timeout and succeeds. On an idle writer it runs at once. */
struct excl {
    struct fx *f;
    int k;
    int rc;                     /* SQLite result of its INSERT through f->s */
    int calls;
    struct tjob *submit_inside; /* submitted from inside the exclusive, or NULL */
};

static void excl_fn(void *ctx)
{
    struct excl *e = ctx;
    char sql[96];
    e->calls++;
    log_event(e->f, 5000 + e->k);
    snprintf(sql, sizeof(sql), "INSERT INTO wt(tenant, k) VALUES (0, %d)", e->k);
    e->rc = store_exec(e->f->s, sql);
    if (e->submit_inside != NULL)
        assert_int_equal(submit(e->f, e->submit_inside), 0);
}

static void test_writer_exclusive_waits_for_earlier_jobs_and_holds_later_ones(void **state)
{
    struct fx *f = *state;
    uv_sem_t started, hold;
    struct tjob a1 = tj(f, 1, 1), a2 = tj(f, 1, 2), b1 = tj(f, 2, 3), c1 = tj(f, 3, 4);
    struct excl idle = { f, 7, -1, 0, NULL }, e1 = { f, 8, -1, 0, &c1 }, e2 = { f, 9, -1, 0, NULL };

    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(uv_sem_init(&hold, 0), 0);
    open_writer(f, NULL);
    assert_int_equal(store_exec(f->s, "PRAGMA busy_timeout = 0"), 0); /* a conflict fails */

    assert_int_equal(writer_exclusive(f->w, excl_fn, &idle), 0);
    assert_int_equal(idle.calls, 1);            /* idle writer: at once */
    assert_int_equal(idle.rc, 0);

    a1.started = &started;
    a1.hold = &hold;
    assert_int_equal(submit(f, &a1), 0);
    uv_sem_wait(&started);                      /* a1's transaction is open */
    assert_int_equal(submit(f, &a2), 0);        /* gated behind a1: before e1 */
    assert_int_equal(writer_exclusive(f->w, excl_fn, &e1), 0);
    assert_int_equal(e1.calls, 0);
    assert_int_equal(submit(f, &b1), 0);        /* another tenant, after e1: held */
    assert_int_equal(writer_exclusive(f->w, excl_fn, &e2), 0);
    struct writer_stats st;
    writer_stats(f->w, &st);
    assert_int_equal(st.held, 3);               /* e1, b1, e2 */
    assert_int_equal(st.outstanding, 3);        /* a1, a2, b1 */
    assert_int_equal(b1.prepare_calls, 0);
    uv_sem_post(&hold);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    /* a1, a2 (accepted before e1) complete; e1 runs (and submits c1, behind b1 and e2);
     * b1 is prepared and completes; e2 runs; then c1 */
    static const int want[] = { 5007, 1001, 1, 1002, 2, 5008, 1003, 3, 5009, 1004, 4 };
    assert_int_equal(f->n_events, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < f->n_events; i++)
        assert_int_equal(f->events[i], want[i]);
    assert_int_equal(e1.rc, 0);                 /* no SQLITE_BUSY: no transaction was open */
    assert_int_equal(e2.rc, 0);
    char buf[64];
    assert_string_equal(db_peek_str(f->peek, buf, sizeof(buf), "SELECT group_concat(k) FROM "
                                    "(SELECT k FROM wt ORDER BY id)"), "7,1,2,8,3,9,4");
    writer_stats(f->w, &st);
    assert_int_equal(st.exclusives, 3);
    assert_int_equal(st.exclusives_waited, 2);
    assert_int_equal(st.held, 0);
    uv_sem_destroy(&started);
    uv_sem_destroy(&hold);
}

/* writer_close right after submitting 50 jobs: all 50 still run and complete, a submit after
 * close is refused without callbacks, the close callback runs once, the loop closes. */
static void test_writer_close_drains_every_accepted_job(void **state)
{
    struct fx *f = *state;
    enum { N = 50 };
    struct tjob j[N], late = tj(f, 0, 99);

    open_writer(f, NULL);
    for (int i = 0; i < N; i++) {
        j[i] = tj(f, i % 3, i);
        assert_int_equal(submit(f, &j[i]), 0);
    }
    writer_close(f->w, on_writer_closed, f);
    assert_int_equal(submit(f, &late), PB_EINTERNAL);
    f->w = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);

    assert_int_equal(f->closed, 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(j[i].done_calls, 1);
        assert_int_equal(j[i].status, 0);
    }
    assert_int_equal(late.done_calls, 0);
    assert_int_equal(late.prepare_calls, 0);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM wt"), N);
}

/* An idle writer closes at once (its handle does not keep the loop alive) and a bad path is
 * reported by writer_open. */
static void test_writer_open_fails_on_a_bad_path_and_idle_close_ends(void **state)
{
    struct fx *f = *state;
    struct writer *w = NULL;
    char err[300] = "";
    struct writer_options o = { .errbuf = err, .errlen = sizeof(err) };

    assert_int_equal(writer_open(&w, &f->loop, "/nonexistent-dir/x.db", &o), PB_EINTERNAL);
    assert_null(w);
    assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
    o.synchronous = "SOMETIMES";
    assert_int_equal(writer_open(&w, &f->loop, f->path, &o), PB_EINTERNAL);
    assert_non_null(strstr(err, "synchronous"));

    open_writer(f, &(struct writer_options){ .synchronous = "FULL" });
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);  /* nothing keeps the loop alive */
    writer_close(f->w, on_writer_closed, f);
    f->w = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->closed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_writer_completions_arrive_in_commit_order),
        T(test_writer_folds_queued_jobs_into_one_transaction),
        T(test_writer_failing_job_rolls_back_only_itself),
        T(test_writer_disk_full_job_changes_nothing_and_neighbours_commit),
        T(test_writer_lost_transaction_retries_each_job_alone),
        T(test_writer_failed_commit_fails_only_the_job_that_fails_alone),
        T(test_writer_gate_orders_a_tenant_and_lets_others_pass),
        T(test_writer_prepare_failure_finishes_the_job_without_sql),
        T(test_writer_full_queue_answers_rate_limited),
        T(test_writer_busy_database_fails_the_job_cleanly),
        T(test_writer_big_job_does_not_stop_the_loop),
        T(test_writer_exclusive_waits_for_earlier_jobs_and_holds_later_ones),
        T(test_writer_close_drains_every_accepted_job),
        T(test_writer_open_fails_on_a_bad_path_and_idle_close_ends),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
