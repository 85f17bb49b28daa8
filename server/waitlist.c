/*
 * waitlist — requests parked until a read off the loop is done (issue 13: "the loop must never
 * wait on a PostgreSQL round trip"). A board load (board_load.c), a room's first load
 * (room_load.c) and a room's online list (room.c) each keep one: the requests that need what
 * the read brings wait on it and are called back, in the order they came, when it ends.
 * Loop thread only.
 */
#include "server/server_int.h"

#include <stdlib.h>

struct waiter {
    void *owner;                        /* first: the owner's side clears it when it goes away */
    void (*ready)(void *owner);
    struct waiter *next;
};

struct waiter *waitlist_add(struct waitlist *l, void (*ready)(void *owner), void *owner)
{
    struct waiter *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->owner = owner;
    w->ready = ready;
    if (l->last != NULL)
        l->last->next = w;
    else
        l->head = w;
    l->last = w;
    return w;
}

size_t waitlist_release(struct waitlist *l)
{
    struct waiter *w = l->head, *next;
    size_t n = 0;
    l->head = l->last = NULL;           /* a ready() may start a new wait on l */
    for (; w != NULL; w = next) {
        next = w->next;
        void *owner = w->owner;
        void (*ready)(void *) = w->ready;
        free(w);
        n++;
        if (owner != NULL)
            ready(owner);
    }
    return n;
}
