/*
 * locks — the in-memory drag-lock table of SPEC §5 "Drag locks".
 *
 * An open-addressing hash table (linear probing) keyed by (tenant_id, order_id). Entries are
 * stored inline in the slot array, so lock_acquire()/lock_get() can hand out pointers into it;
 * such a pointer stays valid until the next call that changes the table (an insert may rehash).
 *
 * Removal leaves a tombstone so probe chains stay intact. Tombstones count towards the load
 * factor; when live + tombstones would pass 3/4 of the capacity the table is rebuilt (growing
 * only when the live entries need it), which drops every tombstone. The sweeps
 * (lock_expire, lock_release_user) also rebuild smaller when the table has become mostly empty,
 * so a burst of drags does not pin a large array forever.
 */
#include "locks/lock.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

/* ------------------------------------------------------------------------------------------ */
/* Table                                                                                      */
/* ------------------------------------------------------------------------------------------ */

#define LOCK_MIN_CAP 16                 /* power of two */

enum slot_state { SLOT_EMPTY = 0, SLOT_FULL, SLOT_TOMB };

struct slot {
    unsigned char state;                /* enum slot_state */
    struct drag_lock lock;              /* meaningful when state == SLOT_FULL */
};

struct lock_table {
    struct slot *slots;                 /* cap entries, calloc'd (all SLOT_EMPTY) */
    size_t cap;                         /* power of two >= LOCK_MIN_CAP */
    size_t count;                       /* SLOT_FULL entries */
    size_t tombs;                       /* SLOT_TOMB entries */
};

/* splitmix64 finaliser over both key halves: order ids are small consecutive integers, so the
 * raw value would cluster badly under linear probing with a power-of-two mask. */
static uint64_t key_hash(int64_t tenant_id, int64_t order_id)
{
    uint64_t x = (uint64_t)order_id ^ ((uint64_t)tenant_id * 0x9E3779B97F4A7C15ull);

    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

#ifndef NDEBUG
/* True when the table's counters agree with its slots (O(cap); used in assert()). */
static bool lock_table_check(const struct lock_table *lt)
{
    size_t full = 0, tomb = 0;

    if (lt->cap < LOCK_MIN_CAP || (lt->cap & (lt->cap - 1)) != 0)
        return false;
    for (size_t i = 0; i < lt->cap; i++) {
        if (lt->slots[i].state == SLOT_FULL)
            full++;
        else if (lt->slots[i].state == SLOT_TOMB)
            tomb++;
    }
    return full == lt->count && tomb == lt->tombs && full + tomb < lt->cap;
}
#endif

struct lock_table *lock_table_new(void)
{
    struct lock_table *lt = calloc(1, sizeof(*lt));

    if (lt == NULL)
        goto fail;
    lt->cap = LOCK_MIN_CAP;
    lt->slots = calloc(lt->cap, sizeof(*lt->slots));
    if (lt->slots == NULL)
        goto fail;
    return lt;
fail:
    free(lt);
    return NULL;
}

void lock_table_free(struct lock_table *lt)
{
    if (lt == NULL)
        return;
    free(lt->slots);
    free(lt);
}

/* Index of the full slot holding the key, or SIZE_MAX. */
static size_t find_slot(const struct lock_table *lt, int64_t tenant_id, int64_t order_id)
{
    size_t mask = lt->cap - 1;
    size_t i = (size_t)key_hash(tenant_id, order_id) & mask;

    /* Terminates: the load limit keeps at least one SLOT_EMPTY. */
    for (;;) {
        const struct slot *s = &lt->slots[i];

        if (s->state == SLOT_EMPTY)
            return SIZE_MAX;
        if (s->state == SLOT_FULL && s->lock.order_id == order_id &&
            s->lock.tenant_id == tenant_id)
            return i;
        i = (i + 1) & mask;
    }
}

/* Index of the slot where a key known to be absent goes: the first tombstone or empty slot. */
static size_t free_slot(const struct lock_table *lt, int64_t tenant_id, int64_t order_id)
{
    size_t mask = lt->cap - 1;
    size_t i = (size_t)key_hash(tenant_id, order_id) & mask;

    while (lt->slots[i].state == SLOT_FULL)
        i = (i + 1) & mask;
    return i;
}

/*
 * Rebuild into a fresh array of new_cap slots (a power of two that holds count under the load
 * limit), dropping all tombstones. Returns 0 or PB_EINTERNAL (allocation failure; the table is
 * unchanged).
 */
static int rehash(struct lock_table *lt, size_t new_cap)
{
    struct slot *old = lt->slots;
    size_t old_cap = lt->cap;
    struct slot *slots = calloc(new_cap, sizeof(*slots));

    if (slots == NULL)
        return PB_EINTERNAL;
    lt->slots = slots;
    lt->cap = new_cap;
    lt->tombs = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].state != SLOT_FULL)
            continue;
        size_t j = free_slot(lt, old[i].lock.tenant_id, old[i].lock.order_id);
        lt->slots[j] = old[i];
    }
    free(old);
    return 0;
}

/* Smallest power-of-two capacity that holds n live entries at <= 1/2 load. */
static size_t cap_for(size_t n)
{
    size_t cap = LOCK_MIN_CAP;

    while (cap / 2 < n)
        cap *= 2;
    return cap;
}

/* Make room for one more entry: keeps (count + tombs + 1) <= 3/4 cap. PB_EINTERNAL on OOM. */
static int reserve_one(struct lock_table *lt)
{
    if ((lt->count + lt->tombs + 1) * 4 <= lt->cap * 3)
        return 0;
    return rehash(lt, cap_for(lt->count + 1));
}

/* After a sweep: rebuild smaller when mostly empty. An allocation failure is harmless here. */
static void maybe_shrink(struct lock_table *lt)
{
    if (lt->cap > LOCK_MIN_CAP && lt->count * 8 < lt->cap)
        (void)rehash(lt, cap_for(lt->count));
}

/* Mark slot i removed (it must be full). */
static void remove_slot(struct lock_table *lt, size_t i)
{
    size_t next = (i + 1) & (lt->cap - 1);

    assert(lt->slots[i].state == SLOT_FULL);
    lt->count--;
    /* A slot followed by an empty one ends every probe chain through it: no tombstone needed,
     * and the same then holds for the tombstones just before it. Each tombstone is cleared at
     * most once, so this stays amortised O(1). */
    if (lt->slots[next].state == SLOT_EMPTY) {
        size_t mask = lt->cap - 1;

        lt->slots[i].state = SLOT_EMPTY;
        for (size_t p = (i + mask) & mask; lt->slots[p].state == SLOT_TOMB; p = (p + mask) & mask) {
            lt->slots[p].state = SLOT_EMPTY;
            lt->tombs--;
        }
    } else {
        lt->slots[i].state = SLOT_TOMB;
        lt->tombs++;
    }
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
int lock_acquire(struct lock_table *lt, int64_t tenant_id, int64_t order_id, int64_t user_id,
                 const char *username, int64_t now_ms, int64_t ttl_ms,
                 const struct drag_lock **out)
{
    size_t i;
    int rc;

    assert(lt != NULL);
    i = find_slot(lt, tenant_id, order_id);
    if (i != SIZE_MAX) {
        struct drag_lock *l = &lt->slots[i].lock;
        bool live = l->expires_at_ms > now_ms;

        if (live && l->user_id != user_id) {
            if (out)
                *out = l;
            return PB_ELOCKED;
        }
        rc = (live && l->user_id == user_id) ? 1 : 0;
        l->user_id = user_id;
        set_username(l, username);
        l->expires_at_ms = now_ms + ttl_ms;
        if (out)
            *out = l;
        return rc;
    }

    rc = reserve_one(lt);
    if (rc < 0)
        return rc;
    i = free_slot(lt, tenant_id, order_id);
    if (lt->slots[i].state == SLOT_TOMB)
        lt->tombs--;
    lt->slots[i].state = SLOT_FULL;
    lt->count++;

    struct drag_lock *l = &lt->slots[i].lock;
    l->tenant_id = tenant_id;
    l->order_id = order_id;
    l->user_id = user_id;
    set_username(l, username);
    l->expires_at_ms = now_ms + ttl_ms;
    if (out)
        *out = l;
    return 0;
}

const struct drag_lock *lock_get(const struct lock_table *lt, int64_t tenant_id,
                                 int64_t order_id, int64_t now_ms)
{
    size_t i;

    assert(lt != NULL);
    i = find_slot(lt, tenant_id, order_id);
    if (i == SIZE_MAX || lt->slots[i].lock.expires_at_ms <= now_ms)
        return NULL;
    return &lt->slots[i].lock;
}

/* See lock.h. An expired-but-unswept lock of the user is removed like a live one. */
int lock_release(struct lock_table *lt, int64_t tenant_id, int64_t order_id, int64_t user_id,
                 struct drag_lock *removed)
{
    size_t i;

    assert(lt != NULL);
    i = find_slot(lt, tenant_id, order_id);
    if (i == SIZE_MAX || (user_id != 0 && lt->slots[i].lock.user_id != user_id))
        return PB_ENOT_FOUND;
    if (removed)
        *removed = lt->slots[i].lock;
    remove_slot(lt, i);
    return 0;
}

/*
 * Remove every full slot for which match() is true, calling cb with a copy after removal.
 * One pass over the slots: O(cap). cb must not change the table (it would invalidate the scan).
 */
static size_t sweep(struct lock_table *lt, bool (*match)(const struct drag_lock *, const void *),
                    const void *arg, lock_removed_fn cb, void *ctx)
{
    size_t n = 0;

    /* Walk backwards so remove_slot() turns trailing runs into SLOT_EMPTY instead of tombs:
     * when slot i is removed, slot i+1 has already been decided. */
    for (size_t k = lt->cap; k-- > 0;) {
        struct slot *s = &lt->slots[k];
        struct drag_lock copy;

        if (s->state != SLOT_FULL || !match(&s->lock, arg))
            continue;
        copy = s->lock;
        remove_slot(lt, k);
        n++;
        if (cb)
            cb(ctx, &copy);
    }
    if (n > 0)
        maybe_shrink(lt);
    assert(lock_table_check(lt));
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
    assert(lt != NULL && cb != NULL);
    for (size_t i = 0; i < lt->cap; i++) {
        const struct slot *s = &lt->slots[i];

        if (s->state == SLOT_FULL && s->lock.tenant_id == tenant_id &&
            s->lock.expires_at_ms > now_ms)
            cb(ctx, &s->lock);
    }
}

size_t lock_count(const struct lock_table *lt)
{
    assert(lt != NULL);
    return lt->count;
}
