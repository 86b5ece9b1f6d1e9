/*
 * gsm.c: SMS PDUs, the GSM 7-bit alphabet and AT reply lines (gsm.h).
 *
 * Why PDU mode for everything sent: text mode cannot carry the UDH that
 * joins the parts of a long message, and its character set (AT+CSCS)
 * differs between SIM800 and EC25 firmwares. A PDU is the same bytes on
 * every modem, and the same code sends ASCII, Vietnamese and long texts.
 */
#include "gsm.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TS 23.038 6.2.1: the default alphabet, by septet. 0x1B is the escape to
 * the extension table (here U+00A0, never matched: NBSP is not GSM-7). */
static const uint16_t gsm7_basic[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x000A, 0x00D8,
    0x00F8, 0x000D, 0x00C5, 0x00E5, 0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8,
    0x03A3, 0x0398, 0x039E, 0x00A0, 0x00C6, 0x00E6, 0x00DF, 0x00C9, 0x0020, 0x0021, 0x0022, 0x0023,
    0x00A4, 0x0025, 0x0026, 0x0027, 0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F,
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, 0x0038, 0x0039, 0x003A, 0x003B,
    0x003C, 0x003D, 0x003E, 0x003F, 0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047,
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F, 0x0050, 0x0051, 0x0052, 0x0053,
    0x0054, 0x0055, 0x0056, 0x0057, 0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7,
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, 0x0068, 0x0069, 0x006A, 0x006B,
    0x006C, 0x006D, 0x006E, 0x006F, 0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077,
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0};

/* TS 23.038 6.2.1.1: the extension table (after 0x1B). */
static const struct {
	uint8_t septet;
	uint16_t ch;
} gsm7_ext[] = {{0x0A, 0x000C}, {0x14, '^'}, {0x28, '{'}, {0x29, '}'}, {0x2F, '\\'},
                {0x3C, '['},    {0x3D, '~'}, {0x3E, ']'}, {0x40, '|'}, {0x65, 0x20AC}};

#define NEXT (sizeof(gsm7_ext) / sizeof(gsm7_ext[0]))

/* The septet(s) for ch: 1 or 2 (escape + ext), 0 when not GSM-7. */
static int gsm7_of(uint32_t ch, uint8_t out[2])
{
	if (ch == 0x00A0)
		return 0;
	for (int i = 0; i < 128; i++)
		if (gsm7_basic[i] == ch) {
			out[0] = (uint8_t)i;
			return 1;
		}
	for (size_t i = 0; i < NEXT; i++)
		if (gsm7_ext[i].ch == ch) {
			out[0] = 0x1B;
			out[1] = gsm7_ext[i].septet;
			return 2;
		}
	return 0;
}

/* UTF-8 to code points through iconv; an invalid byte becomes U+FFFD.
 * Returns the count and a malloc'd array (caller frees), or -1. */
static int utf8_decode(const char *s, uint32_t **out)
{
	size_t inleft = strlen(s), cap = inleft + 1, n = 0;
	uint32_t *cps = calloc(cap, sizeof(*cps));
	unsigned char *buf = malloc(4 * cap);
	iconv_t cd = iconv_open("UTF-32BE", "UTF-8");
	char *in = (char *)s;
	int r = -1;

	if (!cps || !buf || cd == (iconv_t)-1)
		goto out;
	while (inleft) {
		char *o = (char *)buf;
		size_t oleft = 4 * cap, got;
		size_t rc = iconv(cd, &in, &inleft, &o, &oleft);

		got = (4 * cap - oleft) / 4;
		for (size_t i = 0; i < got && n < cap; i++)
			cps[n++] = (uint32_t)buf[4 * i] << 24 | (uint32_t)buf[4 * i + 1] << 16 |
			           (uint32_t)buf[4 * i + 2] << 8 | buf[4 * i + 3];
		if (rc == (size_t)-1) {
			if (errno != EILSEQ && errno != EINVAL)
				goto out;
			/* one bad byte: mark it and carry on after it */
			if (n < cap)
				cps[n++] = 0xFFFD;
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	*out = cps;
	cps = NULL;
	r = (int)n;
out:
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	free(cps);
	free(buf);
	return r;
}

/* Append ch as UTF-8 to out (size), keeping room for the NUL. */
static void utf8_put(char *out, size_t size, size_t *o, uint32_t ch)
{
	char b[4];
	size_t n;

	if (ch < 0x80) {
		b[0] = (char)ch;
		n = 1;
	} else if (ch < 0x800) {
		b[0] = (char)(0xC0 | ch >> 6);
		b[1] = (char)(0x80 | (ch & 0x3F));
		n = 2;
	} else if (ch < 0x10000) {
		b[0] = (char)(0xE0 | ch >> 12);
		b[1] = (char)(0x80 | (ch >> 6 & 0x3F));
		b[2] = (char)(0x80 | (ch & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | ch >> 18);
		b[1] = (char)(0x80 | (ch >> 12 & 0x3F));
		b[2] = (char)(0x80 | (ch >> 6 & 0x3F));
		b[3] = (char)(0x80 | (ch & 0x3F));
		n = 4;
	}
	if (*o + n < size) {
		memcpy(out + *o, b, n);
		*o += n;
	}
	out[*o] = '\0';
}

int gsm_is_gsm7(const char *utf8)
{
	uint32_t *cps = NULL;
	uint8_t s[2];
	int n = utf8_decode(utf8, &cps), ok = n >= 0;

	for (int i = 0; ok && i < n; i++)
		ok = gsm7_of(cps[i], s) > 0;
	free(cps);
	return ok;
}

int gsm_number_ok(const char *number)
{
	size_t n;

	if (!number)
		return 0;
	if (*number == '+')
		number++;
	n = strlen(number);
	if (n < 3 || n > 20)
		return 0;
	return strspn(number, "0123456789") == n;
}

static void hex_put(struct gsm_pdu *p, size_t *o, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n && *o + 2 < sizeof(p->hex); i++) {
		p->hex[(*o)++] = digits[b[i] >> 4];
		p->hex[(*o)++] = digits[b[i] & 15];
	}
	p->hex[*o] = '\0';
}

/* One SMS-SUBMIT: no SMSC (the SIM's), relative validity 4 days (0xAA),
 * udh NULL or the 6-octet concatenation header; ud already packed, udl in
 * septets (GSM-7) or octets (UCS-2). */
static void submit_build(struct gsm_pdu *p, const uint8_t *da, size_t dalen, int ucs2,
                         const uint8_t *udh, const uint8_t *ud, size_t udbytes, int udl)
{
	uint8_t head[4];
	size_t o = 0;

	head[0] = 0x00;              /* SCA: the SIM's SMSC */
	head[1] = udh ? 0x51 : 0x11; /* SMS-SUBMIT, VPF relative, UDHI */
	head[2] = 0x00;              /* message reference: the modem sets it */
	hex_put(p, &o, head, 3);
	hex_put(p, &o, da, dalen);
	head[0] = 0x00;               /* PID */
	head[1] = ucs2 ? 0x08 : 0x00; /* DCS */
	head[2] = 0xAA;               /* VP: 4 days */
	head[3] = (uint8_t)udl;
	hex_put(p, &o, head, 4);
	if (udh)
		hex_put(p, &o, udh, 6);
	hex_put(p, &o, ud, udbytes);
	p->tpdu_len = (int)(o / 2) - 1;
}

/* Destination address: length in digits, type, swapped semi-octets. */
static size_t address_build(const char *number, uint8_t *da)
{
	int intl = number[0] == '+';
	const char *d = number + intl;
	size_t n = strlen(d), o = 2;

	da[0] = (uint8_t)n;
	da[1] = intl ? 0x91 : 0x81;
	for (size_t i = 0; i < n; i += 2) {
		uint8_t lo = (uint8_t)(d[i] - '0');
		uint8_t hi = i + 1 < n ? (uint8_t)(d[i + 1] - '0') : 0xF;
		da[o++] = (uint8_t)(hi << 4 | lo);
	}
	return o;
}

/* Pack septets LSB first, starting fill bits after the UDH octets. */
static size_t pack7(const uint8_t *sept, size_t n, int startbit, uint8_t *out, size_t size)
{
	size_t bits = (size_t)startbit + 7 * n, bytes = (bits + 7) / 8;

	if (bytes > size)
		return 0;
	memset(out, 0, bytes);
	for (size_t i = 0; i < n; i++) {
		size_t bit = (size_t)startbit + 7 * i;
		unsigned v = (unsigned)sept[i] << (bit % 8);
		out[bit / 8] |= (uint8_t)v;
		if (bit / 8 + 1 < bytes)
			out[bit / 8 + 1] |= (uint8_t)(v >> 8);
	}
	return bytes;
}

int gsm_sms_encode(const char *number, const char *utf8, unsigned ref, struct gsm_pdu *out, int max,
                   int *cut)
{
	uint32_t *cps = NULL;
	uint8_t da[16], udh[6], ud[160];
	uint16_t *units = NULL;
	uint8_t *sept = NULL;
	size_t nunits = 0, total;
	int n, ucs2, nparts = 0, r = -ENOMEM;

	if (cut)
		*cut = 0;
	if (!gsm_number_ok(number) || max < 1)
		return -EINVAL;
	n = utf8_decode(utf8 ? utf8 : "", &cps);
	if (n < 0)
		return -ENOMEM;
	ucs2 = !gsm_is_gsm7(utf8 ? utf8 : "");
	/* Either septets (an escape pair counts 2) or UTF-16 units. */
	units = calloc(2 * (size_t)n + 1, sizeof(*units));
	sept = calloc(2 * (size_t)n + 1, 1);
	if (!units || !sept)
		goto out;
	for (int i = 0; i < n; i++) {
		uint32_t ch = cps[i];
		if (!ucs2) {
			nunits += (size_t)gsm7_of(ch, sept + nunits);
		} else if (ch >= 0x10000 && ch <= 0x10FFFF) {
			ch -= 0x10000;
			units[nunits++] = (uint16_t)(0xD800 | ch >> 10);
			units[nunits++] = (uint16_t)(0xDC00 | (ch & 0x3FF));
		} else {
			units[nunits++] = ch > 0xFFFF ? 0xFFFD : (uint16_t)ch;
		}
	}
	total = nunits;
	address_build(number, da);
	{
		size_t dalen = address_build(number, da);
		size_t single = ucs2 ? 70 : 160, per = ucs2 ? 67 : 153, pos = 0;
		int concat = total > single, count = 0;

		/* Count the parts first: the UDH carries the total. */
		for (size_t p = 0; p < total || p == 0;) {
			size_t len = concat ? per : single;
			if (p + len > total)
				len = total - p;
			else if (len && ucs2 && units[p + len - 1] >= 0xD800 &&
			         units[p + len - 1] < 0xDC00)
				len--; /* never split a surrogate pair */
			else if (len && !ucs2 && sept[p + len - 1] == 0x1B)
				len--; /* nor an escape from its character */
			count++;
			p += len;
			if (len == 0)
				break;
		}
		if (count > max) {
			count = max;
			if (cut)
				*cut = 1;
		}
		for (int part = 0; part < count; part++) {
			size_t len = concat ? per : single, bytes;
			if (pos + len > total)
				len = total - pos;
			else if (len && ucs2 && units[pos + len - 1] >= 0xD800 &&
			         units[pos + len - 1] < 0xDC00)
				len--;
			else if (len && !ucs2 && sept[pos + len - 1] == 0x1B)
				len--;
			udh[0] = 0x05; /* UDHL */
			udh[1] = 0x00; /* IEI: concatenation, 8-bit reference */
			udh[2] = 0x03;
			udh[3] = (uint8_t)ref;
			udh[4] = (uint8_t)count;
			udh[5] = (uint8_t)(part + 1);
			if (ucs2) {
				for (size_t i = 0; i < len; i++) {
					ud[2 * i] = (uint8_t)(units[pos + i] >> 8);
					ud[2 * i + 1] = (uint8_t)units[pos + i];
				}
				bytes = 2 * len;
				submit_build(&out[part], da, dalen, 1, concat ? udh : NULL, ud,
				             bytes, (int)bytes + (concat ? 6 : 0));
			} else {
				/* 6 UDH octets are 48 bits: one fill bit to the
				 * next septet boundary, 7 septets in all. */
				bytes = pack7(sept + pos, len, concat ? 1 : 0, ud, sizeof(ud));
				submit_build(&out[part], da, dalen, 0, concat ? udh : NULL, ud,
				             bytes, (int)len + (concat ? 7 : 0));
			}
			pos += len;
		}
		nparts = count;
	}
	r = nparts;
out:
	free(cps);
	free(units);
	free(sept);
	return r;
}

/* ---- SMS-DELIVER ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void gsm7_to_utf8(const uint8_t *sept, size_t n, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		uint32_t ch = gsm7_basic[sept[i] & 0x7F];
		if (sept[i] == 0x1B && i + 1 < n) {
			ch = ' '; /* an unknown extension is a space (TS 23.038) */
			for (size_t k = 0; k < NEXT; k++)
				if (gsm7_ext[k].septet == sept[i + 1])
					ch = gsm7_ext[k].ch;
			i++;
		}
		utf8_put(out, size, &o, ch);
	}
}

static void ucs2_to_utf8(const uint8_t *b, size_t n, char *out, size_t size)
{
	iconv_t cd = iconv_open("UTF-8", "UTF-16BE");
	char *in = (char *)b, *o = out;
	size_t inleft = n & ~(size_t)1, oleft = size - 1;

	out[0] = '\0';
	if (cd == (iconv_t)-1)
		return;
	while (inleft && iconv(cd, &in, &inleft, &o, &oleft) == (size_t)-1) {
		if (errno == E2BIG || inleft < 2)
			break;
		/* a lone surrogate: skip its two octets */
		in += 2;
		inleft -= 2;
	}
	*o = '\0';
	iconv_close(cd);
}

int gsm_deliver_decode(const char *hex, struct gsm_deliver *out)
{
	uint8_t b[200];
	size_t n = 0, p = 0, len = strlen(hex);
	int fo, udhi, dcs, udl, oalen, oatype, hdr = 0;

	memset(out, 0, sizeof(*out));
	if (len % 2 || len / 2 > sizeof(b))
		return -EINVAL;
	for (; n < len / 2; n++) {
		int hi = hexval(hex[2 * n]), lo = hexval(hex[2 * n + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		b[n] = (uint8_t)(hi << 4 | lo);
	}
#define NEED(k)                                                                                    \
	do {                                                                                       \
		if (p + (size_t)(k) > n)                                                           \
			return -EINVAL;                                                            \
	} while (0)
	NEED(1);
	p += 1 + b[0]; /* SMSC */
	NEED(3);
	fo = b[p++];
	if ((fo & 0x03) != 0x00) /* not SMS-DELIVER */
		return -EINVAL;
	udhi = fo & 0x40;
	oalen = b[p++];
	oatype = b[p++];
	if (oalen > 20)
		return -EINVAL;
	NEED((oalen + 1) / 2);
	if ((oatype & 0x70) == 0x50) {
		/* alphanumeric sender: GSM-7 packed in oalen semi-octets */
		uint8_t s[24];
		size_t ns = (size_t)oalen * 4 / 7;
		for (size_t i = 0; i < ns; i++) {
			size_t bit = 7 * i;
			unsigned v = b[p + bit / 8] >> (bit % 8);
			if (bit % 8 > 1 && bit / 8 + 1 < (size_t)(oalen + 1) / 2)
				v |= (unsigned)b[p + bit / 8 + 1] << (8 - bit % 8);
			s[i] = (uint8_t)(v & 0x7F);
		}
		gsm7_to_utf8(s, ns, out->from, sizeof(out->from));
		/* a sender name is shown and logged on one line */
		for (char *c = out->from; *c; c++)
			if ((unsigned char)*c < 32)
				*c = '?';
	} else {
		size_t o = 0;
		if ((oatype & 0x70) == 0x10)
			out->from[o++] = '+';
		for (int i = 0; i < oalen; i++) {
			int d = i % 2 ? b[p + i / 2] >> 4 : b[p + i / 2] & 15;
			out->from[o++] = d < 10 ? (char)('0' + d) : d == 10 ? '*' : '#';
		}
		out->from[o] = '\0';
	}
	p += (size_t)(oalen + 1) / 2;
	NEED(1 + 1 + 7 + 1);
	p++; /* PID */
	dcs = b[p++];
	p += 7; /* SCTS */
	udl = b[p++];
	if (udhi) {
		NEED(1);
		hdr = b[p] + 1;
		NEED(hdr);
		for (int i = 1; i + 1 < hdr;) {
			int iei = b[p + i], l = b[p + i + 1];
			if (i + 2 + l > hdr)
				break;
			if (iei == 0x00 && l == 3) {
				out->concat = 1;
				out->ref = b[p + i + 2];
				out->total = b[p + i + 3];
				out->seq = b[p + i + 4];
			} else if (iei == 0x08 && l == 4) {
				out->concat = 1;
				out->ref = (unsigned)b[p + i + 2] << 8 | b[p + i + 3];
				out->total = b[p + i + 4];
				out->seq = b[p + i + 5];
			}
			i += 2 + l;
		}
	}
	/* The header is counted in UDL: a UDL shorter than it is a lie. */
	if (hdr > udl)
		return -EINVAL;
	/* DCS: general coding group bits 3..2 (00 GSM-7, 01 8-bit, 10 UCS-2) */
	if ((dcs & 0xC0) == 0x00 && (dcs & 0x0C) == 0x08) {
		NEED(udl);
		ucs2_to_utf8(b + p + hdr, (size_t)(udl - hdr), out->text, sizeof(out->text));
	} else if ((dcs & 0xC0) == 0x00 && (dcs & 0x0C) == 0x04) {
		size_t o = 0;
		NEED(udl);
		for (int i = hdr; i < udl; i++)
			utf8_put(out->text, sizeof(out->text), &o, b[p + i]);
	} else {
		uint8_t s[160];
		int skip = hdr ? (hdr * 8 + 6) / 7 : 0; /* header and fill, in septets */
		size_t ns = 0;
		if (udl > 160)
			return -EINVAL;
		NEED((udl * 7 + 7) / 8);
		for (int i = skip; i < udl; i++) {
			size_t bit = 7 * (size_t)i;
			unsigned v = b[p + bit / 8] >> (bit % 8);
			if (bit % 8 > 1 && p + bit / 8 + 1 < n)
				v |= (unsigned)b[p + bit / 8 + 1] << (8 - bit % 8);
			s[ns++] = (uint8_t)(v & 0x7F);
		}
		gsm7_to_utf8(s, ns, out->text, sizeof(out->text));
	}
#undef NEED
	return 0;
}

/* ---- AT reply lines ---- */

static int starts(const char *line, const char *prefix)
{
	return strncmp(line, prefix, strlen(prefix)) == 0;
}

enum gsm_final gsm_final(const char *line, int *code)
{
	int c = -1;
	enum gsm_final f = GSM_NOT_FINAL;

	if (strcmp(line, "OK") == 0)
		f = GSM_OK;
	else if (strcmp(line, "ERROR") == 0)
		f = GSM_ERROR;
	else if (starts(line, "+CME ERROR:")) {
		f = GSM_CME_ERROR;
		if (sscanf(line + 11, "%d", &c) != 1)
			c = -1;
	} else if (starts(line, "+CMS ERROR:")) {
		f = GSM_CMS_ERROR;
		if (sscanf(line + 11, "%d", &c) != 1)
			c = -1;
	} else if (strcmp(line, "NO CARRIER") == 0)
		f = GSM_NO_CARRIER;
	else if (strcmp(line, "BUSY") == 0)
		f = GSM_BUSY;
	else if (strcmp(line, "NO ANSWER") == 0)
		f = GSM_NO_ANSWER;
	else if (strcmp(line, "NO DIALTONE") == 0)
		f = GSM_NO_DIALTONE;
	if (code)
		*code = c;
	return f;
}

int gsm_is_urc(const char *line)
{
	static const char *const urcs[] = {"+CMTI:",
	                                   "RING",
	                                   "+CRING:",
	                                   "+CLIP:",
	                                   "+CREG:",
	                                   "+CEREG:",
	                                   "+CGREG:",
	                                   "+CDS:",
	                                   "Call Ready",
	                                   "SMS Ready",
	                                   "RDY",
	                                   "+CFUN:",
	                                   "+QIND:",
	                                   "+CPIN: NOT READY",
	                                   "UNDER-VOLTAGE",
	                                   "NORMAL POWER DOWN",
	                                   NULL};
	for (int i = 0; urcs[i]; i++)
		if (starts(line, urcs[i]))
			return 1;
	return 0;
}

int gsm_cms_permanent(int code)
{
	/* 1 unassigned number, 21 transfer rejected, 28 unidentified
	 * subscriber, 29 facility rejected, 50 not subscribed, 96 invalid
	 * mandatory information, 304/305 invalid PDU/text parameter, 306
	 * invalid text mode parameter... A full memory (322) or a network
	 * problem (38, 41, 42, 47, 500) passes, so it is retried. */
	static const int perm[] = {1, 21, 28, 29, 50, 96, 304, 305, 306};
	for (size_t i = 0; i < sizeof(perm) / sizeof(perm[0]); i++)
		if (perm[i] == code)
			return 1;
	return 0;
}

/* The integers after "PREFIX: ", up to max; quoted fields count as -1. */
static int fields(const char *line, int *v, int max)
{
	const char *p = strchr(line, ':');
	int n = 0;

	if (!p)
		return 0;
	p++;
	while (*p && n < max) {
		char *end;
		long x;
		while (*p == ' ')
			p++;
		if (*p == '"') {
			const char *q = strchr(p + 1, '"');
			if (!q)
				break;
			v[n++] = -1;
			p = q + 1;
		} else {
			x = strtol(p, &end, 10);
			if (end == p)
				v[n++] = -1;
			else
				v[n++] = (int)x;
			p = end;
			while (*p && *p != ',')
				p++;
		}
		if (*p != ',')
			break;
		p++;
	}
	return n;
}

int gsm_parse_creg(const char *line, int urc)
{
	int v[4], n;

	if (!starts(line, "+CREG:") && !starts(line, "+CEREG:") && !starts(line, "+CGREG:"))
		return -1;
	n = fields(line, v, 4);
	if (urc) {
		/* "+CREG: <stat>" or "+CREG: <stat>,"<lac>","<ci>"" */
		return n >= 1 ? v[0] : -1;
	}
	return n >= 2 ? v[1] : -1;
}

int gsm_parse_csq(const char *line)
{
	int v[2];

	if (!starts(line, "+CSQ:") || fields(line, v, 2) < 1)
		return -1;
	return v[0];
}

int gsm_parse_cmti(const char *line)
{
	int v[2];

	if (!starts(line, "+CMTI:") || fields(line, v, 2) < 2)
		return -1;
	return v[1];
}

int gsm_parse_clip(const char *line, char *number, size_t size)
{
	const char *a, *b;

	if (!starts(line, "+CLIP:") || !(a = strchr(line, '"')) || !(b = strchr(a + 1, '"')))
		return -1;
	if ((size_t)(b - a - 1) >= size)
		return -1;
	memcpy(number, a + 1, (size_t)(b - a - 1));
	number[b - a - 1] = '\0';
	return 0;
}

int gsm_parse_clcc(const char *line, int *dir, int *stat)
{
	int v[5];

	if (!starts(line, "+CLCC:") || fields(line, v, 5) < 3)
		return -1;
	*dir = v[1];
	*stat = v[2];
	return 0;
}

int gsm_parse_first_int(const char *line, const char *prefix)
{
	int v[1];

	if (!starts(line, prefix) || fields(line, v, 1) < 1)
		return -1;
	return v[0];
}
