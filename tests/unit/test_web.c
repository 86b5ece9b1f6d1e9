/*
 * test_web.c: what the console and panel rely on from common/web.c, seen
 * from a real HTTP client: a real loop and web server on 127.0.0.1:0, and
 * libcurl in a client thread while the test thread runs the loop (every
 * handler runs on the loop thread, as in the daemons).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/web.h"
#include "gateway/loop.h"

#define DEADLINE_MS 5000

/* ---- server side: test routes ---- */

static int h_echo(void *ctx, struct web_req *r)
{
	const cJSON *j = web_req_json(r);
	cJSON *o;

	(void)ctx;
	if (!j)
		return web_reply_error(r, 400, "not a JSON object");
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "got", cJSON_Duplicate(j, 1));
	return web_reply_json(r, 200, o);
}

static int h_thing(void *ctx, struct web_req *r)
{
	(void)ctx;
	return web_reply_data(r, 200, "text/plain", "thing", 5);
}

static int h_site(void *ctx, struct web_req *r)
{
	cJSON *o = cJSON_CreateObject();

	(void)ctx;
	cJSON_AddStringToObject(o, "rest", web_req_rest(r));
	return web_reply_json(r, 200, o);
}

static int h_login(void *ctx, struct web_req *r)
{
	char csrf[65];
	cJSON *o;

	(void)ctx;
	if (web_session_start(r, "an", "officer", csrf, sizeof(csrf)) < 0)
		return -1;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "csrf", csrf);
	return web_reply_json(r, 200, o);
}

static int h_me(void *ctx, struct web_req *r)
{
	cJSON *o = cJSON_CreateObject();

	(void)ctx;
	cJSON_AddStringToObject(o, "user", web_req_user(r));
	cJSON_AddStringToObject(o, "role", web_req_role(r));
	cJSON_AddStringToObject(o, "csrf", web_req_csrf(r));
	cJSON_AddStringToObject(o, "language", web_req_lang(r, "vi"));
	return web_reply_json(r, 200, o);
}

static int h_act(void *ctx, struct web_req *r)
{
	(void)ctx;
	return web_reply_json(r, 200, cJSON_Parse("{\"done\":true}"));
}

static int h_logout(void *ctx, struct web_req *r)
{
	(void)ctx;
	web_session_end(r);
	return web_reply_json(r, 200, NULL);
}

static int h_events(void *ctx, struct web_req *r)
{
	(void)ctx;
	return web_reply_sse(r, web_req_query(r, "topic"));
}

static int h_fail(void *ctx, struct web_req *r)
{
	(void)ctx;
	(void)r;
	return -1;
}

/* A reply made later (as a report on another thread): parked here, sent by
 * a timer of the loop. */
static struct web_req *parked;
static struct loop *parked_loop;

static void reply_parked(void *ctx)
{
	(void)ctx;
	if (parked)
		web_later_reply(parked, 200, "text/plain", "later\n", 6);
	parked = NULL;
}

static int h_later(void *ctx, struct web_req *r)
{
	(void)ctx;
	assert_int_equal(web_reply_later(r), 0);
	assert_int_equal(web_reply_later(r), -EALREADY);
	parked = r;
	if (web_req_query(r, "now")) /* answered before the handler returns */
		reply_parked(NULL);
	else if (!web_req_query(r, "never"))
		loop_timer_add(parked_loop, 50, reply_parked, NULL);
	return 0;
}

static const struct web_route routes[] = {
    {"GET", "/api/later", WEB_PUBLIC, h_later},
    {"POST", "/api/echo", WEB_PUBLIC, h_echo},
    {"GET", "/api/thing", WEB_PUBLIC, h_thing},
    {"GET", "/api/sites/*", WEB_PUBLIC, h_site},
    {"POST", "/api/login", WEB_PUBLIC, h_login},
    {"GET", "/api/me", WEB_AUTH, h_me},
    {"POST", "/api/act", WEB_AUTH | WEB_CSRF, h_act},
    {"POST", "/api/logout", WEB_AUTH, h_logout},
    {"GET", "/api/events", WEB_PUBLIC, h_events},
    {"GET", "/api/private-events", WEB_AUTH, h_events},
    {"GET", "/api/fail", WEB_PUBLIC, h_fail},
};

static const unsigned char index_html[] = "<!doctype html><title>console</title>";
static const unsigned char app_js[] = "console.log(1);";
static const struct web_asset assets[] = {
    {"/index.html", "text/html; charset=utf-8", index_html, sizeof(index_html) - 1},
    {"/app.js", "text/javascript; charset=utf-8", app_js, sizeof(app_js) - 1},
};

/* ---- fixture ---- */

struct fx {
	struct loop *l;
	struct web *w;
	char base[64];
	char tmp[64]; /* TLS files, when made */
};

static int start(struct fx *f, struct web_conf *c)
{
	char err[256] = "";

	if (!c->listen)
		c->listen = "127.0.0.1:0";
	c->name = "test";
	f->w = web_new(f->l, c, routes, sizeof(routes) / sizeof(routes[0]), assets,
	               sizeof(assets) / sizeof(assets[0]), NULL, err, sizeof(err));
	if (!f->w) {
		print_message("web_new: %s\n", err);
		return -1;
	}
	snprintf(f->base, sizeof(f->base), "%s://127.0.0.1:%d", c->cert_file ? "https" : "http",
	         web_port(f->w));
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct web_conf c = {.max_body = 1024, .max_sse = 3, .sse_queue_max = 16384};

	f->l = loop_new();
	parked_loop = f->l;
	parked = NULL;
	*state = f;
	return start(f, &c);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	web_free(f->w);
	loop_free(f->l);
	if (f->tmp[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
		if (system(cmd) != 0)
			print_message("cannot remove %s\n", f->tmp);
	}
	free(f);
	return 0;
}

/* Run the loop until *flag is set (or the deadline passes). */
static void pump_until(struct fx *f, atomic_int *flag)
{
	int64_t end = loop_mono_ms() + DEADLINE_MS;

	while (!atomic_load(flag) && loop_mono_ms() < end)
		loop_run_once(f->l, 1);
}

/* ---- client side ---- */

struct buf {
	char *p;
	size_t n;
};

static size_t buf_add(struct buf *b, const char *data, size_t n)
{
	char *np = realloc(b->p, b->n + n + 1);

	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
	return buf_add(ud, ptr, size * n);
}

struct call {
	const char *method, *path, *body;
	const char *hdr[4];
	const char *cainfo;
	char url[256];
	long status;
	CURLcode rc;
	struct buf head, out;
	atomic_int done;
};

static void *call_thread(void *arg)
{
	struct call *c = arg;
	struct curl_slist *h = NULL;
	CURL *e = curl_easy_init();

	for (int i = 0; i < 4 && c->hdr[i]; i++)
		h = curl_slist_append(h, c->hdr[i]);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &c->head);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->out);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)DEADLINE_MS);
	if (c->cainfo)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cainfo);
	if (strcmp(c->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(c->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
	if (c->body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
	c->rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	atomic_store(&c->done, 1);
	return NULL;
}

/* One request; the loop runs while the client waits. */
static void call(struct fx *f, struct call *c)
{
	pthread_t t;

	snprintf(c->url, sizeof(c->url), "%s%s", f->base, c->path);
	assert_int_equal(pthread_create(&t, NULL, call_thread, c), 0);
	pump_until(f, &c->done);
	pthread_join(t, NULL);
	if (c->rc != CURLE_OK)
		print_message("%s %s: %s\n", c->method, c->url, curl_easy_strerror(c->rc));
	assert_int_equal(c->rc, CURLE_OK);
}

static void call_free(struct call *c)
{
	free(c->head.p);
	free(c->out.p);
}

/* A header's value in the reply (case-insensitive name), copied to out. */
static int header(const struct call *c, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);

	for (const char *p = c->head.p; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(out, len, "%.*s", (int)(ll - (size_t)(v - p)), v);
			return 0;
		}
		p = eol ? eol + 2 : p + ll;
	}
	return -1;
}

static cJSON *json_of(const struct call *c)
{
	cJSON *j = cJSON_Parse(c->out.p ? c->out.p : "");

	assert_non_null(j);
	return j;
}

static void expect_error(const struct call *c, long status, const char *msg)
{
	cJSON *j = json_of(c);

	assert_int_equal(c->status, status);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")), msg);
	cJSON_Delete(j);
}

/* Log in: fills cookie ("sh_session=...") and csrf. */
static void login(struct fx *f, char *cookie, size_t clen, char *csrf, size_t xlen)
{
	struct call c = {.method = "POST", .path = "/api/login", .body = "{}"};
	char sc[256];
	cJSON *j;

	call(f, &c);
	assert_int_equal(c.status, 200);
	assert_int_equal(header(&c, "Set-Cookie", sc, sizeof(sc)), 0);
	snprintf(cookie, clen, "Cookie: %.*s", (int)strcspn(sc, ";"), sc);
	j = json_of(&c);
	snprintf(csrf, xlen, "X-CSRF-Token: %s",
	         cJSON_GetStringValue(cJSON_GetObjectItem(j, "csrf")));
	cJSON_Delete(j);
	call_free(&c);
}

/* ---- tests: requests and replies ---- */

static void json_body_round_trips_through_a_post_route(void **state)
{
	struct fx *f = *state;
	struct call c = {
	    .method = "POST", .path = "/api/echo", .body = "{\"name\":\"Nhà trọ\",\"n\":3}"};
	char ct[128];
	cJSON *j;

	call(f, &c);
	assert_int_equal(c.status, 200);
	assert_int_equal(header(&c, "Content-Type", ct, sizeof(ct)), 0);
	assert_string_equal(ct, "application/json");
	j = json_of(&c);
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "got"), "name")),
	    "Nhà trọ");
	cJSON_Delete(j);
	call_free(&c);

	struct call bad = {.method = "POST", .path = "/api/echo", .body = "[1,2]"};
	call(f, &bad);
	expect_error(&bad, 400, "not a JSON object");
	call_free(&bad);
}

static void prefix_route_gives_the_decoded_rest(void **state)
{
	struct fx *f = *state;
	struct call c = {.method = "GET", .path = "/api/sites/nt-1%20b?x=1"};
	cJSON *j;

	call(f, &c);
	assert_int_equal(c.status, 200);
	j = json_of(&c);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "rest")), "nt-1 b");
	cJSON_Delete(j);
	call_free(&c);
}

static void unknown_api_path_is_404_json_and_wrong_method_405(void **state)
{
	struct fx *f = *state;
	struct call nf = {.method = "GET", .path = "/api/nope"};
	struct call wm = {.method = "POST", .path = "/api/thing", .body = "{}"};
	struct call wa = {.method = "DELETE", .path = "/app.js"};
	struct call nf2 = {.method = "GET", .path = "/nope.css"};

	call(f, &nf);
	expect_error(&nf, 404, "not found");
	call(f, &wm);
	expect_error(&wm, 405, "method not allowed");
	call(f, &wa);
	assert_int_equal(wa.status, 405);
	call(f, &nf2);
	assert_int_equal(nf2.status, 404);
	call_free(&nf);
	call_free(&wm);
	call_free(&wa);
	call_free(&nf2);
}

static void body_over_max_body_is_413(void **state)
{
	struct fx *f = *state;
	char big[4096];
	struct call c = {.method = "POST", .path = "/api/echo", .body = big};
	struct call ok = {.method = "POST", .path = "/api/echo", .body = "{\"a\":1}"};

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	call(f, &c);
	expect_error(&c, 413, "request body too large");
	call_free(&c);
	/* A chunked body announces no length: it is cut at the bound. */
	struct call ch = {.method = "POST",
	                  .path = "/api/echo",
	                  .body = big,
	                  .hdr = {"Transfer-Encoding: chunked"}};
	call(f, &ch);
	expect_error(&ch, 413, "request body too large");
	call_free(&ch);
	/* The server still answers afterwards. */
	call(f, &ok);
	assert_int_equal(ok.status, 200);
	call_free(&ok);
}

static void failing_handler_answers_500_json(void **state)
{
	struct fx *f = *state;
	struct call c = {.method = "GET", .path = "/api/fail"};

	call(f, &c);
	expect_error(&c, 500, "internal error");
	call_free(&c);
}

static void assets_have_content_type_no_cache_and_security_headers(void **state)
{
	struct fx *f = *state;
	struct call root = {.method = "GET", .path = "/"};
	struct call js = {.method = "GET", .path = "/app.js"};
	struct call head = {.method = "HEAD", .path = "/"};
	struct call api = {.method = "GET", .path = "/api/nope"};
	char v[512];

	call(f, &root);
	assert_int_equal(root.status, 200);
	assert_string_equal(root.out.p, (const char *)index_html);
	assert_int_equal(header(&root, "Content-Type", v, sizeof(v)), 0);
	assert_string_equal(v, "text/html; charset=utf-8");
	assert_int_equal(header(&root, "Cache-Control", v, sizeof(v)), 0);
	assert_string_equal(v, "no-cache");
	call(f, &js);
	assert_int_equal(header(&js, "Content-Type", v, sizeof(v)), 0);
	assert_string_equal(v, "text/javascript; charset=utf-8");
	call(f, &head);
	assert_int_equal(head.status, 200);
	assert_null(head.out.p);
	call(f, &api);
	const struct call *all[] = {&root, &js, &head, &api};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(header(all[i], "X-Content-Type-Options", v, sizeof(v)), 0);
		assert_string_equal(v, "nosniff");
		assert_int_equal(header(all[i], "X-Frame-Options", v, sizeof(v)), 0);
		assert_string_equal(v, "DENY");
		assert_int_equal(header(all[i], "Referrer-Policy", v, sizeof(v)), 0);
		assert_string_equal(v, "no-referrer");
		assert_int_equal(header(all[i], "Content-Security-Policy", v, sizeof(v)), 0);
		assert_string_equal(v,
		                    "default-src 'self'; img-src 'self' data:; style-src 'self' "
		                    "'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
	}
	call_free(&root);
	call_free(&js);
	call_free(&head);
	call_free(&api);
}

/* ---- tests: sessions ---- */

static void login_sets_an_httponly_strict_cookie_that_opens_auth_routes(void **state)
{
	struct fx *f = *state;
	struct call anon = {.method = "GET", .path = "/api/me"};
	struct call lg = {.method = "POST", .path = "/api/login", .body = "{}"};
	char sc[256], cookie[128];
	cJSON *j;

	call(f, &anon);
	expect_error(&anon, 401, "login required");
	call_free(&anon);

	call(f, &lg);
	assert_int_equal(lg.status, 200);
	assert_int_equal(header(&lg, "Set-Cookie", sc, sizeof(sc)), 0);
	assert_int_equal(strncmp(sc, "sh_session=", 11), 0);
	assert_int_equal(strcspn(sc, ";"), 11 + 64);
	assert_non_null(strstr(sc, "; HttpOnly"));
	assert_non_null(strstr(sc, "; SameSite=Strict"));
	assert_non_null(strstr(sc, "; Path=/"));
	assert_null(strstr(sc, "Secure")); /* plain HTTP */
	snprintf(cookie, sizeof(cookie), "Cookie: %.*s", (int)strcspn(sc, ";"), sc);

	struct call me = {.method = "GET", .path = "/api/me", .hdr = {cookie}};
	call(f, &me);
	assert_int_equal(me.status, 200);
	j = json_of(&me);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "user")), "an");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "role")), "officer");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "language")), "vi");
	cJSON_Delete(j);
	call_free(&me);
	call_free(&lg);

	/* A forged token of the right shape is no session. */
	char forged[128];
	snprintf(forged, sizeof(forged), "Cookie: sh_session=%064d", 0);
	struct call fake = {.method = "GET", .path = "/api/me", .hdr = {forged}};
	call(f, &fake);
	expect_error(&fake, 401, "login required");
	call_free(&fake);
}

static void language_comes_from_query_cookie_then_accept_language(void **state)
{
	struct fx *f = *state;
	char cookie[128], csrf[128], both[192];
	struct {
		const char *path, *hdr2, *want;
	} cases[] = {
	    {"/api/me?lang=en", NULL, "en"},
	    {"/api/me", "Accept-Language: en-US,en;q=0.9", "en"},
	    {"/api/me", "Accept-Language: fr, en;q=0.5, vi;q=0.8", "vi"},
	    {"/api/me", "Accept-Language: fr", "vi"},
	};

	login(f, cookie, sizeof(cookie), csrf, sizeof(csrf));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct call c = {
		    .method = "GET", .path = cases[i].path, .hdr = {cookie, cases[i].hdr2}};
		call(f, &c);
		cJSON *j = json_of(&c);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "language")),
		                    cases[i].want);
		cJSON_Delete(j);
		call_free(&c);
	}
	snprintf(both, sizeof(both), "%s; lang=en", cookie);
	struct call c = {.method = "GET", .path = "/api/me", .hdr = {both}};
	call(f, &c);
	cJSON *j = json_of(&c);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "language")), "en");
	cJSON_Delete(j);
	call_free(&c);
}

static void csrf_route_needs_the_sessions_token(void **state)
{
	struct fx *f = *state;
	char cookie[128], csrf[128], wrong[128];

	struct call nosess = {.method = "POST", .path = "/api/act", .body = "{}"};
	call(f, &nosess);
	expect_error(&nosess, 401, "login required");
	call_free(&nosess);

	login(f, cookie, sizeof(cookie), csrf, sizeof(csrf));
	struct call none = {.method = "POST", .path = "/api/act", .body = "{}", .hdr = {cookie}};
	call(f, &none);
	expect_error(&none, 403, "bad or missing CSRF token");
	call_free(&none);

	snprintf(wrong, sizeof(wrong), "%s", csrf);
	wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'a' ? 'b' : 'a';
	struct call bad = {
	    .method = "POST", .path = "/api/act", .body = "{}", .hdr = {cookie, wrong}};
	call(f, &bad);
	expect_error(&bad, 403, "bad or missing CSRF token");
	call_free(&bad);

	/* The right token without the session cookie is not enough either. */
	struct call nocookie = {.method = "POST", .path = "/api/act", .body = "{}", .hdr = {csrf}};
	call(f, &nocookie);
	expect_error(&nocookie, 401, "login required");
	call_free(&nocookie);

	struct call ok = {
	    .method = "POST", .path = "/api/act", .body = "{}", .hdr = {cookie, csrf}};
	call(f, &ok);
	assert_int_equal(ok.status, 200);
	assert_string_equal(ok.out.p, "{\"done\":true}");
	call_free(&ok);
}

static void logout_ends_the_session_and_clears_the_cookie(void **state)
{
	struct fx *f = *state;
	char cookie[128], csrf[128], sc[256];

	login(f, cookie, sizeof(cookie), csrf, sizeof(csrf));
	struct call out = {.method = "POST", .path = "/api/logout", .body = "{}", .hdr = {cookie}};
	call(f, &out);
	assert_int_equal(out.status, 200);
	assert_int_equal(header(&out, "Set-Cookie", sc, sizeof(sc)), 0);
	assert_int_equal(strncmp(sc, "sh_session=;", 12), 0);
	assert_non_null(strstr(sc, "Max-Age=0"));
	call_free(&out);

	struct call me = {.method = "GET", .path = "/api/me", .hdr = {cookie}};
	call(f, &me);
	expect_error(&me, 401, "login required");
	call_free(&me);
}

static void dropping_a_users_sessions_logs_them_out(void **state)
{
	struct fx *f = *state;
	char cookie[128], csrf[128];

	login(f, cookie, sizeof(cookie), csrf, sizeof(csrf));
	web_sessions_drop_user(f->w, "an");
	struct call me = {.method = "GET", .path = "/api/me", .hdr = {cookie}};
	call(f, &me);
	expect_error(&me, 401, "login required");
	call_free(&me);
}

static void idle_session_expires(void **state)
{
	struct fx *f = *state;
	char cookie[128], csrf[128];
	atomic_int never = 0;

	web_free(f->w);
	struct web_conf c = {.idle_s = 1};
	assert_int_equal(start(f, &c), 0);
	login(f, cookie, sizeof(cookie), csrf, sizeof(csrf));
	struct call me = {.method = "GET", .path = "/api/me", .hdr = {cookie}};
	call(f, &me);
	assert_int_equal(me.status, 200);
	call_free(&me);
	/* idle for longer than idle_s */
	int64_t end = loop_mono_ms() + 1100;
	while (loop_mono_ms() < end && !atomic_load(&never))
		loop_run_once(f->l, 50);
	struct call late = {.method = "GET", .path = "/api/me", .hdr = {cookie}};
	call(f, &late);
	expect_error(&late, 401, "login required");
	call_free(&late);
}

static void full_session_table_drops_the_longest_idle_session(void **state)
{
	struct fx *f = *state;
	char first[128], last[128], csrf[128];

	login(f, first, sizeof(first), csrf, sizeof(csrf));
	for (int i = 0; i < 256; i++)
		login(f, last, sizeof(last), csrf, sizeof(csrf));
	struct call a = {.method = "GET", .path = "/api/me", .hdr = {first}};
	struct call b = {.method = "GET", .path = "/api/me", .hdr = {last}};
	call(f, &a);
	expect_error(&a, 401, "login required");
	call(f, &b);
	assert_int_equal(b.status, 200);
	call_free(&a);
	call_free(&b);
}

/* ---- tests: event streams ---- */

struct sse {
	char url[256];
	const char *cookie;
	pthread_mutex_t mu;
	struct buf got;
	atomic_int stop, done;
	long status;
	pthread_t t;
};

static size_t sse_data(char *ptr, size_t size, size_t n, void *ud)
{
	struct sse *s = ud;

	if (atomic_load(&s->stop))
		return 0; /* abort: the client goes away */
	pthread_mutex_lock(&s->mu);
	buf_add(&s->got, ptr, size * n);
	pthread_mutex_unlock(&s->mu);
	return size * n;
}

static void *sse_thread(void *arg)
{
	struct sse *s = arg;
	struct curl_slist *h = NULL;
	CURL *e = curl_easy_init();

	if (s->cookie)
		h = curl_slist_append(h, s->cookie);
	curl_easy_setopt(e, CURLOPT_URL, s->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sse_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)DEADLINE_MS);
	curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &s->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	atomic_store(&s->done, 1);
	return NULL;
}

static void sse_open(struct fx *f, struct sse *s, const char *path, const char *cookie)
{
	memset(s, 0, sizeof(*s));
	s->cookie = cookie;
	pthread_mutex_init(&s->mu, NULL);
	snprintf(s->url, sizeof(s->url), "%s%s", f->base, path);
	assert_int_equal(pthread_create(&s->t, NULL, sse_thread, s), 0);
}

static int sse_has(struct sse *s, const char *text)
{
	int has;

	pthread_mutex_lock(&s->mu);
	has = s->got.p && strstr(s->got.p, text);
	pthread_mutex_unlock(&s->mu);
	return has;
}

/* Run the loop until the stream received text. */
static int sse_wait(struct fx *f, struct sse *s, const char *text)
{
	int64_t end = loop_mono_ms() + DEADLINE_MS;

	while (!sse_has(s, text) && loop_mono_ms() < end)
		loop_run_once(f->l, 1);
	return sse_has(s, text);
}

static void wait_streams(struct fx *f, int n)
{
	int64_t end = loop_mono_ms() + DEADLINE_MS;

	while (web_sse_count(f->w) != n && loop_mono_ms() < end)
		loop_run_once(f->l, 1);
	assert_int_equal(web_sse_count(f->w), n);
}

/* The client goes away; the server notices and forgets the stream. */
static void sse_close(struct fx *f, struct sse *s)
{
	atomic_store(&s->stop, 1);
	web_sse_send(f->w, NULL, "bye", "{}"); /* wakes the client's write callback */
	pump_until(f, &s->done);
	pthread_join(s->t, NULL);
	pthread_mutex_destroy(&s->mu);
	free(s->got.p);
}

static void stream_gets_retry_then_events_sent_after_connect_filtered_by_topic(void **state)
{
	struct fx *f = *state;
	struct sse all, a;

	sse_open(f, &all, "/api/events", NULL);
	sse_open(f, &a, "/api/events?topic=a", NULL);
	wait_streams(f, 2);
	assert_true(sse_wait(f, &all, "retry: 2000\n\n"));
	assert_true(sse_wait(f, &a, "retry: 2000\n\n"));

	assert_int_equal(web_sse_send(f->w, "b", "site", "{\"site\":\"b-1\"}"), 1);
	assert_int_equal(web_sse_send(f->w, "a", "alarm", "{\"id\":7}"), 2);
	assert_true(sse_wait(f, &all, "event: alarm\ndata: {\"id\":7}\n\n"));
	assert_true(sse_wait(f, &a, "event: alarm\ndata: {\"id\":7}\n\n"));
	assert_true(sse_has(&all, "event: site\ndata: {\"site\":\"b-1\"}\n\n"));
	assert_false(sse_has(&a, "b-1"));
	/* retry comes first */
	assert_int_equal(strncmp(all.got.p, "retry: 2000\n\n", 13), 0);
	/* an event is one line */
	assert_true(web_sse_send(f->w, NULL, "x", "two\nlines") < 0);

	sse_close(f, &a);
	wait_streams(f, 1);
	sse_close(f, &all);
	wait_streams(f, 0);
}

static void streams_beyond_max_sse_get_503_and_auth_streams_need_a_session(void **state)
{
	struct fx *f = *state;
	struct sse s[3];

	for (int i = 0; i < 3; i++)
		sse_open(f, &s[i], "/api/events", NULL);
	wait_streams(f, 3);
	struct call more = {.method = "GET", .path = "/api/events"};
	call(f, &more);
	expect_error(&more, 503, "too many event streams");
	call_free(&more);
	for (int i = 0; i < 3; i++)
		sse_close(f, &s[i]);
	wait_streams(f, 0);

	struct call anon = {.method = "GET", .path = "/api/private-events"};
	call(f, &anon);
	expect_error(&anon, 401, "login required");
	call_free(&anon);

	char cookie[128], csrf[128];
	struct sse p;
	login(f, cookie, sizeof(cookie), csrf, sizeof(csrf));
	sse_open(f, &p, "/api/private-events", cookie);
	wait_streams(f, 1);
	assert_true(sse_wait(f, &p, "retry: 2000"));
	sse_close(f, &p);
	wait_streams(f, 0);
}

static void auth_streams_end_with_their_session(void **state)
{
	struct fx *f = *state;
	char cookie[128], csrf[128];
	struct sse p, pub;

	/* log-out ends the session's stream, not a public one */
	login(f, cookie, sizeof(cookie), csrf, sizeof(csrf));
	sse_open(f, &p, "/api/private-events", cookie);
	sse_open(f, &pub, "/api/events", cookie);
	wait_streams(f, 2);
	assert_true(sse_wait(f, &p, "retry: 2000"));
	struct call out = {.method = "POST", .path = "/api/logout", .body = "{}", .hdr = {cookie}};
	call(f, &out);
	assert_int_equal(out.status, 200);
	call_free(&out);
	wait_streams(f, 1);
	pump_until(f, &p.done); /* the client sees the end */
	assert_true(atomic_load(&p.done));
	sse_close(f, &p);
	assert_int_equal(web_sse_send(f->w, NULL, "still", "{}"), 1);
	assert_true(sse_wait(f, &pub, "event: still"));
	sse_close(f, &pub);
	wait_streams(f, 0);

	/* so does dropping the user */
	login(f, cookie, sizeof(cookie), csrf, sizeof(csrf));
	sse_open(f, &p, "/api/private-events", cookie);
	wait_streams(f, 1);
	web_sessions_drop_user(f->w, "an");
	assert_int_equal(web_sse_count(f->w), 0);
	pump_until(f, &p.done);
	assert_true(atomic_load(&p.done));
	sse_close(f, &p);
}

static void stream_of_a_client_that_does_not_read_is_dropped_at_the_bound(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in a = {.sin_family = AF_INET};
	static const char req[] = "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n";
	char data[1024];
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096, dropped = 0;
	size_t sent = 0;

	/* A tiny receive window, and we never read. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	a.sin_port = htons((uint16_t)web_port(f->w));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	wait_streams(f, 1);

	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	int64_t end = loop_mono_ms() + DEADLINE_MS;
	while (!dropped && sent < 64u * 1024 * 1024 && loop_mono_ms() < end) {
		if (web_sse_send(f->w, NULL, "fill", data) == 0)
			dropped = 1;
		sent += sizeof(data);
		loop_run_once(f->l, 0);
	}
	assert_true(dropped);
	assert_int_equal(web_sse_count(f->w), 0);

	/* The server ends the connection: reading on, the client gets to
	 * its end. */
	char sink[65536];
	ssize_t n = 1;
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	end = loop_mono_ms() + DEADLINE_MS;
	while (n != 0 && loop_mono_ms() < end) {
		n = read(fd, sink, sizeof(sink));
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break; /* a reset is an end too */
		loop_run_once(f->l, 1);
	}
	assert_true(n <= 0 && (n == 0 || errno != EAGAIN));
	close(fd);
}

static void web_free_closes_open_streams(void **state)
{
	struct fx *f = *state;
	struct sse s;

	sse_open(f, &s, "/api/events", NULL);
	wait_streams(f, 1);
	assert_true(sse_wait(f, &s, "retry: 2000"));
	web_free(f->w);
	f->w = NULL;
	/* The client sees the end of the stream without any loop turns. */
	int64_t end = loop_mono_ms() + DEADLINE_MS;
	while (!atomic_load(&s.done) && loop_mono_ms() < end)
		usleep(10000);
	assert_true(atomic_load(&s.done));
	pthread_join(s.t, NULL);
	pthread_mutex_destroy(&s.mu);
	free(s.got.p);
}

static void later_reply_reaches_the_client(void **state)
{
	struct fx *f = *state;
	struct call a = {.method = "GET", .path = "/api/later"};
	struct call b = {.method = "GET", .path = "/api/later?now=1"};

	call(f, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.out.p, "later\n");
	call_free(&a);
	call(f, &b);
	assert_int_equal(b.status, 200);
	assert_string_equal(b.out.p, "later\n");
	call_free(&b);
	/* The connection served them: a normal request still works after. */
	struct call c = {.method = "GET", .path = "/api/thing"};
	call(f, &c);
	assert_int_equal(c.status, 200);
	call_free(&c);
}

static void web_free_answers_a_parked_request(void **state)
{
	struct fx *f = *state;
	struct call c = {.method = "GET", .path = "/api/later?never=1"};
	pthread_t t;

	snprintf(c.url, sizeof(c.url), "%s%s", f->base, c.path);
	assert_int_equal(pthread_create(&t, NULL, call_thread, &c), 0);
	int64_t end = loop_mono_ms() + DEADLINE_MS;
	while (!parked && loop_mono_ms() < end)
		loop_run_once(f->l, 1);
	assert_non_null(parked);
	parked = NULL; /* web_free answers it; the handle is gone after */
	web_free(f->w);
	f->w = NULL;
	pthread_join(t, NULL);
	/* 503, or the connection closed under it: never a hang. */
	assert_true(c.rc != CURLE_OK || c.status == 503);
	call_free(&c);
}

/* ---- tests: TLS and start-up errors ---- */

static int make_cert(struct fx *f, char *cert, char *key, size_t len)
{
	char cmd[1024];

	snprintf(f->tmp, sizeof(f->tmp), "/tmp/test_web.XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(cert, len, "%s/cert.pem", f->tmp);
	snprintf(key, len, "%s/key.pem", f->tmp);
	snprintf(
	    cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
	    "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
	    "-keyout '%s' -out '%s' >/dev/null 2>&1",
	    key, cert);
	return system(cmd) == 0 ? 0 : -1;
}

static void https_serves_with_the_given_certificate_and_secure_cookies(void **state)
{
	struct fx *f = *state;
	char cert[128], key[128], sc[256];

	assert_int_equal(make_cert(f, cert, key, sizeof(cert)), 0);
	web_free(f->w);
	struct web_conf c = {.cert_file = cert, .key_file = key};
	assert_int_equal(start(f, &c), 0);
	assert_int_equal(strncmp(f->base, "https://", 8), 0);

	struct call get = {.method = "GET", .path = "/api/thing", .cainfo = cert};
	call(f, &get);
	assert_int_equal(get.status, 200);
	assert_string_equal(get.out.p, "thing");
	call_free(&get);

	struct call lg = {.method = "POST", .path = "/api/login", .body = "{}", .cainfo = cert};
	call(f, &lg);
	assert_int_equal(header(&lg, "Set-Cookie", sc, sizeof(sc)), 0);
	assert_non_null(strstr(sc, "; Secure"));
	assert_non_null(strstr(sc, "; HttpOnly"));
	call_free(&lg);
}

static void unreadable_key_file_is_an_error_text(void **state)
{
	struct fx *f = *state;
	char cert[128], key[128], err[256] = "";

	assert_int_equal(make_cert(f, cert, key, sizeof(cert)), 0);
	snprintf(key, sizeof(key), "%s/missing.pem", f->tmp);
	struct web_conf c = {
	    .name = "console", .listen = "127.0.0.1:0", .cert_file = cert, .key_file = key};
	assert_null(web_new(f->l, &c, routes, 1, NULL, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "console: cannot read key file "));
	assert_non_null(strstr(err, "missing.pem: No such file or directory"));
}

static void key_that_is_not_pem_is_an_error_text(void **state)
{
	struct fx *f = *state;
	char cert[128], key[128], err[256] = "";
	FILE *k;

	assert_int_equal(make_cert(f, cert, key, sizeof(cert)), 0);
	k = fopen(key, "w");
	assert_non_null(k);
	fputs("not a key\n", k);
	fclose(k);
	struct web_conf c = {
	    .name = "console", .listen = "127.0.0.1:0", .cert_file = cert, .key_file = key};
	assert_null(web_new(f->l, &c, routes, 1, NULL, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "console: HTTPS: certificate "));
	assert_non_null(strstr(err, "are not a valid PEM pair"));
}

static void listen_errors_say_what_is_wrong(void **state)
{
	struct fx *f = *state;
	char err[256], busy[64];
	const char *bad[] = {"nonsense",        "127.0.0.1", "127.0.0.1:99999", "::1:80", "[::1]80",
	                     "host.example:80", ""};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct web_conf c = {.name = "console", .listen = bad[i]};
		err[0] = '\0';
		assert_null(web_new(f->l, &c, routes, 1, NULL, 0, NULL, err, sizeof(err)));
		assert_non_null(strstr(err, "console: listen \""));
	}
	snprintf(busy, sizeof(busy), "127.0.0.1:%d", web_port(f->w));
	struct web_conf c = {.name = "console", .listen = busy};
	assert_null(web_new(f->l, &c, routes, 1, NULL, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "Address already in use"));
	assert_int_equal(strncmp(err, "console: listen 127.0.0.1:", 26), 0);
}

static void ipv6_loopback_listens(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	struct web_conf c = {.name = "v6", .listen = "[::1]:0"};
	struct web *w = web_new(f->l, &c, routes, 2, NULL, 0, NULL, err, sizeof(err));

	if (!w && strstr(err, "Cannot assign requested address"))
		skip(); /* no IPv6 on this machine */
	assert_non_null(w);
	assert_true(web_port(w) > 0);
	web_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(later_reply_reaches_the_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(web_free_answers_a_parked_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(json_body_round_trips_through_a_post_route, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(prefix_route_gives_the_decoded_rest, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_api_path_is_404_json_and_wrong_method_405,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(body_over_max_body_is_413, setup, teardown),
	    cmocka_unit_test_setup_teardown(failing_handler_answers_500_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(assets_have_content_type_no_cache_and_security_headers,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        login_sets_an_httponly_strict_cookie_that_opens_auth_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(language_comes_from_query_cookie_then_accept_language,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(csrf_route_needs_the_sessions_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(logout_ends_the_session_and_clears_the_cookie, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(dropping_a_users_sessions_logs_them_out, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(idle_session_expires, setup, teardown),
	    cmocka_unit_test_setup_teardown(full_session_table_drops_the_longest_idle_session,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        stream_gets_retry_then_events_sent_after_connect_filtered_by_topic, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        streams_beyond_max_sse_get_503_and_auth_streams_need_a_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(auth_streams_end_with_their_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        stream_of_a_client_that_does_not_read_is_dropped_at_the_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(web_free_closes_open_streams, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        https_serves_with_the_given_certificate_and_secure_cookies, setup, teardown),
	    cmocka_unit_test_setup_teardown(unreadable_key_file_is_an_error_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(key_that_is_not_pem_is_an_error_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(listen_errors_say_what_is_wrong, setup, teardown),
	    cmocka_unit_test_setup_teardown(ipv6_loopback_listens, setup, teardown),
	};

	curl_global_init(CURL_GLOBAL_ALL);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
