/* Unit tests of server/ratelimit: SPEC §4 failed-login limit per key per minute. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "protocol/errors.h"
#include "server/ratelimit.h"

static void test_eleventh_attempt_within_a_minute_is_limited(void **state)
{
    struct ratelimit *rl = ratelimit_new(10);
    int64_t t = 1000000, retry = 0;
    (void)state;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(ratelimit_check(rl, "ip:1.2.3.4", t + i * 100, &retry), 0);
        assert_int_equal(ratelimit_fail(rl, "ip:1.2.3.4", t + i * 100), 0);
    }
    assert_int_equal(ratelimit_check(rl, "ip:1.2.3.4", t + 1000, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 59);        /* oldest failure at t leaves the window at t+60s */
    assert_int_equal(ratelimit_check(rl, "ip:5.6.7.8", t + 1000, &retry), 0);
    ratelimit_free(rl);
}

static void test_limit_lifts_when_the_oldest_failure_leaves_the_window(void **state)
{
    struct ratelimit *rl = ratelimit_new(3);
    int64_t retry;
    (void)state;
    ratelimit_fail(rl, "k", 0);
    ratelimit_fail(rl, "k", 20000);
    ratelimit_fail(rl, "k", 40000);
    assert_int_equal(ratelimit_check(rl, "k", 59999, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 1);
    assert_int_equal(ratelimit_check(rl, "k", 60000, &retry), 0);
    ratelimit_fail(rl, "k", 60000);
    assert_int_equal(ratelimit_check(rl, "k", 60001, &retry), PB_ERATE_LIMITED);
    assert_int_equal(retry, 20);
    ratelimit_free(rl);
}

static void test_prune_forgets_idle_keys_and_keeps_the_rest_findable(void **state)
{
    struct ratelimit *rl = ratelimit_new(2);
    char key[32];
    int64_t retry;
    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "ip:%d", i);
        ratelimit_fail(rl, key, i % 2 ? 0 : 100000);
        ratelimit_fail(rl, key, i % 2 ? 0 : 100000);
    }
    assert_int_equal(ratelimit_prune(rl, 120000), 500);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "ip:%d", i);
        assert_int_equal(ratelimit_check(rl, key, 120000, &retry),
                         i % 2 ? 0 : PB_ERATE_LIMITED);
    }
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eleventh_attempt_within_a_minute_is_limited),
        cmocka_unit_test(test_limit_lifts_when_the_oldest_failure_leaves_the_window),
        cmocka_unit_test(test_prune_forgets_idle_keys_and_keeps_the_rest_findable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
