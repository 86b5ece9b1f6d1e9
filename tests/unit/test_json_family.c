/*
 * test_json_family.c: the generic JSON payload family, through the config
 * that sets it up: ESPHome devices (one plain value per topic, birth/will
 * on a status topic), an ESP32 sketch with nested JSON, custom on/off
 * words, and the config errors an installer can make.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "sensors/family.h"

#define MAX_DIAGS 64

struct diags {
	int n, errors;
	int sev[MAX_DIAGS];
	char msg[MAX_DIAGS][1024];
};

static void capture(void *ctx, int severity, const char *msg)
{
	struct diags *d = ctx;

	if (severity == 0)
		d->errors++;
	if (d->n < MAX_DIAGS) {
		d->sev[d->n] = severity;
		snprintf(d->msg[d->n], sizeof(d->msg[0]), "%s", msg);
		d->n++;
	}
}

static void expect_diag(const struct diags *d, int severity, const char *msg)
{
	for (int i = 0; i < d->n; i++)
		if (d->sev[i] == severity && strcmp(d->msg[i], msg) == 0)
			return;
	for (int i = 0; i < d->n; i++)
		print_message("  got [%d] %s\n", d->sev[i], d->msg[i]);
	fail_msg("expected [%d] %s", severity, msg);
}

static struct config *load(const char *text, struct diags *d)
{
	int nerrors = -1;
	struct config *c;

	memset(d, 0, sizeof(*d));
	c = config_load_string(text, "site.json", NULL, capture, d, &nerrors);
	assert_int_equal(nerrors, d->errors);
	return c;
}

#define HEAD                                                                                       \
	"{\n"                                                                                      \
	"  \"site\": {\"id\": \"nt-1\"},\n"                                                        \
	"  \"zones\": [{\"id\": \"kitchen\"}],\n"

/* The devices of the decode tests. */
static const char site[] = HEAD
    "  \"sensors\": [\n"
    /* 0: ESPHome: binary_sensor + two sensors, birth/will on status. */
    "    {\"id\": \"esp-smoke\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"esp-kitchen/binary_sensor/smoke/state\",\n"
    "       \"points\": [{\"point\": \"detected\"},\n"
    "                  {\"point\": \"temperature\", \"topic\": "
    "\"esp-kitchen/sensor/temp/state\"},\n"
    "                  {\"point\": \"battery\", \"topic\": \"esp-kitchen/sensor/bat/state\"}],\n"
    "       \"availability\": {\"topic\": \"esp-kitchen/status\"}}},\n"
    /* 1: an ESP32 sketch publishing one nested object. */
    "    {\"id\": \"esp32-heat\", \"kind\": \"heat\", \"zone\": \"kitchen\",\n"
    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"house/esp32/heat\",\n"
    "       \"points\": [{\"point\": \"detected\", \"path\": \"alarm.heat\"},\n"
    "                  {\"point\": \"temperature\", \"path\": \"sensors[1].t\"},\n"
    "                  {\"point\": \"battery\", \"path\": \"bat\", \"scale\": 0.5},\n"
    "                  {\"point\": \"tamper\", \"path\": \"tamper\"}]}},\n"
    /* 2: a gas board with its own words. */
    "    {\"id\": \"gas\", \"kind\": \"gas\", \"zone\": \"kitchen\",\n"
    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"house/gas\",\n"
    "       \"points\": [{\"point\": \"detected\", \"path\": \"state\",\n"
    "                   \"on\": [\"ALARM\"], \"off\": [\"NORMAL\"]}]}},\n"
    /* 3: an ESPHome door contact (device_class door: ON = open). */
    "    {\"id\": \"door\", \"kind\": \"door\", \"zone\": \"kitchen\",\n"
    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"esp-door/binary_sensor/door/state\",\n"
    "       \"points\": [{\"point\": \"detected\"}]}}],\n"
    "  \"outputs\": [\n"
    "    {\"id\": \"siren\", \"kind\": \"siren\", \"mqtt\": {\"format\": \"json\",\n"
    "       \"topic\": \"esp-hall/switch/siren/command\", \"payload_on\": \"1\", "
    "\"payload_off\": \"0\"}},\n"
    "    {\"id\": \"relay\", \"kind\": \"relay\", \"mqtt\": {\"format\": \"json\",\n"
    "       \"topic\": \"esp-hall/switch/relay/command\"}}]\n"
    "}\n";

static struct config *cfg;

static int setup(void **state)
{
	struct diags d;
	int nerrors = -1;

	(void)state;
	cfg = config_load_string(site, "site.json", NULL, capture, &d, &nerrors);
	if (!cfg) {
		for (int i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msg[i]);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	config_free(cfg);
	return 0;
}

static const struct family *json(void)
{
	const struct family *f = family_find("json");
	assert_non_null(f);
	return f;
}

/* The topic number of topic for sensor s, as the daemon would route it. */
static int topic_of(int s, const char *topic)
{
	char topics[FAMILY_MAX_TOPICS][256];
	int n = json()->topics(&cfg->sensors[s].mqtt, topics, FAMILY_MAX_TOPICS);
	for (int i = 0; i < n; i++)
		if (strcmp(topics[i], topic) == 0)
			return i;
	fail_msg("sensor %d does not subscribe %s", s, topic);
	return -1;
}

#define NONE POINT__COUNT
#define MAXV 4

struct dcase {
	const char *what;
	int sensor;
	const char *topic;
	const char *payload;
	int rc;                        /* 0 or -1 */
	enum family_reject why;        /* when rc < 0 */
	int drops;                     /* values dropped */
	struct sh_point_value v[MAXV]; /* expected, NONE-terminated */
};

static const struct dcase dcases[] = {
    {"ESPHome binary_sensor ON",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     "ON",
     0,
     0,
     0,
     {{POINT_SMOKE, 1}, {NONE, 0}}},
    {"ESPHome binary_sensor OFF",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     "OFF",
     0,
     0,
     0,
     {{POINT_SMOKE, 0}, {NONE, 0}}},
    {"a plain word with a line end",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     " ON\r\n",
     0,
     0,
     0,
     {{POINT_SMOKE, 1}, {NONE, 0}}},
    {"a JSON string",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     "\"on\"",
     0,
     0,
     0,
     {{POINT_SMOKE, 1}, {NONE, 0}}},
    {"JSON true",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     "true",
     0,
     0,
     0,
     {{POINT_SMOKE, 1}, {NONE, 0}}},
    {"the number 0",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     "0",
     0,
     0,
     0,
     {{POINT_SMOKE, 0}, {NONE, 0}}},
    {"a word that is neither on nor off",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     "MAYBE",
     -1,
     REJECT_BAD_VALUE,
     1,
     {{NONE, 0}}},
    {"words are case-sensitive",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     "On",
     -1,
     REJECT_BAD_VALUE,
     1,
     {{NONE, 0}}},
    {"an object where a plain value is read",
     0,
     "esp-kitchen/binary_sensor/smoke/state",
     "{\"state\":\"ON\"}",
     -1,
     REJECT_BAD_TYPE,
     1,
     {{NONE, 0}}},
    {"ESPHome sensor \"23.50\"",
     0,
     "esp-kitchen/sensor/temp/state",
     "23.50",
     0,
     0,
     0,
     {{POINT_TEMPERATURE, 23.5}, {NONE, 0}}},
    {"a number in a JSON string",
     0,
     "esp-kitchen/sensor/temp/state",
     "\"-4.5\"",
     0,
     0,
     0,
     {{POINT_TEMPERATURE, -4.5}, {NONE, 0}}},
    {"ESPHome nan (no reading) is dropped",
     0,
     "esp-kitchen/sensor/temp/state",
     "nan",
     -1,
     REJECT_BAD_TYPE,
     1,
     {{NONE, 0}}},
    {"hex is not a temperature",
     0,
     "esp-kitchen/sensor/temp/state",
     "0x20",
     -1,
     REJECT_BAD_TYPE,
     1,
     {{NONE, 0}}},
    {"temperature out of range",
     0,
     "esp-kitchen/sensor/temp/state",
     "300",
     -1,
     REJECT_BAD_VALUE,
     1,
     {{NONE, 0}}},
    {"battery over 100",
     0,
     "esp-kitchen/sensor/bat/state",
     "101",
     -1,
     REJECT_BAD_VALUE,
     1,
     {{NONE, 0}}},
    {"battery", 0, "esp-kitchen/sensor/bat/state", "77", 0, 0, 0, {{POINT_BATTERY, 77}, {NONE, 0}}},
    {"ESPHome will: offline",
     0,
     "esp-kitchen/status",
     "offline",
     0,
     0,
     0,
     {{POINT_ONLINE, 0}, {NONE, 0}}},
    {"ESPHome birth: online",
     0,
     "esp-kitchen/status",
     "online\n",
     0,
     0,
     0,
     {{POINT_ONLINE, 1}, {NONE, 0}}},
    {"another availability word",
     0,
     "esp-kitchen/status",
     "Online",
     -1,
     REJECT_BAD_VALUE,
     1,
     {{NONE, 0}}},
    {"ESP32 nested object, array index and scale",
     1,
     "house/esp32/heat",
     "{\"alarm\":{\"heat\":true},\"sensors\":[{\"t\":1},{\"t\":61.5}],\"bat\":180,"
     "\"tamper\":false,\"uptime\":5}",
     0,
     0,
     0,
     {{POINT_HEAT, 1}, {POINT_TEMPERATURE, 61.5}, {POINT_BATTERY, 90}, {POINT_TAMPER, 0}}},
    {"a bad value is dropped alone",
     1,
     "house/esp32/heat",
     "{\"alarm\":{\"heat\":\"maybe\"},\"sensors\":[{},{\"t\":30}]}",
     0,
     0,
     1,
     {{POINT_TEMPERATURE, 30}, {NONE, 0}}},
    {"a path through the wrong type finds nothing",
     1,
     "house/esp32/heat",
     "{\"alarm\":[true],\"sensors\":{\"1\":{\"t\":30}}}",
     -1,
     REJECT_NO_FIELDS,
     0,
     {{NONE, 0}}},
    {"not JSON on a JSON path", 1, "house/esp32/heat", "ON", -1, REJECT_NOT_JSON, 0, {{NONE, 0}}},
    {"JSON with garbage after it",
     1,
     "house/esp32/heat",
     "{\"alarm\":{\"heat\":true}} x",
     -1,
     REJECT_NOT_JSON,
     0,
     {{NONE, 0}}},
    {"a scalar where an object is read",
     1,
     "house/esp32/heat",
     "42",
     -1,
     REJECT_NOT_OBJECT,
     0,
     {{NONE, 0}}},
    {"none of the fields",
     1,
     "house/esp32/heat",
     "{\"uptime\":5}",
     -1,
     REJECT_NO_FIELDS,
     0,
     {{NONE, 0}}},
    {"null says nothing",
     1,
     "house/esp32/heat",
     "{\"alarm\":{\"heat\":null}}",
     -1,
     REJECT_NO_FIELDS,
     0,
     {{NONE, 0}}},
    {"custom on word",
     2,
     "house/gas",
     "{\"state\":\"ALARM\"}",
     0,
     0,
     0,
     {{POINT_GAS, 1}, {NONE, 0}}},
    {"custom off word",
     2,
     "house/gas",
     "{\"state\":\"NORMAL\"}",
     0,
     0,
     0,
     {{POINT_GAS, 0}, {NONE, 0}}},
    {"custom words replace the defaults",
     2,
     "house/gas",
     "{\"state\":\"ON\"}",
     -1,
     REJECT_BAD_VALUE,
     1,
     {{NONE, 0}}},
    {"ESPHome door ON is open",
     3,
     "esp-door/binary_sensor/door/state",
     "ON",
     0,
     0,
     0,
     {{POINT_CONTACT, 1}, {NONE, 0}}},
    {"an empty message",
     3,
     "esp-door/binary_sensor/door/state",
     "",
     -1,
     REJECT_NO_FIELDS,
     0,
     {{NONE, 0}}},
};

static void check_case(const struct dcase *c, const char *payload, size_t len)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	struct family_drops drops;
	enum family_reject why = REJECT_NONE;
	int n = -1, rc, want = 0;

	print_message("case: %s\n", c->what);
	rc = json()->decode(&cfg->sensors[c->sensor].mqtt, topic_of(c->sensor, c->topic), payload,
	                    len, v, &n, &why, &drops);
	assert_int_equal(rc, c->rc);
	assert_int_equal(drops.count, c->drops);
	if (c->drops)
		assert_non_null(drops.field);
	if (rc < 0) {
		assert_int_equal(why, c->why);
		assert_int_equal(n, 0);
		return;
	}
	while (want < MAXV && c->v[want].point != NONE)
		want++;
	assert_int_equal(n, want);
	for (int i = 0; i < want; i++) {
		int found = 0;
		for (int j = 0; j < n; j++)
			if (v[j].point == c->v[i].point) {
				assert_true(fabs(v[j].value - c->v[i].value) < 1e-9);
				found = 1;
			}
		assert_true(found);
	}
}

static void test_payloads_decode_as_the_table_says(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++)
		check_case(&dcases[i], dcases[i].payload, strlen(dcases[i].payload));
}

static void test_embedded_nul_oversize_and_unknown_topic_are_refused(void **state)
{
	const struct family_binding *b = &cfg->sensors[0].mqtt;
	struct sh_point_value v[FAMILY_MAX_VALUES];
	enum family_reject why;
	size_t big = FAMILY_MAX_PAYLOAD + 1;
	char *p = malloc(big);
	int n;

	(void)state;
	assert_non_null(p);
	memset(p, ' ', big);
	memcpy(p, "ON", 2);
	assert_int_equal(json()->decode(b, 0, p, big, v, &n, &why, NULL), -1);
	assert_int_equal(why, REJECT_TOO_LARGE);
	free(p);
	assert_int_equal(json()->decode(b, 0, "ON\0OFF", 6, v, &n, &why, NULL), -1);
	assert_int_equal(why, REJECT_NOT_JSON);
	assert_int_equal(json()->decode(b, FAMILY_MAX_TOPICS, "ON", 2, v, &n, &why, NULL), -1);
	assert_int_equal(why, REJECT_UNKNOWN_TOPIC);
}

static void test_each_topic_is_subscribed_once_with_the_device_topic_first(void **state)
{
	char topics[FAMILY_MAX_TOPICS][256];
	int n;

	(void)state;
	n = json()->topics(&cfg->sensors[0].mqtt, topics, FAMILY_MAX_TOPICS);
	assert_int_equal(n, 4);
	assert_string_equal(topics[0], "esp-kitchen/binary_sensor/smoke/state");
	assert_string_equal(topics[3], "esp-kitchen/status");
	/* Four points on one topic are one subscription. */
	assert_int_equal(json()->topics(&cfg->sensors[1].mqtt, topics, FAMILY_MAX_TOPICS), 1);
}

static void test_outputs_publish_their_words(void **state)
{
	struct family_output_cmd on = {.siren = 1, .on = 1, .pattern = SIREN_FIRE};
	struct family_output_cmd off = {.siren = 1, .on = 0};
	char buf[256];

	(void)state;
	assert_int_equal(json()->encode_output(&cfg->outputs[0].mqtt, &on, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "1");
	assert_int_equal(json()->encode_output(&cfg->outputs[0].mqtt, &off, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "0");
	on.siren = off.siren = 0;
	assert_int_equal(json()->encode_output(&cfg->outputs[1].mqtt, &on, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "ON");
	assert_int_equal(json()->encode_output(&cfg->outputs[1].mqtt, &off, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "OFF");
}

static void test_every_config_error_is_reported_with_its_place(void **state)
{
	struct diags d;
	struct config *c = load(
	    HEAD
	    "  \"sensors\": [\n"
	    "    {\"id\": \"a\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"a/state\",\n"
	    "       \"points\": [{\"point\": \"smok\"}, {\"point\": \"temperature\", \"path\": "
	    "\"\"},\n"
	    "                  {\"point\": \"heat\"}, {\"point\": \"battery\", \"on\": [\"x\"]},\n"
	    "                  {\"point\": \"tamper\", \"path\": \"a..b\", \"scale\": 2},\n"
	    "                  {\"point\": \"battery_low\", \"on\": [\"1\"], \"off\": [1]},\n"
	    "                  {\"point\": \"fault\", \"topic\": \"a/+/fault\"},\n"
	    "                  {\"point\": \"tamper\", \"topc\": \"x\"}]}},\n"
	    "    {\"id\": \"b\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"b/1\", \"payload_on\": \"ON\"}},\n"
	    "    {\"id\": \"c\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"c/1\",\n"
	    "       \"points\": [{\"point\": \"detected\"}, {\"point\": \"battery\", \"topic\": "
	    "\"c/2\"},\n"
	    "                  {\"point\": \"tamper\", \"topic\": \"c/3\"},\n"
	    "                  {\"point\": \"temperature\", \"topic\": \"c/4\"},\n"
	    "                  {\"point\": \"fault\", \"topic\": \"c/5\"}]}},\n"
	    "    {\"id\": \"d\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"d/1\",\n"
	    "       \"points\": [{\"point\": \"detected\"}, {\"point\": \"battery\", \"topic\": "
	    "\"c/2\"}],\n"
	    "       \"availability\": {\"topic\": \"d/1\"}}},\n"
	    "    {\"id\": \"e\", \"kind\": \"generic\", \"zone\": \"kitchen\",\n"
	    "     \"mqtt\": {\"format\": \"json\", \"topic\": \"e/1\",\n"
	    "       \"points\": [{\"point\": \"detected\"}]}}],\n"
	    "  \"outputs\": [{\"id\": \"s\", \"kind\": \"siren\", \"mqtt\": {\"format\": "
	    "\"json\",\n"
	    "     \"topic\": \"s/cmd\", \"points\": [], \"payload_on\": \"X\", \"payload_off\": "
	    "\"X\"}}]\n"
	    "}\n",
	    &d);

	(void)state;
	assert_null(c);
	expect_diag(&d, 0,
	            "site.json:7:29: sensors[0].mqtt.points[0].point: unknown point \"smok\"; did "
	            "you mean \"smoke\"?");
	expect_diag(&d, 0,
	            "site.json:7:71: sensors[0].mqtt.points[1].path: \"\" is empty; leave \"path\" "
	            "out to read the whole payload");
	expect_diag(
	    &d, 0,
	    "site.json:8:29: sensors[0].mqtt.points[2].point: a smoke sensor does not report "
	    "heat: rules would never see it; use \"detected\" for its own alarm, or make it "
	    "a heat sensor");
	expect_diag(&d, 0,
	            "site.json:8:65: sensors[0].mqtt.points[3].on: battery is a number; on/off "
	            "values are for on/off points");
	expect_diag(
	    &d, 0,
	    "site.json:9:47: sensors[0].mqtt.points[4].path: \"a..b\" has an empty key (two "
	    "dots, or a dot at an end)");
	expect_diag(&d, 0,
	            "site.json:9:64: sensors[0].mqtt.points[4].scale: tamper is an on/off point; "
	            "scale and offset are for temperature and battery");
	expect_diag(&d, 0,
	            "site.json:10:50: sensors[0].mqtt.points[5].on: \"1\" is both an on and an off "
	            "value");
	expect_diag(
	    &d, 0,
	    "site.json:11:47: sensors[0].mqtt.points[6].topic: MQTT wildcards ('+', '#') are "
	    "not allowed: the topic names one device");
	expect_diag(&d, 0,
	            "site.json:12:47: sensors[0].mqtt.points[7].topc: unknown key; did you mean "
	            "\"topic\"?");
	expect_diag(&d, 0,
	            "site.json:12:29: sensors[0].mqtt.points[7].point: point tamper is read twice "
	            "(also by points[4])");
	expect_diag(&d, 0,
	            "site.json:14:63: sensors[1].mqtt.payload_on: only an output publishes a "
	            "payload; this is a sensor");
	expect_diag(
	    &d, 0,
	    "site.json:14:14: sensors[1].mqtt: missing required key \"points\": which values "
	    "this sensor reads, e.g. [{\"point\": \"detected\"}]");
	expect_diag(&d, 0,
	            "site.json:20:47: sensors[2].mqtt.points[4].topic: a device reads at most 4 "
	            "topics; this is one more (points may share a topic)");
	expect_diag(
	    &d, 0,
	    "site.json:23:72: sensors[3].mqtt.points[1].topic: topic \"c/2\" is already used "
	    "by sensors[2] (line 17); each device needs its own topic");
	expect_diag(
	    &d, 0,
	    "site.json:24:34: sensors[3].mqtt.availability.topic: a point reads this topic; "
	    "availability needs a topic of its own");
	expect_diag(
	    &d, 0,
	    "site.json:27:29: sensors[4].mqtt.points[0].point: a generic sensor has no main "
	    "point to be \"detected\"; name the point");
	expect_diag(
	    &d, 0,
	    "site.json:29:34: outputs[0].mqtt.points: only a sensor reads points; this is an "
	    "output");
	expect_diag(&d, 0,
	            "site.json:29:72: outputs[0].mqtt.payload_off: the same as payload_on: the "
	            "device could not tell on from off");
	assert_int_equal(d.errors, 18);
}

static void test_availability_words_must_differ(void **state)
{
	struct diags d;
	struct config *c =
	    load(HEAD "  \"sensors\": [\n"
	              "    {\"id\": \"a\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	              "     \"mqtt\": {\"format\": \"json\", \"topic\": \"a/state\",\n"
	              "       \"points\": [{\"point\": \"detected\"}],\n"
	              "       \"availability\": {\"topic\": \"a/status\", \"online\": \"up\", "
	              "\"offline\": \"up\"}}}]\n"
	              "}\n",
	         &d);

	(void)state;
	assert_null(c);
	expect_diag(&d, 0,
	            "site.json:8:73: sensors[0].mqtt.availability.offline: online and offline are "
	            "the same word");
	assert_int_equal(d.errors, 1);
}

static void test_device_topic_must_be_read_by_a_point_or_availability(void **state)
{
	struct diags d;
	struct config *c =
	    load(HEAD "  \"sensors\": [\n"
	              "    {\"id\": \"a\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	              "     \"mqtt\": {\"format\": \"json\", \"topic\": \"a/status\",\n"
	              "       \"points\": [{\"point\": \"detected\", \"topic\": \"a/smoke\"}],\n"
	              "       \"availability\": {\"topic\": \"a/status\"}}},\n"
	              "    {\"id\": \"b\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	              "     \"mqtt\": {\"format\": \"json\", \"topic\": \"b/state\",\n"
	              "       \"points\": [{\"point\": \"detected\", \"topic\": \"b/smoke\"}]}}]\n"
	              "}\n",
	         &d);

	(void)state;
	assert_null(c);
	expect_diag(&d, 0,
	            "site.json:10:42: sensors[1].mqtt.topic: no point reads this topic: give the "
	            "point published here no \"topic\" of its own");
	assert_int_equal(d.errors, 1);
}

static void test_a_point_or_status_topic_of_another_device_is_refused(void **state)
{
	struct diags d;
	struct config *c =
	    load(HEAD "  \"sensors\": [\n"
	              "    {\"id\": \"z\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	              "     \"mqtt\": {\"format\": \"zigbee2mqtt\", \"topic\": \"z2m/smoke\"}},\n"
	              "    {\"id\": \"j\", \"kind\": \"smoke\", \"zone\": \"kitchen\",\n"
	              "     \"mqtt\": {\"format\": \"json\", \"topic\": \"j/smoke\",\n"
	              "       \"points\": [{\"point\": \"detected\"}, {\"point\": \"tamper\", "
	              "\"topic\": \"z2m/smoke\"}],\n"
	              "       \"availability\": {\"topic\": \"esp/switch/siren/command\"}}}],\n"
	              "  \"outputs\": [{\"id\": \"s\", \"kind\": \"siren\", \"mqtt\": {\"format\": "
	              "\"json\",\n"
	              "     \"topic\": \"esp/switch/siren/command\"}}]\n"
	              "}\n",
	         &d);

	(void)state;
	assert_null(c);
	expect_diag(
	    &d, 0,
	    "site.json:9:71: sensors[1].mqtt.points[1].topic: topic \"z2m/smoke\" is already "
	    "used by sensors[0] (line 6); each device needs its own topic");
	/* A siren command read back as the sensor's status would be wrong. */
	expect_diag(&d, 0,
	            "site.json:12:15: outputs[0].mqtt.topic: topic \"esp/switch/siren/command\" is "
	            "already used by sensors[1] (line 10); each device needs its own topic");
	assert_int_equal(d.errors, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_payloads_decode_as_the_table_says),
	    cmocka_unit_test(test_embedded_nul_oversize_and_unknown_topic_are_refused),
	    cmocka_unit_test(test_each_topic_is_subscribed_once_with_the_device_topic_first),
	    cmocka_unit_test(test_outputs_publish_their_words),
	    cmocka_unit_test(test_every_config_error_is_reported_with_its_place),
	    cmocka_unit_test(test_availability_words_must_differ),
	    cmocka_unit_test(test_device_topic_must_be_read_by_a_point_or_availability),
	    cmocka_unit_test(test_a_point_or_status_topic_of_another_device_is_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
