/*
 * rules_int.h: the compiled form of a rule set, shared by the parser
 * (rules_parse.c), the compiler (rules.c) and the engine (rules_eval.c).
 * Internal to rules/.
 *
 * A rule is one trigger, an optional condition tree, an optional delay
 * (after/unless) and a list of actions whose struct rules_action is
 * prepared at compile time, so that firing a rule only copies templates
 * and fills in sensor, zone and value.
 *
 * Run-time state: per (rule, sensor, point) in struct rules_entry; what a
 * hold, a count or a rate of rise needs besides lives in side arrays that
 * the entry names by index (aux), so that the entries the hot path walks
 * stay small. Every timer (delays, holds, count windows, rise windows) is
 * one min-heap on the monotonic clock.
 */
#ifndef SH_RULES_INT_H
#define SH_RULES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/diag.h"
#include "rules.h"

enum rules_sel_type {
	SEL_KIND,   /* every sensor of a kind, optionally in one zone */
	SEL_SENSOR, /* one sensor */
	SEL_ZONE,   /* every sensor of a zone */
	SEL_ANY,    /* every sensor */
};

struct rules_sel {
	enum rules_sel_type type;
	int kind;   /* SEL_KIND */
	int sensor; /* SEL_SENSOR */
	int zone;   /* SEL_ZONE, or SEL_KIND restricted to a zone; else -1 */
	/* SEL_ZONE, SEL_KIND: every zone of this kind (index into the
	 * compile's zone kinds) instead of one zone; else -1 */
	int zone_kind;
	int line, col;
};

enum rules_trig_type {
	TRIG_BECOMES,   /* a boolean point enters a state */
	TRIG_ABOVE,     /* a numeric point goes above a threshold */
	TRIG_BELOW,     /* a numeric point goes below a threshold */
	TRIG_RISES,     /* a numeric point rises by threshold within ms */
	TRIG_HOLD,      /* a point stays in a state for ms */
	TRIG_COUNT,     /* count distinct sensors of a kind entering a state within ms */
	TRIG_EVERY,     /* a calendar occurrence in local time */
	TRIG_ALARM,     /* an alarm transition reported by the panel */
	TRIG_MODE,      /* the panel mode changed */
	TRIG_NEIGHBOUR, /* a neighbour's alarm transition (its feed) */
};

enum rules_every { EVERY_DAY, EVERY_WEEKDAY, EVERY_MONTH, EVERY_YEAR };

struct rules_trigger {
	enum rules_trig_type type;
	struct rules_sel sel;
	/* TRIG_BECOMES: the state; its point, or the primary point of each
	 * sensor's kind when state->point is POINT__COUNT. */
	const struct sh_state *state;
	/* TRIG_ABOVE/BELOW: the point, POINT__COUNT for the kind's default. */
	enum sh_point point;
	double threshold;
	int has_rearm;
	double rearm; /* clear below (ABOVE) / clear above (BELOW) */
	/* RISES: the window; HOLD: how long; COUNT: the window */
	int64_t ms;
	/* COUNT: sel is the kind (no zone), state the state, count the N;
	 * per_zone counts each zone apart, else the whole site */
	int count;
	int per_zone;
	/* EVERY */
	enum rules_every every;
	int wday;    /* 0 = Sunday, as struct tm */
	int mday;    /* 1..31; a shorter month uses its last day */
	int month;   /* EVERY_YEAR: 1..12 */
	int64_t tod; /* ms since local midnight */
	/* ALARM, NEIGHBOUR */
	enum sh_alarm_class cls;
	enum rules_alarm_event ev;
	/* MODE */
	enum sh_mode mode;
};

enum rules_cond_op {
	COND_AND,
	COND_OR,
	COND_NOT,
	COND_MODE,      /* mode is MODE */
	COND_SENSOR_IS, /* sensor is STATE */
	COND_ZONE_IS,   /* some sensor of zone is STATE */
	COND_TIME,      /* local time of day in [from, to), wrapping midnight */
	COND_ALARM,     /* alarm CLASS [in site] is FLAG */
};

/* Condition nodes live in one array per rule and name children by index. */
struct rules_cond {
	enum rules_cond_op op;
	int a, b; /* children: AND, OR (a, b), NOT (a) */
	enum sh_mode mode;
	int64_t ms; /* MODE: held at least this long ("mode is X for 60s"); 0 any */
	int sensor;
	enum sh_point point;
	double value;
	int zone;                     /* ZONE_IS: one zone, or -1 */
	int zone_kind;                /* ZONE_IS: every zone of this kind, or -1 */
	const struct sh_state *state; /* ZONE_IS */
	int64_t from, to;             /* TIME: ms since local midnight */
	enum sh_alarm_class cls;      /* ALARM */
	unsigned flag;                /* ALARM: RULES_ALARM_* */
	int site;                     /* ALARM: any zone, whatever the firing's */
};

/* What an action template needs besides its struct rules_action. */
struct rules_act_ext {
	int templated; /* message holds ${...}: expand when firing */
	int cancel;    /* >= 0: not emitted; cancels that rule's delays; -1 */
};

struct rules_rule {
	char *name;
	int file; /* index into ruleset files */
	int line, col;
	int trig_ok; /* the trigger parsed and resolved: it can be indexed */
	struct rules_trigger trig;
	struct rules_cond *cond;
	int ncond, cond_cap, ncond_over;
	int cond_root;                /* -1: no condition */
	int64_t after;                /* after DURATION; 0: actions run at once */
	int unless_root;              /* -1: no unless */
	struct rules_action *actions; /* templates; rule/sensor/zone/value filled when firing */
	struct rules_act_ext *ext;    /* one per action */
	int nactions, actions_cap;
	enum sh_alarm_class clear_cls; /* class of the first alarm action, for RA_CLEARED */
	int aux;                       /* COUNT: first group; EVERY: calendar slot */
	int naux;                      /* COUNT: groups */
	int slot0, nslot;              /* COUNT: its slots */
};

/* One (rule, sensor, point) the engine can visit, with that pair's state. */
struct rules_entry {
	int rule;
	int aux;              /* HOLD, COUNT, RISES: index into holds, slots, rises */
	unsigned char seen;   /* this rule set has evaluated this entry before */
	unsigned char active; /* ABOVE/BELOW: the threshold is crossed, not re-armed */
};

/* A `for` hold of one (rule, sensor). */
struct rules_hold {
	int rule, sensor;
	enum sh_point point;
	uint32_t gen;           /* bumped to cancel the armed timer */
	unsigned char in_state; /* the point is in the rule's state */
	unsigned char done;     /* held long enough: the trigger fired */
	double value;
};

/* One sensor's part in a count. */
struct rules_slot {
	int rule, sensor, group;
	uint32_t gen;
	unsigned char in_state; /* in the state, however long ago it entered */
	unsigned char counted;  /* entered within the window: counts */
	unsigned char cause;    /* the sensor of a firing not cleared yet */
};

/* A count per zone, or for the site. */
struct rules_group {
	int nwin;            /* slots counted (entered within the window, still in) */
	int nin;             /* slots in the state */
	unsigned char fired; /* nwin reached N; re-armed when it drops below */
	unsigned char cause; /* some slot is a firing's cause, not cleared yet */
};

#define RULES_RISE_SAMPLES 32

/* Rate of rise of one (rule, sensor): the readings that can still be the
 * lowest of the window, oldest first, values increasing (a monotonic
 * queue), so that the minimum is the front. */
struct rules_rise {
	int rule, sensor;
	uint32_t gen;
	unsigned char active; /* fired, not re-armed */
	int head, n;
	double last;
	struct {
		int64_t t;
		double v;
	} s[RULES_RISE_SAMPLES];
};

enum rules_timer_kind { TM_DELAY, TM_HOLD, TM_COUNT, TM_RISE };

/* A heap node; stale when gen no longer matches its object's (lazy
 * cancellation: cancelling is a counter increment). */
struct rules_timer {
	int64_t at;
	uint64_t seq; /* ties run in the order they were set */
	uint32_t gen;
	unsigned char kind;
	int ref;
};

/* A delayed firing (after DURATION), waiting for its time. Its identity is
 * (rule, sensor, zone, alarm). */
struct rules_pending {
	int rule, sensor, zone;
	int64_t alarm;
	int neighbour; /* index + 1 of the neighbour that fired it; 0 none */
	double value;
	enum sh_point point;
	uint32_t gen;
	unsigned char live;
	unsigned char has_value; /* fired by a reading: value means something */
	unsigned char cleared;   /* the trigger cleared while waiting */
};

/* Expanded messages: chunks that never move, emptied at each call. */
struct rules_chunk {
	struct rules_chunk *next;
	size_t used, size;
	char data[];
};

struct ruleset {
	struct rules_rule *rules;
	int nrules, rules_cap;
	char **files;
	int nfiles;
	char **strs; /* action messages */
	int nstrs, strs_cap;

	/* Copied from the site: the rule set must not keep it. */
	int nsensors, nzones;
	int *sensor_zone;
	int *zone_kind; /* per zone: index into the compile's zone kinds, -1 none */
	unsigned char *sensor_kind;
	char **sensor_id, **sensor_label, **zone_id, **zone_label;
	int *zone_first, *zone_sensors; /* sensors of zone z: zone_first[z] .. [z + 1] */

	/* index[s * POINT__COUNT + p] .. index[s * POINT__COUNT + p + 1] are the
	 * entries for sensor s and point p, in rule order. */
	int *index;
	struct rules_entry *entries;
	int nentries;

	/* Triggers that are not readings, by rule order: rules by alarm class
	 * and event, by mode, and the calendar rules. */
	int *alarm_index; /* [cls * RAE__COUNT + ev] .. [+ 1] into alarm_rules */
	int *alarm_rules;
	int *mode_index; /* [mode] .. [mode + 1] into mode_rules */
	int *mode_rules;
	int *nb_index; /* [cls * RAE__COUNT + ev] .. [+ 1] into nb_rules */
	int *nb_rules;
	/* The neighbour group: ids copied from the site; the address each
	 * one's feed gave last (NULL: none yet), owned. */
	int nneighbours;
	char **nb_id, **nb_addr;
	int *cal_rules;
	int64_t *cal_next; /* planned occurrence, local ms, per calendar rule */
	int ncal;
	int64_t now;        /* monotonic time of the call being served */
	int64_t mode_since; /* when the mode last changed (rules_eval_mode) */
	int mode_changed;   /* 0: unchanged since compile: held "forever" */
	int64_t last_local; /* local time of the last rules_tick */
	int has_last_local;

	struct rules_hold *holds;
	int nholds;
	struct rules_slot *slots;
	int nslots;
	struct rules_group *groups;
	int ngroups;
	struct rules_rise *rises;
	int nrises;
	int primed; /* holds looked at the view once, after a reload */

	struct rules_timer *heap;
	int nheap, heap_cap, nstale;
	uint64_t seq;

	struct rules_pending *pending;
	int npending, pending_cap, nlive;

	struct rules_chunk *msgs;

	struct rules_stats stats;
};

/* Compile context: one per rules_compile_*() call. */
/* A `cancel "name"`, resolved when every file has been read. */
struct rules_cancel_ref {
	int rule, action;
	int file, line, col;
	char *name;
};

/* Open-addressing table from names to indices, for lookups that would
 * otherwise be quadratic in big sites and rule sets. */
struct rules_names {
	const char **keys;
	int *vals;
	int cap, n;
};

struct rules_cc {
	const struct rules_site *site; /* never NULL: an empty site stands in */
	struct ruleset *rs;
	/* NULL-terminated id lists for sh_suggest() */
	const char **sensor_ids, **zone_ids, **contact_ids, **output_ids;
	struct rules_names sensor_names, zone_names, contact_names, output_names, rule_names;
	/* The kinds a rule may name, NULL-terminated (the site's zone_kinds,
	 * or the kinds its zones have), and each zone's kind among them (-1:
	 * none); the same for outputs. */
	const char **zone_kinds, **output_kinds;
	struct rules_names zone_kind_names, output_kind_names;
	int *zone_kind, *output_kind;
	struct rules_cancel_ref *cancels;
	int ncancels, cancels_cap;
	struct diag_list diags; /* sorted and reported by cc_finish; counts errors */
	int oom;
};

/* Record a diagnostic at file:line:col (line 0: the file as a whole). */
void rules_cc_diag(struct rules_cc *cc, int file, int line, int col, int severity, const char *fmt,
                   ...) __attribute__((format(printf, 6, 7)));

/* Copy s into the rule set; NULL (and cc->oom) when out of memory. */
char *rules_cc_strdup(struct rules_cc *cc, const char *s);

/* Index of name in t, or -1. */
int rules_names_find(const struct rules_names *t, const char *name);
/* Add name (not copied: it must outlive t) -> val; -ENOMEM. */
int rules_names_add(struct rules_names *t, const char *name, int val);

/* Parse one file's text into cc->rs. Errors go to cc; returns 0, or -ENOMEM. */
int rules_parse(struct rules_cc *cc, int file, const char *text, size_t len);

/* The names a message may use as ${name}; NULL-terminated. */
extern const char *const rules_template_names[];

/* Longest duration anywhere in the language: 31 days. */
#define RULES_MAX_MS (31LL * 24 * 3600 * 1000)

/* Calendar arithmetic on local ms since the epoch (no time zone: the
 * offset is already in). The next occurrence of an `every` trigger
 * strictly after local. */
int64_t rules_cal_next(const struct rules_trigger *t, int64_t local);

/* Free what the engine allocated as it ran (timers, delays, messages). */
void rules_state_free(struct ruleset *rs);

#endif
