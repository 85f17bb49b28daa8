/*
 * order_edit — write-through order field updates and soft deletes (phases as in orders.c).
 */
#include "store/order_edit.h"

#include "store/store_int.h"
#include "store/tz.h"

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
static int run_once(struct store *s, sqlite3_stmt *st, const char *what)
{
    int r = sqlite3_step(st), rc = 0;
    if (r != SQLITE_DONE) {
        int x = sqlite3_extended_errcode(s->db);
        store__error(s, what);
        rc = x == SQLITE_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
    } else if (sqlite3_changes(s->db) != 1) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s: row not found", what);
        rc = PB_EINTERNAL;          /* the cache said it exists: the database disagrees */
    }
    sqlite3_finalize(st);
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

int store_order_update(struct store *s, struct board *b, int64_t order_id,
                       const struct order_patch *p, struct order **out, bool *changed)
{
    static const char sql[] =
        "UPDATE orders SET order_number = ?3, stock_code = ?4, description = ?5, "
        "current_operation = ?6, quantity_to_make = ?7, quantity_completed = ?8, status = ?9, "
        "priority = ?10, due_date = ?11, start_date = ?12, completion_date = ?13, "
        "updated_at = ?14, version = version + 1, "
        "started_at = CASE WHEN ?15 THEN COALESCE(started_at, ?14) ELSE started_at END, "
        "completed_at = CASE ?16 WHEN 1 THEN ?14 WHEN 2 THEN NULL ELSE completed_at END "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    char now[PB_TIMESTAMP_LEN], today[PB_DATE_LEN], fields[256] = "";
    char due[PB_DATE_LEN], start[PB_DATE_LEN], done[PB_DATE_LEN];
    char *num = NULL, *stock = NULL, *desc = NULL, *op = NULL, *data = NULL, *qnum = NULL;
    sqlite3_stmt *st = NULL;
    struct order_input in;
    int rc = PB_EINTERNAL;

    if (changed != NULL)
        *changed = false;
    struct order *o = board_order(b, order_id);
    if (o == NULL)
        return PB_ENOT_FOUND;

    /* the merged values, checked with the same rules as a create */
    if (merge(o, p, &in, due, start, report_none, NULL) != 0)
        return PB_EVALIDATION;
    if (p->has_version && p->version != o->version)
        return PB_ECONFLICT;
    struct order *holder = board_order_by_number(b, in.order_number);
    if (holder != NULL && holder != o)
        return PB_ECONFLICT;

    /* status rules */
    enum order_status from = o->status, to = (enum order_status)in.status;
    int completed_flag = 0;         /* 1 = set completed_at, 2 = clear it */
    bool started_flag = false;
    snprintf(done, sizeof(done), "%s", o->completion_date);
    pb_now_timestamp(now);
    if (to != from) {
        tz_today(p->timezone, today);
        if (to == ORDER_COMPLETE) {
            snprintf(done, sizeof(done), "%s", today);
            completed_flag = 1;
        } else if (from == ORDER_COMPLETE) {
            done[0] = '\0';
            completed_flag = 2;
        }
        if (to == ORDER_IN_PROGRESS) {
            started_flag = true;
            if (start[0] == '\0') {
                snprintf(start, sizeof(start), "%s", today);
                in.start_date = start;
            }
        }
    }

    /* what differs */
    bool d_num = !same_str(o->order_number, in.order_number);
    bool d_stock = !same_str(o->stock_code, in.stock_code);
    bool d_desc = !same_str(o->description, in.description);
    bool d_op = !same_str(o->current_operation, in.current_operation);
    if (d_num)
        add_field(fields, sizeof(fields), "orderNumber");
    if (d_stock)
        add_field(fields, sizeof(fields), "stockCode");
    if (d_desc)
        add_field(fields, sizeof(fields), "description");
    if (d_op)
        add_field(fields, sizeof(fields), "currentOperation");
    if (in.quantity_to_make != o->quantity_to_make)
        add_field(fields, sizeof(fields), "quantityToMake");
    if (in.quantity_completed != o->quantity_completed)
        add_field(fields, sizeof(fields), "quantityCompleted");
    if (to != from)
        add_field(fields, sizeof(fields), "status");
    if (in.priority != (int)o->priority)
        add_field(fields, sizeof(fields), "priority");
    if (strcmp(due, o->due_date) != 0)
        add_field(fields, sizeof(fields), "dueDate");
    if (strcmp(start, o->start_date) != 0)
        add_field(fields, sizeof(fields), "startDate");
    if (strcmp(done, o->completion_date) != 0)
        add_field(fields, sizeof(fields), "completionDate");
    if (fields[0] == '\0') {
        if (out != NULL)
            *out = o;
        return 0;                   /* nothing to write */
    }

    /* phase 1: new strings and the audit data */
    if ((d_num && (num = strdup(in.order_number)) == NULL)
        || (d_stock && (stock = strdup(in.stock_code)) == NULL)
        || (d_desc && (desc = strdup(in.description)) == NULL)
        || (d_op && in.current_operation != NULL && (op = strdup(in.current_operation)) == NULL))
        goto out;
    if ((qnum = store__json_quote(in.order_number)) == NULL
        || (data = malloc(strlen(qnum) + strlen(fields) + 192)) == NULL)
        goto out;
    int at = sprintf(data, "{\"orderNumber\":%s,\"fields\":[%s]", qnum, fields);
    if (to != from)
        at += sprintf(data + at, ",\"statusFrom\":\"%s\",\"statusTo\":\"%s\"",
                      order_status_name(from), order_status_name(to));
    if (in.quantity_completed != o->quantity_completed)
        at += sprintf(data + at, ",\"quantityCompletedDelta\":%lld",
                      (long long)(in.quantity_completed - o->quantity_completed));
    sprintf(data + at, "}");

    /* phase 2 */
    if ((st = store__prepare(s, sql, "order update")) == NULL || store__begin(s) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, b->tenant_id);
    sqlite3_bind_int64(st, 2, o->id);
    sqlite3_bind_text(st, 3, in.order_number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, in.stock_code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, in.description, -1, SQLITE_STATIC);
    store__bind_text_opt(st, 6, in.current_operation);
    sqlite3_bind_int64(st, 7, in.quantity_to_make);
    sqlite3_bind_int64(st, 8, in.quantity_completed);
    sqlite3_bind_text(st, 9, order_status_name(to), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, order_priority_name((enum order_priority)in.priority), -1,
                      SQLITE_STATIC);
    store__bind_text_opt(st, 11, due);
    store__bind_text_opt(st, 12, start);
    store__bind_text_opt(st, 13, done);
    sqlite3_bind_text(st, 14, now, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 15, started_flag);
    sqlite3_bind_int(st, 16, completed_flag);
    rc = run_once(s, st, "order update");
    st = NULL;
    if (rc != 0)
        goto fail_tx;
    if (store__audit(s, b->tenant_id, "order_updated", o->id, 0, 0, p->user_id, data, -1, -1,
                     now) != 0) {
        rc = PB_EINTERNAL;
        goto fail_tx;
    }
    if (store__commit(s) != 0) {
        rc = PB_EINTERNAL;
        goto out;
    }

    /* phase 3: swap the new values in (no allocation) */
    if (d_num) {
        smap_del(&b->index->by_number, o->order_number);   /* keyed by the old string */
        free(o->order_number);
        o->order_number = num;
        num = NULL;
        smap_put(&b->index->by_number, o);
    }
    if (d_stock) {
        free(o->stock_code);
        o->stock_code = stock;
        stock = NULL;
    }
    if (d_desc) {
        free(o->description);
        o->description = desc;
        desc = NULL;
    }
    if (d_op) {
        free(o->current_operation);
        o->current_operation = op;
        op = NULL;
    }
    o->quantity_to_make = in.quantity_to_make;
    o->quantity_completed = in.quantity_completed;
    o->status = to;
    o->priority = (enum order_priority)in.priority;
    memcpy(o->due_date, due, sizeof(o->due_date));
    memcpy(o->start_date, start, sizeof(o->start_date));
    memcpy(o->completion_date, done, sizeof(o->completion_date));
    memcpy(o->updated_at, now, sizeof(o->updated_at));
    o->version++;
    b->version++;
    if (changed != NULL)
        *changed = true;
    if (out != NULL)
        *out = o;
    rc = 0;
    goto out;

fail_tx:
    store__rollback(s);
out:
    sqlite3_finalize(st);
    free(num);
    free(stock);
    free(desc);
    free(op);
    free(qnum);
    free(data);
    return rc;
}

/* ---------------------------------------------------------------- delete */

int store_order_delete(struct store *s, struct board *b, int64_t order_id, int64_t user_id,
                       int64_t *from_wc)
{
    static const char sql[] =
        "UPDATE orders SET deleted_at = ?3, updated_at = ?3 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    char now[PB_TIMESTAMP_LEN];
    char *qnum = NULL, *data = NULL;
    sqlite3_stmt *st;
    int rc = PB_EINTERNAL;

    struct order *o = board_order(b, order_id);
    if (o == NULL)
        return PB_ENOT_FOUND;
    struct column *col = board_column(b, o->work_centre_id);
    assert(col != NULL && col->orders[o->position] == o);
    int64_t pos = o->position, depth = (int64_t)col->len;

    /* phase 1 */
    if ((qnum = store__json_quote(o->order_number)) == NULL
        || (data = malloc(strlen(qnum) + 64)) == NULL)
        goto out;
    sprintf(data, "{\"orderNumber\":%s,\"position\":%lld}", qnum, (long long)pos);
    pb_now_timestamp(now);

    /* phase 2: mark it deleted, then close the gap among the live rows behind it */
    if ((st = store__prepare(s, sql, "order delete")) == NULL || store__begin(s) != 0) {
        sqlite3_finalize(st);
        goto out;
    }
    sqlite3_bind_int64(st, 1, b->tenant_id);
    sqlite3_bind_int64(st, 2, o->id);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    if (run_once(s, st, "order delete") != 0)
        goto fail_tx;
    if (store__shift(s, b->tenant_id, col->work_centre_id, pos + 1, depth - 1, -1) != 0)
        goto fail_tx;
    if (store__audit(s, b->tenant_id, "order_deleted", o->id, col->work_centre_id, 0, user_id,
                     data, depth, -1, now) != 0)
        goto fail_tx;
    if (store__commit(s) != 0)
        goto out;

    /* phase 3 */
    memmove(&col->orders[pos], &col->orders[pos + 1],
            (col->len - (size_t)pos - 1) * sizeof(*col->orders));
    col->len--;
    for (size_t i = (size_t)pos; i < col->len; i++)
        col->orders[i]->position = (int64_t)i;
    imap_del(&b->index->by_id, o->id);
    smap_del(&b->index->by_number, o->order_number);
    b->n_orders--;
    b->version++;
    if (from_wc != NULL)
        *from_wc = col->work_centre_id;
    order__free(o);
    assert(board__column_check(b, col));
    rc = 0;
    goto out;

fail_tx:
    store__rollback(s);
out:
    free(qnum);
    free(data);
    return rc;
}
