/*
 * outbox.c: hands due outbox rows to their channels, one in flight per
 * (contact, channel), and records how each try ended.
 */
#include "outbox.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "store.h"

#define MAX_INFLIGHT 64
#define MAX_KEYS 256

struct flight {
	int64_t seq;
	enum contact_via via;
	char contact[SH_ID_MAX];
	char kind[16];
	int64_t alarm;
	int step;
	int tries; /* before this one */
};

struct outbox {
	struct loop *loop;
	struct store *store;
	const struct config *cfg;
	struct channel *ch[VIA__COUNT];
	char *why[VIA__COUNT]; /* outbox_set_why: why an absent channel is absent */
	struct flight fl[MAX_INFLIGHT];
	int nfl;
	int timer;
	int64_t timer_due;
	int in_pass, again; /* done() during a pass: kick once more after it */
	int64_t (*now)(void *ctx);
	double (*rnd)(void *ctx);
	void *clock_ctx;
};

/* One pass over one channel's due rows. */
struct pass {
	struct outbox *ob;
	enum contact_via via;
	int64_t now, wake; /* wake: the earliest retry time seen, 0: none */
	struct {
		const char *contact;
		char buf[SH_ID_MAX];
	} keys[MAX_KEYS];
	int nkeys;
};

static int64_t wall_now(void *ctx)
{
	(void)ctx;
	return loop_wall_ms();
}

static double rnd_now(void *ctx)
{
	(void)ctx;
	return (double)random() / ((double)RAND_MAX + 1.0);
}

struct outbox *outbox_new(struct loop *l, struct store *s, const struct config *c)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	if (!ob)
		return NULL;
	ob->loop = l;
	ob->store = s;
	ob->cfg = c;
	ob->now = wall_now;
	ob->rnd = rnd_now;
	return ob;
}

void outbox_free(struct outbox *ob)
{
	if (!ob)
		return;
	if (ob->loop)
		loop_timer_cancel(ob->loop, ob->timer);
	for (int v = 0; v < VIA__COUNT; v++)
		if (ob->ch[v])
			ob->ch[v]->done = NULL;
	for (int v = 0; v < VIA__COUNT; v++)
		free(ob->why[v]);
	free(ob);
}

void outbox_rebind(struct outbox *ob, const struct config *c)
{
	ob->cfg = c;
}

void outbox_set_clock(struct outbox *ob, int64_t (*now)(void *ctx), double (*rnd)(void *ctx),
                      void *ctx)
{
	ob->now = now ? now : wall_now;
	ob->rnd = rnd ? rnd : rnd_now;
	ob->clock_ctx = ctx;
}

int64_t outbox_backoff_ms(int tries, double r)
{
	int64_t d = OUTBOX_BACKOFF_MIN_MS;
	for (int i = 1; i < tries && d < OUTBOX_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > OUTBOX_BACKOFF_MAX_MS)
		d = OUTBOX_BACKOFF_MAX_MS;
	/* +-20 %: a modem back on the network is not hit by every row at
	 * the same instant. */
	if (r < 0)
		r = 0;
	if (r >= 1)
		r = 0.999999;
	return (int64_t)((double)d * (0.8 + 0.4 * r));
}

static void done_cb(void *ctx, int64_t seq, enum channel_result r, const char *detail);

int outbox_add_channel(struct outbox *ob, enum contact_via via, struct channel *ch)
{
	if (via <= VIA_UPSTREAM || via >= VIA__COUNT)
		return -1;
	if (ob->ch[via] && ob->ch[via] != ch) {
		/* Tries in flight on the old one are forgotten: the rows are
		 * still pending and go again. */
		int j = 0;
		for (int i = 0; i < ob->nfl; i++)
			if (ob->fl[i].via != via)
				ob->fl[j++] = ob->fl[i];
		ob->nfl = j;
		ob->ch[via]->done = NULL;
	}
	ob->ch[via] = ch;
	if (ch) {
		ch->done = done_cb;
		ch->done_ctx = ob;
	}
	outbox_kick(ob);
	return 0;
}

void outbox_set_why(struct outbox *ob, enum contact_via via, const char *why)
{
	if (via <= VIA_UPSTREAM || via >= VIA__COUNT)
		return;
	free(ob->why[via]);
	ob->why[via] = why ? strdup(why) : NULL;
}

const char *outbox_why(const struct outbox *ob, const char *channel)
{
	for (int v = VIA_SMS; v < VIA__COUNT; v++) {
		const struct channel *ch = ob->ch[v];
		if (strcmp(channel, config_via_name((enum contact_via)v)) != 0)
			continue;
		if (!ch && ob->why[v])
			return ob->why[v];
		if (!ch)
			return v == VIA_WEBHOOK ? "no webhook channel configured"
			                        : "no modem configured";
		return ch->fault ? ch->fault(ch->impl) : NULL;
	}
	return NULL;
}

static struct flight *flight_find(struct outbox *ob, int64_t seq, int *idx)
{
	for (int i = 0; i < ob->nfl; i++)
		if (ob->fl[i].seq == seq) {
			if (idx)
				*idx = i;
			return &ob->fl[i];
		}
	return NULL;
}

static int flying(const struct outbox *ob, enum contact_via via, const char *contact)
{
	for (int i = 0; i < ob->nfl; i++)
		if (ob->fl[i].via == via && strcmp(ob->fl[i].contact, contact) == 0)
			return 1;
	return 0;
}

static void event(struct outbox *ob, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void event(struct outbox *ob, const char *type, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	store_event(ob->store, ob->now(ob->clock_ctx), "outbox", type, NULL, NULL, 0, 0, detail);
	log_notice("outbox: %s", detail);
}

/* The step a row runs: its own index when it still fits the config (a
 * reload may have changed the chain), else the contact's first step on the
 * row's channel. */
static const struct config_step *step_of(const struct config_contact *ct, int step,
                                         enum contact_via via)
{
	if (step >= 0 && step < ct->nsteps && ct->steps[step].via == via)
		return &ct->steps[step];
	for (int i = 0; i < ct->nsteps; i++)
		if (ct->steps[i].via == via)
			return &ct->steps[i];
	return NULL;
}

static void finish(struct outbox *ob, int64_t seq, enum store_outbox_state st, int tries,
                   const char *why)
{
	store_outbox_mark(ob->store, seq, st, tries, 0, why, ob->now(ob->clock_ctx));
}

/* Returns 1 when the key (contact, channel) was already met in this pass:
 * only the first due row of a key may go, which keeps the order. */
static int key_seen(struct pass *p, const char *contact)
{
	for (int i = 0; i < p->nkeys; i++)
		if (strcmp(p->keys[i].contact, contact) == 0)
			return 1;
	if (p->nkeys < MAX_KEYS) {
		snprintf(p->keys[p->nkeys].buf, sizeof(p->keys[0].buf), "%s", contact);
		p->keys[p->nkeys].contact = p->keys[p->nkeys].buf;
		p->nkeys++;
		return 0;
	}
	return 1; /* too many contacts in one pass: the rest go next pass */
}

static void wake_at(struct pass *p, int64_t t)
{
	if (!p->wake || t < p->wake)
		p->wake = t;
}

static int take_row(void *ctx, const struct store_outbox_row *r)
{
	struct pass *p = ctx;
	struct outbox *ob = p->ob;
	struct channel *ch = ob->ch[p->via];
	const char *contact = r->contact ? r->contact : "";
	const struct config_contact *ct;
	const struct config_step *st;
	struct channel_msg m;
	cJSON *j, *msg;
	int c, rc;

	if (key_seen(p, contact) || flying(ob, p->via, contact))
		return 0;
	if (r->next_try_ms > p->now) {
		wake_at(p, r->next_try_ms);
		return 0;
	}
	if (!ch)
		return 0; /* waits for a channel; outbox_why says so */
	if (ob->nfl >= MAX_INFLIGHT)
		return 1;
	c = r->contact ? config_contact_index(ob->cfg, r->contact) : -1;
	ct = c >= 0 ? &ob->cfg->contacts[c] : NULL;
	st = ct ? step_of(ct, r->step, p->via) : NULL;
	if (!st) {
		char why[160];
		snprintf(why, sizeof(why), "contact %s has no %s step in the config", contact,
		         config_via_name(p->via));
		finish(ob, r->seq, OUTBOX_FAILED, r->tries, why);
		event(ob, "failed", "seq %lld (%s to %s via %s): %s", (long long)r->seq,
		      r->kind ? r->kind : "?", contact, config_via_name(p->via), why);
		return 0;
	}
	j = cJSON_Parse(r->payload);
	msg = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
	m = (struct channel_msg){
	    .seq = r->seq,
	    .contact = ct,
	    .step = st,
	    .kind = r->kind ? r->kind : "alert",
	    .text = cJSON_IsString(msg) ? msg->valuestring : "",
	    .payload = r->payload,
	    .alarm = r->alarm,
	    .zone = NULL,
	};
	{
		cJSON *z = j ? cJSON_GetObjectItemCaseSensitive(j, "zone") : NULL;
		if (cJSON_IsString(z))
			m.zone = z->valuestring;
	}
	/* Recorded before send(): a channel may answer at once. */
	ob->fl[ob->nfl] = (struct flight){
	    .seq = r->seq, .via = p->via, .alarm = r->alarm, .step = r->step, .tries = r->tries};
	snprintf(ob->fl[ob->nfl].contact, SH_ID_MAX, "%s", contact);
	snprintf(ob->fl[ob->nfl].kind, sizeof(ob->fl[0].kind), "%s", m.kind);
	ob->nfl++;
	rc = ch->send(ch->impl, &m);
	cJSON_Delete(j);
	if (rc < 0) {
		int i;
		if (flight_find(ob, r->seq, &i))
			ob->fl[i] = ob->fl[--ob->nfl];
		/* Busy or no network: offered again soon, not counted as a
		 * try (the channel's fault says why). */
		wake_at(p, p->now + OUTBOX_BUSY_MS);
		if (rc != -EAGAIN)
			log_warn("outbox: %s refused seq %lld (%d); trying again later",
			         config_via_name(p->via), (long long)r->seq, rc);
		return 0;
	}
	if (r->tries == 0 && r->kind && strcmp(r->kind, "alert") == 0)
		event(ob, "escalation", "alarm %lld: step %d to %s via %s (seq %lld)",
		      (long long)r->alarm, r->step + 1, contact, config_via_name(p->via),
		      (long long)r->seq);
	return 0;
}

static void timer_cb(void *ctx)
{
	struct outbox *ob = ctx;
	ob->timer = 0;
	ob->timer_due = 0;
	outbox_kick(ob);
}

static void arm(struct outbox *ob, int64_t wake, int64_t now)
{
	if (!ob->loop)
		return;
	if (wake == ob->timer_due && ob->timer)
		return;
	loop_timer_cancel(ob->loop, ob->timer);
	ob->timer = 0;
	ob->timer_due = wake;
	if (wake > 0)
		ob->timer = loop_timer_add(ob->loop, wake > now ? wake - now : 0, timer_cb, ob);
}

void outbox_kick(struct outbox *ob)
{
	int64_t wake = 0;
	if (!ob || ob->in_pass)
		return;
	do {
		ob->again = 0;
		ob->in_pass = 1;
		wake = 0;
		for (int v = VIA_SMS; v < VIA__COUNT; v++) {
			struct pass p = {.ob = ob, .via = (enum contact_via)v};
			int64_t due;
			/* No channel: its rows wait, and nothing needs a wake-up
			 * (outbox_add_channel is followed by a kick). */
			if (!ob->ch[v])
				continue;
			p.now = ob->now(ob->clock_ctx);
			store_outbox_foreach_due(ob->store, config_via_name((enum contact_via)v),
			                         p.now, take_row, &p);
			due = store_outbox_next_due(ob->store, config_via_name((enum contact_via)v),
			                            p.now);
			if (due)
				wake_at(&p, due);
			if (p.wake && (!wake || p.wake < wake))
				wake = p.wake;
		}
		ob->in_pass = 0;
	} while (ob->again);
	arm(ob, wake, ob->now(ob->clock_ctx));
}

static void done_cb(void *ctx, int64_t seq, enum channel_result r, const char *detail)
{
	struct outbox *ob = ctx;
	struct flight f;
	int i;
	int64_t now = ob->now(ob->clock_ctx);

	if (!flight_find(ob, seq, &i)) {
		log_warn("outbox: a channel reported on seq %lld, which is not in flight; ignored",
		         (long long)seq);
		return;
	}
	f = ob->fl[i];
	ob->fl[i] = ob->fl[--ob->nfl];
	switch (r) {
	case CHANNEL_DELIVERED:
		store_outbox_mark(ob->store, seq, OUTBOX_DELIVERED, f.tries + 1, 0, NULL, now);
		event(ob, "delivered", "seq %lld (%s to %s via %s) delivered%s%s", (long long)seq,
		      f.kind, f.contact, config_via_name(f.via), detail ? ": " : "",
		      detail ? detail : "");
		break;
	case CHANNEL_RETRY: {
		int64_t wait = outbox_backoff_ms(f.tries + 1, ob->rnd(ob->clock_ctx));
		store_outbox_mark(ob->store, seq, OUTBOX_PENDING, f.tries + 1, now + wait,
		                  detail ? detail : "not delivered", now);
		event(ob, "retry", "seq %lld (%s to %s via %s) try %d: %s; again in %lld s",
		      (long long)seq, f.kind, f.contact, config_via_name(f.via), f.tries + 1,
		      detail ? detail : "not delivered", (long long)(wait / 1000));
		break;
	}
	case CHANNEL_FAILED:
	default:
		store_outbox_mark(ob->store, seq, OUTBOX_FAILED, f.tries + 1, 0,
		                  detail ? detail : "failed", now);
		event(ob, "failed", "seq %lld (%s to %s via %s) FAILED: %s; not tried again",
		      (long long)seq, f.kind, f.contact, config_via_name(f.via),
		      detail ? detail : "failed");
		log_err("outbox: seq %lld to %s via %s cannot be delivered: %s", (long long)seq,
		        f.contact, config_via_name(f.via), detail ? detail : "failed");
		break;
	}
	if (ob->in_pass)
		ob->again = 1;
	else
		outbox_kick(ob);
}

void outbox_status_json(struct outbox *ob, cJSON *o)
{
	cJSON *out = cJSON_AddObjectToObject(o, "outbox");
	cJSON *pend = cJSON_AddObjectToObject(out, "pending");
	cJSON *faults = cJSON_AddArrayToObject(out, "faults");
	for (int v = 0; v < VIA__COUNT; v++) {
		const char *name = config_via_name((enum contact_via)v);
		int n = store_outbox_pending_count(ob->store, name);
		const char *why;
		cJSON_AddNumberToObject(pend, name, n);
		if (v == VIA_UPSTREAM)
			continue;
		why = outbox_why(ob, name);
		/* An absent channel is a fault only when something waits on it. */
		if (why && (ob->ch[v] || n > 0)) {
			char line[256];
			snprintf(line, sizeof(line), "%s: %s", name, why);
			cJSON_AddItemToArray(faults, cJSON_CreateString(line));
		}
	}
	cJSON_AddNumberToObject(out, "in_flight", ob->nfl);
}
