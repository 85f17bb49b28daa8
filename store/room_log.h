/*
 * room_log — the room's event log in the database (SPEC §5 sequence and epoch, SPEC §12;
 * issue 13 item 2; docs/api-notes.md "Room event log").
 *
 * Each room event's encoded frame is kept in room_events (the last events of each tenant,
 * bounded by the caller; the newest is always kept, so it gives the room's last seq), and
 * room_log keeps the room's epoch. A room
 * that starts again (after a restart) continues its seq and epoch from here and refills its
 * in-memory ring from the rows, so a client reconnecting with {sinceSeq, epoch} is replayed
 * what it missed.
 *
 * The rows are written after the change's own transaction (by a writer job the loop submits
 * when events were published), not inside it. What makes that safe is the clean flag: a start
 * (store_room_log_start) finds server_state 'room_log' = '1' only when the previous process
 * logged every event and stopped cleanly (store_room_log_stop); otherwise (a crash, a kill,
 * a failed log write, a database used by an older planboard) every room gets a new epoch, so
 * a client that saw an event that never reached the log resyncs instead of missing it.
 *
 * Errors: 0 or PB_EINTERNAL (store_errmsg tells); on error nothing changed.
 * Threads: the one that owns the struct store passed in (the loop's connection for start,
 * load and stop; the writer thread's sibling store for append).
 */
#ifndef PB_STORE_ROOM_LOG_H
#define PB_STORE_ROOM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define PB_EPOCH_LEN 16                 /* hex characters of an epoch */

/* One logged event: the frame is borrowed (the caller keeps it alive during the call). */
struct room_log_entry {
    int64_t tenant_id;
    uint64_t seq;
    const char *epoch;                  /* the room's epoch, PB_EPOCH_LEN hex characters */
    const char *frame;                  /* the frame's JSON text, len bytes */
    size_t len;
    uint64_t prune_upto;                /* rows of this tenant with seq <= this go (0: none) */
};

/*
 * At server start, before any room is loaded: when the previous run did not stop cleanly,
 * give every room a new epoch; then mark the log as in use (not clean). *rotated (may be
 * NULL) gets true when epochs were renewed. Writes on s's connection (start-up, like the
 * schema). 0 or PB_EINTERNAL.
 */
int store_room_log_start(struct store *s, bool *rotated);

/*
 * At a clean stop: append the n events still queued (as store_room_log_append) and mark the
 * log clean, in one transaction, so the next start keeps the epochs. Start-up and stop wait up
 * to 5 s for another process's write lock. 0 or PB_EINTERNAL (nothing written: the next start
 * renews the epochs).
 */
int store_room_log_stop(struct store *s, const struct room_log_entry *e, size_t n);

/*
 * The room of tenant_id as logged: *found false (and nothing else set) when it has no row;
 * else epoch[PB_EPOCH_LEN + 1] and *seq (its last logged seq), and each(ctx, seq, frame, len)
 * once per logged event with seq > after, in seq order (frame borrowed for the call; a
 * non-zero return from each stops the read and is returned). Reads on s's connection.
 */
int store_room_log_load(struct store *s, int64_t tenant_id, uint64_t after, bool *found,
                        char epoch[PB_EPOCH_LEN + 1], uint64_t *seq,
                        int (*each)(void *ctx, uint64_t seq, const char *frame, size_t len),
                        void *ctx);

/*
 * Append n events grouped by tenant (each tenant's in seq order) and prune each tenant's old
 * rows (up to the highest prune_upto of its entries), as one transaction (a nested one inside
 * a writer job). 0 or PB_EINTERNAL (nothing written).
 */
int store_room_log_append(struct store *s, const struct room_log_entry *e, size_t n);

/* ---------------------------------------------------------------- PostgreSQL: the sequencer */

/* Make tenant_id's room row with `epoch` (PB_EPOCH_LEN hex) unless it has one: the nodes of a
 * cluster agree on the epoch of the first that wrote it (read it back with
 * store_room_log_load). 0 or PB_EINTERNAL. */
int store_room_log_claim(struct store *s, int64_t tenant_id, const char *epoch);

/* Lock tenant_id's room_log row (made on first use) until the end of the caller's transaction:
 * one tenant's writers then take turns across the nodes (PostgreSQL). 0 or PB_EINTERNAL. */
int store_room_log_lock(struct store *s, int64_t tenant_id);

/* One event to sequence: a frame without its seq, `{"event":"<name>"` + rest, and where the
 * seq goes (split: the length of `{"event":"<name>"`). */
struct room_log_event {
    int64_t tenant_id;
    const char *frame;                  /* borrowed for the call */
    size_t len;
    size_t split;
    uint64_t seq;                       /* out: the seq the database gave it */
};

/*
 * SPEC §12, issue 13 items 2 and 3 (PostgreSQL): give each event the next seq of its tenant
 * from the database and write it to the log, in one transaction (a nested one inside a writer
 * job): the tenant's room_log row is locked (made, with a new epoch, on first use), so the
 * nodes of a cluster take turns per tenant and a tenant's seqs are gap-free and in one order
 * whichever node published; the frame stored is the event with `,"seq":N` inserted at split;
 * rows older than the newest `keep` go, in steps of 64 seqs. At commit, NOTIFY planboard
 * carries "<tenant_id> <last seq> <node>" once per tenant of the batch, so every node (this one too)
 * reads the new rows (store/bus.h). ev[i].seq is set (the batch order is kept within a
 * tenant). 0 or PB_EINTERNAL (nothing written; the seqs are not spent).
 */
int store_room_log_sequence(struct store *s, struct room_log_event *ev, size_t n,
                            const char *node, uint64_t keep);

/*
 * SPEC §9 + §12 (PostgreSQL): inside the transaction that changes tenant_id's calendar or
 * timezone, NOTIFY planboard "<tenant_id> calendar <node>" (node: the writing node's name,
 * borrowed), so the other nodes drop their cached board of the tenant at commit and reload it
 * (calendar included) at its next use: a calendar change has no room event of its own, and
 * reading the calendar again at every schedule_updated cost each node a round trip per move
 * (store/bus.h). No-op on SQLite (one process). 0 or PB_EINTERNAL.
 */
int store_room_log_notify_calendar(struct store *s, int64_t tenant_id, const char *node);

#endif
