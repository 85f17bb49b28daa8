/* Unit tests of protocol/json: the JSON shapes of SPEC §2/§4 and the body readers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "protocol/json.h"
#include "core/utf8.h"

static struct order sample_order(void)
{
    struct order o;
    memset(&o, 0, sizeof(o));
    o.id = 7;
    o.order_number = "MO-1";
    o.stock_code = "STK";
    o.description = "Bracket, \"CE\"";
    o.quantity_to_make = 9007199254740;
    o.quantity_completed = 3;
    o.work_centre_id = 0;
    o.status = ORDER_IN_PROGRESS;
    o.priority = PRIORITY_URGENT;
    strcpy(o.due_date, "2026-12-01");
    o.version = 4;
    return o;
}

static void test_order_in_backlog_has_null_work_centre_and_camel_keys(void **state)
{
    struct order o = sample_order();
    (void)state;
    cJSON *j = json_order(&o, NULL);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "workCentreId")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "lockedBy")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "startDate")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "currentOperation")));
    assert_string_equal(cJSON_GetObjectItem(j, "orderNumber")->valuestring, "MO-1");
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "in_progress");
    assert_string_equal(cJSON_GetObjectItem(j, "priority")->valuestring, "urgent");
    assert_string_equal(cJSON_GetObjectItem(j, "dueDate")->valuestring, "2026-12-01");
    char *s = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(s, "\"quantityToMake\":9007199254740,"));
    free(s);
    cJSON_Delete(j);
}

/* SPEC §2 position is the order's index in its column's tree, computed when encoded. */
static void test_order_position_is_its_index_in_its_column(void **state)
{
    struct order a = sample_order(), b = sample_order(), o = sample_order();
    struct ostree col = { 0 };
    (void)state;
    ostree_insert_at(&col, 0, &o.column_node);
    ostree_insert_at(&col, 0, &b.column_node);
    ostree_insert_at(&col, 0, &a.column_node);     /* a b o */
    cJSON *j = json_order(&o, NULL);
    assert_int_equal(cJSON_GetObjectItem(j, "position")->valueint, 2);
    cJSON_Delete(j);
    ostree_remove(&col, &a.column_node);
    j = json_order(&o, NULL);
    assert_int_equal(cJSON_GetObjectItem(j, "position")->valueint, 1);
    cJSON_Delete(j);
}

static void test_order_with_lock_names_the_holder(void **state)
{
    struct order o = sample_order();
    struct drag_lock l = { .tenant_id = 1, .order_id = 7, .user_id = 3, .username = "sam",
                           .expires_at_ms = 1795000000000LL };
    (void)state;
    o.work_centre_id = 5;
    cJSON *j = json_order(&o, &l);
    cJSON *by = cJSON_GetObjectItem(j, "lockedBy");
    assert_int_equal(cJSON_GetObjectItem(j, "workCentreId")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(by, "userId")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItem(by, "username")->valuestring, "sam");
    assert_string_equal(cJSON_GetObjectItem(by, "expiresAt")->valuestring, "2026-11-18T11:06:40Z");
    cJSON_Delete(j);
}

static void test_error_body_has_error_code_and_extra_members(void **state)
{
    (void)state;
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "orderNumber", "MO-1");
    char *s = json_error_body(PB_ELOCKED, "held", extra);
    cJSON *j = cJSON_Parse(s);
    assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring, "held");
    assert_string_equal(cJSON_GetObjectItem(j, "code")->valuestring, "locked");
    assert_string_equal(cJSON_GetObjectItem(j, "orderNumber")->valuestring, "MO-1");
    assert_int_equal(pb_error_status(PB_ELOCKED), 423);
    cJSON_Delete(j);
    free(s);
}

static void test_every_spec_error_code_maps_to_its_status(void **state)
{
    static const struct { int err, status; const char *code; } t[] = {
        { PB_EINVALID_JSON, 400, "invalid_json" }, { PB_EVALIDATION, 400, "validation_failed" },
        { PB_EUNAUTHORIZED, 401, "unauthorized" }, { PB_EFORBIDDEN, 403, "forbidden" },
        { PB_ENOT_FOUND, 404, "not_found" }, { PB_ECONFLICT, 409, "conflict" },
        { PB_ETOO_LARGE, 413, "payload_too_large" },
        { PB_EUNSUPPORTED_MEDIA, 415, "unsupported_media_type" },
        { PB_EIMPORT_FAILED, 422, "import_failed" }, { PB_ELOCKED, 423, "locked" },
        { PB_ERATE_LIMITED, 429, "rate_limited" }, { PB_EINTERNAL, 500, "internal" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(pb_error_status(t[i].err), t[i].status);
        assert_string_equal(pb_error_code(t[i].err), t[i].code);
    }
}

static void test_get_int_rejects_fractions_strings_and_reports_camel_field(void **state)
{
    struct json_details d;
    int64_t v = -1;
    (void)state;
    cJSON *b = cJSON_Parse("{\"a\": 3, \"b\": 2.5, \"c\": \"4\", \"d\": null}");
    json_details_init(&d);
    assert_int_equal(json_get_int(b, "a", &v, &d), 0);
    assert_int_equal(v, 3);
    assert_int_equal(json_get_int(b, "b", &v, &d), PB_EVALIDATION);
    assert_int_equal(json_get_int(b, "c", &v, &d), PB_EVALIDATION);
    assert_int_equal(json_get_int(b, "missing", &v, &d), 1);
    assert_int_equal(json_get_id_or_null(b, "d", &v, &d), 0);
    assert_int_equal(v, 0);
    json_details_add(&d, "quantity_to_make", "must be > 0");
    assert_int_equal(d.count, 3);
    cJSON *x = json_details_take(&d);
    cJSON *last = cJSON_GetArrayItem(cJSON_GetObjectItem(x, "details"), 2);
    assert_string_equal(cJSON_GetObjectItem(last, "field")->valuestring, "quantityToMake");
    cJSON_Delete(x);
    cJSON_Delete(b);
}

/* ================================================================ UTF-8 (core/utf8) */

#define V(lit) utf8_valid(lit, sizeof(lit) - 1)

static void test_utf8_valid_accepts_rfc3629_sequences_at_every_length_and_boundary(void **state)
{
    (void)state;
    assert_true(V(""));
    assert_true(V("plain ASCII, long enough to take the 8-byte path"));
    assert_true(V("caf\xc3\xa9"));                  /* U+00E9 */
    assert_true(V("\xc2\x80"));                     /* U+0080, the first 2-byte */
    assert_true(V("\xdf\xbf"));                     /* U+07FF */
    assert_true(V("\xe0\xa0\x80"));                 /* U+0800, the first 3-byte */
    assert_true(V("\xed\x9f\xbf"));                 /* U+D7FF, just below the surrogates */
    assert_true(V("\xee\x80\x80"));                 /* U+E000, just above them */
    assert_true(V("\xef\xbf\xbd"));                 /* U+FFFD */
    assert_true(V("\xf0\x90\x80\x80"));             /* U+10000, the first 4-byte */
    assert_true(V("\xf4\x8f\xbf\xbf"));             /* U+10FFFF, the last code point */
    assert_true(V("a\0b"));                         /* NUL is UTF-8 ... */
    assert_false(utf8_text_valid("a\0b", 3));       /* ... but not valid text (SPEC §4) */
    assert_true(utf8_text_valid("ab", 2));
}

static void test_utf8_valid_rejects_overlongs_surrogates_out_of_range_and_truncation(void **state)
{
    (void)state;
    assert_false(V("\xff\xfe"));                    /* never in UTF-8 */
    assert_false(V("\x80"));                        /* lone continuation */
    assert_false(V("\xc0\xaf"));                    /* overlong '/' */
    assert_false(V("\xc1\xbf"));                    /* overlong U+007F */
    assert_false(V("\xe0\x9f\xbf"));                /* overlong U+07FF */
    assert_false(V("\xf0\x8f\xbf\xbf"));            /* overlong U+FFFF */
    assert_false(V("\xed\xa0\x80"));                /* U+D800, a surrogate */
    assert_false(V("\xed\xbf\xbf"));                /* U+DFFF */
    assert_false(V("\xf4\x90\x80\x80"));            /* U+110000 */
    assert_false(V("\xf5\x80\x80\x80"));
    assert_false(V("\xe2\x82"));                    /* truncated U+20AC */
    assert_false(V("abcdefgh\xe2\x82"));            /* ... after the 8-byte path */
    assert_false(V("\xc3(x"));                      /* continuation missing */
}

static void repair_case(const char *in, size_t n, const char *want)
{
    char out[64];
    assert_true(utf8_repair_max(n) <= sizeof(out));
    size_t m = utf8_repair(in, n, out);
    assert_int_equal(m, strlen(want));
    assert_memory_equal(out, want, m);
    assert_true(utf8_text_valid(out, m));
}

static void test_utf8_repair_replaces_maximal_subparts_and_drops_nul(void **state)
{
    (void)state;
    /* The expected outputs are those of the WHATWG decoder (Node's TextDecoder). */
    repair_case("A\xff\xfe" "B", 4, "A\xef\xbf\xbd\xef\xbf\xbd" "B");
    repair_case("S\xe2\x82", 3, "S\xef\xbf\xbd");                 /* one U+FFFD for E2 82 */
    repair_case("\xe0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd");       /* E0 80: two */
    repair_case("\xf0\x90\x80" "A", 4, "\xef\xbf\xbd" "A");
    repair_case("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    repair_case("Cut\0t", 5, "Cutt");
    repair_case("caf\xc3\xa9", 5, "caf\xc3\xa9");                 /* valid text is kept */
}

static void test_utf8_floor_never_cuts_inside_a_character(void **state)
{
    const char *s = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";  /* a b é € 😀 z */
    (void)state;
    assert_int_equal(utf8_floor(s, 0), 0);
    assert_int_equal(utf8_floor(s, 2), 2);
    assert_int_equal(utf8_floor(s, 3), 2);          /* inside é */
    assert_int_equal(utf8_floor(s, 4), 4);
    assert_int_equal(utf8_floor(s, 6), 4);          /* inside € */
    assert_int_equal(utf8_floor(s, 7), 7);
    assert_int_equal(utf8_floor(s, 10), 7);         /* inside 😀, three bytes in */
    assert_int_equal(utf8_floor(s, 11), 11);
}

/* ================================================================ strict parse (SPEC §4) */

/* Parse with a fresh report; returns the code and leaves the first detail's field in field[]. */
static int strict(const char *buf, size_t len, char field[128], int *ndetails)
{
    struct json_details d;
    cJSON *j = NULL;
    json_details_init(&d);
    int rc = json_parse_strict(buf, len, &j, &d);
    field[0] = '\0';
    *ndetails = d.count;
    if (d.count > 0) {
        cJSON *f = cJSON_GetObjectItem(cJSON_GetArrayItem(d.details, 0), "field");
        snprintf(field, 128, "%s", f->valuestring);
    }
    if (rc == 0 || rc == PB_EVALIDATION)
        assert_non_null(j);
    else
        assert_null(j);
    cJSON_Delete(j);
    json_details_cleanup(&d);
    return rc;
}

#define STRICT(lit, f, n) strict(lit, sizeof(lit) - 1, f, n)

static void test_strict_parse_rejects_trailing_data_and_accepts_trailing_whitespace(void **state)
{
    char f[128];
    int n;
    (void)state;
    assert_int_equal(STRICT("{\"a\":1}", f, &n), 0);
    assert_int_equal(STRICT(" \r\n\t{\"a\":1} \r\n\t", f, &n), 0);
    assert_int_equal(STRICT("{\"orderNumber\":\"X\"}}", f, &n), PB_EINVALID_JSON);
    assert_int_equal(STRICT("{\"a\":1} x", f, &n), PB_EINVALID_JSON);
    assert_int_equal(STRICT("{\"a\":1}{}", f, &n), PB_EINVALID_JSON);
    assert_int_equal(STRICT("{\"a\":1}\0", f, &n), PB_EINVALID_JSON);
    assert_int_equal(STRICT("{\"a\":1}\x0b", f, &n), PB_EINVALID_JSON);   /* not JSON space */
    assert_int_equal(STRICT("\x01{\"a\":1}", f, &n), PB_EINVALID_JSON);
    assert_int_equal(STRICT("1 2", f, &n), PB_EINVALID_JSON);
    assert_int_equal(STRICT("", f, &n), PB_EINVALID_JSON);
    assert_int_equal(STRICT("   ", f, &n), PB_EINVALID_JSON);
    assert_int_equal(STRICT("{\"a\":", f, &n), PB_EINVALID_JSON);
    assert_int_equal(n, 0);             /* not JSON: nothing reported */
    assert_int_equal(STRICT("{\"a\":1}}", f, &n), PB_EINVALID_JSON);
    assert_int_equal(n, 1);             /* trailing data: reported as "body" */
    assert_string_equal(f, "body");
}

static void test_strict_parse_names_the_json_path_of_invalid_utf8(void **state)
{
    char f[128];
    int n;
    (void)state;
    assert_int_equal(STRICT("{\"orderNumber\":\"MO\xff\xfe\"}", f, &n), PB_EVALIDATION);
    assert_string_equal(f, "orderNumber");
    assert_int_equal(STRICT("{\"a\":\"ok\",\"steps\":[{\"operationName\":\"Cut\"},"
                            "{\"x\":1,\"operationName\":\"We\xc0\xafld\"}]}", f, &n), PB_EVALIDATION);
    assert_string_equal(f, "steps[1].operationName");
    assert_int_equal(STRICT("{\"data\":{\"list\":[[\"a\",\"\xed\xa0\x80\"]]}}", f, &n), PB_EVALIDATION);
    assert_string_equal(f, "data.list[0][1]");
    assert_int_equal(STRICT("\"\xff\"", f, &n), PB_EVALIDATION);
    assert_string_equal(f, "body");
    /* A bad key is named by its path, its bad bytes shown as U+FFFD. */
    assert_int_equal(STRICT("{\"o\":{\"k\xff\":1}}", f, &n), PB_EVALIDATION);
    assert_string_equal(f, "o.k\xef\xbf\xbd");
    /* Every offender is reported (up to JSON_STRICT_MAX_DETAILS). */
    assert_int_equal(STRICT("{\"a\":\"\xff\",\"b\":\"ok\",\"c\":\"\xfe\"}", f, &n), PB_EVALIDATION);
    assert_int_equal(n, 2);
    assert_int_equal(STRICT("[\"\xff\",\"\xff\",\"\xff\",\"\xff\",\"\xff\",\"\xff\",\"\xff\","
                            "\"\xff\",\"\xff\",\"\xff\",\"\xff\",\"\xff\"]", f, &n), PB_EVALIDATION);
    assert_int_equal(n, JSON_STRICT_MAX_DETAILS);
    /* Valid multi-byte text and escapes (a surrogate pair) are fine. */
    assert_int_equal(STRICT("{\"d\":\"caf\xc3\xa9 \\ud83d\\ude00 \\u00e9 \\\"q\\\" \\\\\"}", f, &n), 0);
}

static void test_strict_parse_rejects_nul_escaped_or_raw_but_not_an_escaped_backslash(void **state)
{
    char f[128];
    int n;
    (void)state;
    assert_int_equal(STRICT("{\"description\":\"cut\\u0000here\"}", f, &n), PB_EVALIDATION);
    assert_string_equal(f, "description");
    assert_int_equal(STRICT("{\"a\":[1,{\"b\":\"x\0y\"}]}", f, &n), PB_EVALIDATION);
    assert_string_equal(f, "a[1].b");
    assert_int_equal(STRICT("{\"k\\u0000\":1}", f, &n), PB_EVALIDATION);
    assert_string_equal(f, "k");            /* the key as cJSON cut it */
    /* "\\u0000" is a backslash followed by the text u0000: no NUL. */
    assert_int_equal(STRICT("{\"a\":\"\\\\u0000\"}", f, &n), 0);
    /* A lone surrogate escape is not JSON text cJSON accepts. */
    assert_int_equal(STRICT("{\"a\":\"\\ud800\"}", f, &n), PB_EINVALID_JSON);
}

static void test_details_names_finds_a_reported_field(void **state)
{
    struct json_details d;
    cJSON *j = NULL;
    (void)state;
    const char *msg = "{\"ref\":\"a\\u0000\",\"event\":\"ping\"}";
    json_details_init(&d);
    assert_int_equal(json_parse_strict(msg, strlen(msg), &j, &d), PB_EVALIDATION);
    assert_true(json_details_names(&d, "ref"));
    assert_false(json_details_names(&d, "event"));
    cJSON_Delete(j);
    json_details_cleanup(&d);
}

static void test_output_check_passes_valid_text_and_refuses_invalid(void **state)
{
    (void)state;
    assert_int_equal(json_output_check("{\"a\":\"caf\xc3\xa9\"}", 13, "test"), 0);
#if !defined(__SANITIZE_ADDRESS__)   /* sanitizer builds abort on a refusal, by design */
    assert_int_equal(json_output_check("{\"a\":\"\xff\"}", 9, "test"), PB_EINTERNAL);
    assert_int_equal(json_output_check("{\"a\":\"\0\"}", 9, "test"), PB_EINTERNAL);
#endif
}

/* cJSON's printer copies string bytes as they are: what goes in invalid comes out invalid,
 * which is why the output check exists at all. */
static void test_printer_does_not_repair_invalid_strings(void **state)
{
    (void)state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "a", "\xff");
    char *s = cJSON_PrintUnformatted(o);
    assert_false(utf8_valid(s, strlen(s)));
    free(s);
    cJSON_Delete(o);
}

/* Found by fuzz_json_strict: when a path passed 256 bytes, "..." was written at the end of
 * the path so far but the length jumped to a fixed 259, so a shorter path carried stale bytes
 * of a longer sibling's path, cut inside a character: invalid UTF-8 in the answer. */
static void test_long_invalid_paths_stay_valid_utf8(void **state)
{
    static const char in[] =
        "\x7b\x22\x6b\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x91\xb8\xe8\x42\x91\xff\xff\xff\xff\xff\xff\xff\xdf\xff\xff\xff\xff\xff\xff\xff\xff\x9d\xc6\x03\xa9\xc3\x22\x3a\x5b\x31\x2c\x32\x2c\x7b\x22\x78\xab\xa3\xb4"
        "\xb4\xb4\xb4\xb4\xb4\xb4\x22\x3a\x22\x6d\x22\x2c\x22\x64\x61\x72\x6b\x43\x65\x6e\x74\x6f\x72\x64\x65\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xb4\xff\xff\xff"
        "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xb4\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa5\xa3\x72\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\xa3\x22\x3a\x22\xe2\x82\xac\x22\x7d\x5d\x7d";
    cJSON *j = NULL, *e;
    struct json_details d;
    (void)state;
    json_details_init(&d);
    assert_int_equal(json_parse_strict(in, sizeof(in) - 1, &j, &d), PB_EVALIDATION);
    assert_true(d.count >= 1);
    cJSON_ArrayForEach(e, d.details) {
        const char *f = cJSON_GetObjectItem(e, "field")->valuestring;
        assert_true(utf8_text_valid(f, strlen(f)));
    }
    json_details_cleanup(&d);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_invalid_paths_stay_valid_utf8),
        cmocka_unit_test(test_order_in_backlog_has_null_work_centre_and_camel_keys),
        cmocka_unit_test(test_order_position_is_its_index_in_its_column),
        cmocka_unit_test(test_order_with_lock_names_the_holder),
        cmocka_unit_test(test_error_body_has_error_code_and_extra_members),
        cmocka_unit_test(test_every_spec_error_code_maps_to_its_status),
        cmocka_unit_test(test_get_int_rejects_fractions_strings_and_reports_camel_field),
        cmocka_unit_test(test_utf8_valid_accepts_rfc3629_sequences_at_every_length_and_boundary),
        cmocka_unit_test(test_utf8_valid_rejects_overlongs_surrogates_out_of_range_and_truncation),
        cmocka_unit_test(test_utf8_repair_replaces_maximal_subparts_and_drops_nul),
        cmocka_unit_test(test_utf8_floor_never_cuts_inside_a_character),
        cmocka_unit_test(test_strict_parse_rejects_trailing_data_and_accepts_trailing_whitespace),
        cmocka_unit_test(test_strict_parse_names_the_json_path_of_invalid_utf8),
        cmocka_unit_test(test_strict_parse_rejects_nul_escaped_or_raw_but_not_an_escaped_backslash),
        cmocka_unit_test(test_details_names_finds_a_reported_field),
        cmocka_unit_test(test_output_check_passes_valid_text_and_refuses_invalid),
        cmocka_unit_test(test_printer_does_not_repair_invalid_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
