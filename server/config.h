/*
 * config — settings of SPEC §7, read from an INI file over built-in defaults.
 * Pure (no sockets): part of the core library and unit-tested.
 */
#ifndef PB_CONFIG_H
#define PB_CONFIG_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define PB_CONFIG_STR 512

struct config {
    char bind[64];                      /* [server] bind: address to listen on, "127.0.0.1" */
    int port;                           /* [server] port, 8080; env PORT overrides */
    char static_dir[PB_CONFIG_STR];     /* [server] static_dir: the browser board, "web" */
    char log_level[16];                 /* [server] log_level: error|warn|info|debug, "info" */
    char db_path[PB_CONFIG_STR];        /* [database] path, "var/planboard.db" */
    char db_url[PB_CONFIG_STR];         /* [database] url (SPEC §12): "sqlite:PATH" sets db_path;
                                         * "" = not given */
    char synchronous[16];               /* [database] synchronous: NORMAL|FULL, "NORMAL" */
    char jwt_secret_file[PB_CONFIG_STR];/* [auth] jwt_secret_file, "var/jwt.secret" */
    int64_t access_ttl;                 /* [auth] access_ttl, seconds, 900 */
    int64_t refresh_ttl;                /* [auth] refresh_ttl, seconds, 2592000 (30 days) */
    int64_t login_rate_per_minute;      /* [auth] login_rate_per_minute, 10 */
    int64_t login_max_inflight;         /* [auth] login_max_inflight: password checks queued
                                         * or running, all clients, 64 */
    int64_t lock_ttl_seconds;           /* [locks] ttl_seconds, 30 */
    int64_t schedule_refresh_seconds;   /* [schedule] refresh_seconds, 300 (SPEC §9) */
    int64_t max_body;                   /* [limits] max_body, bytes of a JSON body, 1 MiB */
    int64_t max_upload;                 /* [limits] max_upload, bytes of an import, 10 MiB */
    int64_t max_import_rows;            /* [limits] max_import_rows, 200000 */
    int64_t max_orders_per_tenant;      /* [limits] max_orders_per_tenant, live orders, 100000 */
    int64_t ws_queue_bytes;             /* [limits] ws_queue_bytes, per connection, 1 MiB */
    int64_t ws_ping_seconds;            /* [limits] ws_ping_seconds, 30 */
    int64_t body_timeout_seconds;       /* [limits] body_timeout_seconds: whole request body, 30 */
    int64_t max_conns_per_address;      /* [limits] max_conns_per_address: open TCP, 256 */
    int64_t ws_replay_bytes_per_minute; /* [limits] replayed bytes per connection a minute, 4 MiB */
    bool webhook_allow_private;         /* [webhooks] allow_private: deliver to loopback,
                                         * private, link-local addresses (SPEC §11), false */
    int64_t webhook_retry_base_ms;      /* [webhooks] retry_base_ms: first retry delay, 1000 */
    int64_t webhook_retry_max_ms;       /* [webhooks] retry_max_ms: longest delay, 3600000 */
    int64_t webhook_give_up_seconds;    /* [webhooks] give_up_seconds: failing after, 86400 */
    int64_t webhook_timeout_ms;         /* [webhooks] timeout_ms: one attempt, 10000 */
    int64_t webhook_poll_ms;            /* [webhooks] poll_ms: outbox read for changes made
                                         * outside this process (the CLI), 1000 */
};

/* Fill c with the built-in defaults above. */
void config_defaults(struct config *c);

/*
 * Read the INI file at path over the current values of c ("[section]" lines, "key = value",
 * ';' or '#' comments). Unknown sections or keys and bad values are errors.
 * Returns 0, or PB_EVALIDATION with a one-line reason in err[errlen] (file:line: message),
 * or PB_ENOT_FOUND when the file cannot be opened.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* Apply environment overrides: PORT. Returns 0 or PB_EVALIDATION (reason in err). */
int config_env(struct config *c, char *err, size_t errlen);

#endif
