/*
 * follow — another node's changes applied to the cached board; see follow.h.
 * Sits with order_edit.c and scanner.c at the top of store/ (it reads routing steps through
 * orders.c's store_order_steps and plans ranks with rank.c).
 */
#include "store/follow.h"

#include "store/store_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct board *loaded(const struct store *s, int64_t tenant_id)
{
    return hmap_get_int(&s->boards, tenant_id);
}

bool store_follow_loaded(const struct store *s, int64_t tenant_id)
{
    return loaded(s, tenant_id) != NULL;
}

/* The board changed under its readers: new cache keys, and the projection is recomputed whole
 * (quietly) at the next read, as after a reload. */
static void changed(struct board *b)
{
    b->version++;
    b->schedule_at = 0;
}

static void copy_opt(char *dst, size_t size, const char *v)
{
    snprintf(dst, size, "%s", v != NULL ? v : "");
}

/* The new strings of an order's fields, allocated before anything changes (so that running out
 * of memory leaves the order as it was). */
struct new_strings {
    char *num, *stock, *desc, *op;
};

static void new_strings_free(struct new_strings *ns)
{
    free(ns->num);
    free(ns->stock);
    free(ns->desc);
    free(ns->op);
}

static int new_strings_make(const struct follow_order *f, struct new_strings *ns)
{
    memset(ns, 0, sizeof(*ns));
    if (f->order_number == NULL || f->stock_code == NULL || f->description == NULL)
        return PB_EINTERNAL;
    ns->num = strdup(f->order_number);
    ns->stock = strdup(f->stock_code);
    ns->desc = strdup(f->description);
    bool has_op = f->current_operation != NULL && f->current_operation[0] != '\0';
    ns->op = has_op ? strdup(f->current_operation) : NULL;
    if (ns->num == NULL || ns->stock == NULL || ns->desc == NULL || (has_op && ns->op == NULL)) {
        new_strings_free(ns);
        return PB_EINTERNAL;
    }
    return 0;
}

/* Swap the event's field values into o (no allocation; ns emptied). The by_number index
 * follows a renumbered order when o is indexed (a new one is indexed by the caller). The
 * caller checked that no other order holds the number. */
static void set_fields(struct board *b, struct order *o, const struct follow_order *f,
                       struct new_strings *ns, bool indexed)
{
    bool renumbered = indexed && strcmp(o->order_number, ns->num) != 0;
    if (renumbered)
        hmap_del_str(&b->index->by_number, o->order_number);   /* keyed by the old string */
    free(o->order_number);
    o->order_number = ns->num;
    if (renumbered)
        hmap_put_str(&b->index->by_number, o->order_number, o);
    free(o->stock_code);
    o->stock_code = ns->stock;
    free(o->description);
    o->description = ns->desc;
    free(o->current_operation);
    o->current_operation = ns->op;
    memset(ns, 0, sizeof(*ns));
    o->quantity_to_make = f->quantity_to_make;
    o->quantity_completed = f->quantity_completed;
    o->status = (enum order_status)f->status;
    o->priority = (enum order_priority)f->priority;
    copy_opt(o->due_date, sizeof(o->due_date), f->due_date);
    copy_opt(o->start_date, sizeof(o->start_date), f->start_date);
    copy_opt(o->completion_date, sizeof(o->completion_date), f->completion_date);
    o->created_by = f->created_by;
    copy_opt(o->created_at, sizeof(o->created_at), f->created_at);
    copy_opt(o->updated_at, sizeof(o->updated_at), f->updated_at);
    o->version = f->version;
}

/* True when the event's order number is free for order o (or o's own). */
static bool number_free(const struct board *b, const struct order *o, const char *num)
{
    const struct order *holder = board_order_by_number(b, num);
    return holder == NULL || holder == o;
}

/* Where rank goes in column c (o, when in c, not counted): the index of the first order whose
 * rank is above it. *taken when another order holds exactly that rank. O(log^2 n). */
static size_t rank_slot(const struct column *c, int64_t rank, const struct order *o,
                        bool *taken)
{
    size_t lo = 0, hi = board_column_len(c);
    *taken = false;
    while (lo < hi) {                   /* first index whose rank >= rank */
        size_t mid = lo + (hi - lo) / 2;
        if (board_column_at(c, mid)->rank < rank)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct order *at = board_column_at(c, lo);
    if (at != NULL && at == o)
        at = board_column_next(at);
    if (at != NULL && at->rank == rank)
        *taken = true;
    if (o != NULL && o->work_centre_id == c->work_centre_id && order_position(o) < (int64_t)lo)
        lo--;                           /* o sits before the slot: it leaves the column */
    return lo;
}

int store_follow_read_route(struct store *s, int64_t tenant_id, int64_t order_id,
                            struct order_route **out)
{
    struct step *steps = NULL;
    size_t n = 0;
    bool oom = false;
    *out = NULL;
    if (store_order_steps(s, tenant_id, order_id, &steps, &n) != 0)
        return PB_EINTERNAL;
    *out = board__route_new(steps, n, &oom);
    for (size_t i = 0; i < n; i++)
        step_cleanup(&steps[i]);
    free(steps);
    return oom ? PB_EINTERNAL : 0;
}

int store_follow_moved(struct store *s, int64_t tenant_id, const struct follow_order *f)
{
    struct board *b = loaded(s, tenant_id);
    struct new_strings ns;
    if (b == NULL)
        return FOLLOW_NOT_LOADED;
    struct order *o = board_order(b, f->id);
    if (o == NULL)
        return FOLLOW_STALE;            /* its create is not in this cache */
    if (f->version <= o->version)
        return FOLLOW_SEEN;
    struct column *dst = board_column(b, f->work_centre_id);
    if (f->version != o->version + 1 || !f->has_rank || dst == NULL || f->rank < RANK_LOW
        || f->rank > RANK_HIGH || !number_free(b, o, f->order_number))
        return FOLLOW_STALE;
    bool taken;
    size_t slot = rank_slot(dst, f->rank, o, &taken);
    if (taken || (int64_t)slot != f->position)
        return FOLLOW_STALE;            /* this board is not the mover's */
    if (new_strings_make(f, &ns) != 0)
        return PB_EINTERNAL;
    struct column *src = board_column(b, o->work_centre_id);
    ostree_remove(&src->orders, &o->column_node);
    o->rank = f->rank;
    o->work_centre_id = dst->work_centre_id;
    ostree_insert_at(&dst->orders, slot, &o->column_node);
    set_fields(b, o, f, &ns, true);
    changed(b);
    assert(board__order_check(b, o));
    return FOLLOW_APPLIED;
}

int store_follow_updated(struct store *s, int64_t tenant_id, const struct follow_order *f)
{
    struct board *b = loaded(s, tenant_id);
    struct new_strings ns;
    if (b == NULL)
        return FOLLOW_NOT_LOADED;
    struct order *o = board_order(b, f->id);
    if (o == NULL)
        return FOLLOW_STALE;
    if (f->version < o->version)
        return FOLLOW_SEEN;
    if (f->version > o->version + 1 || f->work_centre_id != o->work_centre_id
        || !number_free(b, o, f->order_number))
        return FOLLOW_STALE;            /* a field update never moves the order */
    if (new_strings_make(f, &ns) != 0)
        return PB_EINTERNAL;
    set_fields(b, o, f, &ns, true);
    changed(b);
    return FOLLOW_APPLIED;
}

void store_follow_set_route(struct store *s, int64_t tenant_id, int64_t order_id,
                            struct order_route *route)
{
    struct board *b = loaded(s, tenant_id);
    struct order *o = b != NULL ? board_order(b, order_id) : NULL;
    if (o == NULL) {
        free(route);
        return;
    }
    free(o->route);
    o->route = route;
    changed(b);
}

int store_follow_created(struct store *s, int64_t tenant_id, const struct follow_order *f)
{
    struct board *b = loaded(s, tenant_id);
    struct rank_plan rp;
    struct new_strings ns;
    if (b == NULL)
        return FOLLOW_NOT_LOADED;
    if (board_order(b, f->id) != NULL)
        return FOLLOW_SEEN;
    struct column *col = board_column(b, f->work_centre_id);
    if (col == NULL || f->version != 1 || !number_free(b, NULL, f->order_number)
        || f->position != (int64_t)board_column_len(col))
        return FOLLOW_STALE;
    rank__plan(col, board_column_len(col), NULL, &rp);     /* the end, as store_create_prepare */
    if (rp.first != NULL)
        return FOLLOW_STALE;            /* the creator relabelled the column's end */
    struct order *o = calloc(1, sizeof(*o));
    if (o == NULL || hmap_reserve(&b->index->by_id, b->n_orders + 1) != 0
        || hmap_reserve(&b->index->by_number, b->n_orders + 1) != 0)
        goto nomem;
    if (new_strings_make(f, &ns) != 0)
        goto nomem;
    o->id = f->id;
    o->work_centre_id = col->work_centre_id;
    o->rank = rp.rank;
    set_fields(b, o, f, &ns, false);
    ostree_insert_at(&col->orders, SIZE_MAX, &o->column_node);
    hmap_put_int(&b->index->by_id, o->id, o);
    hmap_put_str(&b->index->by_number, o->order_number, o);
    b->n_orders++;
    changed(b);
    assert(board__order_check(b, o));
    return FOLLOW_APPLIED;
nomem:
    order__free(o);
    return PB_EINTERNAL;
}

int store_follow_deleted(struct store *s, int64_t tenant_id, int64_t order_id)
{
    struct board *b = loaded(s, tenant_id);
    if (b == NULL)
        return FOLLOW_NOT_LOADED;
    struct order *o = board_order(b, order_id);
    if (o == NULL)
        return FOLLOW_SEEN;
    struct column *c = board_column(b, o->work_centre_id);
    ostree_remove(&c->orders, &o->column_node);
    hmap_del_int(&b->index->by_id, o->id);
    hmap_del_str(&b->index->by_number, o->order_number);
    b->n_orders--;
    order__free(o);
    changed(b);
    return FOLLOW_APPLIED;
}

int store_follow_work_centres(struct store *s, int64_t tenant_id, const struct work_centre *wc,
                              size_t n)
{
    struct board *b = loaded(s, tenant_id);
    if (b == NULL)
        return FOLLOW_NOT_LOADED;
    if (n != b->n_work_centres)
        return FOLLOW_STALE;
    for (size_t i = 0; i < n; i++) {
        if (wc[i].id != b->work_centres[i].id || wc[i].code == NULL || wc[i].name == NULL)
            return FOLLOW_STALE;
        if (i > 0 && !(wc[i - 1].display_order < wc[i].display_order
                       || (wc[i - 1].display_order == wc[i].display_order
                           && wc[i - 1].id < wc[i].id)))
            return FOLLOW_STALE;        /* the columns would change places */
    }
    char **strs = calloc(3 * n + 1, sizeof(*strs));
    if (strs == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < n; i++) {
        strs[3 * i] = strdup(wc[i].code);
        strs[3 * i + 1] = strdup(wc[i].name);
        strs[3 * i + 2] = strdup(wc[i].description != NULL ? wc[i].description : "");
        if (strs[3 * i] == NULL || strs[3 * i + 1] == NULL || strs[3 * i + 2] == NULL) {
            for (size_t k = 0; k < 3 * n; k++)
                free(strs[k]);
            free(strs);
            return PB_EINTERNAL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct work_centre *w = &b->work_centres[i];
        free(w->code);
        free(w->name);
        free(w->description);
        *w = wc[i];
        w->code = strs[3 * i];
        w->name = strs[3 * i + 1];
        w->description = strs[3 * i + 2];
    }
    free(strs);
    changed(b);
    assert(board__layout_check(b));
    return FOLLOW_APPLIED;
}
