/*
 * scenario.c: scenario files, parsed and run on a virtual clock against the
 * real engine, panel and an in-memory store.
 */
#include "scenario.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../rules/rules.h"
#include "../sensors/family.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "loop.h"
#include "outputs.h"
#include "panel.h"
#include "registry.h"
#include "store.h"
#include "upstream.h"

/* The virtual monotonic clock starts far from 0 so that "never happened"
 * (0) is never a valid time. */
#define MONO0 1000000000LL
#define MAX_TICKS 2000000
#define TICK_MAX_MS 60000

/* ---- the parsed form ---------------------------------------------------- */

enum step_kind {
	S_READING,
	S_PAYLOAD,
	S_AVAIL,
	S_MODE,
	S_ACK,
	S_SILENCE,
	S_RESET,
	S_OUTPUT,
	S_NEIGHBOUR
};

struct step {
	int line;
	int64_t t;
	enum step_kind kind;
	int sensor;
	enum sh_point point;
	double value;
	char *payload;
	enum sh_mode mode;
	int cls; /* -1: every alarm (ack) */
	int zone;
	char by[64];
	int refused;    /* reset ... refused: the refusal is expected */
	int output, on; /* S_OUTPUT */
	int neighbour;  /* S_NEIGHBOUR: config neighbours index; cls, state */
	int state;
};

enum what { W_ALARM, W_ALERT, W_NOTIFY, W_SIRENS, W_OUTPUT, W_MODE };
enum form { E_AT, E_NO_BEFORE, E_NEVER };

struct expect {
	int line;
	enum form form;
	int64_t t;
	enum what what;
	int cls, zone, contact, output, on;
	int state; /* enum sh_alarm_state, -1: any */
	char priority[8];
	enum sh_siren pattern; /* SIREN_OFF: any */
	enum sh_mode mode;
	char *text;
	int count; /* "N times": exactly N by T; 0: at least one */
};

struct scenario {
	char *file;
	char *name;
	int line;
	int64_t start_wall;
	int has_mode;
	enum sh_mode mode0;
	int64_t until;
	struct step *steps;
	int nsteps;
	struct expect *ex;
	int nex;
};

/* What the panel did, as the runner saw it. */
struct happening {
	int64_t t;
	enum what what;
	int cls;
	char zone[SH_ID_MAX];
	int state; /* enum sh_alarm_state, -1 when the feed said none */
	char contact[SH_ID_MAX];
	char priority[8];
	enum sh_siren pattern;
	int on, output;
	enum sh_mode mode;
	char *message;
};

/* ---- parsing ------------------------------------------------------------ */

/* Copy a word, cut to fit: every word that matters was validated, so a cut
 * only ever shortens a name in a message. */
static void setw(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

struct parser {
	const char *file;
	const struct config *cfg;
	FILE *err;
	int errors;
	int line;
	const char *p;     /* cursor in the current line */
	const char *start; /* the current line */
	char tok[512];
	int tokcol;
};

static void perr(struct parser *ps, int col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(struct parser *ps, int col, const char *fmt, ...)
{
	va_list ap;
	fprintf(ps->err, "%s:%d:%d: ", ps->file, ps->line, col);
	va_start(ap, fmt);
	vfprintf(ps->err, fmt, ap);
	va_end(ap);
	fputc('\n', ps->err);
	ps->errors++;
}

/* Next word or "string" of the line into ps->tok; 0 at the end. */
static int next(struct parser *ps)
{
	size_t n = 0;
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r')
		ps->p++;
	ps->tokcol = (int)(ps->p - ps->start) + 1;
	if (!*ps->p || *ps->p == '#' || *ps->p == '\n')
		return 0;
	if (*ps->p == '"') {
		ps->p++;
		while (*ps->p && *ps->p != '"' && *ps->p != '\n' && n < sizeof(ps->tok) - 1) {
			if (*ps->p == '\\' && ps->p[1])
				ps->p++;
			ps->tok[n++] = *ps->p++;
		}
		if (*ps->p != '"') {
			ps->tok[n] = 0;
			perr(ps, ps->tokcol, "unterminated string");
			return 0;
		}
		ps->p++;
		ps->tok[n] = 0;
		return 2;
	}
	while (*ps->p && !isspace((unsigned char)*ps->p) && n < sizeof(ps->tok) - 1)
		ps->tok[n++] = *ps->p++;
	ps->tok[n] = 0;
	return 1;
}

static int is(const struct parser *ps, const char *w)
{
	return strcmp(ps->tok, w) == 0;
}

static int need_duration(struct parser *ps, int64_t *ms, const char *what)
{
	if (!next(ps) || sh_parse_duration(ps->tok, ms) < 0) {
		perr(ps, ps->tokcol,
		     "expected a duration for %s (like 0s, 90s, 2m, 1h30m), found \"%s\"", what,
		     ps->tok);
		return -1;
	}
	return 0;
}

static int lookup(struct parser *ps, const char *kind, const char *const *names, int n,
                  const char *word)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], word) == 0)
			return i;
	{
		const char *hint = NULL;
		const char **list = calloc((size_t)n + 1, sizeof(*list));
		if (list) {
			for (int i = 0; i < n; i++)
				list[i] = names[i];
			hint = sh_suggest(word, list);
		}
		if (hint)
			perr(ps, ps->tokcol, "unknown %s \"%s\"; did you mean \"%s\"?", kind, word,
			     hint);
		else
			perr(ps, ps->tokcol, "unknown %s \"%s\"", kind, word);
		free(list);
	}
	return -1;
}

#define ID_LOOKUP(fn, arr, count, label)                                                           \
	static int fn(struct parser *ps, const char *word)                                         \
	{                                                                                          \
		const char **names = calloc((size_t)ps->cfg->count + 1, sizeof(*names));           \
		int r;                                                                             \
		if (!names)                                                                        \
			return -1;                                                                 \
		for (int i = 0; i < ps->cfg->count; i++)                                           \
			names[i] = ps->cfg->arr[i].id;                                             \
		r = lookup(ps, label, names, ps->cfg->count, word);                                \
		free(names);                                                                       \
		return r;                                                                          \
	}

ID_LOOKUP(sensor_id, sensors, nsensors, "sensor")
ID_LOOKUP(zone_id, zones, nzones, "zone")
ID_LOOKUP(contact_id, contacts, ncontacts, "contact")
ID_LOOKUP(output_id, outputs, noutputs, "output")

static int class_word(struct parser *ps)
{
	return lookup(ps, "alarm class", sh_class_names, ALARM__COUNT, ps->tok);
}

static int neighbour_id(struct parser *ps, const char *word)
{
	return lookup(ps, "neighbour", (const char *const *)ps->cfg->neighbours,
	              ps->cfg->nneighbours, word);
}

static int mode_word(struct parser *ps)
{
	return lookup(ps, "mode", sh_mode_names, MODE__COUNT, ps->tok);
}

/* Optional "in ZONE" and "by NAME" after a command. */
static int opt_in_by(struct parser *ps, int *zone, char *by, size_t bylen, int *refused)
{
	while (next(ps)) {
		if (is(ps, "in") && zone) {
			if (!next(ps) || (*zone = zone_id(ps, ps->tok)) < 0)
				return -1;
		} else if (is(ps, "by")) {
			if (!next(ps)) {
				perr(ps, ps->tokcol, "\"by\" needs a name");
				return -1;
			}
			setw(by, bylen, ps->tok);
		} else if (is(ps, "refused") && refused) {
			*refused = 1;
		} else {
			perr(ps, ps->tokcol, "unexpected \"%s\"", ps->tok);
			return -1;
		}
	}
	return 0;
}

static int parse_at(struct parser *ps, struct scenario *sc)
{
	struct step st = {.line = ps->line, .cls = -1, .zone = -1};
	struct step *ns;
	strcpy(st.by, "scenario");
	if (need_duration(ps, &st.t, "\"at\"") < 0)
		return -1;
	if (!next(ps)) {
		perr(ps, ps->tokcol, "\"at TIME\" needs what happens");
		return -1;
	}
	if (is(ps, "mode")) {
		int m;
		st.kind = S_MODE;
		if (!next(ps) || (m = mode_word(ps)) < 0)
			return -1;
		st.mode = (enum sh_mode)m;
		opt_in_by(ps, NULL, st.by, sizeof(st.by), NULL);
	} else if (is(ps, "ack") || is(ps, "reset")) {
		st.kind = is(ps, "ack") ? S_ACK : S_RESET;
		const char *save = ps->p;
		if (next(ps) && !is(ps, "by") && !is(ps, "in")) {
			if ((st.cls = class_word(ps)) < 0)
				return -1;
		} else {
			ps->p = save;
		}
		if (st.kind == S_RESET && st.cls < 0) {
			perr(ps, ps->tokcol,
			     "reset needs an alarm class, e.g. \"reset fire in room-101\"");
			return -1;
		}
		if (opt_in_by(ps, &st.zone, st.by, sizeof(st.by),
		              st.kind == S_RESET ? &st.refused : NULL) < 0)
			return -1;
	} else if (is(ps, "silence")) {
		st.kind = S_SILENCE;
		if (opt_in_by(ps, NULL, st.by, sizeof(st.by), NULL) < 0)
			return -1;
	} else if (is(ps, "neighbour")) {
		/* neighbour SITE CLASS STATE: a message on that neighbour's
		 * alarm feed (what the daemon hands the rules) */
		st.kind = S_NEIGHBOUR;
		if (!next(ps) || (st.neighbour = neighbour_id(ps, ps->tok)) < 0)
			return -1;
		if (!next(ps) || (st.cls = class_word(ps)) < 0)
			return -1;
		if (!next(ps) || (st.state = lookup(ps, "alarm state", sh_alarm_state_names,
		                                    ALARM_STATE__COUNT, ps->tok)) < 0)
			return -1;
		if (next(ps)) {
			perr(ps, ps->tokcol, "unexpected \"%s\"", ps->tok);
			return -1;
		}
	} else if (is(ps, "output")) {
		/* output ID on|off: switched from outside the rules (a valve
		 * opened for the cooking), so that a rule closing it is seen */
		st.kind = S_OUTPUT;
		if (!next(ps) || (st.output = output_id(ps, ps->tok)) < 0)
			return -1;
		if (!next(ps) || (!is(ps, "on") && !is(ps, "off"))) {
			perr(ps, ps->tokcol, "expected \"on\" or \"off\" after the output");
			return -1;
		}
		st.on = is(ps, "on");
		if (next(ps)) {
			perr(ps, ps->tokcol, "unexpected \"%s\"", ps->tok);
			return -1;
		}
	} else {
		if ((st.sensor = sensor_id(ps, ps->tok)) < 0)
			return -1;
		if (!next(ps)) {
			perr(ps, ps->tokcol, "expected \"reports\", \"sends\" or \"goes\"");
			return -1;
		}
		if (is(ps, "sends")) {
			while (*ps->p == ' ' || *ps->p == '\t')
				ps->p++;
			st.kind = S_PAYLOAD;
			st.payload = strdup(ps->p);
			if (!st.payload)
				return -1;
			st.payload[strcspn(st.payload, "\r\n")] = 0;
		} else if (is(ps, "goes")) {
			/* goes online|offline: the availability message */
			st.kind = S_AVAIL;
			if (!next(ps) || (!is(ps, "online") && !is(ps, "offline"))) {
				perr(ps, ps->tokcol, "expected \"online\" or \"offline\"");
				return -1;
			}
			st.point = POINT_ONLINE;
			st.value = is(ps, "online");
		} else if (is(ps, "reports")) {
			const struct sh_state *state;
			int pt;
			st.kind = S_READING;
			if (!next(ps)) {
				perr(ps, ps->tokcol,
				     "expected a state (detected, open...) or a point and "
				     "a value (temperature 60)");
				return -1;
			}
			if ((state = sh_state_lookup(ps->tok))) {
				enum sh_kind k = ps->cfg->sensors[st.sensor].kind;
				st.point = state->point == POINT__COUNT ? sh_kind_primary_point(k)
				                                        : state->point;
				st.value = state->value;
				if (st.point == POINT__COUNT) {
					perr(ps, ps->tokcol, "a %s sensor has no \"%s\" state",
					     sh_kind_name(k), ps->tok);
					return -1;
				}
			} else if (strcmp(ps->tok, "smoke") == 0 || strcmp(ps->tok, "gas") == 0 ||
			           strcmp(ps->tok, "co") == 0 || strcmp(ps->tok, "water") == 0 ||
			           strcmp(ps->tok, "motion") == 0) {
				/* "reports smoke": the substance is detected */
				st.point = (enum sh_point)sh_point_from_name(ps->tok);
				st.value = 1;
			} else if ((pt = sh_point_from_name(ps->tok)) >= 0 &&
			           sh_point_is_numeric((enum sh_point)pt)) {
				char *end;
				st.point = (enum sh_point)pt;
				if (!next(ps)) {
					perr(ps, ps->tokcol, "expected a number after \"%s\"",
					     sh_point_name(st.point));
					return -1;
				}
				st.value = strtod(ps->tok, &end);
				if (*end) {
					perr(ps, ps->tokcol, "\"%s\" is not a number", ps->tok);
					return -1;
				}
			} else {
				lookup(ps, "state", sh_state_words, 12, ps->tok);
				return -1;
			}
		} else {
			perr(ps, ps->tokcol,
			     "expected \"reports\", \"sends\" or \"goes\", found \"%s\"", ps->tok);
			return -1;
		}
	}
	ns = realloc(sc->steps, sizeof(*ns) * (size_t)(sc->nsteps + 1));
	if (!ns) {
		free(st.payload);
		return -1;
	}
	sc->steps = ns;
	sc->steps[sc->nsteps++] = st;
	return 0;
}

/* WHAT of an expectation; the cursor is on its first word. */
static int parse_what(struct parser *ps, struct expect *ex)
{
	ex->cls = ex->zone = ex->contact = ex->output = ex->state = -1;
	ex->on = -1;
	if (is(ps, "alarm") || is(ps, "fault") || is(ps, "supervisory")) {
		ex->what = W_ALARM;
		if (is(ps, "alarm")) {
			if (!next(ps) || (ex->cls = class_word(ps)) < 0)
				return -1;
		} else {
			ex->cls = is(ps, "fault") ? ALARM_FAULT : ALARM_SUPERVISORY;
		}
		for (const char *save = ps->p; next(ps); save = ps->p) {
			if (is(ps, "in")) {
				if (!next(ps) || (ex->zone = zone_id(ps, ps->tok)) < 0)
					return -1;
			} else if (is(ps, "state")) {
				if (!next(ps) ||
				    (ex->state = lookup(ps, "alarm state", sh_alarm_state_names,
				                        ALARM_STATE__COUNT, ps->tok)) < 0)
					return -1;
			} else {
				ps->p = save;
				break;
			}
		}
	} else if (is(ps, "alert") || is(ps, "notify")) {
		ex->what = is(ps, "alert") ? W_ALERT : W_NOTIFY;
		if (!next(ps) || (ex->contact = contact_id(ps, ps->tok)) < 0)
			return -1;
		for (const char *save = ps->p; next(ps); save = ps->p) {
			if (is(ps, "in")) {
				if (!next(ps) || (ex->zone = zone_id(ps, ps->tok)) < 0)
					return -1;
			} else if (is(ps, "priority") && ex->what == W_ALERT) {
				static const char *const prios[] = {"low", "normal", "urgent"};
				if (!next(ps) || lookup(ps, "priority", prios, 3, ps->tok) < 0)
					return -1;
				setw(ex->priority, sizeof(ex->priority), ps->tok);
			} else if (is(ps, "containing")) {
				if (next(ps) != 2) {
					perr(ps, ps->tokcol,
					     "\"containing\" needs a \"quoted text\"");
					return -1;
				}
				ex->text = strdup(ps->tok);
			} else {
				ps->p = save;
				break;
			}
		}
	} else if (is(ps, "sirens") || is(ps, "siren")) {
		ex->what = W_SIRENS;
		if (ex->form == E_AT) {
			if (!next(ps) || (!is(ps, "on") && !is(ps, "off"))) {
				perr(ps, ps->tokcol, "expected \"on\" or \"off\"");
				return -1;
			}
			ex->on = is(ps, "on");
			const char *save = ps->p;
			if (ex->on && next(ps)) {
				int sp = sh_siren_from_name(ps->tok);
				if (sp > SIREN_OFF)
					ex->pattern = (enum sh_siren)sp;
				else
					ps->p = save;
			}
		} else {
			ex->on = 1; /* "no sirens": they never sounded */
		}
	} else if (is(ps, "output")) {
		ex->what = W_OUTPUT;
		if (!next(ps) || (ex->output = output_id(ps, ps->tok)) < 0)
			return -1;
		if (ex->form == E_AT) {
			if (!next(ps) || (!is(ps, "on") && !is(ps, "off"))) {
				perr(ps, ps->tokcol, "expected \"on\" or \"off\"");
				return -1;
			}
			ex->on = is(ps, "on");
		} else {
			ex->on = 1;
		}
	} else if (is(ps, "mode")) {
		int m;
		ex->what = W_MODE;
		if (!next(ps) || (m = mode_word(ps)) < 0)
			return -1;
		ex->mode = (enum sh_mode)m;
	} else {
		perr(ps, ps->tokcol,
		     "expected alarm, fault, supervisory, alert, notify, sirens, output or mode, "
		     "found \"%s\"",
		     ps->tok);
		return -1;
	}
	return 0;
}

static int is_state(enum what w);

static int parse_expect(struct parser *ps, struct scenario *sc)
{
	struct expect ex = {.line = ps->line};
	struct expect *ne;
	int more;
	if (!next(ps)) {
		perr(ps, ps->tokcol, "\"expect\" needs \"at TIME ...\" or \"no ...\"");
		return -1;
	}
	if (is(ps, "at")) {
		ex.form = E_AT;
		if (need_duration(ps, &ex.t, "\"expect at\"") < 0 || !next(ps))
			return -1;
	} else if (is(ps, "no")) {
		ex.form = E_NEVER;
		if (!next(ps)) {
			perr(ps, ps->tokcol, "\"expect no\" needs what must not happen");
			return -1;
		}
	} else {
		perr(ps, ps->tokcol, "expected \"at\" or \"no\" after \"expect\"");
		return -1;
	}
	if (parse_what(ps, &ex) < 0)
		goto fail;
	if (ex.form == E_NEVER && (ex.what == W_MODE)) {
		perr(ps, ps->tokcol,
		     "\"expect no mode\" is not supported; use \"expect at T mode\"");
		goto fail;
	}
	more = next(ps);
	if (more && ex.form == E_AT && isdigit((unsigned char)ps->tok[0])) {
		char *end;
		long n = strtol(ps->tok, &end, 10);
		int col = ps->tokcol;
		if (*end || n < 1 || n > 100000 || !next(ps) ||
		    (!is(ps, "times") && !is(ps, "time")) || is_state(ex.what)) {
			perr(ps, col,
			     "expected \"N times\" (N from 1) after an alarm, alert or notify");
			goto fail;
		}
		ex.count = (int)n;
		more = next(ps);
	}
	if (more) {
		if (ex.form == E_NEVER && is(ps, "before")) {
			ex.form = E_NO_BEFORE;
			if (need_duration(ps, &ex.t, "\"before\"") < 0)
				goto fail;
			if (next(ps)) {
				perr(ps, ps->tokcol, "unexpected \"%s\"", ps->tok);
				goto fail;
			}
		} else {
			perr(ps, ps->tokcol, "unexpected \"%s\"", ps->tok);
			goto fail;
		}
	}

	ne = realloc(sc->ex, sizeof(*ne) * (size_t)(sc->nex + 1));
	if (!ne)
		goto fail;
	sc->ex = ne;
	sc->ex[sc->nex++] = ex;
	return 0;
fail:
	free(ex.text);
	return -1;
}

/* "start 2026-03-01 07:59": local time at 0s. */
static int parse_start(struct parser *ps, struct scenario *sc)
{
	struct tm tm = {0};
	char both[64];
	char *end;
	if (!next(ps))
		goto bad;
	if (strlen(ps->tok) > 10)
		goto bad;
	strcpy(both, ps->tok);
	strcat(both, " ");
	if (!next(ps) || strlen(ps->tok) > 5)
		goto bad;
	strcat(both, ps->tok);
	end = strptime(both, "%Y-%m-%d %H:%M", &tm);
	if (!end || *end)
		goto bad;
	tm.tm_isdst = -1;
	sc->start_wall = (int64_t)mktime(&tm) * 1000;
	return 0;
bad:
	perr(ps, ps->tokcol, "expected \"start YYYY-MM-DD HH:MM\" (local time)");
	return -1;
}

static void scenario_free(struct scenario *sc)
{
	for (int i = 0; i < sc->nsteps; i++)
		free(sc->steps[i].payload);
	for (int i = 0; i < sc->nex; i++)
		free(sc->ex[i].text);
	free(sc->steps);
	free(sc->ex);
	free(sc->name);
	free(sc->file);
	memset(sc, 0, sizeof(*sc));
}

static int64_t default_start(void)
{
	struct tm tm = {.tm_year = 126, .tm_mon = 0, .tm_mday = 1, .tm_hour = 12, .tm_isdst = -1};
	return (int64_t)mktime(&tm) * 1000;
}

/* Parse a whole file into scenarios. Returns the count, -1 on errors (all
 * reported). */
static int parse_file(const char *file, const struct config *cfg, FILE *err, struct scenario **out)
{
	struct parser ps = {.file = file, .cfg = cfg, .err = err};
	struct scenario *list = NULL, cur = {0};
	int n = 0, in = 0;
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(file, "r");

	if (!f) {
		fprintf(err, "%s: cannot read: %s\n", file, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		ps.line++;
		ps.start = ps.p = line;
		if (!next(&ps))
			continue;
		if (is(&ps, "scenario")) {
			if (in) {
				perr(&ps, ps.tokcol,
				     "\"scenario\" inside scenario \"%s\"; missing \"end\"?",
				     cur.name);
				scenario_free(&cur);
			}
			if (next(&ps) != 2) {
				perr(&ps, ps.tokcol, "expected the scenario's name in quotes");
				continue;
			}
			memset(&cur, 0, sizeof(cur));
			cur.name = strdup(ps.tok);
			cur.file = strdup(file);
			cur.line = ps.line;
			cur.start_wall = default_start();
			in = 1;
			continue;
		}
		if (!in) {
			perr(&ps, ps.tokcol, "expected \"scenario \\\"name\\\"\", found \"%s\"",
			     ps.tok);
			continue;
		}
		if (is(&ps, "end")) {
			struct scenario *nl = realloc(list, sizeof(*nl) * (size_t)(n + 1));
			if (!nl)
				break;
			list = nl;
			list[n++] = cur;
			memset(&cur, 0, sizeof(cur));
			in = 0;
		} else if (is(&ps, "at")) {
			parse_at(&ps, &cur);
		} else if (is(&ps, "expect")) {
			parse_expect(&ps, &cur);
		} else if (is(&ps, "start")) {
			parse_start(&ps, &cur);
		} else if (is(&ps, "mode")) {
			int m;
			if (next(&ps) && (m = mode_word(&ps)) >= 0) {
				cur.has_mode = 1;
				cur.mode0 = (enum sh_mode)m;
			}
		} else if (is(&ps, "until")) {
			need_duration(&ps, &cur.until, "\"until\"");
		} else {
			static const char *const words[] = {"at",   "expect", "start",
			                                    "mode", "until",  "end"};
			lookup(&ps, "word", words, 6, ps.tok);
		}
	}
	if (in) {
		ps.line++;
		perr(&ps, 1, "scenario \"%s\" has no \"end\"", cur.name);
		scenario_free(&cur);
	}
	free(line);
	fclose(f);
	if (ps.errors) {
		for (int i = 0; i < n; i++)
			scenario_free(&list[i]);
		free(list);
		return -1;
	}
	*out = list;
	return n;
}

/* ---- running ------------------------------------------------------------ */

struct run {
	const struct config *cfg;
	struct ruleset *rs;
	struct store *store;
	struct registry *reg;
	struct outputs *out;
	struct upstream *up;
	struct panel *panel;
	struct engine *engine;
	struct loop *loop;
	int64_t start_wall;
	int64_t now; /* virtual ms since the start */
	int64_t last_seq;
	int sirens_on;
	enum sh_siren pattern;
	int *out_state;
	enum sh_mode mode;
	struct happening *h;
	int nh, caph;
	char failure[1024];
};

static int64_t mono(const struct run *r)
{
	return MONO0 + r->now;
}

static int64_t wall(const struct run *r)
{
	return r->start_wall + r->now;
}

static struct happening *add(struct run *r, enum what w)
{
	struct happening *nh;
	if (r->nh == r->caph) {
		int nc = r->caph ? r->caph * 2 : 64;
		nh = realloc(r->h, sizeof(*nh) * (size_t)nc);
		if (!nh)
			return NULL;
		r->h = nh;
		r->caph = nc;
	}
	nh = &r->h[r->nh++];
	memset(nh, 0, sizeof(*nh));
	nh->t = r->now;
	nh->what = w;
	nh->cls = -1;
	return nh;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* An alert is queued as a chain, one row per escalation step and repeat:
 * a scenario's "alert" is the rule's action, its first row. */
static int later_step(const cJSON *j)
{
	const cJSON *st = cJSON_GetObjectItem(j, "step");
	return (cJSON_IsNumber(st) && st->valuedouble > 1) || cJSON_GetObjectItem(j, "repeat");
}

static void on_row(void *ctx, int64_t seq, const char *kind, const char *contact,
                   const char *payload)
{
	struct run *r = ctx;
	cJSON *j = payload ? cJSON_Parse(payload) : NULL;
	struct happening *h;
	(void)contact;
	r->last_seq = seq;
	if (!j || !kind)
		goto out;
	if (strcmp(kind, "alarm") == 0)
		h = add(r, W_ALARM);
	else if (strcmp(kind, "alert") == 0 && later_step(j))
		goto out;
	else if (strcmp(kind, "alert") == 0)
		h = add(r, W_ALERT);
	else if (strcmp(kind, "notify") == 0)
		h = add(r, W_NOTIFY);
	else
		goto out;
	if (!h)
		goto out;
	h->cls = sh_class_from_name(jstr(j, "class"));
	setw(h->zone, sizeof(h->zone), jstr(j, "zone"));
	h->state = sh_alarm_state_from_name(jstr(j, "state"));
	setw(h->contact, sizeof(h->contact), jstr(j, "to"));
	setw(h->priority, sizeof(h->priority), jstr(j, "priority"));
	h->message = strdup(jstr(j, "message"));
out:
	cJSON_Delete(j);
}

/* Record what changed since the last look. */
static void observe(struct run *r)
{
	struct happening *h;
	enum sh_siren pat = outputs_siren_pattern(r->out);
	int on = outputs_sirens_on(r->out);
	store_outbox_foreach(r->store, r->last_seq, on_row, r);
	if (on != r->sirens_on || (on && pat != r->pattern)) {
		r->sirens_on = on;
		r->pattern = on ? pat : SIREN_OFF;
		if ((h = add(r, W_SIRENS))) {
			h->on = on;
			h->pattern = r->pattern;
		}
	}
	for (int i = 0; i < r->cfg->noutputs; i++) {
		int s = outputs_state(r->out, i);
		if (s != r->out_state[i]) {
			r->out_state[i] = s;
			if ((h = add(r, W_OUTPUT))) {
				h->output = i;
				h->on = s;
			}
		}
	}
	if (panel_mode(r->panel) != r->mode) {
		r->mode = panel_mode(r->panel);
		if ((h = add(r, W_MODE)))
			h->mode = r->mode;
	}
}

static void fmt_time(int64_t ms, char *buf, size_t size)
{
	if (ms % 60000 == 0 && ms >= 60000)
		snprintf(buf, size, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, size, "%lldms", (long long)ms);
}

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct run *r, const char *fmt, ...)
{
	va_list ap;
	if (r->failure[0])
		return; /* the first difference is the one to fix */
	va_start(ap, fmt);
	vsnprintf(r->failure, sizeof(r->failure), fmt, ap);
	va_end(ap);
}

static void run_step(struct run *r, const struct step *st)
{
	char why[256], t[32];
	int64_t id = 0;
	const char *zone = st->zone >= 0 ? r->cfg->zones[st->zone].id : NULL;
	fmt_time(st->t, t, sizeof(t));
	switch (st->kind) {
	case S_READING:
	case S_AVAIL: {
		const struct sh_point_value v = {st->point, st->value};
		engine_report(r->engine, st->sensor, &v, 1, "scenario", mono(r), wall(r));
		break;
	}
	case S_PAYLOAD: {
		const struct config_sensor *cs = &r->cfg->sensors[st->sensor];
		const struct family *fam = family_find(cs->mqtt.format);
		struct sh_point_value v[FAMILY_MAX_VALUES];
		enum family_reject rej;
		int n = 0;
		if (!fam || fam->decode(&cs->mqtt, 0, st->payload, strlen(st->payload), v, &n, &rej,
		                        NULL) < 0) {
			/* An unusable payload changes nothing, as in the daemon:
			 * a scenario may check exactly that. */
			break;
		}
		engine_report(r->engine, st->sensor, v, n, "scenario", mono(r), wall(r));
		break;
	}
	case S_MODE:
		panel_set_mode(r->panel, st->mode, st->by, wall(r));
		engine_settle(r->engine, mono(r), wall(r));
		break;
	case S_ACK:
		if (st->cls >= 0) {
			id = panel_find_alarm(r->panel, (enum sh_alarm_class)st->cls, zone);
			if (!id) {
				fail(r, "line %d: at %s ack %s: there is no active %s alarm%s%s",
				     st->line, t, sh_class_name((enum sh_alarm_class)st->cls),
				     sh_class_name((enum sh_alarm_class)st->cls),
				     zone ? " in " : "", zone ? zone : "");
				break;
			}
		}
		if (panel_ack(r->panel, id, st->by, mono(r), wall(r), why, sizeof(why)) < 0)
			fail(r, "line %d: at %s ack: %s", st->line, t, why);
		engine_settle(r->engine, mono(r), wall(r));
		break;
	case S_SILENCE:
		panel_silence(r->panel, st->by, mono(r), wall(r));
		engine_settle(r->engine, mono(r), wall(r));
		break;
	case S_OUTPUT:
		outputs_set(r->out, st->output, st->on);
		break;
	case S_NEIGHBOUR:
		engine_neighbour(r->engine, st->neighbour, (enum sh_alarm_class)st->cls,
		                 (enum rules_alarm_event)st->state, NULL, mono(r), wall(r));
		break;
	case S_RESET: {
		int rc;
		id = panel_find_alarm(r->panel, (enum sh_alarm_class)st->cls, zone);
		if (!id) {
			fail(r, "line %d: at %s reset %s: there is no active %s alarm%s%s",
			     st->line, t, sh_class_name((enum sh_alarm_class)st->cls),
			     sh_class_name((enum sh_alarm_class)st->cls), zone ? " in " : "",
			     zone ? zone : "");
			break;
		}
		rc = panel_reset(r->panel, id, st->by, mono(r), wall(r), why, sizeof(why));
		if (rc < 0 && !st->refused)
			fail(r, "line %d: at %s reset was refused: %s", st->line, t, why);
		else if (rc == 0 && st->refused)
			fail(r, "line %d: at %s reset was expected to be refused, and was not",
			     st->line, t);
		engine_settle(r->engine, mono(r), wall(r));
		break;
	}
	}
}

static int matches(const struct run *r, const struct expect *ex, const struct happening *h)
{
	if (h->what != ex->what)
		return 0;
	switch (ex->what) {
	case W_ALARM:
		return h->cls == ex->cls &&
		       (ex->zone < 0 || strcmp(h->zone, r->cfg->zones[ex->zone].id) == 0) &&
		       (ex->state < 0 || h->state == ex->state);
	case W_ALERT:
	case W_NOTIFY:
		return strcmp(h->contact, r->cfg->contacts[ex->contact].id) == 0 &&
		       (ex->zone < 0 || strcmp(h->zone, r->cfg->zones[ex->zone].id) == 0) &&
		       (!ex->priority[0] || strcmp(h->priority, ex->priority) == 0) &&
		       (!ex->text || (h->message && strstr(h->message, ex->text)));
	case W_SIRENS:
		return h->on == ex->on && (ex->pattern == SIREN_OFF || h->pattern == ex->pattern);
	case W_OUTPUT:
		return h->output == ex->output && h->on == ex->on;
	case W_MODE:
		return h->mode == ex->mode;
	}
	return 0;
}

static void describe(const struct run *r, const struct expect *ex, char *buf, size_t size)
{
	switch (ex->what) {
	case W_ALARM:
		snprintf(buf, size, "%s%s%s%s%s%s", ex->cls == ALARM_FAULT ? "fault" : "alarm ",
		         ex->cls == ALARM_FAULT ? "" : sh_class_name((enum sh_alarm_class)ex->cls),
		         ex->zone >= 0 ? " in " : "",
		         ex->zone >= 0 ? r->cfg->zones[ex->zone].id : "",
		         ex->state >= 0 ? " state " : "",
		         ex->state >= 0 ? sh_alarm_state_name((enum sh_alarm_state)ex->state) : "");
		break;
	case W_ALERT:
	case W_NOTIFY:
		snprintf(buf, size, "%s %s%s%s", ex->what == W_ALERT ? "alert" : "notify",
		         r->cfg->contacts[ex->contact].id, ex->priority[0] ? " priority " : "",
		         ex->priority);
		break;
	case W_SIRENS:
		snprintf(buf, size, "sirens %s%s%s", ex->on ? "on" : "off",
		         ex->pattern != SIREN_OFF ? " " : "",
		         ex->pattern != SIREN_OFF ? sh_siren_name(ex->pattern) : "");
		break;
	case W_OUTPUT:
		snprintf(buf, size, "output %s %s", r->cfg->outputs[ex->output].id,
		         ex->on ? "on" : "off");
		break;
	case W_MODE:
		snprintf(buf, size, "mode %s", sh_mode_name(ex->mode));
		break;
	}
}

/* What did happen of that kind, for the failure message. */
static void seen_list(const struct run *r, enum what w, char *buf, size_t size)
{
	size_t off = 0;
	int n = 0;
	buf[0] = 0;
	for (int i = 0; i < r->nh && off < size - 64; i++) {
		const struct happening *h = &r->h[i];
		char t[32];
		if (h->what != w)
			continue;
		fmt_time(h->t, t, sizeof(t));
		switch (w) {
		case W_ALARM:
			off += (size_t)snprintf(
			    buf + off, size - off, "%s%s %s in %s at %s", n ? ", " : "",
			    h->cls >= 0 ? sh_class_name((enum sh_alarm_class)h->cls) : "?",
			    h->state >= 0 ? sh_alarm_state_name((enum sh_alarm_state)h->state)
			                  : "?",
			    h->zone, t);
			break;
		case W_ALERT:
		case W_NOTIFY:
			off +=
			    (size_t)snprintf(buf + off, size - off, "%s%s in %s%s%s at %s",
			                     n ? ", " : "", h->contact, h->zone[0] ? h->zone : "-",
			                     h->priority[0] ? " " : "", h->priority, t);
			break;
		case W_SIRENS:
			off +=
			    (size_t)snprintf(buf + off, size - off, "%s%s%s%s at %s", n ? ", " : "",
			                     h->on ? "on" : "off", h->on ? " " : "",
			                     h->on ? sh_siren_name(h->pattern) : "", t);
			break;
		case W_OUTPUT:
			off += (size_t)snprintf(buf + off, size - off, "%s%s %s at %s",
			                        n ? ", " : "", r->cfg->outputs[h->output].id,
			                        h->on ? "on" : "off", t);
			break;
		case W_MODE:
			off += (size_t)snprintf(buf + off, size - off, "%s%s at %s", n ? ", " : "",
			                        sh_mode_name(h->mode), t);
			break;
		}
		n++;
	}
	if (!n)
		snprintf(buf, size, "none");
}

static int is_state(enum what w)
{
	return w == W_SIRENS || w == W_OUTPUT || w == W_MODE;
}

static void check(struct run *r, const struct expect *ex, int64_t end)
{
	char what[256], seen[600], t[32];
	describe(r, ex, what, sizeof(what));
	fmt_time(ex->t, t, sizeof(t));
	if (ex->form == E_AT && is_state(ex->what)) {
		/* The state at T: the last change at or before T. */
		const struct happening *last = NULL;
		for (int i = 0; i < r->nh; i++)
			if (r->h[i].what == ex->what && r->h[i].t <= ex->t &&
			    (ex->what != W_OUTPUT || r->h[i].output == ex->output))
				last = &r->h[i];
		int ok;
		if (!last) /* initial state: off, off, the initial mode */
			ok = ex->what == W_MODE ? ex->mode == MODE_DISARMED : ex->on == 0;
		else
			ok = matches(r, ex, last);
		if (!ok) {
			seen_list(r, ex->what, seen, sizeof(seen));
			fail(r, "line %d: expected at %s: %s; changes seen: %s", ex->line, t, what,
			     seen);
		}
		return;
	}
	if (ex->form == E_AT && ex->count) {
		int n = 0;
		for (int i = 0; i < r->nh; i++)
			if (matches(r, ex, &r->h[i]) && r->h[i].t <= ex->t)
				n++;
		if (n != ex->count) {
			seen_list(r, ex->what, seen, sizeof(seen));
			fail(r, "line %d: expected by %s: %s %d time(s), got %d; seen: %s",
			     ex->line, t, what, ex->count, n, seen);
		}
		return;
	}
	for (int i = 0; i < r->nh; i++) {
		const struct happening *h = &r->h[i];
		if (!matches(r, ex, h))
			continue;
		if (ex->form == E_AT && h->t <= ex->t)
			return;
		if (ex->form == E_NO_BEFORE && h->t < ex->t) {
			char ht[32];
			fmt_time(h->t, ht, sizeof(ht));
			fail(r, "line %d: expected no %s before %s; it happened at %s", ex->line,
			     what, t, ht);
			return;
		}
		if (ex->form == E_NEVER) {
			char ht[32];
			fmt_time(h->t, ht, sizeof(ht));
			fail(r, "line %d: expected no %s; it happened at %s", ex->line, what, ht);
			return;
		}
	}
	if (ex->form == E_AT) {
		seen_list(r, ex->what, seen, sizeof(seen));
		fail(r, "line %d: expected by %s: %s; seen: %s", ex->line, t, what, seen);
	}
	(void)end;
}

static int cmp_step(const void *a, const void *b)
{
	const struct step *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->line - y->line; /* same time: file order */
}

static void quiet_diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	(void)severity;
	(void)msg;
}

/* Returns 1 passed, 0 failed; the failure text is in r->failure. */
static int run_one(const struct config *cfg, struct scenario *sc, struct run *r)
{
	struct rules_site *site = config_rules_site(cfg);
	struct panel_deps deps;
	char err[256];
	int64_t end = sc->until;
	int ticks = 0, i = 0, ok = 0;
	int64_t last_tick = -1;

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->start_wall = sc->start_wall;
	if (site)
		r->rs = rules_compile_files((const char *const *)cfg->rule_files, cfg->nrule_files,
		                            site, quiet_diag, NULL, NULL, NULL);
	free(site);
	r->store = store_open(":memory:", 0, err, sizeof(err));
	r->loop = loop_new();
	r->out_state = calloc((size_t)(cfg->noutputs ? cfg->noutputs : 1), sizeof(int));
	if (!r->rs || !r->store || !r->loop || !r->out_state) {
		fail(r, "cannot set up: %s",
		     r->rs ? err : "the rules do not compile (run --check)");
		goto out;
	}
	r->reg = registry_new(cfg);
	r->out = outputs_new(r->loop, cfg, NULL);
	r->up = upstream_new(r->loop, r->store, cfg);
	deps = (struct panel_deps){cfg, r->store, r->out, r->up, r->reg};
	r->panel = panel_new(&deps, mono(r));
	r->engine = r->panel ? engine_new(cfg, r->rs, r->reg, r->panel, r->store, mono(r)) : NULL;
	if (!r->engine) {
		fail(r, "cannot set up the panel");
		goto out;
	}
	r->mode = panel_mode(r->panel);
	if (sc->has_mode) {
		panel_set_mode(r->panel, sc->mode0, "scenario", wall(r));
		engine_settle(r->engine, mono(r), wall(r));
		r->mode = sc->mode0; /* the initial mode is not a change */
	}
	if (sc->nsteps)
		qsort(sc->steps, (size_t)sc->nsteps, sizeof(sc->steps[0]), cmp_step);
	for (int k = 0; k < sc->nsteps; k++)
		if (sc->steps[k].t > end)
			end = sc->steps[k].t;
	for (int k = 0; k < sc->nex; k++)
		if (sc->ex[k].t > end)
			end = sc->ex[k].t;
	observe(r);
	for (;;) {
		int64_t next_in = i < sc->nsteps ? sc->steps[i].t : INT64_MAX;
		int64_t due = engine_next_deadline(r->engine, mono(r), wall(r));
		int64_t due_rel = due == INT64_MAX ? INT64_MAX : due - MONO0;
		/* Tick at deadlines, and every virtual minute like the
		 * daemon, so supervision and calendar rules see time pass. */
		int64_t minute = (r->now / TICK_MAX_MS + 1) * TICK_MAX_MS;
		int64_t next_tick = due_rel < r->now ? r->now : due_rel;
		if (next_tick > minute)
			next_tick = minute;
		/* Something still due right after a tick at this very time
		 * would spin: let a millisecond pass. */
		if (next_tick == last_tick)
			next_tick++;
		if (next_tick < next_in && next_tick <= end) {
			if (++ticks > MAX_TICKS) {
				fail(r, "the rules keep asking for time (more than %d ticks)",
				     MAX_TICKS);
				break;
			}
			r->now = last_tick = next_tick;
			engine_tick(r->engine, mono(r), wall(r));
			engine_supervise(r->engine, mono(r), wall(r));
			observe(r);
			continue;
		}
		if (next_in > end)
			break;
		r->now = next_in;
		run_step(r, &sc->steps[i++]);
		observe(r);
	}
	for (int k = 0; k < sc->nex; k++)
		check(r, &sc->ex[k], end);
	ok = !r->failure[0];
out:
	engine_free(r->engine);
	panel_free(r->panel);
	upstream_free(r->up);
	outputs_free(r->out);
	registry_free(r->reg);
	store_close(r->store);
	loop_free(r->loop);
	rules_free(r->rs);
	free(r->out_state);
	for (int k = 0; k < r->nh; k++)
		free(r->h[k].message);
	free(r->h);
	return ok;
}

int scenario_run_files(const struct config *cfg, const char *const *files, int nfiles, FILE *out,
                       FILE *err)
{
	int passed = 0, failed = 0;
	/* The panel logs every alarm; in a test run only the verdicts
	 * matter. */
	log_set_level(LOG_ERR);
	for (int f = 0; f < nfiles; f++) {
		struct scenario *list = NULL;
		int n;
		fflush(out); /* keep verdicts and parse errors in order on a terminal */
		n = parse_file(files[f], cfg, err, &list);
		if (n < 0) {
			fprintf(out, "FAIL  %s: does not parse (see the messages above)\n",
			        files[f]);
			failed++;
			continue;
		}
		if (n == 0)
			fprintf(err, "%s: no scenario in this file\n", files[f]);
		for (int i = 0; i < n; i++) {
			struct run r;
			if (run_one(cfg, &list[i], &r)) {
				fprintf(out, "PASS  %s: %s\n", list[i].file, list[i].name);
				passed++;
			} else {
				fprintf(out, "FAIL  %s:%d: %s\n      %s\n", list[i].file,
				        list[i].line, list[i].name, r.failure);
				failed++;
			}
			scenario_free(&list[i]);
		}
		free(list);
	}
	fprintf(out, "%d passed, %d failed\n", passed, failed);
	return failed;
}
