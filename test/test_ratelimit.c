/* Unit tests of server/ratelimit: SPEC §4 login attempts per key per minute, counted from the
 * moment an attempt starts (issue 8 item 6), and the global in-flight cap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "core/errors.h"
#include "server/ratelimit.c"           /* the key table, to measure its probe runs */

/* One whole attempt on one key: begin, then end as a failure (or success) at the same time. */
static int attempt(struct ratelimit *rl, const char *key, int64_t now, bool failed,
                   int64_t *retry)
{
    const char *keys[1] = { key };
    int rc = ratelimit_begin(rl, keys, 1, now, retry);
    if (rc == 0)
        ratelimit_end(rl, keys, 1, failed, now);
    return rc;
}

static void test_eleventh_attempt_within_a_minute_is_limited(void **state)
{
    struct ratelimit *rl = ratelimit_new(10, 1000);
    int64_t t = 1000000, retry = 0;
    (void)state;
    for (int i = 0; i < 10; i++)
        assert_int_equal(attempt(rl, "ip:1.2.3.4", t + i * 100, true, &retry), 0);
    assert_int_equal(attempt(rl, "ip:1.2.3.4", t + 1000, true, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 59);        /* oldest failure at t leaves the window at t+60s */
    assert_int_equal(attempt(rl, "ip:5.6.7.8", t + 1000, true, &retry), 0);
    ratelimit_free(rl);
}

static void test_limit_lifts_when_the_oldest_failure_leaves_the_window(void **state)
{
    struct ratelimit *rl = ratelimit_new(3, 1000);
    const char *k[1] = { "k" };
    int64_t retry;
    (void)state;
    assert_int_equal(attempt(rl, "k", 0, true, &retry), 0);
    assert_int_equal(attempt(rl, "k", 20000, true, &retry), 0);
    assert_int_equal(attempt(rl, "k", 40000, true, &retry), 0);
    assert_int_equal(ratelimit_begin(rl, k, 1, 59999, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 1);
    assert_int_equal(attempt(rl, "k", 60000, true, &retry), 0);
    assert_int_equal(ratelimit_begin(rl, k, 1, 60001, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 20);
    ratelimit_free(rl);
}

/* The bug of issue 8: 150 guesses at once all passed the check because a failure was only
 * counted after its argon2 check ended. In flight, they count. */
static void test_attempts_in_flight_count_against_the_limit(void **state)
{
    struct ratelimit *rl = ratelimit_new(10, 1000);
    const char *k[1] = { "ip:1.2.3.4" };
    int64_t retry = 0;
    int begun = 0, limited = 0;
    (void)state;
    for (int i = 0; i < 150; i++) {
        int rc = ratelimit_begin(rl, k, 1, 5000, &retry);
        if (rc == 0)
            begun++;
        else {
            assert_int_equal(rc, PB_ERATE_LIMITED);
            assert_int_equal(retry, 1);         /* limited by attempts still in flight */
            limited++;
        }
    }
    assert_int_equal(begun, 10);
    assert_int_equal(limited, 140);
    assert_int_equal(ratelimit_inflight(rl), 10);
    for (int i = 0; i < begun; i++)
        ratelimit_end(rl, k, 1, true, 5100);
    assert_int_equal(ratelimit_inflight(rl), 0);
    /* now 10 failures: the full window applies */
    assert_int_equal(ratelimit_begin(rl, k, 1, 5200, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 60);
    ratelimit_free(rl);
}

static void test_a_limited_attempt_is_not_counted(void **state)
{
    struct ratelimit *rl = ratelimit_new(2, 1000);
    const char *k[1] = { "k" };
    int64_t retry;
    (void)state;
    assert_int_equal(attempt(rl, "k", 0, true, &retry), 0);
    assert_int_equal(attempt(rl, "k", 30000, true, &retry), 0);
    for (int i = 0; i < 100; i++)               /* SPEC §4: a 429 is not counted again */
        assert_int_equal(ratelimit_begin(rl, k, 1, 50000, &retry), PB_ERATE_LIMITED);
    assert_int_equal(ratelimit_inflight(rl), 0);
    assert_int_equal(attempt(rl, "k", 60000, true, &retry), 0);  /* the one at 0 left */
    ratelimit_free(rl);
}

static void test_success_gives_its_own_slot_back_but_resets_nothing(void **state)
{
    struct ratelimit *rl = ratelimit_new(3, 1000);
    const char *k[1] = { "user:demo/sam" };
    int64_t retry;
    (void)state;
    assert_int_equal(attempt(rl, k[0], 0, true, &retry), 0);
    assert_int_equal(attempt(rl, k[0], 0, true, &retry), 0);
    /* a third attempt in flight fills the limit; its success frees its slot only */
    assert_int_equal(ratelimit_begin(rl, k, 1, 10, &retry), 0);
    assert_int_equal(ratelimit_begin(rl, k, 1, 10, &retry), PB_ERATE_LIMITED);
    ratelimit_end(rl, k, 1, false, 20);
    assert_int_equal(attempt(rl, k[0], 30, false, &retry), 0);  /* successes: not counted */
    assert_int_equal(attempt(rl, k[0], 30, false, &retry), 0);
    assert_int_equal(attempt(rl, k[0], 40, true, &retry), 0);   /* third failure */
    /* the two earlier failures still count: a success reset nothing */
    assert_int_equal(attempt(rl, k[0], 50, false, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 60);
    ratelimit_free(rl);
}

static void test_an_attempt_counts_on_every_key_or_on_none(void **state)
{
    struct ratelimit *rl = ratelimit_new(2, 1000);
    const char *both[2] = { "ip:1.1.1.1", "user:demo/admin" };
    const char *other[2] = { "ip:1.1.1.1", "user:demo/viewer" };
    int64_t retry;
    (void)state;
    assert_int_equal(attempt(rl, "user:demo/admin", 0, true, &retry), 0);
    assert_int_equal(attempt(rl, "user:demo/admin", 1000, true, &retry), 0);
    /* the user key is full: refused, and the address key is not touched */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ratelimit_begin(rl, both, 2, 2000, &retry), PB_ERATE_LIMITED);
        assert_int_equal(retry, 58);
    }
    assert_int_equal(ratelimit_begin(rl, other, 2, 2000, &retry), 0);
    assert_int_equal(ratelimit_begin(rl, other, 2, 2000, &retry), 0);
    assert_int_equal(ratelimit_begin(rl, other, 2, 2000, &retry), PB_ERATE_LIMITED);
    ratelimit_end(rl, other, 2, true, 3000);
    ratelimit_end(rl, other, 2, true, 4000);
    /* both keys limited: wait for the later one (the address: failures at 3 s and 4 s) */
    assert_int_equal(ratelimit_begin(rl, both, 2, 4000, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 59);
    ratelimit_free(rl);
}

static void test_inflight_attempts_are_capped_for_all_keys_together(void **state)
{
    struct ratelimit *rl = ratelimit_new(10, 3);
    const char *k[4][1] = { { "ip:a" }, { "ip:b" }, { "ip:c" }, { "ip:d" } };
    int64_t retry = 0;
    (void)state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_begin(rl, k[i], 1, 0, &retry), 0);
    assert_int_equal(ratelimit_begin(rl, k[3], 1, 0, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 1);
    ratelimit_end(rl, k[0], 1, false, 10);
    assert_int_equal(ratelimit_begin(rl, k[3], 1, 10, &retry), 0);
    assert_int_equal(ratelimit_inflight(rl), 3);
    for (int i = 1; i < 4; i++)
        ratelimit_end(rl, k[i], 1, true, 20);
    assert_int_equal(ratelimit_inflight(rl), 0);
    ratelimit_free(rl);
}

static void test_prune_forgets_idle_keys_and_keeps_the_rest_findable(void **state)
{
    struct ratelimit *rl = ratelimit_new(2, 100000);
    char key[32];
    const char *k[1] = { key };
    int64_t retry;
    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "ip:%d", i);
        attempt(rl, key, i % 2 ? 0 : 100000, true, &retry);
        attempt(rl, key, i % 2 ? 0 : 100000, true, &retry);
    }
    /* a key whose only attempt is still in flight is kept: its end must find it */
    assert_int_equal(ratelimit_begin(rl, (const char *[]){ "ip:busy" }, 1, 0, &retry), 0);
    assert_int_equal(ratelimit_prune(rl, 120000), 501);
    ratelimit_end(rl, (const char *[]){ "ip:busy" }, 1, false, 120000);
    assert_int_equal(ratelimit_prune(rl, 120000), 500);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "ip:%d", i);
        int rc = ratelimit_begin(rl, k, 1, 120000, &retry);
        assert_int_equal(rc, i % 2 ? 0 : PB_ERATE_LIMITED);
        if (rc == 0)
            ratelimit_end(rl, k, 1, false, 120000);
    }
    ratelimit_free(rl);
}

/* FNV-1a, the unkeyed hash the key table used before core/hmap. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static void test_usernames_chosen_to_collide_do_not_share_one_probe_run(void **state)
{
    enum { N = 1000, CAP = 2048 };           /* the slot array N keys get (load <= 1/2) */
    struct ratelimit *rl = ratelimit_new(5, 10);
    int64_t retry = 0;
    size_t found = 0, worst = 0;
    (void)state;

    /* A client picks the usernames of failed logins: under FNV-1a these N keys all have the
     * same home slot, so each new key walked a run of every earlier one (quadratic work on
     * the loop; a lookup of any of them walks up to N slots). */
    for (uint64_t c = 0; found < N; c++) {
        char key[48];
        snprintf(key, sizeof(key), "user:demo/u%llu", (unsigned long long)c);
        if ((fnv1a(key) & (CAP - 1)) != 7)
            continue;
        assert_int_equal(attempt(rl, key, 1000000, true, &retry), 0);
        found++;
    }
    assert_int_equal(rl->keys.len, N);
    assert_int_equal(rl->keys.cap, CAP);
    for (size_t i = 0; i < rl->keys.cap; i++) {
        if (rl->keys.ents[i].val == NULL)
            continue;
        size_t d = (i - (rl->keys.ents[i].hash & (CAP - 1))) & (CAP - 1);
        worst = d > worst ? d : worst;
    }
    /* Under the keyed hash the longest walk is what random keys give at load 1/2 (about 15
     * expected for 1000 keys); under FNV-1a it was N - 1. */
    assert_true(worst < 64);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eleventh_attempt_within_a_minute_is_limited),
        cmocka_unit_test(test_limit_lifts_when_the_oldest_failure_leaves_the_window),
        cmocka_unit_test(test_attempts_in_flight_count_against_the_limit),
        cmocka_unit_test(test_a_limited_attempt_is_not_counted),
        cmocka_unit_test(test_success_gives_its_own_slot_back_but_resets_nothing),
        cmocka_unit_test(test_an_attempt_counts_on_every_key_or_on_none),
        cmocka_unit_test(test_inflight_attempts_are_capped_for_all_keys_together),
        cmocka_unit_test(test_prune_forgets_idle_keys_and_keeps_the_rest_findable),
        cmocka_unit_test(test_usernames_chosen_to_collide_do_not_share_one_probe_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
