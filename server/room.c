/*
 * room — one room per tenant (SPEC §5): the event sequence, the ring of encoded events, its
 * readers and who is online.
 *
 * The lws minimal-ws-server-ring pattern (issue 9 item 5): an event is encoded once into the
 * room's ring; each reader (one per WebSocket connection, struct room_reader) keeps its own
 * read position and a small queue of its own frames, and its owner writes them only when the
 * connection is writable. Publishing = append + wake the members. A reader that falls a whole
 * ring behind, or whose unread frames pass cfg.ws_queue_bytes, is culled (1008). Replays
 * (sinceSeq) read the same ring. No lws here: the reader's owner supplies wake and cull
 * (ws.c), so test/test_room.c drives rooms on a bare uv loop.
 */
#include "server/server_int.h"

#include "core/utf8.h"
#include "store/drag_locks.h"
#include "store/presence.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct presence {
    int64_t user_id;
    char username[PB_LOCK_USERNAME_MAX + 1];
    int conns;                          /* open WebSocket connections of this user */
    int joined;                         /* of those, joined to the room (online when > 0) */
};

/* PostgreSQL: the users online on any node of the cluster, by user id ascending. */
struct online_user {
    int64_t user_id;
    char username[PB_LOCK_USERNAME_MAX + 1];
};
struct online_set {
    struct online_user *u;
    size_t n, cap;
};
struct online_read;

struct room {
    int64_t tenant_id;
    char epoch[PB_EPOCH_LEN + 1];       /* SPEC §5 epoch: from room_log, or new (room_log.c) */
    uint64_t seq;                       /* last published seq; 0 before the first */
    struct ws_msg *ring[PB_ROOM_RING];  /* event seq s lives at ring[s % PB_ROOM_RING] (the
                                         * only reference; NULL when lost to out of memory) */
    uint64_t ring_end[PB_ROOM_RING];    /* payload bytes of events 1..s, at s % PB_ROOM_RING:
                                         * a reader's backlog is a difference of two */
    uint64_t bytes;                     /* payload bytes of events 1..seq */
    struct room_reader *members;        /* joined readers (room_next/room_prev) */
    struct presence *online;            /* users with >= 1 open connection */
    size_t n_online, cap_online;
    struct room *next;                  /* app->rooms */
    struct blob *board_json;            /* cached GET /api/planning-board body, or NULL */
    uint64_t board_seq, board_version;  /* the cache is valid while both are unchanged */
    uint64_t log_pruned;                /* the event log was last told to drop seqs up to this */
    uint64_t notified;                  /* PostgreSQL: the newest seq the bus was told of */
    struct online_set cluster_online;   /* PostgreSQL: who is online on any node, as of seq
                                         * (valid while online_known; room_online) */
    bool online_known;
    struct online_read *online_read;    /* PostgreSQL: its read on the reader thread, or NULL */
};

#define READER_Q_INITIAL 8              /* own frames: hello + join ack + a few answers */

/* ================================================================ rooms */

static struct room *room_find(struct app *app, int64_t tenant_id)
{
    return hmap_get_int(&app->room_index, tenant_id);
}

/* True when frame[0..len) starts as ws_msg_new writes a room event, {"event":"<name>","seq":
 * <seq>,"data":, and ends with }. Cheap (the name and the digits): a room's log is read back
 * when the room is first used after a start, 1024 frames at once. The rest of the frame is
 * not parsed: our own rows, and the text repair at open only turns bytes >= 0x80 into U+FFFD,
 * which never breaks JSON. */
static bool frame_is_event(const char *frame, size_t len, uint64_t seq)
{
    static const char head[] = "{\"event\":\"", mid[] = "\",\"seq\":", tail[] = ",\"data\":";
    char digits[24];
    size_t i = sizeof(head) - 1, n;

    if (len < i + 2 || memcmp(frame, head, i) != 0 || frame[len - 1] != '}')
        return false;
    while (i < len && frame[i] != '"' && frame[i] != '\\')
        i++;                            /* the event name: letters and '_' */
    n = (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)seq);
    if (len - i < sizeof(mid) - 1 + n + sizeof(tail) - 1 + 1)
        return false;
    return memcmp(frame + i, mid, sizeof(mid) - 1) == 0
           && memcmp(frame + i + sizeof(mid) - 1, digits, n) == 0
           && memcmp(frame + i + sizeof(mid) - 1 + n, tail, sizeof(tail) - 1) == 0;
}

/* A logged event back into the ring (store_room_log_load's callback). */
static int ring_refill(void *ctx, uint64_t seq, const char *frame, size_t len)
{
    struct room *r = ctx;
    struct ws_msg *m;
    size_t slot = seq % PB_ROOM_RING;
    /* The row was ours, but a database is a file anyone with access can edit (and the text
     * repair at open turns invalid UTF-8 into U+FFFD): a frame is taken back only when it is
     * valid UTF-8 (SPEC §4) and has the shape of a room event of this seq.
     * One that is not leaves a hole: a replay across it answers resync_required. Once per
     * room and process, at most PB_ROOM_LOG_BYTES. */
    if (!utf8_text_valid(frame, len) || !frame_is_event(frame, len, seq))
        return 0;
    if ((m = malloc(sizeof(*m) + LWS_PRE + len + 1)) == NULL)
        return PB_EINTERNAL;
    m->refs = 1;
    m->seq = seq;
    m->ticket = 0;                      /* committed and logged before this process */
    m->len = len;
    memcpy(m->buf + LWS_PRE, frame, len);
    m->buf[LWS_PRE + len] = '\0';
    ws_msg_unref(r->ring[slot]);
    r->ring[slot] = m;
    r->bytes += len;
    r->ring_end[slot] = r->bytes;
    return 0;
}

/* PostgreSQL: a lock row the new room's mirror must know (room_load). */
static void mirror_lock(void *ctx, const struct drag_lock_row *row)
{
    struct app *app = ctx;
    const struct drag_lock *l;
    (void)lock_put(app->locks, row->tenant_id, row->order_id, row->user_id, row->username,
                   row->expires_at_ms, &l);
}

/* PostgreSQL: the tenant's live drag locks into this node's mirror (locks/). The mirror
 * follows order_locked / order_unlocked as the bus delivers them (lock_mirror.c), but only
 * from the room's making on: a lock taken through another node before then was missing, and a
 * move through this node could pass it (SPEC §5). A failed read leaves the mirror as it was. */
static void room_locks_load(struct app *app, int64_t tenant_id)
{
    if (app->postgres && app->locks != NULL
        && store_drag_lock_list(app->store, tenant_id, pb_now_ms(), mirror_lock, app) < 0)
        pb_log(LOG_WARN, "room %lld: cannot read its drag locks", (long long)tenant_id);
}

/* store_room_log_load's callback at a room's making: an event committed after the room's row
 * was read (PostgreSQL: each statement its own snapshot) is past r->seq: the bus brings it. */
static int log_refill(void *ctx, uint64_t seq, const char *frame, size_t len)
{
    struct room *r = ctx;
    return seq > r->seq ? 0 : ring_refill(r, seq, frame, len);
}

static void ring_clear(struct room *r)
{
    for (size_t i = 0; i < PB_ROOM_RING; i++) {
        ws_msg_unref(r->ring[i]);
        r->ring[i] = NULL;
        r->ring_end[i] = 0;
    }
    r->bytes = 0;
    r->seq = 0;
}

/* r's logged epoch, seq and last events from s (the loop's store, or the reader's: r is not
 * linked anywhere yet). On PostgreSQL a tenant never logged gets its row first: the epoch is
 * the cluster's, the first node to write the row sets it. *found false: never logged (SQLite).
 * 0 or PB_EINTERNAL (r's ring then holds what was read: ring_clear). */
static int room_read_log(struct store *s, bool postgres, struct room *r, bool *found)
{
    int rc = store_room_log_load(s, r->tenant_id, 0, found, r->epoch, &r->seq, log_refill, r);
    if (rc == 0 && !*found && postgres) {
        char mine[PB_EPOCH_LEN + 1];
        if (auth_random_hex(mine, PB_EPOCH_LEN / 2) != 0
            || store_room_log_claim(s, r->tenant_id, mine) != 0)
            return PB_EINTERNAL;
        rc = store_room_log_load(s, r->tenant_id, 0, found, r->epoch, &r->seq, log_refill, r);
        if (rc == 0 && !*found)
            rc = PB_EINTERNAL;
    }
    return rc;
}

/* A new room continues the logged one (issue 13 item 2): its epoch, its seq, and its last
 * events back in the ring, so a client that reconnects with {sinceSeq, epoch} after a clean
 * restart is replayed what it missed. A room never logged (or no store: unit tests) gets a
 * new epoch and starts at seq 0. A failed read starts the room afresh and marks the log
 * dirty, so the next start renews every epoch rather than replay a log this run broke.
 * Inline, on the loop's connection: on PostgreSQL a room is made so only when its load off the
 * loop (room_load.c) could not run or failed. */
static int room_load(struct app *app, struct room *r)
{
    bool found = false;

    if (app->store != NULL) {
        int rc = room_read_log(app->store, app->postgres, r, &found);
        if (rc == 0 && found) {
            room_locks_load(app, r->tenant_id);
            return 0;
        }
        ring_clear(r);
        if (rc != 0) {
            pb_log(LOG_ERROR, "room %lld: cannot read its event log (%s): starting afresh",
                   (long long)r->tenant_id, store_errmsg(app->store));
            app->room_log.dirty = true;
        }
    }
    return auth_random_hex(r->epoch, PB_EPOCH_LEN / 2);
}

static void room_free(struct room *r)
{
    for (size_t i = 0; i < PB_ROOM_RING; i++)
        ws_msg_unref(r->ring[i]);
    free(r->online);
    free(r->cluster_online.u);
    blob_unref(r->board_json);
    free(r);
}

/* Link r (made, read) into app's rooms; app->room_index has room for it (hmap_reserve). */
static void room_link(struct app *app, struct room *r)
{
    r->next = app->rooms;
    app->rooms = r;
    hmap_put_int(&app->room_index, r->tenant_id, r);
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
    if (hmap_reserve(&app->room_index, app->room_index.len + 1) != 0 || room_load(app, r) != 0) {
        room_free(r);
        return NULL;
    }
    room_link(app, r);                  /* room reserved above */
    return r;
}

bool room_exists(struct app *app, int64_t tenant_id)
{
    return room_find(app, tenant_id) != NULL;
}

/* ---------------------------------------------------------------- a room read off the loop */

struct room_prefetch {
    struct room *room;                  /* read, not linked: the reader thread's until done */
    struct drag_lock_row *locks;        /* the tenant's live drag locks as read */
    size_t n_locks, cap_locks;
    bool oom;
};

struct room_prefetch *room_prefetch_new(int64_t tenant_id)
{
    struct room_prefetch *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->room = calloc(1, sizeof(*p->room))) == NULL) {
        free(p);
        return NULL;
    }
    p->room->tenant_id = tenant_id;
    return p;
}

static void prefetch_lock(void *ctx, const struct drag_lock_row *row)
{
    struct room_prefetch *p = ctx;
    if (p->n_locks == p->cap_locks) {
        size_t cap = p->cap_locks ? p->cap_locks * 2 : 8;
        struct drag_lock_row *nl = realloc(p->locks, cap * sizeof(*nl));
        if (nl == NULL) {
            p->oom = true;
            return;
        }
        p->locks = nl;
        p->cap_locks = cap;
    }
    p->locks[p->n_locks++] = *row;
}

int room_prefetch_read(struct store *rs, struct room_prefetch *p)
{
    bool found = false;
    ring_clear(p->room);                /* a rerun (after a failed batch) starts over */
    p->n_locks = 0;
    p->oom = false;
    int rc = room_read_log(rs, true, p->room, &found);
    if (rc != 0)
        return rc;
    /* after the log: a lock event after the room's seq is applied again by the bus (a lock
     * put twice, an unlock of a lock not read: both harmless) */
    if (store_drag_lock_list(rs, p->room->tenant_id, pb_now_ms(), prefetch_lock, p) < 0
        || p->oom)
        return PB_EINTERNAL;
    return 0;
}

bool room_prefetch_install(struct app *app, struct room_prefetch *p)
{
    struct room *r = p->room;
    if (r == NULL || room_find(app, r->tenant_id) != NULL
        || hmap_reserve(&app->room_index, app->room_index.len + 1) != 0)
        return false;
    if (app->locks != NULL)
        for (size_t i = 0; i < p->n_locks; i++)
            mirror_lock(app, &p->locks[i]);
    room_link(app, r);
    p->room = NULL;
    return true;
}

void room_prefetch_free(struct room_prefetch *p)
{
    if (p == NULL)
        return;
    if (p->room != NULL)
        room_free(p->room);
    free(p->locks);
    free(p);
}

void room_each_joined(struct app *app, void (*fn)(struct app *app, int64_t tenant_id, void *ctx),
                      void *ctx)
{
    for (struct room *r = app->rooms; r != NULL; r = r->next)
        if (r->members != NULL)
            fn(app, r->tenant_id, ctx);
}

void room_free_all(struct app *app)
{
    struct room *r = app->rooms, *next;
    for (; r != NULL; r = next) {
        next = r->next;
        room_free(r);                   /* an online read in flight finds no room at its done */
    }
    app->rooms = NULL;
    hmap_cleanup(&app->room_index);
}

uint64_t room_seq(const struct room *r)
{
    return r != NULL ? r->seq : 0;
}

const char *room_epoch(const struct room *r)
{
    return r != NULL ? r->epoch : "";
}

struct ws_msg *room_event(const struct room *r, uint64_t seq)
{
    if (r == NULL || seq == 0 || seq > r->seq || r->seq - seq >= PB_ROOM_RING)
        return NULL;
    struct ws_msg *m = r->ring[seq % PB_ROOM_RING];
    return m != NULL && m->seq == seq ? m : NULL;
}

/* Payload bytes of events 1..seq, UINT64_MAX when that is no longer known (seq left the
 * ring: whoever asks for it is lapped). */
static uint64_t bytes_upto(const struct room *r, uint64_t seq)
{
    if (seq == 0)
        return 0;
    if (seq >= r->seq)
        return r->bytes;
    if (r->seq - seq >= PB_ROOM_RING)
        return UINT64_MAX;
    return r->ring_end[seq % PB_ROOM_RING];
}

/* Payload bytes of events 1..seq-1 for an unread seq (<= r->seq + 1), UINT64_MAX when event
 * seq left the ring. */
static uint64_t bytes_before(const struct room *r, uint64_t seq)
{
    if (seq > r->seq)
        return r->bytes;
    if (seq == 0 || r->seq - seq >= PB_ROOM_RING)
        return UINT64_MAX;
    const struct ws_msg *m = r->ring[seq % PB_ROOM_RING];
    return r->ring_end[seq % PB_ROOM_RING] - (m != NULL ? m->len : 0);
}

/* Fault injection for the out-of-memory path (test/e2e/contract.test.mjs): with the
 * environment variable PLANBOARD_FAULT_ROOM_ENCODES=N, every room event encoded after the
 * first N fails as if malloc had. Read once; unset (the normal case) means never. */
static bool encode_fails(void)
{
    static long left = -2;              /* -2 = not read yet, -1 = no fault injection */
    if (left == -2) {
        const char *v = getenv("PLANBOARD_FAULT_ROOM_ENCODES");
        left = v != NULL && *v != '\0' ? strtol(v, NULL, 10) : -1;
        if (left < -1)
            left = -1;
    }
    if (left < 0)
        return false;
    if (left == 0)
        return true;
    left--;
    return false;
}

/* The last seq rd reads now (its `last`, or the room's seq when that is lower). */
static uint64_t read_limit(const struct room_reader *rd)
{
    uint64_t seq = room_seq(rd->room);
    return rd->last < seq ? rd->last : seq;
}

/* Unread room-event bytes counted against the queue bound: those after the replay. */
static uint64_t ring_backlog(const struct room_reader *rd)
{
    uint64_t lim = read_limit(rd);
    uint64_t first = rd->next > rd->replay_end ? rd->next : rd->replay_end + 1;
    if (rd->next == 0 || first > lim)
        return 0;
    uint64_t a = bytes_upto(rd->room, lim), b = bytes_before(rd->room, first);
    return a == UINT64_MAX || b == UINT64_MAX ? UINT64_MAX : a - b;
}

uint64_t room_reader_backlog(const struct room_reader *rd)
{
    uint64_t ring = ring_backlog(rd);
    return ring == UINT64_MAX ? UINT64_MAX : ring + rd->q_bytes;
}

/* The highest seq the event log may drop now that r->seq is published: the log keeps the
 * last PB_ROOM_LOG_EVENTS events, and fewer when they pass PB_ROOM_LOG_BYTES (the oldest
 * go first; the newest event is always kept). A binary search over ring_end: O(log n). */
static uint64_t log_prune_upto(const struct room *r)
{
    _Static_assert(PB_ROOM_LOG_EVENTS + PB_ROOM_LOG_PRUNE_STEP < PB_ROOM_RING,
                   "the log is read back into the ring");
    uint64_t a = r->seq > PB_ROOM_LOG_EVENTS ? r->seq - PB_ROOM_LOG_EVENTS : 0;
    uint64_t b = r->seq > 0 ? r->seq - 1 : 0;   /* the answer is in [a, b] */
    while (a < b) {
        uint64_t mid = a + (b - a) / 2;
        if (r->bytes - bytes_upto(r, mid) <= PB_ROOM_LOG_BYTES)
            b = mid;
        else
            a = mid + 1;
    }
    return a;
}

/* Wake every member of r for its newest event, culling the ones too far behind. */
static void fan_out(struct app *app, struct room *r)
{
    uint64_t bound = (uint64_t)app->cfg.ws_queue_bytes;
    for (struct room_reader *rd = r->members, *nx; rd != NULL; rd = nx) {
        nx = rd->room_next;
        /* SPEC §5 slow clients: a reader whose next event was just overwritten (lapped), or
         * whose unread frames pass the bound, is closed with 1008; it comes back with
         * sinceSeq. The lws ring example's cull_lagging_clients. */
        if (rd->dropped)
            continue;                   /* culled or closing: its owner is closing it */
        bool lapped = rd->next != 0 && rd->next <= r->seq && r->seq - rd->next >= PB_ROOM_RING;
        if (lapped || room_reader_backlog(rd) > bound) {
            pb_log(LOG_WARN, "room %lld: a reader is %s, closing 1008", (long long)r->tenant_id,
                   lapped ? "a whole ring behind" : "over the send queue bound");
            app->metrics.ws_slow_closed++;
            rd->ops->cull(rd, 1008, "send queue limit exceeded");
            continue;
        }
        app->metrics.deliveries++;
        rd->ops->wake(rd);
    }
}

static void cull_members(struct room *r, int code, const char *reason)
{
    for (struct room_reader *rd = r->members, *nx; rd != NULL; rd = nx) {
        nx = rd->room_next;             /* cull may leave the room */
        if (!rd->dropped)
            rd->ops->cull(rd, code, reason);
    }
}

void room_cull_all(struct app *app, int64_t tenant_id)
{
    struct room *r = room_find(app, tenant_id);
    if (r != NULL)
        cull_members(r, 1011, "events lost: reload");
}

/* PostgreSQL (SPEC §12): an event is published by handing it to the database, which gives it
 * its seq (room_log_sequence_note -> store_room_log_sequence); every node, this one too, puts
 * it in the room's ring when it reads it back (room_deliver, through server/bus.c). */
static void publish_postgres(struct app *app, int64_t tenant_id, const char *event, cJSON *data)
{
    struct ws_msg *m = encode_fails() ? (cJSON_Delete(data), NULL)
                                      : ws_msg_new(event, 0, NULL, data);
    if (m == NULL) {
        struct room *r = room_find(app, tenant_id);
        pb_log(LOG_ERROR, "room %lld: cannot encode %s (out of memory)", (long long)tenant_id,
               event);
        if (r != NULL)
            cull_members(r, 1011, "out of memory");
        return;
    }
    /* ws_msg_new wrote {"event":"<event>","data":...}: the seq goes after the name */
    if (room_log_sequence_note(app, tenant_id, m, strlen("{\"event\":\"") + strlen(event) + 1)
        != 0)
        room_cull_all(app, tenant_id);  /* its members reload */
    ws_msg_unref(m);
    room_board_forget(app, tenant_id);
    webhooks_nudge(app, tenant_id);     /* a change was committed: its audit row is outbox */
}

void room_board_forget(struct app *app, int64_t tenant_id)
{
    /* the event reaches the room (and moves its seq, the cache's key) a little later: a board
     * read in between must not be the cached one from before the change (a lock, say, which
     * changes no board version) */
    struct room *r = room_find(app, tenant_id);
    if (r != NULL && r->board_json != NULL) {
        blob_unref(r->board_json);
        r->board_json = NULL;
    }
}

struct ws_msg *room_encode(const char *event, cJSON *data)
{
    if (encode_fails()) {
        cJSON_Delete(data);
        return NULL;
    }
    return ws_msg_new(event, 0, NULL, data);
}

static void online_unknown(struct room *r);
static struct online_read *online_read_start(struct app *app, struct room *r);
static void online_event(struct room *r, const char *frame, size_t len);

void room_deliver(struct app *app, int64_t tenant_id, uint64_t seq, const char *frame,
                  size_t len)
{
    struct room *r = room_find(app, tenant_id);
    if (r == NULL || seq <= r->seq)
        return;                         /* no room here (it reads the log when made), or seen */
    if (seq > r->seq + 1) {
        /* the rows between were pruned before this node read them: the members missed them
         * (a replay across the gap answers resync_required: the slots stay empty) */
        pb_log(LOG_WARN, "room %lld: events %llu..%llu were gone from the log",
               (long long)tenant_id, (unsigned long long)r->seq + 1,
               (unsigned long long)seq - 1);
        for (uint64_t s = r->seq + 1; s < seq && s + PB_ROOM_RING > seq; s++) {
            size_t slot = s % PB_ROOM_RING;
            ws_msg_unref(r->ring[slot]);
            r->ring[slot] = NULL;
            r->ring_end[slot] = r->bytes;
        }
        r->seq = seq - 1;
        cull_members(r, 1011, "events lost: reload");
        online_unknown(r);              /* presence events may be among them */
    }
    size_t slot = seq % PB_ROOM_RING;
    ws_msg_unref(r->ring[slot]);
    r->ring[slot] = NULL;
    r->ring_end[slot] = r->bytes;
    if (ring_refill(r, seq, frame, len) != 0 || r->ring[slot] == NULL) {
        cull_members(r, 1011, "events lost: reload");   /* not a frame of ours, no memory */
        online_unknown(r);
    } else {
        online_event(r, frame, len);    /* PostgreSQL: the online list follows its events */
    }
    r->seq = seq;
    app->metrics.broadcasts++;
    fan_out(app, r);
}

void room_notified(struct app *app, int64_t tenant_id, uint64_t seq)
{
    struct room *r = room_find(app, tenant_id);
    if (r != NULL && seq > r->notified)
        r->notified = seq;
}

uint64_t room_lag_total(struct app *app)
{
    uint64_t n = 0;
    for (struct room *r = app->rooms; r != NULL; r = r->next)
        if (r->notified > r->seq)
            n += r->notified - r->seq;
    return n;
}

uint64_t room_notified_seq(struct app *app, int64_t tenant_id)
{
    struct room *r = room_find(app, tenant_id);
    return r != NULL ? r->notified : 0;
}

uint64_t room_applied_seq(struct app *app, int64_t tenant_id, bool *found)
{
    struct room *r = room_find(app, tenant_id);
    *found = r != NULL;
    return r != NULL ? r->seq : 0;
}

uint64_t room_publish(struct app *app, int64_t tenant_id, const char *event, cJSON *data)
{
    struct room *r;
    struct ws_msg *m;
    size_t slot;

    if (app->postgres) {
        publish_postgres(app, tenant_id, event, data);
        return 0;
    }
    r = room_get(app, tenant_id);
    if (r == NULL) {
        cJSON_Delete(data);
        return 0;
    }
    if (encode_fails()) {
        cJSON_Delete(data);
        m = NULL;
    } else {
        m = ws_msg_new(event, r->seq + 1, NULL, data);
    }
    r->seq++;
    slot = r->seq % PB_ROOM_RING;
    ws_msg_unref(r->ring[slot]);
    r->ring[slot] = m;                  /* the ring keeps the creation reference */
    if (m != NULL)
        r->bytes += m->len;
    r->ring_end[slot] = r->bytes;
    if (m == NULL) {
        /* Out of memory: the change is committed but its event cannot be told. The seq is
         * spent and its ring slot left empty, so a replay across it answers resync_required;
         * the members are culled with 1011 and come back with sinceSeq, i.e. resync. */
        pb_log(LOG_ERROR, "room %lld: cannot encode %s (out of memory)", (long long)tenant_id,
               event);
        cull_members(r, 1011, "out of memory");
        return 0;
    }
    m->ticket = durable_ticket(app);
    app->metrics.broadcasts++;
    /* The log drops old rows in steps of PB_ROOM_LOG_PRUNE_STEP: one delete per step, not one
     * leaf page rewritten per event (it keeps PB_ROOM_LOG_EVENTS up to a step more). */
    uint64_t prune = log_prune_upto(r);
    if (prune >= r->log_pruned + PB_ROOM_LOG_PRUNE_STEP)
        r->log_pruned = prune;
    else
        prune = 0;
    room_log_note(app, tenant_id, r->epoch, m, prune);
    webhooks_nudge(app, tenant_id);     /* a change was committed: its audit row is outbox */
    fan_out(app, r);
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

/* PostgreSQL (SPEC §12: presence is the union of the nodes' connections; issue 13: the loop
 * never waits, an event is a row of its change's transaction). A user's first join and last
 * leave through this node change the presence table and, when that made them online (offline)
 * anywhere for the first (last) time, log user_joined (user_left) in the same transaction. It
 * runs through reads_submit: on the reader thread's connection, in arrival order (a join and
 * the leave after it stay in order), off the writer's queue (presence changes no board). The
 * frame is built here, on the loop; the event reaches every room, this node's too, through the
 * bus. A failed change logs nothing (the next heartbeat sweep or rejoin mends presence). */
struct presence_job {
    struct app *app;
    int64_t tenant_id, user_id;
    bool join;
    char username[PB_LOCK_USERNAME_MAX + 1];
    char node[PB_EPOCH_LEN + 1];
    struct ws_msg *m;                   /* user_joined / user_left without seq */
    size_t split;
    bool logged;                        /* the run logged the event */
    uint64_t seq;                       /* ... with this seq */
};

static int presence_job_run(struct store *ws, void *ctx)
{
    struct presence_job *j = ctx;
    bool edge = false;
    int rc;
    j->logged = false;
    rc = j->join ? store_presence_join(ws, j->tenant_id, j->user_id, j->username, j->node, &edge)
                 : store_presence_leave(ws, j->tenant_id, j->user_id, j->node, &edge);
    if (rc != 0)
        return rc;
    if (!edge || j->m == NULL)
        return 0;
    struct room_log_event ev = {
        .tenant_id = j->tenant_id, .frame = (const char *)j->m->buf + LWS_PRE,
        .len = j->m->len, .split = j->split,
    };
    if (store_room_log_sequence(ws, &ev, 1, j->node, PB_ROOM_LOG_EVENTS) != 0)
        return PB_EINTERNAL;            /* rolled back: no presence row without its event */
    j->logged = true;
    j->seq = ev.seq;
    return 0;
}

static void presence_job_done(void *ctx, int status)
{
    struct presence_job *j = ctx;
    j->app->presence_jobs--;
    if (status != 0) {
        pb_log(LOG_WARN, "presence: %s of user %lld in tenant %lld failed",
               j->join ? "join" : "leave", (long long)j->user_id, (long long)j->tenant_id);
    } else if (j->logged) {
        webhooks_nudge(j->app, j->tenant_id);   /* as room_publish does */
        /* the room is behind until the bus brings the row (planboard_events_unsettled) */
        room_notified(j->app, j->tenant_id, j->seq);
    }
    ws_msg_unref(j->m);
    free(j);
}

/* p's user is now (join) or no longer (leave) online through this node: SQLite publishes
 * user_joined / user_left at once (one process: this count is the truth); PostgreSQL hands
 * the change to the reader thread (above). */
static void presence_changed(struct app *app, int64_t tenant_id, const struct presence *p,
                             bool join)
{
    const char *event = join ? "user_joined" : "user_left";
    if (!app->postgres) {
        room_publish(app, tenant_id, event, user_brief(p->user_id, p->username));
        return;
    }
    struct presence_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        pb_log(LOG_ERROR, "presence: out of memory");
        return;
    }
    *j = (struct presence_job){ .app = app, .tenant_id = tenant_id, .user_id = p->user_id,
                                .join = join };
    snprintf(j->username, sizeof(j->username), "%s", p->username);
    snprintf(j->node, sizeof(j->node), "%s", app->node);
    j->m = room_encode(event, user_brief(p->user_id, p->username));
    j->split = strlen("{\"event\":\"") + strlen(event) + 1;
    app->presence_jobs++;               /* unsettled until its done (bus_unsettled) */
    if (reads_submit(app, presence_job_run, presence_job_done, j) != 0) {
        app->presence_jobs--;
        pb_log(LOG_WARN, "presence: the %s of user %lld could not be queued", event,
               (long long)p->user_id);
        ws_msg_unref(j->m);
        free(j);
    }
}

/* ================================================================ readers */

/* Why the events after since_seq cannot be replayed to rd (the resync_required reason), or
 * NULL when they can; charges the replay to rd's budget then. */
static const char *replay_refusal(struct app *app, struct room *r, struct room_reader *rd,
                                  uint64_t since_seq, const char *epoch)
{
    uint64_t bytes = 0;
    (void)app;
    if (epoch != NULL && strcmp(epoch, r->epoch) != 0)
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
    if (now - rd->replay_window_ms >= 60000) {
        rd->replay_window_ms = now;
        rd->replay_bytes = 0;
    }
    if (rd->replay_bytes + bytes > (uint64_t)app->cfg.ws_replay_bytes_per_minute)
        return "replay_limit";
    rd->replay_bytes += bytes;
    return NULL;
}

const char *room_join(struct app *app, struct room_reader *rd, bool has_since,
                      uint64_t since_seq, const char *epoch)
{
    struct room *r = rd->room != NULL ? rd->room : room_get(app, rd->tenant_id);
    const char *why = NULL;
    struct presence *p;

    if (r == NULL || rd->dropped)
        return NULL;
    rd->room = r;
    /* Frames queued before the join go out first: before the replay, and before the events
     * published from now on. */
    for (size_t i = 0; i < rd->q_len; i++)
        rd->q[(rd->q_head + i) % rd->q_cap].after = 0;
    if (has_since && (why = replay_refusal(app, r, rd, since_seq, epoch)) == NULL
        && since_seq < r->seq) {
        rd->next = since_seq + 1;       /* replayed straight from the ring */
        rd->replay_end = r->seq;
    } else if (!rd->joined || rd->next == 0) {
        /* FIXME: a reader that left with events unread and joins again without sinceSeq
         * skips them (one tail cannot hold a gap); a client joining without sinceSeq reads
         * the board anyway. */
        rd->next = r->seq + 1;
        rd->replay_end = 0;
    }   /* else joined: it keeps reading where it is (sinceSeq at the head, or refused) */
    rd->last = UINT64_MAX;
    if (rd->q_len > 0 || room_reader_pending(rd))
        rd->ops->wake(rd);
    if (rd->joined)
        return why;
    rd->joined = true;
    rd->room_prev = NULL;
    rd->room_next = r->members;
    if (r->members != NULL)
        r->members->room_prev = rd;
    r->members = rd;

    p = presence_find(r, rd->user_id);
    if (p != NULL && ++p->joined == 1)
        /* SPEC §5: a user's first connection joins (on PostgreSQL: their first anywhere) */
        presence_changed(app, r->tenant_id, p, true);
    /* PostgreSQL: the room's online list, read off the loop behind the presence change (the
     * reader runs in order) before the client reads the board (room_online) */
    (void)online_read_start(app, r);
    return why;
}

void room_leave(struct app *app, struct room_reader *rd)
{
    struct room *r = rd->room;
    struct presence *p;

    if (!rd->joined || r == NULL)
        return;
    rd->joined = false;
    rd->last = r->seq;                  /* what was published while it was in still goes */
    if (rd->room_prev != NULL)
        rd->room_prev->room_next = rd->room_next;
    else
        r->members = rd->room_next;
    if (rd->room_next != NULL)
        rd->room_next->room_prev = rd->room_prev;
    rd->room_next = rd->room_prev = NULL;

    p = presence_find(r, rd->user_id);
    if (p != NULL && --p->joined == 0 && !app->stopping)
        presence_changed(app, r->tenant_id, p, false);  /* its last one leaves (anywhere) */
}

void room_all_left(struct app *app)
{
    for (struct room *r = app->rooms; r != NULL; r = r->next)
        for (size_t i = 0; i < r->n_online; i++)
            if (r->online[i].joined > 0)
                presence_changed(app, r->tenant_id, &r->online[i], false);
}

/* The heartbeat and the sweep of dead nodes (room_presence_beat): two reader jobs, so that a
 * sweep that fails (its savepoint rolled back) never takes this node's heartbeat with it. The
 * sweep's user_left frames are built on the reader thread (ws_msg_new, not room_encode: its
 * fault counter is the loop's) and logged in the sweep's transaction; done (on the loop) hands
 * their seqs to the rooms as presence_job_done does. */
struct beat_left {
    int64_t tenant_id;
    uint64_t seq;
};

struct beat_job {
    struct app *app;
    struct store *rs;                   /* the run's store, for left() */
    char node[PB_EPOCH_LEN + 1];
    int64_t now_ms;
    int beat_status;                    /* the heartbeat job's */
    bool beat_only;                     /* the sweep could not be queued: beat_done frees */
    int swept;                          /* dead nodes the sweep removed */
    struct beat_left *left;             /* user_left logged by the sweep, in sweep order */
    size_t n_left, cap_left;
};

static int beat_run(struct store *rs, void *ctx)
{
    struct beat_job *j = ctx;
    return store_presence_beat(rs, j->node, j->now_ms);
}

static void beat_done(void *ctx, int status)
{
    struct beat_job *j = ctx;
    j->beat_status = status;
    if (j->beat_only) {
        if (status != 0)
            pb_log(LOG_WARN, "presence: the heartbeat failed (%d)", status);
        free(j);
    }
}

/* Reader thread, inside the sweep's transaction: log user_id's user_left. */
static int sweep_left(void *ctx, int64_t tenant_id, int64_t user_id, const char *username)
{
    struct beat_job *j = ctx;
    const char *event = "user_left";
    if (j->n_left == j->cap_left) {
        size_t cap = j->cap_left ? 2 * j->cap_left : 8;
        struct beat_left *nl = realloc(j->left, cap * sizeof(*nl));
        if (nl == NULL)
            return PB_EINTERNAL;
        j->left = nl;
        j->cap_left = cap;
    }
    struct ws_msg *m = ws_msg_new(event, 0, NULL, user_brief(user_id, username));
    if (m == NULL)
        return PB_EINTERNAL;
    struct room_log_event ev = {
        .tenant_id = tenant_id, .frame = (const char *)m->buf + LWS_PRE, .len = m->len,
        .split = strlen("{\"event\":\"") + strlen(event) + 1,
    };
    int rc = store_room_log_sequence(j->rs, &ev, 1, j->node, PB_ROOM_LOG_EVENTS);
    ws_msg_unref(m);
    if (rc != 0)
        return PB_EINTERNAL;            /* the sweep rolls back: its rows stay for the next */
    j->left[j->n_left++] = (struct beat_left){ tenant_id, ev.seq };
    return 0;
}

static int sweep_run(struct store *rs, void *ctx)
{
    struct beat_job *j = ctx;
    j->rs = rs;
    j->n_left = 0;                      /* a second run (after a failed batch) starts over */
    j->swept = 0;
    int n = store_presence_sweep(rs, j->now_ms, sweep_left, j);
    if (n < 0)
        return n;
    j->swept = n;
    return 0;
}

static void sweep_done(void *ctx, int status)
{
    struct beat_job *j = ctx;
    struct app *app = j->app;
    app->presence_beat_busy = false;
    app->presence_beats++;
    if (j->beat_status != 0)
        pb_log(LOG_WARN, "presence: the heartbeat failed (%d)", j->beat_status);
    if (status != 0) {
        pb_log(LOG_WARN, "presence: the sweep of dead nodes failed (%d): the next tries again",
               status);
    } else {
        for (size_t i = 0; i < j->n_left; i++) {
            webhooks_nudge(app, j->left[i].tenant_id);  /* as room_publish does */
            /* the room is behind until the bus brings the row (planboard_events_unsettled) */
            room_notified(app, j->left[i].tenant_id, j->left[i].seq);
        }
        if (j->swept > 0)
            pb_log(LOG_WARN, "presence: %d node(s) stopped beating: %zu user(s) left",
                   j->swept, j->n_left);
    }
    free(j->left);
    free(j);
}

void room_presence_beat(struct app *app)
{
    if (!app->postgres)
        return;
    if (app->presence_beat_busy) {      /* the last one still runs (PostgreSQL waits) */
        app->presence_beats_skipped++;
        return;
    }
    struct beat_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        pb_log(LOG_ERROR, "presence: out of memory");
        return;
    }
    j->app = app;
    j->now_ms = pb_now_ms();
    snprintf(j->node, sizeof(j->node), "%s", app->node);
    if (reads_submit(app, beat_run, beat_done, j) != 0) {
        pb_log(LOG_WARN, "presence: the heartbeat could not be queued");
        free(j);
        return;
    }
    /* the reader runs its jobs in order: the sweep's done comes after the heartbeat's */
    if (reads_submit(app, sweep_run, sweep_done, j) != 0) {
        pb_log(LOG_WARN, "presence: the sweep could not be queued");
        j->beat_only = true;            /* the heartbeat's done (later: a queued job) frees j */
        return;
    }
    /* not counted in presence_jobs (planboard_events_unsettled): it logs an event only when
     * a node died, and its done hands that seq to the room (room_notified) at once; counted,
     * a heartbeat queued behind a slow read would hold every settle for as long */
    app->presence_beat_busy = true;
}

int room_conn_open(struct app *app, struct room_reader *rd)
{
    struct room *r = room_get(app, rd->tenant_id);
    struct presence *p;
    if (r == NULL)
        return PB_EINTERNAL;
    assert(rd->ops != NULL && rd->q == NULL);
    rd->q = malloc(READER_Q_INITIAL * sizeof(*rd->q));
    if (rd->q == NULL)
        return PB_EINTERNAL;
    if ((p = presence_find(r, rd->user_id)) == NULL) {
        if (r->n_online == r->cap_online) {
            size_t cap = r->cap_online ? r->cap_online * 2 : 8;
            struct presence *np = realloc(r->online, cap * sizeof(*np));
            if (np == NULL) {
                free(rd->q);
                rd->q = NULL;
                return PB_EINTERNAL;
            }
            r->online = np;
            r->cap_online = cap;
        }
        p = &r->online[r->n_online++];
        memset(p, 0, sizeof(*p));
        p->user_id = rd->user_id;
        snprintf(p->username, sizeof(p->username), "%s", rd->username);
    }
    rd->room = r;
    rd->q_cap = READER_Q_INITIAL;
    rd->q_head = rd->q_len = rd->q_bytes = 0;
    p->conns++;
    return 0;
}

int room_conn_close(struct app *app, struct room_reader *rd)
{
    struct room *r = room_find(app, rd->tenant_id);
    struct presence *p = r != NULL ? presence_find(r, rd->user_id) : NULL;
    room_reader_drop(rd);
    free(rd->q);
    rd->q = NULL;
    rd->q_cap = 0;
    if (p == NULL)
        return 0;
    int left = --p->conns;
    if (left == 0 && p->joined == 0)
        *p = r->online[--r->n_online];
    return left;
}

void room_reader_drop(struct room_reader *rd)
{
    while (rd->q_len > 0) {
        ws_msg_unref(rd->q[rd->q_head].m);
        rd->q_head = (rd->q_head + 1) % rd->q_cap;
        rd->q_len--;
    }
    rd->q_bytes = 0;
    rd->next = 0;
    rd->last = 0;
    rd->replay_end = 0;
    rd->dropped = true;
}

void room_reader_send(struct app *app, struct room_reader *rd, struct ws_msg *m)
{
    if (rd->dropped || rd->q == NULL)
        return;                         /* culled, closing or closed */
    if (m == NULL) {
        /* a frame that could not be built is not dropped silently: the client would miss it */
        pb_log(LOG_ERROR, "ws: frame lost (out of memory), closing 1011");
        rd->ops->cull(rd, 1011, "out of memory");
        return;
    }
    uint64_t backlog = room_reader_backlog(rd);
    if (backlog == UINT64_MAX || backlog + m->len > (uint64_t)app->cfg.ws_queue_bytes) {
        /* SPEC §5 slow clients: close with 1008; it recovers by reconnecting with sinceSeq. */
        pb_log(LOG_WARN, "ws: send queue over %lld bytes, closing 1008",
               (long long)app->cfg.ws_queue_bytes);
        app->metrics.ws_slow_closed++;
        rd->ops->cull(rd, 1008, "send queue limit exceeded");
        return;
    }
    if (rd->q_len == rd->q_cap) {
        size_t cap = rd->q_cap * 2;
        struct room_out *nq = malloc(cap * sizeof(*nq));
        if (nq == NULL) {
            pb_log(LOG_ERROR, "ws: cannot queue a frame (out of memory), closing 1011");
            rd->ops->cull(rd, 1011, "out of memory");
            return;
        }
        for (size_t i = 0; i < rd->q_len; i++)
            nq[i] = rd->q[(rd->q_head + i) % rd->q_cap];
        free(rd->q);
        rd->q = nq;
        rd->q_head = 0;
        rd->q_cap = cap;
    }
    ws_msg_ref(m);
    rd->q[(rd->q_head + rd->q_len) % rd->q_cap] = (struct room_out){ m, room_seq(rd->room) };
    rd->q_len++;
    rd->q_bytes += m->len;
    rd->ops->wake(rd);
}

/* True when the next frame is the head of rd's own queue rather than a room event. */
static bool own_first(const struct room_reader *rd)
{
    if (rd->q_len == 0)
        return false;
    return rd->next == 0 || rd->next > read_limit(rd) || rd->q[rd->q_head].after < rd->next;
}

bool room_reader_pending(const struct room_reader *rd)
{
    return rd->q_len > 0 || (rd->next != 0 && rd->next <= read_limit(rd));
}

struct ws_msg *room_reader_peek(const struct room_reader *rd, bool *lost)
{
    *lost = false;
    if (own_first(rd))
        return rd->q[rd->q_head].m;
    if (rd->next == 0 || rd->next > read_limit(rd))
        return NULL;
    struct ws_msg *m = room_event(rd->room, rd->next);
    if (m == NULL)
        *lost = true;                   /* overwritten (lapped) or lost to out of memory */
    return m;
}

void room_reader_consume(struct app *app, struct room_reader *rd)
{
    if (own_first(rd)) {
        struct ws_msg *m = rd->q[rd->q_head].m;
        rd->q_head = (rd->q_head + 1) % rd->q_cap;
        rd->q_len--;
        rd->q_bytes -= m->len;
        ws_msg_unref(m);
    } else if (rd->next != 0 && rd->next <= read_limit(rd)) {
        rd->next++;
    }
    (void)app;
}

/* ================================================================ the online list
 *
 * PostgreSQL (SPEC §12: the board's `online` is every live node's users; issue 13: the loop
 * never waits on a PostgreSQL round trip). The list is read once per room, on the reader
 * thread (store_presence_list), and from then on follows the room's own user_joined /
 * user_left events as they enter the ring (room_deliver): a user is online after their last
 * presence event says so. The events and the presence rows change in one transaction
 * (presence_job_run, the heartbeat's sweep), so the list and the events agree; the list read
 * at a seq S may already hold what events after S did, which the room then applies again:
 * each event sets its user's state outright, so applying again what the list holds changes
 * nothing, and once the room reached the read's last seq the list is exact. Events that
 * arrive while the read runs are kept and applied on top of it. A gap in the events (rows
 * pruned before this node read them) or an event that cannot be applied (no memory) makes the
 * list unknown again: the next read fixes it.
 *
 * The read starts at a join (room_join) and when GET /api/planning-board finds the list
 * unknown (room_online_wait parks the request, http.c): the board's answer then waits for
 * it. Where nothing waited (the read failed, or a caller other than the board) room_online
 * reads inline on the loop's connection, as before, and keeps the result. SQLite: this
 * node's own count (one process), nothing read. */

struct online_change {
    int64_t user_id;
    bool on;
    char username[PB_LOCK_USERNAME_MAX + 1];
};

struct online_read {
    struct app *app;
    int64_t tenant_id;
    struct online_set got;              /* the reader's result */
    bool oom;                           /* the result is short: not used */
    bool stale;                         /* a gap in the room's events meanwhile: not used */
    struct online_change *journal;      /* presence events the room took in meanwhile */
    size_t n_journal, cap_journal;
    struct waitlist waiters;            /* the requests waiting for it (waitlist.c) */
};

/* Set user_id online (on) or not in s, keeping s by user id. 0, or -1 (out of memory). */
static int online_set_put(struct online_set *s, int64_t user_id, const char *username, bool on)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {                   /* the first entry with user id >= user_id */
        size_t mid = lo + (hi - lo) / 2;
        if (s->u[mid].user_id < user_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    bool found = lo < s->n && s->u[lo].user_id == user_id;
    if (!on) {
        if (found) {
            memmove(&s->u[lo], &s->u[lo + 1], (s->n - lo - 1) * sizeof(*s->u));
            s->n--;
        }
        return 0;
    }
    if (!found) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 8;
            struct online_user *nu = realloc(s->u, cap * sizeof(*nu));
            if (nu == NULL)
                return -1;
            s->u = nu;
            s->cap = cap;
        }
        memmove(&s->u[lo + 1], &s->u[lo], (s->n - lo) * sizeof(*s->u));
        s->n++;
        s->u[lo].user_id = user_id;
    }
    snprintf(s->u[lo].username, sizeof(s->u[lo].username), "%s", username);
    return 0;
}

static void online_unknown(struct room *r)
{
    r->online_known = false;
    r->cluster_online.n = 0;
    if (r->online_read != NULL)
        r->online_read->stale = true;
}

/* A presence event entered r's ring (room_deliver): user_joined / user_left, else nothing. */
static void online_event(struct room *r, const char *frame, size_t len)
{
    static const char joined[] = "{\"event\":\"user_joined\"", left[] = "{\"event\":\"user_left\"";
    bool on;
    if (!r->online_known && r->online_read == NULL)
        return;                         /* nothing to keep up to date */
    if (len > sizeof(joined) - 1 && memcmp(frame, joined, sizeof(joined) - 1) == 0)
        on = true;
    else if (len > sizeof(left) - 1 && memcmp(frame, left, sizeof(left) - 1) == 0)
        on = false;
    else
        return;
    cJSON *o = cJSON_ParseWithLength(frame, len);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "userId");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "username");
    if (!cJSON_IsNumber(id) || !cJSON_IsString(name)) {
        cJSON_Delete(o);
        online_unknown(r);              /* out of memory (our frames always have both) */
        return;
    }
    struct online_read *j = r->online_read;
    if (j != NULL) {                    /* applied on top of the read when it is done */
        if (j->n_journal == j->cap_journal) {
            size_t cap = j->cap_journal ? 2 * j->cap_journal : 8;
            struct online_change *nj = realloc(j->journal, cap * sizeof(*nj));
            if (nj == NULL) {
                cJSON_Delete(o);
                online_unknown(r);
                return;
            }
            j->journal = nj;
            j->cap_journal = cap;
        }
        struct online_change *c = &j->journal[j->n_journal++];
        c->user_id = (int64_t)id->valuedouble;
        c->on = on;
        snprintf(c->username, sizeof(c->username), "%s", name->valuestring);
    }
    if (r->online_known
        && online_set_put(&r->cluster_online, (int64_t)id->valuedouble, name->valuestring, on) != 0)
        online_unknown(r);
    cJSON_Delete(o);
}

static void online_add(void *ctx, int64_t user_id, const char *username)
{
    struct online_read *j = ctx;
    if (online_set_put(&j->got, user_id, username, true) != 0)
        j->oom = true;
}

static int online_run(struct store *rs, void *ctx)
{
    struct online_read *j = ctx;
    j->got.n = 0;                       /* a second run (after a failed batch) starts over */
    j->oom = false;
    int rc = store_presence_list(rs, j->tenant_id, pb_now_ms(), online_add, j);
    return rc != 0 ? rc : j->oom ? PB_EINTERNAL : 0;
}

static void online_done(void *ctx, int status)
{
    struct online_read *j = ctx;
    struct room *r = room_find(j->app, j->tenant_id);
    if (r != NULL && r->online_read == j) {
        r->online_read = NULL;
        if (status == 0 && !j->stale) {
            struct online_set old = r->cluster_online;
            r->cluster_online = j->got;
            j->got = old;
            r->online_known = true;
            for (size_t i = 0; i < j->n_journal && r->online_known; i++)
                if (online_set_put(&r->cluster_online, j->journal[i].user_id,
                                   j->journal[i].username, j->journal[i].on) != 0)
                    online_unknown(r);
        } else if (status != 0) {
            pb_log(LOG_WARN, "room %lld: the online list could not be read (%d)",
                   (long long)j->tenant_id, status);
        }
    }
    /* dispatched again: room_online reads inline when the list is still unknown */
    (void)waitlist_release(&j->waiters);
    free(j->got.u);
    free(j->journal);
    free(j);
}

/* r's online list read on the reader thread: the one in flight, a new one, or NULL (known
 * already, SQLite, no reader, out of memory). */
static struct online_read *online_read_start(struct app *app, struct room *r)
{
    if (!app->postgres || r->online_known || app->reader == NULL || app->reader_closing
        || app->stopping)
        return NULL;
    if (r->online_read != NULL)
        return r->online_read;
    struct online_read *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->app = app;
    j->tenant_id = r->tenant_id;
    if (reads_submit(app, online_run, online_done, j) != 0) {
        free(j);
        return NULL;
    }
    r->online_read = j;
    return j;
}

void *room_online_wait(struct app *app, int64_t tenant_id, void (*ready)(void *owner),
                       void *owner)
{
    struct room *r;
    struct online_read *j;
    if (!app->postgres || (r = room_get(app, tenant_id)) == NULL || r->online_known
        || (j = online_read_start(app, r)) == NULL)
        return NULL;                    /* known, or room_online reads inline */
    return waitlist_add(&j->waiters, ready, owner);
}

cJSON *room_online(struct app *app, int64_t tenant_id)
{
    struct room *r = room_find(app, tenant_id);
    cJSON *a = cJSON_CreateArray();
    if (a == NULL)
        return NULL;
    if (app->postgres && (r == NULL || !r->online_known)) {
        /* nothing read it off the loop for this caller (above): inline, as before; kept
         * unless a read is in flight (read after the room's seq: the events after it apply) */
        struct online_read tmp = { .app = app, .tenant_id = tenant_id };
        if (store_presence_list(app->store, tenant_id, pb_now_ms(), online_add, &tmp) == 0
            && !tmp.oom) {
            for (size_t i = 0; i < tmp.got.n; i++)
                cJSON_AddItemToArray(a, user_brief(tmp.got.u[i].user_id, tmp.got.u[i].username));
            if (r != NULL && r->online_read == NULL) {
                struct online_set old = r->cluster_online;
                r->cluster_online = tmp.got;
                tmp.got = old;
                r->online_known = true;
            }
            free(tmp.got.u);
            return a;
        }
        free(tmp.got.u);
    } else if (app->postgres) {         /* SPEC §12: every live node's users, kept */
        for (size_t i = 0; i < r->cluster_online.n; i++)
            cJSON_AddItemToArray(a, user_brief(r->cluster_online.u[i].user_id,
                                               r->cluster_online.u[i].username));
        return a;
    }
    /* SQLite (one process: this count is the truth), or PostgreSQL away: this node's users */
    if (r != NULL)
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
