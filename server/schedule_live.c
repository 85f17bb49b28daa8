/*
 * schedule_live — the live projected schedule of SPEC §9 (issue 11 items 3 and 4):
 *
 *   - after each change the columns it can touch are recomputed (store_schedule_columns; a
 *     calendar or work-centre change: every column, store_schedule_all) and ONE room event
 *     schedule_updated {scheduleAt, orders: [{orderId, projectedStart, projectedFinish,
 *     late}]} carries the orders whose values changed, right after the change's own event;
 *   - every [schedule] refresh_seconds one timer walks the rooms with members and renews
 *     scheduleAt (time passing makes orders late), publishing only when something changed;
 *     a read that renews it (route_board_scheduled) publishes the same way;
 *   - the what-if of a move (preview-move) is answered from a scratch projection of the two
 *     columns (store_schedule_preview): nothing is written, nothing published.
 *
 * Clients never poll: what they hold is the values of the last event or read, and every
 * change of a value after that reaches them in a schedule_updated (docs/api-notes.md
 * "Projected schedule (live)"). Loop thread only.
 */
#include "server/server_int.h"

#include <stdlib.h>

#include "core/schedule.h"
#include "store/follow.h"

/* ---------------------------------------------------------------- timing */

void schedule_observe(struct pb_histogram *h, uint64_t t0_ns)
{
    double s = (double)(uv_hrtime() - t0_ns) / 1e9;
    size_t i = 0;
    while (i < PB_COMMIT_BUCKETS - 1 && s > pb_commit_bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum_seconds += s;
}

/* ---------------------------------------------------------------- schedule_updated */

/* One schedule_updated for the orders of ch (ids of orders on b), when there is any. */
static void publish(struct app *app, int64_t tenant_id, const struct board *b,
                    const struct schedule_changes *ch)
{
    char at[PB_TIMESTAMP_LEN];
    if (ch->n == 0)
        return;
    cJSON *d = cJSON_CreateObject();
    json_format_minute(b->schedule_at, at);
    cJSON_AddStringToObject(d, "scheduleAt", at);
    cJSON *arr = cJSON_AddArrayToObject(d, "orders");
    for (size_t i = 0; i < ch->n; i++) {
        const struct order *o = board_order(b, ch->ids[i]);
        if (o != NULL)
            cJSON_AddItemToArray(arr, json_schedule_entry(o));
    }
    room_publish(app, tenant_id, "schedule_updated", d);
}

int schedule_changed(struct app *app, int64_t tenant_id, const int64_t *wc_ids, size_t n)
{
    struct schedule_changes ch = { 0 };
    struct board *b;
    int rc;

    if (store_board(app->store, tenant_id, &b) != 0)
        return PB_EINTERNAL;
    if (b->schedule_at == 0) {
        /* never computed, so never shown: compute it all now, nothing to tell anyone */
        return store_schedule_refresh(b, pb_now_ms(), app->cfg.schedule_refresh_seconds, NULL);
    }
    uint64_t t0 = uv_hrtime();
    rc = n == 0 ? store_schedule_all(b, &ch) : store_schedule_columns(b, wc_ids, n, &ch);
    schedule_observe(&app->metrics.schedule_recompute, t0);
    publish(app, tenant_id, b, &ch);
    schedule_changes_cleanup(&ch);
    return rc;
}

int schedule_refresh(struct app *app, int64_t tenant_id, struct board *b)
{
    struct schedule_changes ch = { 0 };
    bool first = b->schedule_at == 0;
    uint64_t t0 = uv_hrtime();
    int rc = store_schedule_refresh(b, pb_now_ms(), app->cfg.schedule_refresh_seconds,
                                    first ? NULL : &ch);
    if (ch.n > 0)
        schedule_observe(&app->metrics.schedule_recompute, t0);
    publish(app, tenant_id, b, &ch);
    schedule_changes_cleanup(&ch);
    return rc;
}

/* ---------------------------------------------------------------- the periodic refresh */

static void refresh_room(struct app *app, int64_t tenant_id, void *ctx)
{
    struct board *b;
    (void)ctx;
    /* PostgreSQL: a board that is not cached (dropped as stale) is not loaded here, on the
     * loop (issue 13): its next use loads it off the loop, projection computed afresh, and a
     * first computation publishes nothing anyway */
    if (app->postgres && !store_follow_loaded(app->store, tenant_id))
        return;
    if (store_board(app->store, tenant_id, &b) == 0)
        (void)schedule_refresh(app, tenant_id, b);      /* out of memory: values still set */
}

static void on_refresh_timer(uv_timer_t *t)
{
    struct app *app = t->data;
    if (!app->stopping)
        room_each_joined(app, refresh_room, NULL);
}

void schedule_live_start(struct app *app)
{
    uint64_t ms = (uint64_t)app->cfg.schedule_refresh_seconds * 1000;
    uv_timer_init(app->loop, &app->schedule_timer);
    app->schedule_timer.data = app;
    uv_timer_start(&app->schedule_timer, on_refresh_timer, ms, ms);
}

void schedule_live_close(struct app *app)
{
    uv_timer_stop(&app->schedule_timer);
    if (!uv_is_closing((uv_handle_t *)&app->schedule_timer))
        uv_close((uv_handle_t *)&app->schedule_timer, NULL);
}

/* ---------------------------------------------------------------- preview-move */

static cJSON *finish_or_null(int64_t minute)
{
    char ts[PB_TIMESTAMP_LEN];
    if (minute == SCHEDULE_NULL || minute == SCHEDULE_BEYOND)
        return cJSON_CreateNull();
    json_format_minute(minute, ts);
    return cJSON_CreateString(ts);
}

/* late of an order with projected values v: null when it is not scheduled (SPEC §9). */
static cJSON *late_or_null(const struct schedule_value *v)
{
    return v->start == SCHEDULE_NULL ? cJSON_CreateNull() : cJSON_CreateBool(v->late);
}

cJSON *schedule_preview_json(struct app *app, struct board *b, const struct order *o,
                             int64_t to_wc_id, int64_t position, int *err)
{
    struct store_preview p = { 0 };
    char at[PB_TIMESTAMP_LEN];
    uint64_t t0 = uv_hrtime();

    /* the "was" values are the current ones: bring them up to date (and tell the room) */
    (void)schedule_refresh(app, b->tenant_id, b);
    if ((*err = store_schedule_preview(b, o, to_wc_id, position, &p)) != 0)
        return NULL;
    cJSON *j = cJSON_CreateObject();
    json_format_minute(b->schedule_at, at);
    cJSON_AddStringToObject(j, "scheduleAt", at);
    cJSON *changes = cJSON_AddArrayToObject(j, "changes");
    cJSON *newly = cJSON_AddArrayToObject(j, "newlyLate");
    cJSON *no_longer = cJSON_AddArrayToObject(j, "noLongerLate");
    for (size_t i = 0; i < p.n; i++) {
        const struct store_preview_entry *e = &p.entries[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "orderId", (double)e->order->id);
        cJSON_AddStringToObject(c, "orderNumber", e->order->order_number);
        cJSON_AddItemToObject(c, "projectedFinish", finish_or_null(e->now.finish));
        cJSON_AddItemToObject(c, "late", late_or_null(&e->now));
        cJSON_AddItemToObject(c, "wasProjectedFinish", finish_or_null(e->was.finish));
        cJSON_AddItemToObject(c, "wasLate", late_or_null(&e->was));
        cJSON_AddItemToArray(changes, c);
        if (e->now.late && !e->was.late)
            cJSON_AddItemToArray(newly, cJSON_CreateNumber((double)e->order->id));
        else if (e->was.late && !e->now.late)
            cJSON_AddItemToArray(no_longer, cJSON_CreateNumber((double)e->order->id));
    }
    store_preview_cleanup(&p);
    schedule_observe(&app->metrics.schedule_preview, t0);
    return j;
}
