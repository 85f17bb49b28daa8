/*
 * The whole planboard server inside a libFuzzer process, for the targets that need sockets
 * (fuzz_json_body, fuzz_multipart, fuzz_http_request; docs/fuzzing.md).
 *
 * harness_init() starts `planboard demo` (server/main.c, built with main renamed) on a thread,
 * with its own temporary directory, database and a free loopback port, logs in the three demo
 * users and creates a scanner API key. Each input then talks HTTP to it over 127.0.0.1 exactly
 * as a client would, and the answer is checked against SPEC §4: a response arrives, it is not a
 * 500, a JSON answer is one valid UTF-8 JSON value, an error has "error" and "code". A crash or
 * a sanitizer report in the server thread ends the process with the input that caused it.
 * State (orders, users...) carries over between inputs, as in a real server.
 */
#ifndef FUZZ_HARNESS_SERVER_H
#define FUZZ_HARNESS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum harness_user { H_ADMIN, H_SCHEDULER, H_VIEWER, H_NOBODY };

struct hresp {
    int status;                         /* HTTP status, 0 when no status line arrived */
    char ctype[128];                    /* content-type, "" when absent */
    char *body;                         /* malloc'd, NUL-terminated; NULL when none */
    size_t body_len;
};

/* Start the server once (later calls do nothing). Aborts when it cannot. */
void harness_init(void);

/* Bearer token of a demo user ("" for H_NOBODY); static storage. */
const char *harness_token(enum harness_user u);
/* The X-API-Key created at start; static storage. */
const char *harness_api_key(void);

/*
 * Send req[0..len) on a new loopback connection and read one response into *out (free with
 * harness_resp_free). half_close: shut down our sending side after the request (for raw bytes
 * that may be an incomplete request) and read until the server closes. Returns 0 when a whole
 * response arrived, -1 when the server closed or gave up without one. Aborts (a finding) when
 * the server neither answers nor closes within 20 s.
 */
int harness_exchange(const void *req, size_t len, bool half_close, struct hresp *out);

/* A new TCP connection to the server (aborts when it cannot). Caller closes it. */
int harness_connect(void);

/* ms > 0: harness_exchange/harness_request give up after ms and return -1 instead of aborting
 * (for inputs that may legitimately leave the server waiting, e.g. a raw partial request); the
 * session and liveness checks below always use the hard 20 s limit. 0 restores that. */
void harness_soft_timeout(int ms);

/* Build and send one request: "METHOD path HTTP/1.1" with Host, Connection: close, the user's
 * Authorization (unless H_NOBODY), extra_headers ("Name: value\r\n" lines, may be NULL), and
 * Content-Type/Content-Length when ctype is not NULL. Same result as harness_exchange. */
int harness_request(const char *method, const char *path, enum harness_user u, const char *ctype,
                    const char *extra_headers, const void *body, size_t body_len,
                    struct hresp *out);

/* SPEC §4 checks on a response (aborts with `what` and the response on a failure). */
void harness_check(const struct hresp *r, const char *what);

/* GET /api/auth/me as u must answer (the server is still serving); if u's session was
 * revoked by an input (logout), log u in again (silently keeps the old token if that fails). */
void harness_session_check(enum harness_user u);

/* GET /api/health must answer 200 (the server is still serving). */
void harness_check_alive(void);

void harness_resp_free(struct hresp *r);

#endif
