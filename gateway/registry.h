/*
 * registry.h: the last known state of every sensor.
 *
 * A point changes only on a real change, so a sensor that repeats the same
 * report every minute triggers nothing; every report still counts as a sign
 * of life (last_seen). Points start unknown after a (re)start, unless the
 * daemon restores them from the store (registry_restore): unknown is neither
 * clear nor offline.
 */
#ifndef SH_REGISTRY_H
#define SH_REGISTRY_H

#include <stdint.h>

#include "../sensors/point.h"

struct config;
struct registry;

struct registry *registry_new(const struct config *c);
void registry_free(struct registry *r);

/* Re-point the registry at a new config after a reload, keeping the state of
 * sensors whose id survived. Returns 0 or -1 (the old state is kept). */
int registry_rebind(struct registry *r, const struct config *c);

/* Record a value. Returns 1 when the point changed (then *had_old and *old
 * tell what it was), 0 when it is the same as before. */
int registry_update(struct registry *r, int sensor, enum sh_point p, double value, int64_t wall_ms,
                    int *had_old, double *old);

/* A value known before a restart (the store's last saved state): known,
 * marked restored until the sensor reports that point again, not dirty,
 * and no sign of life. registry_restored says whether a point is such a
 * "last known before restart" value. */
void registry_restore(struct registry *r, int sensor, enum sh_point p, double value);
int registry_restored(const struct registry *r, int sensor, enum sh_point p);

/* A report arrived (even one that changed nothing). */
void registry_seen(struct registry *r, int sensor, int64_t wall_ms);

/* The monotonic time of the sensor's last report of any kind (0: none since
 * start). Supervision runs on this, not on the wall clock, so an NTP jump on
 * a board without an RTC cannot make every sensor look silent. */
void registry_heard(struct registry *r, int sensor, int64_t mono_ms);
int64_t registry_heard_at(const struct registry *r, int sensor);

/* 0 and *value when known, -1 when unknown. */
int registry_get(const struct registry *r, int sensor, enum sh_point p, double *value);
int64_t registry_last_seen(const struct registry *r, int sensor);

/* Counts for status: online, offline, unknown (never reported). */
void registry_counts(const struct registry *r, int *online, int *offline, int *unknown);

/* A numeric point's (temperature, battery) last value in the event log and
 * the monotonic time it was recorded (0: restored from before a restart):
 * 0, or -1 when none. The engine records a numeric reading only when it
 * moved far enough from this one (engine.c, record_numeric). A restored
 * value counts as recorded. */
int registry_recorded(const struct registry *r, int sensor, enum sh_point p, double *value,
                      int64_t *at_mono);
void registry_set_recorded(struct registry *r, int sensor, enum sh_point p, double value,
                           int64_t at_mono);

/* Why a sensor's saved row (the store's sensors table) is out of date: a
 * state point changed (door, smoke, online: registry_update), or a numeric
 * point was recorded (registry_set_recorded). A numeric change that was
 * not recorded does not make the row dirty. */
#define REGISTRY_DIRTY_STATE 1
#define REGISTRY_DIRTY_NUMERIC 2
int registry_dirty(const struct registry *r, int sensor);
/* The sensor's dirty bits, cleared: its row is being saved now. */
int registry_take_dirty_one(struct registry *r, int sensor);

/* Visit sensors whose state changed since the last call (for the store). */
typedef void (*registry_dirty_fn)(void *ctx, int sensor);
void registry_take_dirty(struct registry *r, registry_dirty_fn fn, void *ctx);

/* A sensor whose state must be saved soon, not at the next snapshot (a
 * state point changed). Marking one already marked does
 * nothing, so a door that changes fifty times in one read burst is saved
 * once. registry_take_urgent visits the marked sensors in marking order
 * and clears their marks and their dirty flags. */
int registry_mark_urgent(struct registry *r, int sensor); /* 1: newly marked */
void registry_take_urgent(struct registry *r, registry_dirty_fn fn, void *ctx);

#endif
