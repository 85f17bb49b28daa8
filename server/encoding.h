/*
 * encoding — HTTP content codings (RFC 9110 §8.4, §12.5.3): whether a request's
 * Accept-Encoding accepts gzip, and gzip compression with zlib. Pure: no sockets, no loop,
 * so its unit test (test/test_encoding.c) needs neither.
 *
 * Errors follow the house convention: 0 or a negative PB_E* code (core/errors.h).
 */
#ifndef PB_ENCODING_H
#define PB_ENCODING_H

#include <stdbool.h>
#include <stddef.h>

/* Longest Accept-Encoding value we parse; a longer one is answered in identity (hostile
 * input stays bounded; browsers send about 30 bytes). */
#define ENCODING_ACCEPT_MAX 1024

/*
 * True when the Accept-Encoding field value `accept` (NUL-terminated, may be NULL = absent)
 * lets the server answer with gzip (RFC 9110 §12.5.3): "gzip" or "x-gzip" listed with a
 * qvalue above 0, or not listed and "*" listed with a qvalue above 0. "gzip;q=0" refuses it.
 * Codings compare case-insensitively; an element with a malformed qvalue or parameter is
 * ignored (treated as absent); a value longer than ENCODING_ACCEPT_MAX or an empty one gives
 * false. Never fails.
 */
bool encoding_accepts_gzip(const char *accept);

/*
 * Compress in[len] into a new gzip member (RFC 1952) with zlib at `level` (1..9). On success
 * returns 0 and *out (malloc'd, the caller frees) with *out_len bytes. Errors: PB_EINTERNAL
 * (out of memory or a zlib failure; *out is then NULL). Runs on the caller's thread: for the
 * 4.2 MB board of 10,000 orders about 15 ms of CPU at level 3, 30 ms at 6, 108 ms at 9
 * (bench/README.md).
 */
int encoding_gzip(const void *in, size_t len, int level, unsigned char **out, size_t *out_len);

#endif
