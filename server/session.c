/*
 * session — logout and user revocation (SPEC §4 Auth, §5 connection closing).
 * Revoked sessions are kept in memory for one access-token lifetime (after that no token of
 * theirs can still be valid) and rebuilt from the sessions table at start. Access tokens
 * are verified here too, through a cache of verified tokens.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "store/session.h"

void session_id_of(const struct auth_claims *c, char sid[PB_SID_LEN])
{
    size_t n = strcspn(c->jti, ".");
    if (n > PB_SID_LEN - 1)
        n = PB_SID_LEN - 1;
    memcpy(sid, c->jti, n);
    sid[n] = '\0';
}

bool session_revoked(const struct app *app, const struct auth_claims *c)
{
    char sid[PB_SID_LEN];
    session_id_of(c, sid);
    for (size_t i = 0; i < app->n_revoked; i++)
        if (strcmp(app->revoked[i].sid, sid) == 0)
            return true;
    for (size_t i = 0; i < app->n_revoked_users; i++) {
        const struct revoked_user *u = &app->revoked_users[i];
        /* strictly before: a login in the same second as the revocation stays valid (its
         * session is new; the revoked ones are in app->revoked by id) */
        if (u->user_id == c->user_id && u->tenant_id == c->tenant_id && c->iat < u->before_s)
            return true;
    }
    return false;
}

static int remember_sid(struct app *app, const char *sid)
{
    int64_t now = pb_now_ms() / 1000;
    size_t w = 0;
    for (size_t i = 0; i < app->n_revoked; i++)         /* drop the ones that can't matter */
        if (app->revoked[i].until_s > now)
            app->revoked[w++] = app->revoked[i];
    app->n_revoked = w;
    if (app->n_revoked == app->cap_revoked) {
        size_t cap = app->cap_revoked ? app->cap_revoked * 2 : 16;
        struct revoked_session *n = realloc(app->revoked, cap * sizeof(*n));
        if (n == NULL)
            return PB_EINTERNAL;
        app->revoked = n;
        app->cap_revoked = cap;
    }
    struct revoked_session *r = &app->revoked[app->n_revoked++];
    snprintf(r->sid, sizeof(r->sid), "%s", sid);
    r->until_s = now + app->cfg.access_ttl + 60;
    return 0;
}

int session_logout_write(struct store *ws, int64_t tenant_id, int64_t user_id, const char *sid)
{
    return store_session_revoke_jti(ws, tenant_id, user_id, sid);
}

int session_logout_apply(struct app *app, const char *sid)
{
    return remember_sid(app, sid);
}

static void collect_sid(void *ctx, const char *sid)
{
    struct session_sids *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        void *n = realloc(s->sid, cap * sizeof(*s->sid));
        if (n == NULL)
            return;                     /* the user's time mark still refuses its tokens */
        s->sid = n;
        s->cap = cap;
    }
    snprintf(s->sid[s->n++], PB_SID_LEN, "%s", sid);
}

int session_revoke_user_write(struct store *ws, int64_t tenant_id, int64_t user_id,
                              struct session_sids *out)
{
    /* Every live session by id (exact), plus a time mark for tokens without a session. */
    out->n = 0;
    int rc = store_session_each_live(ws, tenant_id, user_id, collect_sid, out);
    return rc != 0 ? rc : store_session_revoke_user(ws, tenant_id, user_id);
}

int session_revoke_user_apply(struct app *app, int64_t tenant_id, int64_t user_id,
                              const struct session_sids *sids)
{
    for (size_t i = 0; sids != NULL && i < sids->n; i++)
        remember_sid(app, sids->sid[i]);
    if (app->n_revoked_users == app->cap_revoked_users) {
        size_t cap = app->cap_revoked_users ? app->cap_revoked_users * 2 : 8;
        struct revoked_user *n = realloc(app->revoked_users, cap * sizeof(*n));
        if (n == NULL)
            return PB_EINTERNAL;
        app->revoked_users = n;
        app->cap_revoked_users = cap;
    }
    app->revoked_users[app->n_revoked_users++] = (struct revoked_user){
        tenant_id, user_id, pb_now_ms() / 1000
    };
    return 0;
}

void session_sids_free(struct session_sids *s)
{
    free(s->sid);
    *s = (struct session_sids){ 0 };
}

static void load_one(void *ctx, const char *sid)
{
    remember_sid(ctx, sid);
}

int session_init(struct app *app)
{
    char since[PB_TIMESTAMP_LEN];
    json_format_ms(pb_now_ms() - (app->cfg.access_ttl + 60) * 1000, since);
    return store_session_revoked_since(app->store, since, load_one, app);
}

void session_cleanup(struct app *app)
{
    free(app->revoked);
    free(app->revoked_users);
    app->revoked = NULL;
    app->revoked_users = NULL;
    app->n_revoked = app->n_revoked_users = 0;
}

/* ================================================================ verified tokens */

static uint64_t hash_token(const char *s)
{
    uint64_t h = 1469598103934665603ULL;             /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int session_verify_token(struct app *app, const char *token, struct auth_claims *out)
{
    int64_t now = pb_now_ms() / 1000;
    uint64_t h = hash_token(token);
    struct verified_token *e = app->tokens != NULL ? &app->tokens[h % PB_TOKEN_CACHE] : NULL;
    int rc;

    if (e != NULL && e->token != NULL && e->hash == h && strcmp(e->token, token) == 0
        && e->claims.exp > now) {
        *out = e->claims;
        rc = 0;
    } else {
        rc = auth_token_verify(app->jwt_key, app->jwt_key_len, token, now, out);
        if (rc == 0 && e != NULL) {
            char *copy = strdup(token);
            if (copy != NULL) {
                free(e->token);
                e->token = copy;
                e->hash = h;
                e->claims = *out;
            }
        }
    }
    if (rc == 0 && session_revoked(app, out))
        rc = PB_EUNAUTHORIZED;
    return rc;
}

int session_token_cache_init(struct app *app)
{
    app->tokens = calloc(PB_TOKEN_CACHE, sizeof(*app->tokens));
    return app->tokens != NULL ? 0 : PB_EINTERNAL;
}

void session_token_cache_free(struct app *app)
{
    if (app->tokens == NULL)
        return;
    for (size_t i = 0; i < PB_TOKEN_CACHE; i++)
        free(app->tokens[i].token);
    free(app->tokens);
    app->tokens = NULL;
}
