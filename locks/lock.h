/*
 * locks — the in-memory drag-lock table of SPEC §5 "Drag locks".
 *
 * A drag lock gives one user the right to move one order for a TTL (default 30 s). The table is
 * pure data: time is passed in (milliseconds since the epoch), so it is tested without a loop;
 * the server sweeps it with lock_expire() from a uv timer at least once a second.
 * Locks live in memory only; a restart clears them.
 *
 * Errors: 0 or a negative PB_E* code of core/errors.h.
 * Threading: one thread (the loop thread).
 */
#ifndef PB_LOCK_H
#define PB_LOCK_H

#include <stddef.h>
#include <stdint.h>

#define PB_LOCK_USERNAME_MAX 50

struct drag_lock {
    int64_t tenant_id;
    int64_t order_id;           /* order ids are unique across tenants */
    int64_t user_id;            /* holder */
    char username[PB_LOCK_USERNAME_MAX + 1];
    int64_t expires_at_ms;      /* ms since the epoch */
};

struct lock_table;

/* New empty table; NULL on allocation failure. Free with lock_table_free (NULL is fine). */
struct lock_table *lock_table_new(void);
void lock_table_free(struct lock_table *lt);

/*
 * Take or renew the lock on (tenant_id, order_id) for user_id until now_ms + ttl_ms.
 * Returns 0 when newly taken, 1 when the caller already held it (renewed: new expiry), or
 * PB_ELOCKED when another user holds an unexpired lock (then nothing changes). A lock whose
 * expiry has passed counts as free even before the sweep. *out (may be NULL) points at the
 * lock entry — the caller's on success, the holder's on PB_ELOCKED — valid until the next
 * call that changes the table.
 */
int lock_acquire(struct lock_table *lt, int64_t tenant_id, int64_t order_id, int64_t user_id,
                 const char *username, int64_t now_ms, int64_t ttl_ms,
                 const struct drag_lock **out);

/*
 * Set the lock on (tenant_id, order_id) to user_id until expires_at_ms, whoever held it: the
 * in-memory table as a mirror of the database's (SPEC §12: on PostgreSQL the database decides
 * who holds a lock; server/board_ops.c). 0 (*out, may be NULL, points at the entry, valid as
 * for lock_acquire) or PB_EINTERNAL (out of memory: nothing changed).
 */
int lock_put(struct lock_table *lt, int64_t tenant_id, int64_t order_id, int64_t user_id,
             const char *username, int64_t expires_at_ms, const struct drag_lock **out);

/* The unexpired lock on the order, or NULL. */
const struct drag_lock *lock_get(const struct lock_table *lt, int64_t tenant_id,
                                 int64_t order_id, int64_t now_ms);

/*
 * Remove the lock on the order if user_id holds it (user_id 0: whoever holds it, for moves by
 * the holder and deletes). Returns 0 when a lock was removed (*removed, if not NULL, gets a copy
 * of it), PB_ENOT_FOUND when there was none for that user.
 */
int lock_release(struct lock_table *lt, int64_t tenant_id, int64_t order_id, int64_t user_id,
                 struct drag_lock *removed);

/* Called once for each lock removed by a sweep; the lock is already out of the table. */
typedef void (*lock_removed_fn)(void *ctx, const struct drag_lock *lock);

/* Remove every lock with expires_at_ms <= now_ms; cb (may be NULL) for each. Returns count. */
size_t lock_expire(struct lock_table *lt, int64_t now_ms, lock_removed_fn cb, void *ctx);

/* Remove every lock user_id holds in the tenant (their last connection closed); cb for each.
 * Returns count. */
size_t lock_release_user(struct lock_table *lt, int64_t tenant_id, int64_t user_id,
                         lock_removed_fn cb, void *ctx);

/* Call cb for each unexpired lock of the tenant, in no particular order (nothing removed). */
void lock_each(const struct lock_table *lt, int64_t tenant_id, int64_t now_ms,
               lock_removed_fn cb, void *ctx);

/* Number of locks in the table (all tenants, expired-but-unswept included). */
size_t lock_count(const struct lock_table *lt);

#endif
