/*
 * test_neighbours.c: a neighbour's alarm feed message as the gateway reads
 * it: which topics are followed, what becomes an event for the rules, what
 * is dropped (a re-delivery, a class the group does not follow, a stale
 * message) and what is refused as malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/neighbours.h"

#define WALL0 1764374645123LL /* 2025-11-29T00:04:05.123Z */
#define AT0 "2025-11-29T00:04:05.123Z"

static const char *const site_json =
    "{\"site\":{\"id\":\"nt-1\"},\"upstream\":{\"host\":\"127.0.0.1\",\"prefix\":\"xa\"},"
    "\"zones\":[{\"id\":\"room-101\"}],\"neighbours\":[\"nt-2\",\"nt-3\"]}";

struct world {
	struct config *cfg;
	struct neighbours *nb;
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
	int nerr = 0;
	log_init("test_neighbours", 1, LOG_CRIT);
	w->cfg = config_load_string(site_json, "site.json", "/tmp", no_diag, NULL, &nerr);
	assert_non_null(w->cfg);
	w->nb = neighbours_new();
	assert_non_null(w->nb);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	neighbours_free(w->nb);
	config_free(w->cfg);
	free(w);
	return 0;
}

static int parse(struct world *w, int i, const char *msg, struct neighbours_event *ev)
{
	return neighbours_parse(w->nb, w->cfg, i, msg, strlen(msg), 1000, WALL0 + 1000, ev);
}

static void test_topics_are_the_neighbours_alarm_feeds(void **state)
{
	struct world *w = *state;
	char t[256];
	assert_int_equal(neighbours_topic(w->cfg, 1, t, sizeof(t)), 0);
	assert_string_equal(t, "xa/nt-3/alarm");
	assert_int_equal(neighbours_match(w->cfg, "xa/nt-2/alarm"), 0);
	assert_int_equal(neighbours_match(w->cfg, "xa/nt-3/alarm"), 1);
	assert_int_equal(neighbours_match(w->cfg, "xa/nt-4/alarm"), -1);
	assert_int_equal(neighbours_match(w->cfg, "xa/nt-1/alarm"), -1); /* our own */
	assert_int_equal(neighbours_match(w->cfg, "xa/nt-2/alert"), -1);
	assert_int_equal(neighbours_match(w->cfg, "xa/nt-2/alarm/x"), -1);
	assert_int_equal(neighbours_match(w->cfg, "safehouse/nt-2/alarm"), -1);
}

static void test_fire_raised_becomes_an_event_with_the_address(void **state)
{
	struct world *w = *state;
	struct neighbours_event ev;
	struct neighbours_stats st;
	assert_int_equal(parse(w, 0,
	                       "{\"site\":\"nt-2\",\"id\":4,\"seq\":17,\"class\":\"fire\","
	                       "\"state\":\"raised\",\"zone\":\"room-1\",\"address\":\"Số 9\","
	                       "\"at\":\"" AT0 "\"}",
	                       &ev),
	                 1);
	assert_int_equal(ev.neighbour, 0);
	assert_int_equal(ev.cls, ALARM_FIRE);
	assert_int_equal(ev.ev, RAE_RAISED);
	assert_int_equal(ev.seq, 17);
	assert_string_equal(ev.address, "Số 9");
	neighbours_stats(w->nb, &st);
	assert_int_equal(st.events, 1);
}

static void test_a_redelivery_does_not_trigger_again(void **state)
{
	struct world *w = *state;
	struct neighbours_event ev;
	const char *m = "{\"site\":\"nt-3\",\"seq\":5,\"class\":\"panic\",\"state\":\"raised\"}";
	struct neighbours_stats st;
	assert_int_equal(parse(w, 1, m, &ev), 1);
	assert_int_equal(parse(w, 1, m, &ev), 0);
	/* the same seq from the other neighbour is its own message */
	assert_int_equal(parse(w, 0,
	                       "{\"site\":\"nt-2\",\"seq\":5,\"class\":\"panic\",\"state\":"
	                       "\"raised\"}",
	                       &ev),
	                 1);
	neighbours_stats(w->nb, &st);
	assert_int_equal(st.duplicates, 1);
}

static void test_classes_the_group_does_not_follow_and_stale_news_are_dropped(void **state)
{
	struct world *w = *state;
	struct neighbours_event ev;
	assert_int_equal(
	    parse(w, 0,
	          "{\"site\":\"nt-2\",\"seq\":1,\"class\":\"intrusion\",\"state\":\"raised\"}",
	          &ev),
	    0);
	assert_int_equal(neighbours_parse(w->nb, w->cfg, 0,
	                                  "{\"site\":\"nt-2\",\"seq\":2,\"class\":\"fire\","
	                                  "\"state\":\"raised\",\"at\":\"" AT0 "\"}",
	                                  strlen("{\"site\":\"nt-2\",\"seq\":2,\"class\":\"fire\","
	                                         "\"state\":\"raised\",\"at\":\"" AT0 "\"}"),
	                                  1000, WALL0 + NEIGHBOURS_MAX_AGE_MS + 1, &ev),
	                 0);
}

static void test_malformed_messages_are_refused_and_counted(void **state)
{
	struct world *w = *state;
	struct neighbours_event ev;
	struct neighbours_stats st;
	static const char *const bad[] = {
	    "not json",
	    "[1,2]",
	    "{\"site\":\"nt-3\",\"seq\":1,\"class\":\"fire\",\"state\":\"raised\"}", /* not its */
	    "{\"site\":\"nt-2\",\"seq\":0,\"class\":\"fire\",\"state\":\"raised\"}",
	    "{\"site\":\"nt-2\",\"seq\":1.5,\"class\":\"fire\",\"state\":\"raised\"}",
	    "{\"site\":\"nt-2\",\"seq\":\"1\",\"class\":\"fire\",\"state\":\"raised\"}",
	    "{\"site\":\"nt-2\",\"seq\":1,\"class\":\"blaze\",\"state\":\"raised\"}",
	    "{\"site\":\"nt-2\",\"seq\":1,\"class\":\"fire\",\"state\":\"burning\"}",
	    "{\"site\":\"nt-2\",\"seq\":1,\"class\":\"fire\",\"state\":\"raised\",\"address\":7}",
	    "{\"site\":\"nt-2\",\"seq\":1,\"class\":\"fire\",\"state\":\"raised\",\"at\":\"now\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(w, 0, bad[i], &ev), -1);
	assert_int_equal(neighbours_parse(w->nb, w->cfg, 0, NULL, 0, 0, WALL0, &ev), -1);
	neighbours_stats(w->nb, &st);
	assert_int_equal(st.bad, sizeof(bad) / sizeof(bad[0]) + 1);
	assert_int_equal(st.events, 0);
	/* none of them used up seq 1 */
	assert_int_equal(
	    parse(w, 0, "{\"site\":\"nt-2\",\"seq\":1,\"class\":\"fire\",\"state\":\"raised\"}",
	          &ev),
	    1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_topics_are_the_neighbours_alarm_feeds, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_fire_raised_becomes_an_event_with_the_address,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_redelivery_does_not_trigger_again, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_classes_the_group_does_not_follow_and_stale_news_are_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_messages_are_refused_and_counted, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
