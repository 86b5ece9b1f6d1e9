/*
 * test_registry.c: the last known state of every sensor: what changes, what
 * counts as a sign of life, what survives a restart or a reload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/registry.h"

static const char *const site_a =
    "{\"site\":{\"id\":\"t\"},\"zones\":[{\"id\":\"room-101\"}],\"sensors\":["
    "{\"id\":\"smoke-101\",\"kind\":\"smoke\",\"zone\":\"room-101\","
    "\"mqtt\":{\"topic\":\"z/smoke\",\"format\":\"zigbee2mqtt\"}},"
    "{\"id\":\"door-101\",\"kind\":\"door\",\"zone\":\"room-101\","
    "\"mqtt\":{\"topic\":\"z/door\",\"format\":\"zigbee2mqtt\"}},"
    "{\"id\":\"panic-101\",\"kind\":\"panic\",\"zone\":\"room-101\","
    "\"mqtt\":{\"topic\":\"z/panic\",\"format\":\"zigbee2mqtt\"}}]}";

/* After a reload: door-101 removed, a new sensor first, smoke-101 kept. */
static const char *const site_b =
    "{\"site\":{\"id\":\"t\"},\"zones\":[{\"id\":\"room-101\"}],\"sensors\":["
    "{\"id\":\"heat-101\",\"kind\":\"heat\",\"zone\":\"room-101\","
    "\"mqtt\":{\"topic\":\"z/heat\",\"format\":\"zigbee2mqtt\"}},"
    "{\"id\":\"smoke-101\",\"kind\":\"smoke\",\"zone\":\"room-101\","
    "\"mqtt\":{\"topic\":\"z/smoke\",\"format\":\"zigbee2mqtt\"}}]}";

struct fx {
	struct config *a, *b;
	struct registry *r;
};

static void no_diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	if (severity == 0)
		fail_msg("unexpected diagnostic: %s", msg);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int nerr = 0;
	log_init("test_registry", 1, LOG_ERR);
	f->a = config_load_string(site_a, "a.json", "/tmp", no_diag, NULL, &nerr);
	f->b = config_load_string(site_b, "b.json", "/tmp", no_diag, NULL, &nerr);
	if (!f->a || !f->b)
		return -1;
	f->r = registry_new(f->a);
	*state = f;
	return f->r ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	registry_free(f->r);
	config_free(f->a);
	config_free(f->b);
	free(f);
	return 0;
}

static int update(struct registry *r, int s, enum sh_point p, double v, int *had_old, double *old)
{
	return registry_update(r, s, p, v, 1000, had_old, old);
}

static void test_points_are_unknown_until_reported(void **state)
{
	struct fx *f = *state;
	double v = 42;
	int on, off, unk;
	assert_int_equal(registry_get(f->r, 0, POINT_SMOKE, &v), -1);
	assert_true(v == 42);
	registry_counts(f->r, &on, &off, &unk);
	assert_int_equal(unk, 3);
	assert_int_equal(on + off, 0);
}

static void test_first_report_is_a_change_without_an_old_value(void **state)
{
	struct fx *f = *state;
	int had_old = -1;
	double old, v;
	assert_int_equal(update(f->r, 0, POINT_SMOKE, 1, &had_old, &old), 1);
	assert_int_equal(had_old, 0);
	assert_int_equal(registry_get(f->r, 0, POINT_SMOKE, &v), 0);
	assert_true(v == 1);
}

static void test_repeated_report_of_the_same_value_changes_nothing(void **state)
{
	struct fx *f = *state;
	int had_old;
	double old;
	update(f->r, 1, POINT_CONTACT, 1, &had_old, &old);
	assert_int_equal(update(f->r, 1, POINT_CONTACT, 1, &had_old, &old), 0);
	assert_int_equal(update(f->r, 1, POINT_CONTACT, 0, &had_old, &old), 1);
	assert_int_equal(had_old, 1);
	assert_true(old == 1);
}

static void test_every_panic_press_counts_even_the_same_value(void **state)
{
	struct fx *f = *state;
	int had_old;
	double old;
	assert_int_equal(update(f->r, 2, POINT_PANIC, 1, &had_old, &old), 1);
	assert_int_equal(update(f->r, 2, POINT_PANIC, 1, &had_old, &old), 1);
}

static void test_a_report_that_changes_nothing_is_still_a_sign_of_life(void **state)
{
	struct fx *f = *state;
	int had_old;
	double old;
	registry_update(f->r, 1, POINT_CONTACT, 0, 1000, &had_old, &old);
	registry_update(f->r, 1, POINT_CONTACT, 0, 5000, &had_old, &old);
	assert_int_equal(registry_last_seen(f->r, 1), 5000);
	registry_heard(f->r, 1, 777);
	assert_int_equal(registry_heard_at(f->r, 1), 777);
}

static void test_restored_value_is_known_but_marked_until_reported_again(void **state)
{
	struct fx *f = *state;
	int had_old;
	double old, v;
	registry_restore(f->r, 0, POINT_SMOKE, 1);
	assert_int_equal(registry_get(f->r, 0, POINT_SMOKE, &v), 0);
	assert_true(v == 1);
	assert_true(registry_restored(f->r, 0, POINT_SMOKE));
	/* no sign of life: a restored value is not a report */
	assert_int_equal(registry_last_seen(f->r, 0), 0);
	/* the same value heard again is no change, but no longer "restored" */
	assert_int_equal(update(f->r, 0, POINT_SMOKE, 1, &had_old, &old), 0);
	assert_false(registry_restored(f->r, 0, POINT_SMOKE));
}

struct dirty {
	int n, last;
};

static void on_dirty(void *ctx, int sensor)
{
	struct dirty *d = ctx;
	d->n++;
	d->last = sensor;
}

static void test_changed_sensors_are_handed_to_the_store_once(void **state)
{
	struct fx *f = *state;
	struct dirty d = {0};
	int had_old;
	double old;
	registry_restore(f->r, 0, POINT_SMOKE, 0); /* restored: nothing to save */
	update(f->r, 1, POINT_CONTACT, 1, &had_old, &old);
	update(f->r, 1, POINT_BATTERY, 90, &had_old, &old);
	registry_take_dirty(f->r, on_dirty, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.last, 1);
	d.n = 0;
	registry_take_dirty(f->r, on_dirty, &d);
	assert_int_equal(d.n, 0);
}

/* A door that changes many times in one read burst is saved once, when the
 * loop hands the burst to the store, and not again at the next snapshot. */
static void test_an_urgent_sensor_is_saved_once_however_often_it_was_marked(void **state)
{
	struct fx *f = *state;
	struct dirty d = {0};
	int had_old;
	double old;
	for (int i = 0; i < 5; i++) {
		update(f->r, 1, POINT_CONTACT, i & 1, &had_old, &old);
		registry_mark_urgent(f->r, 1);
	}
	registry_take_urgent(f->r, on_dirty, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.last, 1);
	d.n = 0;
	registry_take_urgent(f->r, on_dirty, &d);
	registry_take_dirty(f->r, on_dirty, &d);
	assert_int_equal(d.n, 0);
}

/* A reload between the mark and the save keeps the mark on the sensor, at
 * its new index. */
static void test_an_urgent_mark_survives_a_reload_at_the_sensors_new_index(void **state)
{
	struct fx *f = *state;
	struct dirty d = {0};
	int had_old;
	double old;
	update(f->r, 0, POINT_SMOKE, 1, &had_old, &old);
	registry_mark_urgent(f->r, 0);
	assert_int_equal(registry_rebind(f->r, f->b), 0);
	registry_take_urgent(f->r, on_dirty, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.last, 1); /* smoke-101 is sensor 1 in the new config */
}

static void test_counts_online_offline_and_silent_sensors(void **state)
{
	struct fx *f = *state;
	int had_old, on, off, unk;
	double old;
	update(f->r, 0, POINT_ONLINE, 0, &had_old, &old);
	update(f->r, 1, POINT_CONTACT, 0, &had_old, &old); /* reports, no availability */
	registry_counts(f->r, &on, &off, &unk);
	assert_int_equal(on, 1);
	assert_int_equal(off, 1);
	assert_int_equal(unk, 1);
}

static void test_reload_keeps_state_of_sensors_whose_id_survived(void **state)
{
	struct fx *f = *state;
	int had_old;
	double old, v;
	update(f->r, 0, POINT_SMOKE, 1, &had_old, &old);
	update(f->r, 1, POINT_CONTACT, 1, &had_old, &old);
	assert_int_equal(registry_rebind(f->r, f->b), 0);
	/* smoke-101 moved from index 0 to 1 and kept its smoke */
	assert_int_equal(registry_get(f->r, 1, POINT_SMOKE, &v), 0);
	assert_true(v == 1);
	/* the new heat-101 starts unknown, not with door-101's state */
	assert_int_equal(registry_get(f->r, 0, POINT_CONTACT, &v), -1);
	assert_int_equal(registry_get(f->r, 0, POINT_HEAT, &v), -1);
}

static void test_out_of_range_sensor_or_point_is_ignored(void **state)
{
	struct fx *f = *state;
	int had_old;
	double old, v;
	assert_int_equal(update(f->r, 3, POINT_SMOKE, 1, &had_old, &old), 0);
	assert_int_equal(update(f->r, -1, POINT_SMOKE, 1, &had_old, &old), 0);
	assert_int_equal(update(f->r, 0, POINT__COUNT, 1, &had_old, &old), 0);
	assert_int_equal(registry_get(f->r, 3, POINT_SMOKE, &v), -1);
	registry_restore(f->r, 9, POINT_SMOKE, 1);
	registry_seen(f->r, 9, 5);
	assert_int_equal(registry_last_seen(f->r, 9), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_points_are_unknown_until_reported, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_first_report_is_a_change_without_an_old_value,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_repeated_report_of_the_same_value_changes_nothing,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_panic_press_counts_even_the_same_value,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_report_that_changes_nothing_is_still_a_sign_of_life, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restored_value_is_known_but_marked_until_reported_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changed_sensors_are_handed_to_the_store_once,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_an_urgent_sensor_is_saved_once_however_often_it_was_marked, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_an_urgent_mark_survives_a_reload_at_the_sensors_new_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counts_online_offline_and_silent_sensors, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reload_keeps_state_of_sensors_whose_id_survived,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_range_sensor_or_point_is_ignored, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
