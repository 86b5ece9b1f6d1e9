/*
 * test_panic_return.c: a panic press is an event. Every press reaches the
 * rules, two in a row included, and the button's state returns to
 * "released" ENGINE_PANIC_RETURN_MS later or on its next message without a
 * press, so that Home Assistant does not show it pressed forever. Real
 * rules, registry and panel, an inline store on ":memory:".
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
    "\"zones\":[{\"id\":\"hall\"}],"
    "\"sensors\":["
    "{\"id\":\"panic-hall\",\"kind\":\"panic\",\"zone\":\"hall\",\"supervision_s\":0,"
    "\"mqtt\":{\"topic\":\"z/panic\",\"format\":\"zigbee2mqtt\"}}],"
    "\"contacts\":[{\"id\":\"militia\",\"via\":\"upstream\"},"
    "{\"id\":\"chief\",\"via\":\"upstream\"}]}";

/* each press that reaches the rules while no panic alarm is active raises one
 * and calls the militia. */
static const char *const rules_text =
    "rule \"press\" when panic becomes pressed then alarm panic; alert militia end\n";

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
	int s; /* panic-hall */
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
	log_init("test_panic_return", 1, LOG_CRIT);
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
	w->s = config_sensor_index(w->cfg, "panic-hall");
	assert_true(w->s >= 0);
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

static void send(struct world *w, enum sh_point p, double v, int64_t mono)
{
	const struct sh_point_value val = {p, v};
	engine_report(w->engine, w->s, &val, 1, "test", mono, WALL0 + mono);
}

static void tick(struct world *w, int64_t mono)
{
	engine_tick(w->engine, mono, WALL0 + mono);
}

/* The button's panic state: 1 pressed, 0 released, -1 unknown. */
static int pressed(struct world *w)
{
	double v;
	if (registry_get(w->reg, w->s, POINT_PANIC, &v) != 0)
		return -1;
	return v != 0;
}

struct count {
	const char *what;
	int n;
};

static void count_reading(void *ctx, const char *at, const char *origin, const char *type,
                          const char *sensor, const char *point, int has_value, double value,
                          const char *detail)
{
	struct count *c = ctx;
	(void)at, (void)origin, (void)sensor, (void)has_value, (void)value;
	if (type && strcmp(type, "reading") == 0 && point && strcmp(point, "panic") == 0 &&
	    detail && strcmp(detail, c->what) == 0)
		c->n++;
}

/* "reading" events of the panic point with this state word. */
static int readings(struct world *w, const char *word)
{
	struct count c = {word, 0};
	store_events_foreach(w->store, 0, 1000, count_reading, &c);
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

static void test_a_press_returns_to_released_after_the_return_time(void **state)
{
	struct world *w = *state;
	send(w, POINT_PANIC, 1, 1000);
	assert_int_equal(pressed(w), 1);
	assert_int_equal(alerts_to(w, "militia"), 1);
	assert_true(engine_next_deadline(w->engine, 1000, WALL0 + 1000) <=
	            1000 + ENGINE_PANIC_RETURN_MS);
	tick(w, 1000 + ENGINE_PANIC_RETURN_MS - 1);
	assert_int_equal(pressed(w), 1);
	tick(w, 1000 + ENGINE_PANIC_RETURN_MS);
	assert_int_equal(pressed(w), 0);
	assert_int_equal(readings(w, "pressed"), 1);
	assert_int_equal(readings(w, "released"), 1);
	/* the return is the gateway's doing, not a sign of life */
	assert_int_equal(registry_last_seen(w->reg, w->s), WALL0 + 1000);
	/* and it calls nobody */
	assert_int_equal(alerts_to(w, "militia"), 1);
}

/* Reset the panic alarm (the first alarm of a fresh store is id 1), so
 * that the next press that reaches the rules raises a new one. */
static void reset(struct world *w, int64_t mono)
{
	char why[256];
	assert_int_equal(panel_reset(w->panel, 1, "test", mono, WALL0 + mono, why, sizeof(why)), 0);
	engine_settle(w->engine, mono, WALL0 + mono);
}

static void test_two_presses_in_a_row_both_reach_the_rules(void **state)
{
	struct world *w = *state;
	send(w, POINT_PANIC, 1, 1000);
	assert_int_equal(alerts_to(w, "militia"), 1);
	reset(w, 1500);
	send(w, POINT_PANIC, 1, 2000); /* still "pressed": before the return */
	assert_int_equal(alerts_to(w, "militia"), 2);
	assert_int_equal(readings(w, "pressed"), 2);
	/* the return time counts from the last press */
	tick(w, 1000 + ENGINE_PANIC_RETURN_MS);
	assert_int_equal(pressed(w), 1);
	tick(w, 2000 + ENGINE_PANIC_RETURN_MS);
	assert_int_equal(pressed(w), 0);
}

static void test_a_press_after_the_return_is_a_new_press(void **state)
{
	struct world *w = *state;
	send(w, POINT_PANIC, 1, 1000);
	tick(w, 1000 + ENGINE_PANIC_RETURN_MS);
	assert_int_equal(pressed(w), 0);
	reset(w, 10000);
	send(w, POINT_PANIC, 1, 20000);
	assert_int_equal(pressed(w), 1);
	assert_int_equal(alerts_to(w, "militia"), 2);
}

static void test_the_next_message_without_a_press_returns_it(void **state)
{
	struct world *w = *state;
	send(w, POINT_PANIC, 1, 1000);
	send(w, POINT_BATTERY, 90, 1500);
	assert_int_equal(pressed(w), 0);
	assert_int_equal(readings(w, "released"), 1);
	tick(w, 1000 + ENGINE_PANIC_RETURN_MS);
	assert_int_equal(readings(w, "released"), 1); /* not twice */
	/* an empty message (a sign of life) too */
	send(w, POINT_PANIC, 1, 10000);
	engine_report(w->engine, w->s, NULL, 0, "test", 10500, WALL0 + 10500);
	assert_int_equal(pressed(w), 0);
}

static void test_a_reload_keeps_the_return_of_a_pressed_button(void **state)
{
	struct world *w = *state;
	send(w, POINT_PANIC, 1, 1000);
	engine_rebind(w->engine, w->cfg, w->rs);
	tick(w, 1100);
	assert_int_equal(pressed(w), 1);
	assert_true(engine_next_deadline(w->engine, 1100, WALL0 + 1100) <=
	            1000 + ENGINE_PANIC_RETURN_MS);
	tick(w, 1000 + ENGINE_PANIC_RETURN_MS);
	assert_int_equal(pressed(w), 0);
}

static void test_an_out_of_service_button_returns_quietly(void **state)
{
	struct world *w = *state;
	char msg[256];
	send(w, POINT_PANIC, 1, 1000);
	assert_int_equal(panel_disable(w->panel, "panic-hall", 3600000, "repair", "test",
	                               WALL0 + 1000, msg, sizeof(msg)),
	                 0);
	tick(w, 1000 + ENGINE_PANIC_RETURN_MS);
	assert_int_equal(pressed(w), 0);
	assert_int_equal(readings(w, "released"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_a_press_returns_to_released_after_the_return_time,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_presses_in_a_row_both_reach_the_rules, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_a_press_after_the_return_is_a_new_press, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_the_next_message_without_a_press_returns_it, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_a_reload_keeps_the_return_of_a_pressed_button,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_out_of_service_button_returns_quietly, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
