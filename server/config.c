/*
 * config — INI settings over built-in defaults (SPEC §7). See config.example.ini.
 */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->bind, sizeof(c->bind), "127.0.0.1");
    c->port = 8080;
    snprintf(c->static_dir, sizeof(c->static_dir), "web");
    snprintf(c->log_level, sizeof(c->log_level), "info");
    snprintf(c->db_path, sizeof(c->db_path), "var/planboard.db");
    snprintf(c->synchronous, sizeof(c->synchronous), "NORMAL");
    snprintf(c->jwt_secret_file, sizeof(c->jwt_secret_file), "var/jwt.secret");
    c->access_ttl = 900;
    c->refresh_ttl = 30 * 24 * 3600;
    c->login_rate_per_minute = 10;
    c->login_max_inflight = 64;
    c->lock_ttl_seconds = 30;
    c->schedule_refresh_seconds = 300;
    c->max_body = 1 << 20;
    c->max_upload = 10 << 20;
    c->max_import_rows = 200000;
    c->max_orders_per_tenant = 100000;
    c->ws_queue_bytes = 1 << 20;
    c->ws_ping_seconds = 30;
    c->body_timeout_seconds = 30;
    c->max_conns_per_address = 256;
    c->ws_replay_bytes_per_minute = 4 << 20;
    c->webhook_allow_private = false;
    c->webhook_retry_base_ms = 1000;
    c->webhook_retry_max_ms = 3600 * 1000;
    c->webhook_give_up_seconds = 24 * 3600;
    c->webhook_timeout_ms = 10000;
    c->webhook_poll_ms = 1000;
}

enum kind { K_STR, K_INT, K_BOOL };

struct key {
    const char *section, *name;
    enum kind kind;
    size_t off, size;                   /* K_STR: buffer size; K_INT: unused */
    int64_t min, max;                   /* K_INT range */
};

#define S(sec, nm, field) { sec, nm, K_STR, offsetof(struct config, field), \
                            sizeof(((struct config *)0)->field), 0, 0 }
#define I(sec, nm, field, lo, hi) { sec, nm, K_INT, offsetof(struct config, field), 0, lo, hi }

static const struct key keys[] = {
    S("server", "bind", bind),
    { "server", "port", K_INT, offsetof(struct config, port), sizeof(int), 0, 65535 },
    S("server", "static_dir", static_dir),
    S("server", "log_level", log_level),
    S("database", "path", db_path),
    S("database", "url", db_url),
    S("database", "synchronous", synchronous),
    S("auth", "jwt_secret_file", jwt_secret_file),
    I("auth", "access_ttl", access_ttl, 10, 86400),
    I("auth", "refresh_ttl", refresh_ttl, 60, 365LL * 86400),
    I("auth", "login_rate_per_minute", login_rate_per_minute, 1, 100000),
    I("auth", "login_max_inflight", login_max_inflight, 1, 100000),
    I("locks", "ttl_seconds", lock_ttl_seconds, 1, 3600),
    I("schedule", "refresh_seconds", schedule_refresh_seconds, 1, 86400),
    I("limits", "max_body", max_body, 1024, 1LL << 30),
    I("limits", "max_upload", max_upload, 1024, 1LL << 32),
    I("limits", "max_import_rows", max_import_rows, 1, 10000000),
    I("limits", "max_orders_per_tenant", max_orders_per_tenant, 1, 100000000),
    I("limits", "ws_queue_bytes", ws_queue_bytes, 4096, 1LL << 30),
    I("limits", "ws_ping_seconds", ws_ping_seconds, 1, 3600),
    I("limits", "body_timeout_seconds", body_timeout_seconds, 1, 3600),
    I("limits", "max_conns_per_address", max_conns_per_address, 1, 1000000),
    I("limits", "ws_replay_bytes_per_minute", ws_replay_bytes_per_minute, 4096, 1LL << 32),
    { "webhooks", "allow_private", K_BOOL, offsetof(struct config, webhook_allow_private), 0, 0, 1 },
    I("webhooks", "retry_base_ms", webhook_retry_base_ms, 1, 3600 * 1000),
    I("webhooks", "retry_max_ms", webhook_retry_max_ms, 1, 24 * 3600 * 1000),
    I("webhooks", "give_up_seconds", webhook_give_up_seconds, 1, 30LL * 86400),
    I("webhooks", "timeout_ms", webhook_timeout_ms, 100, 600 * 1000),
    I("webhooks", "poll_ms", webhook_poll_ms, 10, 3600 * 1000),
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int set_value(struct config *c, const struct key *k, const char *v, char *err,
                     size_t errlen, const char *where)
{
    char *p = (char *)c + k->off;
    if (k->kind == K_STR) {
        if (strlen(v) >= k->size) {
            snprintf(err, errlen, "%s: %s.%s is too long", where, k->section, k->name);
            return PB_EVALIDATION;
        }
        memcpy(p, v, strlen(v) + 1);
        return 0;
    }
    if (k->kind == K_BOOL) {
        if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0)
            *(bool *)p = true;
        else if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0)
            *(bool *)p = false;
        else {
            snprintf(err, errlen, "%s: %s.%s must be true or false", where, k->section, k->name);
            return PB_EVALIDATION;
        }
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < k->min || n > k->max) {
        snprintf(err, errlen, "%s: %s.%s must be an integer in %lld..%lld", where, k->section,
                 k->name, (long long)k->min, (long long)k->max);
        return PB_EVALIDATION;
    }
    if (k->size == sizeof(int))
        *(int *)p = (int)n;
    else
        *(int64_t *)p = n;
    return 0;
}

/* SPEC §12 [database] url: "sqlite:PATH" sets db_path (and wins over `path`); a
 * postgresql:// (or postgres://) URL is kept whole in db_path, which store_open takes as
 * either. Anything else is refused (the message never echoes the URL: it may hold a
 * password). */
static int apply_url(struct config *c, char *err, size_t errlen, const char *where)
{
    if (c->db_url[0] == '\0')
        return 0;
    if (strncmp(c->db_url, "sqlite:", 7) == 0 && c->db_url[7] != '\0') {
        snprintf(c->db_path, sizeof(c->db_path), "%s", c->db_url + 7);
        return 0;
    }
    if ((strncmp(c->db_url, "postgresql://", 13) == 0 || strncmp(c->db_url, "postgres://", 11) == 0)
        && strlen(c->db_url) < sizeof(c->db_path)) {
        memcpy(c->db_path, c->db_url, strlen(c->db_url) + 1);
        return 0;
    }
    snprintf(err, errlen, "%s: database.url must be sqlite:PATH or "
             "postgresql://user:password@host:port/dbname", where);
    return PB_EVALIDATION;
}

static int check(const struct config *c, char *err, size_t errlen, const char *where)
{
    if (strcasecmp(c->synchronous, "NORMAL") != 0 && strcasecmp(c->synchronous, "FULL") != 0) {
        snprintf(err, errlen, "%s: database.synchronous must be NORMAL or FULL", where);
        return PB_EVALIDATION;
    }
    static const char *const levels[] = { "error", "warn", "info", "debug" };
    for (size_t i = 0; i < 4; i++)
        if (strcmp(c->log_level, levels[i]) == 0)
            return 0;
    snprintf(err, errlen, "%s: server.log_level must be error, warn, info or debug", where);
    return PB_EVALIDATION;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return PB_ENOT_FOUND;
    }
    char line[1024], section[64] = "", where[600];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        char *s = trim(line);
        if (*s == '\0' || *s == ';' || *s == '#')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (e == NULL || (size_t)(e - s - 1) >= sizeof(section)) {
                snprintf(err, errlen, "%s: bad section header", where);
                rc = PB_EVALIDATION;
                break;
            }
            *e = '\0';
            snprintf(section, sizeof(section), "%s", trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s: expected key = value", where);
            rc = PB_EVALIDATION;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        const struct key *k = NULL;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
                k = &keys[i];
        if (k == NULL) {
            snprintf(err, errlen, "%s: unknown setting %s.%s", where, section, name);
            rc = PB_EVALIDATION;
            break;
        }
        rc = set_value(c, k, value, err, errlen, where);
    }
    fclose(f);
    if (rc == 0)
        rc = apply_url(c, err, errlen, path);
    if (rc == 0)
        rc = check(c, err, errlen, path);
    return rc;
}

int config_env(struct config *c, char *err, size_t errlen)
{
    const char *port = getenv("PORT");
    if (port != NULL && *port != '\0') {
        const struct key *k = &keys[1];
        return set_value(c, k, port, err, errlen, "PORT");
    }
    return 0;
}
