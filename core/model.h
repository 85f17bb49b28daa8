/*
 * planboard data model (SPEC §2): plain structs shared by store/, protocol/, importers/ and
 * server/. No SQLite, no JSON here. Field rules (lengths, ranges, enums, dates) live in
 * model.c so that REST bodies and CSV rows are validated by the same code.
 *
 * Strings in these structs are NUL-terminated UTF-8. Who owns them is stated per struct.
 */
#ifndef PB_MODEL_H
#define PB_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ostree.h"

/* SPEC §2 field limits. */
#define PB_ORDER_NUMBER_MAX   50
#define PB_STOCK_CODE_MAX     50
#define PB_DESCRIPTION_MAX    500
#define PB_OPERATION_MAX      100
#define PB_WC_CODE_MAX        20
#define PB_WC_NAME_MAX        100
#define PB_USERNAME_MAX       50
#define PB_EMAIL_MAX          100
#define PB_PASSWORD_MIN       12
#define PB_QUANTITY_MAX       1000000000LL   /* sanity bound on quantities */

#define PB_DATE_LEN      11    /* "YYYY-MM-DD" + NUL; "" means null */
#define PB_TIMESTAMP_LEN 21    /* "2026-11-21T09:30:00Z" + NUL; "" means null */

enum order_status {
    ORDER_NOT_STARTED, ORDER_IN_PROGRESS, ORDER_COMPLETE, ORDER_ON_HOLD, ORDER_CANCELLED,
    ORDER_STATUS__COUNT
};
enum order_priority {
    PRIORITY_LOW, PRIORITY_NORMAL, PRIORITY_HIGH, PRIORITY_URGENT, PRIORITY__COUNT
};
enum role { ROLE_ADMIN, ROLE_SCHEDULER, ROLE_VIEWER, ROLE__COUNT };
enum step_status { STEP_PENDING, STEP_IN_PROGRESS, STEP_COMPLETE, STEP_SKIPPED, STEP_STATUS__COUNT };

/* Names as in SQL and JSON ("not_started", "urgent", "scheduler", "skipped"). Static storage;
 * NULL for an out-of-range value. */
const char *order_status_name(enum order_status s);
const char *order_priority_name(enum order_priority p);
const char *role_name(enum role r);
const char *step_status_name(enum step_status s);

/* Parse a name; returns the enum value or -1 when unknown. With `ci` true the match is
 * case-insensitive (CSV exports write "High"); JSON bodies use exact names. */
int order_status_parse(const char *s, bool ci);
int order_priority_parse(const char *s, bool ci);
int role_parse(const char *s);
int step_status_parse(const char *s);

/* True when s is a real calendar date "YYYY-MM-DD" (leap years included). */
bool pb_date_valid(const char *s);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SSZ" into out[PB_TIMESTAMP_LEN]. */
void pb_now_timestamp(char out[PB_TIMESTAMP_LEN]);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t pb_now_ms(void);

struct tenant {                 /* strings owned by the struct (tenant_cleanup frees them) */
    int64_t id;
    char *slug;
    char *name;
    char *timezone;             /* IANA name, default "UTC" */
    int64_t daily_target;
};
void tenant_cleanup(struct tenant *t);

struct user {                   /* strings owned by the struct (user_cleanup frees them) */
    int64_t id;
    int64_t tenant_id;
    char *username;
    char *email;
    char *first_name;
    char *last_name;
    char *password_hash;        /* argon2id encoded; never serialized */
    enum role role;
    bool is_active;
    char created_at[PB_TIMESTAMP_LEN];
    char updated_at[PB_TIMESTAMP_LEN];
};
void user_cleanup(struct user *u);

struct work_centre {            /* strings owned by the struct; lives in the board cache */
    int64_t id;
    char *code;
    char *name;
    char *description;          /* "" when none */
    int64_t capacity;           /* >= 1: orders it can work at once */
    int64_t display_order;
    bool is_active;
    int64_t wip_limit;          /* SPEC §9: >= 1, 0 = null (no limit) */
    bool wip_hard;              /* wipPolicy: true = hard, false = soft (the default) */
    int64_t default_operation_minutes;  /* >= 1, default 60: work of an order without a plan */
};

struct step {                   /* strings owned by the struct (step_cleanup frees them) */
    int64_t step_number;
    char *operation_name;
    int64_t work_centre_id;     /* 0 = none */
    enum step_status status;
    int64_t planned_duration_minutes;   /* -1 = null */
    int64_t actual_duration_minutes;    /* -1 = null */
    int64_t quantity_completed;
    char started_at[PB_TIMESTAMP_LEN];  /* "" = null */
    char completed_at[PB_TIMESTAMP_LEN];
};
void step_cleanup(struct step *s);

/*
 * The routing steps of an order as the projected schedule reads them (SPEC §9 "Work of an
 * order"): the fields of struct step it needs, without strings, kept beside the order in the
 * board cache so that a recompute never reads SQLite. Issue 11.
 */
struct route_step {
    int64_t step_number;
    int64_t work_centre_id;             /* 0 = none */
    int64_t planned_minutes;            /* plannedDurationMinutes, -1 = null */
    int64_t quantity_completed;         /* the step's own count */
    enum step_status status;
};
struct order_route {                    /* one malloc: the header and its steps */
    size_t n;
    struct route_step steps[];          /* by step_number, ascending */
};

struct order {                  /* strings owned by the struct; lives in the board cache */
    int64_t id;
    char *order_number;
    char *stock_code;
    char *description;
    char *current_operation;    /* NULL = null */
    int64_t quantity_to_make;   /* > 0 */
    int64_t quantity_completed; /* >= 0 */
    int64_t work_centre_id;     /* 0 = backlog */
    int64_t rank;               /* sort key inside its column (orders.rank): strictly
                                 * increasing along the column, gaps between (store/rank.c) */
    struct ostree_node column_node; /* its place in its column's tree; the dense 0-based SPEC
                                 * position is order_position(); owned by the board cache */
    enum order_status status;
    enum order_priority priority;
    char due_date[PB_DATE_LEN];         /* "" = null */
    char start_date[PB_DATE_LEN];
    char completion_date[PB_DATE_LEN];
    int64_t created_by;         /* user id, 0 = null */
    char created_at[PB_TIMESTAMP_LEN];
    char updated_at[PB_TIMESTAMP_LEN];
    int64_t version;            /* +1 on every change to the order itself */
    struct order_route *route;  /* its routing steps, NULL = none; owned by the board cache */
    /* SPEC §9 projection (core/schedule.h), set by the schedule engine only: minutes since
     * the epoch, UTC; 0 = null (backlog, on_hold, complete, cancelled, or not computed yet),
     * INT64_MAX = past the calendar's horizon */
    int64_t projected_start;
    int64_t projected_finish;
    bool late;                  /* projected_finish after the end of due_date (tenant zone) */
};

/* SPEC §2 `position`: the 0-based index of o in its column (0 for an order in no column).
 * O(log n) in the column's size (core/ostree.h). */
int64_t order_position(const struct order *o);

/*
 * A new or replacing order as it arrives from a REST body or a CSV row, before it is stored.
 * Strings are borrowed (owned by whoever filled the struct). NULL = absent.
 */
struct order_input {
    const char *order_number;
    const char *stock_code;
    const char *description;
    const char *current_operation;
    int64_t quantity_to_make;
    int64_t quantity_completed;         /* default 0 */
    int status;                         /* enum order_status, default ORDER_NOT_STARTED */
    int priority;                       /* enum order_priority, default PRIORITY_NORMAL */
    const char *due_date;               /* "YYYY-MM-DD" or NULL */
    const char *start_date;
    int64_t work_centre_id;             /* 0 = backlog */
};

/* Fill `in` with the defaults above (all strings NULL). */
void order_input_init(struct order_input *in);

/*
 * Check the field rules of SPEC §2 on `in` (required fields, lengths, quantities, enums, real
 * dates). For each broken rule calls report(ctx, field, message) with the canonical snake_case
 * field name ("order_number", "quantity_to_make", ...) and a human sentence (static storage).
 * Does not check uniqueness or that work_centre_id exists (the store does).
 * Returns the number of broken rules (0 = valid).
 */
typedef void (*pb_report_fn)(void *ctx, const char *field, const char *message);
int order_input_check(const struct order_input *in, pb_report_fn report, void *ctx);

/* snake_case field name -> camelCase JSON name ("order_number" -> "orderNumber"); unknown
 * names are returned unchanged. Static storage. */
const char *pb_field_camel(const char *snake);

/* Length in code points of a UTF-8 string (bytes that are not continuation bytes). */
size_t pb_utf8_len(const char *s);

#endif
