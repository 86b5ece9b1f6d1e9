/*
 * test_users.c: users, hashed codes, duress and lock-out, on a real
 * SQLite file (inline store) and a virtual monotonic clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/log.h"
#include "gateway/store.h"
#include "gateway/users.h"

struct fx {
	char dir[64], path[128];
	struct store *s;
	struct users *u;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	log_init("test_users", 1, LOG_ERR);
	strcpy(f->dir, "/tmp/sh-users-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/u.db", f->dir);
	f->s = store_open(f->path, 0, err, sizeof(err));
	f->u = f->s ? users_new(f->s) : NULL;
	*state = f;
	return f->u ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];
	users_free(f->u);
	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void test_a_users_code_names_them_and_a_wrong_one_does_not(void **state)
{
	struct fx *f = *state;
	char why[256];
	const char *name = NULL;
	int duress, lock;
	assert_int_equal(users_add(f->u, "Lan", "owner", "2468", NULL, 1, why, sizeof(why)), 0);
	assert_int_equal(
	    users_add(f->u, "Hùng", "installer", "135790", "135791", 1, why, sizeof(why)), 0);
	assert_int_equal(users_check(f->u, "2468", 10, &name, &duress, &lock, why, sizeof(why)), 0);
	assert_string_equal(name, "Lan");
	assert_false(duress);
	assert_int_equal(users_check(f->u, "1111", 20, &name, &duress, &lock, why, sizeof(why)),
	                 -EACCES);
	assert_false(lock);
}

static void test_the_duress_code_works_and_says_so(void **state)
{
	struct fx *f = *state;
	char why[256];
	const char *name = NULL;
	int duress, lock;
	assert_int_equal(
	    users_add(f->u, "Hùng", "installer", "135790", "135791", 1, why, sizeof(why)), 0);
	assert_int_equal(users_check(f->u, "135791", 10, &name, &duress, &lock, why, sizeof(why)),
	                 0);
	assert_string_equal(name, "Hùng");
	assert_true(duress);
}

static void test_five_wrong_codes_in_five_minutes_lock_entry_for_five_minutes(void **state)
{
	struct fx *f = *state;
	char why[256];
	const char *name;
	int duress, lock = 0;
	int64_t t = 1000;
	assert_int_equal(users_add(f->u, "Lan", "owner", "2468", NULL, 1, why, sizeof(why)), 0);
	for (int i = 0; i < 4; i++, t += 30000) {
		assert_int_equal(
		    users_check(f->u, "0000", t, &name, &duress, &lock, why, sizeof(why)), -EACCES);
		assert_false(lock);
	}
	assert_int_equal(users_check(f->u, "0000", t, &name, &duress, &lock, why, sizeof(why)),
	                 -EACCES);
	assert_true(lock);
	/* even the right code is refused while locked */
	assert_int_equal(
	    users_check(f->u, "2468", t + 60000, &name, &duress, &lock, why, sizeof(why)), -EAGAIN);
	assert_non_null(strstr(why, "locked"));
	/* and accepted again after the lock */
	assert_int_equal(users_check(f->u, "2468", t + USERS_LOCK_MS + 1, &name, &duress, &lock,
	                             why, sizeof(why)),
	                 0);
}

static void test_five_wrong_codes_spread_over_an_hour_lock_nothing(void **state)
{
	struct fx *f = *state;
	char why[256];
	const char *name;
	int duress, lock = 0;
	assert_int_equal(users_add(f->u, "Lan", "owner", "2468", NULL, 1, why, sizeof(why)), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(users_check(f->u, "0000", (int64_t)i * 10 * 60000, &name, &duress,
		                             &lock, why, sizeof(why)),
		                 -EACCES);
		assert_false(lock);
	}
}

static void test_codes_are_stored_only_as_salted_hashes(void **state)
{
	struct fx *f = *state;
	char why[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(users_add(f->u, "Lan", "owner", "2468", NULL, 1, why, sizeof(why)), 0);
	assert_int_equal(users_add(f->u, "Mai", "tenant", "2468", NULL, 1, why, sizeof(why)), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT pin_hash FROM users ORDER BY name", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	char first[160];
	snprintf(first, sizeof(first), "%s", (const char *)sqlite3_column_text(st, 0));
	assert_null(strstr(first, "2468"));
	assert_non_null(strstr(first, "$argon2id$"));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	/* same PIN, different salt: different hash */
	assert_string_not_equal(first, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_users_survive_a_restart(void **state)
{
	struct fx *f = *state;
	char why[256], err[256];
	const char *name;
	int duress, lock;
	assert_int_equal(users_add(f->u, "Lan", "owner", "2468", NULL, 1, why, sizeof(why)), 0);
	users_free(f->u);
	store_close(f->s);
	f->s = store_open(f->path, 0, err, sizeof(err));
	f->u = users_new(f->s);
	assert_int_equal(users_count(f->u), 1);
	assert_int_equal(users_check(f->u, "2468", 1, &name, &duress, &lock, why, sizeof(why)), 0);
}

static void test_bad_user_input_is_refused_with_a_reason(void **state)
{
	struct fx *f = *state;
	char why[256];
	assert_int_equal(users_add(f->u, "Lan", "boss", "2468", NULL, 1, why, sizeof(why)),
	                 -EINVAL);
	assert_non_null(strstr(why, "role"));
	assert_int_equal(users_add(f->u, "Lan", "owner", "12", NULL, 1, why, sizeof(why)), -EINVAL);
	assert_int_equal(users_add(f->u, "Lan", "owner", "12ab", NULL, 1, why, sizeof(why)),
	                 -EINVAL);
	assert_int_equal(users_add(f->u, "Lan", "owner", "2468", "2468", 1, why, sizeof(why)),
	                 -EINVAL);
	assert_int_equal(users_add(f->u, "", "owner", "2468", NULL, 1, why, sizeof(why)), -EINVAL);
	assert_int_equal(users_add(f->u, "Lan", "owner", "2468", NULL, 1, why, sizeof(why)), 0);
	assert_int_equal(users_add(f->u, "Lan", "owner", "2468", NULL, 1, why, sizeof(why)),
	                 -EEXIST);
	assert_int_equal(users_del(f->u, "Nobody", 1, why, sizeof(why)), -ENOENT);
	assert_int_equal(users_count(f->u), 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_a_users_code_names_them_and_a_wrong_one_does_not),
	    T(test_the_duress_code_works_and_says_so),
	    T(test_five_wrong_codes_in_five_minutes_lock_entry_for_five_minutes),
	    T(test_five_wrong_codes_spread_over_an_hour_lock_nothing),
	    T(test_codes_are_stored_only_as_salted_hashes),
	    T(test_users_survive_a_restart),
	    T(test_bad_user_input_is_refused_with_a_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
