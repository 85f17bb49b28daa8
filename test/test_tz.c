/* Unit tests of core/tz: IANA zone names and "today" in a tenant's zone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/tz.h"

static void test_known_zones_are_valid_and_paths_are_not(void **state)
{
    (void)state;
    assert_true(tz_valid("UTC"));
    assert_true(tz_valid("Europe/London"));
    assert_true(tz_valid("America/New_York"));
    assert_false(tz_valid("Mars/Olympus"));
    assert_false(tz_valid("../etc/passwd"));
    assert_false(tz_valid("/etc/localtime"));
    assert_false(tz_valid(""));
}

static void test_date_at_crosses_midnight_by_zone(void **state)
{
    char d[PB_DATE_LEN];
    int64_t ms = 1795305600000LL;       /* 2026-11-22T00:00:00Z */
    (void)state;
    tz_date_at("UTC", ms, d);
    assert_string_equal(d, "2026-11-22");
    tz_date_at("America/New_York", ms, d);   /* 19:00 the day before */
    assert_string_equal(d, "2026-11-21");
    tz_date_at("Asia/Tokyo", ms - 10 * 3600 * 1000, d);   /* 14:00Z the day before = 23:00 JST */
    assert_string_equal(d, "2026-11-21");
    tz_date_at("Nowhere/Bad", ms, d);        /* unknown zone falls back to UTC */
    assert_string_equal(d, "2026-11-22");
}

static void test_day_start_is_local_midnight_in_utc(void **state)
{
    (void)state;
    assert_int_equal(tz_day_start_ms("UTC", "2026-11-22"), 1795305600000LL);
    assert_int_equal(tz_day_start_ms("Europe/Berlin", "2026-11-22"), 1795305600000LL - 3600000);
    assert_int_equal(tz_day_start_ms("UTC", "2026-02-30"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_zones_are_valid_and_paths_are_not),
        cmocka_unit_test(test_date_at_crosses_midnight_by_zone),
        cmocka_unit_test(test_day_start_is_local_midnight_in_utc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
