/*
 * harness_server — the real planboard server in the fuzzer's process (harness_server.h).
 */
#include "test/fuzz/harness_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "test/fuzz/fuzz_utf8.h"

#define FUZZ_PASSWORD "fuzz-password-123"
#define ANSWER_TIMEOUT_MS 20000

int planboard_main(int argc, char **argv);     /* server/main.c, main renamed by the Makefile */

static int port;
static int connect_server(void);
static char dir[64];
static char tokens[3][2048];
static char api_key[256];
static char cfg_path[128];
static int soft_timeout_ms;             /* > 0: a silent server is not a finding by itself */

void harness_soft_timeout(int ms)
{
    soft_timeout_ms = ms;
}

static void fail(const char *what)
{
    fprintf(stderr, "harness_server: %s\n", what);
    abort();
}

/* ================================================================ the server thread */

static void *server_thread(void *arg)
{
    char *argv[] = { "planboard", "demo", "--config", cfg_path, NULL };
    (void)arg;
    int rc = planboard_main(4, argv);
    fprintf(stderr, "harness_server: the server stopped (exit %d)\n", rc);
    abort();                            /* it must serve until the process ends */
    return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_dir(void)
{
    if (dir[0] != '\0')
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0
        || getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        fail("no free port");
    close(fd);
    return ntohs(a.sin_port);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        fail("cannot write the temporary files");
}

/* ================================================================ HTTP client */

int harness_connect(void)
{
    int fd = connect_server();
    if (fd < 0)
        fail("cannot connect to the server");
    return fd;
}

static int connect_server(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parse the header block; 0 and the body start, -1 if not complete yet. */
static int parse_head(const char *buf, size_t len, struct hresp *out, size_t *head_len,
                      long long *clen)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL)
        return -1;
    *head_len = (size_t)(end - buf) + 4;
    *clen = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1)
        out->status = 0;
    for (const char *line = strstr(buf, "\r\n"); line != NULL && line < end;
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, "content-length:", 15) == 0)
            *clen = strtoll(l + 15, NULL, 10);
        else if (strncasecmp(l, "content-type:", 13) == 0) {
            const char *v = l + 13, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out->ctype, sizeof(out->ctype), "%.*s", (int)(e - v), v);
        }
    }
    return 0;
}

int harness_exchange(const void *req, size_t len, bool half_close, struct hresp *out)
{
    size_t cap = 64 * 1024, n = 0, head_len = 0, sent = 0;
    char *buf = malloc(cap + 1);
    long long clen = -1;
    bool have_head = false;
    int fd = connect_server(), rc = -1;
    int64_t deadline = now_ms() + (soft_timeout_ms > 0 ? soft_timeout_ms : ANSWER_TIMEOUT_MS);

    memset(out, 0, sizeof(*out));
    if (buf == NULL || fd < 0)
        fail("cannot connect to the server");
    while (sent < len) {
        ssize_t w = send(fd, (const char *)req + sent, len - sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;                      /* the server closed early: read what it said */
        }
        sent += (size_t)w;
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    for (;;) {
        if (have_head && clen >= 0 && n - head_len >= (size_t)clen) {
            rc = 0;
            break;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - now_ms();
        if (left <= 0 && soft_timeout_ms > 0)
            break;
        if (left <= 0) {
            fprintf(stderr, "harness_server: no answer within %d ms; got %zu bytes:\n%.*s\n",
                    ANSWER_TIMEOUT_MS, n, (int)(n < 2000 ? n : 2000), buf);
            fail("the server neither answered nor closed the connection");
        }
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;                   /* the deadline is checked above; recv would block */
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL)
                fail("out of memory");
            buf = nb;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            /* Closed: a whole answer needs its head and, with a length, all of its body. */
            rc = have_head && (clen < 0 || n - head_len >= (size_t)clen) ? 0 : -1;
            break;
        }
        n += (size_t)r;
        buf[n] = '\0';
        if (!have_head && parse_head(buf, n, out, &head_len, &clen) == 0)
            have_head = true;
    }
    close(fd);
    if (have_head) {
        size_t blen = n - head_len;
        if (clen >= 0 && blen > (size_t)clen)
            blen = (size_t)clen;
        out->body = malloc(blen + 1);
        if (out->body == NULL)
            fail("out of memory");
        memcpy(out->body, buf + head_len, blen);
        out->body[blen] = '\0';
        out->body_len = blen;
    }
    free(buf);
    return rc;
}

int harness_request(const char *method, const char *path, enum harness_user u, const char *ctype,
                    const char *extra_headers, const void *body, size_t body_len,
                    struct hresp *out)
{
    size_t cap = strlen(path) + (extra_headers ? strlen(extra_headers) : 0) + 4096 + body_len;
    char *req = malloc(cap);
    int n;

    if (req == NULL)
        fail("out of memory");
    n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                 method, path);
    if (u != H_NOBODY)
        n += snprintf(req + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", tokens[u]);
    if (extra_headers != NULL)
        n += snprintf(req + n, cap - (size_t)n, "%s", extra_headers);
    if (ctype != NULL)
        n += snprintf(req + n, cap - (size_t)n, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                      ctype, body_len);
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    if (body_len > 0)
        memcpy(req + n, body, body_len);
    int rc = harness_exchange(req, (size_t)n + body_len, false, out);
    free(req);
    return rc;
}

void harness_resp_free(struct hresp *r)
{
    free(r->body);
    r->body = NULL;
}

static void bad_response(const struct hresp *r, const char *what, const char *why)
{
    fprintf(stderr, "harness_server: %s: %s\nstatus %d, content-type '%s', body (%zu bytes): "
            "%.*s\n", what, why, r->status, r->ctype, r->body_len,
            (int)(r->body_len < 2000 ? r->body_len : 2000), r->body ? r->body : "");
    abort();
}

void harness_check(const struct hresp *r, const char *what)
{
    if (r->status < 100 || r->status > 599)
        bad_response(r, what, "no valid status line");
    if (r->status >= 500)
        bad_response(r, what, "a 5xx answer (SPEC §4: internal) to a client's request");
    if (r->body == NULL)
        return;
    if (!fuzz_utf8_valid((const uint8_t *)r->body, r->body_len))
        bad_response(r, what, "the body is not valid UTF-8 (SPEC §4)");
    if (strncmp(r->ctype, "application/json", 16) == 0 && r->body_len > 0) {
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts(r->body, r->body_len, &end, false);
        if (j == NULL || end != r->body + r->body_len)
            bad_response(r, what, "the JSON body is not one JSON value");
        if (r->status >= 400) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "code");
            if (!cJSON_IsString(e) || !cJSON_IsString(c))
                bad_response(r, what, "an error without \"error\" and \"code\" strings");
        }
        cJSON_Delete(j);
    }
}

void harness_check_alive(void)
{
    struct hresp r;
    int soft = soft_timeout_ms;
    soft_timeout_ms = 0;
    if (harness_request("GET", "/api/health", H_NOBODY, NULL, NULL, NULL, 0, &r) != 0
        || r.status != 200)
        bad_response(&r, "GET /api/health", "the server stopped serving");
    harness_resp_free(&r);
    soft_timeout_ms = soft;
}

/* ================================================================ start */

static const char *const user_names[3] = { "admin", "scheduler", "viewer" };

/* Log user u in; 0 and tokens[u] set, or -1 (the user may have been changed by an input). */
static int login(enum harness_user u, struct hresp *r)
{
    char text[256];
    snprintf(text, sizeof(text),
             "{\"tenant\":\"demo\",\"username\":\"%s\",\"password\":\"" FUZZ_PASSWORD "\"}",
             user_names[u]);
    if (harness_request("POST", "/api/auth/login", H_NOBODY, "application/json", NULL, text,
                        strlen(text), r) != 0 || r->status != 200)
        return -1;
    return 0;
}

static void json_field(const struct hresp *r, const char *name, char *out, size_t len);

void harness_session_check(enum harness_user u)
{
    struct hresp r;
    int soft = soft_timeout_ms;
    soft_timeout_ms = 0;                /* this one must be answered */
    if (harness_request("GET", "/api/auth/me", u, NULL, NULL, NULL, 0, &r) != 0)
        bad_response(&r, "GET /api/auth/me", "the server stopped serving");
    harness_check(&r, "GET /api/auth/me");
    int status = r.status;
    harness_resp_free(&r);
    soft_timeout_ms = soft;
    if (status != 401)
        return;
    if (login(u, &r) == 0)              /* an input logged it out: log in again */
        json_field(&r, "accessToken", tokens[u], sizeof(tokens[u]));
    harness_resp_free(&r);
}

static void json_field(const struct hresp *r, const char *name, char *out, size_t len)
{
    cJSON *j = r->body != NULL ? cJSON_Parse(r->body) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= len)
        bad_response(r, name, "harness set-up failed");
    snprintf(out, len, "%s", v->valuestring);
    cJSON_Delete(j);
}

void harness_init(void)
{
    static bool started;
    char path[128], text[1024];
    pthread_t t;
    pthread_attr_t attr;

    if (started)
        return;
    started = true;
    snprintf(dir, sizeof(dir), "%s", "/tmp/pb-fuzz-XXXXXX");
    if (mkdtemp(dir) == NULL)
        fail("mkdtemp");
    atexit(remove_dir);
    port = free_port();
    snprintf(path, sizeof(path), "%s/web", dir);
    if (mkdir(path, 0700) != 0)
        fail("mkdir web");
    snprintf(path, sizeof(path), "%s/web/index.html", dir);
    write_file(path, "<!doctype html><title>planboard</title>\n");
    snprintf(text, sizeof(text),
             "[server]\nbind = 127.0.0.1\nport = %d\nstatic_dir = %s/web\nlog_level = error\n"
             "[database]\npath = %s/pb.db\n[auth]\njwt_secret_file = %s/jwt.secret\n"
             "access_ttl = 86400\n",
             port, dir, dir, dir);
    snprintf(cfg_path, sizeof(cfg_path), "%s/cfg.ini", dir);
    write_file(cfg_path, text);
    setenv("PLANBOARD_DEMO_PASSWORD", FUZZ_PASSWORD, 1);
    unsetenv("PORT");

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, server_thread, NULL) != 0)
        fail("pthread_create");
    pthread_attr_destroy(&attr);

    int fd = -1;
    for (int64_t until = now_ms() + 30000; (fd = connect_server()) < 0 && now_ms() < until;)
        usleep(20 * 1000);
    if (fd < 0)
        fail("the server did not start listening within 30 s");
    close(fd);

    struct hresp r;
    for (int i = 0; i < 3; i++) {
        if (login((enum harness_user)i, &r) != 0)
            bad_response(&r, "login", "harness set-up failed");
        json_field(&r, "accessToken", tokens[i], sizeof(tokens[i]));
        harness_resp_free(&r);
    }
    static const char key_body[] = "{\"name\":\"fuzz scanner\"}";
    if (harness_request("POST", "/api/api-keys", H_ADMIN, "application/json", NULL, key_body,
                        sizeof(key_body) - 1, &r) != 0 || r.status != 201)
        bad_response(&r, "api key", "harness set-up failed");
    json_field(&r, "key", api_key, sizeof(api_key));
    harness_resp_free(&r);
}

const char *harness_token(enum harness_user u)
{
    return u == H_NOBODY ? "" : tokens[u];
}

const char *harness_api_key(void)
{
    return api_key;
}
