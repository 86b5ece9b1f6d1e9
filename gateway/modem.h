/*
 * modem.h: a GSM modem (SIM800/SIM900, SIM7600, Quectel EC25/EC200) on a
 * serial port: SMS and voice calls out, SMS and calls in.
 *
 * The AT dialogue runs in the modem's own worker thread (gateway/worker.h);
 * the event loop never waits on the modem. What the thread has for the loop
 * (a try's result, an incoming SMS or call, a fault change) comes back on
 * the loop thread through the worker's done list.
 *
 * Two channels (gateway/channel.h), "sms" and "call":
 * - sms: DELIVERED when the modem gave +CMGS for every part; RETRY on a
 *   timeout, no network, a transient +CMS ERROR; FAILED for a number the
 *   network refuses (+CMS ERROR 1, 21, 28, 29, 50, 96, 304-306) or one
 *   that is not a number. Sent in PDU mode: GSM 7-bit when every character
 *   is in the GSM alphabet, else UCS-2; long texts as concatenated parts.
 * - call: ATD<number>; then AT+CLCC once a second: DELIVERED when the call
 *   turns active (answered), RETRY on BUSY, NO ANSWER, NO CARRIER, an
 *   ERROR or ring_s without an answer; ATH after every call.
 *
 * Faults (channel fault(), modem_fault()): "modem: not connected", "modem:
 * not answering", "modem: no SIM", "modem: SIM needs a PIN", "modem: wrong
 * SIM PIN", "modem: SIM locked (PUK)", "modem: SIM not ready", "modem: no
 * network"; NULL when fine.
 * The PIN is never logged nor shown.
 */
#ifndef SH_MODEM_H
#define SH_MODEM_H

#include <stddef.h>

#include "channel.h"
#include "config.h"

struct loop;
struct modem;

/* An incoming SMS (from: "+84...", text: UTF-8) or call (already rejected
 * with ATH), on the loop thread. The strings live during the call only. */
typedef void (*modem_sms_fn)(void *ctx, const char *from, const char *text);
typedef void (*modem_call_fn)(void *ctx, const char *from);

/* Start the modem's thread on cfg (copied: cfg may go after this). The
 * device need not exist yet: it is opened, and reopened after an unplug,
 * with a backoff, and shown as a fault meanwhile. NULL with why in err. */
struct modem *modem_new(struct loop *l, const struct config_modem *cfg, char *err, size_t errlen);
/* Stop the thread (a command in flight is abandoned; tries not reported
 * get no done()) and free everything. Accepts NULL. */
void modem_free(struct modem *m);

/* The channel for VIA_SMS or VIA_CALL (NULL for others), owned by m. The
 * outbox sets its done and done_ctx. */
struct channel *modem_channel(struct modem *m, enum contact_via v);

/* Where incoming SMS and calls go (either may be NULL). */
void modem_set_incoming(struct modem *m, modem_sms_fn on_sms, modem_call_fn on_call, void *ctx);

/* The fault text, or NULL when the modem is registered and answering. */
const char *modem_fault(const struct modem *m);
/* The last signal quality (AT+CSQ rssi 0..31, 99 unknown; -1 not read). */
int modem_signal(const struct modem *m);

#endif
