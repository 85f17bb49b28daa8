/*
 * protocol/client_msg — the WebSocket client frames of SPEC §5, parsed and validated.
 */
#include "protocol/client_msg.h"

#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "protocol/json.h"

static const struct {
    const char *name;
    enum client_event event;
} events[] = {
    { "ping", CLIENT_PING },
    { "join_planning_board", CLIENT_JOIN },
    { "leave_planning_board", CLIENT_LEAVE },
    { "start_drag", CLIENT_START_DRAG },
    { "end_drag", CLIENT_END_DRAG },
    { "move_order", CLIENT_MOVE_ORDER },
    { "preview_move", CLIENT_PREVIEW_MOVE },
};

static int fail(struct client_msg *m, const char *why)
{
    m->error = why;
    return PB_EVALIDATION;
}

int client_msg_parse(const char *text, size_t len, struct client_msg *m)
{
    const cJSON *ev, *refj;
    struct json_details bad;
    size_t i;

    memset(m, 0, sizeof(*m));
    /* SPEC §4 input rules: the same strict parse as request bodies, the same codes. */
    json_details_init(&bad);
    int prc = json_parse_strict(text, len, &m->root, &bad);
    if (prc == PB_EINVALID_JSON && bad.count > 0) {     /* data after the JSON value */
        m->details = json_details_take(&bad);
        m->error = "message has data after the JSON value";
        return PB_EINVALID_JSON;
    }
    if (m->root == NULL || !cJSON_IsObject(m->root)) {
        json_details_cleanup(&bad);
        return fail(m, "frame is not a JSON object");
    }
    refj = cJSON_GetObjectItemCaseSensitive(m->root, "ref");
    if (prc != 0 && json_details_names(&bad, "ref"))
        refj = NULL;                    /* the ref itself is invalid: never echo it */
    if (cJSON_IsString(refj)) {
        /* Cut a long ref before a character, never inside one: the echo must stay valid
         * UTF-8 (SPEC §4; found by fuzz_ws_message). */
        size_t n = strlen(refj->valuestring);
        if (n > PB_CLIENT_REF_MAX) {
            n = PB_CLIENT_REF_MAX;
            while (n > 0 && ((unsigned char)refj->valuestring[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(m->refbuf, refj->valuestring, n);
        m->refbuf[n] = '\0';
        m->ref = m->refbuf;
    } else if (cJSON_IsNumber(refj)) {
        snprintf(m->refbuf, sizeof(m->refbuf), "%.0f", refj->valuedouble);
        m->ref = m->refbuf;
    }
    if (prc != 0) {                     /* a string or key with invalid UTF-8 or NUL */
        m->details = json_details_take(&bad);
        m->error = "a string is not valid UTF-8 or contains NUL (\\u0000)";
        return prc;
    }
    json_details_cleanup(&bad);
    ev = cJSON_GetObjectItemCaseSensitive(m->root, "event");
    m->data = cJSON_GetObjectItemCaseSensitive(m->root, "data");
    if (m->data != NULL && !cJSON_IsObject(m->data) && !cJSON_IsNull(m->data))
        return fail(m, "data must be an object");
    if (!cJSON_IsString(ev))
        return fail(m, "event must be a string");
    for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (strcmp(ev->valuestring, events[i].name) == 0)
            break;
    if (i == sizeof(events) / sizeof(events[0]))
        return fail(m, "unknown event");
    m->event = events[i].event;

    struct json_details d;
    json_details_init(&d);
    switch (m->event) {
    case CLIENT_JOIN: {
        int has = m->data != NULL ? json_get_int(m->data, "sinceSeq", &m->since_seq, &d) : 1;
        if (has == 0)
            json_get_str(m->data, "epoch", &m->epoch, &d);
        json_details_cleanup(&d);
        if (has < 0 || m->since_seq < 0)
            return fail(m, "sinceSeq must be a whole number >= 0");
        m->has_since = has == 0;
        return 0;
    }
    case CLIENT_START_DRAG:
    case CLIENT_END_DRAG:
    case CLIENT_MOVE_ORDER:
    case CLIENT_PREVIEW_MOVE: {
        int rc = m->data != NULL ? json_get_int(m->data, "orderId", &m->order_id, &d) : 1;
        json_details_cleanup(&d);
        if (rc != 0 || m->order_id <= 0)
            return fail(m, "orderId must be a positive whole number");
        return 0;
    }
    default:
        json_details_cleanup(&d);
        return 0;
    }
}

void client_msg_cleanup(struct client_msg *m)
{
    cJSON_Delete(m->details);
    m->details = NULL;
    cJSON_Delete(m->root);
    m->root = NULL;
    m->data = NULL;
    m->epoch = NULL;
}
