/*
 * gsm.h: the pure parts of talking to a GSM modem: SMS PDUs (3GPP TS 23.040)
 * in both directions, the GSM 7-bit default alphabet (TS 23.038), splitting
 * a long text into concatenated parts, and the AT reply lines (TS 27.007,
 * 27.005) that the modem worker reads. No I/O and no state: modem.c does
 * the dialogue, this file the bytes, so that tests can check the bytes.
 *
 * Text is UTF-8 in and out. Character conversion goes through iconv
 * (UTF-8 <-> UTF-32BE / UTF-16BE); invalid UTF-8 becomes U+FFFD.
 */
#ifndef SH_GSM_H
#define SH_GSM_H

#include <stddef.h>

/* Parts of one concatenated SMS at most; a longer text is cut (an alert is
 * a few lines; 8 parts are 536 Vietnamese or 1224 ASCII characters). */
#define GSM_PARTS_MAX 8
/* One SMS-SUBMIT in hex: SCA 1 + header 1+1+12+1+1+1 + UDL 1 + UD 140
 * octets, twice, plus the NUL. */
#define GSM_PDU_HEX 384

enum gsm_coding { GSM_7BIT, GSM_UCS2 };

struct gsm_pdu {
	char hex[GSM_PDU_HEX]; /* what follows the "> " prompt, before Ctrl-Z */
	int tpdu_len;          /* AT+CMGS=<this>: octets after the SMSC part */
};

/* Is every character of utf8 in the GSM 7-bit default alphabet or its
 * extension table? Then the text goes as GSM-7 (160 per SMS), else UCS-2
 * (70 per SMS). Invalid UTF-8 answers 0. */
int gsm_is_gsm7(const char *utf8);

/* Is number something an SMS or ATD can address: an optional '+', then 3
 * to 20 digits. */
int gsm_number_ok(const char *number);

/* Encode utf8 for number as SMS-SUBMIT PDUs into out[0..max-1]: one when it
 * fits (160 GSM-7 septets / 70 UTF-16 units), else concatenated parts of
 * 153 septets / 67 units with an 8-bit-reference UDH (IEI 0x00) carrying
 * ref. A part never ends inside an escape pair (GSM-7) or a surrogate pair
 * (UCS-2). Text beyond max parts is dropped and *cut set to 1 (cut may be
 * NULL). Returns the number of parts, -EINVAL for a bad number, -ENOMEM. */
int gsm_sms_encode(const char *number, const char *utf8, unsigned ref, struct gsm_pdu *out, int max,
                   int *cut);

/* One decoded SMS-DELIVER (AT+CMGR / AT+CMGL in PDU mode). */
struct gsm_deliver {
	char from[32];   /* "+8490...", or an alphanumeric sender */
	char text[1024]; /* UTF-8 */
	int concat;      /* 1 when part of a concatenated message */
	unsigned ref;    /* its reference, */
	int total, seq;  /* the part count and this part's number (1-based) */
};

/* Decode hex (with its SMSC part, as the modem prints it). Returns 0, or
 * -EINVAL when it is not a valid SMS-DELIVER. */
int gsm_deliver_decode(const char *hex, struct gsm_deliver *out);

/* ---- AT reply lines ---- */

enum gsm_final {
	GSM_NOT_FINAL, /* an information line or a URC */
	GSM_OK,
	GSM_ERROR,
	GSM_CME_ERROR, /* +CME ERROR: <n> (ME/SIM: 10 no SIM, 11 PIN, 16 wrong PIN) */
	GSM_CMS_ERROR, /* +CMS ERROR: <n> (SMS) */
	GSM_NO_CARRIER,
	GSM_BUSY,
	GSM_NO_ANSWER,
	GSM_NO_DIALTONE,
};

/* Is line a final result code? *code gets the number of +CME/+CMS ERROR
 * (-1 when the modem gives a text instead). code may be NULL. */
enum gsm_final gsm_final(const char *line, int *code);

/* Is line an unsolicited result code the worker acts on or must not take
 * for a command's reply (+CMTI, RING, +CLIP, +CREG: <stat>...). */
int gsm_is_urc(const char *line);

/* +CMS ERROR codes after which the same message will never go: the
 * network refused the number or the PDU (TS 24.011 / 27.005). */
int gsm_cms_permanent(int code);

/* "+CREG: <n>,<stat>[,...]" (a reply, urc 0) or "+CREG: <stat>[,...]" (a
 * URC, urc 1); also +CEREG and +CGREG. Returns stat (1 home, 5 roaming:
 * registered), or -1. */
int gsm_parse_creg(const char *line, int urc);
/* "+CSQ: <rssi>,<ber>": rssi 0..31, 99 unknown; -1 when not that line. */
int gsm_parse_csq(const char *line);
/* "+CMTI: "SM",<index>": the index, or -1. */
int gsm_parse_cmti(const char *line);
/* "+CLIP: "<number>",<type>...": 0 with the number, or -1. */
int gsm_parse_clip(const char *line, char *number, size_t size);
/* "+CLCC: <id>,<dir>,<stat>,<mode>,<mpty>[,"<number>",<type>]": 0 with
 * dir (0 outgoing) and stat (0 active, 2 dialling, 3 alerting, 4 incoming),
 * or -1. */
int gsm_parse_clcc(const char *line, int *dir, int *stat);
/* "+CMGL: <index>,<stat>,..." or "+CMGR: <stat>,...": the first number, or
 * -1. */
int gsm_parse_first_int(const char *line, const char *prefix);

#endif
