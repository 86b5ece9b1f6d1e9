/*
 * test_engine.c: the path from a reading to an action (registry -> rules ->
 * panel) with the real rules, registry and panel, an inline store on
 * ":memory:" and no broker. What happened is read back from the panel, the
 * store's events and the outbox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
#include "gateway/store.h"
#include "gateway/upstream.h"
#include "rules/rules.h"

#define WALL0 1764374645000LL /* 2025-11-29T00:04:05Z */

static const char *const site_json =
    "{\"site\":{\"id\":\"t\"},"
    "\"zones\":[{\"id\":\"room-101\"},{\"id\":\"hall\"}],"
    "\"sensors\":["
    "{\"id\":\"smoke-101\",\"kind\":\"smoke\",\"zone\":\"room-101\",\"supervision_s\":600,"
    "\"mqtt\":{\"topic\":\"z/smoke\",\"format\":\"zigbee2mqtt\"}},"
    "{\"id\":\"door-hall\",\"kind\":\"door\",\"zone\":\"hall\",\"supervision_s\":0,"
    "\"mqtt\":{\"topic\":\"z/door\",\"format\":\"zigbee2mqtt\"}},"
    "{\"id\":\"heat-101\",\"kind\":\"heat\",\"zone\":\"room-101\",\"supervision_s\":0,"
    "\"mqtt\":{\"topic\":\"z/heat\",\"format\":\"zigbee2mqtt\"}}],"
    "\"contacts\":[{\"id\":\"militia\",\"via\":\"upstream\"},"
    "{\"id\":\"chief\",\"via\":\"upstream\"}]}";

static const char *const rules_text =
    "rule \"smoke\" when smoke becomes detected then alarm fire; siren on fire; "
    "alert militia end\n"
    "rule \"offline\" when any sensor becomes offline then fault \"sensor offline\" end\n"
    "rule \"unacked\" when alarm fire becomes raised after 60s unless alarm fire is acknowledged "
    "then alert chief end\n"
    "rule \"hot\" when heat above 57 then alarm fire end\n";

struct world {
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

static void no_diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	if (severity == 0)
		fail_msg("unexpected diagnostic: %s", msg);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct panel_deps d;
	struct rules_site *site;
	char err[256];
	int nerr = 0, nwarn = 0;
	log_init("test_engine", 1, LOG_CRIT);
	w->cfg = config_load_string(site_json, "site.json", "/tmp", no_diag, NULL, &nerr);
	assert_non_null(w->cfg);
	site = config_rules_site(w->cfg);
	assert_non_null(site);
	w->rs = rules_compile_string(rules_text, "t.rules", site, no_diag, NULL, &nerr, &nwarn);
	free(site);
	assert_non_null(w->rs);
	w->loop = loop_new();
	w->store = store_open(":memory:", 0, err, sizeof(err));
	assert_non_null(w->store);
	w->reg = registry_new(w->cfg);
	w->out = outputs_new(w->loop, w->cfg, NULL);
	w->up = upstream_new(w->loop, w->store, w->cfg);
	d = (struct panel_deps){w->cfg, w->store, w->out, w->up, w->reg};
	w->panel = panel_new(&d, 0);
	assert_non_null(w->panel);
	w->engine = engine_new(w->cfg, w->rs, w->reg, w->panel, w->store, 0);
	assert_non_null(w->engine);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	engine_free(w->engine);
	panel_free(w->panel);
	upstream_free(w->up);
	outputs_free(w->out);
	registry_free(w->reg);
	store_close(w->store);
	rules_free(w->rs);
	loop_free(w->loop);
	config_free(w->cfg);
	free(w);
	return 0;
}

static void report(struct world *w, const char *sensor, enum sh_point p, double v, int64_t mono)
{
	const struct sh_point_value val = {p, v};
	int s = config_sensor_index(w->cfg, sensor);
	assert_true(s >= 0);
	engine_report(w->engine, s, &val, 1, "test", mono, WALL0 + mono);
}

static int alarms(struct world *w, int *faults)
{
	int a, f;
	panel_counts(w->panel, &a, &f);
	if (faults)
		*faults = f;
	return a;
}

struct count {
	const char *what; /* event type or outbox contact */
	int n;
};

static void count_event(void *ctx, const char *at, const char *origin, const char *type,
                        const char *sensor, const char *point, int has_value, double value,
                        const char *detail)
{
	struct count *c = ctx;
	(void)at, (void)origin, (void)sensor, (void)point, (void)has_value, (void)value,
	    (void)detail;
	if (type && strcmp(type, c->what) == 0)
		c->n++;
}

static int events_of(struct world *w, const char *type)
{
	struct count c = {type, 0};
	store_events_foreach(w->store, 0, 1000, count_event, &c);
	return c.n;
}

static void count_alert(void *ctx, int64_t seq, const char *kind, const char *contact,
                        const char *payload)
{
	struct count *c = ctx;
	(void)seq, (void)payload;
	if (kind && strcmp(kind, "alert") == 0 && contact && strcmp(contact, c->what) == 0)
		c->n++;
}

static int alerts_to(struct world *w, const char *contact)
{
	struct count c = {contact, 0};
	store_outbox_foreach(w->store, 0, count_alert, &c);
	return c.n;
}

/* The recorded values of one point, in order. */
struct series {
	const char *point;
	double v[16];
	int n;
};

static void series_event(void *ctx, const char *at, const char *origin, const char *type,
                         const char *sensor, const char *point, int has_value, double value,
                         const char *detail)
{
	struct series *c = ctx;
	(void)at, (void)origin, (void)sensor, (void)detail;
	if (type && strcmp(type, "reading") == 0 && point && strcmp(point, c->point) == 0 &&
	    has_value && c->n < 16)
		c->v[c->n++] = value;
}

/* store_events_foreach gives the newest first: oldest first here. */
static struct series recorded(struct world *w, const char *point)
{
	struct series c = {point, {0}, 0};
	store_events_foreach(w->store, 0, 1000, series_event, &c);
	for (int i = 0; i < c.n / 2; i++) {
		double t = c.v[i];
		c.v[i] = c.v[c.n - 1 - i];
		c.v[c.n - 1 - i] = t;
	}
	return c;
}

static void test_a_temperature_is_recorded_only_when_it_moved_by_its_step(void **state)
{
	struct world *w = *state;
	struct series t;
	const double in[] = {27.0, 27.1, 27.5, 27.9, 28.0, 27.4, 26.9, 28.3};
	for (int i = 0; i < 8; i++)
		report(w, "heat-101", POINT_TEMPERATURE, in[i], 1000 + i * 60000);
	t = recorded(w, "temperature");
	/* The first; 28.0 (1 degree from 27.0); 26.9 (1.1 from 28.0); 28.3. */
	assert_int_equal(t.n, 4);
	assert_true(t.v[0] == 27.0 && t.v[1] == 28.0 && t.v[2] == 26.9 && t.v[3] == 28.3);
	/* The rules and the panel see every reading all the same. */
	{
		double v;
		assert_int_equal(registry_get(w->reg, config_sensor_index(w->cfg, "heat-101"),
		                              POINT_TEMPERATURE, &v),
		                 0);
		assert_true(v == 28.3);
	}
}

static void test_a_temperature_below_its_step_that_raises_an_alarm_is_recorded(void **state)
{
	struct world *w = *state;
	struct series t;
	report(w, "heat-101", POINT_TEMPERATURE, 56.8, 1000);
	report(w, "heat-101", POINT_TEMPERATURE, 57.1, 61000);
	assert_int_equal(alarms(w, NULL), 1);
	t = recorded(w, "temperature");
	assert_int_equal(t.n, 2);
	assert_true(t.v[1] == 57.1);
}

static void test_a_small_move_is_recorded_once_the_max_interval_is_up(void **state)
{
	struct world *w = *state;
	struct series t;
	report(w, "heat-101", POINT_TEMPERATURE, 27.0, 1000);
	report(w, "heat-101", POINT_TEMPERATURE, 27.2, 61000);
	report(w, "heat-101", POINT_TEMPERATURE, 27.2, 1000 + 3599999);
	assert_int_equal(recorded(w, "temperature").n, 1);
	/* Unchanged since 61 s, but not yet in the log: an hour after 27.0. */
	report(w, "heat-101", POINT_TEMPERATURE, 27.2, 1000 + 3600000);
	t = recorded(w, "temperature");
	assert_int_equal(t.n, 2);
	assert_true(t.v[1] == 27.2);
	/* Once in the log, a steady value is not written again. */
	report(w, "heat-101", POINT_TEMPERATURE, 27.2, 1000 + 3 * 3600000);
	assert_int_equal(recorded(w, "temperature").n, 2);
}

static void test_every_battery_change_is_recorded_by_default(void **state)
{
	struct world *w = *state;
	report(w, "heat-101", POINT_BATTERY, 90, 1000);
	report(w, "heat-101", POINT_BATTERY, 89, 2000);
	report(w, "heat-101", POINT_BATTERY, 89, 3000);
	report(w, "heat-101", POINT_BATTERY, 88.5, 4000);
	assert_int_equal(recorded(w, "battery").n, 3);
}

static void test_a_temperature_row_leaves_the_sensor_clean_until_recorded(void **state)
{
	struct world *w = *state;
	int s = config_sensor_index(w->cfg, "heat-101");
	report(w, "heat-101", POINT_TEMPERATURE, 27.0, 1000);
	assert_int_equal(registry_take_dirty_one(w->reg, s), REGISTRY_DIRTY_NUMERIC);
	report(w, "heat-101", POINT_TEMPERATURE, 27.1, 61000);
	assert_int_equal(registry_dirty(w->reg, s), 0);
	report(w, "door-hall", POINT_CONTACT, 1, 62000);
	assert_int_equal(registry_dirty(w->reg, config_sensor_index(w->cfg, "door-hall")),
	                 REGISTRY_DIRTY_STATE);
}

static void test_smoke_reading_raises_a_fire_alarm_sounds_sirens_and_alerts(void **state)
{
	struct world *w = *state;
	report(w, "smoke-101", POINT_SMOKE, 1, 1000);
	assert_int_equal(alarms(w, NULL), 1);
	assert_true(outputs_sirens_on(w->out));
	assert_int_equal(alerts_to(w, "militia"), 1);
	assert_int_equal(events_of(w, "reading"), 1);
}

static void test_a_repeated_reading_is_neither_an_event_nor_a_second_alert(void **state)
{
	struct world *w = *state;
	report(w, "smoke-101", POINT_SMOKE, 1, 1000);
	report(w, "smoke-101", POINT_SMOKE, 1, 2000);
	assert_int_equal(events_of(w, "reading"), 1);
	assert_int_equal(alerts_to(w, "militia"), 1);
	/* but it is a sign of life */
	assert_int_equal(registry_last_seen(w->reg, config_sensor_index(w->cfg, "smoke-101")),
	                 WALL0 + 2000);
}

static void test_delayed_rule_fires_when_its_time_comes(void **state)
{
	struct world *w = *state;
	int64_t due;
	report(w, "smoke-101", POINT_SMOKE, 1, 1000);
	due = engine_next_deadline(w->engine, 1000, WALL0 + 1000);
	assert_true(due <= 61000);
	engine_tick(w->engine, 60999, WALL0 + 60999);
	assert_int_equal(alerts_to(w, "chief"), 0);
	engine_tick(w->engine, 61000, WALL0 + 61000);
	assert_int_equal(alerts_to(w, "chief"), 1);
}

static void test_acknowledgement_in_time_keeps_the_chief_from_being_called(void **state)
{
	struct world *w = *state;
	char why[128];
	report(w, "smoke-101", POINT_SMOKE, 1, 1000);
	assert_int_equal(panel_ack(w->panel, 0, "Lan", 30000, WALL0 + 30000, why, sizeof(why)), 1);
	engine_settle(w->engine, 30000, WALL0 + 30000);
	engine_tick(w->engine, 61000, WALL0 + 61000);
	assert_int_equal(alerts_to(w, "chief"), 0);
}

static void test_silent_sensor_goes_offline_after_its_supervision_time(void **state)
{
	struct world *w = *state;
	int s = config_sensor_index(w->cfg, "smoke-101"), faults = 0;
	double v;
	engine_supervise(w->engine, 599999, WALL0 + 599999);
	assert_int_equal(registry_get(w->reg, s, POINT_ONLINE, &v), -1);
	engine_supervise(w->engine, 600000, WALL0 + 600000);
	assert_int_equal(registry_get(w->reg, s, POINT_ONLINE, &v), 0);
	assert_true(v == 0);
	alarms(w, &faults);
	assert_int_equal(faults, 1);
	/* a sensor with supervision off is never set offline */
	assert_int_equal(
	    registry_get(w->reg, config_sensor_index(w->cfg, "door-hall"), POINT_ONLINE, &v), -1);
}

static void test_any_report_from_an_offline_sensor_brings_it_back(void **state)
{
	struct world *w = *state;
	int s = config_sensor_index(w->cfg, "smoke-101"), faults = 1;
	double v;
	engine_supervise(w->engine, 600000, WALL0 + 600000);
	report(w, "smoke-101", POINT_BATTERY, 80, 601000);
	assert_int_equal(registry_get(w->reg, s, POINT_ONLINE, &v), 0);
	assert_true(v == 1);
	alarms(w, &faults);
	assert_int_equal(faults, 0); /* a fault ends by itself */
}

static void test_disabled_sensor_triggers_nothing(void **state)
{
	struct world *w = *state;
	char why[128];
	assert_int_equal(
	    panel_disable(w->panel, "smoke-101", 3600000, "repair", "Lan", WALL0, why, sizeof(why)),
	    0);
	report(w, "smoke-101", POINT_SMOKE, 1, 1000);
	assert_int_equal(alarms(w, NULL), 0);
	assert_false(outputs_sirens_on(w->out));
	assert_int_equal(events_of(w, "reading"), 0);
}

static void test_restored_smoke_counts_as_in_alarm_but_a_restored_door_fires_nothing(void **state)
{
	struct world *w = *state;
	const struct sh_point_value smoke = {POINT_SMOKE, 1}, door = {POINT_CONTACT, 1};
	int d = config_sensor_index(w->cfg, "door-hall");
	double v;
	engine_restore(w->engine, d, &door, 1, 0, WALL0);
	assert_int_equal(events_of(w, "reading"), 0);
	assert_true(registry_restored(w->reg, d, POINT_CONTACT));
	assert_int_equal(registry_get(w->reg, d, POINT_CONTACT, &v), 0);
	engine_restore(w->engine, config_sensor_index(w->cfg, "smoke-101"), &smoke, 1, 0, WALL0);
	assert_int_equal(alarms(w, NULL), 1);
	assert_true(outputs_sirens_on(w->out));
}

static void test_walk_test_activation_is_recorded_and_alerts_nobody(void **state)
{
	struct world *w = *state;
	char why[128];
	assert_int_equal(
	    panel_test_start(w->panel, "room-101", 0, "tech", 0, WALL0, why, sizeof(why)), 0);
	report(w, "smoke-101", POINT_SMOKE, 1, 1000);
	assert_int_equal(alarms(w, NULL), 0);
	assert_int_equal(alerts_to(w, "militia"), 0);
	assert_int_equal(events_of(w, "test"), 1);
}

static void test_report_for_an_unknown_sensor_index_is_ignored(void **state)
{
	struct world *w = *state;
	const struct sh_point_value val = {POINT_SMOKE, 1};
	engine_report(w->engine, w->cfg->nsensors, &val, 1, "test", 1000, WALL0);
	engine_report(w->engine, -1, &val, 1, "test", 1000, WALL0);
	assert_int_equal(alarms(w, NULL), 0);
	assert_int_equal(events_of(w, "reading"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_smoke_reading_raises_a_fire_alarm_sounds_sirens_and_alerts, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_repeated_reading_is_neither_an_event_nor_a_second_alert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delayed_rule_fires_when_its_time_comes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_acknowledgement_in_time_keeps_the_chief_from_being_called, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_silent_sensor_goes_offline_after_its_supervision_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_any_report_from_an_offline_sensor_brings_it_back,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_sensor_triggers_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restored_smoke_counts_as_in_alarm_but_a_restored_door_fires_nothing, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_walk_test_activation_is_recorded_and_alerts_nobody,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_for_an_unknown_sensor_index_is_ignored,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_temperature_is_recorded_only_when_it_moved_by_its_step, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_temperature_below_its_step_that_raises_an_alarm_is_recorded, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_small_move_is_recorded_once_the_max_interval_is_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_battery_change_is_recorded_by_default, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_temperature_row_leaves_the_sensor_clean_until_recorded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
