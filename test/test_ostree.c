/*
 * Unit tests for core/ostree.c — the order-statistic tree that keeps a board column in
 * position order (issue 9 item 2): every operation is checked against a plain array model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/ostree.h"

struct item {
    int id;
    struct ostree_node node;
};

#define ITEM(n) ((struct item *)((char *)(n) - offsetof(struct item, node)))

/* xorshift64: the test's own reproducible sequence of operations */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The tree holds exactly model[0..n) in order: by index, by walking both ways, by index of. */
static void assert_same(const struct ostree *t, struct item **model, size_t n)
{
    assert_true(ostree_check(t));
    assert_int_equal(ostree_size(t), n);
    struct ostree_node *x = ostree_first(t);
    for (size_t i = 0; i < n; i++, x = ostree_next(x)) {
        assert_non_null(x);
        assert_ptr_equal(ITEM(x), model[i]);
        assert_ptr_equal(ostree_at(t, i), &model[i]->node);
        assert_int_equal(ostree_index(&model[i]->node), i);
    }
    assert_null(x);
    x = ostree_last(t);
    for (size_t i = n; i-- > 0; x = ostree_prev(x))
        assert_ptr_equal(ITEM(x), model[i]);
    assert_null(x);
    assert_null(ostree_at(t, n));
}

static void test_empty_tree_has_nothing(void **state)
{
    (void)state;
    struct ostree t = { 0 };
    assert_int_equal(ostree_size(&t), 0);
    assert_null(ostree_first(&t));
    assert_null(ostree_last(&t));
    assert_null(ostree_at(&t, 0));
    assert_true(ostree_check(&t));
}

static void test_insert_at_front_middle_end_and_past_end(void **state)
{
    (void)state;
    struct ostree t = { 0 };
    struct item it[5];
    memset(it, 0, sizeof(it));
    ostree_insert_at(&t, 0, &it[2].node);          /* 2 */
    ostree_insert_at(&t, 0, &it[0].node);          /* 0 2 */
    ostree_insert_at(&t, 1, &it[1].node);          /* 0 1 2 */
    ostree_insert_at(&t, 3, &it[3].node);          /* 0 1 2 3 */
    ostree_insert_at(&t, 99, &it[4].node);         /* past the end = the end */
    struct item *model[] = { &it[0], &it[1], &it[2], &it[3], &it[4] };
    assert_same(&t, model, 5);
    ostree_remove(&t, &it[0].node);
    ostree_remove(&t, &it[4].node);
    ostree_remove(&t, &it[2].node);
    struct item *left[] = { &it[1], &it[3] };
    assert_same(&t, left, 2);
    assert_int_equal(it[2].node.size, 0);          /* a removed node is zeroed */
    assert_null(it[2].node.parent);
}

/* Thousands of random inserts, removes and moves (remove + insert elsewhere, as a drag does)
 * against an array; the whole sequence is compared every 97 operations and at the end. */
static void test_random_operations_match_an_array(void **state)
{
    (void)state;
    enum { N = 3000, OPS = 20000 };
    struct item *items = calloc(N, sizeof(*items));
    struct item **model = calloc(N, sizeof(*model));
    struct item **spare = calloc(N, sizeof(*spare));
    size_t n = 0, n_spare = N;
    struct ostree t = { 0 };

    assert_non_null(items);
    for (size_t i = 0; i < N; i++) {
        items[i].id = (int)i;
        spare[i] = &items[i];
    }
    for (int op = 0; op < OPS; op++) {
        unsigned kind = (unsigned)(rnd() % 10);
        if ((kind < 4 || n == 0) && n_spare > 0) {          /* insert */
            size_t at = (size_t)(rnd() % (n + 1));
            struct item *x = spare[--n_spare];
            ostree_insert_at(&t, at, &x->node);
            memmove(&model[at + 1], &model[at], (n - at) * sizeof(*model));
            model[at] = x;
            n++;
        } else if (kind < 7 && n > 0) {                     /* remove */
            size_t at = (size_t)(rnd() % n);
            assert_int_equal(ostree_index(&model[at]->node), at);
            ostree_remove(&t, &model[at]->node);
            spare[n_spare++] = model[at];
            memmove(&model[at], &model[at + 1], (n - at - 1) * sizeof(*model));
            n--;
        } else if (n > 0) {                                 /* move from one index to another */
            size_t from = (size_t)(rnd() % n), to = (size_t)(rnd() % n);
            struct item *x = ITEM(ostree_at(&t, from));
            assert_ptr_equal(x, model[from]);
            ostree_remove(&t, &x->node);
            memmove(&model[from], &model[from + 1], (n - from - 1) * sizeof(*model));
            ostree_insert_at(&t, to, &x->node);
            memmove(&model[to + 1], &model[to], (n - 1 - to) * sizeof(*model));
            model[to] = x;
        }
        if (op % 97 == 0)
            assert_same(&t, model, n);
    }
    assert_same(&t, model, n);
    free(items);
    free(model);
    free(spare);
}

/* Appending 100,000 members one by one (how a column is loaded) keeps the tree shallow:
 * a depth far below n shows the priorities balance it. */
static void test_appends_keep_the_tree_shallow(void **state)
{
    (void)state;
    enum { N = 100000 };
    struct item *items = calloc(N, sizeof(*items));
    struct ostree t = { 0 };
    assert_non_null(items);
    for (size_t i = 0; i < N; i++)
        ostree_insert_at(&t, i, &items[i].node);
    size_t deepest = 0;
    for (size_t i = 0; i < N; i++) {
        size_t d = 0;
        for (const struct ostree_node *x = &items[i].node; x->parent != NULL; x = x->parent)
            d++;
        if (d > deepest)
            deepest = d;
    }
    assert_true(ostree_check(&t));
    assert_true(deepest < 100);             /* expected ~2 ln n = 23; a list would be 99,999 */
    assert_int_equal(ostree_index(&items[N - 1].node), N - 1);
    assert_ptr_equal(ostree_at(&t, 54321), &items[54321].node);
    free(items);
}

/* Joining a tail tree: every split point of a random sequence (empty sides too), then more
 * operations on the joined tree; and a 100,000-node tail joined to a 100,000-node tree stays
 * shallow. */
static void test_join_appends_a_whole_tree(void **state)
{
    (void)state;
    enum { N = 300 };
    struct item items[N];
    struct item *model[N];
    for (size_t cut = 0; cut <= N; cut += 37) {
        struct ostree a = { 0 }, b = { 0 };
        memset(items, 0, sizeof(items));
        for (size_t i = 0; i < N; i++) {
            items[i].id = (int)i;
            model[i] = &items[i];
            ostree_insert_at(i < cut ? &a : &b, SIZE_MAX, &items[i].node);
        }
        ostree_join(&a, &b);
        assert_null(b.root);
        assert_same(&a, model, N);
        ostree_remove(&a, &items[N / 2].node);       /* the joined tree keeps working */
        memmove(&model[N / 2], &model[N / 2 + 1], (N - N / 2 - 1) * sizeof(model[0]));
        assert_same(&a, model, N - 1);
    }

    enum { BIG = 100000 };
    struct item *big = calloc(2 * BIG, sizeof(*big));
    struct ostree a = { 0 }, b = { 0 };
    assert_non_null(big);
    for (size_t i = 0; i < 2 * BIG; i++)
        ostree_insert_at(i < BIG ? &a : &b, SIZE_MAX, &big[i].node);
    ostree_join(&a, &b);
    assert_true(ostree_check(&a));
    size_t deepest = 0;
    for (size_t i = 0; i < 2 * BIG; i++) {
        size_t d = 0;
        for (const struct ostree_node *x = &big[i].node; x->parent != NULL; x = x->parent)
            d++;
        if (d > deepest)
            deepest = d;
    }
    assert_true(deepest < 100);
    assert_int_equal(ostree_index(&big[BIG].node), BIG);
    assert_ptr_equal(ostree_at(&a, 2 * BIG - 1), &big[2 * BIG - 1].node);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_tree_has_nothing),
        cmocka_unit_test(test_insert_at_front_middle_end_and_past_end),
        cmocka_unit_test(test_random_operations_match_an_array),
        cmocka_unit_test(test_appends_keep_the_tree_shallow),
        cmocka_unit_test(test_join_appends_a_whole_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
