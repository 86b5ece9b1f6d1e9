/*
 * daemon_links.c: safehoused's connections: the three MQTT clients (the
 * sensors' reports, the outputs, upstream), what arrives on them besides
 * the reports (commands, the militia's acks, Home Assistant's panel) and
 * the control socket's requests, handed to cmd.c.
 */
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "engine.h"
#include "config.h"
#include "../common/cfgload.h"
#include "../common/svc.h"
#include "daemon.h"
#include "hass.h"
#include "ingest.h"
#include "log.h"
#include "loop.h"
#include "mqttc.h"
#include "neighbours.h"
#include "outputs.h"
#include "status.h"
#include "upstream.h"

static void on_ack_message(struct daemon *dm, const struct mosquitto_message *m);
static void on_command_message(struct daemon *dm, const struct mosquitto_message *m);
static void on_hass_command(struct daemon *dm, const struct mosquitto_message *m);
static int on_neighbour_message(struct daemon *dm, const struct mosquitto_message *m);
static void neighbours_subscribe(struct daemon *dm, struct mqttc *client);

/* The output connection: commands, acks and Home Assistant's panel. */
static void on_out_message(void *ctx, const struct mosquitto_message *m)
{
	struct daemon *dm = ctx;
	if (!dm->remote && strcmp(m->topic, dm->ack_topic) == 0)
		on_ack_message(dm, m);
	else if (!dm->remote && strcmp(m->topic, dm->command_topic) == 0)
		on_command_message(dm, m);
	else if (!dm->remote && on_neighbour_message(dm, m))
		return;
	else if (hass_is_command_topic(dm->hass, m->topic))
		on_hass_command(dm, m);
}

/* ---- MQTT connection events --------------------------------------------- */

void daemon_subscribe_reports(struct daemon *dm)
{
	for (int i = 0; i < ingest_topic_count(dm->ingest); i++)
		mqttc_subscribe(dm->local, ingest_topic(dm->ingest, i));
}

static void on_local_connect(void *ctx)
{
	/* A resumed session has the subscriptions already; subscribing again
	 * is harmless and covers a broker that lost them (no persistence). */
	daemon_subscribe_reports(ctx);
}

/* The site's retained status on the local broker too when it goes
 * upstream: Home Assistant listens there, and every entity's availability
 * hangs on it (with only an upstream copy they all stayed "unavailable").
 * The local connection's will says offline, so a dead daemon shows. */
void daemon_local_status(struct daemon *dm)
{
	const char *text = upstream_status_text(dm->up);

	if (!dm->remote)
		return; /* local_out is the upstream connection: already there */
	if (text)
		mqttc_publish(dm->local_out, upstream_status_topic(dm->up), text, strlen(text), 1,
		              1, NULL);
	else
		daemon_status_changed(dm);
}

/* A clean stop says offline on the local broker as well: Home Assistant
 * must not show a stopped gateway as available. */
void daemon_local_goodbye(struct daemon *dm)
{
	const char *w = upstream_will_payload(dm->up);

	if (dm->remote && mqttc_connected(dm->local_out))
		mqttc_publish(dm->local_out, upstream_status_topic(dm->up), w, strlen(w), 1, 1,
		              NULL);
}

static void on_out_connect(void *ctx)
{
	struct daemon *dm = ctx;
	outputs_resync(dm->outputs);
	hass_announce(dm->hass);
	daemon_local_status(dm);
	if (!dm->remote) {
		mqttc_subscribe(dm->local_out, dm->ack_topic);
		mqttc_subscribe(dm->local_out, dm->command_topic);
		neighbours_subscribe(dm, dm->local_out);
		upstream_on_connect(dm->up);
		daemon_status_changed(dm);
	}
}

static void on_out_disconnect(void *ctx)
{
	struct daemon *dm = ctx;
	if (!dm->remote)
		upstream_on_disconnect(dm->up);
}

static void on_out_publish(void *ctx, int mid)
{
	struct daemon *dm = ctx;
	if (!dm->remote)
		upstream_on_publish(dm->up, mid);
}

static void on_remote_message(void *ctx, const struct mosquitto_message *m)
{
	struct daemon *dm = ctx;
	if (strcmp(m->topic, dm->ack_topic) == 0)
		on_ack_message(dm, m);
	else if (strcmp(m->topic, dm->command_topic) == 0)
		on_command_message(dm, m);
	else
		on_neighbour_message(dm, m);
}

static void on_remote_connect(void *ctx)
{
	struct daemon *dm = ctx;
	mqttc_subscribe(dm->remote, dm->ack_topic);
	/* QoS 0: never queued for us while we are away, so a command runs
	 * when it is given or not at all (its sender sees no result). */
	mqttc_subscribe_qos(dm->remote, dm->command_topic, 0);
	neighbours_subscribe(dm, dm->remote);
	upstream_on_connect(dm->up);
	/* `systemctl status` shows the militia's link as it is now. */
	svc_status("site %s: upstream connected", dm->cfg->site.id);
	daemon_status_changed(dm);
}

static void on_remote_disconnect(void *ctx)
{
	struct daemon *dm = ctx;
	const char *why = upstream_error(dm->up);
	upstream_on_disconnect(dm->up);
	svc_status("site %s: upstream down%s%s; %d message(s) wait in the outbox", dm->cfg->site.id,
	           why ? ": " : "", why ? why : "", upstream_pending(dm->up));
}

static void on_remote_publish(void *ctx, int mid)
{
	struct daemon *dm = ctx;
	upstream_on_publish(dm->up, mid);
}

/* Home Assistant's states and discovery go out on the output connection,
 * retained. */
void daemon_hass_publish(void *ctx, const char *topic, const char *payload, int qos)
{
	struct daemon *dm = ctx;
	mqttc_publish(dm->local_out, topic, payload, strlen(payload), qos, 1, NULL);
}

void daemon_hass_subscribe(void *ctx, const char *topic)
{
	struct daemon *dm = ctx;
	mqttc_subscribe(dm->local_out, topic);
}

/* The local broker's first reconnect comes quickly: a blink of the broker
 * must not keep the sensors' reports (or the sirens) waiting for seconds. */
#define LOCAL_BACKOFF_MIN_MS 200

static struct mqttc *connect_broker(struct daemon *dm, const char *name,
                                    const struct config_broker *b, int with_will,
                                    const struct mqttc_callbacks *cb)
{
	char cid[192], def[128];
	struct mqttc_addr addrs[MQTTC_ADDRS_MAX];
	int reports = strcmp(name, "local") == 0, out = strcmp(name, "local-out") == 0;
	int upstream = !reports && !out;
	struct mqttc_params p = {
	    .name = name,
	    .host = b->host,
	    .port = b->port,
	    .username = b->username,
	    .password = b->password,
	    .client_id = b->client_id,
	    .keepalive_s = b->keepalive_s,
	    .tls = b->tls,
	    .cafile = b->cafile,
	    .certfile = b->certfile,
	    .keyfile = b->keyfile,
	};
	/* A cluster: the client fails over between its nodes. */
	for (int i = 0; i < b->nhosts && i < MQTTC_ADDRS_MAX; i++) {
		addrs[i].host = b->hosts[i].host;
		addrs[i].port = b->hosts[i].port;
		p.addrs = addrs;
		p.naddrs = i + 1;
	}
	snprintf(def, sizeof(def), "safehoused-%s", dm->cfg->site.id);
	/* The local connections need ids of their own: the default one is the
	 * upstream connection's, and the local and the upstream broker may be
	 * the same broker. */
	if (!p.client_id || (!upstream && strcmp(p.client_id, def) == 0)) {
		snprintf(cid, sizeof(cid), "%s-%s", def, name);
		p.client_id = cid;
	} else if (out) {
		snprintf(cid, sizeof(cid), "%s-out", b->client_id);
		p.client_id = cid;
	}
	/* The reports' session outlives us: what the sensors say while we are
	 * down or reconnecting is queued by the broker and delivered after.
	 * So does the upstream one: an acknowledgment the militia sends while
	 * our link blinks (or the daemon restarts) waits in the commune
	 * broker and stops the escalation when we are back, instead of being
	 * lost while the police get called. */
	p.persistent = reports || upstream;
	p.defer_acks = reports;
	p.backoff_min_ms = reports || out ? LOCAL_BACKOFF_MIN_MS : 0;
	if (with_will) {
		p.will_topic = upstream_status_topic(dm->up);
		p.will_payload = upstream_will_payload(dm->up);
	}
	return mqttc_new(dm->loop, &p, cb, dm);
}

cJSON *daemon_ctl_handle(void *ctx, const cJSON *req)
{
	struct daemon *dm = ctx;
	return cmd_run(&dm->cmd, req, 0);
}

/* Home Assistant's panel: {"action":"ARM_AWAY","code":"1234"}; the code is
 * checked like any other. */
static void on_hass_command(struct daemon *dm, const struct mosquitto_message *m)
{
	const char *why = NULL;
	cJSON *req =
	    hass_command(m->payload, (size_t)(m->payloadlen > 0 ? m->payloadlen : 0), &why);
	cJSON *r;
	if (!req) {
		log_warn("homeassistant: %s: %s; ignored", m->topic, why);
		return;
	}
	r = cmd_run(&dm->cmd, req, 1);
	if (!cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")))
		log_notice("homeassistant: %s",
		           cJSON_GetStringValue(cJSON_GetObjectItem(r, "error")));
	/* Home Assistant shows the state it reads back: republish it even when
	 * the command was refused. */
	hass_sync_panel(dm->hass, 1);
	cJSON_Delete(r);
	cJSON_Delete(req);
}

/* PREFIX/SITE/command: the reply goes to PREFIX/SITE/command/result. */
static void on_command_message(struct daemon *dm, const struct mosquitto_message *m)
{
	cJSON *r = cmd_mqtt_request(&dm->cmd, m->payload, m->payloadlen);
	char topic[SH_TOPIC_MAX + 16];
	char *text = cJSON_PrintUnformatted(r);
	snprintf(topic, sizeof(topic), "%s/result", dm->command_topic);
	if (text)
		mqttc_publish(dm->remote ? dm->remote : dm->local_out, topic, text, strlen(text), 1,
		              0, NULL);
	free(text);
	cJSON_Delete(r);
}

/* ---- the neighbour group ------------------------------------------------ */

/* The feeds come where this site's own feed goes: the upstream broker, or
 * the local one when there is none. */
static struct mqttc *feed_client(struct daemon *dm)
{
	return dm->remote ? dm->remote : dm->local_out;
}

static void neighbours_subscribe(struct daemon *dm, struct mqttc *client)
{
	char topic[SH_TOPIC_MAX];
	for (int i = 0; i < dm->cfg->nneighbours; i++)
		if (neighbours_topic(dm->cfg, i, topic, sizeof(topic)) == 0)
			mqttc_subscribe(client, topic);
}

void daemon_neighbours_rebind(struct daemon *dm, const struct config *ncfg)
{
	struct mqttc *client = feed_client(dm);
	char topic[SH_TOPIC_MAX];

	if (!mqttc_connected(client))
		return; /* the next connect subscribes from the new config */
	for (int i = 0; i < dm->cfg->nneighbours; i++)
		if (neighbours_topic(dm->cfg, i, topic, sizeof(topic)) == 0 &&
		    neighbours_match(ncfg, topic) < 0)
			mqttc_unsubscribe(client, topic);
	for (int i = 0; i < ncfg->nneighbours; i++)
		if (neighbours_topic(ncfg, i, topic, sizeof(topic)) == 0 &&
		    neighbours_match(dm->cfg, topic) < 0)
			mqttc_subscribe(client, topic);
}

/* A neighbour's alarm feed: returns 1 when the topic was one. */
static int on_neighbour_message(struct daemon *dm, const struct mosquitto_message *m)
{
	struct neighbours_event ev;
	int i = neighbours_match(dm->cfg, m->topic);

	if (i < 0)
		return 0;
	if (!dm->engine)
		return 1;
	if (neighbours_parse(dm->neighbours, dm->cfg, i, m->payload,
	                     (size_t)(m->payloadlen > 0 ? m->payloadlen : 0), loop_mono_ms(),
	                     loop_wall_ms(), &ev) != 1)
		return 1;
	engine_neighbour(dm->engine, ev.neighbour, ev.cls, ev.ev, ev.address[0] ? ev.address : NULL,
	                 loop_mono_ms(), loop_wall_ms());
	daemon_schedule_flush(dm);
	daemon_schedule_tick(dm);
	return 1;
}

static void on_ack_message(struct daemon *dm, const struct mosquitto_message *m)
{
	cmd_militia_ack(&dm->cmd, m->topic, m->payload, m->payloadlen);
}

struct mqttc *daemon_connect_out(struct daemon *dm)
{
	static const struct mqttc_callbacks cb = {on_out_connect, on_out_disconnect, on_out_message,
	                                          on_out_publish, NULL};
	/* The will marks the site offline on the local broker always (Home
	 * Assistant's availability, and the upstream feed when there is no
	 * upstream broker); the upstream connection has its own. */
	return connect_broker(dm, "local-out", &dm->cfg->mqtt, 1, &cb);
}

struct mqttc *daemon_connect_remote(struct daemon *dm)
{
	static const struct mqttc_callbacks cb = {on_remote_connect, on_remote_disconnect,
	                                          on_remote_message, on_remote_publish, NULL};
	return connect_broker(dm, "upstream", &dm->cfg->upstream, 1, &cb);
}

struct mqttc *daemon_connect_reports(struct daemon *dm)
{
	static const struct mqttc_callbacks cb = {.on_connect = on_local_connect,
	                                          .on_message = daemon_on_local_message,
	                                          .barrier = daemon_local_barrier};
	return connect_broker(dm, "local", &dm->cfg->mqtt, 0, &cb);
}
