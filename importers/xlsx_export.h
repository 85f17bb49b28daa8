/*
 * importers/xlsx_export — the orders as an .xlsx workbook, SPEC §10 (export side).
 *
 * One sheet "Orders" with the canonical columns of SPEC §6 in their order, a frozen bold
 * header row and column widths; quantities are numbers, due and start dates real dates
 * (date serials with a yyyy-mm-dd format), everything else text. What it writes reads back
 * through importers/xlsx_import.c as the same rows (the round trip is a unit test). Written with
 * Debian's libxlsxwriter, which (1.1.4) writes only to a file: a temporary file in dir, read
 * back and removed. No sockets, no SQLite: any thread.
 * Errors: 0 or a negative PB_E* code of core/errors.h.
 */
#ifndef PB_XLSX_EXPORT_H
#define PB_XLSX_EXPORT_H

#include <stddef.h>
#include <stdint.h>

/* One order as the export writes it; NULL strings are empty cells. */
struct xlsx_export_row {
    const char *order_number, *stock_code, *description;
    int64_t quantity_to_make, quantity_completed;
    const char *priority, *status;      /* the SPEC names: "normal", "in_progress" */
    const char *due_date, *start_date;  /* YYYY-MM-DD or NULL */
    const char *work_centre_code, *current_operation;
};

/*
 * Write rows[0..n) as a workbook into *out (malloc'd, the caller frees) of *len bytes, using a
 * temporary file in dir (NULL: $TMPDIR or /tmp). Returns 0, or PB_EINTERNAL (the temporary file
 * cannot be made or read, libxlsxwriter fails, out of memory; *out is then NULL).
 */
int xlsx_export_orders(const struct xlsx_export_row *rows, size_t n, const char *dir,
                       char **out, size_t *len);

#endif
