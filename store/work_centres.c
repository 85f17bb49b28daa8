/*
 * work_centres — write-through work-centre mutations: create, update, delete, reorder.
 *
 * The three phases of store/orders.c:
 *   1. prepare: validate against the cache, allocate the new work_centres / columns arrays and
 *      the new strings. Failing here changes nothing.
 *   2. write: BEGIN IMMEDIATE, the SQL, one audit row, COMMIT. Failing here rolls back and frees
 *      what phase 1 allocated; the cache was never touched.
 *   3. apply: swap the new arrays in, re-sort by (display_order, id), free the old ones. No
 *      allocation, so nothing here can fail.
 * Statements are prepared per call (they are rare admin writes), and finalized before any
 * ROLLBACK, since store__rollback() resets only the cached ones.
 */
#include "store/work_centres.h"

#include "store/store_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- input rules */

void work_centre_input_init(struct work_centre_input *in)
{
    memset(in, 0, sizeof(*in));
}

static bool blank(const char *s)
{
    if (s == NULL)
        return true;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

int work_centre_input_check(const struct work_centre_input *in, bool creating,
                            pb_report_fn report, void *ctx)
{
    int n = 0;

    if ((creating || in->code != NULL) && blank(in->code)) {
        report(ctx, "code", "is required");
        n++;
    } else if (in->code != NULL && pb_utf8_len(in->code) > PB_WC_CODE_MAX) {
        report(ctx, "code", "must be at most 20 characters");
        n++;
    }
    if ((creating || in->name != NULL) && blank(in->name)) {
        report(ctx, "name", "is required");
        n++;
    } else if (in->name != NULL && pb_utf8_len(in->name) > PB_WC_NAME_MAX) {
        report(ctx, "name", "must be at most 100 characters");
        n++;
    }
    if (in->description != NULL && pb_utf8_len(in->description) > PB_WC_DESCRIPTION_MAX) {
        report(ctx, "description", "must be at most 500 characters");
        n++;
    }
    if (in->has_capacity && (in->capacity < 1 || in->capacity > PB_WC_CAPACITY_MAX)) {
        report(ctx, "capacity", "must be a whole number of at least 1");
        n++;
    }
    if (in->has_display_order && (in->display_order < 0 || in->display_order > INT32_MAX)) {
        report(ctx, "display_order", "must be a whole number of at least 0");
        n++;
    }
    if (in->has_wip_limit && (in->wip_limit < 0 || in->wip_limit > PB_WC_WIP_LIMIT_MAX)) {
        report(ctx, "wip_limit", "must be null or a whole number of at least 1");
        n++;
    }
    if (in->wip_policy != NULL && strcmp(in->wip_policy, "soft") != 0
        && strcmp(in->wip_policy, "hard") != 0) {
        report(ctx, "wip_policy", "must be soft or hard");
        n++;
    }
    if (in->has_default_minutes && (in->default_operation_minutes < 1
                                    || in->default_operation_minutes > PB_WC_MINUTES_MAX)) {
        report(ctx, "default_operation_minutes", "must be a whole number of at least 1");
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------- helpers */

/* The staged layout of the board's work centres (phase 1 -> phase 3). */
struct wc_stage {
    struct work_centre *w;          /* new array, n entries (shallow copies of the old ones) */
    struct column *c;               /* parallel */
    size_t n;
};

/* Copy the board's arrays into new ones with room for `extra` more, leaving out index `skip`
 * (SIZE_MAX = none). 0 or PB_EINTERNAL. */
static int stage_copy(const struct board *b, size_t extra, size_t skip, struct wc_stage *st)
{
    size_t cap = b->n_work_centres + extra;
    st->w = calloc(cap ? cap : 1, sizeof(*st->w));
    st->c = calloc(cap ? cap : 1, sizeof(*st->c));
    st->n = 0;
    if (st->w == NULL || st->c == NULL) {
        free(st->w);
        free(st->c);
        st->w = NULL;
        st->c = NULL;
        return PB_EINTERNAL;
    }
    for (size_t i = 0; i < b->n_work_centres; i++) {
        if (i == skip)
            continue;
        st->w[st->n] = b->work_centres[i];
        st->c[st->n] = b->columns[i];
        st->n++;
    }
    return 0;
}

static void stage_free(struct wc_stage *st)
{
    free(st->w);
    free(st->c);
    st->w = NULL;
    st->c = NULL;
}

static bool wc_before(const struct work_centre *a, const struct work_centre *b)
{
    return a->display_order < b->display_order
           || (a->display_order == b->display_order && a->id < b->id);
}

/* Phase 3: sort the staged arrays by (display_order, id) (insertion sort: a board has a
 * handful of centres and this must not allocate), swap them into the board, free the old
 * arrays (not the strings or order arrays, which moved). */
static void stage_apply(struct board *b, struct wc_stage *st)
{
    for (size_t i = 1; i < st->n; i++) {
        struct work_centre w = st->w[i];
        struct column c = st->c[i];
        size_t j = i;
        while (j > 0 && wc_before(&w, &st->w[j - 1])) {
            st->w[j] = st->w[j - 1];
            st->c[j] = st->c[j - 1];
            j--;
        }
        st->w[j] = w;
        st->c[j] = c;
    }
    free(b->work_centres);
    free(b->columns);
    b->work_centres = st->w;
    b->columns = st->c;
    b->n_work_centres = st->n;
    st->w = NULL;
    st->c = NULL;
    b->version++;
}

static size_t wc_index(const struct board *b, int64_t wc_id)
{
    for (size_t i = 0; i < b->n_work_centres; i++)
        if (b->work_centres[i].id == wc_id)
            return i;
    return SIZE_MAX;
}

/* Step a write statement once and reset it (kept for reuse). 0 or PB_EINTERNAL; the extended
 * result code goes to *rc when not NULL. */
static int step_write(struct store *s, sqlite3_stmt *st, const char *what, int *rc)
{
    int r = sqlite3_step(st);
    if (rc != NULL)
        *rc = sqlite3_extended_errcode(s->db);
    if (r != SQLITE_DONE) {
        store__error(s, what);
        sqlite3_reset(st);
        return PB_EINTERNAL;
    }
    if (rc != NULL)
        *rc = SQLITE_OK;
    sqlite3_reset(st);
    return 0;
}

static int map_sql_error(int rc)
{
    return rc == SQLITE_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
}

static void report_none(void *ctx, const char *field, const char *message)
{
    (void)ctx;
    (void)field;
    (void)message;
}

/* The audit data {"workCentreId":id,"code":...,"name":...} (malloc'd, NULL on failure). */
static char *wc_audit_data(int64_t id, const char *code, const char *name, const char *more)
{
    char *qc = store__json_quote(code), *qn = store__json_quote(name), *d = NULL;
    if (qc != NULL && qn != NULL) {
        size_t len = strlen(qc) + strlen(qn) + (more ? strlen(more) : 0) + 64;
        if ((d = malloc(len)) != NULL)
            snprintf(d, len, "{\"workCentreId\":%lld,\"code\":%s,\"name\":%s%s}", (long long)id,
                     qc, qn, more ? more : "");
    }
    free(qc);
    free(qn);
    return d;
}

/* ---------------------------------------------------------------- create */

int store_work_centre_create(struct store *s, struct board *b,
                             const struct work_centre_input *in, int64_t user_id,
                             const struct work_centre **out)
{
    static const char sql[] =
        "INSERT INTO work_centres(tenant_id, code, name, description, capacity, display_order, "
        "is_active, created_at, updated_at, wip_limit, wip_policy, default_operation_minutes) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)";
    char now[PB_TIMESTAMP_LEN];
    struct wc_stage stg = { 0 };
    struct work_centre w = { 0 };
    char *data = NULL;
    sqlite3_stmt *st = NULL;
    int rc = PB_EINTERNAL, sqlrc = 0;

    if (work_centre_input_check(in, true, report_none, NULL) != 0)
        return PB_EVALIDATION;
    if (board_work_centre_by_code(b, in->code) != NULL)
        return PB_ECONFLICT;

    /* phase 1 */
    w.code = strdup(in->code);
    w.name = strdup(in->name);
    w.description = strdup(in->description != NULL ? in->description : "");
    w.capacity = in->has_capacity ? in->capacity : 1;
    w.display_order = in->has_display_order ? in->display_order
                      : b->n_work_centres > 0
                          ? b->work_centres[b->n_work_centres - 1].display_order + 1 : 0;
    w.is_active = in->has_is_active ? in->is_active : true;
    w.default_operation_minutes = in->has_default_minutes ? in->default_operation_minutes : 60;
    w.wip_limit = in->has_wip_limit ? in->wip_limit : 0;           /* SPEC §2 defaults */
    w.wip_hard = in->wip_policy != NULL && strcmp(in->wip_policy, "hard") == 0;
    if (w.code == NULL || w.name == NULL || w.description == NULL
        || stage_copy(b, 1, SIZE_MAX, &stg) != 0)
        goto out;
    pb_now_timestamp(now);

    /* phase 2 */
    if ((st = store__prepare(s, sql, "work centre insert")) == NULL || store__begin(s) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, b->tenant_id);
    sqlite3_bind_text(st, 2, w.code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, w.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, w.description, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, w.capacity);
    sqlite3_bind_int64(st, 6, w.display_order);
    sqlite3_bind_int(st, 7, w.is_active);
    sqlite3_bind_text(st, 8, now, -1, SQLITE_STATIC);
    store__bind_id_opt(st, 9, w.wip_limit);                         /* 0 binds NULL */
    sqlite3_bind_text(st, 10, w.wip_hard ? "hard" : "soft", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, w.default_operation_minutes);
    if (step_write(s, st, "work centre insert", &sqlrc) != 0) {
        rc = map_sql_error(sqlrc);
        goto fail_tx;
    }
    w.id = sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    st = NULL;
    if ((data = wc_audit_data(w.id, w.code, w.name, NULL)) == NULL
        || store__audit(s, b->tenant_id, "work_centre_created", 0, 0, 0, user_id, data, -1, -1,
                        now) != 0)
        goto fail_tx;
    if (store__commit(s) != 0)
        goto out;

    /* phase 3 */
    stg.w[stg.n] = w;
    memset(&stg.c[stg.n], 0, sizeof(stg.c[stg.n]));
    stg.c[stg.n].work_centre_id = w.id;
    stg.n++;
    stage_apply(b, &stg);
    assert(board__layout_check(b));     /* O(work centres), not O(board) */
    free(data);
    if (out != NULL)
        *out = board_work_centre(b, w.id);
    return 0;

fail_tx:
    sqlite3_finalize(st);
    st = NULL;
    store__rollback(s);
out:
    sqlite3_finalize(st);
    stage_free(&stg);
    free(w.code);
    free(w.name);
    free(w.description);
    free(data);
    return rc;
}

/* ---------------------------------------------------------------- update */

static bool str_differs(const char *cur, const char *next)
{
    return next != NULL && strcmp(cur != NULL ? cur : "", next) != 0;
}

int store_work_centre_update(struct store *s, struct board *b, int64_t wc_id,
                             const struct work_centre_input *in, int64_t user_id,
                             const struct work_centre **out, bool *changed)
{
    static const char sql[] =
        "UPDATE work_centres SET code = ?3, name = ?4, description = ?5, capacity = ?6, "
        "display_order = ?7, is_active = ?8, updated_at = ?9, wip_limit = ?10, "
        "wip_policy = ?11, default_operation_minutes = ?12 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    char now[PB_TIMESTAMP_LEN], fields[240] = "";
    struct wc_stage stg = { 0 };
    struct work_centre w;
    char *code = NULL, *name = NULL, *desc = NULL, *data = NULL;
    sqlite3_stmt *st = NULL;
    int rc = PB_EINTERNAL, sqlrc = 0;
    size_t idx = wc_index(b, wc_id);

    if (changed != NULL)
        *changed = false;
    if (idx == SIZE_MAX)
        return PB_ENOT_FOUND;
    if (work_centre_input_check(in, false, report_none, NULL) != 0)
        return PB_EVALIDATION;
    const struct work_centre *cur = &b->work_centres[idx];
    const struct work_centre *same = in->code != NULL ? board_work_centre_by_code(b, in->code)
                                                      : NULL;
    if (same != NULL && same->id != wc_id)
        return PB_ECONFLICT;

    /* phase 1: the new values (strings copied only when they change) */
    w = *cur;
    if (str_differs(cur->code, in->code) && (w.code = code = strdup(in->code)) == NULL)
        goto out;
    if (str_differs(cur->name, in->name) && (w.name = name = strdup(in->name)) == NULL)
        goto out;
    if (str_differs(cur->description, in->description)
        && (w.description = desc = strdup(in->description)) == NULL)
        goto out;
    if (in->has_capacity)
        w.capacity = in->capacity;
    if (in->has_display_order)
        w.display_order = in->display_order;
    if (in->has_is_active)
        w.is_active = in->is_active;
    if (in->has_wip_limit)
        w.wip_limit = in->wip_limit;
    if (in->wip_policy != NULL)
        w.wip_hard = strcmp(in->wip_policy, "hard") == 0;
    if (in->has_default_minutes)
        w.default_operation_minutes = in->default_operation_minutes;
    /* the audit entry names the fields that changed */
    const struct { bool changed; const char *name; } ch[] = {
        { code != NULL, "code" }, { name != NULL, "name" }, { desc != NULL, "description" },
        { w.capacity != cur->capacity, "capacity" },
        { w.display_order != cur->display_order, "displayOrder" },
        { w.is_active != cur->is_active, "isActive" },
        { w.wip_limit != cur->wip_limit, "wipLimit" },
        { w.wip_hard != cur->wip_hard, "wipPolicy" },
        { w.default_operation_minutes != cur->default_operation_minutes,
          "defaultOperationMinutes" },
    };
    for (size_t i = 0; i < sizeof(ch) / sizeof(ch[0]); i++) {
        if (!ch[i].changed)
            continue;
        size_t l = strlen(fields);
        snprintf(fields + l, sizeof(fields) - l, "%s\"%s\"", l ? "," : "", ch[i].name);
    }
    if (fields[0] == '\0') {
        if (out != NULL)
            *out = cur;
        return 0;                   /* nothing differs: nothing to write */
    }
    char more[sizeof(fields) + 16];
    snprintf(more, sizeof(more), ",\"fields\":[%s]", fields);
    if ((data = wc_audit_data(wc_id, w.code, w.name, more)) == NULL
        || stage_copy(b, 0, SIZE_MAX, &stg) != 0)
        goto out;
    pb_now_timestamp(now);

    /* phase 2 */
    if ((st = store__prepare(s, sql, "work centre update")) == NULL || store__begin(s) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, b->tenant_id);
    sqlite3_bind_int64(st, 2, wc_id);
    sqlite3_bind_text(st, 3, w.code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, w.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, w.description != NULL ? w.description : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, w.capacity);
    sqlite3_bind_int64(st, 7, w.display_order);
    sqlite3_bind_int(st, 8, w.is_active);
    sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
    store__bind_id_opt(st, 10, w.wip_limit);
    sqlite3_bind_text(st, 11, w.wip_hard ? "hard" : "soft", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, w.default_operation_minutes);
    if (step_write(s, st, "work centre update", &sqlrc) != 0) {
        rc = map_sql_error(sqlrc);
        goto fail_tx;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (store__audit(s, b->tenant_id, "work_centre_updated", 0, 0, 0, user_id, data, -1, -1,
                     now) != 0)
        goto fail_tx;
    if (store__commit(s) != 0)
        goto out;

    /* phase 3: the replaced strings go, the new ones stay */
    if (code != NULL)
        free(stg.w[idx].code);
    if (name != NULL)
        free(stg.w[idx].name);
    if (desc != NULL)
        free(stg.w[idx].description);
    stg.w[idx] = w;
    stage_apply(b, &stg);
    assert(board__layout_check(b));     /* O(work centres), not O(board) */
    free(data);
    if (out != NULL)
        *out = board_work_centre(b, wc_id);
    if (changed != NULL)
        *changed = true;
    return 0;

fail_tx:
    sqlite3_finalize(st);
    st = NULL;
    store__rollback(s);
out:
    sqlite3_finalize(st);
    stage_free(&stg);
    free(code);
    free(name);
    free(desc);
    free(data);
    return rc;
}

/* ---------------------------------------------------------------- delete */

int store_work_centre_delete(struct store *s, struct board *b, int64_t wc_id, int64_t user_id)
{
    static const char sql[] =
        "UPDATE work_centres SET deleted_at = ?3, updated_at = ?3 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    static const char sql_busy[] =
        "SELECT COUNT(*) FROM orders WHERE tenant_id = ?1 AND work_centre_id = ?2 "
        "AND deleted_at IS NULL";
    char now[PB_TIMESTAMP_LEN];
    struct wc_stage stg = { 0 };
    char *data = NULL;
    sqlite3_stmt *st = NULL;
    int rc = PB_EINTERNAL;
    size_t idx = wc_index(b, wc_id);

    if (idx == SIZE_MAX)
        return PB_ENOT_FOUND;
    if (board_column_len(&b->columns[idx]) > 0)
        return PB_ECONFLICT;

    /* phase 1 */
    const struct work_centre *cur = &b->work_centres[idx];
    if ((data = wc_audit_data(wc_id, cur->code, cur->name, NULL)) == NULL
        || stage_copy(b, 0, idx, &stg) != 0)
        goto out;
    pb_now_timestamp(now);

    /* phase 2: the database agrees that the centre is empty (the cache is the truth for
     * positions, but a row written behind the store's back must not be orphaned) */
    if (store__begin(s) != 0)
        goto out;
    if ((st = store__prepare(s, sql_busy, "work centre orders")) == NULL)
        goto fail_tx;
    sqlite3_bind_int64(st, 1, b->tenant_id);
    sqlite3_bind_int64(st, 2, wc_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        store__error(s, "work centre orders");
        goto fail_tx;
    }
    if (sqlite3_column_int64(st, 0) > 0) {
        rc = PB_ECONFLICT;
        goto fail_tx;
    }
    sqlite3_finalize(st);
    if ((st = store__prepare(s, sql, "work centre delete")) == NULL)
        goto fail_tx;
    sqlite3_bind_int64(st, 1, b->tenant_id);
    sqlite3_bind_int64(st, 2, wc_id);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    if (step_write(s, st, "work centre delete", NULL) != 0)
        goto fail_tx;
    sqlite3_finalize(st);
    st = NULL;
    if (store__audit(s, b->tenant_id, "work_centre_deleted", 0, 0, 0, user_id, data, -1, -1,
                     now) != 0)
        goto fail_tx;
    if (store__commit(s) != 0)
        goto out;

    /* phase 3 */
    free(b->work_centres[idx].code);
    free(b->work_centres[idx].name);
    free(b->work_centres[idx].description);
    stage_apply(b, &stg);
    assert(board__layout_check(b));     /* O(work centres), not O(board) */
    free(data);
    return 0;

fail_tx:
    sqlite3_finalize(st);
    st = NULL;
    store__rollback(s);
out:
    sqlite3_finalize(st);
    stage_free(&stg);
    free(data);
    return rc;
}

/* ---------------------------------------------------------------- reorder */

int store_work_centre_reorder(struct store *s, struct board *b, const int64_t *ids, size_t n,
                              int64_t user_id)
{
    static const char sql[] =
        "UPDATE work_centres SET display_order = ?3, updated_at = ?4 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    char now[PB_TIMESTAMP_LEN];
    struct wc_stage stg = { 0 };
    size_t nw = b->n_work_centres;
    int64_t *order = NULL;          /* new display_order per index of b->work_centres */
    char *data = NULL;
    sqlite3_stmt *st = NULL;
    int rc = PB_EINTERNAL;

    if (n > nw)
        return PB_EVALIDATION;      /* then some id is unknown or named twice */
    order = malloc((nw ? nw : 1) * sizeof(*order));
    if (order == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < nw; i++)
        order[i] = -1;
    for (size_t k = 0; k < n; k++) {
        size_t idx = wc_index(b, ids[k]);
        if (idx == SIZE_MAX || order[idx] != -1) {
            rc = PB_EVALIDATION;    /* unknown (or another tenant's) id, or a duplicate */
            goto out;
        }
        order[idx] = (int64_t)k;
    }
    int64_t next = (int64_t)n;
    for (size_t i = 0; i < nw; i++) {
        if (order[i] != -1)
            continue;
        if (b->work_centres[i].is_active) {
            rc = PB_EVALIDATION;    /* an active centre is missing */
            goto out;
        }
        order[i] = next++;          /* unnamed inactive ones follow, in their current order */
    }

    /* phase 1 */
    size_t len = 16 + 21 * n;
    if ((data = malloc(len)) == NULL || stage_copy(b, 0, SIZE_MAX, &stg) != 0)
        goto out;
    size_t at = (size_t)snprintf(data, len, "{\"ids\":[");
    for (size_t k = 0; k < n; k++)
        at += (size_t)snprintf(data + at, len - at, "%s%lld", k ? "," : "", (long long)ids[k]);
    snprintf(data + at, len - at, "]}");
    pb_now_timestamp(now);

    /* phase 2 */
    if ((st = store__prepare(s, sql, "work centre reorder")) == NULL || store__begin(s) != 0)
        goto out;
    for (size_t i = 0; i < nw; i++) {
        if (order[i] == b->work_centres[i].display_order)
            continue;
        sqlite3_bind_int64(st, 1, b->tenant_id);
        sqlite3_bind_int64(st, 2, b->work_centres[i].id);
        sqlite3_bind_int64(st, 3, order[i]);
        sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
        if (step_write(s, st, "work centre reorder", NULL) != 0)
            goto fail_tx;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (store__audit(s, b->tenant_id, "work_centres_reordered", 0, 0, 0, user_id, data, -1, -1,
                     now) != 0)
        goto fail_tx;
    if (store__commit(s) != 0)
        goto out;

    /* phase 3 */
    for (size_t i = 0; i < nw; i++)
        stg.w[i].display_order = order[i];
    stage_apply(b, &stg);
    assert(board__layout_check(b));     /* O(work centres), not O(board) */
    rc = 0;
    goto out;

fail_tx:
    sqlite3_finalize(st);
    st = NULL;
    store__rollback(s);
out:
    sqlite3_finalize(st);
    stage_free(&stg);
    free(order);
    free(data);
    return rc;
}
