/*
 * channel.h: the ways of reaching a contact: the upstream MQTT feed, SMS and
 * voice calls over the GSM modem, webhooks (Telegram, Zalo, ntfy, generic).
 *
 * Two faces, kept apart:
 *
 * - Config: struct channel_conf, one const per channel, says which keys a
 *   step of that channel takes beyond the common ones (via, phone, url,
 *   after_s, repeat_s, repeat_max) and parses them into step->opts, as a
 *   payload family parses its "mqtt" keys. channel_conf_find() is the only
 *   list of them.
 *
 * - Delivery: struct channel, one per running channel. The outbox owns
 *   every message (committed before any send) and hands one try at a time
 *   to the channel; the channel says how the try ended through done(), on
 *   the loop thread. A channel never decides that a message is lost: a
 *   permanent failure (a number the network refuses, an HTTP 4xx) is
 *   reported as such and shown to people, and the outbox decides.
 */
#ifndef SH_CHANNEL_H
#define SH_CHANNEL_H

#include <stdint.h>

#include "../common/cfg_report.h"
#include "config.h"

struct cJSON;

/* ---- config ---- */

struct channel_conf {
	enum contact_via via;
	/* Keys a step of this channel takes besides the common ones
	 * (NULL-terminated; NULL: none). Others are errors. */
	const char *const *keys;
	/* Check the step (the common keys are already in st: phone, url) and
	 * parse the channel's keys of obj into st->opts, reporting every
	 * problem through r in one pass. Returns 0 or -1. NULL: nothing to
	 * parse. */
	int (*configure)(struct config_step *st, const struct cJSON *obj,
	                 const struct cfg_report *r);
	/* Free st->opts (called only when it is set). */
	void (*free_opts)(struct config_step *st);
};

/* The config face of channel v, or NULL for an unknown one. */
const struct channel_conf *channel_conf_find(enum contact_via v);

/* ---- delivery ---- */

/* One try of one outbox message to one step of one contact. Everything
 * points into the outbox's and the config's memory and is valid only during
 * send(): a channel copies what it keeps. */
struct channel_msg {
	int64_t seq;                          /* the outbox row: the try's id */
	const struct config_contact *contact; /* NULL: the site's own feed */
	const struct config_step *step;       /* the step being run */
	const char *kind;                     /* "alert", "notify", "alarm", "reply" */
	const char *text;                     /* the human text, UTF-8 */
	const char *payload;                  /* the message as JSON (the upstream form) */
	int64_t alarm;                        /* the alarm's id, 0 for none */
	const char *zone;                     /* the alarm's zone id, NULL for none */
};

enum channel_result {
	CHANNEL_DELIVERED, /* the channel's confirmation: PUBACK, HTTP 2xx, +CMGS, answered */
	CHANNEL_RETRY,     /* not this time (timeout, busy, no network, 5xx): try again later */
	CHANNEL_FAILED,    /* never will as it is (bad number, HTTP 4xx): shown, not retried */
};

typedef void (*channel_done_fn)(void *ctx, int64_t seq, enum channel_result r, const char *detail);

struct channel {
	const char *name; /* "upstream", "sms", "call", "webhook" */
	void *impl;
	/* Start one try of m. Returns 0 when taken: done() is then called
	 * exactly once for m->seq, later, on the loop thread. -EAGAIN when the
	 * channel cannot take it now (busy, no network): the outbox offers it
	 * again later; done() is not called. Never blocks. */
	int (*send)(void *impl, const struct channel_msg *m);
	/* A short fault text for status and the fault alarm ("modem: no
	 * network"), or NULL when the channel is healthy. Owned by impl. */
	const char *(*fault)(void *impl);
	/* Set by the outbox when it takes the channel. */
	channel_done_fn done;
	void *done_ctx;
};

#endif
