/*
 * board_load — on PostgreSQL a tenant's board that is not cached is loaded off the loop
 * (issue 13: "the loop must never wait on a PostgreSQL round trip"; docs/postgresql.md "A
 * board's first load").
 *
 * store_board() loads a missing board on the loop's own connection: the tenant, its work
 * centres, orders, routing steps and calendar, each a round trip, O(board) rows, and on a
 * locked table a wait of lock_timeout and an error. Here the load runs on the reader thread
 * (reads_submit, store_board_load on the reader's store) and the board is handed to the loop's
 * cache when it is done (store_board_install); the requests that need it wait meanwhile and
 * are then dispatched as usual, finding the board cached. One load per tenant at a time: the
 * requests that arrive while it runs wait for the same load.
 *
 * A load reads a snapshot; a change committed after it and not in it must not be lost. Changes
 * reach a cached board three ways: this node's writes (write-through, at their done), other
 * nodes' events (server/follow.c, passed over while no board is cached) and reloads
 * (follow_board_stale). Each of them, for a tenant whose load is in flight, marks the load
 * stale (board_load_touch): its board is then thrown away and the tenant loaded again (at
 * most BOARD_LOAD_TRIES loads; after that the waiting requests go on and load it inline, as
 * before). A load that fails (PostgreSQL away, a read refused) also lets them go on: their
 * own store_board then answers the error as before.
 *
 * On SQLite nothing here is used: board_load_wait answers false and store_board loads inline
 * (a local read; SQLite's path is the bench's reference).
 */
#include "server/server_int.h"

#include <stdlib.h>

#include "store/writer.h"

#define BOARD_LOAD_TRIES 3              /* loads of one tenant in a row made stale: then inline */

/* One tenant's load in flight (app->board_loads, keyed by tenant id). Loop thread only, but
 * for board, which the reader thread fills while the load runs. */
struct board_load {
    struct app *app;
    int64_t tenant_id;
    struct board *board;                /* loaded (the reader's; handed over at done), or NULL */
    bool stale;                         /* a change may have missed the snapshot: load again */
    int tries;                          /* loads run so far */
    struct waitlist waiters;            /* the requests waiting for it (waitlist.c) */
};

static int load_run(struct store *rs, void *ctx)
{
    struct board_load *l = ctx;
    store_board_free(l->board);         /* a second run (after a failed batch) starts over */
    l->board = NULL;
    return store_board_load(rs, l->tenant_id, &l->board);
}

static int load_submit(struct board_load *l);

/* Every waiter goes on (http.c dispatches its request as usual: the handler finds the board
 * cached, or loads it inline when the load did not install one). */
static void release_waiters(struct board_load *l)
{
    struct app *app = l->app;
    app->board_load_waiters -= waitlist_release(&l->waiters);
}

static void load_done(void *ctx, int status)
{
    struct board_load *l = ctx;
    struct app *app = l->app;
    struct board *b = l->board;

    l->board = NULL;
    if (status == 0 && l->stale && l->tries < BOARD_LOAD_TRIES && !app->stopping) {
        store_board_free(b);
        l->stale = false;
        if (load_submit(l) == 0)
            return;                     /* the waiters wait for the next load */
        b = NULL;
    }
    if (status == 0 && b != NULL && !l->stale) {
        struct board *cached;
        /* Its version restarts at 1, as every load's: the room's cached board JSON is keyed by
         * it (room.c), but a room holds none while the board is not cached (every
         * store_board_drop is followed by room_board_forget, and JSON is cached only from a
         * cached board) */
        (void)store_board_install(app->store, b, &cached);  /* out of memory: the waiters load */
    } else {
        store_board_free(b);
        if (status != 0)
            pb_log(LOG_INFO, "board of tenant %lld: load failed (%d): loading inline",
                   (long long)l->tenant_id, status);
    }
    hmap_del_int(&app->board_loads, l->tenant_id);
    release_waiters(l);
    free(l);
}

static int load_submit(struct board_load *l)
{
    /* writes of the tenant still in flight may commit after the snapshot */
    if (l->app->writer != NULL && !writer_tenant_idle(l->app->writer, l->tenant_id))
        l->stale = true;
    int rc = reads_submit(l->app, load_run, load_done, l);
    if (rc == 0) {
        l->tries++;
        l->app->board_loads_total++;
    }
    return rc;
}

/* The load of tenant_id in flight, or a new one (submitted); NULL when none could start. */
static struct board_load *load_get(struct app *app, int64_t tenant_id)
{
    struct board_load *l = hmap_get_int(&app->board_loads, tenant_id);
    if (l != NULL)
        return l;
    if (hmap_reserve(&app->board_loads, app->board_loads.len + 1) != 0
        || (l = calloc(1, sizeof(*l))) == NULL)
        return NULL;
    l->app = app;
    l->tenant_id = tenant_id;
    if (load_submit(l) != 0) {
        free(l);
        return NULL;
    }
    hmap_put_int(&app->board_loads, tenant_id, l);
    return l;
}

static bool wanted(struct app *app, int64_t tenant_id)
{
    return app->postgres && app->reader != NULL && !app->reader_closing && !app->stopping
           && tenant_id > 0 && !store_board_cached(app->store, tenant_id);
}

void *board_load_wait(struct app *app, int64_t tenant_id, void (*ready)(void *owner),
                      void *owner)
{
    struct waiter *w;
    struct board_load *l;

    if (!wanted(app, tenant_id) || (l = load_get(app, tenant_id)) == NULL
        || (w = waitlist_add(&l->waiters, ready, owner)) == NULL)
        return NULL;                    /* out of memory: inline, as before (a load started
                                         * still installs its board) */
    app->board_load_waiters++;
    return w;
}

void board_load_prefetch(struct app *app, int64_t tenant_id)
{
    if (wanted(app, tenant_id))
        (void)load_get(app, tenant_id); /* no memory or a full queue: the first use loads */
}

void board_load_touch(struct app *app, int64_t tenant_id)
{
    struct board_load *l = hmap_get_int(&app->board_loads, tenant_id);
    if (l != NULL)
        l->stale = true;
}
