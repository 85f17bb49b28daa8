/*
 * ws — WebSocket connections of SPEC §5: token check at upgrade, hello, client events,
 * the bounded per-connection send queue, close codes.
 */
#include "server/server_int.h"
#include "core/utf8.h"

#include "protocol/client_msg.h"

#include <stdlib.h>
#include <string.h>

/* ================================================================ send queue */

/* Fault injection for the out-of-memory path (test/e2e/contract.test.mjs): with the
 * environment variable PLANBOARD_FAULT_WS_QUEUE_GROWTHS=N, queue growths after the first N
 * fail as if malloc had. Read once; unset (the normal case) means never. Loop thread only. */
static bool queue_growth_fails(void)
{
    static long left = -2;              /* -2 = not read yet, -1 = no fault injection */
    if (left == -2) {
        const char *v = getenv("PLANBOARD_FAULT_WS_QUEUE_GROWTHS");
        left = v != NULL && *v != '\0' ? strtol(v, NULL, 10) : -1;
        if (left < -1)
            left = -1;
    }
    if (left < 0)
        return false;
    if (left == 0)
        return true;
    left--;
    return false;
}

static void queue_drop(struct ws_conn *c)
{
    while (c->q_len > 0) {
        ws_msg_unref(c->q[c->q_head]);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
    }
    c->q_bytes = 0;
}

/* Put c on the list of connections waiting for durable commits (once). */
static void wait_durable(struct ws_conn *c)
{
    if (c->dwait)
        return;
    c->dwait = true;
    c->dnext = c->app->ws_waiting;
    c->app->ws_waiting = c;
}

void ws_release_durable(struct app *app)
{
    struct ws_conn *c = app->ws_waiting, *next;
    app->ws_waiting = NULL;
    for (; c != NULL; c = next) {
        next = c->dnext;
        c->dnext = NULL;
        c->dwait = false;
        if (c->q_len > 0 || c->replay_next != 0)
            lws_callback_on_writable(c->wsi);  /* re-queues itself if still not durable */
    }
}

static void wait_unlink(struct ws_conn *c)
{
    if (!c->dwait)
        return;
    for (struct ws_conn **pp = &c->app->ws_waiting; *pp != NULL; pp = &(*pp)->dnext)
        if (*pp == c) {
            *pp = c->dnext;
            break;
        }
    c->dwait = false;
    c->dnext = NULL;
}

void ws_close(struct ws_conn *c, int code, const char *reason)
{
    if (c->close_code != 0)
        return;
    queue_drop(c);
    c->replay_next = 0;
    c->replay_after = 0;
    c->close_code = code;
    c->close_reason = reason;
    lws_callback_on_writable(c->wsi);
}

void ws_send(struct ws_conn *c, struct ws_msg *m)
{
    if (c->close_code != 0)
        return;
    if (m == NULL) {
        /* a frame that could not be built is not dropped silently: the client would miss it */
        pb_log(LOG_ERROR, "ws %llu: frame lost (out of memory), closing 1011",
               (unsigned long long)c->id);
        ws_close(c, 1011, "out of memory");
        return;
    }
    if (c->q_bytes + m->len > (size_t)c->app->cfg.ws_queue_bytes) {
        /* SPEC §5 slow clients: close with 1008; it recovers by reconnecting with sinceSeq. */
        pb_log(LOG_WARN, "ws %llu: send queue over %lld bytes, closing 1008",
               (unsigned long long)c->id, (long long)c->app->cfg.ws_queue_bytes);
        c->app->metrics.ws_slow_closed++;
        ws_close(c, 1008, "send queue limit exceeded");
        return;
    }
    bool now_ok = durable_reached(c->app, m->ticket);
    if (!now_ok)
        wait_durable(c);
    if (now_ok && c->q_len == 0 && c->replay_next == 0 && !lws_partial_buffered(c->wsi)) {
        /* Nothing queued: write now instead of asking for a writable callback. Each
         * lws_callback_on_writable() costs epoll_ctl calls on the libuv loop (PLATFORM.md:
         * the per-delivery cost is syscalls); lws keeps any unsent tail itself and sends it
         * before the next writable callback. */
        if (lws_write(c->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < 0) {
            c->close_code = 1011;
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_LAGGING, LWS_TO_KILL_ASYNC);
        }
        return;
    }
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 16;
        struct ws_msg **nq = queue_growth_fails() ? NULL : malloc(cap * sizeof(*nq));
        if (nq == NULL) {
            pb_log(LOG_ERROR, "ws %llu: cannot queue a frame (out of memory), closing 1011",
                   (unsigned long long)c->id);
            ws_close(c, 1011, "out of memory");
            return;
        }
        for (size_t i = 0; i < c->q_len; i++)
            nq[i] = c->q[(c->q_head + i) % c->q_cap];
        free(c->q);
        c->q = nq;
        c->q_head = 0;
        c->q_cap = cap;
    }
    ws_msg_ref(m);
    c->q[(c->q_head + c->q_len) % c->q_cap] = m;
    c->q_len++;
    c->q_bytes += m->len;
    lws_callback_on_writable(c->wsi);
}

void ws_reply(struct ws_conn *c, const char *event, const char *ref, cJSON *data)
{
    struct ws_msg *m = ws_msg_new(event, 0, ref, data);
    if (m != NULL)
        m->ticket = durable_ticket(c->app);
    ws_send(c, m);                      /* NULL: closes with 1011 */
    ws_msg_unref(m);
}

void ws_replay(struct ws_conn *c, uint64_t first)
{
    size_t keep = 0;
    if (c->close_code != 0 || c->room == NULL)
        return;
    /* Room events still queued are replayed from the ring in seq order instead; direct
     * replies (the join's ack among them) keep their place ahead of the replay. */
    for (size_t i = 0; i < c->q_len; i++) {
        struct ws_msg *m = c->q[(c->q_head + i) % c->q_cap];
        if (m->seq != 0) {
            c->q_bytes -= m->len;
            ws_msg_unref(m);
        } else {
            c->q[(c->q_head + keep++) % c->q_cap] = m;
        }
    }
    c->q_len = keep;
    c->replay_after = keep;
    c->replay_next = first;
    lws_callback_on_writable(c->wsi);
}

void ws_close_all(struct app *app, int code)
{
    for (struct ws_conn *c = app->conns; c != NULL; c = c->next)
        ws_close(c, code, NULL);        /* one already closing keeps its own code */
}

/* ================================================================ client events */

static void reply_error(struct ws_conn *c, const char *ref, int err, const char *message,
                        cJSON *extra)
{
    ws_reply(c, "error", ref, error_reply_json(c->app, err, message, extra));
}

/* Answer an operation: ack with its data (when ref) or the error (always, so a client
 * without ref still learns why). */
static void reply_op(struct ws_conn *c, const char *ref, struct op_result *res)
{
    if (res->err != 0) {
        reply_error(c, ref, res->err, res->message, res->extra);
        res->extra = NULL;
        cJSON_Delete(res->data);
    } else if (ref != NULL) {
        ws_reply(c, "ack", ref, res->data);
    } else {
        cJSON_Delete(res->data);
    }
    res->data = NULL;
}

static void handle_message(struct ws_conn *c, const char *text, size_t len)
{
    struct client_msg m;
    struct op_user u = {
        .tenant_id = c->claims.tenant_id, .user_id = c->claims.user_id,
        .role = c->claims.role, .username = c->username,
    };
    struct op_result res = { 0 };

    /* Parsing and validation are protocol/client_msg.c (no sockets: it has a fuzz target). */
    int prc = client_msg_parse(text, len, &m);
    if (prc != 0) {
        reply_error(c, m.ref, prc, m.error, m.details);
        m.details = NULL;               /* reply_error took it */
        client_msg_cleanup(&m);
        return;
    }
    switch (m.event) {
    case CLIENT_PING:
        ws_reply(c, "pong", m.ref, NULL);
        break;
    case CLIENT_JOIN:
        if (m.ref != NULL) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "seq", (double)room_seq(room_get(c->app, u.tenant_id)));
            cJSON_AddStringToObject(a, "epoch", c->app->epoch);
            ws_reply(c, "ack", m.ref, a);
        }
        room_join(c->app, c, m.has_since, (uint64_t)m.since_seq, m.epoch);
        break;
    case CLIENT_LEAVE:
        room_leave(c->app, c);
        if (m.ref != NULL)
            ws_reply(c, "ack", m.ref, NULL);
        break;
    case CLIENT_START_DRAG:
        op_start_drag(c->app, &u, m.order_id, &res);
        reply_op(c, m.ref, &res);
        break;
    case CLIENT_END_DRAG:
        op_end_drag(c->app, &u, m.order_id, &res);
        reply_op(c, m.ref, &res);
        break;
    case CLIENT_MOVE_ORDER:
        op_move(c->app, &u, m.order_id, m.data, &res);
        reply_op(c, m.ref, &res);
        break;
    }
    client_msg_cleanup(&m);
}

/* ================================================================ connection lifecycle */

/* Token from ?token= or Authorization: Bearer. 0 and *out, or PB_EUNAUTHORIZED. */
static int upgrade_auth(struct app *app, struct lws *wsi, struct auth_claims *out)
{
    char buf[4096];
    /* lws 4.1 copies "token=<value>" into buf and returns a pointer to the value */
    const char *tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
    if (tok == NULL) {
        int len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
        if (len <= 7 || len >= (int)sizeof(buf)
            || lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION) < 0
            || strncasecmp(buf, "Bearer ", 7) != 0)
            return PB_EUNAUTHORIZED;
        tok = buf + 7;
    }
    return session_verify_token(app, tok, out);
}

/* SPEC §5: refuse the upgrade with a real 401 (PLATFORM.md: answer in CONFIRM_UPGRADE). */
static int refuse_upgrade(struct lws *wsi, const char *why)
{
    unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
    char *body = error_reply_body(lws_context_user(lws_get_context(wsi)), PB_EUNAUTHORIZED, why,
                                  NULL);
    size_t blen = body ? strlen(body) : 0;

    if (lws_add_http_common_headers(wsi, 401, "application/json; charset=utf-8", blen, &p, end)
        || lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (unsigned char *)"close", 5,
                                        &p, end)
        || lws_finalize_write_http_header(wsi, start, &p, end)) {
        free(body);
        return 1;
    }
    if (body != NULL) {
        unsigned char out[LWS_PRE + 512];
        if (blen < sizeof(out) - LWS_PRE) {
            memcpy(out + LWS_PRE, body, blen);
            lws_write(wsi, out + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL);
        }
        free(body);
    }
    return 1;
}

static void conn_link(struct app *app, struct ws_conn *c)
{
    c->prev = NULL;
    c->next = app->conns;
    if (app->conns != NULL)
        app->conns->prev = c;
    app->conns = c;
}

static void conn_unlink(struct app *app, struct ws_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (app->conns == c)
        app->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len)
{
    struct lws_context *cx = lws_get_context(wsi);
    struct app *app = lws_context_user(cx);
    struct ws_conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        struct auth_claims cl;
        char path[16];
        int plen = lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
        if (plen < 0 || strcmp(path, "/ws") != 0)
            return refuse_upgrade(wsi, "WebSocket endpoint is /ws");
        if (strcmp((const char *)in, "websocket") != 0)
            return refuse_upgrade(wsi, "only websocket upgrades");
        if (app->stopping || upgrade_auth(app, wsi, &cl) != 0)
            return refuse_upgrade(wsi, "missing, invalid or expired token");
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        struct user u;
        memset(c, 0, sizeof(*c));
        c->kind = PB_PSS_WS;
        if (upgrade_auth(app, wsi, &c->claims) != 0)
            return -1;
        if (store_user_get(app->store, c->claims.tenant_id, c->claims.user_id, &u) != 0)
            return -1;
        if (!u.is_active) {
            user_cleanup(&u);
            return -1;
        }
        c->id = ++app->next_conn_id;
        app->metrics.ws_opened++;
        c->wsi = wsi;
        c->app = app;
        snprintf(c->username, sizeof(c->username), "%s", u.username);
        if (room_conn_open(app, c) != 0) {
            c->app = NULL;              /* CLOSED must not count it out again */
            user_cleanup(&u);
            return -1;
        }
        conn_link(app, c);

        struct tenant t;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToObject(d, "user", json_user(&u));
        if (store_tenant_get(app->store, c->claims.tenant_id, &t) == 0) {
            cJSON_AddItemToObject(d, "tenant", json_tenant_brief(&t));
            tenant_cleanup(&t);
        }
        cJSON_AddNumberToObject(d, "seq", (double)room_seq(room_get(app, c->claims.tenant_id)));
        cJSON_AddStringToObject(d, "epoch", app->epoch);
        ws_reply(c, "hello", NULL, d);
        pb_log(LOG_INFO, "ws %llu open user=%s tenant=%lld", (unsigned long long)c->id,
               u.username, (long long)c->claims.tenant_id);
        user_cleanup(&u);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        if (c->kind != PB_PSS_WS || c->app == NULL)
            return -1;
        if (lws_frame_is_binary(wsi)) {
            if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
                reply_error(c, NULL, PB_EVALIDATION, "expected UTF-8 JSON text frames", NULL);
            return 0;
        }
        bool complete = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
        if (complete && c->rx == NULL && !c->rx_discard) {
            handle_message(c, in, len);         /* the usual case: one frame, one piece */
            return 0;
        }
        /* A message in several frames or pieces (bigger than the rx buffer): collect it. */
        if (!c->rx_discard) {
            if (c->rx_len + len > PB_WS_MAX_MESSAGE) {
                c->rx_discard = true;
            } else {
                char *nb = realloc(c->rx, c->rx_len + len + 1);
                if (nb == NULL)
                    return -1;
                memcpy(nb + c->rx_len, in, len);
                c->rx = nb;
                c->rx_len += len;
            }
        }
        if (complete) {
            if (c->rx_discard)
                reply_error(c, NULL, PB_ETOO_LARGE, "message larger than 64 KiB", NULL);
            else
                handle_message(c, c->rx, c->rx_len);
            free(c->rx);
            c->rx = NULL;
            c->rx_len = 0;
            c->rx_discard = false;
        }
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (c->kind != PB_PSS_WS || c->app == NULL)
            return -1;
        if (c->close_code != 0) {
            const char *why = c->close_reason != NULL ? c->close_reason
                            : c->close_code == 1001 ? "server shutting down" : "closing";
            /* PLATFORM.md: lws_close_reason() + return -1 from WRITEABLE loses the close frame
             * on Debian's build, so the frame (code + reason, RFC 6455 §5.5.1) is written here
             * and the connection dropped after it is on the wire. */
            unsigned char frame[LWS_PRE + 128], *f = frame + LWS_PRE;
            size_t rlen = strlen(why);          /* < 124: fits a one-byte length */
            f[0] = 0x88;                        /* FIN + opcode close; server frames unmasked */
            f[1] = (unsigned char)(2 + rlen);
            f[2] = (unsigned char)(c->close_code >> 8);
            f[3] = (unsigned char)(c->close_code & 0xff);
            memcpy(f + 4, why, rlen);
            lws_write(wsi, f, 4 + rlen, LWS_WRITE_RAW);
            return -1;
        }
        /* Several frames per callback while the pipe is not choked (PLATFORM.md): first the
         * frames queued before a replay began, then the replay straight from the room's ring
         * until caught up with the room, then the queue. */
        int budget = 32;
        while (budget-- > 0) {
            bool from_ring = c->replay_next != 0 && c->replay_after == 0;
            struct ws_msg *m;
            if (from_ring) {
                m = room_event(c->room, c->replay_next);
                if (m == NULL) {        /* overwritten: room_publish closes such a reader */
                    ws_close(c, 1008, "send queue limit exceeded");
                    break;
                }
            } else if (c->q_len > 0) {
                m = c->q[c->q_head];
            } else {
                break;
            }
            if (!durable_reached(app, m->ticket)) {
                wait_durable(c);        /* group commit: not on disk yet */
                return 0;
            }
            int n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
            if (from_ring) {
                if (++c->replay_next > room_seq(c->room))
                    c->replay_next = 0;         /* caught up: room_publish queues again */
            } else {
                c->q_head = (c->q_head + 1) % c->q_cap;
                c->q_len--;
                c->q_bytes -= m->len;
                if (c->replay_after > 0)
                    c->replay_after--;
                ws_msg_unref(m);
            }
            if (n < 0)
                return -1;
            /* lws_send_pipe_choked() costs a poll(): only ask when more is waiting. */
            if ((c->q_len == 0 && c->replay_next == 0) || lws_send_pipe_choked(wsi))
                break;
        }
        if (c->q_len > 0 || c->replay_next != 0 || c->close_code != 0)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        if (c->kind != PB_PSS_WS || c->app == NULL)
            return 0;
        pb_log(LOG_INFO, "ws %llu close user=%s", (unsigned long long)c->id, c->username);
        room_leave(app, c);
        conn_unlink(app, c);
        wait_unlink(c);
        if (room_conn_close(app, c) == 0 && !app->stopping)
            op_release_user_locks(app, c->claims.tenant_id, c->claims.user_id, "disconnected");
        queue_drop(c);
        c->replay_next = 0;
        free(c->q);
        c->q = NULL;
        free(c->rx);
        c->rx = NULL;
        c->app = NULL;
        return 0;

    default:
        return 0;
    }
}
