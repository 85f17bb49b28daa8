/*
 * test_store_edit — order update/delete, work-centre writes and the audit log listing
 * (store/order_edit.c, store/work_centres.c, store/audit.c) against a real SQLite file.
 * A second sqlite3 connection ("peek") reads what was really committed, so the cache is
 * compared with the rows on disk, not with the store's own view of them.
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
#include "store/audit.h"
#include "store/order_edit.h"
#include "store/store.h"
#include "core/tz.h"
#include "store/work_centres.h"

/* ---------------------------------------------------------------- fixture */

struct fx {
    char dir[64];
    char path[96];
    struct store *s;
    sqlite3 *peek;
    int64_t tenant;
    int64_t user;
    int64_t wc[3];              /* CUT, ASM, QC (active) */
    int64_t wc_inactive;        /* OLD */
    struct board *b;
};

#include "test/db_peek.h"
#include "test/test_db.h"
#define peek_int(f, ...) db_peek_int((f)->peek, __VA_ARGS__)
#define peek_str(f, ...) db_peek_str((f)->peek, __VA_ARGS__)


static int64_t add_wc(struct fx *f, const char *code, int order, int active)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO work_centres(tenant_id, code, name, capacity, display_order, "
             "is_active, created_at, updated_at) VALUES (%lld, '%s', '%s line', 2, %d, %d, "
             "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             (long long)f->tenant, code, code, order, active);
    assert_int_equal(store_exec(f->s, sql), 0);
    return peek_int(f, "SELECT id FROM work_centres WHERE tenant_id = %lld AND code = '%s'",
                    (long long)f->tenant, code);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    test_db_open(f->dir, f->path, &f->s, &f->peek, "edit", NULL);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_user_create(f->s, f->tenant, "sam", "sam@acme.test", "$argon2id$x",
                                       ROLE_ADMIN, "Sam", "Smith", &f->user), 0);
    f->wc[0] = add_wc(f, "CUT", 1, 1);
    f->wc[1] = add_wc(f, "ASM", 2, 1);
    f->wc[2] = add_wc(f, "QC", 0, 1);
    f->wc_inactive = add_wc(f, "OLD", 9, 0);
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
    return o;
}

static int64_t audits(struct fx *f)
{
    return peek_int(f, "SELECT COUNT(*) FROM audit_log");
}

/* Every live order row matches the cache (column, position, version, number, fields), every
 * column is dense in SQLite, and the live work centres in SQLite are the cached ones in the
 * same (display_order, id) order with the same fields. */
static void assert_db_matches_cache(struct fx *f)
{
    sqlite3_stmt *st;
    size_t rows = 0;
    char sql[512];

    assert_true(board_check(f->b));
    snprintf(sql, sizeof(sql),
             "SELECT id, IFNULL(work_centre_id, 0), "
             "row_number() OVER (PARTITION BY work_centre_id ORDER BY rank, id) - 1, "
             "version, order_number, stock_code, status, IFNULL(completion_date, ''), "
             "IFNULL(start_date, ''), quantity_completed, rank FROM orders WHERE tenant_id = %lld AND deleted_at IS NULL",
             (long long)f->tenant);
    assert_int_equal(sqlite3_prepare_v2(f->peek, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct order *o = board_order(f->b, sqlite3_column_int64(st, 0));
        assert_non_null(o);
        assert_int_equal(o->work_centre_id, sqlite3_column_int64(st, 1));
        assert_int_equal(order_position(o), sqlite3_column_int64(st, 2));
        assert_int_equal(o->version, sqlite3_column_int64(st, 3));
        assert_string_equal(o->order_number, (const char *)sqlite3_column_text(st, 4));
        assert_string_equal(o->stock_code, (const char *)sqlite3_column_text(st, 5));
        assert_string_equal(order_status_name(o->status), (const char *)sqlite3_column_text(st, 6));
        assert_string_equal(o->completion_date, (const char *)sqlite3_column_text(st, 7));
        assert_string_equal(o->start_date, (const char *)sqlite3_column_text(st, 8));
        assert_int_equal(o->quantity_completed, sqlite3_column_int64(st, 9));
        assert_int_equal(o->rank, sqlite3_column_int64(st, 10));
        assert_ptr_equal(board_order_by_number(f->b, o->order_number), o);
        rows++;
    }
    sqlite3_finalize(st);
    assert_int_equal(rows, f->b->n_orders);
    assert_int_equal(peek_int(f,
        "SELECT COUNT(*) FROM (SELECT work_centre_id, COUNT(*) n, COUNT(DISTINCT rank) d "
        "FROM orders WHERE tenant_id = %lld AND deleted_at IS NULL GROUP BY work_centre_id) "
        "WHERE d != n",
        (long long)f->tenant), 0);

    snprintf(sql, sizeof(sql),
             "SELECT id, code, name, description, capacity, display_order, is_active "
             "FROM work_centres WHERE tenant_id = %lld AND deleted_at IS NULL "
             "ORDER BY display_order, id", (long long)f->tenant);
    assert_int_equal(sqlite3_prepare_v2(f->peek, sql, -1, &st, NULL), SQLITE_OK);
    rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(rows < f->b->n_work_centres);
        const struct work_centre *w = &f->b->work_centres[rows];
        assert_int_equal(w->id, sqlite3_column_int64(st, 0));
        assert_string_equal(w->code, (const char *)sqlite3_column_text(st, 1));
        assert_string_equal(w->name, (const char *)sqlite3_column_text(st, 2));
        assert_string_equal(w->description, (const char *)sqlite3_column_text(st, 3));
        assert_int_equal(w->capacity, sqlite3_column_int64(st, 4));
        assert_int_equal(w->display_order, sqlite3_column_int64(st, 5));
        assert_int_equal(w->is_active, sqlite3_column_int(st, 6) != 0);
        assert_int_equal(f->b->columns[rows].work_centre_id, w->id);
        rows++;
    }
    sqlite3_finalize(st);
    assert_int_equal(rows, f->b->n_work_centres);
}

/* ---------------------------------------------------------------- order update */

static void test_update_changes_fields_bumps_version_and_writes_one_audit_row(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "U-1", f->wc[0]);
    struct order_patch p;
    struct order *out = NULL;
    bool changed = false;
    char buf[256];
    int64_t a0 = audits(f);
    uint64_t bv = f->b->version;

    order_patch_init(&p);
    p.stock_code = "STK-2";
    p.priority = PRIORITY_URGENT;
    p.has_due_date = true;
    p.due_date = "2026-12-24";
    p.has_current_operation = true;
    p.current_operation = "Weld";
    p.has_version = true;
    p.version = 1;
    p.user_id = f->user;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, &out, &changed), 0);
    assert_true(changed);
    assert_ptr_equal(out, o);
    assert_int_equal(o->version, 2);
    assert_string_equal(o->stock_code, "STK-2");
    assert_int_equal(o->priority, PRIORITY_URGENT);
    assert_string_equal(o->due_date, "2026-12-24");
    assert_string_equal(o->current_operation, "Weld");
    assert_string_equal(o->description, "A part");            /* untouched */
    assert_true(f->b->version > bv);
    assert_int_equal(audits(f), a0 + 1);
    peek_str(f, buf, sizeof(buf), "SELECT event_data FROM audit_log WHERE event_type = "
             "'order_updated' AND order_id = %lld AND user_id = %lld", (long long)o->id,
             (long long)f->user);
    assert_non_null(strstr(buf, "\"stockCode\""));
    assert_non_null(strstr(buf, "\"priority\""));
    assert_null(strstr(buf, "quantityCompletedDelta"));
    assert_string_equal(peek_str(f, buf, sizeof(buf), "SELECT current_operation FROM orders "
                                 "WHERE id = %lld", (long long)o->id), "Weld");

    /* clearing an optional field with null */
    order_patch_init(&p);
    p.has_due_date = true;
    p.due_date = NULL;
    p.has_current_operation = true;
    p.current_operation = NULL;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, &changed), 0);
    assert_true(changed);
    assert_string_equal(o->due_date, "");
    assert_null(o->current_operation);
    assert_string_equal(peek_str(f, buf, sizeof(buf), "SELECT due_date FROM orders "
                                 "WHERE id = %lld", (long long)o->id), "<null>");
    assert_db_matches_cache(f);
}

static void test_update_with_stale_version_is_a_conflict_and_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "U-1", 0);
    struct order_patch p;
    bool changed = true;
    int64_t a0 = audits(f);

    order_patch_init(&p);
    p.description = "new";
    p.has_version = true;
    p.version = 7;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, &changed), PB_ECONFLICT);
    assert_false(changed);
    assert_string_equal(o->description, "A part");
    assert_int_equal(o->version, 1);
    assert_int_equal(audits(f), a0);
    assert_int_equal(store_order_update(f->s, f->b, 424242, &p, NULL, &changed), PB_ENOT_FOUND);
    assert_db_matches_cache(f);
}

static void test_update_to_complete_sets_completion_date_and_leaving_clears_it(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "U-1", f->wc[1]);
    struct order_patch p;
    char today[PB_DATE_LEN], buf[256];

    assert_int_equal(store_exec(f->s, "UPDATE tenants SET timezone = 'Pacific/Kiritimati'"), 0);
    tz_today("Pacific/Kiritimati", today);

    order_patch_init(&p);
    p.status = ORDER_IN_PROGRESS;
    p.timezone = "Pacific/Kiritimati";
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), 0);
    assert_string_equal(o->start_date, today);
    assert_int_equal(peek_int(f, "SELECT started_at IS NOT NULL FROM orders WHERE id = %lld",
                              (long long)o->id), 1);
    peek_str(f, buf, sizeof(buf), "SELECT event_data FROM audit_log WHERE order_id = %lld "
             "AND event_type = 'order_updated'", (long long)o->id);
    assert_non_null(strstr(buf, "\"statusFrom\":\"not_started\",\"statusTo\":\"in_progress\""));

    /* an explicit startDate wins over "today" */
    struct order *o2 = mk_order(f, "U-2", 0);
    order_patch_init(&p);
    p.status = ORDER_IN_PROGRESS;
    p.has_start_date = true;
    p.start_date = "2026-01-05";
    assert_int_equal(store_order_update(f->s, f->b, o2->id, &p, NULL, NULL), 0);
    assert_string_equal(o2->start_date, "2026-01-05");

    order_patch_init(&p);
    p.status = ORDER_COMPLETE;
    p.timezone = "Pacific/Kiritimati";
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), 0);
    assert_string_equal(o->completion_date, today);
    assert_int_equal(peek_int(f, "SELECT completed_at IS NOT NULL FROM orders WHERE id = %lld",
                              (long long)o->id), 1);
    assert_db_matches_cache(f);

    order_patch_init(&p);
    p.status = ORDER_ON_HOLD;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), 0);
    assert_string_equal(o->completion_date, "");
    assert_int_equal(peek_int(f, "SELECT completed_at IS NULL FROM orders WHERE id = %lld",
                              (long long)o->id), 1);
    assert_string_equal(o->start_date, today);                  /* kept */
    assert_db_matches_cache(f);
}

static void test_update_of_quantity_completed_records_the_delta(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "U-1", f->wc[0]);
    struct order_patch p;
    char buf[256];

    order_patch_init(&p);
    p.has_quantity_completed = true;
    p.quantity_completed = 4;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), 0);
    p.quantity_completed = 3;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), 0);
    assert_int_equal(o->quantity_completed, 3);
    peek_str(f, buf, sizeof(buf), "SELECT group_concat(json_extract(event_data, "
             "'$.quantityCompletedDelta')) FROM (SELECT event_data FROM audit_log WHERE "
             "order_id = %lld AND event_type = 'order_updated' ORDER BY id)", (long long)o->id);
    assert_string_equal(buf, "4,-1");
    assert_db_matches_cache(f);
}

static void test_update_renames_and_refuses_a_taken_number(void **state)
{
    struct fx *f = *state;
    struct order *a = mk_order(f, "U-1", 0);
    struct order *b = mk_order(f, "U-2", 0);
    struct order_patch p;

    order_patch_init(&p);
    p.order_number = "U-2";
    assert_int_equal(store_order_update(f->s, f->b, a->id, &p, NULL, NULL), PB_ECONFLICT);
    assert_ptr_equal(board_order_by_number(f->b, "U-1"), a);
    p.order_number = "U-9";
    assert_int_equal(store_order_update(f->s, f->b, a->id, &p, NULL, NULL), 0);
    assert_ptr_equal(board_order_by_number(f->b, "U-9"), a);
    assert_null(board_order_by_number(f->b, "U-1"));
    assert_ptr_equal(board_order_by_number(f->b, "U-2"), b);
    /* the old number is free again */
    mk_order(f, "U-1", 0);
    assert_db_matches_cache(f);
}

static void test_update_rejects_invalid_values(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "U-1", 0);
    struct order_patch p;
    int64_t a0 = audits(f);

    order_patch_init(&p);
    p.has_quantity_to_make = true;
    p.quantity_to_make = 0;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), PB_EVALIDATION);
    order_patch_init(&p);
    p.has_due_date = true;
    p.due_date = "2026-02-30";
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), PB_EVALIDATION);
    p.due_date = "2026-02-28T10:00:00Z";
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), PB_EVALIDATION);
    order_patch_init(&p);
    p.description = "";
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), PB_EVALIDATION);
    order_patch_init(&p);
    p.status = 17;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, NULL), PB_EVALIDATION);
    assert_int_equal(o->version, 1);
    assert_int_equal(audits(f), a0);
}

static void test_update_without_a_difference_writes_nothing(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "U-1", 0);
    struct order_patch p;
    bool changed = true;
    int64_t a0 = audits(f);

    order_patch_init(&p);
    p.stock_code = "STK-1";
    p.priority = PRIORITY_NORMAL;
    p.has_version = true;
    p.version = 1;
    assert_int_equal(store_order_update(f->s, f->b, o->id, &p, NULL, &changed), 0);
    assert_false(changed);
    assert_int_equal(o->version, 1);
    assert_int_equal(audits(f), a0);
}

/* ---------------------------------------------------------------- order delete */

static void test_delete_closes_up_the_column_and_frees_the_number(void **state)
{
    struct fx *f = *state;
    struct order *o[4];
    char num[16];
    int64_t from = -1;

    for (int i = 0; i < 4; i++) {
        snprintf(num, sizeof(num), "D-%d", i);
        o[i] = mk_order(f, num, f->wc[0]);
    }
    int64_t id = o[1]->id, a0 = audits(f);
    assert_int_equal(store_order_delete(f->s, f->b, id, f->user, &from), 0);
    assert_int_equal(from, f->wc[0]);
    assert_null(board_order(f->b, id));
    assert_null(board_order_by_number(f->b, "D-1"));
    struct column *c = board_column(f->b, f->wc[0]);
    assert_int_equal(board_column_len(c), 3);
    assert_ptr_equal(board_column_at(c, 1), o[2]);
    assert_int_equal(order_position(o[2]), 1);
    assert_int_equal(o[2]->version, 1);                         /* shifted, not changed */
    assert_int_equal(audits(f), a0 + 1);
    assert_int_equal(peek_int(f, "SELECT queue_depth_from FROM audit_log WHERE event_type = "
                                 "'order_deleted' AND order_id = %lld AND "
                                 "from_work_centre_id = %lld", (long long)id,
                              (long long)f->wc[0]), 4);
    assert_int_equal(peek_int(f, "SELECT deleted_at IS NOT NULL FROM orders WHERE id = %lld",
                              (long long)id), 1);
    assert_db_matches_cache(f);
    assert_int_equal(store_order_delete(f->s, f->b, id, f->user, NULL), PB_ENOT_FOUND);

    /* the number can be used again, and the last / only order of a column can go */
    struct order *again = mk_order(f, "D-1", f->wc[0]);
    assert_int_equal(order_position(again), 3);
    assert_int_equal(store_order_delete(f->s, f->b, again->id, f->user, NULL), 0);
    struct order *bl = mk_order(f, "D-B", 0);
    assert_int_equal(store_order_delete(f->s, f->b, bl->id, f->user, &from), 0);
    assert_int_equal(from, 0);
    assert_db_matches_cache(f);

    /* a fresh load agrees */
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    assert_int_equal(f->b->n_orders, 3);
    assert_db_matches_cache(f);
}

/* ---------------------------------------------------------------- work centres */

static void test_work_centre_create_update_delete_keep_board_and_database_equal(void **state)
{
    struct fx *f = *state;
    struct work_centre_input in;
    const struct work_centre *w = NULL;

    mk_order(f, "W-1", f->wc[0]);
    int64_t a0 = audits(f);
    work_centre_input_init(&in);
    in.code = "PAINT";
    in.name = "Painting";
    in.description = "Spray booth";
    in.has_capacity = true;
    in.capacity = 3;
    assert_int_equal(store_work_centre_create(f->s, f->b, &in, f->user, &w), 0);
    assert_non_null(w);
    assert_string_equal(w->code, "PAINT");
    assert_int_equal(w->display_order, 10);                     /* after OLD (9) */
    assert_true(w->is_active);
    int64_t paint = w->id;
    assert_ptr_equal(&f->b->work_centres[f->b->n_work_centres - 1], w);
    assert_int_equal(board_column_len(board_column(f->b, paint)), 0);
    assert_int_equal(audits(f), a0 + 1);
    assert_db_matches_cache(f);

    /* orders can now go there */
    struct order *o = mk_order(f, "W-2", paint);
    assert_int_equal(o->work_centre_id, paint);

    /* update: moves to the front by display order, renamed; orders keep their column */
    work_centre_input_init(&in);
    in.name = "Paint shop";
    in.has_display_order = true;
    in.display_order = -1;
    assert_int_equal(store_work_centre_update(f->s, f->b, paint, &in, f->user, &w, NULL),
                     PB_EVALIDATION);
    in.display_order = 0;
    assert_int_equal(store_work_centre_update(f->s, f->b, paint, &in, f->user, &w, NULL), 0);
    assert_string_equal(w->name, "Paint shop");
    assert_string_equal(w->code, "PAINT");
    /* QC also has display_order 0 but a smaller id */
    assert_string_equal(f->b->work_centres[0].code, "QC");
    assert_string_equal(f->b->work_centres[1].code, "PAINT");
    assert_ptr_equal(board_column_at(board_column(f->b, paint), 0), o);
    assert_int_equal(audits(f), a0 + 3);
    assert_db_matches_cache(f);

    /* the same values again: nothing written */
    bool changed = true;
    uint64_t bv = f->b->version;
    assert_int_equal(store_work_centre_update(f->s, f->b, paint, &in, f->user, &w, &changed), 0);
    assert_false(changed);
    assert_int_equal(audits(f), a0 + 3);
    assert_int_equal(f->b->version, bv);

    /* code unique among live centres */
    work_centre_input_init(&in);
    in.code = "CUT";
    assert_int_equal(store_work_centre_update(f->s, f->b, paint, &in, f->user, NULL, NULL),
                     PB_ECONFLICT);
    work_centre_input_init(&in);
    in.code = "CUT";
    in.name = "Again";
    assert_int_equal(store_work_centre_create(f->s, f->b, &in, f->user, NULL), PB_ECONFLICT);
    in.code = "";
    assert_int_equal(store_work_centre_create(f->s, f->b, &in, f->user, NULL), PB_EVALIDATION);
    in.code = "ABCDEFGHIJKLMNOPQRSTU";                          /* 21 */
    assert_int_equal(store_work_centre_create(f->s, f->b, &in, f->user, NULL), PB_EVALIDATION);
    in.code = "X";
    in.has_capacity = true;
    in.capacity = 0;
    assert_int_equal(store_work_centre_create(f->s, f->b, &in, f->user, NULL), PB_EVALIDATION);

    /* delete: 409 while an order sits in it, then fine once it is empty */
    assert_int_equal(store_work_centre_delete(f->s, f->b, paint, f->user), PB_ECONFLICT);
    assert_int_equal(store_order_delete(f->s, f->b, o->id, f->user, NULL), 0);
    int64_t a1 = audits(f);
    assert_int_equal(store_work_centre_delete(f->s, f->b, paint, f->user), 0);
    assert_null(board_work_centre(f->b, paint));
    assert_null(board_column(f->b, paint));
    assert_int_equal(audits(f), a1 + 1);
    assert_int_equal(store_work_centre_delete(f->s, f->b, paint, f->user), PB_ENOT_FOUND);
    assert_db_matches_cache(f);

    /* its code can be used again */
    work_centre_input_init(&in);
    in.code = "PAINT";
    in.name = "Painting 2";
    in.has_is_active = true;
    in.is_active = false;
    assert_int_equal(store_work_centre_create(f->s, f->b, &in, f->user, &w), 0);
    assert_false(w->is_active);
    assert_db_matches_cache(f);

    /* a fresh load agrees */
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    assert_db_matches_cache(f);
}

static void test_reorder_must_name_every_active_centre_exactly_once(void **state)
{
    struct fx *f = *state;
    int64_t a0 = audits(f);
    struct order *o = mk_order(f, "R-1", f->wc[1]);

    int64_t missing[] = { f->wc[0], f->wc[1] };
    assert_int_equal(store_work_centre_reorder(f->s, f->b, missing, 2, f->user), PB_EVALIDATION);
    int64_t dup[] = { f->wc[0], f->wc[1], f->wc[1] };
    assert_int_equal(store_work_centre_reorder(f->s, f->b, dup, 3, f->user), PB_EVALIDATION);
    int64_t unknown[] = { f->wc[0], f->wc[1], f->wc[2], 99999 };
    assert_int_equal(store_work_centre_reorder(f->s, f->b, unknown, 4, f->user),
                     PB_EVALIDATION);
    assert_int_equal(audits(f), a0 + 1);                        /* only the order create */

    int64_t ids[] = { f->wc[1], f->wc[0], f->wc[2] };           /* ASM CUT QC; OLD follows */
    assert_int_equal(store_work_centre_reorder(f->s, f->b, ids, 3, f->user), 0);
    assert_string_equal(f->b->work_centres[0].code, "ASM");
    assert_string_equal(f->b->work_centres[1].code, "CUT");
    assert_string_equal(f->b->work_centres[2].code, "QC");
    assert_string_equal(f->b->work_centres[3].code, "OLD");
    assert_int_equal(f->b->work_centres[3].display_order, 3);
    assert_ptr_equal(board_column_at(&f->b->columns[0], 0), o);
    assert_int_equal(audits(f), a0 + 2);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
                                 "'work_centres_reordered'"), 1);
    assert_db_matches_cache(f);

    /* an inactive centre may be named too */
    int64_t all[] = { f->wc_inactive, f->wc[2], f->wc[1], f->wc[0] };
    assert_int_equal(store_work_centre_reorder(f->s, f->b, all, 4, f->user), 0);
    assert_string_equal(f->b->work_centres[0].code, "OLD");
    assert_string_equal(f->b->work_centres[3].code, "CUT");
    assert_db_matches_cache(f);
}

/* ---------------------------------------------------------------- failed commits */

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

static void test_failed_commit_leaves_cache_and_database_unchanged(void **state)
{
    struct fx *f = *state;
    struct snap c0[16], c1[16];
    struct order *o[5];
    char num[16];

    for (int i = 0; i < 5; i++) {
        snprintf(num, sizeof(num), "F-%d", i);
        o[i] = mk_order(f, num, i < 3 ? f->wc[0] : 0);
    }
    size_t nc = snap_cache(f, c0);
    uint64_t version = f->b->version;
    int64_t a0 = audits(f);
    size_t nwc = f->b->n_work_centres;
    int64_t first_wc = f->b->work_centres[0].id;
    int64_t wc_rows = peek_int(f, "SELECT COUNT(*) FROM work_centres WHERE deleted_at IS NULL");
    int64_t wc_sum = peek_int(f, "SELECT SUM(display_order * id) FROM work_centres");

    /* the audit insert is the last statement of every mutation: all the others ran */
    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    struct order_patch p;
    order_patch_init(&p);
    p.order_number = "F-renamed";
    p.status = ORDER_COMPLETE;
    p.has_quantity_completed = true;
    p.quantity_completed = 10;
    bool changed = true;
    assert_int_equal(store_order_update(f->s, f->b, o[1]->id, &p, NULL, &changed),
                     PB_EINTERNAL);
    assert_non_null(strstr(store_errmsg(f->s), "boom"));
    assert_false(changed);
    assert_int_equal(store_order_delete(f->s, f->b, o[0]->id, f->user, NULL), PB_EINTERNAL);

    struct work_centre_input in;
    work_centre_input_init(&in);
    in.code = "NEW";
    in.name = "New";
    assert_int_equal(store_work_centre_create(f->s, f->b, &in, f->user, NULL), PB_EINTERNAL);
    work_centre_input_init(&in);
    in.name = "Renamed";
    in.has_display_order = true;
    in.display_order = 99;
    assert_int_equal(store_work_centre_update(f->s, f->b, f->wc[2], &in, f->user, NULL, NULL),
                     PB_EINTERNAL);
    assert_int_equal(store_work_centre_delete(f->s, f->b, f->wc[1], f->user), PB_EINTERNAL);
    int64_t ids[] = { f->wc[1], f->wc[0], f->wc[2] };
    assert_int_equal(store_work_centre_reorder(f->s, f->b, ids, 3, f->user), PB_EINTERNAL);

    /* nothing changed, in the cache or in SQLite */
    assert_int_equal(snap_cache(f, c1), nc);
    assert_memory_equal(c0, c1, nc * sizeof(c0[0]));
    assert_int_equal(f->b->version, version);
    assert_ptr_equal(board_order_by_number(f->b, "F-1"), o[1]);
    assert_null(board_order_by_number(f->b, "F-renamed"));
    assert_int_equal(o[1]->status, ORDER_NOT_STARTED);
    assert_int_equal(o[1]->quantity_completed, 0);
    assert_string_equal(o[1]->completion_date, "");
    assert_int_equal(f->b->n_work_centres, nwc);
    assert_int_equal(f->b->work_centres[0].id, first_wc);
    assert_string_equal(board_work_centre(f->b, f->wc[2])->name, "QC line");
    assert_int_equal(audits(f), a0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM work_centres WHERE deleted_at IS NULL"),
                     wc_rows);
    assert_int_equal(peek_int(f, "SELECT SUM(display_order * id) FROM work_centres"), wc_sum);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE deleted_at IS NOT NULL"), 0);
    assert_db_matches_cache(f);

    /* and the store keeps working once the cause is gone */
    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_audit"), 0);
    assert_int_equal(store_order_update(f->s, f->b, o[1]->id, &p, NULL, &changed), 0);
    assert_int_equal(store_order_delete(f->s, f->b, o[0]->id, f->user, NULL), 0);
    assert_int_equal(store_work_centre_reorder(f->s, f->b, ids, 3, f->user), 0);
    assert_db_matches_cache(f);
}

/* ---------------------------------------------------------------- work centres via the writer */

/* What the writer does with a job (docs/writer.md): write on the sibling connection inside a
 * transaction it opened; with `rerun` the first attempt is rolled back first (a lost group) and
 * the write runs again. Returns the second (or only) write's result; committed when 0, rolled
 * back otherwise. */
static int write_as_writer(struct store *ws, struct wc_job *j, bool rerun)
{
    if (rerun) {
        assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
        assert_int_equal(store_wc_write(ws, j), 0);
        assert_int_equal(store_exec(ws, "ROLLBACK"), 0);
    }
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    int rc = store_wc_write(ws, j);
    assert_int_equal(store_exec(ws, rc == 0 ? "COMMIT" : "ROLLBACK"), 0);
    return rc;
}

/* Issue 9 item 1: each work-centre change as the server now runs it — prepare on the board,
 * write (run twice: the first attempt rolled back) on a sibling connection, apply. The cache
 * shows nothing before apply; after it cache and SQLite agree, with one row and one audit row
 * per change (the rerun left no duplicate). */
static void test_work_centre_jobs_write_on_a_sibling_rerun_and_apply(void **state)
{
    struct fx *f = *state;
    struct store *ws = NULL;
    struct work_centre_input in;
    struct wc_job *j;
    const struct work_centre *w;
    int64_t a0 = audits(f);
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);

    /* create */
    work_centre_input_init(&in);
    in.code = "PAINT";
    in.name = "Paint shop";
    in.has_capacity = true;
    in.capacity = 3;
    struct wc_request rq = { .op = WC_OP_CREATE, .in = &in, .user_id = f->user };
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), 0);
    uint64_t v = f->b->version;
    assert_int_equal(write_as_writer(ws, j, true), 0);
    assert_null(board_work_centre_by_code(f->b, "PAINT"));        /* not before apply */
    assert_int_equal(f->b->version, v);
    assert_true(store_wc_apply(f->b, j, &w));
    assert_non_null(w);
    assert_int_equal(w->id, store_wc_job_id(j));
    assert_int_equal(w->capacity, 3);
    assert_true(f->b->version > v);
    store_wc_job_free(j);
    int64_t paint = board_work_centre_by_code(f->b, "PAINT")->id;
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM work_centres WHERE code = 'PAINT'"), 1);
    assert_int_equal(peek_int(f, "SELECT id FROM work_centres WHERE code = 'PAINT'"), paint);
    assert_int_equal(audits(f), a0 + 1);
    assert_db_matches_cache(f);

    /* a second create of the code is refused at prepare */
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), PB_ECONFLICT);
    assert_null(j);

    /* update: rename and move to the front */
    work_centre_input_init(&in);
    in.name = "Paint & dry";
    in.has_display_order = true;
    in.display_order = 0;
    rq = (struct wc_request){ .op = WC_OP_UPDATE, .wc_id = paint, .in = &in,
                              .user_id = f->user };
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), 0);
    assert_int_equal(write_as_writer(ws, j, true), 0);
    assert_string_equal(board_work_centre(f->b, paint)->name, "Paint shop");
    assert_true(store_wc_apply(f->b, j, &w));
    assert_string_equal(w->name, "Paint & dry");
    store_wc_job_free(j);
    assert_int_equal(audits(f), a0 + 2);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
                                 "'work_centre_updated'"), 1);
    assert_db_matches_cache(f);

    /* an update that changes nothing: no row, no audit, apply says unchanged */
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), 0);
    assert_int_equal(write_as_writer(ws, j, true), 0);
    v = f->b->version;
    assert_false(store_wc_apply(f->b, j, &w));
    assert_int_equal(w->id, paint);
    assert_int_equal(f->b->version, v);
    store_wc_job_free(j);
    assert_int_equal(audits(f), a0 + 2);

    /* reorder: every active centre, reversed */
    int64_t ids[8];
    size_t n = 0;
    for (size_t i = f->b->n_work_centres; i-- > 0;)
        if (f->b->work_centres[i].is_active)
            ids[n++] = f->b->work_centres[i].id;
    rq = (struct wc_request){ .op = WC_OP_REORDER, .ids = ids, .n_ids = n, .user_id = f->user };
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), 0);
    assert_int_equal(write_as_writer(ws, j, true), 0);
    assert_true(store_wc_apply(f->b, j, NULL));
    store_wc_job_free(j);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(f->b->work_centres[k].id, ids[k]);
    assert_int_equal(audits(f), a0 + 3);
    assert_db_matches_cache(f);
    rq.n_ids = n - 1;                                   /* an active centre missing */
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), PB_EVALIDATION);

    /* delete */
    rq = (struct wc_request){ .op = WC_OP_DELETE, .wc_id = paint, .user_id = f->user };
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), 0);
    assert_int_equal(write_as_writer(ws, j, true), 0);
    assert_non_null(board_work_centre(f->b, paint));
    assert_true(store_wc_apply(f->b, j, &w));
    assert_null(w);
    store_wc_job_free(j);
    assert_null(board_work_centre(f->b, paint));
    assert_int_equal(audits(f), a0 + 4);
    assert_db_matches_cache(f);
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), PB_ENOT_FOUND);
    rq.op = WC_OP_UPDATE;
    rq.in = &in;
    assert_int_equal(store_wc_prepare(f->b, &rq, &j), PB_ENOT_FOUND);
    store_free(ws);
}

/* A write that fails (the audit insert refused; orders in SQLite that the cache does not show)
 * is rolled back by the writer and the job freed without apply: cache and SQLite unchanged. */
static void test_work_centre_job_whose_write_fails_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct store *ws = NULL;
    struct work_centre_input in;
    struct wc_job *j;
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    mk_order(f, "W-1", f->wc[0]);
    uint64_t v = f->b->version;
    size_t nwc = f->b->n_work_centres;
    int64_t a0 = audits(f);
    int64_t wc_sum = peek_int(f, "SELECT SUM(display_order * id) FROM work_centres");
    int64_t wc_live = peek_int(f, "SELECT COUNT(*) FROM work_centres WHERE deleted_at IS NULL");

    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    work_centre_input_init(&in);
    in.code = "NEW";
    in.name = "New";
    int64_t ids[] = { f->wc[1], f->wc[0], f->wc[2] };
    const struct wc_request rqs[] = {
        { .op = WC_OP_CREATE, .in = &in, .user_id = f->user },
        { .op = WC_OP_UPDATE, .wc_id = f->wc[2], .in = &in, .user_id = f->user },
        { .op = WC_OP_DELETE, .wc_id = f->wc[1], .user_id = f->user },
        { .op = WC_OP_REORDER, .ids = ids, .n_ids = 3, .user_id = f->user },
    };
    for (size_t k = 0; k < sizeof(rqs) / sizeof(rqs[0]); k++) {
        assert_int_equal(store_wc_prepare(f->b, &rqs[k], &j), 0);
        assert_int_equal(write_as_writer(ws, j, false), PB_EINTERNAL);
        store_wc_job_free(j);
    }
    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_audit"), 0);

    /* an order row the cache does not show sits in QC: the delete's write refuses it */
    assert_int_equal(store_exec(f->s,
        "INSERT INTO orders(tenant_id, order_number, stock_code, description, "
        "quantity_to_make, work_centre_id, created_at, updated_at) SELECT tenant_id, 'HIDDEN', "
        "'S', 'D', 1, id, 'x', 'x' FROM work_centres WHERE code = 'QC'"), 0);
    const struct wc_request del = { .op = WC_OP_DELETE, .wc_id = f->wc[2], .user_id = f->user };
    assert_int_equal(store_wc_prepare(f->b, &del, &j), 0);
    assert_int_equal(write_as_writer(ws, j, false), PB_ECONFLICT);
    store_wc_job_free(j);
    assert_int_equal(store_exec(f->s, "DELETE FROM orders WHERE order_number = 'HIDDEN'"), 0);

    assert_int_equal(f->b->version, v);
    assert_int_equal(f->b->n_work_centres, nwc);
    assert_null(board_work_centre_by_code(f->b, "NEW"));
    assert_string_equal(board_work_centre(f->b, f->wc[2])->name, "QC line");
    assert_int_equal(audits(f), a0);
    assert_int_equal(peek_int(f, "SELECT SUM(display_order * id) FROM work_centres"), wc_sum);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM work_centres WHERE deleted_at IS NULL"),
                     wc_live);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM work_centres WHERE code = 'NEW'"), 0);
    assert_db_matches_cache(f);
    store_free(ws);
}

/* ---------------------------------------------------------------- update + move */

/* Issue 8: PUT /api/orders/:id with fields and a move was two transactions and version +2. */
static void test_update_with_a_move_is_one_transaction_and_one_version_step(void **state)
{
    struct fx *f = *state;
    struct order *first = mk_order(f, "U-1", f->wc[0]);
    struct order *o = mk_order(f, "U-2", 0);
    struct move_request mv = { .to_work_centre_id = f->wc[0], .position = 0,
                               .reason = "rush", .user_id = f->user };
    struct move_result mr;
    struct order *out = NULL;
    struct order_patch p;
    bool changed = false;
    int64_t v0 = o->version, a0 = audits(f);

    order_patch_init(&p);
    p.description = "moved and edited";
    p.priority = PRIORITY_URGENT;
    p.has_version = true;
    p.version = v0;
    p.user_id = f->user;
    assert_int_equal(store_order_update_move(f->s, f->b, o->id, &p, &mv, &out, &changed, &mr), 0);
    assert_ptr_equal(out, o);
    assert_true(changed);
    assert_ptr_equal(mr.order, o);
    assert_int_equal(mr.from_work_centre_id, 0);
    assert_int_equal(mr.to_work_centre_id, f->wc[0]);
    assert_int_equal(mr.position, 0);
    assert_int_equal(o->version, v0 + 1);               /* one step, not two */
    assert_string_equal(o->description, "moved and edited");
    assert_int_equal(o->work_centre_id, f->wc[0]);
    assert_int_equal(order_position(o), 0);
    assert_int_equal(order_position(first), 1);
    assert_int_equal(peek_int(f, "SELECT version FROM orders WHERE id = %lld", (long long)o->id),
                     v0 + 1);
    /* both audit rows, written together (same timestamp) */
    assert_int_equal(audits(f), a0 + 2);
    assert_int_equal(peek_int(f, "SELECT COUNT(DISTINCT timestamp) FROM audit_log WHERE id > "
                                 "(SELECT MAX(id) - 2 FROM audit_log)"), 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE order_id = %lld AND "
                                 "event_type = 'order_moved' AND to_work_centre_id = %lld AND "
                                 "queue_depth_to = 1 AND json_extract(event_data, '$.reason') = "
                                 "'rush'", (long long)o->id, (long long)f->wc[0]), 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE order_id = %lld AND "
                                 "event_type = 'order_updated' AND json_array_length(event_data, "
                                 "'$.fields') = 2", (long long)o->id), 1);
    /* leaving the backlog stamps started_at, with milliseconds */
    assert_int_equal(peek_int(f, "SELECT length(started_at) FROM orders WHERE id = %lld",
                              (long long)o->id), 24);
    assert_db_matches_cache(f);

    /* a move without a field change: like store_order_move (version +1, one order_moved) */
    order_patch_init(&p);
    p.has_version = true;
    p.version = o->version;
    mv.to_work_centre_id = 0;
    mv.position = -1;
    assert_int_equal(store_order_update_move(f->s, f->b, o->id, &p, &mv, NULL, &changed, NULL), 0);
    assert_false(changed);
    assert_int_equal(o->version, v0 + 2);
    assert_int_equal(o->work_centre_id, 0);
    assert_int_equal(audits(f), a0 + 3);
    assert_db_matches_cache(f);
}

static void test_update_with_a_move_that_fails_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct snap c0[16], c1[16];
    mk_order(f, "W-1", f->wc[1]);
    struct order *o = mk_order(f, "W-2", f->wc[0]);
    struct order *taken = mk_order(f, "W-3", 0);
    struct move_request mv = { .to_work_centre_id = f->wc[1], .position = 0, .user_id = f->user };
    struct order_patch p;
    bool changed = true;
    size_t nc = snap_cache(f, c0);
    uint64_t bv = f->b->version;
    int64_t a0 = audits(f);

    order_patch_init(&p);
    p.description = "never";
    p.status = ORDER_COMPLETE;
    p.has_version = true;
    p.version = o->version;
    p.user_id = f->user;
    /* refused before anything is written: inactive target, stale version, taken number */
    mv.to_work_centre_id = f->wc_inactive;
    assert_int_equal(store_order_update_move(f->s, f->b, o->id, &p, &mv, NULL, &changed, NULL),
                     PB_EVALIDATION);
    mv.to_work_centre_id = f->wc[1];
    p.version = o->version + 1;
    assert_int_equal(store_order_update_move(f->s, f->b, o->id, &p, &mv, NULL, &changed, NULL),
                     PB_ECONFLICT);
    p.version = o->version;
    p.order_number = taken->order_number;
    assert_int_equal(store_order_update_move(f->s, f->b, o->id, &p, &mv, NULL, &changed, NULL),
                     PB_ECONFLICT);
    p.order_number = NULL;
    mv.has_from = true;
    mv.from_work_centre_id = f->wc[2];
    assert_int_equal(store_order_update_move(f->s, f->b, o->id, &p, &mv, NULL, &changed, NULL),
                     PB_ECONFLICT);
    mv.has_from = false;

    /* the move's audit row is the last statement: the field UPDATE and the shifts ran */
    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_move BEFORE INSERT ON audit_log "
                                      "WHEN NEW.event_type = 'order_moved' "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    assert_int_equal(store_order_update_move(f->s, f->b, o->id, &p, &mv, NULL, &changed, NULL),
                     PB_EINTERNAL);
    assert_false(changed);
    assert_int_equal(snap_cache(f, c1), nc);
    assert_memory_equal(c0, c1, nc * sizeof(c0[0]));
    assert_int_equal(f->b->version, bv);
    assert_string_equal(o->description, "A part");
    assert_int_equal(o->status, ORDER_NOT_STARTED);
    assert_int_equal(audits(f), a0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE description = 'never' "
                                 "OR completed_at IS NOT NULL"), 0);
    assert_db_matches_cache(f);

    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_move"), 0);
    assert_int_equal(store_order_update_move(f->s, f->b, o->id, &p, &mv, NULL, &changed, NULL), 0);
    assert_true(changed);
    assert_int_equal(o->status, ORDER_COMPLETE);
    assert_int_equal(o->work_centre_id, f->wc[1]);
    assert_int_equal(audits(f), a0 + 2);
    assert_db_matches_cache(f);
}

/* The writer's form of PUT /api/orders/:id (docs/writer.md): prepare on the loop's store,
 * write on a sibling connection inside a transaction the test opens (twice: the first attempt
 * rolled back, as after a lost group), apply after COMMIT. Fields and a move: one version
 * step, two audit rows with one timestamp, cache equal to SQLite. */
static void test_update_phases_on_a_sibling_connection_with_a_rerun(void **state)
{
    struct fx *f = *state;
    struct order *first = mk_order(f, "P-1", f->wc[0]);
    struct order *o = mk_order(f, "P-2", 0);
    struct move_request mv = { .to_work_centre_id = f->wc[0], .position = 0,
                               .reason = "rush", .user_id = f->user };
    struct update_job *j = NULL;
    struct store *ws = NULL;
    struct move_result mr;
    struct order_patch p;
    bool changed = false;
    int64_t v0 = o->version, a0 = audits(f);
    uint64_t bv = f->b->version;

    order_patch_init(&p);
    p.order_number = "P-2b";
    p.description = "edited through the writer";
    p.has_version = true;
    p.version = v0;
    p.user_id = f->user;
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    assert_int_equal(store_update_prepare(f->b, o->id, &p, &mv, &j), 0);
    assert_true(store_update_writes(j));
    assert_int_equal(f->b->version, bv);                /* prepare changes nothing */
    assert_string_equal(o->order_number, "P-2");
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_update_write(ws, j), 0);
    assert_int_equal(store_exec(ws, "ROLLBACK"), 0);
    assert_int_equal(audits(f), a0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE order_number = 'P-2b'"), 0);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_update_write(ws, j), 0);     /* again: the same rows */
    assert_int_equal(store_exec(ws, "COMMIT"), 0);
    assert_ptr_equal(store_update_apply(f->b, j, &changed, &mr), o);
    store_update_job_free(j);
    store_free(ws);
    assert_true(changed);
    assert_ptr_equal(mr.order, o);
    assert_int_equal(mr.from_work_centre_id, 0);
    assert_int_equal(mr.to_work_centre_id, f->wc[0]);
    assert_int_equal(o->version, v0 + 1);
    assert_string_equal(o->order_number, "P-2b");
    assert_ptr_equal(board_order_by_number(f->b, "P-2b"), o);
    assert_null(board_order_by_number(f->b, "P-2"));
    assert_int_equal(order_position(o), 0);
    assert_int_equal(order_position(first), 1);
    assert_int_equal(audits(f), a0 + 2);
    assert_int_equal(peek_int(f, "SELECT COUNT(DISTINCT timestamp) FROM audit_log WHERE id > "
                                 "(SELECT MAX(id) - 2 FROM audit_log)"), 1);
    assert_db_matches_cache(f);

    /* a patch that changes nothing: a job with nothing to write; apply reports no change */
    order_patch_init(&p);
    p.has_version = true;
    p.version = o->version;
    assert_int_equal(store_update_prepare(f->b, o->id, &p, NULL, &j), 0);
    assert_false(store_update_writes(j));
    bv = f->b->version;
    assert_ptr_equal(store_update_apply(f->b, j, &changed, NULL), o);
    store_update_job_free(j);
    assert_false(changed);
    assert_int_equal(f->b->version, bv);
    assert_int_equal(o->version, v0 + 1);

    /* prepare refuses what store_order_update_move refuses, in its order, changing nothing */
    assert_int_equal(store_update_prepare(f->b, 999999, &p, NULL, &j), PB_ENOT_FOUND);
    assert_null(j);
    p.version = v0;
    assert_int_equal(store_update_prepare(f->b, o->id, &p, NULL, &j), PB_ECONFLICT);
    assert_null(j);
    p.version = o->version;
    mv.to_work_centre_id = f->wc_inactive;
    assert_int_equal(store_update_prepare(f->b, o->id, &p, &mv, &j), PB_EVALIDATION);
    assert_null(j);
    assert_db_matches_cache(f);
}

/* The number was free in the cache at prepare but another connection took it before the
 * write (SQLite's unique index): the write fails with PB_ECONFLICT, the transaction is rolled
 * back, and neither the cache nor SQLite changed. */
static void test_update_write_refused_by_a_number_taken_meanwhile_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct snap c0[16], c1[16];
    struct order *o = mk_order(f, "T-1", f->wc[0]);
    mk_order(f, "T-2", f->wc[0]);
    struct move_request mv = { .to_work_centre_id = f->wc[1], .position = 0, .user_id = f->user };
    struct update_job *j = NULL;
    struct store *ws = NULL;
    struct order_patch p;
    size_t nc = snap_cache(f, c0);
    uint64_t bv = f->b->version;
    int64_t a0 = audits(f);

    order_patch_init(&p);
    p.order_number = "TAKEN";
    p.description = "never";
    p.has_version = true;
    p.version = o->version;
    p.user_id = f->user;
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    assert_int_equal(store_update_prepare(f->b, o->id, &p, &mv, &j), 0);
    assert_int_equal(sqlite3_exec(f->peek,
        "INSERT INTO orders(tenant_id, order_number, stock_code, description, quantity_to_make, "
        "rank, created_at, updated_at) SELECT tenant_id, 'TAKEN', 'S', 'd', 1, 1, created_at, "
        "updated_at FROM orders WHERE order_number = 'T-2'", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_update_write(ws, j), PB_ECONFLICT);
    assert_int_equal(store_exec(ws, "ROLLBACK"), 0);
    store_update_job_free(j);                   /* not applied */
    store_free(ws);

    assert_int_equal(snap_cache(f, c1), nc);
    assert_memory_equal(c0, c1, nc * sizeof(c0[0]));
    assert_int_equal(f->b->version, bv);
    assert_string_equal(o->order_number, "T-1");
    assert_string_equal(o->description, "A part");
    assert_int_equal(audits(f), a0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM orders WHERE description = 'never'"), 0);
    assert_int_equal(sqlite3_exec(f->peek, "DELETE FROM orders WHERE order_number = 'TAKEN'",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_db_matches_cache(f);
}

/* ---------------------------------------------------------------- audit log */

/* issue 9 item 3: every combination of filters runs on an index of schema.sql (the plan of the
 * exact SQL store_audit_list runs, over the peek connection of the same file). */
static void plan_of(struct fx *f, const struct audit_query *q, bool count, char *out, size_t n)
{
    char sql[AUDIT_SQL_MAX + 32] = "EXPLAIN QUERY PLAN ";
    sqlite3_stmt *st;
    size_t used = strlen(sql);
    assert_int_equal(audit_list_sql(q, count, false, sql + used, sizeof(sql) - used), 0);
    assert_int_equal(sqlite3_prepare_v2(f->peek, sql, -1, &st, NULL), SQLITE_OK);
    struct db_stmt wrapped = { .lite = st };      /* the peek connection's statement */
    audit_list_bind(&wrapped, f->tenant, q);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        strncat(out, (const char *)sqlite3_column_text(st, 3), n - strlen(out) - 2);
        strncat(out, "|", n - strlen(out) - 1);
    }
    sqlite3_finalize(st);
}

static void test_audit_list_filters_use_the_indexes(void **state)
{
    struct fx *f = *state;
    /* the most selective filter is a term of the index search */
    static const struct { bool order, type, since; const char *term; } cases[] = {
        { false, false, false, "(tenant_id=?" },
        { true, false, false, "order_id=?" },
        { false, true, false, "event_type=?" },
        { true, true, false, "order_id=?" },
        { false, false, true, "timestamp>?" },
        { true, false, true, "order_id=?" },
        { false, true, true, "(tenant_id=? AND " },
        { true, true, true, "order_id=?" },
    };
    char plan[1024];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct audit_query q = { .limit = 50 };
        if (cases[i].order)
            q.order_id = 7;
        if (cases[i].type)
            q.event_type = "order_moved";
        if (cases[i].since)
            q.since = "2026-03-01T00:00:00Z";
        for (int count = 0; count < 2; count++) {
            plan_of(f, &q, count, plan, sizeof(plan));
            print_message("audit filters %d%d%d %s: %s\n", cases[i].order, cases[i].type,
                          cases[i].since, count ? "count" : "page", plan);
            assert_non_null(strstr(plan, "INDEX"));
            assert_non_null(strstr(plan, cases[i].term));
            assert_null(strstr(plan, "SCAN audit_log|"));       /* never the whole table */
        }
    }
}

static void test_audit_list_filters_pages_and_counts_newest_first(void **state)
{
    struct fx *f = *state;
    struct audit_entry *e = NULL;
    size_t n = 0;
    int64_t total = 0;
    struct order *a = mk_order(f, "A-1", f->wc[0]);
    mk_order(f, "A-2", 0);
    struct order_patch p;
    order_patch_init(&p);
    p.has_quantity_completed = true;
    p.quantity_completed = 2;
    p.user_id = f->user;
    assert_int_equal(store_order_update(f->s, f->b, a->id, &p, NULL, NULL), 0);
    /* another tenant's row must never show */
    assert_int_equal(store_exec(f->s, "INSERT INTO tenants(slug, name, created_at) VALUES "
                                      "('other', 'Other', '2026-01-01T00:00:00Z');"
                                      "INSERT INTO audit_log(tenant_id, event_type, timestamp) "
                                      "SELECT id, 'order_created', '2030-01-01T00:00:00Z' "
                                      "FROM tenants WHERE slug = 'other'"), 0);
    assert_int_equal(store_exec(f->s, "UPDATE audit_log SET timestamp = '2026-03-01T10:00:00Z' "
                                      "WHERE event_type = 'order_created' AND order_id IS NOT NULL "
                                      "AND id = (SELECT MIN(id) FROM audit_log)"), 0);

    struct audit_query q = { .limit = 50 };
    assert_int_equal(store_audit_list(f->s, f->tenant, &q, &e, &n, &total), 0);
    assert_int_equal(total, 3);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].event_type, "order_updated");     /* newest first */
    assert_int_equal(e[0].order_id, a->id);
    assert_int_equal(e[0].user_id, f->user);
    assert_string_equal(e[0].username, "sam");                  /* who, for the order dialog */
    assert_non_null(strstr(e[0].event_data, "\"quantityCompletedDelta\":2"));
    assert_int_equal(e[0].queue_depth_from, -1);
    assert_true(e[0].id > e[1].id && e[1].id > e[2].id);
    assert_int_equal(e[2].to_work_centre_id, f->wc[0]);
    for (size_t i = 0; i < n; i++)
        audit_entry_cleanup(&e[i]);
    free(e);

    q.order_id = a->id;
    q.event_type = "order_created";
    assert_int_equal(store_audit_list(f->s, f->tenant, &q, &e, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].timestamp, "2026-03-01T10:00:00Z");
    audit_entry_cleanup(&e[0]);
    free(e);

    /* since: the backdated row drops out */
    struct audit_query q2 = { .limit = 1, .offset = 1, .since = "2026-03-02T00:00:00Z" };
    assert_int_equal(store_audit_list(f->s, f->tenant, &q2, &e, &n, &total), 0);
    assert_int_equal(total, 2);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].event_type, "order_created");
    assert_int_equal(e[0].order_id, board_order_by_number(f->b, "A-2")->id);
    audit_entry_cleanup(&e[0]);
    free(e);
}

static void test_since_accepts_iso_timestamps_and_dates_only(void **state)
{
    char out[PB_TIMESTAMP_LEN];
    (void)state;
    assert_int_equal(audit_since_parse("2026-11-21T09:30:00Z", NULL, out), 0);
    assert_string_equal(out, "2026-11-21T09:30:00Z");
    assert_int_equal(audit_since_parse("2026-11-21T09:30:00.123Z", NULL, out), 0);
    assert_string_equal(out, "2026-11-21T09:30:00Z");
    assert_int_equal(audit_since_parse("2026-11-21T09:30", NULL, out), 0);
    assert_string_equal(out, "2026-11-21T09:30:00Z");
    assert_int_equal(audit_since_parse("2026-11-21T01:30:00+02:00", NULL, out), 0);
    assert_string_equal(out, "2026-11-20T23:30:00Z");
    assert_int_equal(audit_since_parse("2026-11-21", NULL, out), 0);
    assert_string_equal(out, "2026-11-21T00:00:00Z");
    assert_int_equal(audit_since_parse("2026-07-01", "Europe/London", out), 0);
    assert_string_equal(out, "2026-06-30T23:00:00Z");
    const char *bad[] = { "", "yesterday", "2026-02-30", "2026-11-21T25:00:00Z",
                          "2026-11-21T09:30:00Zjunk", "2026-11-21T9:30", "2026-11-21X",
                          "1700000000", "2026-11-21T09:30:00+2" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(audit_since_parse(bad[i], NULL, out), PB_EVALIDATION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_update_changes_fields_bumps_version_and_writes_one_audit_row),
        T(test_update_with_stale_version_is_a_conflict_and_changes_nothing),
        T(test_update_to_complete_sets_completion_date_and_leaving_clears_it),
        T(test_update_of_quantity_completed_records_the_delta),
        T(test_update_renames_and_refuses_a_taken_number),
        T(test_update_rejects_invalid_values),
        T(test_update_without_a_difference_writes_nothing),
        T(test_delete_closes_up_the_column_and_frees_the_number),
        T(test_work_centre_create_update_delete_keep_board_and_database_equal),
        T(test_reorder_must_name_every_active_centre_exactly_once),
        T(test_failed_commit_leaves_cache_and_database_unchanged),
        T(test_work_centre_jobs_write_on_a_sibling_rerun_and_apply),
        T(test_work_centre_job_whose_write_fails_changes_nothing),
        T(test_update_with_a_move_is_one_transaction_and_one_version_step),
        T(test_update_with_a_move_that_fails_changes_nothing),
        T(test_update_phases_on_a_sibling_connection_with_a_rerun),
        T(test_update_write_refused_by_a_number_taken_meanwhile_changes_nothing),
        T(test_audit_list_filters_pages_and_counts_newest_first),
        T(test_audit_list_filters_use_the_indexes),
        cmocka_unit_test(test_since_accepts_iso_timestamps_and_dates_only),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
