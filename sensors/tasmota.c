/*
 * tasmota.c: the Tasmota payload family.
 *
 * A sensor's configured topic is the device's %topic% (e.g. "kitchen"). The
 * topics it publishes are built from its FullTopic, "%prefix%/%topic%/" by
 * default (option "full_topic"), with %prefix% "tele" or "stat":
 *   tele/T/SENSOR  JSON every TelePeriod, and at once on a switch change in
 *                  SwitchMode 15/16: {"Time":..,"Switch1":"ON",
 *                  "DS18B20":{"Id":..,"Temperature":23.4},"TempUnit":"C"}
 *   tele/T/STATE   JSON every TelePeriod: {"Time":..,"Uptime":..,"POWER":"ON"}
 *   tele/T/LWT     "Online" / "Offline" (retained)
 *   stat/T/RESULT  JSON replies: {"POWER":"ON"}, and with SetOption114 a
 *                  switch change as {"Switch1":{"Action":"ON"}}
 *   stat/T/POWER   "ON" / "OFF" (POWERn for relay n > 1)
 * (Tasmota tasmota_support/support_switch_v4.ino, support_tasmota.ino.)
 * Every accepted message is a sign of life for supervision, also one that
 * yields no value (a STATE every TelePeriod keeps a quiet device online).
 *
 * Outputs are Tasmota relays: "ON"/"OFF" on the output's configured command
 * topic (cmnd/T/POWER).
 */
#include "family.h"
#include "fjson.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASMOTA_DEFAULT_FULL_TOPIC "%prefix%/%topic%/"
#define TASMOTA_DEFAULT_INPUT "Switch1"
/* ESP32 builds drive up to 32 relays (MAX_RELAYS). */
#define TASMOTA_MAX_RELAY 32
/* The range the temperature point accepts, after a Fahrenheit reading is
 * converted; the same as zigbee2mqtt's. */
#define TASMOTA_TEMP_MIN -60
#define TASMOTA_TEMP_MAX 250

/* A sensor's options; a binding without opts uses the defaults. */
struct tasmota_opts {
	char *full_topic;  /* NULL: TASMOTA_DEFAULT_FULL_TOPIC */
	char *input;       /* NULL: the default for the kind */
	int active_off;    /* 1: "OFF" is the active (alarm, open) state */
	char *temperature; /* NULL: the first object with a "Temperature" */
	int relay;         /* 0: 1 */
};

/* What each subscribed topic is. */
enum role { R_SENSOR, R_STATE, R_LWT, R_RESULT, R_POWER };

static const struct tasmota_opts no_opts = {0};

static const struct tasmota_opts *opts_of(const struct family_binding *b)
{
	return b->opts ? b->opts : &no_opts;
}

/* The boolean point an input feeds for this kind; POINT__COUNT if none. A
 * siren_feedback sensor reads its relay (POWER), not an input. */
static enum sh_point input_point(enum sh_kind k)
{
	enum sh_point p = sh_kind_primary_point(k);
	return p == POINT_SOUNDING ? POINT__COUNT : p;
}

static const char *input_name(const struct family_binding *b)
{
	const struct tasmota_opts *o = opts_of(b);
	if (o->input)
		return o->input;
	return input_point(b->kind) != POINT__COUNT ? TASMOTA_DEFAULT_INPUT : NULL;
}

/* A relay feedback sensor needs stat/POWER and RESULT; the others read the
 * telemetry. FAMILY_MAX_TOPICS (4) leaves room for four. */
static int roles(const struct family_binding *b, enum role r[4])
{
	if (b->kind == KIND_SIREN_FEEDBACK) {
		r[0] = R_RESULT;
		r[1] = R_STATE;
		r[2] = R_LWT;
		r[3] = R_POWER;
	} else {
		r[0] = R_SENSOR;
		r[1] = R_STATE;
		r[2] = R_LWT;
		r[3] = R_RESULT;
	}
	return 4;
}

/* Expand a FullTopic as Tasmota does (GetTopic_P): the tokens replaced,
 * "//" collapsed, a trailing '/' added, then the suffix. Returns 0, or -1
 * when it does not fit. */
static int expand(const char *pattern, const char *prefix, const char *topic, const char *suffix,
                  char *out, size_t size)
{
	size_t n = 0;
	const char *p = pattern;

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (n + 1 >= size)                                                                 \
			return -1;                                                                 \
		if (!((c) == '/' && n > 0 && out[n - 1] == '/'))                                   \
			out[n++] = (c);                                                            \
	} while (0)

	while (*p) {
		const char *val = NULL;
		if (strncmp(p, "%prefix%", 8) == 0) {
			val = prefix;
			p += 8;
		} else if (strncmp(p, "%topic%", 7) == 0) {
			val = topic;
			p += 7;
		}
		if (val) {
			for (; *val; val++)
				PUT(*val);
			continue;
		}
		PUT(*p);
		p++;
	}
	if (n == 0 || out[n - 1] != '/')
		PUT('/');
	for (; *suffix; suffix++)
		PUT(*suffix);
#undef PUT
	out[n] = 0;
	return 0;
}

static int build_topic(const struct family_binding *b, enum role r, char *out, size_t size)
{
	const struct tasmota_opts *o = opts_of(b);
	const char *pattern = o->full_topic ? o->full_topic : TASMOTA_DEFAULT_FULL_TOPIC;
	char power[16];

	switch (r) {
	case R_SENSOR:
		return expand(pattern, "tele", b->topic, "SENSOR", out, size);
	case R_STATE:
		return expand(pattern, "tele", b->topic, "STATE", out, size);
	case R_LWT:
		return expand(pattern, "tele", b->topic, "LWT", out, size);
	case R_RESULT:
		return expand(pattern, "stat", b->topic, "RESULT", out, size);
	case R_POWER:
		/* A one-relay device publishes stat/T/POWER; relay n of several
		 * stat/T/POWERn (its RESULT also carries {"POWERn":..}). */
		if (o->relay > 1)
			snprintf(power, sizeof(power), "POWER%d", o->relay);
		else
			snprintf(power, sizeof(power), "POWER");
		return expand(pattern, "stat", b->topic, power, out, size);
	}
	return -1;
}

static int tasmota_topics(const struct family_binding *b, char out[][256], int max)
{
	enum role r[4];
	int nr = roles(b, r), n = 0;

	if (!b->topic)
		return 0;
	for (int i = 0; i < nr && n < max; i++)
		if (build_topic(b, r[i], out[n], 256) == 0)
			n++;
	return n;
}

/* ---- decoding ---------------------------------------------------------- */

/* One value per point; the last one in a message wins. */
/* The relay's key in STATE and RESULT: "POWER" on a one-relay device (and
 * with SetOption26 "POWER1"), "POWERn" for relay n of several. */
static int is_relay_key(const char *key, int relay)
{
	char want[16];

	if (relay <= 1 && strcmp(key, "POWER") == 0)
		return 1;
	snprintf(want, sizeof(want), "POWER%d", relay <= 1 ? 1 : relay);
	return strcmp(key, want) == 0;
}

/* "ON"/"OFF" as Tasmota's default StateText1/2: 1, 0, or -1. */
static int on_off(const cJSON *it)
{
	if (!cJSON_IsString(it))
		return -1;
	if (strcmp(it->valuestring, "ON") == 0)
		return 1;
	if (strcmp(it->valuestring, "OFF") == 0)
		return 0;
	return -1;
}

/* The configured input: "ON"/"OFF" in SENSOR (SwitchMode 15/16), or
 * {"Action":"ON"} in RESULT (SetOption114). Returns 1 if used, 0 if
 * dropped. */
static int decode_input(const struct family_binding *b, const char *name, const cJSON *it,
                        struct fjson_values *vs, struct family_drops *d)
{
	const cJSON *v = it;
	enum sh_point p = sh_kind_primary_point(b->kind);
	int on;

	if (cJSON_IsObject(it)) {
		v = cJSON_GetObjectItemCaseSensitive(it, "Action");
		/* Other actions (HOLD, POWER_INCREMENT, ...) are button
		 * gestures, not a state. */
		if (cJSON_IsString(v) && on_off(v) < 0)
			return 1;
	}
	on = on_off(v);
	if (on < 0) {
		fjson_drop(d, name, cJSON_IsString(v) ? REJECT_BAD_VALUE : REJECT_BAD_TYPE,
		           "not ON or OFF", it);
		return 0;
	}
	on = opts_of(b)->active_off ? !on : on;
	/* A panic input's release is not an event. */
	if (p == POINT_PANIC && !on)
		return 1;
	fjson_put(vs, p, on);
	return 1;
}

/* A temperature object: {"Id":..,"Temperature":23.4}. Returns 1 if used,
 * 0 if dropped. */
static int decode_temperature(const cJSON *obj, int fahrenheit, struct fjson_values *vs,
                              struct family_drops *d)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "Temperature");
	double x;

	/* A sensor that failed its read reports null: no reading. */
	if (cJSON_IsNull(t))
		return 1;
	if (!cJSON_IsNumber(t)) {
		fjson_drop(d, "Temperature", REJECT_BAD_TYPE, "not a number", t);
		return 0;
	}
	x = t->valuedouble;
	if (fahrenheit)
		x = (x - 32) * 5 / 9;
	if (!isfinite(x) || x < TASMOTA_TEMP_MIN || x > TASMOTA_TEMP_MAX) {
		fjson_drop(d, "Temperature", REJECT_BAD_VALUE, "out of range", t);
		return 0;
	}
	fjson_put(vs, POINT_TEMPERATURE, x);
	return 1;
}

static int decode_json(const struct family_binding *b, enum role r, const cJSON *root,
                       struct fjson_values *vs, struct family_drops *d)
{
	const struct tasmota_opts *o = opts_of(b);
	const char *input = input_name(b);
	const cJSON *it, *unit = cJSON_GetObjectItemCaseSensitive(root, "TempUnit");
	int usable = 0, fahrenheit = 0, temp_taken = 0;

	if (unit) {
		if (cJSON_IsString(unit) && strcmp(unit->valuestring, "F") == 0)
			fahrenheit = 1;
		else if (!cJSON_IsString(unit) || strcmp(unit->valuestring, "C") != 0) {
			/* A temperature in an unknown unit is no reading. */
			fjson_drop(d, "TempUnit", REJECT_BAD_VALUE, "not C or F", unit);
			temp_taken = 1;
		}
	}
	cJSON_ArrayForEach(it, root)
	{
		if (!it->string)
			continue;
		if (input && (r == R_SENSOR || r == R_RESULT) && strcmp(it->string, input) == 0) {
			usable += decode_input(b, input, it, vs, d);
			continue;
		}
		if (b->kind == KIND_SIREN_FEEDBACK && (r == R_STATE || r == R_RESULT) &&
		    is_relay_key(it->string, o->relay)) {
			int on = on_off(it);
			if (on < 0) {
				fjson_drop(d, "POWER",
				           cJSON_IsString(it) ? REJECT_BAD_VALUE : REJECT_BAD_TYPE,
				           "not ON or OFF", it);
				continue;
			}
			fjson_put(vs, POINT_SOUNDING, on);
			usable++;
			continue;
		}
		if (r == R_SENSOR && cJSON_IsObject(it) && !temp_taken &&
		    (o->temperature ? strcmp(it->string, o->temperature) == 0
		                    : strcmp(it->string, "ESP32") != 0 &&
		                          cJSON_GetObjectItemCaseSensitive(it, "Temperature"))) {
			/* The first sensor object only: when it fails, the
			 * next one is another sensor, not a substitute. An
			 * ESP32's own chip ("ESP32":{"Temperature":51}) runs
			 * hot and is never the room's temperature. */
			temp_taken = 1;
			usable += decode_temperature(it, fahrenheit, vs, d);
			continue;
		}
		/* Tasmota stamps every tele message with "Time"; a RESULT is
		 * a reply from the device, whatever command it answers. Both
		 * prove it alive. Other keys are skipped. */
		if (r == R_RESULT || (strcmp(it->string, "Time") == 0 && cJSON_IsString(it)))
			usable++;
	}
	return usable;
}

static int tasmota_decode(const struct family_binding *b, int which, const void *payload,
                          size_t len, struct sh_point_value *out, int *n, enum family_reject *why,
                          struct family_drops *drops)
{
	struct family_drops local;
	struct fjson_values vs = {.n = 0};
	enum role r[4];
	char word[16];
	cJSON *root = NULL;
	int rc = -1;

	*n = 0;
	*why = REJECT_NONE;
	if (!drops)
		drops = &local;
	memset(drops, 0, sizeof(*drops));
	if (len > FAMILY_MAX_PAYLOAD) {
		*why = REJECT_TOO_LARGE;
		return -1;
	}
	if (which < 0 || which >= roles(b, r)) {
		*why = REJECT_UNKNOWN_TOPIC;
		return -1;
	}
	fjson_values_init(&vs);

	switch (r[which]) {
	case R_LWT:
		if (fjson_word(payload, len, word, sizeof(word)) < 0) {
			*why = REJECT_BAD_VALUE;
			goto out;
		}
		if (strcmp(word, "Online") == 0)
			fjson_put(&vs, POINT_ONLINE, 1);
		else if (strcmp(word, "Offline") == 0)
			fjson_put(&vs, POINT_ONLINE, 0);
		else {
			*why = REJECT_BAD_VALUE;
			goto out;
		}
		break;
	case R_POWER:
		if (fjson_word(payload, len, word, sizeof(word)) < 0) {
			*why = REJECT_BAD_VALUE;
			goto out;
		}
		if (strcmp(word, "ON") == 0)
			fjson_put(&vs, POINT_SOUNDING, 1);
		else if (strcmp(word, "OFF") == 0)
			fjson_put(&vs, POINT_SOUNDING, 0);
		else {
			*why = REJECT_BAD_VALUE;
			goto out;
		}
		break;
	case R_SENSOR:
	case R_STATE:
	case R_RESULT:
		root = fjson_parse_object(payload, len, why);
		if (!root)
			goto out;
		if (!decode_json(b, r[which], root, &vs, drops)) {
			*why = drops->count ? drops->why : REJECT_NO_FIELDS;
			goto out;
		}
		break;
	}
	memcpy(out, vs.v, sizeof(vs.v[0]) * (size_t)vs.n);
	*n = vs.n;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

static int tasmota_encode_output(const struct family_binding *b,
                                 const struct family_output_cmd *cmd, char *buf, size_t size)
{
	(void)b; /* the command topic is configured in full */
	int len = snprintf(buf, size, "%s", cmd->on ? "ON" : "OFF");
	return len < 0 || (size_t)len >= size ? -1 : len;
}

/* ---- configuration ----------------------------------------------------- */

static const char *const tasmota_keys[] = {"full_topic",  "input", "active",
                                           "temperature", "relay", NULL};

/* A FullTopic names each token at most once and must hold %prefix%: the
 * prefix is what tells tele/SENSOR from stat/RESULT. */
static int check_full_topic(const cJSON *v, const struct family_binding *b,
                            const struct cfg_report *cfg)
{
	const char *s = v->valuestring, *p;
	int prefix = 0;
	char probe[256];

	if (!*s) {
		cfg->report(cfg->ctx, 0, v, "full_topic",
		            "empty; leave the key out to use Tasmota's default \"%s\"",
		            TASMOTA_DEFAULT_FULL_TOPIC);
		return -1;
	}
	if (strpbrk(s, "+#")) {
		cfg->report(
		    cfg->ctx, 0, v, "full_topic",
		    "MQTT wildcards ('+', '#') are not allowed: the pattern names one device");
		return -1;
	}
	for (p = strchr(s, '%'); p; p = strchr(p, '%')) {
		if (strncmp(p, "%prefix%", 8) == 0) {
			prefix++;
			p += 8;
		} else if (strncmp(p, "%topic%", 7) == 0) {
			p += 7;
		} else if (strncmp(p, "%hostname%", 10) == 0 || strncmp(p, "%id%", 4) == 0) {
			cfg->report(
			    cfg->ctx, 0, v, "full_topic",
			    "%.*s is not expanded here: write this device's own value in its "
			    "place (it is one device's pattern)",
			    p[1] == 'h' ? 10 : 4, p);
			return -1;
		} else {
			cfg->report(
			    cfg->ctx, 0, v, "full_topic",
			    "unknown token at \"%.12s\": Tasmota's tokens are %%prefix%% and "
			    "%%topic%%",
			    p);
			return -1;
		}
	}
	if (prefix != 1) {
		cfg->report(cfg->ctx, 0, v, "full_topic",
		            "must hold %%prefix%% once (tele/stat tell the messages apart), e.g. "
		            "\"%s\"",
		            TASMOTA_DEFAULT_FULL_TOPIC);
		return -1;
	}
	if (expand(s, "tele", b->topic ? b->topic : "", "RESULT", probe, sizeof(probe)) < 0) {
		cfg->report(cfg->ctx, 0, v, "full_topic",
		            "too long: the topics it makes exceed 255 bytes");
		return -1;
	}
	return 0;
}

static int string_key(const cJSON *mqtt, const char *key, const struct cfg_report *cfg,
                      const cJSON **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(mqtt, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsString(v)) {
		cfg->report(cfg->ctx, 0, v, key, "expected a string");
		return -1;
	}
	if (strlen(v->valuestring) > 64 && strcmp(key, "full_topic") != 0) {
		cfg->report(cfg->ctx, 0, v, key, "too long: at most 64 bytes");
		return -1;
	}
	*out = v;
	return 0;
}

static char *dup_of(const cJSON *v)
{
	return v ? strdup(v->valuestring) : NULL;
}

static void tasmota_free_opts(struct family_binding *b)
{
	struct tasmota_opts *o = b->opts;

	if (o) {
		free(o->full_topic);
		free(o->input);
		free(o->temperature);
		free(o);
	}
	b->opts = NULL;
}

static int tasmota_configure(struct family_binding *b, const struct cJSON *mqtt,
                             const struct cfg_report *cfg)
{
	const cJSON *full = NULL, *input = NULL, *active = NULL, *temp = NULL, *relay;
	struct tasmota_opts *o;
	int rc = 0;

	if (b->is_output) {
		for (int i = 0; tasmota_keys[i]; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(mqtt, tasmota_keys[i]);
			if (v) {
				cfg->report(
				    cfg->ctx, 0, v, tasmota_keys[i],
				    "only a sensor reads this; an output's topic is its full "
				    "command topic (cmnd/T/POWER)");
				rc = -1;
			}
		}
		return rc;
	}
	rc |= string_key(mqtt, "full_topic", cfg, &full);
	rc |= string_key(mqtt, "input", cfg, &input);
	rc |= string_key(mqtt, "active", cfg, &active);
	rc |= string_key(mqtt, "temperature", cfg, &temp);
	relay = cJSON_GetObjectItemCaseSensitive(mqtt, "relay");

	if (full && check_full_topic(full, b, cfg) < 0)
		rc = -1;
	if (input && !*input->valuestring) {
		cfg->report(cfg->ctx, 0, input, "input",
		            "empty; name the input as Tasmota's SENSOR message does, e.g. \"%s\"",
		            TASMOTA_DEFAULT_INPUT);
		rc = -1;
	} else if (input && b->kind == KIND_SIREN_FEEDBACK) {
		cfg->report(cfg->ctx, 0, input, "input",
		            "a siren_feedback sensor reads its relay's POWER, not an input; "
		            "give \"relay\" for a relay other than the first");
		rc = -1;
	} else if (input && sh_kind_primary_point(b->kind) == POINT__COUNT) {
		cfg->report(cfg->ctx, 0, input, "input",
		            "a sensor of kind %s has no state for an input to report",
		            sh_kind_name(b->kind));
		rc = -1;
	}
	if (active && strcmp(active->valuestring, "ON") != 0 &&
	    strcmp(active->valuestring, "OFF") != 0) {
		cfg->report(cfg->ctx, 0, active, "active",
		            "must be \"ON\" or \"OFF\": the input's state that means detected, "
		            "open or pressed");
		rc = -1;
	} else if (active && !input && input_point(b->kind) == POINT__COUNT) {
		cfg->report(cfg->ctx, 0, active, "active",
		            "this sensor reads no input; give \"input\" too");
		rc = -1;
	}
	if (temp && !*temp->valuestring) {
		cfg->report(
		    cfg->ctx, 0, temp, "temperature",
		    "empty; name the sensor object, e.g. \"DS18B20-1\", or leave the key out "
		    "to take the first one");
		rc = -1;
	} else if (temp && b->kind == KIND_SIREN_FEEDBACK) {
		cfg->report(cfg->ctx, 0, temp, "temperature",
		            "a siren_feedback sensor does not read tele/SENSOR; give the "
		            "temperature probe its own sensor");
		rc = -1;
	}
	if (relay) {
		if (!cJSON_IsNumber(relay) || relay->valuedouble != floor(relay->valuedouble)) {
			cfg->report(cfg->ctx, 0, relay, "relay", "expected a whole number");
			rc = -1;
		} else if (relay->valuedouble < 1 || relay->valuedouble > TASMOTA_MAX_RELAY) {
			cfg->report(cfg->ctx, 0, relay, "relay",
			            "%g is out of range: must be 1 to %d", relay->valuedouble,
			            TASMOTA_MAX_RELAY);
			rc = -1;
		} else if (b->kind != KIND_SIREN_FEEDBACK) {
			cfg->report(
			    cfg->ctx, 0, relay, "relay",
			    "only a siren_feedback sensor reads a relay's state; this one is "
			    "of kind %s",
			    sh_kind_name(b->kind));
			rc = -1;
		}
	}
	if (rc < 0 || (!full && !input && !active && !temp && !relay))
		return rc;

	o = calloc(1, sizeof(*o));
	if (!o)
		return -1;
	b->opts = o;
	o->full_topic = dup_of(full);
	o->input = dup_of(input);
	o->temperature = dup_of(temp);
	o->active_off = active && strcmp(active->valuestring, "OFF") == 0;
	o->relay = relay ? (int)relay->valuedouble : 0;
	if ((full && !o->full_topic) || (input && !o->input) || (temp && !o->temperature))
		return -1;
	return 0;
}

const struct family family_tasmota = {
    .mains_powered = 1,
    .name = "tasmota",
    .keys = tasmota_keys,
    .configure = tasmota_configure,
    .free_opts = tasmota_free_opts,
    .topics = tasmota_topics,
    .decode = tasmota_decode,
    .encode_output = tasmota_encode_output,
};
