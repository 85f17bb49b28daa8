/*
 * reads — database reads off the loop on PostgreSQL (issue 13: "the loop must never wait on a
 * PostgreSQL round trip"; docs/postgresql.md "What still waits on the loop").
 *
 * On SQLite a read of the loop's own connection costs microseconds and never waits on another
 * process for long (WAL: readers do not block), so reads_submit runs the read at once on the
 * loop's store, as every read did before. On PostgreSQL each read is a network round trip: a
 * reader thread owns a connection of its own (a sibling store, like the writer's) and runs the
 * reads there, one after another, each batch inside one READ COMMITTED transaction; the loop
 * goes on and is told through done. The thread is store/writer.c's: a second writer, used for
 * reads only (no tenant gate, nothing to sync), so the queueing, back-pressure and shutdown
 * are the writer's, tested there.
 */
#include "server/server_int.h"

#include <stdlib.h>

#include "store/writer.h"

static struct db *connect_sibling(void *ctx, char *err, size_t errlen)
{
    struct app *app = ctx;
    (void)err;
    (void)errlen;
    return store_sibling_db(app->rstore);
}

static void disconnect_sibling(void *ctx, struct db *db)
{
    struct app *app = ctx;
    (void)db;
    store_free(app->rstore);            /* finalizes its statements, closes db */
    app->rstore = NULL;
}

int reads_open(struct app *app)
{
    struct store *rs = NULL;
    char err[300] = "";
    struct writer_options o = {
        .connect = connect_sibling, .disconnect = disconnect_sibling, .connect_ctx = app,
        .errbuf = err, .errlen = sizeof(err),
    };
    if (!app->postgres)
        return 0;                       /* SQLite: reads stay on the loop's connection */
    if (store_open_sibling(app->store, "NORMAL", &rs) != 0) {
        pb_log(LOG_ERROR, "reader: %s", store_errmsg(app->store));
        return PB_EINTERNAL;
    }
    app->rstore = rs;
    if (writer_open(&app->reader, app->loop, NULL, &o) != 0) {
        pb_log(LOG_ERROR, "reader: %s", err);
        store_free(app->rstore);        /* NULL when the writer closed it already */
        app->rstore = NULL;
        return PB_EINTERNAL;
    }
    return 0;
}

static void on_closed(void *ctx)
{
    struct app *app = ctx;
    app->reader_closed = true;
    app->reader = NULL;
}

void reads_close(struct app *app)
{
    if (app->reader == NULL || app->reader_closing)
        return;
    app->reader_closing = true;
    writer_close(app->reader, on_closed, app);  /* every accepted read still completes */
}

/* A reads_submit job: the caller's function and context. */
struct read_job {
    struct app *app;
    int (*fn)(struct store *rs, void *ctx);
    void (*done)(void *ctx, int status);
    void *ctx;
};

static int read_job_run(struct db *db, void *ctx)
{
    struct read_job *j = ctx;
    (void)db;                           /* the reader store's own connection */
    return j->fn(j->app->rstore, j->ctx);
}

static void read_job_done(void *ctx, int status, uint64_t commit_seq)
{
    struct read_job *j = ctx;
    (void)commit_seq;
    j->done(j->ctx, status);
    free(j);
}

int reads_submit(struct app *app, int (*fn)(struct store *rs, void *ctx),
                 void (*done)(void *ctx, int status), void *ctx)
{
    if (!app->postgres) {
        done(ctx, fn(app->store, ctx));
        return 0;
    }
    if (app->reader == NULL || app->reader_closing)
        return PB_EINTERNAL;
    struct read_job *j = malloc(sizeof(*j));
    if (j == NULL)
        return PB_EINTERNAL;
    *j = (struct read_job){ .app = app, .fn = fn, .done = done, .ctx = ctx };
    int rc = writer_submit(app->reader, 0, NULL, read_job_run, read_job_done, j);
    if (rc != 0)
        free(j);
    return rc;
}

/* ---------------------------------------------------------------- route_read */

struct route_read_job {
    struct http_req *owner;             /* first: CLOSED_HTTP clears it */
    struct route_read q;
    route_read_fn fn;
    cJSON *out;                         /* the answer fn built */
    int http_status;
    const char *message;                /* fn's error message (static) */
};

static int route_read_run(struct store *rs, void *ctx)
{
    struct route_read_job *j = ctx;
    cJSON_Delete(j->out);               /* a second run overwrites the first */
    j->out = NULL;
    j->http_status = 200;
    j->message = NULL;
    return j->fn(rs, &j->q, &j->out, &j->http_status, &j->message);
}

static void route_read_done(void *ctx, int status)
{
    struct route_read_job *j = ctx;
    struct http_req *r = j->owner;
    if (r != NULL) {
        r->job = NULL;
        if (status == 0 && j->out != NULL) {
            http_reply_json(r, j->http_status, j->out);
            j->out = NULL;
        } else {
            http_reply_error(r, status == 0 ? PB_EINTERNAL : status,
                             j->message != NULL ? j->message : "could not read the database",
                             NULL);
        }
    }
    cJSON_Delete(j->out);
    free(j);
}

void route_read(struct http_req *r, const struct route_read *q, route_read_fn fn)
{
    struct route_read_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    j->owner = r;
    j->q = *q;
    j->fn = fn;
    r->job = j;                         /* route_read_done answers (at once on SQLite) */
    int rc = reads_submit(r->app, route_read_run, route_read_done, j);
    if (rc != 0) {
        r->job = NULL;
        free(j);
        http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                         "could not read the database", NULL);
    }
}
