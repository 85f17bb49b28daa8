/*
 * analytics — the figures of SPEC §4 "Planning board" stats and "Analytics".
 *
 * Two kinds of sources (docs/analytics.md):
 *   - counts over the board cache (orders per status, in-progress per centre, overdue): one
 *     pass over the cached orders, O(orders), no SQL;
 *   - history from SQLite: quantity completed today (audit rows' quantityCompletedDelta of
 *     today, index audit_log_time), cycle time (orders.started_at / completed_at of the last
 *     30 days, index orders_cycle), dwell times and routing from summary tables that triggers
 *     of schema.sql keep in the transaction of each order_moved audit row (issue 9 item 3):
 *     their cost follows the result (work centres, column pairs, distinct dwell values), not
 *     the length of the history.
 *
 * Every decimal figure is carried as an integer count of tenths ("one decimal" in SPEC §4),
 * rounded half up from exact integer arithmetic, so 2/3 is 667 tenths (66.7 %) on every
 * platform; the JSON layer divides by 10. A figure that can be null uses -1 for null.
 *
 * Errors: 0 or a negative PB_E* code of core/errors.h (PB_ENOT_FOUND unknown tenant,
 * PB_EINTERNAL SQLite or allocation failure; nothing is ever changed by these functions).
 * Threading: like the store, loop thread only (tz.h switches TZ during a call).
 */
#ifndef PB_ANALYTICS_H
#define PB_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "store/store.h"

/* One entry of GET /api/planning-board/stats. */
struct analytics_wc_stats {
    int64_t work_centre_id;
    const char *code;                   /* borrowed from the board: valid while it is */
    int64_t order_count;                /* orders in the column */
    int64_t in_progress;                /* of which status in_progress */
    int64_t capacity;
    int64_t utilization_tenths;         /* 1000 × min(in_progress, capacity) ÷ capacity */
    int64_t overdue;                    /* dueDate < today, status not complete/cancelled */
    int64_t quantity_to_make;           /* sums over the column */
    int64_t quantity_completed;
    /* SPEC §9 (issue 11 item 7), from the projection (bring it up to date first) */
    int64_t work_minutes;               /* queued work: Σ work at this centre (working minutes,
                                         * schedule_work_at) of its not_started / in_progress
                                         * orders */
    int64_t clears_at;                  /* when the last of them is done here (minutes since the
                                         * epoch): max projectedStart + its work on the
                                         * calendar; 0 = nothing queued (null), CAL_BEYOND past
                                         * the calendar's horizon (null) */
};

/* GET /api/analytics/dashboard. */
struct analytics_dashboard {
    int64_t active_orders;              /* not_started + in_progress + on_hold */
    int64_t completion_rate_tenths;     /* 1000 × complete ÷ (all but cancelled); 0 if none */
    int64_t utilization_tenths;         /* 1000 × Σ min(in_progress, cap) ÷ Σ cap, active
                                         * centres; 0 when there is no active centre */
    int64_t daily_actual;               /* Σ quantityCompletedDelta of today's audit rows */
    int64_t daily_target;               /* tenant dailyTarget */
    int64_t overdue_orders;
    int64_t late_orders;                /* SPEC §9: projected late (order.late), from the
                                         * projection as it is (refresh it first) */
    int64_t avg_cycle_tenths;           /* hours in tenths; -1 = null (no order qualifies) */
};

/* One entry of GET /api/analytics/cycle-times (dwell time in a work centre). */
struct analytics_dwell {
    int64_t work_centre_id;
    const char *code;                   /* borrowed from the board */
    int64_t samples;                    /* 0: the three figures below are -1 (null) */
    int64_t avg_tenths;                 /* hours in tenths */
    int64_t p50_tenths;                 /* nearest-rank percentiles, hours in tenths */
    int64_t p90_tenths;
};

/* One entry of GET /api/analytics/routing. */
struct analytics_route {
    int64_t from_work_centre_id;        /* 0 = backlog (null in JSON) */
    int64_t to_work_centre_id;          /* 0 = backlog */
    int64_t count;
    int64_t avg_depth_to_tenths;        /* mean queueDepthTo in tenths; -1 when none recorded */
};

/*
 * "Today" in zone tz at instant now_ms: today[PB_DATE_LEN] gets the local date, from and to
 * (PB_TIMESTAMP_LEN each) the UTC timestamps "YYYY-MM-DDTHH:MM:SSZ" of the start of today and
 * of tomorrow, so that today's rows are from <= timestamp < to (DST days are 23 or 25 hours).
 * Any pointer may be NULL. An unknown tz means UTC (tz.h).
 */
void analytics_today(const char *tz, int64_t now_ms, char today[PB_DATE_LEN],
                     char from[PB_TIMESTAMP_LEN], char to[PB_TIMESTAMP_LEN]);

/*
 * Stats of every work centre of board b in display order (SPEC §4 GET
 * /api/planning-board/stats), from the cache only; today = "YYYY-MM-DD" in the tenant's
 * timezone. *out gets a malloc'd array of *n = b->n_work_centres entries (free() it; NULL
 * when there are none). PB_EINTERNAL on allocation failure (*out NULL, *n 0).
 */
int analytics_board_stats(const struct board *b, const char *today,
                          struct analytics_wc_stats **out, size_t *n);

/*
 * The cache-derived figures of the dashboard (active_orders, completion_rate_tenths,
 * utilization_tenths, overdue_orders) in one pass over b's orders; the other fields of *out
 * are left as they are. Cannot fail.
 */
void analytics_board_counts(const struct board *b, const char *today,
                            struct analytics_dashboard *out);

/*
 * The whole dashboard of tenant_id as of instant now_ms (pass pb_now_ms(); tests pass fixed
 * instants): the board counts, plus two SQL queries: quantity completed today (in the tenant's
 * timezone) and the mean cycle time of the orders completed in the 30 days before now_ms
 * (started_at < completed_at, status still complete, not deleted; an order whose two stamps
 * are equal was created or imported already complete and has no start transition).
 * PB_ENOT_FOUND unknown tenant, PB_EINTERNAL.
 */
int analytics_dashboard(struct store *s, int64_t tenant_id, int64_t now_ms,
                        struct analytics_dashboard *out);

/*
 * The database half of analytics_dashboard (issue 13: the server runs it off the loop on
 * PostgreSQL, then analytics_board_counts on the loop): today[PB_DATE_LEN] = the local date of
 * now_ms in the tenant's timezone; out->daily_target, daily_actual and avg_cycle_tenths are
 * set, the other fields left as they are. Reads the database only (no board cache).
 * PB_ENOT_FOUND unknown tenant, PB_EINTERNAL.
 */
int analytics_dashboard_db(struct store *s, int64_t tenant_id, int64_t now_ms,
                           struct analytics_dashboard *out, char today[PB_DATE_LEN]);

/*
 * Dwell times per work centre of board b (display order) from the tenant's order_moved audit
 * rows (through the summaries: O(work centres + distinct dwell values in tenths of an hour)): a sample is the time from an order's move into a centre to its next move out of it
 * (a move inside the same column is neither); orders still in the centre, and departures whose
 * arrival was not an order_moved row (created or imported there), give no sample.
 * *out: malloc'd array of *n = b->n_work_centres entries (free()). PB_EINTERNAL.
 */
int analytics_cycle_times(struct store *s, const struct board *b,
                          struct analytics_dwell **out, size_t *n);

/*
 * The database half of analytics_cycle_times: v[i] (caller's array of nw) gets the dwell
 * figures of work centre wc_ids[i] of tenant_id (work_centre_id set, code left as it is;
 * -1 = null). Reads the database only (no board cache), so it may run on another thread with
 * its own store (issue 13: off the loop on PostgreSQL). 0 or PB_EINTERNAL.
 */
int analytics_dwell_read(struct store *s, int64_t tenant_id, const int64_t *wc_ids, size_t nw,
                         struct analytics_dwell *v);

/*
 * Transitions between columns learned from the tenant's order_moved audit rows (moves inside
 * one column excluded; through analytics_routes: O(column pairs)), sorted by count descending, then from and to id (backlog first).
 * *out: malloc'd array of *n entries (free(); NULL when none). PB_EINTERNAL.
 */
int analytics_routing(struct store *s, int64_t tenant_id, struct analytics_route **out,
                      size_t *n);

#endif
