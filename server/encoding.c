/*
 * encoding — Accept-Encoding negotiation and gzip (see encoding.h). zlib does the
 * compression (Debian zlib1g-dev); the header parse is ours because neither lws 4.1.6
 * (built without LWS_WITH_HTTP_STREAM_COMPRESSION in Debian) nor zlib has one.
 */
#include "server/encoding.h"

#include "core/errors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 9110 §12.4.2), in
 * s[len]. Returns the value in thousandths (0..1000), or -1 when malformed.
 */
static int parse_qvalue(const char *s, size_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int v = (s[0] - '0') * 1000, scale = 100;
    if (len == 1)
        return v;
    if (s[1] != '.' || len > 5)
        return -1;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v += (s[i] - '0') * scale;
    }
    return v <= 1000 ? v : -1;
}

/*
 * One element "coding *( OWS ; OWS name=value )" in s[len] (OWS already trimmed at both
 * ends). Sets coding/clen and *q (thousandths; 1000 when no q parameter). Returns false
 * when the element is malformed (then it is ignored).
 */
static bool parse_element(const char *s, size_t len, const char **coding, size_t *clen, int *q)
{
    size_t i = 0;
    while (i < len && s[i] != ';' && !is_ows(s[i]))
        i++;
    if (i == 0)
        return false;
    *coding = s;
    *clen = i;
    *q = 1000;
    while (i < len) {
        while (i < len && is_ows(s[i]))
            i++;
        if (i == len)
            break;
        if (s[i] != ';')
            return false;
        i++;
        while (i < len && is_ows(s[i]))
            i++;
        size_t name = i;
        while (i < len && s[i] != '=' && s[i] != ';' && !is_ows(s[i]))
            i++;
        if (i == len || s[i] != '=' || i == name)
            return false;
        size_t nlen = i - name, val = ++i;
        while (i < len && s[i] != ';' && !is_ows(s[i]))
            i++;
        if (nlen == 1 && (s[name] == 'q' || s[name] == 'Q')) {
            *q = parse_qvalue(s + val, i - val);
            if (*q < 0)
                return false;
        }
    }
    return true;
}

bool encoding_accepts_gzip(const char *accept)
{
    int gzip_q = -1, star_q = -1;       /* -1: not listed */
    size_t total;

    if (accept == NULL || (total = strnlen(accept, ENCODING_ACCEPT_MAX + 1)) == 0
        || total > ENCODING_ACCEPT_MAX)
        return false;
    for (const char *p = accept, *end = accept + total; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma != NULL ? comma : end;
        const char *a = p, *b = e;
        while (a < b && is_ows(*a))
            a++;
        while (b > a && is_ows(b[-1]))
            b--;
        const char *coding;
        size_t clen;
        int q;
        if (b > a && parse_element(a, (size_t)(b - a), &coding, &clen, &q)) {
            if ((clen == 4 && strncasecmp(coding, "gzip", 4) == 0)
                || (clen == 6 && strncasecmp(coding, "x-gzip", 6) == 0))
                gzip_q = q > gzip_q ? q : gzip_q;
            else if (clen == 1 && coding[0] == '*')
                star_q = q > star_q ? q : star_q;
        }
        p = e + 1;
    }
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

int encoding_gzip(const void *in, size_t len, int level, unsigned char **out, size_t *out_len)
{
    z_stream z;
    unsigned char *buf = NULL;

    *out = NULL;
    *out_len = 0;
    if (len > UINT32_MAX / 2)           /* avail_in is 32 bits; boards are a few MB */
        return PB_EINTERNAL;
    memset(&z, 0, sizeof(z));
    /* windowBits 15 + 16: a gzip wrapper instead of zlib's (RFC 1952, what browsers take
     * for Content-Encoding: gzip) */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return PB_EINTERNAL;
    uLong cap = deflateBound(&z, (uLong)len);     /* includes the gzip header and trailer */
    if ((size_t)cap < len || (buf = malloc(cap)) == NULL)
        goto fail;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        goto fail;
    *out_len = (size_t)z.total_out;
    *out = buf;
    deflateEnd(&z);
    return 0;
fail:
    free(buf);
    deflateEnd(&z);
    return PB_EINTERNAL;
}
