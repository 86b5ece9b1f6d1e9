/*
 * panel.h: the alarm panel: the only place where an alarm changes state.
 *
 * Rules ask for alarms, sirens and alerts; the panel decides. One active
 * alarm exists per (class, zone) (per (class, sensor, rule) for faults and
 * supervisory signals), so a detector that keeps reporting smoke, or a
 * second detector in the same room, never raises a second alarm or a second
 * alert. Fire and the other alarm classes latch: when their cause clears
 * they become "cleared" but stay active, and the sirens keep sounding, until
 * a person resets them. Faults and supervisory signals end by themselves.
 *
 * Ordering, which is the point of this module:
 *   1. sirens are commanded first: the local siren never waits for the disk;
 *   2. the alarm row, its event and its outbox rows are committed (fsync);
 *   3. only then is anything published upstream.
 */
#ifndef SH_PANEL_H
#define SH_PANEL_H

#include <stddef.h>
#include <stdint.h>

#include "../rules/rules.h"
#include "../sensors/point.h"

struct config;
struct outputs;
struct panel;
struct registry;
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

/* Restores active alarms from the store and works out the sirens. Returns
 * NULL on allocation or store failure. */
struct panel *panel_new(const struct panel_deps *d);
void panel_free(struct panel *p);
void panel_rebind(struct panel *p, const struct config *c);

/* Apply the actions of one rules_eval() call, in order. rs names rules. */
void panel_apply(struct panel *p, const struct rules_action *acts, int n,
		 const struct ruleset *rs, int64_t wall_ms);

/* Reset an alarm. Returns 0, -ENOENT (no such active alarm) or -EBUSY (a
 * detector of it still reports; why says which). */
int panel_reset(struct panel *p, int64_t id, const char *by, int64_t wall_ms, char *why,
		size_t whylen);

enum sh_mode panel_mode(const struct panel *p);

/* Active alarms, highest priority first, as a JSON array (caller frees). */
struct cJSON *panel_alarms_json(const struct panel *p);
/* Count of active alarms; faults counts faults and supervisory ones. */
void panel_counts(const struct panel *p, int *alarms, int *faults);

/* Called whenever the set of active alarms changed (for the status). */
void panel_set_changed_cb(struct panel *p, void (*fn)(void *ctx), void *ctx);

#endif
