/*
 * routes_scanner — SPEC §3 "API keys (scanners)" and §4 "Audit, scanners, health":
 *
 *   GET    /api/api-keys        admin      {"data": [{id, name, createdAt, createdBy}]}
 *                                          live keys only, by id; never the secret
 *   POST   /api/api-keys        admin      {"name"} -> 201 {id, name, key, createdAt,
 *                                          createdBy}; key = "pbk_" + 40 hex, shown only here
 *   DELETE /api/api-keys/:id    admin      204; the key stops working at once
 *   POST   /api/scanner/events  X-API-Key  202 {eventId, applied, duplicate, ...}
 *
 * Keys: the secret is 160 random bits; only its SHA-256 hex is stored (api_keys.key_hash),
 * so a database leak does not leak working keys, and a lookup is one indexed query. A
 * missing, unknown or revoked key is 401 unauthorized (the same answer for all three).
 *
 * Scanner events and drag locks: the scanner is the shop floor's truth, so a job_start that
 * moves an order moves it even while a user holds its drag lock; the lock then ends with
 * reason "moved" (order_unlocked), exactly as after a user's own move. Field-only effects
 * (progress, completion) leave a lock in place: they do not fight the drag.
 *
 * Broadcasts, in this order, each with seq: order_moved {order, fromWorkCentreId,
 * toWorkCentreId, position, movedBy: {userId: null, username: "scanner: <key name>"},
 * scanner: {apiKeyId, name, scannerId, operatorBadge}} when job_start moved the order;
 * order_unlocked {reason: moved} when that move ended a lock; order_updated {order} when the
 * order's fields or one of its steps changed. A repeated eventId broadcasts nothing.
 *
 * With a writer (the server) an event is a writer job of the key's tenant (docs/writer.md
 * "Order updates and scanner events"): the key and the body's shape are checked at once; the
 * eventId lookup, the order and work-centre checks and the plan run at prepare (PostgreSQL:
 * the eventId lookup runs on the writer thread, before the refusal of an unknown order or
 * centre; scanner_op_prepare), the rows are written on the writer thread, and the answer and
 * the broadcasts leave after COMMIT. On
 * PostgreSQL (SPEC §12, server/job_events.c) the broadcasts are encoded at prepare and are rows
 * of the event's own transaction (the order_unlocked only when the run's DELETE of the order's
 * drag-lock row returned it); a duplicate the write finds sequences nothing.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "store/scanner.h"

#define PB_API_KEY_PREFIX "pbk_"
#define PB_API_KEY_RANDOM_BYTES 20      /* 160 bits -> 40 hex chars */
#define PB_API_KEY_HEADER_MAX 256       /* a longer X-API-Key cannot be ours */

/* ================================================================ helpers */

static cJSON *key_json(const struct api_key *k)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)k->id);
    cJSON_AddStringToObject(j, "name", k->name != NULL ? k->name : "");
    cJSON_AddStringToObject(j, "createdAt", k->created_at);
    if (k->created_by > 0)
        cJSON_AddNumberToObject(j, "createdBy", (double)k->created_by);
    else
        cJSON_AddNullToObject(j, "createdBy");
    return j;
}

/* ================================================================ API keys */

static int keys_read(struct store *rs, const struct route_read *q, cJSON **out,
                     int *http_status, const char **message)
{
    struct api_key *keys = NULL;
    size_t n = 0;
    (void)http_status;
    if (store_api_key_list(rs, q->tenant_id, false, &keys, &n) != 0) {
        *message = "could not list the API keys";
        return PB_EINTERNAL;
    }
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, key_json(&keys[i]));
        api_key_cleanup(&keys[i]);
    }
    free(keys);
    *out = o;
    return 0;
}

static void r_keys_list(struct http_req *r, const cJSON *body)
{
    (void)body;
    route_read(r, &(struct route_read){ .tenant_id = r->claims.tenant_id }, keys_read);
}

/* An API key create or revoke through the writer (writes_sql). owner first: CLOSED_HTTP
 * clears it. The secret lives only here, until the 201. */
struct key_job {
    struct http_req *owner;
    int64_t tenant_id, user_id;
    int64_t key_id;                     /* revoke: the key; 0 = create */
    char name[PB_API_KEY_NAME_MAX + 1];
    char secret[sizeof(PB_API_KEY_PREFIX) + 2 * PB_API_KEY_RANDOM_BYTES];
    char hash[65];
    struct api_key k;                   /* create: the saved key (overwritten by a rerun) */
};

static void key_job_free(struct key_job *j)
{
    api_key_cleanup(&j->k);
    memset(j->secret, 0, sizeof(j->secret));
    free(j);
}

static int key_job_write(struct store *ws, void *ctx)
{
    struct key_job *j = ctx;
    if (j->key_id != 0)
        return store_api_key_revoke(ws, j->tenant_id, j->key_id, j->user_id);
    api_key_cleanup(&j->k);
    memset(&j->k, 0, sizeof(j->k));
    return store_api_key_create(ws, j->tenant_id, j->name, j->hash, j->user_id, &j->k);
}

static void key_job_done(void *ctx, int status)
{
    struct key_job *j = ctx;
    struct http_req *r = j->owner;
    if (r == NULL)
        goto out;
    r->job = NULL;
    if (status == PB_ENOT_FOUND && j->key_id != 0)
        http_reply_error(r, PB_ENOT_FOUND, "API key not found", NULL);
    else if (status == PB_EVALIDATION)
        http_reply_invalid(r, "name", "must be 1 to 100 characters, not only blanks");
    else if (status == PB_ERATE_LIMITED)
        http_reply_error(r, status, "too many writes are waiting; try again", NULL);
    else if (status != 0)
        http_reply_error(r, PB_EINTERNAL, j->key_id != 0 ? "could not revoke the API key"
                                                          : "could not save the API key", NULL);
    else if (j->key_id != 0)
        http_reply(r, 204, "application/json; charset=utf-8", NULL, 0);
    else {
        cJSON *o = key_json(&j->k);
        cJSON_AddStringToObject(o, "key", j->secret);
        http_reply_json(r, 201, o);
    }
out:
    key_job_free(j);
}

/* Hand j to the writer; r waits for key_job_done (or is answered now on failure). */
static void key_job_submit(struct http_req *r, struct key_job *j)
{
    int rc = writes_sql(r->app, 0, key_job_write, key_job_done, j);
    if (rc == 0) {
        r->job = j;
        return;
    }
    j->owner = NULL;
    key_job_free(j);
    http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                     rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                     : "could not save the API key", NULL);
}

static void r_key_create(struct http_req *r, const cJSON *body)
{
    const char *name = NULL;
    struct json_details d;
    struct key_job *j;

    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "name", "is required");
        return;
    }
    json_details_init(&d);
    int got = json_get_str(body, "name", &name, &d);
    if (got == 1)
        json_details_add(&d, "name", "is required");
    else if (got == 0 && (*name == '\0' || strlen(name) > PB_API_KEY_NAME_MAX
                          || strspn(name, " \t\r\n") == strlen(name)))
        json_details_add(&d, "name", "must be 1 to 100 characters, not only blanks");
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "the API key is not valid", json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);

    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    *j = (struct key_job){ .owner = r, .tenant_id = r->claims.tenant_id,
                           .user_id = r->claims.user_id };
    snprintf(j->name, sizeof(j->name), "%s", name);
    memcpy(j->secret, PB_API_KEY_PREFIX, sizeof(PB_API_KEY_PREFIX) - 1);
    if (auth_random_hex(j->secret + sizeof(PB_API_KEY_PREFIX) - 1,
                        PB_API_KEY_RANDOM_BYTES) != 0) {
        key_job_free(j);
        http_reply_error(r, PB_EINTERNAL, "could not make a key", NULL);
        return;
    }
    auth_sha256_hex(j->secret, j->hash);
    key_job_submit(r, j);
}

static void r_key_revoke(struct http_req *r, const cJSON *body)
{
    struct key_job *j = calloc(1, sizeof(*j));
    (void)body;
    if (j == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    *j = (struct key_job){ .owner = r, .tenant_id = r->claims.tenant_id,
                           .user_id = r->claims.user_id, .key_id = r->ids[0] };
    key_job_submit(r, j);
}

/* ================================================================ scanner events */

static void scanner_auth_error(struct http_req *r, int rc)
{
    if (rc == PB_EUNAUTHORIZED)
        http_reply_error(r, PB_EUNAUTHORIZED, "a valid X-API-Key header is required", NULL);
    else
        http_reply_error(r, PB_EINTERNAL, "could not check the API key", NULL);
}

/* PostgreSQL: a key lookup on the reader thread (issue 13: the loop never waits on a
 * PostgreSQL round trip). owner first: CLOSED_HTTP clears it. */
struct key_lookup {
    struct http_req *owner;
    char hash[65];
    struct api_key k;                   /* found (overwritten by a rerun) */
};

static int key_lookup_read(struct store *rs, void *ctx)
{
    struct key_lookup *j = ctx;
    api_key_cleanup(&j->k);
    memset(&j->k, 0, sizeof(j->k));
    return store_api_key_lookup(rs, j->hash, &j->k);
}

/* Loop: the key found goes to r->scanner_key and the route runs again (http_redispatch);
 * else 401 / 500. */
static void key_lookup_done(void *ctx, int status)
{
    struct key_lookup *j = ctx;
    struct http_req *r = j->owner;
    if (r != NULL) {
        r->job = NULL;
        if (status == 0 && (r->scanner_key = malloc(sizeof(*r->scanner_key))) != NULL) {
            *r->scanner_key = j->k;     /* moved */
            memset(&j->k, 0, sizeof(j->k));
            http_redispatch(r);
        } else {
            scanner_auth_error(r, status == 0 ? PB_EINTERNAL : status);
        }
    }
    api_key_cleanup(&j->k);
    free(j);
}

#define SCANNER_AUTH_PARKED 1           /* scanner_auth: r waits for its key (PostgreSQL) */

/* The live key of the request's X-API-Key header into *k (api_key_cleanup): 0. Or an error
 * answered (401 / 500): a negative code. Or, on PostgreSQL, SCANNER_AUTH_PARKED: the key is
 * looked up on the reader and the route runs again with it (r->scanner_key, taken here
 * then). SPEC §3 "API keys": a missing, unknown or revoked key is 401. */
static int scanner_auth(struct http_req *r, struct api_key *k)
{
    static const char name[] = "x-api-key:";
    char val[PB_API_KEY_HEADER_MAX + 1], hash[65];
    int len = lws_hdr_custom_length(r->wsi, name, (int)sizeof(name) - 1);
    int rc = PB_EUNAUTHORIZED;

    memset(k, 0, sizeof(*k));
    if (r->scanner_key != NULL && r->scanner_key->id != 0) {
        *k = *r->scanner_key;           /* moved; the route puts it back when it parks again */
        memset(r->scanner_key, 0, sizeof(*r->scanner_key));
        return 0;
    }
    if (len > 0 && len <= PB_API_KEY_HEADER_MAX
        && lws_hdr_custom_copy(r->wsi, val, (int)sizeof(val), name, (int)sizeof(name) - 1)
               == len) {
        auth_sha256_hex(val, hash);
        if (r->app->postgres && r->scanner_key == NULL) {
            struct key_lookup *j = calloc(1, sizeof(*j));
            if (j == NULL) {
                scanner_auth_error(r, PB_EINTERNAL);
                return PB_EINTERNAL;
            }
            j->owner = r;
            memcpy(j->hash, hash, sizeof(j->hash));
            r->job = j;                 /* key_lookup_done answers or runs the route again */
            if ((rc = reads_submit(r->app, key_lookup_read, key_lookup_done, j)) == 0)
                return SCANNER_AUTH_PARKED;
            r->job = NULL;
            free(j);
            if (rc == PB_ERATE_LIMITED) {
                http_reply_error(r, rc, "too many reads are waiting; try again", NULL);
                return rc;
            }
            scanner_auth_error(r, PB_EINTERNAL);
            return PB_EINTERNAL;
        }
        rc = store_api_key_lookup(r->app->store, hash, k);
    }
    if (rc != 0)
        scanner_auth_error(r, rc);
    return rc;
}

/* An optional string member: 0 and *out (NULL when absent or null), or PB_EVALIDATION. */
static int opt_str(const cJSON *body, const char *name, const char **out, struct json_details *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    return json_get_str(body, name, out, d) == 0 ? 0 : PB_EVALIDATION;
}

/* Read the event body into in; problems go to d. */
static void read_event(const cJSON *body, struct scanner_event_input *in, struct json_details *d)
{
    const char *type = NULL;
    static const char *const required[] = { "eventId", "orderNumber", "workCentreCode" };
    const char **dst[] = { &in->event_id, &in->order_number, &in->work_centre_code };

    for (size_t i = 0; i < 3; i++) {
        if (json_get_str(body, required[i], dst[i], d) == 1 || (*dst[i] != NULL && !**dst[i]))
            json_details_add(d, required[i], "is required");
    }
    if (in->event_id != NULL && strlen(in->event_id) > PB_SCANNER_ID_MAX)
        json_details_add(d, "eventId", "must be at most 100 characters");
    int got = json_get_str(body, "eventType", &type, d);
    if (got == 1)
        json_details_add(d, "eventType", "is required");
    else if (got == 0 && (in->event_type = scanner_event_type_parse(type)) < 0)
        json_details_add(d, "eventType", "must be one of job_start, progress_update, job_complete");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "quantity");
    if (q != NULL && !cJSON_IsNull(q) && json_get_int(body, "quantity", &in->quantity, d) == 0) {
        if (in->quantity < 0)
            json_details_add(d, "quantity", "must be 0 or more");
        else if (in->quantity > PB_QUANTITY_MAX)
            json_details_add(d, "quantity", "is too large");
        else
            in->has_quantity = true;
    } else if ((q == NULL || cJSON_IsNull(q)) && in->event_type == SCAN_PROGRESS_UPDATE) {
        json_details_add(d, "quantity", "is required for progress_update");
    }
    opt_str(body, "operatorBadge", &in->operator_badge, d);
    opt_str(body, "scannerId", &in->scanner_id, d);
    opt_str(body, "operationName", &in->operation_name, d);
    if (in->operator_badge != NULL && strlen(in->operator_badge) > PB_SCANNER_ID_MAX)
        json_details_add(d, "operatorBadge", "must be at most 100 characters");
    if (in->scanner_id != NULL && strlen(in->scanner_id) > PB_SCANNER_ID_MAX)
        json_details_add(d, "scannerId", "must be at most 100 characters");
    if (in->operation_name != NULL && strlen(in->operation_name) > PB_OPERATION_MAX)
        json_details_add(d, "operationName", "must be at most 100 characters");
}

static const char *bad_field_message(const char *field)
{
    if (strcmp(field, "orderNumber") == 0)
        return "no such order in this tenant";
    if (strcmp(field, "workCentreCode") == 0)
        return "no such (active) work centre in this tenant";
    if (strcmp(field, "quantity") == 0)
        return "must be a whole number, 0 or more (required for progress_update)";
    return "is not valid";
}

/* The order_moved data of a scanner event that moved its order (order: its JSON, taken). */
static cJSON *moved_json(const struct api_key *k, const struct scanner_event_input *in,
                         const struct scanner_result *res, cJSON *order)
{
    char by[PB_API_KEY_NAME_MAX + 16];
    snprintf(by, sizeof(by), "scanner: %s", k->name != NULL ? k->name : "");
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddItemToObject(ev, "order", order);
    if (res->from_work_centre_id > 0)
        cJSON_AddNumberToObject(ev, "fromWorkCentreId", (double)res->from_work_centre_id);
    else
        cJSON_AddNullToObject(ev, "fromWorkCentreId");
    cJSON_AddNumberToObject(ev, "toWorkCentreId", (double)res->to_work_centre_id);
    cJSON_AddNumberToObject(ev, "position", (double)res->position);
    cJSON *mb = cJSON_AddObjectToObject(ev, "movedBy");
    cJSON_AddNullToObject(mb, "userId");
    cJSON_AddStringToObject(mb, "username", by);
    cJSON *sc = cJSON_AddObjectToObject(ev, "scanner");
    cJSON_AddNumberToObject(sc, "apiKeyId", (double)k->id);
    cJSON_AddStringToObject(sc, "name", k->name != NULL ? k->name : "");
    if (in->scanner_id != NULL)
        cJSON_AddStringToObject(sc, "scannerId", in->scanner_id);
    if (in->operator_badge != NULL)
        cJSON_AddStringToObject(sc, "operatorBadge", in->operator_badge);
    return ev;
}

/* The room events of an applied scanner event (see the top comment), unless logged (SPEC §12:
 * sequenced in the event's own transaction, scanner_op_events), then the schedule. */
static void publish_effect(struct app *app, const struct api_key *k,
                           const struct scanner_event_input *in, const struct scanner_result *res,
                           bool lock_ended, bool logged)
{
    int64_t t = k->tenant_id;
    if (res->moved && !logged) {
        room_publish(app, t, "order_moved", moved_json(k, in, res, json_order(res->order, NULL)));
        if (lock_ended) {
            cJSON *u = cJSON_CreateObject();
            cJSON_AddNumberToObject(u, "orderId", (double)res->order->id);
            cJSON_AddStringToObject(u, "reason", "moved");
            room_publish(app, t, "order_unlocked", u);
        }
    }
    if (res->changed && !logged) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddItemToObject(ev, "order", op_order_json(app, res->order, t));
        room_publish(app, t, "order_updated", ev);
    }
    if (res->moved || res->changed)     /* SPEC §9: the order's column (and the one it left) */
        schedule_changed(app, t, (int64_t[]){ res->moved ? res->from_work_centre_id : res->order->work_centre_id, res->order->work_centre_id }, 2);
}

/* After an event was applied (or found to be a duplicate): a scanner move ends whoever's drag
 * lock (as a user's move ends the mover's; logged: the job's run did, SPEC §12), the 202
 * answer when the client is still there (r may be NULL), then the room events. */
static void scanner_finish(struct http_req *r, struct app *app, const struct api_key *k,
                           const struct scanner_event_input *in,
                           const struct scanner_result *res, bool logged)
{
    bool lock_ended = res->moved && !logged
                      && op_lock_release(app, k->tenant_id, res->order->id, 0);
    if (r != NULL) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "eventId", in->event_id);
        cJSON_AddBoolToObject(j, "applied", !res->duplicate);
        cJSON_AddBoolToObject(j, "duplicate", res->duplicate);
        if (!res->duplicate) {
            cJSON_AddNumberToObject(j, "orderId", (double)res->order->id);
            cJSON_AddBoolToObject(j, "changed", res->changed);
            cJSON_AddBoolToObject(j, "moved", res->moved);
            if (in->event_type == SCAN_PROGRESS_UPDATE)
                cJSON_AddNumberToObject(j, "quantityCompletedDelta",
                                        (double)res->quantity_delta);
            cJSON_AddBoolToObject(j, "orderCompleted", res->order_completed);
            cJSON_AddItemToObject(j, "order", op_order_json(app, res->order, k->tenant_id));
        }
        http_reply_json(r, 202, j);
    }
    if (!res->duplicate)
        publish_effect(app, k, in, res, lock_ended, logged);
}

/* The answer to an event the store refused (rc, with the field at fault for a 400). */
static void scanner_error(struct http_req *r, int rc, const char *bad)
{
    if (rc == PB_EVALIDATION) {
        const char *f = bad != NULL ? bad : "eventId";
        http_reply_invalid(r, f, bad_field_message(f));
    } else if (rc == PB_ERATE_LIMITED) {
        http_reply_error(r, rc, "too many writes are waiting; try again", NULL);
    } else {
        http_reply_error(r, PB_EINTERNAL, "could not record the scanner event", NULL);
    }
}

/* A scanner event through the writer (docs/writer.md "Order updates and scanner events"):
 * prepare (when the key's tenant has no write in flight) takes the tenant's zone from the
 * cached board and plans the effect: on SQLite it looks the eventId and the order's steps up
 * on the loop's connection (a local read), on PostgreSQL it reads nothing (the steps are the
 * cached route; the eventId is looked up by the run on the writer's connection, which also
 * refuses an unknown order or centre only once the eventId is known to be new: the loop never
 * waits on a PostgreSQL round trip, issue 13); the writer thread writes it; done applies,
 * answers and publishes. owner first: CLOSED_HTTP clears it (r->job). */
struct scanner_op {
    struct http_req *owner;
    struct app *app;
    cJSON *body;                        /* a copy: in's strings point into it */
    struct api_key k;
    struct scanner_event_input in;
    char tz[64];
    struct board *b;
    struct scanner_job *job;
    const char *bad;                    /* prepare's PB_EVALIDATION: the field (static) */
    struct job_events ev;               /* PostgreSQL: the events, in the job's transaction */
};

static void scanner_op_free(struct scanner_op *e)
{
    job_events_cleanup(&e->ev);
    store_scanner_job_free(e->job);
    api_key_cleanup(&e->k);
    cJSON_Delete(e->body);
    free(e);
}

/* Prepare, SPEC §12: the events of the planned effect (the top comment's, in that order),
 * encoded now and sequenced by the run in the event's transaction; the move's order_unlocked
 * only when the run's DELETE of the order's drag-lock row returned it. */
static void scanner_op_events(struct scanner_op *e)
{
    struct order tried;
    struct scanner_result res;
    int64_t pos;
    job_events_init(&e->ev, e->app, e->k.tenant_id);
    if (!e->ev.on || !store_scanner_tried(e->job, &tried, &pos, &res))
        return;
    if (res.moved) {
        job_events_add(&e->ev, "order_moved",
                       moved_json(&e->k, &e->in, &res, json_order_at(&tried, NULL, pos)));
        job_events_add_unlock(&e->ev, tried.id, "moved");
    }
    if (res.changed) {                  /* a move ends the lock: lockedBy null then */
        const struct drag_lock *l = res.moved ? NULL
                                    : lock_get(e->app->locks, e->k.tenant_id, tried.id,
                                               pb_now_ms());
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddItemToObject(ev, "order", json_order_at(&tried, l, pos));
        job_events_add(&e->ev, "order_updated", ev);
    }
}

static int scanner_op_prepare(void *ctx)
{
    struct scanner_op *e = ctx;
    if (store_board(e->app->store, e->k.tenant_id, &e->b) != 0)
        return PB_EINTERNAL;
    /* the tenant's zone as its cached board's calendar has it (a zone change replaces that
     * calendar; on PostgreSQL the other nodes reload it): no tenant read on the loop */
    snprintf(e->tz, sizeof(e->tz), "%s", calendar_timezone(e->b->calendar));
    e->in.timezone = e->tz;
    e->in.api_key_id = e->k.id;
    /* PostgreSQL: no read on the loop (issue 13): the steps from the cached route, the
     * eventId look-up in the run (store_scanner_prepare_cached); SQLite: both read here */
    int rc = e->app->postgres ? store_scanner_prepare_cached(e->b, &e->in, &e->job, &e->bad)
                              : store_scanner_prepare(e->app->store, e->b, &e->in, &e->job,
                                                      &e->bad);
    if (rc == 0)
        scanner_op_events(e);
    return rc;
}

static int scanner_op_run(struct db *db, void *ctx)
{
    struct scanner_op *e = ctx;
    int rc;
    (void)db;                           /* the sibling store's connection */
    if ((rc = job_events_run_begin(&e->ev, false)) != 0
        || (rc = store_scanner_write(e->app->wstore, e->job)) != 0)
        return rc;
    /* a duplicate found by the write tells nothing: its events are not sequenced */
    return store_scanner_applies(e->job) ? job_events_sequence(&e->ev) : 0;
}

static void scanner_op_done(void *ctx, int status, uint64_t commit_seq)
{
    struct scanner_op *e = ctx;
    struct http_req *r = e->owner;
    (void)commit_seq;
    if (r != NULL)
        r->job = NULL;
    bool logged = job_events_done(&e->ev, status);
    if (status == 0) {
        struct scanner_result res;
        if (store_scanner_writes(e->job))
            store_commit_noted(e->app->store);  /* group commit syncs it before answers */
        store_scanner_apply(e->b, e->job, &res);
        scanner_finish(r, e->app, &e->k, &e->in, &res, logged);
    } else if (r != NULL) {
        scanner_error(r, status, e->bad);
    }
    scanner_op_free(e);
}

static void r_scanner_event(struct http_req *r, const cJSON *request_body)
{
    struct scanner_event_input in = { .event_type = -1 };
    struct scanner_result res;
    struct scanner_op *e;
    struct json_details d;
    struct api_key k;
    struct tenant t = { 0 };
    struct board *b = NULL;
    const char *bad = NULL;
    char tz[64] = "UTC";

    if (scanner_auth(r, &k) != 0)
        return;
    json_details_init(&d);
    if (request_body == NULL || !cJSON_IsObject(request_body))
        json_details_add(&d, "eventId", "is required");
    else
        read_event(request_body, &in, &d);
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "the scanner event is not valid",
                         json_details_take(&d));
        goto out;
    }
    json_details_cleanup(&d);
    /* PostgreSQL: the key's tenant board, when not cached, is loaded off the loop first (the
     * job's prepare would load it on the loop); the route runs again then, with the key
     * looked up before (r->scanner_key) */
    if (http_board_wait(r, k.tenant_id)) {
        if (r->scanner_key != NULL) {   /* the key looked up off the loop, for the rerun */
            *r->scanner_key = k;
            memset(&k, 0, sizeof(k));
        }
        goto out;
    }

    if (r->app->writer != NULL) {
        /* in borrows the body's strings: the job keeps a copy of the body */
        if ((e = calloc(1, sizeof(*e))) == NULL
            || (e->body = cJSON_Duplicate(request_body, true)) == NULL) {
            free(e);
            http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
            goto out;
        }
        e->owner = r;
        e->app = r->app;
        e->k = k;                       /* the op owns the key's strings now */
        memset(&k, 0, sizeof(k));
        e->in = (struct scanner_event_input){ .event_type = -1 };
        json_details_init(&d);
        read_event(e->body, &e->in, &d);    /* checked already: the same values */
        json_details_cleanup(&d);
        int rc = writes_submit(r->app, e->k.tenant_id, scanner_op_prepare, scanner_op_run,
                               scanner_op_done, e);
        if (rc != 0) {                  /* nothing was called: answer here */
            scanner_error(r, rc, e->bad);
            scanner_op_free(e);
            goto out;
        }
        r->job = e;                     /* scanner_op_done answers */
        goto out;
    }

    /* no writer (unit tests): on the loop */
    if (store_board(r->app->store, k.tenant_id, &b) != 0
        || store_tenant_get(r->app->store, k.tenant_id, &t) != 0) {
        http_reply_error(r, PB_EINTERNAL, "board unavailable", NULL);
        goto out;
    }
    if (t.timezone != NULL)
        snprintf(tz, sizeof(tz), "%s", t.timezone);
    in.timezone = tz;
    in.api_key_id = k.id;
    int rc = store_scanner_event(r->app->store, b, &in, &res, &bad);
    if (rc != 0) {
        scanner_error(r, rc, bad);
        goto out;
    }
    scanner_finish(r, r->app, &k, &in, &res, false);
out:
    tenant_cleanup(&t);
    api_key_cleanup(&k);
}

/* ================================================================ table */

const struct route pb_routes_scanner[] = {
    { M_GET, "/api/api-keys", R_ADMIN, 0, r_keys_list, NULL },
    { M_POST, "/api/api-keys", R_ADMIN, ROUTE_WRITER, r_key_create, NULL },
    { M_DELETE, "/api/api-keys/:id", R_ADMIN, ROUTE_WRITER, r_key_revoke, NULL },
    { M_POST, "/api/scanner/events", R_PUBLIC, ROUTE_WRITER, r_scanner_event, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
