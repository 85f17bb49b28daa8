/*
 * Unit tests for locks/lock.c — SPEC §5 "Drag locks".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "locks/lock.h"
#include "core/errors.h"

#define T0   1700000000000LL            /* a "now" in ms */
#define TTL  30000LL

/* ------------------------------------------------------------------------------------------ */
/* Fixture and callback recorder                                                              */
/* ------------------------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct lock_table *lt = lock_table_new();

    if (lt == NULL)
        return -1;
    *state = lt;
    return 0;
}

static int teardown(void **state)
{
    lock_table_free(*state);
    return 0;
}

#define REC_MAX 64
struct recorder {
    size_t n;
    struct drag_lock seen[REC_MAX];
    const struct lock_table *lt;        /* to check "already out of the table" */
    int64_t now_ms;
    int still_present;                  /* locks that were still in the table at cb time */
};

static void record(void *ctx, const struct drag_lock *l)
{
    struct recorder *r = ctx;

    if (r->lt && lock_get(r->lt, l->tenant_id, l->order_id, r->now_ms - 1000000) != NULL)
        r->still_present++;
    if (r->n < REC_MAX)
        r->seen[r->n] = *l;
    r->n++;
}

static int recorder_has(const struct recorder *r, int64_t order_id)
{
    for (size_t i = 0; i < r->n && i < REC_MAX; i++)
        if (r->seen[i].order_id == order_id)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Acquire / renew / conflict                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void test_lock_acquire_takes_free_order(void **state)
{
    struct lock_table *lt = *state;
    const struct drag_lock *l = NULL;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, &l), 0);
    assert_non_null(l);
    assert_int_equal(l->tenant_id, 1);
    assert_int_equal(l->order_id, 10);
    assert_int_equal(l->user_id, 7);
    assert_string_equal(l->username, "sam");
    assert_int_equal(l->expires_at_ms, T0 + TTL);
    assert_int_equal(lock_count(lt), 1);
    assert_ptr_equal(lock_get(lt, 1, 10, T0), l);
}

/* SPEC §12: the mirror of the database's table takes whatever the database says, over a live
 * lock of another user too, and adds or updates exactly one entry. */
static void test_lock_put_overwrites_whoever_held_it(void **state)
{
    struct lock_table *lt = *state;
    const struct drag_lock *l = NULL;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_put(lt, 1, 10, 8, "kim", T0 + 1000, &l), 0);
    assert_non_null(l);
    assert_int_equal(l->user_id, 8);
    assert_string_equal(l->username, "kim");
    assert_int_equal(l->expires_at_ms, T0 + 1000);
    assert_int_equal(lock_count(lt), 1);
    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), PB_ELOCKED);
    assert_int_equal(lock_put(lt, 1, 11, 7, "sam", T0 + 5, NULL), 0);    /* a new entry */
    assert_int_equal(lock_count(lt), 2);
    assert_int_equal(lock_get(lt, 1, 11, T0)->user_id, 7);
}

static void test_lock_acquire_by_holder_renews_and_returns_1(void **state)
{
    struct lock_table *lt = *state;
    const struct drag_lock *l = NULL;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0 + 5000, TTL, &l), 1);
    assert_non_null(l);
    assert_int_equal(l->user_id, 7);
    assert_int_equal(l->expires_at_ms, T0 + 5000 + TTL);
    assert_int_equal(lock_count(lt), 1);
}

static void test_lock_acquire_fails_when_held_by_other_user(void **state)
{
    struct lock_table *lt = *state;
    const struct drag_lock *l = NULL;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_acquire(lt, 1, 10, 8, "kim", T0 + 1000, TTL, &l), PB_ELOCKED);
    assert_non_null(l);
    /* out points at the holder's lock, unchanged */
    assert_int_equal(l->user_id, 7);
    assert_string_equal(l->username, "sam");
    assert_int_equal(l->expires_at_ms, T0 + TTL);
    assert_int_equal(lock_count(lt), 1);
    const struct drag_lock *g = lock_get(lt, 1, 10, T0 + 1000);
    assert_non_null(g);
    assert_int_equal(g->user_id, 7);
    assert_int_equal(g->expires_at_ms, T0 + TTL);
}

static void test_lock_expired_lock_is_free_for_other_user_before_sweep(void **state)
{
    struct lock_table *lt = *state;
    const struct drag_lock *l = NULL;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    /* exactly at expiry it is gone (expire removes <= now) */
    assert_null(lock_get(lt, 1, 10, T0 + TTL));
    assert_non_null(lock_get(lt, 1, 10, T0 + TTL - 1));
    assert_int_equal(lock_acquire(lt, 1, 10, 8, "kim", T0 + TTL, TTL, &l), 0);
    assert_int_equal(l->user_id, 8);
    assert_string_equal(l->username, "kim");
    assert_int_equal(l->expires_at_ms, T0 + 2 * TTL);
    assert_int_equal(lock_count(lt), 1);
    /* the old holder is now the one refused */
    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0 + TTL + 1, TTL, &l), PB_ELOCKED);
    assert_int_equal(l->user_id, 8);
}

static void test_lock_holder_retaking_expired_lock_counts_as_new(void **state)
{
    struct lock_table *lt = *state;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0 + TTL + 5, TTL, NULL), 0);
    assert_int_equal(lock_get(lt, 1, 10, T0 + TTL + 5)->expires_at_ms, T0 + 2 * TTL + 5);
}

static void test_lock_long_username_is_truncated(void **state)
{
    struct lock_table *lt = *state;
    const struct drag_lock *l = NULL;
    char name[200];

    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(lock_acquire(lt, 1, 10, 7, name, T0, TTL, &l), 0);
    assert_int_equal(strlen(l->username), PB_LOCK_USERNAME_MAX);
    assert_int_equal(lock_acquire(lt, 1, 11, 7, NULL, T0, TTL, &l), 0);
    assert_string_equal(l->username, "");
}

static void test_lock_same_order_id_in_other_tenant_is_separate_key(void **state)
{
    struct lock_table *lt = *state;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_null(lock_get(lt, 2, 10, T0));
    assert_int_equal(lock_release(lt, 2, 10, 0, NULL), PB_ENOT_FOUND);
    assert_non_null(lock_get(lt, 1, 10, T0));
}

/* ------------------------------------------------------------------------------------------ */
/* Release                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void test_lock_release_by_holder_removes_and_copies(void **state)
{
    struct lock_table *lt = *state;
    struct drag_lock removed;

    memset(&removed, 0, sizeof(removed));
    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_release(lt, 1, 10, 7, &removed), 0);
    assert_int_equal(removed.order_id, 10);
    assert_int_equal(removed.user_id, 7);
    assert_string_equal(removed.username, "sam");
    assert_int_equal(removed.expires_at_ms, T0 + TTL);
    assert_int_equal(lock_count(lt), 0);
    assert_null(lock_get(lt, 1, 10, T0));
    assert_int_equal(lock_release(lt, 1, 10, 7, NULL), PB_ENOT_FOUND);
}

static void test_lock_release_by_non_holder_is_not_found(void **state)
{
    struct lock_table *lt = *state;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_release(lt, 1, 10, 8, NULL), PB_ENOT_FOUND);
    assert_int_equal(lock_count(lt), 1);
    assert_int_equal(lock_get(lt, 1, 10, T0)->user_id, 7);
    assert_int_equal(lock_release(lt, 1, 99, 7, NULL), PB_ENOT_FOUND);
}

static void test_lock_release_with_user_0_removes_any_holder(void **state)
{
    struct lock_table *lt = *state;
    struct drag_lock removed;

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_release(lt, 1, 10, 0, &removed), 0);
    assert_int_equal(removed.user_id, 7);
    assert_int_equal(lock_count(lt), 0);
    assert_int_equal(lock_release(lt, 1, 10, 0, NULL), PB_ENOT_FOUND);
}

static void test_lock_release_user_removes_only_that_users_locks_in_that_tenant(void **state)
{
    struct lock_table *lt = *state;
    struct recorder r = { 0 };

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_acquire(lt, 1, 11, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_acquire(lt, 1, 12, 8, "kim", T0, TTL, NULL), 0);
    /* same user id in another tenant (ids are per-database, but be strict) */
    assert_int_equal(lock_acquire(lt, 2, 20, 7, "sam2", T0, TTL, NULL), 0);

    r.lt = lt;
    r.now_ms = T0;
    assert_int_equal(lock_release_user(lt, 1, 7, record, &r), 2);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.still_present, 0);
    assert_true(recorder_has(&r, 10));
    assert_true(recorder_has(&r, 11));
    assert_int_equal(lock_count(lt), 2);
    assert_null(lock_get(lt, 1, 10, T0));
    assert_null(lock_get(lt, 1, 11, T0));
    assert_non_null(lock_get(lt, 1, 12, T0));
    assert_non_null(lock_get(lt, 2, 20, T0));
    assert_int_equal(lock_release_user(lt, 1, 7, NULL, NULL), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Expiry sweep and iteration                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void test_lock_expire_removes_exactly_expired_and_calls_cb(void **state)
{
    struct lock_table *lt = *state;
    struct recorder r = { 0 };

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, 1000, NULL), 0);  /* exp T0+1000 */
    assert_int_equal(lock_acquire(lt, 1, 11, 7, "sam", T0, 2000, NULL), 0);  /* exp T0+2000 */
    assert_int_equal(lock_acquire(lt, 2, 12, 8, "kim", T0, 1500, NULL), 0);  /* exp T0+1500 */
    assert_int_equal(lock_acquire(lt, 2, 13, 8, "kim", T0, 5000, NULL), 0);  /* exp T0+5000 */

    r.lt = lt;
    r.now_ms = T0 + 1500;
    assert_int_equal(lock_expire(lt, T0 + 999, record, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(lock_expire(lt, T0 + 1500, record, &r), 2);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.still_present, 0);
    assert_true(recorder_has(&r, 10));
    assert_true(recorder_has(&r, 12));
    assert_int_equal(lock_count(lt), 2);
    assert_non_null(lock_get(lt, 1, 11, T0 + 1500));
    assert_non_null(lock_get(lt, 2, 13, T0 + 1500));

    /* without a callback */
    assert_int_equal(lock_expire(lt, T0 + 10000, NULL, NULL), 2);
    assert_int_equal(lock_count(lt), 0);
}

struct each_ctx {
    int64_t sum_orders;
    int n;
    int wrong_tenant;
};

static void each_cb(void *ctx, const struct drag_lock *l)
{
    struct each_ctx *e = ctx;

    e->n++;
    e->sum_orders += l->order_id;
    if (l->tenant_id != 1)
        e->wrong_tenant++;
}

static void test_lock_each_visits_unexpired_locks_of_tenant_only(void **state)
{
    struct lock_table *lt = *state;
    struct each_ctx e = { 0 };

    assert_int_equal(lock_acquire(lt, 1, 10, 7, "sam", T0, TTL, NULL), 0);
    assert_int_equal(lock_acquire(lt, 1, 11, 8, "kim", T0, TTL, NULL), 0);
    assert_int_equal(lock_acquire(lt, 1, 12, 8, "kim", T0, 100, NULL), 0);   /* expired below */
    assert_int_equal(lock_acquire(lt, 2, 20, 9, "lee", T0, TTL, NULL), 0);

    lock_each(lt, 1, T0 + 100, each_cb, &e);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.sum_orders, 21);
    assert_int_equal(e.wrong_tenant, 0);
    assert_int_equal(lock_count(lt), 4);   /* nothing removed */

    memset(&e, 0, sizeof(e));
    lock_each(lt, 3, T0, each_cb, &e);
    assert_int_equal(e.n, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Growth, tombstones, randomised comparison with a reference model                           */
/* ------------------------------------------------------------------------------------------ */

static void test_lock_thousands_of_locks_grow_and_shrink(void **state)
{
    struct lock_table *lt = *state;
    const int n = 20000;

    for (int i = 1; i <= n; i++)
        assert_int_equal(lock_acquire(lt, i % 5 + 1, i, i % 13 + 1, "u", T0, TTL + i, NULL), 0);
    assert_int_equal(lock_count(lt), (size_t)n);
    for (int i = 1; i <= n; i++) {
        const struct drag_lock *l = lock_get(lt, i % 5 + 1, i, T0);
        assert_non_null(l);
        assert_int_equal(l->order_id, i);
        assert_int_equal(l->expires_at_ms, T0 + TTL + i);
    }
    /* remove the even ones, then the odd ones are all still reachable past the tombstones */
    for (int i = 2; i <= n; i += 2)
        assert_int_equal(lock_release(lt, i % 5 + 1, i, 0, NULL), 0);
    assert_int_equal(lock_count(lt), (size_t)n / 2);
    for (int i = 1; i <= n; i++) {
        const struct drag_lock *l = lock_get(lt, i % 5 + 1, i, T0);
        if (i % 2)
            assert_non_null(l);
        else
            assert_null(l);
    }
    /* expire the first half of the odd ones (expiry T0+TTL+i <= T0+TTL+n/2) */
    size_t expect = 0;
    for (int i = 1; i <= n / 2; i += 2)
        expect++;
    assert_int_equal(lock_expire(lt, T0 + TTL + n / 2, NULL, NULL), expect);
    assert_int_equal(lock_count(lt), (size_t)n / 2 - expect);
    /* everything else expires: the table shrinks and still works */
    assert_int_equal(lock_expire(lt, T0 + TTL + n + 1, NULL, NULL), (size_t)n / 2 - expect);
    assert_int_equal(lock_count(lt), 0);
    assert_int_equal(lock_acquire(lt, 1, 5, 1, "u", T0, TTL, NULL), 0);
    assert_non_null(lock_get(lt, 1, 5, T0));
}

/* Reference model: one entry per order id (tenant derived from the id). */
#define MODEL_ORDERS 3000
struct model_lock {
    int present;
    int64_t user_id;
    int64_t expires_at_ms;
};

static int64_t tenant_of(int64_t order_id)
{
    return order_id % 3 + 1;
}

/* Tiny deterministic PRNG (xorshift64*), so a failure reproduces. */
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

struct model_cb_ctx {
    struct model_lock *m;
    size_t calls;
    int mismatches;
    int64_t now_ms;
    int64_t tenant;                     /* for lock_each checks */
};

static void model_expire_cb(void *ctx, const struct drag_lock *l)
{
    struct model_cb_ctx *c = ctx;
    struct model_lock *ml = &c->m[l->order_id];

    c->calls++;
    if (!ml->present || ml->expires_at_ms > c->now_ms || ml->user_id != l->user_id)
        c->mismatches++;
    ml->present = 0;
}

static void model_user_cb(void *ctx, const struct drag_lock *l)
{
    struct model_cb_ctx *c = ctx;
    struct model_lock *ml = &c->m[l->order_id];

    c->calls++;
    if (!ml->present || ml->user_id != l->user_id)
        c->mismatches++;
    ml->present = 0;
}

static void model_each_cb(void *ctx, const struct drag_lock *l)
{
    struct model_cb_ctx *c = ctx;
    const struct model_lock *ml = &c->m[l->order_id];

    c->calls++;
    if (l->tenant_id != c->tenant || !ml->present || ml->expires_at_ms <= c->now_ms ||
        ml->user_id != l->user_id || ml->expires_at_ms != l->expires_at_ms)
        c->mismatches++;
}

static void test_lock_random_ops_match_reference_model(void **state)
{
    struct lock_table *lt = *state;
    struct model_lock *m = calloc(MODEL_ORDERS, sizeof(*m));
    int64_t now = T0;
    size_t present = 0;

    assert_non_null(m);
    for (int op = 0; op < 100000; op++) {
        uint64_t r = rnd();
        /* Mostly low ids, so the same keys are taken and released many times over tombstones;
         * sometimes a wide burst, so the table grows and shrinks. */
        int64_t order = (op / 20000) % 2 ? (int64_t)(r % (MODEL_ORDERS - 1)) + 1
                                        : (int64_t)((r >> 8) % 200) + 1;
        int64_t tenant = tenant_of(order);
        int64_t user = (int64_t)((r >> 20) % 4) + 1;
        unsigned kind = (unsigned)((r >> 32) % 100);
        struct model_lock *ml = &m[order];

        now += (int64_t)((r >> 40) % 7);
        if (kind < 50) {
            int64_t ttl = (int64_t)((r >> 48) % 3000) + 1;
            const struct drag_lock *out = NULL;
            int rc = lock_acquire(lt, tenant, order, user, "u", now, ttl, &out);
            int live = ml->present && ml->expires_at_ms > now;
            if (live && ml->user_id != user) {
                assert_int_equal(rc, PB_ELOCKED);
                assert_int_equal(out->user_id, ml->user_id);
                assert_int_equal(out->expires_at_ms, ml->expires_at_ms);
            } else {
                assert_int_equal(rc, live ? 1 : 0);
                if (!ml->present)
                    present++;
                ml->present = 1;
                ml->user_id = user;
                ml->expires_at_ms = now + ttl;
                assert_int_equal(out->expires_at_ms, now + ttl);
            }
        } else if (kind < 85) {
            int64_t who = (r >> 50) % 5 == 0 ? 0 : user;
            struct drag_lock removed;
            int rc = lock_release(lt, tenant, order, who, &removed);
            if (ml->present && (who == 0 || ml->user_id == who)) {
                assert_int_equal(rc, 0);
                assert_int_equal(removed.order_id, order);
                assert_int_equal(removed.user_id, ml->user_id);
                ml->present = 0;
                present--;
            } else {
                assert_int_equal(rc, PB_ENOT_FOUND);
            }
        } else if (kind < 95) {
            const struct drag_lock *g = lock_get(lt, tenant, order, now);
            if (ml->present && ml->expires_at_ms > now) {
                assert_non_null(g);
                assert_int_equal(g->user_id, ml->user_id);
                assert_int_equal(g->expires_at_ms, ml->expires_at_ms);
            } else {
                assert_null(g);
            }
        } else if (kind < 98) {
            struct model_cb_ctx c = { m, 0, 0, now, 0 };
            size_t expect = 0;
            for (int i = 1; i < MODEL_ORDERS; i++)
                if (m[i].present && m[i].expires_at_ms <= now)
                    expect++;
            assert_int_equal(lock_expire(lt, now, model_expire_cb, &c), expect);
            assert_int_equal(c.calls, expect);
            assert_int_equal(c.mismatches, 0);
            present -= expect;
        } else if (kind < 99) {
            struct model_cb_ctx c = { m, 0, 0, now, 0 };
            size_t expect = 0;
            for (int i = 1; i < MODEL_ORDERS; i++)
                if (m[i].present && tenant_of(i) == tenant && m[i].user_id == user)
                    expect++;
            assert_int_equal(lock_release_user(lt, tenant, user, model_user_cb, &c), expect);
            assert_int_equal(c.calls, expect);
            assert_int_equal(c.mismatches, 0);
            present -= expect;
        } else {
            struct model_cb_ctx c = { m, 0, 0, now, tenant };
            size_t expect = 0;
            for (int i = 1; i < MODEL_ORDERS; i++)
                if (m[i].present && tenant_of(i) == tenant && m[i].expires_at_ms > now)
                    expect++;
            lock_each(lt, tenant, now, model_each_cb, &c);
            assert_int_equal(c.calls, expect);
            assert_int_equal(c.mismatches, 0);
        }
        assert_int_equal(lock_count(lt), present);
    }
    /* full comparison at the end */
    for (int i = 1; i < MODEL_ORDERS; i++) {
        const struct drag_lock *g = lock_get(lt, tenant_of(i), i, now);
        if (m[i].present && m[i].expires_at_ms > now)
            assert_true(g != NULL && g->user_id == m[i].user_id);
        else
            assert_null(g);
    }
    free(m);
}

static void test_lock_table_free_accepts_null(void **state)
{
    (void)state;
    lock_table_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lock_acquire_takes_free_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_put_overwrites_whoever_held_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_acquire_by_holder_renews_and_returns_1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_acquire_fails_when_held_by_other_user, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_expired_lock_is_free_for_other_user_before_sweep,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_holder_retaking_expired_lock_counts_as_new,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_long_username_is_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_same_order_id_in_other_tenant_is_separate_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_release_by_holder_removes_and_copies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_release_by_non_holder_is_not_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_release_with_user_0_removes_any_holder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_lock_release_user_removes_only_that_users_locks_in_that_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_expire_removes_exactly_expired_and_calls_cb,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_each_visits_unexpired_locks_of_tenant_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_thousands_of_locks_grow_and_shrink, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_random_ops_match_reference_model, setup,
                                        teardown),
        cmocka_unit_test(test_lock_table_free_accepts_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
