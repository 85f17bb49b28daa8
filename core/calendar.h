/*
 * calendar — a tenant's working calendar (SPEC §9 "Calendar", issue 11 item 1): shifts per ISO
 * weekday and holidays in the tenant's IANA time zone, and the two questions the projected
 * schedule asks of it: "the next working minute at or after t" and "t plus W working minutes".
 *
 * Rules (SPEC §9):
 *   - a shift {weekday 1..7 (ISO, Monday = 1), start, end} in local wall-clock minutes
 *     0..1439; an end not after its start runs past midnight into the next day (end == start
 *     is a 24-hour shift); a shift belongs to the day it starts, so a holiday removes the
 *     shifts that start on it (one running into it from the day before still works);
 *   - working time is the union of the shifts of the days that are not holidays;
 *   - working minutes are real minutes: a shift's start and end are turned into UTC through the
 *     zone (glib GTimeZone over the system tzdata), so a 08:00-16:00 shift is 480 minutes on a
 *     day the clocks change at 02:00, and a 22:00-06:00 shift is 420 or 540 minutes on the
 *     night the clocks go forward or back. A local time skipped by a DST gap counts from the end
 *     of the gap; a local time that happens twice (clocks back) is taken as glib's
 *     g_date_time_new takes it (the first, daylight, one).
 *
 * Times are whole minutes since the Unix epoch, UTC (int64_t). A shift edge that is not a whole
 * UTC minute (historical zones with second offsets) is rounded inwards.
 *
 * Horizon: the calendar answers up to CAL_HORIZON_DAYS local days after the earliest day it
 * was asked about; past it CAL_BEYOND is returned (a queue that long is not a schedule any
 * more, and it bounds the work a hostile plannedDurationMinutes can cause: at most
 * CAL_HORIZON_DAYS days of intervals are ever built).
 *
 * Threading: a struct calendar caches the working intervals it has computed (built lazily, in
 * chunks of days), so even the query functions change it: one thread at a time (the loop
 * thread owns a tenant's calendar through its board cache).
 */
#ifndef PB_CALENDAR_H
#define PB_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

#define CAL_BEYOND        INT64_MAX     /* "after the horizon" */
#define CAL_HORIZON_DAYS  (366 * 30)    /* days the calendar looks ahead: 30 years */
#define CAL_SHIFTS_MAX    100           /* shifts in one calendar (SPEC §4 bounded input) */
#define CAL_HOLIDAYS_MAX  1000          /* holidays in one calendar */

struct cal_shift {
    int weekday;                /* 1..7, ISO (Monday = 1) */
    int start;                  /* local minutes after midnight, 0..1439 */
    int end;                    /* local minutes after midnight, 0..1439; <= start: next day */
};

struct calendar;

/*
 * Check shifts and holidays against SPEC §9 before a calendar is made of them. For each broken
 * rule calls report(ctx, field, message) with a field such as "shifts[2].end" or "holidays[0]"
 * and a sentence (static storage): weekday outside 1..7, a time outside 0..1439, two shifts of
 * one weekday that overlap (both named: "shifts[3]" overlaps "shifts[1]"), no shift at all (a
 * calendar without working time has no projection), more than CAL_SHIFTS_MAX shifts or
 * CAL_HOLIDAYS_MAX holidays, a holiday that is not a real date "YYYY-MM-DD" (years
 * 1900..9999). Duplicate holidays are allowed (kept once). Returns the number of broken rules.
 */
int calendar_check(const struct cal_shift *shifts, size_t n_shifts,
                   const char (*holidays)[PB_DATE_LEN], size_t n_holidays,
                   pb_report_fn report, void *ctx);

/*
 * A new calendar in zone tz (an IANA name; UTC when NULL or unknown: callers validate with
 * tz_valid) of shifts and holidays that passed calendar_check (both copied; shifts kept sorted
 * by weekday and start, holidays sorted and unique). With n_shifts 0 and shifts NULL the SPEC
 * §9 default: Monday to Friday 08:00-16:00, no holidays. Returns NULL when out of memory or
 * when the input does not pass calendar_check (a programming error). Free with calendar_free.
 */
struct calendar *calendar_new(const char *tz, const struct cal_shift *shifts, size_t n_shifts,
                              const char (*holidays)[PB_DATE_LEN], size_t n_holidays);
/* Free c and its interval cache; NULL does nothing. */
void calendar_free(struct calendar *c);

/* The zone name (owned by c), the shifts (sorted by weekday, start) and holidays (sorted,
 * unique; each "YYYY-MM-DD" into out[PB_DATE_LEN] by calendar_holiday). */
const char *calendar_timezone(const struct calendar *c);
const struct cal_shift *calendar_shifts(const struct calendar *c, size_t *n);
size_t calendar_n_holidays(const struct calendar *c);
void calendar_holiday(const struct calendar *c, size_t i, char out[PB_DATE_LEN]);

/* The first working minute at or after t (minutes since the epoch, UTC): t itself when t lies
 * inside a shift, else the start of the next one. CAL_BEYOND past the horizon. */
int64_t calendar_next_working(struct calendar *c, int64_t t);

/* The minute at which w >= 0 working minutes, started at calendar_next_working(t), are done:
 * the end of the last of them (a job that fills a 08:00-16:00 shift exactly ends at 16:00,
 * not at the next 08:00). w == 0 gives calendar_next_working(t). CAL_BEYOND past the horizon
 * (and for t == CAL_BEYOND). */
int64_t calendar_add(struct calendar *c, int64_t t, int64_t w);

/* Working minutes in [from, to) (0 when to <= from); counted up to the horizon. */
int64_t calendar_working_minutes(struct calendar *c, int64_t from, int64_t to);

/* The minute at which local date `date` ("YYYY-MM-DD") ends in c's zone: the midnight that
 * starts the next day (SPEC §9 late: "the end of dueDate"). -1 for a malformed date. */
int64_t calendar_day_end(struct calendar *c, const char *date);

#endif
