/*
 * rules_parse.c: the parser of the rule language. It resolves names against
 * the site as it goes and appends compiled rules to the rule set.
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

/* Words of the next language version: a clear message instead of "unknown". */
static const char *const later_words[] = {"for",   "after",  "unless", "count",  "every",
                                          "rises", "output", "set",    "notify", NULL};

/* Words that structure a rule: never a name, so never "unknown ...". */
static const char *const structure_words[] = {"rule",  "when",  "if",  "then",     "end",
                                              "and",   "or",    "not", "is",       "becomes",
                                              "above", "below", "in",  "priority", NULL};

static const char *const action_words[] = {"alarm", "fault", "supervisory", "siren", "alert", NULL};
static const char *const patterns[] = {"fire", "burglar", "emergency", NULL};
static const char *const priorities[] = {"low", "normal", "urgent", NULL};

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
	return t->type == TOK_IDENT &&
	       (in_list(t->text, structure_words) >= 0 || in_list(t->text, later_words) >= 0);
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

/* A word of the next language version: report it and return 1. */
static int later(struct parser *p, const struct rules_tok *t)
{
	if (t->type != TOK_IDENT || in_list(t->text, later_words) < 0)
		return 0;
	error_at(p, t, "\"%s\" is not available in version 1 of the rule language", t->text);
	return 1;
}

static int find_id(const char **ids, const char *s)
{
	for (int i = 0; ids && ids[i]; i++)
		if (strcmp(ids[i], s) == 0)
			return i;
	return -1;
}

/* Resolve a quoted id of what ("sensor", "zone", "contact"); -1 and an
 * error with a hint when the site has no such id. */
static int resolve(struct parser *p, const struct rules_tok *t, const char *what, const char **ids)
{
	char h[96] = "";
	int i = find_id(ids, t->text);

	if (i < 0)
		error_at(p, t, "unknown %s \"%s\"%s", what, t->text,
		         hint(t->text, (const char *const *)ids, h, sizeof(h)));
	return i;
}

static const struct config_sensor *sensor_at(struct parser *p, int i)
{
	return i >= 0 && p->cc->cfg && i < p->cc->cfg->nsensors ? &p->cc->cfg->sensors[i] : NULL;
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

/* "sensor" STRING / "zone" STRING after the keyword; -1 (after an error)
 * when the token is not a string, -2 when the id is unknown. */
static int parse_id(struct parser *p, const char *what, const char **ids)
{
	const struct rules_tok *t = peek(p);
	char buf[64];
	int i;

	if (t->type != TOK_STRING) {
		char desc[96];
		if (is_name(t))
			error_at(p, t, "expected a %s id in quotes, got %s (write %s \"%s\")", what,
			         rules_tok_describe(t, desc, sizeof(desc)), what, t->text);
		else {
			snprintf(buf, sizeof(buf), "a %s id in quotes", what);
			expected(p, t, buf, NULL);
		}
		return -1;
	}
	next(p);
	i = resolve(p, t, what, ids);
	return i < 0 ? -2 : i;
}

/*
 * selector = kind [ "in" "zone" STRING ] | "sensor" STRING | "zone" STRING
 *          | "any" "sensor"
 * Returns -1 on a syntax error; *ok is cleared when a name did not resolve.
 */
static int parse_selector(struct parser *p, struct rules_sel *sel, int *ok)
{
	const char *sel_words[KIND__COUNT + 4];
	const struct rules_tok *t = peek(p);
	char h[96] = "";
	int i;

	memset(sel, 0, sizeof(*sel));
	sel->kind = sel->sensor = sel->zone = -1;
	sel->line = t->line;
	sel->col = t->col;
	if (later(p, t))
		return -1;
	if (!is_name(t)) {
		expected(p, t, "a sensor kind, \"sensor\", \"zone\" or \"any sensor\"", NULL);
		return -1;
	}
	next(p);
	if (strcmp(t->text, "any") == 0) {
		sel->type = SEL_ANY;
		if (!is_kw(peek(p), "sensor")) {
			expected(p, peek(p), "\"sensor\" after \"any\"", NULL);
			return -1;
		}
		next(p);
		return 0;
	}
	if (strcmp(t->text, "sensor") == 0) {
		sel->type = SEL_SENSOR;
		i = parse_id(p, "sensor", p->cc->sensor_ids);
		if (i == -1)
			return -1;
		if (i < 0)
			*ok = 0;
		sel->sensor = i;
		return 0;
	}
	if (strcmp(t->text, "zone") == 0) {
		sel->type = SEL_ZONE;
		i = parse_id(p, "zone", p->cc->zone_ids);
		if (i == -1)
			return -1;
		if (i < 0)
			*ok = 0;
		sel->zone = i;
		return 0;
	}

	sel->type = SEL_KIND;
	sel->kind = sh_kind_from_name(t->text);
	if (sel->kind < 0) {
		int k;
		/* a typo may be of a kind or of the other selector words */
		for (k = 0; k < KIND__COUNT; k++)
			sel_words[k] = sh_kind_names[k];
		sel_words[k++] = "sensor";
		sel_words[k++] = "zone";
		sel_words[k++] = "any";
		sel_words[k] = NULL;
		error_at(p, t, "unknown kind \"%s\"%s", t->text,
		         hint(t->text, sel_words, h, sizeof(h)));
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
		i = parse_id(p, "zone", p->cc->zone_ids);
		if (i == -1)
			return -1;
		if (i < 0)
			*ok = 0;
		sel->zone = i;
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

/*
 * trigger = selector "becomes" state
 *         | selector [ point ] ( "above" | "below" ) number
 *           [ "clear" ( "below" | "above" ) number ]
 */
static int parse_trigger(struct parser *p, struct rules_trigger *trig, int *ok)
{
	static const char *const trig_words[] = {"becomes", "above", "below", NULL};
	const struct rules_tok *t = peek(p), *pt = NULL;
	int pi = -1;

	memset(trig, 0, sizeof(*trig));
	trig->point = POINT__COUNT;
	if (later(p, t))
		return -1;
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
		return 0;
	}

	if (is_kw(t, "above") || is_kw(t, "below")) {
		int above = is_kw(t, "above");
		next(p);
		trig->type = above ? TRIG_ABOVE : TRIG_BELOW;
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

	if (later(p, t))
		return -1;
	expected(p, t, pt ? "\"above\" or \"below\"" : "\"becomes\", \"above\" or \"below\"",
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

/*
 * primary = "(" condition ")" | "mode" "is" [ "not" ] mode
 *         | "sensor" STRING "is" [ "not" ] state
 * Returns the node index, or -1 on a syntax error. A name that does not
 * resolve still yields a node, so that parsing goes on.
 */
static int parse_primary(struct parser *p)
{
	static const char *const cond_words[] = {"mode", "sensor", "not", NULL};
	const struct rules_tok *t = peek(p);
	struct rules_cond c = {.a = -1, .b = -1, .sensor = -1};
	int negate = 0, n;
	char h[96] = "";

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
		if (!is_kw(peek(p), "is")) {
			expected(p, peek(p), "\"is\" after \"mode\"", NULL);
			return -1;
		}
		next(p);
		if (is_kw(peek(p), "not")) {
			next(p);
			negate = 1;
		}
		t = peek(p);
		if (!is_name(t)) {
			expected(p, t, "a mode (disarmed, armed_home, armed_night, armed_away)",
			         NULL);
			return -1;
		}
		next(p);
		c.op = COND_MODE;
		n = sh_mode_from_name(t->text);
		if (n < 0)
			error_at(p, t, "unknown mode \"%s\"%s", t->text,
			         hint(t->text, sh_mode_names, h, sizeof(h)));
		c.mode = n < 0 ? MODE_DISARMED : (enum sh_mode)n;
	} else if (is_kw(t, "sensor")) {
		const struct rules_tok *idt;
		const struct sh_state *st;
		const struct config_sensor *s;
		next(p);
		idt = peek(p);
		n = parse_id(p, "sensor", p->cc->sensor_ids);
		if (n == -1)
			return -1;
		if (!is_kw(peek(p), "is")) {
			expected(p, peek(p), "\"is\" after the sensor", NULL);
			return -1;
		}
		next(p);
		if (is_kw(peek(p), "not")) {
			next(p);
			negate = 1;
		}
		t = peek(p);
		if (parse_state(p, &st) < 0)
			return -1;
		c.op = COND_SENSOR_IS;
		c.sensor = n;
		c.point = POINT__COUNT;
		s = sensor_at(p, n);
		if (st && s) {
			c.point = st->point;
			c.value = st->value;
			if (c.point == POINT__COUNT)
				c.point = sh_kind_primary_point(s->kind);
			if (c.point == POINT__COUNT)
				error_at(p, t,
				         "sensor \"%s\" is a %s sensor: it has no \"%s\" state",
				         idt->text, sh_kind_name(s->kind), st->name);
		}
	} else {
		expected(p, t, "a condition (\"mode is\", \"sensor ... is\", \"not\" or \"(\")",
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

static int action_add(struct parser *p, const struct rules_action *a)
{
	struct rules_rule *r = cur_rule(p);

	if (r->nactions == r->actions_cap) {
		int cap = r->actions_cap ? r->actions_cap * 2 : 4;
		struct rules_action *v = realloc(r->actions, sizeof(*v) * (size_t)cap);
		if (!v) {
			p->cc->oom = 1;
			return -1;
		}
		r->actions = v;
		r->actions_cap = cap;
	}
	r->actions[r->nactions++] = *a;
	return 0;
}

/* An optional message string after alarm/fault/supervisory. */
static int parse_message(struct parser *p, struct rules_action *a)
{
	if (peek(p)->type != TOK_STRING)
		return 0;
	a->message = rules_cc_strdup(p->cc, next(p)->text);
	return a->message ? 0 : -1;
}

/* alert CONTACT... [priority low|normal|urgent] */
static int parse_alert(struct parser *p, const struct rules_tok *kw, struct rules_action *a)
{
	const struct rules_tok *t;
	char h[96] = "";
	int named = 0;

	a->type = RA_ALERT;
	a->priority = PRIO_DEFAULT;
	for (;;) {
		int i, dup = 0;
		t = peek(p);
		if (is_reserved(t))
			break;
		if (t->type != TOK_IDENT && t->type != TOK_STRING)
			break;
		next(p);
		named++;
		i = resolve(p, t, "contact", p->cc->contact_ids);
		if (i < 0)
			continue;
		for (int k = 0; k < a->ncontacts; k++)
			dup |= a->contacts[k] == i;
		if (dup) {
			warn_at(p, t, "contact \"%s\" is listed twice", t->text);
			continue;
		}
		if (a->ncontacts == RULES_MAX_CONTACTS) {
			error_at(p, t, "too many contacts in one alert (at most %d)",
			         RULES_MAX_CONTACTS);
			continue;
		}
		a->contacts[a->ncontacts++] = i;
	}
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
	/* an unknown contact has had its error already */
	if (named == 0)
		error_at(p, kw, "\"alert\" needs at least one contact, e.g. alert militia owner");
	return 0;
}

/*
 * action = "alarm" class [ STRING ] | "fault" [ STRING ]
 *        | "supervisory" [ STRING ] | "siren" ( "on" [ pattern ] | "off" )
 *        | "alert" contact { contact } [ "priority" priority ]
 * Returns -1 on a syntax error.
 */
static int parse_action(struct parser *p)
{
	const struct rules_tok *kw = peek(p), *t;
	struct rules_action a;
	char h[96] = "";
	int n;

	memset(&a, 0, sizeof(a));
	a.rule = p->rule;
	if (kw->type != TOK_IDENT) {
		expected(p, kw, "an action (alarm, fault, supervisory, siren, alert)", NULL);
		return -1;
	}
	if (later(p, kw))
		return -1;
	switch (in_list(kw->text, action_words)) {
	case 0: /* alarm */
		next(p);
		t = peek(p);
		if (!is_name(t)) {
			expected(p, t,
			         "an alarm class (fire, gas, panic, intrusion, tamper, "
			         "supervisory, fault)",
			         NULL);
			return -1;
		}
		next(p);
		a.type = RA_ALARM;
		n = sh_class_from_name(t->text);
		if (n < 0)
			error_at(p, t, "unknown alarm class \"%s\"%s", t->text,
			         hint(t->text, sh_class_names, h, sizeof(h)));
		a.cls = n < 0 ? ALARM_FIRE : (enum sh_alarm_class)n;
		if (parse_message(p, &a) < 0)
			return -1;
		break;
	case 1: /* fault */
	case 2: /* supervisory */
		next(p);
		a.type = RA_ALARM;
		a.cls = strcmp(kw->text, "fault") == 0 ? ALARM_FAULT : ALARM_SUPERVISORY;
		if (parse_message(p, &a) < 0)
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
		a.pattern = patterns[0];
		t = peek(p);
		if (later(p, t))
			return -1;
		if (is_name(t)) {
			next(p);
			n = in_list(t->text, patterns);
			if (n < 0)
				error_at(p, t,
				         "unknown siren pattern \"%s\"%s (patterns: fire, "
				         "burglar, emergency)",
				         t->text, hint(t->text, patterns, h, sizeof(h)));
			else
				a.pattern = patterns[n];
		}
		break;
	case 4: /* alert */
		next(p);
		if (parse_alert(p, kw, &a) < 0)
			return -1;
		break;
	default: {
		/* "ned" is more likely a broken "end" than an action */
		static const char *const words[] = {"alarm", "fault", "supervisory", "siren",
		                                    "alert", "end",   NULL};
		next(p);
		error_at(p, kw, "unknown action \"%s\"%s", kw->text,
		         hint(kw->text, words, h, sizeof(h)));
		return -1;
	}
	}
	return action_add(p, &a);
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
	p->rule = rs->nrules++;
	return 0;
}

/*
 * rule = "rule" STRING "when" trigger [ "if" condition ] "then" actions "end"
 * Returns -1 when the caller must skip to the next rule.
 */
static int parse_rule(struct parser *p)
{
	const struct rules_tok *kw = next(p), *name = peek(p), *t;
	struct ruleset *rs = p->cc->rs;
	struct rules_rule *r;
	int ok = 1;

	if (name->type != TOK_STRING) {
		expected(p, name, "the rule's name in quotes after \"rule\"", NULL);
		return -1;
	}
	next(p);
	if (name->text[0] == '\0')
		error_at(p, name, "empty rule name");
	for (int i = 0; i < rs->nrules; i++) {
		if (strcmp(rs->rules[i].name, name->text) == 0) {
			error_at(p, name, "duplicate rule name \"%s\"; first defined at %s:%d:%d",
			         name->text, rs->files[rs->rules[i].file], rs->rules[i].line,
			         rs->rules[i].col);
			break;
		}
	}
	if (rule_new(p, kw, name->text) < 0)
		return -1;

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
	if (later(p, t))
		return -1;
	if (is_kw(t, "if")) {
		next(p);
		p->depth = 0;
		r->cond_root = parse_or(p);
		if (r->cond_root < 0)
			return -1;
		t = peek(p);
		if (later(p, t))
			return -1;
	}
	if (!is_kw(t, "then")) {
		static const char *const then[] = {"then", "if", NULL};
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
