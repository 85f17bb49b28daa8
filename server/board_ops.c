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
 * exactly one node does. The statements run on the loop's connection (one round trip each;
 * docs/postgresql.md "What still waits on the loop"). */

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
static cJSON *moved_json(const struct app *app, const struct op_user *u,
                         const struct move_result *mr)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddItemToObject(ev, "order", json_order(mr->order, NULL));
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

/* The move's order_moved was logged in its own transaction (logged: PostgreSQL batches);
 * else it is published now. Then the mover's lock ends. */
static void publish_moved(struct app *app, const struct op_user *u, const struct move_result *mr,
                          bool logged)
{
    int64_t order_id = mr->order->id;
    bool had_lock = op_lock_release(app, u->tenant_id, order_id, u->user_id);
    if (logged) {
        webhooks_nudge(app, u->tenant_id);      /* as room_publish does */
        room_board_forget(app, u->tenant_id);
    }
    else
        room_publish(app, u->tenant_id, "order_moved", moved_json(app, u, mr));
    if (had_lock)
        publish_unlocked(app, u->tenant_id, order_id, "moved");
}

void op_publish_moved(struct app *app, const struct op_user *u, const struct move_result *mr)
{
    publish_moved(app, u, mr, false);
}

void op_start_drag(struct app *app, const struct op_user *u, int64_t order_id,
                   struct op_result *res)
{
    struct board *b;
    struct order *o;
    const struct drag_lock *l;
    int rc;

    memset(res, 0, sizeof(*res));
    if (u->role == ROLE_VIEWER)
        return fail(res, PB_EFORBIDDEN, "viewers cannot move orders");
    if ((o = find_order(app, u, order_id, &b, res)) == NULL)
        return;
    if (app->postgres) {                /* the database decides; the mirror follows */
        int64_t now = pb_now_ms();
        struct drag_lock_row want = {
            .tenant_id = u->tenant_id, .order_id = order_id, .user_id = u->user_id,
            .expires_at_ms = now + lock_ttl_ms(app),
        }, holder;
        bool renewed = false;
        snprintf(want.username, sizeof(want.username), "%s", u->username);
        rc = store_drag_lock_take(app->store, &want, app->node, now, &renewed, &holder);
        if (rc == PB_ELOCKED)
            rc = lock_put(app->locks, u->tenant_id, order_id, holder.user_id, holder.username,
                          holder.expires_at_ms, &l) == 0 ? PB_ELOCKED : PB_EINTERNAL;
        else if (rc == 0)
            rc = lock_put(app->locks, u->tenant_id, order_id, u->user_id, u->username,
                          want.expires_at_ms, &l) == 0 ? (renewed ? 1 : 0) : PB_EINTERNAL;
        if (rc == PB_EUNAVAILABLE)
            return fail(res, PB_EUNAVAILABLE, "the database is unavailable");
    } else {
        rc = lock_acquire(app->locks, u->tenant_id, order_id, u->user_id, u->username,
                          pb_now_ms(), lock_ttl_ms(app), &l);
    }
    if (rc == PB_ELOCKED) {
        res->extra = lock_error_extra(l, o->order_number);
        return fail(res, PB_ELOCKED, "order is being moved by another user");
    }
    if (rc < 0)
        return fail(res, PB_EINTERNAL, "could not take the lock");

    char ts[PB_TIMESTAMP_LEN];
    json_format_ms(l->expires_at_ms, ts);
    res->data = cJSON_CreateObject();
    cJSON_AddNumberToObject(res->data, "orderId", (double)order_id);
    cJSON *by = cJSON_AddObjectToObject(res->data, "lockedBy");
    cJSON_AddNumberToObject(by, "userId", (double)l->user_id);
    cJSON_AddStringToObject(by, "username", l->username);
    cJSON_AddStringToObject(res->data, "expiresAt", ts);

    room_publish(app, u->tenant_id, "order_locked", json_lock(l, o->order_number));
    if (rc == 0) {                      /* SPEC §5 user_activity: who is dragging what */
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "userId", (double)u->user_id);
        cJSON_AddStringToObject(a, "username", u->username);
        cJSON_AddStringToObject(a, "activity", "dragging");
        cJSON_AddNumberToObject(a, "orderId", (double)order_id);
        room_publish(app, u->tenant_id, "user_activity", a);
    }
}

void op_end_drag(struct app *app, const struct op_user *u, int64_t order_id,
                 struct op_result *res)
{
    struct board *b;

    memset(res, 0, sizeof(*res));
    if (u->role == ROLE_VIEWER)
        return fail(res, PB_EFORBIDDEN, "viewers cannot move orders");
    if (find_order(app, u, order_id, &b, res) == NULL)
        return;
    if (op_lock_release(app, u->tenant_id, order_id, u->user_id))
        publish_unlocked(app, u->tenant_id, order_id, "released");
    res->data = cJSON_CreateObject();
    cJSON_AddNumberToObject(res->data, "orderId", (double)order_id);
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
#define MOVE_STALE_RETRIES 3            /* PostgreSQL: a batch planned on a board another node
                                         * had changed is planned again once the bus applied
                                         * that change (batch_retry) */

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
    struct room_log_event *events;      /* PostgreSQL: the moves' order_moved, for batch_run */
    size_t n_events;
    struct board *b;                    /* at prepare */
    bool open;                          /* in app->move_batches: takes more moves */
    bool any;                           /* a move was prepared: something to write */
};

static void move_op_free(struct move_op *m)
{
    ws_msg_unref(m->event);
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
            m->event = room_encode("order_moved", moved_json(mb->app, &m->u, &mr));
        }
    }
    if (mb->app->postgres && mb->any) {
        size_t n_ev = 0;
        for (m = mb->head; m != NULL; m = m->next)
            n_ev += m->job != NULL;
        mb->events = calloc(n_ev, sizeof(*mb->events));
        for (m = mb->head; m != NULL && mb->events != NULL; m = m->next) {
            if (m->job == NULL)
                continue;
            if (m->event == NULL) {     /* out of memory: published after the commit instead */
                free(mb->events);
                mb->events = NULL;
                break;
            }
            mb->events[mb->n_events++] = (struct room_log_event){
                .tenant_id = mb->tenant_id, .frame = (const char *)m->event->buf + LWS_PRE,
                .len = m->event->len, .split = strlen("{\"event\":\"order_moved\""),
            };
        }
        if (mb->events == NULL)
            mb->n_events = 0;
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
    (void)db;                           /* the sibling store's connection */
    int rc;
    /* PostgreSQL: one tenant's moves take turns across the nodes (its room_log row, locked
     * first: the analytics rows they update are then always taken in one order) */
    if (mb->n_events > 0 && store_room_log_lock(mb->app->wstore, mb->tenant_id) != 0)
        return PB_EINTERNAL;
    for (struct move_op *m = mb->head; m != NULL; m = m->next) {
        if (m->job == NULL)
            continue;
        if ((rc = store_move_write(mb->app->wstore, mb->b, m->job)) != 0
            || (mb->app->postgres
                && (rc = store_move_check_position(mb->app->wstore, m->job)) != 0))
            return rc == PB_ECONFLICT ? rc : PB_EINTERNAL;
    }
    /* PostgreSQL (SPEC §12, issue 13 item 2): the moves' events are rows of this same
     * transaction: a move that committed has its event, whatever happens to this node next */
    if (mb->n_events > 0
        && store_room_log_sequence(mb->app->wstore, mb->events, mb->n_events, mb->app->node,
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

/* bus_wait's callback: the bus applied the tenant's log up to what was notified (caught_up),
 * or did not in time (then the board is reloaded, as soon as nothing points into it). */
static void batch_resume(struct app *app, void *ctx, bool caught_up)
{
    struct move_batch *mb = ctx;
    if (!caught_up)
        follow_board_stale(app, mb->tenant_id);
    batch_resubmit(mb);
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
    batch_resubmit(mb);
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
            publish_moved(mb->app, &m->u, &mr, mb->n_events > 0);
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

/* PostgreSQL: a row this node's DELETE returned: out of the mirror, and its order_unlocked. */
static void on_row_removed(void *ctx, const struct drag_lock_row *row)
{
    struct release_ctx *rc = ctx;
    lock_release(rc->app->locks, row->tenant_id, row->order_id, 0, NULL);
    publish_unlocked(rc->app, row->tenant_id, row->order_id, rc->reason);
}

void op_release_user_locks(struct app *app, int64_t tenant_id, int64_t user_id,
                           const char *reason)
{
    struct release_ctx rc = { app, reason };
    if (app->postgres) {                /* the locks this user took through this node */
        store_drag_lock_remove(app->store, tenant_id, 0, user_id, app->node, 0, on_row_removed,
                               &rc);
        return;
    }
    lock_release_user(app->locks, tenant_id, user_id, on_lock_removed, &rc);
}

void op_sweep_locks(struct app *app)
{
    struct release_ctx rc = { app, "expired" };
    int64_t now = pb_now_ms();
    if (app->postgres) {
        /* Every node sweeps the database (a dead node's locks too); the one whose DELETE
         * returns a row publishes it. The mirror's expired entries just go. */
        store_drag_lock_remove(app->store, 0, 0, 0, NULL, now, on_row_removed, &rc);
        lock_expire(app->locks, now, NULL, NULL);
        return;
    }
    lock_expire(app->locks, now, on_lock_removed, &rc);
}

void op_end_all_locks(struct app *app, const char *reason)
{
    struct release_ctx rc = { app, reason };
    if (app->postgres) {                /* this node's own locks; the others' stay */
        store_drag_lock_remove(app->store, 0, 0, 0, app->node, 0, on_row_removed, &rc);
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
