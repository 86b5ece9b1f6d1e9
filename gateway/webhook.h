/*
 * webhook.h: alerts as HTTPS requests (libcurl): a Telegram bot, a Zalo
 * Official Account, ntfy, or any URL with a JSON body.
 *
 * Config face: webhook_conf (gateway/channel.h) parses a webhook step's keys
 * ("preset", "token", "chat_id", "user_id", "template", "cafile",
 * "timeout_s", "priority") into step->opts.
 *
 * Delivery face (webhook_http.h, in the plugin safehouse-webhook.so, so
 * that the daemon loads libcurl only for a config with webhooks): every try
 * is one libcurl easy handle on one multi handle driven by the loop (CURLMOPT_SOCKETFUNCTION and
 * TIMERFUNCTION on loop_fd_add/loop_timer_add): no call blocks the loop,
 * and a hanging server delays nothing but its own try. done() says:
 * 2xx DELIVERED; 5xx, 429, timeouts, connection and TLS errors RETRY; other
 * 4xx (and Zalo's error codes) FAILED, each with a short detail ("HTTP 500",
 * "TLS: SSL certificate problem: ...", "HTTP 400: Bad Request: chat not
 * found"). A token never appears in a detail or a log line.
 *
 * Camera: when the message's zone has a camera and the preset can carry a
 * photo (telegram, ntfy, generic), the snapshot is fetched alongside the
 * text, which never waits for it. Once the text is delivered and the JPEG
 * is in, the photo follows as a second request (Telegram sendPhoto, an ntfy
 * attachment, a generic multipart POST). The photo is best effort: it is
 * not part of the try's result, is not retried, and only logged.
 */
#ifndef SH_WEBHOOK_H
#define SH_WEBHOOK_H

#include <stddef.h>

#include "channel.h"

struct loop;
struct config;
struct config_camera;
struct webhook;

/* The config face of the webhook channel (listed by channel_conf_find). */
extern const struct channel_conf webhook_conf;

/* ---- shared with the transport (webhook_http.c) ---- */

enum webhook_preset { WEBHOOK_GENERIC, WEBHOOK_TELEGRAM, WEBHOOK_ZALO, WEBHOOK_NTFY };

/* A webhook step's options (step->opts), made by webhook_conf. */
struct webhook_opts {
	enum webhook_preset preset;
	char *token;    /* a literal, or "credentials:NAME"; NULL: none */
	char *chat_id;  /* telegram */
	char *user_id;  /* zalo */
	char *template; /* generic: the body, with ${var} */
	char *cafile;   /* absolute; NULL: the system store */
	int timeout_s;
	int priority; /* ntfy 1..5 */
};

/* A growing NUL-terminated buffer; oom is set (and stays) when an add
 * fails. The owner frees s. */
struct webhook_buf {
	char *s;
	size_t len, cap;
	int oom;
};
void webhook_buf_add(struct webhook_buf *b, const char *s, size_t n);

/* What a message says besides its text, for templates and titles. Points
 * into c and m. */
struct webhook_facts {
	char cls[32];
	const char *zone_name;
	const char *site;
	int has_camera;
	const struct config_camera *camera;
};
void webhook_facts(const struct config *c, const struct channel_msg *m, struct webhook_facts *f);

/* The token of a step: the literal, or the named credential (c's); NULL
 * with err set when the credential is missing. */
const char *webhook_token(const struct config *c, const struct webhook_opts *o, char *err,
                          size_t errlen);

/* ---- the transport, a plugin ---- */

/* The vtable safehouse-webhook.so exports as "webhook_plugin" (plugin.h,
 * webhook_http.h says what each does). */
struct webhook_plugin {
	const char *version; /* SH_VERSION of its build: must be the daemon's */
	struct webhook *(*create)(struct loop *l, const struct config *c);
	void (*free)(struct webhook *w);
	void (*rebind)(struct webhook *w, const struct config *c);
	struct channel *(*channel)(struct webhook *w);
};

/* ---- for tests ---- */

/* The request a try of m would make, without making it: the URL (with the
 * token; never log it), the body and its content type. Returns 0, or -1
 * with a reason in err (what done() would report as FAILED). The caller
 * frees *url and *body. */
int webhook_render(const struct config *c, const struct channel_msg *m, char **url, char **body,
                   const char **content_type, char *err, size_t errlen);

#endif
