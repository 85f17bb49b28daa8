/*
 * utf8 — UTF-8 validity (RFC 3629) and repair for every text the server takes in, stores or
 * sends (SPEC §4 "Input rules"). No dependencies, no allocation: a bottom-layer module that
 * protocol/ (strict JSON, the output check) and store/ (repair at open) both use.
 *
 * Valid means RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF, no truncated sequence. NUL (U+0000) is valid UTF-8; the callers that forbid it
 * (SPEC §4: "no NUL") say so and use utf8_text_valid().
 *
 * Why hand-written and not a library: the Debian-packaged validators come with big
 * dependencies (glib's g_utf8_validate, ICU) or are not exported (SQLite's is internal). This
 * is one table-free decoder of ~40 lines, tested in test/test_json.c against RFC 3629's cases
 * and the Unicode "maximal subpart" replacement rule that browsers' TextDecoder follows.
 */
#ifndef PB_UTF8_H
#define PB_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is valid UTF-8 (NUL bytes allowed). s may be NULL when n == 0. */
bool utf8_valid(const char *s, size_t n);

/* True when s[0..n) is valid UTF-8 and holds no NUL byte: a valid text of SPEC §4. */
bool utf8_text_valid(const char *s, size_t n);

/*
 * Where to cut valid UTF-8 text s (at least n bytes long) to keep at most n bytes without
 * splitting a character: the largest m <= n that is not inside a multi-byte sequence.
 */
size_t utf8_floor(const char *s, size_t n);

/*
 * Repair s[0..n) into out: every maximal ill-formed subpart (Unicode §3.9, the rule of the
 * WHATWG decoder) becomes U+FFFD, every NUL byte is removed, valid sequences are copied.
 * out must hold utf8_repair_max(n) bytes; it is not NUL-terminated. Returns the bytes written.
 */
size_t utf8_repair(const char *s, size_t n, char *out);

/* Upper bound of utf8_repair()'s output for n input bytes (each byte may become U+FFFD). */
static inline size_t utf8_repair_max(size_t n)
{
    return 3 * n;
}

#endif
