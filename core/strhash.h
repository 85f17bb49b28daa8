/*
 * strhash — the hash of strings a client chooses (order numbers), for every hash table that
 * holds them (store/board.c by_number, importers/csv_import.c duplicate set).
 *
 * Why keyed: with a fixed hash (FNV-1a) a client can compute many order numbers that land in
 * one slot (FNV-1a's low bits depend only on the inputs' low bits, so 2^16 50-character order
 * numbers colliding in a 2^19 table take seconds to build). An import of 65,536 of them took
 * 13 s on the loop and every later lookup in that tenant stayed slow. SipHash-2-4 with a random
 * key per process (SPEC §4: the work a request causes is bounded) makes slots unpredictable.
 */
#ifndef PB_STRHASH_H
#define PB_STRHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of s[0..len) under this process's random 128-bit key (OpenSSL's EVP_MAC
 * "SIPHASH"; the key is drawn once, thread-safe). Equal strings hash equal within one
 * process, never across processes: do not store the value. Cannot fail (if OpenSSL cannot
 * provide SipHash, a keyed 64-bit mix of FNV-1a is used instead and that is logged once). */
uint64_t pb_strhash(const char *s, size_t len);

#endif
