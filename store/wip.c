/*
 * wip — SPEC §9 WIP limits: what a column's limit counts and whether a change may add to it.
 * The decision lives here, once, for every write that puts orders into a column: moves
 * (store__move_prepare, so a batch of moves sees the earlier moves of the batch), updates
 * (order_edit.c) and imports (the server checks the rows against the board, import.c).
 * Scanner events never ask (SPEC §9: the floor is the truth).
 */
#include "store/store.h"

#include "core/errors.h"

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
