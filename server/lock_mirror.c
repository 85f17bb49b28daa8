/*
 * lock_mirror — on PostgreSQL (SPEC §12) each node's in-memory drag-lock table (locks/)
 * mirrors the database's (store/drag_locks.h): server/bus.c hands every room event it delivers
 * here, and order_locked / order_unlocked update the table, whichever node published them.
 * Calls locks/ only.
 */
#include "server/server_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* "YYYY-MM-DDTHH:MM:SSZ" (json_format_ms) -> ms since the epoch. 0 or -1. */
static int parse_utc_ms(const char *ts, int64_t *ms)
{
    struct tm tm = { 0 };
    char z = 0;
    if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 || z != 'Z')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* The mirror follows the room's lock events, whichever node published them (server/bus.c
 * calls this for every event it delivers). */
void lock_mirror_event(struct app *app, int64_t tenant_id, const char *frame, size_t len)
{
    static const char locked[] = "{\"event\":\"order_locked\"",
                      unlocked[] = "{\"event\":\"order_unlocked\"";
    bool is_locked = len > sizeof(locked) && memcmp(frame, locked, sizeof(locked) - 1) == 0;
    bool is_unlocked = !is_locked && len > sizeof(unlocked)
                       && memcmp(frame, unlocked, sizeof(unlocked) - 1) == 0;
    if (!is_locked && !is_unlocked)
        return;
    cJSON *root = cJSON_ParseWithLength(frame, len);
    cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
    cJSON *oid = cJSON_GetObjectItemCaseSensitive(d, "orderId");
    if (cJSON_IsNumber(oid)) {
        int64_t order_id = (int64_t)oid->valuedouble;
        if (is_unlocked) {
            lock_release(app->locks, tenant_id, order_id, 0, NULL);
        } else {
            cJSON *by = cJSON_GetObjectItemCaseSensitive(d, "lockedBy");
            cJSON *uid = cJSON_GetObjectItemCaseSensitive(by, "userId");
            cJSON *un = cJSON_GetObjectItemCaseSensitive(by, "username");
            cJSON *exp = cJSON_GetObjectItemCaseSensitive(d, "expiresAt");
            int64_t ms;
            const struct drag_lock *cur;
            if (cJSON_IsNumber(uid) && cJSON_IsString(un) && cJSON_IsString(exp)
                && parse_utc_ms(exp->valuestring, &ms) == 0) {
                /* expiresAt has whole seconds: the taker's own entry (exact, board_ops.c)
                 * stays when it is that second; else the end of the second, so that no
                 * mirror entry expires before its row does (an expiry in the mirror is
                 * what makes this node sweep the database: op_sweep_locks) */
                int64_t uid64 = (int64_t)uid->valuedouble;
                cur = lock_get(app->locks, tenant_id, order_id, INT64_MIN);
                if (cur == NULL || cur->user_id != uid64 || cur->expires_at_ms / 1000 != ms / 1000)
                    lock_put(app->locks, tenant_id, order_id, uid64, un->valuestring, ms + 999,
                             NULL);
            }
        }
    }
    cJSON_Delete(root);
}

