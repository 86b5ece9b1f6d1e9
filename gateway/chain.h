/*
 * chain.h: the hash chain of the event log.
 *
 * Each event row carries hash = SHA-256(prev || encoding of the row), where
 * prev is the hash of the row before it (chain_genesis() for the first
 * row). The encoding is unambiguous: every field is a tag byte (NULL,
 * integer, real, text) followed by a fixed-size integer or real, or a
 * 4-byte length and the text's bytes, so that no two different rows
 * encode alike. An edited row then fails to hash to what it holds, and a
 * deleted row leaves a gap in the ids.
 *
 * The hashing is libsodium's crypto_hash_sha256.
 */
#ifndef SH_CHAIN_H
#define SH_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#define CHAIN_HASH_LEN 32
#define CHAIN_HEX_LEN 65 /* 64 hex digits and a NUL */

/* The fields of an event row, as they are bound and read back. Strings
 * may be NULL (a NULL column); at, origin and type never are. */
struct chain_row {
	int64_t id;
	const char *at;
	int64_t at_ms;
	const char *origin, *type, *sensor, *point;
	int has_value;
	double value;
	const char *detail;
};

/* The event types the chain itself writes. */
#define CHAIN_TYPE_START "log_chain_start" /* first chained row of an upgraded log */
#define CHAIN_TYPE_PRUNED "log_pruned"     /* stands for the rows retention removed */

/* The hash the first row chains from: SHA-256 of a fixed tag. */
void chain_genesis(unsigned char out[CHAIN_HASH_LEN]);

/* out = SHA-256(prev || encoding of r). */
void chain_hash(const unsigned char prev[CHAIN_HASH_LEN], const struct chain_row *r,
                unsigned char out[CHAIN_HASH_LEN]);

/* Lower-case hex; out holds CHAIN_HEX_LEN bytes. */
void chain_hex(const unsigned char h[CHAIN_HASH_LEN], char out[CHAIN_HEX_LEN]);

/* Parse 64 hex digits (nothing else). Returns 0 or -1. */
int chain_unhex(const char *hex, unsigned char out[CHAIN_HASH_LEN]);

#endif
