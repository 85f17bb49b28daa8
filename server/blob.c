/*
 * blob — refcounted, immutable answer bodies shared by many answers (the cached board of
 * GET /api/planning-board, the static files of web/), each with its gzip copy made at most
 * once (issue 9 item 4: compressed once per board version, not per request).
 *
 * Loop thread only: refs and the lazily made gzip copy are not locked.
 */
#include "server/server_int.h"

#include "server/encoding.h"

#include <stdlib.h>
#include <string.h>

struct blob *blob_new(const void *data, size_t len)
{
    struct blob *b = malloc(sizeof(*b) + len + 1);
    if (b == NULL)
        return NULL;
    b->refs = 1;
    b->len = len;
    b->gz = NULL;
    b->gz_tried = false;
    if (len > 0)
        memcpy(b->data, data, len);
    b->data[len] = '\0';
    return b;
}

struct blob *blob_new_answer(const char *data, size_t len)
{
    if (json_output_check(data, len, "shared answer body") != 0)
        return NULL;                    /* SPEC §4: never answered */
    return blob_new(data, len);
}

void blob_ref(struct blob *b)
{
    b->refs++;
}

void blob_unref(struct blob *b)
{
    if (b != NULL && --b->refs == 0) {
        blob_unref(b->gz);              /* a gzip copy has no copy of its own: depth 1 */
        free(b);
    }
}

struct blob *blob_gzip(struct blob *b, int level, bool *made)
{
    unsigned char *z;
    size_t zlen;

    *made = false;
    if (b->gz_tried)
        return b->gz;
    if (b->len < BLOB_GZIP_MIN) {       /* headers outweigh what gzip saves */
        b->gz_tried = true;
        return NULL;
    }
    if (encoding_gzip(b->data, b->len, level, &z, &zlen) != 0)
        return NULL;                    /* out of memory: identity now, try again later */
    *made = true;
    if (zlen < b->len)                  /* already compressed data (PNG, WOFF2) grows */
        b->gz = blob_new(z, zlen);
    b->gz_tried = zlen >= b->len || b->gz != NULL;  /* out of memory: try again later */
    free(z);
    return b->gz;
}
