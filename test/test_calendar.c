/*
 * Unit tests of core/calendar (SPEC §9 calendar). Every expected instant is worked out by hand
 * from the shifts and the published zone rules (Europe/Berlin: CET = UTC+1, CEST = UTC+2, the
 * clocks change at 01:00 UTC on the last Sundays of March and October; America/New_York
 * EST = UTC-5) and written as a UTC wall time; none comes from the library under test.
 * Weekdays used: 2026-11-23 is a Monday, 2026-03-28 / 2026-10-24 Saturdays before the changes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/calendar.h"

/* Minutes since the epoch of a UTC wall time (timegm is UTC whatever TZ says). */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi };
    return (int64_t)timegm(&tm) / 60;
}

#define HM(h, m) ((h) * 60 + (m))

static void test_default_calendar_is_weekdays_eight_to_four(void **state)
{
    (void)state;
    struct calendar *c = calendar_new("UTC", NULL, 0, NULL, 0);
    size_t n;
    const struct cal_shift *s = calendar_shifts(c, &n);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].weekday, (int)i + 1);
        assert_int_equal(s[i].start, HM(8, 0));
        assert_int_equal(s[i].end, HM(16, 0));
    }
    assert_int_equal(calendar_n_holidays(c), 0);
    assert_string_equal(calendar_timezone(c), "UTC");
    calendar_free(c);
}

static void test_next_working_minute_skips_nights_and_weekend(void **state)
{
    (void)state;
    struct calendar *c = calendar_new("UTC", NULL, 0, NULL, 0);
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 23, 7, 0)), utc(2026, 11, 23, 8, 0));
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 23, 10, 0)), utc(2026, 11, 23, 10, 0));
    /* the end of a shift is not working: 16:00 is the next day's 08:00 */
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 23, 16, 0)), utc(2026, 11, 24, 8, 0));
    /* Friday evening -> Monday morning */
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 27, 16, 30)), utc(2026, 11, 30, 8, 0));
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 28, 12, 0)), utc(2026, 11, 30, 8, 0));
    calendar_free(c);
}

static void test_add_working_minutes_ends_at_the_last_minute_worked(void **state)
{
    (void)state;
    struct calendar *c = calendar_new("UTC", NULL, 0, NULL, 0);
    /* a full shift ends at 16:00, not at the next 08:00 */
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 8, 0), 480), utc(2026, 11, 23, 16, 0));
    /* 60 minutes Monday, 60 Tuesday */
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 15, 0), 120), utc(2026, 11, 24, 9, 0));
    /* starting before the shift starts at the shift */
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 3, 0), 30), utc(2026, 11, 23, 8, 30));
    /* over the weekend */
    assert_int_equal(calendar_add(c, utc(2026, 11, 27, 15, 0), 60), utc(2026, 11, 27, 16, 0));
    assert_int_equal(calendar_add(c, utc(2026, 11, 27, 15, 0), 61), utc(2026, 11, 30, 8, 1));
    /* zero minutes: the next working minute */
    assert_int_equal(calendar_add(c, utc(2026, 11, 28, 9, 0), 0), utc(2026, 11, 30, 8, 0));
    /* a whole week (5 x 480) from Monday 08:00 is Friday 16:00 */
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 8, 0), 2400), utc(2026, 11, 27, 16, 0));
    assert_int_equal(calendar_working_minutes(c, utc(2026, 11, 23, 0, 0), utc(2026, 11, 30, 0, 0)),
                     2400);
    assert_int_equal(calendar_working_minutes(c, utc(2026, 11, 23, 9, 0), utc(2026, 11, 23, 9, 30)),
                     30);
    calendar_free(c);
}

static void test_shift_across_midnight_belongs_to_the_day_it_starts(void **state)
{
    (void)state;
    const struct cal_shift night[] = { { 1, HM(22, 0), HM(6, 0) } };   /* Monday night only */
    struct calendar *c = calendar_new("UTC", night, 1, NULL, 0);
    assert_non_null(c);
    /* Tuesday 03:00 is inside Monday's shift */
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 24, 3, 0)), utc(2026, 11, 24, 3, 0));
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 24, 6, 0)), utc(2026, 11, 30, 22, 0));
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 22, 0), 480), utc(2026, 11, 24, 6, 0));
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 22, 0), 481), utc(2026, 11, 30, 22, 1));
    assert_int_equal(calendar_working_minutes(c, utc(2026, 11, 23, 0, 0), utc(2026, 11, 25, 0, 0)),
                     480);
    calendar_free(c);
}

static void test_a_shift_whose_end_equals_its_start_lasts_a_day(void **state)
{
    (void)state;
    const struct cal_shift day[] = { { 1, HM(8, 0), HM(8, 0) } };
    struct calendar *c = calendar_new("UTC", day, 1, NULL, 0);
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 8, 0), 1440), utc(2026, 11, 24, 8, 0));
    calendar_free(c);
}

static void test_adjacent_shifts_are_one_working_stretch(void **state)
{
    (void)state;
    /* Monday 06:00-14:00 and 14:00-22:00, Monday night 22:00 into Tuesday 06:00, Tuesday
     * 05:00-07:00 overlapping that night shift (another weekday: allowed, the union counts) */
    const struct cal_shift s[] = { { 1, HM(6, 0), HM(14, 0) }, { 1, HM(14, 0), HM(22, 0) },
                                   { 1, HM(22, 0), HM(6, 0) }, { 2, HM(5, 0), HM(7, 0) } };
    struct calendar *c = calendar_new("UTC", s, 4, NULL, 0);
    assert_non_null(c);
    /* Monday 06:00 to Tuesday 07:00 without a break: 25 hours */
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 6, 0), 25 * 60), utc(2026, 11, 24, 7, 0));
    assert_int_equal(calendar_working_minutes(c, utc(2026, 11, 23, 0, 0), utc(2026, 11, 25, 0, 0)),
                     25 * 60);
    calendar_free(c);
}

static void test_holiday_removes_the_shifts_that_start_on_it(void **state)
{
    (void)state;
    const char hol[][PB_DATE_LEN] = { "2026-11-24", "2026-11-24" };     /* a Tuesday, twice */
    const struct cal_shift week[] = { { 1, HM(8, 0), HM(16, 0) }, { 2, HM(8, 0), HM(16, 0) },
                                      { 3, HM(8, 0), HM(16, 0) } };
    struct calendar *c = calendar_new("UTC", week, 3, hol, 2);
    char d[PB_DATE_LEN];
    assert_int_equal(calendar_n_holidays(c), 1);
    calendar_holiday(c, 0, d);
    assert_string_equal(d, "2026-11-24");
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 15, 0), 120), utc(2026, 11, 25, 9, 0));
    calendar_free(c);

    /* a Sunday night shift runs into a Monday holiday; Monday's own night shift is gone */
    const char mon[][PB_DATE_LEN] = { "2026-11-23" };
    const struct cal_shift nights[] = { { 7, HM(22, 0), HM(6, 0) }, { 1, HM(22, 0), HM(6, 0) } };
    c = calendar_new("UTC", nights, 2, mon, 1);
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 23, 1, 0)), utc(2026, 11, 23, 1, 0));
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 23, 6, 0)), utc(2026, 11, 29, 22, 0));
    calendar_free(c);
}

static void test_berlin_spring_forward_counts_real_minutes(void **state)
{
    (void)state;
    /* Saturday 2026-03-28 and Sunday 2026-03-29 08:00-16:00, Saturday night 22:00-06:00 */
    const struct cal_shift s[] = { { 6, HM(8, 0), HM(16, 0) }, { 6, HM(22, 0), HM(6, 0) },
                                   { 7, HM(8, 0), HM(16, 0) } };
    struct calendar *c = calendar_new("Europe/Berlin", s, 3, NULL, 0);
    assert_non_null(c);
    /* Saturday in CET: 07:00Z-15:00Z */
    assert_int_equal(calendar_next_working(c, utc(2026, 3, 28, 0, 0)), utc(2026, 3, 28, 7, 0));
    /* the night: 22:00 CET = 21:00Z to 06:00 CEST = 04:00Z, 7 real hours */
    assert_int_equal(calendar_working_minutes(c, utc(2026, 3, 28, 16, 0), utc(2026, 3, 29, 5, 0)),
                     420);
    assert_int_equal(calendar_add(c, utc(2026, 3, 28, 21, 0), 420), utc(2026, 3, 29, 4, 0));
    /* the next minute is Sunday's 08:00 CEST = 06:00Z */
    assert_int_equal(calendar_add(c, utc(2026, 3, 28, 21, 0), 421), utc(2026, 3, 29, 6, 1));
    /* Sunday 08:00-16:00 CEST is 06:00Z-14:00Z: 8 hours on the day the clocks change */
    assert_int_equal(calendar_working_minutes(c, utc(2026, 3, 29, 5, 0), utc(2026, 3, 30, 0, 0)),
                     480);
    assert_int_equal(calendar_add(c, utc(2026, 3, 29, 6, 0), 480), utc(2026, 3, 29, 14, 0));
    calendar_free(c);
}

static void test_berlin_fall_back_counts_real_minutes(void **state)
{
    (void)state;
    const struct cal_shift s[] = { { 6, HM(22, 0), HM(6, 0) }, { 7, HM(8, 0), HM(16, 0) } };
    struct calendar *c = calendar_new("Europe/Berlin", s, 2, NULL, 0);
    /* Saturday 2026-10-24 22:00 CEST = 20:00Z to Sunday 06:00 CET = 05:00Z: 9 real hours */
    assert_int_equal(calendar_next_working(c, utc(2026, 10, 24, 12, 0)), utc(2026, 10, 24, 20, 0));
    assert_int_equal(calendar_add(c, utc(2026, 10, 24, 20, 0), 540), utc(2026, 10, 25, 5, 0));
    /* Sunday 08:00-16:00 CET = 07:00Z-15:00Z, 8 hours */
    assert_int_equal(calendar_add(c, utc(2026, 10, 24, 20, 0), 541), utc(2026, 10, 25, 7, 1));
    assert_int_equal(calendar_working_minutes(c, utc(2026, 10, 25, 6, 0), utc(2026, 10, 26, 0, 0)),
                     480);
    calendar_free(c);
}

static void test_day_end_is_the_next_local_midnight(void **state)
{
    (void)state;
    struct calendar *c = calendar_new("Europe/Berlin", NULL, 0, NULL, 0);
    assert_int_equal(calendar_day_end(c, "2026-11-23"), utc(2026, 11, 23, 23, 0));
    /* the night of the spring change is still CET at midnight; the next one is CEST */
    assert_int_equal(calendar_day_end(c, "2026-03-28"), utc(2026, 3, 28, 23, 0));
    assert_int_equal(calendar_day_end(c, "2026-03-29"), utc(2026, 3, 29, 22, 0));
    assert_int_equal(calendar_day_end(c, "2026-03-29"), utc(2026, 3, 29, 22, 0));   /* memo */
    assert_int_equal(calendar_day_end(c, "2026-02-30"), -1);
    assert_int_equal(calendar_day_end(c, "not a date"), -1);
    calendar_free(c);
    c = calendar_new("America/New_York", NULL, 0, NULL, 0);
    assert_int_equal(calendar_day_end(c, "2026-11-23"), utc(2026, 11, 24, 5, 0));
    calendar_free(c);
    c = calendar_new("UTC", NULL, 0, NULL, 0);
    assert_int_equal(calendar_day_end(c, "2026-11-23"), utc(2026, 11, 24, 0, 0));
    calendar_free(c);
}

static void test_new_york_shift_is_in_local_time(void **state)
{
    (void)state;
    struct calendar *c = calendar_new("America/New_York", NULL, 0, NULL, 0);
    /* Monday 08:00 EST = 13:00Z */
    assert_int_equal(calendar_next_working(c, utc(2026, 11, 23, 12, 0)), utc(2026, 11, 23, 13, 0));
    calendar_free(c);
}

static void test_beyond_the_horizon_is_reported(void **state)
{
    (void)state;
    struct calendar *c = calendar_new("UTC", NULL, 0, NULL, 0);
    /* 40 years of 8-hour days is past the 30-year horizon */
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 8, 0), 480LL * 5 * 52 * 40), CAL_BEYOND);
    assert_int_equal(calendar_add(c, CAL_BEYOND, 1), CAL_BEYOND);
    /* the cache still answers near queries after that */
    assert_int_equal(calendar_add(c, utc(2026, 11, 23, 8, 0), 480), utc(2026, 11, 23, 16, 0));
    /* an earlier query rebuilds from the earlier day */
    assert_int_equal(calendar_add(c, utc(2025, 11, 24, 8, 0), 480), utc(2025, 11, 24, 16, 0));
    calendar_free(c);
}

struct reports {
    int n;
    char fields[8][32];
};

static void record(void *ctx, const char *field, const char *message)
{
    struct reports *r = ctx;
    (void)message;
    if (r->n < 8)
        snprintf(r->fields[r->n], sizeof(r->fields[0]), "%s", field);
    r->n++;
}

static void test_overlapping_shifts_of_one_weekday_are_named(void **state)
{
    (void)state;
    struct reports r = { 0 };
    const struct cal_shift s[] = { { 1, HM(8, 0), HM(16, 0) }, { 2, HM(8, 0), HM(16, 0) },
                                   { 1, HM(15, 0), HM(18, 0) } };
    assert_int_equal(calendar_check(s, 3, NULL, 0, record, &r), 2);
    assert_string_equal(r.fields[0], "shifts[2]");
    assert_string_equal(r.fields[1], "shifts[0]");
    assert_null(calendar_new("UTC", s, 3, NULL, 0));

    /* a night shift reaches the next morning, not its own: Monday 22:00-06:00 and Monday
     * 05:00-07:00 do not overlap; Monday 22:00-06:00 and Monday 23:00-23:30 do */
    const struct cal_shift ok[] = { { 1, HM(22, 0), HM(6, 0) }, { 1, HM(5, 0), HM(7, 0) } };
    memset(&r, 0, sizeof(r));
    assert_int_equal(calendar_check(ok, 2, NULL, 0, record, &r), 0);
    const struct cal_shift bad[] = { { 1, HM(22, 0), HM(6, 0) }, { 1, HM(23, 0), HM(23, 30) } };
    assert_int_equal(calendar_check(bad, 2, NULL, 0, record, &r), 2);
}

static void test_bad_shifts_and_holidays_are_reported(void **state)
{
    (void)state;
    struct reports r = { 0 };
    const struct cal_shift s[] = { { 8, HM(8, 0), HM(16, 0) }, { 1, 1440, HM(16, 0) } };
    const char hol[][PB_DATE_LEN] = { "2026-02-30" };
    assert_int_equal(calendar_check(s, 2, hol, 1, record, &r), 3);
    assert_string_equal(r.fields[0], "shifts[0]");
    assert_string_equal(r.fields[1], "shifts[1]");
    assert_string_equal(r.fields[2], "holidays");
    memset(&r, 0, sizeof(r));
    assert_int_equal(calendar_check(NULL, 0, NULL, 0, record, &r), 1);
    assert_string_equal(r.fields[0], "shifts");
    struct cal_shift many[CAL_SHIFTS_MAX + 1];
    for (int i = 0; i <= CAL_SHIFTS_MAX; i++)
        many[i] = (struct cal_shift){ 1 + i % 7, i, i + 1 };
    memset(&r, 0, sizeof(r));
    assert_int_equal(calendar_check(many, CAL_SHIFTS_MAX + 1, NULL, 0, record, &r), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_calendar_is_weekdays_eight_to_four),
        cmocka_unit_test(test_next_working_minute_skips_nights_and_weekend),
        cmocka_unit_test(test_add_working_minutes_ends_at_the_last_minute_worked),
        cmocka_unit_test(test_shift_across_midnight_belongs_to_the_day_it_starts),
        cmocka_unit_test(test_a_shift_whose_end_equals_its_start_lasts_a_day),
        cmocka_unit_test(test_adjacent_shifts_are_one_working_stretch),
        cmocka_unit_test(test_holiday_removes_the_shifts_that_start_on_it),
        cmocka_unit_test(test_berlin_spring_forward_counts_real_minutes),
        cmocka_unit_test(test_berlin_fall_back_counts_real_minutes),
        cmocka_unit_test(test_day_end_is_the_next_local_midnight),
        cmocka_unit_test(test_new_york_shift_is_in_local_time),
        cmocka_unit_test(test_beyond_the_horizon_is_reported),
        cmocka_unit_test(test_overlapping_shifts_of_one_weekday_are_named),
        cmocka_unit_test(test_bad_shifts_and_holidays_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
