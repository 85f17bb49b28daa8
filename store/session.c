/*
 * store/session — refresh-token sessions. These statements run a few times per login, not per
 * request, so they are prepared per call instead of joining the cached STORE_STMTS table.
 * Every write is its own transaction through store__begin/store__commit (not a bare
 * autocommit statement): only store__commit hands out a commit sequence number, and with
 * [database] synchronous = FULL the login, refresh or logout answer waits for that number to
 * be on disk (server/durable.c). An autocommit write would be answered before its fsync.
 */
#include "store/session.h"

#include <string.h>

#include "store/store_int.h"

/* Run the one-off write st as one transaction (see the file comment). 0 or PB_EINTERNAL;
 * st is finalized whatever happens; on error nothing changed. */
static int write_txn(struct store *s, struct db_stmt *st, const char *what)
{
    if (store__begin(s) != 0) {
        db_finalize(st);
        return PB_EINTERNAL;
    }
    if (store__run_final(s, st, what, NULL, NULL) != 0) {
        store__rollback(s);
        return PB_EINTERNAL;
    }
    return store__commit(s);
}

int store_session_create(struct store *s, int64_t tenant_id, int64_t user_id,
                         const char *refresh_hash, const char *access_jti,
                         const char *expires_at, int64_t *id_out)
{
    char now[PB_TIMESTAMP_LEN];
    struct db_stmt *st = store__prepare(s, "INSERT INTO sessions(tenant_id, user_id, refresh_hash, "
                                  "access_jti, created_at, expires_at) VALUES (?,?,?,?,?,?)", "session");
    if (st == NULL)
        return PB_EINTERNAL;
    pb_now_timestamp(now);
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, user_id);
    db_bind_text(st, 3, refresh_hash, -1, DB_STATIC);
    db_bind_text(st, 4, access_jti, -1, DB_STATIC);
    db_bind_text(st, 5, now, -1, DB_STATIC);
    db_bind_text(st, 6, expires_at, -1, DB_STATIC);
    if (store__begin(s) != 0) {
        db_finalize(st);
        return PB_EINTERNAL;
    }
    if (store__run_final(s, st, "create session", NULL, NULL) != 0) {
        store__rollback(s);
        return PB_EINTERNAL;
    }
    if (id_out != NULL)
        *id_out = db_last_insert_rowid(s->db);
    return store__commit(s);
}

int store_session_rotate(struct store *s, const char *old_hash, const char *new_hash,
                         const char *now, int64_t *tenant_id, int64_t *user_id, char *sid,
                         size_t sid_len)
{
    /* One statement: the match and the rotation cannot be split by another request. */
    struct db_stmt *st = store__prepare(s, "UPDATE sessions SET refresh_hash = ?2 "
                                  "WHERE refresh_hash = ?1 AND revoked_at IS NULL "
                                  "AND expires_at > ?3 RETURNING tenant_id, user_id, access_jti", "session");
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_text(st, 1, old_hash, -1, DB_STATIC);
    db_bind_text(st, 2, new_hash, -1, DB_STATIC);
    db_bind_text(st, 3, now, -1, DB_STATIC);
    if (store__begin(s) != 0) {
        db_finalize(st);
        return PB_EINTERNAL;
    }
    int rc = db_step(st);
    if (rc == DB_ROW) {
        *tenant_id = db_column_int64(st, 0);
        *user_id = db_column_int64(st, 1);
        store__col_copy(st, 2, sid, sid_len);
        rc = db_step(st);
    } else if (rc == DB_DONE) {
        db_finalize(st);
        store__rollback(s);             /* nothing matched: nothing to commit */
        return PB_EUNAUTHORIZED;
    }
    if (rc != DB_DONE) {
        store__error(s, "rotate session");
        db_finalize(st);
        store__rollback(s);
        return PB_EINTERNAL;
    }
    db_finalize(st);
    return store__commit(s);
}

int store_session_revoke_jti(struct store *s, int64_t tenant_id, int64_t user_id,
                             const char *jti)
{
    char now[PB_TIMESTAMP_LEN];
    struct db_stmt *st = store__prepare(s, "UPDATE sessions SET revoked_at = ?4 WHERE tenant_id = ?1 "
                                  "AND user_id = ?2 AND access_jti = ?3 AND revoked_at IS NULL", "session");
    if (st == NULL)
        return PB_EINTERNAL;
    pb_now_timestamp(now);
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, user_id);
    db_bind_text(st, 3, jti, -1, DB_STATIC);
    db_bind_text(st, 4, now, -1, DB_STATIC);
    return write_txn(s, st, "revoke session");
}

int store_session_revoke_user(struct store *s, int64_t tenant_id, int64_t user_id)
{
    char now[PB_TIMESTAMP_LEN];
    struct db_stmt *st = store__prepare(s, "UPDATE sessions SET revoked_at = ?3 WHERE tenant_id = ?1 "
                                  "AND user_id = ?2 AND revoked_at IS NULL", "session");
    if (st == NULL)
        return PB_EINTERNAL;
    pb_now_timestamp(now);
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, user_id);
    db_bind_text(st, 3, now, -1, DB_STATIC);
    return write_txn(s, st, "revoke user sessions");
}

int store_session_revoked_since(struct store *s, const char *since,
                                void (*cb)(void *ctx, const char *jti), void *ctx)
{
    struct db_stmt *st = store__prepare(s, "SELECT access_jti FROM sessions WHERE revoked_at >= ?1 "
                                  "AND access_jti IS NOT NULL", "session");
    int rc;
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_text(st, 1, since, -1, DB_STATIC);
    while ((rc = db_step(st)) == DB_ROW)
        cb(ctx, (const char *)db_column_text(st, 0));
    db_finalize(st);
    if (rc != DB_DONE) {
        store__error(s, "list revoked sessions");
        return PB_EINTERNAL;
    }
    return 0;
}

int store_session_each_live(struct store *s, int64_t tenant_id, int64_t user_id,
                            void (*cb)(void *ctx, const char *sid), void *ctx)
{
    struct db_stmt *st = store__prepare(s, "SELECT access_jti FROM sessions WHERE tenant_id = ?1 "
                                  "AND user_id = ?2 AND revoked_at IS NULL "
                                  "AND access_jti IS NOT NULL", "session");
    int rc;
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, user_id);
    while ((rc = db_step(st)) == DB_ROW)
        cb(ctx, (const char *)db_column_text(st, 0));
    db_finalize(st);
    if (rc != DB_DONE) {
        store__error(s, "list live sessions");
        return PB_EINTERNAL;
    }
    return 0;
}
