/*
 * durable — group commit for [database] synchronous = FULL (issue 3; SPEC §1: no fsync per
 * request on the loop thread, a failed commit changes nothing on the wire).
 *
 * SQLite runs at synchronous=NORMAL: a COMMIT writes its WAL frames without syncing them.
 * Each commit gets a sequence number (store_commit_seq). A sync thread fdatasync()s the WAL
 * file for every commit made so far, however many, then tells the loop (uv_async) which
 * sequence number is now on disk. Nothing leaves the server before the commits that precede
 * it are on disk: every HTTP answer and every WebSocket frame carries the commit sequence
 * number current when it was made (its "ticket") and waits until durable >= ticket. While one
 * sync runs, the next group gathers: one fsync covers many commits, and the loop never waits.
 */
#include "server/server_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct durable {
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;
    uv_async_t done;                    /* sync thread -> loop: durable advanced */
    int wal_fd;                         /* -1 until the WAL file exists */
    char *wal_path;
    uint64_t wanted;                    /* {lock} highest commit seq to make durable */
    uint64_t synced;                    /* {lock} highest commit seq known on disk */
    uint64_t barrier_wanted;            /* {lock} the last durable_barrier ticket given */
    uint64_t barrier_synced;            /* {lock} barrier tickets covered by a finished sync
                                         * that started after they were given */
    bool stop;                          /* {lock} */
    bool failed;                        /* {lock} an fdatasync failed: stop answering */
    uint64_t syncs;                     /* {lock} fdatasync calls made (for /metrics) */
    uint64_t oldest_ns;                 /* {lock} commit time of the oldest commit not yet
                                         * covered by a started sync, 0 when none */
    struct pb_histogram latency;        /* {lock} per group: oldest commit -> on disk */
};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

void durable_latency(struct app *app, struct pb_histogram *out)
{
    struct durable *d = app->durable;
    memset(out, 0, sizeof(*out));
    if (d == NULL)
        return;
    uv_mutex_lock(&d->lock);
    *out = d->latency;
    uv_mutex_unlock(&d->lock);
}

static void observe(struct pb_histogram *h, double seconds)
{
    size_t i = 0;
    while (i < PB_COMMIT_BUCKETS - 1 && seconds > pb_commit_bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum_seconds += seconds;
}

uint64_t durable_syncs(struct app *app)
{
    struct durable *d = app->durable;
    uint64_t n;
    if (d == NULL)
        return 0;
    uv_mutex_lock(&d->lock);
    n = d->syncs;
    uv_mutex_unlock(&d->lock);
    return n;
}

uint64_t durable_ticket(const struct app *app)
{
    return app->durable != NULL ? store_commit_seq(app->store) : 0;
}

bool durable_reached(const struct app *app, uint64_t ticket)
{
    return ticket <= app->durable_seq;
}

uint64_t durable_barrier(struct app *app)
{
    struct durable *d = app->durable;
    uint64_t ticket;
    if (d == NULL)
        return 0;
    uv_mutex_lock(&d->lock);
    ticket = ++d->barrier_wanted;
    uv_cond_signal(&d->wake);
    uv_mutex_unlock(&d->lock);
    return ticket;
}

bool durable_barrier_reached(const struct app *app, uint64_t ticket)
{
    return ticket <= app->durable_barrier_seq;
}

static void on_commit(void *ctx, uint64_t seq)
{
    struct app *app = ctx;
    struct durable *d = app->durable;
    uv_mutex_lock(&d->lock);
    d->wanted = seq;
    if (d->oldest_ns == 0)
        d->oldest_ns = now_ns();
    uv_cond_signal(&d->wake);
    uv_mutex_unlock(&d->lock);
}

static void sync_thread(void *arg)
{
    struct durable *d = arg;
    uv_mutex_lock(&d->lock);
    for (;;) {
        while (!d->stop && d->wanted <= d->synced && d->barrier_wanted <= d->barrier_synced)
            uv_cond_wait(&d->wake, &d->lock);
        if (d->stop && d->wanted <= d->synced && d->barrier_wanted <= d->barrier_synced)
            break;
        uint64_t target = d->wanted;
        uint64_t barrier = d->barrier_wanted;   /* given before this sync starts */
        uint64_t oldest = d->oldest_ns;
        d->oldest_ns = 0;               /* commits from now on wait for the next sync */
        uv_mutex_unlock(&d->lock);

        int rc = 0;
        if (d->wal_fd < 0)
            d->wal_fd = open(d->wal_path, O_RDONLY | O_CLOEXEC);
        if (d->wal_fd < 0 || fdatasync(d->wal_fd) != 0)
            rc = -1;

        uv_mutex_lock(&d->lock);
        d->syncs++;
        if (oldest != 0)
            observe(&d->latency, (double)(now_ns() - oldest) / 1e9);
        if (rc != 0)
            d->failed = true;           /* never report a commit durable that may not be */
        else {
            d->synced = target;
            d->barrier_synced = barrier;
        }
        uv_async_send(&d->done);
        if (rc != 0)
            break;
    }
    uv_mutex_unlock(&d->lock);
}

/* Loop side: durable advanced; release what waited for it. */
static void on_synced(uv_async_t *a)
{
    struct app *app = a->data;
    struct durable *d = app->durable;
    bool failed;

    uv_mutex_lock(&d->lock);
    app->durable_seq = d->synced;
    app->durable_barrier_seq = d->barrier_synced;
    failed = d->failed;
    uv_mutex_unlock(&d->lock);
    if (failed && !app->stopping) {
        pb_log(LOG_ERROR, "fdatasync of %s failed: stopping so that no undurable change is "
               "answered", d->wal_path);
        app->exit_code = 1;
        if (app->on_durable_failed != NULL)
            app->on_durable_failed(app);    /* the server stops (server_start registers it) */
        return;
    }
    for (size_t i = 0; i < app->n_durable_listeners; i++)
        app->durable_listeners[i].fn(app->durable_listeners[i].ctx, app->durable_seq);
}

int durable_on_reached(struct app *app, void (*fn)(void *ctx, uint64_t durable_seq), void *ctx)
{
    if (app->n_durable_listeners == PB_DURABLE_LISTENERS)
        return PB_EINTERNAL;
    app->durable_listeners[app->n_durable_listeners++] = (struct durable_listener){ fn, ctx };
    return 0;
}

int durable_start(struct app *app)
{
    struct durable *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return PB_EINTERNAL;
    d->wal_fd = -1;
    d->wal_path = strdup(store_wal_path(app->store));
    if (d->wal_path == NULL || uv_mutex_init(&d->lock) != 0) {
        free(d->wal_path);
        free(d);
        return PB_EINTERNAL;
    }
    uv_cond_init(&d->wake);
    uv_async_init(app->loop, &d->done, on_synced);
    d->done.data = app;
    /* Commits made before the thread starts (the demo tenant of `planboard demo`) were written
     * at NORMAL: nothing counts as durable until the first sync covered them. */
    d->synced = 0;
    d->wanted = store_commit_seq(app->store);
    d->oldest_ns = d->wanted > 0 ? now_ns() : 0;
    app->durable_seq = 0;
    app->durable = d;
    store_set_commit_hook(app->store, on_commit, app);
    if (uv_thread_create(&d->thread, sync_thread, d) != 0) {
        store_set_commit_hook(app->store, NULL, NULL);
        app->durable = NULL;
        uv_close((uv_handle_t *)&d->done, NULL);
        return PB_EINTERNAL;            /* d is freed by durable_free after the loop ran */
    }
    pb_log(LOG_INFO, "group commit on: answers wait for fdatasync of %s", d->wal_path);
    return 0;
}

void durable_stop(struct app *app)
{
    struct durable *d = app->durable;
    if (d == NULL)
        return;
    uv_mutex_lock(&d->lock);
    d->stop = true;
    uv_cond_signal(&d->wake);
    uv_mutex_unlock(&d->lock);
    uv_thread_join(&d->thread);         /* finishes the sync in flight first */
    store_set_commit_hook(app->store, NULL, NULL);
    uv_close((uv_handle_t *)&d->done, NULL);
}

void durable_free(struct app *app)
{
    struct durable *d = app->durable;
    if (d == NULL)
        return;
    if (d->wal_fd >= 0)
        close(d->wal_fd);
    uv_cond_destroy(&d->wake);
    uv_mutex_destroy(&d->lock);
    free(d->wal_path);
    free(d);
    app->durable = NULL;
}
