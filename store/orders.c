/*
 * orders — write-through order mutations: create, move, import; and reading routing steps.
 *
 * Every mutation has the same three phases (SPEC §1 write-through):
 *   1. prepare: validate against the cache and allocate everything the cache will need
 *      (order structs, column capacity, hash capacity). Failing here changes nothing.
 *   2. write: BEGIN IMMEDIATE, the SQL, the audit entry, COMMIT. Failing here rolls back and
 *      frees what phase 1 allocated: the cache was never touched.
 *   3. apply: change the cache. Nothing in this phase can fail.
 */
#include "store/store_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- helpers */

static char *dup_opt(const char *v)
{
    return v != NULL && *v != '\0' ? strdup(v) : NULL;
}

static void copy_date(char dst[PB_DATE_LEN], const char *v)
{
    snprintf(dst, PB_DATE_LEN, "%s", v != NULL ? v : "");
}

/* A new heap order with the fields of `in` (id 0, version 1). NULL on allocation failure. */
static struct order *order_from_input(const struct order_input *in, int64_t user_id,
                                      const char *now)
{
    struct order *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->order_number = strdup(in->order_number);
    o->stock_code = strdup(in->stock_code);
    o->description = strdup(in->description);
    o->current_operation = dup_opt(in->current_operation);
    if (o->order_number == NULL || o->stock_code == NULL || o->description == NULL
        || (in->current_operation != NULL && *in->current_operation != '\0'
            && o->current_operation == NULL)) {
        order__free(o);
        return NULL;
    }
    o->quantity_to_make = in->quantity_to_make;
    o->quantity_completed = in->quantity_completed;
    o->work_centre_id = in->work_centre_id;
    o->status = (enum order_status)in->status;
    o->priority = (enum order_priority)in->priority;
    copy_date(o->due_date, in->due_date);
    copy_date(o->start_date, in->start_date);
    o->created_by = user_id;
    snprintf(o->created_at, sizeof(o->created_at), "%s", now);
    snprintf(o->updated_at, sizeof(o->updated_at), "%s", now);
    o->version = 1;
    return o;
}

/* The target column for an order placed in work centre wc_id: NULL when the centre is unknown
 * in this tenant or inactive (new orders and moves may not enter an inactive centre). */
static struct column *target_column(struct board *b, int64_t wc_id)
{
    if (wc_id != 0) {
        const struct work_centre *w = board_work_centre(b, wc_id);
        if (w == NULL || !w->is_active)
            return NULL;
    }
    return board_column(b, wc_id);
}

static int insert_order(struct store *s, int64_t tenant_id, const struct order *o,
                        const char *now, int *rc)
{
    struct db_stmt *st = store__stmt(s, ST_ORDER_INSERT);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, o->order_number, -1, DB_STATIC);
    db_bind_text(st, 3, o->stock_code, -1, DB_STATIC);
    db_bind_text(st, 4, o->description, -1, DB_STATIC);
    store__bind_text_opt(st, 5, o->current_operation);
    db_bind_int64(st, 6, o->quantity_to_make);
    db_bind_int64(st, 7, o->quantity_completed);
    store__bind_id_opt(st, 8, o->work_centre_id);
    db_bind_int64(st, 9, o->rank);
    db_bind_text(st, 10, order_status_name(o->status), -1, DB_STATIC);
    db_bind_text(st, 11, order_priority_name(o->priority), -1, DB_STATIC);
    store__bind_text_opt(st, 12, o->due_date);
    store__bind_text_opt(st, 13, o->start_date);
    store__bind_id_opt(st, 14, o->created_by);
    db_bind_text(st, 15, now, -1, DB_STATIC);
    return store__run(s, st, "order insert", rc);
}

static int insert_step(struct store *s, int64_t tenant_id, int64_t order_id,
                       const struct step *p)
{
    struct db_stmt *st = store__stmt(s, ST_STEP_INSERT);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, order_id);
    db_bind_int64(st, 3, p->step_number);
    db_bind_text(st, 4, p->operation_name != NULL ? p->operation_name : "", -1,
                      DB_STATIC);
    store__bind_id_opt(st, 5, p->work_centre_id);
    const char *status = step_status_name(p->status);
    db_bind_text(st, 6, status != NULL ? status : "pending", -1, DB_STATIC);
    if (p->planned_duration_minutes >= 0)
        db_bind_int64(st, 7, p->planned_duration_minutes);
    if (p->actual_duration_minutes >= 0)
        db_bind_int64(st, 8, p->actual_duration_minutes);
    db_bind_int64(st, 9, p->quantity_completed);
    store__bind_text_opt(st, 10, p->started_at);
    store__bind_text_opt(st, 11, p->completed_at);
    return store__run(s, st, "step insert", NULL);
}

/* ---------------------------------------------------------------- tenant cap (SPEC §4) */

size_t store_max_orders(const struct store *s)
{
    return s->max_orders;
}

int store_orders_fit(const struct store *s, const struct board *b, size_t n_new)
{
    if (s->max_orders == 0 || n_new == 0)
        return 0;
    return b->n_orders > s->max_orders || n_new > s->max_orders - b->n_orders
               ? PB_ETOO_LARGE : 0;
}

/* ---------------------------------------------------------------- create */

/* An order create in phases (store.h store_create_prepare). */
struct create_job {
    struct order *o;                    /* staged; the board's after apply */
    struct column *col;
    struct rank_plan rp;
    const struct step *steps;           /* the caller's, until write is done */
    size_t n_steps;
    int64_t tenant_id, user_id;
    size_t depth;                       /* its column's size before */
    char now[PB_TIMESTAMP_LEN];
    char *data;                         /* audit event_data */
    struct wip_check wip;               /* SPEC §9: its column's WIP with the new order */
    bool applied;
};

void store_create_job_free(struct create_job *j)
{
    if (j == NULL)
        return;
    if (!j->applied)
        order__free(j->o);
    free(j->data);
    free(j);
}

int store_create_prepare(struct store *s, struct board *b, const struct order_input *in,
                         const struct step *steps, size_t n_steps, int64_t user_id,
                         bool wip_override, struct create_job **out)
{
    struct create_job *j;
    struct wip_check wip;
    char *num = NULL;
    int rc;

    *out = NULL;
    if (in->order_number == NULL || in->stock_code == NULL || in->description == NULL)
        return PB_EVALIDATION;
    struct column *col = target_column(b, in->work_centre_id);
    if (col == NULL)
        return PB_EVALIDATION;
    for (size_t i = 0; i < n_steps; i++)
        if (steps[i].work_centre_id != 0 && board_work_centre(b, steps[i].work_centre_id) == NULL)
            return PB_EVALIDATION;
    if (board_order_by_number(b, in->order_number) != NULL)
        return PB_ECONFLICT;
    if (store_orders_fit(s, b, 1) != 0)
        return PB_ETOO_LARGE;
    /* SPEC §9 WIP limits: a new order that counts adds one to its column (the backlog has none) */
    bool counts = store_wip_counts((enum order_status)in->status);
    if ((rc = store_wip_check(b, in->work_centre_id, counts, wip_override, &wip)) != 0)
        return rc;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    *j = (struct create_job){ .col = col, .steps = steps, .n_steps = n_steps,
                              .tenant_id = b->tenant_id, .user_id = user_id, .wip = wip };
    pb_now_timestamp(j->now);
    j->o = order_from_input(in, user_id, j->now);
    bool oom = false;
    if (j->o != NULL)
        j->o->route = board__route_new(steps, n_steps, &oom);  /* SPEC §9 work, in memory */
    if (j->o == NULL || oom || hmap_reserve(&b->index->by_id, b->n_orders + 1) != 0
        || hmap_reserve(&b->index->by_number, b->n_orders + 1) != 0)
        goto nomem;
    j->depth = board_column_len(col);
    rank__plan(col, j->depth, NULL, &j->rp);        /* the end of its column */
    j->o->rank = j->rp.rank;
    num = store__json_quote(j->o->order_number);
    if (num == NULL || (j->data = malloc(strlen(num) + 128)) == NULL)
        goto nomem;
    int len = sprintf(j->data, "{\"orderNumber\":%s", num);
    if (wip.exceeded)                   /* SPEC §9: the audit says a limit was passed, as a move's */
        len += sprintf(j->data + len, ",\"wipExceeded\":true,\"wipLimit\":%lld,\"count\":%lld%s",
                       (long long)wip.limit, (long long)wip.count,
                       wip.overridden ? ",\"wipOverride\":true" : "");
    strcpy(j->data + len, "}");
    free(num);
    *out = j;
    return 0;
nomem:
    free(num);
    store_create_job_free(j);
    return PB_EINTERNAL;
}

int store_create_write(struct store *s, struct create_job *j)
{
    int sqlrc = 0;
    if (insert_order(s, j->tenant_id, j->o, j->now, &sqlrc) != 0)
        return sqlrc == DB_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
    j->o->id = db_last_insert_rowid(s->db);
    if (rank__write(s, j->tenant_id, &j->rp) != 0)
        return PB_EINTERNAL;
    for (size_t i = 0; i < j->n_steps; i++)
        if (insert_step(s, j->tenant_id, j->o->id, &j->steps[i]) != 0)
            return PB_EINTERNAL;
    if (store__audit(s, j->tenant_id, "order_created", j->o->id, 0, j->o->work_centre_id,
                     j->user_id, j->data, -1, (int64_t)j->depth, j->now) != 0)
        return PB_EINTERNAL;
    return 0;
}

void store_create_wip(const struct create_job *j, struct wip_check *out)
{
    *out = j->wip;
}

const struct order *store_create_staged(const struct create_job *j, int64_t *position)
{
    *position = (int64_t)j->depth;
    return j->o;
}

struct order *store_create_apply(struct board *b, struct create_job *j)
{
    struct order *o = j->o;
    rank__apply(&j->rp);
    ostree_insert_at(&j->col->orders, SIZE_MAX, &o->column_node);
    hmap_put_int(&b->index->by_id, o->id, o);
    hmap_put_str(&b->index->by_number, o->order_number, o);
    b->n_orders++;
    b->version++;
    j->applied = true;
    assert(board__order_check(b, o));
    return o;
}

int store_order_create(struct store *s, struct board *b, const struct order_input *in,
                       const struct step *steps, size_t n_steps, int64_t user_id,
                       bool wip_override, struct order **out, struct wip_check *wip)
{
    struct create_job *j;
    int rc = store_create_prepare(s, b, in, steps, n_steps, user_id, wip_override, &j);
    if (rc != 0)
        return rc;
    if (store__begin(s) != 0) {
        store_create_job_free(j);
        return PB_EINTERNAL;
    }
    if ((rc = store_create_write(s, j)) != 0) {
        store__rollback(s);
        store_create_job_free(j);
        return rc;
    }
    if (store__commit(s) != 0) {
        store_create_job_free(j);
        return PB_EINTERNAL;
    }
    if (wip != NULL)
        *wip = j->wip;
    struct order *o = store_create_apply(b, j);
    store_create_job_free(j);
    if (out != NULL)
        *out = o;
    return 0;
}

/* ---------------------------------------------------------------- steps */

int store_order_steps(struct store *s, int64_t tenant_id, int64_t order_id,
                      struct step **out, size_t *n)
{
    struct db_stmt *st = store__stmt(s, ST_ORDER_EXISTS);
    struct step *v = NULL;
    size_t len = 0, cap = 0;
    int r;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, order_id);
    r = db_step(st);
    db_reset(st);
    if (r == DB_DONE)
        return PB_ENOT_FOUND;
    if (r != DB_ROW) {
        store__error(s, "order exists");
        return PB_EINTERNAL;
    }

    st = store__stmt(s, ST_STEP_LIST);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, order_id);
    while ((r = db_step(st)) == DB_ROW) {
        if (len == cap) {
            cap = cap ? 2 * cap : 8;
            struct step *nv = realloc(v, cap * sizeof(*nv));
            if (nv == NULL)
                goto fail;
            v = nv;
        }
        struct step *p = &v[len];
        memset(p, 0, sizeof(*p));
        p->step_number = db_column_int64(st, 0);
        p->operation_name = store__col_strdup(st, 1);
        if (p->operation_name == NULL)
            goto fail;
        len++;
        p->work_centre_id = db_column_int64(st, 2);
        int status = step_status_parse((const char *)db_column_text(st, 3));
        p->status = status >= 0 ? (enum step_status)status : STEP_PENDING;
        p->planned_duration_minutes =
            db_column_type(st, 4) == DB_NULL ? -1 : db_column_int64(st, 4);
        p->actual_duration_minutes =
            db_column_type(st, 5) == DB_NULL ? -1 : db_column_int64(st, 5);
        p->quantity_completed = db_column_int64(st, 6);
        store__col_copy(st, 7, p->started_at, sizeof(p->started_at));
        store__col_copy(st, 8, p->completed_at, sizeof(p->completed_at));
    }
    if (r != DB_DONE) {
        store__error(s, "step list");
        goto fail;
    }
    db_reset(st);
    *out = v;
    *n = len;
    return 0;

fail:
    db_reset(st);
    for (size_t i = 0; i < len; i++)
        step_cleanup(&v[i]);
    free(v);
    return PB_EINTERNAL;
}

/* ---------------------------------------------------------------- move */

void store__now(char now[PB_TIMESTAMP_LEN], char stamp[PB_STAMP_LEN])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(now, PB_TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(stamp, PB_STAMP_LEN, "%.19s.%03dZ", now, (int)(ts.tv_nsec / 1000000));
}

int store__move_prepare(struct board *b, const struct move_request *req, int status,
                        struct move_plan *mp)
{
    struct order *o = board_order(b, req->order_id);
    char *reason;
    int rc;

    memset(mp, 0, sizeof(*mp));
    if (o == NULL)
        return PB_ENOT_FOUND;
    if (req->position < -1)
        return PB_EVALIDATION;
    mp->dst = target_column(b, req->to_work_centre_id);
    if (mp->dst == NULL)
        return PB_EVALIDATION;
    if (req->has_version && req->version != o->version)
        return PB_ECONFLICT;
    if (req->has_from && req->from_work_centre_id != o->work_centre_id)
        return PB_ECONFLICT;
    mp->o = o;
    mp->expect_version = -1;
    mp->src = board_column(b, o->work_centre_id);
    assert(mp->src != NULL && board_column_at(mp->src, (size_t)order_position(o)) == o);
    /* SPEC §9 WIP limits: entering another column adds one counted order to it */
    bool adds = mp->src != mp->dst
                && store_wip_counts(status >= 0 ? (enum order_status)status : o->status);
    if ((rc = store_wip_check(b, mp->dst->work_centre_id, adds, req->wip_override, &mp->wip))
        != 0)
        return rc;

    mp->old = order_position(o);
    mp->depth_from = (int64_t)board_column_len(mp->src);
    mp->depth_to = (int64_t)board_column_len(mp->dst);
    if (mp->src == mp->dst) {
        mp->p = req->position == -1 || req->position >= mp->depth_to ? mp->depth_to - 1
                                                                       : req->position;
        rank__plan(mp->dst, (size_t)mp->p, o, &mp->rp);
    } else {
        mp->p = req->position == -1 || req->position > mp->depth_to ? mp->depth_to
                                                                      : req->position;
        rank__plan(mp->dst, (size_t)mp->p, NULL, &mp->rp);
    }
    mp->leaves_backlog = mp->src == &b->backlog && mp->dst != &b->backlog;
    mp->user_id = req->user_id;
    reason = store__json_quote(req->reason);
    if (reason == NULL || (mp->data = malloc(strlen(reason) + 192)) == NULL) {
        free(reason);
        return PB_EINTERNAL;
    }
    int len = sprintf(mp->data, "{\"reason\":%s,\"fromPosition\":%lld,\"toPosition\":%lld",
                      reason, (long long)mp->old, (long long)mp->p);
    if (mp->wip.exceeded)               /* SPEC §9: the audit says a limit was passed, and how */
        len += sprintf(mp->data + len, ",\"wipExceeded\":true,\"wipLimit\":%lld,\"count\":%lld%s",
                       (long long)mp->wip.limit, (long long)mp->wip.count,
                       mp->wip.overridden ? ",\"wipOverride\":true" : "");
    strcpy(mp->data + len, "}");
    free(reason);
    return 0;
}

int store__move_write(struct store *s, struct board *b, const struct move_plan *mp,
                      const char *now, const char *stamp)
{
    const struct column *src = mp->src, *dst = mp->dst;
    if (rank__write(s, b->tenant_id, &mp->rp) != 0)
        return PB_EINTERNAL;
    struct db_stmt *st = store__stmt(s, ST_ORDER_MOVE);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, b->tenant_id);
    db_bind_int64(st, 2, mp->o->id);
    store__bind_id_opt(st, 3, dst->work_centre_id);
    db_bind_int64(st, 4, mp->rp.rank);
    db_bind_text(st, 5, now, -1, DB_STATIC);
    db_bind_int(st, 6, mp->leaves_backlog);
    db_bind_text(st, 7, stamp, -1, DB_STATIC);
    db_bind_int64(st, 8, mp->expect_version);
    if (store__run(s, st, "order move", NULL) != 0)
        return PB_EINTERNAL;
    if (db_changes(s->db) == 0)
        return PB_ECONFLICT;            /* another node moved or changed it first */
    if (store__audit(s, b->tenant_id, "order_moved", mp->o->id, src->work_centre_id,
                     dst->work_centre_id, mp->user_id, mp->data, mp->depth_from, mp->depth_to,
                     now) != 0)
        return PB_EINTERNAL;
    return 0;
}

/* store__move_apply without freeing the plan's audit data (a tried move is applied twice). */
static void move_apply_keep(struct board *b, struct move_plan *mp, const char *now,
                            struct move_result *out)
{
    struct column *src = mp->src, *dst = mp->dst;
    struct order *o = mp->o;
    int64_t p = mp->p;
    ostree_remove(&src->orders, &o->column_node);
    rank__apply(&mp->rp);
    o->rank = mp->rp.rank;
    ostree_insert_at(&dst->orders, (size_t)p, &o->column_node);
    o->work_centre_id = dst->work_centre_id;
    o->version++;
    memcpy(o->updated_at, now, sizeof(o->updated_at));
    b->version++;
    assert(board__order_check(b, o));
    if (out != NULL)
        store__move_result(mp, o, out);
}

void store__move_result(const struct move_plan *mp, struct order *o, struct move_result *out)
{
    out->order = o;
    out->from_work_centre_id = mp->src->work_centre_id;
    out->to_work_centre_id = mp->dst->work_centre_id;
    out->position = mp->p;
    out->queue_depth_from = mp->depth_from;
    out->queue_depth_to = mp->depth_to;
    out->wip = mp->wip;
    out->relabelled = mp->rp.count > 0;
}

void store__move_apply(struct board *b, struct move_plan *mp, const char *now,
                       struct move_result *out)
{
    move_apply_keep(b, mp, now, out);
    store__move_cleanup(mp);
}

void store__move_cleanup(struct move_plan *mp)
{
    free(mp->data);
    mp->data = NULL;
}

int store_order_move(struct store *s, struct board *b, const struct move_request *req,
                     struct move_result *out)
{
    char now[PB_TIMESTAMP_LEN], stamp[PB_STAMP_LEN];
    struct move_plan mp;
    int rc = store__move_prepare(b, req, -1, &mp);
    if (rc != 0)
        return rc;
    store__now(now, stamp);
    /* phase 2: the move (and a rare relabel) and the audit entry in one transaction */
    if (store__begin(s) != 0)
        goto fail;
    if (store__move_write(s, b, &mp, now, stamp) != 0) {
        store__rollback(s);
        goto fail;
    }
    if (store__commit(s) != 0)
        goto fail;
    /* phase 3: apply to the cache (no allocation) */
    store__move_apply(b, &mp, now, out);
    return 0;

fail:
    store__move_cleanup(&mp);
    return PB_EINTERNAL;
}

/* ---------------------------------------------------------------- move, in phases */

/* A move through the writer (store.h store_move_prepare): the plan, its two stamps and, once
 * tried (store_move_try), what undoes it and the relabel rows it writes. */
struct move_job {
    struct move_plan mp;
    int64_t tenant_id;
    char now[PB_TIMESTAMP_LEN], stamp[PB_STAMP_LEN];
    bool tried;                         /* applied for planning, then undone */
    int64_t old_rank, old_version;
    char old_updated_at[PB_TIMESTAMP_LEN];
    struct order **win;                 /* the relabel window (rp.count orders) */
    int64_t *win_old, *win_new;         /* their ranks before and after */
};

int store_move_prepare(struct board *b, const struct move_request *req, struct move_job **out)
{
    struct move_job *j = calloc(1, sizeof(*j));
    int rc;
    *out = NULL;
    if (j == NULL)
        return PB_EINTERNAL;
    if ((rc = store__move_prepare(b, req, -1, &j->mp)) != 0) {
        store__move_cleanup(&j->mp);
        free(j);
        return rc;
    }
    j->tenant_id = b->tenant_id;
    j->mp.expect_version = j->mp.o->version;    /* on top of the batch's earlier tries */
    store__now(j->now, j->stamp);
    *out = j;
    return 0;
}

/* The order after o in the relabel window walk (rank.c's window_next: the placed order is
 * skipped when the move stays in its column). */
static struct order *win_next(const struct rank_plan *rp, const struct order *o)
{
    struct order *x = board_column_next(o);
    if (x != NULL && x == rp->skip)
        x = board_column_next(x);
    return x;
}

int store_move_try(struct board *b, struct move_job *j)
{
    const struct rank_plan *rp = &j->mp.rp;
    struct order *o = j->mp.o;
    size_t n = rp->count;

    if (n > 0) {
        j->win = calloc(n, sizeof(*j->win));
        j->win_old = calloc(n, sizeof(*j->win_old));
        j->win_new = calloc(n, sizeof(*j->win_new));
        if (j->win == NULL || j->win_old == NULL || j->win_new == NULL)
            return PB_EINTERNAL;
        struct order *w = rp->first;
        for (size_t k = 0; k < n; k++, w = win_next(rp, w)) {
            j->win[k] = w;
            j->win_old[k] = w->rank;
        }
    }
    j->old_rank = o->rank;
    j->old_version = o->version;
    memcpy(j->old_updated_at, o->updated_at, sizeof(j->old_updated_at));
    move_apply_keep(b, &j->mp, j->now, NULL);
    for (size_t k = 0; k < n; k++)
        j->win_new[k] = j->win[k]->rank;
    j->tried = true;
    return 0;
}

void store_move_tried(const struct move_job *j, struct move_result *out)
{
    store__move_result(&j->mp, j->mp.o, out);
}

void store_move_untry(struct board *b, struct move_job *j)
{
    struct move_plan *mp = &j->mp;
    struct order *o = mp->o;
    assert(j->tried);
    ostree_remove(&mp->dst->orders, &o->column_node);
    for (size_t k = 0; k < mp->rp.count; k++)
        j->win[k]->rank = j->win_old[k];
    ostree_insert_at(&mp->src->orders, (size_t)mp->old, &o->column_node);
    o->rank = j->old_rank;
    o->work_centre_id = mp->src->work_centre_id;
    o->version = j->old_version;
    memcpy(o->updated_at, j->old_updated_at, sizeof(o->updated_at));
    b->version--;
    assert(board__order_check(b, o));
}

int store_move_write(struct store *s, struct board *b, struct move_job *j)
{
    if (!j->tried)
        return store__move_write(s, b, &j->mp, j->now, j->stamp);
    /* tried: the board is back where it was; the window's rows come from the try */
    struct move_plan mp = j->mp;
    mp.rp.count = 0;                    /* written here instead of by rank__write */
    for (size_t k = 0; k < j->mp.rp.count; k++) {
        struct db_stmt *st = store__stmt(s, ST_ORDER_RANK);
        if (st == NULL)
            return PB_EINTERNAL;
        db_bind_int64(st, 1, b->tenant_id);
        db_bind_int64(st, 2, j->win[k]->id);
        db_bind_int64(st, 3, j->win_new[k]);
        if (store__run(s, st, "rank relabel", NULL) != 0)
            return PB_EINTERNAL;
    }
    s->relabelled += j->mp.rp.count;
    return store__move_write(s, b, &mp, j->now, j->stamp);
}

int store_move_check_position(struct store *s, const struct move_job *j)
{
    /* After the move's own write in this transaction: the orders of the target column ranked
     * before it, counted in the database, must be the position the cache planned, and none
     * may hold its rank. Anything else means another node changed the column since this
     * node's cache saw it. */
    static const char sql[] =
        "SELECT COALESCE(SUM(CASE WHEN rank < ?4 THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN rank = ?4 THEN 1 ELSE 0 END), 0) "
        "FROM orders WHERE tenant_id = ?1 AND COALESCE(work_centre_id, 0) = ?2 "
        "AND deleted_at IS NULL AND id <> ?3 AND rank <= ?4";
    const struct move_plan *mp = &j->mp;
    struct db_stmt *st = store__prepare(s, sql, "move position check");
    int r;
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, j->tenant_id);
    db_bind_int64(st, 2, mp->dst->work_centre_id);
    db_bind_int64(st, 3, mp->o->id);
    db_bind_int64(st, 4, mp->rp.rank);
    r = store__step_row(s, st, "move position check");
    int64_t before = r == 1 ? db_column_int64(st, 0) : -1;
    int64_t same = r == 1 ? db_column_int64(st, 1) : -1;
    db_finalize(st);
    if (r != 1)
        return PB_EINTERNAL;
    /* a rank another order holds already: two nodes planned the same place */
    return before == mp->p && same == 0 ? 0 : PB_ECONFLICT;
}

void store_move_apply(struct board *b, struct move_job *j, struct move_result *out)
{
    move_apply_keep(b, &j->mp, j->now, out);
}

void store_move_job_free(struct move_job *j)
{
    if (j == NULL)
        return;
    store__move_cleanup(&j->mp);
    free(j->win);
    free(j->win_old);
    free(j->win_new);
    free(j);
}

/* ---------------------------------------------------------------- import */

/* Per input row: the existing order (NULL = new) and the staged values. */
struct imp_row {
    struct order *existing;     /* the board's: read by the phases while the board is frozen
                                 * (store_import_prepare's comment) */
    int64_t ex_id, ex_wc;       /* existing: its id and work centre */
    struct order *staged;       /* new order, or the replacement field values of existing */
    bool changed;               /* existing: some field differs (version +1) */
};

/* A column that orders arrive in: the ranks they get at its end (in row order). */
struct imp_col {
    size_t leaving, arriving;
    size_t movers;              /* arrivals that are existing orders (from another column) */
    size_t placed;              /* arrivals given a rank so far */
    int64_t base, step;         /* k-th arrival: base + step * (k + 1) */
    bool relabel;               /* no room at the end: the whole column gets rank__even() */
    size_t staying;             /* with relabel: orders that stay (they come first) */
    struct ostree tail;         /* a big import, movers == 0: its new orders in row order,
                                 * built by the write phase, joined to the column at apply */
};

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static bool order_differs(const struct order *o, const struct order *n)
{
    return !str_eq(o->stock_code, n->stock_code) || !str_eq(o->description, n->description)
           || !str_eq(o->current_operation, n->current_operation)
           || o->quantity_to_make != n->quantity_to_make
           || o->quantity_completed != n->quantity_completed || o->status != n->status
           || o->priority != n->priority || strcmp(o->due_date, n->due_date) != 0
           || strcmp(o->start_date, n->start_date) != 0 || o->work_centre_id != n->work_centre_id;
}

static int update_fields(struct store *s, int64_t tenant_id, int64_t id, const struct order *n,
                         const char *now)
{
    struct db_stmt *st = store__stmt(s, ST_ORDER_UPDATE_FIELDS);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, id);
    db_bind_text(st, 3, n->stock_code, -1, DB_STATIC);
    db_bind_text(st, 4, n->description, -1, DB_STATIC);
    store__bind_text_opt(st, 5, n->current_operation);
    db_bind_int64(st, 6, n->quantity_to_make);
    db_bind_int64(st, 7, n->quantity_completed);
    db_bind_text(st, 8, order_status_name(n->status), -1, DB_STATIC);
    db_bind_text(st, 9, order_priority_name(n->priority), -1, DB_STATIC);
    store__bind_text_opt(st, 10, n->due_date);
    store__bind_text_opt(st, 11, n->start_date);
    db_bind_text(st, 12, now, -1, DB_STATIC);
    return store__run(s, st, "order update", NULL);
}

static int place(struct store *s, int64_t tenant_id, int64_t id, int64_t wc, int64_t rank,
                 bool leaves_backlog, const char *now)
{
    struct db_stmt *st = store__stmt(s, ST_ORDER_PLACE);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, id);
    store__bind_id_opt(st, 3, wc);
    db_bind_int64(st, 4, rank);
    db_bind_int(st, 5, leaves_backlog);
    (void)now;                          /* the stamp is SQLite's (PB_SQL_STAMP_NOW) */
    return store__run(s, st, "order place", NULL);
}

/* Whether existing order o leaves its column in this import (staged in `seen` with another
 * work centre). */
static bool imp_leaves(const struct hmap *seen, const struct order *o)
{
    const struct order *st = hmap_get_str(seen, o->order_number);
    return st != NULL && st->work_centre_id != o->work_centre_id;
}

/* What an import may have broken, checked where it wrote: the arrivals of each column (the
 * block at its end, after the order that was last before them) are in rank order, belong to
 * it and are indexed; a relabelled column whole (it was rewritten whole anyway); the board's
 * frame and counts (O(work centres)). Orders updated in place keep their rank and column.
 * walk: every arrival (O(rows)); otherwise (a big import, whose tails the write phase built
 * off the loop) only the first arrival of each column, where the old and new parts meet, and
 * the count: O(columns x log n) on the loop. Asserts are on in the release build. */
static bool import_check(struct board *b, const struct imp_col *ic, size_t ncols, bool walk)
{
    for (size_t c = 0; c < ncols; c++) {
        const struct column *col = board__column_at(b, c);
        size_t len = board_column_len(col), seen = 0;
        if (ic[c].relabel) {
            if (walk && !board__column_check(b, col))
                return false;
            continue;
        }
        if (ic[c].arriving == 0)
            continue;
        if (ic[c].arriving > len)
            return false;
        size_t first = len - ic[c].arriving;
        const struct order *prev = first > 0 ? board_column_at(col, first - 1) : NULL;
        for (const struct order *o = board_column_at(col, first); o != NULL;
             o = board_column_next(o), seen++) {
            if (o->work_centre_id != col->work_centre_id || o->rank < RANK_LOW
                || o->rank > RANK_HIGH || (prev != NULL && prev->rank >= o->rank)
                || board_order(b, o->id) != o
                || board_order_by_number(b, o->order_number) != o)
                return false;
            prev = o;
            if (!walk) {                /* the rest was checked off the loop (import_build) */
                seen = ic[c].arriving;
                break;
            }
        }
        if (seen != ic[c].arriving)
            return false;
    }
    return board__layout_check(b);
}

/*
 * Import strategy: arrivals (new orders, and existing ones whose work centre changes) join the
 * end of their column in row order with ranks after its last one; the orders that stay keep
 * their ranks, the ones that leave leave no gap to close. SQLite is told only what changed:
 * INSERTs for new rows, field UPDATEs for changed rows, one place UPDATE per existing order
 * that changes column: O(rows) writes. Only a column whose end has run out of ranks
 * (about 2^29 appends) is relabelled whole (rank__even), once.
 *
 * Phases (docs/writer.md "Imports"): store_import_prepare, on the loop, is O(1) (plus a
 * reserve for a small import); store_import_write, on the writer thread, validates and stages
 * the rows against the frozen board, writes SQLite and, for a big import, builds what the
 * cache will become: the board's next index (a copy with the new orders) and each column's
 * tail of new orders; store_import_apply, on the loop, then links it in: O(log n) per column
 * and O(1) for the index, plus O(existing orders touched). A big import no longer holds the
 * loop for its rows (issue 9: 200,000 rows held it ~630 ms in prepare and apply).
 */
#define IMPORT_SMALL_ROWS 1024          /* up to this many rows: staged the simple way */

struct import_plan {
    struct store *s;                    /* the loop's store (max_orders; read only) */
    struct board *b;                    /* frozen until apply (see store.h) */
    const struct order_input *rows;     /* store_import_write's: read while staging */
    size_t n;
    bool upsert, small;
    bool keep;                          /* placement=keep: an existing order stays put */
    int64_t tenant_id, user_id;
    int staged;                         /* 0 = not yet, 1 = staged, < 0 = its error */
    bool built;                         /* !small: next index and tails built */
    bool given;                         /* apply gave the new orders to the board */
    size_t ncols, n_new, n_upd;
    struct imp_row *ir;
    struct imp_col *ic;
    struct hmap seen;                   /* order number -> staged order */
    struct { int64_t id, rank; } *relabel;      /* rows a full column's relabel rewrites */
    size_t n_relabel;
    struct hmap by_id, by_number;       /* !small: the board's next index (after apply: the
                                         * previous one, freed with the plan) */
    char now[PB_TIMESTAMP_LEN];
    char data[128];                     /* the audit entry's event_data */
};

void store_import_plan_free(struct import_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; p->ir != NULL && i < p->n; i++)
        if (!p->given || p->ir[i].existing != NULL)
            order__free(p->ir[i].staged);
    free(p->ir);
    free(p->ic);
    free(p->relabel);
    hmap_cleanup(&p->seen);
    hmap_cleanup(&p->by_id);
    hmap_cleanup(&p->by_number);
    free(p);
}

int store_import_prepare(struct store *s, struct board *b, size_t n, bool upsert,
                         bool keep_place, int64_t user_id, struct import_plan **out)
{
    struct import_plan *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL)
        return PB_EINTERNAL;
    *p = (struct import_plan){ .s = s, .b = b, .n = n, .upsert = upsert, .keep = keep_place,
                               .small = n <= IMPORT_SMALL_ROWS, .tenant_id = b->tenant_id,
                               .user_id = user_id, .ncols = b->n_work_centres + 1 };
    p->seen.match = board__order_number_is;
    pb_now_timestamp(p->now);
    /* a small import puts its new orders into the board's index at apply, which cannot fail:
     * make the room now (the index is the loop's: this cannot wait for the write phase) */
    if (p->small && (hmap_reserve(&b->index->by_id, b->n_orders + n) != 0
                     || hmap_reserve(&b->index->by_number, b->n_orders + n) != 0)) {
        free(p);
        return PB_EINTERNAL;
    }
    *out = p;
    return 0;
}

/* Validate the rows against the board and stage every value the write and apply need. Reads
 * the board only. 0 or PB_EVALIDATION, PB_ECONFLICT, PB_ETOO_LARGE, PB_EINTERNAL. */
static int import_stage(struct import_plan *p)
{
    struct board *b = p->b;
    size_t ncols = p->ncols, n = p->n, n_new = 0, n_upd = 0;

    p->ir = calloc(n ? n : 1, sizeof(*p->ir));
    p->ic = calloc(ncols, sizeof(*p->ic));
    if (p->ir == NULL || p->ic == NULL || hmap_reserve(&p->seen, n) != 0)
        return PB_EINTERNAL;
    struct imp_row *ir = p->ir;
    struct imp_col *ic = p->ic;

    for (size_t i = 0; i < n; i++) {
        struct order_input kept;
        const struct order_input *in = &p->rows[i];
        if (in->order_number == NULL || in->stock_code == NULL || in->description == NULL)
            return PB_EVALIDATION;
        struct order *ex = board_order_by_number(b, in->order_number);
        if (ex != NULL && !p->upsert)
            return PB_ECONFLICT;
        if (ex != NULL && p->keep && ex->work_centre_id != in->work_centre_id) {
            kept = *in;                 /* SPEC §6 placement=keep: the board's place wins */
            kept.work_centre_id = ex->work_centre_id;
            in = &kept;
        }
        /* an existing order staying where it is may stay in an inactive centre */
        if (target_column(b, in->work_centre_id) == NULL
            && !(ex != NULL && ex->work_centre_id == in->work_centre_id
                 && board_column(b, in->work_centre_id) != NULL))
            return PB_EVALIDATION;
        if (hmap_get_str(&p->seen, in->order_number) != NULL)
            return PB_ECONFLICT;        /* the same orderNumber twice in one import */
        ir[i].existing = ex;
        if ((ir[i].staged = order_from_input(in, p->user_id, p->now)) == NULL)
            return PB_EINTERNAL;
        hmap_put_str(&p->seen, ir[i].staged->order_number, ir[i].staged);
        size_t to = board__column_index(b, board_column(b, in->work_centre_id));
        if (ex == NULL) {
            n_new++;
            ic[to].arriving++;
        } else {
            n_upd++;
            ir[i].ex_id = ex->id;
            ir[i].ex_wc = ex->work_centre_id;
            ir[i].changed = order_differs(ex, ir[i].staged);
            if (ex->work_centre_id != in->work_centre_id) {
                ic[board__column_index(b, board_column(b, ex->work_centre_id))].leaving++;
                ic[to].arriving++;
                ic[to].movers++;
            }
        }
    }
    p->n_new = n_new;
    p->n_upd = n_upd;
    if (store_orders_fit(p->s, b, n_new) != 0)
        return PB_ETOO_LARGE;

    /* the ranks of the arrivals */
    size_t n_relabel = 0;
    for (size_t c = 0; c < ncols; c++) {
        struct imp_col *t = &ic[c];
        if (t->arriving == 0)
            continue;
        struct column *col = board__column_at(b, c);
        const struct order *last = board_column_at(col, board_column_len(col) - 1);
        t->base = last != NULL ? last->rank : -RANK_STEP;   /* an empty column starts at 0 */
        t->step = (RANK_HIGH - t->base) / (int64_t)(t->arriving + 1);
        if (t->step > RANK_STEP)
            t->step = RANK_STEP;
        if (t->step < 1) {
            t->relabel = true;
            t->staying = board_column_len(col) - t->leaving;
            n_relabel += t->staying;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct order *ex = ir[i].existing, *st = ir[i].staged;
        if (ex != NULL && ex->work_centre_id == st->work_centre_id)
            continue;
        struct imp_col *t = &ic[board__column_index(b, board_column(b, st->work_centre_id))];
        size_t k = t->placed++;
        st->rank = t->relabel ? rank__even(t->staying + k, t->staying + t->arriving)
                              : t->base + t->step * (int64_t)(k + 1);
    }
    /* the rare relabel of a full column: the rows it rewrites */
    if (n_relabel > 0 && (p->relabel = calloc(n_relabel, sizeof(*p->relabel))) == NULL)
        return PB_EINTERNAL;
    for (size_t c = 0; c < ncols; c++) {
        size_t k = 0;
        if (!ic[c].relabel)
            continue;
        for (const struct order *o = board_column_first(board__column_at(b, c)); o != NULL;
             o = board_column_next(o)) {
            if (imp_leaves(&p->seen, o))
                continue;
            p->relabel[p->n_relabel].id = o->id;
            p->relabel[p->n_relabel++].rank = rank__even(k++, ic[c].staying + ic[c].arriving);
        }
    }
    assert(p->n_relabel == n_relabel);
    snprintf(p->data, sizeof(p->data), "{\"created\":%zu,\"updated\":%zu,\"rows\":%zu}", n_new,
             n_upd, n);
    return 0;
}

/* The tails import_build made: each holds its column's new orders in row order with ranks
 * rising from after the column's last rank, and the next index finds each of them. O(rows);
 * runs where the tails were built (off the loop), for assert(). */
static bool import_tails_check(const struct import_plan *p)
{
    for (size_t c = 0; c < p->ncols; c++) {
        const struct imp_col *t = &p->ic[c];
        const struct column *col = board__column_at(p->b, c);
        const struct order *last = board_column_at(col, board_column_len(col) - 1);
        int64_t prev = t->relabel || last == NULL ? INT64_MIN : last->rank;
        size_t n = 0;
        if (!ostree_check(&t->tail))
            return false;
        for (const struct ostree_node *x = ostree_first(&t->tail); x != NULL;
             x = ostree_next(x), n++) {
            const struct order *o = (const struct order *)((const char *)x
                                                           - offsetof(struct order, column_node));
            if (o->rank <= prev || o->rank > RANK_HIGH || o->work_centre_id != col->work_centre_id
                || hmap_get_int(&p->by_id, o->id) != o
                || hmap_get_str(&p->by_number, o->order_number) != o)
                return false;
            prev = o->rank;
        }
        if (n != (t->movers == 0 ? t->arriving : 0))
            return false;
    }
    return p->by_id.len == p->b->n_orders + p->n_new && p->by_number.len == p->by_id.len;
}

/* What a big import's new orders make of the cache, built off the loop: the board's next index
 * (its current one copied, plus the new orders) and, per column without movers, the tail of
 * its new orders in row order. Needs the ids (after the INSERTs). Built again from scratch
 * when the write phase runs again. 0 or PB_EINTERNAL. */
static int import_build(struct import_plan *p)
{
    struct board *b = p->b;
    hmap_cleanup(&p->by_id);
    hmap_cleanup(&p->by_number);
    if (hmap_clone(&p->by_id, &b->index->by_id, b->n_orders + p->n_new) != 0
        || hmap_clone(&p->by_number, &b->index->by_number, b->n_orders + p->n_new) != 0)
        return PB_EINTERNAL;
    for (size_t c = 0; c < p->ncols; c++)
        p->ic[c].tail.root = NULL;
    for (size_t i = 0; i < p->n; i++) {
        struct order *st = p->ir[i].staged;
        if (p->ir[i].existing != NULL)
            continue;
        hmap_put_int(&p->by_id, st->id, st);
        hmap_put_str(&p->by_number, st->order_number, st);
        struct imp_col *t = &p->ic[board__column_index(b, board_column(b, st->work_centre_id))];
        if (t->movers == 0)
            ostree_insert_at(&t->tail, SIZE_MAX, &st->column_node);
    }
    p->built = true;
    assert(import_tails_check(p));
    return 0;
}

void store_import_counts(const struct import_plan *p, size_t *created, size_t *updated)
{
    if (created != NULL)
        *created = p->n_new;
    if (updated != NULL)
        *updated = p->n_upd;
}

int store_import_write(struct store *s, struct import_plan *p, const struct order_input *rows)
{
    const char *now = p->now;
    int rc;

    p->rows = rows;
    if (p->staged == 0)
        p->staged = (rc = import_stage(p)) == 0 ? 1 : rc;
    if (p->staged < 0)
        return p->staged;
    for (size_t i = 0; i < p->n; i++) {
        struct order *st = p->ir[i].staged;
        int sqlrc = 0;
        if (p->ir[i].existing == NULL) {
            if (insert_order(s, p->tenant_id, st, now, &sqlrc) != 0)
                return sqlrc == DB_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
            st->id = db_last_insert_rowid(s->db);
        } else if (p->ir[i].changed
                   && update_fields(s, p->tenant_id, p->ir[i].ex_id, st, now) != 0) {
            return PB_EINTERNAL;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct imp_row *r = &p->ir[i];
        if (r->existing == NULL || r->ex_wc == r->staged->work_centre_id)
            continue;
        bool leaves = r->ex_wc == 0 && r->staged->work_centre_id != 0;
        if (place(s, p->tenant_id, r->ex_id, r->staged->work_centre_id, r->staged->rank, leaves,
                  now) != 0)
            return PB_EINTERNAL;
    }
    for (size_t k = 0; k < p->n_relabel; k++) {
        struct db_stmt *st = store__stmt(s, ST_ORDER_RANK);
        if (st == NULL)
            return PB_EINTERNAL;
        db_bind_int64(st, 1, p->tenant_id);
        db_bind_int64(st, 2, p->relabel[k].id);
        db_bind_int64(st, 3, p->relabel[k].rank);
        if (store__run(s, st, "import relabel", NULL) != 0)
            return PB_EINTERNAL;
    }
    if (store__audit(s, p->tenant_id, "orders_imported", 0, 0, 0, p->user_id, p->data, -1, -1,
                     now) != 0)
        return PB_EINTERNAL;
    if (!p->small && import_build(p) != 0)
        return PB_EINTERNAL;
    return 0;
}

void store_import_apply(struct store *s, struct board *b, struct import_plan *p)
{
    struct imp_row *ir = p->ir;
    struct imp_col *ic = p->ic;
    size_t ncols = p->ncols, r = 0;

    assert(p->staged == 1 && b == p->b && (p->small || p->built));
    for (size_t c = 0; c < ncols; c++) {
        if (!ic[c].relabel)
            continue;
        for (struct order *o = board_column_first(board__column_at(b, c)); o != NULL;
             o = board_column_next(o))
            if (!imp_leaves(&p->seen, o))
                o->rank = p->relabel[r++].rank;
    }
    s->relabelled += p->n_relabel;
    for (size_t i = 0; i < p->n; i++) {             /* leavers out of their columns */
        struct order *ex = ir[i].existing, *st = ir[i].staged;
        if (ex != NULL && ex->work_centre_id != st->work_centre_id)
            ostree_remove(&board_column(b, ex->work_centre_id)->orders, &ex->column_node);
    }
    p->given = true;                    /* the new orders are the board's from here on */
    b->n_orders += p->n_new;
    for (size_t i = 0; i < p->n && (p->small || p->n_upd > 0); i++) {
        struct order *ex = ir[i].existing, *st = ir[i].staged;
        struct column *to = board_column(b, st->work_centre_id);
        if (ex == NULL) {
            if (p->small) {
                ostree_insert_at(&to->orders, SIZE_MAX, &st->column_node);
                hmap_put_int(&b->index->by_id, st->id, st);
                hmap_put_str(&b->index->by_number, st->order_number, st);
            } else if (ic[board__column_index(b, to)].movers > 0) {
                ostree_insert_at(&to->orders, SIZE_MAX, &st->column_node);
            }                       /* else: in its column's tail, joined below */
            continue;
        }
        if (ex->work_centre_id != st->work_centre_id) {
            ex->rank = st->rank;
            ex->work_centre_id = st->work_centre_id;
            ostree_insert_at(&to->orders, SIZE_MAX, &ex->column_node);
        }
        if (!ir[i].changed)
            continue;
        /* swap the staged values in; the old strings go with the staged struct */
        char *tmp;
        tmp = ex->stock_code, ex->stock_code = st->stock_code, st->stock_code = tmp;
        tmp = ex->description, ex->description = st->description, st->description = tmp;
        tmp = ex->current_operation, ex->current_operation = st->current_operation,
        st->current_operation = tmp;
        ex->quantity_to_make = st->quantity_to_make;
        ex->quantity_completed = st->quantity_completed;
        ex->status = st->status;
        ex->priority = st->priority;
        memcpy(ex->due_date, st->due_date, sizeof(ex->due_date));
        memcpy(ex->start_date, st->start_date, sizeof(ex->start_date));
        memcpy(ex->updated_at, p->now, sizeof(ex->updated_at));
        ex->version++;
    }
    if (!p->small) {
        struct hmap t;
        for (size_t c = 0; c < ncols; c++)
            ostree_join(&board__column_at(b, c)->orders, &ic[c].tail);
        /* the next index in, the previous one out (freed with the plan) */
        t = b->index->by_id, b->index->by_id = p->by_id, p->by_id = t;
        t = b->index->by_number, b->index->by_number = p->by_number, p->by_number = t;
    }
    b->version++;
    assert(import_check(b, ic, ncols, p->small));
}

int store_import(struct store *s, struct board *b, const struct order_input *rows, size_t n,
                 bool upsert, int64_t user_id, size_t *created, size_t *updated)
{
    struct import_plan *p;
    int rc;

    if (created != NULL)
        *created = 0;
    if (updated != NULL)
        *updated = 0;
    if ((rc = store_import_prepare(s, b, n, upsert, false, user_id, &p)) != 0)
        return rc;
    if (store__begin(s) != 0) {
        store_import_plan_free(p);
        return PB_EINTERNAL;
    }
    if ((rc = store_import_write(s, p, rows)) != 0) {
        store__rollback(s);
        store_import_plan_free(p);
        return rc;
    }
    if (store__commit(s) != 0) {
        store_import_plan_free(p);
        return PB_EINTERNAL;
    }
    store_import_apply(s, b, p);
    store_import_counts(p, created, updated);
    store_import_plan_free(p);
    return 0;
}
