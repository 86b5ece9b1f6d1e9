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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* host:port or [v6]:port, port 1..65535. */
int cfgl_listen_ok(const char *s)
{
	const char *colon, *host_end;
	char *end;
	long port;

	if (s[0] == '[') {
		host_end = strchr(s, ']');
		if (!host_end || host_end == s + 1 || host_end[1] != ':')
			return 0;
		colon = host_end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
			return 0;
	}
	if (!colon[1] || colon[1] == '-' || colon[1] == '+')
		return 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return !*end && !errno && port >= 1 && port <= 65535;
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
	char q[CFGL_QUOTE_BUF], list[512];

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

/* The number member key of obj, or NULL with *r set: 0 when absent and
 * optional, -1 when missing but required or not a number (reported, as
 * want). */
static const cJSON *num_member(struct cfgl *cl, const cJSON *obj, const char *key, int required,
                               const char *want, int *r)
{
	const cJSON *v = cfgl_member(obj, key);

	*r = -1;
	if (!v) {
		if (required)
			cfgl_missing(cl, obj, key, NULL);
		else
			*r = 0;
		return NULL;
	}
	if (!cJSON_IsNumber(v)) {
		cfgl_bad_type(cl, v, key, want);
		return NULL;
	}
	return v;
}

int cfgl_get_int(struct cfgl *cl, const cJSON *obj, const char *key, int required, long min,
                 long max, const char *unit, int *out)
{
	int r;
	const cJSON *v = num_member(cl, obj, key, required, "a whole number", &r);
	size_t old;

	if (!v)
		return r;
	r = -1;
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
	int r;
	const cJSON *v = num_member(cl, obj, key, required, "a number", &r);
	size_t old;

	if (!v)
		return r;
	r = -1;
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

/* ---- loading ---- */

int cfgl_read_file(const char *path, size_t max, char **buf, size_t *len, int *mode)
{
	char *b = NULL;
	size_t n = 0, cap = 0;
	struct stat st;
	int fd, r = 0;

	*buf = NULL;
	*len = 0;
	*mode = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The mode of what was opened (a symlink's target), for the secrets
	 * checks; a pipe or a device is not a file anyone else reads later. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		*mode = (int)(st.st_mode & 07777);
	else if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	/* Read to EOF rather than trusting st_size: the file may be a pipe
	 * or change while it is read. Stop one byte past the limit. */
	for (;;) {
		ssize_t got;

		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 16384;
			char *nb;
			if (ncap > max + 2)
				ncap = max + 2;
			nb = realloc(b, ncap);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			b = nb;
			cap = ncap;
		}
		got = read(fd, b + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max)
			break;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
out:
	close(fd);
	free(b);
	if (r < 0)
		*mode = -1;
	return r;
}

char *cfgl_file_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* An absolute, lexical directory: the daemon changes to / when it
 * detaches, so a relative one would change meaning. Symlinks are kept, so
 * that paths read as the installer wrote them. */
char *cfgl_absolute_dir(const char *dir)
{
	char *cwd, *out = NULL;

	if (dir[0] == '/')
		return strdup(dir);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	while (dir[0] == '.' && dir[1] == '/')
		dir += 2;
	if (strcmp(dir, ".") == 0 || !dir[0])
		return cwd;
	if (asprintf(&out, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", dir) < 0)
		out = NULL;
	free(cwd);
	return out;
}

/* cJSON reports only where it stopped; name the mistakes people make most
 * in hand-edited JSON. */
static void report_syntax(struct cfgl *cl, const char *text, const char *at, int near)
{
	const char *p = at, *comma = NULL;
	char snip[24], q[CFGL_QUOTE_BUF];
	size_t n = 0;
	int line, col;

	if (*p != '}' && *p != ']' && p > text && (p[-1] == '}' || p[-1] == ']'))
		p--;
	if (*p == '}' || *p == ']') {
		while (p > text && (unsigned char)p[-1] <= 32)
			p--;
		if (p > text && p[-1] == ',')
			comma = p - 1;
	}
	if (comma) {
		jsonpos_text_pos(text, comma, &line, &col);
		cfgl_report_pos(cl, 0, line, col, "invalid JSON: a comma before a closing bracket");
		return;
	}
	/* cJSON stops on the second character of a comment opener. */
	if (at > text && at[-1] == '/' && (at[0] == '/' || at[0] == '*'))
		at--;
	jsonpos_text_pos(text, at, &line, &col);
	if (at[0] == '/' && (at[1] == '/' || at[1] == '*')) {
		cfgl_report_pos(cl, 0, line, col, "invalid JSON: comments are not allowed");
		return;
	}
	if (!*at) {
		cfgl_report_pos(cl, 0, line, col, "invalid JSON: unexpected end of file");
		return;
	}
	if (!near) {
		cfgl_report_pos(cl, 0, line, col, "invalid JSON");
		return;
	}
	while (at[n] && at[n] != '\n' && at[n] != '\r' && n < sizeof(snip) - 1) {
		snip[n] = at[n];
		n++;
	}
	/* Never cut a UTF-8 sequence in half: the message must stay valid
	 * text for whoever reads it (a terminal, a log, a test harness). */
	if (at[n] && ((unsigned char)at[n] & 0xC0) == 0x80)
		while (n > 0 && ((unsigned char)snip[n - 1] & 0xC0) == 0x80)
			n--;
	if (n > 0 && at[n] && ((unsigned char)snip[n - 1] & 0xC0) == 0xC0)
		n--;
	snip[n] = '\0';
	cfgl_report_pos(cl, 0, line, col, "invalid JSON near %s", cfgl_quote(q, snip));
}

int cfgl_parse(struct cfgl *cl, const char *text, size_t len, size_t max, const char *size_hint,
               int near, cJSON **root)
{
	const char *end = NULL, *nul;
	int line, col;

	*root = NULL;
	if (len > max) {
		cfgl_report_pos(cl, 0, 0, 0, "too large: over %d MiB%s%s", (int)(max >> 20),
		                size_hint ? "; " : "", size_hint ? size_hint : "");
		return -1;
	}
	nul = memchr(text, '\0', len);
	if (nul) {
		jsonpos_text_pos(text, nul, &line, &col);
		cfgl_report_pos(cl, 0, line, col, "invalid JSON: a NUL byte; is this a text file?");
		return -1;
	}
	/* The end pointer is what cJSON_GetErrorPtr() would return, without
	 * cJSON's global error state. */
	*root = cJSON_ParseWithOpts(text, &end, 1);
	if (!*root) {
		report_syntax(cl, text, end ? end : text, near);
		return -1;
	}
	if (jsonpos_index(&cl->pos, text, *root) < 0)
		cl->oom = 1;
	return 0;
}

/* ---- broker lists ---- */

static int port_of(const char *s, int *port)
{
	char *end;
	long v;
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int cfgl_split_hostport(const char *s, int def_port, char *host, size_t size, int *port,
                        const char **why)
{
	const char *h = s, *colon;
	size_t n;

	*port = def_port;
	if (!*s) {
		*why = "an empty host";
		return -1;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == '@') {
			*why = "a host name has no spaces, '/' or '@' (write HOST or HOST:PORT)";
			return -1;
		}
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1) {
			*why = "an IPv6 address in brackets needs its ']' (write [ADDRESS]:PORT)";
			return -1;
		}
		h = s + 1;
		n = (size_t)(close - h);
		if (close[1] && (close[1] != ':' || port_of(close + 2, port) < 0)) {
			*why = "the port after ']' must be ':' and a number from 1 to 65535";
			return -1;
		}
	} else if ((colon = strchr(s, ':')) && strchr(colon + 1, ':')) {
		n = strlen(s); /* a bare IPv6 address: no port */
	} else if (colon) {
		n = (size_t)(colon - s);
		if (n == 0) {
			*why = "an empty host before ':'";
			return -1;
		}
		if (port_of(colon + 1, port) < 0) {
			*why = "the port after ':' must be a number from 1 to 65535";
			return -1;
		}
	} else {
		n = strlen(s);
	}
	if (memchr(h, '[', n) || memchr(h, ']', n)) {
		*why = "misplaced '[' or ']' (write [ADDRESS]:PORT for IPv6)";
		return -1;
	}
	if (n + 1 > size) {
		*why = "the host name is too long";
		return -1;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

void cfgl_addrs_free(struct cfgl_addr *a, int n)
{
	for (int i = 0; a && i < n; i++)
		free(a[i].host);
	free(a);
}

int cfgl_get_hosts(struct cfgl *cl, const cJSON *obj, int def_port, struct cfgl_addr **out)
{
	const cJSON *v = cfgl_member(obj, "hosts"), *e;
	struct cfgl_addr *a;
	char host[256], q[CFGL_QUOTE_BUF];
	const char *why;
	size_t old;
	int n = 0, i = 0, bad = 0;

	*out = NULL;
	if (!v)
		return 0;
	if (cfgl_member(obj, "host")) {
		cfgl_report_key(cl, 0, obj, "hosts", 1,
		                "give either \"host\" (one broker) or \"hosts\" (a cluster), not "
		                "both");
		bad = 1;
	}
	if (!cJSON_IsArray(v)) {
		cfgl_bad_type(cl, v, "hosts", "a list of \"HOST\" or \"HOST:PORT\" strings");
		return -1;
	}
	n = cJSON_GetArraySize(v);
	if (n < 1 || n > CFGL_HOSTS_MAX) {
		cfgl_report_key(cl, 0, obj, "hosts", 0, "lists %d broker(s); give 1 to %d", n,
		                CFGL_HOSTS_MAX);
		return -1;
	}
	a = calloc((size_t)n, sizeof(*a));
	if (!a) {
		cl->oom = 1;
		return -1;
	}
	old = cfgl_path_push_key(cl, "hosts");
	cJSON_ArrayForEach(e, v)
	{
		size_t o2 = cfgl_path_push_index(cl, i);
		int port;
		if (!cJSON_IsString(e)) {
			cfgl_bad_type(cl, e, NULL, "a string \"HOST\" or \"HOST:PORT\"");
			bad = 1;
		} else if (cfgl_split_hostport(e->valuestring, def_port, host, sizeof(host), &port,
		                               &why) < 0) {
			cfgl_report(cl, 0, e, 0, "%s: %s", cfgl_quote(q, e->valuestring), why);
			bad = 1;
		} else {
			for (int j = 0; j < i; j++)
				if (a[j].host && a[j].port == port &&
				    strcasecmp(a[j].host, host) == 0) {
					cfgl_report(
					    cl, 0, e, 0,
					    "%s names the same broker as hosts[%d]; each node once",
					    cfgl_quote(q, e->valuestring), j);
					bad = 1;
				}
			a[i].host = cfgl_sdup(cl, host);
			a[i].port = port;
		}
		cfgl_path_pop(cl, o2);
		i++;
	}
	cfgl_path_pop(cl, old);
	if (bad || cl->oom) {
		cfgl_addrs_free(a, n);
		return -1;
	}
	*out = a;
	return n;
}
