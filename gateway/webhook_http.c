/*
 * webhook_http.c: the webhook channel's transport (webhook_http.h): libcurl's
 * multi interface driven by the event loop. Built into the plugin
 * safehouse-webhook.so, so that a daemon without webhook contacts never
 * loads libcurl (plugin.h).
 *
 * A try of a message is a struct wtry; its HTTP requests are struct xfer:
 * the text (whose outcome is the try's), and for a zone with a camera the
 * snapshot GET and later the photo. The try lives until its last request
 * has ended; done() is called once, when the text's request ends.
 */
#include "webhook_http.h"

#include "config.h"
#include "log.h"
#include "loop.h"
#include "status.h"
#include "webhook.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEBHOOK_MAX_TRIES 32         /* in flight at once; more: -EAGAIN */
#define WEBHOOK_CONNECT_S 5          /* connect (TCP + TLS) within */
#define WEBHOOK_RESPONSE_MAX 8192    /* bytes of a response kept for the reason */
#define CAMERA_TIMEOUT_MS 3000       /* a snapshot is worth this long */
#define CAMERA_MAX (2 * 1024 * 1024) /* one JPEG, not a stream */
#define REASON_MAX 120               /* bytes of a server's reason in a detail */

/* ---- transfers ---- */

enum xkind { X_TEXT, X_CAMERA, X_PHOTO };

struct wtry;

struct xfer {
	struct webhook *w;
	struct wtry *t;
	enum xkind kind;
	CURL *easy;
	struct curl_slist *hdrs;
	curl_mime *mime;
	char *body;
	struct webhook_buf resp;
	size_t resp_max;
	char errbuf[CURL_ERROR_SIZE];
};

/* One try of one message; freed when its requests have all ended. */
struct wtry {
	struct webhook *w;
	struct wtry *prev, *next;
	int64_t seq;
	enum webhook_preset preset;
	char *token; /* for redaction and the photo request; NULL: none */
	int timeout_s;
	char *cafile;
	struct xfer *text, *camera, *photo;
	int text_ok;      /* the text was delivered: the photo may follow */
	int text_ended;   /* done() was called */
	int camera_ended; /* jpeg holds the snapshot, or the camera failed */
	struct webhook_buf jpeg;
	char *photo_url; /* where the photo goes (with the token) */
	char *chat_id;   /* telegram */
	char *caption;
	char *payload; /* generic: the JSON beside the photo */
	char *title;   /* ntfy */
	int timer;     /* a failure found at send(), reported from the loop */
	enum channel_result pending_r;
	char pending_detail[160];
};

struct webhook {
	struct loop *loop;
	const struct config *cfg;
	CURLM *multi;
	int timer;
	int ntries;
	struct wtry *tries;
	struct channel ch;
};

static void try_maybe_free(struct wtry *t);

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t n = size * nmemb;

	if (x->resp.len + n > x->resp_max) {
		/* A snapshot larger than that is not a snapshot: abort. A
		 * response body is only read for its reason: keep the start. */
		if (x->kind == X_CAMERA)
			return 0;
		webhook_buf_add(&x->resp, ptr, x->resp_max - x->resp.len);
		return n;
	}
	webhook_buf_add(&x->resp, ptr, n);
	return x->resp.oom ? 0 : n;
}

/* Replace every copy of secret in s by "***". */
static void redact(char *s, size_t size, const char *secret)
{
	char *p;
	size_t n = secret ? strlen(secret) : 0;

	if (n < 4)
		return;
	while ((p = strstr(s, secret))) {
		size_t rest = strlen(p + n);
		memmove(p + 3, p + n, rest + 1);
		memcpy(p, "***", 3);
		(void)size;
	}
}

/* A server's words, made safe for one line of status: printable, short,
 * cut on a character boundary. */
static void clean_reason(char *dst, size_t size, const char *src)
{
	size_t o = 0, max = size - 1 < REASON_MAX ? size - 1 : REASON_MAX;

	for (size_t i = 0; src[i] && o < max; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch == '\n' || ch == '\r')
			break;
		if (ch < 32 || ch == 127)
			ch = ' ';
		dst[o++] = (char)ch;
	}
	/* Do not end inside a UTF-8 sequence. */
	while (o && ((unsigned char)dst[o - 1] & 0xc0) == 0x80)
		o--;
	if (o && ((unsigned char)dst[o - 1] & 0xc0) == 0xc0)
		o--;
	dst[o] = '\0';
	while (o && dst[o - 1] == ' ')
		dst[--o] = '\0';
}

/* The reason a server gave in its body: Telegram's "description", ntfy's
 * "error", Zalo's "message", else the first line of a text body. */
static void body_reason(const struct webhook_buf *resp, char *out, size_t size)
{
	static const char *const keys[] = {"description", "error", "message", "detail", NULL};
	cJSON *j;

	out[0] = '\0';
	if (!resp->s || !resp->len)
		return;
	j = cJSON_ParseWithLength(resp->s, resp->len);
	if (j) {
		for (int i = 0; keys[i]; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
			if (cJSON_IsString(v) && v->valuestring[0]) {
				clean_reason(out, size, v->valuestring);
				break;
			}
		}
		cJSON_Delete(j);
		return;
	}
	if (resp->s[0] != '<') /* not an HTML error page */
		clean_reason(out, size, resp->s);
}

static enum channel_result classify(struct xfer *x, CURLcode rc, char *detail, size_t size)
{
	long code = 0;
	char reason[REASON_MAX + 8];

	if (rc != CURLE_OK) {
		const char *e = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
		switch (rc) {
		case CURLE_OPERATION_TIMEDOUT:
			snprintf(detail, size, "timeout: %.200s", e);
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			snprintf(detail, size, "TLS: %.200s", e);
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
			snprintf(detail, size, "DNS: %.200s", e);
			break;
		default:
			snprintf(detail, size, "connection: %.200s", e);
			break;
		}
		return CHANNEL_RETRY;
	}
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	body_reason(&x->resp, reason, sizeof(reason));
	if (code >= 200 && code < 300) {
		/* Zalo answers 200 with an error code in the body. */
		if (x->t && x->t->preset == WEBHOOK_ZALO && x->resp.s) {
			cJSON *j = cJSON_ParseWithLength(x->resp.s, x->resp.len);
			const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
			int bad = cJSON_IsNumber(err) && err->valueint != 0;
			if (bad)
				snprintf(detail, size, "Zalo error %d%s%s", err->valueint,
				         reason[0] ? ": " : "", reason);
			cJSON_Delete(j);
			if (bad)
				return CHANNEL_FAILED;
		}
		snprintf(detail, size, "HTTP %ld", code);
		return CHANNEL_DELIVERED;
	}
	snprintf(detail, size, "HTTP %ld%s%s", code, reason[0] ? ": " : "", reason);
	if (code >= 500 || code == 429 || code == 408)
		return CHANNEL_RETRY;
	if (code >= 300 && code < 400 && !reason[0])
		snprintf(detail, size, "HTTP %ld: redirect not followed; give the final URL", code);
	return CHANNEL_FAILED;
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	if (x->easy) {
		curl_multi_remove_handle(x->w->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	curl_mime_free(x->mime);
	free(x->body);
	free(x->resp.s);
	free(x);
}

/* A request with the options every one of ours has. */
static struct xfer *xfer_new(struct wtry *t, enum xkind kind, const char *url, int timeout_ms)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->w = t->w;
	x->t = t;
	x->kind = kind;
	x->resp_max = kind == X_CAMERA ? CAMERA_MAX : WEBHOOK_RESPONSE_MAX;
	x->easy = curl_easy_init();
	if (!x->easy) {
		free(x);
		return NULL;
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(
	    x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(timeout_ms < WEBHOOK_CONNECT_S * 1000 ? timeout_ms : WEBHOOK_CONNECT_S * 1000));
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Verification is on in libcurl by default; say so, so that nobody
	 * "fixes" a certificate problem by turning it off here. */
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (t->cafile && kind != X_CAMERA)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, t->cafile);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "safehoused");
	return x;
}

static int xfer_start(struct xfer *x)
{
	if (x->hdrs)
		curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	return curl_multi_add_handle(x->w->multi, x->easy) == CURLM_OK ? 0 : -1;
}

static void hdr(struct xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hdr(struct xfer *x, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	struct curl_slist *n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = curl_slist_append(x->hdrs, line);
	if (n)
		x->hdrs = n;
}

static void try_unlink_free(struct wtry *t)
{
	struct webhook *w = t->w;

	if (t->prev)
		t->prev->next = t->next;
	else
		w->tries = t->next;
	if (t->next)
		t->next->prev = t->prev;
	w->ntries--;
	loop_timer_cancel(w->loop, t->timer);
	xfer_free(t->text);
	xfer_free(t->camera);
	xfer_free(t->photo);
	free(t->token);
	free(t->cafile);
	free(t->jpeg.s);
	free(t->photo_url);
	free(t->chat_id);
	free(t->caption);
	free(t->payload);
	free(t->title);
	free(t);
}

static void try_maybe_free(struct wtry *t)
{
	if (t->text_ended && !t->text && !t->camera && !t->photo && !t->timer)
		try_unlink_free(t);
}

static void try_done(struct wtry *t, enum channel_result r, const char *detail)
{
	struct webhook *w = t->w;
	char d[256];

	snprintf(d, sizeof(d), "%s", detail);
	redact(d, sizeof(d), t->token);
	t->text_ended = 1;
	t->text_ok = r == CHANNEL_DELIVERED;
	if (r != CHANNEL_DELIVERED)
		log_notice("webhook: message %" PRId64 ": %s (%s)", t->seq, d,
		           r == CHANNEL_RETRY ? "will retry" : "failed");
	else
		log_info("webhook: message %" PRId64 " delivered (%s)", t->seq, d);
	if (w->ch.done)
		w->ch.done(w->ch.done_ctx, t->seq, r, d);
}

/* The photo, once the text is delivered and the snapshot is in. */
static void photo_start(struct wtry *t)
{
	struct xfer *x;

	if (!t->text_ok || !t->camera_ended || !t->jpeg.len || t->photo || !t->photo_url)
		return;
	x = xfer_new(t, X_PHOTO, t->photo_url, t->timeout_s * 1000);
	if (!x)
		return;
	switch (t->preset) {
	case WEBHOOK_TELEGRAM: {
		curl_mimepart *p;
		x->mime = curl_mime_init(x->easy);
		p = curl_mime_addpart(x->mime);
		curl_mime_name(p, "chat_id");
		curl_mime_data(p, t->chat_id, CURL_ZERO_TERMINATED);
		p = curl_mime_addpart(x->mime);
		curl_mime_name(p, "caption");
		curl_mime_data(p, t->caption, CURL_ZERO_TERMINATED);
		p = curl_mime_addpart(x->mime);
		curl_mime_name(p, "photo");
		curl_mime_filename(p, "snapshot.jpg");
		curl_mime_type(p, "image/jpeg");
		curl_mime_data(p, t->jpeg.s, t->jpeg.len);
		curl_easy_setopt(x->easy, CURLOPT_MIMEPOST, x->mime);
		break;
	}
	case WEBHOOK_NTFY:
		/* ntfy takes a file as the body of a PUT, with its name in a
		 * header; the server keeps it (attachments must be enabled). */
		curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, t->jpeg.s);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)t->jpeg.len);
		hdr(x, "Content-Type: image/jpeg");
		hdr(x, "Filename: snapshot.jpg");
		hdr(x, "Title: %s", t->title);
		if (t->token)
			hdr(x, "Authorization: Bearer %s", t->token);
		break;
	case WEBHOOK_GENERIC: {
		curl_mimepart *p;
		x->mime = curl_mime_init(x->easy);
		p = curl_mime_addpart(x->mime);
		curl_mime_name(p, "payload");
		curl_mime_type(p, "application/json");
		curl_mime_data(p, t->payload, CURL_ZERO_TERMINATED);
		p = curl_mime_addpart(x->mime);
		curl_mime_name(p, "snapshot");
		curl_mime_filename(p, "snapshot.jpg");
		curl_mime_type(p, "image/jpeg");
		curl_mime_data(p, t->jpeg.s, t->jpeg.len);
		curl_easy_setopt(x->easy, CURLOPT_MIMEPOST, x->mime);
		if (t->token)
			hdr(x, "Authorization: Bearer %s", t->token);
		break;
	}
	case WEBHOOK_ZALO:
		xfer_free(x);
		return;
	}
	if (xfer_start(x) < 0) {
		xfer_free(x);
		return;
	}
	t->photo = x;
}

static void xfer_ended(struct xfer *x, CURLcode rc)
{
	struct wtry *t = x->t;
	char detail[256];
	enum channel_result r = classify(x, rc, detail, sizeof(detail));

	redact(detail, sizeof(detail), t->token);
	switch (x->kind) {
	case X_TEXT:
		t->text = NULL;
		try_done(t, r, detail);
		if (!t->text_ok && t->camera) {
			/* No photo without its text: stop waiting for it. */
			xfer_free(t->camera);
			t->camera = NULL;
		}
		photo_start(t);
		break;
	case X_CAMERA:
		t->camera = NULL;
		t->camera_ended = 1;
		if (r == CHANNEL_DELIVERED && x->resp.len >= 3 &&
		    memcmp(x->resp.s, "\xff\xd8\xff", 3) == 0) {
			t->jpeg = x->resp;
			x->resp = (struct webhook_buf){0};
			photo_start(t);
		} else {
			log_notice("webhook: message %" PRId64 ": no camera snapshot: %s", t->seq,
			           r == CHANNEL_DELIVERED ? "the camera's answer is not a JPEG"
			                                  : detail);
		}
		break;
	case X_PHOTO:
		t->photo = NULL;
		if (r == CHANNEL_DELIVERED)
			log_info("webhook: message %" PRId64 ": camera snapshot sent", t->seq);
		else
			log_notice("webhook: message %" PRId64 ": camera snapshot not sent: %s",
			           t->seq, detail);
		break;
	}
	xfer_free(x);
	try_maybe_free(t);
}

static void check_done(struct webhook *w)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(w->multi, &left))) {
		struct xfer *x = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURLcode rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x)
			xfer_ended(x, rc);
	}
}

/* ---- libcurl on the loop ---- */

static void on_fd(void *ctx, int fd, short revents)
{
	struct webhook *w = ctx;
	int flags = 0, running;

	if (revents & POLLIN)
		flags |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLHUP | POLLNVAL))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(w->multi, fd, flags, &running);
	check_done(w);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *ctx, void *sockp)
{
	struct webhook *w = ctx;
	short ev = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (sockp) {
			loop_fd_del(w->loop, s);
			curl_multi_assign(w->multi, s, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= POLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= POLLOUT;
	if (sockp) {
		loop_fd_events(w->loop, s, ev);
	} else if (loop_fd_add(w->loop, s, ev, on_fd, w) == 0) {
		curl_multi_assign(w->multi, s, w);
	}
	return 0;
}

static void on_timer(void *ctx)
{
	struct webhook *w = ctx;
	int running;

	w->timer = 0;
	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(w);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *ctx)
{
	struct webhook *w = ctx;

	(void)m;
	loop_timer_cancel(w->loop, w->timer);
	w->timer = 0;
	/* Never drive curl from inside its own callback: 0 is "soon". */
	if (timeout_ms >= 0)
		w->timer = loop_timer_add(w->loop, timeout_ms, on_timer, w);
	return 0;
}

/* ---- the channel ---- */

static void on_pending(void *ctx)
{
	struct wtry *t = ctx;

	t->timer = 0;
	try_done(t, t->pending_r, t->pending_detail);
	try_maybe_free(t);
}

/* The snapshot request and what the photo needs, for a zone with a camera
 * and a preset that carries one. Failing here only loses the photo. */
static void camera_prepare(struct wtry *t, const struct channel_msg *m,
                           const struct webhook_facts *f, const char *text_url)
{
	const struct config_camera *cam = f->camera;
	const struct webhook_opts *o = m->step->opts;
	struct xfer *x;

	if (!f->has_camera || t->preset == WEBHOOK_ZALO)
		return;
	if (t->preset == WEBHOOK_TELEGRAM) {
		/* .../bot<TOKEN>/sendMessage -> .../bot<TOKEN>/sendPhoto */
		size_t n = strlen(text_url) - strlen("sendMessage");
		if (asprintf(&t->photo_url, "%.*ssendPhoto", (int)n, text_url) < 0)
			t->photo_url = NULL;
		t->chat_id = strdup(o->chat_id);
	} else {
		t->photo_url = strdup(text_url);
	}
	if (asprintf(&t->caption, "%s%s%s", f->zone_name, f->cls[0] ? " - " : "", f->cls) < 0)
		t->caption = NULL;
	t->payload = strdup(m->payload ? m->payload : "{}");
	/* A header: the zone id is a plain word, its name may not be ASCII. */
	if (asprintf(&t->title, "safehouse: camera %s", m->zone ? m->zone : "") < 0)
		t->title = NULL;
	if (!t->photo_url || !t->caption || !t->payload || !t->title ||
	    (t->preset == WEBHOOK_TELEGRAM && !t->chat_id))
		return;
	x = xfer_new(t, X_CAMERA, cam->snapshot_url, CAMERA_TIMEOUT_MS);
	if (!x)
		return;
	if (cam->username) {
		curl_easy_setopt(x->easy, CURLOPT_USERNAME, cam->username);
		curl_easy_setopt(x->easy, CURLOPT_PASSWORD, cam->password ? cam->password : "");
		curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH,
		                 cam->digest ? CURLAUTH_DIGEST : CURLAUTH_BASIC);
	}
	curl_easy_setopt(x->easy, CURLOPT_MAXFILESIZE, (long)CAMERA_MAX);
	/* Cameras on the LAN use self-signed certificates more often than not;
	 * the snapshot is ours to send, not a secret we send. */
	if (strncmp(cam->snapshot_url, "https://", 8) == 0) {
		curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (xfer_start(x) < 0) {
		xfer_free(x);
		return;
	}
	t->camera = x;
}

static int webhook_send(void *impl, const struct channel_msg *m)
{
	struct webhook *w = impl;
	const struct webhook_opts *o = m->step ? m->step->opts : NULL;
	struct wtry *t;
	struct xfer *x = NULL;
	struct webhook_facts f;
	char *url = NULL, *body = NULL, err[160];
	const char *ctype, *token = NULL;
	int r;

	if (w->ntries >= WEBHOOK_MAX_TRIES)
		return -EAGAIN;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->w = w;
	t->seq = m->seq;
	t->next = w->tries;
	if (w->tries)
		w->tries->prev = t;
	w->tries = t;
	w->ntries++;

	r = webhook_render(w->cfg, m, &url, &body, &ctype, err, sizeof(err));
	if (r < 0) {
		/* A step that cannot be sent as it is configured: say so from
		 * the loop, as done() is never called from inside send(). */
		t->pending_r = CHANNEL_FAILED;
		snprintf(t->pending_detail, sizeof(t->pending_detail), "%s", err);
		t->timer = loop_timer_add(w->loop, 0, on_pending, t);
		if (t->timer < 0) {
			t->timer = 0;
			try_unlink_free(t);
			return -ENOMEM;
		}
		return 0;
	}
	t->preset = o->preset;
	t->timeout_s = o->timeout_s;
	token = o->token ? webhook_token(w->cfg, o, err, sizeof(err)) : NULL;
	t->token = token ? strdup(token) : NULL;
	t->cafile = o->cafile ? strdup(o->cafile) : NULL;

	x = xfer_new(t, X_TEXT, url, o->timeout_s * 1000);
	if (!x)
		goto fail;
	x->body = body;
	body = NULL;
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	hdr(x, "Content-Type: %s", ctype);
	/* No "Expect: 100-continue" wait on a body of a few hundred bytes. */
	hdr(x, "Expect:");
	if (o->preset == WEBHOOK_ZALO) {
		hdr(x, "access_token: %s", t->token);
	} else if (o->preset == WEBHOOK_NTFY) {
		hdr(x, "Title: %s", (w->cfg->site.id ? w->cfg->site.id : "safehouse"));
		hdr(x, "Priority: %d", o->priority);
		hdr(x, "Tags: %s",
		    m->kind && (strcmp(m->kind, "alert") == 0 || strcmp(m->kind, "alarm") == 0)
		        ? "rotating_light"
		        : "bell");
		if (t->token)
			hdr(x, "Authorization: Bearer %s", t->token);
	} else if (o->preset == WEBHOOK_GENERIC && t->token) {
		hdr(x, "Authorization: Bearer %s", t->token);
	}
	if (xfer_start(x) < 0)
		goto fail;
	t->text = x;
	webhook_facts(w->cfg, m, &f);
	camera_prepare(t, m, &f, url);
	free(url);
	return 0;
fail:
	xfer_free(x);
	free(url);
	free(body);
	t->text_ended = 1;
	try_unlink_free(t);
	return -ENOMEM;
}

static const char *webhook_fault(void *impl)
{
	(void)impl;
	return NULL;
}

struct webhook *webhook_new(struct loop *l, const struct config *c)
{
	struct webhook *w;

	/* Idempotent and reference-counted in libcurl: every webhook_new
	 * pairs with one curl_global_cleanup in webhook_free. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	/* Name lookups must not block the loop: libcurl then resolves on a
	 * thread of its own (Debian's libcurl4 is built so). */
	if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS))
		log_warn("webhook: this libcurl resolves names synchronously; a slow DNS server "
		         "will stall the daemon's loop during a webhook");
	w = calloc(1, sizeof(*w));
	if (!w)
		goto fail;
	w->loop = l;
	w->cfg = c;
	w->multi = curl_multi_init();
	if (!w->multi)
		goto fail;
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	w->ch.name = "webhook";
	w->ch.impl = w;
	w->ch.send = webhook_send;
	w->ch.fault = webhook_fault;
	return w;
fail:
	free(w);
	curl_global_cleanup();
	return NULL;
}

void webhook_free(struct webhook *w)
{
	if (!w)
		return;
	while (w->tries)
		try_unlink_free(w->tries);
	/* Closing the cached connections reports their sockets removed (the
	 * loop forgets them) and must not arm a timer on a freed handle. */
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, NULL);
	loop_timer_cancel(w->loop, w->timer);
	curl_multi_cleanup(w->multi);
	free(w);
	curl_global_cleanup();
}

void webhook_rebind(struct webhook *w, const struct config *c)
{
	w->cfg = c;
}

int webhook_busy(const struct webhook *w)
{
	return w->ntries;
}

struct channel *webhook_channel(struct webhook *w)
{
	return &w->ch;
}

/* What the daemon loads (plugin.h): the build's version, so that a plugin
 * left from another build is refused instead of called. */
const struct webhook_plugin webhook_plugin = {
    .version = SH_VERSION,
    .create = webhook_new,
    .free = webhook_free,
    .rebind = webhook_rebind,
    .channel = webhook_channel,
};
