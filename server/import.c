/*
 * import — POST /api/orders/import (SPEC §6): the body (raw text/csv, or the "file" part of
 * multipart/form-data) streams into the CSV importer as it arrives; at the end the valid rows
 * are written as one transaction and one orders_imported event is broadcast (on PostgreSQL a
 * row of that same transaction, built by the writer job's run from its counts: SPEC §12,
 * server/job_events.c).
 *
 * Bounded work (SPEC §4, §6): the importer caps what it lists (1,000 errors, 1,000 warnings,
 * 256 header columns, 64 KiB fields, max_import_rows records), a dry run lists at most
 * IMPORT_MAX_CHANGES changes, and an import that would take the tenant past
 * [limits] max_orders_per_tenant answers 413 (dry run too). The answer is therefore a few
 * hundred KiB at most whatever the upload holds.
 *
 * An .xlsx workbook (SPEC §10: raw body with the xlsx Content-Type, or a multipart "file" part
 * whose filename ends in .xlsx) is collected (bounded by [limits] max_upload: libzip reads a
 * zip from its end), then read on a libuv worker by importers/xlsx_import.c into the same
 * importer (one engine, two readers); the finish path then sees the same rows and errors as
 * for a CSV file.
 *
 * The importer never answers: its hooks (pb_import_stream, the route's stream) return the
 * report or the error to the dispatcher (http.c), which answers through the one error path.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "importers/csv_import.h"
#include "importers/xlsx_import.h"

#define IMPORT_MAX_CHANGES 1000         /* SPEC §6: dry-run "changes" listed ("changesTotal" all) */

struct import_job {
    struct csv_import *ci;
    struct lws_spa *spa;                /* multipart parser, NULL for raw text/csv */
    struct board *board;
    bool file_seen;                     /* multipart: the "file" part started */
    bool file_final;                    /* multipart: its final chunk arrived */
    int feed_err;                       /* first error from csv_import_feed */
    bool create_only, dry_run, skip;
    bool place_file;                    /* placement=file: existing orders move to the file's
                                         * work centre (default keep: they stay put) */
    bool wip_override;                  /* SPEC §9: an admin's override=true */
    int64_t t_begin_us;                 /* for the debug timing line */
    char message[XLSX_MSG_MAX];         /* an error sentence built for the answer */
    /* the .xlsx reader (SPEC §10) */
    bool xlsx;                          /* the body is a workbook: collected, not fed */
    bool xlsx_read;                     /* xlsx_import_read() ran (ci holds its result) */
    int xlsx_rc;                        /* its result; message holds the sentence */
    char *wb;                           /* the workbook's bytes (malloc) */
    size_t wb_len, wb_cap;              /* wb_len <= [limits] max_upload */
    size_t max_wb;                      /* [limits] max_upload */
    char sheet[128];                    /* ?sheet=, "" for the first sheet */
    /* PostgreSQL, a board not cached at begin (issue 13): it is loaded off the loop
     * (board_load_wait) and the body bytes that arrive meanwhile wait in pending (bounded by
     * [limits] max_upload); import_board_ready then opens the importer, feeds them and, when
     * the body was complete already, finishes. */
    struct http_req *r;                 /* the request (the stream job lives and dies with it) */
    struct csv_import_options o;        /* the importer's options, read at begin */
    void *board_wait;                   /* the wait handle (its first field: owner = j) */
    bool finish_waiting;                /* finish came while the board was loading */
    char *pending;                      /* body bytes received meanwhile (malloc) */
    size_t pending_len, pending_cap;
};

static int wc_lookup(void *ctx, const char *code, int64_t *id)
{
    const struct work_centre *wc = board_work_centre_by_code(ctx, code);
    if (wc == NULL || !wc->is_active)
        return -1;
    *id = wc->id;
    return 0;
}

/* The active work centres' codes in display order, ", "-separated, into ci for the row error
 * of an unknown code (issue 10 item 4; the importer bounds the list to CSV_WC_CODES_MAX). */
static void set_wc_codes(struct csv_import *ci, const struct board *b)
{
    /* Twice what the importer keeps: when a code no longer fits, the list is already longer
     * than CSV_WC_CODES_MAX (codes are at most PB_WC_CODE_MAX bytes), so the importer cuts it
     * at a code boundary and says ", ...". */
    char buf[2 * CSV_WC_CODES_MAX];
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < b->n_work_centres; i++) {
        const struct work_centre *wc = &b->work_centres[i];
        if (!wc->is_active)
            continue;
        if (n + strlen(wc->code) + 3 > sizeof(buf))
            break;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "", wc->code);
    }
    csv_import_set_wc_codes(ci, buf);
}

static bool order_exists(void *ctx, const char *number)
{
    return board_order_by_number(ctx, number) != NULL;
}

/* Keep len more bytes of the workbook. 0, PB_ETOO_LARGE past max_upload, PB_EINTERNAL. */
/* Append len bytes to *p (*len used of *cap; the first allocation is first_cap), at most
 * max bytes in all. 0, PB_ETOO_LARGE ([limits] max_upload), PB_EINTERNAL (no memory). */
static int bytes_append(char **p, size_t *used, size_t *cap, size_t first_cap, size_t max,
                        const char *buf, size_t len)
{
    if (len > max - *used)
        return PB_ETOO_LARGE;
    if (*cap - *used < len) {
        size_t c = *cap ? *cap : first_cap;
        while (c - *used < len)
            c *= 2;
        char *q = realloc(*p, c);
        if (q == NULL)
            return PB_EINTERNAL;
        *p = q;
        *cap = c;
    }
    memcpy(*p + *used, buf, len);
    *used += len;
    return 0;
}

static int wb_collect(struct import_job *j, const char *buf, size_t len)
{
    return bytes_append(&j->wb, &j->wb_len, &j->wb_cap, 64 * 1024, j->max_wb, buf, len);
}

/* SPEC §10: a multipart "file" part whose filename ends in .xlsx is a workbook. (lws_spa
 * gives the part's filename but not its Content-Type.) */
static bool xlsx_filename(const char *filename)
{
    size_t n = filename != NULL ? strlen(filename) : 0;
    return n >= 5 && strcasecmp(filename + n - 5, ".xlsx") == 0;
}

static int spa_cb(void *data, const char *name, const char *filename, char *buf, int len,
                  enum lws_spa_fileupload_states state)
{
    struct import_job *j = data;
    if (name == NULL || strcmp(name, "file") != 0)
        return 0;
    switch (state) {
    case LWS_UFS_OPEN:
        j->file_seen = true;
        j->xlsx = xlsx_filename(filename);
        break;
    case LWS_UFS_CONTENT:
    case LWS_UFS_FINAL_CONTENT:
        if (len > 0 && j->feed_err == 0)
            j->feed_err = j->xlsx ? wb_collect(j, buf, (size_t)len)
                                  : csv_import_feed(j->ci, buf, (size_t)len);
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

/* Fill res with a validation error of query parameter `field` (SPEC §4 details). */
static int invalid(struct op_result *res, const char *field, const char *message)
{
    struct json_details d;
    json_details_init(&d);
    json_details_add(&d, field, message);
    res->err = PB_EVALIDATION;
    res->message = message;
    res->extra = json_details_take(&d);
    return PB_EVALIDATION;
}

static int import_open(struct http_req *r, struct import_job *j, struct op_result *res);
static int import_feed(struct http_req *r, const char *buf, size_t len);
static void import_finish(struct http_req *r, struct op_result *res);

/* The board load import_begin waited for ended (loaded, or failed: then store_board tries
 * inline and answers its error). Open the importer, feed what arrived meanwhile, and finish
 * when the body was complete. Errors are answered as at begin / feed (http_reply_early). */
static void import_board_ready(void *owner)
{
    struct import_job *j = owner;
    struct http_req *r = j->r;
    struct op_result res = { 0 };
    j->board_wait = NULL;
    if (r->replied)                     /* answered meanwhile (413 while waiting): draining */
        return;
    res.message = "cannot start the import";
    int rc = import_open(r, j, &res);
    if (rc != 0) {
        http_reply_early(r, rc, res.message, res.extra);
        return;
    }
    if (j->pending_len > 0) {
        rc = import_feed(r, j->pending, j->pending_len);
        free(j->pending);
        j->pending = NULL;
        j->pending_len = j->pending_cap = 0;
        if (rc != 0) {
            http_reply_early(r, rc, rc == PB_ETOO_LARGE
                                        ? "the file is larger than the server accepts"
                                        : "the upload could not be read", NULL);
            return;
        }
    }
    if (j->finish_waiting) {
        struct op_result fin = { 0 };
        import_finish(r, &fin);
        if (!fin.pending)
            http_reply_op(r, &fin, 200);
    }
}

/* The stream's begin hook: read the query, open the board and the CSV importer. */
static int import_begin(struct http_req *r, struct op_result *res)
{
    char v[32];
    struct import_job *j;
    struct csv_import_options o = { 0 };

    res->message = "cannot start the import";
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return PB_EINTERNAL;
    r->stream_job = j;
    j->t_begin_us = lws_now_usecs();
    if (http_query(r, "mode", v, sizeof(v)) != NULL) {
        if (strcmp(v, "create") == 0)
            j->create_only = true;
        else if (strcmp(v, "upsert") != 0) {
            return invalid(res, "mode", "must be create or upsert");
        }
    }
    if (http_query(r, "dryRun", v, sizeof(v)) != NULL)
        j->dry_run = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
    if (http_query(r, "placement", v, sizeof(v)) != NULL) {
        if (strcmp(v, "file") == 0)
            j->place_file = true;
        else if (strcmp(v, "keep") != 0) {
            return invalid(res, "placement", "must be keep or file");
        }
    }
    if (http_query(r, "onError", v, sizeof(v)) != NULL) {
        if (strcmp(v, "skip") == 0)
            j->skip = true;
        else if (strcmp(v, "abort") != 0) {
            return invalid(res, "onError", "must be abort or skip");
        }
    }
    /* issue 10 item 4: the CSV separator (docs/import.md "Separator"); .xlsx has none */
    if (http_query(r, "delimiter", v, sizeof(v)) != NULL
        && csv_delimiter_parse(v, &o.delimiter) != 0)
        return invalid(res, "delimiter", "must be auto, comma, semicolon or tab");
    if (http_query(r, "override", v, sizeof(v)) != NULL) {     /* SPEC §9 */
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return invalid(res, "override", "must be true or false");
        j->wip_override = strcmp(v, "true") == 0 && r->claims.role == ROLE_ADMIN;
    }
    if (http_query(r, "sheet", j->sheet, sizeof(j->sheet)) != NULL
        && (strlen(j->sheet) >= sizeof(j->sheet) - 1 || j->sheet[0] == '\0'
            || !utf8_text_valid(j->sheet, strlen(j->sheet))))
        return invalid(res, "sheet", "must be the name of a sheet of the workbook");
    j->max_wb = (size_t)r->app->cfg.max_upload;
    j->r = r;
    j->o = o;
    if (!is_type(r->wsi, "multipart/form-data") && !is_type(r->wsi, XLSX_CONTENT_TYPE)
        && !is_type(r->wsi, "text/csv") && !is_type(r->wsi, "application/csv")) {
        res->message = "send the file as text/csv, as an .xlsx workbook ("
                       XLSX_CONTENT_TYPE ") or as the file part of multipart/form-data";
        return PB_EUNSUPPORTED_MEDIA;
    }
    /* PostgreSQL: a board not cached is loaded off the loop first (NULL: SQLite, cached, or
     * no wait possible: loaded inline below, as before) */
    j->board_wait = board_load_wait(r->app, r->claims.tenant_id, import_board_ready, j);
    if (j->board_wait != NULL)
        return 0;
    return import_open(r, j, res);
}

/* Open the tenant's board (cached now, or loaded inline) and the importer. 0, or the error
 * with res->message (the upload is refused). */
static int import_open(struct http_req *r, struct import_job *j, struct op_result *res)
{
    struct csv_import_options o = j->o;
    int rc = store_board(r->app->store, r->claims.tenant_id, &j->board);
    if (rc != 0)
        return rc;
    r->app->imports_open++;             /* j->board is held across loop turns (server/bus.c) */
    o.create_only = j->create_only;
    o.max_rows = (size_t)r->app->cfg.max_import_rows;
    o.wc_lookup = wc_lookup;
    o.order_exists = order_exists;
    o.ctx = j->board;
    j->ci = csv_import_new(&o);
    if (j->ci == NULL)
        return PB_EINTERNAL;
    set_wc_codes(j->ci, j->board);
    if (is_type(r->wsi, "multipart/form-data")) {
        /* No registered parameters: lws 4.1.6 stores a registered part that has no filename
         * in its 1 KiB parameter buffer, and a partial boundary match while that buffer is
         * flushed makes lws_spa_process() write past it (heap overflow found by
         * fuzz_multipart; fixed upstream in 2026 by "spa: defend against cross-chunk
         * mismatches", not in Debian 12). Without parameters every part with a filename
         * still reaches spa_cb, and a part without one is skipped, so the `file` part of an
         * upload must carry a filename (browsers and `curl -F file=@x.csv` send one). */
        j->spa = lws_spa_create(r->wsi, NULL, 0, 1024, spa_cb, j);
        if (j->spa == NULL)
            return PB_EINTERNAL;
    } else if (is_type(r->wsi, XLSX_CONTENT_TYPE)) {
        j->xlsx = true;                 /* SPEC §10 */
    } else if (!is_type(r->wsi, "text/csv") && !is_type(r->wsi, "application/csv")) {
        res->message = "send the file as text/csv, as an .xlsx workbook ("
                       XLSX_CONTENT_TYPE ") or as the file part of multipart/form-data";
        return PB_EUNSUPPORTED_MEDIA;
    }
    return 0;
}

/* The stream's feed hook: body bytes into the multipart parser or the CSV importer (kept in
 * pending while the board loads). */
static int import_feed(struct http_req *r, const char *buf, size_t len)
{
    struct import_job *j = r->stream_job;
    if (j->board_wait != NULL) {
        /* [limits] max_upload, as the importer would say */
        return bytes_append(&j->pending, &j->pending_len, &j->pending_cap, 16384, j->max_wb,
                            buf, len);
    }
    if (j->spa != NULL) {
        if (lws_spa_process(j->spa, buf, (int)len) < 0)
            return PB_EVALIDATION;
    } else if (j->feed_err == 0) {
        j->feed_err = j->xlsx ? wb_collect(j, buf, len) : csv_import_feed(j->ci, buf, len);
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

/* ---------------------------------------------------------------- dry-run changes */

static cJSON *str_or_null(const char *s)
{
    return s != NULL && *s != '\0' ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *id_or_null(int64_t id)
{
    return id > 0 ? cJSON_CreateNumber((double)id) : cJSON_CreateNull();
}

static bool same_str(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static void add_change(cJSON *fields, const char *name, cJSON *from, cJSON *to)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToObject(c, "from", from);
    cJSON_AddItemToObject(c, "to", to);
    cJSON_AddItemToObject(fields, name, c);
}

/* SPEC §6 dry-run change of one existing order: {"<camelCase>": {"from", "to"}} for every field
 * the import would change (the same comparison as store_import's), or NULL when none would.
 * `in` has the work centre the order would end in (its own one under placement=keep). */
static cJSON *change_fields(const struct order *o, const struct order_input *in)
{
    cJSON *f = cJSON_CreateObject();

    if (!same_str(o->stock_code, in->stock_code))
        add_change(f, "stockCode", str_or_null(o->stock_code), str_or_null(in->stock_code));
    if (!same_str(o->description, in->description))
        add_change(f, "description", str_or_null(o->description), str_or_null(in->description));
    if (o->quantity_to_make != in->quantity_to_make)
        add_change(f, "quantityToMake", cJSON_CreateNumber((double)o->quantity_to_make),
                   cJSON_CreateNumber((double)in->quantity_to_make));
    if (o->quantity_completed != in->quantity_completed)
        add_change(f, "quantityCompleted", cJSON_CreateNumber((double)o->quantity_completed),
                   cJSON_CreateNumber((double)in->quantity_completed));
    if ((int)o->status != in->status)
        add_change(f, "status", cJSON_CreateString(order_status_name(o->status)),
                   cJSON_CreateString(order_status_name((enum order_status)in->status)));
    if ((int)o->priority != in->priority)
        add_change(f, "priority", cJSON_CreateString(order_priority_name(o->priority)),
                   cJSON_CreateString(order_priority_name((enum order_priority)in->priority)));
    if (!same_str(o->due_date, in->due_date))
        add_change(f, "dueDate", str_or_null(o->due_date), str_or_null(in->due_date));
    if (!same_str(o->start_date, in->start_date))
        add_change(f, "startDate", str_or_null(o->start_date), str_or_null(in->start_date));
    if (o->work_centre_id != in->work_centre_id)
        add_change(f, "workCentreId", id_or_null(o->work_centre_id), id_or_null(in->work_centre_id));
    if (!same_str(o->current_operation, in->current_operation))
        add_change(f, "currentOperation", str_or_null(o->current_operation),
                   str_or_null(in->current_operation));
    if (f->child == NULL) {
        cJSON_Delete(f);
        return NULL;
    }
    return f;
}

/* Fill res with error err and its static message. */
static void fail_with(struct op_result *res, int err, const char *message)
{
    res->err = err;
    res->message = message;
}

/* ---------------------------------------------------------------- the answer */

/* The report of SPEC §6 (created/updated 0 when fail). changes: the dry run's list (consumed),
 * or NULL. */
static cJSON *report_json(const struct csv_import *ci, bool fail, size_t created,
                          size_t updated, size_t skipped, bool dry_run, cJSON *changes,
                          size_t changes_total)
{
    size_t n_err, n_warn;
    const struct csv_issue *errs = csv_import_errors(ci, &n_err);
    const struct csv_issue *warns = csv_import_warnings(ci, &n_warn);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "created", (double)(fail ? 0 : created));
    cJSON_AddNumberToObject(o, "updated", (double)(fail ? 0 : updated));
    cJSON_AddNumberToObject(o, "skipped", (double)skipped);
    cJSON_AddNumberToObject(o, "rows", (double)csv_import_records(ci));
    cJSON_AddItemToObject(o, "errors", issues_json(errs, n_err));
    cJSON_AddNumberToObject(o, "errorsTotal", (double)csv_import_errors_total(ci));
    cJSON_AddItemToObject(o, "warnings", issues_json(warns, n_warn));
    cJSON_AddNumberToObject(o, "warningsTotal", (double)csv_import_warnings_total(ci));
    cJSON_AddBoolToObject(o, "dryRun", dry_run);
    if (csv_import_delimiter(ci) != CSV_DELIM_AUTO)     /* a CSV file: the separator used */
        cJSON_AddStringToObject(o, "delimiter", csv_delimiter_name(csv_import_delimiter(ci)));
    if (changes != NULL) {
        cJSON_AddItemToObject(o, "changes", changes);
        cJSON_AddNumberToObject(o, "changesTotal", (double)changes_total);
    }
    return o;
}

/* The rows to write: the importer's, with SPEC §6 placement=keep applied against b (an
 * existing order stays in its work centre). The strings stay the importer's. NULL when out of
 * memory. *created gets the rows that are new to b. */
static struct order_input *rows_for(const struct csv_import *ci, const struct board *b,
                                    bool place_file, size_t *n_out, size_t *created)
{
    size_t n;
    const struct csv_row *rows = csv_import_rows(ci, &n);
    struct order_input *in = malloc((n + 1) * sizeof(*in));
    *n_out = n;
    *created = 0;
    if (in == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        in[i] = rows[i].in;
        const struct order *ex = board_order_by_number(b, in[i].order_number);
        if (ex == NULL)
            (*created)++;
        else if (!place_file)
            in[i].work_centre_id = ex->work_centre_id;
    }
    return in;
}

/*
 * SPEC §9 WIP limits for an import, against board b as the write will find it (the writer's
 * prepare, or the loop for a dry run): store_wip_import decides per row; a row over a hard
 * limit becomes a row error on work_centre_code and is dropped from the rows to write (so
 * with onError=abort the import fails, with skip it is skipped); over a soft (or overridden)
 * limit, a warning. Costs nothing when no work centre has a limit. Returns the rows refused,
 * or -1 when out of memory.
 */
static long wip_pass(const struct board *b, struct csv_import *ci, bool place_file,
                     bool override)
{
    size_t n, refused = 0;
    const struct csv_row *rows = csv_import_rows(ci, &n);
    if (n == 0 || !store_wip_limited(b))
        return 0;
    struct order_input *in = malloc(n * sizeof(*in));
    struct wip_check *w = malloc(n * sizeof(*w));
    bool *drop = calloc(n, sizeof(*drop));
    long rc = -1;
    if (in == NULL || w == NULL || drop == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        in[i] = rows[i].in;
    if (store_wip_import(b, in, n, place_file, override, w) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!w[i].exceeded)
            continue;
        const struct work_centre *wc = board_work_centre(b, in[i].work_centre_id);
        char msg[200];
        drop[i] = w[i].hard && !w[i].overridden;
        snprintf(msg, sizeof(msg), "work centre %s has a %s WIP limit of %lld orders; this "
                 "order would make %lld%s", wc != NULL ? wc->code : "?",
                 w[i].hard ? "hard" : "soft", (long long)w[i].limit, (long long)w[i].count,
                 drop[i] ? "" : w[i].overridden ? " (overridden)" : " (imported anyway)");
        csv_import_add_issue(ci, drop[i], rows[i].row, "work_centre_code", msg);
        refused += drop[i];
    }
    if (refused > 0)
        csv_import_drop_rows(ci, drop);
    rc = (long)refused;
out:
    free(in);
    free(w);
    free(drop);
    return rc;
}

/*
 * An import's write through the writer (docs/writer.md "Imports"): prepared on the loop when
 * the tenant's earlier writes are done (against the board as it is then), written on the
 * writer thread in one transaction, applied and answered on the loop. The loop serves
 * everyone else meanwhile. owner first: CLOSED_HTTP clears it (r->job); the import still
 * completes and is published, only the answer has nobody to go to.
 */
struct import_write {
    struct http_req *owner;
    struct app *app;
    int64_t tenant_id, user_id;
    struct csv_import *ci;              /* the parsed upload (taken from the import_job) */
    bool place_file, create_only;
    bool skip, wip_override;            /* onError=skip; SPEC §9 an admin's override=true */
    bool wip_failed;                    /* the WIP pass refused rows under onError=abort */
    size_t n_rows, skipped, created;    /* created: for the 413 message */
    struct order_input *in;             /* the rows (writer thread: iw_run) */
    size_t orders_then;                 /* the tenant's orders at prepare (413 message) */
    struct import_plan *plan;
    int64_t t_submit_us;
    char message[200];
    struct job_events ev;               /* PostgreSQL: orders_imported, built by the run */
};

static void import_write_free(struct import_write *w)
{
    job_events_cleanup(&w->ev);         /* empty by now when done ran (a worker may free w) */
    store_import_plan_free(w->plan);
    free(w->in);
    csv_import_free(w->ci);
    free(w);
}

static int iw_prepare(void *ctx)
{
    struct import_write *w = ctx;
    struct board *b;
    int rc = store_board(w->app->store, w->tenant_id, &b);
    if (rc != 0)
        return rc;
    w->orders_then = b->n_orders;
    /* SPEC §9: the board is current now (the tenant's earlier writes are applied) */
    long refused = wip_pass(b, w->ci, w->place_file, w->wip_override);
    if (refused < 0)
        return PB_EINTERNAL;
    if (refused > 0 && !w->skip) {
        w->wip_failed = true;
        return PB_EIMPORT_FAILED;
    }
    w->skipped += (size_t)refused;
    csv_import_rows(w->ci, &w->n_rows);
    job_events_init(&w->ev, w->app, w->tenant_id);
    return store_import_prepare(w->app->store, b, w->n_rows, !w->create_only, !w->place_file,
                                w->user_id, &w->plan);
}

/* Writer thread: the rows as the store takes them (once), then the import's write. */
static int iw_run(struct db *db, void *ctx)
{
    struct import_write *w = ctx;
    (void)db;                           /* the sibling store's connection */
    if (w->in == NULL) {
        size_t n;
        const struct csv_row *rows = csv_import_rows(w->ci, &n);
        if ((w->in = malloc((n + 1) * sizeof(*w->in))) == NULL)
            return PB_EINTERNAL;
        for (size_t i = 0; i < n; i++)
            w->in[i] = rows[i].in;
    }
    int rc = job_events_run_begin(&w->ev, true);
    if (rc != 0)
        return rc;
    rc = store_import_write(w->app->wstore, w->plan, w->in);
    if (rc == PB_ETOO_LARGE)
        store_import_counts(w->plan, &w->created, NULL);
    if (rc != 0)
        return rc;
    size_t created = 0, updated = 0;
    store_import_counts(w->plan, &created, &updated);
    if (w->ev.on && created + updated > 0) {    /* SPEC §12: the counts are known only now */
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddNumberToObject(ev, "created", (double)created);
        cJSON_AddNumberToObject(ev, "updated", (double)updated);
        job_events_add_run(&w->ev, "orders_imported", ev);
    }
    return job_events_sequence(&w->ev);
}

/* res for a failed import write (rc != 0). */
static void import_error(struct app *app, int rc, size_t created, size_t orders_then,
                         char *msgbuf, size_t msglen, struct op_result *res)
{
    res->err = rc;
    if (rc == PB_ETOO_LARGE) {
        snprintf(msgbuf, msglen, "the import would create %zu orders but the tenant has %zu of "
                 "at most %zu ([limits] max_orders_per_tenant); nothing was imported", created,
                 orders_then, store_max_orders(app->store));
        res->message = msgbuf;
    } else if (rc == PB_ERATE_LIMITED) {
        res->message = "too many writes are waiting; try again";
    } else {
        res->message = rc == PB_ECONFLICT ? "an orderNumber is already in use"
                                          : "the import could not be saved; nothing was written";
    }
}

/* Freeing a big upload is a million free() calls (~15 ms for 200,000 rows): a libuv worker
 * does it (nothing else holds any of it by now). Small ones, or without a worker: here. */
static void free_work(uv_work_t *req)
{
    import_write_free(req->data);
}

static void free_done(uv_work_t *req, int status)
{
    (void)status;
    free(req);
}

static void free_off_loop(struct import_write *w)
{
    uv_work_t *req = w->n_rows > 1000 ? malloc(sizeof(*req)) : NULL;
    if (req != NULL) {
        req->data = w;
        if (uv_queue_work(w->app->loop, req, free_work, free_done) == 0)
            return;
        free(req);
    }
    import_write_free(w);
}

static void iw_done(void *ctx, int status, uint64_t commit_seq)
{
    struct import_write *w = ctx;
    struct http_req *r = w->owner;
    struct op_result res = { 0 };
    size_t created = 0, updated = 0;
    (void)commit_seq;

    bool logged = job_events_done(&w->ev, status);
    if (status == 0) {
        struct board *b;
        store_commit_noted(w->app->store);      /* group commit syncs it before answers */
        if (store_board(w->app->store, w->tenant_id, &b) == 0) {    /* loaded at prepare */
            store_import_apply(w->app->store, b, w->plan);
            store_import_counts(w->plan, &created, &updated);
        }
        pb_log(LOG_DEBUG, "import: %zu records committed through the writer in %lld us",
               csv_import_records(w->ci), (long long)(lws_now_usecs() - w->t_submit_us));
        if (created + updated > 0) {
            if (!logged) {              /* else (SPEC §12) sequenced with the change */
                cJSON *ev = cJSON_CreateObject();
                cJSON_AddNumberToObject(ev, "created", (double)created);
                cJSON_AddNumberToObject(ev, "updated", (double)updated);
                room_publish(w->app, w->tenant_id, "orders_imported", ev);
            }
            schedule_changed(w->app, w->tenant_id, NULL, 0);    /* SPEC §9: every column */
        }
        res.data = report_json(w->ci, false, created, updated, w->skipped, false, NULL, 0);
    } else if (w->wip_failed) {         /* SPEC §6: the report is the error's body */
        res.err = PB_EIMPORT_FAILED;
        res.message = "the file has errors; nothing was imported";
        res.extra = report_json(w->ci, true, 0, 0, 0, false, NULL, 0);
    } else {
        import_error(w->app, status, w->created, w->orders_then, w->message,
                     sizeof(w->message), &res);
    }
    if (r != NULL) {
        r->job = NULL;
        http_reply_op(r, &res, 200);
    } else {
        cJSON_Delete(res.data);
    }
    free_off_loop(w);
}

/* Hand the import's write to the writer. 0: res->pending, iw_done answers; else res is the
 * error (the upload is freed either way with the request). */
static void submit_write(struct http_req *r, struct import_job *j, size_t skipped,
                         struct op_result *res)
{
    struct import_write *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        fail_with(res, PB_EINTERNAL, "out of memory");
        return;
    }
    *w = (struct import_write){
        .owner = r, .app = r->app, .tenant_id = r->claims.tenant_id,
        .user_id = r->claims.user_id, .ci = j->ci, .place_file = j->place_file,
        .create_only = j->create_only, .skipped = skipped, .t_submit_us = lws_now_usecs(),
        .skip = j->skip, .wip_override = j->wip_override,
    };
    csv_import_rows(j->ci, &w->n_rows);
    j->ci = NULL;                       /* the write owns the upload now */
    int rc = writes_submit(r->app, w->tenant_id, iw_prepare, iw_run, iw_done, w);
    if (rc != 0) {                      /* prepare may run here: the WIP pass too */
        if (w->wip_failed) {
            res->err = PB_EIMPORT_FAILED;
            res->message = "the file has errors; nothing was imported";
            res->extra = report_json(w->ci, true, 0, 0, 0, false, NULL, 0);
        } else {
            import_error(r->app, rc, w->created, w->orders_then, j->message,
                         sizeof(j->message), res);
        }
        j->ci = w->ci;
        w->ci = NULL;
        import_write_free(w);
        return;
    }
    r->job = w;
    res->pending = true;
}

/* ---------------------------------------------------------------- reading a workbook */

/*
 * An .xlsx upload is read on a libuv worker (inflating and parsing 100,000 rows takes a few
 * hundred ms): the importer and the workbook's bytes move into the parse while it runs, so
 * a client that goes away (CLOSED_HTTP clears owner, cleanup frees the job) leaves it nothing
 * dangling; xlsx_done gives them back and finishes the import as for a CSV file.
 */
struct xlsx_parse {
    struct http_req *owner;             /* first: CLOSED_HTTP clears it (r->job) */
    uv_work_t req;
    struct csv_import *ci;              /* the job's, while the worker reads into it */
    char *wb;                           /* the job's workbook bytes, likewise */
    size_t wb_len;
    char sheet[128];                    /* "" for the first sheet */
    int rc;                             /* xlsx_import_read()'s result */
    char message[XLSX_MSG_MAX];         /* its sentence */
    struct lookup_snapshot *snap;       /* what ci looks up meanwhile */
};

/*
 * What the importer looks up while a worker reads the workbook: a copy of the tenant's active
 * work centres and, for mode=create, of its order numbers, taken on the loop when the read
 * starts. The worker must not read the board itself: the loop keeps changing it meanwhile.
 * The write is validated against the board again anyway (store_import_prepare).
 */
struct lookup_snapshot {
    size_t n_wc;
    struct { char *code; int64_t id; } *wc;
    struct hmap numbers;                /* order number copies (the values are the keys) */
};

static bool number_is(const void *ctx, const void *val, const void *key)
{
    (void)ctx;
    return strcmp(val, key) == 0;
}

static void snapshot_free(struct lookup_snapshot *sn)
{
    struct hmap_iter it;
    char *v;
    if (sn == NULL)
        return;
    for (size_t i = 0; i < sn->n_wc; i++)
        free(sn->wc[i].code);
    free(sn->wc);
    hmap_iter_init(&sn->numbers, &it);
    while ((v = hmap_iter_next(&sn->numbers, &it)) != NULL)
        free(v);
    hmap_cleanup(&sn->numbers);
    free(sn);
}

/* NULL when out of memory. O(work centres), plus O(orders) with numbers. */
static struct lookup_snapshot *snapshot_take(const struct board *b, bool numbers)
{
    struct lookup_snapshot *sn = calloc(1, sizeof(*sn));
    if (sn == NULL)
        return NULL;
    hmap_init(&sn->numbers, number_is, NULL);
    if ((sn->wc = calloc(b->n_work_centres + 1, sizeof(*sn->wc))) == NULL)
        goto fail;
    for (size_t i = 0; i < b->n_work_centres; i++) {
        const struct work_centre *wc = &b->work_centres[i];
        if (!wc->is_active)
            continue;
        if ((sn->wc[sn->n_wc].code = strdup(wc->code)) == NULL)
            goto fail;
        sn->wc[sn->n_wc++].id = wc->id;
    }
    if (numbers) {
        if (hmap_reserve(&sn->numbers, b->n_orders) != 0)
            goto fail;
        for (size_t c = 0; c <= b->n_work_centres; c++) {
            const struct column *col = c < b->n_work_centres ? &b->columns[c] : &b->backlog;
            for (const struct order *o = board_column_first(col); o != NULL;
                 o = board_column_next(o)) {
                char *n = strdup(o->order_number);
                if (n == NULL)
                    goto fail;
                hmap_put_str(&sn->numbers, n, n);
            }
        }
    }
    return sn;
fail:
    snapshot_free(sn);
    return NULL;
}

static int snap_wc_lookup(void *ctx, const char *code, int64_t *id)
{
    const struct lookup_snapshot *sn = ctx;
    for (size_t i = 0; i < sn->n_wc; i++)
        if (strcmp(sn->wc[i].code, code) == 0) {
            *id = sn->wc[i].id;
            return 0;
        }
    return -1;
}

static bool snap_order_exists(void *ctx, const char *number)
{
    const struct lookup_snapshot *sn = ctx;
    return hmap_get_str(&sn->numbers, number) != NULL;
}

static void xlsx_work(uv_work_t *req)
{
    struct xlsx_parse *p = req->data;
    p->rc = xlsx_import_read(p->ci, p->wb, p->wb_len, p->sheet[0] ? p->sheet : NULL,
                             p->message, sizeof(p->message));
}

static void import_finish(struct http_req *r, struct op_result *res);

/* The parse's result into the job; the multipart parser is done with (finish checked it). */
static void xlsx_result(struct import_job *j, struct xlsx_parse *p)
{
    csv_import_set_lookups(p->ci, wc_lookup, order_exists, j->board);   /* the board again */
    snapshot_free(p->snap);
    p->snap = NULL;
    j->ci = p->ci;
    j->xlsx_read = true;
    j->xlsx_rc = p->rc;
    snprintf(j->message, sizeof(j->message), "%s", p->message);
    free(p->wb);
    if (j->spa != NULL) {
        lws_spa_destroy(j->spa);
        j->spa = NULL;
    }
}

static void xlsx_done(uv_work_t *req, int status)
{
    struct xlsx_parse *p = req->data;
    struct http_req *r = p->owner;
    struct op_result res = { 0 };

    (void)status;
    if (r == NULL) {                    /* the client went away meanwhile */
        csv_import_free(p->ci);
        snapshot_free(p->snap);
        free(p->wb);
        free(p);
        return;
    }
    r->job = NULL;
    xlsx_result(r->stream_job, p);
    free(p);
    import_finish(r, &res);
    if (!res.pending)
        http_reply_op(r, &res, 200);
}

/* Start reading the collected workbook off the loop: res->pending. Without a worker (the
 * queue refused) it is read here, and import_finish goes on. */
static bool xlsx_start(struct http_req *r, struct import_job *j, struct op_result *res)
{
    struct xlsx_parse *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        fail_with(res, PB_EINTERNAL, "out of memory");
        return true;
    }
    p->owner = r;
    if ((p->snap = snapshot_take(j->board, j->create_only)) == NULL) {
        free(p);
        fail_with(res, PB_EINTERNAL, "out of memory");
        return true;
    }
    csv_import_set_lookups(j->ci, snap_wc_lookup, snap_order_exists, p->snap);
    p->ci = j->ci;
    p->wb = j->wb;
    p->wb_len = j->wb_len;
    snprintf(p->sheet, sizeof(p->sheet), "%s", j->sheet);
    p->req.data = p;
    j->ci = NULL;
    j->wb = NULL;
    j->wb_len = j->wb_cap = 0;
    if (uv_queue_work(r->app->loop, &p->req, xlsx_work, xlsx_done) == 0) {
        r->job = p;
        res->pending = true;
        return true;
    }
    xlsx_work(&p->req);
    xlsx_result(j, p);
    free(p);
    return false;
}

/* The stream's finish hook: the report (res->data, 200), or an error (import_failed
 * carries the report's members in res->extra), or res->pending when the write went to the
 * writer (iw_done answers). */
static void import_finish(struct http_req *r, struct op_result *res)
{
    struct import_job *j = r->stream_job;
    size_t n_rows, n_err, created = 0, updated = 0;
    int rc;

    if (j->board_wait != NULL) {        /* import_board_ready finishes */
        j->finish_waiting = true;
        res->pending = true;
        return;
    }

    if (j->spa != NULL) {
        lws_spa_finalize(j->spa);
        if (!j->file_seen || !j->file_final) {
            /* PLATFORM.md: lws_spa accepts garbage silently; require the file part's end. */
            fail_with(res, PB_EVALIDATION, "multipart body has no complete \"file\" part");
            return;
        }
    }
    if (j->xlsx && j->feed_err == 0 && !j->xlsx_read && xlsx_start(r, j, res))
        return;                         /* read off the loop: xlsx_done comes back here */
    if (j->xlsx && j->feed_err == 0 && j->xlsx_rc != 0) {
        fail_with(res, j->xlsx_rc, j->message);     /* SPEC §10: 413 / 415 / 422, a sentence */
        return;
    }
    rc = j->feed_err != 0 ? j->feed_err : csv_import_finish(j->ci);
    if (rc == PB_ETOO_LARGE) {
        fail_with(res, PB_ETOO_LARGE, "the file has more rows than the server accepts");
        return;
    }
    if (rc != 0) {
        fail_with(res, PB_EINTERNAL, "the import failed");
        return;
    }
    r->app->metrics.import_rows += csv_import_records(j->ci);
    bool on_loop = j->dry_run || r->app->writer == NULL;
    if (on_loop && !csv_import_missing_required(j->ci)
        && wip_pass(j->board, j->ci, j->place_file, j->wip_override) < 0) {
        fail_with(res, PB_EINTERNAL, "out of memory");      /* SPEC §9, as the write will */
        return;
    }
    const struct csv_row *rows = csv_import_rows(j->ci, &n_rows);
    csv_import_errors(j->ci, &n_err);

    bool fail = csv_import_missing_required(j->ci) || (n_err > 0 && !j->skip);
    size_t skipped = fail ? 0 : csv_import_skipped(j->ci);
    if (fail) {                         /* SPEC §6: the report is the error's body */
        res->err = PB_EIMPORT_FAILED;
        res->message = "the file has errors; nothing was imported";
        res->extra = report_json(j->ci, true, 0, 0, skipped, j->dry_run,
                                 j->dry_run ? cJSON_CreateArray() : NULL, 0);
        return;
    }
    if (!j->dry_run && n_rows > 0 && r->app->writer != NULL) {
        submit_write(r, j, skipped, res);
        return;
    }

    /* a dry run (nothing written), an empty file, or no writer (unit tests): on the loop */
    cJSON *changes = j->dry_run ? cJSON_CreateArray() : NULL;
    size_t changes_total = 0;
    struct order_input *in = rows_for(j->ci, j->board, j->place_file, &n_rows, &created);
    if (in == NULL) {
        cJSON_Delete(changes);
        fail_with(res, PB_EINTERNAL, "out of memory");
        return;
    }
    updated = n_rows - created;
    for (size_t i = 0; changes != NULL && i < n_rows; i++) {
        const struct order *ex = board_order_by_number(j->board, in[i].order_number);
        if (ex == NULL)
            continue;
        cJSON *f = change_fields(ex, &in[i]);
        if (f == NULL)
            continue;
        if (changes_total++ >= IMPORT_MAX_CHANGES) {
            cJSON_Delete(f);            /* past the listed ones only count */
            continue;
        }
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "row", (double)rows[i].row);
        cJSON_AddStringToObject(c, "orderNumber", ex->order_number);
        cJSON_AddItemToObject(c, "fields", f);
        cJSON_AddItemToArray(changes, c);
    }
    size_t orders_then = j->board->n_orders;
    rc = store_orders_fit(r->app->store, j->board, created);
    if (rc == 0 && !j->dry_run && n_rows > 0)
        rc = store_import(r->app->store, j->board, in, n_rows, !j->create_only,
                          r->claims.user_id, &created, &updated);
    free(in);
    if (rc != 0) {
        cJSON_Delete(changes);
        import_error(r->app, rc, created, orders_then, j->message, sizeof(j->message), res);
        return;
    }
    if (!j->dry_run && created + updated > 0) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddNumberToObject(ev, "created", (double)created);
        cJSON_AddNumberToObject(ev, "updated", (double)updated);
        room_publish(r->app, r->claims.tenant_id, "orders_imported", ev);
        schedule_changed(r->app, r->claims.tenant_id, NULL, 0);  /* SPEC §9: every column */
    }
    res->data = report_json(j->ci, false, created, updated, skipped, j->dry_run, changes,
                            changes_total);
}

/* The stream's cleanup hook (idempotent). */
static void import_cleanup(struct http_req *r)
{
    struct import_job *j = r->stream_job;
    if (j == NULL)
        return;
    if (j->board_wait != NULL)
        *(void **)j->board_wait = NULL; /* the load goes on; nobody waits for it here */
    if (j->spa != NULL)
        lws_spa_destroy(j->spa);
    if (j->board != NULL)
        r->app->imports_open--;
    csv_import_free(j->ci);
    free(j->wb);
    free(j->pending);
    free(j);
    r->stream_job = NULL;
}

const struct route_stream pb_import_stream = {
    .begin = import_begin,
    .feed = import_feed,
    .finish = import_finish,
    .cleanup = import_cleanup,
};
