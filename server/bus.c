/*
 * bus — the server's end of the cluster bus (SPEC §12; issue 13 item 3; store/bus.h;
 * docs/postgresql.md "Several nodes").
 *
 * On PostgreSQL every room event gets its seq from the database (room_log.c ->
 * store_room_log_sequence) and reaches the rooms only from here: the node's LISTEN connection
 * is polled on the loop (uv_poll, libpq's non-blocking calls: the loop never waits on it); a
 * NOTIFY "<tenant> <seq> <node>" (or this node's own sequencing job finishing) queues a fetch
 * of that tenant's rows after the room's last seq, and the rows go into the room in seq order
 * (room_deliver). So every node's room holds the same events in the same order, whichever
 * node published them.
 *
 * Caches: another node's events are applied to this node's cached board in seq order
 * (follow.c, store/follow.h); an event that cannot be applied exactly, or a gap in what this
 * node knows (a reconnect, a tenant whose log it did not read), drops the board instead
 * (store_board_drop; the next use reloads it from the database) as soon as nothing points
 * into it (no writer job of the tenant outstanding, no import streaming): at once in the
 * common case, else retried every PB_BUS_STALE_MS. A move batch refused as stale waits here
 * for the log to be applied (bus_wait) and is planned again on the same board.
 *
 * The connection breaking (PostgreSQL restarting) is not fatal: it is reopened every
 * PB_BUS_RETRY_MS, and every room with members is fetched again then (what was notified
 * meanwhile is in the log).
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "store/bus.h"
#include "store/follow.h"
#include "store/writer.h"

static void on_poll(uv_poll_t *h, int status, int events);
static void pump(struct app *app);

/* ---------------------------------------------------------------- fetch queue */

void bus_want(struct app *app, int64_t tenant_id)
{
    struct bus_state *bs = &app->bus;
    bool found;

    room_applied_seq(app, tenant_id, &found);
    if (!found || hmap_get_int(&bs->wanted, tenant_id) != NULL)
        return;                 /* no room here (it reads the log when made), or queued */
    if (bs->q_head > 0 && bs->n_queue == bs->cap_queue) {     /* reuse the popped front */
        memmove(bs->queue, bs->queue + bs->q_head,
                (bs->n_queue - bs->q_head) * sizeof(*bs->queue));
        bs->n_queue -= bs->q_head;
        bs->q_head = 0;
    }
    if (bs->n_queue == bs->cap_queue) {
        size_t cap = bs->cap_queue ? bs->cap_queue * 2 : 16;
        int64_t *nq = realloc(bs->queue, cap * sizeof(*nq));
        if (nq == NULL)
            return;             /* the next notification retries */
        bs->queue = nq;
        bs->cap_queue = cap;
    }
    if (hmap_reserve(&bs->wanted, bs->wanted.len + 1) != 0)
        return;
    hmap_put_int(&bs->wanted, tenant_id, (void *)1);
    bs->queue[bs->n_queue++] = tenant_id;
    pump(app);
}

/* Start the next fetch when none is in flight. */
static void pump(struct app *app)
{
    struct bus_state *bs = &app->bus;
    while (bs->b != NULL && bus_ready(bs->b) && !bus_busy(bs->b) && bs->q_head < bs->n_queue) {
        int64_t tenant_id = bs->queue[bs->q_head++];
        bool found;
        if (bs->q_head == bs->n_queue)
            bs->q_head = bs->n_queue = 0;       /* empty: start over at the front */
        hmap_del_int(&bs->wanted, tenant_id);
        uint64_t after = room_applied_seq(app, tenant_id, &found);
        if (!found)
            continue;
        if (bus_fetch(bs->b, tenant_id, after, PB_BUS_FETCH_ROWS) != 0) {
            bus_want(app, tenant_id);           /* broken: on_poll reopens and refetches */
            return;
        }
        bs->fetches++;
    }
    if (bs->b != NULL && bs->poll_init && !bs->poll_closing)
        uv_poll_start(&bs->poll, UV_READABLE | (bus_wants_write(bs->b) ? UV_WRITABLE : 0),
                      on_poll);
}

/* ---------------------------------------------------------------- handlers */

static void h_notified(void *ctx, int64_t tenant_id, uint64_t seq, const char *node)
{
    struct app *app = ctx;
    bool own = strcmp(node, app->node) == 0, found;
    app->bus.notifications++;
    if (!own) {
        app->bus.foreign++;
        room_applied_seq(app, tenant_id, &found);
        if (!found) {
            room_load_touch(app, tenant_id);
            /* a board but no room (REST clients only): this node reads no log of the
             * tenant, so it cannot follow it: from now on it does (the room reads the log
             * when made: off the loop, room_load.c), and until then the board is reloaded
             * at each such NOTIFY */
            if (store_follow_loaded(app->store, tenant_id)) {
                if (!room_load_prefetch(app, tenant_id))
                    room_get(app, tenant_id);
                follow_board_stale(app, tenant_id);
            }
        }
    }
    follow_notified(app, tenant_id, seq, own);
    room_notified(app, tenant_id, seq);
    bus_want(app, tenant_id);
}

/* Another node changed a tenant's calendar or timezone (store_room_log_notify_calendar): the
 * cached board's calendar is old, and no room event says what the new one is, so the board
 * goes (follow_board_stale) and its next use reloads it. Before, every schedule_updated read
 * the calendar again on the loop: a round trip per foreign move on every node. */
static void h_calendar(void *ctx, int64_t tenant_id, const char *node)
{
    struct app *app = ctx;
    if (strcmp(node, app->node) != 0 && store_follow_loaded(app->store, tenant_id))
        follow_board_stale(app, tenant_id);
}

static void h_row(void *ctx, int64_t tenant_id, uint64_t seq, const char *frame, size_t len)
{
    struct app *app = ctx;
    bool found;
    uint64_t before = room_applied_seq(app, tenant_id, &found);
    app->bus.rows++;
    room_deliver(app, tenant_id, seq, frame, len);
    lock_mirror_event(app, tenant_id, frame, len);      /* the drag-lock mirror */
    if (found && seq > before) {        /* not a refetch of a delivered one */
        follow_row(app, tenant_id, seq, frame, len);    /* the cached board */
        bus_waiters_check(app, tenant_id);
    }
}

/* ---------------------------------------------------------------- waiting for the log */

struct bus_waiter {
    struct bus_waiter *next;
    int64_t tenant_id;
    uint64_t target;                    /* the room's seq to reach */
    uint64_t deadline_ms;
    void (*cb)(struct app *app, void *ctx, bool caught_up);
    void *ctx;
};

/* Call (and free) the waiters that are due: those of tenant_id (0: of every tenant) whose
 * seq was reached, with tenant_id 0 also those past their deadline; with force, all of them
 * (the bus broke or stops). Each is out of the list before any callback runs. */
static void waiters_fire(struct app *app, int64_t tenant_id, bool force)
{
    struct bus_waiter **pp = &app->bus.waiters, *w, *fired = NULL, **tail = &fired;
    uint64_t now = uv_now(app->loop);
    while ((w = *pp) != NULL) {
        bool found;
        bool reached = room_applied_seq(app, w->tenant_id, &found) >= w->target && found;
        bool go = force || (reached && (tenant_id == 0 || w->tenant_id == tenant_id))
                  || (tenant_id == 0 && now >= w->deadline_ms);
        if (!go) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->next = NULL;
        *tail = w;
        tail = &w->next;
    }
    while ((w = fired) != NULL) {
        bool found;
        bool ok = !force && room_applied_seq(app, w->tenant_id, &found) >= w->target && found;
        fired = w->next;
        if (!ok)
            app->bus.wait_timeouts++;
        w->cb(app, w->ctx, ok);
        free(w);
    }
    if (app->bus.waiters == NULL && app->bus.wait_timer_init)
        uv_timer_stop(&app->bus.wait_timer);
}

static void on_wait_timer(uv_timer_t *t)
{
    struct app *app = t->data;
    waiters_fire(app, 0, false);
    if (app->bus.waiters != NULL)
        uv_timer_start(&app->bus.wait_timer, on_wait_timer, PB_BUS_WAIT_MS / 5, 0);
}

void bus_waiters_check(struct app *app, int64_t tenant_id)
{
    if (app->bus.waiters != NULL)
        waiters_fire(app, tenant_id, false);
}

bool bus_wait(struct app *app, int64_t tenant_id,
              void (*cb)(struct app *app, void *ctx, bool caught_up), void *ctx)
{
    struct bus_state *bs = &app->bus;
    bool found;
    uint64_t applied = room_applied_seq(app, tenant_id, &found);
    uint64_t notified = room_notified_seq(app, tenant_id);
    if (bs->b == NULL || bs->poll_closing || !found || !bs->wait_timer_init
        || notified > applied + PB_BUS_WAIT_MAX)
        return false;
    struct bus_waiter *w = calloc(1, sizeof(*w)), **pp = &bs->waiters;
    if (w == NULL)
        return false;
    *w = (struct bus_waiter){ .tenant_id = tenant_id,
                              .target = notified > applied ? notified : applied + 1,
                              .deadline_ms = uv_now(app->loop) + PB_BUS_WAIT_MS,
                              .cb = cb, .ctx = ctx };
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = w;
    bs->waits++;
    if (!uv_is_active((uv_handle_t *)&bs->wait_timer))
        uv_timer_start(&bs->wait_timer, on_wait_timer, PB_BUS_WAIT_MS / 5, 0);
    return true;
}

static void h_fetched(void *ctx, int64_t tenant_id, size_t rows, int status)
{
    struct app *app = ctx;
    if (status != 0)
        pb_log(LOG_WARN, "bus: reading the events of tenant %lld failed", (long long)tenant_id);
    else if (rows == PB_BUS_FETCH_ROWS)
        bus_want(app, tenant_id);               /* there may be more */
}

static const struct bus_handler handler = {
    .notified = h_notified, .calendar = h_calendar, .row = h_row, .fetched = h_fetched,
};

/* ---------------------------------------------------------------- connection */

static void on_retry(uv_timer_t *t);

static int poll_fd(struct app *app);

static void poll_closed(uv_handle_t *h)
{
    struct app *app = h->data;
    app->bus.poll_init = false;
    app->bus.poll_closing = false;
    if (app->bus.repoll) {              /* the same connection, on its new socket */
        app->bus.repoll = false;
        if (!app->stopping && app->bus.b != NULL && poll_fd(app) == 0)
            return;
    }
    bus_close(app->bus.b);
    app->bus.b = NULL;
    if (!app->stopping && app->bus.retry_init)
        uv_timer_start(&app->bus.retry, on_retry, PB_BUS_RETRY_MS, 0);
}

bool bus_connected(const struct app *app)
{
    return app->bus.b != NULL && bus_ready(app->bus.b) && app->bus.poll_init
        && !app->bus.poll_closing;
}

/* The connection broke: close it; on_retry opens a new one. */
static void broken(struct app *app)
{
    struct bus_state *bs = &app->bus;
    if (bs->poll_closing)
        return;
    pb_log(LOG_WARN, "bus: the LISTEN connection to PostgreSQL broke; reconnecting");
    waiters_fire(app, 0, true);  /* what they wait for may not come: reload */
    if (bs->poll_init) {
        bs->poll_closing = true;
        uv_poll_stop(&bs->poll);
        uv_close((uv_handle_t *)&bs->poll, poll_closed);
    } else {
        bus_close(bs->b);
        bs->b = NULL;
        if (!app->stopping && bs->retry_init)
            uv_timer_start(&bs->retry, on_retry, PB_BUS_RETRY_MS, 0);
    }
}

static void on_ready(struct app *app);

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct app *app = h->data;
    struct bus_state *bs = &app->bus;
    (void)events;
    if (bs->b == NULL || bs->poll_closing)
        return;
    struct bus_handler bh = handler;
    bh.ctx = app;
    bool was_ready = bus_ready(bs->b);
    if (status < 0 || bus_service(bs->b, &bh) != 0) {
        broken(app);
        return;
    }
    if (!was_ready) {                   /* a reconnect in progress (bus_open_start) */
        if (bus_fd(bs->b) != bs->fd) {  /* libpq moved on to another address: watch it */
            bs->repoll = true;
            bs->poll_closing = true;
            uv_poll_stop(&bs->poll);
            uv_close((uv_handle_t *)&bs->poll, poll_closed);
            return;
        }
        if (bus_ready(bs->b))
            on_ready(app);
    }
    pump(app);
}

/* Watch the connection's socket (readable; writable while libpq has output or the connect
 * waits for it). 0, or PB_EINTERNAL (the connection is closed). */
static int poll_fd(struct app *app)
{
    struct bus_state *bs = &app->bus;
    bs->fd = bus_fd(bs->b);
    if (uv_poll_init(app->loop, &bs->poll, bs->fd) != 0) {
        bus_close(bs->b);
        bs->b = NULL;
        return PB_EINTERNAL;
    }
    bs->poll.data = app;
    bs->poll_init = true;
    uv_poll_start(&bs->poll, UV_READABLE | (bus_wants_write(bs->b) ? UV_WRITABLE : 0), on_poll);
    return 0;
}

/* Open the connection and poll it: at start blocking (the server does not start without its
 * database), later without waiting (bus_open_start: the loop never waits on a reconnect; its
 * steps run in on_poll). 0 or PB_EINTERNAL. */
static int connect_bus(struct app *app, bool blocking)
{
    struct bus_state *bs = &app->bus;
    char err[256];
    int rc = blocking ? bus_open(&bs->b, app->cfg.db_path, err, sizeof(err))
                      : bus_open_start(&bs->b, app->cfg.db_path, err, sizeof(err));
    if (rc != 0) {
        pb_log(LOG_WARN, "bus: %s", err);
        return PB_EINTERNAL;
    }
    return poll_fd(app);
}

/* After a reconnect: what was notified meanwhile is in the log (fetch it), and other nodes may
 * have written meanwhile (this node's board of the tenant may be stale). */
static void catch_up(struct app *app, int64_t tenant_id, void *ctx)
{
    (void)ctx;
    follow_board_stale(app, tenant_id);
    bus_want(app, tenant_id);
}

/* A reconnect that is not done after PB_BUS_CONNECT_MS (libpq's connect_timeout does not
 * apply to a non-blocking connect): give it up; broken() schedules the next try. */
static void on_connect_timeout(uv_timer_t *t)
{
    struct app *app = t->data;
    if (!app->stopping && app->bus.b != NULL && !bus_ready(app->bus.b)) {
        pb_log(LOG_WARN, "bus: reconnecting to PostgreSQL timed out");
        broken(app);
    }
}

static void on_retry(uv_timer_t *t)
{
    struct app *app = t->data;
    if (app->stopping)
        return;
    if (connect_bus(app, false) != 0) {
        uv_timer_start(&app->bus.retry, on_retry, PB_BUS_RETRY_MS, 0);
        return;
    }
    uv_timer_start(&app->bus.retry, on_connect_timeout, PB_BUS_CONNECT_MS, 0);
}

/* A reconnect is done (LISTEN in place): what was notified meanwhile is read. */
static void on_ready(struct app *app)
{
    uv_timer_stop(&app->bus.retry);     /* the connect timeout */
    app->bus.reconnects++;
    pb_log(LOG_INFO, "bus: reconnected");
    room_each_joined(app, catch_up, NULL);
}

int bus_start(struct app *app)
{
    struct bus_state *bs = &app->bus;
    hmap_init(&bs->wanted, NULL, NULL);
    hmap_init(&bs->stale, NULL, NULL);
    hmap_init(&app->follow, NULL, NULL);
    if (!app->postgres)
        return 0;
    app->room_linked = bus_want;        /* a room read off the loop: what was logged after */
    if (uv_timer_init(app->loop, &bs->retry) != 0 || uv_timer_init(app->loop, &bs->sweep) != 0
        || uv_timer_init(app->loop, &bs->wait_timer) != 0)
        return PB_EINTERNAL;
    bs->retry.data = bs->sweep.data = bs->wait_timer.data = app;
    bs->retry_init = bs->sweep_init = bs->wait_timer_init = true;
    return connect_bus(app, true);
}

void bus_stop(struct app *app)
{
    struct bus_state *bs = &app->bus;
    waiters_fire(app, 0, true);
    if (bs->wait_timer_init) {
        uv_timer_stop(&bs->wait_timer);
        uv_close((uv_handle_t *)&bs->wait_timer, NULL);
        bs->wait_timer_init = false;
    }
    if (bs->retry_init) {
        uv_timer_stop(&bs->retry);
        uv_close((uv_handle_t *)&bs->retry, NULL);
        bs->retry_init = false;
    }
    if (bs->sweep_init) {
        uv_timer_stop(&bs->sweep);
        uv_close((uv_handle_t *)&bs->sweep, NULL);
        bs->sweep_init = false;
    }
    if (bs->poll_init && !bs->poll_closing) {
        bs->poll_closing = true;
        uv_poll_stop(&bs->poll);
        uv_close((uv_handle_t *)&bs->poll, poll_closed);    /* closes the connection */
    } else if (!bs->poll_init) {
        bus_close(bs->b);
        bs->b = NULL;
    }
}

uint64_t bus_unsettled(struct app *app)
{
    struct bus_state *bs = &app->bus;
    return app->room_log.n + (app->room_log.in_flight ? 1 : 0) + app->presence_jobs
           + (bs->n_queue - bs->q_head)
           + (bs->b != NULL && bus_busy(bs->b) ? 1 : 0) + room_lag_total(app);
}

void bus_free(struct app *app)
{
    struct bus_state *bs = &app->bus;
    hmap_cleanup(&bs->wanted);
    hmap_cleanup(&bs->stale);
    follow_free(app);
    free(bs->queue);
    bs->queue = NULL;
    bs->n_queue = bs->cap_queue = bs->q_head = 0;
}
