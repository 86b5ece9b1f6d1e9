/*
 * upstream.c: alarm feed, alerts, status and heartbeat, through the outbox.
 */
#include "upstream.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "messages.h"
#include "mqttc.h"
#include "store.h"

#define INFLIGHT_MAX 64
#define CHANNEL_UPSTREAM "upstream"
/* Latency samples: a fixed ring, no allocation; the raised rows waiting for
 * their PUBACK are remembered in a smaller ring (an older one that is
 * overwritten during a long outage just gives no sample). */
#define LAT_SAMPLES 256
#define LAT_PENDING 64

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
	int link_up;       /* last "link" event written: up */
	char *last_status; /* re-published on reconnect */
	int timer;         /* the next escalation step's due time */
	int64_t timer_due;
	int64_t dropped; /* notices dropped because the outbox was full */
	void (*kick_hook)(void *ctx);
	void *kick_ctx;
	struct {
		int64_t seq; /* 0: free */
		int64_t us;
	} lat_pending[LAT_PENDING];
	int lat_pending_next;
	int64_t lat_us[LAT_SAMPLES];
	uint64_t lat_n; /* samples ever taken; the ring holds the last 256 */
};

/* Microseconds: loop_mono_ms is too coarse for a few-ms interval. */
static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void lat_raised(struct upstream *up, int64_t seq)
{
	int i = up->lat_pending_next;
	up->lat_pending[i].seq = seq;
	up->lat_pending[i].us = mono_us();
	up->lat_pending_next = (i + 1) % LAT_PENDING;
}

static void lat_acked(struct upstream *up, int64_t seq)
{
	for (int i = 0; i < LAT_PENDING; i++) {
		if (up->lat_pending[i].seq != seq)
			continue;
		up->lat_us[up->lat_n % LAT_SAMPLES] = mono_us() - up->lat_pending[i].us;
		up->lat_n++;
		up->lat_pending[i].seq = 0;
		return;
	}
}

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
	loop_timer_cancel(up->loop, up->timer);
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

static void add_where(const struct upstream *up, cJSON *o)
{
	const struct config *c = up->cfg;
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
}

static void add_place(const struct upstream *up, cJSON *o, int64_t wall_ms)
{
	char at[32];
	add_where(up, o);
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

/* The outbox is bounded: before a row is added, make room by dropping the
 * oldest notices and replies (never an alarm or an alert). */
static void make_room(struct upstream *up, int64_t wall_ms)
{
	int n = store_outbox_make_room(up->store, up->cfg->outbox_max_pending, wall_ms);
	if (n > 0) {
		char detail[128];
		up->dropped += n;
		snprintf(detail, sizeof(detail),
		         "outbox full (%d pending at most): %d notice(s) dropped, %lld in all",
		         up->cfg->outbox_max_pending, n, (long long)up->dropped);
		log_warn("upstream: %s", detail);
		store_event(up->store, wall_ms, "outbox", "dropped", NULL, NULL, 0, 0, detail);
	}
}

/* leaf is both the topic leaf and the outbox row's kind: alarm, alert,
 * notify, reply. due_ms: an escalation step's time (0: at once). */
static int queue_at(struct upstream *up, const char *channel, const char *contact, int64_t alarm,
                    const char *leaf, cJSON *o, int64_t seq, int64_t wall_ms, int64_t due_ms,
                    int step)
{
	char topic[SH_TOPIC_MAX];
	char *payload = cJSON_PrintUnformatted(o);
	int rc = -1;
	if (!payload)
		goto out;
	make_room(up, wall_ms);
	make_topic(up, leaf, topic, sizeof(topic));
	rc = store_outbox_add_step(up->store, seq, leaf, channel, contact, alarm, topic, payload, 1,
	                           0, wall_ms, due_ms, step);
out:
	free(payload);
	cJSON_Delete(o);
	return rc;
}

static int queue(struct upstream *up, const char *channel, const char *contact, int64_t alarm,
                 const char *leaf, cJSON *o, int64_t seq, int64_t wall_ms)
{
	return queue_at(up, channel, contact, alarm, leaf, o, seq, wall_ms, 0, 0);
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
	/* Who changed it: the station shows "acknowledged by militia:an". */
	add_str_or_null(o, "by", a->by);
	add_place(up, o, wall_ms);
	if (queue(up, CHANNEL_UPSTREAM, NULL, a->id, "alarm", o, seq, wall_ms) < 0)
		return -1;
	if (a->state == ALARM_RAISED)
		lat_raised(up, seq);
	return 0;
}

/* The text a militia member reads on a phone: what, where, which house,
 * which device, in the site's language; for an SMS shortened to the fewest
 * parts (messages.h). */
static void alert_text(const struct upstream *up, const struct upstream_alarm_info *a, int for_sms,
                       char *text, size_t size)
{
	const struct config *c = up->cfg;
	int z = a->zone ? config_zone_index(c, a->zone) : -1;
	int s = a->sensor ? config_sensor_index(c, a->sensor) : -1;
	struct messages_alert m = {
	    .cls = a->cls,
	    .room = z >= 0 ? c->zones[z].name : (a->zone ? a->zone : NULL),
	    .house = c->site.name ? c->site.name : c->site.id,
	    .address = c->site.address,
	    .device = s >= 0 ? c->sensors[s].name : NULL,
	    .detail = a->message,
	    .phone = c->site.phone,
	};
	messages_alert_text(c, &m, for_sms, text, size);
}

/* One run of one step: its own row and seq (receivers deduplicate on (site,
 * seq); a repeated call is a new message). */
static int queue_step(struct upstream *up, const struct upstream_alarm_info *a,
                      const struct config_contact *ct, int step, int run, const char *priority,
                      const char *text, int64_t wall_ms)
{
	const struct config *c = up->cfg;
	const struct config_step *st = &ct->steps[step];
	int64_t seq = store_outbox_next_seq(up->store);
	int64_t due = wall_ms + ((int64_t)st->after_s + (int64_t)run * st->repeat_s) * 1000;
	cJSON *o = cJSON_CreateObject();

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
	if (ct->nsteps > 1 || run > 0) {
		/* 1-based, as people count them. */
		cJSON_AddNumberToObject(o, "step", step + 1);
		if (run > 0)
			cJSON_AddNumberToObject(o, "repeat", run);
	}
	if (st->via != VIA_UPSTREAM) {
		if (st->phone)
			cJSON_AddStringToObject(o, "phone", st->phone);
		if (st->url)
			cJSON_AddStringToObject(o, "url", st->url);
	}
	return queue_at(up, config_via_name(st->via), ct->id, a->id, "alert", o, seq, wall_ms,
	                due == wall_ms ? 0 : due, step);
}

int upstream_queue_alert(struct upstream *up, const struct upstream_alarm_info *a, int contact,
                         const char *priority, int64_t wall_ms)
{
	const struct config *c = up->cfg;
	const struct config_contact *ct;
	char text[1024], sms[1024];
	int rc = 0;

	if (contact < 0 || contact >= c->ncontacts)
		return -1;
	ct = &c->contacts[contact];
	alert_text(up, a, 0, text, sizeof(text));
	alert_text(up, a, 1, sms, sizeof(sms));
	/* The whole chain is queued now, in the caller's transaction with the
	 * alarm's: every step is on the disk before the first is sent, and a
	 * restart runs the rest on time. An acknowledgment cancels what is
	 * not yet due (upstream_stop_chain). */
	for (int i = 0; i < ct->nsteps; i++) {
		const struct config_step *st = &ct->steps[i];
		int runs = st->repeat_s > 0 ? (st->repeat_max > 0 ? st->repeat_max : 1) : 1;
		for (int k = 0; k < runs; k++)
			if (queue_step(up, a, ct, i, k, priority, st->via == VIA_SMS ? sms : text,
			               wall_ms) < 0)
				rc = -1;
	}
	return rc;
}

void upstream_stop_chain(struct upstream *up, int64_t alarm, const char *by, int64_t wall_ms)
{
	char why[160], detail[224];
	int n;
	if (!up || alarm <= 0)
		return;
	snprintf(why, sizeof(why), "cancelled: escalation stopped by %s", by ? by : "?");
	n = store_outbox_cancel_alarm(up->store, alarm, wall_ms, why);
	if (n <= 0)
		return;
	snprintf(detail, sizeof(detail),
	         "alarm %lld: escalation stopped by %s (%d step(s) cancelled)", (long long)alarm,
	         by ? by : "?", n);
	log_notice("upstream: %s", detail);
	store_event(up->store, wall_ms, by ? by : "panel", "escalation", NULL, NULL, 0, 0, detail);
}

int upstream_queue_reply(struct upstream *up, int contact, int step, const char *text,
                         int64_t wall_ms)
{
	const struct config *c = up->cfg;
	const struct config_contact *ct;
	int64_t seq;
	cJSON *o;

	if (contact < 0 || contact >= c->ncontacts || step < 0 ||
	    step >= c->contacts[contact].nsteps)
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
	cJSON_AddStringToObject(o, "message", text);
	add_place(up, o, wall_ms);
	if (ct->steps[step].phone)
		cJSON_AddStringToObject(o, "phone", ct->steps[step].phone);
	return queue_at(up, config_via_name(ct->steps[step].via), ct->id, 0, "reply", o, seq,
	                wall_ms, 0, step);
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

static int in_flight(const struct upstream *up, int64_t seq)
{
	for (int i = 0; i < up->ninflight; i++)
		if (up->inflight[i].seq == seq)
			return 1;
	return 0;
}

static int send_row(void *arg, const struct store_outbox_row *r)
{
	struct upstream *up = arg;
	int mid = 0;
	if (in_flight(up, r->seq))
		return 0;
	if (up->ninflight >= INFLIGHT_MAX)
		return 1;
	if (mqttc_publish(up->client, r->topic, r->payload, strlen(r->payload), r->qos, r->retain,
	                  &mid) < 0)
		return 1;
	up->inflight[up->ninflight++] = (struct inflight){mid, r->seq};
	if (r->kind && strcmp(r->kind, "alert") == 0 && r->due_ms > 0) {
		/* A later step of a chain: people see when it ran. */
		char detail[192];
		snprintf(detail, sizeof(detail),
		         "alarm %lld: step %d to %s via upstream (seq %lld)", (long long)r->alarm,
		         r->step + 1, r->contact ? r->contact : "-", (long long)r->seq);
		store_event(up->store, loop_wall_ms(), "outbox", "escalation", NULL, NULL, 0, 0,
		            detail);
		log_notice("upstream: %s", detail);
	}
	return 0;
}

static void due_timer(void *ctx)
{
	struct upstream *up = ctx;
	up->timer = 0;
	up->timer_due = 0;
	upstream_kick(up);
}

/* Wake for the next step of a chain: rows that are not yet due wait in the
 * store, not in memory, so a restart loses none. */
static void arm_timer(struct upstream *up)
{
	int64_t now = loop_wall_ms();
	int64_t next = store_outbox_next_due(up->store, CHANNEL_UPSTREAM, now);
	if (next == up->timer_due && up->timer)
		return;
	loop_timer_cancel(up->loop, up->timer);
	up->timer = 0;
	up->timer_due = next;
	if (next > 0)
		up->timer = loop_timer_add(up->loop, next - now, due_timer, up);
}

void upstream_set_kick_hook(struct upstream *up, void (*fn)(void *ctx), void *ctx)
{
	up->kick_hook = fn;
	up->kick_ctx = ctx;
}

void upstream_kick(struct upstream *up)
{
	arm_timer(up);
	if (up->kick_hook)
		up->kick_hook(up->kick_ctx);
	if (!mqttc_connected(up->client))
		return;
	/* Every due pending row not already with the broker, in seq order;
	 * rows the broker acknowledged are no longer pending (the store lays
	 * its unwritten marks over what it reads). */
	store_outbox_foreach_due(up->store, CHANNEL_UPSTREAM, loop_wall_ms(), send_row, up);
}

void upstream_on_connect(struct upstream *up)
{
	int pending;
	/* A fresh connection: libmosquitto forgot everything, so resend all
	 * that the broker has not acknowledged, oldest first. */
	up->ninflight = 0;
	/* The link's ups and downs are events: the compliance report's
	 * availability of the upstream link is computed from them. */
	if (!up->link_up)
		store_event(up->store, loop_wall_ms(), "upstream", "link", NULL, NULL, 0, 0, "up");
	up->link_up = 1;
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
	if (up->link_up)
		store_event(up->store, loop_wall_ms(), "upstream", "link", NULL, NULL, 0, 0,
		            "down");
	up->link_up = 0;
}

void upstream_on_publish(struct upstream *up, int mid)
{
	for (int i = 0; i < up->ninflight; i++) {
		if (up->inflight[i].mid != mid)
			continue;
		/* Batched with telemetry: losing this mark in a crash only
		 * means the message is sent once more. */
		store_outbox_delivered(up->store, up->inflight[i].seq, loop_wall_ms());
		lat_acked(up, up->inflight[i].seq);
		memmove(&up->inflight[i], &up->inflight[i + 1],
		        sizeof(up->inflight[0]) * (size_t)(up->ninflight - i - 1));
		up->ninflight--;
		/* Refill only when the window runs low: a kick reads the store,
		 * and a burst of acks must not cost a read each. */
		if (up->ninflight < INFLIGHT_MAX / 2)
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
	/* Who and where the house is, so that a station shows a house it has
	 * no directory entry for (first seen) with its name and phone. */
	if (!cJSON_GetObjectItem(status, "name"))
		add_str_or_null(status, "name", up->cfg->site.name);
	add_str_or_null(status, "phone", up->cfg->site.phone);
	add_where(up, status);
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
	/* The station's reporting window is 3 heartbeats unless it says. */
	cJSON_AddNumberToObject(hb, "heartbeat_s", up->cfg->heartbeat_s);
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

const char *upstream_peer(const struct upstream *up)
{
	return mqttc_peer(up->client);
}

int upstream_connected(const struct upstream *up)
{
	return mqttc_connected(up->client);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

void upstream_latency(const struct upstream *up, struct upstream_latency *out)
{
	int64_t v[LAT_SAMPLES];
	int n = up->lat_n < LAT_SAMPLES ? (int)up->lat_n : LAT_SAMPLES;
	memset(out, 0, sizeof(*out));
	out->total = up->lat_n;
	out->n = n;
	if (n == 0)
		return;
	memcpy(v, up->lat_us, sizeof(v[0]) * (size_t)n);
	qsort(v, (size_t)n, sizeof(v[0]), cmp_i64);
	/* Nearest rank, like the benches. */
	out->p50_us = v[(n * 50 + 99) / 100 - 1];
	out->p99_us = v[(n * 99 + 99) / 100 - 1];
	out->max_us = v[n - 1];
}
