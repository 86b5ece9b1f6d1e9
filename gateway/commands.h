/*
 * commands.h: the command table of the control protocol, shared by
 * safehoused and safehousectl.
 *
 * The rows are in commands.def. From them come safehousectl's help text
 * and its parsing of arguments into a JSON request (here), and the
 * daemon's dispatch, its read-only and MQTT checks and its "unknown
 * command" hint (cmd.c). The requests and replies on the wire are the
 * same whichever way they come (control socket or MQTT).
 */
#ifndef SH_COMMANDS_H
#define SH_COMMANDS_H

#include <stddef.h>
#include <stdio.h>

struct cJSON;

enum cmd_flag {
	CMD_READONLY = 1 << 0, /* changes nothing: no code needed anywhere */
	CMD_CODE = 1 << 1,     /* changes state: over MQTT only with a user code */
	CMD_MQTT = 1 << 2,     /* may come over MQTT (command topic, Home Assistant) */
	CMD_DEFERRED = 1 << 3, /* answered later by a bus worker (ctl_defer) */
};

enum cmd_id {
#define CMD(name, flags, parse, print, synopsis, help) CMD_ID_##name,
#include "commands.def"
#undef CMD
	CMD__COUNT
};

/* What safehousectl read from its command line, for a command's parser.
 * Options are global (they may come before or after the command); each
 * parser uses those it knows. */
struct cmd_args {
	int argc; /* positional arguments after the command's name */
	char *const *argv;
	const char *by;   /* --by, or the login name; never NULL */
	const char *code; /* --code, or NULL */
	const char *for_s, *reason, *zone, *since, *limit, *role, *units;
	const char *from, *to, *format, *lang, *output, *note; /* report, inspect */
	const char *seconds;                                   /* test output --seconds */
	int all, force, sirens, pin_stdin, duress;
	/* Reads a PIN (users add/passwd): from the terminal without echo, or
	 * a line of stdin. Returns 0, or -1 when none was given. */
	int (*read_pin)(int from_stdin, const char *prompt, char *buf, size_t size);
};

/* A parser's result: the request is complete, or wrong (usage), or
 * refused with a message of its own in err. */
enum { CMD_ARGS_OK = 0, CMD_ARGS_USAGE = -1, CMD_ARGS_ERROR = -2, CMD_ARGS_UNKNOWN = -3 };

typedef int (*cmd_parse_fn)(const struct cmd_args *a, struct cJSON *req, char *err, size_t errlen);

struct command {
	const char *name;
	unsigned flags; /* enum cmd_flag */
	cmd_parse_fn parse;
	const char *synopsis, *help;
};

extern const struct command commands[CMD__COUNT];

/* The row of a name, or NULL. */
const struct command *commands_lookup(const char *name);
static inline enum cmd_id commands_id(const struct command *c)
{
	return (enum cmd_id)(c - commands);
}
/* The names, in table order, NULL-terminated (for sh_suggest). */
extern const char *const commands_names[CMD__COUNT + 1];

/* "unknown command "X"; did you mean "Y"? (known: status, ...)". */
void commands_unknown(const char *name, char *buf, size_t size);

/* The "commands:" part of safehousectl's help, one entry per row. */
void commands_usage(FILE *f);

/* safehousectl's arguments into a request: {"cmd": name, ...the command's
 * fields, "code"}. Returns CMD_ARGS_OK with *req set (the caller frees
 * it), or another CMD_ARGS_* with *req NULL and, for CMD_ARGS_ERROR and
 * CMD_ARGS_UNKNOWN, the message in err. */
int commands_request(const char *name, const struct cmd_args *a, struct cJSON **req, char *err,
                     size_t errlen);

#endif
