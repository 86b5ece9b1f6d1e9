/*
 * test_discover.c: the exposes classifier (sensors/z2m_discover.c) on the
 * bridge/devices entries of real devices, tests/fixtures/z2m_bridge_devices.json
 * (built from zigbee-herdsman-converters' definitions: each entry's
 * "_source" names the converter file and model, "_expect" the answer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/point.h"
#include "sensors/z2m_discover.h"
#include "sensors/z2m_siren.h"

#define FIXTURE "tests/fixtures/z2m_bridge_devices.json"

static cJSON *load_devices(void)
{
	FILE *f = fopen(FIXTURE, "r");
	char *buf;
	long n;
	cJSON *root;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	root = cJSON_Parse(buf);
	free(buf);
	assert_true(cJSON_IsArray(root));
	return root;
}

static const cJSON *device(const cJSON *all, const char *friendly)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, all)
	{
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(d, "friendly_name")),
		           friendly) == 0)
			return d;
	}
	fail_msg("no device %s in the fixture", friendly);
	return NULL;
}

static const cJSON *exposes_of(const cJSON *d)
{
	return cJSON_GetObjectItem(cJSON_GetObjectItem(d, "definition"), "exposes");
}

static const char *power_word(enum z2m_power p)
{
	return p == Z2M_POWER_BATTERY ? "battery" : p == Z2M_POWER_MAINS ? "mains" : "unknown";
}

/* Every device gets what its "_expect" says: "sensor KIND POWER", "siren
 * FORM POWER", "none WORD" (WORD in the reason) or "skip". */
static void test_each_real_device_is_classified_as_expected(void **state)
{
	cJSON *all = load_devices();
	const cJSON *d;
	int checked = 0;
	(void)state;
	cJSON_ArrayForEach(d, all)
	{
		const char *exp = cJSON_GetStringValue(cJSON_GetObjectItem(d, "_expect"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(d, "friendly_name"));
		struct z2m_discover_class c;
		char what[16], a[64], b[32], got[160];
		int rc = z2m_discover_classify(d, &c);
		assert_non_null(exp);
		if (strcmp(exp, "skip") == 0) {
			assert_int_equal(rc, -1);
			checked++;
			continue;
		}
		assert_int_equal(rc, 0);
		b[0] = 0;
		assert_true(sscanf(exp, "%15s %63s %31s", what, a, b) >= 2);
		if (strcmp(what, "none") == 0) {
			if (c.what != Z2M_DISCOVER_NONE || !strstr(c.why, a))
				fail_msg("%s: expected unclassified (%s), got what=%d: %s", name, a,
				         c.what, c.why);
		} else {
			snprintf(got, sizeof(got), "%s %s %s",
			         c.what == Z2M_DISCOVER_SENSOR  ? "sensor"
			         : c.what == Z2M_DISCOVER_SIREN ? "siren"
			                                        : "none",
			         c.what == Z2M_DISCOVER_SIREN ? c.siren : sh_kind_name(c.kind),
			         power_word(c.power));
			if (strcmp(got, exp) != 0)
				fail_msg("%s: expected \"%s\", got \"%s\" (%s)", name, exp, got,
				         c.why);
		}
		checked++;
	}
	assert_int_equal(checked, cJSON_GetArraySize(all));
	assert_true(checked >= 19);
	cJSON_Delete(all);
}

/* A Tuya smoke detector's settable "alarm" ON/OFF looks like the ZA03
 * siren's: it is a setting, the device stays a smoke sensor. */
static void test_tuya_smoke_alarm_setting_is_not_a_siren(void **state)
{
	cJSON *all = load_devices();
	struct z2m_discover_class c;
	(void)state;
	assert_int_equal(z2m_discover_classify(device(all, "phong-102/khoi"), &c), 0);
	assert_int_equal(c.what, Z2M_DISCOVER_SENSOR);
	assert_int_equal(c.kind, KIND_SMOKE);
	cJSON_Delete(all);
}

static void test_each_siren_form_matches_only_its_own_device(void **state)
{
	cJSON *all = load_devices();
	static const struct {
		const char *dev, *form;
	} sirens[] = {{"hanh-lang/coi", "warning-heiman"},
	              {"siren-hall", "tuya-alarm-bool"},
	              {"cau-thang/coi", "tuya-alarm-onoff"},
	              {"san-thuong/coi", "ts0216"}};
	(void)state;
	for (size_t i = 0; i < sizeof(sirens) / sizeof(sirens[0]); i++) {
		const char *f = z2m_siren_form_of(exposes_of(device(all, sirens[i].dev)));
		assert_non_null(f);
		assert_string_equal(f, sirens[i].form);
	}
	assert_null(z2m_siren_form_of(exposes_of(device(all, "phong-101/khoi"))));
	cJSON_Delete(all);
}

/* The synthetic forms the fixture has no device for: a ZCL warning siren,
 * the minutes siren and the enum one. */
static void test_other_forms_are_recognised_from_their_exposes(void **state)
{
	static const struct {
		const char *exposes, *form;
	} cases[] = {
	    {"[{\"type\":\"composite\",\"property\":\"warning\",\"name\":\"warning\",\"access\":2,"
	     "\"features\":[{\"type\":\"enum\",\"name\":\"mode\",\"access\":2,\"values\":[\"stop\","
	     "\"fire\",\"emergency\"]},{\"type\":\"enum\",\"name\":\"level\",\"access\":2,"
	     "\"values\":[\"low\"]}]}]",
	     "warning"},
	    {"[{\"type\":\"binary\",\"property\":\"alarm\",\"access\":3,\"value_on\":\"ON\","
	     "\"value_off\":\"OFF\"},{\"type\":\"numeric\",\"property\":\"duration\",\"access\":3,"
	     "\"unit\":\"min\"}]",
	     "tuya-alarm-onoff-min"},
	    {"[{\"type\":\"enum\",\"property\":\"alarm\",\"access\":3,\"values\":[\"alarm_sound\","
	     "\"alarm_light\",\"alarm_sound_light\",\"normal\"]}]",
	     "tuya-alarm-enum"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *e = cJSON_Parse(cases[i].exposes);
		const char *f = z2m_siren_form_of(e);
		assert_non_null(f);
		assert_string_equal(f, cases[i].form);
		cJSON_Delete(e);
	}
}

static void test_kind_check_names_the_missing_property(void **state)
{
	cJSON *all = load_devices();
	char why[160];
	(void)state;
	assert_int_equal(z2m_discover_kind_ok(exposes_of(device(all, "bep/nhiet")), KIND_SMOKE, why,
	                                      sizeof(why)),
	                 -1);
	assert_string_equal(why, "exposes no \"smoke\"");
	assert_int_equal(
	    z2m_discover_kind_ok(exposes_of(device(all, "bep/nhiet")), KIND_HEAT, why, sizeof(why)),
	    0);
	assert_int_equal(z2m_discover_kind_ok(exposes_of(device(all, "phong-101/sos")), KIND_PANIC,
	                                      why, sizeof(why)),
	                 0);
	assert_int_equal(z2m_discover_kind_ok(exposes_of(device(all, "cua-chinh/cua")), KIND_MOTION,
	                                      why, sizeof(why)),
	                 -1);
	cJSON_Delete(all);
}

/* Odd entries: wrong types everywhere give a reason, never a crash. */
static void test_malformed_entries_are_refused_with_a_reason(void **state)
{
	static const char *const bad[] = {
	    "{\"friendly_name\":\"x\",\"definition\":{\"exposes\":\"no\"}}",
	    "{\"friendly_name\":\"x\",\"definition\":{\"exposes\":[1,null,\"s\",{\"type\":5},"
	    "{\"property\":\"alarm\",\"type\":\"binary\",\"access\":\"x\"}]}}",
	    "{\"friendly_name\":\"x\",\"definition\":{\"exposes\":[{\"type\":\"composite\","
	    "\"property\":\"warning\",\"access\":2,\"features\":7}]}}",
	    "{\"friendly_name\":\"x\",\"power_source\":5,\"type\":[],\"definition\":[]}",
	    /* an access no int holds (found by fuzz_discover) */
	    "{\"friendly_name\":\"x\",\"definition\":{\"exposes\":[{\"type\":\"binary\","
	    "\"property\":\"alarm\",\"access\":1e300,\"value_on\":true}]}}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *d = cJSON_Parse(bad[i]);
		struct z2m_discover_class c;
		assert_non_null(d);
		assert_int_equal(z2m_discover_classify(d, &c), 0);
		assert_int_equal(c.what, Z2M_DISCOVER_NONE);
		assert_true(c.why[0] != 0);
		cJSON_Delete(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_real_device_is_classified_as_expected),
	    cmocka_unit_test(test_tuya_smoke_alarm_setting_is_not_a_siren),
	    cmocka_unit_test(test_each_siren_form_matches_only_its_own_device),
	    cmocka_unit_test(test_other_forms_are_recognised_from_their_exposes),
	    cmocka_unit_test(test_kind_check_names_the_missing_property),
	    cmocka_unit_test(test_malformed_entries_are_refused_with_a_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
