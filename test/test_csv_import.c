/*
 * Unit tests for importers/csv_import.c — SPEC §6 "CSV import".
 *
 * Sample files are read from $PB_SAMPLES (default ../shared/samples, from the checkout).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "importers/csv_import.h"
#include "core/errors.h"

#define HEADER "order_number,stock_code,description,quantity_to_make\n"
#define HEADER_WITH_OP "order_number,stock_code,description,quantity_to_make,current_operation\n"

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int wc_lookup(void *ctx, const char *code, int64_t *id)
{
    static const char *const codes[] = { "CUT", "ASM", "QC", "PACK", "SHIP" };

    (void)ctx;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strcmp(codes[i], code) == 0) {
            *id = (int64_t)i + 1;
            return 0;
        }
    }
    return -1;
}

static bool order_exists(void *ctx, const char *number)
{
    (void)ctx;
    return strcmp(number, "MO-EXISTS") == 0;
}

struct run_opts {
    size_t chunk;               /* 0 = the whole buffer in one call */
    bool create_only;
    size_t max_rows;
    enum csv_delimiter delimiter;   /* 0 = CSV_DELIM_AUTO: detect from the header */
    int rc;                     /* out: first non-zero feed/finish result */
};

/* Feed text in chunks, finish, return the importer (caller frees). */
static struct csv_import *run_with(const char *text, size_t len, struct run_opts *o)
{
    struct csv_import_options opts = {
        .create_only = o->create_only, .max_rows = o->max_rows,
        .wc_lookup = wc_lookup, .order_exists = order_exists, .ctx = NULL,
        .delimiter = o->delimiter,
    };
    struct csv_import *ci = csv_import_new(&opts);

    assert_non_null(ci);
    o->rc = 0;
    size_t step = o->chunk ? o->chunk : (len ? len : 1);
    for (size_t off = 0; off < len && o->rc == 0; off += step) {
        size_t n = len - off < step ? len - off : step;
        o->rc = csv_import_feed(ci, text + off, n);
    }
    if (o->rc == 0)
        o->rc = csv_import_finish(ci);
    return ci;
}

/* Whole buffer, default options, must succeed. */
static struct csv_import *run(const char *text)
{
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, strlen(text), &o);

    assert_int_equal(o.rc, 0);
    return ci;
}

static const struct csv_issue *find_issue(const struct csv_issue *v, size_t n, int64_t row,
                                          const char *column, const char *msg_part)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].row != row)
            continue;
        if (column == NULL ? v[i].column != NULL
                           : (v[i].column == NULL || strcmp(v[i].column, column) != 0))
            continue;
        if (msg_part != NULL && strstr(v[i].message, msg_part) == NULL)
            continue;
        return &v[i];
    }
    return NULL;
}

static bool has_error(const struct csv_import *ci, int64_t row, const char *column,
                      const char *msg_part)
{
    size_t n;
    const struct csv_issue *v = csv_import_errors(ci, &n);
    return find_issue(v, n, row, column, msg_part) != NULL;
}

static size_t n_errors(const struct csv_import *ci)
{
    size_t n;
    csv_import_errors(ci, &n);
    return n;
}

static size_t n_warnings(const struct csv_import *ci)
{
    size_t n;
    csv_import_warnings(ci, &n);
    return n;
}

static const struct csv_row *rows(const struct csv_import *ci, size_t *n)
{
    return csv_import_rows(ci, n);
}

/* Canonical text of everything the importer reports (to compare two runs). */
static char *dump(const struct csv_import *ci)
{
    char *buf = NULL;
    size_t sz = 0, n;
    FILE *f = open_memstream(&buf, &sz);

    assert_non_null(f);
    fprintf(f, "records=%zu skipped=%zu missing=%d errors=%zu warnings=%zu delimiter=%s\n",
            csv_import_records(ci), csv_import_skipped(ci), csv_import_missing_required(ci),
            csv_import_errors_total(ci), csv_import_warnings_total(ci),
            csv_delimiter_name(csv_import_delimiter(ci)));
    const struct csv_row *r = csv_import_rows(ci, &n);
    for (size_t i = 0; i < n; i++) {
        const struct order_input *in = &r[i].in;
        fprintf(f, "R %lld|%s|%s|%s|%s|%lld|%lld|%d|%d|%s|%s|%lld\n", (long long)r[i].row,
                in->order_number, in->stock_code, in->description,
                in->current_operation ? in->current_operation : "(null)",
                (long long)in->quantity_to_make, (long long)in->quantity_completed, in->status,
                in->priority, in->due_date ? in->due_date : "(null)",
                in->start_date ? in->start_date : "(null)", (long long)in->work_centre_id);
    }
    const struct csv_issue *e = csv_import_errors(ci, &n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "E %lld|%s|%s\n", (long long)e[i].row, e[i].column ? e[i].column : "(null)",
                e[i].message);
    e = csv_import_warnings(ci, &n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "W %lld|%s|%s\n", (long long)e[i].row, e[i].column ? e[i].column : "(null)",
                e[i].message);
    fclose(f);
    return buf;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    buf[sz] = '\0';
    fclose(f);
    *len = (size_t)sz;
    return buf;
}

static const char *samples_dir(void)
{
    const char *d = getenv("PB_SAMPLES");
    return d && *d ? d : "../shared/samples";
}

static char *read_sample(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", samples_dir(), name);
    char *buf = read_file(path, len);
    if (buf == NULL)
        fail_msg("cannot read sample %s", path);
    return buf;
}

/* The same input fed whole, byte by byte and in a few odd chunk sizes gives the same result. */
static void assert_chunking_invariant(const char *text, size_t len)
{
    static const size_t chunks[] = { 1, 2, 3, 7, 64, 4096 };
    struct run_opts o = { 0 };
    struct csv_import *whole = run_with(text, len, &o);
    int rc_whole = o.rc;
    char *want = dump(whole);

    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        struct run_opts oc = { .chunk = chunks[i] };
        struct csv_import *ci = run_with(text, len, &oc);
        char *got = dump(ci);
        assert_int_equal(oc.rc, rc_whole);
        if (strcmp(got, want) != 0)
            fail_msg("chunk size %zu differs:\n--- whole\n%s--- chunked\n%s", chunks[i], want, got);
        free(got);
        csv_import_free(ci);
    }
    free(want);
    csv_import_free(whole);
}

/* ------------------------------------------------------------------------------------------ */
/* RFC 4180 parsing and row numbers                                                            */
/* ------------------------------------------------------------------------------------------ */

static void test_quoted_fields_keep_commas_and_doubled_quotes(void **state)
{
    (void)state;
    struct csv_import *ci = run(HEADER
        "MO-1,S-1,\"Label set \"\"CE\"\", left, right\",5\n"
        "\"MO-2\",\"S-2\",\"\"\"quoted\"\"\",\"7\"\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].in.description, "Label set \"CE\", left, right");
    assert_int_equal(r[0].in.quantity_to_make, 5);
    assert_string_equal(r[1].in.order_number, "MO-2");
    assert_string_equal(r[1].in.description, "\"quoted\"");
    assert_int_equal(r[1].in.quantity_to_make, 7);
    assert_int_equal(r[1].row, 3);
    csv_import_free(ci);
}

static void test_crlf_line_ends_number_rows_like_lf(void **state)
{
    (void)state;
    struct csv_import *ci = run("order_number,stock_code,description,quantity_to_make\r\n"
                                "MO-1,S,D,1\r\n"
                                "\r\n"
                                "MO-2,S,D,2\r\n"
                                "MO-3,S,D,x\r\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n, 2);
    assert_int_equal(r[0].row, 2);
    assert_int_equal(r[1].row, 4);
    assert_string_equal(r[1].in.order_number, "MO-2");
    assert_true(has_error(ci, 5, "quantity_to_make", NULL));
    assert_int_equal(csv_import_records(ci), 3);
    csv_import_free(ci);
}

static void test_lone_cr_line_ends_count_as_lines(void **state)
{
    (void)state;
    struct csv_import *ci = run("order_number,stock_code,description,quantity_to_make\r"
                                "MO-1,S,D,1\r\r"
                                "MO-2,S,\"a\rb\",2\r"
                                "MO-3,S,D,3\r  \n"
                                "MO-4,S,D,4");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n, 4);
    assert_int_equal(r[0].row, 2);
    assert_int_equal(r[1].row, 4);
    assert_int_equal(r[2].row, 6);
    assert_int_equal(r[3].row, 8);         /* "\r  \n" is two line breaks */
    csv_import_free(ci);
}

static void test_bom_is_stripped_before_the_header(void **state)
{
    (void)state;
    struct csv_import *ci = run("\xEF\xBB\xBForder_number,stock_code,description,quantity_to_make\n"
                                "MO-1,S,D,1\n");
    size_t n;

    rows(ci, &n);
    assert_false(csv_import_missing_required(ci));
    assert_int_equal(n_warnings(ci), 0);
    assert_int_equal(n, 1);
    csv_import_free(ci);

    /* Only at the start: a BOM-like prefix elsewhere is data. */
    ci = run(HEADER "\xEF\xBB\xBFMO-1,S,D,1\n");
    const struct csv_row *r = rows(ci, &n);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].in.order_number, "\xEF\xBB\xBFMO-1");
    csv_import_free(ci);
}

static void test_newlines_inside_quotes_count_for_later_row_numbers(void **state)
{
    (void)state;
    struct csv_import *ci = run(HEADER
        "MO-1,S,\"two\nlines\",1\n"
        "MO-2,S,\"three\r\nlines\r\nhere\",2\n"
        "MO-3,S,D,0\n"
        "MO-4,S,D,4\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n, 3);
    assert_int_equal(r[0].row, 2);
    assert_string_equal(r[0].in.description, "two\nlines");
    assert_int_equal(r[1].row, 4);
    assert_string_equal(r[1].in.description, "three\r\nlines\r\nhere");
    assert_true(has_error(ci, 7, "quantity_to_make", "greater than 0"));
    assert_int_equal(r[2].row, 8);
    csv_import_free(ci);
}

static void test_blank_lines_are_counted_and_skipped(void **state)
{
    (void)state;
    struct csv_import *ci = run(HEADER "\n\nMO-1,S,D,1\n   \n\nMO-2,S,D,2\n\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(csv_import_records(ci), 2);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].row, 4);
    assert_int_equal(r[1].row, 7);
    assert_int_equal(n_errors(ci), 0);
    csv_import_free(ci);
}

static void test_unterminated_quote_is_error_on_the_row_where_it_starts(void **state)
{
    (void)state;
    struct csv_import *ci = run(HEADER "MO-1,S,D,1\nMO-2,S,\"open\nquote,2\nMO-3,S,D,3\n");
    size_t n;

    rows(ci, &n);
    assert_int_equal(n, 1);
    assert_int_equal(csv_import_records(ci), 2);
    assert_int_equal(csv_import_skipped(ci), 1);
    assert_int_equal(n_errors(ci), 1);
    assert_true(has_error(ci, 3, NULL, "not closed"));
    csv_import_free(ci);

    /* An open quote in the first field: the record starts on the line after the last break. */
    ci = run(HEADER "MO-1,S,D,1\n\n\"MO-2,S,D,2\n");
    assert_true(has_error(ci, 4, NULL, "not closed"));
    assert_int_equal(csv_import_records(ci), 2);
    csv_import_free(ci);
}

static void test_malformed_quoting_mid_file_is_one_error_then_parsing_resumes(void **state)
{
    (void)state;
    struct csv_import *ci = run(HEADER
        "MO-1,S,Pipe 12\" long,1\n"
        "MO-2,S,\"closed\"junk,2\n"
        "MO-3,S,\"multi\nline\"x,3\n"
        "MO-4,S,D,4\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_true(has_error(ci, 2, NULL, "quote inside an unquoted field"));
    assert_true(has_error(ci, 3, NULL, "after a closing quote"));
    assert_true(has_error(ci, 4, NULL, "after a closing quote"));
    assert_int_equal(n_errors(ci), 3);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].row, 6);
    assert_string_equal(r[0].in.order_number, "MO-4");
    assert_int_equal(csv_import_records(ci), 4);
    assert_int_equal(csv_import_skipped(ci), 3);
    csv_import_free(ci);
}

static void test_field_over_64k_is_error_and_parsing_resumes(void **state)
{
    (void)state;
    size_t big = 70000;
    char *text = malloc(big + 200);
    assert_non_null(text);
    strcpy(text, HEADER "MO-1,S,\"");
    size_t len = strlen(text);
    memset(text + len, 'x', big);
    len += big;
    strcpy(text + len, "\",1\nMO-2,S,D,2\n");
    len += strlen(text + len);

    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, len, &o);
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(o.rc, 0);
    assert_true(has_error(ci, 2, NULL, "longer than 64 KiB"));
    assert_int_equal(n, 1);
    assert_int_equal(r[0].row, 3);
    assert_chunking_invariant(text, len);
    csv_import_free(ci);

    /* The cap hits right after a CR inside the quotes: the LF that follows is the same line
     * break, not a second one. */
    strcpy(text, HEADER "MO-1,S,\"");
    len = strlen(text);
    memset(text + len, 'x', 65534);
    len += 65534;
    strcpy(text + len, "\r\ny\",1\nMO-2,S,D,2\n");
    len += strlen(text + len);
    ci = run_with(text, len, &o);
    r = rows(ci, &n);
    assert_true(has_error(ci, 2, NULL, "longer than 64 KiB"));
    assert_true(has_error(ci, 3, NULL, "quote inside an unquoted field"));
    assert_int_equal(n, 1);
    assert_int_equal(r[0].row, 4);
    assert_chunking_invariant(text, len);
    csv_import_free(ci);
    free(text);
}

static void test_short_and_long_records_map_by_column(void **state)
{
    (void)state;
    struct csv_import *ci = run("order_number,stock_code,description,quantity_to_make,due_date,priority\n"
                                "MO-1,S,D,1\n"
                                "MO-2,S,D,2,2026-12-01,high,extra,fields\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(n, 2);
    assert_null(r[0].in.due_date);
    assert_int_equal(r[0].in.priority, PRIORITY_NORMAL);
    assert_string_equal(r[1].in.due_date, "2026-12-01");
    assert_int_equal(r[1].in.priority, PRIORITY_HIGH);
    csv_import_free(ci);
}

/* ------------------------------------------------------------------------------------------ */
/* Header                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void test_header_aliases_and_normalisation_map_columns(void **state)
{
    (void)state;
    struct csv_import *ci = run(
        "Operation , WORK_CENTER,qty-completed,Delivery Date,Start_Date,STATUS,priority,"
        "Quantity,Job Description,Part Number,Job No\n"
        "Welding,ASM,3,2026-12-01,2026-11-20,In_Progress,URGENT,10,A thing,P-1,J-1\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n_warnings(ci), 0);
    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].in.order_number, "J-1");
    assert_string_equal(r[0].in.stock_code, "P-1");
    assert_string_equal(r[0].in.description, "A thing");
    assert_int_equal(r[0].in.quantity_to_make, 10);
    assert_int_equal(r[0].in.quantity_completed, 3);
    assert_int_equal(r[0].in.status, ORDER_IN_PROGRESS);
    assert_int_equal(r[0].in.priority, PRIORITY_URGENT);
    assert_string_equal(r[0].in.due_date, "2026-12-01");
    assert_string_equal(r[0].in.start_date, "2026-11-20");
    assert_int_equal(r[0].in.work_centre_id, 2);
    assert_string_equal(r[0].in.current_operation, "Welding");
    csv_import_free(ci);

    /* Each alias of the brief, one header at a time. */
    static const struct { const char *hdr; const char *canon; } cases[] = {
        { "Job", "order_number" }, { "Job No", "order_number" }, { "Order No", "order_number" },
        { "Order Number", "order_number" }, { "MO", "order_number" },
        { "StockCode", "stock_code" }, { "Stock Code", "stock_code" }, { "Part", "stock_code" },
        { "Part Number", "stock_code" }, { "Item", "stock_code" },
        { "Job Description", "description" }, { "Description", "description" },
        { "QtyToMake", "quantity_to_make" }, { "Qty", "quantity_to_make" },
        { "Quantity", "quantity_to_make" },
        { "QtyManufactured", "quantity_completed" }, { "Qty Completed", "quantity_completed" },
        { "Quantity Completed", "quantity_completed" },
        { "DueDate", "due_date" }, { "JobDeliveryDate", "due_date" },
        { "Delivery Date", "due_date" }, { "JobStartDate", "start_date" },
        { "StartDate", "start_date" }, { "WorkCentre", "work_centre_code" },
        { "Work Center", "work_centre_code" }, { "Work Centre", "work_centre_code" },
        { "WC", "work_centre_code" }, { "workcenter", "work_centre_code" },
        { "Operation", "current_operation" }, { "Current Operation", "current_operation" },
        { "order_number", "order_number" }, { "PRIORITY", "priority" }, { "Status", "status" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* Two columns mapping to the same canonical name: the second one is reported as a
         * duplicate, which proves the alias mapped. */
        char text[256];
        snprintf(text, sizeof(text), "%s,%s\n", cases[i].canon, cases[i].hdr);
        ci = run(text);
        size_t nw;
        const struct csv_issue *w = csv_import_warnings(ci, &nw);
        if (nw != 1 || strstr(w[0].message, cases[i].canon) == NULL
            || strcmp(w[0].column, cases[i].hdr) != 0)
            fail_msg("header \"%s\" did not map to %s", cases[i].hdr, cases[i].canon);
        csv_import_free(ci);
    }
}

static void test_unknown_header_gives_warning_with_header_as_written(void **state)
{
    (void)state;
    struct csv_import *ci = run("order_number,Colour Code,stock_code,description,quantity_to_make,\n"
                                "MO-1,red,S,D,1\n");
    size_t nw, n;
    const struct csv_issue *w = csv_import_warnings(ci, &nw);

    assert_int_equal(nw, 2);
    assert_int_equal(w[0].row, 1);
    assert_string_equal(w[0].column, "Colour Code");
    assert_string_equal(w[0].message, "unknown column, ignored");
    assert_int_equal(w[1].row, 1);
    assert_string_equal(w[1].column, "");          /* trailing comma: a nameless column */
    rows(ci, &n);
    assert_int_equal(n, 1);
    assert_int_equal(n_errors(ci), 0);
    csv_import_free(ci);
}

static void test_missing_required_column_is_reported_on_row_1(void **state)
{
    (void)state;
    struct csv_import *ci = run("order_number,description,quantity_to_make\n"
                                "MO-1,D,1\nMO-2,D,2\n");
    size_t n;

    assert_true(csv_import_missing_required(ci));
    assert_true(has_error(ci, 1, "stock_code", "missing"));
    assert_int_equal(n_errors(ci), 1);
    rows(ci, &n);
    assert_int_equal(n, 0);
    assert_int_equal(csv_import_records(ci), 2);
    csv_import_free(ci);
}

static void test_unparseable_header_misses_every_required_column(void **state)
{
    (void)state;
    struct csv_import *ci = run("order_number,stock_code,description,quantity_to_make,bad\"name\n"
                                "MO-1,S,D,1\n");

    assert_true(csv_import_missing_required(ci));
    assert_true(has_error(ci, 1, NULL, "quote inside an unquoted field"));
    assert_true(has_error(ci, 1, "order_number", "missing"));
    assert_true(has_error(ci, 1, "quantity_to_make", "missing"));
    assert_int_equal(csv_import_records(ci), 1);
    csv_import_free(ci);
}

static void test_empty_input_misses_every_required_column(void **state)
{
    (void)state;
    struct csv_import *ci = run("");

    assert_true(csv_import_missing_required(ci));
    assert_true(has_error(ci, 1, "order_number", NULL));
    assert_true(has_error(ci, 1, "stock_code", NULL));
    assert_true(has_error(ci, 1, "description", NULL));
    assert_true(has_error(ci, 1, "quantity_to_make", NULL));
    assert_int_equal(csv_import_records(ci), 0);
    csv_import_free(ci);
}

/* ------------------------------------------------------------------------------------------ */
/* Row rules                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void test_order_number_repeated_in_file_is_error_on_later_row(void **state)
{
    (void)state;
    struct csv_import *ci = run(HEADER "MO-1,S,D,1\nMO-2,S,D,1\nMO-1,S,D,1\nmo-1,S,D,1\n");
    size_t n;

    rows(ci, &n);
    assert_int_equal(n, 3);                 /* order numbers are case-sensitive */
    assert_int_equal(n_errors(ci), 1);
    assert_true(has_error(ci, 4, "order_number", "row 2"));
    assert_int_equal(csv_import_skipped(ci), 1);
    csv_import_free(ci);
}

static void test_order_number_repeats_are_found_among_many_rows(void **state)
{
    (void)state;
    size_t cap = 5000 * 32, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)sprintf(text + len, HEADER);
    for (int i = 1; i <= 5000; i++)
        len += (size_t)sprintf(text + len, "MO-%d,S,D,1\n", i);
    len += (size_t)sprintf(text + len, "MO-1,S,D,1\nMO-4321,S,D,1\nMO-5001,S,D,1\n");
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, len, &o);
    size_t n;

    rows(ci, &n);
    assert_int_equal(n, 5001);
    assert_int_equal(n_errors(ci), 2);
    assert_true(has_error(ci, 5002, "order_number", "row 2"));
    assert_true(has_error(ci, 5003, "order_number", "row 4322"));
    csv_import_free(ci);
    free(text);
}

static void test_create_only_rejects_existing_order_number(void **state)
{
    (void)state;
    const char *text = HEADER "MO-EXISTS,S,D,1\nMO-NEW,S,D,1\n";
    struct run_opts o = { .create_only = true };
    struct csv_import *ci = run_with(text, strlen(text), &o);
    size_t n;

    assert_int_equal(o.rc, 0);
    assert_true(has_error(ci, 2, "order_number", "already exists"));
    rows(ci, &n);
    assert_int_equal(n, 1);
    csv_import_free(ci);

    /* Upsert (not create_only): an existing number is fine. */
    ci = run(text);
    rows(ci, &n);
    assert_int_equal(n, 2);
    csv_import_free(ci);
}

static void test_integers_are_strict_decimal(void **state)
{
    (void)state;
    struct csv_import *ci = run(HEADER
        "MO-1,S,D,10abc\n"
        "MO-2,S,D,+5\n"
        "MO-3,S,D,99999999999999999999999\n"
        "MO-4,S,D,-5\n"
        "MO-5,S,D, 42 \n"
        "MO-6,S,D,1.0\n"
        "MO-7,S,D,\n"
        "MO-8,S,D,9223372036854775807\n"
        "MO-9,S,D,-\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    for (int row = 2; row <= 10; row++) {
        if (row == 6)
            continue;
        if (!has_error(ci, row, "quantity_to_make", "greater than 0"))
            fail_msg("row %d: no quantity_to_make error", row);
    }
    assert_int_equal(n, 1);                 /* unquoted spaces around a field are trimmed */
    assert_int_equal(r[0].row, 6);
    assert_int_equal(r[0].in.quantity_to_make, 42);
    csv_import_free(ci);

    ci = run("order_number,stock_code,description,quantity_to_make,quantity_completed\n"
             "MO-1,S,D,1,-1\nMO-2,S,D,1,x\nMO-3,S,D,1,\n");
    assert_true(has_error(ci, 2, "quantity_completed", "at least 0"));
    assert_true(has_error(ci, 3, "quantity_completed", "at least 0"));
    r = rows(ci, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].in.quantity_completed, 0);
    csv_import_free(ci);
}

static void test_priority_and_status_match_case_insensitively(void **state)
{
    (void)state;
    struct csv_import *ci = run("order_number,stock_code,description,quantity_to_make,priority,status\n"
                                "MO-1,S,D,1,High,ON_HOLD\n"
                                "MO-2,S,D,1,asap,done\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n, 1);
    assert_int_equal(r[0].in.priority, PRIORITY_HIGH);
    assert_int_equal(r[0].in.status, ORDER_ON_HOLD);
    assert_true(has_error(ci, 3, "priority", NULL));
    assert_true(has_error(ci, 3, "status", NULL));
    csv_import_free(ci);
}

static void test_empty_optional_fields_are_absent(void **state)
{
    (void)state;
    struct csv_import *ci = run("order_number,stock_code,description,quantity_to_make,"
                                "quantity_completed,priority,status,due_date,start_date,"
                                "work_centre_code,current_operation\n"
                                "MO-1,S,D,1,,,,,,,\n");
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n, 1);
    assert_int_equal(r[0].in.quantity_completed, 0);
    assert_int_equal(r[0].in.priority, PRIORITY_NORMAL);
    assert_int_equal(r[0].in.status, ORDER_NOT_STARTED);
    assert_null(r[0].in.due_date);
    assert_null(r[0].in.start_date);
    assert_int_equal(r[0].in.work_centre_id, 0);
    assert_null(r[0].in.current_operation);
    csv_import_free(ci);
}

static void test_unknown_work_centre_error_names_the_valid_codes(void **state)
{
    (void)state;
    static const char text[] = "order_number,stock_code,description,quantity_to_make,work_centre_code\n"
                               "MO-1,S,D,1,NOPE\n";
    struct csv_import_options opts = { .wc_lookup = wc_lookup, .order_exists = order_exists };
    struct csv_import *ci = csv_import_new(&opts);
    const struct csv_issue *e;
    size_t n;

    assert_non_null(ci);
    csv_import_set_wc_codes(ci, "CUT, ASM, QC, PACK, SHIP");
    assert_int_equal(csv_import_feed(ci, text, sizeof(text) - 1), 0);
    assert_int_equal(csv_import_finish(ci), 0);
    e = csv_import_errors(ci, &n);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].message, "unknown work centre code \"NOPE\"; valid codes: CUT, ASM, QC, PACK, SHIP");

    /* kept by a reset (the .xlsx reader reads again) */
    csv_import_reset(ci);
    assert_int_equal(csv_import_feed(ci, text, sizeof(text) - 1), 0);
    assert_int_equal(csv_import_finish(ci), 0);
    e = csv_import_errors(ci, &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(e[0].message, "; valid codes: CUT, ASM"));
    csv_import_free(ci);
}

static void test_a_long_list_of_valid_codes_is_cut_at_a_code(void **state)
{
    (void)state;
    static const char text[] = "order_number,stock_code,description,quantity_to_make,work_centre_code\n"
                               "MO-1,S,D,1,NOPE\n";
    char codes[2 * CSV_WC_CODES_MAX];
    size_t len = 0;
    struct csv_import_options opts = { .wc_lookup = wc_lookup, .order_exists = order_exists };
    struct csv_import *ci = csv_import_new(&opts);
    const struct csv_issue *e;
    size_t n;

    assert_non_null(ci);
    for (int i = 0; len + 12 < sizeof(codes); i++)      /* "WC-000, WC-001, ..." */
        len += (size_t)snprintf(codes + len, sizeof(codes) - len, "%sWC-%03d", i ? ", " : "", i);
    csv_import_set_wc_codes(ci, codes);
    assert_int_equal(csv_import_feed(ci, text, sizeof(text) - 1), 0);
    assert_int_equal(csv_import_finish(ci), 0);
    e = csv_import_errors(ci, &n);
    assert_int_equal(n, 1);
    const char *list = strstr(e[0].message, "valid codes: ");
    assert_non_null(list);
    list += strlen("valid codes: ");
    assert_true(strlen(list) < CSV_WC_CODES_MAX);
    assert_true(strncmp(list, "WC-000, WC-001, ", 16) == 0);
    size_t l = strlen(list);
    assert_true(l > 5 && strcmp(list + l - 5, ", ...") == 0);
    assert_true(list[l - 6] >= '0' && list[l - 6] <= '9');   /* the last code is whole */
    csv_import_free(ci);
}

static void test_unknown_work_centre_and_bad_text_are_row_errors(void **state)
{
    (void)state;
    static const char text[] = "order_number,stock_code,description,quantity_to_make,work_centre_code\n"
                               "MO-1,S,D,1,NOPE\n"
                               "MO-2,S,\xff\xfe,1,CUT\n"
                               "MO-3,S,a\0b,1,CUT\n"
                               "MO-4,S,\"2026-13-01\",1,cut\n";
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, sizeof(text) - 1, &o);
    size_t n;

    assert_int_equal(o.rc, 0);
    assert_true(has_error(ci, 2, "work_centre_code", "NOPE"));
    assert_true(has_error(ci, 3, "description", "UTF-8"));
    assert_true(has_error(ci, 4, "description", "NUL"));
    assert_true(has_error(ci, 5, "work_centre_code", NULL));    /* codes are case-sensitive */
    rows(ci, &n);
    assert_int_equal(n, 0);
    assert_int_equal(csv_import_skipped(ci), 4);
    csv_import_free(ci);
}

static void test_too_long_fields_are_reported_by_the_field_rules(void **state)
{
    (void)state;
    char text[2048];
    char num[60];
    memset(num, 'N', 51);
    num[51] = '\0';
    snprintf(text, sizeof(text), HEADER "%s,S,D,1\n", num);
    struct csv_import *ci = run(text);

    assert_true(has_error(ci, 2, "order_number", "at most 50"));
    csv_import_free(ci);
}

static void test_more_than_max_rows_is_too_large(void **state)
{
    (void)state;
    const char *text = HEADER "MO-1,S,D,1\nMO-2,S,D,1\nMO-3,S,D,1\n";
    struct run_opts o = { .max_rows = 3 };
    struct csv_import *ci = run_with(text, strlen(text), &o);

    assert_int_equal(o.rc, 0);
    assert_int_equal(csv_import_records(ci), 3);
    csv_import_free(ci);

    o = (struct run_opts){ .max_rows = 2 };
    ci = run_with(text, strlen(text), &o);
    assert_int_equal(o.rc, PB_ETOO_LARGE);
    assert_int_equal(csv_import_feed(ci, "x", 1), PB_ETOO_LARGE);   /* sticky */
    assert_int_equal(csv_import_finish(ci), PB_ETOO_LARGE);
    csv_import_free(ci);

    /* The last record has no line end: counted at finish. */
    static const char no_eol[] = HEADER "MO-1,S,D,1\nMO-2,S,D,1\nMO-3,S,D,1";
    o = (struct run_opts){ .max_rows = 2, .chunk = 1 };
    ci = run_with(no_eol, sizeof(no_eol) - 1, &o);
    assert_int_equal(o.rc, PB_ETOO_LARGE);
    csv_import_free(ci);
}

/* ------------------------------------------------------------------------------------------ */
/* Bounded work (SPEC §4 input rules, §6 limits)                                              */
/* ------------------------------------------------------------------------------------------ */

/* n copies of `line` after `head`, NUL-terminated; *len gets the length. */
static char *repeat(const char *head, const char *line, size_t n, size_t *len)
{
    size_t hl = strlen(head), ll = strlen(line);
    char *t = malloc(hl + ll * n + 1);

    assert_non_null(t);
    memcpy(t, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(t + hl + i * ll, line, ll);
    t[hl + ll * n] = '\0';
    *len = hl + ll * n;
    return t;
}

static void test_errors_listed_are_capped_at_1000_and_counted_in_total(void **state)
{
    (void)state;
    size_t len, n;
    char *text = repeat(HEADER, ",,,\n", 600, &len);     /* 4 required fields missing each */
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, len, &o);
    const struct csv_issue *e = csv_import_errors(ci, &n);

    assert_int_equal(o.rc, 0);
    assert_int_equal(csv_import_records(ci), 600);
    assert_int_equal(csv_import_skipped(ci), 600);
    assert_int_equal(n, CSV_IMPORT_MAX_ISSUES);
    assert_int_equal(csv_import_errors_total(ci), 2400);
    /* the listed ones are the first found, in file order: rows 2..251, four each */
    assert_int_equal(e[0].row, 2);
    assert_int_equal(e[n - 1].row, 251);
    assert_int_equal(csv_import_warnings_total(ci), 0);
    assert_chunking_invariant(text, len);
    csv_import_free(ci);
    free(text);

    /* exactly at the cap: everything listed */
    text = repeat(HEADER, ",,,\n", 250, &len);
    ci = run_with(text, len, &o);
    assert_int_equal(n_errors(ci), 1000);
    assert_int_equal(csv_import_errors_total(ci), 1000);
    csv_import_free(ci);
    free(text);
}

static void test_header_over_256_columns_is_one_error_on_its_row(void **state)
{
    (void)state;
    size_t len;
    /* required columns first, then unknown ones up to 257 in all */
    char *text = repeat("order_number,stock_code,description,quantity_to_make", ",x",
                        CSV_IMPORT_MAX_COLUMNS + 1 - 4, &len);
    char *full = malloc(len + 64);
    assert_non_null(full);
    len = (size_t)sprintf(full, "%s\nMO-1,S,D,1\nMO-2,S,D,1\n", text);

    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(full, len, &o);
    size_t n;
    const struct csv_issue *e = csv_import_errors(ci, &n);
    assert_int_equal(o.rc, 0);
    assert_true(csv_import_missing_required(ci));
    assert_int_equal(n, 1);
    assert_int_equal(e[0].row, 1);
    assert_null(e[0].column);
    assert_non_null(strstr(e[0].message, "257 columns"));
    assert_int_equal(csv_import_records(ci), 2);            /* counted, not checked */
    rows(ci, &n);
    assert_int_equal(n, 0);
    assert_chunking_invariant(full, len);
    csv_import_free(ci);

    /* 256 columns are fine: 252 unknown-column warnings, both rows valid */
    len = (size_t)sprintf(full, "%.*s\nMO-1,S,D,1\nMO-2,S,D,1\n", (int)(strlen(text) - 2), text);
    ci = run_with(full, len, &o);
    assert_false(csv_import_missing_required(ci));
    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(csv_import_warnings_total(ci), 252);
    rows(ci, &n);
    assert_int_equal(n, 2);
    csv_import_free(ci);
    free(full);
    free(text);
}

static void test_a_10_mib_line_of_commas_is_refused_without_work_per_cell(void **state)
{
    (void)state;
    size_t len = 10u << 20;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, ',', len - 1);
    text[len - 1] = '\n';
    struct run_opts o = { .chunk = 65536 };
    struct csv_import *ci = run_with(text, len, &o);

    assert_int_equal(o.rc, 0);
    assert_true(csv_import_missing_required(ci));
    assert_int_equal(csv_import_errors_total(ci), 1);
    assert_true(has_error(ci, 1, NULL, "10485760 columns"));
    /* only the first 256 header cells were looked at (each one "column without a name") */
    assert_int_equal(csv_import_warnings_total(ci), CSV_IMPORT_MAX_COLUMNS);
    assert_int_equal(n_warnings(ci), CSV_IMPORT_MAX_COLUMNS);
    csv_import_free(ci);

    /* as a data record under a good header: one record, its four required fields missing */
    memcpy(text, HEADER, strlen(HEADER));
    ci = run_with(text, len, &o);
    assert_int_equal(csv_import_records(ci), 1);
    assert_int_equal(csv_import_errors_total(ci), 4);
    assert_int_equal(csv_import_warnings_total(ci), 0);
    csv_import_free(ci);
    free(text);
}

static void test_leading_quote_before_a_formula_character_is_removed(void **state)
{
    (void)state;
    const char *text = HEADER_WITH_OP
        "MO-1,'=cmd|' /C calc'!A0,'-5 mm,1,'@op\n"
        "'-MO-2,'+41,\"'\tTab\",1,\"'\rCR\"\n"
        "MO-3,''=x,'plain,1,'\n"
        "MO-4,S,''-y,1,''plain\n";
    struct csv_import *ci = run(text);
    size_t n;
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(n, 4);
    assert_string_equal(r[0].in.stock_code, "=cmd|' /C calc'!A0");
    assert_string_equal(r[0].in.description, "-5 mm");
    assert_string_equal(r[0].in.current_operation, "@op");
    assert_string_equal(r[1].in.order_number, "-MO-2");
    assert_string_equal(r[1].in.stock_code, "+41");
    assert_string_equal(r[1].in.description, "\tTab");
    assert_string_equal(r[1].in.current_operation, "\rCR");
    assert_string_equal(r[2].in.stock_code, "'=x");                 /* one removed, not all */
    assert_string_equal(r[2].in.description, "'plain");             /* not an escape */
    assert_string_equal(r[2].in.current_operation, "'");
    assert_string_equal(r[3].in.description, "'-y");
    assert_string_equal(r[3].in.current_operation, "''plain");
    csv_import_free(ci);

    /* a quantity "'-5" is "-5": the same error as a negative number */
    ci = run(HEADER "MO-9,S,D,'-5\n");
    assert_true(has_error(ci, 2, "quantity_to_make", NULL));
    csv_import_free(ci);
}

/* ------------------------------------------------------------------------------------------ */
/* Chunking                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void test_byte_by_byte_feeding_equals_whole_feeding(void **state)
{
    (void)state;
    static const char text[] =
        "\xEF\xBB\xBF" "Job,Part,Description,Qty,Priority,Work Center,Colour\r\n"
        "\r\n"
        "J-1,P,\"multi\r\nline, with \"\"quotes\"\"\r\n\",5,High,CUT,red\r\n"
        "J-2,P,\"lf\nonly\",6,low,,\r"
        "J-3,P,bad\"quote,7,low,ASM\r\n"
        "J-4,P,\"closed\" junk,7,low,ASM\n"
        "  \r  \n"
        "J-5,P,D,0,urgent,NOPE\r\n"
        "J-1,P,dup,1\n"
        "J-6,P,\"ends with cr\r\",1\r\n"
        "J-7,P,\"unterminated\r\nto the end,1\r\n";
    assert_chunking_invariant(text, sizeof(text) - 1);

    /* The same with the BOM cut short and no header line end. */
    assert_chunking_invariant("\xEF\xBBJob", 5);
    assert_chunking_invariant("\xEF", 1);
    assert_chunking_invariant("Job,Part,Description,Qty\r", 25);
}

/* ------------------------------------------------------------------------------------------ */
/* Samples                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void test_sample_orders_demo_has_15_valid_rows(void **state)
{
    (void)state;
    size_t len, n;
    char *text = read_sample("orders-demo.csv", &len);
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, len, &o);
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(o.rc, 0);
    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(n_warnings(ci), 0);
    assert_int_equal(csv_import_records(ci), 15);
    assert_int_equal(n, 15);
    assert_string_equal(r[1].in.description, "Aluminium housing, anodised");
    assert_string_equal(r[9].in.description, "Label set \"CE\" marking");
    assert_int_equal(r[14].row, 16);
    assert_chunking_invariant(text, len);
    csv_import_free(ci);
    free(text);
}

static void test_sample_erp_export_has_5_valid_rows(void **state)
{
    (void)state;
    size_t len, n;
    char *text = read_sample("orders-erp-export.csv", &len);
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, len, &o);
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(o.rc, 0);
    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(n_warnings(ci), 0);
    assert_int_equal(n, 5);
    assert_string_equal(r[0].in.order_number, "J-40001");
    assert_int_equal(r[0].in.priority, PRIORITY_HIGH);
    assert_string_equal(r[0].in.due_date, "2026-12-02");
    assert_string_equal(r[2].in.order_number, "J-40003");
    assert_non_null(strchr(r[2].in.description, '\n'));
    assert_int_equal(r[2].row, 4);
    assert_int_equal(r[3].row, 6);            /* after the quoted line break */
    assert_int_equal(r[3].in.work_centre_id, 0);
    assert_int_equal(r[4].in.priority, PRIORITY_URGENT);
    assert_int_equal(r[4].in.quantity_completed, 2500);
    assert_chunking_invariant(text, len);
    csv_import_free(ci);
    free(text);
}

static void test_sample_invalid_has_errors_on_rows_3_to_9(void **state)
{
    (void)state;
    size_t len, n;
    char *text = read_sample("orders-invalid.csv", &len);
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, len, &o);
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(o.rc, 0);
    assert_false(csv_import_missing_required(ci));
    assert_int_equal(csv_import_records(ci), 8);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].row, 2);
    assert_int_equal(csv_import_skipped(ci), 7);
    assert_true(has_error(ci, 3, "due_date", NULL));
    assert_true(has_error(ci, 4, "quantity_to_make", NULL));
    assert_true(has_error(ci, 5, "work_centre_code", NULL));
    assert_true(has_error(ci, 6, "stock_code", NULL));
    assert_true(has_error(ci, 7, "priority", NULL));
    assert_true(has_error(ci, 8, "order_number", NULL));
    assert_true(has_error(ci, 9, NULL, NULL));
    size_t ne;
    const struct csv_issue *e = csv_import_errors(ci, &ne);
    for (size_t i = 0; i < ne; i++)
        assert_in_range(e[i].row, 3, 9);
    assert_chunking_invariant(text, len);
    csv_import_free(ci);
    free(text);
}

static void test_100k_generated_rows_parse_without_errors(void **state)
{
    (void)state;
    char path[] = "/tmp/pb-csv-100k-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "python3 '%s/gen-orders.py' 100000 > '%s'", samples_dir(), path);
    if (system(cmd) != 0) {
        unlink(path);
        fail_msg("cannot run %s", cmd);
    }
    size_t len, n;
    char *text = read_file(path, &len);
    unlink(path);
    assert_non_null(text);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct run_opts o = { .chunk = 65536 };
    struct csv_import *ci = run_with(text, len, &o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    rows(ci, &n);
    assert_int_equal(o.rc, 0);
    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(csv_import_records(ci), 100000);
    assert_int_equal(n, 100000);
    printf("csv_import: 100000 rows, %.1f MB in %.3f s = %.0f rows/s, %.1f MB/s\n",
           (double)len / 1e6, s, 100000.0 / s, (double)len / 1e6 / s);
    csv_import_free(ci);
    free(text);
}

/* ------------------------------------------------------------------------------------------ */
/* Separator detection (issue 10 item 4)                                                      */
/* ------------------------------------------------------------------------------------------ */

/* A copy of text[0..len) whose ',' outside quotes are sep (quoted commas stay), NUL-ended. */
static char *with_separator(const char *text, size_t len, char sep)
{
    char *out = malloc(len + 1);
    bool inq = false;

    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"')
            inq = !inq;
        out[i] = (text[i] == ',' && !inq) ? sep : text[i];
    }
    out[len] = '\0';
    return out;
}

/* The ERP sample with sep instead of ',' imports as the original does, detected from its header,
 * whatever the chunking; quoted fields that hold ',' stay whole. */
static void assert_erp_sample_with(char sep, enum csv_delimiter want)
{
    size_t len, n;
    char *orig = read_sample("orders-erp-export.csv", &len);
    char *text = with_separator(orig, len, sep);
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, len, &o);
    const struct csv_row *r = rows(ci, &n);

    assert_int_equal(o.rc, 0);
    assert_int_equal(csv_import_delimiter(ci), want);
    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(n_warnings(ci), 0);
    assert_int_equal(n, 5);
    assert_string_equal(r[0].in.description, "Bracket, left hand");
    assert_string_equal(r[4].in.description, "Shim 0,5 mm");
    assert_int_equal(r[3].row, 6);
    assert_int_equal(r[4].in.quantity_completed, 2500);
    assert_chunking_invariant(text, len);
    csv_import_free(ci);
    free(text);
    free(orig);
}

static void test_semicolon_and_tab_files_are_detected_from_the_header(void **state)
{
    (void)state;
    assert_erp_sample_with(';', CSV_DELIM_SEMICOLON);
    assert_erp_sample_with('\t', CSV_DELIM_TAB);
    assert_erp_sample_with(',', CSV_DELIM_COMMA);
}

static enum csv_delimiter detected(const char *text)
{
    struct csv_import *ci = run(text);
    enum csv_delimiter d = csv_import_delimiter(ci);
    csv_import_free(ci);
    return d;
}

static void test_detection_picks_most_known_columns_ties_go_to_comma(void **state)
{
    (void)state;
    /* ',' finds description + quantity_to_make, ';' only order_number */
    assert_int_equal(detected("order_number;stock_code,description,quantity_to_make\n"),
                     CSV_DELIM_COMMA);
    assert_int_equal(detected("Job;StockCode;Qty,Description\n"), CSV_DELIM_SEMICOLON);
    assert_int_equal(detected("order_number\n1\n"), CSV_DELIM_COMMA);        /* tie */
    assert_int_equal(detected("x;y\tz\n"), CSV_DELIM_COMMA);                 /* none known */
    assert_int_equal(detected(""), CSV_DELIM_COMMA);                         /* empty file */
    /* ';' and TAB both find one, ',' none: the earlier of the two */
    assert_int_equal(detected("order_number;a\tstock_code\n"), CSV_DELIM_SEMICOLON);
    /* a header without a line break, a blank line before the header */
    assert_int_equal(detected("job\tpart\tqty"), CSV_DELIM_TAB);
    assert_int_equal(detected("\r\n\njob\tpart\tqty\n"), CSV_DELIM_TAB);
}

static void test_detection_is_quote_aware(void **state)
{
    (void)state;
    /* separators inside quotes do not split */
    assert_int_equal(detected("\"order_number;stock_code;description\",job,part,qty\n"),
                     CSV_DELIM_COMMA);
    assert_int_equal(detected("\"Job\";\"StockCode\";\"Description\";\"Qty, pcs\"\n"),
                     CSV_DELIM_SEMICOLON);
    /* a line break inside a quoted header field does not end the header */
    const char *text = "\"a\nb\";order_number;stock_code;description;quantity_to_make\n"
                       "x;MO-1;P;\"d, e\";5\n";
    struct csv_import *ci = run(text);
    size_t n;
    const struct csv_row *r = rows(ci, &n);
    assert_int_equal(csv_import_delimiter(ci), CSV_DELIM_SEMICOLON);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].row, 3);
    assert_string_equal(r[0].in.description, "d, e");
    assert_chunking_invariant(text, strlen(text));
    csv_import_free(ci);
}

static void test_forced_separator_is_used_and_a_better_one_is_named(void **state)
{
    (void)state;
    size_t len;
    char *orig = read_sample("orders-erp-export.csv", &len);
    char *semi = with_separator(orig, len, ';');
    static const char *const required[] = {
        "order_number", "stock_code", "description", "quantity_to_make"
    };

    /* comma forced on a ';' file: the old four errors, each naming ';' */
    struct run_opts o = { .delimiter = CSV_DELIM_COMMA };
    struct csv_import *ci = run_with(semi, len, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(csv_import_delimiter(ci), CSV_DELIM_COMMA);
    assert_true(csv_import_missing_required(ci));
    assert_int_equal(n_errors(ci), 9);          /* + lines 2-5, 7: ';"' cannot be parsed */
    for (size_t i = 0; i < 4; i++)
        assert_true(has_error(ci, 1, required[i],
                              "is missing; the file looks separated by ';' \u2014 choose Semicolon"));
    csv_import_free(ci);

    /* semicolon forced on the ';' file works; TAB forced on the comma file names ',' */
    o = (struct run_opts){ .delimiter = CSV_DELIM_SEMICOLON };
    ci = run_with(semi, len, &o);
    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(csv_import_skipped(ci), 0);
    csv_import_free(ci);
    o = (struct run_opts){ .delimiter = CSV_DELIM_TAB };
    ci = run_with(orig, len, &o);
    assert_int_equal(csv_import_delimiter(ci), CSV_DELIM_TAB);
    assert_true(has_error(ci, 1, "order_number", "looks separated by ',' \u2014 choose Comma"));
    csv_import_free(ci);

    /* no hint when no separator finds the required columns */
    o = (struct run_opts){ .delimiter = CSV_DELIM_COMMA };
    ci = run_with("job;part\n1;2\n", 13, &o);
    assert_true(has_error(ci, 1, "description", "required column description is missing"));
    assert_false(has_error(ci, 1, "description", "looks separated"));
    csv_import_free(ci);
    free(semi);
    free(orig);
}

/* The header is looked at for at most CSV_HEADER_SNIFF_MAX bytes; what follows is parsed as
 * usual with the separator chosen from that prefix. */
static void test_header_longer_than_the_sniff_window(void **state)
{
    (void)state;
    size_t pad = 40000, cap = 3 * pad, n;
    char *text = malloc(cap);
    int len;

    assert_non_null(text);
    len = snprintf(text, cap, "order_number;stock_code;description;quantity_to_make;%0*d;%0*d\n"
                   "MO-1;P;D;5;;\n", (int)pad, 0, (int)pad, 0);
    assert_true(len > CSV_HEADER_SNIFF_MAX);
    struct run_opts o = { 0 };
    struct csv_import *ci = run_with(text, (size_t)len, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(csv_import_delimiter(ci), CSV_DELIM_SEMICOLON);
    rows(ci, &n);
    assert_int_equal(n, 1);
    assert_int_equal(n_errors(ci), 0);
    assert_int_equal(n_warnings(ci), 2);                /* the two unknown columns */
    csv_import_free(ci);
    free(text);
}

static void test_delimiter_names_round_trip(void **state)
{
    (void)state;
    enum csv_delimiter d;
    static const char *const names[] = { "auto", "comma", "semicolon", "tab" };

    for (int i = 0; i < 4; i++) {
        assert_int_equal(csv_delimiter_parse(names[i], &d), 0);
        assert_int_equal(d, i);
        assert_string_equal(csv_delimiter_name(d), names[i]);
    }
    assert_int_equal(csv_delimiter_parse("Comma", &d), PB_EVALIDATION);
    assert_int_equal(csv_delimiter_parse(";", &d), PB_EVALIDATION);
    assert_int_equal(csv_delimiter_parse("", &d), PB_EVALIDATION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoted_fields_keep_commas_and_doubled_quotes),
        cmocka_unit_test(test_crlf_line_ends_number_rows_like_lf),
        cmocka_unit_test(test_lone_cr_line_ends_count_as_lines),
        cmocka_unit_test(test_bom_is_stripped_before_the_header),
        cmocka_unit_test(test_newlines_inside_quotes_count_for_later_row_numbers),
        cmocka_unit_test(test_blank_lines_are_counted_and_skipped),
        cmocka_unit_test(test_unterminated_quote_is_error_on_the_row_where_it_starts),
        cmocka_unit_test(test_malformed_quoting_mid_file_is_one_error_then_parsing_resumes),
        cmocka_unit_test(test_field_over_64k_is_error_and_parsing_resumes),
        cmocka_unit_test(test_short_and_long_records_map_by_column),
        cmocka_unit_test(test_header_aliases_and_normalisation_map_columns),
        cmocka_unit_test(test_unknown_header_gives_warning_with_header_as_written),
        cmocka_unit_test(test_unknown_work_centre_error_names_the_valid_codes),
        cmocka_unit_test(test_a_long_list_of_valid_codes_is_cut_at_a_code),
        cmocka_unit_test(test_missing_required_column_is_reported_on_row_1),
        cmocka_unit_test(test_unparseable_header_misses_every_required_column),
        cmocka_unit_test(test_empty_input_misses_every_required_column),
        cmocka_unit_test(test_order_number_repeated_in_file_is_error_on_later_row),
        cmocka_unit_test(test_order_number_repeats_are_found_among_many_rows),
        cmocka_unit_test(test_create_only_rejects_existing_order_number),
        cmocka_unit_test(test_integers_are_strict_decimal),
        cmocka_unit_test(test_priority_and_status_match_case_insensitively),
        cmocka_unit_test(test_empty_optional_fields_are_absent),
        cmocka_unit_test(test_unknown_work_centre_and_bad_text_are_row_errors),
        cmocka_unit_test(test_too_long_fields_are_reported_by_the_field_rules),
        cmocka_unit_test(test_more_than_max_rows_is_too_large),
        cmocka_unit_test(test_errors_listed_are_capped_at_1000_and_counted_in_total),
        cmocka_unit_test(test_header_over_256_columns_is_one_error_on_its_row),
        cmocka_unit_test(test_a_10_mib_line_of_commas_is_refused_without_work_per_cell),
        cmocka_unit_test(test_leading_quote_before_a_formula_character_is_removed),
        cmocka_unit_test(test_byte_by_byte_feeding_equals_whole_feeding),
        cmocka_unit_test(test_sample_orders_demo_has_15_valid_rows),
        cmocka_unit_test(test_sample_erp_export_has_5_valid_rows),
        cmocka_unit_test(test_sample_invalid_has_errors_on_rows_3_to_9),
        cmocka_unit_test(test_100k_generated_rows_parse_without_errors),
        cmocka_unit_test(test_semicolon_and_tab_files_are_detected_from_the_header),
        cmocka_unit_test(test_detection_picks_most_known_columns_ties_go_to_comma),
        cmocka_unit_test(test_detection_is_quote_aware),
        cmocka_unit_test(test_forced_separator_is_used_and_a_better_one_is_named),
        cmocka_unit_test(test_header_longer_than_the_sniff_window),
        cmocka_unit_test(test_delimiter_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
