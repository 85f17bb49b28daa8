/*
 * writes — the server's end of the store's asynchronous write path (store/writer.c,
 * docs/writer.md; issue 9 item 1 "writes leave the loop").
 *
 * At start the server opens a sibling connection to the database (store_open_sibling) and
 * hands it to a writer thread; imports commit there (import.c) while the loop keeps serving.
 * Every other write still runs on the loop's own connection, but only as an *exclusive*
 * (writer_exclusive): when no writer job is in flight. So a loop-side write never meets the
 * writer's write lock (the loop never busy-waits for an import's transaction) and never
 * changes a board that a job in flight has planned against; a write that arrives during an
 * import waits (its request is parked, the loop goes on) and runs, in arrival order, when the
 * import is done.
 */
#include "server/server_int.h"

#include <stdlib.h>

#include "store/writer.h"

static struct db *connect_sibling(void *ctx, char *err, size_t errlen)
{
    struct app *app = ctx;
    (void)err;
    (void)errlen;
    return store_sibling_db(app->wstore);
}

static void disconnect_sibling(void *ctx, struct db *db)
{
    struct app *app = ctx;
    (void)db;
    store_free(app->wstore);            /* finalizes its statements, closes db */
    app->wstore = NULL;
}

int writes_open(struct app *app)
{
    struct store *ws = NULL;
    char err[300] = "";
    /* NORMAL: with [database] synchronous = FULL, group commit (durable.c) syncs the WAL for
     * every commit so far, the writer's too (each done tells the store: store_commit_noted),
     * and holds the answers and events until then. A FULL writer would sync once per
     * transaction, and one tenant's moves are one transaction each (its gate). */
    const char *sync = "NORMAL";
    struct writer_options o = {
        .connect = connect_sibling, .disconnect = disconnect_sibling,
        .errbuf = err, .errlen = sizeof(err),
    };

    if (store_open_sibling(app->store, sync, &ws) != 0) {
        pb_log(LOG_ERROR, "writer: %s", store_errmsg(app->store));
        return PB_EINTERNAL;
    }
    o.connect_ctx = app;
    app->wstore = ws;
    if (writer_open(&app->writer, app->loop, NULL, &o) != 0) {
        pb_log(LOG_ERROR, "writer: %s", err);
        store_free(app->wstore);        /* NULL when the writer closed it already */
        app->wstore = NULL;
        return PB_EINTERNAL;
    }
    return 0;
}

static void on_closed(void *ctx)
{
    struct app *app = ctx;
    app->writer_closed = true;
}

void writes_close(struct app *app)
{
    if (app->writer == NULL || app->writer_closing)
        return;
    app->writer_closing = true;
    writer_close(app->writer, on_closed, app);  /* every accepted job still completes */
}

bool writes_idle(const struct app *app)
{
    return app->writer == NULL || app->writer_closing || writer_idle(app->writer);
}

int writes_exclusive(struct app *app, void (*fn)(void *ctx), void *ctx)
{
    if (app->writer == NULL || app->writer_closed) {
        fn(ctx);                        /* no writer (unit tests, after close): nothing to
                                         * keep out of the way of */
        return 0;
    }
    return writer_exclusive(app->writer, fn, ctx);
}

int writes_submit(struct app *app, int64_t tenant_id, writer_prepare_fn prepare,
                  writer_run_fn run, writer_done_fn done, void *ctx)
{
    if (app->writer == NULL || app->writer_closing)
        return PB_EINTERNAL;
    board_load_touch(app, tenant_id);   /* it may commit after a board load's snapshot */
    return writer_submit(app->writer, tenant_id, prepare, run, done, ctx);
}

/* A writes_sql job: the caller's function and context, run on the sibling store. */
struct sql_job {
    struct app *app;
    int (*fn)(struct store *ws, void *ctx);
    void (*done)(void *ctx, int status);
    void *ctx;
};

static int sql_job_run(struct db *db, void *ctx)
{
    struct sql_job *j = ctx;
    (void)db;                           /* the sibling store's own connection */
    return j->fn(j->app->wstore, j->ctx);
}

static void sql_job_done(void *ctx, int status, uint64_t commit_seq)
{
    struct sql_job *j = ctx;
    (void)commit_seq;
    if (status == 0)
        store_commit_noted(j->app->store);      /* group commit syncs it before answers */
    j->done(j->ctx, status);
    free(j);
}

int writes_sql(struct app *app, int64_t tenant_id, int (*fn)(struct store *ws, void *ctx),
               void (*done)(void *ctx, int status), void *ctx)
{
    struct sql_job *j = malloc(sizeof(*j));
    if (j == NULL)
        return PB_EINTERNAL;
    *j = (struct sql_job){ .app = app, .fn = fn, .done = done, .ctx = ctx };
    int rc = writes_submit(app, tenant_id, NULL, sql_job_run, sql_job_done, j);
    if (rc != 0)
        free(j);
    return rc;
}
