/*
 * web.c: libmicrohttpd on our event loop (see web.h for the contract).
 *
 * MHD runs with MHD_USE_EPOLL and no thread of its own: the loop watches
 * MHD's epoll descriptor, calls MHD_run() when it is readable and arms a
 * timer from MHD_get_timeout() before every poll (the prepare hook), so
 * every handler runs on the loop thread.
 *
 * An event stream is a callback response whose reader copies the stream's
 * byte queue. With nothing queued the reader suspends the connection and
 * returns 0 (the pattern microhttpd.h prescribes: a bare 0 would busy-loop);
 * web_sse_send() resumes it. MHD_ALLOW_SUSPEND_RESUME adds MHD's ITC to its
 * epoll set, so a resume wakes the loop, and the prepare hook also runs
 * MHD_run() after any resume, as microhttpd.h asks of "external" polling.
 */
#include "common/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <sodium.h>

#include "gateway/log.h"
#include "gateway/loop.h"

#define WEB_MAX_SESSIONS 256
#define WEB_CONN_LIMIT 128
#define WEB_PER_IP_LIMIT 32
#define WEB_CONN_TIMEOUT_S 30
#define WEB_KEEPALIVE_MS 15000
#define WEB_PEM_MAX (1024 * 1024)
#define WEB_TOKEN_HEX 64 /* 32 random bytes */
#define WEB_COOKIE "sh_session"

static const char *const security_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' "
                                "'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"},
};

struct session {
	int used;
	char token[WEB_TOKEN_HEX + 1];
	char csrf[WEB_TOKEN_HEX + 1];
	char *user, *role;
	int64_t last; /* loop_mono_ms of the last request */
};

struct stream {
	struct web *w;
	struct web_req *req; /* NULL once MHD reported the request completed */
	struct MHD_Connection *conn;
	char *topic;
	char token[WEB_TOKEN_HEX + 1]; /* the session of a WEB_AUTH stream, "" for a public one */
	char *buf;
	size_t off, len, cap; /* unsent bytes are buf[off..len) */
	int linked;           /* in w->streams (counted, gets events) */
	int suspended;
	int gone_fd; /* the socket watched for the client leaving while parked, or -1 */
	int dropped; /* the reader ends the response */
	struct stream *next, *prev;
};

struct web_req {
	struct web *w;
	struct MHD_Connection *conn;
	const char *method, *path, *rest;
	char *body;
	size_t blen, bcap;
	int too_big;
	cJSON *json;
	int json_done;
	struct session *sess;
	char peer[INET6_ADDRSTRLEN];
	struct MHD_Response *resp;
	unsigned status;
	int is_asset;
	int flags;        /* of the route */
	char cookie[160]; /* Set-Cookie for the reply, "" when none */
	struct stream *stream;
	/* web_reply_later(): the reply comes from web_later_reply; meanwhile
	 * the request is on w->laters and, once dispatch returned, its
	 * connection suspended. */
	int later, later_suspended;
	int later_done; /* replied while suspended: the resumed call queues it */
	struct web_req *later_next, *later_prev;
};

struct web {
	struct loop *l;
	struct MHD_Daemon *d;
	char name[32];
	int efd, timer, ka_timer;
	int need_run;
	int tls;
	int64_t idle_ms;
	size_t max_body, sse_queue_max;
	int max_sse;
	const struct web_route *routes;
	size_t nroutes;
	struct web_req *laters; /* requests waiting for web_later_reply */
	const struct web_asset *assets;
	size_t nassets;
	void *ctx;
	char *cert, *key;
	struct session sess[WEB_MAX_SESSIONS];
	struct stream *streams;
	int nstreams;
};

/* ---- small helpers ---- */

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct web *w = cls;
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	/* Mostly clients that leave or misbehave; failures that matter
	 * reach the caller as web_new's error text. */
	log_info("%s: http: %s", w ? w->name : "web", buf);
}

static int read_pem(const char *path, char **out, char *err, size_t errlen, const char *name,
                    const char *what)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;
	int rc = -EIO;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot read %s file %s: %s", name, what, path,
		         strerror(errno));
		goto out;
	}
	buf = malloc(WEB_PEM_MAX + 1);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	n = fread(buf, 1, WEB_PEM_MAX + 1, f);
	if (ferror(f) || n == 0 || n > WEB_PEM_MAX) {
		snprintf(err, errlen, "%s: cannot read %s file %s: %s", name, what, path,
		         ferror(f) ? strerror(errno)
		         : n == 0  ? "empty file"
		                   : "larger than 1 MiB");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf) {
		sodium_memzero(buf, WEB_PEM_MAX + 1);
		free(buf);
	}
	if (f)
		fclose(f);
	return rc;
}

static void free_secret(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* "host:port" or "[v6]:port" to a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, int *v6)
{
	char host[128];
	const char *port, *colon;
	char *end;
	long p;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!listen || !*listen)
		return -EINVAL;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		hl = (size_t)(close - listen - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen + 1, hl);
		host[hl] = '\0';
		port = close + 2;
		*v6 = 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || strchr(listen, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - listen);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen, hl);
		host[hl] = '\0';
		port = colon + 1;
		*v6 = 0;
	}
	if (!*port)
		return -EINVAL;
	errno = 0;
	p = strtol(port, &end, 10);
	if (errno || *end || p < 0 || p > 65535)
		return -EINVAL;
	if (*v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
	}
	return 0;
}

/* MHD_start_daemon() says only that it failed: find out why by trying the
 * bind ourselves (the usual cause is another program on the port).
 * Returns 0 when the bind works (the cause is elsewhere). */
static int bind_error(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	socklen_t sl =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;

	if (fd < 0) {
		snprintf(buf, len, "%s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sl) < 0) {
		snprintf(buf, len, "%s", strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

/* ---- sessions ---- */

static void session_clear(struct session *s)
{
	free(s->user);
	free(s->role);
	sodium_memzero(s, sizeof(*s));
}

static void stream_drop(struct stream *s, const char *why);

/* A session ends (log-out, expiry, user dropped): its event streams end
 * with it, so a locked account stops receiving the alarm feed at once. */
static void session_end(struct web *w, struct session *s)
{
	for (struct stream *st = w->streams, *next; st; st = next) {
		next = st->next;
		if (st->token[0] && sodium_memcmp(st->token, s->token, WEB_TOKEN_HEX) == 0)
			stream_drop(st, NULL);
	}
	session_clear(s);
}

static struct session *session_find(struct web *w, const char *token)
{
	int64_t now = loop_mono_ms();
	struct session *found = NULL;

	if (!token || strlen(token) != WEB_TOKEN_HEX)
		return NULL;
	/* Every slot is compared, in constant time each, so the time taken
	 * says nothing about which token is close to a live one. */
	for (int i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct session *s = &w->sess[i];
		if (!s->used)
			continue;
		if (now - s->last > w->idle_ms) {
			session_end(w, s);
			continue;
		}
		if (sodium_memcmp(s->token, token, WEB_TOKEN_HEX) == 0)
			found = s;
	}
	if (found)
		found->last = now;
	return found;
}

static void random_hex(char *out)
{
	unsigned char b[WEB_TOKEN_HEX / 2];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, WEB_TOKEN_HEX + 1, b, sizeof(b));
	sodium_memzero(b, sizeof(b));
}

/* ---- event streams ---- */

static void stream_unlink(struct stream *s)
{
	struct web *w = s->w;

	if (!s->linked)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->linked = 0;
	w->nstreams--;
}

static void stream_unwatch(struct stream *s)
{
	if (s->gone_fd >= 0) {
		loop_fd_del(s->w->l, s->gone_fd);
		s->gone_fd = -1;
	}
}

static void stream_wake(struct stream *s)
{
	stream_unwatch(s);
	if (s->suspended && s->conn) {
		s->suspended = 0;
		MHD_resume_connection(s->conn);
		s->w->need_run = 1;
	}
}

/* Stop sending to a stream: the reader ends the response when MHD next
 * asks for data. A client that reads nothing is never asked again, so its
 * timeout goes from "never" to one second of no progress. */
static void stream_drop(struct stream *s, const char *why)
{
	if (s->dropped)
		return;
	if (why)
		log_notice("%s: event stream closed: %s", s->w->name, why);
	s->dropped = 1;
	stream_unlink(s);
	free(s->buf);
	s->buf = NULL;
	s->off = s->len = s->cap = 0;
	if (s->conn) {
		MHD_set_connection_option(s->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
		stream_wake(s);
		s->w->need_run = 1;
	}
}

static int stream_push(struct stream *s, const char *data, size_t n)
{
	size_t pending = s->len - s->off;

	if (s->dropped)
		return -EPIPE;
	if (pending + n > s->w->sse_queue_max) {
		stream_drop(s, "the client does not read (queue bound reached)");
		return -ENOBUFS;
	}
	if (s->off > 0) {
		memmove(s->buf, s->buf + s->off, pending);
		s->off = 0;
		s->len = pending;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 1024;
		while (cap < s->len + n)
			cap *= 2;
		char *nb = realloc(s->buf, cap);
		if (!nb) {
			stream_drop(s, "out of memory");
			return -ENOMEM;
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	stream_wake(s);
	return 0;
}

/* A parked connection is out of MHD's epoll set, so MHD would notice a
 * client that left only at the next write (the keepalive, up to 15 s
 * later). An event-stream client never half-closes: its end of the
 * connection closing means it is gone. */
static void on_gone(void *ctx, int fd, short revents)
{
	(void)fd;
	(void)revents;
	stream_drop(ctx, NULL);
}

static void stream_watch(struct stream *s)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	if (ci && ci->connect_fd >= 0 &&
	    loop_fd_add(s->w->l, ci->connect_fd, POLLRDHUP, on_gone, s) == 0)
		s->gone_fd = ci->connect_fd;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	(void)pos;
	if (s->dropped) /* the end of the chunked body; "Connection: close" ends the link */
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (s->len == s->off) {
		/* Nothing to send: park the connection until the next
		 * event (returning 0 alone would spin). */
		s->off = s->len = 0;
		if (s->conn && !s->suspended) {
			s->suspended = 1;
			MHD_suspend_connection(s->conn);
			stream_watch(s);
		}
		return 0;
	}
	n = s->len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

/* The response is gone (its connection closed): the stream goes with it. */
static void stream_free(void *cls)
{
	struct stream *s = cls;

	stream_unlink(s);
	stream_unwatch(s);
	if (s->req)
		s->req->stream = NULL;
	sodium_memzero(s->token, sizeof(s->token));
	free(s->topic);
	free(s->buf);
	free(s);
}

static void keepalive(void *ctx)
{
	struct web *w = ctx;
	static const char ka[] = ": keepalive\n\n";
	int64_t now = loop_mono_ms();

	/* Expire idle sessions now rather than at the next request, so that
	 * their streams end on time. */
	for (int i = 0; i < WEB_MAX_SESSIONS; i++)
		if (w->sess[i].used && now - w->sess[i].last > w->idle_ms)
			session_end(w, &w->sess[i]);
	for (struct stream *s = w->streams, *next; s; s = next) {
		next = s->next;
		stream_push(s, ka, sizeof(ka) - 1);
	}
	w->ka_timer = loop_timer_add(w->l, WEB_KEEPALIVE_MS, keepalive, w);
}

int web_sse_send(struct web *w, const char *topic, const char *event, const char *data)
{
	char *msg;
	int n = 0, len;

	if (!w || !event || !data || strpbrk(event, "\r\n") || strpbrk(data, "\r\n"))
		return -EINVAL;
	len = asprintf(&msg, "event: %s\ndata: %s\n\n", event, data);
	if (len < 0)
		return -ENOMEM;
	for (struct stream *s = w->streams, *next; s; s = next) {
		next = s->next; /* a push may drop s */
		if (topic && s->topic && strcmp(topic, s->topic) != 0)
			continue;
		if (stream_push(s, msg, (size_t)len) == 0)
			n++;
	}
	free(msg);
	return n;
}

int web_sse_count(const struct web *w)
{
	return w ? w->nstreams : 0;
}

/* ---- the request ---- */

const char *web_req_method(const struct web_req *r)
{
	return r->method;
}

const char *web_req_path(const struct web_req *r)
{
	return r->path;
}

const char *web_req_query(const struct web_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *web_req_header(const struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *web_req_body(const struct web_req *r, size_t *len)
{
	if (len)
		*len = r->blen;
	return r->body ? r->body : "";
}

const struct cJSON *web_req_json(struct web_req *r)
{
	if (!r->json_done) {
		r->json_done = 1;
		if (r->body && r->blen)
			r->json = cJSON_ParseWithLength(r->body, r->blen);
	}
	return cJSON_IsObject(r->json) ? r->json : NULL;
}

const char *web_req_peer(const struct web_req *r)
{
	return r->peer;
}

const char *web_req_rest(const struct web_req *r)
{
	return r->rest ? r->rest : "";
}

const char *web_req_user(const struct web_req *r)
{
	return r->sess ? r->sess->user : NULL;
}

const char *web_req_role(const struct web_req *r)
{
	return r->sess ? r->sess->role : NULL;
}

const char *web_req_csrf(const struct web_req *r)
{
	return r->sess ? r->sess->csrf : NULL;
}

static const char *lang_of(const char *v)
{
	if (!v)
		return NULL;
	if (strncasecmp(v, "vi", 2) == 0 && (v[2] == '\0' || v[2] == '-' || v[2] == '_'))
		return "vi";
	if (strncasecmp(v, "en", 2) == 0 && (v[2] == '\0' || v[2] == '-' || v[2] == '_'))
		return "en";
	return NULL;
}

const char *web_req_lang(const struct web_req *r, const char *dflt)
{
	const char *l, *al;
	const char *best = NULL;
	double bestq = 0;

	if ((l = lang_of(MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "lang"))))
		return l;
	if ((l = lang_of(MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "lang"))))
		return l;
	al = web_req_header(r, "Accept-Language");
	/* "vi-VN,vi;q=0.9,en;q=0.8": the highest q among vi and en wins,
	 * the earlier one on a tie. */
	while (al && *al) {
		char tag[16];
		size_t n = strcspn(al, ",;");
		double q = 1.0;
		const char *item_end = al + strcspn(al, ",");

		while (n > 0 && al[0] == ' ')
			al++, n--;
		snprintf(tag, sizeof(tag), "%.*s", (int)(n < 15 ? n : 15), al);
		for (const char *p = al + n; p < item_end; p++)
			if (strncmp(p, "q=", 2) == 0)
				q = strtod(p + 2, NULL);
		if ((l = lang_of(tag)) && q > bestq) {
			best = l;
			bestq = q;
		}
		al = *item_end ? item_end + 1 : item_end;
	}
	return best ? best : dflt;
}

/* ---- replies ---- */

static int set_reply(struct web_req *r, unsigned status, struct MHD_Response *resp,
                     const char *ctype)
{
	if (!resp)
		return -ENOMEM;
	if (r->resp) {
		MHD_destroy_response(resp);
		return -EALREADY;
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	r->resp = resp;
	r->status = status;
	return 0;
}

int web_reply_data(struct web_req *r, int status, const char *ctype, const void *data, size_t len)
{
	return set_reply(
	    r, (unsigned)status,
	    MHD_create_response_from_buffer(len, (void *)(len ? data : ""), MHD_RESPMEM_MUST_COPY),
	    ctype);
}

int web_reply_json(struct web_req *r, int status, struct cJSON *body)
{
	char *text;
	int rc;

	text = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	if (body && !text)
		return -ENOMEM;
	rc = web_reply_data(r, status, "application/json", text ? text : "{}",
	                    text ? strlen(text) : 2);
	cJSON_free(text);
	return rc;
}

int web_reply_error(struct web_req *r, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "error", msg ? msg : "")) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return web_reply_json(r, status, o);
}

int web_reply_sse(struct web_req *r, const char *topic)
{
	static const char first[] = "retry: 2000\n\n";
	struct web *w = r->w;
	struct stream *s;
	struct MHD_Response *resp;
	int rc;

	if (r->resp || r->stream)
		return -EALREADY;
	if (w->nstreams >= w->max_sse)
		return web_reply_error(r, 503, "too many event streams");
	s = calloc(1, sizeof(*s));
	if (!s || (topic && !(s->topic = strdup(topic)))) {
		free(s);
		return -ENOMEM;
	}
	s->w = w;
	s->conn = r->conn;
	s->gone_fd = -1;
	resp =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
	if (!resp) {
		free(s->topic);
		free(s);
		return -ENOMEM;
	}
	rc = set_reply(r, 200, resp, "text/event-stream");
	if (rc < 0)
		return rc; /* resp destroyed, which freed s */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	/* A stream is never followed by another request on its connection. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if ((r->flags & WEB_AUTH) && r->sess)
		memcpy(s->token, r->sess->token, sizeof(s->token));
	s->req = r;
	r->stream = s;
	s->next = w->streams;
	if (w->streams)
		w->streams->prev = s;
	w->streams = s;
	s->linked = 1;
	w->nstreams++;
	/* The 30 s connection timeout would cut a quiet stream (keepalive
	 * comments come every 15 s, but a suspended connection is parked). */
	MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	return stream_push(s, first, sizeof(first) - 1);
}

int web_session_start(struct web_req *r, const char *user, const char *role, char *csrf,
                      size_t csrflen)
{
	struct web *w = r->w;
	struct session *s = NULL;
	int64_t now = loop_mono_ms();

	if (!user || !role || !csrf || csrflen < WEB_TOKEN_HEX + 1)
		return -EINVAL;
	if (r->sess) {
		session_end(w, r->sess);
		r->sess = NULL;
	}
	for (int i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct session *c = &w->sess[i];
		if (c->used && now - c->last > w->idle_ms)
			session_end(w, c);
		if (!c->used) {
			s = c;
			break;
		}
		if (!s || c->last < s->last)
			s = c;
	}
	if (s->used) {
		log_notice("%s: session table full: the longest idle session ends", w->name);
		session_end(w, s);
	}
	s->user = strdup(user);
	s->role = strdup(role);
	if (!s->user || !s->role) {
		session_clear(s);
		return -ENOMEM;
	}
	random_hex(s->token);
	random_hex(s->csrf);
	s->last = now;
	s->used = 1;
	r->sess = s;
	snprintf(r->cookie, sizeof(r->cookie), "%s=%s; HttpOnly; SameSite=Strict; Path=/%s",
	         WEB_COOKIE, s->token, w->tls ? "; Secure" : "");
	snprintf(csrf, csrflen, "%s", s->csrf);
	return 0;
}

void web_session_end(struct web_req *r)
{
	if (r->sess) {
		session_end(r->w, r->sess);
		r->sess = NULL;
	}
	snprintf(r->cookie, sizeof(r->cookie),
	         "%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s", WEB_COOKIE,
	         r->w->tls ? "; Secure" : "");
}

void web_sessions_drop_user(struct web *w, const char *user)
{
	if (!w || !user)
		return;
	for (int i = 0; i < WEB_MAX_SESSIONS; i++)
		if (w->sess[i].used && strcmp(w->sess[i].user, user) == 0)
			session_end(w, &w->sess[i]);
}

/* ---- dispatch ---- */

static int route_path_match(const struct web_route *rt, const char *path, const char **rest)
{
	size_t n = strlen(rt->path);

	if (n > 0 && rt->path[n - 1] == '*') {
		if (strncmp(path, rt->path, n - 1) != 0)
			return 0;
		*rest = path + n - 1;
		return 1;
	}
	if (strcmp(path, rt->path) != 0)
		return 0;
	*rest = "";
	return 1;
}

static int check_csrf(const struct web_req *r)
{
	const char *h = web_req_header(r, "X-CSRF-Token");

	return r->sess && h && strlen(h) == WEB_TOKEN_HEX &&
	       sodium_memcmp(h, r->sess->csrf, WEB_TOKEN_HEX) == 0;
}

static void later_unlink(struct web_req *r)
{
	if (!r->later)
		return;
	if (r->later_prev)
		r->later_prev->later_next = r->later_next;
	else
		r->w->laters = r->later_next;
	if (r->later_next)
		r->later_next->later_prev = r->later_prev;
	r->later_next = r->later_prev = NULL;
	r->later = 0;
}

int web_reply_later(struct web_req *r)
{
	if (r->later || r->resp || r->stream)
		return -EALREADY;
	r->later = 1;
	r->later_next = r->w->laters;
	if (r->later_next)
		r->later_next->later_prev = r;
	r->w->laters = r;
	return 0;
}

void web_later_reply(struct web_req *r, int status, const char *ctype, const void *data, size_t len)
{
	int suspended = r->later_suspended;
	later_unlink(r);
	if (web_reply_data(r, status, ctype, data, len) < 0)
		web_reply_error(r, 500, "internal error");
	if (suspended) {
		/* MHD calls on_request again, which queues the reply. */
		r->later_suspended = 0;
		r->later_done = 1;
		MHD_resume_connection(r->conn);
		r->w->need_run = 1;
	}
}

static void dispatch(struct web_req *r)
{
	struct web *w = r->w;
	const struct web_route *hit = NULL;
	int path_known = 0,
	    is_get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;

	for (size_t i = 0; i < w->nroutes && !hit; i++) {
		const struct web_route *rt = &w->routes[i];
		const char *rest;
		if (!route_path_match(rt, r->path, &rest))
			continue;
		path_known = 1;
		if (strcmp(rt->method, r->method) == 0 ||
		    (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
			hit = rt;
			r->flags = rt->flags;
			r->rest = rest;
		}
	}
	if (hit) {
		if ((hit->flags & (WEB_AUTH | WEB_CSRF)) && !r->sess) {
			web_reply_error(r, 401, "login required");
			return;
		}
		if ((hit->flags & WEB_CSRF) && !check_csrf(r)) {
			web_reply_error(r, 403, "bad or missing CSRF token");
			return;
		}
		if (hit->fn(w->ctx, r) < 0 || (!r->resp && !r->later)) {
			if (r->later) /* answered now, not later */
				later_unlink(r);
			if (r->resp) {
				MHD_destroy_response(r->resp);
				r->resp = NULL;
			}
			if (r->stream) /* freed with its response */
				r->stream = NULL;
			web_reply_error(r, 500, "internal error");
		}
		return;
	}
	for (size_t i = 0; i < w->nassets; i++) {
		const struct web_asset *a = &w->assets[i];
		if (strcmp(a->path, r->path) != 0 &&
		    !(strcmp(r->path, "/") == 0 && strcmp(a->path, "/index.html") == 0))
			continue;
		if (!is_get) {
			path_known = 1;
			break;
		}
		r->is_asset = 1;
		set_reply(r, 200,
		          MHD_create_response_from_buffer(
		              a->len, (void *)(a->len ? a->data : (const unsigned char *)""),
		              MHD_RESPMEM_PERSISTENT),
		          a->ctype);
		return;
	}
	if (path_known)
		web_reply_error(r, 405, "method not allowed");
	else if (strncmp(r->path, "/api/", 5) == 0 || strcmp(r->path, "/api") == 0)
		web_reply_error(r, 404, "not found");
	else
		web_reply_data(r, 404, "text/plain; charset=utf-8", "not found\n", 10);
}

/* The path for a log line: it is decoded client input, so control bytes
 * (a "%0A" forging a second log line) become '?'. */
static const char *log_path(const char *path, char *buf, size_t len)
{
	size_t i = 0;

	for (; path && path[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)path[i] < 0x20 || path[i] == 0x7f ? '?' : path[i];
	buf[i] = '\0';
	return buf;
}

static enum MHD_Result queue_reply(struct web_req *r)
{
	char lp[128];
	enum MHD_Result ok;

	if (!r->resp && web_reply_error(r, 500, "internal error") < 0)
		return MHD_NO;
	for (size_t i = 0; i < sizeof(security_headers) / sizeof(security_headers[0]); i++)
		MHD_add_response_header(r->resp, security_headers[i][0], security_headers[i][1]);
	if (!r->stream)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL,
		                        r->is_asset ? "no-cache" : "no-store");
	if (r->cookie[0])
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_SET_COOKIE, r->cookie);
	if (r->status >= 500)
		log_warn("%s: %s %s from %s: %u", r->w->name, r->method,
		         log_path(r->path, lp, sizeof(lp)), r->peer, r->status);
	ok = MHD_queue_response(r->conn, r->status, r->resp);
	MHD_destroy_response(r->resp); /* MHD keeps its own reference */
	r->resp = NULL;
	if (ok != MHD_YES)
		log_warn("%s: %s %s: cannot queue the reply", r->w->name, r->method,
		         log_path(r->path, lp, sizeof(lp)));
	return ok;
}

static void peer_text(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, len, "?");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
		          (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
		          (socklen_t)len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	struct web_req *r = *con_cls;

	(void)version;
	if (!r) {
		const char *cl;
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->w = w;
		r->conn = conn;
		r->method = method;
		r->path = url;
		peer_text(conn, r->peer, sizeof(r->peer));
		*con_cls = r;
		/* Refuse an announced oversized body before reading it. */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > w->max_body) {
			r->too_big = 1;
			web_reply_error(r, 413, "request body too large");
			return queue_reply(r);
		}
		return MHD_YES;
	}
	if (r->later_done) /* resumed with its later reply */
		return queue_reply(r);
	r->method = method;
	r->path = url;
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->too_big || r->blen + n > w->max_body) {
			r->too_big = 1; /* a chunked body: drop the rest, answer 413 at the end */
			return MHD_YES;
		}
		if (r->blen + n + 1 > r->bcap) {
			size_t cap = r->bcap ? r->bcap : 1024;
			while (cap < r->blen + n + 1)
				cap *= 2;
			char *nb = realloc(r->body, cap);
			if (!nb)
				return MHD_NO;
			r->body = nb;
			r->bcap = cap;
		}
		memcpy(r->body + r->blen, upload, n);
		r->blen += n;
		r->body[r->blen] = '\0';
		return MHD_YES;
	}
	if (r->too_big) {
		if (r->status) /* answered on the first call */
			return MHD_YES;
		web_reply_error(r, 413, "request body too large");
		return queue_reply(r);
	}
	r->sess = session_find(w, MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, WEB_COOKIE));
	dispatch(r);
	if (r->later) {
		/* Park it until web_later_reply. */
		r->later_suspended = 1;
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	return queue_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct web_req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!r)
		return;
	if (r->stream) {
		struct stream *s = r->stream;
		stream_unwatch(s);
		s->req = NULL;
		s->conn = NULL;
		s->suspended = 0;
		stream_drop(s, NULL);
	}
	if (r->resp)
		MHD_destroy_response(r->resp);
	cJSON_Delete(r->json);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* ---- loop glue ---- */

static void mhd_run(struct web *w)
{
	w->need_run = 0;
	MHD_run(w->d);
}

static void on_epoll(void *ctx, int fd, short revents)
{
	(void)fd;
	(void)revents;
	mhd_run(ctx);
}

static void on_timer(void *ctx)
{
	struct web *w = ctx;

	w->timer = 0;
	mhd_run(w);
}

static void prepare(void *ctx)
{
	struct web *w = ctx;
	MHD_UNSIGNED_LONG_LONG ms;

	if (w->need_run)
		mhd_run(w);
	loop_timer_cancel(w->l, w->timer);
	w->timer = 0;
	if (MHD_get_timeout(w->d, &ms) == MHD_YES)
		w->timer = loop_timer_add(w->l, ms > 60000 ? 60000 : (int64_t)ms, on_timer, w);
}

/* ---- life ---- */

struct web *web_new(struct loop *l, const struct web_conf *c, const struct web_route *routes,
                    size_t nroutes, const struct web_asset *assets, size_t nassets, void *ctx,
                    char *err, size_t errlen)
{
	struct web *w = NULL;
	struct sockaddr_storage ss;
	int v6 = 0;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	const char *name = c->name ? c->name : "web";

	if (sodium_init() < 0) {
		snprintf(err, errlen, "%s: libsodium failed to initialise", name);
		return NULL;
	}
	if (parse_listen(c->listen, &ss, &v6) < 0) {
		snprintf(
		    err, errlen,
		    "%s: listen \"%s\": expected host:port or [v6]:port with a numeric address",
		    name, c->listen ? c->listen : "");
		return NULL;
	}
	if ((c->cert_file && *c->cert_file) != (c->key_file && *c->key_file)) {
		snprintf(err, errlen, "%s: HTTPS needs both a certificate and a key file", name);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->l = l;
	w->efd = -1;
	w->idle_ms = (int64_t)(c->idle_s > 0 ? c->idle_s : 43200) * 1000;
	w->max_body = c->max_body ? c->max_body : 16384;
	w->max_sse = c->max_sse > 0 ? c->max_sse : 64;
	w->sse_queue_max = c->sse_queue_max ? c->sse_queue_max : 1024 * 1024;
	w->routes = routes;
	w->nroutes = nroutes;
	w->assets = assets;
	w->nassets = nassets;
	w->ctx = ctx;
	if (c->cert_file && *c->cert_file) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			snprintf(err, errlen, "%s: this libmicrohttpd has no TLS support", name);
			goto fail;
		}
		if (read_pem(c->cert_file, &w->cert, err, errlen, name, "certificate") < 0 ||
		    read_pem(c->key_file, &w->key, err, errlen, name, "key") < 0)
			goto fail;
		w->tls = 1;
		flags |= MHD_USE_TLS;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	if (w->tls)
		w->d = MHD_start_daemon(
		    flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
		    on_completed, w, MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_CONN_LIMIT,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)WEB_PER_IP_LIMIT,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_CONN_TIMEOUT_S,
		    MHD_OPTION_HTTPS_MEM_KEY, w->key, MHD_OPTION_HTTPS_MEM_CERT, w->cert,
		    MHD_OPTION_END);
	else
		w->d = MHD_start_daemon(
		    flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
		    on_completed, w, MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_CONN_LIMIT,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)WEB_PER_IP_LIMIT,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_CONN_TIMEOUT_S, MHD_OPTION_END);
	if (!w->d) {
		char why[128];
		if (bind_error(&ss, why, sizeof(why)) < 0)
			snprintf(err, errlen, "%s: listen %s: %s", name, c->listen, why);
		else if (w->tls)
			snprintf(err, errlen,
			         "%s: HTTPS: certificate %s and key %s are not a valid PEM pair "
			         "(details in the log)",
			         name, c->cert_file, c->key_file);
		else
			snprintf(err, errlen,
			         "%s: listen %s: cannot start the HTTP server "
			         "(details in the log)",
			         name, c->listen);
		goto fail;
	}
	di = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);
	w->efd = di ? di->epoll_fd : -1;
	if (w->efd < 0 || loop_fd_add(l, w->efd, POLLIN, on_epoll, w) < 0 ||
	    loop_prepare_add(l, prepare, w) < 0) {
		snprintf(err, errlen, "%s: cannot attach the HTTP server to the event loop", name);
		goto fail;
	}
	w->ka_timer = loop_timer_add(l, WEB_KEEPALIVE_MS, keepalive, w);
	log_info("%s: serving %s on %s port %d", name, w->tls ? "HTTPS" : "HTTP", c->listen,
	         web_port(w));
	return w;
fail:
	web_free(w);
	return NULL;
}

void web_free(struct web *w)
{
	if (!w)
		return;
	/* MHD refuses to stop with parked connections: wake every stream
	 * and let its reader end it. */
	for (struct stream *s = w->streams, *next; s; s = next) {
		next = s->next;
		stream_drop(s, NULL);
	}
	/* And with requests waiting for a later reply: answer them now. */
	while (w->laters)
		web_later_reply(w->laters, 503, "application/json", "{\"error\":\"stopping\"}",
		                strlen("{\"error\":\"stopping\"}"));
	if (w->d) {
		/* Let MHD send what was resumed. */
		MHD_run(w->d);
	}
	if (w->d)
		MHD_stop_daemon(w->d);
	if (w->efd >= 0) {
		loop_fd_del(w->l, w->efd);
		loop_prepare_del(w->l, prepare, w);
	}
	loop_timer_cancel(w->l, w->timer);
	loop_timer_cancel(w->l, w->ka_timer);
	for (int i = 0; i < WEB_MAX_SESSIONS; i++)
		if (w->sess[i].used)
			session_clear(&w->sess[i]);
	free_secret(w->key);
	free_secret(w->cert);
	free(w);
}

int web_port(const struct web *w)
{
	const union MHD_DaemonInfo *di;

	if (!w || !w->d)
		return -1;
	di = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_BIND_PORT);
	return di ? di->port : -1;
}
