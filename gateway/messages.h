/*
 * messages.h: every text the gateway writes for people (alerts, the faults
 * it raises itself, its fallback alarm texts), in one catalogue: Vietnamese
 * by default, English when the config says site.language "en".
 *
 * Rule authors' texts (alarm "...", notify "...") are theirs and are not
 * translated; the operator-facing log and status lines stay English.
 */
#ifndef SH_MESSAGES_H
#define SH_MESSAGES_H

#include <stddef.h>

#include "../sensors/point.h"

struct config;

enum messages_id {
	MSG_CLASS_FIRE, /* the class labels, in enum sh_alarm_class order */
	MSG_CLASS_GAS,
	MSG_CLASS_PANIC,
	MSG_CLASS_INTRUSION,
	MSG_CLASS_TAMPER,
	MSG_CLASS_SUPERVISORY,
	MSG_CLASS_FAULT,
	MSG_DEVICE,         /* "Thiết bị": before a sensor's name in an alert */
	MSG_PHONE,          /* "ĐT": before the house's phone in an alert */
	MSG_FAULT_UPSTREAM, /* the upstream link has been down too long */
	MSG_FAULT_STORE,    /* printf format, one %s: the store's error */
	MSG_KEYPAD_LOCKOUT, /* a keypad locked after wrong codes (tamper) */
	MSG_DURESS,         /* a duress code was entered (panic) */
	MSG_FAULT_MODBUS,   /* printf format: bus id %s, unit %d, ": " or "" %s, reason %s */
	MSG__COUNT
};

/* The text of id in the site's language (c NULL: Vietnamese). Static. */
const char *messages_get(const struct config *c, enum messages_id id);
/* The same for a language (enum config_language). */
const char *messages_in(int language, enum messages_id id);
/* "BÁO CHÁY" / "FIRE ALARM" ...; "?" for a class out of range. */
const char *messages_class_label(const struct config *c, enum sh_alarm_class cls);

/* What an alert says. Any string may be NULL (left out). */
struct messages_alert {
	enum sh_alarm_class cls;
	const char *room;    /* the zone's name */
	const char *house;   /* the site's name (its id when it has none) */
	const char *address; /* the site's address */
	const char *device;  /* the sensor's name */
	const char *detail;  /* the rule's message */
	const char *phone;   /* the house's phone, to call back */
};

/* Write the alert's text into buf (always NUL-terminated when size > 0).
 * The full text (for_sms 0): "CLASS: ROOM - HOUSE, ADDRESS. Thiết bị: DEVICE.
 * DETAIL. ĐT: PHONE". For an SMS (for_sms 1) the text is made to fit in as
 * few parts as the class and the house alone need (messages_sms_parts), by
 * leaving out, in this order, the device, the detail, the phone, the
 * address and the room: never the class or the house. Returns the number
 * of SMS parts of what was written, or -1 when buf is too small for even
 * the class and the house (then buf holds what fitted, cut at a character). */
int messages_alert_text(const struct config *c, const struct messages_alert *a, int for_sms,
                        char *buf, size_t size);

/* SMS parts of a UTF-8 text, counted as a modem sends it: text made only
 * of the GSM 03.38 basic character set (no extension table: ^ { } [ ] ~ |
 * \ and € go as UCS-2 too) is 7-bit, 160 characters in one part, 153 per
 * part when concatenated; any other text is UCS-2, 70 UTF-16 code units in
 * one part, 67 per part (a character outside the BMP is two units). Bytes
 * that are not UTF-8 count as one UCS-2 unit each. The empty text is one
 * part. */
int messages_sms_parts(const char *utf8);

#endif
