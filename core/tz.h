/*
 * tz — IANA time zones for "today in the tenant's timezone" (SPEC §4 Tenant). Uses the
 * system's tzdata (Debian package tzdata) through glib's GTimeZone (libglib2.0): no
 * hand-written rules, no TZ environment variable, no tzset(). Thread-safe: every function may
 * be called from any thread (loaded zones are cached behind a mutex). Nothing depends on the
 * process's own TZ or locale.
 */
#ifndef PB_TZ_H
#define PB_TZ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/model.h"

/* True when name is a known IANA zone ("Europe/London", "UTC"): a file under
 * /usr/share/zoneinfo, with no ".." and no leading '/'. */
bool tz_valid(const char *name);

/* The calendar date "YYYY-MM-DD" at instant ms (ms since the epoch) in zone name (UTC when
 * name is NULL or unknown) into out[PB_DATE_LEN]. 0, or PB_EVALIDATION when the local date is
 * outside the years 1..9999 that GDateTime handles (out is then ""). */
int tz_date_at(const char *name, int64_t ms, char out[PB_DATE_LEN]);

/* Today's date in zone name (tz_date_at of now). */
void tz_today(const char *name, char out[PB_DATE_LEN]);

/* The UTC instant (ms, a whole second) at which local date `date` ("YYYY-MM-DD") begins in
 * zone name (UTC when NULL or unknown): local midnight, or the end of the DST gap on a day
 * whose midnight is skipped; -1 for a malformed date or one glib cannot represent. Used to turn
 * "today" into a UTC range for SQL. */
int64_t tz_day_start_ms(const char *name, const char *date);

#endif
