/*
 * commands.c: the command table (commands.def) and safehousectl's parsing
 * of its arguments into requests.
 */
#include "commands.h"
#include "compliance.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../sensors/point.h"

/* ---- parsers: one per grammar ------------------------------------------- */

static void add_by(const struct cmd_args *a, cJSON *req)
{
	cJSON_AddStringToObject(req, "by", a->by);
}

/* 90s, 30m, 2h, 1d, 1h30m into whole seconds. */
static int parse_duration(const char *s, int64_t *secs)
{
	int64_t ms;
	if (sh_parse_duration(s, &ms) < 0 || ms % 1000)
		return -1;
	*secs = ms / 1000;
	return 0;
}

/* A duration back from now, or a local date [time], into UTC epoch ms. */
static int parse_since(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	int64_t secs;
	const char *end;
	if (parse_duration(s, &secs) == 0) {
		*ms = ((int64_t)time(NULL) - secs) * 1000;
		return 0;
	}
	end = strptime(s, "%Y-%m-%d %H:%M", &tm);
	if (!end || *end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || *end)
		return -1;
	tm.tm_isdst = -1;
	*ms = (int64_t)mktime(&tm) * 1000;
	return 0;
}

/* An alarm id: a positive whole number. */
static int add_alarm_id(const char *cmd, const char *arg, cJSON *req, char *err, size_t errlen)
{
	char *end;
	long long id;
	errno = 0;
	id = strtoll(arg, &end, 10);
	if (errno || *end || id < 1 || end == arg) {
		snprintf(err, errlen, "%s: \"%s\" is not an alarm id (see 'safehousectl alarms')",
		         cmd, arg);
		return CMD_ARGS_ERROR;
	}
	cJSON_AddNumberToObject(req, "id", (double)id);
	return CMD_ARGS_OK;
}

static int parse_none(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	return a->argc ? CMD_ARGS_USAGE : CMD_ARGS_OK;
}

static int parse_by_only(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (a->argc)
		return CMD_ARGS_USAGE;
	add_by(a, req);
	return CMD_ARGS_OK;
}

static int parse_alarms(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (a->argc)
		return CMD_ARGS_USAGE;
	if (a->all)
		cJSON_AddBoolToObject(req, "all", 1);
	return CMD_ARGS_OK;
}

/* ack [ID]: no id acknowledges every active alarm. */
static int parse_ack(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	if (a->argc > 1)
		return CMD_ARGS_USAGE;
	if (a->argc == 1 && add_alarm_id("ack", a->argv[0], req, err, errlen) < 0)
		return CMD_ARGS_ERROR;
	add_by(a, req);
	return CMD_ARGS_OK;
}

static int parse_reset(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	if (a->argc != 1)
		return CMD_ARGS_USAGE;
	if (add_alarm_id("reset", a->argv[0], req, err, errlen) < 0)
		return CMD_ARGS_ERROR;
	add_by(a, req);
	return CMD_ARGS_OK;
}

static int parse_sensors(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (a->argc)
		return CMD_ARGS_USAGE;
	if (a->zone)
		cJSON_AddStringToObject(req, "zone", a->zone);
	return CMD_ARGS_OK;
}

static int parse_events(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	int64_t from;
	if (a->argc)
		return CMD_ARGS_USAGE;
	if (a->since) {
		if (parse_since(a->since, &from) < 0) {
			snprintf(err, errlen,
			         "events: --since takes a duration (1h, 30m, 2d) or a local date "
			         "(2026-11-29 or \"2026-11-29 08:00\"), not \"%s\"",
			         a->since);
			return CMD_ARGS_ERROR;
		}
		cJSON_AddNumberToObject(req, "since_ms", (double)from);
	}
	if (a->limit)
		cJSON_AddNumberToObject(req, "limit", atoi(a->limit));
	return CMD_ARGS_OK;
}

static int parse_arm(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (a->argc != 1)
		return CMD_ARGS_USAGE;
	cJSON_AddStringToObject(req, "mode", a->argv[0]);
	if (a->force)
		cJSON_AddBoolToObject(req, "force", 1);
	add_by(a, req);
	return CMD_ARGS_OK;
}

/* report: the period is read here, in the gateway's own time zone (the
 * site's), so that the daemon gets plain UTC milliseconds. */
static int parse_report(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	int64_t from, to;
	if (a->argc)
		return CMD_ARGS_USAGE;
	if (!a->from || !a->to || compliance_parse_time(a->from, &from) < 0 ||
	    compliance_parse_time(a->to, &to) < 0) {
		snprintf(err, errlen,
		         "report needs --from DATE --to DATE, each YYYY-MM-DD (site time) or RFC "
		         "3339 (2026-11-29T08:00:00Z)");
		return CMD_ARGS_ERROR;
	}
	if (to <= from) {
		snprintf(err, errlen, "report: --to must be after --from");
		return CMD_ARGS_ERROR;
	}
	if (a->format && strcmp(a->format, "text") && strcmp(a->format, "json") &&
	    strcmp(a->format, "html")) {
		snprintf(err, errlen, "report: --format is text, json or html, not \"%s\"",
		         a->format);
		return CMD_ARGS_ERROR;
	}
	if (a->lang && strcmp(a->lang, "vi") && strcmp(a->lang, "en")) {
		snprintf(err, errlen, "report: --lang is vi or en, not \"%s\"", a->lang);
		return CMD_ARGS_ERROR;
	}
	cJSON_AddNumberToObject(req, "from_ms", (double)from);
	cJSON_AddNumberToObject(req, "to_ms", (double)to);
	if (a->lang)
		cJSON_AddStringToObject(req, "lang", a->lang);
	return CMD_ARGS_OK;
}

/* inspect start | finish | CRITERION pass|fail [--note TEXT]. */
static int parse_inspect(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	if (a->argc == 1 && (!strcmp(a->argv[0], "start") || !strcmp(a->argv[0], "finish"))) {
		cJSON_AddStringToObject(req, "action", a->argv[0]);
	} else if (a->argc == 2 && (!strcmp(a->argv[1], "pass") || !strcmp(a->argv[1], "fail"))) {
		cJSON_AddStringToObject(req, "action", "result");
		cJSON_AddStringToObject(req, "criterion", a->argv[0]);
		cJSON_AddStringToObject(req, "result", a->argv[1]);
		if (a->note)
			cJSON_AddStringToObject(req, "note", a->note);
	} else {
		snprintf(err, errlen,
		         "inspect start --by NAME --code PIN | inspect CRITERION pass|fail "
		         "[--note TEXT] | inspect finish");
		return CMD_ARGS_ERROR;
	}
	add_by(a, req);
	return CMD_ARGS_OK;
}

static int parse_disable(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	int64_t secs;
	if (a->argc != 1 || !a->for_s || !a->reason) {
		snprintf(err, errlen,
		         "disable needs TARGET --for DURATION --reason TEXT, e.g. disable "
		         "smoke-101 --for 2h --reason \"thay pin\"");
		return CMD_ARGS_ERROR;
	}
	if (parse_duration(a->for_s, &secs) < 0) {
		snprintf(err, errlen,
		         "disable: --for takes a duration like 30m, 2h, 1d (at most 7d), not "
		         "\"%s\"",
		         a->for_s);
		return CMD_ARGS_ERROR;
	}
	cJSON_AddStringToObject(req, "target", a->argv[0]);
	cJSON_AddNumberToObject(req, "for_s", (double)secs);
	cJSON_AddStringToObject(req, "reason", a->reason);
	add_by(a, req);
	return CMD_ARGS_OK;
}

static int parse_enable(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (a->argc != 1)
		return CMD_ARGS_USAGE;
	cJSON_AddStringToObject(req, "target", a->argv[0]);
	add_by(a, req);
	return CMD_ARGS_OK;
}

/* test start [ZONE] [--sirens] | test stop | test output ID [--seconds N] */
static int parse_test(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (a->argc >= 1 && a->argc <= 2 && strcmp(a->argv[0], "start") == 0) {
		cJSON_AddStringToObject(req, "action", "start");
		if (a->argc == 2)
			cJSON_AddStringToObject(req, "zone", a->argv[1]);
		if (a->sirens)
			cJSON_AddBoolToObject(req, "sirens", 1);
	} else if (a->argc == 1 && strcmp(a->argv[0], "stop") == 0) {
		cJSON_AddStringToObject(req, "action", "stop");
	} else if (a->argc == 2 && strcmp(a->argv[0], "output") == 0) {
		cJSON_AddStringToObject(req, "action", "output");
		cJSON_AddStringToObject(req, "output", a->argv[1]);
		if (a->seconds) {
			char *end;
			long n = strtol(a->seconds, &end, 10);
			if (*end || end == a->seconds || n < 1 || n > 30) {
				snprintf(err, errlen, "test output: --seconds %s: 1 to 30",
				         a->seconds);
				return CMD_ARGS_ERROR;
			}
			cJSON_AddNumberToObject(req, "seconds", (double)n);
		}
	} else {
		return CMD_ARGS_USAGE;
	}
	add_by(a, req);
	return CMD_ARGS_OK;
}

/* modbus scan BUS [--units A-B|A] | modbus read BUS UNIT TABLE ADDRESS [COUNT] */
static int parse_modbus(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (a->argc == 2 && strcmp(a->argv[0], "scan") == 0) {
		int from = 1, to = 247;
		cJSON_AddStringToObject(req, "action", "scan");
		cJSON_AddStringToObject(req, "bus", a->argv[1]);
		if (a->units && sscanf(a->units, "%d-%d", &from, &to) != 2 &&
		    sscanf(a->units, "%d", &from) == 1)
			to = from;
		cJSON_AddNumberToObject(req, "from", from);
		cJSON_AddNumberToObject(req, "to", to);
	} else if (a->argc >= 5 && a->argc <= 6 && strcmp(a->argv[0], "read") == 0) {
		cJSON_AddStringToObject(req, "action", "read");
		cJSON_AddStringToObject(req, "bus", a->argv[1]);
		cJSON_AddNumberToObject(req, "unit", atoi(a->argv[2]));
		cJSON_AddStringToObject(req, "table", a->argv[3]);
		cJSON_AddNumberToObject(req, "address", atoi(a->argv[4]));
		cJSON_AddNumberToObject(req, "count", a->argc == 6 ? atoi(a->argv[5]) : 1);
	} else {
		return CMD_ARGS_USAGE;
	}
	return CMD_ARGS_OK;
}

/* users [list] | users add NAME --role R [--pin-stdin] [--duress] |
 * users del NAME | users passwd NAME: the PINs are read here, never taken
 * from the command line (where ps would show them). */
static int parse_users(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	const char *action = a->argc ? a->argv[0] : "list";
	char pin[32] = "", dpin[32] = "";
	int rc = CMD_ARGS_OK;
	cJSON_AddStringToObject(req, "action", action);
	if (strcmp(action, "list") == 0) {
		if (a->argc > 1)
			return CMD_ARGS_USAGE;
	} else if (strcmp(action, "del") == 0) {
		if (a->argc != 2)
			return CMD_ARGS_USAGE;
		cJSON_AddStringToObject(req, "name", a->argv[1]);
	} else if (strcmp(action, "add") == 0 || strcmp(action, "passwd") == 0) {
		if (a->argc != 2 || (strcmp(action, "add") == 0 && !a->role)) {
			snprintf(
			    err, errlen,
			    "users add NAME --role owner|tenant|installer|inspector [--pin-stdin] "
			    "[--duress]; users passwd NAME ...");
			return CMD_ARGS_ERROR;
		}
		cJSON_AddStringToObject(req, "name", a->argv[1]);
		if (a->role)
			cJSON_AddStringToObject(req, "role", a->role);
		if (!a->read_pin ||
		    a->read_pin(a->pin_stdin, "PIN (4 to 8 digits): ", pin, sizeof(pin)) < 0 ||
		    (a->duress &&
		     a->read_pin(a->pin_stdin, "duress PIN: ", dpin, sizeof(dpin)) < 0)) {
			snprintf(err, errlen, "no PIN given");
			rc = CMD_ARGS_ERROR;
			goto out;
		}
		cJSON_AddStringToObject(req, "pin", pin);
		if (a->duress)
			cJSON_AddStringToObject(req, "duress_pin", dpin);
	} else {
		return CMD_ARGS_USAGE;
	}
	add_by(a, req);
out:
	memset(pin, 0, sizeof(pin));
	memset(dpin, 0, sizeof(dpin));
	return rc;
}

/* false-alarm ID --reason TEXT */
static int parse_false_alarm(const struct cmd_args *a, cJSON *req, char *err, size_t errlen)
{
	if (a->argc != 1 || !a->reason || !*a->reason) {
		snprintf(err, errlen,
		         "false-alarm needs ID --reason TEXT, e.g. false-alarm 12 --reason \"khói "
		         "nấu ăn\"");
		return CMD_ARGS_ERROR;
	}
	if (add_alarm_id("false-alarm", a->argv[0], req, err, errlen) < 0)
		return CMD_ARGS_ERROR;
	cJSON_AddStringToObject(req, "reason", a->reason);
	add_by(a, req);
	return CMD_ARGS_OK;
}

/* ---- the table ----------------------------------------------------------- */

const struct command commands[CMD__COUNT] = {
#define CMD(name, flags, parse, print, synopsis, help) {#name, flags, parse, synopsis, help},
#include "commands.def"
#undef CMD
};

const char *const commands_names[CMD__COUNT + 1] = {
#define CMD(name, flags, parse, print, synopsis, help) #name,
#include "commands.def"
#undef CMD
    NULL};

/* A row's name is a C identifier (false_alarm); people type a hyphen
 * (false-alarm): both name the same command. */
static int name_is(const char *row, const char *name)
{
	for (; *row && *name; row++, name++)
		if (*row != *name && !(*row == '_' && *name == '-'))
			return 0;
	return *row == *name;
}

const struct command *commands_lookup(const char *name)
{
	for (int i = 0; name && i < CMD__COUNT; i++)
		if (name_is(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* A name as people type it: false_alarm is false-alarm. */
static const char *typed(const char *name, char *buf, size_t size)
{
	size_t i;
	for (i = 0; name[i] && i + 1 < size; i++)
		buf[i] = name[i] == '_' ? '-' : name[i];
	buf[i] = '\0';
	return buf;
}

void commands_unknown(const char *name, char *buf, size_t size)
{
	char t[32];
	const char *hint = name ? sh_suggest(name, commands_names) : NULL;
	size_t off;
	int n;
	n = snprintf(buf, size, "unknown command \"%s\"", name ? name : "");
	if (hint && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "; did you mean \"%s\"?",
		              typed(hint, t, sizeof(t)));
	if (n < 0 || (size_t)n >= size)
		return;
	off = (size_t)n;
	for (int i = 0; i < CMD__COUNT && off < size; i++) {
		n = snprintf(buf + off, size - off, "%s%s",
		             i ? ", " : " (known: ", typed(commands[i].name, t, sizeof(t)));
		if (n < 0)
			return;
		off += (size_t)n;
	}
	if (off < size)
		snprintf(buf + off, size - off, ")");
}

/* Print text, each "\n" followed by the help column's indent. */
#define HELP_COL 23
static void put_indented(FILE *f, const char *s)
{
	for (; *s; s++) {
		fputc(*s, f);
		if (*s == '\n')
			fprintf(f, "%*s", HELP_COL, "");
	}
}

/* "  SYNOPSIS             help": the help in its column when the synopsis
 * is short, after two spaces when the line still fits, else below it. */
void commands_usage(FILE *f)
{
	for (int i = 0; i < CMD__COUNT; i++) {
		const struct command *c = &commands[i];
		const char *last = strrchr(c->synopsis, '\n');
		size_t width = strlen(last ? last + 1 : c->synopsis) + 2;
		size_t help1 = strcspn(c->help, "\n");
		fputs("  ", f);
		put_indented(f, c->synopsis);
		if (*c->help) {
			if (width + 1 <= HELP_COL)
				fprintf(f, "%*s", (int)(HELP_COL - width), "");
			else if (width + 2 + help1 <= 80)
				fputs("  ", f);
			else
				fprintf(f, "\n%*s", HELP_COL, "");
			put_indented(f, c->help);
		}
		fputc('\n', f);
	}
}

int commands_request(const char *name, const struct cmd_args *a, cJSON **req, char *err,
                     size_t errlen)
{
	const struct command *c = commands_lookup(name);
	cJSON *r;
	int rc;
	*req = NULL;
	if (!c) {
		const char *hint = sh_suggest(name, commands_names);
		char t[32];
		snprintf(err, errlen, "unknown command \"%s\"", name);
		if (hint)
			snprintf(err + strlen(err), errlen - strlen(err), "; did you mean \"%s\"?",
			         typed(hint, t, sizeof(t)));
		return CMD_ARGS_UNKNOWN;
	}
	r = cJSON_CreateObject();
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return CMD_ARGS_ERROR;
	}
	cJSON_AddStringToObject(r, "cmd", c->name);
	rc = c->parse(a, r, err, errlen);
	if (rc < 0) {
		cJSON_Delete(r);
		return rc;
	}
	if (a->code)
		cJSON_AddStringToObject(r, "code", a->code);
	*req = r;
	return CMD_ARGS_OK;
}
