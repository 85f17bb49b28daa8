/*
 * hmap — the one hash map of planboard (SQLite has one hash.c; so do we). Every table keyed by
 * something uses it: the board cache's orders by id and by order number and its tenants
 * (store/), the drag-lock table (locks/), the CSV importer's set of order numbers
 * (importers/), the login rate limiter's keys (server/ratelimit.c).
 *
 * What it is: open addressing with linear probing, a power-of-two capacity (at least 16), load
 * factor at most 1/2, deletion by backward shift (no tombstones, so a lookup never walks over
 * dead slots however many deletions came before). A slot holds the key's full 64-bit hash and
 * a non-NULL `void *` value the caller owns; the map never allocates or frees a value.
 *
 * Keys, without macros: the map only sees a hash and asks the caller's match function whether
 * a value has the key being looked for. Two kinds are ready-made:
 *   - int64 keys (hmap_*_int): the hash is hmap_hash_int(key), a bijection (the splitmix64
 *     finaliser), so equal hashes mean equal keys and no match function is needed. The mix is
 *     not keyed: use it for ids the server assigns (order ids, tenant ids), never for
 *     numbers a client picks.
 *   - string keys held by the value (hmap_*_str; the value's own string, e.g.
 *     order->order_number, is the key: nothing is copied): the hash is core/strhash's keyed
 *     SipHash, so a client cannot pick keys that share a probe run (core/strhash.h explains the
 *     attack); the match function compares the string.
 * Any other key (the lock table's (tenant, order) pair) passes its own hash and match function
 * to hmap_get / hmap_put / hmap_del.
 *
 * Complexity: get, put and del are O(1) expected (O(probe run); with a good hash at load <= 1/2
 * the expected run is 1.5 slots for a hit, 2.5 for a miss). reserve and a growing put are
 * O(capacity). Iteration is O(capacity). Memory: 16 bytes a slot; 32 to 64 bytes an entry between
 * growths (deletions alone never shrink the array: hmap_shrink does).
 *
 * Failure modes: only hmap_reserve allocates (and a put that must grow, which calls it). After
 * hmap_reserve(m, n) returned 0, puts of new keys cannot fail while len <= n: this is what
 * lets the board cache change after a COMMIT without a failure path (store/ reserves before
 * it writes). A put that needs to grow and cannot allocate aborts the process: callers that
 * can fail reserve first. A value must not be NULL (NULL marks an empty slot). A match
 * function must not change the map. Values are not freed by hmap_cleanup (iterate first).
 *
 * Threading: none; each map belongs to one thread (the loop thread for all current users).
 * Errors: 0 or PB_EINTERNAL (core/errors.h).
 */
#ifndef PB_HMAP_H
#define PB_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Does val (an entry of the map) have key? ctx is the map's match_ctx. Must not change the
 * map. */
typedef bool (*hmap_match_fn)(const void *ctx, const void *val, const void *key);

struct hmap_ent {
    uint64_t hash;              /* private: the hash of the entry's key */
    void *val;                  /* private: the caller's value; NULL = empty slot */
};

/*
 * Embedded by its users. A zero-filled struct hmap ({ 0 } or calloc) is an empty map of int64
 * keys; a map of other keys is set up with hmap_init.
 */
struct hmap {
    struct hmap_ent *ents;      /* private: cap slots, or NULL when cap == 0 */
    size_t cap;                 /* private: 0 or a power of two >= 16 */
    size_t len;                 /* read-only: entries */
    hmap_match_fn match;        /* private: NULL = equal hashes are equal keys (int64 keys) */
    const void *match_ctx;      /* private: passed to match */
};

/* An empty map whose keys are compared by match (NULL: by hash only, for int64 keys) with
 * ctx passed along. Allocates nothing; cannot fail. */
void hmap_init(struct hmap *m, hmap_match_fn match, const void *ctx);

/* Free the slot array (not the values: the caller owns them) and leave an empty map with the
 * same match function, ready for reuse. */
void hmap_cleanup(struct hmap *m);

/* Make room for n entries in total (n >= len), growing the slot array to the smallest power
 * of two >= 2n (at least 16) when it is smaller. Afterwards puts of new keys cannot fail while
 * len <= n. 0, or PB_EINTERNAL on allocation failure (the map is unchanged). O(capacity) when
 * it grows. */
int hmap_reserve(struct hmap *m, size_t n);

/* A copy of src in *dst (same keys, values and match function) with room for n entries in
 * total, like hmap_reserve(dst, n). src is only read: another thread may read src meanwhile
 * while nobody changes it (store/: a board's index copied off the loop by an import). 0, or
 * PB_EINTERNAL (*dst untouched). O(capacity of src + n). */
int hmap_clone(struct hmap *dst, const struct hmap *src, size_t n);

/* Rebuild at the smallest capacity that holds len when the map has become less than 1/8 full
 * (a burst of entries does not pin a large array forever). Best effort: on allocation failure
 * the map stays as it is. Afterwards only hmap_reserve guarantees room again. */
void hmap_shrink(struct hmap *m);

/* The value whose key matches (hash, key), or NULL. key is passed to the match function as it
 * is (ignored when the map has none). */
void *hmap_get(const struct hmap *m, uint64_t hash, const void *key);

/* Insert val (not NULL) under (hash, key), replacing the value of a matching key. Returns the
 * replaced value or NULL when the key is new (len + 1). Cannot fail when room was reserved;
 * else grows, and aborts when it cannot allocate (see the top of this file). */
void *hmap_put(struct hmap *m, uint64_t hash, const void *key, void *val);

/* Remove the entry matching (hash, key). Returns its value (the caller frees it if it owns
 * it), or NULL when there was none. Never allocates. Other entries may move to other slots
 * (backward shift). */
void *hmap_del(struct hmap *m, uint64_t hash, const void *key);

/* ---------------------------------------------------------------- int64 keys */

/* The hash of an int64 key: the splitmix64 finaliser, a bijection of 64-bit values (equal
 * hashes are equal keys), not keyed. */
uint64_t hmap_hash_int(int64_t key);

/* hmap_get / hmap_put / hmap_del of an int64 key, for a map with no match function. */
static inline void *hmap_get_int(const struct hmap *m, int64_t key)
{
    return hmap_get(m, hmap_hash_int(key), NULL);
}

static inline void *hmap_put_int(struct hmap *m, int64_t key, void *val)
{
    return hmap_put(m, hmap_hash_int(key), NULL, val);
}

static inline void *hmap_del_int(struct hmap *m, int64_t key)
{
    return hmap_del(m, hmap_hash_int(key), NULL);
}

/* ---------------------------------------------------------------- string keys held by values */

/* The keyed hash of the NUL-terminated string s (core/strhash: SipHash-2-4, per process). */
uint64_t hmap_hash_str(const char *s);

/* hmap_get / hmap_put / hmap_del of a NUL-terminated string key, for a map set up with
 * hmap_init(m, match, ...) whose match compares val's string with key (a const char *). */
static inline void *hmap_get_str(const struct hmap *m, const char *key)
{
    return hmap_get(m, hmap_hash_str(key), key);
}

/* key must be val's own string (it is what later lookups compare against). */
static inline void *hmap_put_str(struct hmap *m, const char *key, void *val)
{
    return hmap_put(m, hmap_hash_str(key), key, val);
}

static inline void *hmap_del_str(struct hmap *m, const char *key)
{
    return hmap_del(m, hmap_hash_str(key), key);
}

/* ---------------------------------------------------------------- iteration */

/*
 * Visit every entry once, in slot order (which says nothing about keys or insertion):
 *
 *     struct hmap_iter it;
 *     void *val;
 *     hmap_iter_init(m, &it);
 *     while ((val = hmap_iter_next(m, &it)) != NULL)
 *         if (done_with(val))
 *             hmap_iter_del(m, &it);      // then free val if the caller owns it
 *
 * hmap_iter_del removes the entry last returned and the walk still visits every other entry
 * exactly once (the walk starts after an empty slot, and a backward shift only moves entries
 * of the current probe run, not yet visited, into the freed slot, which is looked at again).
 * No put, del or reserve while iterating. The iterator holds no memory.
 */
struct hmap_iter {
    size_t next;                /* private: the next slot to look at */
    size_t left;                /* private: slots still to look at */
    size_t cur;                 /* private: the slot of the entry last returned */
};

void hmap_iter_init(const struct hmap *m, struct hmap_iter *it);
void *hmap_iter_next(const struct hmap *m, struct hmap_iter *it);
void hmap_iter_del(struct hmap *m, struct hmap_iter *it);

/* True when len, the hashes and the probe runs agree (every entry reachable from its home
 * slot without crossing an empty one; O(capacity); for assert() and tests). */
bool hmap_check(const struct hmap *m);

#endif
