/*
 * cfgload.c: the config loaders' shared core (cfgload.h).
 *
 * Taken from gateway/config.c, where these started, when the station's
 * loader (station/sconfig.c) had grown a copy of each: the messages are
 * part of the contract (tests compare them), so they must have one text.
 */
#include "common/cfgload.h"
#include "sensors/point.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

int cfgl_index_of(const char *const *names, const char *s)
{
	for (int i = 0; s && names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

char *cfgl_sdup(struct cfgl *cl, const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		cl->oom = 1;
	return d;
}

/* User text goes into one-line messages: escape what would break the line
 * and cut what would drown it. Stops on a character boundary. */
const char *cfgl_quote(char *buf, const char *s)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];
		/* Past CFGL_QUOTE_MAX, finish the UTF-8 sequence in hand (at
		 * most 3 continuation bytes), never a run of them: invalid
		 * UTF-8 can hold thousands (found by fuzz_config). */
		if (i >= CFGL_QUOTE_MAX && ((ch & 0xc0) != 0x80 || i >= CFGL_QUOTE_MAX + 3))
			break;
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch < 32 || ch == 127) {
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", ch);
		} else {
			buf[o++] = (char)ch;
		}
	}
	if (s[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *cfgl_join_names(char *buf, size_t size, const char *const *names)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; names && names[i] && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);
	return buf;
}

/* The rule for ids: a site id is part of every MQTT topic, and the
 * station takes exactly the ids a gateway can have. */
int cfgl_is_word(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '-')
			return 0;
	return 1;
}

const cJSON *cfgl_member(const cJSON *obj, const char *key)
{
	return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

const char *cfgl_type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "true/false";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	return "an object";
}

char *cfgl_join_path(struct cfgl *cl, const char *dir, const char *rel)
{
	char *out = NULL;
	size_t n = strlen(dir);

	if (rel[0] == '/')
		return cfgl_sdup(cl, rel);
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	if (asprintf(&out, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", rel) < 0) {
		cl->oom = 1;
		return NULL;
	}
	return out;
}

/* ---- JSON paths ---- */

void cfgl_path_append(struct cfgl *cl, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (cl->pathlen >= sizeof(cl->path) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(cl->path + cl->pathlen, sizeof(cl->path) - cl->pathlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	cl->pathlen += (size_t)n;
	if (cl->pathlen > sizeof(cl->path) - 1)
		cl->pathlen = sizeof(cl->path) - 1;
}

size_t cfgl_path_push_key(struct cfgl *cl, const char *key)
{
	size_t old = cl->pathlen;
	char q[CFGL_QUOTE_BUF];

	/* A key that is not a plain word is quoted, so that a stray space or
	 * newline in it is visible in the message. */
	if (cfgl_is_word(key))
		cfgl_path_append(cl, "%s%s", old ? "." : "", key);
	else
		cfgl_path_append(cl, "[%s]", cfgl_quote(q, key));
	return old;
}

size_t cfgl_path_push_index(struct cfgl *cl, int i)
{
	size_t old = cl->pathlen;

	cfgl_path_append(cl, "[%d]", i);
	return old;
}

void cfgl_path_pop(struct cfgl *cl, size_t old)
{
	cl->pathlen = old;
	cl->path[old] = '\0';
}

/* ---- diagnostics ----
 *
 * Collected in a diag_list (common/diag.h) and handed over sorted by
 * position when the load is done. A config is one file: every diagnostic
 * is file 0. */

void cfgl_vreport(struct cfgl *cl, int severity, int line, int col, const char *fmt, va_list ap)
{
	char *text = NULL, *msg = NULL;
	const char *sep = cl->pathlen ? ": " : "";
	int n;

	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	if (!text)
		n = -1;
	else if (line > 0)
		n = asprintf(&msg, "%s:%d:%d: %s%s%s", cl->name, line, col, cl->path, sep, text);
	else
		n = asprintf(&msg, "%s: %s%s%s", cl->name, cl->path, sep, text);
	free(text);
	/* counted even when it could not be kept: the load must fail */
	diag_add(&cl->diags, 0, line, col, severity, n < 0 ? NULL : msg);
	if (cl->diags.oom)
		cl->oom = 1;
}

void cfgl_report_pos(struct cfgl *cl, int severity, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfgl_vreport(cl, severity, line, col, fmt, ap);
	va_end(ap);
}

static void vreport_at(struct cfgl *cl, int severity, const cJSON *at, int at_key, const char *fmt,
                       va_list ap)
{
	const struct jsonpos_node *p = jsonpos_find(&cl->pos, at);
	int line = 0, col = 0;

	if (p) {
		line = at_key && p->kline ? p->kline : p->line;
		col = at_key && p->kline ? p->kcol : p->col;
	}
	cfgl_vreport(cl, severity, line, col, fmt, ap);
}

void cfgl_report(struct cfgl *cl, int severity, const cJSON *at, int at_key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport_at(cl, severity, at, at_key, fmt, ap);
	va_end(ap);
}

void cfgl_report_key(struct cfgl *cl, int severity, const cJSON *obj, const char *key, int at_key,
                     const char *fmt, ...)
{
	size_t old = cfgl_path_push_key(cl, key);
	va_list ap;

	va_start(ap, fmt);
	vreport_at(cl, severity, cfgl_member(obj, key), at_key, fmt, ap);
	va_end(ap);
	cfgl_path_pop(cl, old);
}

void cfgl_flush(struct cfgl *cl, diag_fn fn, void *ctx)
{
	diag_flush(&cl->diags, fn, ctx);
	if (cl->oom) {
		/* No allocation here: memory is what ran out. */
		char msg[PATH_MAX + 32];
		snprintf(msg, sizeof(msg), "%s: out of memory", cl->name);
		cl->diags.nerrors++;
		if (fn)
			fn(ctx, 0, msg);
	}
}

void cfgl_free(struct cfgl *cl)
{
	jsonpos_free(&cl->pos);
}

/* ---- typed members ---- */

void cfgl_missing(struct cfgl *cl, const cJSON *obj, const char *key, const char *why)
{
	cfgl_report(cl, 0, obj, 0, "missing required key \"%s\"%s%s", key, why ? ": " : "",
	            why ? why : "");
}

void cfgl_bad_type(struct cfgl *cl, const cJSON *v, const char *key, const char *want)
{
	size_t old = key ? cfgl_path_push_key(cl, key) : cl->pathlen;

	cfgl_report(cl, 0, v, 0, "expected %s, found %s", want, cfgl_type_name(v));
	cfgl_path_pop(cl, old);
}

void cfgl_check_keys(struct cfgl *cl, const cJSON *obj, const char *const *keys)
{
	const cJSON *seen[CFGL_KEYS_MAX] = {0};
	char q[CFGL_QUOTE_BUF], list[256];

	for (const cJSON *m = obj->child; m; m = m->next) {
		int k = cfgl_index_of(keys, m->string);
		size_t old;

		/* A key list longer than the table is a programming error;
		 * never write past it. */
		if (k >= CFGL_KEYS_MAX)
			k = -1;
		old = cfgl_path_push_key(cl, m->string);
		if (k < 0) {
			const char *hint = sh_suggest(m->string, keys);
			if (hint)
				cfgl_report(cl, 0, m, 1, "unknown key; did you mean %s?",
				            cfgl_quote(q, hint));
			else
				cfgl_report(cl, 0, m, 1, "unknown key; expected one of %s",
				            cfgl_join_names(list, sizeof(list), keys));
		} else if (seen[k]) {
			/* cJSON keeps both and lookups return the first, so the
			 * later one would be silently ignored. */
			const struct jsonpos_node *p = jsonpos_find(&cl->pos, seen[k]);
			cfgl_report(cl, 0, m, 1,
			            "key given twice; the first one, at line %d, would win",
			            p ? p->kline : 0);
		} else {
			seen[k] = m;
		}
		cfgl_path_pop(cl, old);
	}
}

int cfgl_str_member(struct cfgl *cl, const cJSON *obj, const char *key, int required,
                    const char **out)
{
	const cJSON *v = cfgl_member(obj, key);

	*out = NULL;
	if (!v) {
		if (required)
			cfgl_missing(cl, obj, key, NULL);
		return 0;
	}
	if (!cJSON_IsString(v)) {
		cfgl_bad_type(cl, v, key, "a string");
		return -1;
	}
	if (!v->valuestring[0]) {
		if (required)
			cfgl_report_key(cl, 0, obj, key, 0, "must not be empty");
		else
			cfgl_report_key(cl, 0, obj, key, 0,
			                "empty string; leave the key out to use the default");
		return -1;
	}
	*out = v->valuestring;
	return 1;
}

int cfgl_get_str(struct cfgl *cl, const cJSON *obj, const char *key, int required, const char *def,
                 size_t max, char **out)
{
	const char *s;
	int r = cfgl_str_member(cl, obj, key, required, &s);

	*out = NULL;
	if (r < 0 || (r == 0 && required))
		return -1;
	if (r && max && strlen(s) > max) {
		cfgl_report_key(cl, 0, obj, key, 0, "too long: %zu bytes, at most %zu", strlen(s),
		                max);
		return -1;
	}
	*out = cfgl_sdup(cl, r ? s : def);
	return 0;
}

int cfgl_get_int(struct cfgl *cl, const cJSON *obj, const char *key, int required, long min,
                 long max, const char *unit, int *out)
{
	const cJSON *v = cfgl_member(obj, key);
	size_t old;
	int r = -1;

	if (!v) {
		if (required)
			cfgl_missing(cl, obj, key, NULL);
		return required ? -1 : 0;
	}
	if (!cJSON_IsNumber(v)) {
		cfgl_bad_type(cl, v, key, "a whole number");
		return -1;
	}
	old = cfgl_path_push_key(cl, key);
	if (!isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble))
		cfgl_report(cl, 0, v, 0, "expected a whole number, found %g", v->valuedouble);
	else if (v->valuedouble < (double)min || v->valuedouble > (double)max) {
		if (max == INT_MAX)
			cfgl_report(cl, 0, v, 0, "%g is out of range: must be at least %ld%s%s",
			            v->valuedouble, min, unit ? " " : "", unit ? unit : "");
		else
			cfgl_report(cl, 0, v, 0, "%g is out of range: must be %ld to %ld%s%s",
			            v->valuedouble, min, max, unit ? " " : "", unit ? unit : "");
	} else {
		*out = (int)v->valuedouble;
		r = 0;
	}
	cfgl_path_pop(cl, old);
	return r;
}

int cfgl_get_double(struct cfgl *cl, const cJSON *obj, const char *key, int required, double min,
                    double max, double *out)
{
	const cJSON *v = cfgl_member(obj, key);
	size_t old;
	int r = -1;

	if (!v) {
		if (required)
			cfgl_missing(cl, obj, key, NULL);
		return required ? -1 : 0;
	}
	if (!cJSON_IsNumber(v)) {
		cfgl_bad_type(cl, v, key, "a number");
		return -1;
	}
	old = cfgl_path_push_key(cl, key);
	if (!isfinite(v->valuedouble) || v->valuedouble < min || v->valuedouble > max) {
		cfgl_report(cl, 0, v, 0, "%g is out of range: must be %g to %g", v->valuedouble,
		            min, max);
	} else {
		*out = v->valuedouble;
		r = 0;
	}
	cfgl_path_pop(cl, old);
	return r;
}

int cfgl_get_bool(struct cfgl *cl, const cJSON *obj, const char *key, int *out)
{
	const cJSON *v = cfgl_member(obj, key);

	if (!v)
		return 0;
	if (!cJSON_IsBool(v)) {
		cfgl_bad_type(cl, v, key, "true or false");
		return -1;
	}
	*out = cJSON_IsTrue(v);
	return 0;
}

int cfgl_get_enum(struct cfgl *cl, const cJSON *obj, const char *key, int required,
                  const char *const *names, const char *what, int *out)
{
	const char *s, *hint;
	char q[CFGL_QUOTE_BUF], h[CFGL_QUOTE_BUF], list[256];
	int r = cfgl_str_member(cl, obj, key, required, &s), i;

	if (r <= 0)
		return r == 0 && !required ? 0 : -1;
	i = cfgl_index_of(names, s);
	if (i >= 0) {
		*out = i;
		return 0;
	}
	hint = sh_suggest(s, names);
	if (hint)
		cfgl_report_key(cl, 0, obj, key, 0, "unknown %s %s; did you mean %s?", what,
		                cfgl_quote(q, s), cfgl_quote(h, hint));
	else
		cfgl_report_key(cl, 0, obj, key, 0, "unknown %s %s; expected one of %s", what,
		                cfgl_quote(q, s), cfgl_join_names(list, sizeof(list), names));
	return -1;
}

const cJSON *cfgl_get_obj(struct cfgl *cl, const cJSON *obj, const char *key, int required,
                          const char *why)
{
	const cJSON *v = cfgl_member(obj, key);

	if (!v) {
		if (required)
			cfgl_missing(cl, obj, key, why);
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		cfgl_bad_type(cl, v, key, "an object");
		return NULL;
	}
	return v;
}

const cJSON *cfgl_get_arr(struct cfgl *cl, const cJSON *obj, const char *key, int required)
{
	const cJSON *v = cfgl_member(obj, key);

	if (!v) {
		if (required)
			cfgl_missing(cl, obj, key, NULL);
		return NULL;
	}
	if (!cJSON_IsArray(v)) {
		cfgl_bad_type(cl, v, key, "an array");
		return NULL;
	}
	return v;
}

/* Ids appear in MQTT topics (the site), rule files and safehousectl
 * commands, and are copied into fixed buffers: keep them plain. */
int cfgl_get_id(struct cfgl *cl, const cJSON *obj, size_t max, const char *why, char **out)
{
	const char *s;
	char q[CFGL_QUOTE_BUF];

	*out = NULL;
	if (cfgl_str_member(cl, obj, "id", 1, &s) <= 0)
		return -1;
	if (strlen(s) < max && cfgl_is_word(s)) {
		*out = cfgl_sdup(cl, s);
		return 0;
	}
	cfgl_report_key(cl, 0, obj, "id", 0,
	                "invalid id %s: use 1 to %d letters, digits, '-' or '_'%s%s",
	                cfgl_quote(q, s), (int)max - 1, why ? ", " : "", why ? why : "");
	return -1;
}
