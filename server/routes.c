/*
 * routes — the REST routes of SPEC §4 and the table that maps them to roles (SPEC §3).
 * On PostgreSQL a create's order_created is a row of the create's own transaction (SPEC §12,
 * server/job_events.c: built by the run, which alone knows the new id); on SQLite it is
 * published after the commit (room_publish).
 */
#include "server/server_int.h"

#include "server/ratelimit.h"
#include "store/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ================================================================ helpers */

void http_op_user(struct http_req *r, struct op_user *u, char *username, size_t len)
{
    u->tenant_id = r->claims.tenant_id;
    u->user_id = r->claims.user_id;
    u->role = r->claims.role;
    user_name_of(r->app, u->tenant_id, u->user_id, username, len);
    u->username = username;
}

struct board *route_board(struct http_req *r)
{
    struct board *b = NULL;
    int rc = store_board(r->app->store, r->claims.tenant_id, &b);
    if (rc != 0) {
        http_reply_error(r, rc == PB_ENOT_FOUND || rc == PB_EUNAVAILABLE ? rc : PB_EINTERNAL,
                         "board unavailable", NULL);
        return NULL;
    }
    return b;
}

struct board *route_board_scheduled(struct http_req *r)
{
    struct board *b = route_board(r);
    /* out of memory leaves every value set (only the change list, unused here, short) */
    if (b != NULL)
        (void)schedule_refresh(r->app, r->claims.tenant_id, b);    /* publishes what changed */
    return b;
}


/* ================================================================ auth */

/* Issue an access token + refresh token pair for user u in session sid (new session when
 * old_refresh_hash is NULL, else rotation already done by the caller) and answer with the
 * SPEC §4 login body. */
static void reply_tokens(struct http_req *r, const struct user *u, const struct tenant *t,
                         const char *sid, const char *refresh)
{
    struct auth_claims cl = {
        .user_id = u->id, .tenant_id = u->tenant_id, .role = u->role,
        .iat = pb_now_ms() / 1000,
    };
    char rnd[16], *token = NULL;
    cl.exp = cl.iat + r->app->cfg.access_ttl;
    if (auth_random_hex(rnd, 7) != 0) {
        http_reply_error(r, PB_EINTERNAL, "could not issue a token", NULL);
        return;
    }
    snprintf(cl.jti, sizeof(cl.jti), "%s.%s", sid, rnd);
    if (auth_token_issue(r->app->jwt_key, r->app->jwt_key_len, &cl, &token) != 0) {
        http_reply_error(r, PB_EINTERNAL, "could not issue a token", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "accessToken", token);
    cJSON_AddStringToObject(o, "refreshToken", refresh);
    cJSON_AddStringToObject(o, "tokenType", "Bearer");
    cJSON_AddNumberToObject(o, "expiresIn", (double)r->app->cfg.access_ttl);
    cJSON *uj = json_user(u);
    if (t != NULL)
        cJSON_AddItemToObject(uj, "tenant", json_tenant_brief(t));
    cJSON_AddItemToObject(o, "user", uj);
    http_reply_json(r, 200, o);
    free(token);
}

/* Off-loop password check (STYLE: slow work off the loop thread; the after-work callback finds
 * the request through owner, which CLOSED_HTTP clears). owner must stay the first field. */
struct login_job {
    struct http_req *owner;
    struct app *app;
    uv_work_t work;
    struct user user;                   /* found user, or id 0 */
    struct tenant tenant;
    char *password;
    char *want_tenant, *want_user;      /* the login's tenant slug and username (copies) */
    char key_ip[80];                    /* rate-limit keys (SPEC §4) */
    char key_user[200];
    int result;                         /* auth_password_verify() */
    char sid[PB_SID_LEN];               /* the new session (after a right password) */
    char refresh[65], refresh_hash[65];
    char expires[PB_TIMESTAMP_LEN];
};

/* A fixed argon2id hash to verify against when the user does not exist, so that a wrong
 * username costs as much time as a wrong password (no user enumeration by timing). Made once,
 * on a worker thread (argon2 never runs on the loop). */
static char dummy_hash[PB_HASH_MAX];
static uv_once_t dummy_once = UV_ONCE_INIT;

static void make_dummy_hash(void)
{
    auth_password_hash("planboard-dummy-password", dummy_hash);
}

static void login_work(uv_work_t *w)
{
    struct login_job *j = w->data;
    uv_once(&dummy_once, make_dummy_hash);
    const char *hash = j->user.password_hash != NULL ? j->user.password_hash : dummy_hash;
    j->result = auth_password_verify(hash, j->password);
    if (j->user.id == 0)
        j->result = PB_EUNAUTHORIZED;
}

/* The session row of a successful login, written by the writer (writes_sql); the tokens are
 * made on the loop before. */
static int login_write(struct store *ws, void *ctx)
{
    struct login_job *j = ctx;
    return store_session_create(ws, j->user.tenant_id, j->user.id, j->refresh_hash, j->sid,
                                j->expires, NULL);
}

/* The two rate-limit keys of a login job, as ratelimit_begin/end take them. */
static void login_keys(const struct login_job *j, const char *keys[2])
{
    keys[0] = j->key_ip;
    keys[1] = j->key_user;
}

static void login_job_free(struct login_job *j);
static void login_written(void *ctx, int status);

static void login_done(uv_work_t *w, int status)
{
    struct login_job *j = w->data;
    struct http_req *r = j->owner;
    bool ok = status == 0 && j->result == 0 && j->user.is_active;
    const char *keys[2];

    /* Counted since r_login began it; a failure stays counted even if the client went away,
     * a success gives its slot back (SPEC §4 counts failed attempts; see ratelimit.h). A
     * check that never ran (status != 0) is no attempt. */
    login_keys(j, keys);
    ratelimit_end(j->app->login_limit, keys, 2, !ok && status == 0, pb_now_ms());
    if (j->password != NULL)
        memset(j->password, 0, strlen(j->password));
    if (r != NULL && ok) {
        /* the session row goes through the writer (writes_sql); r->job stays j until then */
        int rc = PB_EINTERNAL;
        if (auth_random_hex(j->sid, 8) == 0 && auth_random_hex(j->refresh, 32) == 0) {
            auth_sha256_hex(j->refresh, j->refresh_hash);
            json_format_ms(pb_now_ms() + j->app->cfg.refresh_ttl * 1000, j->expires);
            if ((rc = writes_sql(j->app, 0, login_write, login_written, j)) == 0)
                return;
        }
        r->job = NULL;
        http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                         rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                                                : "could not start a session", NULL);
    } else if (r != NULL) {
        r->job = NULL;
        http_reply_error(r, PB_EUNAUTHORIZED, "wrong tenant, username or password", NULL);
    }
    login_job_free(j);
}

static void login_job_free(struct login_job *j)
{
    user_cleanup(&j->user);
    tenant_cleanup(&j->tenant);
    free(j->password);
    free(j->want_tenant);
    free(j->want_user);
    free(j);
}

static void login_written(void *ctx, int status)
{
    struct login_job *j = ctx;
    struct http_req *r = j->owner;
    if (r != NULL) {
        r->job = NULL;
        if (status != 0)
            http_reply_error(r, PB_EINTERNAL, "could not start a session", NULL);
        else
            reply_tokens(r, &j->user, &j->tenant, j->sid, j->refresh);
    }
    memset(j->refresh, 0, sizeof(j->refresh));
    login_job_free(j);
}

/* Reader (or the loop on SQLite): the tenant and its user, or a zeroed user (the dummy hash
 * is checked then: no user enumeration by timing). */
static int login_read(struct store *rs, void *ctx)
{
    struct login_job *j = ctx;
    user_cleanup(&j->user);             /* a second run overwrites the first */
    tenant_cleanup(&j->tenant);
    memset(&j->user, 0, sizeof(j->user));
    memset(&j->tenant, 0, sizeof(j->tenant));
    if (store_tenant_by_slug(rs, j->want_tenant, &j->tenant) == 0
        && store_user_by_username(rs, j->tenant.id, j->want_user, &j->user) != 0)
        memset(&j->user, 0, sizeof(j->user));
    return 0;
}

static void login_read_done(void *ctx, int status)
{
    struct login_job *j = ctx;
    struct http_req *r = j->owner;
    if (status != 0) {                  /* the database failed: no user, the check fails */
        user_cleanup(&j->user);
        memset(&j->user, 0, sizeof(j->user));
    }
    if (uv_queue_work(j->app->loop, &j->work, login_work, login_done) != 0) {
        if (r != NULL)
            r->job = NULL;
        j->owner = NULL;
        login_done(&j->work, -1);
        if (r != NULL)
            http_reply_error(r, PB_EINTERNAL, "could not start the login", NULL);
    }
}

static void r_login(struct http_req *r, const cJSON *body)
{
    const char *tenant = NULL, *username = NULL, *password = NULL;
    struct json_details d;
    struct login_job *j;
    char ip[64] = "";
    int64_t retry = 0, now = pb_now_ms();

    json_details_init(&d);
    if (body == NULL || json_get_str(body, "tenant", &tenant, &d) != 0)
        json_details_add(&d, "tenant", "is required");
    if (body == NULL || json_get_str(body, "username", &username, &d) != 0)
        json_details_add(&d, "username", "is required");
    if (body == NULL || json_get_str(body, "password", &password, &d) != 0)
        json_details_add(&d, "password", "is required");
    if (d.count > 0) {
        http_reply_error(r, PB_EVALIDATION, "tenant, username and password are required",
                         json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);

    j = calloc(1, sizeof(*j));
    if (j == NULL || (j->password = strdup(password)) == NULL
        || (j->want_tenant = strdup(tenant)) == NULL || (j->want_user = strdup(username)) == NULL) {
        if (j != NULL) {
            free(j->password);
            free(j->want_tenant);
        }
        free(j);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    lws_get_peer_simple(r->wsi, ip, sizeof(ip));
    snprintf(j->key_ip, sizeof(j->key_ip), "ip:%s", ip);
    snprintf(j->key_user, sizeof(j->key_user), "user:%.60s/%.60s", tenant, username);
    /* The attempt counts from here, before argon2 runs (in flight = counted), so parallel
     * guesses cannot all pass the check before the first failure is recorded. */
    const char *keys[2];
    login_keys(j, keys);
    int rc = ratelimit_begin(r->app->login_limit, keys, 2, now, &retry);
    if (rc != 0) {
        free(j->password);
        free(j->want_tenant);
        free(j->want_user);
        free(j);
        if (rc != PB_ERATE_LIMITED) {
            http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
            return;
        }
        /* SPEC §4: past the limit even the right password gets 429; not counted again. */
        http_reply_header(r, "retry-after", "%lld", (long long)retry);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "retryAfter", (double)retry);
        http_reply_error(r, PB_ERATE_LIMITED, "too many login attempts; try again later", x);
        return;
    }
    j->owner = r;
    j->app = r->app;
    j->work.data = j;
    r->job = j;
    /* the user is read off the loop on PostgreSQL (reads.c), then argon2 on a worker */
    if (reads_submit(r->app, login_read, login_read_done, j) != 0)
        login_read_done(j, PB_EINTERNAL);
}

/* A refresh-token rotation through the writer. owner first: CLOSED_HTTP clears it. */
struct refresh_job {
    struct http_req *owner;
    struct app *app;
    char old_hash[65], new_hash[65], refresh[65], now[PB_TIMESTAMP_LEN];
    int64_t tenant_id, user_id;         /* the session's, set by the write */
    char sid[PB_SID_LEN];
    /* PostgreSQL: the session's user and tenant, read by the write (in its transaction, on the
     * writer thread: issue 13 "the loop never waits on a PostgreSQL round trip"); SQLite reads
     * them in refresh_done on the loop, as before. */
    bool read_in_write;
    bool have_user, have_tenant;        /* found by the write's read */
    struct user user;
    struct tenant tenant;
};

static void refresh_job_free(struct refresh_job *j)
{
    user_cleanup(&j->user);
    tenant_cleanup(&j->tenant);
    memset(j->refresh, 0, sizeof(j->refresh));
    free(j);
}

/* Writer thread: rotate the refresh token, then (PostgreSQL) read the session's user and
 * tenant in the same transaction. A rerun overwrites what the first run read. */
static int refresh_write(struct store *ws, void *ctx)
{
    struct refresh_job *j = ctx;
    user_cleanup(&j->user);
    tenant_cleanup(&j->tenant);
    memset(&j->user, 0, sizeof(j->user));
    memset(&j->tenant, 0, sizeof(j->tenant));
    j->have_user = j->have_tenant = false;
    /* The session keeps its id (the access_jti column holds it); only the refresh token turns. */
    int rc = store_session_rotate(ws, j->old_hash, j->new_hash, j->now, &j->tenant_id,
                                  &j->user_id, j->sid, sizeof(j->sid));
    if (rc != 0 || !j->read_in_write)
        return rc;
    /* A user gone is answered 401 by refresh_done (the rotation still commits, as on SQLite);
     * a failed read is no answer at all: the write fails and rotates nothing. */
    rc = store_user_get(ws, j->tenant_id, j->user_id, &j->user);
    if (rc != 0 && rc != PB_ENOT_FOUND)
        return PB_EINTERNAL;
    j->have_user = rc == 0;
    rc = store_tenant_get(ws, j->tenant_id, &j->tenant);
    if (rc != 0 && rc != PB_ENOT_FOUND)
        return PB_EINTERNAL;
    j->have_tenant = rc == 0;
    return 0;
}

static void refresh_done(void *ctx, int status)
{
    struct refresh_job *j = ctx;
    struct http_req *r = j->owner;
    struct user u;
    struct tenant t;

    if (r == NULL)
        goto out;
    r->job = NULL;
    if (status != 0) {
        http_reply_error(r, status == PB_EUNAUTHORIZED || status == PB_ERATE_LIMITED
                            ? status : PB_EINTERNAL,
                         status == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                         : "refresh token is invalid, expired or already used", NULL);
        goto out;
    }
    if (j->read_in_write) {             /* PostgreSQL: read by refresh_write */
        if (!j->have_user || !j->user.is_active) {
            http_reply_error(r, PB_EUNAUTHORIZED, "user no longer exists", NULL);
            goto out;
        }
        reply_tokens(r, &j->user, j->have_tenant ? &j->tenant : NULL, j->sid, j->refresh);
        goto out;
    }
    memset(&u, 0, sizeof(u));
    if (store_user_get(j->app->store, j->tenant_id, j->user_id, &u) != 0 || !u.is_active) {
        user_cleanup(&u);
        http_reply_error(r, PB_EUNAUTHORIZED, "user no longer exists", NULL);
        goto out;
    }
    bool have_t = store_tenant_get(j->app->store, j->tenant_id, &t) == 0;
    reply_tokens(r, &u, have_t ? &t : NULL, j->sid, j->refresh);
    user_cleanup(&u);
    if (have_t)
        tenant_cleanup(&t);
out:
    refresh_job_free(j);
}

static void r_refresh(struct http_req *r, const cJSON *body)
{
    const char *old = NULL;
    struct refresh_job *j;

    if (body == NULL || json_get_str(body, "refreshToken", &old, NULL) != 0 || *old == '\0') {
        http_reply_invalid(r, "refreshToken", "is required");
        return;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    j->owner = r;
    j->app = r->app;
    j->read_in_write = r->app->postgres;
    auth_sha256_hex(old, j->old_hash);
    if (auth_random_hex(j->refresh, 32) != 0) {
        free(j);
        http_reply_error(r, PB_EINTERNAL, "could not rotate the session", NULL);
        return;
    }
    auth_sha256_hex(j->refresh, j->new_hash);
    pb_now_timestamp(j->now);
    int rc = writes_sql(r->app, 0, refresh_write, refresh_done, j);
    if (rc != 0) {
        free(j);
        http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                         rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                         : "could not rotate the session", NULL);
        return;
    }
    r->job = j;                         /* refresh_done answers */
}

/* A logout through the writer. owner first: CLOSED_HTTP clears it. */
struct logout_job {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id, user_id;
    char sid[PB_SID_LEN];
};

static int logout_write(struct store *ws, void *ctx)
{
    struct logout_job *j = ctx;
    return session_logout_write(ws, j->tenant_id, j->user_id, j->sid);
}

static void logout_done(void *ctx, int status)
{
    struct logout_job *j = ctx;
    struct http_req *r = j->owner;
    if (status == 0) {
        if (session_logout_apply(j->app, j->sid) != 0)
            status = PB_EINTERNAL;
        /* the session's sockets close even when its client went away */
        ws_close_user(j->app, j->tenant_id, j->user_id, j->sid, "logged out");
    }
    if (r != NULL) {
        r->job = NULL;
        if (status == 0)
            http_reply(r, 204, "application/json; charset=utf-8", NULL, 0);
        else
            http_reply_error(r, status == PB_ERATE_LIMITED ? status : PB_EINTERNAL,
                             "could not end the session", NULL);
    }
    free(j);
}

static void r_logout(struct http_req *r, const cJSON *body)
{
    struct logout_job *j = calloc(1, sizeof(*j));
    (void)body;
    if (j == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    *j = (struct logout_job){ .owner = r, .app = r->app, .tenant_id = r->claims.tenant_id,
                              .user_id = r->claims.user_id };
    session_id_of(&r->claims, j->sid);
    int rc = writes_sql(r->app, 0, logout_write, logout_done, j);
    if (rc != 0) {
        free(j);
        http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                         "could not end the session", NULL);
        return;
    }
    r->job = j;                         /* logout_done answers */
}

static int me_read(struct store *rs, const struct route_read *q, cJSON **out, int *http_status,
                   const char **message)
{
    struct user u;
    struct tenant t;
    (void)http_status;
    if (store_user_get(rs, q->tenant_id, q->user_id, &u) != 0) {
        *message = "user no longer exists";
        return PB_EUNAUTHORIZED;
    }
    *out = json_user(&u);
    if (store_tenant_get(rs, q->tenant_id, &t) == 0) {
        cJSON_AddItemToObject(*out, "tenant", json_tenant_brief(&t));
        tenant_cleanup(&t);
    }
    user_cleanup(&u);
    return 0;
}

static void r_me(struct http_req *r, const cJSON *body)
{
    (void)body;
    route_read(r, &(struct route_read){ .tenant_id = r->claims.tenant_id,
                                        .user_id = r->claims.user_id }, me_read);
}

/* ================================================================ health, work centres */

/* SPEC §4 health. The database check: SQLite runs a statement (local); on PostgreSQL
 * ("health that reports the database", issue 13) the node's LISTEN connection is up
 * (bus_connected): the loop never waits on a database that hangs, and a restart of
 * PostgreSQL shows at once (that connection drops) until the bus is back. */
static void r_health(struct http_req *r, const cJSON *body)
{
    (void)body;
    cJSON *o = cJSON_CreateObject();
    bool db_ok = r->app->postgres ? bus_connected(r->app)
                                  : store_exec(r->app->store, "SELECT 1") == 0;
    cJSON_AddStringToObject(o, "status", db_ok ? "ok" : "degraded");
    cJSON_AddStringToObject(o, "version", PB_VERSION);
    cJSON_AddNumberToObject(o, "uptimeSeconds", (double)((pb_now_ms() - r->app->started_ms) / 1000));
    cJSON_AddStringToObject(o, "db", db_ok ? "ok" : "error");
    http_reply_json(r, db_ok ? 200 : 503, o);
}

static void r_work_centres(struct http_req *r, const cJSON *body)
{
    (void)body;
    struct board *b = route_board(r);
    if (b == NULL)
        return;
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < b->n_work_centres; i++)
        cJSON_AddItemToArray(a, json_work_centre(&b->work_centres[i]));
    http_reply_json(r, 200, json_data(a));
}

/* ================================================================ orders */

static int cmp_order_id(const void *a, const void *b)
{
    const struct order *x = *(struct order *const *)a, *y = *(struct order *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void r_orders_list(struct http_req *r, const cJSON *body)
{
    char status[32], prio[32], wc[32], q[256], due[32];
    const char *bad = NULL;
    bool backlog_only = false;
    int st = -1, pr = -1;
    int64_t wc_id = 0;
    struct board *b;
    (void)body;

    bool bad_limit = false, bad_offset = false;
    int64_t limit = http_query_int(r, "limit", 50, 0, 500, &bad_limit);
    int64_t offset = http_query_int(r, "offset", 0, 0, INT64_MAX, &bad_offset);
    if (bad_limit || bad_offset)
        bad = bad_limit ? "limit" : "offset";
    if (http_query(r, "status", status, sizeof(status)) && (st = order_status_parse(status, false)) < 0)
        bad = "status";
    if (http_query(r, "priority", prio, sizeof(prio)) && (pr = order_priority_parse(prio, false)) < 0)
        bad = "priority";
    if (http_query(r, "workCentreId", wc, sizeof(wc))) {
        if (strcmp(wc, "backlog") == 0 || strcmp(wc, "null") == 0)
            backlog_only = true;
        else if ((wc_id = strtoll(wc, NULL, 10)) <= 0)
            bad = "workCentreId";
    }
    const char *qs = http_query(r, "q", q, sizeof(q));
    const char *dueb = http_query(r, "dueBefore", due, sizeof(due));
    if (dueb != NULL && !pb_date_valid(dueb))
        bad = "dueBefore";
    if (bad != NULL) {
        http_reply_invalid(r, bad, "invalid query parameter");
        return;
    }
    if ((b = route_board_scheduled(r)) == NULL)
        return;

    struct order **hits = malloc((b->n_orders + 1) * sizeof(*hits));
    size_t n = 0;
    if (hits == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    for (size_t c = 0; c <= b->n_work_centres; c++) {
        const struct column *col = c < b->n_work_centres ? &b->columns[c] : &b->backlog;
        if (backlog_only && col->work_centre_id != 0)
            continue;
        if (wc_id > 0 && col->work_centre_id != wc_id)
            continue;
        for (struct order *o = board_column_first(col); o != NULL; o = board_column_next(o)) {
            if (st >= 0 && (int)o->status != st)
                continue;
            if (pr >= 0 && (int)o->priority != pr)
                continue;
            if (dueb != NULL && (o->due_date[0] == '\0' || strcmp(o->due_date, dueb) >= 0))
                continue;
            if (qs != NULL && *qs != '\0' && strcasestr(o->order_number, qs) == NULL
                && strcasestr(o->stock_code, qs) == NULL && strcasestr(o->description, qs) == NULL)
                continue;
            hits[n++] = o;
        }
    }
    qsort(hits, n, sizeof(*hits), cmp_order_id);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = (size_t)offset; i < n && i < (size_t)(offset + limit); i++)
        cJSON_AddItemToArray(a, op_order_json(r->app, hits[i], r->claims.tenant_id));
    free(hits);
    cJSON *o = json_data(a);
    cJSON_AddNumberToObject(o, "total", (double)n);
    cJSON_AddNumberToObject(o, "limit", (double)limit);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    http_reply_json(r, 200, o);
}

/* An order answer whose routing steps are read off the loop (reads_submit): owner first. */
struct steps_job {
    struct http_req *owner;
    int64_t tenant_id, order_id;
    int status;                         /* the HTTP status of the answer */
    cJSON *ans;                         /* the order, built on the loop */
    struct step *steps;
    size_t n;
};

static void steps_job_free_rows(struct steps_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        step_cleanup(&j->steps[i]);
    free(j->steps);
    j->steps = NULL;
    j->n = 0;
}

static int steps_job_read(struct store *rs, void *ctx)
{
    struct steps_job *j = ctx;
    steps_job_free_rows(j);             /* a second run overwrites the first */
    return store_order_steps(rs, j->tenant_id, j->order_id, &j->steps, &j->n);
}

static void steps_job_done(void *ctx, int status)
{
    struct steps_job *j = ctx;
    struct http_req *r = j->owner;
    if (r != NULL) {
        r->job = NULL;
        cJSON *a = cJSON_AddArrayToObject(j->ans, "steps");
        /* a failed read answers the order without its steps (an order is still an order) */
        for (size_t i = 0; status == 0 && i < j->n; i++)
            cJSON_AddItemToArray(a, json_step(&j->steps[i]));
        http_reply_json(r, j->status, j->ans);
        j->ans = NULL;
    }
    cJSON_Delete(j->ans);
    steps_job_free_rows(j);
    free(j);
}

void route_reply_order(struct http_req *r, const struct order *o, int status, cJSON *ans)
{
    struct steps_job *j = calloc(1, sizeof(*j));
    if (ans == NULL)
        ans = op_order_json(r->app, o, r->claims.tenant_id);
    if (j == NULL) {
        cJSON_Delete(ans);
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    *j = (struct steps_job){ .owner = r, .tenant_id = r->claims.tenant_id, .order_id = o->id,
                             .status = status, .ans = ans };
    r->job = j;                         /* steps_job_done answers (at once on SQLite) */
    int rc = reads_submit(r->app, steps_job_read, steps_job_done, j);
    if (rc != 0) {
        r->job = NULL;
        cJSON_Delete(j->ans);
        free(j);
        http_reply_error(r, rc == PB_ERATE_LIMITED ? rc : PB_EINTERNAL,
                         "could not read the order", NULL);
    }
}

static void r_order_get(struct http_req *r, const cJSON *body)
{
    (void)body;
    struct board *b = route_board_scheduled(r);
    struct order *o;
    if (b == NULL)
        return;
    if ((o = board_order(b, r->ids[0])) == NULL) {
        http_reply_error(r, PB_ENOT_FOUND, "order not found", NULL);
        return;
    }
    route_reply_order(r, o, 200, NULL);
}

/* Read one optional string field; wrong type is reported to d. */
static const char *opt_str(const cJSON *body, const char *name, struct json_details *d)
{
    const char *s = NULL;
    return json_get_str(body, name, &s, d) == 0 ? s : NULL;
}

/* An order create through the writer (docs/writer.md): validated against the cache when the
 * tenant's earlier writes are done, written on the writer thread, applied, published and
 * answered (201) on the loop. owner first: CLOSED_HTTP clears it (r->job). */
struct create_op {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id, user_id;
    cJSON *body;                        /* a copy: in's and steps' strings point into it */
    struct order_input in;
    struct step *steps;
    size_t n_steps;
    struct board *b;
    struct create_job *job;
    size_t orders_then;                 /* for the 413 sentence */
    bool wip_override;                  /* SPEC §9: an admin sent "override": true */
    struct wip_check wip;               /* PB_EWIP_LIMIT: the column as prepare saw it */
    struct job_events ev;               /* PostgreSQL: order_created, built by the run */
};

static void create_op_free(struct create_op *c)
{
    job_events_cleanup(&c->ev);
    store_create_job_free(c->job);
    free(c->steps);
    cJSON_Delete(c->body);
    free(c);
}

/* The answer to a create that failed with rc (wip: the column's check, for PB_EWIP_LIMIT). */
static void create_error(struct http_req *r, int rc, size_t orders_then,
                         const struct wip_check *wip)
{
    if (rc == PB_EWIP_LIMIT) {          /* SPEC §9: the same body as a move's refusal */
        http_reply_error(r, rc, "the work centre is at its WIP limit", op_wip_extra(wip));
        return;
    }
    if (rc == PB_ETOO_LARGE) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the tenant already has %zu orders, the most allowed "
                 "([limits] max_orders_per_tenant = %zu)", orders_then,
                 store_max_orders(r->app->store));
        http_reply_error(r, rc, msg, NULL);
        return;
    }
    http_reply_error(r, rc, rc == PB_ECONFLICT ? "orderNumber is already in use"
                          : rc == PB_EVALIDATION ? "the order is not valid"
                          : rc == PB_ERATE_LIMITED ? "too many writes are waiting; try again"
                          : "could not save the order", NULL);
}

static int create_op_prepare(void *ctx)
{
    struct create_op *c = ctx;
    int rc = store_board(c->app->store, c->tenant_id, &c->b);
    if (rc != 0)
        return rc;
    c->orders_then = c->b->n_orders;
    rc = store_create_prepare(c->app->store, c->b, &c->in, c->steps, c->n_steps, c->user_id,
                              c->wip_override, &c->job);
    if (rc == PB_EWIP_LIMIT)            /* for the 409's wipLimit and count */
        store_wip_check(c->b, c->in.work_centre_id, 1, false, &c->wip);
    job_events_init(&c->ev, c->app, c->tenant_id);
    return rc;
}

/* The order_created event's data (SPEC §5) for order o at `position`. Any thread (reads o). */
static cJSON *created_json(const struct order *o, int64_t position, const struct wip_check *wip)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddItemToObject(ev, "order", json_order_at(o, NULL, position));
    op_wip_mark(ev, wip);
    return ev;
}

/* The 201 answer and the order_created event (unless logged: sequenced with the change on
 * PostgreSQL, SPEC §12); both get "wipExceeded": true when a soft or overridden WIP limit was
 * passed (SPEC §9). */
static void create_publish(struct http_req *r, struct app *app, int64_t tenant_id,
                           struct order *o, const struct wip_check *wip, bool logged)
{
    if (!logged)
        room_publish(app, tenant_id, "order_created", created_json(o, order_position(o), wip));
    schedule_changed(app, tenant_id, &o->work_centre_id, 1);               /* SPEC §9 */
    if (r != NULL) {                    /* the steps are read off the loop on PostgreSQL */
        cJSON *ans = op_order_json(r->app, o, r->claims.tenant_id);
        op_wip_mark(ans, wip);
        route_reply_order(r, o, 201, ans);
    }
}

static int create_op_run(struct db *db, void *ctx)
{
    struct create_op *c = ctx;
    int rc;
    (void)db;                           /* the sibling store's connection */
    if ((rc = job_events_run_begin(&c->ev, true)) != 0
        || (rc = store_create_write(c->app->wstore, c->job)) != 0)
        return rc;
    if (c->ev.on) {                     /* SPEC §12: the new id is known only now */
        struct wip_check wip;
        int64_t pos;
        const struct order *o = store_create_staged(c->job, &pos);
        store_create_wip(c->job, &wip);
        job_events_add_run(&c->ev, "order_created", created_json(o, pos, &wip));
    }
    return job_events_sequence(&c->ev);
}

static void create_op_done(void *ctx, int status, uint64_t commit_seq)
{
    struct create_op *c = ctx;
    struct http_req *r = c->owner;
    (void)commit_seq;
    bool logged = job_events_done(&c->ev, status);
    if (status == 0) {
        store_commit_noted(c->app->store);      /* group commit syncs it before answers */
        struct wip_check wip;
        store_create_wip(c->job, &wip);
        struct order *o = store_create_apply(c->b, c->job);
        if (r != NULL)
            r->job = NULL;
        create_publish(r, c->app, c->tenant_id, o, &wip, logged);
    } else if (r != NULL) {
        r->job = NULL;
        create_error(r, status, c->orders_then, &c->wip);
    }
    create_op_free(c);
}

static void r_order_create(struct http_req *r, const cJSON *request_body)
{
    struct order_input in;
    struct json_details d;
    struct board *b;
    struct step *steps = NULL;
    size_t n_steps = 0;
    const char *s;

    if (request_body == NULL || !cJSON_IsObject(request_body)) {
        http_reply_invalid(r, "body", "a JSON object is required");
        return;
    }
    if ((b = route_board(r)) == NULL)
        return;
    /* in and steps borrow the body's strings: with a writer they must outlive this call */
    cJSON *body = cJSON_Duplicate(request_body, true);
    if (body == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    order_input_init(&in);
    json_details_init(&d);
    in.order_number = opt_str(body, "orderNumber", &d);
    in.stock_code = opt_str(body, "stockCode", &d);
    in.description = opt_str(body, "description", &d);
    in.current_operation = opt_str(body, "currentOperation", &d);
    in.due_date = opt_str(body, "dueDate", &d);
    in.start_date = opt_str(body, "startDate", &d);
    if (json_get_int(body, "quantityToMake", &in.quantity_to_make, &d) == 1)
        in.quantity_to_make = 0;
    json_get_int(body, "quantityCompleted", &in.quantity_completed, &d);
    if ((s = opt_str(body, "status", &d)) != NULL)
        in.status = order_status_parse(s, false);
    if ((s = opt_str(body, "priority", &d)) != NULL)
        in.priority = order_priority_parse(s, false);
    if (json_get_id_or_null(body, "workCentreId", &in.work_centre_id, &d) == 0
        && in.work_centre_id > 0 && board_work_centre(b, in.work_centre_id) == NULL)
        json_details_add(&d, "workCentreId", "no such work centre");
    order_input_check(&in, json_details_add, &d);
    bool override = false;              /* SPEC §9: only an admin's override passes a limit */
    json_get_bool(body, "override", &override, &d);
    override = override && r->claims.role == ROLE_ADMIN;

    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(body, "steps");
    if (sa != NULL && !cJSON_IsNull(sa)) {
        if (!cJSON_IsArray(sa) || cJSON_GetArraySize(sa) > 100) {
            json_details_add(&d, "steps", "must be an array of at most 100 steps");
        } else {
            n_steps = (size_t)cJSON_GetArraySize(sa);
            steps = calloc(n_steps + 1, sizeof(*steps));
            size_t i = 0;
            for (const cJSON *e = sa->child; e != NULL && steps != NULL; e = e->next, i++) {
                struct step *st = &steps[i];
                const char *op = NULL;
                st->step_number = (int64_t)i + 1;
                st->planned_duration_minutes = st->actual_duration_minutes = -1;
                if (!cJSON_IsObject(e) || json_get_str(e, "operationName", &op, &d) != 0
                    || *op == '\0' || pb_utf8_len(op) > PB_OPERATION_MAX) {
                    json_details_add(&d, "steps", "each step needs an operationName (<= 100)");
                    continue;
                }
                st->operation_name = (char *)op;            /* borrowed from body */
                json_get_int(e, "stepNumber", &st->step_number, &d);
                if (json_get_id_or_null(e, "workCentreId", &st->work_centre_id, &d) == 0
                    && st->work_centre_id > 0 && board_work_centre(b, st->work_centre_id) == NULL) {
                    char field[48];     /* SPEC §4: name the field, "steps[2].workCentreId" */
                    snprintf(field, sizeof(field), "steps[%zu].workCentreId", i);
                    json_details_add(&d, field, "no such work centre");
                }
                json_get_int(e, "plannedDurationMinutes", &st->planned_duration_minutes, &d);
                const char *sst = opt_str(e, "status", &d);
                if (sst != NULL) {
                    int v = step_status_parse(sst);
                    if (v < 0)
                        json_details_add(&d, "steps", "step status must be pending, in_progress, complete or skipped");
                    else
                        st->status = (enum step_status)v;
                }
            }
        }
    }
    for (size_t i = 0; steps != NULL && i < n_steps; i++)
        for (size_t k = i + 1; k < n_steps; k++)     /* <= 100 steps: quadratic is fine */
            if (steps[i].step_number == steps[k].step_number) {
                json_details_add(&d, "steps", "stepNumber must be unique within the order");
                i = k = n_steps;
            }
    if (d.count > 0) {
        free(steps);
        cJSON_Delete(body);
        http_reply_error(r, PB_EVALIDATION, "the order is not valid", json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);

    if (r->app->writer != NULL) {
        struct create_op *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            free(steps);
            cJSON_Delete(body);
            http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
            return;
        }
        *c = (struct create_op){ .owner = r, .app = r->app, .tenant_id = r->claims.tenant_id,
                                 .user_id = r->claims.user_id, .body = body, .in = in,
                                 .steps = steps, .n_steps = n_steps,
                                 .wip_override = override };
        int rc = writes_submit(r->app, c->tenant_id, create_op_prepare, create_op_run,
                               create_op_done, c);
        if (rc != 0) {
            create_error(r, rc, c->orders_then, &c->wip);
            create_op_free(c);
            return;
        }
        r->job = c;                     /* create_op_done answers */
        return;
    }
    struct order *o = NULL;
    struct wip_check wip;
    int rc = store_order_create(r->app->store, b, &in, steps, n_steps, r->claims.user_id,
                                override, &o, &wip);
    if (rc == PB_EWIP_LIMIT)
        store_wip_check(b, in.work_centre_id, 1, false, &wip);
    free(steps);
    cJSON_Delete(body);
    if (rc != 0) {
        create_error(r, rc, b->n_orders, &wip);
        return;
    }
    create_publish(r, r->app, r->claims.tenant_id, o, &wip, false);
}

static void r_start_move(struct http_req *r, const cJSON *body)
{
    struct op_user u;
    struct op_result res;
    char name[PB_LOCK_USERNAME_MAX + 1];
    (void)body;
    http_op_user(r, &u, name, sizeof(name));
    struct http_wait *w = http_wait_begin(r);
    if (w == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    if (op_start_drag(r->app, &u, r->ids[0], &res, http_wait_done, w))
        return;                         /* PostgreSQL, through the writer: http_wait_done */
    http_wait_cancel(w);
    http_reply_op(r, &res, 200);
}

static void r_end_move(struct http_req *r, const cJSON *body)
{
    struct op_user u;
    struct op_result res;
    char name[PB_LOCK_USERNAME_MAX + 1];
    struct json_details d;
    bool completed;
    json_details_init(&d);
    if (body != NULL && json_get_bool(body, "completed", &completed, &d) < 0) {
        http_reply_error(r, PB_EVALIDATION, "completed must be true or false", json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);
    http_op_user(r, &u, name, sizeof(name));
    struct http_wait *w = http_wait_begin(r);
    if (w == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    http_wait_set_status(w, 204);
    if (op_end_drag(r->app, &u, r->ids[0], &res, http_wait_done, w))
        return;                         /* PostgreSQL, through the writer: http_wait_done */
    http_wait_cancel(w);
    http_reply_op(r, &res, 204);
}

static void r_move(struct http_req *r, const cJSON *body)
{
    struct op_user u;
    struct op_result res;
    char name[PB_LOCK_USERNAME_MAX + 1];
    http_op_user(r, &u, name, sizeof(name));
    struct http_wait *w = http_wait_begin(r);
    if (w == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    if (op_move(r->app, &u, r->ids[0], body, &res, http_wait_done, w))
        return;                         /* through the writer: http_wait_done answers */
    http_wait_cancel(w);
    http_reply_op(r, &res, 200);
}

/* PUT /api/planning-board/move: the order is named in the body, so an order that is not in
 * the caller's tenant (another tenant's included) is a 400 naming orderId, not a 404
 * (SPEC §4: 404 is for the object in the URL). */
static void r_board_move(struct http_req *r, const cJSON *body)
{
    int64_t id = 0;
    struct json_details d;
    struct board *b;
    json_details_init(&d);
    if (body == NULL || json_get_int(body, "orderId", &id, &d) != 0 || id <= 0) {
        json_details_cleanup(&d);
        json_details_init(&d);
        json_details_add(&d, "orderId", "is required");
        http_reply_error(r, PB_EVALIDATION, "orderId is required", json_details_take(&d));
        return;
    }
    json_details_cleanup(&d);
    if ((b = route_board(r)) == NULL)
        return;
    if (board_order(b, id) == NULL) {
        http_reply_invalid(r, "orderId", "no such order");
        return;
    }
    r->ids[0] = id;
    r_move(r, body);
}

/* GET /api/planning-board: served from pre-serialized bytes shared by every answer while
 * neither the room's seq nor the board version changed (issue 3: board reads are the hottest
 * route; a 10,000-order board is 4 MB, so it is not copied per request either). */
static void r_board(struct http_req *r, const cJSON *body)
{
    int err;
    struct board *b;
    struct room *room = room_get(r->app, r->claims.tenant_id);
    (void)body;
    if ((b = route_board_scheduled(r)) == NULL)     /* may bump b->version: before the cache */
        return;
    struct blob *cached = room != NULL ? room_board_cached(room, b->version) : NULL;
    if (cached == NULL) {
        cJSON *j = op_board_json(r->app, r->claims.tenant_id, &err);
        char *s = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        cached = s != NULL ? blob_new_answer(s, strlen(s)) : NULL;
        free(s);
        if (cached == NULL) {
            http_reply_error(r, j == NULL ? err : PB_EINTERNAL, "board unavailable", NULL);
            return;
        }
        if (room != NULL)
            room_board_cache(room, b->version, cached);
        http_reply_blob(r, 200, "application/json; charset=utf-8", cached);
        blob_unref(cached);
        return;
    }
    http_reply_blob(r, 200, "application/json; charset=utf-8", cached);
}

/* ================================================================ the route table */

const struct route pb_routes_core[] = {
    { M_POST, "/api/auth/login", R_PUBLIC, ROUTE_WRITER, r_login, NULL },
    { M_POST, "/api/auth/refresh", R_PUBLIC, ROUTE_WRITER, r_refresh, NULL },
    { M_POST, "/api/auth/logout", R_ANY, ROUTE_WRITER, r_logout, NULL },
    { M_GET, "/api/auth/me", R_ANY, 0, r_me, NULL },
    { M_GET, "/api/health", R_PUBLIC, 0, r_health, NULL },
    { M_GET, "/api/work-centres", R_ANY, ROUTE_BOARD, r_work_centres, NULL },
    { M_GET, "/api/orders", R_ANY, ROUTE_BOARD, r_orders_list, NULL },
    { M_POST, "/api/orders", R_ADMIN | R_SCHEDULER, ROUTE_WRITER | ROUTE_BOARD, r_order_create, NULL },
    { M_POST, "/api/orders/import", R_ADMIN | R_SCHEDULER, 0, NULL, &pb_import_stream },
    { M_GET, "/api/orders/:id", R_ANY, ROUTE_BOARD, r_order_get, NULL },
    { M_POST, "/api/orders/:id/start-move", R_ADMIN | R_SCHEDULER, ROUTE_BOARD, r_start_move, NULL },
    { M_PUT, "/api/orders/:id/move", R_ADMIN | R_SCHEDULER, ROUTE_WRITER | ROUTE_BOARD, r_move, NULL },
    { M_POST, "/api/orders/:id/end-move", R_ADMIN | R_SCHEDULER, ROUTE_BOARD, r_end_move, NULL },
    { M_GET, "/api/planning-board", R_ANY, ROUTE_BOARD | ROUTE_ONLINE, r_board, NULL },
    { M_PUT, "/api/planning-board/move", R_ADMIN | R_SCHEDULER, ROUTE_WRITER | ROUTE_BOARD, r_board_move,
      NULL },
    { M_OTHER, NULL, 0, 0, NULL, NULL },
};
