/*
 * test_shelly.c: the Shelly Gen2 payload family, alone: its topics, its
 * decoding of real Shelly Plus Smoke messages, its relay command and its
 * config keys.
 *
 * Payload sources: shelly-api-docs.shelly.cloud gen2 General/Notifications
 * (the NotifyStatus / NotifyEvent frames, params.ts, params.events[]),
 * ComponentsAndServices/Smoke (status {id, alarm, mute}; events smoke.alarm,
 * smoke.alarm_off, smoke.alarm_test), DevicePower (status {id, battery:{V,
 * percent}, external:{present}}), Switch (Switch.Set {id, on,
 * toggle_after}); peers.md 2.3 (PREFIX/online true/false).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "family_case.h"

#define P "shellyplussmoke-a8032ab12345"
#define HEAD "{\"src\":\"" P "\",\"dst\":\"" P "/events\","

enum {
	B_SMOKE,  /* kind smoke, every default: smoke:0 */
	B_SMOKE1, /* kind smoke, "component": "smoke:1" */
	B__COUNT
};

static struct family_binding bindings[B__COUNT];

static int setup(void **state)
{
	(void)state;
	fcase_bind(&bindings[B_SMOKE], "shelly", KIND_SMOKE, 0, P, "{}");
	fcase_bind(&bindings[B_SMOKE1], "shelly", KIND_SMOKE, 0, "house/smoke2",
	           "{\"component\":\"smoke:1\"}");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < B__COUNT; i++)
		family_binding_free(&bindings[i]);
	return 0;
}

static void test_topics_are_the_prefix_s(void **state)
{
	const struct family *f = family_find("shelly");
	char t[FAMILY_MAX_TOPICS][256];

	(void)state;
	assert_int_equal(f->topics(&bindings[B_SMOKE], t, FAMILY_MAX_TOPICS), 4);
	assert_string_equal(t[0], P "/events/rpc");
	assert_string_equal(t[1], P "/online");
	assert_string_equal(t[2], P "/status/smoke:0");
	assert_string_equal(t[3], P "/status/devicepower:0");
	assert_int_equal(f->topics(&bindings[B_SMOKE1], t, FAMILY_MAX_TOPICS), 4);
	assert_string_equal(t[2], "house/smoke2/status/smoke:1");
}

static void test_real_shelly_messages_decode(void **state)
{
	static const struct fcase rows[] = {
	    {"NotifyStatus alarm true is smoke",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":{\"ts\":1700000000.12,"
	          "\"smoke:0\":{\"id\":0,\"alarm\":true,\"mute\":false}}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     0},
	    {"NotifyStatus alarm false clears",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":{\"ts\":1700000060.5,"
	          "\"smoke:0\":{\"alarm\":false}}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 0}},
	     0},
	    {"muted on the device: still smoke",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":{\"ts\":1700000030,"
	          "\"smoke:0\":{\"id\":0,\"alarm\":true,\"mute\":true}}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     0},
	    {"NotifyFullStatus gives smoke and battery",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyFullStatus\",\"params\":{\"ts\":1700000000,"
	          "\"ble\":{},\"cloud\":{\"connected\":false},"
	          "\"devicepower:0\":{\"id\":0,\"battery\":{\"V\":3.02,\"percent\":86},"
	          "\"external\":{\"present\":false}},\"mqtt\":{\"connected\":true},"
	          "\"smoke:0\":{\"id\":0,\"alarm\":false,\"mute\":false},"
	          "\"sys\":{\"mac\":\"A8032AB12345\",\"uptime\":4},"
	          "\"wifi\":{\"sta_ip\":\"192.168.1.50\",\"status\":\"got ip\",\"rssi\":-62}}}",
	     REJECT_NONE,
	     2,
	     {{POINT_SMOKE, 0}, {POINT_BATTERY, 86}},
	     0},
	    {"NotifyEvent smoke.alarm",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyEvent\",\"params\":{\"ts\":1700000000.5,\"events\":["
	          "{\"component\":\"smoke:0\",\"id\":0,\"event\":\"smoke.alarm\","
	          "\"ts\":1700000000.5}]}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     0},
	    {"NotifyEvent smoke.alarm_off",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyEvent\",\"params\":{\"ts\":1700000090,\"events\":["
	          "{\"component\":\"smoke:0\",\"id\":0,\"event\":\"smoke.alarm_off\","
	          "\"ts\":1700000090}]}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 0}},
	     0},
	    {"NotifyEvent smoke.alarm_test is a sign of life only",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyEvent\",\"params\":{\"ts\":1700000090,\"events\":["
	          "{\"component\":\"smoke:0\",\"id\":0,\"event\":\"smoke.alarm_test\","
	          "\"ts\":1700000090}]}}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    {"a wifi NotifyStatus is a sign of life",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":{\"ts\":1700000000,"
	          "\"wifi\":{\"rssi\":-70}}}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    {"another smoke component is not ours",
	     B_SMOKE1,
	     "house/smoke2/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":{\"ts\":1,"
	          "\"smoke:0\":{\"alarm\":true},\"smoke:1\":{\"alarm\":false}}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 0}},
	     0},
	    {"online true", B_SMOKE, P "/online", "true", REJECT_NONE, 1, {{POINT_ONLINE, 1}}, 0},
	    {"online false", B_SMOKE, P "/online", "false", REJECT_NONE, 1, {{POINT_ONLINE, 0}}, 0},
	    {"status_ntf: the component's whole status",
	     B_SMOKE,
	     P "/status/smoke:0",
	     "{\"id\":0,\"alarm\":true,\"mute\":false}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     0},
	    {"status_ntf: devicepower",
	     B_SMOKE,
	     P "/status/devicepower:0",
	     "{\"id\":0,\"battery\":{\"V\":2.71,\"percent\":12},\"external\":{\"present\":false}}",
	     REJECT_NONE,
	     1,
	     {{POINT_BATTERY, 12}},
	     0},
	    {"battery percent null is no reading",
	     B_SMOKE,
	     P "/status/devicepower:0",
	     "{\"id\":0,\"battery\":{\"V\":null,\"percent\":null}}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     0},
	    /* bad fields are dropped alone */
	    {"a bad alarm is dropped, mute keeps the message",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":{\"ts\":1,"
	          "\"smoke:0\":{\"alarm\":\"yes\",\"mute\":false}}}",
	     REJECT_NONE,
	     0,
	     {{0, 0}},
	     1},
	    {"a bad battery does not lose the smoke",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":{\"ts\":1,"
	          "\"devicepower:0\":{\"battery\":{\"percent\":150}},"
	          "\"smoke:0\":{\"alarm\":true}}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     1},
	    {"an event without a name is dropped",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyEvent\",\"params\":{\"ts\":1,\"events\":["
	          "{\"component\":\"smoke:0\",\"event\":7},"
	          "{\"component\":\"smoke:0\",\"event\":\"smoke.alarm\"}]}}",
	     REJECT_NONE,
	     1,
	     {{POINT_SMOKE, 1}},
	     1},
	    /* refused whole */
	    {"nothing but a bad alarm",
	     B_SMOKE,
	     P "/status/smoke:0",
	     "{\"alarm\":\"yes\"}",
	     REJECT_BAD_TYPE,
	     0,
	     {{0, 0}},
	     0},
	    {"a notification about our smoke that is not an object",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":{\"ts\":1,\"smoke:0\":true}}",
	     REJECT_BAD_TYPE,
	     0,
	     {{0, 0}},
	     0},
	    {"no method",
	     B_SMOKE,
	     P "/events/rpc",
	     "{\"id\":1,\"result\":{}}",
	     REJECT_NO_FIELDS,
	     0,
	     {{0, 0}},
	     0},
	    {"an unknown method",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"Shelly.Reboot\",\"params\":{}}",
	     REJECT_NO_FIELDS,
	     0,
	     {{0, 0}},
	     0},
	    {"params not an object",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyStatus\",\"params\":[1]}",
	     REJECT_BAD_TYPE,
	     0,
	     {{0, 0}},
	     0},
	    {"events not an array",
	     B_SMOKE,
	     P "/events/rpc",
	     HEAD "\"method\":\"NotifyEvent\",\"params\":{\"events\":{}}}",
	     REJECT_BAD_TYPE,
	     0,
	     {{0, 0}},
	     0},
	    {"battery out of range alone",
	     B_SMOKE,
	     P "/status/devicepower:0",
	     "{\"battery\":{\"percent\":-3}}",
	     REJECT_BAD_VALUE,
	     0,
	     {{0, 0}},
	     0},
	    {"online as a number", B_SMOKE, P "/online", "1", REJECT_BAD_VALUE, 0, {{0, 0}}, 0},
	    {"not JSON", B_SMOKE, P "/events/rpc", "alarm", REJECT_NOT_JSON, 0, {{0, 0}}, 0},
	    {"trailing bytes",
	     B_SMOKE,
	     P "/status/smoke:0",
	     "{\"alarm\":true}}",
	     REJECT_NOT_JSON,
	     0,
	     {{0, 0}},
	     0},
	    {"not an object",
	     B_SMOKE,
	     P "/status/smoke:0",
	     "true",
	     REJECT_NOT_OBJECT,
	     0,
	     {{0, 0}},
	     0},
	};

	(void)state;
	fcase_run("shelly", bindings, rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_oversized_or_unknown_topic_is_refused(void **state)
{
	const struct family *f = family_find("shelly");
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
	assert_true(f->decode(&bindings[B_SMOKE], 4, "true", 4, v, &n, &why, NULL) < 0);
	assert_int_equal(why, REJECT_UNKNOWN_TOPIC);
	assert_true(
	    f->decode(&bindings[B_SMOKE], 2, "{}\0{\"alarm\":true}", 17, v, &n, &why, NULL) < 0);
	assert_int_equal(why, REJECT_NOT_JSON);
}

static void test_relay_output_is_a_switch_set(void **state)
{
	const struct family *f = family_find("shelly");
	struct family_binding out, out2;
	struct family_output_cmd on = {.siren = 1, .on = 1, .pattern = SIREN_FIRE};
	struct family_output_cmd timed = {.siren = 1, .on = 1, .duration_s = 300};
	struct family_output_cmd off = {.siren = 1, .on = 0};
	char buf[256];

	(void)state;
	fcase_bind(&out, "shelly", KIND_GENERIC, 1, "shellyplus1-a8032abe54dc/rpc", "{}");
	fcase_bind(&out2, "shelly", KIND_GENERIC, 1, "shellypro4pm-f008d1d8b8b8/rpc",
	           "{\"component\":\"switch:2\"}");
	assert_true(f->encode_output(&out, &on, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"id\":1,\"src\":\"safehouse\",\"method\":\"Switch.Set\","
	                         "\"params\":{\"id\":0,\"on\":true}}");
	assert_true(f->encode_output(&out2, &timed, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"id\":1,\"src\":\"safehouse\",\"method\":\"Switch.Set\","
	                         "\"params\":{\"id\":2,\"on\":true,\"toggle_after\":300}}");
	assert_true(f->encode_output(&out, &off, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"id\":1,\"src\":\"safehouse\",\"method\":\"Switch.Set\","
	                         "\"params\":{\"id\":0,\"on\":false}}");
	assert_int_equal(f->encode_output(&out, &off, buf, 10), -1);
	family_binding_free(&out);
	family_binding_free(&out2);
}

#define CFG_HEAD                                                                                   \
	"{\n"                                                                                      \
	"  \"site\": {\"id\": \"ap3\"},\n"                                                         \
	"  \"zones\": [{\"id\": \"room-101\"}],\n"

static void test_bad_options_are_each_reported_where_they_are(void **state)
{
	struct fcase_diags d;
	struct config *c = fcase_load(
	    CFG_HEAD
	    "  \"sensors\": [\n"
	    "    {\"id\": \"a\", \"kind\": \"door\", \"zone\": \"room-101\", \"mqtt\": {\"topic\": "
	    "\"a\", \"format\": \"shelly\"}},\n"
	    "    {\"id\": \"b\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"b\", \"format\": \"shelly\", \"component\": \"switch:0\"}},\n"
	    "    {\"id\": \"c\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"c\", \"format\": \"shelly\", \"component\": \"smoke:100\"}},\n"
	    "    {\"id\": \"d\", \"kind\": \"smoke\", \"zone\": \"room-101\", \"mqtt\": "
	    "{\"topic\": "
	    "\"d\", \"format\": \"shelly\", \"component\": 0}}],\n"
	    "  \"outputs\": [{\"id\": \"s\", \"kind\": \"siren\", \"mqtt\": {\"topic\": "
	    "\"e/rpc\", \"format\": \"shelly\", \"component\": \"smoke:0\"}}]\n"
	    "}\n",
	    &d);

	(void)state;
	assert_null(c);
	fcase_expect(&d, "site.json:5:61: sensors[0].mqtt: a Shelly smoke component feeds a smoke "
	                 "sensor; this sensor is of kind door (give it \"kind\": \"smoke\")");
	fcase_expect(&d, "site.json:6:110: sensors[1].mqtt.component: \"switch:0\" is not a smoke "
	                 "component: expected \"smoke:N\" (this version reads smoke)");
	fcase_expect(&d, "site.json:7:110: sensors[2].mqtt.component: \"smoke:100\": the id must "
	                 "be a number 0 to 99");
	fcase_expect(&d, "site.json:8:110: sensors[3].mqtt.component: expected a string such as "
	                 "\"smoke:0\"");
	fcase_expect(&d, "site.json:9:104: outputs[0].mqtt.component: \"smoke:0\" is not a switch "
	                 "component: expected \"switch:N\" (an output drives a relay)");
	assert_int_equal(d.errors, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_topics_are_the_prefix_s),
	    cmocka_unit_test(test_real_shelly_messages_decode),
	    cmocka_unit_test(test_oversized_or_unknown_topic_is_refused),
	    cmocka_unit_test(test_relay_output_is_a_switch_set),
	    cmocka_unit_test(test_bad_options_are_each_reported_where_they_are),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
