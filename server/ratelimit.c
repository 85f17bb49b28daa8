/*
 * ratelimit — sliding-window attempt counter per key (SPEC §4 login rate limit).
 * Each key keeps the times of its last `limit` failures in a ring plus the number of its
 * attempts in flight: a key is limited while failures inside the window + attempts in flight
 * reach the limit. Keys live in a core/hmap keyed by the key string (keyed SipHash: the
 * username part is the client's choice, so no client can line keys up in one probe run) so a
 * check is O(1) however many addresses are seen.
 */
#include "server/ratelimit.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/hmap.h"

struct entry {
    int64_t *times;             /* ring of `limit` failure times (ms), oldest at head */
    int head, count;            /* count: failures in the ring */
    int inflight;               /* attempts begun and not yet ended; count + inflight <= limit */
    char key[];                 /* the key (NUL-terminated), allocated with the entry */
};

struct ratelimit {
    int limit;                  /* failures + in-flight attempts per key per window */
    int max_inflight;           /* in-flight attempts, all keys together */
    int inflight;               /* in-flight attempts now, all keys together */
    struct hmap keys;           /* key string -> struct entry * (owned; the entry holds the key) */
};

/* hmap match: is val's key the string key? */
static bool entry_has_key(const void *ctx, const void *val, const void *key)
{
    (void)ctx;
    return strcmp(((const struct entry *)val)->key, key) == 0;
}

struct ratelimit *ratelimit_new(int per_minute, int max_inflight)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return NULL;
    rl->limit = per_minute < 1 ? 1 : per_minute;
    rl->max_inflight = max_inflight < 1 ? 1 : max_inflight;
    hmap_init(&rl->keys, entry_has_key, NULL);
    return rl;
}

static void entry_free(struct entry *e)
{
    if (e == NULL)
        return;
    free(e->times);
    free(e);
}

void ratelimit_free(struct ratelimit *rl)
{
    struct hmap_iter it;
    struct entry *e;

    if (rl == NULL)
        return;
    hmap_iter_init(&rl->keys, &it);
    while ((e = hmap_iter_next(&rl->keys, &it)) != NULL)
        entry_free(e);
    hmap_cleanup(&rl->keys);
    free(rl);
}

static struct entry *find(const struct ratelimit *rl, const char *key)
{
    return hmap_get_str(&rl->keys, key);
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

/* The entry of key, created empty when missing. NULL on allocation failure (nothing
 * changed). The pointer is valid until the entry is pruned. */
static struct entry *upsert(struct ratelimit *rl, const char *key)
{
    struct entry *e = find(rl, key);
    if (e != NULL)
        return e;
    size_t len = strlen(key);
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->key, key, len + 1);
    e->head = e->count = e->inflight = 0;
    e->times = calloc((size_t)rl->limit, sizeof(*e->times));
    if (e->times == NULL || hmap_reserve(&rl->keys, rl->keys.len + 1) != 0) {
        entry_free(e);
        return NULL;
    }
    hmap_put_str(&rl->keys, e->key, e);         /* reserved: cannot fail */
    return e;
}

/* 0 when key may start one more attempt at now_ms, else the seconds to wait (>= 1). */
static int64_t key_wait_s(const struct ratelimit *rl, const char *key, int64_t now_ms)
{
    struct entry *e = find(rl, key);
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
                find(rl, keys[j])->inflight--;
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
        struct entry *e = find(rl, keys[i]);
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

size_t ratelimit_prune(struct ratelimit *rl, int64_t now_ms)
{
    struct hmap_iter it;
    struct entry *e;

    hmap_iter_init(&rl->keys, &it);
    while ((e = hmap_iter_next(&rl->keys, &it)) != NULL) {
        if (live_count(rl, e, now_ms) == 0 && e->inflight == 0) {
            hmap_iter_del(&rl->keys, &it);
            entry_free(e);
        }
    }
    return rl->keys.len;
}
