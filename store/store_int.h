/*
 * store_int.h — declarations shared by the files of store/ only. Nothing outside store/
 * includes this.
 *
 * Layout, top to bottom (a file calls only files below it; no two files call each other):
 *   order_edit.c, scanner.c                 field edits, deletes, scanner events (they use
 *                                           orders.c's move phases)
 *   orders.c, work_centres.c, users.c, demo.c, analytics.c, audit.c, session.c, schedule.c,
 *   room_log.c
 *                                           the other operations (write-through, queries;
 *                                           schedule.c: the SPEC §9 projection, the calendar)
 *   store.c     open / close (schema, text repair), tenants, users, the tenant -> board table,
 *               audit rows
 *   rank.c      orders.rank: where an order placed in a column goes, and the rare relabel
 *   board.c     one tenant's board cache: loading, index (core/hmap), lookups, board_check()
 *   sql.c       statement cache, errors, stepping, transactions, bind / column helpers
 * Below them all: core/ (model, errors, hmap, strbuf, tz, utf8, strhash).
 */
#ifndef PB_STORE_INT_H
#define PB_STORE_INT_H

#include "store/db.h"

#include "core/errors.h"
#include "core/hmap.h"
#include "store/store.h"

/* The private part of struct board. */
struct board_index {
    struct hmap by_id;          /* order id -> struct order * (int64 keys) */
    struct hmap by_number;      /* order_number -> struct order *: the order's own string is the
                                 * key (board__order_number_is) */
};

/* ---------------------------------------------------------------- prepared statements */

/* SQL for transition stamps (orders.started_at / completed_at, SPEC §4 avgCycleTime): the
 * current time with milliseconds (SQLite keeps 'now' stable within one statement). */
#define PB_SQL_STAMP_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
/* SQL for completed_at of a completion stamped `stamp` (an SQL expression): strictly after a
 * started_at that an earlier write recorded (its +1 ms when the clock has not moved past it:
 * two writes within one millisecond), so that order qualifies for avgCycleTime; equal stamps
 * then only come from one write setting both (created or imported already complete). */
#define PB_SQL_COMPLETED_AT(stamp)                                                          \
    "(CASE WHEN started_at IS NOT NULL AND started_at >= " stamp " THEN "                      \
    "strftime('%Y-%m-%dT%H:%M:%fZ', started_at, '+0.001 seconds') ELSE " stamp " END)"

/* The statements that stamp the time, with the engine's spelling of "now" (NOW) and of the
 * completion stamp (DONE) as arguments. */
#define SQL_ORDER_INSERT(NOW)                                                                   \
    "INSERT INTO orders(tenant_id, order_number, stock_code, description, "                    \
    "current_operation, quantity_to_make, quantity_completed, work_centre_id, "                \
    "rank, status, priority, due_date, start_date, created_by, "                               \
    "created_at, updated_at, version, started_at, completed_at) "                              \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "                   \
    "?15, ?15, 1, "                                                                            \
    "CASE WHEN ?10 = 'in_progress' OR ?10 = 'complete' THEN " NOW                             \
    " END, CASE WHEN ?10 = 'complete' THEN " NOW " END)"
#define SQL_ORDER_UPDATE_FIELDS(DONE, NOW)                                                      \
    "UPDATE orders SET stock_code = ?3, description = ?4, "                                    \
    "current_operation = ?5, quantity_to_make = ?6, "                                          \
    "quantity_completed = ?7, status = ?8, priority = ?9, "                                    \
    "due_date = ?10, start_date = ?11, updated_at = ?12, "                                     \
    "version = version + 1, "                                                                  \
    "started_at = CASE WHEN ?8 = 'in_progress' OR ?8 = 'complete' "                            \
    "THEN COALESCE(started_at, " NOW ") ELSE started_at "                                      \
    "END, completed_at = CASE WHEN ?8 = 'complete' THEN "                                      \
    "COALESCE(completed_at, " DONE ") "                                                        \
    "ELSE completed_at END "                                                                   \
    "WHERE tenant_id = ?1 AND id = ?2"
#define SQL_ORDER_PLACE(NOW)                                                                    \
    "UPDATE orders SET work_centre_id = ?3, rank = ?4, "                                       \
    "started_at = CASE WHEN ?5 THEN COALESCE(started_at, " NOW                                \
    ") ELSE started_at END WHERE tenant_id = ?1 AND id = ?2"

/* X(name, sql): every statement the store runs. All are scoped by tenant_id. */

#define STORE_STMTS(X)                                                                          \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                 \
    X(COMMIT, "COMMIT")                                                                         \
    X(ROLLBACK, "ROLLBACK")                                                                     \
    X(NEST_BEGIN, "SAVEPOINT pb_nested")                                                        \
    X(NEST_RELEASE, "RELEASE pb_nested")                                                        \
    X(NEST_ROLLBACK, "ROLLBACK TO pb_nested")                                                   \
    X(TENANT_INSERT, "INSERT INTO tenants(slug, name, timezone, daily_target, created_at) "    \
                     "VALUES (?1, ?2, 'UTC', 0, ?3)")                                           \
    X(TENANT_BY_ID, "SELECT id, slug, name, timezone, daily_target FROM tenants WHERE id = ?1") \
    X(TENANT_BY_SLUG, "SELECT id, slug, name, timezone, daily_target FROM tenants "             \
                      "WHERE slug = ?1")                                                        \
    X(USER_INSERT, "INSERT INTO users(tenant_id, username, email, password_hash, role, "        \
                   "first_name, last_name, is_active, created_at, updated_at) "                 \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)")                            \
    X(USER_BY_ID, "SELECT id, tenant_id, username, email, first_name, last_name, "              \
                  "password_hash, role, is_active, created_at, updated_at FROM users "          \
                  "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL")                    \
    X(USER_BY_NAME, "SELECT id, tenant_id, username, email, first_name, last_name, "            \
                    "password_hash, role, is_active, created_at, updated_at FROM users "        \
                    "WHERE tenant_id = ?1 AND username = ?2 AND deleted_at IS NULL")            \
    X(WC_LOAD, "SELECT id, code, name, description, capacity, display_order, is_active, "       \
               "wip_limit, wip_policy, default_operation_minutes "                              \
               "FROM work_centres WHERE tenant_id = ?1 AND deleted_at IS NULL "                 \
               "ORDER BY display_order, id")                                                    \
    X(ORDER_LOAD, "SELECT id, order_number, stock_code, description, current_operation, "       \
                  "quantity_to_make, quantity_completed, work_centre_id, rank, status, "        \
                  "priority, due_date, start_date, completion_date, created_by, created_at, "   \
                  "updated_at, version FROM orders WHERE tenant_id = ?1 AND deleted_at IS NULL "\
                  "ORDER BY work_centre_id, rank, id")                                          \
    X(ORDER_FIX, "UPDATE orders SET work_centre_id = ?3, rank = ?4 "                           \
                 "WHERE tenant_id = ?1 AND id = ?2")                                            \
    X(ORDER_RANK, "UPDATE orders SET rank = ?3 WHERE tenant_id = ?1 AND id = ?2")               \
    X(ORDER_INSERT, SQL_ORDER_INSERT(PB_SQL_STAMP_NOW))                                         \
    X(ORDER_UPDATE_FIELDS, SQL_ORDER_UPDATE_FIELDS(PB_SQL_COMPLETED_AT(PB_SQL_STAMP_NOW),      \
                                                   PB_SQL_STAMP_NOW))                           \
    X(ORDER_PLACE, SQL_ORDER_PLACE(PB_SQL_STAMP_NOW))                                           \
    X(ORDER_MOVE, "UPDATE orders SET work_centre_id = ?3, rank = ?4, "                          \
                  "version = version + 1, updated_at = ?5, "                                    \
                  "started_at = CASE WHEN ?6 THEN COALESCE(started_at, ?7) "                    \
                  "ELSE started_at END WHERE tenant_id = ?1 AND id = ?2 "                       \
                  "AND (CAST(?8 AS BIGINT) < 0 OR version = ?8)")                               \
    X(ORDER_EXISTS, "SELECT 1 FROM orders WHERE tenant_id = ?1 AND id = ?2 "                    \
                    "AND deleted_at IS NULL")                                                   \
    X(STEP_INSERT, "INSERT INTO order_steps(tenant_id, order_id, step_number, operation_name, " \
                   "work_centre_id, status, planned_duration_minutes, "                         \
                   "actual_duration_minutes, quantity_completed, started_at, completed_at) "    \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")                     \
    X(STEP_LIST, "SELECT step_number, operation_name, work_centre_id, status, "                 \
                 "planned_duration_minutes, actual_duration_minutes, quantity_completed, "      \
                 "started_at, completed_at FROM order_steps "                                   \
                 "WHERE tenant_id = ?1 AND order_id = ?2 ORDER BY step_number")                 \
    X(ROOM_STATE_GET, "SELECT value FROM server_state WHERE name = 'room_log'")                 \
    X(ROOM_STATE_SET, "INSERT INTO server_state(name, value) VALUES ('room_log', ?1) "          \
                      "ON CONFLICT(name) DO UPDATE SET value = excluded.value")                 \
    X(ROOM_ROTATE_ALL, "UPDATE room_log SET epoch = lower(hex(randomblob(8)))")                 \
    X(ROOM_LOG_GET, "SELECT epoch, (SELECT max(seq) FROM room_events WHERE tenant_id = ?1) "    \
                    "FROM room_log WHERE tenant_id = ?1")                                       \
    X(ROOM_LOG_UPSERT, "INSERT INTO room_log(tenant_id, epoch) VALUES (?1, ?2) "                \
                       "ON CONFLICT(tenant_id) DO UPDATE SET epoch = excluded.epoch "           \
                       "WHERE room_log.epoch <> excluded.epoch")                                         \
    X(ROOM_EVENTS_LOAD, "SELECT seq, frame FROM room_events WHERE tenant_id = ?1 AND seq > ?2 " \
                        "ORDER BY seq")                                                         \
    X(ROOM_EVENT_INSERT, "INSERT OR REPLACE INTO room_events(tenant_id, seq, frame) "           \
                         "VALUES (?1, ?2, ?3)")                                                 \
    X(ROOM_EVENTS_PRUNE, "DELETE FROM room_events WHERE tenant_id = ?1 AND seq <= ?2")          \
    X(AUDIT_INSERT, "INSERT INTO audit_log(tenant_id, event_type, order_id, "                  \
                    "from_work_centre_id, to_work_centre_id, user_id, event_data, "             \
                    "queue_depth_from, queue_depth_to, timestamp) "                             \
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")

/* X(name, sql): PostgreSQL's text for the statements of STORE_STMTS it spells differently
 * (store__sql picks it on a PostgreSQL connection). */
#define PB_PG_STAMP_NOW "to_char(statement_timestamp() AT TIME ZONE 'UTC', " \
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define PB_PG_COMPLETED_AT(stamp)                                                           \
    "(CASE WHEN started_at IS NOT NULL AND started_at >= " stamp " THEN "                      \
    "to_char(CAST(started_at AS timestamp) + interval '1 millisecond', "                       \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') ELSE " stamp " END)"
#define STORE_STMTS_PG(X)                                                                       \
    X(BEGIN, "BEGIN")                                                                           \
    X(ORDER_INSERT, SQL_ORDER_INSERT(PB_PG_STAMP_NOW))                                          \
    X(ORDER_UPDATE_FIELDS, SQL_ORDER_UPDATE_FIELDS(PB_PG_COMPLETED_AT(PB_PG_STAMP_NOW),        \
                                                   PB_PG_STAMP_NOW))                            \
    X(ORDER_PLACE, SQL_ORDER_PLACE(PB_PG_STAMP_NOW))                                            \
    X(ROOM_ROTATE_ALL, "UPDATE room_log SET epoch = substr(md5(random()::text), 1, 16)")        \
    X(ROOM_EVENT_INSERT, "INSERT INTO room_events(tenant_id, seq, frame) VALUES (?1, ?2, ?3) "  \
                         "ON CONFLICT (tenant_id, seq) DO UPDATE SET frame = excluded.frame")

enum store_stmt {
#define STORE_STMT_ENUM(name, sql) ST_##name,
    STORE_STMTS(STORE_STMT_ENUM)
#undef STORE_STMT_ENUM
    ST__COUNT
};

struct store {
    struct db *db;
    struct db_stmt *stmts[ST__COUNT]; /* prepared lazily, SQLITE_PREPARE_PERSISTENT */
    struct hmap boards;             /* tenant id -> struct board * (loaded lazily) */
    char errmsg[256];               /* last SQLite error, "" when none */
    struct pb_histogram commits;    /* COMMIT latency, for /metrics */
    uint64_t commit_seq;            /* successful COMMITs so far */
    store_commit_fn on_commit;      /* called after each successful COMMIT, or NULL */
    void *on_commit_ctx;
    char *wal_path;                 /* "<path>-wal"; NULL on PostgreSQL */
    char *url;                      /* what store_open was given: an SQLite path or a
                                     * postgresql:// URL (store_open_sibling opens it again) */
    bool quiet;                     /* store_exec does not print (store_open with errbuf) */
    size_t max_orders;              /* live orders allowed per tenant; 0 = no limit */
    struct checkpointer *checkpointer; /* checkpoint.h, or NULL (SQLite's own checkpoints) */
    uint64_t relabelled;            /* rows rewritten by rank relabels (rank.c), for tests */
    bool nested;                    /* store__begin found a transaction open (the writer's):
                                     * the current "transaction" is SAVEPOINT pb_nested */
};

/* The SQL text of statement `id` for s's engine (static storage). */
const char *store__sql(const struct store *s, enum store_stmt id);

/*
 * The cached statement `id`, reset and with bindings cleared, ready to bind. NULL when it
 * cannot be prepared (s->errmsg set). The caller db_reset()s it when done (a SELECT left
 * un-reset would keep a read transaction open).
 */
struct db_stmt *store__stmt(struct store *s, enum store_stmt id);

/* Record the connection's current error message in s->errmsg and log it (with `what`). */
void store__error(struct store *s, const char *what);

/* Step a write statement to completion and reset it. 0, or PB_EINTERNAL (s->errmsg set).
 * The extended SQLite result code goes to *rc when rc is not NULL. */
int store__run(struct store *s, struct db_stmt *st, const char *what, int *rc);

/* Prepare a one-off statement (for SQL outside STORE_STMTS; the caller finalizes it). NULL
 * with s->errmsg set ("what: message") on failure. */
struct db_stmt *store__prepare(struct store *s, const char *sql, const char *what);

/* Step st to its next row: 1 = row, 0 = done, PB_EINTERNAL (s->errmsg set). Does not reset or
 * finalize. */
int store__step_row(struct store *s, struct db_stmt *st, const char *what);

/* Step a one-off write statement to completion and finalize it. 0 or PB_EINTERNAL (s->errmsg
 * set). *ext (may be NULL) gets the extended result code, DB_OK on success; *changes (may
 * be NULL) the rows changed. st is gone afterwards whatever happened. */
int store__run_final(struct store *s, struct db_stmt *st, const char *what, int *ext,
                     int *changes);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. begin and commit return 0 or PB_EINTERNAL; a failed
 * commit has already been rolled back.
 * Nested: when the connection is already inside a transaction (a writer job's run on the
 * sibling store: store/writer.h), begin opens SAVEPOINT pb_nested instead, commit RELEASEs it
 * (no commit_seq, no commit hook: the writer's COMMIT is the commit, and its done tells the
 * store with store_commit_noted) and rollback rolls back to it and releases it. So a store
 * function written as one transaction runs unchanged as a writer job (docs/writer.md
 * "SQL-only writes"). */
int store__begin(struct store *s);
int store__commit(struct store *s);
void store__rollback(struct store *s);

/* Bind helpers: NULL (or "" for text_opt) binds SQL NULL; 0 binds NULL for id_opt. */
void store__bind_text_opt(struct db_stmt *st, int i, const char *v);
void store__bind_id_opt(struct db_stmt *st, int i, int64_t id);

/* Column helpers: a malloc'd copy of a text column ("" for NULL), NULL on allocation failure.
 * copy_fixed copies into a fixed buffer ("" for NULL, truncated to fit). */
char *store__col_strdup(struct db_stmt *st, int i);
void store__col_copy(struct db_stmt *st, int i, char *buf, size_t size);

/* "text" as a JSON string literal (quotes included, escaped), or "null" for NULL. malloc'd;
 * NULL on allocation failure. */
char *store__json_quote(const char *text);

/* ---------------------------------------------------------------- ranks (rank.c) */

/*
 * orders.rank: the sort key of an order in its column (issue 9 item 2). A column's ranks
 * strictly increase in position order, with gaps, so placing an order writes its own row only:
 * at the end it gets the last rank + RANK_STEP, at the top the first - RANK_STEP, between two
 * orders the midpoint. When two neighbours' ranks are adjacent (about 32 places at the same
 * spot in a row), a window of orders around the spot is relabelled evenly: the smallest
 * window, doubling, whose gaps come out at least RANK_MIN_GAP << level, at worst the whole
 * column over [RANK_LOW, RANK_HIGH] (list labelling; test_store counts the rows it writes).
 * The SPEC position is never stored: it is the order's index in the column's tree.
 */
#define RANK_STEP    ((int64_t)1 << 32)         /* gap at either end of a column */
#define RANK_LOW     (-((int64_t)1 << 61))      /* every rank lies in [RANK_LOW, RANK_HIGH] */
#define RANK_HIGH    ((int64_t)1 << 61)
#define RANK_MIN_GAP ((int64_t)1 << 10)         /* a relabelled window's gaps: >= this << level */

struct rank_plan {
    int64_t rank;                       /* the placed order's new rank */
    struct order *first;                /* first order of the window to relabel; NULL = none */
    const struct order *skip;           /* the placed order when it is in the column now (a
                                         * move inside it): not part of the window */
    size_t count;                       /* orders in the window, skip not counted */
    size_t slot;                        /* the placed order's index among them, 0..count */
    int64_t base, gap;                  /* window ranks: base + gap * (k + 1), k = 0..count */
};

/* Plan the rank of an order placed at position p (0..len, counted without skip) of column c;
 * skip = that order when it is in c now, else NULL. Reads the cache only, allocates nothing,
 * cannot fail. O(log n) plus O(log^2 n) when a relabel is needed. */
void rank__plan(const struct column *c, size_t p, const struct order *skip,
                struct rank_plan *rp);
/* Write the relabelled window (not the placed order's row) inside the caller's transaction:
 * one UPDATE per order in it, none without a relabel. 0 or PB_EINTERNAL. */
int rank__write(struct store *s, int64_t tenant_id, const struct rank_plan *rp);
/* The rank of the i-th of n orders when a column is relabelled whole (load repair, an import
 * that runs out of room at the end of a column): evenly spread over [RANK_LOW, RANK_HIGH]. */
int64_t rank__even(size_t i, size_t n);
/* Set the relabelled window's ranks in the cache (call before the placed order enters the
 * column's tree); the placed order's rank is rp->rank, set by the caller. Cannot fail. */
void rank__apply(const struct rank_plan *rp);

/* Transition stamps (orders.started_at / completed_at) have milliseconds,
 * "2026-11-21T09:30:00.123Z", so that an order moved out of the backlog and completed within
 * the same second still has started_at < completed_at (SPEC §4 avgCycleTime: "keep the
 * transition timestamps"); equal stamps mean both were set by one write (created or imported
 * already complete: no start transition). */
#define PB_STAMP_LEN 25
/* The current time as now (PB_TIMESTAMP_LEN, seconds, for updated_at and audit rows) and
 * stamp (PB_STAMP_LEN, milliseconds, for transition stamps), from one clock reading. */
void store__now(char now[PB_TIMESTAMP_LEN], char stamp[PB_STAMP_LEN]);

/* A move of store_order_move in its three phases, so that PUT /api/orders/:id can write a field
 * update and a move in one transaction (order_edit.c):
 * prepare checks req (the errors of store_order_move, in its order) and computes the plan
 * without changing anything (on error nothing to clean up); write runs the relabel (rare), the move
 * (version + 1, started_at = stamp on leaving the backlog the first time) and the order_moved
 * audit row inside the caller's transaction (0 or PB_EINTERNAL); apply changes the cache after
 * the commit (no allocation, cannot fail) and fills *out (may be NULL); cleanup frees a plan
 * that is not applied. */
struct move_plan {
    struct order *o;                    /* the order (cache) */
    struct column *src, *dst;           /* its column and the target */
    int64_t old, p;                     /* its position and the final one */
    struct rank_plan rp;                /* its new rank (and a relabel, rarely) */
    int64_t depth_from, depth_to;       /* the two columns' sizes before the move */
    bool leaves_backlog;
    int64_t user_id;                    /* the mover (audit) */
    char *data;                         /* audit event_data (malloc'd) */
    struct wip_check wip;               /* SPEC §9: the target column after the move */
    int64_t expect_version;             /* the write changes the row only at this version
                                         * (-1: any): a node whose cache is behind another
                                         * node's write (SPEC §12) gets PB_ECONFLICT */
};
/* store.h store_move_prepare's checks and plan. status: the order's status after the change
 * (an update with a move may change it: that is what the WIP limit counts), -1 = its own. */
int store__move_prepare(struct board *b, const struct move_request *req, int status,
                        struct move_plan *mp);
int store__move_write(struct store *s, struct board *b, const struct move_plan *mp,
                      const char *now, const char *stamp);
void store__move_apply(struct board *b, struct move_plan *mp, const char *now,
                       struct move_result *out);
void store__move_cleanup(struct move_plan *mp);
/* *out = the move of mp as its apply reports it, with out->order = o (the moved order, or a
 * copy as the move will make it). */
void store__move_result(const struct move_plan *mp, struct order *o, struct move_result *out);

/* Insert one audit_log row (inside the caller's transaction). 0 or PB_EINTERNAL. */
int store__audit(struct store *s, int64_t tenant_id, const char *event_type, int64_t order_id,
                 int64_t from_wc, int64_t to_wc, int64_t user_id, const char *event_data,
                 int64_t depth_from, int64_t depth_to, const char *timestamp);

/* ---------------------------------------------------------------- board (board.c) */

/* Load tenant_id's board from SQLite (repairing non-dense positions in one transaction).
 * 0, PB_EINTERNAL. */
int board__load(struct store *s, int64_t tenant_id, struct board **out);
/* (Re)load b's calendar (SPEC §9) from SQLite in the tenant's current timezone: the default
 * calendar when the tenant has no tenant_calendars row. On success the old calendar is freed
 * and the projection marked stale. 0 or PB_EINTERNAL (b unchanged). */
int board__load_calendar(struct store *s, struct board *b);
/* A route (core/model.h) of n steps (may be 0: NULL), malloc'd; NULL also on OOM (*oom set). */
struct order_route *board__route_new(const struct step *steps, size_t n, bool *oom);
void board__free(struct board *b);

/* The hmap match function of maps keyed by order number (board index by_number, the import's
 * set of staged orders): true when order val's order_number is the string key. */
bool board__order_number_is(const void *ctx, const void *val, const void *key);

/* Free one cached order and its strings. NULL does nothing. */
void order__free(struct order *o);

/* Index of column c inside the board: 0..n_work_centres-1, or n_work_centres for backlog. */
size_t board__column_index(const struct board *b, const struct column *c);
/* The inverse: the column of index ci (0..n_work_centres, the last one the backlog). */
struct column *board__column_at(struct board *b, size_t ci);

/* True when order o sits where its rank says: in the column of its work centre at its
 * position, its rank strictly between its neighbours' and in [RANK_LOW, RANK_HIGH]. O(log n):
 * what a move, create or scanner move asserts (the O(column) checks below made every move as
 * slow as the dense positions did: asserts are on in the release build). */
bool board__order_check(struct board *b, const struct order *o);

/* True when column c's tree is sound, its ranks strictly increase and every order in it
 * belongs to it (a move only touches two columns, so mutations assert this instead of the
 * O(board) board_check). O(column). */
bool board__column_check(const struct board *b, const struct column *c);

/* True when the board's frame is sound without looking at any order: backlog id 0, column i
 * belongs to work centre i, the work centres in display order (then id, SPEC §4 GET
 * /api/work-centres), and the column sizes and both indexes all count n_orders. O(work
 * centres): what work-centre create, update, delete and reorder assert (they move columns,
 * never orders), and with board__order_check of each row what an import asserts — the
 * O(board) board_check() after them held the loop for the whole board (asserts are on in the
 * release build; issue 9). board_check() stays in the unit tests. */
bool board__layout_check(const struct board *b);

#endif
