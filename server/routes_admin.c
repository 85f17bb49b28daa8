/*
 * routes_admin — SPEC §4 "Tenant" and "Users (admin)".
 *
 *   GET    /api/tenant         any role   {id, slug, name, timezone, dailyTarget}
 *   PUT    /api/tenant         admin      partial: name, timezone, dailyTarget
 *   GET    /api/users          admin      paginated live users by id
 *   POST   /api/users          admin      201 the user (password hashed off the loop)
 *   GET    /api/users/:id      admin
 *   PUT    /api/users/:id      admin      partial; password optional (hashed off the loop)
 *   DELETE /api/users/:id      admin      204 soft delete; revokes tokens, closes sockets
 *
 * Sessions: deleting a user, deactivating them, changing their role or their password calls
 * session_revoke_user() after the commit: every token issued to them so far is refused and
 * their WebSockets close (1008). A role change must revoke too, because access tokens and open
 * WebSockets carry the role they were issued with. Their drag locks end ("disconnected").
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "store/users.h"

/* ================================================================ helpers */


/* Answer a store error of the user routes. conflict names the field of a PB_ECONFLICT. */
static void reply_store_error(struct http_req *r, int rc, const char *conflict)
{
    cJSON *x = NULL;
    const char *msg;
    switch (rc) {
    case PB_ENOT_FOUND:
        msg = "user not found";
        break;
    case PB_ECONFLICT:
        if (conflict != NULL && (strcmp(conflict, "role") == 0
                                 || strcmp(conflict, "isActive") == 0))
            msg = "the tenant's last active admin cannot be demoted, deactivated or deleted";
        else if (conflict != NULL && strcmp(conflict, "email") == 0)
            msg = "email is already in use";
        else if (conflict != NULL)
            msg = "username is already in use";
        else
            msg = "the tenant's last active admin cannot be demoted, deactivated or deleted";
        if (conflict != NULL) {
            x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "field", conflict);
        }
        break;
    case PB_EVALIDATION:
        msg = "the user is not valid";
        break;
    default:
        rc = PB_EINTERNAL;
        msg = "could not save the user";
        break;
    }
    http_reply_error(r, rc, msg, x);
}

/* After a committed change that takes rights away (the user's sessions were revoked in its
 * transaction: session_revoke_user_write): refuse the user's tokens, close their sockets (1008
 * with `reason`), end their drag locks. A failure is logged: the change itself is committed. */
static void revoke_user(struct app *app, int64_t tenant_id, int64_t user_id,
                        const struct session_sids *sids, const char *reason)
{
    if (session_revoke_user_apply(app, tenant_id, user_id, sids) != 0)
        pb_log(LOG_ERROR, "users: could not revoke the sessions of user %lld (tenant %lld)",
               (long long)user_id, (long long)tenant_id);
    ws_close_user(app, tenant_id, user_id, NULL, reason);
    op_release_user_locks(app, tenant_id, user_id, "disconnected");
}

/* ================================================================ tenant */

static int tenant_read(struct store *rs, const struct route_read *q, cJSON **out,
                       int *http_status, const char **message)
{
    struct tenant t;
    (void)http_status;
    int rc = store_tenant_get(rs, q->tenant_id, &t);
    if (rc != 0) {
        *message = "tenant not found";
        return rc == PB_ENOT_FOUND ? PB_ENOT_FOUND : PB_EINTERNAL;
    }
    *out = json_tenant(&t);
    tenant_cleanup(&t);
    return 0;
}

static void r_tenant_get(struct http_req *r, const cJSON *body)
{
    (void)body;
    route_read(r, &(struct route_read){ .tenant_id = r->claims.tenant_id }, tenant_read);
}

static void tenant_error(struct http_req *r, int rc)
{
    http_reply_error(r, rc == PB_ENOT_FOUND || rc == PB_EVALIDATION || rc == PB_ERATE_LIMITED
                            ? rc : PB_EINTERNAL,
                     rc == PB_ENOT_FOUND ? "tenant not found"
                     : rc == PB_EVALIDATION ? "the tenant settings are not valid"
                     : rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                     : "could not save the tenant settings", NULL);
}

/* A tenant settings change through the writer, gated on the tenant id (docs/writer.md "Work
 * centres, the calendar and tenant settings"). owner first: CLOSED_HTTP clears it. */
struct tenant_op {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id, user_id;
    cJSON *body;                        /* a copy of the request's body: p's strings */
    struct tenant_patch p;
    struct tenant_job *job;
};

static void tenant_op_free(struct tenant_op *o)
{
    store_tenant_job_free(o->job);
    cJSON_Delete(o->body);
    free(o);
}

static int tenant_op_prepare(void *ctx)
{
    struct tenant_op *o = ctx;
    return store_tenant_prepare(o->app->store, o->tenant_id, &o->p, o->user_id, &o->job);
}

static int tenant_op_run(struct db *db, void *ctx)
{
    struct tenant_op *o = ctx;
    (void)db;                           /* the sibling store's connection */
    int rc = store_tenant_write(o->app->wstore, o->job);
    if (rc == 0 && store_tenant_job_tz_changed(o->job))     /* the other nodes' calendars */
        rc = store_room_log_notify_calendar(o->app->wstore, o->tenant_id, o->app->node);
    return rc;
}

static void tenant_op_done(void *ctx, int status, uint64_t commit_seq)
{
    struct tenant_op *o = ctx;
    struct http_req *r = o->owner;
    struct tenant t;
    (void)commit_seq;
    if (status == 0) {
        store_commit_noted(o->app->store);      /* group commit syncs it before answers */
        store_tenant_apply(o->app->store, o->job, &t);
    }
    if (r != NULL) {
        r->job = NULL;
        if (status == 0)
            http_reply_json(r, 200, json_tenant(&t));
        else
            tenant_error(r, status);
    }
    if (status == 0) {
        tenant_cleanup(&t);
        schedule_changed(o->app, o->tenant_id, NULL, 0);        /* SPEC §9: the timezone */
    }
    tenant_op_free(o);
}

static void r_tenant_put(struct http_req *r, const cJSON *body)
{
    struct json_details d;
    struct tenant_op *o;

    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "body", "a JSON object is required");
        return;
    }
    if ((o = calloc(1, sizeof(*o))) == NULL || (o->body = cJSON_Duplicate(body, true)) == NULL) {
        free(o);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    json_details_init(&d);
    json_get_str(o->body, "name", &o->p.name, &d);
    json_get_str(o->body, "timezone", &o->p.timezone, &d);
    o->p.has_daily_target = json_get_int(o->body, "dailyTarget", &o->p.daily_target, &d) == 0;
    tenant_patch_check(&o->p, json_details_add, &d);
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "the tenant settings are not valid",
                         json_details_take(&d));
        tenant_op_free(o);
        return;
    }
    json_details_cleanup(&d);
    o->owner = r;
    o->app = r->app;
    o->tenant_id = r->claims.tenant_id;
    o->user_id = r->claims.user_id;
    int rc = writes_submit(r->app, o->tenant_id, tenant_op_prepare, tenant_op_run,
                           tenant_op_done, o);
    if (rc != 0) {
        tenant_error(r, rc);
        tenant_op_free(o);
        return;
    }
    r->job = o;                         /* tenant_op_done answers */
}

/* ================================================================ users: reads */

static int users_read(struct store *rs, const struct route_read *q, cJSON **out,
                      int *http_status, const char **message)
{
    struct user *users = NULL;
    size_t n = 0;
    int64_t total = 0;
    (void)http_status;
    if (store_user_list(rs, q->tenant_id, q->limit, q->offset, &users, &n, &total) != 0) {
        *message = "could not list the users";
        return PB_EINTERNAL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, json_user(&users[i]));
    store_user_list_free(users, n);
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "limit", (double)q->limit);
    cJSON_AddNumberToObject(o, "offset", (double)q->offset);
    *out = o;
    return 0;
}

static void r_users_list(struct http_req *r, const cJSON *body)
{
    bool bad = false;
    (void)body;

    int64_t limit = http_query_int(r, "limit", 50, 0, 500, &bad);
    int64_t offset = http_query_int(r, "offset", 0, 0, INT64_MAX, &bad);
    if (bad) {
        http_reply_invalid(r, "limit", "limit and offset must be whole numbers >= 0");
        return;
    }
    route_read(r, &(struct route_read){ .tenant_id = r->claims.tenant_id, .limit = limit,
                                        .offset = offset }, users_read);
}

static int user_read(struct store *rs, const struct route_read *q, cJSON **out,
                     int *http_status, const char **message)
{
    struct user u;
    (void)http_status;
    int rc = store_user_get(rs, q->tenant_id, q->id, &u);
    if (rc != 0) {
        *message = rc == PB_ENOT_FOUND ? "user not found" : "could not read the user";
        return rc == PB_ENOT_FOUND ? rc : PB_EINTERNAL;
    }
    *out = json_user(&u);
    user_cleanup(&u);
    return 0;
}

static void r_user_get(struct http_req *r, const cJSON *body)
{
    (void)body;
    route_read(r, &(struct route_read){ .tenant_id = r->claims.tenant_id, .id = r->ids[0] },
               user_read);
}

/* ================================================================ users: writes */

/*
 * A create or update of a user, carried through the off-loop password hash when the body has
 * a password (STYLE: argon2 never runs on the loop thread). The after-work callback finds the
 * request through owner, which CLOSED_HTTP clears (http.c); owner must stay the first field.
 * The strings of f point into body, a copy of the request body owned by the job.
 */
struct user_job {
    struct http_req *owner;             /* NULL once the client went away */
    struct app *app;
    uv_work_t work;
    int64_t tenant_id;
    int64_t actor_id;                   /* the admin making the change */
    int64_t user_id;                    /* 0 = create */
    bool deleting;                      /* DELETE /api/users/:id */
    cJSON *body;                        /* owned copy; f's strings point into it */
    struct user_fields f;
    char *password;                     /* owned; wiped before free */
    char hash[PB_HASH_MAX];
    int result;                         /* auth_password_hash() */
    /* set by user_job_write (overwritten when it runs again) */
    struct user u;                      /* the user as saved */
    const char *conflict;               /* the field of a PB_ECONFLICT */
    const char *revoke;                 /* why the user's sessions were revoked, or NULL */
    struct session_sids sids;           /* the ids of the sessions revoked */
};

static void user_job_free(struct user_job *j)
{
    if (j->password != NULL)
        memset(j->password, 0, strlen(j->password));
    free(j->password);
    memset(j->hash, 0, sizeof(j->hash));
    cJSON_Delete(j->body);
    user_cleanup(&j->u);
    session_sids_free(&j->sids);
    free(j);
}

/*
 * Read the user fields of body into f (strings borrowed from body) and *password; report
 * wrong types and broken rules to d. Returns the number of problems.
 */
static int parse_user_body(const cJSON *body, bool create, struct user_fields *f,
                           const char **password, struct json_details *d)
{
    const char *role = NULL;
    bool active;

    user_fields_init(f);
    *password = NULL;
    json_get_str(body, "username", &f->username, d);
    json_get_str(body, "email", &f->email, d);
    json_get_str(body, "firstName", &f->first_name, d);
    json_get_str(body, "lastName", &f->last_name, d);
    json_get_str(body, "password", password, d);
    if (json_get_str(body, "role", &role, d) == 0 && (f->role = role_parse(role)) < 0) {
        f->role = -1;
        json_details_add(d, "role", "must be admin, scheduler or viewer");
    }
    if (json_get_bool(body, "isActive", &active, d) == 0)
        f->is_active = active ? 1 : 0;
    user_fields_check(f, *password, create, json_details_add, d);
    return d->count;
}

/* Writer thread (writes_sql): the store change of j on the sibling store ws, and in the same
 * transaction the revocation of the user's sessions when the change takes rights away. */
static int user_job_write(struct store *ws, void *ctx)
{
    struct user_job *j = ctx;
    unsigned changed = 0;
    int rc;

    user_cleanup(&j->u);
    memset(&j->u, 0, sizeof(j->u));
    j->conflict = NULL;
    j->revoke = NULL;
    if (j->password != NULL)
        j->f.password_hash = j->hash;
    if (j->deleting) {
        rc = store_user_delete(ws, j->tenant_id, j->user_id, j->actor_id);
        j->revoke = "user deleted";
    } else if (j->user_id == 0) {
        rc = store_user_add(ws, j->tenant_id, &j->f, j->actor_id, &j->u, &j->conflict);
    } else {
        rc = store_user_update(ws, j->tenant_id, j->user_id, &j->f, j->actor_id, &j->u,
                               &changed, &j->conflict);
        if ((changed & USER_CHANGED_ACTIVE) && !j->u.is_active)
            j->revoke = "user deactivated";
        else if (changed & USER_CHANGED_ROLE)
            j->revoke = "role changed";
        else if (changed & USER_CHANGED_PASSWORD)
            j->revoke = "password changed";
    }
    if (rc == 0 && j->revoke != NULL)
        rc = session_revoke_user_write(ws, j->tenant_id, j->deleting ? j->user_id : j->u.id,
                                       &j->sids);
    return rc;
}

/* Loop thread, after the commit (or the failure) of j: revoke in memory, answer the request
 * when it is still there. The change is applied even when the client went away: it was valid
 * and accepted. */
static void user_job_done(void *ctx, int status)
{
    struct user_job *j = ctx;
    struct http_req *r = j->owner;

    if (status == 0 && j->revoke != NULL)
        revoke_user(j->app, j->tenant_id, j->deleting ? j->user_id : j->u.id, &j->sids,
                    j->revoke);
    if (status == 0 && j->user_id != 0)
        user_names_forget(j->app, j->user_id);  /* renamed (or gone): read it again */
    if (r != NULL) {
        r->job = NULL;
        if (status != 0)
            reply_store_error(r, status, j->conflict);
        else if (j->deleting)
            http_reply(r, 204, "application/json; charset=utf-8", NULL, 0);
        else
            http_reply_json(r, j->user_id == 0 ? 201 : 200, json_user(&j->u));
    }
    user_job_free(j);
}

/* Hand j to the writer; r (may be NULL: the client went away) waits for user_job_done. On
 * failure r is answered and j freed. */
static void user_job_submit(struct http_req *r, struct user_job *j)
{
    int rc = writes_sql(j->app, 0, user_job_write, user_job_done, j);
    if (rc == 0) {
        if (r != NULL)
            r->job = j;
        return;
    }
    if (r != NULL) {
        r->job = NULL;
        http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                         rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                         : "could not save the user", NULL);
    }
    user_job_free(j);
}

static void hash_work(uv_work_t *w)
{
    struct user_job *j = w->data;
    j->result = auth_password_hash(j->password, j->hash);
}

static void hash_done(uv_work_t *w, int status)
{
    struct user_job *j = w->data;
    struct http_req *r = j->owner;

    if (status != 0 || j->result != 0) {
        if (r != NULL) {
            r->job = NULL;
            http_reply_error(r, PB_EINTERNAL, "could not hash the password", NULL);
        }
        user_job_free(j);
        return;
    }
    user_job_submit(r, j);              /* r->job stays j */
}

/* Shared by POST /api/users (user_id 0) and PUT /api/users/:id. */
static void user_write(struct http_req *r, const cJSON *body, int64_t user_id)
{
    struct json_details d;
    const char *password = NULL;
    struct user_job *j;

    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "body", "a JSON object is required");
        return;
    }
    if (user_id != 0) {                 /* 404 before 400 for the object in the URL */
        struct user cur;
        int rc = store_user_get(r->app->store, r->claims.tenant_id, user_id, &cur);
        if (rc != 0) {
            reply_store_error(r, rc, NULL);
            return;
        }
        user_cleanup(&cur);
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL || (j->body = cJSON_Duplicate(body, true)) == NULL) {
        free(j);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    json_details_init(&d);
    if (parse_user_body(j->body, user_id == 0, &j->f, &password, &d) > 0) {
        user_job_free(j);
        http_reply_error(r, PB_EVALIDATION, "the user is not valid", json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);
    j->app = r->app;
    j->tenant_id = r->claims.tenant_id;
    j->actor_id = r->claims.user_id;
    j->user_id = user_id;
    if (password == NULL) {             /* nothing slow to do: write now */
        j->owner = r;
        user_job_submit(r, j);
        return;
    }
    if ((j->password = strdup(password)) == NULL) {
        user_job_free(j);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    j->owner = r;
    j->work.data = j;
    r->job = j;                         /* http.c clears j->owner on close */
    if (uv_queue_work(r->app->loop, &j->work, hash_work, hash_done) != 0) {
        r->job = NULL;
        user_job_free(j);
        http_reply_error(r, PB_EINTERNAL, "could not start hashing the password", NULL);
    }
}

static void r_user_create(struct http_req *r, const cJSON *body)
{
    user_write(r, body, 0);
}

static void r_user_put(struct http_req *r, const cJSON *body)
{
    user_write(r, body, r->ids[0]);
}

static void r_user_delete(struct http_req *r, const cJSON *body)
{
    struct user_job *j = calloc(1, sizeof(*j));
    (void)body;
    if (j == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    *j = (struct user_job){ .owner = r, .app = r->app, .tenant_id = r->claims.tenant_id,
                            .actor_id = r->claims.user_id, .user_id = r->ids[0],
                            .deleting = true };
    user_job_submit(r, j);
}

/* ================================================================ the route table */

const struct route pb_routes_admin[] = {
    { M_GET, "/api/tenant", R_ANY, 0, r_tenant_get, NULL },
    { M_PUT, "/api/tenant", R_ADMIN, ROUTE_WRITER, r_tenant_put, NULL },
    { M_GET, "/api/users", R_ADMIN, 0, r_users_list, NULL },
    { M_POST, "/api/users", R_ADMIN, ROUTE_WRITER, r_user_create, NULL },
    { M_GET, "/api/users/:id", R_ADMIN, 0, r_user_get, NULL },
    { M_PUT, "/api/users/:id", R_ADMIN, ROUTE_WRITER, r_user_put, NULL },
    { M_DELETE, "/api/users/:id", R_ADMIN, ROUTE_WRITER, r_user_delete, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
