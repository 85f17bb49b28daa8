/*
 * drag_locks — SPEC §5 drag locks shared by the nodes of a PostgreSQL cluster (SPEC §12,
 * issue 13 item 3: "drag locks live in the database with their expiry, and exactly one
 * order_unlocked is broadcast per lock end across all nodes").
 *
 * The table drag_locks (schema-pg.sql) is the truth; each node keeps its in-memory lock table
 * (locks/) as a mirror for the checks of moves and for the board's answers. Taking a lock is
 * one INSERT .. ON CONFLICT that succeeds only when the order is free, its lock expired, or
 * the taker holds it already, so of two nodes racing exactly one wins. Every removal is a
 * DELETE .. RETURNING: only the node whose DELETE returned the row publishes order_unlocked.
 * PostgreSQL only (SQLite: one process, the in-memory table alone); on SQLite every function
 * returns PB_EINTERNAL.
 *
 * Times are milliseconds since the epoch, from the caller's clock (the nodes' clocks are
 * assumed in step, as NTP keeps them; a lock's TTL is 30 s).
 * Errors: 0 or a negative PB_E* code: PB_ELOCKED (take: held by another), PB_EUNAVAILABLE
 * (the database is out of reach), PB_EINTERNAL. Threads: whichever owns the struct store
 * passed in: server/board_ops.c calls them from writer jobs on the writer's sibling store, so a
 * lock and its order_locked / order_unlocked rows commit in one transaction (SPEC §12, issue 13
 * item 2) and the loop never waits on them. Callers lock the tenant's room_log row first
 * (store_room_log_lock), as the move batches do: one lock order, no deadlock between nodes.
 */
#ifndef PB_STORE_DRAG_LOCKS_H
#define PB_STORE_DRAG_LOCKS_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define PB_DRAG_LOCK_NAME_MAX 50        /* = PB_LOCK_USERNAME_MAX of locks/lock.h */

struct drag_lock_row {
    int64_t tenant_id, order_id, user_id;
    char username[PB_DRAG_LOCK_NAME_MAX + 1];
    int64_t expires_at_ms;
};

/*
 * Take or renew want's lock (want->expires_at_ms: the new expiry) for `node`. 0 when newly
 * taken (*renewed false) or renewed by its holder (*renewed true); PB_ELOCKED when another
 * user holds an unexpired lock (*holder gets it); PB_EUNAVAILABLE / PB_EINTERNAL.
 */
int store_drag_lock_take(struct store *s, const struct drag_lock_row *want, const char *node,
                         int64_t now_ms, bool *renewed, struct drag_lock_row *holder);

/*
 * Remove locks and call each(ctx, row) for every row removed (in no order). Which: tenant_id
 * (0: any) and order_id (0: any) and user_id (0: any) and node (NULL: any) and, when
 * expired_at_ms > 0, only those with expires_at_ms <= it. Returns the count removed, or a
 * negative PB_E* code (nothing removed).
 */
int store_drag_lock_remove(struct store *s, int64_t tenant_id, int64_t order_id,
                           int64_t user_id, const char *node, int64_t expired_at_ms,
                           void (*each)(void *ctx, const struct drag_lock_row *row), void *ctx);

/*
 * The tenants that have lock rows matching node (NULL: any) and, when expired_at_ms > 0,
 * expires_at_ms <= it: at most cap of them, ascending, into out. Returns the count (0..cap),
 * or a negative PB_E* code. A sweep locks these tenants' room_log rows in this order before
 * its DELETE (store_drag_lock_remove) takes any lock row.
 */
int store_drag_lock_tenants(struct store *s, const char *node, int64_t expired_at_ms,
                            int64_t *out, size_t cap);

/*
 * The unexpired locks of tenant_id at now_ms: each(ctx, row) for each (in no order). Returns
 * their count, or a negative PB_E* code. A node making a tenant's room fills its lock mirror
 * from this (server/room.c): the order_locked events before the room was made never reached
 * it.
 */
int store_drag_lock_list(struct store *s, int64_t tenant_id, int64_t now_ms,
                         void (*each)(void *ctx, const struct drag_lock_row *row), void *ctx);

#endif
