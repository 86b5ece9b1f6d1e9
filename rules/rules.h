/*
 * rules.h: the rule language: compile rule files against a site, then
 * evaluate readings into actions.
 *
 * The module is pure: it does no I/O besides reading the rule files at
 * compile time, has no clock of its own (time is passed in) and never talks
 * to MQTT or SQLite. The daemon feeds it point changes and applies the
 * actions it returns; tests drive it with a virtual clock.
 */
#ifndef SH_RULES_H
#define SH_RULES_H

#include <stdint.h>

#include "../sensors/point.h"

/* One sensor as the rules see it. */
struct rules_site_sensor {
	const char *id;    /* what rules name it by; NULL is shown as "?" */
	const char *label; /* what messages call it (${sensor}); NULL: the id */
	enum sh_kind kind;
	int zone; /* index into rules_site.zones, or -1 */
};

struct rules_site_zone {
	const char *id;    /* NULL is shown as "?" */
	const char *label; /* ${zone}; NULL: the id */
	const char *kind;  /* room, kitchen, exit...: what `zone kind X` selects; NULL: none */
};

/* One output (siren, strobe, relay, valve) as the rules see it. */
struct rules_site_output {
	const char *id;   /* output "id" on|off */
	const char *kind; /* output kind valve off; NULL: none */
	int zone;         /* index into rules_site.zones, or -1 */
};

/* What the compiler needs to know about the site, and nothing else of the
 * daemon's configuration: the daemon fills it (config_rules_site()), tests
 * may write one by hand. Indices are what rule actions and readings carry
 * (rules_action.sensor, .zone, .output, .contacts; rules_eval's sensor).
 * The compiler reads it only during rules_compile_*() and copies what the
 * engine needs later, so the caller may free it (and the strings) as soon
 * as the compile returns. NULL, or an empty site, is a site with nothing:
 * every id a rule names is unknown. */
struct rules_site {
	const struct rules_site_sensor *sensors;
	int nsensors;
	const struct rules_site_zone *zones;
	int nzones;
	const char *const *contacts; /* contact ids (alert, notify) */
	int ncontacts;
	const struct rules_site_output *outputs;
	int noutputs;
	/* Every zone kind and every output kind the site's config accepts,
	 * NULL-terminated: a rule naming a kind outside them is an error (with
	 * a suggestion), one that the site merely has none of is a warning, so
	 * that the shipped model compiles for every house. NULL: the kinds the
	 * site's zones (outputs) have are all there is. */
	const char *const *zone_kinds;
	const char *const *output_kinds;
	/* The neighbour group's site ids (`when neighbour CLASS becomes
	 * EVENT`, ${neighbour}); index = rules_eval_neighbour's neighbour. */
	const char *const *neighbours;
	int nneighbours;
};

/* severity: 0 error, 1 warning. msg is "FILE:LINE:COL: text" ("FILE: text"
 * for a file that cannot be read); the text does not say "warning", the
 * severity does. Messages come sorted by file, then position. */
typedef void (*rules_diag_fn)(void *ctx, int severity, const char *msg);

struct ruleset;

/* Compile the given files (in order) into one rule set. All errors in all
 * files are reported in one pass through diag. Returns NULL if there was at
 * least one error; *nerrors (if not NULL) receives the error count and
 * *nwarnings the warning count. The caller owns the result. */
struct ruleset *rules_compile_files(const char *const *files, int nfiles,
                                    const struct rules_site *site, rules_diag_fn diag, void *ctx,
                                    int *nerrors, int *nwarnings);

/* Same, from one in-memory text; name is used in messages. */
struct ruleset *rules_compile_string(const char *text, const char *name,
                                     const struct rules_site *site, rules_diag_fn diag, void *ctx,
                                     int *nerrors, int *nwarnings);

void rules_free(struct ruleset *rs);

int rules_count(const struct ruleset *rs);
const char *rules_name(const struct ruleset *rs, int rule);

/* What the panel says about alarms, as flags (rules_view.alarm). */
#define RULES_ALARM_ACTIVE 0x1   /* an active alarm exists (not yet reset) */
#define RULES_ALARM_ACKED 0x2    /* it has been acknowledged */
#define RULES_ALARM_SILENCED 0x4 /* its sirens were silenced */
#define RULES_ALARM_CLEARED 0x8  /* its cause has cleared (latched, awaiting reset) */

/* Alarm transitions the panel reports (rules_eval_alarm). */
enum rules_alarm_event {
	RAE_RAISED,
	RAE_ACKNOWLEDGED,
	RAE_SILENCED,
	RAE_CLEARED,
	RAE_RESET,
	RAE__COUNT
};

/* The world as the engine sees it while evaluating conditions. Any
 * callback may be NULL: then points are unknown, the mode is disarmed, no
 * alarm is active, and calendar triggers and time windows never match. */
struct rules_view {
	void *ctx;
	/* Current value of a point; return 0 and set *value when known,
	 * -1 when unknown. */
	int (*point)(void *ctx, int sensor, enum sh_point p, double *value);
	enum sh_mode (*mode)(void *ctx);
	/* RULES_ALARM_* flags of the active alarm of class cls in zone, or of
	 * any active alarm of that class when zone is -1; 0 when none. */
	unsigned (*alarm)(void *ctx, enum sh_alarm_class cls, int zone);
	/* Local wall-clock time in ms since the epoch: UTC plus the site's
	 * UTC offset (Asia/Ho_Chi_Minh: +7 h). */
	int64_t (*local_ms)(void *ctx);
};

enum rules_action_type {
	RA_ALARM,     /* raise an alarm of class in zone */
	RA_CLEARED,   /* the cause of what rule raised for sensor has cleared;
	               * cls is the class of the rule's first alarm action
	               * (ALARM__COUNT if it has none) */
	RA_SIREN_ON,  /* all sirens on with pattern [for duration_ms] */
	RA_SIREN_OFF, /* all sirens off */
	RA_ALERT,     /* alert contacts */
	RA_OUTPUT,    /* output on/off [for duration_ms] */
	RA_NOTIFY,    /* information to contacts: message */
	RA_SET_MODE,  /* set the panel mode */
};

enum rules_priority { PRIO_DEFAULT, PRIO_LOW, PRIO_NORMAL, PRIO_URGENT };

#define RULES_MAX_CONTACTS 8

/* One action. pattern points into the rule set (valid until rules_free());
 * message is expanded (${sensor} ...) into storage of the rule set that is
 * valid until the next call into it. Actions of one rule firing come in
 * source order and share rule, sensor, zone and alarm. A firing that no
 * sensor caused (a calendar trigger) has sensor and zone -1. */
struct rules_action {
	enum rules_action_type type;
	int rule;                /* index of the rule that fired */
	int sensor;              /* sensor whose reading fired it, or -1 */
	int zone;                /* that sensor's zone (or the alarm's), or -1 */
	int64_t alarm;           /* the alarm whose transition fired it, or 0 */
	double value;            /* the reading's value */
	enum sh_alarm_class cls; /* RA_ALARM (ALARM_FAULT for a `fault`) */
	int confirmed;           /* RA_ALARM: `alarm CLASS confirmed` */
	const char *message;     /* RA_ALARM, RA_NOTIFY: text or NULL */
	enum sh_siren pattern;   /* RA_SIREN_ON: fire, burglar, emergency */
	int64_t duration_ms;     /* RA_SIREN_ON, RA_OUTPUT: 0 = until told otherwise */
	int output;              /* RA_OUTPUT: config output index */
	int on;                  /* RA_OUTPUT: 1 on, 0 off */
	enum sh_mode mode;       /* RA_SET_MODE */
	int ncontacts;           /* RA_ALERT, RA_NOTIFY */
	int contacts[RULES_MAX_CONTACTS];
	enum rules_priority priority; /* RA_ALERT */
	int64_t repeat_ms; /* RA_ALERT `every DURATION`: again while the alarm lasts; 0 once */
};

typedef void (*rules_action_fn)(void *ctx, const struct rules_action *a);

/* Feed one point change of one sensor. had_old is 0 when the point had no
 * value before (unknown). Calls emit for every action, synchronously, in
 * order. now_ms is the monotonic time in milliseconds. Returns the number of
 * rules that fired (an RA_CLEARED is not a firing), or -EINVAL for a sensor
 * or point out of range. The rule set keeps per-(rule, sensor) state for
 * thresholds, so it belongs to one thread; emit must not free it. view may
 * be NULL (then every condition sees unknown values); emit may be NULL. */
int rules_eval(struct ruleset *rs, int sensor, enum sh_point point, int had_old, double old_value,
               double new_value, int64_t now_ms, const struct rules_view *view,
               rules_action_fn emit, void *ctx);

/* An alarm transition reported by the panel: fires `when alarm CLASS
 * becomes EVENT` triggers (zone and sensor are the alarm's; alarm is its
 * id, passed through into the actions) and re-checks pending `unless`
 * conditions. Returns the number of rules that fired. */
int rules_eval_alarm(struct ruleset *rs, enum sh_alarm_class cls, int zone, int sensor,
                     int64_t alarm, enum rules_alarm_event ev, int64_t now_ms,
                     const struct rules_view *view, rules_action_fn emit, void *ctx);

/* A neighbour's alarm transition, from its alarm feed: fires `when
 * neighbour CLASS becomes EVENT` triggers. neighbour indexes
 * rules_site.neighbours; address (its feed's, may be NULL) is what
 * ${neighbour_address} says, kept until that neighbour's next call. The
 * actions have sensor and zone -1 and alarm 0: the alarm is not ours.
 * Returns the number of rules that fired, or -EINVAL. */
int rules_eval_neighbour(struct ruleset *rs, int neighbour, enum sh_alarm_class cls,
                         enum rules_alarm_event ev, const char *address, int64_t now_ms,
                         const struct rules_view *view, rules_action_fn emit, void *ctx);

/* The panel mode changed: fires `when mode becomes MODE` triggers and
 * re-checks pending `unless` conditions. */
int rules_eval_mode(struct ruleset *rs, enum sh_mode old_mode, enum sh_mode new_mode,
                    int64_t now_ms, const struct rules_view *view, rules_action_fn emit, void *ctx);

/* Do what is due at now_ms (monotonic): delayed actions (`after`), held
 * states (`for`), and calendar triggers (`every`, on view->local_ms). The
 * daemon calls it at rules_next_deadline() and at least once a minute, so
 * that a wall-clock jump is noticed; a jump of more than an hour (or
 * backwards) re-plans calendar triggers without firing the ones it skipped.
 * Returns the number of rules that fired. */
int rules_tick(struct ruleset *rs, int64_t now_ms, const struct rules_view *view,
               rules_action_fn emit, void *ctx);

/* Monotonic time at which rules_tick has something to do, or INT64_MAX. */
int64_t rules_next_deadline(const struct ruleset *rs, int64_t now_ms,
                            const struct rules_view *view);

/* Counters since rules_compile, for status pages and tests. */
struct rules_stats {
	uint64_t evals;   /* rules_eval calls */
	uint64_t visited; /* (rule, sensor) entries looked at: only those indexed
	                   * under the reading's sensor and point */
	uint64_t fired;   /* rules whose trigger and condition held */
	uint64_t cleared; /* RA_CLEARED actions emitted */
};

/* Copy the counters into *st. */
void rules_get_stats(const struct ruleset *rs, struct rules_stats *st);

#endif
