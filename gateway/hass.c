/*
 * hass.c: Home Assistant MQTT discovery payloads and the panel commands.
 */
#include "hass.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "panel.h"
#include "registry.h"
#include "store.h"

const char *hass_device_class(enum sh_kind k)
{
	switch (k) {
	case KIND_SMOKE:
		return "smoke";
	case KIND_HEAT:
		return "heat";
	case KIND_GAS:
		return "gas";
	case KIND_CO:
		return "carbon_monoxide";
	case KIND_WATER:
		return "moisture";
	case KIND_DOOR:
		return "door";
	case KIND_WINDOW:
		return "window";
	case KIND_MOTION:
		return "motion";
	case KIND_PANIC:
		return "safety";
	case KIND_POWER:
		return "power";
	case KIND_SIREN_FEEDBACK:
		return "sound";
	default:
		return NULL;
	}
}

static void topic(const struct config *c, const char *rest, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%s", c->upstream_prefix, c->site.id, rest);
}

void hass_panel_state_topic(const struct config *c, char *buf, size_t size)
{
	topic(c, "panel/state", buf, size);
}

void hass_panel_command_topic(const struct config *c, char *buf, size_t size)
{
	topic(c, "panel/set", buf, size);
}

void hass_gateway_state_topic(const struct config *c, char *buf, size_t size)
{
	topic(c, "gateway/state", buf, size);
}

void hass_sensor_topic(const struct config *c, int sensor, const char *leaf, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/sensor/%s/%s", c->upstream_prefix, c->site.id,
	         c->sensors[sensor].id, leaf);
}

const char *hass_panel_state(enum sh_mode mode, int triggered)
{
	if (triggered)
		return "triggered";
	return sh_mode_name(mode); /* disarmed, armed_home, ... are HA's words */
}

static cJSON *device(const struct config *c, const char *version)
{
	cJSON *d = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(d, "identifiers");
	char id[96];
	snprintf(id, sizeof(id), "safehouse_%s", c->site.id);
	cJSON_AddItemToArray(ids, cJSON_CreateString(id));
	cJSON_AddStringToObject(d, "name", c->site.name ? c->site.name : c->site.id);
	cJSON_AddStringToObject(d, "manufacturer", "safehouse");
	cJSON_AddStringToObject(d, "model", "safehoused gateway");
	cJSON_AddStringToObject(d, "sw_version", version);
	return d;
}

/* Site availability: the retained status the daemon keeps on the local
 * broker, also when the feed goes upstream (daemon_local_status); the
 * local connection's last will says offline. */
static void add_site_availability(const struct config *c, cJSON *avail)
{
	cJSON *a = cJSON_CreateObject();
	char t[256];
	topic(c, "status", t, sizeof(t));
	cJSON_AddStringToObject(a, "topic", t);
	cJSON_AddStringToObject(a, "value_template",
	                        "{{ 'online' if value_json.online else 'offline' }}");
	cJSON_AddStringToObject(a, "payload_available", "online");
	cJSON_AddStringToObject(a, "payload_not_available", "offline");
	cJSON_AddItemToArray(avail, a);
}

static void emit_json(hass_emit_fn emit, void *ctx, const char *t, cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);
	if (text)
		emit(ctx, t, text);
	free(text);
	cJSON_Delete(o);
}

void hass_discovery(const struct config *c, const char *version, hass_emit_fn emit, void *ctx)
{
	char t[320], st[256], uid[160];
	cJSON *o, *feat, *avail;

	/* The panel. Its own name: one equal to the device's (the site's)
	 * makes Home Assistant warn and strip it. */
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", "Báo động (alarm panel)");
	snprintf(uid, sizeof(uid), "safehouse_%s_panel", c->site.id);
	cJSON_AddStringToObject(o, "unique_id", uid);
	hass_panel_state_topic(c, st, sizeof(st));
	cJSON_AddStringToObject(o, "state_topic", st);
	hass_panel_command_topic(c, st, sizeof(st));
	cJSON_AddStringToObject(o, "command_topic", st);
	cJSON_AddStringToObject(o, "command_template",
	                        "{\"action\":\"{{ action }}\",\"code\":\"{{ code }}\"}");
	/* The gateway checks the code; Home Assistant only asks for it. */
	cJSON_AddStringToObject(o, "code", "REMOTE_CODE");
	cJSON_AddBoolToObject(o, "code_arm_required", 1);
	cJSON_AddBoolToObject(o, "code_disarm_required", 1);
	cJSON_AddBoolToObject(o, "code_trigger_required", 1);
	feat = cJSON_AddArrayToObject(o, "supported_features");
	cJSON_AddItemToArray(feat, cJSON_CreateString("arm_home"));
	cJSON_AddItemToArray(feat, cJSON_CreateString("arm_away"));
	cJSON_AddItemToArray(feat, cJSON_CreateString("arm_night"));
	avail = cJSON_AddArrayToObject(o, "availability");
	add_site_availability(c, avail);
	cJSON_AddItemToObject(o, "device", device(c, version));
	snprintf(t, sizeof(t), "%s/alarm_control_panel/%s/panel/config", c->hass_prefix,
	         c->site.id);
	emit_json(emit, ctx, t, o);

	/* The gateway's own health: a problem sensor, on while any fault is
	 * active (a store that cannot write, a lost link, a silent device),
	 * with the details as attributes. */
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", "Lỗi hệ thống (gateway fault)");
	snprintf(uid, sizeof(uid), "safehouse_%s_gateway_fault", c->site.id);
	cJSON_AddStringToObject(o, "unique_id", uid);
	hass_gateway_state_topic(c, st, sizeof(st));
	cJSON_AddStringToObject(o, "state_topic", st);
	cJSON_AddStringToObject(o, "json_attributes_topic", st);
	cJSON_AddStringToObject(o, "value_template", "{{ value_json.fault }}");
	cJSON_AddStringToObject(o, "payload_on", "ON");
	cJSON_AddStringToObject(o, "payload_off", "OFF");
	cJSON_AddStringToObject(o, "device_class", "problem");
	cJSON_AddStringToObject(o, "entity_category", "diagnostic");
	avail = cJSON_AddArrayToObject(o, "availability");
	add_site_availability(c, avail);
	cJSON_AddItemToObject(o, "device", device(c, version));
	snprintf(t, sizeof(t), "%s/binary_sensor/%s/gateway_fault/config", c->hass_prefix,
	         c->site.id);
	emit_json(emit, ctx, t, o);

	/* One binary sensor per sensor. */
	for (int s = 0; s < c->nsensors; s++) {
		const struct config_sensor *cs = &c->sensors[s];
		const char *dc = hass_device_class(cs->kind);
		cJSON *a;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", cs->name);
		snprintf(uid, sizeof(uid), "safehouse_%s_%s", c->site.id, cs->id);
		cJSON_AddStringToObject(o, "unique_id", uid);
		hass_sensor_topic(c, s, "state", st, sizeof(st));
		cJSON_AddStringToObject(o, "state_topic", st);
		cJSON_AddStringToObject(o, "payload_on", "ON");
		cJSON_AddStringToObject(o, "payload_off", "OFF");
		if (dc)
			cJSON_AddStringToObject(o, "device_class", dc);
		avail = cJSON_AddArrayToObject(o, "availability");
		a = cJSON_CreateObject();
		hass_sensor_topic(c, s, "availability", st, sizeof(st));
		cJSON_AddStringToObject(a, "topic", st);
		cJSON_AddStringToObject(a, "payload_available", "online");
		cJSON_AddStringToObject(a, "payload_not_available", "offline");
		cJSON_AddItemToArray(avail, a);
		add_site_availability(c, avail);
		cJSON_AddStringToObject(o, "availability_mode", "all");
		cJSON_AddItemToObject(o, "device", device(c, version));
		snprintf(t, sizeof(t), "%s/binary_sensor/%s/%s/config", c->hass_prefix, c->site.id,
		         cs->id);
		emit_json(emit, ctx, t, o);
	}
}

cJSON *hass_command(const char *payload, size_t len, const char **why)
{
	static const struct {
		const char *action, *cmd, *mode;
	} map[] = {
	    {"ARM_AWAY", "arm", "away"},
	    {"ARM_HOME", "arm", "home"},
	    {"ARM_NIGHT", "arm", "night"},
	    {"DISARM", "disarm", NULL},
	};
	cJSON *in = len < 4096 ? cJSON_ParseWithLength(payload, len) : NULL, *out = NULL;
	const char *action, *code;
	*why = "expected {\"action\": \"ARM_AWAY|ARM_HOME|ARM_NIGHT|DISARM\", \"code\": \"...\"}";
	if (!in || !cJSON_IsObject(in))
		goto done;
	action = cJSON_GetStringValue(cJSON_GetObjectItem(in, "action"));
	code = cJSON_GetStringValue(cJSON_GetObjectItem(in, "code"));
	if (!action)
		goto done;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].action, action) != 0)
			continue;
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "cmd", map[i].cmd);
		if (map[i].mode)
			cJSON_AddStringToObject(out, "mode", map[i].mode);
		if (code && *code)
			cJSON_AddStringToObject(out, "code", code);
		cJSON_AddStringToObject(out, "by", "homeassistant");
		break;
	}
	if (!out)
		*why = "unsupported action (ARM_AWAY, ARM_HOME, ARM_NIGHT, DISARM)";
done:
	cJSON_Delete(in);
	return out;
}

/* ---- the published states ------------------------------------------------ */

struct hass {
	struct hass_deps d;
	/* What was last published, to publish changes only; -1 unknown. */
	signed char *state, *link;
	char panel[16];
	char gateway[256];
	char cmd_topic[SH_TOPIC_MAX];
};

struct hass *hass_new(const struct hass_deps *d)
{
	struct hass *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->d = *d;
	if (hass_rebind(h, d->cfg) < 0) {
		free(h);
		return NULL;
	}
	return h;
}

void hass_free(struct hass *h)
{
	if (!h)
		return;
	free(h->state);
	free(h->link);
	free(h);
}

int hass_rebind(struct hass *h, const struct config *cfg)
{
	int n = cfg->nsensors ? cfg->nsensors : 1;
	signed char *a = malloc((size_t)n), *b = malloc((size_t)n);
	if (!a || !b) {
		free(a);
		free(b);
		return -1;
	}
	memset(a, -1, (size_t)n);
	memset(b, -1, (size_t)n);
	free(h->state);
	free(h->link);
	h->state = a;
	h->link = b;
	h->panel[0] = 0;
	h->d.cfg = cfg;
	hass_panel_command_topic(cfg, h->cmd_topic, sizeof(h->cmd_topic));
	return 0;
}

int hass_is_command_topic(const struct hass *h, const char *topic)
{
	return h && h->d.cfg->hass_enabled && strcmp(topic, h->cmd_topic) == 0;
}

/* A sensor's HA state (its primary point) and availability. */
void hass_sync_sensor(struct hass *h, int s, int force)
{
	const struct config *c;
	char t[SH_TOPIC_MAX + 64];
	enum sh_point pp;
	double v;
	signed char state = -1, link = -1;
	if (!h)
		return;
	c = h->d.cfg;
	if (!c->hass_enabled || s < 0 || s >= c->nsensors)
		return;
	pp = sh_kind_primary_point(c->sensors[s].kind);
	if (pp != POINT__COUNT && registry_get(h->d.reg, s, pp, &v) == 0)
		state = v != 0;
	if (registry_get(h->d.reg, s, POINT_ONLINE, &v) == 0)
		link = v != 0;
	else if (registry_last_seen(h->d.reg, s))
		link = 1;
	if (state >= 0 && (force || state != h->state[s])) {
		hass_sensor_topic(c, s, "state", t, sizeof(t));
		h->d.publish(h->d.ctx, t, state ? "ON" : "OFF", 0);
	}
	if (link >= 0 && (force || link != h->link[s])) {
		hass_sensor_topic(c, s, "availability", t, sizeof(t));
		h->d.publish(h->d.ctx, t, link ? "online" : "offline", 0);
	}
	h->state[s] = state;
	h->link[s] = link;
}

void hass_sync_sensors(struct hass *h)
{
	if (!h)
		return;
	for (int s = 0; s < h->d.cfg->nsensors; s++)
		hass_sync_sensor(h, s, 0);
}

/* {"fault":"ON"|"OFF","faults":N,"store":"ok"|REASON} */
void hass_sync_gateway(struct hass *h, int force)
{
	char t[SH_TOPIC_MAX], payload[sizeof(h->gateway)];
	struct store_health sh;
	int alarms, faults;
	cJSON *o;
	char *text;
	if (!h || !h->d.cfg->hass_enabled)
		return;
	panel_counts(h->d.panel, &alarms, &faults);
	store_health(h->d.store, &sh);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "fault", faults > 0 || sh.failing ? "ON" : "OFF");
	cJSON_AddNumberToObject(o, "faults", faults);
	cJSON_AddStringToObject(o, "store", sh.failing ? sh.error : "ok");
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return;
	snprintf(payload, sizeof(payload), "%s", text);
	free(text);
	if (!force && strcmp(payload, h->gateway) == 0)
		return;
	snprintf(h->gateway, sizeof(h->gateway), "%s", payload);
	hass_gateway_state_topic(h->d.cfg, t, sizeof(t));
	h->d.publish(h->d.ctx, t, payload, 1);
}

void hass_sync_panel(struct hass *h, int force)
{
	char t[SH_TOPIC_MAX];
	const char *st;
	if (!h || !h->d.cfg->hass_enabled)
		return;
	st = hass_panel_state(panel_mode(h->d.panel), panel_triggered(h->d.panel));
	if (!force && strcmp(st, h->panel) == 0)
		return;
	snprintf(h->panel, sizeof(h->panel), "%s", st);
	hass_panel_state_topic(h->d.cfg, t, sizeof(t));
	h->d.publish(h->d.ctx, t, st, 1);
}

static void emit_discovery(void *ctx, const char *topic, const char *payload)
{
	struct hass *h = ctx;
	h->d.publish(h->d.ctx, topic, payload, 1);
}

void hass_announce(struct hass *h)
{
	if (!h || !h->d.cfg->hass_enabled)
		return;
	hass_discovery(h->d.cfg, h->d.version, emit_discovery, h);
	h->d.subscribe(h->d.ctx, h->cmd_topic);
	hass_sync_panel(h, 1);
	hass_sync_gateway(h, 1);
	for (int s = 0; s < h->d.cfg->nsensors; s++)
		hass_sync_sensor(h, s, 1);
}
