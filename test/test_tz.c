/* Unit tests of core/tz: IANA zone names and "today" in a tenant's zone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Expected instants are written as UTC wall times worked out from the published rules (not
 * from any library), so that the test checks glib + tzdata against the rules. */
#define H (3600 * 1000LL)

struct dst_day {
    const char *zone, *date;
    int64_t start_ms;                   /* local midnight in UTC */
    int64_t hours_x2;                   /* the local day's length in half hours */
};

static const struct dst_day dst_days[] = {
    /* Europe/London: BST from 01:00Z on the last Sunday of March to 01:00Z on the last of
     * October */
    { "Europe/London", "2026-03-29", 1774742400000LL, 46 },        /* 00:00Z, 23 h */
    { "Europe/London", "2026-10-25", 1792882800000LL, 50 },        /* 10-24 23:00Z, 25 h */
    /* America/New_York: EDT from 2:00 on the second Sunday of March to 2:00 on the first of
     * November */
    { "America/New_York", "2026-03-08", 1772946000000LL, 46 },     /* 05:00Z */
    { "America/New_York", "2026-11-01", 1793505600000LL, 50 },     /* 04:00Z */
    /* Australia/Lord_Howe: +10:30, +11:00 in summer (a half-hour shift) from 2:00 on the first
     * Sunday of October to 2:00 on the first of April */
    { "Australia/Lord_Howe", "2026-10-04", 1791034200000LL, 47 },  /* 10-03 13:30Z, 23.5 h */
    { "Australia/Lord_Howe", "2026-04-05", 1775307600000LL, 49 },  /* 04-04 13:00Z, 24.5 h */
    /* Pacific/Chatham: +12:45, +13:45 from 2:45 on the last Sunday of September */
    { "Pacific/Chatham", "2026-09-27", 1790421300000LL, 46 },      /* 09-26 11:15Z */
    /* America/Sao_Paulo 2018: midnight skipped (00:00 -03 -> 01:00 -02): the day begins at
     * the transition, 03:00Z */
    { "America/Sao_Paulo", "2018-11-04", 1541300400000LL, 46 },
};

/* The day after date (dates of the table are not month ends). */
static void next_day(const char *date, char out[PB_DATE_LEN])
{
    memcpy(out, date, PB_DATE_LEN);
    int d = atoi(date + 8) + 1;
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
}

static void test_dst_days_have_their_length_in_each_zone(void **state)
{
    char d[PB_DATE_LEN], next[PB_DATE_LEN];
    (void)state;
    for (size_t i = 0; i < sizeof(dst_days) / sizeof(dst_days[0]); i++) {
        const struct dst_day *e = &dst_days[i];
        int64_t start = tz_day_start_ms(e->zone, e->date);
        print_message("%s %s starts %lld\n", e->zone, e->date, (long long)start);
        assert_int_equal(start, e->start_ms);
        next_day(e->date, next);
        assert_int_equal(tz_day_start_ms(e->zone, next) - start, e->hours_x2 * H / 2);
        /* the last millisecond before is the day before; the start and its last ms are it */
        assert_int_equal(tz_date_at(e->zone, start - 1, d), 0);
        assert_string_not_equal(d, e->date);
        assert_int_equal(tz_date_at(e->zone, start, d), 0);
        assert_string_equal(d, e->date);
        assert_int_equal(tz_date_at(e->zone, start + e->hours_x2 * H / 2 - 1, d), 0);
        assert_string_equal(d, e->date);
    }
}

static void test_invalid_zone_names_are_refused_and_mean_utc(void **state)
{
    char d[PB_DATE_LEN], longname[200];
    (void)state;
    memset(longname, 'A', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    const char *const bad[] = { "Mars/Olympus", "Europe/../../etc/passwd", "Europe", "UTC+5",
                                "+05:00", "europe/london", longname, "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(tz_valid(bad[i]));
        /* 2026-11-21T23:30:00Z: the 22nd anywhere east of +00:30, the 21st in UTC */
        assert_int_equal(tz_date_at(bad[i], 1795303800000LL, d), 0);
        assert_string_equal(d, "2026-11-21");
        assert_int_equal(tz_day_start_ms(bad[i], "2026-11-22"), 1795305600000LL);
    }
    assert_false(tz_valid(NULL));
    assert_int_equal(tz_day_start_ms(NULL, "2026-11-22"), 1795305600000LL);
    assert_int_equal(tz_day_start_ms("Europe/London", "2026-13-01"), -1);
    assert_int_equal(tz_day_start_ms("Europe/London", "not a date"), -1);
}

static void test_far_dates(void **state)
{
    char d[PB_DATE_LEN];
    (void)state;
    /* the rule of today's tzdata applies far ahead: BST in July 2500 */
    assert_int_equal(tz_day_start_ms("Europe/London", "2500-07-01"), 16740860400000LL);
    assert_int_equal(tz_date_at("Asia/Tokyo", 253402300799000LL - 9 * H, d), 0);
    assert_string_equal(d, "9999-12-31");
    /* past GDateTime's years 1..9999: an error and "", not a wrapped date */
    assert_int_equal(tz_date_at("Pacific/Kiritimati", 253402300799000LL, d), PB_EVALIDATION);
    assert_string_equal(d, "");
    assert_int_equal(tz_date_at("UTC", 253402300800000LL, d), PB_EVALIDATION);
    assert_int_equal(tz_date_at("UTC", -62135596801000LL, d), PB_EVALIDATION);  /* year 0 */
    assert_int_equal(tz_date_at("UTC", -62135596800000LL, d), 0);
    assert_string_equal(d, "0001-01-01");
    assert_int_equal(tz_date_at("UTC", -1, d), 0);                               /* floor */
    assert_string_equal(d, "1969-12-31");
}

/* Several threads converting in different zones at once all get their own zone's answers
 * (the old setenv("TZ") version mixed them up). */
static void *convert_many(void *arg)
{
    const struct dst_day *e = arg;
    for (int k = 0; k < 2000; k++)
        if (tz_day_start_ms(e->zone, e->date) != e->start_ms)
            return (void *)1;
    return NULL;
}

static void test_threads_convert_in_different_zones_at_once(void **state)
{
    enum { N = sizeof(dst_days) / sizeof(dst_days[0]) };
    pthread_t th[N];
    (void)state;
    for (size_t i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, convert_many, (void *)&dst_days[i]), 0);
    for (size_t i = 0; i < N; i++) {
        void *r;
        assert_int_equal(pthread_join(th[i], &r), 0);
        assert_null(r);
    }
}

int main(void)
{
    /* The process's own zone and locale must not matter: run in the zone furthest from UTC
     * (+14) with a locale whose dates are not ISO. */
    setenv("TZ", "Pacific/Kiritimati", 1);
    tzset();
    setenv("LC_ALL", "de_DE.UTF-8", 1);
    setlocale(LC_ALL, "");              /* may fail where it is not installed: fine */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_zones_are_valid_and_paths_are_not),
        cmocka_unit_test(test_date_at_crosses_midnight_by_zone),
        cmocka_unit_test(test_day_start_is_local_midnight_in_utc),
        cmocka_unit_test(test_dst_days_have_their_length_in_each_zone),
        cmocka_unit_test(test_invalid_zone_names_are_refused_and_mean_utc),
        cmocka_unit_test(test_far_dates),
        cmocka_unit_test(test_threads_convert_in_different_zones_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
