/*
 * sfeed.h: the upstream messages of a gateway, as the station reads them.
 *
 * Pure parsing: no I/O, no state, so that the fuzzer and the unit tests
 * drive it directly. Every message is checked before anything is done with
 * it: a message that fails a check is counted and logged by the caller
 * with the reason given here (what and why, in one line), and changes
 * nothing.
 */
#ifndef SH_SFEED_H
#define SH_SFEED_H

#include <stddef.h>
#include <stdint.h>

#include "station/sstore.h"

enum sfeed_kind {
	SFEED_ALARM,     /* PREFIX/SITE/alarm: one alarm state change, with seq */
	SFEED_ALERT,     /* PREFIX/SITE/alert: a call to act, with seq */
	SFEED_NOTIFY,    /* PREFIX/SITE/notify: information, with seq */
	SFEED_STATUS,    /* PREFIX/SITE/status: retained summary, or the will */
	SFEED_HEARTBEAT, /* PREFIX/SITE/heartbeat */
	/* PREFIX/SITE/bridge: a house whose mosquitto bridges the feed
	 * (deploy/mosquitto/bridge.conf): "1" while up, "0" its last will. */
	SFEED_BRIDGE,
	SFEED__COUNT
};

extern const char *const sfeed_kind_names[SFEED__COUNT];

/* Topic PREFIX/SITE/LEAF: 0 with site and kind set; -1 with why set (a
 * topic of ours we do not read, like ack or command, is -1 too). */
int sfeed_topic(const char *prefix, const char *topic, char site[SSTORE_ID_MAX],
                enum sfeed_kind *kind, char *why, size_t whylen);

/* A parsed message. Strings are copied (truncated to fit). */
struct sfeed_msg {
	enum sfeed_kind kind;
	int64_t seq;   /* alarm, alert, notify: > 0 */
	int64_t at_ms; /* the gateway's `at` (0 when the will has none) */
	/* alarm (and the alarm an alert is about, in alarm.id; 0: none) */
	struct salarm alarm;
	char by[96]; /* alarm: who changed it, "" for the panel */
	/* where the house is (alarm, alert, notify, status), when given */
	char name[128], address[256], phone[32];
	int has_geo;
	double lat, lon;
	/* alert / notify */
	char to[SSTORE_ID_MAX];
	char priority[16];
	char text[512];
	/* status, bridge */
	int online;
	char mode[16];
	int active_alarms, faults, disablements; /* -1: not given */
	/* heartbeat */
	int heartbeat_s; /* 0: not given */
	int64_t log_row; /* -1: not given */
	char log_hash[65];
};

/* Parse payload (len bytes, need not be NUL-terminated) of kind for the
 * site named by the topic. 0, or -1 with why ("seq: must be a positive
 * integer", "site: \"x\" does not match the topic's \"y\""). */
int sfeed_parse(enum sfeed_kind kind, const char *site, const char *payload, size_t len,
                struct sfeed_msg *out, char *why, size_t whylen);

/* RFC 3339 UTC ("2026-11-29T00:16:12.828Z", offsets like +07:00 too) to
 * epoch ms. 0, or -1 when it is not one. */
int sfeed_parse_time(const char *s, int64_t *ms);

/* A class's rank for the console's order: fire first. Unknown classes
 * last. */
int sfeed_class_rank(const char *cls);

#endif
