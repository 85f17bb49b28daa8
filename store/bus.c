/*
 * bus — the node's LISTEN connection and its non-blocking fetches; see bus.h.
 */
#include "store/bus.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

struct bus {
    PGconn *conn;
    bool busy;                  /* a fetch was sent and has not ended */
    int64_t tenant_id;          /* of the fetch in flight */
    size_t rows;                /* rows it gave so far */
    int status;                 /* 0, or PB_EINTERNAL when its result was an error */
    bool flushing;              /* PQflush said more output is queued */
    enum { BUS_CONNECTING, BUS_SETUP, BUS_READY } phase;   /* bus_open_start's progress */
    PostgresPollingStatusType want;     /* BUS_CONNECTING: what PQconnectPoll waits for */
};

static const char setup_sql[] = "SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8'; "
                                "LISTEN planboard";

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* PQconnectdb with a bound on the connect (and on every PQreset of the connection, which reuses
 * these parameters): connect_timeout 5 s unless the URL names its own (the URL's keys come after
 * and win). Without it a PostgreSQL host that drops packets holds the caller for the kernel's
 * TCP timeout (minutes). */
static PGconn *connect_bounded(const char *url)
{
    static const char *const keys[] = { "connect_timeout", "dbname", NULL };
    const char *const vals[] = { "5", url, NULL };
    return PQconnectdbParams(keys, vals, 1);
}

/* A connect that failed: libpq's reason (without its trailing newlines) into err, b closed.
 * Returns PB_EINTERNAL. */
static int open_failed(struct bus *b, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", b->conn != NULL ? PQerrorMessage(b->conn) : "out of memory");
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n')
        err[--n] = '\0';
    bus_close(b);
    return PB_EINTERNAL;
}

int bus_open(struct bus **out, const char *url, char *err, size_t errlen)
{
    struct bus *b = calloc(1, sizeof(*b));
    PGresult *r;

    *out = NULL;
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return PB_EINTERNAL;
    }
    b->conn = connect_bounded(url);
    if (b->conn == NULL || PQstatus(b->conn) != CONNECTION_OK) {
        return open_failed(b, err, errlen);
    }
    PQsetNoticeProcessor(b->conn, quiet, NULL);
    r = PQexec(b->conn, setup_sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQsetnonblocking(b->conn, 1) != 0) {
        snprintf(err, errlen, "LISTEN: %s", PQerrorMessage(b->conn));
        bus_close(b);
        return PB_EINTERNAL;
    }
    b->phase = BUS_READY;
    *out = b;
    return 0;
}

int bus_open_start(struct bus **out, const char *url, char *err, size_t errlen)
{
    static const char *const keys[] = { "dbname", NULL };
    const char *const vals[] = { url, NULL };
    struct bus *b = calloc(1, sizeof(*b));

    *out = NULL;
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return PB_EINTERNAL;
    }
    b->conn = PQconnectStartParams(keys, vals, 1);
    if (b->conn == NULL || PQstatus(b->conn) == CONNECTION_BAD || PQsocket(b->conn) < 0) {
        return open_failed(b, err, errlen);
    }
    PQsetNoticeProcessor(b->conn, quiet, NULL);
    b->phase = BUS_CONNECTING;
    b->want = PGRES_POLLING_WRITING;    /* libpq: first wait until the socket is writable */
    *out = b;
    return 0;
}

bool bus_ready(const struct bus *b)
{
    return b->phase == BUS_READY;
}

/* bus_open_start's steps, one per wake-up: the connect (PQconnectPoll), then the session's
 * setup and LISTEN sent and its results read. 0 or PB_EINTERNAL. */
static int connect_step(struct bus *b)
{
    if (b->phase == BUS_CONNECTING) {
        b->want = PQconnectPoll(b->conn);
        if (b->want == PGRES_POLLING_FAILED)
            return PB_EINTERNAL;
        if (b->want != PGRES_POLLING_OK)
            return 0;
        if (PQsetnonblocking(b->conn, 1) != 0 || !PQsendQuery(b->conn, setup_sql))
            return PB_EINTERNAL;
        b->phase = BUS_SETUP;
        int f = PQflush(b->conn);
        if (f < 0)
            return PB_EINTERNAL;
        b->flushing = f == 1;
        return 0;
    }
    if (b->flushing) {
        int f = PQflush(b->conn);
        if (f < 0)
            return PB_EINTERNAL;
        b->flushing = f == 1;
    }
    if (!PQconsumeInput(b->conn))
        return PB_EINTERNAL;
    while (!PQisBusy(b->conn)) {
        PGresult *r = PQgetResult(b->conn);
        if (r == NULL) {
            b->phase = BUS_READY;
            return 0;
        }
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            return PB_EINTERNAL;
    }
    return 0;
}

void bus_close(struct bus *b)
{
    if (b == NULL)
        return;
    PQfinish(b->conn);
    free(b);
}

int bus_fd(const struct bus *b)
{
    return PQsocket(b->conn);
}

bool bus_wants_write(const struct bus *b)
{
    return b->phase == BUS_CONNECTING ? b->want == PGRES_POLLING_WRITING : b->flushing;
}

bool bus_busy(const struct bus *b)
{
    return b->busy;
}

int bus_fetch(struct bus *b, int64_t tenant_id, uint64_t after, unsigned limit)
{
    char t[24], a[24], l[16];
    const char *values[3] = { t, a, l };

    if (b->busy)
        return PB_ECONFLICT;
    if (b->phase != BUS_READY)
        return PB_EINTERNAL;
    snprintf(t, sizeof(t), "%lld", (long long)tenant_id);
    snprintf(a, sizeof(a), "%llu", (unsigned long long)after);
    snprintf(l, sizeof(l), "%u", limit);
    if (!PQsendQueryParams(b->conn, "SELECT seq, frame FROM room_events WHERE tenant_id = $1 "
                           "AND seq > $2 ORDER BY seq LIMIT $3", 3, NULL, values, NULL, NULL,
                           0))
        return PB_EINTERNAL;
    b->busy = true;
    b->tenant_id = tenant_id;
    b->rows = 0;
    b->status = 0;
    int f = PQflush(b->conn);
    if (f < 0)
        return PB_EINTERNAL;
    b->flushing = f == 1;
    return 0;
}

/* Hand the rows of one result to h. */
static void take_result(struct bus *b, PGresult *r, const struct bus_handler *h)
{
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        b->status = PB_EINTERNAL;
        return;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetisnull(r, i, 0) || PQgetisnull(r, i, 1))
            continue;
        uint64_t seq = strtoull(PQgetvalue(r, i, 0), NULL, 10);
        b->rows++;
        h->row(h->ctx, b->tenant_id, seq, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
    }
}

int bus_service(struct bus *b, const struct bus_handler *h)
{
    if (b->phase != BUS_READY)
        return connect_step(b);
    if (b->flushing) {
        int f = PQflush(b->conn);
        if (f < 0)
            return PB_EINTERNAL;
        b->flushing = f == 1;
    }
    if (!PQconsumeInput(b->conn))
        return PB_EINTERNAL;
    while (b->busy && !PQisBusy(b->conn)) {
        PGresult *r = PQgetResult(b->conn);
        if (r == NULL) {                /* the fetch ended */
            b->busy = false;
            h->fetched(h->ctx, b->tenant_id, b->rows, b->status);
            break;
        }
        take_result(b, r, h);
        PQclear(r);
    }
    PGnotify *n;
    while ((n = PQnotifies(b->conn)) != NULL) {
        char *end = NULL, *end2 = NULL;
        long long t = strtoll(n->extra, &end, 10);
        static const char cal[] = " calendar ";
        if (t > 0 && strncmp(end, cal, sizeof(cal) - 1) == 0) {
            h->calendar(h->ctx, (int64_t)t, end + sizeof(cal) - 1);
            PQfreemem(n);
            continue;
        }
        unsigned long long seq = end != NULL && *end == ' ' ? strtoull(end + 1, &end2, 10) : 0;
        if (t > 0 && end2 != NULL && *end2 == ' ')
            h->notified(h->ctx, (int64_t)t, (uint64_t)seq, end2 + 1);
        PQfreemem(n);
    }
    return PQstatus(b->conn) == CONNECTION_OK ? 0 : PB_EINTERNAL;
}
