/*
 * rules_eval.c: the engine. Readings, alarm transitions, mode changes and
 * the clock go in; actions come out through the caller's emit callback.
 *
 * Every call first runs what fell due at or before its now_ms (a reading
 * that arrives just after a hold completed does not undo the hold), then
 * does its own work, then re-checks the `unless` of every pending delay.
 * All timers share one binary min-heap on the monotonic clock, cancelled
 * lazily: an object's generation counter moves on and its old heap nodes
 * are dropped when they reach the top. The calendar runs on local time
 * from the view and is looked at by rules_tick only.
 */
#include "rules_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS (24LL * 3600 * 1000)
#define HOUR_MS (3600LL * 1000)
/* A heap this big that is more than half stale gets compacted. */
#define HEAP_COMPACT_MIN 64
#define CHUNK_MIN 4096

/* The context one firing carries into its conditions and actions. */
struct firing {
	int rule, sensor, zone;
	int64_t alarm;
	int neighbour; /* index + 1 of the neighbour whose feed fired it; 0 none */
	double value;
	enum sh_point point;
	int has_value; /* a reading fired it: value and point mean something */
};

/* One call into the engine. */
struct call {
	struct ruleset *rs;
	int64_t now;
	const struct rules_view *view;
	rules_action_fn emit;
	void *ctx;
	int fired;
};

/* ---- expanded messages ---- */

static void msgs_reset(struct ruleset *rs)
{
	for (struct rules_chunk *k = rs->msgs; k; k = k->next)
		k->used = 0;
}

/* n bytes that stay put until the next msgs_reset(); NULL when out of
 * memory. Chunks are kept across calls, so a warm engine does not
 * allocate. */
static char *msgs_alloc(struct ruleset *rs, size_t n)
{
	struct rules_chunk *k;
	size_t size;

	for (k = rs->msgs; k; k = k->next)
		if (k->size - k->used >= n)
			break;
	if (!k) {
		size = n > CHUNK_MIN ? n : CHUNK_MIN;
		k = malloc(sizeof(*k) + size);
		if (!k)
			return NULL;
		k->size = size;
		k->used = 0;
		k->next = rs->msgs;
		rs->msgs = k;
	}
	k->used += n;
	return k->data + k->used - n;
}

/* Append n bytes of s to dst (when not NULL) at *len; *len always grows,
 * so that a first pass with dst NULL measures. */
static void put(char *dst, size_t *len, const char *s, size_t n)
{
	if (dst)
		memcpy(dst + *len, s, n);
	*len += n;
}

/* ${name} -> text, for the names rules_template_names lists. A firing
 * without a sensor (calendar, mode) has "-" for the sensor's and zone's
 * names, and one without a reading "-" for the value. */
static const char *template_value(const struct ruleset *rs, const struct firing *f,
                                  const char *name, size_t n, char *buf, size_t size)
{
	int has_s = f->sensor >= 0 && f->sensor < rs->nsensors;
	int has_z = f->zone >= 0 && f->zone < rs->nzones;
	const char *st;

	if (n == 6 && memcmp(name, "sensor", 6) == 0)
		return has_s ? rs->sensor_id[f->sensor] : "-";
	if (n == 11 && memcmp(name, "sensor_name", 11) == 0)
		return has_s ? rs->sensor_label[f->sensor] : "-";
	if (n == 4 && memcmp(name, "zone", 4) == 0)
		return has_z ? rs->zone_id[f->zone] : "-";
	if (n == 9 && memcmp(name, "zone_name", 9) == 0)
		return has_z ? rs->zone_label[f->zone] : "-";
	if (n == 9 && memcmp(name, "neighbour", 9) == 0)
		return f->neighbour > 0 && f->neighbour <= rs->nneighbours
		           ? rs->nb_id[f->neighbour - 1]
		           : "-";
	if (n == 17 && memcmp(name, "neighbour_address", 17) == 0)
		return f->neighbour > 0 && f->neighbour <= rs->nneighbours &&
		               rs->nb_addr[f->neighbour - 1]
		           ? rs->nb_addr[f->neighbour - 1]
		           : "-";
	if (n == 5 && memcmp(name, "value", 5) == 0) {
		if (!f->has_value)
			return "-";
		/* a boolean point reads as its state word: "open", "detected" */
		st = sh_point_is_numeric(f->point) ? NULL : sh_state_name(f->point, f->value);
		if (st)
			return st;
		snprintf(buf, size, "%g", f->value);
		return buf;
	}
	return ""; /* the compiler let no other name through */
}

/* Write the expansion of tpl for f into out (NULL: only measure); returns
 * its length. The compiler made sure that every "${" has its "}". */
static size_t expand_into(const struct ruleset *rs, const char *tpl, const struct firing *f,
                          char *out)
{
	const char *s = tpl, *at, *end;
	size_t len = 0;
	char num[64];

	while ((at = strstr(s, "${")) != NULL && (end = strchr(at + 2, '}')) != NULL) {
		const char *v =
		    template_value(rs, f, at + 2, (size_t)(end - at - 2), num, sizeof(num));
		put(out, &len, s, (size_t)(at - s));
		put(out, &len, v, strlen(v));
		s = end + 1;
	}
	put(out, &len, s, strlen(s));
	return len;
}

/* Expand the compiled template tpl for firing f. Falls back to the
 * template itself when out of memory: a message with ${...} in it is
 * better than no alarm text. */
static const char *expand(struct ruleset *rs, const char *tpl, const struct firing *f)
{
	size_t len = expand_into(rs, tpl, f, NULL);
	char *out = msgs_alloc(rs, len + 1);

	if (!out)
		return tpl;
	expand_into(rs, tpl, f, out);
	out[len] = '\0';
	return out;
}

/* ---- conditions ---- */

static int64_t floor_mod(int64_t a, int64_t b)
{
	int64_t m = a % b;

	return m < 0 ? m + b : m;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return (a - floor_mod(a, b)) / b;
}

static int point_is(const struct rules_view *v, int sensor, enum sh_point p, double want)
{
	double x;

	if (!v || !v->point || p == POINT__COUNT || v->point(v->ctx, sensor, p, &x) < 0 || isnan(x))
		return 0;
	return (x != 0) == (want != 0);
}

/* Some sensor of zone z is in state st. */
static int zone_is(const struct ruleset *rs, int z, const struct sh_state *st,
                   const struct rules_view *v)
{
	for (int i = rs->zone_first[z]; i < rs->zone_first[z + 1]; i++) {
		int s = rs->zone_sensors[i];
		enum sh_point p = st->point;
		if (p == POINT__COUNT)
			p = sh_kind_primary_point((enum sh_kind)rs->sensor_kind[s]);
		if (point_is(v, s, p, st->value))
			return 1;
	}
	return 0;
}

/* An unknown point value makes `is STATE` false (and so `is not` true); no
 * view at all is a world where nothing is known, nothing is raised, the
 * mode is disarmed and no time window matches. */
static int cond_eval(const struct ruleset *rs, const struct rules_rule *r, int n,
                     const struct rules_view *v, const struct firing *f)
{
	const struct rules_cond *c = &r->cond[n];
	int64_t tod;

	switch (c->op) {
	case COND_AND:
		return cond_eval(rs, r, c->a, v, f) && cond_eval(rs, r, c->b, v, f);
	case COND_OR:
		return cond_eval(rs, r, c->a, v, f) || cond_eval(rs, r, c->b, v, f);
	case COND_NOT:
		return !cond_eval(rs, r, c->a, v, f);
	case COND_MODE:
		/* "for": an exit delay. A mode that has not changed since the
		 * rules were loaded (a restart while armed) counts as held. */
		if ((v && v->mode ? v->mode(v->ctx) : MODE_DISARMED) != c->mode)
			return 0;
		return !c->ms || !rs->mode_changed || rs->now - rs->mode_since >= c->ms;
	case COND_SENSOR_IS:
		return point_is(v, c->sensor, c->point, c->value);
	case COND_ZONE_IS:
		if (c->zone >= 0)
			return zone_is(rs, c->zone, c->state, v);
		for (int z = 0; z < rs->nzones; z++)
			if (rs->zone_kind[z] == c->zone_kind && zone_is(rs, z, c->state, v))
				return 1;
		return 0;
	case COND_TIME:
		if (!v || !v->local_ms)
			return 0;
		tod = floor_mod(v->local_ms(v->ctx), DAY_MS);
		if (c->from < c->to)
			return tod >= c->from && tod < c->to;
		if (c->from > c->to) /* wraps past midnight */
			return tod >= c->from || tod < c->to;
		return 0;
	case COND_ALARM:
		if (!v || !v->alarm)
			return 0;
		return (v->alarm(v->ctx, c->cls, c->site ? -1 : f->zone) & c->flag) != 0;
	}
	return 0;
}

/* ---- the timer heap ---- */

static int timer_before(const struct rules_timer *a, const struct rules_timer *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_down(struct ruleset *rs, int i)
{
	struct rules_timer *h = rs->heap;

	for (;;) {
		int l = 2 * i + 1, m = i;
		if (l < rs->nheap && timer_before(&h[l], &h[m]))
			m = l;
		if (l + 1 < rs->nheap && timer_before(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct rules_timer t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int timer_live(const struct ruleset *rs, const struct rules_timer *t)
{
	switch (t->kind) {
	case TM_DELAY:
		return rs->pending[t->ref].live && rs->pending[t->ref].gen == t->gen;
	case TM_HOLD:
		return rs->holds[t->ref].gen == t->gen;
	case TM_COUNT:
		return rs->slots[t->ref].gen == t->gen;
	case TM_RISE:
		return rs->rises[t->ref].gen == t->gen;
	}
	return 0;
}

/* Drop the stale nodes when they are most of the heap: an entry delay
 * opened and cancelled all day long must not grow it without bound. */
static void heap_compact(struct ruleset *rs)
{
	int n = 0;

	for (int i = 0; i < rs->nheap; i++)
		if (timer_live(rs, &rs->heap[i]))
			rs->heap[n++] = rs->heap[i];
	rs->nheap = n;
	for (int i = n / 2 - 1; i >= 0; i--)
		heap_down(rs, i);
	rs->nstale = 0;
}

static int heap_push(struct ruleset *rs, int64_t at, enum rules_timer_kind kind, int ref,
                     uint32_t gen)
{
	struct rules_timer *h;
	int i;

	if (rs->nstale > HEAP_COMPACT_MIN && rs->nstale * 2 > rs->nheap)
		heap_compact(rs);
	if (rs->nheap == rs->heap_cap) {
		int cap = rs->heap_cap ? rs->heap_cap * 2 : 64;
		h = realloc(rs->heap, sizeof(*h) * (size_t)cap);
		if (!h)
			return -ENOMEM;
		rs->heap = h;
		rs->heap_cap = cap;
	}
	h = rs->heap;
	i = rs->nheap++;
	h[i] =
	    (struct rules_timer){.at = at, .seq = rs->seq++, .gen = gen, .kind = kind, .ref = ref};
	while (i > 0 && timer_before(&h[i], &h[(i - 1) / 2])) {
		struct rules_timer t = h[i];
		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return 0;
}

static void heap_pop(struct ruleset *rs)
{
	rs->heap[0] = rs->heap[--rs->nheap];
	heap_down(rs, 0);
}

/* An armed object's timer is cancelled: it stays in the heap, stale. */
static void stale(struct ruleset *rs, uint32_t *gen)
{
	(*gen)++;
	rs->nstale++;
}

/* ---- firing ---- */

static void emit_action(struct call *c, const struct rules_action *a)
{
	if (c->emit)
		c->emit(c->ctx, a);
}

static void emit_cleared(struct call *c, const struct rules_rule *r, const struct firing *f)
{
	struct rules_action a = {.type = RA_CLEARED,
	                         .rule = f->rule,
	                         .sensor = f->sensor,
	                         .zone = f->zone,
	                         .alarm = f->alarm,
	                         .value = f->value,
	                         .output = -1,
	                         .cls = r->clear_cls};

	c->rs->stats.cleared++;
	emit_action(c, &a);
}

static int pending_find(const struct ruleset *rs, const struct firing *f)
{
	for (int i = 0; i < rs->npending; i++) {
		const struct rules_pending *p = &rs->pending[i];
		if (p->live && p->rule == f->rule && p->sensor == f->sensor && p->zone == f->zone &&
		    p->alarm == f->alarm && p->neighbour == f->neighbour)
			return i;
	}
	return -1;
}

static void pending_cancel(struct ruleset *rs, int i)
{
	rs->pending[i].live = 0;
	rs->nlive--;
	stale(rs, &rs->pending[i].gen);
}

/* Cancel every pending delay of one rule (the `cancel` action). */
static void cancel_rule(struct ruleset *rs, int rule)
{
	for (int i = 0; i < rs->npending && rs->nlive; i++)
		if (rs->pending[i].live && rs->pending[i].rule == rule)
			pending_cancel(rs, i);
}

static void run_actions(struct call *c, const struct rules_rule *r, const struct firing *f)
{
	for (int i = 0; i < r->nactions; i++) {
		struct rules_action a;
		if (r->ext[i].cancel >= 0) {
			cancel_rule(c->rs, r->ext[i].cancel);
			continue;
		}
		a = r->actions[i];
		a.rule = f->rule;
		a.sensor = f->sensor;
		a.zone = f->zone;
		a.alarm = f->alarm;
		a.value = f->value;
		if (r->ext[i].templated)
			a.message = expand(c->rs, a.message, f);
		emit_action(c, &a);
	}
}

/* Schedule the actions of a delayed rule; -ENOMEM. */
static int pending_add(struct call *c, const struct rules_rule *r, const struct firing *f)
{
	struct ruleset *rs = c->rs;
	struct rules_pending *p;
	int i;

	for (i = 0; i < rs->npending; i++)
		if (!rs->pending[i].live)
			break;
	if (i == rs->npending) {
		if (rs->npending == rs->pending_cap) {
			int cap = rs->pending_cap ? rs->pending_cap * 2 : 16;
			p = realloc(rs->pending, sizeof(*p) * (size_t)cap);
			if (!p)
				return -ENOMEM;
			rs->pending = p;
			rs->pending_cap = cap;
		}
		memset(&rs->pending[i], 0, sizeof(rs->pending[i]));
		rs->npending++;
	}
	p = &rs->pending[i];
	p->rule = f->rule;
	p->sensor = f->sensor;
	p->zone = f->zone;
	p->alarm = f->alarm;
	p->neighbour = f->neighbour;
	p->value = f->value;
	p->point = f->point;
	p->has_value = (unsigned char)f->has_value;
	p->cleared = 0;
	p->gen++;
	if (heap_push(rs, c->now + r->after, TM_DELAY, i, p->gen) < 0)
		return -ENOMEM;
	p->live = 1;
	rs->nlive++;
	return 0;
}

/* The trigger of rule f->rule fired: check the condition, then run the
 * actions or schedule them. Returns 1 when the rule fired. */
static int fire_rule(struct call *c, const struct firing *f)
{
	struct ruleset *rs = c->rs;
	const struct rules_rule *r = &rs->rules[f->rule];
	int i;

	if (r->cond_root >= 0 && !cond_eval(rs, r, r->cond_root, c->view, f))
		return 0;
	rs->stats.fired++;
	c->fired++;
	if (r->after) {
		i = pending_find(rs, f);
		if (i >= 0) {
			/* one delay per (rule, sensor, zone, alarm); the cause is
			 * back, so a cleared notice held for it is void */
			rs->pending[i].cleared = 0;
			return 1;
		}
		/* without memory for the delay, acting now beats not at all */
		if (pending_add(c, r, f) == 0)
			return 1;
	}
	run_actions(c, r, f);
	return 1;
}

/* The trigger of f->rule re-armed. A cleared notice for a firing whose
 * actions still wait is held until they have run, so that the panel sees
 * the alarm before its cause clears; it is dropped with them. */
static void trigger_cleared(struct call *c, const struct firing *f)
{
	struct ruleset *rs = c->rs;
	const struct rules_rule *r = &rs->rules[f->rule];
	int i;

	if (r->after && (i = pending_find(rs, f)) >= 0) {
		rs->pending[i].cleared = 1;
		return;
	}
	emit_cleared(c, r, f);
}

static struct firing sensor_firing(const struct ruleset *rs, int rule, int sensor, enum sh_point p,
                                   double value)
{
	return (struct firing){.rule = rule,
	                       .sensor = sensor,
	                       .zone = rs->sensor_zone[sensor],
	                       .value = value,
	                       .point = p,
	                       .has_value = 1};
}

/* ---- triggers on readings ---- */

/* Threshold triggers are edges with hysteresis: the entry is active from
 * the crossing until the value re-arms; *fire and *clear report the two
 * edges. The edge is taken whether or not the condition then holds, so a
 * condition that becomes true later does not fire on an old crossing. */
static void eval_threshold(const struct rules_trigger *t, struct rules_entry *e, int had_old,
                           double old, double new, int *fire, int *clear)
{
	int above = t->type == TRIG_ABOVE, active, on, off;

	on = above ? new > t->threshold : new < t->threshold;
	if (t->has_rearm)
		off = above ? new < t->rearm : new > t->rearm;
	else
		off = !on;

	if (!had_old)
		active = 0; /* unknown before: a value past the threshold is an edge */
	else if (!e->seen)
		/* first reading since compile (a reload): already past the
		 * threshold is not a new crossing */
		active = above ? old > t->threshold : old < t->threshold;
	else
		active = e->active;

	if (!active && on) {
		*fire = 1;
		active = 1;
	} else if (active && off) {
		*clear = 1;
		active = 0;
	}
	e->active = (unsigned char)active;
}

static int rise_at(const struct rules_rise *q, int k)
{
	return (q->head + k) % RULES_RISE_SAMPLES;
}

/* Forget the readings older than the window. */
static void rise_expire(struct rules_rise *q, int64_t now, int64_t window)
{
	while (q->n && q->s[q->head].t < now - window) {
		q->head = rise_at(q, 1);
		q->n--;
	}
}

/* The rise over the window: the last reading above the lowest one. */
static double rise_of(const struct rules_rise *q)
{
	return q->n ? q->last - q->s[q->head].v : 0;
}

/* A rise that fired is re-checked when its lowest reading leaves the
 * window, even if no reading comes: a temperature that stopped climbing
 * is often not reported again. */
static void rise_arm(struct ruleset *rs, int ref, int64_t window)
{
	struct rules_rise *q = &rs->rises[ref];

	if (q->n)
		heap_push(rs, q->s[q->head].t + window + 1, TM_RISE, ref, q->gen);
}

static void eval_rise(struct call *c, const struct rules_rule *r, struct rules_entry *e, double v,
                      int *fire, int *clear)
{
	struct rules_rise *q = &c->rs->rises[e->aux];
	int64_t w = r->trig.ms;
	double rise;

	rise_expire(q, c->now, w);
	/* readings no lower than this one can never be the lowest again */
	while (q->n && q->s[rise_at(q, q->n - 1)].v >= v)
		q->n--;
	if (q->n == RULES_RISE_SAMPLES) {
		/* full: keep the lowest (the front), merge the next one into
		 * it; that can only make the measured rise smaller */
		q->s[rise_at(q, 1)] = q->s[q->head];
		q->head = rise_at(q, 1);
		q->n--;
	}
	q->s[rise_at(q, q->n)].t = c->now;
	q->s[rise_at(q, q->n)].v = v;
	q->n++;
	q->last = v;
	rise = rise_of(q);
	if (!q->active && rise >= r->trig.threshold) {
		*fire = 1;
		q->active = 1;
		q->gen++;
		rise_arm(c->rs, e->aux, w);
	} else if (q->active && rise < r->trig.threshold / 2) {
		*clear = 1;
		q->active = 0;
		stale(c->rs, &q->gen);
	}
}

static void eval_hold(struct call *c, const struct rules_rule *r, struct rules_entry *e, double v,
                      int *clear)
{
	struct ruleset *rs = c->rs;
	struct rules_hold *h = &rs->holds[e->aux];
	int in = (v != 0) == (r->trig.state->value != 0);

	if (in && !h->in_state) {
		h->in_state = 1;
		h->done = 0;
		h->value = v;
		h->gen++;
		heap_push(rs, c->now + r->trig.ms, TM_HOLD, e->aux, h->gen);
	} else if (!in && h->in_state) {
		h->in_state = 0;
		if (h->done)
			*clear = 1;
		else
			stale(rs, &h->gen);
		h->done = 0;
	} else if (in) {
		h->value = v;
	}
}

/* Notices for the firings of a count whose cause went: fewer than N of its
 * group's sensors are in the state, however long ago they entered it. */
static void count_cleared(struct call *c, const struct rules_rule *r, int group)
{
	struct ruleset *rs = c->rs;
	struct rules_group *g = &rs->groups[group];

	if (!g->cause || g->nin >= r->trig.count)
		return;
	g->cause = 0;
	for (int i = r->slot0; i < r->slot0 + r->nslot; i++) {
		struct rules_slot *sl = &rs->slots[i];
		struct firing f;
		if (sl->group != group || !sl->cause)
			continue;
		sl->cause = 0;
		f = sensor_firing(rs, sl->rule, sl->sensor, POINT__COUNT, 0);
		f.has_value = 0;
		trigger_cleared(c, &f);
	}
}

static void uncount(struct ruleset *rs, const struct rules_rule *r, struct rules_slot *sl)
{
	struct rules_group *g = &rs->groups[sl->group];

	sl->counted = 0;
	g->nwin--;
	/* re-armed: the next N entries within a window fire again */
	if (g->fired && g->nwin < r->trig.count)
		g->fired = 0;
}

/* A count fires once when its N-th distinct sensor enters the state within
 * the window, and re-arms when the count drops below N. A panic press is
 * an event: it counts until the window ends, released or not. */
static void eval_count(struct call *c, const struct rules_rule *r, struct rules_entry *e,
                       enum sh_point point, int had_old, double old, double v)
{
	struct ruleset *rs = c->rs;
	struct rules_slot *sl = &rs->slots[e->aux];
	struct rules_group *g = &rs->groups[sl->group];
	int want = r->trig.state->value != 0, in = (v != 0) == want, was,
	    panic = point == POINT_PANIC;

	if (!e->seen) {
		/* after a reload, a sensor already in the state is in it, but
		 * did not just enter it */
		sl->in_state = (unsigned char)(had_old && (old != 0) == want);
		g->nin += sl->in_state;
	}
	was = sl->in_state;
	if (in && (!was || panic)) {
		if (!was)
			g->nin++;
		sl->in_state = 1;
		if (sl->counted)
			return;
		sl->counted = 1;
		g->nwin++;
		sl->gen++;
		heap_push(rs, c->now + r->trig.ms, TM_COUNT, e->aux, sl->gen);
		if (!g->fired && g->nwin >= r->trig.count) {
			struct firing f = sensor_firing(rs, e->rule, sl->sensor, point, v);
			g->fired = 1;
			if (fire_rule(c, &f)) {
				sl->cause = 1;
				g->cause = 1;
			}
		}
	} else if (!in && was && !panic) {
		sl->in_state = 0;
		g->nin--;
		if (sl->counted) {
			stale(rs, &sl->gen);
			uncount(rs, r, sl);
		}
		count_cleared(c, r, sl->group);
	}
}

/* ---- timers ---- */

static void run_timer(struct call *c, const struct rules_timer *t)
{
	struct ruleset *rs = c->rs;
	struct firing f;

	switch (t->kind) {
	case TM_DELAY: {
		struct rules_pending p = rs->pending[t->ref];
		const struct rules_rule *r = &rs->rules[p.rule];
		f = (struct firing){.rule = p.rule,
		                    .sensor = p.sensor,
		                    .zone = p.zone,
		                    .alarm = p.alarm,
		                    .neighbour = p.neighbour,
		                    .value = p.value,
		                    .point = p.point,
		                    .has_value = p.has_value};
		rs->pending[t->ref].live = 0;
		rs->nlive--;
		if (r->unless_root >= 0 && cond_eval(rs, r, r->unless_root, c->view, &f))
			return;
		c->fired++;
		run_actions(c, r, &f);
		if (p.cleared)
			emit_cleared(c, r, &f);
		return;
	}
	case TM_HOLD: {
		struct rules_hold *h = &rs->holds[t->ref];
		h->done = 1;
		f = sensor_firing(rs, h->rule, h->sensor, h->point, h->value);
		fire_rule(c, &f);
		return;
	}
	case TM_COUNT: {
		struct rules_slot *sl = &rs->slots[t->ref];
		if (sl->counted)
			uncount(rs, &rs->rules[sl->rule], sl);
		return;
	}
	case TM_RISE: {
		struct rules_rise *q = &rs->rises[t->ref];
		const struct rules_rule *r = &rs->rules[q->rule];
		/* re-armed when the rise over the window falls below half
		 * the threshold, reading or not */
		rise_expire(q, c->now, r->trig.ms);
		if (rise_of(q) >= r->trig.threshold / 2) {
			rise_arm(rs, t->ref, r->trig.ms);
			return;
		}
		q->gen++;
		q->active = 0;
		f = sensor_firing(rs, q->rule, q->sensor, r->trig.point, q->last);
		trigger_cleared(c, &f);
		return;
	}
	}
}

/* Everything due at or before c->now, in deadline order. */
static void run_due(struct call *c)
{
	struct ruleset *rs = c->rs;

	while (rs->nheap && rs->heap[0].at <= c->now) {
		struct rules_timer t = rs->heap[0];
		heap_pop(rs);
		if (!timer_live(rs, &t)) {
			if (rs->nstale > 0)
				rs->nstale--;
			continue;
		}
		run_timer(c, &t);
	}
}

/* A `for` hold must not be lost on a reload: a sensor that is already in
 * the state when a new rule set starts (offline for an hour, say) gets its
 * timer from the first call that can see the points. */
static void prime(struct call *c)
{
	struct ruleset *rs = c->rs;
	const struct rules_view *v = c->view;

	if (rs->primed || !v || !v->point)
		return;
	rs->primed = 1;
	for (int i = 0; i < rs->nholds; i++) {
		struct rules_hold *h = &rs->holds[i];
		const struct rules_rule *r = &rs->rules[h->rule];
		double x;
		if (h->in_state || v->point(v->ctx, h->sensor, h->point, &x) < 0 || isnan(x) ||
		    (x != 0) != (r->trig.state->value != 0))
			continue;
		h->in_state = 1;
		h->value = x;
		h->gen++;
		heap_push(rs, c->now + r->trig.ms, TM_HOLD, i, h->gen);
	}
}

static void call_begin(struct call *c)
{
	c->rs->now = c->now;
	msgs_reset(c->rs);
	prime(c);
	run_due(c);
}

/* Re-check every pending `unless` in its own context; then drop cancelled
 * timers from the top of the heap, so that rules_next_deadline() is exact. */
static void call_end(struct call *c)
{
	struct ruleset *rs = c->rs;

	for (int i = 0; i < rs->npending && rs->nlive; i++) {
		const struct rules_pending *p = &rs->pending[i];
		const struct rules_rule *r = &rs->rules[p->rule];
		struct firing f = {.rule = p->rule,
		                   .sensor = p->sensor,
		                   .zone = p->zone,
		                   .alarm = p->alarm,
		                   .neighbour = p->neighbour,
		                   .value = p->value,
		                   .point = p->point,
		                   .has_value = p->has_value};
		if (p->live && r->unless_root >= 0 && cond_eval(rs, r, r->unless_root, c->view, &f))
			pending_cancel(rs, i);
	}
	while (rs->nheap && !timer_live(rs, &rs->heap[0])) {
		heap_pop(rs);
		if (rs->nstale > 0)
			rs->nstale--;
	}
}

/* ---- the calendar ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil); m is 1..12. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

int64_t rules_cal_next(const struct rules_trigger *t, int64_t local)
{
	int64_t day = floor_div(local, DAY_MS), cand;
	time_t secs = (time_t)floor_div(local, 1000);
	struct tm tm;

	switch (t->every) {
	case EVERY_DAY:
		cand = day * DAY_MS + t->tod;
		return cand > local ? cand : cand + DAY_MS;
	case EVERY_WEEKDAY:
		/* 1970-01-01 was a Thursday (4, counting from Sunday) */
		cand = (day + floor_mod(t->wday - floor_mod(day + 4, 7), 7)) * DAY_MS + t->tod;
		return cand > local ? cand : cand + 7 * DAY_MS;
	case EVERY_MONTH:
		if (!gmtime_r(&secs, &tm))
			return INT64_MAX;
		for (int k = 0; k < 2; k++) {
			int64_t y = (int64_t)tm.tm_year + 1900 + (tm.tm_mon + k) / 12;
			int m = (tm.tm_mon + k) % 12 + 1;
			int d = t->mday < days_in_month(y, m) ? t->mday : days_in_month(y, m);
			cand = days_from_civil(y, m, d) * DAY_MS + t->tod;
			if (cand > local)
				return cand;
		}
		return INT64_MAX; /* not reached: next month's is always later */
	case EVERY_YEAR:
		if (!gmtime_r(&secs, &tm))
			return INT64_MAX;
		for (int k = 0; k < 2; k++) {
			int64_t y = (int64_t)tm.tm_year + 1900 + k;
			int d = t->mday < days_in_month(y, t->month) ? t->mday
			                                             : days_in_month(y, t->month);
			cand = days_from_civil(y, t->month, d) * DAY_MS + t->tod;
			if (cand > local)
				return cand;
		}
		return INT64_MAX; /* not reached: next year's is always later */
	}
	return INT64_MAX;
}

static void cal_plan(struct ruleset *rs, int64_t from)
{
	for (int i = 0; i < rs->ncal; i++)
		rs->cal_next[i] = rules_cal_next(&rs->rules[rs->cal_rules[i]].trig, from);
}

/* Local time moves on between ticks: fire what it crossed, if the move
 * looks like time passing (0 to 1 h). A bigger leap forward (NTP setting
 * the clock of a board without RTC) or any leap backward re-plans instead,
 * so that nobody gets a burst of stale reminders. A small step back keeps
 * the plan, so that a reminder is not sent twice. */
static void run_calendar(struct call *c)
{
	struct ruleset *rs = c->rs;
	const struct rules_view *v = c->view;
	int64_t local, jump;

	if (!rs->ncal || !v || !v->local_ms)
		return;
	local = v->local_ms(v->ctx);
	jump = local - rs->last_local;
	if (!rs->has_last_local || jump > HOUR_MS || jump < -HOUR_MS) {
		cal_plan(rs, local);
	} else if (jump >= 0) {
		for (int i = 0; i < rs->ncal; i++) {
			int rule = rs->cal_rules[i];
			struct firing f = {
			    .rule = rule, .sensor = -1, .zone = -1, .point = POINT__COUNT};
			if (rs->cal_next[i] > local)
				continue;
			rs->cal_next[i] = rules_cal_next(&rs->rules[rule].trig, local);
			fire_rule(c, &f);
		}
	}
	rs->last_local = local;
	rs->has_last_local = 1;
}

/* ---- the API ---- */

void rules_state_free(struct ruleset *rs)
{
	struct rules_chunk *k = rs->msgs, *n;

	for (; k; k = n) {
		n = k->next;
		free(k);
	}
	free(rs->heap);
	free(rs->pending);
}

int rules_eval(struct ruleset *rs, int sensor, enum sh_point point, int had_old, double old_value,
               double new_value, int64_t now_ms, const struct rules_view *view,
               rules_action_fn emit, void *ctx)
{
	struct call c = {.rs = rs, .now = now_ms, .view = view, .emit = emit, .ctx = ctx};
	int b, end;

	if (!rs || sensor < 0 || sensor >= rs->nsensors || (unsigned)point >= POINT__COUNT)
		return -EINVAL;
	rs->stats.evals++;
	call_begin(&c);
	/* NaN is no reading at all */
	if (isnan(new_value))
		goto out;
	if (had_old && isnan(old_value))
		had_old = 0;

	b = sensor * POINT__COUNT + (int)point;
	end = rs->index[b + 1];
	for (int k = rs->index[b]; k < end; k++) {
		struct rules_entry *e = &rs->entries[k];
		const struct rules_rule *r = &rs->rules[e->rule];
		int fire = 0, clear = 0;
		struct firing f;

		rs->stats.visited++;
		switch (r->trig.type) {
		case TRIG_BECOMES: {
			/* boolean points: any non-zero value is the active state */
			int want = r->trig.state->value != 0, nv = new_value != 0,
			    ov = old_value != 0;
			if (nv == want)
				/* a panic press is an event: every press counts */
				fire = !had_old || ov != nv || (point == POINT_PANIC && nv);
			else
				clear = had_old && ov == want && point != POINT_PANIC;
			break;
		}
		case TRIG_ABOVE:
		case TRIG_BELOW:
			eval_threshold(&r->trig, e, had_old, old_value, new_value, &fire, &clear);
			break;
		case TRIG_RISES:
			eval_rise(&c, r, e, new_value, &fire, &clear);
			break;
		case TRIG_HOLD:
			eval_hold(&c, r, e, new_value, &clear);
			break;
		case TRIG_COUNT:
			/* fires and clears by group, not by this entry */
			eval_count(&c, r, e, point, had_old, old_value, new_value);
			break;
		default:
			break;
		}
		e->seen = 1;
		if (!fire && !clear)
			continue;
		f = sensor_firing(rs, e->rule, sensor, point, new_value);
		if (clear)
			trigger_cleared(&c, &f);
		if (fire)
			fire_rule(&c, &f);
	}
out:
	call_end(&c);
	return c.fired;
}

int rules_eval_alarm(struct ruleset *rs, enum sh_alarm_class cls, int zone, int sensor,
                     int64_t alarm, enum rules_alarm_event ev, int64_t now_ms,
                     const struct rules_view *view, rules_action_fn emit, void *ctx)
{
	struct call c = {.rs = rs, .now = now_ms, .view = view, .emit = emit, .ctx = ctx};
	int b;

	if (!rs || (unsigned)cls >= ALARM__COUNT || (unsigned)ev >= RAE__COUNT || zone < -1 ||
	    zone >= rs->nzones || sensor < -1 || sensor >= rs->nsensors)
		return -EINVAL;
	call_begin(&c);
	b = (int)cls * RAE__COUNT + (int)ev;
	for (int k = rs->alarm_index[b]; k < rs->alarm_index[b + 1]; k++) {
		struct firing f = {.rule = rs->alarm_rules[k],
		                   .sensor = sensor,
		                   .zone = zone,
		                   .alarm = alarm,
		                   .point = POINT__COUNT};
		fire_rule(&c, &f);
	}
	call_end(&c);
	return c.fired;
}

int rules_eval_neighbour(struct ruleset *rs, int neighbour, enum sh_alarm_class cls,
                         enum rules_alarm_event ev, const char *address, int64_t now_ms,
                         const struct rules_view *view, rules_action_fn emit, void *ctx)
{
	struct call c = {.rs = rs, .now = now_ms, .view = view, .emit = emit, .ctx = ctx};
	int b;

	if (!rs || neighbour < 0 || neighbour >= rs->nneighbours || (unsigned)cls >= ALARM__COUNT ||
	    (unsigned)ev >= RAE__COUNT)
		return -EINVAL;
	/* Kept for ${neighbour_address}, also of a delay that runs later. */
	if (address && (!rs->nb_addr[neighbour] || strcmp(rs->nb_addr[neighbour], address))) {
		char *copy = strdup(address);
		if (copy) {
			free(rs->nb_addr[neighbour]);
			rs->nb_addr[neighbour] = copy;
		}
	}
	call_begin(&c);
	b = (int)cls * RAE__COUNT + (int)ev;
	for (int k = rs->nb_index[b]; k < rs->nb_index[b + 1]; k++) {
		struct firing f = {.rule = rs->nb_rules[k],
		                   .sensor = -1,
		                   .zone = -1,
		                   .neighbour = neighbour + 1,
		                   .point = POINT__COUNT};
		fire_rule(&c, &f);
	}
	call_end(&c);
	return c.fired;
}

int rules_eval_mode(struct ruleset *rs, enum sh_mode old_mode, enum sh_mode new_mode,
                    int64_t now_ms, const struct rules_view *view, rules_action_fn emit, void *ctx)
{
	struct call c = {.rs = rs, .now = now_ms, .view = view, .emit = emit, .ctx = ctx};

	if (!rs || (unsigned)old_mode >= MODE__COUNT || (unsigned)new_mode >= MODE__COUNT)
		return -EINVAL;
	if (old_mode != new_mode) {
		rs->mode_since = now_ms;
		rs->mode_changed = 1;
	}
	call_begin(&c);
	for (int k = rs->mode_index[new_mode];
	     old_mode != new_mode && k < rs->mode_index[new_mode + 1]; k++) {
		struct firing f = {
		    .rule = rs->mode_rules[k], .sensor = -1, .zone = -1, .point = POINT__COUNT};
		fire_rule(&c, &f);
	}
	call_end(&c);
	return c.fired;
}

int rules_tick(struct ruleset *rs, int64_t now_ms, const struct rules_view *view,
               rules_action_fn emit, void *ctx)
{
	struct call c = {.rs = rs, .now = now_ms, .view = view, .emit = emit, .ctx = ctx};

	if (!rs)
		return -EINVAL;
	call_begin(&c);
	run_calendar(&c);
	call_end(&c);
	return c.fired;
}

int64_t rules_next_deadline(const struct ruleset *rs, int64_t now_ms, const struct rules_view *view)
{
	int64_t d = INT64_MAX, local;

	if (!rs)
		return INT64_MAX;
	/* every call leaves a live timer on top, or none */
	if (rs->nheap)
		d = rs->heap[0].at;
	if (!rs->ncal || !view || !view->local_ms)
		return d;
	local = view->local_ms(view->ctx);
	for (int i = 0; i < rs->ncal; i++) {
		int64_t next = rs->has_last_local
		                   ? rs->cal_next[i]
		                   : rules_cal_next(&rs->rules[rs->cal_rules[i]].trig, local);
		int64_t at = next <= local ? now_ms : now_ms + (next - local);
		if (next != INT64_MAX && at < d)
			d = at;
	}
	return d;
}
