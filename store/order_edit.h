/*
 * order_edit — write-through order edits of SPEC §4 "PUT /api/orders/:id" (the field part; a
 * change of column or position is a move: store_order_move) and "DELETE /api/orders/:id".
 * Same phases and error conventions as store/store.h.
 */
#ifndef PB_STORE_ORDER_EDIT_H
#define PB_STORE_ORDER_EDIT_H

#include "store/store.h"

/* A partial update of an order's fields. Strings borrowed. */
struct order_patch {
    const char *order_number;           /* NULL = unchanged; unique among live orders */
    const char *stock_code;             /* NULL = unchanged */
    const char *description;            /* NULL = unchanged */
    bool has_current_operation;
    const char *current_operation;      /* NULL or "" = clear */
    bool has_quantity_to_make;
    int64_t quantity_to_make;
    bool has_quantity_completed;
    int64_t quantity_completed;
    int status;                         /* enum order_status, -1 = unchanged */
    int priority;                       /* enum order_priority, -1 = unchanged */
    bool has_due_date;
    const char *due_date;               /* "YYYY-MM-DD", NULL or "" = clear */
    bool has_start_date;
    const char *start_date;
    bool has_version;                   /* precondition: the order's current version */
    int64_t version;
    const char *timezone;               /* tenant's IANA zone for "today" (NULL = UTC) */
    int64_t user_id;                    /* who edits (audit) */
    bool wip_override;                  /* SPEC §9: an admin's "override": true passes a hard
                                         * WIP limit */
};

/* Everything absent (status/priority -1). */
void order_patch_init(struct order_patch *p);

/*
 * Check the fields of order o merged with patch p against the rules of order_input_check
 * (reported the same way: snake_case field, human sentence). Uniqueness and the version are
 * not checked. Returns the number of broken rules (0 = valid).
 */
int order_patch_check(const struct order *o, const struct order_patch *p, pb_report_fn report,
                      void *ctx);

/*
 * Apply patch p to order order_id. The merged order must pass order_input_check.
 * Status rules (SPEC §4): becoming complete sets completion_date = today in p->timezone and
 * completed_at = now; leaving complete clears both; becoming in_progress sets start_date to
 * today when it is empty after the patch and started_at (COALESCE) = now.
 * When something changed: version +1, updated_at, one "order_updated" audit row whose
 * event_data holds {"orderNumber", "fields": [...], "statusFrom"/"statusTo" on a status
 * change, "quantityCompletedDelta" on a quantity_completed change}; *changed = true.
 * When nothing differs: no write, no audit row, *changed = false (the version is still checked).
 * *out (may be NULL) = the cached order. Locks are not checked here.
 * Errors in this order: PB_ENOT_FOUND; PB_EVALIDATION (rules); PB_ECONFLICT stale version,
 * then orderNumber taken; PB_EINTERNAL. On error nothing changed.
 */
int store_order_update(struct store *s, struct board *b, int64_t order_id,
                       const struct order_patch *p, struct order **out, bool *changed);

/*
 * SPEC §4 "PUT /api/orders/:id" with a move: patch p (which may change nothing) and move
 * (to_work_centre_id, position, reason, has_from/from_work_centre_id, user_id; its order_id and
 * version are ignored: the version precondition is p's) as ONE change: one transaction holding
 * the field UPDATE with its "order_updated" audit row (when a field changed) and the move of
 * store_order_move with its "order_moved" row (same timestamp); the version grows by exactly
 * one. move NULL is store_order_update. *moved (may be NULL) as store_order_move's *out;
 * *changed = whether a field changed. Locks are not checked here.
 * Errors in this order: PB_ENOT_FOUND; PB_EVALIDATION (field rules); PB_ECONFLICT stale
 * version, orderNumber taken; then the move's: PB_EVALIDATION unknown or inactive target or
 * position < -1, PB_ECONFLICT fromWorkCentreId; PB_EWIP_LIMIT (SPEC §9) the order, with its
 * new status, enters a column over its hard WIP limit, or a status change from complete or
 * cancelled makes it count again in such a column, without p->wip_override or
 * move->wip_override; PB_EINTERNAL. On error nothing changed, in SQLite or in the cache.
 */
int store_order_update_move(struct store *s, struct board *b, int64_t order_id,
                            const struct order_patch *p, const struct move_request *move,
                            struct order **out, bool *changed, struct move_result *moved);

/*
 * store_order_update_move (move may be NULL: store_order_update) in three phases, for the
 * writer (docs/writer.md "Order updates and scanner events"; SPEC §4 PUT /api/orders/:id).
 *   prepare (loop thread, when the tenant's earlier writes are done): checks p and move against
 *     b exactly as store_order_update_move does, errors in its order (PB_ENOT_FOUND;
 *     PB_EVALIDATION field rules; PB_ECONFLICT stale version, then orderNumber taken; the
 *     move's PB_EVALIDATION / PB_ECONFLICT; PB_EINTERNAL out of memory) and plans both; changes
 *     nothing. Drag locks are not checked (the caller's, SPEC §5). On success *out owns the job;
 *     the strings of p must stay valid until the job is freed (the plan borrows them);
 *     move->reason is copied.
 *   writes (any thread): false when the job changes nothing (no field differs, no move): its
 *     write does nothing and apply only reports *changed = false.
 *   write (the thread that owns connection s, a sibling store, inside a transaction the caller
 *     opened; it must not BEGIN/COMMIT): the field UPDATE and its "order_updated" audit row,
 *     the move's rows and "order_moved" audit row, one timestamp, one version step. Reads b,
 *     which must not change until apply (the writer's gate). May run again after a rollback
 *     (it only writes rows; nothing in the job changes). PB_ECONFLICT the orderNumber was taken
 *     in SQLite meanwhile (another connection; unique index), PB_EINTERNAL.
 *   apply (loop thread, after COMMIT, cannot fail, no allocation): changes b; *changed (may be
 *     NULL) = a field changed, *moved (may be NULL) filled when there was a move; returns the
 *     order (the board's).
 * Free the job with store_update_job_free (NULL is fine) in every case, after apply or instead.
 */
struct update_job;
int store_update_prepare(struct board *b, int64_t order_id, const struct order_patch *p,
                         const struct move_request *move, struct update_job **out);
bool store_update_writes(const struct update_job *j);
int store_update_write(struct store *s, struct update_job *j);
struct order *store_update_apply(struct board *b, struct update_job *j, bool *changed,
                                 struct move_result *moved);
void store_update_job_free(struct update_job *j);
/* SPEC §9: the WIP check of a prepared update (the move's target column, or the order's own
 * column when only its status makes it count again); all zero when no limit was involved. */
void store_update_wip(const struct update_job *j, struct wip_check *out);
/* SPEC §12 (the event goes in with its change, server/job_events.c): *out = the order as
 * apply will make it when the job has no move (the planned fields, version and updatedAt); its
 * strings are borrowed from the job and the board (valid until apply or the job's free), its
 * column node is not usable: the position is order_position() of the board's order. Any
 * thread that may read b (the writer's gate keeps it still). */
void store_update_tried(const struct update_job *j, struct order *out);
/* SPEC §12 (the event goes in with its change): for a job with a move, *order = the order as
 * apply will make it (the planned fields, its new column and rank, version and updatedAt; the
 * same borrowing as store_update_tried) and *out = the move as apply will report it, with
 * out->order = order (its position is out->position); returns true. A job without a move:
 * false, nothing set. Any thread that may read b. */
bool store_update_move_tried(const struct update_job *j, struct order *order,
                             struct move_result *out);

/*
 * Soft delete (deleted_at) of order order_id: the orders after it in its column close up
 * (positions -1, versions unchanged), it leaves the cache and its orderNumber can be used
 * again. One "order_deleted" audit row (from_work_centre_id = its column, queue_depth_from =
 * the column's size before). *from_wc (may be NULL) = its column (0 = backlog).
 * PB_ENOT_FOUND, PB_EINTERNAL (nothing changed). Locks are the caller's business.
 */
int store_order_delete(struct store *s, struct board *b, int64_t order_id, int64_t user_id,
                       int64_t *from_wc);

/*
 * store_order_delete in three phases, for the writer (docs/writer.md): prepare (loop thread;
 * PB_ENOT_FOUND, PB_EINTERNAL), write (the thread that owns connection s, a sibling store,
 * in a transaction the caller opened; may run again; PB_EINTERNAL), apply (loop thread, after
 * COMMIT, cannot fail): the order leaves b and is freed; returns the work centre it was in
 * (0 = backlog). Free the job with store_delete_job_free (NULL is fine) in every case.
 */
struct delete_job;
int store_delete_prepare(struct board *b, int64_t order_id, int64_t user_id,
                         struct delete_job **out);
int store_delete_write(struct store *s, struct delete_job *j);
int64_t store_delete_apply(struct board *b, struct delete_job *j);
void store_delete_job_free(struct delete_job *j);

#endif
