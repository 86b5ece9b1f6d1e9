/*
 * upstream.h: what the militia's software sees: the alarm feed, alerts,
 * the retained status with its last will, and the heartbeat.
 *
 * Every alarm and alert message is written to the store's outbox first
 * (upstream_queue_*), and published only after the caller has committed
 * (upstream_kick). A message leaves the outbox when the broker acknowledges
 * it (QoS 1 PUBACK); after a reconnect or a restart, everything not yet
 * acknowledged is sent again in seq order. Delivery is therefore at least
 * once: receivers deduplicate on (site, seq).
 */
#ifndef SH_UPSTREAM_H
#define SH_UPSTREAM_H

#include <stdint.h>

#include "../sensors/point.h"

struct config;
struct loop;
struct mqttc;
struct store;
struct upstream;
struct cJSON;

struct upstream_alarm_info {
	int64_t id;
	enum sh_alarm_class cls;
	enum sh_alarm_state state;
	const char *zone;
	const char *sensor;
	const char *rule;
	const char *message;
	const char *by; /* who acknowledged, silenced or reset it; NULL: the panel */
};

struct upstream *upstream_new(struct loop *l, struct store *s, const struct config *c);
void upstream_free(struct upstream *up);
void upstream_rebind(struct upstream *up, const struct config *c);

/* The connection messages go out on (the local one when no upstream broker
 * is configured). May be set before it is connected. */
void upstream_set_client(struct upstream *up, struct mqttc *client);

/* The retained status topic and the will payload for the connection. The
 * returned strings are owned by up. */
const char *upstream_status_topic(const struct upstream *up);
const char *upstream_will_payload(const struct upstream *up);

/* Queue one alarm-feed message (uncommitted). Returns 0 or -1. */
int upstream_queue_alarm(struct upstream *up, const struct upstream_alarm_info *a, int64_t wall_ms);

/* Queue one alert to one contact (config index): one row per step of its
 * escalation chain and per repeat run, each on its step's channel and due
 * at after_s (+ k * repeat_s, k < repeat_max) from wall_ms. priority: low,
 * normal, urgent. Rows of channels other than upstream are sent by the
 * outbox dispatcher (outbox.h). Not committed. */
int upstream_queue_alert(struct upstream *up, const struct upstream_alarm_info *a, int contact,
                         const char *priority, int64_t wall_ms);

/* Acknowledgment or reset of alarm: cancel its alert rows (every channel)
 * that are not yet due; a step that is due or in flight finishes. Records
 * "escalation stopped by BY" as an event when any were cancelled. Not
 * committed. */
void upstream_stop_chain(struct upstream *up, int64_t alarm, const char *by, int64_t wall_ms);

/* Queue an answer (kind "reply", e.g. the confirmation SMS of an
 * acknowledgment by SMS) to one step (config indices) of a contact, on that
 * step's channel and address. Not committed. */
int upstream_queue_reply(struct upstream *up, int contact, int step, const char *text,
                         int64_t wall_ms);

/* Queue an information message (a reminder, not an alarm) to one contact,
 * on PREFIX/SITE/notify for upstream contacts. zone may be NULL. */
int upstream_queue_notify(struct upstream *up, int contact, const char *text, const char *zone,
                          int64_t wall_ms);

/* Publish what is committed, due and not yet sent, then call the kick hook
 * (the outbox dispatcher: every commit that queued rows ends here). */
void upstream_kick(struct upstream *up);
void upstream_set_kick_hook(struct upstream *up, void (*fn)(void *ctx), void *ctx);

/* Connection events, forwarded by the daemon from the right client. */
void upstream_on_connect(struct upstream *up);
void upstream_on_disconnect(struct upstream *up);
void upstream_on_publish(struct upstream *up, int mid);

/* Publish the retained status. Takes ownership of status (a JSON object the
 * caller built; "site", "online" and "at" are added here). */
void upstream_publish_status(struct upstream *up, struct cJSON *status);

/* The last status published (with "site", "online" and "at"), NULL before
 * the first one. Owned by up; valid until the next status. */
const char *upstream_status_text(const struct upstream *up);

/* Publish a heartbeat (QoS 0, never queued). Takes ownership of hb. */
void upstream_publish_heartbeat(struct upstream *up, struct cJSON *hb);

/* Messages waiting for the broker, for status. */
int upstream_pending(struct upstream *up);
/* Why the upstream link is down (mqttc_error), or NULL. */
const char *upstream_error(const struct upstream *up);
int upstream_connected(const struct upstream *up);
/* The broker (of a cluster: the node) the link is on, "host:port", or
 * NULL when down (mqttc_peer). */
const char *upstream_peer(const struct upstream *up);

/* Alarm raised -> PUBACK, over the last 256 raised alarms sent upstream
 * since start: from queueing the feed's "raised" row (in the transaction of
 * the alarm transition) to the broker's PUBACK for it. It includes the
 * durable commit (rows are sent only once committed) and any time the row
 * waited for the link. Memory only; n is 0 before the first. */
struct upstream_latency {
	uint64_t total; /* samples since start */
	int n;          /* samples in the window (<= 256) */
	int64_t p50_us, p99_us, max_us;
};
void upstream_latency(const struct upstream *up, struct upstream_latency *out);

#endif
