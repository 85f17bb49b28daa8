/*
 * store/users — tenant settings and user administration (SPEC §4 Tenant, §4 Users (admin)).
 *
 * Write-through like the rest of store/: validate first, then BEGIN IMMEDIATE, the change and
 * exactly one audit row (tenant_updated, user_created, user_updated, user_deleted) in the same
 * transaction, COMMIT. Users and tenants are not cached, so after a failed commit there is
 * nothing else to undo: the database is rolled back and the caller's output is untouched.
 * Audit rows never carry a password or a password hash.
 *
 * Errors: 0 or a negative PB_E* code of core/errors.h:
 *   PB_ENOT_FOUND   no such live user (or tenant) in this tenant
 *   PB_EVALIDATION  a field breaks a rule of SPEC §2 (routes check first, with details)
 *   PB_ECONFLICT    username or email taken among live users of the tenant, or the change would
 *                   leave the tenant without an active admin
 *   PB_EINTERNAL    SQLite or allocation failed; nothing was changed
 */
#ifndef PB_STORE_USERS_H
#define PB_STORE_USERS_H

#include "store/store.h"

#define PB_TENANT_NAME_MAX   100        /* code points */
#define PB_PERSON_NAME_MAX   100        /* firstName, lastName: code points */

/* ---------------------------------------------------------------- tenant */

/* A partial update of the tenant (PUT /api/tenant). Strings borrowed. */
struct tenant_patch {
    const char *name;                   /* NULL = unchanged; 1..100 code points */
    const char *timezone;               /* NULL = unchanged; an IANA zone (tenant_timezone_valid) */
    bool has_daily_target;
    int64_t daily_target;               /* >= 0 */
};

/* True when name is an IANA zone the server can use: tz_valid() and the file is a compiled
 * zone ("TZif" magic), so tzdata's zone.tab, leapseconds etc. are refused. */
bool tenant_timezone_valid(const char *name);

/* Report each broken rule of p to report(ctx, field, message) with camelCase-able snake_case
 * names ("name", "timezone", "daily_target"). Returns the number of broken rules. */
int tenant_patch_check(const struct tenant_patch *p, pb_report_fn report, void *ctx);

/*
 * Apply p to tenant_id (actor_id: the admin, recorded in the audit row). On success *out
 * (caller storage, tenant_cleanup) holds the whole tenant as committed. A patch that changes
 * nothing writes nothing (no audit row) and still fills *out. The audit row "tenant_updated"
 * has event_data {"changes": {"name"?, "timezone"?, "dailyTarget"?}} with the new values.
 * PB_EVALIDATION (p breaks a rule), PB_ENOT_FOUND, PB_EINTERNAL.
 */
int store_tenant_update(struct store *s, int64_t tenant_id, const struct tenant_patch *p,
                        int64_t actor_id, struct tenant *out);

/*
 * store_tenant_update in the writer's three phases (docs/writer.md "Work centres, the calendar
 * and tenant settings"; issue 9 item 1), same row, audit row and errors. The tenant row is not
 * cached; what the server keeps of it is the loaded board's calendar, which is in the tenant's
 * timezone (SPEC §9).
 * store_tenant_prepare (loop thread, s the loop's store, the tenant's earlier writes applied):
 *   PB_EVALIDATION (p breaks a rule), PB_EINTERNAL; copies p into a new job *out (NULL on
 *   error) and, when p changes the zone of a loaded board, builds its calendar in the new zone.
 * store_tenant_write (the thread owning connection s, a sibling store, inside a transaction the
 *   caller opened, never BEGIN/COMMIT itself; may run again: results overwritten): reads the
 *   row, writes what differs and the "tenant_updated" audit row (nothing when nothing differs),
 *   reads the row back. PB_ENOT_FOUND, PB_EINTERNAL; the caller rolls back.
 * store_tenant_apply (loop thread, s the loop's store, after COMMIT, cannot fail): a new zone
 *   goes to the tenant's loaded board (its calendar replaced, projection stale); *out (caller
 *   storage, tenant_cleanup) gets the tenant as committed.
 * store_tenant_job_tz_changed (after store_tenant_write succeeded): true when the write gave
 *   the tenant a new timezone (the caller tells the other nodes: store/room_log.h
 *   store_room_log_notify_calendar).
 * store_tenant_job_free: in every case (NULL is fine).
 */
struct tenant_job;
int store_tenant_prepare(struct store *s, int64_t tenant_id, const struct tenant_patch *p,
                         int64_t actor_id, struct tenant_job **out);
int store_tenant_write(struct store *s, struct tenant_job *j);
void store_tenant_apply(struct store *s, struct tenant_job *j, struct tenant *out);
bool store_tenant_job_tz_changed(const struct tenant_job *j);
void store_tenant_job_free(struct tenant_job *j);

/* ---------------------------------------------------------------- users */

/* Fields of a user being created or changed. Strings borrowed. For an update NULL / -1 means
 * "unchanged"; for a create username, email, password_hash are required, role -1 means
 * viewer, is_active -1 means true, names NULL mean "". */
struct user_fields {
    const char *username;               /* [A-Za-z0-9._-]{3,50} */
    const char *email;                  /* <= 100 code points, contains '@' */
    const char *password_hash;          /* argon2id encoded (hashing is the caller's job) */
    const char *first_name;             /* <= 100 code points */
    const char *last_name;
    int role;                           /* enum role or -1 */
    int is_active;                      /* 1, 0 or -1 */
};

void user_fields_init(struct user_fields *f);

/* SPEC §2 rules on f (and on the plain `password` when not NULL: >= 12 code points). With
 * `create` the required fields must be present. Reports like tenant_patch_check, with the
 * field names username, email, password, first_name, last_name, role. Returns the count. */
int user_fields_check(const struct user_fields *f, const char *password, bool create,
                      pb_report_fn report, void *ctx);

/* What an update changed (store_user_update *changed). */
enum {
    USER_CHANGED_USERNAME = 1u << 0,
    USER_CHANGED_EMAIL = 1u << 1,
    USER_CHANGED_PASSWORD = 1u << 2,
    USER_CHANGED_ROLE = 1u << 3,
    USER_CHANGED_ACTIVE = 1u << 4,
    USER_CHANGED_NAME = 1u << 5,        /* first or last name */
};

/*
 * Create a user from f (checked again here) with one "user_created" audit row
 * (event_data {"userId", "username", "role", "isActive"}). *out (caller storage, user_cleanup)
 * gets the user as committed. *conflict (may be NULL) is set to "username" or "email" on
 * PB_ECONFLICT. PB_EVALIDATION, PB_ECONFLICT, PB_EINTERNAL.
 */
int store_user_add(struct store *s, int64_t tenant_id, const struct user_fields *f,
                   int64_t actor_id, struct user *out, const char **conflict);

/*
 * Partial update of live user user_id. Inside the transaction: the user must exist
 * (PB_ENOT_FOUND), username/email must be free among the tenant's other live users
 * (PB_ECONFLICT, *conflict = "username" / "email"), and an active admin may lose the admin
 * role or be deactivated only while another active admin remains (PB_ECONFLICT,
 * *conflict = "role" or "isActive"). A field set to its current value is not a change;
 * a password_hash always is. *changed (may be NULL) gets USER_CHANGED_* bits; with no change
 * nothing is written. Otherwise updated_at is set and one "user_updated" audit row written
 * (event_data {"userId", "changes": [field names], "roleFrom"?, "roleTo"?, "isActive"?}).
 * *out gets the user as committed (also when nothing changed).
 */
int store_user_update(struct store *s, int64_t tenant_id, int64_t user_id,
                      const struct user_fields *f, int64_t actor_id, struct user *out,
                      unsigned *changed, const char **conflict);

/*
 * Soft delete (deleted_at) of live user user_id with one "user_deleted" audit row
 * (event_data {"userId", "username"}); the username and email are free again afterwards.
 * PB_ENOT_FOUND, PB_ECONFLICT (the tenant's last active admin), PB_EINTERNAL.
 * Revoking the user's sessions is the caller's job (server session_revoke_user).
 */
int store_user_delete(struct store *s, int64_t tenant_id, int64_t user_id, int64_t actor_id);

/*
 * Live users of the tenant by id, rows offset .. offset+limit-1. *out is a malloc'd array of
 * *n users (free with store_user_list_free; NULL when *n is 0), *total the number of live
 * users. limit >= 0, offset >= 0. PB_EINTERNAL (nothing allocated).
 */
int store_user_list(struct store *s, int64_t tenant_id, int64_t limit, int64_t offset,
                    struct user **out, size_t *n, int64_t *total);
void store_user_list_free(struct user *users, size_t n);

/* Number of live, active admins of the tenant into *n. PB_EINTERNAL. */
int store_user_active_admins(struct store *s, int64_t tenant_id, int64_t *n);

#endif
