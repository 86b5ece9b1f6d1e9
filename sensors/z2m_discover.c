/*
 * z2m_discover.c: classify a zigbee2mqtt device by its exposes.
 *
 * The exposes are zigbee-herdsman-converters' (src/lib/exposes.ts) as
 * zigbee2mqtt serialises them in bridge/devices: {type, name, property,
 * access (1 STATE, 2 SET, 4 GET), value_on/value_off, values, unit,
 * features}. The properties read are those the zigbee2mqtt family decodes
 * (zigbee2mqtt.c), so that what discover proposes is what the gateway
 * then reads.
 */
#include "z2m_discover.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "z2m_siren.h"

#define ACCESS_SET 2

static const char *sget(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

const cJSON *z2m_expose_find(const cJSON *exposes, const char *prop)
{
	const cJSON *e;
	if (!cJSON_IsArray(exposes))
		return NULL;
	cJSON_ArrayForEach(e, exposes)
	{
		const char *p = sget(e, "property");
		if (!p)
			p = sget(e, "name");
		if (p && strcmp(p, prop) == 0)
			return e;
	}
	return NULL;
}

const cJSON *z2m_expose_feature(const cJSON *composite, const char *name)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(composite, "features"))
	{
		const char *n = sget(f, "name");
		if (n && strcmp(n, name) == 0)
			return f;
	}
	return NULL;
}

int z2m_expose_settable(const cJSON *e)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "access");
	/* A bit mask of 3 bits; anything else (1e300, -1, NaN) is no access. */
	return cJSON_IsNumber(a) && a->valuedouble >= 0 && a->valuedouble <= 255 &&
	       ((int)a->valuedouble & ACCESS_SET);
}

static int is_type(const cJSON *e, const char *t)
{
	const char *v = sget(e, "type");
	return v && strcmp(v, t) == 0;
}

/* A read-only binary: what a detector reports (a settable one is a
 * setting, like TS0601_smoke_5's "alarm", "Enable the alarm"). */
static const cJSON *state_binary(const cJSON *exposes, const char *prop)
{
	const cJSON *e = z2m_expose_find(exposes, prop);
	return e && is_type(e, "binary") && !z2m_expose_settable(e) ? e : NULL;
}

/* The detection properties, one per kind (zigbee2mqtt.c's fields). */
static const struct {
	const char *prop;
	enum sh_kind kind;
} detections[] = {
    {"smoke", KIND_SMOKE},        {"heat", KIND_HEAT},        {"gas", KIND_GAS},
    {"carbon_monoxide", KIND_CO}, {"water_leak", KIND_WATER}, {"contact", KIND_DOOR},
    {"occupancy", KIND_MOTION},   {"sos", KIND_PANIC},
};
#define NDETECTIONS (sizeof(detections) / sizeof(detections[0]))

/* Action values that say a press is an emergency or a plain press of a
 * single-purpose button (zigbee2mqtt.c's panic_actions, plus "single":
 * Heiman HS1EB's off/single/double/hold). */
static const char *const press_actions[] = {"emergency",   "sos",    "panic",
                                            "sos_pressed", "single", NULL};

static int action_is_button(const cJSON *exposes, char *vals, size_t len)
{
	const cJSON *a = z2m_expose_find(exposes, "action"), *v;
	size_t n = 0;
	int press = 0;
	vals[0] = 0;
	if (!a || !is_type(a, "enum"))
		return -1;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(a, "values"))
	{
		if (!cJSON_IsString(v))
			continue;
		for (int i = 0; press_actions[i]; i++)
			if (strcmp(press_actions[i], v->valuestring) == 0)
				press = 1;
		if (n < len)
			n += (size_t)snprintf(vals + n, len - n, "%s%s", n ? "/" : "",
			                      v->valuestring);
	}
	return press;
}

/* The values the device's own siren command takes, as " (modes stop/
 * emergency)" or " (alarm ON/OFF)", for the installer to compare with
 * the zigbee2mqtt frontend. "" when there are none to show. */
static void siren_values(const cJSON *exposes, char *buf, size_t len)
{
	const cJSON *w = z2m_expose_find(exposes, "warning"), *vals = NULL, *v;
	const char *what = "alarm";
	size_t n;
	buf[0] = 0;
	if (w && is_type(w, "composite")) {
		vals = cJSON_GetObjectItemCaseSensitive(z2m_expose_feature(w, "mode"), "values");
		what = "modes";
	} else if ((w = z2m_expose_find(exposes, "alarm"))) {
		const cJSON *on = cJSON_GetObjectItemCaseSensitive(w, "value_on");
		const cJSON *off = cJSON_GetObjectItemCaseSensitive(w, "value_off");
		if (is_type(w, "binary") && cJSON_IsString(on) && cJSON_IsString(off)) {
			snprintf(buf, len, " (alarm %s/%s)", on->valuestring, off->valuestring);
			return;
		}
		vals = cJSON_GetObjectItemCaseSensitive(w, "values");
	}
	if (!cJSON_IsArray(vals) || !cJSON_GetArraySize(vals))
		return;
	n = (size_t)snprintf(buf, len, " (%s ", what);
	cJSON_ArrayForEach(v, vals)
	{
		if (cJSON_IsString(v) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", v == vals->child ? "" : "/",
			                      v->valuestring);
	}
	if (n < len)
		snprintf(buf + n, len - n, ")");
}

static int contains_word(const char *s, const char *w)
{
	return s && strcasestr(s, w) != NULL;
}

static enum z2m_power power_of(const cJSON *dev)
{
	const char *p = sget(dev, "power_source");
	if (!p)
		return Z2M_POWER_UNKNOWN;
	if (strcasecmp(p, "Battery") == 0)
		return Z2M_POWER_BATTERY;
	if (strncasecmp(p, "Mains", 5) == 0 || strcasecmp(p, "DC Source") == 0)
		return Z2M_POWER_MAINS;
	return Z2M_POWER_UNKNOWN;
}

int z2m_discover_classify(const cJSON *dev, struct z2m_discover_class *out)
{
	const cJSON *def, *exposes, *e, *alarm;
	const char *found = NULL, *form, *desc;
	char vals[160];
	int press;

	memset(out, 0, sizeof(*out));
	out->what = Z2M_DISCOVER_NONE;
	out->kind = KIND_GENERIC;
	if (!cJSON_IsObject(dev))
		return -1;
	if (contains_word(sget(dev, "type"), "Coordinator"))
		return -1;
	out->power = power_of(dev);
	def = cJSON_GetObjectItemCaseSensitive(dev, "definition");
	if (!cJSON_IsObject(def)) {
		snprintf(out->why, sizeof(out->why),
		         "zigbee2mqtt has no definition for it (unsupported or still "
		         "interviewing): nothing says what it can do");
		return 0;
	}
	exposes = cJSON_GetObjectItemCaseSensitive(def, "exposes");
	if (!cJSON_IsArray(exposes)) {
		snprintf(out->why, sizeof(out->why), "its definition has no exposes list");
		return 0;
	}
	desc = sget(def, "description");

	/* A detector: exactly one detection property. */
	for (size_t i = 0; i < NDETECTIONS; i++) {
		if (!state_binary(exposes, detections[i].prop))
			continue;
		if (found) {
			snprintf(out->why, sizeof(out->why),
			         "it exposes both \"%s\" and \"%s\": one sensor entry reads one "
			         "kind; declare it by hand",
			         found, detections[i].prop);
			return 0;
		}
		found = detections[i].prop;
		out->kind = detections[i].kind;
	}
	if (found) {
		out->what = Z2M_DISCOVER_SENSOR;
		snprintf(out->why, sizeof(out->why), "exposes \"%s\"%s", found,
		         out->kind == KIND_DOOR ? " (a window? change kind to window)" : "");
		return 0;
	}
	/* A button. */
	press = action_is_button(exposes, vals, sizeof(vals));
	if (press == 1) {
		out->what = Z2M_DISCOVER_SENSOR;
		out->kind = KIND_PANIC;
		snprintf(out->why, sizeof(out->why), "action %s", vals);
		return 0;
	}
	/* An IAS "alarm" zone: only a heat detector says so in its description
	 * (Heiman HM-5HA-E "Smart heat alarm"); a Woox R7051 siren's read-only
	 * "alarm" is its sounding. */
	alarm = state_binary(exposes, "alarm");
	if (alarm && contains_word(desc, "heat")) {
		out->what = Z2M_DISCOVER_SENSOR;
		out->kind = KIND_HEAT;
		snprintf(out->why, sizeof(out->why), "IAS \"alarm\" of a heat alarm (\"%s\")",
		         desc);
		return 0;
	}
	form = z2m_siren_form_of(exposes);
	if (form) {
		out->what = Z2M_DISCOVER_SIREN;
		out->siren = form;
		siren_values(exposes, vals, sizeof(vals));
		snprintf(out->why, sizeof(out->why), "accepts %s%s", z2m_siren_form_looks(form),
		         vals);
		return 0;
	}
	if (alarm) {
		snprintf(out->why, sizeof(out->why),
		         "its \"alarm\" does not say what it detects (\"%s\"): declare it by "
		         "hand",
		         desc ? desc : "no description");
		return 0;
	}
	e = z2m_expose_find(exposes, "warning");
	if (!e)
		e = z2m_expose_find(exposes, "alarm");
	if (e && z2m_expose_settable(e)) {
		snprintf(out->why, sizeof(out->why),
		         "a siren whose \"%s\" is none of this version's siren forms: see "
		         "docs/config.md, siren forms",
		         sget(e, "property") ? sget(e, "property") : "?");
		return 0;
	}
	if (press == 0) {
		snprintf(out->why, sizeof(out->why),
		         "a button whose actions (%s) name no emergency or single press", vals);
		return 0;
	}
	e = z2m_expose_find(exposes, "temperature");
	if (e && is_type(e, "numeric")) {
		out->what = Z2M_DISCOVER_SENSOR;
		out->kind = KIND_HEAT;
		snprintf(out->why, sizeof(out->why),
		         "temperature only: a heat transmitter (the rules' thresholds decide)");
		return 0;
	}
	cJSON_ArrayForEach(e, exposes)
	{
		const char *t = sget(e, "type");
		if (t && strcmp(t, "light") == 0) {
			snprintf(out->why, sizeof(out->why), "a light, not a detector or a siren");
			return 0;
		}
		if (t && strcmp(t, "switch") == 0) {
			snprintf(out->why, sizeof(out->why),
			         "a switch (plug or relay): discover does not guess what it "
			         "drives; declare it as a relay or valve output by hand");
			return 0;
		}
	}
	snprintf(out->why, sizeof(out->why),
	         "it exposes nothing a sensor or siren here reads (no smoke, heat, gas, "
	         "carbon_monoxide, water_leak, contact, occupancy, sos, action, alarm, "
	         "warning or temperature)");
	return 0;
}

/* What each kind reads, any one of them (zigbee2mqtt.c's fields). */
static const char *const *kind_props(enum sh_kind k)
{
	static const char *const smoke[] = {"smoke", NULL};
	static const char *const heat[] = {"heat", "smoke", "alarm", "temperature", NULL};
	static const char *const gas[] = {"gas", NULL};
	static const char *const co[] = {"carbon_monoxide", NULL};
	static const char *const water[] = {"water_leak", NULL};
	static const char *const contact[] = {"contact", NULL};
	static const char *const motion[] = {"occupancy", NULL};
	static const char *const panic[] = {"action", "sos", NULL};
	static const char *const feedback[] = {"alarm", NULL};
	switch (k) {
	case KIND_SMOKE:
		return smoke;
	case KIND_HEAT:
		return heat;
	case KIND_GAS:
		return gas;
	case KIND_CO:
		return co;
	case KIND_WATER:
		return water;
	case KIND_DOOR:
	case KIND_WINDOW:
		return contact;
	case KIND_MOTION:
		return motion;
	case KIND_PANIC:
		return panic;
	case KIND_SIREN_FEEDBACK:
		return feedback;
	default:
		return NULL;
	}
}

int z2m_discover_kind_ok(const cJSON *exposes, enum sh_kind kind, char *why, size_t len)
{
	const char *const *props = kind_props(kind);
	size_t n = 0;
	if (!props)
		return 0; /* generic, power: anything the device sends */
	for (int i = 0; props[i]; i++)
		if (z2m_expose_find(exposes, props[i]))
			return 0;
	n = (size_t)snprintf(why, len, "exposes no ");
	for (int i = 0; props[i] && n < len; i++)
		n += (size_t)snprintf(why + n, len - n, "%s\"%s\"", i ? " or " : "", props[i]);
	return -1;
}
