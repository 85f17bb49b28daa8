/*
 * writer — the store's asynchronous write path: one writer thread with the SQLite write
 * connection, group commit with a SAVEPOINT per job, completions on the loop in commit order,
 * a per-tenant gate on the loop. Contract in writer.h, design in docs/writer.md.
 *
 * Two queues cross the thread boundary, both under w->lock: `todo` (loop -> writer: jobs whose
 * prepare passed) and `fin` (writer -> loop: jobs with their status, in commit order). The
 * writer thread takes everything in `todo` (up to max_group) as one group, runs it as one
 * transaction, appends the group to `fin` and wakes the loop with uv_async_send. The loop
 * drains `fin` in order, calls each done, then releases the next job of that job's tenant.
 */
#include "store/writer.h"
#include "core/errors.h"
#include "core/hmap.h"          /* tenant id -> gate */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- types */

struct wjob {
    struct wjob *next;          /* in a gate FIFO, `todo` or `fin` (one at a time) */
    int64_t tenant_id;          /* 0 = not gated */
    writer_prepare_fn prepare;
    writer_run_fn run;
    writer_done_fn done;
    writer_exclusive_fn excl;   /* an exclusive (writer_exclusive), not a job: run, done NULL */
    void *ctx;                  /* the caller's */
    int status;                 /* writer thread until the job is in `fin` */
    uint64_t commit_seq;        /* writer thread until the job is in `fin`; 0 = not committed */
};

struct jobq {
    struct wjob *head, *tail;
    size_t len;
};

/* A tenant with a job at the writer; the jobs waiting behind it. Loop thread only. Exists
 * only while the tenant has a job in flight (freed when the FIFO empties). */
struct gate {
    struct jobq waiting;
};

enum wstmt { WS_BEGIN, WS_COMMIT, WS_ROLLBACK, WS_SAVEPOINT, WS_RELEASE, WS_ROLLBACK_TO, WS__N };
static const char *const wstmt_sql[WS__N] = {
    [WS_BEGIN] = "BEGIN IMMEDIATE",
    [WS_COMMIT] = "COMMIT",
    [WS_ROLLBACK] = "ROLLBACK",
    [WS_SAVEPOINT] = "SAVEPOINT pb_job",
    [WS_RELEASE] = "RELEASE pb_job",
    [WS_ROLLBACK_TO] = "ROLLBACK TO pb_job",
};

struct writer {
    uv_loop_t *loop;
    uv_async_t async;           /* writer thread -> loop: `fin` has jobs */
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;             /* loop -> writer thread: `todo` has jobs, or stop */

    /* writer thread only (set up in writer_open before the thread starts, closed after join) */
    struct db *db;
    writer_disconnect_fn disconnect;    /* closes db when set (opts->disconnect) */
    void *connect_ctx;
    struct db_stmt *st[WS__N];
    struct wjob **group;        /* max_group slots: the group being run */
    uint64_t commit_seq;        /* transactions committed */

    struct jobq todo;           /* {lock} ready for the writer thread */
    struct jobq fin;            /* {lock} finished, in commit order, for the loop */
    bool stop;                  /* {lock} drained: the thread ends when `todo` is empty */
    uint64_t transactions;      /* {lock} copies of the thread's counters for writer_stats */
    uint64_t rollbacks;         /* {lock} */
    uint64_t solo_retries;      /* {lock} */
    uint64_t max_group_seen;    /* {lock} */
    uint64_t group_sizes[WRITER_GROUP_BUCKETS]; /* {lock} see struct writer_stats */
    struct pb_histogram commits; /* {lock} the COMMIT statements (writer_stats) */

    /* loop thread only */
    struct hmap gates;          /* tenant id -> struct gate * */
    size_t max_jobs, max_group;
    size_t outstanding;         /* accepted, done not yet called (held ones too) */
    size_t gated;               /* waiting in a gate */
    struct jobq held;           /* behind a waiting exclusive, in call order: the exclusives
                                 * and the jobs submitted after them (writer_exclusive) */
    size_t held_jobs;           /* jobs (not exclusives) in held */
    uint64_t exclusives, exclusives_waited;
    uint64_t jobs, committed, failed, rejected;
    bool closing;               /* writer_close called */
    bool closed;                /* the thread is joined and the handle closing */
    writer_close_fn close_cb;
    void *close_ctx;
};

static void jobq_push(struct jobq *q, struct wjob *j)
{
    j->next = NULL;
    if (q->tail != NULL)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->len++;
}

static struct wjob *jobq_pop(struct jobq *q)
{
    struct wjob *j = q->head;
    if (j != NULL) {
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->len--;
        j->next = NULL;
    }
    return j;
}

/* ---------------------------------------------------------------- writer thread */

/* Step one of the writer's own statements. 0, or -1 (logged with `what`). */
static int wstep(struct writer *w, enum wstmt id)
{
    int r = db_step(w->st[id]);
    db_reset(w->st[id]);
    if (r == DB_DONE)
        return 0;
    fprintf(stderr, "writer: %s: %s\n", id == WS_BEGIN && w->db->kind == DB_POSTGRES ? "BEGIN"
                                                                       : wstmt_sql[id],
            db_errmsg(w->db));
    return -1;
}

/* Roll back whatever transaction is open (none after SQLite ended it itself, e.g. on
 * SQLITE_FULL). Statements a job left running are reset first: ROLLBACK would fail on them. */
static void wrollback(struct writer *w)
{
    db_reset_all(w->db);
    if (db_in_transaction(w->db))
        wstep(w, WS_ROLLBACK);
}

/* The status of a job whose transaction was lost: PB_EUNAVAILABLE when the database is out of
 * reach (PostgreSQL down or restarting, the connection broken, an I/O error: the client may
 * try again, issue 13 "refuse writes with 503"), else `status` (the job's own error) or
 * PB_EINTERNAL. */
static int lost_status(struct writer *w, int status)
{
    if ((db_errcode(w->db) & 0xff) == SQLITE_IOERR)
        return PB_EUNAVAILABLE;
    return status < 0 ? status : PB_EINTERNAL;
}

/*
 * Run n jobs as one transaction, each in a SAVEPOINT. Sets every job's status and commit_seq.
 * A job whose run fails is rolled back to its savepoint alone. When the transaction itself is
 * lost (BEGIN, SAVEPOINT, RELEASE or COMMIT failed, or SQLite ended the transaction under a
 * job) nothing of the group stays; a group of several is then run again job by job, so only
 * the jobs that fail alone fail. Returns nothing: every outcome is in the jobs.
 */
static void run_group(struct writer *w, struct wjob **jobs, size_t n)
{
    size_t i;
    int rc = 0;

    if (wstep(w, WS_BEGIN) != 0) {
        /* Busy past busy_timeout_ms or an I/O error: nothing was started. Running the jobs
         * alone would meet the same lock: fail them all. */
        int st = lost_status(w, PB_EINTERNAL);
        for (i = 0; i < n; i++) {
            jobs[i]->status = st;
            jobs[i]->commit_seq = 0;
        }
        uv_mutex_lock(&w->lock);
        w->rollbacks++;
        uv_mutex_unlock(&w->lock);
        return;
    }
    for (i = 0; i < n; i++) {
        struct wjob *j = jobs[i];
        j->commit_seq = 0;
        if (wstep(w, WS_SAVEPOINT) != 0)
            goto lost;
        rc = j->run(w->db, j->ctx);
        if (rc > 0)
            rc = PB_EINTERNAL;
        j->status = rc;
        if (!db_in_transaction(w->db))
            goto lost;          /* SQLite rolled the whole transaction back (disk full ...) */
        if (rc != 0 && wstep(w, WS_ROLLBACK_TO) != 0)
            goto lost;
        if (wstep(w, WS_RELEASE) != 0)
            goto lost;
    }
    size_t committed = 0;
    for (i = 0; i < n; i++)
        committed += jobs[i]->status == 0;
    if (committed == 0) {
        wrollback(w);           /* every job failed alone: nothing to commit (nor to sync) */
        return;
    }
    uint64_t t0 = uv_hrtime();
    if (wstep(w, WS_COMMIT) != 0)
        goto lost;
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    w->commit_seq++;
    for (i = 0; i < n; i++)
        if (jobs[i]->status == 0)
            jobs[i]->commit_seq = w->commit_seq;
    uv_mutex_lock(&w->lock);
    w->transactions = w->commit_seq;
    if (committed > w->max_group_seen)
        w->max_group_seen = committed;
    size_t b = 0;
    while (b < WRITER_GROUP_BUCKETS - 1 && committed > ((size_t)1 << b))
        b++;
    w->group_sizes[b]++;
    size_t k = 0;
    while (k < PB_COMMIT_BUCKETS - 1 && secs > pb_commit_bounds[k])
        k++;
    w->commits.counts[k]++;
    w->commits.count++;
    w->commits.sum_seconds += secs;
    uv_mutex_unlock(&w->lock);
    return;

lost:
    wrollback(w);
    uv_mutex_lock(&w->lock);
    w->rollbacks++;
    if (n > 1)
        w->solo_retries += n;
    uv_mutex_unlock(&w->lock);
    if (n == 1) {
        jobs[0]->status = lost_status(w, jobs[0]->status);
        jobs[0]->commit_seq = 0;
        return;
    }
    for (i = 0; i < n; i++) {
        jobs[i]->status = 0;
        run_group(w, &jobs[i], 1);
    }
}

static void writer_thread(void *arg)
{
    struct writer *w = arg;

    uv_mutex_lock(&w->lock);
    for (;;) {
        while (w->todo.head == NULL && !w->stop)
            uv_cond_wait(&w->wake, &w->lock);
        if (w->todo.head == NULL)
            break;              /* stop, and drained */
        size_t n = 0;
        while (n < w->max_group && w->todo.head != NULL)
            w->group[n++] = jobq_pop(&w->todo);
        uv_mutex_unlock(&w->lock);

        run_group(w, w->group, n);

        uv_mutex_lock(&w->lock);
        for (size_t i = 0; i < n; i++)
            jobq_push(&w->fin, w->group[i]);
        uv_mutex_unlock(&w->lock);
        uv_async_send(&w->async);
        uv_mutex_lock(&w->lock);
    }
    uv_mutex_unlock(&w->lock);
}

/* ---------------------------------------------------------------- loop thread */

/* The uv_async_t keeps the loop alive only while something is outstanding (or closing). */
static void update_ref(struct writer *w)
{
    if (w->outstanding > 0)
        uv_ref((uv_handle_t *)&w->async);
    else
        uv_unref((uv_handle_t *)&w->async);
}

static void hand_to_writer(struct writer *w, struct wjob *j)
{
    uv_mutex_lock(&w->lock);
    jobq_push(&w->todo, j);
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
}

/* Call done for a job and free it. */
static void finish(struct writer *w, struct wjob *j)
{
    w->outstanding--;
    if (j->status == 0)
        w->committed++;
    else
        w->failed++;
    j->done(j->ctx, j->status, j->commit_seq);
    free(j);
}

/* tenant_id's job in flight has finished: hand its next waiting job whose prepare passes to
 * the writer (jobs whose prepare fails are finished here, in order), or drop the gate. */
static void gate_release(struct writer *w, int64_t tenant_id)
{
    struct gate *g = hmap_get_int(&w->gates, tenant_id);
    struct wjob *j;

    assert(g != NULL);
    while ((j = jobq_pop(&g->waiting)) != NULL) {
        w->gated--;
        int rc = j->prepare != NULL ? j->prepare(j->ctx) : 0;
        if (rc == 0) {
            hand_to_writer(w, j);
            return;
        }
        j->status = rc < 0 ? rc : PB_EINTERNAL;
        j->commit_seq = 0;
        finish(w, j);           /* a done may submit for this tenant: it queues in g */
    }
    hmap_del_int(&w->gates, tenant_id);
    free(g);
}

/* Jobs accepted and not held behind an exclusive: gated, queued, running or finished but not
 * yet reported. An exclusive runs only when there are none. */
static size_t active(const struct writer *w)
{
    return w->outstanding - w->held_jobs;
}

/*
 * Put an accepted job on its way: behind its tenant's job in flight, or through prepare to
 * the writer thread. `now` = inside writer_submit: a failure is returned (j freed, no done);
 * otherwise (a job released from `held`) a failure finishes the job through its done.
 */
static int enter(struct writer *w, struct wjob *j, bool now)
{
    struct gate *g = NULL;
    int rc = 0;

    if (j->tenant_id > 0) {
        g = hmap_get_int(&w->gates, j->tenant_id);
        if (g != NULL) {                /* the tenant has a job in flight: wait behind it */
            jobq_push(&g->waiting, j);
            w->gated++;
            return 0;
        }
        if (hmap_reserve(&w->gates, w->gates.len + 1) != 0 ||
            (g = calloc(1, sizeof(*g))) == NULL) {
            rc = PB_EINTERNAL;
            goto failed;
        }
        hmap_put_int(&w->gates, j->tenant_id, g);
    }
    if (j->prepare != NULL && (rc = j->prepare(j->ctx)) != 0) {
        if (rc > 0)
            rc = PB_EINTERNAL;
        if (g != NULL) {
            hmap_del_int(&w->gates, j->tenant_id);
            free(g);
        }
        goto failed;
    }
    hand_to_writer(w, j);
    return 0;

failed:
    if (now) {
        free(j);
        return rc;
    }
    j->status = rc;
    j->commit_seq = 0;
    finish(w, j);
    return 0;
}

/* Run the exclusives at the head of `held` once nothing is active, and release the jobs held
 * behind each (in order) until the next exclusive that has to wait. Loop thread. */
static void held_drain(struct writer *w)
{
    struct wjob *j;
    while ((j = w->held.head) != NULL) {
        if (j->excl != NULL) {
            if (active(w) > 0)
                return;
            jobq_pop(&w->held);
            w->exclusives++;
            j->excl(j->ctx);            /* may submit: behind what is still held */
            free(j);
            continue;
        }
        jobq_pop(&w->held);
        w->held_jobs--;
        enter(w, j, false);
    }
}

static void on_closed(uv_handle_t *h)
{
    struct writer *w = h->data;
    writer_close_fn cb = w->close_cb;
    void *ctx = w->close_ctx;

    struct hmap_iter it;
    void *g;
    hmap_iter_init(&w->gates, &it);
    while ((g = hmap_iter_next(&w->gates, &it)) != NULL)
        free(g);                        /* none left after a drain; defensive */
    hmap_cleanup(&w->gates);
    uv_cond_destroy(&w->wake);
    uv_mutex_destroy(&w->lock);
    free(w->group);
    free(w);
    if (cb != NULL)
        cb(ctx);
}

/* Everything is drained: stop and join the thread, close the connection and the handle. */
static void finish_close(struct writer *w)
{
    w->closed = true;
    uv_mutex_lock(&w->lock);
    w->stop = true;
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
    uv_thread_join(&w->thread);         /* idle: returns at once */
    for (int i = 0; i < WS__N; i++)
        db_finalize(w->st[i]);
    if (w->disconnect != NULL)
        w->disconnect(w->connect_ctx, w->db);
    else
        db_close(w->db);
    w->db = NULL;
    uv_close((uv_handle_t *)&w->async, on_closed);
}

static void on_async(uv_async_t *a)
{
    struct writer *w = a->data;
    struct jobq fin;

    uv_mutex_lock(&w->lock);
    fin = w->fin;
    memset(&w->fin, 0, sizeof(w->fin));
    uv_mutex_unlock(&w->lock);

    struct wjob *j;
    while ((j = jobq_pop(&fin)) != NULL) {
        int64_t tenant_id = j->tenant_id;
        finish(w, j);
        if (tenant_id > 0)
            gate_release(w, tenant_id);
    }
    held_drain(w);
    if (w->closing && !w->closed && w->outstanding == 0 && w->held.head == NULL)
        finish_close(w);
    else if (!w->closed)
        update_ref(w);
}

/* ---------------------------------------------------------------- public */

static struct db *open_path(const char *path, const struct writer_options *o, char *err,
                          size_t errlen)
{
    const char *sync = o->synchronous != NULL ? o->synchronous : "NORMAL";
    char pragma[160];
    struct db *db = NULL;

    if (strcmp(sync, "NORMAL") != 0 && strcmp(sync, "FULL") != 0) {
        snprintf(err, errlen, "synchronous must be NORMAL or FULL, not '%s'", sync);
        return NULL;
    }
    /* NOMUTEX: the connection is used by one thread at a time (this one until the writer
     * thread starts, then the writer thread only). */
    char why[256];
    if (db_open(&db, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                why, sizeof(why)) != DB_OK) {
        snprintf(err, errlen, "open %s: %s", path, why);
        return NULL;
    }
    if (db->kind == DB_POSTGRES)
        return db;
    db_busy_timeout(db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000);
    snprintf(pragma, sizeof(pragma),
             "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = %s;",
             sync);
    if (db_exec(db, pragma) != DB_OK) {
        snprintf(err, errlen, "%s: %s", path, db_errmsg(db));
        db_close(db);
        return NULL;
    }
    return db;
}

int writer_open(struct writer **out, uv_loop_t *loop, const char *path,
                const struct writer_options *opts)
{
    static const struct writer_options defaults;
    const struct writer_options *o = opts != NULL ? opts : &defaults;
    char reason[300] = "out of memory";
    struct writer *w;
    bool locks = false;

    *out = NULL;
    if ((w = calloc(1, sizeof(*w))) == NULL)
        goto report;
    w->loop = loop;
    hmap_init(&w->gates, NULL, NULL);
    w->max_jobs = o->max_jobs > 0 ? o->max_jobs : 65536;
    w->max_group = o->max_group > 0 ? o->max_group : 256;
    if ((w->group = calloc(w->max_group, sizeof(*w->group))) == NULL)
        goto fail;
    w->db = o->connect != NULL ? o->connect(o->connect_ctx, reason, sizeof(reason))
                               : open_path(path, o, reason, sizeof(reason));
    if (w->db == NULL)
        goto fail;
    if (o->connect != NULL) {
        w->disconnect = o->disconnect;
        w->connect_ctx = o->connect_ctx;
    }
    for (int i = 0; i < WS__N; i++)
        if (db_prepare(w->db, i == WS_BEGIN && w->db->kind == DB_POSTGRES ? "BEGIN"
                                                                          : wstmt_sql[i],
                       true, &w->st[i]) != DB_OK) {
            snprintf(reason, sizeof(reason), "prepare %s: %s", wstmt_sql[i],
                     db_errmsg(w->db));
            goto fail;
        }
    if (uv_mutex_init(&w->lock) != 0)
        goto fail;
    if (uv_cond_init(&w->wake) != 0) {
        uv_mutex_destroy(&w->lock);
        goto fail;
    }
    locks = true;
    if (uv_thread_create(&w->thread, writer_thread, w) != 0) {
        snprintf(reason, sizeof(reason), "cannot start the writer thread");
        goto fail;
    }
    /* The thread touches the handle only after finishing a job, and no job can be submitted
     * before writer_open returns: initialising it after the thread started is safe. */
    if (uv_async_init(loop, &w->async, on_async) != 0) {
        snprintf(reason, sizeof(reason), "uv_async_init failed");
        uv_mutex_lock(&w->lock);
        w->stop = true;
        uv_cond_signal(&w->wake);
        uv_mutex_unlock(&w->lock);
        uv_thread_join(&w->thread);
        goto fail;
    }
    w->async.data = w;
    uv_unref((uv_handle_t *)&w->async);
    *out = w;
    return 0;

fail:
    for (int i = 0; i < WS__N; i++)
        db_finalize(w->st[i]);
    if (w->db != NULL && w->disconnect != NULL)
        w->disconnect(w->connect_ctx, w->db);
    else
        db_close(w->db);
    if (locks) {
        uv_cond_destroy(&w->wake);
        uv_mutex_destroy(&w->lock);
    }
    free(w->group);
    free(w);
report:
    if (o->errbuf != NULL)
        snprintf(o->errbuf, o->errlen, "%s", reason);
    else
        fprintf(stderr, "writer: %s\n", reason);
    return PB_EINTERNAL;
}

int writer_submit(struct writer *w, int64_t tenant_id, writer_prepare_fn prepare,
                  writer_run_fn run, writer_done_fn done, void *ctx)
{
    struct wjob *j;

    assert(run != NULL && done != NULL);
    if (w->closing)
        return PB_EINTERNAL;
    if (w->outstanding >= w->max_jobs) {
        w->rejected++;
        return PB_ERATE_LIMITED;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    *j = (struct wjob){ .tenant_id = tenant_id > 0 ? tenant_id : 0, .prepare = prepare,
                        .run = run, .done = done, .ctx = ctx };
    if (w->held.head != NULL) {         /* an exclusive waits: everything after it waits too */
        jobq_push(&w->held, j);
        w->held_jobs++;
    } else {
        int rc = enter(w, j, true);
        if (rc != 0)
            return rc;
    }
    w->jobs++;
    w->outstanding++;
    update_ref(w);
    return 0;
}

bool writer_idle(const struct writer *w)
{
    return w->held.head == NULL && active(w) == 0;
}

bool writer_tenant_idle(const struct writer *w, int64_t tenant_id)
{
    return w->held.head == NULL && hmap_get_int(&w->gates, tenant_id) == NULL;
}

int writer_exclusive(struct writer *w, writer_exclusive_fn fn, void *ctx)
{
    struct wjob *j;

    assert(fn != NULL);
    if (w->closing)
        return PB_EINTERNAL;
    if (w->held.head == NULL && active(w) == 0) {
        w->exclusives++;
        fn(ctx);
        return 0;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    j->excl = fn;
    j->ctx = ctx;
    jobq_push(&w->held, j);
    w->exclusives_waited++;
    return 0;
}

void writer_stats(struct writer *w, struct writer_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->jobs = w->jobs;
    out->jobs_committed = w->committed;
    out->jobs_failed = w->failed;
    out->commits = w->commits;
    out->rejected = w->rejected;
    out->gated = w->gated;
    out->outstanding = w->outstanding;
    out->exclusives = w->exclusives;
    out->exclusives_waited = w->exclusives_waited;
    out->held = w->held.len;
    uv_mutex_lock(&w->lock);
    out->transactions = w->transactions;
    out->rollbacks = w->rollbacks;
    out->solo_retries = w->solo_retries;
    out->max_group_seen = w->max_group_seen;
    memcpy(out->group_sizes, w->group_sizes, sizeof(out->group_sizes));
    out->queued = w->todo.len;
    uv_mutex_unlock(&w->lock);
}

void writer_close(struct writer *w, writer_close_fn cb, void *ctx)
{
    assert(!w->closing);
    w->closing = true;
    w->close_cb = cb;
    w->close_ctx = ctx;
    if (w->outstanding == 0 && w->held.head == NULL)
        finish_close(w);
    /* else on_async closes after the last done */
}
