/*
 * jsonpos.h: where each value of a parsed JSON text starts (line, column).
 *
 * cJSON keeps no positions. Once it has accepted a text, jsonpos_index()
 * goes over the raw text and the tree in step and records where each value
 * and each object key starts, so that a message can name the line and
 * column of the offending value, or of its key. Positions are keyed by node
 * rather than by path so that a key given twice in one object can be
 * located too. Columns count characters, not bytes, as editors do.
 *
 * No I/O, no globals; used by the config loader (config.c).
 */
#ifndef SH_JSONPOS_H
#define SH_JSONPOS_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct jsonpos_node {
	const cJSON *node;
	int line, col;   /* where the value starts */
	int kline, kcol; /* where its key starts; 0 outside an object */
};

/* Zero-initialise; read only through the functions below. */
struct jsonpos {
	struct jsonpos_node *v;
	size_t n, cap;
};

/* Index text, which cJSON parsed (whole) into root. A mismatch between
 * text and tree only stops the indexing: nodes after it have no position.
 * Returns 0, or -ENOMEM (what was indexed before stays usable). */
int jsonpos_index(struct jsonpos *jp, const char *text, const cJSON *root);

/* The position of node, or NULL when it has none. Valid until
 * jsonpos_free(). */
const struct jsonpos_node *jsonpos_find(const struct jsonpos *jp, const cJSON *node);

void jsonpos_free(struct jsonpos *jp);

/* Line and column of a pointer into text (for cJSON's error position),
 * counted as jsonpos_index() does, after a UTF-8 byte order mark. */
void jsonpos_text_pos(const char *text, const char *at, int *line, int *col);

#endif
