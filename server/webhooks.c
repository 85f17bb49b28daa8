/*
 * webhooks — the deliverer of SPEC §11 on the loop (issue 12 item 3; docs/api-notes.md
 * "Webhooks").
 *
 * Each live endpoint (store/webhooks.h) keeps a cursor into its tenant's audit log, the
 * outbox. The deliverer reads the next row after it that the endpoint subscribes to (one small
 * indexed read on the loop's connection), builds and signs the body (protocol/webhook.h) and
 * POSTs it with libcurl's multi interface driven by libuv (curl_multi_socket_action: a uv_poll_t
 * per socket curl asks for, a uv_timer_t for curl's timeout), so the loop never waits on a
 * receiver. One attempt in flight per endpoint: deliveries to an endpoint go out in seq order.
 * A 2xx moves the cursor on; anything else (status, timeout, refused address) retries after
 * retry_base_ms doubling up to retry_max_ms, forever, in order; after give_up_seconds without
 * a 2xx the endpoint is marked failing (it keeps retrying at the longest delay and becomes
 * active again with its next 2xx). Every outcome is written to the delivery log and the cursor
 * through the writer thread (a writer job, tenant 0: no gate), so the loop writes nothing.
 * A crash before that write redelivers the row with the same deliveryId: at least once.
 *
 * Wake-ups: room_publish calls webhooks_nudge for every room event (a change was committed
 * just before it); a poll timer (poll_ms) catches changes made by another process (the CLI);
 * a retry timer wakes endpoints whose next attempt is due.
 *
 * SSRF guard (SPEC §11): curl resolves the host itself (its threaded resolver, off the loop);
 * CURLOPT_OPENSOCKETFUNCTION sees every address it is about to connect to and refuses the
 * loopback, private and link-local ones (webhook_address_private) unless
 * [webhooks] allow_private = true. Proxies from the environment are ignored (a proxy would
 * hide the address) and redirects are not followed.
 *
 * Loop thread only.
 */
#include "server/server_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/strbuf.h"
#include "protocol/webhook.h"
#include "store/webhooks.h"

#define OUTBOX_BATCH 16                 /* audit rows read per outbox look-up */

struct wh_ep;

/* A socket curl asked us to watch. */
struct wh_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct webhooks *wh;
    struct wh_sock *next, *prev;        /* wh->socks */
};

/* One endpoint and its current delivery. */
struct wh_ep {
    struct wh_ep *next;                 /* wh->eps */
    struct webhooks *wh;
    struct webhook w;                   /* as stored (url, secret, cursor at load) */
    char *slug;                         /* the tenant's slug (body "tenant") */
    bool all_events;                    /* events ["*"] */
    char events[8][PB_WEBHOOK_EVENT_MAX]; /* subscribed names otherwise */
    size_t n_events;
    int64_t scan;                       /* audit id read up to: rows in (cursor, scan] are not
                                         * subscribed (>= w.cursor) */
    /* the current delivery: the first subscribed row after scan */
    struct audit_entry batch[OUTBOX_BATCH]; /* outbox rows read ahead, [batch_i, batch_n) unread */
    size_t batch_i, batch_n;
    uint64_t batch_barrier;             /* durable_barrier ticket taken after the batch's read */
    uint64_t cur_barrier;               /* ... of the current delivery's row: at synchronous =
                                         * FULL it is sent only once that sync finished */
    bool resumed;                       /* the first delivery's log row was looked up */
    /* PostgreSQL: the outbox is read on the reader thread (outbox_read_start), not on the
     * loop (issue 13). reading: a read is in flight (nothing else of ep runs meanwhile);
     * removed: the endpoint was deleted during it (the read's done frees ep); resume: the
     * log row of the first subscribed row the read found, when !resumed */
    bool reading, removed;
    bool have_resume;
    struct webhook_delivery resume;
    bool have_cur;
    struct webhook_delivery cur;        /* seq, event, attempts, first/next attempt */
    struct audit_entry entry;           /* its audit row */
    char *body;                         /* its body (malloc), built at the first attempt */
    /* the attempt in flight */
    CURL *easy;                         /* NULL when none */
    struct curl_slist *hdrs;
    bool refused;                       /* the SSRF guard refused an address of it */
    char errbuf[CURL_ERROR_SIZE];
};

struct webhooks {
    struct app *app;
    CURLM *multi;
    uv_timer_t curl_timer;              /* curl's timeout (CURLMOPT_TIMERFUNCTION) */
    uv_timer_t kick;                    /* 0 ms: pump every endpoint (nudge) */
    uv_timer_t poll;                    /* cfg.webhook_poll_ms: the same */
    uv_timer_t retry;                   /* the earliest next attempt */
    struct wh_ep *eps;
    struct wh_sock *socks;
    bool stopping;
    uint64_t delivered;                 /* 2xx answers */
    uint64_t attempts_failed;           /* attempts without a 2xx */
    uint64_t refused;                   /* of them, refused by the SSRF guard */
};

/* ================================================================ endpoints */

static void ep_drop_cur(struct wh_ep *ep)
{
    webhook_delivery_cleanup(&ep->cur);
    audit_entry_cleanup(&ep->entry);
    free(ep->body);
    ep->body = NULL;
    ep->have_cur = false;
    memset(&ep->cur, 0, sizeof(ep->cur));
}

static void ep_free(struct wh_ep *ep)
{
    if (ep == NULL)
        return;
    ep_drop_cur(ep);
    for (size_t i = 0; i < ep->batch_n; i++)
        audit_entry_cleanup(&ep->batch[i]);
    webhook_delivery_cleanup(&ep->resume);
    webhook_cleanup(&ep->w);
    free(ep->slug);
    free(ep);
}

/* The events array of w into ep (validated when the endpoint was made). */
static void ep_parse_events(struct wh_ep *ep)
{
    cJSON *a = cJSON_Parse(ep->w.events), *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it))
            continue;
        if (strcmp(it->valuestring, "*") == 0)
            ep->all_events = true;
        else if (ep->n_events < sizeof(ep->events) / sizeof(ep->events[0]))
            snprintf(ep->events[ep->n_events++], PB_WEBHOOK_EVENT_MAX, "%s", it->valuestring);
    }
    cJSON_Delete(a);
}

static bool ep_wants(const struct wh_ep *ep, const char *event)
{
    if (ep->all_events)
        return true;
    for (size_t i = 0; i < ep->n_events; i++)
        if (strcmp(ep->events[i], event) == 0)
            return true;
    return false;
}

/* A new in-memory endpoint for w (moved into it: w is emptied) of the tenant whose slug is
 * slug (copied; NULL: read here, on the loop's connection). NULL when out of memory or the
 * tenant cannot be read. */
static struct wh_ep *ep_new(struct webhooks *wh, struct webhook *w, const char *slug)
{
    struct tenant t = { 0 };
    struct wh_ep *ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return NULL;
    ep->wh = wh;
    ep->w = *w;
    memset(w, 0, sizeof(*w));
    ep->scan = ep->w.cursor;
    if (slug != NULL) {
        if ((ep->slug = strdup(slug)) == NULL) {
            ep_free(ep);
            return NULL;
        }
    } else if (store_tenant_get(wh->app->store, ep->w.tenant_id, &t) != 0
               || (ep->slug = strdup(t.slug)) == NULL) {
        tenant_cleanup(&t);
        ep_free(ep);
        return NULL;
    }
    tenant_cleanup(&t);
    ep_parse_events(ep);
    return ep;
}

/* ================================================================ the delivery log (writer) */

struct save_job {
    struct app *app;
    struct webhook_delivery d;
    bool failing;
};

static int save_run(struct db *db, void *ctx)
{
    struct save_job *j = ctx;
    (void)db;                           /* the sibling store's connection */
    return store_webhook_delivery_save(j->app->wstore, &j->d, j->failing);
}

static void save_done(void *ctx, int status, uint64_t commit_seq)
{
    struct save_job *j = ctx;
    (void)commit_seq;
    if (status == 0)
        store_commit_noted(j->app->store);
    else
        pb_log(LOG_WARN, "webhooks: delivery log of webhook %lld seq %lld not written (%d): "
               "it is delivered again after a restart", (long long)j->d.webhook_id,
               (long long)j->d.seq, status);
    webhook_delivery_cleanup(&j->d);
    free(j);
}

/* Write ep's current delivery as it is now. Not written (the writer is closing or full): the
 * cursor stays behind and the row is delivered again after a restart, with the same
 * deliveryId (at least once). */
static void save(struct wh_ep *ep)
{
    struct app *app = ep->wh->app;
    struct save_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->app = app;
    j->d = ep->cur;
    j->d.last_error = ep->cur.last_error != NULL ? strdup(ep->cur.last_error) : NULL;
    j->failing = ep->w.failing;
    int rc = writes_submit(app, 0, NULL, save_run, save_done, j);
    if (rc != 0) {
        pb_log(LOG_DEBUG, "webhooks: delivery log write refused (%d)", rc);
        webhook_delivery_cleanup(&j->d);
        free(j);
    }
}

/* ================================================================ libcurl on libuv */

static void check_done(struct webhooks *wh);

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sock_close(struct webhooks *wh, struct wh_sock *sk)
{
    if (sk->prev != NULL)
        sk->prev->next = sk->next;
    else
        wh->socks = sk->next;
    if (sk->next != NULL)
        sk->next->prev = sk->prev;
    uv_poll_stop(&sk->poll);
    uv_close((uv_handle_t *)&sk->poll, sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct wh_sock *sk = p->data;
    struct webhooks *wh = sk->wh;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(wh->multi, sk->fd, flags, &running);
    check_done(wh);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl wants, or stop watching it. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct webhooks *wh = userp;
    struct wh_sock *sk = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sk != NULL) {
            curl_multi_assign(wh->multi, s, NULL);
            sock_close(wh, sk);
        }
        return 0;
    }
    if (sk == NULL) {
        if ((sk = calloc(1, sizeof(*sk))) == NULL)
            return -1;
        if (uv_poll_init_socket(wh->app->loop, &sk->poll, s) != 0) {
            free(sk);
            return -1;
        }
        sk->fd = s;
        sk->wh = wh;
        sk->poll.data = sk;
        sk->next = wh->socks;
        if (wh->socks != NULL)
            wh->socks->prev = sk;
        wh->socks = sk;
        curl_multi_assign(wh->multi, s, sk);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&sk->poll, ev, on_poll);
    return 0;
}

static void on_curl_timeout(uv_timer_t *t)
{
    struct webhooks *wh = t->data;
    int running;
    curl_multi_socket_action(wh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(wh);
}

/* CURLMOPT_TIMERFUNCTION: one timer, re-armed or stopped as curl says. */
static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct webhooks *wh = userp;
    (void)m;
    if (timeout_ms < 0)
        uv_timer_stop(&wh->curl_timer);
    else
        uv_timer_start(&wh->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: the SSRF guard sees the address curl resolved. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct wh_ep *ep = clientp;
    (void)purpose;
    if (!ep->wh->app->cfg.webhook_allow_private && webhook_address_private(&a->addr)) {
        ep->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* ================================================================ delivering */

static void pump(struct wh_ep *ep);
static void arm_retry(struct webhooks *wh);
static void on_wake(uv_timer_t *t);

/* ---------------------------------------------------------------- the outbox on the reader */

/* One outbox read of an endpoint on the reader thread (PostgreSQL). The reader reads ep's
 * tenant, scan and event filter, which do not change while ep->reading. */
struct outbox_read {
    struct wh_ep *ep;
    int64_t tenant_id, webhook_id, after;
    bool want_resume;                   /* look up the first subscribed row's log row */
    struct audit_entry rows[OUTBOX_BATCH];
    size_t n;
    int found;                          /* 1: resume holds that log row */
    struct webhook_delivery resume;
};

static void outbox_read_clear(struct outbox_read *j)
{
    for (size_t i = 0; i < j->n; i++)
        audit_entry_cleanup(&j->rows[i]);
    j->n = 0;
    webhook_delivery_cleanup(&j->resume);
    memset(&j->resume, 0, sizeof(j->resume));
    j->found = 0;
}

/* Reader thread: the batch after j->after and, when wanted, the first subscribed row's log row
 * (the one store reads load_next makes on SQLite). A rerun overwrites. */
static int outbox_read_run(struct store *rs, void *ctx)
{
    struct outbox_read *j = ctx;
    outbox_read_clear(j);
    if (store_webhook_outbox(rs, j->tenant_id, j->after, OUTBOX_BATCH, j->rows, &j->n) != 0)
        return PB_EINTERNAL;
    for (size_t i = 0; j->want_resume && i < j->n; i++) {
        const char *ev = store_webhook_event_of(j->rows[i].event_type);
        if (ev == NULL || !ep_wants(j->ep, ev))
            continue;
        j->found = store_webhook_delivery_get(rs, j->webhook_id, j->rows[i].id, &j->resume);
        if (j->found < 0)
            return PB_EINTERNAL;
        break;
    }
    return 0;
}

/* Loop: the batch becomes ep's, and ep is pumped again. */
static void outbox_read_done(void *ctx, int status)
{
    struct outbox_read *j = ctx;
    struct wh_ep *ep = j->ep;
    ep->reading = false;
    if (ep->removed) {
        ep_free(ep);
    } else if (status != 0) {
        pb_log(LOG_DEBUG, "webhooks: outbox of webhook %lld not read (%d): tried again at the "
               "next wake-up", (long long)ep->w.id, status);
    } else if (!ep->wh->stopping) {
        for (size_t i = 0; i < ep->batch_n; i++)
            audit_entry_cleanup(&ep->batch[i]);
        memcpy(ep->batch, j->rows, j->n * sizeof(j->rows[0]));
        ep->batch_i = 0;
        ep->batch_n = j->n;
        j->n = 0;                       /* moved */
        ep->batch_barrier = ep->batch_n > 0 ? durable_barrier(ep->wh->app) : 0;
        webhook_delivery_cleanup(&ep->resume);
        ep->resume = j->resume;
        ep->have_resume = j->found == 1;
        memset(&j->resume, 0, sizeof(j->resume));
        pump(ep);
        arm_retry(ep->wh);
    }
    outbox_read_clear(j);
    free(j);
}

/* Start reading ep's next outbox batch on the reader. 0 = started (pumped again when it is
 * done), else nothing started (the poll timer tries again). */
static int outbox_read_start(struct wh_ep *ep)
{
    struct outbox_read *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return PB_EINTERNAL;
    *j = (struct outbox_read){ .ep = ep, .tenant_id = ep->w.tenant_id, .webhook_id = ep->w.id,
                               .after = ep->scan, .want_resume = !ep->resumed };
    ep->reading = true;
    int rc = reads_submit(ep->wh->app, outbox_read_run, outbox_read_done, j);
    if (rc != 0) {
        ep->reading = false;
        free(j);
    }
    return rc;
}

/* Find ep's next delivery: the first subscribed outbox row after scan. Rows are read
 * OUTBOX_BATCH at a time and kept (audit rows never change), so a busy endpoint costs one
 * indexed read per batch, not per delivery. The first delivery after a start looks its log
 * row up (a restart resumes its attempts and its 24 h clock); later ones cannot have one: a
 * row is attempted only once everything before it was delivered. 1 = ep->cur set, 0 = nothing
 * to deliver now, <0 error. */
static int load_next(struct wh_ep *ep)
{
    struct app *app = ep->wh->app;
    int reads = 0;

    for (;;) {
        if (ep->batch_i == ep->batch_n) {
            if (reads++ == 4) {         /* bound the loop's turn: go on at the next one */
                uv_timer_start(&ep->wh->kick, on_wake, 0, 0);
                return 0;
            }
            for (size_t i = 0; i < ep->batch_n; i++)
                audit_entry_cleanup(&ep->batch[i]);
            ep->batch_i = ep->batch_n = 0;
            if (app->postgres) {        /* off the loop; outbox_read_done pumps again */
                (void)outbox_read_start(ep);
                return 0;
            }
            if (store_webhook_outbox(app->store, ep->w.tenant_id, ep->scan, OUTBOX_BATCH,
                                     ep->batch, &ep->batch_n) != 0)
                return PB_EINTERNAL;
            /* The rows read may be a writer commit whose fsync (group commit) has not run:
             * a receiver must not hear of a change a power cut could still undo. */
            ep->batch_barrier = ep->batch_n > 0 ? durable_barrier(app) : 0;
            if (ep->batch_n == 0)
                return 0;
        }
        struct audit_entry *e = &ep->batch[ep->batch_i++];
        const char *ev = store_webhook_event_of(e->event_type);
        if (ev == NULL || !ep_wants(ep, ev)) {
            ep->scan = e->id;
            continue;
        }
        ep->entry = *e;                 /* moved out of the batch */
        ep->cur_barrier = ep->batch_barrier;
        memset(e, 0, sizeof(*e));
        memset(&ep->cur, 0, sizeof(ep->cur));
        if (!ep->resumed && app->postgres) {    /* looked up by the outbox read */
            if (ep->have_resume && ep->resume.seq == ep->entry.id) {
                ep->cur = ep->resume;
                memset(&ep->resume, 0, sizeof(ep->resume));
            }
            webhook_delivery_cleanup(&ep->resume);
            ep->have_resume = false;
            ep->resumed = true;
        } else if (!ep->resumed) {
            struct webhook_delivery d;
            if (store_webhook_delivery_get(app->store, ep->w.id, ep->entry.id, &d) == 1)
                ep->cur = d;
            ep->resumed = true;
        }
        ep->cur.webhook_id = ep->w.id;
        ep->cur.tenant_id = ep->w.tenant_id;
        ep->cur.seq = ep->entry.id;
        snprintf(ep->cur.event, sizeof(ep->cur.event), "%s", ev);
        ep->have_cur = true;
        return 1;
    }
}

/* Start an attempt of ep's current delivery. */
static void attempt(struct wh_ep *ep)
{
    struct webhooks *wh = ep->wh;
    struct app *app = wh->app;
    char did[PB_WEBHOOK_DELIVERY_ID_MAX], sig[WEBHOOK_SIGNATURE_MAX], line[160];
    int64_t now = pb_now_ms();

    webhook_delivery_id(ep->w.id, ep->cur.seq, did);
    if (ep->body == NULL
        && (ep->body = webhook_body(did, ep->cur.event, ep->slug, &ep->entry)) == NULL)
        goto fail;
    if (webhook_signature(ep->w.secret, now / 1000, ep->body, strlen(ep->body), sig) != 0)
        goto fail;
    if (ep->cur.first_attempt_ms == 0)
        ep->cur.first_attempt_ms = now;
    ep->refused = false;
    ep->errbuf[0] = '\0';
    struct curl_slist *h = NULL, *n;
    static const char *const fixed[] = { "Content-Type: application/json",
                                         "Expect:", ("User-Agent: planboard/" PB_VERSION) };
    for (size_t i = 0; i < 3; i++)
        if ((n = curl_slist_append(h, fixed[i])) != NULL)
            h = n;
    snprintf(line, sizeof(line), "X-Planboard-Event: %s", ep->cur.event);
    if ((n = curl_slist_append(h, line)) != NULL)
        h = n;
    snprintf(line, sizeof(line), "X-Planboard-Delivery: %s", did);
    if ((n = curl_slist_append(h, line)) != NULL)
        h = n;
    snprintf(line, sizeof(line), "X-Planboard-Signature: %s", sig);
    if ((n = curl_slist_append(h, line)) == NULL) {
        curl_slist_free_all(h);
        goto fail;
    }
    h = n;
    CURL *e = curl_easy_init();
    if (e == NULL) {
        curl_slist_free_all(h);
        goto fail;
    }
    curl_easy_setopt(e, CURLOPT_URL, ep->w.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");    /* no proxy from the environment */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)app->cfg.webhook_timeout_ms);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, ep->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(ep->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, ep);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ep->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, ep);
    if (curl_multi_add_handle(wh->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(h);
        goto fail;
    }
    ep->easy = e;
    ep->hdrs = h;
    return;

fail:
    /* Out of memory: try again at the next wake-up (the poll timer). */
    pb_log(LOG_WARN, "webhooks: cannot start a delivery to webhook %lld", (long long)ep->w.id);
}

/* The attempt of ep ended: result (CURLE_OK or the transfer error), HTTP status (0: none). */
static void finished(struct wh_ep *ep, CURLcode res, long status)
{
    struct webhooks *wh = ep->wh;
    const struct config *cfg = &wh->app->cfg;
    int64_t now = pb_now_ms();

    ep->cur.attempts++;
    ep->cur.http_status = (int)status;
    free(ep->cur.last_error);
    ep->cur.last_error = NULL;
    if (res == CURLE_OK && status >= 200 && status <= 299) {
        wh->delivered++;
        ep->cur.delivered = true;
        ep->cur.next_attempt_ms = 0;
        pb_now_timestamp(ep->cur.delivered_at);
        if (ep->w.failing)
            pb_log(LOG_INFO, "webhooks: webhook %lld is active again", (long long)ep->w.id);
        ep->w.failing = false;
        save(ep);
        ep->w.cursor = ep->scan = ep->cur.seq;
        ep_drop_cur(ep);
        pump(ep);                       /* the next one at once */
        return;
    }
    char err[PB_WEBHOOK_ERROR_MAX];
    wh->attempts_failed++;
    if (res == CURLE_OK)                /* an answer (another address may have been refused) */
        snprintf(err, sizeof(err), "HTTP %ld", status);
    else if (ep->refused) {
        wh->refused++;
        snprintf(err, sizeof(err), "refused: the address is loopback, private or link-local "
                 "([webhooks] allow_private = false)");
    } else
        snprintf(err, sizeof(err), "%s%s%.160s", curl_easy_strerror(res),
                 ep->errbuf[0] ? ": " : "", ep->errbuf);
    ep->cur.last_error = strdup(err);
    int64_t delay = cfg->webhook_retry_base_ms;
    for (int64_t i = 1; i < ep->cur.attempts && delay < cfg->webhook_retry_max_ms; i++)
        delay *= 2;
    if (delay > cfg->webhook_retry_max_ms)
        delay = cfg->webhook_retry_max_ms;
    ep->cur.next_attempt_ms = now + delay;
    if (!ep->w.failing && now - ep->cur.first_attempt_ms >= cfg->webhook_give_up_seconds * 1000) {
        ep->w.failing = true;
        pb_log(LOG_WARN, "webhooks: webhook %lld is failing: no 2xx for seq %lld since %lld s "
               "(%s)", (long long)ep->w.id, (long long)ep->cur.seq,
               (long long)((now - ep->cur.first_attempt_ms) / 1000), err);
    }
    save(ep);
    arm_retry(wh);
}

static void check_done(struct webhooks *wh)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(wh->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result;
        struct wh_ep *ep = NULL;
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&ep);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(wh->multi, e);
        curl_easy_cleanup(e);
        curl_slist_free_all(ep->hdrs);
        ep->hdrs = NULL;
        ep->easy = NULL;
        finished(ep, res, status);
    }
}

/* Deliver what ep has to deliver now, if nothing of it is in flight. */
static void pump(struct wh_ep *ep)
{
    if (ep->easy != NULL || ep->reading || ep->wh->stopping)
        return;
    if (!ep->have_cur && load_next(ep) != 1)
        return;
    if (ep->cur.next_attempt_ms > pb_now_ms())
        return;                         /* the retry timer wakes it */
    if (!durable_barrier_reached(ep->wh->app, ep->cur_barrier))
        return;                         /* on_durable wakes it */
    attempt(ep);
}

static void pump_all(struct webhooks *wh)
{
    for (struct wh_ep *ep = wh->eps; ep != NULL; ep = ep->next)
        pump(ep);
    arm_retry(wh);
}

static void on_wake(uv_timer_t *t)
{
    pump_all(t->data);
}

/* Arm the retry timer for the earliest next attempt of an endpoint waiting for one. */
static void arm_retry(struct webhooks *wh)
{
    int64_t first = INT64_MAX, now = pb_now_ms();
    for (struct wh_ep *ep = wh->eps; ep != NULL; ep = ep->next)
        if (ep->have_cur && ep->easy == NULL && ep->cur.next_attempt_ms > 0
            && ep->cur.next_attempt_ms < first)
            first = ep->cur.next_attempt_ms;
    if (first == INT64_MAX || wh->stopping)
        return;
    uv_timer_start(&wh->retry, on_wake, first > now ? (uint64_t)(first - now) : 0, 0);
}

/* ================================================================ lifecycle */

/* Group commit reached the disk (durable_on_reached): deliveries waiting for it may go. */
static void on_durable(void *ctx, uint64_t durable_seq)
{
    struct webhooks *wh = ctx;
    (void)durable_seq;
    if (!wh->stopping)
        pump_all(wh);
}

int webhooks_start(struct app *app)
{
    struct webhook *v = NULL;
    size_t n = 0;
    struct webhooks *wh;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (wh = calloc(1, sizeof(*wh))) == NULL)
        return PB_EINTERNAL;
    wh->app = app;
    if ((wh->multi = curl_multi_init()) == NULL) {
        free(wh);
        return PB_EINTERNAL;
    }
    curl_multi_setopt(wh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(wh->multi, CURLMOPT_SOCKETDATA, wh);
    curl_multi_setopt(wh->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(wh->multi, CURLMOPT_TIMERDATA, wh);
    uv_timer_init(app->loop, &wh->curl_timer);
    uv_timer_init(app->loop, &wh->kick);
    uv_timer_init(app->loop, &wh->poll);
    uv_timer_init(app->loop, &wh->retry);
    wh->curl_timer.data = wh->kick.data = wh->poll.data = wh->retry.data = wh;
    app->webhooks = wh;
    if (durable_on_reached(app, on_durable, wh) != 0) {
        pb_log(LOG_ERROR, "webhooks: no room for a group-commit listener");
        return PB_EINTERNAL;
    }
    if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS))
        pb_log(LOG_WARN, "webhooks: this libcurl resolves names synchronously: a slow DNS "
               "answer blocks the loop");
    if (store_webhook_list(app->store, 0, &v, &n) != 0) {
        pb_log(LOG_ERROR, "webhooks: cannot read the endpoints: %s", store_errmsg(app->store));
        return PB_EINTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        struct wh_ep *ep = ep_new(wh, &v[i], NULL);
        if (ep == NULL) {
            pb_log(LOG_ERROR, "webhooks: cannot load webhook %lld", (long long)v[i].id);
            webhook_cleanup(&v[i]);
            continue;
        }
        ep->next = wh->eps;
        wh->eps = ep;
    }
    free(v);
    uv_timer_start(&wh->poll, on_wake, (uint64_t)app->cfg.webhook_poll_ms,
                   (uint64_t)app->cfg.webhook_poll_ms);
    uv_timer_start(&wh->kick, on_wake, 0, 0);   /* resume pending deliveries now */
    return 0;
}

void webhooks_stop(struct app *app)
{
    struct webhooks *wh = app->webhooks;
    if (wh == NULL || wh->stopping)
        return;
    wh->stopping = true;
    for (struct wh_ep *ep = wh->eps; ep != NULL; ep = ep->next)
        if (ep->easy != NULL) {          /* abandoned: delivered again after the restart */
            curl_multi_remove_handle(wh->multi, ep->easy);
            curl_easy_cleanup(ep->easy);
            curl_slist_free_all(ep->hdrs);
            ep->easy = NULL;
            ep->hdrs = NULL;
        }
    curl_multi_cleanup(wh->multi);      /* closes its cached connections (CURL_POLL_REMOVE) */
    wh->multi = NULL;
    while (wh->socks != NULL)           /* any socket it did not report */
        sock_close(wh, wh->socks);
    uv_close((uv_handle_t *)&wh->curl_timer, NULL);
    uv_close((uv_handle_t *)&wh->kick, NULL);
    uv_close((uv_handle_t *)&wh->poll, NULL);
    uv_close((uv_handle_t *)&wh->retry, NULL);
}

void webhooks_free(struct app *app)
{
    struct webhooks *wh = app->webhooks;
    if (wh == NULL)
        return;
    while (wh->eps != NULL) {
        struct wh_ep *ep = wh->eps;
        wh->eps = ep->next;
        ep_free(ep);
    }
    free(wh);
    app->webhooks = NULL;
    curl_global_cleanup();
}

void webhooks_nudge(struct app *app, int64_t tenant_id)
{
    struct webhooks *wh = app->webhooks;
    (void)tenant_id;
    if (wh == NULL || wh->stopping || wh->eps == NULL)
        return;
    if (!uv_is_active((uv_handle_t *)&wh->kick))
        uv_timer_start(&wh->kick, on_wake, 0, 0);
}

int webhooks_endpoint_added(struct app *app, struct webhook *w, const char *slug)
{
    struct webhooks *wh = app->webhooks;
    if (wh == NULL || wh->stopping)
        return 0;
    struct wh_ep *ep = ep_new(wh, w, slug);
    if (ep == NULL)
        return PB_EINTERNAL;
    ep->next = wh->eps;
    wh->eps = ep;
    return 0;
}

void webhooks_endpoint_removed(struct app *app, int64_t tenant_id, int64_t id)
{
    struct webhooks *wh = app->webhooks;
    if (wh == NULL)
        return;
    for (struct wh_ep **pp = &wh->eps; *pp != NULL; pp = &(*pp)->next) {
        struct wh_ep *ep = *pp;
        if (ep->w.id != id || ep->w.tenant_id != tenant_id)
            continue;
        *pp = ep->next;
        if (ep->easy != NULL) {         /* its attempt is abandoned */
            curl_multi_remove_handle(wh->multi, ep->easy);
            curl_easy_cleanup(ep->easy);
            curl_slist_free_all(ep->hdrs);
        }
        if (ep->reading)
            ep->removed = true;         /* outbox_read_done frees it */
        else
            ep_free(ep);
        return;
    }
}

bool webhooks_endpoint_failing(struct app *app, int64_t id, bool stored)
{
    struct webhooks *wh = app->webhooks;
    if (wh != NULL)
        for (struct wh_ep *ep = wh->eps; ep != NULL; ep = ep->next)
            if (ep->w.id == id)
                return ep->w.failing;
    return stored;
}

void webhooks_metrics(struct app *app, struct strbuf *t)
{
    struct webhooks *wh = app->webhooks;
    size_t active = 0, failing = 0, in_flight = 0;
    if (wh == NULL)
        return;
    for (struct wh_ep *ep = wh->eps; ep != NULL; ep = ep->next) {
        if (ep->w.failing)
            failing++;
        else
            active++;
        in_flight += ep->easy != NULL;
    }
    strbuf_printf(t, "# HELP planboard_webhook_endpoints Webhook endpoints by state (failing: "
                  "no 2xx for [webhooks] give_up_seconds).\n"
                  "# TYPE planboard_webhook_endpoints gauge\n"
                  "planboard_webhook_endpoints{state=\"active\"} %zu\n"
                  "planboard_webhook_endpoints{state=\"failing\"} %zu\n", active, failing);
    strbuf_printf(t, "# HELP planboard_webhook_deliveries_total Webhook deliveries answered "
                  "2xx.\n# TYPE planboard_webhook_deliveries_total counter\n"
                  "planboard_webhook_deliveries_total %llu\n",
                  (unsigned long long)wh->delivered);
    strbuf_printf(t, "# HELP planboard_webhook_attempts_failed_total Webhook attempts without "
                  "a 2xx (retried).\n# TYPE planboard_webhook_attempts_failed_total counter\n"
                  "planboard_webhook_attempts_failed_total %llu\n",
                  (unsigned long long)wh->attempts_failed);
    strbuf_printf(t, "# HELP planboard_webhook_refused_total Webhook attempts refused by the "
                  "address guard (loopback, private, link-local).\n"
                  "# TYPE planboard_webhook_refused_total counter\n"
                  "planboard_webhook_refused_total %llu\n", (unsigned long long)wh->refused);
    strbuf_printf(t, "# HELP planboard_webhook_in_flight Webhook attempts in flight.\n"
                  "# TYPE planboard_webhook_in_flight gauge\nplanboard_webhook_in_flight %zu\n",
                  in_flight);
}
