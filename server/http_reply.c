/*
 * http_reply — HTTP answers: status, headers and body of the request's one answer, the
 * output check of SPEC §4, content coding of shared bodies (gzip when the client accepts it,
 * issue 9 item 4) and the head of the answer on the wire. Errors go through error_reply.c.
 *
 * Loop thread only. The bytes go out at the connection's next writable callback (http.c).
 */
#include "server/server_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char JSON_TYPE[] = "application/json; charset=utf-8";

void http_reply(struct http_req *r, int status, const char *ctype, char *body, size_t len)
{
    if (r->replied) {                   /* a bug: answer once; keep the first */
        free(body);
        return;
    }
    /* The output check (SPEC §4): every JSON and CSV answer the server builds passes here
     * (shared bodies do not: blob_new_answer() checks those that are answers it built). */
    if (body != NULL && (strncmp(ctype, "application/json", 16) == 0
                         || strncmp(ctype, "text/csv", 8) == 0)
        && json_output_check(body, len, r->path) != 0) {
        free(body);
        body = error_reply_body(r->app, PB_EINTERNAL, "internal error", NULL);
        status = 500;
        ctype = JSON_TYPE;
        len = body != NULL ? strlen(body) : 0;
    }
    r->replied = true;
    r->ticket = durable_ticket(r->app);
    r->status = status;
    r->ctype = ctype;
    r->resp = body;
    r->resp_len = body != NULL ? len : 0;
    r->resp_sent = 0;
    lws_callback_on_writable(r->wsi);
}

void http_reply_blob(struct http_req *r, int status, const char *ctype, struct blob *b)
{
    if (r->replied)
        return;
    /* The gzip copy is made once per blob (for the board: once per board version) by the
     * first request that accepts it, and shared by every later one. */
    bool made = false;
    struct blob *gz = r->accept_gzip ? blob_gzip(b, BLOB_GZIP_LEVEL, &made) : NULL;
    if (made)
        r->app->metrics.blob_gzips++;
    http_reply_header(r, "vary", "Accept-Encoding");
    if (gz != NULL) {
        http_reply_header(r, "content-encoding", "gzip");
        b = gz;
    }
    blob_ref(b);
    r->resp_blob = b;
    http_reply(r, status, ctype, NULL, 0);
    r->resp = b->data;                  /* after http_reply: it resets resp for a NULL body */
    r->resp_len = b->len;
}

void http_reply_json(struct http_req *r, int status, cJSON *json)
{
    char *s = json != NULL ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (s == NULL) {
        http_reply_error(r, PB_EINTERNAL, "out of memory", NULL);
        return;
    }
    http_reply(r, status, JSON_TYPE, s, strlen(s));
}

void http_reply_error(struct http_req *r, int err, const char *message, cJSON *extra)
{
    if (r->replied) {                   /* answer once (and count only what is answered) */
        cJSON_Delete(extra);
        return;
    }
    if (err == PB_EUNAVAILABLE)         /* whatever the route meant to say: nothing was done */
        message = "the database is unavailable; nothing was changed, try again";
    char *s = error_reply_body(r->app, err, message, extra);
    http_reply(r, pb_error_status(err), JSON_TYPE, s, s ? strlen(s) : 0);
}

void http_reply_invalid(struct http_req *r, const char *field, const char *message)
{
    struct json_details d;
    json_details_init(&d);
    json_details_add(&d, field, message);
    http_reply_error(r, PB_EVALIDATION, message, json_details_take(&d));
}

void http_reply_op(struct http_req *r, struct op_result *res, int ok_status)
{
    if (res->err != 0) {
        cJSON_Delete(res->data);
        http_reply_error(r, res->err, res->message, res->extra);
    } else if (ok_status == 204) {
        cJSON_Delete(res->data);
        cJSON_Delete(res->extra);
        http_reply(r, 204, JSON_TYPE, NULL, 0);
    } else {
        cJSON_Delete(res->extra);
        http_reply_json(r, ok_status, res->data);
    }
    res->data = res->extra = NULL;
}

/* owner first: CLOSED_HTTP clears it through r->job (http.c). */
struct http_wait {
    struct http_req *owner;
    int ok_status;                      /* of a success: 200, or http_wait_set_status's */
};

struct http_wait *http_wait_begin(struct http_req *r)
{
    struct http_wait *w = malloc(sizeof(*w));
    if (w != NULL) {
        w->owner = r;
        w->ok_status = 200;
        r->job = w;
    }
    return w;
}

void http_wait_done(void *ctx, struct op_result *res)
{
    struct http_wait *w = ctx;
    if (w->owner != NULL) {
        w->owner->job = NULL;
        http_reply_op(w->owner, res, w->ok_status);
    } else {
        cJSON_Delete(res->data);
        cJSON_Delete(res->extra);
    }
    free(w);
}

void http_wait_set_status(struct http_wait *w, int ok_status)
{
    w->ok_status = ok_status;
}

void http_wait_cancel(struct http_wait *w)
{
    if (w == NULL)
        return;
    if (w->owner != NULL)
        w->owner->job = NULL;
    free(w);
}

void http_reply_header(struct http_req *r, const char *name, const char *fmt, ...)
{
    char value[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    size_t old = r->extra_hdr != NULL ? strlen(r->extra_hdr) : 0;
    size_t add = strlen(name) + 2 + strlen(value) + 2;
    char *n = realloc(r->extra_hdr, old + add + 1);
    if (n == NULL)
        return;
    snprintf(n + old, add + 1, "%s: %s\r\n", name, value);
    r->extra_hdr = n;
}

/* Write the response headers; a body of up to INLINE_BODY bytes goes out in the same write
 * (issue 3: one send per small response instead of two). Returns 1 when the body was sent
 * with the headers, 0 when it was not, -1 on error. */
#define INLINE_BODY (16 * 1024)
int http_reply__write_head(struct http_req *r)
{
    unsigned char *buf, *start, *p, *end;
    struct lws *wsi = r->wsi;
    size_t cap = LWS_PRE + 2048 + (r->resp_len <= INLINE_BODY ? r->resp_len : 0);
    int rc = -1;

    if ((buf = malloc(cap)) == NULL)
        return -1;
    start = p = buf + LWS_PRE;
    end = buf + LWS_PRE + 2048;

    if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype, r->resp_len, &p, end))
        goto out;
    if (r->close_after
        && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (unsigned char *)"close", 5,
                                        &p, end))
        goto out;
    if (strncmp(r->path, "/api/", 5) == 0
        && lws_add_http_header_by_name(wsi, (unsigned char *)"cache-control:",
                                       (unsigned char *)"no-store", 8, &p, end))
        goto out;
    /* extra_hdr holds "name: value\r\n" lines */
    for (char *line = r->extra_hdr; line != NULL && *line != '\0';) {
        char *colon = strchr(line, ':'), *eol = strstr(line, "\r\n");
        if (colon == NULL || eol == NULL)
            break;
        char name[64];
        size_t nlen = (size_t)(colon - line) + 1;
        if (nlen >= sizeof(name))
            break;
        memcpy(name, line, nlen);
        name[nlen] = '\0';
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        if (lws_add_http_header_by_name(wsi, (unsigned char *)name, (const unsigned char *)v,
                                        (int)(eol - v), &p, end))
            goto out;
        line = eol + 2;
    }
    if (r->resp_len > INLINE_BODY) {
        rc = lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
        goto out;
    }
    if (lws_finalize_http_header(wsi, &p, end))
        goto out;
    if (r->resp_len > 0) {
        memcpy(p, r->resp, r->resp_len);
        p += r->resp_len;
    }
    /* Headers and body as one raw HTTP/1 write; keep-alive still works (the e2e tests and
     * curl's connection reuse show it), and the connection is not waiting for more body. */
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) != (int)(p - start))
        goto out;
    rc = 1;
out:
    free(buf);
    return rc;
}
