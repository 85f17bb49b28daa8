/*
 * webhooks — endpoints, the delivery log and the outbox read (store/webhooks.h, SPEC §11).
 */
#include "store/webhooks.h"

#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEBHOOK_COLUMNS "id, tenant_id, url, events, secret, state, cursor, created_at"
#define DELIVERY_COLUMNS "webhook_id, tenant_id, seq, event, status, attempts, http_status, " \
                         "last_error, first_attempt_ms, next_attempt_ms, delivered_at"

void webhook_cleanup(struct webhook *w)
{
    if (w == NULL)
        return;
    free(w->url);
    free(w->events);
    free(w->secret);
    w->url = w->events = w->secret = NULL;
}

void webhook_delivery_cleanup(struct webhook_delivery *d)
{
    if (d == NULL)
        return;
    free(d->last_error);
    d->last_error = NULL;
}

void webhook_delivery_id(int64_t webhook_id, int64_t seq, char out[PB_WEBHOOK_DELIVERY_ID_MAX])
{
    snprintf(out, PB_WEBHOOK_DELIVERY_ID_MAX, "whd_%lld_%lld", (long long)webhook_id,
             (long long)seq);
}

/* ---------------------------------------------------------------- event names */

/* audit event_type -> webhook event. The SQL list in store_webhook_outbox names the same
 * audit types: keep them together. */
static const struct { const char *audit, *event; } event_map[] = {
    { "order_created", "order_created" },
    { "order_moved", "order_moved" },
    { "order_updated", "order_updated" },
    { "scanner_event", "order_updated" },
    { "order_deleted", "order_deleted" },
    { "orders_imported", "orders_imported" },
    { "work_centre_created", "work_centre_updated" },
    { "work_centre_updated", "work_centre_updated" },
    { "work_centre_deleted", "work_centre_updated" },
    { "work_centres_reordered", "work_centre_updated" },
};
#define OUTBOX_TYPES "'order_created','order_moved','order_updated','scanner_event'," \
    "'order_deleted','orders_imported','work_centre_created','work_centre_updated',"  \
    "'work_centre_deleted','work_centres_reordered'"

const char *store_webhook_event_of(const char *audit_type)
{
    if (audit_type == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(event_map) / sizeof(event_map[0]); i++)
        if (strcmp(event_map[i].audit, audit_type) == 0)
            return event_map[i].event;
    return NULL;
}

bool store_webhook_event_known(const char *name)
{
    for (size_t i = 0; i < sizeof(event_map) / sizeof(event_map[0]); i++)
        if (strcmp(event_map[i].event, name) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- endpoints */

static int webhook_from_row(struct db_stmt *st, struct webhook *w)
{
    memset(w, 0, sizeof(*w));
    w->id = db_column_int64(st, 0);
    w->tenant_id = db_column_int64(st, 1);
    w->url = store__col_strdup(st, 2);
    w->events = store__col_strdup(st, 3);
    w->secret = store__col_strdup(st, 4);
    const unsigned char *state = db_column_text(st, 5);
    w->failing = state != NULL && strcmp((const char *)state, "failing") == 0;
    w->cursor = db_column_int64(st, 6);
    store__col_copy(st, 7, w->created_at, sizeof(w->created_at));
    if (w->url == NULL || w->events == NULL || w->secret == NULL) {
        webhook_cleanup(w);
        return PB_EINTERNAL;
    }
    return 0;
}

int store_webhook_last_audit_id(struct store *s, int64_t tenant_id, int64_t *out)
{
    struct db_stmt *st = store__prepare(s, "SELECT COALESCE(MAX(id), 0) FROM audit_log "
                                         "WHERE tenant_id = ?1", "prepare");
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    int r = store__step_row(s, st, "webhook last audit id");
    if (r == 1)
        *out = db_column_int64(st, 0);
    db_finalize(st);
    return r == 1 ? 0 : PB_EINTERNAL;
}

static int count_live(struct store *s, int64_t tenant_id, int64_t *n)
{
    struct db_stmt *st = store__prepare(s, "SELECT COUNT(*) FROM webhooks WHERE tenant_id = ?1 "
                                         "AND deleted_at IS NULL", "prepare");
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    int r = store__step_row(s, st, "webhook count");
    if (r == 1)
        *n = db_column_int64(st, 0);
    db_finalize(st);
    return r == 1 ? 0 : PB_EINTERNAL;
}

int store_webhook_create(struct store *s, int64_t tenant_id, const char *url,
                         const char *events, const char *secret, int64_t user_id,
                         struct webhook *out)
{
    static const char sql[] = "INSERT INTO webhooks(tenant_id, url, events, secret, state, "
                              "cursor, created_by, created_at) "
                              "VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?7)";
    char now[PB_TIMESTAMP_LEN], data[64];
    int64_t live = 0, cursor = 0, id;
    struct db_stmt *st;

    pb_now_timestamp(now);
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if (count_live(s, tenant_id, &live) != 0)
        goto fail;
    if (live >= PB_WEBHOOKS_PER_TENANT) {
        store__rollback(s);
        return PB_ETOO_LARGE;
    }
    if (store_webhook_last_audit_id(s, tenant_id, &cursor) != 0
        || (st = store__prepare(s, sql, "prepare")) == NULL)
        goto fail;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, url, -1, DB_STATIC);
    db_bind_text(st, 3, events, -1, DB_STATIC);
    db_bind_text(st, 4, secret, -1, DB_STATIC);
    db_bind_int64(st, 5, cursor);
    store__bind_id_opt(st, 6, user_id);
    db_bind_text(st, 7, now, -1, DB_STATIC);
    if (store__run_final(s, st, "webhook insert", NULL, NULL) != 0)
        goto fail;
    id = db_last_insert_rowid(s->db);
    snprintf(data, sizeof(data), "{\"webhookId\":%lld}", (long long)id);
    if (store__audit(s, tenant_id, "webhook_created", 0, 0, 0, user_id, data, -1, -1, now) != 0
        || store__commit(s) != 0)
        goto fail;
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        out->id = id;
        out->tenant_id = tenant_id;
        out->cursor = cursor;
        memcpy(out->created_at, now, sizeof(now));
        out->url = strdup(url);
        out->events = strdup(events);
        out->secret = strdup(secret);
        if (out->url == NULL || out->events == NULL || out->secret == NULL) {
            webhook_cleanup(out);       /* committed: only the copy failed */
            return PB_EINTERNAL;
        }
    }
    return 0;

fail:
    store__rollback(s);
    return PB_EINTERNAL;
}

int store_webhook_delete(struct store *s, int64_t tenant_id, int64_t id, int64_t user_id)
{
    static const char sql[] = "UPDATE webhooks SET deleted_at = ?3 WHERE tenant_id = ?1 "
                              "AND id = ?2 AND deleted_at IS NULL";
    char now[PB_TIMESTAMP_LEN], data[64];
    int changes = 0;
    struct db_stmt *st;

    pb_now_timestamp(now);
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, sql, "prepare")) == NULL)
        goto fail;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, id);
    db_bind_text(st, 3, now, -1, DB_STATIC);
    if (store__run_final(s, st, "webhook delete", NULL, &changes) != 0)
        goto fail;
    if (changes != 1) {
        store__rollback(s);
        return PB_ENOT_FOUND;
    }
    snprintf(data, sizeof(data), "{\"webhookId\":%lld}", (long long)id);
    if (store__audit(s, tenant_id, "webhook_deleted", 0, 0, 0, user_id, data, -1, -1, now) != 0
        || store__commit(s) != 0)
        goto fail;
    return 0;

fail:
    store__rollback(s);
    return PB_EINTERNAL;
}

int store_webhook_list(struct store *s, int64_t tenant_id, struct webhook **out, size_t *n)
{
    static const char one[] = "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE tenant_id = ?1 "
                              "AND deleted_at IS NULL ORDER BY id";
    static const char all[] = "SELECT " WEBHOOK_COLUMNS " FROM webhooks "
                              "WHERE deleted_at IS NULL ORDER BY id";
    struct webhook *v = NULL;
    size_t len = 0, cap = 0;
    struct db_stmt *st;
    int r;

    *out = NULL;
    *n = 0;
    if ((st = store__prepare(s, tenant_id > 0 ? one : all, "prepare")) == NULL)
        return PB_EINTERNAL;
    if (tenant_id > 0)
        db_bind_int64(st, 1, tenant_id);
    while ((r = store__step_row(s, st, "webhook list")) == 1) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct webhook *nv = realloc(v, nc * sizeof(*nv));
            if (nv == NULL)
                goto fail;
            v = nv;
            cap = nc;
        }
        if (webhook_from_row(st, &v[len]) != 0)
            goto fail;
        len++;
    }
    if (r < 0)
        goto fail;
    db_finalize(st);
    *out = v;
    *n = len;
    return 0;

fail:
    db_finalize(st);
    for (size_t i = 0; i < len; i++)
        webhook_cleanup(&v[i]);
    free(v);
    return PB_EINTERNAL;
}

int store_webhook_get(struct store *s, int64_t tenant_id, int64_t id, struct webhook *out)
{
    static const char sql[] = "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE tenant_id = ?1 "
                              "AND id = ?2 AND deleted_at IS NULL";
    struct db_stmt *st = store__prepare(s, sql, "prepare");
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, id);
    int r = store__step_row(s, st, "webhook get");
    int rc = r == 1 ? webhook_from_row(st, out) : r == 0 ? PB_ENOT_FOUND : PB_EINTERNAL;
    db_finalize(st);
    return rc;
}

/* ---------------------------------------------------------------- the outbox */

int store_webhook_outbox(struct store *s, int64_t tenant_id, int64_t after, size_t max,
                         struct audit_entry *out, size_t *n)
{
    /* audit_log_tenant (tenant_id, id): a range scan from `after`; the type filter skips
     * the rows that are not changes (users, keys, ...) without leaving the index order. */
    static const char sql[] =
        "SELECT id, event_type, order_id, from_work_centre_id, to_work_centre_id, user_id, "
        "event_data, queue_depth_from, queue_depth_to, timestamp FROM audit_log "
        "WHERE tenant_id = ?1 AND id > ?2 AND event_type IN (" OUTBOX_TYPES ") "
        "ORDER BY id LIMIT ?3";
    struct db_stmt *st;
    size_t len = 0;
    int r = 0;

    *n = 0;
    if ((st = store__prepare(s, sql, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, after);
    db_bind_int64(st, 3, (int64_t)max);
    while (len < max && (r = store__step_row(s, st, "webhook outbox")) == 1) {
        struct audit_entry *e = &out[len];
        memset(e, 0, sizeof(*e));
        e->id = db_column_int64(st, 0);
        e->event_type = store__col_strdup(st, 1);
        e->order_id = db_column_int64(st, 2);
        e->from_work_centre_id = db_column_int64(st, 3);
        e->to_work_centre_id = db_column_int64(st, 4);
        e->user_id = db_column_int64(st, 5);
        e->event_data = db_column_type(st, 6) == DB_NULL ? NULL
                                                                  : store__col_strdup(st, 6);
        e->queue_depth_from = db_column_type(st, 7) == DB_NULL
                                  ? -1 : db_column_int64(st, 7);
        e->queue_depth_to = db_column_type(st, 8) == DB_NULL
                                ? -1 : db_column_int64(st, 8);
        store__col_copy(st, 9, e->timestamp, sizeof(e->timestamp));
        len++;
        if (e->event_type == NULL
            || (db_column_type(st, 6) != DB_NULL && e->event_data == NULL)) {
            r = PB_EINTERNAL;
            break;
        }
    }
    db_finalize(st);
    if (r < 0) {
        for (size_t i = 0; i < len; i++)
            audit_entry_cleanup(&out[i]);
        return PB_EINTERNAL;
    }
    *n = len;
    return 0;
}

/* ---------------------------------------------------------------- the delivery log */

int store_webhook_delivery_save(struct store *s, const struct webhook_delivery *d, bool failing)
{
    static const char ins[] =
        "INSERT INTO webhook_deliveries(tenant_id, webhook_id, seq, delivery_id, event, status, "
        "attempts, http_status, last_error, first_attempt_ms, next_attempt_ms, delivered_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
        "ON CONFLICT (webhook_id, seq) DO UPDATE SET status = excluded.status, "
        "attempts = CASE WHEN excluded.attempts > webhook_deliveries.attempts "
        "THEN excluded.attempts ELSE webhook_deliveries.attempts END, "
        "http_status = excluded.http_status, "
        "last_error = excluded.last_error, next_attempt_ms = excluded.next_attempt_ms, "
        "delivered_at = excluded.delivered_at";
    static const char upd[] =
        "UPDATE webhooks SET cursor = CASE WHEN ?3 THEN "
        "(CASE WHEN CAST(?2 AS BIGINT) > cursor THEN ?2 ELSE cursor END) ELSE cursor END, "
        "state = CASE WHEN ?4 THEN 'failing' ELSE 'active' END WHERE id = ?1";
    char did[PB_WEBHOOK_DELIVERY_ID_MAX];
    struct db_stmt *st;

    webhook_delivery_id(d->webhook_id, d->seq, did);
    if ((st = store__prepare(s, ins, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, d->tenant_id);
    db_bind_int64(st, 2, d->webhook_id);
    db_bind_int64(st, 3, d->seq);
    db_bind_text(st, 4, did, -1, DB_STATIC);
    db_bind_text(st, 5, d->event, -1, DB_STATIC);
    db_bind_text(st, 6, d->delivered ? "delivered" : "pending", -1, DB_STATIC);
    db_bind_int64(st, 7, d->attempts);
    if (d->http_status > 0)
        db_bind_int(st, 8, d->http_status);
    store__bind_text_opt(st, 9, d->last_error);
    db_bind_int64(st, 10, d->first_attempt_ms);
    db_bind_int64(st, 11, d->next_attempt_ms);
    store__bind_text_opt(st, 12, d->delivered_at);
    if (store__run_final(s, st, "webhook delivery save", NULL, NULL) != 0)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, upd, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, d->webhook_id);
    db_bind_int64(st, 2, d->seq);
    db_bind_int(st, 3, d->delivered);
    db_bind_int(st, 4, failing);
    if (store__run_final(s, st, "webhook cursor", NULL, NULL) != 0)
        return PB_EINTERNAL;
    if (!d->delivered || d->seq % PB_WEBHOOK_PRUNE_EVERY != 0)
        return 0;
    /* The delivery log stays bounded (SPEC §11 lists the last 100): the oldest delivered rows
     * past the newest PB_WEBHOOK_DELIVERIES_KEPT go, on the (webhook_id, seq) index. */
    static const char prune[] =
        "DELETE FROM webhook_deliveries WHERE webhook_id = ?1 AND status = 'delivered' "
        "AND seq < (SELECT seq FROM webhook_deliveries WHERE webhook_id = ?1 "
        "ORDER BY seq DESC LIMIT 1 OFFSET ?2)";
    if ((st = store__prepare(s, prune, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, d->webhook_id);
    db_bind_int(st, 2, PB_WEBHOOK_DELIVERIES_KEPT - 1);
    return store__run_final(s, st, "webhook delivery prune", NULL, NULL);
}

static int delivery_from_row(struct db_stmt *st, struct webhook_delivery *d)
{
    memset(d, 0, sizeof(*d));
    d->webhook_id = db_column_int64(st, 0);
    d->tenant_id = db_column_int64(st, 1);
    d->seq = db_column_int64(st, 2);
    store__col_copy(st, 3, d->event, sizeof(d->event));
    const unsigned char *status = db_column_text(st, 4);
    d->delivered = status != NULL && strcmp((const char *)status, "delivered") == 0;
    d->attempts = db_column_int64(st, 5);
    d->http_status = db_column_int(st, 6);
    if (db_column_type(st, 7) != DB_NULL
        && (d->last_error = store__col_strdup(st, 7)) == NULL)
        return PB_EINTERNAL;
    d->first_attempt_ms = db_column_int64(st, 8);
    d->next_attempt_ms = db_column_int64(st, 9);
    store__col_copy(st, 10, d->delivered_at, sizeof(d->delivered_at));
    return 0;
}

int store_webhook_delivery_get(struct store *s, int64_t webhook_id, int64_t seq,
                               struct webhook_delivery *out)
{
    static const char sql[] = "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries "
                              "WHERE webhook_id = ?1 AND seq = ?2";
    struct db_stmt *st = store__prepare(s, sql, "prepare");
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, webhook_id);
    db_bind_int64(st, 2, seq);
    int r = store__step_row(s, st, "webhook delivery get");
    if (r == 1 && delivery_from_row(st, out) != 0)
        r = PB_EINTERNAL;
    db_finalize(st);
    return r;
}

int store_webhook_deliveries(struct store *s, int64_t tenant_id, int64_t webhook_id,
                             size_t limit, struct webhook_delivery **out, size_t *n)
{
    /* The UNIQUE (webhook_id, seq) index, walked backwards. */
    static const char sql[] = "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries "
                              "WHERE webhook_id = ?2 AND tenant_id = ?1 ORDER BY seq DESC "
                              "LIMIT ?3";
    struct webhook_delivery *v;
    size_t len = 0;
    struct db_stmt *st;
    int r = 0;

    *out = NULL;
    *n = 0;
    if ((v = calloc(limit > 0 ? limit : 1, sizeof(*v))) == NULL)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, sql, "prepare")) == NULL) {
        free(v);
        return PB_EINTERNAL;
    }
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, webhook_id);
    db_bind_int64(st, 3, (int64_t)limit);
    while (len < limit && (r = store__step_row(s, st, "webhook deliveries")) == 1) {
        if (delivery_from_row(st, &v[len]) != 0) {
            r = PB_EINTERNAL;
            break;
        }
        len++;
    }
    db_finalize(st);
    if (r < 0) {
        for (size_t i = 0; i <= len && i < limit; i++)
            webhook_delivery_cleanup(&v[i]);
        free(v);
        return PB_EINTERNAL;
    }
    *out = v;
    *n = len;
    return 0;
}
