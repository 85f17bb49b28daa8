/*
 * test_store_text — the store's text rules (SPEC §4). Tenants and users with invalid UTF-8 are
 * refused; store_open() repairs text written by earlier versions (SPEC §4: nothing
 * stored is invalid UTF-8): invalid sequences become U+FFFD, NUL bytes are removed, in every
 * table; a database with nothing invalid is not written to. A real SQLite file in a temp dir;
 * the bad rows are written through an independent connection, as an old version would have.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/errors.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char path[96];
    sqlite3 *peek;              /* the independent connection */
    int64_t tenant, user;
};

#include "test/db_peek.h"

static void peek_exec(struct fx *f, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(f->peek, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err != NULL ? err : "?");
}

static const char *peek_hex(struct fx *f, char *buf, size_t size, const char *sql)
{
    return db_peek_str(f->peek, buf, size, "%s", sql);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store *s;
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/pb_test_text.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/pb.db", f->dir);
    assert_int_equal(store_open(&s, f->path, NULL), 0);
    assert_int_equal(store_tenant_create(s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_user_create(s, f->tenant, "sam", "sam@acme.test", "$argon2id$x",
                                       ROLE_SCHEDULER, "Sam", "Smith", &f->user), 0);
    store_free(s);
    assert_int_equal(sqlite3_open(f->path, &f->peek), SQLITE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[160];
    sqlite3_close(f->peek);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    struct store *s;
    assert_int_equal(store_open(&s, f->path, NULL), 0);
    store_free(s);
}

static void test_open_replaces_invalid_utf8_by_fffd_and_removes_nul_in_every_table(void **state)
{
    struct fx *f = *state;
    char buf[128];
    struct store *s;
    struct tenant t;

    peek_exec(f, "UPDATE tenants SET name = CAST(X'41FFFE42' AS TEXT)");
    peek_exec(f, "UPDATE users SET first_name = CAST(X'53616D00' AS TEXT),"
                 " last_name = CAST(X'E282' AS TEXT)");
    assert_int_equal(store_open(&s, f->path, NULL), 0);
    /* A (U+FFFD)(U+FFFD) B: one replacement per maximal ill-formed subpart. */
    assert_string_equal(peek_hex(f, buf, sizeof(buf), "SELECT hex(name) FROM tenants"),
                        "41EFBFBDEFBFBD42");
    assert_string_equal(peek_hex(f, buf, sizeof(buf), "SELECT hex(first_name) FROM users"),
                        "53616D");
    assert_string_equal(peek_hex(f, buf, sizeof(buf), "SELECT hex(last_name) FROM users"),
                        "EFBFBD");
    /* What the store reads is the repaired text. */
    assert_int_equal(store_tenant_get(s, f->tenant, &t), 0);
    assert_string_equal(t.name, "A\xef\xbf\xbd\xef\xbf\xbd" "B");
    tenant_cleanup(&t);
    store_free(s);
    /* Valid text and other types are untouched. */
    assert_string_equal(peek_hex(f, buf, sizeof(buf), "SELECT username FROM users"), "sam");
    assert_int_equal(db_peek_int(f->peek, "SELECT id FROM users"), f->user);
}

static void test_open_of_a_valid_database_changes_nothing(void **state)
{
    struct fx *f = *state;
    int64_t before = db_peek_int(f->peek, "PRAGMA data_version");
    reopen(f);
    /* data_version changes when another connection commits a change to the file. */
    assert_int_equal(db_peek_int(f->peek, "PRAGMA data_version"), before);
    peek_exec(f, "UPDATE tenants SET name = CAST(X'FF' AS TEXT)");
    before = db_peek_int(f->peek, "PRAGMA data_version");
    reopen(f);
    assert_true(db_peek_int(f->peek, "PRAGMA data_version") != before);
}

static void test_repair_that_would_break_a_unique_index_appends_the_rowid(void **state)
{
    struct fx *f = *state;
    char sql[512], buf[128], want[64];

    /* Two codes that differ only in their invalid byte both repair to "C" U+FFFD. */
    for (int i = 0; i < 2; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO work_centres(tenant_id, code, name, capacity, display_order,"
                 " is_active, created_at, updated_at) VALUES (%lld, CAST(X'43%s' AS TEXT),"
                 " 'W', 1, %d, 1, 'x', 'x')", (long long)f->tenant, i ? "FE" : "FF", i);
        peek_exec(f, sql);
    }
    int64_t second = db_peek_int(f->peek, "SELECT max(id) FROM work_centres");
    reopen(f);
    assert_int_equal(db_peek_int(f->peek, "SELECT count(*) FROM work_centres"
                                          " WHERE code = 'C' || char(65533)"), 1);
    snprintf(want, sizeof(want), "C\xef\xbf\xbd~%lld", (long long)second);
    snprintf(sql, sizeof(sql), "SELECT code FROM work_centres WHERE id = %lld", (long long)second);
    assert_string_equal(peek_hex(f, buf, sizeof(buf), sql), want);
}

static void test_tenant_and_user_with_invalid_utf8_are_refused_and_not_stored(void **state)
{
    struct fx *f = *state;
    struct store *s;
    int64_t id = 0;
    assert_int_equal(store_open(&s, f->path, NULL), 0);
    assert_int_equal(store_tenant_create(s, "bad", "Bad \xff", &id), PB_EVALIDATION);
    assert_int_equal(store_user_create(s, f->tenant, "kim\xc0\xaf", "kim@acme.test", "$h",
                                       ROLE_VIEWER, "", "", &id), PB_EVALIDATION);
    assert_int_equal(store_user_create(s, f->tenant, "kim", "kim@acme.test", "$h",
                                       ROLE_VIEWER, "K\xed\xa0\x80", "", &id), PB_EVALIDATION);
    assert_int_equal(store_user_create(s, f->tenant, "kim", "kim@acme.test", "$h",
                                       ROLE_VIEWER, "Kim", "Lee", &id), 0);
    store_free(s);
    assert_int_equal(db_peek_int(f->peek, "SELECT count(*) FROM tenants"), 1);
    assert_int_equal(db_peek_int(f->peek, "SELECT count(*) FROM users"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_open_replaces_invalid_utf8_by_fffd_and_removes_nul_in_every_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_of_a_valid_database_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_tenant_and_user_with_invalid_utf8_are_refused_and_not_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_repair_that_would_break_a_unique_index_appends_the_rowid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
