/*
 * board.c: the station's live picture of every site and active alarm.
 */
#include "station/board.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/store.h"
#include "station/sconfig.h"

#define DEFAULT_HEARTBEAT_S 60
#define HISTORY_MAX 100
#define PERSIST_MS (5 * 60 * 1000)

struct balarm {
	struct salarm a;
	char pending_by[64]; /* an ack sent from the console, not yet in the feed */
	int64_t pending_ms;
};

struct bsite {
	struct ssite s;
	int64_t contact_mono; /* last fresh message (monotonic ms) */
	/* A last will not yet followed by a report (monotonic ms), or 0; and
	 * what it said. Lost contact once it is older than will_grace_s. */
	int64_t will_mono;
	const char *will_why;
	int64_t persisted_mono;         /* when its row was last written */
	const struct sconfig_site *dir; /* its directory entry, or NULL */
	struct balarm *alarms;          /* active (not reset / closed) */
	size_t nalarms, cap;
};

struct board {
	const struct sconfig *c;
	struct sstore *st;
	const struct board_hooks *hooks;
	void *ctx;
	struct bsite **sites;
	size_t n, cap;
	uint32_t *idx; /* open addressing: site index + 1, 0 empty */
	size_t idxcap;
	struct board_stats stats;
	/* This station raises (and clears) lost contact; 0 while another
	 * station sharing the database does (board_set_timekeeper). */
	int timekeeper;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static struct bsite *find(const struct board *b, const char *id)
{
	if (!b->idxcap)
		return NULL;
	for (size_t i = hash(id) & (b->idxcap - 1);; i = (i + 1) & (b->idxcap - 1)) {
		uint32_t v = b->idx[i];
		if (!v)
			return NULL;
		if (strcmp(b->sites[v - 1]->s.id, id) == 0)
			return b->sites[v - 1];
	}
}

static int reindex(struct board *b, size_t cap)
{
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t k = 0; k < b->n; k++) {
		size_t i = hash(b->sites[k]->s.id) & (cap - 1);
		while (idx[i])
			i = (i + 1) & (cap - 1);
		idx[i] = (uint32_t)(k + 1);
	}
	free(b->idx);
	b->idx = idx;
	b->idxcap = cap;
	return 0;
}

static struct bsite *add_site(struct board *b, const char *id)
{
	struct bsite *s;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct bsite **v = realloc(b->sites, cap * sizeof(*v));
		if (!v)
			return NULL;
		b->sites = v;
		b->cap = cap;
	}
	if ((b->n + 1) * 2 > b->idxcap && reindex(b, b->idxcap ? b->idxcap * 2 : 128) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->s.id, sizeof(s->s.id), "%s", id);
	s->s.active_alarms = s->s.faults = s->s.disablements = 0;
	s->s.log_row = -1;
	b->sites[b->n++] = s;
	{
		size_t i = hash(id) & (b->idxcap - 1);
		while (b->idx[i])
			i = (i + 1) & (b->idxcap - 1);
		b->idx[i] = (uint32_t)b->n;
	}
	return s;
}

static struct balarm *find_alarm(struct bsite *s, int64_t id)
{
	for (size_t i = 0; i < s->nalarms; i++)
		if (s->alarms[i].a.id == id)
			return &s->alarms[i];
	return NULL;
}

static struct balarm *add_alarm(struct bsite *s, const struct salarm *a)
{
	if (s->nalarms == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		struct balarm *v = realloc(s->alarms, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->alarms = v;
		s->cap = cap;
	}
	memset(&s->alarms[s->nalarms], 0, sizeof(s->alarms[0]));
	s->alarms[s->nalarms].a = *a;
	return &s->alarms[s->nalarms++];
}

static void drop_alarm(struct bsite *s, struct balarm *ba)
{
	size_t i = (size_t)(ba - s->alarms);
	memmove(&s->alarms[i], &s->alarms[i + 1], (s->nalarms - i - 1) * sizeof(s->alarms[0]));
	s->nalarms--;
}

static void alarm_changed(struct board *b, const char *site, int64_t id)
{
	if (b->hooks && b->hooks->alarm_changed)
		b->hooks->alarm_changed(b->ctx, b, site, id);
}

static void site_changed(struct board *b, const char *site)
{
	if (b->hooks && b->hooks->site_changed)
		b->hooks->site_changed(b->ctx, b, site);
}

/* The directory's entry wins over what a gateway says about itself: the
 * commune registered the house, the gateway's owner typed its config. */
static void apply_directory(struct board *b, struct bsite *s)
{
	const struct sconfig_site *d = s->dir;
	(void)b;
	if (!d)
		return;
	s->s.known = 1;
	if (d->name)
		snprintf(s->s.name, sizeof(s->s.name), "%s", d->name);
	if (d->address)
		snprintf(s->s.address, sizeof(s->s.address), "%s", d->address);
	if (d->phone)
		snprintf(s->s.phone, sizeof(s->s.phone), "%s", d->phone);
	if (d->group)
		snprintf(s->s.group, sizeof(s->s.group), "%s", d->group);
	if (d->has_geo) {
		s->s.has_geo = 1;
		s->s.lat = d->lat;
		s->s.lon = d->lon;
	}
}

struct board *board_new(const struct sconfig *c, struct sstore *st, const struct board_hooks *hooks,
                        void *ctx)
{
	struct board *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->c = c;
	b->st = st;
	b->hooks = hooks;
	b->ctx = ctx;
	b->timekeeper = 1;
	return b;
}

void board_free(struct board *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->sites[i]->alarms);
		free(b->sites[i]->s.status_json);
		free(b->sites[i]);
	}
	free(b->sites);
	free(b->idx);
	free(b);
}

struct load_ctx {
	struct board *b;
	int64_t now_mono;
};

static int load_site(void *ctx, const struct ssite *st)
{
	struct load_ctx *lc = ctx;
	struct bsite *s = find(lc->b, st->id);
	if (!s && !(s = add_site(lc->b, st->id)))
		return -ENOMEM;
	free(s->s.status_json);
	s->s = *st;
	s->s.status_json = st->status_json ? strdup(st->status_json) : NULL;
	s->s.known = 0;
	apply_directory(lc->b, s);
	s->contact_mono = lc->now_mono;
	return 0;
}

static int load_alarm(void *ctx, const struct salarm *a)
{
	struct load_ctx *lc = ctx;
	struct bsite *s = find(lc->b, a->site);
	if (!s && !(s = add_site(lc->b, a->site)))
		return -ENOMEM;
	return add_alarm(s, a) ? 0 : -ENOMEM;
}

int board_load(struct board *b, int64_t wall_ms, int64_t now_mono)
{
	struct load_ctx lc = {b, now_mono};
	int rc;
	/* The directory first: a registered house that never reported is on
	 * the list too (and becomes lost after its window). */
	for (size_t i = 0; i < b->c->nsites; i++) {
		struct bsite *s = find(b, b->c->sites[i].id);
		if (!s && !(s = add_site(b, b->c->sites[i].id)))
			return -ENOMEM;
		s->dir = &b->c->sites[i];
		apply_directory(b, s);
		s->contact_mono = now_mono;
	}
	rc = sstore_load(b->st, load_site, load_alarm, &lc);
	(void)wall_ms;
	return rc < 0 ? rc : 0;
}

static int window_s(const struct board *b, const struct bsite *s)
{
	const struct sconfig_group *g = s->s.group[0] ? sconfig_group(b->c, s->s.group) : NULL;
	if (g && g->lost_contact_s > 0)
		return g->lost_contact_s;
	if (b->c->lost_contact_s > 0)
		return b->c->lost_contact_s;
	return 3 * (s->s.heartbeat_s > 0 ? s->s.heartbeat_s : DEFAULT_HEARTBEAT_S);
}

static void where_from(struct bsite *s, const struct sfeed_msg *m)
{
	if (s->s.known)
		return;
	if (m->name[0])
		snprintf(s->s.name, sizeof(s->s.name), "%s", m->name);
	if (m->address[0])
		snprintf(s->s.address, sizeof(s->s.address), "%s", m->address);
	if (m->phone[0])
		snprintf(s->s.phone, sizeof(s->s.phone), "%s", m->phone);
	if (m->has_geo) {
		s->s.has_geo = 1;
		s->s.lat = m->lat;
		s->s.lon = m->lon;
	}
}

int board_journal(struct board *b, int64_t wall_ms, const char *site, const char *what,
                  const char *by, const char *detail)
{
	struct sevent e;
	memset(&e, 0, sizeof(e));
	e.at_ms = wall_ms;
	snprintf(e.site, sizeof(e.site), "%s", site ? site : "");
	snprintf(e.what, sizeof(e.what), "%s", what);
	snprintf(e.by, sizeof(e.by), "%s", by ? by : "");
	snprintf(e.detail, sizeof(e.detail), "%s", detail ? detail : "");
	return sstore_event_put(b->st, &e);
}

/* A station alarm written: the other stations sharing the database read it
 * (sstore_notify; nothing for SQLite). Inside the caller's transaction. */
static int station_alarm_put(struct board *b, const struct salarm *a)
{
	char payload[SSTORE_ID_MAX + 48];
	if (sstore_alarm_put(b->st, a) < 0)
		return -EIO;
	if (!sstore_shared(b->st))
		return 0;
	snprintf(payload, sizeof(payload), "alarm\t%s\t%lld", a->site, (long long)a->id);
	return sstore_notify(b->st, payload) < 0 ? -EIO : 0;
}

/* A station alarm of site s closes or clears when the site reports. Not the
 * timekeeper: in memory only; the timekeeper writes it (and its row comes
 * back through board_station_alarm). */
static int contact_back(struct board *b, struct bsite *s, int64_t wall_ms)
{
	int rc = 0;
	if (!s->s.lost_contact)
		return 0;
	s->s.lost_contact = 0;
	s->s.lost_since_ms = 0;
	for (size_t i = 0; i < s->nalarms;) {
		struct balarm *ba = &s->alarms[i];
		int64_t id = ba->a.id;
		if (id >= 0 || (strcmp(ba->a.state, "raised") != 0 &&
		                strcmp(ba->a.state, "acknowledged") != 0)) {
			i++;
			continue;
		}
		ba->a.cleared_ms = wall_ms;
		ba->a.updated_ms = wall_ms;
		if (ba->a.acked_ms) {
			snprintf(ba->a.state, sizeof(ba->a.state), "reset");
			ba->a.reset_ms = wall_ms;
		} else {
			snprintf(ba->a.state, sizeof(ba->a.state), "cleared");
		}
		if (b->timekeeper && station_alarm_put(b, &ba->a) < 0)
			rc = -EIO;
		alarm_changed(b, s->s.id, id);
		if (ba->a.reset_ms)
			drop_alarm(s, ba);
		else
			i++;
	}
	if (!b->timekeeper)
		return rc;
	log_notice("station: %s reports again", s->s.id);
	if (board_journal(b, wall_ms, s->s.id, "contact_back", NULL, "the site reports again") < 0)
		rc = -EIO;
	return rc;
}

static int will(struct board *b, struct bsite *s, int64_t wall_ms, int64_t now_mono,
                const char *why);

static int lose_contact(struct board *b, struct bsite *s, int64_t wall_ms, const char *why)
{
	struct salarm a;
	int rc = 0;
	/* Raised once for all the stations: by the timekeeper. */
	if (!b->timekeeper)
		return 0;
	s->s.lost_contact = 1;
	s->s.lost_since_ms = wall_ms;
	memset(&a, 0, sizeof(a));
	snprintf(a.site, sizeof(a.site), "%s", s->s.id);
	/* Negative: never one of the gateway's ids; unique per site. */
	a.id = -wall_ms;
	while (find_alarm(s, a.id))
		a.id--;
	snprintf(a.cls, sizeof(a.cls), "lost_contact");
	snprintf(a.state, sizeof(a.state), "raised");
	snprintf(a.message, sizeof(a.message), "%s", why);
	a.raised_ms = a.updated_ms = wall_ms;
	if (!add_alarm(s, &a))
		return -ENOMEM;
	if (station_alarm_put(b, &a) < 0)
		rc = -EIO;
	log_warn("station: lost contact with %s: %s", s->s.id, why);
	if (board_journal(b, wall_ms, s->s.id, "lost_contact", NULL, why) < 0)
		rc = -EIO;
	alarm_changed(b, s->s.id, a.id);
	return rc;
}

static void stamp(struct salarm *a, const char *state, int64_t at, const char *by)
{
	if (strcmp(state, "raised") == 0 && !a->raised_ms)
		a->raised_ms = at;
	else if (strcmp(state, "acknowledged") == 0) {
		a->acked_ms = at;
		snprintf(a->acked_by, sizeof(a->acked_by), "%s", by);
	} else if (strcmp(state, "silenced") == 0)
		a->silenced_ms = at;
	else if (strcmp(state, "cleared") == 0)
		a->cleared_ms = at;
	else if (strcmp(state, "reset") == 0)
		a->reset_ms = at;
}

static int apply_alarm(struct board *b, struct bsite *s, const struct sfeed_msg *m)
{
	struct balarm *ba = find_alarm(s, m->alarm.id);
	struct salarm a;
	if (ba && ba->a.seq > m->seq) {
		/* An older change delivered late: the feed keeps it, the
		 * state stays the newer one. */
		b->stats.stale++;
		return 0;
	}
	if (ba) {
		a = ba->a;
		/* What the gateway says now wins, times accumulate. */
		snprintf(a.state, sizeof(a.state), "%s", m->alarm.state);
		snprintf(a.cls, sizeof(a.cls), "%s", m->alarm.cls);
		memcpy(a.zone, m->alarm.zone, sizeof(a.zone));
		memcpy(a.zone_name, m->alarm.zone_name, sizeof(a.zone_name));
		memcpy(a.sensor, m->alarm.sensor, sizeof(a.sensor));
		memcpy(a.rule, m->alarm.rule, sizeof(a.rule));
		if (m->alarm.message[0])
			memcpy(a.message, m->alarm.message, sizeof(a.message));
		a.seq = m->seq;
		a.updated_ms = m->at_ms;
	} else {
		/* First news of it: usually "raised"; a later state when the
		 * station joined late. */
		a = m->alarm;
		a.raised_ms = 0;
	}
	stamp(&a, m->alarm.state, m->at_ms, m->by);
	if (!a.raised_ms)
		a.raised_ms = m->at_ms;
	if (sstore_alarm_put(b->st, &a) < 0)
		return -EIO;
	/* Stations sharing the database also tell each other: each has its
	 * own broker session, but a session can miss what a dying broker
	 * node was handing it, and the other console must still show every
	 * alarm that either station stored. */
	if (sstore_shared(b->st)) {
		char note[SSTORE_ID_MAX + 48];
		snprintf(note, sizeof(note), "galarm\t%s\t%lld", a.site, (long long)a.id);
		if (sstore_notify(b->st, note) < 0)
			return -EIO;
	}
	if (!ba && strcmp(a.state, "reset") != 0)
		ba = add_alarm(s, &a);
	else if (ba)
		ba->a = a;
	if (ba && (a.acked_ms || strcmp(a.state, "reset") == 0)) {
		ba->pending_by[0] = '\0';
		ba->pending_ms = 0;
	}
	/* The hook sees a closing alarm once more, as it closes. */
	alarm_changed(b, s->s.id, a.id);
	if (ba && strcmp(a.state, "reset") == 0)
		drop_alarm(s, ba);
	return 1;
}

/* A gateway alarm as stored (by another station), when newer than ours. */
static int adopt_stored(struct board *b, struct bsite *s, int64_t id)
{
	struct balarm *ba = find_alarm(s, id);
	struct salarm a;
	int rc = sstore_alarm_get(b->st, s->s.id, id, &a), open;
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (ba && ba->a.seq >= a.seq)
		return 0;
	open = strcmp(a.state, "reset") != 0;
	if (!ba && !open)
		return 0; /* closed before this station saw it */
	if (!ba && !(ba = add_alarm(s, &a)))
		return -ENOMEM;
	ba->a = a;
	if (a.acked_ms || !open) {
		ba->pending_by[0] = '\0';
		ba->pending_ms = 0;
	}
	alarm_changed(b, s->s.id, id);
	if (!open)
		drop_alarm(s, ba);
	return 0;
}

int board_gateway_alarm(struct board *b, const char *site, int64_t id, int64_t now_mono)
{
	struct bsite *s = find(b, site);
	if (id < 0)
		return -EINVAL;
	if (!s) {
		if (!(s = add_site(b, site)))
			return -ENOMEM;
		s->contact_mono = now_mono;
		apply_directory(b, s);
	}
	return adopt_stored(b, s, id);
}

int board_apply(struct board *b, const struct sfeed_msg *m, const char *payload, size_t len,
                int retained, int64_t wall_ms, int64_t now_mono)
{
	struct bsite *s = find(b, m->alarm.site);
	int rc = 1, changed = 0, fresh = !retained;
	char *text = NULL;
	b->stats.messages[m->kind]++;
	if (!s) {
		if (!(s = add_site(b, m->alarm.site)))
			return -ENOMEM;
		s->s.first_seen_ms = wall_ms;
		s->contact_mono = now_mono;
		apply_directory(b, s);
		log_notice("station: first message from site %s%s", s->s.id,
		           s->s.known ? "" : " (not in the directory)");
		changed = 1;
	}
	if (!s->s.first_seen_ms) {
		s->s.first_seen_ms = wall_ms;
		changed = 1;
	}
	if (m->seq > 0) {
		text = strndup(payload, len);
		if (!text)
			return -ENOMEM;
		rc = sstore_feed_put(b->st, s->s.id, m->seq, sfeed_kind_names[m->kind], m->at_ms,
		                     wall_ms, text);
		free(text);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			b->stats.duplicates++;
			/* Another station sharing the database stored it first:
			 * this board has not seen it yet. The stored row is the
			 * newest state of that alarm. */
			if (m->kind == SFEED_ALARM && sstore_shared(b->st) &&
			    adopt_stored(b, s, m->alarm.id) < 0)
				return -EIO;
			/* Still contact: the gateway is alive and talking. */
			goto contact;
		}
	}
	where_from(s, m);
	switch (m->kind) {
	case SFEED_ALARM:
		rc = apply_alarm(b, s, m);
		if (rc < 0)
			return rc;
		changed = 1;
		break;
	case SFEED_STATUS:
		s->s.online = m->online;
		if (m->online) {
			snprintf(s->s.mode, sizeof(s->s.mode), "%s", m->mode);
			if (m->active_alarms >= 0)
				s->s.active_alarms = m->active_alarms;
			if (m->faults >= 0)
				s->s.faults = m->faults;
			if (m->disablements >= 0)
				s->s.disablements = m->disablements;
			free(s->s.status_json);
			s->s.status_json = strndup(payload, len);
		} else {
			fresh = 0; /* the will: the opposite of contact */
			/* Retained: it was offline already when we subscribed. */
			if (!s->s.lost_contact &&
			    will(b, s, wall_ms, now_mono,
			         retained ? "the gateway is offline (its last will)"
			                  : "the gateway's connection dropped (its last will)") < 0)
				return -EIO;
		}
		changed = 1;
		break;
	case SFEED_BRIDGE:
		/* "1" says the bridge is up, nothing about the gateway behind
		 * it: not contact (its heartbeats are). "0" is the bridge's
		 * will: the house is cut off. */
		fresh = 0;
		if (!m->online && !s->s.lost_contact) {
			if (will(b, s, wall_ms, now_mono,
			         "the house's mosquitto bridge went down (its last will)") < 0)
				return -EIO;
			s->s.online = 0;
			changed = 1;
		}
		break;
	case SFEED_HEARTBEAT:
		/* Most heartbeats say what the last one said: they only move
		 * the contact time (in memory). Writing each would be a commit
		 * per house per minute, 170 a second for 10,000 houses. */
		if ((m->heartbeat_s > 0 && m->heartbeat_s != s->s.heartbeat_s) ||
		    (m->active_alarms >= 0 && m->active_alarms != s->s.active_alarms) ||
		    (m->faults >= 0 && m->faults != s->s.faults) ||
		    (m->log_row >= 0 &&
		     (m->log_row != s->s.log_row ||
		      strncmp(m->log_hash, s->s.log_hash, sizeof(s->s.log_hash)))) ||
		    !s->s.online || !s->s.last_heartbeat_ms)
			changed = 1;
		s->s.last_heartbeat_ms = wall_ms;
		if (m->heartbeat_s > 0)
			s->s.heartbeat_s = m->heartbeat_s;
		if (m->active_alarms >= 0)
			s->s.active_alarms = m->active_alarms;
		if (m->faults >= 0)
			s->s.faults = m->faults;
		if (m->log_row >= 0) {
			s->s.log_row = m->log_row;
			snprintf(s->s.log_hash, sizeof(s->s.log_hash), "%s", m->log_hash);
		}
		s->s.online = 1;
		break;
	default:
		break;
	}
contact:
	if (fresh) {
		s->will_mono = 0;
		s->contact_mono = now_mono;
		s->s.last_message_ms = wall_ms;
		if (s->s.lost_contact) {
			if (contact_back(b, s, wall_ms) < 0)
				return -EIO;
			changed = 1;
		}
	}
	/* What changed is written at once; the times of a quiet site at
	 * most every PERSIST_MS (after a restart, "last heartbeat" may be
	 * that much older than it was; contact is timed in memory anyway). */
	if (changed || (fresh && now_mono - s->persisted_mono >= PERSIST_MS)) {
		if (sstore_site_put(b->st, &s->s) < 0)
			return -EIO;
		s->persisted_mono = now_mono;
	}
	if (changed)
		site_changed(b, s->s.id);
	return rc > 0 ? 1 : 0;
}

void board_set_timekeeper(struct board *b, int on)
{
	b->timekeeper = !!on;
}

static int open_loss(const struct salarm *a)
{
	return a->id < 0 && strcmp(a->cls, "lost_contact") == 0 &&
	       (strcmp(a->state, "raised") == 0 || strcmp(a->state, "acknowledged") == 0);
}

int board_station_alarm(struct board *b, const struct salarm *a, int64_t now_mono)
{
	struct bsite *s = find(b, a->site);
	struct balarm *ba;
	int open = strcmp(a->state, "reset") != 0, lost = 0;
	if (a->id >= 0)
		return -EINVAL;
	if (!s && !(s = add_site(b, a->site)))
		return -ENOMEM;
	if (!s->contact_mono)
		s->contact_mono = now_mono;
	ba = find_alarm(s, a->id);
	if (ba && ba->a.updated_ms > a->updated_ms)
		return 0; /* ours is newer (a notification overtaken) */
	if (ba && open)
		ba->a = *a;
	else if (ba)
		drop_alarm(s, ba);
	else if (open && !add_alarm(s, a))
		return -ENOMEM;
	for (size_t i = 0; i < s->nalarms; i++)
		lost |= open_loss(&s->alarms[i].a);
	if (lost != s->s.lost_contact) {
		s->s.lost_contact = lost;
		s->s.lost_since_ms = lost ? a->raised_ms : 0;
		/* A follower that takes over times the site from now on. */
		if (!lost)
			s->contact_mono = now_mono;
		site_changed(b, s->s.id);
	}
	alarm_changed(b, s->s.id, a->id);
	return 1;
}

void board_grace(struct board *b, int64_t now_mono)
{
	for (size_t i = 0; i < b->n; i++)
		b->sites[i]->contact_mono = now_mono;
}

/* A last will (the gateway's retained status offline, or its bridge's):
 * lost contact, but only if the house has not reported again within
 * will_grace_s. A gateway whose broker node died, or whose Internet link
 * blinked, reconnects within seconds, and the broker publishes its will
 * when the new connection takes the session over: raising lost contact
 * for that would call the militia out for nothing. */
static int will(struct board *b, struct bsite *s, int64_t wall_ms, int64_t now_mono,
                const char *why)
{
	if (b->c->will_grace_s <= 0)
		return lose_contact(b, s, wall_ms, why);
	if (!s->will_mono) {
		s->will_mono = now_mono;
		s->will_why = why;
		log_info("station: %s: %s; lost contact unless it reports within %d s", s->s.id,
		         why, b->c->will_grace_s);
	}
	return 0;
}

int board_check(struct board *b, int64_t wall_ms, int64_t now_mono)
{
	int rc = 0;
	if (!b->timekeeper)
		return 0;
	for (size_t i = 0; i < b->n; i++) {
		struct bsite *s = b->sites[i];
		int64_t win = (int64_t)window_s(b, s) * 1000;
		char why[160];
		if (!s->s.lost_contact && s->will_mono &&
		    now_mono - s->will_mono >= (int64_t)b->c->will_grace_s * 1000) {
			s->will_mono = 0;
			if (lose_contact(b, s, wall_ms, s->will_why) < 0 ||
			    sstore_site_put(b->st, &s->s) < 0)
				rc = -EIO;
			site_changed(b, s->s.id);
			continue;
		}
		if (s->s.lost_contact || now_mono - s->contact_mono <= win)
			continue;
		snprintf(why, sizeof(why), "no report for %lld s (window %d s)",
		         (long long)((now_mono - s->contact_mono) / 1000), window_s(b, s));
		if (lose_contact(b, s, wall_ms, why) < 0 || sstore_site_put(b->st, &s->s) < 0)
			rc = -EIO;
		site_changed(b, s->s.id);
	}
	return rc;
}

int board_ack(struct board *b, const char *site, int64_t id, const char *user, int64_t wall_ms)
{
	struct bsite *s = find(b, site);
	struct balarm *ba = s ? find_alarm(s, id) : NULL;
	if (!ba)
		return -ENOENT;
	if (ba->a.acked_ms)
		return -EALREADY;
	if (id >= 0)
		return 0;
	/* A station alarm: the station is the panel that owns it. */
	snprintf(ba->a.acked_by, sizeof(ba->a.acked_by), "%s", user);
	ba->a.acked_ms = wall_ms;
	ba->a.updated_ms = wall_ms;
	if (strcmp(ba->a.state, "cleared") == 0) {
		snprintf(ba->a.state, sizeof(ba->a.state), "reset");
		ba->a.reset_ms = wall_ms;
	} else {
		snprintf(ba->a.state, sizeof(ba->a.state), "acknowledged");
	}
	if (station_alarm_put(b, &ba->a) < 0)
		return -EIO;
	alarm_changed(b, site, id);
	if (ba->a.reset_ms)
		drop_alarm(s, ba);
	return 1;
}

void board_ack_sent(struct board *b, const char *site, int64_t id, const char *user,
                    int64_t wall_ms)
{
	struct bsite *s = find(b, site);
	struct balarm *ba = s ? find_alarm(s, id) : NULL;
	if (!ba)
		return;
	snprintf(ba->pending_by, sizeof(ba->pending_by), "%s", user);
	ba->pending_ms = wall_ms;
	alarm_changed(b, site, id);
}

/* ---- JSON ---- */

static void add_time(cJSON *o, const char *k, int64_t ms)
{
	char at[40];
	if (ms <= 0) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	store_format_time(ms, at, sizeof(at));
	cJSON_AddStringToObject(o, k, at);
}

static void add_geo(cJSON *o, const struct ssite *s)
{
	if (s->has_geo) {
		cJSON *g = cJSON_AddObjectToObject(o, "geo");
		cJSON_AddNumberToObject(g, "lat", s->lat);
		cJSON_AddNumberToObject(g, "lon", s->lon);
	} else {
		cJSON_AddNullToObject(o, "geo");
	}
}

static cJSON *alarm_json(const struct salarm *a, const struct bsite *s, const struct balarm *ba)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "site", a->site);
	cJSON_AddNumberToObject(o, "id", (double)a->id);
	/* The feed's seq of the change shown (0 for the station's own alarms):
	 * lets a client order what it was sent per site. */
	cJSON_AddNumberToObject(o, "seq", (double)a->seq);
	cJSON_AddStringToObject(o, "class", a->cls);
	cJSON_AddStringToObject(o, "state", a->state);
	cJSON_AddStringToObject(o, "zone", a->zone);
	cJSON_AddStringToObject(o, "zone_name", a->zone_name);
	cJSON_AddStringToObject(o, "sensor", a->sensor);
	cJSON_AddStringToObject(o, "rule", a->rule);
	cJSON_AddStringToObject(o, "message", a->message);
	add_time(o, "raised_at", a->raised_ms);
	/* DESIGN.md's name for it. */
	add_time(o, "at", a->raised_ms);
	add_time(o, "updated_at", a->updated_ms);
	add_time(o, "acked_at", a->acked_ms);
	if (a->acked_by[0])
		cJSON_AddStringToObject(o, "acked_by", a->acked_by);
	else
		cJSON_AddNullToObject(o, "acked_by");
	add_time(o, "silenced_at", a->silenced_ms);
	add_time(o, "cleared_at", a->cleared_ms);
	add_time(o, "reset_at", a->reset_ms);
	cJSON_AddStringToObject(o, "site_name", s && s->s.name[0] ? s->s.name : a->site);
	cJSON_AddStringToObject(o, "address", s ? s->s.address : "");
	cJSON_AddStringToObject(o, "phone", s ? s->s.phone : "");
	if (s)
		add_geo(o, &s->s);
	else
		cJSON_AddNullToObject(o, "geo");
	cJSON_AddStringToObject(o, "source", a->id < 0 ? "station" : "gateway");
	if (ba && ba->pending_by[0]) {
		cJSON *p = cJSON_AddObjectToObject(o, "ack_pending");
		cJSON_AddStringToObject(p, "by", ba->pending_by);
		add_time(p, "at", ba->pending_ms);
	} else {
		cJSON_AddNullToObject(o, "ack_pending");
	}
	return o;
}

cJSON *board_alarm_json(struct board *b, const char *site, int64_t id)
{
	struct bsite *s = find(b, site);
	struct balarm *ba = s ? find_alarm(s, id) : NULL;
	return ba ? alarm_json(&ba->a, s, ba) : NULL;
}

struct aref {
	const struct bsite *s;
	const struct balarm *ba;
};

static int cmp_alarm(const void *x, const void *y)
{
	const struct aref *p = x, *q = y;
	int rp = sfeed_class_rank(p->ba->a.cls), rq = sfeed_class_rank(q->ba->a.cls);
	if (rp != rq)
		return rp - rq;
	if (p->ba->a.raised_ms != q->ba->a.raised_ms)
		return p->ba->a.raised_ms < q->ba->a.raised_ms ? 1 : -1;
	return strcmp(p->ba->a.site, q->ba->a.site);
}

cJSON *board_alarms_json(struct board *b, int64_t wall_ms)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	struct aref *v = NULL;
	size_t n = 0, cap = 0;
	add_time(o, "now", wall_ms);
	arr = cJSON_AddArrayToObject(o, "alarms");
	for (size_t i = 0; i < b->n; i++) {
		for (size_t k = 0; k < b->sites[i]->nalarms; k++) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct aref *nv = realloc(v, nc * sizeof(*nv));
				if (!nv)
					goto out;
				v = nv;
				cap = nc;
			}
			v[n].s = b->sites[i];
			v[n].ba = &b->sites[i]->alarms[k];
			n++;
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_alarm);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, alarm_json(&v[i].ba->a, v[i].s, v[i].ba));
out:
	free(v);
	return o;
}

static int site_has_alarm(const struct bsite *s)
{
	for (size_t i = 0; i < s->nalarms; i++)
		if (s->alarms[i].a.id > 0)
			return 1;
	return 0;
}

static cJSON *site_json(const struct board *b, const struct bsite *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "site", s->s.id);
	cJSON_AddStringToObject(o, "name", s->s.name[0] ? s->s.name : s->s.id);
	cJSON_AddStringToObject(o, "address", s->s.address);
	cJSON_AddStringToObject(o, "phone", s->s.phone);
	cJSON_AddStringToObject(o, "group", s->s.group);
	add_geo(o, &s->s);
	cJSON_AddBoolToObject(o, "known", s->s.known);
	cJSON_AddBoolToObject(o, "online", s->s.online && !s->s.lost_contact);
	cJSON_AddBoolToObject(o, "lost_contact", s->s.lost_contact);
	add_time(o, "lost_since", s->s.lost_contact ? s->s.lost_since_ms : 0);
	add_time(o, "last_heartbeat", s->s.last_heartbeat_ms);
	add_time(o, "first_seen", s->s.first_seen_ms);
	cJSON_AddNumberToObject(o, "window_s", window_s(b, s));
	cJSON_AddStringToObject(o, "mode", s->s.mode);
	cJSON_AddNumberToObject(o, "active_alarms", s->s.active_alarms);
	cJSON_AddNumberToObject(o, "faults", s->s.faults);
	cJSON_AddNumberToObject(o, "disablements", s->s.disablements);
	if (s->s.log_row >= 0) {
		cJSON *l = cJSON_AddObjectToObject(o, "log");
		cJSON_AddNumberToObject(l, "row", (double)s->s.log_row);
		cJSON_AddStringToObject(l, "hash", s->s.log_hash);
	} else {
		cJSON_AddNullToObject(o, "log");
	}
	return o;
}

cJSON *board_site_json(struct board *b, const char *site, int64_t now_mono)
{
	struct bsite *s = find(b, site);
	(void)now_mono;
	return s ? site_json(b, s) : NULL;
}

static int matches(const struct bsite *s, const char *q)
{
	if (!q || !*q)
		return 1;
	return strcasestr(s->s.id, q) || strcasestr(s->s.name, q) || strcasestr(s->s.address, q) ||
	       strcasestr(s->s.phone, q) || strcasestr(s->s.group, q);
}

enum { F_ALL, F_ONLINE, F_LOST, F_ALARM, F_FAULTS, F_DISABLED, F__COUNT };
static const char *const filters[F__COUNT] = {"all",   "online", "lost",
                                              "alarm", "faults", "disabled"};

static int in_filter(const struct bsite *s, int f)
{
	switch (f) {
	case F_ONLINE:
		return s->s.online && !s->s.lost_contact;
	case F_LOST:
		return s->s.lost_contact;
	case F_ALARM:
		return site_has_alarm(s);
	case F_FAULTS:
		return s->s.faults > 0;
	case F_DISABLED:
		return s->s.disablements > 0;
	default:
		return 1;
	}
}

static int cmp_site(const void *x, const void *y)
{
	const struct bsite *p = *(const struct bsite *const *)x,
	                   *q = *(const struct bsite *const *)y;
	int wp = site_has_alarm(p) * 2 + p->s.lost_contact,
	    wq = site_has_alarm(q) * 2 + q->s.lost_contact;
	if (wp != wq)
		return wq - wp;
	return strcasecmp(p->s.name[0] ? p->s.name : p->s.id, q->s.name[0] ? q->s.name : q->s.id);
}

cJSON *board_sites_json(struct board *b, const char *q, const char *filter, int64_t wall_ms,
                        int64_t now_mono)
{
	cJSON *o = cJSON_CreateObject(), *counts, *arr;
	const struct bsite **v = NULL;
	int f = F_ALL, count[F__COUNT] = {0};
	size_t n = 0;
	(void)now_mono;
	for (int i = 0; filter && i < F__COUNT; i++)
		if (strcmp(filter, filters[i]) == 0)
			f = i;
	add_time(o, "now", wall_ms);
	counts = cJSON_AddObjectToObject(o, "counts");
	arr = cJSON_AddArrayToObject(o, "sites");
	v = b->n ? malloc(b->n * sizeof(*v)) : NULL;
	for (size_t i = 0; i < b->n; i++) {
		const struct bsite *s = b->sites[i];
		if (!matches(s, q))
			continue;
		for (int k = 0; k < F__COUNT; k++)
			count[k] += in_filter(s, k);
		if (v && in_filter(s, f))
			v[n++] = s;
	}
	for (int k = 0; k < F__COUNT; k++)
		cJSON_AddNumberToObject(counts, filters[k], count[k]);
	if (n)
		qsort(v, n, sizeof(*v), cmp_site);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, site_json(b, v[i]));
	free(v);
	return o;
}

static int hist_alarm(void *ctx, const struct salarm *a)
{
	cJSON *arr = ctx, *o = alarm_json(a, NULL, NULL);
	if (a->acked_ms && a->raised_ms)
		cJSON_AddNumberToObject(o, "ack_s", (double)((a->acked_ms - a->raised_ms) / 1000));
	else
		cJSON_AddNullToObject(o, "ack_s");
	if (a->reset_ms && a->raised_ms)
		cJSON_AddNumberToObject(o, "reset_s",
		                        (double)((a->reset_ms - a->raised_ms) / 1000));
	else
		cJSON_AddNullToObject(o, "reset_s");
	cJSON_AddItemToArray(arr, o);
	return 0;
}

static int hist_event(void *ctx, const struct sevent *e)
{
	cJSON *arr = ctx, *o = cJSON_CreateObject();
	add_time(o, "at", e->at_ms);
	cJSON_AddStringToObject(o, "what", e->what);
	cJSON_AddStringToObject(o, "by", e->by);
	cJSON_AddStringToObject(o, "detail", e->detail);
	cJSON_AddItemToArray(arr, o);
	return 0;
}

cJSON *board_site_page(struct board *b, const char *site, int64_t now_mono)
{
	struct bsite *s = find(b, site);
	cJSON *o, *st, *arr;
	(void)now_mono;
	if (!s)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "site", site_json(b, s));
	st = s->s.status_json ? cJSON_Parse(s->s.status_json) : NULL;
	if (st)
		cJSON_AddItemToObject(o, "status", st);
	else
		cJSON_AddNullToObject(o, "status");
	arr = cJSON_AddArrayToObject(o, "alarms");
	sstore_site_alarms(b->st, site, HISTORY_MAX, hist_alarm, arr);
	/* The history has the stored rows; site names come from the board. */
	for (cJSON *it = arr->child; it; it = it->next) {
		cJSON_ReplaceItemInObject(it, "site_name",
		                          cJSON_CreateString(s->s.name[0] ? s->s.name : s->s.id));
		cJSON_ReplaceItemInObject(it, "address", cJSON_CreateString(s->s.address));
		cJSON_ReplaceItemInObject(it, "phone", cJSON_CreateString(s->s.phone));
	}
	arr = cJSON_AddArrayToObject(o, "events");
	sstore_events(b->st, site, HISTORY_MAX, hist_event, arr);
	return o;
}

void board_set_config(struct board *b, const struct sconfig *c)
{
	b->c = c;
	for (size_t i = 0; i < b->n; i++)
		b->sites[i]->dir = NULL;
	for (size_t i = 0; i < c->nsites; i++) {
		struct bsite *s = find(b, c->sites[i].id);
		if (!s && (s = add_site(b, c->sites[i].id)))
			s->contact_mono = loop_mono_ms();
		if (s)
			s->dir = &c->sites[i];
	}
	for (size_t i = 0; i < b->n; i++) {
		b->sites[i]->s.known = 0;
		b->sites[i]->s.group[0] = '\0';
		apply_directory(b, b->sites[i]);
	}
}

void board_stats(const struct board *b, struct board_stats *out)
{
	*out = b->stats;
}

size_t board_site_count(const struct board *b)
{
	return b->n;
}

int board_site_known(const struct board *b, const char *site)
{
	const struct bsite *s = find(b, site);
	return s ? s->s.known : 0;
}
