/*
 * webhook — what a SPEC §11 delivery is on the wire: its JSON body, its signature header, and
 * which addresses a delivery may connect to (the SSRF guard). Pure: no sockets, no loop; the
 * deliverer is server/webhooks.c, the store side store/webhooks.c.
 */
#ifndef PB_PROTOCOL_WEBHOOK_H
#define PB_PROTOCOL_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store/audit.h"

/*
 * The body of a delivery (SPEC §11): {"deliveryId", "event", "seq", "tenant": slug,
 * "timestamp", "data"}; seq = the audit id (increasing per endpoint), timestamp = when the
 * change was written (the audit row's), data = the change as audit_log holds it:
 * {auditId, type (the audit row's event_type), orderId, fromWorkCentreId, toWorkCentreId,
 * userId, queueDepthFrom, queueDepthTo (null when absent), details (its event_data JSON, or
 * null)}. The same text on every attempt. Returns a malloc'd NUL-terminated string (caller
 * frees) or NULL when out of memory or not valid UTF-8 (SPEC §4: never sent).
 */
char *webhook_body(const char *delivery_id, const char *event, const char *tenant_slug,
                   const struct audit_entry *e);

/*
 * The X-Planboard-Signature value of SPEC §11: "t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>"
 * keyed with secret>" into out[WEBHOOK_SIGNATURE_MAX]; t is Unix seconds. Returns 0, or -1
 * (OpenSSL failed; out is then "").
 */
#define WEBHOOK_SIGNATURE_MAX 96
int webhook_signature(const char *secret, int64_t t, const char *body, size_t len,
                      char out[WEBHOOK_SIGNATURE_MAX]);

/*
 * The SSRF guard's rule (SPEC §11): true for an address a delivery must not connect to unless
 * [webhooks] allow_private = true: IPv4 0.0.0.0/8, 10/8, 100.64/10 (carrier NAT), 127/8,
 * 169.254/16, 172.16/12, 192.168/16, 255.255.255.255; IPv6 ::, ::1, fc00::/7, fe80::/10, and
 * an IPv4-mapped or IPv4-compatible address by its IPv4 rule. Any family other than AF_INET /
 * AF_INET6 is refused too (true).
 */
bool webhook_address_private(const struct sockaddr *sa);
/* The same for a host written in a URL: an IPv4 or IPv6 literal (brackets allowed) by the
 * rule above, and "localhost" (any case, with or without a final dot, or ending in
 * ".localhost"). false for other names: they are checked after resolution. */
bool webhook_host_private(const char *host);

#endif
