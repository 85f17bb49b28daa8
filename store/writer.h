/*
 * writer — the store's asynchronous write path (issue 9 item 1: "the loop never waits").
 *
 * One writer thread owns the SQLite write connection. The loop hands it jobs and goes on;
 * the thread runs every job it finds queued inside ONE transaction (group commit), each job in
 * its own SAVEPOINT so that a failing job rolls back only itself, and the loop is told of each
 * completion, in commit order, through the job's done callback. docs/writer.md is the design:
 * how a route's write flows through here, per-tenant ordering, imports, failure, shutdown,
 * fsync and the PostgreSQL mapping.
 *
 * Per-tenant gate (SPEC §1 write-through; issue 9 "a tenant's later write validates against
 * its earlier in-flight ones"): jobs of one tenant (tenant_id > 0) are kept in a FIFO on the
 * loop with at most one of them at the writer. The next one is released only after the done
 * callback of the previous one has run (so the cache already holds that change), and its
 * prepare callback validates against that cache just before it goes to the writer. Other
 * tenants' jobs are not held behind it. tenant_id == 0 means "no gate" (writes that validate
 * against nothing in a cache: sessions, audit-only rows, tests).
 *
 * Threads: writer_open, writer_submit, writer_stats and writer_close are called on the loop
 * thread only; prepare and done run on the loop thread; run runs on the writer thread.
 *
 * Errors: functions return 0 or a negative PB_E* code of core/errors.h. A function that
 * returns an error never calls the job's callbacks (libuv convention, STYLE "Errors").
 *   PB_ERATE_LIMITED  writer_submit: max_jobs jobs are already outstanding (back-pressure:
 *                     nothing was queued, nothing changed; the client is answered 429 and may
 *                     retry — SPEC §4 rate_limited)
 *   PB_EINTERNAL      out of memory, the database cannot be opened, the writer is closing
 *   any code          writer_submit: the job's prepare callback failed (returned as is)
 */
#ifndef PB_WRITER_H
#define PB_WRITER_H

#include "store/db.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"        /* struct pb_histogram */

struct writer;

/*
 * The loop-side phase of a job, called on the loop thread when the job reaches the head of its
 * tenant's FIFO, just before it is handed to the writer thread (at once inside writer_submit
 * when the tenant has nothing in flight). Validates against the cache and computes the plan
 * (like store__move_prepare). Returns 0, or a negative PB_E* code: then the job is finished
 * without touching SQL (returned by writer_submit, or given to done when the job had waited).
 */
typedef int (*writer_prepare_fn)(void *ctx);

/*
 * The SQL phase, called on the writer thread with the write connection inside the
 * group's transaction and the job's own SAVEPOINT. Returns 0 to keep its changes, or a
 * negative PB_E* code to have them rolled back (only this job's). Rules: touch nothing but
 * `db` and the job's own ctx (no cache, no loop); reset or finalize every statement before
 * returning; it may run more than once (after a failed group every job is run again alone),
 * so it must write its results into ctx by overwriting, never by appending.
 */
typedef int (*writer_run_fn)(struct db *db, void *ctx);

/*
 * The completion, called on the loop thread, once per accepted job, in commit order (a job
 * that committed in transaction N is reported before any job of transaction N+1; within a
 * transaction in submit order). status: 0 = committed (and, with synchronous=FULL, on disk);
 * the run's or prepare's negative code = this job changed nothing; PB_EINTERNAL = SQLite failed
 * (BEGIN busy past busy_timeout_ms, disk full, I/O error): this job changed nothing.
 * commit_seq: the writer's number of the transaction that committed it (1, 2, ...), 0 when it
 * did not commit. The last call on ctx: the caller may free it here. The cache change, the
 * answer and the broadcast belong here.
 */
typedef void (*writer_done_fn)(void *ctx, int status, uint64_t commit_seq);

/* An exclusive (writer_exclusive): loop-side work that writes through another connection and
 * so must not overlap a writer transaction. Called on the loop thread. */
typedef void (*writer_exclusive_fn)(void *ctx);

/* Closes the connection that opts->connect opened (instead of sqlite3_close), on the loop
 * thread, after the writer thread has ended. */
typedef void (*writer_disconnect_fn)(void *ctx, struct db *db);

/* Called on the loop thread when writer_close has drained every job and freed the writer. */
typedef void (*writer_close_fn)(void *ctx);

/* A connection factory: open the write connection (any pragmas the caller wants). Called once,
 * on the loop thread inside writer_open. Returns the connection (then owned by the writer,
 * closed by it) or NULL with a reason in err (errlen bytes). */
typedef struct db *(*writer_connect_fn)(void *ctx, char *err, size_t errlen);

struct writer_options {
    size_t max_jobs;            /* jobs outstanding (gated + queued + running) at most;
                                 * writer_submit past it is PB_ERATE_LIMITED. 0 = 65536 */
    size_t max_group;           /* jobs folded into one transaction at most. 0 = 256 */
    const char *synchronous;    /* PRAGMA synchronous of the write connection when it is
                                 * opened from a path: "NORMAL" (default) or "FULL" (COMMIT
                                 * syncs the WAL on the writer thread: one fsync per group) */
    int busy_timeout_ms;        /* SQLite busy timeout of the write connection (another
                                 * process holding the write lock); the loop never waits on
                                 * it. 0 = 5000 */
    writer_connect_fn connect;  /* when not NULL, opens the connection instead of the path */
    writer_disconnect_fn disconnect; /* with connect: closes it (NULL: sqlite3_close) */
    void *connect_ctx;          /* for connect and disconnect */
    char *errbuf;               /* when not NULL, writer_open writes a failure reason here */
    size_t errlen;
};

#define WRITER_GROUP_BUCKETS 9

/* Counters (writer_stats). Cumulative since writer_open unless marked "now". */
struct writer_stats {
    uint64_t jobs;              /* jobs accepted by writer_submit */
    uint64_t jobs_committed;    /* done with status 0 */
    uint64_t jobs_failed;       /* done with status != 0 (prepare, run or SQLite) */
    uint64_t rejected;          /* writer_submit answered PB_ERATE_LIMITED */
    uint64_t transactions;      /* COMMITs that succeeded (commit_seq of the last one) */
    uint64_t rollbacks;         /* transactions rolled back whole (BEGIN/COMMIT failed, or
                                 * SQLite ended the transaction under a job) */
    uint64_t solo_retries;      /* jobs run again alone after their group failed */
    uint64_t max_group_seen;    /* most jobs committed by one transaction */
    uint64_t group_sizes[WRITER_GROUP_BUCKETS]; /* transactions by jobs committed in them:
                                 * [0] 1, [1] 2, [2] 3-4, [3] 5-8, ... [8] 129 and more */
    size_t gated;               /* now: jobs waiting behind an earlier job of their tenant */
    size_t queued;              /* now: jobs handed to the writer, not yet picked up */
    size_t outstanding;         /* now: accepted jobs whose done has not run */
    uint64_t exclusives;        /* exclusives run (writer_exclusive) */
    uint64_t exclusives_waited; /* of them, the ones that had to wait for the writer */
    size_t held;                /* now: exclusives waiting, and the jobs submitted behind them */
    struct pb_histogram commits; /* seconds of each COMMIT statement of the writer (with
                                 * synchronous=FULL its fsync included) */
};

/*
 * Open the writer on `loop`: open the write connection (opts->connect, else `path` with
 * journal_mode=WAL, foreign_keys=ON, synchronous and busy timeout of opts; the schema is the
 * store's job, store_open) and start the writer thread. opts may be NULL. On success *out owns
 * the writer (end it with writer_close). The writer's uv_async_t keeps the loop alive only while
 * jobs are outstanding. Returns 0, or PB_EINTERNAL with *out NULL (reason in opts->errbuf, else
 * on stderr).
 */
int writer_open(struct writer **out, uv_loop_t *loop, const char *path,
                const struct writer_options *opts);

/*
 * Submit a job for tenant_id (0 = no per-tenant gate). prepare may be NULL; run and done may
 * not. ctx is the caller's until done has been called with it (or until writer_submit returned
 * an error). When the tenant has nothing in flight, prepare runs now, inside this call.
 * Returns 0 (done will be called exactly once, later, never inside this call), PB_ERATE_LIMITED
 * (queue full), PB_EINTERNAL (no memory, or writer_close was called), or prepare's error.
 */
int writer_submit(struct writer *w, int64_t tenant_id, writer_prepare_fn prepare,
                  writer_run_fn run, writer_done_fn done, void *ctx);

/*
 * Run fn(ctx) on the loop thread at a moment when the writer thread has no transaction open
 * and no job is outstanding: at once, inside this call, when the writer is idle and no other
 * exclusive waits; otherwise later, after the done of every job accepted before this call,
 * and before any job or exclusive that comes after it (they are held until then, in order).
 * This is how writes that still run on the loop's own connection (the routes not yet moved
 * onto the writer: docs/writer.md "Loop-side writes") keep out of the writer's way: they never
 * meet its write lock (no busy wait on the loop) and never see a board that a job in flight
 * has planned against. fn is called exactly once when this returns 0 (also while closing: an
 * exclusive accepted before writer_close still runs). Returns 0, or PB_EINTERNAL (no memory,
 * or writer_close was called: fn is not called).
 */
int writer_exclusive(struct writer *w, writer_exclusive_fn fn, void *ctx);

/* True when writer_exclusive would run its fn at once: no job outstanding, nothing held. */
bool writer_idle(const struct writer *w);

/* True when tenant_id has no job outstanding (gated, queued or running) and no exclusive is
 * held: no job context can point into its cached board (server/bus.c drops a board only
 * then). Loop thread. */
bool writer_tenant_idle(const struct writer *w, int64_t tenant_id);

/* Copy the counters into *out (loop thread). */
void writer_stats(struct writer *w, struct writer_stats *out);

/*
 * Drain, then stop: no new job is accepted (PB_EINTERNAL); every job already accepted still
 * runs and its done is called; then the thread is joined, the connection closed, the uv handle
 * closed and the writer freed; cb(ctx) (may be NULL) runs last. The caller runs the loop until
 * then (uv_run returns when nothing else is active). Call once.
 */
void writer_close(struct writer *w, writer_close_fn cb, void *ctx);

#endif
