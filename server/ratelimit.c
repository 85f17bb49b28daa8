/*
 * ratelimit — sliding-window attempt counter per key (SPEC §4 login rate limit).
 * Each key keeps the times of its last `limit` failures in a ring plus the number of its
 * attempts in flight: a key is limited while failures inside the window + attempts in flight
 * reach the limit. Keys live in an open-addressing table (linear probing, backward-shift
 * deletion) so a check is O(1) however many addresses are seen.
 */
#include "server/ratelimit.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

struct entry {
    char *key;                  /* malloc'd; NULL = empty slot */
    uint64_t hash;
    int64_t *times;             /* ring of `limit` failure times (ms), oldest at head */
    int head, count;            /* count: failures in the ring */
    int inflight;               /* attempts begun and not yet ended; count + inflight <= limit */
};

struct ratelimit {
    int limit;                  /* failures + in-flight attempts per key per window */
    int max_inflight;           /* in-flight attempts, all keys together */
    int inflight;               /* in-flight attempts now, all keys together */
    struct entry *ents;
    size_t cap, len;            /* cap: power of two; len <= cap / 2 */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;         /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct ratelimit *ratelimit_new(int per_minute, int max_inflight)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return NULL;
    rl->limit = per_minute < 1 ? 1 : per_minute;
    rl->max_inflight = max_inflight < 1 ? 1 : max_inflight;
    rl->cap = 64;
    rl->ents = calloc(rl->cap, sizeof(*rl->ents));
    if (rl->ents == NULL) {
        free(rl);
        return NULL;
    }
    return rl;
}

static void entry_free(struct entry *e)
{
    free(e->key);
    free(e->times);
    memset(e, 0, sizeof(*e));
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < rl->cap; i++)
        if (rl->ents[i].key != NULL)
            entry_free(&rl->ents[i]);
    free(rl->ents);
    free(rl);
}

static struct entry *find(const struct ratelimit *rl, const char *key, uint64_t h)
{
    for (size_t i = h & (rl->cap - 1);; i = (i + 1) & (rl->cap - 1)) {
        struct entry *e = &rl->ents[i];
        if (e->key == NULL)
            return NULL;
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    }
}

/* Failures of e inside the window ending at now; drops older ones from the ring. */
static int live_count(const struct ratelimit *rl, struct entry *e, int64_t now_ms)
{
    while (e->count > 0 && e->times[e->head] <= now_ms - PB_RATE_WINDOW_MS) {
        e->head = (e->head + 1) % rl->limit;
        e->count--;
    }
    return e->count;
}

static int grow(struct ratelimit *rl)
{
    size_t cap = rl->cap * 2;
    struct entry *ne = calloc(cap, sizeof(*ne));
    if (ne == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < rl->cap; i++) {
        struct entry *e = &rl->ents[i];
        if (e->key == NULL)
            continue;
        size_t j = e->hash & (cap - 1);
        while (ne[j].key != NULL)
            j = (j + 1) & (cap - 1);
        ne[j] = *e;
    }
    free(rl->ents);
    rl->ents = ne;
    rl->cap = cap;
    return 0;
}

/* The entry of key, created empty when missing. NULL on allocation failure. The pointer is
 * valid until the next insert (which may grow the table). */
static struct entry *upsert(struct ratelimit *rl, const char *key)
{
    uint64_t h = hash_str(key);
    struct entry *e = find(rl, key, h);
    if (e != NULL)
        return e;
    if ((rl->len + 1) * 2 > rl->cap && grow(rl) != 0)
        return NULL;
    size_t i = h & (rl->cap - 1);
    while (rl->ents[i].key != NULL)
        i = (i + 1) & (rl->cap - 1);
    e = &rl->ents[i];
    e->key = strdup(key);
    e->times = calloc((size_t)rl->limit, sizeof(*e->times));
    if (e->key == NULL || e->times == NULL) {
        entry_free(e);
        return NULL;
    }
    e->hash = h;
    rl->len++;
    return e;
}

/* 0 when key may start one more attempt at now_ms, else the seconds to wait (>= 1). */
static int64_t key_wait_s(const struct ratelimit *rl, const char *key, int64_t now_ms)
{
    struct entry *e = find(rl, key, hash_str(key));
    if (e == NULL || live_count(rl, e, now_ms) + e->inflight < rl->limit)
        return 0;
    if (e->count < rl->limit)
        return 1;       /* limited by attempts in flight: they end within about a second */
    int64_t wait_ms = e->times[e->head] + PB_RATE_WINDOW_MS - now_ms;
    return wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000;
}

int ratelimit_begin(struct ratelimit *rl, const char *const *keys, size_t n, int64_t now_ms,
                    int64_t *retry_after_s)
{
    int64_t wait = 0;
    assert(n <= 4);
    for (size_t i = 0; i < n; i++) {
        int64_t w = key_wait_s(rl, keys[i], now_ms);
        if (w > wait)
            wait = w;
    }
    if (wait == 0 && rl->inflight >= rl->max_inflight)
        wait = 1;
    if (wait > 0) {
        *retry_after_s = wait;
        return PB_ERATE_LIMITED;
    }
    for (size_t i = 0; i < n; i++) {
        struct entry *e = upsert(rl, keys[i]);
        if (e == NULL) {
            for (size_t j = 0; j < i; j++)      /* undo: count nothing */
                find(rl, keys[j], hash_str(keys[j]))->inflight--;
            return PB_EINTERNAL;
        }
        e->inflight++;
    }
    rl->inflight++;
    return 0;
}

void ratelimit_end(struct ratelimit *rl, const char *const *keys, size_t n, bool failed,
                   int64_t now_ms)
{
    for (size_t i = 0; i < n; i++) {
        struct entry *e = find(rl, keys[i], hash_str(keys[i]));
        assert(e != NULL && e->inflight > 0);   /* prune keeps keys with attempts in flight */
        if (e == NULL)
            continue;
        e->inflight--;
        if (!failed)
            continue;
        live_count(rl, e, now_ms);
        if (e->count == rl->limit) {            /* full: the oldest makes room */
            e->head = (e->head + 1) % rl->limit;
            e->count--;
        }
        e->times[(e->head + e->count) % rl->limit] = now_ms;
        e->count++;
    }
    assert(rl->inflight > 0);
    rl->inflight--;
}

int ratelimit_inflight(const struct ratelimit *rl)
{
    return rl->inflight;
}

/* Backward-shift deletion of slot i (keeps probe chains intact without tombstones). */
static void remove_at(struct ratelimit *rl, size_t i)
{
    entry_free(&rl->ents[i]);
    rl->len--;
    for (size_t j = (i + 1) & (rl->cap - 1); rl->ents[j].key != NULL; j = (j + 1) & (rl->cap - 1)) {
        size_t home = rl->ents[j].hash & (rl->cap - 1);
        /* move j back to i when its home is not in (i, j] cyclically */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            rl->ents[i] = rl->ents[j];
            memset(&rl->ents[j], 0, sizeof(rl->ents[j]));
            i = j;
        }
    }
}

size_t ratelimit_prune(struct ratelimit *rl, int64_t now_ms)
{
    for (size_t i = 0; i < rl->cap;) {
        struct entry *e = &rl->ents[i];
        if (e->key != NULL && live_count(rl, e, now_ms) == 0 && e->inflight == 0) {
            remove_at(rl, i);           /* slot i may now hold a shifted entry: look again */
            continue;
        }
        i++;
    }
    return rl->len;
}
