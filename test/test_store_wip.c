/*
 * test_store_wip — SPEC §9 WIP limits at the store: what a limit counts, soft, hard, the
 * admin's override (audited), no limit, a batch of moves that fills a column up to it, creates.
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
#include <unistd.h>

#include "core/errors.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char path[96];
    struct store *s;
    sqlite3 *peek;              /* independent connection: what was committed */
    int64_t tenant, user;
    int64_t wc;                 /* LIM: the work centre whose limit the tests set */
    struct board *b;
};

#include "test/db_peek.h"
#include "test/test_db.h"
#define peek_int(f, ...) db_peek_int((f)->peek, __VA_ARGS__)

/* Set LIM's limit (0 = none) and policy with raw SQL, then reload the board. */
static void set_limit(struct fx *f, int limit, const char *policy)
{
    char sql[256];
    if (limit > 0)
        snprintf(sql, sizeof(sql), "UPDATE work_centres SET wip_limit = %d, wip_policy = '%s' "
                 "WHERE id = %lld", limit, policy, (long long)f->wc);
    else
        snprintf(sql, sizeof(sql), "UPDATE work_centres SET wip_limit = NULL WHERE id = %lld",
                 (long long)f->wc);
    assert_int_equal(store_exec(f->s, sql), 0);
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char sql[512];
    assert_non_null(f);
    test_db_open(f->dir, f->path, &f->s, &f->peek, "wip", NULL);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_user_create(f->s, f->tenant, "sam", "sam@acme.test", "$argon2id$x",
                                       ROLE_ADMIN, "Sam", "Smith", &f->user), 0);
    snprintf(sql, sizeof(sql),
             "INSERT INTO work_centres(tenant_id, code, name, capacity, display_order, "
             "is_active, created_at, updated_at) VALUES (%lld, 'LIM', 'Limited', 1, 0, 1, "
             "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')", (long long)f->tenant);
    assert_int_equal(store_exec(f->s, sql), 0);
    f->wc = peek_int(f, "SELECT id FROM work_centres WHERE code = 'LIM'");
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_db_close(f->dir, f->s, f->peek);
    free(f);
    return 0;
}

/* A backlog order (status st); returns its id. */
static int64_t mk_order(struct fx *f, const char *number, enum order_status st)
{
    struct order_input in;
    struct order *o = NULL;
    order_input_init(&in);
    in.order_number = number;
    in.stock_code = "STK";
    in.description = "part";
    in.quantity_to_make = 10;
    in.status = (int)st;
    assert_int_equal(store_order_create(f->s, f->b, &in, NULL, 0, f->user, false, &o, NULL), 0);
    return o->id;
}

static int move(struct fx *f, int64_t id, bool override, struct move_result *mr)
{
    struct move_request m = { .order_id = id, .to_work_centre_id = f->wc, .position = -1,
                              .user_id = f->user, .wip_override = override };
    return store_order_move(f->s, f->b, &m, mr);
}

static int64_t moved_audits(struct fx *f, const char *like)
{
    return peek_int(f, "SELECT count(*) FROM audit_log WHERE event_type = 'order_moved' "
                    "AND event_data LIKE '%%%s%%'", like);
}

static void test_complete_and_cancelled_orders_do_not_count(void **state)
{
    struct fx *f = *state;
    struct move_result mr;
    set_limit(f, 1, "hard");
    int64_t a = mk_order(f, "A", ORDER_ON_HOLD), done = mk_order(f, "D", ORDER_COMPLETE),
            gone = mk_order(f, "C", ORDER_CANCELLED);
    assert_int_equal(move(f, a, false, &mr), 0);
    assert_false(mr.wip.exceeded);
    assert_int_equal(move(f, done, false, &mr), 0);
    assert_int_equal(move(f, gone, false, &mr), 0);
    assert_int_equal(store_wip_count(board_column(f->b, f->wc)), 1);   /* on hold counts */
}

static void test_hard_limit_refuses_and_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct move_result mr;
    set_limit(f, 1, "hard");
    int64_t a = mk_order(f, "A", ORDER_NOT_STARTED), b = mk_order(f, "B", ORDER_IN_PROGRESS);
    assert_int_equal(move(f, a, false, &mr), 0);
    int64_t audits = peek_int(f, "SELECT count(*) FROM audit_log");
    int64_t version = board_order(f->b, b)->version;
    assert_int_equal(move(f, b, false, &mr), PB_EWIP_LIMIT);
    assert_int_equal(board_order(f->b, b)->work_centre_id, 0);
    assert_int_equal(board_order(f->b, b)->version, version);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM audit_log"), audits);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM orders WHERE work_centre_id = %lld",
                              (long long)f->wc), 1);
    struct wip_check w;
    assert_int_equal(store_wip_check(f->b, f->wc, 1, false, &w), PB_EWIP_LIMIT);
    assert_int_equal(w.limit, 1);
    assert_int_equal(w.count, 2);
    assert_true(w.hard && w.exceeded && !w.overridden);
    /* adding nothing (a move inside the column) is never refused */
    assert_int_equal(store_wip_check(f->b, f->wc, 0, false, &w), 0);
}

static void test_override_passes_a_hard_limit_and_is_audited(void **state)
{
    struct fx *f = *state;
    struct move_result mr;
    set_limit(f, 1, "hard");
    int64_t a = mk_order(f, "A", ORDER_NOT_STARTED), b = mk_order(f, "B", ORDER_NOT_STARTED);
    assert_int_equal(move(f, a, false, &mr), 0);
    assert_int_equal(moved_audits(f, "wipOverride"), 0);
    assert_int_equal(move(f, b, true, &mr), 0);
    assert_true(mr.wip.exceeded && mr.wip.overridden);
    assert_int_equal(mr.wip.count, 2);
    assert_int_equal(moved_audits(f, "\"wipOverride\":true"), 1);
    assert_int_equal(moved_audits(f, "\"wipLimit\":1,\"count\":2"), 1);
}

static void test_soft_limit_warns_and_goes_through(void **state)
{
    struct fx *f = *state;
    struct move_result mr;
    set_limit(f, 1, "soft");
    int64_t a = mk_order(f, "A", ORDER_NOT_STARTED), b = mk_order(f, "B", ORDER_NOT_STARTED);
    assert_int_equal(move(f, a, false, &mr), 0);
    assert_false(mr.wip.exceeded);
    assert_int_equal(move(f, b, false, &mr), 0);
    assert_true(mr.wip.exceeded);
    assert_false(mr.wip.overridden);
    assert_int_equal(board_order(f->b, b)->work_centre_id, f->wc);
    assert_int_equal(moved_audits(f, "\"wipExceeded\":true"), 1);
    assert_int_equal(moved_audits(f, "wipOverride"), 0);
}

static void test_no_limit_never_checks(void **state)
{
    struct fx *f = *state;
    struct move_result mr;
    set_limit(f, 0, "hard");
    for (int i = 0; i < 5; i++) {
        char num[16];
        snprintf(num, sizeof(num), "N%d", i);
        assert_int_equal(move(f, mk_order(f, num, ORDER_NOT_STARTED), false, &mr), 0);
        assert_false(mr.wip.exceeded);
        assert_int_equal(mr.wip.limit, 0);
    }
}

static void test_a_batch_sees_its_earlier_moves(void **state)
{
    struct fx *f = *state;
    struct move_job *j[3] = { 0 };
    set_limit(f, 2, "hard");
    int64_t ids[3] = { mk_order(f, "A", ORDER_NOT_STARTED), mk_order(f, "B", ORDER_NOT_STARTED),
                       mk_order(f, "C", ORDER_NOT_STARTED) };
    for (int i = 0; i < 2; i++) {
        struct move_request m = { .order_id = ids[i], .to_work_centre_id = f->wc,
                                  .position = -1, .user_id = f->user };
        assert_int_equal(store_move_prepare(f->b, &m, &j[i]), 0);
        assert_int_equal(store_move_try(f->b, j[i]), 0);
    }
    struct move_request m = { .order_id = ids[2], .to_work_centre_id = f->wc, .position = -1,
                              .user_id = f->user };
    assert_int_equal(store_move_prepare(f->b, &m, &j[2]), PB_EWIP_LIMIT);
    assert_null(j[2]);
    store_move_untry(f->b, j[1]);
    store_move_untry(f->b, j[0]);
    /* undone: the third alone would fit */
    assert_int_equal(store_move_prepare(f->b, &m, &j[2]), 0);
    for (int i = 0; i < 3; i++)
        store_move_job_free(j[i]);
    assert_true(board_check(f->b));
}

/* An order created straight into LIM (status st, override as given); returns the store's rc. */
static int create_in_lim(struct fx *f, const char *number, enum order_status st, bool override,
                         struct wip_check *w)
{
    struct order_input in;
    struct order *o = NULL;
    order_input_init(&in);
    in.order_number = number;
    in.stock_code = "STK";
    in.description = "part";
    in.quantity_to_make = 10;
    in.status = (int)st;
    in.work_centre_id = f->wc;
    memset(w, 0, sizeof(*w));
    return store_order_create(f->s, f->b, &in, NULL, 0, f->user, override, &o, w);
}

static int64_t created_audits(struct fx *f, const char *like)
{
    return peek_int(f, "SELECT count(*) FROM audit_log WHERE event_type = 'order_created' "
                    "AND event_data LIKE '%%%s%%'", like);
}

static void test_create_into_a_hard_column_is_refused_unless_overridden(void **state)
{
    struct fx *f = *state;
    struct wip_check w;
    set_limit(f, 1, "hard");
    assert_int_equal(create_in_lim(f, "A", ORDER_NOT_STARTED, false, &w), 0);
    assert_false(w.exceeded);
    assert_int_equal(w.count, 1);
    int64_t audits = peek_int(f, "SELECT count(*) FROM audit_log");
    assert_int_equal(create_in_lim(f, "B", ORDER_ON_HOLD, false, &w), PB_EWIP_LIMIT);
    assert_null(board_order_by_number(f->b, "B"));
    assert_int_equal(peek_int(f, "SELECT count(*) FROM orders"), 1);
    assert_int_equal(peek_int(f, "SELECT count(*) FROM audit_log"), audits);
    /* complete or cancelled orders do not count: they are created anyway */
    assert_int_equal(create_in_lim(f, "D", ORDER_COMPLETE, false, &w), 0);
    assert_false(w.exceeded);
    assert_int_equal(create_in_lim(f, "C", ORDER_CANCELLED, false, &w), 0);
    assert_int_equal(created_audits(f, "wipExceeded"), 0);
    /* an admin's override passes, audited as a move's */
    assert_int_equal(create_in_lim(f, "B", ORDER_NOT_STARTED, true, &w), 0);
    assert_true(w.exceeded && w.overridden && w.hard);
    assert_int_equal(w.count, 2);
    assert_int_equal(created_audits(f, "\"wipExceeded\":true,\"wipLimit\":1,\"count\":2,"
                                       "\"wipOverride\":true"), 1);
    assert_int_equal(store_wip_count(board_column(f->b, f->wc)), 2);
    assert_true(board_check(f->b));
}

static void test_create_into_a_soft_column_warns_and_goes_through(void **state)
{
    struct fx *f = *state;
    struct wip_check w;
    set_limit(f, 1, "soft");
    assert_int_equal(create_in_lim(f, "A", ORDER_NOT_STARTED, false, &w), 0);
    assert_false(w.exceeded);
    assert_int_equal(create_in_lim(f, "B", ORDER_IN_PROGRESS, false, &w), 0);
    assert_true(w.exceeded);
    assert_false(w.overridden);
    assert_int_equal(w.count, 2);
    assert_non_null(board_order_by_number(f->b, "B"));
    assert_int_equal(created_audits(f, "\"wipExceeded\":true,\"wipLimit\":1,\"count\":2}"), 1);
    assert_int_equal(created_audits(f, "wipOverride"), 0);
}

static void test_create_in_phases_reports_the_check(void **state)
{
    struct fx *f = *state;
    struct order_input in;
    struct create_job *j = NULL;
    struct wip_check w;
    set_limit(f, 1, "hard");
    assert_int_equal(create_in_lim(f, "A", ORDER_NOT_STARTED, false, &w), 0);
    order_input_init(&in);
    in.order_number = "B";
    in.stock_code = "STK";
    in.description = "part";
    in.quantity_to_make = 1;
    in.work_centre_id = f->wc;
    assert_int_equal(store_create_prepare(f->s, f->b, &in, NULL, 0, f->user, false, &j),
                     PB_EWIP_LIMIT);
    assert_null(j);
    assert_int_equal(store_create_prepare(f->s, f->b, &in, NULL, 0, f->user, true, &j), 0);
    store_create_wip(j, &w);
    assert_true(w.exceeded && w.overridden);
    assert_int_equal(w.limit, 1);
    assert_int_equal(w.count, 2);
    store_create_job_free(j);
    /* the backlog has no limit */
    in.work_centre_id = 0;
    assert_int_equal(store_create_prepare(f->s, f->b, &in, NULL, 0, f->user, false, &j), 0);
    store_create_wip(j, &w);
    assert_false(w.exceeded);
    assert_int_equal(w.limit, 0);
    store_create_job_free(j);
}

static void test_import_rows_count_earlier_rows_and_leavers(void **state)
{
    struct fx *f = *state;
    struct wip_check w[4];
    struct order_input rows[4];
    set_limit(f, 1, "hard");
    int64_t a = mk_order(f, "A", ORDER_NOT_STARTED);
    struct move_result mr;
    assert_int_equal(move(f, a, false, &mr), 0);                /* LIM holds A: full */
    for (int i = 0; i < 4; i++) {
        order_input_init(&rows[i]);
        rows[i].stock_code = "S";
        rows[i].description = "d";
        rows[i].quantity_to_make = 1;
        rows[i].work_centre_id = f->wc;
    }
    rows[0].order_number = "A";             /* stays (keep) or leaves for the backlog (file) */
    rows[0].work_centre_id = 0;
    rows[1].order_number = "N1";
    rows[2].order_number = "N2";
    rows[2].status = ORDER_COMPLETE;        /* does not count */
    rows[3].order_number = "N3";
    assert_int_equal(store_wip_import(f->b, rows, 4, false, false, w), 0);
    assert_false(w[0].exceeded);
    assert_true(w[1].exceeded && w[1].hard && !w[1].overridden);
    assert_int_equal(w[1].count, 2);
    assert_false(w[2].exceeded);
    assert_true(w[3].exceeded);
    assert_int_equal(w[3].count, 2);        /* the refused N1 did not count */
    assert_int_equal(store_wip_import(f->b, rows, 4, true, false, w), 0);
    assert_false(w[1].exceeded);            /* A left: room for N1 */
    assert_int_equal(w[1].count, 1);
    assert_true(w[3].exceeded);
    assert_int_equal(w[3].count, 2);
    assert_int_equal(store_wip_import(f->b, rows, 4, false, true, w), 0);
    assert_true(w[1].overridden && w[3].overridden);
    assert_int_equal(w[3].count, 3);        /* overridden rows count */
    assert_true(store_wip_limited(f->b));
    set_limit(f, 0, "hard");
    assert_false(store_wip_limited(f->b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_complete_and_cancelled_orders_do_not_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hard_limit_refuses_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_passes_a_hard_limit_and_is_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_limit_warns_and_goes_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_limit_never_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_batch_sees_its_earlier_moves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_into_a_hard_column_is_refused_unless_overridden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_into_a_soft_column_warns_and_goes_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_in_phases_reports_the_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_rows_count_earlier_rows_and_leavers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
