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

int store_schedule_all(struct board *b, struct schedule_changes *ch)
{
    struct schedule_ctx ctx = ctx_of(b);
    int rc = 0;

    if (b->schedule_at == 0)
        return 0;                       /* never computed: the next refresh does it all */
    for (size_t i = 0; i <= b->n_work_centres; i++) {
        struct schedule_column col = column_of(b, i);
        if (schedule_column(&ctx, &col, ch) != 0)
            rc = PB_EINTERNAL;
    }
    if (rc == 0)
        b->schedule_version = b->version;
    return rc;
}

/* ---------------------------------------------------------------- what-if */

/* Column c's orders in position order into seq (room for its length + 1), leaving out skip
 * and putting insert at position pos (clamped to the end) when not NULL. Returns the count. */
static size_t scratch(const struct column *c, const struct order *skip, const struct order *insert,
                      size_t pos, const struct order **seq)
{
    size_t n = 0;
    for (const struct order *o = board_column_first(c); o != NULL; o = board_column_next(o)) {
        if (o == skip)
            continue;
        if (insert != NULL && n == pos)
            seq[n++] = insert, insert = NULL;
        seq[n++] = o;
    }
    if (insert != NULL)
        seq[n++] = insert;
    return n;
}

/* Append to p the orders of seq whose finish or late would change. */
static int collect(struct store_preview *p, const struct order *const *seq,
                   const struct schedule_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct order *o = seq[i];
        if (o->projected_finish == v[i].finish && o->late == v[i].late)
            continue;
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 16;
            struct store_preview_entry *e = realloc(p->entries, cap * sizeof(*e));
            if (e == NULL)
                return PB_EINTERNAL;
            p->entries = e;
            p->cap = cap;
        }
        p->entries[p->n++] = (struct store_preview_entry){
            o, { o->projected_start, o->projected_finish, o->late }, v[i] };
    }
    return 0;
}

int store_schedule_preview(struct board *b, const struct order *o, int64_t to_wc_id,
                           int64_t position, struct store_preview *out)
{
    struct column *from = board_column(b, o->work_centre_id), *to = board_column(b, to_wc_id);
    struct schedule_ctx ctx = ctx_of(b);
    const struct order **seq = NULL;
    struct schedule_value *v = NULL;
    int rc = PB_EINTERNAL;

    memset(out, 0, sizeof(*out));
    if (from == NULL || to == NULL)
        return PB_EVALIDATION;
    size_t nf = board_column_len(from), nt = board_column_len(to);
    size_t cap = (nf > nt ? nf : nt) + 1;
    if ((seq = malloc(cap * sizeof(*seq))) == NULL || (v = malloc(cap * sizeof(*v))) == NULL)
        goto done;
    /* the target without the order (it may be its own column), then the order at position */
    size_t len = nt - (from == to);
    size_t pos = position < 0 || (uint64_t)position > len ? len : (size_t)position;
    size_t n = scratch(to, o, o, pos, seq);
    struct schedule_column col = column_of(b, board__column_index(b, to));
    if (schedule_sequence(&ctx, &col, seq, n, v) != 0 || collect(out, seq, v, n) != 0)
        goto done;
    if (from != to) {
        n = scratch(from, o, NULL, 0, seq);
        col = column_of(b, board__column_index(b, from));
        if (schedule_sequence(&ctx, &col, seq, n, v) != 0 || collect(out, seq, v, n) != 0)
            goto done;
    }
    rc = 0;
done:
    free(seq);
    free(v);
    if (rc != 0)
        store_preview_cleanup(out);
    return rc;
}

void store_preview_cleanup(struct store_preview *p)
{
    free(p->entries);
    p->entries = NULL;
    p->n = p->cap = 0;
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
        "INSERT INTO calendar_holidays(tenant_id, day) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
    char day[PB_DATE_LEN];
    struct db_stmt *st;
    size_t n_shifts, n_holidays = calendar_n_holidays(j->c);
    /* the job's own calendar (no other thread sees it before apply): its shifts and holidays
     * are the input's, sorted, holidays once each */
    const struct cal_shift *shifts = calendar_shifts(j->c, &n_shifts);

#define RUN(sql, what, bind)                                                              \
    do {                                                                                  \
        if ((st = store__prepare(s, sql, what)) == NULL)                                  \
            return PB_EINTERNAL;                                                          \
        db_bind_int64(st, 1, j->tenant_id);                                          \
        bind;                                                                             \
        if (store__run_final(s, st, what, NULL, NULL) != 0)                               \
            return PB_EINTERNAL;                                                          \
    } while (0)
    RUN(upsert_sql, "calendar row", db_bind_text(st, 2, j->now, -1, DB_STATIC));
    RUN(del_shifts_sql, "calendar shifts delete", (void)0);
    RUN(del_hol_sql, "calendar holidays delete", (void)0);
    for (size_t i = 0; i < n_shifts; i++)
        RUN(shift_sql, "calendar shift", (db_bind_int(st, 2, shifts[i].weekday),
                                          db_bind_int(st, 3, shifts[i].start),
                                          db_bind_int(st, 4, shifts[i].end)));
    for (size_t i = 0; i < n_holidays; i++) {
        calendar_holiday(j->c, i, day);
        RUN(hol_sql, "calendar holiday", db_bind_text(st, 2, day, -1, DB_TRANSIENT));
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
