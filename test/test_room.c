/* Unit tests of server/room: the ring of encoded room events and its readers (issue 9 items
 * 5-6; SPEC §5 seq, sinceSeq replay, resync_required, slow readers closed with 1008). Each
 * test runs on a real uv loop: a reader's owner is a uv_idle_t that, once woken, writes what
 * the reader has (like ws.c's SERVER_WRITEABLE); publishing happens in a uv timer; every test
 * ends with uv_loop_close() == 0. No lws connection is involved: the reader is a plain struct. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

/* ---------------------------------------------------------------- fixture */

#define MAX_SEEN (4 * PB_ROOM_RING)

struct treader {
    struct room_reader rd;              /* first: the ops get &rd */
    uv_idle_t writer;                   /* the owner writing when woken */
    struct app *app;
    bool paused;                        /* a slow client: woken, but writes nothing */
    int wakes;
    int cull_code;                      /* 0 until culled */
    const char *cull_reason;
    size_t n_seen;
    uint64_t seen[MAX_SEEN];            /* room seq of each frame written, 0 for own frames */
    char own[8][32];                    /* the event name of each own frame, in order */
    size_t n_own;
};

static void drain(struct treader *t)
{
    bool lost = false;
    struct ws_msg *m;
    while ((m = room_reader_peek(&t->rd, &lost)) != NULL) {
        assert_true(durable_reached(t->app, m->ticket));
        assert_true(t->n_seen < MAX_SEEN);
        t->seen[t->n_seen++] = m->seq;
        if (m->seq == 0 && t->n_own < 8) {
            cJSON *j = cJSON_ParseWithLength((const char *)m->buf + LWS_PRE, m->len);
            assert_non_null(j);
            snprintf(t->own[t->n_own++], 32, "%s",
                     cJSON_GetObjectItem(j, "event")->valuestring);
            cJSON_Delete(j);
        }
        room_reader_consume(t->app, &t->rd);
    }
    assert_false(lost);
}

static void on_writable(uv_idle_t *h)
{
    struct treader *t = h->data;
    uv_idle_stop(h);
    if (!t->paused && t->cull_code == 0)
        drain(t);
}

static void t_wake(struct room_reader *rd)
{
    struct treader *t = (struct treader *)rd;
    t->wakes++;
    uv_idle_start(&t->writer, on_writable);
}

static void t_cull(struct room_reader *rd, int code, const char *reason)
{
    struct treader *t = (struct treader *)rd;
    if (t->cull_code != 0)
        return;
    t->cull_code = code;
    t->cull_reason = reason;
    room_reader_drop(rd);
}

static const struct room_reader_ops t_ops = { t_wake, t_cull };

struct fx {
    uv_loop_t loop;
    struct app app;
    uv_timer_t timer;
    int to_publish;                     /* events the timer still publishes */
    int per_tick;
    struct treader r[3];
};

static void reader_open(struct fx *f, struct treader *t, int64_t user_id, const char *name)
{
    memset(t, 0, sizeof(*t));
    t->app = &f->app;
    t->rd.ops = &t_ops;
    t->rd.tenant_id = 1;
    t->rd.user_id = user_id;
    snprintf(t->rd.username, sizeof(t->rd.username), "%s", name);
    assert_int_equal(uv_idle_init(&f->loop, &t->writer), 0);
    t->writer.data = t;
    assert_int_equal(room_conn_open(&f->app, &t->rd), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->app.loop = &f->loop;
    f->app.cfg.ws_queue_bytes = 64 << 20;
    f->app.cfg.ws_replay_bytes_per_minute = 64 << 20;
    assert_int_equal(uv_timer_init(&f->loop, &f->timer), 0);
    f->timer.data = f;
    pb_log_level = LOG_ERROR;
    *state = f;
    return 0;
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 3; i++) {
        if (f->r[i].app != NULL) {
            room_leave(&f->app, &f->r[i].rd);
            room_conn_close(&f->app, &f->r[i].rd);
            uv_close((uv_handle_t *)&f->r[i].writer, close_cb);
        }
    }
    uv_close((uv_handle_t *)&f->timer, close_cb);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    room_free_all(&f->app);
    free(f);
    return 0;
}

static uint64_t publish(struct fx *f, const char *event)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "pad", "0123456789012345678901234567890123456789");
    return room_publish(&f->app, 1, event, d);
}

/* Publishes per_tick events per timer tick until to_publish is done. */
static void on_tick(uv_timer_t *h)
{
    struct fx *f = h->data;
    for (int i = 0; i < f->per_tick && f->to_publish > 0; i++, f->to_publish--)
        assert_int_not_equal(publish(f, "order_moved"), 0);
    if (f->to_publish == 0)
        uv_timer_stop(h);
}

static void run_publisher(struct fx *f, int n, int per_tick)
{
    f->to_publish = n;
    f->per_tick = per_tick;
    assert_int_equal(uv_timer_start(&f->timer, on_tick, 0, 1), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void assert_seqs(const struct treader *t, size_t from, uint64_t first, uint64_t last)
{
    assert_int_equal(t->n_seen - from, last - first + 1);
    for (uint64_t s = first; s <= last; s++)
        assert_int_equal(t->seen[from + (s - first)], s);
}

/* ---------------------------------------------------------------- tests */

/* Queue one of the reader's own frames as ws.c does: room_reader_send takes its own reference,
 * the sender drops the one ws_msg_new gave it. */
static void send_own(struct app *app, struct room_reader *rd, struct ws_msg *m)
{
    room_reader_send(app, rd, m);
    ws_msg_unref(m);
}

static void test_room_ring_wraps_and_every_reader_gets_every_event_once_in_order(void **state)
{
    struct fx *f = *state;
    reader_open(f, &f->r[0], 10, "ann");
    reader_open(f, &f->r[1], 11, "bob");
    assert_null(room_join(&f->app, &f->r[0].rd, false, 0, NULL));     /* user_joined seq 1 */
    assert_null(room_join(&f->app, &f->r[1].rd, false, 0, NULL));     /* user_joined seq 2 */
    run_publisher(f, 3 * PB_ROOM_RING + 7, 97);                      /* wraps three times */
    uint64_t last = 2 + 3 * PB_ROOM_RING + 7;
    assert_int_equal(room_seq(room_get(&f->app, 1)), last);
    assert_seqs(&f->r[0], 0, 1, last);
    assert_seqs(&f->r[1], 0, 2, last);
    assert_int_equal(f->r[0].cull_code, 0);
    assert_int_equal(f->r[1].cull_code, 0);
    assert_int_equal(f->app.metrics.broadcasts, last);
    assert_false(room_reader_pending(&f->r[0].rd));
    assert_int_equal(room_reader_backlog(&f->r[0].rd), 0);
}

static void test_room_replay_from_a_seq_reads_the_ring_after_it_wrapped(void **state)
{
    struct fx *f = *state;
    run_publisher(f, PB_ROOM_RING + 50, 500);        /* seqs 1..4146; the ring holds 51.. */
    uint64_t head = room_seq(room_get(&f->app, 1));
    reader_open(f, &f->r[0], 10, "ann");
    /* an own frame queued before the join (the join's ack) goes out before the replay */
    send_own(&f->app, &f->r[0].rd, ws_msg_new("ack", 0, "j1", NULL));
    assert_null(room_join(&f->app, &f->r[0].rd, true, 100, room_epoch(room_get(&f->app, 1))));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->r[0].seen[0], 0);
    assert_string_equal(f->r[0].own[0], "ack");
    /* 101..head replayed, then its own user_joined (head + 1) */
    assert_seqs(&f->r[0], 1, 101, head + 1);

    /* seqs that left the ring, a future seq, another epoch: resync_required reasons */
    reader_open(f, &f->r[1], 11, "bob");
    assert_string_equal(room_join(&f->app, &f->r[1].rd, true, 49, NULL), "gone");
    assert_string_equal(room_join(&f->app, &f->r[1].rd, true, head + 9, NULL), "gone");
    assert_string_equal(room_join(&f->app, &f->r[1].rd, true, 100, "ffffffffffffffff"), "epoch");
    /* the seq is head + 2 now; the ring's oldest event is head + 3 - PB_ROOM_RING. A replay
     * from the second oldest survives the user_joined its join publishes (which overwrites
     * the oldest) */
    reader_open(f, &f->r[2], 12, "cy");
    assert_null(room_join(&f->app, &f->r[2].rd, true, head + 3 - PB_ROOM_RING, NULL));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->r[2].cull_code, 0);
    assert_int_equal(f->r[2].seen[0], head + 4 - PB_ROOM_RING);
    assert_int_equal(f->r[2].n_seen, PB_ROOM_RING);
    assert_int_equal(f->r[2].seen[f->r[2].n_seen - 1], room_seq(room_get(&f->app, 1)));
}

static void test_room_replay_past_the_budget_answers_replay_limit(void **state)
{
    struct fx *f = *state;
    f->app.cfg.ws_replay_bytes_per_minute = 10000;
    run_publisher(f, 200, 50);          /* ~90 bytes each: 18 KB */
    reader_open(f, &f->r[0], 10, "ann");
    assert_string_equal(room_join(&f->app, &f->r[0].rd, true, 0, NULL), "replay_limit");
    assert_null(room_join(&f->app, &f->r[0].rd, true, 150, NULL));    /* 50 events fit */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_seqs(&f->r[0], 0, 151, 201);  /* 201 = its user_joined */
}

static void test_room_reader_lapped_by_the_ring_is_culled_with_1008(void **state)
{
    struct fx *f = *state;
    reader_open(f, &f->r[0], 10, "slow");
    reader_open(f, &f->r[1], 11, "fast");
    assert_null(room_join(&f->app, &f->r[0].rd, false, 0, NULL));     /* seq 1 */
    assert_null(room_join(&f->app, &f->r[1].rd, false, 0, NULL));     /* seq 2 */
    f->r[0].paused = true;              /* never writes: its tail stays at seq 1 */
    run_publisher(f, PB_ROOM_RING - 1, 256);    /* seq PB_ROOM_RING + 1 overwrites seq 1 */
    assert_int_equal(room_seq(room_get(&f->app, 1)), PB_ROOM_RING + 1);
    assert_int_equal(f->r[0].cull_code, 1008);
    assert_string_equal(f->r[0].cull_reason, "send queue limit exceeded");
    assert_int_equal(f->app.metrics.ws_slow_closed, 1);
    /* one ring minus one behind was still fine: the cull came with the lapping event */
    assert_int_equal(f->r[0].wakes, PB_ROOM_RING);  /* woken for seqs 1..PB_ROOM_RING */
    assert_seqs(&f->r[1], 0, 2, PB_ROOM_RING + 1);
    assert_int_equal(f->r[1].cull_code, 0);
    /* the culled reader is no longer woken or charged */
    publish(f, "order_moved");
    assert_int_equal(f->r[0].wakes, PB_ROOM_RING);
    assert_int_equal(f->app.metrics.ws_slow_closed, 1);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void test_room_backlog_over_ws_queue_bytes_is_culled_own_frames_counted(void **state)
{
    struct fx *f = *state;
    reader_open(f, &f->r[0], 10, "slow");
    assert_null(room_join(&f->app, &f->r[0].rd, false, 0, NULL));     /* seq 1 */
    f->r[0].paused = true;
    struct ws_msg *probe = room_event(room_get(&f->app, 1), 1);
    assert_non_null(probe);
    uint64_t one = probe->len;          /* the user_joined frame */
    /* room: user_joined + 3 events; bound: just above what is queued after 3 events */
    publish(f, "order_moved");
    uint64_t ev = room_reader_backlog(&f->r[0].rd) - one;
    publish(f, "order_moved");
    publish(f, "order_moved");
    assert_int_equal(room_reader_backlog(&f->r[0].rd), one + 3 * ev);
    f->app.cfg.ws_queue_bytes = (int64_t)(one + 3 * ev + 10);
    /* an own frame of more than 10 bytes passes the bound: 1008, nothing queued */
    send_own(&f->app, &f->r[0].rd, ws_msg_new("pong", 0, "p1", NULL));
    assert_int_equal(f->r[0].cull_code, 1008);
    assert_int_equal(room_reader_backlog(&f->r[0].rd), 0);
    assert_false(room_reader_pending(&f->r[0].rd));

    /* the same bound reached by a room event */
    reader_open(f, &f->r[1], 11, "slow2");
    assert_null(room_join(&f->app, &f->r[1].rd, false, 0, NULL));
    f->r[1].paused = true;
    f->app.cfg.ws_queue_bytes = (int64_t)(3 * ev + one);
    publish(f, "order_moved");
    publish(f, "order_moved");
    assert_int_equal(f->r[1].cull_code, 0);
    publish(f, "order_moved");          /* user_joined + 3 events > bound */
    assert_int_equal(f->r[1].cull_code, 1008);
    assert_int_equal(f->app.metrics.ws_slow_closed, 2);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void test_room_own_frames_keep_their_place_between_room_events(void **state)
{
    struct fx *f = *state;
    reader_open(f, &f->r[0], 10, "ann");
    send_own(&f->app, &f->r[0].rd, ws_msg_new("hello", 0, NULL, NULL));
    assert_null(room_join(&f->app, &f->r[0].rd, false, 0, NULL));     /* seq 1 */
    f->r[0].paused = true;
    publish(f, "order_locked");                                        /* 2 */
    send_own(&f->app, &f->r[0].rd, ws_msg_new("ack", 0, "m1", NULL));
    publish(f, "order_moved");                                         /* 3 */
    send_own(&f->app, &f->r[0].rd, ws_msg_new("pong", 0, "p1", NULL));
    room_leave(&f->app, &f->r[0].rd);                                  /* user_left 4 */
    publish(f, "order_unlocked");                                      /* 5: not for it */
    f->r[0].paused = false;
    t_wake(&f->r[0].rd);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uint64_t want[] = { 0, 1, 2, 0, 3, 0 };
    assert_int_equal(f->r[0].n_seen, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(f->r[0].seen[i], want[i]);
    assert_string_equal(f->r[0].own[0], "hello");
    assert_string_equal(f->r[0].own[1], "ack");
    assert_string_equal(f->r[0].own[2], "pong");
}

static void test_room_event_that_cannot_be_built_culls_members_with_1011(void **state)
{
    struct fx *f = *state;
    reader_open(f, &f->r[0], 10, "ann");
    assert_null(room_join(&f->app, &f->r[0].rd, false, 0, NULL));
    room_reader_send(&f->app, &f->r[0].rd, NULL);     /* an own frame that could not be built */
    assert_int_equal(f->r[0].cull_code, 1011);
    assert_string_equal(f->r[0].cull_reason, "out of memory");
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->r[0].n_seen, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_room_ring_wraps_and_every_reader_gets_every_event_once_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_replay_from_a_seq_reads_the_ring_after_it_wrapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_replay_past_the_budget_answers_replay_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_reader_lapped_by_the_ring_is_culled_with_1008, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_backlog_over_ws_queue_bytes_is_culled_own_frames_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_own_frames_keep_their_place_between_room_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_event_that_cannot_be_built_culls_members_with_1011, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
