/*
 * test_room_log — the room's event log in the database (store/room_log.c, issue 13 item 2)
 * against a real SQLite file: append, load in seq order, pruning, the room row's epoch and
 * seq, and the clean flag: a start after a clean stop keeps the epochs, any other start
 * renews them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "store/room_log.h"
#include "store/store.h"

#include "test/db_peek.h"
#include "test/test_db.h"
#define peek_int(f, ...) db_peek_int((f)->peek, __VA_ARGS__)

static int setup(void **state)
{
    return test_tenants_setup(state, "room_log");
}

static int teardown(void **state)
{
    return test_tenants_teardown(state);
}

struct seen {
    uint64_t seq[16];
    char frame[16][32];
    size_t n;
};

static int collect(void *ctx, uint64_t seq, const char *frame, size_t len)
{
    struct seen *s = ctx;
    assert_true(s->n < 16);
    assert_true(len < 32);
    s->seq[s->n] = seq;
    memcpy(s->frame[s->n], frame, len);
    s->frame[s->n][len] = '\0';
    s->n++;
    return 0;
}

/* Entries of `tenant` with seqs from..to, frames "e<seq>". */
static void append(struct test_tenants *f, int64_t tenant, const char *epoch, uint64_t from, uint64_t to,
                   uint64_t prune_upto)
{
    struct room_log_entry e[16];
    char frames[16][16];
    size_t n = 0;
    for (uint64_t s = from; s <= to; s++, n++) {
        snprintf(frames[n], sizeof(frames[n]), "e%llu", (unsigned long long)s);
        e[n] = (struct room_log_entry){ .tenant_id = tenant, .seq = s, .epoch = epoch,
                                        .frame = frames[n], .len = strlen(frames[n]),
                                        .prune_upto = prune_upto };
    }
    assert_int_equal(store_room_log_append(f->s, e, n), 0);
}

static void test_a_room_never_logged_is_not_found(void **state)
{
    struct test_tenants *f = *state;
    struct seen s = { 0 };
    bool found = true;
    char epoch[PB_EPOCH_LEN + 1];
    uint64_t seq = 99;
    assert_int_equal(store_room_log_load(f->s, f->tenant, 0, &found, epoch, &seq, collect, &s), 0);
    assert_false(found);
    assert_int_equal(s.n, 0);
}

static void test_append_load_and_prune(void **state)
{
    struct test_tenants *f = *state;
    struct seen s = { 0 };
    bool found;
    char epoch[PB_EPOCH_LEN + 1];
    uint64_t seq;

    append(f, f->tenant, "0123456789abcdef", 1, 5, 0);
    append(f, f->other, "fedcba9876543210", 1, 2, 0);
    append(f, f->tenant, "0123456789abcdef", 6, 8, 3);         /* 1..3 go */
    assert_int_equal(store_room_log_load(f->s, f->tenant, 0, &found, epoch, &seq, collect, &s), 0);
    assert_true(found);
    assert_string_equal(epoch, "0123456789abcdef");
    assert_int_equal(seq, 8);
    assert_int_equal(s.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(s.seq[i], 4 + i);
    assert_string_equal(s.frame[0], "e4");
    assert_string_equal(s.frame[4], "e8");
    /* `after` skips the older ones; the other tenant's log is its own */
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_room_log_load(f->s, f->tenant, 6, &found, epoch, &seq, collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.seq[0], 7);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM room_events WHERE tenant_id = %lld",
                              (long long)f->other), 2);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM room_log"), 2);
}

/* A batch prunes up to the highest prune_upto of any of the tenant's entries, not only its last
 * one's (the server sets it on the event where a pruning step was passed). */
static void test_a_prune_set_on_any_entry_of_a_batch_is_done(void **state)
{
    struct test_tenants *f = *state;
    struct room_log_entry e[5];
    char frames[5][16];
    for (int i = 0; i < 5; i++) {
        snprintf(frames[i], sizeof(frames[i]), "e%d", i + 1);
        e[i] = (struct room_log_entry){ .tenant_id = f->tenant, .seq = (uint64_t)i + 1,
                                        .epoch = "0123456789abcdef", .frame = frames[i],
                                        .len = strlen(frames[i]), .prune_upto = i == 1 ? 3 : 0 };
    }
    assert_int_equal(store_room_log_append(f->s, e, 5), 0);
    assert_int_equal(peek_int(f, "SELECT COUNT(*) FROM room_events"), 2);
    assert_int_equal(peek_int(f, "SELECT MIN(seq) FROM room_events"), 4);
}

static void test_a_clean_stop_keeps_the_epochs_and_anything_else_renews_them(void **state)
{
    struct test_tenants *f = *state;
    bool rotated = true, found;
    char epoch[PB_EPOCH_LEN + 1];
    uint64_t seq;
    struct seen s = { 0 };

    /* The first start of a database: nothing logged, nothing to renew. */
    assert_int_equal(store_room_log_start(f->s, &rotated), 0);
    assert_false(rotated);
    append(f, f->tenant, "0123456789abcdef", 1, 3, 0);
    /* Clean stop, start: the same epoch, the events still there. */
    assert_int_equal(store_room_log_stop(f->s, NULL, 0), 0);
    assert_int_equal(store_room_log_start(f->s, &rotated), 0);
    assert_false(rotated);
    assert_int_equal(store_room_log_load(f->s, f->tenant, 0, &found, epoch, &seq, collect, &s), 0);
    assert_string_equal(epoch, "0123456789abcdef");
    assert_int_equal(s.n, 3);
    /* No stop (a crash): the next start renews the epoch; the seq goes on. */
    assert_int_equal(store_room_log_start(f->s, &rotated), 0);
    assert_true(rotated);
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_room_log_load(f->s, f->tenant, 0, &found, epoch, &seq, collect, &s), 0);
    assert_true(found);
    assert_string_not_equal(epoch, "0123456789abcdef");
    assert_int_equal(strlen(epoch), PB_EPOCH_LEN);
    assert_int_equal(seq, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_room_never_logged_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_load_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_prune_set_on_any_entry_of_a_batch_is_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_clean_stop_keeps_the_epochs_and_anything_else_renews_them,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
