/*
 * console.c: the duty console's HTTP API and live stream.
 */
#include "station/console.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/web.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/mqttc.h"
#include "gateway/store.h"
#include "station/board.h"
#include "station/sconfig.h"
#include "station/sstore.h"
#include "station/susers.h"

extern const struct web_asset station_assets[];
extern const size_t station_nassets;

struct console {
	struct console_deps d;
	struct loop *loop;
	struct web *web;
	unsigned stream_seq;
	int ping_timer;
};

/* A ping every PING_MS on every stream: the page treats a stream silent for
 * longer than a few pings as stalled and says so (a comment line, which the
 * web module also sends, is invisible to a page's script). */
#define PING_MS 15000
/* A claim to send an ack (stations sharing a database) that the gateway has
 * not confirmed in this long may be taken by another click. */
#define ACK_CLAIM_STALE_MS (120 * 1000)

static void ping(void *ctx);

static int64_t now_wall(void)
{
	return loop_wall_ms();
}

static void journal(struct console *c, const char *site, const char *what, const char *by,
                    const char *detail)
{
	if (c->d.txn(c->d.ctx) < 0 ||
	    board_journal(c->d.board, now_wall(), site, what, by, detail) < 0)
		log_err("console: could not record %s of %s in the journal", what, by ? by : "-");
}

static int h_login(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	const cJSON *j = web_req_json(r);
	const cJSON *u = j ? cJSON_GetObjectItemCaseSensitive(j, "user") : NULL;
	const cJSON *p = j ? cJSON_GetObjectItemCaseSensitive(j, "password") : NULL;
	char role[16], csrf[80], detail[96];
	int retry_s = 0, rc;
	cJSON *o;
	if (!cJSON_IsString(u) || !cJSON_IsString(p) || strlen(u->valuestring) > 64)
		return web_reply_error(r, 400, "expected {\"user\": NAME, \"password\": TEXT}");
	rc = susers_check(c->d.users, u->valuestring, p->valuestring, loop_mono_ms(), role,
	                  sizeof(role), &retry_s);
	snprintf(detail, sizeof(detail), "from %s", web_req_peer(r));
	if (rc == -EAGAIN) {
		journal(c, NULL, "login_locked", u->valuestring, detail);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "error", "account locked");
		cJSON_AddNumberToObject(o, "retry_s", retry_s);
		return web_reply_json(r, 429, o);
	}
	if (rc < 0) {
		/* The name is recorded (an inspector wants to see attempts),
		 * never the password. */
		log_notice("console: failed log-in as \"%s\" %s", u->valuestring, detail);
		journal(c, NULL, "login_failed", u->valuestring, detail);
		return web_reply_error(r, 401, "wrong user or password");
	}
	if (web_session_start(r, u->valuestring, role, csrf, sizeof(csrf)) < 0)
		return web_reply_error(r, 503, "too many sessions");
	log_notice("console: %s (%s) logged in %s", u->valuestring, role, detail);
	journal(c, NULL, "login", u->valuestring, detail);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", u->valuestring);
	cJSON_AddStringToObject(o, "role", role);
	cJSON_AddStringToObject(o, "csrf", csrf);
	return web_reply_json(r, 200, o);
}

static int h_logout(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	journal(c, NULL, "logout", web_req_user(r), NULL);
	web_session_end(r);
	return web_reply_json(r, 200, NULL);
}

static int h_me(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", web_req_user(r));
	cJSON_AddStringToObject(o, "role", web_req_role(r));
	cJSON_AddStringToObject(o, "csrf", web_req_csrf(r));
	cJSON_AddStringToObject(o, "language", web_req_lang(r, c->d.cfg->http.language));
	return web_reply_json(r, 200, o);
}

static int h_health(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	struct mqttc *m = c->d.broker(c->d.ctx);
	cJSON *o = cJSON_CreateObject();
	int up = m && mqttc_connected(m);
	/* A store that cannot commit loses the history of what the console
	 * shows: that is a fault, as much as a broker that is gone. */
	int db = c->d.store_ok(c->d.ctx) && sstore_feed_count(c->d.store) >= 0;
	cJSON_AddBoolToObject(o, "ok", up && db);
	cJSON_AddBoolToObject(o, "broker", up);
	cJSON_AddBoolToObject(o, "database", db);
	return web_reply_json(r, up && db ? 200 : 503, o);
}

static int h_alarms(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	return web_reply_json(r, 200, board_alarms_json(c->d.board, now_wall()));
}

static int h_sites(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	return web_reply_json(r, 200,
	                      board_sites_json(c->d.board, web_req_query(r, "q"),
	                                       web_req_query(r, "filter"), now_wall(),
	                                       loop_mono_ms()));
}

static int h_site(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	cJSON *o = board_site_page(c->d.board, web_req_rest(r), loop_mono_ms());
	if (!o)
		return web_reply_error(r, 404, "unknown site");
	return web_reply_json(r, 200, o);
}

static int h_ack(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	const cJSON *j = web_req_json(r);
	const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "site") : NULL;
	const cJSON *a = j ? cJSON_GetObjectItemCaseSensitive(j, "alarm") : NULL;
	const char *user = web_req_user(r);
	struct mqttc *m = c->d.broker(c->d.ctx);
	char topic[256], payload[160], detail[128], holder[96];
	int64_t id;
	int rc;
	cJSON *o;
	if (strcmp(web_req_role(r), "officer") != 0)
		return web_reply_error(r, 403, "viewers cannot acknowledge");
	if (!cJSON_IsString(s) || !cJSON_IsNumber(a) || !isfinite(a->valuedouble) ||
	    a->valuedouble != floor(a->valuedouble) || fabs(a->valuedouble) > 9007199254740992.0)
		return web_reply_error(r, 400, "expected {\"site\": SITE, \"alarm\": ID}");
	id = (int64_t)a->valuedouble;
	if (c->d.txn(c->d.ctx) < 0)
		return web_reply_error(r, 503, "database unavailable");
	rc = board_ack(c->d.board, s->valuestring, id, user, now_wall());
	if (rc == -ENOENT)
		return web_reply_error(r, 404, "unknown alarm");
	if (rc == -EALREADY)
		return web_reply_error(r, 409, "already acknowledged");
	if (rc < 0)
		return web_reply_error(r, 503, "database unavailable");
	snprintf(detail, sizeof(detail), "alarm %lld", (long long)id);
	if (rc == 1) {
		/* A station alarm (lost contact): acknowledged here. */
		journal(c, s->valuestring, "ack", user, detail);
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "acked", 1);
		return web_reply_json(r, 200, o);
	}
	if (!m || !mqttc_connected(m))
		return web_reply_error(r, 503, "broker not connected; not sent");
	/* Stations sharing the database: one of them sends it (the claim in
	 * the store); a click on another console finds it on its way. */
	rc = sstore_ack_claim(c->d.store, s->valuestring, id, user, now_wall(), ACK_CLAIM_STALE_MS,
	                      holder, sizeof(holder));
	if (rc < 0)
		return web_reply_error(r, 503, "database unavailable");
	if (rc == 0) {
		board_ack_sent(c->d.board, s->valuestring, id, holder[0] ? holder : "?",
		               now_wall());
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "sent", 1);
		cJSON_AddStringToObject(o, "by", holder);
		return web_reply_json(r, 202, o);
	}
	snprintf(topic, sizeof(topic), "%s/%s/ack", c->d.cfg->broker.prefix, s->valuestring);
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "alarm", (double)id);
	cJSON_AddStringToObject(o, "by", user);
	if (!cJSON_PrintPreallocated(o, payload, sizeof(payload), 0)) {
		cJSON_Delete(o);
		return web_reply_error(r, 500, "internal error");
	}
	cJSON_Delete(o);
	if (mqttc_publish(m, topic, payload, strlen(payload), 1, 0, NULL) < 0)
		return web_reply_error(r, 503, "broker not connected; not sent");
	board_ack_sent(c->d.board, s->valuestring, id, user, now_wall());
	if (sstore_shared(c->d.store)) {
		char note[SSTORE_ID_MAX + 160];
		snprintf(note, sizeof(note), "ack\t%s\t%lld\t%s\t%lld", s->valuestring,
		         (long long)id, user, (long long)now_wall());
		if (sstore_notify(c->d.store, note) < 0)
			log_err("console: could not tell the other stations of the ack of %lld",
			        (long long)id);
	}
	log_notice("console: %s acknowledged alarm %lld of %s (sent to the gateway)", user,
	           (long long)id, s->valuestring);
	journal(c, s->valuestring, "ack_sent", user, detail);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "sent", 1);
	return web_reply_json(r, 202, o);
}

static int h_events(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	char topic[32], data[64], at[40];
	int rc;
	/* Each stream its own topic, so that its "hello" reaches it alone;
	 * changes go to every stream. */
	snprintf(topic, sizeof(topic), "c%u", ++c->stream_seq);
	rc = web_reply_sse(r, topic);
	if (rc < 0)
		return rc;
	store_format_time(now_wall(), at, sizeof(at));
	snprintf(data, sizeof(data), "{\"now\":\"%s\"}", at);
	web_sse_send(c->web, topic, "hello", data);
	return 0;
}

static int h_stats(void *ctx, struct web_req *r)
{
	struct console *c = ctx;
	struct board_stats bs;
	struct mqttc *m = c->d.broker(c->d.ctx);
	cJSON *o = cJSON_CreateObject(), *msg;
	char at[40];
	board_stats(c->d.board, &bs);
	msg = cJSON_AddObjectToObject(o, "messages");
	for (int k = 0; k < SFEED__COUNT; k++)
		cJSON_AddNumberToObject(msg, sfeed_kind_names[k], (double)bs.messages[k]);
	cJSON_AddNumberToObject(o, "malformed", (double)c->d.malformed(c->d.ctx));
	cJSON_AddNumberToObject(o, "duplicates", (double)bs.duplicates);
	cJSON_AddNumberToObject(o, "stale", (double)bs.stale);
	cJSON_AddNumberToObject(o, "feed_rows", (double)sstore_feed_count(c->d.store));
	cJSON_AddNumberToObject(o, "sites", (double)board_site_count(c->d.board));
	cJSON_AddNumberToObject(o, "sse_clients", web_sse_count(c->web));
	cJSON_AddBoolToObject(o, "broker_connected", m && mqttc_connected(m));
	cJSON_AddBoolToObject(o, "timekeeper", c->d.timekeeper && c->d.timekeeper(c->d.ctx));
	cJSON_AddBoolToObject(o, "shared_database", sstore_shared(c->d.store));
	if (m && mqttc_peer(m))
		cJSON_AddStringToObject(o, "broker_peer", mqttc_peer(m));
	store_format_time(c->d.started_wall_ms, at, sizeof(at));
	cJSON_AddStringToObject(o, "started_at", at);
	return web_reply_json(r, 200, o);
}

static const struct web_route routes[] = {
    {"POST", "/api/login", WEB_PUBLIC, h_login},
    {"POST", "/api/logout", WEB_AUTH | WEB_CSRF, h_logout},
    {"GET", "/api/me", WEB_AUTH, h_me},
    {"GET", "/healthz", WEB_PUBLIC, h_health},
    {"GET", "/api/alarms", WEB_AUTH, h_alarms},
    {"GET", "/api/sites", WEB_AUTH, h_sites},
    {"GET", "/api/sites/*", WEB_AUTH, h_site},
    {"POST", "/api/ack", WEB_AUTH | WEB_CSRF, h_ack},
    {"GET", "/api/events", WEB_AUTH, h_events},
    {"GET", "/api/stats", WEB_AUTH, h_stats},
};

struct console *console_new(struct loop *l, const struct console_deps *deps, char *err,
                            size_t errlen)
{
	struct console *c = calloc(1, sizeof(*c));
	struct web_conf wc = {0};
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->d = *deps;
	c->loop = l;
	wc.name = "console";
	wc.listen = deps->cfg->http.listen;
	wc.cert_file = deps->cfg->http.cert;
	wc.key_file = deps->cfg->http.key;
	wc.idle_s = deps->cfg->http.session_idle_s;
	c->web = web_new(l, &wc, routes, sizeof(routes) / sizeof(routes[0]), station_assets,
	                 station_nassets, c, err, errlen);
	if (!c->web) {
		free(c);
		return NULL;
	}
	c->ping_timer = loop_timer_add(l, PING_MS, ping, c);
	return c;
}

static void ping(void *ctx)
{
	struct console *c = ctx;
	char data[64], at[40];
	c->ping_timer = loop_timer_add(c->loop, PING_MS, ping, c);
	if (!web_sse_count(c->web))
		return;
	store_format_time(now_wall(), at, sizeof(at));
	snprintf(data, sizeof(data), "{\"now\":\"%s\"}", at);
	web_sse_send(c->web, NULL, "ping", data);
}

void console_free(struct console *c)
{
	if (!c)
		return;
	loop_timer_cancel(c->loop, c->ping_timer);
	web_free(c->web);
	free(c);
}

int console_port(const struct console *c)
{
	return web_port(c->web);
}

int console_streams(const struct console *c)
{
	return web_sse_count(c->web);
}

static void push(struct console *c, const char *event, cJSON *o)
{
	char *text;
	if (!o)
		return;
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text)
		web_sse_send(c->web, NULL, event, text);
	free(text);
}

void console_alarm_changed(struct console *c, const char *site, int64_t id)
{
	cJSON *o;
	if (!c || !web_sse_count(c->web))
		return;
	o = board_alarm_json(c->d.board, site, id);
	if (!o) {
		/* Closed (reset): it leaves the list. */
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "site", site);
		cJSON_AddNumberToObject(o, "id", (double)id);
		cJSON_AddStringToObject(o, "state", "reset");
	}
	push(c, "alarm", o);
}

void console_site_changed(struct console *c, const char *site)
{
	if (!c || !web_sse_count(c->web))
		return;
	push(c, "site", board_site_json(c->d.board, site, loop_mono_ms()));
}

void console_set_config(struct console *c, const struct sconfig *cfg)
{
	c->d.cfg = cfg;
}
