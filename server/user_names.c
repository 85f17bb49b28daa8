/*
 * user_names — on PostgreSQL, the username of a REST write's user without a round trip on the
 * loop (issue 13 "the loop never waits on a PostgreSQL round trip"; docs/postgresql.md "What
 * still waits on the loop").
 *
 * A write names its user in its events and answers (movedBy, the drag lock's holder). On
 * SQLite http_op_user reads it from the loop's connection at every write, as it always did (a
 * local read). On PostgreSQL that read was a network round trip per REST move, so names are
 * kept here, by user id, for PB_USER_NAME_TTL_MS: a rename made through this node drops the
 * entry at once (user_names_forget from the admin route); one made through another node shows
 * here within that time (the same staleness a joined WebSocket has for its whole connection).
 * Bounded: a direct-mapped table of PB_USER_NAMES slots (a collision just reads again).
 */
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>

#define PB_USER_NAME_TTL_MS 30000
#define PB_USER_NAMES 1024              /* slots of the direct-mapped table (by user id) */

struct user_name {
    int64_t user_id;                    /* 0: empty slot */
    int64_t tenant_id;
    int64_t fetched_ms;
    char name[PB_LOCK_USERNAME_MAX + 1];
};

static struct user_name *slot(struct app *app, int64_t user_id)
{
    if (app->user_names == NULL
        && (app->user_names = calloc(PB_USER_NAMES, sizeof(*app->user_names))) == NULL)
        return NULL;
    return &app->user_names[(uint64_t)user_id % PB_USER_NAMES];
}

void user_names_free(struct app *app)
{
    free(app->user_names);
    app->user_names = NULL;
}

void user_names_forget(struct app *app, int64_t user_id)
{
    struct user_name *e = app->user_names != NULL
                        ? &app->user_names[(uint64_t)user_id % PB_USER_NAMES] : NULL;
    if (e != NULL && e->user_id == user_id)
        e->user_id = 0;
}

void user_name_of(struct app *app, int64_t tenant_id, int64_t user_id, char *out, size_t len)
{
    struct user usr;
    int64_t now = pb_now_ms();
    struct user_name *e = app->postgres ? slot(app, user_id) : NULL;

    if (e != NULL && e->user_id == user_id && e->tenant_id == tenant_id
        && now - e->fetched_ms < PB_USER_NAME_TTL_MS) {
        snprintf(out, len, "%s", e->name);
        return;
    }
    out[0] = '\0';
    if (store_user_get(app->store, tenant_id, user_id, &usr) != 0)
        return;
    snprintf(out, len, "%s", usr.username);
    if (e != NULL) {
        e->user_id = user_id;
        e->tenant_id = tenant_id;
        e->fetched_ms = now;
        snprintf(e->name, sizeof(e->name), "%s", usr.username);
    }
    user_cleanup(&usr);
}
