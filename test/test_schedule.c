/*
 * Unit tests of core/schedule (SPEC §9 projection). The expected minutes are computed by hand
 * in the comments from the rule and the calendar; scheduleAt is Monday 2026-11-23 08:00 UTC
 * unless a test says otherwise. Ends with a property test: random boards and random moves,
 * the incremental projection (the two touched columns) equals a full recompute after every
 * step, and its change list is exactly the orders whose values changed.
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
#include "core/schedule.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi };
    return (int64_t)timegm(&tm) / 60;
}

#define MON(h, m) utc(2026, 11, 23, h, m)
#define TUE(h, m) utc(2026, 11, 24, h, m)

/* ---------------------------------------------------------------- a tiny board */

#define MAX_ORDERS 80

struct fixture {
    struct order orders[MAX_ORDERS];
    size_t n;
    struct ostree col;                  /* the one column under test */
    struct calendar *cal;
    struct schedule_ctx ctx;
    struct schedule_column sc;
    struct schedule_changes ch;
};

static int64_t defaults_by_id(void *ctx, int64_t wc_id)
{
    (void)ctx;
    return wc_id == 2 ? 30 : wc_id == 3 ? 45 : 0;   /* centre 2: 30 min, 3: 45, others unknown */
}

static struct fixture *fixture_new(const char *tz, const struct cal_shift *shifts, size_t n_shifts,
                                   int64_t capacity, int64_t deflt)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->cal = calendar_new(tz, shifts, n_shifts, NULL, 0);
    assert_non_null(f->cal);
    f->ctx = (struct schedule_ctx){ f->cal, MON(8, 0), defaults_by_id, NULL };
    f->sc = (struct schedule_column){ 1, capacity, deflt, &f->col };
    return f;
}

static void fixture_free(struct fixture *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->orders[i].route);
    calendar_free(f->cal);
    schedule_changes_cleanup(&f->ch);
    free(f);
}

/* Append an order to the column (quantity 100, not_started, no due date, no steps). */
static struct order *add(struct fixture *f)
{
    struct order *o = &f->orders[f->n++];
    o->id = (int64_t)f->n;
    o->quantity_to_make = 100;
    o->status = ORDER_NOT_STARTED;
    o->work_centre_id = 1;
    ostree_insert_at(&f->col, SIZE_MAX, &o->column_node);
    return o;
}

static void route(struct order *o, size_t n, const struct route_step *steps)
{
    o->route = malloc(sizeof(*o->route) + n * sizeof(steps[0]));
    o->route->n = n;
    memcpy(o->route->steps, steps, n * sizeof(steps[0]));
}

/* An order whose work at centre 1 is exactly `minutes` (one step there, nothing done). */
static struct order *add_work(struct fixture *f, int64_t minutes)
{
    struct order *o = add(f);
    const struct route_step s = { 1, 1, minutes, 0, STEP_PENDING };
    route(o, 1, &s);
    return o;
}

static void project(struct fixture *f)
{
    f->ch.n = 0;
    assert_int_equal(schedule_column(&f->ctx, &f->sc, &f->ch), 0);
}

static void expect(const struct order *o, int64_t start, int64_t finish, bool late)
{
    assert_int_equal(o->projected_start, start);
    assert_int_equal(o->projected_finish, finish);
    assert_int_equal(o->late, late);
}

/* ---------------------------------------------------------------- hand-computed cases */

static void test_capacity_one_runs_orders_one_after_another(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 1, 60);
    struct order *a = add(f), *b = add(f), *c = add(f);     /* no steps: 60 default minutes */
    project(f);
    expect(a, MON(8, 0), MON(9, 0), false);
    expect(b, MON(9, 0), MON(10, 0), false);
    expect(c, MON(10, 0), MON(11, 0), false);
    assert_int_equal(f->ch.n, 3);
    project(f);                         /* nothing changed: nothing listed */
    assert_int_equal(f->ch.n, 0);
    fixture_free(f);
}

static void test_capacity_three_takes_the_slot_that_frees_first(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 3, 60);
    struct order *a = add_work(f, 240), *b = add_work(f, 60), *c = add_work(f, 120);
    struct order *d = add_work(f, 60), *e = add_work(f, 480);
    project(f);
    /* slots 0,1,2 free at 08:00: A slot 0 08-12, B slot 1 08-09, C slot 2 08-10 */
    expect(a, MON(8, 0), MON(12, 0), false);
    expect(b, MON(8, 0), MON(9, 0), false);
    expect(c, MON(8, 0), MON(10, 0), false);
    /* D: slot 1 frees first (09:00) -> 09-10 */
    expect(d, MON(9, 0), MON(10, 0), false);
    /* E: slots 1 and 2 both free at 10:00, slot 1 wins; 360 min Monday + 120 Tuesday */
    expect(e, MON(10, 0), TUE(10, 0), false);
    fixture_free(f);
}

static void test_partial_progress_shortens_the_step(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 1, 60);
    struct order *o = add(f);
    /* 90 planned minutes for 100 pieces, 35 done: ceil(90 x 65 / 100) = ceil(58.5) = 59 */
    const struct route_step s = { 10, 1, 90, 35, STEP_IN_PROGRESS };
    route(o, 1, &s);
    size_t used;
    assert_int_equal(schedule_work_at(o, 1, 60, &used), 59);
    assert_int_equal(used, 0);
    project(f);
    expect(o, MON(8, 0), MON(8, 59), false);
    fixture_free(f);
}

static void test_missing_plan_uses_the_default_minutes(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 1, 45);
    struct order *a = add(f), *b = add(f), *c = add(f);
    const struct route_step null_plan = { 1, 1, -1, 0, STEP_PENDING };
    const struct route_step elsewhere = { 1, 2, 100, 0, STEP_COMPLETE };
    const struct route_step done_here[] = { { 1, 1, 500, 100, STEP_COMPLETE },
                                            { 2, 1, 20, 0, STEP_PENDING } };
    route(a, 1, &null_plan);            /* a step here without a plan: 45 */
    route(b, 1, &elsewhere);            /* no step here: 45 */
    route(c, 2, done_here);             /* the complete step is passed over: 20 */
    project(f);
    expect(a, MON(8, 0), MON(8, 45), false);
    expect(b, MON(8, 45), MON(9, 30), false);
    expect(c, MON(9, 30), MON(9, 50), false);
    fixture_free(f);
}

static void test_later_pending_steps_extend_the_finish_without_queueing(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 1, 60);
    struct order *a = add(f), *b = add(f);
    /* A: here 60 (in progress), then centre 2 with no plan (its default 30), centre 3 planned
     * 120, a complete step at centre 4 (nothing): here ends 09:00, finish 09:00 + 150 = 11:30 */
    const struct route_step ra[] = { { 1, 1, 60, 0, STEP_IN_PROGRESS },
                                     { 2, 2, -1, 0, STEP_PENDING },
                                     { 3, 3, 120, 0, STEP_PENDING },
                                     { 4, 4, 10, 0, STEP_COMPLETE } };
    /* B: no step here (default 60 here), a pending step at centre 2 planned 100, one at an
     * unknown centre 9 with no plan (60): here 09:00-10:00, finish 10:00 + 160 = 12:40 */
    const struct route_step rb[] = { { 1, 2, 100, 0, STEP_PENDING }, { 2, 9, -1, 0, STEP_PENDING } };
    route(a, 4, ra);
    route(b, 2, rb);
    project(f);
    expect(a, MON(8, 0), MON(11, 30), false);
    /* B queues behind A's work here (until 09:00), not behind A's later steps */
    expect(b, MON(9, 0), MON(12, 40), false);
    fixture_free(f);
}

static void test_unscheduled_statuses_and_backlog_are_null(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 1, 60);
    struct order *hold = add(f), *a = add(f), *done = add(f), *gone = add(f), *b = add(f);
    hold->status = ORDER_ON_HOLD;
    done->status = ORDER_COMPLETE;
    gone->status = ORDER_CANCELLED;
    b->status = ORDER_IN_PROGRESS;
    hold->projected_start = 1;          /* stale values are cleared */
    hold->late = true;
    project(f);
    expect(hold, 0, 0, false);
    expect(done, 0, 0, false);
    expect(gone, 0, 0, false);
    expect(a, MON(8, 0), MON(9, 0), false);             /* they take no slot */
    expect(b, MON(9, 0), MON(10, 0), false);
    /* the same orders as a backlog column: all null */
    f->sc.work_centre_id = 0;
    project(f);
    expect(a, 0, 0, false);
    expect(b, 0, 0, false);
    assert_int_equal(f->ch.n, 2);       /* a and b changed; the others were null already */
    fixture_free(f);
}

static void test_start_waits_for_schedule_at_and_working_time(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 1, 600);
    struct order *a = add(f);
    /* computed Friday 17:00: starts Monday 08:00; 600 min = Monday 480 + Tuesday 120 */
    f->ctx.at = utc(2026, 11, 27, 17, 0);
    project(f);
    expect(a, utc(2026, 11, 30, 8, 0), utc(2026, 12, 1, 10, 0), false);
    /* computed Monday 09:30 (a slot free since scheduleAt): 09:30 + 600 -> Tuesday 11:30 */
    f->ctx.at = MON(9, 30);
    project(f);
    expect(a, MON(9, 30), TUE(11, 30), false);
    fixture_free(f);
}

static void test_late_is_after_the_end_of_the_due_day_in_the_tenant_zone(void **state)
{
    (void)state;
    /* Berlin, Monday night shift 20:00-02:00 local = 19:00Z-01:00Z; the due day 2026-11-23
     * ends at midnight Berlin = 23:00Z */
    const struct cal_shift night[] = { { 1, 20 * 60, 2 * 60 } };
    struct fixture *f = fixture_new("Europe/Berlin", night, 1, 3, 60);
    f->ctx.at = MON(19, 0);
    struct order *on_time = add_work(f, 240), *late = add_work(f, 241), *no_due = add_work(f, 300);
    struct order *next_day = add_work(f, 300);
    strcpy(on_time->due_date, "2026-11-23");
    strcpy(late->due_date, "2026-11-23");
    strcpy(next_day->due_date, "2026-11-24");
    project(f);
    expect(on_time, MON(19, 0), MON(23, 0), false);    /* exactly at the end: not late */
    expect(late, MON(19, 0), MON(23, 1), true);
    expect(no_due, MON(19, 0), TUE(0, 0), false);
    /* capacity 3: next_day waits for the first slot (23:00), 120 min left that night,
     * the rest (180) next Monday night 19:00Z -> 22:00Z on 2026-11-30 */
    expect(next_day, MON(23, 0), utc(2026, 11, 30, 22, 0), true);
    fixture_free(f);
}

static void test_work_past_the_horizon_is_beyond_and_late_with_a_due_date(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 1, 60);
    struct order *a = add_work(f, INT64_MAX / 2), *b = add(f);
    strcpy(b->due_date, "2099-01-01");
    project(f);
    expect(a, MON(8, 0), SCHEDULE_BEYOND, false);
    expect(b, SCHEDULE_BEYOND, SCHEDULE_BEYOND, true);
    fixture_free(f);
}

static void test_huge_capacity_allocates_only_the_slots_it_uses(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 1000000, 60);
    struct order *o[SCHEDULE_INLINE_SLOTS + 2];
    for (size_t i = 0; i < SCHEDULE_INLINE_SLOTS + 2; i++)
        o[i] = add(f);
    project(f);
    for (size_t i = 0; i < SCHEDULE_INLINE_SLOTS + 2; i++)
        expect(o[i], MON(8, 0), MON(9, 0), false);
    fixture_free(f);
}

/* A what-if sequence gets exactly what schedule_column gives the column in that order, and
 * no order of the live column is touched (preview-move, SPEC §9). */
static void test_sequence_projects_a_scratch_order_without_touching_the_orders(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("UTC", NULL, 0, 2, 60);
    struct order *a = add_work(f, 240), *b = add_work(f, 60), *c = add_work(f, 120);
    struct order *d = add(f);
    d->status = ORDER_ON_HOLD;
    snprintf(c->due_date, sizeof(c->due_date), "2026-11-23");
    project(f);
    expect(c, MON(9, 0), MON(11, 0), false);
    struct order before[4] = { *a, *b, *c, *d };

    /* c first, then a, d, b */
    const struct order *seq[] = { c, a, d, b };
    struct schedule_value v[4];
    assert_int_equal(schedule_sequence(&f->ctx, &f->sc, seq, 4, v), 0);
    assert_memory_equal(a, &before[0], sizeof(*a));
    assert_memory_equal(b, &before[1], sizeof(*b));
    assert_memory_equal(c, &before[2], sizeof(*c));
    assert_memory_equal(d, &before[3], sizeof(*d));

    /* the same order on the live column: the values the sequence promised */
    ostree_remove(&f->col, &c->column_node);
    ostree_insert_at(&f->col, 0, &c->column_node);
    ostree_remove(&f->col, &d->column_node);
    ostree_insert_at(&f->col, 2, &d->column_node);
    project(f);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(seq[i]->projected_start, v[i].start);
        assert_int_equal(seq[i]->projected_finish, v[i].finish);
        assert_int_equal(seq[i]->late, v[i].late);
    }
    expect(c, MON(8, 0), MON(10, 0), false);
    expect(b, MON(10, 0), MON(11, 0), false);
    assert_int_equal(v[2].start, SCHEDULE_NULL);
    /* the backlog: every order null */
    struct schedule_column backlog = { 0, 1, 60, NULL };
    assert_int_equal(schedule_sequence(&f->ctx, &backlog, seq, 4, v), 0);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(v[i].finish, SCHEDULE_NULL);
    fixture_free(f);
}

/* ---------------------------------------------------------------- property test */

#define P_COLS 4                        /* columns 1..3 and the backlog (index 3, id 0) */
#define P_ORDERS 40

struct pboard {
    struct order orders[P_ORDERS];
    size_t n;
    struct ostree cols[P_COLS];
    struct schedule_column sc[P_COLS];
    int64_t defaults[P_COLS];
};

static int64_t pboard_default(void *ctx, int64_t wc_id)
{
    struct pboard *b = ctx;
    return wc_id >= 1 && wc_id <= 3 ? b->defaults[wc_id - 1] : 0;
}

static size_t col_of(int64_t wc_id)
{
    return wc_id == 0 ? P_COLS - 1 : (size_t)wc_id - 1;
}

struct snap {
    int64_t start, finish;
    bool late;
};

static void snapshot(const struct pboard *b, struct snap *s)
{
    for (size_t i = 0; i < b->n; i++)
        s[i] = (struct snap){ b->orders[i].projected_start, b->orders[i].projected_finish,
                              b->orders[i].late };
}

static void pboard_random(struct pboard *b, unsigned *seed)
{
    memset(b, 0, sizeof(*b));
    for (size_t c = 0; c < P_COLS; c++) {
        b->defaults[c] = 1 + rand_r(seed) % 120;
        b->sc[c] = (struct schedule_column){ c == P_COLS - 1 ? 0 : (int64_t)c + 1,
                                             1 + rand_r(seed) % 3, b->defaults[c], &b->cols[c] };
    }
    b->n = (size_t)(rand_r(seed) % (P_ORDERS + 1));
    for (size_t i = 0; i < b->n; i++) {
        struct order *o = &b->orders[i];
        o->id = (int64_t)i + 1;
        o->quantity_to_make = 1 + rand_r(seed) % 50;
        static const enum order_status st[] = { ORDER_NOT_STARTED, ORDER_NOT_STARTED,
                                                ORDER_IN_PROGRESS, ORDER_ON_HOLD, ORDER_COMPLETE,
                                                ORDER_CANCELLED };
        o->status = st[rand_r(seed) % 6];
        if (rand_r(seed) % 3 != 0)
            snprintf(o->due_date, sizeof(o->due_date), "2026-%02u-%02u",
                     11u + (unsigned)rand_r(seed) % 2u, 1u + (unsigned)rand_r(seed) % 28u);
        size_t ns = (size_t)(rand_r(seed) % 5);
        if (ns > 0) {
            o->route = malloc(sizeof(*o->route) + ns * sizeof(o->route->steps[0]));
            o->route->n = ns;
            for (size_t k = 0; k < ns; k++)
                o->route->steps[k] = (struct route_step){
                    (int64_t)k + 1, rand_r(seed) % 5,   /* 0 = none, 4 = unknown */
                    rand_r(seed) % 4 == 0 ? -1 : rand_r(seed) % 300,
                    rand_r(seed) % 60, (enum step_status)(rand_r(seed) % STEP_STATUS__COUNT) };
        }
        size_t c = (size_t)(rand_r(seed) % P_COLS);
        o->work_centre_id = b->sc[c].work_centre_id;
        ostree_insert_at(&b->cols[c], SIZE_MAX, &o->column_node);
    }
}

static void test_incremental_projection_equals_full_recompute(void **state)
{
    (void)state;
    static const struct cal_shift shifts[][3] = {
        { { 1, 480, 960 }, { 3, 480, 960 }, { 5, 1320, 360 } },     /* with a night shift */
        { { 6, 1320, 360 }, { 7, 0, 0 }, { 2, 600, 660 } },         /* weekend, 24 h Sunday */
    };
    const char *zones[] = { "UTC", "Europe/Berlin", "America/New_York" };
    unsigned seed = 20261206;           /* fixed: the same boards every run */
    struct pboard *b = malloc(sizeof(*b));
    struct snap before[P_ORDERS], after[P_ORDERS];
    struct schedule_changes ch = { 0 }, full = { 0 };
    size_t steps = 0, changed = 0;

    for (int round = 0; round < 150; round++) {
        int which = rand_r(&seed) % 3;
        struct calendar *cal = which == 2 ? calendar_new(zones[round % 3], NULL, 0, NULL, 0)
                                          : calendar_new(zones[round % 3], shifts[which], 3,
                                                         NULL, 0);
        assert_non_null(cal);
        pboard_random(b, &seed);
        /* scheduleAt around the autumn DST change, at any minute */
        struct schedule_ctx ctx = { cal, utc(2026, 10, 20, 0, 0) + rand_r(&seed) % (14 * 1440),
                                    pboard_default, b };
        assert_int_equal(schedule_all(&ctx, b->sc, P_COLS, NULL), 0);
        for (int step = 0; step < 40 && b->n > 0; step++, steps++) {
            struct order *o = &b->orders[rand_r(&seed) % b->n];
            size_t src = col_of(o->work_centre_id), dst = (size_t)(rand_r(&seed) % P_COLS);
            snapshot(b, before);
            if (rand_r(&seed) % 5 == 0) {
                /* a status change recomputes the order's own column */
                o->status = (enum order_status)(rand_r(&seed) % ORDER_STATUS__COUNT);
                dst = src;
            } else {
                ostree_remove(&b->cols[src], &o->column_node);
                size_t len = ostree_size(&b->cols[dst]);
                ostree_insert_at(&b->cols[dst], (size_t)rand_r(&seed) % (len + 1), &o->column_node);
                o->work_centre_id = b->sc[dst].work_centre_id;
            }
            ch.n = 0;
            assert_int_equal(schedule_column(&ctx, &b->sc[src], &ch), 0);
            if (dst != src)
                assert_int_equal(schedule_column(&ctx, &b->sc[dst], &ch), 0);
            snapshot(b, after);
            /* the change list is exactly the orders whose values differ */
            size_t diff = 0;
            for (size_t i = 0; i < b->n; i++) {
                bool d = before[i].start != after[i].start || before[i].finish != after[i].finish
                         || before[i].late != after[i].late;
                bool listed = false;
                for (size_t k = 0; k < ch.n; k++)
                    listed |= ch.ids[k] == b->orders[i].id;
                assert_int_equal(d, listed);
                diff += d;
            }
            assert_int_equal(diff, ch.n);
            changed += diff;
            /* a full recompute at the same scheduleAt finds nothing to change */
            full.n = 0;
            assert_int_equal(schedule_all(&ctx, b->sc, P_COLS, &full), 0);
            assert_int_equal(full.n, 0);
        }
        for (size_t i = 0; i < b->n; i++)
            free(b->orders[i].route);
        calendar_free(cal);
    }
    assert_true(steps > 3000);
    assert_true(changed > steps / 2);   /* the moves did move projections (4521 of 5800) */
    schedule_changes_cleanup(&ch);
    schedule_changes_cleanup(&full);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_one_runs_orders_one_after_another),
        cmocka_unit_test(test_capacity_three_takes_the_slot_that_frees_first),
        cmocka_unit_test(test_partial_progress_shortens_the_step),
        cmocka_unit_test(test_missing_plan_uses_the_default_minutes),
        cmocka_unit_test(test_later_pending_steps_extend_the_finish_without_queueing),
        cmocka_unit_test(test_unscheduled_statuses_and_backlog_are_null),
        cmocka_unit_test(test_start_waits_for_schedule_at_and_working_time),
        cmocka_unit_test(test_late_is_after_the_end_of_the_due_day_in_the_tenant_zone),
        cmocka_unit_test(test_work_past_the_horizon_is_beyond_and_late_with_a_due_date),
        cmocka_unit_test(test_huge_capacity_allocates_only_the_slots_it_uses),
        cmocka_unit_test(test_incremental_projection_equals_full_recompute),
        cmocka_unit_test(test_sequence_projects_a_scratch_order_without_touching_the_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
