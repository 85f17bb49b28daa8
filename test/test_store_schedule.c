/*
 * test_store_schedule — store/schedule.c and the calendar storage (SPEC §9) against a real
 * SQLite file: the board loads its calendar and its orders' routes, the projection follows
 * moves and scanner steps, a calendar written through survives a reload, a timezone change
 * moves the calendar, and an old database gets the work centres' new columns. scheduleAt is
 * given (Monday 2026-11-23 08:00 UTC), never read from the clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/calendar.h"
#include "core/errors.h"
#include "core/schedule.h"
#include "store/scanner.h"
#include "store/store.h"
#include "store/users.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi };
    return (int64_t)timegm(&tm) / 60;
}

#define MON(h, m) utc(2026, 11, 23, h, m)
#define AT_MS (MON(8, 0) * 60000)

struct fx {
    char dir[64], path[96];
    struct store *s;
    sqlite3 *peek;
    int64_t tenant, user, cut, asm_;
    struct board *b;
};

static int64_t peek_int(struct fx *f, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    assert_int_equal(sqlite3_prepare_v2(f->peek, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t add_wc(struct fx *f, const char *code, int capacity, int minutes, int order)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO work_centres(tenant_id, code, name, capacity, display_order, "
             "default_operation_minutes, created_at, updated_at) VALUES (%lld, '%s', '%s', %d, "
             "%d, %d, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             (long long)f->tenant, code, code, capacity, order, minutes);
    assert_int_equal(store_exec(f->s, sql), 0);
    snprintf(sql, sizeof(sql), "SELECT id FROM work_centres WHERE code = '%s'", code);
    return peek_int(f, sql);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pb_test_sched.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/pb.db", f->dir);
    assert_int_equal(store_open(&f->s, f->path, NULL), 0);
    assert_int_equal(sqlite3_open(f->path, &f->peek), SQLITE_OK);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_user_create(f->s, f->tenant, "sam", "sam@acme.test", "$argon2id$x",
                                       ROLE_ADMIN, "Sam", "Smith", &f->user), 0);
    f->cut = add_wc(f, "CUT", 1, 60, 0);
    f->asm_ = add_wc(f, "ASM", 1, 30, 1);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    sqlite3_close(f->peek);
    store_free(f->s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Create order `num` in work centre wc with the given steps (may be 0). */
static struct order *create(struct fx *f, const char *num, int64_t wc, const struct step *steps,
                            size_t n, const char *due)
{
    struct order_input in;
    struct order *o;
    order_input_init(&in);
    in.order_number = num;
    in.stock_code = "S";
    in.description = "D";
    in.quantity_to_make = 10;
    in.work_centre_id = wc;
    in.due_date = due;
    assert_int_equal(store_order_create(f->s, f->b, &in, steps, n, f->user, false, &o, NULL), 0);
    return o;
}

static void test_board_loads_routes_and_projects_them(void **state)
{
    struct fx *f = *state;
    struct step s1[] = {
        { .step_number = 1, .operation_name = "cut", .work_centre_id = f->cut,
          .planned_duration_minutes = 120, .actual_duration_minutes = -1 },
        { .step_number = 2, .operation_name = "asm", .work_centre_id = f->asm_,
          .planned_duration_minutes = -1, .actual_duration_minutes = -1 },
    };
    create(f, "A", f->cut, s1, 2, "2026-11-23");
    create(f, "B", f->cut, NULL, 0, NULL);
    /* a fresh load reads the routes from SQLite */
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    struct order *a = board_order_by_number(f->b, "A"), *b = board_order_by_number(f->b, "B");
    assert_non_null(a->route);
    assert_int_equal(a->route->n, 2);
    assert_int_equal(a->route->steps[0].planned_minutes, 120);
    assert_int_equal(a->route->steps[1].planned_minutes, -1);
    assert_null(b->route);

    struct schedule_changes ch = { 0 };
    uint64_t v = f->b->version;
    assert_int_equal(store_schedule_refresh(f->b, AT_MS, PB_SCHEDULE_REFRESH_SECONDS, &ch), 0);
    assert_int_equal(f->b->schedule_at, MON(8, 0));
    assert_true(f->b->version > v);
    assert_int_equal(ch.n, 2);
    /* A: 120 at CUT (08:00-10:00), then ASM's default 30: finish 10:30, due today: on time */
    assert_int_equal(a->projected_start, MON(8, 0));
    assert_int_equal(a->projected_finish, MON(10, 30));
    assert_false(a->late);
    /* B: CUT's default 60 after A's 120 at CUT */
    assert_int_equal(b->projected_start, MON(10, 0));
    assert_int_equal(b->projected_finish, MON(11, 0));

    /* unchanged and within refresh_seconds: nothing to do */
    ch.n = 0;
    v = f->b->version;
    assert_int_equal(store_schedule_refresh(f->b, AT_MS + 60000, 300, &ch), 0);
    assert_int_equal(ch.n, 0);
    assert_int_equal(f->b->version, v);

    /* a move, then its two columns: the same result as a full recompute */
    struct move_request mv = { .order_id = b->id, .to_work_centre_id = f->cut, .position = 0,
                               .user_id = f->user };
    struct move_result res;
    assert_int_equal(store_order_move(f->s, f->b, &mv, &res), 0);
    int64_t cols[] = { f->cut, f->cut };
    ch.n = 0;
    assert_int_equal(store_schedule_columns(f->b, cols, 2, &ch), 0);
    assert_int_equal(ch.n, 2);
    assert_int_equal(f->b->schedule_version, f->b->version);   /* current again */
    assert_int_equal(b->projected_finish, MON(9, 0));
    assert_int_equal(a->projected_start, MON(9, 0));
    assert_int_equal(a->projected_finish, MON(11, 30));
    /* to the backlog: null */
    mv = (struct move_request){ .order_id = a->id, .to_work_centre_id = 0, .position = -1,
                                .user_id = f->user };
    assert_int_equal(store_order_move(f->s, f->b, &mv, &res), 0);
    int64_t both[] = { f->cut, 0 };
    ch.n = 0;
    assert_int_equal(store_schedule_columns(f->b, both, 2, &ch), 0);
    assert_int_equal(ch.n, 1);
    assert_int_equal(a->projected_start, 0);
    assert_int_equal(a->projected_finish, 0);
    schedule_changes_cleanup(&ch);
}

/* preview-move (SPEC §9): the orders of both columns whose finish or late would change, with
 * their values now and after; the board is left exactly as it was. */
static void test_preview_lists_what_a_move_would_change_and_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct order *a = create(f, "A", f->cut, NULL, 0, NULL);           /* 08-09 at CUT */
    struct order *b = create(f, "B", f->cut, NULL, 0, "2026-11-22");   /* 09-10, late */
    struct order *c = create(f, "C", f->cut, NULL, 0, NULL);           /* 10-11 */
    struct order *d = create(f, "D", f->asm_, NULL, 0, NULL);          /* 08:00-08:30 at ASM */
    assert_int_equal(store_schedule_refresh(f->b, AT_MS, 300, NULL), 0);
    assert_int_equal(b->projected_finish, MON(10, 0));
    assert_true(b->late);
    uint64_t v = f->b->version;
    int64_t version_b = b->version, pos_b = order_position(b);

    /* B to the top of ASM: A and B of CUT unchanged? A stays, C moves up; ASM: B first, D after */
    struct store_preview p = { 0 };
    assert_int_equal(store_schedule_preview(f->b, b, f->asm_, 0, &p), 0);
    assert_int_equal(p.n, 3);
    assert_ptr_equal(p.entries[0].order, b);                 /* the target column first */
    assert_int_equal(p.entries[0].was.finish, MON(10, 0));
    assert_int_equal(p.entries[0].now.start, MON(8, 0));
    assert_int_equal(p.entries[0].now.finish, MON(8, 30));
    assert_true(p.entries[0].was.late && p.entries[0].now.late); /* due yesterday: still late */
    assert_ptr_equal(p.entries[1].order, d);
    assert_int_equal(p.entries[1].now.finish, MON(9, 0));
    assert_ptr_equal(p.entries[2].order, c);
    assert_int_equal(p.entries[2].was.finish, MON(11, 0));
    assert_int_equal(p.entries[2].now.finish, MON(10, 0));
    store_preview_cleanup(&p);
    /* nothing changed */
    assert_int_equal(f->b->version, v);
    assert_int_equal(b->version, version_b);
    assert_int_equal(order_position(b), pos_b);
    assert_int_equal(b->projected_finish, MON(10, 0));
    assert_int_equal(a->projected_finish, MON(9, 0));
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = 'order_moved'"), 0);

    /* within its own column, past the end: the end; to the backlog: null and no longer late */
    assert_int_equal(store_schedule_preview(f->b, a, f->cut, 99, &p), 0);
    assert_int_equal(p.n, 3);                                /* B, C up by an hour, A last */
    assert_ptr_equal(p.entries[2].order, a);
    assert_int_equal(p.entries[2].now.finish, MON(11, 0));
    store_preview_cleanup(&p);
    assert_int_equal(store_schedule_preview(f->b, b, 0, -1, &p), 0);
    assert_int_equal(p.n, 2);
    assert_ptr_equal(p.entries[0].order, b);
    assert_int_equal(p.entries[0].now.finish, SCHEDULE_NULL);
    assert_false(p.entries[0].now.late);
    assert_ptr_equal(p.entries[1].order, c);
    store_preview_cleanup(&p);

    /* the preview promised what the move then does: the changed set is the same orders */
    struct move_request mv = { .order_id = b->id, .to_work_centre_id = f->asm_, .position = 0,
                               .user_id = f->user };
    struct move_result res;
    struct schedule_changes ch = { 0 };
    assert_int_equal(store_order_move(f->s, f->b, &mv, &res), 0);
    int64_t cols[] = { f->cut, f->asm_ };
    assert_int_equal(store_schedule_columns(f->b, cols, 2, &ch), 0);
    assert_int_equal(ch.n, 3);                               /* C, then B and D: not A */
    assert_int_equal(ch.ids[0], c->id);
    assert_int_equal(ch.ids[1], b->id);
    assert_int_equal(ch.ids[2], d->id);
    assert_int_equal(b->projected_finish, MON(8, 30));
    /* a full recompute after it finds nothing more */
    ch.n = 0;
    assert_int_equal(store_schedule_all(f->b, &ch), 0);
    assert_int_equal(ch.n, 0);
    assert_int_equal(f->b->schedule_version, f->b->version);
    schedule_changes_cleanup(&ch);
}

static void test_scanner_step_progress_reaches_the_route(void **state)
{
    struct fx *f = *state;
    struct step s1[] = { { .step_number = 1, .operation_name = "cut", .work_centre_id = f->cut,
                           .planned_duration_minutes = 100, .actual_duration_minutes = -1 } };
    struct order *o = create(f, "C", f->cut, s1, 1, NULL);
    struct scanner_event_input ev = { .event_id = "e1", .order_number = "C",
                                      .work_centre_code = "CUT", .event_type = SCAN_JOB_START };
    struct scanner_result r;
    assert_int_equal(store_scanner_event(f->s, f->b, &ev, &r, NULL), 0);
    ev = (struct scanner_event_input){ .event_id = "e2", .order_number = "C",
                                       .work_centre_code = "CUT",
                                       .event_type = SCAN_PROGRESS_UPDATE, .has_quantity = true,
                                       .quantity = 4 };
    assert_int_equal(store_scanner_event(f->s, f->b, &ev, &r, NULL), 0);
    assert_int_equal(o->route->steps[0].status, STEP_IN_PROGRESS);
    assert_int_equal(o->route->steps[0].quantity_completed, 4);
    assert_int_equal(peek_int(f, "SELECT quantity_completed FROM order_steps"), 4);
    /* 100 planned for 10 pieces, 4 done: 60 minutes left */
    assert_int_equal(store_schedule_refresh(f->b, AT_MS, 300, NULL), 0);
    assert_int_equal(o->projected_finish, MON(9, 0));
}

static void test_calendar_is_written_through_and_reloaded(void **state)
{
    struct fx *f = *state;
    const struct cal_shift shifts[] = { { 1, 6 * 60, 14 * 60 }, { 1, 22 * 60, 6 * 60 } };
    const char hol[][PB_DATE_LEN] = { "2026-12-25", "2026-12-25", "2027-01-01" };
    size_t n;
    assert_int_equal(calendar_shifts(f->b->calendar, &n)[0].start, 8 * 60);   /* default */
    assert_int_equal(n, 5);
    const struct cal_shift overlap[] = { { 1, 6 * 60, 14 * 60 }, { 1, 13 * 60, 15 * 60 } };
    assert_int_equal(store_calendar_set(f->s, f->b, overlap, 2, NULL, 0, f->user),
                     PB_EVALIDATION);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM tenant_calendars"), 0);
    uint64_t v = f->b->version;
    assert_int_equal(store_calendar_set(f->s, f->b, shifts, 2, hol, 3, f->user), 0);
    assert_true(f->b->version > v);
    assert_true(f->b->schedule_version != f->b->version);      /* stale */
    assert_int_equal(peek_int(f, "SELECT count(*) FROM calendar_shifts"), 2);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM calendar_holidays"), 2);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM audit_log WHERE event_type = "
                                 "'calendar_updated'"), 1);
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    const struct cal_shift *got = calendar_shifts(f->b->calendar, &n);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].start, 6 * 60);
    assert_int_equal(got[1].end, 6 * 60);
    assert_int_equal(calendar_n_holidays(f->b->calendar), 2);
    /* the projection uses it: Monday 06:00-14:00 then 22:00 */
    create(f, "N", f->cut, NULL, 0, NULL);
    assert_int_equal(store_schedule_refresh(f->b, utc(2026, 11, 23, 13, 30) * 60000, 300, NULL),
                     0);
    struct order *o = board_order_by_number(f->b, "N");
    assert_int_equal(o->projected_start, MON(13, 30));
    assert_int_equal(o->projected_finish, MON(22, 30));
}

static void test_timezone_change_moves_the_calendar(void **state)
{
    struct fx *f = *state;
    struct tenant_patch p = { .timezone = "Europe/Berlin" };
    struct tenant t;
    assert_string_equal(calendar_timezone(f->b->calendar), "UTC");
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->user, &t), 0);
    tenant_cleanup(&t);
    assert_string_equal(calendar_timezone(f->b->calendar), "Europe/Berlin");
    create(f, "Z", f->cut, NULL, 0, NULL);
    assert_int_equal(store_schedule_refresh(f->b, AT_MS, 300, NULL), 0);
    /* 08:00 Berlin = 07:00Z, already past at 08:00Z: starts at scheduleAt */
    assert_int_equal(board_order_by_number(f->b, "Z")->projected_start, MON(8, 0));
    assert_int_equal(store_schedule_refresh(f->b, utc(2026, 11, 23, 0, 0) * 60000, 0, NULL), 0);
    assert_int_equal(board_order_by_number(f->b, "Z")->projected_start, MON(7, 0));
}

/* Issue 9 item 1: the calendar PUT as the server runs it — prepare on the board, write on a
 * sibling connection inside a transaction opened here (twice: the first attempt rolled back),
 * apply. The board keeps its calendar until apply; then board and SQLite agree (a reload
 * gives the same calendar) with one audit row. A write that fails changes neither. */
static void test_calendar_job_writes_on_a_sibling_reruns_and_applies(void **state)
{
    struct fx *f = *state;
    const struct cal_shift shifts[] = { { 2, 7 * 60, 15 * 60 }, { 1, 6 * 60, 14 * 60 } };
    const char hol[][PB_DATE_LEN] = { "2026-12-25", "2027-01-01", "2026-12-25" };
    struct calendar_job *j;
    struct store *ws = NULL;
    size_t n;
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    const struct cal_shift overlap[] = { { 1, 6 * 60, 14 * 60 }, { 1, 13 * 60, 15 * 60 } };
    assert_int_equal(store_calendar_prepare(f->b, overlap, 2, NULL, 0, f->user, &j),
                     PB_EVALIDATION);
    assert_null(j);

    /* a failing write (the audit row refused): nothing changes */
    assert_int_equal(store_calendar_prepare(f->b, shifts, 2, hol, 3, f->user, &j), 0);
    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_calendar_write(ws, j), PB_EINTERNAL);
    assert_int_equal(store_exec(ws, "ROLLBACK"), 0);
    store_calendar_job_free(j);
    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_audit"), 0);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM tenant_calendars"), 0);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM calendar_shifts"), 0);
    calendar_shifts(f->b->calendar, &n);
    assert_int_equal(n, 5);                                     /* still the default */

    /* prepare, write, roll back, write again, commit, apply */
    assert_int_equal(store_calendar_prepare(f->b, shifts, 2, hol, 3, f->user, &j), 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
        assert_int_equal(store_calendar_write(ws, j), 0);
        assert_int_equal(store_exec(ws, attempt == 0 ? "ROLLBACK" : "COMMIT"), 0);
    }
    calendar_shifts(f->b->calendar, &n);
    assert_int_equal(n, 5);                                     /* not before apply */
    uint64_t v = f->b->version;
    store_calendar_apply(f->b, j);
    store_calendar_job_free(j);
    assert_true(f->b->version > v);
    assert_true(f->b->schedule_version != f->b->version);      /* stale */
    const struct cal_shift *got = calendar_shifts(f->b->calendar, &n);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].weekday, 1);
    assert_int_equal(calendar_n_holidays(f->b->calendar), 2);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM calendar_shifts"), 2);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM calendar_holidays"), 2);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM audit_log WHERE event_type = "
                                 "'calendar_updated'"), 1);
    store_free(ws);
    store_board_drop(f->s, f->tenant);                          /* SQLite says the same */
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    got = calendar_shifts(f->b->calendar, &n);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].start, 6 * 60);
    assert_int_equal(got[1].weekday, 2);
    assert_int_equal(got[1].end, 15 * 60);
    assert_int_equal(calendar_n_holidays(f->b->calendar), 2);
}

/* PUT /api/tenant as the server runs it: prepare (builds the board's calendar in the new zone),
 * write on a sibling (twice), apply: the zone reaches the board only at apply, with its
 * shifts kept; the answer is the tenant as committed; one audit row. A failing write leaves
 * the row and the board as they were. */
static void test_tenant_job_moves_the_calendar_at_apply(void **state)
{
    struct fx *f = *state;
    const struct cal_shift shifts[] = { { 3, 9 * 60, 17 * 60 } };
    struct tenant_patch p = { .timezone = "Europe/Berlin", .name = "Acme GmbH" };
    struct tenant_job *j;
    struct store *ws = NULL;
    struct tenant t;
    size_t n;
    char buf[64];
    assert_int_equal(store_calendar_set(f->s, f->b, shifts, 1, NULL, 0, f->user), 0);
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    struct tenant_patch bad = { .timezone = "Not/AZone" };
    assert_int_equal(store_tenant_prepare(f->s, f->tenant, &bad, f->user, &j), PB_EVALIDATION);
    assert_null(j);

    /* a failing write */
    assert_int_equal(store_tenant_prepare(f->s, f->tenant, &p, f->user, &j), 0);
    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_tenant_write(ws, j), PB_EINTERNAL);
    assert_int_equal(store_exec(ws, "ROLLBACK"), 0);
    store_tenant_job_free(j);
    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_audit"), 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->peek, "SELECT timezone || '/' || name FROM tenants",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    assert_string_equal(buf, "UTC/Acme Ltd");
    assert_string_equal(calendar_timezone(f->b->calendar), "UTC");

    /* prepare, write twice, apply */
    assert_int_equal(store_tenant_prepare(f->s, f->tenant, &p, f->user, &j), 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
        assert_int_equal(store_tenant_write(ws, j), 0);
        assert_int_equal(store_exec(ws, attempt == 0 ? "ROLLBACK" : "COMMIT"), 0);
    }
    assert_string_equal(calendar_timezone(f->b->calendar), "UTC");    /* not before apply */
    uint64_t v = f->b->version;
    store_tenant_apply(f->s, j, &t);
    store_tenant_job_free(j);
    assert_string_equal(t.timezone, "Europe/Berlin");
    assert_string_equal(t.name, "Acme GmbH");
    tenant_cleanup(&t);
    assert_true(f->b->version > v);
    assert_string_equal(calendar_timezone(f->b->calendar), "Europe/Berlin");
    const struct cal_shift *got = calendar_shifts(f->b->calendar, &n);
    assert_int_equal(n, 1);
    assert_int_equal(got[0].weekday, 3);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM audit_log WHERE event_type = "
                                 "'tenant_updated'"), 1);

    /* the same patch again: nothing written, the tenant still answered */
    assert_int_equal(store_tenant_prepare(f->s, f->tenant, &p, f->user, &j), 0);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_tenant_write(ws, j), 0);
    assert_int_equal(store_exec(ws, "COMMIT"), 0);
    store_tenant_apply(f->s, j, &t);
    store_tenant_job_free(j);
    assert_string_equal(t.timezone, "Europe/Berlin");
    tenant_cleanup(&t);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM audit_log WHERE event_type = "
                                 "'tenant_updated'"), 1);
    store_free(ws);
}

static void test_old_database_gets_the_work_centre_columns(void **state)
{
    (void)state;
    char dir[64], path[96], cmd[128];
    sqlite3 *db;
    struct store *s;
    snprintf(dir, sizeof(dir), "/tmp/pb_test_sched_old.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/old.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "CREATE TABLE tenants (id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT "
        "NULL, timezone TEXT NOT NULL DEFAULT 'UTC', daily_target INTEGER NOT NULL DEFAULT 0, "
        "created_at TEXT NOT NULL);"
        "CREATE TABLE work_centres (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, code "
        "TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', capacity "
        "INTEGER NOT NULL DEFAULT 1, display_order INTEGER NOT NULL DEFAULT 0, is_active INTEGER "
        "NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT);"
        "INSERT INTO tenants VALUES (1, 'old', 'Old', 'UTC', 0, 'x');"
        "INSERT INTO work_centres(tenant_id, code, name, created_at, updated_at) "
        "VALUES (1, 'CUT', 'Cutting', 'x', 'x');", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(&s, path, NULL), 0);
    struct board *b;
    assert_int_equal(store_board(s, 1, &b), 0);
    assert_int_equal(b->work_centres[0].default_operation_minutes, 60);
    assert_int_equal(b->work_centres[0].wip_limit, 0);
    assert_false(b->work_centres[0].wip_hard);
    store_free(s);
    assert_int_equal(store_open(&s, path, NULL), 0);           /* a second open: nothing to do */
    store_free(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_calendar_job_writes_on_a_sibling_reruns_and_applies,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenant_job_moves_the_calendar_at_apply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_board_loads_routes_and_projects_them, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preview_lists_what_a_move_would_change_and_changes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_scanner_step_progress_reaches_the_route, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_calendar_is_written_through_and_reloaded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timezone_change_moves_the_calendar, setup, teardown),
        cmocka_unit_test(test_old_database_gets_the_work_centre_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
