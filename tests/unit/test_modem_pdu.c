/*
 * test_modem_pdu.c: SMS PDUs, the GSM 7-bit alphabet, splitting and AT
 * reply lines (gateway/gsm.c), alone.
 *
 * Known-good PDUs: the SMS-SUBMIT and SMS-DELIVER examples ("hellohello")
 * of Lars Pettersson's "SMS and the PDU format" (dreamfabric.com/sms/),
 * the page most modem vendors' application notes point to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gsm.h"

static int hexbyte(const char *hex, size_t octet)
{
	unsigned v;
	char b[3] = {hex[2 * octet], hex[2 * octet + 1], 0};
	sscanf(b, "%x", &v);
	return (int)v;
}

static void test_submit_matches_the_known_good_gsm7_pdu(void **state)
{
	struct gsm_pdu p[1];
	(void)state;
	assert_int_equal(gsm_sms_encode("+46708251358", "hellohello", 0, p, 1, NULL), 1);
	assert_string_equal(p[0].hex, "0011000B916407281553F80000AA0AE8329BFD4697D9EC37");
	assert_int_equal(p[0].tpdu_len, 23);
}

static void test_submit_ucs2_for_vietnamese(void **state)
{
	struct gsm_pdu p[1];
	(void)state;
	/* 0x08: UCS-2; the text as UTF-16BE: B 0042, Á 00C1, O 004F */
	assert_int_equal(gsm_sms_encode("+84901234567", "BÁO", 0, p, 1, NULL), 1);
	assert_string_equal(p[0].hex, "0011000B914809214365F70008AA06004200C1004F");
	/* a national number: type 0x81 */
	assert_int_equal(gsm_sms_encode("0901234567", "a", 0, p, 1, NULL), 1);
	assert_string_equal(p[0].hex, "0011000A8190103254760000AA0161");
}

static void test_bad_numbers_are_refused(void **state)
{
	struct gsm_pdu p[1];
	(void)state;
	assert_int_equal(gsm_sms_encode("+84 90", "a", 0, p, 1, NULL), -EINVAL);
	assert_int_equal(gsm_sms_encode("", "a", 0, p, 1, NULL), -EINVAL);
	assert_int_equal(gsm_sms_encode("+", "a", 0, p, 1, NULL), -EINVAL);
	assert_int_equal(gsm_sms_encode("12345678901234567890123", "a", 0, p, 1, NULL), -EINVAL);
}

static void test_deliver_decodes_the_known_good_pdu(void **state)
{
	struct gsm_deliver d;
	(void)state;
	assert_int_equal(gsm_deliver_decode("07917283010010F5040BC87238880900F10000993092516195800A"
	                                    "E8329BFD4697D9EC37",
	                                    &d),
	                 0);
	assert_string_equal(d.from, "27838890001");
	assert_string_equal(d.text, "hellohello");
	assert_int_equal(d.concat, 0);
	assert_int_equal(gsm_deliver_decode("0791", &d), -EINVAL);
	assert_int_equal(gsm_deliver_decode("zz", &d), -EINVAL);
	/* a UDH longer than the UDL, a UDL past the end */
	assert_int_equal(
	    gsm_deliver_decode("00440B914809214365F7000862111241000000020500030A0201", &d),
	    -EINVAL);
	assert_int_equal(gsm_deliver_decode("00040B914809214365F70008621112410000008C0041", &d),
	                 -EINVAL);
	/* an SMS-SUBMIT is not a DELIVER */
	assert_int_equal(gsm_deliver_decode("0011000B916407281553F80000AA0AE8329BFD4697D9EC37", &d),
	                 -EINVAL);
}

static void test_deliver_ucs2_from_an_international_number(void **state)
{
	struct gsm_deliver d;
	(void)state;
	/* "Đã" (0110 00E3) from +84901234567 */
	assert_int_equal(gsm_deliver_decode("00040B914809214365F7000862111241000000040110"
	                                    "00E3",
	                                    &d),
	                 0);
	assert_string_equal(d.from, "+84901234567");
	assert_string_equal(d.text, "Đã");
}

/* Operators send from names: "Viettel" packed as GSM-7 in the address
 * (type 0xD0; packed by tests/blackbox/modem_sim.py, a second writer). */
static void test_deliver_from_an_alphanumeric_sender(void **state)
{
	struct gsm_deliver d;
	(void)state;
	assert_int_equal(gsm_deliver_decode("00040DD0D674994E2FB30100006211325100000002CF25", &d),
	                 0);
	assert_string_equal(d.from, "Viettel");
	assert_string_equal(d.text, "OK");
}

static void test_gsm7_detection(void **state)
{
	(void)state;
	assert_true(gsm_is_gsm7("Fire in room 101 @ 10:05"));
	assert_true(gsm_is_gsm7("Phòng é è")); /* in the default alphabet */
	assert_true(gsm_is_gsm7("{[]}~^|\\ €"));
	assert_false(gsm_is_gsm7("BÁO CHÁY"));
	assert_false(gsm_is_gsm7("a`b"));
	assert_false(gsm_is_gsm7("\xff"));
}

/* The UD of a concatenated UCS-2 part: offsets for a +84 11-digit number. */
static void check_ucs2_part(const struct gsm_pdu *p, unsigned ref, int total, int seq)
{
	assert_int_equal(hexbyte(p->hex, 1), 0x51); /* SUBMIT + UDHI */
	assert_int_equal(hexbyte(p->hex, 12), 0x08);
	assert_int_equal(hexbyte(p->hex, 15), 0x05);
	assert_int_equal(hexbyte(p->hex, 16), 0x00);
	assert_int_equal(hexbyte(p->hex, 18), (int)ref);
	assert_int_equal(hexbyte(p->hex, 19), total);
	assert_int_equal(hexbyte(p->hex, 20), seq);
	assert_true(hexbyte(p->hex, 14) <= 140);
}

static void test_300_vietnamese_characters_split_into_67_unit_parts(void **state)
{
	struct gsm_pdu p[GSM_PARTS_MAX];
	char text[2048] = "";
	int cut = -1, n;
	(void)state;
	/* 300 characters, all in the BMP */
	for (int i = 0; i < 30; i++)
		strcat(text, "Cháy phòng"); /* 10 characters */
	n = gsm_sms_encode("+84901234567", text, 42, p, GSM_PARTS_MAX, &cut);
	assert_int_equal(n, 5); /* 67 * 4 = 268 < 300 */
	assert_int_equal(cut, 0);
	for (int i = 0; i < n; i++)
		check_ucs2_part(&p[i], 42, 5, i + 1);
	assert_int_equal(hexbyte(p[0].hex, 14), 6 + 2 * 67);
	assert_int_equal(hexbyte(p[4].hex, 14), 6 + 2 * (300 - 268));
}

static void test_a_surrogate_pair_is_never_split(void **state)
{
	struct gsm_pdu p[GSM_PARTS_MAX];
	char text[256] = "";
	(void)state;
	for (int i = 0; i < 66; i++)
		strcat(text, "a");
	strcat(text, "\xF0\x9F\x94\xA5"); /* U+1F525 FIRE: two UTF-16 units */
	strcat(text, "bbbbbbbbbb");
	assert_int_equal(gsm_sms_encode("+84901234567", text, 1, p, GSM_PARTS_MAX, NULL), 2);
	/* part 1: 66 units, the pair goes whole into part 2 */
	assert_int_equal(hexbyte(p[0].hex, 14), 6 + 2 * 66);
	assert_int_equal(hexbyte(p[1].hex, 14), 6 + 2 * 12);
	assert_int_equal(hexbyte(p[1].hex, 21), 0xD8);
}

static void test_gsm7_parts_are_153_septets_and_keep_escapes_whole(void **state)
{
	struct gsm_pdu p[GSM_PARTS_MAX];
	char text[512] = "";
	(void)state;
	for (int i = 0; i < 200; i++)
		strcat(text, "x");
	assert_int_equal(gsm_sms_encode("+84901234567", text, 7, p, GSM_PARTS_MAX, NULL), 2);
	assert_int_equal(hexbyte(p[0].hex, 12), 0x00);
	assert_int_equal(hexbyte(p[0].hex, 14), 7 + 153); /* UDL in septets, UDH included */
	assert_int_equal(hexbyte(p[1].hex, 14), 7 + 47);
	/* 160 fits in one, 161 does not */
	text[160] = '\0';
	assert_int_equal(gsm_sms_encode("+84901234567", text, 7, p, GSM_PARTS_MAX, NULL), 1);
	text[160] = 'x';
	text[161] = '\0';
	assert_int_equal(gsm_sms_encode("+84901234567", text, 7, p, GSM_PARTS_MAX, NULL), 2);
	/* the escape of the 153rd septet moves to the next part with its € */
	text[0] = '\0';
	for (int i = 0; i < 152; i++)
		strcat(text, "x");
	strcat(text, "€yyyyyyyyyy");
	assert_int_equal(gsm_sms_encode("+84901234567", text, 7, p, GSM_PARTS_MAX, NULL), 2);
	assert_int_equal(hexbyte(p[0].hex, 14), 7 + 152);
	assert_int_equal(hexbyte(p[1].hex, 14), 7 + 12);
}

static void test_text_beyond_the_part_limit_is_cut_and_said(void **state)
{
	struct gsm_pdu p[2];
	char text[1024] = "";
	int cut = 0;
	(void)state;
	for (int i = 0; i < 500; i++)
		strcat(text, "x");
	assert_int_equal(gsm_sms_encode("+84901234567", text, 7, p, 2, &cut), 2);
	assert_int_equal(cut, 1);
	assert_int_equal(hexbyte(p[0].hex, 19), 2); /* the UDH says 2 parts */
}

static void test_reply_lines(void **state)
{
	char num[32];
	int code, dir, stat;
	(void)state;
	assert_int_equal(gsm_final("OK", NULL), GSM_OK);
	assert_int_equal(gsm_final("+CMS ERROR: 500", &code), GSM_CMS_ERROR);
	assert_int_equal(code, 500);
	assert_int_equal(gsm_final("+CME ERROR: 10", &code), GSM_CME_ERROR);
	assert_int_equal(code, 10);
	assert_int_equal(gsm_final("+CME ERROR: SIM not inserted", &code), GSM_CME_ERROR);
	assert_int_equal(code, -1);
	assert_int_equal(gsm_final("BUSY", NULL), GSM_BUSY);
	assert_int_equal(gsm_final("NO ANSWER", NULL), GSM_NO_ANSWER);
	assert_int_equal(gsm_final("NO CARRIER", NULL), GSM_NO_CARRIER);
	assert_int_equal(gsm_final("+CMGS: 12", NULL), GSM_NOT_FINAL);
	assert_int_equal(gsm_parse_creg("+CREG: 0,1", 0), 1);
	assert_int_equal(gsm_parse_creg("+CEREG: 2,5,\"1A2B\",\"01C4\",7", 0), 5);
	assert_int_equal(gsm_parse_creg("+CREG: 0", 1), 0);
	assert_int_equal(gsm_parse_creg("+CREG: 1,\"1A2B\",\"01C4\"", 1), 1);
	assert_int_equal(gsm_parse_creg("+CSQ: 1,2", 0), -1);
	assert_int_equal(gsm_parse_csq("+CSQ: 17,0"), 17);
	assert_int_equal(gsm_parse_csq("+CSQ: 99,99"), 99);
	assert_int_equal(gsm_parse_cmti("+CMTI: \"SM\",3"), 3);
	assert_int_equal(gsm_parse_cmti("+CMTI: \"ME\""), -1);
	assert_int_equal(
	    gsm_parse_clip("+CLIP: \"+84901234567\",145,\"\",0,\"\",0", num, sizeof(num)), 0);
	assert_string_equal(num, "+84901234567");
	assert_int_equal(gsm_parse_clip("+CLIP: 0901", num, sizeof(num)), -1);
	assert_int_equal(gsm_parse_clcc("+CLCC: 1,0,3,0,0,\"+84901234567\",145", &dir, &stat), 0);
	assert_int_equal(dir, 0);
	assert_int_equal(stat, 3);
	assert_int_equal(gsm_parse_first_int("+CMGL: 4,1,,24", "+CMGL:"), 4);
	assert_true(gsm_is_urc("+CMTI: \"SM\",1"));
	assert_true(gsm_is_urc("RING"));
	assert_false(gsm_is_urc("+CMGS: 3"));
	assert_true(gsm_cms_permanent(28));
	assert_false(gsm_cms_permanent(500));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_submit_matches_the_known_good_gsm7_pdu),
	    cmocka_unit_test(test_submit_ucs2_for_vietnamese),
	    cmocka_unit_test(test_bad_numbers_are_refused),
	    cmocka_unit_test(test_deliver_decodes_the_known_good_pdu),
	    cmocka_unit_test(test_deliver_ucs2_from_an_international_number),
	    cmocka_unit_test(test_deliver_from_an_alphanumeric_sender),
	    cmocka_unit_test(test_gsm7_detection),
	    cmocka_unit_test(test_300_vietnamese_characters_split_into_67_unit_parts),
	    cmocka_unit_test(test_a_surrogate_pair_is_never_split),
	    cmocka_unit_test(test_gsm7_parts_are_153_septets_and_keep_escapes_whole),
	    cmocka_unit_test(test_text_beyond_the_part_limit_is_cut_and_said),
	    cmocka_unit_test(test_reply_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
