/*
 * z2m_siren.c: commands for zigbee2mqtt outputs.
 *
 * A siren is driven through whatever its zigbee2mqtt converter accepts, and
 * the sirens sold here do not agree: ZCL sirens take the "warning"
 * composite, Tuya TS0601 sirens have no "warning" converter at all
 * (zigbee2mqtt logs "No converter available for 'warning'" and the siren
 * stays silent) and take "alarm" as a boolean, as "ON"/"OFF" or as an enum.
 * So each output names its command form ("siren" in its "mqtt" object) and
 * each form is one row of the table below, derived from the converters of
 * zigbee-herdsman-converters (cited per row). Relays and valves take
 * {"state":"ON"/"OFF"}.
 */
#include "z2m_siren.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "z2m_discover.h"

/* A siren's on-time when the output gives none (the config's default). */
#define Z2M_SIREN_DEFAULT_S 300

/* Writes the "on" payload for pattern p and on-time secs (already clamped to
 * the form's maximum); returns what snprintf returns. */
typedef int (*z2m_siren_on_fn)(char *buf, size_t size, enum sh_siren p, int secs);

/* 1 when a device's definition.exposes (zigbee2mqtt bridge/devices) show
 * this form. The forms' signatures exclude one another, so a device matches
 * one form at most. */
typedef int (*z2m_siren_match_fn)(const cJSON *exposes);

struct z2m_siren_form {
	const char *name;
	z2m_siren_on_fn on;
	const char *off; /* the stop payload: it must silence whatever on started */
	int max_s;       /* the longest on-time the device takes */
	z2m_siren_match_fn match;
	const char *looks; /* the signature in words, for messages */
};

/* ZCL IAS WD through the "warning" converter (toZigbee.ts `warning`): mode
 * fire/burglar/emergency, level and strobe. duration is a uint16 on the
 * wire, but the device also caps it at its own max_duration attribute. */
static int on_warning(char *buf, size_t size, enum sh_siren p, int secs)
{
	return snprintf(buf, size,
	                "{\"warning\":{\"mode\":\"%s\",\"level\":\"very_high\","
	                "\"strobe\":true,\"duration\":%d}}",
	                sh_siren_name(p), secs);
}

/* Heiman HS2WD-E (heiman.ts): the same converter, but its exposes remove
 * "level" and "strobe_level" and allow only the modes stop and emergency,
 * so every pattern sounds as emergency and no level is sent. */
static int on_warning_heiman(char *buf, size_t size, enum sh_siren p, int secs)
{
	(void)p;
	return snprintf(buf, size,
	                "{\"warning\":{\"mode\":\"emergency\",\"strobe\":true,\"duration\":%d}}",
	                secs);
}

/* NEO NAS-AB02B2 / NAS-AB02B0 (neo.ts, legacy.ts tz.neo_alarm): alarm is a
 * boolean. volume and duration exist too, but all four keys belong to one
 * converter, and zigbee2mqtt calls a converter once per message
 * (lib/extension/publish.ts, "Use a converter for set only once"): in
 * {"volume":..,"alarm":true} only volume would be sent and the siren would
 * stay silent. So the command is alarm alone; volume and duration are the
 * device's settings, made once by the installer (docs/config.md). */
static int on_tuya_alarm_bool(char *buf, size_t size, enum sh_siren p, int secs)
{
	(void)p;
	(void)secs;
	return snprintf(buf, size, "{\"alarm\":true}");
}

/* Tuya TS0601 "alarm":"ON"/"OFF" sirens with the duration in seconds
 * (tuya.ts: ZA03 _TZE204_hcxvyxa5: dp 13 alarm, dp 5 volume, dp 7 duration
 * 1..380 s). These are tuyaBase({dp: true}) devices: one converter,
 * tuya.tz.datapoints, that sends every key of the message in message order,
 * so volume and duration go before alarm and the siren starts loud and for
 * the whole on-time. It stops at the first key the device lacks, so every
 * key here is one of the device's datapoints. */
static int on_tuya_alarm_onoff(char *buf, size_t size, enum sh_siren p, int secs)
{
	(void)p;
	return snprintf(buf, size, "{\"volume\":\"high\",\"duration\":%d,\"alarm\":\"ON\"}", secs);
}

/* The same (tuya.tz.datapoints) with the duration in minutes (tuya.ts: YXZBSL
 * _TZE204_k7mfgaen/_fncxk3ob: dp 7 duration 1..60 min; its volume says
 * "middle" where ZA03 says "medium", "high" is in both). Rounded up: the
 * siren must not stop before the gateway's refresh. */
static int on_tuya_alarm_onoff_min(char *buf, size_t size, enum sh_siren p, int secs)
{
	(void)p;
	return snprintf(buf, size, "{\"volume\":\"high\",\"duration\":%d,\"alarm\":\"ON\"}",
	                (secs + 59) / 60);
}

/* HOBEIAN ZG-229Z light & sound siren (tuya.ts, tuya.tz.datapoints as
 * above): alarm is an enum alarm_sound/alarm_light/alarm_sound_light/normal,
 * with alarm_volume and alarm_time 0..1800 s of their own. */
static int on_tuya_alarm_enum(char *buf, size_t size, enum sh_siren p, int secs)
{
	(void)p;
	return snprintf(buf, size,
	                "{\"alarm_volume\":\"high\",\"alarm_time\":%d,"
	                "\"alarm\":\"alarm_sound_light\"}",
	                secs);
}

/* Tuya TS0216 sound and flash siren (tuya.ts; tz.ts0216_*): alarm is a
 * boolean, volume a number 0..100, duration is written to the IAS WD
 * max_duration attribute (uint16) before the alarm starts. Three
 * converters of their own, so all three keys of the message are sent. */
static int on_ts0216(char *buf, size_t size, enum sh_siren p, int secs)
{
	(void)p;
	return snprintf(buf, size, "{\"volume\":100,\"duration\":%d,\"alarm\":true}", secs);
}

/* ---- what each form looks like in exposes ---------------------------------
 * The same converters, seen from zigbee2mqtt's bridge/devices: the warning
 * composite is exposes.ts `warning` (access SET; features mode, level,
 * strobe_level, strobe, strobe_duty_cycle, duration); heiman.ts HS2WD-E
 * removes level and strobe_level and allows mode stop/emergency only. The
 * Tuya forms are one settable "alarm" each: neo.ts NAS-AB02B2
 * binary(true/false) + enum volume; tuya.ts TS0216 binary(true/false) +
 * numeric volume 0..100; ZA03 binary("ON"/"OFF") + duration unit "s";
 * YXZBSL the same with unit "min"; ZG-229Z enum alarm with
 * alarm_sound_light and normal. */

static int has_value(const cJSON *values, const char *v)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, values)
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, v) == 0)
			return 1;
	}
	return 0;
}

static int type_is(const cJSON *e, const char *type)
{
	const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type"));
	return t && strcmp(t, type) == 0;
}

/* The settable "warning" composite, or NULL. */
static const cJSON *warning_composite(const cJSON *exposes)
{
	const cJSON *w = z2m_expose_find(exposes, "warning");
	if (!w || !type_is(w, "composite") || !z2m_expose_settable(w))
		return NULL;
	return w;
}

static int match_warning(const cJSON *exposes)
{
	const cJSON *w = warning_composite(exposes);
	return w && z2m_expose_feature(w, "level") && z2m_expose_feature(w, "mode");
}

static int match_warning_heiman(const cJSON *exposes)
{
	const cJSON *w = warning_composite(exposes), *mode, *it;
	if (!w || z2m_expose_feature(w, "level") || !(mode = z2m_expose_feature(w, "mode")))
		return 0;
	if (!has_value(cJSON_GetObjectItemCaseSensitive(mode, "values"), "emergency"))
		return 0;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(mode, "values"))
	{
		if (!cJSON_IsString(it) || (strcmp(it->valuestring, "stop") != 0 &&
		                            strcmp(it->valuestring, "emergency") != 0))
			return 0;
	}
	return 1;
}

/* The settable binary "alarm" whose value_on is the JSON value on_json
 * ("true" or "\"ON\""). */
static int alarm_binary(const cJSON *exposes, int on_bool)
{
	const cJSON *a = z2m_expose_find(exposes, "alarm"), *on;
	if (!a || !type_is(a, "binary") || !z2m_expose_settable(a))
		return 0;
	on = cJSON_GetObjectItemCaseSensitive(a, "value_on");
	if (on_bool)
		return cJSON_IsTrue(on);
	return cJSON_IsString(on) && strcmp(on->valuestring, "ON") == 0;
}

static int prop_type(const cJSON *exposes, const char *prop, const char *type)
{
	const cJSON *e = z2m_expose_find(exposes, prop);
	return e && type_is(e, type);
}

static int duration_unit(const cJSON *exposes, const char *unit)
{
	const cJSON *d = z2m_expose_find(exposes, "duration");
	const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "unit"));
	return d && type_is(d, "numeric") && u && strcmp(u, unit) == 0;
}

static int match_tuya_alarm_bool(const cJSON *exposes)
{
	return alarm_binary(exposes, 1) && prop_type(exposes, "volume", "enum");
}

static int match_ts0216(const cJSON *exposes)
{
	return alarm_binary(exposes, 1) && prop_type(exposes, "volume", "numeric");
}

static int match_tuya_alarm_onoff(const cJSON *exposes)
{
	return alarm_binary(exposes, 0) && duration_unit(exposes, "s");
}

static int match_tuya_alarm_onoff_min(const cJSON *exposes)
{
	return alarm_binary(exposes, 0) && duration_unit(exposes, "min");
}

static int match_tuya_alarm_enum(const cJSON *exposes)
{
	const cJSON *a = z2m_expose_find(exposes, "alarm");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "values");
	return a && type_is(a, "enum") && z2m_expose_settable(a) &&
	       has_value(v, "alarm_sound_light") && has_value(v, "normal");
}

/* The stop of the "warning" forms sends every bit of the info byte as zero
 * (mode stop, level low, no strobe): SIRZB-110 does not stop otherwise (the
 * converter's own comment), and it is what the converters' own off
 * commands send (warning_simple, ts0216_alarm). */
static const struct z2m_siren_form forms[] = {
    {"warning", on_warning,
     "{\"warning\":{\"mode\":\"stop\",\"level\":\"low\",\"strobe\":false,\"duration\":0}}", 65534,
     match_warning, "the warning composite (mode, level, strobe, duration)"},
    {"warning-heiman", on_warning_heiman,
     "{\"warning\":{\"mode\":\"stop\",\"strobe\":false,\"duration\":0}}", 65534,
     match_warning_heiman, "the warning composite with modes stop and emergency only, no level"},
    {"tuya-alarm-bool", on_tuya_alarm_bool, "{\"alarm\":false}", 1800, match_tuya_alarm_bool,
     "alarm true/false with volume low/medium/high"},
    {"tuya-alarm-onoff", on_tuya_alarm_onoff, "{\"alarm\":\"OFF\"}", 380, match_tuya_alarm_onoff,
     "alarm ON/OFF with duration in seconds"},
    {"tuya-alarm-onoff-min", on_tuya_alarm_onoff_min, "{\"alarm\":\"OFF\"}", 3600,
     match_tuya_alarm_onoff_min, "alarm ON/OFF with duration in minutes"},
    {"tuya-alarm-enum", on_tuya_alarm_enum, "{\"alarm\":\"normal\"}", 1800, match_tuya_alarm_enum,
     "alarm alarm_sound_light/normal"},
    {"ts0216", on_ts0216, "{\"alarm\":false}", 65534, match_ts0216,
     "alarm true/false with volume 0..100"},
};

#define NFORMS (sizeof(forms) / sizeof(forms[0]))

/* The same names, in table order, for sh_suggest() and messages. */
const char *const z2m_siren_form_names[] = {"warning",
                                            "warning-heiman",
                                            "tuya-alarm-bool",
                                            "tuya-alarm-onoff",
                                            "tuya-alarm-onoff-min",
                                            "tuya-alarm-enum",
                                            "ts0216",
                                            NULL};
_Static_assert(sizeof(z2m_siren_form_names) / sizeof(z2m_siren_form_names[0]) == NFORMS + 1,
               "z2m_siren_form_names must list every form");

static const struct z2m_siren_form *form_find(const char *name)
{
	for (size_t i = 0; i < NFORMS; i++)
		if (strcmp(forms[i].name, name) == 0)
			return &forms[i];
	return NULL;
}

int z2m_siren_configure(struct family_binding *b, const struct cJSON *mqtt,
                        const struct cfg_report *cfg)
{
	const cJSON *siren = cJSON_GetObjectItemCaseSensitive(mqtt, "siren");
	const struct z2m_siren_form *f;
	const char *hint;
	char list[160];
	size_t n = 0;

	b->opts = NULL;
	if (!siren)
		return 0;
	if (!b->siren) {
		cfg->report(cfg->ctx, 0, siren, "siren",
		            "only a siren or strobe output takes a siren form; a relay or "
		            "valve is sent {\"state\":\"ON\"/\"OFF\"}");
		return -1;
	}
	if (!cJSON_IsString(siren) || !siren->valuestring) {
		cfg->report(cfg->ctx, 0, siren, "siren",
		            "expected a string naming the siren's command form, e.g. \"warning\"");
		return -1;
	}
	f = form_find(siren->valuestring);
	if (f) {
		/* The gateway re-sends the command every 80% of duration_s; a
		 * device that stops sooner would fall silent in between. */
		if (b->duration_s > f->max_s) {
			cfg->report(cfg->ctx, 0, siren, "siren",
			            "a \"%s\" siren sounds at most %d s per command; set the "
			            "output's duration_s to %d or less, or it falls silent "
			            "between the gateway's refreshes",
			            f->name, f->max_s, f->max_s);
			return -1;
		}
		/* The table is static: opts points into it and owns nothing. */
		b->opts = (void *)f;
		return 0;
	}
	hint = sh_suggest(siren->valuestring, z2m_siren_form_names);
	if (hint) {
		cfg->report(cfg->ctx, 0, siren, "siren",
		            "unknown siren form \"%s\"; did you mean \"%s\"?", siren->valuestring,
		            hint);
		return -1;
	}
	list[0] = '\0';
	for (size_t i = 0; z2m_siren_form_names[i]; i++)
		n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s%s",
		                      i ? ", " : "", z2m_siren_form_names[i]);
	cfg->report(cfg->ctx, 0, siren, "siren", "unknown siren form \"%s\"; this version knows %s",
	            siren->valuestring, list);
	return -1;
}

void z2m_siren_free(struct family_binding *b)
{
	b->opts = NULL; /* points into the static table */
}

int z2m_siren_encode(const struct family_binding *b, const struct family_output_cmd *cmd, char *buf,
                     size_t size)
{
	const struct z2m_siren_form *f = b->opts ? b->opts : &forms[0];
	enum sh_siren p = cmd->pattern == SIREN_OFF ? SIREN_FIRE : cmd->pattern;
	int secs = cmd->duration_s > 0 ? cmd->duration_s : Z2M_SIREN_DEFAULT_S;
	int len;

	if (secs > f->max_s)
		secs = f->max_s;
	if (!cmd->siren)
		len = snprintf(buf, size, "{\"state\":\"%s\"}", cmd->on ? "ON" : "OFF");
	else if (!cmd->on)
		len = snprintf(buf, size, "%s", f->off);
	else
		len = f->on(buf, size, p, secs);
	if (len < 0 || (size_t)len >= size)
		return -1;
	return len;
}

const char *z2m_siren_form_of(const cJSON *exposes)
{
	for (size_t i = 0; i < NFORMS; i++)
		if (forms[i].match(exposes))
			return forms[i].name;
	return NULL;
}

const char *z2m_siren_form_looks(const char *name)
{
	const struct z2m_siren_form *f = name ? form_find(name) : NULL;
	return f ? f->looks : NULL;
}
