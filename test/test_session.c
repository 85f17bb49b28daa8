/*
 * test_session — refresh-token sessions (store/session.c) and group commit (issue 8 item 8):
 * with [database] synchronous = FULL the server holds each answer until the commit sequence
 * number current at answer time is on disk (server/durable.c). A session write that is not a
 * counted commit (a bare autocommit statement) gets no number, so its login, refresh or logout
 * answer went out before its fdatasync. Each write must advance store_commit_seq and call the
 * commit hook, which is what durable.c syncs for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store/db.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/errors.h"
#include "store/session.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char path[96];
    struct store *s;
    sqlite3 *peek;
    int64_t tenant, user;
    uint64_t hook_calls, hook_seq;      /* what the commit hook saw */
};

#include "test/db_peek.h"
#include "test/test_db.h"

static void on_commit(void *ctx, uint64_t seq)
{
    struct fx *f = ctx;
    f->hook_calls++;
    f->hook_seq = seq;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_options o = { .synchronous = "FULL", .group_commit = true };
    assert_non_null(f);
    test_db_open(f->dir, f->path, &f->s, &f->peek, "session", &o);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_user_create(f->s, f->tenant, "sam", "sam@acme.test", "$argon2id$s",
                                       ROLE_SCHEDULER, "Sam", "S", &f->user), 0);
    store_set_commit_hook(f->s, on_commit, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_db_close(f->dir, f->s, f->peek);
    free(f);
    return 0;
}

/* The last write was exactly one commit the hook saw, numbered after `before`. */
static void assert_one_commit(struct fx *f, uint64_t before, uint64_t calls_before)
{
    assert_int_equal(store_commit_seq(f->s), before + 1);
    assert_int_equal(f->hook_calls, calls_before + 1);
    assert_int_equal(f->hook_seq, before + 1);
}

static void test_login_session_create_is_a_commit_group_commit_waits_for(void **state)
{
    struct fx *f = *state;
    uint64_t seq = store_commit_seq(f->s), calls = f->hook_calls;
    int64_t id = 0;
    assert_int_equal(store_session_create(f->s, f->tenant, f->user, "h1", "sid1",
                                          "2999-01-01T00:00:00.000Z", &id), 0);
    assert_one_commit(f, seq, calls);
    assert_true(id > 0);
    assert_int_equal(db_peek_int(f->peek, "SELECT COUNT(*) FROM sessions WHERE id = %lld "
                                 "AND refresh_hash = 'h1'", (long long)id), 1);
}

static void test_refresh_rotation_is_a_commit_and_a_miss_is_none(void **state)
{
    struct fx *f = *state;
    char sid[32];
    int64_t tid = 0, uid = 0;
    assert_int_equal(store_session_create(f->s, f->tenant, f->user, "h1", "sid1",
                                          "2999-01-01T00:00:00.000Z", NULL), 0);
    uint64_t seq = store_commit_seq(f->s), calls = f->hook_calls;
    assert_int_equal(store_session_rotate(f->s, "h1", "h2", "2000-01-01T00:00:00.000Z", &tid,
                                          &uid, sid, sizeof(sid)), 0);
    assert_one_commit(f, seq, calls);
    assert_int_equal(tid, f->tenant);
    assert_int_equal(uid, f->user);
    assert_string_equal(sid, "sid1");
    assert_int_equal(db_peek_int(f->peek, "SELECT COUNT(*) FROM sessions WHERE "
                                 "refresh_hash = 'h2'"), 1);
    /* the old token again: 401, nothing written, no transaction left open */
    seq = store_commit_seq(f->s);
    assert_int_equal(store_session_rotate(f->s, "h1", "h3", "2000-01-01T00:00:00.000Z", &tid,
                                          &uid, sid, sizeof(sid)), PB_EUNAUTHORIZED);
    assert_int_equal(store_commit_seq(f->s), seq);
    assert_int_equal(store_session_create(f->s, f->tenant, f->user, "h9", "sid9",
                                          "2999-01-01T00:00:00.000Z", NULL), 0);
    assert_int_equal(store_commit_seq(f->s), seq + 1);
}

static void test_logout_and_user_revocation_are_commits(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_session_create(f->s, f->tenant, f->user, "h1", "sid1",
                                          "2999-01-01T00:00:00.000Z", NULL), 0);
    assert_int_equal(store_session_create(f->s, f->tenant, f->user, "h2", "sid2",
                                          "2999-01-01T00:00:00.000Z", NULL), 0);
    uint64_t seq = store_commit_seq(f->s), calls = f->hook_calls;
    assert_int_equal(store_session_revoke_jti(f->s, f->tenant, f->user, "sid1"), 0);
    assert_one_commit(f, seq, calls);
    assert_int_equal(db_peek_int(f->peek, "SELECT COUNT(*) FROM sessions WHERE "
                                 "access_jti = 'sid1' AND revoked_at IS NOT NULL"), 1);
    seq = store_commit_seq(f->s);
    calls = f->hook_calls;
    assert_int_equal(store_session_revoke_user(f->s, f->tenant, f->user), 0);
    assert_one_commit(f, seq, calls);
    assert_int_equal(db_peek_int(f->peek, "SELECT COUNT(*) FROM sessions WHERE "
                                 "revoked_at IS NULL"), 0);
}

/*
 * Inside a transaction the caller opened (a writer job's run on the sibling store), a store
 * write is a savepoint (store__begin "nested", docs/writer.md "SQL-only writes"): it succeeds
 * instead of failing on BEGIN, counts no commit (the writer's COMMIT does), its failure undoes
 * only its own part, and the caller's ROLLBACK undoes it all.
 */
static void test_writes_inside_an_open_transaction_are_savepoints(void **state)
{
    struct fx *f = *state;
    struct store *ws = NULL;
    char sid[32];
    int64_t tid = 0, uid = 0;
    assert_int_equal(store_open_sibling(f->s, "NORMAL", &ws), 0);
    sqlite3 *db = store_sibling_db(ws)->lite;
    uint64_t seq = store_commit_seq(ws);

    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_session_create(ws, f->tenant, f->user, "n1", "nsid1",
                                          "2999-01-01T00:00:00.000Z", NULL), 0);
    assert_false(sqlite3_get_autocommit(db));           /* still the caller's transaction */
    /* a miss rolls back its own savepoint only */
    assert_int_equal(store_session_rotate(ws, "nope", "x", "2000-01-01T00:00:00.000Z", &tid,
                                          &uid, sid, sizeof(sid)), PB_EUNAUTHORIZED);
    assert_false(sqlite3_get_autocommit(db));
    assert_int_equal(store_session_revoke_jti(ws, f->tenant, f->user, "nsid1"), 0);
    assert_int_equal(store_commit_seq(ws), seq);        /* no commit counted */
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(db_peek_int(f->peek, "SELECT COUNT(*) FROM sessions WHERE access_jti = "
                                 "'nsid1' AND revoked_at IS NOT NULL"), 1);

    /* the caller's ROLLBACK undoes a nested write that "committed" */
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_session_create(ws, f->tenant, f->user, "n2", "nsid2",
                                          "2999-01-01T00:00:00.000Z", NULL), 0);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(db_peek_int(f->peek, "SELECT COUNT(*) FROM sessions WHERE "
                                 "access_jti = 'nsid2'"), 0);

    /* outside a transaction the same store commits on its own again */
    assert_int_equal(store_session_create(ws, f->tenant, f->user, "n3", "nsid3",
                                          "2999-01-01T00:00:00.000Z", NULL), 0);
    assert_int_equal(store_commit_seq(ws), seq + 1);
    assert_true(sqlite3_get_autocommit(db));
    store_free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_session_create_is_a_commit_group_commit_waits_for,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_rotation_is_a_commit_and_a_miss_is_none,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout_and_user_revocation_are_commits,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_inside_an_open_transaction_are_savepoints,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
