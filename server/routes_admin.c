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

/* After a committed change that takes rights away: refuse the user's tokens, close their
 * sockets (1008 with `reason`), end their drag locks. A failure is logged: the change itself
 * is committed. */
static void revoke_user(struct app *app, int64_t tenant_id, int64_t user_id, const char *reason)
{
    if (session_revoke_user(app, tenant_id, user_id) != 0)
        pb_log(LOG_ERROR, "users: could not revoke the sessions of user %lld (tenant %lld)",
               (long long)user_id, (long long)tenant_id);
    ws_close_user(app, tenant_id, user_id, NULL, reason);
    op_release_user_locks(app, tenant_id, user_id, "disconnected");
}

/* ================================================================ tenant */

static void r_tenant_get(struct http_req *r, const cJSON *body)
{
    struct tenant t;
    (void)body;
    int rc = store_tenant_get(r->app->store, r->claims.tenant_id, &t);
    if (rc != 0) {
        http_reply_error(r, rc == PB_ENOT_FOUND ? PB_ENOT_FOUND : PB_EINTERNAL,
                         "tenant not found", NULL);
        return;
    }
    http_reply_json(r, 200, json_tenant(&t));
    schedule_changed(r->app, r->claims.tenant_id, NULL, 0);    /* SPEC §9: the timezone */
    tenant_cleanup(&t);
}

static void r_tenant_put(struct http_req *r, const cJSON *body)
{
    struct tenant_patch p = { 0 };
    struct json_details d;
    struct tenant t;

    if (body == NULL || !cJSON_IsObject(body)) {
        http_reply_invalid(r, "body", "a JSON object is required");
        return;
    }
    json_details_init(&d);
    json_get_str(body, "name", &p.name, &d);
    json_get_str(body, "timezone", &p.timezone, &d);
    p.has_daily_target = json_get_int(body, "dailyTarget", &p.daily_target, &d) == 0;
    tenant_patch_check(&p, json_details_add, &d);
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "the tenant settings are not valid",
                         json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);
    int rc = store_tenant_update(r->app->store, r->claims.tenant_id, &p, r->claims.user_id, &t);
    if (rc != 0) {
        http_reply_error(r, rc == PB_ENOT_FOUND || rc == PB_EVALIDATION ? rc : PB_EINTERNAL,
                         rc == PB_ENOT_FOUND ? "tenant not found"
                         : rc == PB_EVALIDATION ? "the tenant settings are not valid"
                         : "could not save the tenant settings", NULL);
        return;
    }
    http_reply_json(r, 200, json_tenant(&t));
    tenant_cleanup(&t);
}

/* ================================================================ users: reads */

static void r_users_list(struct http_req *r, const cJSON *body)
{
    bool bad = false;
    struct user *users = NULL;
    size_t n = 0;
    int64_t total = 0;
    (void)body;

    int64_t limit = http_query_int(r, "limit", 50, 0, 500, &bad);
    int64_t offset = http_query_int(r, "offset", 0, 0, INT64_MAX, &bad);
    if (bad) {
        http_reply_invalid(r, "limit", "limit and offset must be whole numbers >= 0");
        return;
    }
    if (store_user_list(r->app->store, r->claims.tenant_id, limit, offset, &users, &n,
                        &total) != 0) {
        http_reply_error(r, PB_EINTERNAL, "could not list the users", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, json_user(&users[i]));
    store_user_list_free(users, n);
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "limit", (double)limit);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    http_reply_json(r, 200, o);
}

static void r_user_get(struct http_req *r, const cJSON *body)
{
    struct user u;
    (void)body;
    int rc = store_user_get(r->app->store, r->claims.tenant_id, r->ids[0], &u);
    if (rc != 0) {
        reply_store_error(r, rc, NULL);
        return;
    }
    http_reply_json(r, 200, json_user(&u));
    user_cleanup(&u);
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
    cJSON *body;                        /* owned copy; f's strings point into it */
    struct user_fields f;
    char *password;                     /* owned; wiped before free */
    char hash[PB_HASH_MAX];
    int result;                         /* auth_password_hash() */
};

static void user_job_free(struct user_job *j)
{
    if (j->password != NULL)
        memset(j->password, 0, strlen(j->password));
    free(j->password);
    memset(j->hash, 0, sizeof(j->hash));
    cJSON_Delete(j->body);
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

/* Loop thread: run the store change of j (hash in j->hash when a password was given) and
 * answer the request when it is still there. The change is applied even when the client
 * went away: it was valid and accepted. */
static void user_job_apply(struct user_job *j)
{
    struct http_req *r = j->owner;
    const char *conflict = NULL;
    unsigned changed = 0;
    struct user u;
    int rc;

    if (j->password != NULL)
        j->f.password_hash = j->hash;
    if (j->user_id == 0)
        rc = store_user_add(j->app->store, j->tenant_id, &j->f, j->actor_id, &u, &conflict);
    else
        rc = store_user_update(j->app->store, j->tenant_id, j->user_id, &j->f, j->actor_id, &u,
                               &changed, &conflict);
    if (rc != 0) {
        if (r != NULL)
            reply_store_error(r, rc, conflict);
        return;
    }
    if ((changed & (USER_CHANGED_ROLE | USER_CHANGED_PASSWORD))
        || ((changed & USER_CHANGED_ACTIVE) && !u.is_active))
        revoke_user(j->app, j->tenant_id, u.id,
                    (changed & USER_CHANGED_ACTIVE) && !u.is_active ? "user deactivated"
                    : (changed & USER_CHANGED_ROLE) ? "role changed" : "password changed");
    if (r != NULL)
        http_reply_json(r, j->user_id == 0 ? 201 : 200, json_user(&u));
    user_cleanup(&u);
}

static void hash_work(uv_work_t *w)
{
    struct user_job *j = w->data;
    j->result = auth_password_hash(j->password, j->hash);
}

/* The user row write, as an exclusive (writes.c); r->job is j until here. */
static void user_job_write(void *ctx)
{
    struct user_job *j = ctx;
    if (j->owner != NULL)
        j->owner->job = NULL;
    user_job_apply(j);
    user_job_free(j);
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
    } else if (writes_exclusive(j->app, user_job_write, j) == 0) {
        return;                         /* a loop-side write: after the writer's jobs */
    } else if (r != NULL) {
        r->job = NULL;
        http_reply_error(r, PB_EINTERNAL, "the server is shutting down", NULL);
    }
    user_job_free(j);
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
    if (password == NULL) {             /* nothing slow to do: apply now */
        j->owner = r;
        user_job_apply(j);
        user_job_free(j);
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
    (void)body;
    int rc = store_user_delete(r->app->store, r->claims.tenant_id, r->ids[0], r->claims.user_id);
    if (rc != 0) {
        reply_store_error(r, rc, NULL);
        return;
    }
    revoke_user(r->app, r->claims.tenant_id, r->ids[0], "user deleted");
    http_reply(r, 204, "application/json; charset=utf-8", NULL, 0);
}

/* ================================================================ the route table */

const struct route pb_routes_admin[] = {
    { M_GET, "/api/tenant", R_ANY, 0, r_tenant_get, NULL },
    { M_PUT, "/api/tenant", R_ADMIN, 0, r_tenant_put, NULL },
    { M_GET, "/api/users", R_ADMIN, 0, r_users_list, NULL },
    { M_POST, "/api/users", R_ADMIN, 0, r_user_create, NULL },
    { M_GET, "/api/users/:id", R_ADMIN, 0, r_user_get, NULL },
    { M_PUT, "/api/users/:id", R_ADMIN, 0, r_user_put, NULL },
    { M_DELETE, "/api/users/:id", R_ADMIN, 0, r_user_delete, NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
