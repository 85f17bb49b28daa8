/*
 * pbload — load client for planboard benchmarks (bench/README.md).
 *
 * Speaks only the public contract of SPEC.md §4/§5: HTTP/1.1 keep-alive requests and
 * WebSocket (RFC 6455 frames over plain sockets, one epoll loop, no library), so it can drive
 * any server that implements the contract. One process, one thread; every loop is bounded by a
 * count and a deadline. Results are printed as one JSON object on stdout; progress on stderr.
 *
 *   pbload fanout --port P [--server-pid PID] --room RECVTOK:MOVETOK:ORDERS:WCS [--room ...]
 *                 --clients N (per room) --mover ws|rest --rate R (moves/s, 0 = ack-paced)
 *                 [--window W] [--duration S] [--max-moves N]
 *   pbload moves  --port P [--server-pid PID] --token T --orders 1,2,.. --wcs 1,2,..|null
 *                 --movers M [--via rest|ws] [--duration S] [--max-moves N]
 *   pbload conns  --port P [--server-pid PID] --token T --steps 1000,10000 [--settle S]
 *
 * ORDERS and WCS are comma lists of ids; WCS "null" moves inside the backlog.
 * Server CPU and RSS come from /proc/PID/stat and /proc/PID/status when --server-pid is given.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ================================================================ utilities */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
         + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int g_server_pid;

/* Server CPU seconds (utime + stime) from /proc/PID/stat, or -1. */
static double server_cpu_s(void)
{
    char path[64], buf[1024];
    if (g_server_pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/stat", g_server_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Server VmRSS in KiB, or -1. */
static long server_rss_kb(const char *key)
{
    char path[64], line[256];
    long v = -1;
    if (g_server_pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", g_server_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = atol(line + kl + 1);
    fclose(f);
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Percentile of a sorted array (nearest rank). */
static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)n);
    if (i >= n)
        i = n - 1;
    return v[i];
}

static void die(const char *msg)
{
    fprintf(stderr, "pbload: %s\n", msg);
    exit(2);
}

static int parse_ids(const char *s, long long *out, int max)
{
    int n = 0;
    if (strcmp(s, "null") == 0 || *s == 0)
        return 0;
    while (*s && n < max) {
        out[n++] = strtoll(s, (char **)&s, 10);
        if (*s == ',')
            s++;
        else if (*s)
            die("bad id list");
    }
    return n;
}

/* ================================================================ connections */

enum kind { K_RECV, K_WSMOVER, K_HTTP };
enum state { S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSED };

struct conn {
    int fd;
    enum kind kind;
    enum state state;
    int room;
    int idx;                 /* mover index / receiver index */
    char *rbuf;
    size_t rlen, rcap;
    char *wbuf;
    size_t wlen, wcap;
    bool want_out;
    /* receivers */
    bool joined;
    uint64_t join_seq, last_seq, n_events, n_gaps, n_reorder;
    /* http / movers */
    bool busy;
    long long cur_move;      /* index into the move log, -1 if none */
};

static int g_ep;
static int g_port;
static long long g_errors, g_closed, g_conn_fail, g_frag;
static char g_first_error[512];

static void note_error(const char *what, const char *detail, size_t len)
{
    g_errors++;
    if (g_first_error[0] == 0)
        snprintf(g_first_error, sizeof(g_first_error), "%s: %.*s", what,
                 (int)(len > 300 ? 300 : len), detail);
}

static void buf_append(char **b, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n)
            c *= 2;
        *b = realloc(*b, c);
        if (*b == NULL)
            die("out of memory");
        *cap = c;
    }
    memcpy(*b + *len, p, n);
    *len += n;
}

static void conn_update_events(struct conn *c)
{
    struct epoll_event ev = { .events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(struct conn *c)
{
    if (c->state == S_CLOSED)
        return;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = S_CLOSED;
    g_closed++;
}

/* Write what is buffered; keep the rest and ask for EPOLLOUT. */
static void conn_flush(struct conn *c)
{
    size_t off = 0;
    while (off < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + off, c->wlen - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            conn_close(c);
            return;
        }
        off += (size_t)n;
    }
    memmove(c->wbuf, c->wbuf + off, c->wlen - off);
    c->wlen -= off;
    bool want = c->wlen > 0;
    if (want != c->want_out) {
        c->want_out = want;
        conn_update_events(c);
    }
}

static void conn_send(struct conn *c, const void *p, size_t n)
{
    buf_append(&c->wbuf, &c->wlen, &c->wcap, p, n);
    if (c->state != S_CONNECTING && !c->want_out)
        conn_flush(c);
}

/* One masked client frame (RFC 6455 §5.2); the mask key is zero so the payload is copied. */
static void ws_send_frame(struct conn *c, int opcode, const char *p, size_t n)
{
    unsigned char h[14];
    size_t hl = 0;
    h[hl++] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[hl++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    memset(h + hl, 0, 4);
    hl += 4;
    buf_append(&c->wbuf, &c->wlen, &c->wcap, h, hl);
    conn_send(c, p, n);
}

static struct conn *conn_open(enum kind k, int room, int idx)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        die("out of memory");
    c->kind = k;
    c->room = room;
    c->idx = idx;
    c->cur_move = -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        g_conn_fail++;
        c->state = S_CLOSED;
        return c;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g_port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(c->fd, (struct sockaddr *)&a, sizeof(a));
    if (r < 0 && errno != EINPROGRESS) {
        close(c->fd);
        g_conn_fail++;
        c->state = S_CLOSED;
        return c;
    }
    c->state = S_CONNECTING;
    c->want_out = true;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
    return c;
}

/* ================================================================ scenario state */

#define MAX_ROOMS 64
#define MAX_ORDERS 1024

struct move {
    int room;
    int order_slot;
    double t_send, t_ack, t_first, t_last;
    uint64_t seq;
    int receipts;
    bool ok, failed;
};

struct room {
    const char *recv_token, *move_token;
    long long orders[MAX_ORDERS];
    int n_orders;
    long long wcs[64];
    int n_wcs;
    long long pending[MAX_ORDERS];   /* move index in flight for this order slot, or -1 */
    long long next_order;
    long long n_moves_sent, n_acked;
    int inflight;
    uint64_t seq_start, seq_max;
    struct conn **recv;
    int n_recv;
    struct conn **movers;
    int n_movers;
    /* seq -> move index, for seq in (seq_start, seq_start + cap] */
    long long *by_seq;
    size_t by_seq_cap;
};

static struct room g_rooms[MAX_ROOMS];
static int g_n_rooms;
static struct move *g_moves;
static long long g_n_moves, g_moves_cap;
static const char *g_token;          /* conns / moves modes */
static int g_joined, g_open_ws;
static long long g_recv_deliveries;

static void ws_handshake(struct conn *c, const char *token)
{
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n", token, g_port);
    conn_send(c, req, (size_t)n);
}

static const char *conn_token(const struct conn *c)
{
    if (g_n_rooms > 0)
        return c->kind == K_RECV ? g_rooms[c->room].recv_token : g_rooms[c->room].move_token;
    return g_token;
}

/* Start a move of the room's next free order on an idle mover connection. 0 or -1. */
static int send_move(struct room *r, int room_i, struct conn *m)
{
    int slot = -1;
    for (int k = 0; k < r->n_orders; k++) {
        int s = (int)((r->next_order + k) % r->n_orders);
        if (r->pending[s] < 0) {
            slot = s;
            break;
        }
    }
    if (slot < 0)
        return -1;
    r->next_order = slot + 1;
    if (g_n_moves == g_moves_cap) {
        g_moves_cap = g_moves_cap ? g_moves_cap * 2 : 4096;
        g_moves = realloc(g_moves, (size_t)g_moves_cap * sizeof(*g_moves));
        if (g_moves == NULL)
            die("out of memory");
    }
    long long mi = g_n_moves++;
    struct move *mv = &g_moves[mi];
    memset(mv, 0, sizeof(*mv));
    mv->room = room_i;
    mv->order_slot = slot;
    r->pending[slot] = mi;
    char body[256], wc[32];
    if (r->n_wcs > 0)
        snprintf(wc, sizeof(wc), "%lld", r->wcs[r->n_moves_sent % r->n_wcs]);
    else
        snprintf(wc, sizeof(wc), "null");
    long long pos = r->n_wcs > 0 ? 0 : (r->n_moves_sent % 2 ? 0 : 100000);
    r->n_moves_sent++;
    r->inflight++;
    m->busy = true;
    m->cur_move = mi;
    mv->t_send = now_s();
    if (m->kind == K_WSMOVER) {
        int n = snprintf(body, sizeof(body),
                         "{\"event\":\"move_order\",\"ref\":\"m%lld\",\"data\":{\"orderId\":%lld,"
                         "\"toWorkCentreId\":%s,\"position\":%lld}}", mi, r->orders[slot], wc, pos);
        ws_send_frame(m, 1, body, (size_t)n);
        m->busy = false;            /* a WebSocket mover may have several moves in flight */
    } else {
        char req[4096];
        int bl = snprintf(body, sizeof(body), "{\"toWorkCentreId\":%s,\"position\":%lld}", wc, pos);
        int n = snprintf(req, sizeof(req),
                         "PUT /api/orders/%lld/move HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %d\r\n\r\n%s", r->orders[slot], conn_token(m), bl, body);
        conn_send(m, req, (size_t)n);
    }
    return 0;
}

static void move_done(long long mi, bool ok, double t)
{
    struct move *mv = &g_moves[mi];
    struct room *r = &g_rooms[mv->room];
    mv->t_ack = t;
    mv->ok = ok;
    mv->failed = !ok;
    r->inflight--;
    r->n_acked++;
    /* The order slot frees when its event has been seen (or the move failed). */
    if (!ok || mv->receipts > 0 || r->n_recv == 0)
        r->pending[mv->order_slot] = -1;
}

/* ---------------------------------------------------------------- message parsing */

static bool json_uint_after(const char *p, const char *end, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    const char *q = memmem(p, (size_t)(end - p), key, kl);
    if (q == NULL)
        return false;
    q += kl;
    uint64_t v = 0;
    bool any = false;
    while (q < end && *q >= '0' && *q <= '9') {
        v = v * 10 + (uint64_t)(*q - '0');
        q++;
        any = true;
    }
    *out = v;
    return any;
}

static long long find_pending(struct room *r, long long order_id)
{
    for (int s = 0; s < r->n_orders; s++)
        if (r->orders[s] == order_id)
            return r->pending[s];
    return -1;
}

/* A room event (top-level "seq") reached receiver c. Checks seq order, times moves. */
static void on_room_event(struct conn *c, uint64_t seq, const char *msg, size_t len, double t)
{
    struct room *r = &g_rooms[c->room];
    if (!c->joined)
        return;
    if (seq <= c->last_seq)
        c->n_reorder++;
    else if (seq != c->last_seq + 1)
        c->n_gaps += seq - c->last_seq - 1;
    if (seq > c->last_seq)
        c->last_seq = seq;
    c->n_events++;
    g_recv_deliveries++;
    if (seq > r->seq_max)
        r->seq_max = seq;
    if (r->by_seq == NULL || seq <= r->seq_start || seq - r->seq_start > r->by_seq_cap)
        return;
    size_t i = (size_t)(seq - r->seq_start - 1);
    long long mi = r->by_seq[i];
    if (mi < 0) {
        uint64_t oid;
        if (len < 22 || memcmp(msg, "{\"event\":\"order_moved\"", 22) != 0)
            return;
        if (!json_uint_after(msg, msg + len, "\"order\":{\"id\":", &oid))
            return;
        mi = find_pending(r, (long long)oid);
        if (mi < 0)
            return;
        r->by_seq[i] = mi;
        g_moves[mi].seq = seq;
        g_moves[mi].t_first = t;
        if (g_moves[mi].t_ack > 0)
            r->pending[g_moves[mi].order_slot] = -1;
    }
    g_moves[mi].receipts++;
    g_moves[mi].t_last = t;
}

static void on_ws_message(struct conn *c, const char *msg, size_t len, double t)
{
    const char *end = msg + len;
    if (len < 12 || memcmp(msg, "{\"event\":\"", 10) != 0) {
        note_error("unexpected frame", msg, len);
        return;
    }
    const char *name = msg + 10;
    const char *q = memchr(name, '"', (size_t)(end - name));
    if (q == NULL)
        return;
    size_t nl = (size_t)(q - name);
    if (end - q > 8 && memcmp(q, "\",\"seq\":", 8) == 0) {
        uint64_t seq = 0;
        for (const char *d = q + 8; d < end && *d >= '0' && *d <= '9'; d++)
            seq = seq * 10 + (uint64_t)(*d - '0');
        on_room_event(c, seq, msg, len, t);
        return;
    }
    bool is_ack = nl == 3 && memcmp(name, "ack", 3) == 0;
    bool is_err = nl == 5 && memcmp(name, "error", 5) == 0;
    if (!is_ack && !is_err) {
        if (!(nl == 5 && memcmp(name, "hello", 5) == 0) && !(nl == 4 && memcmp(name, "pong", 4) == 0))
            note_error("unexpected event", msg, len);
        return;
    }
    const char *ref = memmem(q, (size_t)(end - q), "\"ref\":\"", 7);
    if (ref != NULL && ref[7] == 'j' && ref[8] == '"') {
        if (is_err) {
            note_error("join refused", msg, len);
            return;
        }
        uint64_t seq = 0;
        json_uint_after(ref, end, "\"seq\":", &seq);
        if (!c->joined) {
            c->joined = true;
            c->join_seq = c->last_seq = seq;
            g_joined++;
        }
        return;
    }
    if (ref != NULL && ref[7] == 'm') {
        long long mi = strtoll(ref + 8, NULL, 10);
        if (mi >= 0 && mi < g_n_moves) {
            if (is_err)
                note_error("move refused", msg, len);
            move_done(mi, is_ack, t);
        }
        return;
    }
    if (is_err)
        note_error("error event", msg, len);
}

/* Parse the WebSocket frames in c->rbuf. */
static void ws_parse(struct conn *c, double t)
{
    size_t off = 0;
    while (c->state == S_OPEN && c->rlen - off >= 2) {
        unsigned char *p = (unsigned char *)c->rbuf + off;
        size_t avail = c->rlen - off;
        int fin = p[0] & 0x80, op = p[0] & 0x0f;
        bool masked = p[1] & 0x80;
        uint64_t n = p[1] & 0x7f;
        size_t hl = 2;
        if (n == 126) {
            if (avail < 4)
                break;
            n = ((uint64_t)p[2] << 8) | p[3];
            hl = 4;
        } else if (n == 127) {
            if (avail < 10)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = (n << 8) | p[2 + i];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (avail < hl + n)
            break;
        char *pl = (char *)p + hl;
        if (masked)
            for (uint64_t i = 0; i < n; i++)
                pl[i] ^= (char)p[hl - 4 + (i & 3)];
        if (!fin || op == 0) {
            g_frag++;
        } else if (op == 1) {
            on_ws_message(c, pl, (size_t)n, t);
        } else if (op == 8) {
            unsigned code = n >= 2 ? ((unsigned)(unsigned char)pl[0] << 8) | (unsigned char)pl[1] : 0;
            char why[64];
            snprintf(why, sizeof(why), "close code %u", code);
            note_error("server closed a WebSocket", why, strlen(why));
            conn_close(c);
            return;
        } else if (op == 9) {
            ws_send_frame(c, 10, pl, (size_t)n);
        }
        off += hl + (size_t)n;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
}

/* Parse HTTP responses in c->rbuf (Content-Length bodies only). */
static void http_parse(struct conn *c, double t)
{
    for (;;) {
        char *hend = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (hend == NULL)
            return;
        size_t hlen = (size_t)(hend - c->rbuf) + 4;
        long clen = -1;
        int status = atoi(c->rbuf + 9);
        for (char *l = c->rbuf; l < hend; ) {
            char *nl = memmem(l, (size_t)(hend - l), "\r\n", 2);
            if (nl == NULL)
                nl = hend;
            if ((size_t)(nl - l) > 15 && strncasecmp(l, "content-length:", 15) == 0)
                clen = atol(l + 15);
            l = nl + 2;
        }
        if (clen < 0) {
            note_error("HTTP response without content-length", c->rbuf, hlen);
            conn_close(c);
            return;
        }
        if (c->rlen < hlen + (size_t)clen)
            return;
        if (status != 200)
            note_error("HTTP move failed", c->rbuf, hlen + (size_t)clen);
        if (c->cur_move >= 0)
            move_done(c->cur_move, status == 200, t);
        c->cur_move = -1;
        c->busy = false;
        memmove(c->rbuf, c->rbuf + hlen + clen, c->rlen - hlen - (size_t)clen);
        c->rlen -= hlen + (size_t)clen;
    }
}

static void conn_readable(struct conn *c, double t)
{
    for (;;) {
        if (c->rcap - c->rlen < 16384) {
            size_t cap = c->rcap ? c->rcap * 2 : 32768;
            c->rbuf = realloc(c->rbuf, cap);
            if (c->rbuf == NULL)
                die("out of memory");
            c->rcap = cap;
        }
        ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            if (c->kind != K_HTTP || c->busy)
                note_error("connection closed by server", "", 0);
            conn_close(c);
            return;
        }
        c->rlen += (size_t)n;
        if ((size_t)n < c->rcap - c->rlen + (size_t)n)
            break;                  /* short read: the socket is drained */
    }
    if (c->state == S_HANDSHAKE) {
        char *hend = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (hend == NULL)
            return;
        if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.1 101", 12) != 0) {
            note_error("WebSocket upgrade refused", c->rbuf, c->rlen);
            conn_close(c);
            return;
        }
        size_t hl = (size_t)(hend - c->rbuf) + 4;
        memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
        c->rlen -= hl;
        c->state = S_OPEN;
        g_open_ws++;
        if (c->kind == K_RECV) {
            static const char join[] = "{\"event\":\"join_planning_board\",\"ref\":\"j\",\"data\":{}}";
            ws_send_frame(c, 1, join, sizeof(join) - 1);
        }
    }
    if (c->state == S_OPEN) {
        if (c->kind == K_HTTP)
            http_parse(c, t);
        else
            ws_parse(c, t);
    }
    /* Idle connections keep no read buffer (conns scenario measures the server, but keep
     * the client small too). */
    if (c->state == S_OPEN && c->rlen == 0 && c->kind == K_RECV && c->rcap > 0) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

static void conn_writable(struct conn *c)
{
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) {
            g_conn_fail++;
            note_error("connect failed", strerror(err), strlen(strerror(err)));
            conn_close(c);
            return;
        }
        c->state = c->kind == K_HTTP ? S_OPEN : S_HANDSHAKE;
    }
    conn_flush(c);
}

/* One pass of the event loop, waiting at most timeout_ms. */
static void poll_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(g_ep, evs, 512, timeout_ms);
    double t = now_s();
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (c->state == S_CLOSED)
            continue;
        if (evs[i].events & EPOLLOUT)
            conn_writable(c);
        if (c->state != S_CLOSED && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            conn_readable(c, t);
    }
}

/* ================================================================ receivers */

static struct conn **g_all;
static int g_n_all;

/* Open receivers until `target` per room are joined (or failed), at most 256 handshakes at a
 * time, within `deadline`. Returns the seconds it took. */
static double open_receivers(int per_room, double deadline)
{
    double t0 = now_s();
    int target = per_room * (g_n_rooms > 0 ? g_n_rooms : 1);
    int rooms = g_n_rooms > 0 ? g_n_rooms : 1;
    g_all = realloc(g_all, (size_t)target * sizeof(*g_all));
    for (int ri = 0; ri < rooms; ri++) {
        g_rooms[ri].recv = realloc(g_rooms[ri].recv, (size_t)per_room * sizeof(struct conn *));
        if (g_rooms[ri].recv == NULL)
            die("out of memory");
    }
    while (now_s() < deadline) {
        int pending = g_n_all - g_joined - (int)g_conn_fail - (int)g_closed;
        while (g_n_all < target && pending < 256) {
            int ri = g_n_all % rooms;
            struct room *r = &g_rooms[ri];
            struct conn *c = conn_open(K_RECV, ri, r->n_recv);
            if (c->state != S_CLOSED)
                ws_handshake(c, conn_token(c));
            r->recv[r->n_recv++] = c;
            g_all[g_n_all++] = c;
            pending++;
        }
        if (g_joined + g_conn_fail + g_closed >= target)
            break;
        poll_once(10);
    }
    return now_s() - t0;
}

static void run_for(double secs)
{
    double end = now_s() + secs;
    while (now_s() < end)
        poll_once(20);
}

/* ================================================================ output helpers */

struct lat { double p50, p99, max; size_t n; };

static struct lat lat_of(double *v, size_t n)
{
    struct lat l = { 0, 0, 0, n };
    qsort(v, n, sizeof(double), cmp_double);
    if (n > 0) {
        l.p50 = pct(v, n, 50) * 1e3;
        l.p99 = pct(v, n, 99) * 1e3;
        l.max = v[n - 1] * 1e3;
    }
    return l;
}

static void print_common_tail(void)
{
    printf("\"errors\":%lld,\"firstError\":\"", g_errors);
    for (const char *p = g_first_error; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar('\\');
        if ((unsigned char)*p >= 0x20)
            putchar(*p);
    }
    printf("\",\"connectFailures\":%lld,\"fragments\":%lld}\n", g_conn_fail, g_frag);
}

/* ================================================================ modes */

static bool receivers_caught_up(const long long *ok_per_room)
{
    /* every acknowledged move seen by every receiver of its room: a seq count alone is not
     * enough, other room events (schedule_updated after a move, SPEC §9) share the sequence */
    for (long long i = 0; i < g_n_moves; i++) {
        const struct move *mv = &g_moves[i];
        if (mv->ok && g_rooms[mv->room].n_recv > 0 && mv->receipts < g_rooms[mv->room].n_recv)
            return false;
    }
    for (int ri = 0; ri < g_n_rooms; ri++) {
        struct room *r = &g_rooms[ri];
        uint64_t target = r->seq_start + (uint64_t)ok_per_room[ri];
        for (int k = 0; k < r->n_recv; k++)
            if (r->recv[k]->state == S_OPEN && r->recv[k]->last_seq < target)
                return false;
    }
    return true;
}

/* Drive moves: rate > 0 fixed moves/s over all rooms round-robin; rate == 0 ack-paced with
 * `window` moves in flight per room. Returns the drive seconds. */
static double drive(double rate, int window, double duration, long long max_moves)
{
    double t0 = now_s(), end = t0 + duration, next = t0;
    long long sent = 0;
    int rr = 0;
    while (now_s() < end && sent < max_moves) {
        double t = now_s();
        if (rate > 0) {
            int guard = 0;
            while (t >= next && sent < max_moves && guard++ < 1000) {
                struct room *r = &g_rooms[rr];
                struct conn *m = NULL;
                for (int k = 0; k < r->n_movers; k++)
                    if (r->movers[k]->state == S_OPEN && !r->movers[k]->busy) {
                        m = r->movers[k];
                        break;
                    }
                if (m == NULL || send_move(r, rr, m) != 0)
                    break;          /* late: no idle mover or every order in flight */
                sent++;
                next += 1.0 / rate;
                rr = (rr + 1) % g_n_rooms;
            }
            double wait = next - now_s();
            poll_once(wait > 0.001 ? (int)(wait * 1000) : (wait > 0 ? 1 : 0));
        } else {
            for (int ri = 0; ri < g_n_rooms; ri++) {
                struct room *r = &g_rooms[ri];
                while (r->inflight < window && sent < max_moves) {
                    struct conn *m = NULL;
                    for (int k = 0; k < r->n_movers; k++)
                        if (r->movers[k]->state == S_OPEN && !r->movers[k]->busy) {
                            m = r->movers[k];
                            break;
                        }
                    if (m == NULL || send_move(r, ri, m) != 0)
                        break;
                    sent++;
                }
            }
            poll_once(5);
        }
    }
    return now_s() - t0;
}

static void open_movers(bool ws, int per_room, double deadline)
{
    for (int ri = 0; ri < g_n_rooms; ri++) {
        struct room *r = &g_rooms[ri];
        r->n_movers = per_room;
        r->movers = calloc((size_t)per_room, sizeof(struct conn *));
        for (int k = 0; k < per_room; k++) {
            r->movers[k] = conn_open(ws ? K_WSMOVER : K_HTTP, ri, k);
            if (ws && r->movers[k]->state != S_CLOSED)
                ws_handshake(r->movers[k], conn_token(r->movers[k]));
        }
    }
    for (;;) {
        bool ready = true;
        for (int ri = 0; ri < g_n_rooms; ri++)
            for (int k = 0; k < g_rooms[ri].n_movers; k++)
                if (g_rooms[ri].movers[k]->state == S_CONNECTING
                    || g_rooms[ri].movers[k]->state == S_HANDSHAKE)
                    ready = false;
        if (ready || now_s() > deadline)
            break;
        poll_once(10);
    }
}

static void report_moves(const char *mode, double drive_s, double total_s, double srv_cpu,
                         double cli_cpu, int n_recv_total)
{
    long long ok = 0, failed = 0, complete = 0, incomplete = 0;
    double *lat = malloc((size_t)(g_n_moves + 1) * sizeof(double));
    double *ack = malloc((size_t)(g_n_moves + 1) * sizeof(double));
    size_t nl = 0, na = 0;
    long long expected = 0;
    for (long long i = 0; i < g_n_moves; i++) {
        struct move *mv = &g_moves[i];
        if (mv->ok) {
            ok++;
            ack[na++] = mv->t_ack - mv->t_send;
            int want = g_rooms[mv->room].n_recv;
            expected += want;
            if (want > 0) {
                if (mv->receipts >= want) {
                    complete++;
                    lat[nl++] = mv->t_last - mv->t_send;
                } else {
                    incomplete++;
                }
            }
        } else if (mv->failed) {
            failed++;
        }
    }
    struct lat L = lat_of(lat, nl), A = lat_of(ack, na);
    long long gaps = 0, reorder = 0, behind = 0, closed_recv = 0;
    for (int ri = 0; ri < g_n_rooms; ri++) {
        struct room *r = &g_rooms[ri];
        long long ok_r = 0;
        for (long long i = 0; i < g_n_moves; i++)
            if (g_moves[i].room == ri && g_moves[i].ok)
                ok_r++;
        for (int k = 0; k < r->n_recv; k++) {
            struct conn *c = r->recv[k];
            gaps += (long long)c->n_gaps;
            reorder += (long long)c->n_reorder;
            if (c->state != S_OPEN)
                closed_recv++;
            if (c->last_seq < r->seq_start + (uint64_t)ok_r)
                behind++;
        }
    }
    printf("{\"mode\":\"%s\",\"rooms\":%d,\"receivers\":%d,\"movesSent\":%lld,\"movesOk\":%lld,"
           "\"movesFailed\":%lld,\"driveSeconds\":%.3f,\"totalSeconds\":%.3f,\"movesPerSec\":%.1f,"
           "\"ackMs\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},",
           mode, g_n_rooms, n_recv_total, g_n_moves, ok, failed, drive_s, total_s,
           drive_s > 0 ? (double)ok / drive_s : 0, A.p50, A.p99, A.max);
    if (n_recv_total > 0)
        printf("\"fanoutMs\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"n\":%zu},"
               "\"deliveries\":%lld,\"expectedDeliveries\":%lld,\"lostDeliveries\":%lld,"
               "\"gaps\":%lld,\"reordered\":%lld,\"receiversBehind\":%lld,\"receiversClosed\":%lld,"
               "\"movesIncomplete\":%lld,\"deliveriesPerSec\":%.0f,\"serverCpuUsPerDelivery\":%.2f,",
               L.p50, L.p99, L.max, L.n, g_recv_deliveries, expected,
               expected - g_recv_deliveries > 0 ? expected - g_recv_deliveries : 0,
               gaps, reorder, behind, closed_recv, incomplete,
               total_s > 0 ? (double)g_recv_deliveries / total_s : 0,
               g_recv_deliveries > 0 && srv_cpu >= 0 ? srv_cpu * 1e6 / (double)g_recv_deliveries : -1);
    printf("\"serverCpuSeconds\":%.3f,\"serverCpuUsPerMove\":%.1f,\"clientCpuSeconds\":%.3f,",
           srv_cpu, ok > 0 && srv_cpu >= 0 ? srv_cpu * 1e6 / (double)ok : -1, cli_cpu);
    (void)complete;
    print_common_tail();
    free(lat);
    free(ack);
}

static void mode_fanout(int clients, bool ws, double rate, int window, double duration,
                        long long max_moves)
{
    double deadline = now_s() + 120;
    double t_open = open_receivers(clients, deadline);
    if (g_joined < clients * g_n_rooms)
        fprintf(stderr, "pbload: only %d of %d receivers joined\n", g_joined, clients * g_n_rooms);
    fprintf(stderr, "pbload: %d receivers joined in %.2f s\n", g_joined, t_open);
    open_movers(ws, ws ? 1 : (rate > 0 ? 16 : window), now_s() + 10);
    run_for(0.3);                   /* let presence events settle */
    for (int ri = 0; ri < g_n_rooms; ri++) {
        struct room *r = &g_rooms[ri];
        r->seq_start = 0;
        for (int k = 0; k < r->n_recv; k++)
            if (r->recv[k]->last_seq > r->seq_start)
                r->seq_start = r->recv[k]->last_seq;
        /* a move's order_moved may be followed by other room events (schedule_updated, SPEC
         * §9; lock events; a periodic refresh): room for several per move */
        r->by_seq_cap = 4 * (size_t)max_moves + 1024;
        r->by_seq = malloc(r->by_seq_cap * sizeof(long long));
        for (size_t i = 0; i < r->by_seq_cap; i++)
            r->by_seq[i] = -1;
        for (int s = 0; s < r->n_orders; s++)
            r->pending[s] = -1;
    }
    g_recv_deliveries = 0;
    double s0 = server_cpu_s(), c0 = self_cpu_s(), t0 = now_s();
    double drive_s = drive(rate, window, duration, max_moves);
    /* drain: every ack in and every receiver at its room's final seq, bounded */
    long long ok_per_room[MAX_ROOMS];
    double drain_end = now_s() + 10;
    while (now_s() < drain_end) {
        bool acks = true;
        for (int ri = 0; ri < g_n_rooms; ri++)
            if (g_rooms[ri].inflight > 0)
                acks = false;
        if (acks) {
            memset(ok_per_room, 0, sizeof(ok_per_room));
            for (long long i = 0; i < g_n_moves; i++)
                if (g_moves[i].ok)
                    ok_per_room[g_moves[i].room]++;
            if (receivers_caught_up(ok_per_room))
                break;
        }
        poll_once(5);
    }
    double total_s = now_s() - t0;
    double s1 = server_cpu_s(), c1 = self_cpu_s();
    report_moves(rate > 0 ? "fixed" : "acked", drive_s, total_s, s0 >= 0 ? s1 - s0 : -1, c1 - c0,
                 g_joined);
}

static void mode_moves(const char *orders, const char *wcs, int movers, bool ws, double duration,
                       long long max_moves)
{
    static long long ids[MAX_ORDERS * 8], w[64];
    int n = parse_ids(orders, ids, MAX_ORDERS * 8), nw = parse_ids(wcs, w, 64);
    if (movers < 1 || movers > MAX_ROOMS || n < movers)
        die("moves: need at least one order per mover");
    g_n_rooms = movers;
    for (int k = 0; k < movers; k++) {
        struct room *r = &g_rooms[k];
        r->recv_token = r->move_token = g_token;
        for (int i = k; i < n && r->n_orders < MAX_ORDERS; i += movers)
            r->orders[r->n_orders++] = ids[i];
        memcpy(r->wcs, w, sizeof(long long) * (size_t)nw);
        r->n_wcs = nw;
        for (int s = 0; s < r->n_orders; s++)
            r->pending[s] = -1;
    }
    open_movers(ws, 1, now_s() + 10);
    double s0 = server_cpu_s(), c0 = self_cpu_s(), t0 = now_s();
    double drive_s = drive(0, 1, duration, max_moves);
    double drain_end = now_s() + 10;
    for (;;) {
        bool acks = true;
        for (int ri = 0; ri < g_n_rooms; ri++)
            if (g_rooms[ri].inflight > 0)
                acks = false;
        if (acks || now_s() > drain_end)
            break;
        poll_once(5);
    }
    double total_s = now_s() - t0, s1 = server_cpu_s(), c1 = self_cpu_s();
    report_moves(ws ? "moves-ws" : "moves-rest", drive_s, total_s, s0 >= 0 ? s1 - s0 : -1,
                 c1 - c0, 0);
}

static void mode_conns(const char *steps, double settle)
{
    long long st[16];
    int ns = parse_ids(steps, st, 16);
    g_n_rooms = 0;
    run_for(0.2);
    long long rss0 = server_rss_kb("VmRSS");
    printf("{\"mode\":\"conns\",\"rssKb0\":%lld,\"steps\":[", rss0);
    double total_open = 0;
    int have = 0;
    for (int i = 0; i < ns; i++) {
        double c0 = self_cpu_s(), s0 = server_cpu_s();
        /* open_receivers counts from zero: open (st[i] - have) more in one pseudo-room */
        int want = (int)st[i];
        double t0 = now_s();
        {
            double deadline = now_s() + 120;
            g_all = realloc(g_all, (size_t)want * sizeof(*g_all));
            g_rooms[0].recv = realloc(g_rooms[0].recv, (size_t)want * sizeof(struct conn *));
            while (now_s() < deadline) {
                int pending = g_n_all - g_joined - (int)g_conn_fail - (int)g_closed;
                while (g_n_all < want && pending < 256) {
                    struct conn *c = conn_open(K_RECV, 0, g_n_all);
                    if (c->state != S_CLOSED)
                        ws_handshake(c, g_token);
                    g_rooms[0].recv[g_rooms[0].n_recv++] = c;
                    g_all[g_n_all++] = c;
                    pending++;
                }
                if (g_joined + g_conn_fail + g_closed >= want)
                    break;
                poll_once(10);
            }
        }
        double open_s = now_s() - t0;
        total_open += open_s;
        double c1 = self_cpu_s(), s1 = server_cpu_s();
        run_for(settle);
        long long rss = server_rss_kb("VmRSS");
        int open_now = 0;
        for (int k = 0; k < g_n_all; k++)
            if (g_all[k]->state == S_OPEN && g_all[k]->joined)
                open_now++;
        printf("%s{\"clients\":%d,\"joined\":%d,\"openSeconds\":%.3f,\"cumulativeOpenSeconds\":%.3f,"
               "\"rssKb\":%lld,\"serverCpuSeconds\":%.3f,\"clientCpuSeconds\":%.3f}",
               i ? "," : "", want, open_now, open_s, total_open, rss, s1 - s0, c1 - c0);
        have = want;
        fflush(stdout);
    }
    (void)have;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("],\"clientRssKb\":%ld,", ru.ru_maxrss);
    print_common_tail();
}

/* ================================================================ main */

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: pbload fanout|moves|conns --port P ... (see the comment at the top)");
    const char *mode = argv[1], *orders = "", *wcs = "null", *steps = "1000", *mover = "ws";
    const char *via = "rest";
    int clients = 10, movers = 1, window = 1;
    double rate = 0, duration = 5, settle = 1.0;
    long long max_moves = 100000;
    signal(SIGPIPE, SIG_IGN);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die("option without a value");
        i++;
        if (strcmp(a, "--port") == 0) g_port = atoi(v);
        else if (strcmp(a, "--server-pid") == 0) g_server_pid = atoi(v);
        else if (strcmp(a, "--token") == 0) g_token = v;
        else if (strcmp(a, "--orders") == 0) orders = v;
        else if (strcmp(a, "--wcs") == 0) wcs = v;
        else if (strcmp(a, "--steps") == 0) steps = v;
        else if (strcmp(a, "--settle") == 0) settle = atof(v);
        else if (strcmp(a, "--clients") == 0) clients = atoi(v);
        else if (strcmp(a, "--movers") == 0) movers = atoi(v);
        else if (strcmp(a, "--mover") == 0) mover = v;
        else if (strcmp(a, "--via") == 0) via = v;
        else if (strcmp(a, "--rate") == 0) rate = atof(v);
        else if (strcmp(a, "--window") == 0) window = atoi(v);
        else if (strcmp(a, "--duration") == 0) duration = atof(v);
        else if (strcmp(a, "--max-moves") == 0) max_moves = atoll(v);
        else if (strcmp(a, "--room") == 0) {
            /* RECVTOK:MOVETOK:ORDERS:WCS */
            if (g_n_rooms == MAX_ROOMS)
                die("too many rooms");
            char *s = strdup(v), *f[4];
            for (int k = 0; k < 4; k++) {
                f[k] = strsep(&s, ":");
                if (f[k] == NULL)
                    die("--room RECVTOK:MOVETOK:ORDERS:WCS");
            }
            struct room *r = &g_rooms[g_n_rooms++];
            r->recv_token = f[0];
            r->move_token = f[1];
            r->n_orders = parse_ids(f[2], r->orders, MAX_ORDERS);
            r->n_wcs = parse_ids(f[3], r->wcs, 64);
            if (r->n_orders == 0)
                die("--room needs orders");
        } else die("unknown option");
    }
    if (g_port <= 0)
        die("--port is required");
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (strcmp(mode, "fanout") == 0) {
        if (g_n_rooms == 0)
            die("fanout needs --room");
        mode_fanout(clients, strcmp(mover, "ws") == 0, rate, window, duration, max_moves);
    } else if (strcmp(mode, "moves") == 0) {
        if (g_token == NULL)
            die("moves needs --token");
        mode_moves(orders, wcs, movers, strcmp(via, "ws") == 0, duration, max_moves);
    } else if (strcmp(mode, "conns") == 0) {
        if (g_token == NULL)
            die("conns needs --token");
        mode_conns(steps, settle);
    } else {
        die("mode is fanout, moves or conns");
    }
    fflush(stdout);
    return g_errors > 0 ? 1 : 0;
}
