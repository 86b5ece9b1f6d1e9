/*
 * shelly.c: the Shelly Gen2 (Plus, Pro, Gen3/Gen4) payload family.
 *
 * A sensor's configured topic is the device's MQTT prefix, its client id
 * by default (e.g. "shellyplussmoke-a8032ab12345"). The device publishes
 * (shelly-api-docs.shelly.cloud, gen2: General/Notifications, Smoke,
 * DevicePower):
 *   PREFIX/events/rpc   JSON-RPC notifications:
 *                       {"src":..,"dst":..,"method":"NotifyStatus","params":
 *                        {"ts":..,"smoke:0":{"id":0,"alarm":true,"mute":false}}}
 *                       NotifyFullStatus (every component), and NotifyEvent
 *                       {"params":{"ts":..,"events":[{"component":"smoke:0",
 *                        "id":0,"event":"smoke.alarm","ts":..}]}}
 *   PREFIX/online       "true" / "false" (the connection's last will)
 *   PREFIX/status/smoke:0, PREFIX/status/devicepower:0
 *                       the component's whole status, when "Generic status
 *                       update" (status_ntf) is on
 * The smoke component's "alarm" feeds the smoke point; "mute" (the buzzer
 * silenced on the device) changes nothing here: the smoke is still there.
 * devicepower:0 {"battery":{"V":2.9,"percent":85}} feeds the battery.
 * Every well-formed notification proves the device alive.
 *
 * Outputs are Shelly relays (switch:N): Switch.Set on the output's
 * configured topic, the device's PREFIX/rpc.
 */
#include "family.h"
#include "fjson.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHELLY_DEFAULT_SMOKE "smoke:0"
#define SHELLY_DEFAULT_SWITCH "switch:0"
#define SHELLY_POWER "devicepower:0"
#define SHELLY_MAX_ID 99

/* A binding's component; a binding without opts uses the default. */
struct shelly_opts {
	char component[16]; /* "smoke:N" for a sensor, "switch:N" for an output */
	int id;             /* N */
};

enum role { R_EVENTS, R_ONLINE, R_STATUS, R_POWER };

static const char *component_of(const struct family_binding *b)
{
	const struct shelly_opts *o = b->opts;
	if (o)
		return o->component;
	return b->is_output ? SHELLY_DEFAULT_SWITCH : SHELLY_DEFAULT_SMOKE;
}

static int shelly_topics(const struct family_binding *b, char out[][256], int max)
{
	const char *t = b->topic;
	int n;

	if (!t || max < 4)
		return 0;
	n = snprintf(out[R_EVENTS], 256, "%s/events/rpc", t);
	n |= snprintf(out[R_ONLINE], 256, "%s/online", t);
	n |= snprintf(out[R_STATUS], 256, "%s/status/%s", t, component_of(b));
	n |= snprintf(out[R_POWER], 256, "%s/status/%s", t, SHELLY_POWER);
	(void)n; /* the config keeps the prefix short enough */
	return 4;
}

/* ---- decoding ---------------------------------------------------------- */

/* The smoke component's status (whole, or the changed part of it). Returns
 * how many usable fields it held. */
static int decode_smoke(const cJSON *st, struct fjson_values *vs, struct family_drops *d)
{
	const cJSON *alarm, *mute;
	int usable = 0;

	if (!cJSON_IsObject(st)) {
		fjson_drop(d, "smoke", REJECT_BAD_TYPE, "not an object", st);
		return 0;
	}
	alarm = cJSON_GetObjectItemCaseSensitive(st, "alarm");
	mute = cJSON_GetObjectItemCaseSensitive(st, "mute");
	if (cJSON_IsBool(alarm)) {
		fjson_put(vs, POINT_SMOKE, cJSON_IsTrue(alarm));
		usable++;
	} else if (alarm && !cJSON_IsNull(alarm)) {
		fjson_drop(d, "alarm", REJECT_BAD_TYPE, "not a boolean", alarm);
	}
	if (cJSON_IsBool(mute))
		usable++;
	else if (mute && !cJSON_IsNull(mute))
		fjson_drop(d, "mute", REJECT_BAD_TYPE, "not a boolean", mute);
	/* {"id":0} alone, or a key we do not read: still the device. */
	if (!alarm && !mute)
		usable++;
	return usable;
}

/* devicepower:0 {"id":0,"battery":{"V":2.9,"percent":85},"external":..}. */
static int decode_power(const cJSON *st, struct fjson_values *vs, struct family_drops *d)
{
	const cJSON *bat, *pct;

	if (!cJSON_IsObject(st)) {
		fjson_drop(d, "devicepower", REJECT_BAD_TYPE, "not an object", st);
		return 0;
	}
	bat = cJSON_GetObjectItemCaseSensitive(st, "battery");
	if (!bat)
		return 1;
	if (!cJSON_IsObject(bat)) {
		fjson_drop(d, "battery", REJECT_BAD_TYPE, "not an object", bat);
		return 0;
	}
	pct = cJSON_GetObjectItemCaseSensitive(bat, "percent");
	/* The docs give "number or null": null is no reading. */
	if (!pct || cJSON_IsNull(pct))
		return 1;
	if (!cJSON_IsNumber(pct)) {
		fjson_drop(d, "percent", REJECT_BAD_TYPE, "not a number", pct);
		return 0;
	}
	if (!isfinite(pct->valuedouble) || pct->valuedouble < 0 || pct->valuedouble > 100) {
		fjson_drop(d, "percent", REJECT_BAD_VALUE, "out of range", pct);
		return 0;
	}
	fjson_put(vs, POINT_BATTERY, pct->valuedouble);
	return 1;
}

/* NotifyEvent: params.events[], each {"component":..,"event":..}. */
static int decode_events(const cJSON *params, const char *comp, struct fjson_values *vs,
                         struct family_drops *d)
{
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(params, "events"), *ev;

	if (!cJSON_IsArray(events)) {
		fjson_drop(d, "events", REJECT_BAD_TYPE, "not an array", events);
		return 0;
	}
	cJSON_ArrayForEach(ev, events)
	{
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(ev, "component");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "event");
		if (!cJSON_IsString(c) || strcmp(c->valuestring, comp) != 0)
			continue;
		if (!cJSON_IsString(e)) {
			fjson_drop(d, "event", REJECT_BAD_TYPE, "not a string", e);
			continue;
		}
		/* smoke.alarm_test sounds the buzzer, with no event for its
		 * end: it is not a state to hold, and is only a sign of life. */
		if (strcmp(e->valuestring, "smoke.alarm") == 0)
			fjson_put(vs, POINT_SMOKE, 1);
		else if (strcmp(e->valuestring, "smoke.alarm_off") == 0)
			fjson_put(vs, POINT_SMOKE, 0);
	}
	/* A notification from the device, whatever it is about. */
	return 1;
}

static int decode_rpc(const cJSON *root, const char *comp, struct fjson_values *vs,
                      struct family_drops *d)
{
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params"), *st;
	int usable = 0;

	if (!cJSON_IsString(method)) {
		if (method)
			fjson_drop(d, "method", REJECT_BAD_TYPE, "not a string", method);
		return 0;
	}
	if (!cJSON_IsObject(params)) {
		fjson_drop(d, "params", REJECT_BAD_TYPE, "not an object", params);
		return 0;
	}
	if (strcmp(method->valuestring, "NotifyEvent") == 0)
		return decode_events(params, comp, vs, d);
	if (strcmp(method->valuestring, "NotifyStatus") != 0 &&
	    strcmp(method->valuestring, "NotifyFullStatus") != 0)
		return 0;
	st = cJSON_GetObjectItemCaseSensitive(params, comp);
	if (st)
		usable += decode_smoke(st, vs, d);
	st = cJSON_GetObjectItemCaseSensitive(params, SHELLY_POWER);
	if (st)
		usable += decode_power(st, vs, d);
	/* A notification about another component (wifi, sys) still comes
	 * from the device: a sign of life. */
	if (!usable && !d->count)
		usable = 1;
	return usable;
}

static int shelly_decode(const struct family_binding *b, int which, const void *payload, size_t len,
                         struct sh_point_value *out, int *n, enum family_reject *why,
                         struct family_drops *drops)
{
	struct family_drops local;
	struct fjson_values vs = {.n = 0};
	const char *comp = component_of(b);
	char word[16];
	cJSON *root = NULL;
	int usable = 0, rc = -1;

	*n = 0;
	*why = REJECT_NONE;
	if (!drops)
		drops = &local;
	memset(drops, 0, sizeof(*drops));
	if (len > FAMILY_MAX_PAYLOAD) {
		*why = REJECT_TOO_LARGE;
		return -1;
	}
	fjson_values_init(&vs);

	switch (which) {
	case R_ONLINE:
		if (fjson_word(payload, len, word, sizeof(word)) < 0) {
			*why = REJECT_BAD_VALUE;
			goto out;
		}
		if (strcmp(word, "true") == 0)
			fjson_put(&vs, POINT_ONLINE, 1);
		else if (strcmp(word, "false") == 0)
			fjson_put(&vs, POINT_ONLINE, 0);
		else {
			*why = REJECT_BAD_VALUE;
			goto out;
		}
		usable = 1;
		break;
	case R_EVENTS:
	case R_STATUS:
	case R_POWER:
		root = fjson_parse_object(payload, len, why);
		if (!root)
			goto out;
		if (which == R_EVENTS)
			usable = decode_rpc(root, comp, &vs, drops);
		else if (which == R_STATUS)
			usable = decode_smoke(root, &vs, drops);
		else
			usable = decode_power(root, &vs, drops);
		break;
	default:
		*why = REJECT_UNKNOWN_TOPIC;
		goto out;
	}
	if (!usable) {
		*why = drops->count ? drops->why : REJECT_NO_FIELDS;
		goto out;
	}
	memcpy(out, vs.v, sizeof(vs.v[0]) * (size_t)vs.n);
	*n = vs.n;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/* Switch.Set on a relay (shelly-api-docs gen2 Switch): on/off, and for a
 * siren with a duration, toggle_after so that the device itself stops it
 * if the gateway goes silent. */
static int shelly_encode_output(const struct family_binding *b, const struct family_output_cmd *cmd,
                                char *buf, size_t size)
{
	const struct shelly_opts *o = b->opts;
	int id = o ? o->id : 0, len;

	if (cmd->on && cmd->siren && cmd->duration_s > 0)
		len = snprintf(buf, size,
		               "{\"id\":1,\"src\":\"safehouse\",\"method\":\"Switch.Set\","
		               "\"params\":{\"id\":%d,\"on\":true,\"toggle_after\":%d}}",
		               id, cmd->duration_s);
	else
		len = snprintf(buf, size,
		               "{\"id\":1,\"src\":\"safehouse\",\"method\":\"Switch.Set\","
		               "\"params\":{\"id\":%d,\"on\":%s}}",
		               id, cmd->on ? "true" : "false");
	return len < 0 || (size_t)len >= size ? -1 : len;
}

/* ---- configuration ----------------------------------------------------- */

static const char *const shelly_keys[] = {"component", NULL};

static void shelly_free_opts(struct family_binding *b)
{
	free(b->opts);
	b->opts = NULL;
}

static int shelly_configure(struct family_binding *b, const struct cJSON *mqtt,
                            const struct cfg_report *cfg)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(mqtt, "component");
	const char *type = b->is_output ? "switch" : "smoke";
	struct shelly_opts *o;
	size_t tl = strlen(type);
	char *end;
	long id;

	if (b->topic && strlen(b->topic) > 200) {
		cfg->report(cfg->ctx, 0, cJSON_GetObjectItemCaseSensitive(mqtt, "topic"), "topic",
		            "too long for a Shelly prefix: at most 200 bytes, so that "
		            "PREFIX/status/COMPONENT fits");
		return -1;
	}
	if (!b->is_output && b->kind != KIND_SMOKE) {
		cfg->report(cfg->ctx, 0, c ? c : mqtt, c ? "component" : "",
		            "a Shelly smoke component feeds a smoke sensor; this sensor is of kind "
		            "%s (give it \"kind\": \"smoke\")",
		            sh_kind_name(b->kind));
		return -1;
	}
	if (!c)
		return 0;
	if (!cJSON_IsString(c)) {
		cfg->report(cfg->ctx, 0, c, "component", "expected a string such as \"%s:0\"",
		            type);
		return -1;
	}
	if (strncmp(c->valuestring, type, tl) != 0 || c->valuestring[tl] != ':' ||
	    !(c->valuestring[tl + 1] >= '0' && c->valuestring[tl + 1] <= '9')) {
		cfg->report(cfg->ctx, 0, c, "component",
		            "\"%.40s\" is not a %s component: expected \"%s:N\" (%s)",
		            c->valuestring, type, type,
		            b->is_output ? "an output drives a relay" : "this version reads smoke");
		return -1;
	}
	id = strtol(c->valuestring + tl + 1, &end, 10);
	if (*end || id < 0 || id > SHELLY_MAX_ID) {
		cfg->report(cfg->ctx, 0, c, "component",
		            "\"%.40s\": the id must be a number 0 to %d", c->valuestring,
		            SHELLY_MAX_ID);
		return -1;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return -1;
	snprintf(o->component, sizeof(o->component), "%s:%ld", type, id);
	o->id = (int)id;
	b->opts = o;
	return 0;
}

const struct family family_shelly = {
    .name = "shelly",
    .keys = shelly_keys,
    .configure = shelly_configure,
    .free_opts = shelly_free_opts,
    .topics = shelly_topics,
    .decode = shelly_decode,
    .encode_output = shelly_encode_output,
};
