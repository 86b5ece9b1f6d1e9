/*
 * test_station_users.c: the station's accounts (station/susers.h) on a real
 * SQLite file and an injected monotonic clock: log-in, wrong password and
 * unknown name answer alike, five failures lock the name for 5 minutes,
 * bad names, roles and passwords are refused, and deletion.
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
#include <unistd.h>

#include "gateway/log.h"
#include "station/sstore.h"
#include "station/susers.h"

#define MIN_MS (60 * 1000)

struct fx {
	char dir[64], path[128];
	struct sstore *s;
	struct susers *u;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512], why[256];

	log_init("test_station_users", 1, LOG_CRIT);
	strcpy(f->dir, "/tmp/sh-susers-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/station.db", f->dir);
	f->s = sstore_open(f->path, err, sizeof(err));
	f->u = f->s ? susers_new(f->s) : NULL;
	*state = f;
	if (!f->u || susers_add(f->u, "lan", "officer", "correct horse", why, sizeof(why)) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	susers_free(f->u);
	sstore_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void test_the_right_password_logs_in_with_the_users_role(void **state)
{
	struct fx *f = *state;
	char role[16] = "", why[256];

	assert_int_equal(susers_check(f->u, "lan", "correct horse", 0, role, sizeof(role), NULL),
	                 0);
	assert_string_equal(role, "officer");
	assert_int_equal(susers_add(f->u, "binh.2", "viewer", "12345678", why, sizeof(why)), 0);
	assert_int_equal(susers_check(f->u, "binh.2", "12345678", 0, role, sizeof(role), NULL), 0);
	assert_string_equal(role, "viewer");
}

static void test_a_wrong_password_and_an_unknown_name_are_both_refused(void **state)
{
	struct fx *f = *state;
	char role[16] = "untouched";

	assert_int_equal(susers_check(f->u, "lan", "wrong horse", 0, role, sizeof(role), NULL),
	                 -EACCES);
	assert_int_equal(susers_check(f->u, "nobody", "correct horse", 0, role, sizeof(role), NULL),
	                 -EACCES);
	assert_int_equal(
	    susers_check(f->u, "Not A Name!", "correct horse", 0, role, sizeof(role), NULL),
	    -EACCES);
	assert_string_equal(role, "untouched");
}

static void
test_five_failures_lock_the_name_for_five_minutes_even_for_the_right_password(void **state)
{
	struct fx *f = *state;
	int retry = -1;
	int64_t t = 1000000;

	for (int i = 0; i < 5; i++)
		assert_int_equal(susers_check(f->u, "lan", "guess", t + i * 1000, NULL, 0, &retry),
		                 -EACCES);
	t += 4000; /* the fifth failure */
	assert_int_equal(susers_check(f->u, "lan", "correct horse", t + 1000, NULL, 0, &retry),
	                 -EAGAIN);
	assert_int_equal(retry, 299);
	assert_int_equal(
	    susers_check(f->u, "lan", "correct horse", t + 5 * MIN_MS - 1, NULL, 0, &retry),
	    -EAGAIN);
	assert_int_equal(retry, 1);
	/* another name is not locked by it */
	assert_int_equal(susers_add(f->u, "binh", "viewer", "12345678", NULL, 0), 0);
	assert_int_equal(susers_check(f->u, "binh", "12345678", t + 1000, NULL, 0, &retry), 0);
	/* five minutes on, the right password works again */
	assert_int_equal(
	    susers_check(f->u, "lan", "correct horse", t + 5 * MIN_MS, NULL, 0, &retry), 0);
	assert_int_equal(retry, 0);
}

static void test_failures_spread_over_more_than_five_minutes_do_not_lock(void **state)
{
	struct fx *f = *state;
	int retry = -1;

	for (int i = 0; i < 10; i++)
		assert_int_equal(
		    susers_check(f->u, "lan", "guess", (int64_t)i * 2 * MIN_MS, NULL, 0, &retry),
		    -EACCES);
	assert_int_equal(susers_check(f->u, "lan", "correct horse", 20 * MIN_MS, NULL, 0, &retry),
	                 0);
}

static void test_an_unknown_name_is_locked_like_a_real_one(void **state)
{
	struct fx *f = *state;
	int retry = 0;

	for (int i = 0; i < 5; i++)
		assert_int_equal(susers_check(f->u, "ghost", "guess", i, NULL, 0, &retry), -EACCES);
	assert_int_equal(susers_check(f->u, "ghost", "guess", 10, NULL, 0, &retry), -EAGAIN);
	assert_true(retry > 0);
}

static void test_bad_names_roles_and_passwords_are_refused_saying_why(void **state)
{
	struct fx *f = *state;
	char why[256] = "";

	assert_int_equal(susers_add(f->u, "Lan", "officer", "12345678", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "invalid user name"));
	assert_int_equal(susers_add(f->u, "", "officer", "12345678", why, sizeof(why)), -EINVAL);
	assert_int_equal(susers_add(f->u, "a23456789012345678901234567890123", "officer",
	                            "12345678", why, sizeof(why)),
	                 -EINVAL);
	assert_int_equal(susers_add(f->u, "an", "admin", "12345678", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "officer or viewer"));
	assert_int_equal(susers_add(f->u, "an", "viewer", "1234567", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "8 to 128"));
	assert_int_equal(susers_add(f->u, "lan", "viewer", "12345678", why, sizeof(why)), -EEXIST);
	assert_int_equal(susers_passwd(f->u, "nobody", "12345678", why, sizeof(why)), -ENOENT);
	assert_int_equal(susers_passwd(f->u, "lan", "short", why, sizeof(why)), -EINVAL);
	/* nothing was changed by the refusals */
	assert_int_equal(susers_check(f->u, "lan", "correct horse", 0, NULL, 0, NULL), 0);
	assert_int_equal(susers_check(f->u, "an", "12345678", 0, NULL, 0, NULL), -EACCES);
}

static void test_a_new_password_replaces_the_old_one(void **state)
{
	struct fx *f = *state;

	assert_int_equal(susers_passwd(f->u, "lan", "battery staple", NULL, 0), 0);
	assert_int_equal(susers_check(f->u, "lan", "correct horse", 0, NULL, 0, NULL), -EACCES);
	assert_int_equal(susers_check(f->u, "lan", "battery staple", 0, NULL, 0, NULL), 0);
}

static int on_user(void *ctx, const char *name, const char *role)
{
	strcat(ctx, name);
	strcat(ctx, ":");
	strcat(ctx, role);
	strcat(ctx, " ");
	return 0;
}

static void test_a_deleted_user_cannot_log_in_and_is_not_listed(void **state)
{
	struct fx *f = *state;
	char list[128] = "", why[128];

	assert_int_equal(susers_add(f->u, "binh", "viewer", "12345678", NULL, 0), 0);
	assert_int_equal(susers_del(f->u, "lan", why, sizeof(why)), 0);
	assert_int_equal(susers_del(f->u, "lan", why, sizeof(why)), -ENOENT);
	assert_int_equal(susers_check(f->u, "lan", "correct horse", 0, NULL, 0, NULL), -EACCES);
	assert_int_equal(susers_list(f->u, on_user, list), 0);
	assert_string_equal(list, "binh:viewer ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_the_right_password_logs_in_with_the_users_role,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_wrong_password_and_an_unknown_name_are_both_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_five_failures_lock_the_name_for_five_minutes_even_for_the_right_password,
	        setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failures_spread_over_more_than_five_minutes_do_not_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_unknown_name_is_locked_like_a_real_one, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_names_roles_and_passwords_are_refused_saying_why, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_new_password_replaces_the_old_one, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_a_deleted_user_cannot_log_in_and_is_not_listed,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
