/*
 * webhooks — the store side of SPEC §11 webhooks: endpoints, the delivery log, and the outbox
 * read (docs/api-notes.md "Webhooks").
 *
 * The outbox is audit_log: every change (move, create, update, delete, import, scanner event,
 * work-centre change) writes its audit row inside its own transaction, so "the outbox row is
 * written in the same transaction as the change" holds for every writer without touching
 * them. An endpoint keeps `cursor`, the audit id of the last row delivered to it; the
 * deliverer (server/webhooks.c) reads the rows after it in id order (SQLite serializes
 * writers, so id order is commit order), one in flight per endpoint, and a 2xx moves the
 * cursor on (store_webhook_delivery_save). A crash before the cursor write redelivers that row
 * with the same deliveryId: at least once, never skipped.
 *
 * Errors: 0 or a negative PB_E* code (core/errors.h); on error nothing changed.
 * Threads: the one that owns the struct store passed in (the loop's, or the writer thread's
 * sibling store inside a writer job for store_webhook_delivery_save).
 */
#ifndef PB_STORE_WEBHOOKS_H
#define PB_STORE_WEBHOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"
#include "store/audit.h"
#include "store/store.h"

#define PB_WEBHOOK_URL_MAX 2048         /* SPEC §11 / issue 12: url bytes at most */
#define PB_WEBHOOK_SECRET_MAX 256       /* secret bytes at most */
#define PB_WEBHOOK_EVENTS_MAX 1024      /* the stored events array (JSON text) at most */
#define PB_WEBHOOKS_PER_TENANT 32       /* live endpoints of one tenant (413 past it) */
#define PB_WEBHOOK_DELIVERIES_LISTED 100 /* SPEC §11: GET .../deliveries lists the last 100 */
#define PB_WEBHOOK_EVENT_MAX 32         /* the longest event name + NUL */
#define PB_WEBHOOK_ERROR_MAX 256        /* last_error kept, bytes */
#define PB_WEBHOOK_DELIVERIES_KEPT 1000 /* delivered log rows kept per endpoint (the newest);
                                         * pruned every PB_WEBHOOK_PRUNE_EVERY-th seq */
#define PB_WEBHOOK_PRUNE_EVERY 64

/* One endpoint. Strings owned by the struct (webhook_cleanup frees them). */
struct webhook {
    int64_t id, tenant_id;
    char *url;
    char *events;                       /* JSON array text as stored, e.g. ["order_moved"] */
    char *secret;
    bool failing;                       /* state 'failing' (24 h without a 2xx) */
    int64_t cursor;                     /* audit id of the last row delivered */
    char created_at[PB_TIMESTAMP_LEN];
};
void webhook_cleanup(struct webhook *w);

/* One row of the delivery log. last_error is owned (webhook_delivery_cleanup frees it). */
struct webhook_delivery {
    int64_t webhook_id, tenant_id;
    int64_t seq;                        /* the audit id: increasing per endpoint */
    char event[PB_WEBHOOK_EVENT_MAX];   /* the webhook event name (store_webhook_event_of) */
    bool delivered;                     /* status 'delivered' (else 'pending') */
    int64_t attempts;
    int http_status;                    /* of the last attempt, 0 = no HTTP answer */
    char *last_error;                   /* NULL = none */
    int64_t first_attempt_ms;           /* Unix ms */
    int64_t next_attempt_ms;            /* Unix ms; 0 = now */
    char delivered_at[PB_TIMESTAMP_LEN]; /* "" until delivered */
};
void webhook_delivery_cleanup(struct webhook_delivery *d);

/* The deliveryId of (endpoint, seq) into out: "whd_<webhook id>_<seq>". The same on every
 * attempt and after a restart, so a receiver can drop duplicates by it. */
#define PB_WEBHOOK_DELIVERY_ID_MAX 48
void webhook_delivery_id(int64_t webhook_id, int64_t seq, char out[PB_WEBHOOK_DELIVERY_ID_MAX]);

/*
 * The webhook event an audit row of type audit_type is delivered as (the SPEC §5 room event
 * it corresponds to): order_created, order_moved, order_updated (also a scanner_event row),
 * order_deleted, orders_imported, work_centre_updated (work_centre_created / _updated /
 * _deleted / work_centres_reordered). NULL for rows that are not board changes (users, API
 * keys, tenant, calendar, webhooks themselves): never delivered. Drag locks and presence write
 * no audit rows: they are not changes and are never delivered.
 */
const char *store_webhook_event_of(const char *audit_type);
/* True when name is one of the event names above (what POST /api/webhooks accepts). */
bool store_webhook_event_known(const char *name);

/*
 * Create an endpoint of tenant_id (strings copied; validated by the caller: url, events JSON
 * array, secret). Its cursor starts at the tenant's last audit id: changes made before it are
 * not delivered. Writes a webhook_created audit row. *out (may be NULL) gets the endpoint
 * (webhook_cleanup). PB_ETOO_LARGE (PB_WEBHOOKS_PER_TENANT live ones already), PB_EINTERNAL.
 */
int store_webhook_create(struct store *s, int64_t tenant_id, const char *url,
                         const char *events, const char *secret, int64_t user_id,
                         struct webhook *out);
/* Soft-delete the endpoint (deleted_at) and write a webhook_deleted audit row. PB_ENOT_FOUND
 * (no live endpoint of that id in the tenant), PB_EINTERNAL. */
int store_webhook_delete(struct store *s, int64_t tenant_id, int64_t id, int64_t user_id);
/* Live endpoints of tenant_id (0 = of every tenant: the deliverer at start), by id. *out is a
 * malloc'd array of *n (webhook_cleanup each, then free). PB_EINTERNAL. */
int store_webhook_list(struct store *s, int64_t tenant_id, struct webhook **out, size_t *n);
/* The live endpoint id of tenant_id into *out: 0, PB_ENOT_FOUND, PB_EINTERNAL. */
int store_webhook_get(struct store *s, int64_t tenant_id, int64_t id, struct webhook *out);

/*
 * The outbox: up to max audit rows of tenant_id with id > after that are delivered as some
 * webhook event (store_webhook_event_of), in id order, into out[max] (audit_entry_cleanup
 * each); *n = the count. One indexed range read (audit_log_tenant), so the loop may run it.
 * PB_EINTERNAL.
 */
int store_webhook_outbox(struct store *s, int64_t tenant_id, int64_t after, size_t max,
                         struct audit_entry *out, size_t *n);
/* The audit id of tenant_id's last row (0 when none). PB_EINTERNAL. */
int store_webhook_last_audit_id(struct store *s, int64_t tenant_id, int64_t *out);

/*
 * Record an attempt's outcome: insert or replace the (webhook_id, seq) row of the delivery log;
 * when d->delivered, the endpoint's cursor becomes max(cursor, seq). The endpoint's state
 * becomes failing / active as `failing` says. A delivered row whose seq is a multiple of
 * PB_WEBHOOK_PRUNE_EVERY also prunes the endpoint's delivered rows older than its newest
 * PB_WEBHOOK_DELIVERIES_KEPT (the log stays bounded; amortised, so a delivery costs O(log n)).
 * Runs inside the caller's transaction (a writer job's; it begins none). PB_EINTERNAL.
 */
int store_webhook_delivery_save(struct store *s, const struct webhook_delivery *d, bool failing);
/* The log row (webhook_id, seq) into *out: 1 found, 0 none, PB_EINTERNAL. */
int store_webhook_delivery_get(struct store *s, int64_t webhook_id, int64_t seq,
                               struct webhook_delivery *out);
/* The endpoint's last `limit` log rows, newest (highest seq) first, into a malloc'd *out of
 * *n (webhook_delivery_cleanup each, then free). PB_EINTERNAL. */
int store_webhook_deliveries(struct store *s, int64_t tenant_id, int64_t webhook_id,
                             size_t limit, struct webhook_delivery **out, size_t *n);

#endif
