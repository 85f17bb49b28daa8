/*
 * metrics — GET /metrics (no auth), Prometheus text exposition format 0.0.4 (SPEC §4):
 * requests by route and status, WebSocket connections, broadcasts, drag locks held, import
 * rows, SQLite commit latency. Every name starts with planboard_.
 */
#include "server/server_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void metrics_request(struct app *app, int method, const char *route, int status)
{
    struct metrics *m = &app->metrics;
    for (size_t i = 0; i < m->n_requests; i++) {
        struct request_stat *st = &m->requests[i];
        if (st->method == method && st->status == status && st->route == route) {
            st->count++;
            return;
        }
    }
    if (m->n_requests == m->cap_requests) {
        size_t cap = m->cap_requests ? m->cap_requests * 2 : 32;
        struct request_stat *n = realloc(m->requests, cap * sizeof(*n));
        if (n == NULL)
            return;
        m->requests = n;
        m->cap_requests = cap;
    }
    m->requests[m->n_requests++] = (struct request_stat){ method, route, status, 1 };
}

void metrics_cleanup(struct app *app)
{
    free(app->metrics.requests);
    memset(&app->metrics, 0, sizeof(app->metrics));
}

/* A growing text buffer for the exposition. */
struct text {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *nb = realloc(t->buf, cap);
        if (nb == NULL) {
            t->oom = true;
            return;
        }
        t->buf = nb;
        t->cap = cap;
    }
}

static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
    put(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long)v);
}

static void gauge(struct text *t, const char *name, const char *help, double v)
{
    put(t, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

static void histogram(struct text *t, const char *name, const char *help,
                      const struct pb_histogram *h)
{
    uint64_t cum = 0;
    put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < PB_COMMIT_BUCKETS - 1; i++) {
        cum += h->counts[i];
        put(t, "%s_bucket{le=\"%g\"} %llu\n", name, pb_commit_bounds[i], (unsigned long long)cum);
    }
    put(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    put(t, "%s_sum %.9f\n", name, h->sum_seconds);
    put(t, "%s_count %llu\n", name, (unsigned long long)h->count);
}

static void r_metrics(struct http_req *r, const cJSON *body)
{
    static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "OTHER" };
    struct app *app = r->app;
    struct metrics *m = &app->metrics;
    struct text t = { 0 };
    size_t conns = 0;
    (void)body;

    put(&t, "# HELP planboard_http_requests_total HTTP requests answered, by method, route "
            "pattern and status.\n# TYPE planboard_http_requests_total counter\n");
    for (size_t i = 0; i < m->n_requests; i++)
        put(&t, "planboard_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
            methods[m->requests[i].method], m->requests[i].route, m->requests[i].status,
            (unsigned long long)m->requests[i].count);
    for (struct ws_conn *c = app->conns; c != NULL; c = c->next)
        conns++;
    gauge(&t, "planboard_websocket_connections", "Open WebSocket connections.", (double)conns);
    counter(&t, "planboard_websocket_connections_total", "WebSocket connections accepted.",
            m->ws_opened);
    counter(&t, "planboard_websocket_slow_closed_total",
            "WebSocket connections closed with 1008 for a full send queue.", m->ws_slow_closed);
    counter(&t, "planboard_broadcasts_total", "Room events published.", m->broadcasts);
    counter(&t, "planboard_broadcast_deliveries_total", "Room events queued to connections.",
            m->deliveries);
    gauge(&t, "planboard_drag_locks_held", "Drag locks in the lock table.",
          (double)lock_count(app->locks));
    counter(&t, "planboard_import_rows_total", "CSV records read by imports.", m->import_rows);
    gauge(&t, "planboard_uptime_seconds", "Seconds since the server started.",
          (double)(pb_now_ms() - app->started_ms) / 1000.0);

    if (app->durable != NULL)
        counter(&t, "planboard_group_commit_syncs_total",
                "WAL fdatasync calls of group commit (each covers every commit before it).",
                durable_syncs(app));
    counter(&t, "planboard_sqlite_commits_total", "SQLite transactions committed.",
            store_commit_seq(app->store));
    histogram(&t, "planboard_sqlite_commit_seconds", "Latency of SQLite COMMIT.",
              store_commit_histogram(app->store));
    if (app->durable != NULL) {
        struct pb_histogram dl;
        durable_latency(app, &dl);
        histogram(&t, "planboard_commit_durable_seconds",
                  "Group commit: per group, seconds from its oldest commit until on disk.", &dl);
    }

    if (t.oom) {
        free(t.buf);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len);
}

const struct route pb_routes_metrics[] = {
    { M_GET, "/metrics", R_PUBLIC, 0, r_metrics },
    { M_OTHER, NULL, 0, 0, NULL },
};
