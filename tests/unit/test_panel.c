/*
 * test_panel.c: the alarm panel with the real rules, registry and store
 * (a SQLite file in a temp dir) and no broker: outputs and upstream run
 * with no connection, so what they would send is read back from the
 * outbox and from outputs_sirens_on().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/engine.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/outputs.h"
#include "gateway/panel.h"
#include "gateway/registry.h"
#include "gateway/shape.h"
#include "gateway/store.h"
#include "gateway/upstream.h"
#include "rules/rules.h"

static const char *const site_json =
    "{\"site\":{\"id\":\"t\",\"name\":\"Test\",\"address\":\"1 Test St\"},"
    "\"zones\":[{\"id\":\"room-101\"},{\"id\":\"room-102\"},{\"id\":\"hall\"}],"
    "\"sensors\":["
    "{\"id\":\"smoke-101a\",\"kind\":\"smoke\",\"zone\":\"room-101\","
    "\"mqtt\":{\"topic\":\"z/a\",\"format\":\"zigbee2mqtt\"}},"
    "{\"id\":\"smoke-101b\",\"kind\":\"smoke\",\"zone\":\"room-101\","
    "\"mqtt\":{\"topic\":\"z/b\",\"format\":\"zigbee2mqtt\"}},"
    "{\"id\":\"smoke-102\",\"kind\":\"smoke\",\"zone\":\"room-102\","
    "\"mqtt\":{\"topic\":\"z/c\",\"format\":\"zigbee2mqtt\"}},"
    "{\"id\":\"panic-hall\",\"kind\":\"panic\",\"zone\":\"hall\","
    "\"mqtt\":{\"topic\":\"z/p\",\"format\":\"zigbee2mqtt\"}}],"
    "\"outputs\":[{\"id\":\"siren\",\"kind\":\"siren\","
    "\"mqtt\":{\"topic\":\"z/s/set\",\"format\":\"zigbee2mqtt\"}}],"
    "\"contacts\":[{\"id\":\"militia\",\"via\":\"upstream\"},"
    "{\"id\":\"owner\",\"via\":\"upstream\"},{\"id\":\"chief\",\"via\":\"upstream\"}]}";

static const char *const rules_text =
    "rule \"smoke\" when smoke becomes detected then alarm fire; siren on fire; "
    "alert militia owner end\n"
    "rule \"panic\" when panic becomes pressed then alarm panic; alert militia end\n"
    "rule \"offline\" when any sensor becomes offline then fault \"sensor offline\" end\n"
    "rule \"unacked\" when alarm fire becomes raised after 60s unless alarm fire is acknowledged "
    "then alert chief end\n";

struct world {
	char dir[64], db[128];
	struct config *cfg;
	struct ruleset *rs;
	struct loop *loop;
	struct store *store;
	struct registry *reg;
	struct outputs *out;
	struct upstream *up;
	struct panel *panel;
	struct engine *engine;
};

static void quiet(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	if (severity == 0)
		fail_msg("unexpected diagnostic: %s", msg);
}

static void start_panel(struct world *w)
{
	char err[256];
	struct panel_deps d;
	struct rules_site *site = config_rules_site(w->cfg);
	int nerr = 0, nwarn = 0;
	/* A restarted daemon compiles its rules again: no delay survives. */
	assert_non_null(site);
	w->rs = rules_compile_string(rules_text, "t.rules", site, quiet, NULL, &nerr, &nwarn);
	free(site);
	assert_non_null(w->rs);
	w->store = store_open(w->db, 0, err, sizeof(err));
	assert_non_null(w->store);
	w->reg = registry_new(w->cfg);
	w->out = outputs_new(w->loop, w->cfg, NULL);
	w->up = upstream_new(w->loop, w->store, w->cfg);
	d = (struct panel_deps){w->cfg, w->store, w->out, w->up, w->reg};
	w->panel = panel_new(&d, 0);
	assert_non_null(w->panel);
	w->engine = engine_new(w->cfg, w->rs, w->reg, w->panel, w->store, 0);
	assert_non_null(w->engine);
}

static void stop_panel(struct world *w)
{
	rules_free(w->rs);
	w->rs = NULL;
	engine_free(w->engine);
	panel_free(w->panel);
	upstream_free(w->up);
	outputs_free(w->out);
	registry_free(w->reg);
	store_close(w->store);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	int nerr = 0;
	log_init("test_panel", 1, LOG_ERR);
	strcpy(w->dir, "/tmp/sh-panel-XXXXXX");
	if (!mkdtemp(w->dir))
		return -1;
	snprintf(w->db, sizeof(w->db), "%s/p.db", w->dir);
	w->cfg = config_load_string(site_json, "site.json", w->dir, quiet, NULL, &nerr);
	assert_non_null(w->cfg);
	w->loop = loop_new();
	start_panel(w);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];
	stop_panel(w);
	loop_free(w->loop);
	config_free(w->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	if (system(cmd) != 0)
		return -1;
	free(w);
	return 0;
}

/* One reading through the same path as the daemon's. */
static void report(struct world *w, const char *sensor, enum sh_point p, double v)
{
	const struct sh_point_value val = {p, v};
	int s = config_sensor_index(w->cfg, sensor);
	assert_true(s >= 0);
	engine_report(w->engine, s, &val, 1, "test", 1000, 1764374645000LL);
}

static int active_alarms(struct world *w)
{
	int a, f;
	panel_counts(w->panel, &a, &f);
	return a;
}

static int active_faults(struct world *w)
{
	int a, f;
	panel_counts(w->panel, &a, &f);
	return f;
}

static int64_t first_alarm_id(struct world *w)
{
	cJSON *arr = panel_alarms_json(w->panel);
	int64_t id = -1;
	if (cJSON_GetArraySize(arr) > 0)
		id = (int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuedouble;
	cJSON_Delete(arr);
	return id;
}

static void test_smoke_raises_one_fire_alarm_sounds_sirens_and_queues_feed_and_alerts(void **state)
{
	struct world *w = *state;
	report(w, "smoke-101a", POINT_SMOKE, 1);
	assert_int_equal(active_alarms(w), 1);
	assert_true(outputs_sirens_on(w->out));
	assert_int_equal(outputs_siren_pattern(w->out), SIREN_FIRE);
	/* feed "raised" + alerts to militia and owner, committed, unsent */
	assert_int_equal(upstream_pending(w->up), 3);
}

static void test_second_detector_in_the_same_room_joins_the_alarm_without_new_alerts(void **state)
{
	struct world *w = *state;
	report(w, "smoke-101a", POINT_SMOKE, 1);
	report(w, "smoke-101b", POINT_SMOKE, 1);
	assert_int_equal(active_alarms(w), 1);
	assert_int_equal(upstream_pending(w->up), 3);
	/* another room is another alarm */
	report(w, "smoke-102", POINT_SMOKE, 1);
	assert_int_equal(active_alarms(w), 2);
	assert_int_equal(upstream_pending(w->up), 6);
}

static void test_fire_alarm_latches_when_smoke_clears_and_sirens_keep_sounding(void **state)
{
	struct world *w = *state;
	cJSON *arr;
	report(w, "smoke-101a", POINT_SMOKE, 1);
	report(w, "smoke-101a", POINT_SMOKE, 0);
	assert_int_equal(active_alarms(w), 1);
	assert_true(outputs_sirens_on(w->out));
	arr = panel_alarms_json(w->panel);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "state")->valuestring,
	                    "cleared");
	cJSON_Delete(arr);
	assert_int_equal(upstream_pending(w->up), 4); /* + "cleared" */
}

static void test_reset_is_refused_while_a_detector_still_reports_smoke(void **state)
{
	struct world *w = *state;
	char why[256];
	int64_t id;
	report(w, "smoke-101a", POINT_SMOKE, 1);
	report(w, "smoke-101b", POINT_SMOKE, 1);
	report(w, "smoke-101a", POINT_SMOKE, 0);
	id = first_alarm_id(w);
	assert_int_equal(panel_reset(w->panel, id, "Lan", 2000, 2000, why, sizeof(why)), -EBUSY);
	assert_non_null(strstr(why, "smoke-101b"));
	assert_int_equal(active_alarms(w), 1);
	assert_true(outputs_sirens_on(w->out));
	report(w, "smoke-101b", POINT_SMOKE, 0);
	assert_int_equal(panel_reset(w->panel, id, "Lan", 3000, 3000, why, sizeof(why)), 0);
	assert_int_equal(active_alarms(w), 0);
	assert_false(outputs_sirens_on(w->out));
	assert_int_equal(panel_reset(w->panel, id, "Lan", 3000, 3000, why, sizeof(why)), -ENOENT);
}

static void test_panic_is_silent_and_alerts_only_the_militia(void **state)
{
	struct world *w = *state;
	report(w, "panic-hall", POINT_PANIC, 1);
	assert_int_equal(active_alarms(w), 1);
	assert_false(outputs_sirens_on(w->out));
	assert_int_equal(upstream_pending(w->up), 2); /* feed + militia */
	/* a second press joins the same alarm */
	report(w, "panic-hall", POINT_PANIC, 1);
	assert_int_equal(upstream_pending(w->up), 2);
}

static void test_fault_clears_itself_when_the_sensor_comes_back(void **state)
{
	struct world *w = *state;
	report(w, "smoke-102", POINT_ONLINE, 0);
	assert_int_equal(active_faults(w), 1);
	assert_false(outputs_sirens_on(w->out));
	report(w, "smoke-102", POINT_ONLINE, 1);
	assert_int_equal(active_faults(w), 0);
	assert_int_equal(upstream_pending(w->up), 2); /* raised + cleared */
}

static void test_restart_restores_the_alarm_without_raising_it_again(void **state)
{
	struct world *w = *state;
	report(w, "smoke-101a", POINT_SMOKE, 1);
	assert_int_equal(upstream_pending(w->up), 3);
	/* a crash: nothing is shut down cleanly but what was committed */
	stop_panel(w);
	start_panel(w);
	assert_int_equal(active_alarms(w), 1);
	assert_true(outputs_sirens_on(w->out));
	/* the detector reports smoke again after the restart (unknown ->
	 * detected): it joins the restored alarm, nothing new is queued */
	report(w, "smoke-101a", POINT_SMOKE, 1);
	assert_int_equal(active_alarms(w), 1);
	assert_int_equal(upstream_pending(w->up), 3);
}

static void test_restart_restarts_the_escalation_delay_of_a_restored_alarm(void **state)
{
	struct world *w = *state;
	report(w, "smoke-101a", POINT_SMOKE, 1);
	assert_int_equal(upstream_pending(w->up), 3);
	/* a crash 10 s later, before the 60 s escalation */
	stop_panel(w);
	start_panel(w);
	panel_replay(w->panel);
	engine_settle(w->engine, 11000, 1764374655000LL);
	engine_tick(w->engine, 70000, 1764374714000LL);
	assert_int_equal(upstream_pending(w->up), 3); /* not yet: 60 s from the restart */
	engine_tick(w->engine, 71000, 1764374715000LL);
	assert_int_equal(upstream_pending(w->up), 4); /* the chief is called */
}

static void test_acknowledged_alarm_is_not_escalated_after_a_restart(void **state)
{
	struct world *w = *state;
	char why[128];
	report(w, "smoke-101a", POINT_SMOKE, 1);
	assert_true(panel_ack(w->panel, 0, "Lan", 5000, 1764374650000LL, why, sizeof(why)) > 0);
	stop_panel(w);
	start_panel(w);
	panel_replay(w->panel);
	engine_settle(w->engine, 11000, 1764374655000LL);
	engine_tick(w->engine, 200000, 1764374900000LL);
	assert_int_equal(upstream_pending(w->up), 4); /* raised, 2 alerts, acknowledged */
}

struct history {
	const struct config *cfg;
	const struct panel *panel;
	cJSON *arr;
};

static void history_row(void *ctx, const struct store_alarm *a)
{
	struct history *h = ctx;
	struct shape_alarm_live live;
	panel_alarm_live(h->panel, a->id, &live);
	cJSON_AddItemToArray(h->arr, shape_alarm(a, h->cfg, &live));
}

/* `alarms` (the panel) and `alarms --all` (the store) show an alarm with
 * the same fields and values. */
static void test_active_alarm_has_one_shape_from_the_panel_and_from_the_store(void **state)
{
	struct world *w = *state;
	char why[64];
	struct history h = {w->cfg, w->panel, cJSON_CreateArray()};
	cJSON *live, *a, *b;
	report(w, "smoke-101a", POINT_SMOKE, 1);
	assert_int_equal(panel_ack(w->panel, 0, "Lan", 2000, 1764374646000LL, why, sizeof(why)), 1);
	live = panel_alarms_json(w->panel);
	store_alarm_foreach(w->store, 0, 10, history_row, &h);
	assert_int_equal(cJSON_GetArraySize(live), 1);
	assert_int_equal(cJSON_GetArraySize(h.arr), 1);
	a = cJSON_GetArrayItem(live, 0);
	b = cJSON_GetArrayItem(h.arr, 0);
	assert_true(cJSON_Compare(a, b, 1));
	assert_string_equal(cJSON_GetObjectItem(a, "state")->valuestring, "acknowledged");
	assert_string_equal(cJSON_GetObjectItem(a, "acknowledged_by")->valuestring, "Lan");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a, "sounding")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a, "active")));
	assert_string_equal(cJSON_GetObjectItem(a, "zone")->valuestring, "room-101");
	cJSON_Delete(live);
	cJSON_Delete(h.arr);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_smoke_raises_one_fire_alarm_sounds_sirens_and_queues_feed_and_alerts),
	    T(test_second_detector_in_the_same_room_joins_the_alarm_without_new_alerts),
	    T(test_fire_alarm_latches_when_smoke_clears_and_sirens_keep_sounding),
	    T(test_reset_is_refused_while_a_detector_still_reports_smoke),
	    T(test_panic_is_silent_and_alerts_only_the_militia),
	    T(test_fault_clears_itself_when_the_sensor_comes_back),
	    T(test_restart_restores_the_alarm_without_raising_it_again),
	    T(test_restart_restarts_the_escalation_delay_of_a_restored_alarm),
	    T(test_acknowledged_alarm_is_not_escalated_after_a_restart),
	    T(test_active_alarm_has_one_shape_from_the_panel_and_from_the_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
