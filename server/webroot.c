/*
 * webroot — the static files of the browser board ([server] static_dir, "web"): read once at
 * start, each with a strong ETag (SHA-256 of its bytes) and a gzip copy made once with zlib;
 * answers come from memory, so no read() happens on the loop after start (issue 9 item 3).
 * A file changed on disk is served after the next start.
 *
 * Bounds (README "Limits"): at most WEBROOT_MAX_FILES files of at most WEBROOT_MAX_FILE
 * bytes, WEBROOT_MAX_TOTAL bytes in all, WEBROOT_MAX_DEPTH directories deep; past any of
 * them the server does not start (a web/ that big is a mistake, not a board).
 */
#include "server/server_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct webroot_file {
    char *path;                         /* URL path, "/js/app.js" (malloc) */
    const char *ctype;                  /* static string */
    char etag[40];                      /* "\"<32 hex>\"": first 128 bits of SHA-256 */
    char etag_gz[44];                   /* the gzip copy's: "\"<32 hex>-gz\"" */
    struct blob *body;                  /* the bytes (gzip copy in body->gz when smaller) */
};

struct webroot {
    struct webroot_file *files;         /* sorted by path (bsearch) */
    size_t n, cap;
    size_t total;                       /* bytes of all files */
};

static const char *mime_of(const char *path)
{
    static const char *const map[][2] = {
        { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
        { ".svg", "image/svg+xml" }, { ".png", "image/png" }, { ".ico", "image/x-icon" },
        { ".json", "application/json; charset=utf-8" }, { ".txt", "text/plain; charset=utf-8" },
        { ".csv", "text/csv; charset=utf-8" }, { ".woff2", "font/woff2" },
    };
    const char *dot = strrchr(path, '.');
    if (dot != NULL)
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
            if (strcmp(dot, map[i][0]) == 0)
                return map[i][1];
    return "application/octet-stream";
}

/* Read the whole regular file `file` of `size` bytes into a new blob. NULL on error. */
static struct blob *read_file(const char *file, size_t size)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(size + 1);
    size_t got = 0;
    while (buf != NULL && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    struct blob *b = buf != NULL && got == size ? blob_new(buf, size) : NULL;
    free(buf);
    return b;
}

static int sha_etag(const struct blob *b, char etag[40], char etag_gz[44])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[33];
    if (EVP_Digest(b->data, b->len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16)
        return -1;
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(etag, 40, "\"%s\"", hex);
    snprintf(etag_gz, 44, "\"%s-gz\"", hex);
    return 0;
}

/* Add dir/rel (a regular file of st_size bytes) as URL path rel. 0, or -1 with *why. */
static int add_file(struct webroot *w, const char *file, const char *rel, size_t size,
                    const char **why)
{
    if (w->n == WEBROOT_MAX_FILES) {
        *why = "more than " PB_STR(WEBROOT_MAX_FILES) " files";
        return -1;
    }
    if (size > WEBROOT_MAX_FILE || w->total + size > WEBROOT_MAX_TOTAL) {
        *why = "a file over 16 MiB or more than 64 MiB in all";
        return -1;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        struct webroot_file *n = realloc(w->files, cap * sizeof(*n));
        if (n == NULL)
            goto oom;
        w->files = n;
        w->cap = cap;
    }
    struct webroot_file *f = &w->files[w->n];
    memset(f, 0, sizeof(*f));
    bool made;
    if ((f->body = read_file(file, size)) == NULL) {
        *why = "a file could not be read";
        return -1;
    }
    if ((f->path = strdup(rel)) == NULL || sha_etag(f->body, f->etag, f->etag_gz) != 0)
        goto oom_file;
    blob_gzip(f->body, 9, &made);       /* once, at start: the best ratio is worth it */
    if (f->body->len >= BLOB_GZIP_MIN && !f->body->gz_tried)
        goto oom_file;
    f->ctype = mime_of(rel);
    w->total += size;
    w->n++;
    return 0;
oom_file:
    free(f->path);
    blob_unref(f->body);
oom:
    *why = "out of memory";
    return -1;
}

/* Walk dir (URL prefix rel) depth-first. Hidden entries (".name") are skipped. */
static int walk(struct webroot *w, const char *dir, const char *rel, int depth, const char **why)
{
    if (depth > WEBROOT_MAX_DEPTH) {
        *why = "directories nested more than " PB_STR(WEBROOT_MAX_DEPTH) " deep";
        return -1;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        *why = "a directory could not be read";
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char file[PB_CONFIG_STR + 512], url[512];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(file, sizeof(file), "%s/%s", dir, e->d_name) >= sizeof(file)
            || (size_t)snprintf(url, sizeof(url), "%s/%s", rel, e->d_name) >= sizeof(url)
            || strlen(url) >= sizeof(((struct http_req *)0)->path))
            continue;                   /* a path no request can name */
        if (stat(file, &st) != 0)
            continue;                   /* a dangling symlink */
        if (S_ISDIR(st.st_mode))
            rc = walk(w, file, url, depth + 1, why);
        else if (S_ISREG(st.st_mode))
            rc = add_file(w, file, url, (size_t)st.st_size, why);
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct webroot_file *)a)->path, ((const struct webroot_file *)b)->path);
}

void webroot_free(struct webroot *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->files[i].path);
        blob_unref(w->files[i].body);
    }
    free(w->files);
    free(w);
}

int webroot_load(const char *dir, struct webroot **out, const char **why)
{
    struct stat st;
    struct webroot *w = calloc(1, sizeof(*w));

    *out = NULL;
    *why = "out of memory";
    if (w == NULL)
        return PB_EINTERNAL;
    if (stat(dir, &st) != 0) {          /* no board page: the API still works */
        pb_log(LOG_WARN, "static_dir %s does not exist: no browser board is served", dir);
        *out = w;
        return 0;
    }
    if (walk(w, dir, "", 0, why) != 0) {
        webroot_free(w);
        return PB_EINTERNAL;
    }
    if (w->n > 0)
        qsort(w->files, w->n, sizeof(w->files[0]), by_path);
    pb_log(LOG_DEBUG, "static_dir %s: %zu files, %zu bytes, read into memory", dir, w->n,
           w->total);          /* debug: a start that fails says one line only (SPEC §7) */

    *out = w;
    return 0;
}

/* True when the If-None-Match field value inm lists etag (weak comparison, RFC 9110
 * §13.1.2: a W/ prefix is ignored) or is "*". */
static bool inm_matches(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);
    for (const char *p = inm; *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return false;               /* malformed: no match, the full answer is safe */
        const char *q = strchr(p + 1, '"');
        if (q == NULL)
            return false;
        if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
            return true;
        p = q + 1;
    }
    return false;
}

void webroot_serve(struct http_req *r)
{
    const struct webroot *w = r->app->webroot;
    struct webroot_file key = { .path = strcmp(r->path, "/") == 0 ? (char *)"/index.html" : r->path };
    const struct webroot_file *f = NULL;
    char inm[512];

    if (r->method == M_GET && w != NULL && w->n > 0)
        f = bsearch(&key, w->files, w->n, sizeof(w->files[0]), by_path);
    if (f == NULL) {                    /* ".." and "//" name no file of the table */
        http_reply_error(r, PB_ENOT_FOUND, "not found", NULL);
        return;
    }
    bool gz = r->accept_gzip && f->body->gz != NULL;
    const char *etag = gz ? f->etag_gz : f->etag;
    http_reply_header(r, "etag", "%s", etag);
    http_reply_header(r, "cache-control", "no-cache");
    http_reply_header(r, "x-content-type-options", "nosniff");
    http_reply_header(r, "referrer-policy", "no-referrer");
    if (strstr(key.path, ".html") != NULL)
        http_reply_header(r, "content-security-policy", "default-src 'self'; img-src 'self' "
                          "data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    if (lws_hdr_copy(r->wsi, inm, sizeof(inm), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0
        && inm_matches(inm, etag)) {
        http_reply_header(r, "vary", "Accept-Encoding");
        http_reply(r, 304, f->ctype, NULL, 0);
        return;
    }
    http_reply_blob(r, 200, f->ctype, f->body);  /* picks the gzip copy the same way */
}
