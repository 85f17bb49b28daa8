/*
 * log — the server's one log line format (server_int.h pb_log): a UTC timestamp, a level and
 * the message with every byte a terminal could misread escaped (issue 8). A file of its own at
 * the bottom of server/, so that logging from any file points down, never back at server.c.
 */
#include "server/server_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum log_level pb_log_level = LOG_INFO;

/*
 * Copy the bytes of src into dst (room for cap bytes, cap > 0), always NUL-terminated, with
 * every byte a terminal or log reader could misread escaped: control bytes (0x00-0x1f,
 * 0x7f), '\\' itself and every byte of an invalid UTF-8 sequence become \xNN ('\\' becomes
 * \\\\), so that a client-controlled path, header or name can neither forge a log line nor
 * carry terminal escape sequences (issue 8). Valid UTF-8 is copied as it is. An escape that
 * does not fit is cut whole. Returns the length written.
 */
size_t pb_log_escape(char *dst, size_t cap, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;

    while (*s != '\0') {
        size_t n = 1;                   /* bytes of the current sequence copied as they are */
        unsigned char c = *s;
        bool escape = false;
        if (c < 0x20 || c == 0x7f || c == '\\')
            escape = true;
        else if (c >= 0x80) {
            uint32_t cp;
            if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f;
            else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f;
            else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07;
            else
                n = 0, cp = 0;
            for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80) {
                    n = 0;
                    break;
                }
                cp = (cp << 6) | (s[i] & 0x3f);
            }
            /* overlong, surrogate or past U+10FFFF: invalid like a broken sequence */
            if (n == 0 || (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
                || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
                escape = true;
                n = 1;
            }
        }
        if (escape) {
            if (o + 4 >= cap)
                break;
            if (c == '\\') {
                dst[o++] = '\\';
                dst[o++] = '\\';
            } else {
                dst[o++] = '\\';
                dst[o++] = 'x';
                dst[o++] = hex[c >> 4];
                dst[o++] = hex[c & 15];
            }
            s++;
            continue;
        }
        if (o + n >= cap)
            break;
        memcpy(dst + o, s, n);
        o += n;
        s += n;
    }
    dst[o] = '\0';
    return o;
}

void pb_log(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    char ts[PB_TIMESTAMP_LEN], line[1024], safe[4096];
    va_list ap;

    if (level > pb_log_level)
        return;
    pb_now_timestamp(ts);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* The whole line is escaped: every caller's client-controlled text (paths, usernames,
     * lws' own messages) is covered without each caller remembering to. */
    pb_log_escape(safe, sizeof(safe), line);
    fprintf(stderr, "%s %s %s\n", ts, names[level], safe);
}
