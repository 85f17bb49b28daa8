/*
 * tz — IANA time zones for "today in the tenant's timezone" (SPEC §4 Tenant). Uses the
 * system's tzdata (Debian package tzdata) through the C library: no hand-written rules.
 * Not thread-safe (it switches TZ for the duration of a call): loop thread only.
 */
#ifndef PB_TZ_H
#define PB_TZ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"

/* True when name is a known IANA zone ("Europe/London", "UTC"): a file under
 * /usr/share/zoneinfo, with no ".." and no leading '/'. */
bool tz_valid(const char *name);

/* The calendar date "YYYY-MM-DD" at instant ms (ms since the epoch) in zone name (UTC when
 * name is NULL or unknown) into out[PB_DATE_LEN]. */
void tz_date_at(const char *name, int64_t ms, char out[PB_DATE_LEN]);

/* Today's date in zone name (tz_date_at of now). */
void tz_today(const char *name, char out[PB_DATE_LEN]);

/* The UTC instant (ms) at which local date `date` ("YYYY-MM-DD") begins in zone name; -1 for
 * a malformed date. Used to turn "today" into a UTC range for SQL. */
int64_t tz_day_start_ms(const char *name, const char *date);

#endif
