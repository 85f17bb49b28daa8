/*
 * importers/xlsx_import — the .xlsx reader of the order import (API and contract in
 * xlsx_import.h; SPEC §10; limits and choices in docs/import.md "Excel").
 *
 * Parts read, in this order, each streamed from libzip into expat:
 *   xl/workbook.xml             sheet names and relationship ids, the 1904 date system flag;
 *   xl/_rels/workbook.xml.rels  where the chosen sheet, the shared strings and the styles are;
 *   styles (xl/styles.xml)      which cell styles (cellXfs) show a number as a date;
 *   shared strings              every <si>'s text (rich runs concatenated, phonetic runs not);
 *   the sheet                   rows -> records for the engine (csv_import_record()).
 * Element and attribute names are matched on their local part ("x:row" is "row", "r:id" is
 * "id"): writers differ in the prefixes they use.
 *
 * A row's cells are collected (at most CSV_IMPORT_MAX_COLUMNS + 1 columns are kept, a cell
 * further right only widens the row), sorted by column, and handed over at </row>. Rows that
 * come in increasing order stream straight into the engine; the first row that does not
 * restarts the engine (csv_import_reset()) and the sheet is read again, this time collecting
 * every row, then sorting them by number: ordered sheets — all writers we know — pay nothing.
 */
#include "importers/xlsx_import.h"

#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "core/errors.h"

#define CHUNK          65536            /* bytes inflated and parsed at a time */
#define CELL_TEXT_MAX  65537            /* bytes of one cell kept: past 64 KiB the engine
                                         * reports the field as too long */
#define ROW_COLS_MAX   (CSV_IMPORT_MAX_COLUMNS + 1)  /* columns of a row kept */
#define SHEET_ROWS_MAX 1048576          /* Excel's row limit: a larger r= is a broken sheet */
#define SHEET_COLS_MAX 16384            /* Excel's column limit (XFD) */
#define NAME_MAX_LEN   256              /* part names and sheet names we keep */
#define RATIO_FLOOR    (1u << 20)       /* the ratio test applies past this many bytes */
#define BUFFERED_CELLS_MAX (4u << 20)   /* cells kept when the rows come out of order */

/* ------------------------------------------------------------------------------------------ */
/* State                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

/* A cell of the row being read, or of a collected row: text at off in a struct buf. */
struct cell {
    uint32_t col;                       /* 0-based column */
    uint32_t len;                       /* bytes of text */
    size_t off;                         /* into the row's (or the collection's) text */
};

/* A collected row (rows out of order). */
struct crow {
    int64_t row;                        /* the sheet's row number */
    size_t first, n;                    /* its cells: coll_cells[first .. first + n) */
};

enum cell_type { CT_NUMBER, CT_SHARED, CT_INLINE, CT_BOOL, CT_STR, CT_DATE, CT_ERROR };

struct xlsx {
    zip_t *za;
    struct csv_import *ci;              /* the engine (caller's) */
    const char *want_sheet;             /* NULL: the first */
    char *msg;                          /* the failure sentence (caller's buffer) */
    size_t msglen;
    int err;                            /* first failure: a PB_E* code */
    XML_Parser parser;                  /* of the part being read */
    const char *part;                   /* its name, for messages */

    /* workbook */
    bool date1904;
    bool sheet_found;
    char sheet_name[NAME_MAX_LEN];
    char sheet_rid[NAME_MAX_LEN];
    char sheet_path[NAME_MAX_LEN];      /* resolved from the relationships */
    char strings_path[NAME_MAX_LEN];
    char styles_path[NAME_MAX_LEN];

    /* styles */
    bool in_numfmts, in_cellxfs;
    int *date_fmts;                     /* custom numFmtIds that are dates */
    size_t n_date_fmts, cap_date_fmts;
    unsigned char *xf_date;             /* cellXfs index -> 1 when a date format */
    size_t n_xf, cap_xf;

    /* shared strings */
    struct buf ss_text;                 /* every string's bytes, back to back */
    size_t *ss_off;                     /* string i: ss_text.p[ss_off[i] .. ss_off[i + 1]) */
    size_t n_ss, cap_ss;                /* ss_off has n_ss + 1 entries once read */
    bool in_si, in_rph, in_t;

    /* the sheet */
    bool buffered;                      /* second pass: collect every row, sort, then feed */
    bool out_of_order;                  /* first pass: a row number did not increase */
    int64_t last_row;                   /* number of the previous <row> (0: none yet) */
    int64_t row;                        /* the <row> being read */
    bool in_row, in_cell, in_v, in_is, in_is_t;
    uint32_t cell_col;                  /* the <c> being read */
    long last_col;                      /* column of the previous <c> in the row (-1 none) */
    enum cell_type cell_type;
    long cell_style;                    /* s=, -1 none */
    struct buf val;                     /* <v> or <is><t> text of the cell */
    struct cell *cells;                 /* the row's cells, ROW_COLS_MAX + 1 at most */
    size_t n_cells;
    uint32_t row_max_col;               /* widest column seen in the row beyond the kept ones */
    struct buf row_text;                /* the row's cell texts */
    size_t text_total;                  /* bytes of cell text handed over, all rows */
    /* collected rows (buffered) */
    struct crow *coll_rows;
    size_t n_coll_rows, cap_coll_rows;
    struct cell *coll_cells;
    size_t n_coll_cells, cap_coll_cells;
    struct buf coll_text;
};

/* Record the first failure: err and a sentence (printf format). Stops the running parser. */
static void fail(struct xlsx *x, int err, const char *fmt, ...)
{
    va_list ap;

    if (x->err != 0)
        return;
    x->err = err;
    va_start(ap, fmt);
    vsnprintf(x->msg, x->msglen, fmt, ap);
    va_end(ap);
    if (x->parser != NULL)
        XML_StopParser(x->parser, XML_FALSE);
}

static bool buf_add(struct xlsx *x, struct buf *b, const char *s, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            fail(x, PB_EINTERNAL, "out of memory reading the workbook");
            return false;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

/* Grow *v (elements of size sz) to hold n + 1. */
static bool grow(struct xlsx *x, void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 64;
    void *p = realloc(*v, c * sz);
    if (p == NULL) {
        fail(x, PB_EINTERNAL, "out of memory reading the workbook");
        return false;
    }
    *v = p;
    *cap = c;
    return true;
}

/* The local part of an XML name: "x:row" -> "row". */
static const char *local(const char *name)
{
    const char *c = strrchr(name, ':');
    return c != NULL ? c + 1 : name;
}

static const char *attr(const XML_Char **atts, const char *name)
{
    for (size_t i = 0; atts[i] != NULL; i += 2)
        if (strcmp(local(atts[i]), name) == 0)
            return atts[i + 1];
    return NULL;
}

/* Strict non-negative decimal that fits in long; -1 otherwise. */
static long parse_index(const char *s)
{
    long v = 0;

    if (s == NULL || *s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000L)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Parts: libzip -> expat, bounded                                                            */
/* ------------------------------------------------------------------------------------------ */

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    struct xlsx *x = ud;
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(x, PB_EIMPORT_FAILED, "the workbook part %s has a DOCTYPE, which a workbook never has",
         x->part);
}

/*
 * Stream part `name` through expat with these handlers (ud = x). Returns 0; 1 when the part is
 * absent and !required; or x->err (set) when it failed: missing and required, encrypted,
 * damaged, over the limits, malformed XML, or a handler failed.
 */
static int read_part(struct xlsx *x, const char *name, bool required,
                     XML_StartElementHandler start, XML_EndElementHandler end,
                     XML_CharacterDataHandler text)
{
    zip_stat_t st;
    zip_int64_t idx = zip_name_locate(x->za, name, 0);
    zip_file_t *zf = NULL;
    char *chunk = NULL;
    uint64_t total = 0;

    if (idx < 0) {
        if (!required)
            return 1;
        fail(x, PB_EIMPORT_FAILED, "the workbook has no %s part (damaged workbook)", name);
        return x->err;
    }
    zip_stat_init(&st);
    if (zip_stat_index(x->za, (zip_uint64_t)idx, 0, &st) != 0) {
        fail(x, PB_EIMPORT_FAILED, "the workbook's %s cannot be read (damaged workbook)", name);
        return x->err;
    }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
        fail(x, PB_EUNSUPPORTED_MEDIA, "the workbook is encrypted; save it without a password");
        return x->err;
    }
    if ((st.valid & ZIP_STAT_SIZE) && st.size > XLSX_MAX_PART) {
        fail(x, PB_ETOO_LARGE, "the workbook's %s inflates to %llu bytes; at most %u are read",
             name, (unsigned long long)st.size, XLSX_MAX_PART);
        return x->err;
    }
    x->part = name;
    x->parser = XML_ParserCreate(NULL);
    chunk = malloc(CHUNK);
    if (x->parser == NULL || chunk == NULL) {
        fail(x, PB_EINTERNAL, "out of memory reading the workbook");
        goto out;
    }
    XML_SetUserData(x->parser, x);
    XML_SetElementHandler(x->parser, start, end);
    XML_SetCharacterDataHandler(x->parser, text);
    XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);
    zf = zip_fopen_index(x->za, (zip_uint64_t)idx, 0);
    if (zf == NULL) {
        int ze = zip_error_code_zip(zip_get_error(x->za));
        if (ze == ZIP_ER_NOPASSWD || ze == ZIP_ER_ENCRNOTSUPP)
            fail(x, PB_EUNSUPPORTED_MEDIA, "the workbook is encrypted; save it without a password");
        else
            fail(x, PB_EIMPORT_FAILED, "the workbook's %s cannot be read (%s): the file is "
                 "damaged or truncated", name, zip_strerror(x->za));
        goto out;
    }
    for (;;) {
        zip_int64_t n = zip_fread(zf, chunk, CHUNK);
        if (n < 0) {
            fail(x, PB_EIMPORT_FAILED, "the workbook's %s cannot be inflated (%s): the file is "
                 "damaged or truncated", name, zip_file_strerror(zf));
            goto out;
        }
        total += (uint64_t)n;
        if (total > XLSX_MAX_PART) {
            fail(x, PB_ETOO_LARGE, "the workbook's %s inflates to more than %u bytes", name,
                 XLSX_MAX_PART);
            goto out;
        }
        /* Deflate reaches ~1000:1 on repeated bytes; a real sheet stays far below
         * XLSX_MAX_RATIO. Checked as the bytes come, whatever the directory claims. */
        if (total > RATIO_FLOOR && (st.valid & ZIP_STAT_COMP_SIZE)
            && total / XLSX_MAX_RATIO > st.comp_size) {
            fail(x, PB_ETOO_LARGE, "the workbook's %s inflates more than %u times its "
                 "compressed size: a zip bomb is refused", name, XLSX_MAX_RATIO);
            goto out;
        }
        if (XML_Parse(x->parser, chunk, (int)n, n == 0) == XML_STATUS_ERROR) {
            if (x->err == 0 && x->out_of_order && !x->buffered)
                break;                  /* stopped on purpose: read_sheet reads it again */
            if (x->err == 0)
                fail(x, PB_EIMPORT_FAILED, "the workbook's %s is not well-formed XML (line "
                     "%lu: %s)", name, (unsigned long)XML_GetCurrentLineNumber(x->parser),
                     XML_ErrorString(XML_GetErrorCode(x->parser)));
            goto out;
        }
        if (x->err != 0 || n == 0 || (x->out_of_order && !x->buffered))
            break;
    }
out:
    if (zf != NULL)
        zip_fclose(zf);
    free(chunk);
    if (x->parser != NULL)
        XML_ParserFree(x->parser);
    x->parser = NULL;
    return x->err;
}

/* ------------------------------------------------------------------------------------------ */
/* Workbook and relationships                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void copy_name(char dst[NAME_MAX_LEN], const char *s)
{
    snprintf(dst, NAME_MAX_LEN, "%s", s != NULL ? s : "");
}

static void XMLCALL wb_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *n = local(name);

    if (strcmp(n, "workbookPr") == 0) {
        const char *d = attr(atts, "date1904");
        x->date1904 = d != NULL && (strcmp(d, "1") == 0 || strcmp(d, "true") == 0);
    } else if (strcmp(n, "sheet") == 0 && !x->sheet_found) {
        const char *sn = attr(atts, "name"), *id = attr(atts, "id");
        if (sn == NULL || id == NULL)
            return;
        if (x->want_sheet == NULL || strcmp(sn, x->want_sheet) == 0) {
            x->sheet_found = true;
            copy_name(x->sheet_name, sn);
            copy_name(x->sheet_rid, id);
        }
    }
}

static void XMLCALL no_end(void *ud, const XML_Char *name)
{
    (void)ud, (void)name;
}

static void XMLCALL no_text(void *ud, const XML_Char *s, int len)
{
    (void)ud, (void)s, (void)len;
}

/* A relationship target of xl/workbook.xml as a part name: "/xl/x.xml" -> "xl/x.xml",
 * "worksheets/sheet1.xml" -> "xl/worksheets/sheet1.xml". */
static void resolve(char dst[NAME_MAX_LEN], const char *target)
{
    if (target[0] == '/')
        snprintf(dst, NAME_MAX_LEN, "%s", target + 1);
    else
        snprintf(dst, NAME_MAX_LEN, "xl/%s", target);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void XMLCALL rels_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *id, *target, *type;

    if (strcmp(local(name), "Relationship") != 0)
        return;
    id = attr(atts, "Id");
    target = attr(atts, "Target");
    type = attr(atts, "Type");
    if (id == NULL || target == NULL || type == NULL)
        return;
    if (strcmp(id, x->sheet_rid) == 0)
        resolve(x->sheet_path, target);
    else if (ends_with(type, "/sharedStrings"))
        resolve(x->strings_path, target);
    else if (ends_with(type, "/styles"))
        resolve(x->styles_path, target);
}

/* ------------------------------------------------------------------------------------------ */
/* Styles: which cellXfs are dates                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Built-in number formats that show a date (ECMA-376 §18.8.30; 18-21 and 45-47 are times of
 * day only and stay numbers). */
static bool builtin_date(long id)
{
    return (id >= 14 && id <= 17) || id == 22 || (id >= 27 && id <= 36) || (id >= 50 && id <= 58);
}

/* A custom format code shows a date when it has a day or year token outside quoted text,
 * [brackets] (colours, locales, elapsed time) and escaped characters. */
static bool code_is_date(const char *s)
{
    for (; *s; s++) {
        if (*s == '"') {
            while (s[1] && s[1] != '"')
                s++;
            if (s[1])
                s++;
        } else if (*s == '[') {
            while (s[1] && s[1] != ']')
                s++;
            if (s[1])
                s++;
        } else if (*s == '\\' || *s == '_' || *s == '*') {
            if (s[1])
                s++;
        } else if (*s == 'd' || *s == 'D' || *s == 'y' || *s == 'Y') {
            return true;
        }
    }
    return false;
}

static void XMLCALL st_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *n = local(name);

    if (strcmp(n, "numFmts") == 0) {
        x->in_numfmts = true;
    } else if (strcmp(n, "cellXfs") == 0) {
        x->in_cellxfs = true;
    } else if (x->in_numfmts && strcmp(n, "numFmt") == 0) {
        long id = parse_index(attr(atts, "numFmtId"));
        const char *code = attr(atts, "formatCode");
        if (id >= 0 && code != NULL && code_is_date(code)
            && grow(x, (void **)&x->date_fmts, &x->cap_date_fmts, x->n_date_fmts, sizeof(int)))
            x->date_fmts[x->n_date_fmts++] = (int)id;
    } else if (x->in_cellxfs && strcmp(n, "xf") == 0) {
        long id = parse_index(attr(atts, "numFmtId"));
        bool date = false;
        if (id < 0)
            id = 0;
        date = builtin_date(id);
        for (size_t i = 0; !date && i < x->n_date_fmts; i++)
            date = x->date_fmts[i] == id;
        if (grow(x, (void **)&x->xf_date, &x->cap_xf, x->n_xf, 1))
            x->xf_date[x->n_xf++] = date;
    }
}

static void XMLCALL st_end(void *ud, const XML_Char *name)
{
    struct xlsx *x = ud;
    const char *n = local(name);

    if (strcmp(n, "numFmts") == 0)
        x->in_numfmts = false;
    else if (strcmp(n, "cellXfs") == 0)
        x->in_cellxfs = false;
}

/* ------------------------------------------------------------------------------------------ */
/* Shared strings                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void XMLCALL ss_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *n = local(name);
    (void)atts;

    if (strcmp(n, "si") == 0) {
        x->in_si = true;
        if (grow(x, (void **)&x->ss_off, &x->cap_ss, x->n_ss + 1, sizeof(size_t)))
            x->ss_off[x->n_ss] = x->ss_text.len;
    } else if (strcmp(n, "rPh") == 0) {
        x->in_rph = true;               /* phonetic reading: not part of the text */
    } else if (strcmp(n, "t") == 0 && x->in_si && !x->in_rph) {
        x->in_t = true;
    }
}

static void XMLCALL ss_end(void *ud, const XML_Char *name)
{
    struct xlsx *x = ud;
    const char *n = local(name);

    if (strcmp(n, "si") == 0 && x->in_si) {
        x->in_si = false;
        x->n_ss++;
        x->ss_off[x->n_ss] = x->ss_text.len;    /* room made at <si> */
    } else if (strcmp(n, "rPh") == 0) {
        x->in_rph = false;
    } else if (strcmp(n, "t") == 0) {
        x->in_t = false;
    }
}

static void XMLCALL ss_text(void *ud, const XML_Char *s, int len)
{
    struct xlsx *x = ud;

    if (x->in_t)
        buf_add(x, &x->ss_text, s, (size_t)len);
}

/* ------------------------------------------------------------------------------------------ */
/* Cell values                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* A decimal number as written in <v>: "-12", "1.5", "1E+3", "4.5e-1". Sets the digits without
 * leading zeros, the power of ten they are scaled by and the sign. false when not such a
 * number (or absurdly long). */
struct decimal {
    char digits[40];
    size_t n;
    long exp;
    bool neg;
};

static bool parse_decimal(const char *s, struct decimal *d)
{
    bool any = false;

    memset(d, 0, sizeof(*d));
    if (*s == '-' || *s == '+')
        d->neg = *s++ == '-';
    for (int frac = 0; frac < 2; frac++) {
        for (; *s >= '0' && *s <= '9'; s++) {
            any = true;
            if (d->n == 0 && *s == '0') {
                if (frac)
                    d->exp--;
                continue;
            }
            if (d->n == sizeof(d->digits) - 1)
                return false;
            d->digits[d->n++] = *s;
            if (frac)
                d->exp--;
        }
        if (frac == 0 && *s == '.')
            s++;
        else
            break;
    }
    if (!any)
        return false;
    if (*s == 'e' || *s == 'E') {
        long e = 0;
        bool eneg = false;
        s++;
        if (*s == '-' || *s == '+')
            eneg = *s++ == '-';
        if (*s < '0' || *s > '9')
            return false;
        for (; *s >= '0' && *s <= '9'; s++)
            if ((e = e * 10 + (*s - '0')) > 1000)
                return false;
        d->exp += eneg ? -e : e;
    }
    return *s == '\0';
}

/* The integer part of d (toward zero) if it has at most 18 digits; *exact says whether d was
 * integral. false when too large. */
static bool decimal_int(const struct decimal *d, int64_t *out, bool *exact)
{
    int64_t v = 0;
    long keep = (long)d->n + d->exp;   /* digits before the decimal point */

    *exact = true;
    if (keep > 18)
        return false;
    for (long i = 0; i < keep; i++)
        v = v * 10 + (i < (long)d->n ? d->digits[i] - '0' : 0);
    for (long i = keep < 0 ? 0 : keep; i < (long)d->n; i++)
        if (d->digits[i] != '0')
            *exact = false;
    *out = d->neg ? -v : v;
    return true;
}

/* Days since 1970-01-01 -> civil date (proleptic Gregorian; H. Hinnant's algorithm). */
static void civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

/* Date serial (its whole days) -> "YYYY-MM-DD" in out[11]. 1900 system: serial 1 is
 * 1900-01-01 and serial 60 is Excel's 1900-02-29 (the leap-year bug kept from Lotus 1-2-3),
 * written as such so the engine rejects it as no real date; 1904 system: serial 0 is
 * 1904-01-01. false outside 1 (0 for 1904) .. 9999-12-31: the number is then kept as is. */
static bool serial_date(int64_t serial, bool date1904, char out[11])
{
    int y;
    unsigned m, d;
    int64_t z;

    if (date1904) {
        if (serial < 0 || serial > 2957003)
            return false;
        z = -24107 + serial;            /* 1904-01-01 is day -24107 */
    } else {
        if (serial < 1 || serial > 2958465)
            return false;
        if (serial == 60) {
            memcpy(out, "1900-02-29", 11);
            return true;
        }
        z = serial < 60 ? -25568 + serial : -25569 + serial;   /* 1899-12-31 / 12-30 */
    }
    civil(z, &y, &m, &d);
    /* y is 1900..9999, m 1..12, d 1..31 here: exactly ten characters */
    out[0] = (char)('0' + y / 1000), out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10), out[3] = (char)('0' + y % 10), out[4] = '-';
    out[5] = (char)('0' + m / 10), out[6] = (char)('0' + m % 10), out[7] = '-';
    out[8] = (char)('0' + d / 10), out[9] = (char)('0' + d % 10), out[10] = '\0';
    return true;
}

/* The cell just closed: its text per type into the row (nothing when empty). */
static void cell_done(struct xlsx *x)
{
    const char *v = x->val.p != NULL ? x->val.p : "";
    size_t n = x->val.len;
    char tmp[32];
    struct decimal dec;

    switch (x->cell_type) {
    case CT_SHARED: {
        long i = parse_index(v);
        if (n == 0)
            break;
        if (i < 0 || (size_t)i >= x->n_ss) {
            fail(x, PB_EIMPORT_FAILED, "cell %s of sheet \"%s\" row %lld names shared string "
                 "%s, which the workbook does not have (damaged workbook)", v, x->sheet_name,
                 (long long)x->row, v);
            return;
        }
        v = x->ss_text.p + x->ss_off[i];
        n = x->ss_off[i + 1] - x->ss_off[i];
        break;
    }
    case CT_BOOL:
        if (n == 0)
            break;
        v = strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ? "TRUE" : "FALSE";
        n = strlen(v);
        break;
    case CT_DATE:                       /* ISO 8601: its day */
        if (n > 10 && v[10] == 'T')
            n = 10;
        break;
    case CT_NUMBER:
        if (n == 0 || !parse_decimal(v, &dec))
            break;
        int64_t iv;
        bool exact;
        if (x->cell_style >= 0 && (size_t)x->cell_style < x->n_xf && x->xf_date[x->cell_style]
            && decimal_int(&dec, &iv, &exact) && !dec.neg
            && serial_date(iv, x->date1904, tmp)) {
            v = tmp;
            n = 10;
        } else if (decimal_int(&dec, &iv, &exact) && exact) {
            n = (size_t)snprintf(tmp, sizeof(tmp), "%lld", (long long)iv);
            v = tmp;
        }
        break;
    case CT_INLINE: case CT_STR: case CT_ERROR:
        break;
    }
    if (n == 0)
        return;
    if (x->cell_col >= ROW_COLS_MAX) {
        /* Only widens the row: the engine counts the header's width and ignores data there. */
        if (x->cell_col > x->row_max_col)
            x->row_max_col = x->cell_col;
        return;
    }
    if (n > CELL_TEXT_MAX)
        n = CELL_TEXT_MAX;
    x->text_total += n;
    if (x->text_total > XLSX_MAX_PART) {
        fail(x, PB_ETOO_LARGE, "the cells of sheet \"%s\" expand to more than %u bytes of "
             "text", x->sheet_name, XLSX_MAX_PART);
        return;
    }
    if (x->n_cells >= ROW_COLS_MAX + 1)
        return;                         /* a repeated column: the first one counts */
    struct cell *c = &x->cells[x->n_cells];
    c->col = x->cell_col;
    c->len = (uint32_t)n;
    c->off = x->row_text.len;
    if (buf_add(x, &x->row_text, v, n))
        x->n_cells++;
}

/* ------------------------------------------------------------------------------------------ */
/* The sheet                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* "D5" -> 3; -1 when no letters or past XFD. */
static long ref_col(const char *r)
{
    long c = 0;
    int k = 0;

    for (; *r >= 'A' && *r <= 'Z'; r++, k++) {
        c = c * 26 + (*r - 'A' + 1);
        if (c > SHEET_COLS_MAX)
            return -1;
    }
    return k == 0 ? -1 : c - 1;
}

static int cell_cmp(const void *a, const void *b)
{
    const struct cell *p = a, *q = b;
    return p->col < q->col ? -1 : p->col > q->col;
}

/* The row's cells as the engine takes them (sorted by column, a repeated column dropped, the
 * row's width beyond the kept columns as a last empty cell). Returns the count. */
static size_t row_cells(struct xlsx *x, const char *text, const struct cell *cells, size_t n,
                        uint32_t max_col, struct import_cell *out)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (k > 0 && out[k - 1].col == cells[i].col)
            continue;
        out[k++] = (struct import_cell){ cells[i].col, text + cells[i].off, cells[i].len };
    }
    if (max_col >= ROW_COLS_MAX)
        out[k++] = (struct import_cell){ max_col, NULL, 0 };
    (void)x;
    return k;
}

static void feed_row(struct xlsx *x, int64_t row, const char *text, const struct cell *cells,
                     size_t n, uint32_t max_col)
{
    struct import_cell out[ROW_COLS_MAX + 2];
    size_t k = row_cells(x, text, cells, n, max_col, out);
    int rc = csv_import_record(x->ci, row, out, k);

    if (rc == PB_ETOO_LARGE)
        fail(x, PB_ETOO_LARGE, "the sheet has more rows than the server accepts");
    else if (rc != 0)
        fail(x, PB_EINTERNAL, "out of memory reading the workbook");
}

/* </row>: hand the row to the engine, or collect it (buffered). */
static void row_done(struct xlsx *x)
{
    if (x->n_cells == 0 && x->row_max_col < ROW_COLS_MAX)
        return;                         /* a blank row, as a blank CSV line: nothing */
    qsort(x->cells, x->n_cells, sizeof(*x->cells), cell_cmp);
    if (!x->buffered) {
        feed_row(x, x->row, x->row_text.p, x->cells, x->n_cells, x->row_max_col);
        return;
    }
    if (x->n_coll_cells + x->n_cells + 1 > BUFFERED_CELLS_MAX) {
        fail(x, PB_ETOO_LARGE, "sheet \"%s\" lists its rows out of order and has more than %u "
             "cells: save it again in a spreadsheet program", x->sheet_name, BUFFERED_CELLS_MAX);
        return;
    }
    if (!grow(x, (void **)&x->coll_rows, &x->cap_coll_rows, x->n_coll_rows, sizeof(struct crow)))
        return;
    struct crow *cr = &x->coll_rows[x->n_coll_rows++];
    cr->row = x->row;
    cr->first = x->n_coll_cells;
    cr->n = 0;
    for (size_t i = 0; i <= x->n_cells; i++) {
        struct cell c;
        if (i == x->n_cells) {          /* the row's width, as an empty last cell */
            if (x->row_max_col < ROW_COLS_MAX)
                break;
            c = (struct cell){ x->row_max_col, 0, x->coll_text.len };
        } else {
            c = x->cells[i];
            size_t off = x->coll_text.len;
            if (!buf_add(x, &x->coll_text, x->row_text.p + c.off, c.len))
                return;
            c.off = off;
        }
        if (!grow(x, (void **)&x->coll_cells, &x->cap_coll_cells, x->n_coll_cells,
                  sizeof(struct cell)))
            return;
        x->coll_cells[x->n_coll_cells++] = c;
        cr->n++;
    }
}

static void XMLCALL sh_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *n = local(name);

    if (strcmp(n, "row") == 0) {
        const char *r = attr(atts, "r");
        long num = r != NULL ? parse_index(r) : (long)x->last_row + 1;
        if (num < 1 || num > SHEET_ROWS_MAX) {
            fail(x, PB_EIMPORT_FAILED, "sheet \"%s\" has a row numbered \"%s\" (damaged "
                 "workbook)", x->sheet_name, r != NULL ? r : "");
            return;
        }
        if (num <= x->last_row && !x->buffered) {
            x->out_of_order = true;     /* read again, collected (xlsx_import_read) */
            XML_StopParser(x->parser, XML_FALSE);
            return;
        }
        x->row = num;
        x->last_row = num;
        x->in_row = true;
        x->n_cells = 0;
        x->row_max_col = 0;
        x->row_text.len = 0;
        x->last_col = -1;
    } else if (strcmp(n, "c") == 0 && x->in_row) {
        const char *r = attr(atts, "r"), *t = attr(atts, "t");
        long col = r != NULL ? ref_col(r) : x->last_col + 1;
        if (col < 0 || col >= SHEET_COLS_MAX) {
            fail(x, PB_EIMPORT_FAILED, "sheet \"%s\" row %lld has a cell \"%s\" (damaged "
                 "workbook)", x->sheet_name, (long long)x->row, r != NULL ? r : "");
            return;
        }
        x->last_col = col;
        x->cell_col = (uint32_t)col;
        x->cell_style = parse_index(attr(atts, "s"));
        x->cell_type = CT_NUMBER;
        if (t != NULL) {
            if (strcmp(t, "s") == 0)
                x->cell_type = CT_SHARED;
            else if (strcmp(t, "inlineStr") == 0)
                x->cell_type = CT_INLINE;
            else if (strcmp(t, "b") == 0)
                x->cell_type = CT_BOOL;
            else if (strcmp(t, "str") == 0)
                x->cell_type = CT_STR;
            else if (strcmp(t, "d") == 0)
                x->cell_type = CT_DATE;
            else if (strcmp(t, "e") == 0)
                x->cell_type = CT_ERROR;
        }
        x->in_cell = true;
        x->val.len = 0;
    } else if (x->in_cell && strcmp(n, "v") == 0) {
        x->in_v = true;
    } else if (x->in_cell && strcmp(n, "is") == 0) {
        x->in_is = true;
    } else if (x->in_is && strcmp(n, "t") == 0) {
        x->in_is_t = true;
    } else if (x->in_is && strcmp(n, "rPh") == 0) {
        x->in_is_t = false;
    }
}

static void XMLCALL sh_end(void *ud, const XML_Char *name)
{
    struct xlsx *x = ud;
    const char *n = local(name);

    if (strcmp(n, "row") == 0 && x->in_row) {
        x->in_row = false;
        row_done(x);
    } else if (strcmp(n, "c") == 0 && x->in_cell) {
        x->in_cell = x->in_v = x->in_is = x->in_is_t = false;
        cell_done(x);
    } else if (strcmp(n, "v") == 0) {
        x->in_v = false;
    } else if (strcmp(n, "is") == 0) {
        x->in_is = x->in_is_t = false;
    } else if (strcmp(n, "t") == 0) {
        x->in_is_t = false;
    }
}

static void XMLCALL sh_text(void *ud, const XML_Char *s, int len)
{
    struct xlsx *x = ud;

    if ((x->in_v && x->cell_type != CT_INLINE) || (x->in_is_t && x->cell_type == CT_INLINE)) {
        size_t room = x->val.len < CELL_TEXT_MAX ? CELL_TEXT_MAX - x->val.len : 0;
        buf_add(x, &x->val, s, (size_t)len < room ? (size_t)len : room);
    }
}

static int crow_cmp(const void *a, const void *b)
{
    const struct crow *p = a, *q = b;
    return p->row < q->row ? -1 : p->row > q->row;
}

/* Read the sheet: streamed when its rows increase, else again collected and sorted. */
static int read_sheet(struct xlsx *x)
{
    if (read_part(x, x->sheet_path, true, sh_start, sh_end, sh_text) != 0)
        return x->err;
    if (!x->out_of_order)
        return 0;
    csv_import_reset(x->ci);
    x->buffered = true;
    x->last_row = 0;
    x->text_total = 0;
    x->in_row = x->in_cell = x->in_v = x->in_is = x->in_is_t = false;
    if (read_part(x, x->sheet_path, true, sh_start, sh_end, sh_text) != 0)
        return x->err;
    qsort(x->coll_rows, x->n_coll_rows, sizeof(*x->coll_rows), crow_cmp);
    for (size_t i = 0; i < x->n_coll_rows && x->err == 0; i++) {
        const struct crow *cr = &x->coll_rows[i];
        if (i > 0 && cr->row == cr[-1].row) {
            fail(x, PB_EIMPORT_FAILED, "sheet \"%s\" has row %lld twice (damaged workbook)",
                 x->sheet_name, (long long)cr->row);
            break;
        }
        /* the collected cells are sorted and carry their width cell already */
        feed_row(x, cr->row, x->coll_text.p, x->coll_cells + cr->first, cr->n, 0);
    }
    return x->err;
}

/* ------------------------------------------------------------------------------------------ */
/* The workbook                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* What buf is when it is no zip: an OLE compound file (.xls, or an encrypted workbook, which
 * Office stores as an OLE file with an EncryptedPackage stream), or anything else. */
static int not_a_zip(struct xlsx *x, const unsigned char *b, size_t len)
{
    static const unsigned char ole[8] = { 0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1 };
    static const char enc[] = "E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e";

    if (len >= sizeof(ole) && memcmp(b, ole, sizeof(ole)) == 0) {
        if (memmem(b, len, enc, sizeof(enc) - 1) != NULL)
            fail(x, PB_EUNSUPPORTED_MEDIA, "the workbook is encrypted (password-protected); "
                 "save it without a password as .xlsx");
        else
            fail(x, PB_EUNSUPPORTED_MEDIA, "the file is an .xls workbook (Excel 97-2003); save "
                 "it as .xlsx (Excel Workbook) or CSV");
        return x->err;
    }
    fail(x, PB_EUNSUPPORTED_MEDIA, "the file is not an .xlsx workbook (not a zip archive)");
    return x->err;
}

/* An .ods (OpenDocument) has a "mimetype" entry naming it. */
static bool is_ods(zip_t *za)
{
    char head[128] = { 0 };
    zip_file_t *f = zip_fopen(za, "mimetype", 0);
    zip_int64_t n;

    if (f == NULL)
        return false;
    n = zip_fread(f, head, sizeof(head) - 1);
    zip_fclose(f);
    return n > 0 && strstr(head, "opendocument") != NULL;
}

static int open_archive(struct xlsx *x, const void *buf, size_t len)
{
    zip_error_t ze;
    zip_source_t *src;
    const unsigned char *b = buf;

    if (len < 4 || b[0] != 'P' || b[1] != 'K')
        return not_a_zip(x, b, len);
    zip_error_init(&ze);
    src = zip_source_buffer_create(buf, len, 0, &ze);
    if (src == NULL) {
        zip_error_fini(&ze);
        fail(x, PB_EINTERNAL, "out of memory reading the workbook");
        return x->err;
    }
    x->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (x->za == NULL) {
        zip_source_free(src);
        fail(x, PB_EIMPORT_FAILED, "the workbook is damaged or truncated (%s)",
             zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return x->err;
    }
    zip_error_fini(&ze);
    if (zip_get_num_entries(x->za, 0) > XLSX_MAX_ENTRIES) {
        fail(x, PB_ETOO_LARGE, "the archive has %lld entries; a workbook has tens and at most "
             "%d are accepted (zip bomb?)", (long long)zip_get_num_entries(x->za, 0),
             XLSX_MAX_ENTRIES);
        return x->err;
    }
    if (is_ods(x->za)) {
        fail(x, PB_EUNSUPPORTED_MEDIA, "the file is an OpenDocument spreadsheet (.ods); save it "
             "as .xlsx or CSV");
        return x->err;
    }
    if (zip_name_locate(x->za, "xl/workbook.xml", 0) < 0) {
        fail(x, PB_EUNSUPPORTED_MEDIA, "the file is a zip archive but not an .xlsx workbook "
             "(it has no xl/workbook.xml)");
        return x->err;
    }
    return 0;
}

int xlsx_import_read(struct csv_import *ci, const void *buf, size_t len, const char *sheet,
                     char *msg, size_t msglen)
{
    struct xlsx x = { .ci = ci, .want_sheet = sheet, .msg = msg, .msglen = msglen };
    int rc;

    if (msglen > 0)
        msg[0] = '\0';
    x.cells = malloc((ROW_COLS_MAX + 1) * sizeof(*x.cells));
    if (x.cells == NULL) {
        fail(&x, PB_EINTERNAL, "out of memory reading the workbook");
        goto out;
    }
    if (open_archive(&x, buf, len) != 0)
        goto out;
    if (read_part(&x, "xl/workbook.xml", true, wb_start, no_end, no_text) != 0)
        goto out;
    if (!x.sheet_found) {
        if (sheet != NULL)
            fail(&x, PB_EIMPORT_FAILED, "the workbook has no sheet named \"%.*s\"", 100, sheet);
        else
            fail(&x, PB_EIMPORT_FAILED, "the workbook has no worksheet");
        goto out;
    }
    if (read_part(&x, "xl/_rels/workbook.xml.rels", true, rels_start, no_end, no_text) != 0)
        goto out;
    if (x.sheet_path[0] == '\0') {
        fail(&x, PB_EIMPORT_FAILED, "sheet \"%s\" has no part in the workbook (damaged "
             "workbook)", x.sheet_name);
        goto out;
    }
    if (x.styles_path[0] != '\0'
        && read_part(&x, x.styles_path, false, st_start, st_end, no_text) < 0)
        goto out;
    if (x.strings_path[0] != '\0'
        && read_part(&x, x.strings_path, false, ss_start, ss_end, ss_text) < 0)
        goto out;
    if (read_sheet(&x) != 0)
        goto out;
    rc = csv_import_finish(ci);
    if (rc == PB_ETOO_LARGE)
        fail(&x, rc, "the sheet has more rows than the server accepts");
    else if (rc != 0)
        fail(&x, rc, "out of memory reading the workbook");
out:
    if (x.za != NULL)
        zip_discard(x.za);              /* read-only: discard frees the source too */
    free(x.cells);
    free(x.val.p);
    free(x.row_text.p);
    free(x.date_fmts);
    free(x.xf_date);
    free(x.ss_text.p);
    free(x.ss_off);
    free(x.coll_rows);
    free(x.coll_cells);
    free(x.coll_text.p);
    return x.err;
}
