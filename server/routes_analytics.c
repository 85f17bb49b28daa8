/*
 * routes_analytics — SPEC §4 "Planning board" stats and "Analytics" (store/analytics.h does
 * the arithmetic; this file turns tenths into one-decimal JSON numbers and nulls).
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "store/analytics.h"
#include "core/tz.h"

/* ================================================================ helpers */

/* A figure kept in tenths as a JSON number with one decimal; -1 (when null_ok) is null. */
static cJSON *tenths_json(int64_t t, bool null_ok)
{
    if (null_ok && t < 0)
        return cJSON_CreateNull();
    return cJSON_CreateNumber((double)t / 10.0);
}

static cJSON *id_or_null(int64_t id)
{
    return id == 0 ? cJSON_CreateNull() : cJSON_CreateNumber((double)id);
}


/* ================================================================ reads off the loop
 * The database half of each route runs through reads_submit (issue 13 "the loop never waits on
 * a PostgreSQL round trip": on the reader thread on PostgreSQL, at once on SQLite); what comes
 * from the board cache is computed on the loop, in the job's done. owner first: CLOSED_HTTP
 * clears it. */

enum analytics_kind { A_STATS, A_DASHBOARD, A_CYCLE_TIMES, A_ROUTING };

struct analytics_job {
    struct http_req *owner;
    enum analytics_kind kind;
    int64_t tenant_id;
    int64_t now_ms;
    char today[PB_DATE_LEN];            /* A_STATS, A_DASHBOARD: in the tenant's timezone */
    struct analytics_dashboard d;       /* A_DASHBOARD */
    int64_t *wc_ids;                    /* A_CYCLE_TIMES: the board's work centres at submit */
    char **wc_codes;
    struct analytics_dwell *dwell;      /* A_CYCLE_TIMES: n_wc entries */
    size_t n_wc;
    struct analytics_route *routes;     /* A_ROUTING */
    size_t n_routes;
};

static void analytics_job_free(struct analytics_job *j)
{
    for (size_t i = 0; j->wc_codes != NULL && i < j->n_wc; i++)
        free(j->wc_codes[i]);
    free(j->wc_codes);
    free(j->wc_ids);
    free(j->dwell);
    free(j->routes);
    free(j);
}

static int analytics_job_read(struct store *rs, void *ctx)
{
    struct analytics_job *j = ctx;
    struct tenant t;
    int rc;
    switch (j->kind) {
    case A_STATS:
        if ((rc = store_tenant_get(rs, j->tenant_id, &t)) != 0)
            return rc;
        tz_today(t.timezone, j->today);
        tenant_cleanup(&t);
        return 0;
    case A_DASHBOARD:
        memset(&j->d, 0, sizeof(j->d));
        return analytics_dashboard_db(rs, j->tenant_id, j->now_ms, &j->d, j->today);
    case A_CYCLE_TIMES:
        return analytics_dwell_read(rs, j->tenant_id, j->wc_ids, j->n_wc, j->dwell);
    case A_ROUTING:
        free(j->routes);                /* a second run overwrites the first */
        j->routes = NULL;
        return analytics_routing(rs, j->tenant_id, &j->routes, &j->n_routes);
    }
    return PB_EINTERNAL;
}

static cJSON *stats_json(struct http_req *r, const char *today, int *rc)
{
    struct analytics_wc_stats *v = NULL;
    struct board *b;
    size_t n = 0;
    if ((*rc = store_board(r->app->store, r->claims.tenant_id, &b)) != 0)
        return NULL;
    (void)schedule_refresh(r->app, r->claims.tenant_id, b);    /* SPEC §9: workMinutes, clearsAt */
    if ((*rc = analytics_board_stats(b, today, &v, &n)) != 0)
        return NULL;
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "workCentreId", (double)v[i].work_centre_id);
        cJSON_AddStringToObject(e, "code", v[i].code);
        cJSON_AddNumberToObject(e, "orderCount", (double)v[i].order_count);
        cJSON_AddNumberToObject(e, "inProgress", (double)v[i].in_progress);
        cJSON_AddNumberToObject(e, "capacity", (double)v[i].capacity);
        cJSON_AddItemToObject(e, "utilization", tenths_json(v[i].utilization_tenths, false));
        cJSON_AddNumberToObject(e, "overdue", (double)v[i].overdue);
        cJSON_AddNumberToObject(e, "quantityToMake", (double)v[i].quantity_to_make);
        cJSON_AddNumberToObject(e, "quantityCompleted", (double)v[i].quantity_completed);
        cJSON_AddNumberToObject(e, "workMinutes", (double)v[i].work_minutes);
        if (v[i].clears_at > 0 && v[i].clears_at != CAL_BEYOND) {
            char at[PB_TIMESTAMP_LEN];
            json_format_minute(v[i].clears_at, at);
            cJSON_AddStringToObject(e, "clearsAt", at);
        } else {
            cJSON_AddNullToObject(e, "clearsAt");
        }
        cJSON_AddItemToArray(a, e);
    }
    free(v);
    return json_data(a);
}

static cJSON *dashboard_json(struct http_req *r, struct analytics_job *j, int *rc)
{
    struct board *b;
    /* the board's counts now, on the loop (SPEC §9: lateOrders from the live projection) */
    if ((*rc = store_board(r->app->store, r->claims.tenant_id, &b)) != 0)
        return NULL;
    (void)schedule_refresh(r->app, r->claims.tenant_id, b);
    analytics_board_counts(b, j->today, &j->d);
    const struct analytics_dashboard *d = &j->d;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "activeOrders", (double)d->active_orders);
    cJSON_AddItemToObject(o, "completionRate", tenths_json(d->completion_rate_tenths, false));
    cJSON_AddItemToObject(o, "workCentreUtilization", tenths_json(d->utilization_tenths, false));
    cJSON *dp = cJSON_AddObjectToObject(o, "dailyProduction");
    cJSON_AddNumberToObject(dp, "actual", (double)d->daily_actual);
    cJSON_AddNumberToObject(dp, "target", (double)d->daily_target);
    cJSON_AddNumberToObject(o, "overdueOrders", (double)d->overdue_orders);
    cJSON_AddNumberToObject(o, "lateOrders", (double)d->late_orders);
    cJSON_AddItemToObject(o, "avgCycleTime", tenths_json(d->avg_cycle_tenths, true));
    return o;
}

static cJSON *cycle_times_json(const struct analytics_job *j)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < j->n_wc; i++) {
        const struct analytics_dwell *v = &j->dwell[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "workCentreId", (double)v->work_centre_id);
        cJSON_AddStringToObject(e, "code", j->wc_codes[i]);
        cJSON_AddNumberToObject(e, "samples", (double)v->samples);
        cJSON_AddItemToObject(e, "avgHours", tenths_json(v->avg_tenths, true));
        cJSON_AddItemToObject(e, "p50Hours", tenths_json(v->p50_tenths, true));
        cJSON_AddItemToObject(e, "p90Hours", tenths_json(v->p90_tenths, true));
        cJSON_AddItemToArray(a, e);
    }
    return json_data(a);
}

static cJSON *routing_json(const struct analytics_job *j)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < j->n_routes; i++) {
        const struct analytics_route *v = &j->routes[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "fromWorkCentreId", id_or_null(v->from_work_centre_id));
        cJSON_AddItemToObject(e, "toWorkCentreId", id_or_null(v->to_work_centre_id));
        cJSON_AddNumberToObject(e, "count", (double)v->count);
        cJSON_AddItemToObject(e, "avgQueueDepthTo", tenths_json(v->avg_depth_to_tenths, true));
        cJSON_AddItemToArray(a, e);
    }
    return json_data(a);
}

static const char *const unavailable[] = {
    [A_STATS] = "board stats unavailable", [A_DASHBOARD] = "analytics unavailable",
    [A_CYCLE_TIMES] = "cycle times unavailable", [A_ROUTING] = "routing unavailable",
};

static void analytics_job_done(void *ctx, int status)
{
    struct analytics_job *j = ctx;
    struct http_req *r = j->owner;
    if (r != NULL) {
        int rc = status;
        cJSON *o = NULL;
        r->job = NULL;
        if (rc == 0) {
            switch (j->kind) {
            case A_STATS: o = stats_json(r, j->today, &rc); break;
            case A_DASHBOARD: o = dashboard_json(r, j, &rc); break;
            case A_CYCLE_TIMES: o = cycle_times_json(j); break;
            case A_ROUTING: o = routing_json(j); break;
            }
        }
        if (rc != 0 || o == NULL)
            http_reply_error(r, rc == PB_ENOT_FOUND || rc == PB_ERATE_LIMITED ? rc
                                : PB_EINTERNAL, unavailable[j->kind], NULL);
        else
            http_reply_json(r, 200, o);
    }
    analytics_job_free(j);
}

/* The cycle-times job's snapshot of the board's work centres (ids and codes), taken on the
 * loop so that the read touches no cache. 0 or an error code. */
static int snapshot_work_centres(struct http_req *r, struct analytics_job *j)
{
    struct board *b;
    int rc = store_board(r->app->store, r->claims.tenant_id, &b);
    if (rc != 0)
        return rc;
    size_t nw = b->n_work_centres;
    j->wc_ids = calloc(nw + 1, sizeof(*j->wc_ids));
    j->wc_codes = calloc(nw + 1, sizeof(*j->wc_codes));
    j->dwell = calloc(nw + 1, sizeof(*j->dwell));
    if (j->wc_ids == NULL || j->wc_codes == NULL || j->dwell == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < nw; i++) {
        j->wc_ids[i] = b->work_centres[i].id;
        if ((j->wc_codes[i] = strdup(b->work_centres[i].code)) == NULL) {
            j->n_wc = i;
            return PB_EINTERNAL;
        }
    }
    j->n_wc = nw;
    return 0;
}

static void analytics_submit(struct http_req *r, enum analytics_kind kind)
{
    struct analytics_job *j = calloc(1, sizeof(*j));
    int rc = j == NULL ? PB_EINTERNAL : 0;
    if (j != NULL) {
        j->owner = r;
        j->kind = kind;
        j->tenant_id = r->claims.tenant_id;
        j->now_ms = pb_now_ms();
        if (kind == A_CYCLE_TIMES)
            rc = snapshot_work_centres(r, j);
    }
    if (rc == 0) {
        r->job = j;                     /* analytics_job_done answers (at once on SQLite) */
        if ((rc = reads_submit(r->app, analytics_job_read, analytics_job_done, j)) == 0)
            return;
        r->job = NULL;
    }
    if (j != NULL)
        analytics_job_free(j);
    http_reply_error(r, rc == PB_ENOT_FOUND || rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                     unavailable[kind], NULL);
}

/* ================================================================ routes */

/* GET /api/planning-board/stats (any role): the board cache, "today" from the tenant's row. */
static void r_board_stats(struct http_req *r, const cJSON *body)
{
    (void)body;
    analytics_submit(r, A_STATS);
}

/* GET /api/analytics/dashboard (any role). */
static void r_dashboard(struct http_req *r, const cJSON *body)
{
    (void)body;
    analytics_submit(r, A_DASHBOARD);
}

/* GET /api/analytics/cycle-times (admin, scheduler). */
static void r_cycle_times(struct http_req *r, const cJSON *body)
{
    (void)body;
    analytics_submit(r, A_CYCLE_TIMES);
}

/* GET /api/analytics/routing (admin, scheduler). */
static void r_routing(struct http_req *r, const cJSON *body)
{
    (void)body;
    analytics_submit(r, A_ROUTING);
}

/* ================================================================ the route table */

const struct route pb_routes_analytics[] = {
    { M_GET, "/api/planning-board/stats", R_ANY, ROUTE_BOARD, r_board_stats, NULL },
    { M_GET, "/api/analytics/dashboard", R_ANY, ROUTE_BOARD, r_dashboard, NULL },
    { M_GET, "/api/analytics/cycle-times", R_ADMIN | R_SCHEDULER, ROUTE_BOARD, r_cycle_times, NULL },
    { M_GET, "/api/analytics/routing", R_ADMIN | R_SCHEDULER, 0, r_routing, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
