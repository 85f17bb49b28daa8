/*
 * wip — SPEC §9 WIP limits: what a column's limit counts and whether a change may add to it.
 * The decision lives here, once, for every write that puts orders into a column: moves
 * (store__move_prepare, so a batch of moves sees the earlier moves of the batch), updates
 * (order_edit.c) and imports (the server checks the rows against the board, import.c).
 * Scanner events never ask (SPEC §9: the floor is the truth).
 */
#include "store/store.h"

#include "core/errors.h"

#include <stdlib.h>
#include <string.h>

bool store_wip_counts(enum order_status st)
{
    return st != ORDER_COMPLETE && st != ORDER_CANCELLED;
}

size_t store_wip_count(const struct column *c)
{
    size_t n = 0;
    for (const struct order *o = board_column_first(c); o != NULL; o = board_column_next(o))
        n += store_wip_counts(o->status);
    return n;
}

int store_wip_check(const struct board *b, int64_t wc_id, size_t adding, bool override,
                    struct wip_check *out)
{
    memset(out, 0, sizeof(*out));
    const struct work_centre *wc = wc_id != 0 ? board_work_centre(b, wc_id) : NULL;
    if (wc == NULL || wc->wip_limit <= 0)
        return 0;
    out->limit = wc->wip_limit;
    out->hard = wc->wip_hard;
    out->count = (int64_t)(store_wip_count(board_column((struct board *)b, wc_id)) + adding);
    out->exceeded = adding > 0 && out->count > out->limit;
    if (!out->exceeded || !out->hard)
        return 0;
    if (!override)
        return PB_EWIP_LIMIT;
    out->overridden = true;
    return 0;
}

bool store_wip_limited(const struct board *b)
{
    for (size_t i = 0; i < b->n_work_centres; i++)
        if (b->work_centres[i].wip_limit > 0)
            return true;
    return false;
}

/* The running count of the column of wc_id (counts[] by work centre index, -1 = not counted
 * yet), or NULL when that column has no limit (the backlog, unknown ids). */
static int64_t *running_count(const struct board *b, int64_t *counts, int64_t wc_id)
{
    const struct work_centre *wc = wc_id != 0 ? board_work_centre(b, wc_id) : NULL;
    if (wc == NULL || wc->wip_limit <= 0)
        return NULL;
    size_t k = (size_t)(wc - b->work_centres);
    if (counts[k] < 0)
        counts[k] = (int64_t)store_wip_count(board_column((struct board *)b, wc_id));
    return &counts[k];
}

int store_wip_import(const struct board *b, const struct order_input *rows, size_t n,
                     bool place_file, bool override, struct wip_check *out)
{
    int64_t *counts = malloc((b->n_work_centres + 1) * sizeof(*counts));
    if (counts == NULL)
        return PB_EINTERNAL;
    for (size_t k = 0; k <= b->n_work_centres; k++)
        counts[k] = -1;
    for (size_t i = 0; i < n; i++) {
        struct wip_check *w = &out[i];
        memset(w, 0, sizeof(*w));
        const struct order *ex = rows[i].order_number != NULL
                                     ? board_order_by_number(b, rows[i].order_number) : NULL;
        int64_t from = ex != NULL ? ex->work_centre_id : 0;
        int64_t to = ex != NULL && !place_file ? from : rows[i].work_centre_id;
        bool was = ex != NULL && store_wip_counts(ex->status);
        bool now = store_wip_counts((enum order_status)rows[i].status);
        int64_t *cf = ex != NULL ? running_count(b, counts, from) : NULL;
        int64_t *ct = running_count(b, counts, to);
        if (ex != NULL && from == to) {         /* stays where it is: never new */
            if (ct != NULL)
                *ct += (int64_t)now - (int64_t)was;
            continue;
        }
        if (ct != NULL && now) {
            const struct work_centre *wc = board_work_centre(b, to);
            w->limit = wc->wip_limit;
            w->hard = wc->wip_hard;
            w->count = *ct + 1;
            w->exceeded = w->count > w->limit;
            if (w->exceeded && w->hard && !override)
                continue;                       /* refused: the row changes nothing */
            w->overridden = w->exceeded && w->hard;
            (*ct)++;
        }
        if (cf != NULL && was)
            (*cf)--;                            /* it leaves its column */
    }
    free(counts);
    return 0;
}
