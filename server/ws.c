/*
 * ws — WebSocket connections of SPEC §5: token check at upgrade, hello, client events,
 * the bounded per-connection send queue, close codes.
 */
#include "server/server_int.h"
#include "core/utf8.h"

#include "protocol/client_msg.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ sending */

static void on_flush(uv_check_t *h);

/* Ask lws for a real writable callback (the socket could not take everything). */
static void ask_writable(struct ws_conn *c)
{
    if (c->wake_asked || c->close_code != 0 || c->dwait)
        return;
    c->wake_asked = true;
    lws_callback_on_writable(c->wsi);
}

/* room_reader_ops.cull */
static void reader_cull(struct room_reader *rd, int code, const char *reason)
{
    ws_close((struct ws_conn *)((char *)rd - offsetof(struct ws_conn, rd)), code, reason);
}

static void reader_wake(struct room_reader *rd);
static const struct room_reader_ops reader_ops = { reader_wake, reader_cull };

/* room_reader_ops.wake. A publish wakes every member; lws_callback_on_writable() on the
 * libuv loop costs ~4 epoll_ctl calls per connection and wake-up (PLATFORM.md), three times
 * what the write itself costs. So a woken connection goes on app->ws_woken, and after this
 * loop iteration's I/O the check handle hands each to lws_service_fd() as writable: lws then
 * runs the connection's own LWS_CALLBACK_SERVER_WRITEABLE (writes stay there, issue 9 item
 * 5) without touching epoll. When the socket cannot take it all, lws keeps the rest and
 * waits for a real POLLOUT itself. One wake per connection per iteration. */
static void reader_wake(struct room_reader *rd)
{
    struct ws_conn *c = (struct ws_conn *)((char *)rd - offsetof(struct ws_conn, rd));
    struct app *app = c->app;
    if (c->wake_asked || c->close_code != 0 || c->dwait)
        return;                         /* dwait: ws_release_durable wakes it when it is time */
    c->wake_asked = true;
    c->woken = true;
    c->wprev = NULL;
    c->wnext = app->ws_woken;
    if (app->ws_woken != NULL)
        app->ws_woken->wprev = c;
    app->ws_woken = c;
    uv_check_start(&app->ws_flush, on_flush);
}

static void woken_unlink(struct ws_conn *c)
{
    if (!c->woken)
        return;
    if (c->wprev != NULL)
        c->wprev->wnext = c->wnext;
    else
        c->app->ws_woken = c->wnext;
    if (c->wnext != NULL)
        c->wnext->wprev = c->wprev;
    c->wnext = c->wprev = NULL;
    c->woken = false;
}

static void on_flush(uv_check_t *h)
{
    struct app *app = h->data;
    struct ws_conn *c;
    uv_check_stop(h);
    /* one at a time: servicing one may close another (its CLOSED unlinks it) */
    while ((c = app->ws_woken) != NULL) {
        woken_unlink(c);
        struct lws_pollfd pfd = {
            .fd = lws_get_socket_fd(c->wsi), .events = LWS_POLLOUT, .revents = LWS_POLLOUT,
        };
        app->ws_flushing = c;
        if (pfd.fd >= 0)
            lws_service_fd(lws_get_context(c->wsi), &pfd);
        /* Still open and its WRITEABLE did not run (lws was flushing its own buffered
         * output, or would not take the fd): ask for a real writable callback. */
        if (app->ws_flushing == c && c->wake_asked) {
            c->wake_asked = false;
            if (room_reader_pending(&c->rd))
                ask_writable(c);
        }
        app->ws_flushing = NULL;
    }
}

void ws_flush_init(struct app *app)
{
    uv_check_init(app->loop, &app->ws_flush);
    app->ws_flush.data = app;
}

void ws_flush_close(struct app *app)
{
    uv_close((uv_handle_t *)&app->ws_flush, NULL);
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
        if (room_reader_pending(&c->rd))
            reader_wake(&c->rd);        /* re-queues itself if still not durable */
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
    room_reader_drop(&c->rd);
    c->close_code = code;
    c->close_reason = reason;
    lws_callback_on_writable(c->wsi);
}

void ws_reply(struct ws_conn *c, const char *event, const char *ref, cJSON *data)
{
    if (c->close_code != 0) {
        cJSON_Delete(data);
        return;
    }
    struct ws_msg *m = ws_msg_new(event, 0, ref, data);
    if (m != NULL)
        m->ticket = durable_ticket(c->app);
    room_reader_send(c->app, &c->rd, m);    /* NULL: culls with 1011 */
    ws_msg_unref(m);
}

void ws_close_all(struct app *app, int code)
{
    for (struct ws_conn *c = app->conns; c != NULL; c = c->next)
        ws_close(c, code, NULL);        /* one already closing keeps its own code */
}

void ws_close_user(struct app *app, int64_t tenant_id, int64_t user_id, const char *sid,
                   const char *reason)
{
    for (struct ws_conn *c = app->conns; c != NULL; c = c->next) {
        char csid[PB_SID_LEN];
        if (c->claims.user_id != user_id || c->claims.tenant_id != tenant_id)
            continue;
        if (sid != NULL) {
            session_id_of(&c->claims, csid);
            if (strcmp(csid, sid) != 0)
                continue;
        }
        ws_close(c, 1008, reason);
    }
}

/* RFC 6455 §5.2 header of an unmasked final text frame of len bytes into h; its length. */
static size_t text_frame_header(unsigned char *h, size_t len)
{
    h[0] = 0x81;                        /* FIN + text */
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* Frames written in one lws_write: the per-delivery cost on this VM is per syscall, not per
 * byte (PLATFORM.md), so a connection behind by several frames gets them in one send. */
#define WS_BATCH (16 * 1024)

/* LWS_CALLBACK_SERVER_WRITEABLE of an open connection: write its next frames (its own and its
 * room's, in order, each only once its commits are durable) in one lws_write. 0, or -1 to
 * drop the connection (a failed write). */
static int write_pending(struct ws_conn *c)
{
    static unsigned char batch[LWS_PRE + WS_BATCH];    /* loop thread only; lws copies what
                                                         * the socket does not take */
    unsigned char *out = batch + LWS_PRE;
    size_t used = 0;
    struct app *app = c->app;
    bool lost = false;
    struct ws_msg *m;

    while ((m = room_reader_peek(&c->rd, &lost)) != NULL) {
        if (!durable_reached(app, m->ticket)) {
            wait_durable(c);            /* group commit: not on disk yet */
            break;
        }
        unsigned char h[10];
        size_t hl = text_frame_header(h, m->len);
        if (used + hl + m->len > WS_BATCH) {
            if (used > 0)
                break;                  /* the rest at the next writable callback */
            /* bigger than a batch: alone, lws frames it */
            int n = lws_write(c->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
            room_reader_consume(app, &c->rd);
            if (n < 0)
                return -1;
            break;
        }
        memcpy(out + used, h, hl);
        memcpy(out + used + hl, m->buf + LWS_PRE, m->len);
        used += hl + m->len;
        room_reader_consume(app, &c->rd);
    }
    if (lost) {                         /* lapped while not a member (after leaving) */
        app->metrics.ws_slow_closed++;
        ws_close(c, 1008, "send queue limit exceeded");
    }
    /* Whole frames, already framed: RAW keeps lws from framing the batch as one message. */
    if (used > 0 && lws_write(c->wsi, out, used, LWS_WRITE_RAW) < 0)
        return -1;
    if (!c->dwait && room_reader_pending(&c->rd))
        ask_writable(c);
    return 0;
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

/* ================================================================ moves through the writer */

/*
 * A move_order goes through the writer (op_move): its ack comes when the move is committed,
 * applied and published. A connection's moves are pipelined (many in flight; one tenant's
 * writes commit in order, so do their acks) and their answers go out in the order the moves
 * came, an immediate refusal included (each move has a slot). Any other message that comes
 * while moves are in flight waits in the connection's queue, with everything after it, until
 * the last of them is answered: every message is handled, and answered, in order.
 * Back-pressure on one sender, nobody else waits: past PB_WS_MAX_IN_FLIGHT moves in flight
 * or PB_WS_QUEUE_PAUSE queued messages the socket is not read (lws_rx_flow_control) until
 * they drain; what lws had read already still comes, up to PB_WS_MAX_QUEUED queued, past
 * which a message is answered rate_limited (SPEC §4) and dropped. A connection that closes
 * leaves its moves to complete (they are published to the room); their acks go nowhere.
 */
#define PB_WS_MAX_IN_FLIGHT 64
#define PB_WS_MAX_QUEUED 1024
#define PB_WS_QUEUE_PAUSE 32

struct ws_move {                        /* a move's place in its connection's answers */
    struct ws_move *next;
    struct ws_conn *owner;              /* NULL once the connection closed */
    bool ready;                         /* answered: event/data below */
    const char *event;                  /* "ack" or "error" */
    char *ref;
    cJSON *data;
};

struct ws_queued {
    struct ws_queued *next;
    int err;                            /* 0: a message; else a frame refused with this SPEC §4
                                         * code and text as its message (reject_frame) */
    size_t len;
    char text[];                        /* the message, NUL-terminated */
};

static void handle_message(struct ws_conn *c, const char *text, size_t len);

static void rx_update(struct ws_conn *c)
{
    bool pause = c->in_flight >= PB_WS_MAX_IN_FLIGHT || c->queued >= PB_WS_QUEUE_PAUSE;
    bool resume = c->in_flight < PB_WS_MAX_IN_FLIGHT / 2 && c->queued == 0;
    if (pause && !c->rx_paused) {
        c->rx_paused = true;
        lws_rx_flow_control(c->wsi, 0);
    } else if (resume && c->rx_paused) {
        c->rx_paused = false;
        lws_rx_flow_control(c->wsi, 1);
    }
}

/* Whether text is a move_order (queued messages are parsed again when they are handled). */
static bool is_move(const char *text, size_t len)
{
    struct client_msg m;
    bool move = client_msg_parse(text, len, &m) == 0 && m.event == CLIENT_MOVE_ORDER;
    client_msg_cleanup(&m);
    return move;
}

/* A queued copy of text (err: see struct ws_queued), not linked; NULL when out of memory. */
static struct ws_queued *queued_new(const char *text, size_t len, int err)
{
    struct ws_queued *q = malloc(sizeof(*q) + len + 1);
    if (q == NULL)
        return NULL;
    q->next = NULL;
    q->err = err;
    q->len = len;
    memcpy(q->text, text, len);
    q->text[len] = '\0';
    return q;
}

static void enqueue(struct ws_conn *c, const char *text, size_t len, int err)
{
    struct ws_queued *q;
    if (c->queued >= PB_WS_MAX_QUEUED || (q = queued_new(text, len, err)) == NULL) {
        ws_reply(c, "error", NULL, error_reply_json(c->app, PB_ERATE_LIMITED,
                                                    "too many messages waiting", NULL));
        return;
    }
    if (c->queue_tail != NULL)
        c->queue_tail->next = q;
    else
        c->queue = q;
    c->queue_tail = q;
    c->queued++;
}

/* A complete message: handled now, or queued behind the moves in flight (see above) or, on
 * PostgreSQL, until the connection's open has read its user (ws_open below) or its tenant's
 * board is loaded (board_park). */
static void receive_message(struct ws_conn *c, const char *text, size_t len)
{
    if (c->open_job != NULL || c->board_wait != NULL || c->queue != NULL
        || (c->moves != NULL && !is_move(text, len)))
        enqueue(c, text, len, 0);
    else
        handle_message(c, text, len);
    rx_update(c);
}

/* A frame refused whole (binary, or a message past PB_WS_MAX_MESSAGE): its error now, or, when
 * messages before it wait (the open's read, a board load, moves in flight), in its place
 * behind them; before, the error of a frame sent before hello was lost (no reader queue yet). */
static void reject_frame(struct ws_conn *c, int err, const char *why)
{
    if (c->open_job != NULL || c->board_wait != NULL || c->queue != NULL || c->moves != NULL)
        enqueue(c, why, strlen(why), err);
    else
        reply_error(c, NULL, err, why, NULL);
    rx_update(c);
}

/* Send the answers at the head that are ready; when no move is left, handle the queue. */
static void flush_moves(struct ws_conn *c)
{
    struct ws_move *w;
    struct ws_queued *q;
    if (c->flushing)
        return;                         /* a queued message being handled: the loop below
                                         * goes on after it */
    c->flushing = true;
    for (;;) {
        while ((w = c->moves) != NULL && w->ready) {
            c->moves = w->next;
            if (c->moves == NULL)
                c->moves_tail = NULL;
            if (w->event != NULL)
                ws_reply(c, w->event, w->ref, w->data);
            free(w->ref);
            free(w);
        }
        if ((q = c->queue) == NULL || c->board_wait != NULL
            || (c->moves != NULL && (q->err != 0 || !is_move(q->text, q->len))))
            break;
        c->queue = q->next;
        if (c->queue == NULL)
            c->queue_tail = NULL;
        c->queued--;
        if (q->err != 0)
            reply_error(c, NULL, q->err, q->text, NULL);
        else
            handle_message(c, q->text, q->len);
        free(q);
    }
    c->flushing = false;
    rx_update(c);
}

/* Fill a move's answer from res (consumed). */
static void move_answer(struct ws_move *w, struct op_result *res)
{
    struct ws_conn *c = w->owner;
    if (res->err != 0) {
        w->event = "error";             /* always, so a client without ref learns why */
        w->data = error_reply_json(c->app, res->err, res->message, res->extra);
        cJSON_Delete(res->data);
    } else if (w->ref != NULL) {
        w->event = "ack";
        w->data = res->data;
    } else {
        w->event = NULL;                /* nothing to say */
        cJSON_Delete(res->data);
    }
    res->data = res->extra = NULL;
    w->ready = true;
}

static void ws_move_done(void *ctx, struct op_result *res)
{
    struct ws_move *w = ctx;
    struct ws_conn *c = w->owner;
    if (c == NULL) {                    /* the connection closed: nobody to answer */
        cJSON_Delete(res->data);
        cJSON_Delete(res->extra);
        free(w->ref);
        free(w);
        return;
    }
    c->in_flight--;
    move_answer(w, res);
    flush_moves(c);
}

/* A slot in the connection's answers for m (moves, drag start/end: their answers go out in
 * the order the messages came), or NULL after answering m's error (out of memory). */
static struct ws_move *answer_slot(struct ws_conn *c, const struct client_msg *m)
{
    struct ws_move *w = calloc(1, sizeof(*w));
    if (w == NULL || (m->ref != NULL && (w->ref = strdup(m->ref)) == NULL)) {
        free(w);
        ws_reply(c, "error", m->ref, error_reply_json(c->app, PB_EINTERNAL, "out of memory",
                                                      NULL));
        return NULL;
    }
    w->owner = c;
    if (c->moves_tail != NULL)          /* its answer goes after the ones before it */
        c->moves_tail->next = w;
    else
        c->moves = w;
    c->moves_tail = w;
    return w;
}

static void ws_move(struct ws_conn *c, const struct op_user *u, const struct client_msg *m)
{
    struct op_result res = { 0 };
    struct ws_move *w = answer_slot(c, m);
    if (w == NULL)
        return;
    if (op_move(c->app, u, m->order_id, m->data, &res, ws_move_done, w)) {
        c->in_flight++;                 /* ws_move_done answers */
        return;
    }
    move_answer(w, &res);
    flush_moves(c);
}

/* start_drag / end_drag (SPEC §5). On PostgreSQL they go through the writer (op_start_drag):
 * the answer takes a slot in the connection's answers as a move does, and the messages after
 * it wait in the queue as they wait behind moves; a move that comes next is pipelined behind
 * it in the tenant's gate. On SQLite they are answered at once (only when no move is in
 * flight: they are not moves, so they waited in the queue for that, as before). */
static void ws_drag(struct ws_conn *c, const struct op_user *u, const struct client_msg *m)
{
    struct op_result res = { 0 };
    struct ws_move *w = answer_slot(c, m);
    bool later;
    if (w == NULL)
        return;
    later = m->event == CLIENT_START_DRAG
            ? op_start_drag(c->app, u, m->order_id, &res, ws_move_done, w)
            : op_end_drag(c->app, u, m->order_id, &res, ws_move_done, w);
    if (later) {
        c->in_flight++;                 /* ws_move_done answers */
        return;
    }
    move_answer(w, &res);
    flush_moves(c);
}

/* A board load a message waited for ended (board_load_wait's ready): the queue goes on. */
static void board_ready(void *owner)
{
    struct ws_conn *c = owner;
    c->board_wait = NULL;
    c->board_waited = true;
    flush_moves(c);
}

/*
 * PostgreSQL (issue 13: the loop never waits on a PostgreSQL round trip): a message that
 * takes its tenant's board (a drag start or end, a move, a preview) while the board is not
 * cached — sent right after the join, before the join's prefetch (board_load_prefetch) ended,
 * or after the board was dropped — waits for the board's load off the loop instead of loading
 * it inline: put back at the head of the queue (it came first; the messages after it wait
 * behind it) and handled when the load ends. True when parked. Once per load: after a load
 * that installed nothing (failed) the message goes on and loads inline, as before.
 */
static bool board_park(struct ws_conn *c, const char *text, size_t len)
{
    struct ws_queued *q;
    void *w;
    if (c->board_waited) {
        c->board_waited = false;
        return false;
    }
    if ((w = board_load_wait(c->app, c->claims.tenant_id, board_ready, c)) == NULL)
        return false;                   /* cached (the usual case), or no load could start */
    if ((q = queued_new(text, len, 0)) == NULL) {
        *(void **)w = NULL;             /* out of memory: the load's end skips it; inline */
        return false;
    }
    c->board_wait = w;
    q->next = c->queue;
    c->queue = q;
    if (c->queue_tail == NULL)
        c->queue_tail = q;
    c->queued++;
    return true;
}

static void handle_message(struct ws_conn *c, const char *text, size_t len)
{
    struct client_msg m;
    struct op_user u = {
        .tenant_id = c->claims.tenant_id, .user_id = c->claims.user_id,
        .role = c->claims.role, .username = c->rd.username,
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
    case CLIENT_JOIN: {
        struct room *room = room_get(c->app, u.tenant_id);
        board_load_prefetch(c->app, u.tenant_id);   /* PostgreSQL: its board, off the loop */
        if (m.ref != NULL) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "seq", (double)room_seq(room));
            cJSON_AddStringToObject(a, "epoch", room_epoch(room));
            ws_reply(c, "ack", m.ref, a);
        }
        const char *why = room_join(c->app, &c->rd, m.has_since, (uint64_t)m.since_seq, m.epoch);
        if (why != NULL) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddNumberToObject(d, "seq", (double)room_seq(room));
            cJSON_AddStringToObject(d, "epoch", room_epoch(room));
            cJSON_AddStringToObject(d, "reason", why);
            ws_reply(c, "resync_required", NULL, d);
        }
        break;
    }
    case CLIENT_LEAVE:
        room_leave(c->app, &c->rd);
        if (m.ref != NULL)
            ws_reply(c, "ack", m.ref, NULL);
        break;
    case CLIENT_START_DRAG:
    case CLIENT_END_DRAG:
    case CLIENT_MOVE_ORDER:
    case CLIENT_PREVIEW_MOVE:
        if (c->app->postgres && board_park(c, text, len))
            break;                      /* handled again when the board is loaded */
        if (m.event == CLIENT_MOVE_ORDER) {
            ws_move(c, &u, &m);
        } else if (m.event == CLIENT_PREVIEW_MOVE) {    /* SPEC §9 what-if: after its moves */
            op_preview_move(c->app, &u, m.order_id, m.data, &res);
            reply_op(c, m.ref, &res);
        } else {
            ws_drag(c, &u, &m);
        }
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

/* The open of c with its user u and tenant t (NULL: not found; the hello then has no tenant),
 * both read already: refuses an inactive user, joins c to its room's connections (SPEC §5
 * presence), links it to app->conns unless it is there already and sends hello. 0, or -1
 * when the connection must be dropped (c->app is then NULL: CLOSED has nothing to undo). */
static int ws_open_finish(struct app *app, struct ws_conn *c, const struct user *u,
                          const struct tenant *t)
{
    if (!u->is_active)
        return -1;
    c->app = app;
    snprintf(c->rd.username, sizeof(c->rd.username), "%s", u->username);
    if (room_conn_open(app, &c->rd) != 0) {
        c->app = NULL;                  /* CLOSED must not count it out again */
        return -1;
    }
    c->opened = true;
    c->id = ++app->next_conn_id;
    app->metrics.ws_opened++;
    if (c->next == NULL && c->prev == NULL && app->conns != c)
        conn_link(app, c);

    cJSON *d = cJSON_CreateObject();
    cJSON_AddItemToObject(d, "user", json_user(u));
    if (t != NULL)
        cJSON_AddItemToObject(d, "tenant", json_tenant_brief(t));
    struct room *room = room_get(app, c->claims.tenant_id);
    cJSON_AddNumberToObject(d, "seq", (double)room_seq(room));
    cJSON_AddStringToObject(d, "epoch", room_epoch(room));
    ws_reply(c, "hello", NULL, d);
    pb_log(LOG_INFO, "ws %llu open user=%s tenant=%lld", (unsigned long long)c->id,
           u->username, (long long)c->claims.tenant_id);
    return 0;
}

/* Free a connection's queued messages and partial message (at its close, opened or not). */
static void ws_drop_queued(struct ws_conn *c)
{
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
    while (c->queue != NULL) {
        struct ws_queued *q = c->queue;
        c->queue = q->next;
        free(q);
    }
    c->queue_tail = NULL;
    c->queued = 0;
}

/*
 * PostgreSQL: a connection's user and tenant are read at its open through the reader thread
 * (reads_submit; issue 13 "the loop never waits on a PostgreSQL round trip": they were the
 * loop's 2 round trips per connection). Meanwhile the connection is in app->conns (so a
 * logout, a user's rights going or a shutdown close it with their codes, as they would an
 * open one), not in its room, and its messages queue (receive_message) until the read's done
 * sends hello and handles them in order. What the read decides is what it decided on the
 * loop: a user gone or inactive, a failed read or a session revoked meanwhile drop the
 * connection without a close frame (as returning -1 from ESTABLISHED does: the client sees
 * 1006). The job is "owner first": CLOSED clears owner, and the done then only frees it.
 */
struct ws_open {
    struct ws_conn *owner;              /* first: CLOSED clears it */
    struct app *app;
    int64_t tenant_id, user_id;
    bool have_user, have_tenant;
    struct user user;
    struct tenant tenant;
};

static void ws_open_job_free(struct ws_open *j)
{
    if (j->have_user)
        user_cleanup(&j->user);
    if (j->have_tenant)
        tenant_cleanup(&j->tenant);
    free(j);
}

/* Reader thread: the user (PB_ENOT_FOUND when gone, PB_EINTERNAL) and the tenant (optional,
 * as in the hello). A rerun overwrites what the first run read. */
static int ws_open_read(struct store *rs, void *ctx)
{
    struct ws_open *j = ctx;
    if (j->have_user)
        user_cleanup(&j->user);
    if (j->have_tenant)
        tenant_cleanup(&j->tenant);
    j->have_user = j->have_tenant = false;
    int rc = store_user_get(rs, j->tenant_id, j->user_id, &j->user);
    if (rc != 0)
        return rc;
    j->have_user = true;
    j->have_tenant = store_tenant_get(rs, j->tenant_id, &j->tenant) == 0;
    return 0;
}

/* Loop: open the connection (ws_open_finish) or drop it; then its queued messages. */
static void ws_open_done(void *ctx, int status)
{
    struct ws_open *j = ctx;
    struct ws_conn *c = j->owner;
    if (c == NULL) {                    /* closed while its read was in flight */
        ws_open_job_free(j);
        return;
    }
    struct app *app = j->app;
    c->open_job = NULL;
    if (c->close_code != 0) {
        /* closed meanwhile (logout, rights gone, shutdown): its close frame goes out at the
         * next writable; CLOSED then finds it never opened */
        ws_drop_queued(c);
        ws_open_job_free(j);
        return;
    }
    if (status != 0 || !j->have_user || session_revoked(app, &c->claims)
        || ws_open_finish(app, c, &j->user, j->have_tenant ? &j->tenant : NULL) != 0) {
        conn_unlink(app, c);
        ws_drop_queued(c);
        c->app = NULL;                  /* RECEIVE and WRITEABLE drop it, CLOSED skips it */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_LAGGING, LWS_TO_KILL_ASYNC);
        ws_open_job_free(j);
        return;
    }
    ws_open_job_free(j);
    flush_moves(c);                     /* the messages that came meanwhile, in order */
}

/* ESTABLISHED on PostgreSQL: link c and submit its open's read. 0, or -1 to drop it (the
 * reader refused the job: closing, or its queue full). */
static int ws_open_submit(struct app *app, struct ws_conn *c)
{
    struct ws_open *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -1;
    j->owner = c;
    j->app = app;
    j->tenant_id = c->claims.tenant_id;
    j->user_id = c->claims.user_id;
    c->app = app;
    c->open_job = j;
    conn_link(app, c);
    /* the tenant's room, when this node has none, is read off the loop too (room_load.c),
     * queued first: the reader runs in order, so it is linked before this read's done (else,
     * failed, ws_open_finish makes it inline) */
    (void)room_load_prefetch(app, c->claims.tenant_id);
    if (reads_submit(app, ws_open_read, ws_open_done, j) != 0) {
        conn_unlink(app, c);
        c->open_job = NULL;
        c->app = NULL;
        free(j);
        return -1;
    }
    return 0;
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
    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof(*c));
        c->kind = PB_PSS_WS;
        if (upgrade_auth(app, wsi, &c->claims) != 0)
            return -1;
        c->wsi = wsi;
        c->rd.ops = &reader_ops;
        c->rd.tenant_id = c->claims.tenant_id;
        c->rd.user_id = c->claims.user_id;
        if (app->postgres)
            return ws_open_submit(app, c);
        {
            /* SQLite: the user and tenant on the loop's connection (a local read), as ever */
            struct user u;
            struct tenant t;
            if (store_user_get(app->store, c->claims.tenant_id, c->claims.user_id, &u) != 0)
                return -1;
            bool have_tenant = store_tenant_get(app->store, c->claims.tenant_id, &t) == 0;
            int rc = ws_open_finish(app, c, &u, have_tenant ? &t : NULL);
            user_cleanup(&u);
            if (have_tenant)
                tenant_cleanup(&t);
            return rc;
        }
    case LWS_CALLBACK_RECEIVE:
        if (c->kind != PB_PSS_WS || c->app == NULL)
            return -1;
        if (lws_frame_is_binary(wsi)) {
            if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
                reject_frame(c, PB_EVALIDATION, "expected UTF-8 JSON text frames");
            return 0;
        }
        bool complete = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
        if (complete && c->rx == NULL && !c->rx_discard) {
            receive_message(c, in, len);        /* the usual case: one frame, one piece */
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
                reject_frame(c, PB_ETOO_LARGE, "message larger than 64 KiB");
            else
                receive_message(c, c->rx, c->rx_len);
            free(c->rx);
            c->rx = NULL;
            c->rx_len = 0;
            c->rx_discard = false;
        }
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (c->kind != PB_PSS_WS || c->app == NULL)
            return -1;
        c->wake_asked = false;
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
        return write_pending(c);
    }
    case LWS_CALLBACK_CLOSED:
        if (c->kind != PB_PSS_WS || c->app == NULL)
            return 0;
        if (!c->opened) {               /* PostgreSQL: closed before its open's read ended */
            if (c->open_job != NULL)
                c->open_job->owner = NULL;      /* its done frees it */
            c->open_job = NULL;
            conn_unlink(app, c);
            wait_unlink(c);
            woken_unlink(c);
            ws_drop_queued(c);
            c->app = NULL;
            return 0;
        }
        pb_log(LOG_INFO, "ws %llu close user=%s", (unsigned long long)c->id, c->rd.username);
        if (c->board_wait != NULL)
            *(void **)c->board_wait = NULL;     /* the load's end skips it (board_load.c) */
        c->board_wait = NULL;
        room_leave(app, &c->rd);
        conn_unlink(app, c);
        wait_unlink(c);
        woken_unlink(c);
        if (room_conn_close(app, &c->rd) == 0 && !app->stopping)
            op_release_user_locks(app, c->claims.tenant_id, c->claims.user_id, "disconnected");
        while (c->moves != NULL) {
            struct ws_move *w = c->moves;
            c->moves = w->next;
            if (w->ready) {             /* answered, not sent: drop */
                cJSON_Delete(w->data);
                free(w->ref);
                free(w);
            } else {
                w->owner = NULL;        /* in flight: it completes, ws_move_done frees it */
            }
        }
        c->moves_tail = NULL;
        c->in_flight = 0;
        ws_drop_queued(c);
        c->app = NULL;
        return 0;

    default:
        return 0;
    }
}
