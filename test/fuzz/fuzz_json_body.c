/*
 * libFuzzer target: every JSON request-body reader, in its route, on the real server
 * (test/fuzz/harness_server.h; make fuzz; docs/fuzzing.md).
 *
 * Input: byte 0 picks the route (table below: every route that reads a body), byte 1 the user
 * (admin, scheduler, viewer) and byte 2 the id in the path; the rest is the body, sent as
 * application/json with a correct Content-Length. The answer must pass harness_check (SPEC §4:
 * no 5xx, one valid UTF-8 JSON value, errors with "error" and "code").
 *
 * Ids in /api/users/:id skip the demo users (1-3) and /api/api-keys/:id the harness's key (1), so
 * the harness keeps its sessions; everything else may be changed or deleted by an input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/fuzz_utf8.h"
#include "test/fuzz/harness_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const struct {
    const char *method, *path;          /* path: "%lld" for the id */
    int id_base;                        /* first id the input may name */
    int who;                            /* -1: the input's user; else a fixed harness_user */
} routes[] = {
    { "POST", "/api/auth/login", 0, H_NOBODY },
    { "POST", "/api/auth/refresh", 0, H_NOBODY },
    { "POST", "/api/orders", 0, -1 },
    { "PUT", "/api/orders/%lld", 1, -1 },
    { "PUT", "/api/orders/%lld/move", 1, -1 },
    { "POST", "/api/orders/%lld/start-move", 1, -1 },
    { "POST", "/api/orders/%lld/end-move", 1, -1 },
    { "PUT", "/api/planning-board/move", 0, -1 },
    { "PUT", "/api/tenant", 0, -1 },
    { "POST", "/api/users", 0, -1 },
    { "PUT", "/api/users/%lld", 4, -1 },
    { "POST", "/api/work-centres", 0, -1 },
    { "PUT", "/api/work-centres/reorder", 0, -1 },
    { "PUT", "/api/work-centres/%lld", 1, -1 },
    { "POST", "/api/api-keys", 0, -1 },
    { "POST", "/api/scanner/events", 0, H_NOBODY },
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    harness_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum harness_user users[4] = { H_ADMIN, H_ADMIN, H_SCHEDULER, H_VIEWER };
    char path[128], what[160], hdr[400] = "";
    struct hresp r;

    if (size < 3)
        return -1;
    size_t k = data[0] % N_ROUTES;
    enum harness_user u = routes[k].who >= 0 ? (enum harness_user)routes[k].who
                                             : users[data[1] & 3];
    long long id = routes[k].id_base + data[2] % 32;
    snprintf(path, sizeof(path), routes[k].path, id);
    if (strcmp(routes[k].path, "/api/scanner/events") == 0)
        snprintf(hdr, sizeof(hdr), "X-API-Key: %s\r\n", harness_api_key());
    snprintf(what, sizeof(what), "%s %s", routes[k].method, path);
    if (harness_request(routes[k].method, path, u, "application/json", hdr, data + 3, size - 3,
                        &r) != 0) {
        fprintf(stderr, "fuzz_json_body: %s: no complete answer (status %d)\n", what, r.status);
        harness_resp_free(&r);
        __builtin_trap();
    }
    harness_check(&r, what);
    harness_resp_free(&r);
    return 0;
}
