/* Unit tests of server/config: defaults, INI parsing, errors, PORT override. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/errors.h"
#include "server/config.h"

static char path[64];

static void write_ini(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/pb-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_defaults_match_spec(void **state)
{
    struct config c;
    (void)state;
    config_defaults(&c);
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.bind, "127.0.0.1");
    assert_int_equal(c.lock_ttl_seconds, 30);
    assert_int_equal(c.access_ttl, 900);
    assert_int_equal(c.max_upload, 10 << 20);
    assert_int_equal(c.max_import_rows, 200000);
    assert_int_equal(c.max_orders_per_tenant, 100000);
    assert_int_equal(c.ws_queue_bytes, 1 << 20);
    assert_int_equal(c.login_rate_per_minute, 10);
    assert_int_equal(c.login_max_inflight, 64);
}

static void test_load_overrides_values_and_keeps_others(void **state)
{
    struct config c;
    char err[256];
    (void)state;
    write_ini("; comment\n[server]\nport = 9090\n# another\n[locks]\nttl_seconds=5\n"
              "[database]\npath = /tmp/x.db\nsynchronous = FULL\n");
    config_defaults(&c);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.port, 9090);
    assert_int_equal(c.lock_ttl_seconds, 5);
    assert_string_equal(c.db_path, "/tmp/x.db");
    assert_string_equal(c.synchronous, "FULL");
    assert_int_equal(c.access_ttl, 900);
    unlink(path);
}

static void test_unknown_key_is_an_error_with_line_number(void **state)
{
    struct config c;
    char err[256];
    (void)state;
    write_ini("[server]\nport = 1\nprot = 2\n");
    config_defaults(&c);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
    assert_non_null(strstr(err, ":3:"));
    assert_non_null(strstr(err, "server.prot"));
    unlink(path);
}

static void test_bad_values_are_errors(void **state)
{
    static const char *const bad[] = {
        "[server]\nport = 70000\n", "[server]\nport = 80x\n", "[locks]\nttl_seconds = 0\n",
        "[database]\nsynchronous = OFF\n", "[server]\nlog_level = loud\n", "[server\n",
        "[server]\njust words\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct config c;
        char err[256] = "";
        write_ini(bad[i]);
        config_defaults(&c);
        assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
        assert_true(strlen(err) > 0);
        unlink(path);
    }
}

static void test_transport_limits_default_and_load(void **state)
{
    struct config c;
    char err[256] = "";
    (void)state;
    config_defaults(&c);
    assert_int_equal(c.body_timeout_seconds, 30);
    assert_int_equal(c.max_conns_per_address, 256);
    write_ini("[limits]\nbody_timeout_seconds = 2\nmax_conns_per_address = 10000\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.body_timeout_seconds, 2);
    assert_int_equal(c.max_conns_per_address, 10000);
    write_ini("[limits]\nmax_conns_per_address = 0\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
    write_ini("[limits]\nbody_timeout_seconds = 0\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
    unlink(path);
}

static void test_webhook_settings_default_load_and_take_true_or_false(void **state)
{
    struct config c;
    char err[256] = "";
    (void)state;
    config_defaults(&c);
    assert_false(c.webhook_allow_private);              /* SPEC §11: refused by default */
    assert_int_equal(c.webhook_retry_base_ms, 1000);    /* 1 s doubling to 1 h, 24 h, 10 s */
    assert_int_equal(c.webhook_retry_max_ms, 3600000);
    assert_int_equal(c.webhook_give_up_seconds, 86400);
    assert_int_equal(c.webhook_timeout_ms, 10000);
    write_ini("[webhooks]\nallow_private = true\nretry_base_ms = 50\ngive_up_seconds = 2\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_true(c.webhook_allow_private);
    assert_int_equal(c.webhook_retry_base_ms, 50);
    assert_int_equal(c.webhook_give_up_seconds, 2);
    write_ini("[webhooks]\nallow_private = FALSE\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_false(c.webhook_allow_private);
    write_ini("[webhooks]\nallow_private = maybe\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
    assert_non_null(strstr(err, "webhooks.allow_private must be true or false"));
    write_ini("[webhooks]\nretry_base_ms = 0\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
    unlink(path);
}

static void test_database_url_sqlite_sets_the_path_postgresql_the_url(void **state)
{
    struct config c;
    char err[300] = "";
    (void)state;
    config_defaults(&c);
    write_ini("[database]\npath = a.db\nurl = sqlite:/srv/pb/b.db\n");     /* SPEC §12 */
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.db_path, "/srv/pb/b.db");
    config_defaults(&c);
    write_ini("[database]\nurl = postgresql://pb:secret@db:5432/planboard\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.db_path, "postgresql://pb:secret@db:5432/planboard");
    config_defaults(&c);
    write_ini("[database]\nurl = mysql://pb:secret@db/x\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
    assert_null(strstr(err, "secret"));                /* the password is not echoed */
    config_defaults(&c);
    write_ini("[database]\nurl = sqlite:\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
    write_ini("[database]\nurl = mysql://x\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), PB_EVALIDATION);
    assert_non_null(strstr(err, "database.url must be sqlite:PATH"));
    unlink(path);
}

static void test_missing_file_is_not_found(void **state)
{
    struct config c;
    char err[256];
    (void)state;
    config_defaults(&c);
    assert_int_equal(config_load(&c, "/nonexistent/pb.ini", err, sizeof(err)), PB_ENOT_FOUND);
}

static void test_port_env_overrides(void **state)
{
    struct config c;
    char err[256];
    (void)state;
    config_defaults(&c);
    setenv("PORT", "18123", 1);
    assert_int_equal(config_env(&c, err, sizeof(err)), 0);
    assert_int_equal(c.port, 18123);
    setenv("PORT", "nope", 1);
    assert_int_equal(config_env(&c, err, sizeof(err)), PB_EVALIDATION);
    unsetenv("PORT");
}

static void test_example_config_loads(void **state)
{
    struct config c;
    char err[256];
    (void)state;
    config_defaults(&c);
    assert_int_equal(config_load(&c, "config.example.ini", err, sizeof(err)), 0);
    assert_int_equal(c.port, 8080);
    assert_false(c.webhook_allow_private);
    assert_int_equal(c.webhook_retry_base_ms, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_spec),
        cmocka_unit_test(test_load_overrides_values_and_keeps_others),
        cmocka_unit_test(test_unknown_key_is_an_error_with_line_number),
        cmocka_unit_test(test_bad_values_are_errors),
        cmocka_unit_test(test_transport_limits_default_and_load),
        cmocka_unit_test(test_webhook_settings_default_load_and_take_true_or_false),
        cmocka_unit_test(test_database_url_sqlite_sets_the_path_postgresql_the_url),
        cmocka_unit_test(test_missing_file_is_not_found),
        cmocka_unit_test(test_port_env_overrides),
        cmocka_unit_test(test_example_config_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
