/*
 * Unit tests for store/db.c — the statement layer's PostgreSQL connect (issue 13): a server
 * that accepts the TCP connection and then says nothing (a PostgreSQL host that hangs, a
 * half-open firewall) must not hold the caller for ever: the connect is bounded
 * (connect_timeout 5 s unless the URL names its own). Before, db_open waited as long as the
 * peer kept the socket open.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "store/db.h"

/* A listening socket on 127.0.0.1 that never accepts (the kernel completes the handshake). */
static int silent_listener(int *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0
        || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_connect_to_a_silent_server_gives_up(void **state)
{
    int port, fd = silent_listener(&port);
    char url[128], err[256] = "";
    struct db *db = NULL;
    (void)state;
    assert_true(fd >= 0);
    /* the URL's own bound (1 s) wins over the default, so the test is short */
    snprintf(url, sizeof(url), "postgresql://u:p@127.0.0.1:%d/x?connect_timeout=1", port);
    assert_int_not_equal(db_open(&db, url, 0, err, sizeof(err)), DB_OK);
    assert_null(db);
    assert_true(strstr(err, "timeout") != NULL || strstr(err, "PostgreSQL") != NULL);
    close(fd);
}

static void test_default_bound_applies_without_one_in_the_url(void **state)
{
    int port, fd = silent_listener(&port);
    char url[128], err[256] = "";
    struct db *db = NULL;
    (void)state;
    assert_true(fd >= 0);
    snprintf(url, sizeof(url), "postgresql://u:p@127.0.0.1:%d/x", port);
    assert_int_not_equal(db_open(&db, url, 0, err, sizeof(err)), DB_OK);   /* ~5 s, not for ever */
    assert_null(db);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_to_a_silent_server_gives_up),
        cmocka_unit_test(test_default_bound_applies_without_one_in_the_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
