/*
 * panel.c: alarm lifecycle, siren arbitration, alert and notification
 * dispatch, mode.
 */
#include "panel.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "messages.h"
#include "outputs.h"
#include "registry.h"
#include "shape.h"
#include "store.h"
#include "upstream.h"

#include "loop.h"

#define MAX_CAUSES 16
#define MAX_ALERTED 16
#define MAX_EVENTS 64
#define MAX_TIMERS 32

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
	enum sh_alarm_state state;
	enum sh_siren siren; /* pattern it sounds; SIREN_OFF when silent */
	int64_t siren_until; /* monotonic; 0: until reset or silence */
	int acked, silenced, confirmed;
	int64_t raised_ms, updated_ms;
	char acked_by[64];
	struct cause causes[MAX_CAUSES];
	int ncauses;
	struct alerted {
		char contact[SH_ID_MAX];
		int64_t repeat_ms; /* `alert ... every`: again while active */
		int64_t next;      /* monotonic time of the next repeat */
		char priority[8];
	} alerted[MAX_ALERTED]; /* contacts already alerted */
	int nalerted;
};

enum timer_kind { T_RULE_SIREN_END, T_ALARM_SIREN_END, T_OUTPUT };

struct ptimer {
	int64_t due;
	enum timer_kind kind;
	int output; /* T_OUTPUT: config index */
	int on;     /* T_OUTPUT: state to set when due */
};

#define MAX_DISABLED 64
#define MAX_BYPASS 32
#define MAX_DISABLE_MS (7LL * 24 * 3600 * 1000)
#define TEST_MS (3600LL * 1000)
#define TEST_SIREN_MS 3000

struct disable {
	char target[SH_ID_MAX];
	int is_zone;
	char reason[128];
	char by[64];
	int64_t until_wall;
};

struct panel {
	struct panel_deps d;
	struct disable dis[MAX_DISABLED];
	int ndis;
	char bypass[MAX_BYPASS][SH_ID_MAX]; /* forced arming: until disarm */
	int nbypass;
	struct {
		int active;
		char zone[SH_ID_MAX]; /* "" = the whole site */
		int sirens;
		int64_t until_mono, until_wall;
		char by[64];
		int count;
	} test;
	struct alarm **alarms; /* active only */
	int n, cap;
	enum sh_mode mode;
	int rule_siren; /* a rule turned the sirens on without an alarm */
	int64_t rule_siren_until;
	enum sh_siren rule_pattern;
	int64_t now; /* monotonic time of the call being served */
	struct ptimer timers[MAX_TIMERS];
	int ntimers;
	struct panel_event events[MAX_EVENTS];
	int nevents, events_lost;
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

static void push_event(struct panel *p, const struct panel_event *ev)
{
	if (p->nevents >= MAX_EVENTS) {
		p->events_lost++;
		return;
	}
	p->events[p->nevents++] = *ev;
}

static void alarm_event(struct panel *p, const struct alarm *a, enum rules_alarm_event ev)
{
	struct panel_event e = {.cls = a->cls, .alarm = a->id, .ev = ev};
	copy(e.zone, sizeof(e.zone), a->zone);
	copy(e.sensor, sizeof(e.sensor), a->sensor);
	push_event(p, &e);
}

void panel_replay(struct panel *p)
{
	for (int i = 0; i < p->n; i++) {
		const struct alarm *a = p->alarms[i];
		alarm_event(p, a, RAE_RAISED);
		if (a->acked)
			alarm_event(p, a, RAE_ACKNOWLEDGED);
		if (a->silenced)
			alarm_event(p, a, RAE_SILENCED);
		if (a->state == ALARM_CLEARED)
			alarm_event(p, a, RAE_CLEARED);
	}
}

int panel_take_event(struct panel *p, struct panel_event *ev)
{
	if (p->events_lost) {
		log_err("panel: %d rule event(s) dropped (more than %d at once)", p->events_lost,
		        MAX_EVENTS);
		p->events_lost = 0;
	}
	if (!p->nevents)
		return 0;
	*ev = p->events[0];
	memmove(&p->events[0], &p->events[1], sizeof(p->events[0]) * (size_t)(p->nevents - 1));
	p->nevents--;
	return 1;
}

static void to_store(const struct alarm *a, struct store_alarm *sa, int active)
{
	*sa = (struct store_alarm){
	    .id = a->id,
	    .cls = a->cls,
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
	    .siren = a->silenced ? SIREN_OFF : a->siren,
	};
	for (int i = 0; i < a->ncauses; i++)
		if (a->causes[i].active)
			sa->cause_active = 1;
}

/* The gateway's own faults have a pseudo-sensor ("-gateway") for their
 * cause; nobody outside should see it. */
static const char *visible_sensor(const struct alarm *a)
{
	return a->sensor[0] == '-' ? NULL : or_null(a->sensor);
}

static struct upstream_alarm_info info_of(const struct alarm *a)
{
	return (struct upstream_alarm_info){
	    .id = a->id,
	    .cls = a->cls,
	    .state = a->state,
	    .zone = or_null(a->zone),
	    .sensor = visible_sensor(a),
	    .rule = or_null(a->rule),
	    .message = a->message,
	};
}

/* Record a transition: store row, event, feed message, rule event. Not
 * committed. */
static int record(struct panel *p, struct alarm *a, int insert, int active, int64_t wall_ms,
                  const char *by, enum rules_alarm_event ev)
{
	struct store_alarm sa;
	struct upstream_alarm_info info;
	char detail[256];
	int rc;

	a->updated_ms = wall_ms;
	to_store(a, &sa, active);
	if (ev == RAE_RESET)
		sa.reset_by = by;
	rc = insert ? store_alarm_insert(p->d.store, &sa) : store_alarm_update(p->d.store, &sa);
	if (rc < 0)
		return -1;
	if (insert)
		a->id = sa.id;
	snprintf(detail, sizeof(detail), "alarm %lld %s %s in %s%s%s", (long long)a->id,
	         sh_class_name(a->cls), sh_alarm_state_name(a->state), a->zone[0] ? a->zone : "-",
	         by ? " by " : "", by ? by : "");
	store_event(p->d.store, wall_ms, by ? by : "panel", by ? "command" : "alarm",
	            or_null(a->sensor), NULL, 0, 0, detail);
	log_notice("panel: alarm %lld %s %s in %s (sensor %s, rule \"%s\")%s%s", (long long)a->id,
	           sh_class_name(a->cls), sh_alarm_state_name(a->state), a->zone[0] ? a->zone : "-",
	           a->sensor[0] ? a->sensor : "-", a->rule, by ? " by " : "", by ? by : "");
	alarm_event(p, a, ev);
	/* Whoever acknowledged it, by whatever path (safehousectl, MQTT,
	 * Home Assistant, an SMS reply), and a reset or a cleared fault: the
	 * escalation chain stops here, in the same transaction. */
	if (ev == RAE_ACKNOWLEDGED || !active)
		upstream_stop_chain(p->d.up, a->id, by ? by : "panel", wall_ms);
	info = info_of(a);
	info.by = by;
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

static int sounding(const struct panel *p, const struct alarm *a)
{
	return a->siren != SIREN_OFF && !a->silenced &&
	       (!a->siren_until || p->now < a->siren_until);
}

/* What the sirens should do now: the highest-priority sounding alarm wins
 * the pattern; a rule's own siren comes after every alarm. */
static void update_sirens(struct panel *p)
{
	const struct alarm *best = NULL;
	for (int i = 0; i < p->n; i++) {
		const struct alarm *a = p->alarms[i];
		if (!sounding(p, a))
			continue;
		if (!best || sh_class_priority(a->cls) < sh_class_priority(best->cls))
			best = a;
	}
	if (p->rule_siren && p->rule_siren_until && p->now >= p->rule_siren_until)
		p->rule_siren = 0;
	if (best)
		outputs_sirens(p->d.outputs, 1, best->siren);
	else if (p->rule_siren)
		outputs_sirens(p->d.outputs, 1, p->rule_pattern);
	else
		outputs_sirens(p->d.outputs, 0, SIREN_OFF);
}

static void add_timer(struct panel *p, int64_t due, enum timer_kind kind, int output, int on)
{
	if (p->ntimers >= MAX_TIMERS) {
		log_err("panel: too many timed outputs; %s stays as it is",
		        kind == T_OUTPUT ? "an output" : "a siren");
		return;
	}
	p->timers[p->ntimers++] = (struct ptimer){due, kind, output, on};
}

int64_t panel_next_deadline(const struct panel *p, int64_t mono_ms, int64_t wall_ms)
{
	int64_t best = INT64_MAX;
	/* Disablements expire on the wall clock, the walk test on ours. */
	for (int i = 0; i < p->ndis; i++) {
		int64_t due = mono_ms + (p->dis[i].until_wall - wall_ms);
		if (due < best)
			best = due < mono_ms ? mono_ms : due;
	}
	if (p->test.active && p->test.until_mono < best)
		best = p->test.until_mono;
	for (int i = 0; i < p->ntimers; i++)
		if (p->timers[i].due < best)
			best = p->timers[i].due;
	for (int i = 0; i < p->n; i++)
		for (int k = 0; k < p->alarms[i]->nalerted; k++)
			if (p->alarms[i]->alerted[k].repeat_ms &&
			    p->alarms[i]->alerted[k].next < best)
				best = p->alarms[i]->alerted[k].next;
	return best;
}

/* Alerts with `every`: a fault that lasts is reported again (NFPA 72: a
 * trouble re-sounds at least every 24 h; low battery every 4 h). */
static int repeat_alerts(struct panel *p, int64_t wall_ms)
{
	int wrote = 0;
	for (int i = 0; i < p->n; i++) {
		struct alarm *a = p->alarms[i];
		for (int k = 0; k < a->nalerted; k++) {
			struct alerted *e = &a->alerted[k];
			struct upstream_alarm_info info;
			int c;
			if (!e->repeat_ms || e->next > p->now)
				continue;
			while (e->next <= p->now)
				e->next += e->repeat_ms;
			c = config_contact_index(p->d.cfg, e->contact);
			if (c < 0)
				continue;
			info = info_of(a);
			if (upstream_queue_alert(p->d.up, &info, c, e->priority, wall_ms) == 0)
				wrote = 1;
			log_notice("panel: alert to %s repeated for alarm %lld (%s)", e->contact,
			           (long long)a->id, a->message ? a->message : "");
		}
	}
	return wrote;
}

static void commit_and_send(struct panel *p);
static void service_tick(struct panel *p, int64_t wall_ms);

void panel_tick(struct panel *p, int64_t mono_ms, int64_t wall_ms)
{
	int sirens = 0;
	p->now = mono_ms;
	for (int i = 0; i < p->ntimers;) {
		struct ptimer t = p->timers[i];
		if (t.due > mono_ms) {
			i++;
			continue;
		}
		p->timers[i] = p->timers[--p->ntimers];
		if (t.kind == T_OUTPUT)
			outputs_set(p->d.outputs, t.output, t.on);
		else
			sirens = 1;
	}
	if (sirens)
		update_sirens(p);
	if (repeat_alerts(p, wall_ms))
		commit_and_send(p);
	service_tick(p, wall_ms);
}

struct restore_ctx {
	struct panel *p;
	struct alarm *a;
};

static void restore_alerted(void *ctx, const char *contact)
{
	struct alarm *a = ctx;
	/* Repeats are not restored: the next firing of the rule re-arms
	 * them; a restored alarm is not alerted twice meanwhile. */
	if (a->nalerted < MAX_ALERTED)
		copy(a->alerted[a->nalerted++].contact, SH_ID_MAX, contact);
}

static void load_cb(void *ctx, const struct store_alarm *sa)
{
	struct panel *p = ctx;
	struct alarm *a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->id = sa->id;
	a->cls = sa->cls;
	copy(a->zone, sizeof(a->zone), sa->zone);
	copy(a->sensor, sizeof(a->sensor), sa->sensor);
	copy(a->rule, sizeof(a->rule), sa->rule);
	a->message = sa->message ? strdup(sa->message) : NULL;
	a->state = sa->state;
	a->siren = sa->siren;
	copy(a->acked_by, sizeof(a->acked_by), sa->acked_by);
	a->acked = sa->acked_by != NULL;
	a->silenced = a->state == ALARM_SILENCED;
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

static void restore_disable(void *ctx, const char *target, const char *kind, const char *reason,
                            const char *by, int64_t until_ms)
{
	struct panel *p = ctx;
	struct disable *d;
	if (p->ndis >= MAX_DISABLED || !target)
		return;
	d = &p->dis[p->ndis++];
	memset(d, 0, sizeof(*d));
	copy(d->target, sizeof(d->target), target);
	d->is_zone = kind && strcmp(kind, "zone") == 0;
	copy(d->reason, sizeof(d->reason), reason);
	copy(d->by, sizeof(d->by), by);
	d->until_wall = until_ms;
}

/* Disablements, the forced-arming bypass and a walk test in progress
 * survive a restart like the alarms do. */
static void restore_service_state(struct panel *p, int64_t mono_ms)
{
	char buf[1024], *save = NULL, *tok;
	store_disable_foreach_active(p->d.store, restore_disable, p);
	if (store_state_get(p->d.store, "bypass", buf, sizeof(buf)) == 0)
		for (tok = strtok_r(buf, ",", &save); tok && p->nbypass < MAX_BYPASS;
		     tok = strtok_r(NULL, ",", &save))
			copy(p->bypass[p->nbypass++], SH_ID_MAX, tok);
	if (store_state_get(p->d.store, "test", buf, sizeof(buf)) == 0 && buf[0]) {
		/* zone|sirens|until_wall|by */
		char *zone = strtok_r(buf, "|", &save), *sir = strtok_r(NULL, "|", &save);
		char *until = strtok_r(NULL, "|", &save), *by = strtok_r(NULL, "|", &save);
		int64_t left = until ? strtoll(until, NULL, 10) - loop_wall_ms() : 0;
		if (zone && sir && until && left > 0) {
			p->test.active = 1;
			copy(p->test.zone, sizeof(p->test.zone), strcmp(zone, "-") ? zone : "");
			p->test.sirens = atoi(sir);
			p->test.until_wall = strtoll(until, NULL, 10);
			p->test.until_mono = mono_ms + (left > TEST_MS ? TEST_MS : left);
			copy(p->test.by, sizeof(p->test.by), by);
		}
	}
	if (p->ndis)
		log_notice("panel: %d disablement(s) restored", p->ndis);
	if (p->test.active)
		log_notice("panel: walk test in progress, restored");
}

struct panel *panel_new(const struct panel_deps *d, int64_t mono_ms)
{
	struct panel *p = calloc(1, sizeof(*p));
	char mode[32];
	if (!p)
		return NULL;
	p->d = *d;
	p->now = mono_ms;
	p->mode = MODE_DISARMED;
	if (store_state_get(p->d.store, "mode", mode, sizeof(mode)) == 0 &&
	    sh_mode_from_name(mode) >= 0)
		p->mode = (enum sh_mode)sh_mode_from_name(mode);
	/* Restore before anything can act: an alarm that was active before a
	 * crash or power cut is still active, is not raised a second time,
	 * does not alert the same people twice, and sounds again unless
	 * someone had silenced it. */
	if (store_alarm_foreach(p->d.store, 1, 0, load_cb, p) < 0) {
		panel_free(p);
		return NULL;
	}
	for (int i = 0; i < p->n; i++)
		store_outbox_alerted(p->d.store, p->alarms[i]->id, restore_alerted, p->alarms[i]);
	if (p->n)
		log_notice("panel: restored %d active alarm(s) from the store", p->n);
	if (p->mode != MODE_DISARMED)
		log_notice("panel: mode %s restored", sh_mode_name(p->mode));
	restore_service_state(p, mono_ms);
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
	/* Output indices may have moved: timed outputs are dropped rather
	 * than switched by a stale index. */
	for (int i = 0; i < p->ntimers;)
		if (p->timers[i].kind == T_OUTPUT)
			p->timers[i] = p->timers[--p->ntimers];
		else
			i++;
}

void panel_set_changed_cb(struct panel *p, void (*fn)(void *ctx), void *ctx)
{
	p->changed = fn;
	p->changed_ctx = ctx;
}

static void changed(struct panel *p)
{
	if (p->changed)
		p->changed(p->changed_ctx);
}

enum sh_mode panel_mode(const struct panel *p)
{
	return p->mode;
}

unsigned panel_alarm_flags(const struct panel *p, enum sh_alarm_class cls, const char *zone)
{
	unsigned f = 0;
	for (int i = 0; i < p->n; i++) {
		const struct alarm *a = p->alarms[i];
		if (a->cls != cls || (zone && strcmp(a->zone, zone) != 0))
			continue;
		f |= RULES_ALARM_ACTIVE;
		if (a->acked)
			f |= RULES_ALARM_ACKED;
		if (a->silenced)
			f |= RULES_ALARM_SILENCED;
		if (a->state == ALARM_CLEARED)
			f |= RULES_ALARM_CLEARED;
	}
	return f;
}

int64_t panel_find_alarm(const struct panel *p, enum sh_alarm_class cls, const char *zone)
{
	for (int i = 0; i < p->n; i++)
		if (p->alarms[i]->cls == cls && (!zone || strcmp(p->alarms[i]->zone, zone) == 0))
			return p->alarms[i]->id;
	return 0;
}

static struct alarm *find_by_id(struct panel *p, int64_t id, int *idx)
{
	for (int i = 0; i < p->n; i++)
		if (p->alarms[i]->id == id) {
			if (idx)
				*idx = i;
			return p->alarms[i];
		}
	return NULL;
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
	struct alarm *alarm;   /* the alarm this firing raised, joined or came from */
	enum sh_siren pattern; /* siren on in this firing; SIREN_OFF: none */
	int64_t siren_ms;      /* its duration, 0 = until reset */
};

/* Raise or join. */
static struct alarm *raise_alarm(struct panel *p, const struct rules_action *act, struct firing *f,
                                 int64_t wall_ms, int *chg)
{
	struct alarm *a = find_active(p, act->cls, f->zone, f->sensor, f->rule);
	struct cause *c;

	if (a) {
		c = f->sensor[0] ? find_cause(a, f->sensor, f->rule) : NULL;
		if (!c && f->sensor[0] && a->ncauses < MAX_CAUSES) {
			c = &a->causes[a->ncauses++];
			copy(c->sensor, sizeof(c->sensor), f->sensor);
			copy(c->rule, sizeof(c->rule), f->rule);
		}
		if (c) {
			c->active = 1;
			c->restored = 0;
		}
		if (act->confirmed && !a->confirmed) {
			a->confirmed = 1;
			log_notice("panel: alarm %lld confirmed by %s (rule \"%s\")",
			           (long long)a->id, f->sensor[0] ? f->sensor : "-", f->rule);
		}
		/* Its cause is back: a latched alarm that was "cleared" is a
		 * live alarm again, and the feed must say so. */
		if (a->state == ALARM_CLEARED) {
			a->state = a->silenced ? ALARM_SILENCED
			           : a->acked  ? ALARM_ACKNOWLEDGED
			                       : ALARM_RAISED;
			record(p, a, 0, 1, wall_ms, NULL, RAE_RAISED);
			*chg = 1;
		}
		return a;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->cls = act->cls;
	a->confirmed = act->confirmed;
	copy(a->zone, sizeof(a->zone), f->zone);
	copy(a->sensor, sizeof(a->sensor), f->sensor);
	copy(a->rule, sizeof(a->rule), f->rule);
	a->message = strdup(act->message ? act->message : messages_class_label(p->d.cfg, act->cls));
	a->state = ALARM_RAISED;
	a->raised_ms = wall_ms;
	/* Stored with the alarm, so that a restart sounds it again. */
	if (f->pattern != SIREN_OFF) {
		a->siren = f->pattern;
		if (f->siren_ms > 0)
			a->siren_until = p->now + f->siren_ms;
	}
	if (f->sensor[0]) {
		copy(a->causes[0].sensor, sizeof(a->causes[0].sensor), f->sensor);
		copy(a->causes[0].rule, sizeof(a->causes[0].rule), f->rule);
		a->causes[0].active = 1;
		a->ncauses = 1;
	}
	if (record(p, a, 1, 1, wall_ms, NULL, RAE_RAISED) < 0 || add_active(p, a) < 0) {
		log_err("panel: could not store alarm %s in %s; the sirens still sound",
		        sh_class_name(a->cls), a->zone);
		alarm_free(a);
		return NULL;
	}
	if (a->siren_until)
		add_timer(p, a->siren_until, T_ALARM_SIREN_END, -1, 0);
	*chg = 1;
	return a;
}

static void cause_cleared(struct panel *p, const char *sensor, const char *rule, int64_t wall_ms,
                          int *chg)
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
		if (any || a->state == ALARM_CLEARED) {
			i++;
			continue;
		}
		a->state = ALARM_CLEARED;
		*chg = 1;
		if (is_self_clearing(a->cls)) {
			record(p, a, 0, 0, wall_ms, NULL, RAE_CLEARED);
			remove_active(p, i);
			continue;
		}
		/* Latched: stays active, sirens keep sounding, until reset. */
		record(p, a, 0, 1, wall_ms, NULL, RAE_CLEARED);
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

/* The alert record of contact for alarm a; *is_new when just added. NULL
 * when the table is full (then the alert goes out, unrecorded). */
static struct alerted *alerted_entry(struct alarm *a, const char *contact, int *is_new)
{
	*is_new = 0;
	for (int i = 0; i < a->nalerted; i++)
		if (strcmp(a->alerted[i].contact, contact) == 0)
			return &a->alerted[i];
	*is_new = 1;
	if (a->nalerted >= MAX_ALERTED)
		return NULL;
	memset(&a->alerted[a->nalerted], 0, sizeof(a->alerted[0]));
	copy(a->alerted[a->nalerted].contact, SH_ID_MAX, contact);
	return &a->alerted[a->nalerted++];
}

static void do_alert(struct panel *p, const struct rules_action *act, struct firing *f,
                     int64_t wall_ms, int *wrote)
{
	const struct config *c = p->d.cfg;
	struct upstream_alarm_info info;
	struct alarm tmp;
	enum sh_alarm_class cls = ALARM_SUPERVISORY;

	if (f->alarm) {
		info = info_of(f->alarm);
		cls = f->alarm->cls;
	} else if (act->alarm > 0) {
		/* Fired by an alarm's transition, maybe after a delay: the
		 * alarm may have been reset meanwhile. */
		log_info("panel: alarm %lld is no longer active; rule \"%s\" alerts nobody",
		         (long long)act->alarm, f->rule);
		return;
	} else {
		memset(&tmp, 0, sizeof(tmp));
		tmp.cls = ALARM_SUPERVISORY;
		copy(tmp.zone, sizeof(tmp.zone), f->zone);
		copy(tmp.sensor, sizeof(tmp.sensor), f->sensor);
		copy(tmp.rule, sizeof(tmp.rule), f->rule);
		tmp.state = ALARM_RAISED;
		info = info_of(&tmp);
	}
	for (int k = 0; k < act->ncontacts; k++) {
		const char *who = c->contacts[act->contacts[k]].id;
		const char *prio = priority_name(act->priority, cls);
		/* Once per alarm and contact, however many rules ask: a
		 * detector that keeps reporting must not page the militia
		 * twenty times. `every` repeats it on a schedule instead. */
		if (f->alarm) {
			int is_new;
			struct alerted *e = alerted_entry(f->alarm, who, &is_new);
			if (e && act->repeat_ms > 0 && !e->repeat_ms) {
				e->repeat_ms = act->repeat_ms;
				e->next = p->now + act->repeat_ms;
				copy(e->priority, sizeof(e->priority), prio);
			}
			if (!is_new)
				continue;
		}
		if (upstream_queue_alert(p->d.up, &info, act->contacts[k], prio, wall_ms) == 0)
			*wrote = 1;
		log_notice("panel: alert to %s (%s) for alarm %lld", who, prio, (long long)info.id);
	}
}

static void do_notify(struct panel *p, const struct rules_action *act, struct firing *f,
                      int64_t wall_ms, int *wrote)
{
	for (int k = 0; k < act->ncontacts; k++) {
		if (upstream_queue_notify(p->d.up, act->contacts[k], act->message, or_null(f->zone),
		                          wall_ms) == 0)
			*wrote = 1;
		log_notice("panel: notify %s: %s", p->d.cfg->contacts[act->contacts[k]].id,
		           act->message ? act->message : "");
	}
}

static void do_output(struct panel *p, const struct rules_action *act)
{
	if (act->output < 0 || act->output >= p->d.cfg->noutputs)
		return;
	outputs_set(p->d.outputs, act->output, act->on);
	for (int i = 0; i < p->ntimers;)
		if (p->timers[i].kind == T_OUTPUT && p->timers[i].output == act->output)
			p->timers[i] = p->timers[--p->ntimers];
		else
			i++;
	if (act->duration_ms > 0)
		add_timer(p, p->now + act->duration_ms, T_OUTPUT, act->output, !act->on);
}

static int has_alarm_action(const struct rules_action *acts, int n)
{
	for (int i = 0; i < n; i++)
		if (acts[i].type == RA_ALARM)
			return 1;
	return 0;
}

static void apply_firing(struct panel *p, const struct rules_action *acts, int n,
                         const struct ruleset *rs, int64_t wall_ms, int *chg, int *wrote)
{
	const struct config *c = p->d.cfg;
	const struct rules_action *first = &acts[0];
	struct firing f = {
	    .rule = rules_name(rs, first->rule),
	    .sensor = first->sensor >= 0 && first->sensor < c->nsensors
	                  ? c->sensors[first->sensor].id
	                  : "",
	    .zone = first->zone >= 0 && first->zone < c->nzones ? c->zones[first->zone].id : "",
	    .alarm = first->alarm > 0 ? find_by_id(p, first->alarm, NULL) : NULL,
	};

	/* 1. Sirens first: never behind the disk. */
	for (int i = 0; i < n; i++) {
		if (acts[i].type == RA_SIREN_ON) {
			f.pattern = acts[i].pattern != SIREN_OFF ? acts[i].pattern : SIREN_FIRE;
			f.siren_ms = acts[i].duration_ms;
			outputs_sirens(p->d.outputs, 1, f.pattern);
		}
	}

	/* 2. Alarm state, outputs, mode. */
	for (int i = 0; i < n; i++) {
		const struct rules_action *a = &acts[i];
		switch (a->type) {
		case RA_ALARM: {
			struct alarm *al = raise_alarm(p, a, &f, wall_ms, chg);
			if (!al)
				break;
			f.alarm = al;
			*wrote = 1;
			/* A sounding rule joining a silent alarm makes it a
			 * sounding one; a new cause after a silence does not
			 * undo the silence (same zone), a new alarm does. */
			if (f.pattern != SIREN_OFF && al->siren == SIREN_OFF) {
				struct store_alarm sa;
				al->siren = f.pattern;
				to_store(al, &sa, 1);
				store_alarm_update(p->d.store, &sa);
			}
			break;
		}
		case RA_CLEARED: {
			/* Only an alarm that changed is worth a commit: a rule
			 * with no alarm (a siren rule) clears every time its
			 * sensor leaves the state. */
			int before = *chg;
			*chg = 0;
			cause_cleared(p, f.sensor, f.rule, wall_ms, chg);
			if (*chg)
				*wrote = 1;
			*chg |= before;
			break;
		}
		case RA_SIREN_ON:
			/* The alarm this firing raises sounds (see RA_ALARM). A
			 * firing that came from an alarm's transition (a delay
			 * after "raised") makes that alarm sound. Otherwise it
			 * is a rule's own siren, off by `siren off`. */
			if (has_alarm_action(acts, n))
				break;
			if (f.alarm) {
				if (f.alarm->siren == SIREN_OFF)
					f.alarm->siren = f.pattern;
				break;
			}
			p->rule_siren = 1;
			p->rule_pattern = f.pattern;
			p->rule_siren_until = a->duration_ms > 0 ? p->now + a->duration_ms : 0;
			if (a->duration_ms > 0)
				add_timer(p, p->rule_siren_until, T_RULE_SIREN_END, -1, 0);
			break;
		case RA_SIREN_OFF:
			p->rule_siren = 0;
			break;
		case RA_OUTPUT:
			do_output(p, a);
			break;
		case RA_SET_MODE:
			panel_set_mode(p, a->mode, f.rule, wall_ms);
			*wrote = 1;
			break;
		case RA_ALERT:
		case RA_NOTIFY:
			break;
		}
	}

	/* 3. Alerts and notifications, into the outbox. */
	for (int i = 0; i < n; i++) {
		if (acts[i].type == RA_ALERT)
			do_alert(p, &acts[i], &f, wall_ms, wrote);
		else if (acts[i].type == RA_NOTIFY)
			do_notify(p, &acts[i], &f, wall_ms, wrote);
	}
}

/* Durable before announced. If the disk refused the commit, the store keeps
 * the rows in memory (written when the disk takes them) and hands them to
 * upstream from there, marked as not durable: a full disk must never keep
 * the militia from hearing of a fire. */
static void committed(void *ctx, int rc)
{
	struct panel *p = ctx;
	if (rc < 0)
		log_warn("panel: alarm change not on the disk (the store cannot write); sending it "
		         "from memory");
	upstream_kick(p->d.up);
}

static void commit_and_send(struct panel *p)
{
	/* The store's writer thread does the fsync; the loop goes on sounding
	 * sirens meanwhile, and upstream hears of it once it is on disk. */
	if (store_commit_then(p->d.store, committed, p) < 0)
		log_err("panel: cannot queue the commit; upstream delayed");
}

void panel_apply(struct panel *p, const struct rules_action *acts, int n, const struct ruleset *rs,
                 int64_t mono_ms, int64_t wall_ms)
{
	int chg = 0, wrote = 0;
	p->now = mono_ms;
	for (int i = 0; i < n;) {
		int j = i + 1;
		while (j < n && acts[j].rule == acts[i].rule && acts[j].sensor == acts[i].sensor &&
		       acts[j].alarm == acts[i].alarm)
			j++;
		apply_firing(p, &acts[i], j - i, rs, wall_ms, &chg, &wrote);
		i = j;
	}
	update_sirens(p);
	if (wrote)
		commit_and_send(p);
	if (chg)
		changed(p);
}

int64_t panel_newest_alarm(const struct panel *p)
{
	int64_t best = 0, best_unacked = 0;
	for (int i = 0; i < p->n; i++) {
		const struct alarm *a = p->alarms[i];
		if (a->id > best)
			best = a->id;
		if (!a->acked && a->id > best_unacked)
			best_unacked = a->id;
	}
	return best_unacked ? best_unacked : best;
}

int panel_ack(struct panel *p, int64_t id, const char *by, int64_t mono_ms, int64_t wall_ms,
              char *why, size_t whylen)
{
	int n = 0;
	p->now = mono_ms;
	for (int i = 0; i < p->n; i++) {
		struct alarm *a = p->alarms[i];
		if ((id && a->id != id) || a->acked)
			continue;
		a->acked = 1;
		copy(a->acked_by, sizeof(a->acked_by), by ? by : "?");
		/* A silenced or cleared alarm keeps its later state; the ack
		 * is still recorded and published. */
		if (a->state == ALARM_RAISED)
			a->state = ALARM_ACKNOWLEDGED;
		record(p, a, 0, 1, wall_ms, by ? by : "?", RAE_ACKNOWLEDGED);
		n++;
	}
	if (!n) {
		if (id && find_by_id(p, id, NULL))
			snprintf(why, whylen, "alarm %lld is already acknowledged", (long long)id);
		else if (id)
			snprintf(why, whylen, "no active alarm %lld", (long long)id);
		else
			snprintf(why, whylen, "no unacknowledged alarm");
		return -ENOENT;
	}
	commit_and_send(p);
	changed(p);
	return n;
}

int panel_silence(struct panel *p, const char *by, int64_t mono_ms, int64_t wall_ms)
{
	int n = 0;
	p->now = mono_ms;
	for (int i = 0; i < p->n; i++) {
		struct alarm *a = p->alarms[i];
		if (!sounding(p, a))
			continue;
		a->silenced = 1;
		if (a->state != ALARM_CLEARED)
			a->state = ALARM_SILENCED;
		record(p, a, 0, 1, wall_ms, by ? by : "?", RAE_SILENCED);
		n++;
	}
	p->rule_siren = 0;
	update_sirens(p);
	if (n) {
		commit_and_send(p);
		changed(p);
	}
	return n;
}

int panel_reset(struct panel *p, int64_t id, const char *by, int64_t mono_ms, int64_t wall_ms,
                char *why, size_t whylen)
{
	const struct config *c = p->d.cfg;
	int idx = -1;
	struct alarm *a = find_by_id(p, id, &idx);

	p->now = mono_ms;
	if (!a) {
		snprintf(why, whylen, "no active alarm %lld", (long long)id);
		return -ENOENT;
	}
	/* Refuse while a detector of this alarm still reports: resetting a
	 * fire panel over live smoke would only re-raise it, or worse, hide
	 * it. The same after a restart: the state restored from the store
	 * counts until the detector reports again (a Tuya or Heiman detector
	 * reports only on change). */
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
				snprintf(why, whylen, "%s still reports %s%s", cs->sensor,
				         sh_state_name(pt, v),
				         registry_restored(p->d.reg, s, pt)
				             ? " (last known before restart)"
				             : "");
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
	a->state = ALARM_RESET;
	for (int i = 0; i < a->ncauses; i++)
		a->causes[i].active = 0;
	record(p, a, 0, 0, wall_ms, by ? by : "?", RAE_RESET);
	remove_active(p, idx);
	update_sirens(p);
	commit_and_send(p);
	changed(p);
	return 0;
}

int64_t panel_raise(struct panel *p, enum sh_alarm_class cls, const char *why_msg, int64_t mono_ms,
                    int64_t wall_ms)
{
	struct rules_action act = {.type = RA_ALARM, .cls = cls, .message = why_msg};
	struct firing f = {.rule = "panel", .sensor = "", .zone = ""};
	struct alarm *a;
	int chg = 0;
	p->now = mono_ms;
	a = raise_alarm(p, &act, &f, wall_ms, &chg);
	if (!a)
		return -1;
	commit_and_send(p);
	if (chg)
		changed(p);
	return a->id;
}

void panel_system_fault(struct panel *p, const char *key, int active, const char *msg,
                        int64_t mono_ms, int64_t wall_ms)
{
	/* A pseudo-sensor "-gateway" is the fault's cause, so that the usual
	 * cause-cleared path ends it. */
	struct rules_action act = {.type = RA_ALARM, .cls = ALARM_FAULT, .message = msg};
	struct firing f = {.rule = key, .sensor = "-gateway", .zone = ""};
	int chg = 0;
	p->now = mono_ms;
	if (active)
		raise_alarm(p, &act, &f, wall_ms, &chg);
	else
		cause_cleared(p, "-gateway", key, wall_ms, &chg);
	if (chg) {
		commit_and_send(p);
		changed(p);
	}
}

int panel_set_mode(struct panel *p, enum sh_mode mode, const char *by, int64_t wall_ms)
{
	struct panel_event e = {.is_mode = 1, .old_mode = p->mode, .new_mode = mode};
	char detail[128];
	if (mode == p->mode)
		return 0;
	snprintf(detail, sizeof(detail), "mode %s -> %s by %s", sh_mode_name(p->mode),
	         sh_mode_name(mode), by ? by : "?");
	log_notice("panel: %s", detail);
	store_event(p->d.store, wall_ms, by ? by : "panel", "mode", NULL, NULL, 0, 0, detail);
	store_state_set(p->d.store, "mode", sh_mode_name(mode), wall_ms);
	p->mode = mode;
	push_event(p, &e);
	changed(p);
	return 0;
}

/* ---- disablement, bypass, walk test, arming ------------------------------ */

static int sensor_zone_is(const struct panel *p, int sensor, const char *zone)
{
	const struct config *c = p->d.cfg;
	int z = c->sensors[sensor].zone;
	return z >= 0 && z < c->nzones && strcmp(c->zones[z].id, zone) == 0;
}

static struct disable *find_disable(struct panel *p, const char *target)
{
	for (int i = 0; i < p->ndis; i++)
		if (strcmp(p->dis[i].target, target) == 0)
			return &p->dis[i];
	return NULL;
}

int panel_sensor_disabled(const struct panel *p, int sensor)
{
	const char *id;
	if (sensor < 0 || sensor >= p->d.cfg->nsensors)
		return 0;
	id = p->d.cfg->sensors[sensor].id;
	for (int i = 0; i < p->ndis; i++) {
		const struct disable *d = &p->dis[i];
		if (d->is_zone ? sensor_zone_is(p, sensor, d->target) : strcmp(d->target, id) == 0)
			return 1;
	}
	for (int i = 0; i < p->nbypass; i++)
		if (strcmp(p->bypass[i], id) == 0)
			return 1;
	return 0;
}

int panel_disable(struct panel *p, const char *target, int64_t for_ms, const char *reason,
                  const char *by, int64_t wall_ms, char *why, size_t whylen)
{
	const struct config *c = p->d.cfg;
	int is_zone = config_zone_index(c, target) >= 0;
	struct disable *d;
	char detail[256];

	if (!is_zone && config_sensor_index(c, target) < 0) {
		snprintf(why, whylen, "\"%s\" is neither a sensor nor a zone of this site", target);
		return -ENOENT;
	}
	if (for_ms <= 0 || for_ms > MAX_DISABLE_MS) {
		snprintf(why, whylen, "a disablement lasts more than 0 and at most 7 days");
		return -EINVAL;
	}
	if (!reason || !*reason) {
		snprintf(why, whylen, "a disablement needs a reason");
		return -EINVAL;
	}
	if ((d = find_disable(p, target))) {
		store_disable_end(p->d.store, target, by, wall_ms); /* replaced below */
	} else {
		if (p->ndis >= MAX_DISABLED) {
			snprintf(why, whylen, "too many disablements (%d); enable some first",
			         MAX_DISABLED);
			return -ENOSPC;
		}
		d = &p->dis[p->ndis++];
	}
	memset(d, 0, sizeof(*d));
	copy(d->target, sizeof(d->target), target);
	d->is_zone = is_zone;
	copy(d->reason, sizeof(d->reason), reason);
	copy(d->by, sizeof(d->by), by);
	d->until_wall = wall_ms + for_ms;
	store_disable_add(p->d.store, target, is_zone ? "zone" : "sensor", reason, by, wall_ms,
	                  d->until_wall);
	snprintf(detail, sizeof(detail), "%s %s disabled for %lld min by %s: %s",
	         is_zone ? "zone" : "sensor", target, (long long)(for_ms / 60000), by ? by : "?",
	         reason);
	store_event(p->d.store, wall_ms, by ? by : "?", "command", is_zone ? NULL : target, NULL, 0,
	            0, detail);
	log_notice("panel: %s", detail);
	commit_and_send(p);
	changed(p);
	return 0;
}

static void end_disable(struct panel *p, int i, const char *by, int64_t wall_ms)
{
	char detail[160];
	snprintf(detail, sizeof(detail), "%s %s enabled again by %s",
	         p->dis[i].is_zone ? "zone" : "sensor", p->dis[i].target, by);
	store_disable_end(p->d.store, p->dis[i].target, by, wall_ms);
	store_event(p->d.store, wall_ms, by, "command", p->dis[i].is_zone ? NULL : p->dis[i].target,
	            NULL, 0, 0, detail);
	log_notice("panel: %s", detail);
	p->dis[i] = p->dis[--p->ndis];
}

int panel_enable(struct panel *p, const char *target, const char *by, int64_t wall_ms, char *why,
                 size_t whylen)
{
	for (int i = 0; i < p->ndis; i++) {
		if (strcmp(p->dis[i].target, target) != 0)
			continue;
		end_disable(p, i, by ? by : "?", wall_ms);
		commit_and_send(p);
		changed(p);
		return 0;
	}
	snprintf(why, whylen, "\"%s\" is not disabled", target);
	return -ENOENT;
}

/* Expired disablements end by themselves; a walk test ends after its hour. */
static void service_tick(struct panel *p, int64_t wall_ms)
{
	int chg = 0;
	for (int i = 0; i < p->ndis;) {
		if (p->dis[i].until_wall <= wall_ms) {
			end_disable(p, i, "expiry", wall_ms);
			chg = 1;
		} else {
			i++;
		}
	}
	if (p->test.active && p->now >= p->test.until_mono) {
		panel_test_stop(p, "expiry", wall_ms);
		chg = 0; /* panel_test_stop did it */
	}
	if (chg) {
		commit_and_send(p);
		changed(p);
	}
}

int panel_test_start(struct panel *p, const char *zone, int sirens, const char *by, int64_t mono_ms,
                     int64_t wall_ms, char *why, size_t whylen)
{
	char buf[256];
	if (p->test.active) {
		snprintf(why, whylen, "a walk test is already running (started by %s)", p->test.by);
		return -EBUSY;
	}
	if (zone && config_zone_index(p->d.cfg, zone) < 0) {
		snprintf(why, whylen, "unknown zone \"%s\"", zone);
		return -ENOENT;
	}
	p->now = mono_ms;
	memset(&p->test, 0, sizeof(p->test));
	p->test.active = 1;
	copy(p->test.zone, sizeof(p->test.zone), zone);
	p->test.sirens = sirens;
	p->test.until_mono = mono_ms + TEST_MS;
	p->test.until_wall = wall_ms + TEST_MS;
	copy(p->test.by, sizeof(p->test.by), by ? by : "?");
	snprintf(buf, sizeof(buf), "%s|%d|%lld|%s", zone ? zone : "-", sirens,
	         (long long)p->test.until_wall, p->test.by);
	store_state_set(p->d.store, "test", buf, wall_ms);
	snprintf(buf, sizeof(buf), "walk test started in %s by %s%s",
	         zone ? zone : "the whole site", p->test.by, sirens ? " (with sirens)" : "");
	store_event(p->d.store, wall_ms, p->test.by, "command", NULL, NULL, 0, 0, buf);
	log_notice("panel: %s", buf);
	commit_and_send(p);
	changed(p);
	return 0;
}

int panel_test_stop(struct panel *p, const char *by, int64_t wall_ms)
{
	char buf[160];
	if (!p->test.active)
		return -ENOENT;
	snprintf(buf, sizeof(buf), "walk test ended by %s: %d activation(s) recorded",
	         by ? by : "?", p->test.count);
	p->test.active = 0;
	store_state_set(p->d.store, "test", "", wall_ms);
	store_event(p->d.store, wall_ms, by ? by : "?", "command", NULL, NULL, 0, 0, buf);
	log_notice("panel: %s", buf);
	commit_and_send(p);
	changed(p);
	return 0;
}

int panel_test_covers(const struct panel *p, int sensor)
{
	if (!p->test.active || sensor < 0 || sensor >= p->d.cfg->nsensors)
		return 0;
	return !p->test.zone[0] || sensor_zone_is(p, sensor, p->test.zone);
}

void panel_test_activation(struct panel *p, int sensor, enum sh_point point, double value,
                           int64_t mono_ms, int64_t wall_ms)
{
	const struct config *c = p->d.cfg;
	int z = c->sensors[sensor].zone;
	p->now = mono_ms;
	p->test.count++;
	store_test_add(p->d.store, wall_ms, c->sensors[sensor].id, z >= 0 ? c->zones[z].id : NULL,
	               sh_point_name(point), value, p->test.by);
	log_notice("panel: walk test: %s %s", c->sensors[sensor].id, sh_state_name(point, value));
	/* A short chirp tells the tester the detector was heard; only when
	 * asked for, so that a test at night wakes nobody. */
	if (p->test.sirens) {
		p->rule_siren = 1;
		p->rule_pattern = SIREN_FIRE;
		p->rule_siren_until = mono_ms + TEST_SIREN_MS;
		add_timer(p, p->rule_siren_until, T_RULE_SIREN_END, -1, 0);
		update_sirens(p);
	}
}

int panel_test_output(struct panel *p, const char *output, int seconds, const char *by,
                      int64_t wall_ms, char *why, size_t whylen)
{
	const struct config *c = p->d.cfg;
	int i = config_output_index(c, output);
	char buf[200];
	if (i < 0) {
		const char **ids = calloc((size_t)c->noutputs + 1, sizeof(*ids));
		const char *hint = NULL;
		for (int k = 0; ids && k < c->noutputs; k++)
			ids[k] = c->outputs[k].id;
		if (ids)
			hint = sh_suggest(output, ids);
		snprintf(why, whylen, "unknown output \"%s\"%s%s%s", output,
		         hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
		free(ids);
		return -ENOENT;
	}
	/* The gateway cannot tell a valve it never commanded from one the gas
	 * rule closed: switching it "on" could open the gas again. */
	if (c->outputs[i].kind == OUTPUT_VALVE) {
		snprintf(why, whylen,
		         "\"%s\" is a valve: a test would open it, perhaps after the gas rule "
		         "closed it; test it by hand at the valve",
		         output);
		return -EINVAL;
	}
	/* A real alarm owns the sirens: a test must neither add to them nor,
	 * when it ends, stop one. */
	if (p->n > 0 || outputs_sirens_on(p->d.outputs)) {
		snprintf(why, whylen,
		         "an alarm is active (or the sirens are sounding): an output is not "
		         "tested during an alarm; reset it first");
		return -EBUSY;
	}
	if (outputs_test(p->d.outputs, i, seconds) < 0) {
		snprintf(why, whylen, "cannot drive output \"%s\"", output);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "output %s %s for %d s by %s", output,
	         c->outputs[i].kind == OUTPUT_SIREN || c->outputs[i].kind == OUTPUT_STROBE
	             ? "sounded"
	             : "switched on",
	         seconds, by ? by : "?");
	store_event(p->d.store, wall_ms, by ? by : "?", "test", output, NULL, 0, 0, buf);
	log_notice("panel: %s", buf);
	commit_and_send(p);
	return 0;
}

/* Open doors and windows that arming would leave open, as "id (name), ...". */
static int open_openings(const struct panel *p, char *buf, size_t size)
{
	const struct config *c = p->d.cfg;
	size_t off = 0;
	int n = 0;
	buf[0] = 0;
	for (int s = 0; s < c->nsensors; s++) {
		double v;
		if (c->sensors[s].kind != KIND_DOOR && c->sensors[s].kind != KIND_WINDOW)
			continue;
		if (panel_sensor_disabled(p, s))
			continue;
		if (registry_get(p->d.reg, s, POINT_CONTACT, &v) != 0 || v == 0)
			continue;
		if (off < size)
			off += (size_t)snprintf(buf + off, size - off, "%s%s (%s)", n ? ", " : "",
			                        c->sensors[s].id, c->sensors[s].name);
		n++;
	}
	return n;
}

int panel_arm(struct panel *p, enum sh_mode mode, int force, const char *by, int64_t wall_ms,
              char *why, size_t whylen)
{
	const struct config *c = p->d.cfg;
	char open[768], detail[1024];
	if (mode == MODE_DISARMED) {
		if (p->nbypass) {
			p->nbypass = 0;
			store_state_set(p->d.store, "bypass", "", wall_ms);
		}
		panel_set_mode(p, mode, by, wall_ms);
		commit_and_send(p);
		return 0;
	}
	if (open_openings(p, open, sizeof(open)) > 0) {
		char list[1024];
		size_t off = 0;
		if (!force) {
			snprintf(why, whylen,
			         "open: %s; close them, or arm with --force to bypass them "
			         "until disarm",
			         open);
			return -EBUSY;
		}
		/* Forced: what is open is left out until disarm, and the log
		 * says who did it and what was left out. */
		for (int s = 0; s < c->nsensors && p->nbypass < MAX_BYPASS; s++) {
			double v;
			if ((c->sensors[s].kind != KIND_DOOR &&
			     c->sensors[s].kind != KIND_WINDOW) ||
			    panel_sensor_disabled(p, s) ||
			    registry_get(p->d.reg, s, POINT_CONTACT, &v) != 0 || v == 0)
				continue;
			copy(p->bypass[p->nbypass++], SH_ID_MAX, c->sensors[s].id);
		}
		for (int i = 0; i < p->nbypass && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
			                        i ? "," : "", p->bypass[i]);
		store_state_set(p->d.store, "bypass", list, wall_ms);
		snprintf(detail, sizeof(detail), "forced arming (%s) by %s bypasses %s",
		         sh_mode_name(mode), by ? by : "?", open);
		store_event(p->d.store, wall_ms, by ? by : "?", "command", NULL, NULL, 0, 0,
		            detail);
		log_warn("panel: %s", detail);
	}
	panel_set_mode(p, mode, by, wall_ms);
	commit_and_send(p);
	return 0;
}

void panel_service_json(const struct panel *p, cJSON *o)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "disablements");
	char at[32];
	for (int i = 0; i < p->ndis; i++) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "target", p->dis[i].target);
		cJSON_AddStringToObject(d, "kind", p->dis[i].is_zone ? "zone" : "sensor");
		cJSON_AddStringToObject(d, "reason", p->dis[i].reason);
		cJSON_AddStringToObject(d, "by", p->dis[i].by);
		store_format_time(p->dis[i].until_wall, at, sizeof(at));
		cJSON_AddStringToObject(d, "until", at);
		cJSON_AddItemToArray(arr, d);
	}
	arr = cJSON_AddArrayToObject(o, "bypassed");
	for (int i = 0; i < p->nbypass; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(p->bypass[i]));
	if (p->test.active) {
		cJSON *t = cJSON_AddObjectToObject(o, "test");
		if (p->test.zone[0])
			cJSON_AddStringToObject(t, "zone", p->test.zone);
		else
			cJSON_AddNullToObject(t, "zone");
		cJSON_AddBoolToObject(t, "sirens", p->test.sirens);
		cJSON_AddStringToObject(t, "by", p->test.by);
		cJSON_AddNumberToObject(t, "activations", p->test.count);
		store_format_time(p->test.until_wall, at, sizeof(at));
		cJSON_AddStringToObject(t, "until", at);
	} else {
		cJSON_AddNullToObject(o, "test");
	}
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
		struct shape_alarm_live live = {sounding(p, sorted[i]), sorted[i]->confirmed};
		struct store_alarm sa;
		to_store(sorted[i], &sa, 1);
		cJSON_AddItemToArray(arr, shape_alarm(&sa, p->d.cfg, &live));
	}
	free(sorted);
	return arr;
}

int panel_alarm_live(const struct panel *p, int64_t id, struct shape_alarm_live *live)
{
	*live = (struct shape_alarm_live){0};
	for (int i = 0; i < p->n; i++)
		if (p->alarms[i]->id == id) {
			live->sounding = sounding(p, p->alarms[i]);
			live->confirmed = p->alarms[i]->confirmed;
			return 0;
		}
	return -ENOENT;
}

int panel_triggered(const struct panel *p)
{
	for (int i = 0; i < p->n; i++) {
		const struct alarm *a = p->alarms[i];
		if (sounding(p, a) || (a->cls == ALARM_INTRUSION && !a->silenced))
			return 1;
	}
	return 0;
}

void panel_counts(const struct panel *p, int *alarms, int *faults)
{
	*alarms = *faults = 0;
	for (int i = 0; i < p->n; i++)
		(is_self_clearing(p->alarms[i]->cls) ? (*faults)++ : (*alarms)++);
}
