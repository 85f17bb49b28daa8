/*
 * work_centres — write-through work-centre mutations (SPEC §4 Work centres): create, partial
 * update, soft delete, reorder. Same three phases as store/orders.c: validate and allocate
 * (the new cache arrays), one transaction with exactly one audit row, then swap the new arrays
 * into the board without failing.
 *
 * The board keeps b->work_centres / b->columns as parallel arrays ordered by
 * (display_order, id); every function here keeps that order. The arrays are replaced, so every
 * pointer obtained from board_work_centre() / board_column() before a successful call is
 * invalid afterwards (order pointers stay valid).
 *
 * Errors (0 or negative PB_E*, core/errors.h):
 *   PB_EVALIDATION  a field breaks a rule (see work_centre_input_check), or a reorder list that
 *                   does not name every active work centre exactly once
 *   PB_ENOT_FOUND   no live work centre with that id in this tenant
 *   PB_ECONFLICT    code taken among live work centres; delete of a centre with live orders
 *   PB_EINTERNAL    SQLite or allocation failed; nothing changed (database nor cache)
 */
#ifndef PB_STORE_WORK_CENTRES_H
#define PB_STORE_WORK_CENTRES_H

#include "store/store.h"

#define PB_WC_DESCRIPTION_MAX 500       /* description length (code points) */
#define PB_WC_CAPACITY_MAX    1000000   /* sanity bound on capacity */
#define PB_WC_WIP_LIMIT_MAX   1000000   /* sanity bound on wipLimit (SPEC §9) */
#define PB_WC_MINUTES_MAX     1000000   /* defaultOperationMinutes: about 694 days of work */

/* A new work centre or a partial update. Strings borrowed; NULL = absent (update: unchanged;
 * create: code and name required, description ""). */
struct work_centre_input {
    const char *code;                   /* <= 20 code points, unique among live centres */
    const char *name;                   /* <= 100 */
    const char *description;            /* <= 500 */
    bool has_capacity;
    int64_t capacity;                   /* >= 1 */
    bool has_display_order;
    int64_t display_order;              /* create default: after the last one */
    bool has_is_active;
    bool is_active;                     /* create default: true */
    /* SPEC §2/§9, issue 11 */
    bool has_wip_limit;
    int64_t wip_limit;                  /* 1..PB_WC_WIP_LIMIT_MAX, 0 = null (no limit) */
    const char *wip_policy;             /* "soft" or "hard"; create default soft */
    bool has_default_minutes;
    int64_t default_operation_minutes;  /* 1..PB_WC_MINUTES_MAX; create default 60 */
};

/* Initialise `in` to "everything absent". */
void work_centre_input_init(struct work_centre_input *in);

/*
 * Check the field rules on `in`; `creating` makes code and name required. For each broken rule
 * calls report(ctx, field, message) with a snake_case field name ("code", "name",
 * "description", "capacity", "display_order", "wip_limit", "wip_policy",
 * "default_operation_minutes"). Uniqueness is not checked (the store does).
 * Returns the number of broken rules.
 */
int work_centre_input_check(const struct work_centre_input *in, bool creating,
                            pb_report_fn report, void *ctx);

/*
 * Create a work centre; it joins the board with an empty column. Audit "work_centre_created".
 * *out (may be NULL) points at the cached centre (valid until the next work-centre change).
 * PB_EVALIDATION, PB_ECONFLICT code taken, PB_EINTERNAL.
 */
int store_work_centre_create(struct store *s, struct board *b,
                             const struct work_centre_input *in, int64_t user_id,
                             const struct work_centre **out);

/*
 * Partial update of work centre wc_id (present fields only). A display_order change re-sorts
 * the board's columns. When some field differs: one "work_centre_updated" audit row naming
 * the changed fields, *changed = true; when none does, nothing is written and *changed =
 * false (changed may be NULL). *out as for create.
 * PB_ENOT_FOUND, PB_EVALIDATION, PB_ECONFLICT code taken, PB_EINTERNAL.
 */
int store_work_centre_update(struct store *s, struct board *b, int64_t wc_id,
                             const struct work_centre_input *in, int64_t user_id,
                             const struct work_centre **out, bool *changed);

/*
 * Soft delete (deleted_at) of work centre wc_id; its (empty) column leaves the board and its
 * code can be used again. Audit "work_centre_deleted".
 * PB_ENOT_FOUND, PB_ECONFLICT while live orders sit in it, PB_EINTERNAL.
 */
int store_work_centre_delete(struct store *s, struct board *b, int64_t wc_id, int64_t user_id);

/*
 * Reorder: ids[0..n-1] get display_order 0..n-1 in that order. The list must name every
 * active work centre exactly once; it may also name inactive ones. Live centres it does not
 * name (inactive ones) follow, keeping their relative order. Audit "work_centres_reordered".
 * PB_EVALIDATION unknown id (or another tenant's), duplicate, or an active centre missing;
 * PB_EINTERNAL.
 */
int store_work_centre_reorder(struct store *s, struct board *b, const int64_t *ids, size_t n,
                              int64_t user_id);

/* ---------------------------------------------------------------- through the writer */

/*
 * The four changes above as one job type in the writer's three phases (docs/writer.md
 * "Work centres, the calendar and tenant settings"; issue 9 item 1). Same rules, same audit
 * rows, same errors in the same order as the functions above, split by phase:
 *
 * store_wc_prepare (loop thread, the tenant's earlier writes applied): validates rq against
 *   board b and stages the change in a new job, *out (free it with store_wc_job_free in every
 *   case). rq and what it points at are borrowed for this call only (strings are copied).
 *   Errors: create PB_EVALIDATION, PB_ECONFLICT code taken; update PB_ENOT_FOUND,
 *   PB_EVALIDATION, PB_ECONFLICT code taken; delete PB_ENOT_FOUND, PB_ECONFLICT orders in its
 *   column; reorder PB_EVALIDATION (the list); all PB_EINTERNAL (no memory). *out NULL then.
 * store_wc_write (the thread owning connection s, a sibling store of b's: inside a transaction
 *   the caller opened, never BEGIN/COMMIT itself): the SQL and the audit row. May read b, which
 *   must not change until store_wc_apply (the writer's per-tenant gate). May run again after a
 *   rollback: results are overwritten. Errors: PB_ECONFLICT (create/update: the code is taken in
 *   SQL; delete: SQL holds live orders in the centre), PB_EINTERNAL. The caller rolls back.
 * store_wc_apply (loop thread, after COMMIT; cannot fail): the change enters b; returns
 *   whether the board changed (false: an update in which no field differed, nothing written).
 *   *out (may be NULL) = the cached centre (create, update; NULL for delete and reorder), valid
 *   until the next work-centre change. Pointers into b's work_centres/columns arrays obtained
 *   before are invalid afterwards (see the top of this file).
 * store_wc_job_id: the centre's id (create: known after store_wc_write).
 */
enum wc_op { WC_OP_CREATE, WC_OP_UPDATE, WC_OP_DELETE, WC_OP_REORDER };

struct wc_request {
    enum wc_op op;
    int64_t wc_id;                          /* update, delete */
    const struct work_centre_input *in;     /* create, update */
    const int64_t *ids;                     /* reorder: ids[0..n_ids-1] in their new order */
    size_t n_ids;
    int64_t user_id;                        /* who changes it (audit) */
};

struct wc_job;
int store_wc_prepare(const struct board *b, const struct wc_request *rq, struct wc_job **out);
int store_wc_write(struct store *s, struct wc_job *j);
bool store_wc_apply(struct board *b, struct wc_job *j, const struct work_centre **out);
/* SPEC §12 (the event goes in with its change, server/job_events.c): the board's work centres
 * as store_wc_apply will leave them, in display order, after a store_wc_write that returned 0
 * (a created centre has its id then): *out a new array of *n shallow copies (the strings are
 * the job's and the board's, valid until apply or the job's free; free the array). Any thread
 * that may read b (the writer's gate). 0; 1 when the job changes nothing (*out NULL);
 * PB_EINTERNAL (no memory). */
int store_wc_tried(const struct wc_job *j, struct work_centre **out, size_t *n);
int64_t store_wc_job_id(const struct wc_job *j);
void store_wc_job_free(struct wc_job *j);

#endif
