/*
 * webhook — delivery body, signature and the SSRF address rule (protocol/webhook.h).
 */
#include "protocol/webhook.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "protocol/json.h"

/* ---------------------------------------------------------------- body */

static void add_id(cJSON *o, const char *name, int64_t v, int64_t null_value)
{
    if (v == null_value)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, (double)v);
}

char *webhook_body(const char *delivery_id, const char *event, const char *tenant_slug,
                   const struct audit_entry *e)
{
    cJSON *o = cJSON_CreateObject(), *data;
    char *txt = NULL;

    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "deliveryId", delivery_id);
    cJSON_AddStringToObject(o, "event", event);
    cJSON_AddNumberToObject(o, "seq", (double)e->id);
    cJSON_AddStringToObject(o, "tenant", tenant_slug);
    cJSON_AddStringToObject(o, "timestamp", e->timestamp);
    data = cJSON_AddObjectToObject(o, "data");
    if (data == NULL)
        goto out;
    cJSON_AddNumberToObject(data, "auditId", (double)e->id);
    cJSON_AddStringToObject(data, "type", e->event_type != NULL ? e->event_type : "");
    add_id(data, "orderId", e->order_id, 0);
    add_id(data, "fromWorkCentreId", e->from_work_centre_id, 0);
    add_id(data, "toWorkCentreId", e->to_work_centre_id, 0);
    add_id(data, "userId", e->user_id, 0);
    add_id(data, "queueDepthFrom", e->queue_depth_from, -1);
    add_id(data, "queueDepthTo", e->queue_depth_to, -1);
    cJSON *details = e->event_data != NULL ? cJSON_Parse(e->event_data) : NULL;
    if (details != NULL)
        cJSON_AddItemToObject(data, "details", details);
    else
        cJSON_AddNullToObject(data, "details");
    txt = cJSON_PrintUnformatted(o);
    if (txt != NULL && json_output_check(txt, strlen(txt), "webhook body") != 0) {
        free(txt);
        txt = NULL;
    }
out:
    cJSON_Delete(o);
    return txt;
}

/* ---------------------------------------------------------------- signature */

int webhook_signature(const char *secret, int64_t t, const char *body, size_t len,
                      char out[WEBHOOK_SIGNATURE_MAX])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char prefix[24];
    int plen = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);

    out[0] = '\0';
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t outl = 0;
    int ok = c != NULL
             && EVP_MAC_init(c, (const unsigned char *)secret, strlen(secret), params) == 1
             && EVP_MAC_update(c, (const unsigned char *)prefix, (size_t)plen) == 1
             && EVP_MAC_update(c, (const unsigned char *)body, len) == 1
             && EVP_MAC_final(c, mac, &outl, sizeof(mac)) == 1;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    maclen = (unsigned int)outl;
    if (!ok || maclen != 32)
        return -1;
    int n = snprintf(out, WEBHOOK_SIGNATURE_MAX, "t=%lld,v1=", (long long)t);
    for (unsigned int i = 0; i < maclen; i++)
        n += snprintf(out + n, WEBHOOK_SIGNATURE_MAX - (size_t)n, "%02x", mac[i]);
    return 0;
}

/* ---------------------------------------------------------------- SSRF rule */

static bool v4_private(uint32_t a)         /* host byte order */
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    return b0 == 0 || b0 == 10 || b0 == 127
           || (b0 == 100 && (b1 & 0xc0) == 64)
           || (b0 == 169 && b1 == 254)
           || (b0 == 172 && (b1 & 0xf0) == 16)
           || (b0 == 192 && b1 == 168)
           || a == 0xffffffffu;
}

static bool v6_private(const struct in6_addr *a)
{
    const uint8_t *b = a->s6_addr;
    static const uint8_t zero[12] = { 0 };
    if (memcmp(b, zero, 10) == 0 && ((b[10] == 0xff && b[11] == 0xff)
                                     || (b[10] == 0 && b[11] == 0))) {
        /* ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible; :: and ::1 included) */
        uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        if (b[10] == 0 && v4 <= 1)
            return true;                /* :: and ::1 */
        return v4_private(v4);
    }
    return (b[0] & 0xfe) == 0xfc                    /* fc00::/7 unique local */
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80); /* fe80::/10 link-local */
}

bool webhook_address_private(const struct sockaddr *sa)
{
    if (sa == NULL)
        return true;
    if (sa->sa_family == AF_INET)
        return v4_private(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
    if (sa->sa_family == AF_INET6)
        return v6_private(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
    return true;
}

bool webhook_host_private(const char *host)
{
    char buf[64];
    size_t n = strlen(host);
    struct in_addr a4;
    struct in6_addr a6;

    if (n > 0 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        char *zone = strchr(buf, '%');  /* fe80::1%eth0 */
        if (zone != NULL)
            *zone = '\0';
        return inet_pton(AF_INET6, buf, &a6) != 1 || v6_private(&a6);
    }
    if (inet_pton(AF_INET, host, &a4) == 1)
        return v4_private(ntohl(a4.s_addr));
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return v6_private(&a6);
    if (n > 0 && host[n - 1] == '.')
        n--;
    static const char lh[] = "localhost";
    size_t ln = sizeof(lh) - 1;
    return (n == ln && strncasecmp(host, lh, ln) == 0)
           || (n > ln && host[n - ln - 1] == '.' && strncasecmp(host + n - ln, lh, ln) == 0);
}
