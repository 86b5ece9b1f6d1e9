/*
 * sconfig.c: load and validate the station's configuration (sconfig.h).
 *
 * The same contract as the gateway's loader (gateway/config.c): cJSON
 * parses, jsonpos.c says where each value and key starts, every check
 * reports and carries on, and the diagnostics come out sorted by position
 * as FILE:LINE:COL: json.path: message, so that `safehouse-station --check`
 * lists every mistake of a file in one run. Any error means no config.
 *
 * The small typed-member helpers follow config.c's (they are static
 * there); the station's file is small enough that it needs only these.
 */
#include "sconfig.h"
#include "sstore.h"
#include "common/diag.h"
#include "gateway/jsonpos.h"
#include "gateway/log.h"
#include "sensors/point.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A station config lists a district's houses: a few hundred kB at most. */
#define SCONFIG_MAX_SIZE (16 * 1024 * 1024)

#define JPATH_MAX 512
#define QUOTE_MAX 64
#define QUOTE_BUF (QUOTE_MAX * 4 + 16)
#define KEYS_MAX 16
/* Leave room in MQTT topics (PREFIX/SITE/alarm) for the site and suffix. */
#define PREFIX_MAX 160

enum { OPTIONAL = 0, REQUIRED = 1 };

static const char *const top_keys[] = {"broker", "database", "http",      "lost_contact_s",
                                       "groups", "sites",    "log_level", NULL};
static const char *const broker_keys[] = {"host",     "port",     "prefix",      "client_id",
                                          "username", "password", "keepalive_s", "tls",
                                          "cafile",   "certfile", "keyfile",     NULL};
static const char *const http_keys[] = {"listen",   "cert",           "key",
                                        "language", "session_idle_s", NULL};
static const char *const group_keys[] = {"id", "name", "lost_contact_s", NULL};
static const char *const site_keys[] = {"id", "name", "address", "phone", "geo", "group", NULL};
static const char *const geo_keys[] = {"lat", "lon", NULL};
static const char *const languages[] = {"vi", "en", NULL};
static const char *const log_levels[] = {"debug", "info", "notice", "warning", "error", NULL};

struct loader {
	const char *name; /* the file, as the user named it */
	const char *dir;  /* absolute, for relative paths */
	int mode;         /* the file's permission bits; -1: not a file */
	int oom;
	struct jsonpos pos;
	struct diag_list diags;
	char path[JPATH_MAX];
	size_t pathlen;
	struct sconfig *c;
};

/* ---- small helpers (as in gateway/config.c) ---- */

static int index_of(const char *const *names, const char *s)
{
	for (int i = 0; s && names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static char *sdup(struct loader *l, const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		l->oom = 1;
	return d;
}

/* User text in a one-line message: escaped and cut, on a character
 * boundary. */
static const char *quote(char *buf, const char *s)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i >= QUOTE_MAX && ((ch & 0xc0) != 0x80 || i >= QUOTE_MAX + 3))
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

static const char *join_names(char *buf, size_t size, const char *const *names)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; names && names[i] && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);
	return buf;
}

/* The gateway's rule for ids (config.c is_word): a site id is part of
 * every topic the gateway publishes, so the station takes exactly the ids
 * a gateway can have. */
static int is_word(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '-')
			return 0;
	return 1;
}

static void path_append(struct loader *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void path_append(struct loader *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->pathlen >= sizeof(l->path) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->path + l->pathlen, sizeof(l->path) - l->pathlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	l->pathlen += (size_t)n;
	if (l->pathlen > sizeof(l->path) - 1)
		l->pathlen = sizeof(l->path) - 1;
}

static size_t path_push_key(struct loader *l, const char *key)
{
	size_t old = l->pathlen;
	char q[QUOTE_BUF];

	if (is_word(key))
		path_append(l, "%s%s", old ? "." : "", key);
	else
		path_append(l, "[%s]", quote(q, key));
	return old;
}

static size_t path_push_index(struct loader *l, int i)
{
	size_t old = l->pathlen;

	path_append(l, "[%d]", i);
	return old;
}

static void path_pop(struct loader *l, size_t old)
{
	l->pathlen = old;
	l->path[old] = '\0';
}

/* ---- diagnostics ---- */

static void vreport(struct loader *l, int line, int col, const char *fmt, va_list ap)
{
	char *text = NULL, *msg = NULL;
	const char *sep = l->pathlen ? ": " : "";
	int n;

	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	if (!text)
		n = -1;
	else if (line > 0)
		n = asprintf(&msg, "%s:%d:%d: %s%s%s", l->name, line, col, l->path, sep, text);
	else
		n = asprintf(&msg, "%s: %s%s%s", l->name, l->path, sep, text);
	free(text);
	diag_add(&l->diags, 0, line, col, 0, n < 0 ? NULL : msg);
	if (l->diags.oom)
		l->oom = 1;
}

static void report_pos(struct loader *l, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report_pos(struct loader *l, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(l, line, col, fmt, ap);
	va_end(ap);
}

/* An error at a node: where its value starts, or its key with at_key. */
static void report(struct loader *l, const cJSON *at, int at_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(struct loader *l, const cJSON *at, int at_key, const char *fmt, ...)
{
	const struct jsonpos_node *p = jsonpos_find(&l->pos, at);
	int line = 0, col = 0;
	va_list ap;

	if (p) {
		line = at_key && p->kline ? p->kline : p->line;
		col = at_key && p->kline ? p->kcol : p->col;
	}
	va_start(ap, fmt);
	vreport(l, line, col, fmt, ap);
	va_end(ap);
}

/* A report about key of obj, with key in the path. */
#define report_key(l, obj, key, at_key, ...)                                                       \
	do {                                                                                       \
		size_t old_ = path_push_key((l), (key));                                           \
		report((l), member((obj), (key)), (at_key), __VA_ARGS__);                          \
		path_pop((l), old_);                                                               \
	} while (0)

static void print_diag(void *ctx, int severity, const char *msg)
{
	(void)severity;
	if (ctx)
		fprintf(ctx, "%s\n", msg);
}

/* ---- typed members ---- */

static const cJSON *member(const cJSON *obj, const char *key)
{
	return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *type_name(const cJSON *v)
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

static void bad_type(struct loader *l, const cJSON *obj, const char *key, const char *want)
{
	report_key(l, obj, key, 0, "expected %s, found %s", want, type_name(member(obj, key)));
}

static void missing(struct loader *l, const cJSON *obj, const char *key)
{
	report(l, obj, 0, "missing required key \"%s\"", key);
}

static void check_keys(struct loader *l, const cJSON *obj, const char *const *keys)
{
	const cJSON *seen[KEYS_MAX] = {0};
	char q[QUOTE_BUF], list[256];

	for (const cJSON *m = obj->child; m; m = m->next) {
		int k = index_of(keys, m->string);
		size_t old = path_push_key(l, m->string);

		if (k >= KEYS_MAX)
			k = -1;
		if (k < 0) {
			const char *hint = sh_suggest(m->string, keys);
			if (hint)
				report(l, m, 1, "unknown key; did you mean %s?", quote(q, hint));
			else
				report(l, m, 1, "unknown key; expected one of %s",
				       join_names(list, sizeof(list), keys));
		} else if (seen[k]) {
			const struct jsonpos_node *p = jsonpos_find(&l->pos, seen[k]);
			report(l, m, 1, "key given twice; the first one, at line %d, would win",
			       p ? p->kline : 0);
		} else {
			seen[k] = m;
		}
		path_pop(l, old);
	}
}

/* A non-empty string member: 1 with *out into the tree, 0 absent (a
 * missing required key is reported), -1 after reporting. */
static int str_member(struct loader *l, const cJSON *obj, const char *key, int required,
                      const char **out)
{
	const cJSON *v = member(obj, key);

	*out = NULL;
	if (!v) {
		if (required)
			missing(l, obj, key);
		return 0;
	}
	if (!cJSON_IsString(v)) {
		bad_type(l, obj, key, "a string");
		return -1;
	}
	if (!v->valuestring[0]) {
		if (required)
			report_key(l, obj, key, 0, "must not be empty");
		else
			report_key(l, obj, key, 0,
			           "empty string; leave the key out to use the default");
		return -1;
	}
	*out = v->valuestring;
	return 1;
}

/* A string of at most max bytes (0: any), copied; def when absent. */
static int get_str(struct loader *l, const cJSON *obj, const char *key, int required,
                   const char *def, size_t max, char **out)
{
	const char *s;
	int r = str_member(l, obj, key, required, &s);

	*out = NULL;
	if (r < 0 || (r == 0 && required))
		return -1;
	if (r && max && strlen(s) > max) {
		report_key(l, obj, key, 0, "too long: %zu bytes, at most %zu", strlen(s), max);
		return -1;
	}
	*out = sdup(l, r ? s : def);
	return 0;
}

static int get_int(struct loader *l, const cJSON *obj, const char *key, long min, long max,
                   const char *unit, int *out)
{
	const cJSON *v = member(obj, key);

	if (!v)
		return 0;
	if (!cJSON_IsNumber(v)) {
		bad_type(l, obj, key, "a whole number");
		return -1;
	}
	if (!isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble)) {
		report_key(l, obj, key, 0, "expected a whole number, found %g", v->valuedouble);
		return -1;
	}
	if (v->valuedouble < (double)min || v->valuedouble > (double)max) {
		report_key(l, obj, key, 0, "%g is out of range: must be %ld to %ld%s%s",
		           v->valuedouble, min, max, unit ? " " : "", unit ? unit : "");
		return -1;
	}
	*out = (int)v->valuedouble;
	return 0;
}

static int get_double(struct loader *l, const cJSON *obj, const char *key, double min, double max,
                      double *out)
{
	const cJSON *v = member(obj, key);

	if (!v) {
		missing(l, obj, key);
		return -1;
	}
	if (!cJSON_IsNumber(v)) {
		bad_type(l, obj, key, "a number");
		return -1;
	}
	if (!isfinite(v->valuedouble) || v->valuedouble < min || v->valuedouble > max) {
		report_key(l, obj, key, 0, "%g is out of range: must be %g to %g", v->valuedouble,
		           min, max);
		return -1;
	}
	*out = v->valuedouble;
	return 0;
}

static int get_bool(struct loader *l, const cJSON *obj, const char *key, int *out)
{
	const cJSON *v = member(obj, key);

	if (!v)
		return 0;
	if (!cJSON_IsBool(v)) {
		bad_type(l, obj, key, "true or false");
		return -1;
	}
	*out = cJSON_IsTrue(v);
	return 0;
}

/* One word of names, copied into *out (def when absent). */
static int get_enum(struct loader *l, const cJSON *obj, const char *key, const char *const *names,
                    const char *what, const char *def, char **out)
{
	const char *s, *hint;
	char q[QUOTE_BUF], h[QUOTE_BUF], list[256];
	int r = str_member(l, obj, key, OPTIONAL, &s);

	if (r < 0)
		return -1;
	if (r == 0) {
		*out = sdup(l, def);
		return 0;
	}
	if (index_of(names, s) >= 0) {
		*out = sdup(l, s);
		return 0;
	}
	hint = sh_suggest(s, names);
	if (hint)
		report_key(l, obj, key, 0, "unknown %s %s; did you mean %s?", what, quote(q, s),
		           quote(h, hint));
	else
		report_key(l, obj, key, 0, "unknown %s %s; expected one of %s", what, quote(q, s),
		           join_names(list, sizeof(list), names));
	return -1;
}

static const cJSON *get_obj(struct loader *l, const cJSON *obj, const char *key, int required)
{
	const cJSON *v = member(obj, key);

	if (!v) {
		if (required)
			missing(l, obj, key);
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		bad_type(l, obj, key, "an object");
		return NULL;
	}
	return v;
}

static const cJSON *get_arr(struct loader *l, const cJSON *obj, const char *key)
{
	const cJSON *v = member(obj, key);

	if (v && !cJSON_IsArray(v)) {
		bad_type(l, obj, key, "an array");
		return NULL;
	}
	return v;
}

static int get_id(struct loader *l, const cJSON *obj, const char *why, char **out)
{
	const char *s;
	char q[QUOTE_BUF];

	*out = NULL;
	if (str_member(l, obj, "id", REQUIRED, &s) <= 0)
		return -1;
	if (strlen(s) < SSTORE_ID_MAX && is_word(s)) {
		*out = sdup(l, s);
		return 0;
	}
	report_key(l, obj, "id", 0, "invalid id %s: use 1 to %d letters, digits, '-' or '_', %s",
	           quote(q, s), SSTORE_ID_MAX - 1, why);
	return -1;
}

static char *join_path(struct loader *l, const char *rel)
{
	char *out = NULL;
	size_t n = strlen(l->dir);

	if (rel[0] == '/')
		return sdup(l, rel);
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	if (asprintf(&out, "%s%s%s", l->dir, n && l->dir[n - 1] == '/' ? "" : "/", rel) < 0) {
		l->oom = 1;
		return NULL;
	}
	return out;
}

/* A file the station reads (a certificate, a CA): made absolute, and it
 * must be readable now, not at the first connection. A private key must
 * also be for the station's eyes only: whoever reads it can be the station. */
static int get_file(struct loader *l, const cJSON *obj, const char *key, int private_key,
                    char **out)
{
	const char *s;
	struct stat st;
	int r = str_member(l, obj, key, OPTIONAL, &s);

	*out = NULL;
	if (r <= 0)
		return r;
	*out = join_path(l, s);
	if (!*out)
		return -1;
	if (access(*out, R_OK) < 0 || stat(*out, &st) < 0) {
		report_key(l, obj, key, 0, "cannot read %s: %s", *out, strerror(errno));
		return -1;
	}
	if (private_key && (st.st_mode & 077)) {
		report_key(l, obj, key, 0,
		           "%s is a private key but is %s by group or others (mode %04o); "
		           "run chmod 600 %s (owned by the user the station runs as)",
		           *out, st.st_mode & 044 ? "readable" : "writable",
		           (unsigned)(st.st_mode & 07777), *out);
		return -1;
	}
	return 1;
}

/* Both of a certificate and its key, or neither. */
static void cert_pair(struct loader *l, const cJSON *obj, const char *ck, const char *kk,
                      char **cert, char **key)
{
	const cJSON *c = member(obj, ck), *k = member(obj, kk);

	get_file(l, obj, ck, 0, cert);
	get_file(l, obj, kk, 1, key);
	if (!c != !k)
		report_key(l, obj, c ? ck : kk, 1, "a certificate needs both \"%s\" and \"%s\"", ck,
		           kk);
}

/* ---- sections ---- */

static void parse_broker(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	const cJSON *b = get_obj(l, root, "broker", OPTIONAL);
	const char *prefix;
	size_t old;
	int r;

	c->broker.keepalive_s = 30;
	if (!b) {
		c->broker.host = sdup(l, "127.0.0.1");
		c->broker.port = 1883;
		c->broker.prefix = sdup(l, "safehouse");
		c->broker.client_id = sdup(l, "safehouse-station");
		return;
	}
	old = path_push_key(l, "broker");
	check_keys(l, b, broker_keys);
	get_str(l, b, "host", OPTIONAL, "127.0.0.1", 0, &c->broker.host);
	get_bool(l, b, "tls", &c->broker.tls);
	if (get_file(l, b, "cafile", 0, &c->broker.cafile) > 0 && cJSON_IsFalse(member(b, "tls")))
		report_key(l, b, "cafile", 0, "a CA file is only used with \"tls\": true");
	cert_pair(l, b, "certfile", "keyfile", &c->broker.certfile, &c->broker.keyfile);
	if (member(b, "certfile") && cJSON_IsFalse(member(b, "tls")))
		report_key(l, b, "certfile", 0,
		           "a client certificate is only used with \"tls\": true");
	if (member(b, "cafile") || member(b, "certfile"))
		c->broker.tls = 1;
	/* TLS on the plain port never connects: follow the usual 8883. */
	c->broker.port = c->broker.tls ? 8883 : 1883;
	get_int(l, b, "port", 1, 65535, NULL, &c->broker.port);
	r = str_member(l, b, "prefix", OPTIONAL, &prefix);
	if (r == 0)
		c->broker.prefix = sdup(l, "safehouse");
	else if (r > 0 && strpbrk(prefix, "+#"))
		report_key(l, b, "prefix", 0,
		           "MQTT wildcards ('+', '#') cannot be part of the prefix: the station "
		           "adds them itself (PREFIX/+/alarm)");
	else if (r > 0 && (prefix[0] == '/' || prefix[strlen(prefix) - 1] == '/'))
		report_key(l, b, "prefix", 0,
		           "must not start or end with '/': topics are PREFIX/SITE/..., and an "
		           "empty level is a different topic");
	else if (r > 0 && strlen(prefix) > PREFIX_MAX)
		report_key(l, b, "prefix", 0, "too long: at most %d bytes", PREFIX_MAX);
	else if (r > 0)
		c->broker.prefix = sdup(l, prefix);
	get_str(l, b, "client_id", OPTIONAL, "safehouse-station", 0, &c->broker.client_id);
	get_str(l, b, "username", OPTIONAL, NULL, 0, &c->broker.username);
	get_str(l, b, "password", OPTIONAL, NULL, 0, &c->broker.password);
	if (member(b, "password") && !member(b, "username"))
		report_key(l, b, "password", 1,
		           "a password needs a username: MQTT sends none without one");
	get_int(l, b, "keepalive_s", 5, 3600, "seconds", &c->broker.keepalive_s);
	path_pop(l, old);
}

static int is_postgres(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

static void parse_database(struct loader *l, const cJSON *root)
{
	const char *s;

	if (str_member(l, root, "database", REQUIRED, &s) <= 0)
		return;
	/* A URL is the backend's to parse; a path is made absolute, since
	 * the station may be started from anywhere. */
	l->c->database =
	    is_postgres(s) || strcmp(s, ":memory:") == 0 ? sdup(l, s) : join_path(l, s);
}

/* host:port or [v6]:port, port 1..65535. */
static int listen_ok(const char *s)
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

static void parse_http(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	const cJSON *h = get_obj(l, root, "http", OPTIONAL);
	char q[QUOTE_BUF];
	size_t old;

	c->http.session_idle_s = 43200;
	if (!h) {
		c->http.listen = sdup(l, "127.0.0.1:8090");
		c->http.language = sdup(l, "vi");
		return;
	}
	old = path_push_key(l, "http");
	check_keys(l, h, http_keys);
	if (get_str(l, h, "listen", OPTIONAL, "127.0.0.1:8090", 0, &c->http.listen) == 0 &&
	    c->http.listen && !listen_ok(c->http.listen)) {
		report_key(l, h, "listen", 0,
		           "invalid address %s: use HOST:PORT or [IPv6]:PORT, port 1 to 65535 "
		           "(e.g. \"127.0.0.1:8090\", \"[::1]:8090\")",
		           quote(q, c->http.listen));
	}
	cert_pair(l, h, "cert", "key", &c->http.cert, &c->http.key);
	get_enum(l, h, "language", languages, "language", "vi", &c->http.language);
	get_int(l, h, "session_idle_s", 300, 604800, "seconds", &c->http.session_idle_s);
	path_pop(l, old);
}

/* An id already used in the same list: said at the second one. */
static const cJSON *dup_of(const cJSON *arr, const cJSON *upto, const char *id)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *v;
		if (e == upto)
			break;
		v = member(cJSON_IsObject(e) ? e : NULL, "id");
		if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
			return v;
	}
	return NULL;
}

/* The ids seen so far in one array, hashed: a district's directory has
 * tens of thousands of houses, and comparing each with all before it took
 * the check 40 s for 50,000. */
struct idset {
	const char **ids;
	const cJSON **nodes;
	size_t cap;
};

static uint32_t id_hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int idset_init(struct idset *set, int n)
{
	size_t cap = 16;
	while (cap < (size_t)n * 2)
		cap *= 2;
	set->ids = calloc(cap, sizeof(*set->ids));
	set->nodes = calloc(cap, sizeof(*set->nodes));
	set->cap = cap;
	return set->ids && set->nodes ? 0 : -ENOMEM;
}

static void idset_free(struct idset *set)
{
	free(set->ids);
	free(set->nodes);
}

/* The element that first had id, or NULL (then id is recorded as e's). */
static const cJSON *idset_first(struct idset *set, const cJSON *e, const char *id)
{
	size_t i;
	if (!set->cap)
		return NULL;
	for (i = id_hash(id) & (set->cap - 1); set->ids[i]; i = (i + 1) & (set->cap - 1))
		if (strcmp(set->ids[i], id) == 0)
			return set->nodes[i];
	set->ids[i] = id;
	set->nodes[i] = member(e, "id");
	return NULL;
}

static void check_dup(struct loader *l, struct idset *set, const cJSON *e, const char *id,
                      const char *what)
{
	const cJSON *first = id ? idset_first(set, e, id) : NULL;
	const struct jsonpos_node *p = first ? jsonpos_find(&l->pos, first) : NULL;
	char q[QUOTE_BUF];

	if (first)
		report_key(l, e, "id", 0, "%s %s is already used at line %d", what, quote(q, id),
		           p ? p->line : 0);
}

static void parse_groups(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	const cJSON *arr = get_arr(l, root, "groups"), *e;
	struct idset ids = {0};
	size_t old, n = 0;

	if (!arr || !cJSON_GetArraySize(arr))
		return;
	c->groups = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*c->groups));
	if (!c->groups) {
		l->oom = 1;
		return;
	}
	old = path_push_key(l, "groups");
	if (idset_init(&ids, cJSON_GetArraySize(arr)) < 0)
		l->oom = 1;
	cJSON_ArrayForEach(e, arr)
	{
		struct sconfig_group *g = &c->groups[n];
		size_t o = path_push_index(l, (int)n);

		if (!cJSON_IsObject(e)) {
			report(l, e, 0, "expected an object, found %s", type_name(e));
		} else {
			check_keys(l, e, group_keys);
			get_id(l, e, "as sites name it in \"group\"", &g->id);
			check_dup(l, &ids, e, g->id, "group id");
			get_str(l, e, "name", OPTIONAL, NULL, 0, &g->name);
			get_int(l, e, "lost_contact_s", 30, 86400, "seconds", &g->lost_contact_s);
		}
		path_pop(l, o);
		n++;
	}
	c->ngroups = n;
	idset_free(&ids);
	path_pop(l, old);
}

static void parse_sites(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	const cJSON *arr = get_arr(l, root, "sites"), *e;
	struct idset ids = {0};
	char q[QUOTE_BUF];
	size_t old, n = 0;

	if (!arr || !cJSON_GetArraySize(arr))
		return;
	c->sites = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*c->sites));
	if (!c->sites) {
		l->oom = 1;
		return;
	}
	old = path_push_key(l, "sites");
	if (idset_init(&ids, cJSON_GetArraySize(arr)) < 0)
		l->oom = 1;
	cJSON_ArrayForEach(e, arr)
	{
		struct sconfig_site *s = &c->sites[n];
		const cJSON *geo;
		size_t o = path_push_index(l, (int)n);

		if (!cJSON_IsObject(e)) {
			report(l, e, 0, "expected an object, found %s", type_name(e));
			path_pop(l, o);
			n++;
			continue;
		}
		check_keys(l, e, site_keys);
		get_id(l, e, "the same as the gateway's site.id (its MQTT topics carry it)",
		       &s->id);
		check_dup(l, &ids, e, s->id, "site id");
		/* The store keeps these in fixed fields (struct ssite). */
		get_str(l, e, "name", OPTIONAL, NULL, sizeof(((struct ssite *)0)->name) - 1,
		        &s->name);
		get_str(l, e, "address", OPTIONAL, NULL, sizeof(((struct ssite *)0)->address) - 1,
		        &s->address);
		get_str(l, e, "phone", OPTIONAL, NULL, sizeof(((struct ssite *)0)->phone) - 1,
		        &s->phone);
		/* A group whose own id was refused was said there already. */
		if (get_str(l, e, "group", OPTIONAL, NULL, 0, &s->group) == 0 && s->group &&
		    !sconfig_group(c, s->group) &&
		    !dup_of(cJSON_IsArray(member(root, "groups")) ? member(root, "groups") : NULL,
		            NULL, s->group)) {
			const char *names[65];
			size_t k = 0;
			for (size_t i = 0; i < c->ngroups && k < 64; i++)
				if (c->groups[i].id)
					names[k++] = c->groups[i].id;
			names[k] = NULL;
			if (!c->ngroups)
				report_key(
				    l, e, "group", 0,
				    "no group %s: there is no \"groups\" list to name one of",
				    quote(q, s->group));
			else if (sh_suggest(s->group, names))
				report_key(l, e, "group", 0, "no group %s; did you mean \"%s\"?",
				           quote(q, s->group), sh_suggest(s->group, names));
			else
				report_key(l, e, "group", 0, "no group %s in \"groups\"",
				           quote(q, s->group));
		}
		geo = get_obj(l, e, "geo", OPTIONAL);
		if (geo) {
			size_t g = path_push_key(l, "geo");
			int a, b;
			check_keys(l, geo, geo_keys);
			a = get_double(l, geo, "lat", -90, 90, &s->lat);
			b = get_double(l, geo, "lon", -180, 180, &s->lon);
			s->has_geo = a == 0 && b == 0;
			path_pop(l, g);
		}
		path_pop(l, o);
		n++;
	}
	c->nsites = n;
	idset_free(&ids);
	path_pop(l, old);
}

/* A password in the file (the broker's, or one inside a PostgreSQL URL)
 * needs the file for the station's eyes only: whoever reads it can
 * subscribe to every house's alarms, or publish acknowledgments. */
static void check_secrets_mode(struct loader *l, const cJSON *root)
{
	const cJSON *b = member(root, "broker"), *pw = NULL, *db = member(root, "database");

	if (l->mode < 0 || !(l->mode & 077))
		return;
	if (cJSON_IsObject(b) && (pw = member(b, "password"))) {
		size_t old = path_push_key(l, "broker");
		report_key(l, b, "password", 1,
		           "this file holds a password but is %s by group or others (mode %04o); "
		           "run: chmod 600 %s (owned by the user the station runs as)",
		           l->mode & 044 ? "readable" : "writable", l->mode & 07777, l->name);
		path_pop(l, old);
	}
	if (cJSON_IsString(db) && is_postgres(db->valuestring)) {
		const char *u = strstr(db->valuestring, "://") + 3, *at = strchr(u, '@');
		if (at && memchr(u, ':', (size_t)(at - u)))
			report_key(l, root, "database", 1,
			           "this file holds a database password but is %s by group or "
			           "others (mode %04o); run: chmod 600 %s",
			           l->mode & 044 ? "readable" : "writable", l->mode & 07777,
			           l->name);
	}
}

static void validate(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	char *level = NULL;

	if (!cJSON_IsObject(root)) {
		report(l, root, 0, "expected an object at the top level, found %s",
		       type_name(root));
		return;
	}
	check_keys(l, root, top_keys);
	parse_broker(l, root);
	parse_database(l, root);
	parse_http(l, root);
	get_int(l, root, "lost_contact_s", 30, 86400, "seconds", &c->lost_contact_s);
	parse_groups(l, root);
	parse_sites(l, root);
	c->log_level = LOG_INFO;
	if (get_enum(l, root, "log_level", log_levels, "log level", "info", &level) == 0 && level)
		c->log_level = log_level_from_name(level);
	free(level);
	check_secrets_mode(l, root);
}

/* cJSON says only where it stopped; name the two usual hand-edit slips. */
static void report_syntax(struct loader *l, const char *text, const char *at)
{
	const char *p = at;
	int line, col;

	if (*p != '}' && *p != ']' && p > text && (p[-1] == '}' || p[-1] == ']'))
		p--;
	if (*p == '}' || *p == ']') {
		while (p > text && (unsigned char)p[-1] <= 32)
			p--;
		if (p > text && p[-1] == ',') {
			jsonpos_text_pos(text, p - 1, &line, &col);
			report_pos(l, line, col, "invalid JSON: a comma before a closing bracket");
			return;
		}
	}
	if (at > text && at[-1] == '/' && (at[0] == '/' || at[0] == '*'))
		at--;
	jsonpos_text_pos(text, at, &line, &col);
	if (at[0] == '/' && (at[1] == '/' || at[1] == '*'))
		report_pos(l, line, col, "invalid JSON: comments are not allowed");
	else if (!*at)
		report_pos(l, line, col, "invalid JSON: unexpected end of file");
	else
		report_pos(l, line, col, "invalid JSON");
}

static char *absolute_dir(const char *dir)
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

static int load(const char *text, size_t len, const char *name, const char *dir, int mode,
                FILE *errs, struct sconfig **out)
{
	struct loader l = {.name = name ? name : "<string>", .mode = mode};
	cJSON *root = NULL;
	const char *end = NULL;
	char *adir = NULL;
	int line, col, n;

	*out = NULL;
	l.c = calloc(1, sizeof(*l.c));
	if (!l.c) {
		l.oom = 1;
		goto out;
	}
	l.c->path = sdup(&l, l.name);
	adir = absolute_dir(dir ? dir : ".");
	if (!adir) {
		report_pos(&l, 0, 0, "cannot resolve relative paths: %s", strerror(errno));
		goto out;
	}
	l.dir = adir;
	if (len > SCONFIG_MAX_SIZE) {
		report_pos(&l, 0, 0, "too large: over %d MiB", SCONFIG_MAX_SIZE >> 20);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		jsonpos_text_pos(text, memchr(text, '\0', len), &line, &col);
		report_pos(&l, line, col, "invalid JSON: a NUL byte; is this a text file?");
		goto out;
	}
	root = cJSON_ParseWithOpts(text, &end, 1);
	if (!root) {
		report_syntax(&l, text, end ? end : text);
		goto out;
	}
	if (jsonpos_index(&l.pos, text, root) < 0)
		l.oom = 1;
	validate(&l, root);
out:
	diag_flush(&l.diags, print_diag, errs);
	if (l.oom) {
		l.diags.nerrors++;
		if (errs)
			fprintf(errs, "%s: out of memory\n", l.name);
	}
	n = l.diags.nerrors;
	if (n)
		sconfig_free(l.c);
	else
		*out = l.c;
	jsonpos_free(&l.pos);
	free(adir);
	cJSON_Delete(root);
	return n;
}

int sconfig_load_string(const char *text, const char *name, const char *dir, FILE *errs,
                        struct sconfig **out)
{
	return load(text, strlen(text), name, dir, -1, errs, out);
}

int sconfig_load(const char *path, FILE *errs, struct sconfig **out)
{
	char *buf = NULL, *dir = NULL;
	const char *slash = strrchr(path, '/');
	size_t len = 0, cap = 0;
	int fd, mode = -1, r;
	struct stat st;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		mode = (int)(st.st_mode & 07777);
	else if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	for (;;) {
		ssize_t n;
		if (len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 16384;
			char *nbuf;
			if (ncap > SCONFIG_MAX_SIZE + 2)
				ncap = SCONFIG_MAX_SIZE + 2;
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				errno = ENOMEM;
				goto fail;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SCONFIG_MAX_SIZE)
			break;
	}
	buf[len] = '\0';
	close(fd);
	fd = -1;
	dir = !slash          ? strdup(".")
	      : slash == path ? strdup("/")
	                      : strndup(path, (size_t)(slash - path));
	if (!dir) {
		errno = ENOMEM;
		goto fail;
	}
	r = load(buf, len, path, dir, mode, errs, out);
	free(buf);
	free(dir);
	return r;
fail:
	r = -errno;
	if (errs)
		fprintf(errs, "%s: cannot read: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(buf);
	free(dir);
	return r;
}

void sconfig_free(struct sconfig *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->broker.host);
	free(c->broker.prefix);
	free(c->broker.client_id);
	free(c->broker.username);
	free(c->broker.password);
	free(c->broker.cafile);
	free(c->broker.certfile);
	free(c->broker.keyfile);
	free(c->database);
	free(c->http.listen);
	free(c->http.cert);
	free(c->http.key);
	free(c->http.language);
	for (size_t i = 0; i < c->ngroups; i++) {
		free(c->groups[i].id);
		free(c->groups[i].name);
	}
	free(c->groups);
	for (size_t i = 0; i < c->nsites; i++) {
		free(c->sites[i].id);
		free(c->sites[i].name);
		free(c->sites[i].address);
		free(c->sites[i].phone);
		free(c->sites[i].group);
	}
	free(c->sites);
	free(c);
}

const struct sconfig_site *sconfig_site(const struct sconfig *c, const char *id)
{
	for (size_t i = 0; id && i < c->nsites; i++)
		if (c->sites[i].id && strcmp(c->sites[i].id, id) == 0)
			return &c->sites[i];
	return NULL;
}

const struct sconfig_group *sconfig_group(const struct sconfig *c, const char *id)
{
	for (size_t i = 0; id && i < c->ngroups; i++)
		if (c->groups[i].id && strcmp(c->groups[i].id, id) == 0)
			return &c->groups[i];
	return NULL;
}
