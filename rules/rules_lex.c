/*
 * rules_lex.c: the lexer of the rule language.
 */
#include "rules_lex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lexer {
	const char *s;
	size_t len, i;
	int line;
	size_t line_start;
	rules_lex_err_fn err;
	void *ctx;

	struct rules_tok *toks;
	size_t *offs; /* text offsets into the arena, fixed up at the end */
	int n, cap;

	char *arena;
	size_t alen, acap;
	int oom;
};

static void lex_error(struct lexer *lx, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void lex_error(struct lexer *lx, size_t at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lx->err)
		lx->err(lx->ctx, lx->line, (int)(at - lx->line_start) + 1, msg);
}

static int arena_put(struct lexer *lx, const char *p, size_t n)
{
	if (lx->alen + n + 1 > lx->acap) {
		size_t cap = lx->acap ? lx->acap : 256;
		char *a;
		while (cap < lx->alen + n + 1)
			cap *= 2;
		a = realloc(lx->arena, cap);
		if (!a) {
			lx->oom = 1;
			return -ENOMEM;
		}
		lx->arena = a;
		lx->acap = cap;
	}
	memcpy(lx->arena + lx->alen, p, n);
	lx->alen += n;
	return 0;
}

/* Start a token at byte offset at; its text begins at the arena's end. */
static struct rules_tok *tok_new(struct lexer *lx, enum rules_tok_type type, size_t at)
{
	struct rules_tok *t;

	if (lx->n == lx->cap) {
		int cap = lx->cap ? lx->cap * 2 : 64;
		struct rules_tok *v = realloc(lx->toks, sizeof(*v) * (size_t)cap);
		size_t *o;
		if (!v) {
			lx->oom = 1;
			return NULL;
		}
		lx->toks = v;
		o = realloc(lx->offs, sizeof(*o) * (size_t)cap);
		if (!o) {
			lx->oom = 1;
			return NULL;
		}
		lx->offs = o;
		lx->cap = cap;
	}
	t = &lx->toks[lx->n];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->line = lx->line;
	t->col = (int)(at - lx->line_start) + 1;
	lx->offs[lx->n] = lx->alen;
	lx->n++;
	return t;
}

/* Token whose text is its spelling s[at..at+n). */
static struct rules_tok *tok_spelled(struct lexer *lx, enum rules_tok_type type, size_t at,
                                     size_t n)
{
	struct rules_tok *t = tok_new(lx, type, at);

	if (!t || arena_put(lx, lx->s + at, n) < 0 || arena_put(lx, "", 1) < 0)
		return NULL;
	return t;
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_ident_char(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '-';
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int peekc(const struct lexer *lx, size_t k)
{
	return lx->i + k < lx->len ? (unsigned char)lx->s[lx->i + k] : -1;
}

/* Length of the UTF-8 sequence at s[i], 0 if it is not valid UTF-8. */
static size_t utf8_len(const char *s, size_t i, size_t len)
{
	const unsigned char *u = (const unsigned char *)s + i;
	size_t avail = len - i, n;
	unsigned cp;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		n = 2;
		cp = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		n = 3;
		cp = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		n = 4;
		cp = u[0] & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((u[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (u[k] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A string in quotes q. Single quotes are an error, but lexed as a string
 * so that the parser carries on as the writer meant. */
static void lex_string(struct lexer *lx, int q)
{
	size_t start = lx->i;
	int bad_utf8 = 0;
	struct rules_tok *t = tok_new(lx, TOK_STRING, start);

	if (!t)
		return;
	if (q == '\'')
		lex_error(lx, start, "strings use double quotes, not '");
	lx->i++; /* opening quote */
	for (;;) {
		int c = peekc(lx, 0);
		if (c < 0 || c == '\n') {
			/* Keep what we have: the parser can go on with the rest
			 * of the line instead of reporting follow-on errors. */
			if (q == '"')
				lex_error(lx, start,
				          "unterminated string (a string ends with \" "
				          "on the same line)");
			break;
		}
		if (c == q) {
			lx->i++;
			break;
		}
		if (c == '\\') {
			int e = peekc(lx, 1);
			if (e == '"' || e == '\\' || e == q) {
				char ch = (char)e;
				arena_put(lx, &ch, 1);
				lx->i += 2;
				continue;
			}
			if (e < 0 || e == '\n') {
				lx->i++;
				continue;
			}
			lex_error(lx, lx->i,
			          "unknown escape \"\\%c\" in string (only \\\" and \\\\)",
			          e >= 0x20 && e < 0x7f ? e : '?');
			lx->i++;
			continue;
		}
		if (c < 0x20 && c != '\t') {
			lex_error(lx, lx->i, "control character 0x%02x in string", (unsigned)c);
			lx->i++;
			continue;
		}
		if (c >= 0x80) {
			size_t n = utf8_len(lx->s, lx->i, lx->len);
			if (n == 0) {
				if (!bad_utf8)
					lex_error(lx, lx->i, "invalid UTF-8 in string");
				bad_utf8 = 1;
				lx->i++;
				continue;
			}
			arena_put(lx, lx->s + lx->i, n);
			lx->i += n;
			continue;
		}
		arena_put(lx, lx->s + lx->i, 1);
		lx->i++;
	}
	arena_put(lx, "", 1);
}

/* Value of a run of digits, or -1 when it has more than 15 of them. */
static int64_t digits_value(const char *s, size_t n)
{
	int64_t v = 0;

	if (n > 15)
		return -1;
	for (size_t k = 0; k < n; k++)
		v = v * 10 + (s[k] - '0');
	return v;
}

/* Parse a duration unit at s[i]; returns its length and sets *ms. */
static size_t duration_unit(const struct lexer *lx, size_t i, int64_t *ms)
{
	const char *s = lx->s;
	size_t left = lx->len - i;

	if (left >= 2 && s[i] == 'm' && s[i + 1] == 's') {
		*ms = 1;
		return 2;
	}
	switch (left ? s[i] : 0) {
	case 's':
		*ms = 1000;
		return 1;
	case 'm':
		*ms = 60 * 1000;
		return 1;
	case 'h':
		*ms = 3600 * 1000;
		return 1;
	case 'd':
		*ms = 86400 * 1000;
		return 1;
	default:
		return 0;
	}
}

/* A number (57, -3, 57.5) or a duration (30s, 1h30m). Anything glued to it
 * (57C, 1.5h) is one bad token: reported once, kept as a number so that the
 * parser does not trip over the remains. */
static void lex_number(struct lexer *lx)
{
	size_t start = lx->i, i = lx->i, int_start, int_len, frac_len = 0;
	int neg = 0, bad = 0;
	double num;
	int64_t ip, fp = 0;
	struct rules_tok *t;

	if (lx->s[i] == '-') {
		neg = 1;
		i++;
	}
	int_start = i;
	while (i < lx->len && is_digit((unsigned char)lx->s[i]))
		i++;
	int_len = i - int_start;
	if (i + 1 < lx->len && lx->s[i] == '.' && is_digit((unsigned char)lx->s[i + 1])) {
		size_t fs = ++i;
		while (i < lx->len && is_digit((unsigned char)lx->s[i]))
			i++;
		frac_len = i - fs;
		fp = digits_value(lx->s + fs, frac_len);
	}

	/* A time of day: H:MM or HH:MM, nothing glued to it. */
	if (!neg && frac_len == 0 && int_len >= 1 && int_len <= 2 && i + 2 < lx->len &&
	    lx->s[i] == ':' && is_digit((unsigned char)lx->s[i + 1]) &&
	    is_digit((unsigned char)lx->s[i + 2]) &&
	    (i + 3 >= lx->len || !is_ident_char((unsigned char)lx->s[i + 3]))) {
		int64_t h = digits_value(lx->s + int_start, int_len);
		int64_t m = digits_value(lx->s + i + 1, 2);
		if (h > 23 || m > 59)
			lex_error(lx, start, "invalid time \"%.*s\" (00:00 to 23:59)",
			          (int)(i + 3 - start), lx->s + start);
		t = tok_spelled(lx, TOK_TIME, start, i + 3 - start);
		if (t)
			t->ms = h > 23 || m > 59 ? 0 : (h * 60 + m) * 60000;
		lx->i = i + 3;
		return;
	}

	/* A duration: whole numbers, each with a unit, no sign. */
	if (!neg && frac_len == 0 && i < lx->len && is_alpha((unsigned char)lx->s[i])) {
		size_t j = int_start, k;
		int64_t total = 0, unit, v;
		int ok = 1;
		while (j < lx->len && is_digit((unsigned char)lx->s[j])) {
			k = j;
			while (k < lx->len && is_digit((unsigned char)lx->s[k]))
				k++;
			v = digits_value(lx->s + j, k - j);
			size_t ul = duration_unit(lx, k, &unit);
			/* 9 digits of days still fit; a sum of many may not */
			if (ul == 0 || v < 0 || k - j > 9 || total > INT64_MAX - v * unit) {
				ok = 0;
				break;
			}
			total += v * unit;
			j = k + ul;
		}
		if (ok && (j >= lx->len || !is_ident_char((unsigned char)lx->s[j]))) {
			t = tok_spelled(lx, TOK_DURATION, start, j - start);
			if (t)
				t->ms = total;
			lx->i = j;
			return;
		}
	}

	if (i < lx->len && (is_ident_char((unsigned char)lx->s[i]) || lx->s[i] == '.')) {
		while (i < lx->len && (is_ident_char((unsigned char)lx->s[i]) || lx->s[i] == '.'))
			i++;
		bad = 1;
	}
	/* Up to 15 digits the mantissa is exact and so is the power of ten:
	 * one division, correctly rounded, and no dependence on the locale's
	 * decimal point as strtod would have. */
	ip = digits_value(lx->s + int_start, int_len);
	if (bad) {
		lex_error(lx, start, "invalid number \"%.*s\"%s", (int)(i - start), lx->s + start,
		          (neg || frac_len) && is_alpha((unsigned char)lx->s[i - 1])
		              ? " (a duration is a whole positive number with a unit: 90s, 5m, "
		                "1h30m)"
		              : "");
	} else if (int_len + frac_len > 15) {
		lex_error(lx, start, "number \"%.*s\" has too many digits (at most 15)",
		          (int)(i - start), lx->s + start);
	}
	if (int_len + frac_len > 15) {
		num = 0;
	} else {
		double scale = 1;
		for (size_t k = 0; k < frac_len; k++)
			scale *= 10;
		num = (double)(ip * (int64_t)scale + fp) / scale;
	}
	t = tok_spelled(lx, TOK_NUMBER, start, i - start);
	if (t)
		t->num = neg ? -num : num;
	lx->i = i;
}

static int starts_token(const struct lexer *lx, size_t i)
{
	int c = (unsigned char)lx->s[i], d = i + 1 < lx->len ? (unsigned char)lx->s[i + 1] : -1;

	if (is_space(c) || c == '\n' || c == '#' || c == ';' || c == '(' || c == ')' || c == '"' ||
	    c == '\'' || is_alpha(c) || c == '_' || is_digit(c))
		return 1;
	if (c == '-' && is_digit(d))
		return 1;
	if (c == '<' || c == '>' || c == '=' || (c == '!' && d == '='))
		return 1;
	return 0;
}

/* Characters that cannot start a token. A run of them is one error. */
static void lex_stray(struct lexer *lx)
{
	size_t start = lx->i, i = lx->i;
	const char *hint = "";
	unsigned char c = (unsigned char)lx->s[i];

	int nchars = 0;
	size_t shown;

	while (i < lx->len && (i == start || !starts_token(lx, i))) {
		size_t n = utf8_len(lx->s, i, lx->len);
		i += n ? n : 1;
		nchars++;
	}
	shown = i - start;
	if (shown > 40) {
		shown = 40;
		while (shown > 0 && ((unsigned char)lx->s[start + shown] & 0xc0) == 0x80)
			shown--;
	}
	if (c == ',')
		hint = " (separate contacts with spaces)";
	else if (i - start >= 3 && (memcmp(lx->s + start, "\xe2\x80\x9c", 3) == 0 ||
	                            memcmp(lx->s + start, "\xe2\x80\x9d", 3) == 0))
		hint = " (use plain double quotes \")";
	else if (c >= 0x80)
		hint = " (identifiers are ASCII letters, digits, \"_\" and \"-\"; put other text "
		       "in quotes)";

	if (c < 0x20 || c == 0x7f)
		lex_error(lx, start, "stray character 0x%02x", c);
	else if (utf8_len(lx->s, start, lx->len) == 0)
		lex_error(lx, start, "stray byte 0x%02x (not UTF-8)", c);
	else
		lex_error(lx, start, "stray character%s \"%.*s\"%s", nchars > 1 ? "s" : "",
		          (int)shown, lx->s + start, hint);
	lx->i = i;
}

int rules_lex(const char *text, size_t len, rules_lex_err_fn err, void *ctx, struct rules_toks *out)
{
	struct lexer lx = {.s = text, .len = len, .line = 1, .err = err, .ctx = ctx};
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* A BOM is what some Windows editors put in front of UTF-8. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		lx.i = lx.line_start = 3;

	while (lx.i < lx.len && !lx.oom) {
		int c = (unsigned char)lx.s[lx.i];
		size_t at = lx.i;

		if (is_space(c)) {
			lx.i++;
		} else if (c == '\n') {
			/* Runs of blank lines are one separator. */
			if (lx.n > 0 && lx.toks[lx.n - 1].type != TOK_NEWLINE)
				tok_spelled(&lx, TOK_NEWLINE, at, 0);
			lx.i++;
			lx.line++;
			lx.line_start = lx.i;
		} else if (c == '#') {
			while (lx.i < lx.len && lx.s[lx.i] != '\n')
				lx.i++;
		} else if (c == ';') {
			tok_spelled(&lx, TOK_SEMI, at, 1);
			lx.i++;
		} else if (c == '(') {
			tok_spelled(&lx, TOK_LPAREN, at, 1);
			lx.i++;
		} else if (c == ')') {
			tok_spelled(&lx, TOK_RPAREN, at, 1);
			lx.i++;
		} else if (c == '"' || c == '\'') {
			lex_string(&lx, c);
		} else if (is_digit(c) || (c == '-' && is_digit(peekc(&lx, 1)))) {
			lex_number(&lx);
		} else if (is_alpha(c) || c == '_') {
			while (lx.i < lx.len && is_ident_char((unsigned char)lx.s[lx.i]))
				lx.i++;
			tok_spelled(&lx, TOK_IDENT, at, lx.i - at);
		} else if (c == '<' || c == '>' || c == '=' || (c == '!' && peekc(&lx, 1) == '=')) {
			size_t n = peekc(&lx, 1) == '=' ? 2 : 1;
			tok_spelled(&lx, TOK_OP, at, n);
			lx.i += n;
		} else {
			lex_stray(&lx);
		}
	}
	if (!lx.oom)
		tok_spelled(&lx, TOK_EOF, lx.i, 0);
	if (lx.oom) {
		rc = -ENOMEM;
		goto out;
	}
	for (int k = 0; k < lx.n; k++)
		lx.toks[k].text = lx.arena + lx.offs[k];
	out->v = lx.toks;
	out->n = lx.n;
	out->arena = lx.arena;
	lx.toks = NULL;
	lx.arena = NULL;
out:
	free(lx.offs);
	free(lx.toks);
	free(lx.arena);
	return rc;
}

void rules_lex_free(struct rules_toks *t)
{
	if (!t)
		return;
	free(t->v);
	free(t->arena);
	memset(t, 0, sizeof(*t));
}

/* At most max bytes of s, cut at a character boundary: messages are UTF-8. */
static int clip(const char *s, size_t max, const char **ellipsis)
{
	size_t n = strlen(s);

	*ellipsis = "";
	if (n <= max)
		return (int)n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	*ellipsis = "...";
	return (int)n;
}

const char *rules_tok_describe(const struct rules_tok *t, char *buf, size_t size)
{
	const char *more;
	int n = clip(t->text, 40, &more);

	switch (t->type) {
	case TOK_EOF:
		snprintf(buf, size, "end of file");
		break;
	case TOK_NEWLINE:
		snprintf(buf, size, "end of line");
		break;
	case TOK_STRING:
		snprintf(buf, size, "string \"%.*s%s\"", n, t->text, more);
		break;
	case TOK_NUMBER:
		snprintf(buf, size, "number %.*s%s", n, t->text, more);
		break;
	case TOK_DURATION:
		snprintf(buf, size, "duration %.*s%s", n, t->text, more);
		break;
	case TOK_TIME:
		snprintf(buf, size, "time %.*s%s", n, t->text, more);
		break;
	default:
		snprintf(buf, size, "\"%.*s%s\"", n, t->text, more);
		break;
	}
	return buf;
}
