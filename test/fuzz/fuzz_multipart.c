/*
 * libFuzzer target: CSV uploads to POST /api/orders/import on the real server — the multipart
 * path (lws_spa inside libwebsockets, driven by server/import.c, which needs a live wsi for the
 * Content-Type boundary) and the raw text/csv path (test/fuzz/harness_server.h; docs/fuzzing.md).
 *
 * Input: byte 0 picks the Content-Type (bits 0-1: multipart with boundary PBFUZZ, the same quoted,
 * text/csv, multipart without a boundary) and the query (bit 2: mode=create, bit 3:
 * onError=skip, bit 4: placement=file, bit 5: a real import instead of dryRun=true, bit 6: the
 * scheduler instead of the admin); the rest is the body, sent with a correct Content-Length.
 * The answer must pass harness_check (SPEC §4/§6: no 5xx, one valid UTF-8 JSON value).
 */
#include <stdio.h>
#include <string.h>

#include "test/fuzz/harness_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    harness_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[4] = {
        "multipart/form-data; boundary=PBFUZZ", "multipart/form-data; boundary=\"PBFUZZ\"",
        "text/csv", "multipart/form-data",
    };
    char path[160];
    struct hresp r;

    if (size < 1)
        return -1;
    uint8_t o = data[0];
    snprintf(path, sizeof(path), "/api/orders/import?mode=%s&onError=%s&placement=%s%s",
             o & 4 ? "create" : "upsert", o & 8 ? "skip" : "abort", o & 16 ? "file" : "keep",
             o & 32 ? "" : "&dryRun=true");
    if (harness_request("POST", path, o & 64 ? H_SCHEDULER : H_ADMIN, types[o & 3], NULL,
                        data + 1, size - 1, &r) != 0) {
        fprintf(stderr, "fuzz_multipart: %s (%s): no complete answer (status %d)\n", path,
                types[o & 3], r.status);
        harness_resp_free(&r);
        __builtin_trap();
    }
    harness_check(&r, path);
    harness_resp_free(&r);
    return 0;
}
