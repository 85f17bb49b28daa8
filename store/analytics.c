/*
 * analytics — SPEC §4 board stats and analytics; see analytics.h and docs/analytics.md.
 */
#include "store/analytics.h"
#include "store/analytics_summaries.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_int.h"
#include "core/tz.h"
#include "core/calendar.h"
#include "core/schedule.h"

#define CYCLE_WINDOW_S (30 * 86400)   /* SPEC §4: orders completed in the last 30 days */

/* ---------------------------------------------------------------- arithmetic */

/* round(10 × num ÷ den), half up, for num >= 0 and den > 0: a figure in tenths. */
static int64_t tenths(int64_t num, int64_t den)
{
    return (20 * num + den) / (2 * den);
}

/* ---------------------------------------------------------------- dates */

static void fmt_ts(int64_t seconds, char out[PB_TIMESTAMP_LEN])
{
    time_t tt = (time_t)seconds;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, PB_TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Floor division for the ms -> s conversion (instants before 1970 in tests). */
static int64_t ms_to_s(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

void analytics_today(const char *tz, int64_t now_ms, char today[PB_DATE_LEN],
                     char from[PB_TIMESTAMP_LEN], char to[PB_TIMESTAMP_LEN])
{
    char d[PB_DATE_LEN], next[PB_DATE_LEN];

    tz_date_at(tz, now_ms, d);
    if (today != NULL)
        memcpy(today, d, PB_DATE_LEN);
    int64_t start = tz_day_start_ms(tz, d);
    if (from != NULL)
        fmt_ts(ms_to_s(start), from);
    if (to != NULL) {
        /* a local day lasts 23 to 25 hours: 36 h after its start is always tomorrow */
        tz_date_at(tz, start + 36LL * 3600 * 1000, next);
        fmt_ts(ms_to_s(tz_day_start_ms(tz, next)), to);
    }
}

/* ---------------------------------------------------------------- board cache */

static bool is_overdue(const struct order *o, const char *today)
{
    return o->due_date[0] != '\0' && strcmp(o->due_date, today) < 0
           && o->status != ORDER_COMPLETE && o->status != ORDER_CANCELLED;
}

static int64_t count_in_progress(const struct column *c)
{
    int64_t n = 0;
    for (const struct order *o = board_column_first(c); o != NULL; o = board_column_next(o))
        n += o->status == ORDER_IN_PROGRESS;
    return n;
}

int analytics_board_stats(const struct board *b, const char *today,
                          struct analytics_wc_stats **out, size_t *n)
{
    struct analytics_wc_stats *v = NULL;

    *out = NULL;
    *n = 0;
    if (b->n_work_centres == 0)
        return 0;
    v = calloc(b->n_work_centres, sizeof(*v));
    if (v == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < b->n_work_centres; i++) {
        const struct work_centre *w = &b->work_centres[i];
        const struct column *c = &b->columns[i];
        struct analytics_wc_stats *e = &v[i];
        e->work_centre_id = w->id;
        e->code = w->code;
        e->capacity = w->capacity;
        e->order_count = (int64_t)board_column_len(c);
        e->in_progress = count_in_progress(c);
        for (const struct order *o = board_column_first(c); o != NULL; o = board_column_next(o)) {
            e->overdue += is_overdue(o, today);
            e->quantity_to_make += o->quantity_to_make;
            e->quantity_completed += o->quantity_completed;
        }
        for (const struct order *o = board_column_first(c); o != NULL; o = board_column_next(o)) {
            if (o->status != ORDER_NOT_STARTED && o->status != ORDER_IN_PROGRESS)
                continue;               /* SPEC §9: what the projection queues */
            size_t step;                /* unused: schedule_work_at writes it */
            int64_t work = schedule_work_at(o, w->id, w->default_operation_minutes, &step);
            e->work_minutes += work;
            if (o->projected_start == SCHEDULE_NULL || e->clears_at == CAL_BEYOND)
                continue;
            int64_t end = o->projected_start == CAL_BEYOND || b->calendar == NULL
                              ? CAL_BEYOND : calendar_add(b->calendar, o->projected_start, work);
            if (end > e->clears_at)
                e->clears_at = end;
        }
        int64_t busy = e->in_progress < w->capacity ? e->in_progress : w->capacity;
        e->utilization_tenths = w->capacity > 0 ? tenths(100 * busy, w->capacity) : 0;
    }
    *out = v;
    *n = b->n_work_centres;
    return 0;
}

static void count_column(const struct column *c, const char *today, int64_t per_status[],
                         int64_t *overdue, int64_t *late)
{
    for (const struct order *o = board_column_first(c); o != NULL; o = board_column_next(o)) {
        if ((unsigned)o->status < ORDER_STATUS__COUNT)
            per_status[o->status]++;
        *overdue += is_overdue(o, today);
        *late += o->late;
    }
}

void analytics_board_counts(const struct board *b, const char *today,
                            struct analytics_dashboard *out)
{
    int64_t per_status[ORDER_STATUS__COUNT] = { 0 }, overdue = 0, busy = 0, cap = 0, late = 0;

    for (size_t i = 0; i < b->n_work_centres; i++) {
        const struct column *c = &b->columns[i];
        int64_t before = per_status[ORDER_IN_PROGRESS];
        count_column(c, today, per_status, &overdue, &late);
        if (b->work_centres[i].is_active) {
            int64_t wip = per_status[ORDER_IN_PROGRESS] - before;
            int64_t wcap = b->work_centres[i].capacity;
            busy += wip < wcap ? wip : wcap;
            cap += wcap;
        }
    }
    count_column(&b->backlog, today, per_status, &overdue, &late);

    int64_t not_cancelled = 0;
    for (int st = 0; st < ORDER_STATUS__COUNT; st++)
        if (st != ORDER_CANCELLED)
            not_cancelled += per_status[st];
    out->active_orders = per_status[ORDER_NOT_STARTED] + per_status[ORDER_IN_PROGRESS]
                         + per_status[ORDER_ON_HOLD];
    out->completion_rate_tenths =
        not_cancelled > 0 ? tenths(100 * per_status[ORDER_COMPLETE], not_cancelled) : 0;
    out->utilization_tenths = cap > 0 ? tenths(100 * busy, cap) : 0;
    out->overdue_orders = overdue;
    out->late_orders = late;
}

/* ---------------------------------------------------------------- SQL */


/* Quantity completed in [from, to): uses index audit_log_time (tenant_id, timestamp). Rows
 * whose event_data is not JSON are skipped instead of failing the whole sum. */
static const char sql_daily[] =
    "SELECT COALESCE(SUM(CASE WHEN json_valid(event_data) "
    "THEN json_extract(event_data, '$.quantityCompletedDelta') END), 0) "
    "FROM audit_log WHERE tenant_id = ?1 AND timestamp >= ?2 AND timestamp < ?3";

/* Cycle time of the orders completed since ?2, in seconds (the transition stamps have
 * milliseconds since issue 8; julianday reads both forms). Uses the partial index orders_cycle
 * (tenant_id, completed_at) WHERE completed_at IS NOT NULL AND deleted_at IS NULL AND
 * started_at < completed_at; the query repeats those terms so that SQLite may use it. */
static const char sql_cycle[] =
    "SELECT COUNT(*), CAST(ROUND(COALESCE(SUM((julianday(completed_at) "
    "- julianday(started_at)) * 86400.0), 0)) AS INTEGER) "
    "FROM orders WHERE tenant_id = ?1 AND completed_at IS NOT NULL AND deleted_at IS NULL "
    "AND completed_at >= ?2 AND status = 'complete' AND started_at IS NOT NULL "
    "AND started_at < completed_at";

/* PostgreSQL's spelling of the two: the delta read with a pattern (a row that is not JSON
 * counts nothing, as above), the seconds from the timestamps' difference. */
static const char sql_daily_pg[] =
    "SELECT COALESCE(SUM(CAST(substring(event_data from "
    "'\"quantityCompletedDelta\":(-?[0-9]+)') AS BIGINT)), 0) "
    "FROM audit_log WHERE tenant_id = ?1 AND timestamp >= ?2 AND timestamp < ?3";
static const char sql_cycle_pg[] =
    "SELECT COUNT(*), CAST(ROUND(COALESCE(SUM(EXTRACT(EPOCH FROM (CAST(completed_at AS "
    "timestamp) - CAST(started_at AS timestamp)))), 0)) AS BIGINT) "
    "FROM orders WHERE tenant_id = ?1 AND completed_at IS NOT NULL AND deleted_at IS NULL "
    "AND completed_at >= ?2 AND status = 'complete' AND started_at IS NOT NULL "
    "AND started_at < completed_at";

static int dashboard_sql(struct store *s, int64_t tenant_id, const char *from, const char *to,
                         int64_t now_s, struct analytics_dashboard *out)
{
    char since[PB_TIMESTAMP_LEN];
    struct db_stmt *st;
    int rc = 0;

    bool pg = s->db->kind == DB_POSTGRES;
    if ((st = store__prepare(s, pg ? sql_daily_pg : sql_daily, "analytics")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, from, -1, DB_STATIC);
    db_bind_text(st, 3, to, -1, DB_STATIC);
    if (db_step(st) == DB_ROW) {
        out->daily_actual = db_column_int64(st, 0);
    } else {
        store__error(s, "analytics daily production");
        rc = PB_EINTERNAL;
    }
    db_finalize(st);
    if (rc != 0)
        return rc;

    fmt_ts(now_s - CYCLE_WINDOW_S, since);
    if ((st = store__prepare(s, pg ? sql_cycle_pg : sql_cycle, "analytics")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, since, -1, DB_STATIC);
    if (db_step(st) == DB_ROW) {
        int64_t n = db_column_int64(st, 0), sum = db_column_int64(st, 1);
        out->avg_cycle_tenths = n > 0 ? (sum <= 0 ? 0 : tenths(sum, n * 3600)) : -1;
    } else {
        store__error(s, "analytics cycle time");
        rc = PB_EINTERNAL;
    }
    db_finalize(st);
    return rc;
}

int analytics_dashboard_db(struct store *s, int64_t tenant_id, int64_t now_ms,
                           struct analytics_dashboard *out, char today[PB_DATE_LEN])
{
    char from[PB_TIMESTAMP_LEN], to[PB_TIMESTAMP_LEN];
    struct tenant t;
    int rc;

    if ((rc = store_tenant_get(s, tenant_id, &t)) != 0)
        return rc;
    analytics_today(t.timezone, now_ms, today, from, to);
    out->daily_target = t.daily_target;
    tenant_cleanup(&t);
    return dashboard_sql(s, tenant_id, from, to, ms_to_s(now_ms), out);
}

int analytics_dashboard(struct store *s, int64_t tenant_id, int64_t now_ms,
                        struct analytics_dashboard *out)
{
    char today[PB_DATE_LEN];
    struct analytics_dashboard d = { 0 };
    struct board *b;
    int rc;

    if ((rc = analytics_dashboard_db(s, tenant_id, now_ms, &d, today)) != 0)
        return rc;
    if ((rc = store_board(s, tenant_id, &b)) != 0)
        return rc;
    analytics_board_counts(b, today, &d);
    *out = d;
    return 0;
}

/* ---------------------------------------------------------------- dwell times */

/* Nearest rank of percentile p among n samples (n > 0): the rank-th smallest, 1-based. */
static int64_t nearest_rank(int64_t n, unsigned p)
{
    int64_t rank = ((int64_t)p * n + 99) / 100;
    return rank > 0 ? rank : 1;
}

/* Per work centre of the tenant: its sample count and Σ max(seconds, 0). Index: the UNIQUE
 * (tenant_id, work_centre_id) of analytics_dwell. */
static const char sql_dwell[] =
    "SELECT work_centre_id, samples, pos_seconds FROM analytics_dwell WHERE tenant_id = ?1";
/* The histograms of the tenant, in (work centre, tenths) order: UNIQUE (tenant_id,
 * work_centre_id, tenths) of analytics_dwell_hist. */
static const char sql_dwell_hist[] =
    "SELECT work_centre_id, tenths, samples FROM analytics_dwell_hist WHERE tenant_id = ?1 "
    "ORDER BY work_centre_id, tenths";

static int id_slot(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return (int)i;
    return -1;
}

int analytics_dwell_read(struct store *s, int64_t tenant_id, const int64_t *wc_ids, size_t nw,
                         struct analytics_dwell *v)
{
    int64_t *seen = calloc(nw + 1, sizeof(*seen));      /* samples walked so far per centre */
    struct db_stmt *st = NULL;
    int r, rc = PB_EINTERNAL;

    for (size_t i = 0; i < nw; i++) {
        v[i].work_centre_id = wc_ids[i];
        v[i].samples = 0;
        v[i].avg_tenths = v[i].p50_tenths = v[i].p90_tenths = -1;
    }
    if (seen == NULL || analytics_summaries_ensure(s) != 0)
        goto done;
    if ((st = store__prepare(s, sql_dwell, "analytics dwell")) == NULL)
        goto done;
    db_bind_int64(st, 1, tenant_id);
    while ((r = store__step_row(s, st, "analytics dwell")) == 1) {
        int slot = id_slot(wc_ids, nw, db_column_int64(st, 0));
        int64_t samples = db_column_int64(st, 1), sum = db_column_int64(st, 2);
        if (slot < 0 || samples <= 0)
            continue;                                   /* a deleted work centre */
        v[slot].samples = samples;
        v[slot].avg_tenths = tenths(sum > 0 ? sum : 0, samples * 3600);
    }
    db_finalize(st);
    if (r < 0 || (st = store__prepare(s, sql_dwell_hist, "analytics dwell")) == NULL) {
        st = NULL;
        goto done;
    }
    db_bind_int64(st, 1, tenant_id);
    while ((r = store__step_row(s, st, "analytics dwell")) == 1) {
        int slot = id_slot(wc_ids, nw, db_column_int64(st, 0));
        if (slot < 0 || v[slot].samples <= 0)
            continue;
        struct analytics_dwell *e = &v[slot];
        int64_t h = db_column_int64(st, 1);
        seen[slot] += db_column_int64(st, 2);
        /* the bucket holding the rank-th smallest sample gives the percentile */
        if (e->p50_tenths < 0 && seen[slot] >= nearest_rank(e->samples, 50))
            e->p50_tenths = h;
        if (e->p90_tenths < 0 && seen[slot] >= nearest_rank(e->samples, 90))
            e->p90_tenths = h;
    }
    if (r < 0)
        goto done;
    rc = 0;
done:
    db_finalize(st);
    free(seen);
    return rc;
}

int analytics_cycle_times(struct store *s, const struct board *b,
                          struct analytics_dwell **out, size_t *n)
{
    size_t nw = b->n_work_centres;
    struct analytics_dwell *v = calloc(nw + 1, sizeof(*v));
    int64_t *ids = calloc(nw + 1, sizeof(*ids));
    int rc = PB_EINTERNAL;

    *out = NULL;
    *n = 0;
    if (v == NULL || ids == NULL)
        goto done;
    for (size_t i = 0; i < nw; i++)
        ids[i] = b->work_centres[i].id;
    if ((rc = analytics_dwell_read(s, b->tenant_id, ids, nw, v)) != 0)
        goto done;
    for (size_t i = 0; i < nw; i++)
        v[i].code = b->work_centres[i].code;
    if (nw > 0) {
        *out = v;
        *n = nw;
        v = NULL;
    }
done:
    free(ids);
    free(v);
    return rc;
}

/* ---------------------------------------------------------------- routing */

/* The tenant's column pairs, UNIQUE (tenant_id, from_wc, to_wc) of analytics_routes; the sort
 * is over the pairs (at most (work centres + 1)², never the history). */
static const char sql_routing[] =
    "SELECT from_wc, to_wc, moves, depth_sum, depth_n FROM analytics_routes "
    "WHERE tenant_id = ?1 ORDER BY moves DESC, from_wc, to_wc";

int analytics_routing(struct store *s, int64_t tenant_id, struct analytics_route **out,
                      size_t *n)
{
    struct analytics_route *v = NULL;
    size_t len = 0, cap = 0;
    struct db_stmt *st;
    int r, rc = 0;

    *out = NULL;
    *n = 0;
    if (analytics_summaries_ensure(s) != 0
        || (st = store__prepare(s, sql_routing, "analytics")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    while ((r = db_step(st)) == DB_ROW) {
        if (len == cap) {
            cap = cap ? 2 * cap : 16;
            struct analytics_route *p = realloc(v, cap * sizeof(*p));
            if (p == NULL) {
                rc = PB_EINTERNAL;
                break;
            }
            v = p;
        }
        struct analytics_route *e = &v[len++];
        int64_t sum = db_column_int64(st, 3), with_depth = db_column_int64(st, 4);
        e->from_work_centre_id = db_column_int64(st, 0);
        e->to_work_centre_id = db_column_int64(st, 1);
        e->count = db_column_int64(st, 2);
        e->avg_depth_to_tenths = with_depth > 0 && sum >= 0 ? tenths(sum, with_depth) : -1;
    }
    if (rc == 0 && r != DB_DONE) {
        store__error(s, "analytics routing");
        rc = PB_EINTERNAL;
    }
    db_finalize(st);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}
