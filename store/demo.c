/*
 * demo — the sample tenant of SPEC §8: users, work centres, the 15 orders of
 * samples/orders-demo.csv with routing steps, and a few days of audit history.
 *
 * The CSV's dates are relative to 2026-11-21; they are shifted by (today - 2026-11-21) so that
 * "overdue" and "due soon" stay meaningful whenever the demo is created. The history is
 * synthesised: every order is created in the backlog 2-5 days ago and walks the route
 * CUT -> ASM -> QC -> PACK -> SHIP up to its current column; the queue depths recorded with
 * each move come from replaying those events in time order, so they are consistent with each
 * other and end at the board's real column sizes. Three scanner progress events dated today
 * (with their audit rows carrying quantityCompletedDelta) give the dashboard a daily output.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_WC     5
#define N_ORDERS 15

static const struct {
    const char *code, *name, *description;
    int capacity;
} demo_wcs[N_WC] = {
    { "CUT", "Cutting", "Laser, saw and shear cutting", 2 },
    { "ASM", "Assembly", "Welding, crimping and final assembly", 3 },
    { "QC", "Quality Control", "Dimensional and visual inspection", 1 },
    { "PACK", "Packaging", "Boxing and wrapping", 2 },
    { "SHIP", "Shipping", "Dispatch to customers", 1 },
};

static const char *const step_names[N_WC] = {
    "Cutting", "Assembly", "Inspection", "Packing", "Dispatch"
};
static const int step_minutes[N_WC] = { 90, 180, 45, 30, 20 };

/* samples/orders-demo.csv */
static const struct {
    const char *number, *stock, *description;
    int qty, done;
    const char *priority, *status, *due, *start, *wc, *operation;
} demo_orders[N_ORDERS] = {
    { "MO-2026-001", "BRK-100", "Steel mounting bracket", 500, 500, "normal", "complete",
      "2026-11-10", "2026-11-02", "SHIP", "Dispatch" },
    { "MO-2026-002", "HSG-220", "Aluminium housing, anodised", 120, 80, "high", "in_progress",
      "2026-11-24", "2026-11-15", "ASM", "Final assembly" },
    { "MO-2026-003", "PNL-310", "Control panel front plate", 60, 0, "urgent", "not_started",
      "2026-11-22", NULL, "CUT", "Laser cutting" },
    { "MO-2026-004", "SHF-045", "Drive shaft 45mm", 200, 150, "normal", "in_progress",
      "2026-11-28", "2026-11-18", "QC", "Dimensional check" },
    { "MO-2026-005", "GRD-900", "Safety guard mesh", 40, 0, "low", "not_started",
      "2026-12-15", NULL, NULL, NULL },
    { "MO-2026-006", "CAB-120", "Wiring loom 1.2m", 1000, 400, "high", "in_progress",
      "2026-11-26", "2026-11-17", "ASM", "Crimping" },
    { "MO-2026-007", "BOX-500", "Shipping carton 500x400", 300, 300, "normal", "in_progress",
      "2026-11-23", "2026-11-19", "PACK", "Boxing" },
    { "MO-2026-008", "VLV-015", "Ball valve 15mm", 250, 0, "normal", "on_hold",
      "2026-12-01", NULL, "CUT", "Awaiting material" },
    { "MO-2026-009", "FRM-700", "Welded frame 700mm", 25, 10, "urgent", "in_progress",
      "2026-11-20", "2026-11-12", "ASM", "Welding" },
    { "MO-2026-010", "LBL-001", "Label set \"CE\" marking", 5000, 0, "low", "not_started",
      "2026-12-20", NULL, NULL, NULL },
    { "MO-2026-011", "PMP-330", "Pump impeller", 80, 80, "high", "complete",
      "2026-11-18", "2026-11-08", "SHIP", "Dispatch" },
    { "MO-2026-012", "GSK-012", "Rubber gasket 12mm", 2000, 1200, "normal", "in_progress",
      "2026-11-30", "2026-11-16", "QC", "Visual inspection" },
    { "MO-2026-013", "MTR-150", "Motor mount plate", 150, 0, "normal", "cancelled",
      "2026-11-25", NULL, NULL, NULL },
    { "MO-2026-014", "HND-220", "Handle assembly", 400, 0, "high", "not_started",
      "2026-11-27", NULL, "CUT", "Sawing" },
    { "MO-2026-015", "CVR-880", "Top cover 880mm", 90, 30, "normal", "in_progress",
      "2026-11-29", "2026-11-20", "PACK", "Wrapping" },
};

static const char *const move_reasons[] = {
    "user_decision", "capacity_balancing", "routing", "priority_change"
};

/* ---------------------------------------------------------------- time helpers */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void fmt_time(int64_t t, char out[PB_TIMESTAMP_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, PB_TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* date + shift days -> out ("" for NULL) */
static void shift_date(const char *date, int64_t shift, char out[PB_DATE_LEN])
{
    if (date == NULL) {
        out[0] = '\0';
        return;
    }
    int64_t days = days_from_civil(atoi(date), atoi(date + 5), atoi(date + 8)) + shift;
    time_t t = (time_t)(days * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, PB_DATE_LEN, "%Y-%m-%d", &tm);
}

/* ---------------------------------------------------------------- history */

struct demo_event {
    int64_t t;                  /* seconds since the epoch */
    int seq;                    /* tie-break: generation order */
    int order;                  /* index into demo_orders */
    int kind;                   /* 0 created, 1 moved, 2 completed */
    int from, to;               /* column index: -1 backlog, 0..4 work centres */
};

static int event_cmp(const void *a, const void *b)
{
    const struct demo_event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq - y->seq;
}

static void push(struct demo_event *ev, int *n, int64_t t, int order, int kind, int from,
                 int to)
{
    ev[*n] = (struct demo_event){ t, *n, order, kind, from, to };
    (*n)++;
}

static int wc_index(const char *code)
{
    for (int i = 0; code != NULL && i < N_WC; i++)
        if (strcmp(demo_wcs[i].code, code) == 0)
            return i;
    return -1;
}

/* Event times of order k: created, the hop into column i (0..final), completed. */
static int64_t t_created(int64_t now, int k)
{
    return now - (int64_t)(120 - 5 * k) * 3600;
}
static int64_t t_hop(int64_t now, int k, int i)
{
    return t_created(now, k) + (int64_t)(2 + i * (6 + k % 3)) * 3600 + 60 * (7 * k % 50);
}

/* ---------------------------------------------------------------- writing */

static int prepare(struct store *s, const char *sql, struct db_stmt **st)
{
    if (db_prepare(s->db, sql, false, st) != DB_OK) {
        store__error(s, "demo prepare");
        return PB_EINTERNAL;
    }
    return 0;
}

static int write_demo(struct store *s, const char *const hashes[3], int64_t *tenant_out)
{
    static const char *const usernames[3] = { "admin", "scheduler", "viewer" };
    static const char *const first[3] = { "Alex", "Sam", "Vic" };
    static const char *const last[3] = { "Admin", "Scheduler", "Viewer" };
    struct db_stmt *wc_ins = NULL, *fix = NULL, *misc = NULL, *st;
    struct demo_event ev[N_ORDERS * (N_WC + 2)];
    int64_t tenant, users[3], wc_ids[N_WC], order_ids[N_ORDERS];
    int64_t now = pb_now_ms() / 1000, shift;
    int n_ev = 0, rc = PB_EINTERNAL, counts[N_WC + 1] = { 0 };
    char ts[PB_TIMESTAMP_LEN], ts2[PB_TIMESTAMP_LEN], buf[256];

    {
        time_t tt = (time_t)now;
        struct tm tm;
        gmtime_r(&tt, &tm);
        shift = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday)
                - days_from_civil(2026, 11, 21);
    }

    rc = store_tenant_create(s, "demo", "Demo Plant", &tenant);
    if (rc != 0)
        return rc;
    rc = PB_EINTERNAL;
    if (prepare(s, "UPDATE tenants SET daily_target = 500 WHERE id = ?1", &misc) != 0)
        goto out;
    db_bind_int64(misc, 1, tenant);
    if (store__run(s, misc, "demo tenant", NULL) != 0)
        goto out;
    for (int i = 0; i < 3; i++) {
        char email[64];
        snprintf(email, sizeof(email), "%s@demo.example", usernames[i]);
        if (store_user_create(s, tenant, usernames[i], email, hashes[i], (enum role)i, first[i],
                              last[i], &users[i]) != 0)
            goto out;
    }

    fmt_time(t_created(now, 0) - 86400, ts);
    if (prepare(s, "INSERT INTO work_centres(tenant_id, code, name, description, capacity, "
                   "display_order, is_active, created_at, updated_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)", &wc_ins) != 0)
        goto out;
    for (int i = 0; i < N_WC; i++) {
        db_reset(wc_ins);
        db_bind_int64(wc_ins, 1, tenant);
        db_bind_text(wc_ins, 2, demo_wcs[i].code, -1, DB_STATIC);
        db_bind_text(wc_ins, 3, demo_wcs[i].name, -1, DB_STATIC);
        db_bind_text(wc_ins, 4, demo_wcs[i].description, -1, DB_STATIC);
        db_bind_int(wc_ins, 5, demo_wcs[i].capacity);
        db_bind_int(wc_ins, 6, i + 1);
        db_bind_text(wc_ins, 7, ts, -1, DB_STATIC);
        if (store__run(s, wc_ins, "demo work centre", NULL) != 0)
            goto out;
        wc_ids[i] = db_last_insert_rowid(s->db);
    }

    /* orders in their final place, then history fields set to the synthesised times */
    if (prepare(s, "UPDATE orders SET created_at = ?2, updated_at = ?3, started_at = ?4, "
                   "completed_at = ?5, completion_date = ?6, version = ?7 WHERE id = ?1",
                &fix) != 0)
        goto out;
    for (int k = 0; k < N_ORDERS; k++) {
        int f = wc_index(demo_orders[k].wc);
        bool complete = strcmp(demo_orders[k].status, "complete") == 0;
        struct order o = { 0 };
        char due[PB_DATE_LEN], start[PB_DATE_LEN];

        o.order_number = (char *)demo_orders[k].number;
        o.stock_code = (char *)demo_orders[k].stock;
        o.description = (char *)demo_orders[k].description;
        o.current_operation = (char *)demo_orders[k].operation;
        o.quantity_to_make = demo_orders[k].qty;
        o.quantity_completed = demo_orders[k].done;
        o.work_centre_id = f >= 0 ? wc_ids[f] : 0;
        o.rank = RANK_STEP * counts[f + 1]++;       /* the end of its column */
        o.status = (enum order_status)order_status_parse(demo_orders[k].status, false);
        o.priority = (enum order_priority)order_priority_parse(demo_orders[k].priority, false);
        shift_date(demo_orders[k].due, shift, due);
        shift_date(demo_orders[k].start, shift, start);
        memcpy(o.due_date, due, sizeof(due));
        memcpy(o.start_date, start, sizeof(start));
        o.created_by = users[0];

        st = store__stmt(s, ST_ORDER_INSERT);
        if (st == NULL)
            goto out;
        fmt_time(t_created(now, k), ts);
        db_bind_int64(st, 1, tenant);
        db_bind_text(st, 2, o.order_number, -1, DB_STATIC);
        db_bind_text(st, 3, o.stock_code, -1, DB_STATIC);
        db_bind_text(st, 4, o.description, -1, DB_STATIC);
        store__bind_text_opt(st, 5, o.current_operation);
        db_bind_int64(st, 6, o.quantity_to_make);
        db_bind_int64(st, 7, o.quantity_completed);
        store__bind_id_opt(st, 8, o.work_centre_id);
        db_bind_int64(st, 9, o.rank);
        db_bind_text(st, 10, demo_orders[k].status, -1, DB_STATIC);
        db_bind_text(st, 11, demo_orders[k].priority, -1, DB_STATIC);
        store__bind_text_opt(st, 12, due);
        store__bind_text_opt(st, 13, start);
        db_bind_int64(st, 14, users[0]);
        db_bind_text(st, 15, ts, -1, DB_STATIC);
        if (store__run(s, st, "demo order", NULL) != 0)
            goto out;
        order_ids[k] = db_last_insert_rowid(s->db);

        push(ev, &n_ev, t_created(now, k), k, 0, -1, -1);
        for (int i = 0; i <= f; i++)
            push(ev, &n_ev, t_hop(now, k, i), k, 1, i - 1, i);
        int64_t t_done = f >= 0 ? t_hop(now, k, f) + 4 * 3600 : 0;
        if (complete)
            push(ev, &n_ev, t_done, k, 2, f, f);

        /* history fields */
        int64_t t_last = complete ? t_done : f >= 0 ? t_hop(now, k, f) : t_created(now, k);
        db_reset(fix);
        db_clear_bindings(fix);
        db_bind_int64(fix, 1, order_ids[k]);
        db_bind_text(fix, 2, ts, -1, DB_TRANSIENT);
        fmt_time(t_last, ts2);
        db_bind_text(fix, 3, ts2, -1, DB_TRANSIENT);
        if (f >= 0) {
            fmt_time(t_hop(now, k, 0), ts2);
            db_bind_text(fix, 4, ts2, -1, DB_TRANSIENT);
        }
        if (complete) {
            fmt_time(t_done, ts2);
            db_bind_text(fix, 5, ts2, -1, DB_TRANSIENT);
            ts2[10] = '\0';
            db_bind_text(fix, 6, ts2, -1, DB_TRANSIENT);
        }
        db_bind_int(fix, 7, 1 + (f + 1) + complete);
        if (store__run(s, fix, "demo order history", NULL) != 0)
            goto out;

        /* routing steps CUT..SHIP */
        for (int i = 0; i < N_WC; i++) {
            struct step p = { 0 };
            char started[PB_TIMESTAMP_LEN] = "", completed[PB_TIMESTAMP_LEN] = "";
            p.step_number = i + 1;
            p.operation_name = (char *)(i == f && demo_orders[k].operation != NULL
                                            ? demo_orders[k].operation : step_names[i]);
            p.work_centre_id = wc_ids[i];
            p.status = STEP_PENDING;
            p.planned_duration_minutes = step_minutes[i];
            p.actual_duration_minutes = -1;
            if (strcmp(demo_orders[k].status, "cancelled") == 0) {
                p.status = STEP_SKIPPED;
            } else if (i < f || (complete && i == f)) {
                int64_t t0 = t_hop(now, k, i), t1 = i < f ? t_hop(now, k, i + 1) : t_done;
                p.status = STEP_COMPLETE;
                p.actual_duration_minutes = (t1 - t0) / 60 / 2;
                p.quantity_completed = demo_orders[k].qty;
                fmt_time(t0, started);
                fmt_time(t0 + (t1 - t0) / 2, completed);
            } else if (i == f && strcmp(demo_orders[k].status, "in_progress") == 0) {
                p.status = STEP_IN_PROGRESS;
                p.quantity_completed = demo_orders[k].done;
                fmt_time(t_hop(now, k, i), started);
            }
            memcpy(p.started_at, started, sizeof(started));
            memcpy(p.completed_at, completed, sizeof(completed));
            st = store__stmt(s, ST_STEP_INSERT);
            if (st == NULL)
                goto out;
            db_bind_int64(st, 1, tenant);
            db_bind_int64(st, 2, order_ids[k]);
            db_bind_int64(st, 3, p.step_number);
            db_bind_text(st, 4, p.operation_name, -1, DB_STATIC);
            db_bind_int64(st, 5, p.work_centre_id);
            db_bind_text(st, 6, step_status_name(p.status), -1, DB_STATIC);
            db_bind_int64(st, 7, p.planned_duration_minutes);
            if (p.actual_duration_minutes >= 0)
                db_bind_int64(st, 8, p.actual_duration_minutes);
            db_bind_int64(st, 9, p.quantity_completed);
            store__bind_text_opt(st, 10, p.started_at);
            store__bind_text_opt(st, 11, p.completed_at);
            if (store__run(s, st, "demo step", NULL) != 0)
                goto out;
        }
    }

    /* audit history, replayed in time order so queue depths are consistent */
    qsort(ev, (size_t)n_ev, sizeof(ev[0]), event_cmp);
    memset(counts, 0, sizeof(counts));
    for (int e = 0; e < n_ev; e++) {
        const struct demo_event *x = &ev[e];
        int64_t from = x->from >= 0 ? wc_ids[x->from] : 0, to = x->to >= 0 ? wc_ids[x->to] : 0;
        fmt_time(x->t, ts);
        int r;
        if (x->kind == 0) {
            snprintf(buf, sizeof(buf), "{\"orderNumber\":\"%s\"}", demo_orders[x->order].number);
            r = store__audit(s, tenant, "order_created", order_ids[x->order], 0, 0, users[0],
                             buf, -1, counts[0], ts);
            counts[0]++;
        } else if (x->kind == 1) {
            snprintf(buf, sizeof(buf),
                     "{\"reason\":\"%s\",\"fromPosition\":%d,\"toPosition\":%d}",
                     move_reasons[(x->order + x->to) % 4], 0, counts[x->to + 1]);
            r = store__audit(s, tenant, "order_moved", order_ids[x->order], from, to, users[1],
                             buf, counts[x->from + 1], counts[x->to + 1], ts);
            counts[x->from + 1]--;
            counts[x->to + 1]++;
        } else {
            snprintf(buf, sizeof(buf), "{\"field\":\"status\",\"from\":\"in_progress\","
                                       "\"to\":\"complete\"}");
            r = store__audit(s, tenant, "order_updated", order_ids[x->order], to, to, users[1],
                             buf, -1, -1, ts);
        }
        if (r != 0)
            goto out;
    }

    /* scanner progress reported today, so the dashboard's daily production is not 0 */
    db_finalize(misc);
    misc = NULL;
    if (prepare(s, "INSERT INTO scanner_events(tenant_id, event_id, order_id, work_centre_id, "
                   "operation_name, event_type, quantity, operator_badge, scanner_id, "
                   "timestamp, processed) VALUES (?1, ?2, ?3, ?4, ?5, 'progress_update', ?6, "
                   "'B-1042', 'SCN-01', ?7, 1)", &misc) != 0)
        goto out;
    {
        static const int which[3] = { 1, 5, 11 };   /* MO-002 ASM, MO-006 ASM, MO-012 QC */
        static const int qty[3] = { 20, 150, 400 };
        int64_t since_midnight = now % 86400;
        for (int i = 0; i < 3; i++) {
            int k = which[i];
            db_reset(misc);
            snprintf(buf, sizeof(buf), "demo-%d", i + 1);
            fmt_time(now - since_midnight * (3 - i) / 4, ts);
            db_bind_int64(misc, 1, tenant);
            db_bind_text(misc, 2, buf, -1, DB_TRANSIENT);
            db_bind_int64(misc, 3, order_ids[k]);
            db_bind_int64(misc, 4, wc_ids[wc_index(demo_orders[k].wc)]);
            db_bind_text(misc, 5, demo_orders[k].operation, -1, DB_STATIC);
            db_bind_int(misc, 6, qty[i]);
            db_bind_text(misc, 7, ts, -1, DB_TRANSIENT);
            if (store__run(s, misc, "demo scanner event", NULL) != 0)
                goto out;
            /* its audit row: analytics sums quantityCompletedDelta for "completed today" */
            int64_t wc = wc_ids[wc_index(demo_orders[k].wc)];
            snprintf(buf, sizeof(buf), "{\"eventId\":\"demo-%d\",\"eventType\":"
                     "\"progress_update\",\"quantity\":%d,\"quantityCompletedDelta\":%d}",
                     i + 1, qty[i], qty[i]);
            if (store__audit(s, tenant, "scanner_event", order_ids[k], wc, wc, 0, buf, -1, -1,
                             ts) != 0)
                goto out;
        }
    }
    *tenant_out = tenant;
    rc = 0;

out:
    db_finalize(wc_ins);
    db_finalize(fix);
    db_finalize(misc);
    return rc;
}

int store_demo_create(struct store *s, const char *const password_hashes[3], int64_t *tenant_id)
{
    struct tenant t;
    int64_t id = 0;
    int rc = store_tenant_by_slug(s, "demo", &t);

    if (rc == 0) {
        tenant_cleanup(&t);
        return PB_ECONFLICT;
    }
    if (rc != PB_ENOT_FOUND)
        return rc;
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    rc = write_demo(s, password_hashes, &id);
    if (rc != 0) {
        store__rollback(s);
        return rc == PB_ECONFLICT ? PB_ECONFLICT : PB_EINTERNAL;
    }
    if (store__commit(s) != 0)
        return PB_EINTERNAL;
    if (tenant_id != NULL)
        *tenant_id = id;
    return 0;
}
