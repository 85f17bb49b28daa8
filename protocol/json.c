/*
 * protocol/json — JSON shapes of SPEC §2/§4/§5 and request-body readers.
 */
#include "protocol/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/errors.h"

void json_format_ms(int64_t ms, char out[PB_TIMESTAMP_LEN])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, PB_TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Add a string member, or null when s is NULL or empty. */
static void add_str_or_null(cJSON *o, const char *k, const char *s)
{
    if (s != NULL && *s != '\0')
        cJSON_AddStringToObject(o, k, s);
    else
        cJSON_AddNullToObject(o, k);
}

static void add_id_or_null(cJSON *o, const char *k, int64_t id)
{
    if (id > 0)
        cJSON_AddNumberToObject(o, k, (double)id);
    else
        cJSON_AddNullToObject(o, k);
}

cJSON *json_lock_holder(const struct drag_lock *lock)
{
    char ts[PB_TIMESTAMP_LEN];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    json_format_ms(lock->expires_at_ms, ts);
    cJSON_AddNumberToObject(o, "userId", (double)lock->user_id);
    cJSON_AddStringToObject(o, "username", lock->username);
    cJSON_AddStringToObject(o, "expiresAt", ts);
    return o;
}

cJSON *json_lock(const struct drag_lock *lock, const char *order_number)
{
    char ts[PB_TIMESTAMP_LEN];
    cJSON *o = cJSON_CreateObject(), *by;
    if (o == NULL)
        return NULL;
    json_format_ms(lock->expires_at_ms, ts);
    cJSON_AddNumberToObject(o, "orderId", (double)lock->order_id);
    add_str_or_null(o, "orderNumber", order_number);
    by = cJSON_AddObjectToObject(o, "lockedBy");
    if (by != NULL) {
        cJSON_AddNumberToObject(by, "userId", (double)lock->user_id);
        cJSON_AddStringToObject(by, "username", lock->username);
    }
    cJSON_AddStringToObject(o, "expiresAt", ts);
    return o;
}

cJSON *json_order(const struct order *o, const struct drag_lock *lock)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL)
        return NULL;
    cJSON_AddNumberToObject(j, "id", (double)o->id);
    cJSON_AddStringToObject(j, "orderNumber", o->order_number);
    cJSON_AddStringToObject(j, "stockCode", o->stock_code);
    cJSON_AddStringToObject(j, "description", o->description);
    cJSON_AddNumberToObject(j, "quantityToMake", (double)o->quantity_to_make);
    cJSON_AddNumberToObject(j, "quantityCompleted", (double)o->quantity_completed);
    add_str_or_null(j, "currentOperation", o->current_operation);
    add_id_or_null(j, "workCentreId", o->work_centre_id);
    cJSON_AddNumberToObject(j, "position", (double)o->position);
    cJSON_AddStringToObject(j, "status", order_status_name(o->status));
    cJSON_AddStringToObject(j, "priority", order_priority_name(o->priority));
    add_str_or_null(j, "dueDate", o->due_date);
    add_str_or_null(j, "startDate", o->start_date);
    add_str_or_null(j, "completionDate", o->completion_date);
    add_id_or_null(j, "createdBy", o->created_by);
    add_str_or_null(j, "createdAt", o->created_at);
    add_str_or_null(j, "updatedAt", o->updated_at);
    cJSON_AddNumberToObject(j, "version", (double)o->version);
    if (lock != NULL)
        cJSON_AddItemToObject(j, "lockedBy", json_lock_holder(lock));
    else
        cJSON_AddNullToObject(j, "lockedBy");
    return j;
}

cJSON *json_work_centre(const struct work_centre *wc)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL)
        return NULL;
    cJSON_AddNumberToObject(j, "id", (double)wc->id);
    cJSON_AddStringToObject(j, "code", wc->code);
    cJSON_AddStringToObject(j, "name", wc->name);
    cJSON_AddStringToObject(j, "description", wc->description ? wc->description : "");
    cJSON_AddNumberToObject(j, "capacity", (double)wc->capacity);
    cJSON_AddNumberToObject(j, "displayOrder", (double)wc->display_order);
    cJSON_AddBoolToObject(j, "isActive", wc->is_active);
    return j;
}

cJSON *json_step(const struct step *s)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL)
        return NULL;
    cJSON_AddNumberToObject(j, "stepNumber", (double)s->step_number);
    cJSON_AddStringToObject(j, "operationName", s->operation_name ? s->operation_name : "");
    add_id_or_null(j, "workCentreId", s->work_centre_id);
    cJSON_AddStringToObject(j, "status", step_status_name(s->status));
    if (s->planned_duration_minutes >= 0)
        cJSON_AddNumberToObject(j, "plannedDurationMinutes", (double)s->planned_duration_minutes);
    else
        cJSON_AddNullToObject(j, "plannedDurationMinutes");
    if (s->actual_duration_minutes >= 0)
        cJSON_AddNumberToObject(j, "actualDurationMinutes", (double)s->actual_duration_minutes);
    else
        cJSON_AddNullToObject(j, "actualDurationMinutes");
    cJSON_AddNumberToObject(j, "quantityCompleted", (double)s->quantity_completed);
    add_str_or_null(j, "startedAt", s->started_at);
    add_str_or_null(j, "completedAt", s->completed_at);
    return j;
}

cJSON *json_user(const struct user *u)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL)
        return NULL;
    cJSON_AddNumberToObject(j, "id", (double)u->id);
    cJSON_AddStringToObject(j, "username", u->username);
    cJSON_AddStringToObject(j, "email", u->email ? u->email : "");
    cJSON_AddStringToObject(j, "role", role_name(u->role));
    cJSON_AddStringToObject(j, "firstName", u->first_name ? u->first_name : "");
    cJSON_AddStringToObject(j, "lastName", u->last_name ? u->last_name : "");
    cJSON_AddBoolToObject(j, "isActive", u->is_active);
    add_str_or_null(j, "createdAt", u->created_at);
    add_str_or_null(j, "updatedAt", u->updated_at);
    return j;
}

cJSON *json_tenant_brief(const struct tenant *t)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL)
        return NULL;
    cJSON_AddNumberToObject(j, "id", (double)t->id);
    cJSON_AddStringToObject(j, "slug", t->slug);
    cJSON_AddStringToObject(j, "name", t->name);
    return j;
}

cJSON *json_tenant(const struct tenant *t)
{
    cJSON *j = json_tenant_brief(t);
    if (j == NULL)
        return NULL;
    cJSON_AddStringToObject(j, "timezone", t->timezone ? t->timezone : "UTC");
    cJSON_AddNumberToObject(j, "dailyTarget", (double)t->daily_target);
    return j;
}

cJSON *json_data(cJSON *arr)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddItemToObject(o, "data", arr);
    return o;
}

char *json_error_body(int err, const char *message, cJSON *extra)
{
    cJSON *o = cJSON_CreateObject();
    char *s;
    if (o == NULL) {
        cJSON_Delete(extra);
        return NULL;
    }
    cJSON_AddStringToObject(o, "error", message);
    cJSON_AddStringToObject(o, "code", pb_error_code(err));
    if (extra != NULL) {
        cJSON *it;
        while ((it = extra->child) != NULL) {
            cJSON_DetachItemViaPointer(extra, it);
            cJSON_AddItemToObject(o, it->string, it);
        }
        cJSON_Delete(extra);
    }
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void json_details_init(struct json_details *d)
{
    d->details = cJSON_CreateArray();
    d->count = 0;
}

void json_details_add(void *ctx, const char *field, const char *message)
{
    struct json_details *d = ctx;
    cJSON *e = cJSON_CreateObject();
    if (e == NULL)
        return;
    cJSON_AddStringToObject(e, "field", pb_field_camel(field));
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddItemToArray(d->details, e);
    d->count++;
}

cJSON *json_details_take(struct json_details *d)
{
    cJSON *o = cJSON_CreateObject();
    if (o != NULL && d->details != NULL)
        cJSON_AddItemToObject(o, "details", d->details);
    else
        cJSON_Delete(d->details);
    d->details = NULL;
    d->count = 0;
    return o;
}

void json_details_cleanup(struct json_details *d)
{
    cJSON_Delete(d->details);
    d->details = NULL;
    d->count = 0;
}

static void report_type(struct json_details *d, const char *name, const char *msg)
{
    if (d != NULL)
        json_details_add(d, name, msg);
}

int json_get_int(const cJSON *obj, const char *name, int64_t *out, struct json_details *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL)
        return 1;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble)
        || fabs(v->valuedouble) > 9007199254740992.0) {
        report_type(d, name, "must be a whole number");
        return PB_EVALIDATION;
    }
    *out = (int64_t)v->valuedouble;
    return 0;
}

int json_get_str(const cJSON *obj, const char *name, const char **out, struct json_details *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL || cJSON_IsNull(v))
        return 1;
    if (!cJSON_IsString(v)) {
        report_type(d, name, "must be a string");
        return PB_EVALIDATION;
    }
    *out = v->valuestring;
    return 0;
}

int json_get_bool(const cJSON *obj, const char *name, bool *out, struct json_details *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL)
        return 1;
    if (!cJSON_IsBool(v)) {
        report_type(d, name, "must be true or false");
        return PB_EVALIDATION;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

int json_get_id_or_null(const cJSON *obj, const char *name, int64_t *out,
                        struct json_details *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL)
        return 1;
    if (cJSON_IsNull(v)) {
        *out = 0;
        return 0;
    }
    int rc = json_get_int(obj, name, out, d);
    if (rc == 0 && *out <= 0) {
        report_type(d, name, "must be a positive id or null");
        return PB_EVALIDATION;
    }
    return rc;
}
