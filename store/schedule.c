/*
 * schedule — the store's side of the SPEC §9 projected schedule (issue 11): keeps the board's
 * projection (core/schedule.c over the cached orders and the board's calendar) current, and
 * writes the tenant's calendar through to SQLite. See store.h "projected schedule".
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/calendar.h"
#include "core/schedule.h"
#include "core/strbuf.h"

/* ---------------------------------------------------------------- projection */

static int64_t centre_default(void *ctx, int64_t wc_id)
{
    const struct work_centre *w = board_work_centre(ctx, wc_id);
    return w != NULL ? w->default_operation_minutes : 0;
}

static struct schedule_column column_of(struct board *b, size_t i)
{
    if (i == b->n_work_centres)
        return (struct schedule_column){ 0, 1, SCHEDULE_DEFAULT_MINUTES, &b->backlog.orders };
    const struct work_centre *w = &b->work_centres[i];
    return (struct schedule_column){ w->id, w->capacity, w->default_operation_minutes,
                                     &b->columns[i].orders };
}

static struct schedule_ctx ctx_of(struct board *b)
{
    return (struct schedule_ctx){ b->calendar, b->schedule_at, centre_default, b };
}

int store_schedule_refresh(struct board *b, int64_t now_ms, int64_t refresh_seconds,
                           struct schedule_changes *ch)
{
    int64_t now_min = now_ms / 60000 + (now_ms % 60000 != 0);     /* the next whole minute */
    /* a clock set back renews too: scheduleAt is "the moment the projection was computed" */
    bool renew = b->schedule_at == 0 || now_min < b->schedule_at
                 || (now_min - b->schedule_at) * 60 >= refresh_seconds;
    size_t before = ch != NULL ? ch->n : 0;
    int rc = 0;

    if (!renew && b->schedule_version == b->version)
        return 0;
    if (renew)
        b->schedule_at = now_min;
    struct schedule_ctx ctx = ctx_of(b);
    struct schedule_changes local = { 0 };
    struct schedule_changes *out = ch != NULL ? ch : &local;
    for (size_t i = 0; i <= b->n_work_centres; i++) {
        struct schedule_column col = column_of(b, i);
        if (schedule_column(&ctx, &col, out) != 0)
            rc = PB_EINTERNAL;
    }
    if (renew || out->n > before || rc != 0)
        b->version++;                   /* the answers that show the values are stale */
    b->schedule_version = b->version;
    schedule_changes_cleanup(&local);
    return rc;
}

int store_schedule_columns(struct board *b, const int64_t *wc_ids, size_t n,
                           struct schedule_changes *ch)
{
    bool current = b->schedule_at != 0 && b->schedule_version + 1 == b->version;
    struct schedule_ctx ctx = ctx_of(b);
    int rc = 0;

    if (b->schedule_at == 0)
        return 0;                       /* never computed: the next refresh does it all */
    for (size_t k = 0; k < n; k++) {
        bool seen = false;
        for (size_t j = 0; j < k; j++)
            seen |= wc_ids[j] == wc_ids[k];
        struct column *c = board_column(b, wc_ids[k]);
        if (seen || c == NULL)
            continue;
        struct schedule_column col = column_of(b, board__column_index(b, c));
        if (schedule_column(&ctx, &col, ch) != 0)
            rc = PB_EINTERNAL;
    }
    if (current && rc == 0)
        b->schedule_version = b->version;
    return rc;
}

/* ---------------------------------------------------------------- calendar */

static void count_only(void *ctx, const char *field, const char *message)
{
    (void)field;
    (void)message;
    (*(int *)ctx)++;
}

/* A calendar replacement in the writer's phases (store.h store_calendar_prepare). */
struct calendar_job {
    int64_t tenant_id, user_id;
    struct calendar *c;                 /* the new calendar; the board's after apply */
    char *data;                         /* audit event_data */
    char now[PB_TIMESTAMP_LEN];
};

void store_calendar_job_free(struct calendar_job *j)
{
    if (j == NULL)
        return;
    calendar_free(j->c);
    free(j->data);
    free(j);
}

int store_calendar_prepare(const struct board *b, const struct cal_shift *shifts,
                           size_t n_shifts, const char (*holidays)[PB_DATE_LEN],
                           size_t n_holidays, int64_t user_id, struct calendar_job **out)
{
    struct strbuf ev = { 0 };
    struct calendar_job *j;
    int bad = 0;

    *out = NULL;
    if (calendar_check(shifts, n_shifts, holidays, n_holidays, count_only, &bad) != 0)
        return PB_EVALIDATION;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    j->tenant_id = b->tenant_id;
    j->user_id = user_id;
    j->c = calendar_new(calendar_timezone(b->calendar), shifts, n_shifts, holidays, n_holidays);
    if (j->c != NULL)
        strbuf_printf(&ev, "{\"shifts\":%zu,\"holidays\":%zu}", n_shifts,
                      calendar_n_holidays(j->c));
    if (j->c == NULL || ev.oom) {
        free(ev.p);
        store_calendar_job_free(j);
        return PB_EINTERNAL;
    }
    j->data = ev.p;
    pb_now_timestamp(j->now);
    *out = j;
    return 0;
}

int store_calendar_write(struct store *s, struct calendar_job *j)
{
    static const char upsert_sql[] =
        "INSERT INTO tenant_calendars(tenant_id, updated_at) VALUES (?1, ?2) "
        "ON CONFLICT(tenant_id) DO UPDATE SET updated_at = excluded.updated_at";
    static const char del_shifts_sql[] = "DELETE FROM calendar_shifts WHERE tenant_id = ?1";
    static const char del_hol_sql[] = "DELETE FROM calendar_holidays WHERE tenant_id = ?1";
    static const char shift_sql[] =
        "INSERT INTO calendar_shifts(tenant_id, weekday, start_minute, end_minute) "
        "VALUES (?1, ?2, ?3, ?4)";
    static const char hol_sql[] =
        "INSERT OR IGNORE INTO calendar_holidays(tenant_id, day) VALUES (?1, ?2)";
    char day[PB_DATE_LEN];
    sqlite3_stmt *st;
    size_t n_shifts, n_holidays = calendar_n_holidays(j->c);
    /* the job's own calendar (no other thread sees it before apply): its shifts and holidays
     * are the input's, sorted, holidays once each */
    const struct cal_shift *shifts = calendar_shifts(j->c, &n_shifts);

#define RUN(sql, what, bind)                                                              \
    do {                                                                                  \
        if ((st = store__prepare(s, sql, what)) == NULL)                                  \
            return PB_EINTERNAL;                                                          \
        sqlite3_bind_int64(st, 1, j->tenant_id);                                          \
        bind;                                                                             \
        if (store__run_final(s, st, what, NULL, NULL) != 0)                               \
            return PB_EINTERNAL;                                                          \
    } while (0)
    RUN(upsert_sql, "calendar row", sqlite3_bind_text(st, 2, j->now, -1, SQLITE_STATIC));
    RUN(del_shifts_sql, "calendar shifts delete", (void)0);
    RUN(del_hol_sql, "calendar holidays delete", (void)0);
    for (size_t i = 0; i < n_shifts; i++)
        RUN(shift_sql, "calendar shift", (sqlite3_bind_int(st, 2, shifts[i].weekday),
                                          sqlite3_bind_int(st, 3, shifts[i].start),
                                          sqlite3_bind_int(st, 4, shifts[i].end)));
    for (size_t i = 0; i < n_holidays; i++) {
        calendar_holiday(j->c, i, day);
        RUN(hol_sql, "calendar holiday", sqlite3_bind_text(st, 2, day, -1, SQLITE_TRANSIENT));
    }
#undef RUN
    if (store__audit(s, j->tenant_id, "calendar_updated", 0, 0, 0, j->user_id, j->data, -1, -1,
                     j->now) != 0)
        return PB_EINTERNAL;
    return 0;
}

void store_calendar_apply(struct board *b, struct calendar_job *j)
{
    calendar_free(b->calendar);
    b->calendar = j->c;
    j->c = NULL;
    b->schedule_version = 0;            /* stale: everything is recomputed at the next refresh */
    b->version++;
}

int store_calendar_set(struct store *s, struct board *b, const struct cal_shift *shifts,
                       size_t n_shifts, const char (*holidays)[PB_DATE_LEN], size_t n_holidays,
                       int64_t user_id)
{
    struct calendar_job *j;
    int rc = store_calendar_prepare(b, shifts, n_shifts, holidays, n_holidays, user_id, &j);

    if (rc != 0)
        return rc;
    if (store__begin(s) != 0) {
        store_calendar_job_free(j);
        return PB_EINTERNAL;
    }
    if ((rc = store_calendar_write(s, j)) != 0) {
        store__rollback(s);
        store_calendar_job_free(j);
        return rc;
    }
    if (store__commit(s) != 0) {
        store_calendar_job_free(j);
        return PB_EINTERNAL;
    }
    store_calendar_apply(b, j);
    store_calendar_job_free(j);
    return 0;
}
