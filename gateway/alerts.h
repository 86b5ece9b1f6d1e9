/*
 * alerts.h: answers from people who were alerted: an SMS reply ("OK",
 * "ok 12", "1", "NHẬN") or a call from a contact's phone acknowledges the
 * alarm.
 *
 * The sender is matched to a contact by any of its steps' phone numbers
 * (0912 345 678, +84912345678 and 84912345678 are one number). Only a
 * contact that allows it (ack_by_reply, ack_by_call) acknowledges; the
 * acknowledgment goes through panel_ack with by = the contact's id, which
 * also stops every escalation chain of that alarm. A confirmation SMS
 * (kind "reply") is queued to the sender through the outbox. Anything else
 * (an unknown number, a text that is not an acknowledgment) changes nothing
 * and is logged as an event. Loop thread only.
 */
#ifndef SH_ALERTS_H
#define SH_ALERTS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct panel;
struct store;
struct upstream;

struct alerts_deps {
	const struct config *cfg;
	struct panel *panel;
	struct store *store;
	struct upstream *up;
	/* After an acknowledgment: let the rules hear of it (as after a
	 * command). NULL: nothing. */
	void (*after)(void *arg);
	void *arg;
};

/* Whether text is an acknowledgment: "ok", "1", "nhận"/"nhan" (any case),
 * optionally followed by an alarm number, with surrounding spaces and a
 * trailing '.' or '!'. Returns 1 and sets *alarm (0: none given), or 0. */
int alerts_parse_reply(const char *text, int64_t *alarm);

/* Whether two phone numbers are the same line (digits only; a leading +84,
 * 84 or 0084 is the national 0). */
int alerts_same_phone(const char *a, const char *b);

/* The contact (config index) one of whose steps has this phone, and that
 * step's index (an sms step preferred, for the answer), or -1. */
int alerts_find_contact(const struct config *c, const char *phone, int *step);

/* An SMS from from_phone. Returns 1 when it acknowledged an alarm, 0 when it
 * changed nothing (logged; answered when it came from a contact and was an
 * acknowledgment with nothing to acknowledge), -1 on a store error. */
int alerts_on_reply(const struct alerts_deps *d, const char *from_phone, const char *text,
                    int64_t mono_ms, int64_t wall_ms);

/* An incoming call from from_phone (the modem rejects it). Returns 1 when it
 * acknowledged an alarm (the contact allows ack_by_call), else 0. */
int alerts_on_call(const struct alerts_deps *d, const char *from_phone, int64_t mono_ms,
                   int64_t wall_ms);

#endif
