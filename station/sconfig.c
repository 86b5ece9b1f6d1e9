/*
 * sconfig.c: load and validate the station's configuration (sconfig.h).
 *
 * The same contract as the gateway's loader (gateway/config.c): cJSON
 * parses, jsonpos.c says where each value and key starts, every check
 * reports and carries on, and the diagnostics come out sorted by position
 * as FILE:LINE:COL: json.path: message, so that `safehouse-station --check`
 * lists every mistake of a file in one run. Any error means no config.
 *
 * The typed-member helpers and the messages they give are the gateway's,
 * shared in common/cfgload.c, so that both daemons word the same mistake
 * the same way.
 */
#include "sconfig.h"
#include "sstore.h"
#include "common/cfgload.h"
#include "gateway/jsonpos.h"
#include "gateway/log.h"
#include "sensors/point.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A station config lists a district's houses: a few hundred kB at most. */
#define SCONFIG_MAX_SIZE (16 * 1024 * 1024)

/* Leave room in MQTT topics (PREFIX/SITE/alarm) for the site and suffix. */
#define PREFIX_MAX 160

enum { OPTIONAL = 0, REQUIRED = 1 };

static const char *const top_keys[] = {"broker",         "database",     "http",
                                       "lost_contact_s", "will_grace_s", "groups",
                                       "sites",          "log_level",    NULL};
static const char *const broker_keys[] = {
    "host",        "hosts", "port",   "prefix",   "client_id", "username", "password",
    "keepalive_s", "tls",   "cafile", "certfile", "keyfile",   NULL};
static const char *const http_keys[] = {"listen",   "cert",           "key",
                                        "language", "session_idle_s", NULL};
static const char *const group_keys[] = {"id", "name", "lost_contact_s", NULL};
static const char *const site_keys[] = {"id", "name", "address", "phone", "geo", "group", NULL};
static const char *const geo_keys[] = {"lat", "lon", NULL};
static const char *const languages[] = {"vi", "en", NULL};
static const char *const log_levels[] = {"debug", "info", "notice", "warning", "error", NULL};

struct loader {
	struct cfgl cl; /* name, dir, mode, positions, diagnostics, JSON path */
	struct sconfig *c;
};

static void print_diag(void *ctx, int severity, const char *msg)
{
	(void)severity;
	if (ctx)
		fprintf(ctx, "%s\n", msg);
}

/* One word of names, copied into *out (def when absent): the station
 * keeps the words, where the gateway keeps their index. */
static int get_enum(struct loader *l, const cJSON *obj, const char *key, const char *const *names,
                    const char *what, const char *def, char **out)
{
	int i = -1;

	if (cfgl_get_enum(&l->cl, obj, key, OPTIONAL, names, what, &i) < 0)
		return -1;
	*out = cfgl_sdup(&l->cl, i >= 0 ? names[i] : def);
	return 0;
}

/* A file the station reads (a certificate, a CA): made absolute, and it
 * must be readable now, not at the first connection. A private key must
 * also be for the station's eyes only: whoever reads it can be the station. */
static int get_file(struct loader *l, const cJSON *obj, const char *key, int private_key,
                    char **out)
{
	const char *s;
	struct stat st;
	int r = cfgl_str_member(&l->cl, obj, key, OPTIONAL, &s);

	*out = NULL;
	if (r <= 0)
		return r;
	*out = cfgl_join_path(&l->cl, l->cl.dir, s);
	if (!*out)
		return -1;
	if (access(*out, R_OK) < 0 || stat(*out, &st) < 0) {
		cfgl_report_key(&l->cl, 0, obj, key, 0, "cannot read %s: %s", *out,
		                strerror(errno));
		return -1;
	}
	if (private_key && (st.st_mode & 077)) {
		cfgl_report_key(&l->cl, 0, obj, key, 0,
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
	const cJSON *c = cfgl_member(obj, ck), *k = cfgl_member(obj, kk);

	get_file(l, obj, ck, 0, cert);
	get_file(l, obj, kk, 1, key);
	if (!c != !k)
		cfgl_report_key(&l->cl, 0, obj, c ? ck : kk, 1,
		                "a certificate needs both \"%s\" and \"%s\"", ck, kk);
}

/* ---- sections ---- */

static void parse_broker(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	const cJSON *b = cfgl_get_obj(&l->cl, root, "broker", OPTIONAL, NULL);
	const char *prefix;
	size_t old;
	int r;

	c->broker.keepalive_s = 30;
	if (!b) {
		c->broker.host = cfgl_sdup(&l->cl, "127.0.0.1");
		c->broker.port = 1883;
		c->broker.prefix = cfgl_sdup(&l->cl, "safehouse");
		c->broker.client_id = cfgl_sdup(&l->cl, "safehouse-station");
		return;
	}
	old = cfgl_path_push_key(&l->cl, "broker");
	cfgl_check_keys(&l->cl, b, broker_keys);
	if (!cfgl_member(b, "hosts"))
		cfgl_get_str(&l->cl, b, "host", OPTIONAL, "127.0.0.1", 0, &c->broker.host);
	cfgl_get_bool(&l->cl, b, "tls", &c->broker.tls);
	if (get_file(l, b, "cafile", 0, &c->broker.cafile) > 0 &&
	    cJSON_IsFalse(cfgl_member(b, "tls")))
		cfgl_report_key(&l->cl, 0, b, "cafile", 0,
		                "a CA file is only used with \"tls\": true");
	cert_pair(l, b, "certfile", "keyfile", &c->broker.certfile, &c->broker.keyfile);
	if (cfgl_member(b, "certfile") && cJSON_IsFalse(cfgl_member(b, "tls")))
		cfgl_report_key(&l->cl, 0, b, "certfile", 0,
		                "a client certificate is only used with \"tls\": true");
	if (cfgl_member(b, "cafile") || cfgl_member(b, "certfile"))
		c->broker.tls = 1;
	/* TLS on the plain port never connects: follow the usual 8883. */
	c->broker.port = c->broker.tls ? 8883 : 1883;
	cfgl_get_int(&l->cl, b, "port", OPTIONAL, 1, 65535, NULL, &c->broker.port);
	if (cfgl_member(b, "hosts")) {
		int n = cfgl_get_hosts(&l->cl, b, c->broker.port, &c->broker.hosts);
		if (n > 0) {
			c->broker.nhosts = n;
			c->broker.host = cfgl_sdup(&l->cl, c->broker.hosts[0].host);
		}
	}
	r = cfgl_str_member(&l->cl, b, "prefix", OPTIONAL, &prefix);
	if (r == 0)
		c->broker.prefix = cfgl_sdup(&l->cl, "safehouse");
	else if (r > 0 && strpbrk(prefix, "+#"))
		cfgl_report_key(
		    &l->cl, 0, b, "prefix", 0,
		    "MQTT wildcards ('+', '#') cannot be part of the prefix: the station "
		    "adds them itself (PREFIX/+/alarm)");
	else if (r > 0 && (prefix[0] == '/' || prefix[strlen(prefix) - 1] == '/'))
		cfgl_report_key(
		    &l->cl, 0, b, "prefix", 0,
		    "must not start or end with '/': topics are PREFIX/SITE/..., and an "
		    "empty level is a different topic");
	else if (r > 0 && strlen(prefix) > PREFIX_MAX)
		cfgl_report_key(&l->cl, 0, b, "prefix", 0, "too long: at most %d bytes",
		                PREFIX_MAX);
	else if (r > 0)
		c->broker.prefix = cfgl_sdup(&l->cl, prefix);
	cfgl_get_str(&l->cl, b, "client_id", OPTIONAL, "safehouse-station", 0,
	             &c->broker.client_id);
	cfgl_get_str(&l->cl, b, "username", OPTIONAL, NULL, 0, &c->broker.username);
	cfgl_get_str(&l->cl, b, "password", OPTIONAL, NULL, 0, &c->broker.password);
	if (cfgl_member(b, "password") && !cfgl_member(b, "username"))
		cfgl_report_key(&l->cl, 0, b, "password", 1,
		                "a password needs a username: MQTT sends none without one");
	cfgl_get_int(&l->cl, b, "keepalive_s", OPTIONAL, 5, 3600, "seconds",
	             &c->broker.keepalive_s);
	cfgl_path_pop(&l->cl, old);
}

static int is_postgres(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

static void parse_database(struct loader *l, const cJSON *root)
{
	const char *s;
	char why[320];

	if (cfgl_str_member(&l->cl, root, "database", REQUIRED, &s) <= 0)
		return;
	/* A URL is the backend's to parse; a path is made absolute, since
	 * the station may be started from anywhere. */
	l->c->database = is_postgres(s) || strcmp(s, ":memory:") == 0
	                     ? cfgl_sdup(&l->cl, s)
	                     : cfgl_join_path(&l->cl, l->cl.dir, s);
	/* A malformed URL is the file's error, found by --check; whether the
	 * server answers is the start's. */
	if (is_postgres(s) && sstore_check(s, why, sizeof(why)) < 0)
		cfgl_report_key(&l->cl, 0, root, "database", 1, "%s", why);
}

static void parse_http(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	const cJSON *h = cfgl_get_obj(&l->cl, root, "http", OPTIONAL, NULL);
	char q[CFGL_QUOTE_BUF];
	size_t old;

	c->http.session_idle_s = 43200;
	if (!h) {
		c->http.listen = cfgl_sdup(&l->cl, "127.0.0.1:8090");
		c->http.language = cfgl_sdup(&l->cl, "vi");
		return;
	}
	old = cfgl_path_push_key(&l->cl, "http");
	cfgl_check_keys(&l->cl, h, http_keys);
	if (cfgl_get_str(&l->cl, h, "listen", OPTIONAL, "127.0.0.1:8090", 0, &c->http.listen) ==
	        0 &&
	    c->http.listen && !cfgl_listen_ok(c->http.listen)) {
		cfgl_report_key(&l->cl, 0, h, "listen", 0,
		                "invalid address %s: use HOST:PORT or [IPv6]:PORT, port 1 to 65535 "
		                "(e.g. \"127.0.0.1:8090\", \"[::1]:8090\")",
		                cfgl_quote(q, c->http.listen));
	}
	cert_pair(l, h, "cert", "key", &c->http.cert, &c->http.key);
	get_enum(l, h, "language", languages, "language", "vi", &c->http.language);
	cfgl_get_int(&l->cl, h, "session_idle_s", OPTIONAL, 300, 604800, "seconds",
	             &c->http.session_idle_s);
	cfgl_path_pop(&l->cl, old);
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
		v = cfgl_member(cJSON_IsObject(e) ? e : NULL, "id");
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
	set->nodes[i] = cfgl_member(e, "id");
	return NULL;
}

static void check_dup(struct loader *l, struct idset *set, const cJSON *e, const char *id,
                      const char *what)
{
	const cJSON *first = id ? idset_first(set, e, id) : NULL;
	const struct jsonpos_node *p = first ? jsonpos_find(&l->cl.pos, first) : NULL;
	char q[CFGL_QUOTE_BUF];

	if (first)
		cfgl_report_key(&l->cl, 0, e, "id", 0, "%s %s is already used at line %d", what,
		                cfgl_quote(q, id), p ? p->line : 0);
}

static void parse_groups(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	const cJSON *arr = cfgl_get_arr(&l->cl, root, "groups", OPTIONAL), *e;
	struct idset ids = {0};
	size_t old, n = 0;

	if (!arr || !cJSON_GetArraySize(arr))
		return;
	c->groups = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*c->groups));
	if (!c->groups) {
		l->cl.oom = 1;
		return;
	}
	old = cfgl_path_push_key(&l->cl, "groups");
	if (idset_init(&ids, cJSON_GetArraySize(arr)) < 0)
		l->cl.oom = 1;
	cJSON_ArrayForEach(e, arr)
	{
		struct sconfig_group *g = &c->groups[n];
		size_t o = cfgl_path_push_index(&l->cl, (int)n);

		if (!cJSON_IsObject(e)) {
			cfgl_report(&l->cl, 0, e, 0, "expected an object, found %s",
			            cfgl_type_name(e));
		} else {
			cfgl_check_keys(&l->cl, e, group_keys);
			cfgl_get_id(&l->cl, e, SSTORE_ID_MAX, "as sites name it in \"group\"",
			            &g->id);
			check_dup(l, &ids, e, g->id, "group id");
			cfgl_get_str(&l->cl, e, "name", OPTIONAL, NULL, 0, &g->name);
			cfgl_get_int(&l->cl, e, "lost_contact_s", OPTIONAL, 30, 86400, "seconds",
			             &g->lost_contact_s);
		}
		cfgl_path_pop(&l->cl, o);
		n++;
	}
	c->ngroups = n;
	idset_free(&ids);
	cfgl_path_pop(&l->cl, old);
}

static void parse_sites(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	const cJSON *arr = cfgl_get_arr(&l->cl, root, "sites", OPTIONAL), *e;
	struct idset ids = {0};
	char q[CFGL_QUOTE_BUF];
	size_t old, n = 0;

	if (!arr || !cJSON_GetArraySize(arr))
		return;
	c->sites = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*c->sites));
	if (!c->sites) {
		l->cl.oom = 1;
		return;
	}
	old = cfgl_path_push_key(&l->cl, "sites");
	if (idset_init(&ids, cJSON_GetArraySize(arr)) < 0)
		l->cl.oom = 1;
	cJSON_ArrayForEach(e, arr)
	{
		struct sconfig_site *s = &c->sites[n];
		const cJSON *geo;
		size_t o = cfgl_path_push_index(&l->cl, (int)n);

		if (!cJSON_IsObject(e)) {
			cfgl_report(&l->cl, 0, e, 0, "expected an object, found %s",
			            cfgl_type_name(e));
			cfgl_path_pop(&l->cl, o);
			n++;
			continue;
		}
		cfgl_check_keys(&l->cl, e, site_keys);
		cfgl_get_id(&l->cl, e, SSTORE_ID_MAX,
		            "the same as the gateway's site.id (its MQTT topics carry it)", &s->id);
		check_dup(l, &ids, e, s->id, "site id");
		/* The store keeps these in fixed fields (struct ssite). */
		cfgl_get_str(&l->cl, e, "name", OPTIONAL, NULL,
		             sizeof(((struct ssite *)0)->name) - 1, &s->name);
		cfgl_get_str(&l->cl, e, "address", OPTIONAL, NULL,
		             sizeof(((struct ssite *)0)->address) - 1, &s->address);
		cfgl_get_str(&l->cl, e, "phone", OPTIONAL, NULL,
		             sizeof(((struct ssite *)0)->phone) - 1, &s->phone);
		/* A group whose own id was refused was said there already. */
		if (cfgl_get_str(&l->cl, e, "group", OPTIONAL, NULL, 0, &s->group) == 0 &&
		    s->group && !sconfig_group(c, s->group) &&
		    !dup_of(cJSON_IsArray(cfgl_member(root, "groups")) ? cfgl_member(root, "groups")
		                                                       : NULL,
		            NULL, s->group)) {
			const char *names[65];
			size_t k = 0;
			for (size_t i = 0; i < c->ngroups && k < 64; i++)
				if (c->groups[i].id)
					names[k++] = c->groups[i].id;
			names[k] = NULL;
			if (!c->ngroups)
				cfgl_report_key(
				    &l->cl, 0, e, "group", 0,
				    "no group %s: there is no \"groups\" list to name one of",
				    cfgl_quote(q, s->group));
			else if (sh_suggest(s->group, names))
				cfgl_report_key(
				    &l->cl, 0, e, "group", 0, "no group %s; did you mean \"%s\"?",
				    cfgl_quote(q, s->group), sh_suggest(s->group, names));
			else
				cfgl_report_key(&l->cl, 0, e, "group", 0,
				                "no group %s in \"groups\"",
				                cfgl_quote(q, s->group));
		}
		geo = cfgl_get_obj(&l->cl, e, "geo", OPTIONAL, NULL);
		if (geo) {
			size_t g = cfgl_path_push_key(&l->cl, "geo");
			int a, b;
			cfgl_check_keys(&l->cl, geo, geo_keys);
			a = cfgl_get_double(&l->cl, geo, "lat", REQUIRED, -90, 90, &s->lat);
			b = cfgl_get_double(&l->cl, geo, "lon", REQUIRED, -180, 180, &s->lon);
			s->has_geo = a == 0 && b == 0;
			cfgl_path_pop(&l->cl, g);
		}
		cfgl_path_pop(&l->cl, o);
		n++;
	}
	c->nsites = n;
	idset_free(&ids);
	cfgl_path_pop(&l->cl, old);
}

/* A password in the file (the broker's, or one inside a PostgreSQL URL)
 * needs the file for the station's eyes only: whoever reads it can
 * subscribe to every house's alarms, or publish acknowledgments. */
static void check_secrets_mode(struct loader *l, const cJSON *root)
{
	const cJSON *b = cfgl_member(root, "broker"), *pw = NULL,
	            *db = cfgl_member(root, "database");

	if (l->cl.mode < 0 || !(l->cl.mode & 077))
		return;
	if (cJSON_IsObject(b) && (pw = cfgl_member(b, "password"))) {
		size_t old = cfgl_path_push_key(&l->cl, "broker");
		cfgl_report_key(
		    &l->cl, 0, b, "password", 1,
		    "this file holds a password but is %s by group or others (mode %04o); "
		    "run: chmod 600 %s (owned by the user the station runs as)",
		    l->cl.mode & 044 ? "readable" : "writable", l->cl.mode & 07777, l->cl.name);
		cfgl_path_pop(&l->cl, old);
	}
	if (cJSON_IsString(db) && is_postgres(db->valuestring)) {
		const char *u = strstr(db->valuestring, "://") + 3, *at = strchr(u, '@');
		if (at && memchr(u, ':', (size_t)(at - u)))
			cfgl_report_key(&l->cl, 0, root, "database", 1,
			                "this file holds a database password but is %s by group or "
			                "others (mode %04o); run: chmod 600 %s",
			                l->cl.mode & 044 ? "readable" : "writable",
			                l->cl.mode & 07777, l->cl.name);
	}
}

static void validate(struct loader *l, const cJSON *root)
{
	struct sconfig *c = l->c;
	char *level = NULL;

	if (!cJSON_IsObject(root)) {
		cfgl_report(&l->cl, 0, root, 0, "expected an object at the top level, found %s",
		            cfgl_type_name(root));
		return;
	}
	cfgl_check_keys(&l->cl, root, top_keys);
	parse_broker(l, root);
	parse_database(l, root);
	parse_http(l, root);
	cfgl_get_int(&l->cl, root, "lost_contact_s", OPTIONAL, 30, 86400, "seconds",
	             &c->lost_contact_s);
	c->will_grace_s = 30;
	cfgl_get_int(&l->cl, root, "will_grace_s", OPTIONAL, 0, 600, "seconds", &c->will_grace_s);
	parse_groups(l, root);
	parse_sites(l, root);
	c->log_level = LOG_INFO;
	if (get_enum(l, root, "log_level", log_levels, "log level", "info", &level) == 0 && level)
		c->log_level = log_level_from_name(level);
	free(level);
	check_secrets_mode(l, root);
}

static int load(const char *text, size_t len, const char *name, const char *dir, int mode,
                FILE *errs, struct sconfig **out)
{
	struct loader l = {.cl = {.name = name ? name : "<string>", .mode = mode}};
	cJSON *root = NULL;
	char *adir = NULL;
	int n;

	*out = NULL;
	l.c = calloc(1, sizeof(*l.c));
	if (!l.c) {
		l.cl.oom = 1;
		goto out;
	}
	l.c->path = cfgl_sdup(&l.cl, l.cl.name);
	adir = cfgl_absolute_dir(dir ? dir : ".");
	if (!adir) {
		cfgl_report_pos(&l.cl, 0, 0, 0, "cannot resolve relative paths: %s",
		                strerror(errno));
		goto out;
	}
	l.cl.dir = adir;
	if (cfgl_parse(&l.cl, text, len, SCONFIG_MAX_SIZE, NULL, 0, &root) < 0)
		goto out;
	validate(&l, root);
out:
	cfgl_flush(&l.cl, print_diag, errs);
	n = l.cl.diags.nerrors;
	if (n)
		sconfig_free(l.c);
	else
		*out = l.c;
	cfgl_free(&l.cl);
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
	size_t len = 0;
	int mode = -1, r;

	*out = NULL;
	/* Stop one byte past the limit, for load() to say it is too large. */
	r = cfgl_read_file(path, SCONFIG_MAX_SIZE, &buf, &len, &mode);
	if (r == 0) {
		dir = cfgl_file_dir(path);
		if (!dir)
			r = -ENOMEM;
	}
	if (r < 0) {
		if (errs)
			fprintf(errs, "%s: cannot read: %s\n", path, strerror(-r));
		goto out;
	}
	r = load(buf, len, path, dir, mode, errs, out);
out:
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
	cfgl_addrs_free(c->broker.hosts, c->broker.nhosts);
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
