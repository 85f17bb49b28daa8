/* Unit tests of protocol/json: the JSON shapes of SPEC §2/§4 and the body readers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/errors.h"
#include "protocol/json.h"

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
    o.position = 2;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_in_backlog_has_null_work_centre_and_camel_keys),
        cmocka_unit_test(test_order_with_lock_names_the_holder),
        cmocka_unit_test(test_error_body_has_error_code_and_extra_members),
        cmocka_unit_test(test_every_spec_error_code_maps_to_its_status),
        cmocka_unit_test(test_get_int_rejects_fractions_strings_and_reports_camel_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
