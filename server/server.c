/*
 * server — the libwebsockets context on our own libuv loop (PLATFORM.md "Foreign libuv loop"):
 * protocols, timers, signals, and the clean shutdown of SPEC §7.
 */
#include "server/server_int.h"

#include "server/ratelimit.h"
#include "core/hmap.h"
#include "core/strhash.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* The per-session data of protocol 0 serves an HTTP request or, after the upgrade of a client
 * that offered no subprotocol, a WebSocket (PLATFORM.md: such clients land on protocol 0). */
union pss {
    struct http_req http;
    struct ws_conn ws;
};

/* ================================================================ connections per address */

/* Open TCP connections per client address (issue 8: one address cannot take every socket).
 * Keyed by the address as 16 bytes (IPv4 as ::ffff:a.b.c.d, so a dual-stack listener counts
 * one client once); an entry exists while its count is non-zero. Loop thread only. */
struct addr_count {
    unsigned char key[16];
    uint32_t n;                         /* open connections of this address */
};
/* The addresses are the clients' (an IPv6 client picks any of 2^64 in its prefix): hashed with
 * the keyed SipHash of core/strhash so none can line its addresses up in one probe run. */
struct addr_table {
    struct hmap by_addr;                /* 16-byte key -> struct addr_count * (owned) */
};

/* The 16-byte key of a peer address; false for a family that is not IP. */
static bool addr_key(const struct sockaddr_storage *ss, unsigned char key[16])
{
    if (ss->ss_family == AF_INET) {
        memset(key, 0, 10);
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        return true;
    }
    return false;
}

static bool peer_key(int fd, unsigned char key[16])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    return getpeername(fd, (struct sockaddr *)&ss, &len) == 0 && addr_key(&ss, key);
}

static uint64_t addr_hash(const unsigned char key[16])
{
    return pb_strhash((const char *)key, 16);
}

/* hmap match: does entry val count the address key (16 bytes)? */
static bool addr_is(const void *ctx, const void *val, const void *key)
{
    (void)ctx;
    return memcmp(((const struct addr_count *)val)->key, key, 16) == 0;
}

static struct addr_table *addr_table_new(void)
{
    struct addr_table *t = calloc(1, sizeof(*t));
    if (t != NULL)
        hmap_init(&t->by_addr, addr_is, NULL);
    return t;
}

/* The entry of key; created (n = 0) when create is set. NULL when absent or out of memory. */
static struct addr_count *addr_find(struct addr_table *t, const unsigned char key[16],
                                    bool create)
{
    uint64_t h = addr_hash(key);
    struct addr_count *e = hmap_get(&t->by_addr, h, key);
    if (e != NULL || !create)
        return e;
    e = calloc(1, sizeof(*e));
    if (e == NULL || hmap_reserve(&t->by_addr, t->by_addr.len + 1) != 0) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, 16);
    hmap_put(&t->by_addr, h, e->key, e);        /* reserved: cannot fail */
    return e;
}

static void addr_release(struct addr_table *t, struct addr_count *e)
{
    if (e == NULL || --e->n > 0)
        return;
    hmap_del(&t->by_addr, addr_hash(e->key), e->key);
    free(e);
}

static void addr_table_free(struct addr_table *t)
{
    struct hmap_iter it;
    struct addr_count *e;

    if (t == NULL)
        return;
    hmap_iter_init(&t->by_addr, &it);
    while ((e = hmap_iter_next(&t->by_addr, &it)) != NULL)
        free(e);
    hmap_cleanup(&t->by_addr);
    free(t);
}

/* FILTER_NETWORK_CONNECTION: refuse (non-zero: lws closes the socket before reading from it)
 * when the address already holds cfg.max_conns_per_address connections. */
static int on_accept_filter(struct app *app, const struct lws_filter_network_conn_args *f)
{
    unsigned char key[16];
    if (f == NULL || !addr_key(&f->cli_addr, key))
        return 0;
    struct addr_count *e = addr_find(app->addrs, key, false);
    if (e != NULL && e->n >= (uint64_t)app->cfg.max_conns_per_address) {
        char ip[INET6_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET6, key, ip, sizeof(ip));
        pb_log(LOG_WARN, "refused a connection from %s: it holds %u, the limit "
               "(limits.max_conns_per_address)", ip, e->n);
        return 1;
    }
    return 0;
}

/* SERVER_NEW_CLIENT_INSTANTIATED: count the connection and give it its conn_info. Non-zero
 * (out of memory) makes lws drop it. */
static int on_conn_open(struct app *app, struct lws *wsi)
{
    unsigned char key[16];
    struct conn_info *ci = calloc(1, sizeof(*ci));
    if (ci == NULL)
        return -1;
    if (peer_key(lws_get_socket_fd(wsi), key)) {
        ci->addr = addr_find(app->addrs, key, true);
        if (ci->addr == NULL) {
            free(ci);
            return -1;
        }
        ci->addr->n++;
    }
    lws_set_opaque_user_data(wsi, ci);
    return 0;
}

/* WSI_DESTROY: every wsi ends here once; only accepted ones carry a conn_info. */
static void on_conn_destroy(struct app *app, struct lws *wsi)
{
    struct conn_info *ci = lws_get_opaque_user_data(wsi);
    if (ci == NULL)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    addr_release(app->addrs, ci->addr);
    free(ci);
}

/* ================================================================ protocol callback */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct app *app;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        app = lws_context_user(lws_get_context(wsi));
        return on_accept_filter(app, user);
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        app = lws_context_user(lws_get_context(wsi));
        return on_conn_open(app, wsi);
    case LWS_CALLBACK_WSI_DESTROY:
        app = lws_context_user(lws_get_context(wsi));
        on_conn_destroy(app, wsi);
        return 0;
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
    if (app->postgres)
        room_presence_beat(app);        /* SPEC §12: presence across nodes */
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
    schedule_live_close(app);
    room_log_close(app);
    bus_stop(app);
    uv_close((uv_handle_t *)&app->shutdown_timer, NULL);
    ws_flush_close(app);
}

void server_stop(struct app *app)
{
    if (app->stopping)
        return;
    app->stopping = true;
    uv_signal_stop(&app->sig_int);
    uv_signal_stop(&app->sig_term);
    uv_timer_stop(&app->sweep_timer);
    uv_timer_stop(&app->schedule_timer);
    /* The event log (room_log.c) outlives this process: end what a restart ends, so a client
     * replaying across it is told (reason "disconnected": every holder's connection goes). */
    op_end_all_locks(app, "disconnected");
    room_all_left(app);
    ws_close_all(app, 1001);            /* SPEC §7: close connections with 1001 */
    webhooks_stop(app);                 /* attempts in flight are delivered after restart */
    writes_close(app);                  /* jobs in flight complete during the grace period */
    reads_close(app);                   /* PostgreSQL: reads in flight are answered too */
    /* A short grace period lets the close frames go out before the context goes. */
    uv_timer_start(&app->shutdown_timer, on_shutdown_timer, 150, 0);
}

/*
 * The lws options that make the listener bind exactly cfg.bind (issue 8, item 3). lws 4.1.6
 * opens an AF_INET6 socket unless IPv6 is disabled, and its lws_interface_to_sa()
 * (lib/plat/unix/unix-sockets.c) then parses an IPv4 literal with inet_pton(AF_INET, ...)
 * into the sockaddr_in6 it was handed: the four bytes land in sin6_flowinfo, sin6_addr stays
 * :: and "127.0.0.1" listened on every interface. So an IPv4 literal gets an IPv4-only
 * socket; an IPv6 literal keeps the IPv6 socket (where that parse is right); anything else
 * is taken as an interface name, as lws documents. FAIL_UPON_UNABLE_TO_BIND: an address or
 * interface that does not exist is a start-up error, not a server that listens nowhere.
 */
static uint64_t bind_options(const char *bind)
{
    struct in_addr a4;
    uint64_t o = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    if (inet_pton(AF_INET, bind, &a4) == 1)
        o |= LWS_SERVER_OPTION_DISABLE_IPV6;
    return o;
}

/* Group commit completions (durable_on_reached): durable.c knows no consumer; the held HTTP
 * answers and WebSocket frames are released here, answers first (registration order). */
static void release_http(void *ctx, uint64_t durable_seq)
{
    (void)durable_seq;
    http_release_durable(ctx);
}

static void release_ws(void *ctx, uint64_t durable_seq)
{
    (void)durable_seq;
    ws_release_durable(ctx);
}

/* The dispatcher's route tables, matched in this order (one per file of server/). */
static const struct route *const route_tables[] = {
    pb_routes_core, pb_routes_admin, pb_routes_orders, pb_routes_analytics,
    pb_routes_scanner, pb_routes_schedule, pb_routes_metrics, pb_routes_webhooks,
};

int server_start(struct app *app)
{
    struct lws_context_creation_info info;
    void *loops[1] = { app->loop };
    const char *why;

    app->on_durable_failed = server_stop;
    if (durable_on_reached(app, release_http, app) != 0
        || durable_on_reached(app, release_ws, app) != 0) {
        fprintf(stderr, "planboard: cannot register group commit completions\n");
        return -1;
    }

    app->addrs = addr_table_new();
    if (app->addrs == NULL) {
        fprintf(stderr, "planboard: out of memory\n");
        return -1;
    }
    http_routes(app, route_tables, sizeof(route_tables) / sizeof(route_tables[0]));
    /* issue 9 item 3: static files are read here, once, so the loop never reads the disk */
    if (webroot_load(app->cfg.static_dir, &app->webroot, &why) != 0) {
        fprintf(stderr, "planboard: cannot load static_dir %s: %s\n", app->cfg.static_dir, why);
        return -1;
    }

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
                 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS | bind_options(app->cfg.bind);
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
    ws_flush_init(app);
    uv_timer_init(app->loop, &app->shutdown_timer);
    app->sweep_timer.data = app->shutdown_timer.data = app;
    uv_timer_start(&app->sweep_timer, on_sweep, 1000, 1000);
    schedule_live_start(app);           /* SPEC §9 [schedule] refresh_seconds */
    if (writes_open(app) != 0) {        /* imports commit off the loop (writes.c) */
        app->exit_code = 1;
        server_stop(app);
        return 0;
    }
    if (reads_open(app) != 0) {         /* PostgreSQL: reads off the loop (reads.c) */
        app->exit_code = 1;
        server_stop(app);
        return 0;
    }
    op_sweep_locks(app);                /* PostgreSQL: the rows left expired (board_ops.c) */
    if (webhooks_start(app) != 0) {     /* SPEC §11 deliveries (webhooks.c) */
        app->exit_code = 1;
        server_stop(app);
        return 0;
    }
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
    webhooks_free(app);
    hmap_cleanup(&app->move_batches);   /* empty: every batch ended with its done */
    hmap_cleanup(&app->board_loads);    /* empty: every load ended with its done */
    hmap_cleanup(&app->room_loads);     /* empty: every read ended with its done */
    user_names_free(app);
    addr_table_free(app->addrs);        /* after the last WSI_DESTROY */
    app->addrs = NULL;
    webroot_free(app->webroot);         /* after the last answer that referenced its blobs */
    app->webroot = NULL;
}
