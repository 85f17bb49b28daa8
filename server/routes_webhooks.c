/*
 * routes_webhooks — SPEC §11 admin routes (the deliverer is webhooks.c):
 *
 *   POST   /api/webhooks                 admin  {"url", "events", "secret"?} -> 201
 *                                               {id, url, events, secret, state, createdAt};
 *                                               the secret (generated when not given) is shown
 *                                               only here
 *   GET    /api/webhooks                 admin  {"data": [{id, url, events, state, createdAt}]}
 *   DELETE /api/webhooks/:id             admin  204; deliveries to it stop at once
 *   GET    /api/webhooks/:id/deliveries  admin  {"data": [{deliveryId, seq, event, status,
 *                                               attempts, httpStatus, lastError, nextAttemptAt,
 *                                               deliveredAt}]}, the last 100, newest first
 *
 * Input (SPEC §4, 400 validation_failed naming the field): url a string of at most 2048
 * bytes, an absolute http or https URL with a host (parsed by libcurl's URL parser, the one
 * that will send it), and, unless [webhooks] allow_private = true, not a loopback, private or
 * link-local address literal or "localhost" (names are checked again at connect time, on every
 * address they resolve to: webhooks.c); events a non-empty array of distinct known event
 * names (order_created, order_moved, order_updated, order_deleted, orders_imported,
 * work_centre_updated), or ["*"]; secret, when present, a string of 1 to 256 bytes. A tenant
 * has at most 32 live endpoints (413 payload_too_large past it).
 */
#include "server/server_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/webhook.h"
#include "store/webhooks.h"

#define PB_WEBHOOK_SECRET_PREFIX "whsec_"
#define PB_WEBHOOK_SECRET_RANDOM_BYTES 24   /* 192 bits -> 48 hex chars */
#define PB_WEBHOOK_EVENTS_LISTED 8          /* names in one events array at most */

static cJSON *webhook_json(struct app *app, const struct webhook *w, bool with_secret)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)w->id);
    cJSON_AddStringToObject(j, "url", w->url);
    cJSON *ev = cJSON_Parse(w->events);
    cJSON_AddItemToObject(j, "events", ev != NULL ? ev : cJSON_CreateArray());
    if (with_secret)
        cJSON_AddStringToObject(j, "secret", w->secret);
    cJSON_AddStringToObject(j, "state", webhooks_endpoint_failing(app, w->id, w->failing)
                                            ? "failing" : "active");
    cJSON_AddStringToObject(j, "createdAt", w->created_at);
    return j;
}

/* Check the url (the rules above): NULL when good, else the message for details. */
static const char *url_problem(struct app *app, const char *url)
{
    static const char *bad = "must be an absolute http or https URL with a host";
    const char *why = NULL;
    char *scheme = NULL, *host = NULL;
    CURLU *u;

    if (strlen(url) > PB_WEBHOOK_URL_MAX)
        return "must be at most 2048 bytes";
    if ((u = curl_url()) == NULL)
        return "could not be parsed (out of memory)";
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0'
        || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        why = bad;
    else if (!app->cfg.webhook_allow_private && webhook_host_private(host))
        why = "is a loopback, private or link-local address (refused unless "
              "[webhooks] allow_private = true)";
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return why;
}

/* Check the events array; on success *out is the normalized JSON text (malloc). */
static const char *events_problem(const cJSON *events, char **out)
{
    const cJSON *it;
    int n = 0;

    *out = NULL;
    if (!cJSON_IsArray(events) || cJSON_GetArraySize(events) == 0)
        return "must be a non-empty array of event names, or [\"*\"]";
    if (cJSON_GetArraySize(events) > PB_WEBHOOK_EVENTS_LISTED)
        return "names at most 8 events";
    cJSON_ArrayForEach(it, events) {
        if (!cJSON_IsString(it))
            return "must be a non-empty array of event names, or [\"*\"]";
        if (strcmp(it->valuestring, "*") == 0) {
            if (cJSON_GetArraySize(events) != 1)
                return "\"*\" must be alone";
        } else if (!store_webhook_event_known(it->valuestring))
            return "names an unknown event (order_created, order_moved, order_updated, "
                   "order_deleted, orders_imported, work_centre_updated, or \"*\")";
        const cJSON *o;
        int k = 0;
        cJSON_ArrayForEach(o, events) {
            if (k++ >= n)
                break;
            if (cJSON_IsString(o) && strcmp(o->valuestring, it->valuestring) == 0)
                return "names an event twice";
        }
        n++;
    }
    *out = cJSON_PrintUnformatted(events);
    if (*out == NULL || strlen(*out) > PB_WEBHOOK_EVENTS_MAX) {
        free(*out);
        *out = NULL;
        return "is too long";
    }
    return NULL;
}

/* An endpoint create (id 0) or delete through the writer (writes_sql, docs/writer.md "SQL-only
 * writes"). owner first: CLOSED_HTTP clears it. The secret lives here until the 201. */
struct webhook_job {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id, user_id;
    int64_t id;                         /* delete: the endpoint; 0 = create */
    char *url, *events, *secret;        /* create: owned */
    struct webhook w;                   /* create: the saved endpoint (overwritten by a rerun) */
    /* create on PostgreSQL: the tenant's slug (the deliverer's body names it), read in the
     * write's transaction so the loop does not read it (issue 13); NULL on SQLite: the
     * deliverer reads it on the loop, as before */
    bool read_slug;
    char *slug;
};

static void webhook_job_free(struct webhook_job *j)
{
    free(j->url);
    free(j->events);
    if (j->secret != NULL)
        memset(j->secret, 0, strlen(j->secret));
    free(j->secret);
    webhook_cleanup(&j->w);
    free(j->slug);
    free(j);
}

static int webhook_job_write(struct store *ws, void *ctx)
{
    struct webhook_job *j = ctx;
    if (j->id != 0)
        return store_webhook_delete(ws, j->tenant_id, j->id, j->user_id);
    webhook_cleanup(&j->w);
    memset(&j->w, 0, sizeof(j->w));
    free(j->slug);
    j->slug = NULL;
    int rc = store_webhook_create(ws, j->tenant_id, j->url, j->events, j->secret, j->user_id,
                                  &j->w);
    if (rc != 0 || !j->read_slug)
        return rc;
    struct tenant t;
    if (store_tenant_get(ws, j->tenant_id, &t) != 0)
        return PB_EINTERNAL;            /* nothing is saved: the caller may try again */
    j->slug = strdup(t.slug);
    tenant_cleanup(&t);
    return j->slug != NULL ? 0 : PB_EINTERNAL;
}

static void webhook_job_done(void *ctx, int status)
{
    struct webhook_job *j = ctx;
    struct http_req *r = j->owner;
    cJSON *o = NULL;

    if (status == 0 && j->id != 0) {
        webhooks_endpoint_removed(j->app, j->tenant_id, j->id);
    } else if (status == 0) {
        o = webhook_json(j->app, &j->w, true);
        if (webhooks_endpoint_added(j->app, &j->w, j->slug) != 0)
            pb_log(LOG_ERROR, "webhooks: out of memory: webhook %lld starts at the next start",
                   (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "id")));
    }
    if (r != NULL) {
        r->job = NULL;
        if (status == PB_ETOO_LARGE)
            http_reply_error(r, status, "the tenant already has " PB_STR(PB_WEBHOOKS_PER_TENANT)
                             " webhooks, the most allowed", NULL);
        else if (status == PB_ENOT_FOUND && j->id != 0)
            http_reply_error(r, status, "webhook not found", NULL);
        else if (status != 0)
            http_reply_error(r, PB_EINTERNAL, j->id != 0 ? "could not delete the webhook"
                                                         : "could not save the webhook", NULL);
        else if (j->id != 0)
            http_reply(r, 204, "application/json; charset=utf-8", NULL, 0);
        else {
            http_reply_json(r, 201, o);
            o = NULL;
        }
    }
    cJSON_Delete(o);
    webhook_job_free(j);
}

/* Hand j to the writer; r waits for webhook_job_done (or is answered now on failure). */
static void webhook_job_submit(struct http_req *r, struct webhook_job *j)
{
    int rc = writes_sql(r->app, 0, webhook_job_write, webhook_job_done, j);
    if (rc == 0) {
        r->job = j;
        return;
    }
    webhook_job_free(j);
    http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                     rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                     : "could not save the webhook", NULL);
}

static void r_webhook_create(struct http_req *r, const cJSON *body)
{
    char gen[sizeof(PB_WEBHOOK_SECRET_PREFIX) + 2 * PB_WEBHOOK_SECRET_RANDOM_BYTES];
    const char *url = NULL, *secret = NULL, *why;
    char *events = NULL;
    struct json_details d;

    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "body", "must be an object with url and events");
        return;
    }
    json_details_init(&d);
    int got = json_get_str(body, "url", &url, &d);
    if (got == 1)
        json_details_add(&d, "url", "is required");
    else if (got == 0 && (why = url_problem(r->app, url)) != NULL)
        json_details_add(&d, "url", why);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(body, "events");
    if (ev == NULL)
        json_details_add(&d, "events", "is required");
    else if ((why = events_problem(ev, &events)) != NULL)
        json_details_add(&d, "events", why);
    got = json_get_str(body, "secret", &secret, &d);
    if (got == 0 && (*secret == '\0' || strlen(secret) > PB_WEBHOOK_SECRET_MAX))
        json_details_add(&d, "secret", "must be 1 to 256 bytes");
    if (d.count > 0) {
        free(events);
        http_reply_error(r, PB_EVALIDATION, "the webhook is not valid", json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);
    if (got != 0) {
        memcpy(gen, PB_WEBHOOK_SECRET_PREFIX, sizeof(PB_WEBHOOK_SECRET_PREFIX) - 1);
        if (auth_random_hex(gen + sizeof(PB_WEBHOOK_SECRET_PREFIX) - 1,
                            PB_WEBHOOK_SECRET_RANDOM_BYTES) != 0) {
            free(events);
            http_reply_error(r, PB_EINTERNAL, "could not make a secret", NULL);
            return;
        }
        secret = gen;
    }
    struct webhook_job *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->url = strdup(url)) == NULL || (j->secret = strdup(secret)) == NULL) {
        free(events);
        if (j != NULL)
            webhook_job_free(j);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    j->owner = r;
    j->app = r->app;
    j->tenant_id = r->claims.tenant_id;
    j->user_id = r->claims.user_id;
    j->events = events;                 /* owned by j now */
    j->read_slug = r->app->postgres;
    webhook_job_submit(r, j);
}

/* GET /api/webhooks: the endpoints are read through reads_submit (on PostgreSQL off the loop,
 * issue 13; SQLite at once on the loop's connection, as before); the answer is built on the
 * loop (the deliverer's live state says active / failing). owner first: CLOSED_HTTP clears it. */
struct webhooks_list_job {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id;
    struct webhook *v;                  /* what the read found (overwritten by a rerun) */
    size_t n;
};

static void webhooks_list_clear(struct webhooks_list_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        webhook_cleanup(&j->v[i]);
    free(j->v);
    j->v = NULL;
    j->n = 0;
}

static int webhooks_list_read(struct store *rs, void *ctx)
{
    struct webhooks_list_job *j = ctx;
    webhooks_list_clear(j);
    return store_webhook_list(rs, j->tenant_id, &j->v, &j->n) == 0 ? 0 : PB_EINTERNAL;
}

static void webhooks_list_done(void *ctx, int status)
{
    struct webhooks_list_job *j = ctx;
    struct http_req *r = j->owner;
    if (r != NULL) {
        r->job = NULL;
        if (status != 0) {
            http_reply_error(r, PB_EINTERNAL, "could not list the webhooks", NULL);
        } else {
            cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "data");
            for (size_t i = 0; i < j->n; i++)
                cJSON_AddItemToArray(a, webhook_json(j->app, &j->v[i], false));
            http_reply_json(r, 200, o);
        }
    }
    webhooks_list_clear(j);
    free(j);
}

static void r_webhooks_list(struct http_req *r, const cJSON *body)
{
    (void)body;
    struct webhooks_list_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    *j = (struct webhooks_list_job){ .owner = r, .app = r->app, .tenant_id = r->claims.tenant_id };
    r->job = j;                         /* webhooks_list_done answers (at once on SQLite) */
    int rc = reads_submit(r->app, webhooks_list_read, webhooks_list_done, j);
    if (rc != 0) {
        r->job = NULL;
        free(j);
        http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                         "could not list the webhooks", NULL);
    }
}

static void r_webhook_delete(struct http_req *r, const cJSON *body)
{
    struct webhook_job *j = calloc(1, sizeof(*j));
    (void)body;
    if (j == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    *j = (struct webhook_job){ .owner = r, .app = r->app, .tenant_id = r->claims.tenant_id,
                               .user_id = r->claims.user_id, .id = r->ids[0] };
    webhook_job_submit(r, j);
}

/* GET /api/webhooks/:id/deliveries, a route_read function (reader thread on PostgreSQL). */
static int webhook_deliveries_read(struct store *rs, const struct route_read *q, cJSON **out,
                                   int *http_status, const char **message)
{
    struct webhook w;
    struct webhook_delivery *v = NULL;
    size_t n = 0;
    char did[PB_WEBHOOK_DELIVERY_ID_MAX], ts[PB_TIMESTAMP_LEN];
    (void)http_status;

    int rc = store_webhook_get(rs, q->tenant_id, q->id, &w);
    if (rc != 0) {
        *message = rc == PB_ENOT_FOUND ? "webhook not found" : "could not read it";
        return rc == PB_ENOT_FOUND ? rc : PB_EINTERNAL;
    }
    webhook_cleanup(&w);
    if (store_webhook_deliveries(rs, q->tenant_id, q->id, PB_WEBHOOK_DELIVERIES_LISTED,
                                 &v, &n) != 0) {
        *message = "could not list the deliveries";
        return PB_EINTERNAL;
    }
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < n; i++) {
        cJSON *j = cJSON_CreateObject();
        webhook_delivery_id(v[i].webhook_id, v[i].seq, did);
        cJSON_AddStringToObject(j, "deliveryId", did);
        cJSON_AddNumberToObject(j, "seq", (double)v[i].seq);
        cJSON_AddStringToObject(j, "event", v[i].event);
        cJSON_AddStringToObject(j, "status", v[i].delivered ? "delivered" : "pending");
        cJSON_AddNumberToObject(j, "attempts", (double)v[i].attempts);
        if (v[i].http_status > 0)
            cJSON_AddNumberToObject(j, "httpStatus", v[i].http_status);
        else
            cJSON_AddNullToObject(j, "httpStatus");
        if (v[i].last_error != NULL)
            cJSON_AddStringToObject(j, "lastError", v[i].last_error);
        else
            cJSON_AddNullToObject(j, "lastError");
        if (!v[i].delivered && v[i].next_attempt_ms > 0) {
            json_format_ms(v[i].next_attempt_ms, ts);
            cJSON_AddStringToObject(j, "nextAttemptAt", ts);
        } else
            cJSON_AddNullToObject(j, "nextAttemptAt");
        if (v[i].delivered_at[0] != '\0')
            cJSON_AddStringToObject(j, "deliveredAt", v[i].delivered_at);
        else
            cJSON_AddNullToObject(j, "deliveredAt");
        cJSON_AddItemToArray(a, j);
        webhook_delivery_cleanup(&v[i]);
    }
    free(v);
    *out = o;
    return 0;
}

static void r_webhook_deliveries(struct http_req *r, const cJSON *body)
{
    (void)body;
    struct route_read q = { .tenant_id = r->claims.tenant_id, .user_id = r->claims.user_id,
                            .id = r->ids[0] };
    route_read(r, &q, webhook_deliveries_read);
}

const struct route pb_routes_webhooks[] = {
    { M_GET, "/api/webhooks", R_ADMIN, 0, r_webhooks_list, NULL },
    { M_POST, "/api/webhooks", R_ADMIN, ROUTE_WRITER, r_webhook_create, NULL },
    { M_DELETE, "/api/webhooks/:id", R_ADMIN, ROUTE_WRITER, r_webhook_delete, NULL },
    { M_GET, "/api/webhooks/:id/deliveries", R_ADMIN, 0, r_webhook_deliveries, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
