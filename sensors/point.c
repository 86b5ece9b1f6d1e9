/*
 * point.c: names of kinds, points, states, classes and modes.
 */
#include "point.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const sh_kind_names[] = {"smoke", "heat",    "gas",    "co",    "water",
                                     "door",  "window",  "motion", "panic", "siren_feedback",
                                     "power", "generic", NULL};

static const char *const point_names[] = {
    "smoke",  "heat",  "gas",    "co",      "water",       "contact",
    "motion", "panic", "tamper", "battery", "battery_low", "temperature",
    "online", "test",  "mains",  "fault",   "sounding",    NULL};

const char *const sh_class_names[] = {"fire",   "gas",         "panic", "intrusion",
                                      "tamper", "supervisory", "fault", NULL};

const char *const sh_mode_names[] = {"disarmed", "armed_home", "armed_night", "armed_away", NULL};

const char *const sh_alarm_state_names[] = {"raised",  "acknowledged", "silenced",
                                            "cleared", "reset",        NULL};

const char *const sh_siren_names[] = {"off", "fire", "burglar", "emergency", NULL};
const char *const *const sh_siren_patterns = &sh_siren_names[1];

static const struct sh_state states[] = {
    {"detected", POINT__COUNT, 1}, {"clear", POINT__COUNT, 0},     {"open", POINT_CONTACT, 1},
    {"closed", POINT_CONTACT, 0},  {"pressed", POINT_PANIC, 1},    {"tampered", POINT_TAMPER, 1},
    {"online", POINT_ONLINE, 1},   {"offline", POINT_ONLINE, 0},   {"low", POINT_BATTERY_LOW, 1},
    {"ok", POINT_BATTERY_LOW, 0},  {"mains_lost", POINT_MAINS, 0}, {"mains_ok", POINT_MAINS, 1},
    {"faulty", POINT_FAULT, 1},    {"fault_ok", POINT_FAULT, 0},   {"sounding", POINT_SOUNDING, 1},
    {"silent", POINT_SOUNDING, 0},
};

const char *const sh_state_words[] = {"detected",   "clear",    "open",    "closed",   "pressed",
                                      "tampered",   "online",   "offline", "low",      "ok",
                                      "mains_lost", "mains_ok", "faulty",  "fault_ok", "sounding",
                                      "silent",     NULL};

static int index_of(const char *const *names, const char *s)
{
	if (!s)
		return -1;
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *sh_kind_name(enum sh_kind k)
{
	return (unsigned)k < KIND__COUNT ? sh_kind_names[k] : "?";
}

int sh_kind_from_name(const char *s)
{
	return index_of(sh_kind_names, s);
}

const char *sh_point_name(enum sh_point p)
{
	return (unsigned)p < POINT__COUNT ? point_names[p] : "?";
}

int sh_point_from_name(const char *s)
{
	/* The store asks with sh_point_name's own strings: no compare. */
	for (int i = 0; point_names[i]; i++)
		if (point_names[i] == s)
			return i;
	return index_of(point_names, s);
}

int sh_point_is_numeric(enum sh_point p)
{
	return p == POINT_BATTERY || p == POINT_TEMPERATURE;
}

const char *sh_class_name(enum sh_alarm_class c)
{
	return (unsigned)c < ALARM__COUNT ? sh_class_names[c] : "?";
}

int sh_class_from_name(const char *s)
{
	return index_of(sh_class_names, s);
}

const char *sh_alarm_state_name(enum sh_alarm_state st)
{
	return (unsigned)st < ALARM_STATE__COUNT ? sh_alarm_state_names[st] : "?";
}

int sh_alarm_state_from_name(const char *s)
{
	return index_of(sh_alarm_state_names, s);
}

const char *sh_siren_name(enum sh_siren sp)
{
	return (unsigned)sp < SIREN__COUNT ? sh_siren_names[sp] : "?";
}

int sh_siren_from_name(const char *s)
{
	return index_of(sh_siren_names, s);
}

const char *sh_class_label_vi(enum sh_alarm_class c)
{
	static const char *const labels[] = {
	    "BÁO CHÁY",    "RÒ RỈ KHÍ GAS",     "BÁO ĐỘNG KHẨN CẤP (SOS)",
	    "ĐỘT NHẬP",    "PHÁ HOẠI THIẾT BỊ", "CẢNH BÁO GIÁM SÁT",
	    "LỖI THIẾT BỊ"};
	return (unsigned)c < ALARM__COUNT ? labels[c] : "?";
}

int sh_class_priority(enum sh_alarm_class c)
{
	/* The enum is already in priority order: fire > gas > panic >
	 * intrusion > tamper > supervisory > fault. */
	return (int)c;
}

const char *sh_mode_name(enum sh_mode m)
{
	return (unsigned)m < MODE__COUNT ? sh_mode_names[m] : "?";
}

int sh_mode_from_name(const char *s)
{
	return index_of(sh_mode_names, s);
}

enum sh_point sh_kind_primary_point(enum sh_kind k)
{
	switch (k) {
	case KIND_SMOKE:
		return POINT_SMOKE;
	case KIND_HEAT:
		return POINT_HEAT;
	case KIND_GAS:
		return POINT_GAS;
	case KIND_CO:
		return POINT_CO;
	case KIND_WATER:
		return POINT_WATER;
	case KIND_DOOR:
	case KIND_WINDOW:
		return POINT_CONTACT;
	case KIND_MOTION:
		return POINT_MOTION;
	case KIND_PANIC:
		return POINT_PANIC;
	case KIND_POWER:
		return POINT_MAINS;
	case KIND_SIREN_FEEDBACK:
		return POINT_SOUNDING;
	default:
		return POINT__COUNT;
	}
}

enum sh_point sh_kind_numeric_point(enum sh_kind k)
{
	(void)k;
	return POINT_TEMPERATURE;
}

const struct sh_state *sh_state_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(states[i].name, name) == 0)
			return &states[i];
	return NULL;
}

const char *sh_state_name(enum sh_point p, double v)
{
	int on = v != 0;
	switch (p) {
	case POINT_CONTACT:
		return on ? "open" : "closed";
	case POINT_PANIC:
		return on ? "pressed" : "released";
	case POINT_TAMPER:
		return on ? "tampered" : "clear";
	case POINT_ONLINE:
		return on ? "online" : "offline";
	case POINT_BATTERY_LOW:
		return on ? "low" : "ok";
	case POINT_TEST:
		return on ? "test" : "normal";
	case POINT_MAINS:
		return on ? "mains_ok" : "mains_lost";
	case POINT_FAULT:
		return on ? "faulty" : "fault_ok";
	case POINT_SOUNDING:
		return on ? "sounding" : "silent";
	case POINT_BATTERY:
	case POINT_TEMPERATURE:
		return NULL;
	default:
		return on ? "detected" : "clear";
	}
}

/* Levenshtein distance, bounded: names here are short. */
static int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int prev[64], cur[64];
	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			int del = prev[j] + 1, ins = cur[j - 1] + 1;
			int m = sub < del ? sub : del;
			cur[j] = m < ins ? m : ins;
		}
		memcpy(prev, cur, sizeof(int) * (lb + 1));
	}
	return prev[lb];
}

const char *sh_suggest(const char *word, const char *const *names)
{
	const char *best = NULL;
	int bestd = 3;
	for (int i = 0; names && names[i]; i++) {
		int d = distance(word, names[i]);
		if (d < bestd) {
			bestd = d;
			best = names[i];
		}
	}
	return best;
}

/* 90s, 2m, 1h30m, 500ms, 0s, 2d. */
int sh_parse_duration(const char *s, int64_t *ms)
{
	int64_t total = 0;
	if (!*s)
		return -1;
	while (*s) {
		char *end;
		long long v;
		int64_t unit;
		if (!isdigit((unsigned char)*s))
			return -1;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || end == s)
			return -1;
		s = end;
		if (strncmp(s, "ms", 2) == 0) {
			unit = 1;
			s += 2;
		} else if (*s == 's') {
			unit = 1000;
			s++;
		} else if (*s == 'm') {
			unit = 60000;
			s++;
		} else if (*s == 'h') {
			unit = 3600000;
			s++;
		} else if (*s == 'd') {
			unit = 86400000;
			s++;
		} else {
			return -1;
		}
		if (v > 366LL * 86400000 / unit)
			return -1;
		total += v * unit;
	}
	*ms = total;
	return 0;
}
