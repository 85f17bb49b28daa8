/*
 * planboard data model: enum names, field rules (SPEC §2), small time helpers.
 */
#include "core/model.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const status_names[ORDER_STATUS__COUNT] = {
    "not_started", "in_progress", "complete", "on_hold", "cancelled"
};
static const char *const priority_names[PRIORITY__COUNT] = { "low", "normal", "high", "urgent" };
static const char *const role_names[ROLE__COUNT] = { "admin", "scheduler", "viewer" };
static const char *const step_names[STEP_STATUS__COUNT] = {
    "pending", "in_progress", "complete", "skipped"
};

static int parse_name(const char *const *names, int n, const char *s, bool ci)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        if (ci ? strcasecmp(names[i], s) == 0 : strcmp(names[i], s) == 0)
            return i;
    return -1;
}

const char *order_status_name(enum order_status s)
{
    return (unsigned)s < ORDER_STATUS__COUNT ? status_names[s] : NULL;
}
const char *order_priority_name(enum order_priority p)
{
    return (unsigned)p < PRIORITY__COUNT ? priority_names[p] : NULL;
}
const char *role_name(enum role r)
{
    return (unsigned)r < ROLE__COUNT ? role_names[r] : NULL;
}
const char *step_status_name(enum step_status s)
{
    return (unsigned)s < STEP_STATUS__COUNT ? step_names[s] : NULL;
}
int order_status_parse(const char *s, bool ci)
{
    return parse_name(status_names, ORDER_STATUS__COUNT, s, ci);
}
int order_priority_parse(const char *s, bool ci)
{
    return parse_name(priority_names, PRIORITY__COUNT, s, ci);
}
int role_parse(const char *s)
{
    return parse_name(role_names, ROLE__COUNT, s, false);
}
int step_status_parse(const char *s)
{
    return parse_name(step_names, STEP_STATUS__COUNT, s, false);
}

bool pb_date_valid(const char *s)
{
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    int max = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        max = 29;
    return d <= max;
}

void pb_now_timestamp(char out[PB_TIMESTAMP_LEN])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, PB_TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t pb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tenant_cleanup(struct tenant *t)
{
    if (t == NULL)
        return;
    free(t->slug);
    free(t->name);
    free(t->timezone);
    memset(t, 0, sizeof(*t));
}

void user_cleanup(struct user *u)
{
    if (u == NULL)
        return;
    free(u->username);
    free(u->email);
    free(u->first_name);
    free(u->last_name);
    free(u->password_hash);
    memset(u, 0, sizeof(*u));
}

void step_cleanup(struct step *s)
{
    if (s == NULL)
        return;
    free(s->operation_name);
    memset(s, 0, sizeof(*s));
}

void order_input_init(struct order_input *in)
{
    memset(in, 0, sizeof(*in));
    in->status = ORDER_NOT_STARTED;
    in->priority = PRIORITY_NORMAL;
}

size_t pb_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static bool blank(const char *s)
{
    if (s == NULL)
        return true;
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

static int check_text(const char *v, bool required, size_t max, const char *field,
                      pb_report_fn report, void *ctx)
{
    if (blank(v)) {
        if (required) {
            report(ctx, field, "is required");
            return 1;
        }
        return 0;
    }
    if (pb_utf8_len(v) > max) {
        report(ctx, field, max == PB_ORDER_NUMBER_MAX ? "must be at most 50 characters"
                         : max == PB_DESCRIPTION_MAX ? "must be at most 500 characters"
                         : "must be at most 100 characters");
        return 1;
    }
    return 0;
}

int order_input_check(const struct order_input *in, pb_report_fn report, void *ctx)
{
    int n = 0;

    n += check_text(in->order_number, true, PB_ORDER_NUMBER_MAX, "order_number", report, ctx);
    n += check_text(in->stock_code, true, PB_STOCK_CODE_MAX, "stock_code", report, ctx);
    n += check_text(in->description, true, PB_DESCRIPTION_MAX, "description", report, ctx);
    n += check_text(in->current_operation, false, PB_OPERATION_MAX, "current_operation", report, ctx);
    if (in->quantity_to_make <= 0 || in->quantity_to_make > PB_QUANTITY_MAX) {
        report(ctx, "quantity_to_make", "must be a whole number greater than 0");
        n++;
    }
    if (in->quantity_completed < 0 || in->quantity_completed > PB_QUANTITY_MAX) {
        report(ctx, "quantity_completed", "must be a whole number of at least 0");
        n++;
    }
    if (order_status_name(in->status) == NULL) {
        report(ctx, "status", "must be one of not_started, in_progress, complete, on_hold, cancelled");
        n++;
    }
    if (order_priority_name(in->priority) == NULL) {
        report(ctx, "priority", "must be one of low, normal, high, urgent");
        n++;
    }
    if (in->due_date != NULL && !pb_date_valid(in->due_date)) {
        report(ctx, "due_date", "must be a real date YYYY-MM-DD");
        n++;
    }
    if (in->start_date != NULL && !pb_date_valid(in->start_date)) {
        report(ctx, "start_date", "must be a real date YYYY-MM-DD");
        n++;
    }
    return n;
}

const char *pb_field_camel(const char *snake)
{
    static const char *const map[][2] = {
        { "order_number", "orderNumber" }, { "stock_code", "stockCode" },
        { "quantity_to_make", "quantityToMake" }, { "quantity_completed", "quantityCompleted" },
        { "due_date", "dueDate" }, { "start_date", "startDate" },
        { "completion_date", "completionDate" }, { "current_operation", "currentOperation" },
        { "work_centre_id", "workCentreId" }, { "work_centre_code", "workCentreCode" },
        { "first_name", "firstName" }, { "last_name", "lastName" },
        { "display_order", "displayOrder" }, { "is_active", "isActive" },
        { "daily_target", "dailyTarget" }, { "wip_limit", "wipLimit" },
        { "wip_policy", "wipPolicy" }, { "default_operation_minutes", "defaultOperationMinutes" },
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], snake) == 0)
            return map[i][1];
    return snake;
}

int64_t order_position(const struct order *o)
{
    return (int64_t)ostree_index(&o->column_node);
}
