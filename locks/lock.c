/*
 * locks — the in-memory drag-lock table of SPEC §5 "Drag locks".
 *
 * A core/hmap keyed by (tenant_id, order_id) whose values are the locks themselves (one
 * malloc'd struct drag_lock each; its first two fields are the key). A pointer handed out by
 * lock_acquire()/lock_get() stays valid until that lock is released or swept, which is more
 * than lock.h promises. The hmap removes by backward shift, so no tombstones pile up under a
 * burst of drags; the sweeps (lock_expire, lock_release_user) rebuild the slot array smaller
 * when it has become mostly empty (hmap_shrink), so a burst does not pin a large array.
 */
#include "locks/lock.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/hmap.h"

/* ------------------------------------------------------------------------------------------ */
/* Table                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct lock_table {
    struct hmap locks;                  /* (tenant_id, order_id) -> struct drag_lock * (owned) */
};

struct lock_key {
    int64_t tenant_id;
    int64_t order_id;
};

/* splitmix64 finaliser over both key halves: order ids are small consecutive integers, so the
 * raw value would cluster badly under linear probing with a power-of-two mask. Not keyed:
 * both ids are assigned by the server, never chosen by a client. */
static uint64_t key_hash(int64_t tenant_id, int64_t order_id)
{
    uint64_t x = (uint64_t)order_id ^ ((uint64_t)tenant_id * 0x9E3779B97F4A7C15ull);

    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* hmap match: does lock val have key (a struct lock_key)? */
static bool lock_has_key(const void *ctx, const void *val, const void *key)
{
    const struct drag_lock *l = val;
    const struct lock_key *k = key;

    (void)ctx;
    return l->order_id == k->order_id && l->tenant_id == k->tenant_id;
}

static struct drag_lock *find(const struct lock_table *lt, int64_t tenant_id, int64_t order_id)
{
    struct lock_key k = { tenant_id, order_id };

    return hmap_get(&lt->locks, key_hash(tenant_id, order_id), &k);
}

struct lock_table *lock_table_new(void)
{
    struct lock_table *lt = calloc(1, sizeof(*lt));

    if (lt == NULL)
        return NULL;
    hmap_init(&lt->locks, lock_has_key, NULL);
    return lt;
}

void lock_table_free(struct lock_table *lt)
{
    struct hmap_iter it;
    struct drag_lock *l;

    if (lt == NULL)
        return;
    hmap_iter_init(&lt->locks, &it);
    while ((l = hmap_iter_next(&lt->locks, &it)) != NULL)
        free(l);
    hmap_cleanup(&lt->locks);
    free(lt);
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void set_username(struct drag_lock *l, const char *username)
{
    size_t n = username ? strnlen(username, PB_LOCK_USERNAME_MAX) : 0;

    memcpy(l->username, username ? username : "", n);
    l->username[n] = '\0';
}

/*
 * See lock.h. A renewal by the holder (unexpired lock) returns 1; a lock that has expired counts
 * as free for anyone, including its former holder, and is replaced (returns 0). PB_EINTERNAL
 * when the table could not grow (nothing changed).
 */
int lock_put(struct lock_table *lt, int64_t tenant_id, int64_t order_id, int64_t user_id,
             const char *username, int64_t expires_at_ms, const struct drag_lock **out)
{
    struct lock_key k = { tenant_id, order_id };
    struct drag_lock *l = find(lt, tenant_id, order_id);

    if (l == NULL) {
        l = malloc(sizeof(*l));
        if (l == NULL || hmap_reserve(&lt->locks, lt->locks.len + 1) != 0) {
            free(l);
            return PB_EINTERNAL;
        }
        l->tenant_id = tenant_id;
        l->order_id = order_id;
        hmap_put(&lt->locks, key_hash(tenant_id, order_id), &k, l); /* reserved: cannot fail */
    }
    l->user_id = user_id;
    set_username(l, username);
    l->expires_at_ms = expires_at_ms;
    if (out)
        *out = l;
    return 0;
}

int lock_acquire(struct lock_table *lt, int64_t tenant_id, int64_t order_id, int64_t user_id,
                 const char *username, int64_t now_ms, int64_t ttl_ms,
                 const struct drag_lock **out)
{
    struct drag_lock *l;

    assert(lt != NULL);
    l = find(lt, tenant_id, order_id);
    bool live = l != NULL && l->expires_at_ms > now_ms;
    if (live && l->user_id != user_id) {
        if (out)
            *out = l;
        return PB_ELOCKED;
    }
    if (lock_put(lt, tenant_id, order_id, user_id, username, now_ms + ttl_ms, out) != 0)
        return PB_EINTERNAL;
    return live ? 1 : 0;                /* live here means held by user_id: renewed */
}

const struct drag_lock *lock_get(const struct lock_table *lt, int64_t tenant_id,
                                 int64_t order_id, int64_t now_ms)
{
    const struct drag_lock *l;

    assert(lt != NULL);
    l = find(lt, tenant_id, order_id);
    if (l == NULL || l->expires_at_ms <= now_ms)
        return NULL;
    return l;
}

/* See lock.h. An expired-but-unswept lock of the user is removed like a live one. */
int lock_release(struct lock_table *lt, int64_t tenant_id, int64_t order_id, int64_t user_id,
                 struct drag_lock *removed)
{
    struct lock_key k = { tenant_id, order_id };
    struct drag_lock *l;

    assert(lt != NULL);
    l = find(lt, tenant_id, order_id);
    if (l == NULL || (user_id != 0 && l->user_id != user_id))
        return PB_ENOT_FOUND;
    if (removed)
        *removed = *l;
    hmap_del(&lt->locks, key_hash(tenant_id, order_id), &k);
    free(l);
    return 0;
}

/*
 * Remove every lock for which match() is true, calling cb with a copy after removal.
 * One pass over the slots: O(capacity). cb must not change the table (it would invalidate the
 * walk).
 */
static size_t sweep(struct lock_table *lt, bool (*match)(const struct drag_lock *, const void *),
                    const void *arg, lock_removed_fn cb, void *ctx)
{
    struct hmap_iter it;
    struct drag_lock *l;
    size_t n = 0;

    hmap_iter_init(&lt->locks, &it);
    while ((l = hmap_iter_next(&lt->locks, &it)) != NULL) {
        struct drag_lock copy;

        if (!match(l, arg))
            continue;
        copy = *l;
        hmap_iter_del(&lt->locks, &it);
        free(l);
        n++;
        if (cb)
            cb(ctx, &copy);
    }
    if (n > 0)
        hmap_shrink(&lt->locks);
    assert(hmap_check(&lt->locks));
    return n;
}

static bool match_expired(const struct drag_lock *l, const void *arg)
{
    return l->expires_at_ms <= *(const int64_t *)arg;
}

size_t lock_expire(struct lock_table *lt, int64_t now_ms, lock_removed_fn cb, void *ctx)
{
    assert(lt != NULL);
    return sweep(lt, match_expired, &now_ms, cb, ctx);
}

struct user_key {
    int64_t tenant_id;
    int64_t user_id;
};

static bool match_user(const struct drag_lock *l, const void *arg)
{
    const struct user_key *k = arg;

    return l->tenant_id == k->tenant_id && l->user_id == k->user_id;
}

size_t lock_release_user(struct lock_table *lt, int64_t tenant_id, int64_t user_id,
                         lock_removed_fn cb, void *ctx)
{
    struct user_key k = { tenant_id, user_id };

    assert(lt != NULL);
    return sweep(lt, match_user, &k, cb, ctx);
}

void lock_each(const struct lock_table *lt, int64_t tenant_id, int64_t now_ms,
               lock_removed_fn cb, void *ctx)
{
    struct hmap_iter it;
    const struct drag_lock *l;

    assert(lt != NULL && cb != NULL);
    hmap_iter_init(&lt->locks, &it);
    while ((l = hmap_iter_next(&lt->locks, &it)) != NULL)
        if (l->tenant_id == tenant_id && l->expires_at_ms > now_ms)
            cb(ctx, l);
}

size_t lock_count(const struct lock_table *lt)
{
    assert(lt != NULL);
    return lt->locks.len;
}
