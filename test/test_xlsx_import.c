/*
 * Unit tests for importers/xlsx_import.c — SPEC §10 "Excel" (with every rule of §6).
 *
 * Two kinds of input: workbooks saved by two independent writers (test/data/NAME.lo.xlsx by
 * LibreOffice Calc, test/data/NAME.exceljs.xlsx by the npm exceljs package; test/data/README.md
 * says how they were made), compared with their CSV twins from $PB_SAMPLES; and small workbooks
 * built here with libzip from XML text, one feature or one hostile shape each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "importers/xlsx_export.h"
#include "importers/xlsx_import.h"
#include "core/errors.h"

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int wc_lookup(void *ctx, const char *code, int64_t *id)
{
    static const char *const codes[] = { "CUT", "ASM", "QC", "PACK", "SHIP", "WELD", "PAINT" };

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
    (void)ctx, (void)number;
    return false;
}

static struct csv_import *engine(size_t max_rows)
{
    struct csv_import_options opts = {
        .max_rows = max_rows, .wc_lookup = wc_lookup, .order_exists = order_exists,
    };
    struct csv_import *ci = csv_import_new(&opts);
    assert_non_null(ci);
    return ci;
}

/* Everything the engine reports, as text (to compare two readers). with_messages: include
 * the error texts (false: rows and columns of errors only). */
static char *dump(const struct csv_import *ci, bool with_messages, bool with_rows)
{
    char *buf = NULL;
    size_t sz = 0, n;
    FILE *f = open_memstream(&buf, &sz);

    assert_non_null(f);
    fprintf(f, "records=%zu skipped=%zu missing=%d errors=%zu warnings=%zu\n",
            csv_import_records(ci), csv_import_skipped(ci), csv_import_missing_required(ci),
            csv_import_errors_total(ci), csv_import_warnings_total(ci));
    const struct csv_row *r = csv_import_rows(ci, &n);
    for (size_t i = 0; i < n; i++) {
        const struct order_input *in = &r[i].in;
        fprintf(f, "R %lld|%s|%s|%s|%s|%lld|%lld|%d|%d|%s|%s|%lld\n",
                with_rows ? (long long)r[i].row : (long long)i,
                in->order_number, in->stock_code, in->description,
                in->current_operation ? in->current_operation : "(null)",
                (long long)in->quantity_to_make, (long long)in->quantity_completed, in->status,
                in->priority, in->due_date ? in->due_date : "(null)",
                in->start_date ? in->start_date : "(null)", (long long)in->work_centre_id);
    }
    const struct csv_issue *e = csv_import_errors(ci, &n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "E %lld|%s|%s\n", (long long)e[i].row, e[i].column ? e[i].column : "(null)",
                with_messages ? e[i].message : "");
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
        fail_msg("cannot read %s", path);
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

static char *read_in(const char *env, const char *dflt, const char *name, size_t *len)
{
    char path[4096];
    const char *d = getenv(env);
    snprintf(path, sizeof(path), "%s/%s", d && *d ? d : dflt, name);
    return read_file(path, len);
}

/* The engine's result for a CSV sample. */
static struct csv_import *csv_twin(const char *name)
{
    size_t len;
    char *text = read_in("PB_SAMPLES", "../shared/samples", name, &len);
    struct csv_import *ci = engine(0);
    assert_int_equal(csv_import_feed(ci, text, len), 0);
    assert_int_equal(csv_import_finish(ci), 0);
    free(text);
    return ci;
}

/* Read a workbook of test/data; expect rc; msg gets the sentence. */
static struct csv_import *xlsx_file(const char *name, const char *sheet, int rc, char *msg)
{
    size_t len;
    char *buf = read_in("PB_TEST_DATA", "test/data", name, &len);
    struct csv_import *ci = engine(0);
    int got = xlsx_import_read(ci, buf, len, sheet, msg, XLSX_MSG_MAX);
    if (got != rc)
        fail_msg("%s: rc %d, expected %d (%s)", name, got, rc, msg);
    free(buf);
    return ci;
}

/* Build a workbook in memory from (name, text) pairs, NULL-terminated. */
static char *make_zip(size_t *len, const char *const *parts)
{
    zip_error_t ze;
    zip_source_t *src;
    zip_t *za;
    zip_stat_t st;

    zip_error_init(&ze);
    src = zip_source_buffer_create(NULL, 0, 0, &ze);
    assert_non_null(src);
    zip_source_keep(src);
    za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    for (size_t i = 0; parts[i] != NULL; i += 2) {
        zip_source_t *s = zip_source_buffer(za, parts[i + 1], strlen(parts[i + 1]), 0);
        assert_non_null(s);
        assert_true(zip_file_add(za, parts[i], s, ZIP_FL_ENC_UTF_8) >= 0);
    }
    assert_int_equal(zip_close(za), 0);
    assert_int_equal(zip_source_stat(src, &st), 0);
    char *out = malloc(st.size + 1);
    assert_non_null(out);
    assert_int_equal(zip_source_open(src), 0);
    assert_int_equal(zip_source_read(src, out, st.size), (zip_int64_t)st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    *len = st.size;
    return out;
}

#define WB_NS "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" " \
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\""
#define RELS_NS "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\""
#define REL_T "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

static const char WORKBOOK[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><workbook " WB_NS "><sheets>"
    "<sheet name=\"Orders\" sheetId=\"1\" r:id=\"rId1\"/>"
    "<sheet name=\"Later\" sheetId=\"2\" r:id=\"rId2\"/></sheets></workbook>";
static const char WORKBOOK_1904[] =
    "<workbook " WB_NS "><workbookPr date1904=\"1\"/><sheets>"
    "<sheet name=\"Orders\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
static const char RELS[] =
    "<Relationships " RELS_NS ">"
    "<Relationship Id=\"rId1\" Type=\"" REL_T "worksheet\" Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" Type=\"" REL_T "worksheet\" Target=\"/xl/worksheets/s2.xml\"/>"
    "<Relationship Id=\"rId3\" Type=\"" REL_T "sharedStrings\" Target=\"sharedStrings.xml\"/>"
    "<Relationship Id=\"rId4\" Type=\"" REL_T "styles\" Target=\"styles.xml\"/>"
    "</Relationships>";
/* style 0 general, 1 built-in date (14), 2 custom date, 3 custom number "0.00" */
static const char STYLES[] =
    "<styleSheet " WB_NS "><numFmts count=\"2\">"
    "<numFmt numFmtId=\"164\" formatCode=\"yyyy\\-mm\\-dd\"/>"
    "<numFmt numFmtId=\"165\" formatCode=\"&quot;day &quot;0.00\"/></numFmts>"
    "<cellStyleXfs count=\"1\"><xf numFmtId=\"14\"/></cellStyleXfs>"
    "<cellXfs count=\"4\"><xf numFmtId=\"0\"/><xf numFmtId=\"14\"/><xf numFmtId=\"164\"/>"
    "<xf numFmtId=\"165\"/></cellXfs></styleSheet>";
static const char STRINGS[] =
    "<sst " WB_NS "><si><t>order_number</t></si><si><t>stock_code</t></si>"
    "<si><t>description</t></si><si><t>quantity_to_make</t></si><si><t>due_date</t></si>"
    "<si><r><t>Rich </t></r><r><t>text</t></r><rPh><t>PHONETIC</t></rPh></si>"
    "<si><t>work_centre_code</t></si></sst>";
/* The header of the built sheets: A order_number, B stock_code, C description,
 * D quantity_to_make, E due_date, G work_centre_code (F skipped). */
#define HEADER_ROW "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>" \
    "<c r=\"C1\" t=\"s\"><v>2</v></c><c r=\"D1\" t=\"s\"><v>3</v></c>" \
    "<c r=\"E1\" t=\"s\"><v>4</v></c><c r=\"G1\" t=\"s\"><v>6</v></c></row>"
#define SHEET(rows) "<worksheet " WB_NS "><sheetData>" HEADER_ROW rows "</sheetData></worksheet>"
#define ISTR(ref, text) "<c r=\"" ref "\" t=\"inlineStr\"><is><t>" text "</t></is></c>"

/* Read a built workbook whose sheet1 is `sheet` (and s2 `sheet2`). */
static struct csv_import *built(const char *workbook, const char *sheet, const char *sheet2,
                                const char *want, int rc, char *msg)
{
    const char *parts[] = {
        "[Content_Types].xml", "<Types/>", "xl/workbook.xml", workbook,
        "xl/_rels/workbook.xml.rels", RELS, "xl/styles.xml", STYLES,
        "xl/sharedStrings.xml", STRINGS, "xl/worksheets/sheet1.xml", sheet,
        "xl/worksheets/s2.xml", sheet2 != NULL ? sheet2 : SHEET(""), NULL,
    };
    size_t len;
    char *buf = make_zip(&len, parts);
    struct csv_import *ci = engine(0);
    int got = xlsx_import_read(ci, buf, len, want, msg, XLSX_MSG_MAX);
    if (got != rc)
        fail_msg("rc %d, expected %d (%s)", got, rc, msg);
    free(buf);
    return ci;
}

static const struct csv_row *row_at(const struct csv_import *ci, size_t i)
{
    size_t n;
    const struct csv_row *r = csv_import_rows(ci, &n);
    if (i >= n)
        fail_msg("only %zu rows", n);
    return &r[i];
}

static bool has_error(const struct csv_import *ci, int64_t row, const char *column)
{
    size_t n;
    const struct csv_issue *e = csv_import_errors(ci, &n);
    for (size_t i = 0; i < n; i++)
        if (e[i].row == row && e[i].column != NULL && strcmp(e[i].column, column) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Two writers, CSV twins                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* with_rows false: a CSV record with a line break inside quotes takes two lines, a sheet row
 * one, so the rows after it are numbered differently (SPEC §10: `row` is the sheet's). A CRLF
 * inside a CSV field is an LF in a cell (XML normalises line ends): CRs are not compared. */
static void drop_cr(char *s)
{
    char *o = s;
    for (; *s; s++)
        if (*s != '\r')
            *o++ = *s;
    *o = '\0';
}

static void assert_same_as_csv(const char *xlsx, const char *csv, bool with_rows)
{
    char msg[XLSX_MSG_MAX];
    struct csv_import *a = csv_twin(csv);
    struct csv_import *b = xlsx_file(xlsx, NULL, 0, msg);
    char *da = dump(a, true, with_rows), *db = dump(b, true, with_rows);
    drop_cr(da);
    drop_cr(db);
    if (strcmp(da, db) != 0)
        fail_msg("%s differs from %s:\n--- csv\n%s--- xlsx\n%s", xlsx, csv, da, db);
    free(da);
    free(db);
    csv_import_free(a);
    csv_import_free(b);
}

static void test_libreoffice_demo_reads_as_its_csv_twin(void **state)
{
    (void)state;
    assert_same_as_csv("orders-demo.lo.xlsx", "orders-demo.csv", true);
}

static void test_libreoffice_erp_export_reads_as_its_csv_twin(void **state)
{
    (void)state;
    assert_same_as_csv("orders-erp-export.lo.xlsx", "orders-erp-export.csv", false);
}

static void test_exceljs_demo_reads_as_its_csv_twin(void **state)
{
    (void)state;
    assert_same_as_csv("orders-demo.exceljs.xlsx", "orders-demo.csv", true);
}

static void test_exceljs_erp_export_reads_as_its_csv_twin(void **state)
{
    (void)state;
    assert_same_as_csv("orders-erp-export.exceljs.xlsx", "orders-erp-export.csv", false);
}

/* orders-invalid.csv ends in an unterminated quote, which no spreadsheet can hold: the CSV
 * reports "cannot parse" (column null) on row 9; each writer made its own row 9 of that text
 * (LibreOffice a valid order, exceljs's twin one with the rest of the file in a cell). Rows
 * 1-8: the same errors, same columns, same sentences; the same records. */
static void assert_invalid_twin(const char *xlsx)
{
    char msg[XLSX_MSG_MAX];
    struct csv_import *a = csv_twin("orders-invalid.csv");
    struct csv_import *b = xlsx_file(xlsx, NULL, 0, msg);
    size_t na, nb;
    const struct csv_issue *ea = csv_import_errors(a, &na), *eb = csv_import_errors(b, &nb);
    size_t ia = 0, ib = 0;

    assert_int_equal(csv_import_records(a), csv_import_records(b));
    for (; ia < na && ea[ia].row < 9; ia++, ib++) {
        assert_true(ib < nb);
        assert_int_equal(ea[ia].row, eb[ib].row);
        assert_string_equal(ea[ia].column, eb[ib].column);
        assert_string_equal(ea[ia].message, eb[ib].message);
    }
    assert_int_equal(ea[ia].row, 9);
    for (; ib < nb; ib++)
        assert_int_equal(eb[ib].row, 9);
    assert_int_equal(row_at(a, 0)->row, 2);
    assert_int_equal(row_at(b, 0)->row, 2);
    assert_string_equal(row_at(a, 0)->in.order_number, row_at(b, 0)->in.order_number);
    assert_string_equal(row_at(b, 0)->in.due_date, "2026-12-01");
    csv_import_free(a);
    csv_import_free(b);
}

static void test_libreoffice_invalid_has_errors_on_the_csv_rows(void **state)
{
    (void)state;
    assert_invalid_twin("orders-invalid.lo.xlsx");
}

static void test_exceljs_invalid_has_errors_on_the_csv_rows(void **state)
{
    (void)state;
    assert_invalid_twin("orders-invalid.exceljs.xlsx");
}

/* The hand-made LibreOffice workbook (test/data/workbook.fods): ERP header names, a formula
 * quantity, dates in two display formats, a formula date, a text formula, a blank row 4, a date
 * cell LibreOffice could not read (serial 0), a second sheet. */
static void test_libreoffice_hand_made_workbook(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    struct csv_import *ci = xlsx_file("workbook.lo.xlsx", NULL, 0, msg);
    size_t n;

    assert_int_equal(csv_import_records(ci), 3);
    csv_import_rows(ci, &n);
    assert_int_equal(n, 2);
    const struct order_input *in = &row_at(ci, 0)->in;
    assert_string_equal(in->order_number, "LO-1");
    assert_int_equal(in->quantity_to_make, 42);
    assert_string_equal(in->due_date, "2026-12-01");
    assert_string_equal(in->start_date, "2026-11-20");
    assert_int_equal(in->work_centre_id, 1);
    in = &row_at(ci, 1)->in;
    assert_int_equal(row_at(ci, 1)->row, 3);
    assert_string_equal(in->order_number, "LO-2");
    assert_string_equal(in->due_date, "2027-01-01");
    assert_true(has_error(ci, 5, "due_date"));
    csv_import_free(ci);

    ci = xlsx_file("workbook.lo.xlsx", "Later", 0, msg);
    assert_int_equal(csv_import_records(ci), 1);
    assert_string_equal(row_at(ci, 0)->in.order_number, "LO-L1");
    csv_import_free(ci);
}

/* exceljs: the 1904 date system, formulas, a skipped column, a second sheet; and a workbook
 * of strings without a shared strings part. */
static void test_exceljs_features_and_inline_workbooks(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    struct csv_import *ci = xlsx_file("features.exceljs.xlsx", NULL, 0, msg);

    assert_int_equal(csv_import_records(ci), 3);
    assert_int_equal(csv_import_errors_total(ci), 0);
    assert_int_equal(row_at(ci, 0)->in.quantity_to_make, 120);
    assert_string_equal(row_at(ci, 0)->in.due_date, "2026-12-01");
    assert_string_equal(row_at(ci, 1)->in.stock_code, "S-2");
    assert_string_equal(row_at(ci, 1)->in.due_date, "2027-02-28");
    assert_null(row_at(ci, 2)->in.due_date);
    csv_import_free(ci);
    ci = xlsx_file("features.exceljs.xlsx", "Later", 0, msg);
    assert_int_equal(csv_import_records(ci), 2);
    assert_string_equal(row_at(ci, 1)->in.order_number, "XL-L2");
    csv_import_free(ci);
    ci = xlsx_file("inline.exceljs.xlsx", NULL, 0, msg);
    assert_int_equal(csv_import_records(ci), 2);
    assert_int_equal(csv_import_errors_total(ci), 0);
    assert_string_equal(row_at(ci, 0)->in.description, "Inline string");
    assert_string_equal(row_at(ci, 0)->in.due_date, "2026-12-24");
    csv_import_free(ci);
}

/* ------------------------------------------------------------------------------------------ */
/* Cells                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void test_cell_kinds_read_as_text(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    /* row 2: inline strings, a formula with a cached number, a built-in date style, a skipped
     * column F, G a shared string used as work centre?  no: an inline string */
    struct csv_import *ci = built(WORKBOOK, SHEET(
        "<row r=\"2\">" ISTR("A2", "MO-1") ISTR("B2", "S-1")
        "<c r=\"C2\" t=\"s\"><v>5</v></c>"
        "<c r=\"D2\"><f>60*2</f><v>120</v></c><c r=\"E2\" s=\"1\"><v>46357</v></c>"
        ISTR("G2", "CUT") "</row>"
        "<row r=\"3\">" ISTR("A3", "MO-2") "<c r=\"B3\" t=\"str\"><f>\"S-\"&amp;2</f><v>S-2</v></c>"
        "<c r=\"C3\" t=\"b\"><v>1</v></c><c r=\"D3\"><v>1E+3</v></c>"
        "<c r=\"E3\" s=\"2\"><v>46357.75</v></c></row>"
        "<row r=\"4\">" ISTR("A4", "MO-3") ISTR("B4", "S-3") ISTR("C4", "Dated as text")
        "<c r=\"D4\"><v>7.0</v></c><c r=\"E4\" t=\"d\"><v>2026-12-24T00:00:00</v></c></row>"
        "<row r=\"5\">" ISTR("A5", "MO-4") ISTR("B5", "S-4") ISTR("C5", "Number style")
        "<c r=\"D5\" s=\"3\"><v>5</v></c><c r=\"E5\" t=\"str\"><f>TEXT(1,\"x\")</f><v>2026-01-31</v></c></row>"),
        NULL, NULL, 0, msg);

    assert_int_equal(csv_import_records(ci), 4);
    assert_int_equal(csv_import_errors_total(ci), 0);
    const struct order_input *in = &row_at(ci, 0)->in;
    assert_int_equal(row_at(ci, 0)->row, 2);
    assert_string_equal(in->order_number, "MO-1");
    assert_string_equal(in->description, "Rich text");         /* runs joined, no phonetic */
    assert_int_equal(in->quantity_to_make, 120);                /* the formula's cached value */
    assert_string_equal(in->due_date, "2026-12-01");            /* serial 46357, 1900 system */
    assert_int_equal(in->work_centre_id, 1);
    in = &row_at(ci, 1)->in;
    assert_string_equal(in->stock_code, "S-2");                 /* cached formula string */
    assert_string_equal(in->description, "TRUE");               /* boolean */
    assert_int_equal(in->quantity_to_make, 1000);               /* 1E+3 */
    assert_string_equal(in->due_date, "2026-12-01");            /* time of day dropped */
    in = &row_at(ci, 2)->in;
    assert_int_equal(in->quantity_to_make, 7);                  /* 7.0 is integral */
    assert_string_equal(in->due_date, "2026-12-24");            /* t="d" ISO date */
    in = &row_at(ci, 3)->in;
    assert_int_equal(in->quantity_to_make, 5);                  /* "0.00": no date */
    assert_string_equal(in->due_date, "2026-01-31");
    csv_import_free(ci);
}

static void test_1904_date_system(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    /* 46357 in the 1900 system is 2026-12-01; the same day is 44895 in the 1904 system */
    struct csv_import *ci = built(WORKBOOK_1904, SHEET(
        "<row r=\"2\">" ISTR("A2", "MO-1") ISTR("B2", "S") ISTR("C2", "D")
        "<c r=\"D2\"><v>1</v></c><c r=\"E2\" s=\"2\"><v>44895</v></c></row>"
        "<row r=\"3\">" ISTR("A3", "MO-2") ISTR("B3", "S") ISTR("C3", "D")
        "<c r=\"D3\"><v>1</v></c><c r=\"E3\" s=\"2\"><v>0</v></c></row>"),
        NULL, NULL, 0, msg);

    assert_string_equal(row_at(ci, 0)->in.due_date, "2026-12-01");
    assert_string_equal(row_at(ci, 1)->in.due_date, "1904-01-01");
    csv_import_free(ci);
}

static void test_1900_leap_year_bug_serials(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    /* 59 = 1900-02-28, 60 = Excel's 1900-02-29 (no such day: a row error), 61 = 1900-03-01,
     * 1 = 1900-01-01 */
    struct csv_import *ci = built(WORKBOOK, SHEET(
        "<row r=\"2\">" ISTR("A2", "MO-1") ISTR("B2", "S") ISTR("C2", "D")
        "<c r=\"D2\"><v>1</v></c><c r=\"E2\" s=\"1\"><v>59</v></c></row>"
        "<row r=\"3\">" ISTR("A3", "MO-2") ISTR("B3", "S") ISTR("C3", "D")
        "<c r=\"D3\"><v>1</v></c><c r=\"E3\" s=\"1\"><v>60</v></c></row>"
        "<row r=\"4\">" ISTR("A4", "MO-3") ISTR("B4", "S") ISTR("C4", "D")
        "<c r=\"D4\"><v>1</v></c><c r=\"E4\" s=\"1\"><v>61</v></c></row>"
        "<row r=\"5\">" ISTR("A5", "MO-4") ISTR("B5", "S") ISTR("C5", "D")
        "<c r=\"D5\"><v>1</v></c><c r=\"E5\" s=\"1\"><v>1</v></c></row>"),
        NULL, NULL, 0, msg);

    assert_int_equal(csv_import_records(ci), 4);
    assert_string_equal(row_at(ci, 0)->in.due_date, "1900-02-28");
    assert_true(has_error(ci, 3, "due_date"));
    assert_string_equal(row_at(ci, 1)->in.due_date, "1900-03-01");
    assert_string_equal(row_at(ci, 2)->in.due_date, "1900-01-01");
    csv_import_free(ci);
}

static void test_errors_carry_the_sheets_row_numbers_with_gaps(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    /* rows 2 and 3 absent (blank), a row of empty cells is blank too */
    struct csv_import *ci = built(WORKBOOK, SHEET(
        "<row r=\"4\"><c r=\"A4\" t=\"s\"/><c r=\"B4\"/></row>"
        "<row r=\"7\">" ISTR("A7", "MO-1") ISTR("C7", "No stock code")
        "<c r=\"D7\"><v>3</v></c></row>"),
        NULL, NULL, 0, msg);

    assert_int_equal(csv_import_records(ci), 1);
    assert_true(has_error(ci, 7, "stock_code"));
    csv_import_free(ci);
}

static void test_rows_out_of_order_are_read_in_row_order(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    const char *sheet = "<worksheet " WB_NS "><sheetData>"
        "<row r=\"3\">" ISTR("A3", "MO-3") ISTR("B3", "S") ISTR("C3", "D")
        "<c r=\"D3\"><v>3</v></c></row>"
        HEADER_ROW
        "<row r=\"2\">" ISTR("A2", "MO-2") ISTR("B2", "S") ISTR("C2", "D")
        "<c r=\"D2\"><v>2</v></c></row>"
        "<row r=\"4\">" ISTR("A4", "MO-2") ISTR("B4", "S") ISTR("C4", "D")
        "<c r=\"D4\"><v>4</v></c></row>"
        "</sheetData></worksheet>";
    struct csv_import *ci = built(WORKBOOK, sheet, NULL, NULL, 0, msg);

    assert_int_equal(csv_import_records(ci), 3);
    assert_int_equal(row_at(ci, 0)->row, 2);
    assert_string_equal(row_at(ci, 0)->in.order_number, "MO-2");
    assert_int_equal(row_at(ci, 1)->row, 3);
    assert_true(has_error(ci, 4, "order_number"));              /* repeats row 2's */
    csv_import_free(ci);
}

static void test_a_repeated_row_number_is_a_broken_sheet(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    struct csv_import *ci = built(WORKBOOK, SHEET(
        "<row r=\"2\">" ISTR("A2", "MO-1") "</row><row r=\"2\">" ISTR("A2", "MO-2") "</row>"),
        NULL, NULL, PB_EIMPORT_FAILED, msg);
    assert_non_null(strstr(msg, "row 2 twice"));
    csv_import_free(ci);
}

static void test_sheet_parameter_picks_a_sheet_by_name(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    const char *later = SHEET("<row r=\"9\">" ISTR("A9", "MO-LATER") ISTR("B9", "S")
                              ISTR("C9", "D") "<c r=\"D9\"><v>1</v></c></row>");
    struct csv_import *ci = built(WORKBOOK, SHEET(""), later, "Later", 0, msg);
    assert_int_equal(csv_import_records(ci), 1);
    assert_string_equal(row_at(ci, 0)->in.order_number, "MO-LATER");
    assert_int_equal(row_at(ci, 0)->row, 9);
    csv_import_free(ci);

    ci = built(WORKBOOK, SHEET(""), later, NULL, 0, msg);      /* default: the first */
    assert_int_equal(csv_import_records(ci), 0);
    csv_import_free(ci);

    ci = built(WORKBOOK, SHEET(""), later, "Nope", PB_EIMPORT_FAILED, msg);
    assert_non_null(strstr(msg, "no sheet named \"Nope\""));
    csv_import_free(ci);
}

static void test_missing_required_column_is_reported_on_the_header_row(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    const char *sheet = "<worksheet " WB_NS "><sheetData><row r=\"3\">" ISTR("A3", "Job")
        "</row></sheetData></worksheet>";
    struct csv_import *ci = built(WORKBOOK, sheet, NULL, NULL, 0, msg);
    assert_true(csv_import_missing_required(ci));
    assert_true(has_error(ci, 3, "stock_code"));
    csv_import_free(ci);
}

static void test_a_header_wider_than_256_columns_is_refused(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    const char *sheet = "<worksheet " WB_NS "><sheetData><row r=\"1\">"
        "<c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"XFD1\" t=\"inlineStr\"><is><t>far</t></is></c>"
        "</row></sheetData></worksheet>";
    struct csv_import *ci = built(WORKBOOK, sheet, NULL, NULL, 0, msg);
    size_t n;
    const struct csv_issue *e = csv_import_errors(ci, &n);
    assert_true(csv_import_missing_required(ci));
    assert_int_equal(n, 1);
    assert_non_null(strstr(e[0].message, "16384 columns"));
    csv_import_free(ci);
}

static void test_shared_string_out_of_range_is_a_broken_workbook(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    struct csv_import *ci = built(WORKBOOK, SHEET("<row r=\"2\"><c r=\"A2\" t=\"s\"><v>99</v>"
                                                  "</c></row>"), NULL, NULL,
                                  PB_EIMPORT_FAILED, msg);
    assert_non_null(strstr(msg, "shared string 99"));
    csv_import_free(ci);
}

static void test_max_rows_is_413(void **state)
{
    char msg[XLSX_MSG_MAX];
    const char *parts[] = {
        "xl/workbook.xml", WORKBOOK, "xl/_rels/workbook.xml.rels", RELS,
        "xl/sharedStrings.xml", STRINGS,
        "xl/worksheets/sheet1.xml", SHEET("<row r=\"2\">" ISTR("A2", "A") "</row>"
                                          "<row r=\"3\">" ISTR("A3", "B") "</row>"),
        NULL,
    };
    size_t len;
    char *buf = make_zip(&len, parts);
    struct csv_import *ci = engine(1);
    (void)state;
    assert_int_equal(xlsx_import_read(ci, buf, len, NULL, msg, sizeof(msg)), PB_ETOO_LARGE);
    csv_import_free(ci);
    free(buf);
}

/* ------------------------------------------------------------------------------------------ */
/* Files that are no workbook, broken ones, zip bombs                                         */
/* ------------------------------------------------------------------------------------------ */

static int read_buf(const void *buf, size_t len, char *msg)
{
    struct csv_import *ci = engine(0);
    int rc = xlsx_import_read(ci, buf, len, NULL, msg, XLSX_MSG_MAX);
    csv_import_free(ci);
    return rc;
}

static void test_xls_and_encrypted_ole_files_are_415(void **state)
{
    char msg[XLSX_MSG_MAX];
    unsigned char ole[2048] = { 0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1 };
    static const char enc[] = "E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e";
    (void)state;

    assert_int_equal(read_buf(ole, sizeof(ole), msg), PB_EUNSUPPORTED_MEDIA);
    assert_non_null(strstr(msg, ".xls workbook"));
    memcpy(ole + 1024, enc, sizeof(enc));
    assert_int_equal(read_buf(ole, sizeof(ole), msg), PB_EUNSUPPORTED_MEDIA);
    assert_non_null(strstr(msg, "encrypted"));
    assert_int_equal(read_buf("order_number,stock_code\n", 24, msg), PB_EUNSUPPORTED_MEDIA);
    assert_non_null(strstr(msg, "not a zip"));
    assert_int_equal(read_buf("", 0, msg), PB_EUNSUPPORTED_MEDIA);
}

static void test_ods_and_other_zips_are_415(void **state)
{
    char msg[XLSX_MSG_MAX];
    const char *ods[] = { "mimetype", "application/vnd.oasis.opendocument.spreadsheet",
                          "content.xml", "<office:document-content/>", NULL };
    const char *other[] = { "readme.txt", "hello", NULL };
    size_t len;
    char *buf;
    (void)state;

    buf = make_zip(&len, ods);
    assert_int_equal(read_buf(buf, len, msg), PB_EUNSUPPORTED_MEDIA);
    assert_non_null(strstr(msg, ".ods"));
    free(buf);
    buf = make_zip(&len, other);
    assert_int_equal(read_buf(buf, len, msg), PB_EUNSUPPORTED_MEDIA);
    assert_non_null(strstr(msg, "no xl/workbook.xml"));
    free(buf);
}

static void test_truncated_workbook_is_422_at_every_length(void **state)
{
    char msg[XLSX_MSG_MAX];
    size_t len;
    char *buf = read_in("PB_TEST_DATA", "test/data", "orders-demo.lo.xlsx", &len);
    (void)state;

    for (size_t cut = 4; cut < len; cut += 97) {
        int rc = read_buf(buf, cut, msg);
        if (rc != PB_EIMPORT_FAILED)
            fail_msg("cut at %zu of %zu: rc %d (%s)", cut, len, rc, msg);
    }
    free(buf);
}

static void test_malformed_xml_and_doctype_are_422(void **state)
{
    char msg[XLSX_MSG_MAX];
    (void)state;
    struct csv_import *ci = built(WORKBOOK, "<worksheet><sheetData><row>", NULL, NULL,
                                  PB_EIMPORT_FAILED, msg);
    assert_non_null(strstr(msg, "not well-formed XML"));
    csv_import_free(ci);
    ci = built(WORKBOOK, "<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><worksheet>&lol;</worksheet>",
               NULL, NULL, PB_EIMPORT_FAILED, msg);
    assert_non_null(strstr(msg, "DOCTYPE"));
    csv_import_free(ci);
}

static void test_zip_bomb_by_ratio_is_413(void **state)
{
    char msg[XLSX_MSG_MAX];
    size_t big = 8u << 20, len;
    char *sheet = malloc(big + 1);
    (void)state;
    assert_non_null(sheet);
    memset(sheet, ' ', big);                    /* whitespace: well-formed as it inflates */
    memcpy(sheet, "<worksheet>", 11);
    sheet[big] = '\0';
    const char *parts[] = { "xl/workbook.xml", WORKBOOK, "xl/_rels/workbook.xml.rels", RELS,
                            "xl/worksheets/sheet1.xml", sheet, NULL };
    char *buf = make_zip(&len, parts);
    assert_true(len < big / 500);               /* deflate: ~1000:1 */
    assert_int_equal(read_buf(buf, len, msg), PB_ETOO_LARGE);
    assert_non_null(strstr(msg, "zip bomb"));
    free(buf);
    free(sheet);
}

static void test_too_many_entries_is_413(void **state)
{
    char msg[XLSX_MSG_MAX];
    size_t n = XLSX_MAX_ENTRIES + 1, len;
    const char **parts = calloc(2 * n + 1, sizeof(*parts));
    char (*names)[24] = calloc(n, sizeof(*names));
    (void)state;
    assert_non_null(parts);
    assert_non_null(names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "e/%zu", i);
        parts[2 * i] = names[i];
        parts[2 * i + 1] = "";
    }
    char *buf = make_zip(&len, parts);
    assert_int_equal(read_buf(buf, len, msg), PB_ETOO_LARGE);
    assert_non_null(strstr(msg, "entries"));
    free(buf);
    free(parts);
    free(names);
}

/* ------------------------------------------------------------------------------------------ */
/* The export reads back as the same rows                                                     */
/* ------------------------------------------------------------------------------------------ */

static void test_export_round_trips_through_the_reader(void **state)
{
    char msg[XLSX_MSG_MAX];
    const struct xlsx_export_row rows[] = {
        { "MO-1", "S-1", "Bracket, \"left\"\nhand \xc3\xa9", 120, 0, "high", "in_progress",
          "2026-12-01", "1900-03-01", "CUT", "Laser" },
        { "=1+1", "S-2", "Leap day", 5, 5, "normal", "complete", "2028-02-29", NULL, NULL, NULL },
        { "MO-3", "S-3", "Last", 1000000000, 0, "urgent", "not_started", NULL, "9999-12-31",
          "ASM", NULL },
    };
    char *buf = NULL;
    size_t len = 0;
    (void)state;

    assert_int_equal(xlsx_export_orders(rows, 3, NULL, &buf, &len), 0);
    assert_true(len > 100 && buf[0] == 'P' && buf[1] == 'K');
    struct csv_import *ci = engine(0);
    assert_int_equal(xlsx_import_read(ci, buf, len, "Orders", msg, sizeof(msg)), 0);
    assert_int_equal(csv_import_records(ci), 3);
    assert_int_equal(csv_import_errors_total(ci), 0);
    assert_int_equal(csv_import_warnings_total(ci), 0);
    for (size_t i = 0; i < 3; i++) {
        const struct csv_row *r = row_at(ci, i);
        assert_int_equal(r->row, (int64_t)i + 2);
        assert_string_equal(r->in.order_number, rows[i].order_number);
        assert_string_equal(r->in.stock_code, rows[i].stock_code);
        assert_string_equal(r->in.description, rows[i].description);
        assert_int_equal(r->in.quantity_to_make, rows[i].quantity_to_make);
        assert_int_equal(r->in.quantity_completed, rows[i].quantity_completed);
        if (rows[i].due_date != NULL)
            assert_string_equal(r->in.due_date, rows[i].due_date);
        else
            assert_null(r->in.due_date);
        if (rows[i].start_date != NULL)
            assert_string_equal(r->in.start_date, rows[i].start_date);
        else
            assert_null(r->in.start_date);
        if (rows[i].current_operation != NULL)
            assert_string_equal(r->in.current_operation, rows[i].current_operation);
    }
    assert_int_equal(row_at(ci, 0)->in.work_centre_id, 1);
    assert_int_equal(row_at(ci, 0)->in.status, ORDER_IN_PROGRESS);
    csv_import_free(ci);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libreoffice_demo_reads_as_its_csv_twin),
        cmocka_unit_test(test_libreoffice_erp_export_reads_as_its_csv_twin),
        cmocka_unit_test(test_exceljs_demo_reads_as_its_csv_twin),
        cmocka_unit_test(test_exceljs_erp_export_reads_as_its_csv_twin),
        cmocka_unit_test(test_libreoffice_invalid_has_errors_on_the_csv_rows),
        cmocka_unit_test(test_exceljs_invalid_has_errors_on_the_csv_rows),
        cmocka_unit_test(test_libreoffice_hand_made_workbook),
        cmocka_unit_test(test_exceljs_features_and_inline_workbooks),
        cmocka_unit_test(test_cell_kinds_read_as_text),
        cmocka_unit_test(test_1904_date_system),
        cmocka_unit_test(test_1900_leap_year_bug_serials),
        cmocka_unit_test(test_errors_carry_the_sheets_row_numbers_with_gaps),
        cmocka_unit_test(test_rows_out_of_order_are_read_in_row_order),
        cmocka_unit_test(test_a_repeated_row_number_is_a_broken_sheet),
        cmocka_unit_test(test_sheet_parameter_picks_a_sheet_by_name),
        cmocka_unit_test(test_missing_required_column_is_reported_on_the_header_row),
        cmocka_unit_test(test_a_header_wider_than_256_columns_is_refused),
        cmocka_unit_test(test_shared_string_out_of_range_is_a_broken_workbook),
        cmocka_unit_test(test_max_rows_is_413),
        cmocka_unit_test(test_xls_and_encrypted_ole_files_are_415),
        cmocka_unit_test(test_ods_and_other_zips_are_415),
        cmocka_unit_test(test_truncated_workbook_is_422_at_every_length),
        cmocka_unit_test(test_malformed_xml_and_doctype_are_422),
        cmocka_unit_test(test_zip_bomb_by_ratio_is_413),
        cmocka_unit_test(test_too_many_entries_is_413),
        cmocka_unit_test(test_export_round_trips_through_the_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
