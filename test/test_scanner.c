/*
 * test_scanner — scanner API keys and scanner events (store/scanner.c) against a real SQLite
 * file. A second sqlite3 connection ("peek") reads what was really committed, so the cache is
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
#include "server/auth.h"
#include "store/scanner.h"
#include "store/store.h"
#include "core/tz.h"

/* ---------------------------------------------------------------- fixture */

struct fx {
    char dir[64];
    char path[96];
    struct store *s;
    sqlite3 *peek;
    int64_t tenant, other;      /* "acme" and "other" */
    int64_t user;
    int64_t wc[3];              /* CUT, ASM, QC (active) */
    int64_t wc_inactive;        /* OLD */
    int64_t other_wc;           /* CUT of tenant "other" */
    struct board *b;
};

#include "test/db_peek.h"
#include "test/test_db.h"
#define peek_int(f, ...) db_peek_int((f)->peek, __VA_ARGS__)
#define peek_str(f, ...) db_peek_str((f)->peek, __VA_ARGS__)


static int64_t add_wc(struct fx *f, int64_t tenant, const char *code, int order, int active)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO work_centres(tenant_id, code, name, capacity, display_order, "
             "is_active, created_at, updated_at) VALUES (%lld, '%s', '%s line', 2, %d, %d, "
             "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             (long long)tenant, code, code, order, active);
    assert_int_equal(store_exec(f->s, sql), 0);
    return peek_int(f, "SELECT id FROM work_centres WHERE tenant_id = %lld AND code = '%s'",
                    (long long)tenant, code);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    test_db_open(f->dir, f->path, &f->s, &f->peek, "scanner", NULL);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_tenant_create(f->s, "other", "Other Works", &f->other), 0);
    assert_int_equal(store_user_create(f->s, f->tenant, "sam", "sam@acme.test", "$argon2id$x",
                                       ROLE_ADMIN, "Sam", "Smith", &f->user), 0);
    f->wc[0] = add_wc(f, f->tenant, "CUT", 1, 1);
    f->wc[1] = add_wc(f, f->tenant, "ASM", 2, 1);
    f->wc[2] = add_wc(f, f->tenant, "QC", 3, 1);
    f->wc_inactive = add_wc(f, f->tenant, "OLD", 9, 0);
    f->other_wc = add_wc(f, f->other, "CUT", 1, 1);
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

/* An order of 10 pieces in column wc (0 = backlog) with steps at the given work centres
 * (n_steps of them, numbered 1..n, all pending). */
static struct order *mk_order_on(struct fx *f, struct board *b, const char *number, int64_t wc,
                                 const int64_t *step_wcs, size_t n_steps)
{
    struct order_input in;
    struct order *o = NULL;
    struct step steps[8];
    char *names[8];
    assert_true(n_steps <= 8);
    memset(steps, 0, sizeof(steps));
    for (size_t i = 0; i < n_steps; i++) {
        names[i] = strdup("Operation");
        steps[i].step_number = (int64_t)i + 1;
        steps[i].operation_name = names[i];
        steps[i].work_centre_id = step_wcs[i];
        steps[i].status = STEP_PENDING;
        steps[i].planned_duration_minutes = -1;
        steps[i].actual_duration_minutes = -1;
    }
    order_input_init(&in);
    in.order_number = number;
    in.stock_code = "STK-1";
    in.description = "A part";
    in.quantity_to_make = 10;
    in.work_centre_id = wc;
    assert_int_equal(store_order_create(f->s, b, &in, steps, n_steps, f->user, false, &o, NULL), 0);
    for (size_t i = 0; i < n_steps; i++)
        free(names[i]);
    return o;
}

static struct order *mk_order(struct fx *f, const char *number, int64_t wc,
                              const int64_t *step_wcs, size_t n_steps)
{
    return mk_order_on(f, f->b, number, wc, step_wcs, n_steps);
}

static int64_t audits(struct fx *f, const char *type)
{
    return peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = '%s'", type);
}

static int64_t events(struct fx *f)
{
    return peek_int(f, "SELECT COUNT(*) FROM scanner_events");
}

static void event_init(struct scanner_event_input *in, const char *id, const char *number,
                       const char *code, enum scanner_event_type type)
{
    memset(in, 0, sizeof(*in));
    in->event_id = id;
    in->order_number = number;
    in->work_centre_code = code;
    in->event_type = (int)type;
    in->timezone = "UTC";
}

static int apply(struct fx *f, const struct scanner_event_input *in, struct scanner_result *res)
{
    const char *bad = NULL;
    return store_scanner_event(f->s, f->b, in, res, &bad);
}

/* Every live order row matches the cache, and every column is dense in SQLite. */
static void assert_db_matches_cache(struct fx *f)
{
    sqlite3_stmt *st;
    size_t rows = 0;
    char sql[512];

    assert_true(board_check(f->b));
    snprintf(sql, sizeof(sql),
             "SELECT id, IFNULL(work_centre_id, 0), "
             "row_number() OVER (PARTITION BY work_centre_id ORDER BY rank, id) - 1, "
             "version, status, IFNULL(completion_date, ''), IFNULL(start_date, ''), "
             "quantity_completed, IFNULL(current_operation, ''), rank FROM orders WHERE tenant_id = %lld "
             "AND deleted_at IS NULL", (long long)f->tenant);
    assert_int_equal(sqlite3_prepare_v2(f->peek, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct order *o = board_order(f->b, sqlite3_column_int64(st, 0));
        assert_non_null(o);
        assert_int_equal(o->work_centre_id, sqlite3_column_int64(st, 1));
        assert_int_equal(order_position(o), sqlite3_column_int64(st, 2));
        assert_int_equal(o->version, sqlite3_column_int64(st, 3));
        assert_string_equal(order_status_name(o->status), (const char *)sqlite3_column_text(st, 4));
        assert_string_equal(o->completion_date, (const char *)sqlite3_column_text(st, 5));
        assert_string_equal(o->start_date, (const char *)sqlite3_column_text(st, 6));
        assert_int_equal(o->quantity_completed, sqlite3_column_int64(st, 7));
        assert_string_equal(o->current_operation != NULL ? o->current_operation : "",
                            (const char *)sqlite3_column_text(st, 8));
        assert_int_equal(o->rank, sqlite3_column_int64(st, 9));
        rows++;
    }
    sqlite3_finalize(st);
    assert_int_equal(rows, f->b->n_orders);
    assert_int_equal(peek_int(f,
        "SELECT COUNT(*) FROM (SELECT work_centre_id, COUNT(*) n, COUNT(DISTINCT rank) d "
        "FROM orders WHERE tenant_id = %lld AND deleted_at IS NULL GROUP BY work_centre_id) "
        "WHERE d != n",
        (long long)f->tenant), 0);
}

/* ---------------------------------------------------------------- API keys */

static void test_api_key_is_stored_as_its_hash_and_lookup_finds_its_tenant(void **state)
{
    struct fx *f = *state;
    char hash[65], buf[128];
    struct api_key k, found;

    auth_sha256_hex("pbk_secret-one", hash);
    assert_int_equal(store_api_key_create(f->s, f->tenant, "line 1", hash, f->user, &k), 0);
    assert_true(k.id > 0);
    assert_string_equal(k.name, "line 1");
    assert_int_equal(k.tenant_id, f->tenant);
    assert_int_equal(k.created_by, f->user);
    assert_int_equal(strlen(k.created_at), 20);
    /* only the hash is on disk: no column holds the secret */
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM api_keys WHERE key_hash = '%s'", hash), 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM api_keys WHERE key_hash LIKE '%%secret%%' "
                                 "OR name LIKE '%%secret%%'"), 0);
    assert_int_equal(audits(f, "api_key_created"), 1);
    peek_str(f, buf, sizeof(buf), "SELECT user_id || ' ' || json_extract(event_data, '$.name') "
             "FROM audit_log WHERE event_type = 'api_key_created'");
    char want[64];
    snprintf(want, sizeof(want), "%lld line 1", (long long)f->user);
    assert_string_equal(buf, want);

    assert_int_equal(store_api_key_lookup(f->s, hash, &found), 0);
    assert_int_equal(found.id, k.id);
    assert_int_equal(found.tenant_id, f->tenant);
    assert_string_equal(found.name, "line 1");
    api_key_cleanup(&found);

    /* a different secret does not match */
    auth_sha256_hex("pbk_secret-two", hash);
    assert_int_equal(store_api_key_lookup(f->s, hash, &found), PB_EUNAUTHORIZED);
    assert_int_equal(store_api_key_lookup(f->s, "not-a-hash", &found), PB_EUNAUTHORIZED);
    api_key_cleanup(&k);
}

static void test_api_key_create_rejects_bad_names_and_hashes(void **state)
{
    struct fx *f = *state;
    char hash[65], longname[PB_API_KEY_NAME_MAX + 2];

    auth_sha256_hex("k", hash);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(store_api_key_create(f->s, f->tenant, "", hash, f->user, NULL),
                     PB_EVALIDATION);
    assert_int_equal(store_api_key_create(f->s, f->tenant, "   ", hash, f->user, NULL),
                     PB_EVALIDATION);
    assert_int_equal(store_api_key_create(f->s, f->tenant, NULL, hash, f->user, NULL),
                     PB_EVALIDATION);
    assert_int_equal(store_api_key_create(f->s, f->tenant, longname, hash, f->user, NULL),
                     PB_EVALIDATION);
    assert_int_equal(store_api_key_create(f->s, f->tenant, "ok", "ABC", f->user, NULL),
                     PB_EVALIDATION);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM api_keys"), 0);
    assert_int_equal(audits(f, "api_key_created"), 0);
    longname[PB_API_KEY_NAME_MAX] = '\0';       /* exactly the limit is fine */
    assert_int_equal(store_api_key_create(f->s, f->tenant, longname, hash, f->user, NULL), 0);
    /* the same hash twice is a conflict (and writes nothing) */
    assert_int_equal(store_api_key_create(f->s, f->tenant, "again", hash, f->user, NULL),
                     PB_ECONFLICT);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM api_keys"), 1);
    assert_int_equal(audits(f, "api_key_created"), 1);
}

static void test_api_key_revoke_stops_lookup_and_hides_it_from_the_list(void **state)
{
    struct fx *f = *state;
    char h1[65], h2[65], h3[65];
    struct api_key k1, k2, k3, found, *list = NULL;
    size_t n = 99;

    auth_sha256_hex("one", h1);
    auth_sha256_hex("two", h2);
    auth_sha256_hex("three", h3);
    assert_int_equal(store_api_key_create(f->s, f->tenant, "one", h1, f->user, &k1), 0);
    assert_int_equal(store_api_key_create(f->s, f->tenant, "two", h2, f->user, &k2), 0);
    assert_int_equal(store_api_key_create(f->s, f->other, "three", h3, 0, &k3), 0);

    assert_int_equal(store_api_key_list(f->s, f->tenant, false, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, k1.id);
    assert_int_equal(list[1].id, k2.id);
    for (size_t i = 0; i < n; i++)
        api_key_cleanup(&list[i]);
    free(list);

    /* another tenant's key: not found, and it keeps working */
    assert_int_equal(store_api_key_revoke(f->s, f->tenant, k3.id, f->user), PB_ENOT_FOUND);
    assert_int_equal(store_api_key_lookup(f->s, h3, &found), 0);
    assert_int_equal(found.tenant_id, f->other);
    api_key_cleanup(&found);
    assert_int_equal(store_api_key_revoke(f->s, f->tenant, 999999, f->user), PB_ENOT_FOUND);
    assert_int_equal(audits(f, "api_key_revoked"), 0);

    assert_int_equal(store_api_key_revoke(f->s, f->tenant, k1.id, f->user), 0);
    assert_int_equal(audits(f, "api_key_revoked"), 1);
    assert_int_equal(store_api_key_lookup(f->s, h1, &found), PB_EUNAUTHORIZED);
    assert_int_equal(store_api_key_lookup(f->s, h2, &found), 0);
    api_key_cleanup(&found);
    assert_int_not_equal(peek_int(f, "SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = %lld",
                                  (long long)k1.id), 0);
    /* twice: not found the second time, no second audit row */
    assert_int_equal(store_api_key_revoke(f->s, f->tenant, k1.id, f->user), PB_ENOT_FOUND);
    assert_int_equal(audits(f, "api_key_revoked"), 1);

    assert_int_equal(store_api_key_list(f->s, f->tenant, false, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, k2.id);
    api_key_cleanup(&list[0]);
    free(list);
    assert_int_equal(store_api_key_list(f->s, f->tenant, true, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(list[0].revoked_at), 20);
    assert_string_equal(list[1].revoked_at, "");
    for (size_t i = 0; i < n; i++)
        api_key_cleanup(&list[i]);
    free(list);
    api_key_cleanup(&k1);
    api_key_cleanup(&k2);
    api_key_cleanup(&k3);
}

/* ---------------------------------------------------------------- scanner events */

static void test_scanner_event_type_names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < SCAN__COUNT; i++)
        assert_int_equal(scanner_event_type_parse(scanner_event_type_name((enum scanner_event_type)i)), i);
    assert_int_equal(scanner_event_type_parse("Job_Start"), -1);
    assert_int_equal(scanner_event_type_parse(NULL), -1);
    assert_null(scanner_event_type_name(SCAN__COUNT));
}

static void test_repeated_event_id_is_accepted_and_ignored(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "P-1", f->wc[0], NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;

    event_init(&in, "evt-1", "P-1", "CUT", SCAN_PROGRESS_UPDATE);
    in.has_quantity = true;
    in.quantity = 3;
    assert_int_equal(apply(f, &in, &res), 0);
    assert_false(res.duplicate);
    assert_true(res.changed);
    assert_int_equal(res.quantity_delta, 3);
    assert_int_equal(o->quantity_completed, 3);
    int64_t v = o->version;
    uint64_t bv = f->b->version;

    /* a retry: same eventId, even with other content, changes nothing */
    in.quantity = 5;
    assert_int_equal(apply(f, &in, &res), 0);
    assert_true(res.duplicate);
    assert_null(res.order);
    assert_int_equal(o->quantity_completed, 3);
    assert_int_equal(o->version, v);
    assert_int_equal(f->b->version, bv);
    assert_int_equal(events(f), 1);
    assert_int_equal(audits(f, "scanner_event"), 1);
    assert_int_equal(peek_int(f, "SELECT quantity_completed FROM orders WHERE id = %lld",
                              (long long)o->id), 3);

    /* the same eventId in another tenant is another event */
    struct board *ob;
    assert_int_equal(store_board(f->s, f->other, &ob), 0);
    struct order *oo = mk_order_on(f, ob, "P-1", f->other_wc, NULL, 0);
    const char *bad = NULL;
    assert_int_equal(store_scanner_event(f->s, ob, &in, &res, &bad), 0);
    assert_false(res.duplicate);
    assert_ptr_equal(res.order, oo);
    assert_int_equal(oo->quantity_completed, 5);
    assert_int_equal(o->quantity_completed, 3);
    assert_int_equal(events(f), 2);
    assert_db_matches_cache(f);
}

static void test_progress_update_clamps_to_quantity_to_make_and_audits_the_real_delta(void **state)
{
    struct fx *f = *state;
    int64_t route[] = { f->wc[0] };
    struct order *o = mk_order(f, "P-2", f->wc[0], route, 1);
    struct scanner_event_input in;
    struct scanner_result res;
    char buf[128];

    event_init(&in, "q-1", "P-2", "CUT", SCAN_PROGRESS_UPDATE);
    in.has_quantity = true;
    in.quantity = 7;
    assert_int_equal(apply(f, &in, &res), 0);
    assert_int_equal(o->quantity_completed, 7);
    event_init(&in, "q-2", "P-2", "CUT", SCAN_PROGRESS_UPDATE);
    in.has_quantity = true;
    in.quantity = 8;                                    /* 7 + 8 > 10 */
    assert_int_equal(apply(f, &in, &res), 0);
    assert_int_equal(res.quantity_delta, 3);
    assert_int_equal(o->quantity_completed, 10);
    assert_string_equal(peek_str(f, buf, sizeof(buf),
        "SELECT json_extract(event_data, '$.quantityCompletedDelta') FROM audit_log "
        "WHERE event_type = 'scanner_event' AND json_extract(event_data, '$.eventId') = 'q-2'"),
        "3");
    /* the step at CUT counted the same pieces and went in progress */
    assert_int_equal(peek_int(f, "SELECT quantity_completed FROM order_steps WHERE order_id = %lld",
                              (long long)o->id), 10);
    assert_string_equal(peek_str(f, buf, sizeof(buf), "SELECT status FROM order_steps "
                                 "WHERE order_id = %lld", (long long)o->id), "in_progress");

    /* full already: accepted, recorded with delta 0, the order untouched */
    int64_t v = o->version;
    event_init(&in, "q-3", "P-2", "CUT", SCAN_PROGRESS_UPDATE);
    in.has_quantity = true;
    in.quantity = 4;
    assert_int_equal(apply(f, &in, &res), 0);
    assert_false(res.duplicate);
    assert_false(res.changed);
    assert_int_equal(res.quantity_delta, 0);
    assert_int_equal(o->version, v);
    assert_string_equal(peek_str(f, buf, sizeof(buf),
        "SELECT json_extract(event_data, '$.quantityCompletedDelta') FROM audit_log "
        "WHERE event_type = 'scanner_event' AND json_extract(event_data, '$.eventId') = 'q-3'"),
        "0");
    assert_int_equal(audits(f, "scanner_event"), 3);
    assert_int_equal(audits(f, "order_updated"), 0);    /* the scanner row is the only one */
    /* the analytics sum over the audit log sees exactly 10 */
    assert_int_equal(peek_int(f, "SELECT SUM(json_extract(event_data, '$.quantityCompletedDelta')) "
                                 "FROM audit_log"), 10);
    assert_db_matches_cache(f);
}

static void test_job_start_moves_to_the_end_of_the_centre_and_starts_the_order(void **state)
{
    struct fx *f = *state;
    int64_t route[] = { f->wc[1], f->wc[2] };
    struct order *a = mk_order(f, "S-A", f->wc[0], NULL, 0);
    struct order *o = mk_order(f, "S-1", f->wc[0], route, 2);
    struct order *c = mk_order(f, "S-C", f->wc[0], NULL, 0);
    struct order *x = mk_order(f, "S-X", f->wc[1], NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;
    char today[PB_DATE_LEN], buf[128];

    tz_today("UTC", today);
    assert_int_equal(order_position(o), 1);
    event_init(&in, "s-1", "S-1", "ASM", SCAN_JOB_START);
    in.operation_name = "Assemble";
    assert_int_equal(apply(f, &in, &res), 0);
    assert_true(res.moved);
    assert_true(res.changed);
    assert_int_equal(res.from_work_centre_id, f->wc[0]);
    assert_int_equal(res.to_work_centre_id, f->wc[1]);
    assert_int_equal(res.position, 1);                  /* after S-X */
    assert_int_equal(o->work_centre_id, f->wc[1]);
    assert_int_equal(order_position(o), 1);
    assert_int_equal(order_position(x), 0);
    assert_int_equal(order_position(a), 0);
    assert_int_equal(order_position(c), 1);                   /* closed up */
    assert_int_equal(o->status, ORDER_IN_PROGRESS);
    assert_string_equal(o->start_date, today);
    assert_string_equal(o->current_operation, "Assemble");
    assert_int_equal(o->version, 2);                    /* one change, one version */
    assert_int_not_equal(peek_int(f, "SELECT started_at IS NOT NULL FROM orders WHERE id = %lld",
                                  (long long)o->id), 0);
    /* the step at ASM is in progress, the one at QC still pending */
    assert_string_equal(peek_str(f, buf, sizeof(buf), "SELECT group_concat(status, ',') FROM "
                                 "(SELECT status FROM order_steps WHERE order_id = %lld "
                                 "ORDER BY step_number)", (long long)o->id),
                        "in_progress,pending");
    /* audit: the move's own row with queue depths, and one scanner_event row */
    assert_int_equal(audits(f, "order_moved"), 1);
    assert_int_equal(peek_int(f, "SELECT queue_depth_from * 10 + queue_depth_to FROM audit_log "
                                 "WHERE event_type = 'order_moved'"), 31);
    assert_int_equal(peek_int(f, "SELECT user_id FROM audit_log WHERE event_type = 'order_moved'"),
                     -1);
    assert_int_equal(audits(f, "scanner_event"), 1);
    assert_string_equal(peek_str(f, buf, sizeof(buf),
        "SELECT json_extract(event_data, '$.statusFrom') || '>' || "
        "json_extract(event_data, '$.statusTo') FROM audit_log WHERE event_type = 'scanner_event'"),
        "not_started>in_progress");
    assert_int_equal(events(f), 1);
    assert_db_matches_cache(f);

    /* starting again at the same centre: no move, no field change */
    event_init(&in, "s-2", "S-1", "ASM", SCAN_JOB_START);
    assert_int_equal(apply(f, &in, &res), 0);
    assert_false(res.moved);
    assert_false(res.changed);
    assert_int_equal(o->version, 2);
    assert_int_equal(audits(f, "order_moved"), 1);
    assert_int_equal(audits(f, "scanner_event"), 2);

    /* an inactive centre cannot receive a job_start */
    const char *bad = NULL;
    event_init(&in, "s-3", "S-1", "OLD", SCAN_JOB_START);
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "workCentreCode");
    assert_db_matches_cache(f);
}

static void test_job_start_from_the_backlog_keeps_an_existing_start_date(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "B-1", 0, NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;

    assert_int_equal(store_exec(f->s, "UPDATE orders SET start_date = '2026-01-05' "
                                      "WHERE order_number = 'B-1'"), 0);
    store_board_drop(f->s, f->tenant);
    assert_int_equal(store_board(f->s, f->tenant, &f->b), 0);
    o = board_order_by_number(f->b, "B-1");
    event_init(&in, "b-1", "B-1", "QC", SCAN_JOB_START);
    assert_int_equal(apply(f, &in, &res), 0);
    assert_true(res.moved);
    assert_int_equal(res.from_work_centre_id, 0);
    assert_int_equal(o->work_centre_id, f->wc[2]);
    assert_string_equal(o->start_date, "2026-01-05");
    assert_int_equal(board_column_len(&f->b->backlog), 0);
    assert_db_matches_cache(f);
}

static void test_job_complete_completes_the_order_only_after_its_last_step(void **state)
{
    struct fx *f = *state;
    int64_t route[] = { f->wc[0], f->wc[1], f->wc[2] };
    struct order *o = mk_order(f, "C-1", f->wc[0], route, 3);
    struct scanner_event_input in;
    struct scanner_result res;
    char today[PB_DATE_LEN], buf[128];

    tz_today("UTC", today);
    /* step 3 (QC) is skipped: ASM is then the last step that matters */
    assert_int_equal(store_exec(f->s, "UPDATE order_steps SET status = 'skipped' "
                                      "WHERE step_number = 3"), 0);

    event_init(&in, "c-1", "C-1", "CUT", SCAN_JOB_COMPLETE);
    assert_int_equal(apply(f, &in, &res), 0);
    assert_int_equal(res.step_number, 1);
    assert_false(res.order_completed);
    assert_true(res.changed);
    assert_int_not_equal(o->status, ORDER_COMPLETE);
    assert_string_equal(o->completion_date, "");
    assert_string_equal(peek_str(f, buf, sizeof(buf), "SELECT status || (completed_at IS NOT NULL) "
                                 "FROM order_steps WHERE order_id = %lld AND step_number = 1",
                                 (long long)o->id), "complete1");

    event_init(&in, "c-2", "C-1", "ASM", SCAN_JOB_COMPLETE);
    assert_int_equal(apply(f, &in, &res), 0);
    assert_int_equal(res.step_number, 2);
    assert_true(res.order_completed);
    assert_int_equal(o->status, ORDER_COMPLETE);
    assert_string_equal(o->completion_date, today);
    assert_int_not_equal(peek_int(f, "SELECT completed_at IS NOT NULL FROM orders WHERE id = %lld",
                                  (long long)o->id), 0);
    assert_string_equal(peek_str(f, buf, sizeof(buf),
        "SELECT json_extract(event_data, '$.statusTo') FROM audit_log WHERE event_type = "
        "'scanner_event' AND json_extract(event_data, '$.eventId') = 'c-2'"), "complete");
    assert_int_equal(o->work_centre_id, f->wc[0]);      /* completion does not move it */
    assert_db_matches_cache(f);
}

static void test_job_complete_of_an_order_without_steps_completes_it(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "C-2", f->wc[1], NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;

    event_init(&in, "c-3", "C-2", "ASM", SCAN_JOB_COMPLETE);
    assert_int_equal(apply(f, &in, &res), 0);
    assert_true(res.order_completed);
    assert_int_equal(res.step_number, 0);
    assert_int_equal(o->status, ORDER_COMPLETE);
    assert_db_matches_cache(f);

    /* an order with steps, none of them at this centre: recorded, nothing completes */
    int64_t route[] = { f->wc[0] };
    struct order *p = mk_order(f, "C-3", f->wc[1], route, 1);
    event_init(&in, "c-4", "C-3", "QC", SCAN_JOB_COMPLETE);
    assert_int_equal(apply(f, &in, &res), 0);
    assert_false(res.order_completed);
    assert_false(res.changed);
    assert_int_equal(p->status, ORDER_NOT_STARTED);
    assert_int_equal(audits(f, "scanner_event"), 2);
}

static void test_unknown_order_or_work_centre_is_a_validation_error_naming_the_field(void **state)
{
    struct fx *f = *state;
    mk_order(f, "V-1", f->wc[0], NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;
    const char *bad = NULL;

    event_init(&in, "v-1", "NO-SUCH", "CUT", SCAN_JOB_START);
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "orderNumber");
    event_init(&in, "v-2", "V-1", "NOPE", SCAN_JOB_START);
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "workCentreCode");
    event_init(&in, "v-3", "V-1", "CUT", SCAN_PROGRESS_UPDATE);   /* no quantity */
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "quantity");
    in.has_quantity = true;
    in.quantity = -1;
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "quantity");
    event_init(&in, "", "V-1", "CUT", SCAN_JOB_START);
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "eventId");
    char longid[PB_SCANNER_ID_MAX + 2];
    memset(longid, 'e', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    event_init(&in, longid, "V-1", "CUT", SCAN_JOB_START);
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "eventId");
    event_init(&in, "v-4", "V-1", "CUT", SCAN_JOB_START);
    in.event_type = 7;
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "eventType");
    /* another tenant's work centre code is unknown here */
    assert_int_equal(events(f), 0);
    assert_int_equal(audits(f, "scanner_event"), 0);

    /* a refused event does not burn its eventId */
    event_init(&in, "v-1", "V-1", "CUT", SCAN_JOB_START);
    assert_int_equal(store_scanner_event(f->s, f->b, &in, &res, &bad), 0);
    assert_false(res.duplicate);
    assert_int_equal(events(f), 1);
}

/* The writer's form (docs/writer.md "Order updates and scanner events"): prepare on the
 * loop's store, write on a sibling connection inside a transaction the test opens (twice: the
 * first attempt rolled back, as after a lost group), apply after COMMIT. A job_start that
 * moves the order and starts its step: cache equal to SQLite, one event row, one version. */
static void test_event_phases_on_a_sibling_connection_with_a_rerun(void **state)
{
    struct fx *f = *state;
    int64_t route[] = { f->wc[1] };
    struct order *o = mk_order(f, "W-1", f->wc[0], route, 1);
    mk_order(f, "W-X", f->wc[1], NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;
    struct scanner_job *j = NULL;
    struct store *ws = NULL;
    const char *bad = NULL;
    char buf[64];
    uint64_t bv = f->b->version;

    event_init(&in, "w-1", "W-1", "ASM", SCAN_JOB_START);
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    assert_int_equal(store_scanner_prepare(f->s, f->b, &in, &j, &bad), 0);
    assert_true(store_scanner_writes(j));
    assert_int_equal(f->b->version, bv);                /* prepare changes nothing */
    assert_int_equal(o->work_centre_id, f->wc[0]);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_scanner_write(ws, j), 0);
    assert_int_equal(store_exec(ws, "ROLLBACK"), 0);
    assert_int_equal(events(f), 0);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_scanner_write(ws, j), 0);    /* again: the same rows */
    assert_int_equal(store_exec(ws, "COMMIT"), 0);
    store_scanner_apply(f->b, j, &res);
    store_scanner_job_free(j);
    assert_false(res.duplicate);
    assert_true(res.moved);
    assert_true(res.changed);
    assert_ptr_equal(res.order, o);
    assert_int_equal(res.position, 1);
    assert_int_equal(o->work_centre_id, f->wc[1]);
    assert_int_equal(o->version, 2);
    assert_int_equal(events(f), 1);
    assert_int_equal(audits(f, "scanner_event"), 1);
    assert_int_equal(audits(f, "order_moved"), 1);
    assert_string_equal(peek_str(f, buf, sizeof(buf), "SELECT status FROM order_steps WHERE "
                                 "order_id = %lld", (long long)o->id), "in_progress");
    assert_db_matches_cache(f);

    /* the same eventId again: found at prepare, nothing to write, a duplicate */
    assert_int_equal(store_scanner_prepare(f->s, f->b, &in, &j, &bad), 0);
    assert_false(store_scanner_writes(j));
    store_scanner_apply(f->b, j, &res);
    store_scanner_job_free(j);
    assert_true(res.duplicate);
    assert_int_equal(o->version, 2);

    /* the shape and the lookups are refused at prepare, naming the field */
    event_init(&in, "w-2", "NOPE", "ASM", SCAN_JOB_START);
    assert_int_equal(store_scanner_prepare(f->s, f->b, &in, &j, &bad), PB_EVALIDATION);
    assert_null(j);
    assert_string_equal(bad, "orderNumber");
    store_free(ws);
}

/* The eventId was free at prepare but another connection recorded it before the write: the
 * write writes nothing (its event row's INSERT .. ON CONFLICT DO NOTHING, first, inserts
 * none), the event is answered as a duplicate, and neither the cache nor SQLite changed. */
static void test_event_recorded_meanwhile_is_a_duplicate_at_write_and_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "M-1", f->wc[0], NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;
    struct scanner_job *j = NULL;
    struct store *ws = NULL;
    const char *bad = NULL;
    uint64_t bv = f->b->version;
    char sql[400];

    event_init(&in, "m-1", "M-1", "ASM", SCAN_JOB_START);
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    assert_int_equal(store_scanner_prepare(f->s, f->b, &in, &j, &bad), 0);
    snprintf(sql, sizeof(sql), "INSERT INTO scanner_events(tenant_id, event_id, order_id, "
             "work_centre_id, event_type, quantity, timestamp, processed) VALUES (%lld, 'm-1', "
             "%lld, %lld, 'job_start', 0, '2026-01-01T00:00:00Z', 1)", (long long)f->tenant,
             (long long)o->id, (long long)f->wc[1]);
    assert_int_equal(sqlite3_exec(f->peek, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    assert_int_equal(store_scanner_write(ws, j), 0);
    assert_int_equal(store_exec(ws, "COMMIT"), 0);
    store_scanner_apply(f->b, j, &res);
    store_scanner_job_free(j);
    store_free(ws);
    assert_true(res.duplicate);
    assert_null(res.order);
    assert_int_equal(f->b->version, bv);
    assert_int_equal(o->work_centre_id, f->wc[0]);
    assert_int_equal(o->version, 1);
    assert_int_equal(events(f), 1);                     /* only the other connection's */
    assert_int_equal(audits(f, "scanner_event"), 0);
    assert_int_equal(audits(f, "order_moved"), 0);
    assert_db_matches_cache(f);
}

/* Prepare, write (on a sibling, in a transaction the test opens), apply: one event of the
 * PostgreSQL form (store_scanner_prepare_cached). *bad gets prepare's field. Returns the
 * write's code (prepare must succeed). */
static int cached_event(struct fx *f, struct store *ws, const struct scanner_event_input *in,
                        struct scanner_result *res, const char **bad)
{
    struct scanner_job *j = NULL;
    assert_int_equal(store_scanner_prepare_cached(f->b, in, &j, bad), 0);
    assert_int_equal(store_exec(ws, "BEGIN IMMEDIATE"), 0);
    int rc = store_scanner_write(ws, j);
    assert_int_equal(store_exec(ws, rc == 0 ? "COMMIT" : "ROLLBACK"), 0);
    if (rc == 0)
        store_scanner_apply(f->b, j, res);
    store_scanner_job_free(j);
    return rc;
}

/* PostgreSQL's prepare reads nothing (issue 13): the steps come from the cached route, so two
 * events of one order in a row plan on what the first did (job_start, then job_complete of
 * both steps: the order completes only at the last); the cache equals the database after. */
static void test_cached_prepare_plans_from_the_cached_route(void **state)
{
    struct fx *f = *state;
    int64_t route[] = { f->wc[0], f->wc[1] };
    struct order *o = mk_order(f, "P-1", f->wc[2], route, 2);
    struct scanner_event_input in;
    struct scanner_result res;
    struct store *ws = NULL;
    const char *bad = NULL;
    char buf[64];

    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    event_init(&in, "p-1", "P-1", "CUT", SCAN_JOB_START);
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);
    assert_true(res.moved);
    assert_int_equal(res.step_number, 1);
    assert_int_equal(o->route->steps[0].status, STEP_IN_PROGRESS);
    event_init(&in, "p-2", "P-1", "CUT", SCAN_PROGRESS_UPDATE);
    in.has_quantity = true;
    in.quantity = 4;
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);
    assert_int_equal(res.step_number, 1);
    assert_int_equal(res.quantity_delta, 4);
    event_init(&in, "p-3", "P-1", "CUT", SCAN_JOB_COMPLETE);
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);
    assert_int_equal(res.step_number, 1);
    assert_false(res.order_completed);
    event_init(&in, "p-4", "P-1", "ASM", SCAN_JOB_COMPLETE);
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);
    assert_int_equal(res.step_number, 2);
    assert_true(res.order_completed);
    assert_int_equal(o->status, ORDER_COMPLETE);
    assert_string_equal(peek_str(f, buf, sizeof(buf), "SELECT group_concat(status || ':' || "
                                 "quantity_completed, ',') FROM (SELECT * FROM order_steps "
                                 "WHERE order_id = %lld ORDER BY step_number)",
                                 (long long)o->id), "complete:4,complete:0");
    for (size_t i = 0; i < o->route->n; i++)
        assert_int_equal(o->route->steps[i].status, STEP_COMPLETE);
    assert_int_equal(events(f), 4);
    assert_int_equal(audits(f, "scanner_event"), 4);
    assert_db_matches_cache(f);
    store_free(ws);
}

/* The cached prepare leaves the eventId look-up to the write: a repeated eventId is a
 * duplicate there (nothing written), even when its order or centre is unknown now (a retried
 * event whose order has gone); a new eventId with an unknown order or centre is refused by the
 * write, naming the field, and is not burnt; the shape is still refused at prepare. */
static void test_cached_prepare_leaves_the_duplicate_and_the_refusals_to_the_write(void **state)
{
    struct fx *f = *state;
    struct order *o = mk_order(f, "D-1", f->wc[0], NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;
    struct scanner_job *j = NULL;
    struct store *ws = NULL;
    const char *bad = NULL;
    char sql[400];

    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    event_init(&in, "d-1", "D-1", "CUT", SCAN_PROGRESS_UPDATE);
    in.has_quantity = true;
    in.quantity = 2;
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);
    assert_false(res.duplicate);
    assert_int_equal(o->quantity_completed, 2);
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);     /* again */
    assert_true(res.duplicate);
    assert_int_equal(o->quantity_completed, 2);
    assert_int_equal(o->version, 2);

    /* recorded for an order this board no longer has: still a duplicate */
    snprintf(sql, sizeof(sql), "INSERT INTO scanner_events(tenant_id, event_id, order_id, "
             "work_centre_id, event_type, quantity, timestamp, processed) VALUES (%lld, 'gone', "
             "%lld, %lld, 'job_start', 0, '2026-01-01T00:00:00Z', 1)", (long long)f->tenant,
             (long long)o->id, (long long)f->wc[0]);
    assert_int_equal(sqlite3_exec(f->peek, sql, NULL, NULL, NULL), SQLITE_OK);
    event_init(&in, "gone", "NO-SUCH", "CUT", SCAN_JOB_START);
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);
    assert_true(res.duplicate);
    event_init(&in, "gone", "D-1", "OLD", SCAN_JOB_START);         /* inactive centre */
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);
    assert_true(res.duplicate);

    /* new eventIds: refused by the write, naming the field, nothing written */
    event_init(&in, "d-2", "NO-SUCH", "CUT", SCAN_JOB_START);
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "orderNumber");
    event_init(&in, "d-2", "D-1", "NOPE", SCAN_JOB_START);
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "workCentreCode");
    event_init(&in, "d-2", "D-1", "OLD", SCAN_JOB_START);
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), PB_EVALIDATION);
    assert_string_equal(bad, "workCentreCode");
    assert_int_equal(events(f), 2);
    assert_int_equal(audits(f, "scanner_event"), 1);
    event_init(&in, "d-2", "D-1", "ASM", SCAN_JOB_START);          /* not burnt */
    assert_int_equal(cached_event(f, ws, &in, &res, &bad), 0);
    assert_false(res.duplicate);
    assert_true(res.moved);

    /* the shape: refused at prepare, no job */
    event_init(&in, "d-3", "D-1", "CUT", SCAN_PROGRESS_UPDATE);     /* no quantity */
    assert_int_equal(store_scanner_prepare_cached(f->b, &in, &j, &bad), PB_EVALIDATION);
    assert_null(j);
    assert_string_equal(bad, "quantity");
    assert_db_matches_cache(f);
    store_free(ws);
}

static void test_failed_commit_changes_nothing_and_the_event_can_be_retried(void **state)
{
    struct fx *f = *state;
    int64_t route[] = { f->wc[1] };
    struct order *a = mk_order(f, "F-A", f->wc[0], NULL, 0);
    struct order *o = mk_order(f, "F-1", f->wc[0], route, 1);
    struct order *c = mk_order(f, "F-C", f->wc[0], NULL, 0);
    struct scanner_event_input in;
    struct scanner_result res;
    int64_t all0 = peek_int(f, "SELECT COUNT(*) FROM audit_log");
    uint64_t bv = f->b->version;
    char buf[64];

    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                      "WHEN NEW.event_type = 'scanner_event' "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    event_init(&in, "f-1", "F-1", "ASM", SCAN_JOB_START);
    in.operation_name = "Assemble";
    assert_int_equal(apply(f, &in, &res), PB_EINTERNAL);
    /* nothing in SQLite: no event row, no move row, positions as they were */
    assert_int_equal(events(f), 0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log"), all0);
    assert_string_equal(peek_str(f, buf, sizeof(buf), "SELECT status FROM order_steps "
                                 "WHERE order_id = %lld", (long long)o->id), "pending");
    /* nothing in the cache */
    assert_int_equal(o->work_centre_id, f->wc[0]);
    assert_int_equal(order_position(o), 1);
    assert_int_equal(order_position(a), 0);
    assert_int_equal(order_position(c), 2);
    assert_int_equal(o->status, ORDER_NOT_STARTED);
    assert_null(o->current_operation);
    assert_int_equal(o->version, 1);
    assert_int_equal(f->b->version, bv);
    assert_db_matches_cache(f);

    /* the same event once the database works again is applied (its id was not burned) */
    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_audit"), 0);
    assert_int_equal(apply(f, &in, &res), 0);
    assert_false(res.duplicate);
    assert_true(res.moved);
    assert_int_equal(o->work_centre_id, f->wc[1]);
    assert_int_equal(order_position(c), 1);
    assert_int_equal(events(f), 1);
    assert_db_matches_cache(f);

    /* a failure of the progress path too */
    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_step BEFORE UPDATE ON order_steps "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    event_init(&in, "f-2", "F-1", "ASM", SCAN_PROGRESS_UPDATE);
    in.has_quantity = true;
    in.quantity = 4;
    assert_int_equal(apply(f, &in, &res), PB_EINTERNAL);
    assert_int_equal(o->quantity_completed, 0);
    assert_int_equal(events(f), 1);
    assert_db_matches_cache(f);
    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_step"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_key_is_stored_as_its_hash_and_lookup_finds_its_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key_create_rejects_bad_names_and_hashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key_revoke_stops_lookup_and_hides_it_from_the_list, setup, teardown),
        cmocka_unit_test(test_scanner_event_type_names_round_trip),
        cmocka_unit_test_setup_teardown(test_repeated_event_id_is_accepted_and_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_update_clamps_to_quantity_to_make_and_audits_the_real_delta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_start_moves_to_the_end_of_the_centre_and_starts_the_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_start_from_the_backlog_keeps_an_existing_start_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_complete_completes_the_order_only_after_its_last_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_complete_of_an_order_without_steps_completes_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_order_or_work_centre_is_a_validation_error_naming_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_changes_nothing_and_the_event_can_be_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_phases_on_a_sibling_connection_with_a_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_recorded_meanwhile_is_a_duplicate_at_write_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cached_prepare_plans_from_the_cached_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cached_prepare_leaves_the_duplicate_and_the_refusals_to_the_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
