/*
 * test_ingest.c: from a topic and a payload to one sensor's points: the
 * topic table, messages on topics no sensor uses, and the rejects counted
 * per reason (what `status` shows under "rejected").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/ingest.h"
#include "gateway/log.h"

#define NSENSORS 40

struct fx {
	struct config *cfg;
	struct ingest *in;
};

static void no_diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	if (severity == 0)
		fail_msg("unexpected diagnostic: %s", msg);
}

/* Enough sensors that the hash table has collisions to walk past. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char json[16384];
	size_t off;
	int nerr = 0;
	log_init("test_ingest", 1, LOG_CRIT);
	off = (size_t)snprintf(json, sizeof(json),
	                       "{\"site\":{\"id\":\"t\"},\"zones\":[{\"id\":\"hall\"}],"
	                       "\"sensors\":[");
	for (int i = 0; i < NSENSORS; i++)
		off += (size_t)snprintf(json + off, sizeof(json) - off,
		                        "%s{\"id\":\"door-%d\",\"kind\":\"door\",\"zone\":\"hall\","
		                        "\"mqtt\":{\"topic\":\"zigbee2mqtt/door-%d\","
		                        "\"format\":\"zigbee2mqtt\"}}",
		                        i ? "," : "", i, i);
	snprintf(json + off, sizeof(json) - off, "]}");
	f->cfg = config_load_string(json, "site.json", "/tmp", no_diag, NULL, &nerr);
	if (!f->cfg)
		return -1;
	f->in = ingest_new(f->cfg);
	*state = f;
	return f->in ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ingest_free(f->in);
	config_free(f->cfg);
	free(f);
	return 0;
}

static int msg(struct fx *f, const char *topic, const char *payload, int *sensor,
               struct sh_point_value *out, int *n)
{
	return ingest_message(f->in, topic, payload, strlen(payload), 1000, sensor, out, n);
}

static void test_each_sensor_subscribes_its_state_and_availability_topics(void **state)
{
	struct fx *f = *state;
	int state_topics = 0, avail = 0;
	assert_int_equal(ingest_topic_count(f->in), 2 * NSENSORS);
	for (int i = 0; i < ingest_topic_count(f->in); i++) {
		const char *t = ingest_topic(f->in, i);
		assert_non_null(t);
		if (strstr(t, "/availability"))
			avail++;
		else
			state_topics++;
	}
	assert_int_equal(state_topics, NSENSORS);
	assert_int_equal(avail, NSENSORS);
	assert_null(ingest_topic(f->in, 2 * NSENSORS));
}

static void test_message_reaches_the_sensor_that_owns_the_topic(void **state)
{
	struct fx *f = *state;
	struct sh_point_value out[FAMILY_MAX_VALUES];
	int sensor = -1, n = 0;
	/* every sensor, so that colliding hash slots are all found */
	for (int i = 0; i < NSENSORS; i++) {
		char topic[64];
		snprintf(topic, sizeof(topic), "zigbee2mqtt/door-%d", i);
		assert_int_equal(msg(f, topic, "{\"contact\":false}", &sensor, out, &n), 0);
		assert_int_equal(sensor,
		                 config_sensor_index(f->cfg, topic + strlen("zigbee2mqtt/")));
		assert_int_equal(n, 1);
		assert_int_equal(out[0].point, POINT_CONTACT);
		assert_true(out[0].value == 1); /* z2m contact false = open */
	}
	assert_int_equal(ingest_accepted(f->in), NSENSORS);
}

static void test_availability_topic_reports_the_link(void **state)
{
	struct fx *f = *state;
	struct sh_point_value out[FAMILY_MAX_VALUES];
	int sensor = -1, n = 0;
	assert_int_equal(
	    msg(f, "zigbee2mqtt/door-7/availability", "{\"state\":\"offline\"}", &sensor, out, &n),
	    0);
	assert_int_equal(sensor, config_sensor_index(f->cfg, "door-7"));
	assert_int_equal(n, 1);
	assert_int_equal(out[0].point, POINT_ONLINE);
	assert_true(out[0].value == 0);
}

static void test_unknown_topic_is_ignored_and_counted(void **state)
{
	struct fx *f = *state;
	struct sh_point_value out[FAMILY_MAX_VALUES];
	int sensor = -1, n = 0;
	assert_int_equal(msg(f, "zigbee2mqtt/door-99", "{\"contact\":false}", &sensor, out, &n),
	                 -1);
	/* a prefix of a known topic is not that topic */
	assert_int_equal(msg(f, "zigbee2mqtt/door-1/x", "{\"contact\":false}", &sensor, out, &n),
	                 -1);
	assert_int_equal(sensor, -1);
	assert_int_equal(ingest_rejects(f->in)[REJECT_UNKNOWN_TOPIC], 2);
	assert_int_equal(ingest_accepted(f->in), 0);
}

static void test_bad_payload_is_counted_by_reason(void **state)
{
	struct fx *f = *state;
	struct sh_point_value out[FAMILY_MAX_VALUES];
	int sensor = -1, n = 0;
	assert_int_equal(msg(f, "zigbee2mqtt/door-1", "not json", &sensor, out, &n), -1);
	assert_int_equal(msg(f, "zigbee2mqtt/door-1", "[1,2]", &sensor, out, &n), -1);
	assert_int_equal(msg(f, "zigbee2mqtt/door-2", "{nope", &sensor, out, &n), -1);
	assert_int_equal(ingest_rejects(f->in)[REJECT_NOT_JSON], 2);
	assert_int_equal(ingest_rejects(f->in)[REJECT_NOT_OBJECT], 1);
	assert_int_equal(ingest_rejects(f->in)[REJECT_UNKNOWN_TOPIC], 0);
	assert_int_equal(ingest_accepted(f->in), 0);
}

static void test_one_bad_field_is_dropped_and_the_rest_used(void **state)
{
	struct fx *f = *state;
	struct sh_point_value out[FAMILY_MAX_VALUES];
	int sensor = -1, n = 0;
	assert_int_equal(msg(f, "zigbee2mqtt/door-3", "{\"contact\":true,\"battery\":\"lots\"}",
	                     &sensor, out, &n),
	                 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].point, POINT_CONTACT);
	assert_int_equal(ingest_bad_fields(f->in), 1);
	assert_int_equal(ingest_accepted(f->in), 1);
}

static void test_counters_survive_a_reload(void **state)
{
	struct fx *f = *state;
	struct sh_point_value out[FAMILY_MAX_VALUES];
	int sensor = -1, n = 0;
	struct ingest *fresh;
	msg(f, "nowhere", "{}", &sensor, out, &n);
	msg(f, "zigbee2mqtt/door-0", "{\"contact\":true}", &sensor, out, &n);
	fresh = ingest_new(f->cfg);
	assert_non_null(fresh);
	ingest_take_counters(fresh, f->in);
	assert_int_equal(ingest_rejects(fresh)[REJECT_UNKNOWN_TOPIC], 1);
	assert_int_equal(ingest_accepted(fresh), 1);
	ingest_free(f->in);
	f->in = fresh;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_each_sensor_subscribes_its_state_and_availability_topics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_message_reaches_the_sensor_that_owns_the_topic,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_availability_topic_reports_the_link, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_topic_is_ignored_and_counted, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_payload_is_counted_by_reason, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_bad_field_is_dropped_and_the_rest_used, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_counters_survive_a_reload, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
