/* Unit tests of protocol/client_msg: WebSocket client frames of SPEC §5, parsed and validated. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "protocol/client_msg.h"
#include "core/errors.h"

static int parse(const char *s, struct client_msg *m)
{
    return client_msg_parse(s, strlen(s), m);
}

static void test_move_order_reads_order_id_ref_and_keeps_data(void **state)
{
    struct client_msg m;
    (void)state;
    assert_int_equal(parse("{\"event\":\"move_order\",\"ref\":\"m1\",\"data\":{\"orderId\":9,"
                           "\"toWorkCentreId\":null}}", &m), 0);
    assert_int_equal(m.event, CLIENT_MOVE_ORDER);
    assert_int_equal(m.order_id, 9);
    assert_string_equal(m.ref, "m1");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m.data, "toWorkCentreId")));
    client_msg_cleanup(&m);
}

static void test_join_with_since_seq_and_epoch_and_number_ref(void **state)
{
    struct client_msg m;
    (void)state;
    assert_int_equal(parse("{\"event\":\"join_planning_board\",\"ref\":42,"
                           "\"data\":{\"sinceSeq\":5,\"epoch\":\"e1\"}}", &m), 0);
    assert_int_equal(m.event, CLIENT_JOIN);
    assert_true(m.has_since);
    assert_int_equal(m.since_seq, 5);
    assert_string_equal(m.epoch, "e1");
    assert_string_equal(m.ref, "42");
    client_msg_cleanup(&m);
}

static void test_malformed_frames_fail_validation_keeping_the_ref(void **state)
{
    static const char *const bad[] = {
        "nope", "[1]", "{\"event\":3,\"ref\":\"r\"}", "{\"event\":\"ping\",\"ref\":\"r\",\"data\":[]}",
        "{\"event\":\"warp\",\"ref\":\"r\"}", "{\"event\":\"start_drag\",\"ref\":\"r\"}",
        "{\"event\":\"end_drag\",\"ref\":\"r\",\"data\":{\"orderId\":0}}",
        "{\"event\":\"join_planning_board\",\"ref\":\"r\",\"data\":{\"sinceSeq\":-1}}",
        "{\"event\":\"join_planning_board\",\"ref\":\"r\",\"data\":{\"sinceSeq\":1.5}}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct client_msg m;
        assert_int_equal(parse(bad[i], &m), PB_EVALIDATION);
        assert_non_null(m.error);
        if (i >= 2)
            assert_string_equal(m.ref, "r");
        client_msg_cleanup(&m);
    }
}

/* Found by fuzz_ws_message: the ref was cut at byte 128 even inside a character. */
static void test_long_ref_is_cut_before_a_multibyte_character(void **state)
{
    char frame[400], want[PB_CLIENT_REF_MAX + 1];
    struct client_msg m;
    (void)state;
    memset(want, 'a', PB_CLIENT_REF_MAX - 1);
    want[PB_CLIENT_REF_MAX - 1] = '\0';
    snprintf(frame, sizeof(frame), "{\"event\":\"ping\",\"ref\":\"%s\xc3\xa9z\"}", want);
    assert_int_equal(parse(frame, &m), 0);
    assert_string_equal(m.ref, want);
    client_msg_cleanup(&m);
}

/* SPEC §4 input rules on WebSocket: trailing data is invalid_json naming body; NUL in a
 * string is validation_failed naming its path, with the (valid) ref kept for the reply; a ref
 * that is itself invalid is never echoed. */
static void test_strict_parse_trailing_data_and_nul(void **state)
{
    struct client_msg m;
    (void)state;
    assert_int_equal(parse("{\"event\":\"ping\",\"ref\":\"r\"}}", &m), PB_EINVALID_JSON);
    assert_non_null(m.details);
    assert_null(m.ref);
    client_msg_cleanup(&m);

    assert_int_equal(parse("{\"event\":\"move_order\",\"ref\":\"r\",\"data\":{\"orderId\":1,"
                           "\"reason\":\"a\\u0000b\"}}", &m), PB_EVALIDATION);
    assert_string_equal(m.ref, "r");
    cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(m.details, "details"), 0);
    assert_string_equal(cJSON_GetObjectItem(d, "field")->valuestring, "data.reason");
    client_msg_cleanup(&m);

    assert_int_equal(parse("{\"event\":\"ping\",\"ref\":\"x\\u0000\"}", &m), PB_EVALIDATION);
    assert_null(m.ref);
    client_msg_cleanup(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_move_order_reads_order_id_ref_and_keeps_data),
        cmocka_unit_test(test_join_with_since_seq_and_epoch_and_number_ref),
        cmocka_unit_test(test_malformed_frames_fail_validation_keeping_the_ref),
        cmocka_unit_test(test_long_ref_is_cut_before_a_multibyte_character),
        cmocka_unit_test(test_strict_parse_trailing_data_and_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
