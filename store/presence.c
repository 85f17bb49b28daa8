/*
 * presence — who is online across a PostgreSQL cluster; see presence.h.
 */
#include "store/presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/room_log.h"
#include "store/store_int.h"

static int failed(struct store *s)
{
    return (db_errcode(s->db) & 0xff) == SQLITE_IOERR ? PB_EUNAVAILABLE : PB_EINTERNAL;
}

/* One statement with int64 parameters (n of them) and an optional text at index t (0: none);
 * the first column of its first row into *out (may be NULL). 0, or a PB_E* code. */
static int run1(struct store *s, const char *sql, const int64_t *p, int n, int t,
                const char *text, int64_t *out)
{
    struct db_stmt *st = store__prepare(s, sql, "presence");
    int r;
    if (st == NULL)
        return failed(s);
    for (int i = 0; i < n; i++)
        if (i + 1 != t)
            db_bind_int64(st, i + 1, p[i]);
    if (t > 0)
        db_bind_text(st, t, text, -1, DB_STATIC);
    r = store__step_row(s, st, "presence");
    if (r == 1 && out != NULL)
        *out = db_column_int64(st, 0);
    db_finalize(st);
    return r < 0 ? failed(s) : 0;
}

static const char sql_others[] =
    "SELECT count(*) FROM presence WHERE tenant_id = ?1 AND user_id = ?2 AND node <> ?3";

/* Under the tenant's room_log row lock: insert (join) or delete (leave) this node's row of the
 * user, then count the user's rows on other nodes. *changed: the row was deleted (leave). */
static int presence_change(struct store *s, bool join, int64_t tenant_id, int64_t user_id,
                           const char *username, const char *node, bool *changed,
                           int64_t *others)
{
    static const char ins[] =
        "INSERT INTO presence(tenant_id, user_id, node, username) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT DO NOTHING";
    static const char del[] =
        "DELETE FROM presence WHERE tenant_id = ?1 AND user_id = ?2 AND node = ?3";
    struct db_stmt *st;
    int n = 0, rc;

    if (s->db->kind != DB_POSTGRES)
        return PB_EINTERNAL;
    if (store__begin(s) != 0)
        return failed(s);
    if ((rc = store_room_log_lock(s, tenant_id)) != 0)
        goto fail;
    if ((st = store__prepare(s, join ? ins : del, "presence")) == NULL) {
        rc = failed(s);
        goto fail;
    }
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, user_id);
    db_bind_text(st, 3, node, -1, DB_STATIC);
    if (join)
        db_bind_text(st, 4, username, -1, DB_STATIC);
    if ((rc = store__run_final(s, st, "presence", NULL, &n)) != 0
        || (rc = run1(s, sql_others, (int64_t[]){ tenant_id, user_id, 0 }, 3, 3, node,
                      others)) != 0)
        goto fail;
    if (store__commit(s) != 0)
        return failed(s);
    *changed = n > 0;
    return 0;
fail:
    store__rollback(s);
    return rc < 0 ? rc : PB_EINTERNAL;
}

int store_presence_join(struct store *s, int64_t tenant_id, int64_t user_id,
                        const char *username, const char *node, bool *first)
{
    bool changed;
    int64_t others = 0;
    int rc = presence_change(s, true, tenant_id, user_id, username, node, &changed, &others);
    *first = rc == 0 && others == 0;
    return rc;
}

int store_presence_leave(struct store *s, int64_t tenant_id, int64_t user_id,
                         const char *node, bool *last)
{
    bool changed = false;
    int64_t others = 0;
    int rc = presence_change(s, false, tenant_id, user_id, NULL, node, &changed, &others);
    *last = rc == 0 && changed && others == 0;
    return rc;
}

int store_presence_list(struct store *s, int64_t tenant_id, int64_t now_ms,
                        void (*each)(void *ctx, int64_t user_id, const char *username),
                        void *ctx)
{
    static const char sql[] =
        "SELECT p.user_id, min(p.username) FROM presence p JOIN nodes n ON n.node = p.node "
        "WHERE p.tenant_id = ?1 AND n.seen_ms > ?2 GROUP BY p.user_id ORDER BY p.user_id";
    struct db_stmt *st;
    int r;
    if (s->db->kind != DB_POSTGRES)
        return PB_EINTERNAL;
    if ((st = store__prepare(s, sql, "presence list")) == NULL)
        return failed(s);
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, now_ms - PB_PRESENCE_DEAD_MS);
    while ((r = store__step_row(s, st, "presence list")) == 1) {
        const char *name = (const char *)db_column_text(st, 1);
        each(ctx, db_column_int64(st, 0), name != NULL ? name : "");
    }
    db_finalize(st);
    return r < 0 ? failed(s) : 0;
}

struct gone {
    int64_t tenant_id, user_id;
    char username[PB_PRESENCE_NAME_MAX + 1];
};

static int gone_cmp(const void *a, const void *b)
{
    const struct gone *x = a, *y = b;
    if (x->tenant_id != y->tenant_id)
        return x->tenant_id < y->tenant_id ? -1 : 1;
    return x->user_id < y->user_id ? -1 : x->user_id > y->user_id;
}

/* Inside the caller's transaction: bound the lock waits of what follows to `value` (SET
 * LOCAL: a rollback of the caller's savepoint undoes it too); the bound before into prev
 * (may be NULL). The heartbeat and the sweep run on the reader thread, whose reads queue
 * behind them: they wait on a lock no longer than they did on the loop (100 ms), not the
 * reader's 5 s. 0, or a PB_E* code. */
static int lock_wait_bound(struct store *s, const char *value, char prev[32])
{
    struct db_stmt *st = store__prepare(
        s, "SELECT current_setting('lock_timeout'), set_config('lock_timeout', ?1, true)",
        "presence lock wait");
    int r;
    if (st == NULL)
        return failed(s);
    db_bind_text(st, 1, value, -1, DB_STATIC);
    r = store__step_row(s, st, "presence lock wait");
    if (r == 1 && prev != NULL)
        store__col_copy(st, 0, prev, 32);
    db_finalize(st);
    return r == 1 ? 0 : failed(s);
}

int store_presence_beat(struct store *s, const char *node, int64_t now_ms)
{
    static const char beat[] =
        "INSERT INTO nodes(node, seen_ms) VALUES (?1, ?2) "
        "ON CONFLICT (node) DO UPDATE SET seen_ms = excluded.seen_ms";
    struct db_stmt *st;
    if (s->db->kind != DB_POSTGRES)
        return PB_EINTERNAL;
    char prev[32];
    int rc;
    if (!db_in_transaction(s->db))
        return PB_EINTERNAL;
    if ((rc = lock_wait_bound(s, PB_PRESENCE_LOCK_WAIT, prev)) != 0)
        return rc;
    if ((st = store__prepare(s, beat, "presence beat")) == NULL)
        return failed(s);
    db_bind_text(st, 1, node, -1, DB_STATIC);
    db_bind_int64(st, 2, now_ms);
    if (store__run_final(s, st, "presence beat", NULL, NULL) != 0)
        return failed(s);
    return lock_wait_bound(s, prev, NULL);
}

int store_presence_sweep(struct store *s, int64_t now_ms,
                         int (*left)(void *ctx, int64_t tenant_id, int64_t user_id,
                                     const char *username),
                         void *ctx)
{
    /* SKIP LOCKED: a dead node another node is sweeping now is that node's to report; and a
     * sweep never waits on one, so it never waits for another node's reader batch that may
     * hold a room_log row this sweep will lock (no deadlock between two nodes' sweeps) */
    static const char dead[] =
        "DELETE FROM nodes WHERE node IN (SELECT node FROM nodes WHERE seen_ms <= ?1 "
        "FOR UPDATE SKIP LOCKED) RETURNING node";
    static const char rows[] =
        "DELETE FROM presence WHERE node = ?1 RETURNING tenant_id, user_id, username";
    struct db_stmt *st;
    struct gone *g = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0, n_names = 0;
    int r, swept = 0, rc = PB_EINTERNAL;

    /* The caller's transaction (a reader job's savepoint): a dead node's rows go with its
     * heartbeat row (the node whose DELETE returned it is the only one to report its users),
     * and so do the user_left events left() logs, or none of them. */
    char prev[32];
    if (s->db->kind != DB_POSTGRES || !db_in_transaction(s->db))
        return PB_EINTERNAL;
    if ((rc = lock_wait_bound(s, PB_PRESENCE_LOCK_WAIT, prev)) != 0)
        return rc;
    rc = PB_EINTERNAL;
    if ((st = store__prepare(s, dead, "presence dead nodes")) == NULL)
        goto fail_db;
    db_bind_int64(st, 1, now_ms - PB_PRESENCE_DEAD_MS);
    while ((r = store__step_row(s, st, "presence dead nodes")) == 1) {
        char **nn = realloc(names, (n_names + 1) * sizeof(*nn));
        const char *v = (const char *)db_column_text(st, 0);
        if (nn == NULL || (nn[n_names] = strdup(v != NULL ? v : "")) == NULL) {
            names = nn != NULL ? nn : names;
            db_finalize(st);
            goto out;
        }
        names = nn;
        n_names++;
    }
    db_finalize(st);
    if (r < 0)
        goto fail_db;
    for (size_t i = 0; i < n_names; i++) {
        if ((st = store__prepare(s, rows, "presence of a dead node")) == NULL)
            goto fail_db;
        db_bind_text(st, 1, names[i], -1, DB_STATIC);
        while ((r = store__step_row(s, st, "presence of a dead node")) == 1) {
            if (n == cap) {
                struct gone *ng = realloc(g, (cap = cap ? 2 * cap : 16) * sizeof(*ng));
                if (ng == NULL) {
                    db_finalize(st);
                    goto out;
                }
                g = ng;
            }
            g[n].tenant_id = db_column_int64(st, 0);
            g[n].user_id = db_column_int64(st, 1);
            store__col_copy(st, 2, g[n].username, sizeof(g[n].username));
            n++;
        }
        db_finalize(st);
        if (r < 0)
            goto fail_db;
        swept++;
    }
    /* the room_log rows below are waited for as long as a writer job waits for them (their
     * holders are other nodes' writes, short ones) */
    if ((rc = lock_wait_bound(s, prev, NULL)) != 0)
        goto out;
    rc = PB_EINTERNAL;
    if (n > 0)
        qsort(g, n, sizeof(*g), gone_cmp);
    /* Each tenant's room_log row, in ascending order (the order the lock sweeps take it; its
     * writers take one: no deadlock), before its users are counted: a join through another
     * node then either committed before (its row counts) or waits for this commit (and logs
     * its user_joined after this user_left). */
    for (size_t i = 0; i < n; i++)
        if ((i == 0 || g[i].tenant_id != g[i - 1].tenant_id)
            && store_room_log_lock(s, g[i].tenant_id) != 0)
            goto fail_db;
    /* Who has no row left anywhere has left (a user on a live node too is still online); a
     * user of two dead nodes is reported once (sorted: their rows are next to each other). */
    for (size_t i = 0; i < n; i++) {
        int64_t any = 0;
        if (i > 0 && g[i].tenant_id == g[i - 1].tenant_id && g[i].user_id == g[i - 1].user_id)
            continue;
        if ((rc = run1(s, "SELECT count(*) FROM presence WHERE tenant_id = ?1 AND user_id = ?2",
                       (int64_t[]){ g[i].tenant_id, g[i].user_id }, 2, 0, NULL, &any)) != 0)
            goto out;
        if (any == 0 && left != NULL
            && (rc = left(ctx, g[i].tenant_id, g[i].user_id, g[i].username)) != 0) {
            rc = rc < 0 ? rc : PB_EINTERNAL;
            goto out;
        }
    }
    rc = swept;
    goto out;
fail_db:
    rc = failed(s);
out:
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    free(g);
    return rc;
}
