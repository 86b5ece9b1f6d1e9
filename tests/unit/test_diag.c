/*
 * test_diag.c: the diagnostics collector shared by the config loader and
 * the rule compiler (common/diag.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/diag.h"

struct seen {
	int n;
	int severity[8];
	char msg[8][64];
};

static void collect(void *ctx, int severity, const char *msg)
{
	struct seen *s = ctx;

	assert_true(s->n < 8);
	s->severity[s->n] = severity;
	snprintf(s->msg[s->n], sizeof(s->msg[0]), "%s", msg);
	s->n++;
}

static void add(struct diag_list *dl, int file, int line, int col, int severity, const char *m)
{
	diag_add(dl, file, line, col, severity, strdup(m));
}

static void test_flush_sorts_by_file_line_column_then_order_found(void **state)
{
	struct diag_list dl = {0};
	struct seen s = {0};

	(void)state;
	add(&dl, 1, 2, 1, 0, "b:2:1 first");
	add(&dl, 0, 9, 4, 1, "a:9:4");
	add(&dl, 1, 2, 1, 1, "b:2:1 second");
	add(&dl, 0, 9, 2, 0, "a:9:2");
	add(&dl, 1, 0, 0, 0, "b: whole file");
	add(&dl, 0, 3, 7, 0, "a:3:7");
	diag_flush(&dl, collect, &s);
	assert_int_equal(s.n, 6);
	assert_string_equal(s.msg[0], "a:3:7");
	assert_string_equal(s.msg[1], "a:9:2");
	assert_string_equal(s.msg[2], "a:9:4");
	assert_int_equal(s.severity[2], 1);
	assert_string_equal(s.msg[3], "b: whole file");
	assert_string_equal(s.msg[4], "b:2:1 first");
	assert_string_equal(s.msg[5], "b:2:1 second");
	assert_int_equal(dl.nerrors, 4);
	assert_int_equal(dl.nwarnings, 2);
	assert_int_equal(dl.oom, 0);
}

static void test_a_message_lost_to_memory_is_counted_and_marks_oom(void **state)
{
	struct diag_list dl = {0};
	struct seen s = {0};

	(void)state;
	add(&dl, 0, 1, 1, 1, "kept");
	diag_add(&dl, 0, 2, 1, 0, NULL);
	diag_flush(&dl, collect, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.msg[0], "kept");
	/* the load must still fail: the lost message was an error */
	assert_int_equal(dl.nerrors, 1);
	assert_int_equal(dl.oom, 1);
}

static void test_flush_without_a_callback_frees_and_the_list_is_reusable(void **state)
{
	struct diag_list dl = {0};
	struct seen s = {0};

	(void)state;
	for (int i = 0; i < 40; i++) /* past the first growth */
		add(&dl, 0, 40 - i, 1, 0, "dropped");
	diag_flush(&dl, NULL, NULL);
	assert_int_equal(dl.n, 0);
	add(&dl, 0, 1, 1, 0, "again");
	diag_flush(&dl, collect, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.msg[0], "again");
	assert_int_equal(dl.nerrors, 41);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flush_sorts_by_file_line_column_then_order_found),
	    cmocka_unit_test(test_a_message_lost_to_memory_is_counted_and_marks_oom),
	    cmocka_unit_test(test_flush_without_a_callback_frees_and_the_list_is_reusable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
