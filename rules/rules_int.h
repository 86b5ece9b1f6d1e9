/*
 * rules_int.h: the compiled form of a rule set, shared by the parser
 * (rules_parse.c) and the engine (rules.c). Internal to rules/.
 *
 * A rule is one trigger, an optional condition tree and a list of actions
 * whose struct rules_action is prepared at compile time, so that firing a
 * rule only copies templates and fills in sensor, zone and value.
 *
 * Room for the next language version: a trigger type per kind of trigger
 * (count, every, rises come as new enum values with their own fields), and
 * per-rule modifiers (for, after/unless) as new fields of struct rules_rule;
 * per-(rule, sensor) run-time state lives in struct rules_entry, the one
 * place where timers and counters will go.
 */
#ifndef SH_RULES_INT_H
#define SH_RULES_INT_H

#include <stdint.h>

#include "../gateway/config.h"
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
	int line, col;
};

enum rules_trig_type {
	TRIG_BECOMES, /* a boolean point enters a state */
	TRIG_ABOVE,   /* a numeric point goes above a threshold */
	TRIG_BELOW,   /* a numeric point goes below a threshold */
};

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
};

enum rules_cond_op {
	COND_AND,
	COND_OR,
	COND_NOT,
	COND_MODE,      /* mode is MODE */
	COND_SENSOR_IS, /* sensor is STATE */
};

/* Condition nodes live in one array per rule and name children by index. */
struct rules_cond {
	enum rules_cond_op op;
	int a, b; /* children: AND, OR (a, b), NOT (a) */
	enum sh_mode mode;
	int sensor;
	enum sh_point point;
	double value;
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
	struct rules_action *actions; /* templates; rule/sensor/zone/value filled when firing */
	int nactions, actions_cap;
};

/* One (rule, sensor, point) the engine can visit, with that pair's state. */
struct rules_entry {
	int rule;
	unsigned char seen;   /* this rule set has evaluated this entry before */
	unsigned char active; /* ABOVE/BELOW: the threshold is crossed, not re-armed */
};

struct ruleset {
	struct rules_rule *rules;
	int nrules, rules_cap;
	char **files;
	int nfiles;
	char **strs; /* action messages */
	int nstrs, strs_cap;

	/* Copied from the config: the rule set must not keep it. */
	int nsensors;
	int *sensor_zone;

	/* index[s * POINT__COUNT + p] .. index[s * POINT__COUNT + p + 1] are the
	 * entries for sensor s and point p, in rule order. */
	int *index;
	struct rules_entry *entries;
	int nentries;

	struct rules_stats stats;
};

struct rules_diag_rec {
	int file, line, col; /* line 0: no position */
	int severity;
	int seq;
	char *text;
};

/* Compile context: one per rules_compile_*() call. */
struct rules_cc {
	const struct config *cfg;
	struct ruleset *rs;
	/* NULL-terminated id lists for sh_suggest() */
	const char **sensor_ids, **zone_ids, **contact_ids;
	struct rules_diag_rec *diags;
	int ndiags, diags_cap;
	int nerrors, nwarnings;
	int oom;
};

/* Record a diagnostic at file:line:col (line 0: the file as a whole). */
void rules_cc_diag(struct rules_cc *cc, int file, int line, int col, int severity, const char *fmt,
                   ...) __attribute__((format(printf, 6, 7)));

/* Copy s into the rule set; NULL (and cc->oom) when out of memory. */
char *rules_cc_strdup(struct rules_cc *cc, const char *s);

/* Parse one file's text into cc->rs. Errors go to cc; returns 0, or -ENOMEM. */
int rules_parse(struct rules_cc *cc, int file, const char *text, size_t len);

#endif
