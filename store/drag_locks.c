/*
 * drag_locks — the drag locks of a PostgreSQL cluster; see drag_locks.h.
 */
#include "store/drag_locks.h"

#include <stdio.h>
#include <string.h>

#include "store/store_int.h"

/* A failed statement's code: PB_EUNAVAILABLE when the database is out of reach. */
static int failed(struct store *s)
{
    return (db_errcode(s->db) & 0xff) == SQLITE_IOERR ? PB_EUNAVAILABLE : PB_EINTERNAL;
}

static void row_of(struct db_stmt *st, int first, struct drag_lock_row *r)
{
    r->tenant_id = db_column_int64(st, first);
    r->order_id = db_column_int64(st, first + 1);
    r->user_id = db_column_int64(st, first + 2);
    store__col_copy(st, first + 3, r->username, sizeof(r->username));
    r->expires_at_ms = db_column_int64(st, first + 4);
}

int store_drag_lock_take(struct store *s, const struct drag_lock_row *want, const char *node,
                         int64_t now_ms, bool *renewed, struct drag_lock_row *holder)
{
    /* old: the row before this statement (its snapshot), to tell a renewal from a new lock */
    static const char take[] =
        "WITH old AS (SELECT user_id, expires_at_ms FROM drag_locks "
        "WHERE tenant_id = ?1 AND order_id = ?2) "
        "INSERT INTO drag_locks(tenant_id, order_id, user_id, username, node, expires_at_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, order_id) DO UPDATE SET "
        "user_id = excluded.user_id, username = excluded.username, node = excluded.node, "
        "expires_at_ms = excluded.expires_at_ms "
        "WHERE drag_locks.expires_at_ms <= ?7 OR drag_locks.user_id = excluded.user_id "
        "RETURNING (SELECT user_id FROM old), (SELECT expires_at_ms FROM old)";
    static const char who[] =
        "SELECT tenant_id, order_id, user_id, username, expires_at_ms FROM drag_locks "
        "WHERE tenant_id = ?1 AND order_id = ?2";
    struct db_stmt *st;
    int r;

    *renewed = false;
    if (s->db->kind != DB_POSTGRES)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, take, "drag lock take")) == NULL)
        return failed(s);
    db_bind_int64(st, 1, want->tenant_id);
    db_bind_int64(st, 2, want->order_id);
    db_bind_int64(st, 3, want->user_id);
    db_bind_text(st, 4, want->username, -1, DB_STATIC);
    db_bind_text(st, 5, node, -1, DB_STATIC);
    db_bind_int64(st, 6, want->expires_at_ms);
    db_bind_int64(st, 7, now_ms);
    r = store__step_row(s, st, "drag lock take");
    if (r == 1)
        *renewed = db_column_type(st, 0) != DB_NULL && db_column_int64(st, 0) == want->user_id
                   && db_column_int64(st, 1) > now_ms;
    db_finalize(st);
    if (r < 0)
        return failed(s);
    if (r == 1)
        return 0;
    /* held by someone else: who (the row may have gone since: then try once more later) */
    if ((st = store__prepare(s, who, "drag lock holder")) == NULL)
        return failed(s);
    db_bind_int64(st, 1, want->tenant_id);
    db_bind_int64(st, 2, want->order_id);
    r = store__step_row(s, st, "drag lock holder");
    if (r == 1)
        row_of(st, 0, holder);
    db_finalize(st);
    if (r < 0)
        return failed(s);
    if (r == 0) {                       /* released between the two statements */
        memset(holder, 0, sizeof(*holder));
        holder->tenant_id = want->tenant_id;
        holder->order_id = want->order_id;
        holder->expires_at_ms = now_ms;
    }
    return PB_ELOCKED;
}

int store_drag_lock_remove(struct store *s, int64_t tenant_id, int64_t order_id,
                           int64_t user_id, const char *node, int64_t expired_at_ms,
                           void (*each)(void *ctx, const struct drag_lock_row *row), void *ctx)
{
    static const char sql[] =
        "DELETE FROM drag_locks WHERE (CAST(?1 AS BIGINT) = 0 OR tenant_id = ?1) "
        "AND (CAST(?2 AS BIGINT) = 0 OR order_id = ?2) "
        "AND (CAST(?3 AS BIGINT) = 0 OR user_id = ?3) AND (CAST(?4 AS TEXT) IS NULL OR node = ?4) "
        "AND (CAST(?5 AS BIGINT) = 0 OR expires_at_ms <= ?5) "
        "RETURNING tenant_id, order_id, user_id, username, expires_at_ms";
    struct db_stmt *st;
    struct drag_lock_row row;
    int r, n = 0;

    if (s->db->kind != DB_POSTGRES)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, sql, "drag lock remove")) == NULL)
        return failed(s);
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, order_id);
    db_bind_int64(st, 3, user_id);
    if (node != NULL)
        db_bind_text(st, 4, node, -1, DB_STATIC);
    db_bind_int64(st, 5, expired_at_ms);
    while ((r = store__step_row(s, st, "drag lock remove")) == 1) {
        row_of(st, 0, &row);
        n++;
        if (each != NULL)
            each(ctx, &row);
    }
    db_finalize(st);
    return r < 0 ? failed(s) : n;
}

int store_drag_lock_tenants(struct store *s, const char *node, int64_t expired_at_ms,
                            int64_t *out, size_t cap)
{
    static const char sql[] =
        "SELECT DISTINCT tenant_id FROM drag_locks WHERE (CAST(?1 AS TEXT) IS NULL OR node = ?1) "
        "AND (CAST(?2 AS BIGINT) = 0 OR expires_at_ms <= ?2) ORDER BY tenant_id LIMIT ?3";
    struct db_stmt *st;
    size_t n = 0;
    int r = 0;

    if (s->db->kind != DB_POSTGRES)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, sql, "drag lock tenants")) == NULL)
        return failed(s);
    if (node != NULL)
        db_bind_text(st, 1, node, -1, DB_STATIC);
    db_bind_int64(st, 2, expired_at_ms);
    db_bind_int64(st, 3, (int64_t)cap);
    while (n < cap && (r = store__step_row(s, st, "drag lock tenants")) == 1)
        out[n++] = db_column_int64(st, 0);
    db_finalize(st);
    return n < cap && r < 0 ? failed(s) : (int)n;
}

int store_drag_lock_list(struct store *s, int64_t tenant_id, int64_t now_ms,
                         void (*each)(void *ctx, const struct drag_lock_row *row), void *ctx)
{
    static const char sql[] =
        "SELECT tenant_id, order_id, user_id, username, expires_at_ms FROM drag_locks "
        "WHERE tenant_id = ?1 AND expires_at_ms > ?2";
    struct db_stmt *st;
    struct drag_lock_row row;
    int n = 0, r;

    if (s->db->kind != DB_POSTGRES)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, sql, "drag lock list")) == NULL)
        return failed(s);
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, now_ms);
    while ((r = store__step_row(s, st, "drag lock list")) == 1) {
        memset(&row, 0, sizeof(row));
        row_of(st, 0, &row);
        each(ctx, &row);
        n++;
    }
    db_finalize(st);
    return r < 0 ? failed(s) : n;
}
