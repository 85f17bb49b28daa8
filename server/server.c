/*
 * server — the libwebsockets context on our own libuv loop (PLATFORM.md "Foreign libuv loop"):
 * protocols, timers, signals, and the clean shutdown of SPEC §7.
 */
#include "server/server_int.h"

#include "server/ratelimit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level pb_log_level = LOG_INFO;

void pb_log(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    char ts[PB_TIMESTAMP_LEN], line[1024];
    va_list ap;

    if (level > pb_log_level)
        return;
    pb_now_timestamp(ts);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s %s\n", ts, names[level], line);
}

/* The per-session data of protocol 0 serves an HTTP request or, after the upgrade of a client
 * that offered no subprotocol, a WebSocket (PLATFORM.md: such clients land on protocol 0). */
union pss {
    struct http_req http;
    struct ws_conn ws;
};

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLOSED:
        return ws_callback(wsi, reason, user, in, len);
    case LWS_CALLBACK_HTTP:
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    case LWS_CALLBACK_HTTP_WRITEABLE:
    case LWS_CALLBACK_CLOSED_HTTP:
        return http_callback(wsi, reason, user, in, len);
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    /* rx_buffer_size 512: lws allocates it per connection (PLATFORM.md: idle RSS) and board
     * frames are ~200 bytes; larger client messages arrive in pieces and are reassembled.
     * tx_packet_size 256 KiB: a response or frame goes out in one send, not rx-sized pieces. */
    { "http", callback, sizeof(union pss), 512, 0, NULL, 256 * 1024 },
    { PB_WS_SUBPROTOCOL, callback, sizeof(union pss), 512, 0, NULL, 256 * 1024 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* SPEC §5 liveness: ping after ws_ping_seconds of silence, hang up after twice that. */
static lws_retry_bo_t retry_policy;

static void lws_log_quiet(int level, const char *line)
{
    (void)level;
    pb_log(LOG_DEBUG, "lws: %.*s", (int)strcspn(line, "\n"), line);
}

static void lws_log_warn(int level, const char *line)
{
    (void)level;
    pb_log(LOG_WARN, "lws: %.*s", (int)strcspn(line, "\n"), line);
}

static void on_sweep(uv_timer_t *t)
{
    struct app *app = t->data;
    op_sweep_locks(app);
    ratelimit_prune(app->login_limit, pb_now_ms());
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct app *app = s->data;
    pb_log(LOG_INFO, "signal %d: shutting down", signum);
    server_stop(app);
}

static void on_shutdown_timer(uv_timer_t *t)
{
    struct app *app = t->data;
    /* PLATFORM.md: destroy the context inside the loop, close our handles; uv_run returns. */
    if (app->ctx != NULL)
        lws_context_destroy(app->ctx);
    durable_stop(app);                  /* the sync in flight finishes first */
    uv_close((uv_handle_t *)&app->sig_int, NULL);
    uv_close((uv_handle_t *)&app->sig_term, NULL);
    uv_close((uv_handle_t *)&app->sweep_timer, NULL);
    uv_close((uv_handle_t *)&app->shutdown_timer, NULL);
}

void server_stop(struct app *app)
{
    if (app->stopping)
        return;
    app->stopping = true;
    uv_signal_stop(&app->sig_int);
    uv_signal_stop(&app->sig_term);
    uv_timer_stop(&app->sweep_timer);
    ws_close_all(app, 1001);            /* SPEC §7: close connections with 1001 */
    /* A short grace period lets the close frames go out before the context goes. */
    uv_timer_start(&app->shutdown_timer, on_shutdown_timer, 150, 0);
}

int server_start(struct app *app)
{
    struct lws_context_creation_info info;
    void *loops[1] = { app->loop };

    /* lws' own messages during start-up are detail for debug logs; the reason for a failure
     * is our one line below (SPEC §7). Afterwards its errors are logged as warnings. */
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_quiet);
    memset(&info, 0, sizeof(info));
    info.port = app->cfg.port;
    info.iface = app->cfg.bind;
    info.protocols = protocols;
    info.user = app;
    /* Explicit vhost: lws_create_context() succeeds even when the default vhost cannot
     * bind, while lws_create_vhost() reports it (a port in use must exit non-zero). */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8
                 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = loops;
    info.pcontext = &app->ctx;
    info.pt_serv_buf_size = 64 * 1024;  /* PLATFORM.md: fewer body callbacks per upload */
    info.max_http_header_data = 16 * 1024;  /* large Authorization headers */
    info.timeout_secs = 30;
    info.keepalive_timeout = 30;
    retry_policy.secs_since_valid_ping = (uint16_t)app->cfg.ws_ping_seconds;
    retry_policy.secs_since_valid_hangup = (uint16_t)(app->cfg.ws_ping_seconds * 2);
    info.retry_and_idle_policy = &retry_policy;

    app->ctx = lws_create_context(&info);
    if (app->ctx == NULL) {
        fprintf(stderr, "planboard: cannot start libwebsockets on libuv (is the package "
                "libwebsockets-evlib-uv installed?)\n");
        return -1;
    }
    if (lws_create_vhost(app->ctx, &info) == NULL) {
        fprintf(stderr, "planboard: cannot listen on %s:%d (port in use or address not "
                "available)\n", app->cfg.bind, app->cfg.port);
        /* The caller runs the loop to let lws close its handles, then server_cleanup()
         * destroys the context for good (PLATFORM.md shutdown order). */
        lws_context_destroy(app->ctx);
        return -1;
    }
    lws_set_log_level(LLL_ERR, lws_log_warn);
    uv_signal_init(app->loop, &app->sig_int);
    uv_signal_init(app->loop, &app->sig_term);
    app->sig_int.data = app->sig_term.data = app;
    uv_signal_start(&app->sig_int, on_signal, SIGINT);
    uv_signal_start(&app->sig_term, on_signal, SIGTERM);
    uv_timer_init(app->loop, &app->sweep_timer);
    uv_timer_init(app->loop, &app->shutdown_timer);
    app->sweep_timer.data = app->shutdown_timer.data = app;
    uv_timer_start(&app->sweep_timer, on_sweep, 1000, 1000);
    pb_log(LOG_INFO, "planboard %s listening on http://%s:%d", PB_VERSION, app->cfg.bind,
           app->cfg.port);
    return 0;
}

void server_cleanup(struct app *app)
{
    if (app->ctx != NULL)               /* PLATFORM.md: the second destroy, outside the loop */
        lws_context_destroy(app->ctx);
    app->ctx = NULL;
    room_free_all(app);
}
