/*
 * panel.h: the alarm panel: the only place where an alarm changes state.
 *
 * Rules ask for alarms, sirens, outputs, alerts and notifications; the
 * panel decides. One active alarm exists per (class, zone) (per (class,
 * sensor, rule) for faults and supervisory signals), so a detector that
 * keeps reporting smoke, or a second detector in the same room, never
 * raises a second alarm. A contact is alerted at most once per alarm, however
 * many rules ask. Fire and the other alarm classes latch: when their cause
 * clears they become "cleared" but stay active, and the sirens keep
 * sounding, until a person resets them. Faults and supervisory signals end
 * by themselves.
 *
 * Lifecycle: raised -> acknowledged -> silenced -> cleared -> reset.
 * Acknowledge records who; silence stops the sirens, but a new alarm in
 * another zone sounds them again.
 *
 * Ordering, which is the point of this module:
 *   1. sirens are commanded first: the local siren never waits for the disk;
 *   2. the alarm row, its event and its outbox rows are committed (fsync);
 *   3. only then is anything published upstream.
 *
 * The panel has no clock of its own: callers pass monotonic and wall time,
 * and call panel_tick() at panel_next_deadline(), so that the scenario
 * runner can drive it on a virtual clock.
 */
#ifndef SH_PANEL_H
#define SH_PANEL_H

#include <stddef.h>
#include <stdint.h>

#include "../rules/rules.h"
#include "../sensors/point.h"
#include "config.h"

struct outputs;
struct panel;
struct registry;
struct shape_alarm_live;
struct store;
struct upstream;
struct cJSON;

struct panel_deps {
	const struct config *cfg;
	struct store *store;
	struct outputs *outputs;
	struct upstream *up;
	struct registry *reg;
};

/* Restores active alarms, whom they alerted, and the mode from the store,
 * and works out the sirens. Returns NULL on allocation or store failure. */
struct panel *panel_new(const struct panel_deps *d, int64_t mono_ms);
void panel_free(struct panel *p);
void panel_rebind(struct panel *p, const struct config *c);

/* Apply the actions of one evaluation, in order. rs names rules. */
void panel_apply(struct panel *p, const struct rules_action *acts, int n, const struct ruleset *rs,
                 int64_t mono_ms, int64_t wall_ms);

/* Commands. why gets the reason of a refusal. by is who did it. */
/* Acknowledge one alarm (id > 0) or every active one (id 0). Returns the
 * number acknowledged, or -ENOENT. */
int panel_ack(struct panel *p, int64_t id, const char *by, int64_t mono_ms, int64_t wall_ms,
              char *why, size_t whylen);
/* The newest active alarm nobody acknowledged yet, else the newest active
 * one, else 0: what "OK" in an SMS reply acknowledges. */
int64_t panel_newest_alarm(const struct panel *p);
/* Silence the sirens of every active alarm. Returns how many. */
int panel_silence(struct panel *p, const char *by, int64_t mono_ms, int64_t wall_ms);
/* Reset an alarm. Returns 0, -ENOENT (no such active alarm) or -EBUSY (a
 * detector of it still reports; why says which). */
int panel_reset(struct panel *p, int64_t id, const char *by, int64_t mono_ms, int64_t wall_ms,
                char *why, size_t whylen);
/* An alarm the panel raises itself, not a rule: a lock-out of code entry
 * (tamper), a duress code (panic, silent). No detector stands behind it, so
 * nothing blocks its reset. Returns the alarm id, or -1. */
int64_t panel_raise(struct panel *p, enum sh_alarm_class cls, const char *why_msg, int64_t mono_ms,
                    int64_t wall_ms);

/* A fault of the gateway itself (key names it, e.g. "upstream link"):
 * raised when active, cleared (and ended) when not. */
void panel_system_fault(struct panel *p, const char *key, int active, const char *msg,
                        int64_t mono_ms, int64_t wall_ms);

/* Change the mode (persisted). Returns 0. */
int panel_set_mode(struct panel *p, enum sh_mode mode, const char *by, int64_t wall_ms);

enum sh_mode panel_mode(const struct panel *p);

/* Arm (home, night, away) or disarm. Arming is refused while a door or
 * window is open (why lists them) unless force, which bypasses them until
 * disarm, logged. The exit delay is the rules' ("mode is X for 60s").
 * Returns 0 or -EBUSY. */
int panel_arm(struct panel *p, enum sh_mode mode, int force, const char *by, int64_t wall_ms,
              char *why, size_t whylen);

/* Take a sensor or a zone (target: its id) out of service for for_ms (at
 * most 7 days), with a reason; a disabled sensor never triggers. Returns 0,
 * -ENOENT (no such id), -EINVAL. enable ends it (-ENOENT if not disabled);
 * it also ends by itself at its expiry. */
int panel_disable(struct panel *p, const char *target, int64_t for_ms, const char *reason,
                  const char *by, int64_t wall_ms, char *why, size_t whylen);
int panel_enable(struct panel *p, const char *target, const char *by, int64_t wall_ms, char *why,
                 size_t whylen);
/* Disabled (itself or its zone) or bypassed by a forced arming. */
int panel_sensor_disabled(const struct panel *p, int sensor);

/* Walk test of one zone (NULL: the whole site) for at most an hour: what
 * the covered detectors report is recorded as tests and alerts nobody; the
 * sirens chirp only when asked. -EBUSY when one runs, -ENOENT bad zone. */
int panel_test_start(struct panel *p, const char *zone, int sirens, const char *by, int64_t mono_ms,
                     int64_t wall_ms, char *why, size_t whylen);
int panel_test_stop(struct panel *p, const char *by, int64_t wall_ms);
int panel_test_covers(const struct panel *p, int sensor);
void panel_test_activation(struct panel *p, int sensor, enum sh_point point, double value,
                           int64_t mono_ms, int64_t wall_ms);

/* The installer's test of one output (safehousectl test output): on for
 * seconds, then back to its wanted state; recorded as an event of type
 * "test". Refused (-EBUSY) while an alarm is active or the sirens sound,
 * -EINVAL for a valve (on would open it), -ENOENT for an unknown output
 * (why suggests one). */
int panel_test_output(struct panel *p, const char *output, int seconds, const char *by,
                      int64_t wall_ms, char *why, size_t whylen);

/* Adds "disablements", "bypassed" and "test" to a status object. */
void panel_service_json(const struct panel *p, struct cJSON *o);

/* RULES_ALARM_* flags of the active alarm of cls in zone (NULL: any zone,
 * flags of all such alarms or-ed). */
unsigned panel_alarm_flags(const struct panel *p, enum sh_alarm_class cls, const char *zone);

/* The id of the active alarm of cls in zone (NULL: the first of that class
 * anywhere), or 0. */
int64_t panel_find_alarm(const struct panel *p, enum sh_alarm_class cls, const char *zone);

/* Timed work (sirens or outputs "for DURATION"). */
int64_t panel_next_deadline(const struct panel *p, int64_t mono_ms, int64_t wall_ms);
void panel_tick(struct panel *p, int64_t mono_ms, int64_t wall_ms);

/* What the rules must hear about: alarm transitions and mode changes, in
 * order. The caller drains them after every call that changes the panel
 * and feeds them to rules_eval_alarm() / rules_eval_mode(). */
struct panel_event {
	int is_mode;
	enum sh_alarm_class cls;
	char zone[SH_ID_MAX];
	char sensor[SH_ID_MAX];
	int64_t alarm;
	enum rules_alarm_event ev;
	enum sh_mode old_mode, new_mode;
};
/* Queue a "raised" (and "acknowledged", "silenced" as they apply) event for
 * every active alarm, for a rule set that has not seen them: after a
 * restart or a reload, the rules' waiting delays (call the militia if
 * nobody acknowledges within 60 s) start again instead of being lost. */
void panel_replay(struct panel *p);

/* Returns 1 and fills ev when there is one, 0 otherwise. */
int panel_take_event(struct panel *p, struct panel_event *ev);

/* Active alarms, highest priority first, as a JSON array of shape_alarm()
 * objects (caller frees). */
struct cJSON *panel_alarms_json(const struct panel *p);
/* What the panel knows of active alarm id that the store does not (see
 * shape.h). Returns 0, or -ENOENT (then *live is all 0) when id is not
 * active. */
int panel_alarm_live(const struct panel *p, int64_t id, struct shape_alarm_live *live);
/* An alarm is going on that a home-automation panel should show as
 * "triggered": a sounding one, or an intrusion. A silent panic is not (it
 * must not show on a panel an intruder may see). */
int panel_triggered(const struct panel *p);

/* Count of active alarms; faults counts faults and supervisory ones. */
void panel_counts(const struct panel *p, int *alarms, int *faults);

/* Called whenever the set of active alarms or the mode changed. */
void panel_set_changed_cb(struct panel *p, void (*fn)(void *ctx), void *ctx);

#endif
