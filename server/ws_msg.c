/*
 * ws_msg — a WebSocket frame encoded once and shared by reference (SPEC §5 frames): the
 * room's ring, the readers' queues and the event log (room_log.c) hold the same bytes.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

struct ws_msg *ws_msg_new(const char *event, uint64_t seq, const char *ref, cJSON *data)
{
    cJSON *o = cJSON_CreateObject();
    struct ws_msg *m = NULL;
    char *txt;
    size_t len;

    if (o == NULL) {
        cJSON_Delete(data);
        return NULL;
    }
    cJSON_AddStringToObject(o, "event", event);
    if (seq > 0)
        cJSON_AddNumberToObject(o, "seq", (double)seq);
    if (ref != NULL)
        cJSON_AddStringToObject(o, "ref", ref);
    cJSON_AddItemToObject(o, "data", data != NULL ? data : cJSON_CreateObject());
    txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (txt == NULL)
        return NULL;
    len = strlen(txt);
    /* The output check (SPEC §4): every WebSocket frame with JSON is built here, once. */
    if (json_output_check(txt, len, event) != 0) {
        free(txt);
        return NULL;
    }
    m = malloc(sizeof(*m) + LWS_PRE + len + 1);
    if (m != NULL) {
        m->refs = 1;
        m->seq = seq;
        m->ticket = 0;
        m->len = len;
        memcpy(m->buf + LWS_PRE, txt, len + 1);
    }
    free(txt);
    return m;
}

void ws_msg_ref(struct ws_msg *m)
{
    m->refs++;
}

void ws_msg_unref(struct ws_msg *m)
{
    if (m != NULL && --m->refs == 0)
        free(m);
}

