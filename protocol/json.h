/*
 * protocol/json — the JSON shapes of SPEC §2/§4/§5 (cJSON), and helpers to read request bodies.
 * No sockets, no SQLite. Keys are camelCase; absent/empty optional values are null.
 *
 * Ownership: every json_* constructor returns a new cJSON tree owned by the caller
 * (cJSON_Delete), or NULL on allocation failure.
 */
#ifndef PB_JSON_H
#define PB_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include "locks/lock.h"
#include "core/model.h"

/* ms since the epoch -> "2026-11-21T09:30:00Z" into out[PB_TIMESTAMP_LEN]. */
void json_format_ms(int64_t ms, char out[PB_TIMESTAMP_LEN]);

/* {userId, username, expiresAt} of a drag lock. */
cJSON *json_lock_holder(const struct drag_lock *lock);
/* {orderId, orderNumber, lockedBy: {userId, username}, expiresAt} (SPEC §5 order_locked). */
cJSON *json_lock(const struct drag_lock *lock, const char *order_number);
/* The order of SPEC §2; lock (may be NULL) becomes lockedBy. */
cJSON *json_order(const struct order *o, const struct drag_lock *lock);
/* json_order with `position` (SPEC §2) given: for an order that is not in its column's tree
 * (yet), e.g. a change's planned order whose event is encoded before the change is applied
 * (SPEC §12, server/job_events.c). Reads o only; any thread. NULL when out of memory. */
cJSON *json_order_at(const struct order *o, const struct drag_lock *lock, int64_t position);
cJSON *json_work_centre(const struct work_centre *wc);

/* SPEC §9 projected schedule (issue 11). A projected minute (core/schedule.h: minutes since
 * the epoch) as "YYYY-MM-DDTHH:MM:00Z" into out. */
void json_format_minute(int64_t minute, char out[PB_TIMESTAMP_LEN]);
/* {orderId, projectedStart, projectedFinish, late} of o: the entries of GET
 * /api/planning-board/schedule and schedule_updated. Times null when unscheduled or past the
 * calendar's horizon; late null when the order is not scheduled (backlog, on_hold, complete,
 * cancelled). NULL on allocation failure. */
cJSON *json_schedule_entry(const struct order *o);

struct calendar;
struct cal_shift;
struct json_details;
/* {timezone, shifts: [{weekday, start: "HH:MM", end}], holidays: ["YYYY-MM-DD"]} (SPEC §9
 * GET /api/tenant/calendar). NULL on allocation failure. */
cJSON *json_calendar(const struct calendar *c);
/*
 * Read a PUT /api/tenant/calendar body (an object; the caller checked): "shifts" and
 * "holidays" replace cur's when present, are cur's when absent. shifts[CAL_SHIFTS_MAX] and
 * holidays[CAL_HOLIDAYS_MAX] are caller storage; *n_shifts, *n_holidays their counts. Shape
 * errors go to d with the field named ("shifts[1].start": "must be a time HH:MM"); the
 * calendar rules (overlaps ...) are calendar_check's, run by the caller. Returns d->count > 0.
 */
bool json_calendar_parse(const cJSON *body, const struct calendar *cur, struct cal_shift *shifts,
                         size_t *n_shifts, char (*holidays)[PB_DATE_LEN], size_t *n_holidays,
                         struct json_details *d);
cJSON *json_step(const struct step *s);
/* The user of SPEC §2 (never the password hash). */
cJSON *json_user(const struct user *u);
/* {id, slug, name} */
cJSON *json_tenant_brief(const struct tenant *t);
/* {id, slug, name, timezone, dailyTarget} */
cJSON *json_tenant(const struct tenant *t);

/* {"data": arr} — every collection of SPEC §4. arr is consumed. */
cJSON *json_data(cJSON *arr);

/*
 * Error body of SPEC §4: {"error": message, "code": pb_error_code(err)} plus the members of
 * `extra` (moved into the body; extra is consumed and may be NULL). Returns a malloc'd
 * unformatted string (caller frees), NULL on allocation failure.
 */
char *json_error_body(int err, const char *message, cJSON *extra);

/* A validation report being built: {"details": [{"field", "message"}...]}. */
struct json_details {
    cJSON *details;             /* array, owned until consumed by json_error_body */
    int count;
};
void json_details_init(struct json_details *d);
/* pb_report_fn-compatible: ctx is a struct json_details; field in snake_case is reported
 * in camelCase (pb_field_camel). */
void json_details_add(void *ctx, const char *field, const char *message);
/* Move into an object {"details": [...]} for json_error_body; d is emptied. */
cJSON *json_details_take(struct json_details *d);
void json_details_cleanup(struct json_details *d);

/*
 * Strict parse of one request body or WebSocket message — the only place either is parsed
 * (SPEC §4 "Input rules"). buf[0..len) must be exactly one JSON value with nothing after it
 * but JSON whitespace (space, tab, CR, LF), and every string — values and object keys — must
 * be valid UTF-8 (RFC 3629) without NUL: neither a raw 0 byte nor the escape \u0000 (cJSON
 * would cut the string there).
 *
 * Returns
 *   0                 *out is the tree (caller owns: cJSON_Delete);
 *   PB_EINVALID_JSON  *out is NULL. Either not JSON (or out of memory: cJSON does not tell
 *                     them apart), d untouched; or trailing data after a complete value: d
 *                     (when not NULL) gets {"field": "body", "message": "has data after ..."}
 *                     (SPEC §5 answers a malformed WebSocket frame validation_failed but
 *                     §4 trailing data invalid_json: d->count tells the two apart);
 *   PB_EVALIDATION    a string breaks the rule; *out is still the tree (caller owns it, so that
 *                     e.g. a WebSocket "ref" can be echoed) and each offending string, at most
 *                     JSON_STRICT_MAX_DETAILS, is added to d (when d is not NULL) with its JSON
 *                     path as the field: "orderNumber", "steps[0].operationName", "data.reason"
 *                     ("body" for a string that is the whole value). For an offending key the
 *                     path names the key, its invalid bytes shown as U+FFFD.
 */
#define JSON_STRICT_MAX_DETAILS 10
int json_parse_strict(const char *buf, size_t len, cJSON **out, struct json_details *d);

/* True when d holds an entry whose field is exactly `field`. */
bool json_details_names(const struct json_details *d, const char *field);

/*
 * The output check: every HTTP answer body and WebSocket frame the server builds passes here
 * once before it is sent (SPEC §4: nothing answered or broadcast is ever invalid UTF-8).
 * Returns 0 when txt[0..len) is valid UTF-8 without NUL. Otherwise logs an internal error
 * naming `what` (static text, e.g. "ws event order_moved") to stderr, aborts in sanitizer
 * builds (a bug to catch in tests), and returns PB_EINTERNAL: the caller must not send txt.
 */
int json_output_check(const char *txt, size_t len, const char *what);

/*
 * Body readers. Each looks up `name` in object `obj`:
 *   returns 0 and sets *out when present with the right type,
 *   returns 1 when absent (or JSON null where null_ok is true: then *is_null is set),
 *   returns PB_EVALIDATION when present with the wrong type (and reports it to d).
 * json_get_int accepts only integral numbers within int64 (doubles with a fraction fail).
 */
int json_get_int(const cJSON *obj, const char *name, int64_t *out, struct json_details *d);
int json_get_str(const cJSON *obj, const char *name, const char **out, struct json_details *d);
int json_get_bool(const cJSON *obj, const char *name, bool *out, struct json_details *d);
/* Integer id or null: *out = 0 for null (backlog). */
int json_get_id_or_null(const cJSON *obj, const char *name, int64_t *out,
                        struct json_details *d);

#endif
