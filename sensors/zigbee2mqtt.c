/*
 * zigbee2mqtt.c: the zigbee2mqtt payload family.
 *
 * State arrives as one JSON object on the device topic; availability on
 * TOPIC/availability, either as {"state":"online"} (z2m >= 1.24) or as the
 * legacy plain "online"/"offline" (removed in z2m 2.0, still common in the
 * field). Sirens are driven through the "warning" composite on TOPIC/set.
 *
 * The keys read are those the devices sold here publish, from their
 * zigbee-herdsman-converters converters (cited below and per device in
 * tests/unit/test_devices.c). A few mean what the sensor's kind is: "alarm"
 * is a heat detector's alarm, a siren's sounding, and a smoke detector's
 * setting; "action" is any press on a panic button. Several keys of one
 * point (battery_low, battery_state...; fault_alarm, trouble...) are or-ed.
 */
#include "family.h"
#include "fjson.h"
#include "z2m_siren.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Depth: fjson refuses only what cJSON itself cannot parse (deeper than
 * CJSON_NESTING_LIMIT), so a deep "update" object (z2m publishes one for
 * every OTA-capable device) under a key we do not read costs the message
 * nothing. */

/* zigbee-herdsman-converters src/converters/fromZigbee.ts, converter
 * `battery`: battery = batteryPercentageRemaining / 2 for any raw value
 * below 255, so a ZCL-compliant device reports up to 127 (and fractions such
 * as 100.5). Above 100 means full: the reading is kept, clamped to 100. */
#define Z2M_BATTERY_MAX 127

/* How a field's value is read:
 *   F_BOOL    a boolean (as_bool below)
 *   F_NUMBER  a number within [min, max]
 *   F_ACTION  a button's action word, mapped by the sensor's "actions"
 *   F_WORDS   a word of the field's own table (battery_state "low"...), or
 *             a boolean when the table allows it
 *   F_FAULT_STATE  Heiman's fault_state text ("normal", "smoke_fault | ...") */
enum field_type { F_BOOL, F_NUMBER, F_ACTION, F_WORDS, F_FAULT_STATE };

/* A word and the point value it means; NO_VALUE: a known word that says
 * nothing about the point (a self-test still running). */
#define NO_VALUE (-1)
struct word {
	const char *w;
	int value;
};

/* The point a field sets depends on the sensor's kind for these. */
#define PT_SMOKE_OR_HEAT (POINT__COUNT + 1) /* smoke: heat on a heat detector */
#define PT_ALARM (POINT__COUNT + 2)         /* alarm: see field_point() */

struct field {
	const char *name;
	enum field_type type;
	int point;                /* enum sh_point, or one of the PT_ above */
	double min, max;          /* numbers only */
	const struct word *words; /* F_WORDS: NULL-terminated */
	int bool_too;             /* F_WORDS: a boolean is accepted as well */
};

/* zigbee-herdsman-converters src/lib/tuya.ts: tuya.exposes.batteryState()
 * is enum low/medium/high (valueConverter.batteryState); ZS-301Z and others
 * say "middle". src/devices/tuya.ts: one device reports the charging
 * states no_charge/charging/charged under the same key: known, not a level. */
static const struct word battery_state_words[] = {{"low", 1},
                                                  {"medium", 0},
                                                  {"middle", 0},
                                                  {"high", 0},
                                                  {"no_charge", NO_VALUE},
                                                  {"charging", NO_VALUE},
                                                  {"charged", NO_VALUE},
                                                  {NULL, 0}};
/* src/devices/tuya.ts SA12IZL, src/devices/woox.ts R7049: enum
 * "battery_level" low/middle/high. */
static const struct word battery_level_words[] = {
    {"low", 1}, {"middle", 0}, {"medium", 0}, {"high", 0}, {NULL, 0}};
/* src/devices/develco.ts fault_status (HESZB-120): "fault" is a boolean;
 * src/devices/tuya.ts (motors) also sends the enum Normal/None/Fault. */
static const struct word fault_words[] = {{"fault", 1}, {"normal", 0}, {"none", 0}, {NULL, 0}};
/* src/devices/develco.ts fault_status: genBinaryInput reliability. */
static const struct word reliability_words[] = {
    {"no_fault_detected", 0}, {"unreliable_other", 1}, {"process_error", 1}, {NULL, 0}};
/* src/lib/tuya.ts valueConverter.selfTestResult (gas sensors): a failed
 * self-test is a fault; "checking" and "others" say nothing. */
static const struct word self_test_result_words[] = {
    {"success", 0}, {"failure", 1}, {"checking", NO_VALUE}, {"others", NO_VALUE}, {NULL, 0}};

static const struct field fields[] = {
    {"smoke", F_BOOL, PT_SMOKE_OR_HEAT, 0, 0, NULL, 0},
    {"heat", F_BOOL, POINT_HEAT, 0, 0, NULL, 0},
    {"alarm", F_BOOL, PT_ALARM, 0, 0, NULL, 0},
    {"gas", F_BOOL, POINT_GAS, 0, 0, NULL, 0},
    {"carbon_monoxide", F_BOOL, POINT_CO, 0, 0, NULL, 0},
    {"water_leak", F_BOOL, POINT_WATER, 0, 0, NULL, 0},
    {"occupancy", F_BOOL, POINT_MOTION, 0, 0, NULL, 0},
    {"contact", F_BOOL, POINT_CONTACT, 0, 0, NULL, 0},
    {"sos", F_BOOL, POINT_PANIC, 0, 0, NULL, 0},
    {"action", F_ACTION, POINT_PANIC, 0, 0, NULL, 0},
    {"tamper", F_BOOL, POINT_TAMPER, 0, 0, NULL, 0},
    {"battery", F_NUMBER, POINT_BATTERY, 0, Z2M_BATTERY_MAX, NULL, 0},
    {"battery_low", F_BOOL, POINT_BATTERY_LOW, 0, 0, NULL, 0},
    {"battery_state", F_WORDS, POINT_BATTERY_LOW, 0, 0, battery_state_words, 0},
    {"battery_level", F_WORDS, POINT_BATTERY_LOW, 0, 0, battery_level_words, 0},
    /* src/lib/modernExtend.ts iasZoneAlarm, src/converters/fromZigbee.ts
     * ias_smoke_alarm_1: IAS zone status bit 9, "battery is defective":
     * what the owner does about it is the same, replace the battery. */
    {"battery_defect", F_BOOL, POINT_BATTERY_LOW, 0, 0, NULL, 0},
    {"temperature", F_NUMBER, POINT_TEMPERATURE, -60, 250, NULL, 0},
    {"test", F_BOOL, POINT_TEST, 0, 0, NULL, 0},
    /* src/lib/tuya.ts tuya.exposes.faultAlarm(): boolean (trueFalse1). */
    {"fault_alarm", F_BOOL, POINT_FAULT, 0, 0, NULL, 0},
    /* src/devices/tuya.ts PA-44Z: binary device_fault (raw bool). */
    {"device_fault", F_BOOL, POINT_FAULT, 0, 0, NULL, 0},
    /* ias_smoke_alarm_1 / iasZoneAlarm: zone status bit 6, "trouble". */
    {"trouble", F_BOOL, POINT_FAULT, 0, 0, NULL, 0},
    {"fault", F_WORDS, POINT_FAULT, 0, 0, fault_words, 1},
    {"reliability", F_WORDS, POINT_FAULT, 0, 0, reliability_words, 0},
    {"self_test_result", F_WORDS, POINT_FAULT, 0, 0, self_test_result_words, 0},
    /* src/devices/heiman.ts heimanClusterSensorFaultState (HM-5HA-E,
     * HS1SA-E-PLUS...): text "normal" or the faults joined by " | ". */
    {"fault_state", F_FAULT_STATE, POINT_FAULT, 0, 0, NULL, 0},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

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
                                            "silence",
                                            "buzzer_manual_mute",
                                            "linkage_alarm",
                                            "silence_siren",
                                            "warning",
                                            "max_duration",
                                            "state",
                                            "power_outage_memory",
                                            "vibration",
                                            "co2",
                                            "gas_density",
                                            "gas_value",
                                            "self_test",
                                            "preheat",
                                            "mute",
                                            "alarm_ringtone",
                                            "supervision_reports",
                                            "restore_reports",
                                            "ac_status",
                                            "smoke_concentration",
                                            NULL};

/* action values that mean a panic/SOS press on a sensor of another kind
 * than panic (TS0215A_sos: "emergency", src/converters/fromZigbee.ts
 * command_emergency). */
static const char *const panic_actions[] = {"emergency", "sos", "panic", "sos_pressed", NULL};

/* Action values that are no press at all: Heiman HS1EB's "off" (zone
 * status 0, src/converters/fromZigbee.ts
 * command_status_change_notification_action), a release, and the empty
 * action zigbee2mqtt publishes to reset its action sensor. */
static const char *const not_a_press[] = {"", "off", "release", "released", NULL};

/* A sensor's "actions": which action values are a panic press. */
#define Z2M_ACTIONS_MAX 32
#define Z2M_ACTION_LEN 64
struct z2m_sensor_opts {
	int only_listed; /* the list form: every value not listed is ignored */
	int n;
	char name[Z2M_ACTIONS_MAX][Z2M_ACTION_LEN];
	unsigned char panic[Z2M_ACTIONS_MAX]; /* 1 panic, 0 ignore */
};

static int in_list(const char *s, const char *const *list)
{
	/* The first letter first: most keys differ there (every report). */
	for (int i = 0; list[i]; i++)
		if (list[i][0] == s[0] && strcmp(list[i], s) == 0)
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

static int decode_availability(const char *p, size_t len, struct sh_point_value *out, int *n,
                               enum family_reject *why)
{
	char word[16];
	size_t b = 0;
	cJSON *root = NULL;
	int rc = -1;

	while (b < len && (p[b] == ' ' || p[b] == '\t' || p[b] == '\r' || p[b] == '\n'))
		b++;
	/* The legacy plain word, or {"state": WORD}; anything else is
	 * refused for what it is by the JSON parse. */
	if (b < len && p[b] != '{' && fjson_word(p, len, word, sizeof(word)) == 0) {
		/* a word */
	} else {
		cJSON *st;
		root = fjson_parse_object(p, len, why);
		if (!root)
			goto out;
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
	fjson_drop(d, field, why, reason, it);
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

/* The point a field sets on a sensor of this kind; -1: none (the field is
 * known and skipped, like those of known_ignored). */
static int field_point(const struct field *f, enum sh_kind kind)
{
	switch (f->point) {
	case PT_SMOKE_OR_HEAT:
		/* Frient/Develco HESZB-120 "Fire detector with siren", sold as
		 * a heat alarm (src/devices/develco.ts,
		 * ias_smoke_alarm_1_develco) publishes its alarm as "smoke". */
		return kind == KIND_HEAT ? POINT_HEAT : POINT_SMOKE;
	case PT_ALARM:
		/* "alarm" means what the device is:
		 * - Heiman HM-5HA-E heat alarm: iasZoneAlarm({zoneType:
		 *   "alarm"}) (src/devices/heiman.ts), the detector's alarm;
		 * - sirens (src/devices/woox.ts R7051, ias_alarm_only_alarm_1;
		 *   src/devices/neo.ts): the siren sounding;
		 * - Tuya smoke alarms (TS0601_smoke_5, SA12IZL, Woox R7049):
		 *   a setting, "Enable the alarm", never a fire. */
		if (kind == KIND_HEAT)
			return POINT_HEAT;
		if (kind == KIND_SIREN_FEEDBACK)
			return POINT_SOUNDING;
		return -1;
	default:
		return f->point;
	}
}

/* Every key of every report is looked up: an open-addressing table of the
 * fields and the known ignored keys, built once, makes that one hash and
 * one compare instead of a walk through both lists. A slot holds i + 1 for
 * fields[i], -(j + 1) for known_ignored[j], 0 when empty; a field and an
 * ignored key of the same name would be the field, as with the lists. */
#define KEY_SLOTS 256
static short key_slot[KEY_SLOTS];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static unsigned key_hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static const char *key_name(short v)
{
	return v > 0 ? fields[v - 1].name : known_ignored[-v - 1];
}

static void key_put(const char *name, short v)
{
	unsigned i = key_hash(name) & (KEY_SLOTS - 1);
	while (key_slot[i]) {
		if (strcmp(key_name(key_slot[i]), name) == 0)
			return; /* the first one stays */
		i = (i + 1) & (KEY_SLOTS - 1);
	}
	key_slot[i] = v;
}

static void key_init(void)
{
	for (size_t i = 0; i < NFIELDS; i++)
		key_put(fields[i].name, (short)(i + 1));
	for (size_t j = 0; known_ignored[j]; j++)
		key_put(known_ignored[j], (short)-(short)(j + 1));
}

/* The field named so (1, *f set), a known key with nothing for us (0), or
 * an unknown key (-1). */
static int find_key(const char *name, const struct field **f)
{
	unsigned i;
	pthread_once(&key_once, key_init);
	i = key_hash(name) & (KEY_SLOTS - 1);
	while (key_slot[i]) {
		if (strcmp(key_name(key_slot[i]), name) == 0) {
			if (key_slot[i] < 0)
				return 0;
			*f = &fields[key_slot[i] - 1];
			return 1;
		}
		i = (i + 1) & (KEY_SLOTS - 1);
	}
	return -1;
}

/* Is this action value a panic press for the sensor bound by b? */
static int action_is_panic(const struct family_binding *b, const char *v)
{
	const struct z2m_sensor_opts *o = b->opts;
	if (o) {
		for (int i = 0; i < o->n; i++)
			if (strcmp(o->name[i], v) == 0)
				return o->panic[i];
		if (o->only_listed)
			return 0;
	}
	/* A panic button: every press is a call for help, whatever the
	 * button calls it (HS1EB: single, double, hold). */
	if (b->kind == KIND_PANIC)
		return !in_list(v, not_a_press);
	return in_list(v, panic_actions);
}

/* Heiman fault_state: "normal", or faults joined by " | " (each ends in
 * "fault"), or "unknown" for a fault code the converter has no name for:
 * still a fault. Returns 0, 1, or -1 when it is none of these. */
static int fault_state(const char *s)
{
	const char *p = s;
	if (strcasecmp(s, "normal") == 0)
		return 0;
	if (strcasecmp(s, "unknown") == 0)
		return 1;
	while (*p) {
		const char *e = strstr(p, " | ");
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len < 5 || strncasecmp(p + len - 5, "fault", 5) != 0)
			return -1;
		for (size_t i = 0; i < len; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
			      p[i] == '_'))
				return -1;
		p += len;
		if (e)
			p += 3;
	}
	return p == s ? -1 : 1;
}

/* One known field, read into *value. Returns 1 with a value, 0 when it is
 * good but says nothing (a button click that is no press, the end of an SOS
 * press, a self-test still running), -1 when it was dropped. */
static int read_field(const struct family_binding *b, const struct field *f, const cJSON *it,
                      double *value, struct family_drops *d)
{
	double x;
	int v;

	switch (f->type) {
	case F_BOOL:
		v = as_bool(it);
		if (v < 0) {
			drop(d, f->name, REJECT_BAD_TYPE, "not a boolean", it);
			return -1;
		}
		/* contact: true means closed; our point is 1 = open. */
		if (f->point == POINT_CONTACT)
			v = !v;
		/* sos:false is the end of a press, not an event. */
		if (f->point == POINT_PANIC && v == 0)
			return 0;
		*value = v;
		return 1;
	case F_NUMBER:
		if (!cJSON_IsNumber(it)) {
			drop(d, f->name, REJECT_BAD_TYPE, "not a number", it);
			return -1;
		}
		x = it->valuedouble;
		if (!isfinite(x) || x < f->min || x > f->max) {
			drop(d, f->name, REJECT_BAD_VALUE, "out of range", it);
			return -1;
		}
		if (f->point == POINT_BATTERY && x > 100)
			x = 100;
		*value = x;
		return 1;
	case F_ACTION:
		if (!cJSON_IsString(it)) {
			drop(d, f->name, REJECT_BAD_TYPE, "not a string", it);
			return -1;
		}
		if (!action_is_panic(b, it->valuestring))
			return 0;
		*value = 1;
		return 1;
	case F_WORDS:
		if (f->bool_too && !cJSON_IsString(it)) {
			v = as_bool(it);
			if (v < 0) {
				drop(d, f->name, REJECT_BAD_TYPE, "not a boolean or a word", it);
				return -1;
			}
			*value = v;
			return 1;
		}
		if (!cJSON_IsString(it)) {
			drop(d, f->name, REJECT_BAD_TYPE, "not a string", it);
			return -1;
		}
		for (const struct word *w = f->words; w->w; w++)
			if (strcasecmp(w->w, it->valuestring) == 0) {
				if (w->value == NO_VALUE)
					return 0;
				*value = w->value;
				return 1;
			}
		if (f->bool_too && (v = as_bool(it)) >= 0) {
			*value = v;
			return 1;
		}
		drop(d, f->name, REJECT_BAD_VALUE, "not one of its words", it);
		return -1;
	case F_FAULT_STATE:
		if (!cJSON_IsString(it)) {
			drop(d, f->name, REJECT_BAD_TYPE, "not a string", it);
			return -1;
		}
		v = fault_state(it->valuestring);
		if (v < 0) {
			drop(d, f->name, REJECT_BAD_VALUE, "not a fault state", it);
			return -1;
		}
		*value = v;
		return 1;
	}
	return -1;
}

static int z2m_decode(const struct family_binding *b, int which, const void *payload, size_t len,
                      struct sh_point_value *out, int *n, enum family_reject *why,
                      struct family_drops *drops)
{
	const char *p = payload;
	cJSON *root = NULL, *it;
	/* Per field, the last good value (a key named twice keeps the last,
	 * as JSON.parse and so zigbee2mqtt do): 1 set, 0 good but no value,
	 * -1 absent or dropped. */
	signed char set[NFIELDS];
	double fv[NFIELDS];
	struct family_drops local;
	int usable = 0, rc = -1;

	*n = 0;
	*why = REJECT_NONE;
	if (!drops)
		drops = &local;
	memset(drops, 0, sizeof(*drops));
	if (which == 1)
		return decode_availability(p, len, out, n, why);
	if (which != 0) {
		*why = REJECT_UNKNOWN_TOPIC;
		return -1;
	}
	/* Too large, an embedded NUL (cJSON would stop at it and accept a
	 * prefix), too deep, not exactly one object: refused whole. */
	root = fjson_parse_object(p, len, why);
	if (!root)
		goto out;
	memset(set, -1, sizeof(set));
	cJSON_ArrayForEach(it, root)
	{
		const struct field *f = NULL;
		size_t fi;
		int r, k;
		if (!it->string)
			continue;
		k = find_key(it->string, &f);
		if (k <= 0) {
			/* Unknown keys are skipped with whatever they hold. */
			if (k == 0)
				usable++;
			continue;
		}
		/* z2m sends null for values a device has not reported yet
		 * (e.g. battery_low: null); that says nothing, and a payload of
		 * nothing but nulls is not a report. */
		if (cJSON_IsNull(it))
			continue;
		fi = (size_t)(f - fields);
		if (field_point(f, b->kind) < 0) {
			usable++; /* known, and nothing on this kind */
			continue;
		}
		r = read_field(b, f, it, &fv[fi], drops);
		if (r < 0) {
			/* a bad repeat does not undo a good earlier value */
			continue;
		}
		set[fi] = (signed char)r;
		usable++;
	}
	if (!usable) {
		*why = drops->count ? drops->why : REJECT_NO_FIELDS;
		goto out;
	}
	/* One value per point. Several keys of one point (battery_low,
	 * battery_state, battery_defect; fault_alarm, trouble...; smoke and
	 * alarm on a heat detector) are or-ed: any of them saying "low",
	 * "fault" or "fire" is what the message says. A numeric point has one
	 * key only. */
	for (size_t fi = 0; fi < NFIELDS; fi++) {
		int pt, at = -1;
		if (set[fi] != 1)
			continue;
		pt = field_point(&fields[fi], b->kind);
		for (int i = 0; i < *n; i++)
			if ((int)out[i].point == pt)
				at = i;
		if (at < 0) {
			at = (*n)++;
			out[at].point = (enum sh_point)pt;
			out[at].value = fv[fi];
		} else if (fv[fi] > out[at].value) {
			out[at].value = fv[fi];
		}
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/* The keys of a zigbee2mqtt "mqtt" object: "siren" (outputs: the command
 * form, z2m_siren.c) and "actions" (sensors: which action values count). */
static const char *const z2m_keys[] = {"siren", "actions", NULL};

/* One action value of "actions": a non-empty string that fits. */
static int action_name_ok(const cJSON *node, const char *name, const char *key,
                          const struct cfg_report *cfg)
{
	if (!*name) {
		cfg->report(cfg->ctx, 0, node, key, "an empty action value names no press");
		return 0;
	}
	if (strlen(name) >= Z2M_ACTION_LEN) {
		cfg->report(cfg->ctx, 0, node, key, "action value too long: %zu bytes, at most %d",
		            strlen(name), Z2M_ACTION_LEN - 1);
		return 0;
	}
	return 1;
}

/* "actions": which values of the device's "action" are a panic press.
 * Either a list of the values that are ("hold" only: ["hold"]), every
 * other value ignored; or an object mapping values to "panic" or "ignore"
 * ({"single": "ignore"}), values not named keeping the default. */
static int parse_actions(struct z2m_sensor_opts *o, const cJSON *actions,
                         const struct cfg_report *cfg)
{
	static const char *const verbs[] = {"panic", "ignore", NULL};
	const cJSON *it;
	char key[Z2M_ACTION_LEN + 32];
	int i = 0, rc = 0;

	if (cJSON_IsArray(actions)) {
		o->only_listed = 1;
		if (cJSON_GetArraySize(actions) == 0) {
			cfg->report(cfg->ctx, 0, actions, "actions",
			            "an empty list makes no press a panic; name the values "
			            "that are, e.g. [\"hold\"]");
			return -1;
		}
	} else if (!cJSON_IsObject(actions)) {
		cfg->report(cfg->ctx, 0, actions, "actions",
		            "must be a list of action values, e.g. [\"hold\"], or an "
		            "object, e.g. {\"single\": \"ignore\"}");
		return -1;
	}
	cJSON_ArrayForEach(it, actions)
	{
		const char *name, *verb = "panic";
		int dup = 0;
		if (o->only_listed) {
			snprintf(key, sizeof(key), "actions[%d]", i);
			if (!cJSON_IsString(it)) {
				cfg->report(cfg->ctx, 0, it, key,
				            "must be a string, an action value");
				rc = -1;
				goto next;
			}
			name = it->valuestring;
		} else {
			snprintf(key, sizeof(key), "actions.%.*s", Z2M_ACTION_LEN, it->string);
			name = it->string;
			if (!cJSON_IsString(it) || !in_list(it->valuestring, verbs)) {
				const char *hint =
				    cJSON_IsString(it) ? sh_suggest(it->valuestring, verbs) : NULL;
				if (hint)
					cfg->report(cfg->ctx, 0, it, key,
					            "must be \"panic\" or \"ignore\"; did you mean "
					            "\"%s\"?",
					            hint);
				else
					cfg->report(cfg->ctx, 0, it, key,
					            "must be \"panic\" or \"ignore\"");
				rc = -1;
				goto next;
			}
			verb = it->valuestring;
		}
		if (!action_name_ok(it, name, key, cfg)) {
			rc = -1;
			goto next;
		}
		for (int j = 0; j < o->n; j++)
			dup |= strcmp(o->name[j], name) == 0;
		if (dup) {
			cfg->report(cfg->ctx, 0, it, key, "\"%s\" is named twice", name);
			rc = -1;
			goto next;
		}
		if (o->n >= Z2M_ACTIONS_MAX) {
			cfg->report(cfg->ctx, 0, it, key, "too many action values, at most %d",
			            Z2M_ACTIONS_MAX);
			return -1;
		}
		snprintf(o->name[o->n], sizeof(o->name[0]), "%s", name);
		o->panic[o->n] = strcmp(verb, "panic") == 0;
		o->n++;
	next:
		i++;
	}
	return rc;
}

/* A sensor's options: "actions". */
static int z2m_configure_sensor(struct family_binding *b, const cJSON *mqtt,
                                const struct cfg_report *cfg)
{
	const cJSON *siren = cJSON_GetObjectItemCaseSensitive(mqtt, "siren");
	const cJSON *actions = cJSON_GetObjectItemCaseSensitive(mqtt, "actions");
	struct z2m_sensor_opts *o;

	if (siren) {
		cfg->report(cfg->ctx, 0, siren, "siren",
		            "only an output takes a siren form; this is a sensor");
		return -1;
	}
	if (!actions)
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o) {
		cfg->report(cfg->ctx, 0, actions, "actions", "out of memory");
		return -1;
	}
	b->opts = o;
	return parse_actions(o, actions, cfg);
}

static int z2m_configure(struct family_binding *b, const struct cJSON *mqtt,
                         const struct cfg_report *cfg)
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
	if (b->is_output) {
		z2m_siren_free(b);
	} else {
		free(b->opts);
		b->opts = NULL;
	}
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
