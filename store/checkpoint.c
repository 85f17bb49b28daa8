/*
 * checkpoint — WAL checkpoints on a thread of their own; see checkpoint.h.
 */
#include "store/checkpoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store_int.h"

struct checkpointer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    sqlite3 *db;                        /* the thread's own connection */
    char *wal_path;
    bool kicked;                        /* {lock} the WAL passed CHECKPOINT_FRAMES */
    bool stop;                          /* {lock} */
    struct checkpoint_stats stats;      /* {lock} */
};

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : (errno == ENOENT ? 0 : -1);
}

/* One round: PASSIVE; RESTART when the WAL has not started over for a while; TRUNCATE when
 * everything was copied and the file is still big (see checkpoint.h). */
static void checkpoint_round(struct checkpointer *c)
{
    int log = 0, done = 0, busy = 0, copied = 0, restarted = 0, truncated = 0;
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK)
        busy = 1;
    else if (log > 0 && done > 0)
        copied = 1;
    if (rc == SQLITE_OK && log >= CHECKPOINT_RESTART_FRAMES) {
        /* the loop never paused long enough for a PASSIVE to catch up, so its writes never
         * started the WAL over: copy the rest with the write lock held (waiting at most
         * CHECKPOINT_RESTART_WAIT_MS for the loop's transaction to end) */
        sqlite3_busy_timeout(c->db, CHECKPOINT_RESTART_WAIT_MS);
        if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done)
            == SQLITE_OK)
            restarted = 1;
        else
            busy++;
        sqlite3_busy_timeout(c->db, 0);
    }
    int64_t size = file_size(c->wal_path);
    if (rc == SQLITE_OK && log >= 0 && done == log && size > CHECKPOINT_TRUNCATE_BYTES) {
        if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL)
            == SQLITE_OK) {
            truncated = 1;
            size = file_size(c->wal_path);
        } else {
            busy++;
        }
    }
    pthread_mutex_lock(&c->lock);
    c->stats.checkpoints += (uint64_t)copied;
    c->stats.restarts += (uint64_t)restarted;
    c->stats.truncates += (uint64_t)truncated;
    c->stats.busy += (uint64_t)busy;
    c->stats.wal_bytes = size;
    pthread_mutex_unlock(&c->lock);
}

static void *checkpoint_thread(void *arg)
{
    struct checkpointer *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        if (!c->kicked) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += CHECKPOINT_PERIOD_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&c->wake, &c->lock, &until);
            if (c->stop)
                break;
        }
        c->kicked = false;
        pthread_mutex_unlock(&c->lock);
        checkpoint_round(c);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* SQLite's WAL hook, on the committing (loop) thread after each commit, with the frames now in
 * the WAL: wake the thread once the WAL passes CHECKPOINT_FRAMES (SQLite's own automatic
 * checkpoint is this same hook doing the checkpoint itself, inside the commit). */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
    struct checkpointer *c = ctx;
    (void)db;
    (void)name;
    if (frames >= CHECKPOINT_FRAMES) {
        pthread_mutex_lock(&c->lock);
        if (!c->kicked) {
            c->kicked = true;
            pthread_cond_signal(&c->wake);
        }
        pthread_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

static void free_checkpointer(struct checkpointer *c)
{
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c->wal_path);
    free(c);
}

int checkpointer_start(struct store *s, struct checkpointer **out)
{
    const char *path = s->db->kind == DB_SQLITE ? sqlite3_db_filename(s->db->lite, "main") : NULL;
    struct checkpointer *c;
    pthread_condattr_t ca;
    char pragma[160];

    *out = NULL;
    if (path == NULL || *path == '\0' || s->wal_path == NULL || (c = calloc(1, sizeof(*c))) == NULL)
        return PB_EINTERNAL;
    c->stats.wal_bytes = -1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &ca);
    pthread_condattr_destroy(&ca);
    if ((c->wal_path = strdup(s->wal_path)) == NULL
        || sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)
               != SQLITE_OK
        || sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0",
                        NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(s->errmsg, sizeof(s->errmsg), "checkpointer: %s",
                 c->db != NULL ? sqlite3_errmsg(c->db) : "out of memory");
        free_checkpointer(c);
        return PB_EINTERNAL;
    }
    sqlite3_busy_timeout(c->db, 0);     /* TRUNCATE gives up instead of waiting for the loop */
    snprintf(pragma, sizeof(pragma), "PRAGMA wal_autocheckpoint = 0; "
             "PRAGMA journal_size_limit = %lld", (long long)CHECKPOINT_TRUNCATE_BYTES);
    if (store_exec(s, pragma) != 0) {
        free_checkpointer(c);
        return PB_EINTERNAL;
    }
    if (pthread_create(&c->thread, NULL, checkpoint_thread, c) != 0) {
        store_exec(s, "PRAGMA wal_autocheckpoint = 1000");
        free_checkpointer(c);
        return PB_EINTERNAL;
    }
    /* after the pragma: wal_autocheckpoint and the WAL hook replace each other */
    sqlite3_wal_hook(s->db->lite, on_wal_commit, c);
    s->checkpointer = c;
    *out = c;
    return 0;
}

void checkpointer_stop(struct store *s, struct checkpointer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    if (s->checkpointer == c)
        s->checkpointer = NULL;
    sqlite3_wal_hook(s->db->lite, NULL, NULL);
    store_exec(s, "PRAGMA wal_autocheckpoint = 1000");     /* SQLite's default */
    free_checkpointer(c);
}

void checkpointer_stats(struct checkpointer *c, struct checkpoint_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
}
