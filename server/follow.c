/*
 * follow — on PostgreSQL (SPEC §12; issue 13 item 3) this node's cached boards follow the
 * other nodes' changes by applying their room events in seq order (store/follow.h), instead of
 * being dropped and reloaded whole at each foreign NOTIFY (docs/postgresql.md "Many nodes, one
 * order").
 *
 * server/bus.c tells this file each NOTIFY (follow_notified: "<tenant> <seq> <node>"; a
 * tenant's NOTIFYs come in commit order, which is its seq order, so each covers the seqs after
 * the previous one) and each event it reads back (follow_row). An event this node published is
 * skipped (its cache applied it at the write's done); another node's board event is queued for
 * its tenant, and the queue is applied by a writer job of the tenant (writes_submit): its
 * prepare runs when the tenant's earlier jobs are done and before any later one plans, the one
 * moment nothing points into the board. The job goes no further (prepare answers
 * FOLLOW_JOB_END: no SQL). An event that cannot be applied exactly drops the board (the next
 * use reloads it: the fallback), and the events queued after it with it.
 *
 * Events that change no board (locks, presence, activity, schedule_updated: an applied event
 * leaves the projection to be computed again at the next read, store/follow.h) are passed
 * over; orders_imported (an import) is a reload. A calendar or timezone change has no event
 * of its own: its own NOTIFY drops the board (server/bus.c h_calendar).
 */
#include "server/server_int.h"

#include "store/follow.h"
#include "store/writer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FOLLOW_NOTES 64                 /* NOTIFYs remembered per tenant (seq, whose) */
#define FOLLOW_OWN 64                   /* seq ranges this node sequenced, per tenant */
#define FOLLOW_QUEUE_MAX 1024           /* events queued per tenant; more: reload instead */
#define FOLLOW_JOB_END PB_ECONFLICT     /* what the job's prepare answers: no SQL to run */

struct follow_event {
    uint64_t seq;
    char *frame;
    size_t len;
};

struct follow_tenant {
    struct app *app;
    int64_t tenant_id;
    uint64_t note_seq[FOLLOW_NOTES];    /* NOTIFYs not yet passed, oldest at note_head */
    bool note_own[FOLLOW_NOTES];
    size_t note_head, n_notes;
    uint64_t own_first[FOLLOW_OWN], own_last[FOLLOW_OWN];  /* follow_own, ascending */
    size_t own_head, n_own;
    struct follow_event *q;             /* another node's board events, in seq order */
    size_t n_q, cap_q;
    bool job;                           /* a writer job will apply q */
    /* The orders whose routing steps the job in flight reads (its run, on the writer thread:
     * not the loop's connection) and sets at its done; routes[i] for ids[i]. */
    int64_t *route_ids;
    struct order_route **routes;
    size_t n_routes, cap_routes;
};

static struct follow_tenant *tenant_get(struct app *app, int64_t tenant_id, bool make)
{
    struct follow_tenant *ft = hmap_get_int(&app->follow, tenant_id);
    if (ft != NULL || !make)
        return ft;
    if ((ft = calloc(1, sizeof(*ft))) == NULL
        || hmap_reserve(&app->follow, app->follow.len + 1) != 0) {
        free(ft);
        return NULL;
    }
    ft->app = app;
    ft->tenant_id = tenant_id;
    hmap_put_int(&app->follow, tenant_id, ft);
    return ft;
}

static void queue_clear(struct follow_tenant *ft)
{
    for (size_t i = 0; i < ft->n_q; i++)
        free(ft->q[i].frame);
    ft->n_q = 0;
}

void follow_notified(struct app *app, int64_t tenant_id, uint64_t seq, bool own)
{
    struct follow_tenant *ft = tenant_get(app, tenant_id, true);
    if (ft == NULL)
        return;                         /* no memory: its events count as foreign */
    if (ft->n_notes == FOLLOW_NOTES) {  /* the oldest goes (its rows read as foreign) */
        ft->note_head = (ft->note_head + 1) % FOLLOW_NOTES;
        ft->n_notes--;
    }
    size_t i = (ft->note_head + ft->n_notes) % FOLLOW_NOTES;
    ft->note_seq[i] = seq;
    ft->note_own[i] = own;
    ft->n_notes++;
}

void follow_own(struct app *app, int64_t tenant_id, uint64_t first, uint64_t last)
{
    struct follow_tenant *ft = tenant_get(app, tenant_id, true);
    if (ft == NULL || first == 0 || last < first)
        return;                         /* no memory: its rows count as foreign (safe) */
    if (ft->n_own == FOLLOW_OWN) {      /* the oldest goes */
        ft->own_head = (ft->own_head + 1) % FOLLOW_OWN;
        ft->n_own--;
    }
    size_t i = (ft->own_head + ft->n_own) % FOLLOW_OWN;
    ft->own_first[i] = first;
    ft->own_last[i] = last;
    ft->n_own++;
}

/* Who published seq: a range this node sequenced itself (follow_own), else the first
 * remembered NOTIFY at or after it (the ones before it are
 * passed for good). Not remembered (read before its NOTIFY came, or forgotten): foreign, which
 * is safe: an event of this node's is in its cache, and applying it again is FOLLOW_SEEN. */
static bool is_own(struct follow_tenant *ft, uint64_t seq)
{
    while (ft->n_own > 0 && ft->own_last[ft->own_head] < seq) {    /* rows come in seq order */
        ft->own_head = (ft->own_head + 1) % FOLLOW_OWN;
        ft->n_own--;
    }
    if (ft->n_own > 0 && ft->own_first[ft->own_head] <= seq)
        return true;
    while (ft->n_notes > 0 && ft->note_seq[ft->note_head] < seq) {
        ft->note_head = (ft->note_head + 1) % FOLLOW_NOTES;
        ft->n_notes--;
    }
    return ft->n_notes > 0 && ft->note_own[ft->note_head];
}

/* ---------------------------------------------------------------- decoding */

static bool get_i64(const cJSON *o, const char *k, int64_t *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(x))
        return false;
    *v = (int64_t)x->valuedouble;
    return true;
}

/* A number, or null (0). */
static bool get_id(const cJSON *o, const char *k, int64_t *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    *v = 0;
    return cJSON_IsNull(x) || get_i64(o, k, v);
}

/* A string, or null (NULL) when nullable. */
static bool get_str(const cJSON *o, const char *k, const char **v, bool nullable)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    *v = NULL;
    if (cJSON_IsString(x)) {
        *v = x->valuestring;
        return true;
    }
    return nullable && cJSON_IsNull(x);
}

/* data.order of an order event into *f (strings borrowed from the parse). */
static bool decode_order(const cJSON *data, struct follow_order *f)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(data, "order");
    const char *status, *priority, *rank;
    memset(f, 0, sizeof(*f));
    if (!cJSON_IsObject(o) || !get_i64(o, "id", &f->id)
        || !get_str(o, "orderNumber", &f->order_number, false)
        || !get_str(o, "stockCode", &f->stock_code, false)
        || !get_str(o, "description", &f->description, false)
        || !get_str(o, "currentOperation", &f->current_operation, true)
        || !get_i64(o, "quantityToMake", &f->quantity_to_make)
        || !get_i64(o, "quantityCompleted", &f->quantity_completed)
        || !get_id(o, "workCentreId", &f->work_centre_id)
        || !get_i64(o, "position", &f->position) || !get_str(o, "status", &status, false)
        || !get_str(o, "priority", &priority, false)
        || !get_str(o, "dueDate", &f->due_date, true)
        || !get_str(o, "startDate", &f->start_date, true)
        || !get_str(o, "completionDate", &f->completion_date, true)
        || !get_id(o, "createdBy", &f->created_by)
        || !get_str(o, "createdAt", &f->created_at, true)
        || !get_str(o, "updatedAt", &f->updated_at, true) || !get_i64(o, "version", &f->version))
        return false;
    if ((f->status = order_status_parse(status, false)) < 0
        || (f->priority = order_priority_parse(priority, false)) < 0)
        return false;
    if (get_str(data, "rank", &rank, false)) {     /* PostgreSQL's order_moved (board_ops.c) */
        char *end;
        f->rank = strtoll(rank, &end, 10);
        f->has_rank = *rank != '\0' && *end == '\0';
    }
    return true;
}

static int apply_work_centres(struct app *app, int64_t tenant_id, const cJSON *data)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(data, "workCentres"), *x;
    int n = cJSON_GetArraySize(a), i = 0, rc;
    if (!cJSON_IsArray(a))
        return FOLLOW_STALE;
    struct work_centre *wc = calloc((size_t)n + 1, sizeof(*wc));
    if (wc == NULL)
        return PB_EINTERNAL;
    cJSON_ArrayForEach(x, a) {
        struct work_centre *w = &wc[i++];
        const char *policy;
        const cJSON *active = cJSON_GetObjectItemCaseSensitive(x, "isActive");
        if (!get_i64(x, "id", &w->id) || !get_str(x, "code", (const char **)&w->code, false)
            || !get_str(x, "name", (const char **)&w->name, false)
            || !get_str(x, "description", (const char **)&w->description, false)
            || !get_i64(x, "capacity", &w->capacity)
            || !get_i64(x, "displayOrder", &w->display_order) || !cJSON_IsBool(active)
            || !get_id(x, "wipLimit", &w->wip_limit) || !get_str(x, "wipPolicy", &policy, false)
            || !get_i64(x, "defaultOperationMinutes", &w->default_operation_minutes)) {
            free(wc);
            return FOLLOW_STALE;
        }
        w->is_active = cJSON_IsTrue(active);
        w->wip_hard = strcmp(policy, "hard") == 0;
    }
    rc = store_follow_work_centres(app->store, tenant_id, wc, (size_t)n);
    free(wc);
    return rc;
}

/* Apply one event: a follow_result, or PB_EINTERNAL. *route_id: the order whose routing
 * steps are to be read again (an applied order_updated or order_created), else 0. */
static int apply_event(struct app *app, int64_t tenant_id, const char *frame, size_t len,
                       int64_t *route_id)
{
    cJSON *root = cJSON_ParseWithLength(frame, len);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(root, "event");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    struct follow_order f;
    int rc = FOLLOW_STALE;
    int64_t id;

    if (!cJSON_IsString(ev) || !cJSON_IsObject(data)) {
        cJSON_Delete(root);
        return FOLLOW_STALE;
    }
    const char *name = ev->valuestring;
    *route_id = 0;
    if (strcmp(name, "order_moved") == 0 && decode_order(data, &f))
        rc = store_follow_moved(app->store, tenant_id, &f);
    else if (strcmp(name, "order_updated") == 0 && decode_order(data, &f)) {
        if ((rc = store_follow_updated(app->store, tenant_id, &f)) == FOLLOW_APPLIED)
            *route_id = f.id;
    } else if (strcmp(name, "order_created") == 0 && decode_order(data, &f)) {
        if ((rc = store_follow_created(app->store, tenant_id, &f)) == FOLLOW_APPLIED)
            *route_id = f.id;
    }
    else if (strcmp(name, "order_deleted") == 0 && get_i64(data, "orderId", &id))
        rc = store_follow_deleted(app->store, tenant_id, id);
    else if (strcmp(name, "work_centre_updated") == 0)
        rc = apply_work_centres(app, tenant_id, data);
    cJSON_Delete(root);
    return rc;
}

/* True for the events that change a board (the others pass by). */
static bool board_event(const char *frame, size_t len)
{
    static const char *const names[] = {
        "order_moved", "order_updated", "order_created", "order_deleted", "orders_imported",
        "work_centre_updated",
    };
    static const char head[] = "{\"event\":\"";
    if (len < sizeof(head) || memcmp(frame, head, sizeof(head) - 1) != 0)
        return true;                    /* not ours: let apply_event refuse it */
    const char *name = frame + sizeof(head) - 1;
    size_t room = len - (sizeof(head) - 1);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        if (room > n && memcmp(name, names[i], n) == 0 && name[n] == '"')
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------- stale boards
 * (the fallback: the board goes and the next use reloads it; the fields and the sweep timer
 * are app->bus's, made and closed by bus_start / bus_stop) */

static bool board_free_to_drop(struct app *app, int64_t tenant_id)
{
    return app->imports_open == 0
        && (app->writer == NULL || writer_tenant_idle(app->writer, tenant_id));
}

static void on_sweep(uv_timer_t *t)
{
    struct app *app = t->data;
    struct hmap_iter it;
    void *v;
    hmap_iter_init(&app->bus.stale, &it);
    while ((v = hmap_iter_next(&app->bus.stale, &it)) != NULL) {
        int64_t tenant_id = (int64_t)(intptr_t)v;       /* the value is the key */
        if (board_free_to_drop(app, tenant_id)) {
            if (store_follow_loaded(app->store, tenant_id))
                app->bus.reloads++;
            store_board_drop(app->store, tenant_id);
            room_board_forget(app, tenant_id);
            hmap_iter_del(&app->bus.stale, &it);
        }
    }
    if (app->bus.stale.len > 0 && !app->stopping)
        uv_timer_start(&app->bus.sweep, on_sweep, PB_BUS_STALE_MS, 0);
}

void follow_board_stale(struct app *app, int64_t tenant_id)
{
    board_load_touch(app, tenant_id);   /* a load in flight may be as stale */
    if (board_free_to_drop(app, tenant_id)) {
        if (store_follow_loaded(app->store, tenant_id))
            app->bus.reloads++;
        store_board_drop(app->store, tenant_id);
        room_board_forget(app, tenant_id);      /* a reloaded board restarts its versions */
        return;
    }
    if (hmap_get_int(&app->bus.stale, tenant_id) != NULL
        || hmap_reserve(&app->bus.stale, app->bus.stale.len + 1) != 0)
        return;
    hmap_put_int(&app->bus.stale, tenant_id, (void *)(intptr_t)tenant_id);
    if (app->bus.sweep_init && !uv_is_active((uv_handle_t *)&app->bus.sweep))
        uv_timer_start(&app->bus.sweep, on_sweep, PB_BUS_STALE_MS, 0);
}

/* ---------------------------------------------------------------- the job */

/* The board goes (now when nothing points into it, else as soon as nothing does). */
static void reload(struct app *app, int64_t tenant_id)
{
    follow_board_stale(app, tenant_id);
}

/* Remember that order_id's routing steps are to be read again by this job. False: no memory. */
static bool route_wanted(struct follow_tenant *ft, int64_t order_id)
{
    for (size_t i = 0; i < ft->n_routes; i++)
        if (ft->route_ids[i] == order_id)
            return true;
    if (ft->n_routes == ft->cap_routes) {
        size_t cap = ft->cap_routes ? 2 * ft->cap_routes : 8;
        int64_t *ids = realloc(ft->route_ids, cap * sizeof(*ids));
        if (ids == NULL)
            return false;
        ft->route_ids = ids;
        struct order_route **r = realloc(ft->routes, cap * sizeof(*r));
        if (r == NULL)
            return false;
        ft->routes = r;
        ft->cap_routes = cap;
    }
    ft->route_ids[ft->n_routes] = order_id;
    ft->routes[ft->n_routes++] = NULL;
    return true;
}

static void routes_clear(struct follow_tenant *ft)
{
    for (size_t i = 0; i < ft->n_routes; i++)
        free(ft->routes[i]);
    ft->n_routes = 0;
}

/* The job's prepare applies the queued events to the board. The routing steps of the orders
 * an order_updated or order_created changed are not in the frame: the job's run reads them on
 * the writer's connection and its done sets them (until then those orders keep their old
 * steps: the next job of the tenant, and so every write planned on the board, comes after the
 * done). Without such an order the job ends at prepare (no SQL). */
static int job_prepare(void *ctx)
{
    struct follow_tenant *ft = ctx;
    struct app *app = ft->app;
    bool stale = false;
    int64_t route_id;
    ft->job = false;
    routes_clear(ft);
    for (size_t i = 0; i < ft->n_q && !stale; i++) {
        int rc = apply_event(app, ft->tenant_id, ft->q[i].frame, ft->q[i].len, &route_id);
        if (rc == FOLLOW_APPLIED && route_id != 0 && !route_wanted(ft, route_id))
            rc = PB_EINTERNAL;          /* no memory: reload */
        if (rc == FOLLOW_APPLIED)
            app->bus.applied++;
        else if (rc == FOLLOW_SEEN)
            app->bus.seen++;
        else if (rc == FOLLOW_NOT_LOADED)
            break;                      /* dropped meanwhile: the reload has all of them */
        else
            stale = true;
    }
    queue_clear(ft);
    if (stale) {
        routes_clear(ft);
        reload(app, ft->tenant_id);
    }
    room_board_forget(app, ft->tenant_id);
    /* no bus_waiters_check here: a waiter's callback submits writer jobs, which must not
     * happen inside a prepare (the writer may free the tenant's gate after it); the waiters
     * were called at delivery, after this job was queued, so their jobs come after it */
    return ft->n_routes > 0 ? 0 : FOLLOW_JOB_END;
}

/* Writer thread: the routing steps of the orders prepare named (run again after a failed
 * group: what an earlier run read is freed first). */
static int job_run(struct db *db, void *ctx)
{
    struct follow_tenant *ft = ctx;
    (void)db;                           /* the sibling store's connection */
    for (size_t i = 0; i < ft->n_routes; i++) {
        free(ft->routes[i]);
        ft->routes[i] = NULL;
        if (store_follow_read_route(ft->app->wstore, ft->tenant_id, ft->route_ids[i],
                                    &ft->routes[i]) != 0)
            return PB_EINTERNAL;
    }
    return 0;
}

static void job_done(void *ctx, int status, uint64_t commit_seq)
{
    struct follow_tenant *ft = ctx;
    (void)commit_seq;
    if (status == FOLLOW_JOB_END || ft->n_routes == 0)
        return;                         /* ended at prepare */
    if (status != 0) {                  /* the steps could not be read: reload */
        routes_clear(ft);
        reload(ft->app, ft->tenant_id);
        return;
    }
    for (size_t i = 0; i < ft->n_routes; i++) {
        store_follow_set_route(ft->app->store, ft->tenant_id, ft->route_ids[i], ft->routes[i]);
        ft->routes[i] = NULL;
    }
    ft->n_routes = 0;
    room_board_forget(ft->app, ft->tenant_id);
}

bool follow_pending(struct app *app, int64_t tenant_id)
{
    struct follow_tenant *ft = hmap_get_int(&app->follow, tenant_id);
    return ft != NULL && (ft->job || ft->n_q > 0);
}

void follow_row(struct app *app, int64_t tenant_id, uint64_t seq, const char *frame, size_t len)
{
    struct follow_tenant *ft = tenant_get(app, tenant_id, true);
    if (ft != NULL && is_own(ft, seq)) {
        app->bus.own++;
        return;                         /* in this node's cache since the write's done */
    }
    if (!board_event(frame, len))
        return;
    if (!store_follow_loaded(app->store, tenant_id)) {
        board_load_touch(app, tenant_id);   /* a load in flight may have read before it */
        return;                         /* nothing cached to follow: a load reads it all */
    }
    if (ft == NULL || ft->n_q == FOLLOW_QUEUE_MAX) {
        if (ft != NULL)
            queue_clear(ft);
        reload(app, tenant_id);
        return;
    }
    if (ft->n_q == ft->cap_q) {
        size_t cap = ft->cap_q ? 2 * ft->cap_q : 16;
        struct follow_event *q = realloc(ft->q, cap * sizeof(*q));
        if (q == NULL) {
            queue_clear(ft);
            reload(app, tenant_id);
            return;
        }
        ft->q = q;
        ft->cap_q = cap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        queue_clear(ft);
        reload(app, tenant_id);
        return;
    }
    memcpy(copy, frame, len);
    copy[len] = '\0';
    ft->q[ft->n_q++] = (struct follow_event){ .seq = seq, .frame = copy, .len = len };
    if (ft->job)
        return;                         /* the job in the tenant's queue takes this one too */
    ft->job = true;
    int rc = writes_submit(app, tenant_id, job_prepare, job_run, job_done, ft);
    if (rc != 0 && rc != FOLLOW_JOB_END) {     /* not accepted (queue full, closing) */
        ft->job = false;
        queue_clear(ft);
        reload(app, tenant_id);
    }
}

void follow_free(struct app *app)
{
    struct hmap_iter it;
    struct follow_tenant *ft;
    hmap_iter_init(&app->follow, &it);
    while ((ft = hmap_iter_next(&app->follow, &it)) != NULL) {
        queue_clear(ft);
        routes_clear(ft);
        free(ft->q);
        free(ft->route_ids);
        free(ft->routes);
        free(ft);
    }
    hmap_cleanup(&app->follow);
}
