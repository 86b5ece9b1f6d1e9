/*
 * rules_lex.h: the lexer of the rule language (internal to rules/).
 *
 * The whole text is cut into tokens up front, so that the parser can look
 * ahead as far as it likes; later grammar (count ... within 2m >= 2) needs
 * more than one token of lookahead. Lexical errors are reported through a
 * callback and the lexer carries on, so that one pass finds every error.
 */
#ifndef SH_RULES_LEX_H
#define SH_RULES_LEX_H

#include <stddef.h>
#include <stdint.h>

enum rules_tok_type {
	TOK_EOF,
	TOK_NEWLINE, /* significant only between actions */
	TOK_SEMI,
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_IDENT,    /* keywords are identifiers; the parser tells them apart */
	TOK_STRING,   /* text is the decoded content */
	TOK_NUMBER,   /* num */
	TOK_DURATION, /* ms; 30s, 5m, 1h, 2d, 1h30m, 500ms */
	TOK_OP,       /* > >= < <= = == != (for count ... >= N) */
	TOK_TIME,     /* ms: time of day since midnight; 08:00, 22:30 */
};

struct rules_tok {
	enum rules_tok_type type;
	int line, col; /* 1-based; col counts bytes */
	/* NUL-terminated, owned by the token list: the name of an identifier,
	 * the decoded content of a string, the spelling of anything else. */
	const char *text;
	double num;
	int64_t ms; /* TOK_DURATION: the duration; TOK_TIME: ms since midnight */
};

struct rules_toks {
	struct rules_tok *v;
	int n; /* the last token is always TOK_EOF */
	char *arena;
};

typedef void (*rules_lex_err_fn)(void *ctx, int line, int col, const char *msg);

/* Cut text (len bytes, NUL bytes are errors) into tokens. Errors go through
 * err and never stop the lexer. Returns 0, or -ENOMEM (out is then empty).
 * Free the result with rules_lex_free(). */
int rules_lex(const char *text, size_t len, rules_lex_err_fn err, void *ctx,
              struct rules_toks *out);

void rules_lex_free(struct rules_toks *t);

/* A short human description of a token for "got ..." messages, e.g.
 * `"alarm"`, `string "abc"`, `end of line`. Returns buf. */
const char *rules_tok_describe(const struct rules_tok *t, char *buf, size_t size);

#endif
