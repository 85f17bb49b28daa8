/*
 * http — the HTTP side of protocol 0, the dispatcher: request lifecycle, limits (SPEC §4
 * 413/415/411), routing over the route tables handed over at start (http_routes),
 * authentication and role check from the route, body collection or streaming into the
 * route's stream hooks, and writing the answer (built by http_reply.c) in the writable
 * callbacks. Static files are answered by webroot.c, shared bodies live in blob.c, every
 * error answer is built by error_reply.c.
 */
#include "server/server_int.h"

#include "server/encoding.h"
#include "server/sockrx.h"
#include "store/scanner.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define SEND_CHUNK (64 * 1024)

/* ================================================================ request arguments */

int64_t http_query_int(struct http_req *r, const char *name, int64_t def, int64_t lo,
                       int64_t hi, bool *bad)
{
    char buf[48], *end;
    if (http_query(r, name, buf, sizeof(buf)) == NULL)
        return def;
    long long v = strtoll(buf, &end, 10);
    if (end == buf || *end != '\0' || v < lo) {
        *bad = true;
        return def;
    }
    return v > hi ? hi : v;
}

const char *http_query(struct http_req *r, const char *name, char *buf, size_t len)
{
    char key[64];
    snprintf(key, sizeof(key), "%s=", name);
    /* lws 4.1 copies "name=value" into buf and returns a pointer to the value: move the value
     * to the front so that buf and the returned pointer are the same string. */
    char tmp[2048];                     /* room for "name=" in front of the value */
    const char *v = lws_get_urlarg_by_name(r->wsi, key, tmp, (int)sizeof(tmp));
    if (v == NULL || len == 0)
        return NULL;
    snprintf(buf, len, "%s", v);        /* a value longer than buf is cut (callers validate) */
    return buf;
}

/* ================================================================ request lifecycle */

static void wait_unlink(struct http_req *r)
{
    if (!r->dwait)
        return;
    if (r->dprev != NULL)
        r->dprev->dnext = r->dnext;
    else
        r->app->http_waiting = r->dnext;
    if (r->dnext != NULL)
        r->dnext->dprev = r->dprev;
    r->dnext = r->dprev = NULL;
    r->dwait = false;
}

void http_release_durable(struct app *app)
{
    struct http_req *r = app->http_waiting, *next;
    for (; r != NULL; r = next) {
        next = r->dnext;
        if (durable_reached(app, r->ticket)) {
            wait_unlink(r);
            lws_callback_on_writable(r->wsi);
        }
    }
}

static void req_reset(struct http_req *r)
{
    lws_sul_cancel(&r->deadline);       /* before the memset: it may be on lws' timer list */
    wait_unlink(r);
    free(r->extra_hdr);
    if (r->route != NULL && r->route->stream != NULL)
        r->route->stream->cleanup(r);
    free(r->body);
    if (r->scanner_key != NULL) {
        api_key_cleanup(r->scanner_key);
        free(r->scanner_key);
    }
    if (r->resp_blob != NULL)
        blob_unref(r->resp_blob);
    else
        free(r->resp);
    memset(r, 0, sizeof(*r));
    r->kind = PB_PSS_HTTP;
}

static void log_request(struct http_req *r)
{
    static const char *const names[] = { "GET", "POST", "PUT", "DELETE", "OTHER" };
    const char *route = r->route != NULL ? r->route->pattern
                      : strncmp(r->path, "/api", 4) == 0 ? "unmatched" : "static";
    metrics_request(r->app, r->method, route, r->status);
    pb_log(LOG_INFO, "%s %s %d %lldus", names[r->method], r->path, r->status,
           (long long)(lws_now_usecs() - r->start_us));
}

/* Read and drop what the kernel already holds for the socket (at most 256 KiB), so that the
 * close that follows sends FIN rather than RST: a close() with unread data resets the
 * connection, and the peer's kernel may then drop our answer before the client reads it. */
static void drop_queued_input(int fd)
{
    char sink[16384];
    for (int i = 0; i < 16; i++)
        if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
            break;
}

/*
 * The answer of a close_after request is written: close, once lws has flushed it. When lws
 * still expects body bytes (an early answer such as 413), close the way a careful server
 * does (a "lingering close", issue 8): shut our side for writing, so the client sees the
 * answer and then EOF, and keep reading and dropping the body until it is complete, the
 * client closes, more than limits.max_upload bytes came after the answer or the body
 * deadline (limits.body_timeout_seconds from the request's headers) passes. Without it the
 * close() with unread body bytes resets the connection and a client still sending sees
 * EPIPE or ECONNRESET instead of the 413. Returns 0 (wait) or -1 (close now).
 */
static int finish_close(struct http_req *r)
{
    if (r->draining)
        return 0;
    if (lws_partial_buffered(r->wsi)) {
        lws_callback_on_writable(r->wsi);   /* lws writes its buffered rest first */
        return 0;
    }
    int fd = lws_get_socket_fd(r->wsi);
    if (!r->lws_body || r->body_done) {
        shutdown(fd, SHUT_WR);
        drop_queued_input(fd);
        return -1;
    }
    shutdown(fd, SHUT_WR);
    r->draining = true;
    return 0;
}

/* HTTP_WRITEABLE: headers first, then the body in chunks; then end the transaction. */
static int on_writeable(struct http_req *r)
{
    unsigned char *buf;
    size_t n;
    int final;

    if (r->finished)
        return finish_close(r);
    if (!r->replied)
        return 0;
    if (!r->headers_sent && !durable_reached(r->app, r->ticket)) {
        /* Group commit: the answer waits until the commits before it are on disk. */
        if (!r->dwait) {
            r->dwait = true;
            r->dprev = NULL;
            r->dnext = r->app->http_waiting;
            if (r->dnext != NULL)
                r->dnext->dprev = r;
            r->app->http_waiting = r;
        }
        return 0;
    }
    if (!r->headers_sent) {
        int inl = http_reply__write_head(r);
        if (inl < 0)
            return -1;
        r->headers_sent = true;
        if (inl == 1)
            r->resp_sent = r->resp_len;
        else if (r->resp_len > 0) {
            lws_callback_on_writable(r->wsi);
            return 0;
        }
    }
    if (r->resp_sent < r->resp_len) {
        n = r->resp_len - r->resp_sent;
        if (n > SEND_CHUNK)
            n = SEND_CHUNK;
        final = r->resp_sent + n == r->resp_len;
        buf = malloc(LWS_PRE + n);
        if (buf == NULL)
            return -1;
        memcpy(buf + LWS_PRE, r->resp + r->resp_sent, n);
        int w = lws_write(r->wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
        free(buf);
        if (w < 0)
            return -1;
        r->resp_sent += n;
        if (!final) {
            lws_callback_on_writable(r->wsi);
            return 0;
        }
    }
    log_request(r);
    if (r->close_after) {
        r->finished = true;
        return finish_close(r);
    }
    struct lws *wsi = r->wsi;
    req_reset(r);
    /* Where this transaction ends in the byte stream: a request whose headers lws then
     * parses without having read from the socket again was pipelined (see on_request). */
    struct conn_info *ci = lws_get_opaque_user_data(wsi);
    if (ci != NULL) {
        ci->has_mark = sockrx_consumed(lws_get_socket_fd(wsi), &ci->rx_mark) == 0;
        if (!ci->has_mark)
            return -1;                  /* cannot tell pipelined from fresh: no keep-alive */
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ================================================================ routing */

void http_routes(struct app *app, const struct route *const *tables, size_t n)
{
    app->routes = tables;
    app->n_routes = n;
}

/* Match path against pattern; ":id" segments must be positive decimal numbers. */
static bool match(const char *pattern, const char *path, int64_t ids[2])
{
    int n = 0;
    while (*pattern != '\0' && *path != '\0') {
        if (pattern[0] == ':' ) {
            char *end;
            if (*path < '1' || *path > '9')
                return false;
            long long v = strtoll(path, &end, 10);
            if (v <= 0 || (*end != '/' && *end != '\0') || n >= 2)
                return false;
            ids[n++] = v;
            path = end;
            while (*pattern != '\0' && *pattern != '/')
                pattern++;
            continue;
        }
        if (*pattern++ != *path++)
            return false;
    }
    if (*path == '/' && path[1] == '\0')
        path++;                         /* tolerate one trailing slash */
    return *pattern == '\0' && *path == '\0';
}

/* The route for method + path in the tables of http_routes(); *ids gets the :id values (up
 * to 2). NULL when no pattern matches; *path_known is set when the path matches under
 * another method. */
static const struct route *route_find(const struct app *app, enum http_method m,
                                      const char *path, int64_t ids[2], bool *path_known)
{
    *path_known = false;
    for (size_t t = 0; t < app->n_routes; t++) {
        for (const struct route *rt = app->routes[t]; rt->pattern != NULL; rt++) {
            int64_t tmp[2] = { 0, 0 };
            if (!match(rt->pattern, path, tmp))
                continue;
            if (rt->method == m) {
                ids[0] = tmp[0];
                ids[1] = tmp[1];
                return rt;
            }
            *path_known = true;
        }
    }
    return NULL;
}


static enum http_method method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return M_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return M_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI))
        return M_PUT;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
        return M_DELETE;
    return M_OTHER;
}

/* Authenticate from "Authorization: Bearer <jwt>". 0 or PB_EUNAUTHORIZED. */
static int authenticate(struct http_req *r)
{
    int len = lws_hdr_total_length(r->wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    char *buf;
    int rc = PB_EUNAUTHORIZED;
    if (len <= 7 || len > 16384)
        return PB_EUNAUTHORIZED;
    buf = malloc((size_t)len + 1);
    if (buf == NULL)
        return PB_EINTERNAL;
    if (lws_hdr_copy(r->wsi, buf, len + 1, WSI_TOKEN_HTTP_AUTHORIZATION) == len
        && strncasecmp(buf, "Bearer ", 7) == 0)
        rc = session_verify_token(r->app, buf + 7, &r->claims);
    free(buf);
    if (rc == 0)
        r->authed = true;
    return rc;
}

static bool content_type_is(struct lws *wsi, const char *type)
{
    char ct[128];
    size_t tl = strlen(type);
    if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return false;
    return strncasecmp(ct, type, tl) == 0 && (ct[tl] == '\0' || ct[tl] == ';' || ct[tl] == ' ');
}

/* ================================================================ dispatch */

/* Run the route handler with the parsed JSON body (NULL when the body is empty), or end
 * the route's stream and answer with what it returns (unless it answers later: res.pending). */
/* Every route's writes go through the writer (the ROUTE_WRITER routes, docs/writer.md); the
 * others (GET, the import stream, the drag-lock routes) write nothing on the loop's connection,
 * so no request waits for the writer here. A route that had to write there would call
 * writes_exclusive itself. */
static bool park(struct http_req *r, bool *waited,
                 void *(*wait)(struct app *, int64_t, void (*)(void *), void *),
                 int64_t tenant_id);

static void dispatch(struct http_req *r)
{
    cJSON *body = NULL;
    if (r->route->stream != NULL) {
        struct op_result res = { 0 };
        r->route->stream->finish(r, &res);
        if (!res.pending)
            http_reply_op(r, &res, 200);
        return;
    }
    if (r->body_len > 0) {
        struct json_details d;
        json_details_init(&d);
        int rc = json_parse_strict(r->body, r->body_len, &body, &d);   /* SPEC §4 input rules */
        if (rc == PB_EINVALID_JSON && d.count > 0)
            http_reply_error(r, rc, "request body has data after the JSON value",
                             json_details_take(&d));
        else if (rc == PB_EINVALID_JSON)
            http_reply_error(r, rc, "request body is not valid JSON", NULL);
        else if (rc != 0)
            http_reply_error(r, rc, "a string is not valid UTF-8 or contains NUL (\\u0000)",
                             json_details_take(&d));
        json_details_cleanup(&d);
        if (rc != 0) {
            cJSON_Delete(body);
            return;
        }
    }
    /* PostgreSQL: a node's lock mirror follows the tenant's drag locks from the making of its
     * room on (room_locks_load, then the bus): a node serving only REST requests of the tenant
     * makes the room at the first one, so its moves are checked against the locks taken
     * through other nodes (SPEC §5; cluster locks test: a move passed them before). The room
     * is read off the loop first (room_load.c; issue 13), before the board: a board loaded
     * after the room is followed from its load on; dispatched again when it is read */
    if (r->app->postgres && (r->route->flags & ROUTE_BOARD) && r->route->roles != R_PUBLIC) {
        if (park(r, &r->room_waited, room_load_wait, r->claims.tenant_id)) {
            cJSON_Delete(body);
            return;
        }
        (void)room_get(r->app, r->claims.tenant_id);    /* made: found; else inline */
    }
    /* PostgreSQL: the caller's board, when not cached, is loaded off the loop first (issue
     * 13); dispatched again when it is (http_redispatch) */
    if ((r->route->flags & ROUTE_BOARD) && r->route->roles != R_PUBLIC
        && http_board_wait(r, r->claims.tenant_id)) {
        cJSON_Delete(body);
        return;
    }
    /* ... and the room's online list (room.c), when the answer carries it */
    if ((r->route->flags & ROUTE_ONLINE) && r->route->roles != R_PUBLIC
        && park(r, &r->online_waited, room_online_wait, r->claims.tenant_id)) {
        cJSON_Delete(body);
        return;
    }
    r->route->fn(r, body);
    cJSON_Delete(body);
}

void http_redispatch(struct http_req *r)
{
    if (!r->active || r->replied || r->job != NULL)
        return;
    dispatch(r);
}

static void board_ready(void *owner)
{
    struct http_req *r = owner;
    r->job = NULL;
    http_redispatch(r);
}

/* Park r on wait (board_load_wait, room_load_wait, room_online_wait) for tenant_id, once per
 * kind (*waited); true when parked (dispatched again by board_ready). */
static bool park(struct http_req *r, bool *waited,
                 void *(*wait)(struct app *, int64_t, void (*)(void *), void *),
                 int64_t tenant_id)
{
    if (*waited || r->job != NULL)
        return false;
    void *w = wait(r->app, tenant_id, board_ready, r);
    if (w == NULL)
        return false;
    *waited = true;                     /* dispatched once more at most */
    r->job = w;
    return true;
}

bool http_board_wait(struct http_req *r, int64_t tenant_id)
{
    return park(r, &r->board_waited, board_load_wait, tenant_id);
}

/* Answer an error before the body was read: the connection closes after the answer
 * (PLATFORM.md: otherwise lws reads and discards the rest). */
static void early_error(struct http_req *r, int err, const char *msg, cJSON *extra)
{
    if (r->lws_body && !r->body_done)
        r->close_after = true;          /* finish_close drains the rest, then closes */
    r->wait_body = false;
    http_reply_error(r, err, msg, extra);
}

void http_reply_early(struct http_req *r, int err, const char *message, cJSON *extra)
{
    early_error(r, err, message, extra);
}

/* The body deadline passed (limits.body_timeout_seconds since the headers): the body is still
 * arriving, or the drain after an early answer is still reading. Close the connection. */
static void on_deadline(lws_sorted_usec_list_t *sul)
{
    struct http_req *r = lws_container_of(sul, struct http_req, deadline);
    pb_log(LOG_INFO, "%s: %s after %lld s (limits.body_timeout_seconds): closing", r->path,
           r->draining ? "still draining the body" : "body not complete",
           (long long)r->app->cfg.body_timeout_seconds);
    lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
}

/*
 * True when lws parsed this request's headers out of bytes it had read before the previous
 * transaction on the connection ended, i.e. the request was pipelined behind it. The kernel
 * says how many bytes lws has read (sockrx.c); on an HTTP/1 connection lws reads the socket
 * only when it holds no unparsed bytes, so "nothing read since the previous transaction
 * ended" means these headers came from its buffer. Unknown counts as pipelined.
 */
static bool pipelined(struct lws *wsi)
{
    struct conn_info *ci = lws_get_opaque_user_data(wsi);
    uint64_t now;
    if (ci == NULL || !ci->has_mark)
        return false;                   /* the connection's first request */
    if (sockrx_consumed(lws_get_socket_fd(wsi), &now) != 0)
        return true;
    return now <= ci->rx_mark;
}

/*
 * LWS_CALLBACK_HTTP: validate the headers, route, authenticate, and either answer at once or
 * wait for the body. Returns 0, or -1 to have lws close the connection without an answer
 * (only for a pipelined request with a body, see below).
 */
static int on_request(struct http_req *r, struct lws *wsi, const char *path)
{
    char cl[32];
    bool known = false;
    int64_t content_length = -1;

    r->wsi = wsi;
    r->app = lws_context_user(lws_get_context(wsi));
    r->active = true;
    r->start_us = lws_now_usecs();
    r->method = method_of(wsi);
    snprintf(r->path, sizeof(r->path), "%s", path);
    {
        char ae[ENCODING_ACCEPT_MAX + 1];   /* longer: lws_hdr_copy fails, identity */
        r->accept_gzip = lws_hdr_copy(wsi, ae, sizeof(ae), WSI_TOKEN_HTTP_ACCEPT_ENCODING) > 0
                         && encoding_accepts_gzip(ae);
    }

    if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        content_length = strtoll(cl, NULL, 10);
    /* Content-Length: 0 is an empty body, answered at once: lws 4.1 sends no
     * BODY_COMPLETION for a PUT or DELETE without body bytes (found by fuzz_json_body), so
     * waiting for it left the request unanswered. */
    r->wait_body = content_length > 0 && (r->method == M_POST || r->method == M_PUT
                                          || r->method == M_DELETE);
    /* lws 4.1 reads a body for any Content-Length > 0, and for a POST or PUT without one
     * reads 100 MB (lws_http_action): such a request is answered and the connection closed,
     * or the next request would be swallowed as its body. */
    r->lws_body = content_length > 0
                  || (content_length < 0 && (r->method == M_POST || r->method == M_PUT));
    if (r->lws_body && content_length < 0)
        r->close_after = true;
    if (r->lws_body && pipelined(wsi)) {
        /* lws 4.1.6 cannot read the body of a request it parsed from its buffer: after our
         * callback, lws_http_action() feeds the buffer's head segment, which still starts
         * with these headers, to the body parser (a wrong body), and once the body count is
         * reached it loops for ever without consuming (docs/api-notes.md). Refuse it before
         * lws gets there: the requests before it were answered in order; this one and any
         * after it were not processed, and a client retries them on a new connection
         * (RFC 9112 9.3.2). */
        pb_log(LOG_INFO, "%s: pipelined request with a body: closing the connection "
               "unanswered", path);
        shutdown(lws_get_socket_fd(wsi), SHUT_WR);
        drop_queued_input(lws_get_socket_fd(wsi));
        r->active = false;
        return -1;
    }
    if (r->lws_body)
        lws_sul_schedule(lws_get_context(wsi), 0, &r->deadline, on_deadline,
                         r->app->cfg.body_timeout_seconds * LWS_USEC_PER_SEC);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        /* PLATFORM.md: lws 4.1 cannot read chunked request bodies. */
        r->close_after = true;          /* its chunks must not be read as the next request */
        early_error(r, PB_ELENGTH_REQUIRED, "chunked request bodies are not supported; "
                    "send Content-Length", NULL);
        return 0;
    }
    if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0
        && strcmp(path, "/metrics") != 0) {
        if (r->wait_body && content_length > 0) {
            early_error(r, PB_ENOT_FOUND, "not found", NULL);
            return 0;
        }
        webroot_serve(r);
        return 0;
    }
    r->route = route_find(r->app, r->method, path, r->ids, &known);
    if (r->route == NULL) {
        early_error(r, PB_ENOT_FOUND, known ? "method not allowed on this route" : "no such route", NULL);
        return 0;
    }
    if (r->route->roles != R_PUBLIC) {
        int rc = authenticate(r);
        if (rc != 0) {
            early_error(r, PB_EUNAUTHORIZED, "missing, invalid or expired token", NULL);
            return 0;
        }
        if (!(r->route->roles & (1u << r->claims.role))) {
            early_error(r, PB_EFORBIDDEN, "your role does not allow this", NULL);
            return 0;
        }
    }
    int64_t limit = r->route->stream != NULL ? r->app->cfg.max_upload : r->app->cfg.max_body;
    if (content_length > limit) {
        early_error(r, PB_ETOO_LARGE, "request body is larger than the server accepts", NULL);
        return 0;
    }
    if (r->route->stream != NULL) {
        struct op_result res = { 0 };
        int rc = r->route->stream->begin(r, &res);
        if (rc != 0) {
            early_error(r, rc, res.message != NULL ? res.message : "cannot start the upload",
                        res.extra);
            return 0;
        }
        if (!r->wait_body)
            dispatch(r);
        return 0;
    }
    if (r->wait_body && content_length > 0 && !content_type_is(wsi, "application/json")) {
        early_error(r, PB_EUNSUPPORTED_MEDIA, "send the body as application/json", NULL);
        return 0;
    }
    if (content_length > 1024 * 1024
        && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_EXPECT) > 0) {
        /* FIXME: see PLATFORM.md on 100-continue; bodies over 1 MiB only reach imports. */
    }
    if (!r->wait_body)
        dispatch(r);
    return 0;
}

static int on_body(struct http_req *r, const char *in, size_t len)
{
    if (r->replied) {                   /* an early answer: drop the rest, boundedly */
        r->drained += len;
        return r->drained > (size_t)r->app->cfg.max_upload ? -1 : 0;
    }
    if (!r->active || len == 0)
        return 0;
    if (r->route != NULL && r->route->stream != NULL) {
        int rc = r->route->stream->feed(r, in, len);
        if (rc != 0)
            early_error(r, rc, rc == PB_ETOO_LARGE ? "the file is larger than the server accepts"
                                                    : "the upload could not be read", NULL);
        return 0;
    }
    if (r->body_len + len > (size_t)r->app->cfg.max_body) {
        early_error(r, PB_ETOO_LARGE, "request body is larger than the server accepts", NULL);
        return 0;
    }
    if (r->body_len + len > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (nb == NULL) {
            early_error(r, PB_EINTERNAL, "out of memory", NULL);
            return 0;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, in, len);
    r->body_len += len;
    return 0;
}

/* Expect: 100-continue is never answered by lws 4.1 (PLATFORM.md): answer it ourselves once
 * the headers are validated, so curl does not wait a second before sending an upload. */
static void maybe_continue(struct http_req *r)
{
    char ex[32];
    if (r->replied || !r->wait_body
        || lws_hdr_copy(r->wsi, ex, sizeof(ex), WSI_TOKEN_HTTP_EXPECT) <= 0
        || strcasecmp(ex, "100-continue") != 0)
        return;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    unsigned char buf[LWS_PRE + sizeof(cont)];
    memcpy(buf + LWS_PRE, cont, sizeof(cont) - 1);
    lws_write(r->wsi, buf + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_HTTP_HEADERS_CONTINUATION);
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct http_req *r = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (r == NULL)
            return -1;
        req_reset(r);
        if (on_request(r, wsi, (const char *)in) != 0)
            return -1;
        maybe_continue(r);
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
        if (r == NULL || r->kind != PB_PSS_HTTP)
            return -1;
        return on_body(r, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (r == NULL || r->kind != PB_PSS_HTTP)
            return -1;
        r->body_done = true;
        if (r->draining)
            return -1;                  /* the whole body is read: close cleanly now */
        if (!r->replied)
            lws_sul_cancel(&r->deadline);
        if (r->active && !r->replied && r->wait_body) {
            r->wait_body = false;
            dispatch(r);
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (r == NULL || r->kind != PB_PSS_HTTP)
            return -1;
        return on_writeable(r);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (r != NULL && r->kind == PB_PSS_HTTP) {
            if (r->job != NULL)
                *(struct http_req **)r->job = NULL;  /* job's first field: its owner */
            r->job = NULL;
            req_reset(r);
        }
        return 0;
    default:
        return 0;
    }
}
