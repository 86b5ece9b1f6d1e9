/*
 * engine.c: registry -> rules -> panel, and back.
 */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "panel.h"
#include "registry.h"
#include "store.h"

#define MAX_ACTIONS 512
#define ARENA_SIZE 32768
/* Panel transitions fed back to the rules per call. A rule set whose rules
 * keep answering each other's transitions must not spin the loop. */
#define MAX_SETTLE_ROUNDS 256

struct engine {
	const struct config *cfg;
	struct ruleset *rs;
	struct registry *reg;
	struct panel *panel;
	struct store *store;
	int64_t start_mono;
	int64_t now_wall;
	struct rules_action acts[MAX_ACTIONS];
	int nacts, dropped;
	/* Action messages live in the rule set only until its next call;
	 * one evaluation batch may span several calls, so they are copied. */
	char arena[ARENA_SIZE];
	size_t arena_used;
	/* Per sensor, the monotonic time of its last panic press (0: none
	 * waiting to return); sized for cfg->nsensors, NULL if that failed. */
	int64_t *panic_at;
	int npanic;
	/* How many of panic_at are set: the deadline, asked after every read
	 * burst, skips the walk over every sensor when none is (the usual). */
	int npending;
};

int64_t engine_local_ms(int64_t wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return wall_ms;
	return wall_ms + (int64_t)tm.tm_gmtoff * 1000;
}

static int view_point(void *ctx, int sensor, enum sh_point p, double *value)
{
	struct engine *e = ctx;
	return registry_get(e->reg, sensor, p, value);
}

static enum sh_mode view_mode(void *ctx)
{
	struct engine *e = ctx;
	return panel_mode(e->panel);
}

static unsigned view_alarm(void *ctx, enum sh_alarm_class cls, int zone)
{
	struct engine *e = ctx;
	return panel_alarm_flags(
	    e->panel, cls, zone >= 0 && zone < e->cfg->nzones ? e->cfg->zones[zone].id : NULL);
}

static int64_t view_local(void *ctx)
{
	struct engine *e = ctx;
	return engine_local_ms(e->now_wall);
}

static struct rules_view view_of(struct engine *e)
{
	return (struct rules_view){.ctx = e,
	                           .point = view_point,
	                           .mode = view_mode,
	                           .alarm = view_alarm,
	                           .local_ms = view_local};
}

static void collect(void *ctx, const struct rules_action *a)
{
	struct engine *e = ctx;
	struct rules_action *dst;
	if (e->nacts >= MAX_ACTIONS) {
		e->dropped++;
		return;
	}
	dst = &e->acts[e->nacts++];
	*dst = *a;
	if (a->message) {
		size_t len = strlen(a->message) + 1;
		if (e->arena_used + len <= sizeof(e->arena)) {
			memcpy(e->arena + e->arena_used, a->message, len);
			dst->message = e->arena + e->arena_used;
			e->arena_used += len;
		} else {
			dst->message = NULL; /* the panel falls back to the class label */
		}
	}
}

static void begin(struct engine *e, int64_t wall_ms)
{
	e->now_wall = wall_ms;
	e->nacts = 0;
	e->arena_used = 0;
}

static void apply(struct engine *e, int64_t mono_ms, int64_t wall_ms)
{
	if (e->dropped) {
		log_err("rules: %d action(s) dropped in one evaluation (limit %d)", e->dropped,
		        MAX_ACTIONS);
		e->dropped = 0;
	}
	if (e->nacts)
		panel_apply(e->panel, e->acts, e->nacts, e->rs, mono_ms, wall_ms);
	e->nacts = 0;
	e->arena_used = 0;
}

struct engine *engine_new(const struct config *cfg, struct ruleset *rs, struct registry *reg,
                          struct panel *panel, struct store *store, int64_t start_mono)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = cfg;
	e->rs = rs;
	e->reg = reg;
	e->panel = panel;
	e->store = store;
	e->start_mono = start_mono;
	if (cfg->nsensors > 0) {
		e->panic_at = calloc((size_t)cfg->nsensors, sizeof(*e->panic_at));
		if (!e->panic_at) {
			free(e);
			return NULL;
		}
		e->npanic = cfg->nsensors;
	}
	return e;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	free(e->panic_at);
	free(e);
}

void engine_rebind(struct engine *e, const struct config *cfg, struct ruleset *rs)
{
	int64_t *pa = NULL;
	/* Sensor indices change with a reload (the registry kept each state
	 * by id): a button's pending return follows its id. e->cfg is still
	 * the old config here (the caller frees it after). */
	if (cfg->nsensors > 0) {
		pa = calloc((size_t)cfg->nsensors, sizeof(*pa));
		if (!pa)
			log_err("reload: no memory for the panic buttons' return; a pressed "
			        "button returns on its next message");
	}
	for (int s = 0; pa && s < cfg->nsensors; s++) {
		int old = config_sensor_index(e->cfg, cfg->sensors[s].id);
		if (old >= 0 && old < e->npanic)
			pa[s] = e->panic_at[old];
	}
	free(e->panic_at);
	e->panic_at = pa;
	e->npanic = pa ? cfg->nsensors : 0;
	e->npending = 0;
	for (int s = 0; s < e->npanic; s++)
		e->npending += pa[s] != 0;
	e->cfg = cfg;
	e->rs = rs;
}

/* A press is an event: remember when, so that its state returns to
 * "released" ENGINE_PANIC_RETURN_MS later (engine_tick). */
static void note_panic(struct engine *e, int sensor, enum sh_point p, double value, int64_t mono_ms)
{
	if (p != POINT_PANIC || sensor < 0 || sensor >= e->npanic)
		return;
	e->npending -= e->panic_at[sensor] != 0;
	e->panic_at[sensor] = value != 0 ? (mono_ms > 0 ? mono_ms : 1) : 0;
	e->npending += e->panic_at[sensor] != 0;
}

void engine_settle(struct engine *e, int64_t mono_ms, int64_t wall_ms)
{
	struct rules_view view = view_of(e);
	struct panel_event ev;
	int rounds = 0;

	while (panel_take_event(e->panel, &ev)) {
		if (++rounds > MAX_SETTLE_ROUNDS) {
			int lost = 1;
			while (panel_take_event(e->panel, &ev))
				lost++;
			log_err("rules: alarm transitions keep triggering each other; %d ignored "
			        "after %d rounds",
			        lost, MAX_SETTLE_ROUNDS);
			break;
		}
		begin(e, wall_ms);
		if (ev.is_mode)
			rules_eval_mode(e->rs, ev.old_mode, ev.new_mode, mono_ms, &view, collect,
			                e);
		else
			rules_eval_alarm(e->rs, ev.cls, config_zone_index(e->cfg, ev.zone),
			                 config_sensor_index(e->cfg, ev.sensor), ev.alarm, ev.ev,
			                 mono_ms, &view, collect, e);
		apply(e, mono_ms, wall_ms);
	}
}

/* Whether a reading goes into the event log. A state (door, smoke, online)
 * always: every change is news. A numeric point (temperature, battery)
 * only when it moved by at least its step ("history") since the value last
 * recorded, when it moved less but that was max_interval_s ago, when none
 * is recorded yet, or when the rules acted on it (a temperature that raises
 * an alarm is in the log with the alarm): as a data logger does. Each
 * recorded value costs a commit of whole pages on the SD card (README,
 * "Writes and the SD card"); the rules see every reading regardless. */
static int record_numeric(struct engine *e, int sensor, enum sh_point p, double v, int64_t mono_ms,
                          int acted)
{
	double last, step;
	int64_t at;
	if (!sh_point_is_numeric(p))
		return 1;
	if (!acted && registry_recorded(e->reg, sensor, p, &last, &at) == 0) {
		step = p == POINT_TEMPERATURE ? e->cfg->history_temperature_step
		                              : e->cfg->history_battery_step;
		/* 1e-9: 27.3 - 26.8 is not quite 0.5 in binary. */
		if (v == last || (fabs(v - last) < step - 1e-9 && at &&
		                  mono_ms - at < (int64_t)e->cfg->history_max_interval_s * 1000))
			return 0;
	}
	registry_set_recorded(e->reg, sensor, p, v, mono_ms > 0 ? mono_ms : 1);
	return 1;
}

static void values(struct engine *e, int sensor, const struct sh_point_value *vals, int n,
                   const char *origin, int64_t mono_ms, int64_t wall_ms)
{
	struct rules_view view = view_of(e);
	begin(e, wall_ms);
	for (int i = 0; i < n; i++) {
		int had_old, acts = e->nacts + e->dropped;
		double old;
		if (!registry_update(e->reg, sensor, vals[i].point, vals[i].value, wall_ms,
		                     &had_old, &old)) {
			/* Unchanged, but maybe not yet recorded (it moved less
			 * than its step): in the log once max_interval_s is up. */
			if (sh_point_is_numeric(vals[i].point) &&
			    record_numeric(e, sensor, vals[i].point, vals[i].value, mono_ms, 0))
				goto record;
			continue;
		}
		note_panic(e, sensor, vals[i].point, vals[i].value, mono_ms);
		rules_eval(e->rs, sensor, vals[i].point, had_old, old, vals[i].value, mono_ms,
		           &view, collect, e);
		if (!record_numeric(e, sensor, vals[i].point, vals[i].value, mono_ms,
		                    e->nacts + e->dropped > acts))
			continue;
	record:
		store_event(e->store, wall_ms, origin, "reading", e->cfg->sensors[sensor].id,
		            sh_point_name(vals[i].point), 1, vals[i].value,
		            sh_state_name(vals[i].point, vals[i].value));
	}
	apply(e, mono_ms, wall_ms);
	engine_settle(e, mono_ms, wall_ms);
}

/* During a walk test a detector's activation is a test: recorded, shown,
 * and kept from the rules, so nobody is alerted. */
static void walk_test(struct engine *e, int sensor, const struct sh_point_value *vals, int n,
                      int64_t mono_ms, int64_t wall_ms)
{
	enum sh_point primary = sh_kind_primary_point(e->cfg->sensors[sensor].kind);
	for (int i = 0; i < n; i++) {
		int had_old;
		double old;
		if (!registry_update(e->reg, sensor, vals[i].point, vals[i].value, wall_ms,
		                     &had_old, &old))
			continue;
		note_panic(e, sensor, vals[i].point, vals[i].value, mono_ms);
		store_event(e->store, wall_ms, "walk test", "test", e->cfg->sensors[sensor].id,
		            sh_point_name(vals[i].point), 1, vals[i].value,
		            sh_state_name(vals[i].point, vals[i].value));
		if (vals[i].value != 0 &&
		    (vals[i].point == primary || vals[i].point == POINT_TEST ||
		     vals[i].point == POINT_TAMPER))
			panel_test_activation(e->panel, sensor, vals[i].point, vals[i].value,
			                      mono_ms, wall_ms);
	}
}

void engine_report(struct engine *e, int sensor, const struct sh_point_value *vals, int n,
                   const char *origin, int64_t mono_ms, int64_t wall_ms)
{
	struct sh_point_value all[24 + 2];
	int has_online = 0, has_panic = 0;
	double online, pressed;

	if (sensor < 0 || sensor >= e->cfg->nsensors || n < 0 || n > 23)
		return;
	registry_seen(e->reg, sensor, wall_ms);
	registry_heard(e->reg, sensor, mono_ms);
	/* Out of service: heard (it is alive), but nothing it says counts. */
	if (panel_sensor_disabled(e->panel, sensor))
		return;
	if (panel_test_covers(e->panel, sensor)) {
		walk_test(e, sensor, vals, n, mono_ms, wall_ms);
		return;
	}
	if (n > 0) /* a sign of life may come as NULL, 0 */
		memcpy(all, vals, sizeof(all[0]) * (size_t)n);
	for (int i = 0; i < n; i++) {
		has_online |= vals[i].point == POINT_ONLINE;
		has_panic |= vals[i].point == POINT_PANIC;
	}
	/* A press is an event: the next message without one (the button's
	 * battery report, zigbee2mqtt's empty action) says it is over. */
	if (!has_panic && registry_get(e->reg, sensor, POINT_PANIC, &pressed) == 0 && pressed != 0)
		all[n++] = (struct sh_point_value){POINT_PANIC, 0};
	/* A report from a sensor we hold offline (supervision, or a stale
	 * availability message) proves it is back. */
	if (!has_online && registry_get(e->reg, sensor, POINT_ONLINE, &online) == 0 && online == 0)
		all[n++] = (struct sh_point_value){POINT_ONLINE, 1};
	values(e, sensor, all, n, origin, mono_ms, wall_ms);
}

/* Hazard states a detector keeps reporting only on change: one said before
 * a restart still counts after it. */
static int is_hazard(enum sh_point p)
{
	return p == POINT_SMOKE || p == POINT_HEAT || p == POINT_GAS || p == POINT_CO ||
	       p == POINT_WATER;
}

void engine_restore(struct engine *e, int sensor, const struct sh_point_value *vals, int n,
                    int64_t mono_ms, int64_t wall_ms)
{
	struct sh_point_value haz[POINT__COUNT];
	int nh = 0;
	int64_t seen;
	if (sensor < 0 || sensor >= e->cfg->nsensors || n < 0)
		return;
	for (int i = 0; i < n; i++) {
		if ((unsigned)vals[i].point >= POINT__COUNT || vals[i].point == POINT_ONLINE ||
		    vals[i].point == POINT_PANIC)
			continue; /* the link is unknown until heard; a press is an event */
		if (is_hazard(vals[i].point) && vals[i].value != 0 && nh < POINT__COUNT &&
		    !panel_sensor_disabled(e->panel, sensor) &&
		    !panel_test_covers(e->panel, sensor))
			haz[nh++] = vals[i];
		else
			registry_restore(e->reg, sensor, vals[i].point, vals[i].value);
	}
	if (!nh)
		return;
	/* Through the rules as a reading: they raise the alarm if the store
	 * lost it (killed between the siren and the commit), or the firing
	 * joins the active alarm of that class and zone: no second "raised". */
	seen = registry_last_seen(e->reg, sensor);
	values(e, sensor, haz, nh, "restore", mono_ms, wall_ms);
	registry_seen(e->reg, sensor, seen); /* not a sign of life */
	for (int i = 0; i < nh; i++)
		registry_restore(e->reg, sensor, haz[i].point, haz[i].value);
}

void engine_neighbour(struct engine *e, int neighbour, enum sh_alarm_class cls,
                      enum rules_alarm_event ev, const char *address, int64_t mono_ms,
                      int64_t wall_ms)
{
	struct rules_view view = view_of(e);

	if (neighbour < 0 || neighbour >= e->cfg->nneighbours)
		return;
	store_event(e->store, wall_ms, e->cfg->neighbours[neighbour], "neighbour", NULL,
	            sh_class_name(cls), 0, 0, sh_alarm_state_name((enum sh_alarm_state)ev));
	begin(e, wall_ms);
	rules_eval_neighbour(e->rs, neighbour, cls, ev, address, mono_ms, &view, collect, e);
	apply(e, mono_ms, wall_ms);
	engine_settle(e, mono_ms, wall_ms);
}

void engine_supervise(struct engine *e, int64_t mono_ms, int64_t wall_ms)
{
	for (int s = 0; s < e->cfg->nsensors; s++) {
		const struct sh_point_value off = {POINT_ONLINE, 0};
		int64_t since = registry_heard_at(e->reg, s);
		int64_t limit = (int64_t)e->cfg->sensors[s].supervision_s * 1000;
		double v;
		if (limit <= 0 || panel_sensor_disabled(e->panel, s))
			continue;
		if (!since || since < e->start_mono)
			since = e->start_mono;
		if (mono_ms - since < limit)
			continue;
		if (registry_get(e->reg, s, POINT_ONLINE, &v) == 0 && v == 0)
			continue;
		log_warn("supervision: %s silent for %lld s (limit %d s)", e->cfg->sensors[s].id,
		         (long long)((mono_ms - since) / 1000), e->cfg->sensors[s].supervision_s);
		values(e, s, &off, 1, "supervision", mono_ms, wall_ms);
	}
}

int64_t engine_next_deadline(struct engine *e, int64_t mono_ms, int64_t wall_ms)
{
	struct rules_view view;
	int64_t a, b;
	e->now_wall = wall_ms;
	view = view_of(e);
	a = rules_next_deadline(e->rs, mono_ms, &view);
	b = panel_next_deadline(e->panel, mono_ms, wall_ms);
	if (b < a)
		a = b;
	for (int s = 0; e->npending > 0 && s < e->npanic; s++)
		if (e->panic_at[s] && e->panic_at[s] + ENGINE_PANIC_RETURN_MS < a)
			a = e->panic_at[s] + ENGINE_PANIC_RETURN_MS;
	return a;
}

/* Pressed buttons whose press is ENGINE_PANIC_RETURN_MS old return to
 * "released", as the button itself would if it had a state: Home Assistant
 * shows the press, then OFF. The return is a reading like any other (the
 * rules may see "clear"; panic has no "becomes clear" of its own), except
 * for a sensor out of service, which only changes state quietly. */
static void return_panics(struct engine *e, int64_t mono_ms, int64_t wall_ms)
{
	static const struct sh_point_value released = {POINT_PANIC, 0};
	for (int s = 0; e->npending > 0 && s < e->npanic; s++) {
		int had_old;
		int64_t seen;
		double v;
		if (!e->panic_at[s] || mono_ms < e->panic_at[s] + ENGINE_PANIC_RETURN_MS)
			continue;
		e->panic_at[s] = 0;
		e->npending--;
		if (registry_get(e->reg, s, POINT_PANIC, &v) != 0 || v == 0)
			continue;
		seen = registry_last_seen(e->reg, s);
		if (panel_sensor_disabled(e->panel, s))
			registry_update(e->reg, s, POINT_PANIC, 0, wall_ms, &had_old, &v);
		else if (panel_test_covers(e->panel, s))
			walk_test(e, s, &released, 1, mono_ms, wall_ms);
		else
			values(e, s, &released, 1, "panic return", mono_ms, wall_ms);
		registry_seen(e->reg, s, seen); /* the gateway's doing, no sign of life */
	}
}

void engine_tick(struct engine *e, int64_t mono_ms, int64_t wall_ms)
{
	struct rules_view view;
	return_panics(e, mono_ms, wall_ms);
	view = view_of(e);
	panel_tick(e->panel, mono_ms, wall_ms);
	begin(e, wall_ms);
	rules_tick(e->rs, mono_ms, &view, collect, e);
	apply(e, mono_ms, wall_ms);
	engine_settle(e, mono_ms, wall_ms);
}
