/*
 * order_edit — write-through order field updates and soft deletes (phases as in orders.c).
 */
#include "store/order_edit.h"

#include "store/store_int.h"
#include "core/tz.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void order_patch_init(struct order_patch *p)
{
    memset(p, 0, sizeof(*p));
    p->status = -1;
    p->priority = -1;
}

/* ---------------------------------------------------------------- helpers */

static bool same_str(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static void report_none(void *ctx, const char *field, const char *message)
{
    (void)ctx;
    (void)field;
    (void)message;
}

/* Step a one-off write statement and finalize it. 0, or PB_ECONFLICT on a unique-key
 * violation, or PB_EINTERNAL. The caller must not use st afterwards. */
static int run_once(struct store *s, struct db_stmt *st, const char *what)
{
    int r = db_step(st), rc = 0;
    if (r != DB_DONE) {
        int x = db_errcode(s->db);
        store__error(s, what);
        rc = x == DB_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
    } else if (db_changes(s->db) != 1) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s: row not found", what);
        rc = PB_EINTERNAL;          /* the cache said it exists: the database disagrees */
    }
    db_finalize(st);
    return rc;
}

/* Append ,"name" to a JSON array body in buf. */
static void add_field(char *buf, size_t size, const char *name)
{
    size_t l = strlen(buf);
    snprintf(buf + l, size - l, "%s\"%s\"", l ? "," : "", name);
}

/* Merge o with p into *in (strings borrowed from both; dates copied into due / start, "" =
 * null) and check the result with order_input_check. Returns the number of broken rules. */
static int merge(const struct order *o, const struct order_patch *p, struct order_input *in,
                 char due[PB_DATE_LEN], char start[PB_DATE_LEN], pb_report_fn report, void *ctx)
{
    int bad = 0;
    order_input_init(in);
    in->order_number = p->order_number != NULL ? p->order_number : o->order_number;
    in->stock_code = p->stock_code != NULL ? p->stock_code : o->stock_code;
    in->description = p->description != NULL ? p->description : o->description;
    in->current_operation = p->has_current_operation ? p->current_operation
                                                     : o->current_operation;
    if (in->current_operation != NULL && *in->current_operation == '\0')
        in->current_operation = NULL;
    in->quantity_to_make = p->has_quantity_to_make ? p->quantity_to_make : o->quantity_to_make;
    in->quantity_completed = p->has_quantity_completed ? p->quantity_completed
                                                       : o->quantity_completed;
    in->status = p->status >= 0 ? p->status : (int)o->status;
    in->priority = p->priority >= 0 ? p->priority : (int)o->priority;
    const char *d = p->has_due_date ? (p->due_date != NULL ? p->due_date : "") : o->due_date;
    const char *st = p->has_start_date ? (p->start_date != NULL ? p->start_date : "")
                                       : o->start_date;
    /* a value too long for a date cannot be one */
    if (strlen(d) >= PB_DATE_LEN) {
        report(ctx, "due_date", "must be a real date YYYY-MM-DD");
        bad++;
        d = "";
    }
    if (strlen(st) >= PB_DATE_LEN) {
        report(ctx, "start_date", "must be a real date YYYY-MM-DD");
        bad++;
        st = "";
    }
    snprintf(due, PB_DATE_LEN, "%s", d);
    snprintf(start, PB_DATE_LEN, "%s", st);
    in->due_date = due[0] ? due : NULL;
    in->start_date = start[0] ? start : NULL;
    return bad + order_input_check(in, report, ctx);
}

int order_patch_check(const struct order *o, const struct order_patch *p, pb_report_fn report,
                      void *ctx)
{
    struct order_input in;
    char due[PB_DATE_LEN], start[PB_DATE_LEN];
    return merge(o, p, &in, due, start, report, ctx);
}

/* ---------------------------------------------------------------- update */

/* A field update in its phases (like struct move_plan): plan_fields checks and computes,
 * write_fields runs inside the caller's transaction, apply_fields swaps the values into the
 * cache after the commit (no allocation), plan_cleanup frees what was not applied. */
struct field_plan {
    struct order *o;
    struct order_input in;              /* merged values (strings borrowed) */
    char due[PB_DATE_LEN], start[PB_DATE_LEN], done[PB_DATE_LEN];
    enum order_status from, to;
    int completed_flag;                 /* 1 = set completed_at, 2 = clear it */
    bool started_flag;
    bool d_num, d_stock, d_desc, d_op;
    bool changed;                       /* false: nothing to write */
    char *num, *stock, *desc, *op;      /* new strings for the cache (malloc'd) */
    char *data;                         /* audit event_data (malloc'd) */
};

static void plan_cleanup(struct field_plan *fp)
{
    free(fp->num);
    free(fp->stock);
    free(fp->desc);
    free(fp->op);
    free(fp->data);
    fp->num = fp->stock = fp->desc = fp->op = fp->data = NULL;
}

/* Errors in this order: PB_EVALIDATION (rules); PB_ECONFLICT stale version, then orderNumber
 * taken; PB_EINTERNAL (allocation). Nothing to clean up on error. */
static int plan_fields(struct board *b, struct order *o, const struct order_patch *p,
                       struct field_plan *fp)
{
    char today[PB_DATE_LEN], fields[256] = "", *qnum = NULL;
    struct order_input *in = &fp->in;

    memset(fp, 0, sizeof(*fp));
    fp->o = o;
    /* the merged values, checked with the same rules as a create */
    if (merge(o, p, in, fp->due, fp->start, report_none, NULL) != 0)
        return PB_EVALIDATION;
    if (p->has_version && p->version != o->version)
        return PB_ECONFLICT;
    struct order *holder = board_order_by_number(b, in->order_number);
    if (holder != NULL && holder != o)
        return PB_ECONFLICT;

    /* status rules */
    fp->from = o->status;
    fp->to = (enum order_status)in->status;
    snprintf(fp->done, sizeof(fp->done), "%s", o->completion_date);
    if (fp->to != fp->from) {
        tz_today(p->timezone, today);
        if (fp->to == ORDER_COMPLETE) {
            snprintf(fp->done, sizeof(fp->done), "%s", today);
            fp->completed_flag = 1;
        } else if (fp->from == ORDER_COMPLETE) {
            fp->done[0] = '\0';
            fp->completed_flag = 2;
        }
        if (fp->to == ORDER_IN_PROGRESS) {
            fp->started_flag = true;
            if (fp->start[0] == '\0') {
                snprintf(fp->start, sizeof(fp->start), "%s", today);
                in->start_date = fp->start;
            }
        }
    }

    /* what differs */
    fp->d_num = !same_str(o->order_number, in->order_number);
    fp->d_stock = !same_str(o->stock_code, in->stock_code);
    fp->d_desc = !same_str(o->description, in->description);
    fp->d_op = !same_str(o->current_operation, in->current_operation);
    if (fp->d_num)
        add_field(fields, sizeof(fields), "orderNumber");
    if (fp->d_stock)
        add_field(fields, sizeof(fields), "stockCode");
    if (fp->d_desc)
        add_field(fields, sizeof(fields), "description");
    if (fp->d_op)
        add_field(fields, sizeof(fields), "currentOperation");
    if (in->quantity_to_make != o->quantity_to_make)
        add_field(fields, sizeof(fields), "quantityToMake");
    if (in->quantity_completed != o->quantity_completed)
        add_field(fields, sizeof(fields), "quantityCompleted");
    if (fp->to != fp->from)
        add_field(fields, sizeof(fields), "status");
    if (in->priority != (int)o->priority)
        add_field(fields, sizeof(fields), "priority");
    if (strcmp(fp->due, o->due_date) != 0)
        add_field(fields, sizeof(fields), "dueDate");
    if (strcmp(fp->start, o->start_date) != 0)
        add_field(fields, sizeof(fields), "startDate");
    if (strcmp(fp->done, o->completion_date) != 0)
        add_field(fields, sizeof(fields), "completionDate");
    fp->changed = fields[0] != '\0';
    if (!fp->changed)
        return 0;                   /* nothing to write */

    /* new strings and the audit data */
    if ((fp->d_num && (fp->num = strdup(in->order_number)) == NULL)
        || (fp->d_stock && (fp->stock = strdup(in->stock_code)) == NULL)
        || (fp->d_desc && (fp->desc = strdup(in->description)) == NULL)
        || (fp->d_op && in->current_operation != NULL
            && (fp->op = strdup(in->current_operation)) == NULL)
        || (qnum = store__json_quote(in->order_number)) == NULL
        || (fp->data = malloc(strlen(qnum) + strlen(fields) + 192)) == NULL) {
        free(qnum);
        plan_cleanup(fp);
        return PB_EINTERNAL;
    }
    int at = sprintf(fp->data, "{\"orderNumber\":%s,\"fields\":[%s]", qnum, fields);
    if (fp->to != fp->from)
        at += sprintf(fp->data + at, ",\"statusFrom\":\"%s\",\"statusTo\":\"%s\"",
                      order_status_name(fp->from), order_status_name(fp->to));
    if (in->quantity_completed != o->quantity_completed)
        at += sprintf(fp->data + at, ",\"quantityCompletedDelta\":%lld",
                      (long long)(in->quantity_completed - o->quantity_completed));
    sprintf(fp->data + at, "}");
    free(qnum);
    return 0;
}

/* The UPDATE and the order_updated audit row, inside the caller's transaction; the version
 * grows by bump (0 when a move in the same transaction adds the one step). 0, PB_ECONFLICT
 * (unique key), PB_EINTERNAL. */
static int write_fields(struct store *s, struct board *b, const struct field_plan *fp,
                        int64_t user_id, const char *now, const char *stamp, int bump)
{
#define SQL_WRITE_FIELDS(DONE)                                                                  \
        "UPDATE orders SET order_number = ?3, stock_code = ?4, description = ?5, "             \
        "current_operation = ?6, quantity_to_make = ?7, quantity_completed = ?8, status = ?9, "\
        "priority = ?10, due_date = ?11, start_date = ?12, completion_date = ?13, "            \
        "updated_at = ?14, version = version + ?18, "                                          \
        "started_at = CASE WHEN ?15 THEN COALESCE(started_at, ?17) ELSE started_at END, "     \
        "completed_at = CASE CAST(?16 AS INTEGER) WHEN 1 THEN " DONE " WHEN 2 THEN NULL "      \
        "ELSE completed_at END "                                                               \
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL"
    static const char sql[] = SQL_WRITE_FIELDS(PB_SQL_COMPLETED_AT("?17"));
    static const char sql_pg[] = SQL_WRITE_FIELDS(PB_PG_COMPLETED_AT("?17"));
    const struct order_input *in = &fp->in;
    struct db_stmt *st = store__prepare(s, s->db->kind == DB_POSTGRES ? sql_pg : sql,
                                        "order update");
    int rc;
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, b->tenant_id);
    db_bind_int64(st, 2, fp->o->id);
    db_bind_text(st, 3, in->order_number, -1, DB_STATIC);
    db_bind_text(st, 4, in->stock_code, -1, DB_STATIC);
    db_bind_text(st, 5, in->description, -1, DB_STATIC);
    store__bind_text_opt(st, 6, in->current_operation);
    db_bind_int64(st, 7, in->quantity_to_make);
    db_bind_int64(st, 8, in->quantity_completed);
    db_bind_text(st, 9, order_status_name(fp->to), -1, DB_STATIC);
    db_bind_text(st, 10, order_priority_name((enum order_priority)in->priority), -1,
                      DB_STATIC);
    store__bind_text_opt(st, 11, fp->due);
    store__bind_text_opt(st, 12, fp->start);
    store__bind_text_opt(st, 13, fp->done);
    db_bind_text(st, 14, now, -1, DB_STATIC);
    db_bind_int(st, 15, fp->started_flag);
    db_bind_int(st, 16, fp->completed_flag);
    db_bind_text(st, 17, stamp, -1, DB_STATIC);
    db_bind_int(st, 18, bump);
    if ((rc = run_once(s, st, "order update")) != 0)
        return rc;
    if (store__audit(s, b->tenant_id, "order_updated", fp->o->id, 0, 0, user_id, fp->data, -1,
                     -1, now) != 0)
        return PB_EINTERNAL;
    return 0;
}

/* Swap the new values into the cache (no allocation); version += bump. */
static void apply_fields(struct board *b, struct field_plan *fp, const char *now, int bump)
{
    struct order *o = fp->o;
    if (fp->d_num) {
        hmap_del_str(&b->index->by_number, o->order_number);   /* keyed by the old string */
        free(o->order_number);
        o->order_number = fp->num;
        fp->num = NULL;
        hmap_put_str(&b->index->by_number, o->order_number, o);
    }
    if (fp->d_stock) {
        free(o->stock_code);
        o->stock_code = fp->stock;
        fp->stock = NULL;
    }
    if (fp->d_desc) {
        free(o->description);
        o->description = fp->desc;
        fp->desc = NULL;
    }
    if (fp->d_op) {
        free(o->current_operation);
        o->current_operation = fp->op;
        fp->op = NULL;
    }
    o->quantity_to_make = fp->in.quantity_to_make;
    o->quantity_completed = fp->in.quantity_completed;
    o->status = fp->to;
    o->priority = (enum order_priority)fp->in.priority;
    memcpy(o->due_date, fp->due, sizeof(o->due_date));
    memcpy(o->start_date, fp->start, sizeof(o->start_date));
    memcpy(o->completion_date, fp->done, sizeof(o->completion_date));
    memcpy(o->updated_at, now, sizeof(o->updated_at));
    o->version += bump;
    b->version++;
    plan_cleanup(fp);
}

int store_order_update(struct store *s, struct board *b, int64_t order_id,
                       const struct order_patch *p, struct order **out, bool *changed)
{
    return store_order_update_move(s, b, order_id, p, NULL, out, changed, NULL);
}

/* ---------------------------------------------------------------- update, in phases */

/* An order update (and its move) through the writer (order_edit.h store_update_prepare). */
struct update_job {
    struct board *b;
    struct field_plan fp;               /* fp.in borrows the patch's strings and fp's dates */
    bool has_move;
    struct move_plan mp;
    struct wip_check wip;               /* SPEC §9 without a move: the status change's check */
    int64_t user_id;
    char now[PB_TIMESTAMP_LEN], stamp[PB_STAMP_LEN];    /* one stamp for both audit rows */
};

void store_update_job_free(struct update_job *j)
{
    if (j == NULL)
        return;
    plan_cleanup(&j->fp);
    if (j->has_move)
        store__move_cleanup(&j->mp);
    free(j);
}

int store_update_prepare(struct board *b, int64_t order_id, const struct order_patch *p,
                         const struct move_request *move, struct update_job **out)
{
    struct update_job *j;
    struct move_request req;
    int rc;

    *out = NULL;
    struct order *o = board_order(b, order_id);
    if (o == NULL)
        return PB_ENOT_FOUND;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    if ((rc = plan_fields(b, o, p, &j->fp)) != 0) {
        free(j);
        return rc;
    }
    if (move != NULL) {
        req = *move;
        req.order_id = order_id;
        req.has_version = false;        /* checked once, on the patch */
        req.wip_override = req.wip_override || p->wip_override;
        if ((rc = store__move_prepare(b, &req, (int)j->fp.to, &j->mp)) != 0) {
            store__move_cleanup(&j->mp);
            store_update_job_free(j);
            return rc;
        }
        j->has_move = true;
    } else if (!store_wip_counts(j->fp.from) && store_wip_counts(j->fp.to)
               && (rc = store_wip_check(b, o->work_centre_id, 1, p->wip_override, &j->wip)) != 0) {
        store_update_job_free(j);       /* SPEC §9: it would count again in a full column */
        return rc;
    }
    j->b = b;
    j->user_id = p->user_id;
    store__now(j->now, j->stamp);
    *out = j;
    return 0;
}

void store_update_wip(const struct update_job *j, struct wip_check *out)
{
    *out = j->has_move || j->mp.o != NULL ? j->mp.wip : j->wip;
}

void store_update_tried(const struct update_job *j, struct order *out)
{
    const struct field_plan *fp = &j->fp;
    *out = *fp->o;
    memset(&out->column_node, 0, sizeof(out->column_node));
    if (!fp->changed)
        return;
    if (fp->d_num)
        out->order_number = fp->num;
    if (fp->d_stock)
        out->stock_code = fp->stock;
    if (fp->d_desc)
        out->description = fp->desc;
    if (fp->d_op)
        out->current_operation = fp->op;
    out->quantity_to_make = fp->in.quantity_to_make;
    out->quantity_completed = fp->in.quantity_completed;
    out->status = fp->to;
    out->priority = (enum order_priority)fp->in.priority;
    memcpy(out->due_date, fp->due, sizeof(out->due_date));
    memcpy(out->start_date, fp->start, sizeof(out->start_date));
    memcpy(out->completion_date, fp->done, sizeof(out->completion_date));
    memcpy(out->updated_at, j->now, sizeof(out->updated_at));
    out->version += j->has_move ? 0 : 1;        /* as apply_fields' bump */
}

bool store_update_writes(const struct update_job *j)
{
    return j->fp.changed || j->has_move;
}

int store_update_write(struct store *s, struct update_job *j)
{
    /* the fields take no version step of their own when a move follows: one step in all */
    int bump = j->has_move ? 0 : 1, rc;
    if (j->fp.changed
        && (rc = write_fields(s, j->b, &j->fp, j->user_id, j->now, j->stamp, bump)) != 0)
        return rc;
    if (j->has_move && store__move_write(s, j->b, &j->mp, j->now, j->stamp) != 0)
        return PB_EINTERNAL;
    return 0;
}

bool store_update_move_tried(const struct update_job *j, struct order *order,
                             struct move_result *out)
{
    const struct move_plan *mp = &j->mp;
    if (!j->has_move)
        return false;
    store_update_tried(j, order);       /* the fields: apply_fields bumps no version here */
    order->rank = mp->rp.rank;          /* as move_apply_keep */
    order->work_centre_id = mp->dst->work_centre_id;
    order->version++;
    memcpy(order->updated_at, j->now, sizeof(order->updated_at));
    store__move_result(mp, order, out);
    return true;
}

struct order *store_update_apply(struct board *b, struct update_job *j, bool *changed,
                                 struct move_result *moved)
{
    struct order *o = j->fp.o;
    assert(b == j->b);
    if (changed != NULL)
        *changed = j->fp.changed;
    if (j->fp.changed)
        apply_fields(b, &j->fp, j->now, j->has_move ? 0 : 1);
    if (j->has_move) {
        store__move_apply(b, &j->mp, j->now, moved);
        j->has_move = false;            /* applied: its plan is freed */
    }
    return o;
}

int store_order_update_move(struct store *s, struct board *b, int64_t order_id,
                            const struct order_patch *p, const struct move_request *move,
                            struct order **out, bool *changed, struct move_result *moved)
{
    struct update_job *j;
    int rc;

    if (changed != NULL)
        *changed = false;
    if ((rc = store_update_prepare(b, order_id, p, move, &j)) != 0)
        return rc;
    if (store_update_writes(j)) {
        /* one transaction: the fields, the move, one audit row each */
        if (store__begin(s) != 0) {
            store_update_job_free(j);
            return PB_EINTERNAL;
        }
        if ((rc = store_update_write(s, j)) != 0) {
            store__rollback(s);
            store_update_job_free(j);
            return rc;
        }
        if (store__commit(s) != 0) {
            store_update_job_free(j);
            return PB_EINTERNAL;
        }
    }
    /* the cache, after the commit (no allocation) */
    struct order *o = store_update_apply(b, j, changed, moved);
    store_update_job_free(j);
    if (out != NULL)
        *out = o;
    return 0;
}

/* ---------------------------------------------------------------- delete */

/* An order delete in phases (store.h store_delete_prepare). */
struct delete_job {
    struct order *o;                    /* the board's */
    struct column *col;
    int64_t tenant_id, user_id, depth;
    char now[PB_TIMESTAMP_LEN];
    char *data;                         /* audit event_data */
};

void store_delete_job_free(struct delete_job *j)
{
    if (j == NULL)
        return;
    free(j->data);
    free(j);
}

int store_delete_prepare(struct board *b, int64_t order_id, int64_t user_id,
                         struct delete_job **out)
{
    struct delete_job *j;
    char *qnum;

    *out = NULL;
    struct order *o = board_order(b, order_id);
    if (o == NULL)
        return PB_ENOT_FOUND;
    struct column *col = board_column(b, o->work_centre_id);
    assert(col != NULL && board_column_at(col, (size_t)order_position(o)) == o);
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    *j = (struct delete_job){ .o = o, .col = col, .tenant_id = b->tenant_id,
                              .user_id = user_id, .depth = (int64_t)board_column_len(col) };
    int64_t pos = order_position(o);
    if ((qnum = store__json_quote(o->order_number)) == NULL
        || (j->data = malloc(strlen(qnum) + 64)) == NULL) {
        free(qnum);
        store_delete_job_free(j);
        return PB_EINTERNAL;
    }
    sprintf(j->data, "{\"orderNumber\":%s,\"position\":%lld}", qnum, (long long)pos);
    free(qnum);
    pb_now_timestamp(j->now);
    *out = j;
    return 0;
}

int store_delete_write(struct store *s, struct delete_job *j)
{
    static const char sql[] =
        "UPDATE orders SET deleted_at = ?3, updated_at = ?3 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    /* mark it deleted (the rows behind it keep their ranks: no gap to close) */
    struct db_stmt *st = store__prepare(s, sql, "order delete");
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, j->tenant_id);
    db_bind_int64(st, 2, j->o->id);
    db_bind_text(st, 3, j->now, -1, DB_STATIC);
    if (run_once(s, st, "order delete") != 0)
        return PB_EINTERNAL;
    if (store__audit(s, j->tenant_id, "order_deleted", j->o->id, j->col->work_centre_id, 0,
                     j->user_id, j->data, j->depth, -1, j->now) != 0)
        return PB_EINTERNAL;
    return 0;
}

int64_t store_delete_apply(struct board *b, struct delete_job *j)
{
    struct order *o = j->o;
    int64_t wc = j->col->work_centre_id;
    ostree_remove(&j->col->orders, &o->column_node);
    hmap_del_int(&b->index->by_id, o->id);
    hmap_del_str(&b->index->by_number, o->order_number);
    b->n_orders--;
    b->version++;
    order__free(o);
    j->o = NULL;
    assert(board_column_len(j->col) == (size_t)j->depth - 1);
    return wc;
}

int store_order_delete(struct store *s, struct board *b, int64_t order_id, int64_t user_id,
                       int64_t *from_wc)
{
    struct delete_job *j;
    int rc = store_delete_prepare(b, order_id, user_id, &j);
    if (rc != 0)
        return rc;
    if (store__begin(s) != 0) {
        store_delete_job_free(j);
        return PB_EINTERNAL;
    }
    if ((rc = store_delete_write(s, j)) != 0) {
        store__rollback(s);
        store_delete_job_free(j);
        return rc;
    }
    if (store__commit(s) != 0) {
        store_delete_job_free(j);
        return PB_EINTERNAL;
    }
    int64_t wc = store_delete_apply(b, j);
    store_delete_job_free(j);
    if (from_wc != NULL)
        *from_wc = wc;
    return 0;
}
