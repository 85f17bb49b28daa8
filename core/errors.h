/*
 * planboard error codes — SPEC §4 "Errors", in exactly one place.
 *
 * Convention for every layer (store/, locks/, importers/, protocol/, server/): a function
 * returns 0 on success or a negative PB_E* code below. pb_error_status() and
 * pb_error_code() map such a code to the HTTP status and the JSON "code" string.
 * This header has no dependencies so that every layer may include it.
 */
#ifndef PB_ERRORS_H
#define PB_ERRORS_H

/* X(name, http status, json code). WIP_LIMIT is a conflict whose body adds
 * "reason": "wip_limit", wipLimit and count (SPEC §9 WIP limits); it is counted as conflict. */
#define PB_ERRNO_MAP(X)                                          \
    X(INVALID_JSON,      400, "invalid_json")                    \
    X(VALIDATION,        400, "validation_failed")               \
    X(UNAUTHORIZED,      401, "unauthorized")                    \
    X(FORBIDDEN,         403, "forbidden")                       \
    X(NOT_FOUND,         404, "not_found")                       \
    X(CONFLICT,          409, "conflict")                        \
    X(WIP_LIMIT,         409, "conflict")                        \
    X(LENGTH_REQUIRED,   411, "length_required")                 \
    X(TOO_LARGE,         413, "payload_too_large")               \
    X(UNSUPPORTED_MEDIA, 415, "unsupported_media_type")          \
    X(IMPORT_FAILED,     422, "import_failed")                   \
    X(LOCKED,            423, "locked")                          \
    X(RATE_LIMITED,      429, "rate_limited")                    \
    X(INTERNAL,          500, "internal")                        \
    X(UNAVAILABLE,       503, "unavailable")

enum pb_err {
    PB_OK = 0,
#define PB_ERR_ENUM(name, status, code) PB_E##name,
    PB__ERR_FIRST = -100,
    PB_ERRNO_MAP(PB_ERR_ENUM)
#undef PB_ERR_ENUM
    PB__ERR_END
};

/* HTTP status for a PB_E* code (500 for anything unknown). */
static inline int pb_error_status(int err)
{
    switch (err) {
#define PB_ERR_STATUS(name, status, code) case PB_E##name: return status;
    PB_ERRNO_MAP(PB_ERR_STATUS)
#undef PB_ERR_STATUS
    default: return 500;
    }
}

/* JSON "code" string for a PB_E* code ("internal" for anything unknown). Static storage. */
static inline const char *pb_error_code(int err)
{
    switch (err) {
#define PB_ERR_CODE(name, status, code) case PB_E##name: return code;
    PB_ERRNO_MAP(PB_ERR_CODE)
#undef PB_ERR_CODE
    default: return "internal";
    }
}

#endif
