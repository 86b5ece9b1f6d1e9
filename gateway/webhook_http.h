/*
 * webhook_http.h: the webhook channel's transport (libcurl), see webhook.h
 * for what it does. safehoused reaches it through the plugin
 * safehouse-webhook.so (its vtable webhook_plugin, plugin.h); the test
 * drivers link it directly.
 */
#ifndef SH_WEBHOOK_HTTP_H
#define SH_WEBHOOK_HTTP_H

#include "webhook.h"

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

/* The plugin's vtable (webhook.h). */
extern const struct webhook_plugin webhook_plugin;

#endif
