/*
 * chain.c: the event log's hash chain (see chain.h).
 */
#include "chain.h"

#include <nettle/sha2.h>
#include <sodium.h>
#include <string.h>

enum { TAG_NULL = 0, TAG_INT = 1, TAG_REAL = 2, TAG_TEXT = 3 };

static void put_u64(crypto_hash_sha256_state *st, unsigned char tag, uint64_t v)
{
	unsigned char b[9];
	b[0] = tag;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(v >> (56 - 8 * i));
	crypto_hash_sha256_update(st, b, sizeof(b));
}

static void put_int(crypto_hash_sha256_state *st, int64_t v)
{
	put_u64(st, TAG_INT, (uint64_t)v);
}

/* The IEEE 754 bits, big-endian: the same double always encodes alike. */
static void put_real(crypto_hash_sha256_state *st, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	put_u64(st, TAG_REAL, bits);
}

static void put_text(crypto_hash_sha256_state *st, const char *v)
{
	unsigned char b[5];
	size_t n;
	if (!v) {
		b[0] = TAG_NULL;
		crypto_hash_sha256_update(st, b, 1);
		return;
	}
	n = strlen(v);
	b[0] = TAG_TEXT;
	b[1] = (unsigned char)(n >> 24);
	b[2] = (unsigned char)(n >> 16);
	b[3] = (unsigned char)(n >> 8);
	b[4] = (unsigned char)n;
	crypto_hash_sha256_update(st, b, sizeof(b));
	crypto_hash_sha256_update(st, (const unsigned char *)v, n);
}

void chain_genesis(unsigned char out[CHAIN_HASH_LEN])
{
	static const char tag[] = "safehouse event log v1";
	crypto_hash_sha256(out, (const unsigned char *)tag, sizeof(tag) - 1);
}

/* The same encoding into a buffer, for one hashing call instead of a dozen
 * updates (every event row is hashed on the store's writer). Returns the
 * length, or 0 when it does not fit. */
static size_t enc_u64(unsigned char *b, unsigned char tag, uint64_t v)
{
	b[0] = tag;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(v >> (56 - 8 * i));
	return 9;
}

static size_t enc_text(unsigned char *b, size_t room, const char *v)
{
	size_t n;
	if (!v) {
		if (room < 1)
			return 0;
		b[0] = TAG_NULL;
		return 1;
	}
	n = strlen(v);
	if (room < 5 || room - 5 < n)
		return 0;
	b[0] = TAG_TEXT;
	b[1] = (unsigned char)(n >> 24);
	b[2] = (unsigned char)(n >> 16);
	b[3] = (unsigned char)(n >> 8);
	b[4] = (unsigned char)n;
	memcpy(b + 5, v, n);
	return 5 + n;
}

static size_t encode(unsigned char *b, size_t size, const unsigned char prev[CHAIN_HASH_LEN],
                     const struct chain_row *r)
{
	const char *texts[4] = {r->origin, r->type, r->sensor, r->point};
	size_t off = 0, k;
	uint64_t bits;
	if (size < CHAIN_HASH_LEN + 9 + 9 + 9)
		return 0;
	memcpy(b, prev, CHAIN_HASH_LEN);
	off = CHAIN_HASH_LEN;
	off += enc_u64(b + off, TAG_INT, (uint64_t)r->id);
	if (!(k = enc_text(b + off, size - off, r->at)))
		return 0;
	off += k;
	if (size - off < 9)
		return 0;
	off += enc_u64(b + off, TAG_INT, (uint64_t)r->at_ms);
	for (int i = 0; i < 4; i++) {
		if (!(k = enc_text(b + off, size - off, texts[i])))
			return 0;
		off += k;
	}
	if (size - off < 9)
		return 0;
	if (r->has_value) {
		memcpy(&bits, &r->value, sizeof(bits));
		off += enc_u64(b + off, TAG_REAL, bits);
	} else {
		b[off++] = TAG_NULL;
	}
	if (!(k = enc_text(b + off, size - off, r->detail)))
		return 0;
	return off + k;
}

void chain_hash(const unsigned char prev[CHAIN_HASH_LEN], const struct chain_row *r,
                unsigned char out[CHAIN_HASH_LEN])
{
	unsigned char buf[1024];
	size_t len = encode(buf, sizeof(buf), prev, r);
	crypto_hash_sha256_state st;
	unsigned char tag = TAG_NULL;
	/* Nettle's SHA-256 uses the CPU's SHA instructions where it has them
	 * (Debian builds it "fat"), libsodium's never does: 150 ns instead of
	 * 680 for a row on the bench machine. Not OpenSSL's, though libcrypto
	 * is in the process: its first EVP digest loads the default provider,
	 * 2.2 MB of resident memory (issue 16, tests/bench/README.md). */
	if (len) {
		struct sha256_ctx c;
		sha256_init(&c);
		sha256_update(&c, len, buf);
		sha256_digest(&c, CHAIN_HASH_LEN, out);
		return;
	}
	/* A long row (a long detail): piece by piece (the same digest,
	 * libsodium's). */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, prev, CHAIN_HASH_LEN);
	put_int(&st, r->id);
	put_text(&st, r->at);
	put_int(&st, r->at_ms);
	put_text(&st, r->origin);
	put_text(&st, r->type);
	put_text(&st, r->sensor);
	put_text(&st, r->point);
	if (r->has_value)
		put_real(&st, r->value);
	else
		crypto_hash_sha256_update(&st, &tag, 1);
	put_text(&st, r->detail);
	crypto_hash_sha256_final(&st, out);
}

void chain_hex(const unsigned char h[CHAIN_HASH_LEN], char out[CHAIN_HEX_LEN])
{
	/* Not sodium_bin2hex: its constant-time arithmetic protects secrets,
	 * and a row's hash is public; this is one of the writer's per-row
	 * costs at 25,000 rows/s (tests/bench). */
	static const char digit[] = "0123456789abcdef";
	for (int i = 0; i < CHAIN_HASH_LEN; i++) {
		out[2 * i] = digit[h[i] >> 4];
		out[2 * i + 1] = digit[h[i] & 15];
	}
	out[2 * CHAIN_HASH_LEN] = 0;
}

int chain_unhex(const char *hex, unsigned char out[CHAIN_HASH_LEN])
{
	size_t n = 0;
	const char *end = NULL;
	if (!hex || strlen(hex) != 2 * CHAIN_HASH_LEN)
		return -1;
	if (sodium_hex2bin(out, CHAIN_HASH_LEN, hex, 2 * CHAIN_HASH_LEN, NULL, &n, &end) != 0 ||
	    n != CHAIN_HASH_LEN || *end)
		return -1;
	return 0;
}
