/*
 * wpanel.h: the owner's panel, a web page the gateway serves on the house's
 * network (a wall tablet by the entrance, the owner's phone): the
 * annunciator (mode, alarms, faults, disablements, live), the sensors and
 * the event log, and the operations of a fire panel's front (acknowledge,
 * silence, reset, arm, disarm, disable, enable, walk test, false alarm)
 * after a log-in with a user's code.
 *
 * Built on common/web.h (libmicrohttpd, GnuTLS). safehoused loads it as the
 * plugin safehouse-web.so (plugin.h) only when "web" is configured, through
 * the vtable wpanel_plugin below; it never calls wpanel_new itself.
 *
 * Every operation runs through the control protocol's own handlers
 * (cmd_run_user), so refusals and their reasons are the ones safehousectl
 * and MQTT give, and the user is recorded as "by".
 * The log-in checks the code with cmd_check_code: the same Argon2id hashes,
 * the same lock-out (and tamper alarm) as a code over MQTT. A code travels
 * only in the body of POST /api/login and is never logged.
 *
 * API (JSON; the view routes need a log-in when "public" is false):
 *   GET  /api/info      site, language, public, https, login state
 *   GET  /api/status    the status (status_build, as upstream) + "site"
 *   GET  /api/alarms    [?all=1] the alarms command's reply
 *   GET  /api/sensors   the sensors command's reply
 *   GET  /api/events    [?since=1h|24h|7d&limit=N] the events command's reply
 *   GET  /api/stream    server-sent events: "status" (the status, at once
 *                       and on every change), "ping" every 5 s
 *   POST /api/login     {"pin": "1234"} -> {"user","role","csrf"}; 401, 429
 *   POST /api/logout    (X-CSRF-Token)
 *   POST /api/cmd       (X-CSRF-Token) {"cmd": "ack"|"silence"|"reset"|"arm"|
 *                       "disarm"|"disable"|"enable"|"test"|"false_alarm", ...
 *                       the control protocol's fields} -> its reply; 200 when
 *                       ok, 409 with "error" when refused
 *   GET  /report        [?days=N, 1..400, default 30] the compliance report of
 *                       the last N days as its printable HTML page (made on
 *                       the self-check's thread; 503 when reports are busy
 *                       or unavailable)
 *   GET  /healthz
 */
#ifndef SH_WPANEL_H
#define SH_WPANEL_H

#include <stddef.h>

struct loop;
struct cmd_ctx;
struct status_deps;
struct wpanel;

/* Both are the daemon's, kept current by it across a reload (their
 * addresses never change); the panel reads cmd->cfg for its settings. */
struct wpanel_deps {
	struct cmd_ctx *cmd;
	const struct status_deps *status;
};

/* Start serving on cmd->cfg->web.listen (which must be set). With https
 * and no cert/key, a self-signed pair is made in the database's directory
 * (web-cert.pem, web-key.pem) on the first start and its SHA-256
 * fingerprint is logged. NULL with err set. */
struct wpanel *wpanel_new(struct loop *l, const struct wpanel_deps *d, char *err, size_t errlen);
void wpanel_free(struct wpanel *p);
int wpanel_port(const struct wpanel *p);

/* The panel may have changed: the streams get the status when it differs
 * from the last one they got. Cheap when nobody watches. NULL is ignored. */
void wpanel_changed(struct wpanel *p);

/* The vtable safehouse-web.so exports as "wpanel_plugin": the four calls
 * above. */
struct wpanel_plugin {
	const char *version; /* SH_VERSION of its build: must be the daemon's */
	struct wpanel *(*create)(struct loop *l, const struct wpanel_deps *d, char *err,
	                         size_t errlen);
	void (*free)(struct wpanel *p);
	int (*port)(const struct wpanel *p);
	void (*changed)(struct wpanel *p);
};
extern const struct wpanel_plugin wpanel_plugin;

#endif
