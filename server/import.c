/*
 * import — POST /api/orders/import (SPEC §6): the body (raw text/csv, or the "file" part of
 * multipart/form-data) streams into the CSV importer as it arrives; at the end the valid rows
 * are written as one transaction and one orders_imported event is broadcast.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "importers/csv_import.h"

struct import_job {
    struct csv_import *ci;
    struct lws_spa *spa;                /* multipart parser, NULL for raw text/csv */
    struct board *board;
    bool file_seen;                     /* multipart: the "file" part started */
    bool file_final;                    /* multipart: its final chunk arrived */
    int feed_err;                       /* first error from csv_import_feed */
    bool create_only, dry_run, skip;
    int64_t t_begin_us;                 /* for the debug timing line */
};

static int wc_lookup(void *ctx, const char *code, int64_t *id)
{
    const struct work_centre *wc = board_work_centre_by_code(ctx, code);
    if (wc == NULL || !wc->is_active)
        return -1;
    *id = wc->id;
    return 0;
}

static bool order_exists(void *ctx, const char *number)
{
    return board_order_by_number(ctx, number) != NULL;
}

static int spa_cb(void *data, const char *name, const char *filename, char *buf, int len,
                  enum lws_spa_fileupload_states state)
{
    struct import_job *j = data;
    (void)filename;
    if (name == NULL || strcmp(name, "file") != 0)
        return 0;
    switch (state) {
    case LWS_UFS_OPEN:
        j->file_seen = true;
        break;
    case LWS_UFS_CONTENT:
    case LWS_UFS_FINAL_CONTENT:
        if (len > 0 && j->feed_err == 0)
            j->feed_err = csv_import_feed(j->ci, buf, (size_t)len);
        if (state == LWS_UFS_FINAL_CONTENT)
            j->file_final = true;
        break;
    default:
        break;
    }
    return 0;
}

static bool is_type(struct lws *wsi, const char *type)
{
    char ct[256];
    size_t tl = strlen(type);
    if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return false;
    return strncasecmp(ct, type, tl) == 0 && (ct[tl] == '\0' || ct[tl] == ';' || ct[tl] == ' ');
}

int import_begin(struct http_req *r)
{
    char v[32];
    struct import_job *j;
    struct csv_import_options o = { 0 };
    int rc;

    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return PB_EINTERNAL;
    r->imp = j;
    j->t_begin_us = lws_now_usecs();
    if (http_query(r, "mode", v, sizeof(v)) != NULL) {
        if (strcmp(v, "create") == 0)
            j->create_only = true;
        else if (strcmp(v, "upsert") != 0) {
            http_reply_invalid(r, "mode", "must be create or upsert");
            return PB_EVALIDATION;
        }
    }
    if (http_query(r, "dryRun", v, sizeof(v)) != NULL)
        j->dry_run = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
    if (http_query(r, "onError", v, sizeof(v)) != NULL) {
        if (strcmp(v, "skip") == 0)
            j->skip = true;
        else if (strcmp(v, "abort") != 0) {
            http_reply_invalid(r, "onError", "must be abort or skip");
            return PB_EVALIDATION;
        }
    }
    rc = store_board(r->app->store, r->claims.tenant_id, &j->board);
    if (rc != 0)
        return rc;
    o.create_only = j->create_only;
    o.max_rows = (size_t)r->app->cfg.max_import_rows;
    o.wc_lookup = wc_lookup;
    o.order_exists = order_exists;
    o.ctx = j->board;
    j->ci = csv_import_new(&o);
    if (j->ci == NULL)
        return PB_EINTERNAL;
    if (is_type(r->wsi, "multipart/form-data")) {
        static const char *const params[] = { "file" };
        j->spa = lws_spa_create(r->wsi, params, 1, 1024, spa_cb, j);
        if (j->spa == NULL)
            return PB_EUNSUPPORTED_MEDIA;
    } else if (!is_type(r->wsi, "text/csv") && !is_type(r->wsi, "application/csv")) {
        return PB_EUNSUPPORTED_MEDIA;
    }
    return 0;
}

int import_feed(struct http_req *r, const char *buf, size_t len)
{
    struct import_job *j = r->imp;
    if (j->spa != NULL) {
        if (lws_spa_process(j->spa, buf, (int)len) < 0)
            return PB_EVALIDATION;
    } else if (j->feed_err == 0) {
        j->feed_err = csv_import_feed(j->ci, buf, len);
    }
    return j->feed_err == PB_ETOO_LARGE ? PB_ETOO_LARGE : 0;
}

static cJSON *issues_json(const struct csv_issue *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "row", (double)v[i].row);
        if (v[i].column != NULL)
            cJSON_AddStringToObject(e, "column", v[i].column);
        else
            cJSON_AddNullToObject(e, "column");
        cJSON_AddStringToObject(e, "message", v[i].message);
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

void import_finish(struct http_req *r)
{
    struct import_job *j = r->imp;
    size_t n_rows, n_err, n_warn, created = 0, updated = 0;
    const struct csv_row *rows;
    const struct csv_issue *errs, *warns;
    int rc;

    if (j->spa != NULL) {
        lws_spa_finalize(j->spa);
        if (!j->file_seen || !j->file_final) {
            /* PLATFORM.md: lws_spa accepts garbage silently; require the file part's end. */
            http_reply_error(r, PB_EVALIDATION, "multipart body has no complete \"file\" part", NULL);
            return;
        }
    }
    rc = j->feed_err != 0 ? j->feed_err : csv_import_finish(j->ci);
    int64_t t_parsed = lws_now_usecs();
    if (rc == PB_ETOO_LARGE) {
        http_reply_error(r, PB_ETOO_LARGE, "the file has more rows than the server accepts", NULL);
        return;
    }
    if (rc != 0) {
        http_reply_error(r, PB_EINTERNAL, "the import failed", NULL);
        return;
    }
    r->app->metrics.import_rows += csv_import_records(j->ci);
    rows = csv_import_rows(j->ci, &n_rows);
    errs = csv_import_errors(j->ci, &n_err);
    warns = csv_import_warnings(j->ci, &n_warn);

    bool fail = csv_import_missing_required(j->ci) || (n_err > 0 && !j->skip);
    size_t skipped = fail ? 0 : csv_import_skipped(j->ci);
    if (!fail) {
        struct order_input *in = malloc((n_rows + 1) * sizeof(*in));
        if (in == NULL) {
            http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
            return;
        }
        for (size_t i = 0; i < n_rows; i++) {
            in[i] = rows[i].in;
            if (board_order_by_number(j->board, in[i].order_number) != NULL)
                updated++;
            else
                created++;
        }
        if (!j->dry_run && n_rows > 0) {
            rc = store_import(r->app->store, j->board, in, n_rows, !j->create_only,
                              r->claims.user_id, &created, &updated);
            if (rc != 0) {
                free(in);
                http_reply_error(r, rc, rc == PB_ECONFLICT ? "an orderNumber is already in use"
                                        : "the import could not be saved; nothing was written", NULL);
                return;
            }
        }
        free(in);
    }
    pb_log(LOG_DEBUG, "import: %zu records, upload+parse %lld us, store %lld us",
           csv_import_records(j->ci), (long long)(t_parsed - j->t_begin_us),
           (long long)(lws_now_usecs() - t_parsed));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "created", (double)(fail ? 0 : created));
    cJSON_AddNumberToObject(o, "updated", (double)(fail ? 0 : updated));
    cJSON_AddNumberToObject(o, "skipped", (double)skipped);
    cJSON_AddNumberToObject(o, "rows", (double)csv_import_records(j->ci));
    cJSON_AddItemToObject(o, "errors", issues_json(errs, n_err));
    cJSON_AddItemToObject(o, "warnings", issues_json(warns, n_warn));
    cJSON_AddBoolToObject(o, "dryRun", j->dry_run);
    if (fail) {
        cJSON_AddStringToObject(o, "error", "the file has errors; nothing was imported");
        cJSON_AddStringToObject(o, "code", "import_failed");
        http_reply_json(r, 422, o);
        return;
    }
    if (!j->dry_run && created + updated > 0) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddNumberToObject(ev, "created", (double)created);
        cJSON_AddNumberToObject(ev, "updated", (double)updated);
        room_publish(r->app, r->claims.tenant_id, "orders_imported", ev);
    }
    http_reply_json(r, 200, o);
}

void import_cleanup(struct http_req *r)
{
    struct import_job *j = r->imp;
    if (j == NULL)
        return;
    if (j->spa != NULL)
        lws_spa_destroy(j->spa);
    csv_import_free(j->ci);
    free(j);
    r->imp = NULL;
}
