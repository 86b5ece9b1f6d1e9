/*
 * jsonpos.c: positions of the values of a parsed JSON text (jsonpos.h).
 */
#include "jsonpos.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct scan {
	const char *p;
	int line, col;
};

static void scan_advance(struct scan *s)
{
	unsigned char ch = (unsigned char)*s->p++;

	/* Columns count characters, not bytes, as editors do: Vietnamese
	 * names are multi-byte UTF-8. */
	if (ch == '\n') {
		s->line++;
		s->col = 1;
	} else if ((ch & 0xc0) != 0x80) {
		s->col++;
	}
}

static void scan_init(struct scan *s, const char *text)
{
	s->p = text;
	s->line = 1;
	s->col = 1;
	/* cJSON skips a UTF-8 byte order mark; editors do not show one. */
	/* strncmp, not memcmp: the text may be shorter than the mark. */
	if (strncmp(text, "\xef\xbb\xbf", 3) == 0)
		s->p += 3;
}

/* Whitespace as cJSON sees it: any byte up to the space. */
static void scan_skip_ws(struct scan *s)
{
	while (*s->p && (unsigned char)*s->p <= 32)
		scan_advance(s);
}

static void scan_skip_string(struct scan *s)
{
	scan_advance(s);
	while (*s->p && *s->p != '"') {
		if (*s->p == '\\' && s->p[1])
			scan_advance(s);
		scan_advance(s);
	}
	if (*s->p)
		scan_advance(s);
}

static int pos_add(struct jsonpos *jp, const cJSON *node, int line, int col, int kline, int kcol)
{
	if (jp->n == jp->cap) {
		size_t n = jp->cap ? jp->cap * 2 : 256;
		struct jsonpos_node *p = realloc(jp->v, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		jp->v = p;
		jp->cap = n;
	}
	jp->v[jp->n++] = (struct jsonpos_node){node, line, col, kline, kcol};
	return 0;
}

/* Walk text and tree in step. The text has been accepted by cJSON, so it
 * is well formed; a mismatch only stops the indexing (-1), and errors after
 * it are reported without a position. -ENOMEM: out of memory. */
static int pos_walk(struct jsonpos *jp, struct scan *s, const cJSON *node, int kline, int kcol)
{
	int rc;

	scan_skip_ws(s);
	if (!node)
		return -1;
	rc = pos_add(jp, node, s->line, s->col, kline, kcol);
	if (rc < 0)
		return rc;
	if (*s->p == '{' || *s->p == '[') {
		int obj = *s->p == '{';
		char close = obj ? '}' : ']';
		const cJSON *child = node->child;

		scan_advance(s);
		for (;;) {
			int kl = 0, kc = 0;

			scan_skip_ws(s);
			if (*s->p == close)
				break;
			if (obj) {
				kl = s->line;
				kc = s->col;
				scan_skip_string(s);
				scan_skip_ws(s);
				if (*s->p != ':')
					return -1;
				scan_advance(s);
			}
			rc = pos_walk(jp, s, child, kl, kc);
			if (rc < 0)
				return rc;
			child = child->next;
			scan_skip_ws(s);
			if (*s->p == ',')
				scan_advance(s);
			else if (*s->p != close)
				return -1;
		}
		scan_advance(s);
	} else if (*s->p == '"') {
		scan_skip_string(s);
	} else {
		/* numbers, true, false, null */
		while (*s->p && ((*s->p >= 'a' && *s->p <= 'z') || (*s->p >= '0' && *s->p <= '9') ||
		                 *s->p == 'E' || *s->p == '+' || *s->p == '-' || *s->p == '.'))
			scan_advance(s);
	}
	return 0;
}

static int pos_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct jsonpos_node *)a)->node;
	uintptr_t y = (uintptr_t)((const struct jsonpos_node *)b)->node;

	return x < y ? -1 : x > y;
}

int jsonpos_index(struct jsonpos *jp, const char *text, const cJSON *root)
{
	struct scan s;
	int rc;

	scan_init(&s, text);
	rc = pos_walk(jp, &s, root, 0, 0);
	if (jp->n)
		qsort(jp->v, jp->n, sizeof(*jp->v), pos_cmp);
	return rc == -ENOMEM ? -ENOMEM : 0;
}

const struct jsonpos_node *jsonpos_find(const struct jsonpos *jp, const cJSON *node)
{
	struct jsonpos_node key = {.node = node};

	if (!node || !jp->n)
		return NULL;
	return bsearch(&key, jp->v, jp->n, sizeof(*jp->v), pos_cmp);
}

void jsonpos_free(struct jsonpos *jp)
{
	free(jp->v);
	memset(jp, 0, sizeof(*jp));
}

void jsonpos_text_pos(const char *text, const char *at, int *line, int *col)
{
	struct scan s;

	scan_init(&s, text);
	if (at < s.p)
		at = s.p;
	while (s.p < at && *s.p)
		scan_advance(&s);
	*line = s.line;
	*col = s.col;
}
