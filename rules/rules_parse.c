/*
 * rules_parse.c: the parser of the rule language. It resolves names against
 * the site as it goes and appends compiled rules to the rule set.
 *
 * Version 2 of the language is a superset of version 1: new triggers
 * (rises, is ... for, offline for, count, every, alarm, mode), conditions
 * (zone, time, alarm), delays (after/unless) and actions (output, notify,
 * set mode, cancel, message templates).
 *
 * Error recovery has two levels, so that one pass reports every error:
 * - a name that does not resolve (unknown kind, state, sensor...) is
 *   reported and parsing goes on, since the syntax around it is intact;
 * - a syntax error inside an action skips to the next action; any other
 *   syntax error skips to the next `rule` keyword.
 */
#include "rules_int.h"
#include "rules_lex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any sane condition, shallow enough for the stack. */
#define MAX_DEPTH 32
#define MAX_COND 256

struct parser {
	struct rules_cc *cc;
	int file;
	const struct rules_tok *t;
	int i;
	int nl;    /* newlines are separators (inside an action list) */
	int depth; /* condition nesting */
	int rule;  /* index of the rule being parsed */
};

/* Words that structure a rule: never a name, so never "unknown ...". */
static const char *const structure_words[] = {
    "rule",   "when",    "if",      "then",  "end",   "and",       "or",
    "not",    "is",      "becomes", "above", "below", "in",        "priority",
    "for",    "after",   "unless",  "count", "every", "rises",     "per",
    "within", "between", "at",      "on",    "off",   "confirmed", NULL};

static const char *const action_words[] = {"alarm",  "fault",  "supervisory", "siren",  "alert",
                                           "output", "notify", "set",         "cancel", NULL};
static const char *const priorities[] = {"low", "normal", "urgent", NULL};
/* In the order of enum rules_alarm_event. */
static const char *const alarm_events[] = {"raised",  "acknowledged", "silenced",
                                           "cleared", "reset",        NULL};
/* What `alarm CLASS is ...` tests, with its RULES_ALARM_* flag. */
static const char *const alarm_states[] = {"active", "acknowledged", "silenced", "cleared", NULL};
static const unsigned alarm_state_flags[] = {RULES_ALARM_ACTIVE, RULES_ALARM_ACKED,
                                             RULES_ALARM_SILENCED, RULES_ALARM_CLEARED};
/* struct tm's order: 0 is Sunday. */
static const char *const weekdays[] = {"sunday",   "monday", "tuesday",  "wednesday",
                                       "thursday", "friday", "saturday", NULL};
static const char *const months[] = {"january",  "february", "march",  "april",     "may",
                                     "june",     "july",     "august", "september", "october",
                                     "november", "december", NULL};

const char *const rules_template_names[] = {
    "sensor", "sensor_name", "zone", "zone_name", "value", "neighbour", "neighbour_address", NULL};

static const struct rules_tok *peek(struct parser *p)
{
	if (!p->nl)
		while (p->t[p->i].type == TOK_NEWLINE)
			p->i++;
	return &p->t[p->i];
}

static const struct rules_tok *next(struct parser *p)
{
	const struct rules_tok *t = peek(p);

	if (t->type != TOK_EOF)
		p->i++;
	return t;
}

static int is_kw(const struct rules_tok *t, const char *kw)
{
	return t->type == TOK_IDENT && strcmp(t->text, kw) == 0;
}

static int in_list(const char *s, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return i;
	return -1;
}

static int is_reserved(const struct rules_tok *t)
{
	return t->type == TOK_IDENT && in_list(t->text, structure_words) >= 0;
}

/* A word where a name is expected; a reserved word there is a syntax
 * error (something is missing), not a misspelt name. */
static int is_name(const struct rules_tok *t)
{
	return t->type == TOK_IDENT && !is_reserved(t);
}

static struct rules_rule *cur_rule(struct parser *p)
{
	return &p->cc->rs->rules[p->rule];
}

static void vdiag(struct parser *p, const struct rules_tok *t, int severity, const char *fmt,
                  va_list ap)
{
	char msg[768];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	rules_cc_diag(p->cc, p->file, t->line, t->col, severity, "%s", msg);
}

static void error_at(struct parser *p, const struct rules_tok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_at(struct parser *p, const struct rules_tok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void error_at(struct parser *p, const struct rules_tok *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(p, t, 0, fmt, ap);
	va_end(ap);
}

static void warn_at(struct parser *p, const struct rules_tok *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(p, t, 1, fmt, ap);
	va_end(ap);
}

/* "; did you mean "x"?" when word is close to one of names, else "". */
static const char *hint(const char *word, const char *const *names, char *buf, size_t size)
{
	const char *s = names ? sh_suggest(word, names) : NULL;

	if (!s)
		return "";
	snprintf(buf, size, "; did you mean \"%s\"?", s);
	return buf;
}

/* "expected WHAT, got TOKEN", with a hint when the token is a near miss of
 * one of names. */
static void expected(struct parser *p, const struct rules_tok *t, const char *what,
                     const char *const *names)
{
	char desc[96], h[96] = "";

	if (is_name(t))
		hint(t->text, names, h, sizeof(h));
	error_at(p, t, "expected %s, got %s%s", what, rules_tok_describe(t, desc, sizeof(desc)), h);
}

/* Resolve a quoted id of what ("sensor", "zone", "contact", "output"); -1
 * and an error with a hint when the site has no such id. */
static int resolve(struct parser *p, const struct rules_tok *t, const char *what,
                   const struct rules_names *names, const char **ids)
{
	char h[96] = "";
	int i = rules_names_find(names, t->text);

	if (i < 0)
		error_at(p, t, "unknown %s \"%s\"%s", what, t->text,
		         hint(t->text, (const char *const *)ids, h, sizeof(h)));
	return i;
}

static const struct rules_site_sensor *sensor_at(struct parser *p, int i)
{
	return i >= 0 && i < p->cc->site->nsensors ? &p->cc->site->sensors[i] : NULL;
}

/* An id in quotes after "sensor", "zone" or "output"; -1 (after an error)
 * when the token is not a string, -2 when the id is unknown. */
static int parse_id(struct parser *p, const char *what, const struct rules_names *names,
                    const char **ids)
{
	const struct rules_tok *t = peek(p);
	char buf[64];
	int i;

	if (t->type != TOK_STRING) {
		char desc[96];
		const char *an = strchr("aeiou", what[0]) ? "an" : "a";
		if (is_name(t))
			error_at(p, t, "expected %s %s id in quotes, got %s (write %s \"%s\")", an,
			         what, rules_tok_describe(t, desc, sizeof(desc)), what, t->text);
		else {
			snprintf(buf, sizeof(buf), "%s %s id in quotes", an, what);
			expected(p, t, buf, NULL);
		}
		return -1;
	}
	next(p);
	i = resolve(p, t, what, names, ids);
	return i < 0 ? -2 : i;
}

static int parse_sensor_id(struct parser *p)
{
	return parse_id(p, "sensor", &p->cc->sensor_names, p->cc->sensor_ids);
}

static int parse_zone_id(struct parser *p)
{
	return parse_id(p, "zone", &p->cc->zone_names, p->cc->zone_ids);
}

/* "room, kitchen, exit" from a NULL-terminated list, cut to fit buf. */
static const char *join(const char *const *list, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; list[i] && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", list[i]);
	return buf;
}

/* A zone or output kind after "kind": its index among names (the kinds
 * the site's config accepts), -2 after an error when it is not one of
 * them, -1 on a syntax error. */
static int parse_kind_of(struct parser *p, const char *what, const struct rules_names *t,
                         const char **names)
{
	const struct rules_tok *k = peek(p);
	char h[96] = "", all[256], buf[320];
	int i;

	if (!is_name(k)) {
		snprintf(buf, sizeof(buf), "a%s %s kind (%s)", what[0] == 'o' ? "n" : "", what,
		         join(names, all, sizeof(all)));
		expected(p, k, buf, NULL);
		return -1;
	}
	next(p);
	i = rules_names_find(t, k->text);
	if (i >= 0)
		return i;
	error_at(p, k, "unknown %s kind \"%s\"%s (%s kinds: %s)", what, k->text,
	         hint(k->text, names, h, sizeof(h)), what, join(names, all, sizeof(all)));
	return -2;
}

/* After "zone": STRING, one zone, into *zone; or "kind" WORD, every zone
 * of that kind, into *zone_kind (the other one is -1). Returns -1 on a
 * syntax error; *ok is cleared when the id or kind is unknown. */
static int parse_zone_ref(struct parser *p, int *zone, int *zone_kind, int *ok)
{
	int i;

	*zone = *zone_kind = -1;
	if (is_kw(peek(p), "kind")) {
		next(p);
		i = parse_kind_of(p, "zone", &p->cc->zone_kind_names, p->cc->zone_kinds);
		if (i == -1)
			return -1;
		if (i < 0)
			*ok = 0;
		*zone_kind = i;
		return 0;
	}
	i = parse_zone_id(p);
	if (i == -1)
		return -1;
	if (i < 0)
		*ok = 0;
	*zone = i;
	return 0;
}

/* A word of list into *out (its index); an error with a hint when it is
 * some other word. Returns -1 on a syntax error (not a word at all), 0
 * otherwise, with *out -1 when the word is unknown. */
static int parse_word(struct parser *p, const char *const *list, const char *what,
                      const char *examples, int *out)
{
	const struct rules_tok *t = peek(p);
	char h[96] = "", buf[160];

	*out = -1;
	if (!is_name(t)) {
		snprintf(buf, sizeof(buf), "%s (%s)", what, examples);
		expected(p, t, buf, NULL);
		return -1;
	}
	next(p);
	*out = in_list(t->text, list);
	/* what is "a mode", "an alarm class": "unknown" replaces the article */
	if (*out < 0)
		error_at(p, t, "unknown %s \"%s\"%s", what + (strncmp(what, "an ", 3) == 0 ? 3 : 2),
		         t->text, hint(t->text, list, h, sizeof(h)));
	return 0;
}

static int parse_class(struct parser *p, enum sh_alarm_class *cls)
{
	int n;

	if (parse_word(p, sh_class_names, "an alarm class",
	               "fire, gas, panic, intrusion, tamper, supervisory, fault", &n) < 0)
		return -1;
	*cls = n < 0 ? ALARM_FIRE : (enum sh_alarm_class)n;
	return n < 0 ? -2 : 0;
}

static int parse_mode(struct parser *p, enum sh_mode *mode)
{
	int n;

	if (parse_word(p, sh_mode_names, "a mode", "disarmed, armed_home, armed_night, armed_away",
	               &n) < 0)
		return -1;
	*mode = n < 0 ? MODE_DISARMED : (enum sh_mode)n;
	return n < 0 ? -2 : 0;
}

/* A keyword that must come next; an error naming what it follows. */
static int want_kw(struct parser *p, const char *kw, const char *after)
{
	const char *const one[] = {kw, NULL};
	char what[96];

	if (is_kw(peek(p), kw)) {
		next(p);
		return 0;
	}
	snprintf(what, sizeof(what), "\"%s\" after %s", kw, after);
	expected(p, peek(p), what, one);
	return -1;
}

/* A DURATION after the word `after`: longer than 0 and at most 31 days.
 * An out-of-range value is reported and parsing goes on. */
static int parse_duration(struct parser *p, const char *after, int64_t *ms, int *ok)
{
	const struct rules_tok *t = peek(p);
	char what[96];

	if (t->type != TOK_DURATION) {
		snprintf(what, sizeof(what), "a duration after \"%s\" (e.g. 30s, 5m, 1h)", after);
		expected(p, t, what, NULL);
		return -1;
	}
	next(p);
	*ms = t->ms;
	if (t->ms == 0) {
		error_at(p, t, "\"%s %s\": a duration must be longer than 0%s", after, t->text,
		         strcmp(after, "after") == 0 ? " (leave \"after\" out for no delay)"
		         : strcmp(after, "for") == 0 ? " (use \"becomes\" for no hold)"
		                                     : "");
		*ok = 0;
	} else if (t->ms > RULES_MAX_MS) {
		error_at(p, t, "\"%s %s\": a duration is at most 31 days", after, t->text);
		*ok = 0;
	}
	return 0;
}

/* A whole number in [lo, hi] after the word `after`. */
static int parse_int(struct parser *p, const char *after, int lo, int hi, int *v, int *ok)
{
	const struct rules_tok *t = peek(p);
	char what[64];

	if (t->type != TOK_NUMBER) {
		snprintf(what, sizeof(what), "a whole number after \"%s\"", after);
		expected(p, t, what, NULL);
		return -1;
	}
	next(p);
	if (t->num != (double)(int64_t)t->num || t->num < lo || t->num > hi) {
		error_at(p, t, "\"%s %s\": a whole number from %d to %d is needed", after, t->text,
		         lo, hi);
		*ok = 0;
		*v = lo;
		return 0;
	}
	*v = (int)t->num;
	return 0;
}

static int parse_time(struct parser *p, const char *after, int64_t *ms)
{
	const struct rules_tok *t = peek(p);
	char what[64];

	if (t->type != TOK_TIME) {
		snprintf(what, sizeof(what), "a time of day (HH:MM) after \"%s\"", after);
		expected(p, t, what, NULL);
		return -1;
	}
	next(p);
	*ms = t->ms;
	return 0;
}

/* A state word into *st: NULL after an error when the word is unknown.
 * Returns -1 on a syntax error (not a word at all). */
static int parse_state(struct parser *p, const struct sh_state **st)
{
	const struct rules_tok *t = peek(p);
	char h[96] = "";

	*st = NULL;
	if (!is_name(t)) {
		expected(p, t, "a state (detected, clear, open, closed, pressed, ...)", NULL);
		return -1;
	}
	next(p);
	*st = sh_state_lookup(t->text);
	if (!*st)
		error_at(p, t, "unknown state \"%s\"%s", t->text,
		         hint(t->text, sh_state_words, h, sizeof(h)));
	return 0;
}

/* A kind word; *kind -1 after an error when unknown. extra: more words a
 * misspelling may have meant. */
static int parse_kind(struct parser *p, const char *const *extra, int *kind)
{
	const char *words[KIND__COUNT + 12];
	const struct rules_tok *t = peek(p);
	char h[96] = "";
	int k = 0;

	*kind = -1;
	if (!is_name(t)) {
		expected(p, t, "a sensor kind (smoke, heat, gas, door, ...)", NULL);
		return -1;
	}
	next(p);
	*kind = sh_kind_from_name(t->text);
	if (*kind >= 0)
		return 0;
	for (; k < KIND__COUNT; k++)
		words[k] = sh_kind_names[k];
	for (int i = 0; extra && extra[i] && k < (int)(sizeof(words) / sizeof(words[0])) - 1; i++)
		words[k++] = extra[i];
	words[k] = NULL;
	error_at(p, t, "unknown kind \"%s\"%s", t->text, hint(t->text, words, h, sizeof(h)));
	return 0;
}

/*
 * selector = kind [ "in" "zone" zone_ref ] | "sensor" STRING | "zone" zone_ref
 *          | "any" "sensor"
 * zone_ref = STRING | "kind" zone_kind
 * Returns -1 on a syntax error; *ok is cleared when a name did not resolve.
 */
static int parse_selector(struct parser *p, struct rules_sel *sel, int *ok)
{
	/* a typo may be of a kind or of the other words a trigger starts with */
	static const char *const others[] = {"sensor", "zone", "any",       "count", "every",
	                                     "alarm",  "mode", "neighbour", NULL};
	const struct rules_tok *t = peek(p);
	int i;

	memset(sel, 0, sizeof(*sel));
	sel->kind = sel->sensor = sel->zone = sel->zone_kind = -1;
	sel->line = t->line;
	sel->col = t->col;
	if (!is_name(t)) {
		expected(p, t, "a sensor kind, \"sensor\", \"zone\" or \"any sensor\"", NULL);
		return -1;
	}
	if (is_kw(t, "any")) {
		next(p);
		sel->type = SEL_ANY;
		if (!is_kw(peek(p), "sensor")) {
			expected(p, peek(p), "\"sensor\" after \"any\"", NULL);
			return -1;
		}
		next(p);
		return 0;
	}
	if (is_kw(t, "sensor")) {
		next(p);
		sel->type = SEL_SENSOR;
		i = parse_sensor_id(p);
		if (i == -1)
			return -1;
		if (i < 0)
			*ok = 0;
		sel->sensor = i;
		return 0;
	}
	if (is_kw(t, "zone")) {
		next(p);
		sel->type = SEL_ZONE;
		return parse_zone_ref(p, &sel->zone, &sel->zone_kind, ok);
	}

	sel->type = SEL_KIND;
	parse_kind(p, others, &sel->kind);
	if (sel->kind < 0) {
		*ok = 0;
		/* a misspelt `sensor "id"` or `zone "id"`: take the id along */
		if (peek(p)->type == TOK_STRING)
			next(p);
	}
	if (is_kw(peek(p), "in")) {
		next(p);
		if (!is_kw(peek(p), "zone")) {
			expected(p, peek(p), "\"zone\" after \"in\"", NULL);
			return -1;
		}
		next(p);
		return parse_zone_ref(p, &sel->zone, &sel->zone_kind, ok);
	}
	return 0;
}

static int parse_number(struct parser *p, const char *after, double *v)
{
	const struct rules_tok *t = peek(p);
	char what[64];

	if (t->type != TOK_NUMBER) {
		snprintf(what, sizeof(what), "a number after \"%s\"", after);
		expected(p, t, what, NULL);
		return -1;
	}
	next(p);
	*v = t->num;
	return 0;
}

/* count KIND STATE in ( zone | site ) within DURATION >= N */
static int parse_count(struct parser *p, struct rules_trigger *trig, int *ok)
{
	static const char *const where[] = {"zone", "site", NULL};
	const struct rules_tok *t;
	int kind;

	next(p); /* count */
	trig->type = TRIG_COUNT;
	trig->sel.type = SEL_KIND;
	trig->sel.line = peek(p)->line;
	trig->sel.col = peek(p)->col;
	if (parse_kind(p, NULL, &kind) < 0)
		return -1;
	trig->sel.kind = kind;
	if (kind < 0)
		*ok = 0;
	if (parse_state(p, &trig->state) < 0)
		return -1;
	if (!trig->state)
		*ok = 0;
	if (want_kw(p, "in", "the state (count ... in zone or in site)") < 0)
		return -1;
	t = peek(p);
	if (!is_kw(t, "zone") && !is_kw(t, "site")) {
		expected(p, t, "\"zone\" or \"site\" after \"in\"", where);
		return -1;
	}
	next(p);
	trig->per_zone = is_kw(t, "zone");
	if (want_kw(p, "within", t->text[0] == 'z' ? "\"in zone\"" : "\"in site\"") < 0)
		return -1;
	if (parse_duration(p, "within", &trig->ms, ok) < 0)
		return -1;
	t = peek(p);
	if (t->type != TOK_OP || strcmp(t->text, ">=") != 0) {
		expected(p, t, "\">=\" and a number of sensors after the window", NULL);
		return -1;
	}
	next(p);
	return parse_int(p, ">=", 1, 100000, &trig->count, ok);
}

/*
 * every ( "day" | weekday ) "at" TIME | every "month" "on" "day" N "at" TIME
 */
static int parse_every(struct parser *p, struct rules_trigger *trig, int *ok)
{
	const char *words[12];
	const struct rules_tok *t;
	char h[96] = "";
	int k = 0;

	next(p); /* every */
	trig->type = TRIG_EVERY;
	t = peek(p);
	if (is_kw(t, "day")) {
		next(p);
		trig->every = EVERY_DAY;
	} else if (is_kw(t, "month")) {
		next(p);
		trig->every = EVERY_MONTH;
		if (want_kw(p, "on", "\"every month\"") < 0 ||
		    want_kw(p, "day", "\"every month on\"") < 0)
			return -1;
		if (parse_int(p, "day", 1, 31, &trig->mday, ok) < 0)
			return -1;
	} else if (is_kw(t, "year")) {
		/* every year on march 15 at 09:00: the yearly inspection */
		const struct rules_tok *m;
		next(p);
		trig->every = EVERY_YEAR;
		if (want_kw(p, "on", "\"every year\"") < 0)
			return -1;
		m = peek(p);
		if (!is_name(m) || in_list(m->text, months) < 0) {
			if (is_name(m)) {
				next(p);
				error_at(p, m, "unknown month \"%s\"%s", m->text,
				         hint(m->text, months, h, sizeof(h)));
				*ok = 0;
			} else {
				expected(p, m, "a month name (january ... december)", NULL);
				return -1;
			}
		} else {
			next(p);
			trig->month = in_list(m->text, months) + 1;
		}
		if (parse_int(p, "day", 1, 31, &trig->mday, ok) < 0)
			return -1;
	} else if (t->type == TOK_IDENT && in_list(t->text, weekdays) >= 0) {
		next(p);
		trig->every = EVERY_WEEKDAY;
		trig->wday = in_list(t->text, weekdays);
	} else {
		for (; weekdays[k]; k++)
			words[k] = weekdays[k];
		words[k++] = "day";
		words[k++] = "month";
		words[k++] = "year";
		words[k] = NULL;
		if (!is_name(t)) {
			expected(p, t, "\"day\", a weekday or \"month\" after \"every\"", NULL);
			return -1;
		}
		next(p);
		error_at(p, t,
		         "unknown period \"%s\"%s (every day, every monday ... every sunday, "
		         "every month on day N, every year on MONTH N)",
		         t->text, hint(t->text, words, h, sizeof(h)));
		*ok = 0;
	}
	if (want_kw(p, "at", "the day") < 0)
		return -1;
	return parse_time(p, "at", &trig->tod);
}

/* alarm CLASS becomes EVENT | mode becomes MODE */
static int parse_panel_trigger(struct parser *p, struct rules_trigger *trig, int *ok)
{
	const struct rules_tok *kw = next(p);
	int n;

	if (is_kw(kw, "mode")) {
		trig->type = TRIG_MODE;
		if (is_kw(peek(p), "is")) {
			error_at(p, peek(p),
			         "a trigger is a change: write \"mode becomes MODE\" (\"mode is\" "
			         "is a condition, after \"if\")");
			return -1;
		}
		if (want_kw(p, "becomes", "\"mode\"") < 0)
			return -1;
		n = parse_mode(p, &trig->mode);
		if (n == -2)
			*ok = 0;
		return n == -1 ? -1 : 0;
	}
	trig->type = TRIG_ALARM;
	n = parse_class(p, &trig->cls);
	if (n == -1)
		return -1;
	if (n == -2)
		*ok = 0;
	if (is_kw(peek(p), "is")) {
		error_at(p, peek(p),
		         "a trigger is a change: write \"alarm %s becomes EVENT\" (\"alarm ... "
		         "is\" is a condition, after \"if\")",
		         sh_class_name(trig->cls));
		return -1;
	}
	if (want_kw(p, "becomes", "the alarm class") < 0)
		return -1;
	if (parse_word(p, alarm_events, "an alarm event",
	               "raised, acknowledged, silenced, cleared, reset", &n) < 0)
		return -1;
	if (n < 0)
		*ok = 0;
	trig->ev = n < 0 ? RAE_RAISED : (enum rules_alarm_event)n;
	return 0;
}

/* neighbour CLASS becomes EVENT: a neighbour's feed, fire and panic only
 * (what the gateway follows of it). */
static int parse_neighbour_trigger(struct parser *p, struct rules_trigger *trig, int *ok)
{
	const struct rules_tok *t;
	int n;

	next(p);
	trig->type = TRIG_NEIGHBOUR;
	t = peek(p);
	n = parse_class(p, &trig->cls);
	if (n == -1)
		return -1;
	if (n == -2)
		*ok = 0;
	else if (trig->cls != ALARM_FIRE && trig->cls != ALARM_PANIC) {
		error_at(p, t,
		         "a neighbour's feed is followed for fire and panic only: write "
		         "\"neighbour fire becomes EVENT\" or \"neighbour panic becomes EVENT\"");
		*ok = 0;
	}
	if (is_kw(peek(p), "is")) {
		error_at(p, peek(p), "a trigger is a change: write \"neighbour %s becomes EVENT\"",
		         sh_class_name(trig->cls));
		return -1;
	}
	if (want_kw(p, "becomes", "the alarm class") < 0)
		return -1;
	if (parse_word(p, alarm_events, "an alarm event",
	               "raised, acknowledged, silenced, cleared, reset", &n) < 0)
		return -1;
	if (n < 0)
		*ok = 0;
	trig->ev = n < 0 ? RAE_RAISED : (enum rules_alarm_event)n;
	return 0;
}

/* is STATE for DURATION, or offline for DURATION (the keyword is next). */
static int parse_hold(struct parser *p, struct rules_trigger *trig, const struct rules_tok *pt,
                      int *ok)
{
	const struct rules_tok *kw = next(p);

	trig->type = TRIG_HOLD;
	if (pt) {
		error_at(p, pt, "a point cannot be named before \"%s\": the state names it",
		         kw->text);
		*ok = 0;
	}
	if (is_kw(kw, "offline")) {
		trig->state = sh_state_lookup("offline");
	} else {
		if (parse_state(p, &trig->state) < 0)
			return -1;
		if (!trig->state)
			*ok = 0;
	}
	if (want_kw(p, "for", "the state (is STATE for DURATION)") < 0)
		return -1;
	return parse_duration(p, "for", &trig->ms, ok);
}

/*
 * trigger = selector "becomes" state
 *         | selector [ point ] ( "above" | "below" ) number
 *           [ "clear" ( "below" | "above" ) number ]
 *         | selector [ point ] "rises" number "per" DURATION
 *         | selector "is" state "for" DURATION | selector "offline" "for" DURATION
 *         | "count" ... | "every" ... | "alarm" ... | "mode" ...
 */
static int parse_trigger(struct parser *p, struct rules_trigger *trig, int *ok)
{
	static const char *const trig_words[] = {"becomes", "above",   "below", "rises",
	                                         "is",      "offline", NULL};
	const struct rules_tok *t = peek(p), *pt = NULL;
	int pi = -1;

	memset(trig, 0, sizeof(*trig));
	trig->point = POINT__COUNT;
	trig->sel.kind = trig->sel.sensor = trig->sel.zone = trig->sel.zone_kind = -1;
	if (is_kw(t, "count"))
		return parse_count(p, trig, ok);
	if (is_kw(t, "every"))
		return parse_every(p, trig, ok);
	if (is_kw(t, "alarm") || is_kw(t, "mode"))
		return parse_panel_trigger(p, trig, ok);
	if (is_kw(t, "neighbour"))
		return parse_neighbour_trigger(p, trig, ok);
	if (parse_selector(p, &trig->sel, ok) < 0)
		return -1;

	t = peek(p);
	if (t->type == TOK_IDENT && in_list(t->text, trig_words) < 0 &&
	    (pi = sh_point_from_name(t->text)) >= 0) {
		pt = next(p);
		t = peek(p);
	}

	if (is_kw(t, "becomes")) {
		next(p);
		if (pt) {
			error_at(p, pt,
			         "a point cannot be named before \"becomes\": the state names it");
			*ok = 0;
		}
		trig->type = TRIG_BECOMES;
		if (parse_state(p, &trig->state) < 0)
			return -1;
		if (!trig->state)
			*ok = 0;
		if (is_kw(peek(p), "for")) {
			error_at(p, peek(p),
			         "\"becomes\" is the moment of change and cannot last: write "
			         "\"is %s for DURATION\"",
			         trig->state ? trig->state->name : "STATE");
			return -1;
		}
		return 0;
	}

	if (is_kw(t, "is") || is_kw(t, "offline"))
		return parse_hold(p, trig, pt, ok);

	if (is_kw(t, "above") || is_kw(t, "below") || is_kw(t, "rises")) {
		int above = is_kw(t, "above");
		next(p);
		trig->type = is_kw(t, "rises") ? TRIG_RISES : above ? TRIG_ABOVE : TRIG_BELOW;
		if (pt && !sh_point_is_numeric((enum sh_point)pi)) {
			error_at(p, pt,
			         "point \"%s\" is not numeric (numeric points: temperature, "
			         "battery)",
			         pt->text);
			*ok = 0;
		} else if (pt) {
			trig->point = (enum sh_point)pi;
		}
		if (parse_number(p, t->text, &trig->threshold) < 0)
			return -1;
		if (trig->type == TRIG_RISES) {
			const struct rules_tok *n = &p->t[p->i - 1];
			if (trig->threshold <= 0) {
				error_at(p, n, "\"rises %s\": the rise must be more than 0",
				         n->text);
				*ok = 0;
			}
			if (want_kw(p, "per", "the rise (rises N per DURATION)") < 0)
				return -1;
			return parse_duration(p, "per", &trig->ms, ok);
		}
		if (is_kw(peek(p), "clear")) {
			const struct rules_tok *c = next(p), *dir = peek(p);
			const char *want = above ? "below" : "above";
			if (!is_kw(dir, want)) {
				char what[64];
				snprintf(what, sizeof(what), "\"%s\" after \"clear\"", want);
				expected(p, dir, what, NULL);
				return -1;
			}
			next(p);
			if (parse_number(p, want, &trig->rearm) < 0)
				return -1;
			trig->has_rearm = 1;
			if (above ? trig->rearm > trig->threshold : trig->rearm < trig->threshold) {
				error_at(
				    p, c,
				    "\"clear %s %g\" is on the wrong side of the threshold %g: "
				    "the rule would fire and clear at once",
				    want, trig->rearm, trig->threshold);
				*ok = 0;
			}
		}
		return 0;
	}

	expected(p, t,
	         pt ? "\"above\", \"below\" or \"rises\""
	            : "\"becomes\", \"above\", \"below\", \"rises\", \"is\" or \"offline\"",
	         trig_words);
	return -1;
}

static int cond_add(struct parser *p, const struct rules_cond *c)
{
	struct rules_rule *r = cur_rule(p);

	/* evaluation recurses over the tree: keep it small */
	if (r->ncond == MAX_COND) {
		if (r->ncond_over++ == 0)
			error_at(p, peek(p), "condition too long (at most %d terms)", MAX_COND / 2);
		return -1;
	}
	if (r->ncond == r->cond_cap) {
		int cap = r->cond_cap ? r->cond_cap * 2 : 4;
		struct rules_cond *v = realloc(r->cond, sizeof(*v) * (size_t)cap);
		if (!v) {
			p->cc->oom = 1;
			return -1;
		}
		r->cond = v;
		r->cond_cap = cap;
	}
	r->cond[r->ncond] = *c;
	return r->ncond++;
}

static int parse_or(struct parser *p);

/* "is" [ "not" ] after what; *negate set by "not". */
static int parse_is(struct parser *p, const char *after, int *negate)
{
	char what[64];

	snprintf(what, sizeof(what), "\"is\" after %s", after);
	if (!is_kw(peek(p), "is")) {
		expected(p, peek(p), what, NULL);
		return -1;
	}
	next(p);
	if (is_kw(peek(p), "not")) {
		next(p);
		*negate = 1;
	}
	return 0;
}

/* sensor STRING is [not] STATE, after "sensor" */
static int parse_cond_sensor(struct parser *p, struct rules_cond *c, int *negate)
{
	const struct rules_tok *idt = peek(p), *t;
	const struct sh_state *st;
	const struct rules_site_sensor *s;
	int n = parse_sensor_id(p);

	if (n == -1 || parse_is(p, "the sensor", negate) < 0)
		return -1;
	t = peek(p);
	if (parse_state(p, &st) < 0)
		return -1;
	c->op = COND_SENSOR_IS;
	c->sensor = n;
	c->point = POINT__COUNT;
	s = sensor_at(p, n);
	if (st && s) {
		c->point = st->point;
		c->value = st->value;
		if (c->point == POINT__COUNT)
			c->point = sh_kind_primary_point(s->kind);
		if (c->point == POINT__COUNT)
			error_at(p, t, "sensor \"%s\" is a %s sensor: it has no \"%s\" state",
			         idt->text, sh_kind_name(s->kind), st->name);
	}
	return 0;
}

/* zone STRING is [not] STATE, after "zone": true when any sensor of the
 * zone is in the state; zone kind KIND is [not] STATE: of any zone of that
 * kind. A house without such a zone is not an error (the model names zone
 * kinds for every house), a zone named by its id that cannot be is. */
static int parse_cond_zone(struct parser *p, struct rules_cond *c, int *negate)
{
	struct rules_cc *cc = p->cc;
	const struct rules_site *site = cc->site;
	const struct rules_tok *idt = peek(p), *t;
	int ok = 1, members = 0, able = 0;

	if (parse_zone_ref(p, &c->zone, &c->zone_kind, &ok) < 0 ||
	    parse_is(p, "the zone", negate) < 0)
		return -1;
	t = peek(p);
	if (parse_state(p, &c->state) < 0)
		return -1;
	c->op = COND_ZONE_IS;
	if (!c->state || !ok)
		return 0;
	for (int s = 0; s < site->nsensors; s++) {
		int z = site->sensors[s].zone;
		if (c->zone_kind >= 0
		        ? z < 0 || z >= site->nzones || cc->zone_kind[z] != c->zone_kind
		        : z != c->zone)
			continue;
		members++;
		able += c->state->point != POINT__COUNT ||
		        sh_kind_primary_point(site->sensors[s].kind) != POINT__COUNT;
	}
	if (c->zone_kind >= 0) {
		if (!able)
			warn_at(
			    p, idt,
			    "no zone of kind \"%s\" has a sensor that can be \"%s\": \"zone kind "
			    "%s is %s\" is never true",
			    cc->zone_kinds[c->zone_kind], c->state->name,
			    cc->zone_kinds[c->zone_kind], c->state->name);
		return 0;
	}
	if (!members)
		error_at(p, idt, "zone \"%s\" has no sensors: the condition can never be evaluated",
		         idt->text);
	else if (!able)
		error_at(p, t, "no sensor of zone \"%s\" has a \"%s\" state", idt->text,
		         c->state->name);
	return 0;
}

/* time between TIME and TIME, after "time" */
static int parse_cond_time(struct parser *p, struct rules_cond *c)
{
	const struct rules_tok *from;

	if (want_kw(p, "between", "\"time\"") < 0)
		return -1;
	from = peek(p);
	if (parse_time(p, "between", &c->from) < 0 || want_kw(p, "and", "the first time") < 0 ||
	    parse_time(p, "and", &c->to) < 0)
		return -1;
	c->op = COND_TIME;
	if (c->from == c->to)
		warn_at(p, from,
		        "\"time between %s and %s\" is never true (the end is not part of the "
		        "window)",
		        from->text, from->text);
	return 0;
}

/* alarm CLASS [ in site ] is [not] STATE, after "alarm" */
static int parse_cond_alarm(struct parser *p, struct rules_cond *c, int *negate)
{
	int n;

	c->op = COND_ALARM;
	if (parse_class(p, &c->cls) == -1)
		return -1;
	if (is_kw(peek(p), "in")) {
		next(p);
		if (want_kw(p, "site", "\"in\" (alarm CLASS in site is ...)") < 0)
			return -1;
		c->site = 1;
	}
	if (parse_is(p, "the alarm class", negate) < 0)
		return -1;
	if (parse_word(p, alarm_states, "an alarm state", "active, acknowledged, silenced, cleared",
	               &n) < 0)
		return -1;
	c->flag = n < 0 ? RULES_ALARM_ACTIVE : alarm_state_flags[n];
	return 0;
}

/*
 * primary = "(" condition ")" | "mode" "is" [ "not" ] mode
 *         | "sensor" STRING "is" [ "not" ] state
 *         | "zone" STRING "is" [ "not" ] state
 *         | "time" "between" TIME "and" TIME
 *         | "alarm" class [ "in" "site" ] "is" [ "not" ] alarm_state
 * Returns the node index, or -1 on a syntax error. A name that does not
 * resolve still yields a node, so that parsing goes on.
 */
static int parse_primary(struct parser *p)
{
	static const char *const cond_words[] = {"mode",  "sensor", "zone", "time",
	                                         "alarm", "not",    NULL};
	const struct rules_tok *t = peek(p);
	struct rules_cond c = {.a = -1, .b = -1, .sensor = -1, .zone = -1, .zone_kind = -1};
	int negate = 0, n;

	if (t->type == TOK_LPAREN) {
		next(p);
		n = parse_or(p);
		if (n < 0)
			return -1;
		if (peek(p)->type != TOK_RPAREN) {
			expected(p, peek(p), "\")\"", NULL);
			return -1;
		}
		next(p);
		return n;
	}

	if (is_kw(t, "mode")) {
		next(p);
		if (parse_is(p, "\"mode\"", &negate) < 0)
			return -1;
		c.op = COND_MODE;
		if (parse_mode(p, &c.mode) == -1)
			return -1;
		if (is_kw(peek(p), "for")) {
			int ok = 1;
			next(p);
			if (parse_duration(p, "for", &c.ms, &ok) < 0)
				return -1;
		}
	} else if (is_kw(t, "sensor")) {
		next(p);
		if (parse_cond_sensor(p, &c, &negate) < 0)
			return -1;
	} else if (is_kw(t, "zone")) {
		next(p);
		if (parse_cond_zone(p, &c, &negate) < 0)
			return -1;
	} else if (is_kw(t, "time")) {
		next(p);
		if (parse_cond_time(p, &c) < 0)
			return -1;
	} else if (is_kw(t, "alarm")) {
		next(p);
		if (parse_cond_alarm(p, &c, &negate) < 0)
			return -1;
	} else {
		expected(p, t,
		         "a condition (\"mode is\", \"sensor ... is\", \"zone ... is\", \"time "
		         "between\", \"alarm ... is\", \"not\" or \"(\")",
		         cond_words);
		return -1;
	}

	n = cond_add(p, &c);
	if (n < 0 || !negate)
		return n;
	c = (struct rules_cond){.op = COND_NOT, .a = n, .b = -1};
	return cond_add(p, &c);
}

/* unary = "not" unary | primary */
static int parse_unary(struct parser *p)
{
	int n;

	if (p->depth >= MAX_DEPTH) {
		error_at(p, peek(p), "condition nested too deeply (at most %d levels)", MAX_DEPTH);
		return -1;
	}
	p->depth++;
	if (is_kw(peek(p), "not")) {
		struct rules_cond c = {.op = COND_NOT, .b = -1};
		next(p);
		n = parse_unary(p);
		if (n >= 0) {
			c.a = n;
			n = cond_add(p, &c);
		}
	} else {
		n = parse_primary(p);
	}
	p->depth--;
	return n;
}

/* Left-associative chains: and binds tighter than or. */
static int parse_and(struct parser *p)
{
	int a = parse_unary(p);

	while (a >= 0 && is_kw(peek(p), "and")) {
		struct rules_cond c = {.op = COND_AND, .a = a};
		next(p);
		c.b = parse_unary(p);
		if (c.b < 0)
			return -1;
		a = cond_add(p, &c);
	}
	return a;
}

static int parse_or(struct parser *p)
{
	int a = parse_and(p);

	while (a >= 0 && is_kw(peek(p), "or")) {
		struct rules_cond c = {.op = COND_OR, .a = a};
		next(p);
		c.b = parse_and(p);
		if (c.b < 0)
			return -1;
		a = cond_add(p, &c);
	}
	return a;
}

static int action_add(struct parser *p, const struct rules_action *a, const struct rules_act_ext *x)
{
	struct rules_rule *r = cur_rule(p);

	if (r->nactions == r->actions_cap) {
		int cap = r->actions_cap ? r->actions_cap * 2 : 4;
		struct rules_action *v = realloc(r->actions, sizeof(*v) * (size_t)cap);
		struct rules_act_ext *e;
		if (!v) {
			p->cc->oom = 1;
			return -1;
		}
		r->actions = v;
		e = realloc(r->ext, sizeof(*e) * (size_t)cap);
		if (!e) {
			p->cc->oom = 1;
			return -1;
		}
		r->ext = e;
		r->actions_cap = cap;
	}
	r->ext[r->nactions] = *x;
	r->actions[r->nactions++] = *a;
	return 0;
}

/* Check the ${name}s of the message in string token t; 1 when it has any.
 * Positions count the escapes of the source: every '"' and '\' of the
 * decoded text was written with a backslash before it. */
static int check_template(struct parser *p, const struct rules_tok *t)
{
	const char *s = t->text, *at = s;
	int any = 0;

	while ((at = strstr(at, "${")) != NULL) {
		const char *end = strchr(at + 2, '}');
		struct rules_tok pos = *t;
		char name[64], h[96] = "";
		size_t n;
		int esc = 0;

		for (const char *q = s; q < at; q++)
			esc += *q == '"' || *q == '\\';
		pos.col = t->col + 1 + (int)(at - s) + esc;
		if (!end) {
			error_at(p, &pos, "unterminated \"${\" in message (write ${name})");
			return any;
		}
		n = (size_t)(end - at - 2);
		snprintf(name, sizeof(name), "%.*s", n < sizeof(name) ? (int)n : 63, at + 2);
		if (in_list(name, rules_template_names) < 0)
			error_at(
			    p, &pos,
			    "unknown \"${%s}\" in message%s (names: sensor, sensor_name, zone, "
			    "zone_name, value)",
			    name, hint(name, rules_template_names, h, sizeof(h)));
		else
			any = 1;
		at = end + 1;
	}
	return any;
}

/* An optional message string (a required one when need is set). */
static int parse_message(struct parser *p, struct rules_action *a, struct rules_act_ext *x)
{
	const struct rules_tok *t = peek(p);

	if (t->type != TOK_STRING)
		return 0;
	next(p);
	x->templated = check_template(p, t);
	a->message = rules_cc_strdup(p->cc, t->text);
	return a->message ? 0 : -1;
}

/* A list of contacts (ids, bare or quoted) into a->contacts; stops before
 * a reserved word, or before the last string when a message follows
 * (notify). Returns how many were named. */
static int parse_contacts(struct parser *p, struct rules_action *a, int message_last)
{
	const struct rules_tok *t;
	int named = 0;

	for (;;) {
		int i, dup = 0;
		t = peek(p);
		if (is_reserved(t))
			break;
		if (t->type != TOK_IDENT && t->type != TOK_STRING)
			break;
		/* notify owner "text": the last string is the message, the one
		 * that no other contact follows (`end` is no contact) */
		if (message_last && t->type == TOK_STRING && p->t[p->i + 1].type != TOK_STRING &&
		    (p->t[p->i + 1].type != TOK_IDENT || is_reserved(&p->t[p->i + 1])))
			break;
		next(p);
		named++;
		i = resolve(p, t, "contact", &p->cc->contact_names, p->cc->contact_ids);
		if (i < 0)
			continue;
		for (int k = 0; k < a->ncontacts; k++)
			dup |= a->contacts[k] == i;
		if (dup) {
			warn_at(p, t, "contact \"%s\" is listed twice", t->text);
			continue;
		}
		if (a->ncontacts == RULES_MAX_CONTACTS) {
			error_at(p, t, "too many contacts in one %s (at most %d)",
			         a->type == RA_NOTIFY ? "notify" : "alert", RULES_MAX_CONTACTS);
			continue;
		}
		a->contacts[a->ncontacts++] = i;
	}
	return named;
}

/* alert CONTACT... [priority low|normal|urgent] */
static int parse_alert(struct parser *p, const struct rules_tok *kw, struct rules_action *a)
{
	const struct rules_tok *t;
	char h[96] = "";
	int named;

	a->type = RA_ALERT;
	a->priority = PRIO_DEFAULT;
	named = parse_contacts(p, a, 0);
	t = peek(p);
	if (is_kw(t, "priority")) {
		next(p);
		t = peek(p);
		if (!is_name(t)) {
			expected(p, t, "a priority (low, normal, urgent)", NULL);
			return -1;
		}
		next(p);
		switch (in_list(t->text, priorities)) {
		case 0:
			a->priority = PRIO_LOW;
			break;
		case 1:
			a->priority = PRIO_NORMAL;
			break;
		case 2:
			a->priority = PRIO_URGENT;
			break;
		default:
			error_at(p, t, "unknown priority \"%s\"%s", t->text,
			         hint(t->text, priorities, h, sizeof(h)));
		}
	}
	if (is_kw(peek(p), "every")) {
		int ok = 1;
		next(p);
		if (parse_duration(p, "every", &a->repeat_ms, &ok) < 0)
			return -1;
	}
	/* an unknown contact has had its error already */
	if (named == 0)
		error_at(p, kw, "\"alert\" needs at least one contact, e.g. alert militia owner");
	return 0;
}

/* notify CONTACT... "text" */
static int parse_notify(struct parser *p, const struct rules_tok *kw, struct rules_action *a,
                        struct rules_act_ext *x)
{
	int named;

	a->type = RA_NOTIFY;
	named = parse_contacts(p, a, 1);
	if (peek(p)->type != TOK_STRING) {
		expected(p, peek(p), "the message in quotes after the contacts", NULL);
		return -1;
	}
	if (parse_message(p, a, x) < 0)
		return -1;
	if (named == 0)
		error_at(p, kw,
		         "\"notify\" needs at least one contact, e.g. notify owner \"Kiểm tra "
		         "bình chữa cháy\"");
	return 0;
}

/* [ for DURATION ] after siren on / output on|off */
static int parse_for(struct parser *p, struct rules_action *a)
{
	int ok = 1;

	if (!is_kw(peek(p), "for"))
		return 0;
	next(p);
	return parse_duration(p, "for", &a->duration_ms, &ok);
}

/* cancel "rule name": resolved when all files have been read, since the
 * rule may come later. */
static int parse_cancel(struct parser *p, struct rules_act_ext *x)
{
	struct rules_cc *cc = p->cc;
	const struct rules_tok *t = peek(p);
	struct rules_cancel_ref *c;

	if (t->type != TOK_STRING) {
		expected(p, t, "a rule's name in quotes after \"cancel\"", NULL);
		return -1;
	}
	next(p);
	if (cc->ncancels == cc->cancels_cap) {
		int cap = cc->cancels_cap ? cc->cancels_cap * 2 : 8;
		c = realloc(cc->cancels, sizeof(*c) * (size_t)cap);
		if (!c) {
			cc->oom = 1;
			return -1;
		}
		cc->cancels = c;
		cc->cancels_cap = cap;
	}
	c = &cc->cancels[cc->ncancels];
	c->name = strdup(t->text);
	if (!c->name) {
		cc->oom = 1;
		return -1;
	}
	c->rule = p->rule;
	c->action = cur_rule(p)->nactions;
	c->file = p->file;
	c->line = t->line;
	c->col = t->col;
	cc->ncancels++;
	x->cancel = -2; /* resolved later */
	return 0;
}

/*
 * output kind KIND [ in zone ( STRING | kind ZONE_KIND ) ] on|off [ for D ],
 * after "output": one action per output of that kind (in those zones), in
 * the config's order, chosen now, as selectors are. None is a warning, not
 * an error: the shipped model closes "every valve" of every house, and a
 * house without one is still a house.
 */
static int parse_output_kind(struct parser *p, const struct rules_tok *kw, struct rules_action *a,
                             const struct rules_act_ext *x)
{
	static const char *const onoff[] = {"on", "off", NULL};
	struct rules_cc *cc = p->cc;
	const struct rules_site *site = cc->site;
	const struct rules_tok *kt, *t;
	int ok = 1, kind, zone = -1, zone_kind = -1, any = 0;
	char where[128] = "";

	next(p); /* kind */
	kt = peek(p);
	kind = parse_kind_of(p, "output", &cc->output_kind_names, cc->output_kinds);
	if (kind == -1)
		return -1;
	if (kind < 0)
		ok = 0;
	if (is_kw(peek(p), "in")) {
		next(p);
		if (want_kw(p, "zone", "\"in\" (output kind KIND in zone ...)") < 0 ||
		    parse_zone_ref(p, &zone, &zone_kind, &ok) < 0)
			return -1;
	}
	t = peek(p);
	if (!is_kw(t, "on") && !is_kw(t, "off")) {
		expected(p, t, "\"on\" or \"off\" after the output kind", onoff);
		return -1;
	}
	next(p);
	a->on = is_kw(t, "on");
	if (parse_for(p, a) < 0)
		return -1;
	if (!ok)
		return 0; /* reported: the kind or the zone is unknown */
	for (int o = 0; o < site->noutputs; o++) {
		int z = site->outputs[o].zone;
		if (cc->output_kind[o] != kind)
			continue;
		if (zone >= 0 && z != zone)
			continue;
		if (zone_kind >= 0 && (z < 0 || z >= site->nzones || cc->zone_kind[z] != zone_kind))
			continue;
		a->output = o;
		if (action_add(p, a, x) < 0)
			return -1;
		any = 1;
	}
	if (any)
		return 0;
	if (zone >= 0)
		snprintf(where, sizeof(where), " in zone \"%s\"", cc->zone_ids[zone]);
	else if (zone_kind >= 0)
		snprintf(where, sizeof(where), " in a zone of kind \"%s\"",
		         cc->zone_kinds[zone_kind]);
	warn_at(p, kt, "the site has no %s output%s: \"%s kind %s\" in rule \"%s\" does nothing",
	        cc->output_kinds[kind], where, kw->text, cc->output_kinds[kind], cur_rule(p)->name);
	return 0;
}

/*
 * action = "alarm" class [ "confirmed" ] [ STRING ] | "fault" [ STRING ]
 *        | "supervisory" [ STRING ]
 *        | "siren" ( "on" [ pattern ] [ "for" DURATION ] | "off" )
 *        | "alert" contact { contact } [ "priority" priority ]
 *        | "output" ( STRING | "kind" output_kind [ "in" "zone" zone_ref ] )
 *          ( "on" | "off" ) [ "for" DURATION ]
 *        | "notify" contact { contact } STRING
 *        | "set" "mode" mode | "cancel" STRING
 * Returns -1 on a syntax error.
 */
static int parse_action(struct parser *p)
{
	const struct rules_tok *kw = peek(p), *t;
	struct rules_action a;
	struct rules_act_ext x = {.cancel = -1};
	char h[96] = "";
	int n;

	memset(&a, 0, sizeof(a));
	a.rule = p->rule;
	a.output = -1;
	if (kw->type != TOK_IDENT) {
		expected(p, kw,
		         "an action (alarm, fault, supervisory, siren, alert, output, notify, "
		         "set mode, cancel)",
		         NULL);
		return -1;
	}
	switch (in_list(kw->text, action_words)) {
	case 0: /* alarm */
		next(p);
		a.type = RA_ALARM;
		if (parse_class(p, &a.cls) == -1)
			return -1;
		if (is_kw(peek(p), "confirmed")) {
			next(p);
			a.confirmed = 1;
		}
		if (parse_message(p, &a, &x) < 0)
			return -1;
		break;
	case 1: /* fault */
	case 2: /* supervisory */
		next(p);
		a.type = RA_ALARM;
		a.cls = strcmp(kw->text, "fault") == 0 ? ALARM_FAULT : ALARM_SUPERVISORY;
		if (parse_message(p, &a, &x) < 0)
			return -1;
		break;
	case 3: /* siren */
		next(p);
		t = peek(p);
		if (is_kw(t, "off")) {
			next(p);
			a.type = RA_SIREN_OFF;
			break;
		}
		if (!is_kw(t, "on")) {
			static const char *const onoff[] = {"on", "off", NULL};
			expected(p, t, "\"on\" or \"off\" after \"siren\"", onoff);
			return -1;
		}
		next(p);
		a.type = RA_SIREN_ON;
		a.pattern = SIREN_FIRE;
		t = peek(p);
		if (is_name(t)) {
			next(p);
			n = in_list(t->text, sh_siren_patterns);
			if (n < 0)
				error_at(p, t,
				         "unknown siren pattern \"%s\"%s (patterns: fire, "
				         "burglar, emergency)",
				         t->text, hint(t->text, sh_siren_patterns, h, sizeof(h)));
			else
				a.pattern = (enum sh_siren)sh_siren_from_name(t->text);
		}
		if (parse_for(p, &a) < 0)
			return -1;
		break;
	case 4: /* alert */
		next(p);
		if (parse_alert(p, kw, &a) < 0)
			return -1;
		break;
	case 5: /* output */
		next(p);
		a.type = RA_OUTPUT;
		if (is_kw(peek(p), "kind"))
			return parse_output_kind(p, kw, &a, &x);
		n = parse_id(p, "output", &p->cc->output_names, p->cc->output_ids);
		if (n == -1)
			return -1;
		a.output = n < 0 ? -1 : n;
		t = peek(p);
		if (!is_kw(t, "on") && !is_kw(t, "off")) {
			static const char *const onoff[] = {"on", "off", NULL};
			expected(p, t, "\"on\" or \"off\" after the output", onoff);
			return -1;
		}
		next(p);
		a.on = is_kw(t, "on");
		if (parse_for(p, &a) < 0)
			return -1;
		break;
	case 6: /* notify */
		next(p);
		if (parse_notify(p, kw, &a, &x) < 0)
			return -1;
		break;
	case 7: /* set mode */
		next(p);
		a.type = RA_SET_MODE;
		if (want_kw(p, "mode", "\"set\"") < 0)
			return -1;
		if (parse_mode(p, &a.mode) == -1)
			return -1;
		break;
	case 8: /* cancel */
		next(p);
		if (parse_cancel(p, &x) < 0)
			return -1;
		break;
	default: {
		/* "ned" is more likely a broken "end" than an action */
		static const char *const words[] = {"alarm",  "fault",  "supervisory", "siren",
		                                    "alert",  "output", "notify",      "set",
		                                    "cancel", "end",    NULL};
		next(p);
		error_at(p, kw, "unknown action \"%s\"%s", kw->text,
		         hint(kw->text, words, h, sizeof(h)));
		return -1;
	}
	}
	return action_add(p, &a, &x);
}

/* Skip the rest of a broken action: up to its separator or the rule's end. */
static void skip_action(struct parser *p)
{
	for (;;) {
		const struct rules_tok *t = peek(p);
		if (t->type == TOK_EOF || t->type == TOK_NEWLINE || t->type == TOK_SEMI ||
		    is_kw(t, "end") || is_kw(t, "rule"))
			return;
		next(p);
	}
}

/* actions = action { ( NEWLINE | ";" ) action } ; then "end". Returns -1
 * when the rule has no "end". */
static int parse_actions(struct parser *p, const struct rules_tok *then)
{
	struct rules_rule *r;
	int rc = 0, n = 0;

	p->nl = 1;
	for (;;) {
		const struct rules_tok *t = peek(p);
		if (t->type == TOK_NEWLINE || t->type == TOK_SEMI) {
			next(p);
			continue;
		}
		if (is_kw(t, "end")) {
			next(p);
			if (n == 0)
				error_at(p, then, "no actions between \"then\" and \"end\"");
			break;
		}
		if (t->type == TOK_EOF || is_kw(t, "rule")) {
			r = cur_rule(p);
			error_at(p, t, "missing \"end\" of rule \"%s\" (line %d)", r->name,
			         r->line);
			rc = -1;
			break;
		}
		n++;
		if (parse_action(p) < 0 || p->cc->oom) {
			skip_action(p);
			continue;
		}
		t = peek(p);
		if (t->type != TOK_NEWLINE && t->type != TOK_SEMI && t->type != TOK_EOF &&
		    !is_kw(t, "end") && !is_kw(t, "rule")) {
			expected(p, t, "end of line or \";\" after the action", NULL);
			skip_action(p);
		}
	}
	p->nl = 0;
	return rc;
}

static int rule_new(struct parser *p, const struct rules_tok *kw, const char *name)
{
	struct ruleset *rs = p->cc->rs;
	struct rules_rule *r;

	if (rs->nrules == rs->rules_cap) {
		int cap = rs->rules_cap ? rs->rules_cap * 2 : 16;
		struct rules_rule *v = realloc(rs->rules, sizeof(*v) * (size_t)cap);
		if (!v) {
			p->cc->oom = 1;
			return -1;
		}
		rs->rules = v;
		rs->rules_cap = cap;
	}
	r = &rs->rules[rs->nrules];
	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	if (!r->name) {
		p->cc->oom = 1;
		return -1;
	}
	r->file = p->file;
	r->line = kw->line;
	r->col = kw->col;
	r->cond_root = -1;
	r->unless_root = -1;
	r->aux = -1;
	p->rule = rs->nrules++;
	return 0;
}

/* A condition after "if" or "unless"; the root node, or -1. */
static int parse_condition(struct parser *p)
{
	p->depth = 0;
	return parse_or(p);
}

/*
 * rule = "rule" STRING "when" trigger [ "if" condition ]
 *        [ "after" DURATION [ "unless" condition ] ] "then" actions "end"
 * Returns -1 when the caller must skip to the next rule.
 */
static int parse_rule(struct parser *p)
{
	const struct rules_tok *kw = next(p), *name = peek(p), *t;
	struct ruleset *rs = p->cc->rs;
	struct rules_rule *r;
	int ok = 1, first;

	if (name->type != TOK_STRING) {
		expected(p, name, "the rule's name in quotes after \"rule\"", NULL);
		return -1;
	}
	next(p);
	if (name->text[0] == '\0')
		error_at(p, name, "empty rule name");
	first = rules_names_find(&p->cc->rule_names, name->text);
	if (first >= 0)
		error_at(p, name, "duplicate rule name \"%s\"; first defined at %s:%d:%d",
		         name->text, rs->files[rs->rules[first].file], rs->rules[first].line,
		         rs->rules[first].col);
	if (rule_new(p, kw, name->text) < 0)
		return -1;
	if (first < 0 &&
	    rules_names_add(&p->cc->rule_names, rs->rules[p->rule].name, p->rule) < 0) {
		p->cc->oom = 1;
		return -1;
	}

	t = peek(p);
	if (!is_kw(t, "when")) {
		static const char *const when[] = {"when", NULL};
		expected(p, t, "\"when\" after the rule's name", when);
		return -1;
	}
	next(p);
	r = cur_rule(p);
	if (parse_trigger(p, &r->trig, &ok) < 0)
		return -1;
	r->trig_ok = ok;

	t = peek(p);
	if (is_kw(t, "if")) {
		next(p);
		r->cond_root = parse_condition(p);
		if (r->cond_root < 0)
			return -1;
		t = peek(p);
	}
	if (is_kw(t, "after")) {
		ok = 1;
		next(p);
		if (parse_duration(p, "after", &r->after, &ok) < 0)
			return -1;
		if (!ok)
			r->after = 1; /* reported; keeps the rule a delayed one */
		t = peek(p);
		if (is_kw(t, "unless")) {
			next(p);
			r->unless_root = parse_condition(p);
			if (r->unless_root < 0)
				return -1;
			t = peek(p);
		}
	}
	if (is_kw(t, "if") && r->after) {
		error_at(p, t, "\"if\" comes before \"after\" (when ... if ... after ... then)");
		return -1;
	}
	if (is_kw(t, "unless")) {
		error_at(p, t, "\"unless\" belongs to a delay: after DURATION unless CONDITION");
		return -1;
	}
	if (!is_kw(t, "then")) {
		static const char *const then[] = {"then", "if", "after", NULL};
		if (t->type == TOK_IDENT && in_list(t->text, action_words) >= 0)
			error_at(p, t, "missing \"then\" before the actions");
		else
			expected(p, t, "\"then\"", then);
		return -1;
	}
	return parse_actions(p, next(p));
}

/* After a syntax error: on to the next `rule`, or the end of the file. */
static void sync(struct parser *p)
{
	while (peek(p)->type != TOK_EOF && !is_kw(peek(p), "rule"))
		next(p);
}

static void lex_err(void *ctx, int line, int col, const char *msg)
{
	struct parser *p = ctx;

	rules_cc_diag(p->cc, p->file, line, col, 0, "%s", msg);
}

int rules_parse(struct rules_cc *cc, int file, const char *text, size_t len)
{
	static const char *const rule_word[] = {"rule", NULL};
	struct parser p = {.cc = cc, .file = file, .rule = -1};
	struct rules_toks toks;
	int rc;

	rc = rules_lex(text, len, lex_err, &p, &toks);
	if (rc < 0) {
		cc->oom = 1;
		return rc;
	}
	p.t = toks.v;
	while (!cc->oom) {
		const struct rules_tok *t = peek(&p);
		if (t->type == TOK_EOF)
			break;
		if (is_kw(t, "rule")) {
			if (parse_rule(&p) < 0)
				sync(&p);
			continue;
		}
		expected(&p, t, "\"rule\"", rule_word);
		next(&p);
		sync(&p);
	}
	rules_lex_free(&toks);
	return cc->oom ? -ENOMEM : 0;
}
