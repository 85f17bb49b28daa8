/*
 * libFuzzer target for protocol/client_msg.c: one WebSocket client frame of SPEC §5, parsed and
 * validated exactly as server/ws.c does before it acts on it (make fuzz; docs/fuzzing.md).
 *
 * The input is the frame's payload. lws (LWS_SERVER_OPTION_VALIDATE_UTF8) only delivers valid
 * UTF-8 text frames, so other inputs are rejected. Checked on every input: the result is 0 or
 * validation_failed with a reason; a parsed event has the fields it promises; and the "ref" the
 * server echoes back is valid UTF-8 of at most PB_CLIENT_REF_MAX bytes (SPEC §4: nothing the
 * server answers is invalid UTF-8). Any broken invariant aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/client_msg.h"
#include "core/errors.h"
#include "test/fuzz/fuzz_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_ws_message: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct client_msg m;

    if (!fuzz_utf8_valid(data, size))
        return -1;                      /* lws closes such a connection before we see it */
    int rc = client_msg_parse((const char *)data, size, &m);
    check(rc == 0 || rc == PB_EVALIDATION || rc == PB_EINVALID_JSON, "unexpected error code");
    check((rc == 0) == (m.error == NULL), "error reason and result disagree");
    /* SPEC §4: data after the value is invalid_json naming `body`; details only on a refusal */
    check(rc != PB_EINVALID_JSON || m.details != NULL, "invalid_json without details");
    check(rc != 0 || m.details == NULL, "details on an accepted frame");
    if (m.ref != NULL) {
        size_t n = strlen(m.ref);
        check(n <= PB_CLIENT_REF_MAX, "ref longer than PB_CLIENT_REF_MAX");
        check(fuzz_utf8_valid((const uint8_t *)m.ref, n), "echoed ref is not valid UTF-8");
    }
    check(m.data == NULL || cJSON_IsObject(m.data) || cJSON_IsNull(m.data) || rc != 0,
          "data is neither an object nor null");
    if (rc == 0) {
        switch (m.event) {
        case CLIENT_JOIN:
            check(m.since_seq >= 0 && (m.has_since || m.since_seq == 0), "bad sinceSeq");
            check(m.epoch == NULL || m.has_since, "epoch without sinceSeq");
            break;
        case CLIENT_START_DRAG:
        case CLIENT_END_DRAG:
        case CLIENT_MOVE_ORDER:
            check(m.order_id > 0, "orderId not positive");
            break;
        case CLIENT_PING:
        case CLIENT_LEAVE:
            break;
        default:
            check(false, "unknown event value");
        }
        /* What ws.c answers a ref'd message with: it must serialize. */
        cJSON *ack = cJSON_CreateObject();
        cJSON_AddStringToObject(ack, "event", "ack");
        if (m.ref != NULL)
            cJSON_AddStringToObject(ack, "ref", m.ref);
        char *s = cJSON_PrintUnformatted(ack);
        check(s != NULL && fuzz_utf8_valid((const uint8_t *)s, strlen(s)), "ack not valid UTF-8");
        free(s);
        cJSON_Delete(ack);
    }
    client_msg_cleanup(&m);
    return 0;
}
