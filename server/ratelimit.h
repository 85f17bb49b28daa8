/*
 * ratelimit — failed-login counting of SPEC §4 "Auth": at most `limit` failures per key in any
 * 60-second window (sliding); keys are "ip:<address>" and "user:<tenant>/<username>".
 * Pure (time passed in, ms since the epoch): part of the core library and unit-tested.
 * Errors: 0 or a negative PB_E* code.
 */
#ifndef PB_RATELIMIT_H
#define PB_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define PB_RATE_WINDOW_MS 60000

struct ratelimit;

/* New limiter allowing `limit` (>= 1) failures per key per window. NULL on allocation failure. */
struct ratelimit *ratelimit_new(int limit);
void ratelimit_free(struct ratelimit *rl);

/* 0 when key may try now; PB_ERATE_LIMITED when it already has `limit` failures in the last
 * window, with *retry_after_s (>= 1) = seconds until the oldest of them leaves the window. */
int ratelimit_check(const struct ratelimit *rl, const char *key, int64_t now_ms,
                    int64_t *retry_after_s);

/* Count one failure of key at now_ms. 0 or PB_EINTERNAL (allocation). */
int ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now_ms);

/* Forget keys with no failure inside the window (call from a timer). Returns keys left. */
size_t ratelimit_prune(struct ratelimit *rl, int64_t now_ms);

#endif
