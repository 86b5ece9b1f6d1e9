/*
 * upstream.c: alarm feed, alerts, status and heartbeat, through the outbox.
 */
#include "upstream.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "mqttc.h"
#include "store.h"

#define INFLIGHT_MAX 64
#define CHANNEL_UPSTREAM "upstream"

struct inflight {
	int mid;
	int64_t seq;
};

struct upstream {
	struct loop *loop;
	struct store *store;
	const struct config *cfg;
	struct mqttc *client;
	char status_topic[SH_TOPIC_MAX];
	char *will;
	struct inflight inflight[INFLIGHT_MAX];
	int ninflight;
	int64_t last_sent; /* highest seq handed to the broker on this connection */
	char *last_status; /* re-published on reconnect */
};

static void make_topic(const struct upstream *up, const char *leaf, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%s",
	         up->cfg->upstream_prefix ? up->cfg->upstream_prefix : "safehouse",
	         up->cfg->site.id, leaf);
}

static void rebuild_will(struct upstream *up)
{
	cJSON *w = cJSON_CreateObject();
	cJSON_AddStringToObject(w, "site", up->cfg->site.id);
	cJSON_AddBoolToObject(w, "online", 0);
	free(up->will);
	up->will = cJSON_PrintUnformatted(w);
	cJSON_Delete(w);
	make_topic(up, "status", up->status_topic, sizeof(up->status_topic));
}

struct upstream *upstream_new(struct loop *l, struct store *s, const struct config *c)
{
	struct upstream *up = calloc(1, sizeof(*up));
	if (!up)
		return NULL;
	up->loop = l;
	up->store = s;
	up->cfg = c;
	rebuild_will(up);
	return up;
}

void upstream_free(struct upstream *up)
{
	if (!up)
		return;
	free(up->will);
	free(up->last_status);
	free(up);
}

void upstream_rebind(struct upstream *up, const struct config *c)
{
	up->cfg = c;
	rebuild_will(up);
}

void upstream_set_client(struct upstream *up, struct mqttc *client)
{
	up->client = client;
}

const char *upstream_status_topic(const struct upstream *up)
{
	return up->status_topic;
}

const char *upstream_will_payload(const struct upstream *up)
{
	return up->will;
}

/* zone and zone_name, as every alarm and alert message carries them. */
static void add_zone(const struct upstream *up, cJSON *o, const char *zone)
{
	const struct config *c = up->cfg;
	int z = zone ? config_zone_index(c, zone) : -1;
	if (zone)
		cJSON_AddStringToObject(o, "zone", zone);
	else
		cJSON_AddNullToObject(o, "zone");
	if (z >= 0)
		cJSON_AddStringToObject(o, "zone_name", c->zones[z].name);
	else if (zone)
		cJSON_AddStringToObject(o, "zone_name", zone);
	else
		cJSON_AddNullToObject(o, "zone_name");
}

static void add_place(const struct upstream *up, cJSON *o, int64_t wall_ms)
{
	const struct config *c = up->cfg;
	char at[32];
	if (c->site.address)
		cJSON_AddStringToObject(o, "address", c->site.address);
	else
		cJSON_AddNullToObject(o, "address");
	if (c->site.has_geo) {
		cJSON *g = cJSON_AddObjectToObject(o, "geo");
		cJSON_AddNumberToObject(g, "lat", c->site.lat);
		cJSON_AddNumberToObject(g, "lon", c->site.lon);
	} else {
		cJSON_AddNullToObject(o, "geo");
	}
	store_format_time(wall_ms, at, sizeof(at));
	cJSON_AddStringToObject(o, "at", at);
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

/* leaf is both the topic leaf and the outbox row's kind: alarm, alert, notify. */
static int queue(struct upstream *up, const char *channel, const char *contact, int64_t alarm,
                 const char *leaf, cJSON *o, int64_t seq, int64_t wall_ms)
{
	char topic[SH_TOPIC_MAX];
	char *payload = cJSON_PrintUnformatted(o);
	int rc = -1;
	if (!payload)
		goto out;
	make_topic(up, leaf, topic, sizeof(topic));
	rc = store_outbox_add(up->store, seq, leaf, channel, contact, alarm, topic, payload, 1, 0,
	                      wall_ms);
out:
	free(payload);
	cJSON_Delete(o);
	return rc;
}

int upstream_queue_alarm(struct upstream *up, const struct upstream_alarm_info *a, int64_t wall_ms)
{
	int64_t seq = store_outbox_next_seq(up->store);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -1;
	cJSON_AddStringToObject(o, "site", up->cfg->site.id);
	cJSON_AddNumberToObject(o, "id", (double)a->id);
	cJSON_AddNumberToObject(o, "seq", (double)seq);
	cJSON_AddStringToObject(o, "class", sh_class_name(a->cls));
	cJSON_AddStringToObject(o, "state", sh_alarm_state_name(a->state));
	add_zone(up, o, a->zone);
	add_str_or_null(o, "sensor", a->sensor);
	add_str_or_null(o, "rule", a->rule);
	add_str_or_null(o, "message", a->message);
	add_place(up, o, wall_ms);
	return queue(up, CHANNEL_UPSTREAM, NULL, a->id, "alarm", o, seq, wall_ms);
}

int upstream_queue_alert(struct upstream *up, const struct upstream_alarm_info *a, int contact,
                         const char *priority, int64_t wall_ms)
{
	const struct config *c = up->cfg;
	const struct config_contact *ct;
	int64_t seq;
	int z, s;
	char text[1024];
	cJSON *o;

	if (contact < 0 || contact >= c->ncontacts)
		return -1;
	ct = &c->contacts[contact];
	seq = store_outbox_next_seq(up->store);
	z = a->zone ? config_zone_index(c, a->zone) : -1;
	s = a->sensor ? config_sensor_index(c, a->sensor) : -1;
	/* The text a militia member reads on a phone: what, where, which
	 * house, which device. */
	snprintf(text, sizeof(text), "%s: %s - %s, %s.%s%s%s%s%s%s", sh_class_label_vi(a->cls),
	         z >= 0 ? c->zones[z].name : (a->zone ? a->zone : "?"),
	         c->site.name ? c->site.name : c->site.id, c->site.address ? c->site.address : "",
	         s >= 0 ? " Thiết bị: " : "", s >= 0 ? c->sensors[s].name : "",
	         a->message ? ". " : "", a->message ? a->message : "",
	         c->site.phone ? ". ĐT: " : "", c->site.phone ? c->site.phone : "");
	o = cJSON_CreateObject();
	if (!o)
		return -1;
	cJSON_AddStringToObject(o, "site", c->site.id);
	cJSON_AddNumberToObject(o, "id", (double)seq);
	cJSON_AddNumberToObject(o, "seq", (double)seq);
	if (a->id > 0)
		cJSON_AddNumberToObject(o, "alarm", (double)a->id);
	else
		cJSON_AddNullToObject(o, "alarm"); /* an alert with no alarm behind it */
	cJSON_AddStringToObject(o, "to", ct->id);
	cJSON_AddStringToObject(o, "priority", priority);
	cJSON_AddStringToObject(o, "class", sh_class_name(a->cls));
	add_zone(up, o, a->zone);
	cJSON_AddStringToObject(o, "message", text);
	add_place(up, o, wall_ms);
	if (ct->via != VIA_UPSTREAM) {
		if (ct->phone)
			cJSON_AddStringToObject(o, "phone", ct->phone);
		if (ct->url)
			cJSON_AddStringToObject(o, "url", ct->url);
	}
	return queue(up, config_via_name(ct->via), ct->id, a->id, "alert", o, seq, wall_ms);
}

int upstream_queue_notify(struct upstream *up, int contact, const char *text, const char *zone,
                          int64_t wall_ms)
{
	const struct config *c = up->cfg;
	const struct config_contact *ct;
	int64_t seq;
	cJSON *o;

	if (contact < 0 || contact >= c->ncontacts)
		return -1;
	ct = &c->contacts[contact];
	seq = store_outbox_next_seq(up->store);
	o = cJSON_CreateObject();
	if (!o)
		return -1;
	cJSON_AddStringToObject(o, "site", c->site.id);
	cJSON_AddNumberToObject(o, "id", (double)seq);
	cJSON_AddNumberToObject(o, "seq", (double)seq);
	cJSON_AddStringToObject(o, "to", ct->id);
	add_zone(up, o, zone);
	add_str_or_null(o, "message", text);
	add_place(up, o, wall_ms);
	if (ct->via != VIA_UPSTREAM && ct->phone)
		cJSON_AddStringToObject(o, "phone", ct->phone);
	return queue(up, config_via_name(ct->via), ct->id, 0, "notify", o, seq, wall_ms);
}

static int send_row(void *arg, int64_t seq, const char *topic, const char *payload, int qos,
                    int retain)
{
	struct upstream *up = arg;
	int mid = 0;
	if (up->ninflight >= INFLIGHT_MAX)
		return 1;
	if (mqttc_publish(up->client, topic, payload, strlen(payload), qos, retain, &mid) < 0)
		return 1;
	up->inflight[up->ninflight++] = (struct inflight){mid, seq};
	up->last_sent = seq;
	return 0;
}

void upstream_kick(struct upstream *up)
{
	if (!mqttc_connected(up->client))
		return;
	while (up->ninflight < INFLIGHT_MAX) {
		int64_t before = up->last_sent;
		int n = store_outbox_foreach_pending(up->store, CHANNEL_UPSTREAM, up->last_sent,
		                                     INFLIGHT_MAX - up->ninflight, send_row, up);
		/* Stop when nothing is left or nothing could be sent: a
		 * failed publish is retried on the next kick or reconnect. */
		if (n <= 0 || up->last_sent == before || !mqttc_connected(up->client))
			break;
	}
}

void upstream_on_connect(struct upstream *up)
{
	int pending;
	/* A fresh connection: libmosquitto forgot everything, so resend all
	 * that the broker has not acknowledged, oldest first. */
	up->ninflight = 0;
	up->last_sent = 0;
	pending = store_outbox_pending_count(up->store, CHANNEL_UPSTREAM);
	if (pending > 0)
		log_notice("upstream: connected; sending %d queued message(s)", pending);
	if (up->last_status)
		mqttc_publish(up->client, up->status_topic, up->last_status,
		              strlen(up->last_status), 1, 1, NULL);
	upstream_kick(up);
}

void upstream_on_disconnect(struct upstream *up)
{
	up->ninflight = 0;
	up->last_sent = 0;
}

void upstream_on_publish(struct upstream *up, int mid)
{
	for (int i = 0; i < up->ninflight; i++) {
		if (up->inflight[i].mid != mid)
			continue;
		/* Batched with telemetry: losing this mark in a crash only
		 * means the message is sent once more. */
		store_outbox_delivered(up->store, up->inflight[i].seq, loop_wall_ms());
		memmove(&up->inflight[i], &up->inflight[i + 1],
		        sizeof(up->inflight[0]) * (size_t)(up->ninflight - i - 1));
		up->ninflight--;
		upstream_kick(up);
		return;
	}
}

void upstream_publish_status(struct upstream *up, cJSON *status)
{
	char at[32];
	char *text;
	store_format_time(loop_wall_ms(), at, sizeof(at));
	cJSON_AddStringToObject(status, "site", up->cfg->site.id);
	cJSON_AddBoolToObject(status, "online", 1);
	cJSON_AddStringToObject(status, "at", at);
	text = cJSON_PrintUnformatted(status);
	cJSON_Delete(status);
	if (!text)
		return;
	free(up->last_status);
	up->last_status = text;
	mqttc_publish(up->client, up->status_topic, text, strlen(text), 1, 1, NULL);
}

const char *upstream_status_text(const struct upstream *up)
{
	return up->last_status;
}

void upstream_publish_heartbeat(struct upstream *up, cJSON *hb)
{
	char topic[SH_TOPIC_MAX], at[32];
	char *text;
	store_format_time(loop_wall_ms(), at, sizeof(at));
	cJSON_AddStringToObject(hb, "site", up->cfg->site.id);
	cJSON_AddStringToObject(hb, "at", at);
	text = cJSON_PrintUnformatted(hb);
	cJSON_Delete(hb);
	if (!text)
		return;
	make_topic(up, "heartbeat", topic, sizeof(topic));
	/* A late heartbeat is worthless; QoS 0 and never queued. */
	mqttc_publish(up->client, topic, text, strlen(text), 0, 0, NULL);
	free(text);
}

int upstream_pending(struct upstream *up)
{
	return store_outbox_pending_count(up->store, CHANNEL_UPSTREAM);
}

const char *upstream_error(const struct upstream *up)
{
	return mqttc_error(up->client);
}

int upstream_connected(const struct upstream *up)
{
	return mqttc_connected(up->client);
}
