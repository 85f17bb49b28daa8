/*
 * ratelimit — sliding-window failure counter per key (SPEC §4 login rate limit).
 * Each key keeps the times of its last `limit` failures in a ring: a key is limited while the
 * oldest of them is less than a window old. Keys live in an open-addressing table (linear
 * probing, backward-shift deletion) so a check is O(1) however many addresses are seen.
 */
#include "server/ratelimit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/errors.h"

struct entry {
    char *key;                  /* malloc'd; NULL = empty slot */
    uint64_t hash;
    int64_t *times;             /* ring of `limit` failure times (ms), oldest at head */
    int head, count;
};

struct ratelimit {
    int limit;
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

struct ratelimit *ratelimit_new(int limit)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return NULL;
    rl->limit = limit < 1 ? 1 : limit;
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

int ratelimit_check(const struct ratelimit *rl, const char *key, int64_t now_ms,
                    int64_t *retry_after_s)
{
    struct entry *e = find(rl, key, hash_str(key));
    if (e == NULL || live_count(rl, e, now_ms) < rl->limit)
        return 0;
    int64_t wait_ms = e->times[e->head] + PB_RATE_WINDOW_MS - now_ms;
    *retry_after_s = wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000;
    return PB_ERATE_LIMITED;
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

int ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    uint64_t h = hash_str(key);
    struct entry *e = find(rl, key, h);
    if (e == NULL) {
        if ((rl->len + 1) * 2 > rl->cap && grow(rl) != 0)
            return PB_EINTERNAL;
        size_t i = h & (rl->cap - 1);
        while (rl->ents[i].key != NULL)
            i = (i + 1) & (rl->cap - 1);
        e = &rl->ents[i];
        e->key = strdup(key);
        e->times = calloc((size_t)rl->limit, sizeof(*e->times));
        if (e->key == NULL || e->times == NULL) {
            entry_free(e);
            return PB_EINTERNAL;
        }
        e->hash = h;
        rl->len++;
    }
    live_count(rl, e, now_ms);
    if (e->count == rl->limit) {        /* full: the oldest makes room */
        e->head = (e->head + 1) % rl->limit;
        e->count--;
    }
    e->times[(e->head + e->count) % rl->limit] = now_ms;
    e->count++;
    return 0;
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
        if (e->key != NULL && live_count(rl, e, now_ms) == 0) {
            remove_at(rl, i);           /* slot i may now hold a shifted entry: look again */
            continue;
        }
        i++;
    }
    return rl->len;
}
