/*
 * presence — who is online across the nodes of a PostgreSQL cluster (SPEC §5 user_joined /
 * user_left, SPEC §12 "presence is the union of the nodes' connections"; issue 13 item 3).
 *
 * Table presence holds a row per (tenant, user, node) while the user has a joined connection
 * on that node; table nodes holds each node's heartbeat. A user joins the cluster when their
 * first row appears and leaves it when their last row goes: join and leave run under the
 * tenant's room_log row lock, so two nodes cannot both (or neither) see a user's first or last
 * row. A node whose heartbeat is older than PB_PRESENCE_DEAD_MS is dead: the node whose
 * DELETE removes its rows reports the users who thereby left (exactly one node does).
 * PostgreSQL only (SQLite: one process, server/room.c's own count); on SQLite every function
 * returns PB_EINTERNAL.
 *
 * Errors: 0 or a negative PB_E* code (PB_EINTERNAL, PB_EUNAVAILABLE); on error nothing
 * changed. Threads: any one thread at a time per store (server/room.c runs the join, leave
 * and heartbeat on the reader thread's store, the list on the loop's: docs/postgresql.md
 * "What the loop waits on").
 */
#ifndef PB_STORE_PRESENCE_H
#define PB_STORE_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define PB_PRESENCE_DEAD_MS 5000        /* a node silent this long is dead */
#define PB_PRESENCE_NAME_MAX 50         /* = PB_LOCK_USERNAME_MAX */
#define PB_PRESENCE_LOCK_WAIT "100ms"   /* the heartbeat's and the sweep's lock waits (below) */

/* user_id is online through `node` now. *first: no other node had them (publish
 * user_joined). */
int store_presence_join(struct store *s, int64_t tenant_id, int64_t user_id,
                        const char *username, const char *node, bool *first);

/* user_id is no longer online through `node`. *last: no other node has them (publish
 * user_left); false when this node had no row for them either. */
int store_presence_leave(struct store *s, int64_t tenant_id, int64_t user_id,
                         const char *node, bool *last);

/* Every (tenant, user, username) online through a live node, each user once, in no order:
 * each(ctx, ...) per user of tenant_id. */
int store_presence_list(struct store *s, int64_t tenant_id, int64_t now_ms,
                        void (*each)(void *ctx, int64_t user_id, const char *username),
                        void *ctx);

/* The heartbeat of `node` at now_ms (ms since the epoch): its row in nodes, inside the
 * caller's open transaction (a reader job's savepoint; none: PB_EINTERNAL), its lock waits
 * bounded by PB_PRESENCE_LOCK_WAIT (the reads queued behind it on the reader thread wait no
 * longer; the bound before is restored after). 0, or PB_EINTERNAL / PB_EUNAVAILABLE. */
int store_presence_beat(struct store *s, const char *node, int64_t now_ms);

/*
 * The sweep of dead nodes, inside the caller's open transaction (a reader or writer job's
 * savepoint; none open: PB_EINTERNAL), which the caller rolls back on error, its waits on the
 * nodes and presence rows bounded by PB_PRESENCE_LOCK_WAIT as the heartbeat's: every node silent
 * since now_ms - PB_PRESENCE_DEAD_MS loses its nodes and presence rows, the room_log rows of
 * the tenants concerned are locked (ascending), and left(ctx, tenant, user, username) is called
 * once for each user who thereby has no row on any node, so that it logs their user_left in
 * the same transaction (issue 13: an event is a row of its change's transaction; before, it
 * was published after the sweep's commit). left returns 0, or a negative PB_E* code, which
 * ends the sweep with it. Returns the number of dead nodes swept (>= 0), or a negative PB_E*
 * code (left's, PB_EINTERNAL, PB_EUNAVAILABLE).
 */
int store_presence_sweep(struct store *s, int64_t now_ms,
                         int (*left)(void *ctx, int64_t tenant_id, int64_t user_id,
                                     const char *username),
                         void *ctx);

#endif
