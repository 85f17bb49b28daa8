/*
 * tz — dates in IANA zones via the C library and the system tzdata.
 */
#include "core/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ZONEINFO "/usr/share/zoneinfo/"

bool tz_valid(const char *name)
{
    char path[256];
    struct stat st;
    if (name == NULL || *name == '\0' || name[0] == '/' || strstr(name, "..") != NULL
        || strlen(name) > 100)
        return false;
    if (strcmp(name, "UTC") == 0)
        return true;
    snprintf(path, sizeof(path), ZONEINFO "%s", name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Run with TZ=name (restored afterwards). */
struct tz_saved {
    char *old;
    bool had;
};

static void tz_enter(const char *name, struct tz_saved *sv)
{
    const char *old = getenv("TZ");
    sv->had = old != NULL;
    sv->old = old != NULL ? strdup(old) : NULL;
    setenv("TZ", tz_valid(name) ? name : "UTC", 1);
    tzset();
}

static void tz_leave(struct tz_saved *sv)
{
    if (sv->had && sv->old != NULL)
        setenv("TZ", sv->old, 1);
    else
        unsetenv("TZ");
    free(sv->old);
    tzset();
}

void tz_date_at(const char *name, int64_t ms, char out[PB_DATE_LEN])
{
    struct tz_saved sv;
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    tz_enter(name, &sv);
    localtime_r(&t, &tm);
    tz_leave(&sv);
    strftime(out, PB_DATE_LEN, "%Y-%m-%d", &tm);
}

void tz_today(const char *name, char out[PB_DATE_LEN])
{
    tz_date_at(name, pb_now_ms(), out);
}

int64_t tz_day_start_ms(const char *name, const char *date)
{
    struct tz_saved sv;
    struct tm tm;
    time_t t;
    if (!pb_date_valid(date))
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = atoi(date) - 1900;
    tm.tm_mon = atoi(date + 5) - 1;
    tm.tm_mday = atoi(date + 8);
    tm.tm_isdst = -1;
    tz_enter(name, &sv);
    t = mktime(&tm);
    tz_leave(&sv);
    return (int64_t)t * 1000;
}
