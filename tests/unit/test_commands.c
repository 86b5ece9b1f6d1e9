/*
 * test_commands.c: the command table (commands.def): lookups and flags,
 * and safehousectl's arguments into requests, bad ones included.
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
#include <time.h>

#include "gateway/commands.h"

/* A command line: the positional words after the command's name. */
static struct cmd_args args(int argc, char **argv)
{
	struct cmd_args a = {.argc = argc, .argv = argv, .by = "tester"};
	return a;
}

static cJSON *request_ok(const char *name, const struct cmd_args *a)
{
	cJSON *req = NULL;
	char err[256] = "";
	int rc = commands_request(name, a, &req, err, sizeof(err));
	assert_int_equal(rc, CMD_ARGS_OK);
	assert_non_null(req);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(req, "cmd")), name);
	return req;
}

static int request_fails(const char *name, const struct cmd_args *a, char *err, size_t errlen)
{
	cJSON *req = (cJSON *)1;
	int rc = commands_request(name, a, &req, err, errlen);
	assert_true(rc < 0);
	assert_null(req);
	return rc;
}

static const char *str(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
	return s ? s : "(absent)";
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

/* ---- the table ------------------------------------------------------------ */

static void every_row_is_found_by_its_name(void **state)
{
	(void)state;
	for (int i = 0; i < CMD__COUNT; i++) {
		const struct command *c = commands_lookup(commands[i].name);
		assert_ptr_equal(c, &commands[i]);
		assert_int_equal(commands_id(c), i);
		assert_string_equal(commands_names[i], commands[i].name);
		assert_non_null(commands[i].parse);
	}
	assert_null(commands_names[CMD__COUNT]);
	assert_null(commands_lookup("stauts"));
	assert_null(commands_lookup(""));
	assert_null(commands_lookup(NULL));
}

static void flags_say_what_may_change_state_and_what_mqtt_may_call(void **state)
{
	(void)state;
	assert_int_equal(commands_lookup("status")->flags, CMD_READONLY | CMD_MQTT);
	assert_int_equal(commands_lookup("arm")->flags, CMD_CODE | CMD_MQTT);
	/* The installer tools answer later and only on the gateway itself. */
	assert_true(commands_lookup("modbus")->flags & CMD_DEFERRED);
	assert_false(commands_lookup("modbus")->flags & CMD_MQTT);
	assert_false(commands_lookup("users")->flags & CMD_MQTT);
	/* Every command either changes nothing or needs a code over MQTT. */
	for (int i = 0; i < CMD__COUNT; i++)
		assert_true(!(commands[i].flags & CMD_READONLY) != !(commands[i].flags & CMD_CODE));
}

static void unknown_command_names_the_nearest_and_lists_the_known(void **state)
{
	char buf[512];
	(void)state;
	commands_unknown("silense", buf, sizeof(buf));
	assert_non_null(strstr(buf, "unknown command \"silense\"; did you mean \"silence\"?"));
	assert_non_null(strstr(buf, "(known: status, alarms, ack,"));
	assert_non_null(strstr(buf, "modbus, users, report, inspect, verify, false-alarm)"));
	commands_unknown("xyzzyplugh", buf, sizeof(buf));
	assert_null(strstr(buf, "did you mean"));
	/* A small buffer is cut, never overrun. */
	commands_unknown("silense", buf, 20);
	assert_int_equal(strlen(buf), 19);
}

static void help_has_a_line_for_every_command(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	(void)state;
	commands_usage(f);
	fclose(f);
	for (int i = 0; i < CMD__COUNT; i++) {
		char line[64];
		snprintf(line, sizeof(line), "\n  %s", commands[i].name);
		/* false_alarm is typed (and shown) as false-alarm */
		for (char *p = line; *p; p++)
			if (*p == '_')
				*p = '-';
		assert_true(strncmp(text, line + 1, strlen(line) - 1) == 0 || strstr(text, line));
	}
	assert_non_null(strstr(text, "  status               site, mode,"));
	free(text);
}

/* ---- safehousectl's parsing ------------------------------------------------ */

static void no_argument_commands_refuse_extra_words(void **state)
{
	char *extra[] = {"now"};
	struct cmd_args a = args(0, NULL), b = args(1, extra);
	char err[256];
	cJSON *req;
	(void)state;
	req = request_ok("status", &a);
	assert_int_equal(cJSON_GetArraySize(req), 1); /* only "cmd" */
	cJSON_Delete(req);
	assert_int_equal(request_fails("status", &b, err, sizeof(err)), CMD_ARGS_USAGE);
	assert_int_equal(request_fails("disarm", &b, err, sizeof(err)), CMD_ARGS_USAGE);
	assert_int_equal(request_fails("events", &b, err, sizeof(err)), CMD_ARGS_USAGE);
}

static void reset_takes_one_alarm_id_and_by(void **state)
{
	char *good[] = {"4"}, *bad[] = {"4x"}, *zero[] = {"0"};
	struct cmd_args a = args(1, good);
	char err[256];
	cJSON *req;
	(void)state;
	a.by = "Lan";
	req = request_ok("reset", &a);
	assert_int_equal(num(req, "id"), 4);
	assert_string_equal(str(req, "by"), "Lan");
	assert_null(cJSON_GetObjectItem(req, "code"));
	cJSON_Delete(req);
	a = args(1, bad);
	assert_int_equal(request_fails("reset", &a, err, sizeof(err)), CMD_ARGS_ERROR);
	assert_string_equal(err, "reset: \"4x\" is not an alarm id (see 'safehousectl alarms')");
	a = args(1, zero);
	assert_int_equal(request_fails("reset", &a, err, sizeof(err)), CMD_ARGS_ERROR);
	a = args(0, NULL);
	assert_int_equal(request_fails("reset", &a, err, sizeof(err)), CMD_ARGS_USAGE);
}

static void ack_without_an_id_still_carries_the_code(void **state)
{
	struct cmd_args a = args(0, NULL);
	cJSON *req;
	(void)state;
	a.code = "2468";
	req = request_ok("ack", &a);
	assert_null(cJSON_GetObjectItem(req, "id"));
	assert_string_equal(str(req, "code"), "2468");
	assert_string_equal(str(req, "by"), "tester");
	cJSON_Delete(req);
}

static void events_since_takes_a_duration_or_a_date(void **state)
{
	struct cmd_args a = args(0, NULL);
	char err[256];
	int64_t now = (int64_t)time(NULL) * 1000;
	cJSON *req;
	(void)state;
	a.since = "1h";
	a.limit = "50";
	req = request_ok("events", &a);
	assert_true(num(req, "since_ms") <= (double)(now - 3600 * 1000 + 5000));
	assert_true(num(req, "since_ms") >= (double)(now - 3600 * 1000 - 5000));
	assert_int_equal(num(req, "limit"), 50);
	cJSON_Delete(req);
	a.since = "2026-11-29 08:00";
	req = request_ok("events", &a);
	assert_true(num(req, "since_ms") > 0);
	cJSON_Delete(req);
	a.since = "yesterday";
	assert_int_equal(request_fails("events", &a, err, sizeof(err)), CMD_ARGS_ERROR);
	assert_non_null(strstr(err, "--since takes a duration"));
	assert_non_null(strstr(err, "\"yesterday\""));
}

static void disable_needs_a_duration_and_a_reason(void **state)
{
	char *target[] = {"smoke-101"};
	struct cmd_args a = args(1, target);
	char err[256];
	cJSON *req;
	(void)state;
	a.for_s = "2h";
	assert_int_equal(request_fails("disable", &a, err, sizeof(err)), CMD_ARGS_ERROR);
	assert_non_null(strstr(err, "disable needs TARGET --for DURATION --reason TEXT"));
	a.reason = "thay pin";
	req = request_ok("disable", &a);
	assert_string_equal(str(req, "target"), "smoke-101");
	assert_int_equal(num(req, "for_s"), 7200);
	assert_string_equal(str(req, "reason"), "thay pin");
	cJSON_Delete(req);
	a.for_s = "1500ms"; /* not whole seconds */
	assert_int_equal(request_fails("disable", &a, err, sizeof(err)), CMD_ARGS_ERROR);
	assert_non_null(strstr(err, "--for takes a duration"));
	a.for_s = "soon";
	assert_int_equal(request_fails("disable", &a, err, sizeof(err)), CMD_ARGS_ERROR);
}

static void arm_and_test_take_their_words(void **state)
{
	char *away[] = {"away"}, *start[] = {"start", "room-101"}, *stop[] = {"stop"};
	char *bogus[] = {"pause"};
	struct cmd_args a = args(1, away);
	char err[256];
	cJSON *req;
	(void)state;
	a.force = 1;
	req = request_ok("arm", &a);
	assert_string_equal(str(req, "mode"), "away");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(req, "force")));
	cJSON_Delete(req);
	a = args(2, start);
	a.sirens = 1;
	req = request_ok("test", &a);
	assert_string_equal(str(req, "action"), "start");
	assert_string_equal(str(req, "zone"), "room-101");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(req, "sirens")));
	cJSON_Delete(req);
	a = args(1, stop);
	req = request_ok("test", &a);
	assert_string_equal(str(req, "action"), "stop");
	cJSON_Delete(req);
	a = args(1, bogus);
	assert_int_equal(request_fails("test", &a, err, sizeof(err)), CMD_ARGS_USAGE);
	a = args(0, NULL);
	assert_int_equal(request_fails("arm", &a, err, sizeof(err)), CMD_ARGS_USAGE);
}

static void modbus_scan_and_read(void **state)
{
	char *scan[] = {"scan", "rs485"},
	     *read[] = {"read", "rs485", "3", "holding_register", "100"};
	char *short_read[] = {"read", "rs485", "3"};
	struct cmd_args a = args(2, scan);
	char err[256];
	cJSON *req;
	(void)state;
	req = request_ok("modbus", &a);
	assert_int_equal(num(req, "from"), 1);
	assert_int_equal(num(req, "to"), 247);
	assert_null(cJSON_GetObjectItem(req, "by"));
	cJSON_Delete(req);
	a.units = "5-9";
	req = request_ok("modbus", &a);
	assert_int_equal(num(req, "from"), 5);
	assert_int_equal(num(req, "to"), 9);
	cJSON_Delete(req);
	a.units = "7";
	req = request_ok("modbus", &a);
	assert_int_equal(num(req, "from"), 7);
	assert_int_equal(num(req, "to"), 7);
	cJSON_Delete(req);
	a = args(5, read);
	req = request_ok("modbus", &a);
	assert_string_equal(str(req, "table"), "holding_register");
	assert_int_equal(num(req, "unit"), 3);
	assert_int_equal(num(req, "address"), 100);
	assert_int_equal(num(req, "count"), 1);
	cJSON_Delete(req);
	a = args(3, short_read);
	assert_int_equal(request_fails("modbus", &a, err, sizeof(err)), CMD_ARGS_USAGE);
}

static int fake_pin(int from_stdin, const char *prompt, char *buf, size_t size)
{
	(void)from_stdin;
	snprintf(buf, size, "%s", strstr(prompt, "duress") ? "9999" : "2468");
	return 0;
}

static int no_pin(int from_stdin, const char *prompt, char *buf, size_t size)
{
	(void)from_stdin;
	(void)prompt;
	(void)buf;
	(void)size;
	return -1;
}

static void users_add_reads_the_pins_not_the_command_line(void **state)
{
	char *add[] = {"add", "Lan"}, *del[] = {"del"}, *odd[] = {"rename", "Lan"};
	struct cmd_args a = args(2, add);
	char err[256];
	cJSON *req;
	(void)state;
	a.read_pin = fake_pin;
	assert_int_equal(request_fails("users", &a, err, sizeof(err)), CMD_ARGS_ERROR);
	assert_non_null(strstr(err, "--role owner|tenant|installer"));
	a.role = "owner";
	a.duress = 1;
	req = request_ok("users", &a);
	assert_string_equal(str(req, "action"), "add");
	assert_string_equal(str(req, "name"), "Lan");
	assert_string_equal(str(req, "pin"), "2468");
	assert_string_equal(str(req, "duress_pin"), "9999");
	cJSON_Delete(req);
	a.read_pin = no_pin;
	assert_int_equal(request_fails("users", &a, err, sizeof(err)), CMD_ARGS_ERROR);
	assert_string_equal(err, "no PIN given");
	a = args(0, NULL);
	req = request_ok("users", &a);
	assert_string_equal(str(req, "action"), "list");
	cJSON_Delete(req);
	a = args(1, del);
	assert_int_equal(request_fails("users", &a, err, sizeof(err)), CMD_ARGS_USAGE);
	a = args(2, odd);
	assert_int_equal(request_fails("users", &a, err, sizeof(err)), CMD_ARGS_USAGE);
}

static void unknown_command_is_refused_with_a_hint(void **state)
{
	struct cmd_args a = args(0, NULL);
	char err[256];
	(void)state;
	assert_int_equal(request_fails("stauts", &a, err, sizeof(err)), CMD_ARGS_UNKNOWN);
	assert_string_equal(err, "unknown command \"stauts\"; did you mean \"status\"?");
	assert_int_equal(request_fails("zzzzzzzz", &a, err, sizeof(err)), CMD_ARGS_UNKNOWN);
	assert_string_equal(err, "unknown command \"zzzzzzzz\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_row_is_found_by_its_name),
	    cmocka_unit_test(flags_say_what_may_change_state_and_what_mqtt_may_call),
	    cmocka_unit_test(unknown_command_names_the_nearest_and_lists_the_known),
	    cmocka_unit_test(help_has_a_line_for_every_command),
	    cmocka_unit_test(no_argument_commands_refuse_extra_words),
	    cmocka_unit_test(reset_takes_one_alarm_id_and_by),
	    cmocka_unit_test(ack_without_an_id_still_carries_the_code),
	    cmocka_unit_test(events_since_takes_a_duration_or_a_date),
	    cmocka_unit_test(disable_needs_a_duration_and_a_reason),
	    cmocka_unit_test(arm_and_test_take_their_words),
	    cmocka_unit_test(modbus_scan_and_read),
	    cmocka_unit_test(users_add_reads_the_pins_not_the_command_line),
	    cmocka_unit_test(unknown_command_is_refused_with_a_hint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
