/*
 * ostree — intrusive order-statistic treap (see ostree.h).
 *
 * A treap is a binary search tree on sequence order that is also a max-heap on random
 * priorities; its expected depth is O(log n) whatever the order of inserts and removes.
 * Every node counts its subtree, so "the i-th member" descends by counts and "index of n" adds
 * up the left counts on the way to the root (parent links).
 */
#include "core/ostree.h"
#include "core/strhash.h"

static size_t sz(const struct ostree_node *n)
{
    return n != NULL ? n->size : 0;
}

static void recount(struct ostree_node *n)
{
    n->size = 1 + sz(n->left) + sz(n->right);
}

size_t ostree_size(const struct ostree *t)
{
    return sz(t->root);
}

struct ostree_node *ostree_at(const struct ostree *t, size_t i)
{
    struct ostree_node *n = t->root;
    while (n != NULL) {
        size_t ls = sz(n->left);
        if (i < ls) {
            n = n->left;
        } else if (i == ls) {
            return n;
        } else {
            i -= ls + 1;
            n = n->right;
        }
    }
    return NULL;
}

size_t ostree_index(const struct ostree_node *n)
{
    size_t r = sz(n->left);
    for (; n->parent != NULL; n = n->parent)
        if (n == n->parent->right)
            r += sz(n->parent->left) + 1;
    return r;
}

static struct ostree_node *leftmost(struct ostree_node *n)
{
    while (n != NULL && n->left != NULL)
        n = n->left;
    return n;
}

static struct ostree_node *rightmost(struct ostree_node *n)
{
    while (n != NULL && n->right != NULL)
        n = n->right;
    return n;
}

struct ostree_node *ostree_first(const struct ostree *t)
{
    return leftmost(t->root);
}

struct ostree_node *ostree_last(const struct ostree *t)
{
    return rightmost(t->root);
}

struct ostree_node *ostree_next(const struct ostree_node *n)
{
    if (n->right != NULL)
        return leftmost(n->right);
    while (n->parent != NULL && n == n->parent->right)
        n = n->parent;
    return n->parent;
}

struct ostree_node *ostree_prev(const struct ostree_node *n)
{
    if (n->left != NULL)
        return rightmost(n->left);
    while (n->parent != NULL && n == n->parent->left)
        n = n->parent;
    return n->parent;
}

/* Rotate x above its parent p, keeping sequence order; fixes the two counts (the subtree
 * as a whole keeps its members, so the ancestors' counts stay right). */
static void rotate_up(struct ostree *t, struct ostree_node *x)
{
    struct ostree_node *p = x->parent, *g = p->parent;
    if (x == p->left) {
        p->left = x->right;
        if (p->left != NULL)
            p->left->parent = p;
        x->right = p;
    } else {
        p->right = x->left;
        if (p->right != NULL)
            p->right->parent = p;
        x->left = p;
    }
    p->parent = x;
    x->parent = g;
    if (g == NULL)
        t->root = x;
    else if (g->left == p)
        g->left = x;
    else
        g->right = x;
    recount(p);
    recount(x);
}

void ostree_insert_at(struct ostree *t, size_t i, struct ostree_node *x)
{
    struct ostree_node *n = t->root;

    x->left = x->right = x->parent = NULL;
    x->size = 1;
    x->prio = pb_strhash((const char *)&x, sizeof(x));
    if (n == NULL) {
        t->root = x;
        return;
    }
    for (;;) {                          /* descend to a leaf slot, counting x in on the way */
        size_t ls = sz(n->left);
        n->size++;
        if (i <= ls) {
            if (n->left == NULL) {
                n->left = x;
                break;
            }
            n = n->left;
        } else {
            i -= ls + 1;
            if (n->right == NULL) {
                n->right = x;
                break;
            }
            n = n->right;
        }
    }
    x->parent = n;
    while (x->parent != NULL && x->parent->prio < x->prio)
        rotate_up(t, x);
}

/* The treap holding a's members and then b's (heap order by priority); a's and b's nodes are
 * relinked. Depth of recursion: height(a) + height(b), O(log n) expected. */
static struct ostree_node *merge(struct ostree_node *a, struct ostree_node *b)
{
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    if (a->prio >= b->prio) {
        a->right = merge(a->right, b);
        a->right->parent = a;
        recount(a);
        return a;
    }
    b->left = merge(a, b->left);
    b->left->parent = b;
    recount(b);
    return b;
}

void ostree_join(struct ostree *t, struct ostree *tail)
{
    t->root = merge(t->root, tail->root);
    if (t->root != NULL)
        t->root->parent = NULL;
    tail->root = NULL;
}

void ostree_remove(struct ostree *t, struct ostree_node *x)
{
    /* rotate x down (its higher-priority child up) until it has at most one child */
    while (x->left != NULL && x->right != NULL)
        rotate_up(t, x->left->prio > x->right->prio ? x->left : x->right);
    struct ostree_node *c = x->left != NULL ? x->left : x->right, *p = x->parent;
    if (c != NULL)
        c->parent = p;
    if (p == NULL)
        t->root = c;
    else if (p->left == x)
        p->left = c;
    else
        p->right = c;
    for (; p != NULL; p = p->parent)
        p->size--;
    x->left = x->right = x->parent = NULL;
    x->size = 0;
    x->prio = 0;
}

/* Checks the subtree under n; returns its size, or (size_t)-1 when something is wrong. The
 * recursion is as deep as the tree: O(log n) expected. */
static size_t check(const struct ostree_node *n, const struct ostree_node *parent)
{
    if (n == NULL)
        return 0;
    if (n->parent != parent || (parent != NULL && parent->prio < n->prio))
        return (size_t)-1;
    size_t l = check(n->left, n), r = check(n->right, n);
    if (l == (size_t)-1 || r == (size_t)-1 || n->size != l + r + 1)
        return (size_t)-1;
    return n->size;
}

bool ostree_check(const struct ostree *t)
{
    return check(t->root, NULL) != (size_t)-1;
}
