/*
 * audit — reading the audit log (SPEC §4 "GET /api/audit-log"). Rows are written by the
 * mutations themselves (store__audit, in their transaction); this module only reads them.
 * Errors: 0 or negative PB_E* (core/errors.h).
 */
#ifndef PB_STORE_AUDIT_H
#define PB_STORE_AUDIT_H

#include "store/db.h"
#include <stdbool.h>

#include "store/store.h"

#define PB_AUDIT_EVENT_TYPE_MAX 64

/* One audit row. Strings owned by the entry (audit_entry_cleanup frees them). */
struct audit_entry {
    int64_t id;
    char *event_type;
    int64_t order_id;                   /* 0 = null */
    int64_t from_work_centre_id;        /* 0 = null (backlog or not a move) */
    int64_t to_work_centre_id;          /* 0 = null */
    int64_t user_id;                    /* 0 = null */
    char *username;                     /* the user's username (deleted users too), NULL = null
                                           (no user: scanner events, system rows) */
    char *event_data;                   /* JSON text as stored, NULL = null */
    int64_t queue_depth_from;           /* -1 = null */
    int64_t queue_depth_to;             /* -1 = null */
    char timestamp[PB_TIMESTAMP_LEN];
};
void audit_entry_cleanup(struct audit_entry *e);

/* Filters of a listing; 0 / NULL = no filter. */
struct audit_query {
    int64_t order_id;
    const char *event_type;
    const char *since;                  /* UTC "YYYY-MM-DDTHH:MM:SSZ" (see audit_since_parse) */
    int64_t limit;                      /* rows to return (caller clamps) */
    int64_t offset;
};

/*
 * The tenant's audit rows matching q, newest first (by id), q->offset rows skipped, at most
 * q->limit. *out is a malloc'd array of *n entries (audit_entry_cleanup each, then free);
 * *total = the number of matching rows regardless of limit/offset. Each entry carries the
 * username of its user_id (issue 10 item 2: the order dialog's History says who, and only an
 * admin may list users). PB_EINTERNAL.
 */
int store_audit_list(struct store *s, int64_t tenant_id, const struct audit_query *q,
                     struct audit_entry **out, size_t *n, int64_t *total);

/*
 * The SQL store_audit_list runs for q (count: the COUNT(*), else the page with ?5 LIMIT and
 * ?6 OFFSET), with a WHERE of the filters q has, so that SQLite picks the index that fits
 * (issue 9 item 3); into out[size] (AUDIT_SQL_MAX is enough). 0 or PB_EINTERNAL (too small).
 * audit_list_bind binds q's values to a statement prepared from it. Public so that a test
 * can EXPLAIN QUERY PLAN exactly what runs. postgres: PostgreSQL's spelling (no unary + to
 * steer SQLite's planner).
 */
#define AUDIT_SQL_MAX 512
int audit_list_sql(const struct audit_query *q, bool count, bool postgres, char *out,
                   size_t size);
void audit_list_bind(struct db_stmt *st, int64_t tenant_id, const struct audit_query *q);

/*
 * Parse a `since` value: an ISO-8601 timestamp "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed by
 * "Z", "+HH:MM"/"-HH:MM" or nothing (= UTC), or a date "YYYY-MM-DD" (= the start of that day
 * in zone tz, the tenant's; NULL = UTC). Writes the UTC instant as "YYYY-MM-DDTHH:MM:SSZ"
 * (fractions truncated) into out. 0, or PB_EVALIDATION for anything else.
 */
int audit_since_parse(const char *in, const char *tz, char out[PB_TIMESTAMP_LEN]);

#endif
