/*
 * room_log — the room's event log in the database; see room_log.h.
 */
#include "store/room_log.h"

#include <stdio.h>
#include <stdlib.h>
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

int store_room_log_notify_calendar(struct store *s, int64_t tenant_id, const char *node)
{
    char payload[80];
    if (!store_is_postgres(s))
        return 0;
    snprintf(payload, sizeof(payload), "%lld calendar %.24s", (long long)tenant_id, node);
    struct db_stmt *st = store__prepare(s, "SELECT pg_notify('planboard', ?1)", "notify");
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_text(st, 1, payload, -1, DB_STATIC);
    int r = store__step_row(s, st, "notify");
    db_finalize(st);
    return r < 0 ? PB_EINTERNAL : 0;
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

/* ---------------------------------------------------------------- PostgreSQL: the sequencer */

/* The tenant's room row, locked for this transaction (made with a new epoch on first use). */
static const char sql_lock[] =
    "INSERT INTO room_log(tenant_id, epoch) VALUES (?1, "
    "substr(md5(random()::text || clock_timestamp()::text), 1, 16)) "
    "ON CONFLICT (tenant_id) DO UPDATE SET epoch = room_log.epoch RETURNING epoch";
static const char sql_last[] =
    "SELECT COALESCE(max(seq), 0) FROM room_events WHERE tenant_id = ?1";

int store_room_log_sequence(struct store *s, struct room_log_event *ev, size_t n,
                            const char *node, uint64_t keep)
{
    struct db_stmt *lock = NULL, *last = NULL, *st;
    char *frame = NULL, payload[64];
    size_t cap = 0;
    int64_t tenant = 0;
    uint64_t seq = 0;

    if (n == 0)
        return 0;
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if ((lock = store__prepare(s, sql_lock, "room log lock")) == NULL
        || (last = store__prepare(s, sql_last, "room log last")) == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || ev[i].tenant_id != tenant) {      /* a tenant's first event here */
            tenant = ev[i].tenant_id;
            db_reset(lock);
            db_bind_int64(lock, 1, tenant);
            db_reset(last);
            db_bind_int64(last, 1, tenant);
            if (store__step_row(s, lock, "room log lock") != 1
                || store__step_row(s, last, "room log last") != 1)
                goto fail;
            seq = (uint64_t)db_column_int64(last, 0);
            db_reset(lock);
            db_reset(last);
        }
        ev[i].seq = ++seq;
        char num[32];
        int k = snprintf(num, sizeof(num), ",\"seq\":%llu", (unsigned long long)seq);
        if (ev[i].len + (size_t)k + 1 > cap) {
            char *nf = realloc(frame, cap = ev[i].len + (size_t)k + 1);
            if (nf == NULL)
                goto fail;
            frame = nf;
        }
        memcpy(frame, ev[i].frame, ev[i].split);
        memcpy(frame + ev[i].split, num, (size_t)k);
        memcpy(frame + ev[i].split + k, ev[i].frame + ev[i].split, ev[i].len - ev[i].split);
        if ((st = store__stmt(s, ST_ROOM_EVENT_INSERT)) == NULL)
            goto fail;
        db_bind_int64(st, 1, tenant);
        db_bind_int64(st, 2, (int64_t)seq);
        db_bind_text(st, 3, frame, (int)(ev[i].len + (size_t)k), DB_STATIC);
        if (store__run(s, st, "room event", NULL) != 0)
            goto fail;
        if (seq % 64 == 0 && seq > keep) {              /* the log keeps the newest `keep` */
            if ((st = store__stmt(s, ST_ROOM_EVENTS_PRUNE)) == NULL)
                goto fail;
            db_bind_int64(st, 1, tenant);
            db_bind_int64(st, 2, (int64_t)(seq - keep));
            if (store__run(s, st, "room events prune", NULL) != 0)
                goto fail;
        }
        if (i + 1 < n && ev[i + 1].tenant_id == tenant)
            continue;
        /* NOTIFY is sent at COMMIT, in commit order, to every listening node. */
        snprintf(payload, sizeof(payload), "%lld %llu %.24s", (long long)tenant,
                 (unsigned long long)seq, node);
        if ((st = store__prepare(s, "SELECT pg_notify('planboard', ?1)", "notify")) == NULL)
            goto fail;
        db_bind_text(st, 1, payload, -1, DB_STATIC);
        int r = store__step_row(s, st, "notify");
        db_finalize(st);
        if (r < 0)
            goto fail;
    }
    db_finalize(lock);
    db_finalize(last);
    free(frame);
    return store__commit(s);
fail:
    db_finalize(lock);
    db_finalize(last);
    free(frame);
    store__rollback(s);
    return PB_EINTERNAL;
}

int store_room_log_claim(struct store *s, int64_t tenant_id, const char *epoch)
{
    struct db_stmt *st = store__prepare(s, "INSERT INTO room_log(tenant_id, epoch) VALUES (?1, ?2) "
                                           "ON CONFLICT (tenant_id) DO NOTHING", "room log claim");
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, epoch, PB_EPOCH_LEN, DB_STATIC);
    return store__run_final(s, st, "room log claim", NULL, NULL);
}

int store_room_log_lock(struct store *s, int64_t tenant_id)
{
    struct db_stmt *st = store__prepare(s, sql_lock, "room log lock");
    int r;
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    r = store__step_row(s, st, "room log lock");
    db_finalize(st);
    return r == 1 ? 0 : PB_EINTERNAL;
}
