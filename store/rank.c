/*
 * rank — where an order placed in a column goes in SQLite: its orders.rank (store_int.h
 * explains the scheme). Moves, creates, imports and scanner moves write O(1) rows for the
 * order they place; the rare relabel of a window is planned here, written and applied by the
 * caller's phases (store/orders.c header).
 */
#include "store/store_int.h"

#include <assert.h>

static struct order *order_of(const struct ostree_node *n)
{
    return n != NULL ? (struct order *)((char *)n - offsetof(struct order, column_node)) : NULL;
}

/* The order at index j of column c as if skip (at tree index sidx) were not in it. */
static const struct order *seq_at(const struct column *c, const struct order *skip, size_t sidx,
                                  size_t j)
{
    return order_of(ostree_at(&c->orders, skip != NULL && j >= sidx ? j + 1 : j));
}

void rank__plan(const struct column *c, size_t p, const struct order *skip,
                struct rank_plan *rp)
{
    size_t sidx = skip != NULL ? ostree_index(&skip->column_node) : 0;
    size_t n = ostree_size(&c->orders) - (skip != NULL);
    const struct order *prev = p > 0 ? seq_at(c, skip, sidx, p - 1) : NULL;
    const struct order *next = p < n ? seq_at(c, skip, sidx, p) : NULL;
    /* open bounds: one past the lowest and highest rank allowed; the span fits in int64 */
    int64_t lo = prev != NULL ? prev->rank : RANK_LOW - 1;
    int64_t hi = next != NULL ? next->rank : RANK_HIGH + 1;

    assert(p <= n);
    *rp = (struct rank_plan){ .skip = skip };
    if (prev != NULL && next == NULL && RANK_HIGH - prev->rank >= RANK_STEP) {
        rp->rank = prev->rank + RANK_STEP;          /* the end of the column: the common case */
        return;
    }
    if (prev == NULL && next != NULL && next->rank - RANK_LOW >= RANK_STEP) {
        rp->rank = next->rank - RANK_STEP;          /* the top */
        return;
    }
    if (hi - lo >= 2) {
        rp->rank = lo + (hi - lo) / 2;              /* between two orders, or an empty column */
        return;
    }

    /* No room between the neighbours: relabel the smallest window [a, b) around p (doubling)
     * whose ranks, with the placed order among them, can be spread with gaps of at least
     * RANK_MIN_GAP << level; the whole column always qualifies (n < 2^50). */
    for (unsigned level = 1;; level++) {
        size_t w = (size_t)1 << level, a, b;
        a = p > w / 2 ? p - w / 2 : 0;
        b = a + w < n ? a + w : n;
        if (b - a < w)
            a = b > w ? b - w : 0;
        int64_t l = a > 0 ? seq_at(c, skip, sidx, a - 1)->rank : RANK_LOW - 1;
        int64_t r = b < n ? seq_at(c, skip, sidx, b)->rank : RANK_HIGH + 1;
        int64_t m = (int64_t)(b - a) + 1;           /* the window and the placed order */
        int64_t gap = (r - l) / (m + 1);
        int64_t need = level < 40 ? RANK_MIN_GAP << level : INT64_MAX;
        if (gap >= need || (a == 0 && b == n)) {
            assert(gap >= 1);
            rp->first = (struct order *)seq_at(c, skip, sidx, a);
            rp->count = b - a;
            rp->slot = p - a;
            rp->base = l;
            rp->gap = gap;
            rp->rank = l + gap * (int64_t)(rp->slot + 1);
            return;
        }
    }
}

/* The new rank of the k-th order of the window (k = 0..count-1). */
static int64_t window_rank(const struct rank_plan *rp, size_t k)
{
    return rp->base + rp->gap * (int64_t)(k < rp->slot ? k + 1 : k + 2);
}

/* The order after o in the window walk (skipping the placed order). */
static struct order *window_next(const struct rank_plan *rp, const struct order *o)
{
    struct order *x = order_of(ostree_next(&o->column_node));
    if (x != NULL && x == rp->skip)
        x = order_of(ostree_next(&x->column_node));
    return x;
}

int rank__write(struct store *s, int64_t tenant_id, const struct rank_plan *rp)
{
    struct order *o = rp->first;
    for (size_t k = 0; k < rp->count; k++, o = window_next(rp, o)) {
        struct db_stmt *st = store__stmt(s, ST_ORDER_RANK);
        if (st == NULL)
            return PB_EINTERNAL;
        db_bind_int64(st, 1, tenant_id);
        db_bind_int64(st, 2, o->id);
        db_bind_int64(st, 3, window_rank(rp, k));
        if (store__run(s, st, "rank relabel", NULL) != 0)
            return PB_EINTERNAL;
    }
    s->relabelled += rp->count;
    return 0;
}

void rank__apply(const struct rank_plan *rp)
{
    struct order *o = rp->first;
    for (size_t k = 0; k < rp->count; k++, o = window_next(rp, o))
        o->rank = window_rank(rp, k);
}

int64_t rank__even(size_t i, size_t n)
{
    int64_t gap = (int64_t)(((uint64_t)RANK_HIGH - (uint64_t)RANK_LOW) / (n + 1));
    return RANK_LOW + gap * (int64_t)(i + 1);
}
