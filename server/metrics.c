/*
 * metrics — GET /metrics (no auth), Prometheus text exposition format 0.0.4 (SPEC §4):
 * requests by route and status, WebSocket connections, broadcasts, drag locks held, import
 * rows, gzip copies made, error answers by code, SQLite commit latency. Every name starts with planboard_.
 */
#include "server/server_int.h"

#include "store/writer.h"

#include "core/strbuf.h"
#include "store/checkpoint.h"

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

static void counter(struct strbuf *t, const char *name, const char *help, uint64_t v)
{
    strbuf_printf(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long)v);
}

static void gauge(struct strbuf *t, const char *name, const char *help, double v)
{
    strbuf_printf(t, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

static void histogram(struct strbuf *t, const char *name, const char *help,
                      const struct pb_histogram *h)
{
    uint64_t cum = 0;
    strbuf_printf(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < PB_COMMIT_BUCKETS - 1; i++) {
        cum += h->counts[i];
        strbuf_printf(t, "%s_bucket{le=\"%g\"} %llu\n", name, pb_commit_bounds[i], (unsigned long long)cum);
    }
    strbuf_printf(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    strbuf_printf(t, "%s_sum %.9f\n", name, h->sum_seconds);
    strbuf_printf(t, "%s_count %llu\n", name, (unsigned long long)h->count);
}

static void r_metrics(struct http_req *r, const cJSON *body)
{
    static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "OTHER" };
    struct app *app = r->app;
    struct metrics *m = &app->metrics;
    struct strbuf t = { 0 };
    size_t conns = 0;
    (void)body;

    strbuf_printf(&t, "# HELP planboard_http_requests_total HTTP requests answered, by method, route "
            "pattern and status.\n# TYPE planboard_http_requests_total counter\n");
    for (size_t i = 0; i < m->n_requests; i++)
        strbuf_printf(&t, "planboard_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
            methods[m->requests[i].method], m->requests[i].route, m->requests[i].status,
            (unsigned long long)m->requests[i].count);
    for (struct ws_conn *c = app->conns; c != NULL; c = c->next)
        conns += c->opened;             /* not the ones whose open's read is in flight */
    gauge(&t, "planboard_websocket_connections", "Open WebSocket connections.", (double)conns);
    counter(&t, "planboard_websocket_connections_total", "WebSocket connections accepted.",
            m->ws_opened);
    counter(&t, "planboard_websocket_slow_closed_total",
            "WebSocket connections closed with 1008 for a full send queue.", m->ws_slow_closed);
    counter(&t, "planboard_broadcasts_total", "Room events published.", m->broadcasts);
    counter(&t, "planboard_broadcast_deliveries_total", "Room events queued to connections.",
            m->deliveries);
    counter(&t, "planboard_room_log_events_total",
            "Room events written to the database's event log.", app->room_log.logged);
    counter(&t, "planboard_room_log_lost_total", "Room events the event log gave up on (the "
            "next start renews every epoch).", app->room_log.failed);
    gauge(&t, "planboard_room_log_pending", "Room events waiting for the event log.",
          (double)app->room_log.n);
    counter(&t, "planboard_room_log_jobs_total", "Writer jobs of the event log (they are in "
            "planboard_writer_jobs_total too).", app->room_log.jobs);
    gauge(&t, "planboard_room_log_in_flight", "Writer jobs of the event log outstanding (0 or "
          "1; in planboard_writer_outstanding too).", app->room_log.in_flight ? 1 : 0);
    if (app->postgres) {                /* SPEC §12: the cluster bus (server/bus.c) */
        counter(&t, "planboard_bus_notifications_total", "NOTIFYs of room events received "
                "(this node's own included).", app->bus.notifications);
        counter(&t, "planboard_bus_foreign_total", "NOTIFYs from other nodes.",
                app->bus.foreign);
        counter(&t, "planboard_bus_applied_total", "Other nodes' events applied to this "
                "node's cached boards.", app->bus.applied);
        counter(&t, "planboard_bus_seen_total", "Other nodes' events this node's cached board "
                "held already (loaded after the change).", app->bus.seen);
        counter(&t, "planboard_bus_own_total", "This node's own events read back from the "
                "log (in its cache since the write: passed over).", app->bus.own);
        counter(&t, "planboard_bus_reloads_total", "Cached boards dropped (reloaded at the "
                "next use) because another node changed them in a way not applied exactly.",
                app->bus.reloads);
        counter(&t, "planboard_move_stale_waits_total", "Stale move batches that waited for "
                "the bus to apply the tenant's log before planning again.", app->bus.waits);
        counter(&t, "planboard_move_stale_wait_timeouts_total", "Of those, the ones the bus "
                "did not catch up for in time (the board was reloaded instead).",
                app->bus.wait_timeouts);
        counter(&t, "planboard_board_loads_total", "Boards not cached loaded on the reader "
                "thread (board_load.c): one per tenant however many requests wait for it; a "
                "load made stale by a change meanwhile counts again.", app->board_loads_total);
        counter(&t, "planboard_room_loads_total", "Rooms (event log, drag locks) read on the "
                "reader thread at this node's first use of their tenant (room_load.c): one "
                "per tenant however many requests wait for it.", app->room_loads_total);
        counter(&t, "planboard_presence_beats_total", "Presence heartbeats with their sweep "
                "of dead nodes done on the reader thread (room.c), one a second.",
                app->presence_beats);
        counter(&t, "planboard_presence_beats_skipped_total", "Heartbeat ticks skipped because "
                "the last heartbeat was still running (PostgreSQL made it wait).",
                app->presence_beats_skipped);
        gauge(&t, "planboard_board_load_waiters", "Requests waiting for their tenant's board "
              "to be loaded off the loop (those whose client went away included, until the "
              "load ends).", (double)app->board_load_waiters);
        counter(&t, "planboard_bus_fetches_total", "Reads of new room events from the log.",
                app->bus.fetches);
        counter(&t, "planboard_bus_rows_total", "Room events read from the log.",
                app->bus.rows);
        counter(&t, "planboard_bus_reconnects_total", "Times the LISTEN connection was "
                "opened again.", app->bus.reconnects);
        counter(&t, "planboard_move_stale_retries_total", "Move batches planned again: "
                "another node had changed the columns first.",
                m->move_stale_retries);
        gauge(&t, "planboard_bus_lag_events", "Replication lag: events notified (newest seq "
              "seen) but not yet in their rooms (applied), over all rooms.",
              (double)room_lag_total(app));
        gauge(&t, "planboard_events_unsettled", "Events published or notified that have not "
              "reached their rooms yet (0: this node is up to date).",
              (double)bus_unsettled(app));
        uint64_t trips, wait_ns;
        db_thread_waits(&trips, &wait_ns);      /* the loop thread's own (metrics runs there) */
        counter(&t, "planboard_loop_db_round_trips_total", "Blocking PostgreSQL round trips "
                "made by the event loop thread (reads that miss the cache, drag-lock and "
                "presence statements; writes go through the writer thread).", trips);
        strbuf_printf(&t, "# HELP planboard_loop_db_wait_seconds_total Wall time the event "
                      "loop thread spent waiting in those round trips.\n# TYPE "
                      "planboard_loop_db_wait_seconds_total counter\n"
                      "planboard_loop_db_wait_seconds_total %.9f\n", (double)wait_ns / 1e9);
    }
    gauge(&t, "planboard_drag_locks_held", "Drag locks in the lock table.",
          (double)lock_count(app->locks));
    counter(&t, "planboard_import_rows_total", "CSV records read by imports.", m->import_rows);
    counter(&t, "planboard_blob_gzip_total", "gzip copies of shared answer bodies made while "
            "serving (the board: one per board version read with Accept-Encoding: gzip).",
            m->blob_gzips);
    strbuf_printf(&t, "# HELP planboard_errors_total Error answers by SPEC code (HTTP, WebSocket "
            "error frames, upgrade refusals, import reports).\n"
            "# TYPE planboard_errors_total counter\n");
#define PB_ERR_METRIC(name, status, code) \
    if (PB_E##name != PB_EWIP_LIMIT)    /* counted as conflict (error_reply.c) */ \
    strbuf_printf(&t, "planboard_errors_total{code=\"%s\"} %llu\n", code, \
                  (unsigned long long)error_reply_count(app, PB_E##name));
    PB_ERRNO_MAP(PB_ERR_METRIC)
#undef PB_ERR_METRIC
    gauge(&t, "planboard_uptime_seconds", "Seconds since the server started.",
          (double)(pb_now_ms() - app->started_ms) / 1000.0);

    if (app->durable != NULL)
        counter(&t, "planboard_group_commit_syncs_total",
                "WAL fdatasync calls of group commit (each covers every commit before it).",
                durable_syncs(app));
    if (app->checkpointer != NULL) {
        struct checkpoint_stats cs;
        checkpointer_stats(app->checkpointer, &cs);
        counter(&t, "planboard_wal_checkpoints_total",
                "WAL checkpoints (PASSIVE, off the loop) that copied frames.", cs.checkpoints);
        counter(&t, "planboard_wal_restarts_total",
                "RESTART checkpoints (writes never paused long enough for PASSIVE).",
                cs.restarts);
        counter(&t, "planboard_wal_truncates_total",
                "TRUNCATE checkpoints of a WAL past the size limit.", cs.truncates);
        counter(&t, "planboard_wal_checkpoint_busy_total",
                "Checkpoints that could not finish (a writer or reader in the way).", cs.busy);
        gauge(&t, "planboard_wal_bytes", "WAL file size at the last checkpoint.",
              (double)cs.wal_bytes);
    }
    counter(&t, "planboard_sqlite_commits_total", "SQLite transactions committed.",
            store_commit_seq(app->store));
    /* the writer's COMMITs (every request's write) and the loop connection's (start, rare) */
    struct pb_histogram ch = *store_commit_histogram(app->store);
    struct writer_stats ws;
    if (app->writer != NULL && !app->writer_closed) {
        writer_stats(app->writer, &ws);
        for (size_t i = 0; i < PB_COMMIT_BUCKETS; i++)
            ch.counts[i] += ws.commits.counts[i];
        ch.count += ws.commits.count;
        ch.sum_seconds += ws.commits.sum_seconds;
    }
    histogram(&t, "planboard_sqlite_commit_seconds",
              "Latency of SQLite COMMIT (the writer thread's and the loop connection's).", &ch);
    if (app->writer != NULL && !app->writer_closed) {
        counter(&t, "planboard_writer_jobs_total",
                "Writes handed to the writer thread (imports; docs/writer.md).", ws.jobs);
        counter(&t, "planboard_writer_jobs_failed_total",
                "Writer jobs that changed nothing (validation, conflict, SQLite).",
                ws.jobs_failed);
        counter(&t, "planboard_writer_transactions_total",
                "Transactions the writer thread committed (group commit).", ws.transactions);
        counter(&t, "planboard_writer_rejected_total",
                "Writes refused with 429 because the writer's queue was full.", ws.rejected);
        counter(&t, "planboard_writer_exclusive_waits_total",
                "Loop-side writes that waited for a writer job to finish.",
                ws.exclusives_waited);
        gauge(&t, "planboard_writer_outstanding", "Writer jobs accepted and not yet done.",
              (double)ws.outstanding);
        gauge(&t, "planboard_writer_held",
              "Loop-side writes waiting for the writer, and the jobs behind them.",
              (double)ws.held);
    }
    histogram(&t, "planboard_schedule_recompute_seconds",
              "SPEC 9 projected schedule: server time of each recompute after a change or a "
              "refresh that changed something.", &m->schedule_recompute);
    histogram(&t, "planboard_schedule_preview_seconds",
              "SPEC 9 preview-move: server time of each what-if answer.", &m->schedule_preview);
    if (app->durable != NULL) {
        struct pb_histogram dl;
        durable_latency(app, &dl);
        histogram(&t, "planboard_commit_durable_seconds",
                  "Group commit: per group, seconds from its oldest commit until on disk.", &dl);
    }

    webhooks_metrics(app, &t);

    if (t.oom) {
        strbuf_cleanup(&t);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.p, t.len);
}

const struct route pb_routes_metrics[] = {
    { M_GET, "/metrics", R_PUBLIC, 0, r_metrics, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
