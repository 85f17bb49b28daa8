/*
 * board_ops — board operations shared by REST and WebSocket (SPEC §4 moves, §5 drag locks):
 * role check, lock check, store call, then the room broadcast. One implementation, so the
 * two transports cannot drift apart.
 */
#include "server/server_int.h"

#include "store/order_edit.h"

#include <stdlib.h>
#include <string.h>

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
        fail(res, rc == PB_ENOT_FOUND ? PB_ENOT_FOUND : PB_EINTERNAL, "board unavailable");
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

/* After a committed move: the mover's lock ends, order_moved {order, fromWorkCentreId,
 * toWorkCentreId, position, movedBy} is published, then order_unlocked {moved} when the mover
 * held the lock (SPEC §5). */
static void publish_moved(struct app *app, const struct op_user *u, const struct move_result *mr)
{
    int64_t order_id = mr->order->id;
    bool had_lock = lock_release(app->locks, u->tenant_id, order_id, u->user_id, NULL) == 0;
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
    room_publish(app, u->tenant_id, "order_moved", ev);
    if (had_lock)
        publish_unlocked(app, u->tenant_id, order_id, "moved");
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
    rc = lock_acquire(app->locks, u->tenant_id, order_id, u->user_id, u->username,
                      pb_now_ms(), lock_ttl_ms(app), &l);
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
    if (lock_release(app->locks, u->tenant_id, order_id, u->user_id, NULL) == 0)
        publish_unlocked(app, u->tenant_id, order_id, "released");
    res->data = cJSON_CreateObject();
    cJSON_AddNumberToObject(res->data, "orderId", (double)order_id);
}

void op_move(struct app *app, const struct op_user *u, int64_t order_id, const cJSON *body,
             struct op_result *res)
{
    struct board *b;
    struct order *o;
    struct move_request req = { .order_id = order_id, .position = -1, .user_id = u->user_id };
    struct move_result mr;
    struct json_details d;
    const struct drag_lock *l;
    int rc;

    memset(res, 0, sizeof(*res));
    if (u->role == ROLE_VIEWER)
        return fail(res, PB_EFORBIDDEN, "viewers cannot move orders");
    if ((o = find_order(app, u, order_id, &b, res)) == NULL)
        return;

    json_details_init(&d);
    if (body == NULL || !cJSON_IsObject(body)) {
        json_details_add(&d, "toWorkCentreId", "is required");
    } else {
        rc = json_get_id_or_null(body, "toWorkCentreId", &req.to_work_centre_id, &d);
        if (rc == 1)
            json_details_add(&d, "toWorkCentreId", "is required (null for the backlog)");
        const cJSON *pos = cJSON_GetObjectItemCaseSensitive(body, "position");
        if (pos == NULL || cJSON_IsNull(pos))
            req.position = -1;          /* default: end of column */
        else if (json_get_int(body, "position", &req.position, &d) == 0 && req.position < 0)
            json_details_add(&d, "position", "must be 0 or more");
        if (cJSON_GetObjectItemCaseSensitive(body, "fromWorkCentreId") != NULL) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "fromWorkCentreId");
            if (cJSON_IsNull(f)) {
                req.has_from = true;
                req.from_work_centre_id = 0;
            } else if (json_get_int(body, "fromWorkCentreId", &req.from_work_centre_id, &d) == 0) {
                req.has_from = true;
            }
        }
        if (json_get_int(body, "version", &req.version, &d) == 0)
            req.has_version = true;
        json_get_str(body, "reason", &req.reason, &d);
        if (req.to_work_centre_id > 0 && d.count == 0) {
            const struct work_centre *wc = board_work_centre(b, req.to_work_centre_id);
            if (wc == NULL || !wc->is_active)
                json_details_add(&d, "toWorkCentreId", "no such work centre");
        }
    }
    if (d.count > 0) {
        res->extra = json_details_take(&d);
        return fail(res, PB_EVALIDATION, "invalid move");
    }
    json_details_cleanup(&d);

    int64_t now = pb_now_ms();
    l = lock_get(app->locks, u->tenant_id, order_id, now);
    if (l != NULL && l->user_id != u->user_id) {
        res->extra = lock_error_extra(l, o->order_number);
        return fail(res, PB_ELOCKED, "order is being moved by another user");
    }
    rc = store_order_move(app->store, b, &req, &mr);
    if (rc != 0) {
        return fail(res, rc, rc == PB_ECONFLICT ? "the order has changed since you saw it"
                           : rc == PB_EVALIDATION ? "invalid move"
                           : rc == PB_ENOT_FOUND ? "order not found" : "could not save the move");
    }
    res->data = json_order(mr.order, NULL);
    publish_moved(app, u, &mr);
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
    if (rc != 0) {
        return fail(res, rc, rc == PB_ECONFLICT ? "the order has changed since you saw it, or "
                                                  "its orderNumber is in use"
                           : rc == PB_EVALIDATION ? "the order is not valid"
                           : rc == PB_ENOT_FOUND ? "order not found" : "could not save the order");
    }
    publish_moved(app, u, &mr);
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

void op_release_user_locks(struct app *app, int64_t tenant_id, int64_t user_id,
                           const char *reason)
{
    struct release_ctx rc = { app, reason };
    lock_release_user(app->locks, tenant_id, user_id, on_lock_removed, &rc);
}

void op_sweep_locks(struct app *app)
{
    struct release_ctx rc = { app, "expired" };
    lock_expire(app->locks, pb_now_ms(), on_lock_removed, &rc);
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
    cJSON_AddNumberToObject(j, "seq", (double)room_seq(room_get(app, tenant_id)));
    cJSON_AddStringToObject(j, "epoch", app->epoch);
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
