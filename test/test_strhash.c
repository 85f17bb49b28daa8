/*
 * Unit tests for core/strhash.c — the keyed hash of client-chosen strings (order numbers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/strhash.h"

#define SLOT_BITS 19                    /* a table of 2^19 slots (200,000 rows at load 1/2) */
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define BLOCKS 8                        /* 2^8 colliding keys */

static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* FNV-1a (the hash the tables used before) of s, low SLOT_BITS only, from state h. */
static uint32_t fnv_low(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (uint32_t)(((uint64_t)(h ^ (unsigned char)s[i]) * 0x100000001b3ULL) & SLOT_MASK);
    return h;
}

/* 2^BLOCKS order numbers "C-" + BLOCKS blocks of 3 characters whose FNV-1a hashes all share
 * their low SLOT_BITS bits (Joux multicollision: FNV's low bits depend only on low bits, so
 * one colliding pair of blocks per step is enough). keys[i] are 2 + 3 * BLOCKS characters. */
static void fnv_multicollision(char keys[1 << BLOCKS][2 + 3 * BLOCKS + 1])
{
    char pair[BLOCKS][2][4];
    uint32_t *seen = calloc(SLOT_MASK + 1, sizeof(*seen));  /* slot -> triple index + 1 */
    uint32_t h = fnv_low((uint32_t)(0xcbf29ce484222325ULL & SLOT_MASK), "C-", 2);
    const size_t na = sizeof(alnum) - 1;

    assert_non_null(seen);
    for (int b = 0; b < BLOCKS; b++) {
        memset(seen, 0, (SLOT_MASK + 1) * sizeof(*seen));
        bool found = false;
        for (uint32_t t = 0; t < na * na * na && !found; t++) {
            char s[4] = { alnum[t % na], alnum[t / na % na], alnum[t / na / na], 0 };
            uint32_t v = fnv_low(h, s, 3);
            if (seen[v] != 0) {
                uint32_t u = seen[v] - 1;
                char o[4] = { alnum[u % na], alnum[u / na % na], alnum[u / na / na], 0 };
                memcpy(pair[b][0], o, 4);
                memcpy(pair[b][1], s, 4);
                h = v;
                found = true;
            }
            seen[v] = t + 1;
        }
        assert_true(found);
    }
    free(seen);
    for (int k = 0; k < 1 << BLOCKS; k++) {
        memcpy(keys[k], "C-", 2);
        for (int b = 0; b < BLOCKS; b++)
            memcpy(keys[k] + 2 + 3 * b, pair[b][(k >> b) & 1], 3);
        keys[k][2 + 3 * BLOCKS] = '\0';
    }
}

static void test_equal_strings_hash_equal_and_length_counts(void **state)
{
    (void)state;
    char a[] = "MO-2026-001", b[] = "MO-2026-001";
    assert_int_equal(pb_strhash(a, strlen(a)), pb_strhash(b, strlen(b)));
    assert_int_not_equal(pb_strhash(a, strlen(a)), pb_strhash("MO-2026-002", 11));
    assert_int_not_equal(pb_strhash(a, 5), pb_strhash(a, 6));
}

static void test_fnv_colliding_order_numbers_spread_over_the_slots(void **state)
{
    (void)state;
    static char keys[1 << BLOCKS][2 + 3 * BLOCKS + 1];
    uint8_t *used = calloc(SLOT_MASK + 1, 1);
    size_t distinct = 0;

    assert_non_null(used);
    fnv_multicollision(keys);
    /* the keys really collide under the old hash ... */
    uint32_t h0 = fnv_low((uint32_t)(0xcbf29ce484222325ULL & SLOT_MASK), keys[0], strlen(keys[0]));
    for (int k = 1; k < 1 << BLOCKS; k++) {
        assert_string_not_equal(keys[k], keys[k - 1]);
        assert_int_equal(fnv_low((uint32_t)(0xcbf29ce484222325ULL & SLOT_MASK), keys[k],
                                 strlen(keys[k])), h0);
    }
    /* ... and land in (almost) as many slots as there are keys under the keyed hash: 256 keys
     * in 2^19 slots, random placement puts them all apart with probability ~94%; 250 leaves
     * room for the odd pair, not for a pile-up. */
    for (int k = 0; k < 1 << BLOCKS; k++) {
        uint32_t s = (uint32_t)(pb_strhash(keys[k], strlen(keys[k])) & SLOT_MASK);
        distinct += !used[s];
        used[s] = 1;
    }
    free(used);
    assert_true(distinct >= 250);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_strings_hash_equal_and_length_counts),
        cmocka_unit_test(test_fnv_colliding_order_numbers_spread_over_the_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
