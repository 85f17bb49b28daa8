/*
 * analytics_summaries — check and rebuild of the analytics summary tables
 * (analytics_summaries.h). Calls only sql.c.
 */
#include "store/analytics_summaries.h"
#include "store/store_int.h"

/* The order_moved rows the dwell summary is made of (reorders inside one column excluded),
 * with their time in seconds (-1 unknown), numbered per order in commit (id) order: the same
 * rows and times as the analytics_dwell_move trigger of schema.sql sees one at a time. */
#define SQL_DWELL_MOVES                                                                        \
    "WITH m AS (SELECT tenant_id, order_id, COALESCE(from_work_centre_id, 0) AS f, "         \
    "COALESCE(to_work_centre_id, 0) AS t, CASE WHEN length(timestamp) >= 19 THEN "            \
    "COALESCE(CAST(strftime('%s', substr(timestamp, 1, 19)) AS INTEGER), -1) ELSE -1 END "    \
    "AS s, id FROM audit_log WHERE event_type = 'order_moved' AND order_id IS NOT NULL "      \
    "AND COALESCE(from_work_centre_id, 0) <> COALESCE(to_work_centre_id, 0)), "               \
    "l AS (SELECT tenant_id, order_id, f, t, s, LAG(t) OVER w AS pt, LAG(s) OVER w AS ps, "   \
    "ROW_NUMBER() OVER (PARTITION BY tenant_id, order_id ORDER BY id DESC) AS back FROM m "   \
    "WINDOW w AS (PARTITION BY tenant_id, order_id ORDER BY id)), "                           \
    "smp AS (SELECT tenant_id, f AS wc, s - ps AS d FROM l WHERE f <> 0 AND f = pt "          \
    "AND ps >= 0 AND s >= 0) "

/* The whole rebuild, one transaction (analytics_summaries_ensure). */
static const char sql_rebuild[] =
    "DELETE FROM analytics_routes; DELETE FROM analytics_order_place; "
    "DELETE FROM analytics_dwell; DELETE FROM analytics_dwell_hist; "
    "DELETE FROM analytics_summary_state; "
    "INSERT INTO analytics_routes(tenant_id, from_wc, to_wc, moves, depth_sum, depth_n) "
    "SELECT tenant_id, COALESCE(from_work_centre_id, 0), COALESCE(to_work_centre_id, 0), "
    "COUNT(*), COALESCE(SUM(queue_depth_to), 0), COUNT(queue_depth_to) FROM audit_log "
    "WHERE event_type = 'order_moved' AND from_work_centre_id IS NOT to_work_centre_id "
    "GROUP BY tenant_id, from_work_centre_id, to_work_centre_id; "
    "INSERT INTO analytics_order_place(tenant_id, order_id, work_centre_id, arrived) "
    SQL_DWELL_MOVES "SELECT tenant_id, order_id, t, s FROM l WHERE back = 1; "
    "INSERT INTO analytics_dwell(tenant_id, work_centre_id, samples, pos_seconds) "
    SQL_DWELL_MOVES "SELECT tenant_id, wc, COUNT(*), SUM(MAX(d, 0)) FROM smp "
    "GROUP BY tenant_id, wc; "
    "INSERT INTO analytics_dwell_hist(tenant_id, work_centre_id, tenths, samples) "
    SQL_DWELL_MOVES "SELECT tenant_id, wc, CASE WHEN d <= 0 THEN 0 ELSE (20 * d + 3600) / 7200 "
    "END AS h, COUNT(*) FROM smp GROUP BY tenant_id, wc, h; "
    "INSERT INTO analytics_summary_state(version) VALUES (1);";

int analytics_summaries_ensure(struct store *s)
{
    struct db_stmt *st = store__prepare(s, "SELECT 1 FROM analytics_summary_state "
                                         "WHERE version = 1", "analytics summaries");
    int r;

    if (st == NULL)
        return PB_EINTERNAL;
    r = store__step_row(s, st, "analytics summaries");
    db_finalize(st);
    if (r != 0)
        return r < 0 ? PB_EINTERNAL : 0;
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if (store_exec(s, sql_rebuild) != 0) {
        store__rollback(s);
        return PB_EINTERNAL;
    }
    return store__commit(s);
}

