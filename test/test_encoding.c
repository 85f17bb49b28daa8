/*
 * Unit tests for server/encoding.c — Accept-Encoding negotiation (RFC 9110 §12.5.3) and
 * gzip with zlib (issue 9 item 4: big boards are light on the wire).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/errors.h"
#include "server/encoding.h"

static void test_absent_or_empty_header_means_identity(void **state)
{
    (void)state;
    assert_false(encoding_accepts_gzip(NULL));
    assert_false(encoding_accepts_gzip(""));
    assert_false(encoding_accepts_gzip("   "));
    assert_false(encoding_accepts_gzip(","));
}

static void test_browser_headers_accept_gzip(void **state)
{
    (void)state;
    assert_true(encoding_accepts_gzip("gzip"));
    assert_true(encoding_accepts_gzip("gzip, deflate, br"));           /* Chromium */
    assert_true(encoding_accepts_gzip("gzip, deflate"));               /* Node fetch */
    assert_true(encoding_accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    assert_true(encoding_accepts_gzip("GZIP"));
    assert_true(encoding_accepts_gzip("x-gzip"));
    assert_true(encoding_accepts_gzip("deflate,gzip"));
    assert_true(encoding_accepts_gzip(" \tgzip\t; q=0.001 "));
}

static void test_q_zero_refuses_gzip(void **state)
{
    (void)state;
    assert_false(encoding_accepts_gzip("gzip;q=0"));
    assert_false(encoding_accepts_gzip("gzip;q=0.000"));
    assert_false(encoding_accepts_gzip("gzip; Q=0"));
    assert_false(encoding_accepts_gzip("*, gzip;q=0"));                /* explicit wins */
    assert_false(encoding_accepts_gzip("gzip;q=0, *;q=1"));
    assert_false(encoding_accepts_gzip("identity"));
    assert_false(encoding_accepts_gzip("br, deflate"));
    assert_false(encoding_accepts_gzip("gzipx, xgzip, gzip2"));
}

static void test_star_accepts_gzip_unless_zero(void **state)
{
    (void)state;
    assert_true(encoding_accepts_gzip("*"));
    assert_true(encoding_accepts_gzip("identity, *;q=0.5"));
    assert_false(encoding_accepts_gzip("*;q=0"));
}

static void test_malformed_elements_are_ignored(void **state)
{
    (void)state;
    /* a malformed qvalue drops its element: gzip is then absent */
    assert_false(encoding_accepts_gzip("gzip;q=2"));
    assert_false(encoding_accepts_gzip("gzip;q=1.5"));
    assert_false(encoding_accepts_gzip("gzip;q=0.0001"));
    assert_false(encoding_accepts_gzip("gzip;q="));
    assert_false(encoding_accepts_gzip("gzip;q=-1"));
    assert_false(encoding_accepts_gzip("gzip;q=0.5x"));
    assert_false(encoding_accepts_gzip("gzip;"));
    assert_false(encoding_accepts_gzip("gzip;=1"));
    assert_false(encoding_accepts_gzip("gzip q=1"));
    /* ... and the others still count */
    assert_true(encoding_accepts_gzip("gzip;q=abc, *"));
    assert_true(encoding_accepts_gzip("gzip;q=1.000"));
    assert_true(encoding_accepts_gzip("gzip;level=3;q=0.3"));
    assert_true(encoding_accepts_gzip(";;;,gzip"));
}

static void test_oversized_header_means_identity(void **state)
{
    (void)state;
    char *big = malloc(ENCODING_ACCEPT_MAX + 16);
    assert_non_null(big);
    memset(big, ' ', ENCODING_ACCEPT_MAX + 10);
    memcpy(big + ENCODING_ACCEPT_MAX + 5, "gzip", 5);
    assert_false(encoding_accepts_gzip(big));
    memset(big, ' ', ENCODING_ACCEPT_MAX - 4);
    memcpy(big + ENCODING_ACCEPT_MAX - 4, "gzip", 5);   /* exactly the limit */
    assert_true(encoding_accepts_gzip(big));
    free(big);
}

/* Inflate a gzip member (windowBits 15 + 16 only accepts the gzip wrapper). */
static size_t gunzip(const unsigned char *in, size_t len, char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = z.total_out;
    inflateEnd(&z);
    return n;
}

static void test_gzip_round_trips_and_shrinks_json(void **state)
{
    (void)state;
    size_t len = 0, cap = 400000;
    char *json = malloc(cap), *back = malloc(cap);
    assert_non_null(json);
    assert_non_null(back);
    for (int i = 0; len + 200 < cap; i++)
        len += (size_t)snprintf(json + len, cap - len, "{\"id\":%d,\"orderNumber\":\"MO-%06d\","
                                "\"workCentreId\":%d,\"status\":\"released\"},", i, i * 7, i % 10);
    unsigned char *gz;
    size_t gz_len;
    assert_int_equal(encoding_gzip(json, len, 6, &gz, &gz_len), 0);
    assert_true(gz_len < len / 5);
    assert_int_equal(gz[0], 0x1f);      /* the gzip magic (RFC 1952) */
    assert_int_equal(gz[1], 0x8b);
    assert_int_equal(gunzip(gz, gz_len, back, cap), len);
    assert_memory_equal(back, json, len);
    free(gz);

    assert_int_equal(encoding_gzip("", 0, 9, &gz, &gz_len), 0);     /* empty body */
    assert_int_equal(gunzip(gz, gz_len, back, cap), 0);
    free(gz);
    free(json);
    free(back);
}

static void test_gzip_bad_level_fails_without_output(void **state)
{
    (void)state;
    unsigned char *gz = (unsigned char *)1;
    size_t gz_len = 1;
    assert_int_equal(encoding_gzip("x", 1, 42, &gz, &gz_len), PB_EINTERNAL);
    assert_null(gz);
    assert_int_equal(gz_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absent_or_empty_header_means_identity),
        cmocka_unit_test(test_browser_headers_accept_gzip),
        cmocka_unit_test(test_q_zero_refuses_gzip),
        cmocka_unit_test(test_star_accepts_gzip_unless_zero),
        cmocka_unit_test(test_malformed_elements_are_ignored),
        cmocka_unit_test(test_oversized_header_means_identity),
        cmocka_unit_test(test_gzip_round_trips_and_shrinks_json),
        cmocka_unit_test(test_gzip_bad_level_fails_without_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
