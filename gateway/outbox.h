/*
 * outbox.h: the dispatcher of every channel but the upstream feed (SMS,
 * voice calls, webhooks).
 *
 * Every message is a row of the store's outbox, committed before any try
 * (upstream_queue_*). The dispatcher takes the rows that are due, in seq
 * order, one in flight per (contact, channel) so that a contact gets its
 * messages in order, and hands each try to the channel's struct channel.
 * The channel reports how the try ended through done(); the row leaves the
 * outbox only on its channel's confirmation:
 *
 *   DELIVERED  delivered_at is set;
 *   RETRY      tries++, last_error, and the next try after a capped
 *              exponential backoff with jitter (5 s doubling to 5 min,
 *              +-20 %), with the row keeping its place in the order;
 *   FAILED     the row is failed: shown (safehousectl outbox, events, the
 *              log), never tried again.
 *
 * A channel with no implementation (sms without a modem) leaves its rows
 * pending; outbox_why() says why. Upstream rows keep their PUBACK path in
 * upstream.c. Loop thread only.
 */
#ifndef SH_OUTBOX_H
#define SH_OUTBOX_H

#include <stdint.h>

#include "channel.h"
#include "config.h"

struct loop;
struct store;
struct outbox;
struct cJSON;

#define OUTBOX_BACKOFF_MIN_MS 5000
#define OUTBOX_BACKOFF_MAX_MS (5 * 60 * 1000)
/* A channel that said -EAGAIN (busy) is offered its row again after this. */
#define OUTBOX_BUSY_MS 2000

struct outbox *outbox_new(struct loop *l, struct store *s, const struct config *c);
void outbox_free(struct outbox *ob);
void outbox_rebind(struct outbox *ob, const struct config *c);

/* Give channel via (not VIA_UPSTREAM) its implementation; sets ch->done and
 * ch->done_ctx, and sends what is due on it at once. ch stays the caller's
 * and must outlive ob (or be removed with ch NULL, which forgets tries in
 * flight: their rows are tried again). outbox_free sets ch->done to NULL:
 * a channel must not call it after that. Returns 0 or -1. */
int outbox_add_channel(struct outbox *ob, enum contact_via via, struct channel *ch);

/* Why channel via's rows wait while it has no implementation (a plugin that
 * cannot be loaded), for outbox_why; copied. NULL: the default ("no
 * webhook channel configured"). */
void outbox_set_why(struct outbox *ob, enum contact_via via, const char *why);

/* Send what is due: call after a commit that queued rows (upstream_kick
 * does, through upstream_set_kick_hook). Arms a timer for the next due row
 * or retry. */
void outbox_kick(struct outbox *ob);

/* Why rows of channel (a name: "sms"...) are waiting, for people: "no modem
 * configured", the channel's fault(), or NULL when it is working. */
const char *outbox_why(const struct outbox *ob, const char *channel);

/* "outbox": {"pending": {"sms": 2, ...}, "faults": ["modem: no network"],
 * "in_flight": N} into o. */
void outbox_status_json(struct outbox *ob, struct cJSON *o);

/* The wait before try number tries+1 after tries failed tries (tries >= 1),
 * r in [0, 1) choosing the jitter. Pure. */
int64_t outbox_backoff_ms(int tries, double r);

/* Tests: the wall clock and the jitter's random source. */
void outbox_set_clock(struct outbox *ob, int64_t (*now)(void *ctx), double (*rnd)(void *ctx),
                      void *ctx);

#endif
