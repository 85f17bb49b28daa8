/*
 * test_analytics — SPEC §4 board stats and analytics against a real SQLite database: a small
 * tenant with known orders and audit rows, every figure asserted exactly (in tenths, so the
 * rounding is asserted too).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"
#include "store/analytics.h"
#include "store/order_edit.h"
#include "store/store.h"
#include "store/store_int.h"          /* the connection, for the reference scan */

struct fx {
    struct store *s;
    int64_t tenant;
    int64_t wc[4];              /* A B C D (D inactive when the test asks for it) */
    struct board *b;
};

/* ---------------------------------------------------------------- helpers */

static void sqlf(struct fx *f, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_int_equal(store_exec(f->s, sql), 0);
}

/* "2026-07-15T03:30:00Z" -> ms since the epoch */
static int64_t ms_of(const char *ts)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm));
    return (int64_t)timegm(&tm) * 1000;
}

static void reload(struct fx *f)
{
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
}

/* Work centres A (cap 2), B (cap 3), C (cap 3), D (cap 4, active unless told). */
static void add_work_centres(struct fx *f, bool d_active)
{
    static const char *const codes[4] = { "A", "B", "C", "D" };
    static const int caps[4] = { 2, 3, 3, 4 };
    for (int i = 0; i < 4; i++)
        sqlf(f, "INSERT INTO work_centres(tenant_id, code, name, capacity, display_order, "
                "is_active, created_at, updated_at) VALUES (%lld, '%s', 'WC %s', %d, %d, %d, "
                "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             (long long)f->tenant, codes[i], codes[i], caps[i], i + 1,
             i == 3 ? (int)d_active : 1);
    reload(f);
    for (int i = 0; i < 4; i++) {
        const struct work_centre *w = board_work_centre_by_code(f->b, codes[i]);
        assert_non_null(w);
        f->wc[i] = w->id;
    }
}

static void no_report(void *ctx, const char *field, const char *message)
{
    (void)ctx;
    fail_msg("invalid test order: %s %s", field, message);
}

static int64_t mk(struct fx *f, const char *number, int64_t wc, enum order_status st,
                  const char *due, int64_t qty, int64_t done)
{
    struct order_input in;
    struct order *o = NULL;
    order_input_init(&in);
    in.order_number = number;
    in.stock_code = "STK";
    in.description = "thing";
    in.quantity_to_make = qty;
    in.quantity_completed = done;
    in.status = (int)st;
    in.due_date = due;
    in.work_centre_id = wc;
    assert_int_equal(order_input_check(&in, no_report, NULL), 0);
    assert_int_equal(store_order_create(f->s, f->b, &in, NULL, 0, 0, false, &o, NULL), 0);
    return o->id;
}

/* An audit row with explicit fields; from/to 0 = NULL, depth -1 = NULL, data NULL = NULL. */
static void audit(struct fx *f, int64_t tenant, const char *type, int64_t order, int64_t from,
                  int64_t to, int64_t depth_to, const char *data, const char *ts)
{
    char d[300], fr[24], t[24], dp[24], o[24];
    snprintf(d, sizeof(d), data != NULL ? "'%s'" : "NULL", data);
    snprintf(fr, sizeof(fr), from ? "%lld" : "NULL", (long long)from);
    snprintf(t, sizeof(t), to ? "%lld" : "NULL", (long long)to);
    snprintf(dp, sizeof(dp), depth_to >= 0 ? "%lld" : "NULL", (long long)depth_to);
    snprintf(o, sizeof(o), order ? "%lld" : "NULL", (long long)order);
    sqlf(f, "INSERT INTO audit_log(tenant_id, event_type, order_id, from_work_centre_id, "
            "to_work_centre_id, event_data, queue_depth_to, timestamp) "
            "VALUES (%lld, '%s', %s, %s, %s, %s, %s, '%s')",
         (long long)tenant, type, o, fr, t, d, dp, ts);
}

static void move(struct fx *f, int64_t order, int64_t from, int64_t to, const char *ts)
{
    audit(f, f->tenant, "order_moved", order, from, to, 1, "{\"reason\":\"test\"}", ts);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(store_open(&f->s, ":memory:", NULL), 0);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme", &f->tenant), 0);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_free(f->s);
    free(f);
    return 0;
}

static const struct analytics_wc_stats *stat_of(const struct analytics_wc_stats *v, size_t n,
                                                int64_t wc)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].work_centre_id == wc)
            return &v[i];
    fail_msg("no stats for work centre %lld", (long long)wc);
    return NULL;
}

/* ---------------------------------------------------------------- board stats */

static void test_stats_cap_in_progress_at_capacity_and_count_overdue(void **state)
{
    struct fx *f = *state;
    struct analytics_wc_stats *v;
    size_t n;

    add_work_centres(f, true);
    /* A (cap 2): three in progress -> min(3, 2) / 2 = 100.0 */
    mk(f, "A1", f->wc[0], ORDER_IN_PROGRESS, "2026-07-13", 10, 1);
    mk(f, "A2", f->wc[0], ORDER_IN_PROGRESS, "2026-07-14", 20, 2);
    mk(f, "A3", f->wc[0], ORDER_IN_PROGRESS, NULL, 30, 3);
    /* B (cap 3): one of three in progress -> 33.3; overdue only where not complete/cancelled */
    mk(f, "B1", f->wc[1], ORDER_IN_PROGRESS, "2026-07-13", 5, 0);
    mk(f, "B2", f->wc[1], ORDER_COMPLETE, "2026-07-13", 5, 5);
    mk(f, "B3", f->wc[1], ORDER_CANCELLED, "2026-07-13", 5, 0);
    /* C (cap 3): two in progress -> 66.7 (666.67 tenths rounds up); due yesterday on hold */
    mk(f, "C1", f->wc[2], ORDER_IN_PROGRESS, "2026-07-15", 1, 0);
    mk(f, "C2", f->wc[2], ORDER_IN_PROGRESS, "2026-07-15", 1, 0);
    mk(f, "C3", f->wc[2], ORDER_ON_HOLD, "2026-07-13", 1, 0);
    /* backlog: overdue but in no work centre */
    mk(f, "L1", 0, ORDER_NOT_STARTED, "2026-01-01", 1, 0);

    assert_int_equal(analytics_board_stats(f->b, "2026-07-14", &v, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(v[0].work_centre_id, f->wc[0]);        /* display order A B C D */
    assert_int_equal(v[3].work_centre_id, f->wc[3]);
    const struct analytics_wc_stats *a = stat_of(v, n, f->wc[0]);
    assert_string_equal(a->code, "A");
    assert_int_equal(a->order_count, 3);
    assert_int_equal(a->in_progress, 3);
    assert_int_equal(a->capacity, 2);
    assert_int_equal(a->utilization_tenths, 1000);
    assert_int_equal(a->overdue, 1);                        /* A1 due 13th; A2 due today: no */
    assert_int_equal(a->quantity_to_make, 60);
    assert_int_equal(a->quantity_completed, 6);
    const struct analytics_wc_stats *b = stat_of(v, n, f->wc[1]);
    assert_int_equal(b->order_count, 3);
    assert_int_equal(b->in_progress, 1);
    assert_int_equal(b->utilization_tenths, 333);
    assert_int_equal(b->overdue, 1);
    assert_int_equal(b->quantity_completed, 5);
    const struct analytics_wc_stats *c = stat_of(v, n, f->wc[2]);
    assert_int_equal(c->utilization_tenths, 667);
    assert_int_equal(c->overdue, 1);
    const struct analytics_wc_stats *d = stat_of(v, n, f->wc[3]);
    assert_int_equal(d->order_count, 0);
    assert_int_equal(d->utilization_tenths, 0);
    assert_int_equal(d->capacity, 4);
    free(v);
}

static void test_stats_of_a_board_without_work_centres_is_empty(void **state)
{
    struct fx *f = *state;
    struct analytics_wc_stats *v = (void *)1;
    size_t n = 9;
    assert_int_equal(analytics_board_stats(f->b, "2026-07-14", &v, &n), 0);
    assert_null(v);
    assert_int_equal(n, 0);
}

/* ---------------------------------------------------------------- dashboard counts */

static void test_dashboard_counts_follow_the_spec_formulas(void **state)
{
    struct fx *f = *state;
    struct analytics_dashboard d;

    add_work_centres(f, false);                             /* D inactive */
    mk(f, "A1", f->wc[0], ORDER_IN_PROGRESS, "2026-07-01", 1, 0);
    mk(f, "A2", f->wc[0], ORDER_IN_PROGRESS, NULL, 1, 0);
    mk(f, "A3", f->wc[0], ORDER_IN_PROGRESS, NULL, 1, 0);   /* over capacity 2 */
    mk(f, "B1", f->wc[1], ORDER_COMPLETE, "2026-07-01", 1, 1);
    mk(f, "B2", f->wc[1], ORDER_ON_HOLD, "2026-07-01", 1, 0);
    mk(f, "C1", f->wc[2], ORDER_CANCELLED, "2026-07-01", 1, 0);
    mk(f, "C2", f->wc[2], ORDER_IN_PROGRESS, "2026-07-20", 1, 0);
    /* an order left in a centre that was deactivated afterwards: counted, not in utilization */
    int64_t d1 = mk(f, "D1", 0, ORDER_IN_PROGRESS, NULL, 1, 0);
    sqlf(f, "UPDATE orders SET work_centre_id = %lld, rank = 0 WHERE id = %lld",
         (long long)f->wc[3], (long long)d1);
    mk(f, "L1", 0, ORDER_NOT_STARTED, "2026-07-13", 1, 0);
    mk(f, "L2", 0, ORDER_COMPLETE, NULL, 1, 1);
    reload(f);
    assert_int_equal(board_column_len(board_column(f->b, f->wc[3])), 1);

    memset(&d, 0x55, sizeof(d));
    analytics_board_counts(f->b, "2026-07-14", &d);
    /* active: A1 A2 A3 B2 C2 D1 L1 */
    assert_int_equal(d.active_orders, 7);
    /* complete 2 of 9 not cancelled = 22.2 */
    assert_int_equal(d.completion_rate_tenths, 222);
    /* active centres A B C: (min(3,2) + 0 + min(1,3)) / (2 + 3 + 3) = 3/8 = 37.5 */
    assert_int_equal(d.utilization_tenths, 375);
    /* overdue: A1, B2, L1 (B1 complete, C1 cancelled, C2 not yet due) */
    assert_int_equal(d.overdue_orders, 3);
    /* fields the board does not own are left alone */
    assert_int_equal(d.daily_target, 0x5555555555555555LL);
}

static void test_dashboard_rounds_half_up_and_handles_an_empty_board(void **state)
{
    struct fx *f = *state;
    struct analytics_dashboard d;

    analytics_board_counts(f->b, "2026-07-14", &d);
    assert_int_equal(d.active_orders, 0);
    assert_int_equal(d.completion_rate_tenths, 0);         /* 0 / 0 is 0, not NaN */
    assert_int_equal(d.utilization_tenths, 0);
    assert_int_equal(d.overdue_orders, 0);

    /* 1 complete of 8 = 12.5 exactly; of 16 = 6.25 -> 6.3 (half up) */
    add_work_centres(f, true);
    char num[16];
    mk(f, "X0", 0, ORDER_COMPLETE, NULL, 1, 1);
    for (int i = 1; i < 8; i++) {
        snprintf(num, sizeof(num), "X%d", i);
        mk(f, num, 0, ORDER_NOT_STARTED, NULL, 1, 0);
    }
    analytics_board_counts(f->b, "2026-07-14", &d);
    assert_int_equal(d.completion_rate_tenths, 125);
    for (int i = 8; i < 16; i++) {
        snprintf(num, sizeof(num), "X%d", i);
        mk(f, num, 0, ORDER_ON_HOLD, NULL, 1, 0);
    }
    analytics_board_counts(f->b, "2026-07-14", &d);
    assert_int_equal(d.completion_rate_tenths, 63);
}

/* ---------------------------------------------------------------- today and daily output */

static void test_today_is_the_tenant_local_day_including_dst_days(void **state)
{
    (void)state;
    char today[PB_DATE_LEN], from[PB_TIMESTAMP_LEN], to[PB_TIMESTAMP_LEN];

    /* 03:30Z on the 15th is 23:30 on the 14th in New York (EDT, UTC-4) */
    analytics_today("America/New_York", ms_of("2026-07-15T03:30:00Z"), today, from, to);
    assert_string_equal(today, "2026-07-14");
    assert_string_equal(from, "2026-07-14T04:00:00Z");
    assert_string_equal(to, "2026-07-15T04:00:00Z");
    analytics_today("UTC", ms_of("2026-07-15T03:30:00Z"), today, from, to);
    assert_string_equal(today, "2026-07-15");
    assert_string_equal(from, "2026-07-15T00:00:00Z");
    assert_string_equal(to, "2026-07-16T00:00:00Z");
    /* spring forward: 2026-03-08 lasts 23 hours in New York */
    analytics_today("America/New_York", ms_of("2026-03-08T12:00:00Z"), today, from, to);
    assert_string_equal(today, "2026-03-08");
    assert_string_equal(from, "2026-03-08T05:00:00Z");
    assert_string_equal(to, "2026-03-09T04:00:00Z");
    /* ahead of UTC: Auckland (NZST, UTC+12) */
    analytics_today("Pacific/Auckland", ms_of("2026-07-14T12:00:00Z"), today, from, NULL);
    assert_string_equal(today, "2026-07-15");
    assert_string_equal(from, "2026-07-14T12:00:00Z");
}

static void test_daily_production_sums_deltas_of_the_tenant_local_day(void **state)
{
    struct fx *f = *state;
    struct analytics_dashboard d;
    int64_t other;

    add_work_centres(f, true);
    int64_t o = mk(f, "P1", f->wc[0], ORDER_IN_PROGRESS, NULL, 1000, 0);
    sqlf(f, "UPDATE tenants SET timezone = 'America/New_York', daily_target = 40 WHERE id = %lld",
         (long long)f->tenant);
    /* local day 2026-07-14 = [04:00Z on the 14th, 04:00Z on the 15th) */
    audit(f, f->tenant, "scanner_event", o, f->wc[0], f->wc[0], -1,
          "{\"quantityCompletedDelta\":5}", "2026-07-14T03:59:59Z");      /* yesterday */
    audit(f, f->tenant, "scanner_event", o, f->wc[0], f->wc[0], -1,
          "{\"quantity\":7,\"quantityCompletedDelta\":7}", "2026-07-14T04:00:00Z");
    audit(f, f->tenant, "order_updated", o, 0, 0, -1,
          "{\"quantityCompletedDelta\":11}", "2026-07-15T03:59:59Z");
    audit(f, f->tenant, "order_updated", o, 0, 0, -1,
          "{\"quantityCompletedDelta\":-2}", "2026-07-14T20:00:00Z");    /* a correction */
    audit(f, f->tenant, "order_updated", o, 0, 0, -1,
          "{\"statusFrom\":\"a\",\"statusTo\":\"b\"}", "2026-07-14T20:00:00Z");
    audit(f, f->tenant, "order_updated", o, 0, 0, -1, "not json", "2026-07-14T21:00:00Z");
    audit(f, f->tenant, "order_updated", o, 0, 0, -1, NULL, "2026-07-14T21:00:00Z");
    audit(f, f->tenant, "scanner_event", o, 0, 0, -1,
          "{\"quantityCompletedDelta\":13}", "2026-07-15T04:00:00Z");     /* tomorrow */
    assert_int_equal(store_tenant_create(f->s, "globex", "Globex", &other), 0);
    audit(f, other, "scanner_event", 0, 0, 0, -1,
          "{\"quantityCompletedDelta\":1000}", "2026-07-14T12:00:00Z");   /* other tenant */

    assert_int_equal(analytics_dashboard(f->s, f->tenant, ms_of("2026-07-15T03:30:00Z"), &d), 0);
    assert_int_equal(d.daily_actual, 7 + 11 - 2);
    assert_int_equal(d.daily_target, 40);
    /* one second before the local midnight it is still the 14th, one second after the 15th */
    assert_int_equal(analytics_dashboard(f->s, f->tenant, ms_of("2026-07-15T03:59:59Z"), &d), 0);
    assert_int_equal(d.daily_actual, 16);
    assert_int_equal(analytics_dashboard(f->s, f->tenant, ms_of("2026-07-15T04:00:00Z"), &d), 0);
    assert_int_equal(d.daily_actual, 13);
    /* the same instant read in UTC is the 15th: only rows from 00:00Z on the 15th */
    sqlf(f, "UPDATE tenants SET timezone = 'UTC' WHERE id = %lld", (long long)f->tenant);
    assert_int_equal(analytics_dashboard(f->s, f->tenant, ms_of("2026-07-15T03:30:00Z"), &d), 0);
    assert_int_equal(d.daily_actual, 11 + 13);
    assert_int_equal(analytics_dashboard(f->s, 987654, ms_of("2026-07-15T03:30:00Z"), &d),
                     PB_ENOT_FOUND);
}

/* ---------------------------------------------------------------- cycle time */

static void test_avg_cycle_time_is_null_when_no_order_qualifies(void **state)
{
    struct fx *f = *state;
    struct analytics_dashboard d;

    add_work_centres(f, true);
    assert_int_equal(analytics_dashboard(f->s, f->tenant, ms_of("2026-07-15T03:30:00Z"), &d), 0);
    assert_int_equal(d.avg_cycle_tenths, -1);
    /* created complete (started_at == completed_at): no start transition recorded */
    mk(f, "Z1", f->wc[0], ORDER_COMPLETE, NULL, 1, 1);
    assert_int_equal(analytics_dashboard(f->s, f->tenant, pb_now_ms(), &d), 0);
    assert_int_equal(d.avg_cycle_tenths, -1);
    /* an in-progress order with a start but no completion */
    mk(f, "Z2", f->wc[0], ORDER_IN_PROGRESS, NULL, 1, 0);
    assert_int_equal(analytics_dashboard(f->s, f->tenant, pb_now_ms(), &d), 0);
    assert_int_equal(d.avg_cycle_tenths, -1);
    assert_int_equal(d.active_orders, 1);
}

static void set_times(struct fx *f, int64_t id, const char *started, const char *completed)
{
    char s[40], c[40];
    snprintf(s, sizeof(s), started ? "'%s'" : "NULL", started);
    snprintf(c, sizeof(c), completed ? "'%s'" : "NULL", completed);
    sqlf(f, "UPDATE orders SET started_at = %s, completed_at = %s WHERE id = %lld", s, c,
         (long long)id);
}

static void test_avg_cycle_time_averages_orders_completed_in_the_last_30_days(void **state)
{
    struct fx *f = *state;
    struct analytics_dashboard d;
    const int64_t now = ms_of("2026-07-15T03:30:00Z");

    add_work_centres(f, true);
    /* qualifying: 10 h and 5 h 18 min -> mean 7.65 h -> 7.7 (half up) */
    set_times(f, mk(f, "K1", f->wc[0], ORDER_COMPLETE, NULL, 1, 1),
              "2026-07-10T00:00:00Z", "2026-07-10T10:00:00Z");
    set_times(f, mk(f, "K2", f->wc[1], ORDER_COMPLETE, NULL, 1, 1),
              "2026-06-30T22:00:00Z", "2026-07-01T03:18:00Z");
    /* not qualifying */
    set_times(f, mk(f, "N1", f->wc[1], ORDER_COMPLETE, NULL, 1, 1),     /* 30 days + 1 s ago */
              "2026-06-01T00:00:00Z", "2026-06-15T03:29:59Z");
    set_times(f, mk(f, "N2", f->wc[1], ORDER_COMPLETE, NULL, 1, 1),     /* no start */
              NULL, "2026-07-12T00:00:00Z");
    set_times(f, mk(f, "N3", f->wc[1], ORDER_COMPLETE, NULL, 1, 1),     /* no transition */
              "2026-07-12T00:00:00Z", "2026-07-12T00:00:00Z");
    int64_t del = mk(f, "N4", f->wc[1], ORDER_COMPLETE, NULL, 1, 1);    /* deleted */
    set_times(f, del, "2026-07-12T00:00:00Z", "2026-07-13T00:00:00Z");
    sqlf(f, "UPDATE orders SET deleted_at = '2026-07-14T00:00:00Z' WHERE id = %lld",
         (long long)del);
    set_times(f, mk(f, "N5", f->wc[1], ORDER_IN_PROGRESS, NULL, 1, 0),  /* reopened */
              "2026-07-12T00:00:00Z", "2026-07-13T00:00:00Z");
    reload(f);

    assert_int_equal(analytics_dashboard(f->s, f->tenant, now, &d), 0);
    assert_int_equal(d.avg_cycle_tenths, 77);
    /* exactly 30 days ago still counts: + 0 h 42 min -> (10 + 5.3 + 0.7) / 3 = 5.33 -> 5.3 */
    set_times(f, mk(f, "K3", f->wc[1], ORDER_COMPLETE, NULL, 1, 1),
              "2026-06-15T02:48:00Z", "2026-06-15T03:30:00Z");
    assert_int_equal(analytics_dashboard(f->s, f->tenant, now, &d), 0);
    assert_int_equal(d.avg_cycle_tenths, 53);
    /* a day later K1 and K2 are still in, K3 is out */
    assert_int_equal(analytics_dashboard(f->s, f->tenant, now + 86400000LL, &d), 0);
    assert_int_equal(d.avg_cycle_tenths, 77);
}

/* Issue 8: an order moved out of the backlog and then completed by PUT within the same
 * second had started_at == completed_at (second stamps) and did not qualify. In-process the
 * two writes even fall within one millisecond: completed_at is then started_at + 1 ms. */
static void test_avg_cycle_time_counts_a_move_out_of_the_backlog_completed_at_once(void **state)
{
    struct fx *f = *state;
    struct analytics_dashboard d;
    struct move_request mv = { .position = -1 };
    struct order_patch p;

    add_work_centres(f, true);
    int64_t id = mk(f, "Q1", 0, ORDER_NOT_STARTED, NULL, 5, 0);
    mv.order_id = id;
    mv.to_work_centre_id = f->wc[0];
    assert_int_equal(store_order_move(f->s, f->b, &mv, NULL), 0);
    order_patch_init(&p);
    p.status = ORDER_COMPLETE;
    assert_int_equal(store_order_update(f->s, f->b, id, &p, NULL, NULL), 0);
    assert_int_equal(analytics_dashboard(f->s, f->tenant, pb_now_ms(), &d), 0);
    assert_int_equal(d.avg_cycle_tenths, 0);            /* qualifies: 0.0 h, not null */
    /* reopened and completed again at once: still strictly after its start */
    p.status = ORDER_IN_PROGRESS;
    assert_int_equal(store_order_update(f->s, f->b, id, &p, NULL, NULL), 0);
    p.status = ORDER_COMPLETE;
    assert_int_equal(store_order_update(f->s, f->b, id, &p, NULL, NULL), 0);
    assert_int_equal(analytics_dashboard(f->s, f->tenant, pb_now_ms(), &d), 0);
    assert_int_equal(d.avg_cycle_tenths, 0);

    /* stamps of both resolutions are read exactly: 90 min + 0.5 s -> 1.5 h */
    set_times(f, id, "2026-07-10T00:00:00Z", "2026-07-10T01:30:00.500Z");
    assert_int_equal(analytics_dashboard(f->s, f->tenant, ms_of("2026-07-15T03:30:00Z"), &d), 0);
    assert_int_equal(d.avg_cycle_tenths, 15);
    /* equal stamps (one write set both) still do not qualify */
    set_times(f, id, "2026-07-10T00:00:00.250Z", "2026-07-10T00:00:00.250Z");
    assert_int_equal(analytics_dashboard(f->s, f->tenant, ms_of("2026-07-15T03:30:00Z"), &d), 0);
    assert_int_equal(d.avg_cycle_tenths, -1);
}

/* ---------------------------------------------------------------- dwell times */

static const struct analytics_dwell *dwell_of(const struct analytics_dwell *v, size_t n,
                                              int64_t wc)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].work_centre_id == wc)
            return &v[i];
    fail_msg("no dwell for work centre %lld", (long long)wc);
    return NULL;
}

static void test_cycle_times_measure_dwell_between_arrival_and_next_move_out(void **state)
{
    struct fx *f = *state;
    struct analytics_dwell *v;
    size_t n;
    const int64_t A = 0, B = 1, C = 2;
    char ts[40], ts2[40];

    add_work_centres(f, true);
    int64_t o1 = mk(f, "O1", 0, ORDER_NOT_STARTED, NULL, 1, 0);
    int64_t o2 = mk(f, "O2", 0, ORDER_NOT_STARTED, NULL, 1, 0);
    int64_t o3 = mk(f, "O3", f->wc[A], ORDER_NOT_STARTED, NULL, 1, 0);
    int64_t o4 = mk(f, "O4", 0, ORDER_NOT_STARTED, NULL, 1, 0);
    /* O1: A for 2 h, then B for 3 h, then back to the backlog */
    move(f, o1, 0, f->wc[A], "2026-07-01T08:00:00Z");
    move(f, o1, f->wc[A], f->wc[B], "2026-07-01T10:00:00Z");
    /* O2: A for 4 h with a reorder inside A in between, then B where it still is */
    move(f, o2, 0, f->wc[A], "2026-07-01T08:00:00Z");
    move(f, o2, f->wc[A], f->wc[A], "2026-07-01T09:00:00Z");
    move(f, o1, f->wc[B], 0, "2026-07-01T13:00:00Z");
    move(f, o2, f->wc[A], f->wc[B], "2026-07-01T12:00:00Z");
    /* O3: created in A (no arrival row): its move out is no sample; then B for 1 h */
    move(f, o3, f->wc[A], f->wc[B], "2026-07-01T09:00:00Z");
    move(f, o3, f->wc[B], f->wc[A], "2026-07-01T10:00:00Z");
    /* O4: A for 1 h 20 min */
    move(f, o4, 0, f->wc[A], "2026-07-02T08:00:00Z");
    move(f, o4, f->wc[A], f->wc[C], "2026-07-02T09:20:00Z");
    /* C: O4 is still there; ten other orders stayed 1..10 h each */
    for (int k = 1; k <= 10; k++) {
        char num[16];
        snprintf(num, sizeof(num), "T%d", k);
        int64_t o = mk(f, num, 0, ORDER_NOT_STARTED, NULL, 1, 0);
        snprintf(ts, sizeof(ts), "2026-07-03T%02d:00:00Z", k);
        snprintf(ts2, sizeof(ts2), "2026-07-03T%02d:00:00Z", 2 * k);
        move(f, o, 0, f->wc[C], ts);
        move(f, o, f->wc[C], 0, ts2);
    }
    /* another tenant's moves are never seen */
    int64_t other;
    assert_int_equal(store_tenant_create(f->s, "globex", "Globex", &other), 0);
    audit(f, other, "order_moved", o1, 0, f->wc[B], 1, NULL, "2026-07-01T00:00:00Z");
    audit(f, other, "order_moved", o1, f->wc[B], 0, 1, NULL, "2026-07-09T00:00:00Z");

    assert_int_equal(analytics_cycle_times(f->s, f->b, &v, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(v[0].work_centre_id, f->wc[A]);
    /* A: 2, 4, 1.333 h -> mean 2.444 -> 2.4; p50 (rank 2) 2.0; p90 (rank 3) 4.0 */
    const struct analytics_dwell *a = dwell_of(v, n, f->wc[A]);
    assert_string_equal(a->code, "A");
    assert_int_equal(a->samples, 3);
    assert_int_equal(a->avg_tenths, 24);
    assert_int_equal(a->p50_tenths, 20);
    assert_int_equal(a->p90_tenths, 40);
    /* B: 3 h (O1), 1 h (O3); O2 is still there -> mean 2.0, p50 1.0, p90 3.0 */
    const struct analytics_dwell *b = dwell_of(v, n, f->wc[B]);
    assert_int_equal(b->samples, 2);
    assert_int_equal(b->avg_tenths, 20);
    assert_int_equal(b->p50_tenths, 10);
    assert_int_equal(b->p90_tenths, 30);
    /* C: 1..10 h -> mean 5.5; nearest rank p50 = 5th = 5.0, p90 = 9th = 9.0 (not 9.1) */
    const struct analytics_dwell *c = dwell_of(v, n, f->wc[C]);
    assert_int_equal(c->samples, 10);
    assert_int_equal(c->avg_tenths, 55);
    assert_int_equal(c->p50_tenths, 50);
    assert_int_equal(c->p90_tenths, 90);
    /* D: no samples -> nulls */
    const struct analytics_dwell *dd = dwell_of(v, n, f->wc[3]);
    assert_int_equal(dd->samples, 0);
    assert_int_equal(dd->avg_tenths, -1);
    assert_int_equal(dd->p50_tenths, -1);
    assert_int_equal(dd->p90_tenths, -1);
    free(v);
}

static void test_cycle_times_count_real_store_moves(void **state)
{
    struct fx *f = *state;
    struct analytics_dwell *v;
    size_t n;

    add_work_centres(f, true);
    int64_t o = mk(f, "R1", 0, ORDER_NOT_STARTED, NULL, 1, 0);
    struct move_request m = { .order_id = o, .to_work_centre_id = f->wc[0], .position = -1 };
    assert_int_equal(store_order_move(f->s, f->b, &m, NULL), 0);
    m.to_work_centre_id = f->wc[1];
    assert_int_equal(store_order_move(f->s, f->b, &m, NULL), 0);
    assert_int_equal(analytics_cycle_times(f->s, f->b, &v, &n), 0);
    assert_int_equal(dwell_of(v, n, f->wc[0])->samples, 1);
    assert_true(dwell_of(v, n, f->wc[0])->avg_tenths >= 0);
    assert_int_equal(dwell_of(v, n, f->wc[1])->samples, 0);
    free(v);
}

/* ---------------------------------------------------------------- routing */

static void test_routing_counts_transitions_by_count_with_mean_queue_depth(void **state)
{
    struct fx *f = *state;
    struct analytics_route *v;
    size_t n;
    int64_t A, B, other;

    add_work_centres(f, true);
    A = f->wc[0];
    B = f->wc[1];
    int64_t o = mk(f, "Q1", 0, ORDER_NOT_STARTED, NULL, 1, 0);
    assert_int_equal(analytics_routing(f->s, f->tenant, &v, &n), 0);
    assert_int_equal(n, 0);
    assert_null(v);

    audit(f, f->tenant, "order_moved", o, 0, A, 0, NULL, "2026-07-01T00:00:00Z");
    audit(f, f->tenant, "order_moved", o, 0, A, 1, NULL, "2026-07-01T00:00:00Z");
    audit(f, f->tenant, "order_moved", o, 0, A, 3, NULL, "2026-07-01T00:00:00Z");
    audit(f, f->tenant, "order_moved", o, A, B, 2, NULL, "2026-07-01T00:00:00Z");
    audit(f, f->tenant, "order_moved", o, A, B, 3, NULL, "2026-07-01T00:00:00Z");
    for (int i = 0; i < 5; i++)                             /* reorders inside A: no route */
        audit(f, f->tenant, "order_moved", o, A, A, 4, NULL, "2026-07-01T00:00:00Z");
    audit(f, f->tenant, "order_moved", o, B, 0, -1, NULL, "2026-07-01T00:00:00Z");
    audit(f, f->tenant, "order_updated", o, A, B, 9, NULL, "2026-07-01T00:00:00Z");
    assert_int_equal(store_tenant_create(f->s, "globex", "Globex", &other), 0);
    for (int i = 0; i < 9; i++)
        audit(f, other, "order_moved", 0, B, A, 9, NULL, "2026-07-01T00:00:00Z");

    assert_int_equal(analytics_routing(f->s, f->tenant, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].from_work_centre_id, 0);
    assert_int_equal(v[0].to_work_centre_id, A);
    assert_int_equal(v[0].count, 3);
    assert_int_equal(v[0].avg_depth_to_tenths, 13);        /* 4 / 3 = 1.33 */
    assert_int_equal(v[1].from_work_centre_id, A);
    assert_int_equal(v[1].to_work_centre_id, B);
    assert_int_equal(v[1].count, 2);
    assert_int_equal(v[1].avg_depth_to_tenths, 25);        /* 2.5 */
    assert_int_equal(v[2].from_work_centre_id, B);
    assert_int_equal(v[2].to_work_centre_id, 0);
    assert_int_equal(v[2].count, 1);
    assert_int_equal(v[2].avg_depth_to_tenths, -1);        /* no depth recorded: null */
    free(v);
}

/* ---------------------------------------------------------------- summaries vs full scan */

/*
 * The reference: cycle-times and routing recomputed from the whole audit log, exactly as
 * store/analytics.c did per request before the summaries (issue 9 item 3): every order_moved
 * row of the tenant in (order, id) order, times parsed from their first 19 characters.
 */
static int64_t ref_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t ref_parse_ts(const char *t)
{
    if (t == NULL || strlen(t) < 19)
        return -1;
    return ref_days_from_civil(atoi(t), atoi(t + 5), atoi(t + 8)) * 86400
           + atoi(t + 11) * 3600 + atoi(t + 14) * 60 + atoi(t + 17);
}

static int64_t ref_tenths(int64_t num, int64_t den)
{
    return (20 * num + den) / (2 * den);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Dwell of work centre wc of the tenant: samples, mean, p50, p90 (tenths; -1 = null). */
static void ref_dwell(struct fx *f, int64_t wc, struct analytics_dwell *e)
{
    static int64_t v[20000];
    size_t len = 0;
    sqlite3_stmt *st;
    int64_t cur_order = 0, cur_wc = 0, arrived = -1;

    assert_int_equal(sqlite3_prepare_v2(f->s->db->lite,
        "SELECT order_id, from_work_centre_id, to_work_centre_id, timestamp FROM audit_log "
        "WHERE tenant_id = ?1 AND event_type = 'order_moved' AND order_id IS NOT NULL "
        "ORDER BY order_id, id", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, f->tenant);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t order = sqlite3_column_int64(st, 0), from = sqlite3_column_int64(st, 1);
        int64_t to = sqlite3_column_int64(st, 2);
        int64_t t = ref_parse_ts((const char *)sqlite3_column_text(st, 3));
        if (order != cur_order) {
            cur_order = order;
            cur_wc = 0;
            arrived = -1;
        }
        if (from == to)
            continue;
        if (from != 0 && from == cur_wc && arrived >= 0 && t >= 0 && from == wc) {
            assert_true(len < sizeof(v) / sizeof(v[0]));
            v[len++] = t - arrived;
        }
        cur_wc = to;
        arrived = t;
    }
    sqlite3_finalize(st);
    e->samples = (int64_t)len;
    e->avg_tenths = e->p50_tenths = e->p90_tenths = -1;
    if (len == 0)
        return;
    int64_t sum = 0;
    qsort(v, len, sizeof(v[0]), cmp_i64);
    for (size_t j = 0; j < len; j++)
        sum += v[j] > 0 ? v[j] : 0;
    e->avg_tenths = ref_tenths(sum, (int64_t)len * 3600);
    size_t r50 = (50 * len + 99) / 100, r90 = (90 * len + 99) / 100;
    int64_t p50 = v[r50 > 0 ? r50 - 1 : 0], p90 = v[r90 > 0 ? r90 - 1 : 0];
    e->p50_tenths = p50 <= 0 ? 0 : ref_tenths(p50, 3600);
    e->p90_tenths = p90 <= 0 ? 0 : ref_tenths(p90, 3600);
}

/* Routing recomputed with the GROUP BY of the audit log; asserted equal to analytics_routing. */
static void assert_routing_matches_scan(struct fx *f)
{
    struct analytics_route *v;
    size_t n, i = 0;
    sqlite3_stmt *st;

    assert_int_equal(analytics_routing(f->s, f->tenant, &v, &n), 0);
    assert_int_equal(sqlite3_prepare_v2(f->s->db->lite,
        "SELECT from_work_centre_id, to_work_centre_id, COUNT(*), "
        "COALESCE(SUM(queue_depth_to), 0), COUNT(queue_depth_to) FROM audit_log "
        "WHERE tenant_id = ?1 AND event_type = 'order_moved' "
        "AND from_work_centre_id IS NOT to_work_centre_id "
        "GROUP BY from_work_centre_id, to_work_centre_id "
        "ORDER BY COUNT(*) DESC, from_work_centre_id, to_work_centre_id", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(st, 1, f->tenant);
    for (; sqlite3_step(st) == SQLITE_ROW; i++) {
        assert_true(i < n);
        int64_t sum = sqlite3_column_int64(st, 3), with = sqlite3_column_int64(st, 4);
        assert_int_equal(v[i].from_work_centre_id, sqlite3_column_int64(st, 0));
        assert_int_equal(v[i].to_work_centre_id, sqlite3_column_int64(st, 1));
        assert_int_equal(v[i].count, sqlite3_column_int64(st, 2));
        assert_int_equal(v[i].avg_depth_to_tenths,
                         with > 0 && sum >= 0 ? ref_tenths(sum, with) : -1);
    }
    sqlite3_finalize(st);
    assert_int_equal(i, n);
    free(v);
}

static void assert_summaries_match_scan(struct fx *f)
{
    struct analytics_dwell *v, e;
    size_t n;

    reload(f);
    assert_int_equal(analytics_cycle_times(f->s, f->b, &v, &n), 0);
    assert_int_equal(n, f->b->n_work_centres);
    for (size_t i = 0; i < n; i++) {
        ref_dwell(f, v[i].work_centre_id, &e);
        assert_int_equal(v[i].samples, e.samples);
        assert_int_equal(v[i].avg_tenths, e.avg_tenths);
        assert_int_equal(v[i].p50_tenths, e.p50_tenths);
        assert_int_equal(v[i].p90_tenths, e.p90_tenths);
    }
    free(v);
    assert_routing_matches_scan(f);
}

/* A tiny deterministic generator (the test must not depend on anything but its seed). */
static uint64_t rnd_state;
static uint64_t rnd(uint64_t n)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (rnd_state >> 33) % n;
}

static void test_summaries_agree_with_a_full_scan_after_a_random_history(void **state)
{
    struct fx *f = *state;
    int64_t orders[40], col[40], other;
    size_t live = 0;
    char ts[40];

    add_work_centres(f, true);
    assert_int_equal(store_tenant_create(f->s, "globex", "Globex", &other), 0);
    for (int k = 0; k < 40; k++) {
        char num[16];
        snprintf(num, sizeof(num), "H%d", k);
        orders[k] = mk(f, num, k % 3 ? f->wc[k % 4] : 0, ORDER_NOT_STARTED, NULL, 5, 0);
        col[k] = k % 3 ? f->wc[k % 4] : 0;
        live++;
    }
    for (int seed = 1; seed <= 3; seed++) {
        rnd_state = (uint64_t)seed;
        int64_t t = 1782864000 + seed * 86400 * 40;      /* 2026-07-01 onwards */
        for (int step = 0; step < 1500; step++) {
            size_t k = rnd(40);
            int64_t to = rnd(5) == 4 ? 0 : f->wc[rnd(4)];
            int kind = (int)rnd(20);
            t += (int64_t)rnd(4 * 3600);                 /* 0 .. 4 h later, often the same */
            time_t tt = (time_t)(t - (rnd(10) == 0 ? (int64_t)rnd(7200) : 0)); /* clock steps */
            struct tm tm;
            gmtime_r(&tt, &tm);
            strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (kind < 10) {                             /* a recorded move (or reorder) */
                int64_t from = rnd(8) == 0 ? f->wc[rnd(4)] : col[k];
                audit(f, f->tenant, "order_moved", orders[k], from, to,
                      rnd(3) == 0 ? -1 : (int64_t)rnd(9), NULL, ts);
                col[k] = to;
            } else if (kind < 12) {                      /* a reorder inside the column */
                audit(f, f->tenant, "order_moved", orders[k], col[k], col[k], 2, NULL, ts);
            } else if (kind == 12) {                     /* another tenant, same order ids */
                audit(f, other, "order_moved", orders[k], col[k], to, 1, NULL, ts);
            } else if (kind == 13) {                     /* no order: routing only */
                audit(f, f->tenant, "order_moved", 0, col[k], to, 3, NULL, ts);
            } else if (kind == 14 && live > 20) {        /* a real move through the store */
                struct move_request m = { .order_id = orders[k], .to_work_centre_id = to,
                                          .position = -1 };
                if (store_order_move(f->s, f->b, &m, NULL) == 0)
                    col[k] = to;
            } else if (kind == 15) {                     /* a status change */
                struct order_patch p;
                order_patch_init(&p);
                p.status = (int)rnd(ORDER_STATUS__COUNT);
                store_order_update(f->s, f->b, orders[k], &p, NULL, NULL);
            } else if (kind == 16 && live > 30) {        /* a delete: its moves still count */
                if (store_order_delete(f->s, f->b, orders[k], 0, NULL) == 0)
                    live--;
            } else if (kind == 17) {                     /* an unreadable time */
                audit(f, f->tenant, "order_moved", orders[k], col[k], to, -1, NULL, "2026-07");
                col[k] = to;
            } else {                                     /* other history */
                audit(f, f->tenant, "order_updated", orders[k], col[k], col[k], -1, NULL, ts);
            }
        }
        assert_summaries_match_scan(f);
    }
    /* A database of an earlier version (no summaries yet): built at open / first read. */
    sqlf(f, "DELETE FROM analytics_summary_state; DELETE FROM analytics_routes; "
            "DELETE FROM analytics_dwell; DELETE FROM analytics_dwell_hist; "
            "DELETE FROM analytics_order_place");
    assert_summaries_match_scan(f);
    /* A hand-edited move makes them stale: the next read rebuilds them. */
    sqlf(f, "UPDATE audit_log SET timestamp = '2030-01-01T00:00:00Z' WHERE id = "
            "(SELECT MAX(id) FROM audit_log WHERE event_type = 'order_moved' "
            "AND to_work_centre_id IS NOT NULL AND order_id IS NOT NULL)");
    assert_summaries_match_scan(f);
    sqlf(f, "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log "
            "WHERE event_type = 'order_moved' ORDER BY id LIMIT 50)");
    assert_summaries_match_scan(f);
}

/* ---------------------------------------------------------------- demo data */

static void test_demo_tenant_shows_real_numbers(void **state)
{
    struct fx *f = *state;
    const char *const hashes[3] = { "a", "b", "c" };
    struct analytics_dashboard d;
    struct analytics_dwell *dw;
    struct analytics_route *rt;
    struct board *b;
    size_t n, with_samples = 0;
    int64_t demo;

    assert_int_equal(store_demo_create(f->s, hashes, &demo), 0);
    assert_int_equal(analytics_dashboard(f->s, demo, pb_now_ms(), &d), 0);
    assert_int_equal(d.daily_actual, 20 + 150 + 400);      /* the three scanner events */
    assert_int_equal(d.daily_target, 500);
    assert_int_equal(d.active_orders, 12);
    assert_int_equal(d.completion_rate_tenths, 143);       /* 2 of 14 */
    assert_true(d.avg_cycle_tenths > 0);
    assert_int_equal(store_board(f->s, demo, &b), 0);
    assert_int_equal(analytics_cycle_times(f->s, b, &dw, &n), 0);
    for (size_t i = 0; i < n; i++)
        with_samples += dw[i].samples > 0;
    assert_true(with_samples >= 3);
    free(dw);
    assert_int_equal(analytics_routing(f->s, demo, &rt, &n), 0);
    assert_true(n >= 4);
    assert_int_equal(rt[0].from_work_centre_id, 0);        /* everything starts in backlog */
    assert_true(rt[0].avg_depth_to_tenths >= 0);
    free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_stats_cap_in_progress_at_capacity_and_count_overdue),
        T(test_stats_of_a_board_without_work_centres_is_empty),
        T(test_dashboard_counts_follow_the_spec_formulas),
        T(test_dashboard_rounds_half_up_and_handles_an_empty_board),
        T(test_today_is_the_tenant_local_day_including_dst_days),
        T(test_daily_production_sums_deltas_of_the_tenant_local_day),
        T(test_avg_cycle_time_is_null_when_no_order_qualifies),
        T(test_avg_cycle_time_averages_orders_completed_in_the_last_30_days),
        T(test_avg_cycle_time_counts_a_move_out_of_the_backlog_completed_at_once),
        T(test_cycle_times_measure_dwell_between_arrival_and_next_move_out),
        T(test_cycle_times_count_real_store_moves),
        T(test_routing_counts_transitions_by_count_with_mean_queue_depth),
        T(test_demo_tenant_shows_real_numbers),
        T(test_summaries_agree_with_a_full_scan_after_a_random_history),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
