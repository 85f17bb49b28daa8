/*
 * test_webhooks — SPEC §11 webhooks below the server: the store side (store/webhooks.c:
 * endpoints, the audit-log outbox, the delivery log and cursor) against a real SQLite file,
 * and the wire side (protocol/webhook.c: body, HMAC-SHA256 signature, SSRF address rule).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "core/errors.h"
#include "protocol/webhook.h"
#include "store/store.h"
#include "store/webhooks.h"

/* ---------------------------------------------------------------- fixture */

#include "test/db_peek.h"
#include "test/test_db.h"
#define peek_int(f, ...) db_peek_int((f)->peek, __VA_ARGS__)

static int setup(void **state)
{
    return test_tenants_setup(state, "webhooks");
}

static int teardown(void **state)
{
    return test_tenants_teardown(state);
}

/* Insert an audit row of `type` for tenant (order 7, from 1 to 2); returns its id. */
static int64_t audit(struct test_tenants *f, int64_t tenant, const char *type)
{
    char sql[400];
    snprintf(sql, sizeof(sql),
             "INSERT INTO audit_log(tenant_id, event_type, order_id, from_work_centre_id, "
             "to_work_centre_id, user_id, event_data, queue_depth_from, queue_depth_to, "
             "timestamp) VALUES (%lld, '%s', 7, 1, 2, NULL, '{\"reason\":\"x\"}', 3, NULL, "
             "'2026-01-02T03:04:05Z')", (long long)tenant, type);
    assert_int_equal(store_exec(f->s, sql), 0);
    return peek_int(f, "SELECT MAX(id) FROM audit_log");
}

static int64_t mk_hook(struct test_tenants *f, int64_t tenant, const char *events)
{
    struct webhook w;
    assert_int_equal(store_webhook_create(f->s, tenant, "https://example.com/h", events,
                                          "sekret", 0, &w), 0);
    int64_t id = w.id;
    webhook_cleanup(&w);
    return id;
}

/* ---------------------------------------------------------------- store: endpoints */

static void test_event_names_map_audit_rows_of_changes_only(void **state)
{
    (void)state;
    assert_string_equal(store_webhook_event_of("order_moved"), "order_moved");
    assert_string_equal(store_webhook_event_of("scanner_event"), "order_updated");
    assert_string_equal(store_webhook_event_of("work_centres_reordered"), "work_centre_updated");
    assert_null(store_webhook_event_of("user_created"));
    assert_null(store_webhook_event_of("webhook_created"));
    assert_null(store_webhook_event_of(NULL));
    assert_true(store_webhook_event_known("orders_imported"));
    assert_false(store_webhook_event_known("order_locked"));   /* a lock is not a change */
    assert_false(store_webhook_event_known("scanner_event"));  /* an audit type, not an event */
}

static void test_a_new_endpoint_starts_after_the_tenants_last_audit_row(void **state)
{
    struct test_tenants *f = *state;
    audit(f, f->tenant, "order_moved");
    int64_t last = audit(f, f->tenant, "order_created");
    audit(f, f->other, "order_created");
    struct webhook w;
    assert_int_equal(store_webhook_create(f->s, f->tenant, "https://example.com/h",
                                          "[\"*\"]", "sekret", 0, &w), 0);
    assert_int_equal(w.cursor, last);
    assert_false(w.failing);
    assert_string_equal(w.secret, "sekret");
    assert_int_equal(peek_int(f, "SELECT cursor FROM webhooks WHERE id = %lld", (long long)w.id),
                     last);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = "
                                 "'webhook_created' AND tenant_id = %lld", (long long)f->tenant), 1);
    webhook_cleanup(&w);
}

static void test_list_get_delete_are_scoped_by_tenant(void **state)
{
    struct test_tenants *f = *state;
    int64_t a = mk_hook(f, f->tenant, "[\"order_moved\"]");
    int64_t b = mk_hook(f, f->other, "[\"*\"]");
    struct webhook *v;
    size_t n;
    struct webhook w;

    assert_int_equal(store_webhook_list(f->s, f->tenant, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a);
    assert_string_equal(v[0].events, "[\"order_moved\"]");
    webhook_cleanup(&v[0]);
    free(v);
    assert_int_equal(store_webhook_list(f->s, 0, &v, &n), 0);      /* every tenant */
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        webhook_cleanup(&v[i]);
    free(v);
    assert_int_equal(store_webhook_get(f->s, f->tenant, b, &w), PB_ENOT_FOUND);
    assert_int_equal(store_webhook_delete(f->s, f->tenant, b, 0), PB_ENOT_FOUND);
    assert_int_equal(store_webhook_delete(f->s, f->tenant, a, 0), 0);
    assert_int_equal(store_webhook_delete(f->s, f->tenant, a, 0), PB_ENOT_FOUND);
    assert_int_equal(store_webhook_get(f->s, f->tenant, a, &w), PB_ENOT_FOUND);
    assert_int_equal(store_webhook_get(f->s, f->other, b, &w), 0);
    webhook_cleanup(&w);
}

static void test_a_tenant_has_at_most_32_live_endpoints(void **state)
{
    struct test_tenants *f = *state;
    int64_t first = 0;
    for (int i = 0; i < PB_WEBHOOKS_PER_TENANT; i++) {
        int64_t id = mk_hook(f, f->tenant, "[\"*\"]");
        if (i == 0)
            first = id;
    }
    assert_int_equal(store_webhook_create(f->s, f->tenant, "https://example.com/h", "[\"*\"]",
                                          "s", 0, NULL), PB_ETOO_LARGE);
    mk_hook(f, f->other, "[\"*\"]");                               /* per tenant */
    assert_int_equal(store_webhook_delete(f->s, f->tenant, first, 0), 0);
    mk_hook(f, f->tenant, "[\"*\"]");                              /* room again */
}

/* ---------------------------------------------------------------- store: outbox */

static void test_outbox_reads_the_tenants_changes_after_the_cursor_in_id_order(void **state)
{
    struct test_tenants *f = *state;
    int64_t before = audit(f, f->tenant, "order_moved");
    int64_t a = audit(f, f->tenant, "order_moved");
    audit(f, f->tenant, "user_created");                           /* not a change */
    audit(f, f->other, "order_moved");                             /* another tenant */
    int64_t b = audit(f, f->tenant, "scanner_event");
    int64_t c = audit(f, f->tenant, "work_centre_deleted");
    struct audit_entry e[4];
    size_t n;

    assert_int_equal(store_webhook_outbox(f->s, f->tenant, before, 4, e, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(e[0].id, a);
    assert_int_equal(e[1].id, b);
    assert_int_equal(e[2].id, c);
    assert_string_equal(e[1].event_type, "scanner_event");
    assert_int_equal(e[0].order_id, 7);
    assert_int_equal(e[0].queue_depth_from, 3);
    assert_int_equal(e[0].queue_depth_to, -1);
    assert_string_equal(e[0].event_data, "{\"reason\":\"x\"}");
    assert_string_equal(e[0].timestamp, "2026-01-02T03:04:05Z");
    for (size_t i = 0; i < n; i++)
        audit_entry_cleanup(&e[i]);
    assert_int_equal(store_webhook_outbox(f->s, f->tenant, a, 1, e, &n), 0);   /* max */
    assert_int_equal(n, 1);
    assert_int_equal(e[0].id, b);
    audit_entry_cleanup(&e[0]);
    assert_int_equal(store_webhook_outbox(f->s, f->tenant, c, 4, e, &n), 0);
    assert_int_equal(n, 0);
}

/* ---------------------------------------------------------------- store: delivery log */

static void save(struct test_tenants *f, const struct webhook_delivery *d, bool failing)
{
    assert_int_equal(store_exec(f->s, "BEGIN"), 0);
    assert_int_equal(store_webhook_delivery_save(f->s, d, failing), 0);
    assert_int_equal(store_exec(f->s, "COMMIT"), 0);
}

static void test_a_failed_attempt_is_logged_and_leaves_the_cursor(void **state)
{
    struct test_tenants *f = *state;
    int64_t id = mk_hook(f, f->tenant, "[\"*\"]");
    int64_t seq = audit(f, f->tenant, "order_moved");
    struct webhook_delivery d = { .webhook_id = id, .tenant_id = f->tenant, .seq = seq,
                                  .event = "order_moved", .attempts = 3, .http_status = 503,
                                  .last_error = (char *)"HTTP 503", .first_attempt_ms = 1000,
                                  .next_attempt_ms = 9000 };
    struct webhook_delivery got;

    int64_t cursor = peek_int(f, "SELECT cursor FROM webhooks WHERE id = %lld", (long long)id);
    assert_true(cursor < seq);
    save(f, &d, true);
    assert_int_equal(peek_int(f, "SELECT cursor FROM webhooks WHERE id = %lld", (long long)id),
                     cursor);
    assert_int_equal(peek_int(f, "SELECT state = 'failing' FROM webhooks WHERE id = %lld",
                              (long long)id), 1);
    assert_int_equal(store_webhook_delivery_get(f->s, id, seq, &got), 1);
    assert_false(got.delivered);
    assert_int_equal(got.attempts, 3);
    assert_int_equal(got.http_status, 503);
    assert_string_equal(got.last_error, "HTTP 503");
    assert_int_equal(got.first_attempt_ms, 1000);
    assert_int_equal(got.next_attempt_ms, 9000);
    assert_string_equal(got.delivered_at, "");
    webhook_delivery_cleanup(&got);
    assert_int_equal(store_webhook_delivery_get(f->s, id, seq + 1, &got), 0);
}

static void test_a_delivery_moves_the_cursor_forward_only_and_keeps_one_row(void **state)
{
    struct test_tenants *f = *state;
    int64_t id = mk_hook(f, f->tenant, "[\"*\"]");
    int64_t s1 = audit(f, f->tenant, "order_moved");
    int64_t s2 = audit(f, f->tenant, "order_moved");
    struct webhook_delivery d = { .webhook_id = id, .tenant_id = f->tenant, .seq = s2,
                                  .event = "order_moved", .attempts = 1, .first_attempt_ms = 1 };
    save(f, &d, true);                                      /* pending, failing */
    d.delivered = true;
    d.attempts = 2;
    d.http_status = 204;
    snprintf(d.delivered_at, sizeof(d.delivered_at), "2026-01-02T03:04:06Z");
    save(f, &d, false);
    assert_int_equal(peek_int(f, "SELECT cursor FROM webhooks WHERE id = %lld", (long long)id), s2);
    assert_int_equal(peek_int(f, "SELECT state = 'active' FROM webhooks WHERE id = %lld",
                              (long long)id), 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM webhook_deliveries"), 1);
    /* A late write of an older delivery (a redelivery after a restart) never moves it back. */
    d.seq = s1;
    save(f, &d, false);
    assert_int_equal(peek_int(f, "SELECT cursor FROM webhooks WHERE id = %lld", (long long)id), s2);
    /* Attempts never go down either (a stale write after a newer one). */
    d.seq = s2;
    d.attempts = 1;
    save(f, &d, false);
    assert_int_equal(peek_int(f, "SELECT attempts FROM webhook_deliveries WHERE seq = %lld",
                              (long long)s2), 2);

    struct webhook_delivery *v;
    size_t n;
    assert_int_equal(store_webhook_deliveries(f->s, f->tenant, id, 10, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].seq, s2);                       /* newest first */
    assert_true(v[0].delivered);
    assert_string_equal(v[0].delivered_at, "2026-01-02T03:04:06Z");
    assert_int_equal(v[1].seq, s1);
    for (size_t i = 0; i < n; i++)
        webhook_delivery_cleanup(&v[i]);
    free(v);
    assert_int_equal(store_webhook_deliveries(f->s, f->tenant, id, 1, &v, &n), 0);
    assert_int_equal(n, 1);
    webhook_delivery_cleanup(&v[0]);
    free(v);
    assert_int_equal(store_webhook_deliveries(f->s, f->other, id, 10, &v, &n), 0);
    assert_int_equal(n, 0);                               /* another tenant sees none */
    free(v);
}

/* The delivery log stays bounded: past PB_WEBHOOK_DELIVERIES_KEPT delivered rows an endpoint
 * keeps its newest (a pending one is never pruned), another endpoint's rows are untouched. */
static void test_the_delivery_log_keeps_the_newest_rows_of_an_endpoint(void **state)
{
    struct test_tenants *f = *state;
    int64_t id = mk_hook(f, f->tenant, "[\"*\"]");
    int64_t other = mk_hook(f, f->tenant, "[\"*\"]");
    struct webhook_delivery d = { .webhook_id = other, .tenant_id = f->tenant, .seq = 1,
                                  .event = "order_moved", .attempts = 1, .first_attempt_ms = 1,
                                  .delivered = true };
    save(f, &d, false);
    d.webhook_id = id;
    d.delivered = false;
    d.seq = 2;
    save(f, &d, false);                                     /* pending: never pruned */
    d.delivered = true;
    assert_int_equal(store_exec(f->s, "BEGIN"), 0);
    for (int64_t seq = 3; seq < 3 + 1500; seq++) {
        d.seq = seq;
        assert_int_equal(store_webhook_delivery_save(f->s, &d, false), 0);
    }
    assert_int_equal(store_exec(f->s, "COMMIT"), 0);
    int64_t n = peek_int(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = %lld "
                            "AND status = 'delivered'", (long long)id);
    assert_true(n >= PB_WEBHOOK_DELIVERIES_KEPT);
    assert_true(n < PB_WEBHOOK_DELIVERIES_KEPT + PB_WEBHOOK_PRUNE_EVERY);
    assert_int_equal(peek_int(f, "SELECT MAX(seq) FROM webhook_deliveries WHERE webhook_id = %lld",
                              (long long)id), 3 + 1500 - 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = %lld "
                                 "AND status = 'pending'", (long long)id), 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = %lld",
                              (long long)other), 1);
}

static void test_delivery_id_is_the_same_for_the_same_endpoint_and_seq(void **state)
{
    char a[PB_WEBHOOK_DELIVERY_ID_MAX], b[PB_WEBHOOK_DELIVERY_ID_MAX];
    (void)state;
    webhook_delivery_id(3, 41, a);
    webhook_delivery_id(3, 41, b);
    assert_string_equal(a, "whd_3_41");
    assert_string_equal(a, b);
    webhook_delivery_id(INT64_MAX, INT64_MAX, a);         /* fits */
    assert_string_equal(a, "whd_9223372036854775807_9223372036854775807");
}

/* ---------------------------------------------------------------- protocol: signature, body */

static void test_signature_matches_an_independent_hmac_sha256(void **state)
{
    char sig[WEBHOOK_SIGNATURE_MAX];
    (void)state;
    /* Python: hmac.new(b'whsec_test', b'1700000000.{"a":1}', hashlib.sha256).hexdigest() */
    assert_int_equal(webhook_signature("whsec_test", 1700000000, "{\"a\":1}", 7, sig), 0);
    assert_string_equal(sig, "t=1700000000,v1="
                        "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
    /* hmac.new(b'key', b'1.The quick brown fox', hashlib.sha256) */
    assert_int_equal(webhook_signature("key", 1, "The quick brown fox", 19, sig), 0);
    assert_string_equal(sig, "t=1,v1="
                        "1ef269d2a2a1f8d397e0e25c3e3013fb5687509234565e6e49ea45a138768457");
    /* Only len bytes of the body are signed. */
    assert_int_equal(webhook_signature("key", 1, "The quick brown fox!!", 19, sig), 0);
    assert_string_equal(sig, "t=1,v1="
                        "1ef269d2a2a1f8d397e0e25c3e3013fb5687509234565e6e49ea45a138768457");
}

static void test_body_has_the_spec_fields_and_the_audit_row_as_data(void **state)
{
    struct audit_entry e = { .id = 42, .event_type = (char *)"order_moved", .order_id = 7,
                             .from_work_centre_id = 0, .to_work_centre_id = 3, .user_id = 5,
                             .event_data = (char *)"{\"reason\":\"rush\"}",
                             .queue_depth_from = 2, .queue_depth_to = -1,
                             .timestamp = "2026-01-02T03:04:05Z" };
    (void)state;
    char *txt = webhook_body("whd_1_42", "order_moved", "acme", &e);
    assert_non_null(txt);
    cJSON *o = cJSON_Parse(txt);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "deliveryId")->valuestring, "whd_1_42");
    assert_string_equal(cJSON_GetObjectItem(o, "event")->valuestring, "order_moved");
    assert_int_equal(cJSON_GetObjectItem(o, "seq")->valuedouble, 42);
    assert_string_equal(cJSON_GetObjectItem(o, "tenant")->valuestring, "acme");
    assert_string_equal(cJSON_GetObjectItem(o, "timestamp")->valuestring, "2026-01-02T03:04:05Z");
    cJSON *d = cJSON_GetObjectItem(o, "data");
    assert_int_equal(cJSON_GetObjectItem(d, "orderId")->valuedouble, 7);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "fromWorkCentreId")));   /* backlog */
    assert_int_equal(cJSON_GetObjectItem(d, "toWorkCentreId")->valuedouble, 3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "queueDepthTo")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "details"), "reason")->valuestring,
                        "rush");
    cJSON_Delete(o);
    /* The same text every time (a retry signs the same body). */
    char *again = webhook_body("whd_1_42", "order_moved", "acme", &e);
    assert_string_equal(txt, again);
    free(again);
    free(txt);
#if !defined(__SANITIZE_ADDRESS__)     /* there json_output_check asserts where it is built */
    /* Invalid UTF-8 in a stored field is never sent (SPEC §4). */
    e.event_type = (char *)"order\xff";
    assert_null(webhook_body("whd_1_42", "order_moved", "acme", &e));
#endif
}

/* ---------------------------------------------------------------- protocol: SSRF rule */

static bool v4(const char *a)
{
    struct sockaddr_in s = { .sin_family = AF_INET };
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return webhook_address_private((struct sockaddr *)&s);
}

static bool v6(const char *a)
{
    struct sockaddr_in6 s = { .sin6_family = AF_INET6 };
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    return webhook_address_private((struct sockaddr *)&s);
}

static void test_loopback_private_and_link_local_addresses_are_refused(void **state)
{
    (void)state;
    const char *refused4[] = { "127.0.0.1", "127.255.0.9", "10.0.0.1", "172.16.0.1",
                               "172.31.255.255", "192.168.1.1", "169.254.169.254", "0.0.0.0",
                               "100.64.0.1", "255.255.255.255" };
    const char *allowed4[] = { "8.8.8.8", "172.15.255.255", "172.32.0.0", "192.169.0.1",
                               "100.128.0.1", "11.0.0.1", "93.184.216.34" };
    const char *refused6[] = { "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1",
                               "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::192.168.0.1" };
    const char *allowed6[] = { "2001:db8::1", "2606:4700::1111", "fec0::1", "::ffff:8.8.8.8" };
    for (size_t i = 0; i < sizeof(refused4) / sizeof(*refused4); i++)
        assert_true(v4(refused4[i]));
    for (size_t i = 0; i < sizeof(allowed4) / sizeof(*allowed4); i++)
        assert_false(v4(allowed4[i]));
    for (size_t i = 0; i < sizeof(refused6) / sizeof(*refused6); i++)
        assert_true(v6(refused6[i]));
    for (size_t i = 0; i < sizeof(allowed6) / sizeof(*allowed6); i++)
        assert_false(v6(allowed6[i]));
    struct sockaddr un = { .sa_family = AF_UNIX };
    assert_true(webhook_address_private(&un));
    assert_true(webhook_address_private(NULL));
}

static void test_url_hosts_that_name_a_private_address_are_refused(void **state)
{
    (void)state;
    assert_true(webhook_host_private("127.0.0.1"));
    assert_true(webhook_host_private("[::1]"));
    assert_true(webhook_host_private("[fe80::1%25eth0]"));
    assert_true(webhook_host_private("[::ffff:192.168.0.1]"));
    assert_true(webhook_host_private("localhost"));
    assert_true(webhook_host_private("LocalHost."));
    assert_true(webhook_host_private("app.localhost"));
    assert_false(webhook_host_private("notlocalhost"));
    assert_false(webhook_host_private("example.com"));
    assert_false(webhook_host_private("8.8.8.8"));
    assert_false(webhook_host_private("[2001:db8::1]"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_names_map_audit_rows_of_changes_only),
        cmocka_unit_test_setup_teardown(test_a_new_endpoint_starts_after_the_tenants_last_audit_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_get_delete_are_scoped_by_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_tenant_has_at_most_32_live_endpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_reads_the_tenants_changes_after_the_cursor_in_id_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_attempt_is_logged_and_leaves_the_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_delivery_moves_the_cursor_forward_only_and_keeps_one_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_delivery_log_keeps_the_newest_rows_of_an_endpoint, setup, teardown),
        cmocka_unit_test(test_delivery_id_is_the_same_for_the_same_endpoint_and_seq),
        cmocka_unit_test(test_signature_matches_an_independent_hmac_sha256),
        cmocka_unit_test(test_body_has_the_spec_fields_and_the_audit_row_as_data),
        cmocka_unit_test(test_loopback_private_and_link_local_addresses_are_refused),
        cmocka_unit_test(test_url_hosts_that_name_a_private_address_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
