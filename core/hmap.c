/*
 * hmap — open addressing, linear probing, backward-shift deletion (see hmap.h for the
 * contract). The home slot of an entry is hash & (cap - 1); every entry sits in its home slot
 * or after it in one run of full slots (its probe run), which is what get, del and the
 * iterator rely on.
 */
#include "core/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/strhash.h"

#define HMAP_MIN_CAP 16                 /* power of two */

uint64_t hmap_hash_int(int64_t key)
{
    uint64_t x = (uint64_t)key;        /* splitmix64 finaliser: each step is invertible */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t hmap_hash_str(const char *s)
{
    return pb_strhash(s, strlen(s));
}

void hmap_init(struct hmap *m, hmap_match_fn match, const void *ctx)
{
    memset(m, 0, sizeof(*m));
    m->match = match;
    m->match_ctx = ctx;
}

void hmap_cleanup(struct hmap *m)
{
    free(m->ents);
    m->ents = NULL;
    m->cap = 0;
    m->len = 0;
}

/* Smallest power of two >= 2n (load factor <= 1/2), at least HMAP_MIN_CAP. */
static size_t cap_for(size_t n)
{
    size_t cap = HMAP_MIN_CAP;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

/* Move every entry into a fresh array of cap slots (cap holds len at load <= 1/2). 0 or
 * PB_EINTERNAL (nothing changed). Keys are distinct, so no match call is needed. */
static int rebuild(struct hmap *m, size_t cap)
{
    struct hmap_ent *ents = calloc(cap, sizeof(*ents));
    if (ents == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->ents[i].val == NULL)
            continue;
        size_t j = m->ents[i].hash & (cap - 1);
        while (ents[j].val != NULL)
            j = (j + 1) & (cap - 1);
        ents[j] = m->ents[i];
    }
    free(m->ents);
    m->ents = ents;
    m->cap = cap;
    return 0;
}

int hmap_clone(struct hmap *dst, const struct hmap *src, size_t n)
{
    struct hmap c = *src;               /* match, ctx, len; the slots are copied below */
    size_t cap = cap_for(n < src->len ? src->len : n);
    if ((c.ents = calloc(cap, sizeof(*c.ents))) == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < src->cap; i++) {
        if (src->ents[i].val == NULL)
            continue;
        size_t j = src->ents[i].hash & (cap - 1);
        while (c.ents[j].val != NULL)
            j = (j + 1) & (cap - 1);
        c.ents[j] = src->ents[i];
    }
    c.cap = cap;
    *dst = c;
    return 0;
}

int hmap_reserve(struct hmap *m, size_t n)
{
    if (n < m->len)
        n = m->len;
    if (2 * n <= m->cap)
        return 0;
    return rebuild(m, cap_for(n));
}

void hmap_shrink(struct hmap *m)
{
    if (m->cap > HMAP_MIN_CAP && m->len * 8 < m->cap)
        (void)rebuild(m, cap_for(m->len));
}

static bool same_key(const struct hmap *m, const struct hmap_ent *e, uint64_t hash,
                     const void *key)
{
    return e->hash == hash && (m->match == NULL || m->match(m->match_ctx, e->val, key));
}

/* The slot holding (hash, key), or the empty slot ending its probe run. cap > 0. Terminates:
 * load <= 1/2 keeps empty slots. */
static size_t find(const struct hmap *m, uint64_t hash, const void *key)
{
    size_t mask = m->cap - 1, i = hash & mask;
    while (m->ents[i].val != NULL && !same_key(m, &m->ents[i], hash, key))
        i = (i + 1) & mask;
    return i;
}

void *hmap_get(const struct hmap *m, uint64_t hash, const void *key)
{
    if (m->cap == 0)
        return NULL;
    return m->ents[find(m, hash, key)].val;
}

void *hmap_put(struct hmap *m, uint64_t hash, const void *key, void *val)
{
    /* Callers that must not fail have reserved, so this growth does not happen for them. */
    if (2 * (m->len + 1) > m->cap && hmap_get(m, hash, key) == NULL
        && hmap_reserve(m, m->len + 1) != 0)
        abort();
    size_t i = find(m, hash, key);
    void *old = m->ents[i].val;
    if (old == NULL)
        m->len++;
    m->ents[i].hash = hash;
    m->ents[i].val = val;
    return old;
}

/* Empty slot i (full) by backward shift: each later member of the run whose home does not lie
 * cyclically in (hole, j] moves back into the hole, which moves on to j. */
static void remove_at(struct hmap *m, size_t i)
{
    size_t mask = m->cap - 1, hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->ents[j].val == NULL)
            break;
        size_t home = m->ents[j].hash & mask;
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->ents[hole] = m->ents[j];
            hole = j;
        }
    }
    m->ents[hole].val = NULL;
    m->ents[hole].hash = 0;
    m->len--;
}

void *hmap_del(struct hmap *m, uint64_t hash, const void *key)
{
    if (m->cap == 0)
        return NULL;
    size_t i = find(m, hash, key);
    void *val = m->ents[i].val;
    if (val != NULL)
        remove_at(m, i);
    return val;
}

/* ---------------------------------------------------------------- iteration */

void hmap_iter_init(const struct hmap *m, struct hmap_iter *it)
{
    it->next = it->left = it->cur = 0;
    if (m->len == 0)
        return;
    /* Start right after an empty slot (one exists: load <= 1/2), so no probe run is split
     * between the end and the start of the walk. */
    size_t e = 0;
    while (m->ents[e].val != NULL)
        e++;
    it->next = (e + 1) & (m->cap - 1);
    it->left = m->cap;
}

void *hmap_iter_next(const struct hmap *m, struct hmap_iter *it)
{
    while (it->left > 0) {
        size_t i = it->next;
        it->next = (i + 1) & (m->cap - 1);
        it->left--;
        if (m->ents[i].val != NULL) {
            it->cur = i;
            return m->ents[i].val;
        }
    }
    return NULL;
}

void hmap_iter_del(struct hmap *m, struct hmap_iter *it)
{
    remove_at(m, it->cur);
    /* An entry of the same run, not visited yet, may have moved into it->cur: look again. */
    if (m->ents[it->cur].val != NULL) {
        it->next = it->cur;
        it->left++;
    }
}

bool hmap_check(const struct hmap *m)
{
    size_t n = 0;

    if (m->cap == 0)
        return m->len == 0 && m->ents == NULL;
    if (m->cap < HMAP_MIN_CAP || (m->cap & (m->cap - 1)) != 0 || 2 * m->len > m->cap)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->ents[i].val == NULL)
            continue;
        n++;
        /* Every slot from the home slot up to i is full. */
        for (size_t j = m->ents[i].hash & (m->cap - 1); j != i; j = (j + 1) & (m->cap - 1))
            if (m->ents[j].val == NULL)
                return false;
    }
    return n == m->len;
}
