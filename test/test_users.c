/*
 * test_users — tenant settings and user administration (store/users.c) against a real SQLite
 * file in a temp directory. A second, independent connection ("peek") reads what was really
 * committed.
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
#include "store/users.h"

/* ---------------------------------------------------------------- fixture */

struct fx {
    char dir[64];
    char path[96];
    struct store *s;
    sqlite3 *peek;
    int64_t tenant, other_tenant;
    int64_t admin;              /* the tenant's only admin at start */
    int64_t sam;                /* scheduler */
    int64_t other_admin;        /* admin of other_tenant */
};

#include "test/db_peek.h"
#include "test/test_db.h"
#define peek_int(f, ...) db_peek_int((f)->peek, __VA_ARGS__)


/* A text column of the first row into buf ("" when none). */
static const char *peek_text(struct fx *f, char *buf, size_t len, const char *sql)
{
    sqlite3_stmt *st;
    buf[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(f->peek, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

static int64_t audits(struct fx *f, const char *type)
{
    return peek_int(f, "SELECT COUNT(*) FROM audit_log WHERE event_type = '%s'", type);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    test_db_open(f->dir, f->path, &f->s, &f->peek, "users", NULL);
    assert_int_equal(store_tenant_create(f->s, "acme", "Acme Ltd", &f->tenant), 0);
    assert_int_equal(store_tenant_create(f->s, "other", "Other Co", &f->other_tenant), 0);
    assert_int_equal(store_user_create(f->s, f->tenant, "ada", "ada@acme.test", "$argon2id$a",
                                       ROLE_ADMIN, "Ada", "L", &f->admin), 0);
    assert_int_equal(store_user_create(f->s, f->tenant, "sam", "sam@acme.test", "$argon2id$s",
                                       ROLE_SCHEDULER, "Sam", "S", &f->sam), 0);
    assert_int_equal(store_user_create(f->s, f->other_tenant, "boss", "boss@other.test",
                                       "$argon2id$b", ROLE_ADMIN, "", "", &f->other_admin), 0);
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

static struct user_fields fields(const char *username, const char *email, int role)
{
    struct user_fields uf;
    user_fields_init(&uf);
    uf.username = username;
    uf.email = email;
    uf.password_hash = "$argon2id$secret-hash";
    uf.role = role;
    return uf;
}

/* Add a user; returns its id. */
static int64_t add(struct fx *f, const char *username, const char *email, int role)
{
    struct user_fields uf = fields(username, email, role);
    struct user u;
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, NULL), 0);
    int64_t id = u.id;
    user_cleanup(&u);
    return id;
}

/* Collect reported fields into a comma-separated list. */
struct report {
    char fields[512];
    int n;
};
static void collect(void *ctx, const char *field, const char *message)
{
    struct report *r = ctx;
    size_t len = strlen(r->fields);
    assert_non_null(message);
    snprintf(r->fields + len, sizeof(r->fields) - len, "%s%s", len ? "," : "", field);
    r->n++;
}

/* ---------------------------------------------------------------- validation */

static void test_user_fields_check_applies_the_spec_rules(void **state)
{
    (void)state;
    struct user_fields uf;
    struct report r = { "", 0 };

    uf = fields("ok.user_1-x", "a@b", ROLE_VIEWER);
    assert_int_equal(user_fields_check(&uf, "twelve-chars", true, collect, &r), 0);

    uf = fields("ab", "no-at-sign", -1);            /* too short, no @ */
    uf.password_hash = NULL;
    assert_int_equal(user_fields_check(&uf, "short", true, collect, &r), 3);
    assert_string_equal(r.fields, "username,email,password");

    memset(&r, 0, sizeof(r));
    char long_name[60];
    memset(long_name, 'a', 51);
    long_name[51] = '\0';
    uf = fields(long_name, "has space@x", 7);
    assert_int_equal(user_fields_check(&uf, NULL, true, collect, &r), 3);
    assert_string_equal(r.fields, "username,email,role");

    memset(&r, 0, sizeof(r));
    uf = fields("bad/char", "x@y", -1);
    assert_int_equal(user_fields_check(&uf, NULL, false, collect, &r), 1);
    assert_string_equal(r.fields, "username");

    /* an update needs nothing; a create needs username, email and a password */
    memset(&r, 0, sizeof(r));
    user_fields_init(&uf);
    assert_int_equal(user_fields_check(&uf, NULL, false, collect, &r), 0);
    assert_int_equal(user_fields_check(&uf, NULL, true, collect, &r), 3);
    assert_string_equal(r.fields, "username,email,password");

    /* 12 code points of UTF-8 are enough even though they are more bytes */
    memset(&r, 0, sizeof(r));
    assert_int_equal(user_fields_check(&uf, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                            "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", false,
                                       collect, &r), 1);    /* 11 code points */
    char name101[110];
    memset(name101, 'n', 101);
    name101[101] = '\0';
    memset(&r, 0, sizeof(r));
    uf.first_name = name101;
    uf.last_name = name101 + 1;                      /* exactly 100: fine */
    assert_int_equal(user_fields_check(&uf, NULL, false, collect, &r), 1);
    assert_string_equal(r.fields, "first_name");
}

static void test_timezone_must_be_a_compiled_iana_zone(void **state)
{
    (void)state;
    assert_true(tenant_timezone_valid("UTC"));
    assert_true(tenant_timezone_valid("Europe/London"));
    assert_true(tenant_timezone_valid("America/New_York"));
    assert_false(tenant_timezone_valid("Mars/Olympus_Mons"));
    assert_false(tenant_timezone_valid("zone.tab"));        /* a tzdata file, not a zone */
    assert_false(tenant_timezone_valid("../../etc/passwd"));
    assert_false(tenant_timezone_valid(""));
    assert_false(tenant_timezone_valid("Europe"));           /* a directory */
}

/* ---------------------------------------------------------------- tenant */

static void test_tenant_update_is_partial_and_writes_one_audit_row(void **state)
{
    struct fx *f = *state;
    struct tenant t;
    char buf[256];

    struct tenant_patch p = { .timezone = "Europe/London" };
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), 0);
    assert_string_equal(t.name, "Acme Ltd");
    assert_string_equal(t.timezone, "Europe/London");
    assert_int_equal(t.daily_target, 0);
    tenant_cleanup(&t);
    assert_int_equal(audits(f, "tenant_updated"), 1);

    p = (struct tenant_patch){ .name = "Acme \"Works\"", .has_daily_target = true,
                               .daily_target = 250 };
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), 0);
    assert_string_equal(t.name, "Acme \"Works\"");
    assert_string_equal(t.timezone, "Europe/London");
    assert_int_equal(t.daily_target, 250);
    tenant_cleanup(&t);
    assert_int_equal(audits(f, "tenant_updated"), 2);
    assert_string_equal(peek_text(f, buf, sizeof(buf),
                        "SELECT event_data FROM audit_log WHERE event_type = 'tenant_updated' "
                        "ORDER BY id DESC"),
                        "{\"changes\":{\"name\":\"Acme \\\"Works\\\"\",\"dailyTarget\":250}}");
    assert_int_equal(peek_int(f, "SELECT user_id FROM audit_log WHERE event_type = "
                                 "'tenant_updated' ORDER BY id DESC"), f->admin);
    assert_int_equal(peek_int(f, "SELECT daily_target FROM tenants WHERE id = %lld",
                              (long long)f->tenant), 250);
    /* the other tenant is untouched */
    assert_int_equal(store_tenant_get(f->s, f->other_tenant, &t), 0);
    assert_string_equal(t.name, "Other Co");
    assert_string_equal(t.timezone, "UTC");
    tenant_cleanup(&t);

    /* same values again: nothing to write, no audit row */
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), 0);
    tenant_cleanup(&t);
    assert_int_equal(audits(f, "tenant_updated"), 2);
}

static void test_tenant_update_rejects_bad_fields_and_unknown_tenant(void **state)
{
    struct fx *f = *state;
    struct tenant t = { .id = 4242 };
    struct report r = { "", 0 };

    struct tenant_patch p = { .timezone = "Not/AZone" };
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), PB_EVALIDATION);
    p = (struct tenant_patch){ .name = "" };
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), PB_EVALIDATION);
    p = (struct tenant_patch){ .has_daily_target = true, .daily_target = -1 };
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), PB_EVALIDATION);
    assert_int_equal(t.id, 4242);                   /* output untouched */
    char long_name[120];
    memset(long_name, 'x', 101);
    long_name[101] = '\0';
    p = (struct tenant_patch){ .name = long_name, .timezone = "Nowhere",
                               .has_daily_target = true, .daily_target = -5 };
    assert_int_equal(tenant_patch_check(&p, collect, &r), 3);
    assert_string_equal(r.fields, "name,timezone,daily_target");

    p = (struct tenant_patch){ .name = "Ghost" };
    assert_int_equal(store_tenant_update(f->s, 999, &p, f->admin, &t), PB_ENOT_FOUND);
    assert_int_equal(audits(f, "tenant_updated"), 0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM tenants WHERE timezone <> 'UTC'"), 0);
}

/* ---------------------------------------------------------------- users */

static void test_user_add_stores_fields_and_never_audits_the_hash(void **state)
{
    struct fx *f = *state;
    struct user u;
    char buf[512];
    struct user_fields uf = fields("new.one", "new@acme.test", ROLE_SCHEDULER);
    uf.first_name = "New";
    uf.last_name = "One";
    uf.is_active = 0;

    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, NULL), 0);
    assert_true(u.id > 0);
    assert_int_equal(u.tenant_id, f->tenant);
    assert_string_equal(u.username, "new.one");
    assert_string_equal(u.email, "new@acme.test");
    assert_string_equal(u.first_name, "New");
    assert_string_equal(u.last_name, "One");
    assert_int_equal(u.role, ROLE_SCHEDULER);
    assert_false(u.is_active);
    assert_string_equal(u.password_hash, "$argon2id$secret-hash");
    assert_int_equal(strlen(u.created_at), 20);
    int64_t id = u.id;
    user_cleanup(&u);

    assert_int_equal(audits(f, "user_created"), 1);
    peek_text(f, buf, sizeof(buf), "SELECT event_data FROM audit_log "
                                   "WHERE event_type = 'user_created'");
    assert_null(strstr(buf, "argon2"));
    assert_null(strstr(buf, "secret"));
    assert_non_null(strstr(buf, "\"username\":\"new.one\""));
    assert_int_equal(peek_int(f, "SELECT is_active FROM users WHERE id = %lld", (long long)id), 0);

    /* defaults: viewer, active, empty names */
    uf = fields("plain", "plain@acme.test", -1);
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, NULL), 0);
    assert_int_equal(u.role, ROLE_VIEWER);
    assert_true(u.is_active);
    assert_string_equal(u.first_name, "");
    user_cleanup(&u);

    /* the store checks the rules too */
    uf = fields("x", "plain2@acme.test", -1);
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, NULL), PB_EVALIDATION);
    uf = fields("nohash", "nohash@acme.test", -1);
    uf.password_hash = NULL;
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, NULL), PB_EVALIDATION);
    assert_int_equal(audits(f, "user_created"), 2);
}

static void test_username_and_email_are_unique_among_live_users_of_a_tenant(void **state)
{
    struct fx *f = *state;
    struct user u = { .id = 777 };
    const char *conflict = NULL;

    struct user_fields uf = fields("sam", "fresh@acme.test", -1);
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, &conflict), PB_ECONFLICT);
    assert_string_equal(conflict, "username");
    uf = fields("fresh", "sam@acme.test", -1);
    conflict = NULL;
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, &conflict), PB_ECONFLICT);
    assert_string_equal(conflict, "email");
    assert_int_equal(u.id, 777);                    /* output untouched */
    assert_int_equal(audits(f, "user_created"), 0);

    /* another tenant may use the same username and email */
    uf = fields("sam", "sam@acme.test", -1);
    assert_int_equal(store_user_add(f->s, f->other_tenant, &uf, f->other_admin, &u, NULL), 0);
    user_cleanup(&u);

    /* updates: taking another user's name or email is a conflict; keeping one's own is not */
    struct user_fields ch;
    user_fields_init(&ch);
    ch.username = "ada";
    conflict = NULL;
    assert_int_equal(store_user_update(f->s, f->tenant, f->sam, &ch, f->admin, &u, NULL,
                                       &conflict), PB_ECONFLICT);
    assert_string_equal(conflict, "username");
    user_fields_init(&ch);
    ch.email = "ada@acme.test";
    assert_int_equal(store_user_update(f->s, f->tenant, f->sam, &ch, f->admin, &u, NULL,
                                       &conflict), PB_ECONFLICT);
    assert_string_equal(conflict, "email");
    user_fields_init(&ch);
    ch.username = "sam";
    ch.email = "sam@acme.test";
    unsigned changed = 99;
    assert_int_equal(store_user_update(f->s, f->tenant, f->sam, &ch, f->admin, &u, &changed,
                                       NULL), 0);
    assert_int_equal(changed, 0);                   /* same values: no change, no audit */
    user_cleanup(&u);
    assert_int_equal(audits(f, "user_updated"), 0);
}

static void test_soft_delete_hides_the_user_and_frees_username_and_email(void **state)
{
    struct fx *f = *state;
    struct user u;
    struct user *list = NULL;
    size_t n = 0;
    int64_t total = 0;

    int64_t vic = add(f, "victim", "victim@acme.test", ROLE_VIEWER);
    assert_int_equal(store_user_delete(f->s, f->tenant, vic, f->admin), 0);
    assert_int_equal(audits(f, "user_deleted"), 1);
    /* the row stays (audit history refers to it), marked deleted */
    assert_int_equal(peek_int(f, "SELECT deleted_at IS NOT NULL FROM users WHERE id = %lld",
                              (long long)vic), 1);
    assert_int_equal(store_user_get(f->s, f->tenant, vic, &u), PB_ENOT_FOUND);
    assert_int_equal(store_user_by_username(f->s, f->tenant, "victim", &u), PB_ENOT_FOUND);
    assert_int_equal(store_user_delete(f->s, f->tenant, vic, f->admin), PB_ENOT_FOUND);
    struct user_fields ch;
    user_fields_init(&ch);
    ch.first_name = "Zombie";
    assert_int_equal(store_user_update(f->s, f->tenant, vic, &ch, f->admin, &u, NULL, NULL),
                     PB_ENOT_FOUND);
    assert_int_equal(store_user_list(f->s, f->tenant, 50, 0, &list, &n, &total), 0);
    assert_int_equal(total, 2);
    for (size_t i = 0; i < n; i++)
        assert_true(list[i].id != vic);
    store_user_list_free(list, n);

    /* the name and email can be used again, by a new user */
    int64_t again = add(f, "victim", "victim@acme.test", ROLE_SCHEDULER);
    assert_true(again != vic);
    assert_int_equal(store_user_by_username(f->s, f->tenant, "victim", &u), 0);
    assert_int_equal(u.id, again);
    user_cleanup(&u);
    assert_int_equal(audits(f, "user_deleted"), 1);
}

static void test_other_tenants_users_are_not_found(void **state)
{
    struct fx *f = *state;
    struct user u;
    struct user_fields ch;
    user_fields_init(&ch);
    ch.role = ROLE_VIEWER;

    assert_int_equal(store_user_update(f->s, f->tenant, f->other_admin, &ch, f->admin, &u, NULL,
                                       NULL), PB_ENOT_FOUND);
    assert_int_equal(store_user_delete(f->s, f->tenant, f->other_admin, f->admin), PB_ENOT_FOUND);
    assert_int_equal(peek_int(f, "SELECT role = 'admin' AND deleted_at IS NULL FROM users "
                                 "WHERE id = %lld", (long long)f->other_admin), 1);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM audit_log"), 0);
}

static void test_last_active_admin_cannot_be_deleted_demoted_or_deactivated(void **state)
{
    struct fx *f = *state;
    struct user u;
    struct user_fields ch;
    const char *conflict = NULL;

    assert_int_equal(store_user_delete(f->s, f->tenant, f->admin, f->admin), PB_ECONFLICT);
    user_fields_init(&ch);
    ch.role = ROLE_SCHEDULER;
    assert_int_equal(store_user_update(f->s, f->tenant, f->admin, &ch, f->admin, &u, NULL,
                                       &conflict), PB_ECONFLICT);
    assert_string_equal(conflict, "role");
    user_fields_init(&ch);
    ch.is_active = 0;
    assert_int_equal(store_user_update(f->s, f->tenant, f->admin, &ch, f->admin, &u, NULL,
                                       &conflict), PB_ECONFLICT);
    assert_string_equal(conflict, "isActive");
    /* other changes to the last admin are fine */
    user_fields_init(&ch);
    ch.last_name = "Lovelace";
    ch.role = ROLE_ADMIN;
    ch.is_active = 1;
    unsigned changed = 0;
    assert_int_equal(store_user_update(f->s, f->tenant, f->admin, &ch, f->admin, &u, &changed,
                                       NULL), 0);
    assert_int_equal(changed, USER_CHANGED_NAME);
    assert_string_equal(u.last_name, "Lovelace");
    user_cleanup(&u);

    /* an inactive admin does not count as the "other" admin */
    struct user_fields uf = fields("sleepy", "sleepy@acme.test", ROLE_ADMIN);
    uf.is_active = 0;
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, NULL), 0);
    int64_t sleepy = u.id;
    user_cleanup(&u);
    int64_t admins = 0;
    assert_int_equal(store_user_active_admins(f->s, f->tenant, &admins), 0);
    assert_int_equal(admins, 1);
    assert_int_equal(store_user_delete(f->s, f->tenant, f->admin, f->admin), PB_ECONFLICT);
    /* ... and can itself be deleted, being no active admin */
    assert_int_equal(store_user_delete(f->s, f->tenant, sleepy, f->admin), 0);

    /* the other tenant's admin does not count either */
    assert_int_equal(store_user_active_admins(f->s, f->other_tenant, &admins), 0);
    assert_int_equal(admins, 1);

    /* with a second active admin, the first may go */
    int64_t second = add(f, "second", "second@acme.test", ROLE_ADMIN);
    user_fields_init(&ch);
    ch.role = ROLE_VIEWER;
    assert_int_equal(store_user_update(f->s, f->tenant, f->admin, &ch, f->admin, &u, &changed,
                                       NULL), 0);
    assert_int_equal(changed, USER_CHANGED_ROLE);
    assert_int_equal(u.role, ROLE_VIEWER);
    user_cleanup(&u);
    /* now "second" is the last one */
    assert_int_equal(store_user_delete(f->s, f->tenant, second, second), PB_ECONFLICT);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM users WHERE tenant_id = %lld AND "
                                 "role = 'admin' AND is_active = 1 AND deleted_at IS NULL",
                              (long long)f->tenant), 1);
}

static void test_update_reports_what_changed_and_audits_it(void **state)
{
    struct fx *f = *state;
    struct user u;
    struct user_fields ch;
    unsigned changed = 0;
    char buf[512];

    user_fields_init(&ch);
    ch.password_hash = "$argon2id$new-secret";
    ch.role = ROLE_VIEWER;
    ch.is_active = 0;
    ch.email = "samuel@acme.test";
    assert_int_equal(store_user_update(f->s, f->tenant, f->sam, &ch, f->admin, &u, &changed,
                                       NULL), 0);
    assert_int_equal(changed, USER_CHANGED_PASSWORD | USER_CHANGED_ROLE | USER_CHANGED_ACTIVE
                              | USER_CHANGED_EMAIL);
    assert_string_equal(u.password_hash, "$argon2id$new-secret");
    assert_string_equal(u.email, "samuel@acme.test");
    assert_string_equal(u.username, "sam");
    assert_int_equal(u.role, ROLE_VIEWER);
    assert_false(u.is_active);
    user_cleanup(&u);
    assert_int_equal(audits(f, "user_updated"), 1);
    peek_text(f, buf, sizeof(buf), "SELECT event_data FROM audit_log "
                                   "WHERE event_type = 'user_updated'");
    assert_string_equal(buf, "{\"userId\":2,\"changes\":[\"email\",\"password\",\"role\","
                             "\"isActive\"],\"roleFrom\":\"scheduler\",\"roleTo\":\"viewer\","
                             "\"isActive\":false}");
    assert_null(strstr(buf, "argon2"));
    char hash[64];
    peek_text(f, hash, sizeof(hash), "SELECT password_hash FROM users WHERE username = 'sam'");
    assert_string_equal(hash, "$argon2id$new-secret");

    /* bad input is refused by the store itself */
    user_fields_init(&ch);
    ch.username = "no spaces";
    assert_int_equal(store_user_update(f->s, f->tenant, f->sam, &ch, f->admin, &u, &changed,
                                       NULL), PB_EVALIDATION);
    assert_int_equal(changed, 0);
    assert_int_equal(audits(f, "user_updated"), 1);
}

static void test_user_list_is_paginated_by_id_with_the_total(void **state)
{
    struct fx *f = *state;
    struct user *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    char name[32], email[64];

    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        snprintf(email, sizeof(email), "user%d@acme.test", i);
        add(f, name, email, ROLE_VIEWER);
    }
    assert_int_equal(store_user_list(f->s, f->tenant, 4, 3, &list, &n, &total), 0);
    assert_int_equal(total, 9);
    assert_int_equal(n, 4);
    for (size_t i = 1; i < n; i++)
        assert_true(list[i - 1].id < list[i].id);
    assert_string_equal(list[0].username, "user1");   /* ada, sam, user0, then user1 */
    assert_string_equal(list[0].password_hash, "");   /* lists never carry the hash */
    store_user_list_free(list, n);

    assert_int_equal(store_user_list(f->s, f->tenant, 50, 100, &list, &n, &total), 0);
    assert_int_equal(n, 0);
    assert_int_equal(total, 9);
    store_user_list_free(list, n);
    assert_int_equal(store_user_list(f->s, f->tenant, 0, 0, &list, &n, &total), 0);
    assert_int_equal(n, 0);
    store_user_list_free(list, n);

    assert_int_equal(store_user_list(f->s, f->other_tenant, 50, 0, &list, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].username, "boss");
    store_user_list_free(list, n);
}

/* ---------------------------------------------------------------- failures */

/* Everything a snapshot compares: users, tenants and the audit log. */
static void snapshot(struct fx *f, char *buf, size_t len)
{
    peek_text(f, buf, len,
              "SELECT (SELECT group_concat(id || username || email || role || is_active || "
              "password_hash || first_name || last_name || updated_at || "
              "IFNULL(deleted_at, '-'), ';') FROM users) || '|' || "
              "(SELECT group_concat(id || name || timezone || daily_target, ';') FROM tenants)"
              " || '|' || (SELECT COUNT(*) FROM audit_log)");
}

static void test_failed_write_changes_nothing(void **state)
{
    struct fx *f = *state;
    char before[4096], after[4096];
    struct user u = { .id = 555 };
    struct tenant t = { .id = 556 };
    struct user_fields ch;

    snapshot(f, before, sizeof(before));
    assert_true(strlen(before) > 10);
    assert_int_equal(store_exec(f->s, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;"), 0);
    struct user_fields uf = fields("newbie", "newbie@acme.test", ROLE_ADMIN);
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, NULL), PB_EINTERNAL);
    assert_non_null(strstr(store_errmsg(f->s), "boom"));
    user_fields_init(&ch);
    ch.username = "renamed";
    ch.role = ROLE_ADMIN;
    ch.password_hash = "$argon2id$other";
    assert_int_equal(store_user_update(f->s, f->tenant, f->sam, &ch, f->admin, &u, NULL, NULL),
                     PB_EINTERNAL);
    assert_int_equal(store_user_delete(f->s, f->tenant, f->sam, f->admin), PB_EINTERNAL);
    struct tenant_patch p = { .name = "Renamed", .timezone = "Asia/Tokyo" };
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), PB_EINTERNAL);
    assert_int_equal(u.id, 555);
    assert_int_equal(t.id, 556);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);

    /* the store works again once the cause is gone */
    assert_int_equal(store_exec(f->s, "DROP TRIGGER fail_audit"), 0);
    assert_int_equal(store_user_delete(f->s, f->tenant, f->sam, f->admin), 0);
    assert_int_equal(audits(f, "user_deleted"), 1);
}

/* COMMIT itself fails: with deferred foreign keys, a dangling reference written by a trigger
 * is only detected at COMMIT, after every statement of the mutation succeeded. */
static void test_failed_commit_changes_nothing(void **state)
{
    struct fx *f = *state;
    char before[4096], after[4096];
    struct user u = { .id = 555 };
    struct tenant t = { .id = 556 };
    struct user_fields ch;

    snapshot(f, before, sizeof(before));
    assert_int_equal(store_exec(f->s, "CREATE TRIGGER dangling AFTER INSERT ON audit_log BEGIN "
                                      "INSERT INTO sessions(tenant_id, user_id, refresh_hash, "
                                      "created_at, expires_at) VALUES (98765, 98765, "
                                      "'h' || NEW.id, 'x', 'y'); END;"), 0);

    assert_int_equal(store_exec(f->s, "PRAGMA defer_foreign_keys = ON"), 0);
    struct user_fields uf = fields("newbie", "newbie@acme.test", ROLE_VIEWER);
    assert_int_equal(store_user_add(f->s, f->tenant, &uf, f->admin, &u, NULL), PB_EINTERNAL);
    assert_non_null(strstr(store_errmsg(f->s), "commit"));

    assert_int_equal(store_exec(f->s, "PRAGMA defer_foreign_keys = ON"), 0);
    user_fields_init(&ch);
    ch.is_active = 0;
    assert_int_equal(store_user_update(f->s, f->tenant, f->sam, &ch, f->admin, &u, NULL, NULL),
                     PB_EINTERNAL);
    assert_non_null(strstr(store_errmsg(f->s), "commit"));

    assert_int_equal(store_exec(f->s, "PRAGMA defer_foreign_keys = ON"), 0);
    assert_int_equal(store_user_delete(f->s, f->tenant, f->sam, f->admin), PB_EINTERNAL);
    assert_non_null(strstr(store_errmsg(f->s), "commit"));

    assert_int_equal(store_exec(f->s, "PRAGMA defer_foreign_keys = ON"), 0);
    struct tenant_patch p = { .has_daily_target = true, .daily_target = 9 };
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), PB_EINTERNAL);
    assert_non_null(strstr(store_errmsg(f->s), "commit"));

    assert_int_equal(u.id, 555);
    assert_int_equal(t.id, 556);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM sessions"), 0);

    /* no transaction was left open: the next write works */
    assert_int_equal(store_exec(f->s, "DROP TRIGGER dangling"), 0);
    assert_int_equal(store_tenant_update(f->s, f->tenant, &p, f->admin, &t), 0);
    assert_int_equal(t.daily_target, 9);
    tenant_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        cmocka_unit_test(test_user_fields_check_applies_the_spec_rules),
        cmocka_unit_test(test_timezone_must_be_a_compiled_iana_zone),
        T(test_tenant_update_is_partial_and_writes_one_audit_row),
        T(test_tenant_update_rejects_bad_fields_and_unknown_tenant),
        T(test_user_add_stores_fields_and_never_audits_the_hash),
        T(test_username_and_email_are_unique_among_live_users_of_a_tenant),
        T(test_soft_delete_hides_the_user_and_frees_username_and_email),
        T(test_other_tenants_users_are_not_found),
        T(test_last_active_admin_cannot_be_deleted_demoted_or_deactivated),
        T(test_update_reports_what_changed_and_audits_it),
        T(test_user_list_is_paginated_by_id_with_the_total),
        T(test_failed_write_changes_nothing),
        T(test_failed_commit_changes_nothing),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
