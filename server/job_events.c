/*
 * job_events — on PostgreSQL (SPEC §12, issue 13 item 2 "every room event is a row written in
 * the same transaction as its change") a writer job's room events are sequenced inside the
 * job's own transaction, the way a move batch's order_moved are (board_ops.c batch_run): a
 * change that committed has its events in room_events, whatever happens to the node next, and
 * a change whose events cannot be sequenced does not commit.
 *
 * A job embeds a struct job_events. Its prepare (loop thread) encodes the events whose data is
 * known there (job_events_add: room_encode, which counts the encode fault on the loop) and the
 * order_unlocked of a lock the change ends (job_events_add_unlock); its run (writer thread)
 * may add those whose data only the run knows (job_events_add_run: a created order's id, an
 * import's counts; ctx only, ws_msg_new), then sequences them after the change's statements
 * (job_events_sequence, after job_events_run_begin took the tenant's room_log row first, as a
 * move batch does: one tenant's writes take turns across the nodes and lock the analytics rows
 * in one order). Its done asks job_events_done: true when the events are logged (the webhook
 * outbox is nudged, the cached board answer dropped: what room_publish does on PostgreSQL; the
 * events reach every node's room, this one too, through the bus, server/bus.c); false when the
 * caller must publish as before (SQLite, where room_publish runs in done unchanged; no event;
 * or a frame that could not be built: out of memory, then room_publish after the commit).
 */
#include "server/server_int.h"

#include "store/drag_locks.h"

#include <string.h>

/* ws_msg_new wrote {"event":"<name>","data":...}: the seq goes after the name. */
static size_t split_of(const char *event)
{
    return strlen("{\"event\":\"") + strlen(event) + 1;
}

void job_events_init(struct job_events *je, struct app *app, int64_t tenant_id)
{
    memset(je, 0, sizeof(*je));
    je->app = app;
    je->tenant_id = tenant_id;
    je->on = app->postgres && app->wstore != NULL;
}

/* Drop the frames from index `from` on. */
static void drop_from(struct job_events *je, size_t from)
{
    for (size_t i = from; i < je->n; i++) {
        ws_msg_unref(je->ev[i].m);
        je->ev[i].m = NULL;
    }
    je->n = from;
}

/* Append m (NULL: out of memory: the job falls back to publishing after commit). */
static void append(struct job_events *je, struct ws_msg *m, const char *event,
                   int64_t unlock_order_id)
{
    if (m == NULL || je->n == JOB_EVENTS_MAX) {
        ws_msg_unref(m);
        je->broken = true;
        return;
    }
    je->ev[je->n++] = (struct job_event){ .m = m, .split = split_of(event),
                                          .unlock_order_id = unlock_order_id };
}

void job_events_add(struct job_events *je, const char *event, cJSON *data)
{
    if (!je->on) {
        cJSON_Delete(data);
        return;
    }
    append(je, room_encode(event, data), event, 0);
    je->n_prepared = je->n;
}

void job_events_add_unlock(struct job_events *je, int64_t order_id, const char *reason)
{
    if (!je->on)
        return;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "orderId", (double)order_id);
    cJSON_AddStringToObject(d, "reason", reason);
    append(je, room_encode("order_unlocked", d), "order_unlocked", order_id);
    je->n_prepared = je->n;
}

void job_events_add_run(struct job_events *je, const char *event, cJSON *data)
{
    if (!je->on) {
        cJSON_Delete(data);
        return;
    }
    append(je, ws_msg_new(event, 0, NULL, data), event, 0);
}

void job_events_give_up(struct job_events *je)
{
    je->broken = true;
}

int job_events_run_begin(struct job_events *je, bool will_add)
{
    /* the run may go again after a failed group: what the last run added goes */
    drop_from(je, je->n_prepared);
    je->logged = false;
    if (!je->on || je->broken || (je->n_prepared == 0 && !will_add))
        return 0;
    return store_room_log_lock(je->app->wstore, je->tenant_id) != 0 ? PB_EINTERNAL : 0;
}

int job_events_sequence(struct job_events *je)
{
    struct room_log_event ev[JOB_EVENTS_MAX];
    size_t k = 0;

    je->logged = false;
    je->first_seq = je->last_seq = 0;
    if (!je->on || je->broken || je->n == 0)
        return 0;                       /* published after the commit instead (done) */
    for (size_t i = 0; i < je->n; i++) {
        struct job_event *e = &je->ev[i];
        e->sequenced = false;
        if (e->unlock_order_id > 0) {
            /* SPEC §5/§12: exactly one order_unlocked per lock end: only the DELETE that
             * returned the row tells it (store/drag_locks.h) */
            int n = store_drag_lock_remove(je->app->wstore, je->tenant_id, e->unlock_order_id,
                                           0, NULL, 0, NULL, NULL);
            if (n < 0)
                return PB_EINTERNAL;
            if (n == 0)
                continue;
        }
        e->sequenced = true;
        ev[k++] = (struct room_log_event){
            .tenant_id = je->tenant_id, .frame = (const char *)e->m->buf + LWS_PRE,
            .len = e->m->len, .split = e->split,
        };
    }
    if (k > 0 && store_room_log_sequence(je->app->wstore, ev, k, je->app->node,
                                         PB_ROOM_LOG_EVENTS) != 0)
        return PB_EINTERNAL;
    je->first_seq = k > 0 ? ev[0].seq : 0;
    je->last_seq = k > 0 ? ev[k - 1].seq : 0;
    je->logged = true;
    return 0;
}

bool job_events_done(struct job_events *je, int status)
{
    bool logged = status == 0 && je->logged;
    if (logged) {
        for (size_t i = 0; i < je->n; i++)      /* the mirror, before the bus brings it */
            if (je->ev[i].unlock_order_id > 0 && je->ev[i].sequenced)
                lock_release(je->app->locks, je->tenant_id, je->ev[i].unlock_order_id, 0, NULL);
        webhooks_nudge(je->app, je->tenant_id);     /* as room_publish does */
        room_board_forget(je->app, je->tenant_id);
        if (je->last_seq > 0) {
            /* the room is behind until the bus read the rows back (planboard_events_unsettled
             * counts it from now, not only from the NOTIFY), and it reads them now */
            room_notified(je->app, je->tenant_id, je->last_seq);
            follow_own(je->app, je->tenant_id, je->first_seq, je->last_seq);
            bus_want(je->app, je->tenant_id);
        }
    }
    drop_from(je, 0);
    je->n_prepared = 0;
    return logged;
}

void job_events_cleanup(struct job_events *je)
{
    drop_from(je, 0);
    je->n_prepared = 0;
}
