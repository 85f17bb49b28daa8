/*
 * store — SQLite (WAL) persistence behind an in-memory per-tenant board cache.
 *
 * SPEC §1 write-through: every mutation runs as one SQLite transaction (the change, the
 * rank it gives the order placed (store/rank.c) and its audit entry); only after COMMIT succeeds is the cache
 * changed. A failed commit is rolled back and leaves the cache exactly as it was.
 * Reads of the board are served from the cache.
 *
 * Threading: a struct store and everything reached from it belong to one thread (the loop
 * thread in the server). Nothing here blocks for long: synchronous=NORMAL in WAL mode means a
 * commit does not fsync (see store_options.synchronous).
 *
 * Errors: functions return 0 or a negative PB_E* code of core/errors.h:
 *   PB_ENOT_FOUND   the object does not exist in this tenant (or is deleted)
 *   PB_ECONFLICT    a unique key is taken or a precondition (version, fromWorkCentreId) is stale
 *   PB_EVALIDATION  an id named in the input (work centre) does not exist in the tenant
 *   PB_ETOO_LARGE   the tenant would have more live orders than max_orders_per_tenant
 *   PB_EINTERNAL    SQLite failed; nothing was changed (database rolled back, cache untouched)
 */
#ifndef PB_STORE_H
#define PB_STORE_H

#include "core/model.h"
#include "core/schedule.h"

struct store;

struct store_options {
    const char *synchronous;    /* "NORMAL" (default) or "FULL": SQLite PRAGMA synchronous */
    bool group_commit;          /* with FULL: run SQLite at NORMAL and let the caller make
                                 * commits durable in groups by syncing store_wal_path() off
                                 * the loop (see store_set_commit_hook) */
    size_t max_orders_per_tenant; /* live (not deleted) orders one tenant may have; creates
                                 * and imports past it fail with PB_ETOO_LARGE (SPEC §4
                                 * [limits] max_orders_per_tenant). 0 = no limit */
    char *errbuf;               /* when not NULL, store_open writes the reason of a failure
                                 * here (errlen bytes) instead of printing it to stderr */
    size_t errlen;
};

/*
 * Open (creating if needed) the database at `path` (":memory:" works for tests), set WAL and
 * foreign keys, apply schema.sql (compiled in as pb_schema_sql). opts may be NULL.
 * On success *out owns the connection; free with store_free(). Returns 0, or PB_EINTERNAL
 * with *out NULL (the reason is logged to stderr).
 */
int store_open(struct store **out, const char *path, const struct store_options *opts);

/*
 * A second connection to s's database with its own statement cache and no boards: the writer
 * thread's (store/writer.c, docs/writer.md), on which the store's write phases
 * (store_import_write ...) run while the loop keeps s. synchronous: "NORMAL" or "FULL" (NULL =
 * NORMAL); with FULL every COMMIT on it syncs the WAL (on the thread that commits). Busy
 * timeout 5 s (that thread waits for another process's write lock, the loop never does).
 * Call on the loop thread; hand the result to one other thread; free with store_free (after
 * that thread is done with it). Returns 0, or PB_EINTERNAL (*out NULL, s's last error set).
 */
int store_open_sibling(struct store *s, const char *synchronous, struct store **out);

/* SPEC §12: true when `url` is a PostgreSQL URL (postgresql:// or postgres://), which
 * store_open takes in place of an SQLite path. */
bool store_url_is_postgres(const char *url);

/* True when s stores in PostgreSQL (false: SQLite). */
bool store_is_postgres(const struct store *s);

/* The connection (SQLite or PostgreSQL: store/db.h) of a sibling store, for writer_open's
 * connect hook. Owned by the store. */
struct db *store_sibling_db(struct store *s);

/* Close the database and free every cached board. store_free(NULL) does nothing. */
void store_free(struct store *s);

/*
 * Group commit support (issue 3, SPEC §1 "no fsync-per-request on the loop thread").
 * Every successful COMMIT gets the next commit sequence number and then calls the hook
 * (cb(ctx, seq)) on the committing thread. With store_options.group_commit the commit is on
 * disk only after the WAL file (store_wal_path) has been synced by the caller.
 */
typedef void (*store_commit_fn)(void *ctx, uint64_t commit_seq);
void store_set_commit_hook(struct store *s, store_commit_fn cb, void *ctx);
/* Sequence number of the last successful COMMIT (0 before the first). */
uint64_t store_commit_seq(const struct store *s);
/* "<database path>-wal" (owned by the store). */
const char *store_wal_path(const struct store *s);

/* The last SQLite error message of this store (static until the next call). */
const char *store_errmsg(const struct store *s);

/* Run raw SQL (several statements allowed). For tests and the demo seed only. */
int store_exec(struct store *s, const char *sql);

/* Latency histogram of COMMIT statements (for /metrics): cumulative-free bucket counts,
 * counts[i] = commits that took <= pb_commit_bounds[i] seconds and more than the previous
 * bound; the last bucket is +Inf. */
#define PB_COMMIT_BUCKETS 12
extern const double pb_commit_bounds[PB_COMMIT_BUCKETS - 1];
struct pb_histogram {
    uint64_t counts[PB_COMMIT_BUCKETS];
    uint64_t count;
    double sum_seconds;
};
/* The store's commit histogram (owned by the store; read-only). */
const struct pb_histogram *store_commit_histogram(const struct store *s);

/* ---------------------------------------------------------------- tenants and users */

/* Create tenant `slug` ([a-z0-9-]{2,40}) named `name`, timezone "UTC". *id_out gets its id.
 * PB_EVALIDATION bad slug, or name empty or not valid UTF-8 (SPEC §4), PB_ECONFLICT slug
 * taken, PB_EINTERNAL. */
int store_tenant_create(struct store *s, const char *slug, const char *name, int64_t *id_out);

/* Look a tenant up by id or slug, reading SQLite (so tenants created by another process are
 * seen). Fills caller storage *out (free with tenant_cleanup). PB_ENOT_FOUND, PB_EINTERNAL. */
int store_tenant_get(struct store *s, int64_t id, struct tenant *out);
int store_tenant_by_slug(struct store *s, const char *slug, struct tenant *out);

/* Create a user. password_hash is the argon2id encoded string (hashing is the caller's job).
 * PB_EVALIDATION a text not valid UTF-8 (SPEC §4), PB_ECONFLICT username or email taken among
 * live users, PB_EINTERNAL. */
int store_user_create(struct store *s, int64_t tenant_id, const char *username, const char *email,
                      const char *password_hash, enum role role, const char *first_name,
                      const char *last_name, int64_t *id_out);

/* Live (not deleted) user by id or username within the tenant; fills *out (user_cleanup).
 * PB_ENOT_FOUND, PB_EINTERNAL. */
int store_user_get(struct store *s, int64_t tenant_id, int64_t id, struct user *out);
int store_user_by_username(struct store *s, int64_t tenant_id, const char *username,
                           struct user *out);

/* ---------------------------------------------------------------- board cache */

/* One column of the board: the orders of one work centre (or the backlog) in position order,
 * held in an order-statistic tree (core/ostree.h) so that a move costs O(log n), not O(n)
 * (issue 9 item 2). Read it with board_column_len / _first / _next / _at; read-only for
 * callers. Along the tree the orders' ranks (orders.rank in SQLite) strictly increase. */
struct column {
    int64_t work_centre_id;     /* 0 = backlog */
    struct ostree orders;       /* struct order via column_node; the board owns the orders */
};

struct board_index;             /* private: hash maps id -> order, orderNumber -> order */
struct calendar;                /* core/calendar.h */

/* A tenant's board. Read-only for callers; changed only by store_* mutations. */
struct board {
    int64_t tenant_id;
    struct work_centre *work_centres;   /* live work centres ordered by display_order, id */
    struct column *columns;             /* columns[i] belongs to work_centres[i] */
    size_t n_work_centres;
    struct column backlog;
    size_t n_orders;                    /* live orders on the board */
    uint64_t version;                   /* +1 on every change of the board (cache keys) */
    struct board_index *index;          /* private */
    /* SPEC §9 projected schedule (store/schedule.c, issue 11) */
    struct calendar *calendar;          /* the tenant's calendar in its timezone; owned */
    int64_t schedule_at;                /* scheduleAt of the orders' projected values: minutes
                                         * since the epoch, 0 = never computed */
    uint64_t schedule_version;          /* the board version those values belong to; != version:
                                         * stale (store_schedule_refresh recomputes) */
};

/*
 * The tenant's board, loaded from SQLite on first use and kept until store_free().
 * *out stays valid (and owned by the store) until store_free(). PB_ENOT_FOUND when the tenant
 * does not exist, PB_EUNAVAILABLE when the database is out of reach (PostgreSQL down: SPEC §12,
 * the client may try again), PB_EINTERNAL.
 */
int store_board(struct store *s, int64_t tenant_id, struct board **out);

/*
 * A board loaded off the loop (docs/postgresql.md "A board's first load"; issue 13: the loop
 * never waits on a PostgreSQL round trip). store_board_load reads tenant_id's board on store s
 * (any store of the same database: the reader thread's sibling, app->rstore) into a board
 * owned by the caller: nothing ties a board to the store that loaded it (it holds no
 * statement, its calendar, index and routes are its own, its version restarts at 1 as every
 * load's does). The reads run in s's current transaction (the reader's batch); a column whose
 * ranks need repair is repaired there too (store__begin nests). Threads: s's owner. *out is
 * NULL on error. Errors as store_board: PB_ENOT_FOUND (no such tenant), PB_EUNAVAILABLE,
 * PB_EINTERNAL.
 */
int store_board_load(struct store *s, int64_t tenant_id, struct board **out);

/*
 * Hand a board from store_board_load to s's cache (the loop's store, on the loop). When s has
 * a board of that tenant cached already (loaded inline meanwhile: it is the one the writes
 * since went through), that one stays and b is freed. Takes b in every case. *out: the cached
 * board. PB_EINTERNAL (out of memory: b freed, nothing cached).
 */
int store_board_install(struct store *s, struct board *b, struct board **out);

/* Free a board from store_board_load that is not to be installed. NULL: nothing. */
void store_board_free(struct board *b);

/* True when tenant_id's board is in s's cache (store_board answers without a read). O(1). */
bool store_board_cached(const struct store *s, int64_t tenant_id);

/* Forget tenant_id's cached board (after changes made outside the store_* mutations, e.g.
 * work centres written with raw SQL); the next store_board() reloads it from SQLite. Every
 * pointer into the old board becomes invalid. Does nothing when it is not loaded. */
void store_board_drop(struct store *s, int64_t tenant_id);

/* Lookups in the cache; NULL when absent. O(1) for orders (hash), O(work centres) otherwise. */
struct order *board_order(const struct board *b, int64_t order_id);
struct order *board_order_by_number(const struct board *b, const char *order_number);
const struct work_centre *board_work_centre(const struct board *b, int64_t wc_id);
const struct work_centre *board_work_centre_by_code(const struct board *b, const char *code);
/* The column of work centre wc_id (0 = backlog); NULL for an unknown id. */
struct column *board_column(struct board *b, int64_t wc_id);

/* Orders in column c. O(1). */
size_t board_column_len(const struct column *c);
/* The first order of column c, the one after o in its column (NULL at the end), the one at
 * 0-based position i (NULL when i >= len). first and at O(log n); a walk with next is O(n)
 * in all. The position of an order is order_position() (core/model.h), O(log n). */
struct order *board_column_first(const struct column *c);
struct order *board_column_next(const struct order *o);
struct order *board_column_at(const struct column *c, size_t i);

/* Invariant check for assert(): in every column the tree is sound and the ranks strictly
 * increase, every order is in the column of its work_centre_id and in the hash index,
 * n_orders matches. Returns true when all hold. O(orders). */
bool board_check(const struct board *b);

/* ---------------------------------------------------------------- orders */

/* SPEC §4 tenant cap: the limit set by store_options.max_orders_per_tenant (0 = none). */
size_t store_max_orders(const struct store *s);

/* Whether n_new more live orders fit on board b under that limit (soft-deleted orders do not
 * count: b->n_orders is the live count). Returns 0, or PB_ETOO_LARGE when b->n_orders + n_new
 * would exceed it. O(1); changes nothing. */
int store_orders_fit(const struct store *s, const struct board *b, size_t n_new);

/*
 * Create an order from `in` (already checked with order_input_check) with `n_steps` routing
 * steps (may be 0/NULL; step strings borrowed). It joins the end of its column. An audit entry
 * "order_created" is written in the same transaction. On success *out points at the cached
 * order (owned by the board). Status in_progress/complete stamps started_at/completed_at.
 * PB_ECONFLICT orderNumber taken, PB_EVALIDATION unknown or inactive work_centre_id (or a
 * step naming a work centre unknown to the tenant), PB_ETOO_LARGE the tenant already has
 * max_orders_per_tenant live orders, PB_EWIP_LIMIT (SPEC §9 WIP limits, checked last) the
 * order counts (store_wip_counts: not complete or cancelled) and would take its column past a
 * hard WIP limit while wip_override is false (an admin's "override": true; the caller decides
 * who may), PB_EINTERNAL. A soft or overridden limit goes through: the audit entry's
 * event_data gets "wipExceeded": true, "wipLimit", "count" and, overridden, "wipOverride":
 * true, as a move's does. *wip (may be NULL) gets the column's check on success.
 */
struct wip_check;
int store_order_create(struct store *s, struct board *b, const struct order_input *in,
                       const struct step *steps, size_t n_steps, int64_t user_id,
                       bool wip_override, struct order **out, struct wip_check *wip);

/* Routing steps of an order, read from SQLite, by step_number. *out is a malloc'd array of
 * *n steps (free each with step_cleanup, then free()). PB_ENOT_FOUND, PB_EINTERNAL. */
int store_order_steps(struct store *s, int64_t tenant_id, int64_t order_id,
                      struct step **out, size_t *n);

/* ---------------------------------------------------------------- WIP limits (SPEC §9) */

/*
 * What a WIP limit counts (SPEC §2, §9): the orders of a column whose status is not complete
 * or cancelled (on_hold counts: it still occupies the column). The backlog has no limit.
 */
struct wip_check {
    int64_t limit;                      /* the column's wipLimit; 0 = none */
    int64_t count;                      /* counted orders the column would hold after the
                                         * change (its own order included) */
    bool hard;                          /* wipPolicy hard */
    bool exceeded;                      /* the change adds to the column and count > limit
                                         * (soft: a warning "wipExceeded": true) */
    bool overridden;                    /* exceeded a hard limit; let through by an admin's
                                         * "override": true (audited) */
};

/* Whether an order of status st counts against a WIP limit (not complete, not cancelled). */
bool store_wip_counts(enum order_status st);

/* Counted orders in column c (store_wip_counts). O(orders of c). */
size_t store_wip_count(const struct column *c);

/*
 * SPEC §9: a change that puts `adding` more counted orders into the column of work centre
 * wc_id (0 = backlog: never limited; an unknown id: no limit). Fills *out always (zeroed
 * first). Returns 0 (no limit, within it, soft, or hard with override: out->overridden), or
 * PB_EWIP_LIMIT: a hard limit would be exceeded and override is false (409 conflict with
 * reason "wip_limit", out->limit and out->count for the body). adding 0 never exceeds: a
 * column already over its limit (the limit was lowered) may still be reordered.
 * O(orders of the column) when it has a limit, O(work centres) otherwise. Changes nothing.
 */
int store_wip_check(const struct board *b, int64_t wc_id, size_t adding, bool override,
                    struct wip_check *out);

/* Whether any work centre of b has a WIP limit (an import skips its WIP pass otherwise).
 * O(work centres). */
bool store_wip_limited(const struct board *b);

/*
 * SPEC §9 for an import (SPEC §6): the rows, in file order, against board b as the write will
 * find it. A row whose order counts (store_wip_counts of the row's status) and enters a column
 * with a limit is checked against that column's running count: the counted orders of the
 * column plus the rows before it that entered, minus the existing orders that left it
 * (place_file: an existing order goes to the row's work centre; otherwise it stays where it
 * is). An existing order that stays in its column is never new (its status change only
 * adjusts the running count). out[i] (n of them, the caller's) is zeroed, then for a checked
 * row filled as store_wip_check does; a row is refused when out[i].exceeded && out[i].hard &&
 * !out[i].overridden (override false): it then changes no count, as it will not be imported.
 * Soft (or overridden) rows count and have out[i].exceeded. Returns 0 or PB_EINTERNAL (out of
 * memory). O(rows × work centres) time, O(work centres) memory; changes nothing.
 */
int store_wip_import(const struct board *b, const struct order_input *rows, size_t n,
                     bool place_file, bool override, struct wip_check *out);

/* A move of SPEC §4 "PUT /api/orders/:id/move". */
struct move_request {
    int64_t order_id;
    int64_t to_work_centre_id;          /* 0 = backlog */
    int64_t position;                   /* -1 = end of column; past the end = end */
    bool has_from;                      /* precondition fromWorkCentreId present */
    int64_t from_work_centre_id;        /* 0 = asserts backlog; unknown id = conflict */
    bool has_version;                   /* precondition version present */
    int64_t version;
    const char *reason;                 /* free text for the audit entry, may be NULL */
    int64_t user_id;                    /* the mover */
    bool wip_override;                  /* SPEC §9: the mover is an admin who sent
                                         * "override": true; a hard WIP limit lets it through */
};

struct move_result {
    struct order *order;                /* the moved order in the cache (owned by the board) */
    int64_t from_work_centre_id;        /* 0 = backlog */
    int64_t to_work_centre_id;
    int64_t position;                   /* final position in the target column */
    int64_t queue_depth_from;           /* sizes of both columns just before the move */
    int64_t queue_depth_to;
    struct wip_check wip;               /* SPEC §9: the target column's WIP after the move */
    bool relabelled;                    /* the move rewrote other orders' ranks (store/rank.c:
                                         * a window around its place) */
};

/*
 * Move an order (SPEC §4): positions of the other orders close up in the source column and
 * open up in the target; the moved order's version +1 (others' versions unchanged); the move
 * (the order's row with its new column and rank: the other rows are not written, except for
 * the rare relabel of store/rank.c) and an "order_moved" audit entry (with queue depths) are
 * one transaction. An order leaving the backlog for the first time gets started_at. Locks are not checked here.
 * A move to the order's own column and place is still a move (version +1, audit entry).
 * Errors are checked in this order: PB_ENOT_FOUND order; PB_EVALIDATION unknown or inactive
 * to_work_centre_id, or position < -1 (-1 means the end; map a JSON negative position to
 * PB_EVALIDATION before calling); PB_ECONFLICT stale version / fromWorkCentreId;
 * PB_EWIP_LIMIT the order (counted: store_wip_counts) enters another column whose hard WIP
 * limit it would exceed and req->wip_override is false (SPEC §9; a soft or overridden limit
 * goes through: out->wip.exceeded, and the audit entry's event_data gets "wipExceeded",
 * "wipLimit", "count" and, overridden, "wipOverride": true); PB_EINTERNAL.
 * On error nothing changed and *out is untouched.
 */
int store_order_move(struct store *s, struct board *b, const struct move_request *req,
                     struct move_result *out);

/* CSV import (SPEC §6) of already-validated rows, as one transaction with one
 * "orders_imported" audit entry. upsert: an existing orderNumber is updated (fields replaced;
 * if its work centre changes it moves to the end of the new column; an unchanged row keeps its
 * version but still counts as updated); otherwise every row must be new (PB_ECONFLICT).
 * (SPEC §6 placement=keep is the caller's choice: pass an existing order's own
 * work_centre_id and it stays where it is.) New orders join the end of their column in the
 * given order.
 * PB_EVALIDATION unknown or inactive work centre (or a row without order_number, stock_code or
 * description), PB_ECONFLICT existing orderNumber without upsert or the same orderNumber twice
 * in rows, PB_ETOO_LARGE the new rows would take the tenant past max_orders_per_tenant (SPEC
 * §4), PB_EINTERNAL; on any error nothing changed. The counts (pointers may be NULL) are 0
 * on error. Cost: O(rows + sizes of the affected columns), one transaction. */
int store_import(struct store *s, struct board *b, const struct order_input *rows, size_t n,
                 bool upsert, int64_t user_id, size_t *created, size_t *updated);

/*
 * store_order_create in three phases, for the writer (docs/writer.md): prepare (loop thread)
 * validates as store_order_create does (PB_EVALIDATION, PB_ECONFLICT, PB_ETOO_LARGE,
 * PB_EWIP_LIMIT with wip_override as there, PB_EINTERNAL) and stages the order (in's strings are copied; steps stay the caller's until
 * write is done); write (the thread that owns connection s, a sibling store, in a transaction
 * the caller opened; may run again after a rollback; reads b's column, frozen until apply):
 * the row, its steps, the audit entry; PB_ECONFLICT, PB_EINTERNAL; apply (loop thread, after
 * COMMIT, cannot fail): the order joins b, returned (owned by b). Free the job with
 * store_create_job_free (NULL is fine) in every case.
 */
struct create_job;
int store_create_prepare(struct store *s, struct board *b, const struct order_input *in,
                         const struct step *steps, size_t n_steps, int64_t user_id,
                         bool wip_override, struct create_job **out);
int store_create_write(struct store *s, struct create_job *j);
/* SPEC §9: the prepared create's WIP check of its column (out->exceeded: a soft or overridden
 * limit was passed; the answer and event carry "wipExceeded": true). Any time after prepare. */
void store_create_wip(const struct create_job *j, struct wip_check *out);
struct order *store_create_apply(struct board *b, struct create_job *j);
/* SPEC §12 (the event goes in with its change, server/job_events.c): the order a prepared
 * create will add, with its id once store_create_write returned 0, and *position its SPEC §2
 * position (the end of its column). Borrowed from the job; the column node is not usable. */
const struct order *store_create_staged(const struct create_job *j, int64_t *position);
void store_create_job_free(struct create_job *j);

/*
 * store_order_move in three phases, for the writer (docs/writer.md). prepare (loop thread):
 * validates req against b exactly as store_order_move does (PB_ENOT_FOUND, PB_EVALIDATION,
 * PB_ECONFLICT, PB_EINTERNAL) and plans the move; *out owns the job. write (the thread that
 * owns connection s, a sibling store, inside a transaction the caller opened): the order's row,
 * a rare rank relabel and the audit entry; reads b, which must not change until apply (the
 * writer's gate and writer_exclusive see to it); may run again after a rollback;
 * PB_EINTERNAL. apply (loop thread, after COMMIT): changes b, fills *out (may be NULL);
 * cannot fail. Free the job with store_move_job_free (NULL is fine) in every case.
 */
struct move_job;
int store_move_prepare(struct board *b, const struct move_request *req, struct move_job **out);
/*
 * Batching one tenant's moves (docs/writer.md "Moves"): store_move_try applies a prepared move
 * to b so that the next move can be prepared on top of it, recording what undoes it;
 * store_move_untry undoes it (call in reverse order of the tries, before anyone else sees b:
 * the loop does all of it in one callback). A tried job is then written and applied as usual
 * (apply redoes exactly the same change). try: 0 or PB_EINTERNAL (out of memory; b unchanged).
 */
int store_move_try(struct board *b, struct move_job *j);
void store_move_untry(struct board *b, struct move_job *j);
/* What apply will report, read while j is tried (between store_move_try and _untry: *out's
 * order is the board's, in its moved state then). SPEC §12: the move's event is built from it
 * before the write, so it can be logged in the move's own transaction. */
void store_move_tried(const struct move_job *j, struct move_result *out);
int store_move_write(struct store *s, struct board *b, struct move_job *j);
void store_move_apply(struct board *b, struct move_job *j, struct move_result *out);
/* SPEC §12 (several nodes): after store_move_write of j in the same transaction, check in the
 * database that the order lands at the position its plan promised (the orders ranked before
 * it in the target column). 0, PB_ECONFLICT (another node changed the column since this
 * node's cache saw it: roll back, reload, the client retries), PB_EINTERNAL. */
int store_move_check_position(struct store *s, const struct move_job *j);
void store_move_job_free(struct move_job *j);

/*
 * A transaction committed on a sibling connection (the writer's), told to s on the loop
 * thread after its COMMIT: counted in store_commit_seq and passed to the commit hook, so that
 * group commit (server/durable.c) syncs it and holds what depends on it until then.
 */
void store_commit_noted(struct store *s);

/*
 * store_import in three phases, for the writer (docs/writer.md "Imports").
 *   prepare (loop thread, O(1); a small import reserves room in b's index): the plan for n
 *     rows into b. keep_place: SPEC §6 placement=keep, an existing order keeps its work
 *     centre whatever its row says (store_import's callers apply that themselves).
 *     PB_EINTERNAL. *out owns the plan.
 *   write (the thread that owns connection s, a sibling store, inside a transaction the caller
 *     opened): the first call validates and stages rows (the caller's, same array every call,
 *     alive until apply) against b, then writes SQLite; a big import also builds b's next
 *     index and its columns' tails (O(rows + b's index), off the loop). May be called again
 *     after a rollback. Errors as store_import's (PB_EVALIDATION, PB_ECONFLICT, PB_ETOO_LARGE,
 *     PB_EINTERNAL); nothing of the cache changed.
 *   apply (loop thread, after COMMIT): links the import into b; cannot fail. O(log n) per
 *     column + O(existing orders the rows touch) for a big import; O(rows) for a small one.
 * s of prepare/apply is the loop's store. Between prepare and apply b must not change and
 * only be read (the writer's per-tenant gate and writer_exclusive see to that): write reads
 * it from another thread. The plan is freed with store_import_plan_free (NULL is fine) after
 * apply or when the import fails.
 */
struct import_plan;
int store_import_prepare(struct store *s, struct board *b, size_t n, bool upsert,
                         bool keep_place, int64_t user_id, struct import_plan **out);
int store_import_write(struct store *s, struct import_plan *p, const struct order_input *rows);
void store_import_apply(struct store *s, struct board *b, struct import_plan *p);
/* The orders the plan creates and updates (pointers may be NULL), once written. */
void store_import_counts(const struct import_plan *p, size_t *created, size_t *updated);
void store_import_plan_free(struct import_plan *p);

/* ---------------------------------------------------------------- projected schedule (SPEC §9) */

/*
 * The orders' projected values (core/schedule.h) live on the board's orders; store/schedule.c
 * keeps them current. Issue 11 part 1: reads call store_schedule_refresh; the incremental
 * recompute after each change with its schedule_updated broadcast is part 2 (the server calls
 * store_schedule_columns for the columns a change touched).
 */
#define PB_SCHEDULE_REFRESH_SECONDS 300 /* SPEC §9 [schedule] refresh_seconds default */

struct schedule_changes;                /* core/schedule.h */
struct cal_shift;                       /* core/calendar.h */

/*
 * Bring b's projection up to date: with a new scheduleAt (now_ms rounded up to the minute)
 * when there is none yet, the last one is refresh_seconds old or more, or it is after now
 * (a clock set back), else at the same
 * scheduleAt when the board changed since (b->schedule_version != b->version); nothing
 * otherwise. A full recompute (O(orders)). When a value or scheduleAt changed, b->version
 * goes +1 (cached board answers are keyed by it) and the changed orders' ids are appended to
 * ch (may be NULL). Returns 0, or PB_EINTERNAL out of memory (values still all set, ch may miss
 * ids). Loop thread (the board's owner).
 */
int store_schedule_refresh(struct board *b, int64_t now_ms, int64_t refresh_seconds,
                           struct schedule_changes *ch);

/*
 * Recompute the columns of work centres wc_ids[0..n) (0 = backlog; unknown ids are passed
 * over) at b's scheduleAt: what a move (its two columns), a create, an edit or a scanner event
 * (the order's column) needs. A board whose projection was current before the change (its
 * schedule_version was version - 1, the change's own bump) is current again afterwards; a
 * stale one stays stale. ch and errors as store_schedule_refresh. O(orders of those columns).
 */
int store_schedule_columns(struct board *b, const int64_t *wc_ids, size_t n,
                           struct schedule_changes *ch);

/*
 * Recompute every column of b (its work centres and the backlog) at b's scheduleAt: after a
 * change that can touch any order (calendar, work centre capacity or default, an import, a
 * batch of changes). The projection is current afterwards. A board never computed
 * (schedule_at 0) is left alone (the next store_schedule_refresh computes it). ch and errors
 * as store_schedule_refresh. O(orders). Loop thread.
 */
int store_schedule_all(struct board *b, struct schedule_changes *ch);

/* One order of a what-if: its values now and after the move (core/schedule.h). */
struct store_preview_entry {
    const struct order *order;          /* in b's cache: valid until b changes */
    struct schedule_value was, now;
};
/* The orders a move would change (caller storage: zero it; store_preview_cleanup frees). */
struct store_preview {
    struct store_preview_entry *entries;        /* malloc'd */
    size_t n, cap;
};

/*
 * SPEC §9 what-if of moving order o (of b) to work centre to_wc_id (0 = backlog) at
 * position (-1 or past the end = the end; its own column: the place among the others), at
 * b's scheduleAt: the orders of the two columns whose projectedFinish or late would change,
 * target column first, each in position order, with their current (`was`) and would-be
 * (`now`) values. Nothing is changed: the columns are projected on a scratch copy of their
 * sequences (schedule_sequence). Bring the projection up to date first (the `was` values
 * are the orders' current ones). The move's own checks are the caller's
 * (store_move_prepare). 0, PB_EVALIDATION an unknown column, PB_EINTERNAL out of memory
 * (*out empty). O(orders of the two columns).
 */
int store_schedule_preview(struct board *b, const struct order *o, int64_t to_wc_id,
                           int64_t position, struct store_preview *out);
void store_preview_cleanup(struct store_preview *p);

/*
 * Replace the tenant's calendar (SPEC §9 PUT /api/tenant/calendar, admin): shifts and holidays
 * as core/calendar.h describes, in the tenant's timezone. Written through: the tenant's
 * tenant_calendars row, its shifts and holidays (replaced whole) and a "calendar_updated"
 * audit row by user_id are one transaction; after the commit the board's calendar is
 * replaced and its projection is stale (the next store_schedule_refresh recomputes it all).
 * PB_EVALIDATION the input fails calendar_check (report it with calendar_check first for the
 * details), PB_EINTERNAL (nothing changed).
 */
int store_calendar_set(struct store *s, struct board *b, const struct cal_shift *shifts,
                       size_t n_shifts, const char (*holidays)[PB_DATE_LEN], size_t n_holidays,
                       int64_t user_id);

/*
 * store_calendar_set in the writer's three phases (docs/writer.md "Work centres, the calendar
 * and tenant settings"; issue 9 item 1), same rows, audit row and errors:
 * store_calendar_prepare (loop thread, the tenant's earlier writes applied): checks the input
 *   (PB_EVALIDATION as store_calendar_set) and builds the new calendar in b's timezone into a
 *   new job *out (shifts and holidays are copied; PB_EINTERNAL no memory; *out NULL on error).
 * store_calendar_write (the thread owning connection s, a sibling store, inside a transaction
 *   the caller opened, never BEGIN/COMMIT itself; may run again after a rollback): the
 *   tenant_calendars row, shifts, holidays and the "calendar_updated" audit row. PB_EINTERNAL;
 *   the caller rolls back.
 * store_calendar_apply (loop thread, after COMMIT, cannot fail): b's calendar is replaced by
 *   the job's and its projection marked stale (recomputed by the next store_schedule_refresh).
 * store_calendar_job_free: in every case (NULL is fine).
 */
struct calendar_job;
int store_calendar_prepare(const struct board *b, const struct cal_shift *shifts,
                           size_t n_shifts, const char (*holidays)[PB_DATE_LEN],
                           size_t n_holidays, int64_t user_id, struct calendar_job **out);
int store_calendar_write(struct store *s, struct calendar_job *j);
void store_calendar_apply(struct board *b, struct calendar_job *j);
void store_calendar_job_free(struct calendar_job *j);

/* ---------------------------------------------------------------- demo data (SPEC §8) */

/*
 * Create tenant "demo" with users admin, scheduler, viewer (password_hashes[0..2], argon2id
 * encoded, in that order), work centres CUT ASM QC PACK SHIP, 15 orders in every status and
 * priority spread over the columns and the backlog, steps for each, and a few days of audit
 * history. Does nothing and returns PB_ECONFLICT when tenant "demo" exists. *tenant_id gets
 * the id. PB_EINTERNAL (nothing written).
 */
int store_demo_create(struct store *s, const char *const password_hashes[3], int64_t *tenant_id);

#endif
