/*
 * bus — how the nodes of a PostgreSQL cluster learn each other's events (SPEC §12; issue 13
 * item 3). One connection per node, used only through libpq's non-blocking calls, so the loop
 * never waits on it: it LISTENs on channel planboard (store_room_log_sequence NOTIFYs
 * "<tenant_id> <seq> <node>" at each commit of room events) and reads a tenant's new rows of
 * room_events in seq order, one query at a time.
 *
 * The owner (server/bus.c) polls bus_fd() for readability (and writability while
 * bus_wants_write()) and calls bus_service() on each wake-up.
 *
 * Errors: 0, or PB_EINTERNAL (the connection is broken: the owner closes it and opens a new
 * one; PostgreSQL may be restarting). Threads: the owner's (the loop) only.
 */
#ifndef PB_STORE_BUS_H
#define PB_STORE_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus;

/* What bus_service hands its owner. */
struct bus_handler {
    /* A notification: the tenant, its newest seq, and the node that published it (its name,
     * borrowed). */
    void (*notified)(void *ctx, int64_t tenant_id, uint64_t seq, const char *node);
    /* A notification that node changed the tenant's calendar or timezone
     * (store_room_log_notify_calendar; node borrowed). */
    void (*calendar)(void *ctx, int64_t tenant_id, const char *node);
    /* One row of the fetch in flight, in seq order (frame borrowed for the call). */
    void (*row)(void *ctx, int64_t tenant_id, uint64_t seq, const char *frame, size_t len);
    /* The fetch in flight ended: rows is how many it gave (== the limit asked: there may be
     * more), status 0 or PB_EINTERNAL (a failed query: the connection is still usable). */
    void (*fetched)(void *ctx, int64_t tenant_id, size_t rows, int status);
    void *ctx;
};

/* Connect to `url` (blocking: at start-up, or when reconnecting from a timer), LISTEN
 * planboard, and switch the connection to non-blocking. 0 with *out set, or PB_EINTERNAL with
 * a reason in err. */
int bus_open(struct bus **out, const char *url, char *err, size_t errlen);

/*
 * Start connecting to `url` without waiting (a reconnect on the loop, issue 13 "the loop never
 * waits"): 0 with *out set, or PB_EINTERNAL with a reason in err. Then poll bus_fd() (for
 * writability while bus_wants_write()) and call bus_service() on each wake-up: it advances
 * the connect, then the session setup and LISTEN, until bus_ready(); a failure on the way is
 * PB_EINTERNAL (close it, try again later). bus_fd() may change while connecting (libpq
 * trying the host's next address): compare it after each bus_service. libpq's connect_timeout
 * does not apply here: the owner bounds the wait itself.
 */
int bus_open_start(struct bus **out, const char *url, char *err, size_t errlen);

/* True once the connection LISTENs (always after bus_open; after bus_open_start, once its
 * steps are done). bus_fetch refuses before (PB_EINTERNAL). */
bool bus_ready(const struct bus *b);

/* Close the connection. NULL is fine. */
void bus_close(struct bus *b);

/* The socket to poll. */
int bus_fd(const struct bus *b);

/* True while output is queued (poll for writability too). */
bool bus_wants_write(const struct bus *b);

/* True while a fetch is in flight (bus_fetch would refuse). */
bool bus_busy(const struct bus *b);

/*
 * Send the query for tenant_id's events with seq > after, at most `limit` of them, in seq
 * order. Does not wait: the rows come through bus_service. 0, PB_ECONFLICT (a fetch is in
 * flight already), PB_EINTERNAL (broken).
 */
int bus_fetch(struct bus *b, int64_t tenant_id, uint64_t after, unsigned limit);

/* Read what arrived (never blocks): notifications and the rows of the fetch in flight, handed
 * to h; flush queued output. 0 or PB_EINTERNAL (broken: close and reopen). */
int bus_service(struct bus *b, const struct bus_handler *h);

#endif
