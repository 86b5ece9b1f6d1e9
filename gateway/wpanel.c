/*
 * wpanel.c: the owner's panel: routes, log-in, operations and the live
 * stream (wpanel.h).
 */
#include "gateway/wpanel.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/web.h"
#include "common/webcert.h"
#include "gateway/cmd.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/report_html.h"
#include "gateway/selfcheck.h"
#include "gateway/loop.h"
#include "gateway/status.h"
#include "gateway/store.h"
#include "gateway/users.h"
#include "sensors/point.h"

extern const struct web_asset gateway_assets[];
extern const size_t gateway_nassets;

/* A ping on every stream this often; the page says it has lost the gateway
 * after three missed ones (a stopped daemon closes the stream at once; a
 * pulled cable or a frozen board only stops the pings). */
#define PING_MS 5000

/* Requests that change something: a bucket of BURST, one more every
 * REFILL_MS (a person taps a few buttons; a script does not get to try
 * codes faster than the lock-out already allows, nor flood the log). */
#define POST_BURST 20
#define POST_REFILL_MS 250
#define LOGIN_BURST 10
#define LOGIN_REFILL_MS 2000

struct bucket {
	int tokens;
	int64_t last_ms;
};

/* A compliance report being made on the self-check's thread. */
struct report_job {
	struct wpanel *p; /* NULL once the panel is gone: the job only frees itself */
	struct web_req *r;
	int64_t from, to;
	int lang;
	struct report_job *next;
};

struct wpanel {
	struct wpanel_deps d;
	struct loop *loop;
	struct web *web;
	struct web_route *routes;
	size_t nroutes;
	int ping_timer;
	unsigned stream_seq;
	char *last_status; /* what the streams got last */
	struct bucket posts, logins;
	char *cert, *key; /* the self-signed pair's paths, or NULL */
	struct report_job *jobs;
};

static const struct config *cfg(const struct wpanel *p)
{
	return p->d.cmd->cfg;
}

static int take(struct bucket *b, int burst, int refill_ms)
{
	int64_t now = loop_mono_ms();
	if (!b->last_ms) {
		b->tokens = burst;
		b->last_ms = now;
	}
	while (b->tokens < burst && now - b->last_ms >= refill_ms) {
		b->tokens++;
		b->last_ms += refill_ms;
	}
	if (b->tokens >= burst)
		b->last_ms = now;
	if (b->tokens <= 0)
		return -1;
	b->tokens--;
	return 0;
}

/* A code in a URL ends up in browser history, proxies' logs and the
 * Referer header: refused before anything else, and never counted or
 * recorded. */
static int pin_in_url(struct web_req *r)
{
	static const char *const keys[] = {"pin", "code", "password"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (web_req_query(r, keys[i]))
			return 1;
	return 0;
}

#define NO_PIN_IN_URL(r)                                                                           \
	do {                                                                                       \
		if (pin_in_url(r))                                                                 \
			return web_reply_error(r, 400,                                             \
			                       "a code is never sent in a URL; send it in the "    \
			                       "body of POST /api/login");                         \
	} while (0)

static cJSON *status_json(struct wpanel *p)
{
	const struct config *c = cfg(p);
	cJSON *o = status_build(p->d.status, 0);
	char at[40];
	cJSON_AddStringToObject(o, "site", c->site.id);
	if (c->site.address)
		cJSON_AddStringToObject(o, "address", c->site.address);
	if (c->site.phone)
		cJSON_AddStringToObject(o, "phone", c->site.phone);
	store_format_time(loop_wall_ms(), at, sizeof(at));
	cJSON_AddStringToObject(o, "now", at);
	return o;
}

/* The status without "now", for telling a change from a tick. */
static char *status_text(struct wpanel *p)
{
	cJSON *o = status_build(p->d.status, 0);
	char *t = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return t;
}

/* A read-only command of the control protocol: its reply, as it is. */
static int run_read(struct wpanel *p, struct web_req *r, cJSON *req)
{
	cJSON *rep = cmd_run(p->d.cmd, req, 0);
	cJSON_Delete(req);
	return web_reply_json(r, cJSON_IsTrue(cJSON_GetObjectItem(rep, "ok")) ? 200 : 400, rep);
}

static int h_info(void *ctx, struct web_req *r)
{
	struct wpanel *p = ctx;
	const struct config *c = cfg(p);
	cJSON *o = cJSON_CreateObject();
	NO_PIN_IN_URL(r);
	cJSON_AddStringToObject(o, "site", c->site.id);
	if (c->site.name)
		cJSON_AddStringToObject(o, "name", c->site.name);
	cJSON_AddStringToObject(o, "language",
	                        web_req_lang(r, c->web.language == LANG_EN ? "en" : "vi"));
	cJSON_AddBoolToObject(o, "public", c->web.public_view);
	cJSON_AddBoolToObject(o, "https", c->web.https);
	cJSON_AddNumberToObject(o, "session_idle_s", c->web.session_idle_s);
	if (web_req_user(r)) {
		cJSON_AddStringToObject(o, "user", web_req_user(r));
		cJSON_AddStringToObject(o, "role", web_req_role(r));
		cJSON_AddStringToObject(o, "csrf", web_req_csrf(r));
	}
	return web_reply_json(r, 200, o);
}

static int h_status(void *ctx, struct web_req *r)
{
	NO_PIN_IN_URL(r);
	return web_reply_json(r, 200, status_json(ctx));
}

static int h_alarms(void *ctx, struct web_req *r)
{
	cJSON *req = cJSON_CreateObject();
	const char *all = web_req_query(r, "all");
	NO_PIN_IN_URL(r);
	cJSON_AddStringToObject(req, "cmd", "alarms");
	cJSON_AddBoolToObject(req, "all", all && strcmp(all, "0") != 0);
	return run_read(ctx, r, req);
}

static int h_sensors(void *ctx, struct web_req *r)
{
	cJSON *req = cJSON_CreateObject();
	NO_PIN_IN_URL(r);
	cJSON_AddStringToObject(req, "cmd", "sensors");
	return run_read(ctx, r, req);
}

static int h_events(void *ctx, struct web_req *r)
{
	const char *since = web_req_query(r, "since");
	const char *limit = web_req_query(r, "limit");
	cJSON *req;
	int64_t ms = 3600 * 1000;
	long n = 200;
	char *end;
	NO_PIN_IN_URL(r);
	if (since && (sh_parse_duration(since, &ms) < 0 || ms <= 0 || ms > 400LL * 86400 * 1000))
		return web_reply_error(r, 400,
		                       "\"since\" must be a duration such as 1h, 24h or 7d");
	if (limit) {
		n = strtol(limit, &end, 10);
		if (!*limit || *end || n < 1 || n > 5000)
			return web_reply_error(r, 400, "\"limit\" must be 1 to 5000");
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "events");
	cJSON_AddNumberToObject(req, "since_ms", (double)(loop_wall_ms() - ms));
	cJSON_AddNumberToObject(req, "limit", (double)n);
	return run_read(ctx, r, req);
}

static int h_stream(void *ctx, struct web_req *r)
{
	struct wpanel *p = ctx;
	char topic[32], *text;
	int rc;
	NO_PIN_IN_URL(r);
	/* The streams open so far first get what changed since the last tick,
	 * so that all of them agree with last_status. */
	wpanel_changed(p);
	/* Its own topic, so that the first status reaches this stream alone;
	 * changes go to every stream. */
	snprintf(topic, sizeof(topic), "p%u", ++p->stream_seq);
	rc = web_reply_sse(r, topic);
	if (rc < 0)
		return rc;
	{
		cJSON *o = status_json(p);
		text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
	}
	if (text)
		web_sse_send(p->web, topic, "status", text);
	free(text);
	if (!p->last_status)
		p->last_status = status_text(p);
	return 0;
}

static void job_end(struct report_job *j)
{
	if (j->p)
		for (struct report_job **pp = &j->p->jobs; *pp; pp = &(*pp)->next)
			if (*pp == j) {
				*pp = j->next;
				break;
			}
	free(j);
}

static void job_fail(struct report_job *j, int status, const char *msg)
{
	char body[256];
	cJSON *o;
	if (j->p) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "error", msg);
		if (cJSON_PrintPreallocated(o, body, sizeof(body), 0))
			web_later_reply(j->r, status, "application/json", body, strlen(body));
		else
			web_later_reply(j->r, 500, "application/json", "{}", 2);
		cJSON_Delete(o);
	}
	job_end(j);
}

static void report_done(void *ctx, cJSON *report, const char *err)
{
	struct report_job *j = ctx;
	char *html = NULL;
	size_t len = 0;
	FILE *f;
	if (!j->p)
		goto out;
	if (!report) {
		job_fail(j, 503, err ? err : "the report failed");
		j = NULL;
		goto out;
	}
	f = open_memstream(&html, &len);
	if (!f || report_html(report, f) < 0) {
		if (f)
			fclose(f);
		free(html);
		job_fail(j, 500, "cannot render the report");
		j = NULL;
		goto out;
	}
	fclose(f);
	web_later_reply(j->r, 200, "text/html; charset=utf-8", html, len);
	free(html);
out:
	cJSON_Delete(report);
	if (j)
		job_end(j);
}

/* What was written before the request is committed: the report's own
 * connection sees it (as cmd.c's report). */
static void report_committed(void *ctx, int rc)
{
	struct report_job *j = ctx;
	(void)rc; /* a refused write is a fault in the status; read what is there */
	if (!j->p) {
		job_end(j);
		return;
	}
	if (!j->p->d.cmd->selfcheck ||
	    selfcheck_report(j->p->d.cmd->selfcheck, j->from, j->to, j->lang, report_done, j) < 0)
		job_fail(j, 503, "reports are busy or unavailable; try again");
}

/* The compliance report of the last ?days=N (1 to 400, default 30) as its
 * printable HTML page, made on the self-check's thread. */
static int h_report(void *ctx, struct web_req *r)
{
	struct wpanel *p = ctx;
	const char *days = web_req_query(r, "days");
	struct report_job *j;
	long n = 30;
	char *end;
	NO_PIN_IN_URL(r);
	if (days) {
		n = strtol(days, &end, 10);
		if (!*days || *end || n < 1 || n > 400)
			return web_reply_error(r, 400, "\"days\" must be 1 to 400");
	}
	if (!p->d.cmd->selfcheck)
		return web_reply_error(r, 503, "reports are unavailable (see the log)");
	if (take(&p->posts, POST_BURST, POST_REFILL_MS) < 0)
		return web_reply_error(r, 429, "too many requests; wait a moment");
	j = calloc(1, sizeof(*j));
	if (!j)
		return web_reply_error(r, 503, "out of memory");
	j->p = p;
	j->r = r;
	j->to = loop_wall_ms();
	j->from = j->to - (int64_t)n * 86400 * 1000;
	j->lang = strcmp(web_req_lang(r, cfg(p)->web.language == LANG_EN ? "en" : "vi"), "en")
	              ? LANG_VI
	              : LANG_EN;
	j->next = p->jobs;
	p->jobs = j;
	web_reply_later(r);
	if (store_commit_then(p->d.cmd->store, report_committed, j) < 0)
		report_committed(j, -1);
	return 0;
}

static int h_health(void *ctx, struct web_req *r)
{
	(void)ctx;
	return web_reply_json(r, 200, NULL);
}

static int h_login(void *ctx, struct web_req *r)
{
	struct wpanel *p = ctx;
	const cJSON *j = web_req_json(r);
	const cJSON *pin = j ? cJSON_GetObjectItemCaseSensitive(j, "pin") : NULL;
	const char *user = NULL, *role;
	char msg[320], csrf[80], who[80], detail[96];
	int duress = 0, rc;
	cJSON *o;
	NO_PIN_IN_URL(r);
	if (!j)
		return web_reply_error(r, 400, "expected a JSON object {\"pin\": \"1234\"}");
	if (!cJSON_IsString(pin) || !pin->valuestring[0] || strlen(pin->valuestring) > 16)
		return web_reply_error(r, 400, "expected {\"pin\": \"1234\"} (4 to 8 digits)");
	if (take(&p->logins, LOGIN_BURST, LOGIN_REFILL_MS) < 0)
		return web_reply_error(r, 429, "too many log-in attempts; wait a few seconds");
	snprintf(who, sizeof(who), "web %s", web_req_peer(r));
	rc = cmd_check_code(p->d.cmd, "login", pin->valuestring, who, &user, &duress, msg,
	                    sizeof(msg));
	if (rc == -EAGAIN)
		return web_reply_error(r, 429, msg);
	if (rc < 0)
		return web_reply_error(r, 401, msg);
	role = users_role(p->d.cmd->users, user);
	if (web_session_start(r, user, role ? role : "", csrf, sizeof(csrf)) < 0)
		return web_reply_error(r, 503, "too many sessions");
	snprintf(detail, sizeof(detail), "web panel log-in from %s", web_req_peer(r));
	store_event(p->d.cmd->store, loop_wall_ms(), user, "login", NULL, NULL, 0, 0, detail);
	log_notice("web panel: %s logged in from %s", user, web_req_peer(r));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", user);
	cJSON_AddStringToObject(o, "role", role ? role : "");
	cJSON_AddStringToObject(o, "csrf", csrf);
	if (duress)
		cmd_duress(p->d.cmd);
	return web_reply_json(r, 200, o);
}

static int h_logout(void *ctx, struct web_req *r)
{
	(void)ctx;
	web_session_end(r);
	return web_reply_json(r, 200, NULL);
}

/* The operations of the panel's front; the rest of the protocol (users,
 * modbus, report, inspect, test output) stays with safehousectl. */
static int offered(const cJSON *req)
{
	static const char *const names[] = {"ack",     "silence", "reset", "arm",        "disarm",
	                                    "disable", "enable",  "test",  "false_alarm"};
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(req, "action");
	if (!cJSON_IsString(cmd))
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(cmd->valuestring, names[i]) == 0)
			return strcmp(names[i], "test") != 0 ||
			       (cJSON_IsString(action) &&
			        (strcmp(action->valuestring, "start") == 0 ||
			         strcmp(action->valuestring, "stop") == 0));
	return 0;
}

static int h_cmd(void *ctx, struct web_req *r)
{
	struct wpanel *p = ctx;
	const cJSON *j = web_req_json(r);
	const char *user = web_req_user(r);
	cJSON *rep;
	int ok;
	NO_PIN_IN_URL(r);
	if (!j)
		return web_reply_error(r, 400, "expected a JSON object {\"cmd\": NAME, ...}");
	if (!offered(j))
		return web_reply_error(r, 400,
		                       "\"cmd\" must be ack, silence, reset, arm, disarm, disable, "
		                       "enable, test (start or stop) or false_alarm");
	if (take(&p->posts, POST_BURST, POST_REFILL_MS) < 0)
		return web_reply_error(r, 429, "too many requests; wait a moment");
	/* A user deleted since the log-in speaks no more. */
	if (!users_role(p->d.cmd->users, user)) {
		web_sessions_drop_user(p->web, user);
		return web_reply_error(r, 401, "login required");
	}
	rep = cmd_run_user(p->d.cmd, j, user);
	ok = cJSON_IsTrue(cJSON_GetObjectItem(rep, "ok"));
	{
		/* The reason may quote what the client sent (a target): no
		 * control bytes reach the log (a "\n" forging a line). */
		const char *e =
		    ok ? "done" : cJSON_GetStringValue(cJSON_GetObjectItem(rep, "error"));
		char line[256];
		size_t i = 0;
		for (; e && e[i] && i + 1 < sizeof(line); i++)
			line[i] = (unsigned char)e[i] < 0x20 || e[i] == 0x7f ? '?' : e[i];
		line[i] = 0;
		log_info("web panel: %s by %s: %s", cJSON_GetObjectItem(j, "cmd")->valuestring,
		         user, line);
	}
	wpanel_changed(p);
	return web_reply_json(r, ok ? 200 : 409, rep);
}

static const struct web_route route_table[] = {
    {"GET", "/api/info", WEB_PUBLIC, h_info},
    {"GET", "/healthz", WEB_PUBLIC, h_health},
    {"POST", "/api/login", WEB_PUBLIC, h_login},
    {"POST", "/api/logout", WEB_AUTH | WEB_CSRF, h_logout},
    {"POST", "/api/cmd", WEB_AUTH | WEB_CSRF, h_cmd},
    /* The view: public unless "public" is false. */
    {"GET", "/api/status", WEB_PUBLIC, h_status},
    {"GET", "/api/alarms", WEB_PUBLIC, h_alarms},
    {"GET", "/api/sensors", WEB_PUBLIC, h_sensors},
    {"GET", "/api/events", WEB_PUBLIC, h_events},
    {"GET", "/api/stream", WEB_PUBLIC, h_stream},
    {"GET", "/report", WEB_PUBLIC, h_report},
};
#define VIEW_FROM 5

static void ping(void *ctx)
{
	struct wpanel *p = ctx;
	char data[64], at[40];
	p->ping_timer = loop_timer_add(p->loop, PING_MS, ping, p);
	if (!web_sse_count(p->web))
		return;
	store_format_time(loop_wall_ms(), at, sizeof(at));
	snprintf(data, sizeof(data), "{\"now\":\"%s\"}", at);
	web_sse_send(p->web, NULL, "ping", data);
}

/* With https and no certificate of the owner's: ours, beside the database. */
static int self_signed(struct wpanel *p, char *err, size_t errlen)
{
	const struct config *c = cfg(p);
	const char *db = c->database, *slash = strrchr(db, '/');
	size_t dirlen = slash ? (size_t)(slash - db) : 1;
	char name[96], fpr[WEBCERT_FPR_LEN];
	int rc;
	if (!slash)
		db = ".";
	if (asprintf(&p->cert, "%.*s/web-cert.pem", (int)dirlen, db) < 0 ||
	    asprintf(&p->key, "%.*s/web-key.pem", (int)dirlen, db) < 0) {
		p->cert = p->key = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(name, sizeof(name), "safehouse-%s", c->site.id);
	rc = webcert_ensure(p->cert, p->key, name, fpr, err, errlen);
	if (rc < 0)
		return -1;
	log_notice("web panel: %s self-signed certificate %s, SHA-256 fingerprint %s (compare it "
	           "with the one the browser shows before you trust it)",
	           rc ? "made a new" : "using the", p->cert, fpr);
	return 0;
}

struct wpanel *wpanel_new(struct loop *l, const struct wpanel_deps *d, char *err, size_t errlen)
{
	struct wpanel *p = calloc(1, sizeof(*p));
	struct web_conf wc = {0};
	const struct config *c = d->cmd->cfg;
	if (!p || !(p->routes = malloc(sizeof(route_table)))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->d = *d;
	p->loop = l;
	p->nroutes = sizeof(route_table) / sizeof(route_table[0]);
	memcpy(p->routes, route_table, sizeof(route_table));
	if (!c->web.public_view)
		for (size_t i = VIEW_FROM; i < p->nroutes; i++)
			p->routes[i].flags |= WEB_AUTH;
	wc.name = "web panel";
	wc.listen = c->web.listen;
	wc.idle_s = c->web.session_idle_s;
	if (c->web.https) {
		if (c->web.cert) {
			wc.cert_file = c->web.cert;
			wc.key_file = c->web.key;
		} else if (self_signed(p, err, errlen) < 0) {
			goto fail;
		} else {
			wc.cert_file = p->cert;
			wc.key_file = p->key;
		}
	}
	p->web =
	    web_new(l, &wc, p->routes, p->nroutes, gateway_assets, gateway_nassets, p, err, errlen);
	if (!p->web)
		goto fail;
	p->ping_timer = loop_timer_add(l, PING_MS, ping, p);
	if (!c->web.https)
		log_notice(
		    "web panel: plain HTTP: codes cross the Wi-Fi readable by anyone on it who "
		    "listens (\"https\": true encrypts them)");
	return p;
fail:
	free(p->cert);
	free(p->key);
	free(p->routes);
	free(p);
	return NULL;
}

void wpanel_free(struct wpanel *p)
{
	if (!p)
		return;
	loop_timer_cancel(p->loop, p->ping_timer);
	/* Reports under way finish into nothing: web_free answers their
	 * requests 503. */
	for (struct report_job *j = p->jobs; j; j = j->next)
		j->p = NULL;
	p->jobs = NULL;
	web_free(p->web);
	free(p->last_status);
	free(p->cert);
	free(p->key);
	free(p->routes);
	free(p);
}

int wpanel_port(const struct wpanel *p)
{
	return web_port(p->web);
}

void wpanel_changed(struct wpanel *p)
{
	char *text;
	cJSON *o;
	if (!p)
		return;
	if (!web_sse_count(p->web)) {
		/* Nobody to compare with: the next stream starts afresh. */
		free(p->last_status);
		p->last_status = NULL;
		return;
	}
	text = status_text(p);
	if (!text || (p->last_status && strcmp(text, p->last_status) == 0)) {
		free(text);
		return;
	}
	free(p->last_status);
	p->last_status = text;
	o = status_json(p);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text)
		web_sse_send(p->web, NULL, "status", text);
	free(text);
}

/* What the daemon loads (plugin.h): the build's version, so that a plugin
 * left from another build is refused instead of called. */
const struct wpanel_plugin wpanel_plugin = {
    .version = SH_VERSION,
    .create = wpanel_new,
    .free = wpanel_free,
    .port = wpanel_port,
    .changed = wpanel_changed,
};
