/*
 * room_load — on PostgreSQL a tenant's room is made off the loop the first time this node
 * serves the tenant (issue 13: "the loop must never wait on a PostgreSQL round trip";
 * docs/postgresql.md "A room's first use").
 *
 * Making a room reads its room_log row (and on the cluster's first use of the tenant, writes
 * it: the epoch), its last logged events (up to PB_ROOM_LOG_EVENTS) and the tenant's live drag
 * locks for this node's mirror: about four round trips, on the loop's connection before. Here
 * they run on the reader thread (reads_submit, room_prefetch_read into a room not linked
 * anywhere) and the room is linked at the read's done (room_prefetch_install); the requests
 * that need the room wait meanwhile and are then dispatched as usual, finding it. One read per
 * tenant at a time: the requests that arrive while it runs wait for the same one.
 *
 * A room read is a snapshot. What it missed is in the log: the bus fetches every event after
 * the room's seq once the room is linked (app->room_linked: bus_want, set by server/bus.c, which
 * sits above this file), as it does after each NOTIFY; a lock
 * event after the seq is applied to the mirror again (harmless both ways). While no room is
 * linked, a cached board is not followed (server/bus.c h_notified drops it at each foreign
 * NOTIFY); a board cached when the room is linked is reloaded if such a NOTIFY came while
 * the room was read (the board may hold events the bus then brings again).
 *
 * A read that fails (PostgreSQL away) lets the waiters go on: room_get then makes the room
 * inline, as before (with its own error handling). On SQLite nothing here is used.
 */
#include "server/server_int.h"

#include <stdlib.h>

#include "store/follow.h"

/* One tenant's room read in flight (app->room_loads, keyed by tenant id). Loop thread only, but
 * for p, which the reader thread fills while the read runs. */
struct room_load {
    struct app *app;
    int64_t tenant_id;
    struct room_prefetch *p;
    bool foreign;                       /* another node's NOTIFY came meanwhile */
    struct waitlist waiters;            /* the requests waiting for it (waitlist.c) */
};

static int load_run(struct store *rs, void *ctx)
{
    struct room_load *l = ctx;
    return room_prefetch_read(rs, l->p);
}

static void load_done(void *ctx, int status)
{
    struct room_load *l = ctx;
    struct app *app = l->app;

    if (status == 0 && !app->stopping && room_prefetch_install(app, l->p)) {
        /* another node's events came meanwhile: a board cached now may have been loaded after
         * some of them, which the bus brings again (after the room's seq): reloaded */
        if (l->foreign && store_follow_loaded(app->store, l->tenant_id))
            follow_board_stale(app, l->tenant_id);
        if (app->room_linked != NULL)
            app->room_linked(app, l->tenant_id);        /* the bus: what was logged after */
    } else if (status != 0) {
        pb_log(LOG_INFO, "room %lld: read failed (%d): made inline at its next use",
               (long long)l->tenant_id, status);
    }
    room_prefetch_free(l->p);
    hmap_del_int(&app->room_loads, l->tenant_id);
    (void)waitlist_release(&l->waiters);
    free(l);
}

static bool wanted(struct app *app, int64_t tenant_id)
{
    return app->postgres && app->store != NULL && app->reader != NULL && !app->reader_closing
           && !app->stopping && tenant_id > 0 && !room_exists(app, tenant_id);
}

/* The read of tenant_id's room in flight, or a new one (submitted); NULL when none could
 * start. */
static struct room_load *load_get(struct app *app, int64_t tenant_id)
{
    struct room_load *l = hmap_get_int(&app->room_loads, tenant_id);
    if (l != NULL)
        return l;
    if (hmap_reserve(&app->room_loads, app->room_loads.len + 1) != 0
        || (l = calloc(1, sizeof(*l))) == NULL)
        return NULL;
    l->app = app;
    l->tenant_id = tenant_id;
    if ((l->p = room_prefetch_new(tenant_id)) == NULL
        || reads_submit(app, load_run, load_done, l) != 0) {
        room_prefetch_free(l->p);
        free(l);
        return NULL;
    }
    app->room_loads_total++;
    hmap_put_int(&app->room_loads, tenant_id, l);
    return l;
}

void *room_load_wait(struct app *app, int64_t tenant_id, void (*ready)(void *owner),
                     void *owner)
{
    struct room_load *l;
    if (!wanted(app, tenant_id) || (l = load_get(app, tenant_id)) == NULL)
        return NULL;
    return waitlist_add(&l->waiters, ready, owner);
}

bool room_load_prefetch(struct app *app, int64_t tenant_id)
{
    return wanted(app, tenant_id) && load_get(app, tenant_id) != NULL;
}

void room_load_touch(struct app *app, int64_t tenant_id)
{
    struct room_load *l = hmap_get_int(&app->room_loads, tenant_id);
    if (l != NULL)
        l->foreign = true;
}
