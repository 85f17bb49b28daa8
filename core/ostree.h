/*
 * ostree — an intrusive order-statistic tree: a sequence whose members can be found by index,
 * asked for their index, inserted at an index and removed, each in O(log n) expected time
 * (a treap whose nodes count their subtree). It keeps the orders of one board column in
 * position order (store/board.c): SPEC §4 reports a dense 0-based `position`, and a move
 * must not cost O(column) (issue 9 item 2).
 *
 * Intrusive: the caller embeds a struct ostree_node in its own struct (struct order does) and
 * gets back to it with offsetof. Nothing here allocates, so nothing here can fail; that is why
 * the store can change its cache after a COMMIT without an error path. GLib's GSequence is
 * the same structure but allocates a node per member and aborts when that fails.
 *
 * Priorities are the keyed hash of the node's address (core/strhash.h): unpredictable to a
 * client that picks the places where orders go, so it cannot build a degenerate (deep) tree.
 * A tree belongs to one thread; the functions are not reentrant for one tree.
 */
#ifndef PB_OSTREE_H
#define PB_OSTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ostree_node {                /* private to ostree.c; zero when not in a tree */
    struct ostree_node *left, *right, *parent;
    size_t size;                    /* nodes in this subtree, itself included */
    uint64_t prio;                  /* heap order: a parent's prio >= its children's */
};

struct ostree {
    struct ostree_node *root;       /* NULL = empty; zero-initialise a struct ostree */
};

/* Members in the tree. O(1). */
size_t ostree_size(const struct ostree *t);

/* The member at 0-based index i, or NULL when i >= size. O(log n). */
struct ostree_node *ostree_at(const struct ostree *t, size_t i);

/* The 0-based index of member n in its tree (0 for a node in no tree). O(log n). */
size_t ostree_index(const struct ostree_node *n);

/* First / last member, or NULL when empty. O(log n). */
struct ostree_node *ostree_first(const struct ostree *t);
struct ostree_node *ostree_last(const struct ostree *t);

/* The member after / before n in sequence order, or NULL at the end. O(1) amortised over a
 * whole walk, O(log n) worst case. */
struct ostree_node *ostree_next(const struct ostree_node *n);
struct ostree_node *ostree_prev(const struct ostree_node *n);

/* Insert node n (in no tree; its contents are overwritten) so that it gets index i; the members
 * from i on move up by one. i > size means the end. Cannot fail. O(log n). */
void ostree_insert_at(struct ostree *t, size_t i, struct ostree_node *n);

/* Append every member of tail after t's (tail is emptied): O(log |t| + log |tail|) expected,
 * however many members tail has. A tail built elsewhere (on another thread, from nodes no
 * tree holds) joins a live tree in O(log n) (store/: an import's new orders). */
void ostree_join(struct ostree *t, struct ostree *tail);

/* Remove member n from t (n must be in t); the members after it move down by one. n is zeroed.
 * Cannot fail. O(log n). */
void ostree_remove(struct ostree *t, struct ostree_node *n);

/* Invariant check for assert(): parent links, subtree sizes and heap order hold. O(n). */
bool ostree_check(const struct ostree *t);

#endif
