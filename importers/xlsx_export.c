/*
 * importers/xlsx_export — the orders as an .xlsx workbook (contract in xlsx_export.h).
 *
 * Dates: a YYYY-MM-DD text becomes lxw_datetime {y, m, d} written with the number format
 * "yyyy-mm-dd"; libxlsxwriter turns it into the 1900-system serial (its own leap-year
 * handling). A date that is not of that shape (none is: the store checks them) is written as
 * text. constant_memory mode: rows go to the temporary file as they are written, so memory
 * does not grow with the orders.
 */
#include "importers/xlsx_export.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "core/errors.h"

static const struct { const char *name; double width; } columns[] = {
    { "order_number", 16 }, { "stock_code", 14 }, { "description", 40 },
    { "quantity_to_make", 17 }, { "quantity_completed", 19 }, { "priority", 10 },
    { "status", 12 }, { "due_date", 12 }, { "start_date", 12 }, { "work_centre_code", 18 },
    { "current_operation", 22 },
};

/* "YYYY-MM-DD" -> dt; false when s is not of that shape. */
static bool parse_day(const char *s, lxw_datetime *dt)
{
    for (int i = 0; i < 10; i++)
        if ((i == 4 || i == 7) ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return false;
    if (s[10] != '\0')
        return false;
    *dt = (lxw_datetime){ .year = atoi(s), .month = atoi(s + 5), .day = atoi(s + 8) };
    return true;
}

static lxw_error put_text(lxw_worksheet *ws, lxw_row_t row, lxw_col_t col, const char *s)
{
    return s != NULL && *s != '\0' ? worksheet_write_string(ws, row, col, s, NULL) : LXW_NO_ERROR;
}

static lxw_error put_date(lxw_worksheet *ws, lxw_row_t row, lxw_col_t col, const char *s,
                          lxw_format *fmt)
{
    lxw_datetime dt;

    if (s == NULL || *s == '\0')
        return LXW_NO_ERROR;
    if (!parse_day(s, &dt))
        return worksheet_write_string(ws, row, col, s, NULL);
    return worksheet_write_datetime(ws, row, col, &dt, fmt);
}

/* The whole file at path into a malloc'd buffer. */
static int slurp(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long sz;

    if (f == NULL)
        return PB_EINTERNAL;
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return PB_EINTERNAL;
    }
    *out = malloc((size_t)sz + 1);
    if (*out == NULL || fread(*out, 1, (size_t)sz, f) != (size_t)sz) {
        free(*out);
        *out = NULL;
        fclose(f);
        return PB_EINTERNAL;
    }
    fclose(f);
    *len = (size_t)sz;
    return 0;
}

int xlsx_export_orders(const struct xlsx_export_row *rows, size_t n, const char *dir,
                       char **out, size_t *len)
{
    char path[4096];
    const char *tmp = dir != NULL ? dir : getenv("TMPDIR");
    lxw_workbook_options opts = { .constant_memory = LXW_TRUE, .tmpdir = NULL };
    lxw_workbook *wb;
    lxw_worksheet *ws;
    lxw_error err = LXW_NO_ERROR;
    int fd, rc;

    *out = NULL;
    *len = 0;
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    snprintf(path, sizeof(path), "%s/planboard-export-XXXXXX", tmp);
    if ((fd = mkstemp(path)) < 0)
        return PB_EINTERNAL;
    close(fd);
    opts.tmpdir = (char *)tmp;
    wb = workbook_new_opt(path, &opts);
    if (wb == NULL) {
        unlink(path);
        return PB_EINTERNAL;
    }
    ws = workbook_add_worksheet(wb, "Orders");
    lxw_format *bold = workbook_add_format(wb);
    lxw_format *day = workbook_add_format(wb);
    if (ws == NULL || bold == NULL || day == NULL) {
        workbook_close(wb);
        unlink(path);
        return PB_EINTERNAL;
    }
    format_set_bold(bold);
    format_set_num_format(day, "yyyy-mm-dd");
    worksheet_freeze_panes(ws, 1, 0);
    for (lxw_col_t c = 0; c < sizeof(columns) / sizeof(columns[0]); c++) {
        worksheet_set_column(ws, c, c, columns[c].width, NULL);
        if (err == LXW_NO_ERROR)
            err = worksheet_write_string(ws, 0, c, columns[c].name, bold);
    }
    for (size_t i = 0; i < n && err == LXW_NO_ERROR; i++) {
        const struct xlsx_export_row *o = &rows[i];
        lxw_row_t r = (lxw_row_t)(i + 1);
        if (r >= LXW_ROW_MAX) {
            err = LXW_ERROR_WORKSHEET_INDEX_OUT_OF_RANGE;
            break;
        }
        err = put_text(ws, r, 0, o->order_number);
        if (!err) err = put_text(ws, r, 1, o->stock_code);
        if (!err) err = put_text(ws, r, 2, o->description);
        if (!err) err = worksheet_write_number(ws, r, 3, (double)o->quantity_to_make, NULL);
        if (!err) err = worksheet_write_number(ws, r, 4, (double)o->quantity_completed, NULL);
        if (!err) err = put_text(ws, r, 5, o->priority);
        if (!err) err = put_text(ws, r, 6, o->status);
        if (!err) err = put_date(ws, r, 7, o->due_date, day);
        if (!err) err = put_date(ws, r, 8, o->start_date, day);
        if (!err) err = put_text(ws, r, 9, o->work_centre_code);
        if (!err) err = put_text(ws, r, 10, o->current_operation);
    }
    if (workbook_close(wb) != LXW_NO_ERROR || err != LXW_NO_ERROR) {
        unlink(path);
        return PB_EINTERNAL;
    }
    rc = slurp(path, out, len);
    unlink(path);
    return rc;
}
