/*
 * room_log — the room's event log in the database; see room_log.h.
 */
#include "store/room_log.h"

#include <string.h>

#include "store/store_int.h"

static int state_set(struct store *s, const char *value)
{
    struct db_stmt *st = store__stmt(s, ST_ROOM_STATE_SET);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_text(st, 1, value, -1, DB_STATIC);
    return store__run(s, st, "room log state", NULL);
}

/* Start and stop run outside serving (nothing waits on the loop then): they wait up to this
 * long for another process's write lock (the CLI's) instead of the loop connection's 100 ms. */
#define START_STOP_BUSY_MS 5000
#define LOOP_BUSY_MS 100                /* store.c's setting for the loop connection */

static int start(struct store *s, bool *rotated);

int store_room_log_start(struct store *s, bool *rotated)
{
    db_busy_timeout(s->db, START_STOP_BUSY_MS);
    int rc = start(s, rotated);
    db_busy_timeout(s->db, LOOP_BUSY_MS);
    return rc;
}

static int start(struct store *s, bool *rotated)
{
    struct db_stmt *st = store__stmt(s, ST_ROOM_STATE_GET);
    bool clean = false;
    int rc;

    if (rotated != NULL)
        *rotated = false;
    if (st == NULL)
        return PB_EINTERNAL;
    rc = store__step_row(s, st, "room log state");
    if (rc == 1)
        clean = strcmp((const char *)db_column_text(st, 0), "1") == 0;
    db_reset(st);
    if (rc < 0)
        return rc;
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if (!clean) {
        if ((st = store__stmt(s, ST_ROOM_ROTATE_ALL)) == NULL
            || store__run(s, st, "room log rotate", NULL) != 0)
            goto fail;
        if (rotated != NULL)
            *rotated = db_changes(s->db) > 0;
    }
    if (state_set(s, "0") != 0)
        goto fail;
    return store__commit(s);
fail:
    store__rollback(s);
    return PB_EINTERNAL;
}

int store_room_log_stop(struct store *s, const struct room_log_entry *e, size_t n)
{
    int rc = PB_EINTERNAL;
    db_busy_timeout(s->db, START_STOP_BUSY_MS);
    if (store__begin(s) == 0) {
        if (store_room_log_append(s, e, n) == 0 && state_set(s, "1") == 0)
            rc = store__commit(s);
        else
            store__rollback(s);
    }
    db_busy_timeout(s->db, LOOP_BUSY_MS);
    return rc;
}

int store_room_log_load(struct store *s, int64_t tenant_id, uint64_t after, bool *found,
                        char epoch[PB_EPOCH_LEN + 1], uint64_t *seq,
                        int (*each)(void *ctx, uint64_t seq, const char *frame, size_t len),
                        void *ctx)
{
    struct db_stmt *st = store__stmt(s, ST_ROOM_LOG_GET);
    int rc;

    *found = false;
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    rc = store__step_row(s, st, "room log");
    if (rc == 1) {
        const unsigned char *e = db_column_text(st, 0);
        if (e == NULL || strlen((const char *)e) != PB_EPOCH_LEN) {
            rc = 0;                     /* not ours (edited by hand): as if never logged */
        } else {
            memcpy(epoch, e, PB_EPOCH_LEN + 1);
            *seq = (uint64_t)db_column_int64(st, 1);
            *found = true;
        }
    }
    db_reset(st);
    if (rc < 0 || !*found)
        return rc < 0 ? rc : 0;
    if ((st = store__stmt(s, ST_ROOM_EVENTS_LOAD)) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, (int64_t)after);
    while ((rc = store__step_row(s, st, "room events")) == 1) {
        uint64_t s_seq = (uint64_t)db_column_int64(st, 0);
        const char *frame = (const char *)db_column_text(st, 1);
        if (frame == NULL)
            continue;
        if ((rc = each(ctx, s_seq, frame, (size_t)db_column_bytes(st, 1))) != 0)
            break;
    }
    db_reset(st);
    return rc < 0 ? rc : rc > 1 ? rc : 0;
}

int store_room_log_append(struct store *s, const struct room_log_entry *e, size_t n)
{
    struct db_stmt *st;

    if (n == 0)
        return 0;
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    uint64_t prune = 0;                 /* the highest prune_upto of the tenant's entries */
    for (size_t i = 0; i < n; i++) {
        if (e[i].prune_upto > prune)
            prune = e[i].prune_upto;
        if ((st = store__stmt(s, ST_ROOM_EVENT_INSERT)) == NULL)
            goto fail;
        db_bind_int64(st, 1, e[i].tenant_id);
        db_bind_int64(st, 2, (int64_t)e[i].seq);
        db_bind_text(st, 3, e[i].frame, (int)e[i].len, DB_STATIC);
        if (store__run(s, st, "room event", NULL) != 0)
            goto fail;
        /* A tenant's last entry of this batch: its room row and its pruning. */
        if (i + 1 < n && e[i + 1].tenant_id == e[i].tenant_id)
            continue;
        if ((st = store__stmt(s, ST_ROOM_LOG_UPSERT)) == NULL)
            goto fail;
        db_bind_int64(st, 1, e[i].tenant_id);
        db_bind_text(st, 2, e[i].epoch, PB_EPOCH_LEN, DB_STATIC);  /* a no-op write
                                         * (no page) while the epoch is the same */
        if (store__run(s, st, "room log", NULL) != 0)
            goto fail;
        if (prune > 0) {
            if ((st = store__stmt(s, ST_ROOM_EVENTS_PRUNE)) == NULL)
                goto fail;
            db_bind_int64(st, 1, e[i].tenant_id);
            db_bind_int64(st, 2, (int64_t)prune);
            if (store__run(s, st, "room events prune", NULL) != 0)
                goto fail;
        }
        prune = 0;                      /* the next tenant's */
    }
    return store__commit(s);
fail:
    store__rollback(s);
    return PB_EINTERNAL;
}
