/*
 * fuzz_gsm.c: what anybody with a phone can send the gateway (an SMS, so
 * a PDU the modem prints), the modem's reply lines, and alert texts on
 * their way to PDUs. The first byte picks: 'D' the rest is a PDU in hex,
 * 'L' a reply line, anything else the rest is an alert text. Checks the
 * contract, not only the absence of crashes: decoded strings fit their
 * buffers, every PDU is whole octets with the length AT+CMGS is given and
 * at most 140 octets of user data.
 */
#include <errno.h>

#include "fuzz.h"
#include "gateway/gsm.h"

static int hexbyte(const char *hex, size_t octet)
{
	unsigned v = 0;
	char b[3] = {hex[2 * octet], hex[2 * octet + 1], 0};
	sscanf(b, "%x", &v);
	return (int)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] == 'D') {
		struct gsm_deliver d;
		if (gsm_deliver_decode(s, &d) == 0) {
			FUZZ_CHECK(strlen(d.from) < sizeof(d.from));
			FUZZ_CHECK(strlen(d.text) < sizeof(d.text));
		}
	} else if (data[0] == 'L') {
		char num[40];
		int dir, stat, code;
		(void)gsm_final(s, &code);
		(void)gsm_is_urc(s);
		(void)gsm_parse_creg(s, 0);
		(void)gsm_parse_creg(s, 1);
		(void)gsm_parse_csq(s);
		(void)gsm_parse_cmti(s);
		if (gsm_parse_clip(s, num, sizeof(num)) == 0)
			FUZZ_CHECK(strlen(num) < sizeof(num));
		(void)gsm_parse_clcc(s, &dir, &stat);
		(void)gsm_parse_first_int(s, "+CMGL:");
	} else {
		struct gsm_pdu p[GSM_PARTS_MAX];
		int cut = 0, n = gsm_sms_encode("+84901234567", s, data[0], p, GSM_PARTS_MAX, &cut);
		FUZZ_CHECK(n == -ENOMEM || (n >= 1 && n <= GSM_PARTS_MAX));
		for (int i = 0; i < n; i++) {
			size_t len = strlen(p[i].hex);
			/* SCA 1, first octet, MR, DA 8, PID, DCS, VP: UDL at 14 */
			FUZZ_CHECK(len % 2 == 0 && len / 2 >= 15);
			FUZZ_CHECK(p[i].tpdu_len == (int)(len / 2) - 1);
			FUZZ_CHECK(len / 2 - 15 <= 140);
			if (hexbyte(p[i].hex, 12) == 0x08)
				FUZZ_CHECK(hexbyte(p[i].hex, 14) == (int)(len / 2) - 15);
			else
				FUZZ_CHECK(hexbyte(p[i].hex, 14) <= 160);
			if (n > 1)
				FUZZ_CHECK(hexbyte(p[i].hex, 19) == n &&
				           hexbyte(p[i].hex, 20) == i + 1);
		}
	}
	free(s);
	return 0;
}
