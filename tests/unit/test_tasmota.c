/*
 * test_tasmota.c: the Tasmota payload family, alone: its topics, its
 * decoding of real Tasmota messages, and its config keys.
 *
 * Payload sources: Tasmota tasmota/tasmota_support/support_switch_v4.ino
 * (a switch's "Switch1":"ON" in tele/SENSOR, and {"Switch1":{"Action":"ON"}}
 * on stat/RESULT with SetOption114), xsns_05_ds18x20.ino ("DS18B20" or
 * "DS18B20-N":{"Id":..,"Temperature":..}), support_tasmota.ino (STATE,
 * POWER, LWT "Online"/"Offline"), and the Tasmota docs' MQTT page.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "family_case.h"

enum {
	B_SMOKE,     /* kind smoke, every default */
	B_DOOR,      /* kind door, "input": "Switch2", "active": "OFF" */
	B_HEAT,      /* kind heat, "temperature": "DS18B20-2" */
	B_PANIC,     /* kind panic */
	B_FEEDBACK,  /* kind siren_feedback, relay 1 */
	B_FEEDBACK2, /* kind siren_feedback, "relay": 2 */
	B_FULL,      /* kind smoke, "full_topic": "tasmota/%topic%/%prefix%/" */
	B__COUNT
};

static struct family_binding bindings[B__COUNT];

static int setup(void **state)
{
	(void)state;
	fcase_bind(&bindings[B_SMOKE], "tasmota", KIND_SMOKE, 0, "smoke1", "{}");
	fcase_bind(&bindings[B_DOOR], "tasmota", KIND_DOOR, 0, "door1",
	           "{\"input\":\"Switch2\",\"active\":\"OFF\"}");
	fcase_bind(&bindings[B_HEAT], "tasmota", KIND_HEAT, 0, "heat1",
	           "{\"temperature\":\"DS18B20-2\"}");
	fcase_bind(&bindings[B_PANIC], "tasmota", KIND_PANIC, 0, "panic1", "{}");
	fcase_bind(&bindings[B_FEEDBACK], "tasmota", KIND_SIREN_FEEDBACK, 0, "siren1", "{}");
	fcase_bind(&bindings[B_FEEDBACK2], "tasmota", KIND_SIREN_FEEDBACK, 0, "siren2",
	           "{\"relay\":2}");
	fcase_bind(&bindings[B_FULL], "tasmota", KIND_SMOKE, 0, "smoke9",
	           "{\"full_topic\":\"tasmota/%topic%/%prefix%/\"}");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < B__COUNT; i++)
		family_binding_free(&bindings[i]);
	return 0;
}

#define T "\"Time\":\"2024-02-24T22:20:38\""
#define STATE_JSON                                                                                 \
	"{" T                                                                                      \
	",\"Uptime\":\"0T00:05:12\",\"UptimeSec\":312,\"Heap\":27,\"SleepMode\":\"Dynamic\","      \
	"\"Sleep\":50,\"LoadAvg\":19,\"MqttCount\":1,\"POWER\":\"%s\",\"Wifi\":{\"AP\":1,"         \
	"\"SSId\":\"nha-tro\",\"RSSI\":78,\"Signal\":-61}}"

static void test_topics_follow_full_topic_and_kind(void **state)
{
	const struct family *f = family_find("tasmota");
	char t[FAMILY_MAX_TOPICS][256];
	struct family_binding nofull;
	int n;

	(void)state;
	n = f->topics(&bindings[B_SMOKE], t, FAMILY_MAX_TOPICS);
	assert_int_equal(n, 4);
	assert_string_equal(t[0], "tele/smoke1/SENSOR");
	assert_string_equal(t[1], "tele/smoke1/STATE");
	assert_string_equal(t[2], "tele/smoke1/LWT");
	assert_string_equal(t[3], "stat/smoke1/RESULT");
	/* relay feedback reads stat/POWER instead of SENSOR */
	n = f->topics(&bindings[B_FEEDBACK], t, FAMILY_MAX_TOPICS);
	assert_int_equal(n, 4);
	assert_string_equal(t[0], "stat/siren1/RESULT");
	assert_string_equal(t[3], "stat/siren1/POWER");
	n = f->topics(&bindings[B_FEEDBACK2], t, FAMILY_MAX_TOPICS);
	assert_string_equal(t[3], "stat/siren2/POWER2");
	n = f->topics(&bindings[B_FULL], t, FAMILY_MAX_TOPICS);
	assert_string_equal(t[0], "tasmota/smoke9/tele/SENSOR");
	assert_string_equal(t[3], "tasmota/smoke9/stat/RESULT");
	/* Tasmota adds the trailing '/' and collapses "//" */
	fcase_bind(&nofull, "tasmota", KIND_SMOKE, 0, "p1",
	           "{\"full_topic\":\"%prefix%/house//%topic%\"}");
	n = f->topics(&nofull, t, FAMILY_MAX_TOPICS);
	assert_int_equal(n, 4);
	assert_string_equal(t[0], "tele/house/p1/SENSOR");
	family_binding_free(&nofull);
}

static void test_real_tasmota_messages_decode(void **state)
{
	static const struct fcase rows[] = {
	    /* peers.md 2.2 / support_switch_v4.ino: SwitchMode 15 publishes
	     * tele/SENSOR at once on a change. */
	    {"Switch1 ON is smoke detected",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"Switch1\":\"ON\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     0},
	    {"Switch1 OFF is smoke clear",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"Switch1\":\"OFF\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 0}},
	     0},
	    /* xsns_05_ds18x20.ino: one sensor is "DS18B20" */
	    {"switch and DS18B20 together",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T
	     ",\"Switch1\":\"OFF\",\"DS18B20\":{\"Id\":\"01144A0CCAAA\",\"Temperature\":24.6},"
	     "\"TempUnit\":\"C\"}",
	     REJECT_NONE,
	     2,
	     {{POINT_SMOKE, 0}, {POINT_TEMPERATURE, 24.6}},
	     0},
	    /* xsns_06_dht.ino: AM2301 {"Temperature","Humidity","DewPoint"} */
	    {"AM2301 temperature",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"AM2301\":{\"Temperature\":23.1,\"Humidity\":51.2,\"DewPoint\":12.5},"
	     "\"TempUnit\":\"C\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_TEMPERATURE, 23.1}},
	     0},
	    {"TempUnit F is converted",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T
	     ",\"DS18B20\":{\"Id\":\"01144A0CCAAA\",\"Temperature\":77.0},\"TempUnit\":\"F\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_TEMPERATURE, 25}},
	     0},
	    /* xsns_127_esp32_sensors.ino: the chip's own temperature */
	    {"an ESP32's chip temperature is not the room's",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"ESP32\":{\"Temperature\":51.1},\"TempUnit\":\"C\"}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    {"a named DS18B20 of several",
	     B_HEAT,
	     "tele/heat1/SENSOR",
	     "{" T ",\"DS18B20-1\":{\"Id\":\"A1\",\"Temperature\":22.0},"
	     "\"DS18B20-2\":{\"Id\":\"B2\",\"Temperature\":65.5},\"TempUnit\":\"C\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_TEMPERATURE, 65.5}},
	     0},
	    /* support_switch_v4.ino with SetOption114: S_JSON_SVALUE_ACTION_SVALUE */
	    {"SetOption114 switch action on RESULT",
	     B_SMOKE,
	     "stat/smoke1/RESULT",
	     "{\"Switch1\":{\"Action\":\"ON\"}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     0},
	    {"a command reply on RESULT is a sign of life",
	     B_SMOKE,
	     "stat/smoke1/RESULT",
	     "{\"TelePeriod\":60}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    {"STATE is a sign of life",
	     B_SMOKE,
	     "tele/smoke1/STATE",
	     "{" T ",\"Uptime\":\"1T02:03:04\"}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    {"LWT Online",
	     B_SMOKE,
	     "tele/smoke1/LWT",
	     "Online",
	     REJECT_NONE,
	     1,
	     {{POINT_ONLINE, 1}},
	     0},
	    {"LWT Offline",
	     B_SMOKE,
	     "tele/smoke1/LWT",
	     "Offline",
	     REJECT_NONE,
	     1,
	     {{POINT_ONLINE, 0}},
	     0},
	    {"a door's Switch2, active OFF: OFF is open",
	     B_DOOR,
	     "tele/door1/SENSOR",
	     "{" T ",\"Switch1\":\"ON\",\"Switch2\":\"OFF\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_CONTACT, 1}},
	     0},
	    {"a door's Switch2 ON is closed",
	     B_DOOR,
	     "tele/door1/SENSOR",
	     "{" T ",\"Switch2\":\"ON\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_CONTACT, 0}},
	     0},
	    {"a panic input ON is a press",
	     B_PANIC,
	     "tele/panic1/SENSOR",
	     "{" T ",\"Switch1\":\"ON\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_PANIC, 1}},
	     0},
	    {"a panic input's release is no event",
	     B_PANIC,
	     "tele/panic1/SENSOR",
	     "{" T ",\"Switch1\":\"OFF\"}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    /* support_tasmota.ino MqttPublishPowerState: stat/T/POWER plain */
	    {"relay feedback stat/POWER ON",
	     B_FEEDBACK,
	     "stat/siren1/POWER",
	     "ON",
	     REJECT_NONE,
	     1,
	     {{POINT_SOUNDING, 1}},
	     0},
	    {"relay feedback RESULT POWER OFF",
	     B_FEEDBACK,
	     "stat/siren1/RESULT",
	     "{\"POWER\":\"OFF\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_SOUNDING, 0}},
	     0},
	    {"relay feedback RESULT POWER1 (SetOption26)",
	     B_FEEDBACK,
	     "stat/siren1/RESULT",
	     "{\"POWER1\":\"ON\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_SOUNDING, 1}},
	     0},
	    {"relay feedback from STATE",
	     B_FEEDBACK,
	     "tele/siren1/STATE",
	     "",
	     REJECT_NONE,
	     1,
	     {{POINT_SOUNDING, 1}},
	     0},
	    {"relay 2 of several reads POWER2 only",
	     B_FEEDBACK2,
	     "stat/siren2/RESULT",
	     "{\"POWER1\":\"OFF\",\"POWER2\":\"ON\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_SOUNDING, 1}},
	     0},
	    {"relay 2's own stat topic",
	     B_FEEDBACK2,
	     "stat/siren2/POWER2",
	     "OFF",
	     REJECT_NONE,
	     1,
	     {{POINT_SOUNDING, 0}},
	     0},
	    {"a smoke sensor ignores POWER in STATE",
	     B_SMOKE,
	     "tele/smoke1/STATE",
	     "",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    {"custom FullTopic",
	     B_FULL,
	     "tasmota/smoke9/tele/SENSOR",
	     "{" T ",\"Switch1\":\"ON\"}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     0},
	    /* bad fields are dropped alone */
	    {"a bad Switch1 is dropped, Time keeps it alive",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"Switch1\":\"MAYBE\"}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     1},
	    {"a bad Switch1 does not lose the temperature",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{\"Switch1\":1,\"DS18B20\":{\"Temperature\":24}}",
	     REJECT_NONE,
	     1,
	     {{POINT_TEMPERATURE, 24}},
	     1},
	    {"a temperature that is not a number",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"Switch1\":\"ON\",\"DS18B20\":{\"Temperature\":\"hot\"}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     1},
	    {"a temperature out of range",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"DS18B20\":{\"Temperature\":900}}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     1},
	    {"an unknown TempUnit drops the temperature",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"DS18B20\":{\"Temperature\":20},\"TempUnit\":\"K\"}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     1},
	    {"a failed sensor's null is no reading",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"DS18B20\":{\"Temperature\":null}}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    {"a bad POWER on RESULT is dropped",
	     B_FEEDBACK,
	     "stat/siren1/RESULT",
	     "{\"POWER\":true,\"Dimmer\":5}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     1},
	    /* refused whole */
	    {"nothing but a bad input",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{\"Switch1\":\"MAYBE\"}",
	     REJECT_BAD_VALUE,
	     0,
	     {{0, 0}},
	     0},
	    {"no field at all",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{}",
	     REJECT_NO_FIELDS,
	     0,
	     {{0, 0}},
	     0},
	    {"no Time and nothing known",
	     B_SMOKE,
	     "tele/smoke1/STATE",
	     "{\"foo\":1}",
	     REJECT_NO_FIELDS,
	     0,
	     {{0, 0}},
	     0},
	    {"not JSON",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "Switch1 ON",
	     REJECT_NOT_JSON,
	     0,
	     {{0, 0}},
	     0},
	    {"trailing bytes",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "{" T ",\"Switch1\":\"ON\"} xyz",
	     REJECT_NOT_JSON,
	     0,
	     {{0, 0}},
	     0},
	    {"not an object",
	     B_SMOKE,
	     "tele/smoke1/SENSOR",
	     "[1,2]",
	     REJECT_NOT_OBJECT,
	     0,
	     {{0, 0}},
	     0},
	    {"LWT in the wrong case",
	     B_SMOKE,
	     "tele/smoke1/LWT",
	     "online",
	     REJECT_BAD_VALUE,
	     0,
	     {{0, 0}},
	     0},
	    {"empty LWT", B_SMOKE, "tele/smoke1/LWT", "", REJECT_BAD_VALUE, 0, {{0, 0}}, 0},
	    {"POWER TOGGLE is a command, not a state",
	     B_FEEDBACK,
	     "stat/siren1/POWER",
	     "TOGGLE",
	     REJECT_BAD_VALUE,
	     0,
	     {{0, 0}},
	     0},
	};
	struct fcase copy[sizeof(rows) / sizeof(rows[0])];
	char state_on[512], state_off[512];

	(void)state;
	/* The two STATE rows carry a real STATE with the relay's POWER. */
	snprintf(state_on, sizeof(state_on), STATE_JSON, "ON");
	snprintf(state_off, sizeof(state_off), STATE_JSON, "OFF");
	memcpy(copy, rows, sizeof(rows));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strcmp(copy[i].topic, "tele/siren1/STATE") == 0)
			copy[i].payload = state_on;
		else if (strcmp(copy[i].topic, "tele/smoke1/STATE") == 0 && !*copy[i].payload)
			copy[i].payload = state_off;
	fcase_run("tasmota", bindings, copy, sizeof(rows) / sizeof(rows[0]));
}

static void test_oversized_or_unknown_topic_is_refused(void **state)
{
	const struct family *f = family_find("tasmota");
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	size_t len = FAMILY_MAX_PAYLOAD + 1;
	char *big = malloc(len);
	int n = -1;

	(void)state;
	assert_non_null(big);
	memset(big, ' ', len);
	assert_true(f->decode(&bindings[B_SMOKE], 0, big, len, v, &n, &why, NULL) < 0);
	assert_int_equal(why, REJECT_TOO_LARGE);
	free(big);
	assert_true(f->decode(&bindings[B_SMOKE], 4, "Online", 6, v, &n, &why, NULL) < 0);
	assert_int_equal(why, REJECT_UNKNOWN_TOPIC);
	/* an embedded NUL is not an LWT word nor JSON */
	assert_true(f->decode(&bindings[B_SMOKE], 2, "Online\0x", 8, v, &n, &why, NULL) < 0);
	assert_true(f->decode(&bindings[B_SMOKE], 0, "{}\0{\"Switch1\":\"ON\"}", 19, v, &n, &why,
	                      NULL) < 0);
	assert_int_equal(why, REJECT_NOT_JSON);
}

static void test_dropped_field_is_described_for_the_log(void **state)
{
	const struct family *f = family_find("tasmota");
	struct sh_point_value v[FAMILY_MAX_VALUES];
	struct family_drops d;
	enum family_reject why;
	const char *p = "{" T ",\"Switch1\":\"MAYBE\"}";
	int n = -1;

	(void)state;
	assert_int_equal(f->decode(&bindings[B_SMOKE], 0, p, strlen(p), v, &n, &why, &d), 0);
	assert_int_equal(d.count, 1);
	assert_string_equal(d.field, "Switch1");
	assert_string_equal(d.reason, "not ON or OFF");
	assert_string_equal(d.value, "\"MAYBE\"");
}

static void test_relay_output_gets_on_and_off(void **state)
{
	const struct family *f = family_find("tasmota");
	struct family_binding out;
	struct family_output_cmd on = {.siren = 1, .on = 1, .pattern = SIREN_FIRE};
	struct family_output_cmd off = {.siren = 1, .on = 0};
	char buf[16];

	(void)state;
	fcase_bind(&out, "tasmota", KIND_GENERIC, 1, "cmnd/siren1/POWER", "{}");
	assert_int_equal(f->encode_output(&out, &on, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "ON");
	assert_int_equal(f->encode_output(&out, &off, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "OFF");
	family_binding_free(&out);
}

#define CFG_HEAD                                                                                   \
	"{\n"                                                                                      \
	"  \"site\": {\"id\": \"ap3\"},\n"                                                         \
	"  \"zones\": [{\"id\": \"room-101\"}],\n"

static void test_good_options_load(void **state)
{
	struct fcase_diags d;
	struct config *c = fcase_load(
	    CFG_HEAD
	    "  \"sensors\": [{\"id\": \"a\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	    "    \"mqtt\": {\"topic\": \"a\", \"format\": \"tasmota\", \"input\": \"Switch2\",\n"
	    "               \"active\": \"OFF\", \"full_topic\": \"tasmota/%topic%/%prefix%/\",\n"
	    "               \"temperature\": \"DS18B20-1\"}},\n"
	    "    {\"id\": \"b\", \"kind\": \"siren_feedback\", \"zone\": \"room-101\",\n"
	    "    \"mqtt\": {\"topic\": \"b\", \"format\": \"tasmota\", \"relay\": 3}}],\n"
	    "  \"outputs\": [{\"id\": \"s\", \"kind\": \"siren\",\n"
	    "    \"mqtt\": {\"topic\": \"cmnd/b/POWER\", \"format\": \"tasmota\"}}]\n"
	    "}\n",
	    &d);
	char t[FAMILY_MAX_TOPICS][256];

	(void)state;
	assert_non_null(c);
	assert_int_equal(d.n, 0);
	assert_int_equal(family_tasmota.topics(&c->sensors[0].mqtt, t, FAMILY_MAX_TOPICS), 4);
	assert_string_equal(t[0], "tasmota/a/tele/SENSOR");
	assert_int_equal(family_tasmota.topics(&c->sensors[1].mqtt, t, FAMILY_MAX_TOPICS), 4);
	assert_string_equal(t[3], "stat/b/POWER3");
	config_free(c);
}

static void test_bad_options_are_each_reported_where_they_are(void **state)
{
	struct fcase_diags d;
	struct config *c = fcase_load(
	    CFG_HEAD
	    "  \"sensors\": [\n"
	    "    {\"id\": \"a\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"a\", \"format\": \"tasmota\", \"full_topic\": \"%topic%/\"}},\n"
	    "    {\"id\": \"b\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"b\", \"format\": \"tasmota\", \"full_topic\": \"%prefix%/%hostname%/\"}},\n"
	    "    {\"id\": \"c\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"c\", \"format\": \"tasmota\", \"full_topic\": \"%prefix%/+/\"}},\n"
	    "    {\"id\": \"d\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"d\", \"format\": \"tasmota\", \"active\": \"on\"}},\n"
	    "    {\"id\": \"e\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"e\", \"format\": \"tasmota\", \"relay\": 1}},\n"
	    "    {\"id\": \"f\", \"kind\": \"siren_feedback\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": \"f\", \"format\": \"tasmota\", \"relay\": 0}},\n"
	    "    {\"id\": \"g\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"g\", \"format\": \"tasmota\", \"input\": 1}},\n"
	    "    {\"id\": \"h\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"h\", \"format\": \"tasmota\", \"inptu\": \"Switch1\"}},\n"
	    "    {\"id\": \"i\", \"kind\": \"siren_feedback\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": \"i\", \"format\": \"tasmota\", \"input\": \"Switch1\", "
	    "\"temperature\": \"DS18B20\"}}],\n"
	    "  \"outputs\": [{\"id\": \"s\", \"kind\": \"siren\", \"mqtt\": {\"topic\": "
	    "\"cmnd/b/POWER\", \"format\": \"tasmota\", \"input\": \"Switch1\"}}]\n"
	    "}\n",
	    &d);

	(void)state;
	assert_null(c);
	fcase_expect(&d, "site.json:5:112: sensors[0].mqtt.full_topic: must hold %prefix% once "
	                 "(tele/stat tell the messages apart), e.g. \"%prefix%/%topic%/\"");
	fcase_expect(&d, "site.json:6:112: sensors[1].mqtt.full_topic: %hostname% is not expanded "
	                 "here: write this device's own value in its place (it is one device's "
	                 "pattern)");
	fcase_expect(&d, "site.json:7:112: sensors[2].mqtt.full_topic: MQTT wildcards ('+', '#') "
	                 "are not allowed: the pattern names one device");
	fcase_expect(&d, "site.json:8:108: sensors[3].mqtt.active: must be \"ON\" or \"OFF\": the "
	                 "input's state that means detected, open or pressed");
	fcase_expect(&d, "site.json:9:107: sensors[4].mqtt.relay: only a siren_feedback sensor "
	                 "reads a relay's state; this one is of kind smoke");
	fcase_expect(&d, "site.json:10:116: sensors[5].mqtt.relay: 0 is out of range: must be 1 "
	                 "to 32");
	fcase_expect(&d, "site.json:11:107: sensors[6].mqtt.input: expected a string");
	fcase_expect(&d, "site.json:12:98: sensors[7].mqtt.inptu: unknown key; did you mean "
	                 "\"input\"?");
	fcase_expect(&d, "site.json:13:116: sensors[8].mqtt.input: a siren_feedback sensor reads "
	                 "its relay's POWER, not an input; give \"relay\" for a relay other than "
	                 "the first");
	fcase_expect(&d, "site.json:13:142: sensors[8].mqtt.temperature: a siren_feedback sensor "
	                 "does not read tele/SENSOR; give the temperature probe its own sensor");
	fcase_expect(&d, "site.json:14:108: outputs[0].mqtt.input: only a sensor reads this; an "
	                 "output's topic is its full command topic (cmnd/T/POWER)");
	assert_int_equal(d.errors, 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_topics_follow_full_topic_and_kind),
	    cmocka_unit_test(test_real_tasmota_messages_decode),
	    cmocka_unit_test(test_oversized_or_unknown_topic_is_refused),
	    cmocka_unit_test(test_dropped_field_is_described_for_the_log),
	    cmocka_unit_test(test_relay_output_gets_on_and_off),
	    cmocka_unit_test(test_good_options_load),
	    cmocka_unit_test(test_bad_options_are_each_reported_where_they_are),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
