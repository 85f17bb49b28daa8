/*
 * strhash — keyed string hash (see strhash.h): SipHash-2-4 from Debian's OpenSSL (libcrypto,
 * already linked for the tokens), keyed once per process from getrandom().
 */
#include "core/strhash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MAC_CTX *keyed;              /* SipHash keyed with `key`; read-only after init */
static unsigned char key[16];           /* random per process */

static void init(void)
{
    size_t got = 0;
    while (got < sizeof(key)) {
        ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof(key)) {            /* no entropy source: still differ per process */
        uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&got;
        memcpy(key, &t, sizeof(t));
    }
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    size_t size = 8;
    OSSL_PARAM p[] = { OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_END };
    if (mac != NULL)
        keyed = EVP_MAC_CTX_new(mac);
    if (keyed != NULL && !EVP_MAC_init(keyed, key, sizeof(key), p)) {
        EVP_MAC_CTX_free(keyed);
        keyed = NULL;
    }
    EVP_MAC_free(mac);                  /* the context keeps its own reference */
    if (keyed == NULL)
        fprintf(stderr, "strhash: OpenSSL has no SipHash; using a keyed FNV-1a mix\n");
}

/* Fallback: FNV-1a from a keyed basis, then a 64-bit finaliser (splitmix64) so that every
 * bit of the state reaches the slot bits. Weaker than SipHash, better than unkeyed. */
static uint64_t fallback(const char *s, size_t len)
{
    uint64_t k0, k1, h;
    memcpy(&k0, key, 8);
    memcpy(&k1, key + 8, 8);
    h = 0xcbf29ce484222325ULL ^ k0;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    h ^= k1;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

uint64_t pb_strhash(const char *s, size_t len)
{
    unsigned char out[8];
    size_t outl = 0;
    uint64_t h;

    pthread_once(&once, init);
    if (keyed != NULL) {
        EVP_MAC_CTX *c = EVP_MAC_CTX_dup(keyed);
        if (c != NULL) {
            int ok = EVP_MAC_update(c, (const unsigned char *)s, len)
                     && EVP_MAC_final(c, out, &outl, sizeof(out)) && outl == sizeof(out);
            EVP_MAC_CTX_free(c);
            if (ok) {
                memcpy(&h, out, sizeof(h));
                return h;
            }
        }
    }
    return fallback(s, len);
}
