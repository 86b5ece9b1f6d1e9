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

#include "../common/cfg_report.h"
#include "point.h"

#define FAMILY_MAX_TOPICS 4
/* A decoder gives at most one value per point for one message (the last one
 * in the message wins, as in JSON.parse), so no cap can hide a field. */
#define FAMILY_MAX_VALUES POINT__COUNT

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

/* The fields a decoder dropped from one message: a field we know (battery,
 * smoke, ...) with a value of the wrong type or out of range is dropped
 * alone and the rest of the message is used. Filled by decode(); owned by
 * the caller. Only the first dropped field is described, for the log. */
struct family_drops {
	int count;              /* known fields dropped from this message */
	const char *field;      /* the first one's name (static), NULL if none */
	const char *reason;     /* static text: "out of range", "not a boolean" */
	enum family_reject why; /* REJECT_BAD_TYPE or REJECT_BAD_VALUE */
	char value[40];         /* its value as sent, shortened, for the log */
};

/* An output command, as the panel asks for it. */
struct family_output_cmd {
	int siren;             /* 1 for sirens and strobes, 0 for relays/valves */
	int on;                /* 1 on, 0 off */
	enum sh_siren pattern; /* fire, burglar, emergency; SIREN_OFF = fire */
	int duration_s;        /* siren on-time; 0 = device default */
};

/* A device's "mqtt" object in the config. config.c fills topic, format,
 * is_output and kind, and hands the family-specific keys to the family's
 * configure(), which keeps what it parsed in opts. Owned by the config;
 * config_free() calls the family's free_opts(opts). */
struct family_binding {
	char *topic;       /* the device's topic as configured (may be NULL) */
	char *format;      /* the family's name */
	int is_output;     /* 1: an output (siren, relay); 0: a sensor */
	int siren;         /* outputs: 1 for sirens and strobes */
	int duration_s;    /* outputs: the on-time per command (for limits) */
	enum sh_kind kind; /* sensors: the sensor's kind; outputs: KIND_GENERIC */
	void *opts;        /* the family's parsed options; NULL when it has none */
};

struct cJSON;

struct family {
	const char *name;

	/* The keys of the "mqtt" object this family accepts besides "topic"
	 * and "format" (NULL-terminated; NULL: none). Any other key is an
	 * error of the config, reported by config.c. */
	const char *const *keys;

	/* 1 when the family's devices run on the mains (a Tasmota board):
	 * its sensors then default to "power": "mains" and 10 min
	 * supervision instead of a battery device's 2 h. */
	int mains_powered;

	/* Parse and check this family's keys of mqtt into b->opts, reporting
	 * every problem through cfg in one pass. Returns 0, or -1 when
	 * something was reported as an error (b->opts may still be set and is
	 * freed with free_opts). NULL: the family has no options. */
	int (*configure)(struct family_binding *b, const struct cJSON *mqtt,
	                 const struct cfg_report *cfg);
	/* Free what configure() put in b->opts (called only when it is set). */
	void (*free_opts)(struct family_binding *b);

	/* The topics to subscribe for a sensor bound by b. Writes up to
	 * FAMILY_MAX_TOPICS NUL-terminated topics of size 256 into out and
	 * returns how many. */
	int (*topics)(const struct family_binding *b, char out[][256], int max);

	/* Decode one message that arrived on topic number `which` of topics().
	 * Field by field: every good field is used, a bad one is dropped
	 * alone and described in *drops (may be NULL), unknown keys are
	 * skipped whatever they hold. Fills out[] (at most FAMILY_MAX_VALUES,
	 * one per point) and sets *n; returns 0. The whole message is refused
	 * (negative return, *why set, nothing filled) only when it is too
	 * large, not JSON, not an object, or has no usable field; then *drops
	 * describes the bad fields that left nothing usable, if any. */
	int (*decode)(const struct family_binding *b, int which, const void *payload, size_t len,
	              struct sh_point_value *out, int *n, enum family_reject *why,
	              struct family_drops *drops);

	/* Encode an output command for the output bound by b into buf
	 * (NUL-terminated). The command is published on the output's
	 * configured topic. Returns the payload length or a negative error. */
	int (*encode_output)(const struct family_binding *b, const struct family_output_cmd *cmd,
	                     char *buf, size_t size);
};

/* The family with this name, or NULL. */
const struct family *family_find(const char *name);

/* Free what a binding owns (topic, format, the family's opts); the struct
 * itself is the caller's. */
void family_binding_free(struct family_binding *b);

/* NULL-terminated list of family names, for hints. */
extern const char *const family_names[];

/* The largest payload any family accepts; larger ones are rejected before
 * parsing so that a 300 kB message costs nothing. Generous: it only
 * protects memory, and a z2m device with a big "update" object or long
 * strings must not lose its smoke field to it. */
#define FAMILY_MAX_PAYLOAD 65536

extern const struct family family_zigbee2mqtt;
extern const struct family family_tasmota;
extern const struct family family_shelly;
extern const struct family family_json;

#endif
