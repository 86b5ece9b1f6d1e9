/*
 * neighbours.c: the neighbour group's alarm feeds: validation, dedup,
 * counters.
 */
#include "neighbours.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"

/* Seqs remembered per neighbour: more than one outbox resend burst of
 * alarm messages. Not "highest seq seen": a neighbour whose database was
 * replaced starts again at 1, and its fires must still count. */
#define SEEN_MAX 64
/* Sites remembered (by id, so that a reload keeps them). */
#define SITES_MAX (2 * CONFIG_NEIGHBOURS_MAX)
#define BAD_LOG_EVERY_MS 60000

_Static_assert((int)ALARM_RAISED == (int)RAE_RAISED && (int)ALARM_RESET == (int)RAE_RESET &&
                   (int)ALARM_CLEARED == (int)RAE_CLEARED,
               "a feed state is read as the rules' alarm event");

struct site_seen {
	char id[SH_ID_MAX];
	int64_t seq[SEEN_MAX];
	int n, head;
	uint64_t used; /* last use, for eviction */
};

struct neighbours {
	struct site_seen sites[SITES_MAX];
	uint64_t clock;
	struct neighbours_stats st;
	int64_t bad_logged_at; /* mono ms of the last bad-message log line */
	uint64_t bad_unlogged;
};

struct neighbours *neighbours_new(void)
{
	return calloc(1, sizeof(struct neighbours));
}

void neighbours_free(struct neighbours *nb)
{
	free(nb);
}

void neighbours_stats(const struct neighbours *nb, struct neighbours_stats *st)
{
	if (nb)
		*st = nb->st;
	else
		memset(st, 0, sizeof(*st));
}

static const char *prefix(const struct config *c)
{
	return c->upstream_prefix ? c->upstream_prefix : "safehouse";
}

int neighbours_topic(const struct config *c, int i, char *buf, size_t size)
{
	if (i < 0 || i >= c->nneighbours)
		return -1;
	snprintf(buf, size, "%s/%s/alarm", prefix(c), c->neighbours[i]);
	return 0;
}

int neighbours_match(const struct config *c, const char *topic)
{
	size_t n = strlen(prefix(c));

	if (strncmp(topic, prefix(c), n) != 0 || topic[n] != '/')
		return -1;
	topic += n + 1;
	for (int i = 0; i < c->nneighbours; i++) {
		size_t k = strlen(c->neighbours[i]);
		if (strncmp(topic, c->neighbours[i], k) == 0 && strcmp(topic + k, "/alarm") == 0)
			return i;
	}
	return -1;
}

static struct site_seen *site_of(struct neighbours *nb, const char *id)
{
	struct site_seen *s = &nb->sites[0];
	for (int i = 0; i < SITES_MAX; i++) {
		if (strcmp(nb->sites[i].id, id) == 0) {
			s = &nb->sites[i];
			goto out;
		}
		if (nb->sites[i].used < s->used)
			s = &nb->sites[i];
	}
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
out:
	s->used = ++nb->clock;
	return s;
}

/* 1 when seq was seen before; else remembers it. */
static int seen_before(struct site_seen *s, int64_t seq)
{
	for (int i = 0; i < s->n; i++)
		if (s->seq[i] == seq)
			return 1;
	s->seq[s->head] = seq;
	s->head = (s->head + 1) % SEEN_MAX;
	if (s->n < SEEN_MAX)
		s->n++;
	return 0;
}

/* "2025-11-29T00:04:05.123Z" (store_format_time) as UTC ms; -1 if not. */
static int64_t parse_at(const char *s)
{
	struct tm tm;
	int ms = 0, n = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
	    s[n] != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static void bad(struct neighbours *nb, const struct config *c, int i, int64_t mono_ms,
                const char *why)
{
	nb->st.bad++;
	if (nb->bad_logged_at && mono_ms - nb->bad_logged_at < BAD_LOG_EVERY_MS) {
		nb->bad_unlogged++;
		return;
	}
	if (nb->bad_unlogged)
		log_warn("neighbours: %s: %s; ignored (and %llu more bad message(s) since the "
		         "last one logged)",
		         c->neighbours[i], why, (unsigned long long)nb->bad_unlogged);
	else
		log_warn("neighbours: %s: %s; ignored", c->neighbours[i], why);
	nb->bad_logged_at = mono_ms > 0 ? mono_ms : 1;
	nb->bad_unlogged = 0;
}

int neighbours_parse(struct neighbours *nb, const struct config *c, int i, const void *payload,
                     size_t len, int64_t mono_ms, int64_t wall_ms, struct neighbours_event *ev)
{
	cJSON *o = NULL;
	const cJSON *site, *seq, *cls, *state, *addr, *at;
	int k, st, rc = -1;
	char why[160];
	int64_t when;

	if (i < 0 || i >= c->nneighbours)
		return 0;
	nb->st.received++;
	memset(ev, 0, sizeof(*ev));
	o = payload ? cJSON_ParseWithLength(payload, len) : NULL;
	if (!cJSON_IsObject(o)) {
		bad(nb, c, i, mono_ms, "not a JSON object");
		goto out;
	}
	site = cJSON_GetObjectItem(o, "site");
	seq = cJSON_GetObjectItem(o, "seq");
	cls = cJSON_GetObjectItem(o, "class");
	state = cJSON_GetObjectItem(o, "state");
	addr = cJSON_GetObjectItem(o, "address");
	at = cJSON_GetObjectItem(o, "at");
	if (!cJSON_IsString(site) || strcmp(site->valuestring, c->neighbours[i]) != 0) {
		snprintf(why, sizeof(why), "\"site\" is not \"%s\", the site of its topic",
		         c->neighbours[i]);
		bad(nb, c, i, mono_ms, why);
		goto out;
	}
	if (!cJSON_IsNumber(seq) || !isfinite(seq->valuedouble) || seq->valuedouble < 1 ||
	    seq->valuedouble != floor(seq->valuedouble) || seq->valuedouble > 9007199254740992.0) {
		bad(nb, c, i, mono_ms, "\"seq\" is not a whole number of 1 or more");
		goto out;
	}
	if (!cJSON_IsString(cls) || (k = sh_class_from_name(cls->valuestring)) < 0) {
		bad(nb, c, i, mono_ms, "\"class\" is not an alarm class");
		goto out;
	}
	if (!cJSON_IsString(state) || (st = sh_alarm_state_from_name(state->valuestring)) < 0) {
		bad(nb, c, i, mono_ms, "\"state\" is not an alarm state");
		goto out;
	}
	if (addr && !cJSON_IsString(addr) && !cJSON_IsNull(addr)) {
		bad(nb, c, i, mono_ms, "\"address\" is not a string");
		goto out;
	}
	when = cJSON_IsString(at) ? parse_at(at->valuestring) : -1;
	if (at && !cJSON_IsNull(at) && when < 0) {
		bad(nb, c, i, mono_ms, "\"at\" is not a time like 2026-01-31T12:00:00.000Z");
		goto out;
	}
	rc = 0;
	ev->seq = (int64_t)seq->valuedouble;
	if (seen_before(site_of(nb, c->neighbours[i]), ev->seq)) {
		nb->st.duplicates++;
		log_debug("neighbours: %s: seq %lld again; already handled", c->neighbours[i],
		          (long long)ev->seq);
		goto out;
	}
	/* The group wakes the row for a fire or a panic; the rest (a
	 * neighbour's intrusion, its faults) is its own business. */
	if (k != ALARM_FIRE && k != ALARM_PANIC) {
		nb->st.ignored++;
		goto out;
	}
	if (when >= 0 && wall_ms - when > NEIGHBOURS_MAX_AGE_MS) {
		nb->st.ignored++;
		log_notice("neighbours: %s: %s %s of %s is %lld min old; not acted on",
		           c->neighbours[i], cls->valuestring, state->valuestring, at->valuestring,
		           (long long)((wall_ms - when) / 60000));
		goto out;
	}
	ev->neighbour = i;
	ev->cls = (enum sh_alarm_class)k;
	/* The feed's states are the panel's transitions, in the same order. */
	ev->ev = (enum rules_alarm_event)st;
	if (cJSON_IsString(addr))
		snprintf(ev->address, sizeof(ev->address), "%s", addr->valuestring);
	nb->st.events++;
	log_notice("neighbours: %s: %s %s", c->neighbours[i], cls->valuestring, state->valuestring);
	rc = 1;
out:
	cJSON_Delete(o);
	return rc;
}
