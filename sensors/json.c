/*
 * json.c: the generic JSON payload family.
 *
 * For devices nobody wrote a decoder for: a DIY ESP32 sketch that publishes
 * {"smoke":{"alarm":true},"t":23.5}, or ESPHome, which publishes each entity
 * as a plain value on its own topic (esp/binary_sensor/smoke/state ON/OFF,
 * esp/sensor/temp/state 23.50) and its birth/will on esp/status. The config
 * says, per point, which topic, which field (a dotted path, or the whole
 * payload) and which values mean on and off. Outputs publish a configured
 * word (ESPHome switch: ON/OFF on esp/switch/NAME/command).
 */
#include "family.h"
#include "fjson.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits that keep a config honest and a decode cheap. */
#define JSON_PATH_MAX 128    /* bytes of a path as written */
#define JSON_SEGS_MAX 16     /* levels of a path */
#define JSON_INDEX_MAX 9999  /* an array index in a path */
#define JSON_WORD_MAX 64     /* bytes of an on/off/online/offline value */
#define JSON_WORDS_MAX 16    /* values in one on or off list */
#define JSON_PAYLOAD_OUT 200 /* bytes of payload_on/payload_off (outputs.c has 256) */
#define JSON_TOPIC_MAX 224   /* as config.c's TOPIC_LEN_MAX */

/* One level of a path: a key, or an array index when key is NULL. */
struct json_seg {
	char *key;
	int index;
};

struct json_point {
	enum sh_point point;
	int topic;  /* index into json_opts.topics */
	char *path; /* as written, for the log; NULL: the whole payload */
	struct json_seg *seg;
	int nseg;
	char **on, **off; /* NULL: the defaults */
	int non, noff;
	double scale, offset; /* numeric points: value * scale + offset */
};

struct json_opts {
	char *topics[FAMILY_MAX_TOPICS];
	int ntopics;
	int avail;              /* topic index of availability, -1: none */
	char *online, *offline; /* availability words */
	struct json_point *points;
	int npoints;
	char *payload_on, *payload_off; /* outputs */
};

/* What ESPHome, Tasmota and most sketches send for a binary state. Values
 * are compared as text (see value_text), so "1" is also the number 1 and
 * "true" also the boolean true. */
static const char *const default_on[] = {"ON", "on", "true", "1", NULL};
static const char *const default_off[] = {"OFF", "off", "false", "0", NULL};

static const char *const json_keys[] = {"points", "availability", "payload_on", "payload_off",
                                        NULL};
static const char *const point_keys[] = {"point", "topic", "path",   "on",
                                         "off",   "scale", "offset", NULL};
static const char *const avail_keys[] = {"topic", "online", "offline", NULL};

/* ---- values ---- */

/* A value as text, for comparing with on/off words: a string is its
 * content, a number its shortest form (1, 23.5), a boolean true/false.
 * Returns 0, or -1 for null, objects and arrays. */
static int value_text(const cJSON *it, char *buf, size_t size)
{
	if (cJSON_IsString(it)) {
		snprintf(buf, size, "%s", it->valuestring);
		return 0;
	}
	if (cJSON_IsNumber(it)) {
		snprintf(buf, size, "%.15g", it->valuedouble);
		return 0;
	}
	if (cJSON_IsBool(it)) {
		snprintf(buf, size, "%s", cJSON_IsTrue(it) ? "true" : "false");
		return 0;
	}
	return -1;
}

static int in_words(const char *s, char *const *list, int n, const char *const *defaults)
{
	if (!list) {
		for (int i = 0; defaults[i]; i++)
			if (strcmp(defaults[i], s) == 0)
				return 1;
		return 0;
	}
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

/* A number as a sketch may send it: a JSON number, or a string that is one
 * number and nothing else ("23.50"). */
static int as_number(const cJSON *it, double *x)
{
	char *end;

	if (cJSON_IsNumber(it)) {
		*x = it->valuedouble;
		return 0;
	}
	/* Digits, sign, point and exponent only: strtod would also take
	 * "nan", "inf" and hex, which no thermometer means. */
	if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) > JSON_WORD_MAX ||
	    it->valuestring[strspn(it->valuestring, "0123456789+-.eE")])
		return -1;
	errno = 0;
	*x = strtod(it->valuestring, &end);
	if (errno || end == it->valuestring || *end)
		return -1;
	return 0;
}

/* The range a reading can have; outside it the sensor is broken or the
 * mapping wrong, and the value is dropped. */
static void point_range(enum sh_point p, double *min, double *max)
{
	if (p == POINT_BATTERY) {
		*min = 0;
		*max = 100;
	} else {
		*min = -60;
		*max = 250;
	}
}

/* ---- decode ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Record a dropped value; only the first is described. name is the
 * point's path or name and lives as long as the binding. */
static void drop(struct family_drops *d, const char *name, enum family_reject why,
                 const char *reason, const cJSON *it)
{
	if (d->count++ > 0)
		return;
	d->field = name;
	d->why = why;
	d->reason = reason;
	if (cJSON_IsString(it))
		snprintf(d->value, sizeof(d->value), "\"%.30s%s\"", it->valuestring,
		         strlen(it->valuestring) > 30 ? "..." : "");
	else if (cJSON_IsArray(it))
		snprintf(d->value, sizeof(d->value), "an array");
	else if (cJSON_IsObject(it))
		snprintf(d->value, sizeof(d->value), "an object");
	else if (value_text(it, d->value, sizeof(d->value)) < 0)
		snprintf(d->value, sizeof(d->value), "?");
	/* It goes into the log: no control characters from a device. */
	for (char *c = d->value; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* The item a path names, or NULL when the message does not have it. */
static const cJSON *walk(const cJSON *root, const struct json_point *pt)
{
	const cJSON *it = root;
	for (int i = 0; i < pt->nseg && it; i++) {
		if (pt->seg[i].key)
			it = cJSON_IsObject(it)
			         ? cJSON_GetObjectItemCaseSensitive(it, pt->seg[i].key)
			         : NULL;
		else
			it = cJSON_IsArray(it) ? cJSON_GetArrayItem(it, pt->seg[i].index) : NULL;
	}
	return it;
}

/* One point's value. Returns 1 if it is good (even when it yields nothing,
 * like a panic button's release), 0 if it was dropped. */
static int decode_point(const struct json_point *pt, const cJSON *it, struct sh_point_value *out,
                        int *n, struct family_drops *d)
{
	const char *name = pt->path ? pt->path : sh_point_name(pt->point);
	/* One byte more than any on/off word: a longer value, cut here, still
	 * matches none. */
	char text[JSON_WORD_MAX + 2];
	double x, min, max;

	if (sh_point_is_numeric(pt->point)) {
		if (as_number(it, &x) < 0) {
			drop(d, name, REJECT_BAD_TYPE, "not a number", it);
			return 0;
		}
		x = x * pt->scale + pt->offset;
		point_range(pt->point, &min, &max);
		if (!isfinite(x) || x < min || x > max) {
			drop(d, name, REJECT_BAD_VALUE, "out of range", it);
			return 0;
		}
	} else {
		if (value_text(it, text, sizeof(text)) < 0) {
			drop(d, name, REJECT_BAD_TYPE, "not a plain value", it);
			return 0;
		}
		if (in_words(text, pt->on, pt->non, default_on))
			x = 1;
		else if (in_words(text, pt->off, pt->noff, default_off))
			x = 0;
		else {
			drop(d, name, REJECT_BAD_VALUE, "neither an on nor an off value", it);
			return 0;
		}
		/* A release is the end of a press, not an event. */
		if (pt->point == POINT_PANIC && x == 0)
			return 1;
	}
	out[*n].point = pt->point;
	out[*n].value = x;
	(*n)++;
	return 1;
}

static int decode_availability(const struct json_opts *o, const char *p, size_t len,
                               struct sh_point_value *out, int *n, enum family_reject *why,
                               struct family_drops *d)
{
	size_t b = 0, e = len;
	cJSON word = {0};
	char buf[JSON_WORD_MAX + 1];

	while (b < e && is_space(p[b]))
		b++;
	while (e > b && is_space(p[e - 1]))
		e--;
	if (e - b == strlen(o->online) && memcmp(p + b, o->online, e - b) == 0) {
		out[0].value = 1;
	} else if (e - b == strlen(o->offline) && memcmp(p + b, o->offline, e - b) == 0) {
		out[0].value = 0;
	} else {
		snprintf(buf, sizeof(buf), "%.*s", (int)(e - b), p + b);
		word.type = cJSON_String;
		word.valuestring = buf;
		drop(d, "availability", REJECT_BAD_VALUE, "neither the online nor the offline word",
		     &word);
		*why = REJECT_BAD_VALUE;
		return -1;
	}
	out[0].point = POINT_ONLINE;
	*n = 1;
	return 0;
}

static int json_decode(const struct family_binding *b, int which, const void *payload, size_t len,
                       struct sh_point_value *out, int *n, enum family_reject *why,
                       struct family_drops *drops)
{
	const struct json_opts *o = b->opts;
	const char *p = payload;
	cJSON *root = NULL, raw = {0};
	char text[JSON_WORD_MAX + 2]; /* as in decode_point */
	int have_text = 0;
	struct family_drops local;
	struct sh_point_value vals[FAMILY_MAX_VALUES];
	int nv = 0, usable = 0, rc = -1;
	enum family_reject missing = REJECT_NO_FIELDS;

	*n = 0;
	*why = REJECT_NONE;
	if (!drops)
		drops = &local;
	memset(drops, 0, sizeof(*drops));
	if (len > FAMILY_MAX_PAYLOAD) {
		*why = REJECT_TOO_LARGE;
		return -1;
	}
	if (!o || which < 0 || which >= o->ntopics) {
		*why = REJECT_UNKNOWN_TOPIC;
		return -1;
	}
	/* An embedded NUL is never a value; cJSON would stop at it. */
	if (len == 0 || memchr(p, 0, len)) {
		*why = len ? REJECT_NOT_JSON : REJECT_NO_FIELDS;
		return -1;
	}
	if (which == o->avail)
		return decode_availability(o, p, len, out, n, why, drops);
	/* Not JSON is fine here: a whole-payload point reads a plain word. */
	root = fjson_parse(p, len, why);
	if (!root && *why == REJECT_TOO_DEEP)
		return -1;
	*why = REJECT_NONE;
	for (int i = 0; i < o->npoints; i++) {
		const struct json_point *pt = &o->points[i];
		const cJSON *it;
		/* A point the config refused (only a --check config has
		 * one) reads nothing. */
		if (pt->topic != which || pt->point == POINT__COUNT)
			continue;
		if (pt->nseg == 0) {
			/* The whole payload: a JSON scalar, or a plain word
			 * (ON, online) that is not JSON at all. */
			if (root) {
				it = root;
			} else {
				size_t bb = 0, e = len;
				if (!have_text) {
					while (bb < e && is_space(p[bb]))
						bb++;
					while (e > bb && is_space(p[e - 1]))
						e--;
					if (e - bb > sizeof(text) - 1)
						e = bb + sizeof(text) - 1;
					memcpy(text, p + bb, e - bb);
					text[e - bb] = 0;
					raw.type = cJSON_String;
					raw.valuestring = text;
					have_text = 1;
				}
				it = &raw;
			}
		} else {
			if (!root) {
				missing = REJECT_NOT_JSON;
				continue;
			}
			if (!cJSON_IsObject(root) && !cJSON_IsArray(root)) {
				missing = REJECT_NOT_OBJECT;
				continue;
			}
			it = walk(root, pt);
		}
		/* An absent field says nothing; nor does null, which sketches
		 * send for a value they have not read yet. */
		if (!it || cJSON_IsNull(it))
			continue;
		usable += decode_point(pt, it, vals, &nv, drops);
	}
	if (!usable) {
		*why = drops->count ? drops->why : missing;
		goto out;
	}
	memcpy(out, vals, sizeof(vals[0]) * (size_t)nv);
	*n = nv;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

static int json_topics(const struct family_binding *b, char out[][256], int max)
{
	const struct json_opts *o = b->opts;
	int n = 0;

	if (!o) {
		if (!b->topic || max < 1)
			return 0;
		snprintf(out[0], 256, "%s", b->topic);
		return 1;
	}
	for (int i = 0; i < o->ntopics && n < max; i++)
		snprintf(out[n++], 256, "%s", o->topics[i]);
	return n;
}

static int json_encode_output(const struct family_binding *b, const struct family_output_cmd *cmd,
                              char *buf, size_t size)
{
	const struct json_opts *o = b->opts;
	const char *word = cmd->on ? (o && o->payload_on ? o->payload_on : "ON")
	                           : (o && o->payload_off ? o->payload_off : "OFF");
	int len = snprintf(buf, size, "%s", word);
	return len < 0 || (size_t)len >= size ? -1 : len;
}

/* ---- configure ---- */

struct conf {
	const struct cfg_report *cfg;
	struct family_binding *b;
	struct json_opts *o;
	int errors;
	int oom;
};

static void err(struct conf *c, const cJSON *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void err(struct conf *c, const cJSON *node, const char *key, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->cfg->report(c->cfg->ctx, 0, node, key, "%s", msg);
	c->errors++;
}

static char *dup_str(struct conf *c, const char *s)
{
	char *d = strdup(s);
	if (!d)
		c->oom = 1;
	return d;
}

/* Unknown and doubled keys of an object of ours (a point, availability). */
static void check_obj_keys(struct conf *c, const cJSON *obj, const char *base,
                           const char *const *keys)
{
	char key[96];

	for (const cJSON *m = obj->child; m; m = m->next) {
		int known = 0;
		snprintf(key, sizeof(key), "%s.%s", base, m->string);
		for (int i = 0; keys[i]; i++)
			if (strcmp(keys[i], m->string) == 0)
				known = 1;
		if (!known) {
			const char *hint = sh_suggest(m->string, keys);
			if (hint)
				err(c, m, key, "unknown key; did you mean \"%s\"?", hint);
			else
				err(c, m, key, "unknown key");
			continue;
		}
		for (const cJSON *e = obj->child; e != m; e = e->next)
			if (strcmp(e->string, m->string) == 0) {
				err(c, m, key, "key given twice; the first one would win");
				break;
			}
	}
}

/* The topic of a point or of availability, checked as config.c checks
 * mqtt.topic. Returns the string or NULL after reporting. */
static const char *topic_string(struct conf *c, const cJSON *t, const char *key)
{
	if (!cJSON_IsString(t) || !t->valuestring[0]) {
		err(c, t, key, "must be a non-empty string (an MQTT topic)");
		return NULL;
	}
	if (strpbrk(t->valuestring, "+#")) {
		err(c, t, key,
		    "MQTT wildcards ('+', '#') are not allowed: the topic names one device");
		return NULL;
	}
	if (strlen(t->valuestring) > JSON_TOPIC_MAX) {
		err(c, t, key, "too long: %zu bytes, at most %d", strlen(t->valuestring),
		    JSON_TOPIC_MAX);
		return NULL;
	}
	return t->valuestring;
}

/* The index of topic s among the device's topics, adding it if new.
 * Returns -1 after reporting when there would be too many. */
static int topic_index(struct conf *c, const char *s, const cJSON *node, const char *key)
{
	struct json_opts *o = c->o;

	for (int i = 0; i < o->ntopics; i++)
		if (strcmp(o->topics[i], s) == 0)
			return i;
	if (o->ntopics == FAMILY_MAX_TOPICS) {
		err(c, node, key,
		    "a device reads at most %d topics; this is one more (points may share a topic)",
		    FAMILY_MAX_TOPICS);
		return -1;
	}
	o->topics[o->ntopics] = dup_str(c, s);
	return o->topics[o->ntopics] ? o->ntopics++ : -1;
}

/* "smoke.alarm", "sensors[0].t", "[2]": keys separated by dots, array
 * indexes in brackets. Keys cannot hold '.', '[' or ']'. Returns 0, or -1
 * with *why set. */
static int parse_path(const char *s, struct json_seg *seg, int *nseg, const char **why)
{
	const char *p = s;
	int n = 0;

	*nseg = 0;
	if (!*s) {
		*why = "is empty; leave \"path\" out to read the whole payload";
		return -1;
	}
	if (strlen(s) > JSON_PATH_MAX) {
		*why = "is too long";
		return -1;
	}
	while (*p) {
		if (n == JSON_SEGS_MAX) {
			*why = "has too many levels";
			goto fail;
		}
		if (*p == '[') {
			char *end;
			long v;
			if (p[1] < '0' || p[1] > '9') {
				*why = "has a '[' without an index (write sensors[0])";
				goto fail;
			}
			errno = 0;
			v = strtol(p + 1, &end, 10);
			if (errno || *end != ']' || v > JSON_INDEX_MAX) {
				*why = "has a bad array index (write sensors[0], at most 9999)";
				goto fail;
			}
			seg[n].key = NULL;
			seg[n].index = (int)v;
			n++;
			p = end + 1;
		} else {
			size_t k = strcspn(p, ".[]");
			if (k == 0) {
				*why = "has an empty key (two dots, or a dot at an end)";
				goto fail;
			}
			seg[n].key = strndup(p, k);
			if (!seg[n].key) {
				*why = "out of memory";
				goto fail;
			}
			seg[n].index = 0;
			n++;
			p += k;
		}
		if (*p == '.') {
			p++;
			if (!*p || *p == '.' || *p == '[') {
				*why = "has an empty key (two dots, or a dot at an end)";
				goto fail;
			}
		} else if (*p && *p != '[') {
			*why = "has a ']' without a '['";
			goto fail;
		}
	}
	*nseg = n;
	return 0;
fail:
	for (int i = 0; i < n; i++)
		free(seg[i].key);
	return -1;
}

/* An on or off list: strings, numbers or booleans, compared as text. */
static int parse_words(struct conf *c, const cJSON *arr, const char *key, char ***out, int *n)
{
	const cJSON *e;
	char text[JSON_WORD_MAX + 2], ekey[112];
	int i = 0, bad = 0;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
		err(c, arr, key, "must be a non-empty list of values, e.g. [\"ALARM\"]");
		return -1;
	}
	if (cJSON_GetArraySize(arr) > JSON_WORDS_MAX) {
		err(c, arr, key, "at most %d values", JSON_WORDS_MAX);
		return -1;
	}
	*out = calloc((size_t)cJSON_GetArraySize(arr), sizeof(char *));
	if (!*out) {
		c->oom = 1;
		return -1;
	}
	cJSON_ArrayForEach(e, arr)
	{
		snprintf(ekey, sizeof(ekey), "%s[%d]", key, i);
		if (value_text(e, text, sizeof(text)) < 0) {
			err(c, e, ekey, "must be a string, a number or true/false");
			bad = 1;
		} else if (strlen(text) > JSON_WORD_MAX) {
			err(c, e, ekey, "too long: at most %d bytes", JSON_WORD_MAX);
			bad = 1;
		} else {
			(*out)[*n] = dup_str(c, text);
			if ((*out)[*n])
				(*n)++;
		}
		i++;
	}
	return bad ? -1 : 0;
}

static int is_alarm_point(enum sh_point p)
{
	for (int k = 0; k < KIND__COUNT; k++)
		if (sh_kind_primary_point((enum sh_kind)k) == p)
			return 1;
	return 0;
}

/* The kind whose main point p is (p is one). */
static enum sh_kind kind_of_point(enum sh_point p)
{
	for (int k = 0; k < KIND__COUNT; k++)
		if (sh_kind_primary_point((enum sh_kind)k) == p)
			return (enum sh_kind)k;
	return KIND_GENERIC;
}

static void configure_point(struct conf *c, const cJSON *pj, int idx, struct json_point *pt,
                            int *seen)
{
	char base[32], key[64];
	const cJSON *name, *topic, *path, *on, *off, *scale, *offset;
	const char *t;
	int p;

	snprintf(base, sizeof(base), "points[%d]", idx);
	pt->scale = 1;
	pt->topic = -1;
	if (!cJSON_IsObject(pj)) {
		err(c, pj, base, "must be an object such as {\"point\": \"detected\"}");
		return;
	}
	check_obj_keys(c, pj, base, point_keys);
	name = cJSON_GetObjectItemCaseSensitive(pj, "point");
	topic = cJSON_GetObjectItemCaseSensitive(pj, "topic");
	path = cJSON_GetObjectItemCaseSensitive(pj, "path");
	on = cJSON_GetObjectItemCaseSensitive(pj, "on");
	off = cJSON_GetObjectItemCaseSensitive(pj, "off");
	scale = cJSON_GetObjectItemCaseSensitive(pj, "scale");
	offset = cJSON_GetObjectItemCaseSensitive(pj, "offset");

	snprintf(key, sizeof(key), "%s.point", base);
	p = -1;
	if (!name) {
		err(c, pj, base, "missing required key \"point\" (e.g. \"detected\")");
	} else if (!cJSON_IsString(name)) {
		err(c, name, key, "must be a string: a point name such as \"detected\"");
	} else if (strcmp(name->valuestring, "detected") == 0) {
		p = sh_kind_primary_point(c->b->kind);
		if (p == POINT__COUNT) {
			err(c, name, key,
			    "a %s sensor has no main point to be \"detected\"; name the "
			    "point",
			    sh_kind_name(c->b->kind));
			p = -1;
		}
	} else {
		p = sh_point_from_name(name->valuestring);
		if (p < 0) {
			const char *names[POINT__COUNT + 2];
			const char *hint;
			names[0] = "detected";
			for (int k = 0; k < POINT__COUNT; k++)
				names[k + 1] = sh_point_name((enum sh_point)k);
			names[POINT__COUNT + 1] = NULL;
			hint = sh_suggest(name->valuestring, names);
			if (hint)
				err(c, name, key, "unknown point \"%.64s\"; did you mean \"%s\"?",
				    name->valuestring, hint);
			else
				err(c, name, key, "unknown point \"%.64s\"", name->valuestring);
		} else if (is_alarm_point(p) && p != (int)sh_kind_primary_point(c->b->kind) &&
		           p != POINT_CONTACT && p != POINT_PANIC) {
			/* Rules see a kind's main point as "detected"; another
			 * kind's alarm point on this sensor would be read and
			 * never raise anything. */
			err(c, name, key,
			    "a %s sensor does not report %s: rules would never see it; use "
			    "\"detected\" for its own alarm, or make it a %s sensor",
			    sh_kind_name(c->b->kind), name->valuestring,
			    sh_kind_name(kind_of_point((enum sh_point)p)));
			p = -1;
		}
	}
	if (p >= 0) {
		if (seen[p] >= 0) {
			err(c, name, key, "point %s is read twice (also by points[%d])",
			    sh_point_name((enum sh_point)p), seen[p]);
			p = -1;
		} else {
			seen[p] = idx;
		}
	}
	pt->point = p >= 0 ? (enum sh_point)p : POINT__COUNT;

	snprintf(key, sizeof(key), "%s.topic", base);
	t = topic ? topic_string(c, topic, key) : c->b->topic;
	if (t)
		pt->topic = topic_index(c, t, topic ? topic : name, key);

	snprintf(key, sizeof(key), "%s.path", base);
	if (path) {
		struct json_seg seg[JSON_SEGS_MAX];
		const char *why = NULL;
		if (!cJSON_IsString(path)) {
			err(c, path, key,
			    "must be a string such as \"smoke.alarm\" or \"sensors[0].t\"");
		} else if (parse_path(path->valuestring, seg, &pt->nseg, &why) < 0) {
			err(c, path, key, "\"%.64s\" %s", path->valuestring, why);
		} else {
			pt->seg = calloc((size_t)pt->nseg, sizeof(*seg));
			pt->path = dup_str(c, path->valuestring);
			if (pt->seg)
				memcpy(pt->seg, seg, sizeof(*seg) * (size_t)pt->nseg);
			else {
				for (int i = 0; i < pt->nseg; i++)
					free(seg[i].key);
				pt->nseg = 0;
				c->oom = 1;
			}
		}
	}

	if (p >= 0 && sh_point_is_numeric((enum sh_point)p)) {
		const cJSON *bad = on ? on : off;
		if (bad) {
			snprintf(key, sizeof(key), "%s.%s", base, bad == on ? "on" : "off");
			err(c, bad, key, "%s is a number; on/off values are for on/off points",
			    sh_point_name((enum sh_point)p));
		}
		snprintf(key, sizeof(key), "%s.scale", base);
		if (scale && (!cJSON_IsNumber(scale) || !isfinite(scale->valuedouble) ||
		              scale->valuedouble == 0))
			err(c, scale, key, "must be a number other than 0");
		else if (scale)
			pt->scale = scale->valuedouble;
		snprintf(key, sizeof(key), "%s.offset", base);
		if (offset && (!cJSON_IsNumber(offset) || !isfinite(offset->valuedouble)))
			err(c, offset, key, "must be a number");
		else if (offset)
			pt->offset = offset->valuedouble;
		return;
	}
	if (p < 0)
		return;
	if (scale || offset) {
		snprintf(key, sizeof(key), "%s.%s", base, scale ? "scale" : "offset");
		err(c, scale ? scale : offset, key,
		    "%s is an on/off point; scale and offset are for temperature and battery",
		    sh_point_name((enum sh_point)p));
	}
	snprintf(key, sizeof(key), "%s.on", base);
	if (on)
		parse_words(c, on, key, &pt->on, &pt->non);
	snprintf(key, sizeof(key), "%s.off", base);
	if (off)
		parse_words(c, off, key, &pt->off, &pt->noff);
	/* A value in both lists would always read as on: refuse it. */
	for (int i = 0; pt->on ? i < pt->non : default_on[i] != NULL; i++) {
		const char *w = pt->on ? pt->on[i] : default_on[i];
		if (in_words(w, pt->off, pt->noff, default_off)) {
			snprintf(key, sizeof(key), "%s.%s", base, on ? "on" : "off");
			err(c, on ? on : off, key, "\"%s\" is both an on and an off value%s", w,
			    on && off ? ""
			    : on      ? " (the default off list: give \"off\" too)"
			              : " (the default on list: give \"on\" too)");
		}
	}
}

static void configure_availability(struct conf *c, const cJSON *a)
{
	struct json_opts *o = c->o;
	const cJSON *topic, *on, *off;
	const char *t;

	if (!cJSON_IsObject(a)) {
		err(c, a, "availability",
		    "must be an object such as {\"topic\": \"esp-kitchen/status\"}");
		return;
	}
	check_obj_keys(c, a, "availability", avail_keys);
	topic = cJSON_GetObjectItemCaseSensitive(a, "topic");
	on = cJSON_GetObjectItemCaseSensitive(a, "online");
	off = cJSON_GetObjectItemCaseSensitive(a, "offline");
	if (!topic)
		err(c, a, "availability", "missing required key \"topic\"");
	else if ((t = topic_string(c, topic, "availability.topic"))) {
		for (int i = 0; i < o->npoints; i++)
			if (o->points[i].topic >= 0 &&
			    strcmp(o->topics[o->points[i].topic], t) == 0) {
				err(c, topic, "availability.topic",
				    "a point reads this topic; availability needs a topic of its "
				    "own");
				t = NULL;
				break;
			}
		if (t)
			o->avail = topic_index(c, t, topic, "availability.topic");
	}
	o->online = dup_str(c, "online");
	o->offline = dup_str(c, "offline");
	if (on &&
	    (!cJSON_IsString(on) || !on->valuestring[0] || strlen(on->valuestring) > JSON_WORD_MAX))
		err(c, on, "availability.online", "must be a non-empty string of at most %d bytes",
		    JSON_WORD_MAX);
	else if (on) {
		free(o->online);
		o->online = dup_str(c, on->valuestring);
	}
	if (off && (!cJSON_IsString(off) || !off->valuestring[0] ||
	            strlen(off->valuestring) > JSON_WORD_MAX))
		err(c, off, "availability.offline",
		    "must be a non-empty string of at most %d bytes", JSON_WORD_MAX);
	else if (off) {
		free(o->offline);
		o->offline = dup_str(c, off->valuestring);
	}
	if (o->online && o->offline && strcmp(o->online, o->offline) == 0)
		err(c, off ? off : on, off ? "availability.offline" : "availability.online",
		    "online and offline are the same word");
}

static void configure_sensor(struct conf *c, const cJSON *mqtt)
{
	const cJSON *points = cJSON_GetObjectItemCaseSensitive(mqtt, "points");
	const cJSON *avail = cJSON_GetObjectItemCaseSensitive(mqtt, "availability");
	const cJSON *pj;
	int seen[POINT__COUNT], i = 0, used = 0;

	for (int k = 0; k < POINT__COUNT; k++)
		seen[k] = -1;
	for (const char *const *k = (const char *const[]){"payload_on", "payload_off", NULL}; *k;
	     k++) {
		const cJSON *x = cJSON_GetObjectItemCaseSensitive(mqtt, *k);
		if (x)
			err(c, x, *k, "only an output publishes a payload; this is a sensor");
	}
	if (!points) {
		err(c, mqtt, "",
		    "missing required key \"points\": which values this sensor reads, e.g. "
		    "[{\"point\": \"detected\"}]");
		return;
	}
	if (!cJSON_IsArray(points) || cJSON_GetArraySize(points) == 0) {
		err(c, points, "points",
		    "must be a non-empty list such as [{\"point\": \"detected\"}]");
		return;
	}
	if (cJSON_GetArraySize(points) > POINT__COUNT) {
		err(c, points, "points", "at most %d points", POINT__COUNT);
		return;
	}
	c->o->points = calloc((size_t)cJSON_GetArraySize(points), sizeof(struct json_point));
	if (!c->o->points) {
		c->oom = 1;
		return;
	}
	/* The device's own topic is topic 0 when it is used, so that a
	 * payload step of a scenario (which speaks of "the" topic) reaches
	 * the points that read it. */
	if (c->b->topic)
		(void)topic_index(c, c->b->topic, mqtt, "topic");
	cJSON_ArrayForEach(pj, points)
	{
		configure_point(c, pj, i, &c->o->points[i], seen);
		c->o->npoints = ++i;
	}
	if (avail)
		configure_availability(c, avail);
	for (int k = 0; k < c->o->npoints; k++)
		if (c->o->points[k].topic == 0)
			used = 1;
	if (c->b->topic && !used && c->o->avail != 0 && !c->errors)
		err(c, cJSON_GetObjectItemCaseSensitive(mqtt, "topic"), "topic",
		    "no point reads this topic: give the point published here no \"topic\" of "
		    "its own");
}

static void configure_output(struct conf *c, const cJSON *mqtt)
{
	static const char *const sensor_only[] = {"points", "availability", NULL};
	static const char *const words[] = {"payload_on", "payload_off"};
	char **dst[] = {&c->o->payload_on, &c->o->payload_off};

	for (int i = 0; sensor_only[i]; i++) {
		const cJSON *x = cJSON_GetObjectItemCaseSensitive(mqtt, sensor_only[i]);
		if (x)
			err(c, x, sensor_only[i], "only a sensor reads %s; this is an output",
			    sensor_only[i]);
	}
	for (int i = 0; i < 2; i++) {
		const cJSON *x = cJSON_GetObjectItemCaseSensitive(mqtt, words[i]);
		if (!x)
			continue;
		if (!cJSON_IsString(x) || !x->valuestring[0] ||
		    strlen(x->valuestring) > JSON_PAYLOAD_OUT)
			err(c, x, words[i], "must be a non-empty string of at most %d bytes",
			    JSON_PAYLOAD_OUT);
		else
			*dst[i] = dup_str(c, x->valuestring);
	}
	if (c->o->payload_on && c->o->payload_off &&
	    strcmp(c->o->payload_on, c->o->payload_off) == 0)
		err(c, cJSON_GetObjectItemCaseSensitive(mqtt, "payload_off"), "payload_off",
		    "the same as payload_on: the device could not tell on from off");
}

static void json_free_opts(struct family_binding *b)
{
	struct json_opts *o = b->opts;

	if (!o)
		return;
	for (int i = 0; i < o->ntopics; i++)
		free(o->topics[i]);
	for (int i = 0; i < o->npoints; i++) {
		struct json_point *pt = &o->points[i];
		for (int k = 0; k < pt->nseg; k++)
			free(pt->seg[k].key);
		free(pt->seg);
		free(pt->path);
		for (int k = 0; k < pt->non; k++)
			free(pt->on[k]);
		for (int k = 0; k < pt->noff; k++)
			free(pt->off[k]);
		free(pt->on);
		free(pt->off);
	}
	free(o->points);
	free(o->online);
	free(o->offline);
	free(o->payload_on);
	free(o->payload_off);
	free(o);
	b->opts = NULL;
}

static int json_configure(struct family_binding *b, const struct cJSON *mqtt,
                          const struct cfg_report *cfg)
{
	struct conf c = {.cfg = cfg, .b = b};

	c.o = calloc(1, sizeof(*c.o));
	if (!c.o) {
		cfg->report(cfg->ctx, 0, mqtt, "", "out of memory");
		return -1;
	}
	c.o->avail = -1;
	b->opts = c.o;
	if (b->is_output)
		configure_output(&c, mqtt);
	else
		configure_sensor(&c, mqtt);
	if (c.oom)
		err(&c, mqtt, "", "out of memory");
	return c.errors ? -1 : 0;
}

const struct family family_json = {
    .name = "json",
    .keys = json_keys,
    .configure = json_configure,
    .free_opts = json_free_opts,
    .topics = json_topics,
    .decode = json_decode,
    .encode_output = json_encode_output,
};
