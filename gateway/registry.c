/*
 * registry.c: per-sensor point values in flat arrays indexed by the
 * config's sensor index.
 */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct sensor_state {
	char id[SH_ID_MAX];
	double value[POINT__COUNT];
	uint32_t known;    /* bit per point */
	uint32_t restored; /* bit per point: the value is from before a restart */
	int64_t last_seen;
	int64_t heard_mono;
	int dirty;  /* REGISTRY_DIRTY_* */
	int urgent; /* on the registry's urgent list */
	/* The numeric points' last values in the event log (engine.c): slot
	 * of num_slot; rec_at 0 when it came from before a restart. */
	double rec_value[2];
	int64_t rec_at[2];
	unsigned char rec_known; /* bit per slot */
};

/* A numeric point's slot in rec_value, or -1. */
static int num_slot(enum sh_point p)
{
	return p == POINT_TEMPERATURE ? 1 : p == POINT_BATTERY ? 0 : -1;
}

struct registry {
	struct sensor_state *s;
	int n;
	int *urgent; /* sensors marked urgent, in marking order; room for n */
	int nurgent;
};

struct registry *registry_new(const struct config *c)
{
	struct registry *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (registry_rebind(r, c) < 0) {
		registry_free(r);
		return NULL;
	}
	return r;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	free(r->s);
	free(r->urgent);
	free(r);
}

int registry_rebind(struct registry *r, const struct config *c)
{
	struct sensor_state *ns = calloc((size_t)(c->nsensors ? c->nsensors : 1), sizeof(*ns));
	int *nu = calloc((size_t)(c->nsensors ? c->nsensors : 1), sizeof(*nu));
	if (!ns || !nu) {
		free(ns);
		free(nu);
		return -1;
	}
	for (int i = 0; i < c->nsensors; i++) {
		snprintf(ns[i].id, sizeof(ns[i].id), "%s", c->sensors[i].id);
		for (int j = 0; j < r->n; j++)
			if (strcmp(r->s[j].id, ns[i].id) == 0) {
				ns[i] = r->s[j];
				break;
			}
	}
	free(r->s);
	free(r->urgent);
	r->s = ns;
	r->n = c->nsensors;
	/* A sensor marked urgent and still configured stays marked, at its
	 * new index; one removed is gone with its state. */
	r->urgent = nu;
	r->nurgent = 0;
	for (int i = 0; i < r->n; i++)
		if (ns[i].urgent)
			r->urgent[r->nurgent++] = i;
	return 0;
}

int registry_update(struct registry *r, int sensor, enum sh_point p, double value, int64_t wall_ms,
                    int *had_old, double *old)
{
	struct sensor_state *s;
	uint32_t bit = 1u << p;
	if (sensor < 0 || sensor >= r->n || (unsigned)p >= POINT__COUNT)
		return 0;
	s = &r->s[sensor];
	s->last_seen = wall_ms;
	s->restored &= ~bit; /* heard now, even if unchanged */
	*had_old = (s->known & bit) != 0;
	*old = s->value[p];
	/* Panic is an event: every press is news. */
	if (*had_old && s->value[p] == value && p != POINT_PANIC)
		return 0;
	s->value[p] = value;
	s->known |= bit;
	/* A numeric point's row waits until the engine records the value
	 * (registry_set_recorded): a sensor whose temperature moves by
	 * tenths every minute does not rewrite its row every minute. */
	if (num_slot(p) < 0)
		s->dirty |= REGISTRY_DIRTY_STATE;
	return 1;
}

void registry_restore(struct registry *r, int sensor, enum sh_point p, double value)
{
	if (sensor < 0 || sensor >= r->n || (unsigned)p >= POINT__COUNT)
		return;
	r->s[sensor].value[p] = value;
	r->s[sensor].known |= 1u << p;
	r->s[sensor].restored |= 1u << p;
	if (num_slot(p) >= 0) {
		r->s[sensor].rec_value[num_slot(p)] = value;
		r->s[sensor].rec_at[num_slot(p)] = 0;
		r->s[sensor].rec_known |= (unsigned char)(1u << num_slot(p));
	}
}

int registry_recorded(const struct registry *r, int sensor, enum sh_point p, double *value,
                      int64_t *at_mono)
{
	int k = num_slot(p);
	if (sensor < 0 || sensor >= r->n || k < 0 || !(r->s[sensor].rec_known & (1u << k)))
		return -1;
	*value = r->s[sensor].rec_value[k];
	*at_mono = r->s[sensor].rec_at[k];
	return 0;
}

void registry_set_recorded(struct registry *r, int sensor, enum sh_point p, double value,
                           int64_t at_mono)
{
	int k = num_slot(p);
	if (sensor < 0 || sensor >= r->n || k < 0)
		return;
	r->s[sensor].rec_value[k] = value;
	r->s[sensor].rec_at[k] = at_mono;
	r->s[sensor].rec_known |= (unsigned char)(1u << k);
	r->s[sensor].dirty |= REGISTRY_DIRTY_NUMERIC;
}

int registry_take_dirty_one(struct registry *r, int sensor)
{
	int d;
	if (sensor < 0 || sensor >= r->n)
		return 0;
	d = r->s[sensor].dirty;
	r->s[sensor].dirty = 0;
	return d;
}

int registry_dirty(const struct registry *r, int sensor)
{
	return sensor >= 0 && sensor < r->n ? r->s[sensor].dirty : 0;
}

int registry_restored(const struct registry *r, int sensor, enum sh_point p)
{
	if (sensor < 0 || sensor >= r->n || (unsigned)p >= POINT__COUNT)
		return 0;
	return (r->s[sensor].restored & (1u << p)) != 0;
}

void registry_seen(struct registry *r, int sensor, int64_t wall_ms)
{
	if (sensor >= 0 && sensor < r->n)
		r->s[sensor].last_seen = wall_ms;
}

void registry_heard(struct registry *r, int sensor, int64_t mono_ms)
{
	if (sensor >= 0 && sensor < r->n)
		r->s[sensor].heard_mono = mono_ms;
}

int64_t registry_heard_at(const struct registry *r, int sensor)
{
	return sensor >= 0 && sensor < r->n ? r->s[sensor].heard_mono : 0;
}

int registry_get(const struct registry *r, int sensor, enum sh_point p, double *value)
{
	if (sensor < 0 || sensor >= r->n || (unsigned)p >= POINT__COUNT)
		return -1;
	if (!(r->s[sensor].known & (1u << p)))
		return -1;
	*value = r->s[sensor].value[p];
	return 0;
}

int64_t registry_last_seen(const struct registry *r, int sensor)
{
	return sensor >= 0 && sensor < r->n ? r->s[sensor].last_seen : 0;
}

void registry_counts(const struct registry *r, int *online, int *offline, int *unknown)
{
	*online = *offline = *unknown = 0;
	for (int i = 0; i < r->n; i++) {
		const struct sensor_state *s = &r->s[i];
		if (s->known & (1u << POINT_ONLINE))
			(s->value[POINT_ONLINE] != 0 ? (*online)++ : (*offline)++);
		else if (s->last_seen)
			(*online)++; /* reports without availability: alive */
		else
			(*unknown)++;
	}
}

int registry_mark_urgent(struct registry *r, int sensor)
{
	if (sensor < 0 || sensor >= r->n || r->s[sensor].urgent)
		return 0;
	r->s[sensor].urgent = 1;
	r->urgent[r->nurgent++] = sensor;
	return 1;
}

void registry_take_urgent(struct registry *r, registry_dirty_fn fn, void *ctx)
{
	int n = r->nurgent;
	r->nurgent = 0;
	for (int k = 0; k < n; k++) {
		int i = r->urgent[k];
		r->s[i].urgent = 0;
		r->s[i].dirty = 0; /* saved now: not again at the next snapshot */
		fn(ctx, i);
	}
}

void registry_take_dirty(struct registry *r, registry_dirty_fn fn, void *ctx)
{
	for (int i = 0; i < r->n; i++)
		if (r->s[i].dirty) {
			r->s[i].dirty = 0;
			fn(ctx, i);
		}
}
