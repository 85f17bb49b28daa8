/*
 * test_db.h — for unit tests: a fresh store in a temp directory of its own, with an
 * independent SQLite connection ("peek", see db_peek.h) on the same file, and its removal.
 * Header-only (static inline) so each test binary stays one .c file.
 */
#ifndef PB_TEST_TEST_DB_H
#define PB_TEST_TEST_DB_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"

/* Make /tmp/pb_test_<name>.XXXXXX into dir[64], open the store at dir/pb.db (path[96]) with
 * opts (may be NULL) into *s, and a peek connection into *peek (may be NULL: none). Fails
 * the test on any error. */
static inline void test_db_open(char dir[64], char path[96], struct store **s, sqlite3 **peek,
                                const char *name, const struct store_options *opts)
{
    snprintf(dir, 64, "/tmp/pb_test_%s.XXXXXX", name);
    assert_non_null(mkdtemp(dir));
    snprintf(path, 96, "%s/pb.db", dir);
    assert_int_equal(store_open(s, path, opts), 0);
    if (peek != NULL)
        assert_int_equal(sqlite3_open(path, peek), SQLITE_OK);
}

/* Close peek (may be NULL), free s (may be NULL) and remove dir. */
static inline void test_db_close(const char *dir, struct store *s, sqlite3 *peek)
{
    char cmd[160];
    sqlite3_close(peek);
    store_free(s);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The fixture of tests that need a store with two tenants ("acme" and "other"): setup and
 * teardown for cmocka_unit_test_setup_teardown (call setup from a function that names the
 * temp directory). */
struct test_tenants {
    char dir[64];
    char path[96];
    struct store *s;
    sqlite3 *peek;
    int64_t tenant, other;
};

static inline int test_tenants_setup(void **state, const char *name)
{
    struct test_tenants *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    test_db_open(f->dir, f->path, &f->s, &f->peek, name, NULL);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_tenant_create(f->s, "other", "Other Works", &f->other), 0);
    *state = f;
    return 0;
}

static inline int test_tenants_teardown(void **state)
{
    struct test_tenants *f = *state;
    test_db_close(f->dir, f->s, f->peek);
    free(f);
    return 0;
}

#endif
