/*
 * z2m_discover.h: what a paired zigbee2mqtt device is, read from what it
 * says it can do: one entry of the retained BASE/bridge/devices message
 * (its definition.exposes), classified as a sensor of one kind, a siren of
 * one command form (z2m_siren.h's table), or nothing, with the reason.
 *
 * Never a guess: a device whose exposes do not say what it detects (an IAS
 * "alarm" that names no heat, a button with scene names, a plug) is
 * refused with the reason, for the installer to declare by hand.
 *
 * No I/O. Used by safehousectl discover and check-devices (gateway/discover.c).
 */
#ifndef SH_Z2M_DISCOVER_H
#define SH_Z2M_DISCOVER_H

#include <stddef.h>

#include "point.h"

struct cJSON;

enum z2m_discover_what { Z2M_DISCOVER_NONE, Z2M_DISCOVER_SENSOR, Z2M_DISCOVER_SIREN };
enum z2m_power { Z2M_POWER_UNKNOWN, Z2M_POWER_BATTERY, Z2M_POWER_MAINS };

struct z2m_discover_class {
	enum z2m_discover_what what;
	enum sh_kind kind; /* sensors */
	const char *siren; /* sirens: the form's name (static) */
	enum z2m_power power;
	char why[256]; /* how it was classified, or why it could not be */
};

/* Classify one element of bridge/devices. Returns 0 (out filled; what may
 * be NONE with the reason in why), or -1 when dev is the coordinator or
 * not an object (nothing to propose). */
int z2m_discover_classify(const struct cJSON *dev, struct z2m_discover_class *out);

/* 0 when exposes carry what a sensor of kind reads, else -1 with the
 * reason in why ("exposes no \"smoke\""). */
int z2m_discover_kind_ok(const struct cJSON *exposes, enum sh_kind kind, char *why, size_t len);

/* Helpers on an exposes array (also used by z2m_siren.c): the top-level
 * entry whose "property" (or "name") is prop, or NULL; a composite's
 * feature of that name; whether an entry's access has the SET bit. */
const struct cJSON *z2m_expose_find(const struct cJSON *exposes, const char *prop);
const struct cJSON *z2m_expose_feature(const struct cJSON *composite, const char *name);
int z2m_expose_settable(const struct cJSON *e);

#endif
