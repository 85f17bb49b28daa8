/*
 * protocol/json — JSON shapes of SPEC §2/§4/§5 and request-body readers.
 */
#include "protocol/json.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/calendar.h"
#include "core/errors.h"
#include "core/schedule.h"
#include "core/utf8.h"

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

static void add_projection(cJSON *j, const struct order *o);

cJSON *json_order(const struct order *o, const struct drag_lock *lock)
{
    return json_order_at(o, lock, order_position(o));
}

cJSON *json_order_at(const struct order *o, const struct drag_lock *lock, int64_t position)
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
    cJSON_AddNumberToObject(j, "position", (double)position);
    cJSON_AddStringToObject(j, "status", order_status_name(o->status));
    cJSON_AddStringToObject(j, "priority", order_priority_name(o->priority));
    add_str_or_null(j, "dueDate", o->due_date);
    add_str_or_null(j, "startDate", o->start_date);
    add_str_or_null(j, "completionDate", o->completion_date);
    add_id_or_null(j, "createdBy", o->created_by);
    add_str_or_null(j, "createdAt", o->created_at);
    add_str_or_null(j, "updatedAt", o->updated_at);
    cJSON_AddNumberToObject(j, "version", (double)o->version);
    add_projection(j, o);
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
    add_id_or_null(j, "wipLimit", wc->wip_limit);
    cJSON_AddStringToObject(j, "wipPolicy", wc->wip_hard ? "hard" : "soft");
    cJSON_AddNumberToObject(j, "defaultOperationMinutes", (double)wc->default_operation_minutes);
    return j;
}

/* ---------------------------------------------------------------- projected schedule */

void json_format_minute(int64_t minute, char out[PB_TIMESTAMP_LEN])
{
    json_format_ms(minute * 60000, out);
}

static void add_minute_or_null(cJSON *o, const char *k, int64_t minute)
{
    char ts[PB_TIMESTAMP_LEN];
    if (minute == SCHEDULE_NULL || minute == SCHEDULE_BEYOND) {
        cJSON_AddNullToObject(o, k);
        return;
    }
    json_format_minute(minute, ts);
    cJSON_AddStringToObject(o, k, ts);
}

/* projectedStart, projectedFinish, late of o (see json_schedule_entry). */
static void add_projection(cJSON *j, const struct order *o)
{
    add_minute_or_null(j, "projectedStart", o->projected_start);
    add_minute_or_null(j, "projectedFinish", o->projected_finish);
    if (o->projected_start == SCHEDULE_NULL)
        cJSON_AddNullToObject(j, "late");
    else
        cJSON_AddBoolToObject(j, "late", o->late);
}

cJSON *json_schedule_entry(const struct order *o)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL)
        return NULL;
    cJSON_AddNumberToObject(j, "orderId", (double)o->id);
    add_projection(j, o);
    return j;
}

static void format_hhmm(int minutes, char out[6])
{
    unsigned m = (unsigned)minutes % 1440u;     /* 0..1439 */
    snprintf(out, 6, "%02u:%02u", (m / 60u) % 24u, m % 60u);
}

cJSON *json_calendar(const struct calendar *c)
{
    cJSON *j = cJSON_CreateObject(), *arr;
    char t[6], day[PB_DATE_LEN];
    size_t n;
    if (j == NULL)
        return NULL;
    cJSON_AddStringToObject(j, "timezone", calendar_timezone(c));
    const struct cal_shift *s = calendar_shifts(c, &n);
    if ((arr = cJSON_AddArrayToObject(j, "shifts")) != NULL) {
        for (size_t i = 0; i < n; i++) {
            cJSON *e = cJSON_CreateObject();
            if (e == NULL)
                break;
            cJSON_AddNumberToObject(e, "weekday", s[i].weekday);
            format_hhmm(s[i].start, t);
            cJSON_AddStringToObject(e, "start", t);
            format_hhmm(s[i].end, t);
            cJSON_AddStringToObject(e, "end", t);
            cJSON_AddItemToArray(arr, e);
        }
    }
    if ((arr = cJSON_AddArrayToObject(j, "holidays")) != NULL) {
        for (size_t i = 0; i < calendar_n_holidays(c); i++) {
            calendar_holiday(c, i, day);
            cJSON_AddItemToArray(arr, cJSON_CreateString(day));
        }
    }
    return j;
}

/* "HH:MM", 00:00 to 23:59, exactly two digits each: minutes after midnight; -1 otherwise. */
static int parse_hhmm(const char *s)
{
    if (strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

bool json_calendar_parse(const cJSON *body, const struct calendar *cur, struct cal_shift *shifts,
                         size_t *n_shifts, char (*holidays)[PB_DATE_LEN], size_t *n_holidays,
                         struct json_details *d)
{
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(body, "shifts");
    const cJSON *ha = cJSON_GetObjectItemCaseSensitive(body, "holidays");
    char field[48];

    *n_shifts = *n_holidays = 0;
    if (sa == NULL) {
        size_t n;
        const struct cal_shift *s = calendar_shifts(cur, &n);
        memcpy(shifts, s, n * sizeof(*s));
        *n_shifts = n;
    } else if (!cJSON_IsArray(sa) || cJSON_GetArraySize(sa) > CAL_SHIFTS_MAX) {
        json_details_add(d, "shifts", "must be an array of at most 100 shifts");
    } else {
        size_t i = 0;
        for (const cJSON *e = sa->child; e != NULL; e = e->next, i++) {
            const cJSON *wd = cJSON_GetObjectItemCaseSensitive(e, "weekday");
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "start");
            const cJSON *en = cJSON_GetObjectItemCaseSensitive(e, "end");
            struct cal_shift *sh = &shifts[i];
            if (!cJSON_IsObject(e)) {
                snprintf(field, sizeof(field), "shifts[%zu]", i);
                json_details_add(d, field, "must be an object {weekday, start, end}");
                continue;
            }
            sh->weekday = cJSON_IsNumber(wd) && wd->valuedouble >= 1 && wd->valuedouble <= 7
                                  && wd->valuedouble == (double)(int)wd->valuedouble
                              ? (int)wd->valuedouble : -1;
            if (sh->weekday < 0) {
                snprintf(field, sizeof(field), "shifts[%zu].weekday", i);
                json_details_add(d, field, "must be a whole number from 1 (Monday) to 7 (Sunday)");
            }
            sh->start = cJSON_IsString(st) ? parse_hhmm(st->valuestring) : -1;
            if (sh->start < 0) {
                snprintf(field, sizeof(field), "shifts[%zu].start", i);
                json_details_add(d, field, "must be a time HH:MM from 00:00 to 23:59");
            }
            sh->end = cJSON_IsString(en) ? parse_hhmm(en->valuestring) : -1;
            if (sh->end < 0) {
                snprintf(field, sizeof(field), "shifts[%zu].end", i);
                json_details_add(d, field, "must be a time HH:MM from 00:00 to 23:59");
            }
        }
        *n_shifts = i;
    }
    if (ha == NULL) {
        *n_holidays = calendar_n_holidays(cur);
        for (size_t i = 0; i < *n_holidays; i++)
            calendar_holiday(cur, i, holidays[i]);
    } else if (!cJSON_IsArray(ha) || cJSON_GetArraySize(ha) > CAL_HOLIDAYS_MAX) {
        json_details_add(d, "holidays", "must be an array of at most 1000 dates");
    } else {
        size_t i = 0;
        for (const cJSON *e = ha->child; e != NULL; e = e->next, i++) {
            if (!cJSON_IsString(e) || !pb_date_valid(e->valuestring)) {
                snprintf(field, sizeof(field), "holidays[%zu]", i);
                json_details_add(d, field, "must be a real date YYYY-MM-DD");
                holidays[i][0] = '\0';
                continue;
            }
            memcpy(holidays[i], e->valuestring, PB_DATE_LEN);
        }
        *n_holidays = i;
    }
    return d->count > 0;
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

/* ================================================================ strict parse (SPEC §4) */

/* A string token of the raw text that breaks the input rules: the ordinal of the token among
 * all string tokens (keys and values, in document order) and why. */
struct bad_str {
    size_t ordinal;
    bool nul;                           /* a raw 0 byte or \u0000; else invalid UTF-8 */
};

static bool json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Scan the string tokens of buf[0..end), a text cJSON has parsed (so the syntax is known to be
 * good): cJSON keeps a string's raw bytes but decodes escapes, so validity is judged on the raw
 * bytes here — invalid UTF-8, a raw NUL, or the escape \u0000 that cJSON would decode into a
 * string cut short. Records at most max offenders; returns how many it recorded.
 */
static size_t scan_strings(const char *buf, size_t end, struct bad_str *bad, size_t max)
{
    size_t ord = 0, nbad = 0;

    for (size_t i = 0; i < end && nbad < max; i++) {
        if (buf[i] != '"')
            continue;
        size_t start = ++i;
        bool nul = false;
        while (i < end && buf[i] != '"') {
            if (buf[i] == '\\') {
                /* \uXXXX: four ASCII hex digits follow (cJSON checked), none is '"' or '\' */
                if (i + 5 < end && buf[i + 1] == 'u' && memcmp(buf + i + 2, "0000", 4) == 0)
                    nul = true;
                i += 2;
            } else {
                if (buf[i] == '\0')
                    nul = true;
                i++;
            }
        }
        if (nul || !utf8_valid(buf + start, i - start)) {
            bad[nbad].ordinal = ord;
            bad[nbad].nul = nul;
            nbad++;
        }
        ord++;
    }
    return nbad;
}

#define PATH_MAX_BYTES 256

/* Walk of the parsed tree in document order, counting string tokens like scan_strings() does,
 * to name the JSON path of each offender. */
struct path_walk {
    const struct bad_str *bad;
    size_t nbad, next;                  /* offenders; the next one to find */
    size_t ord;                         /* string tokens passed so far */
    char path[PATH_MAX_BYTES + 4];      /* current path, always valid UTF-8, NUL-terminated */
    size_t plen;
    bool full;                          /* "..." ends the path: append nothing more */
    struct json_details *d;
};

/* Append n bytes of s to the path, invalid UTF-8 shown as U+FFFD; "..." once it is full. */
static void path_put(struct path_walk *w, const char *s, size_t n)
{
    char tmp[3 * 64];
    if (w->full || w->plen >= PATH_MAX_BYTES)
        return;
    if (n > 64) {                       /* cut at a character boundary */
        n = 64;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    size_t t = utf8_repair(s, n, tmp);
    if (w->plen + t > PATH_MAX_BYTES) {
        /* The mark goes right after what is there (plen <= PATH_MAX_BYTES), and plen stops
         * after it: a fixed plen past the mark left stale bytes of a longer sibling's path
         * in the answer, cut inside a character (found by fuzz_json_strict). Later puts
         * return at once (full). */
        memcpy(w->path + w->plen, "...", 3);
        w->plen += 3;
        w->full = true;
    } else {
        memcpy(w->path + w->plen, tmp, t);
        w->plen += t;
    }
    w->path[w->plen] = '\0';
}

static void path_report(struct path_walk *w, bool key)
{
    const struct bad_str *b = &w->bad[w->next];
    const char *msg = b->nul ? (key ? "key must not contain NUL (\\u0000)"
                                    : "must not contain NUL (\\u0000)")
                             : (key ? "key must be valid UTF-8" : "must be valid UTF-8");
    if (w->d != NULL && w->d->details != NULL) {
        cJSON *e = cJSON_CreateObject();
        if (e != NULL) {
            /* The path as is: json_details_add() would map snake_case names. */
            cJSON_AddStringToObject(e, "field", w->plen > 0 ? w->path : "body");
            cJSON_AddStringToObject(e, "message", msg);
            cJSON_AddItemToArray(w->d->details, e);
            w->d->count++;
        }
    }
    w->next++;
}

static void path_walk(struct path_walk *w, const cJSON *node)
{
    if (w->next >= w->nbad)
        return;
    if (cJSON_IsString(node)) {
        if (w->ord++ == w->bad[w->next].ordinal)
            path_report(w, false);
        return;
    }
    if (!cJSON_IsArray(node) && !cJSON_IsObject(node))
        return;
    size_t i = 0, saved = w->plen;
    bool saved_full = w->full;
    for (const cJSON *c = node->child; c != NULL && w->next < w->nbad; c = c->next, i++) {
        if (cJSON_IsArray(node)) {
            char ix[32];
            int n = snprintf(ix, sizeof(ix), "[%zu]", i);
            path_put(w, ix, (size_t)n);
        } else {
            if (w->plen > 0)
                path_put(w, ".", 1);
            path_put(w, c->string, strlen(c->string));
            if (w->ord++ == w->bad[w->next].ordinal)
                path_report(w, true);
        }
        path_walk(w, c);
        w->plen = saved;
        w->full = saved_full;
        w->path[saved] = '\0';
    }
}

int json_parse_strict(const char *buf, size_t len, cJSON **out, struct json_details *d)
{
    const char *end = NULL;
    struct bad_str bad[JSON_STRICT_MAX_DETAILS];
    size_t i = 0;

    *out = NULL;
    /* JSON whitespace only before the value (cJSON would skip any control byte). */
    while (i < len && json_ws(buf[i]))
        i++;
    if (i < len && (unsigned char)buf[i] < ' ')
        return PB_EINVALID_JSON;
    /* FIXME: cJSON does not tell a syntax error from an allocation failure: both are
     * answered invalid_json. */
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (root == NULL)
        return PB_EINVALID_JSON;
    for (const char *p = end; p < buf + len; p++)
        if (!json_ws(*p)) {             /* trailing data: "{...}}", "{} x", "{}{}", "{}\0" */
            cJSON_Delete(root);
            if (d != NULL)
                json_details_add(d, "body", "has data after the JSON value");
            return PB_EINVALID_JSON;
        }
    size_t nbad = scan_strings(buf, (size_t)(end - buf), bad, JSON_STRICT_MAX_DETAILS);
    *out = root;
    if (nbad == 0)
        return 0;
    struct path_walk w = { .bad = bad, .nbad = nbad, .d = d };
    path_walk(&w, root);
    assert(w.next == nbad);             /* every offender was found in the tree */
    return PB_EVALIDATION;
}

bool json_details_names(const struct json_details *d, const char *field)
{
    const cJSON *e;
    if (d == NULL || d->details == NULL)
        return false;
    cJSON_ArrayForEach(e, d->details) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "field");
        if (cJSON_IsString(f) && strcmp(f->valuestring, field) == 0)
            return true;
    }
    return false;
}

/* ================================================================ the output check */

int json_output_check(const char *txt, size_t len, const char *what)
{
    if (utf8_text_valid(txt, len))
        return 0;
    fprintf(stderr, "internal error: refusing to send %s: not valid UTF-8 (SPEC §4)\n", what);
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds run the test suites: fail loudly where the bad text was built. */
    assert(!"an answer or event is not valid UTF-8");
#endif
    return PB_EINTERNAL;
}
