/*
 * schedule — SPEC §9 projection of a column over capacity slots (see schedule.h). The slots
 * are a binary min-heap on (free minute, slot index), so "the slot that frees first, lowest
 * slot on ties" is O(log capacity) per order; only min(capacity, orders) slots exist.
 */
#include "core/schedule.h"

#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

void schedule_changes_cleanup(struct schedule_changes *ch)
{
    if (ch == NULL)
        return;
    free(ch->ids);
    ch->ids = NULL;
    ch->n = ch->cap = 0;
}

static int changes_add(struct schedule_changes *ch, int64_t id)
{
    if (ch->n == ch->cap) {
        size_t cap = ch->cap ? ch->cap * 2 : 64;
        int64_t *ids = realloc(ch->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return PB_EINTERNAL;
        ch->ids = ids;
        ch->cap = cap;
    }
    ch->ids[ch->n++] = id;
    return 0;
}

/* ---------------------------------------------------------------- work */

int64_t schedule_work_at(const struct order *o, int64_t wc_id, int64_t default_minutes,
                         size_t *step)
{
    const struct order_route *r = o->route;
    size_t n = r != NULL ? r->n : 0;

    for (size_t i = 0; i < n; i++) {
        const struct route_step *s = &r->steps[i];
        if (s->work_centre_id != wc_id || s->status == STEP_COMPLETE || s->status == STEP_SKIPPED)
            continue;
        *step = i;
        if (s->planned_minutes < 0)
            return default_minutes;
        int64_t q = o->quantity_to_make, left = q - s->quantity_completed;
        if (q <= 0)
            return s->planned_minutes;
        if (left < 0)
            left = 0;
        if (left > q)
            left = q;
        /* ceil(planned x left / q) without overflow: planned and q are each < 2^63 */
        unsigned __int128 num = (unsigned __int128)(uint64_t)s->planned_minutes * (uint64_t)left;
        unsigned __int128 w = (num + (uint64_t)q - 1) / (uint64_t)q;
        return w > (unsigned __int128)INT64_MAX ? INT64_MAX : (int64_t)w;
    }
    *step = n;
    return default_minutes;
}

/* ---------------------------------------------------------------- slots */

struct slot {
    int64_t free;                       /* minute the slot frees */
    int64_t index;                      /* slot number: ties go to the lowest */
};

static bool slot_less(const struct slot *a, const struct slot *b)
{
    return a->free < b->free || (a->free == b->free && a->index < b->index);
}

static void sift_down(struct slot *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && slot_less(&h[l], &h[m]))
            m = l;
        if (r < n && slot_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct slot t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* ---------------------------------------------------------------- projection */

static struct order *order_of(const struct ostree_node *n)
{
    return n != NULL ? (struct order *)((char *)n - offsetof(struct order, column_node)) : NULL;
}

static bool active(const struct order *o)
{
    return o->status == ORDER_NOT_STARTED || o->status == ORDER_IN_PROGRESS;
}

/* Set o's values; 1 when they changed. */
static int set(struct order *o, int64_t start, int64_t finish, bool late)
{
    if (o->projected_start == start && o->projected_finish == finish && o->late == late)
        return 0;
    o->projected_start = start;
    o->projected_finish = finish;
    o->late = late;
    return 1;
}

static int64_t other_default(const struct schedule_ctx *ctx, int64_t wc_id)
{
    int64_t m = wc_id > 0 && ctx->default_minutes != NULL
                    ? ctx->default_minutes(ctx->lookup_ctx, wc_id) : 0;
    return m >= 1 ? m : SCHEDULE_DEFAULT_MINUTES;
}

/* The slots of column col for n_active orders: in inline_slots when they fit, else malloc'd
 * (free when *heap != inline_slots). Every slot is free at scheduleAt; in index order the
 * array is already a heap. Returns 0, or PB_EINTERNAL (out of memory: one slot, so every
 * order still gets a value rather than a stale one). */
static int slots_open(const struct schedule_ctx *ctx, const struct schedule_column *col,
                      size_t n_active, struct slot *inline_slots, struct slot **heap,
                      size_t *n_slots)
{
    int64_t cap = col->capacity >= 1 ? col->capacity : 1;
    int rc = 0;
    *heap = inline_slots;
    *n_slots = (uint64_t)cap < n_active ? (size_t)cap : n_active;
    if (*n_slots > SCHEDULE_INLINE_SLOTS && (*heap = malloc(*n_slots * sizeof(**heap))) == NULL) {
        rc = PB_EINTERNAL;
        *n_slots = 1;
        *heap = inline_slots;
    }
    for (size_t i = 0; i < *n_slots; i++)
        (*heap)[i] = (struct slot){ ctx->at, (int64_t)i };
    return rc;
}

/* The values of order o, next in column col whose slots are heap[0..n_slots): it takes the
 * slot that frees first, which then frees when o's work at this centre ends. */
static struct schedule_value place(const struct schedule_ctx *ctx, const struct schedule_column *col,
                                   struct slot *heap, size_t n_slots, const struct order *o)
{
    size_t used;
    int64_t from = heap[0].free > ctx->at ? heap[0].free : ctx->at;
    int64_t start = calendar_next_working(ctx->calendar, from);
    int64_t work = schedule_work_at(o, col->work_centre_id, col->default_minutes, &used);
    int64_t here = calendar_add(ctx->calendar, start, work);
    int64_t finish = here;
    const struct order_route *r = o->route;
    for (size_t i = used < (r ? r->n : 0) ? used + 1 : 0; r != NULL && i < r->n; i++) {
        const struct route_step *s = &r->steps[i];
        if (s->status != STEP_PENDING || finish == SCHEDULE_BEYOND)
            continue;
        int64_t m = s->planned_minutes >= 0 ? s->planned_minutes
                                            : other_default(ctx, s->work_centre_id);
        finish = calendar_add(ctx->calendar, finish, m);
    }
    bool late = false;
    if (o->due_date[0] != '\0') {
        int64_t end = calendar_day_end(ctx->calendar, o->due_date);
        late = end >= 0 && finish > end;
    }
    heap[0].free = here;
    sift_down(heap, n_slots, 0);
    return (struct schedule_value){ start, finish, late };
}

static const struct schedule_value unscheduled = { SCHEDULE_NULL, SCHEDULE_NULL, false };

int schedule_column(const struct schedule_ctx *ctx, const struct schedule_column *col,
                    struct schedule_changes *ch)
{
    struct slot inline_slots[SCHEDULE_INLINE_SLOTS], *heap = inline_slots;
    size_t n_slots = 0;
    int rc = 0;

    if (col->work_centre_id != 0) {
        size_t n_active = 0;
        for (struct ostree_node *x = ostree_first(col->orders); x != NULL; x = ostree_next(x))
            n_active += active(order_of(x));
        rc = slots_open(ctx, col, n_active, inline_slots, &heap, &n_slots);
    }
    for (struct ostree_node *x = ostree_first(col->orders); x != NULL; x = ostree_next(x)) {
        struct order *o = order_of(x);
        struct schedule_value v = col->work_centre_id == 0 || !active(o)
                                      ? unscheduled : place(ctx, col, heap, n_slots, o);
        if (set(o, v.start, v.finish, v.late) && ch != NULL && changes_add(ch, o->id) != 0)
            rc = PB_EINTERNAL;
    }
    if (heap != inline_slots)
        free(heap);
    return rc;
}

int schedule_sequence(const struct schedule_ctx *ctx, const struct schedule_column *col,
                      const struct order *const *orders, size_t n, struct schedule_value *out)
{
    struct slot inline_slots[SCHEDULE_INLINE_SLOTS], *heap = inline_slots;
    size_t n_slots = 0;
    int rc = 0;

    if (col->work_centre_id != 0) {
        size_t n_active = 0;
        for (size_t i = 0; i < n; i++)
            n_active += active(orders[i]);
        rc = slots_open(ctx, col, n_active, inline_slots, &heap, &n_slots);
    }
    for (size_t i = 0; i < n; i++)
        out[i] = col->work_centre_id == 0 || !active(orders[i])
                     ? unscheduled : place(ctx, col, heap, n_slots, orders[i]);
    if (heap != inline_slots)
        free(heap);
    return rc;
}

int schedule_all(const struct schedule_ctx *ctx, const struct schedule_column *cols, size_t n,
                 struct schedule_changes *ch)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (schedule_column(ctx, &cols[i], ch) != 0)
            rc = PB_EINTERNAL;
    return rc;
}
