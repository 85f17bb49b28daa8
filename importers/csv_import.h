/*
 * importers/csv_import — streaming CSV order import, SPEC §6.
 *
 * Feed the body as it arrives (any chunk sizes); each complete record is mapped through the
 * header (case-insensitive, ignoring spaces, '_' and '-', aliases of docs/import.md), checked
 * with order_input_check() plus the import rules (known work centre code, orderNumber not
 * repeated in the file, optionally not existing already), and either kept as a valid row or
 * reported as row errors. Memory grows with the valid rows kept, never with copies of the file,
 * the issues listed are capped (CSV_IMPORT_MAX_ISSUES), a field is < 64 KiB and the header
 * has at most CSV_IMPORT_MAX_COLUMNS columns: the work per input byte is O(1).
 *
 * A data field that starts with '\'' followed by one of = + - @ TAB CR loses that '\'' (SPEC §6,
 * the inverse of the export's CSV-injection escape).
 *
 * Row numbers are the 1-based line on which the record starts (header = 1), counting every
 * line break (CRLF or LF) including those inside quoted fields.
 *
 * No SQLite, no sockets: the caller supplies lookups as callbacks.
 * Errors: 0 or a negative PB_E* code of core/errors.h.
 */
#ifndef PB_CSV_IMPORT_H
#define PB_CSV_IMPORT_H

#include "core/model.h"

/* SPEC §6 limits on what one upload can make the server do (see docs/import.md "Limits"). */
#define CSV_IMPORT_MAX_ISSUES   1000    /* errors listed, and warnings listed (totals count all) */
#define CSV_IMPORT_MAX_COLUMNS  256     /* header fields; a wider header is an error on its row */

/* The field separator of a CSV file (issue 10 item 4, docs/import.md "Separator"). AUTO (the
 * default, 0) decides from the header record alone: the one of ',' ';' TAB that splits it into
 * the most distinct known column names (aliases included); a tie or none known -> COMMA (ties
 * between ';' and TAB -> ';'). Only the first CSV_HEADER_SNIFF_MAX bytes are looked at (the
 * header record is held back until its line break outside quotes, or that many bytes, or the
 * end of the file). */
enum csv_delimiter { CSV_DELIM_AUTO, CSV_DELIM_COMMA, CSV_DELIM_SEMICOLON, CSV_DELIM_TAB };
#define CSV_HEADER_SNIFF_MAX 65536

/* "auto", "comma", "semicolon", "tab" (the names of the `delimiter` query parameter and of the
 * answer's "delimiter", docs/import.md); a static string. */
const char *csv_delimiter_name(enum csv_delimiter d);
/* The inverse of csv_delimiter_name (exact, lower case): 0 and *out set, or PB_EVALIDATION for
 * any other text (SPEC §4 validation_failed on the query parameter). */
int csv_delimiter_parse(const char *name, enum csv_delimiter *out);

/* Look up a work centre by code; return 0 and set *id when it exists, -1 otherwise. */
typedef int (*csv_wc_lookup_fn)(void *ctx, const char *code, int64_t *id);
/* Return true when an order with this orderNumber already exists (used with create_only). */
typedef bool (*csv_order_exists_fn)(void *ctx, const char *order_number);

struct csv_import_options {
    bool create_only;                   /* mode=create: an existing orderNumber is a row error */
    size_t max_rows;                    /* records beyond this -> PB_ETOO_LARGE (0 = 200000) */
    csv_wc_lookup_fn wc_lookup;         /* required */
    csv_order_exists_fn order_exists;   /* required when create_only */
    void *ctx;                          /* passed to both callbacks */
    enum csv_delimiter delimiter;       /* CSV_DELIM_AUTO (0) = detect from the header */
};

/* An error or warning: row 1-based (header = 1); column canonical snake_case name, the header
 * as written (unknown-column warning) or NULL (record that cannot be parsed). Owned by the
 * importer. */
struct csv_issue {
    int64_t row;
    char *column;
    char *message;
};

/* A valid row: in's strings point into storage owned by the importer. */
struct csv_row {
    int64_t row;
    struct order_input in;
};

struct csv_import;

/* New importer; NULL on allocation failure. opts is copied. */
struct csv_import *csv_import_new(const struct csv_import_options *opts);

/* Replace the lookups of csv_import_options (same rules): an importer that is about to be fed
 * on another thread gets lookups that read a snapshot instead of the loop's board
 * (server/import.c, .xlsx read on a worker). */
void csv_import_set_lookups(struct csv_import *ci, csv_wc_lookup_fn wc_lookup,
                            csv_order_exists_fn order_exists, void *ctx);
/* The valid work-centre codes, as a person reads them ("CUT, ASM, QC"), named in the row error
 * of an unknown `work_centre_code` (issue 10 item 4: "errors that list the valid work-centre
 * codes"). codes is copied (NULL or "" = not named); a longer list than CSV_WC_CODES_MAX - 1
 * bytes is cut at a code boundary and ends with ", ...". Kept by csv_import_reset(). */
#define CSV_WC_CODES_MAX 256
void csv_import_set_wc_codes(struct csv_import *ci, const char *codes);
void csv_import_free(struct csv_import *ci);
/* Forget everything read (records, rows, issues): ci is as csv_import_new() made it, with the
 * same options. A reader that must read its input again uses it (xlsx rows out of order). */
void csv_import_reset(struct csv_import *ci);

/* Feed the next len bytes of the file. Returns 0, or PB_ETOO_LARGE once more than max_rows
 * records were read (stop feeding), or PB_EINTERNAL on allocation failure. */
int csv_import_feed(struct csv_import *ci, const char *buf, size_t len);

/* One import engine, two readers (SPEC §6, §10): the CSV reader above and any other reader
 * (importers/xlsx_import.c) hand the engine records. A record is the non-empty cells of one row,
 * `col` 0-based and strictly increasing (a skipped column is an empty field); s[0..len) is the
 * cell's text (NUL-terminated not required; NULL with len 0 is an empty cell). The first record
 * is the header; row is the number every issue of the record carries (the sheet's row number).
 * n = 0 is a blank row: nothing. Do not mix with csv_import_feed() on one importer. Returns 0,
 * PB_ETOO_LARGE past max_rows (stop), or PB_EINTERNAL (out of memory, columns not increasing,
 * after csv_import_finish()). The cells are copied; the caller keeps them. */
struct import_cell {
    size_t col;
    const char *s;
    size_t len;
};
int csv_import_record(struct csv_import *ci, int64_t row, const struct import_cell *cells,
                      size_t n);

/* End of file: flushes the last record (an unterminated quote becomes an error on the row where
 * that record started, column NULL). Returns 0, PB_ETOO_LARGE or PB_EINTERNAL. */
int csv_import_finish(struct csv_import *ci);

/* Results, valid after csv_import_finish(). */
/* The separator used for the file fed: the requested one, or the detected one under
 * CSV_DELIM_AUTO. CSV_DELIM_AUTO when nothing was decided: records came from another reader
 * (csv_import_record, .xlsx has no separator) or feeding has not reached the header's end.
 * When the header misses a required column and another separator would have found every
 * required column, each "required column X is missing" error names it ("...; the file looks
 * separated by ';' — choose Semicolon"). */
enum csv_delimiter csv_import_delimiter(const struct csv_import *ci);
size_t csv_import_records(const struct csv_import *ci);      /* records read, header excluded */
/* The header is unusable: a required column is absent, or the header has more than
 * CSV_IMPORT_MAX_COLUMNS fields (one error, column NULL, on the header's row). Records are then
 * only counted. SPEC §6: the answer is 422 whatever onError says. */
bool csv_import_missing_required(const struct csv_import *ci);
size_t csv_import_skipped(const struct csv_import *ci);      /* records with at least one error */
const struct csv_row *csv_import_rows(const struct csv_import *ci, size_t *n);
/* The listed issues, in the order found: at most CSV_IMPORT_MAX_ISSUES each (SPEC §6). */
const struct csv_issue *csv_import_errors(const struct csv_import *ci, size_t *n);
const struct csv_issue *csv_import_warnings(const struct csv_import *ci, size_t *n);
/* Every error / warning found, listed or not (SPEC §6 "errorsTotal", "warningsTotal"). */
size_t csv_import_errors_total(const struct csv_import *ci);
size_t csv_import_warnings_total(const struct csv_import *ci);

/*
 * After csv_import_finish, for checks that need more than the lookups (SPEC §9 WIP limits
 * against the board, server/import.c): csv_import_add_issue lists an error (error true) or a
 * warning on `row` (column may be NULL; texts copied; counted, listed under the same cap),
 * after the parse's issues; csv_import_drop_rows removes the valid rows i with drop[i] (drop
 * has one entry per row of csv_import_rows, file order kept) and counts them as skipped;
 * returns how many it removed. Rows returned earlier by csv_import_rows are invalidated.
 * Allocation failure of an issue is sticky as for feeding (it is then not listed).
 */
void csv_import_add_issue(struct csv_import *ci, bool error, int64_t row, const char *column,
                          const char *message);
size_t csv_import_drop_rows(struct csv_import *ci, const bool *drop);

#endif
