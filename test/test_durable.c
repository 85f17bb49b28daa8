/* Unit tests of server/durable: group commit on a real uv loop with a real SQLite database
 * (issue 9 items 5-6). durable.c knows no consumer: the test registers completion callbacks
 * (durable_on_reached) the way server.c registers http's and ws's releases, holds "answers"
 * with tickets the way they do, and checks that each is released only once its commit is on
 * disk, in ticket order; the loop ends with uv_loop_close() == 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_int.h"
#include "store/scanner.h"

#define N_COMMITS 40

struct fx {
    uv_loop_t loop;
    struct app app;
    char dir[64], path[96];
    int64_t tenant;
    uv_timer_t timer;                   /* commits a few API keys per tick, holding an answer
                                         * for each */
    int made;                           /* commits made so far */
    uint64_t held[N_COMMITS];           /* tickets of the held answers, in the order made */
    size_t n_held, n_released;          /* released = a prefix of held */
    uint64_t released[N_COMMITS];
    uint64_t last_seen;                 /* durable_seq of the last completion */
    int completions, second_calls;
    bool stopped;
};

/* The consumer: release every held answer whose commit is on disk, oldest first. */
static void on_reached(void *ctx, uint64_t durable_seq)
{
    struct fx *f = ctx;
    assert_true(durable_seq >= f->last_seen);       /* durability never goes back */
    assert_int_equal(durable_seq, f->app.durable_seq);
    f->last_seen = durable_seq;
    f->completions++;
    while (f->n_released < f->n_held && durable_reached(&f->app, f->held[f->n_released])) {
        f->released[f->n_released] = f->held[f->n_released];
        f->n_released++;
    }
    /* what is left is not durable yet */
    if (f->n_released < f->n_held)
        assert_false(durable_reached(&f->app, f->held[f->n_released]));
    if (f->made == N_COMMITS && f->n_released == N_COMMITS && !f->stopped) {
        f->stopped = true;
        durable_stop(&f->app);          /* inside the loop: joins the sync thread */
    }
}

/* A second consumer registered after the first: called after it, with the same seq. */
static void on_reached_second(void *ctx, uint64_t durable_seq)
{
    struct fx *f = ctx;
    assert_int_equal(durable_seq, f->last_seen);
    f->second_calls++;
}

static void on_tick(uv_timer_t *h)
{
    struct fx *f = h->data;
    char name[32], hash[65];
    /* a few commits per tick: several can share one fdatasync */
    for (int i = 0; i < 4 && f->made < N_COMMITS; i++) {
        snprintf(name, sizeof(name), "scanner %d", f->made);
        snprintf(hash, sizeof(hash), "%064x", f->made);
        assert_int_equal(store_api_key_create(f->app.store, f->tenant, name, hash, 0, NULL), 0);
        uint64_t ticket = durable_ticket(&f->app);
        assert_int_equal(ticket, store_commit_seq(f->app.store));
        assert_true(f->n_held == 0 || ticket > f->held[f->n_held - 1]);
        f->held[f->n_held++] = ticket;
        f->made++;
    }
    if (f->made == N_COMMITS)
        uv_timer_stop(h);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void test_durable_releases_held_answers_in_ticket_order_once_on_disk(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_options so = { .synchronous = "FULL", .group_commit = true };
    (void)state;
    assert_non_null(f);
    pb_log_level = LOG_ERROR;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pb_test_durable.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/pb.db", f->dir);
    assert_int_equal(store_open(&f->app.store, f->path, &so), 0);
    assert_int_equal(store_tenant_create(f->app.store, "acme", "Acme", &f->tenant), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->app.loop = &f->loop;

    /* without group commit nothing waits */
    assert_int_equal(durable_ticket(&f->app), 0);
    assert_true(durable_reached(&f->app, 0));

    assert_int_equal(durable_on_reached(&f->app, on_reached, f), 0);
    assert_int_equal(durable_on_reached(&f->app, on_reached_second, f), 0);
    assert_int_equal(durable_start(&f->app), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->timer), 0);
    f->timer.data = f;
    assert_int_equal(uv_timer_start(&f->timer, on_tick, 0, 1), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);   /* ends when the timer stopped and durable_stop ran */

    assert_true(f->stopped);
    assert_int_equal(f->made, N_COMMITS);
    assert_int_equal(f->n_released, N_COMMITS);
    for (size_t i = 1; i < N_COMMITS; i++)
        assert_true(f->released[i] > f->released[i - 1]);
    assert_int_equal(f->last_seen, store_commit_seq(f->app.store));
    assert_true(f->completions >= 1);
    assert_int_equal(f->second_calls, f->completions);
    assert_true(durable_syncs(&f->app) >= (uint64_t)f->completions);

    uv_close((uv_handle_t *)&f->timer, close_cb);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    durable_free(&f->app);
    store_free(f->app.store);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

/* The barrier test's consumer: stop once the barrier ticket is reached. */
struct barrier_fx {
    struct app app;
    uint64_t ticket, syncs_before;
    int calls;
    bool stopped;
};

static void on_barrier(void *ctx, uint64_t durable_seq)
{
    struct barrier_fx *b = ctx;
    (void)durable_seq;
    b->calls++;
    if (!b->stopped && durable_barrier_reached(&b->app, b->ticket)) {
        /* reached only by an fdatasync that started after the barrier was asked for */
        assert_true(durable_syncs(&b->app) > b->syncs_before);
        b->stopped = true;
        durable_stop(&b->app);
    }
}

/* An idle group commit (every commit on disk) still makes one more fdatasync for a barrier
 * (the webhook outbox read: webhooks.c), and reports the barrier only after it. */
static void test_durable_barrier_waits_for_a_sync_that_started_after_it(void **state)
{
    struct barrier_fx *b = calloc(1, sizeof(*b));
    struct store_options so = { .synchronous = "FULL", .group_commit = true };
    uv_loop_t loop;
    char dir[64], path[96], cmd[128];
    int64_t tenant;
    (void)state;
    assert_non_null(b);
    pb_log_level = LOG_ERROR;
    snprintf(dir, sizeof(dir), "/tmp/pb_test_durable.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/pb.db", dir);
    assert_int_equal(store_open(&b->app.store, path, &so), 0);
    assert_int_equal(store_tenant_create(b->app.store, "acme", "Acme", &tenant), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    b->app.loop = &loop;
    assert_int_equal(durable_barrier(&b->app), 0);         /* no group commit: nothing waits */
    assert_true(durable_barrier_reached(&b->app, 0));
    assert_int_equal(durable_on_reached(&b->app, on_barrier, b), 0);
    assert_int_equal(durable_start(&b->app), 0);
    /* let the start-up sync (the tenant's commit) finish first */
    while (!durable_reached(&b->app, store_commit_seq(b->app.store)))
        uv_run(&loop, UV_RUN_ONCE);
    b->syncs_before = durable_syncs(&b->app);
    b->ticket = durable_barrier(&b->app);
    assert_true(b->ticket > 0);
    assert_false(durable_barrier_reached(&b->app, b->ticket));
    uv_run(&loop, UV_RUN_DEFAULT);      /* ends once durable_stop ran */
    assert_true(b->stopped);
    assert_int_equal(uv_loop_close(&loop), 0);
    durable_free(&b->app);
    store_free(b->app.store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(b);
}

static void test_durable_listeners_are_bounded(void **state)
{
    struct app app;
    (void)state;
    memset(&app, 0, sizeof(app));
    for (int i = 0; i < PB_DURABLE_LISTENERS; i++)
        assert_int_equal(durable_on_reached(&app, on_reached_second, NULL), 0);
    assert_int_equal(durable_on_reached(&app, on_reached_second, NULL), PB_EINTERNAL);
    assert_int_equal(app.n_durable_listeners, PB_DURABLE_LISTENERS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durable_releases_held_answers_in_ticket_order_once_on_disk),
        cmocka_unit_test(test_durable_barrier_waits_for_a_sync_that_started_after_it),
        cmocka_unit_test(test_durable_listeners_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
