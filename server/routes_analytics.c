/*
 * routes_analytics — SPEC §4 "Planning board" stats and "Analytics" (store/analytics.h does
 * the arithmetic; this file turns tenths into one-decimal JSON numbers and nulls).
 */
#include "server/server_int.h"

#include <stdlib.h>

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


static void reply_store_error(struct http_req *r, int rc, const char *what)
{
    http_reply_error(r, rc == PB_ENOT_FOUND ? PB_ENOT_FOUND : PB_EINTERNAL, what, NULL);
}

/* ================================================================ routes */

/* GET /api/planning-board/stats (any role): from the board cache. */
static void r_board_stats(struct http_req *r, const cJSON *body)
{
    struct analytics_wc_stats *v = NULL;
    char today[PB_DATE_LEN];
    struct tenant t;
    struct board *b;
    size_t n = 0;
    int rc;
    (void)body;

    if ((rc = store_tenant_get(r->app->store, r->claims.tenant_id, &t)) != 0) {
        reply_store_error(r, rc, "tenant unavailable");
        return;
    }
    tz_today(t.timezone, today);
    tenant_cleanup(&t);
    if ((rc = store_board(r->app->store, r->claims.tenant_id, &b)) != 0) {
        reply_store_error(r, rc, "board stats unavailable");
        return;
    }
    (void)schedule_refresh(r->app, r->claims.tenant_id, b);    /* SPEC §9: workMinutes, clearsAt */
    if ((rc = analytics_board_stats(b, today, &v, &n)) != 0) {
        reply_store_error(r, rc, "board stats unavailable");
        return;
    }
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
    http_reply_json(r, 200, json_data(a));
}

/* GET /api/analytics/dashboard (any role). */
static void r_dashboard(struct http_req *r, const cJSON *body)
{
    struct analytics_dashboard d;
    int rc;
    struct board *b;
    (void)body;

    if (store_board(r->app->store, r->claims.tenant_id, &b) == 0)   /* SPEC §9: lateOrders */
        (void)schedule_refresh(r->app, r->claims.tenant_id, b);
    if ((rc = analytics_dashboard(r->app->store, r->claims.tenant_id, pb_now_ms(), &d)) != 0) {
        reply_store_error(r, rc, "analytics unavailable");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "activeOrders", (double)d.active_orders);
    cJSON_AddItemToObject(o, "completionRate", tenths_json(d.completion_rate_tenths, false));
    cJSON_AddItemToObject(o, "workCentreUtilization", tenths_json(d.utilization_tenths, false));
    cJSON *dp = cJSON_AddObjectToObject(o, "dailyProduction");
    cJSON_AddNumberToObject(dp, "actual", (double)d.daily_actual);
    cJSON_AddNumberToObject(dp, "target", (double)d.daily_target);
    cJSON_AddNumberToObject(o, "overdueOrders", (double)d.overdue_orders);
    cJSON_AddNumberToObject(o, "lateOrders", (double)d.late_orders);
    cJSON_AddItemToObject(o, "avgCycleTime", tenths_json(d.avg_cycle_tenths, true));
    http_reply_json(r, 200, o);
}

/* GET /api/analytics/cycle-times (admin, scheduler). */
static void r_cycle_times(struct http_req *r, const cJSON *body)
{
    struct analytics_dwell *v = NULL;
    struct board *b;
    size_t n = 0;
    int rc;
    (void)body;

    if ((rc = store_board(r->app->store, r->claims.tenant_id, &b)) != 0
        || (rc = analytics_cycle_times(r->app->store, b, &v, &n)) != 0) {
        reply_store_error(r, rc, "cycle times unavailable");
        return;
    }
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "workCentreId", (double)v[i].work_centre_id);
        cJSON_AddStringToObject(e, "code", v[i].code);
        cJSON_AddNumberToObject(e, "samples", (double)v[i].samples);
        cJSON_AddItemToObject(e, "avgHours", tenths_json(v[i].avg_tenths, true));
        cJSON_AddItemToObject(e, "p50Hours", tenths_json(v[i].p50_tenths, true));
        cJSON_AddItemToObject(e, "p90Hours", tenths_json(v[i].p90_tenths, true));
        cJSON_AddItemToArray(a, e);
    }
    free(v);
    http_reply_json(r, 200, json_data(a));
}

/* GET /api/analytics/routing (admin, scheduler). */
static void r_routing(struct http_req *r, const cJSON *body)
{
    struct analytics_route *v = NULL;
    size_t n = 0;
    int rc;
    (void)body;

    if ((rc = analytics_routing(r->app->store, r->claims.tenant_id, &v, &n)) != 0) {
        reply_store_error(r, rc, "routing unavailable");
        return;
    }
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "fromWorkCentreId", id_or_null(v[i].from_work_centre_id));
        cJSON_AddItemToObject(e, "toWorkCentreId", id_or_null(v[i].to_work_centre_id));
        cJSON_AddNumberToObject(e, "count", (double)v[i].count);
        cJSON_AddItemToObject(e, "avgQueueDepthTo", tenths_json(v[i].avg_depth_to_tenths, true));
        cJSON_AddItemToArray(a, e);
    }
    free(v);
    http_reply_json(r, 200, json_data(a));
}

/* ================================================================ the route table */

const struct route pb_routes_analytics[] = {
    { M_GET, "/api/planning-board/stats", R_ANY, 0, r_board_stats, NULL },
    { M_GET, "/api/analytics/dashboard", R_ANY, 0, r_dashboard, NULL },
    { M_GET, "/api/analytics/cycle-times", R_ADMIN | R_SCHEDULER, 0, r_cycle_times, NULL },
    { M_GET, "/api/analytics/routing", R_ADMIN | R_SCHEDULER, 0, r_routing, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
