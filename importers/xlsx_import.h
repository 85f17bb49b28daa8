/*
 * importers/xlsx_import — the .xlsx reader of the order import, SPEC §10 (rules of §6).
 *
 * One import engine, two readers: this reader turns one worksheet of an Office Open XML
 * workbook into records (the non-empty cells of a row + the sheet's row number) and hands them
 * to the same engine as the CSV reader (importers/csv_import.h csv_import_record()), so every
 * rule, option, limit and result of SPEC §6 applies unchanged; `row` is the sheet's row number.
 *
 * The archive is read with Debian's libzip from the whole file in memory (a zip's directory is
 * at its end: the upload is collected first, bounded by [limits] max_upload); each XML part is
 * inflated in 64 KiB pieces into expat, a streaming parser: no DOM of any part is built. What
 * is kept: the sheet names, the shared strings (bounded by their part's size), one bit per cell
 * style (date or not) and the cells of the row being read.
 *
 * Cells: shared strings (t="s"), inline strings (t="inlineStr"), numbers (an integral value is
 * written without a fraction or exponent: 1E+3 -> "1000"), booleans (TRUE / FALSE), formula
 * cells (their cached value; none: empty), ISO dates (t="d"), errors (#N/A: their text). A
 * number in a cell whose style is a date format is a date serial: YYYY-MM-DD in the workbook's
 * date system (1900 with Excel's leap-year bug — serial 60 is the 1900-02-29 that never was,
 * which the engine then reports as not a real date — or 1904). Rows may come in any order
 * (they are then read a second time, collected and sorted by number); a repeated row number is
 * a broken sheet.
 *
 * Limits (SPEC §10; docs/import.md "Excel"): every part read is at most XLSX_MAX_PART bytes
 * inflated, counted while inflating (the directory's sizes are not trusted), and the text the
 * cells expand to is at most XLSX_MAX_PART bytes in all; an archive of more than
 * XLSX_MAX_ENTRIES entries, or a part inflating more than XLSX_MAX_RATIO times its compressed
 * size, is a zip bomb: PB_ETOO_LARGE. A DOCTYPE in any part is refused (no entity expansion).
 *
 * No sockets, no SQLite. Errors: 0 or a negative PB_E* code of core/errors.h.
 */
#ifndef PB_XLSX_IMPORT_H
#define PB_XLSX_IMPORT_H

#include <stddef.h>

#include "importers/csv_import.h"

#define XLSX_CONTENT_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#define XLSX_MAX_PART     (100u << 20)  /* bytes one part inflates to; also all cell text */
#define XLSX_MAX_ENTRIES  10000         /* entries in the archive (a workbook has tens) */
#define XLSX_MAX_RATIO    500           /* inflated / compressed of a part over 1 MiB */
#define XLSX_MSG_MAX      240           /* bytes of the sentence a failure writes */

/*
 * Read the worksheet named `sheet` (NULL: the first one) of the workbook buf[0..len) into the
 * engine ci (fresh from csv_import_new(); the caller keeps buf and ci), then finish it
 * (csv_import_finish()): afterwards ci's results are the import's, exactly as for a CSV file.
 * Returns 0, or on failure an error with msg[0..msglen) set to a sentence naming the problem
 * (ci's results are then meaningless):
 *   PB_EUNSUPPORTED_MEDIA  not an .xlsx: an .xls or other OLE file, an encrypted workbook
 *                          (password-protected: an OLE file, or encrypted zip entries), an
 *                          .ods, a zip that is no workbook, not a zip at all;
 *   PB_EIMPORT_FAILED      a broken workbook: truncated or damaged archive, malformed XML, a
 *                          part missing, no sheet of that name, a repeated row number;
 *   PB_ETOO_LARGE          the limits above, or more records than the engine's max_rows;
 *   PB_EINTERNAL           out of memory.
 */
int xlsx_import_read(struct csv_import *ci, const void *buf, size_t len, const char *sheet,
                     char *msg, size_t msglen);

#endif
