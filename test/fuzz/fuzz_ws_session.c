/*
 * libFuzzer target: a WebSocket session on the real server (test/fuzz/harness_server.h;
 * docs/fuzzing.md) — the upgrade with a token, lws' frame parser, server/ws.c's RECEIVE path
 * (binary frames, messages in several frames or pieces, the 64 KiB message limit), the client
 * frame parser (protocol/client_msg.c) and what the events do (join, drag locks, moves: the op_*
 * code shared with REST).
 *
 * Input: byte 0 picks the user (bits 0-1: admin, scheduler, viewer; bit 2: offer the
 * planboard.v1 subprotocol); then frames, each [flags][len_hi][len_lo][payload]: flags bits 0-1
 * opcode (text, binary, continuation, ping), bit 2 FIN. After them the harness sends
 * {"event":"ping","ref":"fuzz-end"} and reads until its pong (or the server closes the
 * connection, which it may do for a protocol error). Every frame the server sends must be a
 * valid UTF-8 JSON object (text) or a close/pong control frame; a hang is a finding; after the
 * session the server must still answer (harness_session_check).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "test/fuzz/fuzz_utf8.h"
#include "test/fuzz/harness_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define SESSION_TIMEOUT_MS 20000

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    harness_init();
    return 0;
}

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_ws_session: %s\n", what);
    abort();
}

/* A client frame (masked, RFC 6455 §5.2) into out; returns its length. */
static size_t frame(uint8_t *out, int opcode, bool fin, const uint8_t *p, size_t n)
{
    static const uint8_t mask[4] = { 0x12, 0x34, 0x56, 0x78 };
    size_t k = 0;
    out[k++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        out[k++] = (uint8_t)(0x80 | n);
    } else {
        out[k++] = 0x80 | 126;
        out[k++] = (uint8_t)(n >> 8);
        out[k++] = (uint8_t)n;
    }
    memcpy(out + k, mask, 4);
    k += 4;
    for (size_t i = 0; i < n; i++)
        out[k++] = p[i] ^ mask[i & 3];
    return k;
}

static bool send_all(int fd, const void *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return true;
}

struct rx {
    uint8_t *buf;
    size_t len, cap;
};

/* Read more bytes; 1 read, 0 closed, aborts on timeout. */
static int rx_more(int fd, struct rx *r, int64_t deadline_ms)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t left = deadline_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (left <= 0)
            fail("the server neither answered the final ping nor closed within 20 s");
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if (r->len == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 65536;
            r->buf = realloc(r->buf, r->cap);
            if (r->buf == NULL)
                fail("out of memory");
        }
        ssize_t n = recv(fd, r->buf + r->len, r->cap - r->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        r->len += (size_t)n;
        return 1;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Check one server frame; true when it is the pong of our final ping. */
static bool check_frame(int opcode, const uint8_t *p, size_t n)
{
    if (opcode == 0x8 || opcode == 0xA || opcode == 0x9)
        return false;                   /* close, pong, ping: control frames */
    if (opcode != 0x1) {
        fprintf(stderr, "opcode %d\n", opcode);
        fail("the server sent a frame that is not a text frame");
    }
    if (!fuzz_utf8_valid(p, n)) {
        fprintf(stderr, "%.*s\n", (int)(n < 2000 ? n : 2000), (const char *)p);
        fail("the server sent invalid UTF-8 (SPEC §4)");
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)p, n, &end, false);
    if (j == NULL || !cJSON_IsObject(j) || end != (const char *)p + n) {
        fprintf(stderr, "%.*s\n", (int)(n < 2000 ? n : 2000), (const char *)p);
        fail("the server sent a frame that is not one JSON object");
    }
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j, "ref");
    if (!cJSON_IsString(ev))
        fail("a server frame without an event name");
    bool done = strcmp(ev->valuestring, "pong") == 0 && cJSON_IsString(ref)
                && strcmp(ref->valuestring, "fuzz-end") == 0;
    cJSON_Delete(j);
    return done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum harness_user users[4] = { H_ADMIN, H_SCHEDULER, H_VIEWER, H_ADMIN };
    static const char end_msg[] = "{\"event\":\"ping\",\"ref\":\"fuzz-end\"}";
    char head[4096];
    struct rx r = { 0 };

    if (size < 1)
        return -1;
    enum harness_user u = users[data[0] & 3];
    int fd = harness_connect();
    int n = snprintf(head, sizeof(head),
                     "GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n", harness_token(u),
                     data[0] & 4 ? "Sec-WebSocket-Protocol: planboard.v1\r\n" : "");
    int64_t deadline = now_ms() + SESSION_TIMEOUT_MS;
    if (!send_all(fd, head, (size_t)n))
        fail("cannot send the upgrade");
    /* 101 and the response head */
    uint8_t *e;
    while ((e = r.len ? memmem(r.buf, r.len, "\r\n\r\n", 4) : NULL) == NULL)
        if (rx_more(fd, &r, deadline) == 0)
            fail("the upgrade was not answered");
    if (r.len < 12 || memcmp(r.buf, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "%.*s\n", (int)(e - r.buf), (const char *)r.buf);
        fail("the upgrade with a valid token was refused");
    }
    size_t off = (size_t)(e - r.buf) + 4;

    /* the input's frames, then the final ping as one text frame */
    uint8_t *out = malloc(size * 2 + 64), *o = out;
    if (out == NULL)
        fail("out of memory");
    static const int opcodes[4] = { 0x1, 0x2, 0x0, 0x9 };
    for (size_t i = 1; i + 3 <= size;) {
        int flags = data[i];
        size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
        i += 3;
        if (len > size - i)
            len = size - i;
        int op = opcodes[flags & 3];
        if (op == 0x9 && len > 125)
            len = 125;                  /* control frames carry at most 125 bytes */
        o += frame(o, op, op == 0x9 || (flags & 4), data + i, len);
        i += len;
    }
    bool sent = send_all(fd, out, (size_t)(o - out));
    uint8_t endf[64];
    size_t elen = frame(endf, 0x1, true, (const uint8_t *)end_msg, sizeof(end_msg) - 1);
    if (sent)
        sent = send_all(fd, endf, elen);
    free(out);

    /* server frames until our pong, or until the server closes */
    bool done = false;
    while (!done) {
        while (r.len - off >= 2) {
            const uint8_t *f = r.buf + off;
            size_t hl = 2, plen = f[1] & 0x7f;
            if (f[1] & 0x80)
                fail("the server sent a masked frame");
            if (plen == 126) {
                if (r.len - off < 4)
                    break;
                plen = (size_t)f[2] << 8 | f[3];
                hl = 4;
            } else if (plen == 127) {
                if (r.len - off < 10)
                    break;
                plen = 0;
                for (int k = 0; k < 8; k++)
                    plen = plen << 8 | f[2 + k];
                hl = 10;
            }
            if (r.len - off < hl + plen)
                break;
            if ((f[0] & 0x0f) == 0x8) {
                done = true;            /* the server closes: fine (e.g. a protocol error) */
                break;
            }
            done = check_frame(f[0] & 0x0f, f + hl, plen);
            off += hl + plen;
            if (done)
                break;
        }
        if (!done && rx_more(fd, &r, deadline) == 0)
            done = true;                /* closed */
    }
    close(fd);
    free(r.buf);
    harness_session_check(u);
    return 0;
}
