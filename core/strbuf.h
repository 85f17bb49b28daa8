/*
 * strbuf — a growing NUL-terminated text buffer (lwan's strbuf, in small). Used for audit
 * event_data JSON, the CSV export and the /metrics text. No dependencies.
 *
 * Ownership: p is malloc'd and belongs to the struct until the caller takes it (then sets
 * the struct to zero) or calls strbuf_cleanup(). On allocation failure `oom` is set, p keeps
 * what was appended before, and every later append does nothing: check oom once at the end.
 */
#ifndef PB_STRBUF_H
#define PB_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *p;                    /* NULL until the first append; NUL-terminated after it */
    size_t len, cap;            /* bytes used (without the NUL) / allocated */
    bool oom;                   /* an allocation failed: the content is incomplete */
};

/* Append n bytes of s. */
void strbuf_put(struct strbuf *b, const char *s, size_t n);
/* Append printf-style text. */
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free p and zero the struct. */
void strbuf_cleanup(struct strbuf *b);

#endif
