/*
 * test_upstream.c: the messages the militia's software and the contacts
 * receive, as queued in the outbox: the feed's fields, seq, the alert text,
 * the channel each contact is reached on. Nothing is published (no broker);
 * the rows are read back from an inline store on ":memory:".
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

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/messages.h"
#include "gateway/store.h"
#include "gateway/upstream.h"

#define WALL0 1764374645123LL /* 2025-11-29T00:04:05.123Z */

static const char *const site_json =
    "{\"site\":{\"id\":\"nha-tro\",\"name\":\"Nhà trọ Minh\",\"address\":\"Số 7, hẻm 3\","
    "\"phone\":\"0909000111\",\"geo\":{\"lat\":10.5,\"lon\":106.5}},"
    "\"upstream\":{\"host\":\"127.0.0.1\",\"prefix\":\"xa\"},"
    "\"zones\":[{\"id\":\"room-101\",\"name\":\"Phòng 101\"}],"
    "\"sensors\":[{\"id\":\"smoke-101\",\"name\":\"Báo khói 101\",\"kind\":\"smoke\","
    "\"zone\":\"room-101\",\"mqtt\":{\"topic\":\"z/s\",\"format\":\"zigbee2mqtt\"}}],"
    "\"contacts\":[{\"id\":\"militia\",\"via\":\"upstream\"},"
    "{\"id\":\"owner\",\"via\":\"sms\",\"phone\":\"+84909123456\"}]}";

struct world {
	struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct upstream *up;
};

static void no_diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	if (severity == 0)
		fail_msg("unexpected diagnostic: %s", msg);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[256];
	int nerr = 0;
	log_init("test_upstream", 1, LOG_CRIT);
	w->cfg = config_load_string(site_json, "site.json", "/tmp", no_diag, NULL, &nerr);
	assert_non_null(w->cfg);
	w->loop = loop_new();
	w->store = store_open(":memory:", 0, err, sizeof(err));
	assert_non_null(w->store);
	w->up = upstream_new(w->loop, w->store, w->cfg);
	assert_non_null(w->up);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	upstream_free(w->up);
	store_close(w->store);
	loop_free(w->loop);
	config_free(w->cfg);
	free(w);
	return 0;
}

/* The undelivered rows of one channel, in seq order. */
struct rows {
	int n;
	char topic[4][128];
	cJSON *payload[4];
	int qos[4], retain[4];
};

static int take_row(void *ctx, int64_t seq, const char *topic, const char *payload, int qos,
                    int retain)
{
	struct rows *r = ctx;
	(void)seq;
	if (r->n >= 4)
		return 1;
	snprintf(r->topic[r->n], sizeof(r->topic[0]), "%s", topic);
	r->payload[r->n] = cJSON_Parse(payload);
	assert_non_null(r->payload[r->n]);
	r->qos[r->n] = qos;
	r->retain[r->n] = retain;
	r->n++;
	return 0;
}

static void rows_of(struct world *w, const char *channel, struct rows *r)
{
	memset(r, 0, sizeof(*r));
	assert_true(store_outbox_foreach_pending(w->store, channel, 0, 4, take_row, r) >= 0);
}

static void rows_free(struct rows *r)
{
	for (int i = 0; i < r->n; i++)
		cJSON_Delete(r->payload[i]);
}

static const char *str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static const struct upstream_alarm_info fire = {
    .id = 7,
    .cls = ALARM_FIRE,
    .state = ALARM_ACKNOWLEDGED,
    .zone = "room-101",
    .sensor = "smoke-101",
    .rule = "smoke",
    .message = "Khói ở phòng 101",
    .by = "militia:an",
};

static void test_alarm_feed_message_has_every_field_the_receiver_reads(void **state)
{
	static const char *const fields[] = {"site",    "id",        "seq",    "class", "state",
	                                     "zone",    "zone_name", "sensor", "rule",  "message",
	                                     "address", "geo",       "at",     "by",   NULL};
	struct world *w = *state;
	struct rows r;
	const cJSON *o;
	int n = 0;
	assert_int_equal(upstream_queue_alarm(w->up, &fire, WALL0), 0);
	rows_of(w, "upstream", &r);
	assert_int_equal(r.n, 1);
	o = r.payload[0];
	for (int i = 0; fields[i]; i++)
		assert_non_null(cJSON_GetObjectItem(o, fields[i]));
	for (const cJSON *it = o->child; it; it = it->next)
		n++;
	assert_int_equal(n, 14); /* and nothing else */
	assert_string_equal(str(o, "site"), "nha-tro");
	assert_true(num(o, "id") == 7);
	assert_string_equal(str(o, "class"), "fire");
	assert_string_equal(str(o, "state"), "acknowledged");
	assert_string_equal(str(o, "by"), "militia:an");
	assert_string_equal(str(o, "zone_name"), "Phòng 101");
	assert_string_equal(str(o, "address"), "Số 7, hẻm 3");
	assert_true(num(cJSON_GetObjectItem(o, "geo"), "lat") == 10.5);
	assert_string_equal(str(o, "at"), "2025-11-29T00:04:05.123Z");
	assert_string_equal(r.topic[0], "xa/nha-tro/alarm");
	assert_int_equal(r.qos[0], 1);
	assert_int_equal(r.retain[0], 0);
	rows_free(&r);
}

static void test_every_message_takes_the_next_seq(void **state)
{
	struct world *w = *state;
	struct rows r;
	double first;
	upstream_queue_alarm(w->up, &fire, WALL0);
	upstream_queue_alert(w->up, &fire, 0, "urgent", WALL0);
	upstream_queue_notify(w->up, 0, "Kiểm tra đầu báo khói", NULL, WALL0);
	rows_of(w, "upstream", &r);
	assert_int_equal(r.n, 3);
	first = num(r.payload[0], "seq");
	assert_true(num(r.payload[1], "seq") == first + 1);
	assert_true(num(r.payload[2], "seq") == first + 2);
	/* an alert and a notice are known by their seq; the feed by the alarm */
	assert_true(num(r.payload[1], "id") == first + 1);
	assert_true(num(r.payload[1], "alarm") == 7);
	assert_true(num(r.payload[0], "id") == 7);
	rows_free(&r);
}

static void test_alert_text_says_what_where_which_house_and_whom_to_call(void **state)
{
	struct world *w = *state;
	struct rows r;
	const char *text;
	assert_int_equal(upstream_queue_alert(w->up, &fire, 0, "urgent", WALL0), 0);
	rows_of(w, "upstream", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.topic[0], "xa/nha-tro/alert");
	assert_string_equal(str(r.payload[0], "to"), "militia");
	assert_string_equal(str(r.payload[0], "priority"), "urgent");
	assert_string_equal(str(r.payload[0], "class"), "fire");
	text = str(r.payload[0], "message");
	assert_non_null(text);
	assert_non_null(strstr(text, messages_class_label(w->cfg, ALARM_FIRE)));
	assert_true(messages_sms_parts(text) > 1); /* the full text, not shortened */
	assert_non_null(strstr(text, "Phòng 101"));
	assert_non_null(strstr(text, "Nhà trọ Minh"));
	assert_non_null(strstr(text, "Số 7, hẻm 3"));
	assert_non_null(strstr(text, "Báo khói 101"));
	assert_non_null(strstr(text, "Khói ở phòng 101"));
	assert_non_null(strstr(text, "0909000111"));
	rows_free(&r);
}

static void test_sms_contact_is_queued_on_its_own_channel_with_its_phone(void **state)
{
	struct world *w = *state;
	struct rows up, sms;
	assert_int_equal(upstream_queue_alert(w->up, &fire, 1, "normal", WALL0), 0);
	rows_of(w, "upstream", &up);
	rows_of(w, "sms", &sms);
	assert_int_equal(up.n, 0);
	assert_int_equal(sms.n, 1);
	assert_string_equal(str(sms.payload[0], "to"), "owner");
	assert_string_equal(str(sms.payload[0], "phone"), "+84909123456");
	assert_int_equal(upstream_pending(w->up), 0); /* not the upstream link's */
	/* the SMS text fits in one part: the class and the house stay */
	assert_int_equal(messages_sms_parts(str(sms.payload[0], "message")), 1);
	assert_non_null(strstr(str(sms.payload[0], "message"), "BÁO CHÁY"));
	assert_non_null(strstr(str(sms.payload[0], "message"), "Nhà trọ Minh"));
	rows_free(&sms);
}

static void test_alert_with_no_alarm_behind_it_says_so(void **state)
{
	struct world *w = *state;
	struct upstream_alarm_info none = {.cls = ALARM_SUPERVISORY, .state = ALARM_RAISED};
	struct rows r;
	assert_int_equal(upstream_queue_alert(w->up, &none, 0, "normal", WALL0), 0);
	rows_of(w, "upstream", &r);
	assert_int_equal(r.n, 1);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.payload[0], "alarm")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.payload[0], "zone")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.payload[0], "zone_name")));
	rows_free(&r);
}

static void test_zone_no_longer_configured_is_named_by_its_id(void **state)
{
	struct world *w = *state;
	struct upstream_alarm_info gone = fire;
	struct rows r;
	gone.zone = "room-999";
	upstream_queue_alarm(w->up, &gone, WALL0);
	rows_of(w, "upstream", &r);
	assert_string_equal(str(r.payload[0], "zone"), "room-999");
	assert_string_equal(str(r.payload[0], "zone_name"), "room-999");
	rows_free(&r);
}

static void test_notify_carries_its_text_to_the_contact(void **state)
{
	struct world *w = *state;
	struct rows r;
	assert_int_equal(
	    upstream_queue_notify(w->up, 0, "Kiểm tra đầu báo khói", "room-101", WALL0), 0);
	rows_of(w, "upstream", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.topic[0], "xa/nha-tro/notify");
	assert_string_equal(str(r.payload[0], "to"), "militia");
	assert_string_equal(str(r.payload[0], "message"), "Kiểm tra đầu báo khói");
	assert_string_equal(str(r.payload[0], "zone_name"), "Phòng 101");
	rows_free(&r);
}

static void test_unknown_contact_queues_nothing(void **state)
{
	struct world *w = *state;
	assert_int_equal(upstream_queue_alert(w->up, &fire, 2, "urgent", WALL0), -1);
	assert_int_equal(upstream_queue_alert(w->up, &fire, -1, "urgent", WALL0), -1);
	assert_int_equal(upstream_queue_notify(w->up, 5, "x", NULL, WALL0), -1);
	assert_int_equal(upstream_pending(w->up), 0);
}

static void test_last_will_says_the_site_is_offline_on_the_status_topic(void **state)
{
	struct world *w = *state;
	cJSON *will = cJSON_Parse(upstream_will_payload(w->up));
	assert_non_null(will);
	assert_string_equal(upstream_status_topic(w->up), "xa/nha-tro/status");
	assert_string_equal(str(will, "site"), "nha-tro");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(will, "online")));
	cJSON_Delete(will);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_alarm_feed_message_has_every_field_the_receiver_reads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_message_takes_the_next_seq, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_alert_text_says_what_where_which_house_and_whom_to_call, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_sms_contact_is_queued_on_its_own_channel_with_its_phone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alert_with_no_alarm_behind_it_says_so, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_zone_no_longer_configured_is_named_by_its_id,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_carries_its_text_to_the_contact, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_contact_queues_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_last_will_says_the_site_is_offline_on_the_status_topic, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
