/*
 * libFuzzer target for importers/csv_import.c (not part of `make test`).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. importers/csv_import.c core/model.c \
 *       test/fuzz/fuzz_csv_import.c -lcsv -o build/fuzz_csv_import
 *   ./build/fuzz_csv_import -max_total_time=30 -max_len=4096
 *
 * Each input is imported twice: whole, and in chunks whose sizes come from the input itself.
 * Both runs must report exactly the same (rows, errors, warnings, counters), and the result
 * must satisfy the importer's invariants; any difference aborts. The separator is detected
 * (issue 10 item 4: the header is held back, so chunking must not change the choice) unless the
 * first byte has its high bit set: then bits 5-6 force auto / comma / semicolon / tab.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "importers/csv_import.h"
#include "core/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int wc_lookup(void *ctx, const char *code, int64_t *id)
{
    static const char *const codes[] = { "CUT", "ASM", "QC", "PACK", "SHIP" };

    (void)ctx;
    for (size_t i = 0; i < 5; i++) {
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
    return number[0] == 'X';
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_csv_import: %s\n", what);
        abort();
    }
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool issues_eq(const struct csv_issue *a, size_t na, const struct csv_issue *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].row != b[i].row || !str_eq(a[i].column, b[i].column)
            || !str_eq(a[i].message, b[i].message))
            return false;
    return true;
}

static void no_report(void *ctx, const char *field, const char *message)
{
    (void)ctx, (void)field, (void)message;
    check(false, "a kept row breaks order_input_check");
}

static struct csv_import *run(const uint8_t *data, size_t size, bool create_only, bool chunked,
                              enum csv_delimiter delimiter, int *rc)
{
    struct csv_import_options opts = {
        .create_only = create_only, .max_rows = 50, .wc_lookup = wc_lookup,
        .order_exists = order_exists, .delimiter = delimiter,
    };
    struct csv_import *ci = csv_import_new(&opts);
    size_t off = 0, k = 0;

    check(ci != NULL, "csv_import_new");
    *rc = 0;
    while (off < size && *rc == 0) {
        size_t n = chunked ? (size_t)(data[k++ % size] % 13) + 1 : size;
        if (n > size - off)
            n = size - off;
        *rc = csv_import_feed(ci, (const char *)data + off, n);
        off += n;
    }
    if (*rc == 0)
        *rc = csv_import_finish(ci);
    return ci;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool create_only = size > 0 && (data[0] & 1);
    enum csv_delimiter delimiter = size > 0 && (data[0] & 0x80)
                                   ? (enum csv_delimiter)((data[0] >> 5) & 3) : CSV_DELIM_AUTO;
    int rc_a, rc_b;
    struct csv_import *a = run(data, size, create_only, false, delimiter, &rc_a);
    struct csv_import *b = run(data, size, create_only, true, delimiter, &rc_b);

    check(rc_a == rc_b, "feed/finish results differ");
    check(rc_a == 0 || rc_a == PB_ETOO_LARGE, "unexpected error code");
    if (rc_a == 0) {
        size_t na, nb, ea, eb, wa, wb;
        const struct csv_row *ra = csv_import_rows(a, &na), *rb = csv_import_rows(b, &nb);
        const struct csv_issue *xa = csv_import_errors(a, &ea), *xb = csv_import_errors(b, &eb);
        const struct csv_issue *ya = csv_import_warnings(a, &wa), *yb = csv_import_warnings(b, &wb);

        check(csv_import_delimiter(a) == csv_import_delimiter(b), "separators differ");
        check(csv_import_delimiter(a) != CSV_DELIM_AUTO, "no separator chosen");
        check(delimiter == CSV_DELIM_AUTO || csv_import_delimiter(a) == delimiter,
              "forced separator not used");
        check(csv_import_records(a) == csv_import_records(b), "records differ");
        check(csv_import_skipped(a) == csv_import_skipped(b), "skipped differ");
        check(csv_import_missing_required(a) == csv_import_missing_required(b), "missing differ");
        check(issues_eq(xa, ea, xb, eb), "errors differ");
        check(issues_eq(ya, wa, yb, wb), "warnings differ");
        check(na == nb, "row counts differ");
        for (size_t i = 0; i < na; i++) {
            const struct order_input *p = &ra[i].in, *q = &rb[i].in;
            check(ra[i].row == rb[i].row, "row numbers differ");
            check(str_eq(p->order_number, q->order_number) && str_eq(p->stock_code, q->stock_code)
                  && str_eq(p->description, q->description)
                  && str_eq(p->current_operation, q->current_operation)
                  && str_eq(p->due_date, q->due_date) && str_eq(p->start_date, q->start_date)
                  && p->quantity_to_make == q->quantity_to_make
                  && p->quantity_completed == q->quantity_completed && p->status == q->status
                  && p->priority == q->priority && p->work_centre_id == q->work_centre_id,
                  "row contents differ");
            check(order_input_check(p, no_report, NULL) == 0, "kept row is invalid");
            check(i == 0 || ra[i].row > ra[i - 1].row, "rows not increasing");
            check(ra[i].row >= 2, "row before the header");
        }
        if (!csv_import_missing_required(a))
            check(csv_import_records(a) == na + csv_import_skipped(a), "records != rows + skipped");
        for (size_t i = 0; i < ea; i++) {
            check(xa[i].row >= 1 && xa[i].message != NULL, "bad error");
            check(i == 0 || xa[i].row >= xa[i - 1].row, "errors not in row order");
        }
    }
    csv_import_free(a);
    csv_import_free(b);
    return 0;
}
