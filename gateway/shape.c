/*
 * shape.c: the JSON shapes of an alarm, a sensor and an event.
 */
#include "shape.h"

#include <cjson/cJSON.h>

#include "config.h"
#include "registry.h"
#include "store.h"

cJSON *shape_alarm(const struct store_alarm *a, const struct config *c,
                   const struct shape_alarm_live *live)
{
	cJSON *o = cJSON_CreateObject();
	int z = a->zone ? config_zone_index(c, a->zone) : -1;
	char at[32];
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)a->id);
	cJSON_AddStringToObject(o, "class", sh_class_name(a->cls));
	cJSON_AddStringToObject(o, "state", sh_alarm_state_name(a->state));
	cJSON_AddBoolToObject(o, "active", a->active);
	cJSON_AddStringToObject(o, "zone", a->zone ? a->zone : "");
	/* A zone a reload removed still shows by its id. */
	cJSON_AddStringToObject(o, "zone_name", z >= 0 ? c->zones[z].name : a->zone ? a->zone : "");
	/* The gateway's own faults have a pseudo-sensor ("-gateway") for their
	 * cause; nobody outside should see it. */
	cJSON_AddStringToObject(o, "sensor", a->sensor && a->sensor[0] != '-' ? a->sensor : "");
	cJSON_AddStringToObject(o, "rule", a->rule ? a->rule : "");
	if (a->message)
		cJSON_AddStringToObject(o, "message", a->message);
	store_format_time(a->raised_ms, at, sizeof(at));
	cJSON_AddStringToObject(o, "raised_at", at);
	store_format_time(a->updated_ms, at, sizeof(at));
	cJSON_AddStringToObject(o, "updated_at", at);
	cJSON_AddBoolToObject(o, "sounding", live && live->sounding);
	cJSON_AddBoolToObject(o, "confirmed", live && live->confirmed);
	if (a->acked_by)
		cJSON_AddStringToObject(o, "acknowledged_by", a->acked_by);
	if (a->reset_by)
		cJSON_AddStringToObject(o, "reset_by", a->reset_by);
	return o;
}

cJSON *shape_sensor(const struct config *c, const struct registry *reg, int s, int disabled)
{
	const struct config_sensor *cs = &c->sensors[s];
	enum sh_point pp = sh_kind_primary_point(cs->kind);
	int64_t seen = registry_last_seen(reg, s);
	cJSON *o = cJSON_CreateObject(), *vals;
	double v;
	char at[32];
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "id", cs->id);
	cJSON_AddStringToObject(o, "name", cs->name);
	cJSON_AddStringToObject(o, "kind", sh_kind_name(cs->kind));
	cJSON_AddStringToObject(o, "zone", c->zones[cs->zone].id);
	cJSON_AddStringToObject(o, "zone_name", c->zones[cs->zone].name);
	if (registry_get(reg, s, POINT_ONLINE, &v) == 0)
		cJSON_AddStringToObject(o, "link", v ? "online" : "offline");
	else
		cJSON_AddStringToObject(o, "link", seen ? "online" : "unknown");
	if (pp != POINT__COUNT && registry_get(reg, s, pp, &v) == 0)
		cJSON_AddStringToObject(o, "state", sh_state_name(pp, v));
	else
		cJSON_AddStringToObject(o, "state", "unknown");
	/* The state is the one saved before the restart: not heard since. */
	cJSON_AddBoolToObject(o, "state_restored",
	                      pp != POINT__COUNT && registry_restored(reg, s, pp));
	if (seen) {
		store_format_time(seen, at, sizeof(at));
		cJSON_AddStringToObject(o, "last_seen", at);
	} else {
		cJSON_AddNullToObject(o, "last_seen");
	}
	if (registry_get(reg, s, POINT_BATTERY, &v) == 0)
		cJSON_AddNumberToObject(o, "battery", v);
	cJSON_AddBoolToObject(o, "disabled", disabled);
	vals = cJSON_AddObjectToObject(o, "values");
	for (int p = 0; p < POINT__COUNT; p++)
		if (registry_get(reg, s, (enum sh_point)p, &v) == 0)
			cJSON_AddNumberToObject(vals, sh_point_name((enum sh_point)p), v);
	return o;
}

cJSON *shape_event(const char *at, const char *origin, const char *type, const char *sensor,
                   const char *point, int has_value, double value, const char *detail)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "at", at ? at : "");
	cJSON_AddStringToObject(o, "origin", origin ? origin : "");
	cJSON_AddStringToObject(o, "type", type ? type : "");
	if (sensor)
		cJSON_AddStringToObject(o, "sensor", sensor);
	if (point)
		cJSON_AddStringToObject(o, "point", point);
	if (has_value)
		cJSON_AddNumberToObject(o, "value", value);
	if (detail)
		cJSON_AddStringToObject(o, "detail", detail);
	return o;
}
