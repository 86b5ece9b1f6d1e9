/*
 * shape.h: one JSON shape per object the daemon shows: an alarm, a sensor,
 * an event. The control socket (alarms, alarms --all, status, sensors,
 * events) and the MQTT command results build them here and nowhere else,
 * so that a reader sees the same fields whichever way it asked.
 *
 * The upstream feed is a wire format of its own (upstream.c: "site", "seq",
 * null for a missing zone), kept as the militia's software reads it.
 *
 * Every builder returns a new cJSON object the caller owns (frees, or adds
 * to a tree that it frees), or NULL when out of memory.
 */
#ifndef SH_SHAPE_H
#define SH_SHAPE_H

#include <stdint.h>

struct config;
struct cJSON;
struct registry;
struct store_alarm;

/* What only the live panel knows of an alarm: whether its sirens sound
 * now, and whether a `confirmed` rule confirmed it. Both 0 for an alarm
 * that has ended. */
struct shape_alarm_live {
	int sounding;
	int confirmed;
};

/* An alarm: id, class, state, active, zone, zone_name, sensor, rule,
 * [message], raised_at, updated_at, sounding, confirmed, [acknowledged_by],
 * [reset_by]. live may be NULL (an ended alarm). */
struct cJSON *shape_alarm(const struct store_alarm *a, const struct config *c,
                          const struct shape_alarm_live *live);

/* Sensor s (config index): id, name, kind, zone, zone_name, link, state,
 * state_restored, last_seen, [battery], disabled, values. */
struct cJSON *shape_sensor(const struct config *c, const struct registry *reg, int s, int disabled);

/* An event row as store_events_foreach hands it: at, origin, type,
 * [sensor], [point], [value], [detail]. */
struct cJSON *shape_event(const char *at, const char *origin, const char *type, const char *sensor,
                          const char *point, int has_value, double value, const char *detail);

#endif
