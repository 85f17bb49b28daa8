/*
 * board_ops — board operations shared by REST and WebSocket (SPEC §4 moves, §5 drag locks):
 * role check, lock check, store call, then the room broadcast. One implementation, so the
 * two transports cannot drift apart.
 */
#include "server/server_int.h"

#include "store/drag_locks.h"
#include "store/follow.h"
#include "store/order_edit.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

static void fail(struct op_result *res, int err, const char *message)
{
    res->err = err;
    res->message = message;
}

static int64_t lock_ttl_ms(const struct app *app)
{
    return app->cfg.lock_ttl_seconds * 1000;
}

cJSON *op_order_json(struct app *app, const struct order *o, int64_t tenant_id)
{
    return json_order(o, lock_get(app->locks, tenant_id, o->id, pb_now_ms()));
}

static cJSON *lock_error_extra(const struct drag_lock *l, const char *order_number)
{
    char ts[PB_TIMESTAMP_LEN];
    cJSON *x = cJSON_CreateObject(), *by = cJSON_AddObjectToObject(x, "lockedBy");
    cJSON_AddNumberToObject(by, "userId", (double)l->user_id);
    cJSON_AddStringToObject(by, "username", l->username);
    cJSON_AddStringToObject(x, "orderNumber", order_number);
    json_format_ms(l->expires_at_ms, ts);
    cJSON_AddStringToObject(x, "expiresAt", ts);
    return x;
}

/* Look the order up on the caller's board; NULL with res filled when absent. */
static struct order *find_order(struct app *app, const struct op_user *u, int64_t order_id,
                                struct board **bp, struct op_result *res)
{
    struct board *b;
    struct order *o;
    int rc = store_board(app->store, u->tenant_id, &b);
    if (rc != 0) {
        fail(res, rc == PB_ENOT_FOUND || rc == PB_EUNAVAILABLE ? rc : PB_EINTERNAL,
             "board unavailable");
        return NULL;
    }
    o = board_order(b, order_id);
    if (o == NULL) {
        fail(res, PB_ENOT_FOUND, "order not found");
        return NULL;
    }
    *bp = b;
    return o;
}

static void publish_unlocked(struct app *app, int64_t tenant_id, int64_t order_id,
                             const char *reason)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "orderId", (double)order_id);
    cJSON_AddStringToObject(d, "reason", reason);
    room_publish(app, tenant_id, "order_unlocked", d);
}

/* ---------------------------------------------------------------- shared drag locks
 * SPEC §5 drag locks; on PostgreSQL (SPEC §12) the database decides (store/drag_locks.h) and
 * app->locks mirrors it: whoever's DELETE returned the row publishes the order_unlocked, so
 * exactly one node does. Taking, ending, the moves' releases and the sweeps run in writer
 * jobs with their events (below), and so do an order delete's and a scanner event's release
 * (job_events.c); op_lock_release runs its DELETE on the loop's connection, only as the
 * fallback of a job whose frames could not be built (published after its commit). */

bool op_lock_release(struct app *app, int64_t tenant_id, int64_t order_id, int64_t user_id)
{
    bool mine = lock_release(app->locks, tenant_id, order_id, user_id, NULL) == 0;
    if (!app->postgres)
        return mine;
    return store_drag_lock_remove(app->store, tenant_id, order_id, user_id, NULL, 0, NULL,
                                  NULL) > 0;
}

cJSON *op_wip_extra(const struct wip_check *w)
{
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "reason", "wip_limit");
    cJSON_AddNumberToObject(x, "wipLimit", (double)w->limit);
    cJSON_AddNumberToObject(x, "count", (double)w->count);
    return x;
}

void op_wip_mark(cJSON *obj, const struct wip_check *w)
{
    if (obj != NULL && w->exceeded)
        cJSON_AddBoolToObject(obj, "wipExceeded", true);
}

/* The order_moved event's data (SPEC §5). On PostgreSQL it also carries the order's new
 * orders.rank as a decimal string, "rank", when the move rewrote no other order's rank: the
 * other nodes apply the move to their cached boards with it (store/follow.h; docs/api-notes.md
 * "Following another node's changes"). */
cJSON *op_moved_json(const struct app *app, const struct op_user *u,
                     const struct move_result *mr)
{
    cJSON *ev = cJSON_CreateObject();
    /* at mr->position: what order_position() of the applied order is (mr->order may be a
     * copy as the move will make it: store_update_move_tried) */
    cJSON_AddItemToObject(ev, "order", json_order_at(mr->order, NULL, mr->position));
    if (mr->from_work_centre_id > 0)
        cJSON_AddNumberToObject(ev, "fromWorkCentreId", (double)mr->from_work_centre_id);
    else
        cJSON_AddNullToObject(ev, "fromWorkCentreId");
    if (mr->to_work_centre_id > 0)
        cJSON_AddNumberToObject(ev, "toWorkCentreId", (double)mr->to_work_centre_id);
    else
        cJSON_AddNullToObject(ev, "toWorkCentreId");
    cJSON_AddNumberToObject(ev, "position", (double)mr->position);
    cJSON *by = cJSON_AddObjectToObject(ev, "movedBy");
    cJSON_AddNumberToObject(by, "userId", (double)u->user_id);
    cJSON_AddStringToObject(by, "username", u->username);
    op_wip_mark(ev, &mr->wip);          /* SPEC §9: a soft (or overridden) limit passed */
    if (app->postgres && !mr->relabelled) {
        char rank[24];
        snprintf(rank, sizeof(rank), "%lld", (long long)mr->order->rank);
        cJSON_AddStringToObject(ev, "rank", rank);
    }
    return ev;
}

/* The move's order_moved was logged in its own transaction (logged: PostgreSQL batches),
 * with the order_unlocked {moved} of the mover's lock when had_lock; else both are published
 * now (order_unlocked when had_lock). */
static void publish_moved(struct app *app, const struct op_user *u, const struct move_result *mr,
                          bool logged, bool had_lock)
{
    int64_t order_id = mr->order->id;
    if (logged) {
        webhooks_nudge(app, u->tenant_id);      /* as room_publish does */
        room_board_forget(app, u->tenant_id);
        return;
    }
    room_publish(app, u->tenant_id, "order_moved", op_moved_json(app, u, mr));
    if (had_lock)
        publish_unlocked(app, u->tenant_id, order_id, "moved");
}

void op_publish_moved(struct app *app, const struct op_user *u, const struct move_result *mr)
{
    bool had_lock = op_lock_release(app, u->tenant_id, mr->order->id, u->user_id);
    publish_moved(app, u, mr, false, had_lock);
}

void op_publish_moved_released(struct app *app, const struct op_user *u,
                               const struct move_result *mr, bool had_lock, bool logged)
{
    lock_release(app->locks, u->tenant_id, mr->order->id, u->user_id, NULL);    /* the mirror */
    publish_moved(app, u, mr, logged, had_lock);
}

/* The answer of a lock taken or renewed (SPEC §4 start-move, §5 the ack of start_drag). */
static cJSON *lock_answer(const struct drag_lock *l)
{
    char ts[PB_TIMESTAMP_LEN];
    cJSON *d = cJSON_CreateObject();
    json_format_ms(l->expires_at_ms, ts);
    cJSON_AddNumberToObject(d, "orderId", (double)l->order_id);
    cJSON *by = cJSON_AddObjectToObject(d, "lockedBy");
    cJSON_AddNumberToObject(by, "userId", (double)l->user_id);
    cJSON_AddStringToObject(by, "username", l->username);
    cJSON_AddStringToObject(d, "expiresAt", ts);
    return d;
}

/* SPEC §5 user_activity: who is dragging what. */
static cJSON *activity_json(const struct op_user *u, int64_t order_id)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "userId", (double)u->user_id);
    cJSON_AddStringToObject(a, "username", u->username);
    cJSON_AddStringToObject(a, "activity", "dragging");
    cJSON_AddNumberToObject(a, "orderId", (double)order_id);
    return a;
}

static cJSON *unlocked_json(int64_t order_id, const char *reason)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "orderId", (double)order_id);
    cJSON_AddStringToObject(d, "reason", reason);
    return d;
}

/* A frame without seq as an event for store_room_log_sequence (m must outlive its use). */
static struct room_log_event log_event(int64_t tenant_id, const struct ws_msg *m,
                                       const char *event)
{
    return (struct room_log_event){
        .tenant_id = tenant_id, .frame = (const char *)m->buf + LWS_PRE, .len = m->len,
        .split = strlen("{\"event\":\"") + strlen(event) + 1,
    };
}

static void lock_fail(struct op_result *res, int rc)
{
    fail(res, rc, rc == PB_EUNAVAILABLE ? "the database is unavailable"
                : rc == PB_ENOT_FOUND ? "order not found"
                : rc == PB_EFORBIDDEN ? "viewers cannot move orders"
                : rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                : "could not change the lock");
}

struct move_batch;
static void batch_close(struct move_batch *mb);

/* -------- PostgreSQL: a lock taken or ended by a writer job (SPEC §12, issue 13 items 2-3)
 *
 * The drag_locks statement runs on the writer's sibling store and the event it causes is a
 * row of the same transaction (store_room_log_sequence): a lock whose order_locked cannot be
 * logged is refused and leaves no row; a lock end that committed has its order_unlocked.
 * The frames are built on the loop at prepare from what the loop knows (the order, the user,
 * the expiry); done updates the mirror (locks/) and answers, and publishes nothing: the
 * events reach every node's rooms, this one's too, through the bus (server/bus.c), and
 * lock_mirror_event applies them there again (idempotent).
 *
 * Gate: the tenant's (writes_submit with tenant_id), the one its move batches take, and the
 * tenant's open move batch is closed first: a lock and the moves around it commit, and are
 * checked against the mirror, in the order they arrived. A move sent after a start_drag is
 * planned after that lock's done put it in the mirror; an end_drag sent after a move ends the
 * lock only after the move (whose own release, reason moved, is in the move's transaction).
 * Without the gate (tenant 0) a lock could commit while a batch planned without it is at the
 * writer, and that batch would move an order another user had just locked. */

struct lock_job {
    struct app *app;
    bool take;                          /* start_drag; else end_drag */
    struct op_user u;                   /* u.username points at username */
    char username[PB_LOCK_USERNAME_MAX + 1];
    int64_t order_id;
    char order_number[PB_ORDER_NUMBER_MAX + 1]; /* at prepare, for the locked error */
    int64_t now_ms;                     /* take: at prepare; the lock lasts the TTL from it */
    struct drag_lock_row want;          /* take: the lock wanted (expiry included) */
    struct ws_msg *locked, *activity;   /* take: order_locked, user_activity (no seq) */
    struct ws_msg *unlocked;            /* end: order_unlocked {released} (no seq) */
    /* results of run, overwritten by each run (it may run twice) */
    int rc;                             /* take: 0, or PB_ELOCKED (holder) */
    bool renewed;                       /* take: the holder renewed its own lock */
    struct drag_lock_row holder;        /* rc PB_ELOCKED: who holds it */
    bool removed;                       /* end: this job's DELETE returned the row */
    uint64_t last_seq;                  /* the seq of its last event, 0 = none */
    op_done_fn done;
    void *done_ctx;
};

static void lock_job_free(struct lock_job *j)
{
    ws_msg_unref(j->locked);
    ws_msg_unref(j->activity);
    ws_msg_unref(j->unlocked);
    free(j);
}

/* Loop, at the head of the tenant's gate: the order is still there; the frames. */
static int lock_job_prepare(void *ctx)
{
    struct lock_job *j = ctx;
    struct board *b;
    const struct order *o;
    int rc = store_board(j->app->store, j->u.tenant_id, &b);
    if (rc != 0)
        return rc == PB_ENOT_FOUND || rc == PB_EUNAVAILABLE ? rc : PB_EINTERNAL;
    if ((o = board_order(b, j->order_id)) == NULL)
        return PB_ENOT_FOUND;
    snprintf(j->order_number, sizeof(j->order_number), "%s", o->order_number);
    if (!j->take) {
        j->unlocked = room_encode("order_unlocked", unlocked_json(j->order_id, "released"));
        return j->unlocked != NULL ? 0 : PB_EINTERNAL;
    }
    j->now_ms = pb_now_ms();
    j->want = (struct drag_lock_row){
        .tenant_id = j->u.tenant_id, .order_id = j->order_id, .user_id = j->u.user_id,
        .expires_at_ms = j->now_ms + lock_ttl_ms(j->app),
    };
    snprintf(j->want.username, sizeof(j->want.username), "%s", j->u.username);
    struct drag_lock l = {
        .tenant_id = j->u.tenant_id, .order_id = j->order_id, .user_id = j->u.user_id,
        .expires_at_ms = j->want.expires_at_ms,
    };
    snprintf(l.username, sizeof(l.username), "%s", j->u.username);
    j->locked = room_encode("order_locked", json_lock(&l, o->order_number));
    j->activity = room_encode("user_activity", activity_json(&j->u, j->order_id));
    return j->locked != NULL && j->activity != NULL ? 0 : PB_EINTERNAL;
}

static void set_removed(void *ctx, const struct drag_lock_row *row)
{
    (void)row;
    *(bool *)ctx = true;
}

/* Writer thread: the statement and its events, one transaction. */
static int lock_job_run(struct db *db, void *ctx)
{
    struct lock_job *j = ctx;
    struct store *ws = j->app->wstore;
    struct room_log_event ev[2];
    size_t n = 0;
    int rc;
    (void)db;                           /* the sibling store's connection */

    j->rc = 0;
    j->renewed = j->removed = false;
    j->last_seq = 0;
    if (store_room_log_lock(ws, j->u.tenant_id) != 0)
        return PB_EINTERNAL;
    if (j->take) {
        rc = store_drag_lock_take(ws, &j->want, j->app->node, j->now_ms, &j->renewed,
                                  &j->holder);
        if (rc == PB_ELOCKED) {         /* nothing written: the answer is "locked" */
            j->rc = PB_ELOCKED;
            return 0;
        }
        if (rc != 0)
            return rc;
        ev[n++] = log_event(j->u.tenant_id, j->locked, "order_locked");
        if (!j->renewed)                /* SPEC §5: who is dragging what, once per lock */
            ev[n++] = log_event(j->u.tenant_id, j->activity, "user_activity");
    } else {
        rc = store_drag_lock_remove(ws, j->u.tenant_id, j->order_id, j->u.user_id, NULL, 0,
                                    set_removed, &j->removed);
        if (rc < 0)
            return rc;
        if (j->removed)                 /* only the DELETE that returned the row tells */
            ev[n++] = log_event(j->u.tenant_id, j->unlocked, "order_unlocked");
    }
    if (n > 0 && store_room_log_sequence(ws, ev, n, j->app->node, PB_ROOM_LOG_EVENTS) != 0)
        return PB_EINTERNAL;            /* rolled back: no lock without its event */
    if (n > 0)
        j->last_seq = ev[n - 1].seq;
    return 0;
}

/* Loop: the mirror, the answer; the events come through the bus. */
static void lock_job_done(void *ctx, int status, uint64_t commit_seq)
{
    struct lock_job *j = ctx;
    struct app *app = j->app;
    struct op_result res = { 0 };
    const struct drag_lock *l = NULL;
    (void)commit_seq;

    if (status == 0 && j->last_seq != 0)   /* behind until the bus reads it back (unsettled) */
        room_notified(app, j->u.tenant_id, j->last_seq);
    if (status != 0) {
        lock_fail(&res, status);
    } else if (j->take && j->rc == PB_ELOCKED) {
        if (j->holder.user_id != 0
            && lock_put(app->locks, j->u.tenant_id, j->order_id, j->holder.user_id,
                        j->holder.username, j->holder.expires_at_ms, &l) == 0)
            res.extra = lock_error_extra(l, j->order_number);
        fail(&res, PB_ELOCKED, "order is being moved by another user");
    } else if (j->take) {
        store_commit_noted(app->store);
        if (lock_put(app->locks, j->u.tenant_id, j->order_id, j->u.user_id, j->u.username,
                     j->want.expires_at_ms, &l) == 0)
            res.data = lock_answer(l);
        else                            /* committed: the bus puts it in the mirror */
            fail(&res, PB_EINTERNAL, "out of memory");
        webhooks_nudge(app, j->u.tenant_id);    /* as room_publish does */
        room_board_forget(app, j->u.tenant_id);
    } else {
        lock_release(app->locks, j->u.tenant_id, j->order_id, j->u.user_id, NULL);
        if (j->removed) {
            store_commit_noted(app->store);
            webhooks_nudge(app, j->u.tenant_id);
            room_board_forget(app, j->u.tenant_id);
        }
        res.data = cJSON_CreateObject();
        cJSON_AddNumberToObject(res.data, "orderId", (double)j->order_id);
    }
    j->done(j->done_ctx, &res);
    lock_job_free(j);
}

/* Hand a lock take (take) or end to the writer. true: done answers; false: res holds it. */
static bool lock_submit(struct app *app, const struct op_user *u, int64_t order_id, bool take,
                        op_done_fn done, void *done_ctx, struct op_result *res)
{
    struct lock_job *j = calloc(1, sizeof(*j));
    struct move_batch *mb;
    if (j == NULL) {
        fail(res, PB_EINTERNAL, "out of memory");
        return false;
    }
    *j = (struct lock_job){ .app = app, .take = take, .u = *u, .order_id = order_id,
                            .done = done, .done_ctx = done_ctx };
    snprintf(j->username, sizeof(j->username), "%s", u->username != NULL ? u->username : "");
    j->u.username = j->username;
    if ((mb = hmap_get_int(&app->move_batches, u->tenant_id)) != NULL)
        batch_close(mb);                /* later moves go after this lock (see above) */
    int rc = writes_submit(app, u->tenant_id, lock_job_prepare, lock_job_run, lock_job_done, j);
    if (rc != 0) {                      /* nothing was called: answer here */
        lock_fail(res, rc);
        lock_job_free(j);
        return false;
    }
    return true;
}

bool op_start_drag(struct app *app, const struct op_user *u, int64_t order_id,
                   struct op_result *res, op_done_fn done, void *done_ctx)
{
    struct board *b;
    struct order *o;
    const struct drag_lock *l;
    int rc;

    memset(res, 0, sizeof(*res));
    if (u->role == ROLE_VIEWER) {
        fail(res, PB_EFORBIDDEN, "viewers cannot move orders");
        return false;
    }
    if ((o = find_order(app, u, order_id, &b, res)) == NULL)
        return false;
    if (app->postgres)                  /* the database decides; the mirror follows */
        return lock_submit(app, u, order_id, true, done, done_ctx, res);
    rc = lock_acquire(app->locks, u->tenant_id, order_id, u->user_id, u->username,
                      pb_now_ms(), lock_ttl_ms(app), &l);
    if (rc == PB_ELOCKED) {
        res->extra = lock_error_extra(l, o->order_number);
        fail(res, PB_ELOCKED, "order is being moved by another user");
        return false;
    }
    if (rc < 0) {
        fail(res, PB_EINTERNAL, "could not take the lock");
        return false;
    }
    res->data = lock_answer(l);
    room_publish(app, u->tenant_id, "order_locked", json_lock(l, o->order_number));
    if (rc == 0)                        /* newly taken, not renewed */
        room_publish(app, u->tenant_id, "user_activity", activity_json(u, order_id));
    return false;
}

bool op_end_drag(struct app *app, const struct op_user *u, int64_t order_id,
                 struct op_result *res, op_done_fn done, void *done_ctx)
{
    struct board *b;

    memset(res, 0, sizeof(*res));
    if (u->role == ROLE_VIEWER) {
        fail(res, PB_EFORBIDDEN, "viewers cannot move orders");
        return false;
    }
    if (find_order(app, u, order_id, &b, res) == NULL)
        return false;
    if (app->postgres)
        return lock_submit(app, u, order_id, false, done, done_ctx, res);
    if (op_lock_release(app, u->tenant_id, order_id, u->user_id))
        publish_unlocked(app, u->tenant_id, order_id, "released");
    res->data = cJSON_CreateObject();
    cJSON_AddNumberToObject(res->data, "orderId", (double)order_id);
    return false;
}

/* The answer for a move that the store refused or could not save. */
static void move_fail(struct op_result *res, int rc)
{
    fail(res, rc, rc == PB_ECONFLICT ? "the order has changed since you saw it"
                : rc == PB_EWIP_LIMIT ? "the work centre is at its WIP limit"
                : rc == PB_EVALIDATION ? "invalid move"
                : rc == PB_ENOT_FOUND ? "order not found"
                : rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                : "could not save the move");
}

/*
 * Moves through the writer (docs/writer.md "Moves"). One tenant's moves that arrive while its
 * previous write is in flight gather in a *batch*, which is one writer job: when the writer's
 * gate lets it go, each move is prepared on top of the ones before it (store_move_try, the lock
 * checked again), all are undone again before anyone sees the board, the batch is written in
 * one savepoint on the writer thread and, after COMMIT, applied, published and answered move by
 * move in order. So a busy tenant's moves take one writer round trip per batch, not per move,
 * and their events leave together. A batch that fails to write fails every move in it (they
 * were planned on each other); a move refused at prepare (conflict, lock, gone) fails alone.
 */
#define MOVE_BATCH_MAX 1024             /* moves in one batch at most; then a new batch */
#define MOVE_STALE_RETRIES 8            /* PostgreSQL: a batch planned on a board another node
                                         * had changed is planned again once the bus applied
                                         * that change (batch_retry). Each retry waits for the
                                         * bus (a few ms, at most PB_BUS_WAIT_MS); 3 left 29%
                                         * of 24 racing movers' moves 409 in bench/cluster.mjs,
                                         * 8 leaves ~9% (p99 ack 143 -> ~380 ms there) */

struct move_op {
    struct move_op *next;               /* in its batch, arrival order */
    struct app *app;
    struct op_user u;                   /* u.username points at username */
    char username[PB_LOCK_USERNAME_MAX + 1];
    struct move_request req;            /* req.reason points at reason */
    char *reason;
    struct move_job *job;               /* prepared (and tried), or NULL */
    int status;                         /* refused at prepare: its code */
    struct wip_check wip;               /* status PB_EWIP_LIMIT: the column as the batch saw it */
    struct ws_msg *event;               /* PostgreSQL: its order_moved, built while tried and
                                         * logged by batch_run in the move's transaction */
    struct ws_msg *unlocked;            /* PostgreSQL: its order_unlocked {moved}, logged right
                                         * after event when the mover's lock row went */
    bool lock_removed;                  /* PostgreSQL: batch_run's DELETE returned the mover's
                                         * lock row (overwritten by each run) */
    int retries;                        /* PostgreSQL: times its batch met another node's
                                         * write (MOVE_STALE_RETRIES at most) */
    op_done_fn done;
    void *done_ctx;
};

struct move_batch {
    struct app *app;
    int64_t tenant_id;
    struct move_op *head, *tail;
    size_t n;
    struct room_log_event *events;      /* PostgreSQL: room for each move's order_moved and
                                         * order_unlocked; batch_run fills it */
    size_t n_events;                    /* of them, filled by the last run */
    bool logged;                        /* PostgreSQL: every frame was built: the events go
                                         * in with the moves (else published after) */
    struct board *b;                    /* at prepare */
    bool open;                          /* in app->move_batches: takes more moves */
    bool any;                           /* a move was prepared: something to write */
};

static void move_op_free(struct move_op *m)
{
    ws_msg_unref(m->event);
    ws_msg_unref(m->unlocked);
    store_move_job_free(m->job);
    free(m->reason);
    free(m);
}

static void batch_close(struct move_batch *mb)
{
    if (mb->open) {
        hmap_del_int(&mb->app->move_batches, mb->tenant_id);
        mb->open = false;
    }
}

static int batch_prepare(void *ctx)
{
    struct move_batch *mb = ctx;
    struct move_op *m;
    int64_t now = pb_now_ms();
    int rc;

    batch_close(mb);                    /* moves from now on go to the next batch */
    if ((rc = store_board(mb->app->store, mb->tenant_id, &mb->b)) != 0)
        return rc;
    for (m = mb->head; m != NULL; m = m->next) {
        /* SPEC §5: a lock taken by someone else since the request arrived still refuses it */
        const struct drag_lock *l = lock_get(mb->app->locks, mb->tenant_id, m->req.order_id, now);
        if (l != NULL && l->user_id != m->u.user_id) {
            m->status = PB_ELOCKED;
            continue;
        }
        if ((m->status = store_move_prepare(mb->b, &m->req, &m->job)) != 0) {
            if (m->status == PB_EWIP_LIMIT)     /* the earlier moves of the batch included */
                store_wip_check(mb->b, m->req.to_work_centre_id, 1, false, &m->wip);
            continue;
        }
        if ((m->status = store_move_try(mb->b, m->job)) != 0) {
            store_move_job_free(m->job);
            m->job = NULL;
            continue;
        }
        mb->any = true;
        if (mb->app->postgres) {        /* SPEC §12: the event goes in with the move */
            struct move_result mr;
            store_move_tried(m->job, &mr);
            m->event = room_encode("order_moved", op_moved_json(mb->app, &m->u, &mr));
        }
    }
    if (mb->app->postgres && mb->any) {
        size_t n_moves = 0;
        mb->logged = true;
        for (m = mb->head; m != NULL; m = m->next) {
            if (m->job == NULL)
                continue;
            n_moves++;
            m->unlocked = room_encode("order_unlocked", unlocked_json(m->req.order_id, "moved"));
            if (m->event == NULL || m->unlocked == NULL)
                mb->logged = false;     /* out of memory: published after the commit instead */
        }
        if (mb->logged && (mb->events = calloc(2 * n_moves, sizeof(*mb->events))) == NULL)
            mb->logged = false;
    }
    /* undo the tries, last first: the board is as committed until the batch's done */
    size_t n = 0, k = 0;
    for (m = mb->head; m != NULL; m = m->next)
        n += m->job != NULL;
    struct move_op **tried = n > 0 ? malloc(n * sizeof(*tried)) : NULL;
    if (n > 0 && tried == NULL)
        abort();                        /* cannot undo without it: the board would be wrong */
    for (m = mb->head; m != NULL; m = m->next)
        if (m->job != NULL)
            tried[k++] = m;
    while (k-- > 0)
        store_move_untry(mb->b, tried[k]->job);
    free(tried);
    return 0;
}

static int batch_run(struct db *db, void *ctx)
{
    struct move_batch *mb = ctx;
    struct store *ws = mb->app->wstore;
    bool pg = mb->app->postgres;
    (void)db;                           /* the sibling store's connection */
    int rc;
    /* PostgreSQL: one tenant's moves take turns across the nodes (its room_log row, locked
     * first: the analytics rows and the lock rows they update are then always taken in one
     * order) */
    if (pg && store_room_log_lock(ws, mb->tenant_id) != 0)
        return PB_EINTERNAL;
    mb->n_events = 0;
    for (struct move_op *m = mb->head; m != NULL; m = m->next) {
        if (m->job == NULL)
            continue;
        if ((rc = store_move_write(ws, mb->b, m->job)) != 0
            || (pg && (rc = store_move_check_position(ws, m->job)) != 0))
            return rc == PB_ECONFLICT ? rc : PB_EINTERNAL;
        if (!pg)
            continue;
        /* SPEC §5: a successful move ends the mover's lock; SPEC §12: only the DELETE that
         * returned the row tells, in the move's own transaction */
        m->lock_removed = false;
        rc = store_drag_lock_remove(ws, mb->tenant_id, m->req.order_id, m->u.user_id, NULL, 0,
                                    set_removed, &m->lock_removed);
        if (rc < 0)
            return rc == PB_EUNAVAILABLE ? rc : PB_EINTERNAL;
        if (!mb->logged)
            continue;
        mb->events[mb->n_events++] = log_event(mb->tenant_id, m->event, "order_moved");
        if (m->lock_removed)
            mb->events[mb->n_events++] = log_event(mb->tenant_id, m->unlocked, "order_unlocked");
    }
    /* PostgreSQL (SPEC §12, issue 13 item 2): the moves' events are rows of this same
     * transaction: a move that committed has its event, whatever happens to this node next */
    if (mb->logged && mb->n_events > 0
        && store_room_log_sequence(ws, mb->events, mb->n_events, mb->app->node,
                                   PB_ROOM_LOG_EVENTS) != 0)
        return PB_EINTERNAL;
    return 0;
}

static bool move_submit_n(struct app *app, const struct op_user *u,
                          const struct move_request *req, op_done_fn done, void *done_ctx,
                          int retries, struct op_result *res);

/* The prepared moves of a batch refused as stale go again, each as a new request (behind
 * what the tenant's writer queue holds already: the other nodes' events the bus queued are
 * applied first); the ones refused at prepare are answered. Frees mb. */
static void batch_resubmit(struct move_batch *mb)
{
    struct app *app = mb->app;
    for (struct move_op *m = mb->head, *next; m != NULL; m = next) {
        struct op_result res = { 0 };
        next = m->next;
        if (m->job == NULL) {           /* refused at prepare: that answer stands */
            if (m->status == PB_EWIP_LIMIT)
                res.extra = op_wip_extra(&m->wip);
            move_fail(&res, m->status);
            m->done(m->done_ctx, &res);
        } else if (!move_submit_n(app, &m->u, &m->req, m->done, m->done_ctx, m->retries + 1,
                                  &res)) {
            m->done(m->done_ctx, &res);
        }
        move_op_free(m);
    }
    free(mb->events);
    free(mb);
}

static void batch_resubmit_ready(void *owner)
{
    batch_resubmit(owner);
}

/* batch_resubmit once the tenant's board is cached: when it was dropped, it is loaded off the
 * loop first (board_load_wait; issue 13: the moves' prepare would load it on the loop's
 * connection, 4+ round trips). Cached, or no load could start: at once, as before. */
static void batch_resubmit_loaded(struct move_batch *mb)
{
    if (board_load_wait(mb->app, mb->tenant_id, batch_resubmit_ready, mb) == NULL)
        batch_resubmit(mb);
}

/* bus_wait's callback: the bus applied the tenant's log up to what was notified (caught_up),
 * or did not in time (then the board is reloaded, as soon as nothing points into it). */
static void batch_resume(struct app *app, void *ctx, bool caught_up)
{
    struct move_batch *mb = ctx;
    if (!caught_up)
        follow_board_stale(app, mb->tenant_id);
    batch_resubmit_loaded(mb);
}

/* PostgreSQL, a batch refused as stale (another node changed the tenant's columns since this
 * node's board saw them; SPEC §12): the bus applies the other nodes' events to this board
 * (server/follow.c), so the batch waits until it has read the tenant's log up to the newest
 * seq notified (bus_wait) and its moves are then planned again on the same board. When the
 * bus cannot say (down, or too far behind) the board is dropped instead (the next plan
 * reloads it: nothing points into it once this done returns, every writer job takes its board
 * at prepare). False when it may not (retries spent, an import holds the board): answer
 * them. */
static bool batch_retry(struct move_batch *mb)
{
    struct app *app = mb->app;
    if (app->imports_open > 0)
        return false;
    for (struct move_op *m = mb->head; m != NULL; m = m->next)
        if (m->job != NULL && m->retries >= MOVE_STALE_RETRIES)
            return false;
    app->metrics.move_stale_retries++;
    mb->b = NULL;
    if (bus_wait(app, mb->tenant_id, batch_resume, mb))
        return true;                    /* batch_resume goes on */
    if (store_follow_loaded(app->store, mb->tenant_id))
        app->bus.reloads++;
    store_board_drop(app->store, mb->tenant_id);
    room_board_forget(app, mb->tenant_id);      /* a reloaded board restarts its versions */
    batch_resubmit_loaded(mb);
    return true;
}

static void batch_done(void *ctx, int status, uint64_t commit_seq)
{
    struct move_batch *mb = ctx;
    struct move_op *m, *next;
    (void)commit_seq;

    batch_close(mb);
    if (status == 0 && mb->any)
        store_commit_noted(mb->app->store);     /* group commit syncs it before answers */
    if (status == PB_ECONFLICT && mb->app->postgres && batch_retry(mb))
        return;                         /* planned again once the bus caught up */
    if (status == PB_ECONFLICT && mb->app->postgres)
        follow_board_stale(mb->app, mb->tenant_id);   /* another node wrote first: reload */
    if (status == 0 && mb->logged && mb->n_events > 0) {   /* our rows, whenever the bus reads them */
        follow_own(mb->app, mb->tenant_id, mb->events[0].seq, mb->events[mb->n_events - 1].seq);
        /* the room is behind until then (planboard_events_unsettled), as job_events.c says */
        room_notified(mb->app, mb->tenant_id, mb->events[mb->n_events - 1].seq);
    }
    int64_t *cols = calloc(2 * mb->n, sizeof(*cols));      /* the columns the batch touched */
    size_t n_cols = 0;
    for (m = mb->head; m != NULL; m = next) {
        struct op_result res = { 0 };
        struct move_result mr;
        next = m->next;
        if (status == 0 && m->job != NULL) {
            store_move_apply(mb->b, m->job, &mr);
            res.data = json_order(mr.order, NULL);
            op_wip_mark(res.data, &mr.wip);
            bool had_lock;
            if (mb->app->postgres) {    /* the row went in batch_run; the mirror follows */
                had_lock = m->lock_removed;
                lock_release(mb->app->locks, mb->tenant_id, m->req.order_id, m->u.user_id, NULL);
            } else {
                had_lock = op_lock_release(mb->app, mb->tenant_id, m->req.order_id,
                                           m->u.user_id);
            }
            publish_moved(mb->app, &m->u, &mr, mb->logged, had_lock);
            if (cols != NULL) {
                cols[n_cols++] = mr.from_work_centre_id;
                cols[n_cols++] = mr.to_work_centre_id;
            }
        } else if ((status != 0 ? status : m->status) == PB_ELOCKED) {
            const struct drag_lock *l = lock_get(mb->app->locks, mb->tenant_id, m->req.order_id,
                                                 pb_now_ms());
            const struct order *o = mb->b != NULL ? board_order(mb->b, m->req.order_id) : NULL;
            if (l != NULL && o != NULL)
                res.extra = lock_error_extra(l, o->order_number);
            fail(&res, PB_ELOCKED, "order is being moved by another user");
        } else {
            move_fail(&res, status != 0 ? status : m->status);
            if (res.err == PB_EWIP_LIMIT)
                res.extra = op_wip_extra(&m->wip);
        }
        m->done(m->done_ctx, &res);
        move_op_free(m);
    }
    if (n_cols > 0 || (cols == NULL && status == 0 && mb->any))  /* no memory: every column */
        schedule_changed(mb->app, mb->tenant_id, cols, n_cols);
    free(cols);
    free(mb->events);
    free(mb);
}

/* Hand a checked move to the writer: into the tenant's open batch, or a new one. true: done
 * will answer; false: res holds the answer. */
static bool move_submit(struct app *app, const struct op_user *u, const struct move_request *req,
                        op_done_fn done, void *done_ctx, struct op_result *res)
{
    return move_submit_n(app, u, req, done, done_ctx, 0, res);
}

static bool move_submit_n(struct app *app, const struct op_user *u,
                          const struct move_request *req, op_done_fn done, void *done_ctx,
                          int retries, struct op_result *res)
{
    struct move_op *m = calloc(1, sizeof(*m));
    struct move_batch *mb;
    if (m == NULL || (req->reason != NULL && (m->reason = strdup(req->reason)) == NULL)) {
        free(m);
        fail(res, PB_EINTERNAL, "out of memory");
        return false;
    }
    m->app = app;
    m->u = *u;
    snprintf(m->username, sizeof(m->username), "%s", u->username != NULL ? u->username : "");
    m->u.username = m->username;
    m->req = *req;
    m->req.reason = m->reason;
    m->done = done;
    m->done_ctx = done_ctx;
    m->retries = retries;

    mb = hmap_get_int(&app->move_batches, u->tenant_id);
    if (mb != NULL && mb->n < MOVE_BATCH_MAX) {          /* waiting for the gate: join it */
        mb->tail->next = m;
        mb->tail = m;
        mb->n++;
        return true;
    }
    if (mb != NULL)
        batch_close(mb);                /* full: it goes as it is */
    if ((mb = calloc(1, sizeof(*mb))) == NULL
        || hmap_reserve(&app->move_batches, app->move_batches.len + 1) != 0) {
        free(mb);
        move_op_free(m);
        fail(res, PB_EINTERNAL, "out of memory");
        return false;
    }
    *mb = (struct move_batch){ .app = app, .tenant_id = u->tenant_id, .head = m, .tail = m,
                               .n = 1, .open = true };
    hmap_put_int(&app->move_batches, u->tenant_id, mb);
    int rc = writes_submit(app, u->tenant_id, batch_prepare, batch_run, batch_done, mb);
    if (rc != 0) {                      /* nothing was called: answer here */
        batch_close(mb);
        move_fail(res, rc);
        move_op_free(m);
        free(mb);
        return false;
    }
    return true;
}

/* Look order_id up and parse a move body (SPEC §4: toWorkCentreId, position,
 * fromWorkCentreId, version, reason) into *req, then the drag lock (SPEC §5): true with *bp
 * and *op set, or false with res filled (not_found, validation_failed, locked). The role is
 * the caller's check. req->reason borrows from body. */
static bool move_check(struct app *app, const struct op_user *u, int64_t order_id,
                       const cJSON *body, struct move_request *req, struct board **bp,
                       struct order **op, struct op_result *res)
{
    struct board *b;
    struct order *o;
    struct json_details d;
    const struct drag_lock *l;
    int rc;

    *req = (struct move_request){ .order_id = order_id, .position = -1, .user_id = u->user_id };
    if ((o = find_order(app, u, order_id, &b, res)) == NULL)
        return false;

    json_details_init(&d);
    if (body == NULL || !cJSON_IsObject(body)) {
        json_details_add(&d, "toWorkCentreId", "is required");
    } else {
        rc = json_get_id_or_null(body, "toWorkCentreId", &req->to_work_centre_id, &d);
        if (rc == 1)
            json_details_add(&d, "toWorkCentreId", "is required (null for the backlog)");
        const cJSON *pos = cJSON_GetObjectItemCaseSensitive(body, "position");
        if (pos == NULL || cJSON_IsNull(pos))
            req->position = -1;         /* default: end of column */
        else if (json_get_int(body, "position", &req->position, &d) == 0 && req->position < 0)
            json_details_add(&d, "position", "must be 0 or more");
        if (cJSON_GetObjectItemCaseSensitive(body, "fromWorkCentreId") != NULL) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "fromWorkCentreId");
            if (cJSON_IsNull(f)) {
                req->has_from = true;
                req->from_work_centre_id = 0;
            } else if (json_get_int(body, "fromWorkCentreId", &req->from_work_centre_id, &d)
                       == 0) {
                req->has_from = true;
            }
        }
        if (json_get_int(body, "version", &req->version, &d) == 0)
            req->has_version = true;
        json_get_str(body, "reason", &req->reason, &d);
        bool override = false;          /* SPEC §9: only an admin's override passes a limit */
        if (json_get_bool(body, "override", &override, &d) == 0)
            req->wip_override = override && u->role == ROLE_ADMIN;
        if (req->to_work_centre_id > 0 && d.count == 0) {
            const struct work_centre *wc = board_work_centre(b, req->to_work_centre_id);
            if (wc == NULL || !wc->is_active)
                json_details_add(&d, "toWorkCentreId", "no such work centre");
        }
    }
    if (d.count > 0) {
        res->extra = json_details_take(&d);
        fail(res, PB_EVALIDATION, "invalid move");
        return false;
    }
    json_details_cleanup(&d);

    l = lock_get(app->locks, u->tenant_id, order_id, pb_now_ms());
    if (l != NULL && l->user_id != u->user_id) {
        res->extra = lock_error_extra(l, o->order_number);
        fail(res, PB_ELOCKED, "order is being moved by another user");
        return false;
    }
    *bp = b;
    *op = o;
    return true;
}

bool op_move(struct app *app, const struct op_user *u, int64_t order_id, const cJSON *body,
             struct op_result *res, op_done_fn done, void *done_ctx)
{
    struct board *b;
    struct order *o;
    struct move_request req;
    struct move_result mr;
    int rc;

    memset(res, 0, sizeof(*res));
    if (u->role == ROLE_VIEWER) {
        fail(res, PB_EFORBIDDEN, "viewers cannot move orders");
        return false;
    }
    if (!move_check(app, u, order_id, body, &req, &b, &o, res))
        return false;
    if (app->writer != NULL && done != NULL)
        return move_submit(app, u, &req, done, done_ctx, res);
    rc = store_order_move(app->store, b, &req, &mr);       /* no writer: on the loop */
    if (rc != 0) {
        move_fail(res, rc);
        if (rc == PB_EWIP_LIMIT) {
            struct wip_check w;
            store_wip_check(b, req.to_work_centre_id, 1, false, &w);
            res->extra = op_wip_extra(&w);
        }
        return false;
    }
    res->data = json_order(mr.order, NULL);
    op_wip_mark(res->data, &mr.wip);
    op_publish_moved(app, u, &mr);
    schedule_changed(app, u->tenant_id, (int64_t[]){ mr.from_work_centre_id, mr.to_work_centre_id }, 2);
    return false;
}

void op_preview_move(struct app *app, const struct op_user *u, int64_t order_id,
                     const cJSON *body, struct op_result *res)
{
    struct board *b;
    struct order *o;
    struct move_request req;
    struct move_job *job = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    if (u->role == ROLE_VIEWER)
        return fail(res, PB_EFORBIDDEN, "viewers cannot preview moves");
    if (!move_check(app, u, order_id, body, &req, &b, &o, res))
        return;
    /* the store's checks of the move itself (version, fromWorkCentreId): planned, never
     * tried or written */
    rc = store_move_prepare(b, &req, &job);
    store_move_job_free(job);
    /* SPEC §9 WIP: the same check as the move; a refusal or a warning, as the move would get */
    struct wip_check w;
    store_wip_check(b, req.to_work_centre_id,
                    o->work_centre_id != req.to_work_centre_id && store_wip_counts(o->status),
                    req.wip_override, &w);
    if (rc != 0) {
        move_fail(res, rc);
        if (rc == PB_EWIP_LIMIT)
            res->extra = op_wip_extra(&w);
        return;
    }
    if ((res->data = schedule_preview_json(app, b, o, req.to_work_centre_id, req.position, &rc))
        == NULL)
        move_fail(res, rc != 0 ? rc : PB_EINTERNAL);
    op_wip_mark(res->data, &w);
}

void op_update_move(struct app *app, const struct op_user *u, int64_t order_id,
                    const struct order_patch *p, const struct move_request *move,
                    struct op_result *res)
{
    struct board *b;
    struct order *o;
    struct move_result mr;
    const struct drag_lock *l;
    bool changed;
    int rc;

    memset(res, 0, sizeof(*res));
    if (u->role == ROLE_VIEWER)
        return fail(res, PB_EFORBIDDEN, "viewers cannot move orders");
    if ((o = find_order(app, u, order_id, &b, res)) == NULL)
        return;
    l = lock_get(app->locks, u->tenant_id, order_id, pb_now_ms());
    if (l != NULL && l->user_id != u->user_id) {
        res->extra = lock_error_extra(l, o->order_number);
        return fail(res, PB_ELOCKED, "order is being moved by another user");
    }
    rc = store_order_update_move(app->store, b, order_id, p, move, &o, &changed, &mr);
    if (rc == PB_EWIP_LIMIT) {
        struct wip_check w;
        store_wip_check(b, move->to_work_centre_id, 1, false, &w);
        res->extra = op_wip_extra(&w);
        return fail(res, rc, "the work centre is at its WIP limit");
    }
    if (rc != 0) {
        return fail(res, rc, rc == PB_ECONFLICT ? "the order has changed since you saw it, or "
                                                  "its orderNumber is in use"
                           : rc == PB_EVALIDATION ? "the order is not valid"
                           : rc == PB_ENOT_FOUND ? "order not found" : "could not save the order");
    }
    op_publish_moved(app, u, &mr);
    schedule_changed(app, u->tenant_id, (int64_t[]){ mr.from_work_centre_id, mr.to_work_centre_id }, 2);
}

struct release_ctx {
    struct app *app;
    const char *reason;
};

static void on_lock_removed(void *ctx, const struct drag_lock *l)
{
    struct release_ctx *rc = ctx;
    publish_unlocked(rc->app, l->tenant_id, l->order_id, rc->reason);
}

/* -------- PostgreSQL: lock sweeps by writer jobs (SPEC §5 lock ends, SPEC §12)
 *
 * Expiry (every node, every second: a dead node's locks end at their TTL), a user's last
 * connection on this node closing or their rights going, and a clean stop (this node's own
 * locks) each run as one writer job: for each tenant concerned, in ascending order, its
 * room_log row is locked (the order every writer of the tenant takes it in: no deadlock with
 * another node's move batch holding that row and waiting for a lock row), then the DELETE ..
 * RETURNING decides which rows this node ended, and their order_unlocked {reason} are
 * sequenced in the same transaction. Of several nodes sweeping at once exactly one DELETE
 * returns a row, so exactly one order_unlocked is logged per lock end. The frames are built in
 * run from the rows (ctx only). done takes the rows out of the mirror; the events reach every
 * node through the bus. */

#define LOCK_SWEEP_TENANTS 256          /* tenants per expiry sweep; the rest the next second */

struct sweep_job {
    struct app *app;
    int64_t tenant_id;                  /* 0: every tenant with matching rows */
    int64_t user_id;                    /* 0: any */
    bool own;                           /* only this node's rows */
    int64_t expired_at_ms;              /* > 0: only rows expired by then */
    const char *reason;                 /* static: SPEC §5 reason of the order_unlocked */
    /* results of run, overwritten by each run */
    struct drag_lock_row *rows;         /* removed by this job's DELETEs */
    struct ws_msg **msgs;               /* their order_unlocked, no seq (same index) */
    size_t n, cap;
    bool oom;
};

static void sweep_reset(struct sweep_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        ws_msg_unref(j->msgs[i]);
    j->n = 0;
    j->oom = false;
}

static void sweep_free(struct sweep_job *j)
{
    sweep_reset(j);
    free(j->rows);
    free(j->msgs);
    free(j);
}

/* Writer thread (from store_drag_lock_remove): one row this job's DELETE returned. */
static void sweep_row(void *ctx, const struct drag_lock_row *row)
{
    struct sweep_job *j = ctx;
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 16;
        struct drag_lock_row *r = realloc(j->rows, cap * sizeof(*r));
        if (r != NULL)
            j->rows = r;
        struct ws_msg **m = r != NULL ? realloc(j->msgs, cap * sizeof(*m)) : NULL;
        if (m == NULL) {
            j->oom = true;
            return;
        }
        j->msgs = m;
        j->cap = cap;
    }
    j->rows[j->n] = *row;
    /* ws_msg_new, not room_encode: the writer thread (room_encode's fault counter is the
     * loop's) */
    j->msgs[j->n] = ws_msg_new("order_unlocked", 0, NULL, unlocked_json(row->order_id, j->reason));
    if (j->msgs[j->n] == NULL)
        j->oom = true;
    else
        j->n++;
}

static int sweep_run(struct db *db, void *ctx)
{
    struct sweep_job *j = ctx;
    struct store *ws = j->app->wstore;
    const char *node = j->own ? j->app->node : NULL;
    int64_t tenants[LOCK_SWEEP_TENANTS];
    int n_t, rc;
    (void)db;                           /* the sibling store's connection */

    sweep_reset(j);
    if (j->tenant_id > 0) {
        tenants[0] = j->tenant_id;
        n_t = 1;
    } else if ((n_t = store_drag_lock_tenants(ws, node, j->expired_at_ms, tenants,
                                              LOCK_SWEEP_TENANTS)) < 0) {
        return n_t;
    }
    for (int i = 0; i < n_t; i++) {
        if (store_room_log_lock(ws, tenants[i]) != 0)
            return PB_EINTERNAL;
        rc = store_drag_lock_remove(ws, tenants[i], 0, j->user_id, node, j->expired_at_ms,
                                    sweep_row, j);
        if (rc < 0)
            return rc;
        if (j->oom)
            return PB_EINTERNAL;        /* rolled back: the rows stay for the next sweep */
    }
    if (j->n == 0)
        return 0;
    struct room_log_event *ev = malloc(j->n * sizeof(*ev));
    if (ev == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < j->n; i++)
        ev[i] = log_event(j->rows[i].tenant_id, j->msgs[i], "order_unlocked");
    rc = store_room_log_sequence(ws, ev, j->n, j->app->node, PB_ROOM_LOG_EVENTS);
    free(ev);
    return rc != 0 ? PB_EINTERNAL : 0;
}

static void sweep_done(void *ctx, int status, uint64_t commit_seq)
{
    struct sweep_job *j = ctx;
    struct app *app = j->app;
    (void)commit_seq;
    if (j->expired_at_ms > 0 && j->tenant_id == 0 && !j->own) {
        app->lock_sweep_busy = false;
        if (status != 0)
            app->lock_sweep_due = true; /* the rows stay: the next tick tries again */
    }
    if (status != 0) {
        pb_log(LOG_ERROR, "drag locks: a sweep (%s) failed (%d); %s", j->reason, status,
               j->expired_at_ms > 0 ? "the next one tries again"
                                    : "those locks end at their expiry");
    } else {
        if (j->n > 0)
            store_commit_noted(app->store);
        for (size_t i = 0; i < j->n; i++) {
            lock_release(app->locks, j->rows[i].tenant_id, j->rows[i].order_id, 0, NULL);
            if (i == 0 || j->rows[i].tenant_id != j->rows[i - 1].tenant_id) {
                webhooks_nudge(app, j->rows[i].tenant_id);
                room_board_forget(app, j->rows[i].tenant_id);
            }
        }
    }
    sweep_free(j);
}

/* Submit a sweep job (gate: tenant_id's when one tenant, else none). Errors are logged. */
static void sweep_submit(struct app *app, int64_t tenant_id, int64_t user_id, bool own,
                         int64_t expired_at_ms, const char *reason)
{
    struct sweep_job *j = calloc(1, sizeof(*j));
    int rc = PB_EINTERNAL;
    if (j != NULL) {
        *j = (struct sweep_job){ .app = app, .tenant_id = tenant_id, .user_id = user_id,
                                 .own = own, .expired_at_ms = expired_at_ms, .reason = reason };
        rc = writes_submit(app, tenant_id, NULL, sweep_run, sweep_done, j);
    }
    if (rc != 0) {
        pb_log(LOG_ERROR, "drag locks: a sweep (%s) could not be submitted (%d)", reason, rc);
        free(j);
        return;
    }
    if (expired_at_ms > 0 && tenant_id == 0 && !own)
        app->lock_sweep_busy = true;
}

void op_release_user_locks(struct app *app, int64_t tenant_id, int64_t user_id,
                           const char *reason)
{
    struct release_ctx rc = { app, reason };
    if (app->postgres) {                /* the locks this user took through this node */
        sweep_submit(app, tenant_id, user_id, true, 0, reason);
        return;
    }
    lock_release_user(app->locks, tenant_id, user_id, on_lock_removed, &rc);
}

void op_sweep_locks(struct app *app)
{
    struct release_ctx rc = { app, "expired" };
    int64_t now = pb_now_ms();
    if (app->postgres) {
        /* The mirror's expired entries go; when there were any (or at start: rows left by
         * nodes gone since), the database is swept for every tenant's expired rows (a dead
         * node's too), and the node whose DELETE returns a row logs its order_unlocked. Not
         * every second regardless: an idle node submits no writer job. One sweep at a time:
         * a slow writer does not pile them up. FIXME: an expired row of a tenant no node
         * holds in its mirror (no room there since before the lock) waits for a start or
         * another expiry to be swept; it is free to take meanwhile (the take's WHERE). */
        size_t n = lock_expire(app->locks, now, NULL, NULL);
        if (n > 0 || app->lock_sweeps == 0)
            app->lock_sweep_due = true;
        if (app->lock_sweep_due && !app->lock_sweep_busy && app->writer != NULL) {
            app->lock_sweep_due = false;
            app->lock_sweeps++;
            sweep_submit(app, 0, 0, false, now, "expired");
        }
        return;
    }
    lock_expire(app->locks, now, on_lock_removed, &rc);
}

void op_end_all_locks(struct app *app, const char *reason)
{
    struct release_ctx rc = { app, reason };
    if (app->postgres) {                /* this node's own locks; the others' stay */
        sweep_submit(app, 0, 0, true, 0, reason);
        return;
    }
    lock_expire(app->locks, INT64_MAX, on_lock_removed, &rc);      /* every lock is older */
}

static cJSON *column_json(struct app *app, const struct column *col, int64_t tenant_id,
                          int64_t now)
{
    cJSON *a = cJSON_CreateArray();
    for (const struct order *o = board_column_first(col); o != NULL; o = board_column_next(o)) {
        cJSON_AddItemToArray(a, json_order(o, lock_get(app->locks, tenant_id, o->id, now)));
    }
    return a;
}

struct locks_ctx {
    cJSON *arr;
    struct board *b;
};

static void add_lock(void *ctx, const struct drag_lock *l)
{
    struct locks_ctx *lc = ctx;
    const struct order *o = board_order(lc->b, l->order_id);
    cJSON_AddItemToArray(lc->arr, json_lock(l, o != NULL ? o->order_number : NULL));
}

cJSON *op_board_json(struct app *app, int64_t tenant_id, int *err)
{
    struct board *b;
    int rc = store_board(app->store, tenant_id, &b);
    int64_t now = pb_now_ms();
    if (rc != 0) {
        *err = rc;
        return NULL;
    }
    cJSON *j = cJSON_CreateObject();
    struct room *room = room_get(app, tenant_id);
    cJSON_AddNumberToObject(j, "seq", (double)room_seq(room));
    cJSON_AddStringToObject(j, "epoch", room_epoch(room));
    if (b->schedule_at != 0) {          /* SPEC §9; set once the projection was computed */
        char at[PB_TIMESTAMP_LEN];
        json_format_minute(b->schedule_at, at);
        cJSON_AddStringToObject(j, "scheduleAt", at);
    } else {
        cJSON_AddNullToObject(j, "scheduleAt");
    }
    cJSON *wcs = cJSON_AddArrayToObject(j, "workCentres");
    for (size_t i = 0; i < b->n_work_centres; i++) {
        cJSON *w = json_work_centre(&b->work_centres[i]);
        cJSON_AddItemToObject(w, "orders", column_json(app, &b->columns[i], tenant_id, now));
        cJSON_AddItemToArray(wcs, w);
    }
    cJSON_AddItemToObject(j, "backlog", column_json(app, &b->backlog, tenant_id, now));
    struct locks_ctx lc = { cJSON_AddArrayToObject(j, "locks"), b };
    lock_each(app->locks, tenant_id, now, add_lock, &lc);
    cJSON_AddItemToObject(j, "online", room_online(app, tenant_id));
    *err = 0;
    return j;
}
