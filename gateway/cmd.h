/*
 * cmd.h: the daemon's side of the control protocol: one handler per row
 * of commands.def, the code check, and the MQTT command and ack topics.
 *
 * A request is a JSON object {"cmd": NAME, ...}; the reply is
 * {"ok": true, ...} or {"ok": false, "error": "..."} (see commands.h).
 */
#ifndef SH_CMD_H
#define SH_CMD_H

#include <stddef.h>

struct config;
struct panel;
struct store;
struct registry;
struct users;
struct buses;
struct ctl;
struct status_deps;
struct cJSON;

/* What the handlers work on. The daemon owns it and keeps the pointers
 * current across a reload; buses may be NULL (no Modbus). */
struct cmd_ctx {
	const struct config *cfg;
	struct panel *panel;
	struct store *store;
	struct registry *reg;
	struct users *users;
	struct buses *buses;
	struct ctl *ctl;             /* for deferred replies */
	struct selfcheck *selfcheck; /* reports off the loop's thread; NULL: unavailable */
	const struct status_deps *status;
	/* After a command changed the panel: let the rules hear about it,
	 * then write and schedule what follows. */
	void (*after)(void *arg);
	void *arg;
	/* Set while a handler runs for a user whose code was checked (a code
	 * in the request, or a web panel session made from one): handlers
	 * that depend on the role ask users_role(by). */
	int code_user;
};

/* Run one request as its "by" or, with a "code", as the code's user.
 * from_mqtt: a code is required for any change and only the commands the
 * table allows over MQTT run; on the control socket (whose file mode
 * decides who may talk to it) a code given is checked all the same.
 * Returns the reply (the caller frees it) or CTL_DEFERRED. */
struct cJSON *cmd_run(struct cmd_ctx *c, const struct cJSON *req, int from_mqtt);

/* Run a request for user, whose code was checked when the web panel's
 * session started (wpanel.c): "by" and "code" in req are ignored, the
 * handler records user. The caller checks which commands it offers and
 * frees the reply (never CTL_DEFERRED: deferred commands are not offered). */
struct cJSON *cmd_run_user(struct cmd_ctx *c, const struct cJSON *req, const char *user);

/* Check code for command name (or "login"), as cmd_run does: a wrong code
 * is an event and a warning that name the claimed by, counts towards the
 * lock-out, and a lock it starts raises the tamper alarm. Returns 0 with
 * *user (valid until the user is deleted) and *duress set; -EACCES or
 * -EAGAIN (locked) with msg ("login refused: wrong code"). Never logs the
 * code. */
int cmd_check_code(struct cmd_ctx *c, const char *name, const char *code, const char *by,
                   const char **user, int *duress, char *msg, size_t msglen);
/* A duress code was used: the silent panic alarm (after the command). */
void cmd_duress(struct cmd_ctx *c);

/* PREFIX/SITE/command: a payload into a reply for PREFIX/SITE/command/
 * result, with the request's "id" as "request". The caller frees it. */
struct cJSON *cmd_mqtt_request(struct cmd_ctx *c, const void *payload, int len);

/* PREFIX/SITE/ack from the militia: {"alarm": ID, "by": "who"}. Anything
 * else is logged and changes nothing. */
void cmd_militia_ack(struct cmd_ctx *c, const char *topic, const void *payload, int len);

/* {"ok": false, "error": fmt with arg}. The caller frees it. */
struct cJSON *cmd_error(const char *fmt, const char *arg);

#endif
