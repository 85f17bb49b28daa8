/*
 * server_int.h — declarations shared by the files of server/ (not a public API).
 *
 * Everything here runs on the loop thread unless a comment says otherwise.
 */
#ifndef PB_SERVER_INT_H
#define PB_SERVER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>                 /* before libwebsockets.h (PLATFORM.md) */
#include <libwebsockets.h>
#include <cJSON.h>

#include "locks/lock.h"
#include "core/errors.h"
#include "core/hmap.h"
#include "protocol/json.h"
#include "server/auth.h"
#include "server/config.h"
#include "store/room_log.h"
#include "store/store.h"

#define PB_VERSION "0.1.0"
#define PB_WS_SUBPROTOCOL "planboard.v1"
#define PB_ROOM_RING 4096             /* events kept per room for replay (SPEC §5: at least 1024) */
#define PB_ROOM_LOG_EVENTS 1024       /* events kept per room in the database's event log */
#define PB_ROOM_LOG_BYTES (8u << 20)  /* ... and at most these frame bytes (the newest event
                                       * is kept whatever its size) */
#define PB_ROOM_LOG_PRUNE_STEP 64     /* ... each bound may be passed by up to this many events
                                       * (old rows go in steps) */
#define PB_ROOM_LOG_PENDING 65536     /* events waiting for the log at most; past it the log
                                       * is given up until the next start (marked dirty) */
#define PB_ROOM_LOG_FLUSH_MS 10       /* events wait this long for company before a log job:
                                       * one leaf page written per batch, not per event */
#define PB_ROOM_LOG_BATCH 512         /* ... or go at once when this many wait */
#define PB_DURABLE_LISTENERS 4        /* consumers of group-commit completions (durable.c) */
#define PB_WS_MAX_MESSAGE (64 * 1024) /* largest client message; board frames are ~200 bytes */

#define PB_STR_(x) #x
#define PB_STR(x) PB_STR_(x)            /* a macro's value as a string literal */

struct room;
struct ws_conn;
struct ws_open;
struct route;
struct webroot;

/* Verified access tokens, direct-mapped by a hash of the token text: a hit skips the HMAC and
 * JSON parse of libjwt (issue 3: ~15% of a board read). Revocation is still checked on
 * every use; an entry is only used before its exp. */
#define PB_TOKEN_CACHE 512
struct verified_token {
    char *token;                        /* malloc'd copy, NULL = empty */
    uint64_t hash;
    struct auth_claims claims;
};

/* Counters for GET /metrics (metrics.c). Loop thread only. */
struct request_stat {
    int method;                         /* enum http_method */
    const char *route;                  /* route pattern, "static" or "unmatched" (static) */
    int status;
    uint64_t count;
};
struct metrics {
    struct request_stat *requests;      /* one entry per (method, route, status) seen */
    size_t n_requests, cap_requests;
    uint64_t ws_opened;                 /* WebSocket connections accepted */
    uint64_t ws_slow_closed;            /* closed with 1008 for a full send queue */
    uint64_t move_stale_retries;        /* PostgreSQL: move batches planned again on a reloaded
                                         * board (another node had changed it) */
    uint64_t broadcasts;                /* room events published */
    uint64_t deliveries;                /* room events queued to connections */
    uint64_t import_rows;               /* CSV records read by imports */
    uint64_t blob_gzips;                /* gzip copies of shared bodies made while serving
                                         * (the board: one per board version read with gzip) */
    struct pb_histogram schedule_recompute;     /* SPEC §9 recomputes after a change or a
                                         * refresh that changed something (schedule_live.c) */
    struct pb_histogram schedule_preview;       /* SPEC §9 what-if answers (schedule_live.c) */
    uint64_t errors[PB__ERR_END - PB__ERR_FIRST - 1];  /* error answers by PB_E* code, every
                                         * channel (error_reply.c) */
};

/* ---------------------------------------------------------------- logging */

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
extern enum log_level pb_log_level;
/* printf-style line to stderr with a UTC timestamp and level, when level <= pb_log_level. */
void pb_log(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Escape src for a log line into dst[cap] (server.c has the rules). Returns the length. */
size_t pb_log_escape(char *dst, size_t cap, const char *src);

/* ---------------------------------------------------------------- the application */

struct bus_waiter;                     /* server/bus.c */

struct app {
    struct config cfg;                  /* read-only after start */
    uv_loop_t *loop;                    /* ours: lws runs on it as a foreign loop */
    struct lws_context *ctx;            /* NULL once destroyed */
    struct store *store;
    struct lock_table *locks;
    unsigned char jwt_key[64];
    size_t jwt_key_len;
    struct room_log_queue {             /* events on their way to the room's event log
                                         * (room_log.c) */
        struct room_log_item *items;    /* published, not yet handed to the writer */
        size_t n, cap;
        bool in_flight;                 /* a log job is at the writer */
        uv_timer_t flush;               /* PB_ROOM_LOG_FLUSH_MS after the first queued event */
        bool flush_init;                /* flush was initialised (closed by room_log_close) */
        bool dirty;                     /* an event could not be logged: do not mark the
                                         * log clean at stop (the next start renews epochs) */
        uint64_t logged, failed;        /* events written / lost (metrics) */
        uint64_t jobs;                  /* writer jobs submitted (metrics) */
        /* PostgreSQL: events that could not be sequenced, per event (set to room_cull_all
         * at start: the room's members reload; a callback, so room_log.c calls no room.c) */
        void (*on_lost)(struct app *app, int64_t tenant_id);
    } room_log;
    int64_t started_ms;
    uv_signal_t sig_int, sig_term;
    uv_timer_t sweep_timer;             /* drag-lock expiry, every second */
    uv_timer_t schedule_timer;          /* SPEC §9 refresh_seconds (schedule_live.c) */
    uv_timer_t shutdown_timer;          /* grace period for close frames on shutdown */
    bool stopping;
    size_t imports_open;                /* imports holding a board pointer across loop turns */
    bool postgres;                      /* the store is PostgreSQL: events are sequenced by
                                         * the database and read back through the bus */
    char node[PB_EPOCH_LEN + 1];        /* this process's name on the bus (random hex) */
    struct bus_state {                  /* server/bus.c */
        struct bus *b;                  /* the LISTEN connection, or NULL (reconnecting) */
        uv_poll_t poll;
        bool poll_init, poll_closing;
        int fd;                         /* the socket poll watches (libpq may change it while
                                         * a reconnect tries the host's next address) */
        bool repoll;                    /* poll is closing to watch a new socket */
        uv_timer_t retry;               /* reconnect, every PB_BUS_RETRY_MS while down */
        bool retry_init;
        struct hmap wanted;             /* tenant id -> (void *)1: a fetch is due */
        int64_t *queue;                 /* the same tenants, in order */
        size_t q_head, n_queue, cap_queue;  /* queue[q_head..n_queue): due, oldest first
                                         * (O(1) per fetch; compacted when full) */
        struct hmap stale;              /* tenant id -> itself: another node changed it;
                                         * its cached board goes when nothing points in */
        uv_timer_t sweep;               /* retries the stale drops, PB_BUS_STALE_MS */
        bool sweep_init;
        uint64_t notifications, fetches, rows, reconnects, foreign;
        uint64_t applied;               /* another node's events applied to a cached board */
        uint64_t seen;                  /* ... found in the cache already (FOLLOW_SEEN) */
        uint64_t own;                   /* this node's own events passed over */
        uint64_t reloads;               /* cached boards dropped for another node's change */
        uint64_t waits, wait_timeouts;  /* stale move batches that waited for the bus / of
                                         * them, the ones it did not catch up in time */
        struct bus_waiter *waiters;     /* bus_wait, oldest first */
        uv_timer_t wait_timer;          /* their deadlines, PB_BUS_WAIT_MS */
        bool wait_timer_init;
    } bus;
    struct hmap follow;                 /* tenant id -> its follow state (follow.c) */
    struct ratelimit *login_limit;      /* failed logins per address and per tenant+user */
    struct revoked_session *revoked;    /* logged-out sessions (their tokens are refused) */
    size_t n_revoked, cap_revoked;
    struct revoked_user *revoked_users; /* deleted users: tokens issued before are refused */
    size_t n_revoked_users, cap_revoked_users;
    struct metrics metrics;
    struct verified_token *tokens;      /* cache of verified access tokens, PB_TOKEN_CACHE */
    struct writer *writer;              /* the write path off the loop (writes.c), or NULL */
    struct store *wstore;               /* the writer thread's sibling connection (writer thread
                                         * only, through a job's run) */
    bool writer_closing, writer_closed; /* writes_close called / the writer is gone */
    struct user_name *user_names;       /* PostgreSQL: usernames by user id (user_names.c) */
    size_t presence_jobs;               /* PostgreSQL: presence changes not yet done (room.c) */
    bool presence_beat_busy;            /* PostgreSQL: a heartbeat + sweep is at the reader
                                         * (room.c; one at a time, a tick meanwhile skipped) */
    uint64_t presence_beats;            /* heartbeats + sweeps done, /metrics */
    uint64_t presence_beats_skipped;    /* ticks skipped: the last one still ran, /metrics */
    struct writer *reader;              /* PostgreSQL: reads off the loop (reads.c), or NULL */
    struct store *rstore;               /* the reader thread's sibling connection */
    bool reader_closing, reader_closed; /* reads_close called / the reader is gone */
    struct hmap move_batches;           /* tenant id -> its open move batch (board_ops.c) */
    struct hmap board_loads;            /* PostgreSQL: tenant id -> its board load in flight
                                         * (board_load.c); loop thread only */
    uint64_t board_loads_total;         /* boards loaded off the loop (reads run), /metrics */
    uint64_t board_load_waiters;        /* requests waiting for one of them now, /metrics */
    struct hmap room_loads;             /* PostgreSQL: tenant id -> its room read in flight
                                         * (room_load.c); loop thread only */
    uint64_t room_loads_total;          /* rooms read off the loop (reads submitted), /metrics */
    /* PostgreSQL: called when a room read off the loop is linked (room_load.c), so the bus
     * fetches what was logged after the read: bus_want, set by bus_start (a hook: bus.c calls
     * down into room_load.c, not the other way) */
    void (*room_linked)(struct app *app, int64_t tenant_id);
    bool lock_sweep_busy;               /* PostgreSQL: an expiry sweep job is at the writer
                                         * (board_ops.c; one at a time) */
    bool lock_sweep_due;                /* PostgreSQL: one is due once that one is done */
    uint64_t lock_sweeps;               /* PostgreSQL: expiry sweep jobs submitted */
    struct durable *durable;            /* group commit (synchronous = FULL), or NULL */
    uint64_t durable_seq;               /* commits known on disk (durable.c) */
    uint64_t durable_barrier_seq;       /* durable_barrier tickets known reached (durable.c) */
    struct durable_listener {           /* called when durable_seq advanced (durable_on_reached) */
        void (*fn)(void *ctx, uint64_t durable_seq);
        void *ctx;
    } durable_listeners[PB_DURABLE_LISTENERS];
    size_t n_durable_listeners;
    void (*on_durable_failed)(struct app *app); /* an fdatasync failed (durable.c); server.c
                                                 * sets server_stop: nothing undurable is
                                                 * answered, the process exits 1 */
    struct checkpointer *checkpointer;  /* WAL checkpoints off the loop (store/checkpoint.h) */
    struct webhooks *webhooks;          /* the webhook deliverer (webhooks.c), or NULL */
    struct http_req *http_waiting;      /* answers waiting for durable_seq (http.c) */
    struct ws_conn *ws_waiting;         /* connections whose next frame waits for it (ws.c) */
    struct ws_conn *ws_woken;           /* woken by a publish this loop iteration (ws.c) */
    uv_check_t ws_flush;                /* services ws_woken after the iteration's I/O (ws.c) */
    struct ws_conn *ws_flushing;        /* the one being serviced; NULL once it closed (ws.c) */
    const struct route *const *routes;  /* the dispatcher's route tables (http.c), each ended
                                         * by a NULL pattern; set by server_start */
    size_t n_routes;                    /* tables in routes */
    struct webroot *webroot;            /* static files read at start (webroot.c), or NULL */
    struct room *rooms;                 /* singly linked, one per tenant seen */
    struct hmap room_index;             /* tenant id -> its struct room (room.c): O(1) per
                                         * event whatever the number of tenants */
    struct ws_conn *conns;              /* every open WebSocket (doubly linked) */
    struct addr_table *addrs;           /* open connections per client address (server.c) */
    uint64_t next_conn_id;
    int exit_code;
};

/* ---------------------------------------------------------------- the room's event log (room_log.c) */

/* A published room event m (a reference is taken) of tenant_id's room, whose epoch is `epoch`,
 * goes to the database's event log (store/room_log.h) by a writer job; the log may then drop
 * the tenant's events up to seq prune_upto. Never waits; never fails the publish: when it
 * cannot log, the log is given up for this run (see room_log.c). */
struct ws_msg;
void room_log_note(struct app *app, int64_t tenant_id, const char *epoch, struct ws_msg *m,
                   uint64_t prune_upto);
/* At start, before any room: renew every room's epoch unless the last run stopped cleanly
 * (store_room_log_start). 0 or PB_EINTERNAL (the server does not start). */
int room_log_start(struct app *app);

/* ---------------------------------------------------------------- bus.c (PostgreSQL) */
#define PB_BUS_RETRY_MS 500             /* reconnect the LISTEN connection this often */
#define PB_BUS_CONNECT_MS 5000          /* a reconnect not done by then is given up (retried) */
#define PB_BUS_FETCH_ROWS 512           /* events read per fetch */
#define PB_BUS_STALE_MS 20              /* retry dropping a board another node changed */
#define PB_BUS_WAIT_MS 250              /* a stale move batch waits this long for the bus */
#define PB_BUS_WAIT_MAX 512             /* ... and only when it is this few events behind */

/* SPEC §12, issue 13 item 3: open the node's LISTEN connection (app->postgres only; store's
 * URL) and start polling it. 0, or PB_EINTERNAL (the server does not start). */
int bus_start(struct app *app);
/* Close it (at shutdown, on the loop). */
void bus_stop(struct app *app);
/* Free what bus_start allocated (after the loop ended). */
void bus_free(struct app *app);
/* True while the LISTEN connection is up (PostgreSQL accepted this node's session and has not
 * dropped it; a restart of PostgreSQL drops it at once). GET /api/health's database check on
 * PostgreSQL: it asks nothing of the database, so the loop never waits on it. */
bool bus_connected(const struct app *app);
/*
 * SPEC §12: a move batch refused as stale (board_ops.c) waits for this node to have read
 * tenant_id's log up to the newest seq notified (or, when none is outstanding, one event
 * more: the refusing write's NOTIFY may not be here yet): then cb(app, ctx, true), and the
 * events it read are applied ahead of anything submitted from cb (they are queued as writer
 * jobs of the tenant first, follow.c). cb(app, ctx, false) after PB_BUS_WAIT_MS, or when the
 * bus breaks or stops. Returns false (cb is not called) when the bus is down, the tenant has
 * no room here, or the node is more than PB_BUS_WAIT_MAX events behind: the caller falls
 * back to reloading the board.
 */
bool bus_wait(struct app *app, int64_t tenant_id,
              void (*cb)(struct app *app, void *ctx, bool caught_up), void *ctx);
/* Call the waiters of tenant_id whose seq was reached (after a delivery or an apply). */
void bus_waiters_check(struct app *app, int64_t tenant_id);

/* ---------------------------------------------------------------- follow.c (PostgreSQL) */
/* SPEC §12 / issue 13 item 3: another node's events applied to this node's cached boards
 * (store/follow.h). A NOTIFY "<tenant> <seq> <node>" (own: node is this one). */
void follow_notified(struct app *app, int64_t tenant_id, uint64_t seq, bool own);
/* Event seq of tenant_id read back from the log (frame borrowed): skipped when this node
 * published it, else queued and applied by a writer job of the tenant in seq order; one that
 * cannot be applied exactly drops the board (follow_board_stale). */
void follow_row(struct app *app, int64_t tenant_id, uint64_t seq, const char *frame,
                size_t len);
/* Another node changed tenant_id in a way this node's board cannot follow exactly (or a
 * write of ours was refused as stale and the bus cannot say): drop this node's cached board
 * of it as soon as nothing points into it (no writer job of the tenant outstanding, no import
 * streaming; else retried every PB_BUS_STALE_MS); the next use reloads it. */
void follow_board_stale(struct app *app, int64_t tenant_id);
/* This node sequenced tenant_id's seqs first..last itself (a writer job's run, in commit
 * order): their rows, read back by the bus, are this node's own whether or not their NOTIFY
 * came first (its cache applied them at the job's done). */
void follow_own(struct app *app, int64_t tenant_id, uint64_t first, uint64_t last);
/* True while events of tenant_id wait to be applied. */
bool follow_pending(struct app *app, int64_t tenant_id);
/* Free the follow state (after the loop ended). */
void follow_free(struct app *app);
/* Events published or notified that have not reached their rooms yet (/metrics
 * planboard_events_unsettled; 0 = every event this node knows of is delivered). */
uint64_t bus_unsettled(struct app *app);
/* Read tenant_id's new events from the log soon (after a NOTIFY, or after this node's own
 * events were sequenced). Deduplicated; fetches run one at a time, in request order. */
void bus_want(struct app *app, int64_t tenant_id);

/* PostgreSQL: event seq of tenant_id read back from the log: into the room's ring, to its
 * members (a no-op when this node has no room for the tenant, or has it already; a gap culls
 * the members, 1011). */
void room_deliver(struct app *app, int64_t tenant_id, uint64_t seq, const char *frame,
                  size_t len);
/* PostgreSQL (SPEC §12 presence across nodes; issue 13 "the loop never waits on a PostgreSQL
 * round trip"): this node's presence heartbeat, and the sweep of dead nodes' users (user_left
 * for those online nowhere else, logged in the sweep's transaction), as two jobs of the reader
 * thread; returns at once. At most one heartbeat in flight: a call while the last one runs is
 * skipped (counted). Once a second (server.c's sweep timer) and once at start. */
void room_presence_beat(struct app *app);
/* PostgreSQL: drop tenant_id's cached board answer (a change was published whose event has
 * not reached the room yet). */
void room_board_forget(struct app *app, int64_t tenant_id);

/* ---------------------------------------------------------------- waitlists (waitlist.c)
 * Requests parked until a read off the loop is done. Loop thread only. */
struct waiter;
struct waitlist {
    struct waiter *head, *last;
};
/* Park owner on l: ready(owner) is called by waitlist_release unless the owner's side set the
 * waiter's first field (a `void *`, owner) to NULL meanwhile (its client went away). The
 * waiter is freed by waitlist_release. NULL: out of memory (nothing parked). */
struct waiter *waitlist_add(struct waitlist *l, void (*ready)(void *owner), void *owner);
/* Empty l (a ready() may park on l again) and call each waiter's ready in the order parked;
 * returns how many waiters it held. */
size_t waitlist_release(struct waitlist *l);

/* ---------------------------------------------------------------- room loads (room_load.c)
 * On PostgreSQL a room this node has not made yet is read on the reader thread and linked at
 * the read's done (issue 13; docs/postgresql.md "A room's first use"). Loop thread only. */

/*
 * When app->postgres and tenant_id has no room here: start reading it off the loop (or join
 * the read running: one per tenant) and return a wait handle whose first field is a `void *`
 * set to owner; when the read ends (room linked, or failed), ready(owner) is called on the
 * loop, unless the caller set that first field to NULL meanwhile (its client went away). NULL
 * (go on at once: room_get makes the room inline, as before): SQLite, the room exists, the
 * reader closing, out of memory, the reader's queue full. The handle is freed by this file.
 */
void *room_load_wait(struct app *app, int64_t tenant_id, void (*ready)(void *owner),
                     void *owner);
/* Start reading tenant_id's room off the loop if it has none and none is being read; nothing
 * waits. True when a read is in flight now; false as room_load_wait's NULL (room_get then
 * makes it inline at its next use). */
bool room_load_prefetch(struct app *app, int64_t tenant_id);
/* Another node's NOTIFY for tenant_id, which has no room here: a room read in flight then
 * reloads the tenant's cached board when it links the room. No read in flight: nothing. */
void room_load_touch(struct app *app, int64_t tenant_id);

/* ---------------------------------------------------------------- board loads (board_load.c)
 * On PostgreSQL a board that is not cached is loaded on the reader thread and handed to the
 * loop's cache (issue 13; docs/postgresql.md "A board's first load"). Loop thread only. */

/*
 * When app->postgres and tenant_id's board is not cached: start its load off the loop (or join
 * the one running: one load per tenant) and return a wait handle whose first field is a
 * `void *` set to owner; when the load ends (installed, failed or given up), ready(owner) is
 * called on the loop, unless the caller set that first field to NULL meanwhile (its client went
 * away: the wait is dropped). NULL (go on at once, loading inline as before): SQLite, cached,
 * the reader closing, out of memory, the reader's queue full. The handle is freed by this file.
 */
void *board_load_wait(struct app *app, int64_t tenant_id, void (*ready)(void *owner),
                      void *owner);

/* Start loading tenant_id's board off the loop if it is not cached and not loading (PostgreSQL;
 * a WebSocket join: its client reads the board next). Nothing waits; failures are silent (the
 * first use loads it). */
void board_load_prefetch(struct app *app, int64_t tenant_id);

/* A change of tenant_id's data that a cached board would have taken (a write of this node,
 * another node's board event, a reload) happened: a load in flight may have read before it,
 * so its board is not installed and the tenant is loaded again. No load in flight: nothing. */
void board_load_touch(struct app *app, int64_t tenant_id);
/* An event encoded without seq (ws_msg_new), for the database to sequence; NULL when out of
 * memory (or the PLANBOARD_FAULT_ROOM_ENCODES fault). Takes data. */
struct ws_msg *room_encode(const char *event, cJSON *data);
/* The bus saw seq notified for tenant_id (replication lag = notified - delivered). */
void room_notified(struct app *app, int64_t tenant_id, uint64_t seq);
/* Sum over rooms of notified seqs not delivered yet (O(rooms); for /metrics). */
uint64_t room_lag_total(struct app *app);
/* The room's last seq (*found false when this node has no room for tenant_id). */
uint64_t room_applied_seq(struct app *app, int64_t tenant_id, bool *found);
/* PostgreSQL: the newest seq of tenant_id the bus was told of (0: none, or no room). */
uint64_t room_notified_seq(struct app *app, int64_t tenant_id);
/* Close every member of tenant_id's room with 1011 (events were lost: they reload). */
void room_cull_all(struct app *app, int64_t tenant_id);

/* PostgreSQL (SPEC §12): queue m (a frame without seq; the seq goes in at byte `split`) for
 * the database to sequence (store_room_log_sequence). Takes a reference of m. 0, or
 * PB_EINTERNAL (out of memory or too many queued: not queued). Events of a job that fails
 * later are reported to app->room_log.on_lost, once per event. */
int room_log_sequence_note(struct app *app, int64_t tenant_id, struct ws_msg *m, size_t split);
/* ---------------------------------------------------------------- job_events.c (PostgreSQL) */
/*
 * SPEC §12, issue 13 item 2: a writer job's room events as rows of the job's own transaction
 * (server/job_events.c has the whole story). Embedded in the job's ctx; every field private.
 * Loop thread: init, add, add_unlock, done, cleanup. Writer thread (the job's run): add_run,
 * run_begin, sequence.
 */
#define JOB_EVENTS_MAX 4                /* events of one change (scanner: moved, unlocked, updated) */
struct job_event {
    struct ws_msg *m;                   /* the frame without seq (a reference) */
    size_t split;                       /* where the seq goes in m's frame */
    int64_t unlock_order_id;            /* > 0: an order_unlocked, sequenced only when the run's
                                         * DELETE of that order's drag-lock row returned it */
    bool sequenced;                     /* written by the last run */
};
struct job_events {
    struct app *app;
    int64_t tenant_id;
    bool on;                            /* PostgreSQL with a writer: the run sequences them */
    bool broken;                        /* a frame could not be built: published after commit */
    bool logged;                        /* the last run sequenced them (writer thread writes,
                                         * the loop reads it in done) */
    size_t n, n_prepared;               /* events; of which added on the loop */
    uint64_t first_seq, last_seq;       /* the seqs the last run's events got (0: none) */
    struct job_event ev[JOB_EVENTS_MAX];
};
/* Start empty for tenant_id (loop thread, at prepare; also on SQLite, where it stays off). */
void job_events_init(struct job_events *je, struct app *app, int64_t tenant_id);
/* Loop thread (prepare): the event `event` with data (consumed) as the change will make it,
 * encoded now (room_encode). Nothing on SQLite; out of memory (or too many): the job falls
 * back to room_publish after commit. */
void job_events_add(struct job_events *je, const char *event, cJSON *data);
/* Loop thread (prepare): order_unlocked {orderId, reason} for the drag lock on order_id that
 * the change ends: the run DELETEs its row (store/drag_locks.h) and sequences the event only
 * when the DELETE returned it (one order_unlocked per lock end across the nodes, SPEC §5). */
void job_events_add_unlock(struct job_events *je, int64_t order_id, const char *reason);
/* Writer thread (run, after the change's statements): an event whose data only the run knows,
 * built from the job's ctx only (ws_msg_new; no app state). data consumed. */
void job_events_add_run(struct job_events *je, const char *event, cJSON *data);
/* Either thread: an event could not be built (no memory): nothing is sequenced, done returns
 * false and the caller publishes after the commit as before. */
void job_events_give_up(struct job_events *je);
/* Writer thread, first in the run: forget what an earlier run added (a run may go twice) and,
 * when there are events (or will_add: the run will add some), lock the tenant's room_log row
 * (store_room_log_lock) so the tenant's writes take turns across the nodes. 0 or PB_EINTERNAL
 * (the run fails: nothing commits). */
int job_events_run_begin(struct job_events *je, bool will_add);
/* Writer thread, last in the run: the drag-lock rows of the unlock events are removed and the
 * events get their seqs and rows in room_events (store_room_log_sequence) in this transaction.
 * 0 (also when there is nothing to do: off, broken, none) or PB_EINTERNAL: the run fails and
 * the change does not commit. */
int job_events_sequence(struct job_events *je);
/* Loop thread, in the job's done: true when status is 0 and the run logged the events (the
 * webhook outbox is nudged, the cached board answer dropped, the mirror of the locks it ended
 * updated; the events reach the rooms through the bus, which is asked to read them now and
 * counts them unsettled until it did); false: the caller publishes as before
 * (room_publish). Frees the frames either way. */
bool job_events_done(struct job_events *je, int status);
/* Free the frames of a job whose done does not call job_events_done (NULL-safe fields). */
void job_events_cleanup(struct job_events *je);

/* After the loop ended (the writer is closed): write what is still queued on the loop's own
 * connection and mark the log clean when every event was logged and the exit is clean. */
void room_log_finish(struct app *app);
/* Inside the loop at shutdown (after app->stopping): close the flush timer. */
void room_log_close(struct app *app);

/* ---------------------------------------------------------------- connections (server.c) */

/* What lives as long as one TCP connection (the HTTP per-session data is reset at every
 * request): lws' opaque user data of every accepted wsi, NULL on others. Loop thread only. */
struct conn_info {
    struct addr_count *addr;            /* the client address's open-connection counter */
    uint64_t rx_mark;                   /* bytes lws had read from the socket when the last
                                         * keep-alive transaction ended (http.c) */
    bool has_mark;                      /* rx_mark is set (a transaction has ended) */
};

/* ---------------------------------------------------------------- rooms (room.c) */

/* A refcounted encoded server->client frame. buf has LWS_PRE bytes of headroom before the
 * payload (lws_write requirement). */
struct ws_msg {
    uint32_t refs;
    uint64_t seq;                       /* 0 for direct replies */
    uint64_t ticket;                    /* commit seq that must be durable before it is sent */
    size_t len;                         /* payload bytes */
    unsigned char buf[];                /* LWS_PRE + len + 1 */
};

/* Encode {"event", "seq"?, "ref"?, "data"} into a new message (refs = 1). data is consumed
 * (may be NULL -> {}). NULL on allocation failure or when the text is not valid UTF-8
 * (json_output_check(), SPEC §4: such a frame is never sent). */
struct ws_msg *ws_msg_new(const char *event, uint64_t seq, const char *ref, cJSON *data);
void ws_msg_ref(struct ws_msg *m);
void ws_msg_unref(struct ws_msg *m);   /* NULL is fine */

/* One reader of a room (the lws minimal-ws-server-ring pattern, issue 9 item 5): the room
 * keeps ONE ring of encoded events shared by all its readers; a reader keeps its read
 * position (`next`) in that ring plus a small queue of its own frames that are not room
 * events (hello, acks, errors, pong, resync_required), and its owner writes both out only
 * when it is writable. Publishing appends to the ring and wakes the members; nothing is
 * written into a connection from anyone else's callback. A reader whose unread backlog passes
 * cfg.ws_queue_bytes, or whose next event is about to be overwritten, is culled (SPEC §5 slow
 * clients: 1008 "send queue limit exceeded"). Embedded in struct ws_conn (ws.c supplies the
 * ops); unit tests drive it alone (test/test_room.c). Loop thread only; every field is
 * private to room.c except where marked. */
struct room_reader;
struct room_reader_ops {
    /* Something new to write: ask for a writable callback (ws.c: lws_callback_on_writable).
     * Called once per publish per member; may be called when one is already asked for. */
    void (*wake)(struct room_reader *rd);
    /* Close the reader with code and a static reason (ws.c: ws_close). The reader is left
     * (its frames dropped) by room_reader_drop, which the owner calls. */
    void (*cull)(struct room_reader *rd, int code, const char *reason);
};
struct room_out {                       /* one frame of the reader's own queue */
    struct ws_msg *m;                   /* a reference */
    uint64_t after;                     /* goes out after room event `after`, before after+1 */
};
struct room_reader {
    const struct room_reader_ops *ops;  /* public: set by the owner before room_conn_open */
    int64_t tenant_id, user_id;         /* public: set by the owner before room_conn_open */
    char username[PB_LOCK_USERNAME_MAX + 1];    /* public: the same */
    struct room *room;                  /* its tenant's room once opened (rooms live until exit) */
    struct room_reader *room_next, *room_prev;  /* members of the room while joined */
    bool joined;                        /* public, read-only */
    bool dropped;                       /* culled or closing: reads and queues nothing more */
    uint64_t next;                      /* next room seq to read; reads while next <= last */
    uint64_t last;                      /* last room seq it reads: UINT64_MAX while joined, the
                                         * room's seq when it left, 0 before the first join */
    uint64_t replay_end;                /* seqs <= this are a sinceSeq replay: charged to the
                                         * replay budget, not to the queue bound */
    int64_t replay_window_ms;           /* start of the current minute of the replay budget */
    uint64_t replay_bytes;              /* bytes of replays granted in that minute */
    struct room_out *q;                 /* own frames (ring buffer of q_cap) */
    size_t q_head, q_len, q_cap;
    size_t q_bytes;                     /* payload bytes in q */
};

/* The tenant's room, created on first use (on PostgreSQL that reads its log inline, on the
 * loop's connection: room_load.c reads it off the loop first where it can). NULL on allocation
 * failure. */
struct room *room_get(struct app *app, int64_t tenant_id);
/* True when tenant_id's room was made on this node. */
bool room_exists(struct app *app, int64_t tenant_id);
/* A room read off the loop (room_load.c): made by room_prefetch_new (NULL: out of memory),
 * filled on the reader thread by room_prefetch_read(rs: the reader's store) with the room's
 * log, as room_get would (0, or PB_EINTERNAL: a failed read or out of memory), and linked on
 * the loop by room_prefetch_install (true; false when a room of the tenant was made meanwhile
 * or out of memory: nothing changed). The drag locks read go into app->locks at the install.
 * room_prefetch_free frees what was not installed (NULL: nothing). */
struct room_prefetch;
struct room_prefetch *room_prefetch_new(int64_t tenant_id);
int room_prefetch_read(struct store *rs, struct room_prefetch *p);
bool room_prefetch_install(struct app *app, struct room_prefetch *p);
void room_prefetch_free(struct room_prefetch *p);
void room_free_all(struct app *app);
/* The room's current seq (last event published; 0 before any). */
uint64_t room_seq(const struct room *r);
/* The room's epoch (SPEC §5), PB_EPOCH_LEN hex characters, borrowed; "" for NULL. Kept
 * across clean restarts through the event log (room_log.c). */
const char *room_epoch(const struct room *r);

/* Publish a room event (SPEC §5): give it the room's next seq, encode it once into the ring
 * (the ring holds the only reference; readers borrow it) and wake every joined member; a
 * member lapped by it or now over cfg.ws_queue_bytes of unread frames is culled with 1008
 * "send queue limit exceeded" (metrics.ws_slow_closed). data is consumed. Returns the seq, or
 * 0 when the room or the event cannot be allocated (the seq is spent, replays across it
 * answer resync_required and the members are culled with 1011 "out of memory"). Fault
 * injection: PLANBOARD_FAULT_ROOM_ENCODES=N makes every encoding after the first N fail. */
uint64_t room_publish(struct app *app, int64_t tenant_id, const char *event, cJSON *data);

/* Count a reader of its user in its tenant's room (at WebSocket open; before room_join) and
 * give it its own queue. 0, or PB_EINTERNAL (out of memory; nothing changed).
 * room_conn_close (after room_leave) drops the reader's frames and returns the user's
 * connections left: 0 means its last one closed (SPEC §5: its drag locks end with reason
 * disconnected). */
int room_conn_open(struct app *app, struct room_reader *rd);
int room_conn_close(struct app *app, struct room_reader *rd);
/* Join the reader's room (SPEC §5 join_planning_board; idempotent). With has_since it
 * replays the events after since_seq from the ring, unless the epoch differs ("epoch"), the
 * events are gone ("gone") or the replay would pass the reader's budget of
 * cfg.ws_replay_bytes_per_minute ("replay_limit"): then it returns that reason and the caller
 * sends resync_required {seq, epoch, reason}; NULL otherwise. The reader's own frames queued
 * before the join go out before the replay. Publishes user_joined when it is the user's
 * first joined connection. */
const char *room_join(struct app *app, struct room_reader *rd, bool has_since,
                      uint64_t since_seq, const char *epoch);
/* Leave the room (idempotent): the events published until now are still written; publishes
 * user_left after the user's last joined connection (not while stopping). */
void room_leave(struct app *app, struct room_reader *rd);
/* At a clean stop: publish user_left for every user joined to every room (SPEC §5), so the
 * event log (room_log.c) ends with nobody online: a client replaying across the restart does
 * not keep the users it saw join. The presence counts are left as they are (room_leave
 * publishes nothing once app->stopping). */
void room_all_left(struct app *app);
/* Queue one of the reader's own frames (takes a reference) behind the room events published
 * so far, and wake it. Past cfg.ws_queue_bytes of unread frames (its own and the room's) the
 * reader is culled with 1008 "send queue limit exceeded"; m NULL (could not be built) or a
 * queue that cannot grow (out of memory) culls it with 1011 "out of memory" instead of
 * dropping the frame. Does nothing once the reader is culled (rd->ops->cull decides). */
void room_reader_send(struct app *app, struct room_reader *rd, struct ws_msg *m);
/* The next frame the reader must write, in the order it was made (room events by seq, its own
 * frames at their place), or NULL when none. *lost is set (and NULL returned) when its next
 * room event was overwritten or lost to an allocation failure: cull it. The frame is
 * borrowed: valid until room_reader_consume. */
struct ws_msg *room_reader_peek(const struct room_reader *rd, bool *lost);
/* The frame room_reader_peek returned is written: move past it. */
void room_reader_consume(struct app *app, struct room_reader *rd);
/* True when room_reader_peek would return a frame (or report a loss). */
bool room_reader_pending(const struct room_reader *rd);
/* Unread payload bytes of the reader (its own queue plus room events outside a replay). */
uint64_t room_reader_backlog(const struct room_reader *rd);
/* Drop everything queued for the reader and stop it for good (culled or closing): it reads,
 * queues and is woken for nothing more. */
void room_reader_drop(struct room_reader *rd);
/* The room event of seq still in the ring (the ring's reference: take your own to keep it),
 * or NULL when it is not published yet, overwritten or was lost. */
struct ws_msg *room_event(const struct room *r, uint64_t seq);
/* fn(app, tenant_id, ctx) for each room that has a joined member (the periodic schedule
 * refresh); fn may publish. */
void room_each_joined(struct app *app, void (*fn)(struct app *app, int64_t tenant_id, void *ctx),
                      void *ctx);
/* {userId, username} of each user online (SPEC §5 board `online`), by user id, as a new cJSON
 * array (NULL: out of memory). SQLite: this node's joined users. PostgreSQL (SPEC §12): every
 * live node's, from the room's list kept by its presence events (room.c "the online list");
 * read inline on the loop's connection only when that list is unknown and no read of it
 * parked the caller (room_online_wait); PostgreSQL away: this node's users. */
cJSON *room_online(struct app *app, int64_t tenant_id);
/* PostgreSQL (issue 13): when tenant_id's online list is not known yet, start (or join) its
 * read on the reader thread and return a waiter: ready(owner) is called on the loop when the
 * read is done (failed too); the waiter's first field is owner, which the owner's side sets
 * to NULL when it goes away (http.c CLOSED_HTTP). NULL: known already, SQLite, no reader or
 * out of memory (room_online then reads inline). */
void *room_online_wait(struct app *app, int64_t tenant_id, void (*ready)(void *owner),
                       void *owner);
/* The cached board body of SPEC §4 GET /api/planning-board when it is still valid for the
 * room's seq and board_version (every change of orders, locks or presence publishes a room
 * event, so seq + board version identify the board's content); NULL otherwise. The room
 * holds a reference (take your own to keep it); room_board_cache takes one on json. */
struct blob *room_board_cached(struct room *r, uint64_t board_version);
void room_board_cache(struct room *r, uint64_t board_version, struct blob *json);

/* ---------------------------------------------------------------- WebSocket (ws.c) */

#define PB_PSS_WS   0x57534b31u   /* pss kind tags: the first field of both per-session */
#define PB_PSS_HTTP 0x48545431u   /* structs, as protocol 0 serves HTTP and WebSocket */

struct ws_conn {
    uint32_t kind;                      /* PB_PSS_WS */
    uint64_t id;                        /* unique per process */
    struct lws *wsi;
    struct app *app;
    struct auth_claims claims;          /* of the token it connected with */
    struct ws_conn *next, *prev;        /* app->conns */
    struct room_reader rd;              /* its read position in its room + its own frames */
    bool wake_asked;                    /* on app->ws_woken, or a writable callback is asked
                                         * for and has not run yet */
    struct ws_conn *wnext, *wprev;      /* app->ws_woken while wake_asked */
    bool woken;                         /* on app->ws_woken */
    bool dwait;                         /* on app->ws_waiting */
    struct ws_conn *dnext;              /* app->ws_waiting */
    int close_code;                     /* non-zero: close with it at the next writable */
    const char *close_reason;           /* static reason sent with close_code, or NULL */
    char *rx;                           /* a client message arriving in pieces (malloc), or NULL */
    size_t rx_len;
    bool rx_discard;                    /* the current message is over PB_WS_MAX_MESSAGE */
    struct ws_move *moves, *moves_tail; /* its move_orders not yet answered, in order (ws.c) */
    size_t in_flight;                   /* of them, the ones in the writer */
    struct ws_queued *queue, *queue_tail; /* other messages that came after them (ws.c) */
    size_t queued;
    bool rx_paused;                     /* lws_rx_flow_control(0) until the queue drains */
    bool flushing;                      /* in flush_moves (ws.c) */
    bool opened;                        /* its user was read and hello sent: a member of its
                                         * room's connections (room_conn_open) */
    struct ws_open *open_job;           /* PostgreSQL: the user and tenant read in flight at
                                         * its open (ws.c); its messages queue meanwhile */
    void *board_wait;                   /* PostgreSQL: the board load a message of it waits
                                         * for (board_load_wait); its messages queue meanwhile */
    bool board_waited;                  /* that load ended: the next such message goes on */
};

/* Direct reply (no seq): {"event", "ref"?, "data"}; data consumed. Queued behind the room
 * events published so far (room_reader_send: bound, 1008, out of memory 1011). */
void ws_reply(struct ws_conn *c, const char *event, const char *ref, cJSON *data);
/* Mark c for close with code and a static reason (sent in the close frame) and drop what is
 * queued for it. The first close wins: a connection already closing keeps its code and
 * reason. */
void ws_close(struct ws_conn *c, int code, const char *reason);
/* Close with 1008 and `reason` (static) every WebSocket of user_id in tenant_id: of the one
 * session sid when sid != NULL (logout), all of them when NULL (rights taken away). SPEC §3:
 * a revoked session loses its sockets at once. */
void ws_close_user(struct app *app, int64_t tenant_id, int64_t user_id, const char *sid,
                   const char *reason);
/* Mark every connection for close with `code` (e.g. 1001 on shutdown). */
void ws_close_all(struct app *app, int code);
/* The check handle that services woken connections (server_start / on_shutdown_timer). */
void ws_flush_init(struct app *app);
void ws_flush_close(struct app *app);
/* The lws callback for WebSocket reasons (called from the shared protocol callback). */
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len);
/* ---------------------------------------------------------------- board operations (board_ops.c) */

/* The result of an operation shared by REST and WebSocket: err is 0 or PB_E*; on error
 * message is a human sentence and extra (may be NULL) holds extra members of the error body
 * (lockedBy, orderNumber, expiresAt for PB_ELOCKED; details for PB_EVALIDATION). */
struct op_result {
    int err;
    const char *message;
    cJSON *extra;                       /* owned: consume or cJSON_Delete */
    cJSON *data;                        /* owned: success payload */
    bool pending;                       /* a stream's finish answers later itself (import.c:
                                         * the write goes through the writer) */
};

struct op_user {
    int64_t tenant_id;
    int64_t user_id;
    enum role role;
    const char *username;
};

/* The completion of an operation that went through the writer: res is the answer (the
 * callee consumes res->data and res->extra). Called on the loop thread, once. */
typedef void (*op_done_fn)(void *ctx, struct op_result *res);
/* Take/renew the drag lock (SPEC §5): data = {orderId, lockedBy, expiresAt}; broadcasts
 * order_locked (and user_activity {dragging} when newly taken). Errors: forbidden (viewer),
 * not_found, locked (with lockedBy, orderNumber, expiresAt), and on PostgreSQL unavailable,
 * rate_limited (the writer's queue is full), internal (nothing taken).
 * SQLite: the in-memory table, answered now: returns false with the answer in *res.
 * PostgreSQL (SPEC §12): a writer job in the tenant's gate takes the drag_locks row and logs
 * its events in one transaction (board_ops.c): returns true and done(done_ctx, res) answers
 * later, once; or false with a refusal in *res (then done is never called). */
bool op_start_drag(struct app *app, const struct op_user *u, int64_t order_id,
                   struct op_result *res, op_done_fn done, void *done_ctx);
/* Release the caller's lock (no error when none is held): data = {orderId}; broadcasts
 * order_unlocked {reason: released} when a lock ended. Errors: forbidden, not_found; on
 * PostgreSQL also unavailable, rate_limited, internal. Returns and answers as op_start_drag. */
bool op_end_drag(struct app *app, const struct op_user *u, int64_t order_id,
                 struct op_result *res, op_done_fn done, void *done_ctx);

/* Parse a move body (SPEC §4: toWorkCentreId, position, fromWorkCentreId, version, reason)
 * and move; data = the moved order. Broadcasts order_moved (and order_unlocked {moved} when
 * the mover held the lock). Errors: forbidden, not_found, validation_failed, conflict,
 * locked, rate_limited (the writer's queue is full), internal.
 * With a writer and done != NULL the write goes through the writer (docs/writer.md): returns
 * true and done(done_ctx, res) answers later (the body is not needed after this call);
 * otherwise (or when the move fails its checks now) returns false with the answer in *res. */
bool op_move(struct app *app, const struct op_user *u, int64_t order_id, const cJSON *body,
             struct op_result *res, op_done_fn done, void *done_ctx);
/* SPEC §4 PUT /api/orders/:id with a move: patch p and the move (see
 * store_order_update_move) as one change, one version step; broadcasts ONE order_moved carrying
 * the updated order (no order_updated), then order_unlocked {moved} when the caller held the
 * lock. res->data stays NULL (the route answers with the order and its steps). Errors:
 * forbidden, not_found, locked (another user's lock), validation_failed, conflict (version,
 * orderNumber, fromWorkCentreId), internal; on error nothing changed. */
struct order_patch;
void op_update_move(struct app *app, const struct op_user *u, int64_t order_id,
                    const struct order_patch *p, const struct move_request *move,
                    struct op_result *res);
/* After a committed move (SPEC §5): the mover's lock ends, order_moved {order,
 * fromWorkCentreId, toWorkCentreId, position, movedBy: u} is published to u's tenant room, then
 * order_unlocked {moved} when the mover held the lock. mr as filled by the store's apply. */
void op_publish_moved(struct app *app, const struct op_user *u, const struct move_result *mr);
/* The same after a committed move whose writer transaction ended the mover's lock row itself
 * (PostgreSQL: a field update that moved the order, its DELETE in the update's transaction
 * like the plain moves' in their batch's; issue 13): had_lock = that DELETE returned the row.
 * This node's lock mirror drops the lock; then, unless logged (the transaction sequenced them
 * itself, server/job_events.c: the webhook outbox is nudged and the cached board answer
 * dropped instead), order_moved and, when had_lock, order_unlocked {moved} are published. */
void op_publish_moved_released(struct app *app, const struct op_user *u,
                               const struct move_result *mr, bool had_lock, bool logged);
/* The data of a move's order_moved (SPEC §5 {order, fromWorkCentreId, toWorkCentreId, position,
 * movedBy: u}; on PostgreSQL "rank" when the move relabelled no other order), a new cJSON
 * object (the caller's). mr->order is the order at mr->position (the applied one, or a copy as
 * the move will make it). */
cJSON *op_moved_json(const struct app *app, const struct op_user *u,
                     const struct move_result *mr);
/* SPEC §9 WIP limits. op_wip_extra: the members a PB_EWIP_LIMIT error adds to its body,
 * {"reason": "wip_limit", "wipLimit", "count"} (owned by the caller). op_wip_mark: adds
 * "wipExceeded": true to obj when w says a limit was passed (soft, or overridden); nothing
 * otherwise. */
cJSON *op_wip_extra(const struct wip_check *w);
void op_wip_mark(cJSON *obj, const struct wip_check *w);
/* SPEC §5 drag locks: end the lock on the order if user_id holds it (0: whoever). True when
 * the caller is the one to publish its order_unlocked (on PostgreSQL: this node's DELETE
 * removed the row, so exactly one node publishes; SPEC §12). */
bool op_lock_release(struct app *app, int64_t tenant_id, int64_t order_id, int64_t user_id);

/* lock_mirror.c. PostgreSQL: keep app->locks in step with an order_locked / order_unlocked
 * event frame of tenant_id read from the log (any other frame: nothing). */
void lock_mirror_event(struct app *app, int64_t tenant_id, const char *frame, size_t len);

/* Release every lock of the user in the tenant with `reason`, broadcasting each. PostgreSQL:
 * the user's locks taken through this node, by a writer job that logs each order_unlocked in
 * its transaction (a failure is logged: those locks end at their expiry). */
void op_release_user_locks(struct app *app, int64_t tenant_id, int64_t user_id,
                           const char *reason);
/* Sweep expired locks (uv timer, and once at start). PostgreSQL: every tenant's expired rows,
 * by a writer job (one at a time) that logs each order_unlocked {expired} in its transaction,
 * submitted at start and whenever this node's mirror saw a lock expire (board_ops.c). */
void op_sweep_locks(struct app *app);
/* At a clean stop: end every drag lock of every tenant, each broadcasting order_unlocked
 * {reason} (SPEC §5: a restart clears the locks; with the event log a client replaying
 * across the restart must see them end, not keep them). PostgreSQL: this node's own locks
 * (of up to 256 tenants; the rest end at their expiry), by a writer job submitted before
 * writes_close. */
void op_end_all_locks(struct app *app, const char *reason);
/* The order JSON with its current lock. */
cJSON *op_order_json(struct app *app, const struct order *o, int64_t tenant_id);
/* The board of SPEC §4 GET /api/planning-board. NULL + *err on failure. */
cJSON *op_board_json(struct app *app, int64_t tenant_id, int *err);

/* SPEC §9 what-if of a move (preview-move, REST and WebSocket preview_move): the same parse
 * and checks as op_move (forbidden for viewers, not_found, validation_failed, locked,
 * conflict), nothing written, nothing published but a due refresh (schedule_refresh); data =
 * {scheduleAt, changes, newlyLate, noLongerLate} (schedule_preview_json). */
void op_preview_move(struct app *app, const struct op_user *u, int64_t order_id,
                     const cJSON *body, struct op_result *res);

/* ---------------------------------------------------------------- live schedule (schedule_live.c) */

/*
 * A change touched the columns of work centres wc_ids[0..n) (0 = backlog; n = 0: every
 * column, e.g. a calendar or work-centre change): recompute them at the board's scheduleAt
 * (SPEC §9) and publish ONE schedule_updated {scheduleAt, orders} with the orders whose
 * projectedStart, projectedFinish or late changed (nothing when none did). Call it right
 * after the change's own room event, so every client sees the change, then its schedule. A
 * board never projected yet is projected whole, silently (no client has seen a value).
 * 0, or PB_EINTERNAL (board unavailable, or out of memory: the event may miss orders).
 * Times the recompute into metrics.schedule_recompute.
 */
int schedule_changed(struct app *app, int64_t tenant_id, const int64_t *wc_ids, size_t n);
/* store_schedule_refresh of tenant_id's board b at now (a new scheduleAt every [schedule]
 * refresh_seconds, or a recompute of a stale projection) publishing schedule_updated with what
 * changed (not on the first computation of the board). 0 or PB_EINTERNAL as the store's. */
int schedule_refresh(struct app *app, int64_t tenant_id, struct board *b);
/* The answer of SPEC §9 preview-move for moving o (of b) to to_wc_id at position (checked
 * by the caller): {scheduleAt, changes: [{orderId, orderNumber, projectedFinish, late,
 * wasProjectedFinish, wasLate}], newlyLate, noLongerLate}. NULL and *err (PB_EVALIDATION,
 * PB_EINTERNAL) on failure. Times it into metrics.schedule_preview. */
cJSON *schedule_preview_json(struct app *app, struct board *b, const struct order *o,
                             int64_t to_wc_id, int64_t position, int *err);
/* The periodic refresh timer (server_start) and its close (shutdown). */
void schedule_live_start(struct app *app);
void schedule_live_close(struct app *app);
/* Add the time since t0_ns (uv_hrtime) to histogram h (pb_commit_bounds buckets). */
void schedule_observe(struct pb_histogram *h, uint64_t t0_ns);

/* ---------------------------------------------------------------- HTTP (http.c, routes.c) */

enum http_method { M_GET, M_POST, M_PUT, M_DELETE, M_OTHER };

/* Role bits for the route table (SPEC §3). */
#define R_ADMIN     (1u << ROLE_ADMIN)
#define R_SCHEDULER (1u << ROLE_SCHEDULER)
#define R_VIEWER    (1u << ROLE_VIEWER)
#define R_ANY       (R_ADMIN | R_SCHEDULER | R_VIEWER)
#define R_PUBLIC    0u                  /* no token needed */

struct http_req;
typedef void (*route_fn)(struct http_req *r, const cJSON *body);

/* A route whose body streams into its handler as it arrives (the CSV import, up to
 * limits.max_upload) instead of being collected (max_body) and parsed as JSON. The hooks
 * never answer: the dispatcher (http.c) answers from what they return, through the one
 * error path. On error res->message is a static sentence and res->extra (may be NULL) holds
 * extra members of the error body. */
struct route_stream {
    /* At the headers: 0, or a PB_E* code with res->message / res->extra. */
    int (*begin)(struct http_req *r, struct op_result *res);
    /* Body bytes: 0, or a PB_E* code (the answer is then that error). */
    int (*feed)(struct http_req *r, const char *buf, size_t len);
    /* The body is complete: res->err 0 and res->data the 200 body, or an error. */
    void (*finish)(struct http_req *r, struct op_result *res);
    /* Free the stream's state (r->stream_job); idempotent. */
    void (*cleanup)(struct http_req *r);
};

struct route {
    enum http_method method;
    const char *pattern;                /* "/api/orders/:id/move": ":id" matches a number */
    unsigned roles;                     /* allowed roles; R_PUBLIC = no auth */
    unsigned flags;                     /* ROUTE_* */
    route_fn fn;                        /* NULL when stream is set */
    const struct route_stream *stream;  /* a streamed body, or NULL */
};

/* route.flags: the route writes, and its writes go through the writer (docs/writer.md). Since
 * every writing route does, the dispatcher no longer parks any request (http.c dispatch); the
 * flag says which routes change the database (docs, a reader of the route tables). */
#define ROUTE_WRITER 1u
/* route.flags: the handler takes the caller's tenant board (route_board, find_order, a writer
 * job's store_board): on PostgreSQL the dispatcher first loads a board that is not cached off
 * the loop (board_load_wait; http.c dispatch). */
#define ROUTE_BOARD 2u
/* route.flags: the answer carries the board's `online` list (room_online): on PostgreSQL the
 * dispatcher first has it read off the loop when the room does not know it yet
 * (room_online_wait; http.c dispatch). */
#define ROUTE_ONLINE 4u

/* Route tables, each ended by an entry with pattern NULL. One per file of server/:
 * routes.c (auth, board, orders core), routes_admin.c (tenant, users), routes_orders.c (order
 * writes, work centres, export, audit log), routes_analytics.c (analytics, board stats),
 * routes_scanner.c (API keys, scanner events), routes_schedule.c (calendar, projected
 * schedule), metrics.c (/metrics). */
extern const struct route pb_routes_core[];
extern const struct route pb_routes_schedule[];
extern const struct route pb_routes_admin[];
extern const struct route pb_routes_orders[];
extern const struct route pb_routes_analytics[];
extern const struct route pb_routes_scanner[];
extern const struct route pb_routes_metrics[];
extern const struct route pb_routes_webhooks[];

/* POST /api/orders/import's streamed body (import.c). */
extern const struct route_stream pb_import_stream;

/* One HTTP request on a connection (the per-session data of protocol 0 while it serves HTTP).
 * Reset at the start of every request on a keep-alive connection. */
struct api_key;
struct http_req {
    uint32_t kind;                      /* PB_PSS_HTTP */
    struct app *app;
    struct lws *wsi;
    enum http_method method;
    char path[160];                     /* longer paths are cut (and then match nothing) */
    int64_t start_us;
    const struct route *route;
    int64_t ids[2];                     /* :id path parameters */
    struct auth_claims claims;          /* valid when authed */
    bool authed;
    bool active;                        /* a request is in progress */
    bool wait_body;                     /* dispatch on BODY_COMPLETION */
    bool lws_body;                      /* lws reads a body for this request (Content-Length
                                         * > 0, or POST/PUT without one: lws then expects
                                         * 100 MB) */
    bool body_done;                     /* lws reported BODY_COMPLETION */
    bool finished;                      /* the answer is written; closing (close_after) */
    bool draining;                      /* answered early: reading and dropping the rest of
                                         * the body before the close (lingering close) */
    size_t drained;                     /* body bytes dropped after the answer */
    lws_sorted_usec_list_t deadline;    /* body deadline (limits.body_timeout_seconds) */
    char *body;                         /* JSON body being received (malloc) */
    size_t body_len, body_cap;
    void *stream_job;                   /* the route's stream state (import.c), or NULL */
    bool accept_gzip;                   /* Accept-Encoding accepts gzip (encoding.c) */
    bool board_waited;                  /* waited once for its tenant's board (board_load.c) */
    struct api_key *scanner_key;        /* PostgreSQL: the scanner route's X-API-Key, looked up
                                         * off the loop before the route ran again (malloc,
                                         * strings owned; freed with the request), or NULL */
    bool online_waited;                 /* waited once for its room's online list (room.c) */
    bool room_waited;                   /* waited once for its room's read (room_load.c) */
    void *job;                          /* off-loop work in flight, or NULL; what it points to
                                         * starts with a struct http_req *owner that
                                         * CLOSED_HTTP clears */
    /* response */
    int status;
    const char *ctype;                  /* static string */
    char *resp;                         /* malloc'd body, or blob->data */
    struct blob *resp_blob;             /* shared body (referenced), or NULL */
    size_t resp_len, resp_sent;
    bool replied, headers_sent, close_after;
    uint64_t ticket;                    /* commit seq that must be durable before answering */
    bool dwait;                         /* on app->http_waiting */
    struct http_req *dnext, *dprev;
    char *extra_hdr;                    /* extra "name: value\r\n" lines (malloc), or NULL */
};

/* ---------------------------------------------------------------- shared bodies (blob.c) */

#define BLOB_GZIP_MIN 1024              /* smaller bodies are sent as they are */
#define BLOB_GZIP_LEVEL 3               /* zlib level of gzip copies made while serving
                                         * (bench/README.md: ratio and time per level) */

/* A refcounted, immutable answer body shared by many answers (the cached board, static
 * files). Loop thread only. */
struct blob {
    uint32_t refs;
    size_t len;
    struct blob *gz;                    /* its gzip copy (refs held here), or NULL */
    bool gz_tried;                      /* gz is final: made, or not worth it */
    char data[];                        /* len bytes + NUL */
};
/* New blob holding a copy of data[len] (refs = 1); NULL on allocation failure. */
struct blob *blob_new(const void *data, size_t len);
/* The same for an answer body the server built: NULL also when data is not valid UTF-8
 * (json_output_check(), SPEC §4: never answered). */
struct blob *blob_new_answer(const char *data, size_t len);
void blob_ref(struct blob *b);
void blob_unref(struct blob *b);       /* NULL is fine; frees the gzip copy with it */
/* The gzip copy of b (b holds it; take a reference to keep it past b), made with zlib at
 * `level` on the first call: *made tells whether this call compressed (issue 9 item 4: once
 * per blob, never per request). NULL when b is under BLOB_GZIP_MIN bytes, when gzip would not
 * be smaller (then later calls return NULL at once) or out of memory (tried again next call). */
struct blob *blob_gzip(struct blob *b, int level, bool *made);

/* ---------------------------------------------------------------- static files (webroot.c) */

#define WEBROOT_MAX_FILES 4096
#define WEBROOT_MAX_FILE (16u * 1024 * 1024)
#define WEBROOT_MAX_TOTAL (64u * 1024 * 1024)
#define WEBROOT_MAX_DEPTH 8
/* Read every file under dir (hidden ones skipped) into memory with its ETag and gzip copy
 * (issue 9 item 3). 0 and *out (free with webroot_free); a dir that does not exist gives an
 * empty table and a warning. Errors: PB_EINTERNAL with *why (static) when past a bound of
 * webroot.c or a file cannot be read. Blocking: call before the loop serves. */
int webroot_load(const char *dir, struct webroot **out, const char **why);
void webroot_free(struct webroot *w);  /* NULL is fine */
/* Answer a GET of a static file from memory: 200 (gzip when accepted and smaller), 304 for
 * a matching If-None-Match, 404 for any other path or method. Never reads the disk. */
void webroot_serve(struct http_req *r);

/* ---------------------------------------------------------------- errors (error_reply.c) */

/* The one builder of error answers (HTTP, WebSocket error frames, upgrade refusals, import
 * reports): {"error": message, "code": SPEC §4 code of err, ...members of extra}, and
 * validation_failed always with details (SPEC §4; [{"field": "body"}] when extra has none).
 * Counts the error in app->metrics.errors. extra is consumed (may be NULL). Returns a new
 * object, or NULL on allocation failure (counted all the same). */
cJSON *error_reply_json(struct app *app, int err, const char *message, cJSON *extra);
/* The same, serialized: a malloc'd string the caller frees, or NULL. */
char *error_reply_body(struct app *app, int err, const char *message, cJSON *extra);
/* Errors of code err answered so far (planboard_errors_total). */
uint64_t error_reply_count(const struct app *app, int err);

/* ---------------------------------------------------------------- HTTP answers (http_reply.c) */

/* Answer with a shared body: takes a reference on b (the caller keeps its own). Sends b's
 * gzip copy with Content-Encoding: gzip when the request accepts gzip (made on first use,
 * counted in metrics.blob_gzips); Vary: Accept-Encoding either way. */
void http_reply_blob(struct http_req *r, int status, const char *ctype, struct blob *b);

/* Answer the request (each consumes what it is given). May be called from any loop-thread
 * callback, including after-work callbacks; the bytes go out at the next writable callback. */
void http_reply(struct http_req *r, int status, const char *ctype, char *body, size_t len);
void http_reply_json(struct http_req *r, int status, cJSON *json);
/* The error answer of SPEC §4 (status from err) through error_reply_json; extra consumed.
 * Nothing when r was answered already. */
void http_reply_error(struct http_req *r, int err, const char *message, cJSON *extra);
/* Answer an operation's result: the error, or ok_status with res->data (204: no body).
 * Consumes res->data and res->extra. */
void http_reply_op(struct http_req *r, struct op_result *res, int ok_status);

/* Answer an error while the body may still be arriving (a streamed upload that failed after
 * its begin: import.c): the connection closes after the answer, the rest of the body is read
 * and dropped (bounded). extra consumed. */
void http_reply_early(struct http_req *r, int err, const char *message, cJSON *extra);

/* Run r's route handler again, as when its body was complete (board_load.c, after the board it
 * waited for was loaded). r must be active, unanswered and have no job. */
void http_redispatch(struct http_req *r);

/* PostgreSQL (board_load_wait): park r until tenant_id's board is loaded off the loop, then
 * dispatch it again; true when parked (r->job is the wait: CLOSED_HTTP drops it). False (go on
 * now): not needed, or r waited once already (never a second wait: it then loads inline). */
bool http_board_wait(struct http_req *r, int64_t tenant_id);

/*
 * An answer that comes later (an operation through the writer). http_wait_begin: a waiter
 * for r (r->job; NULL when out of memory). http_wait_done is an op_done_fn: it answers res with
 * 200 if the request is still there (the client may have gone: then res is freed) and frees
 * the waiter.
 */
struct http_wait;
struct http_wait *http_wait_begin(struct http_req *r);
/* The status http_wait_done answers a success with (200 unless set; 204: no body). */
void http_wait_set_status(struct http_wait *w, int ok_status);
void http_wait_done(void *ctx, struct op_result *res);
/* Free a waiter that was never used (the operation answered at once). */
void http_wait_cancel(struct http_wait *w);
/* Add a response header line "name: value" (printf-style value) to the answer of r. */
void http_reply_header(struct http_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Write the status line, headers and (up to 16 KiB) body of r's answer (http.c calls it at
 * the first writable callback). 1: the body went with them; 0: it did not; -1: error. */
int http_reply__write_head(struct http_req *r);
/* Integer query parameter `name` in [lo, +inf), clamped to hi (SPEC §4: limit clamps to 500);
 * def when absent; a malformed or too small value sets *bad and gives def. */
int64_t http_query_int(struct http_req *r, const char *name, int64_t def, int64_t lo,
                       int64_t hi, bool *bad);
/* The caller's board (SPEC §3: always the caller's tenant); NULL after answering 404/500. */
struct board *route_board(struct http_req *r);
/* route_board with the SPEC §9 projection brought up to date first (store_schedule_refresh at
 * now with [schedule] refresh_seconds): for the routes that show orders. */
struct board *route_board_scheduled(struct http_req *r);
/* Answer r with the order o and its routing steps (GET /api/orders/:id shape), with HTTP
 * `status`. ans: the order's JSON built by the caller (owned from here on; NULL: built here
 * with op_order_json). The steps are read with reads_submit: at once on SQLite, off the loop
 * on PostgreSQL (issue 13 "the loop never waits"), so r is answered later then; a failed
 * read answers the order without its steps. Out of memory or a
 * full reader queue: 500 / 429. */
void route_reply_order(struct http_req *r, const struct order *o, int status, cJSON *ans);
/* 400 validation_failed with details [{field, message}] (SPEC §4). */
void http_reply_invalid(struct http_req *r, const char *field, const char *message);
/* Query argument `name` (without '='), URL-decoded, into buf (cut to len); NULL when absent. */
const char *http_query(struct http_req *r, const char *name, char *buf, size_t len);
/* The caller as an op_user (username looked up lazily by the caller when needed). */
void http_op_user(struct http_req *r, struct op_user *u, char *username, size_t len);

/* The lws callback for HTTP reasons (called from the shared protocol callback). */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

/* Hand the dispatcher its route tables (each ended by a NULL pattern; static storage) at
 * start: it matches requests against them in order and knows no handler by name. */
void http_routes(struct app *app, const struct route *const *tables, size_t n);

/* ---------------------------------------------------------------- sessions (session.c) */

/* A session id is the first 16 hex chars of an access token's jti ("<sid>.<random>"): every
 * access token issued by login or refresh within one session shares it (SPEC §4 logout
 * revokes the session's tokens; SPEC §5 closes the connections opened with them). */
#define PB_SID_LEN 17
struct revoked_session {
    char sid[PB_SID_LEN];
    int64_t until_s;                    /* forget after this (no token of it can be valid) */
};
struct revoked_user {
    int64_t tenant_id, user_id;
    int64_t before_s;                   /* tokens issued at or before this are refused */
};

/* Verify an access token for this app (signature, expiry, session not revoked): 0 and *out,
 * or PB_EUNAUTHORIZED. Uses and fills the verified-token cache (PB_TOKEN_CACHE entries). */
int session_verify_token(struct app *app, const char *token, struct auth_claims *out);
/* Allocate / free the verified-token cache: 0 or PB_EINTERNAL. */
int session_token_cache_init(struct app *app);
void session_token_cache_free(struct app *app);
/* The session id of a token's claims into sid[PB_SID_LEN]. */
void session_id_of(const struct auth_claims *c, char sid[PB_SID_LEN]);
/* True when the token's session was logged out or its user removed. */
bool session_revoked(const struct app *app, const struct auth_claims *c);
/* Log out a session, in two halves around the writer (writes_sql). _write (writer thread,
 * sibling store ws): revoke the session sid of the user in SQL; 0 or PB_EINTERNAL (nothing
 * changed). _apply (loop, after the commit): its tokens are refused from now on; 0, or
 * PB_EINTERNAL (out of memory: the store has it, this process may accept its tokens until they
 * expire). The caller closes the session's WebSockets (ws_close_user): session.c knows no
 * connection. SPEC §4 "logout". */
int session_logout_write(struct store *ws, int64_t tenant_id, int64_t user_id, const char *sid);
int session_logout_apply(struct app *app, const char *sid);
/* The ids of a user's live sessions, collected on the writer thread (owned arrays). */
struct session_sids {
    char (*sid)[PB_SID_LEN];
    size_t n, cap;
};
/* Refuse every token of a user issued until now, in two halves around the writer.
 * _write (writer thread, sibling store ws, inside the job's transaction): the ids of the user's
 * live sessions into *out (emptied first: a rerun overwrites), then every session of the user
 * revoked in SQL; 0 or PB_EINTERNAL. _apply (loop, after the commit): those ids and every
 * token issued to the user before now are refused; 0 or PB_EINTERNAL (no memory). The caller
 * closes the user's WebSockets (ws_close_user) and frees out (session_sids_free). */
int session_revoke_user_write(struct store *ws, int64_t tenant_id, int64_t user_id,
                              struct session_sids *out);
int session_revoke_user_apply(struct app *app, int64_t tenant_id, int64_t user_id,
                              const struct session_sids *sids);
void session_sids_free(struct session_sids *s);
/* Load revoked sessions from the store at start; free at the end. */
int session_init(struct app *app);
void session_cleanup(struct app *app);

/* ---------------------------------------------------------------- the writer (writes.c) */

/*
 * The writer thread and its sibling connection (store/writer.h, docs/writer.md). writes_open:
 * 0 or PB_EINTERNAL (logged). writes_close: drains (every accepted job completes) and frees
 * it asynchronously; the loop keeps running until then.
 */
int writes_open(struct app *app);
void writes_close(struct app *app);

/* True when a loop-side write may run now (no writer job in flight or waiting). */
bool writes_idle(const struct app *app);

/*
 * Run fn(ctx), a write on the loop's own connection, when no writer job is in flight: at once
 * when the writer is idle (or absent), else later, in call order (writer_exclusive). 0, or
 * PB_EINTERNAL (no memory, the writer is closing: fn is not called).
 */
int writes_exclusive(struct app *app, void (*fn)(void *ctx), void *ctx);

/*
 * writer_submit on the server's writer. PB_EINTERNAL when there is none or it is closing,
 * else as writer_submit (PB_ERATE_LIMITED, prepare's error).
 */
struct db;
int writes_submit(struct app *app, int64_t tenant_id, int (*prepare)(void *ctx),
                  int (*run)(struct db *db, void *ctx),
                  void (*done)(void *ctx, int status, uint64_t commit_seq), void *ctx);

/*
 * A write that touches no cache (sessions, users, API keys: docs/writer.md "SQL-only writes"):
 * fn(ws, ctx) runs on the writer thread with the sibling store ws, inside the writer's
 * transaction, so a store function written as one transaction (store__begin/commit) runs
 * unchanged as a savepoint. fn must touch nothing but ws and ctx, and may run twice (after a
 * failed group): it must overwrite its results in ctx, never append or allocate without
 * freeing what the previous run left. Then done(ctx, status) on the loop, in commit order:
 * status 0 = committed (group commit syncs it before answers), else fn's negative PB_E* code
 * or PB_EINTERNAL (nothing changed). tenant_id orders the write behind the tenant's earlier
 * writes (0 = no gate). Returns 0 (done is called exactly once, later), PB_ERATE_LIMITED (the
 * writer's queue is full), PB_EINTERNAL (no memory, no writer, closing): done is not called.
 */
int writes_sql(struct app *app, int64_t tenant_id, int (*fn)(struct store *ws, void *ctx),
               void (*done)(void *ctx, int status), void *ctx);
/* ---------------------------------------------------------------- usernames (user_names.c) */

/*
 * The username of user_id of tenant_id into out (len bytes; "" when unknown). SQLite: read
 * from the loop's connection every time (as always). PostgreSQL: from a table of names read
 * within the last 30 s (issue 13 "the loop never waits"): a rename through another node
 * shows within that time. user_names_forget: drop user_id's entry (a change of that user
 * through this node). user_names_free: at the end.
 */
void user_name_of(struct app *app, int64_t tenant_id, int64_t user_id, char *out, size_t len);
void user_names_forget(struct app *app, int64_t user_id);
void user_names_free(struct app *app);

/* ---------------------------------------------------------------- reads off the loop (reads.c) */

/*
 * The reader (PostgreSQL only; issue 13 "the loop never waits on a PostgreSQL round trip").
 * reads_open (after writes_open): opens a sibling connection and its thread; nothing on
 * SQLite. 0 or PB_EINTERNAL (logged). reads_close: every accepted read still completes, then
 * the thread ends; the loop runs until then.
 */
int reads_open(struct app *app);
void reads_close(struct app *app);

/*
 * Read the database with fn(rs, ctx), then done(ctx, status) on the loop. On SQLite both run
 * at once, inside this call, on the loop's store (a local read). On PostgreSQL fn runs on the
 * reader thread with the reader's store, inside a read transaction; it must touch nothing but
 * rs and ctx (no cache, no app), may run twice (after a failed batch: overwrite results in ctx,
 * never append), and returns 0 or a negative PB_E* code; done runs later on the loop with that
 * code or PB_EINTERNAL (PostgreSQL unreachable, the statement failed). ctx is the caller's
 * until done. Returns 0 (done is called exactly once), PB_ERATE_LIMITED (the reader's queue is
 * full), PB_EINTERNAL (no memory, closing): then done is not called.
 */
int reads_submit(struct app *app, int (*fn)(struct store *rs, void *ctx),
                 void (*done)(void *ctx, int status), void *ctx);

/* What a route_read function is given: the caller's claims and the request's values, copied
 * (it runs on the reader thread, where the request must not be touched). */
struct route_read {
    int64_t tenant_id, user_id;         /* the caller's claims */
    int64_t id;                         /* the path's :id (r->ids[0]), or 0 */
    int64_t limit, offset;              /* a list's query, checked by the route */
};

/*
 * Reader thread (or the loop on SQLite): read with rs and build the whole answer. Returns 0
 * with *out (the JSON body; *http_status preset to 200), or a negative PB_E* code with
 * *message (a static string; NULL: a generic one) — the HTTP error of that code. Touches
 * nothing but rs, q and the out values (protocol/json's encoders are pure: they may be used).
 */
typedef int (*route_read_fn)(struct store *rs, const struct route_read *q, cJSON **out,
                             int *http_status, const char **message);

/* Answer r with what fn reads (through reads_submit: off the loop on PostgreSQL). Out of
 * memory or a full reader queue: 500 / 429 at once. */
void route_read(struct http_req *r, const struct route_read *q, route_read_fn fn);

/* ---------------------------------------------------------------- webhooks (webhooks.c) */

/*
 * The SPEC §11 deliverer (webhooks.c has the design). webhooks_start (after writes_open):
 * loads the live endpoints and resumes their pending deliveries; 0 or PB_EINTERNAL (logged).
 * webhooks_stop (server_stop): abandons the attempts in flight (delivered again after a
 * restart, same deliveryId) and closes its handles. webhooks_free (after the loop): frees it.
 */
struct webhook;
struct strbuf;
int webhooks_start(struct app *app);
void webhooks_stop(struct app *app);
void webhooks_free(struct app *app);
/* A change of tenant_id was committed (room_publish): look for new outbox rows soon. */
void webhooks_nudge(struct app *app, int64_t tenant_id);
/* An endpoint was created (w is moved in and emptied; slug: its tenant's slug, copied, or
 * NULL: read on the loop's connection, as on SQLite) / deleted (its attempt in flight, if
 * any, is abandoned). added: 0 or PB_EINTERNAL (out of memory: it is loaded at the next
 * start). */
int webhooks_endpoint_added(struct app *app, struct webhook *w, const char *slug);
void webhooks_endpoint_removed(struct app *app, int64_t tenant_id, int64_t id);
/* The endpoint's current state (failing) as the deliverer knows it; `stored` when unknown. */
bool webhooks_endpoint_failing(struct app *app, int64_t id, bool stored);
/* Append the planboard_webhook_* metrics to t. */
void webhooks_metrics(struct app *app, struct strbuf *t);

/* ---------------------------------------------------------------- metrics (metrics.c) */

/* Count one answered HTTP request. route is a static string (pattern). */
void metrics_request(struct app *app, int method, const char *route, int status);
void metrics_cleanup(struct app *app);

/* ---------------------------------------------------------------- group commit (durable.c) */

/* The ticket for something leaving now: the last commit's seq (0 without group commit). */
uint64_t durable_ticket(const struct app *app);
/* True when every commit up to ticket is on disk. */
bool durable_reached(const struct app *app, uint64_t ticket);
/* A barrier for something read from the database rather than written by this process's
 * commit counting (the webhook outbox read on the loop can see a writer commit whose done has
 * not run yet): returns a ticket that durable_barrier_reached() accepts only once an
 * fdatasync that started after this call has finished, so everything committed before the
 * call is on disk. 0 (reached at once) without group commit. The durable listeners are called
 * when it is reached. */
uint64_t durable_barrier(struct app *app);
bool durable_barrier_reached(const struct app *app, uint64_t ticket);
/* Start the sync thread (synchronous = FULL); stop it (inside the loop, joins the thread);
 * free it after the loop ended. */
int durable_start(struct app *app);
void durable_stop(struct app *app);
void durable_free(struct app *app);
/* fdatasync calls made so far (0 without group commit). */
uint64_t durable_syncs(struct app *app);
/* Histogram, one sample per group: seconds from its oldest commit until it was on disk
 * (the longest any commit of the group waited). All zero without group commit. */
void durable_latency(struct app *app, struct pb_histogram *out);
/* Register fn(ctx, durable_seq) to be called on the loop thread each time commits reached the
 * disk (app->durable_seq advanced), in registration order: durable.c knows no consumer
 * (issue 9 item 5), the server registers http.c's and ws.c's releases (server_start). At most
 * PB_DURABLE_LISTENERS; 0 or PB_EINTERNAL when full. Works with or without group commit
 * (without it nothing ever waits, so fn is never called). */
int durable_on_reached(struct app *app, void (*fn)(void *ctx, uint64_t durable_seq), void *ctx);
/* Wake the answers / connections that waited for durability (registered by server.c). */
void http_release_durable(struct app *app);
void ws_release_durable(struct app *app);

/* ---------------------------------------------------------------- server lifecycle (server.c) */

/* Create the lws context on app->loop with our protocols, timers and signal handlers.
 * Returns 0, or -1 with a one-line reason on stderr (port in use, evlib plugin missing). */
int server_start(struct app *app);
/* Begin a clean shutdown (SPEC §7): close WebSockets with 1001, then destroy the context. */
void server_stop(struct app *app);
/* Free what server_start made after uv_run returned; uv_loop_close must then return 0. */
void server_cleanup(struct app *app);

#endif
