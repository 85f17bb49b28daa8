/*
 * auth — passwords (argon2id) and access tokens (HS256 JWT via libjwt), SPEC §4 "Auth".
 * No sockets, no loop: argon2 is slow on purpose, so the server calls the password functions
 * from a uv work thread, never on the loop thread.
 * Errors: 0 or a negative PB_E* code of core/errors.h.
 */
#ifndef PB_AUTH_H
#define PB_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

#define PB_HASH_MAX 128                 /* encoded argon2id string buffer */
#define PB_JTI_LEN  33                  /* 32 hex chars + NUL */

/* argon2id parameters (OWASP minimum: m=19 MiB, t=2, p=1). */
#ifndef PB_ARGON2_T_COST              /* the fuzz build (make fuzz) lowers both: a login costs */
#define PB_ARGON2_T_COST   2            /* ~0.1 s at these values, which would starve the fuzzer */
#endif
#ifndef PB_ARGON2_M_COST
#define PB_ARGON2_M_COST   (19 * 1024)  /* KiB */
#endif
#define PB_ARGON2_PARALLEL 1

/* Hash `password` with a fresh random salt into out[PB_HASH_MAX] (encoded argon2id string).
 * PB_EINTERNAL on failure. Thread-safe. */
int auth_password_hash(const char *password, char out[PB_HASH_MAX]);

/* 0 when `password` matches `encoded`, PB_EUNAUTHORIZED when not (or encoded is malformed).
 * Thread-safe. */
int auth_password_verify(const char *encoded, const char *password);

/* Fill out with 2*nbytes lowercase hex chars of cryptographically random bytes + NUL.
 * PB_EINTERNAL when the system RNG fails. */
int auth_random_hex(char *out, size_t nbytes);

/* SHA-256 of s as 64 lowercase hex chars + NUL into out[65] (refresh tokens, API keys). */
void auth_sha256_hex(const char *s, char out[65]);

struct auth_claims {
    int64_t user_id;            /* "sub" (a string in the token) */
    int64_t tenant_id;          /* "tid" */
    enum role role;             /* "role" */
    int64_t iat;                /* seconds since the epoch */
    int64_t exp;
    char jti[PB_JTI_LEN];
};

/* Issue an HS256 token with the claims (jti filled in by the caller or, when empty, here).
 * *out is malloc'd (caller frees). PB_EINTERNAL. */
int auth_token_issue(const unsigned char *key, size_t key_len, struct auth_claims *claims,
                     char **out);

/* Verify signature (HS256 only: "none" and any other alg are refused), exp > now_s and the
 * claims' presence and types; fill *out. PB_EUNAUTHORIZED on any failure. */
int auth_token_verify(const unsigned char *key, size_t key_len, const char *token,
                      int64_t now_s, struct auth_claims *out);

/* Read the JWT secret from `path`; if the file is missing create it with 64 random bytes,
 * mode 0600. key must hold 64 bytes; *len gets the size read (>= 32 required).
 * PB_EINTERNAL with a message on stderr when unreadable or too short. */
int auth_secret_load(const char *path, unsigned char key[64], size_t *len);

#endif
