/*
 * routes_orders — REST routes of SPEC §4 for order writes (PUT / DELETE /api/orders/:id),
 * work-centre writes (POST, PUT, DELETE, reorder), the CSV export and the audit log.
 * Roles are enforced by the route table before a handler runs (SPEC §3). Every mutation is
 * one store_* call (one transaction, one audit row), then the answer, then the broadcast.
 * Choices where SPEC is silent: docs/api-notes.md.
 * On PostgreSQL (SPEC §12, server/job_events.c) the events of a field update, a delete (with
 * the order_unlocked of the lock it ends) and a work-centre change are rows of the change's own
 * transaction, an update that moves the order its order_moved (and the mover's order_unlocked)
 * too. On SQLite every event is published after the commit (room_publish).
 */
#include "server/server_int.h"

#include "core/strbuf.h"
#include "importers/xlsx_export.h"

#include "store/audit.h"
#include "store/drag_locks.h"
#include "store/order_edit.h"
#include "store/work_centres.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ helpers */




/* All live work centres of the board in display order, as a new array. */
static cJSON *work_centres_json(const struct board *b)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < b->n_work_centres; i++)
        cJSON_AddItemToArray(a, json_work_centre(&b->work_centres[i]));
    return a;
}

/* SPEC §5 work_centre_updated {workCentres: [...]} to the tenant's room (unless logged: on
 * PostgreSQL it was sequenced in the change's transaction, SPEC §12), then the schedule. */
static void publish_work_centres(struct app *app, int64_t tenant_id, const struct board *b,
                                 bool logged)
{
    if (!logged) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddItemToObject(ev, "workCentres", work_centres_json(b));
        room_publish(app, tenant_id, "work_centre_updated", ev);
    }
    schedule_changed(app, tenant_id, NULL, 0);    /* SPEC §9: capacity, default minutes */
}

/* A string member that may be absent but, when present, must be a string (not null):
 * returns 0 and sets *out, 1 when absent; reports "is required" for null. */
static int required_str(const cJSON *body, const char *name, const char *field,
                        const char **out, struct json_details *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (v == NULL)
        return 1;
    if (cJSON_IsNull(v)) {
        json_details_add(d, field, "is required");
        return PB_EVALIDATION;
    }
    return json_get_str(body, name, out, d);
}

/* A member that is a string or null: 0 (with *out NULL for null), 1 absent, or an error. */
static int nullable_str(const cJSON *body, const char *name, const char **out,
                        struct json_details *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (v == NULL)
        return 1;
    *out = NULL;
    if (cJSON_IsNull(v))
        return 0;
    return json_get_str(body, name, out, d);
}

/* ================================================================ work centres */

/* Read the work-centre members of body into in; type errors go to d. */
static void wc_read_body(const cJSON *body, struct work_centre_input *in, struct json_details *d)
{
    work_centre_input_init(in);
    required_str(body, "code", "code", &in->code, d);
    required_str(body, "name", "name", &in->name, d);
    const char *desc = NULL;
    if (nullable_str(body, "description", &desc, d) == 0)
        in->description = desc != NULL ? desc : "";
    if (json_get_int(body, "capacity", &in->capacity, d) == 0)
        in->has_capacity = true;
    if (json_get_int(body, "displayOrder", &in->display_order, d) == 0)
        in->has_display_order = true;
    if (json_get_bool(body, "isActive", &in->is_active, d) == 0)
        in->has_is_active = true;
    /* SPEC §9: wipLimit null = no limit (0 inside); a number below 1 is refused by the check */
    const cJSON *wl = cJSON_GetObjectItemCaseSensitive(body, "wipLimit");
    if (cJSON_IsNull(wl)) {
        in->has_wip_limit = true;
        in->wip_limit = 0;
    } else if (json_get_int(body, "wipLimit", &in->wip_limit, d) == 0) {
        in->has_wip_limit = true;
        if (in->wip_limit < 1)
            in->wip_limit = -1;         /* reported as "null or at least 1" */
    }
    json_get_str(body, "wipPolicy", &in->wip_policy, d);
    if (json_get_int(body, "defaultOperationMinutes", &in->default_operation_minutes, d) == 0)
        in->has_default_minutes = true;
}

static void wc_store_error(struct http_req *r, int rc)
{
    struct json_details d;
    switch (rc) {
    case PB_ECONFLICT:
        json_details_init(&d);
        json_details_add(&d, "code", "is already in use");
        http_reply_error(r, PB_ECONFLICT, "code is already in use", json_details_take(&d));
        break;
    case PB_ENOT_FOUND:
        http_reply_error(r, PB_ENOT_FOUND, "work centre not found", NULL);
        break;
    case PB_EVALIDATION:
        http_reply_error(r, PB_EVALIDATION, "the work centre is not valid", NULL);
        break;
    case PB_ERATE_LIMITED:
        http_reply_error(r, rc, "too many writes are waiting; try again", NULL);
        break;
    default:
        http_reply_error(r, PB_EINTERNAL, "could not save the work centre", NULL);
    }
}

/* A work-centre change through the writer (docs/writer.md "Work centres, the calendar and
 * tenant settings"). owner first: CLOSED_HTTP clears it; a change whose client went away still
 * commits, applies and is broadcast. */
struct wc_change {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id;
    struct wc_request rq;               /* rq.in = &in, rq.ids = ids */
    struct work_centre_input in;        /* strings point into body */
    cJSON *body;                        /* create, update: a copy of the request's body */
    int64_t *ids;                       /* reorder */
    struct board *b;                    /* set by prepare */
    struct wc_job *job;
    struct job_events ev;               /* PostgreSQL: work_centre_updated, built by the run */
};

static void wc_op_free(struct wc_change *o)
{
    job_events_cleanup(&o->ev);
    store_wc_job_free(o->job);
    cJSON_Delete(o->body);
    free(o->ids);
    free(o);
}

static void wc_op_error(struct http_req *r, enum wc_op op, int rc)
{
    if (op == WC_OP_DELETE && rc == PB_ECONFLICT)
        http_reply_error(r, PB_ECONFLICT, "orders still sit in this work centre", NULL);
    else if (op == WC_OP_REORDER && rc == PB_EVALIDATION)
        http_reply_invalid(r, "ids", "must name every active work centre exactly once");
    else
        wc_store_error(r, rc);
}

/* Loop thread, when the tenant's earlier writes are applied: validate against the board. */
static int wc_op_prepare(void *ctx)
{
    struct wc_change *o = ctx;
    int rc = store_board(o->app->store, o->tenant_id, &o->b);
    if (rc != 0 || (rc = store_wc_prepare(o->b, &o->rq, &o->job)) != 0)
        return rc;
    job_events_init(&o->ev, o->app, o->tenant_id);
    return 0;
}

/* Writer thread: the change, then (SPEC §12) its work_centre_updated from the centres as the
 * apply will leave them (a created centre's id is known only now), in the same transaction. */
static int wc_op_run(struct db *db, void *ctx)
{
    struct wc_change *o = ctx;
    struct work_centre *w;
    size_t n;
    int rc;
    (void)db;                           /* the sibling store's connection */
    if ((rc = job_events_run_begin(&o->ev, true)) != 0
        || (rc = store_wc_write(o->app->wstore, o->job)) != 0)
        return rc;
    if (!o->ev.on)
        return 0;
    if ((rc = store_wc_tried(o->job, &w, &n)) == 0) {
        cJSON *ev = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(ev, "workCentres");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(a, json_work_centre(&w[i]));
        free(w);
        job_events_add_run(&o->ev, "work_centre_updated", ev);
    } else if (rc < 0) {
        job_events_give_up(&o->ev);     /* no memory: published after the commit */
    }
    return job_events_sequence(&o->ev);
}

static void wc_op_done(void *ctx, int status, uint64_t commit_seq)
{
    struct wc_change *o = ctx;
    struct http_req *r = o->owner;
    const struct work_centre *w = NULL;
    bool changed = false;
    (void)commit_seq;
    bool logged = job_events_done(&o->ev, status);
    if (status == 0) {
        store_commit_noted(o->app->store);      /* group commit syncs it before answers */
        changed = store_wc_apply(o->b, o->job, &w);
    }
    if (r != NULL) {
        r->job = NULL;
        if (status != 0)
            wc_op_error(r, o->rq.op, status);
        else if (o->rq.op == WC_OP_CREATE)
            http_reply_json(r, 201, json_work_centre(w));
        else if (o->rq.op == WC_OP_UPDATE)
            http_reply_json(r, 200, json_work_centre(w));
        else if (o->rq.op == WC_OP_DELETE)
            http_reply(r, 204, "application/json; charset=utf-8", NULL, 0);
        else
            http_reply_json(r, 200, json_data(work_centres_json(o->b)));
    }
    if (changed)
        publish_work_centres(o->app, o->tenant_id, o->b, logged);
    wc_op_free(o);
}

/* Hand o (filled by the route) to the writer under the tenant's gate; the answer comes from
 * wc_op_done, or now when the submit fails (o freed either way). */
static void wc_op_submit(struct http_req *r, struct wc_change *o)
{
    o->owner = r;
    o->app = r->app;
    o->tenant_id = r->claims.tenant_id;
    o->rq.user_id = r->claims.user_id;
    o->rq.in = &o->in;
    o->rq.ids = o->ids;
    int rc = writes_submit(r->app, o->tenant_id, wc_op_prepare, wc_op_run, wc_op_done, o);
    if (rc != 0) {
        wc_op_error(r, o->rq.op, rc);
        wc_op_free(o);
        return;
    }
    r->job = o;                         /* wc_op_done answers */
}

/* create and update: the body's fields, checked now (400 with details), kept for prepare. */
static struct wc_change *wc_op_from_body(struct http_req *r, const cJSON *body, bool creating)
{
    struct json_details d;
    struct wc_change *o = calloc(1, sizeof(*o));

    if (o == NULL || (o->body = cJSON_Duplicate(body, true)) == NULL) {
        free(o);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return NULL;
    }
    json_details_init(&d);
    wc_read_body(o->body, &o->in, &d);
    if (d.count == 0)
        work_centre_input_check(&o->in, creating, json_details_add, &d);
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "the work centre is not valid", json_details_take(&d));
        wc_op_free(o);
        return NULL;
    }
    json_details_cleanup(&d);
    return o;
}

static void r_wc_create(struct http_req *r, const cJSON *body)
{
    struct wc_change *o;

    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "body", "a JSON object is required");
        return;
    }
    if (route_board(r) == NULL)
        return;
    if ((o = wc_op_from_body(r, body, true)) == NULL)
        return;
    o->rq.op = WC_OP_CREATE;
    wc_op_submit(r, o);
}

static void r_wc_update(struct http_req *r, const cJSON *body)
{
    struct wc_change *o;
    struct board *b;

    if ((b = route_board(r)) == NULL)
        return;
    if (board_work_centre(b, r->ids[0]) == NULL) {
        http_reply_error(r, PB_ENOT_FOUND, "work centre not found", NULL);
        return;
    }
    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "body", "a JSON object is required");
        return;
    }
    if ((o = wc_op_from_body(r, body, false)) == NULL)
        return;
    o->rq.op = WC_OP_UPDATE;
    o->rq.wc_id = r->ids[0];
    wc_op_submit(r, o);
}

static void r_wc_delete(struct http_req *r, const cJSON *body)
{
    struct wc_change *o;
    (void)body;
    if (route_board(r) == NULL)
        return;
    if ((o = calloc(1, sizeof(*o))) == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    o->rq.op = WC_OP_DELETE;
    o->rq.wc_id = r->ids[0];
    wc_op_submit(r, o);
}

static void r_wc_reorder(struct http_req *r, const cJSON *body)
{
    const cJSON *ids = body != NULL ? cJSON_GetObjectItemCaseSensitive(body, "ids") : NULL;
    struct wc_change *o;
    int64_t *v;
    size_t n = 0;

    if (route_board(r) == NULL)
        return;
    if (!cJSON_IsArray(ids)) {
        http_reply_invalid(r, "ids", "must be an array of work centre ids");
        return;
    }
    v = malloc(((size_t)cJSON_GetArraySize(ids) + 1) * sizeof(*v));
    if (v == NULL || (o = calloc(1, sizeof(*o))) == NULL) {
        free(v);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    o->ids = v;
    for (const cJSON *e = ids->child; e != NULL; e = e->next) {
        double x = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (x < 1 || x > 9007199254740992.0 || x != (double)(int64_t)x) {
            wc_op_free(o);
            http_reply_invalid(r, "ids", "must be an array of work centre ids");
            return;
        }
        v[n++] = (int64_t)x;
    }
    o->rq.op = WC_OP_REORDER;
    o->rq.n_ids = n;
    wc_op_submit(r, o);
}

/* ================================================================ orders: update, delete */

/* The 423 body members of SPEC §4 for a lock held by someone else. */
static cJSON *locked_extra(const struct drag_lock *l, const char *order_number)
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

/* Read the field members of a PUT body into p; type errors go to d. */
static void order_read_body(const cJSON *body, struct order_patch *p, struct json_details *d)
{
    const char *s = NULL;
    bool override = false;
    order_patch_init(p);
    /* SPEC §9: "override": true passes a hard WIP limit; the caller keeps it for admins only */
    if (json_get_bool(body, "override", &override, d) == 0)
        p->wip_override = override;
    required_str(body, "orderNumber", "order_number", &p->order_number, d);
    required_str(body, "stockCode", "stock_code", &p->stock_code, d);
    required_str(body, "description", "description", &p->description, d);
    if (nullable_str(body, "currentOperation", &p->current_operation, d) == 0)
        p->has_current_operation = true;
    if (json_get_int(body, "quantityToMake", &p->quantity_to_make, d) == 0)
        p->has_quantity_to_make = true;
    if (json_get_int(body, "quantityCompleted", &p->quantity_completed, d) == 0)
        p->has_quantity_completed = true;
    if (required_str(body, "status", "status", &s, d) == 0
        && (p->status = order_status_parse(s, false)) < 0) {
        json_details_add(d, "status",
                         "must be one of not_started, in_progress, complete, on_hold, cancelled");
    }
    if (required_str(body, "priority", "priority", &s, d) == 0
        && (p->priority = order_priority_parse(s, false)) < 0)
        json_details_add(d, "priority", "must be one of low, normal, high, urgent");
    if (nullable_str(body, "dueDate", &p->due_date, d) == 0)
        p->has_due_date = true;
    if (nullable_str(body, "startDate", &p->start_date, d) == 0)
        p->has_start_date = true;
}

/* An order update (and its move) through the writer (docs/writer.md "Order updates and
 * scanner events"): the route answers what it can decide at once (400, 404, 409, 423); the
 * job's prepare decides again against the board when the tenant's earlier writes are done
 * (the order may have changed or gone, a lock may have been taken, the move may have become no
 * move); the fields and the move are written on the writer thread; done applies, publishes and
 * answers. owner first: CLOSED_HTTP clears it (r->job). */
struct update_op {
    struct http_req *owner;
    struct app *app;
    struct op_user u;                   /* u.username points at username */
    char username[PB_LOCK_USERNAME_MAX + 1];
    cJSON *body;                        /* a copy: p's strings and reason point into it */
    struct order_patch p;
    int64_t order_id, version, to_wc, pos;
    bool has_wc, has_pos;
    const char *reason;
    char tz[64];
    bool is_move;                       /* decided at prepare */
    bool stale;                         /* prepare: the version differs (409 sentence) */
    struct wip_check wip;               /* prepare refused PB_EWIP_LIMIT: the column (SPEC §9) */
    struct board *b;
    struct update_job *job;
    struct job_events ev;               /* PostgreSQL: order_updated, in the job's transaction */
    bool lock_removed;                  /* PostgreSQL, a move: the run's DELETE of the mover's
                                         * drag-lock row returned it */
};

static void update_op_free(struct update_op *u)
{
    job_events_cleanup(&u->ev);
    store_update_job_free(u->job);
    cJSON_Delete(u->body);
    free(u);
}

static int update_op_prepare(void *ctx)
{
    struct update_op *u = ctx;
    struct tenant t;
    int rc = store_board(u->app->store, u->u.tenant_id, &u->b);
    if (rc != 0)
        return rc;
    struct order *o = board_order(u->b, u->order_id);
    if (o == NULL)
        return PB_ENOT_FOUND;
    if (o->version != u->version) {
        u->stale = true;
        return PB_ECONFLICT;
    }
    u->is_move = (u->has_wc && u->to_wc != o->work_centre_id)
                 || (u->has_pos && u->pos != order_position(o));
    if (u->is_move) {                   /* SPEC §5: a lock taken meanwhile still refuses it */
        const struct drag_lock *l = lock_get(u->app->locks, u->u.tenant_id, o->id, pb_now_ms());
        if (l != NULL && l->user_id != u->u.user_id)
            return PB_ELOCKED;
    }
    /* "today" for the status rules, read now: the tenant's earlier writes are done */
    if (u->p.status >= 0 && store_tenant_get(u->app->store, u->u.tenant_id, &t) == 0) {
        snprintf(u->tz, sizeof(u->tz), "%s", t.timezone != NULL ? t.timezone : "UTC");
        tenant_cleanup(&t);
        u->p.timezone = u->tz;
    }
    struct move_request mv = {
        .order_id = o->id, .to_work_centre_id = u->has_wc ? u->to_wc : o->work_centre_id,
        .position = u->has_pos ? u->pos : -1, .user_id = u->u.user_id, .reason = u->reason,
    };
    int rc2 = store_update_prepare(u->b, o->id, &u->p, u->is_move ? &mv : NULL, &u->job);
    if (rc2 == PB_EWIP_LIMIT)           /* SPEC §9: the column it would enter or count in */
        store_wip_check(u->b, mv.to_work_centre_id, 1, false, &u->wip);
    job_events_init(&u->ev, u->app, u->u.tenant_id);
    struct order moved;
    struct move_result mr;
    if (rc2 == 0 && u->is_move && store_update_move_tried(u->job, &moved, &mr)) {
        /* SPEC §12: ONE order_moved with the updated order, sequenced by the run (and the
         * order_unlocked {moved} after it when the run's DELETE ends the mover's lock) */
        job_events_add(&u->ev, "order_moved", op_moved_json(u->app, &u->u, &mr));
    } else if (rc2 == 0 && !u->is_move && store_update_writes(u->job)) {
        /* SPEC §12: order_updated as apply will make the order, sequenced by the run */
        struct order tried;
        struct wip_check wip;
        store_update_tried(u->job, &tried);
        store_update_wip(u->job, &wip);
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddItemToObject(ev, "order", json_order_at(&tried, NULL, order_position(o)));
        op_wip_mark(ev, &wip);
        job_events_add(&u->ev, "order_updated", ev);
    }
    return rc2;
}

static int update_op_run(struct db *db, void *ctx)
{
    struct update_op *u = ctx;
    int rc;
    (void)db;                           /* the sibling store's connection */
    bool pg_move = u->app->postgres && u->is_move;
    /* a move takes the tenant's room_log row first, as a move batch does (will_add): the lock
     * row below is then taken in the batches' order */
    if ((rc = job_events_run_begin(&u->ev, pg_move)) != 0
        || (rc = store_update_write(u->app->wstore, u->job)) != 0)
        return rc;
    if (pg_move) {
        /* SPEC §5: the move ends the mover's lock; SPEC §12: only the DELETE that returned the
         * row tells, in the update's own transaction (as batch_run does for the plain moves;
         * before, the loop ran it after the commit: issue 13) */
        int n = store_drag_lock_remove(u->app->wstore, u->u.tenant_id, u->order_id,
                                       u->u.user_id, NULL, 0, NULL, NULL);
        if (n < 0)
            return n == PB_EUNAVAILABLE ? n : PB_EINTERNAL;
        u->lock_removed = n > 0;
        if (u->lock_removed) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddNumberToObject(d, "orderId", (double)u->order_id);
            cJSON_AddStringToObject(d, "reason", "moved");
            job_events_add_run(&u->ev, "order_unlocked", d);
        }
    }
    return job_events_sequence(&u->ev);
}

/* The answer to an update that failed with rc (the same sentences as on the loop). */
static void update_error(struct http_req *r, const struct update_op *u, int rc)
{
    if (rc == PB_ELOCKED) {
        const struct drag_lock *l = lock_get(r->app->locks, r->claims.tenant_id, u->order_id,
                                             pb_now_ms());
        const struct order *o = u->b != NULL ? board_order(u->b, u->order_id) : NULL;
        http_reply_error(r, PB_ELOCKED, "order is being moved by another user",
                         l != NULL && o != NULL ? locked_extra(l, o->order_number) : NULL);
        return;
    }
    if (rc == PB_EWIP_LIMIT) {
        http_reply_error(r, rc, "the work centre is at its WIP limit", op_wip_extra(&u->wip));
        return;
    }
    http_reply_error(r, rc, rc == PB_ECONFLICT
                              ? (u->stale ? "the order has changed since you saw it"
                                 : u->is_move ? "the order has changed since you saw it, or "
                                                "its orderNumber is in use"
                                 : "orderNumber is already in use")
                          : rc == PB_EVALIDATION ? "the order is not valid"
                          : rc == PB_ENOT_FOUND ? "order not found"
                          : rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                          : "could not save the order", NULL);
}

static void update_op_done(void *ctx, int status, uint64_t commit_seq)
{
    struct update_op *u = ctx;
    struct http_req *r = u->owner;
    (void)commit_seq;
    if (r != NULL)
        r->job = NULL;
    bool logged = job_events_done(&u->ev, status);
    if (status != 0) {
        if (r != NULL)
            update_error(r, u, status);
        update_op_free(u);
        return;
    }
    if (store_update_writes(u->job))
        store_commit_noted(u->app->store);      /* group commit syncs it before answers */
    bool changed = false;
    struct move_result mr;
    struct wip_check wip;
    store_update_wip(u->job, &wip);
    struct order *o = store_update_apply(u->b, u->job, &changed, &mr);
    if (u->is_move) {
        if (u->app->postgres)           /* its lock row went in update_op_run, and its events
                                         * with it when logged (SPEC §12) */
            op_publish_moved_released(u->app, &u->u, &mr, u->lock_removed, logged);
        else
            op_publish_moved(u->app, &u->u, &mr);   /* ONE order_moved with the updated order */
        schedule_changed(u->app, u->u.tenant_id,
                         (int64_t[]){ mr.from_work_centre_id, mr.to_work_centre_id }, 2);
    } else if (changed) {
        if (!logged) {                  /* else (SPEC §12) sequenced with the change */
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddItemToObject(ev, "order", json_order(o, NULL));
            op_wip_mark(ev, &wip);
            room_publish(u->app, u->u.tenant_id, "order_updated", ev);
        }
        schedule_changed(u->app, u->u.tenant_id, &o->work_centre_id, 1);    /* SPEC §9 */
    }
    if (r != NULL) {                    /* the steps are read off the loop on PostgreSQL */
        cJSON *ans = op_order_json(r->app, o, r->claims.tenant_id);
        op_wip_mark(ans, &wip);
        route_reply_order(r, o, 200, ans);
    }
    update_op_free(u);
}

/* Hand the checked update to the writer; done answers. The body is copied (the patch borrows
 * its strings). */
static void update_submit(struct http_req *r, const cJSON *request_body, int64_t version,
                          bool has_wc, int64_t to_wc, bool has_pos, int64_t pos)
{
    struct update_op *u = calloc(1, sizeof(*u));
    struct json_details d;
    char name[PB_LOCK_USERNAME_MAX + 1];

    if (u == NULL || (u->body = cJSON_Duplicate(request_body, true)) == NULL) {
        free(u);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    u->owner = r;
    u->app = r->app;
    http_op_user(r, &u->u, name, sizeof(name));
    snprintf(u->username, sizeof(u->username), "%s", name);
    u->u.username = u->username;
    json_details_init(&d);
    order_read_body(u->body, &u->p, &d);  /* checked already: the same values, from the copy */
    json_details_cleanup(&d);
    u->p.wip_override = u->p.wip_override && u->u.role == ROLE_ADMIN;     /* SPEC §9 */
    json_get_str(u->body, "reason", &u->reason, NULL);
    u->p.has_version = true;
    u->p.version = version;
    u->p.user_id = r->claims.user_id;
    u->order_id = r->ids[0];
    u->version = version;
    u->has_wc = has_wc;
    u->to_wc = to_wc;
    u->has_pos = has_pos;
    u->pos = pos;
    int rc = writes_submit(r->app, u->u.tenant_id, update_op_prepare, update_op_run,
                           update_op_done, u);
    if (rc != 0) {                      /* nothing was called: answer here */
        update_error(r, u, rc);
        update_op_free(u);
        return;
    }
    r->job = u;                         /* update_op_done answers */
}

/*
 * PUT /api/orders/:id (SPEC §4). Without a move: the field update (version +1 when something
 * changed, order_updated broadcast). When workCentreId or position differ from the order's,
 * the fields and the move are ONE change (one transaction, one version step,
 * one order_moved event carrying the updated order; docs/api-notes.md), so a body with only
 * workCentreId/position is exactly PUT /move. The checks that answer 400/409/423 run before
 * anything is written, and a failure of the write itself leaves nothing changed. With a writer
 * the write goes through it (update_submit: prepare checks again, the writer thread writes,
 * done applies, publishes and answers); without one (unit tests) it runs here
 * (op_update_move for a move).
 */
static void r_order_update(struct http_req *r, const cJSON *body)
{
    struct order_patch p;
    struct json_details d;
    struct board *b;
    struct order *o;
    char tzbuf[64] = "";
    int64_t version = 0, to_wc = 0, pos = -1;
    bool has_wc = false, has_pos = false;

    if ((b = route_board(r)) == NULL)
        return;
    if ((o = board_order(b, r->ids[0])) == NULL) {
        http_reply_error(r, PB_ENOT_FOUND, "order not found", NULL);
        return;
    }
    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "body", "a JSON object is required");
        return;
    }
    json_details_init(&d);
    int vrc = json_get_int(body, "version", &version, &d);
    if (vrc == 1)
        json_details_add(&d, "version", "is required");
    order_read_body(body, &p, &d);
    p.wip_override = p.wip_override && r->claims.role == ROLE_ADMIN;     /* SPEC §9 */
    if (json_get_id_or_null(body, "workCentreId", &to_wc, &d) == 0)
        has_wc = true;
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(body, "position");
    if (jp != NULL && !cJSON_IsNull(jp) && json_get_int(body, "position", &pos, &d) == 0) {
        has_pos = true;
        if (pos < 0)
            json_details_add(&d, "position", "must be 0 or more");
    }
    /* members of the wrong type stay "unchanged" in p, so the rules can run anyway */
    order_patch_check(o, &p, json_details_add, &d);
    bool is_move = (has_wc && to_wc != o->work_centre_id) || (has_pos && pos != order_position(o));
    if (is_move && d.count == 0) {
        int64_t target = has_wc ? to_wc : o->work_centre_id;
        const struct work_centre *wc = target > 0 ? board_work_centre(b, target) : NULL;
        if (target > 0 && (wc == NULL || !wc->is_active))
            json_details_add(&d, "workCentreId", "no such work centre");
    }
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "the order is not valid", json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);
    if (version != o->version) {
        http_reply_error(r, PB_ECONFLICT, "the order has changed since you saw it", NULL);
        return;
    }
    if (is_move) {
        const struct drag_lock *l = lock_get(r->app->locks, r->claims.tenant_id, o->id,
                                             pb_now_ms());
        if (l != NULL && l->user_id != r->claims.user_id) {
            http_reply_error(r, PB_ELOCKED, "order is being moved by another user",
                             locked_extra(l, o->order_number));
            return;
        }
    }
    if (r->app->writer != NULL) {
        update_submit(r, body, version, has_wc, to_wc, has_pos, pos);
        return;
    }

    struct tenant t;
    if (p.status >= 0 && store_tenant_get(r->app->store, r->claims.tenant_id, &t) == 0) {
        snprintf(tzbuf, sizeof(tzbuf), "%s", t.timezone != NULL ? t.timezone : "UTC");
        tenant_cleanup(&t);
        p.timezone = tzbuf;
    }
    p.has_version = true;
    p.version = version;
    p.user_id = r->claims.user_id;

    if (is_move) {
        struct op_user u;
        struct op_result res;
        char name[PB_LOCK_USERNAME_MAX + 1];
        struct move_request mv = {
            .order_id = o->id, .to_work_centre_id = has_wc ? to_wc : o->work_centre_id,
            .position = has_pos ? pos : -1, .user_id = r->claims.user_id,
            .wip_override = p.wip_override,
        };
        json_get_str(body, "reason", &mv.reason, NULL);
        http_op_user(r, &u, name, sizeof(name));
        op_update_move(r->app, &u, o->id, &p, &mv, &res);
        cJSON_Delete(res.data);
        if (res.err != 0) {
            http_reply_error(r, res.err, res.message, res.extra);
            return;
        }
        cJSON_Delete(res.extra);
        if ((o = board_order(b, r->ids[0])) == NULL) {
            http_reply_error(r, PB_EINTERNAL, "order vanished", NULL);
            return;
        }
        route_reply_order(r, o, 200, NULL);
        return;
    }

    bool changed = false;
    int rc = store_order_update(r->app->store, b, o->id, &p, &o, &changed);
    if (rc == PB_EWIP_LIMIT) {
        struct wip_check w;
        store_wip_check(b, o->work_centre_id, 1, false, &w);
        http_reply_error(r, rc, "the work centre is at its WIP limit", op_wip_extra(&w));
        return;
    }
    if (rc != 0) {
        /* the version was checked above, so a conflict here is the orderNumber */
        http_reply_error(r, rc, rc == PB_ECONFLICT ? "orderNumber is already in use"
                              : rc == PB_EVALIDATION ? "the order is not valid"
                              : rc == PB_ENOT_FOUND ? "order not found"
                              : "could not save the order", NULL);
        return;
    }
    if (changed) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddItemToObject(ev, "order", json_order(o, NULL));
        room_publish(r->app, r->claims.tenant_id, "order_updated", ev);
        schedule_changed(r->app, r->claims.tenant_id, &o->work_centre_id, 1); /* SPEC §9 */
    }
    route_reply_order(r, o, 200, NULL);
}

/* After a committed delete: order_deleted, and a drag lock on it ends with reason "deleted"
 * (SPEC §5). */
static void publish_deleted(struct app *app, int64_t tenant_id, int64_t id)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "orderId", (double)id);
    room_publish(app, tenant_id, "order_deleted", ev);
    if (op_lock_release(app, tenant_id, id, 0)) {
        cJSON *u = cJSON_CreateObject();
        cJSON_AddNumberToObject(u, "orderId", (double)id);
        cJSON_AddStringToObject(u, "reason", "deleted");
        room_publish(app, tenant_id, "order_unlocked", u);
    }
}

static void delete_error(struct http_req *r, int rc)
{
    http_reply_error(r, rc, rc == PB_ENOT_FOUND ? "order not found"
                          : rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                          : "could not delete the order", NULL);
}

/* A delete through the writer (docs/writer.md). owner first: CLOSED_HTTP clears it. */
struct delete_op {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id, user_id, order_id;
    struct board *b;
    struct delete_job *job;
    struct job_events ev;               /* PostgreSQL: order_deleted and the lock's end, in the
                                         * job's transaction */
};

static int delete_op_prepare(void *ctx)
{
    struct delete_op *d = ctx;
    int rc = store_board(d->app->store, d->tenant_id, &d->b);
    if (rc != 0 || (rc = store_delete_prepare(d->b, d->order_id, d->user_id, &d->job)) != 0)
        return rc;
    job_events_init(&d->ev, d->app, d->tenant_id);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "orderId", (double)d->order_id);
    job_events_add(&d->ev, "order_deleted", ev);
    job_events_add_unlock(&d->ev, d->order_id, "deleted");     /* SPEC §5 */
    return 0;
}

static int delete_op_run(struct db *db, void *ctx)
{
    struct delete_op *d = ctx;
    int rc;
    (void)db;                           /* the sibling store's connection */
    if ((rc = job_events_run_begin(&d->ev, false)) != 0
        || (rc = store_delete_write(d->app->wstore, d->job)) != 0)
        return rc;
    return job_events_sequence(&d->ev);
}

static void delete_op_done(void *ctx, int status, uint64_t commit_seq)
{
    struct delete_op *d = ctx;
    struct http_req *r = d->owner;
    int64_t wc = -1;                    /* the deleted order's column (SPEC §9) */
    (void)commit_seq;
    bool logged = job_events_done(&d->ev, status);
    if (status == 0) {
        store_commit_noted(d->app->store);      /* group commit syncs it before answers */
        wc = board_order(d->b, d->order_id) != NULL ? board_order(d->b, d->order_id)->work_centre_id : -1;
        store_delete_apply(d->b, d->job);
    }
    if (r != NULL) {
        r->job = NULL;
        if (status == 0)
            http_reply(r, 204, "application/json; charset=utf-8", NULL, 0);
        else
            delete_error(r, status);
    }
    if (status == 0) {
        if (!logged)                    /* else (SPEC §12) sequenced with the change */
            publish_deleted(d->app, d->tenant_id, d->order_id);
        schedule_changed(d->app, d->tenant_id, &wc, 1);     /* SPEC §9: its column */
    }
    store_delete_job_free(d->job);
    free(d);
}

static void r_order_delete(struct http_req *r, const cJSON *body)
{
    struct board *b;
    int64_t id = r->ids[0];
    (void)body;

    if ((b = route_board(r)) == NULL)
        return;
    if (r->app->writer != NULL) {
        struct delete_op *d = calloc(1, sizeof(*d));
        if (d == NULL) {
            http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
            return;
        }
        *d = (struct delete_op){ .owner = r, .app = r->app, .tenant_id = r->claims.tenant_id,
                                 .user_id = r->claims.user_id, .order_id = id };
        int rc = writes_submit(r->app, d->tenant_id, delete_op_prepare, delete_op_run,
                               delete_op_done, d);
        if (rc != 0) {
            free(d);
            delete_error(r, rc);
            return;
        }
        r->job = d;                     /* delete_op_done answers */
        return;
    }
    int64_t wc = board_order(b, id) != NULL ? board_order(b, id)->work_centre_id : -1;
    int rc = store_order_delete(r->app->store, b, id, r->claims.user_id, NULL);
    if (rc != 0) {
        delete_error(r, rc);
        return;
    }
    http_reply(r, 204, "application/json; charset=utf-8", NULL, 0);
    publish_deleted(r->app, r->claims.tenant_id, id);
    schedule_changed(r->app, r->claims.tenant_id, &wc, 1);     /* SPEC §9: its column */
}

/* ================================================================ export */


/* SPEC §6 (OWASP CSV injection): a cell starting with one of these is written with a leading
 * '\'' so that a spreadsheet shows it as text instead of evaluating it. The import removes one
 * '\'' before these characters (importers/csv_import.c keep_field). */
#define CSV_FORMULA_TRIGGERS "=+-@\t\r"

/* v matches '\''* then a trigger: a formula, or a value the import would otherwise change. */
static bool needs_escape(const char *v)
{
    while (*v == '\'')
        v++;
    return *v != '\0' && strchr(CSV_FORMULA_TRIGGERS, *v) != NULL;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF (or starts or ends
 * with a space or TAB, which readers trim); quotes inside are doubled. NULL writes nothing.
 * A value that a spreadsheet would take for a formula gets a leading '\'' (SPEC §6); so does a
 * value made of leading '\'' and then such a character, so that the import's removal of one
 * '\'' from such a cell gives back exactly what was stored (docs/import.md). */
static void csv_field(struct strbuf *sb, const char *v, bool first)
{
    if (!first)
        strbuf_put(sb, ",", 1);
    if (v == NULL || *v == '\0')
        return;
    size_t n = strlen(v);
    bool escape = needs_escape(v);
    if (strpbrk(v, ",\"\r\n") == NULL && v[0] != ' ' && v[n - 1] != ' ' && v[0] != '\t'
        && v[n - 1] != '\t') {
        if (escape)
            strbuf_put(sb, "'", 1);
        strbuf_put(sb, v, n);
        return;
    }
    strbuf_put(sb, "\"", 1);
    if (escape)
        strbuf_put(sb, "'", 1);
    for (const char *q = v; *q; q++) {
        if (*q == '"')
            strbuf_put(sb, "\"\"", 2);
        else
            strbuf_put(sb, q, 1);
    }
    strbuf_put(sb, "\"", 1);
}

static int cmp_order_id(const void *a, const void *b)
{
    const struct order *x = *(struct order *const *)a, *y = *(struct order *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* ---------------------------------------------------------------- export as .xlsx (SPEC §10) */

#define XLSX_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/* The orders copied on the loop (the board is the loop's), written as a workbook on a libuv
 * worker (libxlsxwriter takes ~1 s for 100,000 orders), answered in the after-work callback.
 * owner first: CLOSED_HTTP clears it (r->job). */
struct xlsx_job {
    struct http_req *owner;
    uv_work_t work;
    struct xlsx_export_row *rows;       /* strings malloc'd (strs), priority/status static */
    size_t n;
    char **strs;                        /* every string copied, to free */
    size_t n_strs;
    char *out;                          /* the workbook (malloc) */
    size_t len;
    int rc;
};

static void xlsx_job_free(struct xlsx_job *j)
{
    for (size_t i = 0; i < j->n_strs; i++)
        free(j->strs[i]);
    free(j->strs);
    free(j->rows);
    free(j->out);
    free(j);
}

/* A copy of s kept in j (NULL stays NULL); false when out of memory. */
static bool keep_str(struct xlsx_job *j, const char *s, const char **dst)
{
    *dst = NULL;
    if (s == NULL)
        return true;
    char *c = strdup(s);
    if (c == NULL)
        return false;
    j->strs[j->n_strs++] = c;
    *dst = c;
    return true;
}

static void xlsx_export_work(uv_work_t *w)
{
    struct xlsx_job *j = w->data;
    j->rc = xlsx_export_orders(j->rows, j->n, NULL, &j->out, &j->len);
}

static void xlsx_export_done(uv_work_t *w, int status)
{
    struct xlsx_job *j = w->data;
    struct http_req *r = j->owner;

    if (r != NULL) {
        r->job = NULL;
        if (status != 0 || j->rc != 0) {
            http_reply_error(r, PB_EINTERNAL, "the workbook could not be written", NULL);
        } else {
            http_reply_header(r, "content-disposition", "attachment; filename=\"orders.xlsx\"");
            http_reply(r, 200, XLSX_TYPE, j->out, j->len);
            j->out = NULL;
        }
    }
    xlsx_job_free(j);
}

/* GET /api/orders/export?format=xlsx with the orders all[0..n) of board b, by id. */
static void export_xlsx(struct http_req *r, const struct board *b, struct order **all, size_t n)
{
    struct xlsx_job *j = calloc(1, sizeof(*j));
    bool ok = j != NULL;

    if (ok) {
        j->rows = calloc(n + 1, sizeof(*j->rows));
        j->strs = calloc(7 * n + 1, sizeof(*j->strs));
        ok = j->rows != NULL && j->strs != NULL;
    }
    for (size_t i = 0; ok && i < n; i++) {
        const struct order *o = all[i];
        const struct work_centre *wc = o->work_centre_id > 0
                                           ? board_work_centre(b, o->work_centre_id) : NULL;
        struct xlsx_export_row *x = &j->rows[i];
        x->quantity_to_make = o->quantity_to_make;
        x->quantity_completed = o->quantity_completed;
        x->priority = order_priority_name(o->priority);
        x->status = order_status_name(o->status);
        ok = keep_str(j, o->order_number, &x->order_number)
             && keep_str(j, o->stock_code, &x->stock_code)
             && keep_str(j, o->description, &x->description)
             && keep_str(j, o->due_date, &x->due_date)
             && keep_str(j, o->start_date, &x->start_date)
             && keep_str(j, wc != NULL ? wc->code : NULL, &x->work_centre_code)
             && keep_str(j, o->current_operation, &x->current_operation);
        j->n = i + 1;
    }
    if (!ok) {
        if (j != NULL)
            xlsx_job_free(j);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    j->owner = r;
    j->work.data = j;
    if (uv_queue_work(r->app->loop, &j->work, xlsx_export_work, xlsx_export_done) == 0) {
        r->job = j;
        return;
    }
    xlsx_export_work(&j->work);         /* no worker: here */
    xlsx_export_done(&j->work, 0);
}

/* GET /api/orders/export: every live order, by id, with exactly the SPEC §6 columns; as CSV,
 * or with ?format=xlsx as a workbook (SPEC §10). */
static void r_orders_export(struct http_req *r, const cJSON *body)
{
    static const char header[] =
        "order_number,stock_code,description,quantity_to_make,quantity_completed,priority,"
        "status,due_date,start_date,work_centre_code,current_operation\r\n";
    struct strbuf sb = { 0 };
    struct board *b;
    char num[32];
    char fmt[8];
    bool xlsx = false;
    (void)body;

    if (http_query(r, "format", fmt, sizeof(fmt)) != NULL) {
        xlsx = strcmp(fmt, "xlsx") == 0;
        if (!xlsx && strcmp(fmt, "csv") != 0) {
            struct json_details d;
            json_details_init(&d);
            json_details_add(&d, "format", "must be csv or xlsx");
            http_reply_error(r, PB_EVALIDATION, "format must be csv or xlsx", json_details_take(&d));
            return;
        }
    }
    if ((b = route_board(r)) == NULL)
        return;
    struct order **all = malloc((b->n_orders + 1) * sizeof(*all));
    size_t n = 0;
    if (all == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    for (size_t c = 0; c <= b->n_work_centres; c++) {
        const struct column *col = c < b->n_work_centres ? &b->columns[c] : &b->backlog;
        for (struct order *o = board_column_first(col); o != NULL; o = board_column_next(o))
            all[n++] = o;
    }
    qsort(all, n, sizeof(*all), cmp_order_id);
    if (xlsx) {
        export_xlsx(r, b, all, n);
        free(all);
        return;
    }
    strbuf_put(&sb, header, sizeof(header) - 1);
    for (size_t i = 0; i < n; i++) {
        const struct order *o = all[i];
        const struct work_centre *wc = o->work_centre_id > 0
                                           ? board_work_centre(b, o->work_centre_id) : NULL;
        csv_field(&sb, o->order_number, true);
        csv_field(&sb, o->stock_code, false);
        csv_field(&sb, o->description, false);
        snprintf(num, sizeof(num), "%lld", (long long)o->quantity_to_make);
        csv_field(&sb, num, false);
        snprintf(num, sizeof(num), "%lld", (long long)o->quantity_completed);
        csv_field(&sb, num, false);
        csv_field(&sb, order_priority_name(o->priority), false);
        csv_field(&sb, order_status_name(o->status), false);
        csv_field(&sb, o->due_date, false);
        csv_field(&sb, o->start_date, false);
        csv_field(&sb, wc != NULL ? wc->code : NULL, false);
        csv_field(&sb, o->current_operation, false);
        strbuf_put(&sb, "\r\n", 2);
    }
    free(all);
    if (sb.oom) {
        free(sb.p);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    http_reply_header(r, "content-disposition", "attachment; filename=\"orders.csv\"");
    http_reply(r, 200, "text/csv; charset=utf-8", sb.p, sb.len);
}

/* ================================================================ audit log */

static cJSON *id_or_null(int64_t v)
{
    return v > 0 ? cJSON_CreateNumber((double)v) : cJSON_CreateNull();
}

static cJSON *audit_json(const struct audit_entry *e)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)e->id);
    cJSON_AddStringToObject(j, "eventType", e->event_type);
    cJSON_AddItemToObject(j, "orderId", id_or_null(e->order_id));
    cJSON_AddItemToObject(j, "fromWorkCentreId", id_or_null(e->from_work_centre_id));
    cJSON_AddItemToObject(j, "toWorkCentreId", id_or_null(e->to_work_centre_id));
    cJSON_AddItemToObject(j, "userId", id_or_null(e->user_id));
    cJSON_AddItemToObject(j, "username", e->username != NULL ? cJSON_CreateString(e->username)
                                                             : cJSON_CreateNull());
    cJSON *data = e->event_data != NULL ? cJSON_Parse(e->event_data) : NULL;
    if (data == NULL && e->event_data != NULL)
        data = cJSON_CreateString(e->event_data);   /* not JSON (hand-written row): as text */
    cJSON_AddItemToObject(j, "eventData", data != NULL ? data : cJSON_CreateNull());
    cJSON_AddItemToObject(j, "queueDepthFrom", e->queue_depth_from >= 0
                          ? cJSON_CreateNumber((double)e->queue_depth_from) : cJSON_CreateNull());
    cJSON_AddItemToObject(j, "queueDepthTo", e->queue_depth_to >= 0
                          ? cJSON_CreateNumber((double)e->queue_depth_to) : cJSON_CreateNull());
    cJSON_AddStringToObject(j, "timestamp", e->timestamp);
    return j;
}

/* GET /api/audit-log, read off the loop (reads_submit): owner first (CLOSED_HTTP clears it). */
struct audit_job {
    struct http_req *owner;
    int64_t tenant_id;
    struct audit_query q;               /* event_type and since point into this job */
    char type[PB_AUDIT_EVENT_TYPE_MAX + 16], since_in[80], since[PB_TIMESTAMP_LEN];
    struct audit_entry *e;              /* the rows read */
    size_t n;
    int64_t total;
};

static void audit_job_rows_free(struct audit_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        audit_entry_cleanup(&j->e[i]);
    free(j->e);
    j->e = NULL;
    j->n = 0;
}

/* Reader (or, on SQLite, the loop): `since` in the tenant's zone, then the rows. */
static int audit_job_read(struct store *rs, void *ctx)
{
    struct audit_job *j = ctx;
    char tz[64] = "UTC";
    audit_job_rows_free(j);             /* a second run overwrites the first */
    if (j->since_in[0] != '\0') {
        struct tenant t;
        if (store_tenant_get(rs, j->tenant_id, &t) == 0) {
            snprintf(tz, sizeof(tz), "%s", t.timezone != NULL ? t.timezone : "UTC");
            tenant_cleanup(&t);
        }
        if (audit_since_parse(j->since_in, tz, j->since) != 0)
            return PB_EVALIDATION;      /* the format was checked in UTC: not reached */
        j->q.since = j->since;
    }
    return store_audit_list(rs, j->tenant_id, &j->q, &j->e, &j->n, &j->total) != 0
         ? PB_EINTERNAL : 0;
}

static void audit_job_done(void *ctx, int status)
{
    struct audit_job *j = ctx;
    struct http_req *r = j->owner;
    if (r != NULL) {
        r->job = NULL;
        if (status != 0) {
            http_reply_error(r, status == PB_ERATE_LIMITED || status == PB_EVALIDATION ? status
                                : PB_EINTERNAL, "could not read the audit log", NULL);
        } else {
            cJSON *a = cJSON_CreateArray();
            for (size_t i = 0; i < j->n; i++)
                cJSON_AddItemToArray(a, audit_json(&j->e[i]));
            cJSON *o = json_data(a);
            cJSON_AddNumberToObject(o, "total", (double)j->total);
            cJSON_AddNumberToObject(o, "limit", (double)j->q.limit);
            cJSON_AddNumberToObject(o, "offset", (double)j->q.offset);
            http_reply_json(r, 200, o);
        }
    }
    audit_job_rows_free(j);
    free(j);
}

static void r_audit_log(struct http_req *r, const cJSON *body)
{
    char since[PB_TIMESTAMP_LEN];
    struct json_details d;
    bool bad = false;
    struct audit_job *j = calloc(1, sizeof(*j));
    (void)body;

    if (j == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    j->owner = r;
    j->tenant_id = r->claims.tenant_id;
    json_details_init(&d);
    j->q.limit = http_query_int(r, "limit", 50, 0, 500, &bad);
    if (bad)
        json_details_add(&d, "limit", "must be a whole number of at least 0");
    bad = false;
    j->q.offset = http_query_int(r, "offset", 0, 0, INT64_MAX, &bad);
    if (bad)
        json_details_add(&d, "offset", "must be a whole number of at least 0");
    bad = false;
    j->q.order_id = http_query_int(r, "orderId", 0, 1, INT64_MAX, &bad);
    if (bad)
        json_details_add(&d, "orderId", "must be an order id");
    const char *ty = http_query(r, "eventType", j->type, sizeof(j->type));
    if (ty != NULL && *ty != '\0') {
        if (strlen(ty) > PB_AUDIT_EVENT_TYPE_MAX)
            json_details_add(&d, "eventType", "is too long");
        j->q.event_type = ty;
    }
    const char *si = http_query(r, "since", j->since_in, sizeof(j->since_in));
    if (si == NULL)
        j->since_in[0] = '\0';
    /* the format is the same in every zone: checked here, read in the tenant's by the job */
    if (si != NULL && *si != '\0' && audit_since_parse(si, "UTC", since) != 0)
        json_details_add(&d, "since", "must be an ISO-8601 timestamp or a date YYYY-MM-DD");
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "invalid query parameter", json_details_take(&d));
        free(j);
        return;
    }
    json_details_cleanup(&d);
    r->job = j;                         /* audit_job_done answers (at once on SQLite) */
    int rc = reads_submit(r->app, audit_job_read, audit_job_done, j);
    if (rc != 0) {
        r->job = NULL;
        free(j);
        http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                         "could not read the audit log", NULL);
    }
}

/* ================================================================ the route table */

/* Order matters only among patterns that can match the same path; ":id" matches numbers only,
 * so "/api/work-centres/reorder" and "/api/orders/export" never meet ":id". */
const struct route pb_routes_orders[] = {
    { M_POST, "/api/work-centres", R_ADMIN, ROUTE_WRITER | ROUTE_BOARD, r_wc_create, NULL },
    { M_PUT, "/api/work-centres/reorder", R_ADMIN, ROUTE_WRITER | ROUTE_BOARD, r_wc_reorder, NULL },
    { M_PUT, "/api/work-centres/:id", R_ADMIN, ROUTE_WRITER | ROUTE_BOARD, r_wc_update, NULL },
    { M_DELETE, "/api/work-centres/:id", R_ADMIN, ROUTE_WRITER | ROUTE_BOARD, r_wc_delete, NULL },
    { M_GET, "/api/orders/export", R_ANY, ROUTE_BOARD, r_orders_export, NULL },
    { M_PUT, "/api/orders/:id", R_ADMIN | R_SCHEDULER, ROUTE_WRITER | ROUTE_BOARD, r_order_update, NULL },
    { M_DELETE, "/api/orders/:id", R_ADMIN, ROUTE_WRITER | ROUTE_BOARD, r_order_delete, NULL },
    { M_GET, "/api/audit-log", R_ADMIN | R_SCHEDULER, 0, r_audit_log, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
