/*
 * store/scanner — scanner API keys and scanner events. See scanner.h for the contract.
 *
 * The statements here are prepared per call (sqlite3_prepare_v2 + finalize before the
 * function returns), like store/users.c: finalizing at once means no statement of this file
 * is left running when store__rollback() rolls a transaction back. Shared statements of
 * STORE_STMTS (BEGIN, ORDER_RANK, AUDIT_INSERT) go through store__stmt.
 *
 * Why a scanner event does not call store_order_move / store_order_update: SPEC §1 wants the
 * scanner_events row, the effect and its audit rows in one transaction, and those two open
 * their own (BEGIN IMMEDIATE does not nest). The effect is therefore computed here in
 * memory first (phase 1), written in one transaction (phase 2) with the same rank plan as a
 * move (store/rank.c), and applied to the cache in a way that cannot fail (phase 3).
 */
#include "store/scanner.h"

#include "store/store_int.h"
#include "core/strbuf.h"
#include "core/tz.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- small helpers */

/* A growing string for audit event_data. oom latches the first allocation failure. */

/* Append ,"name":<text as a JSON string or null>. */
static void sb_str_member(struct strbuf *b, const char *name, const char *text)
{
    char *q = store__json_quote(text != NULL && *text ? text : NULL);
    if (q == NULL) {
        b->oom = true;
        return;
    }
    strbuf_printf(b, ",\"%s\":%s", name, q);
    free(q);
}


static bool blank(const char *t)
{
    for (; *t; t++)
        if (!isspace((unsigned char)*t))
            return false;
    return true;
}

static bool hash_valid(const char *h)
{
    size_t i;
    if (h == NULL)
        return false;
    for (i = 0; h[i]; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    return i == 64;
}

/* ---------------------------------------------------------------- API keys */

void api_key_cleanup(struct api_key *k)
{
    if (k == NULL)
        return;
    free(k->name);
    k->name = NULL;
}

/* Columns: id, tenant_id, name, created_by, created_at, revoked_at. 0 or PB_EINTERNAL. */
#define KEY_COLUMNS "id, tenant_id, name, created_by, created_at, revoked_at"
static int key_from_row(struct db_stmt *st, struct api_key *out)
{
    memset(out, 0, sizeof(*out));
    out->id = db_column_int64(st, 0);
    out->tenant_id = db_column_int64(st, 1);
    if ((out->name = store__col_strdup(st, 2)) == NULL)
        return PB_EINTERNAL;
    out->created_by = db_column_int64(st, 3);     /* NULL reads as 0 */
    store__col_copy(st, 4, out->created_at, sizeof(out->created_at));
    store__col_copy(st, 5, out->revoked_at, sizeof(out->revoked_at));
    return 0;
}

int store_api_key_create(struct store *s, int64_t tenant_id, const char *name,
                         const char *key_hash, int64_t user_id, struct api_key *out)
{
    static const char sql[] =
        "INSERT INTO api_keys(tenant_id, name, key_hash, created_by, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)";
    char now[PB_TIMESTAMP_LEN];
    struct strbuf data = { 0 };
    struct db_stmt *st = NULL;
    int rc = PB_EINTERNAL, ext = DB_OK;
    char *name_copy = NULL;

    if (name == NULL || *name == '\0' || strlen(name) > PB_API_KEY_NAME_MAX || blank(name)
        || !hash_valid(key_hash))
        return PB_EVALIDATION;
    if (out != NULL && (name_copy = strdup(name)) == NULL)
        return PB_EINTERNAL;
    pb_now_timestamp(now);

    if ((st = store__prepare(s, sql, "prepare")) == NULL || store__begin(s) != 0) {
        db_finalize(st);
        goto out;
    }
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, name, -1, DB_STATIC);
    db_bind_text(st, 3, key_hash, -1, DB_STATIC);
    store__bind_id_opt(st, 4, user_id);
    db_bind_text(st, 5, now, -1, DB_STATIC);
    if (store__run_final(s, st, "api key insert", &ext, NULL) != 0) {
        rc = ext == DB_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
        goto fail_tx;
    }
    int64_t id = db_last_insert_rowid(s->db);
    strbuf_printf(&data, "{\"apiKeyId\":%lld", (long long)id);
    sb_str_member(&data, "name", name);
    strbuf_printf(&data, "}");
    if (data.oom || store__audit(s, tenant_id, "api_key_created", 0, 0, 0, user_id, data.p,
                                 -1, -1, now) != 0)
        goto fail_tx;
    if (store__commit(s) != 0)
        goto out;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        out->id = id;
        out->tenant_id = tenant_id;
        out->name = name_copy;
        name_copy = NULL;
        out->created_by = user_id;
        memcpy(out->created_at, now, sizeof(out->created_at));
    }
    rc = 0;
    goto out;

fail_tx:
    store__rollback(s);
out:
    free(data.p);
    free(name_copy);
    return rc;
}

int store_api_key_list(struct store *s, int64_t tenant_id, bool include_revoked,
                       struct api_key **out, size_t *n)
{
    static const char live[] = "SELECT " KEY_COLUMNS " FROM api_keys WHERE tenant_id = ?1 "
                               "AND revoked_at IS NULL ORDER BY id";
    static const char all[] = "SELECT " KEY_COLUMNS " FROM api_keys WHERE tenant_id = ?1 "
                              "ORDER BY id";
    struct api_key *v = NULL;
    size_t len = 0, cap = 0;
    struct db_stmt *st;
    int r;

    *out = NULL;
    *n = 0;
    if ((st = store__prepare(s, include_revoked ? all : live, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    while ((r = store__step_row(s, st, "api key list")) == 1) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct api_key *nv = realloc(v, nc * sizeof(*nv));
            if (nv == NULL)
                goto fail;
            v = nv;
            cap = nc;
        }
        if (key_from_row(st, &v[len]) != 0)
            goto fail;
        len++;
    }
    if (r < 0)
        goto fail;
    db_finalize(st);
    *out = v;
    *n = len;
    return 0;

fail:
    db_finalize(st);
    for (size_t i = 0; i < len; i++)
        api_key_cleanup(&v[i]);
    free(v);
    return PB_EINTERNAL;
}

int store_api_key_revoke(struct store *s, int64_t tenant_id, int64_t id, int64_t user_id)
{
    static const char sel[] = "SELECT name FROM api_keys WHERE tenant_id = ?1 AND id = ?2 "
                              "AND revoked_at IS NULL";
    static const char upd[] = "UPDATE api_keys SET revoked_at = ?3 WHERE tenant_id = ?1 "
                              "AND id = ?2 AND revoked_at IS NULL";
    char now[PB_TIMESTAMP_LEN];
    struct strbuf data = { 0 };
    struct db_stmt *st = NULL;
    int rc = PB_EINTERNAL, r, changes = 0;

    pb_now_timestamp(now);
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, sel, "prepare")) == NULL)
        goto fail_tx;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, id);
    r = store__step_row(s, st, "api key get");
    if (r == 1) {
        strbuf_printf(&data, "{\"apiKeyId\":%lld", (long long)id);
        sb_str_member(&data, "name", (const char *)db_column_text(st, 0));
        strbuf_printf(&data, "}");
    }
    db_finalize(st);
    if (r != 1) {
        rc = r == 0 ? PB_ENOT_FOUND : PB_EINTERNAL;
        goto fail_tx;
    }
    if (data.oom || (st = store__prepare(s, upd, "prepare")) == NULL)
        goto fail_tx;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, id);
    db_bind_text(st, 3, now, -1, DB_STATIC);
    if (store__run_final(s, st, "api key revoke", NULL, &changes) != 0 || changes != 1)
        goto fail_tx;
    if (store__audit(s, tenant_id, "api_key_revoked", 0, 0, 0, user_id, data.p, -1, -1,
                     now) != 0)
        goto fail_tx;
    if (store__commit(s) != 0)
        goto out;
    rc = 0;
    goto out;

fail_tx:
    store__rollback(s);
out:
    free(data.p);
    return rc;
}

int store_api_key_lookup(struct store *s, const char *key_hash, struct api_key *out)
{
    static const char sql[] = "SELECT " KEY_COLUMNS " FROM api_keys WHERE key_hash = ?1 "
                              "AND revoked_at IS NULL";
    struct db_stmt *st;
    int r, rc;

    memset(out, 0, sizeof(*out));
    if (!hash_valid(key_hash))
        return PB_EUNAUTHORIZED;
    if ((st = store__prepare(s, sql, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_text(st, 1, key_hash, -1, DB_STATIC);
    r = store__step_row(s, st, "api key lookup");
    rc = r == 1 ? key_from_row(st, out) : r == 0 ? PB_EUNAUTHORIZED : PB_EINTERNAL;
    db_finalize(st);
    return rc;
}

/* ---------------------------------------------------------------- scanner events */

static const char *const type_names[SCAN__COUNT] = {
    [SCAN_JOB_START] = "job_start",
    [SCAN_PROGRESS_UPDATE] = "progress_update",
    [SCAN_JOB_COMPLETE] = "job_complete",
};

const char *scanner_event_type_name(enum scanner_event_type t)
{
    return (unsigned)t < SCAN__COUNT ? type_names[t] : NULL;
}

int scanner_event_type_parse(const char *name)
{
    for (int i = 0; name != NULL && i < SCAN__COUNT; i++)
        if (strcmp(name, type_names[i]) == 0)
            return i;
    return -1;
}

static bool opt_too_long(const char *v, size_t max)
{
    return v != NULL && strlen(v) > max;
}

/* Shape of the input (no lookups). Returns the camelCase field at fault, or NULL. */
static const char *input_bad_field(const struct scanner_event_input *in)
{
    if (in->event_id == NULL || *in->event_id == '\0' || strlen(in->event_id) > PB_SCANNER_ID_MAX)
        return "eventId";
    if (in->order_number == NULL || *in->order_number == '\0')
        return "orderNumber";
    if (in->work_centre_code == NULL || *in->work_centre_code == '\0')
        return "workCentreCode";
    if (scanner_event_type_name((enum scanner_event_type)in->event_type) == NULL)
        return "eventType";
    if (in->has_quantity && (in->quantity < 0 || in->quantity > PB_QUANTITY_MAX))
        return "quantity";
    if (in->event_type == SCAN_PROGRESS_UPDATE && !in->has_quantity)
        return "quantity";
    if (opt_too_long(in->operator_badge, PB_SCANNER_ID_MAX))
        return "operatorBadge";
    if (opt_too_long(in->scanner_id, PB_SCANNER_ID_MAX))
        return "scannerId";
    if (opt_too_long(in->operation_name, PB_OPERATION_MAX))
        return "operationName";
    return NULL;
}

/* 1 when (tenant, event_id) was recorded before, 0 when not, PB_EINTERNAL. */
static int seen_before(struct store *s, int64_t tenant_id, const char *event_id)
{
    static const char sql[] = "SELECT 1 FROM scanner_events WHERE tenant_id = ?1 "
                              "AND event_id = ?2";
    struct db_stmt *st;
    if ((st = store__prepare(s, sql, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, event_id, -1, DB_STATIC);
    int r = store__step_row(s, st, "scanner event lookup");
    db_finalize(st);
    return r;
}

static bool step_open(const struct step *st)
{
    return st->status == STEP_PENDING || st->status == STEP_IN_PROGRESS;
}

/* Everything an event will change, computed before the transaction (phase 1). */
struct plan {
    /* the move (job_start at another centre) */
    bool move;
    struct column *src, *dst;
    int64_t old_pos, new_pos, depth_from, depth_to;
    struct rank_plan rp;            /* its rank at the end of dst */
    /* the order's new field values */
    bool order_change;
    enum order_status status;
    int64_t quantity_completed;
    char start[PB_DATE_LEN], done[PB_DATE_LEN];
    bool started_flag;                  /* started_at = COALESCE(started_at, now) */
    int completed_flag;                 /* 1 = completed_at now, 2 = clear it */
    bool op_change;
    char *op;                           /* new current_operation (malloc'd), NULL = clear */
    /* the step */
    const struct step *step;            /* NULL = no step changes */
    enum step_status step_status;
    int64_t step_delta;
    bool step_started;
};

/* Decide the effect of `in` on order o at work centre wc (see scanner.h). steps[n] are the
 * order's steps by step_number. Returns 0 or PB_EINTERNAL (allocation). */
static int plan_effect(struct board *b, struct order *o, const struct work_centre *wc,
                       const struct scanner_event_input *in, const struct step *steps,
                       size_t n, struct plan *p, struct scanner_result *res)
{
    char today[PB_DATE_LEN];
    const struct step *at = NULL;       /* first open step at wc */

    tz_today(in->timezone, today);
    p->status = o->status;
    p->quantity_completed = o->quantity_completed;
    memcpy(p->start, o->start_date, sizeof(p->start));
    memcpy(p->done, o->completion_date, sizeof(p->done));
    for (size_t i = 0; i < n; i++) {
        if (steps[i].work_centre_id == wc->id && step_open(&steps[i])) {
            at = &steps[i];
            break;
        }
    }

    switch ((enum scanner_event_type)in->event_type) {
    case SCAN_JOB_START:
        if (o->work_centre_id != wc->id) {
            p->move = true;
            p->src = board_column(b, o->work_centre_id);
            p->dst = board_column(b, wc->id);
            assert(p->src != NULL && p->dst != NULL);
            p->old_pos = order_position(o);
            p->depth_from = (int64_t)board_column_len(p->src);
            p->depth_to = (int64_t)board_column_len(p->dst);
            p->new_pos = p->depth_to;               /* the end of the column */
            rank__plan(p->dst, (size_t)p->new_pos, NULL, &p->rp);
        }
        p->status = ORDER_IN_PROGRESS;
        p->started_flag = true;
        if (p->start[0] == '\0')
            memcpy(p->start, today, sizeof(p->start));
        if (o->status == ORDER_COMPLETE) {
            p->done[0] = '\0';
            p->completed_flag = 2;
        }
        if (in->operation_name != NULL && *in->operation_name != '\0'
            && (o->current_operation == NULL
                || strcmp(o->current_operation, in->operation_name) != 0)) {
            if ((p->op = strdup(in->operation_name)) == NULL)
                return PB_EINTERNAL;
            p->op_change = true;
        }
        if (at != NULL && at->status == STEP_PENDING) {
            p->step = at;
            p->step_status = STEP_IN_PROGRESS;
            p->step_started = true;
        }
        break;
    case SCAN_PROGRESS_UPDATE: {
        int64_t room = o->quantity_to_make - o->quantity_completed;
        int64_t d = in->quantity < room ? in->quantity : room;
        if (d < 0)
            d = 0;
        p->quantity_completed += d;
        res->quantity_delta = d;
        if (at != NULL && d > 0) {
            p->step = at;
            p->step_status = STEP_IN_PROGRESS;
            p->step_delta = d;
            p->step_started = true;
        }
        break;
    }
    case SCAN_JOB_COMPLETE: {
        bool last = n == 0;
        if (at != NULL) {
            p->step = at;
            p->step_status = STEP_COMPLETE;
            p->step_started = true;
            last = true;
            for (const struct step *x = at + 1; x < steps + n; x++)
                if (x->status != STEP_COMPLETE && x->status != STEP_SKIPPED)
                    last = false;
        }
        if (last && o->status != ORDER_COMPLETE) {
            p->status = ORDER_COMPLETE;
            memcpy(p->done, today, sizeof(p->done));
            p->completed_flag = 1;
            res->order_completed = true;
        }
        break;
    }
    default:
        break;
    }

    p->order_change = p->move || p->step != NULL || p->op_change || p->status != o->status
                      || p->quantity_completed != o->quantity_completed
                      || strcmp(p->start, o->start_date) != 0
                      || strcmp(p->done, o->completion_date) != 0;
    return 0;
}

/* The scanner_event audit row's event_data. */
static void describe(struct strbuf *d, const struct scanner_event_input *in, const struct order *o,
                     const struct plan *p, const struct scanner_result *res)
{
    strbuf_printf(d, "{\"eventType\":\"%s\"",
              scanner_event_type_name((enum scanner_event_type)in->event_type));
    sb_str_member(d, "eventId", in->event_id);
    sb_str_member(d, "orderNumber", o->order_number);
    sb_str_member(d, "workCentreCode", in->work_centre_code);
    if (in->has_quantity)
        strbuf_printf(d, ",\"quantity\":%lld", (long long)in->quantity);
    if (in->api_key_id > 0)
        strbuf_printf(d, ",\"apiKeyId\":%lld", (long long)in->api_key_id);
    sb_str_member(d, "operatorBadge", in->operator_badge);
    sb_str_member(d, "scannerId", in->scanner_id);
    sb_str_member(d, "operationName", in->operation_name);
    strbuf_printf(d, ",\"moved\":%s", p->move ? "true" : "false");
    if (p->status != o->status)
        strbuf_printf(d, ",\"statusFrom\":\"%s\",\"statusTo\":\"%s\"", order_status_name(o->status),
                  order_status_name(p->status));
    if (in->event_type == SCAN_PROGRESS_UPDATE || p->quantity_completed != o->quantity_completed)
        strbuf_printf(d, ",\"quantityCompletedDelta\":%lld",
                  (long long)(p->quantity_completed - o->quantity_completed));
    if (p->step != NULL)
        strbuf_printf(d, ",\"stepNumber\":%lld,\"stepStatus\":\"%s\"",
                  (long long)p->step->step_number, step_status_name(p->step_status));
    strbuf_printf(d, ",\"orderCompleted\":%s,\"changed\":%s}",
              res->order_completed ? "true" : "false", p->order_change ? "true" : "false");
}

/* Insert in's scanner_events row. *inserted: true, or false when (tenant_id, event_id) is
 * recorded already (by a transaction committed since the look-up: another connection or node;
 * one still open is waited for): then nothing was written. ON CONFLICT DO NOTHING rather than
 * the unique key's error: on PostgreSQL a failed statement aborts the whole transaction (the
 * writer's group, every job of it: store/writer.c run_group). 0 or PB_EINTERNAL. */
static int insert_event(struct store *s, int64_t tenant_id, const struct scanner_event_input *in,
                        int64_t order_id, int64_t wc_id, const char *now, bool *inserted)
{
    static const char sql[] =
        "INSERT INTO scanner_events(tenant_id, event_id, order_id, work_centre_id, "
        "operation_name, event_type, quantity, operator_badge, scanner_id, timestamp, "
        "processed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1) "
        "ON CONFLICT (tenant_id, event_id) DO NOTHING";
    struct db_stmt *st;
    int changes = 0;

    *inserted = false;
    if ((st = store__prepare(s, sql, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, in->event_id, -1, DB_STATIC);
    db_bind_int64(st, 3, order_id);
    db_bind_int64(st, 4, wc_id);
    store__bind_text_opt(st, 5, in->operation_name);
    db_bind_text(st, 6, scanner_event_type_name((enum scanner_event_type)in->event_type),
                      -1, DB_STATIC);
    db_bind_int64(st, 7, in->has_quantity ? in->quantity : 0);
    store__bind_text_opt(st, 8, in->operator_badge);
    store__bind_text_opt(st, 9, in->scanner_id);
    db_bind_text(st, 10, now, -1, DB_STATIC);
    if (store__run_final(s, st, "scanner event insert", NULL, &changes) != 0)
        return PB_EINTERNAL;
    *inserted = changes == 1;
    return 0;
}


static int write_order(struct store *s, int64_t tenant_id, const struct order *o,
                       const struct plan *p, const char *now)
{
#define SQL_WRITE_ORDER(NOW, DONE)                                                              \
        "UPDATE orders SET work_centre_id = ?3, rank = ?4, status = ?5, "                      \
        "quantity_completed = ?6, current_operation = ?7, start_date = ?8, "                   \
        "completion_date = ?9, updated_at = ?10, version = version + 1, "                      \
        "started_at = CASE WHEN ?11 THEN COALESCE(started_at, " NOW ") "                       \
        "ELSE started_at END, completed_at = CASE CAST(?12 AS INTEGER) WHEN 1 THEN "           \
        DONE " WHEN 2 THEN NULL ELSE completed_at END "                                        \
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL"
    static const char sql[] = SQL_WRITE_ORDER(PB_SQL_STAMP_NOW,
                                              PB_SQL_COMPLETED_AT(PB_SQL_STAMP_NOW));
    static const char sql_pg[] = SQL_WRITE_ORDER(PB_PG_STAMP_NOW,
                                                 PB_PG_COMPLETED_AT(PB_PG_STAMP_NOW));
    struct db_stmt *st;
    int changes = 0;
    if ((st = store__prepare(s, s->db->kind == DB_POSTGRES ? sql_pg : sql, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, o->id);
    store__bind_id_opt(st, 3, p->move ? p->dst->work_centre_id : o->work_centre_id);
    db_bind_int64(st, 4, p->move ? p->rp.rank : o->rank);
    db_bind_text(st, 5, order_status_name(p->status), -1, DB_STATIC);
    db_bind_int64(st, 6, p->quantity_completed);
    store__bind_text_opt(st, 7, p->op_change ? p->op : o->current_operation);
    store__bind_text_opt(st, 8, p->start);
    store__bind_text_opt(st, 9, p->done);
    db_bind_text(st, 10, now, -1, DB_STATIC);
    /* leaving the backlog also stamps started_at (SPEC §4 analytics: first left the backlog) */
    db_bind_int(st, 11, p->started_flag || (p->move && p->src->work_centre_id == 0));
    db_bind_int(st, 12, p->completed_flag);
    if (store__run_final(s, st, "scanner order update", NULL, &changes) != 0)
        return PB_EINTERNAL;
    if (changes != 1) {
        snprintf(s->errmsg, sizeof(s->errmsg), "scanner order update: row not found");
        return PB_EINTERNAL;
    }
    return 0;
}

static int write_step(struct store *s, int64_t tenant_id, int64_t order_id, const struct plan *p,
                      const char *now)
{
    static const char sql[] =
        "UPDATE order_steps SET status = ?4, quantity_completed = quantity_completed + ?5, "
        "started_at = CASE WHEN ?6 THEN COALESCE(started_at, ?7) ELSE started_at END, "
        "completed_at = CASE WHEN ?4 = 'complete' THEN COALESCE(completed_at, ?7) "
        "ELSE completed_at END "
        "WHERE tenant_id = ?1 AND order_id = ?2 AND step_number = ?3";
    struct db_stmt *st;
    int changes = 0;
    if ((st = store__prepare(s, sql, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, order_id);
    db_bind_int64(st, 3, p->step->step_number);
    db_bind_text(st, 4, step_status_name(p->step_status), -1, DB_STATIC);
    db_bind_int64(st, 5, p->step_delta);
    db_bind_int(st, 6, p->step_started);
    db_bind_text(st, 7, now, -1, DB_STATIC);
    if (store__run_final(s, st, "scanner step update", NULL, &changes) != 0)
        return PB_EINTERNAL;
    return changes == 1 ? 0 : PB_EINTERNAL;
}

/* Phase 3: apply a committed plan to the cache (no allocation, cannot fail). */
static void apply_to_cache(struct board *b, struct order *o, struct plan *p, const char *now)
{
    if (p->move) {
        struct column *src = p->src, *dst = p->dst;
        ostree_remove(&src->orders, &o->column_node);
        rank__apply(&p->rp);
        o->rank = p->rp.rank;
        assert(p->new_pos == (int64_t)board_column_len(dst));
        ostree_insert_at(&dst->orders, SIZE_MAX, &o->column_node);
        o->work_centre_id = dst->work_centre_id;
        assert(board__order_check(b, o));
    }
    if (p->op_change) {
        free(o->current_operation);
        o->current_operation = p->op;
        p->op = NULL;
    }
    if (p->step != NULL && o->route != NULL) {     /* the route the schedule reads (SPEC §9) */
        for (size_t i = 0; i < o->route->n; i++) {
            struct route_step *rs = &o->route->steps[i];
            if (rs->step_number == p->step->step_number) {
                rs->status = p->step_status;                /* as write_step wrote them */
                rs->quantity_completed += p->step_delta;
            }
        }
    }
    o->status = p->status;
    o->quantity_completed = p->quantity_completed;
    memcpy(o->start_date, p->start, sizeof(o->start_date));
    memcpy(o->completion_date, p->done, sizeof(o->completion_date));
    memcpy(o->updated_at, now, sizeof(o->updated_at));
    o->version++;
    b->version++;
}

/* A scanner event in phases (scanner.h store_scanner_prepare). */
struct scanner_job {
    struct board *b;
    struct scanner_event_input in;      /* strings borrowed from the caller */
    bool duplicate;                     /* eventId recorded before prepare: nothing to do */
    bool dup_at_write;                  /* recorded meanwhile (another connection), or found
                                         * by the write's own look-up (lookup_at_write): write
                                         * wrote nothing; overwritten by every write */
    bool lookup_at_write;               /* store_scanner_prepare_cached: write looks the
                                         * eventId up first */
    const char *invalid;                /* store_scanner_prepare_cached: the field write
                                         * refuses unless the eventId was recorded (static) */
    struct order *o;                    /* the board's */
    int64_t wc_id;
    struct step *steps;                 /* the order's steps (p.step points in here) */
    size_t n_steps;
    struct plan p;
    struct scanner_result res;          /* quantity_delta, order_completed from the plan */
    struct strbuf data, mdata;          /* audit event_data: scanner_event, order_moved */
    char now[PB_TIMESTAMP_LEN];
};

void store_scanner_job_free(struct scanner_job *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->n_steps; i++)
        step_cleanup(&j->steps[i]);
    free(j->steps);
    free(j->p.op);
    free(j->data.p);
    free(j->mdata.p);
    free(j);
}

/* The order's steps as the board caches them (store_scanner_prepare_cached): what
 * store_order_steps would read, without the operation names and times (the plan reads none).
 * 0 or PB_EINTERNAL (allocation). */
static int cached_steps(const struct order *o, struct step **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (o->route == NULL || o->route->n == 0)
        return 0;
    struct step *v = calloc(o->route->n, sizeof(*v));
    if (v == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < o->route->n; i++) {
        const struct route_step *rs = &o->route->steps[i];
        v[i] = (struct step){ .step_number = rs->step_number, .work_centre_id = rs->work_centre_id,
                              .status = rs->status,
                              .planned_duration_minutes = rs->planned_minutes,
                              .actual_duration_minutes = -1,
                              .quantity_completed = rs->quantity_completed };
    }
    *out = v;
    *n = o->route->n;
    return 0;
}

/* store_scanner_prepare (s: the connection it reads) and store_scanner_prepare_cached (s NULL:
 * no reads; scanner.h). */
static int prepare(struct store *s, struct board *b, const struct scanner_event_input *in,
                   struct scanner_job **out, const char **bad_field)
{
    struct scanner_job *j;
    const char *bad;
    int r;

    *out = NULL;
    if (bad_field != NULL)
        *bad_field = NULL;
#define INVALID(f) do { if (bad_field != NULL) *bad_field = (f); \
                        store_scanner_job_free(j); return PB_EVALIDATION; } while (0)
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    j->b = b;
    j->in = *in;
    if ((bad = input_bad_field(in)) != NULL)
        INVALID(bad);

    /* a retried event is accepted and ignored, even if its order has gone since (cached:
     * the write looks it up, and refuses an unknown order or centre only after that) */
    if (s == NULL) {
        j->lookup_at_write = true;
    } else if ((r = seen_before(s, b->tenant_id, in->event_id)) < 0) {
        store_scanner_job_free(j);
        return PB_EINTERNAL;
    } else if (r == 1) {
        j->duplicate = true;
        *out = j;
        return 0;
    }

    struct order *o = board_order_by_number(b, in->order_number);
    const struct work_centre *wc = o == NULL ? NULL
                                   : board_work_centre_by_code(b, in->work_centre_code);
    if (o != NULL && wc != NULL && in->event_type == SCAN_JOB_START && !wc->is_active)
        wc = NULL;
    if (o == NULL || wc == NULL) {
        const char *f = o == NULL ? "orderNumber" : "workCentreCode";
        if (s != NULL)
            INVALID(f);
        j->invalid = f;                 /* the write refuses it, unless a duplicate */
        if (bad_field != NULL)
            *bad_field = f;
        *out = j;
        return 0;
    }
#undef INVALID
    j->o = o;
    j->wc_id = wc->id;

    /* the steps, the plan, the audit texts */
    if (s == NULL) {
        if (cached_steps(o, &j->steps, &j->n_steps) != 0)
            goto fail;
    } else if ((r = store_order_steps(s, b->tenant_id, o->id, &j->steps, &j->n_steps)) != 0
               && r != PB_ENOT_FOUND) {
        goto fail;
    }
    if (plan_effect(b, o, wc, in, j->steps, j->n_steps, &j->p, &j->res) != 0)
        goto fail;
    describe(&j->data, in, o, &j->p, &j->res);
    if (j->p.move) {
        char *q = store__json_quote(in->event_id);
        if (q == NULL)
            goto fail;
        strbuf_printf(&j->mdata, "{\"reason\":\"scanner\",\"fromPosition\":%lld,"
                      "\"toPosition\":%lld,\"eventId\":%s}", (long long)j->p.old_pos,
                      (long long)j->p.new_pos, q);
        free(q);
    }
    if (j->data.oom || j->mdata.oom)
        goto fail;
    pb_now_timestamp(j->now);
    *out = j;
    return 0;

fail:
    store_scanner_job_free(j);
    return PB_EINTERNAL;
}

int store_scanner_prepare(struct store *s, struct board *b, const struct scanner_event_input *in,
                          struct scanner_job **out, const char **bad_field)
{
    return prepare(s, b, in, out, bad_field);
}

int store_scanner_prepare_cached(struct board *b, const struct scanner_event_input *in,
                                 struct scanner_job **out, const char **bad_field)
{
    return prepare(NULL, b, in, out, bad_field);
}

int store_scanner_write(struct store *s, struct scanner_job *j)
{
    const struct plan *p = &j->p;
    int64_t t = j->b->tenant_id;
    bool inserted = false;
    int r;

    j->dup_at_write = false;            /* a rerun decides again */
    if (j->duplicate)
        return 0;
    if (j->lookup_at_write) {           /* store_scanner_prepare_cached: the look-up is here */
        if ((r = seen_before(s, t, j->in.event_id)) < 0)
            return PB_EINTERNAL;
        if (r == 1) {
            j->dup_at_write = true;
            return 0;
        }
        if (j->invalid != NULL)
            return PB_EVALIDATION;
    }
    /* the event row first: if another connection recorded the eventId meanwhile, nothing is
     * inserted (ON CONFLICT DO NOTHING, no statement error: the transaction goes on) and
     * nothing of this job is written */
    if (insert_event(s, t, &j->in, j->o->id, j->wc_id, j->now, &inserted) != 0)
        return PB_EINTERNAL;
    if (!inserted) {
        j->dup_at_write = true;
        return 0;
    }
    if (p->move) {
        if (rank__write(s, t, &p->rp) != 0
            || store__audit(s, t, "order_moved", j->o->id, p->src->work_centre_id,
                            p->dst->work_centre_id, 0, j->mdata.p, p->depth_from, p->depth_to,
                            j->now) != 0)
            return PB_EINTERNAL;
    }
    if (p->order_change && write_order(s, t, j->o, p, j->now) != 0)
        return PB_EINTERNAL;
    if (p->step != NULL && write_step(s, t, j->o->id, p, j->now) != 0)
        return PB_EINTERNAL;
    if (store__audit(s, t, "scanner_event", j->o->id, 0, j->wc_id, 0, j->data.p, -1, -1,
                     j->now) != 0)
        return PB_EINTERNAL;
    return 0;
}

bool store_scanner_writes(const struct scanner_job *j)
{
    return !j->duplicate;
}

bool store_scanner_tried(const struct scanner_job *j, struct order *o, int64_t *position,
                         struct scanner_result *res)
{
    const struct plan *p = &j->p;
    if (j->duplicate || j->invalid != NULL)
        return false;
    *res = j->res;
    *o = *j->o;
    memset(&o->column_node, 0, sizeof(o->column_node));
    *position = order_position(j->o);
    if (p->move) {
        res->moved = true;
        res->from_work_centre_id = p->src->work_centre_id;
        res->to_work_centre_id = p->dst->work_centre_id;
        res->position = p->new_pos;
        o->work_centre_id = p->dst->work_centre_id;
        *position = p->new_pos;
    }
    if (p->order_change) {              /* as apply_to_cache */
        if (p->op_change)
            o->current_operation = p->op;
        o->status = p->status;
        o->quantity_completed = p->quantity_completed;
        memcpy(o->start_date, p->start, sizeof(o->start_date));
        memcpy(o->completion_date, p->done, sizeof(o->completion_date));
        memcpy(o->updated_at, j->now, sizeof(o->updated_at));
        o->version++;
    }
    res->changed = p->order_change;
    res->step_number = p->step != NULL ? p->step->step_number : 0;
    res->order = o;
    return true;
}

bool store_scanner_applies(const struct scanner_job *j)
{
    return !j->duplicate && !j->dup_at_write;
}

void store_scanner_apply(struct board *b, struct scanner_job *j, struct scanner_result *out)
{
    struct scanner_result res = j->res;
    assert(b == j->b);
    if (j->duplicate || j->dup_at_write) {
        memset(&res, 0, sizeof(res));
        res.duplicate = true;
    } else {
        struct plan *p = &j->p;
        if (p->move) {
            res.moved = true;
            res.from_work_centre_id = p->src->work_centre_id;
            res.to_work_centre_id = p->dst->work_centre_id;
            res.position = p->new_pos;
        }
        if (p->order_change)
            apply_to_cache(b, j->o, p, j->now);
        res.changed = p->order_change;
        res.step_number = p->step != NULL ? p->step->step_number : 0;
        res.order = j->o;
    }
    if (out != NULL)
        *out = res;
}

int store_scanner_event(struct store *s, struct board *b, const struct scanner_event_input *in,
                        struct scanner_result *out, const char **bad_field)
{
    struct scanner_job *j;
    int rc = store_scanner_prepare(s, b, in, &j, bad_field);
    if (rc != 0)
        return rc;
    if (store_scanner_writes(j)) {
        /* the event row, the effect and the audit rows in one transaction */
        if (store__begin(s) != 0) {
            store_scanner_job_free(j);
            return PB_EINTERNAL;
        }
        if ((rc = store_scanner_write(s, j)) != 0) {
            store__rollback(s);
            store_scanner_job_free(j);
            return rc;
        }
        if (store__commit(s) != 0) {
            store_scanner_job_free(j);
            return PB_EINTERNAL;
        }
    }
    store_scanner_apply(b, j, out);
    store_scanner_job_free(j);
    return 0;
}
