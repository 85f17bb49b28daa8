/*
 * tz — dates in IANA zones through glib's GTimeZone / GDateTime (Debian libglib2.0-dev) over
 * the system tzdata: no TZ environment variable, no tzset(), so any thread may call it
 * (issue 9 item 3: setenv("TZ") + tzset() per call was process-global state and not
 * thread-safe). See tz.h.
 */
#include "core/tz.h"

#include <glib.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define ZONEINFO "/usr/share/zoneinfo/"
#define TZ_CACHE_MAX 1024               /* zones kept loaded; more are loaded per call */

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

/* name -> GTimeZone *, both owned here for the life of the process; glib's own cache drops a
 * zone with its last reference, which would mean reading the tzdata file at every call. */
static GMutex cache_lock;
static GHashTable *cache;

/* A new reference to zone name, UTC when it is NULL or not tz_valid(). Never NULL. */
static GTimeZone *zone_ref(const char *name)
{
    GTimeZone *tz;

    if (name == NULL || !tz_valid(name) || strcmp(name, "UTC") == 0)
        return g_time_zone_new_utc();
    g_mutex_lock(&cache_lock);
    if (cache == NULL)
        cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify)g_time_zone_unref);
    tz = g_hash_table_lookup(cache, name);
    if (tz != NULL) {
        g_time_zone_ref(tz);
    } else if ((tz = g_time_zone_new_identifier(name)) == NULL) {
        tz = g_time_zone_new_utc();     /* a file that is not a compiled zone */
    } else if (g_hash_table_size(cache) < TZ_CACHE_MAX) {
        g_hash_table_insert(cache, g_strdup(name), g_time_zone_ref(tz));
    }
    g_mutex_unlock(&cache_lock);
    return tz;
}

/* Floor division: instants before 1970 belong to the second that starts before them. */
static int64_t floor_s(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

int tz_date_at(const char *name, int64_t ms, char out[PB_DATE_LEN])
{
    GDateTime *utc = g_date_time_new_from_unix_utc(floor_s(ms)), *local = NULL;
    GTimeZone *tz = zone_ref(name);
    int y, m, d, rc = PB_EVALIDATION;

    out[0] = '\0';
    if (utc != NULL && (local = g_date_time_to_timezone(utc, tz)) != NULL) {
        g_date_time_get_ymd(local, &y, &m, &d);
        snprintf(out, PB_DATE_LEN, "%04d-%02d-%02d", y, m, d);
        rc = 0;
    }
    if (local != NULL)
        g_date_time_unref(local);
    if (utc != NULL)
        g_date_time_unref(utc);
    g_time_zone_unref(tz);
    return rc;
}

void tz_today(const char *name, char out[PB_DATE_LEN])
{
    tz_date_at(name, pb_now_ms(), out);  /* now is always within years 1..9999 */
}

int64_t tz_day_start_ms(const char *name, const char *date)
{
    GTimeZone *tz;
    GDateTime *dt;
    int64_t ms = -1;

    if (!pb_date_valid(date))
        return -1;
    tz = zone_ref(name);
    /* glib moves a local time inside a DST gap forward past the gap: a day whose midnight is
     * skipped begins at the transition */
    dt = g_date_time_new(tz, atoi(date), atoi(date + 5), atoi(date + 8), 0, 0, 0);
    if (dt != NULL) {
        ms = (int64_t)g_date_time_to_unix(dt) * 1000;
        g_date_time_unref(dt);
    }
    g_time_zone_unref(tz);
    return ms;
}
