/*
 * libFuzzer target: the HTTP request path of the real server — libwebsockets' parser in front,
 * then our server/http.c (method, Content-Length, Transfer-Encoding, Content-Type, Expect,
 * Authorization, query arguments via lws_get_urlarg_by_name), route_find() in server/http.c
 * (paths, :id segments, trailing slash, 404/405), the handlers' query-string readers (limit,
 * offset, status, q, dueBefore, ...) and the static files (test/fuzz/harness_server.h;
 * docs/fuzzing.md).
 *
 * Input, byte 0 bit 0 = 1: the rest is sent as raw bytes, our side shut down after it; the
 * server may answer or close, but must stay up. Bit 0 = 0: a framed request — bits 1-3 pick the
 * method, bits 4-5 the user; the rest is "target\n[header lines\n]\n[body]", sent as
 * "METHOD target HTTP/1.1" with Host, Connection: close, the user's token, the header lines and
 * a correct Content-Length; a whole answer must arrive and pass harness_check. After every
 * input the server must answer GET /api/auth/me (harness_session_check; an input that logged
 * the user out gets a new session).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test/fuzz/harness_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    harness_init();
    harness_soft_timeout(300);  /* lws waits ~20 s on some malformed heads */
    return 0;
}

static bool drop_header(const char *line, size_t n)
{
    static const char *const names[] = { "content-length", "upgrade", "connection", "expect" };
    while (n > 0 && (*line == ' ' || *line == '\t'))
        line++, n--;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t k = strlen(names[i]);
        if (n >= k && strncasecmp(line, names[i], k) == 0)
            return true;
    }
    return false;
}

/* Framed mode: split "target\nheaders\n\nbody"; a CR or LF in the target ends it. */
static void framed(const uint8_t *data, size_t size)
{
    static const char *const methods[8] = { "GET", "POST", "PUT", "DELETE", "GET", "HEAD",
                                            "OPTIONS", "PATCH" };
    static const enum harness_user users[4] = { H_ADMIN, H_SCHEDULER, H_VIEWER, H_NOBODY };
    const char *method = methods[(data[0] >> 1) & 7];
    enum harness_user u = users[(data[0] >> 4) & 3];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *t_end = nl != NULL ? nl : end;
    char *target = strndup(p, (size_t)(t_end - p)), *hdrs = NULL, what[300];
    const char *body = "";
    size_t body_len = 0, hlen = 0;
    struct hresp r;

    if (target == NULL)
        abort();
    target[strcspn(target, "\r\n")] = '\0';     /* strndup stops at a NUL as well */
    if (nl != NULL) {
        const char *h = nl + 1, *sep = memmem(h, (size_t)(end - h), "\n\n", 2);
        const char *h_end = sep != NULL ? sep : end;
        hdrs = malloc((size_t)(h_end - h) * 2 + 3);
        if (hdrs == NULL)
            abort();
        for (const char *q = h; q < h_end;) {       /* line by line, LF -> CRLF */
            const char *e = memchr(q, '\n', (size_t)(h_end - q));
            size_t n = (size_t)((e != NULL ? e : h_end) - q);
            /* The harness sets Content-Length itself (a wrong one only makes the server wait
             * for bytes that never come) and keeps the connection an HTTP one. */
            if (!drop_header(q, n)) {
                memcpy(hdrs + hlen, q, n);
                hlen += n;
                hdrs[hlen++] = '\r';
                hdrs[hlen++] = '\n';
            }
            q += n + 1;
        }
        hdrs[hlen] = '\0';
        if (sep != NULL) {
            body = sep + 2;
            body_len = (size_t)(end - body);
        }
    }
    snprintf(what, sizeof(what), "%s %.200s", method, target);
    /* A NUL inside the header lines ends them early (they are a C string); fine for a fuzzer. */
    int rc = harness_request(method, target[0] != '\0' ? target : "/", u,
                             body_len > 0 ? "application/json" : NULL, hdrs, body, body_len, &r);
    /* HEAD gets headers only and lws may close without a body: no whole-answer requirement. */
    if (rc != 0 && strcmp(method, "HEAD") != 0 && r.status != 0 && r.status != 100) {
        fprintf(stderr, "fuzz_http_request: %s: incomplete answer (status %d)\n", what, r.status);
        abort();
    }
    if (r.status != 0 && strcmp(method, "HEAD") != 0)
        harness_check(&r, what);
    harness_resp_free(&r);
    free(hdrs);
    free(target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hresp r;

    if (size < 1)
        return -1;
    if (data[0] & 1) {
        harness_exchange(data + 1, size - 1, true, &r);
        if (r.status != 0)
            harness_check(&r, "raw request");
        harness_resp_free(&r);
    } else {
        framed(data, size);
    }
    harness_session_check(H_ADMIN);
    return 0;
}
