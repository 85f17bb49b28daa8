/*
 * Unit tests for core/hmap.c — the one hash map (issue 9 item 5): random operations against a
 * plain array model, deletions in probe runs that wrap past the end of the slot array,
 * reserve-then-put without allocation, iteration with deletion, and client-chosen string keys
 * that collide under an unkeyed hash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/hmap.h"

/* Deterministic xorshift64*: the same operations on every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Longest distance of an entry from its home slot (what a lookup of it walks). */
static size_t max_displacement(const struct hmap *m)
{
    size_t worst = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->ents[i].val == NULL)
            continue;
        size_t d = (i - (m->ents[i].hash & (m->cap - 1))) & (m->cap - 1);
        if (d > worst)
            worst = d;
    }
    return worst;
}

/* ---------------------------------------------------------------- int64 keys */

enum { MODEL_KEYS = 600 };

static void test_int_map_matches_a_model_over_random_puts_and_deletions(void **state)
{
    (void)state;
    static int vals[MODEL_KEYS];            /* value of key k is &vals[k] */
    bool present[MODEL_KEYS] = { false };
    size_t n = 0;
    struct hmap m = { 0 };                  /* zero-filled: an int64 map */

    for (int op = 0; op < 60000; op++) {
        /* Keys spread over a narrow range, so the same keys come and go many times and the
         * map grows, fills runs and empties them again. */
        int64_t k = (int64_t)(rnd() % MODEL_KEYS);
        int64_t key = k * 4096 - 1000000;   /* clustered, negative ones too */
        switch (rnd() % 3) {
        case 0:
        case 1:
            if ((rnd() & 1) == 0) {
                assert_int_equal(hmap_reserve(&m, m.len + 1), 0);
            }
            assert_ptr_equal(hmap_put_int(&m, key, &vals[k]), present[k] ? &vals[k] : NULL);
            n += !present[k];
            present[k] = true;
            break;
        default:
            assert_ptr_equal(hmap_del_int(&m, key), present[k] ? &vals[k] : NULL);
            n -= present[k];
            present[k] = false;
            break;
        }
        assert_int_equal(m.len, n);
        if (op % 997 == 0) {
            assert_true(hmap_check(&m));
            for (int j = 0; j < MODEL_KEYS; j++)
                assert_ptr_equal(hmap_get_int(&m, (int64_t)j * 4096 - 1000000),
                                 present[j] ? &vals[j] : NULL);
        }
    }
    assert_true(hmap_check(&m));
    hmap_cleanup(&m);
    assert_int_equal(m.len, 0);
    assert_null(hmap_get_int(&m, 0));
}

/* n distinct int keys homed in the last two slots of a map of cap slots, in the pattern
 * cap-2, cap-1, cap-1, cap-2, ...: put in that order they form one run that wraps past the end
 * of the array, with slot cap-1 and wrapped slots holding keys homed at cap-1, which must stay
 * where they are when a key before them goes (the case the cyclic test in the backward shift
 * is for). */
static void keys_homed_at_end(int64_t *out, size_t n, size_t cap)
{
    int64_t k = 1;
    for (size_t got = 0; got < n; got++) {
        size_t home = got % 3 == 0 ? cap - 2 : cap - 1;
        while ((hmap_hash_int(k) & (cap - 1)) != home)
            k++;
        out[got] = k++;
    }
}

static void test_deleting_in_a_run_that_wraps_past_the_end_keeps_every_key(void **state)
{
    (void)state;
    enum { CAP = 64, N = 24 };               /* 24 entries in 64 slots: load < 1/2 */
    int64_t keys[N];
    int vals[N];
    struct hmap m = { 0 };

    keys_homed_at_end(keys, N, CAP);
    /* Every order of deletion within the run: delete each key in turn from a fresh map. */
    for (int victim = 0; victim < N; victim++) {
        assert_int_equal(hmap_reserve(&m, N), 0);
        assert_int_equal(m.cap, CAP);
        for (int i = 0; i < N; i++)
            hmap_put_int(&m, keys[i], &vals[i]);
        /* the run starts at slot 62 and wraps to the start of the array */
        assert_non_null(m.ents[0].val);
        assert_ptr_equal(hmap_del_int(&m, keys[victim]), &vals[victim]);
        assert_true(hmap_check(&m));
        for (int i = 0; i < N; i++)
            assert_ptr_equal(hmap_get_int(&m, keys[i]), i == victim ? NULL : &vals[i]);
        /* then the rest, from the far end of the run back */
        for (int i = N - 1; i >= 0; i--) {
            if (i != victim)
                assert_ptr_equal(hmap_del_int(&m, keys[i]), &vals[i]);
            assert_true(hmap_check(&m));
            for (int j = 0; j < i; j++)
                assert_ptr_equal(hmap_get_int(&m, keys[j]), j == victim ? NULL : &vals[j]);
        }
        assert_int_equal(m.len, 0);
        hmap_cleanup(&m);
    }
}

static void test_reserve_then_put_never_allocates(void **state)
{
    (void)state;
    enum { N = 1024 };                      /* exactly half of the capacity it gets */
    static int vals[N];
    struct hmap m = { 0 };

    assert_null(hmap_put_int(&m, -1, &vals[0]));    /* an entry first */
    assert_int_equal(hmap_reserve(&m, N), 0);
    const struct hmap_ent *ents = m.ents;
    size_t cap = m.cap;
    assert_int_equal(cap, 2 * N);
    /* Up to N entries in total: the slot array is never replaced, so no put can fail. */
    for (int i = 1; i < N; i++) {
        hmap_put_int(&m, i, &vals[i]);
        assert_ptr_equal(m.ents, ents);
        assert_int_equal(m.cap, cap);
    }
    assert_int_equal(m.len, N);
    /* A smaller reserve is a no-op; one more entry past the reservation grows. */
    assert_int_equal(hmap_reserve(&m, 10), 0);
    assert_ptr_equal(m.ents, ents);
    hmap_put_int(&m, N, &vals[0]);
    assert_true(m.cap > cap);
    assert_true(hmap_check(&m));
    hmap_cleanup(&m);
}

/* hmap_clone: the copy holds every entry, has room for n without allocating, and changes to
 * it leave the original alone (an import builds a board's next index this way). */
static void test_clone_copies_with_room_and_leaves_the_source_alone(void **state)
{
    (void)state;
    enum { N = 3000, MORE = 5000 };
    static int vals[N + MORE];
    struct hmap src = { 0 }, c;

    for (int i = 0; i < N; i++)
        hmap_put_int(&src, i * 7, &vals[i]);
    assert_int_equal(hmap_clone(&c, &src, N + MORE), 0);
    assert_int_equal(c.len, N);
    assert_true(hmap_check(&c));
    for (int i = 0; i < N; i++)
        assert_ptr_equal(hmap_get_int(&c, i * 7), &vals[i]);
    const struct hmap_ent *ents = c.ents;
    for (int i = N; i < N + MORE; i++)
        assert_null(hmap_put_int(&c, i * 7, &vals[i]));
    assert_ptr_equal(c.ents, ents);             /* reserved: no growth */
    assert_int_equal(c.len, N + MORE);
    assert_int_equal(src.len, N);
    assert_null(hmap_get_int(&src, N * 7));
    assert_ptr_equal(hmap_get_int(&src, 7), &vals[1]);
    assert_true(hmap_check(&src));
    hmap_cleanup(&c);
    hmap_cleanup(&src);
}

/* ---------------------------------------------------------------- string keys held by values */

struct item {
    char name[24];                          /* the key */
    int64_t id;
};

static bool item_name_is(const void *ctx, const void *val, const void *key)
{
    (void)ctx;
    return strcmp(((const struct item *)val)->name, key) == 0;
}

static void test_string_map_matches_a_model_over_random_puts_and_deletions(void **state)
{
    (void)state;
    static struct item items[MODEL_KEYS];
    bool present[MODEL_KEYS] = { false };
    size_t n = 0;
    struct hmap m;

    hmap_init(&m, item_name_is, NULL);
    for (int i = 0; i < MODEL_KEYS; i++) {
        snprintf(items[i].name, sizeof(items[i].name), "MO-%d", i * 7);
        items[i].id = i;
    }
    for (int op = 0; op < 60000; op++) {
        int k = (int)(rnd() % MODEL_KEYS);
        char probe[24];
        snprintf(probe, sizeof(probe), "MO-%d", k * 7);    /* an equal string, not the same */
        if (rnd() % 3 != 2) {
            assert_int_equal(hmap_reserve(&m, m.len + 1), 0);
            assert_ptr_equal(hmap_put_str(&m, items[k].name, &items[k]),
                             present[k] ? &items[k] : NULL);
            n += !present[k];
            present[k] = true;
        } else {
            assert_ptr_equal(hmap_del_str(&m, probe), present[k] ? &items[k] : NULL);
            n -= present[k];
            present[k] = false;
        }
        assert_int_equal(m.len, n);
        if (op % 997 == 0) {
            assert_true(hmap_check(&m));
            for (int j = 0; j < MODEL_KEYS; j++) {
                snprintf(probe, sizeof(probe), "MO-%d", j * 7);
                assert_ptr_equal(hmap_get_str(&m, probe), present[j] ? &items[j] : NULL);
            }
            assert_null(hmap_get_str(&m, "MO-1"));
        }
    }
    hmap_cleanup(&m);
    /* cleanup keeps the match function: the map is reusable as it is */
    assert_null(hmap_put_str(&m, items[3].name, &items[3]));
    assert_ptr_equal(hmap_get_str(&m, "MO-21"), &items[3]);
    hmap_cleanup(&m);
}

/* FNV-1a, the unkeyed hash the tables used before core/strhash. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static void test_keys_colliding_under_an_unkeyed_hash_spread_under_the_keyed_one(void **state)
{
    (void)state;
    enum { N = 1000, CAP = 2048 };           /* the capacity N entries get */
    static struct item items[N];
    struct hmap keyed, fnv;
    size_t got = 0;

    /* What a client can do against a fixed hash: pick order numbers whose hash has the same
     * low bits (a brute-force search of about N * CAP candidates, well under a second). */
    for (uint64_t c = 0; got < N; c++) {
        char s[24];
        snprintf(s, sizeof(s), "MO-%llu", (unsigned long long)c);
        if ((fnv1a(s) & (CAP - 1)) == 5) {
            memcpy(items[got].name, s, sizeof(s));
            items[got].id = (int64_t)got;
            got++;
        }
    }
    hmap_init(&keyed, item_name_is, NULL);
    hmap_init(&fnv, item_name_is, NULL);
    assert_int_equal(hmap_reserve(&keyed, N), 0);
    assert_int_equal(hmap_reserve(&fnv, N), 0);
    assert_int_equal(keyed.cap, CAP);
    for (int i = 0; i < N; i++) {
        hmap_put(&fnv, fnv1a(items[i].name), items[i].name, &items[i]);
        hmap_put_str(&keyed, items[i].name, &items[i]);
    }
    /* Under FNV they form one run of N: every lookup walks it (what the measure catches) ... */
    assert_int_equal(max_displacement(&fnv), N - 1);
    /* ... under the keyed hash the longest walk is what random keys give at load 1/2 (the
     * expected maximum for 1000 keys is about 15; 64 leaves room, not a pile-up). */
    assert_true(max_displacement(&keyed) < 64);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(hmap_get_str(&keyed, items[i].name), &items[i]);
    assert_true(hmap_check(&keyed));
    hmap_cleanup(&keyed);
    hmap_cleanup(&fnv);
}

/* ---------------------------------------------------------------- a key of its own */

struct pair_key {
    int64_t tenant_id, order_id;
};

static bool pair_is(const void *ctx, const void *val, const void *key)
{
    const struct pair_key *a = val, *b = key;
    (void)ctx;
    return a->tenant_id == b->tenant_id && a->order_id == b->order_id;
}

static void test_two_keys_with_one_hash_are_told_apart_by_the_match_function(void **state)
{
    (void)state;
    struct pair_key a = { 1, 10 }, b = { 2, 10 }, q = { 2, 10 };
    struct hmap m;

    hmap_init(&m, pair_is, NULL);
    /* the same hash on purpose: only match can separate them */
    assert_null(hmap_put(&m, 42, &a, &a));
    assert_null(hmap_put(&m, 42, &b, &b));
    assert_int_equal(m.len, 2);
    assert_ptr_equal(hmap_get(&m, 42, &q), &b);
    assert_ptr_equal(hmap_del(&m, 42, &q), &b);
    assert_null(hmap_get(&m, 42, &q));
    q.tenant_id = 1;
    assert_ptr_equal(hmap_get(&m, 42, &q), &a);
    hmap_cleanup(&m);
}

/* ---------------------------------------------------------------- iteration, shrink */

static void test_iteration_with_deletion_visits_every_entry_exactly_once(void **state)
{
    (void)state;
    enum { CAP = 64, N = 30 };
    int64_t keys[N];
    static int visits[N];
    struct hmap m = { 0 };
    struct hmap_iter it;
    int *v;

    /* Half of the keys in one run that wraps past the end, the rest anywhere. */
    keys_homed_at_end(keys, N / 2, CAP);
    for (int i = N / 2; i < N; i++)
        keys[i] = 1000003 + i;
    for (int round = 0; round < 3; round++) {
        int vals[N];
        memset(visits, 0, sizeof(visits));
        assert_int_equal(hmap_reserve(&m, N), 0);
        assert_int_equal(m.cap, CAP);
        for (int i = 0; i < N; i++) {
            vals[i] = i;
            hmap_put_int(&m, keys[i], &vals[i]);
        }
        /* round 0 deletes nothing, round 1 every other entry, round 2 all of them */
        size_t left = N;
        hmap_iter_init(&m, &it);
        while ((v = hmap_iter_next(&m, &it)) != NULL) {
            visits[*v]++;
            if (round == 2 || (round == 1 && *v % 2 == 0)) {
                hmap_iter_del(&m, &it);
                left--;
                assert_true(hmap_check(&m));
            }
        }
        for (int i = 0; i < N; i++)
            assert_int_equal(visits[i], 1);
        assert_int_equal(m.len, left);
        for (int i = 0; i < N; i++) {
            bool kept = round == 0 || (round == 1 && i % 2 == 1);
            assert_ptr_equal(hmap_get_int(&m, keys[i]), kept ? &vals[i] : NULL);
        }
        hmap_cleanup(&m);
    }
    /* an empty map, never allocated: nothing to visit */
    hmap_iter_init(&m, &it);
    assert_null(hmap_iter_next(&m, &it));
}

static void test_shrink_rebuilds_a_mostly_empty_map_smaller(void **state)
{
    (void)state;
    enum { N = 4096 };
    static int vals[N];
    struct hmap m = { 0 };

    assert_int_equal(hmap_reserve(&m, N), 0);
    for (int i = 0; i < N; i++)
        hmap_put_int(&m, i, &vals[i]);
    size_t big = m.cap;
    hmap_shrink(&m);                        /* full: stays */
    assert_int_equal(m.cap, big);
    for (int i = 0; i < N; i++)
        if (i % 100 != 0)
            hmap_del_int(&m, i);
    hmap_shrink(&m);
    assert_true(m.cap < big);
    assert_true(m.cap >= 2 * m.len);
    assert_true(hmap_check(&m));
    for (int i = 0; i < N; i++)
        assert_ptr_equal(hmap_get_int(&m, i), i % 100 == 0 ? &vals[i] : NULL);
    hmap_cleanup(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_map_matches_a_model_over_random_puts_and_deletions),
        cmocka_unit_test(test_deleting_in_a_run_that_wraps_past_the_end_keeps_every_key),
        cmocka_unit_test(test_reserve_then_put_never_allocates),
        cmocka_unit_test(test_clone_copies_with_room_and_leaves_the_source_alone),
        cmocka_unit_test(test_string_map_matches_a_model_over_random_puts_and_deletions),
        cmocka_unit_test(test_keys_colliding_under_an_unkeyed_hash_spread_under_the_keyed_one),
        cmocka_unit_test(test_two_keys_with_one_hash_are_told_apart_by_the_match_function),
        cmocka_unit_test(test_iteration_with_deletion_visits_every_entry_exactly_once),
        cmocka_unit_test(test_shrink_rebuilds_a_mostly_empty_map_smaller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
