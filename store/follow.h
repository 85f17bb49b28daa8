/*
 * follow — another node's changes applied to this node's cached board (SPEC §12; issue 13
 * item 3: "each node keeps its caches of the tenants it serves in seq order by applying the
 * log"; docs/postgresql.md "Many nodes, one order").
 *
 * On PostgreSQL every node reads every room event back from the log in seq order
 * (server/bus.c); the events of *other* nodes are decoded there (server/follow.c) and handed
 * here as plain values, one event at a time, in seq order. Each call either changes the cache
 * exactly as the publishing node changed its own (and the database), or says it cannot: the
 * caller then drops the board and the next use reloads it from the database (the fallback).
 *
 * Exactness rests on the order's version (+1 on every change of the order, SPEC §4) and on
 * its rank (orders.rank, store/rank.c): an event whose version is the cached one + 1 is
 * applied; one at or below the cached version is already in the cache (a board loaded after
 * the change, or this node's own event): FOLLOW_SEEN; anything else (a version that skips, an
 * unknown order, a rank another order holds, a position that does not match, a relabelled
 * window) is FOLLOW_STALE. Every applied event marks the projected schedule as never computed
 * (schedule_at = 0): the next read recomputes it whole without publishing, as after a reload
 * (the publishing node has published its schedule_updated already).
 *
 * Call only when no writer job of the tenant is outstanding (nothing may point into the
 * board: server/follow.c applies from a writer job's prepare, behind the tenant's earlier
 * jobs). Threads: the loop's (the store of the loop). Errors: the results below, or
 * PB_EINTERNAL (out of memory, the database failed: the board is unchanged, reload it).
 */
#ifndef PB_STORE_FOLLOW_H
#define PB_STORE_FOLLOW_H

#include "store/store.h"

enum follow_result {
    FOLLOW_APPLIED = 0,         /* the cache changed as the event says */
    FOLLOW_SEEN = 1,            /* the cache holds this change (or a later one) already */
    FOLLOW_NOT_LOADED = 2,      /* no cached board of the tenant: nothing to do */
    FOLLOW_STALE = 3,           /* cannot be applied exactly: drop the board and reload */
};

/* An order as an event carries it (SPEC §2 order object), decoded. Strings borrowed; NULL for
 * JSON null. */
struct follow_order {
    int64_t id;
    const char *order_number, *stock_code, *description;
    const char *current_operation;      /* NULL = null */
    int64_t quantity_to_make, quantity_completed;
    int64_t work_centre_id;             /* 0 = backlog */
    int64_t position;                   /* SPEC §2 position in its column after the change */
    int status;                         /* enum order_status */
    int priority;                       /* enum order_priority */
    const char *due_date, *start_date, *completion_date;   /* NULL = null */
    int64_t created_by;                 /* 0 = null */
    const char *created_at, *updated_at;
    int64_t version;
    bool has_rank;                      /* order_moved on PostgreSQL: its orders.rank (absent
                                         * when the move relabelled a window: STALE) */
    int64_t rank;
};

/* True when tenant_id's board is cached (loaded). O(1). */
bool store_follow_loaded(const struct store *s, int64_t tenant_id);

/* order_moved (a move, or a field update with a move: SPEC §4 PUT): the order's fields, its
 * column, rank and position, version = cached + 1. O(log^2 n) in the target column. */
int store_follow_moved(struct store *s, int64_t tenant_id, const struct follow_order *o);

/* order_updated (fields only): version = cached + 1, or = cached (the same state). A scanner
 * event may also have changed the order's routing steps, which the frame does not carry: the
 * caller reads them (store_follow_read_route) and sets them (store_follow_set_route) after an
 * APPLIED. */
int store_follow_updated(struct store *s, int64_t tenant_id, const struct follow_order *o);

/* order_created: appended at the end of its column (where every create puts it, SPEC §4), at
 * the rank this node's rank planner gives there (the creating node's, on the same board;
 * STALE when it would relabel or the position differs), with no routing steps: after an
 * APPLIED the caller reads and sets them as for order_updated. */
int store_follow_created(struct store *s, int64_t tenant_id, const struct follow_order *o);

/* The routing steps of order_id as the database has them now (one query, on s's connection:
 * any thread's store, e.g. the writer's sibling), as a new route in *out (NULL: no steps;
 * free it with free() unless handed to store_follow_set_route). 0 or PB_EINTERNAL. */
int store_follow_read_route(struct store *s, int64_t tenant_id, int64_t order_id,
                            struct order_route **out);

/* Give order_id of tenant_id's cached board the route (ownership taken: freed when the board
 * is not loaded or has no such order) and mark the projection to be computed again. Loop
 * thread, the loop's store, no writer job of the tenant between its prepare and done. */
void store_follow_set_route(struct store *s, int64_t tenant_id, int64_t order_id,
                            struct order_route *route);

/* order_deleted: the order leaves the board (SEEN when it is not on it). */
int store_follow_deleted(struct store *s, int64_t tenant_id, int64_t order_id);

/* work_centre_updated {workCentres}: the fields of each work centre (wc[i] strings borrowed),
 * applied when the list names the cached work centres, same ids in the same order (an edit);
 * a created, deleted or reordered work centre is STALE (columns would move). */
int store_follow_work_centres(struct store *s, int64_t tenant_id, const struct work_centre *wc,
                              size_t n);

#endif
