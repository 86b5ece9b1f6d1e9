/*
 * webhook.h: alerts as HTTPS requests (libcurl): a Telegram bot, a Zalo
 * Official Account, ntfy, or any URL with a JSON body.
 *
 * Config face: webhook_conf (gateway/channel.h) parses a webhook step's keys
 * ("preset", "token", "chat_id", "user_id", "template", "cafile",
 * "timeout_s", "priority") into step->opts.
 *
 * Delivery face: webhook_channel(). Every try is one libcurl easy handle on
 * one multi handle driven by the loop (CURLMOPT_SOCKETFUNCTION and
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
struct webhook;

/* The config face of the webhook channel (listed by channel_conf_find). */
extern const struct channel_conf webhook_conf;

/* A webhook channel on loop l for config c (which must outlive it or be
 * replaced with webhook_rebind). NULL when libcurl cannot be set up. */
struct webhook *webhook_new(struct loop *l, const struct config *c);
/* Abort every transfer in flight (their done() is not called: the outbox
 * still holds the messages) and free w. Accepts NULL. */
void webhook_free(struct webhook *w);
/* Use c from now on (after a reload). Tries in flight keep what they
 * copied at send(). */
void webhook_rebind(struct webhook *w, const struct config *c);
/* Tries in flight, a photo that follows its text included (0: idle). */
int webhook_busy(const struct webhook *w);
/* The delivery face; owned by w. The outbox sets its done and done_ctx. */
struct channel *webhook_channel(struct webhook *w);

/* ---- for tests ---- */

/* The request a try of m would make, without making it: the URL (with the
 * token; never log it), the body and its content type. Returns 0, or -1
 * with a reason in err (what done() would report as FAILED). The caller
 * frees *url and *body. */
int webhook_render(const struct config *c, const struct channel_msg *m, char **url, char **body,
                   const char **content_type, char *err, size_t errlen);

#endif
