/*
 * fjson.h: JSON helpers shared by the payload families (zigbee2mqtt, tasmota, shelly, json).
 *
 * One place decides what a device's JSON message must be before a family
 * reads it (size, no embedded NUL, nesting, exactly one value), and how a
 * dropped field is described for the log, so the families refuse and report
 * alike.
 */
#ifndef SH_FJSON_H
#define SH_FJSON_H

#include <stddef.h>

#include "family.h"

struct cJSON;

/* Parse a whole message into one JSON value of any type. Returns the root
 * (the caller frees it with cJSON_Delete) or NULL with *why set:
 * REJECT_TOO_LARGE (above FAMILY_MAX_PAYLOAD), REJECT_NOT_JSON (empty, an
 * embedded NUL, a syntax error, or trailing bytes after the value) or
 * REJECT_TOO_DEEP. */
struct cJSON *fjson_parse(const void *payload, size_t len, enum family_reject *why);

/* Parse a whole message into an object. Returns the root (the caller frees
 * it with cJSON_Delete) or NULL with *why set: REJECT_TOO_LARGE (above
 * FAMILY_MAX_PAYLOAD), REJECT_NOT_JSON (empty, an embedded NUL, a syntax
 * error, or trailing bytes after the value), REJECT_TOO_DEEP or
 * REJECT_NOT_OBJECT. */
struct cJSON *fjson_parse_object(const void *payload, size_t len, enum family_reject *why);

/* Record a dropped field in d: counts it, and describes only the first one
 * (name, reason and its value shortened, control characters replaced).
 * field and reason must be static strings. */
void fjson_drop(struct family_drops *d, const char *field, enum family_reject why,
                const char *reason, const struct cJSON *it);

/* A plain word payload ("Online", "ON", "true") with surrounding blanks
 * removed, copied into word (NUL-terminated). Returns 0, or -1 when it is
 * empty, too long for size, or holds a NUL or a control character. */
int fjson_word(const void *payload, size_t len, char *word, size_t size);

/* The values of one message, one per point: a point set twice keeps the
 * last value (as JSON.parse does with a repeated key). */
struct fjson_values {
	struct sh_point_value v[FAMILY_MAX_VALUES];
	int at[POINT__COUNT]; /* index into v, or -1 */
	int n;
};

void fjson_values_init(struct fjson_values *vs);
void fjson_put(struct fjson_values *vs, enum sh_point p, double value);

#endif
