/*
 * web.h: the HTTP side of a program (the station's duty console, and the
 * gateway's owner panel later): libmicrohttpd driven by our event loop,
 * routes, JSON bodies, sessions with a CSRF token, server-sent events and
 * static assets compiled into the binary.
 *
 * libmicrohttpd runs without threads of its own (MHD_USE_EPOLL, no internal
 * polling thread): its epoll descriptor is watched by the loop, and every
 * handler runs on the loop thread, so handlers read and change the
 * program's state without locks. A handler must answer at once (it may not
 * block): the work behind a request is a few microseconds of in-memory
 * state or one indexed SQLite read.
 *
 * Sessions: a random 256-bit token in a cookie (HttpOnly, SameSite=Strict,
 * Path=/, Secure when served over TLS) and a random CSRF token that the
 * page sends back in the X-CSRF-Token header of every state change. Both
 * are kept only in memory: a restart logs everyone out, which is acceptable
 * for a console and means no session secret ever reaches the disk. Sessions
 * expire after idle_s without a request (default 12 hours: one duty shift).
 *
 * Server-sent events: a handler turns its request into an event stream with
 * web_reply_sse(); web_sse_send() then queues one event to every open
 * stream (a stream whose client does not read is closed when its queue
 * passes a bound, so one stuck browser never grows our memory). A comment
 * line goes out every 15 s so that proxies and the browser see a live link.
 *
 * Nothing here logs a request body, a cookie or a password.
 */
#ifndef SH_WEB_H
#define SH_WEB_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct cJSON;
struct web;
struct web_req;

struct web_conf {
	const char *name;   /* for logs: "console", "panel" */
	const char *listen; /* "127.0.0.1:8090", "0.0.0.0:8080", "[::1]:8090" */
	/* HTTPS with libmicrohttpd's GnuTLS when both are set (PEM files). */
	const char *cert_file, *key_file;
	int idle_s;           /* session idle expiry; 0: 43200 */
	size_t max_body;      /* largest accepted request body; 0: 16384 */
	int max_sse;          /* most open event streams; 0: 64 */
	size_t sse_queue_max; /* bytes queued per stream before it is dropped; 0: 1 MiB */
};

/* A route's requirements, checked before its handler runs. */
enum {
	WEB_PUBLIC = 0,
	WEB_AUTH = 1 << 0, /* a valid session, or 401 {"error":"login required"} */
	WEB_CSRF = 1 << 1, /* X-CSRF-Token equal to the session's, or 403 */
};

/* Return 0 once a reply has been set with one of the web_reply_* calls; a
 * negative return (or no reply) answers 500 {"error":"internal error"}. */
typedef int (*web_handler_fn)(void *ctx, struct web_req *r);

struct web_route {
	const char *method; /* "GET", "POST"; HEAD is served by GET routes */
	const char *path;   /* exact path, or a prefix when it ends in '*': "/api/sites/" + star */
	int flags;          /* WEB_AUTH | WEB_CSRF */
	web_handler_fn fn;
};

/* Compiled-in static files (cmake/embed.cmake) */
struct web_asset {
	const char *path;  /* "/", "/app.js" */
	const char *ctype; /* "text/html; charset=utf-8" */
	const unsigned char *data;
	size_t len;
};

/* Start serving. routes (nroutes entries) and assets (nassets) must stay
 * valid until web_free; they are matched in order, routes first. ctx is
 * passed to every handler. Returns NULL with err set ("console: listen
 * 127.0.0.1:8090: Address already in use", "...: cannot read key file
 * x.pem: No such file or directory"). */
struct web *web_new(struct loop *l, const struct web_conf *c, const struct web_route *routes,
                    size_t nroutes, const struct web_asset *assets, size_t nassets, void *ctx,
                    char *err, size_t errlen);
/* Closes every connection and stream. NULL is ignored. */
void web_free(struct web *w);
/* The port actually bound (useful with "127.0.0.1:0" in tests). */
int web_port(const struct web *w);

/* ---- the request (valid only during the handler call) ---- */
const char *web_req_method(const struct web_req *r);
const char *web_req_path(const struct web_req *r); /* without the query */
/* A query argument, URL-decoded, or NULL. */
const char *web_req_query(const struct web_req *r, const char *key);
/* A request header (case-insensitive name), or NULL. */
const char *web_req_header(const struct web_req *r, const char *name);
/* The raw body (NUL-terminated; *len may be NULL), "" when none. */
const char *web_req_body(const struct web_req *r, size_t *len);
/* The body parsed as a JSON object, or NULL when it is not one (owned by
 * r: do not free). */
const struct cJSON *web_req_json(struct web_req *r);
/* The client's address as text ("127.0.0.1", "::1"). */
const char *web_req_peer(const struct web_req *r);
/* The part of the path after a '*' route's prefix ("/api/sites/" + star and
 * "/api/sites/nt-1" give "nt-1"), URL-decoded; "" for an exact route. */
const char *web_req_rest(const struct web_req *r);
/* Session of the request: user name and role (NULL when not logged in),
 * and its CSRF token (NULL when not logged in). */
const char *web_req_user(const struct web_req *r);
const char *web_req_role(const struct web_req *r);
const char *web_req_csrf(const struct web_req *r);
/* The preferred language from a "lang" cookie or query, else
 * Accept-Language, as "vi" or "en"; dflt when neither names one. */
const char *web_req_lang(const struct web_req *r, const char *dflt);

/* ---- replies (exactly one per request) ---- */
/* body is taken (freed by web); NULL answers {}. */
int web_reply_json(struct web_req *r, int status, struct cJSON *body);
/* {"error": msg} with that status. */
int web_reply_error(struct web_req *r, int status, const char *msg);
/* Copies data. */
int web_reply_data(struct web_req *r, int status, const char *ctype, const void *data, size_t len);
/* Turn the request into an event stream (text/event-stream). topic is a
 * filter the stream keeps (NULL: every event), see web_sse_send. The
 * stream starts with a "retry: 2000" line so a browser reconnects fast. */
int web_reply_sse(struct web_req *r, const char *topic);

/* Answer later (work done off the loop's thread, such as a report): call
 * it in the handler and return 0 without a reply; the connection waits
 * until web_later_reply(r, ...), which must then be called exactly once
 * from the loop's thread (r stays valid until then; also when the client
 * has left: the reply then goes nowhere). Replying from inside the handler
 * is allowed too. web_free answers every waiting request 503 first, after
 * which r is gone: a module whose work may outlive its web forgets r then.
 * Returns 0, or -EALREADY when r has a reply or a stream. */
int web_reply_later(struct web_req *r);
/* The reply of a request that web_reply_later parked (data copied). */
void web_later_reply(struct web_req *r, int status, const char *ctype, const void *data,
                     size_t len);

/* Start a session for user with role and attach its cookie to the reply
 * that follows. The new CSRF token is copied to csrf (65 bytes). Any session
 * the request came with ends. 0, or -ENOMEM / -ENOSPC (too many sessions:
 * the oldest idle ones are dropped first, so this is rare). */
int web_session_start(struct web_req *r, const char *user, const char *role, char *csrf,
                      size_t csrflen);
/* End the request's session (log-out) and clear the cookie on the reply. */
void web_session_end(struct web_req *r);
/* End every session of user (deleted or locked accounts). */
void web_sessions_drop_user(struct web *w, const char *user);

/* Queue one event "event: NAME\ndata: DATA\n\n" to every open stream whose
 * topic is NULL or equal to topic (topic NULL: to every stream). data must
 * be one line (JSON printed unformatted). Returns how many streams got it. */
int web_sse_send(struct web *w, const char *topic, const char *event, const char *data);
/* Open streams (status, tests). */
int web_sse_count(const struct web *w);

#endif
