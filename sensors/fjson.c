/*
 * fjson.c: JSON helpers shared by the payload families.
 */
#include "fjson.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* cJSON stops at CJSON_NESTING_LIMIT itself, which protects the stack; the
 * scan only gives such a message its own reason. */
static int depth_exceeds(const char *p, size_t len, int limit)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > limit)
				return 1;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct cJSON *fjson_parse(const void *payload, size_t len, enum family_reject *why)
{
	const char *p = payload, *end = NULL;
	cJSON *root;

	if (len > FAMILY_MAX_PAYLOAD) {
		*why = REJECT_TOO_LARGE;
		return NULL;
	}
	/* cJSON would stop at a NUL and accept the prefix before it. */
	if (len == 0 || memchr(p, 0, len)) {
		*why = REJECT_NOT_JSON;
		return NULL;
	}
	/* Exactly one value: cJSON accepts a valid prefix and ignores what
	 * follows ("{...} xyz"), which would let a corrupted frame through. */
	root = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	if (root) {
		while (end && end < p + len && blank(*end))
			end++;
		if (end && end == p + len)
			return root;
		cJSON_Delete(root);
	}
	/* Refused: too deep, wherever the nesting is, or else not JSON. A
	 * message nested deeper than the limit never parses (cJSON stops at
	 * the same depth), so scanning only here gives every message the
	 * reason a scan before the parse would, without a second pass over
	 * every good one. */
	*why = depth_exceeds(p, len, CJSON_NESTING_LIMIT) ? REJECT_TOO_DEEP : REJECT_NOT_JSON;
	return NULL;
}

struct cJSON *fjson_parse_object(const void *payload, size_t len, enum family_reject *why)
{
	cJSON *root = fjson_parse(payload, len, why);

	if (root && !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		*why = REJECT_NOT_OBJECT;
		return NULL;
	}
	return root;
}

void fjson_drop(struct family_drops *d, const char *field, enum family_reject why,
                const char *reason, const struct cJSON *it)
{
	if (d->count++ > 0)
		return;
	d->field = field;
	d->why = why;
	d->reason = reason;
	if (cJSON_IsNumber(it))
		snprintf(d->value, sizeof(d->value), "%.15g", it->valuedouble);
	else if (cJSON_IsString(it))
		snprintf(d->value, sizeof(d->value), "\"%.30s%s\"", it->valuestring,
		         strlen(it->valuestring) > 30 ? "..." : "");
	else if (cJSON_IsBool(it))
		snprintf(d->value, sizeof(d->value), "%s", cJSON_IsTrue(it) ? "true" : "false");
	else if (cJSON_IsArray(it))
		snprintf(d->value, sizeof(d->value), "an array");
	else if (cJSON_IsObject(it))
		snprintf(d->value, sizeof(d->value), "an object");
	else if (cJSON_IsNull(it))
		snprintf(d->value, sizeof(d->value), "null");
	else
		snprintf(d->value, sizeof(d->value), "?");
	/* It goes into the log: no control characters from a device. */
	for (char *c = d->value; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

int fjson_word(const void *payload, size_t len, char *word, size_t size)
{
	const char *p = payload;
	size_t b = 0, e = len;

	while (b < e && blank(p[b]))
		b++;
	while (e > b && blank(p[e - 1]))
		e--;
	if (e == b || e - b >= size)
		return -1;
	for (size_t i = b; i < e; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return -1;
	memcpy(word, p + b, e - b);
	word[e - b] = 0;
	return 0;
}

void fjson_values_init(struct fjson_values *vs)
{
	vs->n = 0;
	for (int i = 0; i < POINT__COUNT; i++)
		vs->at[i] = -1;
}

void fjson_put(struct fjson_values *vs, enum sh_point p, double value)
{
	if (vs->at[p] < 0) {
		vs->at[p] = vs->n++;
		vs->v[vs->at[p]].point = p;
	}
	vs->v[vs->at[p]].value = value;
}
