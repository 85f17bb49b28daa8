/*
 * calendar — working time of SPEC §9 over glib's GTimeZone and GDate (Debian libglib2.0, the
 * library core/tz already uses): no hand-written DST rules, no TZ variable. See calendar.h.
 *
 * The working time is kept as a sorted array of disjoint UTC intervals [start, end) in minutes
 * with a running sum of their lengths (cum), built for whole local days from first_day on,
 * a chunk of days at a time as queries reach further. "next working minute" is a binary search
 * for the first interval ending after t; "add w minutes" is a second binary search for the
 * interval in which the running sum reaches the target. Both are O(log intervals) once built.
 */
#include "core/calendar.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_DAYS 64                   /* local days built per extension */
#define DAY_END_MEMO 64                 /* due dates remembered (direct-mapped by Julian day) */

struct calendar {
    char *tz_name;                      /* owned */
    GTimeZone *tz;                      /* owned reference */
    struct cal_shift *shifts;           /* owned, sorted by weekday, start */
    size_t n_shifts;
    uint32_t *holidays;                 /* owned, Julian day numbers (GDate), sorted, unique */
    size_t n_holidays;
    /* interval cache: days [first_day, end_day) built; intervals sorted, disjoint, merged */
    uint32_t first_day, end_day;        /* Julian days; first_day == 0: nothing built */
    int64_t valid_from;                 /* answers are right for t >= this (local midnight
                                         * after first_day: a shift of first_day - 1 could
                                         * still reach into first_day) */
    int64_t *iv_start, *iv_end, *iv_cum;/* owned; cum = working minutes before the interval */
    size_t n_iv, cap_iv;
    struct { uint32_t day; int64_t end; } memo[DAY_END_MEMO];   /* calendar_day_end */
};

/* ---------------------------------------------------------------- checks */

static int cmp_shift(const void *a, const void *b)
{
    const struct cal_shift *x = a, *y = b;
    if (x->weekday != y->weekday)
        return x->weekday < y->weekday ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Length in minutes of a shift within its day: end not after start runs past midnight. */
static int shift_len(const struct cal_shift *s)
{
    return s->end > s->start ? s->end - s->start : s->end + 1440 - s->start;
}

/* Julian day (GDate) of a real "YYYY-MM-DD" in years 1900..9999, 0 otherwise. */
static uint32_t julian_of(const char *date)
{
    if (date == NULL || !pb_date_valid(date))
        return 0;
    int y = atoi(date), m = atoi(date + 5), d = atoi(date + 8);
    if (y < 1900 || y > 9999 || !g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y))
        return 0;
    GDate g;
    g_date_clear(&g, 1);
    g_date_set_dmy(&g, (GDateDay)d, (GDateMonth)m, (GDateYear)y);
    return g_date_get_julian(&g);
}

/* report() with the field "shifts[i]" (a buffer that lives for the call only). */
static void report_shift(pb_report_fn report, void *ctx, size_t i, const char *message)
{
    char field[24];
    snprintf(field, sizeof(field), "shifts[%zu]", i);
    report(ctx, field, message);
}

int calendar_check(const struct cal_shift *shifts, size_t n_shifts,
                   const char (*holidays)[PB_DATE_LEN], size_t n_holidays,
                   pb_report_fn report, void *ctx)
{
    int broken = 0;

    if (n_shifts == 0) {
        report(ctx, "shifts", "must hold at least one shift");
        broken++;
    }
    if (n_shifts > CAL_SHIFTS_MAX) {
        report(ctx, "shifts", "at most 100 shifts");
        return broken + 1;
    }
    if (n_holidays > CAL_HOLIDAYS_MAX) {
        report(ctx, "holidays", "at most 1000 holidays");
        broken++;
        n_holidays = 0;
    }
    for (size_t i = 0; i < n_shifts; i++) {
        const struct cal_shift *s = &shifts[i];
        if (s->weekday < 1 || s->weekday > 7) {
            report_shift(report, ctx, i, "weekday must be 1 (Monday) to 7 (Sunday)");
            broken++;
        }
        if (s->start < 0 || s->start > 1439 || s->end < 0 || s->end > 1439) {
            report_shift(report, ctx, i, "start and end must be times HH:MM from 00:00 to 23:59");
            broken++;
        }
    }
    if (broken == 0) {
        /* two shifts of one weekday overlap when each starts before the other ends (within
         * the day they start: [start, start + length)); <= 100 shifts, quadratic is fine */
        for (size_t i = 0; i < n_shifts; i++)
            for (size_t k = 0; k < i; k++) {
                const struct cal_shift *a = &shifts[i], *b = &shifts[k];
                if (a->weekday == b->weekday && a->start < b->start + shift_len(b)
                    && b->start < a->start + shift_len(a)) {
                    report_shift(report, ctx, i, "overlaps another shift of the same weekday");
                    report_shift(report, ctx, k, "overlaps another shift of the same weekday");
                    broken += 2;
                }
            }
    }
    for (size_t i = 0; i < n_holidays; i++)
        if (julian_of(holidays[i]) == 0) {
            report(ctx, "holidays", "each holiday must be a real date YYYY-MM-DD (1900-9999)");
            broken++;
            break;
        }
    return broken;
}

/* ---------------------------------------------------------------- life cycle */

static void ignore(void *ctx, const char *field, const char *message)
{
    (void)field;
    (void)message;
    (*(int *)ctx)++;
}

struct calendar *calendar_new(const char *tz, const struct cal_shift *shifts, size_t n_shifts,
                              const char (*holidays)[PB_DATE_LEN], size_t n_holidays)
{
    static const struct cal_shift week[5] = {
        { 1, 480, 960 }, { 2, 480, 960 }, { 3, 480, 960 }, { 4, 480, 960 }, { 5, 480, 960 },
    };
    struct calendar *c;
    int bad = 0;

    if (n_shifts == 0 && shifts == NULL) {
        shifts = week;
        n_shifts = 5;
        n_holidays = 0;
    }
    if (calendar_check(shifts, n_shifts, holidays, n_holidays, ignore, &bad) != 0)
        return NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return NULL;
    if (tz == NULL || *tz == '\0' || (c->tz = g_time_zone_new_identifier(tz)) == NULL) {
        tz = "UTC";
        c->tz = g_time_zone_new_utc();
    }
    c->tz_name = strdup(tz);
    c->shifts = malloc(n_shifts * sizeof(*c->shifts));
    c->holidays = malloc((n_holidays + 1) * sizeof(*c->holidays));
    if (c->tz_name == NULL || c->shifts == NULL || c->holidays == NULL)
        goto fail;
    memcpy(c->shifts, shifts, n_shifts * sizeof(*shifts));
    c->n_shifts = n_shifts;
    qsort(c->shifts, n_shifts, sizeof(*c->shifts), cmp_shift);
    for (size_t i = 0; i < n_holidays; i++)
        c->holidays[i] = julian_of(holidays[i]);
    qsort(c->holidays, n_holidays, sizeof(*c->holidays), cmp_u32);
    for (size_t i = 0; i < n_holidays; i++)
        if (c->n_holidays == 0 || c->holidays[c->n_holidays - 1] != c->holidays[i])
            c->holidays[c->n_holidays++] = c->holidays[i];
    return c;
fail:
    calendar_free(c);
    return NULL;
}

void calendar_free(struct calendar *c)
{
    if (c == NULL)
        return;
    if (c->tz != NULL)
        g_time_zone_unref(c->tz);
    free(c->tz_name);
    free(c->shifts);
    free(c->holidays);
    free(c->iv_start);
    free(c->iv_end);
    free(c->iv_cum);
    free(c);
}

const char *calendar_timezone(const struct calendar *c)
{
    return c->tz_name;
}

const struct cal_shift *calendar_shifts(const struct calendar *c, size_t *n)
{
    *n = c->n_shifts;
    return c->shifts;
}

size_t calendar_n_holidays(const struct calendar *c)
{
    return c->n_holidays;
}

void calendar_holiday(const struct calendar *c, size_t i, char out[PB_DATE_LEN])
{
    GDate g;
    g_date_clear(&g, 1);
    g_date_set_julian(&g, c->holidays[i]);
    g_date_strftime(out, PB_DATE_LEN, "%Y-%m-%d", &g);    /* years 1900..9999: 10 chars */
}

/* ---------------------------------------------------------------- local time -> UTC */

/* UTC seconds of local wall-clock time `minute` (0..1439) on Julian day `day` in c's zone;
 * glib moves a time inside a DST gap past the gap. INT64_MIN when glib cannot represent it. */
static int64_t local_s(const struct calendar *c, uint32_t day, int minute)
{
    GDate g;
    GDateTime *dt;
    int64_t s;

    g_date_clear(&g, 1);
    g_date_set_julian(&g, day);
    dt = g_date_time_new(c->tz, g_date_get_year(&g), g_date_get_month(&g), g_date_get_day(&g),
                         minute / 60, minute % 60, 0);
    if (dt == NULL)
        return INT64_MIN;
    s = g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return s;
}

static int64_t floor_div60(int64_t s)
{
    return s >= 0 ? s / 60 : -((-s + 59) / 60);
}

/* The local Julian day that contains UTC minute t in c's zone (0 when glib cannot say). */
static uint32_t day_of(const struct calendar *c, int64_t t)
{
    GDateTime *utc = g_date_time_new_from_unix_utc(t * 60), *loc;
    uint32_t day = 0;
    if (utc == NULL)
        return 0;
    if ((loc = g_date_time_to_timezone(utc, c->tz)) != NULL) {
        int y, m, d;
        GDate g;
        g_date_time_get_ymd(loc, &y, &m, &d);
        g_date_clear(&g, 1);
        g_date_set_dmy(&g, (GDateDay)d, (GDateMonth)m, (GDateYear)y);
        day = g_date_get_julian(&g);
        g_date_time_unref(loc);
    }
    g_date_time_unref(utc);
    return day;
}

/* ---------------------------------------------------------------- the interval cache */

static bool is_holiday(const struct calendar *c, uint32_t day)
{
    return bsearch(&day, c->holidays, c->n_holidays, sizeof(day), cmp_u32) != NULL;
}

static int push_interval(struct calendar *c, int64_t a, int64_t b)
{
    if (c->n_iv > 0 && a <= c->iv_end[c->n_iv - 1]) {       /* union: merge */
        if (b > c->iv_end[c->n_iv - 1])
            c->iv_end[c->n_iv - 1] = b;
        return 0;
    }
    if (c->n_iv == c->cap_iv) {
        size_t cap = c->cap_iv ? c->cap_iv * 2 : 256;
        int64_t *s = realloc(c->iv_start, cap * sizeof(*s));
        if (s == NULL)
            return -1;
        c->iv_start = s;
        int64_t *e = realloc(c->iv_end, cap * sizeof(*e));
        if (e == NULL)
            return -1;
        c->iv_end = e;
        int64_t *k = realloc(c->iv_cum, cap * sizeof(*k));
        if (k == NULL)
            return -1;
        c->iv_cum = k;
        c->cap_iv = cap;
    }
    c->iv_start[c->n_iv] = a;
    c->iv_end[c->n_iv] = b;
    c->iv_cum[c->n_iv] = c->n_iv ? c->iv_cum[c->n_iv - 1] + c->iv_end[c->n_iv - 1]
                                       - c->iv_start[c->n_iv - 1] : 0;
    c->n_iv++;
    return 0;
}

/* Build local days [end_day, end_day + n): their shifts as UTC intervals, in start order.
 * A day's shifts start at or after its local midnight and so after every start of the days
 * before, and within a day they are sorted by start: pushing in that order keeps the array
 * sorted, and push_interval merges what touches or overlaps. -1 out of memory (the cache stays
 * consistent, shorter). */
static int extend(struct calendar *c, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++, c->end_day++) {
        uint32_t day = c->end_day;
        GDate g;
        if (is_holiday(c, day))
            continue;
        g_date_clear(&g, 1);
        g_date_set_julian(&g, day);
        int wd = (int)g_date_get_weekday(&g);       /* G_DATE_MONDAY = 1 .. SUNDAY = 7: ISO */
        for (size_t i = 0; i < c->n_shifts; i++) {
            const struct cal_shift *s = &c->shifts[i];
            if (s->weekday != wd)
                continue;
            int64_t a = local_s(c, day, s->start);
            int64_t b = local_s(c, s->end > s->start ? day : day + 1, s->end);
            if (a == INT64_MIN || b == INT64_MIN)
                continue;
            int64_t am = -floor_div60(-a), bm = floor_div60(b);     /* rounded inwards */
            if (bm > am && push_interval(c, am, bm) != 0)
                return -1;
        }
    }
    return 0;
}

/* Make the cache answer for t: rebuilt from the day before t's local day when t is before
 * what it covers. false when t is outside what glib handles. */
static bool cover(struct calendar *c, int64_t t)
{
    if (c->first_day != 0 && t >= c->valid_from)
        return true;
    uint32_t day = day_of(c, t);
    if (day < 3 || day > 3652000)       /* GDate's years 1..9999, with room for the horizon */
        return false;
    c->first_day = c->end_day = day - 1;
    c->n_iv = 0;
    int64_t mid = local_s(c, day, 0);
    c->valid_from = mid == INT64_MIN ? t : -floor_div60(-mid);
    if (c->valid_from > t)
        c->valid_from = t;
    return extend(c, CHUNK_DAYS) == 0;
}

/* Whether more days may be built: the horizon is CAL_HORIZON_DAYS after first_day. */
static bool may_extend(const struct calendar *c)
{
    return c->end_day - c->first_day < CAL_HORIZON_DAYS;
}

/* First interval whose end is after t, building further as needed; n_iv when none within the
 * horizon. */
static size_t find_end_after(struct calendar *c, int64_t t)
{
    for (;;) {
        size_t lo = 0, hi = c->n_iv;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (c->iv_end[mid] > t)
                hi = mid;
            else
                lo = mid + 1;
        }
        /* the last interval may still grow by a merge with the next day's shift; its start
         * (what is asked for here) cannot change, so a hit on it is final */
        if (lo < c->n_iv || !may_extend(c) || extend(c, CHUNK_DAYS) != 0)
            return lo;
    }
}

/* First interval whose running sum reaches `target` working minutes (cum + length >= target),
 * building further as needed; n_iv when none within the horizon. */
static size_t find_cum(struct calendar *c, int64_t target)
{
    for (;;) {
        size_t lo = 0, hi = c->n_iv;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (c->iv_cum[mid] + (c->iv_end[mid] - c->iv_start[mid]) >= target)
                hi = mid;
            else
                lo = mid + 1;
        }
        /* a hit on the last interval is final too: a merge only moves its end */
        if (lo < c->n_iv || !may_extend(c) || extend(c, CHUNK_DAYS) != 0)
            return lo;
    }
}

int64_t calendar_next_working(struct calendar *c, int64_t t)
{
    if (t == CAL_BEYOND || !cover(c, t))
        return CAL_BEYOND;
    size_t i = find_end_after(c, t);
    if (i == c->n_iv)
        return CAL_BEYOND;
    return t > c->iv_start[i] ? t : c->iv_start[i];
}

int64_t calendar_add(struct calendar *c, int64_t t, int64_t w)
{
    int64_t t0 = calendar_next_working(c, t);
    if (t0 == CAL_BEYOND || w <= 0)
        return t0;
    size_t i = find_end_after(c, t0);       /* the interval holding t0 */
    int64_t target = c->iv_cum[i] + (t0 - c->iv_start[i]);
    if (w > INT64_MAX / 4 - target)
        return CAL_BEYOND;
    target += w;
    size_t j = find_cum(c, target);
    if (j == c->n_iv)
        return CAL_BEYOND;
    return c->iv_start[j] + (target - c->iv_cum[j]);
}

int64_t calendar_working_minutes(struct calendar *c, int64_t from, int64_t to)
{
    if (to <= from || !cover(c, from))
        return 0;
    size_t i = find_end_after(c, from), j;
    if (i == c->n_iv)
        return 0;
    int64_t a = c->iv_cum[i] + (from > c->iv_start[i] ? from - c->iv_start[i] : 0);
    j = find_end_after(c, to - 1);              /* the interval holding or after to */
    int64_t b;
    if (j == c->n_iv)
        b = c->iv_cum[j - 1] + c->iv_end[j - 1] - c->iv_start[j - 1];
    else
        b = c->iv_cum[j] + (to > c->iv_start[j] ? to - c->iv_start[j] : 0);
    return b > a ? b - a : 0;
}

int64_t calendar_day_end(struct calendar *c, const char *date)
{
    uint32_t day = julian_of(date);
    if (day == 0)
        return -1;
    size_t slot = day % DAY_END_MEMO;
    if (c->memo[slot].day == day)
        return c->memo[slot].end;
    int64_t s = local_s(c, day + 1, 0);
    if (s == INT64_MIN)
        return -1;
    c->memo[slot].day = day;
    c->memo[slot].end = floor_div60(s);
    return c->memo[slot].end;
}
