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
 * recomputes its columns and publishes (schedule_live.c). Not here yet: WIP limits.
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

static void r_calendar_put(struct http_req *r, const cJSON *body)
{
    struct cal_shift shifts[CAL_SHIFTS_MAX];
    char (*holidays)[PB_DATE_LEN] = NULL;
    size_t n_shifts, n_holidays;
    struct json_details d;
    struct board *b;

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
    json_details_init(&d);
    if (!json_calendar_parse(body, b->calendar, shifts, &n_shifts, holidays, &n_holidays, &d))
        calendar_check(shifts, n_shifts, holidays, n_holidays, json_details_add, &d);
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "the calendar is not valid", json_details_take(&d));
        free(holidays);
        return;
    }
    json_details_cleanup(&d);
    int rc = store_calendar_set(r->app->store, b, shifts, n_shifts,
                                (const char (*)[PB_DATE_LEN])holidays, n_holidays,
                                r->claims.user_id);
    free(holidays);
    if (rc != 0) {
        http_reply_error(r, rc == PB_EVALIDATION ? rc : PB_EINTERNAL,
                         rc == PB_EVALIDATION ? "the calendar is not valid"
                                              : "could not save the calendar", NULL);
        return;
    }
    http_reply_json(r, 200, json_calendar(b->calendar));
    schedule_changed(r->app, r->claims.tenant_id, NULL, 0);    /* SPEC §9: every column */
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
    { M_GET, "/api/tenant/calendar", R_ANY, 0, r_calendar_get, NULL },
    { M_PUT, "/api/tenant/calendar", R_ADMIN, 0, r_calendar_put, NULL },
    { M_GET, "/api/planning-board/schedule", R_ANY, 0, r_schedule, NULL },
    /* ROUTE_WRITER: it writes nothing, so it is never parked behind the writer's jobs */
    { M_POST, "/api/planning-board/preview-move", R_ADMIN | R_SCHEDULER, ROUTE_WRITER,
      r_preview_move, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
