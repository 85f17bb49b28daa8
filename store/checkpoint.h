/*
 * checkpoint — WAL checkpoints off the loop (issue 9 item 3).
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL past 1,000 pages:
 * on the loop thread, copying pages into the database file and syncing it while every client
 * waits. The checkpointer turns that off on the store's (loop) connection
 * (PRAGMA wal_autocheckpoint = 0) and runs the checkpoints on a thread of its own with its own
 * SQLite connection:
 *   - PASSIVE every CHECKPOINT_PERIOD_MS, and at once when a commit leaves CHECKPOINT_FRAMES
 *     pages or more in the WAL (sqlite3_wal_hook on the loop connection: no I/O, a mutex held
 *     for a few instructions): it never takes the write lock, so the loop's transactions go on
 *     during it. When it has copied the whole WAL, the loop's next write starts the WAL over
 *     from its beginning, so under steady writes the file stays near CHECKPOINT_FRAMES pages
 *     plus what the loop writes while one checkpoint runs.
 *   - RESTART when a PASSIVE finds CHECKPOINT_RESTART_FRAMES pages or more in the WAL: writes
 *     came so steadily that no PASSIVE could copy the WAL to its end between two of them, so
 *     the WAL never started over. RESTART waits (on this thread, at most
 *     CHECKPOINT_RESTART_WAIT_MS) for the loop's transaction to end, then holds the write
 *     lock while it copies the frames the last PASSIVE left (few) and syncs the database
 *     file: this is the one moment the loop can wait for a checkpoint (its BEGIN IMMEDIATE
 *     retries under its 100 ms busy timeout), and only under writes that never pause.
 *   - TRUNCATE when the WAL file is still larger than CHECKPOINT_TRUNCATE_BYTES after a
 *     PASSIVE that copied everything (it grew while a long read kept old pages alive): with
 *     a busy timeout of 0, so it gives up at once (and retries next period) when the loop
 *     holds the write lock; when it gets the lock it holds it only for the truncation.
 *   - PRAGMA journal_size_limit = CHECKPOINT_TRUNCATE_BYTES on the loop connection: when the
 *     loop starts the WAL over, a WAL that grew larger is cut back to that size.
 * In FULL mode (group commit, server/durable.c) the checkpointer's connection syncs the WAL
 * before copying it (synchronous = NORMAL), so nothing undurable reaches the database file.
 *
 * Threads: start / stop / stats from the thread that owns the store (the loop);
 * the checkpointer thread touches only its own connection and the struct's locked fields.
 */
#ifndef PB_STORE_CHECKPOINT_H
#define PB_STORE_CHECKPOINT_H

#include <stdint.h>

#include "store/store.h"

#define CHECKPOINT_PERIOD_MS 250                        /* PASSIVE at least this often */
#define CHECKPOINT_FRAMES 1000                          /* ... and at this many WAL pages
                                                         * (SQLite's own autocheckpoint) */
#define CHECKPOINT_RESTART_FRAMES 2000                  /* RESTART from this WAL size */
#define CHECKPOINT_RESTART_WAIT_MS 50                   /* ... waiting this long at most */
#define CHECKPOINT_TRUNCATE_BYTES (64LL * 1024 * 1024)  /* WAL size cut back to this */

struct checkpointer;

struct checkpoint_stats {
    uint64_t checkpoints;               /* PASSIVE checkpoints that copied at least one frame */
    uint64_t restarts;                  /* RESTART checkpoints that succeeded */
    uint64_t truncates;                 /* TRUNCATE checkpoints that succeeded */
    uint64_t busy;                      /* checkpoints that could not finish (busy, error) */
    int64_t wal_bytes;                  /* WAL file size at the last look (-1 none yet) */
};

/*
 * Turn the automatic checkpoint of s off and start the checkpointer thread on a second
 * connection to s's database file (not for ":memory:"). *out gets the checkpointer (stop it
 * with checkpointer_stop before store_free). 0, or PB_EINTERNAL (s unchanged, *out NULL).
 */
int checkpointer_start(struct store *s, struct checkpointer **out);

/* Stop the thread (a checkpoint in flight finishes first), close its connection, free c, and
 * turn s's automatic checkpoint back on. NULL does nothing. */
void checkpointer_stop(struct store *s, struct checkpointer *c);

/* A copy of the counters (thread-safe). */
void checkpointer_stats(struct checkpointer *c, struct checkpoint_stats *out);

#endif
