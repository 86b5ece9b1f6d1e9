/*
 * zigbee2mqtt.c: the zigbee2mqtt payload family.
 *
 * State arrives as one JSON object on the device topic; availability on
 * TOPIC/availability, either as {"state":"online"} (z2m >= 1.24) or as the
 * legacy plain "online"/"offline" (removed in z2m 2.0, still common in the
 * field). Sirens are driven through the "warning" composite on TOPIC/set.
 */
#include "family.h"
#include "z2m_siren.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* cJSON stops at CJSON_NESTING_LIMIT (1000) itself, which protects the
 * stack; the scan below only gives such a message its own reason. Anything
 * shallower is parsed, so a deep "update" object (z2m publishes one for every
 * OTA-capable device) under a key we do not read costs the message nothing. */
#define Z2M_MAX_DEPTH CJSON_NESTING_LIMIT

/* zigbee-herdsman-converters src/converters/fromZigbee.ts, converter
 * `battery`: battery = batteryPercentageRemaining / 2 for any raw value
 * below 255, so a ZCL-compliant device reports up to 127 (and fractions such
 * as 100.5). Above 100 means full: the reading is kept, clamped to 100. */
#define Z2M_BATTERY_MAX 127

enum field_type { F_BOOL, F_NUMBER, F_ACTION };

struct field {
	const char *name;
	enum field_type type;
	enum sh_point point;
	double min, max; /* numbers only */
};

static const struct field fields[] = {
    {"smoke", F_BOOL, POINT_SMOKE, 0, 0},
    {"heat", F_BOOL, POINT_HEAT, 0, 0},
    {"gas", F_BOOL, POINT_GAS, 0, 0},
    {"carbon_monoxide", F_BOOL, POINT_CO, 0, 0},
    {"water_leak", F_BOOL, POINT_WATER, 0, 0},
    {"occupancy", F_BOOL, POINT_MOTION, 0, 0},
    {"contact", F_BOOL, POINT_CONTACT, 0, 0},
    {"sos", F_BOOL, POINT_PANIC, 0, 0},
    {"action", F_ACTION, POINT_PANIC, 0, 0},
    {"tamper", F_BOOL, POINT_TAMPER, 0, 0},
    {"battery", F_NUMBER, POINT_BATTERY, 0, Z2M_BATTERY_MAX},
    {"battery_low", F_BOOL, POINT_BATTERY_LOW, 0, 0},
    {"temperature", F_NUMBER, POINT_TEMPERATURE, -60, 250},
    {"test", F_BOOL, POINT_TEST, 0, 0},
};

/* Fields z2m devices send that carry no point we use. Their presence still
 * proves the device is alive, so such a payload is not rejected. */
static const char *const known_ignored[] = {"linkquality",
                                            "voltage",
                                            "device_temperature",
                                            "power_outage_count",
                                            "sensitivity",
                                            "smoke_density",
                                            "smoke_density_dbm",
                                            "last_seen",
                                            "update",
                                            "update_available",
                                            "elapsed",
                                            "selftest",
                                            "humidity",
                                            "pressure",
                                            "illuminance",
                                            "illuminance_lux",
                                            "fault_alarm",
                                            "silence",
                                            "alarm",
                                            "buzzer_manual_mute",
                                            "linkage_alarm",
                                            "battery_level",
                                            "silence_siren",
                                            "warning",
                                            "reliability",
                                            "fault",
                                            "max_duration",
                                            "state",
                                            "power_outage_memory",
                                            "vibration",
                                            "co2",
                                            "vibration",
                                            "gas_density",
                                            "self_test",
                                            "preheat",
                                            "mute",
                                            "alarm_ringtone",
                                            NULL};

/* action values that mean a panic/SOS press (TS0215A_sos: "emergency"). */
static const char *const panic_actions[] = {"emergency", "sos", "panic", "sos_pressed", NULL};

static int in_list(const char *s, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static int z2m_topics(const struct family_binding *b, char out[][256], int max)
{
	const char *base = b->topic;
	if (max < 2)
		return 0;
	snprintf(out[0], 256, "%s", base);
	snprintf(out[1], 256, "%s/availability", base);
	return 2;
}

/* Depth of the deepest bracket outside strings; cheap, and stops a 10,000
 * deep array before a recursive parser sees it. */
static int json_depth_exceeds(const char *p, size_t len, int limit)
{
	int depth = 0, in_str = 0;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > limit)
				return 1;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

/* Parse exactly one JSON value: cJSON accepts a valid prefix and ignores
 * what follows ("{...} xyz"), which would let a corrupted frame through. */
static cJSON *parse_whole(const char *p, size_t len)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	if (!root)
		return NULL;
	while (end && end < p + len &&
	       (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (!end || end != p + len) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static int decode_availability(const char *p, size_t len, struct sh_point_value *out, int *n,
                               enum family_reject *why)
{
	char word[16];
	size_t b = 0, e = len;
	cJSON *root = NULL;
	int rc = -1;

	while (b < e && (p[b] == ' ' || p[b] == '\t' || p[b] == '\r' || p[b] == '\n'))
		b++;
	while (e > b &&
	       (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '\r' || p[e - 1] == '\n'))
		e--;
	if (e - b < sizeof(word) && e > b && p[b] != '{') {
		memcpy(word, p + b, e - b);
		word[e - b] = 0;
	} else {
		cJSON *st;
		root = parse_whole(p, len);
		if (!root) {
			*why = REJECT_NOT_JSON;
			goto out;
		}
		if (!cJSON_IsObject(root)) {
			*why = REJECT_NOT_OBJECT;
			goto out;
		}
		st = cJSON_GetObjectItemCaseSensitive(root, "state");
		if (!cJSON_IsString(st)) {
			*why = st ? REJECT_BAD_TYPE : REJECT_NO_FIELDS;
			goto out;
		}
		snprintf(word, sizeof(word), "%s", st->valuestring);
	}
	if (strcmp(word, "online") == 0) {
		out[0].value = 1;
	} else if (strcmp(word, "offline") == 0) {
		out[0].value = 0;
	} else {
		*why = REJECT_BAD_VALUE;
		goto out;
	}
	out[0].point = POINT_ONLINE;
	*n = 1;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/* Record a dropped field; only the first is described. */
static void drop(struct family_drops *d, const char *field, enum family_reject why,
                 const char *reason, const cJSON *it)
{
	if (d->count++ > 0)
		return;
	d->field = field;
	d->why = why;
	d->reason = reason;
	if (cJSON_IsNumber(it))
		snprintf(d->value, sizeof(d->value), "%.15g", it->valuedouble);
	else if (cJSON_IsString(it))
		snprintf(d->value, sizeof(d->value), "\"%.30s%s\"", it->valuestring,
		         strlen(it->valuestring) > 30 ? "..." : "");
	else if (cJSON_IsBool(it))
		snprintf(d->value, sizeof(d->value), "%s", cJSON_IsTrue(it) ? "true" : "false");
	else if (cJSON_IsArray(it))
		snprintf(d->value, sizeof(d->value), "an array");
	else if (cJSON_IsObject(it))
		snprintf(d->value, sizeof(d->value), "an object");
	else
		snprintf(d->value, sizeof(d->value), "?");
	/* It goes into the log: no control characters from a device. */
	for (char *c = d->value; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* A boolean as z2m devices and people send it: true/false, "ON"/"OFF",
 * "true"/"false" (any case), 1/0. Returns 0 or 1, or -1 if it is none. */
static int as_bool(const cJSON *it)
{
	if (cJSON_IsBool(it))
		return cJSON_IsTrue(it);
	if (cJSON_IsNumber(it))
		return it->valuedouble == 1 ? 1 : it->valuedouble == 0 ? 0 : -1;
	if (cJSON_IsString(it)) {
		const char *v = it->valuestring;
		if (strcasecmp(v, "true") == 0 || strcasecmp(v, "on") == 0)
			return 1;
		if (strcasecmp(v, "false") == 0 || strcasecmp(v, "off") == 0)
			return 0;
	}
	return -1;
}

/* The values of one message, one per point: a point named twice keeps the
 * last value, as JSON.parse (and so zigbee2mqtt) does. */
struct values {
	struct sh_point_value v[FAMILY_MAX_VALUES];
	int at[POINT__COUNT]; /* index into v, or -1 */
	int n;
};

static void put(struct values *vs, enum sh_point p, double value)
{
	if (vs->at[p] < 0) {
		vs->at[p] = vs->n++;
		vs->v[vs->at[p]].point = p;
	}
	vs->v[vs->at[p]].value = value;
}

static const struct field *find_field(const char *name)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/* One known field. Returns 1 if it is good (even when it yields no value,
 * like a release or a button click), 0 if it was dropped. */
static int decode_field(const struct field *f, const cJSON *it, struct values *vs,
                        struct family_drops *d)
{
	double x;
	int b;

	switch (f->type) {
	case F_BOOL:
		b = as_bool(it);
		if (b < 0) {
			drop(d, f->name, REJECT_BAD_TYPE, "not a boolean", it);
			return 0;
		}
		/* contact: true means closed; our point is 1 = open. */
		if (f->point == POINT_CONTACT)
			b = !b;
		/* sos:false is the end of a press, not an event. */
		if (f->point == POINT_PANIC && b == 0)
			return 1;
		put(vs, f->point, b);
		return 1;
	case F_NUMBER:
		if (!cJSON_IsNumber(it)) {
			drop(d, f->name, REJECT_BAD_TYPE, "not a number", it);
			return 0;
		}
		x = it->valuedouble;
		if (!isfinite(x) || x < f->min || x > f->max) {
			drop(d, f->name, REJECT_BAD_VALUE, "out of range", it);
			return 0;
		}
		if (f->point == POINT_BATTERY && x > 100)
			x = 100;
		put(vs, f->point, x);
		return 1;
	case F_ACTION:
		if (!cJSON_IsString(it)) {
			drop(d, f->name, REJECT_BAD_TYPE, "not a string", it);
			return 0;
		}
		/* Other actions (button clicks, keypad arming) are not panic
		 * presses and are ignored here. */
		if (in_list(it->valuestring, panic_actions))
			put(vs, POINT_PANIC, 1);
		return 1;
	}
	return 0;
}

static int z2m_decode(const struct family_binding *b, int which, const void *payload, size_t len,
                      struct sh_point_value *out, int *n, enum family_reject *why,
                      struct family_drops *drops)
{
	(void)b; /* no per-device options yet */
	const char *p = payload;
	cJSON *root = NULL, *it;
	struct values vs = {.n = 0};
	struct family_drops local;
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
	/* An embedded NUL is never JSON or a z2m word; cJSON would stop at it
	 * and accept a prefix. */
	if (len == 0 || memchr(p, 0, len)) {
		*why = REJECT_NOT_JSON;
		return -1;
	}
	if (json_depth_exceeds(p, len, Z2M_MAX_DEPTH)) {
		*why = REJECT_TOO_DEEP;
		return -1;
	}
	if (which == 1)
		return decode_availability(p, len, out, n, why);
	if (which != 0) {
		*why = REJECT_UNKNOWN_TOPIC;
		return -1;
	}

	root = parse_whole(p, len);
	if (!root) {
		*why = REJECT_NOT_JSON;
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		*why = REJECT_NOT_OBJECT;
		goto out;
	}
	for (int i = 0; i < POINT__COUNT; i++)
		vs.at[i] = -1;
	cJSON_ArrayForEach(it, root)
	{
		const struct field *f;
		if (!it->string)
			continue;
		f = find_field(it->string);
		if (!f) {
			/* Unknown keys are skipped with whatever they hold. */
			if (in_list(it->string, known_ignored))
				usable++;
			continue;
		}
		/* z2m sends null for values a device has not reported yet
		 * (e.g. battery_low: null); that says nothing, and a payload of
		 * nothing but nulls is not a report. */
		if (cJSON_IsNull(it))
			continue;
		usable += decode_field(f, it, &vs, drops);
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

/* The keys of a zigbee2mqtt "mqtt" object: "siren" (outputs: the command
 * form, z2m_siren.c) and "actions" (sensors: which action values count). */
static const char *const z2m_keys[] = {"siren", "actions", NULL};

/* A sensor's options. None yet: "actions" arrives with the panic map. */
static int z2m_configure_sensor(struct family_binding *b, const cJSON *mqtt,
                                const struct family_cfg *cfg)
{
	const cJSON *siren = cJSON_GetObjectItemCaseSensitive(mqtt, "siren");

	(void)b;
	if (siren) {
		cfg->report(cfg->ctx, 0, siren, "siren",
		            "only an output takes a siren form; this is a sensor");
		return -1;
	}
	return 0;
}

static int z2m_configure(struct family_binding *b, const struct cJSON *mqtt,
                         const struct family_cfg *cfg)
{
	if (b->is_output) {
		const cJSON *actions = cJSON_GetObjectItemCaseSensitive(mqtt, "actions");
		if (actions) {
			cfg->report(cfg->ctx, 0, actions, "actions",
			            "only a sensor maps actions; this is an output");
			return -1;
		}
		return z2m_siren_configure(b, mqtt, cfg);
	}
	return z2m_configure_sensor(b, mqtt, cfg);
}

static void z2m_free_opts(struct family_binding *b)
{
	if (b->is_output)
		z2m_siren_free(b);
	else
		b->opts = NULL;
}

const struct family family_zigbee2mqtt = {
    .name = "zigbee2mqtt",
    .keys = z2m_keys,
    .configure = z2m_configure,
    .free_opts = z2m_free_opts,
    .topics = z2m_topics,
    .decode = z2m_decode,
    .encode_output = z2m_siren_encode,
};
