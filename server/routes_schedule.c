/*
 * routes_schedule — SPEC §9 projected schedule, issue 11 part 1:
 *
 *   GET /api/tenant/calendar          any role   {timezone, shifts, holidays}
 *   PUT /api/tenant/calendar          admin      shifts and/or holidays (each replaced whole
 *                                                when present) -> 200 the calendar
 *   GET /api/planning-board/schedule  any role   {scheduleAt, data: [{orderId, projectedStart,
 *                                                projectedFinish, late}]}
 *
 *   POST /api/planning-board/preview-move  admin, scheduler  the what-if of a move (part 2)
 *
 * The projection is brought up to date before it is shown (schedule_refresh: a new
 * scheduleAt every [schedule] refresh_seconds, published as schedule_updated); every change
 * recomputes its columns and publishes (schedule_live.c). WIP limits: store/wip.c. The PUT
 * writes through the writer (docs/writer.md): answered after its commit, in the tenant's
 * write order.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/calendar.h"
#include "core/schedule.h"

static void r_calendar_get(struct http_req *r, const cJSON *body)
{
    struct board *b = route_board(r);
    (void)body;
    if (b != NULL)
        http_reply_json(r, 200, json_calendar(b->calendar));
}

/* A calendar PUT through the writer (docs/writer.md "Work centres, the calendar and tenant
 * settings"). owner first: CLOSED_HTTP clears it. The body is read again at prepare, against the
 * calendar as the tenant's earlier writes left it (an absent member keeps that one's). */
struct calendar_op {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id, user_id;
    cJSON *body;                        /* a copy of the request's body */
    struct board *b;                    /* set by prepare */
    struct calendar_job *job;
};

static void calendar_op_free(struct calendar_op *o)
{
    store_calendar_job_free(o->job);
    cJSON_Delete(o->body);
    free(o);
}

static void calendar_error(struct http_req *r, int rc, cJSON *details)
{
    http_reply_error(r, rc == PB_EVALIDATION || rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                     rc == PB_EVALIDATION ? "the calendar is not valid"
                     : rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                                              : "could not save the calendar", details);
}

/* Read body against cur into the shifts and holidays (caller storage, CAL_*_MAX entries) and
 * check them; the broken rules go to d (d->count > 0). */
static void calendar_read(const cJSON *body, const struct calendar *cur, struct cal_shift *shifts,
                          size_t *n_shifts, char (*holidays)[PB_DATE_LEN], size_t *n_holidays,
                          struct json_details *d)
{
    if (!json_calendar_parse(body, cur, shifts, n_shifts, holidays, n_holidays, d))
        calendar_check(shifts, *n_shifts, (const char (*)[PB_DATE_LEN])holidays, *n_holidays,
                       json_details_add, d);
}

static int calendar_op_prepare(void *ctx)
{
    struct calendar_op *o = ctx;
    struct cal_shift shifts[CAL_SHIFTS_MAX];
    char (*holidays)[PB_DATE_LEN];
    size_t n_shifts = 0, n_holidays = 0;
    struct json_details d;
    int rc = store_board(o->app->store, o->tenant_id, &o->b);

    if (rc != 0)
        return rc;
    if ((holidays = calloc(CAL_HOLIDAYS_MAX, sizeof(*holidays))) == NULL)
        return PB_EINTERNAL;
    json_details_init(&d);
    calendar_read(o->body, o->b->calendar, shifts, &n_shifts, holidays, &n_holidays, &d);
    rc = d.count > 0 ? PB_EVALIDATION
         : store_calendar_prepare(o->b, shifts, n_shifts, (const char (*)[PB_DATE_LEN])holidays,
                                  n_holidays, o->user_id, &o->job);
    json_details_cleanup(&d);
    free(holidays);
    return rc;
}

static int calendar_op_run(struct db *db, void *ctx)
{
    struct calendar_op *o = ctx;
    (void)db;                           /* the sibling store's connection */
    int rc = store_calendar_write(o->app->wstore, o->job);
    if (rc == 0)                        /* the other nodes reload it (SPEC §12) */
        rc = store_room_log_notify_calendar(o->app->wstore, o->tenant_id, o->app->node);
    return rc;
}

static void calendar_op_done(void *ctx, int status, uint64_t commit_seq)
{
    struct calendar_op *o = ctx;
    struct http_req *r = o->owner;
    (void)commit_seq;
    if (status == 0) {
        store_commit_noted(o->app->store);      /* group commit syncs it before answers */
        store_calendar_apply(o->b, o->job);
    }
    if (r != NULL) {
        r->job = NULL;
        if (status == 0)
            http_reply_json(r, 200, json_calendar(o->b->calendar));
        else
            calendar_error(r, status, NULL);
    }
    if (status == 0)
        schedule_changed(o->app, o->tenant_id, NULL, 0);        /* SPEC §9: every column */
    calendar_op_free(o);
}

static void r_calendar_put(struct http_req *r, const cJSON *body)
{
    struct cal_shift shifts[CAL_SHIFTS_MAX];
    char (*holidays)[PB_DATE_LEN] = NULL;
    size_t n_shifts, n_holidays;
    struct json_details d;
    struct calendar_op *o;
    struct board *b;
    cJSON *copy;

    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "body", "a JSON object is required");
        return;
    }
    if ((b = route_board(r)) == NULL)
        return;
    if ((holidays = calloc(CAL_HOLIDAYS_MAX, sizeof(*holidays))) == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    /* the details of a bad body are answered now; prepare reads it again */
    json_details_init(&d);
    calendar_read(body, b->calendar, shifts, &n_shifts, holidays, &n_holidays, &d);
    free(holidays);
    if (d.count > 0) {
        calendar_error(r, PB_EVALIDATION, json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);
    if ((copy = cJSON_Duplicate(body, true)) == NULL || (o = calloc(1, sizeof(*o))) == NULL) {
        cJSON_Delete(copy);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    *o = (struct calendar_op){ .owner = r, .app = r->app, .tenant_id = r->claims.tenant_id,
                               .user_id = r->claims.user_id, .body = copy };
    int rc = writes_submit(r->app, o->tenant_id, calendar_op_prepare, calendar_op_run,
                           calendar_op_done, o);
    if (rc != 0) {
        calendar_error(r, rc, NULL);
        calendar_op_free(o);
        return;
    }
    r->job = o;                         /* calendar_op_done answers */
}

static void add_column(cJSON *arr, const struct column *c)
{
    for (const struct order *o = board_column_first(c); o != NULL; o = board_column_next(o))
        cJSON_AddItemToArray(arr, json_schedule_entry(o));
}

/* Every order of the board, columns in display order and then the backlog, each in position
 * order (the board's own order). */
static void r_schedule(struct http_req *r, const cJSON *body)
{
    char at[PB_TIMESTAMP_LEN];
    struct board *b = route_board_scheduled(r);
    (void)body;
    if (b == NULL)
        return;
    cJSON *j = cJSON_CreateObject();
    json_format_minute(b->schedule_at, at);
    cJSON_AddStringToObject(j, "scheduleAt", at);
    cJSON *arr = cJSON_AddArrayToObject(j, "data");
    for (size_t i = 0; i < b->n_work_centres; i++)
        add_column(arr, &b->columns[i]);
    add_column(arr, &b->backlog);
    http_reply_json(r, 200, j);
}

/* POST /api/planning-board/preview-move (admin, scheduler; SPEC §9 what-if): the body of PUT
 * /api/planning-board/move, its checks and errors (an orderId not on the caller's board is a
 * 400 naming it, as there), nothing written; 200 {scheduleAt, changes, newlyLate,
 * noLongerLate}. */
static void r_preview_move(struct http_req *r, const cJSON *body)
{
    int64_t id = 0;
    struct json_details d;
    struct op_user u;
    struct op_result res;
    struct board *b;
    char name[PB_LOCK_USERNAME_MAX + 1];

    json_details_init(&d);
    if (body == NULL || json_get_int(body, "orderId", &id, &d) != 0 || id <= 0) {
        json_details_cleanup(&d);
        http_reply_invalid(r, "orderId", "is required");
        return;
    }
    json_details_cleanup(&d);
    if ((b = route_board(r)) == NULL)
        return;
    if (board_order(b, id) == NULL) {
        http_reply_invalid(r, "orderId", "no such order");
        return;
    }
    http_op_user(r, &u, name, sizeof(name));
    op_preview_move(r->app, &u, id, body, &res);
    http_reply_op(r, &res, 200);
}

const struct route pb_routes_schedule[] = {
    { M_GET, "/api/tenant/calendar", R_ANY, ROUTE_BOARD, r_calendar_get, NULL },
    { M_PUT, "/api/tenant/calendar", R_ADMIN, ROUTE_WRITER | ROUTE_BOARD, r_calendar_put, NULL },
    { M_GET, "/api/planning-board/schedule", R_ANY, ROUTE_BOARD, r_schedule, NULL },
    /* writes nothing (a what-if on a scratch projection) */
    { M_POST, "/api/planning-board/preview-move", R_ADMIN | R_SCHEDULER, ROUTE_BOARD,
      r_preview_move, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
