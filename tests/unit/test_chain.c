/*
 * test_chain.c: the event log's row hash (gateway/chain.c) is SHA-256 of the
 * previous hash and the documented encoding (README, "The tamper-evident
 * event log"), whether the row is hashed in one piece (OpenSSL, a row that
 * fits the buffer) or field by field (libsodium, a long detail). An
 * inspector's own tool recomputes it from the README alone, so both paths
 * must give exactly the documented digest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "gateway/chain.h"

/* The README's encoding, written out independently of chain.c. */
static size_t put_int(unsigned char *b, int64_t v)
{
	uint64_t u = (uint64_t)v;
	b[0] = 0x01;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
	return 9;
}

static size_t put_text(unsigned char *b, const char *s)
{
	size_t n;
	if (!s) {
		b[0] = 0x00;
		return 1;
	}
	n = strlen(s);
	b[0] = 0x03;
	b[1] = (unsigned char)(n >> 24);
	b[2] = (unsigned char)(n >> 16);
	b[3] = (unsigned char)(n >> 8);
	b[4] = (unsigned char)n;
	memcpy(b + 5, s, n);
	return 5 + n;
}

static size_t put_real(unsigned char *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	b[0] = 0x02;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
	return 9;
}

static void expected(const unsigned char prev[32], const struct chain_row *r, unsigned char out[32])
{
	static unsigned char b[16384];
	size_t n = 0;
	memcpy(b, prev, 32);
	n = 32;
	n += put_int(b + n, r->id);
	n += put_text(b + n, r->at);
	n += put_int(b + n, r->at_ms);
	n += put_text(b + n, r->origin);
	n += put_text(b + n, r->type);
	n += put_text(b + n, r->sensor);
	n += put_text(b + n, r->point);
	if (r->has_value)
		n += put_real(b + n, r->value);
	else
		b[n++] = 0x00;
	n += put_text(b + n, r->detail);
	crypto_hash_sha256(out, b, n);
}

static void check(const struct chain_row *r)
{
	unsigned char prev[32], got[32], want[32];
	chain_genesis(prev);
	chain_hash(prev, r, got);
	expected(prev, r, want);
	assert_memory_equal(got, want, 32);
}

static void test_a_short_row_hashes_to_the_documented_digest(void **state)
{
	(void)state;
	struct chain_row r = {42,         "2026-11-30T03:00:00Z", 123, "zigbee2mqtt", "reading",
	                      "heat-101", "temperature",          1,   31.5,          NULL};
	check(&r);
}

static void test_a_row_without_value_or_sensor_hashes_to_the_documented_digest(void **state)
{
	(void)state;
	struct chain_row r = {7,     "2026-11-30T03:00:00Z", 0, "control", "arm", NULL, NULL, 0, 0,
	                      "home"};
	check(&r);
}

/* A detail longer than chain.c's one-piece buffer takes the field-by-field
 * path: the digest must not change with the path. */
static void test_a_row_with_a_long_detail_hashes_to_the_documented_digest(void **state)
{
	(void)state;
	static char detail[4000];
	memset(detail, 'x', sizeof(detail) - 1);
	struct chain_row r = {9,
	                      "2026-11-30T03:00:00Z",
	                      999,
	                      "control",
	                      "false_alarm",
	                      "smoke-1",
	                      "smoke",
	                      1,
	                      -0.0,
	                      detail};
	check(&r);
}

/* The hash column holds lower-case hex; an inspector's tool compares text. */
static void test_a_hash_is_written_as_lower_case_hex(void **state)
{
	(void)state;
	unsigned char h[CHAIN_HASH_LEN], back[CHAIN_HASH_LEN];
	char hex[CHAIN_HEX_LEN], want[CHAIN_HEX_LEN];
	for (int i = 0; i < CHAIN_HASH_LEN; i++)
		h[i] = (unsigned char)(i * 37 + 5);
	chain_hex(h, hex);
	sodium_bin2hex(want, sizeof(want), h, sizeof(h));
	assert_string_equal(hex, want);
	assert_int_equal(chain_unhex(hex, back), 0);
	assert_memory_equal(back, h, CHAIN_HASH_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_short_row_hashes_to_the_documented_digest),
	    cmocka_unit_test(test_a_row_without_value_or_sensor_hashes_to_the_documented_digest),
	    cmocka_unit_test(test_a_row_with_a_long_detail_hashes_to_the_documented_digest),
	    cmocka_unit_test(test_a_hash_is_written_as_lower_case_hex),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
