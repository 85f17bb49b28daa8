/*
 * ratelimit — login attempt counting of SPEC §4 "Auth": at most `per_minute` failures per key
 * in any 60-second window (sliding); keys are "ip:<address>" and "user:<tenant>/<username>".
 *
 * An attempt is counted when it STARTS (ratelimit_begin), not when its password check ends:
 * a check runs for tens of milliseconds on a worker thread, and counting afterwards let 150
 * parallel guesses all pass the check before the first failure was recorded. While it runs an
 * attempt is "in flight" and counts against the limit like a failure; when it ends
 * (ratelimit_end) a failure stays counted for the window and a success gives its own slot back
 * (SPEC counts failed attempts; the success resets nothing else). In-flight attempts are also
 * capped for all keys together (`max_inflight`), so a flood from many addresses cannot queue
 * minutes of argon2 work on the uv threadpool.
 *
 * Pure (time passed in, ms since the epoch; no locking: loop thread only): part of the core
 * library and unit-tested. Errors: 0 or a negative PB_E* code.
 */
#ifndef PB_RATELIMIT_H
#define PB_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_RATE_WINDOW_MS 60000

struct ratelimit;

/* New limiter: per_minute (>= 1, clamped) failures + in-flight attempts per key per window,
 * max_inflight (>= 1, clamped) attempts in flight for all keys together. NULL on allocation
 * failure. Free with ratelimit_free (NULL does nothing). */
struct ratelimit *ratelimit_new(int per_minute, int max_inflight);
void ratelimit_free(struct ratelimit *rl);

/*
 * Start one attempt that counts against every key of keys[0..n) (n <= 4).
 * 0: counted (one more in flight on each key and in the total); the caller must call
 *    ratelimit_end with the same keys exactly once.
 * PB_ERATE_LIMITED: nothing counted (SPEC §4: a 429 attempt is not counted); *retry_after_s
 *    (>= 1) gets the seconds to wait: until enough failures of the most limited key leave the
 *    window, or 1 when the limit is reached only by attempts still in flight or by the global
 *    in-flight cap (they end within about a second).
 * PB_EINTERNAL: allocation failure; nothing counted.
 */
int ratelimit_begin(struct ratelimit *rl, const char *const *keys, size_t n, int64_t now_ms,
                    int64_t *retry_after_s);

/* End an attempt started by ratelimit_begin with the same keys. failed: it stays counted as a
 * failure at now_ms for the window; else (success, or the check never ran) its slot is given
 * back. Never fails. */
void ratelimit_end(struct ratelimit *rl, const char *const *keys, size_t n, bool failed,
                   int64_t now_ms);

/* Attempts in flight for all keys together (for /metrics and tests). */
int ratelimit_inflight(const struct ratelimit *rl);

/* Forget keys with no failure inside the window and nothing in flight (call from a timer).
 * Returns keys left. */
size_t ratelimit_prune(struct ratelimit *rl, int64_t now_ms);

#endif
