/*
 * test_zigbee2mqtt.c: the zigbee2mqtt payload family, alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/family.h"

/* The bindings a config would give: a smoke detector, a siren, a relay. */
static struct family_binding smoke_binding = {
    .topic = "zigbee2mqtt/smoke", .format = "zigbee2mqtt", .kind = KIND_SMOKE};
static struct family_binding siren_binding = {.topic = "zigbee2mqtt/siren/set",
                                              .format = "zigbee2mqtt",
                                              .is_output = 1,
                                              .siren = 1,
                                              .kind = KIND_GENERIC};
static struct family_binding relay_binding = {
    .topic = "cmnd/relay/POWER", .format = "tasmota", .is_output = 1, .kind = KIND_GENERIC};

static const struct family *z2m(void)
{
	const struct family *f = family_find("zigbee2mqtt");
	assert_non_null(f);
	return f;
}

/* Decode and return the number of values, or -1 with *why. */
static int decode(int which, const char *payload, size_t len, struct sh_point_value *out,
                  enum family_reject *why)
{
	int n = 0;
	if (z2m()->decode(&smoke_binding, which, payload, len, out, &n, why, NULL) < 0)
		return -1;
	return n;
}

/* The same, with the report of dropped fields. */
static int decode_drops(const char *payload, size_t len, struct sh_point_value *out,
                        struct family_drops *drops)
{
	enum family_reject why;
	int n = 0;
	if (z2m()->decode(&smoke_binding, 0, payload, len, out, &n, &why, drops) < 0)
		return -1;
	return n;
}

static int find(const struct sh_point_value *v, int n, enum sh_point p, double *value)
{
	for (int i = 0; i < n; i++)
		if (v[i].point == p) {
			*value = v[i].value;
			return 1;
		}
	return 0;
}

static void test_smoke_detector_report_gives_smoke_battery_and_tamper(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	const char *p = "{\"smoke\":true,\"battery\":87,\"battery_low\":false,\"tamper\":false,"
	                "\"linkquality\":120,\"voltage\":2900}";
	double x;
	int n = decode(0, p, strlen(p), v, &why);
	(void)state;
	assert_int_equal(n, 4);
	assert_true(find(v, n, POINT_SMOKE, &x) && x == 1);
	assert_true(find(v, n, POINT_BATTERY, &x) && x == 87);
	assert_true(find(v, n, POINT_BATTERY_LOW, &x) && x == 0);
	assert_true(find(v, n, POINT_TAMPER, &x) && x == 0);
}

static void test_contact_true_means_closed(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	double x;
	int n;
	(void)state;
	n = decode(0, "{\"contact\":true}", 16, v, &why);
	assert_true(find(v, n, POINT_CONTACT, &x));
	assert_true(x == 0); /* closed */
	n = decode(0, "{\"contact\":false}", 17, v, &why);
	assert_true(find(v, n, POINT_CONTACT, &x));
	assert_true(x == 1); /* open */
}

static void test_sos_button_action_emergency_is_a_panic_press(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	double x;
	int n;
	(void)state;
	n = decode(0, "{\"action\":\"emergency\",\"battery\":100}", 36, v, &why);
	assert_true(find(v, n, POINT_PANIC, &x) && x == 1);
	n = decode(0, "{\"sos\":true}", 12, v, &why);
	assert_true(find(v, n, POINT_PANIC, &x) && x == 1);
	/* other button actions and the release are not presses */
	n = decode(0, "{\"action\":\"single\"}", 19, v, &why);
	assert_int_equal(n, 0);
	n = decode(0, "{\"sos\":false}", 13, v, &why);
	assert_int_equal(n, 0);
}

static void test_gas_co_water_motion_temperature_map_to_points(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	const char *p = "{\"gas\":true,\"carbon_monoxide\":false,\"water_leak\":true,"
	                "\"occupancy\":true,\"temperature\":61.5,\"test\":false}";
	double x;
	int n = decode(0, p, strlen(p), v, &why);
	(void)state;
	assert_int_equal(n, 6);
	assert_true(find(v, n, POINT_GAS, &x) && x == 1);
	assert_true(find(v, n, POINT_CO, &x) && x == 0);
	assert_true(find(v, n, POINT_WATER, &x) && x == 1);
	assert_true(find(v, n, POINT_MOTION, &x) && x == 1);
	assert_true(find(v, n, POINT_TEMPERATURE, &x) && x == 61.5);
	assert_true(find(v, n, POINT_TEST, &x) && x == 0);
}

static void test_availability_accepts_json_and_legacy_plain_forms(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	double x;
	int n;
	(void)state;
	n = decode(1, "{\"state\":\"offline\"}", 19, v, &why);
	assert_true(find(v, n, POINT_ONLINE, &x) && x == 0);
	n = decode(1, "online", 6, v, &why);
	assert_true(find(v, n, POINT_ONLINE, &x) && x == 1);
	n = decode(1, "offline\n", 8, v, &why);
	assert_true(find(v, n, POINT_ONLINE, &x) && x == 0);
	assert_int_equal(decode(1, "maybe", 5, v, &why), -1);
	assert_int_equal(why, REJECT_BAD_VALUE);
	assert_int_equal(decode(1, "{\"state\":1}", 11, v, &why), -1);
	assert_int_equal(why, REJECT_BAD_TYPE);
}

struct bad_case {
	const char *name;
	const char *payload;
	size_t len; /* 0: strlen */
	enum family_reject why;
};

static void test_unusable_payloads_are_rejected_with_their_reason(void **state)
{
	static const struct bad_case cases[] = {
	    {"empty", "", 0, REJECT_NOT_JSON},
	    {"text", "smoke!", 0, REJECT_NOT_JSON},
	    {"truncated", "{\"smoke\":tr", 0, REJECT_NOT_JSON},
	    {"trailing garbage", "{\"smoke\":true} xyz", 0, REJECT_NOT_JSON},
	    {"array", "[true]", 0, REJECT_NOT_OBJECT},
	    {"number", "42", 0, REJECT_NOT_OBJECT},
	    {"null", "null", 0, REJECT_NOT_OBJECT},
	    /* A message whose only known fields are bad has nothing usable. */
	    {"string smoke", "{\"smoke\":\"yes\"}", 0, REJECT_BAD_TYPE},
	    {"numeric smoke 2", "{\"smoke\":2}", 0, REJECT_BAD_TYPE},
	    {"string temperature", "{\"temperature\":\"60\"}", 0, REJECT_BAD_TYPE},
	    {"battery over 127", "{\"battery\":250}", 0, REJECT_BAD_VALUE},
	    {"absurd temperature", "{\"temperature\":1e308}", 0, REJECT_BAD_VALUE},
	    {"bad battery and bad smoke", "{\"battery\":-5,\"smoke\":\"x\"}", 0, REJECT_BAD_VALUE},
	    {"unknown fields only", "{\"foo\":1,\"bar\":2}", 0, REJECT_NO_FIELDS},
	    {"unknown deep object only", "{\"foo\":{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}}", 0,
	     REJECT_NO_FIELDS},
	    {"nulls only", "{\"smoke\":null}", 0, REJECT_NO_FIELDS},
	    {"embedded NUL", "{\"smoke\":true}\0", 15, REJECT_NOT_JSON},
	};
	struct sh_point_value v[FAMILY_MAX_VALUES];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum family_reject why = REJECT_NONE;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].payload);
		int n = decode(0, cases[i].payload, len, v, &why);
		if (n != -1 || why != cases[i].why)
			fail_msg("%s: got n=%d why=%s, want rejection %s", cases[i].name, n,
			         family_reject_name(why), family_reject_name(cases[i].why));
	}
}

static void test_oversized_payload_is_rejected_before_parsing(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	size_t len = 300 * 1024;
	char *big = malloc(len);
	(void)state;
	assert_non_null(big);
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	assert_int_equal(decode(0, big, len, v, &why), -1);
	assert_int_equal(why, REJECT_TOO_LARGE);
	free(big);
}

/* A message that carries smoke:true plus one odd field: the smoke and every
 * other good field must be used; a bad field is dropped alone and named. */
struct odd_case {
	const char *odd;     /* one more "key":value, inserted between good fields */
	const char *field;   /* the field that must be reported dropped, or NULL */
	enum sh_point point; /* with field NULL: the point the odd field sets */
	double value;        /* ... and its value */
};

static void test_one_odd_field_never_throws_away_smoke(void **state)
{
	static const struct odd_case cases[] = {
	    /* zigbee-herdsman-converters src/converters/fromZigbee.ts, converter
	     * `battery`: batteryPercentageRemaining / 2 for raw values below
	     * 255, so a compliant device can report up to 127, and fractions:
	     * kept, clamped to 100 (full). */
	    {"\"battery\":127", NULL, POINT_BATTERY, 100},
	    {"\"battery\":100.5", NULL, POINT_BATTERY, 100},
	    {"\"battery\":0", NULL, POINT_BATTERY, 0},
	    {"\"battery\":128", "battery", 0, 0},
	    {"\"battery\":-5", "battery", 0, 0},
	    {"\"battery\":\"90\"", "battery", 0, 0},
	    {"\"battery\":[90]", "battery", 0, 0},
	    {"\"temperature\":300", "temperature", 0, 0},
	    {"\"temperature\":1e308", "temperature", 0, 0},
	    {"\"temperature\":{\"value\":20}", "temperature", 0, 0},
	    /* Booleans: true/false, "ON"/"OFF", "true"/"false" (any case), 1/0. */
	    {"\"tamper\":\"false\"", NULL, POINT_TAMPER, 0},
	    {"\"tamper\":\"TRUE\"", NULL, POINT_TAMPER, 1},
	    {"\"tamper\":\"ON\"", NULL, POINT_TAMPER, 1},
	    {"\"tamper\":\"off\"", NULL, POINT_TAMPER, 0},
	    {"\"tamper\":1", NULL, POINT_TAMPER, 1},
	    {"\"tamper\":0", NULL, POINT_TAMPER, 0},
	    {"\"battery_low\":\"false\"", NULL, POINT_BATTERY_LOW, 0},
	    {"\"tamper\":\"1\"", "tamper", 0, 0},
	    {"\"tamper\":2", "tamper", 0, 0},
	    {"\"battery_low\":\"maybe\"", "battery_low", 0, 0},
	    {"\"action\":7", "action", 0, 0},
	    {"\"action\":\"single\"", NULL, POINT__COUNT, 0},
	    {"\"sos\":\"yes\"", "sos", 0, 0},
	    /* z2m publishes an "update" object for every OTA-capable device;
	     * unknown keys are skipped whatever they hold. */
	    {"\"update\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":"
	     "{\"state\":\"idle\"}}}}}}}}}}",
	     NULL, POINT__COUNT, 0},
	    {"\"firmware\":[[[[[[[[[[[[1]]]]]]]]]]]]", NULL, POINT__COUNT, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct odd_case *c = &cases[i];
		struct sh_point_value v[FAMILY_MAX_VALUES];
		struct family_drops d;
		char p[512];
		double x;
		int n;
		snprintf(p, sizeof(p),
		         "{\"smoke\":true,%s,\"linkquality\":90,\"temperature\":24.5}", c->odd);
		n = decode_drops(p, strlen(p), v, &d);
		if (n < 0 || !find(v, n, POINT_SMOKE, &x) || x != 1)
			fail_msg("%s: smoke:true lost (n=%d)", p, n);
		/* temperature:24.5 is the other good field; with an odd
		 * temperature the later good one is the last and wins. */
		if (!find(v, n, POINT_TEMPERATURE, &x) || x != 24.5)
			fail_msg("%s: temperature 24.5 lost", p);
		if (c->field) {
			if (d.count != 1 || !d.field || strcmp(d.field, c->field) != 0 ||
			    !d.reason || !d.value[0])
				fail_msg("%s: want %s reported dropped, got count=%d field=%s", p,
				         c->field, d.count, d.field ? d.field : "(none)");
		} else {
			if (d.count != 0)
				fail_msg("%s: nothing should be dropped, got %s: %s", p, d.field,
				         d.reason);
			if (c->point != POINT__COUNT &&
			    (!find(v, n, c->point, &x) || x != c->value))
				fail_msg("%s: want %s = %g", p, sh_point_name(c->point), c->value);
		}
	}
}

static void test_dropped_field_report_says_why_and_what(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	struct family_drops d;
	const char *p = "{\"battery\":300,\"smoke\":true,\"tamper\":\"nope\"}";
	(void)state;
	assert_true(decode_drops(p, strlen(p), v, &d) >= 1);
	assert_int_equal(d.count, 2);
	assert_string_equal(d.field, "battery"); /* the first one */
	assert_string_equal(d.reason, "out of range");
	assert_string_equal(d.value, "300");
	assert_int_equal(d.why, REJECT_BAD_VALUE);
}

static void test_large_payload_under_64k_keeps_its_smoke(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	struct family_drops d;
	size_t pad = 17 * 1024;
	char *p = malloc(pad + 64);
	double x;
	int n;
	(void)state;
	assert_non_null(p);
	strcpy(p, "{\"update\":{\"release_notes\":\"");
	memset(p + strlen(p), 'x', pad);
	strcpy(p + strlen("{\"update\":{\"release_notes\":\"") + pad, "\"},\"smoke\":true}");
	n = decode_drops(p, strlen(p), v, &d);
	assert_true(strlen(p) > 17 * 1024);
	assert_true(n >= 1 && find(v, n, POINT_SMOKE, &x) && x == 1);
	free(p);
}

static void test_repeated_known_fields_cannot_hide_smoke(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	struct family_drops d;
	char p[1024] = "{";
	double x;
	int n;
	(void)state;
	/* 20 known fields, then smoke: the old 16-value cap dropped the smoke
	 * silently and still counted the message as accepted. */
	for (int i = 0; i < 20; i++)
		snprintf(p + strlen(p), sizeof(p) - strlen(p), "\"battery\":%d,", 50 + i);
	strcat(p, "\"tamper\":false,\"contact\":true,\"smoke\":true}");
	n = decode_drops(p, strlen(p), v, &d);
	assert_true(n >= 1 && n <= FAMILY_MAX_VALUES);
	assert_true(find(v, n, POINT_SMOKE, &x) && x == 1);
	assert_true(find(v, n, POINT_BATTERY, &x) && x == 69); /* the last wins */
	assert_int_equal(d.count, 0);
	/* every point at most once */
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			assert_true(v[i].point != v[j].point);
}

static void test_nesting_past_cjson_limit_is_refused_as_too_deep(void **state)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	size_t depth = 1100, len = 0;
	char *p = malloc(depth * 2 + 64);
	(void)state;
	assert_non_null(p);
	len += (size_t)sprintf(p, "{\"smoke\":true,\"a\":");
	for (size_t i = 0; i < depth; i++)
		p[len++] = '[';
	for (size_t i = 0; i < depth; i++)
		p[len++] = ']';
	p[len++] = '}';
	assert_int_equal(decode(0, p, len, v, &why), -1);
	assert_int_equal(why, REJECT_TOO_DEEP);
	free(p);
}

static void test_siren_payloads_follow_the_contract(void **state)
{
	char buf[256];
	struct family_output_cmd on = {
	    .siren = 1, .on = 1, .pattern = SIREN_BURGLAR, .duration_s = 120};
	struct family_output_cmd off = {.siren = 1, .on = 0};
	struct family_output_cmd relay = {.siren = 0, .on = 1};
	(void)state;
	assert_true(z2m()->encode_output(&siren_binding, &on, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"warning\":{\"mode\":\"burglar\",\"level\":\"very_high\","
	                         "\"strobe\":true,\"duration\":120}}");
	assert_true(z2m()->encode_output(&siren_binding, &off, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"warning\":{\"mode\":\"stop\",\"level\":\"low\","
	                         "\"strobe\":false,\"duration\":0}}");
	assert_true(z2m()->encode_output(&siren_binding, &relay, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"state\":\"ON\"}");
}

static void test_tasmota_relay_gets_on_and_off(void **state)
{
	const struct family *t = family_find("tasmota");
	struct family_output_cmd on = {.siren = 1, .on = 1, .pattern = SIREN_FIRE};
	struct family_output_cmd off = {.siren = 1, .on = 0};
	char buf[16];
	(void)state;
	assert_non_null(t);
	assert_int_equal(t->encode_output(&relay_binding, &on, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "ON");
	assert_int_equal(t->encode_output(&relay_binding, &off, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "OFF");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_smoke_detector_report_gives_smoke_battery_and_tamper),
	    cmocka_unit_test(test_contact_true_means_closed),
	    cmocka_unit_test(test_sos_button_action_emergency_is_a_panic_press),
	    cmocka_unit_test(test_gas_co_water_motion_temperature_map_to_points),
	    cmocka_unit_test(test_availability_accepts_json_and_legacy_plain_forms),
	    cmocka_unit_test(test_unusable_payloads_are_rejected_with_their_reason),
	    cmocka_unit_test(test_oversized_payload_is_rejected_before_parsing),
	    cmocka_unit_test(test_one_odd_field_never_throws_away_smoke),
	    cmocka_unit_test(test_dropped_field_report_says_why_and_what),
	    cmocka_unit_test(test_large_payload_under_64k_keeps_its_smoke),
	    cmocka_unit_test(test_repeated_known_fields_cannot_hide_smoke),
	    cmocka_unit_test(test_nesting_past_cjson_limit_is_refused_as_too_deep),
	    cmocka_unit_test(test_siren_payloads_follow_the_contract),
	    cmocka_unit_test(test_tasmota_relay_gets_on_and_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
