/*
 * test_sirens.c: every siren model we know of gets, through its configured
 * "siren" form, the exact payloads its zigbee2mqtt converter takes: one on
 * payload per pattern and the stop that silences it. Each row cites the
 * converter (zigbee-herdsman-converters, src/) it was derived from. And the
 * installer's mistakes in the "siren" key are reported with file:line:col.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gateway/config.h"
#include "sensors/family.h"
#include "sensors/z2m_siren.h"

#define MAX_DIAGS 16

struct diags {
	int n, errors;
	char msg[MAX_DIAGS][512];
};

static void capture(void *ctx, int severity, const char *msg)
{
	struct diags *d = ctx;

	if (severity == 0)
		d->errors++;
	if (d->n < MAX_DIAGS)
		snprintf(d->msg[d->n++], sizeof(d->msg[0]), "%s", msg);
}

static void expect_diag(const struct diags *d, const char *msg)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->msg[i], msg) == 0)
			return;
	for (int i = 0; i < d->n; i++)
		print_message("  got %s\n", d->msg[i]);
	fail_msg("expected %s", msg);
}

/* One output, of the given kind, with the given "siren" member (a JSON
 * fragment such as "\"warning\"", or NULL for none) and duration_s. */
static struct config *load_output(const char *kind, const char *siren, int duration_s,
                                  struct diags *d)
{
	char text[1024];
	int nerrors = -1;
	struct config *c;

	snprintf(text, sizeof(text),
	         "{\n"
	         "  \"site\": {\"id\": \"nt-minhson-ap3\"},\n"
	         "  \"zones\": [{\"id\": \"hall\"}],\n"
	         "  \"outputs\": [{\"id\": \"out\", \"kind\": \"%s\", \"duration_s\": %d,\n"
	         "    \"mqtt\": {\"topic\": \"zigbee2mqtt/out/set\", \"format\": "
	         "\"zigbee2mqtt\"%s%s}}]\n"
	         "}\n",
	         kind, duration_s, siren ? ", \"siren\": " : "", siren ? siren : "");
	memset(d, 0, sizeof(*d));
	c = config_load_string(text, "site.json", "/tmp", capture, d, &nerrors);
	assert_int_equal(nerrors, d->errors);
	return c;
}

static int encode(const struct config *c, int on, enum sh_siren p, char *buf, size_t size)
{
	const struct config_output *o = &c->outputs[0];
	struct family_output_cmd cmd = {
	    .siren = o->mqtt.siren, .on = on, .pattern = p, .duration_s = o->duration_s};

	return family_find("zigbee2mqtt")->encode_output(&o->mqtt, &cmd, buf, size);
}

struct siren_row {
	const char *model;  /* vendor and model as zigbee2mqtt names it */
	const char *source; /* the converter the payloads follow */
	const char *form;   /* the "siren" member, NULL: left out (default) */
	int duration_s;
	const char *on[SIREN__COUNT]; /* by pattern; [SIREN_OFF] unused */
	const char *off;
};

#define WARNING_ON(mode, d)                                                                        \
	"{\"warning\":{\"mode\":\"" mode "\",\"level\":\"very_high\",\"strobe\":true,"             \
	"\"duration\":" #d "}}"
#define WARNING_STOP                                                                               \
	"{\"warning\":{\"mode\":\"stop\",\"level\":\"low\",\"strobe\":false,\"duration\":0}}"

static const struct siren_row rows[] = {
    {"Develco SIRZB-110",
     "devices/develco.ts; converters/toZigbee.ts warning",
     NULL,
     120,
     {NULL, WARNING_ON("fire", 120), WARNING_ON("burglar", 120), WARNING_ON("emergency", 120)},
     WARNING_STOP},
    {"Heiman HS2WD-EF",
     "devices/heiman.ts (modes stop/burglar/fire/emergency, level kept)",
     "\"warning\"",
     300,
     {NULL, WARNING_ON("fire", 300), WARNING_ON("burglar", 300), WARNING_ON("emergency", 300)},
     WARNING_STOP},
    {"Tuya TS0224",
     "devices/tuya.ts (tz.warning, e.warning())",
     "\"warning\"",
     1800,
     {NULL, WARNING_ON("fire", 1800), WARNING_ON("burglar", 1800), WARNING_ON("emergency", 1800)},
     WARNING_STOP},
    {"Heiman HS2WD-E",
     "devices/heiman.ts (tz.warning; exposes drop level, strobe_level; "
     "modes stop/emergency only)",
     "\"warning-heiman\"",
     240,
     {NULL, "{\"warning\":{\"mode\":\"emergency\",\"strobe\":true,\"duration\":240}}",
      "{\"warning\":{\"mode\":\"emergency\",\"strobe\":true,\"duration\":240}}",
      "{\"warning\":{\"mode\":\"emergency\",\"strobe\":true,\"duration\":240}}"},
     "{\"warning\":{\"mode\":\"stop\",\"strobe\":false,\"duration\":0}}"},
    {"NEO NAS-AB02B2",
     "devices/neo.ts; lib/legacy.ts tz.neo_alarm (alarm bool; volume and duration are "
     "keys of the same converter, which zigbee2mqtt's publish.ts calls once per message: "
     "alarm alone)",
     "\"tuya-alarm-bool\"",
     300,
     {NULL, "{\"alarm\":true}", "{\"alarm\":true}", "{\"alarm\":true}"},
     "{\"alarm\":false}"},
    {"NEO NAS-AB02B0",
     "devices/neo.ts; lib/legacy.ts tz.neo_t_h_alarm (same alarm key, one converter)",
     "\"tuya-alarm-bool\"",
     1800,
     {NULL, "{\"alarm\":true}", "{\"alarm\":true}", "{\"alarm\":true}"},
     "{\"alarm\":false}"},
    {"Tuya ZA03 (_TZE204_hcxvyxa5)",
     "devices/tuya.ts (dp 13 alarm onOff, dp 5 volume, dp 7 duration 1..380 s)",
     "\"tuya-alarm-onoff\"",
     380,
     {NULL, "{\"volume\":\"high\",\"duration\":380,\"alarm\":\"ON\"}",
      "{\"volume\":\"high\",\"duration\":380,\"alarm\":\"ON\"}",
      "{\"volume\":\"high\",\"duration\":380,\"alarm\":\"ON\"}"},
     "{\"alarm\":\"OFF\"}"},
    {"Tuya YXZBSL (_TZE204_k7mfgaen)",
     "devices/tuya.ts (dp 13 alarm onOff, dp 5 volume, dp 7 duration 1..60 min)",
     "\"tuya-alarm-onoff-min\"",
     90, /* 1.5 min: rounded up to 2 */
     {NULL, "{\"volume\":\"high\",\"duration\":2,\"alarm\":\"ON\"}",
      "{\"volume\":\"high\",\"duration\":2,\"alarm\":\"ON\"}",
      "{\"volume\":\"high\",\"duration\":2,\"alarm\":\"ON\"}"},
     "{\"alarm\":\"OFF\"}"},
    {"HOBEIAN ZG-229Z",
     "devices/tuya.ts (dp 1 alarm enum, dp 5 alarm_volume, dp 7 alarm_time)",
     "\"tuya-alarm-enum\"",
     600,
     {NULL, "{\"alarm_volume\":\"high\",\"alarm_time\":600,\"alarm\":\"alarm_sound_light\"}",
      "{\"alarm_volume\":\"high\",\"alarm_time\":600,\"alarm\":\"alarm_sound_light\"}",
      "{\"alarm_volume\":\"high\",\"alarm_time\":600,\"alarm\":\"alarm_sound_light\"}"},
     "{\"alarm\":\"normal\"}"},
    {"Tuya TS0216",
     "devices/tuya.ts; lib/tuya.ts tz.ts0216_alarm/_duration/_volume",
     "\"ts0216\"",
     300,
     {NULL, "{\"volume\":100,\"duration\":300,\"alarm\":true}",
      "{\"volume\":100,\"duration\":300,\"alarm\":true}",
      "{\"volume\":100,\"duration\":300,\"alarm\":true}"},
     "{\"alarm\":false}"},
};

static void test_each_siren_model_gets_its_converters_on_and_off(void **state)
{
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct siren_row *r = &rows[i];
		struct diags d;
		struct config *c = load_output("siren", r->form, r->duration_s, &d);

		print_message("  %s: %s\n", r->model, r->source);
		assert_non_null(c);
		for (int p = SIREN_FIRE; p < SIREN__COUNT; p++) {
			assert_true(encode(c, 1, (enum sh_siren)p, buf, sizeof(buf)) > 0);
			assert_string_equal(buf, r->on[p]);
		}
		assert_true(encode(c, 0, SIREN_OFF, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, r->off);
		config_free(c);
	}
}

/* Every form has a row above, so no form goes untested. */
static void test_every_form_has_a_model_row(void **state)
{
	(void)state;
	for (int i = 0; z2m_siren_form_names[i]; i++) {
		char quoted[64];
		int found = 0;

		snprintf(quoted, sizeof(quoted), "\"%s\"", z2m_siren_form_names[i]);
		for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++)
			if (rows[k].form && strcmp(rows[k].form, quoted) == 0)
				found = 1;
		if (!found)
			fail_msg("siren form %s has no model row", z2m_siren_form_names[i]);
	}
}

/* A strobe is a siren output too; a relay keeps {"state"} whatever form. */
static void test_strobe_takes_a_form_and_relay_gets_state(void **state)
{
	char buf[256];
	struct diags d;
	struct config *c = load_output("strobe", "\"tuya-alarm-bool\"", 60, &d);

	(void)state;
	assert_non_null(c);
	assert_true(encode(c, 1, SIREN_FIRE, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"alarm\":true}");
	config_free(c);

	c = load_output("relay", NULL, 60, &d);
	assert_non_null(c);
	assert_true(encode(c, 1, SIREN_FIRE, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"state\":\"ON\"}");
	assert_true(encode(c, 0, SIREN_OFF, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"state\":\"OFF\"}");
	config_free(c);
}

/* A payload that does not fit is refused, never cut short. */
static void test_payload_too_long_for_the_buffer_is_refused(void **state)
{
	char buf[16];
	struct diags d;
	struct config *c = load_output("siren", "\"tuya-alarm-enum\"", 60, &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(encode(c, 1, SIREN_FIRE, buf, sizeof(buf)), -1);
	config_free(c);
}

static void test_misspelt_form_suggests_the_closest(void **state)
{
	struct diags d;
	struct config *c = load_output("siren", "\"tuya-alarm-boll\"", 300, &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d, "site.json:5:80: outputs[0].mqtt.siren: unknown siren form "
	                "\"tuya-alarm-boll\"; did you mean \"tuya-alarm-bool\"?");
}

static void test_unknown_form_lists_the_known_ones(void **state)
{
	struct diags d;
	struct config *c = load_output("siren", "\"klaxon-9000\"", 300, &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d,
	            "site.json:5:80: outputs[0].mqtt.siren: unknown siren form \"klaxon-9000\"; "
	            "this version knows warning, warning-heiman, tuya-alarm-bool, "
	            "tuya-alarm-onoff, tuya-alarm-onoff-min, tuya-alarm-enum, ts0216");
}

static void test_siren_form_on_a_relay_is_an_error(void **state)
{
	struct diags d;
	struct config *c = load_output("relay", "\"warning\"", 300, &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d,
	            "site.json:5:80: outputs[0].mqtt.siren: only a siren or strobe output takes "
	            "a siren form; a relay or valve is sent {\"state\":\"ON\"/\"OFF\"}");
}

static void test_siren_form_of_the_wrong_type_is_an_error(void **state)
{
	struct diags d;
	struct config *c = load_output("siren", "true", 300, &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d,
	            "site.json:5:80: outputs[0].mqtt.siren: expected a string naming the siren's "
	            "command form, e.g. \"warning\"");
}

/* A ZA03 sounds at most 380 s per command: a longer duration_s would leave
 * it silent until the refresh, so the config is refused. */
static void test_duration_beyond_the_devices_maximum_is_an_error(void **state)
{
	struct diags d;
	struct config *c = load_output("siren", "\"tuya-alarm-onoff\"", 600, &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d,
	            "site.json:5:80: outputs[0].mqtt.siren: a \"tuya-alarm-onoff\" siren sounds "
	            "at most 380 s per command; set the output's duration_s to 380 or less, or "
	            "it falls silent between the gateway's refreshes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_siren_model_gets_its_converters_on_and_off),
	    cmocka_unit_test(test_every_form_has_a_model_row),
	    cmocka_unit_test(test_strobe_takes_a_form_and_relay_gets_state),
	    cmocka_unit_test(test_payload_too_long_for_the_buffer_is_refused),
	    cmocka_unit_test(test_misspelt_form_suggests_the_closest),
	    cmocka_unit_test(test_unknown_form_lists_the_known_ones),
	    cmocka_unit_test(test_siren_form_on_a_relay_is_an_error),
	    cmocka_unit_test(test_siren_form_of_the_wrong_type_is_an_error),
	    cmocka_unit_test(test_duration_beyond_the_devices_maximum_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
