/*
 * family.h: payload families (zigbee2mqtt, and later tasmota, shelly, json).
 *
 * A family turns the MQTT messages of one device into point values, and
 * turns an output command into the device's MQTT payload. Each family is one
 * .c file exporting one const vtable; family_find() is the only place that
 * lists them, so adding a family is one new file plus one line.
 */
#ifndef SH_FAMILY_H
#define SH_FAMILY_H

#include <stddef.h>

#include "point.h"

#define FAMILY_MAX_TOPICS 4
#define FAMILY_MAX_VALUES 16

/* Why a payload was not used; counted per reason by the daemon. */
enum family_reject {
	REJECT_NONE,
	REJECT_TOO_LARGE,
	REJECT_NOT_JSON,
	REJECT_NOT_OBJECT,
	REJECT_TOO_DEEP,
	REJECT_BAD_TYPE,
	REJECT_NO_FIELDS,
	REJECT_BAD_VALUE,
	REJECT_UNKNOWN_TOPIC,
	REJECT__COUNT
};

const char *family_reject_name(enum family_reject r);

/* An output command, as the panel asks for it. */
struct family_output_cmd {
	int siren;           /* 1 for sirens and strobes, 0 for relays/valves */
	int on;              /* 1 on, 0 off */
	const char *pattern; /* fire, burglar, emergency; NULL = fire */
	int duration_s;      /* siren on-time; 0 = device default */
};

struct family {
	const char *name;

	/* The topics to subscribe for a device whose configured topic is base.
	 * Writes up to FAMILY_MAX_TOPICS NUL-terminated topics of size
	 * topic_size into out and returns how many. */
	int (*topics)(const char *base, char out[][256], int max);

	/* Decode one message that arrived on topic number `which` of topics().
	 * Fills out[] (at most FAMILY_MAX_VALUES) and sets *n. Returns 0, or a
	 * negative error with *why set to the reason (nothing is filled). */
	int (*decode)(int which, const void *payload, size_t len, struct sh_point_value *out,
		      int *n, enum family_reject *why);

	/* Encode an output command into buf (NUL-terminated). The command is
	 * published on the output's configured topic. Returns the payload
	 * length or a negative error. */
	int (*encode_output)(const struct family_output_cmd *cmd, char *buf, size_t size);
};

/* The family with this name, or NULL. */
const struct family *family_find(const char *name);

/* NULL-terminated list of family names, for hints. */
extern const char *const family_names[];

/* The largest payload any family accepts; larger ones are rejected before
 * parsing so that a 300 kB message costs nothing. */
#define FAMILY_MAX_PAYLOAD 16384

extern const struct family family_zigbee2mqtt;
extern const struct family family_tasmota;

#endif
