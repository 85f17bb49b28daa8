/*
 * error_reply — the one builder of error answers (SPEC §4 "Errors"; STYLE "Errors": Redis
 * sends every error through addReplyErrorLength). HTTP error answers (http_reply.c), import
 * reports that fail (import.c through the dispatcher), WebSocket "error" frames (ws.c) and
 * refused WebSocket upgrades (ws.c) are all built here, and each is counted per code for
 * /metrics (planboard_errors_total{code="..."}).
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

/* The index of err in metrics.errors: PB_E* codes run from PB__ERR_FIRST + 1 upwards. */
static size_t error_index(int err)
{
    if (err <= PB__ERR_FIRST || err >= PB__ERR_END)
        err = PB_EINTERNAL;             /* pb_error_code() says "internal" for these too */
    if (err == PB_EWIP_LIMIT)
        err = PB_ECONFLICT;             /* same code string: one series in /metrics */
    return (size_t)(err - PB__ERR_FIRST - 1);
}

uint64_t error_reply_count(const struct app *app, int err)
{
    return app->metrics.errors[error_index(err)];
}

cJSON *error_reply_json(struct app *app, int err, const char *message, cJSON *extra)
{
    app->metrics.errors[error_index(err)]++;
    /* SPEC §4: a validation_failed body always has details; name the body when the caller
     * had no field to name. */
    if (err == PB_EVALIDATION && (extra == NULL || !cJSON_HasObjectItem(extra, "details"))) {
        struct json_details d;
        json_details_init(&d);
        json_details_add(&d, "body", message);
        cJSON *x = json_details_take(&d);
        json_details_cleanup(&d);
        if (x != NULL && extra != NULL) {
            cJSON *it;
            while ((it = extra->child) != NULL) {
                cJSON_DetachItemViaPointer(extra, it);
                cJSON_AddItemToObject(x, it->string, it);
            }
            cJSON_Delete(extra);
            extra = x;
        } else if (x != NULL) {
            extra = x;
        }
    }
    cJSON *o = cJSON_CreateObject();
    if (o == NULL
        || cJSON_AddStringToObject(o, "error", message != NULL ? message : "") == NULL
        || cJSON_AddStringToObject(o, "code", pb_error_code(err)) == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(extra);
        return NULL;
    }
    if (extra != NULL) {
        cJSON *it;
        while ((it = extra->child) != NULL) {
            cJSON_DetachItemViaPointer(extra, it);
            if (it->string != NULL && (strcmp(it->string, "error") == 0
                                       || strcmp(it->string, "code") == 0))
                cJSON_Delete(it);       /* the error and code above win */
            else
                cJSON_AddItemToObject(o, it->string, it);
        }
        cJSON_Delete(extra);
    }
    return o;
}

char *error_reply_body(struct app *app, int err, const char *message, cJSON *extra)
{
    cJSON *o = error_reply_json(app, err, message, extra);
    char *s = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}
