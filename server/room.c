/*
 * room — one room per tenant (SPEC §5): the event sequence, the replay ring, the joined
 * connections and who is online. Broadcast = encode once, queue a reference per member.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

struct presence {
    int64_t user_id;
    char username[PB_LOCK_USERNAME_MAX + 1];
    int conns;                          /* open WebSocket connections of this user */
    int joined;                         /* of those, joined to the room (online when > 0) */
};

struct room {
    int64_t tenant_id;
    uint64_t seq;                       /* last published seq; 0 before the first */
    struct ws_msg *ring[PB_ROOM_RING];  /* event seq s lives at ring[s % PB_ROOM_RING] */
    struct ws_conn *members;            /* joined connections (room_next/room_prev) */
    struct presence *online;            /* users with >= 1 open connection */
    size_t n_online, cap_online;
    struct room *next;                  /* app->rooms */
    struct blob *board_json;            /* cached GET /api/planning-board body, or NULL */
    uint64_t board_seq, board_version;  /* the cache is valid while both are unchanged */
};

/* ================================================================ messages */

struct ws_msg *ws_msg_new(const char *event, uint64_t seq, const char *ref, cJSON *data)
{
    cJSON *o = cJSON_CreateObject();
    struct ws_msg *m = NULL;
    char *txt;
    size_t len;

    if (o == NULL) {
        cJSON_Delete(data);
        return NULL;
    }
    cJSON_AddStringToObject(o, "event", event);
    if (seq > 0)
        cJSON_AddNumberToObject(o, "seq", (double)seq);
    if (ref != NULL)
        cJSON_AddStringToObject(o, "ref", ref);
    cJSON_AddItemToObject(o, "data", data != NULL ? data : cJSON_CreateObject());
    txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (txt == NULL)
        return NULL;
    len = strlen(txt);
    /* The output check (SPEC §4): every WebSocket frame with JSON is built here, once. */
    if (json_output_check(txt, len, event) != 0) {
        free(txt);
        return NULL;
    }
    m = malloc(sizeof(*m) + LWS_PRE + len + 1);
    if (m != NULL) {
        m->refs = 1;
        m->seq = seq;
        m->ticket = 0;
        m->len = len;
        memcpy(m->buf + LWS_PRE, txt, len + 1);
    }
    free(txt);
    return m;
}

void ws_msg_ref(struct ws_msg *m)
{
    m->refs++;
}

void ws_msg_unref(struct ws_msg *m)
{
    if (m != NULL && --m->refs == 0)
        free(m);
}

/* ================================================================ rooms */

static struct room *room_find(struct app *app, int64_t tenant_id)
{
    for (struct room *r = app->rooms; r != NULL; r = r->next)
        if (r->tenant_id == tenant_id)
            return r;
    return NULL;
}

struct room *room_get(struct app *app, int64_t tenant_id)
{
    struct room *r = room_find(app, tenant_id);
    if (r != NULL)
        return r;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->tenant_id = tenant_id;
    r->next = app->rooms;
    app->rooms = r;
    return r;
}

void room_free_all(struct app *app)
{
    struct room *r = app->rooms, *next;
    for (; r != NULL; r = next) {
        next = r->next;
        for (size_t i = 0; i < PB_ROOM_RING; i++)
            ws_msg_unref(r->ring[i]);
        free(r->online);
        blob_unref(r->board_json);
        free(r);
    }
    app->rooms = NULL;
}

uint64_t room_seq(const struct room *r)
{
    return r != NULL ? r->seq : 0;
}

uint64_t room_publish(struct app *app, int64_t tenant_id, const char *event, cJSON *data)
{
    struct room *r = room_get(app, tenant_id);
    struct ws_msg *m;
    size_t slot;

    if (r == NULL) {
        cJSON_Delete(data);
        return 0;
    }
    m = ws_msg_new(event, r->seq + 1, NULL, data);
    r->seq++;
    slot = r->seq % PB_ROOM_RING;
    ws_msg_unref(r->ring[slot]);
    r->ring[slot] = m;                  /* the ring keeps the creation reference */
    if (m == NULL) {
        /* Out of memory: the change is committed but its event cannot be told. The seq is
         * spent and its ring slot left empty, so a replay across it answers resync_required;
         * the members are closed with 1011 and come back with sinceSeq, i.e. resync. */
        pb_log(LOG_ERROR, "room %lld: cannot encode %s (out of memory)", (long long)tenant_id,
               event);
        for (struct ws_conn *c = r->members; c != NULL; c = c->room_next)
            ws_close(c, 1011, "out of memory");
        return 0;
    }
    m->ticket = durable_ticket(app);
    app->metrics.broadcasts++;
    for (struct ws_conn *c = r->members; c != NULL; c = c->room_next) {
        if (c->replay_next != 0) {
            /* Catching up from the ring (ws.c): the event reaches it from r->ring. Only a
             * reader that fell a whole ring behind is lost, like a slow reader. */
            if (r->seq - c->replay_next >= PB_ROOM_RING) {
                app->metrics.ws_slow_closed++;
                ws_close(c, 1008, "send queue limit exceeded");
            }
            continue;
        }
        ws_send(c, m);
        app->metrics.deliveries++;
    }
    pb_log(LOG_DEBUG, "room %lld: %s seq %llu", (long long)tenant_id, event,
           (unsigned long long)r->seq);
    return r->seq;
}

static struct presence *presence_find(struct room *r, int64_t user_id)
{
    for (size_t i = 0; i < r->n_online; i++)
        if (r->online[i].user_id == user_id)
            return &r->online[i];
    return NULL;
}

static cJSON *user_brief(int64_t user_id, const char *username)
{
    cJSON *o = cJSON_CreateObject();
    if (o != NULL) {
        cJSON_AddNumberToObject(o, "userId", (double)user_id);
        cJSON_AddStringToObject(o, "username", username);
    }
    return o;
}

struct ws_msg *room_event(const struct room *r, uint64_t seq)
{
    if (r == NULL || seq == 0 || seq > r->seq || r->seq - seq >= PB_ROOM_RING)
        return NULL;
    struct ws_msg *m = r->ring[seq % PB_ROOM_RING];
    return m != NULL && m->seq == seq ? m : NULL;
}

/* Why the events after since_seq cannot be replayed to c (the resync_required reason), or
 * NULL when they can; charges the replay to c's budget then. */
static const char *replay_refusal(struct app *app, struct room *r, struct ws_conn *c,
                                  uint64_t since_seq, const char *epoch)
{
    size_t bytes = 0;
    if (epoch != NULL && strcmp(epoch, app->epoch) != 0)
        return "epoch";
    if (since_seq > r->seq)
        return "gone";
    for (uint64_t s = since_seq + 1; s <= r->seq; s++) {
        const struct ws_msg *m = room_event(r, s);
        if (m == NULL)
            return "gone";              /* overwritten, or lost to an allocation failure */
        bytes += m->len;
    }
    /* The replay budget (issue 8, item 5): a client re-joining with an old sinceSeq again
     * and again got ~700x amplification. Bytes per connection per minute. */
    int64_t now = pb_now_ms();
    if (now - c->replay_window_ms >= 60000) {
        c->replay_window_ms = now;
        c->replay_bytes = 0;
    }
    if (c->replay_bytes + bytes > (uint64_t)app->cfg.ws_replay_bytes_per_minute)
        return "replay_limit";
    c->replay_bytes += bytes;
    return NULL;
}

void room_join(struct app *app, struct ws_conn *c, bool has_since, uint64_t since_seq,
               const char *epoch)
{
    struct room *r = room_get(app, c->claims.tenant_id);
    struct presence *p;

    if (r == NULL)
        return;
    c->room = r;
    if (has_since) {
        const char *why = replay_refusal(app, r, c, since_seq, epoch);
        if (why != NULL) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddNumberToObject(d, "seq", (double)r->seq);
            cJSON_AddStringToObject(d, "epoch", app->epoch);
            cJSON_AddStringToObject(d, "reason", why);
            ws_reply(c, "resync_required", NULL, d);
        } else if (since_seq < r->seq) {
            ws_replay(c, since_seq + 1);   /* streamed from the ring, not copied to the queue */
        }
    }
    if (c->joined)
        return;
    c->joined = true;
    c->room_prev = NULL;
    c->room_next = r->members;
    if (r->members != NULL)
        r->members->room_prev = c;
    r->members = c;

    p = presence_find(r, c->claims.user_id);
    if (p != NULL && ++p->joined == 1)     /* SPEC §5: a user's first connection joins */
        room_publish(app, r->tenant_id, "user_joined", user_brief(p->user_id, p->username));
}

void room_leave(struct app *app, struct ws_conn *c)
{
    struct room *r;
    struct presence *p;

    if (!c->joined)
        return;
    r = room_find(app, c->claims.tenant_id);
    c->joined = false;
    if (r == NULL)
        return;
    if (c->room_prev != NULL)
        c->room_prev->room_next = c->room_next;
    else
        r->members = c->room_next;
    if (c->room_next != NULL)
        c->room_next->room_prev = c->room_prev;
    c->room_next = c->room_prev = NULL;

    p = presence_find(r, c->claims.user_id);
    if (p != NULL && --p->joined == 0 && !app->stopping)     /* its last one leaves */
        room_publish(app, r->tenant_id, "user_left", user_brief(p->user_id, p->username));
}

int room_conn_open(struct app *app, struct ws_conn *c)
{
    struct room *r = room_get(app, c->claims.tenant_id);
    struct presence *p;
    if (r == NULL)
        return PB_EINTERNAL;
    if ((p = presence_find(r, c->claims.user_id)) == NULL) {
        if (r->n_online == r->cap_online) {
            size_t cap = r->cap_online ? r->cap_online * 2 : 8;
            struct presence *np = realloc(r->online, cap * sizeof(*np));
            if (np == NULL)
                return PB_EINTERNAL;
            r->online = np;
            r->cap_online = cap;
        }
        p = &r->online[r->n_online++];
        memset(p, 0, sizeof(*p));
        p->user_id = c->claims.user_id;
        snprintf(p->username, sizeof(p->username), "%s", c->username);
    }
    p->conns++;
    return 0;
}

int room_conn_close(struct app *app, struct ws_conn *c)
{
    struct room *r = room_find(app, c->claims.tenant_id);
    struct presence *p = r != NULL ? presence_find(r, c->claims.user_id) : NULL;
    if (p == NULL)
        return 0;
    int left = --p->conns;
    if (left == 0 && p->joined == 0)
        *p = r->online[--r->n_online];
    return left;
}

cJSON *room_online(struct app *app, int64_t tenant_id)
{
    struct room *r = room_find(app, tenant_id);
    cJSON *a = cJSON_CreateArray();
    if (r != NULL && a != NULL)
        for (size_t i = 0; i < r->n_online; i++)
            if (r->online[i].joined > 0)
                cJSON_AddItemToArray(a, user_brief(r->online[i].user_id, r->online[i].username));
    return a;
}

struct blob *room_board_cached(struct room *r, uint64_t board_version)
{
    if (r->board_json == NULL || r->board_seq != r->seq || r->board_version != board_version)
        return NULL;
    return r->board_json;
}

void room_board_cache(struct room *r, uint64_t board_version, struct blob *json)
{
    blob_ref(json);
    blob_unref(r->board_json);
    r->board_json = json;
    r->board_seq = r->seq;
    r->board_version = board_version;
}
