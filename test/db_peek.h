/*
 * db_peek.h — for unit tests: read one value from a test database through an independent
 * SQLite connection (so a test sees what is on disk, not what the store's cache says).
 * Header-only (static inline) so each test binary stays one .c file.
 */
#ifndef PB_TEST_DB_PEEK_H
#define PB_TEST_DB_PEEK_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <sqlite3.h>

/* First column of the first row of the printf-formatted query as an integer: -1 for NULL,
 * -999 when there is no row. Fails the test when the query does not prepare. */
static inline int64_t db_peek_int(sqlite3 *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int64_t db_peek_int(sqlite3 *db, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    sqlite3_stmt *st;
    int64_t v = -999;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The same as text into buf: "<null>" for NULL, "<none>" when there is no row. Returns buf. */
static inline const char *db_peek_str(sqlite3 *db, char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline const char *db_peek_str(sqlite3 *db, char *buf, size_t size, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    sqlite3_stmt *st;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) != SQLITE_ROW)
        snprintf(buf, size, "<none>");
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        snprintf(buf, size, "<null>");
    else
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

#endif
