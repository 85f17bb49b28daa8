/*
 * libFuzzer target for importers/xlsx_import.c (SPEC §10), no sockets.
 *
 * Byte 0 picks the input's shape:
 *   bit 0 = 0: the rest is a whole file, read as a workbook (zip, OLE, anything);
 *   bit 0 = 1: the rest is the XML of the first worksheet, zipped here (libzip) with a fixed
 *              workbook, relationships, styles (a date style) and shared strings, so that the
 *              fuzzer reaches the sheet parser instead of the zip checksums;
 *   bit 1: the 1904 date system (second shape); bit 2: ?sheet=Later instead of the first.
 * Checks: the result is 0, 413, 415, 422 (never 500 but for memory), a failure names its
 * problem in a sentence; on success every kept row passes order_input_check, row numbers are
 * sheet rows (1..1048576) in increasing order, counts add up, and the issues listed are
 * bounded as in SPEC §6.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "core/errors.h"
#include "importers/xlsx_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int wc_lookup(void *ctx, const char *code, int64_t *id)
{
    (void)ctx;
    if (strcmp(code, "CUT") == 0 || strcmp(code, "ASM") == 0) {
        *id = code[0] == 'C' ? 1 : 2;
        return 0;
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
        fprintf(stderr, "fuzz_xlsx_import: %s\n", what);
        abort();
    }
}

static void no_report(void *ctx, const char *field, const char *message)
{
    (void)ctx, (void)field, (void)message;
    check(false, "a kept row breaks order_input_check");
}

#define NS "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" " \
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\""

static const char *const fixed[] = {
    "xl/_rels/workbook.xml.rels",
    "<Relationships><Relationship Id=\"rId1\" Type=\"x/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" Type=\"x/worksheet\" Target=\"/xl/worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId3\" Type=\"x/sharedStrings\" Target=\"sharedStrings.xml\"/>"
    "<Relationship Id=\"rId4\" Type=\"x/styles\" Target=\"styles.xml\"/></Relationships>",
    "xl/styles.xml",
    "<styleSheet " NS "><numFmts><numFmt numFmtId=\"164\" formatCode=\"yyyy-mm-dd\"/></numFmts>"
    "<cellXfs><xf numFmtId=\"0\"/><xf numFmtId=\"14\"/><xf numFmtId=\"164\"/></cellXfs></styleSheet>",
    "xl/sharedStrings.xml",
    "<sst " NS "><si><t>order_number</t></si><si><t>stock_code</t></si><si><t>description</t></si>"
    "<si><t>quantity_to_make</t></si><si><t>due_date</t></si><si><t>work_centre_code</t></si>"
    "<si><r><t>CU</t></r><r><t>T</t></r></si></sst>",
};

/* The sheet XML data[0..size) inside a fixed workbook; NULL when libzip fails. */
static char *wrap(const uint8_t *data, size_t size, bool date1904, size_t *len)
{
    zip_error_t ze;
    zip_stat_t st;
    char *out = NULL;
    char wb[512];

    snprintf(wb, sizeof(wb), "<workbook " NS ">%s<sheets><sheet name=\"First\" sheetId=\"1\" "
             "r:id=\"rId1\"/><sheet name=\"Later\" sheetId=\"2\" r:id=\"rId2\"/></sheets>"
             "</workbook>", date1904 ? "<workbookPr date1904=\"1\"/>" : "");
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    check(src != NULL, "zip_source_buffer_create");
    zip_source_keep(src);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    check(za != NULL, "zip_open_from_source");
    zip_file_add(za, "xl/workbook.xml", zip_source_buffer(za, wb, strlen(wb), 0), 0);
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i += 2)
        zip_file_add(za, fixed[i], zip_source_buffer(za, fixed[i + 1], strlen(fixed[i + 1]), 0), 0);
    zip_file_add(za, "xl/worksheets/sheet1.xml", zip_source_buffer(za, data, size, 0), 0);
    check(zip_close(za) == 0, "zip_close");
    if (zip_source_stat(src, &st) == 0 && zip_source_open(src) == 0) {
        out = malloc(st.size + 1);
        check(out != NULL, "malloc");
        check(zip_source_read(src, out, st.size) == (zip_int64_t)st.size, "zip_source_read");
        zip_source_close(src);
        *len = st.size;
    }
    zip_source_free(src);
    zip_error_fini(&ze);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csv_import_options opts = {
        .create_only = false, .max_rows = 200, .wc_lookup = wc_lookup,
        .order_exists = order_exists,
    };
    char msg[XLSX_MSG_MAX];
    const void *buf;
    char *owned = NULL;
    size_t len;
    uint8_t mode;

    if (size == 0)
        return 0;
    mode = data[0];
    if (mode & 1) {
        owned = wrap(data + 1, size - 1, mode & 2, &len);
        if (owned == NULL)
            return 0;
        buf = owned;
    } else {
        buf = data + 1;
        len = size - 1;
    }
    opts.create_only = (mode & 8) != 0;
    struct csv_import *ci = csv_import_new(&opts);
    check(ci != NULL, "csv_import_new");
    int rc = xlsx_import_read(ci, buf, len, (mode & 4) ? "Later" : NULL, msg, sizeof(msg));
    check(rc == 0 || rc == PB_ETOO_LARGE || rc == PB_EUNSUPPORTED_MEDIA
          || rc == PB_EIMPORT_FAILED || rc == PB_EINTERNAL, "unexpected error code");
    if (rc != 0) {
        check(msg[0] != '\0' && strlen(msg) < sizeof(msg), "a failure without a sentence");
    } else {
        size_t n, ne, nw;
        const struct csv_row *rows = csv_import_rows(ci, &n);
        const struct csv_issue *errs = csv_import_errors(ci, &ne);
        csv_import_warnings(ci, &nw);
        for (size_t i = 0; i < n; i++) {
            check(order_input_check(&rows[i].in, no_report, NULL) == 0, "kept row is invalid");
            check(rows[i].row >= 2 && rows[i].row <= 1048576, "row outside the sheet");
            check(i == 0 || rows[i].row > rows[i - 1].row, "rows not increasing");
        }
        if (!csv_import_missing_required(ci))
            check(csv_import_records(ci) == n + csv_import_skipped(ci), "records != rows + skipped");
        check(ne <= CSV_IMPORT_MAX_ISSUES && nw <= CSV_IMPORT_MAX_ISSUES, "too many issues listed");
        for (size_t i = 0; i < ne; i++)
            check(errs[i].row >= 1 && errs[i].row <= 1048576 && errs[i].message != NULL, "bad error");
    }
    csv_import_free(ci);
    free(owned);
    return 0;
}
