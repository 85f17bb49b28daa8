/*
 * audit — audit log listing with filters and pagination, and `since` parsing.
 */
#include "store/audit.h"

#include "store/store_int.h"
#include "core/tz.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void audit_entry_cleanup(struct audit_entry *e)
{
    if (e == NULL)
        return;
    free(e->event_type);
    free(e->username);
    free(e->event_data);
    e->event_type = NULL;
    e->username = NULL;
    e->event_data = NULL;
}

/* ---------------------------------------------------------------- since */

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static void format_utc(int64_t secs, char out[PB_TIMESTAMP_LEN])
{
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, PB_TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int audit_since_parse(const char *in, const char *tz, char out[PB_TIMESTAMP_LEN])
{
    char date[PB_DATE_LEN];

    if (in == NULL || strlen(in) < 10)
        return PB_EVALIDATION;
    memcpy(date, in, 10);
    date[10] = '\0';
    if (!pb_date_valid(date))
        return PB_EVALIDATION;
    if (in[10] == '\0') {           /* a date: the start of that day in the tenant's zone */
        int64_t ms = tz_day_start_ms(tz, date);   /* a whole second: never the -1 error */
        format_utc(ms / 1000, out);
        return 0;
    }
    const char *p = in + 10;
    if ((*p != 'T' && *p != 't' && *p != ' ') || !digits(p + 1, 2) || p[3] != ':'
        || !digits(p + 4, 2))
        return PB_EVALIDATION;
    int hh = num(p + 1, 2), mi = num(p + 4, 2), ss = 0;
    p += 6;
    if (*p == ':') {
        if (!digits(p + 1, 2))
            return PB_EVALIDATION;
        ss = num(p + 1, 2);
        p += 3;
        if (*p == '.') {
            p++;
            if (!isdigit((unsigned char)*p))
                return PB_EVALIDATION;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    int offset = 0;                 /* seconds east of UTC */
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (!digits(p + 1, 2) || p[3] != ':' || !digits(p + 4, 2))
            return PB_EVALIDATION;
        int oh = num(p + 1, 2), om = num(p + 4, 2);
        if (oh > 23 || om > 59)
            return PB_EVALIDATION;
        offset = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p != '\0' || hh > 23 || mi > 59 || ss > 60)
        return PB_EVALIDATION;
    struct tm tm = { 0 };
    tm.tm_year = num(date, 4) - 1900;
    tm.tm_mon = num(date + 5, 2) - 1;
    tm.tm_mday = num(date + 8, 2);
    tm.tm_hour = hh;
    tm.tm_min = mi;
    tm.tm_sec = ss;
    int64_t secs = (int64_t)timegm(&tm) - offset;
    format_utc(secs, out);
    return 0;
}

/* ---------------------------------------------------------------- listing */

/* The WHERE clause of the filters present only (issue 9 item 3: `(?2 IS NULL OR ...)` kept
 * SQLite from choosing an index, since the plan is made before the values are bound).
 * Parameters: ?1 tenant, ?2 order id, ?3 event type, ?4 since; the ones of absent filters
 * do not occur. Indexes of schema.sql per combination (EXPLAIN QUERY PLAN in test_store_edit):
 * an order: audit_log_order or audit_log_moves (an order has few rows; `+timestamp` keeps the
 * planner, which has no statistics, from preferring the time range of all orders); a type:
 * audit_log_type (tenant_id, event_type), in id order; since alone: audit_log_time; none:
 * audit_log_tenant (tenant_id, id). */
static void audit_where(const struct audit_query *q, bool postgres, char *out, size_t size)
{
    snprintf(out, size, " FROM audit_log WHERE tenant_id = ?1%s%s%s",
             q->order_id != 0 ? " AND order_id = ?2" : "",
             q->event_type != NULL && *q->event_type ? " AND event_type = ?3" : "",
             q->since != NULL && *q->since
                 ? (q->order_id != 0 && !postgres ? " AND +timestamp >= ?4"
                                                  : " AND timestamp >= ?4") : "");
}

int audit_list_sql(const struct audit_query *q, bool count, bool postgres, char *out,
                   size_t size)
{
    char where[AUDIT_SQL_MAX];
    audit_where(q, postgres, where, sizeof(where));
    int n = count ? snprintf(out, size, "SELECT COUNT(*)%s", where)
                  : snprintf(out, size, "SELECT id, event_type, order_id, from_work_centre_id, "
                             "to_work_centre_id, user_id, event_data, queue_depth_from, "
                             "queue_depth_to, timestamp, (SELECT u.username FROM users u "
                             "WHERE u.id = audit_log.user_id AND u.tenant_id = ?1)"
                             "%s ORDER BY id DESC LIMIT ?5 OFFSET ?6",
                             where);
    return n > 0 && (size_t)n < size ? 0 : PB_EINTERNAL;
}

void audit_list_bind(struct db_stmt *st, int64_t tenant_id, const struct audit_query *q)
{
    db_bind_int64(st, 1, tenant_id);
    if (q->order_id != 0)
        db_bind_int64(st, 2, q->order_id);
    if (q->event_type != NULL && *q->event_type)
        db_bind_text(st, 3, q->event_type, -1, DB_STATIC);
    if (q->since != NULL && *q->since)
        db_bind_text(st, 4, q->since, -1, DB_STATIC);
}

int store_audit_list(struct store *s, int64_t tenant_id, const struct audit_query *q,
                     struct audit_entry **out, size_t *n, int64_t *total)
{
    char sql_count[AUDIT_SQL_MAX], sql_page[AUDIT_SQL_MAX];
    struct db_stmt *st = NULL;
    struct audit_entry *v = NULL;
    size_t len = 0, cap = 0;
    int r;

    *out = NULL;
    *n = 0;
    *total = 0;
    bool pg = s->db->kind == DB_POSTGRES;
    if (audit_list_sql(q, true, pg, sql_count, sizeof(sql_count)) != 0
        || audit_list_sql(q, false, pg, sql_page, sizeof(sql_page)) != 0)
        return PB_EINTERNAL;
    if (db_prepare(s->db, sql_count, false, &st) != DB_OK)
        goto fail_sql;
    audit_list_bind(st, tenant_id, q);
    if (db_step(st) != DB_ROW)
        goto fail_sql;
    *total = db_column_int64(st, 0);
    db_finalize(st);
    st = NULL;

    if (db_prepare(s->db, sql_page, false, &st) != DB_OK)
        goto fail_sql;
    audit_list_bind(st, tenant_id, q);
    db_bind_int64(st, 5, q->limit);
    db_bind_int64(st, 6, q->offset);
    while ((r = db_step(st)) == DB_ROW) {
        if (len == cap) {
            cap = cap ? 2 * cap : 16;
            struct audit_entry *nv = realloc(v, cap * sizeof(*nv));
            if (nv == NULL)
                goto fail;
            v = nv;
        }
        struct audit_entry *e = &v[len];
        memset(e, 0, sizeof(*e));
        e->id = db_column_int64(st, 0);
        e->event_type = store__col_strdup(st, 1);
        e->order_id = db_column_int64(st, 2);
        e->from_work_centre_id = db_column_int64(st, 3);
        e->to_work_centre_id = db_column_int64(st, 4);
        e->user_id = db_column_int64(st, 5);
        if (db_column_type(st, 6) != DB_NULL)
            e->event_data = store__col_strdup(st, 6);
        e->queue_depth_from = db_column_type(st, 7) == DB_NULL
                                  ? -1 : db_column_int64(st, 7);
        e->queue_depth_to = db_column_type(st, 8) == DB_NULL
                                ? -1 : db_column_int64(st, 8);
        store__col_copy(st, 9, e->timestamp, sizeof(e->timestamp));
        if (db_column_type(st, 10) != DB_NULL)
            e->username = store__col_strdup(st, 10);
        len++;
        if (e->event_type == NULL
            || (db_column_type(st, 10) != DB_NULL && e->username == NULL)
            || (db_column_type(st, 6) != DB_NULL && e->event_data == NULL))
            goto fail;
    }
    if (r != DB_DONE)
        goto fail_sql;
    db_finalize(st);
    *out = v;
    *n = len;
    return 0;

fail_sql:
    store__error(s, "audit list");
fail:
    db_finalize(st);
    for (size_t i = 0; i < len; i++)
        audit_entry_cleanup(&v[i]);
    free(v);
    *total = 0;
    return PB_EINTERNAL;
}
