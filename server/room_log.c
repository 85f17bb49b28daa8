/*
 * room_log — the server side of the room's event log (issue 13 item 2; store/room_log.h has
 * the rules, docs/api-notes.md "Room event log" the user's view).
 *
 * room_publish hands each event here (room_log_note) after it is published; the events queue
 * on the loop for PB_ROOM_LOG_FLUSH_MS (or until PB_ROOM_LOG_BATCH wait) and go to the writer
 * thread as one job at a time, so a batch of events costs one leaf page of the log, not one
 * per event (bench/README.md "Room event log"), and the loop never waits. The
 * job writes them with store_room_log_append on the writer's sibling store. At stop, what is
 * still queued is written on the loop's own connection once the writer is gone, and the log
 * is marked clean (room_log_finish); a start after anything else renews every room's epoch
 * (room_log_start). A failed log write or a queue past PB_ROOM_LOG_PENDING marks the log dirty
 * for the rest of the run: events are not logged any more, the stop does not mark it clean,
 * and clients resync after the next start as they did before the log existed.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

struct room_log_item {
    struct room_log_entry e;            /* e.frame points into m */
    size_t split;                       /* PostgreSQL: where the seq goes into m's frame */
    char epoch[PB_EPOCH_LEN + 1];       /* e.epoch points here once the batch is final */
    struct ws_msg *m;                   /* a reference of ours */
};

struct room_log_job {
    struct app *app;
    struct room_log_item *items;
    struct room_log_entry *entries;     /* grouped by tenant, each in seq order */
    struct room_log_event *events;      /* PostgreSQL: the same items, in publish order */
    size_t n;
};

/* PostgreSQL: the queued items as events to sequence, in publish order (NULL: no memory). */
static struct room_log_event *events_of(struct room_log_item *items, size_t n)
{
    struct room_log_event *e = malloc(n * sizeof(*e));
    if (e == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        e[i] = (struct room_log_event){
            .tenant_id = items[i].e.tenant_id, .frame = (const char *)items[i].m->buf + LWS_PRE,
            .len = items[i].m->len, .split = items[i].split,
        };
    return e;
}

static void items_release(struct room_log_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ws_msg_unref(items[i].m);
    free(items);
}

/* Give up logging for this run: drop what is queued and remember not to mark the log clean. */
static void give_up(struct app *app, const char *why)
{
    struct room_log_queue *q = &app->room_log;
    if (!q->dirty)
        pb_log(LOG_ERROR, "room event log: %s; clients resync after the next start", why);
    q->dirty = true;
    q->failed += q->n;
    items_release(q->items, q->n);
    q->items = NULL;
    q->n = q->cap = 0;
}

/* Grouped by tenant (qsort is not stable: seq breaks ties, and a tenant's seqs are unique). */
static int by_tenant_seq(const void *a, const void *b)
{
    const struct room_log_entry *x = a, *y = b;
    if (x->tenant_id != y->tenant_id)
        return x->tenant_id < y->tenant_id ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The queued items as a batch of entries (NULL when out of memory). */
static struct room_log_entry *batch(struct room_log_item *items, size_t n)
{
    struct room_log_entry *e = malloc(n * sizeof(*e));
    if (e == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        e[i] = items[i].e;
        e[i].epoch = items[i].epoch;
        e[i].frame = (const char *)items[i].m->buf + LWS_PRE;
        e[i].len = items[i].m->len;
    }
    qsort(e, n, sizeof(*e), by_tenant_seq);
    return e;
}

/* Writer thread: the events into the log (a nested transaction in the writer's). */
static int job_run(struct db *db, void *ctx)
{
    struct room_log_job *j = ctx;
    (void)db;                           /* the sibling store's own connection */
    if (j->events != NULL)
        return store_room_log_sequence(j->app->wstore, j->events, j->n, j->app->node,
                                       PB_ROOM_LOG_EVENTS);
    return store_room_log_append(j->app->wstore, j->entries, j->n);
}

static void submit(struct app *app);

static void on_flush(uv_timer_t *t)
{
    submit(t->data);
}

/* Submit now when a batch is full, else PB_ROOM_LOG_FLUSH_MS after the first queued event (no
 * timer once stopping: room_log_finish writes what is left). */
static void schedule_flush(struct app *app)
{
    struct room_log_queue *q = &app->room_log;
    /* PostgreSQL: an event reaches no one before the database gave it its seq, so it goes
     * at once (a batch forms while one job is at the writer). */
    if (q->n >= PB_ROOM_LOG_BATCH || app->postgres) {
        submit(app);
        return;
    }
    if (app->stopping || app->loop == NULL)
        return;
    if (!q->flush_init) {
        if (uv_timer_init(app->loop, &q->flush) != 0) {
            submit(app);
            return;
        }
        q->flush.data = app;
        q->flush_init = true;
    }
    if (!uv_is_active((uv_handle_t *)&q->flush))
        uv_timer_start(&q->flush, on_flush, PB_ROOM_LOG_FLUSH_MS, 0);
}

void room_log_close(struct app *app)
{
    if (app->room_log.flush_init) {
        uv_timer_stop(&app->room_log.flush);
        uv_close((uv_handle_t *)&app->room_log.flush, NULL);
        app->room_log.flush_init = false;
    }
}

static void job_done(void *ctx, int status, uint64_t commit_seq)
{
    struct room_log_job *j = ctx;
    struct app *app = j->app;
    (void)commit_seq;
    app->room_log.in_flight = false;
    if (status == 0) {
        app->room_log.logged += j->n;
        /* PostgreSQL: the events come back to this node's rooms with the NOTIFY of their
         * commit, like every other node's (server/bus.c). */
    } else if (j->events != NULL) {
        /* PostgreSQL: nobody saw these events (they get a seq only from the database). The
         * changes are committed: the rooms' members are told to reload (1011). */
        app->room_log.failed += j->n;
        pb_log(LOG_ERROR, "room event log: %zu events could not be sequenced", j->n);
        for (size_t i = 0; app->room_log.on_lost != NULL && i < j->n; i++)
            app->room_log.on_lost(app, j->events[i].tenant_id);
    } else {
        app->room_log.failed += j->n;
        give_up(app, "an append failed");
    }
    items_release(j->items, j->n);
    free(j->entries);
    free(j->events);
    free(j);
    if (app->room_log.n > 0 && !app->room_log.dirty)
        schedule_flush(app);
}

/* Hand the queued events to the writer as one job, when none is there. When the writer cannot
 * take it now (closing, or its queue full) they stay queued: the next event retries, and the
 * stop writes them (room_log_finish). */
static void submit(struct app *app)
{
    struct room_log_queue *q = &app->room_log;
    struct room_log_job *j;

    if (q->in_flight || q->n == 0 || app->writer == NULL || app->writer_closing)
        return;
    if ((j = calloc(1, sizeof(*j))) == NULL
        || (app->postgres ? (j->events = events_of(q->items, q->n)) == NULL
                          : (j->entries = batch(q->items, q->n)) == NULL)) {
        free(j);
        give_up(app, "out of memory");
        return;
    }
    j->app = app;
    j->items = q->items;
    j->n = q->n;
    if (writes_submit(app, 0, NULL, job_run, job_done, j) != 0) {
        free(j->entries);               /* stays queued */
        free(j->events);
        free(j);
        return;
    }
    q->items = NULL;
    q->n = q->cap = 0;
    q->in_flight = true;
    q->jobs++;
}

void room_log_note(struct app *app, int64_t tenant_id, const char *epoch, struct ws_msg *m,
                   uint64_t prune_upto)
{
    struct room_log_queue *q = &app->room_log;

    if (app->store == NULL || q->dirty)
        return;                         /* no database (unit tests), or given up */
    if (q->n >= PB_ROOM_LOG_PENDING) {
        give_up(app, "too many events waiting for the writer");
        return;
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        struct room_log_item *ni = realloc(q->items, cap * sizeof(*ni));
        if (ni == NULL) {
            give_up(app, "out of memory");
            return;
        }
        q->items = ni;
        q->cap = cap;
    }
    struct room_log_item *it = &q->items[q->n++];
    memset(it, 0, sizeof(*it));
    it->e.tenant_id = tenant_id;
    it->e.seq = m->seq;
    it->e.prune_upto = prune_upto;
    memcpy(it->epoch, epoch, PB_EPOCH_LEN + 1);
    ws_msg_ref(m);
    it->m = m;
    schedule_flush(app);
}

int room_log_sequence_note(struct app *app, int64_t tenant_id, struct ws_msg *m, size_t split)
{
    struct room_log_queue *q = &app->room_log;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        struct room_log_item *ni = cap <= PB_ROOM_LOG_PENDING
                                 ? realloc(q->items, cap * sizeof(*ni)) : NULL;
        if (ni == NULL) {
            pb_log(LOG_ERROR, "room %lld: an event could not be queued for its seq",
                   (long long)tenant_id);
            return PB_EINTERNAL;
        }
        q->items = ni;
        q->cap = cap;
    }
    struct room_log_item *it = &q->items[q->n++];
    memset(it, 0, sizeof(*it));
    it->e.tenant_id = tenant_id;
    it->split = split;
    ws_msg_ref(m);
    it->m = m;
    schedule_flush(app);
    return 0;
}

int room_log_start(struct app *app)
{
    bool rotated = false;
    if (app->postgres)
        return 0;           /* no clean flag: an event is in the database before anyone sees it */
    if (store_room_log_start(app->store, &rotated) != 0) {
        pb_log(LOG_ERROR, "room event log: %s", store_errmsg(app->store));
        return PB_EINTERNAL;
    }
    if (rotated)
        pb_log(LOG_WARN, "room event log: the last run did not stop cleanly; every room has a "
                         "new epoch (clients reload their boards)");
    return 0;
}

void room_log_finish(struct app *app)
{
    struct room_log_queue *q = &app->room_log;
    struct room_log_entry *e = NULL;
    if (app->store == NULL)
        return;
    if (app->postgres) {            /* what was published last: sequenced on the loop's connection */
        struct room_log_event *ev = q->n > 0 ? events_of(q->items, q->n) : NULL;
        if (q->n > 0 && (ev == NULL || store_room_log_sequence(app->store, ev, q->n, app->node,
                                                               PB_ROOM_LOG_EVENTS) != 0))
            pb_log(LOG_ERROR, "room event log: the last %zu events could not be written", q->n);
        free(ev);
        items_release(q->items, q->n);
        q->items = NULL;
        q->n = q->cap = 0;
        return;
    }
    if (!q->dirty && !q->in_flight && app->exit_code == 0) {
        if (q->n > 0 && (e = batch(q->items, q->n)) == NULL)
            give_up(app, "out of memory");
        else if (store_room_log_stop(app->store, e, q->n) != 0)
            give_up(app, "the last append failed");
        else
            q->logged += q->n;
        free(e);
    }
    items_release(q->items, q->n);
    q->items = NULL;
    q->n = q->cap = 0;
}
