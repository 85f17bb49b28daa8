/*
 * utf8 — RFC 3629 validation and U+FFFD repair. See utf8.h.
 */
#include "core/utf8.h"

#include <stdint.h>
#include <string.h>

/*
 * Decode one sequence at s[0..n) (n >= 1). Returns its length when it is a valid sequence;
 * otherwise returns 0 and sets *bad to the length of the maximal ill-formed subpart (>= 1):
 * the lead byte plus the continuation bytes that were still allowed (Unicode Table 3-7).
 */
static size_t seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;     /* allowed range of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;                      /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F;                      /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;                      /* no overlongs */
        else if (c == 0xF4)
            hi = 0x8F;                      /* nothing above U+10FFFF */
    } else {
        *bad = 1;                           /* 80..C1, F5..FF never start a sequence */
        return 0;
    }
    for (size_t k = 1; k < len; k++) {
        if (k >= n || s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xBF)) {
            *bad = k;
            return 0;
        }
    }
    return len;
}

/* Length of the leading ASCII run of s[0..n), 8 bytes at a time. */
static size_t ascii_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080))
            break;
    }
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, bad;

    while (i < n) {
        i += ascii_run(u + i, n - i);
        if (i == n)
            break;
        size_t k = seq(u + i, n - i, &bad);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

bool utf8_text_valid(const char *s, size_t n)
{
    return (n == 0 || memchr(s, '\0', n) == NULL) && utf8_valid(s, n);
}

size_t utf8_floor(const char *s, size_t n)
{
    size_t m = n;
    /* Back over continuation bytes (at most 3) to the lead byte of the character at s[n]. */
    while (m > 0 && n - m < 3 && ((unsigned char)s[m] & 0xC0) == 0x80)
        m--;
    return ((unsigned char)s[m] & 0xC0) == 0x80 ? n : m;
}

size_t utf8_repair(const char *s, size_t n, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0, bad;

    while (i < n) {
        if (u[i] == 0) {
            i++;
            continue;
        }
        size_t k = seq(u + i, n - i, &bad);
        if (k > 0) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);  /* U+FFFD */
            o += 3;
            i += bad;
        }
    }
    return o;
}
