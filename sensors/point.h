/*
 * point.h: the domain vocabulary shared by decoders, the registry, the
 * rule engine and the panel: sensor kinds, points, the states that rules
 * name, and alarm classes.
 *
 * Every point holds a double. Boolean points use 1 for the "active" state
 * (detected, open, pressed, tampered, online, low) and 0 for the other, so
 * that one representation serves the registry, the rules and the store.
 */
#ifndef SH_POINT_H
#define SH_POINT_H

#include <stddef.h>
#include <stdint.h>

enum sh_kind {
	KIND_SMOKE,
	KIND_HEAT,
	KIND_GAS,
	KIND_CO,
	KIND_WATER,
	KIND_DOOR,
	KIND_WINDOW,
	KIND_MOTION,
	KIND_PANIC,
	KIND_SIREN_FEEDBACK,
	KIND_POWER,
	KIND_GENERIC,
	KIND__COUNT
};

enum sh_point {
	POINT_SMOKE,
	POINT_HEAT, /* boolean heat alarm of a heat detector */
	POINT_GAS,
	POINT_CO,
	POINT_WATER,
	POINT_CONTACT, /* 1 = open, 0 = closed (z2m's contact is inverted) */
	POINT_MOTION,
	POINT_PANIC, /* 1 = pressed; an event, every press counts */
	POINT_TAMPER,
	POINT_BATTERY,     /* percent, numeric */
	POINT_BATTERY_LOW, /* 1 = low */
	POINT_TEMPERATURE, /* degrees Celsius, numeric */
	POINT_ONLINE,      /* 1 = online, 0 = offline */
	POINT_TEST,        /* 1 = device self-test active */
	POINT_MAINS,       /* 1 = mains present */
	POINT_FAULT,       /* 1 = the device reports a fault of its own */
	POINT_SOUNDING,    /* 1 = the siren (or relay) reports it is on */
	POINT__COUNT
};

enum sh_alarm_class {
	ALARM_FIRE,
	ALARM_GAS,
	ALARM_PANIC,
	ALARM_INTRUSION,
	ALARM_TAMPER,
	ALARM_SUPERVISORY,
	ALARM_FAULT,
	ALARM__COUNT
};

enum sh_mode { MODE_DISARMED, MODE_ARMED_HOME, MODE_ARMED_NIGHT, MODE_ARMED_AWAY, MODE__COUNT };

/* Where an alarm is in its lifecycle: raised -> acknowledged -> silenced ->
 * cleared -> reset. The names are those of the store's "state" column, the
 * feed and the control socket. */
enum sh_alarm_state {
	ALARM_RAISED,
	ALARM_ACKNOWLEDGED,
	ALARM_SILENCED,
	ALARM_CLEARED,
	ALARM_RESET,
	ALARM_STATE__COUNT
};

/* What the sirens sound. SIREN_OFF is silence (also "no pattern" of a
 * silent alarm); the others are the patterns a rule may name. */
enum sh_siren { SIREN_OFF, SIREN_FIRE, SIREN_BURGLAR, SIREN_EMERGENCY, SIREN__COUNT };

/* A state word of the rule language ("detected", "open", ...). */
struct sh_state {
	const char *name;
	/* POINT__COUNT means "the primary point of the sensor's kind" */
	enum sh_point point;
	double value;
};

/* One decoded value of one point. */
struct sh_point_value {
	enum sh_point point;
	double value;
};

/* Name <-> enum. The *_from_name functions return -1 when unknown. */
const char *sh_kind_name(enum sh_kind k);
int sh_kind_from_name(const char *s);
const char *sh_point_name(enum sh_point p);
int sh_point_from_name(const char *s);
int sh_point_is_numeric(enum sh_point p);
const char *sh_class_name(enum sh_alarm_class c);
int sh_class_from_name(const char *s);
/* Vietnamese label of a class, for human messages ("BÁO CHÁY"). */
const char *sh_class_label_vi(enum sh_alarm_class c);
/* Class priority: 0 is the highest (fire). */
int sh_class_priority(enum sh_alarm_class c);
const char *sh_mode_name(enum sh_mode m);
int sh_mode_from_name(const char *s);
const char *sh_alarm_state_name(enum sh_alarm_state st);
int sh_alarm_state_from_name(const char *s);
/* "off", "fire", "burglar", "emergency". */
const char *sh_siren_name(enum sh_siren sp);
int sh_siren_from_name(const char *s);

/* The point a kind's "detected"/"clear" refers to; POINT__COUNT if none. */
enum sh_point sh_kind_primary_point(enum sh_kind k);
/* The numeric point that "above"/"below" test for a kind by default. */
enum sh_point sh_kind_numeric_point(enum sh_kind k);

/* Look up a state word; NULL when unknown. The result is static. */
const struct sh_state *sh_state_lookup(const char *name);
/* Human name of a point value, e.g. (POINT_CONTACT, 1) -> "open". */
const char *sh_state_name(enum sh_point p, double value);

/* A duration: 500ms, 90s, 2m, 1h30m, 2d (up to 366 days) into ms. Returns
 * 0, or -1 when it is not one. Shared by everything a person types. */
int sh_parse_duration(const char *s, int64_t *ms);

/* The closest name in a NULL-terminated list within edit distance 2, or NULL;
 * used for "did you mean" hints. */
const char *sh_suggest(const char *word, const char *const *names);

extern const char *const sh_kind_names[];        /* NULL-terminated */
extern const char *const sh_class_names[];       /* NULL-terminated */
extern const char *const sh_mode_names[];        /* NULL-terminated */
extern const char *const sh_state_words[];       /* NULL-terminated */
extern const char *const sh_alarm_state_names[]; /* NULL-terminated */
extern const char *const sh_siren_names[];       /* NULL-terminated, "off" first */
/* The patterns a rule may name: sh_siren_names without "off". */
extern const char *const *const sh_siren_patterns;

#endif
