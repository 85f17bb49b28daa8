/*
 * work_centres — write-through work-centre mutations: create, update, delete, reorder.
 *
 * Every change is a job in the three phases of the writer (docs/writer.md):
 *   1. prepare (loop thread): validate against the cache, allocate the new work_centres /
 *      columns arrays and the new strings. Failing here changes nothing.
 *   2. write (the thread owning the connection; inside a transaction the caller opened): the
 *      SQL and one audit row. It may run twice (after a lost group): it only overwrites what it
 *      leaves in the job (the new id, the create's audit data).
 *   3. apply (loop thread, after COMMIT): swap the new arrays in, re-sort by (display_order,
 *      id), free the old ones. No allocation, so nothing here can fail.
 * store_work_centre_create/update/delete/reorder run the three in a row with BEGIN/COMMIT
 * around write (tests, the CLI). Statements are prepared per call (rare admin writes).
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
static int step_write(struct store *s, struct db_stmt *st, const char *what, int *rc)
{
    int r = db_step(st);
    if (rc != NULL)
        *rc = db_errcode(s->db);
    if (r != DB_DONE) {
        store__error(s, what);
        db_reset(st);
        return PB_EINTERNAL;
    }
    if (rc != NULL)
        *rc = DB_OK;
    db_reset(st);
    return 0;
}

static int map_sql_error(int rc)
{
    return rc == DB_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
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

/* ---------------------------------------------------------------- jobs */

/* A work-centre change in its three phases (work_centres.h store_wc_prepare). Every field is
 * the loop thread's except where noted; write reads the job, fills id and data. */
struct wc_job {
    enum wc_op op;
    int64_t tenant_id, user_id;
    int64_t wc_id;                      /* update, delete; create: the new id (write) */
    size_t idx;                         /* update, delete: index in the board's arrays */
    struct wc_stage stg;                /* the board's arrays as they will be (prepare) */
    struct work_centre w;               /* create, update: the centre as it will be */
    char *code, *name, *desc;           /* the strings this job allocated (w points at them);
                                         * the board's after apply, freed by job_free before */
    int64_t *order;                     /* reorder: new display_order by board index */
    bool noop;                          /* update: nothing differs, nothing to write */
    char now[PB_TIMESTAMP_LEN];
    char *data;                         /* audit event_data (create: built by write) */
};

void store_wc_job_free(struct wc_job *j)
{
    if (j == NULL)
        return;
    stage_free(&j->stg);
    free(j->code);
    free(j->name);
    free(j->desc);
    free(j->order);
    free(j->data);
    free(j);
}

static int prepare_create(const struct board *b, const struct work_centre_input *in,
                          struct wc_job *j)
{
    if (work_centre_input_check(in, true, report_none, NULL) != 0)
        return PB_EVALIDATION;
    if (board_work_centre_by_code(b, in->code) != NULL)
        return PB_ECONFLICT;
    struct work_centre *w = &j->w;
    w->code = j->code = strdup(in->code);
    w->name = j->name = strdup(in->name);
    w->description = j->desc = strdup(in->description != NULL ? in->description : "");
    w->capacity = in->has_capacity ? in->capacity : 1;
    w->display_order = in->has_display_order ? in->display_order
                       : b->n_work_centres > 0
                           ? b->work_centres[b->n_work_centres - 1].display_order + 1 : 0;
    w->is_active = in->has_is_active ? in->is_active : true;
    w->default_operation_minutes = in->has_default_minutes ? in->default_operation_minutes : 60;
    w->wip_limit = in->has_wip_limit ? in->wip_limit : 0;         /* SPEC §2 defaults */
    w->wip_hard = in->wip_policy != NULL && strcmp(in->wip_policy, "hard") == 0;
    if (j->code == NULL || j->name == NULL || j->desc == NULL
        || stage_copy(b, 1, SIZE_MAX, &j->stg) != 0)
        return PB_EINTERNAL;
    return 0;
}

static bool str_differs(const char *cur, const char *next)
{
    return next != NULL && strcmp(cur != NULL ? cur : "", next) != 0;
}

static int prepare_update(const struct board *b, int64_t wc_id,
                          const struct work_centre_input *in, struct wc_job *j)
{
    char fields[240] = "";
    size_t idx = wc_index(b, wc_id);

    if (idx == SIZE_MAX)
        return PB_ENOT_FOUND;
    if (work_centre_input_check(in, false, report_none, NULL) != 0)
        return PB_EVALIDATION;
    const struct work_centre *cur = &b->work_centres[idx];
    const struct work_centre *same = in->code != NULL ? board_work_centre_by_code(b, in->code)
                                                      : NULL;
    if (same != NULL && same->id != wc_id)
        return PB_ECONFLICT;
    j->idx = idx;

    /* the new values (strings copied only when they change) */
    struct work_centre *w = &j->w;
    *w = *cur;
    if (str_differs(cur->code, in->code) && (w->code = j->code = strdup(in->code)) == NULL)
        return PB_EINTERNAL;
    if (str_differs(cur->name, in->name) && (w->name = j->name = strdup(in->name)) == NULL)
        return PB_EINTERNAL;
    if (str_differs(cur->description, in->description)
        && (w->description = j->desc = strdup(in->description)) == NULL)
        return PB_EINTERNAL;
    if (in->has_capacity)
        w->capacity = in->capacity;
    if (in->has_display_order)
        w->display_order = in->display_order;
    if (in->has_is_active)
        w->is_active = in->is_active;
    if (in->has_wip_limit)
        w->wip_limit = in->wip_limit;
    if (in->wip_policy != NULL)
        w->wip_hard = strcmp(in->wip_policy, "hard") == 0;
    if (in->has_default_minutes)
        w->default_operation_minutes = in->default_operation_minutes;
    /* the audit entry names the fields that changed */
    const struct { bool changed; const char *name; } ch[] = {
        { j->code != NULL, "code" }, { j->name != NULL, "name" },
        { j->desc != NULL, "description" },
        { w->capacity != cur->capacity, "capacity" },
        { w->display_order != cur->display_order, "displayOrder" },
        { w->is_active != cur->is_active, "isActive" },
        { w->wip_limit != cur->wip_limit, "wipLimit" },
        { w->wip_hard != cur->wip_hard, "wipPolicy" },
        { w->default_operation_minutes != cur->default_operation_minutes,
          "defaultOperationMinutes" },
    };
    for (size_t i = 0; i < sizeof(ch) / sizeof(ch[0]); i++) {
        if (!ch[i].changed)
            continue;
        size_t l = strlen(fields);
        snprintf(fields + l, sizeof(fields) - l, "%s\"%s\"", l ? "," : "", ch[i].name);
    }
    if (fields[0] == '\0') {
        j->noop = true;                 /* nothing differs: nothing to write */
        return 0;
    }
    char more[sizeof(fields) + 16];
    snprintf(more, sizeof(more), ",\"fields\":[%s]", fields);
    if ((j->data = wc_audit_data(wc_id, w->code, w->name, more)) == NULL
        || stage_copy(b, 0, SIZE_MAX, &j->stg) != 0)
        return PB_EINTERNAL;
    return 0;
}

static int prepare_delete(const struct board *b, int64_t wc_id, struct wc_job *j)
{
    size_t idx = wc_index(b, wc_id);

    if (idx == SIZE_MAX)
        return PB_ENOT_FOUND;
    if (board_column_len(&b->columns[idx]) > 0)
        return PB_ECONFLICT;
    j->idx = idx;
    const struct work_centre *cur = &b->work_centres[idx];
    if ((j->data = wc_audit_data(wc_id, cur->code, cur->name, NULL)) == NULL
        || stage_copy(b, 0, idx, &j->stg) != 0)
        return PB_EINTERNAL;
    return 0;
}

static int prepare_reorder(const struct board *b, const int64_t *ids, size_t n,
                           struct wc_job *j)
{
    size_t nw = b->n_work_centres;
    int64_t *order;

    if (n > nw)
        return PB_EVALIDATION;          /* then some id is unknown or named twice */
    if ((order = j->order = malloc((nw ? nw : 1) * sizeof(*order))) == NULL)
        return PB_EINTERNAL;
    for (size_t i = 0; i < nw; i++)
        order[i] = -1;
    for (size_t k = 0; k < n; k++) {
        size_t idx = wc_index(b, ids[k]);
        if (idx == SIZE_MAX || order[idx] != -1)
            return PB_EVALIDATION;      /* unknown (or another tenant's) id, or a duplicate */
        order[idx] = (int64_t)k;
    }
    int64_t next = (int64_t)n;
    for (size_t i = 0; i < nw; i++) {
        if (order[i] != -1)
            continue;
        if (b->work_centres[i].is_active)
            return PB_EVALIDATION;      /* an active centre is missing */
        order[i] = next++;              /* unnamed inactive ones follow, in their current order */
    }
    size_t len = 16 + 21 * n;
    if ((j->data = malloc(len)) == NULL || stage_copy(b, 0, SIZE_MAX, &j->stg) != 0)
        return PB_EINTERNAL;
    size_t at = (size_t)snprintf(j->data, len, "{\"ids\":[");
    for (size_t k = 0; k < n; k++)
        at += (size_t)snprintf(j->data + at, len - at, "%s%lld", k ? "," : "",
                               (long long)ids[k]);
    snprintf(j->data + at, len - at, "]}");
    return 0;
}

int store_wc_prepare(const struct board *b, const struct wc_request *rq, struct wc_job **out)
{
    struct wc_job *j;
    int rc = PB_EINTERNAL;

    *out = NULL;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    j->op = rq->op;
    j->tenant_id = b->tenant_id;
    j->user_id = rq->user_id;
    j->wc_id = rq->wc_id;
    switch (rq->op) {
    case WC_OP_CREATE:
        rc = prepare_create(b, rq->in, j);
        break;
    case WC_OP_UPDATE:
        rc = prepare_update(b, rq->wc_id, rq->in, j);
        break;
    case WC_OP_DELETE:
        rc = prepare_delete(b, rq->wc_id, j);
        break;
    case WC_OP_REORDER:
        rc = prepare_reorder(b, rq->ids, rq->n_ids, j);
        break;
    }
    if (rc != 0) {
        store_wc_job_free(j);
        return rc;
    }
    pb_now_timestamp(j->now);
    *out = j;
    return 0;
}

/* ---------------------------------------------------------------- write (SQL only) */

static int write_create(struct store *s, struct wc_job *j)
{
    static const char sql[] =
        "INSERT INTO work_centres(tenant_id, code, name, description, capacity, display_order, "
        "is_active, created_at, updated_at, wip_limit, wip_policy, default_operation_minutes) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)";
    const struct work_centre *w = &j->w;
    struct db_stmt *st;
    int sqlrc = 0;

    if ((st = store__prepare(s, sql, "work centre insert")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, j->tenant_id);
    db_bind_text(st, 2, w->code, -1, DB_STATIC);
    db_bind_text(st, 3, w->name, -1, DB_STATIC);
    db_bind_text(st, 4, w->description, -1, DB_STATIC);
    db_bind_int64(st, 5, w->capacity);
    db_bind_int64(st, 6, w->display_order);
    db_bind_int(st, 7, w->is_active);
    db_bind_text(st, 8, j->now, -1, DB_STATIC);
    store__bind_id_opt(st, 9, w->wip_limit);                       /* 0 binds NULL */
    db_bind_text(st, 10, w->wip_hard ? "hard" : "soft", -1, DB_STATIC);
    db_bind_int64(st, 11, w->default_operation_minutes);
    if (store__run_final(s, st, "work centre insert", &sqlrc, NULL) != 0)
        return map_sql_error(sqlrc);
    j->wc_id = j->w.id = db_last_insert_rowid(s->db);         /* overwritten on a rerun */
    free(j->data);
    if ((j->data = wc_audit_data(j->wc_id, w->code, w->name, NULL)) == NULL)
        return PB_EINTERNAL;
    return store__audit(s, j->tenant_id, "work_centre_created", 0, 0, 0, j->user_id, j->data,
                        -1, -1, j->now) != 0 ? PB_EINTERNAL : 0;
}

static int write_update(struct store *s, struct wc_job *j)
{
    static const char sql[] =
        "UPDATE work_centres SET code = ?3, name = ?4, description = ?5, capacity = ?6, "
        "display_order = ?7, is_active = ?8, updated_at = ?9, wip_limit = ?10, "
        "wip_policy = ?11, default_operation_minutes = ?12 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    const struct work_centre *w = &j->w;
    struct db_stmt *st;
    int sqlrc = 0;

    if (j->noop)
        return 0;
    if ((st = store__prepare(s, sql, "work centre update")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, j->tenant_id);
    db_bind_int64(st, 2, j->wc_id);
    db_bind_text(st, 3, w->code, -1, DB_STATIC);
    db_bind_text(st, 4, w->name, -1, DB_STATIC);
    db_bind_text(st, 5, w->description != NULL ? w->description : "", -1, DB_STATIC);
    db_bind_int64(st, 6, w->capacity);
    db_bind_int64(st, 7, w->display_order);
    db_bind_int(st, 8, w->is_active);
    db_bind_text(st, 9, j->now, -1, DB_STATIC);
    store__bind_id_opt(st, 10, w->wip_limit);
    db_bind_text(st, 11, w->wip_hard ? "hard" : "soft", -1, DB_STATIC);
    db_bind_int64(st, 12, w->default_operation_minutes);
    if (store__run_final(s, st, "work centre update", &sqlrc, NULL) != 0)
        return map_sql_error(sqlrc);
    return store__audit(s, j->tenant_id, "work_centre_updated", 0, 0, 0, j->user_id, j->data,
                        -1, -1, j->now) != 0 ? PB_EINTERNAL : 0;
}

static int write_delete(struct store *s, struct wc_job *j)
{
    static const char sql[] =
        "UPDATE work_centres SET deleted_at = ?3, updated_at = ?3 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    static const char sql_busy[] =
        "SELECT COUNT(*) FROM orders WHERE tenant_id = ?1 AND work_centre_id = ?2 "
        "AND deleted_at IS NULL";
    struct db_stmt *st;

    /* the database agrees that the centre is empty (the cache is the truth for positions, but
     * a row written behind the store's back must not be orphaned) */
    if ((st = store__prepare(s, sql_busy, "work centre orders")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, j->tenant_id);
    db_bind_int64(st, 2, j->wc_id);
    int row = store__step_row(s, st, "work centre orders");
    int64_t busy = row == 1 ? db_column_int64(st, 0) : 0;
    db_finalize(st);
    if (row != 1)
        return PB_EINTERNAL;
    if (busy > 0)
        return PB_ECONFLICT;
    if ((st = store__prepare(s, sql, "work centre delete")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, j->tenant_id);
    db_bind_int64(st, 2, j->wc_id);
    db_bind_text(st, 3, j->now, -1, DB_STATIC);
    if (store__run_final(s, st, "work centre delete", NULL, NULL) != 0)
        return PB_EINTERNAL;
    return store__audit(s, j->tenant_id, "work_centre_deleted", 0, 0, 0, j->user_id, j->data,
                        -1, -1, j->now) != 0 ? PB_EINTERNAL : 0;
}

static int write_reorder(struct store *s, struct wc_job *j)
{
    static const char sql[] =
        "UPDATE work_centres SET display_order = ?3, updated_at = ?4 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    struct db_stmt *st;

    if ((st = store__prepare(s, sql, "work centre reorder")) == NULL)
        return PB_EINTERNAL;
    /* stg.w holds the board's centres in board order: their current display orders */
    for (size_t i = 0; i < j->stg.n; i++) {
        if (j->order[i] == j->stg.w[i].display_order)
            continue;
        db_bind_int64(st, 1, j->tenant_id);
        db_bind_int64(st, 2, j->stg.w[i].id);
        db_bind_int64(st, 3, j->order[i]);
        db_bind_text(st, 4, j->now, -1, DB_STATIC);
        if (step_write(s, st, "work centre reorder", NULL) != 0) {
            db_finalize(st);
            return PB_EINTERNAL;
        }
    }
    db_finalize(st);
    return store__audit(s, j->tenant_id, "work_centres_reordered", 0, 0, 0, j->user_id,
                        j->data, -1, -1, j->now) != 0 ? PB_EINTERNAL : 0;
}

int store_wc_write(struct store *s, struct wc_job *j)
{
    switch (j->op) {
    case WC_OP_CREATE:
        return write_create(s, j);
    case WC_OP_UPDATE:
        return write_update(s, j);
    case WC_OP_DELETE:
        return write_delete(s, j);
    case WC_OP_REORDER:
        return write_reorder(s, j);
    }
    return PB_EINTERNAL;
}

/* ---------------------------------------------------------------- apply */

/* The columns as they are now (the board's columns hold their order trees by value: copy them
 * again at apply, so that the staged ones are the board's current ones whatever happened to
 * the trees since prepare). The staged arrays are in board order, without index skip. */
static void stage_refresh_columns(const struct board *b, struct wc_stage *st, size_t skip)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n_work_centres; i++) {
        if (i == skip)
            continue;
        assert(k < st->n && st->c[k].work_centre_id == b->columns[i].work_centre_id);
        st->c[k++] = b->columns[i];
    }
}

int store_wc_tried(const struct wc_job *j, struct work_centre **out, size_t *n)
{
    struct work_centre *w;
    size_t k = j->stg.n;

    *out = NULL;
    *n = 0;
    if (j->noop)
        return 1;
    if ((w = calloc(k + 1, sizeof(*w))) == NULL)
        return PB_EINTERNAL;
    memcpy(w, j->stg.w, k * sizeof(*w));
    switch (j->op) {
    case WC_OP_CREATE:
        w[k++] = j->w;
        break;
    case WC_OP_UPDATE:
        w[j->idx] = j->w;
        break;
    case WC_OP_DELETE:
        break;
    case WC_OP_REORDER:
        for (size_t i = 0; i < k; i++)
            w[i].display_order = j->order[i];
        break;
    }
    for (size_t i = 1; i < k; i++) {    /* stage_apply's order */
        struct work_centre x = w[i];
        size_t m = i;
        while (m > 0 && wc_before(&x, &w[m - 1])) {
            w[m] = w[m - 1];
            m--;
        }
        w[m] = x;
    }
    *out = w;
    *n = k;
    return 0;
}

bool store_wc_apply(struct board *b, struct wc_job *j, const struct work_centre **out)
{
    int64_t id = j->wc_id;

    if (j->noop) {
        if (out != NULL)
            *out = board_work_centre(b, id);
        return false;
    }
    switch (j->op) {
    case WC_OP_CREATE:
        stage_refresh_columns(b, &j->stg, SIZE_MAX);
        j->stg.w[j->stg.n] = j->w;
        memset(&j->stg.c[j->stg.n], 0, sizeof(j->stg.c[j->stg.n]));
        j->stg.c[j->stg.n].work_centre_id = id;
        j->stg.n++;
        j->code = j->name = j->desc = NULL;     /* the board's now */
        break;
    case WC_OP_UPDATE:
        stage_refresh_columns(b, &j->stg, SIZE_MAX);
        /* the replaced strings go, the new ones stay */
        if (j->code != NULL)
            free(j->stg.w[j->idx].code);
        if (j->name != NULL)
            free(j->stg.w[j->idx].name);
        if (j->desc != NULL)
            free(j->stg.w[j->idx].description);
        j->stg.w[j->idx] = j->w;
        j->code = j->name = j->desc = NULL;
        break;
    case WC_OP_DELETE:
        stage_refresh_columns(b, &j->stg, j->idx);
        free(b->work_centres[j->idx].code);
        free(b->work_centres[j->idx].name);
        free(b->work_centres[j->idx].description);
        break;
    case WC_OP_REORDER:
        stage_refresh_columns(b, &j->stg, SIZE_MAX);
        for (size_t i = 0; i < j->stg.n; i++)
            j->stg.w[i].display_order = j->order[i];
        break;
    }
    stage_apply(b, &j->stg);
    assert(board__layout_check(b));     /* O(work centres), not O(board) */
    if (out != NULL)
        *out = j->op == WC_OP_DELETE ? NULL : board_work_centre(b, id);
    return true;
}

int64_t store_wc_job_id(const struct wc_job *j)
{
    return j->wc_id;
}

/* ---------------------------------------------------------------- in one transaction */

/* prepare, BEGIN, write, COMMIT, apply: the job run on connection s at once. *changed (may be
 * NULL) as store_wc_apply's result. */
static int wc_run_now(struct store *s, struct board *b, const struct wc_request *rq,
                      const struct work_centre **out, bool *changed)
{
    struct wc_job *j;
    int rc;

    if (changed != NULL)
        *changed = false;
    if ((rc = store_wc_prepare(b, rq, &j)) != 0)
        return rc;
    if (j->noop) {                      /* an update that changes nothing: no transaction */
        store_wc_apply(b, j, out);
        store_wc_job_free(j);
        return 0;
    }
    if (store__begin(s) != 0) {
        store_wc_job_free(j);
        return PB_EINTERNAL;
    }
    if ((rc = store_wc_write(s, j)) != 0) {
        store__rollback(s);
        store_wc_job_free(j);
        return rc;
    }
    if (store__commit(s) != 0) {
        store_wc_job_free(j);
        return PB_EINTERNAL;
    }
    bool ch = store_wc_apply(b, j, out);
    store_wc_job_free(j);
    if (changed != NULL)
        *changed = ch;
    return 0;
}

int store_work_centre_create(struct store *s, struct board *b,
                             const struct work_centre_input *in, int64_t user_id,
                             const struct work_centre **out)
{
    struct wc_request rq = { .op = WC_OP_CREATE, .in = in, .user_id = user_id };
    return wc_run_now(s, b, &rq, out, NULL);
}

int store_work_centre_update(struct store *s, struct board *b, int64_t wc_id,
                             const struct work_centre_input *in, int64_t user_id,
                             const struct work_centre **out, bool *changed)
{
    struct wc_request rq = { .op = WC_OP_UPDATE, .wc_id = wc_id, .in = in, .user_id = user_id };
    return wc_run_now(s, b, &rq, out, changed);
}

int store_work_centre_delete(struct store *s, struct board *b, int64_t wc_id, int64_t user_id)
{
    struct wc_request rq = { .op = WC_OP_DELETE, .wc_id = wc_id, .user_id = user_id };
    return wc_run_now(s, b, &rq, NULL, NULL);
}

int store_work_centre_reorder(struct store *s, struct board *b, const int64_t *ids, size_t n,
                              int64_t user_id)
{
    struct wc_request rq = { .op = WC_OP_REORDER, .ids = ids, .n_ids = n, .user_id = user_id };
    return wc_run_now(s, b, &rq, NULL, NULL);
}
