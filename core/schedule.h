/*
 * schedule — the projection engine of SPEC §9 (issue 11): when each order of a work centre's
 * column will start and finish given the queue, the centre's capacity and the calendar, and
 * whether it will be late. Pure C over the board's in-memory structs (core/model.h orders in a
 * column's core/ostree, each with its order_route): no SQLite, no JSON, no clock.
 *
 * The rule, per work centre (SPEC §9 "Projection"):
 *   - orders of the column with status not_started or in_progress, in position order, are placed
 *     on `capacity` parallel slots; each takes the slot that frees first (lowest slot on ties),
 *     starts at the later of that moment and scheduleAt, moved to the next working minute, and
 *     runs for its work at this centre in working minutes; the slot frees when that work ends;
 *   - work at the centre: the order's first step at this centre that is not complete or skipped
 *     (lowest stepNumber) gives ceil(planned x (quantityToMake - step quantityCompleted) /
 *     quantityToMake) (the remaining quantity clamped to 0..quantityToMake); with no such step
 *     or a null plannedDurationMinutes, the centre's defaultOperationMinutes;
 *   - projectedFinish then adds, one after another in working minutes and without queueing,
 *     the order's later pending steps: those after the step above (stepNumber order), or all of
 *     its pending steps when it has no step at this centre (our reading of "later" then: the
 *     routing still ahead of it), each at its plannedDurationMinutes, else the default of that
 *     step's centre (SCHEDULE_DEFAULT_MINUTES for a step with no or an unknown centre);
 *   - late: projectedFinish after the end of dueDate (the midnight that ends the due day in the
 *     calendar's zone); false without a dueDate; an order whose finish is past the calendar's
 *     horizon is late when it has a dueDate;
 *   - orders of the backlog, and orders that are on_hold, complete or cancelled: null (0) and
 *     not late.
 *
 * scheduleAt is one moment for the whole board (the board keeps it between full recomputes),
 * so a column recomputed after a move agrees with a full recompute at the same scheduleAt.
 *
 * Threading: whoever owns the board (the loop thread); the calendar is changed too (its cache).
 */
#ifndef PB_SCHEDULE_H
#define PB_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/calendar.h"
#include "core/model.h"
#include "core/ostree.h"

#define SCHEDULE_NULL 0                 /* projected_start / _finish of an unscheduled order */
#define SCHEDULE_BEYOND CAL_BEYOND      /* past the calendar's horizon */
#define SCHEDULE_DEFAULT_MINUTES 60     /* SPEC §2 defaultOperationMinutes default */
#define SCHEDULE_INLINE_SLOTS 64        /* capacities up to this need no allocation */

/* One column to project. */
struct schedule_column {
    int64_t work_centre_id;             /* 0 = the backlog (every order null) */
    int64_t capacity;                   /* >= 1 */
    int64_t default_minutes;            /* >= 1: the centre's defaultOperationMinutes */
    const struct ostree *orders;        /* struct order via column_node, in position order */
};

/* What a projection needs besides the column. */
struct schedule_ctx {
    struct calendar *calendar;          /* the tenant's calendar (zone included) */
    int64_t at;                         /* scheduleAt, minutes since the epoch (UTC) */
    /* defaultOperationMinutes of work centre wc_id (for later steps at other centres); a value
     * < 1 (unknown centre) means SCHEDULE_DEFAULT_MINUTES */
    int64_t (*default_minutes)(void *ctx, int64_t wc_id);
    void *lookup_ctx;
};

/* Orders whose (projectedStart, projectedFinish, late) changed: ids in the order they were
 * recomputed (an order is listed once per recompute call). Owned by the caller: zero-initialise,
 * reuse with n = 0, free with schedule_changes_cleanup. */
struct schedule_changes {
    int64_t *ids;
    size_t n, cap;
};
void schedule_changes_cleanup(struct schedule_changes *ch);

/*
 * Project one column (SPEC §9): sets projected_start, projected_finish and late on each of its
 * orders and appends to ch (may be NULL) the ids of those whose values changed. A move touches
 * two columns: call it for both (the backlog sets the moved order null).
 * Cost: O(orders x (log capacity + steps + log calendar intervals)).
 * Returns 0, or PB_EINTERNAL when memory for the slots (capacity > SCHEDULE_INLINE_SLOTS) or
 * for ch ran out: the orders' values are then still all set, ch may miss some ids.
 */
int schedule_column(const struct schedule_ctx *ctx, const struct schedule_column *col,
                    struct schedule_changes *ch);

/* The projected values of one order (minutes since the epoch, SCHEDULE_NULL / _BEYOND). */
struct schedule_value {
    int64_t start, finish;
    bool late;
};

/*
 * What-if (SPEC §9 preview-move): project column col as if it held orders[0..n) in that order
 * (col->orders is not read), by exactly the rule of schedule_column, without changing any
 * order: out[i] (caller storage, n entries) gets the values orders[i] would have. The orders
 * are only read, so a scratch sequence of the live board's orders is safe.
 * Returns 0, or PB_EINTERNAL when memory for the slots ran out (out is still all set, with
 * one slot).
 */
int schedule_sequence(const struct schedule_ctx *ctx, const struct schedule_column *col,
                      const struct order *const *orders, size_t n, struct schedule_value *out);

/* schedule_column for each of n columns (the whole board: its work centres and its backlog),
 * after a calendar, time-zone or work-centre change or a new scheduleAt. Returns 0 or
 * PB_EINTERNAL as above (every column is still projected). */
int schedule_all(const struct schedule_ctx *ctx, const struct schedule_column *cols, size_t n,
                 struct schedule_changes *ch);

/* The work of order o at work centre wc_id in working minutes (the second rule above), with
 * default_minutes the centre's default; *step gets the index in o->route of the step used, or
 * o->route->n (0 without a route) when none. Exposed for tests and analytics. */
int64_t schedule_work_at(const struct order *o, int64_t wc_id, int64_t default_minutes,
                         size_t *step);

#endif
