/*
 * panel.c: alarm lifecycle, siren arbitration and alert dispatch.
 */
#include "panel.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "outputs.h"
#include "registry.h"
#include "store.h"
#include "upstream.h"

#define MAX_CAUSES 16

struct cause {
	char sensor[SH_ID_MAX];
	char rule[128];
	int active;
	int restored; /* loaded after a restart: its live state is unknown */
};

struct alarm {
	int64_t id;
	enum sh_alarm_class cls;
	char zone[SH_ID_MAX];
	char sensor[SH_ID_MAX]; /* the first detector */
	char rule[128];
	char *message;
	char state[16];
	char siren[16]; /* pattern it sounds; "" when silent */
	int64_t raised_ms, updated_ms;
	char acked_by[64];
	struct cause causes[MAX_CAUSES];
	int ncauses;
};

struct panel {
	struct panel_deps d;
	struct alarm **alarms; /* active only */
	int n, cap;
	enum sh_mode mode;
	int rule_siren; /* a rule turned the sirens on without an alarm */
	char rule_pattern[16];
	void (*changed)(void *);
	void *changed_ctx;
};

static int is_self_clearing(enum sh_alarm_class c)
{
	return c == ALARM_FAULT || c == ALARM_SUPERVISORY;
}

static void alarm_free(struct alarm *a)
{
	if (a) {
		free(a->message);
		free(a);
	}
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

static void to_store(const struct alarm *a, struct store_alarm *sa, int active)
{
	*sa = (struct store_alarm){
	    .id = a->id,
	    .cls = sh_class_name(a->cls),
	    .zone = or_null(a->zone),
	    .sensor = or_null(a->sensor),
	    .rule = or_null(a->rule),
	    .message = a->message,
	    .state = a->state,
	    .active = active,
	    .cause_active = 0,
	    .raised_ms = a->raised_ms,
	    .updated_ms = a->updated_ms,
	    .acked_by = or_null(a->acked_by),
	    .siren = or_null(a->siren),
	};
	for (int i = 0; i < a->ncauses; i++)
		if (a->causes[i].active)
			sa->cause_active = 1;
}

static struct upstream_alarm_info info_of(const struct alarm *a)
{
	return (struct upstream_alarm_info){
	    .id = a->id,
	    .cls = sh_class_name(a->cls),
	    .state = a->state,
	    .zone = or_null(a->zone),
	    .sensor = or_null(a->sensor),
	    .rule = or_null(a->rule),
	    .message = a->message,
	};
}

/* Record a transition: store row, event, feed message. Not committed. */
static int record(struct panel *p, struct alarm *a, int insert, int active, int64_t wall_ms)
{
	struct store_alarm sa;
	struct upstream_alarm_info info;
	char detail[256];
	int rc;

	a->updated_ms = wall_ms;
	to_store(a, &sa, active);
	rc = insert ? store_alarm_insert(p->d.store, &sa) : store_alarm_update(p->d.store, &sa);
	if (rc < 0)
		return -1;
	if (insert)
		a->id = sa.id;
	snprintf(detail, sizeof(detail), "alarm %lld %s %s in %s", (long long)a->id,
	         sh_class_name(a->cls), a->state, a->zone[0] ? a->zone : "-");
	store_event(p->d.store, wall_ms, "panel", "alarm", or_null(a->sensor), NULL, 0, 0, detail);
	info = info_of(a);
	log_notice("panel: alarm %lld %s %s in %s (sensor %s, rule \"%s\")", (long long)a->id,
	           sh_class_name(a->cls), a->state, a->zone[0] ? a->zone : "-",
	           a->sensor[0] ? a->sensor : "-", a->rule);
	return upstream_queue_alarm(p->d.up, &info, wall_ms);
}

static int add_active(struct panel *p, struct alarm *a)
{
	if (p->n == p->cap) {
		int nc = p->cap ? p->cap * 2 : 16;
		struct alarm **na = realloc(p->alarms, (size_t)nc * sizeof(*na));
		if (!na)
			return -1;
		p->alarms = na;
		p->cap = nc;
	}
	p->alarms[p->n++] = a;
	return 0;
}

static void remove_active(struct panel *p, int i)
{
	alarm_free(p->alarms[i]);
	memmove(&p->alarms[i], &p->alarms[i + 1], sizeof(p->alarms[0]) * (size_t)(p->n - i - 1));
	p->n--;
}

/* What the sirens should do now: the highest-priority sounding alarm that
 * nobody silenced wins the pattern. */
static void update_sirens(struct panel *p)
{
	const struct alarm *best = NULL;
	for (int i = 0; i < p->n; i++) {
		const struct alarm *a = p->alarms[i];
		if (!a->siren[0] || strcmp(a->state, "silenced") == 0)
			continue;
		if (!best || sh_class_priority(a->cls) < sh_class_priority(best->cls))
			best = a;
	}
	if (best)
		outputs_sirens(p->d.outputs, 1, best->siren);
	else if (p->rule_siren)
		outputs_sirens(p->d.outputs, 1, p->rule_pattern);
	else
		outputs_sirens(p->d.outputs, 0, NULL);
}

static void load_cb(void *ctx, const struct store_alarm *sa)
{
	struct panel *p = ctx;
	struct alarm *a = calloc(1, sizeof(*a));
	int cls = sh_class_from_name(sa->cls);
	if (!a || cls < 0) {
		free(a);
		return;
	}
	a->id = sa->id;
	a->cls = (enum sh_alarm_class)cls;
	copy(a->zone, sizeof(a->zone), sa->zone);
	copy(a->sensor, sizeof(a->sensor), sa->sensor);
	copy(a->rule, sizeof(a->rule), sa->rule);
	a->message = sa->message ? strdup(sa->message) : NULL;
	copy(a->state, sizeof(a->state), sa->state);
	copy(a->siren, sizeof(a->siren), sa->siren);
	copy(a->acked_by, sizeof(a->acked_by), sa->acked_by);
	a->raised_ms = sa->raised_ms;
	a->updated_ms = sa->updated_ms;
	if (sa->sensor) {
		copy(a->causes[0].sensor, sizeof(a->causes[0].sensor), sa->sensor);
		copy(a->causes[0].rule, sizeof(a->causes[0].rule), sa->rule);
		a->causes[0].active = sa->cause_active;
		a->causes[0].restored = 1;
		a->ncauses = 1;
	}
	if (add_active(p, a) < 0)
		alarm_free(a);
}

struct panel *panel_new(const struct panel_deps *d)
{
	struct panel *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->d = *d;
	p->mode = MODE_DISARMED;
	/* Restore before anything can act: an alarm that was active before a
	 * crash or power cut is still active, is not raised a second time,
	 * and sounds again unless someone had silenced it. */
	if (store_alarm_foreach(p->d.store, 1, 0, load_cb, p) < 0) {
		panel_free(p);
		return NULL;
	}
	if (p->n)
		log_notice("panel: restored %d active alarm(s) from the store", p->n);
	update_sirens(p);
	return p;
}

void panel_free(struct panel *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++)
		alarm_free(p->alarms[i]);
	free(p->alarms);
	free(p);
}

void panel_rebind(struct panel *p, const struct config *c)
{
	p->d.cfg = c;
}

void panel_set_changed_cb(struct panel *p, void (*fn)(void *ctx), void *ctx)
{
	p->changed = fn;
	p->changed_ctx = ctx;
}

enum sh_mode panel_mode(const struct panel *p)
{
	return p->mode;
}

static struct alarm *find_active(struct panel *p, enum sh_alarm_class cls, const char *zone,
                                 const char *sensor, const char *rule)
{
	for (int i = 0; i < p->n; i++) {
		struct alarm *a = p->alarms[i];
		if (a->cls != cls)
			continue;
		if (is_self_clearing(cls)) {
			if (strcmp(a->sensor, sensor) == 0 && strcmp(a->rule, rule) == 0)
				return a;
		} else if (strcmp(a->zone, zone) == 0) {
			return a;
		}
	}
	return NULL;
}

static struct cause *find_cause(struct alarm *a, const char *sensor, const char *rule)
{
	for (int i = 0; i < a->ncauses; i++)
		if (strcmp(a->causes[i].sensor, sensor) == 0 &&
		    (strcmp(a->causes[i].rule, rule) == 0 || a->causes[i].restored))
			return &a->causes[i];
	return NULL;
}

struct firing {
	const char *rule;
	const char *sensor;
	const char *zone;
	struct alarm *alarm; /* the alarm this firing raised or joined */
	int is_new;
	const char *pattern; /* siren on in this firing */
};

/* Raise or join. Returns the alarm, with *is_new when just created. */
static struct alarm *raise_alarm(struct panel *p, const struct rules_action *act, struct firing *f,
                                 int64_t wall_ms, int *changed)
{
	struct alarm *a = find_active(p, act->cls, f->zone, f->sensor, f->rule);
	struct cause *c;

	if (a) {
		c = find_cause(a, f->sensor, f->rule);
		if (!c && a->ncauses < MAX_CAUSES) {
			c = &a->causes[a->ncauses++];
			copy(c->sensor, sizeof(c->sensor), f->sensor);
			copy(c->rule, sizeof(c->rule), f->rule);
		}
		if (c) {
			c->active = 1;
			c->restored = 0;
		}
		/* Its cause is back: a latched alarm that was "cleared" is a
		 * live alarm again, and the feed must say so. */
		if (strcmp(a->state, "cleared") == 0) {
			copy(a->state, sizeof(a->state), "raised");
			record(p, a, 0, 1, wall_ms);
			*changed = 1;
		}
		return a;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->cls = act->cls;
	copy(a->zone, sizeof(a->zone), f->zone);
	copy(a->sensor, sizeof(a->sensor), f->sensor);
	copy(a->rule, sizeof(a->rule), f->rule);
	if (act->message)
		a->message = strdup(act->message);
	else
		a->message = strdup(sh_class_label_vi(act->cls));
	copy(a->state, sizeof(a->state), "raised");
	a->raised_ms = wall_ms;
	copy(a->causes[0].sensor, sizeof(a->causes[0].sensor), f->sensor);
	copy(a->causes[0].rule, sizeof(a->causes[0].rule), f->rule);
	a->causes[0].active = 1;
	a->ncauses = 1;
	if (f->pattern)
		copy(a->siren, sizeof(a->siren), f->pattern);
	if (record(p, a, 1, 1, wall_ms) < 0 || add_active(p, a) < 0) {
		log_err("panel: could not store alarm %s in %s; the sirens still sound",
		        sh_class_name(a->cls), a->zone);
		alarm_free(a);
		return NULL;
	}
	*changed = 1;
	return a;
}

static void cause_cleared(struct panel *p, const char *sensor, const char *rule, int64_t wall_ms,
                          int *changed)
{
	for (int i = 0; i < p->n;) {
		struct alarm *a = p->alarms[i];
		struct cause *c = NULL;
		int any = 0;
		for (int j = 0; j < a->ncauses; j++)
			if (strcmp(a->causes[j].sensor, sensor) == 0 &&
			    strcmp(a->causes[j].rule, rule) == 0)
				c = &a->causes[j];
		if (!c || !c->active) {
			i++;
			continue;
		}
		c->active = 0;
		for (int j = 0; j < a->ncauses; j++)
			any |= a->causes[j].active;
		if (any || strcmp(a->state, "cleared") == 0) {
			i++;
			continue;
		}
		copy(a->state, sizeof(a->state), "cleared");
		*changed = 1;
		if (is_self_clearing(a->cls)) {
			record(p, a, 0, 0, wall_ms);
			remove_active(p, i);
			continue;
		}
		/* Latched: stays active, sirens keep sounding, until reset. */
		record(p, a, 0, 1, wall_ms);
		i++;
	}
}

static const char *priority_name(enum rules_priority pr, enum sh_alarm_class cls)
{
	switch (pr) {
	case PRIO_LOW:
		return "low";
	case PRIO_NORMAL:
		return "normal";
	case PRIO_URGENT:
		return "urgent";
	default:
		return cls <= ALARM_PANIC ? "urgent" : "normal";
	}
}

static void apply_firing(struct panel *p, const struct rules_action *acts, int n,
                         const struct ruleset *rs, int64_t wall_ms, int *changed, int *wrote,
                         int *sirens_dirty)
{
	const struct config *c = p->d.cfg;
	const struct rules_action *first = &acts[0];
	struct firing f = {
	    .rule = rules_name(rs, first->rule),
	    .sensor = first->sensor >= 0 ? c->sensors[first->sensor].id : "",
	    .zone = first->zone >= 0 ? c->zones[first->zone].id : "",
	};

	/* 1. Sirens first: never behind the disk. */
	for (int i = 0; i < n; i++) {
		if (acts[i].type == RA_SIREN_ON) {
			f.pattern = acts[i].pattern ? acts[i].pattern : "fire";
			outputs_sirens(p->d.outputs, 1, f.pattern);
		}
	}

	/* 2. Alarm state. */
	for (int i = 0; i < n; i++) {
		const struct rules_action *a = &acts[i];
		switch (a->type) {
		case RA_ALARM: {
			int before = p->n;
			struct alarm *al = raise_alarm(p, a, &f, wall_ms, changed);
			if (al) {
				f.is_new = p->n > before;
				f.alarm = al;
				*wrote = 1;
				/* A sounding rule joining a silent alarm makes
				 * it a sounding one. */
				if (f.pattern && !al->siren[0])
					copy(al->siren, sizeof(al->siren), f.pattern);
			}
			break;
		}
		case RA_CLEARED:
			cause_cleared(p, f.sensor, f.rule, wall_ms, changed);
			*wrote = 1;
			break;
		case RA_SIREN_ON:
			if (!f.alarm) {
				p->rule_siren = 1;
				copy(p->rule_pattern, sizeof(p->rule_pattern), f.pattern);
			}
			break;
		case RA_SIREN_OFF:
			p->rule_siren = 0;
			break;
		case RA_ALERT:
		case RA_OUTPUT:
		case RA_NOTIFY:
		case RA_SET_MODE:
			break;
		}
	}
	*sirens_dirty = 1;

	/* 3. Alerts, only for an alarm this firing newly raised: a detector
	 * that keeps reporting must not page the militia twenty times. */
	for (int i = 0; i < n; i++) {
		const struct rules_action *a = &acts[i];
		struct upstream_alarm_info info;
		struct alarm tmp;
		if (a->type != RA_ALERT)
			continue;
		if (f.alarm && !f.is_new)
			continue;
		if (f.alarm) {
			info = info_of(f.alarm);
		} else {
			memset(&tmp, 0, sizeof(tmp));
			tmp.cls = ALARM_SUPERVISORY;
			copy(tmp.zone, sizeof(tmp.zone), f.zone);
			copy(tmp.sensor, sizeof(tmp.sensor), f.sensor);
			copy(tmp.rule, sizeof(tmp.rule), f.rule);
			copy(tmp.state, sizeof(tmp.state), "raised");
			info = info_of(&tmp);
		}
		for (int k = 0; k < a->ncontacts; k++) {
			enum sh_alarm_class cls = f.alarm ? f.alarm->cls : ALARM_SUPERVISORY;
			if (upstream_queue_alert(p->d.up, &info, a->contacts[k],
			                         priority_name(a->priority, cls), wall_ms) == 0)
				*wrote = 1;
			log_notice("panel: alert to %s (%s) for alarm %lld",
			           c->contacts[a->contacts[k]].id, priority_name(a->priority, cls),
			           (long long)info.id);
		}
	}
}

void panel_apply(struct panel *p, const struct rules_action *acts, int n, const struct ruleset *rs,
                 int64_t wall_ms)
{
	int changed = 0, wrote = 0, sirens_dirty = 0;
	for (int i = 0; i < n;) {
		int j = i + 1;
		while (j < n && acts[j].rule == acts[i].rule && acts[j].sensor == acts[i].sensor)
			j++;
		apply_firing(p, &acts[i], j - i, rs, wall_ms, &changed, &wrote, &sirens_dirty);
		i = j;
	}
	if (sirens_dirty)
		update_sirens(p);
	if (wrote) {
		/* Durable before announced. If the commit fails the rows stay
		 * unpublished, and the log says so; the sirens already sound. */
		if (store_commit(p->d.store) < 0)
			log_err("panel: alarm not committed to the store; upstream delayed");
		else
			upstream_kick(p->d.up);
	}
	if (changed && p->changed)
		p->changed(p->changed_ctx);
}

int panel_reset(struct panel *p, int64_t id, const char *by, int64_t wall_ms, char *why,
                size_t whylen)
{
	const struct config *c = p->d.cfg;
	struct alarm *a = NULL;
	int idx = -1;

	for (int i = 0; i < p->n; i++)
		if (p->alarms[i]->id == id) {
			a = p->alarms[i];
			idx = i;
		}
	if (!a) {
		snprintf(why, whylen, "no active alarm %lld", (long long)id);
		return -ENOENT;
	}
	/* Refuse while a detector of this alarm still reports: resetting a
	 * fire panel over live smoke would only re-raise it, or worse, hide
	 * it. */
	for (int i = 0; i < a->ncauses; i++) {
		const struct cause *cs = &a->causes[i];
		int s = config_sensor_index(c, cs->sensor);
		enum sh_point pt;
		double v;
		if (s < 0)
			continue;
		pt = sh_kind_primary_point(c->sensors[s].kind);
		/* A panic press is an event, not a state that could persist. */
		if (pt == POINT_PANIC)
			continue;
		if (pt != POINT__COUNT && registry_get(p->d.reg, s, pt, &v) == 0) {
			if (v != 0) {
				snprintf(why, whylen, "%s still reports %s", cs->sensor,
				         sh_state_name(pt, v));
				return -EBUSY;
			}
			continue;
		}
		if (cs->active && !cs->restored) {
			snprintf(why, whylen, "the condition from %s (rule \"%s\") still holds",
			         cs->sensor, cs->rule);
			return -EBUSY;
		}
	}
	copy(a->state, sizeof(a->state), "reset");
	for (int i = 0; i < a->ncauses; i++)
		a->causes[i].active = 0;
	{
		struct store_alarm sa;
		a->updated_ms = wall_ms;
		to_store(a, &sa, 0);
		sa.reset_by = by;
		store_alarm_update(p->d.store, &sa);
	}
	{
		char detail[256];
		struct upstream_alarm_info info = info_of(a);
		snprintf(detail, sizeof(detail), "alarm %lld reset by %s", (long long)id,
		         by ? by : "?");
		store_event(p->d.store, wall_ms, by ? by : "control", "command", or_null(a->sensor),
		            NULL, 0, 0, detail);
		upstream_queue_alarm(p->d.up, &info, wall_ms);
	}
	log_notice("panel: alarm %lld %s in %s reset by %s", (long long)id, sh_class_name(a->cls),
	           a->zone, by ? by : "?");
	remove_active(p, idx);
	update_sirens(p);
	if (store_commit(p->d.store) == 0)
		upstream_kick(p->d.up);
	if (p->changed)
		p->changed(p->changed_ctx);
	return 0;
}

static int cmp_alarm(const void *x, const void *y)
{
	const struct alarm *a = *(struct alarm *const *)x, *b = *(struct alarm *const *)y;
	if (a->cls != b->cls)
		return sh_class_priority(a->cls) - sh_class_priority(b->cls);
	return a->id < b->id ? -1 : a->id > b->id;
}

cJSON *panel_alarms_json(const struct panel *p)
{
	const struct config *c = p->d.cfg;
	cJSON *arr = cJSON_CreateArray();
	struct alarm **sorted;
	if (!arr || !p->n)
		return arr;
	sorted = malloc(sizeof(*sorted) * (size_t)p->n);
	if (!sorted)
		return arr;
	memcpy(sorted, p->alarms, sizeof(*sorted) * (size_t)p->n);
	qsort(sorted, (size_t)p->n, sizeof(*sorted), cmp_alarm);
	for (int i = 0; i < p->n; i++) {
		const struct alarm *a = sorted[i];
		cJSON *o = cJSON_CreateObject();
		int z = config_zone_index(c, a->zone);
		char at[32];
		cJSON_AddNumberToObject(o, "id", (double)a->id);
		cJSON_AddStringToObject(o, "class", sh_class_name(a->cls));
		cJSON_AddStringToObject(o, "state", a->state);
		cJSON_AddStringToObject(o, "zone", a->zone);
		cJSON_AddStringToObject(o, "zone_name", z >= 0 ? c->zones[z].name : a->zone);
		cJSON_AddStringToObject(o, "sensor", a->sensor);
		cJSON_AddStringToObject(o, "rule", a->rule);
		if (a->message)
			cJSON_AddStringToObject(o, "message", a->message);
		store_format_time(a->raised_ms, at, sizeof(at));
		cJSON_AddStringToObject(o, "raised_at", at);
		store_format_time(a->updated_ms, at, sizeof(at));
		cJSON_AddStringToObject(o, "updated_at", at);
		cJSON_AddBoolToObject(o, "sounding", a->siren[0] && strcmp(a->state, "silenced"));
		cJSON_AddItemToArray(arr, o);
	}
	free(sorted);
	return arr;
}

void panel_counts(const struct panel *p, int *alarms, int *faults)
{
	*alarms = *faults = 0;
	for (int i = 0; i < p->n; i++)
		(is_self_clearing(p->alarms[i]->cls) ? (*faults)++ : (*alarms)++);
}
