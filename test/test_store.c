/*
 * test_store — the store module against a real SQLite file in a temp directory.
 * A second, independent sqlite3 connection ("peek") reads what was really committed, so the
 * tests compare the cache with the database rows, not with the store's own view of them.
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
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"
#include "store/store.h"
#include "store/checkpoint.h"
#include "store/store_int.h"     /* the hash maps are tested directly */

/* ---------------------------------------------------------------- fixture */

struct fx {
    char dir[64];
    char path[96];
    struct store *s;
    sqlite3 *peek;              /* independent connection to the same file */
    int64_t tenant;
    int64_t user;
    int64_t wc[3];              /* CUT, ASM, QC (active) */
    int64_t wc_inactive;        /* OLD (inactive) */
    struct board *b;
};

#include "test/db_peek.h"
#include "test/test_db.h"
#define peek_int(f, ...) db_peek_int((f)->peek, __VA_ARGS__)


static int64_t add_wc(struct fx *f, const char *code, const char *name, int order, int active)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO work_centres(tenant_id, code, name, capacity, display_order, "
             "is_active, created_at, updated_at) VALUES (%lld, '%s', '%s', 2, %d, %d, "
             "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             (long long)f->tenant, code, name, order, active);
    assert_int_equal(store_exec(f->s, sql), 0);
    return peek_int(f, "SELECT id FROM work_centres WHERE tenant_id = %lld AND code = '%s'",
                    (long long)f->tenant, code);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    test_db_open(f->dir, f->path, &f->s, &f->peek, "store", NULL);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_user_create(f->s, f->tenant, "sam", "sam@acme.test", "$argon2id$x",
                                       ROLE_SCHEDULER, "Sam", "Smith", &f->user), 0);
    /* display_order deliberately not in insertion order: QC(0) CUT(1) ASM(2) */
    f->wc[0] = add_wc(f, "CUT", "Cutting", 1, 1);
    f->wc[1] = add_wc(f, "ASM", "Assembly", 2, 1);
    f->wc[2] = add_wc(f, "QC", "Quality Control", 0, 1);
    f->wc_inactive = add_wc(f, "OLD", "Old line", 9, 0);
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

static struct order *mk_order(struct fx *f, const char *number, int64_t wc)
{
    struct order_input in;
    struct order *o = NULL;
    order_input_init(&in);
    in.order_number = number;
    in.stock_code = "STK-1";
    in.description = "A part";
    in.quantity_to_make = 10;
    in.work_centre_id = wc;
    assert_int_equal(store_order_create(f->s, f->b, &in, NULL, 0, f->user, false, &o, NULL), 0);
    assert_non_null(o);
    return o;
}

static int do_move(struct fx *f, int64_t id, int64_t to, int64_t pos, struct move_result *r)
{
    struct move_request m = { .order_id = id, .to_work_centre_id = to, .position = pos,
                              .reason = "test", .user_id = f->user };
    struct move_result tmp;
    return store_order_move(f->s, f->b, &m, r != NULL ? r : &tmp);
}

/* Every live order row in SQLite matches the cache (column, position, version), every column
 * in SQLite is dense 0..n-1, and the counts agree. */
static void assert_db_matches_cache(struct fx *f)
{
    sqlite3_stmt *st;
    size_t rows = 0;

    assert_true(board_check(f->b));
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT id, work_centre_id, row_number() OVER (PARTITION BY work_centre_id "
             "ORDER BY rank, id) - 1, version, order_number, rank FROM orders "
             "WHERE tenant_id = %lld AND deleted_at IS NULL", (long long)f->tenant);
    assert_int_equal(sqlite3_prepare_v2(f->peek, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct order *o = board_order(f->b, sqlite3_column_int64(st, 0));
        assert_non_null(o);
        assert_int_equal(o->work_centre_id, sqlite3_column_int64(st, 1));
        assert_int_equal(order_position(o), sqlite3_column_int64(st, 2));
        assert_int_equal(o->version, sqlite3_column_int64(st, 3));
        assert_string_equal(o->order_number, (const char *)sqlite3_column_text(st, 4));
        assert_int_equal(o->rank, sqlite3_column_int64(st, 5));
        rows++;
    }
    sqlite3_finalize(st);
    assert_int_equal(rows, f->b->n_orders);
    /* density per column, computed by SQLite itself */
    assert_int_equal(peek_int(f,
        "SELECT COUNT(*) FROM (SELECT work_centre_id, COUNT(*) n, COUNT(DISTINCT rank) d "
        "FROM orders WHERE tenant_id = %lld AND deleted_at IS NULL GROUP BY work_centre_id) "
        "WHERE d != n",
        (long long)f->tenant), 0);
}

/* ---------------------------------------------------------------- tenants and users */

static void test_tenant_and_user_are_found_by_id_and_name(void **state)
{
    struct fx *f = *state;
    struct tenant t;
    struct user u;
    int64_t id;

    assert_int_equal(store_tenant_get(f->s, f->tenant, &t), 0);
    assert_string_equal(t.slug, "acme");
    assert_string_equal(t.name, "Acme Ltd");
    assert_string_equal(t.timezone, "UTC");
    tenant_cleanup(&t);
    assert_int_equal(store_tenant_by_slug(f->s, "acme", &t), 0);
    assert_int_equal(t.id, f->tenant);
    tenant_cleanup(&t);
    assert_int_equal(store_tenant_by_slug(f->s, "nope", &t), PB_ENOT_FOUND);
    assert_int_equal(store_tenant_get(f->s, 424242, &t), PB_ENOT_FOUND);

    assert_int_equal(store_tenant_create(f->s, "acme", "Again", &id), PB_ECONFLICT);
    assert_int_equal(store_tenant_create(f->s, "Bad_Slug", "x", &id), PB_EVALIDATION);
    assert_int_equal(store_tenant_create(f->s, "a", "x", &id), PB_EVALIDATION);

    assert_int_equal(store_user_get(f->s, f->tenant, f->user, &u), 0);
    assert_string_equal(u.username, "sam");
    assert_string_equal(u.email, "sam@acme.test");
    assert_string_equal(u.password_hash, "$argon2id$x");
    assert_int_equal(u.role, ROLE_SCHEDULER);
    assert_true(u.is_active);
    user_cleanup(&u);
    assert_int_equal(store_user_by_username(f->s, f->tenant, "sam", &u), 0);
    assert_int_equal(u.id, f->user);
    user_cleanup(&u);
    assert_int_equal(store_user_create(f->s, f->tenant, "sam", "other@acme.test", "h",
                                       ROLE_VIEWER, NULL, NULL, &id), PB_ECONFLICT);
    assert_int_equal(store_user_create(f->s, f->tenant, "other", "sam@acme.test", "h",
                                       ROLE_VIEWER, NULL, NULL, &id), PB_ECONFLICT);
    assert_int_equal(store_user_by_username(f->s, f->tenant, "ghost", &u), PB_ENOT_FOUND);
}

/* ---------------------------------------------------------------- board and create */

static void test_board_orders_work_centres_by_display_order(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->b->n_work_centres, 4);
    assert_string_equal(f->b->work_centres[0].code, "QC");
    assert_string_equal(f->b->work_centres[1].code, "CUT");
    assert_string_equal(f->b->work_centres[2].code, "ASM");
    assert_string_equal(f->b->work_centres[3].code, "OLD");
    assert_false(f->b->work_centres[3].is_active);
    assert_ptr_equal(board_work_centre_by_code(f->b, "ASM"), &f->b->work_centres[2]);
    assert_ptr_equal(board_column(f->b, f->wc[0]), &f->b->columns[1]);
    assert_ptr_equal(board_column(f->b, 0), &f->b->backlog);
    assert_null(board_column(f->b, 99999));
    assert_true(board_check(f->b));
}

/* board__layout_check is what work-centre mutations and imports assert instead of the
 * O(board) board_check (issue 9): it must see a column that is not its work centre's, work
 * centres out of display order, and counts that do not add up. */
static void test_layout_check_sees_a_broken_frame_without_walking_orders(void **state)
{
    struct fx *f = *state;
    struct board *b = f->b;
    mk_order(f, "L-1", f->wc[0]);
    mk_order(f, "L-2", 0);
    assert_true(board__layout_check(b));

    b->columns[1].work_centre_id = b->work_centres[2].id;       /* CUT's column says ASM */
    assert_false(board__layout_check(b));
    b->columns[1].work_centre_id = b->work_centres[1].id;

    struct work_centre w = b->work_centres[0];                  /* QC(0) after CUT(1) */
    struct column c = b->columns[0];
    b->work_centres[0] = b->work_centres[1], b->columns[0] = b->columns[1];
    b->work_centres[1] = w, b->columns[1] = c;
    assert_false(board__layout_check(b));
    w = b->work_centres[0], c = b->columns[0];
    b->work_centres[0] = b->work_centres[1], b->columns[0] = b->columns[1];
    b->work_centres[1] = w, b->columns[1] = c;
    assert_true(board__layout_check(b));

    b->n_orders++;                                              /* an order nobody holds */
    assert_false(board__layout_check(b));
    b->n_orders--;
    b->backlog.work_centre_id = f->wc[0];
    assert_false(board__layout_check(b));
    b->backlog.work_centre_id = 0;
    assert_true(board__layout_check(b));
    assert_true(board_check(b));
}

static void test_created_orders_join_the_end_of_their_column(void **state)
{
    struct fx *f = *state;
    uint64_t v0 = f->b->version;
    struct order *a = mk_order(f, "MO-1", f->wc[0]);
    struct order *b = mk_order(f, "MO-2", f->wc[0]);
    struct order *c = mk_order(f, "MO-3", 0);

    assert_int_equal(order_position(a), 0);
    assert_int_equal(order_position(b), 1);
    assert_int_equal(order_position(c), 0);
    assert_int_equal(a->version, 1);
    assert_int_equal(f->b->version, v0 + 3);
    assert_ptr_equal(board_order(f->b, b->id), b);
    assert_ptr_equal(board_order_by_number(f->b, "MO-3"), c);
    assert_null(board_order_by_number(f->b, "MO-4"));
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
                                 "'order_created' AND order_id = %lld AND user_id = %lld",
                              (long long)b->id, (long long)f->user), 1);
    assert_int_equal(peek_int(f, "SELECT created_by FROM orders WHERE id = %lld",
                              (long long)a->id), f->user);
    assert_db_matches_cache(f);
}

static void test_create_rejects_taken_number_and_unknown_work_centre(void **state)
{
    struct fx *f = *state;
    struct order_input in;
    struct order *o = NULL;

    mk_order(f, "MO-1", 0);
    order_input_init(&in);
    in.order_number = "MO-1";
    in.stock_code = "S";
    in.description = "D";
    in.quantity_to_make = 1;
    assert_int_equal(store_order_create(f->s, f->b, &in, NULL, 0, f->user, false, &o, NULL), PB_ECONFLICT);
    in.order_number = "MO-2";
    in.work_centre_id = 99999;
    assert_int_equal(store_order_create(f->s, f->b, &in, NULL, 0, f->user, false, &o, NULL),
                     PB_EVALIDATION);
    in.work_centre_id = f->wc_inactive;
    assert_int_equal(store_order_create(f->s, f->b, &in, NULL, 0, f->user, false, &o, NULL),
                     PB_EVALIDATION);
    assert_int_equal(f->b->n_orders, 1);
    assert_db_matches_cache(f);
}

static void test_steps_are_stored_and_read_back_in_order(void **state)
{
    struct fx *f = *state;
    struct order_input in;
    struct order *o = NULL;
    struct step steps[2] = {
        { .step_number = 2, .operation_name = "Weld", .work_centre_id = f->wc[1],
          .status = STEP_PENDING, .planned_duration_minutes = 30,
          .actual_duration_minutes = -1 },
        { .step_number = 1, .operation_name = "Cut", .work_centre_id = f->wc[0],
          .status = STEP_COMPLETE, .planned_duration_minutes = -1,
          .actual_duration_minutes = 12, .quantity_completed = 5,
          .started_at = "2026-11-20T08:00:00Z", .completed_at = "2026-11-20T08:12:00Z" },
    };
    struct step *out;
    size_t n;

    order_input_init(&in);
    in.order_number = "MO-S";
    in.stock_code = "S";
    in.description = "D";
    in.quantity_to_make = 5;
    assert_int_equal(store_order_create(f->s, f->b, &in, steps, 2, f->user, false, &o, NULL), 0);
    assert_int_equal(store_order_steps(f->s, f->tenant, o->id, &out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].step_number, 1);
    assert_string_equal(out[0].operation_name, "Cut");
    assert_int_equal(out[0].status, STEP_COMPLETE);
    assert_int_equal(out[0].planned_duration_minutes, -1);
    assert_int_equal(out[0].actual_duration_minutes, 12);
    assert_string_equal(out[0].completed_at, "2026-11-20T08:12:00Z");
    assert_int_equal(out[1].work_centre_id, f->wc[1]);
    assert_string_equal(out[1].started_at, "");
    for (size_t i = 0; i < n; i++)
        step_cleanup(&out[i]);
    free(out);
    assert_int_equal(store_order_steps(f->s, f->tenant, 777777, &out, &n), PB_ENOT_FOUND);

    /* a step naming an unknown work centre is a validation error and writes nothing */
    steps[0].work_centre_id = 99999;
    in.order_number = "MO-T";
    assert_int_equal(store_order_create(f->s, f->b, &in, steps, 2, f->user, false, &o, NULL),
                     PB_EVALIDATION);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE order_number = 'MO-T'"), 0);
}

/* ---------------------------------------------------------------- moves */

static void test_move_across_columns_closes_source_and_opens_target(void **state)
{
    struct fx *f = *state;
    struct order *a[4], *b[3];
    struct move_result r;
    char num[16];

    for (int i = 0; i < 4; i++) {
        snprintf(num, sizeof(num), "A-%d", i);
        a[i] = mk_order(f, num, f->wc[0]);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(num, sizeof(num), "B-%d", i);
        b[i] = mk_order(f, num, f->wc[1]);
    }
    uint64_t v0 = f->b->version;
    assert_int_equal(do_move(f, a[1]->id, f->wc[1], 1, &r), 0);
    assert_ptr_equal(r.order, a[1]);
    assert_int_equal(r.from_work_centre_id, f->wc[0]);
    assert_int_equal(r.to_work_centre_id, f->wc[1]);
    assert_int_equal(r.position, 1);
    assert_int_equal(r.queue_depth_from, 4);
    assert_int_equal(r.queue_depth_to, 3);
    assert_int_equal(a[1]->work_centre_id, f->wc[1]);
    assert_int_equal(a[1]->version, 2);
    assert_int_equal(f->b->version, v0 + 1);
    /* source closed up, target opened up, shifted orders keep their version */
    assert_int_equal(order_position(a[0]), 0);
    assert_int_equal(order_position(a[2]), 1);
    assert_int_equal(order_position(a[3]), 2);
    assert_int_equal(order_position(b[0]), 0);
    assert_int_equal(order_position(b[1]), 2);
    assert_int_equal(order_position(b[2]), 3);
    assert_int_equal(a[2]->version, 1);
    assert_int_equal(b[1]->version, 1);
    assert_db_matches_cache(f);

    /* the audit row */
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
        "'order_moved' AND order_id = %lld AND from_work_centre_id = %lld AND "
        "to_work_centre_id = %lld AND user_id = %lld AND queue_depth_from = 4 AND "
        "queue_depth_to = 3 AND json_extract(event_data, '$.reason') = 'test' AND "
        "json_extract(event_data, '$.fromPosition') = 1 AND "
        "json_extract(event_data, '$.toPosition') = 1",
        (long long)a[1]->id, (long long)f->wc[0], (long long)f->wc[1], (long long)f->user), 1);
}

static void test_move_within_column_shifts_only_the_range(void **state)
{
    struct fx *f = *state;
    struct order *o[5];
    struct move_result r;
    char num[16];

    for (int i = 0; i < 5; i++) {
        snprintf(num, sizeof(num), "W-%d", i);
        o[i] = mk_order(f, num, f->wc[2]);
    }
    assert_int_equal(do_move(f, o[3]->id, f->wc[2], 1, &r), 0);    /* up: 0 3 1 2 4 */
    assert_int_equal(r.queue_depth_from, 5);
    assert_int_equal(r.queue_depth_to, 5);
    assert_int_equal(order_position(o[0]), 0);
    assert_int_equal(order_position(o[3]), 1);
    assert_int_equal(order_position(o[1]), 2);
    assert_int_equal(order_position(o[2]), 3);
    assert_int_equal(order_position(o[4]), 4);
    assert_int_equal(o[3]->version, 2);
    assert_int_equal(o[1]->version, 1);
    assert_db_matches_cache(f);
    assert_int_equal(do_move(f, o[0]->id, f->wc[2], 3, &r), 0);    /* down: 3 1 2 0 4 */
    assert_int_equal(order_position(o[3]), 0);
    assert_int_equal(order_position(o[1]), 1);
    assert_int_equal(order_position(o[2]), 2);
    assert_int_equal(order_position(o[0]), 3);
    assert_int_equal(order_position(o[4]), 4);
    assert_db_matches_cache(f);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
        "'order_moved' AND from_work_centre_id = to_work_centre_id AND queue_depth_from = 5 "
        "AND queue_depth_to = 5"), 2);
}

static void test_move_position_past_end_means_end_and_negative_is_invalid(void **state)
{
    struct fx *f = *state;
    struct order *a = mk_order(f, "E-0", f->wc[0]);
    struct order *b = mk_order(f, "E-1", f->wc[0]);
    struct order *c = mk_order(f, "E-2", f->wc[1]);
    struct move_result r;

    assert_int_equal(do_move(f, c->id, f->wc[0], 100, &r), 0);
    assert_int_equal(r.position, 2);
    assert_int_equal(do_move(f, a->id, f->wc[0], 100, &r), 0);     /* same column: last */
    assert_int_equal(r.position, 2);
    assert_int_equal(order_position(b), 0);
    assert_int_equal(do_move(f, b->id, f->wc[1], -1, &r), 0);      /* -1: end (empty: 0) */
    assert_int_equal(r.position, 0);
    assert_int_equal(do_move(f, a->id, f->wc[1], -2, &r), PB_EVALIDATION);
    assert_int_equal(a->version, 2);
    assert_db_matches_cache(f);
}

static void test_move_to_and_from_backlog_sets_started_at_once(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "BL-1", 0);
    struct order *p = mk_order(f, "BL-2", 0);
    struct move_result r;

    assert_int_equal(peek_int(f, "SELECT started_at IS NULL FROM orders WHERE id = %lld",
                              (long long)o->id), 1);
    assert_int_equal(do_move(f, o->id, f->wc[0], 0, &r), 0);
    assert_int_equal(r.from_work_centre_id, 0);
    assert_int_equal(order_position(p), 0);
    assert_int_equal(peek_int(f, "SELECT started_at IS NOT NULL FROM orders WHERE id = %lld",
                              (long long)o->id), 1);
    assert_int_equal(store_exec(f->s, "UPDATE orders SET started_at = '2000-01-01T00:00:00Z'"),
                     0);
    assert_int_equal(do_move(f, o->id, 0, 0, &r), 0);               /* back to backlog, top */
    assert_int_equal(order_position(o), 0);
    assert_int_equal(order_position(p), 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
        "'order_moved' AND order_id = %lld AND to_work_centre_id IS NULL AND "
        "queue_depth_from = 1 AND queue_depth_to = 1", (long long)o->id), 1);
    assert_int_equal(do_move(f, o->id, f->wc[1], 0, &r), 0);
    assert_int_equal(peek_int(f, "SELECT started_at = '2000-01-01T00:00:00Z' FROM orders "
                                 "WHERE id = %lld", (long long)o->id), 1);
    assert_db_matches_cache(f);
}

static void test_move_with_stale_preconditions_is_a_conflict(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "P-1", f->wc[0]);
    struct order *q = mk_order(f, "P-2", 0);
    struct move_request m = { .order_id = o->id, .to_work_centre_id = f->wc[1], .position = 0,
                              .user_id = f->user };
    struct move_result r;

    m.has_version = true;
    m.version = 2;
    assert_int_equal(store_order_move(f->s, f->b, &m, &r), PB_ECONFLICT);
    m.version = 1;
    m.has_from = true;
    m.from_work_centre_id = f->wc[1];                   /* another real column */
    assert_int_equal(store_order_move(f->s, f->b, &m, &r), PB_ECONFLICT);
    m.from_work_centre_id = 99999;                      /* unknown id */
    assert_int_equal(store_order_move(f->s, f->b, &m, &r), PB_ECONFLICT);
    m.from_work_centre_id = 0;                          /* asserts backlog: it is not */
    assert_int_equal(store_order_move(f->s, f->b, &m, &r), PB_ECONFLICT);
    assert_int_equal(o->version, 1);
    assert_int_equal(o->work_centre_id, f->wc[0]);
    m.from_work_centre_id = f->wc[0];
    assert_int_equal(store_order_move(f->s, f->b, &m, &r), 0);
    assert_int_equal(store_order_move(f->s, f->b, &m, &r), PB_ECONFLICT);  /* now stale */

    struct move_request mq = { .order_id = q->id, .to_work_centre_id = f->wc[0],
                               .position = -1, .has_from = true, .from_work_centre_id = 0 };
    assert_int_equal(store_order_move(f->s, f->b, &mq, &r), 0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
                                 "'order_moved'"), 2);
    assert_db_matches_cache(f);
}

static void test_move_to_unknown_or_inactive_work_centre_is_invalid(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "U-1", f->wc[0]);
    struct move_result r;

    assert_int_equal(do_move(f, o->id, 99999, 0, &r), PB_EVALIDATION);
    assert_int_equal(do_move(f, o->id, f->wc_inactive, 0, &r), PB_EVALIDATION);
    assert_int_equal(do_move(f, 99999, f->wc[1], 0, &r), PB_ENOT_FOUND);
    assert_int_equal(o->version, 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
                                 "'order_moved'"), 0);
}

static void test_random_moves_keep_every_column_dense(void **state)
{
    struct fx *f = *state;
    enum { N = 60, MOVES = 600 };
    int64_t ids[N], cols[4] = { 0, f->wc[0], f->wc[1], f->wc[2] };
    char num[16];

    srand(12345);
    for (int i = 0; i < N; i++) {
        snprintf(num, sizeof(num), "R-%02d", i);
        ids[i] = mk_order(f, num, cols[i % 4])->id;
    }
    for (int k = 0; k < MOVES; k++) {
        struct order *o = board_order(f->b, ids[rand() % N]);
        int64_t to = cols[rand() % 4];
        int64_t pos = rand() % 25 - 1;          /* -1 (end) .. 23, often past the end */
        int64_t version = o->version;
        assert_int_equal(do_move(f, o->id, to, pos, NULL), 0);
        assert_int_equal(o->version, version + 1);
        assert_int_equal(o->work_centre_id, to);
        assert_true(board_check(f->b));
        if (k % 100 == 99)
            assert_db_matches_cache(f);
    }
    assert_db_matches_cache(f);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
                                 "'order_moved'"), MOVES);
}

/* ---------------------------------------------------------------- failures */

struct snap {
    int64_t id, wc, pos, rank, version;
};

static size_t snap_cache(struct fx *f, struct snap *out)
{
    size_t n = 0;
    for (size_t c = 0; c <= f->b->n_work_centres; c++) {
        const struct column *col = c < f->b->n_work_centres ? &f->b->columns[c]
                                                            : &f->b->backlog;
        for (const struct order *o = board_column_first(col); o != NULL;
             o = board_column_next(o))
            out[n++] = (struct snap){ o->id, o->work_centre_id, order_position(o), o->rank,
                                      o->version };
    }
    return n;
}

static size_t snap_db(struct fx *f, struct snap *out)
{
    sqlite3_stmt *st;
    size_t n = 0;
    assert_int_equal(sqlite3_prepare_v2(f->peek,
        "SELECT id, IFNULL(work_centre_id, 0), 0, rank, version FROM orders "
        "WHERE deleted_at IS NULL ORDER BY id", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        out[n++] = (struct snap){ sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                  sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
                                  sqlite3_column_int64(st, 4) };
    sqlite3_finalize(st);
    return n;
}

static void test_failed_commit_leaves_cache_and_database_unchanged(void **state)
{
    struct fx *f = *state;
    struct snap c0[16], c1[16], d0[16], d1[16];
    struct order *o[6];
    char num[16];

    for (int i = 0; i < 6; i++) {
        snprintf(num, sizeof(num), "F-%d", i);
        o[i] = mk_order(f, num, i < 3 ? f->wc[0] : f->wc[1]);
    }
    size_t nc = snap_cache(f, c0), nd = snap_db(f, d0);
    uint64_t version = f->b->version;
    int64_t audits = peek_int(f, "SELECT COUNT(*) FROM audit_log");

    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    /* cross-column, same-column and create all fail after their first SQL ran */
    assert_int_equal(do_move(f, o[0]->id, f->wc[1], 0, NULL), PB_EINTERNAL);
    assert_non_null(strstr(store_errmsg(f->s), "boom"));
    assert_int_equal(do_move(f, o[2]->id, f->wc[0], 0, NULL), PB_EINTERNAL);
    struct order_input in;
    struct order *created = NULL;
    order_input_init(&in);
    in.order_number = "F-new";
    in.stock_code = "S";
    in.description = "D";
    in.quantity_to_make = 1;
    in.work_centre_id = f->wc[0];
    assert_int_equal(store_order_create(f->s, f->b, &in, NULL, 0, f->user, false, &created, NULL),
                     PB_EINTERNAL);
    assert_null(created);
    struct order_input rows[2] = { in, in };
    rows[1].order_number = "F-1";                   /* existing, moves to the backlog */
    rows[1].work_centre_id = 0;
    size_t cr = 99, up = 99;
    assert_int_equal(store_import(f->s, f->b, rows, 2, true, f->user, &cr, &up), PB_EINTERNAL);
    assert_int_equal(cr, 0);

    /* nothing changed, in the cache or in SQLite */
    assert_int_equal(snap_cache(f, c1), nc);
    assert_memory_equal(c0, c1, nc * sizeof(c0[0]));
    assert_int_equal(snap_db(f, d1), nd);
    assert_memory_equal(d0, d1, nd * sizeof(d0[0]));
    assert_int_equal(f->b->version, version);
    assert_null(board_order_by_number(f->b, "F-new"));
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log"), audits);
    assert_int_equal(board_column_len(board_column(f->b, f->wc[0])), 3);
    assert_db_matches_cache(f);

    /* and the store keeps working once the cause is gone */
    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_audit"), 0);
    assert_int_equal(do_move(f, o[0]->id, f->wc[1], 0, NULL), 0);
    assert_db_matches_cache(f);
}

/* ---------------------------------------------------------------- reload */

static void test_second_store_loads_the_same_board(void **state)
{
    struct fx *f = *state;
    struct store *s2;
    struct board *b2;
    char num[16];

    for (int i = 0; i < 12; i++) {
        snprintf(num, sizeof(num), "L-%d", i);
        mk_order(f, num, i % 3 == 0 ? 0 : f->wc[i % 3 - 1]);
    }
    for (int i = 0; i < 12; i++) {
        snprintf(num, sizeof(num), "L-%d", (i * 5) % 12);
        struct order *o = board_order_by_number(f->b, num);
        assert_int_equal(do_move(f, o->id, i % 2 ? f->wc[2] : 0, i % 3, NULL), 0);
    }
    assert_int_equal(store_open(&s2, f->path, NULL), 0);
    assert_int_equal(store_board(s2, f->tenant, &b2), 0);
    assert_true(board_check(b2));
    assert_int_equal(b2->n_orders, f->b->n_orders);
    assert_int_equal(b2->n_work_centres, f->b->n_work_centres);
    for (size_t c = 0; c <= b2->n_work_centres; c++) {
        const struct column *x = c < b2->n_work_centres ? &f->b->columns[c] : &f->b->backlog;
        const struct column *y = c < b2->n_work_centres ? &b2->columns[c] : &b2->backlog;
        assert_int_equal(x->work_centre_id, y->work_centre_id);
        assert_int_equal(board_column_len(x), board_column_len(y));
        for (size_t i = 0; i < board_column_len(x); i++) {
            const struct order *p = board_column_at(x, i), *q = board_column_at(y, i);
            assert_int_equal(p->id, q->id);
            assert_int_equal(p->rank, q->rank);
            assert_int_equal(p->version, q->version);
            assert_string_equal(p->order_number, q->order_number);
            assert_string_equal(p->stock_code, q->stock_code);
            assert_string_equal(p->description, q->description);
            assert_int_equal(p->quantity_to_make, q->quantity_to_make);
            assert_int_equal(p->status, q->status);
            assert_int_equal(p->created_by, q->created_by);
            assert_string_equal(p->created_at, q->created_at);
            assert_string_equal(p->updated_at, q->updated_at);
        }
    }
    store_free(s2);
}

/* Ranks edited by hand: two equal (the id breaks the tie) and one out of range. The load
 * keeps the (rank, id) order and gives the column distinct ranks again, in SQLite too. */
static void test_load_repairs_ranks_that_are_equal_or_out_of_range(void **state)
{
    struct fx *f = *state;
    struct order *a = mk_order(f, "G-0", f->wc[0]);
    struct order *b = mk_order(f, "G-1", f->wc[0]);
    struct order *c = mk_order(f, "G-2", f->wc[0]);
    int64_t aid = a->id, bid = b->id, cid = c->id;

    assert_int_equal(store_exec(f->s, "UPDATE orders SET rank = 7"), 0);
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE orders SET rank = 9223372036854775807 WHERE id = %lld",
             (long long)aid);
    assert_int_equal(store_exec(f->s, sql), 0);
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    assert_int_equal(order_position(board_order(f->b, bid)), 0);
    assert_int_equal(order_position(board_order(f->b, cid)), 1);
    assert_int_equal(order_position(board_order(f->b, aid)), 2);
    assert_db_matches_cache(f);
}

/* ---------------------------------------------------------------- import */

static struct order_input row(const char *number, int64_t wc, int64_t qty)
{
    struct order_input in;
    order_input_init(&in);
    in.order_number = number;
    in.stock_code = "STK";
    in.description = "Imported";
    in.quantity_to_make = qty;
    in.work_centre_id = wc;
    return in;
}

/* ---------------------------------------------------------------- ranks (issue 9 item 2) */

/* n orders "<prefix>-<i>" imported into work centre wc (0 = backlog) in one transaction; their
 * ids go to ids[] when not NULL. */
static void fill_column(struct fx *f, const char *prefix, int64_t wc, size_t n, int64_t *ids)
{
    struct order_input *rows = calloc(n, sizeof(*rows));
    char (*num)[24] = calloc(n, sizeof(*num));
    size_t cr = 0;
    assert_non_null(rows);
    assert_non_null(num);
    for (size_t i = 0; i < n; i++) {
        snprintf(num[i], sizeof(num[i]), "%s-%zu", prefix, i);
        rows[i] = row(num[i], wc, 1);
    }
    assert_int_equal(store_import(f->s, f->b, rows, n, false, f->user, &cr, NULL), 0);
    assert_int_equal(cr, n);
    for (size_t i = 0; ids != NULL && i < n; i++)
        ids[i] = board_order_by_number(f->b, num[i])->id;
    free(rows);
    free(num);
}

/* Column wc holds exactly the orders ids[0..n) in that order, positions 0..n-1. */
static void assert_column_is(struct fx *f, int64_t wc, const int64_t *ids, size_t n)
{
    struct column *c = board_column(f->b, wc);
    size_t i = 0;
    assert_int_equal(board_column_len(c), n);
    for (const struct order *o = board_column_first(c); o != NULL; o = board_column_next(o), i++) {
        assert_int_equal(o->id, ids[i]);
        assert_int_equal(order_position(o), (int64_t)i);
        assert_ptr_equal(board_column_at(c, i), o);
    }
}

/* Move model: ids[from] goes to index `to` (already clamped) of the same array. */
static void model_move(int64_t *ids, size_t from, size_t to)
{
    int64_t x = ids[from];
    if (from < to)
        memmove(&ids[from], &ids[from + 1], (to - from) * sizeof(*ids));
    else
        memmove(&ids[to + 1], &ids[to], (from - to) * sizeof(*ids));
    ids[to] = x;
}

/* Rows the store writes into orders (updates) and audit_log (inserts), counted by TEMP triggers
 * (sqlite3_total_changes would also count the analytics summaries that audit_log's own
 * triggers keep, which are not what this measures). */
static void count_writes_begin(struct fx *f)
{
    assert_int_equal(sqlite3_exec(f->s->db->lite,
        "CREATE TEMP TABLE IF NOT EXISTS writes(orders INTEGER, audit INTEGER);"
        "DELETE FROM writes; INSERT INTO writes VALUES (0, 0);"
        "CREATE TEMP TRIGGER IF NOT EXISTS count_order_writes AFTER UPDATE ON main.orders "
        "BEGIN UPDATE writes SET orders = orders + 1; END;"
        "CREATE TEMP TRIGGER IF NOT EXISTS count_audit_writes AFTER INSERT ON main.audit_log "
        "BEGIN UPDATE writes SET audit = audit + 1; END;", NULL, NULL, NULL), SQLITE_OK);
}

static void assert_writes(struct fx *f, int orders, int audit)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->s->db->lite, "SELECT orders, audit FROM writes", -1, &st,
                                        NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), orders);
    assert_int_equal(sqlite3_column_int(st, 1), audit);
    sqlite3_finalize(st);
    count_writes_begin(f);
}

/* The issue's case: a move to the top of a long column writes the order's row and its audit
 * row, nothing else (before, every order below it was rewritten). */
static void test_move_writes_only_the_moved_row_and_its_audit_entry(void **state)
{
    struct fx *f = *state;
    enum { N = 2000 };
    int64_t *ids = calloc(N, sizeof(*ids));
    assert_non_null(ids);
    fill_column(f, "W", f->wc[0], N, ids);

    count_writes_begin(f);
    assert_int_equal(do_move(f, ids[N - 1], f->wc[0], 0, NULL), 0);
    assert_writes(f, 1, 1);
    model_move(ids, N - 1, 0);
    assert_int_equal(do_move(f, ids[N / 2], f->wc[0], 7, NULL), 0);   /* within the column */
    assert_writes(f, 1, 1);
    model_move(ids, N / 2, 7);
    int64_t out = ids[3];                                           /* to another column */
    assert_int_equal(do_move(f, out, f->wc[1], 0, NULL), 0);
    assert_writes(f, 1, 1);
    memmove(&ids[3], &ids[4], (N - 4) * sizeof(*ids));
    assert_column_is(f, f->wc[0], ids, N - 1);
    assert_int_equal(order_position(board_order(f->b, out)), 0);
    assert_db_matches_cache(f);
    free(ids);
}

/* The worst case for gaps: always the same spot (position 1). Ranks between two neighbours
 * run out after ~32 moves and a window is relabelled; the rows it rewrites stay few per move
 * on average, the order stays right in the cache and in SQLite, and survives a reload. */
static void test_moves_to_one_spot_relabel_small_windows(void **state)
{
    struct fx *f = *state;
    enum { N = 1000, MOVES = 3000 };
    int64_t *ids = calloc(N, sizeof(*ids));
    assert_non_null(ids);
    fill_column(f, "R", f->wc[0], N, ids);
    uint64_t relabelled = f->s->relabelled;
    for (int i = 0; i < MOVES; i++) {
        assert_int_equal(do_move(f, ids[N - 1], f->wc[0], 1, NULL), 0);
        model_move(ids, N - 1, 1);
    }
    relabelled = f->s->relabelled - relabelled;
    assert_column_is(f, f->wc[0], ids, N);
    assert_db_matches_cache(f);
    print_message("    %d moves to position 1 of %d orders: %llu rows relabelled\n", MOVES, N,
                  (unsigned long long)relabelled);
    assert_true(relabelled > 0);                        /* the relabel path ran */
    assert_true(relabelled < 20 * (uint64_t)MOVES);     /* not the column each time (1000) */
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    assert_column_is(f, f->wc[0], ids, N);
    free(ids);
}

/* A batch of one tenant's moves as the server's writer path runs it (docs/writer.md "Moves"):
 * each prepared on top of the ones before it (store_move_try), all undone in reverse (the
 * board is exactly as before: same order in every column, same ranks and versions), then
 * written in one transaction on a sibling connection and applied in order. 100 moves to the
 * same spot run out of rank gaps, so relabel windows are among them; moves of one order twice
 * and across columns too. Cache, SQLite and a reload agree with the model. */
static void test_batched_moves_try_untry_write_apply(void **state)
{
    struct fx *f = *state;
    enum { N = 200, MOVES = 100 };
    int64_t *ids = calloc(N, sizeof(*ids));
    struct move_job *jobs[MOVES + 2];
    struct store *ws = NULL;
    assert_non_null(ids);
    fill_column(f, "B", f->wc[0], N, ids);
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);

    /* the board before, to compare after the undo */
    int64_t *ranks = calloc(N, sizeof(*ranks));
    assert_non_null(ranks);
    for (int i = 0; i < N; i++)
        ranks[i] = board_order(f->b, ids[i])->rank;
    uint64_t version = f->b->version;

    size_t n = 0;
    for (int i = 0; i < MOVES; i++) {           /* the last order to position 1, again and again */
        struct move_request req = { .order_id = ids[N - 1], .to_work_centre_id = f->wc[0],
                                    .position = 1, .user_id = f->user };
        assert_int_equal(store_move_prepare(f->b, &req, &jobs[n]), 0);
        assert_int_equal(store_move_try(f->b, jobs[n++]), 0);
        model_move(ids, N - 1, 1);
    }
    int64_t moved = ids[5];                     /* one order twice: to ASM, then to the backlog */
    struct move_request a = { .order_id = moved, .to_work_centre_id = f->wc[1], .position = 0,
                              .user_id = f->user };
    struct move_request b = { .order_id = moved, .to_work_centre_id = 0, .position = -1,
                              .user_id = f->user, .has_version = true,
                              .version = board_order(f->b, moved)->version + 1 };
    assert_int_equal(store_move_prepare(f->b, &a, &jobs[n]), 0);
    assert_int_equal(store_move_try(f->b, jobs[n++]), 0);
    assert_int_equal(store_move_prepare(f->b, &b, &jobs[n]), 0);   /* sees the first: version */
    assert_int_equal(store_move_try(f->b, jobs[n++]), 0);
    for (size_t k = n; k-- > 0;)
        store_move_untry(f->b, jobs[k]);
    assert_int_equal(f->b->version, version);
    assert_true(board_check(f->b));
    const struct column *col = board_column(f->b, f->wc[0]);
    for (int i = 0; i < N; i++) {               /* as before the tries (ids[] is the model after) */
        const struct order *o = board_column_at(col, (size_t)i);
        int64_t want = -1;
        for (int k = 0; k < N; k++)
            if (board_order(f->b, ids[k]) == o)
                want = k;
        assert_true(want >= 0);
        assert_int_equal(o->rank, ranks[i]);
    }

    uint64_t relabelled = ws->relabelled;
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(store_move_write(ws, f->b, jobs[k]), 0);
    assert_int_equal(store_exec(ws, "COMMIT"), 0);
    assert_true(ws->relabelled > relabelled);   /* relabel windows were in the batch */
    for (size_t k = 0; k < n; k++) {
        store_move_apply(f->b, jobs[k], NULL);
        store_move_job_free(jobs[k]);
    }
    store_free(ws);
    /* the model: ids[] after the 100 moves; then `moved` left the column */
    int64_t *want = calloc(N, sizeof(*want));
    assert_non_null(want);
    size_t w = 0;
    for (int i = 0; i < N; i++)
        if (ids[i] != moved)
            want[w++] = ids[i];
    assert_column_is(f, f->wc[0], want, w);
    assert_int_equal(board_order(f->b, moved)->work_centre_id, 0);
    assert_db_matches_cache(f);
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    assert_column_is(f, f->wc[0], want, w);
    free(want);
    free(ranks);
    free(ids);
}

/* Random moves between three columns and the backlog (positions in range, past the end, -1)
 * against arrays; the cache, SQLite and a reload all agree with the model. */
static void test_random_moves_match_a_model_and_survive_reload(void **state)
{
    struct fx *f = *state;
    enum { N = 120, OPS = 1500 };
    int64_t wcs[4] = { f->wc[0], f->wc[1], f->wc[2], 0 };
    int64_t model[4][N];
    size_t len[4] = { 0 };
    uint64_t rng = 88172645463325252ULL;
    for (int c = 0; c < 4; c++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "M%d", c);
        fill_column(f, prefix, wcs[c], N / 4, model[c]);
        len[c] = N / 4;
    }
    for (int op = 0; op < OPS; op++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t from = rng % 4, to = (rng >> 8) % 4;
        if (len[from] == 0)
            continue;
        size_t i = (rng >> 16) % len[from];
        int64_t id = model[from][i];
        int64_t pos = (int64_t)((rng >> 32) % (len[to] + 3)) - 1;   /* -1 .. past the end */
        assert_int_equal(do_move(f, id, wcs[to], pos, NULL), 0);
        memmove(&model[from][i], &model[from][i + 1], (len[from] - i - 1) * sizeof(int64_t));
        len[from]--;
        size_t p = pos < 0 || (size_t)pos > len[to] ? len[to] : (size_t)pos;
        memmove(&model[to][p + 1], &model[to][p], (len[to] - p) * sizeof(int64_t));
        model[to][p] = id;
        len[to]++;
        if (op % 250 == 0)
            for (int c = 0; c < 4; c++)
                assert_column_is(f, wcs[c], model[c], len[c]);
    }
    assert_db_matches_cache(f);
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    for (int c = 0; c < 4; c++)
        assert_column_is(f, wcs[c], model[c], len[c]);
}

/* A column whose last rank is RANK_HIGH has no room at its end: an import into it relabels
 * the whole column once, keeping its order, and appends the new orders. */
static void test_import_relabels_a_column_whose_end_ran_out_of_ranks(void **state)
{
    struct fx *f = *state;
    int64_t ids[5];
    fill_column(f, "E", f->wc[1], 3, ids);
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE orders SET rank = %lld WHERE id = %lld",
             (long long)RANK_HIGH, (long long)ids[2]);
    assert_int_equal(store_exec(f->s, sql), 0);
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    uint64_t relabelled = f->s->relabelled;
    fill_column(f, "E2", f->wc[1], 2, &ids[3]);
    assert_int_equal(f->s->relabelled - relabelled, 3);
    assert_column_is(f, f->wc[1], ids, 5);
    assert_db_matches_cache(f);
    /* and a create at its end and a move to its end work again without a relabel */
    struct order *o = mk_order(f, "E-end", f->wc[1]);
    assert_int_equal(order_position(o), 5);
    assert_db_matches_cache(f);
}

/* A database written before orders.rank (the orders table of the old schema, with a dense
 * `position` and the orders_column index) is migrated at open: every column keeps its order,
 * the position column and its index are gone, and a second open changes nothing. */
static void test_open_migrates_old_positions_to_ranks(void **state)
{
    struct fx *f = *state;
    char path[128];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/old.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "CREATE TABLE tenants (id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, "
        "  name TEXT NOT NULL, timezone TEXT NOT NULL DEFAULT 'UTC', "
        "  daily_target INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);"
        "CREATE TABLE work_centres (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL "
        "  REFERENCES tenants(id), code TEXT NOT NULL, name TEXT NOT NULL, "
        "  description TEXT NOT NULL DEFAULT '', capacity INTEGER NOT NULL DEFAULT 1 "
        "  CHECK (capacity >= 1), display_order INTEGER NOT NULL DEFAULT 0, "
        "  is_active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, "
        "  updated_at TEXT NOT NULL, deleted_at TEXT);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL "
        "  REFERENCES tenants(id), order_number TEXT NOT NULL, stock_code TEXT NOT NULL, "
        "  description TEXT NOT NULL, quantity_to_make INTEGER NOT NULL "
        "  CHECK (quantity_to_make > 0), quantity_completed INTEGER NOT NULL DEFAULT 0 "
        "  CHECK (quantity_completed >= 0), current_operation TEXT, "
        "  work_centre_id INTEGER REFERENCES work_centres(id), "
        "  position INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'not_started', "
        "  priority TEXT NOT NULL DEFAULT 'normal', due_date TEXT, start_date TEXT, "
        "  completion_date TEXT, started_at TEXT, completed_at TEXT, "
        "  created_by INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
        "  version INTEGER NOT NULL DEFAULT 1, deleted_at TEXT);"
        "CREATE UNIQUE INDEX orders_number ON orders(tenant_id, order_number) "
        "  WHERE deleted_at IS NULL;"
        "CREATE INDEX orders_column ON orders(tenant_id, work_centre_id, position) "
        "  WHERE deleted_at IS NULL;"
        "INSERT INTO tenants VALUES (1, 'old', 'Old', 'UTC', 0, '2026-01-01T00:00:00Z');"
        "INSERT INTO work_centres(id, tenant_id, code, name, created_at, updated_at) VALUES "
        "  (1, 1, 'A', 'A', 'x', 'x'), (2, 1, 'B', 'B', 'x', 'x');"
        "INSERT INTO orders(id, tenant_id, order_number, stock_code, description, "
        "  quantity_to_make, work_centre_id, position, created_at, updated_at, deleted_at) "
        "  VALUES (1, 1, 'A-third', 's', 'd', 1, 1, 2, 'x', 'x', NULL),"
        "  (2, 1, 'A-first', 's', 'd', 1, 1, 0, 'x', 'x', NULL),"
        "  (3, 1, 'A-second', 's', 'd', 1, 1, 1, 'x', 'x', NULL),"
        "  (4, 1, 'A-gone', 's', 'd', 1, 1, 1, 'x', 'x', 'x'),"
        "  (5, 1, 'L-second', 's', 'd', 1, NULL, 1, 'x', 'x', NULL),"
        "  (6, 1, 'L-first', 's', 'd', 1, NULL, 0, 'x', 'x', NULL),"
        "  (7, 1, 'B-only', 's', 'd', 1, 2, 0, 'x', 'x', NULL);",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    for (int round = 0; round < 2; round++) {           /* migrate, then open migrated */
        struct store *s2;
        struct board *b2;
        assert_int_equal(store_open(&s2, path, NULL), 0);
        assert_int_equal(store_board(s2, 1, &b2), 0);
        assert_true(board_check(b2));
        const char *a[] = { "A-first", "A-second", "A-third" }, *l[] = { "L-first", "L-second" };
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(order_position(board_order_by_number(b2, a[i])), (int64_t)i);
        for (size_t i = 0; i < 2; i++)
            assert_int_equal(order_position(board_order_by_number(b2, l[i])), (int64_t)i);
        assert_int_equal(order_position(board_order_by_number(b2, "B-only")), 0);
        assert_int_equal(b2->n_orders, 6);
        assert_int_equal(board_order_by_number(b2, "A-second")->rank, RANK_STEP);
        /* the store works on it: a move to the top writes two rows */
        struct move_request m = { .order_id = 1, .to_work_centre_id = 1, .position = 0,
                                  .user_id = 0 };
        struct move_result r;
        assert_int_equal(store_order_move(s2, b2, &m, &r), 0);
        assert_int_equal(order_position(board_order(b2, 1)), 0);
        assert_int_equal(order_position(board_order_by_number(b2, a[0])), 1);
        m.position = 2;                                 /* and back for the next round */
        assert_int_equal(store_order_move(s2, b2, &m, &r), 0);
        store_free(s2);
    }
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(db_peek_int(db, "SELECT COUNT(*) FROM pragma_table_info('orders') "
                                     "WHERE name = 'position'"), 0);
    assert_int_equal(db_peek_int(db, "SELECT COUNT(*) FROM sqlite_schema "
                                     "WHERE name = 'orders_column'"), 0);
    assert_int_equal(db_peek_int(db, "SELECT COUNT(*) FROM sqlite_schema "
                                     "WHERE name = 'orders_rank'"), 1);
    sqlite3_close(db);
}

static void test_import_creates_then_upserts(void **state)
{
    struct fx *f = *state;
    struct order *pre = mk_order(f, "I-pre", f->wc[0]);
    struct order *stay = mk_order(f, "I-stay", f->wc[0]);
    size_t cr, up;
    struct order_input rows[4] = {
        row("I-1", f->wc[0], 5), row("I-2", 0, 6), row("I-3", f->wc[0], 7), row("I-4", 0, 8),
    };

    assert_int_equal(store_import(f->s, f->b, rows, 4, false, f->user, &cr, &up), 0);
    assert_int_equal(cr, 4);
    assert_int_equal(up, 0);
    /* new orders join the end of their column in row order */
    assert_int_equal(order_position(board_order_by_number(f->b, "I-1")), 2);
    assert_int_equal(order_position(board_order_by_number(f->b, "I-3")), 3);
    assert_int_equal(order_position(board_order_by_number(f->b, "I-2")), 0);
    assert_int_equal(order_position(board_order_by_number(f->b, "I-4")), 1);
    assert_db_matches_cache(f);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
        "'orders_imported' AND json_extract(event_data, '$.created') = 4"), 1);

    /* mode create: an existing number is a conflict, nothing written */
    struct order_input again[2] = { row("I-5", 0, 1), row("I-1", 0, 1) };
    assert_int_equal(store_import(f->s, f->b, again, 2, false, f->user, &cr, &up),
                     PB_ECONFLICT);
    assert_null(board_order_by_number(f->b, "I-5"));
    /* the same number twice in one import is a conflict */
    struct order_input dup[2] = { row("I-6", 0, 1), row("I-6", 0, 1) };
    assert_int_equal(store_import(f->s, f->b, dup, 2, true, f->user, &cr, &up), PB_ECONFLICT);
    struct order_input badwc[1] = { row("I-7", 99999, 1) };
    assert_int_equal(store_import(f->s, f->b, badwc, 1, true, f->user, &cr, &up),
                     PB_EVALIDATION);

    /* upsert: I-pre moves CUT -> ASM (end), I-stay unchanged, I-2 changes quantity, I-8 new */
    struct order_input stay_row = row("I-stay", f->wc[0], 10);
    stay_row.stock_code = "STK-1";
    stay_row.description = "A part";
    struct order_input up_rows[4] = {
        row("I-pre", f->wc[1], 10), stay_row, row("I-2", 0, 60), row("I-8", f->wc[1], 3),
    };
    up_rows[0].stock_code = "STK-1";
    up_rows[0].description = "A part";
    int64_t pre_id = pre->id;
    assert_int_equal(store_import(f->s, f->b, up_rows, 4, true, f->user, &cr, &up), 0);
    assert_int_equal(cr, 1);
    assert_int_equal(up, 3);
    assert_ptr_equal(board_order(f->b, pre_id), pre);
    assert_int_equal(pre->work_centre_id, f->wc[1]);
    assert_int_equal(order_position(pre), 0);
    assert_int_equal(pre->version, 2);
    assert_int_equal(order_position(board_order_by_number(f->b, "I-8")), 1);
    assert_int_equal(stay->version, 1);             /* unchanged row keeps its version */
    assert_int_equal(order_position(stay), 0);            /* CUT closed up: I-stay I-1 I-3 */
    assert_int_equal(order_position(board_order_by_number(f->b, "I-3")), 2);
    assert_int_equal(board_order_by_number(f->b, "I-3")->version, 1);
    struct order *i2 = board_order_by_number(f->b, "I-2");
    assert_int_equal(i2->quantity_to_make, 60);
    assert_int_equal(i2->version, 2);
    assert_int_equal(peek_int(f, "SELECT quantity_to_make FROM orders WHERE id = %lld",
                              (long long)i2->id), 60);
    assert_db_matches_cache(f);
}

/* The three phases the server's writer runs (docs/writer.md): prepare on the loop's store,
 * write on a sibling connection inside a transaction (run twice: the first attempt rolled back,
 * as after a lost group), apply on the loop. A big import (past the small-import threshold)
 * into a board that has orders, with rows that move existing orders into other columns
 * ("movers": those columns take the row-by-row path) and new orders elsewhere (joined as
 * tails); afterwards the cache equals the database, and the board's index is the rebuilt one. */
static void test_import_phases_on_a_sibling_connection_with_movers_and_a_rerun(void **state)
{
    struct fx *f = *state;
    enum { OLD = 300, N = 3000 };
    static char nums[OLD + N][24];
    struct order_input *rows = calloc(N, sizeof(*rows));
    struct store *ws = NULL;
    struct import_plan *p = NULL;
    size_t cr, up;

    assert_non_null(rows);
    for (int i = 0; i < OLD; i++) {             /* the board before: CUT and the backlog */
        snprintf(nums[i], sizeof(nums[i]), "OLD-%04d", i);
        rows[i] = row(nums[i], i % 2 == 0 ? f->wc[0] : 0, 1);
    }
    assert_int_equal(store_import(f->s, f->b, rows, OLD, true, f->user, &cr, &up), 0);
    assert_int_equal(cr, OLD);
    for (int i = 0; i < N; i++) {
        if (i < 100) {                          /* existing CUT orders move to ASM: movers */
            rows[i] = row(nums[2 * i], f->wc[1], 2);
            continue;
        }
        snprintf(nums[OLD + i], sizeof(nums[0]), "NEW-%05d", i);
        /* new orders: ASM (with the movers), QC and the backlog (tails) */
        rows[i] = row(nums[OLD + i], i % 3 == 0 ? f->wc[1] : i % 3 == 1 ? f->wc[2] : 0, 3);
    }
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    uint64_t version = f->b->version;
    assert_int_equal(store_import_prepare(f->s, f->b, N, true, false, f->user, &p), 0);
    assert_int_equal(f->b->version, version);   /* prepare changes nothing */
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_import_write(ws, p, rows), 0);
    assert_int_equal(store_exec(ws, "ROLLBACK"), 0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE order_number LIKE 'NEW-%%'"),
                     0);
    assert_int_equal(f->b->n_orders, OLD);      /* the cache did not move either */
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_import_write(ws, p, rows), 0);       /* again: new ids, rebuilt index */
    assert_int_equal(store_exec(ws, "COMMIT"), 0);
    store_import_apply(f->s, f->b, p);
    store_import_counts(p, &cr, &up);
    store_import_plan_free(p);
    store_free(ws);
    assert_int_equal(cr, N - 100);
    assert_int_equal(up, 100);
    assert_int_equal(f->b->n_orders, OLD + N - 100);
    assert_true(f->b->version > version);
    assert_db_matches_cache(f);
    /* the movers came after ASM's earlier arrivals in row order, the tails in row order */
    const struct column *asm_col = board_column(f->b, f->wc[1]);
    assert_string_equal(board_column_at(asm_col, 0)->order_number, "OLD-0000");
    assert_string_equal(board_column_at(asm_col, 99)->order_number, "OLD-0198");
    assert_string_equal(board_column_at(asm_col, 100)->order_number, "NEW-00102");
    const struct column *qc = board_column(f->b, f->wc[2]);
    assert_string_equal(board_column_at(qc, 0)->order_number, "NEW-00100");
    assert_non_null(board_order_by_number(f->b, "NEW-02999"));
    free(rows);
}

static void test_import_of_100000_rows_is_one_fast_transaction(void **state)
{
    struct fx *f = *state;
    enum { N = 100000 };
    struct order_input *rows = calloc(N, sizeof(*rows));
    char (*nums)[24] = calloc(N, sizeof(*nums));
    struct timespec t0, t1;
    size_t cr, up;

    assert_non_null(rows);
    assert_non_null(nums);
    for (int i = 0; i < N; i++) {
        snprintf(nums[i], sizeof(nums[i]), "BULK-%06d", i);
        rows[i] = row(nums[i], i % 4 == 0 ? 0 : f->wc[i % 3], 1 + i % 50);
        rows[i].due_date = "2026-12-01";
    }
    /* CPU time of this process (user + system, so SQLite's writes count): wall time on a
     * shared 2-core build machine measures the neighbours as much as the import. */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    assert_int_equal(store_import(f->s, f->b, rows, N, true, f->user, &cr, &up), 0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* Printed, not asserted: speed is measured by bench/, not by timed tests. */
    fprintf(stderr, "import of %d rows: %.3f s CPU\n", N, secs);
    assert_int_equal(cr, N);
    assert_int_equal(f->b->n_orders, N);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
                                 "'orders_imported'"), 1);
    assert_db_matches_cache(f);

    /* a second pass upserting everything (unchanged) is also fast and keeps versions */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    assert_int_equal(store_import(f->s, f->b, rows, N, true, f->user, &cr, &up), 0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "re-import of %d unchanged rows: %.3f s CPU\n", N, secs);
    assert_int_equal(up, N);
    assert_int_equal(peek_int(f, "SELECT MAX(version) FROM orders"), 1);
    free(rows);
    free(nums);
}

/* ---------------------------------------------------------------- demo */

static void test_demo_creates_a_full_sample_tenant_once(void **state)
{
    struct fx *f = *state;
    const char *const hashes[3] = { "$argon2id$a", "$argon2id$s", "$argon2id$v" };
    int64_t demo = 0, again = 0;
    struct board *b;
    struct user u;

    assert_int_equal(store_demo_create(f->s, hashes, &demo), 0);
    assert_true(demo > 0);
    assert_int_equal(store_user_by_username(f->s, demo, "scheduler", &u), 0);
    assert_int_equal(u.role, ROLE_SCHEDULER);
    assert_string_equal(u.password_hash, "$argon2id$s");
    user_cleanup(&u);
    assert_int_equal(store_board(f->s, demo, &b), 0);
    assert_true(board_check(b));
    assert_int_equal(b->n_orders, 15);
    assert_int_equal(b->n_work_centres, 5);
    assert_string_equal(b->work_centres[0].code, "CUT");
    assert_string_equal(b->work_centres[2].name, "Quality Control");
    assert_string_equal(b->work_centres[4].code, "SHIP");
    assert_int_equal(board_column_len(&b->backlog), 3);
    assert_int_equal(board_column_len(board_column(b, b->work_centres[1].id)), 3);   /* ASM: 002 006 009 */
    struct order *o = board_order_by_number(b, "MO-2026-010");
    assert_non_null(o);
    assert_string_equal(o->description, "Label set \"CE\" marking");
    assert_int_equal(o->quantity_to_make, 5000);
    /* every status and priority present */
    assert_int_equal(peek_int(f, "SELECT COUNT(DISTINCT status) FROM orders WHERE tenant_id "
                                 "= %lld", (long long)demo), 5);
    assert_int_equal(peek_int(f, "SELECT COUNT(DISTINCT priority) FROM orders WHERE "
                                 "tenant_id = %lld", (long long)demo), 4);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM order_steps WHERE tenant_id = %lld",
                              (long long)demo), 75);
    /* history: moves with queue depths, completed orders with start and end */
    assert_true(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = %lld AND "
                            "event_type = 'order_moved' AND queue_depth_to IS NOT NULL",
                         (long long)demo) >= 20);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE tenant_id = %lld AND "
                                 "status = 'complete' AND completed_at > started_at",
                              (long long)demo), 2);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE tenant_id = %lld AND "
                                 "(completed_at IS NOT NULL) != (status = 'complete')",
                              (long long)demo), 0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE tenant_id = %lld AND "
                                 "(started_at IS NULL) != (work_centre_id IS NULL)",
                              (long long)demo), 0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = %lld AND "
                                 "timestamp > strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now')",
                              (long long)demo), 0);
    assert_int_equal(store_demo_create(f->s, hashes, &again), PB_ECONFLICT);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM tenants WHERE slug = 'demo'"), 1);
}

/* ---------------------------------------------------------------- isolation */

static void test_tenants_never_see_each_others_orders(void **state)
{
    struct fx *f = *state;
    struct order *mine = mk_order(f, "X-1", f->wc[0]);
    struct board *other;
    struct step *steps;
    size_t n;
    int64_t t2;

    assert_int_equal(store_tenant_create(f->s, "globex", "Globex", &t2), 0);
    assert_int_equal(store_board(f->s, t2, &other), 0);
    assert_int_equal(other->n_orders, 0);
    assert_null(board_order(other, mine->id));
    assert_null(board_order_by_number(other, "X-1"));
    assert_null(board_work_centre(other, f->wc[0]));
    struct move_request m = { .order_id = mine->id, .to_work_centre_id = 0, .position = -1 };
    struct move_result r;
    assert_int_equal(store_order_move(f->s, other, &m, &r), PB_ENOT_FOUND);
    assert_int_equal(store_order_steps(f->s, t2, mine->id, &steps, &n), PB_ENOT_FOUND);
    /* a work centre of tenant A is unknown to tenant B */
    struct order_input in = row("X-1", f->wc[0], 1);
    struct order *o;
    assert_int_equal(store_order_create(f->s, other, &in, NULL, 0, 0, false, &o, NULL), PB_EVALIDATION);
    in.work_centre_id = 0;                          /* same number, other tenant: fine */
    assert_int_equal(store_order_create(f->s, other, &in, NULL, 0, 0, false, &o, NULL), 0);
    assert_ptr_equal(board_order_by_number(f->b, "X-1"), mine);
    struct board *b;
    assert_int_equal(store_board(f->s, 987654, &b), PB_ENOT_FOUND);
}

/* ---------------------------------------------------------------- odds and ends */

static void test_memory_database_and_options(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct store_options bad = { .synchronous = "OFF" }, full = { .synchronous = "FULL" };
    const char *const hashes[3] = { "a", "b", "c" };
    struct board *b;
    int64_t demo;

    store_free(NULL);
    assert_int_equal(store_open(&s, ":memory:", &bad), PB_EINTERNAL);
    assert_null(s);
    assert_int_equal(store_open(&s, "/nonexistent-dir/x/y.db", NULL), PB_EINTERNAL);
    assert_null(s);
    assert_int_equal(store_open(&s, ":memory:", &full), 0);
    assert_int_equal(store_demo_create(s, hashes, &demo), 0);
    assert_int_equal(store_board(s, demo, &b), 0);
    assert_int_equal(b->n_orders, 15);
    assert_int_equal(store_exec(s, "SELECT nonsense FROM nowhere"), PB_EINTERNAL);
    assert_non_null(strstr(store_errmsg(s), "nowhere"));
    store_free(s);
}

static void test_hash_maps_survive_growth_and_deletion(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct hmap im = { 0 };
    struct hmap sm = { .match = board__order_number_is };
    static struct order orders[N];
    static char nums[N][16];

    for (int i = 0; i < N; i++) {
        snprintf(nums[i], sizeof(nums[i]), "N%d", i * 7);
        orders[i].order_number = nums[i];
        orders[i].id = (int64_t)i * 1024;           /* clustered keys */
        assert_int_equal(hmap_reserve(&im, im.len + 1), 0);
        hmap_put_int(&im, orders[i].id, &orders[i]);
        assert_int_equal(hmap_reserve(&sm, sm.len + 1), 0);
        hmap_put_str(&sm, orders[i].order_number, &orders[i]);
    }
    for (int i = 0; i < N; i += 2) {
        hmap_del_int(&im, orders[i].id);
        hmap_del_str(&sm, nums[i]);
    }
    assert_int_equal(im.len, N / 2);
    assert_int_equal(sm.len, N / 2);
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(hmap_get_int(&im, orders[i].id), i % 2 ? &orders[i] : NULL);
        assert_ptr_equal(hmap_get_str(&sm, nums[i]), i % 2 ? &orders[i] : NULL);
    }
    assert_null(hmap_get_int(&im, 3));
    assert_null(hmap_get_str(&sm, "nope"));
    hmap_cleanup(&im);
    hmap_cleanup(&sm);
}

/* ---------------------------------------------------------------- WAL checkpoints */

static int64_t wal_size(struct fx *f)
{
    char p[128];
    struct stat st;
    snprintf(p, sizeof(p), "%s-wal", f->path);
    return stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Wait (bounded) until the checkpointer has copied more than `before` times. */
static void wait_checkpoints(struct checkpointer *c, uint64_t before)
{
    struct checkpoint_stats cs;
    for (int i = 0; i < 20000; i++) {               /* 20 s at most */
        checkpointer_stats(c, &cs);
        if (cs.checkpoints > before)
            return;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    fail_msg("no checkpoint within 20 s");
}

/* issue 9 item 3: with the checkpointer the loop's connection never checkpoints itself, and
 * under writes that never pause (the worst case: a RESTART must wait for a gap between two
 * commits) the WAL stays near CHECKPOINT_RESTART_FRAMES pages (8 MiB) plus what is written while
 * the RESTART waits for its gap: 20 rounds of 1,100 commits (each at least one 4 KiB page)
 * write >= 88 MiB of WAL frames; the file stays under 48 MiB (measured: 9 to 15 MiB quiet). */
static void test_checkpointer_keeps_the_wal_bounded_off_the_committing_thread(void **state)
{
    struct fx *f = *state;
    struct checkpointer *c;
    struct checkpoint_stats cs;
    char sql[300], pad[201];
    int64_t max_wal = 0;

    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    assert_int_equal(checkpointer_start(f->s, &c), 0);
    assert_int_equal(db_peek_int(f->s->db->lite, "PRAGMA wal_autocheckpoint"), 0);
    assert_int_equal(store_exec(f->s, "CREATE TABLE t(x TEXT)"), 0);
    snprintf(sql, sizeof(sql), "INSERT INTO t VALUES ('%s')", pad);
    for (int round = 0; round < 20; round++) {
        checkpointer_stats(c, &cs);
        uint64_t before = cs.checkpoints;
        for (int k = 0; k < CHECKPOINT_FRAMES + 100; k++) {
            assert_int_equal(store__begin(f->s), 0);
            assert_int_equal(store_exec(f->s, sql), 0);
            assert_int_equal(store__commit(f->s), 0);
        }
        wait_checkpoints(c, before);                /* the 1,000th frame woke it */
        /* Without checkpoints the file would pass 88 MiB. Quiet machines measure 9 to 15 MiB;
         * under ASan on a loaded 2-core machine the RESTART waits longer for its gap, so the
         * bound is 48 MiB (it was 24 and failed there). */
        int64_t sz = wal_size(f);
        if (sz >= 48 * 1024 * 1024)
            fail_msg("WAL %lld bytes after round %d", (long long)sz, round);
        if (sz > max_wal)
            max_wal = sz;
    }
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM t"), 20 * (CHECKPOINT_FRAMES + 100));
    checkpointer_stats(c, &cs);
    print_message("checkpoints %llu restarts %llu busy %llu, largest WAL %lld bytes\n",
                  (unsigned long long)cs.checkpoints, (unsigned long long)cs.restarts,
                  (unsigned long long)cs.busy, (long long)max_wal);
    assert_true(cs.checkpoints >= 20);
    assert_true(cs.wal_bytes >= 0);
    checkpointer_stop(f->s, c);
    assert_int_equal(db_peek_int(f->s->db->lite, "PRAGMA wal_autocheckpoint"), 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_checkpointer_keeps_the_wal_bounded_off_the_committing_thread),
        T(test_tenant_and_user_are_found_by_id_and_name),
        T(test_board_orders_work_centres_by_display_order),
        T(test_layout_check_sees_a_broken_frame_without_walking_orders),
        T(test_created_orders_join_the_end_of_their_column),
        T(test_create_rejects_taken_number_and_unknown_work_centre),
        T(test_steps_are_stored_and_read_back_in_order),
        T(test_move_across_columns_closes_source_and_opens_target),
        T(test_move_within_column_shifts_only_the_range),
        T(test_move_position_past_end_means_end_and_negative_is_invalid),
        T(test_move_to_and_from_backlog_sets_started_at_once),
        T(test_move_with_stale_preconditions_is_a_conflict),
        T(test_move_to_unknown_or_inactive_work_centre_is_invalid),
        T(test_random_moves_keep_every_column_dense),
        T(test_failed_commit_leaves_cache_and_database_unchanged),
        T(test_second_store_loads_the_same_board),
        T(test_load_repairs_ranks_that_are_equal_or_out_of_range),
        T(test_move_writes_only_the_moved_row_and_its_audit_entry),
        T(test_moves_to_one_spot_relabel_small_windows),
        T(test_batched_moves_try_untry_write_apply),
        T(test_random_moves_match_a_model_and_survive_reload),
        T(test_import_relabels_a_column_whose_end_ran_out_of_ranks),
        T(test_open_migrates_old_positions_to_ranks),
        T(test_import_creates_then_upserts),
        T(test_import_phases_on_a_sibling_connection_with_movers_and_a_rerun),
        T(test_import_of_100000_rows_is_one_fast_transaction),
        T(test_demo_creates_a_full_sample_tenant_once),
        T(test_tenants_never_see_each_others_orders),
        cmocka_unit_test(test_memory_database_and_options),
        cmocka_unit_test(test_hash_maps_survive_growth_and_deletion),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
