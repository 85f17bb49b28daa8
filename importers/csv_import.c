/*
 * importers/csv_import — streaming CSV order import, SPEC §6 (API and contract in csv_import.h,
 * alias list and rules in docs/import.md).
 *
 * Parsing is Debian's libcsv (RFC 4180) in strict mode. libcsv knows nothing about line
 * numbers, so we count them from what it reports:
 *   - CSV_REPALL_NL makes it report every CR and LF outside quotes through the row callback
 *     (the one that ends a record, and each one on a blank line as an empty row);
 *   - a line break inside a quoted field arrives inside the field data, where we count it.
 * A line break is LF, CRLF or a lone CR. Every line break before a record is reported before
 * the first field of that record arrives, so "lines so far + 1" at the first field callback is
 * the line on which the record starts, whatever the chunk boundaries were.
 *
 * A record that libcsv rejects (a quote inside an unquoted field, text after a closing quote,
 * a field over CSV_FIELD_MAX bytes, an unterminated quote at the end) is one error with column
 * NULL on its first line; the parser is then reset and input resumes after the next line break.
 *
 * Separator (csv_import.h enum csv_delimiter): the header record is held back (at most
 * CSV_HEADER_SNIFF_MAX bytes, up to its first line break outside quotes) and split with each of
 * ',' ';' TAB by a throw-away libcsv parser; the chosen separator is then set on the real parser
 * (csv_set_delim) and the held bytes are parsed as if they had just arrived, so row numbers and
 * chunking do not change anything. The same split counts are kept for the hint of header_end().
 *
 * Memory: the per-record scratch holds only the mapped fields of one record; strings of valid
 * rows go into `pool` (an arena of fixed blocks, so row pointers stay valid); issue texts go
 * into `issue_pool`. Nothing keeps a copy of the file.
 */
#include "importers/csv_import.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/hmap.h"

#define CSV_DEFAULT_MAX_ROWS 200000
#define CSV_FIELD_MAX   65536           /* libcsv entry buffer cap: a field is < 64 KiB */
#define CSV_BLK_SIZE    4096            /* libcsv entry buffer growth step */
#define ARENA_BLOCK     65536           /* bytes per arena block */
#define HEADER_NORM_MAX 64              /* longest normalised header name we try to match */
#define ISSUE_TEXT_MAX  200             /* bytes of user text echoed in a message */
#define ESCAPE_TRIGGERS "=+-@\t\r"      /* SPEC §6: export escapes these by a leading '\'' */
#define CSV_OPTIONS (CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL | CSV_REPALL_NL)

/* ------------------------------------------------------------------------------------------ */
/* Columns and aliases                                                                        */
/* ------------------------------------------------------------------------------------------ */

enum col {
    COL_ORDER_NUMBER, COL_STOCK_CODE, COL_DESCRIPTION, COL_QTY_TO_MAKE, COL_QTY_COMPLETED,
    COL_PRIORITY, COL_STATUS, COL_DUE_DATE, COL_START_DATE, COL_WC_CODE, COL_CURRENT_OP,
    COL__COUNT
};

static const char *const col_names[COL__COUNT] = {
    "order_number", "stock_code", "description", "quantity_to_make", "quantity_completed",
    "priority", "status", "due_date", "start_date", "work_centre_code", "current_operation"
};
static const bool col_required[COL__COUNT] = { true, true, true, true };

/* Normalised names (lower case, no ' ', '_', '-'); keep in step with docs/import.md. */
static const struct alias { const char *key; enum col col; } aliases[] = {
    { "ordernumber", COL_ORDER_NUMBER }, { "orderno", COL_ORDER_NUMBER },
    { "order", COL_ORDER_NUMBER }, { "job", COL_ORDER_NUMBER }, { "jobno", COL_ORDER_NUMBER },
    { "jobnumber", COL_ORDER_NUMBER }, { "mo", COL_ORDER_NUMBER },
    { "monumber", COL_ORDER_NUMBER }, { "workorder", COL_ORDER_NUMBER },
    { "stockcode", COL_STOCK_CODE }, { "part", COL_STOCK_CODE },
    { "partnumber", COL_STOCK_CODE }, { "partno", COL_STOCK_CODE }, { "item", COL_STOCK_CODE },
    { "itemcode", COL_STOCK_CODE }, { "sku", COL_STOCK_CODE },
    { "description", COL_DESCRIPTION }, { "jobdescription", COL_DESCRIPTION },
    { "quantitytomake", COL_QTY_TO_MAKE }, { "qtytomake", COL_QTY_TO_MAKE },
    { "qty", COL_QTY_TO_MAKE }, { "quantity", COL_QTY_TO_MAKE },
    { "quantitycompleted", COL_QTY_COMPLETED }, { "qtycompleted", COL_QTY_COMPLETED },
    { "qtymanufactured", COL_QTY_COMPLETED }, { "quantitymanufactured", COL_QTY_COMPLETED },
    { "priority", COL_PRIORITY },
    { "status", COL_STATUS }, { "jobstatus", COL_STATUS },
    { "duedate", COL_DUE_DATE }, { "jobdeliverydate", COL_DUE_DATE },
    { "deliverydate", COL_DUE_DATE },
    { "startdate", COL_START_DATE }, { "jobstartdate", COL_START_DATE },
    { "workcentrecode", COL_WC_CODE }, { "workcentercode", COL_WC_CODE },
    { "workcentre", COL_WC_CODE }, { "workcenter", COL_WC_CODE }, { "wc", COL_WC_CODE },
    { "currentoperation", COL_CURRENT_OP }, { "operation", COL_CURRENT_OP },
};

/* Header name -> column, or -1. Matching ignores ASCII case, ' ', '_' and '-'. */
static int header_lookup(const char *name, size_t len)
{
    char norm[HEADER_NORM_MAX];
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == ' ' || c == '_' || c == '-')
            continue;
        if (n == sizeof(norm) - 1)
            return -1;
        norm[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(aliases[i].key, norm) == 0)
            return (int)aliases[i].col;
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Arena: append-only string storage with stable addresses                                    */
/* ------------------------------------------------------------------------------------------ */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;           /* bytes of data[] in use / available */
    char data[];
};

struct arena {
    struct arena_block *head;   /* newest block first */
};

/* Copy s[0..n) plus a NUL into the arena; NULL on allocation failure. */
static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    struct arena_block *b = a->head;

    if (b == NULL || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

static void arena_cleanup(struct arena *a)
{
    struct arena_block *b = a->head;

    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The importer                                                                               */
/* ------------------------------------------------------------------------------------------ */

struct issue_list {
    struct csv_issue *v;                /* the first CSV_IMPORT_MAX_ISSUES issues only */
    size_t n, cap;
    size_t total;                       /* every issue reported, listed or not */
};

struct csv_import {
    struct csv_import_options opts;     /* copy; max_rows resolved */
    enum csv_delimiter delim;           /* in use; CSV_DELIM_AUTO until the header is held */
    char *hold;                         /* the header record held back (<= SNIFF_MAX bytes) */
    size_t hold_len;
    bool hold_inq;                      /* the held bytes end inside a quoted field */
    bool hold_text;                     /* the held bytes have more than line breaks */
    unsigned char req_found[4];         /* required columns each separator finds (by enum) */
    char wc_codes[CSV_WC_CODES_MAX];    /* valid codes named in an unknown-code error; "" none */
    struct csv_parser parser;           /* libcsv state */
    int err;                            /* sticky PB_E* once feeding must stop */
    bool finished;                      /* csv_import_finish() ran */
    bool by_records;                    /* fed by csv_import_record (no separator) */

    unsigned bom_len;                   /* bytes of a UTF-8 BOM prefix held back */
    bool bom_done;                      /* past the place where a BOM may be */

    int64_t lines;                      /* line breaks consumed so far */
    bool pending_cr;                    /* last break seen was a CR: an LF now is its pair */
    bool skipping;                      /* after a parse error: drop input to the next break */

    size_t field_idx;                   /* fields seen in the current record */
    int64_t rec_row;                    /* line on which the current record starts */
    char *scratch;                      /* mapped fields of the current record, NUL-separated */
    size_t scratch_len, scratch_cap;
    size_t val_off[COL__COUNT];         /* into scratch */
    size_t val_len[COL__COUNT];         /* bytes as parsed (may differ from strlen: NUL bytes) */
    bool val_set[COL__COUNT];           /* column present in this record */

    bool header_done;                   /* the header record has been read (or failed) */
    int64_t header_row;
    int *colmap;                        /* header field index -> enum col or -1 */
    size_t ncols, colmap_cap;           /* ncols <= CSV_IMPORT_MAX_COLUMNS */
    size_t header_fields;               /* fields in the header record, all of them */
    bool have_col[COL__COUNT];
    bool missing_required;              /* header unusable: a required column missing, or
                                         * more than CSV_IMPORT_MAX_COLUMNS columns */

    size_t records;                     /* data records read, header excluded */
    size_t skipped;                     /* data records with at least one error */
    size_t row_errors;                  /* errors reported on the record being checked */

    struct csv_row *rows;               /* valid rows, file order */
    size_t nrows, rows_cap;
    struct arena pool;                  /* strings of valid rows only */

    struct issue_list errors, warnings;
    struct arena issue_pool;            /* column and message texts of issues */

    struct hmap set;                    /* order number of a valid row -> its index + 1, cast to
                                         * a pointer (the key is rows[index].in.order_number) */
};

static bool row_number_is(const void *ctx, const void *val, const void *key);

static void *capped_realloc(void *p, size_t n)
{
    /* libcsv grows its field buffer without limit; refusing here bounds one field (and so a
     * runaway unterminated quote) to CSV_FIELD_MAX bytes. libcsv reports CSV_ENOMEM. */
    if (n > CSV_FIELD_MAX)
        return NULL;
    return realloc(p, n);
}

/* The importer whose bytes libcsv is parsing on this thread (libcsv's space test gets no
 * context pointer). */
static _Thread_local struct csv_import *parsing;

static int is_space(unsigned char c)
{
    /* A space or tab between a CR and an LF (outside quotes, where libcsv drops it) means the
     * CR was a line break of its own: the LF is not its pair. */
    if (c == ' ' || c == '\t') {
        if (parsing != NULL)
            parsing->pending_cr = false;
        return 1;
    }
    return 0;
}

static unsigned char delim_char(enum csv_delimiter d)
{
    return d == CSV_DELIM_SEMICOLON ? ';' : d == CSV_DELIM_TAB ? '\t' : ',';
}

/* A libcsv parser with the importer's options; delim is the separator (AUTO = ','). */
static void parser_init(struct csv_parser *p, int options, enum csv_delimiter delim)
{
    csv_init(p, options);
    csv_set_space_func(p, is_space);
    csv_set_realloc_func(p, capped_realloc);
    csv_set_blk_size(p, CSV_BLK_SIZE);
    csv_set_delim(p, delim_char(delim));
}

struct csv_import *csv_import_new(const struct csv_import_options *opts)
{
    struct csv_import *ci = calloc(1, sizeof(*ci));

    if (ci == NULL)
        return NULL;
    hmap_init(&ci->set, row_number_is, ci);
    if (opts != NULL)
        ci->opts = *opts;
    if (ci->opts.max_rows == 0)
        ci->opts.max_rows = CSV_DEFAULT_MAX_ROWS;
    parser_init(&ci->parser, CSV_OPTIONS, CSV_DELIM_AUTO);
    return ci;
}

/* Free what ci holds, not ci itself. */
static void import_cleanup(struct csv_import *ci)
{
    csv_free(&ci->parser);
    free(ci->hold);
    free(ci->scratch);
    free(ci->colmap);
    free(ci->rows);
    arena_cleanup(&ci->pool);
    free(ci->errors.v);
    free(ci->warnings.v);
    arena_cleanup(&ci->issue_pool);
    hmap_cleanup(&ci->set);
}

void csv_import_free(struct csv_import *ci)
{
    if (ci == NULL)
        return;
    import_cleanup(ci);
    free(ci);
}

void csv_import_set_lookups(struct csv_import *ci, csv_wc_lookup_fn wc_lookup,
                            csv_order_exists_fn order_exists, void *ctx)
{
    ci->opts.wc_lookup = wc_lookup;
    ci->opts.order_exists = order_exists;
    ci->opts.ctx = ctx;
}

void csv_import_set_wc_codes(struct csv_import *ci, const char *codes)
{
    size_t n = codes ? strlen(codes) : 0;
    static const char more[] = ", ...";

    if (n < sizeof(ci->wc_codes)) {
        memcpy(ci->wc_codes, codes ? codes : "", n + 1);
        return;
    }
    /* Cut after the last whole code that leaves room for ", ..." (codes are ", "-separated). */
    size_t keep = sizeof(ci->wc_codes) - sizeof(more);
    while (keep > 0 && !(codes[keep] == ',' && codes[keep + 1] == ' '))
        keep--;
    memcpy(ci->wc_codes, codes, keep);
    memcpy(ci->wc_codes + keep, keep ? more : more + 2, sizeof(more) - (keep ? 0 : 2));
}

void csv_import_reset(struct csv_import *ci)
{
    struct csv_import_options opts = ci->opts;
    char codes[CSV_WC_CODES_MAX];

    memcpy(codes, ci->wc_codes, sizeof(codes));
    import_cleanup(ci);
    memset(ci, 0, sizeof(*ci));
    hmap_init(&ci->set, row_number_is, ci);
    memcpy(ci->wc_codes, codes, sizeof(codes));
    ci->opts = opts;
    parser_init(&ci->parser, CSV_OPTIONS, CSV_DELIM_AUTO);
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers: issues, text checks, numbers                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Count an issue and append it while fewer than CSV_IMPORT_MAX_ISSUES are listed (SPEC §6: the
 * list is capped, the total is not); column may be NULL. Texts are copied. Sets ci->err on
 * allocation failure. Past the cap this costs O(1) and allocates nothing. */
static void add_issue(struct csv_import *ci, struct issue_list *l, int64_t row,
                      const char *column, const char *message)
{
    if (ci->err)
        return;
    l->total++;
    if (l->n >= CSV_IMPORT_MAX_ISSUES)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct csv_issue *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            ci->err = PB_EINTERNAL;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    struct csv_issue *is = &l->v[l->n];
    is->row = row;
    is->column = column ? arena_strndup(&ci->issue_pool, column, strlen(column)) : NULL;
    is->message = arena_strndup(&ci->issue_pool, message, strlen(message));
    if ((column != NULL && is->column == NULL) || is->message == NULL) {
        ci->err = PB_EINTERNAL;
        return;
    }
    l->n++;
}

/* pb_report_fn for order_input_check: an error on the record being checked. */
static void report_row_error(void *ctx, const char *field, const char *message)
{
    struct csv_import *ci = ctx;

    add_issue(ci, &ci->errors, ci->rec_row, field, message);
    ci->row_errors++;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp, min;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Copy user text for a message: invalid UTF-8 bytes and NULs become '?', at most
 * ISSUE_TEXT_MAX bytes (cut at a character boundary, "..." appended). */
static void printable(char out[ISSUE_TEXT_MAX + 4], const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;

    for (size_t i = 0; i < n;) {
        size_t k = u[i] == 0 ? 0 : utf8_seq(u + i, n - i);
        size_t w = k ? k : 1;
        if (o + w > ISSUE_TEXT_MAX) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (k)
            memcpy(out + o, s + i, k);
        else
            out[o] = '?';
        o += w;
        i += w;
    }
    out[o] = '\0';
}

/* Strict decimal: optional '-', one or more digits, nothing else, no overflow. */
static bool parse_int(const char *s, int64_t *out)
{
    bool neg = false;
    int64_t v = 0;

    if (*s == '-') {
        neg = true;
        s++;
    }
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? -v : v;
    return true;
}

/* Line breaks in field data: LF, CRLF, lone CR. Returns the count; *ends_cr tells whether the
 * data ends with a CR (whose LF, if any, follows outside the data). */
static int64_t count_breaks(const char *s, size_t n, bool *ends_cr)
{
    int64_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            k++;
        else if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
            k++;
    }
    *ends_cr = n > 0 && s[n - 1] == '\r';
    return k;
}

/* ------------------------------------------------------------------------------------------ */
/* Duplicate set (order numbers of valid rows)                                                */
/* ------------------------------------------------------------------------------------------ */

/* Order numbers come from the file: the set hashes them with hmap's keyed hash, so no file
 * can fill one probe run (core/strhash.h explains the attack). A value is a row index + 1 (never
 * NULL) rather than a pointer, because rows[] moves when it grows. */

/* hmap match: is the order number of row (val - 1) the string key? ctx is the importer. */
static bool row_number_is(const void *ctx, const void *val, const void *key)
{
    const struct csv_import *ci = ctx;

    return strcmp(ci->rows[(uintptr_t)val - 1].in.order_number, key) == 0;
}

/* Row index of an earlier valid row with this order number, or -1. */
static long set_find(const struct csv_import *ci, const char *key)
{
    uintptr_t v = (uintptr_t)hmap_get_str(&ci->set, key);
    return v ? (long)(v - 1) : -1;
}

/* Add rows[idx] (not yet present). Returns 0 or PB_EINTERNAL (nothing added). */
static int set_add(struct csv_import *ci, size_t idx)
{
    if (hmap_reserve(&ci->set, ci->set.len + 1) != 0)
        return PB_EINTERNAL;
    hmap_put_str(&ci->set, ci->rows[idx].in.order_number, (void *)(uintptr_t)(idx + 1));
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Header                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void header_field(struct csv_import *ci, const char *s, size_t len)
{
    char shown[ISSUE_TEXT_MAX + 4], msg[ISSUE_TEXT_MAX + 64];

    /* A header wider than CSV_IMPORT_MAX_COLUMNS is refused as a whole (header_end); the
     * extra fields are only counted, so a 10 MiB line of commas costs O(1) per field. */
    if (++ci->header_fields > CSV_IMPORT_MAX_COLUMNS)
        return;
    if (ci->ncols == ci->colmap_cap) {
        size_t cap = ci->colmap_cap ? ci->colmap_cap * 2 : 16;
        int *v = realloc(ci->colmap, cap * sizeof(*v));
        if (v == NULL) {
            ci->err = PB_EINTERNAL;
            return;
        }
        ci->colmap = v;
        ci->colmap_cap = cap;
    }
    int c = header_lookup(s, len);
    printable(shown, s, len);
    if (c >= 0 && ci->have_col[c]) {
        snprintf(msg, sizeof(msg), "duplicate column for %s, ignored", col_names[c]);
        add_issue(ci, &ci->warnings, ci->rec_row, shown, msg);
        c = -1;
    } else if (c >= 0) {
        ci->have_col[c] = true;
    } else {
        add_issue(ci, &ci->warnings, ci->rec_row, shown,
                  len == 0 ? "column without a name, ignored" : "unknown column, ignored");
    }
    ci->colmap[ci->ncols++] = c;
}

/* The header record is complete (or could not be read): report missing required columns. */
static void header_end(struct csv_import *ci, int64_t row)
{
    static const char *const shown[] = { "", "','", "';'", "TAB" };
    static const char *const choice[] = { "", "Comma", "Semicolon", "Tab" };
    char msg[160], hint[96] = "";
    int required = 0;

    ci->header_done = true;
    ci->header_row = row;
    if (ci->header_fields > CSV_IMPORT_MAX_COLUMNS) {
        ci->missing_required = true;
        snprintf(msg, sizeof(msg), "the header has %zu columns; at most %d are accepted",
                 ci->header_fields, CSV_IMPORT_MAX_COLUMNS);
        add_issue(ci, &ci->errors, row, NULL, msg);
        return;
    }
    for (int c = 0; c < COL__COUNT; c++)
        required += col_required[c];
    /* Issue 10 item 4: a separator that would have found every required column is named. */
    for (int d = CSV_DELIM_COMMA; d <= CSV_DELIM_TAB && ci->delim != CSV_DELIM_AUTO; d++) {
        if (d != (int)ci->delim && ci->req_found[d] == required) {
            snprintf(hint, sizeof(hint), "; the file looks separated by %s \u2014 choose %s",
                     shown[d], choice[d]);
            break;
        }
    }
    for (int c = 0; c < COL__COUNT; c++) {
        if (col_required[c] && !ci->have_col[c]) {
            ci->missing_required = true;
            snprintf(msg, sizeof(msg), "required column %s is missing%s", col_names[c], hint);
            add_issue(ci, &ci->errors, row, col_names[c], msg);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Count a data record against max_rows. Returns false (and sets ci->err) beyond it. */
static bool count_record(struct csv_import *ci)
{
    ci->records++;
    if (ci->records > ci->opts.max_rows) {
        ci->err = PB_ETOO_LARGE;
        return false;
    }
    return true;
}

/* Whether s[0..len) is '\'' ... '\'' (one or more) then a character the export escapes: the shape
 * of an escaped cell (server/routes_orders.c csv_field writes '\'' before every value that
 * matches '\''* then such a character, so removing one '\'' here is its exact inverse). */
static bool escaped_cell(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && s[i] == '\'')
        i++;
    return i > 0 && i < len && s[i] != '\0' && strchr(ESCAPE_TRIGGERS, s[i]) != NULL;
}

/* Keep a data field of column c for check_record(). SPEC §6: one leading '\'' before a character
 * that export escapes (=, +, -, @, TAB, CR) is removed, so export -> import round-trips. */
static void keep_field(struct csv_import *ci, int c, const char *s, size_t len)
{
    if (escaped_cell(s, len)) {
        s++;
        len--;
    }
    if (ci->scratch_cap - ci->scratch_len < len + 1) {
        size_t cap = ci->scratch_cap ? ci->scratch_cap : 1024;
        while (cap - ci->scratch_len < len + 1)
            cap *= 2;
        char *p = realloc(ci->scratch, cap);
        if (p == NULL) {
            ci->err = PB_EINTERNAL;
            return;
        }
        ci->scratch = p;
        ci->scratch_cap = cap;
    }
    memcpy(ci->scratch + ci->scratch_len, s, len);
    ci->scratch[ci->scratch_len + len] = '\0';
    ci->val_off[c] = ci->scratch_len;
    ci->val_len[c] = len;
    ci->val_set[c] = true;
    ci->scratch_len += len + 1;
}

/* Store a valid row: strings into the pool, order number into the duplicate set. */
static void keep_row(struct csv_import *ci, const struct order_input *in)
{
    if (ci->nrows == ci->rows_cap) {
        size_t cap = ci->rows_cap ? ci->rows_cap * 2 : 64;
        struct csv_row *v = realloc(ci->rows, cap * sizeof(*v));
        if (v == NULL) {
            ci->err = PB_EINTERNAL;
            return;
        }
        ci->rows = v;
        ci->rows_cap = cap;
    }
    struct csv_row *r = &ci->rows[ci->nrows];
    r->row = ci->rec_row;
    r->in = *in;
    const char **str[] = { &r->in.order_number, &r->in.stock_code, &r->in.description,
                           &r->in.current_operation, &r->in.due_date, &r->in.start_date };
    for (size_t i = 0; i < sizeof(str) / sizeof(str[0]); i++) {
        if (*str[i] == NULL)
            continue;
        *str[i] = arena_strndup(&ci->pool, *str[i], strlen(*str[i]));
        if (*str[i] == NULL) {
            ci->err = PB_EINTERNAL;
            return;
        }
    }
    if (set_add(ci, ci->nrows) != 0) {
        ci->err = PB_EINTERNAL;
        return;
    }
    ci->nrows++;
}

/* Check one complete data record (fields in scratch) and keep it or report its errors. */
static void check_record(struct csv_import *ci)
{
    const char *v[COL__COUNT];
    struct order_input in;
    char shown[ISSUE_TEXT_MAX + 4], msg[ISSUE_TEXT_MAX + 64];

    ci->row_errors = 0;
    for (int c = 0; c < COL__COUNT; c++) {
        v[c] = NULL;
        if (!ci->val_set[c] || ci->val_len[c] == 0)
            continue;                   /* empty = absent */
        v[c] = ci->scratch + ci->val_off[c];
        if (memchr(v[c], '\0', ci->val_len[c]) != NULL)
            report_row_error(ci, col_names[c], "must not contain NUL bytes");
        else if (!utf8_valid(v[c], ci->val_len[c]))
            report_row_error(ci, col_names[c], "must be valid UTF-8");
    }

    order_input_init(&in);
    in.order_number = v[COL_ORDER_NUMBER];
    in.stock_code = v[COL_STOCK_CODE];
    in.description = v[COL_DESCRIPTION];
    in.current_operation = v[COL_CURRENT_OP];
    in.due_date = v[COL_DUE_DATE];
    in.start_date = v[COL_START_DATE];
    /* A number that does not parse becomes -1 so that order_input_check() reports it with
     * the same sentence as a negative one. An absent quantity_to_make stays 0 (reported). */
    if (v[COL_QTY_TO_MAKE] && !parse_int(v[COL_QTY_TO_MAKE], &in.quantity_to_make))
        in.quantity_to_make = -1;
    if (v[COL_QTY_COMPLETED] && !parse_int(v[COL_QTY_COMPLETED], &in.quantity_completed))
        in.quantity_completed = -1;
    if (v[COL_STATUS])
        in.status = order_status_parse(v[COL_STATUS], true);
    if (v[COL_PRIORITY])
        in.priority = order_priority_parse(v[COL_PRIORITY], true);

    order_input_check(&in, report_row_error, ci);

    if (v[COL_WC_CODE]) {
        int64_t id = 0;
        if (ci->opts.wc_lookup == NULL || ci->opts.wc_lookup(ci->opts.ctx, v[COL_WC_CODE], &id) != 0) {
            char full[sizeof(msg) + CSV_WC_CODES_MAX + 16];
            printable(shown, v[COL_WC_CODE], strlen(v[COL_WC_CODE]));
            if (ci->wc_codes[0])
                snprintf(full, sizeof(full), "unknown work centre code \"%s\"; valid codes: %s",
                         shown, ci->wc_codes);
            else
                snprintf(full, sizeof(full), "unknown work centre code \"%s\"", shown);
            report_row_error(ci, "work_centre_code", full);
        } else {
            in.work_centre_id = id;
        }
    }
    if (in.order_number) {
        long first = set_find(ci, in.order_number);
        if (first >= 0) {
            snprintf(msg, sizeof(msg), "repeats the order number of row %lld",
                     (long long)ci->rows[first].row);
            report_row_error(ci, "order_number", msg);
        }
        if (ci->opts.create_only && ci->opts.order_exists
            && ci->opts.order_exists(ci->opts.ctx, in.order_number))
            report_row_error(ci, "order_number", "already exists");
    }
    if (ci->err)
        return;
    if (ci->row_errors)
        ci->skipped++;
    else
        keep_row(ci, &in);
}

/* ------------------------------------------------------------------------------------------ */
/* The engine: records from any reader (libcsv below, importers/xlsx_import.c)                */
/* ------------------------------------------------------------------------------------------ */

/* Field number ci->field_idx of the record that starts on ci->rec_row (set by the reader
 * before the first field): a header name, or a value kept for check_record(). */
static void record_field(struct csv_import *ci, const char *s, size_t len)
{
    if (ci->field_idx == 0) {
        ci->scratch_len = 0;
        memset(ci->val_set, 0, sizeof(ci->val_set));
    }
    if (!ci->header_done) {
        header_field(ci, s, len);
    } else if (!ci->missing_required && ci->field_idx < ci->ncols) {
        int c = ci->colmap[ci->field_idx];
        if (c >= 0)
            keep_field(ci, c, s, len);
    }
    ci->field_idx++;
}

/* The record's fields are all in: the header's end, or a data record counted and checked.
 * A record without fields (a blank line) is nothing. */
static void record_end(struct csv_import *ci)
{
    if (ci->field_idx == 0)
        return;
    ci->field_idx = 0;
    if (!ci->header_done)
        header_end(ci, ci->rec_row);
    else if (count_record(ci) && !ci->missing_required)
        check_record(ci);
}

int csv_import_record(struct csv_import *ci, int64_t row, const struct import_cell *cells,
                      size_t n)
{
    static const char empty[] = "";

    if (ci->err)
        return ci->err;
    if (ci->finished || ci->field_idx != 0)
        return PB_EINTERNAL;
    ci->by_records = true;
    if (n == 0)
        return 0;
    ci->rec_row = row;
    for (size_t i = 0; i < n && !ci->err; i++) {
        if (i > 0 && cells[i].col <= cells[i - 1].col)
            return ci->err = PB_EINTERNAL;
        /* A skipped column is an empty field. Past the widest header the engine keeps (and
         * past CSV_IMPORT_MAX_COLUMNS + 1 header names) a gap only moves the index. */
        while (ci->field_idx < cells[i].col && !ci->err) {
            if (ci->header_done ? ci->field_idx >= ci->ncols
                                : ci->header_fields > CSV_IMPORT_MAX_COLUMNS) {
                if (!ci->header_done)
                    ci->header_fields += cells[i].col - ci->field_idx;
                if (ci->field_idx == 0) {
                    ci->scratch_len = 0;
                    memset(ci->val_set, 0, sizeof(ci->val_set));
                }
                ci->field_idx = cells[i].col;
                break;
            }
            record_field(ci, empty, 0);
        }
        if (!ci->err)
            record_field(ci, cells[i].s != NULL ? cells[i].s : empty, cells[i].len);
    }
    if (!ci->err)
        record_end(ci);
    return ci->err;
}

/* ------------------------------------------------------------------------------------------ */
/* libcsv callbacks                                                                           */
/* ------------------------------------------------------------------------------------------ */

static void on_field(void *data, size_t len, void *vci)
{
    struct csv_import *ci = vci;
    const char *s = data ? data : "";
    bool ends_cr;

    if (ci->err)
        return;
    if (ci->field_idx == 0)
        ci->rec_row = ci->lines + 1;
    ci->lines += count_breaks(s, len, &ends_cr);
    ci->pending_cr = false;             /* a closing quote or delimiter follows the data */
    record_field(ci, s, len);
}

static void on_row(int c, void *vci)
{
    struct csv_import *ci = vci;

    if (ci->err)
        return;
    record_end(ci);
    if (c == '\n') {
        if (!ci->pending_cr)
            ci->lines++;
        ci->pending_cr = false;
    } else if (c == '\r') {
        ci->lines++;
        ci->pending_cr = true;
    }
}

/* The record being parsed cannot be parsed: one error, column NULL, on its first line. Counts
 * the line breaks in the partial field and resets the parser. */
static void record_failed(struct csv_import *ci, const char *message)
{
    struct csv_parser *p = &ci->parser;
    int64_t row = ci->field_idx > 0 ? ci->rec_row : ci->lines + 1;
    bool ends_cr = false;

    if (p->entry_buf != NULL && p->entry_pos > 0) {
        ci->lines += count_breaks((const char *)p->entry_buf, p->entry_pos, &ends_cr);
        ci->pending_cr = ends_cr;
    }
    ci->field_idx = 0;
    csv_free(p);
    parser_init(p, CSV_OPTIONS, ci->delim);
    if (!ci->header_done) {
        /* A header we cannot read maps nothing: every required column is reported missing. */
        add_issue(ci, &ci->errors, row, NULL, message);
        ci->ncols = 0;
        ci->header_fields = 0;
        memset(ci->have_col, 0, sizeof(ci->have_col));
        header_end(ci, row);
    } else if (count_record(ci)) {
        add_issue(ci, &ci->errors, row, NULL, message);
        ci->skipped++;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Feeding                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int parse_bytes(struct csv_import *ci, const char *buf, size_t len)
{
    while (len > 0 && !ci->err) {
        if (ci->skipping) {
            size_t i = 0;
            while (i < len && buf[i] != '\n' && buf[i] != '\r')
                i++;
            if (i == len)
                return 0;
            if (buf[i] == '\r') {
                ci->lines++;
                ci->pending_cr = true;
            } else {
                if (!ci->pending_cr)
                    ci->lines++;
                ci->pending_cr = false;
            }
            ci->skipping = false;
            buf += i + 1;
            len -= i + 1;
            continue;
        }
        parsing = ci;
        size_t n = csv_parse(&ci->parser, buf, len, on_field, on_row, ci);
        parsing = NULL;
        if (ci->err)
            break;
        if (n == len)
            return 0;
        /* libcsv stopped before buf[n]: a strict-mode error or the field cap. */
        int st = csv_error(&ci->parser);
        if (st == CSV_EPARSE) {
            record_failed(ci, ci->parser.quoted
                          ? "cannot parse: text after a closing quote (write a quote as \"\")"
                          : "cannot parse: quote inside an unquoted field (quote the field, write a quote as \"\")");
        } else if (st == CSV_ENOMEM && csv_get_buffer_size(&ci->parser) + CSV_BLK_SIZE > CSV_FIELD_MAX) {
            record_failed(ci, "cannot parse: a field is longer than 64 KiB");
        } else {
            ci->err = PB_EINTERNAL;
            break;
        }
        /* buf[n] is the character libcsv refused (never a line break after EPARSE; after the
         * cap it may be one, which then ends the skipped line). */
        ci->skipping = true;
        buf += n;
        len -= n;
    }
    return ci->err;
}

/* ------------------------------------------------------------------------------------------ */
/* Separator: hold the header record back, split it with each candidate, choose               */
/* ------------------------------------------------------------------------------------------ */

/* What one candidate separator makes of the held header. */
struct header_split {
    size_t fields;                      /* header fields seen (counted to MAX_COLUMNS + 1) */
    bool have[COL__COUNT];
    int known, required;                /* distinct known / required columns found */
    bool done;                          /* the header record ended: ignore what follows */
};

static void split_field(void *data, size_t len, void *vs)
{
    struct header_split *hs = vs;

    if (hs->done || ++hs->fields > CSV_IMPORT_MAX_COLUMNS)
        return;
    int c = header_lookup(data ? data : "", len);
    if (c >= 0 && !hs->have[c]) {
        hs->have[c] = true;
        hs->known++;
        hs->required += col_required[c];
    }
}

static void split_row(int c, void *vs)
{
    struct header_split *hs = vs;

    (void)c;
    if (hs->fields > 0)
        hs->done = true;                /* a blank line before the header is no record */
}

/* Split the held header with separator d as the real parser would (quotes, spaces), leniently:
 * a strict-mode error only ends the count. O(hold_len). */
static struct header_split split_header(const struct csv_import *ci, enum csv_delimiter d)
{
    struct header_split hs = { 0 };
    struct csv_parser p;

    parser_init(&p, CSV_APPEND_NULL | CSV_REPALL_NL, d);
    csv_parse(&p, ci->hold, ci->hold_len, split_field, split_row, &hs);
    csv_fini(&p, split_field, split_row, &hs);
    csv_free(&p);
    return hs;
}

/* The header is held (or the file ended): choose the separator, set it on the parser and parse
 * the held bytes. Returns 0 or ci->err. */
static int decide_delimiter(struct csv_import *ci)
{
    int known[4] = { 0 };
    enum csv_delimiter best = CSV_DELIM_COMMA;

    for (int d = CSV_DELIM_COMMA; d <= CSV_DELIM_TAB; d++) {
        struct header_split hs = split_header(ci, (enum csv_delimiter)d);
        known[d] = hs.known;
        ci->req_found[d] = (unsigned char)hs.required;
        if (known[d] > known[best])     /* ties keep the earlier: ',' then ';' */
            best = (enum csv_delimiter)d;
    }
    ci->delim = ci->opts.delimiter != CSV_DELIM_AUTO ? ci->opts.delimiter : best;
    csv_set_delim(&ci->parser, delim_char(ci->delim));
    char *hold = ci->hold;
    size_t n = ci->hold_len;
    ci->hold = NULL;
    ci->hold_len = 0;
    int rc = parse_bytes(ci, hold, n);
    free(hold);
    return rc;
}

/* Bytes after the BOM: held until the header record's line break outside quotes (or
 * CSV_HEADER_SNIFF_MAX bytes), then parsed with the separator chosen. Returns 0 or ci->err. */
static int take_bytes(struct csv_import *ci, const char *buf, size_t len)
{
    if (ci->delim == CSV_DELIM_AUTO && len > 0) {
        size_t room = CSV_HEADER_SNIFF_MAX - ci->hold_len, n = 0;
        bool ended = false;

        while (n < len && n < room && !ended) {
            char c = buf[n++];
            if (c == '"')
                ci->hold_inq = !ci->hold_inq;
            if ((c == '\n' || c == '\r') && !ci->hold_inq)
                ended = ci->hold_text;
            else
                ci->hold_text = true;
        }
        if (ci->hold == NULL && (ci->hold = malloc(CSV_HEADER_SNIFF_MAX)) == NULL)
            return ci->err = PB_EINTERNAL;
        memcpy(ci->hold + ci->hold_len, buf, n);
        ci->hold_len += n;
        buf += n;
        len -= n;
        if (!ended && ci->hold_len < CSV_HEADER_SNIFF_MAX)
            return 0;                   /* len is 0: wait for more */
        if (decide_delimiter(ci))
            return ci->err;
    }
    return parse_bytes(ci, buf, len);
}

int csv_import_feed(struct csv_import *ci, const char *buf, size_t len)
{
    static const char bom[3] = { '\xEF', '\xBB', '\xBF' };

    if (ci->err)
        return ci->err;
    if (ci->finished)
        return PB_EINTERNAL;
    while (!ci->bom_done && len > 0) {
        if (*buf == bom[ci->bom_len]) {
            buf++;
            len--;
            if (++ci->bom_len == sizeof(bom)) {
                ci->bom_done = true;
                ci->bom_len = 0;
            }
        } else {
            ci->bom_done = true;
            int rc = take_bytes(ci, bom, ci->bom_len);
            ci->bom_len = 0;
            if (rc)
                return rc;
        }
    }
    return take_bytes(ci, buf, len);
}

int csv_import_finish(struct csv_import *ci)
{
    static const char bom[3] = { '\xEF', '\xBB', '\xBF' };

    if (ci->err)
        return ci->err;
    if (ci->finished)
        return 0;
    if (!ci->bom_done) {
        ci->bom_done = true;
        if (take_bytes(ci, bom, ci->bom_len))
            return ci->err;
    }
    if (ci->delim == CSV_DELIM_AUTO && !ci->by_records && decide_delimiter(ci))
        return ci->err;                 /* the file ended inside (or before) the header */
    if (csv_fini(&ci->parser, on_field, on_row, ci) != 0 && !ci->err)
        record_failed(ci, "cannot parse: quoted field not closed before the end of the file");
    if (ci->err)
        return ci->err;
    if (!ci->header_done)
        header_end(ci, 1);              /* empty file: every required column is missing */
    ci->finished = true;
    return ci->err;
}

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                    */
/* ------------------------------------------------------------------------------------------ */

enum csv_delimiter csv_import_delimiter(const struct csv_import *ci)
{
    return ci->delim;
}

const char *csv_delimiter_name(enum csv_delimiter d)
{
    static const char *const names[] = { "auto", "comma", "semicolon", "tab" };
    return (unsigned)d < 4 ? names[d] : "auto";
}

int csv_delimiter_parse(const char *name, enum csv_delimiter *out)
{
    for (int d = CSV_DELIM_AUTO; d <= CSV_DELIM_TAB; d++) {
        if (strcmp(name, csv_delimiter_name((enum csv_delimiter)d)) == 0) {
            *out = (enum csv_delimiter)d;
            return 0;
        }
    }
    return PB_EVALIDATION;
}

size_t csv_import_records(const struct csv_import *ci)
{
    return ci->records;
}

bool csv_import_missing_required(const struct csv_import *ci)
{
    return ci->missing_required;
}

size_t csv_import_skipped(const struct csv_import *ci)
{
    return ci->skipped;
}

const struct csv_row *csv_import_rows(const struct csv_import *ci, size_t *n)
{
    if (n)
        *n = ci->nrows;
    return ci->rows;
}

const struct csv_issue *csv_import_errors(const struct csv_import *ci, size_t *n)
{
    if (n)
        *n = ci->errors.n;
    return ci->errors.v;
}

const struct csv_issue *csv_import_warnings(const struct csv_import *ci, size_t *n)
{
    if (n)
        *n = ci->warnings.n;
    return ci->warnings.v;
}

size_t csv_import_errors_total(const struct csv_import *ci)
{
    return ci->errors.total;
}

size_t csv_import_warnings_total(const struct csv_import *ci)
{
    return ci->warnings.total;
}

void csv_import_add_issue(struct csv_import *ci, bool error, int64_t row, const char *column,
                          const char *message)
{
    add_issue(ci, error ? &ci->errors : &ci->warnings, row, column, message);
}

size_t csv_import_drop_rows(struct csv_import *ci, const bool *drop)
{
    size_t kept = 0;
    for (size_t i = 0; i < ci->nrows; i++)
        if (!drop[i])
            ci->rows[kept++] = ci->rows[i];
    size_t dropped = ci->nrows - kept;
    ci->nrows = kept;
    ci->skipped += dropped;
    hmap_cleanup(&ci->set);             /* its indexes are stale; no record comes after finish */
    hmap_init(&ci->set, row_number_is, ci);
    return dropped;
}
