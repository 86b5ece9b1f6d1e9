/*
 * test_config.c: what installers rely on when they write a site config:
 * defaults, and errors that name the file, line, column and JSON path, all
 * of them in one run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cfgload.h"
#include "gateway/config.h"
#include "rules/rules.h"

#define MAX_DIAGS 64

struct diags {
	int n, errors, warnings;
	int sev[MAX_DIAGS];
	char msg[MAX_DIAGS][1024];
};

static char tmpdir[PATH_MAX];

static void capture(void *ctx, int severity, const char *msg)
{
	struct diags *d = ctx;

	if (severity == 0)
		d->errors++;
	else
		d->warnings++;
	if (d->n < MAX_DIAGS) {
		d->sev[d->n] = severity;
		snprintf(d->msg[d->n], sizeof(d->msg[0]), "%s", msg);
		d->n++;
	}
}

/* Fail with every message when msg was not reported, so that a wrong
 * column shows what was reported instead. */
static void expect_diag(const struct diags *d, int severity, const char *msg)
{
	for (int i = 0; i < d->n; i++)
		if (d->sev[i] == severity && strcmp(d->msg[i], msg) == 0)
			return;
	for (int i = 0; i < d->n; i++)
		print_message("  got [%d] %s\n", d->sev[i], d->msg[i]);
	fail_msg("expected [%d] %s", severity, msg);
}

/* The same for a message that goes on with something of the machine's
 * (a temp path). */
static void expect_diag_prefix(const struct diags *d, int severity, const char *prefix)
{
	for (int i = 0; i < d->n; i++)
		if (d->sev[i] == severity && strncmp(d->msg[i], prefix, strlen(prefix)) == 0)
			return;
	for (int i = 0; i < d->n; i++)
		print_message("  got [%d] %s\n", d->sev[i], d->msg[i]);
	fail_msg("expected [%d] %s...", severity, prefix);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *tmp_path(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%.2048s/%.1024s", tmpdir, rel);
	return buf[k];
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if (mkdir(tmp_path("rules"), 0755) < 0)
		return -1;
	write_file(tmp_path("rules/gas.rules"), "# gas\n");
	write_file(tmp_path("rules/fire.rules"), "# fire\n");
	write_file(tmp_path("rules/README"), "not a rule file\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(tmp_path("rules/gas.rules"));
	unlink(tmp_path("rules/fire.rules"));
	unlink(tmp_path("rules/README"));
	rmdir(tmp_path("rules"));
	unlink(tmp_path("site.json"));
	unlink(tmp_path("big.json"));
	rmdir(tmpdir);
	return 0;
}

static struct config *load(const char *text, struct diags *d)
{
	int nerrors = -1;
	struct config *c;

	memset(d, 0, sizeof(*d));
	c = config_load_string(text, "site.json", tmpdir, capture, d, &nerrors);
	assert_int_equal(nerrors, d->errors);
	return c;
}

/* A small boarding house with everything optional left out. */
#define MINIMAL_HEAD                                                                               \
	"{\n"                                                                                      \
	"  \"site\": {\"id\": \"nt-minhson-ap3\"},\n"                                              \
	"  \"zones\": [{\"id\": \"room-101\"}, {\"id\": \"room-109\"}],\n"

static const char full_config[] =
    "{\n"
    "  \"site\": {\"id\": \"nt-minhson-ap3\", \"name\": \"Nhà trọ Minh Sơn\",\n"
    "           \"address\": \"12 Lê Lợi, Minh Sơn\", \"phone\": \"+84912345678\",\n"
    "           \"geo\": {\"lat\": 10.64, \"lon\": 106.72}},\n"
    "  \"database\": \"data/safehouse.db\",\n"
    "  \"mqtt\": {\"username\": \"safehouse\", \"password\": \"secret\"},\n"
    "  \"upstream\": {\"host\": \"mqtt.militia.example\", \"tls\": true},\n"
    "  \"zones\": [{\"id\": \"room-101\", \"name\": \"Phòng 101\", \"floor\": 1},\n"
    "            {\"id\": \"kitchen\", \"kind\": \"kitchen\"}],\n"
    "  \"sensors\": [{\"id\": \"smoke-101\", \"kind\": \"smoke\", \"zone\": \"room-101\",\n"
    "               \"supervision_s\": 3600, \"power\": \"battery\",\n"
    "               \"mqtt\": {\"topic\": \"zigbee2mqtt/smoke_101\", \"format\": "
    "\"zigbee2mqtt\"}},\n"
    "              {\"id\": \"gas-kitchen\", \"kind\": \"gas\", \"zone\": \"kitchen\",\n"
    "               \"mqtt\": {\"topic\": \"zigbee2mqtt/gas\", \"format\": \"zigbee2mqtt\"}}],\n"
    "  \"outputs\": [{\"id\": \"siren-hall\", \"kind\": \"siren\",\n"
    "               \"mqtt\": {\"topic\": \"zigbee2mqtt/siren_hall/set\", \"format\": "
    "\"zigbee2mqtt\"}}],\n"
    "  \"contacts\": [{\"id\": \"militia\", \"via\": \"upstream\"},\n"
    "               {\"id\": \"owner\", \"via\": \"sms\", \"phone\": \"+84912345678\",\n"
    "                \"name\": \"Chị Lan\"}],\n"
    "  \"rules\": [\"rules/*.rules\"]\n"
    "}\n";

static void test_full_config_loads_with_defaults_applied(void **state)
{
	struct diags d;
	struct config *c = load(full_config, &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(d.n, 0);

	assert_string_equal(c->site.id, "nt-minhson-ap3");
	assert_string_equal(c->site.name, "Nhà trọ Minh Sơn");
	assert_string_equal(c->site.timezone, "Asia/Ho_Chi_Minh");
	assert_true(c->site.has_geo);
	assert_true(c->site.lat > 10.63 && c->site.lat < 10.65);
	assert_string_equal(c->database, tmp_path("data/safehouse.db"));
	assert_string_equal(c->control_socket, "/run/safehouse/control.sock");
	assert_null(c->control_group);
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->heartbeat_s, 60);
	assert_int_equal(c->control_idle_s, 60);

	assert_string_equal(c->mqtt.host, "127.0.0.1");
	assert_int_equal(c->mqtt.port, 1883);
	assert_string_equal(c->mqtt.client_id, "safehoused-nt-minhson-ap3");
	assert_int_equal(c->mqtt.keepalive_s, 30);
	assert_string_equal(c->upstream.host, "mqtt.militia.example");
	assert_true(c->upstream.tls);
	assert_int_equal(c->upstream.port, 8883); /* TLS: not the plain port */
	assert_string_equal(c->upstream_prefix, "safehouse");

	assert_int_equal(c->nzones, 2);
	assert_string_equal(c->zones[0].name, "Phòng 101");
	assert_int_equal(c->zones[0].floor, 1);
	assert_string_equal(c->zones[0].kind, "room");
	assert_string_equal(c->zones[1].name, "kitchen");
	assert_string_equal(c->zones[1].kind, "kitchen");

	assert_int_equal(c->nsensors, 2);
	assert_int_equal(c->sensors[0].kind, KIND_SMOKE);
	assert_int_equal(c->sensors[0].zone, 0);
	assert_int_equal(c->sensors[0].supervision_s, 3600);
	assert_string_equal(c->sensors[0].name, "smoke-101");
	assert_string_equal(c->sensors[0].mqtt.topic, "zigbee2mqtt/smoke_101");
	assert_string_equal(c->sensors[0].mqtt.format, "zigbee2mqtt");
	assert_int_equal(c->sensors[1].zone, 1);
	/* a gas detector is a mains device: supervised every 10 min by default */
	assert_int_equal(c->sensors[1].supervision_s, 600);
	assert_true(c->sensors[1].power_mains);

	assert_int_equal(c->noutputs, 1);
	assert_int_equal(c->outputs[0].kind, OUTPUT_SIREN);
	assert_int_equal(c->outputs[0].zone, -1);
	assert_int_equal(c->outputs[0].duration_s, 300);

	assert_int_equal(c->ncontacts, 2);
	assert_int_equal(c->contacts[0].via, VIA_UPSTREAM);
	assert_int_equal(c->contacts[1].via, VIA_SMS);
	assert_string_equal(c->contacts[1].phone, "+84912345678");

	assert_int_equal(c->nrule_files, 2);
	assert_string_equal(c->rule_files[0], tmp_path("rules/fire.rules"));
	assert_string_equal(c->rule_files[1], tmp_path("rules/gas.rules"));

	assert_int_equal(config_zone_index(c, "kitchen"), 1);
	assert_int_equal(config_sensor_index(c, "gas-kitchen"), 1);
	assert_int_equal(config_output_index(c, "siren-hall"), 0);
	assert_int_equal(config_contact_index(c, "owner"), 1);
	assert_int_equal(config_zone_index(c, "attic"), -1);
	assert_string_equal(config_output_kind_name(OUTPUT_VALVE), "valve");
	assert_string_equal(config_via_name(VIA_WEBHOOK), "webhook");
	config_free(c);
}

/* The rule compiler's view of the site: every sensor, zone, contact and
 * output at the config's index, with the config's strings. */
static void test_rules_site_describes_the_config_by_index(void **state)
{
	struct diags d;
	struct config *c = load(full_config, &d);
	struct rules_site *site, *empty;

	(void)state;
	assert_non_null(c);
	site = config_rules_site(c);
	assert_non_null(site);
	assert_int_equal(site->nsensors, c->nsensors);
	for (int i = 0; i < c->nsensors; i++) {
		assert_ptr_equal(site->sensors[i].id, c->sensors[i].id);
		assert_ptr_equal(site->sensors[i].label, c->sensors[i].name);
		assert_int_equal(site->sensors[i].kind, c->sensors[i].kind);
		assert_int_equal(site->sensors[i].zone, c->sensors[i].zone);
	}
	assert_int_equal(site->sensors[1].kind, KIND_GAS);
	assert_int_equal(site->nzones, 2);
	assert_string_equal(site->zones[1].id, "kitchen");
	assert_string_equal(site->zones[0].label, "Phòng 101");
	assert_int_equal(site->ncontacts, 2);
	assert_string_equal(site->contacts[1], "owner");
	assert_int_equal(site->noutputs, 1);
	assert_string_equal(site->outputs[0].id, "siren-hall");
	assert_string_equal(site->outputs[0].kind, "siren");
	assert_int_equal(site->outputs[0].zone, c->outputs[0].zone);
	assert_string_equal(site->zones[1].kind, c->zones[1].kind);
	assert_non_null(site->zone_kinds);
	assert_non_null(site->output_kinds);
	free(site);
	config_free(c);

	empty = config_rules_site(NULL);
	assert_non_null(empty);
	assert_int_equal(empty->nsensors + empty->nzones + empty->ncontacts + empty->noutputs, 0);
	free(empty);
}

static void test_without_upstream_alerts_go_to_the_local_broker(void **state)
{
	struct diags d;
	struct config *c = load(MINIMAL_HEAD "  \"heartbeat_s\": 300\n}\n", &d);

	(void)state;
	assert_non_null(c);
	assert_null(c->upstream.host);
	assert_string_equal(c->upstream_prefix, "safehouse");
	assert_int_equal(c->heartbeat_s, 300);
	assert_int_equal(c->nsensors, 0);
	assert_int_equal(c->nrule_files, 0);
	config_free(c);
}

static const char broken_config[] =
    "{\n"
    "  \"site\": {\"id\": \"bad site\"},\n"
    "  \"log_level\": \"verbose\",\n"
    "  \"heartbeat_s\": 2,\n"
    "  \"zones\": [{\"id\": \"room-101\", \"nmae\": \"Room\"}],\n"
    "  \"sensors\": [{\"id\": \"smoke-1\", \"kind\": \"smok\", \"zone\": \"room-109\",\n"
    "               \"mqtt\": {\"topic\": \"z2m/#\", \"format\": \"zigbee2mqtt\"}}],\n"
    "  \"outputs\": [{\"id\": \"siren\", \"kind\": \"siren\", \"duration_s\": \"300\", "
    "\"mqtt\": {\"topic\": \"x/set\"}}],\n"
    "  \"contacts\": [{\"id\": \"owner\", \"via\": \"sms\"}]\n"
    "}\n";

static void test_every_error_is_reported_in_one_pass_in_file_order(void **state)
{
	static const char *const want[] = {
	    "site.json:2:18: site.id: invalid id \"bad site\": use 1 to 63 letters, digits, "
	    "'-' or '_', since it is part of every MQTT topic of the site",
	    "site.json:3:16: log_level: unknown log level \"verbose\"; expected one of debug, "
	    "info, notice, warning, error",
	    "site.json:4:18: heartbeat_s: 2 is out of range: must be 5 to 86400 seconds",
	    "site.json:5:32: zones[0].nmae: unknown key; did you mean \"name\"?",
	    "site.json:6:41: sensors[0].kind: unknown sensor kind \"smok\"; did you mean "
	    "\"smoke\"?",
	    "site.json:6:57: sensors[0].zone: unknown zone \"room-109\"; did you mean "
	    "\"room-101\"?",
	    "site.json:7:34: sensors[0].mqtt.topic: MQTT wildcards ('+', '#') are not allowed: "
	    "the topic names one device",
	    "site.json:8:62: outputs[0].duration_s: expected a whole number, found a string",
	    "site.json:8:77: outputs[0].mqtt: missing required key \"format\"",
	    "site.json:9:16: contacts[0]: missing required key \"phone\"",
	};
	int n = (int)(sizeof(want) / sizeof(want[0]));
	struct diags d;
	struct config *c = load(broken_config, &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, n);
	assert_int_equal(d.n, n);
	/* In file order, as a compiler lists them. */
	for (int i = 0; i < n; i++)
		assert_string_equal(d.msg[i], want[i]);
}

static void test_unknown_key_suggests_the_intended_one(void **state)
{
	struct diags d;
	struct config *c = load("{\n"
	                        "  \"site\": {\"id\": \"s1\"},\n"
	                        "  \"zones\": [{\"id\": \"room-101\", \"nmae\": \"Room 101\"}],\n"
	                        "  \"heartbeat\": 60,\n"
	                        "  \"extra\": 1\n"
	                        "}\n",
	                        &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 3);
	expect_diag(&d, 0, "site.json:3:32: zones[0].nmae: unknown key; did you mean \"name\"?");
	expect_diag(&d, 0, "site.json:4:3: heartbeat: unknown key; did you mean \"heartbeat_s\"?");
	expect_diag(&d, 0,
	            "site.json:5:3: extra: unknown key; expected one of site, database, "
	            "control_socket, control_group, control_idle_s, log_level, mqtt, upstream, "
	            "heartbeat_s, zones, "
	            "buses, sensors, outputs, contacts, rules, homeassistant, profiles_dir, "
	            "neighbours, outbox, modem, credentials, criteria, "
	            "retention_days, web, history");
}

static void test_unknown_zone_reference_suggests_the_closest_zone(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD "  \"sensors\": [\n"
	                      "    {\"id\": \"smoke-9\", \"kind\": \"smoke\", \"zone\": "
	                      "\"room-9\",\n"
	                      "     \"mqtt\": {\"topic\": \"z/smoke_9\", \"format\": "
	                      "\"zigbee2mqtt\"}}],\n"
	                      "  \"outputs\": [{\"id\": \"siren\", \"kind\": \"siren\", "
	                      "\"zone\": \"attic\",\n"
	                      "     \"mqtt\": {\"topic\": \"z/siren/set\", \"format\": "
	                      "\"zigbee2mqtt\"}}]\n"
	                      "}\n",
	         &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 2);
	expect_diag(&d, 0,
	            "site.json:5:48: sensors[0].zone: unknown zone \"room-9\"; did you mean "
	            "\"room-109\"?");
	expect_diag(&d, 0,
	            "site.json:7:56: outputs[0].zone: unknown zone \"attic\": no zone has this id");
}

static void test_duplicate_id_names_the_line_of_the_first(void **state)
{
	struct diags d;
	struct config *c = load("{\n"
	                        "  \"site\": {\"id\": \"s1\"},\n"
	                        "  \"zones\": [{\"id\": \"room-101\"},\n"
	                        "            {\"id\": \"room-102\"},\n"
	                        "            {\"id\": \"room-101\"}],\n"
	                        "  \"contacts\": [{\"id\": \"owner\", \"via\": \"upstream\"},\n"
	                        "               {\"id\": \"owner\", \"via\": \"upstream\"}],\n"
	                        "  \"site\": {\"id\": \"s2\"}\n"
	                        "}\n",
	                        &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 3);
	expect_diag(&d, 0,
	            "site.json:5:20: zones[2].id: duplicate id \"room-101\"; zones[0] at line 3 "
	            "already uses it");
	expect_diag(&d, 0,
	            "site.json:7:23: contacts[1].id: duplicate id \"owner\"; contacts[0] at line 6 "
	            "already uses it");
	/* A repeated key would be silently ignored by the JSON library. */
	expect_diag(&d, 0,
	            "site.json:8:3: site: key given twice; the first one, at line 2, would win");
}

static void test_two_devices_on_one_topic_are_refused(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD
	         "  \"sensors\": [{\"id\": \"a\", \"kind\": \"smoke\", \"zone\": \"room-101\",\n"
	         "                \"mqtt\": {\"topic\": \"z/a\", \"format\": \"zigbee2mqtt\"}},\n"
	         "               {\"id\": \"b\", \"kind\": \"smoke\", \"zone\": \"room-101\",\n"
	         "                \"mqtt\": {\"topic\": \"z/a\", \"format\": \"zigbee2mqtt\"}}],\n"
	         "  \"outputs\": [{\"id\": \"s\", \"kind\": \"siren\",\n"
	         "                \"mqtt\": {\"topic\": \"z/a\", \"format\": \"zigbee2mqtt\"}}]\n"
	         "}\n",
	         &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 2);
	expect_diag(&d, 0,
	            "site.json:7:35: sensors[1].mqtt.topic: topic \"z/a\" is already used by "
	            "sensors[0] (line 5); each device needs its own topic");
	expect_diag(&d, 0,
	            "site.json:9:35: outputs[0].mqtt.topic: topic \"z/a\" is already used by "
	            "sensors[0] (line 5); each device needs its own topic");
}

/* Found by fuzz_config: the byte order mark check read 3 bytes of a text
 * that can be shorter (an empty file). The texts are heap copies of their
 * exact size so that the ASan build catches a read past them. */
static void test_empty_or_tiny_file_is_one_clear_error(void **state)
{
	static const char *const texts[] = {"", "{", "\xef", "\xef\xbb"};
	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct diags d;
		char *t = strdup(texts[i]);
		assert_non_null(t);
		assert_null(load(t, &d));
		assert_int_equal(d.errors, 1);
		assert_true(strncmp(d.msg[0], "site.json:", 10) == 0);
		free(t);
	}
}

/* Found by fuzz_config: an unknown key made of a long run of UTF-8
 * continuation bytes overflowed the buffer that quotes it in the message. */
static void test_unknown_key_of_invalid_utf8_is_quoted_safely(void **state)
{
	struct diags d;
	char text[2048];
	size_t o;
	(void)state;
	o = (size_t)snprintf(text, sizeof(text), "{\"site\": {\"id\": \"s1\"}, \"");
	memset(text + o, 0x80, 1000);
	o += 1000;
	snprintf(text + o, sizeof(text) - o, "\": 1}");
	int found = 0;
	assert_null(load(text, &d));
	for (int i = 0; i < d.n; i++)
		if (strstr(d.msg[i], "unknown key") && strstr(d.msg[i], "...\""))
			found = 1;
	assert_true(found);
}

static void test_invalid_json_reports_where_parsing_stopped(void **state)
{
	struct diags d;
	struct config *c;

	(void)state;
	c = load("{\n  \"site\": {\"id\": \"s1\"}\n  \"zones\": []\n}\n", &d);
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d, 0, "site.json:3:3: invalid JSON near \"\\\"zones\\\": []\"");

	c = load("{\n  \"zones\": [\n    {\"id\": \"a\"},\n  ]\n}\n", &d);
	assert_null(c);
	expect_diag(&d, 0, "site.json:3:16: invalid JSON: a comma before a closing bracket");

	c = load("{\n  // the site\n  \"site\": {}\n}\n", &d);
	assert_null(c);
	expect_diag(&d, 0, "site.json:2:3: invalid JSON: comments are not allowed");

	c = load("{\n  \"site\": {\"name\": \"Phòng\", \"id\": x}}", &d);
	assert_null(c);
	/* Columns count characters: "ò" is two bytes but one column. */
	expect_diag(&d, 0, "site.json:2:35: invalid JSON near \"x}}\"");

	c = load("{\n  \"site\": {", &d);
	assert_null(c);
	expect_diag(&d, 0, "site.json:2:12: invalid JSON: unexpected end of file");
}

static void test_wrong_types_say_what_was_expected(void **state)
{
	struct diags d;
	struct config *c =
	    load("{\n"
	         "  \"site\": {\"id\": 7, \"geo\": {\"lat\": 100, \"lon\": \"106\"}},\n"
	         "  \"zones\": {\"id\": \"room\"},\n"
	         "  \"upstream\": {\"tls\": \"yes\"},\n"
	         "  \"mqtt\": {\"port\": 1883.5}\n"
	         "}\n",
	         &d);

	(void)state;
	assert_null(c);
	expect_diag(&d, 0, "site.json:2:18: site.id: expected a string, found a number");
	expect_diag(&d, 0, "site.json:2:36: site.geo.lat: 100 is out of range: must be -90 to 90");
	expect_diag(&d, 0, "site.json:2:48: site.geo.lon: expected a number, found a string");
	expect_diag(&d, 0, "site.json:3:12: zones: expected an array, found an object");
	expect_diag(&d, 0, "site.json:4:15: upstream: missing required key \"host\"");
	expect_diag(&d, 0, "site.json:4:23: upstream.tls: expected true or false, found a string");
	expect_diag(&d, 0, "site.json:5:20: mqtt.port: expected a whole number, found 1883.5");
	assert_int_equal(d.errors, 7);
}

static void test_history_defaults_and_bad_values_in_one_pass(void **state)
{
	struct diags d;
	struct config *c = load(MINIMAL_HEAD "  \"heartbeat_s\": 300\n}\n", &d);

	(void)state;
	assert_non_null(c);
	assert_true(c->history_temperature_step == 1);
	assert_true(c->history_battery_step == 0);
	assert_int_equal(c->history_max_interval_s, 3600);
	config_free(c);

	c = load(MINIMAL_HEAD "  \"history\": {\"temperature_step\": 0.5, \"battery_step\": 5,\n"
	                      "              \"max_interval_s\": 600}\n}\n",
	         &d);
	assert_non_null(c);
	assert_true(c->history_temperature_step == 0.5 && c->history_battery_step == 5);
	assert_int_equal(c->history_max_interval_s, 600);
	config_free(c);

	c = load(MINIMAL_HEAD "  \"history\": {\"temperature_step\": -0.5, \"battery_step\": "
	                      "\"1\",\n"
	                      "              \"max_interval_s\": 30, \"max_intervall_s\": 60}\n}\n",
	         &d);
	assert_null(c);
	expect_diag(
	    &d, 0,
	    "site.json:4:35: history.temperature_step: -0.5 is out of range: must be 0 to 10");
	expect_diag(&d, 0,
	            "site.json:4:57: history.battery_step: expected a number, found a string");
	expect_diag(
	    &d, 0,
	    "site.json:5:33: history.max_interval_s: 30 is out of range: must be 60 to 86400 "
	    "seconds");
	expect_diag(&d, 0,
	            "site.json:5:37: history.max_intervall_s: unknown key; did you mean "
	            "\"max_interval_s\"?");
	assert_int_equal(d.errors, 4);
}

static void test_modbus_points_load_with_their_bus_defaults(void **state)
{
	struct diags d;
	struct config *c = load(
	    MINIMAL_HEAD
	    "  \"buses\": [{\"id\": \"rtu0\", \"type\": \"rtu\", \"device\": \"/dev/ttyUSB0\",\n"
	    "              \"baud\": 19200, \"parity\": \"E\", \"poll_ms\": 250},\n"
	    "             {\"id\": \"panel\", \"type\": \"tcp\", \"host\": \"10.0.0.5\"}],\n"
	    "  \"sensors\": [{\"id\": \"door-main\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	    "               \"modbus\": {\"bus\": \"rtu0\", \"unit\": 1, \"discrete_input\": 3,\n"
	    "                          \"invert\": true}},\n"
	    "              {\"id\": \"heat-1\", \"kind\": \"heat\", \"zone\": \"room-101\",\n"
	    "               \"modbus\": {\"bus\": \"panel\", \"unit\": 2, \"input_register\": 10,\n"
	    "                          \"type\": \"f32\", \"word_order\": \"little\"}}],\n"
	    "  \"outputs\": [{\"id\": \"siren-yard\", \"kind\": \"siren\",\n"
	    "               \"modbus\": {\"bus\": \"rtu0\", \"unit\": 2, \"coil\": 0}}]\n"
	    "}\n",
	    &d);

	(void)state;
	if (!c)
		for (int i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msg[i]);
	assert_non_null(c);
	assert_int_equal(c->nbuses, 2);
	assert_int_equal(c->buses[0].type, BUS_RTU);
	assert_int_equal(c->buses[0].baud, 19200);
	assert_int_equal(c->buses[0].parity, 'E');
	assert_int_equal(c->buses[1].port, 502);
	assert_int_equal(c->sensors[0].modbus.bus, 0);
	assert_int_equal(c->sensors[0].modbus.table, MB_DISCRETE);
	assert_int_equal(c->sensors[0].modbus.address, 3);
	assert_int_equal(c->sensors[0].modbus.type, MBT_BOOL);
	assert_true(c->sensors[0].modbus.invert);
	assert_int_equal(c->sensors[0].modbus.poll_ms, 250); /* from its bus */
	assert_true(c->sensors[0].power_mains);              /* wired */
	assert_int_equal(c->sensors[0].supervision_s, 600);
	assert_null(c->sensors[0].mqtt.topic);
	assert_int_equal(c->sensors[1].modbus.type, MBT_F32);
	assert_true(c->sensors[1].modbus.word_little);
	assert_int_equal(c->outputs[0].modbus.table, MB_COIL);
	config_free(c);
}

/* A profile that is missing, broken or lacks the channel is an error at the
 * sensor that names it; the other sensors still load their points. */
static void test_bad_profiles_are_each_reported_at_the_sensor(void **state)
{
	struct diags d;
	struct config *c;

	(void)state;
	assert_int_equal(mkdir(tmp_path("profiles"), 0755), 0);
	write_file(tmp_path("profiles/broken.json"), "{\"channels\": {\"1\": \n");
	write_file(tmp_path("profiles/io.json"),
	           "{\"name\": \"io\", \"channels\": {\"1\": {\"discrete_input\": 0}}}\n");
	c = load(MINIMAL_HEAD
	         "  \"profiles_dir\": \"profiles\",\n"
	         "  \"buses\": [{\"id\": \"t\", \"type\": \"tcp\", \"host\": \"10.0.0.5\"}],\n"
	         "  \"sensors\": [\n"
	         "    {\"id\": \"a\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	         "     \"modbus\": {\"bus\": \"t\", \"unit\": 1, \"profile\": \"nosuch\", "
	         "\"channel\": 1}},\n"
	         "    {\"id\": \"b\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	         "     \"modbus\": {\"bus\": \"t\", \"unit\": 1, \"profile\": \"broken\", "
	         "\"channel\": 1}},\n"
	         "    {\"id\": \"c\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	         "     \"modbus\": {\"bus\": \"t\", \"unit\": 1, \"profile\": \"io\", \"channel\": "
	         "9}},\n"
	         "    {\"id\": \"d\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	         "     \"modbus\": {\"bus\": \"t\", \"unit\": 1, \"profile\": \"../io\", "
	         "\"channel\": 1}},\n"
	         "    {\"id\": \"e\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	         "     \"modbus\": {\"bus\": \"t\", \"unit\": 1, \"profile\": \"io\", \"channel\": "
	         "1}}]\n"
	         "}\n",
	         &d);
	unlink(tmp_path("profiles/broken.json"));
	unlink(tmp_path("profiles/io.json"));
	rmdir(tmp_path("profiles"));
	assert_null(c);
	expect_diag_prefix(&d, 0,
	                   "site.json:8:51: sensors[0].modbus.profile: cannot read profile ");
	expect_diag_prefix(&d, 0, "site.json:10:51: sensors[1].modbus.profile: profile ");
	expect_diag(&d, 0,
	            "site.json:12:68: sensors[2].modbus.channel: profile io has no channel 9");
	expect_diag(
	    &d, 0,
	    "site.json:14:51: sensors[3].modbus.profile: a profile name is letters, digits, - "
	    "and _");
	assert_int_equal(d.errors, 4);
}

static void test_bad_modbus_points_are_each_reported(void **state)
{
	struct diags d;
	struct config *c = load(
	    MINIMAL_HEAD
	    "  \"buses\": [{\"id\": \"rtu0\", \"type\": \"rtu\"}],\n"
	    "  \"sensors\": [{\"id\": \"a\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	    "               \"modbus\": {\"bus\": \"rtu1\", \"unit\": 1, \"coil\": 0}},\n"
	    "              {\"id\": \"b\", \"kind\": \"door\", \"zone\": \"room-101\",\n"
	    "               \"modbus\": {\"bus\": \"rtu0\", \"unit\": 1}},\n"
	    "              {\"id\": \"c\", \"kind\": \"smoke\", \"zone\": \"room-101\",\n"
	    "               \"modbus\": {\"bus\": \"rtu0\", \"unit\": 1, \"holding_register\": 4,\n"
	    "                          \"bit\": 16}}],\n"
	    "  \"outputs\": [{\"id\": \"s\", \"kind\": \"siren\",\n"
	    "               \"modbus\": {\"bus\": \"rtu0\", \"unit\": 2, \"input_register\": 0}}]\n"
	    "}\n",
	    &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 5);
	expect_diag(&d, 0,
	            "site.json:4:13: buses[0]: missing required key \"device\": an RTU bus needs "
	            "its serial device");
	expect_diag(&d, 0, "site.json:6:34: sensors[0].modbus.bus: unknown bus \"rtu1\"");
	expect_diag(&d, 0,
	            "site.json:8:26: sensors[1].modbus: missing the table and address: "
	            "discrete_input, coil, input_register or holding_register, or a profile and "
	            "channel");
	expect_diag(&d, 0,
	            "site.json:11:34: sensors[2].modbus.bit: 16 is out of range: must be 0 to 15");
	expect_diag(&d, 0, "site.json:13:71: outputs[0].modbus: an output is a coil");
}

static void test_missing_rule_file_is_an_error(void **state)
{
	struct diags d;
	char want[PATH_MAX + 128];
	struct config *c =
	    load(MINIMAL_HEAD "  \"rules\": [\"rules/fire.rules\", \"rules/smoke.rules\"]\n"
	                      "}\n",
	         &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	snprintf(want, sizeof(want),
	         "site.json:4:33: rules[1]: rule file \"rules/smoke.rules\" not found: %s: No such "
	         "file or directory",
	         tmp_path("rules/smoke.rules"));
	expect_diag(&d, 0, want);
}

static void test_wildcard_rule_pattern_matching_nothing_is_only_a_warning(void **state)
{
	struct diags d;
	char want[PATH_MAX + 128];
	struct config *c = load(MINIMAL_HEAD "  \"rules\": [\"rules/*.rules\", \"local/*.rules\"]\n"
	                                     "}\n",
	                        &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 1);
	snprintf(
	    want, sizeof(want),
	    "site.json:4:30: rules[1]: pattern \"local/*.rules\" matches no file (looked in %s)",
	    tmpdir);
	expect_diag(&d, 1, want);
	assert_int_equal(c->nrule_files, 2);
	config_free(c);
}

static void test_overlapping_rule_patterns_load_each_file_once_in_order(void **state)
{
	struct diags d;
	char abs[PATH_MAX + 64];
	struct config *c;

	(void)state;
	snprintf(abs, sizeof(abs),
	         MINIMAL_HEAD "  \"rules\": [\"rules/gas.rules\", \"%s\", \"rules/*.rules\"]\n}\n",
	         tmp_path("rules/fire.rules"));
	c = load(abs, &d);
	assert_non_null(c);
	assert_int_equal(d.n, 0);
	assert_int_equal(c->nrule_files, 2);
	assert_string_equal(c->rule_files[0], tmp_path("rules/fire.rules"));
	assert_string_equal(c->rule_files[1], tmp_path("rules/gas.rules"));
	config_free(c);
}

static void test_relative_paths_are_relative_to_the_config_file(void **state)
{
	struct diags d = {0};
	char cwd[PATH_MAX], rel[PATH_MAX];
	const char *base = strrchr(tmpdir, '/') + 1;
	struct config *c;
	int nerrors = -1;

	(void)state;
	write_file(tmp_path("site.json"), MINIMAL_HEAD "  \"database\": \"safehouse.db\",\n"
	                                               "  \"control_socket\": \"./run/ctl.sock\",\n"
	                                               "  \"rules\": [\"rules/fire.rules\"]\n"
	                                               "}\n");
	/* Loaded by a relative name from elsewhere, as `safehoused -c` may be. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/tmp"), 0);
	snprintf(rel, sizeof(rel), "%s/site.json", base);
	c = config_load(rel, capture, &d, &nerrors);
	assert_int_equal(chdir(cwd), 0);

	assert_non_null(c);
	assert_int_equal(nerrors, 0);
	assert_string_equal(c->path, rel);
	assert_string_equal(c->dir, tmpdir);
	assert_string_equal(c->database, tmp_path("safehouse.db"));
	assert_string_equal(c->control_socket, tmp_path("run/ctl.sock"));
	assert_int_equal(c->nrule_files, 1);
	assert_string_equal(c->rule_files[0], tmp_path("rules/fire.rules"));
	config_free(c);
}

static void test_unreadable_file_says_why(void **state)
{
	struct diags d = {0};
	int nerrors = -1;
	struct config *c = config_load(tmp_path("nope.json"), capture, &d, &nerrors);
	char want[PATH_MAX + 64];

	(void)state;
	assert_null(c);
	assert_int_equal(nerrors, 1);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory",
	         tmp_path("nope.json"));
	expect_diag(&d, 0, want);

	memset(&d, 0, sizeof(d));
	c = config_load(tmpdir, capture, &d, &nerrors);
	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", tmpdir);
	expect_diag(&d, 0, want);
}

static void test_file_over_4_mib_is_rejected(void **state)
{
	struct diags d = {0};
	int nerrors = -1;
	char want[PATH_MAX + 64];
	FILE *f = fopen(tmp_path("big.json"), "w");
	struct config *c;

	(void)state;
	assert_non_null(f);
	fputc('[', f);
	for (int i = 0; i < 4 * 1024 * 1024 / 2; i++)
		fputs("0,", f);
	fputs("0]", f);
	assert_int_equal(fclose(f), 0);
	c = config_load(tmp_path("big.json"), capture, &d, &nerrors);
	assert_null(c);
	assert_int_equal(nerrors, 1);
	snprintf(want, sizeof(want), "%s: too large: over 4 MiB; a site config is a few kB",
	         tmp_path("big.json"));
	expect_diag(&d, 0, want);
}

static void test_contacts_need_what_their_channel_uses(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD
	         "  \"contacts\": [\n"
	         "    {\"id\": \"owner\", \"via\": \"sms\", \"phone\": \"0912 345 678\"},\n"
	         "    {\"id\": \"hook\", \"via\": \"webhook\", \"url\": \"ftp://x\"},\n"
	         "    {\"id\": \"desk\", \"via\": \"cal\"},\n"
	         "    {\"id\": \"militia\", \"via\": \"upstream\", \"phone\": \"+84912345678\"}]\n"
	         "}\n",
	         &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 3);
	expect_diag(
	    &d, 0,
	    "site.json:5:44: contacts[0].phone: invalid phone number \"0912 345 678\": use "
	    "digits with an optional leading '+', 8 to 16 characters, e.g. \"+84912345678\"");
	expect_diag(&d, 0,
	            "site.json:6:45: contacts[1].url: invalid URL \"ftp://x\": must start with "
	            "http:// or https://");
	expect_diag(
	    &d, 0,
	    "site.json:7:27: contacts[2].via: unknown contact channel \"cal\"; did you mean "
	    "\"call\"?");
	expect_diag(&d, 1,
	            "site.json:8:42: contacts[3].phone: ignored: only sms and call use a phone");
}

static void test_upstream_prefix_must_be_publishable(void **state)
{
	struct diags d;
	struct config *c = load(
	    MINIMAL_HEAD "  \"upstream\": {\"host\": \"militia.example\", \"prefix\": \"/vn/+\"}\n"
	                 "}\n",
	    &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d, 0,
	            "site.json:4:53: upstream.prefix: MQTT wildcards ('+', '#') cannot be part of "
	            "a topic to publish");
}

/* A config with passwords in it, written to a file with the given mode. */
static struct config *load_with_mode(const char *text, mode_t mode, struct diags *d)
{
	int nerrors = -1;
	struct config *c;

	write_file(tmp_path("site.json"), text);
	assert_int_equal(chmod(tmp_path("site.json"), mode), 0);
	memset(d, 0, sizeof(*d));
	c = config_load(tmp_path("site.json"), capture, d, &nerrors);
	assert_int_equal(nerrors, d->errors);
	return c;
}

static const char secrets_config[] =
    MINIMAL_HEAD "  \"mqtt\": {\"username\": \"sh\", \"password\": \"secret\"},\n"
                 "  \"upstream\": {\"host\": \"h\", \"username\": \"sh\", \"password\": \"x\"}\n"
                 "}\n";

static void test_passwords_in_a_file_others_can_read_are_refused(void **state)
{
	struct diags d;
	char want[2 * PATH_MAX];
	struct config *c = load_with_mode(secrets_config, 0644, &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 2);
	snprintf(want, sizeof(want),
	         "%s:4:30: mqtt.password: this file holds a password but is readable by group "
	         "or others (mode 0644); run: chmod 600 %s (owned by the user the daemon runs "
	         "as)",
	         tmp_path("site.json"), tmp_path("site.json"));
	expect_diag(&d, 0, want);
	snprintf(want, sizeof(want), "%s:5:47: upstream.password: this file holds a password",
	         tmp_path("site.json"));
	expect_diag_prefix(&d, 0, want);

	/* Group-readable is refused too: the daemon's group is not its user. */
	c = load_with_mode(secrets_config, 0640, &d);
	assert_null(c);
	assert_int_equal(d.errors, 2);
	/* Writable only, by anyone else, is no better: they can swap the broker. */
	c = load_with_mode(secrets_config, 0602, &d);
	assert_null(c);
	snprintf(want, sizeof(want),
	         "%s:4:30: mqtt.password: this file holds a password but is writable by group "
	         "or others (mode 0602)",
	         tmp_path("site.json"));
	expect_diag_prefix(&d, 0, want);
}

static void test_passwords_in_a_private_file_load(void **state)
{
	struct diags d;
	struct config *c = load_with_mode(secrets_config, 0600, &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(d.errors, 0);
	assert_string_equal(c->upstream.password, "x");
	config_free(c);
	c = load_with_mode(secrets_config, 0400, &d);
	assert_non_null(c);
	config_free(c);
}

static void test_a_file_without_passwords_may_be_world_readable(void **state)
{
	struct diags d;
	struct config *c =
	    load_with_mode(MINIMAL_HEAD "  \"mqtt\": {\"username\": \"sh\"}\n}\n", 0644, &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(d.errors, 0);
	config_free(c);
}

/* The modem: defaults, and every mistake reported at its key. The PIN
 * file is refused when others can read it, and the PIN is never quoted. */
static void test_modem_loads_with_defaults(void **state)
{
	struct diags d;
	struct config *c;

	(void)state;
	write_file(tmp_path("sim-pin"), "1234\n");
	assert_int_equal(chmod(tmp_path("sim-pin"), 0600), 0);
	c = load(MINIMAL_HEAD
	         "  \"modem\": {\"device\": \"/dev/ttyUSB2\", \"pin_file\": \"sim-pin\"}\n"
	         "}\n",
	         &d);
	assert_non_null(c);
	assert_string_equal(c->modem.device, "/dev/ttyUSB2");
	assert_int_equal(c->modem.baud, 115200);
	assert_string_equal(c->modem.pin_file, tmp_path("sim-pin"));
	assert_int_equal(c->modem.ring_s, 30);
	assert_int_equal(c->modem.check_s, 60);
	config_free(c);
	c = load(MINIMAL_HEAD "  \"site2\": 1\n}\n", &d);
	assert_null(c);
	c = load(MINIMAL_HEAD "  \"log_level\": \"info\"\n}\n", &d);
	assert_non_null(c);
	assert_null(c->modem.device); /* no modem */
	config_free(c);
	unlink(tmp_path("sim-pin"));
}

static void test_modem_mistakes_are_each_reported(void **state)
{
	struct diags d;
	struct config *c;
	char want[2 * PATH_MAX];

	(void)state;
	write_file(tmp_path("sim-pin"), "4321\n");
	assert_int_equal(chmod(tmp_path("sim-pin"), 0644), 0);
	c = load(MINIMAL_HEAD "  \"modem\": {\"baud\": 115201, \"pin_file\": \"sim-pin\",\n"
	                      "            \"ring_s\": 1, \"pin\": \"4321\"}\n"
	                      "}\n",
	         &d);
	assert_null(c);
	assert_int_equal(d.errors, 5);
	expect_diag(&d, 0,
	            "site.json:4:12: modem: missing required key \"device\": the modem's serial "
	            "port, e.g. \"/dev/ttyUSB2\"");
	expect_diag(&d, 0,
	            "site.json:4:21: modem.baud: 115201 is not a serial speed (9600, 19200, "
	            "38400, 57600, 115200, 230400, 460800 or 921600)");
	snprintf(want, sizeof(want),
	         "site.json:4:41: modem.pin_file: the SIM PIN file %s is readable by group or "
	         "others (mode 0644); run: chmod 600 %s (owned by the user the daemon runs as)",
	         tmp_path("sim-pin"), tmp_path("sim-pin"));
	expect_diag(&d, 0, want);
	expect_diag(&d, 0,
	            "site.json:5:23: modem.ring_s: 1 is out of range: must be 5 to 300 seconds");
	expect_diag(&d, 0,
	            "site.json:5:26: modem.pin: unknown key; expected one of device, baud, "
	            "pin_file, ring_s, check_s, fault_s");
	for (int i = 0; i < d.n; i++)
		assert_null(strstr(d.msg[i], "4321:")); /* the PIN is not in messages */

	/* a private file that holds no PIN; a missing file */
	assert_int_equal(chmod(tmp_path("sim-pin"), 0600), 0);
	write_file(tmp_path("sim-pin"), "12a4\n");
	c = load(MINIMAL_HEAD
	         "  \"modem\": {\"device\": \"/dev/ttyS1\", \"pin_file\": \"sim-pin\"}\n"
	         "}\n",
	         &d);
	assert_null(c);
	snprintf(want, sizeof(want),
	         "site.json:4:49: modem.pin_file: %s does not hold a SIM PIN: expected 4 to 8 "
	         "digits on one line",
	         tmp_path("sim-pin"));
	expect_diag(&d, 0, want);
	for (int i = 0; i < d.n; i++)
		assert_null(strstr(d.msg[i], "12a4"));
	unlink(tmp_path("sim-pin"));
	c = load(MINIMAL_HEAD
	         "  \"modem\": {\"device\": \"/dev/ttyS1\", \"pin_file\": \"sim-pin\"}\n"
	         "}\n",
	         &d);
	assert_null(c);
	snprintf(want, sizeof(want),
	         "site.json:4:49: modem.pin_file: cannot read the SIM PIN file %s: No such file or "
	         "directory",
	         tmp_path("sim-pin"));
	expect_diag(&d, 0, want);
	c = load(MINIMAL_HEAD "  \"modem\": \"/dev/ttyS1\"\n}\n", &d);
	assert_null(c);
	expect_diag(&d, 0, "site.json:4:12: modem: expected an object, found a string");
}

/* --check warns about a modem device that is not there; the daemon's load
 * does not (a modem unplugged at boot must not stop the sirens). */
static void test_check_warns_about_a_missing_modem_device(void **state)
{
	static const char text[] = MINIMAL_HEAD "  \"modem\": {\"device\": \"/dev/ttyNOPE9\"}\n"
	                                        "}\n";
	struct diags d = {0};
	int nerrors = -1;
	struct config *c;

	(void)state;
	write_file(tmp_path("site.json"), text);
	c = config_load_partial(tmp_path("site.json"), capture, &d, &nerrors);
	assert_non_null(c);
	assert_int_equal(nerrors, 0);
	assert_int_equal(d.warnings, 1);
	assert_non_null(strstr(d.msg[0], ":4:23: modem.device: /dev/ttyNOPE9 does not exist now "
	                                 "(No such file or directory); the daemon starts anyway"));
	config_free(c);
	c = load(text, &d);
	assert_non_null(c);
	assert_int_equal(d.warnings, 0);
	config_free(c);
}

/* "credentials": the secrets live in a private file; the config names
 * them. config_credential() is what channels (webhook tokens) call. */
static void test_credentials_file_gives_the_upstream_login_and_named_secrets(void **state)
{
	struct diags d;
	struct config *c;
	const char *cred = tmp_path("credentials.json");

	(void)state;
	write_file(cred, "{\"upstream\": {\"username\": \"nt1\", \"password\": \"pw-up\"},\n"
	                 " \"telegram\": \"123:tok\", \"local\": \"pw-local\"}\n");
	assert_int_equal(chmod(cred, 0600), 0);
	c = load(MINIMAL_HEAD "  \"credentials\": \"credentials.json\",\n"
	                      "  \"mqtt\": {\"username\": \"sh\", \"password\": "
	                      "\"credentials:local\"},\n"
	                      "  \"upstream\": {\"host\": \"militia.example\"}\n}\n",
	         &d);
	assert_non_null(c);
	assert_int_equal(d.errors, 0);
	/* The upstream object with no login of its own takes "upstream". */
	assert_string_equal(c->upstream.username, "nt1");
	assert_string_equal(c->upstream.password, "pw-up");
	assert_string_equal(c->mqtt.username, "sh");
	assert_string_equal(c->mqtt.password, "pw-local");
	assert_string_equal(config_credential(c, "telegram"), "123:tok");
	assert_string_equal(config_credential(c, "upstream"), "pw-up");
	assert_null(config_credential(c, "sms"));
	assert_null(config_credential(NULL, "telegram"));
	config_free(c);

	/* Readable by others: refused, and nothing of it is used. */
	assert_int_equal(chmod(cred, 0640), 0);
	c = load(MINIMAL_HEAD "  \"credentials\": \"credentials.json\"\n}\n", &d);
	assert_null(c);
	expect_diag_prefix(&d, 0, "site.json:");
	assert_non_null(strstr(d.msg[0], "credentials: "));
	assert_non_null(strstr(d.msg[0], "holds passwords but is readable by group or others "
	                                 "(mode 0640)"));
	assert_null(strstr(d.msg[0], "pw-up"));
	unlink(cred);
}

static void test_free_accepts_null(void **state)
{
	(void)state;
	config_free(NULL);
	assert_int_equal(config_zone_index(NULL, "x"), -1);
}

/* A Tasmota board runs on the mains and reports tele/STATE every 5 min:
 * supervised like a mains device unless the config says otherwise. */
static void test_tasmota_sensor_defaults_to_mains_supervision(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD
	         "  \"sensors\": [\n"
	         "    {\"id\": \"t1\", \"kind\": \"smoke\", \"zone\": \"room-101\",\n"
	         "     \"mqtt\": {\"topic\": \"kitchen\", \"format\": \"tasmota\"}},\n"
	         "    {\"id\": \"t2\", \"kind\": \"smoke\", \"zone\": \"room-101\",\n"
	         "     \"power\": \"battery\",\n"
	         "     \"mqtt\": {\"topic\": \"hall\", \"format\": \"tasmota\"}},\n"
	         "    {\"id\": \"z1\", \"kind\": \"smoke\", \"zone\": \"room-109\",\n"
	         "     \"mqtt\": {\"topic\": \"zigbee2mqtt/s\", \"format\": \"zigbee2mqtt\"}}]\n"
	         "}\n",
	         &d);

	(void)state;
	assert_non_null(c);
	assert_true(c->sensors[0].power_mains);
	assert_int_equal(c->sensors[0].supervision_s, 600);
	assert_false(c->sensors[1].power_mains); /* the config says battery */
	assert_int_equal(c->sensors[1].supervision_s, 7200);
	assert_false(c->sensors[2].power_mains); /* a zigbee detector */
	assert_int_equal(c->sensors[2].supervision_s, 7200);
	config_free(c);
}

/* A militia contact as an escalation chain: upstream at once, an SMS to the
 * duty phone after 60 s, then a call to the commune police every 5 min. */
static void test_contact_steps_make_an_escalation_chain(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD
	         "  \"contacts\": [\n"
	         "    {\"id\": \"militia\", \"name\": \"Dân quân trực\", \"steps\": [\n"
	         "      {\"via\": \"upstream\"},\n"
	         "      {\"via\": \"sms\", \"phone\": \"+84912345678\", \"after_s\": 60},\n"
	         "      {\"via\": \"call\", \"phone\": \"+84987654321\", \"after_s\": 120,\n"
	         "       \"repeat_s\": 300, \"repeat_max\": 5}],\n"
	         "     \"ack_by_call\": true},\n"
	         "    {\"id\": \"owner\", \"via\": \"sms\", \"phone\": \"+84911111111\"}]\n"
	         "}\n",
	         &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->ncontacts, 2);
	assert_string_equal(c->contacts[0].name, "Dân quân trực");
	assert_int_equal(c->contacts[0].nsteps, 3);
	assert_int_equal(c->contacts[0].via, VIA_UPSTREAM);
	assert_int_equal(c->contacts[0].steps[1].via, VIA_SMS);
	assert_string_equal(c->contacts[0].steps[1].phone, "+84912345678");
	assert_int_equal(c->contacts[0].steps[1].after_s, 60);
	assert_int_equal(c->contacts[0].steps[2].via, VIA_CALL);
	assert_int_equal(c->contacts[0].steps[2].repeat_s, 300);
	assert_int_equal(c->contacts[0].steps[2].repeat_max, 5);
	assert_true(c->contacts[0].ack_by_reply); /* it has phones */
	assert_true(c->contacts[0].ack_by_call);
	/* the short form is one step at once */
	assert_int_equal(c->contacts[1].nsteps, 1);
	assert_int_equal(c->contacts[1].steps[0].after_s, 0);
	assert_string_equal(c->contacts[1].phone, "+84911111111");
	assert_string_equal(c->contacts[1].name, "owner");
	config_free(c);
}

static void test_bad_steps_are_all_reported_with_their_place(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD
	         "  \"contacts\": [\n"
	         "    {\"id\": \"a\", \"steps\": [{\"via\": \"sms\"},\n"
	         "      {\"phone\": \"+84912345678\"},\n"
	         "      {\"via\": \"call\", \"phone\": \"+84912345678\", \"repeat_s\": 5},\n"
	         "      {\"via\": \"upstream\", \"after\": 60}]},\n"
	         "    {\"id\": \"b\", \"via\": \"sms\", \"phone\": \"+84912345678\",\n"
	         "     \"steps\": []},\n"
	         "    {\"id\": \"c\", \"steps\": {\"via\": \"sms\"}}]\n"
	         "}\n",
	         &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 8);
	expect_diag(&d, 0, "site.json:5:27: contacts[0].steps[0]: missing required key \"phone\"");
	expect_diag(&d, 0, "site.json:6:7: contacts[0].steps[1]: missing required key \"via\"");
	expect_diag(&d, 0,
	            "site.json:7:60: contacts[0].steps[2].repeat_s: 5 is too short: a repeated "
	            "call or message needs at least 30 s between runs");
	expect_diag(&d, 0,
	            "site.json:8:27: contacts[0].steps[3].after: unknown key; did you mean "
	            "\"after_s\"?");
	expect_diag(&d, 0,
	            "site.json:9:17: contacts[1].via: a contact with \"steps\" gives its channels "
	            "in the steps, not beside them");
	expect_diag(
	    &d, 0,
	    "site.json:9:31: contacts[1].phone: a contact with \"steps\" gives its channels "
	    "in the steps, not beside them");
	expect_diag(&d, 0,
	            "site.json:10:15: contacts[1].steps: a contact has 1 to 16 steps, not 0");
	expect_diag(&d, 0,
	            "site.json:11:26: contacts[2].steps: expected an array of steps, found an "
	            "object");
}

static void test_neighbours_and_language_load(void **state)
{
	struct diags d;
	struct config *c = load("{\n"
	                        "  \"site\": {\"id\": \"nt-1\", \"language\": \"en\"},\n"
	                        "  \"zones\": [{\"id\": \"room-101\"}],\n"
	                        "  \"neighbours\": [\"nt-2\", \"nt-3\"]\n"
	                        "}\n",
	                        &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->site.language, LANG_EN);
	assert_int_equal(c->nneighbours, 2);
	assert_string_equal(c->neighbours[0], "nt-2");
	assert_string_equal(c->neighbours[1], "nt-3");
	config_free(c);
	c = load("{\"site\": {\"id\": \"nt-1\"}, \"zones\": [{\"id\": \"r\"}]}", &d);
	assert_non_null(c);
	assert_int_equal(c->site.language, LANG_VI);
	assert_int_equal(c->nneighbours, 0);
	config_free(c);
}

static void test_web_is_off_by_default_and_loads_with_its_defaults(void **state)
{
	struct diags d;
	struct config *c = load("{\"site\": {\"id\": \"nt-1\", \"language\": \"en\"}, "
	                        "\"zones\": [{\"id\": \"r\"}]}",
	                        &d);

	(void)state;
	assert_non_null(c);
	assert_null(c->web.listen);
	config_free(c);
	c = load("{\"site\": {\"id\": \"nt-1\", \"language\": \"en\"}, "
	         "\"zones\": [{\"id\": \"r\"}], \"web\": {\"listen\": \"0.0.0.0:8080\"}}",
	         &d);
	assert_non_null(c);
	assert_string_equal(c->web.listen, "0.0.0.0:8080");
	assert_int_equal(c->web.https, 0);
	assert_null(c->web.cert);
	assert_int_equal(c->web.public_view, 1);
	assert_int_equal(c->web.language, LANG_EN); /* the site's */
	assert_int_equal(c->web.session_idle_s, 600);
	config_free(c);
}

static void test_bad_web_section_is_reported_key_by_key(void **state)
{
	struct diags d;
	struct config *c = load("{\n"
	                        "  \"site\": {\"id\": \"nt-1\"},\n"
	                        "  \"zones\": [{\"id\": \"r\"}],\n"
	                        "  \"web\": {\"listen\": \"0.0.0.0:99999\", \"public\": 1,\n"
	                        "          \"session_idle_s\": 5, \"lang\": \"vi\"}\n"
	                        "}\n",
	                        &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 4);
	expect_diag(
	    &d, 0,
	    "site.json:4:21: web.listen: invalid address \"0.0.0.0:99999\": use HOST:PORT or "
	    "[IPv6]:PORT, port 1 to 65535 (e.g. \"0.0.0.0:8080\" for every interface, "
	    "\"192.168.1.2:8080\" for the Wi-Fi's only)");
	expect_diag(&d, 0, "site.json:4:48: web.public: expected true or false, found a number");
	expect_diag(&d, 0,
	            "site.json:5:29: web.session_idle_s: 5 is out of range: must be 60 to 86400 "
	            "seconds");
	expect_diag(
	    &d, 0,
	    "site.json:5:32: web.lang: unknown key; expected one of listen, https, cert, key, "
	    "public, language, session_idle_s");
}

static void test_bad_neighbours_and_language_are_each_reported(void **state)
{
	struct diags d;
	struct config *c = load("{\n"
	                        "  \"site\": {\"id\": \"nt-1\", \"language\": \"vn\"},\n"
	                        "  \"zones\": [{\"id\": \"room-101\"}],\n"
	                        "  \"neighbours\": [\"nt-2\", \"nt-1\", \"nt-2\", 7,\n"
	                        "                 \"nt 9\"]\n"
	                        "}\n",
	                        &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 5);
	expect_diag(&d, 0,
	            "site.json:2:38: site.language: unknown language \"vn\"; did you mean \"vi\"?");
	expect_diag(&d, 0,
	            "site.json:4:26: neighbours[1]: \"nt-1\" is this site's own id: a neighbour "
	            "group lists the other houses");
	expect_diag(&d, 0, "site.json:4:34: neighbours[2]: site \"nt-2\" is listed twice");
	expect_diag(&d, 0,
	            "site.json:4:42: neighbours[3]: expected a string (a neighbour's site id), "
	            "found a number");
	expect_diag(&d, 0,
	            "site.json:5:18: neighbours[4]: invalid site id \"nt 9\": use 1 to 63 letters, "
	            "digits, '-' or '_', as in the neighbour's site.id");
	c = load("{\"site\": {\"id\": \"nt-1\"}, \"zones\": [{\"id\": \"r\"}], \"neighbours\": []}",
	         &d);
	assert_null(c);
	assert_int_equal(d.errors, 1);
}

/* A contact whose id is refused has none; the loader still looks contacts
 * up by id (the self-check's "owner") and must report, not crash (found by
 * fuzz_config; tests/fuzz/corpus/config/regress-contact-without-id.json). */
static void test_contact_with_a_refused_id_is_reported_not_looked_up(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD "  \"contacts\": [{\"id\": \"bad id\", \"via\": \"upstream\"},\n"
	                      "                {\"id\": \"owner\", \"via\": \"upstream\"}]\n"
	                      "}\n",
	         &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d, 0,
	            "site.json:4:23: contacts[0].id: invalid id \"bad id\": use 1 to 63 letters, "
	            "digits, '-' or '_'");
}

/* A cluster upstream: each node "HOST" or "HOST:PORT", the port defaulting
 * to the object's; host names the first node, so code asking "is there an
 * upstream" still works. */
static void test_upstream_hosts_list_the_nodes_of_a_cluster(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD "  \"upstream\": {\"hosts\": [\"10.0.0.11\", \"10.0.0.12:1884\",\n"
	                      "                \"[fd00::3]:1883\", \"fd00::4\", \"mq.example\"],\n"
	                      "               \"port\": 1885}\n"
	                      "}\n",
	         &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(d.errors, 0);
	assert_int_equal(c->upstream.nhosts, 5);
	assert_string_equal(c->upstream.hosts[0].host, "10.0.0.11");
	assert_int_equal(c->upstream.hosts[0].port, 1885);
	assert_string_equal(c->upstream.hosts[1].host, "10.0.0.12");
	assert_int_equal(c->upstream.hosts[1].port, 1884);
	assert_string_equal(c->upstream.hosts[2].host, "fd00::3");
	assert_int_equal(c->upstream.hosts[2].port, 1883);
	assert_string_equal(c->upstream.hosts[3].host, "fd00::4");
	assert_int_equal(c->upstream.hosts[3].port, 1885);
	assert_string_equal(c->upstream.hosts[4].host, "mq.example");
	assert_string_equal(c->upstream.host, "10.0.0.11");
	config_free(c);
}

static void test_upstream_with_one_host_has_no_list(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD "  \"upstream\": {\"host\": \"militia.example\"}\n}\n", &d);

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->upstream.nhosts, 0);
	assert_null(c->upstream.hosts);
	assert_string_equal(c->upstream.host, "militia.example");
	config_free(c);
}

static void test_upstream_hosts_mistakes_are_all_reported_with_their_place(void **state)
{
	struct diags d;
	struct config *c =
	    load(MINIMAL_HEAD "  \"upstream\": {\"host\": \"a\", \"hosts\": [\"b\", \"b:1883\",\n"
	                      "    \"c:0\", \"d:x\", \"\", \"[fd00::1\", 7, \"e f\"]}\n"
	                      "}\n",
	         &d);

	(void)state;
	assert_null(c);
	expect_diag(
	    &d, 0,
	    "site.json:4:29: upstream.hosts: give either \"host\" (one broker) or \"hosts\" "
	    "(a cluster), not both");
	expect_diag(&d, 0,
	            "site.json:4:44: upstream.hosts[1]: \"b:1883\" names the same broker as "
	            "hosts[0]; each node once");
	expect_diag(
	    &d, 0,
	    "site.json:5:5: upstream.hosts[2]: \"c:0\": the port after ':' must be a number "
	    "from 1 to 65535");
	expect_diag(&d, 0,
	            "site.json:5:12: upstream.hosts[3]: \"d:x\": the port after ':' must be a "
	            "number from 1 to 65535");
	expect_diag(&d, 0, "site.json:5:19: upstream.hosts[4]: \"\": an empty host");
	expect_diag(&d, 0,
	            "site.json:5:23: upstream.hosts[5]: \"[fd00::1\": an IPv6 address in brackets "
	            "needs its ']' (write [ADDRESS]:PORT)");
	expect_diag(&d, 0,
	            "site.json:5:35: upstream.hosts[6]: expected a string \"HOST\" or "
	            "\"HOST:PORT\", found a number");
	expect_diag(&d, 0,
	            "site.json:5:38: upstream.hosts[7]: \"e f\": a host name has no spaces, '/' or "
	            "'@' (write HOST or HOST:PORT)");
	assert_int_equal(d.errors, 8);
}

static void test_upstream_hosts_must_list_one_to_eight(void **state)
{
	struct diags d;
	struct config *c = load(MINIMAL_HEAD "  \"upstream\": {\"hosts\": []}\n}\n", &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 1);
	expect_diag(&d, 0, "site.json:4:25: upstream.hosts: lists 0 broker(s); give 1 to 8");
	c = load(MINIMAL_HEAD "  \"upstream\": {\"hosts\": [\"a\", \"b\", \"c\", \"d\", \"e\", "
	                      "\"f\", \"g\", \"h\", \"i\"]}\n}\n",
	         &d);
	assert_null(c);
	expect_diag(&d, 0, "site.json:4:25: upstream.hosts: lists 9 broker(s); give 1 to 8");
}

static void test_host_and_port_split_as_written(void **state)
{
	static const struct {
		const char *in, *host;
		int port; /* -1: refused */
	} cases[] = {
	    {"10.0.0.11", "10.0.0.11", 1883},
	    {"10.0.0.12:1884", "10.0.0.12", 1884},
	    {"[fd00::3]:1885", "fd00::3", 1885},
	    {"[fd00::3]", "fd00::3", 1883},
	    {"fd00::3", "fd00::3", 1883},
	    {"mq.example:65535", "mq.example", 65535},
	    {"h:65536", NULL, -1},
	    {"h:", NULL, -1},
	    {":1883", NULL, -1},
	    {"[]:1883", NULL, -1},
	    {"[fd00::3]x", NULL, -1},
	    {"[fd00::3]:", NULL, -1},
	    {"h:+1", NULL, -1},
	    {"user@h", NULL, -1},
	    {"mqtt://h", NULL, -1},
	    {"a]b", NULL, -1},
	};
	char host[64];
	const char *why;
	int port;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = cfgl_split_hostport(cases[i].in, 1883, host, sizeof(host), &port, &why);
		if (cases[i].port < 0) {
			if (rc != -1)
				fail_msg("%s: accepted", cases[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: refused: %s", cases[i].in, why);
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
	}
	/* A host longer than the buffer is refused, not cut. */
	assert_int_equal(cfgl_split_hostport("abcdefgh", 1883, host, 8, &port, &why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_config_loads_with_defaults_applied),
	    cmocka_unit_test(test_without_upstream_alerts_go_to_the_local_broker),
	    cmocka_unit_test(test_tasmota_sensor_defaults_to_mains_supervision),
	    cmocka_unit_test(test_contact_steps_make_an_escalation_chain),
	    cmocka_unit_test(test_contact_with_a_refused_id_is_reported_not_looked_up),
	    cmocka_unit_test(test_bad_steps_are_all_reported_with_their_place),
	    cmocka_unit_test(test_every_error_is_reported_in_one_pass_in_file_order),
	    cmocka_unit_test(test_unknown_key_suggests_the_intended_one),
	    cmocka_unit_test(test_unknown_zone_reference_suggests_the_closest_zone),
	    cmocka_unit_test(test_duplicate_id_names_the_line_of_the_first),
	    cmocka_unit_test(test_two_devices_on_one_topic_are_refused),
	    cmocka_unit_test(test_empty_or_tiny_file_is_one_clear_error),
	    cmocka_unit_test(test_invalid_json_reports_where_parsing_stopped),
	    cmocka_unit_test(test_unknown_key_of_invalid_utf8_is_quoted_safely),
	    cmocka_unit_test(test_wrong_types_say_what_was_expected),
	    cmocka_unit_test(test_history_defaults_and_bad_values_in_one_pass),
	    cmocka_unit_test(test_modbus_points_load_with_their_bus_defaults),
	    cmocka_unit_test(test_bad_modbus_points_are_each_reported),
	    cmocka_unit_test(test_missing_rule_file_is_an_error),
	    cmocka_unit_test(test_wildcard_rule_pattern_matching_nothing_is_only_a_warning),
	    cmocka_unit_test(test_overlapping_rule_patterns_load_each_file_once_in_order),
	    cmocka_unit_test(test_relative_paths_are_relative_to_the_config_file),
	    cmocka_unit_test(test_unreadable_file_says_why),
	    cmocka_unit_test(test_file_over_4_mib_is_rejected),
	    cmocka_unit_test(test_contacts_need_what_their_channel_uses),
	    cmocka_unit_test(test_upstream_prefix_must_be_publishable),
	    cmocka_unit_test(test_bad_profiles_are_each_reported_at_the_sensor),
	    cmocka_unit_test(test_passwords_in_a_file_others_can_read_are_refused),
	    cmocka_unit_test(test_passwords_in_a_private_file_load),
	    cmocka_unit_test(test_a_file_without_passwords_may_be_world_readable),
	    cmocka_unit_test(test_modem_loads_with_defaults),
	    cmocka_unit_test(test_modem_mistakes_are_each_reported),
	    cmocka_unit_test(test_check_warns_about_a_missing_modem_device),
	    cmocka_unit_test(test_credentials_file_gives_the_upstream_login_and_named_secrets),
	    cmocka_unit_test(test_free_accepts_null),
	    cmocka_unit_test(test_rules_site_describes_the_config_by_index),
	    cmocka_unit_test(test_neighbours_and_language_load),
	    cmocka_unit_test(test_bad_neighbours_and_language_are_each_reported),
	    cmocka_unit_test(test_web_is_off_by_default_and_loads_with_its_defaults),
	    cmocka_unit_test(test_bad_web_section_is_reported_key_by_key),
	    cmocka_unit_test(test_upstream_hosts_list_the_nodes_of_a_cluster),
	    cmocka_unit_test(test_upstream_with_one_host_has_no_list),
	    cmocka_unit_test(test_upstream_hosts_mistakes_are_all_reported_with_their_place),
	    cmocka_unit_test(test_upstream_hosts_must_list_one_to_eight),
	    cmocka_unit_test(test_host_and_port_split_as_written),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
