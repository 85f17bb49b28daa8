/*
 * store/session — refresh-token sessions (SPEC §4 Auth: refresh rotation, logout revocation).
 * Only the SHA-256 hex of a refresh token is stored (hashing is the caller's job). Each
 * session also remembers the jti of the latest access token issued with it, so logout can
 * revoke that access token too.
 * Errors: 0 or a negative PB_E* code (PB_EUNAUTHORIZED, PB_EINTERNAL).
 */
#ifndef PB_STORE_SESSION_H
#define PB_STORE_SESSION_H

#include "store/store.h"

/* Create a session of user_id; expires_at is a UTC timestamp. *id_out gets its id. */
int store_session_create(struct store *s, int64_t tenant_id, int64_t user_id,
                         const char *refresh_hash, const char *access_jti,
                         const char *expires_at, int64_t *id_out);

/*
 * Rotate: the live (not revoked, not expired at `now`) session whose refresh hash is old_hash
 * gets new_hash; the old refresh token stops working. *tenant_id and *user_id get its owner,
 * sid[sid_len] its session id (the access_jti given at create; it does not change).
 * PB_EUNAUTHORIZED when no live session has old_hash (unknown, rotated already, revoked or
 * expired), PB_EINTERNAL.
 */
int store_session_rotate(struct store *s, const char *old_hash, const char *new_hash,
                         const char *now, int64_t *tenant_id, int64_t *user_id, char *sid,
                         size_t sid_len);

/* Revoke the session whose latest access token has jti (logout). 0 also when none matched. */
int store_session_revoke_jti(struct store *s, int64_t tenant_id, int64_t user_id,
                             const char *jti);

/* Call cb(ctx, sid) for each live (not revoked) session of a user. */
int store_session_each_live(struct store *s, int64_t tenant_id, int64_t user_id,
                            void (*cb)(void *ctx, const char *sid), void *ctx);

/* Revoke every session of a user (user deleted or deactivated). */
int store_session_revoke_user(struct store *s, int64_t tenant_id, int64_t user_id);

/* Call cb(ctx, jti) for each access jti of a session revoked at or after `since` (to rebuild
 * the revoked-token list at start). */
int store_session_revoked_since(struct store *s, const char *since,
                                void (*cb)(void *ctx, const char *jti), void *ctx);

#endif
