/*
 * scanner — scanner API keys and shop-floor scanner events (SPEC §3 "API keys", §4 "Audit,
 * scanners, health"). Same phases and error conventions as store/store.h: validate and
 * allocate first, one SQLite transaction (the change + its audit row(s)), then the cache.
 *
 * Keys: the store never sees a secret, only its SHA-256 hex (the caller hashes; see
 * auth_sha256_hex). A key is "live" while revoked_at is NULL.
 *
 * Scanner events are idempotent on (tenant, eventId): a repeated eventId is reported as a
 * duplicate and changes nothing, so a retrying scanner never double-counts.
 */
#ifndef PB_STORE_SCANNER_H
#define PB_STORE_SCANNER_H

#include "store/store.h"

#define PB_API_KEY_NAME_MAX   100   /* characters (bytes) of an API key's name */
#define PB_SCANNER_ID_MAX     100   /* eventId, operatorBadge, scannerId: bytes */

/* ---------------------------------------------------------------- API keys */

struct api_key {                /* caller storage; strings owned (api_key_cleanup frees) */
    int64_t id;
    int64_t tenant_id;
    char *name;
    int64_t created_by;         /* user id, 0 = null */
    char created_at[PB_TIMESTAMP_LEN];
    char revoked_at[PB_TIMESTAMP_LEN];  /* "" = live */
};
/* Free the strings of *k (not k itself). NULL or an empty struct does nothing. */
void api_key_cleanup(struct api_key *k);

/*
 * Create a key named `name` (1..PB_API_KEY_NAME_MAX bytes, not only blanks) whose secret
 * hashes to key_hash (64 lowercase hex chars). One "api_key_created" audit row (user_id,
 * event_data {"apiKeyId", "name"}) in the same transaction. *out (may be NULL) is filled
 * (api_key_cleanup). PB_EVALIDATION bad name or hash, PB_ECONFLICT the hash exists already
 * (a repeated secret: never with random keys), PB_EINTERNAL (nothing written).
 */
int store_api_key_create(struct store *s, int64_t tenant_id, const char *name,
                         const char *key_hash, int64_t user_id, struct api_key *out);

/* The tenant's live keys (revoked ones too when include_revoked), by id. *out is a malloc'd
 * array of *n keys (api_key_cleanup each, then free; NULL when 0). PB_EINTERNAL. */
int store_api_key_list(struct store *s, int64_t tenant_id, bool include_revoked,
                       struct api_key **out, size_t *n);

/* Revoke live key `id` of the tenant (revoked_at = now) with one "api_key_revoked" audit row.
 * PB_ENOT_FOUND unknown, another tenant's or already revoked; PB_EINTERNAL. */
int store_api_key_revoke(struct store *s, int64_t tenant_id, int64_t id, int64_t user_id);

/* The live key whose secret hashes to key_hash, any tenant (this is how a scanner request
 * finds its tenant). *out filled (api_key_cleanup). PB_EUNAUTHORIZED when no live key has
 * that hash (unknown or revoked), PB_EINTERNAL. */
int store_api_key_lookup(struct store *s, const char *key_hash, struct api_key *out);

/* ---------------------------------------------------------------- scanner events */

enum scanner_event_type { SCAN_JOB_START, SCAN_PROGRESS_UPDATE, SCAN_JOB_COMPLETE,
                          SCAN__COUNT };

/* "job_start", "progress_update", "job_complete"; NULL out of range. */
const char *scanner_event_type_name(enum scanner_event_type t);
/* The enum value of an exact name, or -1. */
int scanner_event_type_parse(const char *name);

/* One event as it arrives (strings borrowed; NULL or "" = absent for the optional ones). */
struct scanner_event_input {
    const char *event_id;               /* required, 1..PB_SCANNER_ID_MAX bytes */
    const char *order_number;           /* required: a live order of the tenant */
    const char *work_centre_code;       /* required: a work centre of the tenant */
    int event_type;                     /* enum scanner_event_type */
    bool has_quantity;
    int64_t quantity;                   /* >= 0; required for progress_update */
    const char *operator_badge;         /* optional, <= PB_SCANNER_ID_MAX */
    const char *scanner_id;             /* optional, <= PB_SCANNER_ID_MAX */
    const char *operation_name;         /* optional, <= PB_OPERATION_MAX */
    int64_t api_key_id;                 /* the key that sent it (audit event_data) */
    const char *timezone;               /* tenant's IANA zone for "today" (NULL = UTC) */
};

/* What an applied event did (filled on success). */
struct scanner_result {
    bool duplicate;                     /* eventId seen before: nothing was done */
    struct order *order;                /* the order in the cache (NULL on a duplicate) */
    bool moved;                         /* job_start moved it to the event's work centre */
    int64_t from_work_centre_id;        /* when moved: its column before (0 = backlog) */
    int64_t to_work_centre_id;          /* when moved: the event's work centre */
    int64_t position;                   /* when moved: its position (end of the column) */
    bool changed;                       /* the order or one of its steps changed */
    int64_t quantity_delta;             /* quantityCompleted added (after clamping) */
    int64_t step_number;                /* the step changed, 0 = none */
    bool order_completed;               /* job_complete completed the order */
};

/*
 * Apply one scanner event (SPEC §4 POST /api/scanner/events), as one transaction holding
 * the scanner_events row, the effect and the audit rows:
 *   job_start        the order goes in_progress at the event's work centre: when it sits
 *                    elsewhere it moves to the end of that column (positions stay dense; an
 *                    "order_moved" audit row with queue depths and reason "scanner");
 *                    startDate = today when empty; started_at (COALESCE) = now; leaving
 *                    complete clears completionDate / completed_at; operationName, when
 *                    given, becomes currentOperation; the first pending step at that centre
 *                    goes in_progress (started_at).
 *   progress_update  quantityCompleted += quantity, clamped to quantityToMake (the actual
 *                    delta goes to the audit row as "quantityCompletedDelta"); the first
 *                    step at that centre that is not complete/skipped gets the same delta.
 *   job_complete     the first step at that centre that is not complete/skipped goes
 *                    complete (completed_at); the order goes complete (completionDate today,
 *                    completed_at now) when no later step is left that is not complete or
 *                    skipped, or when the order has no steps at all.
 * The order's version +1 and updated_at when it or a step changed (once per event, a move
 * included). Exactly one "scanner_event" audit row (user null, to_work_centre_id = the
 * event's centre, event_data: eventId, eventType, orderNumber, workCentreCode, quantity,
 * apiKeyId, operatorBadge, scannerId, operationName, moved, statusFrom/statusTo on a status
 * change, quantityCompletedDelta for progress_update (and on any quantity change),
 * stepNumber, orderCompleted). Locks are not checked (the caller decides).
 * Checks in this order: the shape of `in` (PB_EVALIDATION: a missing or oversized field, an
 * unknown event type, a negative quantity or none for progress_update); then a repeated
 * eventId: 0 with out->duplicate, nothing written (even if its order is gone since); then
 * PB_EVALIDATION for an unknown order number, an unknown work centre code (or an inactive
 * one for job_start). *bad_field (bad_field may be NULL) gets the static camelCase name of
 * the field at fault. PB_EINTERNAL: nothing changed (database rolled back, cache untouched,
 * the eventId not used up, so the scanner's retry is applied).
 */
int store_scanner_event(struct store *s, struct board *b, const struct scanner_event_input *in,
                        struct scanner_result *out, const char **bad_field);


/*
 * store_scanner_event in three phases, for the writer (docs/writer.md "Order updates and
 * scanner events"; SPEC §4 POST /api/scanner/events).
 *   prepare (loop thread, when the tenant's earlier writes are done — the writer's gate): the
 *     checks of store_scanner_event in its order (shape; a repeated eventId; unknown order or
 *     work centre: PB_EVALIDATION with *bad_field), reading the eventId index and the order's
 *     steps on s, the loop's connection: the gate serialises the tenant's jobs, so no write of
 *     this tenant is in flight and SQLite holds everything this event can depend on. Plans the
 *     effect; changes nothing. A repeated eventId is a job too (0, nothing to write: apply
 *     reports the duplicate). The strings of in must stay valid until the job is freed.
 *     PB_EVALIDATION, PB_EINTERNAL; on success *out owns the job.
 *   writes: false for a duplicate (nothing to write).
 *   write (the thread that owns connection s, a sibling store, inside a transaction the caller
 *     opened; it must not BEGIN/COMMIT): the scanner_events row, the move's relabel and
 *     "order_moved" audit row, the order and step rows, the "scanner_event" audit row. When
 *     another connection recorded the eventId meanwhile (the INSERT meets its unique key: ON
 *     CONFLICT DO NOTHING, no statement error, so the caller's transaction goes on, PostgreSQL
 *     too), nothing is written and the event becomes a duplicate. Reads b, frozen until apply. May run again after a
 *     rollback (it decides the duplicate again; nothing else in the job changes).
 *     0 or PB_EINTERNAL; a job of store_scanner_prepare_cached first looks the eventId up
 *     on s (a duplicate: 0, nothing written) and then refuses the order or work centre
 *     prepare found unknown (PB_EVALIDATION, the field in prepare's *bad_field).
 *   apply (loop thread, after COMMIT, cannot fail, no allocation): changes b, fills *out (may
 *     be NULL) as store_scanner_event does.
 * Free the job with store_scanner_job_free (NULL is fine) in every case.
 */
struct scanner_job;
int store_scanner_prepare(struct store *s, struct board *b, const struct scanner_event_input *in,
                          struct scanner_job **out, const char **bad_field);
/*
 * store_scanner_prepare reading nothing (PostgreSQL: issue 13 "the loop never waits on a
 * PostgreSQL round trip", SPEC §12; docs/postgresql.md "What the loop waits on"). The same
 * checks, answers and plan, from other sources:
 *   - the order's steps come from b's cached route (struct order_route: the step number, work
 *     centre, status and count the plan reads; no operation names, which nothing here reads).
 *     It is exact: steps are written only by an order's create (which sets the route) and by
 *     scanner events (apply updates it); another node's are read back by the follow job
 *     before any later write of the tenant plans (server/follow.c);
 *   - the eventId look-up moves into write (the writer's connection, inside its
 *     transaction), so a repeated eventId is found there: write returns 0 and apply reports
 *     the duplicate, nothing written, as when prepare finds it;
 *   - an unknown order or work centre (or an inactive one for job_start) is not refused here:
 *     *bad_field is set, 0 is returned with a job, and write refuses it (PB_EVALIDATION)
 *     unless the eventId was recorded before: a retried event stays a duplicate even when its
 *     order has gone since (as with store_scanner_prepare).
 * The shape of `in` is still refused here (PB_EVALIDATION, before any look-up, as before).
 * Loop thread; reads b only. PB_EVALIDATION, PB_EINTERNAL (no memory); on success *out owns
 * the job.
 */
int store_scanner_prepare_cached(struct board *b, const struct scanner_event_input *in,
                                 struct scanner_job **out, const char **bad_field);
bool store_scanner_writes(const struct scanner_job *j);
int store_scanner_write(struct store *s, struct scanner_job *j);
void store_scanner_apply(struct board *b, struct scanner_job *j, struct scanner_result *out);
/* SPEC §12 (the events go in with their change, server/job_events.c), after prepare: false
 * when the event is a duplicate or was left to write to refuse (nothing to tell); else true, *res as apply will report it
 * (unless the write finds the eventId recorded meanwhile: store_scanner_applies) and *o the
 * order as apply will leave it (res->order = o; strings borrowed from the job and the board,
 * the column node not usable: the position is *position). Any thread that may read b. */
bool store_scanner_tried(const struct scanner_job *j, struct order *o, int64_t *position,
                         struct scanner_result *res);
/* After a store_scanner_write that returned 0: whether apply will change anything (false: a
 * duplicate, found at prepare or by the write). */
bool store_scanner_applies(const struct scanner_job *j);
void store_scanner_job_free(struct scanner_job *j);

#endif
