/*
 * test_station_board.c: the station's live picture (station/board.h) on a
 * real store in a temp directory, with injected clocks: lost contact after
 * the reporting window and never before, a wall-clock step that changes
 * nothing, group windows, the feed's order and duplicates, and the
 * timestamps of the feed (sfeed_parse_time).
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

#include "gateway/log.h"
#include "station/board.h"
#include "station/sconfig.h"
#include "station/sfeed.h"
#include "station/sstore.h"

#define WALL0 INT64_C(1764374400000) /* 2025-11-29T00:00:00Z */

struct fx {
	char dir[64], path[128];
	struct sstore *s;
	struct sconfig *c;
	struct board *b;
	int alarm_events, site_events;
};

static void on_alarm(void *ctx, struct board *b, const char *site, int64_t id)
{
	(void)b, (void)site, (void)id;
	((struct fx *)ctx)->alarm_events++;
}

static void on_site(void *ctx, struct board *b, const char *site)
{
	(void)b, (void)site;
	((struct fx *)ctx)->site_events++;
}

static const struct board_hooks hooks = {on_alarm, on_site};

static const char *const CONFIG =
    "{\"database\": \"station.db\",\n"
    " \"groups\": [{\"id\": \"xa\", \"name\": \"Xa\", \"lost_contact_s\": 600}],\n"
    " \"sites\": [{\"id\": \"nt-1\", \"name\": \"Nhà 1\"},\n"
    "            {\"id\": \"nt-far\", \"name\": \"Nhà xa\", \"group\": \"xa\"}]}\n";

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];
	log_init("test_station_board", 1, LOG_CRIT);
	strcpy(f->dir, "/tmp/sh-board-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/station.db", f->dir);
	if (sconfig_load_string(CONFIG, "station.json", f->dir, stderr, &f->c) != 0)
		return -1;
	f->s = sstore_open(f->path, err, sizeof(err));
	if (!f->s)
		return -1;
	f->b = board_new(f->c, f->s, &hooks, f);
	if (!f->b || board_load(f->b, WALL0, 0) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];
	board_free(f->b);
	sstore_close(f->s);
	sconfig_free(f->c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Parse text as kind for site and apply it at (wall, mono). */
static int feed(struct fx *f, enum sfeed_kind kind, const char *site, const char *text,
                int64_t wall, int64_t mono)
{
	struct sfeed_msg m;
	char why[256];
	assert_int_equal(sfeed_parse(kind, site, text, strlen(text), &m, why, sizeof(why)), 0);
	return board_apply(f->b, &m, text, strlen(text), 0, wall, mono);
}

static void heartbeat(struct fx *f, const char *site, int hb_s, int64_t wall, int64_t mono)
{
	char text[256];
	snprintf(
	    text, sizeof(text),
	    "{\"site\":\"%s\",\"heartbeat_s\":%d,\"uptime_s\":1,\"active_alarms\":0,"
	    "\"faults\":0,\"log\":{\"row\":1,\"hash\":\"ab\"},\"at\":\"2025-11-29T00:00:00Z\"}",
	    site, hb_s);
	assert_int_equal(feed(f, SFEED_HEARTBEAT, site, text, wall, mono), 1);
}

static void alarm(struct fx *f, const char *site, int id, int seq, const char *state, int expect)
{
	char text[512];
	snprintf(text, sizeof(text),
	         "{\"site\":\"%s\",\"id\":%d,\"seq\":%d,\"class\":\"fire\",\"state\":\"%s\","
	         "\"zone\":\"room-1\",\"zone_name\":\"Phòng 1\",\"sensor\":\"s\",\"rule\":\"r\","
	         "\"message\":\"m\",\"by\":null,\"address\":null,\"geo\":null,"
	         "\"at\":\"2025-11-29T00:00:0%dZ\"}",
	         site, id, seq, state, seq % 10);
	assert_int_equal(feed(f, SFEED_ALARM, site, text, WALL0, 0), expect);
}

/* The active alarms' (class, state) of site, as the console lists them. */
static int count_alarms(struct fx *f, const char *site, const char *cls, const char *state)
{
	cJSON *o = board_alarms_json(f->b, WALL0), *a;
	int n = 0;
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(o, "alarms"))
	{
		if (strcmp(cJSON_GetObjectItem(a, "site")->valuestring, site) == 0 &&
		    strcmp(cJSON_GetObjectItem(a, "class")->valuestring, cls) == 0 &&
		    (!state || strcmp(cJSON_GetObjectItem(a, "state")->valuestring, state) == 0))
			n++;
	}
	cJSON_Delete(o);
	return n;
}

static void test_lost_contact_comes_after_three_heartbeats_and_not_before(void **state)
{
	struct fx *f = *state;
	heartbeat(f, "nt-1", 60, WALL0, 1000);
	assert_int_equal(board_check(f->b, WALL0 + 180000, 1000 + 180000), 0);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", NULL), 0);
	assert_int_equal(board_check(f->b, WALL0 + 180001, 1000 + 180001), 0);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", "raised"), 1);
	/* Raised once, not at every check. */
	assert_int_equal(board_check(f->b, WALL0 + 300000, 1000 + 300000), 0);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", NULL), 1);
}

static void test_a_wall_clock_step_does_not_make_a_site_silent(void **state)
{
	struct fx *f = *state;
	heartbeat(f, "nt-1", 60, WALL0, 1000);
	/* The station's clock jumps a day ahead; only 10 s really passed. */
	assert_int_equal(board_check(f->b, WALL0 + 86400000, 11000), 0);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", NULL), 0);
}

static void test_a_groups_window_replaces_the_default(void **state)
{
	struct fx *f = *state;
	heartbeat(f, "nt-far", 60, WALL0, 0);
	assert_int_equal(board_check(f->b, WALL0, 500000), 0);
	assert_int_equal(count_alarms(f, "nt-far", "lost_contact", NULL), 0);
	assert_int_equal(board_check(f->b, WALL0, 600001), 0);
	assert_int_equal(count_alarms(f, "nt-far", "lost_contact", NULL), 1);
}

static void test_an_unseen_loss_stays_cleared_until_acknowledged(void **state)
{
	struct fx *f = *state;
	cJSON *o, *a;
	int64_t id;
	heartbeat(f, "nt-1", 10, WALL0, 0);
	assert_int_equal(board_check(f->b, WALL0, 31000), 0);
	o = board_alarms_json(f->b, WALL0);
	a = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "alarms"), 0);
	id = (int64_t)cJSON_GetObjectItem(a, "id")->valuedouble;
	cJSON_Delete(o);
	assert_true(id < 0);
	heartbeat(f, "nt-1", 10, WALL0 + 40000, 40000);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", "cleared"), 1);
	assert_int_equal(board_ack(f->b, "nt-1", id, "an", WALL0 + 41000), 1);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", NULL), 0);
}

static void test_an_acknowledged_loss_closes_when_the_site_reports(void **state)
{
	struct fx *f = *state;
	cJSON *o;
	int64_t id;
	heartbeat(f, "nt-1", 10, WALL0, 0);
	assert_int_equal(board_check(f->b, WALL0, 31000), 0);
	o = board_alarms_json(f->b, WALL0);
	id = (int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "alarms"), 0),
	                                  "id")
	         ->valuedouble;
	cJSON_Delete(o);
	assert_int_equal(board_ack(f->b, "nt-1", id, "an", WALL0 + 32000), 1);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", "acknowledged"), 1);
	heartbeat(f, "nt-1", 10, WALL0 + 40000, 40000);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", NULL), 0);
}

static void test_a_duplicate_seq_is_not_applied_twice(void **state)
{
	struct fx *f = *state;
	alarm(f, "nt-1", 4, 1, "raised", 1);
	alarm(f, "nt-1", 4, 1, "raised", 0);
	assert_int_equal(sstore_feed_count(f->s), 1);
	assert_int_equal(count_alarms(f, "nt-1", "fire", "raised"), 1);
}

static void test_a_late_older_change_keeps_the_newer_state(void **state)
{
	struct fx *f = *state;
	struct board_stats st;
	alarm(f, "nt-1", 4, 1, "raised", 1);
	alarm(f, "nt-1", 4, 3, "acknowledged", 1);
	alarm(f, "nt-1", 4, 2, "silenced", 0);
	assert_int_equal(count_alarms(f, "nt-1", "fire", "acknowledged"), 1);
	board_stats(f->b, &st);
	assert_int_equal(st.stale, 1);
	assert_int_equal(sstore_feed_count(f->s), 3);
}

static void test_a_reset_alarm_leaves_the_board_but_not_the_store(void **state)
{
	struct fx *f = *state;
	alarm(f, "nt-1", 4, 1, "raised", 1);
	alarm(f, "nt-1", 4, 2, "reset", 1);
	assert_int_equal(count_alarms(f, "nt-1", "fire", NULL), 0);
	cJSON *page = board_site_page(f->b, "nt-1", 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(page, "alarms")), 1);
	cJSON_Delete(page);
}

static void test_an_unknown_site_is_added_as_not_known(void **state)
{
	struct fx *f = *state;
	heartbeat(f, "nt-new", 60, WALL0, 0);
	assert_int_equal(board_site_known(f->b, "nt-new"), 0);
	assert_int_equal(board_site_known(f->b, "nt-1"), 1);
	assert_true(f->site_events > 0);
}

static void test_feed_times_are_rfc3339(void **state)
{
	int64_t ms;
	(void)state;
	assert_int_equal(sfeed_parse_time("2025-11-29T00:00:00Z", &ms), 0);
	assert_true(ms == WALL0);
	assert_int_equal(sfeed_parse_time("2025-11-29T00:00:00.123Z", &ms), 0);
	assert_true(ms == WALL0 + 123);
	assert_int_equal(sfeed_parse_time("2025-11-29T07:00:00+07:00", &ms), 0);
	assert_true(ms == WALL0);
	assert_int_equal(sfeed_parse_time("2025-11-29 00:00:00", &ms), -1);
	assert_int_equal(sfeed_parse_time("2025-13-29T00:00:00Z", &ms), -1);
	assert_int_equal(sfeed_parse_time("2025-11-29T00:00:00.Z", &ms), -1);
	assert_int_equal(sfeed_parse_time("2025-11-29T00:00:00Zjunk", &ms), -1);
	assert_int_equal(sfeed_parse_time("", &ms), -1);
}

static void test_topics_name_a_site_and_a_kind(void **state)
{
	char site[SSTORE_ID_MAX], why[128];
	enum sfeed_kind k;
	(void)state;
	assert_int_equal(
	    sfeed_topic("safehouse", "safehouse/nt-1/alarm", site, &k, why, sizeof(why)), 0);
	assert_string_equal(site, "nt-1");
	assert_int_equal(k, SFEED_ALARM);
	assert_int_equal(sfeed_topic("safehouse", "safehouse/nt-1/ack", site, &k, why, sizeof(why)),
	                 -1);
	assert_int_equal(sfeed_topic("safehouse", "safehouse//alarm", site, &k, why, sizeof(why)),
	                 -1);
	assert_int_equal(sfeed_topic("safehouse", "other/nt-1/alarm", site, &k, why, sizeof(why)),
	                 -1);
	assert_int_equal(
	    sfeed_topic("safehouse", "safehouse/a/b/alarm", site, &k, why, sizeof(why)), -1);
}

static void test_a_standby_board_raises_no_lost_contact_but_shows_the_timekeepers(void **state)
{
	struct fx *f = *state;
	struct salarm a = {0};
	cJSON *site;
	board_set_timekeeper(f->b, 0);
	heartbeat(f, "nt-1", 1, WALL0, 0);
	assert_int_equal(board_check(f->b, WALL0 + 60000, 60000), 0);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", NULL), 0);
	/* the timekeeper's alarm, as read from the shared store */
	strcpy(a.site, "nt-1");
	a.id = -5;
	strcpy(a.cls, "lost_contact");
	strcpy(a.state, "raised");
	a.raised_ms = a.updated_ms = WALL0 + 3000;
	assert_int_equal(board_station_alarm(f->b, &a, 60000), 1);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", "raised"), 1);
	site = board_site_json(f->b, "nt-1", 60000);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(site, "lost_contact")));
	cJSON_Delete(site);
	/* an older copy of it changes nothing; its closing removes it */
	a.updated_ms = WALL0;
	strcpy(a.state, "cleared");
	assert_int_equal(board_station_alarm(f->b, &a, 60000), 0);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", "raised"), 1);
	a.updated_ms = WALL0 + 9000;
	strcpy(a.state, "reset");
	assert_int_equal(board_station_alarm(f->b, &a, 61000), 1);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", NULL), 0);
	site = board_site_json(f->b, "nt-1", 61000);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(site, "lost_contact")));
	cJSON_Delete(site);
	/* taking over the role: its own clock, from the last contact */
	board_set_timekeeper(f->b, 1);
	assert_int_equal(board_check(f->b, WALL0 + 62000, 62000), 0);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", NULL), 0);
	assert_int_equal(board_check(f->b, WALL0 + 65000, 65000), 0);
	assert_int_equal(count_alarms(f, "nt-1", "lost_contact", "raised"), 1);
}

static void test_feed_text_is_kept_as_valid_utf8(void **state)
{
	struct sfeed_msg m;
	char why[128], text[1024], name[400] = "Tang "; /* puts byte 127 inside an "ò" */
	size_t n;
	(void)state;
	/* 40 x "Phòng " (7 bytes each) is more than zone_name holds */
	for (int i = 0; i < 40; i++)
		strcat(name, "Ph\xc3\xb2ng ");
	snprintf(text, sizeof(text),
	         "{\"site\":\"nt-u\",\"id\":1,\"seq\":1,\"class\":\"fire\",\"state\":"
	         "\"raised\",\"zone_name\":\"%s\",\"message\":\"b\xffx\xe1\x80\","
	         "\"at\":\"2026-11-29T00:00:00Z\"}",
	         name);
	assert_int_equal(sfeed_parse(SFEED_ALARM, "nt-u", text, strlen(text), &m, why, sizeof(why)),
	                 0);
	/* cut before a character, never inside one */
	n = strlen(m.alarm.zone_name);
	assert_true(n < sizeof(m.alarm.zone_name) && n > 100);
	assert_int_equal(strncmp(m.alarm.zone_name, name, n), 0);
	assert_true(name[n] != '\xb2'); /* not before the second byte of "ò" */
	/* a byte that is not UTF-8, and a cut sequence, become U+FFFD */
	assert_string_equal(m.alarm.message, "b\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_feed_text_is_kept_as_valid_utf8),
	    cmocka_unit_test_setup_teardown(
	        test_a_standby_board_raises_no_lost_contact_but_shows_the_timekeepers, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_lost_contact_comes_after_three_heartbeats_and_not_before, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_wall_clock_step_does_not_make_a_site_silent,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_groups_window_replaces_the_default, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_an_unseen_loss_stays_cleared_until_acknowledged,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_acknowledged_loss_closes_when_the_site_reports,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_duplicate_seq_is_not_applied_twice, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_a_late_older_change_keeps_the_newer_state, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_a_reset_alarm_leaves_the_board_but_not_the_store,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_unknown_site_is_added_as_not_known, setup,
	                                    teardown),
	    cmocka_unit_test(test_feed_times_are_rfc3339),
	    cmocka_unit_test(test_topics_name_a_site_and_a_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
