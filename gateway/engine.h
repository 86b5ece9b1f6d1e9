/*
 * engine.h: the path from a reading to an action, without any I/O of its
 * own: registry -> rules -> panel, and panel transitions back into the
 * rules. The daemon drives it from MQTT and its loop's timers; the scenario
 * runner (safehoused --test) drives the very same code on a virtual clock.
 *
 * Every call takes the monotonic and the wall-clock time (UTC ms); local
 * time for calendar rules is the wall time plus the offset of the process's
 * time zone (TZ, set from site.timezone by the caller).
 */
#ifndef SH_ENGINE_H
#define SH_ENGINE_H

#include <stdint.h>

#include "../rules/rules.h"
#include "../sensors/point.h"

struct config;
struct engine;
struct panel;
struct registry;
struct store;

/* None of the arguments is owned; they must outlive the engine (or be
 * replaced with engine_rebind). start_mono is when supervision starts
 * counting for sensors not heard from yet. */
struct engine *engine_new(const struct config *cfg, struct ruleset *rs, struct registry *reg,
                          struct panel *panel, struct store *store, int64_t start_mono);
void engine_free(struct engine *e);
/* After a reload; call it while the old config is still alive (the panic
 * buttons' pending returns are carried over by sensor id). */
void engine_rebind(struct engine *e, const struct config *cfg, struct ruleset *rs);

/* A report from a sensor: one decoded message (n may be 0: a sign of life
 * that carries nothing we use). It counts for supervision; a sensor held
 * offline comes back online with it; every changed point goes through the
 * rules and is recorded as an event (origin says who reported it). */
void engine_report(struct engine *e, int sensor, const struct sh_point_value *vals, int n,
                   const char *origin, int64_t mono_ms, int64_t wall_ms);

/* A sensor's last known values from before a restart (the store). They go
 * into the registry marked restored, without firing rules, except a hazard
 * state (smoke, heat, gas, CO, water detected), which goes through the rules
 * like a reading (origin "restore"): a detector that was in alarm still
 * counts as in alarm. Online and panic are not restored. */
void engine_restore(struct engine *e, int sensor, const struct sh_point_value *vals, int n,
                    int64_t mono_ms, int64_t wall_ms);

/* Supervision: a sensor silent past its supervision_s (timed from its last
 * report, or from the start) goes offline, which rules turn into a fault.
 * Call it about once a second. */
void engine_supervise(struct engine *e, int64_t mono_ms, int64_t wall_ms);

/* After a panel command (ack, silence, reset, mode): let the rules hear
 * about the transitions it made. */
void engine_settle(struct engine *e, int64_t mono_ms, int64_t wall_ms);

/* A panic press is an event. Its state returns to "released" on the
 * sensor's next message without a press, or ENGINE_PANIC_RETURN_MS after
 * the press (engine_tick), so that Home Assistant shows OFF again. Every
 * press still reaches the rules, two in a row included. */
#define ENGINE_PANIC_RETURN_MS 5000

/* Timed work of the rules and the panel, and the panic buttons' return. */
int64_t engine_next_deadline(struct engine *e, int64_t mono_ms, int64_t wall_ms);
void engine_tick(struct engine *e, int64_t mono_ms, int64_t wall_ms);

/* A neighbour's alarm transition (neighbours.h): through the rules'
 * `when neighbour CLASS becomes EVENT`, recorded as an event. neighbour
 * indexes the config's neighbours; address may be NULL. */
void engine_neighbour(struct engine *e, int neighbour, enum sh_alarm_class cls,
                      enum rules_alarm_event ev, const char *address, int64_t mono_ms,
                      int64_t wall_ms);

/* Local time (ms) for a wall time, in the process's time zone. */
int64_t engine_local_ms(int64_t wall_ms);

#endif
