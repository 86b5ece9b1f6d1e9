/*
 * config.c: load and validate the site configuration (DESIGN.md section 4).
 *
 * cJSON does the parsing; this file checks the tree against the contract and
 * builds struct config. Validation never stops at the first problem: every
 * check reports and carries on, so that `safehoused --check` lists all the
 * mistakes of a file in one run. Any error makes the load return NULL, so a
 * half-valid config is never used by the daemon.
 *
 * cJSON keeps no positions; jsonpos.c finds where each value and each
 * object key starts, so an error can name the line and column of the
 * offending value, or of the containing object when a key is missing.
 *
 * Diagnostics are collected and handed to the caller sorted by position, so
 * that they read top to bottom like a compiler's.
 */
#include "config.h"
#include "channel.h"
#include "../common/cfgload.h"
#include "../common/diag.h"
#include "jsonpos.h"
#include "../rules/rules.h"
#include "../sensors/family.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A site config is a few kB; anything this large is the wrong file, and
 * bounding it bounds the memory a --check can take on a 1 GB gateway. */
#define CONFIG_MAX_SIZE (4 * 1024 * 1024)

/* Families append suffixes such as "/availability" to a device topic and
 * write the result into SH_TOPIC_MAX buffers; keep room for them. */
#define TOPIC_LEN_MAX (SH_TOPIC_MAX - 32)

#define DEFAULT_DATABASE "safehouse.db"
#define DEFAULT_LOG_LEVEL "info"
#define DEFAULT_BROKER "127.0.0.1"
#define DEFAULT_PREFIX "safehouse"
#define DEFAULT_CLIENT_PREFIX "safehoused-"

enum { OPTIONAL = 0, REQUIRED = 1 };

static const char *const top_keys[] = {
    "site",    "database", "control_socket", "control_group", "control_idle_s", "log_level",
    "mqtt",    "upstream", "heartbeat_s",    "zones",         "buses",          "sensors",
    "outputs", "contacts", "rules",          "homeassistant", "profiles_dir",   "neighbours",
    "outbox",  "modem",    "credentials",    "criteria",      "retention_days", "web",
    "history", NULL};
static const char *const hass_keys[] = {"enabled", "prefix", NULL};
static const char *const web_keys[] = {"listen", "https",    "cert",           "key",
                                       "public", "language", "session_idle_s", NULL};
static const char *const web_languages[] = {"vi", "en", NULL};
static const char *const outbox_keys[] = {"max_pending", NULL};
static const char *const history_keys[] = {"temperature_step", "battery_step", "max_interval_s",
                                           NULL};
static const char *const criteria_keys[] = {"file", "notify", "self_check_at", NULL};
static const char *const site_keys[] = {"id",       "name", "address",  "phone",
                                        "timezone", "geo",  "language", NULL};
static const char *const languages[] = {"vi", "en", NULL}; /* enum config_language */
static const char *const geo_keys[] = {"lat", "lon", NULL};
static const char *const mqtt_keys[] = {"host",      "port",        "username", "password",
                                        "client_id", "keepalive_s", NULL};
static const char *const upstream_keys[] = {
    "host",        "hosts", "port",   "prefix",   "username", "password",     "client_id",
    "keepalive_s", "tls",   "cafile", "certfile", "keyfile",  "down_fault_s", NULL};
static const char *const zone_keys[] = {"id", "name", "floor", "kind", "camera", NULL};
static const char *const camera_keys[] = {"snapshot_url", "username", "password", "auth", NULL};
static const char *const camera_auths[] = {"basic", "digest", NULL};
static const char *const sensor_keys[] = {"id",    "name", "kind",   "zone", "supervision_s",
                                          "power", "mqtt", "modbus", NULL};
static const char *const output_keys[] = {"id",   "kind",   "zone", "duration_s",
                                          "mqtt", "modbus", NULL};
static const char *const binding_keys[] = {"topic", "format", NULL};
static const char *const modem_keys[] = {"device",  "baud",    "pin_file", "ring_s",
                                         "check_s", "fault_s", NULL};

static const char *const log_levels[] = {"debug", "info", "notice", "warning", "error", NULL};
static const char *const zone_kinds[] = {"room", "kitchen", "corridor", "stairs",
                                         "exit", "parking", "shop",     NULL};
static const char *const power_names[] = {"battery", "mains", NULL};
static const char *const output_kind_names[] = {"siren", "strobe", "relay", "valve", NULL};
static const char *const via_names[] = {"upstream", "sms", "call", "webhook", NULL};

/* An id and where it came from, sorted for duplicate checks and lookups. */
struct idref {
	const char *id;
	int index;
	const cJSON *node;
};

struct loader {
	struct cfgl cl; /* name, dir, mode, positions, diagnostics, JSON path */
	int partial;    /* --check: also check what the daemon will need to write */

	/* Zone ids, for the references of sensors and outputs. */
	struct idref *zone_refs;
	int nzone_refs;
	const char **zone_names; /* NULL-terminated, for hints */
	int zones_broken;        /* no usable zone list: skip reference checks */

	char **rules;
	size_t nrules, arules;

	struct config *c;
};

/* ---- values with rules of their own ---- */

/* A path member; relative paths are relative to the config file (the
 * contract), not to wherever the daemon was started. */
static int get_path(struct loader *l, const cJSON *obj, const char *key, const char *def,
                    char **out)
{
	const char *s;
	int r = cfgl_str_member(&l->cl, obj, key, OPTIONAL, &s);

	*out = NULL;
	if (r < 0)
		return -1;
	if (r == 0 && !def)
		return 0;
	*out = cfgl_join_path(&l->cl, l->cl.dir, r ? s : def);
	return 0;
}

static int topic_ok(struct loader *l, const cJSON *obj, const char *key, char **out)
{
	const char *s;
	const cJSON *v = cfgl_member(obj, key);
	size_t old;
	int r = cfgl_str_member(&l->cl, obj, key, REQUIRED, &s);

	*out = NULL;
	if (r <= 0)
		return -1;
	old = cfgl_path_push_key(&l->cl, key);
	r = -1;
	if (strpbrk(s, "+#"))
		cfgl_report(
		    &l->cl, 0, v, 0,
		    "MQTT wildcards ('+', '#') are not allowed: the topic names one device");
	else if (strlen(s) > TOPIC_LEN_MAX)
		cfgl_report(&l->cl, 0, v, 0, "too long: %zu bytes, at most %d", strlen(s),
		            TOPIC_LEN_MAX);
	else
		r = 0;
	cfgl_path_pop(&l->cl, old);
	if (r == 0)
		*out = cfgl_sdup(&l->cl, s);
	return r;
}

/* A family's report about its own keys: the path below "mqtt" is appended
 * to the current one, so the message reads like every other config error. */
static void family_report(void *ctx, int severity, const cJSON *node, const char *key,
                          const char *fmt, ...)
{
	struct loader *l = ctx;
	char msg[512];
	size_t old = l->cl.pathlen;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key && *key)
		cfgl_path_append(&l->cl, "%s%s", key[0] == '[' ? "" : ".", key);
	cfgl_report(&l->cl, severity, node, 0, "%s", msg);
	cfgl_path_pop(&l->cl, old);
}

/* {"topic", "format", ...} of a sensor or output; the keys beyond topic and
 * format belong to the format and are parsed by its family. */
static void parse_binding(struct loader *l, const cJSON *b, struct family_binding *out)
{
	const struct family *fam;
	const char *fmt;
	char q[CFGL_QUOTE_BUF], h[CFGL_QUOTE_BUF], list[256];
	const char *keys[CFGL_KEYS_MAX + 1];
	const char *hint;
	size_t old;
	int nk = 0;

	topic_ok(l, b, "topic", &out->topic);
	if (cfgl_str_member(&l->cl, b, "format", REQUIRED, &fmt) <= 0) {
		cfgl_check_keys(&l->cl, b, binding_keys);
		return;
	}
	fam = family_find(fmt);
	if (!fam) {
		/* Other keys would only be guessed at: the format decides
		 * which ones exist. */
		old = cfgl_path_push_key(&l->cl, "format");
		hint = sh_suggest(fmt, family_names);
		if (hint)
			cfgl_report(&l->cl, 0, cfgl_member(b, "format"), 0,
			            "unknown payload format %s; did you mean %s?",
			            cfgl_quote(q, fmt), cfgl_quote(h, hint));
		else
			cfgl_report(&l->cl, 0, cfgl_member(b, "format"), 0,
			            "unknown payload format %s; this version knows %s",
			            cfgl_quote(q, fmt),
			            cfgl_join_names(list, sizeof(list), family_names));
		cfgl_path_pop(&l->cl, old);
		return;
	}
	out->format = cfgl_sdup(&l->cl, fmt);
	for (int i = 0; binding_keys[i] && nk < CFGL_KEYS_MAX; i++)
		keys[nk++] = binding_keys[i];
	for (int i = 0; fam->keys && fam->keys[i] && nk < CFGL_KEYS_MAX; i++)
		keys[nk++] = fam->keys[i];
	keys[nk] = NULL;
	cfgl_check_keys(&l->cl, b, keys);
	if (fam->configure) {
		const struct cfg_report cfg = {.ctx = l, .report = family_report};
		fam->configure(out, b, &cfg);
	}
}

static void parse_modbus(struct loader *l, const cJSON *m, int is_output, struct config_modbus *mb);

/* The binding of a sensor or output: MQTT or Modbus, one of them. */
static void parse_source(struct loader *l, const cJSON *obj, const char *what,
                         struct family_binding *out, struct config_modbus *mb, int is_output)
{
	const cJSON *modbus = cfgl_member(obj, "modbus");
	const cJSON *b;
	size_t old;

	mb->bus = -1;
	if (modbus) {
		if (cfgl_member(obj, "mqtt")) {
			cfgl_report(&l->cl, 0, modbus, 1, "give \"mqtt\" or \"modbus\", not both");
			return;
		}
		if (!cJSON_IsObject(modbus)) {
			cfgl_bad_type(&l->cl, modbus, "modbus", "an object");
			return;
		}
		old = cfgl_path_push_key(&l->cl, "modbus");
		parse_modbus(l, modbus, is_output, mb);
		cfgl_path_pop(&l->cl, old);
		return;
	}
	b = cfgl_get_obj(&l->cl, obj, "mqtt", REQUIRED, what);
	if (!b)
		return;
	out->is_output = is_output;
	old = cfgl_path_push_key(&l->cl, "mqtt");
	parse_binding(l, b, out);
	cfgl_path_pop(&l->cl, old);
}

/* ---- sections ---- */

static void parse_site(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	const cJSON *site = cfgl_get_obj(&l->cl, root, "site", REQUIRED, NULL), *geo;
	size_t old;

	if (!site)
		return;
	old = cfgl_path_push_key(&l->cl, "site");
	cfgl_check_keys(&l->cl, site, site_keys);
	cfgl_get_id(&l->cl, site, SH_ID_MAX, "since it is part of every MQTT topic of the site",
	            &c->site.id);
	cfgl_get_str(&l->cl, site, "name", OPTIONAL, NULL, 0, &c->site.name);
	cfgl_get_str(&l->cl, site, "address", OPTIONAL, NULL, 0, &c->site.address);
	cfgl_get_str(&l->cl, site, "phone", OPTIONAL, NULL, 0, &c->site.phone);
	cfgl_get_str(&l->cl, site, "timezone", OPTIONAL, SH_DEFAULT_TIMEZONE, 0, &c->site.timezone);
	cfgl_get_enum(&l->cl, site, "language", OPTIONAL, languages, "language", &c->site.language);
	geo = cfgl_get_obj(&l->cl, site, "geo", OPTIONAL, NULL);
	if (geo) {
		size_t g = cfgl_path_push_key(&l->cl, "geo");
		int a, b;
		cfgl_check_keys(&l->cl, geo, geo_keys);
		a = cfgl_get_double(&l->cl, geo, "lat", REQUIRED, -90, 90, &c->site.lat);
		b = cfgl_get_double(&l->cl, geo, "lon", REQUIRED, -180, 180, &c->site.lon);
		c->site.has_geo = a == 0 && b == 0;
		cfgl_path_pop(&l->cl, g);
	}
	cfgl_path_pop(&l->cl, old);
}

/* ---- credentials ---- */

#define CREDENTIALS_REF "credentials:"
#define CREDENTIALS_MAX_SIZE (64 * 1024)

static int is_credential_ref(const cJSON *v)
{
	return cJSON_IsString(v) &&
	       strncmp(v->valuestring, CREDENTIALS_REF, strlen(CREDENTIALS_REF)) == 0;
}

static const struct config_secret *find_secret(const struct config *c, const char *name)
{
	for (int i = 0; c && i < c->nsecrets; i++)
		if (strcmp(c->secrets[i].name, name) == 0)
			return &c->secrets[i];
	return NULL;
}

const char *config_credential(const struct config *c, const char *name)
{
	const struct config_secret *s = name ? find_secret(c, name) : NULL;
	return s ? s->secret : NULL;
}

/* One entry of the credentials file. Messages name the entry, never its
 * value. Returns 0, or -1 after reporting. */
static int credential_entry(struct loader *l, const cJSON *e, const cJSON *at,
                            struct config_secret *out)
{
	const cJSON *u = NULL, *p = e;

	if (cJSON_IsObject(e)) {
		u = cJSON_GetObjectItemCaseSensitive(e, "username");
		p = cJSON_GetObjectItemCaseSensitive(e, "password");
	}
	if (!cJSON_IsString(p) || !p->valuestring[0] || (u && !cJSON_IsString(u))) {
		cfgl_report(&l->cl, 0, at, 0,
		            "%s: entry \"%s\" must be a non-empty string or an object "
		            "{\"username\": ..., \"password\": ...}",
		            l->c->credentials, e->string);
		return -1;
	}
	out->name = cfgl_sdup(&l->cl, e->string);
	out->username = u ? cfgl_sdup(&l->cl, u->valuestring) : NULL;
	out->secret = cfgl_sdup(&l->cl, p->valuestring);
	return 0;
}

/* "credentials": a JSON file of secrets, {"NAME": "SECRET" or {"username",
 * "password"}}, so that config.json itself can be world-readable (and
 * shown, diffed, mailed) while the secrets stay private. Like OpenSMTPD's
 * tables, it is refused while group or others can read or write it: the
 * password of the upstream link silences the site from afar. Errors are
 * reported at the "credentials" key of the config. */
static void load_credentials(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	const cJSON *at = cfgl_member(root, "credentials"), *doc = NULL, *e;
	char *buf = NULL;
	size_t old;
	ssize_t n = 0;
	struct stat st;
	int fd = -1, i = 0;

	if (get_path(l, root, "credentials", NULL, &c->credentials) < 0 || !c->credentials)
		return;
	old = cfgl_path_push_key(&l->cl, "credentials");
	fd = open(c->credentials, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		cfgl_report(&l->cl, 0, at, 0, "cannot read %s: %s", c->credentials,
		            strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cfgl_report(&l->cl, 0, at, 0, "%s is not a regular file", c->credentials);
		goto out;
	}
	if (st.st_mode & 077) {
		cfgl_report(&l->cl, 0, at, 0,
		            "%s holds passwords but is %s by group or others (mode %04o); "
		            "safehoused refuses it: run chmod 600 %s (owned by the user the daemon "
		            "runs as)",
		            c->credentials, st.st_mode & 044 ? "readable" : "writable",
		            (unsigned)(st.st_mode & 07777), c->credentials);
		goto out;
	}
	if (st.st_size > CREDENTIALS_MAX_SIZE || !(buf = malloc((size_t)st.st_size + 1))) {
		cfgl_report(&l->cl, 0, at, 0, "%s: larger than %d bytes", c->credentials,
		            CREDENTIALS_MAX_SIZE);
		goto out;
	}
	while (n < st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)(st.st_size - n));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	doc = cJSON_ParseWithLength(buf, (size_t)n);
	if (!cJSON_IsObject(doc)) {
		/* No excerpt of the text: it is a secret. Only where. */
		const char *bad = doc ? NULL : cJSON_GetErrorPtr();
		int line = 1;
		for (const char *q = buf; bad && q < bad && q < buf + n; q++)
			line += *q == '\n';
		if (doc)
			cfgl_report(&l->cl, 0, at, 0,
			            "%s: not a JSON object; expected {\"NAME\": \"SECRET\" or "
			            "{\"username\": ..., \"password\": ...}}",
			            c->credentials);
		else
			cfgl_report(&l->cl, 0, at, 0, "%s: invalid JSON at line %d", c->credentials,
			            line);
		goto out;
	}
	c->nsecrets = cJSON_GetArraySize(doc);
	c->secrets = calloc((size_t)c->nsecrets + 1, sizeof(*c->secrets));
	if (!c->secrets) {
		l->cl.oom = 1;
		c->nsecrets = 0;
		goto out;
	}
	cJSON_ArrayForEach(e, doc)
	{
		if (credential_entry(l, e, at, &c->secrets[i]) == 0)
			i++;
	}
	c->nsecrets = i;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	cJSON_Delete((cJSON *)doc);
	cfgl_path_pop(&l->cl, old);
}

/* A broker's username and password from the credentials file: "password":
 * "credentials:NAME" takes entry NAME (its password, and its username when
 * the broker gives none); a broker object with neither key takes the entry
 * of its own name ("mqtt", "upstream") when that entry has a username. */
static void broker_credentials(struct loader *l, const cJSON *obj, const char *own,
                               struct config_broker *b)
{
	const cJSON *pw = cfgl_member(obj, "password");
	const struct config_secret *s;
	const char *name;
	size_t old;

	if (!pw && !cfgl_member(obj, "username")) {
		s = find_secret(l->c, own);
		if (s && s->username) {
			b->username = cfgl_sdup(&l->cl, s->username);
			b->password = cfgl_sdup(&l->cl, s->secret);
		}
		return;
	}
	if (!is_credential_ref(pw))
		return;
	name = pw->valuestring + strlen(CREDENTIALS_REF);
	free(b->password);
	b->password = NULL;
	s = find_secret(l->c, name);
	if (!s && l->c->credentials && !l->c->secrets)
		return; /* the file was refused: said once, at "credentials" */
	if (!s) {
		old = cfgl_path_push_key(&l->cl, "password");
		if (!l->c->credentials)
			cfgl_report(
			    &l->cl, 0, pw, 0,
			    "refers to the credentials file, but there is no \"credentials\" "
			    "key naming one");
		else
			cfgl_report(&l->cl, 0, pw, 0, "%s has no entry \"%s\"", l->c->credentials,
			            name);
		cfgl_path_pop(&l->cl, old);
		return;
	}
	b->password = cfgl_sdup(&l->cl, s->secret);
	if (!b->username && s->username)
		b->username = cfgl_sdup(&l->cl, s->username);
}

/* Upstream TLS with a client certificate: both files, readable, and the
 * key for our eyes only (whoever reads it can be the site upstream). */
static void parse_client_cert(struct loader *l, const cJSON *obj, struct config_broker *b)
{
	const cJSON *cert = cfgl_member(obj, "certfile"), *key = cfgl_member(obj, "keyfile");
	struct stat st;
	size_t old;

	get_path(l, obj, "certfile", NULL, &b->certfile);
	get_path(l, obj, "keyfile", NULL, &b->keyfile);
	if (!cert && !key)
		return;
	if (!cert || !key) {
		old = cfgl_path_push_key(&l->cl, cert ? "certfile" : "keyfile");
		cfgl_report(&l->cl, 0, cert ? cert : key, 1,
		            "a client certificate needs both \"certfile\" and \"keyfile\"");
		cfgl_path_pop(&l->cl, old);
		return;
	}
	if (cJSON_IsFalse(cfgl_member(obj, "tls"))) {
		old = cfgl_path_push_key(&l->cl, "certfile");
		cfgl_report(&l->cl, 0, cert, 0,
		            "a client certificate is only used with \"tls\": true");
		cfgl_path_pop(&l->cl, old);
	}
	b->tls = 1;
	if (b->certfile && access(b->certfile, R_OK) < 0) {
		old = cfgl_path_push_key(&l->cl, "certfile");
		cfgl_report(&l->cl, 0, cert, 0, "cannot read %s: %s", b->certfile, strerror(errno));
		cfgl_path_pop(&l->cl, old);
	}
	if (!b->keyfile)
		return;
	old = cfgl_path_push_key(&l->cl, "keyfile");
	if (access(b->keyfile, R_OK) < 0 || stat(b->keyfile, &st) < 0)
		cfgl_report(&l->cl, 0, key, 0, "cannot read %s: %s", b->keyfile, strerror(errno));
	else if (st.st_mode & 077)
		cfgl_report(&l->cl, 0, key, 0,
		            "%s is a private key but is %s by group or others (mode %04o); "
		            "safehoused refuses it: run chmod 600 %s (owned by the user the daemon "
		            "runs as)",
		            b->keyfile, st.st_mode & 044 ? "readable" : "writable",
		            (unsigned)(st.st_mode & 07777), b->keyfile);
	cfgl_path_pop(&l->cl, old);
}

static void parse_broker(struct loader *l, const cJSON *obj, int upstream, struct config_broker *b)
{
	const char *site = l->c->site.id ? l->c->site.id : "";
	char *def_client = NULL;

	cfgl_check_keys(&l->cl, obj, upstream ? upstream_keys : mqtt_keys);
	/* The upstream broker may be a cluster: "hosts" instead of "host". */
	if (!upstream || !cfgl_member(obj, "hosts"))
		cfgl_get_str(&l->cl, obj, "host", upstream ? REQUIRED : OPTIONAL, DEFAULT_BROKER, 0,
		             &b->host);
	if (upstream) {
		const char *cafile;
		const cJSON *tls = cfgl_member(obj, "tls");

		cfgl_get_bool(&l->cl, obj, "tls", &b->tls);
		if (cfgl_str_member(&l->cl, obj, "cafile", OPTIONAL, &cafile) > 0) {
			size_t old = cfgl_path_push_key(&l->cl, "cafile");
			b->cafile = cfgl_join_path(&l->cl, l->cl.dir, cafile);
			if (cJSON_IsFalse(tls))
				cfgl_report(&l->cl, 0, cfgl_member(obj, "cafile"), 0,
				            "a CA file is only used with \"tls\": true");
			else if (b->cafile && access(b->cafile, R_OK) < 0)
				cfgl_report(&l->cl, 0, cfgl_member(obj, "cafile"), 0,
				            "cannot read %s: %s", b->cafile, strerror(errno));
			b->tls = 1;
			cfgl_path_pop(&l->cl, old);
		}
		parse_client_cert(l, obj, b);
	}
	/* TLS on the plain port never connects: follow the usual 8883. */
	b->port = b->tls ? 8883 : 1883;
	cfgl_get_int(&l->cl, obj, "port", OPTIONAL, 1, 65535, NULL, &b->port);
	if (upstream && cfgl_member(obj, "hosts")) {
		int n = cfgl_get_hosts(&l->cl, obj, b->port, &b->hosts);
		if (n > 0) {
			b->nhosts = n;
			b->host = cfgl_sdup(&l->cl, b->hosts[0].host);
		}
	}
	cfgl_get_str(&l->cl, obj, "username", OPTIONAL, NULL, 0, &b->username);
	cfgl_get_str(&l->cl, obj, "password", OPTIONAL, NULL, 0, &b->password);
	broker_credentials(l, obj, upstream ? "upstream" : "mqtt", b);
	/* b->password is NULL when a "credentials:" reference failed: said. */
	if (b->password && !cfgl_member(obj, "username") && !b->username) {
		size_t old = cfgl_path_push_key(&l->cl, "password");
		cfgl_report(&l->cl, 0, cfgl_member(obj, "password"), 1,
		            "a password needs a username: MQTT sends none without one");
		cfgl_path_pop(&l->cl, old);
	}
	if (asprintf(&def_client, "%s%s", DEFAULT_CLIENT_PREFIX, site) < 0) {
		def_client = NULL;
		l->cl.oom = 1;
	}
	cfgl_get_str(&l->cl, obj, "client_id", OPTIONAL, def_client, 0, &b->client_id);
	free(def_client);
	b->keepalive_s = 30;
	cfgl_get_int(&l->cl, obj, "keepalive_s", OPTIONAL, 5, 3600, "seconds", &b->keepalive_s);
	/* An upstream link down this long is a fault (EN 54-2: faults within
	 * 100 s; a link may blink, so 5 minutes by default). */
	b->down_fault_s = 300;
	if (upstream)
		cfgl_get_int(&l->cl, obj, "down_fault_s", OPTIONAL, 1, 86400, "seconds",
		             &b->down_fault_s);
}

static void parse_prefix(struct loader *l, const cJSON *up)
{
	const char *s;
	const cJSON *v = cfgl_member(up, "prefix");
	size_t old;
	int r = cfgl_str_member(&l->cl, up, "prefix", OPTIONAL, &s);

	if (r < 0)
		return;
	if (r == 0) {
		l->c->upstream_prefix = cfgl_sdup(&l->cl, DEFAULT_PREFIX);
		return;
	}
	old = cfgl_path_push_key(&l->cl, "prefix");
	if (strpbrk(s, "+#"))
		cfgl_report(&l->cl, 0, v, 0,
		            "MQTT wildcards ('+', '#') cannot be part of a topic to publish");
	else if (s[0] == '/' || s[strlen(s) - 1] == '/')
		cfgl_report(
		    &l->cl, 0, v, 0,
		    "must not start or end with '/': topics are PREFIX/SITE/..., and an empty "
		    "level is a different topic");
	else if (strlen(s) > TOPIC_LEN_MAX - SH_ID_MAX)
		cfgl_report(&l->cl, 0, v, 0, "too long: at most %d bytes",
		            TOPIC_LEN_MAX - SH_ID_MAX);
	else
		l->c->upstream_prefix = cfgl_sdup(&l->cl, s);
	cfgl_path_pop(&l->cl, old);
}

/* --check: the daemon refuses a database it cannot write (SQLite would open
 * it read-only and the gateway would record and send nothing), so say it
 * now. access() sees the file mode, chattr +i (EPERM) and a read-only mount
 * (EROFS); SQLite also needs the directory for its -wal and -shm files. */
static void check_database_writable(struct loader *l, const cJSON *root, const char *db)
{
	const cJSON *v = cfgl_member(root, "database");
	char dir[PATH_MAX];
	const char *slash = strrchr(db, '/');
	size_t old;

	if (strcmp(db, ":memory:") == 0)
		return;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - db) + (slash == db) : 1,
	         slash ? db : ".");
	old = cfgl_path_push_key(&l->cl, "database");
	if (access(db, F_OK) == 0 && access(db, R_OK | W_OK) != 0)
		cfgl_report(
		    &l->cl, 0, v ? v : root, 0,
		    "cannot write %s: %s; safehoused refuses to start on it (give it to the "
		    "daemon's user: chown safehouse %s; chmod 600 %s; or fix the mount)",
		    db, strerror(errno), db, db);
	else if (access(dir, W_OK | X_OK) != 0)
		cfgl_report(&l->cl, 0, v ? v : root, 0,
		            "cannot write in %s: %s; SQLite creates the database and its -wal and "
		            "-shm files there (install -d -o safehouse %s)",
		            dir, strerror(errno), dir);
	cfgl_path_pop(&l->cl, old);
}

static void parse_top(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	const cJSON *v;
	size_t old;
	int level = cfgl_index_of(log_levels, DEFAULT_LOG_LEVEL);

	/* First: the brokers (and, later, channels) take secrets from it. */
	load_credentials(l, root);
	get_path(l, root, "database", DEFAULT_DATABASE, &c->database);
	if (l->partial && c->database)
		check_database_writable(l, root, c->database);
	get_path(l, root, "control_socket", SH_DEFAULT_SOCKET, &c->control_socket);
	if (c->control_socket &&
	    strlen(c->control_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		v = cfgl_member(root, "control_socket");
		old = cfgl_path_push_key(&l->cl, "control_socket");
		cfgl_report(&l->cl, 0, v ? v : root, 0,
		            "%s is %zu bytes long; a Unix socket path holds at most %zu",
		            c->control_socket, strlen(c->control_socket),
		            sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		cfgl_path_pop(&l->cl, old);
	}
	cfgl_get_str(&l->cl, root, "control_group", OPTIONAL, NULL, 0, &c->control_group);
	/* Long enough for a person at a terminal, short enough that a script
	 * leaking connections frees them; 1 s still lets safehousectl, which
	 * sends its request at once, work. */
	c->control_idle_s = 60;
	cfgl_get_int(&l->cl, root, "control_idle_s", OPTIONAL, 1, 3600, "seconds",
	             &c->control_idle_s);
	cfgl_get_enum(&l->cl, root, "log_level", OPTIONAL, log_levels, "log level", &level);
	c->log_level = cfgl_sdup(&l->cl, log_levels[level]);

	/* No mqtt object means every default: parse an empty one. */
	v = cfgl_get_obj(&l->cl, root, "mqtt", OPTIONAL, NULL);
	old = cfgl_path_push_key(&l->cl, "mqtt");
	parse_broker(l, v ? v : &(cJSON){.type = cJSON_Object}, 0, &c->mqtt);
	cfgl_path_pop(&l->cl, old);

	v = cfgl_get_obj(&l->cl, root, "upstream", OPTIONAL, NULL);
	if (v) {
		old = cfgl_path_push_key(&l->cl, "upstream");
		parse_broker(l, v, 1, &c->upstream);
		parse_prefix(l, v);
		cfgl_path_pop(&l->cl, old);
	} else {
		c->upstream_prefix = cfgl_sdup(&l->cl, DEFAULT_PREFIX);
	}

	c->heartbeat_s = 60;
	cfgl_get_int(&l->cl, root, "heartbeat_s", OPTIONAL, 5, 86400, "seconds", &c->heartbeat_s);

	/* Records are kept until the next inspection and a year after: 400
	 * days. Less is allowed (tests, a lab) and warned about at start. */
	c->retention_days = 400;
	cfgl_get_int(&l->cl, root, "retention_days", OPTIONAL, 1, 36500, "days",
	             &c->retention_days);

	/* Bounds what a long outage can pile up (notices and replies go
	 * first; alarms and alerts are never dropped). */
	c->outbox_max_pending = 10000;
	v = cfgl_get_obj(&l->cl, root, "outbox", OPTIONAL, NULL);
	if (v) {
		old = cfgl_path_push_key(&l->cl, "outbox");
		cfgl_check_keys(&l->cl, v, outbox_keys);
		cfgl_get_int(&l->cl, v, "max_pending", OPTIONAL, 10, 1000000, "messages",
		             &c->outbox_max_pending);
		cfgl_path_pop(&l->cl, old);
	}

	/* What the event log keeps of numeric readings (engine.c,
	 * record_numeric): a temperature when it moved by a degree, a
	 * battery level at every change, either at least hourly when it
	 * moved less. Every reading still reaches the rules. */
	c->history_temperature_step = 1;
	c->history_battery_step = 0;
	c->history_max_interval_s = 3600;
	v = cfgl_get_obj(&l->cl, root, "history", OPTIONAL, NULL);
	if (v) {
		old = cfgl_path_push_key(&l->cl, "history");
		cfgl_check_keys(&l->cl, v, history_keys);
		cfgl_get_double(&l->cl, v, "temperature_step", OPTIONAL, 0, 10,
		                &c->history_temperature_step);
		cfgl_get_double(&l->cl, v, "battery_step", OPTIONAL, 0, 50,
		                &c->history_battery_step);
		cfgl_get_int(&l->cl, v, "max_interval_s", OPTIONAL, 60, 86400, "seconds",
		             &c->history_max_interval_s);
		cfgl_path_pop(&l->cl, old);
	}

	/* Home Assistant discovery, on the local broker: on unless switched
	 * off, so that the gateway shows up in Home Assistant by itself. */
	c->hass_enabled = 1;
	v = cfgl_get_obj(&l->cl, root, "homeassistant", OPTIONAL, NULL);
	old = cfgl_path_push_key(&l->cl, "homeassistant");
	if (v) {
		cfgl_check_keys(&l->cl, v, hass_keys);
		cfgl_get_bool(&l->cl, v, "enabled", &c->hass_enabled);
	}
	cfgl_get_str(&l->cl, v ? v : &(cJSON){.type = cJSON_Object}, "prefix", OPTIONAL,
	             "homeassistant", 0, &c->hass_prefix);
	cfgl_path_pop(&l->cl, old);
}

/* "web": the owner's panel. Off without a "listen"; a certificate needs
 * both files, and https without them means a self-signed one. */
static void parse_web(struct loader *l, const cJSON *root)
{
	struct config_web *w = &l->c->web;
	const cJSON *v = cfgl_get_obj(&l->cl, root, "web", OPTIONAL, NULL);
	char q[CFGL_QUOTE_BUF];
	int lang = -1;
	size_t old;

	w->public_view = 1;
	w->language = l->c->site.language;
	w->session_idle_s = 600;
	if (!v)
		return;
	old = cfgl_path_push_key(&l->cl, "web");
	cfgl_check_keys(&l->cl, v, web_keys);
	if (cfgl_get_str(&l->cl, v, "listen", REQUIRED, NULL, 0, &w->listen) == 0 && w->listen &&
	    !cfgl_listen_ok(w->listen))
		cfgl_report_key(&l->cl, 0, v, "listen", 0,
		                "invalid address %s: use HOST:PORT or [IPv6]:PORT, port 1 to 65535 "
		                "(e.g. \"0.0.0.0:8080\" for every interface, \"192.168.1.2:8080\" "
		                "for the Wi-Fi's only)",
		                cfgl_quote(q, w->listen));
	cfgl_get_bool(&l->cl, v, "https", &w->https);
	get_path(l, v, "cert", NULL, &w->cert);
	get_path(l, v, "key", NULL, &w->key);
	if (!w->cert != !w->key)
		cfgl_report_key(&l->cl, 0, v, w->cert ? "cert" : "key", 1,
		                "a certificate needs both \"cert\" and \"key\"");
	else if (w->cert && !w->https)
		cfgl_report_key(&l->cl, 0, v, "cert", 1,
		                "\"cert\" and \"key\" are for HTTPS: add \"https\": true");
	if (l->partial)
		for (int i = 0; i < 2; i++) {
			const char *f = i ? w->key : w->cert;
			if (f && access(f, R_OK) < 0)
				cfgl_report_key(&l->cl, 0, v, i ? "key" : "cert", 0,
				                "cannot read %s: %s", f, strerror(errno));
		}
	cfgl_get_bool(&l->cl, v, "public", &w->public_view);
	if (cfgl_get_enum(&l->cl, v, "language", OPTIONAL, web_languages, "language", &lang) == 0 &&
	    lang >= 0)
		w->language = lang == 0 ? LANG_VI : LANG_EN;
	cfgl_get_int(&l->cl, v, "session_idle_s", OPTIONAL, 60, 86400, "seconds",
	             &w->session_idle_s);
	cfgl_path_pop(&l->cl, old);
}

static int idref_cmp(const void *a, const void *b)
{
	const struct idref *x = a, *y = b;
	int r = strcmp(x->id, y->id);

	return r ? r : (x->index > y->index) - (x->index < y->index);
}

/* Sort the ids of one section and report every repeat, naming the first.
 * Sorting keeps this fast for the huge files that the size limit allows. */
static void check_dup_ids(struct loader *l, const char *section, struct idref *refs, int n)
{
	if (n > 1)
		qsort(refs, (size_t)n, sizeof(*refs), idref_cmp);
	for (int i = 1, first = 0; i < n; i++) {
		const struct jsonpos_node *p;
		size_t old;
		char q[CFGL_QUOTE_BUF];

		if (strcmp(refs[i].id, refs[first].id) != 0) {
			first = i;
			continue;
		}
		p = jsonpos_find(&l->cl.pos, refs[first].node);
		old = cfgl_path_push_key(&l->cl, section);
		cfgl_path_push_index(&l->cl, refs[i].index);
		cfgl_path_push_key(&l->cl, "id");
		cfgl_report(&l->cl, 0, refs[i].node, 0,
		            "duplicate id %s; %s[%d] at line %d already uses it",
		            cfgl_quote(q, refs[i].id), section, refs[first].index, p ? p->line : 0);
		cfgl_path_pop(&l->cl, old);
	}
}

/* A zone's "camera": where its snapshot comes from. The webhook channel
 * fetches it for an alarm in the zone (gateway/webhook.c). */
static void parse_camera(struct loader *l, const cJSON *zone, struct config_camera *cam)
{
	const cJSON *o = cfgl_get_obj(&l->cl, zone, "camera", OPTIONAL, NULL);
	const char *s;
	char q[CFGL_QUOTE_BUF];
	int auth = 0;
	size_t old;

	if (!o)
		return;
	old = cfgl_path_push_key(&l->cl, "camera");
	cfgl_check_keys(&l->cl, o, camera_keys);
	if (cfgl_str_member(&l->cl, o, "snapshot_url", REQUIRED, &s) > 0) {
		size_t o2 = cfgl_path_push_key(&l->cl, "snapshot_url");
		if ((strncmp(s, "http://", 7) != 0 || !s[7]) &&
		    (strncmp(s, "https://", 8) != 0 || !s[8]))
			cfgl_report(&l->cl, 0, cfgl_member(o, "snapshot_url"), 0,
			            "invalid URL %s: must start with http:// or https://",
			            cfgl_quote(q, s));
		else if (strpbrk(s, " \t\r\n"))
			cfgl_report(&l->cl, 0, cfgl_member(o, "snapshot_url"), 0,
			            "invalid URL %s: contains a space", cfgl_quote(q, s));
		else
			cam->snapshot_url = cfgl_sdup(&l->cl, s);
		cfgl_path_pop(&l->cl, o2);
	}
	cfgl_get_str(&l->cl, o, "username", OPTIONAL, NULL, 0, &cam->username);
	cfgl_get_str(&l->cl, o, "password", OPTIONAL, NULL, 0, &cam->password);
	cfgl_get_enum(&l->cl, o, "auth", OPTIONAL, camera_auths, "camera auth", &auth);
	cam->digest = auth == 1;
	if (cfgl_member(o, "password") && !cfgl_member(o, "username")) {
		size_t o2 = cfgl_path_push_key(&l->cl, "password");
		cfgl_report(&l->cl, 0, cfgl_member(o, "password"), 1,
		            "a password needs a username: the camera is sent none without one");
		cfgl_path_pop(&l->cl, o2);
	}
	if (cfgl_member(o, "auth") && !cfgl_member(o, "username")) {
		size_t o2 = cfgl_path_push_key(&l->cl, "auth");
		cfgl_report(&l->cl, 1, cfgl_member(o, "auth"), 1,
		            "ignored: no username, so no authentication");
		cfgl_path_pop(&l->cl, o2);
	}
	cfgl_path_pop(&l->cl, old);
}

static void parse_zone(struct loader *l, const cJSON *e, void *elem)
{
	struct config_zone *z = elem;
	int kind = 0;

	cfgl_check_keys(&l->cl, e, zone_keys);
	cfgl_get_id(&l->cl, e, SH_ID_MAX, NULL, &z->id);
	cfgl_get_str(&l->cl, e, "name", OPTIONAL, z->id, 0, &z->name);
	cfgl_get_int(&l->cl, e, "floor", OPTIONAL, -1000, 1000, NULL, &z->floor);
	cfgl_get_enum(&l->cl, e, "kind", OPTIONAL, zone_kinds, "zone kind", &kind);
	z->kind = cfgl_sdup(&l->cl, zone_kinds[kind]);
	parse_camera(l, e, &z->camera);
}

static int zone_ref_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct idref *)elem)->id);
}

/* A zone reference: *out is the zone's index, or -1 when absent. */
static void zone_ref(struct loader *l, const cJSON *obj, int required, int *out)
{
	const struct idref *r;
	const char *s, *hint;
	char q[CFGL_QUOTE_BUF], h[CFGL_QUOTE_BUF];
	size_t old;

	*out = -1;
	if (cfgl_str_member(&l->cl, obj, "zone", required, &s) <= 0 || l->zones_broken)
		return;
	r = l->zone_refs ? bsearch(s, l->zone_refs, (size_t)l->nzone_refs, sizeof(*l->zone_refs),
	                           zone_ref_cmp)
	                 : NULL;
	if (r) {
		*out = r->index;
		return;
	}
	old = cfgl_path_push_key(&l->cl, "zone");
	hint = sh_suggest(s, l->zone_names);
	if (hint)
		cfgl_report(&l->cl, 0, cfgl_member(obj, "zone"), 0,
		            "unknown zone %s; did you mean %s?", cfgl_quote(q, s),
		            cfgl_quote(h, hint));
	else
		cfgl_report(&l->cl, 0, cfgl_member(obj, "zone"), 0,
		            "unknown zone %s: no zone has this id", cfgl_quote(q, s));
	cfgl_path_pop(&l->cl, old);
}

/* ---- Modbus ---- */

static const char *const bus_keys[] = {"id",         "type",    "host",      "port",      "device",
                                       "baud",       "parity",  "data_bits", "stop_bits", "rs485",
                                       "timeout_ms", "retries", "poll_ms",   NULL};
static const char *const modbus_keys[] = {
    "bus",   "unit",    "discrete_input", "coil",    "input_register", "holding_register",
    "bit",   "type",    "word_order",     "scale",   "offset",         "invert",
    "point", "poll_ms", "timeout_ms",     "retries", "profile",        "channel",
    NULL};
static const char *const bus_type_names[] = {"tcp", "rtu", NULL};
static const char *const mb_table_names[] = {"discrete_input", "coil", "input_register",
                                             "holding_register", NULL};
static const char *const mb_type_names[] = {"bool", "u16", "s16", "u32", "s32", "f32", NULL};
static const char *const word_orders[] = {"big", "little", NULL};
static const char *const parities[] = {"N", "E", "O", NULL};
static const char *const numeric_points[] = {"temperature", "battery", NULL};

static void parse_bus(struct loader *l, const cJSON *e, void *elem)
{
	struct config_bus *b = elem;
	int type = 0, par = 0;
	static const long bauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200};

	cfgl_check_keys(&l->cl, e, bus_keys);
	cfgl_get_id(&l->cl, e, SH_ID_MAX, NULL, &b->id);
	cfgl_get_enum(&l->cl, e, "type", REQUIRED, bus_type_names, "bus type", &type);
	b->type = (enum bus_type)type;
	b->port = 502;
	b->baud = 9600;
	b->data_bits = 8;
	b->stop_bits = 1;
	b->timeout_ms = 500;
	b->retries = 2;
	b->poll_ms = 500;
	if (b->type == BUS_TCP) {
		cfgl_get_str(&l->cl, e, "host", REQUIRED, NULL, 0, &b->host);
		cfgl_get_int(&l->cl, e, "port", OPTIONAL, 1, 65535, NULL, &b->port);
	} else {
		get_path(l, e, "device", NULL, &b->device);
		if (!b->device)
			cfgl_missing(&l->cl, e, "device", "an RTU bus needs its serial device");
		if (cfgl_get_int(&l->cl, e, "baud", OPTIONAL, 1200, 115200, "baud", &b->baud) ==
		    0) {
			int ok = 0;
			for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
				ok |= bauds[i] == b->baud;
			if (!ok) {
				size_t old = cfgl_path_push_key(&l->cl, "baud");
				cfgl_report(&l->cl, 0, cfgl_member(e, "baud"), 0,
				            "%d is not a serial speed (1200 ... 115200)", b->baud);
				cfgl_path_pop(&l->cl, old);
			}
		}
		cfgl_get_enum(&l->cl, e, "parity", OPTIONAL, parities, "parity", &par);
		b->parity = parities[par][0];
		cfgl_get_int(&l->cl, e, "data_bits", OPTIONAL, 7, 8, NULL, &b->data_bits);
		cfgl_get_int(&l->cl, e, "stop_bits", OPTIONAL, 1, 2, NULL, &b->stop_bits);
		cfgl_get_bool(&l->cl, e, "rs485", &b->rs485);
	}
	cfgl_get_int(&l->cl, e, "timeout_ms", OPTIONAL, 10, 60000, "ms", &b->timeout_ms);
	cfgl_get_int(&l->cl, e, "retries", OPTIONAL, 0, 10, NULL, &b->retries);
	cfgl_get_int(&l->cl, e, "poll_ms", OPTIONAL, 20, 3600000, "ms", &b->poll_ms);
}

/* A profile's channel (or output) object: the point a profile names. */
static cJSON *profile_point(struct loader *l, const cJSON *m, int is_output, cJSON **doc)
{
	const char *name;
	char path[4096], key[16];
	const cJSON *ch = cfgl_member(m, "channel");
	cJSON *p = NULL;
	size_t old;
	FILE *f;

	*doc = NULL;
	if (cfgl_str_member(&l->cl, m, "profile", REQUIRED, &name) <= 0)
		return NULL;
	old = cfgl_path_push_key(&l->cl, "profile");
	if (!cfgl_is_word(name)) {
		cfgl_report(&l->cl, 0, cfgl_member(m, "profile"), 0,
		            "a profile name is letters, digits, - and _");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.json", l->c->profiles_dir, name);
	f = fopen(path, "r");
	if (!f) {
		cfgl_report(&l->cl, 0, cfgl_member(m, "profile"), 0, "cannot read profile %s: %s",
		            path, strerror(errno));
		goto out;
	}
	{
		char *buf = malloc(1 << 20);
		size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
		if (buf) {
			buf[n] = 0;
			*doc = cJSON_Parse(buf);
		}
		free(buf);
	}
	fclose(f);
	if (!*doc) {
		cfgl_report(&l->cl, 0, cfgl_member(m, "profile"), 0, "profile %s is not valid JSON",
		            path);
		goto out;
	}
	cfgl_path_pop(&l->cl, old);
	old = cfgl_path_push_key(&l->cl, "channel");
	if (!cJSON_IsNumber(ch) || ch->valuedouble < 1 || ch->valuedouble > 1000 ||
	    ch->valuedouble != floor(ch->valuedouble)) {
		cfgl_report(&l->cl, 0, ch ? ch : m, 0, "a profile needs a \"channel\" number");
		goto out;
	}
	snprintf(key, sizeof(key), "%d", (int)ch->valuedouble);
	p = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(*doc, is_output ? "outputs" : "channels"), key);
	if (!cJSON_IsObject(p)) {
		cfgl_report(&l->cl, 0, ch, 0, "profile %s has no %s %s", name,
		            is_output ? "output" : "channel", key);
		p = NULL;
	}
out:
	cfgl_path_pop(&l->cl, old);
	return p;
}

/* A number from the local object, else from the profile's point. */
static const cJSON *pick(const cJSON *m, const cJSON *prof, const char *key)
{
	const cJSON *v = cfgl_member(m, key);
	return v ? v : (prof ? cJSON_GetObjectItemCaseSensitive(prof, key) : NULL);
}

static void parse_modbus(struct loader *l, const cJSON *m, int is_output, struct config_modbus *mb)
{
	struct config *c = l->c;
	const cJSON *tabv = NULL, *prof = NULL, *src;
	cJSON *doc = NULL;
	const char *bus;
	int ntables = 0, typ = -1, wo = 0, pt = 0, table = -1;
	size_t old;

	mb->bus = -1;
	mb->bit = -1;
	mb->scale = 1;
	mb->point = POINT_TEMPERATURE;
	cfgl_check_keys(&l->cl, m, modbus_keys);
	if (cfgl_member(m, "profile"))
		prof = profile_point(l, m, is_output, &doc);
	if (cfgl_str_member(&l->cl, m, "bus", REQUIRED, &bus) > 0) {
		mb->bus = config_bus_index(c, bus);
		if (mb->bus < 0) {
			char q[CFGL_QUOTE_BUF];
			old = cfgl_path_push_key(&l->cl, "bus");
			cfgl_report(&l->cl, 0, cfgl_member(m, "bus"), 0, "unknown bus %s%s",
			            cfgl_quote(q, bus),
			            c->nbuses ? "" : "; the config has no \"buses\"");
			cfgl_path_pop(&l->cl, old);
		}
	}
	cfgl_get_int(&l->cl, m, "unit", REQUIRED, 0, 255, NULL, &mb->unit);
	for (int t = 0; mb_table_names[t]; t++) {
		const cJSON *v = pick(m, prof, mb_table_names[t]);
		if (v) {
			ntables++;
			tabv = v;
			table = t;
		}
	}
	/* A profile that could not be used has said why; "missing the table"
	 * on top of that would send the installer the wrong way. */
	if (ntables == 0 && cfgl_member(m, "profile") && !prof)
		goto out;
	if (ntables != 1) {
		cfgl_report(&l->cl, 0, m, 0,
		            ntables
		                ? "give one table: discrete_input, coil, input_register or "
		                  "holding_register"
		                : "missing the table and address: discrete_input, coil, "
		                  "input_register or holding_register, or a profile and channel");
		goto out;
	}
	mb->table = (enum mb_table)table;
	src = cfgl_member(m, mb_table_names[table]) ? m : prof;
	cfgl_get_int(&l->cl, src, mb_table_names[table], REQUIRED, 0, 65535, NULL, &mb->address);
	if (is_output && mb->table != MB_COIL) {
		cfgl_report(&l->cl, 0, tabv, 0, "an output is a coil");
		goto out;
	}
	if (pick(m, prof, "bit")) {
		src = cfgl_member(m, "bit") ? m : prof;
		if (mb->table == MB_DISCRETE || mb->table == MB_COIL)
			cfgl_report(&l->cl, 0, pick(m, prof, "bit"), 0,
			            "\"bit\" picks a bit of a register");
		else
			cfgl_get_int(&l->cl, src, "bit", REQUIRED, 0, 15, NULL, &mb->bit);
	}
	if (pick(m, prof, "type"))
		cfgl_get_enum(&l->cl, cfgl_member(m, "type") ? m : prof, "type", REQUIRED,
		              mb_type_names, "value type", &typ);
	if (typ < 0)
		typ = (int)mbp_default_type(mb->table, mb->bit);
	mb->type = (enum mb_type)typ;
	if ((mb->table == MB_DISCRETE || mb->table == MB_COIL || mb->bit >= 0) &&
	    mb->type != MBT_BOOL)
		cfgl_report(&l->cl, 0, pick(m, prof, "type"), 0, "a bit is a bool");
	if (pick(m, prof, "word_order"))
		cfgl_get_enum(&l->cl, cfgl_member(m, "word_order") ? m : prof, "word_order",
		              REQUIRED, word_orders, "word order", &wo);
	mb->word_little = wo == 1;
	if (pick(m, prof, "scale"))
		cfgl_get_double(&l->cl, cfgl_member(m, "scale") ? m : prof, "scale", REQUIRED, -1e9,
		                1e9, &mb->scale);
	if (pick(m, prof, "offset"))
		cfgl_get_double(&l->cl, cfgl_member(m, "offset") ? m : prof, "offset", REQUIRED,
		                -1e9, 1e9, &mb->offset);
	if (pick(m, prof, "invert"))
		cfgl_get_bool(&l->cl, cfgl_member(m, "invert") ? m : prof, "invert", &mb->invert);
	if (cfgl_member(m, "point")) {
		cfgl_get_enum(&l->cl, m, "point", REQUIRED, numeric_points, "point", &pt);
		mb->point = pt ? POINT_BATTERY : POINT_TEMPERATURE;
	}
	if (mb->bus >= 0) {
		const struct config_bus *b = &c->buses[mb->bus];
		mb->poll_ms = b->poll_ms;
		mb->timeout_ms = b->timeout_ms;
		mb->retries = b->retries;
	}
	cfgl_get_int(&l->cl, m, "poll_ms", OPTIONAL, 20, 3600000, "ms", &mb->poll_ms);
	cfgl_get_int(&l->cl, m, "timeout_ms", OPTIONAL, 10, 60000, "ms", &mb->timeout_ms);
	cfgl_get_int(&l->cl, m, "retries", OPTIONAL, 0, 10, NULL, &mb->retries);
out:
	cJSON_Delete(doc);
}

/* Profiles: "profiles_dir", else profiles/ beside the config, else
 * ../profiles (the source tree's deploy/), else the installed ones. */
static void parse_profiles_dir(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	static const char *const tries[] = {"profiles", "../profiles", NULL};
	struct stat st;
	if (cfgl_member(root, "profiles_dir")) {
		get_path(l, root, "profiles_dir", NULL, &c->profiles_dir);
		return;
	}
	for (int i = 0; tries[i]; i++) {
		char *p = cfgl_join_path(&l->cl, l->cl.dir, tries[i]);
		if (p && stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			c->profiles_dir = p;
			return;
		}
		free(p);
	}
	c->profiles_dir = cfgl_sdup(&l->cl, "/usr/share/safehouse/profiles");
}

static void parse_sensor(struct loader *l, const cJSON *e, void *elem)
{
	struct config_sensor *s = elem;
	int kind = 0, power = 0;

	cfgl_check_keys(&l->cl, e, sensor_keys);
	cfgl_get_id(&l->cl, e, SH_ID_MAX, NULL, &s->id);
	cfgl_get_str(&l->cl, e, "name", OPTIONAL, s->id, 0, &s->name);
	cfgl_get_enum(&l->cl, e, "kind", REQUIRED, sh_kind_names, "sensor kind", &kind);
	s->kind = (enum sh_kind)kind;
	zone_ref(l, e, REQUIRED, &s->zone);
	/* Gas and CO detectors, mains monitors and siren feedback are wired
	 * to the mains; the rest of a zigbee kit runs on batteries. */
	power = (s->kind == KIND_GAS || s->kind == KIND_CO || s->kind == KIND_POWER ||
	         s->kind == KIND_SIREN_FEEDBACK)
	            ? 1
	            : 0;
	cfgl_get_enum(&l->cl, e, "power", OPTIONAL, power_names, "power source", &power);
	s->power_mains = power == 1;
	/* Supervision by default: 2 h for a battery device, 10 min for a
	 * mains one (a battery device sleeps; a mains one can answer). */
	s->supervision_s = s->power_mains ? 600 : 7200;
	cfgl_get_int(&l->cl, e, "supervision_s", OPTIONAL, 0, INT_MAX,
	             "seconds (0: not supervised)", &s->supervision_s);
	s->mqtt.kind = s->kind;
	parse_source(l, e, "a sensor is read over MQTT or Modbus", &s->mqtt, &s->modbus, 0);
	/* A wired device, or one of a family whose devices run on the mains
	 * (a Tasmota board: it sends tele/STATE every TelePeriod, 5 min by
	 * default), is a mains device unless the config says not. */
	const struct family *fam = family_find(s->mqtt.format);
	if ((s->modbus.bus >= 0 || (fam && fam->mains_powered)) && !cfgl_member(e, "power")) {
		s->power_mains = 1;
		if (!cfgl_member(e, "supervision_s"))
			s->supervision_s = 600;
	}
}

static void parse_output(struct loader *l, const cJSON *e, void *elem)
{
	struct config_output *o = elem;
	int kind = 0;

	cfgl_check_keys(&l->cl, e, output_keys);
	cfgl_get_id(&l->cl, e, SH_ID_MAX, NULL, &o->id);
	cfgl_get_enum(&l->cl, e, "kind", REQUIRED, output_kind_names, "output kind", &kind);
	o->kind = (enum output_kind)kind;
	zone_ref(l, e, OPTIONAL, &o->zone);
	o->duration_s = 300;
	cfgl_get_int(&l->cl, e, "duration_s", OPTIONAL, 1, 1800, "seconds", &o->duration_s);
	o->mqtt.kind = KIND_GENERIC;
	o->mqtt.siren = o->kind == OUTPUT_SIREN || o->kind == OUTPUT_STROBE;
	o->mqtt.duration_s = o->duration_s;
	parse_source(l, e, "an output is driven over MQTT or Modbus", &o->mqtt, &o->modbus, 1);
}

static int phone_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n > 16)
		return 0;
	if (*s == '+')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* The keys every step takes, and a contact in the short form besides. */
static const char *const step_common_keys[] = {"via",      "phone",      "url", "after_s",
                                               "repeat_s", "repeat_max", NULL};

/* Keys of an object holding a step: the common ones, the channel's own,
 * and extra (the contact's own keys in the short form). */
static void check_step_keys(struct loader *l, const cJSON *obj, const struct channel_conf *cc,
                            const char *const *extra)
{
	const char *keys[CFGL_KEYS_MAX + 1];
	int nk = 0;

	for (int i = 0; extra && extra[i] && nk < CFGL_KEYS_MAX; i++)
		keys[nk++] = extra[i];
	for (int i = 0; step_common_keys[i] && nk < CFGL_KEYS_MAX; i++)
		if (!extra || cfgl_index_of(extra, step_common_keys[i]) < 0)
			keys[nk++] = step_common_keys[i];
	for (int i = 0; cc && cc->keys && cc->keys[i] && nk < CFGL_KEYS_MAX; i++)
		keys[nk++] = cc->keys[i];
	keys[nk] = NULL;
	cfgl_check_keys(&l->cl, obj, keys);
}

/* One step, from obj (a member of "steps", or the contact itself in the
 * short form). Keys are checked by the caller. */
static void parse_step(struct loader *l, const cJSON *obj, struct config_step *st)
{
	const struct channel_conf *cc;
	const char *s;
	char q[CFGL_QUOTE_BUF];
	int via = -1, r;
	size_t old;

	if (cfgl_get_enum(&l->cl, obj, "via", REQUIRED, via_names, "contact channel", &via) < 0)
		via = -1;
	st->via = via < 0 ? VIA_UPSTREAM : (enum contact_via)via;

	r = cfgl_str_member(&l->cl, obj, "phone", via == VIA_SMS || via == VIA_CALL, &s);
	if (r > 0) {
		old = cfgl_path_push_key(&l->cl, "phone");
		if (!phone_ok(s))
			cfgl_report(&l->cl, 0, cfgl_member(obj, "phone"), 0,
			            "invalid phone number %s: use digits with an optional leading "
			            "'+', 8 to 16 characters, e.g. \"+84912345678\"",
			            cfgl_quote(q, s));
		else if (via == VIA_SMS || via == VIA_CALL)
			st->phone = cfgl_sdup(&l->cl, s);
		else if (via >= 0)
			cfgl_report(&l->cl, 1, cfgl_member(obj, "phone"), 1,
			            "ignored: only sms and call use a phone");
		cfgl_path_pop(&l->cl, old);
	}

	r = cfgl_str_member(&l->cl, obj, "url", 0, &s);
	if (r > 0) {
		old = cfgl_path_push_key(&l->cl, "url");
		if ((strncmp(s, "http://", 7) != 0 || !s[7]) &&
		    (strncmp(s, "https://", 8) != 0 || !s[8]))
			cfgl_report(&l->cl, 0, cfgl_member(obj, "url"), 0,
			            "invalid URL %s: must start with http:// or https://",
			            cfgl_quote(q, s));
		else if (strpbrk(s, " \t\r\n"))
			cfgl_report(&l->cl, 0, cfgl_member(obj, "url"), 0,
			            "invalid URL %s: contains a space", cfgl_quote(q, s));
		else if (via == VIA_WEBHOOK)
			st->url = cfgl_sdup(&l->cl, s);
		else if (via >= 0)
			cfgl_report(&l->cl, 1, cfgl_member(obj, "url"), 1,
			            "ignored: only webhook uses a url");
		cfgl_path_pop(&l->cl, old);
	}

	/* A day is the longest wait that makes sense for an alarm. */
	cfgl_get_int(&l->cl, obj, "after_s", OPTIONAL, 0, 86400, "seconds", &st->after_s);
	cfgl_get_int(&l->cl, obj, "repeat_s", OPTIONAL, 0, 86400, "seconds (0: once)",
	             &st->repeat_s);
	st->repeat_max = 3;
	if (cfgl_get_int(&l->cl, obj, "repeat_max", OPTIONAL, 1, 100, "runs", &st->repeat_max) ==
	        0 &&
	    cfgl_member(obj, "repeat_max") && st->repeat_s == 0) {
		old = cfgl_path_push_key(&l->cl, "repeat_max");
		cfgl_report(&l->cl, 1, cfgl_member(obj, "repeat_max"), 1,
		            "ignored: the step has no repeat_s, so it runs once");
		cfgl_path_pop(&l->cl, old);
	}
	if (st->repeat_s > 0 && st->repeat_s < 30) {
		old = cfgl_path_push_key(&l->cl, "repeat_s");
		cfgl_report(&l->cl, 0, cfgl_member(obj, "repeat_s"), 0,
		            "%d is too short: a repeated call or message needs at least 30 s "
		            "between runs",
		            st->repeat_s);
		cfgl_path_pop(&l->cl, old);
	}

	cc = via >= 0 ? channel_conf_find(st->via) : NULL;
	if (cc && cc->configure) {
		const struct cfg_report rep = {.ctx = l, .report = family_report};
		cc->configure(st, obj, &rep);
	}
}

static void parse_contact(struct loader *l, const cJSON *e, void *elem)
{
	static const char *const contact_own[] = {"id",           "name",        "steps",
	                                          "ack_by_reply", "ack_by_call", NULL};
	struct config_contact *ct = elem;
	const cJSON *steps = cfgl_member(e, "steps");
	int has_phone = 0;

	cfgl_get_id(&l->cl, e, SH_ID_MAX, NULL, &ct->id);
	cfgl_get_str(&l->cl, e, "name", OPTIONAL, ct->id, 0, &ct->name);
	if (steps) {
		const cJSON *st;
		int i = 0;

		/* The common step keys are known here; they only belong in the
		 * steps. */
		check_step_keys(l, e, NULL, contact_own);
		for (int k = 0; step_common_keys[k]; k++) {
			const cJSON *m = cfgl_member(e, step_common_keys[k]);
			if (m) {
				size_t old = cfgl_path_push_key(&l->cl, step_common_keys[k]);
				cfgl_report(
				    &l->cl, 0, m, 1,
				    "a contact with \"steps\" gives its channels in the steps, "
				    "not beside them");
				cfgl_path_pop(&l->cl, old);
			}
		}
		if (!cJSON_IsArray(steps)) {
			cfgl_bad_type(&l->cl, steps, "steps", "an array of steps");
			return;
		}
		if (cJSON_GetArraySize(steps) < 1 || cJSON_GetArraySize(steps) > 16) {
			size_t old = cfgl_path_push_key(&l->cl, "steps");
			cfgl_report(&l->cl, 0, steps, 0, "a contact has 1 to 16 steps, not %d",
			            cJSON_GetArraySize(steps));
			cfgl_path_pop(&l->cl, old);
			return;
		}
		ct->steps = calloc((size_t)cJSON_GetArraySize(steps), sizeof(*ct->steps));
		if (!ct->steps) {
			l->cl.oom = 1;
			return;
		}
		cJSON_ArrayForEach(st, steps)
		{
			size_t old = cfgl_path_push_key(&l->cl, "steps");
			cfgl_path_push_index(&l->cl, i);
			if (!cJSON_IsObject(st)) {
				cfgl_report(&l->cl, 0, st, 0,
				            "expected a step object, e.g. {\"via\": \"sms\", "
				            "\"phone\": \"+84...\", \"after_s\": 60}");
			} else {
				const cJSON *v = cfgl_member(st, "via");
				int via = cJSON_IsString(v)
				              ? cfgl_index_of(via_names, v->valuestring)
				              : -1;
				check_step_keys(l, st, via >= 0 ? channel_conf_find(via) : NULL,
				                NULL);
				parse_step(l, st, &ct->steps[i]);
			}
			cfgl_path_pop(&l->cl, old);
			i++;
		}
		ct->nsteps = i;
	} else {
		/* The short form: the contact is its one step, at once. */
		const cJSON *v = cfgl_member(e, "via");
		int via = cJSON_IsString(v) ? cfgl_index_of(via_names, v->valuestring) : -1;

		check_step_keys(l, e, via >= 0 ? channel_conf_find(via) : NULL, contact_own);
		ct->steps = calloc(1, sizeof(*ct->steps));
		if (!ct->steps) {
			l->cl.oom = 1;
			return;
		}
		ct->nsteps = 1;
		parse_step(l, e, &ct->steps[0]);
		if (cfgl_member(e, "after_s") || cfgl_member(e, "repeat_s")) {
			size_t old = cfgl_path_push_key(
			    &l->cl, cfgl_member(e, "after_s") ? "after_s" : "repeat_s");
			cfgl_report(
			    &l->cl, 1,
			    cfgl_member(e, cfgl_member(e, "after_s") ? "after_s" : "repeat_s"), 1,
			    "a contact of one channel runs at once; write \"steps\" for a "
			    "chain");
			cfgl_path_pop(&l->cl, old);
		}
	}
	for (int i = 0; i < ct->nsteps; i++)
		if (ct->steps[i].via == VIA_SMS || ct->steps[i].via == VIA_CALL)
			has_phone = 1;
	ct->ack_by_reply = has_phone;
	cfgl_get_bool(&l->cl, e, "ack_by_reply", &ct->ack_by_reply);
	cfgl_get_bool(&l->cl, e, "ack_by_call", &ct->ack_by_call);
	if ((ct->ack_by_reply || ct->ack_by_call) && !has_phone &&
	    (cfgl_member(e, "ack_by_reply") || cfgl_member(e, "ack_by_call"))) {
		const char *k = cfgl_member(e, "ack_by_reply") ? "ack_by_reply" : "ack_by_call";
		size_t old = cfgl_path_push_key(&l->cl, k);
		cfgl_report(
		    &l->cl, 1, cfgl_member(e, k), 1,
		    "ignored: the contact has no sms or call step, so no phone to answer from");
		cfgl_path_pop(&l->cl, old);
	}
	ct->via = ct->steps[0].via;
	ct->phone = ct->steps[0].phone;
	ct->url = ct->steps[0].url;
}

/* One array of objects with ids: zones, sensors, outputs, contacts. */
struct list_kind {
	const char *key;
	size_t size;   /* of one element */
	size_t id_off; /* offsetof(element, id) */
	void (*parse)(struct loader *l, const cJSON *e, void *elem);
};

static const struct list_kind zone_list = {"zones", sizeof(struct config_zone),
                                           offsetof(struct config_zone, id), parse_zone};
static const struct list_kind sensor_list = {"sensors", sizeof(struct config_sensor),
                                             offsetof(struct config_sensor, id), parse_sensor};
static const struct list_kind output_list = {"outputs", sizeof(struct config_output),
                                             offsetof(struct config_output, id), parse_output};
static const struct list_kind contact_list = {"contacts", sizeof(struct config_contact),
                                              offsetof(struct config_contact, id), parse_contact};
static const struct list_kind bus_list = {"buses", sizeof(struct config_bus),
                                          offsetof(struct config_bus, id), parse_bus};

/* Parse every element of arr into a new array of *n elements (NULL when
 * empty), then check the ids. The sorted ids go to *refs when it is not
 * NULL, for lookups; the caller frees them. */
static void *parse_list(struct loader *l, const cJSON *arr, const struct list_kind *k, int *n,
                        struct idref **refs, int *nrefs)
{
	const cJSON *e;
	struct idref *ids = NULL;
	char *items;
	size_t old;
	int i = 0, nids = 0;

	*n = cJSON_GetArraySize(arr);
	if (*n == 0)
		return NULL;
	items = calloc((size_t)*n, k->size);
	ids = calloc((size_t)*n, sizeof(*ids));
	if (!items || !ids) {
		l->cl.oom = 1;
		free(items);
		free(ids);
		*n = 0;
		return NULL;
	}
	old = cfgl_path_push_key(&l->cl, k->key);
	cJSON_ArrayForEach(e, arr)
	{
		size_t o = cfgl_path_push_index(&l->cl, i);
		char *elem = items + (size_t)i * k->size, *id;

		if (cJSON_IsObject(e))
			k->parse(l, e, elem);
		else
			cfgl_report(&l->cl, 0, e, 0, "expected an object, found %s",
			            cfgl_type_name(e));
		memcpy(&id, elem + k->id_off, sizeof(id));
		if (id)
			ids[nids++] = (struct idref){id, i, cfgl_member(e, "id")};
		cfgl_path_pop(&l->cl, o);
		i++;
	}
	cfgl_path_pop(&l->cl, old);
	check_dup_ids(l, k->key, ids, nids);
	if (refs) {
		*refs = ids;
		*nrefs = nids;
	} else {
		free(ids);
	}
	return items;
}

static void parse_zones(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	const cJSON *arr = cfgl_get_arr(&l->cl, root, "zones", REQUIRED);
	size_t old;

	l->zones_broken = 1;
	if (!arr)
		return;
	if (cJSON_GetArraySize(arr) == 0) {
		old = cfgl_path_push_key(&l->cl, "zones");
		cfgl_report(&l->cl, 0, arr, 0,
		            "at least one zone is needed: every sensor names the zone it is in");
		cfgl_path_pop(&l->cl, old);
		return;
	}
	c->zones = parse_list(l, arr, &zone_list, &c->nzones, &l->zone_refs, &l->nzone_refs);
	if (!c->zones)
		return;
	l->zone_names = calloc((size_t)c->nzones + 1, sizeof(*l->zone_names));
	if (!l->zone_names) {
		l->cl.oom = 1;
		return;
	}
	for (int k = 0, j = 0; k < c->nzones; k++)
		if (c->zones[k].id)
			l->zone_names[j++] = c->zones[k].id;
	l->zones_broken = 0;
}

/* The topics a device's "mqtt" object names: its "topic", and the "topic"
 * of an object one level below (a json sensor's points[i].topic and
 * availability.topic), each once, with its path below "mqtt". */
#define DEVICE_TOPICS_MAX 24

struct device_topic {
	const cJSON *node;
	char key[48];
};

/* Add obj's "topic" under key unless the device named it already. */
static void add_device_topic(struct device_topic *out, int *n, const cJSON *obj, const char *key)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "topic");

	if (!cJSON_IsString(t) || !t->valuestring[0] || *n == DEVICE_TOPICS_MAX)
		return;
	for (int j = 0; j < *n; j++)
		if (strcmp(out[j].node->valuestring, t->valuestring) == 0)
			return;
	snprintf(out[*n].key, sizeof(out[*n].key), "%s", key);
	out[(*n)++].node = t;
}

static int device_topics(const cJSON *elem, struct device_topic *out)
{
	const cJSON *m =
	    cJSON_IsObject(elem) ? cJSON_GetObjectItemCaseSensitive(elem, "mqtt") : NULL;
	const cJSON *k, *e;
	char key[48];
	int n = 0;

	if (!cJSON_IsObject(m))
		return 0;
	add_device_topic(out, &n, m, "topic");
	cJSON_ArrayForEach(k, m)
	{
		int i = 0;
		if (cJSON_IsObject(k)) {
			snprintf(key, sizeof(key), "%.20s.topic", k->string);
			add_device_topic(out, &n, k, key);
		} else if (cJSON_IsArray(k)) {
			cJSON_ArrayForEach(e, k)
			{
				snprintf(key, sizeof(key), "%.20s[%d].topic", k->string, i++);
				if (cJSON_IsObject(e))
					add_device_topic(out, &n, e, key);
			}
		}
	}
	return n;
}

/* Two devices on one topic is a copy-paste mistake: the second sensor would
 * never be heard, and a siren on a sensor's topic would be read back as
 * sensor data. Both are refused, naming the first user of the topic. */
static void check_topics(struct loader *l, const cJSON *root)
{
	static const char *const lists[] = {"sensors", "outputs"};
	struct seen {
		const cJSON *topic;
		const char *list;
		int idx;
	} * seen;
	struct device_topic dt[DEVICE_TOPICS_MAX];
	int nseen = 0, cap = 0;

	for (int k = 0; k < 2; k++)
		cap += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, lists[k]));
	cap *= DEVICE_TOPICS_MAX;
	seen = calloc((size_t)(cap ? cap : 1), sizeof(*seen));
	if (!seen) {
		l->cl.oom = 1;
		return;
	}

	for (int k = 0; k < 2; k++) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, lists[k]), *e;
		int i = 0;
		if (!cJSON_IsArray(arr))
			continue;
		cJSON_ArrayForEach(e, arr)
		{
			int nt = device_topics(e, dt), mine = nseen;
			for (int d = 0; d < nt; d++) {
				const cJSON *t = dt[d].node;
				int dup = -1;
				/* Only other devices: one device may read a topic
				 * for several points. */
				for (int j = 0; j < mine && dup < 0; j++)
					if (strcmp(seen[j].topic->valuestring, t->valuestring) == 0)
						dup = j;
				if (dup >= 0) {
					const struct jsonpos_node *p =
					    jsonpos_find(&l->cl.pos, seen[dup].topic);
					size_t old = cfgl_path_push_key(&l->cl, lists[k]);
					cfgl_path_push_index(&l->cl, i);
					cfgl_path_push_key(&l->cl, "mqtt");
					cfgl_path_append(&l->cl, ".%s", dt[d].key);
					cfgl_report(
					    &l->cl, 0, t, 0,
					    "topic \"%s\" is already used by %s[%d] (line %d); "
					    "each device needs its own topic",
					    t->valuestring, seen[dup].list, seen[dup].idx,
					    p ? p->line : 0);
					cfgl_path_pop(&l->cl, old);
				} else if (nseen < cap) {
					seen[nseen++] = (struct seen){t, lists[k], i};
				}
			}
			i++;
		}
	}
	free(seen);
}

/* The inspection criteria (gateway/compliance.h): a file name, or
 * {"file", "notify", "self_check_at"}. The file defaults to the shipped
 * model's beside the config (rules/model/criteria.json, or ../../rules/...
 * from deploy/examples), else the installed one. The file itself is read
 * by compliance_criteria_load (--check and the daemon), not here. */
static void parse_criteria(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	static const char *const tries[] = {"rules/model/criteria.json",
	                                    "../../rules/model/criteria.json", NULL};
	const cJSON *v = cfgl_member(root, "criteria"), *arr, *e;
	size_t old;
	struct stat st;
	char q[CFGL_QUOTE_BUF];
	int i = 0;

	c->self_check_min = 8 * 60;
	if (v && cJSON_IsString(v)) {
		get_path(l, root, "criteria", NULL, &c->criteria_file);
		v = NULL;
	}
	if (v && !cJSON_IsObject(v)) {
		cfgl_bad_type(&l->cl, v, "criteria", "a file name or an object");
		return;
	}
	if (v) {
		const char *at;
		old = cfgl_path_push_key(&l->cl, "criteria");
		cfgl_check_keys(&l->cl, v, criteria_keys);
		get_path(l, v, "file", NULL, &c->criteria_file);
		if (cfgl_str_member(&l->cl, v, "self_check_at", OPTIONAL, &at) > 0) {
			int h, m, n = 0;
			size_t o = cfgl_path_push_key(&l->cl, "self_check_at");
			if (sscanf(at, "%2d:%2d%n", &h, &m, &n) != 2 || at[n] || h > 23 || m > 59 ||
			    h < 0 || m < 0)
				cfgl_report(&l->cl, 0, cfgl_member(v, "self_check_at"), 0,
				            "expected a time of day HH:MM (site time), found %s",
				            cfgl_quote(q, at));
			else
				c->self_check_min = h * 60 + m;
			cfgl_path_pop(&l->cl, o);
		}
		if ((arr = cfgl_get_arr(&l->cl, v, "notify", OPTIONAL))) {
			size_t o = cfgl_path_push_key(&l->cl, "notify");
			c->criteria_notify =
			    calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
			if (!c->criteria_notify)
				l->cl.oom = 1;
			cJSON_ArrayForEach(e, arr)
			{
				size_t o2 = cfgl_path_push_index(&l->cl, i++);
				if (!cJSON_IsString(e))
					cfgl_report(&l->cl, 0, e, 0,
					            "expected a contact id, found %s",
					            cfgl_type_name(e));
				else if (config_contact_index(c, e->valuestring) < 0)
					cfgl_report(&l->cl, 0, e, 0, "unknown contact %s",
					            cfgl_quote(q, e->valuestring));
				else if (c->criteria_notify)
					c->criteria_notify[c->ncriteria_notify++] =
					    cfgl_sdup(&l->cl, e->valuestring);
				cfgl_path_pop(&l->cl, o2);
			}
			cfgl_path_pop(&l->cl, o);
		}
		cfgl_path_pop(&l->cl, old);
	}
	if (!c->criteria_notify && config_contact_index(c, "owner") >= 0) {
		c->criteria_notify = calloc(2, sizeof(char *));
		if (c->criteria_notify)
			c->criteria_notify[c->ncriteria_notify++] = cfgl_sdup(&l->cl, "owner");
	}
	if (c->criteria_file) {
		/* Named: it must be there (the default may be missing: then the
		 * report and the self-check say so, the gateway still runs). */
		if (stat(c->criteria_file, &st) < 0) {
			old = cfgl_path_push_key(&l->cl, "criteria");
			cfgl_report(&l->cl, 0, cfgl_member(root, "criteria"), 0,
			            "criteria file %s: %s", c->criteria_file, strerror(errno));
			cfgl_path_pop(&l->cl, old);
		}
		return;
	}
	for (int k = 0; tries[k]; k++) {
		char *p = cfgl_join_path(&l->cl, l->cl.dir, tries[k]);
		if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			c->criteria_file = p;
			return;
		}
		free(p);
	}
	c->criteria_file = cfgl_sdup(&l->cl, "/usr/share/safehouse/rules/model/criteria.json");
}

static void parse_lists(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	const cJSON *arr;

	parse_zones(l, root);
	parse_profiles_dir(l, root);
	if ((arr = cfgl_get_arr(&l->cl, root, "buses", OPTIONAL)))
		c->buses = parse_list(l, arr, &bus_list, &c->nbuses, NULL, NULL);
	if ((arr = cfgl_get_arr(&l->cl, root, "sensors", OPTIONAL)))
		c->sensors = parse_list(l, arr, &sensor_list, &c->nsensors, NULL, NULL);
	if ((arr = cfgl_get_arr(&l->cl, root, "outputs", OPTIONAL)))
		c->outputs = parse_list(l, arr, &output_list, &c->noutputs, NULL, NULL);
	if ((arr = cfgl_get_arr(&l->cl, root, "contacts", OPTIONAL)))
		c->contacts = parse_list(l, arr, &contact_list, &c->ncontacts, NULL, NULL);
	check_topics(l, root);
	parse_criteria(l, root);
}

/* ---- rule files ---- */

static int has_wildcard(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		else if (*s == '*' || *s == '?' || *s == '[')
			return 1;
	}
	return 0;
}

/* The config directory as a glob pattern: a '[' in a directory name must
 * not turn into a wildcard. */
static char *glob_escape(struct loader *l, const char *s)
{
	char *out = malloc(strlen(s) * 2 + 1), *o = out;

	if (!out) {
		l->cl.oom = 1;
		return NULL;
	}
	for (; *s; s++) {
		if (strchr("*?[]\\", *s))
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static void rule_add(struct loader *l, const char *path)
{
	if (l->nrules == l->arules) {
		size_t n = l->arules ? l->arules * 2 : 16;
		char **r = realloc(l->rules, n * sizeof(*r));
		if (!r) {
			l->cl.oom = 1;
			return;
		}
		l->rules = r;
		l->arules = n;
	}
	l->rules[l->nrules] = cfgl_sdup(&l->cl, path);
	if (l->rules[l->nrules])
		l->nrules++;
}

static void rule_pattern(struct loader *l, const cJSON *v)
{
	const char *pat = v->valuestring;
	char *edir = NULL, *full = NULL;
	char q[CFGL_QUOTE_BUF];
	glob_t g;
	int r;

	if (pat[0] == '/') {
		full = cfgl_sdup(&l->cl, pat);
	} else {
		edir = glob_escape(l, l->cl.dir);
		if (edir)
			full = cfgl_join_path(&l->cl, edir, pat);
	}
	if (!full)
		goto out;
	r = glob(full, 0, NULL, &g);
	if (r == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			rule_add(l, g.gl_pathv[i]);
	} else if (r == GLOB_NOSPACE) {
		l->cl.oom = 1;
	} else if (has_wildcard(pat)) {
		cfgl_report(&l->cl, 1, v, 0, "pattern %s matches no file (looked in %s)",
		            cfgl_quote(q, pat), l->cl.dir);
	} else {
		/* glob has no errno; stat tells why the file is not there. */
		struct stat st;
		char *plain = cfgl_join_path(&l->cl, l->cl.dir, pat);
		int err = plain && stat(plain, &st) < 0 ? errno : ENOENT;
		cfgl_report(&l->cl, 0, v, 0, "rule file %s not found: %s: %s", cfgl_quote(q, pat),
		            plain ? plain : pat, strerror(err));
		free(plain);
	}
	globfree(&g);
out:
	free(full);
	free(edir);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void parse_rules(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	const cJSON *arr = cfgl_get_arr(&l->cl, root, "rules", OPTIONAL), *e;
	size_t old, k = 0;
	int i = 0;

	if (!arr)
		return;
	old = cfgl_path_push_key(&l->cl, "rules");
	cJSON_ArrayForEach(e, arr)
	{
		size_t o = cfgl_path_push_index(&l->cl, i++);
		if (!cJSON_IsString(e))
			cfgl_report(&l->cl, 0, e, 0,
			            "expected a string (a file name or pattern), found %s",
			            cfgl_type_name(e));
		else if (!e->valuestring[0])
			cfgl_report(&l->cl, 0, e, 0, "must not be empty");
		else
			rule_pattern(l, e);
		cfgl_path_pop(&l->cl, o);
	}
	cfgl_path_pop(&l->cl, old);

	/* Overlapping patterns ("*.rules" and "fire.rules") must not load a
	 * file twice: its rules would fire twice. */
	if (l->nrules)
		qsort(l->rules, l->nrules, sizeof(*l->rules), str_cmp);
	for (size_t j = 0; j < l->nrules; j++) {
		if (k && strcmp(l->rules[k - 1], l->rules[j]) == 0)
			free(l->rules[j]);
		else
			l->rules[k++] = l->rules[j];
	}
	c->rule_files = l->rules;
	c->nrule_files = (int)k;
	l->rules = NULL;
	l->nrules = l->arules = 0;
}

/* The neighbour group: site ids, as in their topics. One listed twice
 * would be followed twice; our own id would make our own fire a
 * neighbour's. */
static void parse_neighbours(struct loader *l, const cJSON *root)
{
	struct config *c = l->c;
	const cJSON *arr = cfgl_get_arr(&l->cl, root, "neighbours", OPTIONAL), *e;
	char q[CFGL_QUOTE_BUF];
	size_t old;
	int i = 0, n;

	if (!arr)
		return;
	old = cfgl_path_push_key(&l->cl, "neighbours");
	n = cJSON_GetArraySize(arr);
	if (n < 1 || n > CONFIG_NEIGHBOURS_MAX) {
		cfgl_report(
		    &l->cl, 0, arr, 0,
		    "%d site(s): a neighbour group lists 1 to %d other sites (leave the key "
		    "out for none)",
		    n, CONFIG_NEIGHBOURS_MAX);
		cfgl_path_pop(&l->cl, old);
		return;
	}
	c->neighbours = calloc((size_t)n, sizeof(*c->neighbours));
	if (!c->neighbours) {
		l->cl.oom = 1;
		cfgl_path_pop(&l->cl, old);
		return;
	}
	cJSON_ArrayForEach(e, arr)
	{
		size_t o = cfgl_path_push_index(&l->cl, i++);
		int dup = -1;
		if (!cJSON_IsString(e)) {
			cfgl_report(&l->cl, 0, e, 0,
			            "expected a string (a neighbour's site id), found %s",
			            cfgl_type_name(e));
			cfgl_path_pop(&l->cl, o);
			continue;
		}
		for (int k = 0; k < c->nneighbours; k++)
			if (strcmp(c->neighbours[k], e->valuestring) == 0)
				dup = k;
		if (strlen(e->valuestring) >= SH_ID_MAX || !cfgl_is_word(e->valuestring))
			cfgl_report(
			    &l->cl, 0, e, 0,
			    "invalid site id %s: use 1 to %d letters, digits, '-' or '_', as "
			    "in the neighbour's site.id",
			    cfgl_quote(q, e->valuestring), SH_ID_MAX - 1);
		else if (c->site.id && strcmp(c->site.id, e->valuestring) == 0)
			cfgl_report(&l->cl, 0, e, 0,
			            "%s is this site's own id: a neighbour group lists the other "
			            "houses",
			            cfgl_quote(q, e->valuestring));
		else if (dup >= 0)
			cfgl_report(&l->cl, 0, e, 0, "site %s is listed twice",
			            cfgl_quote(q, e->valuestring));
		else
			c->neighbours[c->nneighbours++] = cfgl_sdup(&l->cl, e->valuestring);
		cfgl_path_pop(&l->cl, o);
	}
	cfgl_path_pop(&l->cl, old);
}

/* ---- loading ---- */

/* Keys whose value is a secret, as dotted paths from the top: a new secret
 * key (a webhook token, a PIN) is one line here. */
static const char *const secret_keys[] = {"mqtt.password", "upstream.password", NULL};

/* The member at a dotted path, or NULL. */
static const cJSON *member_path(const cJSON *root, const char *dotted)
{
	char key[64];
	const char *p = dotted;

	while (root && *p) {
		size_t n = strcspn(p, ".");
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		root = cJSON_IsObject(root) ? cfgl_member(root, key) : NULL;
		p += n + (p[n] == '.');
	}
	return root;
}

static void report_secret(struct loader *l, const cJSON *v, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report_secret(struct loader *l, const cJSON *v, const char *what, const char *fmt, ...)
{
	size_t old = l->cl.pathlen;
	char path[CFGL_PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	cfgl_path_append(&l->cl, "%s%s", old ? "." : "", path);
	cfgl_report(&l->cl, 0, v, 1,
	            "this file holds a %s but is %s by group or others (mode %04o); "
	            "run: chmod 600 %s (owned by the user the daemon runs as)",
	            what, l->cl.mode & 044 ? "readable" : "writable", l->cl.mode & 07777,
	            l->cl.name);
	cfgl_path_pop(&l->cl, old);
}

/* A webhook token written into the file itself; "credentials:NAME" only
 * names one kept elsewhere. */
static const cJSON *literal_token(const cJSON *obj)
{
	const cJSON *v = cfgl_member(obj, "token");

	return cJSON_IsString(v) && strncmp(v->valuestring, "credentials:", 12) != 0 ? v : NULL;
}

/* A file holding a password must be for the daemon's eyes only: anyone on
 * the board who can read it can silence the site from upstream, or speak
 * for it to its contacts (a webhook token). Reported at every secret, so
 * the installer sees which keys made it matter. */
static void check_secrets_mode(struct loader *l, const cJSON *root)
{
	const cJSON *arr, *e, *v;
	int i;

	if (l->cl.mode < 0 || !(l->cl.mode & 077))
		return;
	for (i = 0; secret_keys[i]; i++) {
		v = member_path(root, secret_keys[i]);
		/* "credentials:NAME" is a name, not a secret. */
		if (v && !is_credential_ref(v))
			report_secret(l, v, "password", "%s", secret_keys[i]);
	}
	arr = cfgl_member(root, "zones");
	i = 0;
	cJSON_ArrayForEach(e, (cJSON_IsArray(arr) ? arr : NULL))
	{
		v = member_path(e, "camera.password");
		if (v)
			report_secret(l, v, "password", "zones[%d].camera.password", i);
		i++;
	}
	arr = cfgl_member(root, "contacts");
	i = 0;
	cJSON_ArrayForEach(e, (cJSON_IsArray(arr) ? arr : NULL))
	{
		const cJSON *steps = cfgl_member(e, "steps"), *st;
		int j = 0;

		if ((v = literal_token(e)))
			report_secret(l, v, "token", "contacts[%d].token", i);
		cJSON_ArrayForEach(st, (cJSON_IsArray(steps) ? steps : NULL))
		{
			if ((v = literal_token(st)))
				report_secret(l, v, "token", "contacts[%d].steps[%d].token", i, j);
			j++;
		}
		i++;
	}
}

/* The SIM PIN's file, like OpenSMTPD's secrets: only the daemon's user may
 * read it (three wrong tries lock the SIM, and the PIN unlocks the card in
 * any phone). The PIN is checked for form here and never quoted. */
static void check_pin_file(struct loader *l, const cJSON *v, const char *path)
{
	struct stat st;
	char pin[32];
	size_t n = 0;
	FILE *f;

	if (stat(path, &st) < 0) {
		cfgl_report(&l->cl, 0, v, 0, "cannot read the SIM PIN file %s: %s", path,
		            strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		cfgl_report(&l->cl, 0, v, 0, "%s is not a file", path);
		return;
	}
	if (st.st_mode & 077) {
		cfgl_report(
		    &l->cl, 0, v, 0,
		    "the SIM PIN file %s is %s by group or others (mode %04o); run: chmod 600 "
		    "%s (owned by the user the daemon runs as)",
		    path, st.st_mode & 044 ? "readable" : "writable",
		    (unsigned)(st.st_mode & 07777), path);
		return;
	}
	f = fopen(path, "r");
	if (!f) {
		cfgl_report(&l->cl, 0, v, 0, "cannot read the SIM PIN file %s: %s", path,
		            strerror(errno));
		return;
	}
	n = fread(pin, 1, sizeof(pin) - 1, f);
	fclose(f);
	pin[n] = '\0';
	n = strcspn(pin, "\r\n");
	pin[n] = '\0';
	if (n < 4 || n > 8 || strspn(pin, "0123456789") != n)
		cfgl_report(&l->cl, 0, v, 0,
		            "%s does not hold a SIM PIN: expected 4 to 8 digits on one line", path);
	memset(pin, 0, sizeof(pin));
}

/* "modem": {"device", "baud", "pin_file", "ring_s", "check_s"}. The device
 * need not exist at load: a modem unplugged at boot is a fault shown in
 * status, not a reason to run without sirens. */
static void parse_modem(struct loader *l, const cJSON *root)
{
	static const int bauds[] = {9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600};
	struct config_modem *m = &l->c->modem;
	const cJSON *v = cfgl_get_obj(&l->cl, root, "modem", OPTIONAL, NULL);
	size_t old;

	m->baud = 115200;
	m->ring_s = 30;
	m->check_s = 60;
	m->fault_s = 120;
	if (!v)
		return;
	old = cfgl_path_push_key(&l->cl, "modem");
	cfgl_check_keys(&l->cl, v, modem_keys);
	get_path(l, v, "device", NULL, &m->device);
	if (!m->device && !cfgl_member(v, "device"))
		cfgl_missing(&l->cl, v, "device", "the modem's serial port, e.g. \"/dev/ttyUSB2\"");
	if (l->partial && m->device && access(m->device, F_OK) < 0) {
		/* --check only: a typo is found now, not at the first fire */
		int e = errno;
		size_t o = cfgl_path_push_key(&l->cl, "device");
		cfgl_report(
		    &l->cl, 1, cfgl_member(v, "device"), 0,
		    "%s does not exist now (%s); the daemon starts anyway and shows the fault "
		    "\"modem: not connected\" until it appears",
		    m->device, strerror(e));
		cfgl_path_pop(&l->cl, o);
	}
	if (cfgl_get_int(&l->cl, v, "baud", OPTIONAL, 9600, 921600, "baud", &m->baud) == 0) {
		int ok = 0;
		for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
			ok |= bauds[i] == m->baud;
		if (!ok) {
			size_t o = cfgl_path_push_key(&l->cl, "baud");
			cfgl_report(
			    &l->cl, 0, cfgl_member(v, "baud"), 0,
			    "%d is not a serial speed (9600, 19200, 38400, 57600, 115200, 230400, "
			    "460800 or 921600)",
			    m->baud);
			cfgl_path_pop(&l->cl, o);
		}
	}
	get_path(l, v, "pin_file", NULL, &m->pin_file);
	if (m->pin_file) {
		size_t o = cfgl_path_push_key(&l->cl, "pin_file");
		check_pin_file(l, cfgl_member(v, "pin_file"), m->pin_file);
		cfgl_path_pop(&l->cl, o);
	}
	cfgl_get_int(&l->cl, v, "ring_s", OPTIONAL, 5, 300, "seconds", &m->ring_s);
	cfgl_get_int(&l->cl, v, "check_s", OPTIONAL, 2, 3600, "seconds", &m->check_s);
	cfgl_get_int(&l->cl, v, "fault_s", OPTIONAL, 1, 3600, "seconds", &m->fault_s);
	cfgl_path_pop(&l->cl, old);
}

static void validate(struct loader *l, const cJSON *root)
{
	if (!cJSON_IsObject(root)) {
		cfgl_report(&l->cl, 0, root, 0, "expected an object at the top level, found %s",
		            cfgl_type_name(root));
		return;
	}
	cfgl_check_keys(&l->cl, root, top_keys);
	parse_site(l, root);
	parse_top(l, root);
	parse_modem(l, root);
	parse_lists(l, root);
	parse_rules(l, root);
	parse_neighbours(l, root);
	parse_web(l, root);
	check_secrets_mode(l, root);
}

static struct config *load(int partial, const char *text, size_t len, const char *name,
                           const char *dir, int mode, config_diag_fn diag, void *ctx, int *nerrors)
{
	struct loader l = {.cl = {.name = name ? name : "<string>", .mode = mode},
	                   .partial = partial};
	cJSON *root = NULL;
	char *adir = NULL;
	struct config *c = NULL;

	c = calloc(1, sizeof(*c));
	if (!c) {
		l.cl.oom = 1;
		goto out;
	}
	l.c = c;
	c->path = cfgl_sdup(&l.cl, l.cl.name);
	adir = cfgl_absolute_dir(dir ? dir : ".");
	if (!adir) {
		cfgl_report_pos(&l.cl, 0, 0, 0, "cannot resolve relative paths: %s",
		                strerror(errno));
		goto out;
	}
	c->dir = cfgl_sdup(&l.cl, adir);
	l.cl.dir = adir;
	if (cfgl_parse(&l.cl, text, len, CONFIG_MAX_SIZE, "a site config is a few kB", 1, &root) <
	    0)
		goto out;
	validate(&l, root);

out:
	cfgl_flush(&l.cl, diag, ctx);
	if (nerrors)
		*nerrors = l.cl.diags.nerrors;
	if (l.cl.diags.nerrors && !partial) {
		config_free(c);
		c = NULL;
	}
	for (size_t i = 0; i < l.nrules; i++)
		free(l.rules[i]);
	free(l.rules);
	cfgl_free(&l.cl);
	free(l.zone_refs);
	free(l.zone_names);
	free(adir);
	cJSON_Delete(root);
	return c;
}

static struct config *load_file(int partial, const char *file, config_diag_fn diag, void *ctx,
                                int *nerrors)
{
	struct config *c = NULL;
	char *buf = NULL, *dir = NULL, msg[512];
	size_t len = 0;
	int mode = -1, r;

	/* Stop one byte past the limit, for load() to say it is too large. */
	r = cfgl_read_file(file, CONFIG_MAX_SIZE, &buf, &len, &mode);
	if (r == 0) {
		dir = cfgl_file_dir(file);
		if (!dir)
			r = -ENOMEM;
	}
	if (r < 0) {
		snprintf(msg, sizeof(msg), "%s: cannot read: %s", file, strerror(-r));
		if (diag)
			diag(ctx, 0, msg);
		if (nerrors)
			*nerrors = 1;
		goto out;
	}
	c = load(partial, buf, len, file, dir, mode, diag, ctx, nerrors);
out:
	free(buf);
	free(dir);
	return c;
}

struct config *config_load_string(const char *text, const char *name, const char *dir,
                                  config_diag_fn diag, void *ctx, int *nerrors)
{
	return load(0, text, strlen(text), name, dir, -1, diag, ctx, nerrors);
}

struct config *config_load(const char *file, config_diag_fn diag, void *ctx, int *nerrors)
{
	return load_file(0, file, diag, ctx, nerrors);
}

struct config *config_load_partial(const char *file, config_diag_fn diag, void *ctx, int *nerrors)
{
	return load_file(1, file, diag, ctx, nerrors);
}

static void free_broker(struct config_broker *b)
{
	free(b->host);
	cfgl_addrs_free(b->hosts, b->nhosts);
	free(b->username);
	free(b->password);
	free(b->client_id);
	free(b->cafile);
	free(b->certfile);
	free(b->keyfile);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->dir);
	free(c->site.id);
	free(c->site.name);
	free(c->site.address);
	free(c->site.phone);
	free(c->site.timezone);
	for (int i = 0; i < c->nneighbours; i++)
		free(c->neighbours[i]);
	free(c->neighbours);
	free(c->database);
	free(c->criteria_file);
	for (int i = 0; i < c->ncriteria_notify; i++)
		free(c->criteria_notify[i]);
	free(c->criteria_notify);
	free(c->control_socket);
	free(c->control_group);
	free(c->log_level);
	free_broker(&c->mqtt);
	free_broker(&c->upstream);
	free(c->credentials);
	for (int i = 0; c->secrets && i < c->nsecrets; i++) {
		/* Wipe: a core dump or a reused heap block must not show them. */
		if (c->secrets[i].secret)
			explicit_bzero(c->secrets[i].secret, strlen(c->secrets[i].secret));
		free(c->secrets[i].name);
		free(c->secrets[i].username);
		free(c->secrets[i].secret);
	}
	free(c->secrets);
	free(c->upstream_prefix);
	free(c->hass_prefix);
	free(c->web.listen);
	free(c->web.cert);
	free(c->web.key);
	free(c->profiles_dir);
	free(c->modem.device);
	free(c->modem.pin_file);
	for (int i = 0; i < c->nbuses; i++) {
		free(c->buses[i].id);
		free(c->buses[i].host);
		free(c->buses[i].device);
	}
	free(c->buses);
	for (int i = 0; i < c->nzones; i++) {
		free(c->zones[i].id);
		free(c->zones[i].name);
		free(c->zones[i].kind);
		free(c->zones[i].camera.snapshot_url);
		free(c->zones[i].camera.username);
		free(c->zones[i].camera.password);
	}
	free(c->zones);
	for (int i = 0; i < c->nsensors; i++) {
		free(c->sensors[i].id);
		free(c->sensors[i].name);
		family_binding_free(&c->sensors[i].mqtt);
	}
	free(c->sensors);
	for (int i = 0; i < c->noutputs; i++) {
		free(c->outputs[i].id);
		family_binding_free(&c->outputs[i].mqtt);
	}
	free(c->outputs);
	for (int i = 0; i < c->ncontacts; i++) {
		struct config_contact *ct = &c->contacts[i];
		for (int k = 0; k < ct->nsteps; k++) {
			const struct channel_conf *cc = channel_conf_find(ct->steps[k].via);
			if (ct->steps[k].opts && cc && cc->free_opts)
				cc->free_opts(&ct->steps[k]);
			free(ct->steps[k].phone);
			free(ct->steps[k].url);
		}
		free(ct->steps);
		free(ct->id);
		free(ct->name);
	}
	free(c->contacts);
	for (int i = 0; i < c->nrule_files; i++)
		free(c->rule_files[i]);
	free(c->rule_files);
	free(c);
}

/* Lookups are linear: a house has tens of devices, and the daemon builds
 * its own maps for the hot paths. One walk over any element array, like
 * the loader's table of sections (id_off). */
static int index_by_id(const void *arr, int n, size_t size, size_t id_off, const char *id)
{
	for (int i = 0; arr && id && i < n; i++) {
		const char *const *eid =
		    (const void *)((const char *)arr + (size_t)i * size + id_off);
		/* An element whose id was refused has none, while the loader
		 * still looks things up to report every error in one pass. */
		if (*eid && strcmp(*eid, id) == 0)
			return i;
	}
	return -1;
}

#define CONFIG_INDEX(fn, type, arr, n)                                                             \
	int fn(const struct config *c, const char *id)                                             \
	{                                                                                          \
		return c ? index_by_id(c->arr, c->n, sizeof(type), offsetof(type, id), id) : -1;   \
	}

CONFIG_INDEX(config_zone_index, struct config_zone, zones, nzones)
CONFIG_INDEX(config_sensor_index, struct config_sensor, sensors, nsensors)
CONFIG_INDEX(config_output_index, struct config_output, outputs, noutputs)
CONFIG_INDEX(config_bus_index, struct config_bus, buses, nbuses)
CONFIG_INDEX(config_contact_index, struct config_contact, contacts, ncontacts)

/* One block: the struct, then the four arrays, each aligned for what it
 * holds (pointers and ints), so that callers free one pointer. */
struct rules_site *config_rules_site(const struct config *c)
{
	int ns = c ? c->nsensors : 0, nz = c ? c->nzones : 0, nc = c ? c->ncontacts : 0,
	    no = c ? c->noutputs : 0;
	struct rules_site_sensor *sensors;
	struct rules_site_zone *zones;
	struct rules_site_output *outputs;
	const char **contacts;
	struct rules_site *site;

	site =
	    calloc(1, sizeof(*site) + (size_t)ns * sizeof(*sensors) + (size_t)nz * sizeof(*zones) +
	                  (size_t)no * sizeof(*outputs) + (size_t)nc * sizeof(char *));
	if (!site)
		return NULL;
	sensors = (struct rules_site_sensor *)(site + 1);
	zones = (struct rules_site_zone *)(sensors + ns);
	outputs = (struct rules_site_output *)(zones + nz);
	contacts = (const char **)(outputs + no);
	for (int i = 0; i < ns; i++)
		sensors[i] = (struct rules_site_sensor){.id = c->sensors[i].id,
		                                        .label = c->sensors[i].name,
		                                        .kind = c->sensors[i].kind,
		                                        .zone = c->sensors[i].zone};
	for (int i = 0; i < nz; i++)
		zones[i] = (struct rules_site_zone){
		    .id = c->zones[i].id, .label = c->zones[i].name, .kind = c->zones[i].kind};
	for (int i = 0; i < nc; i++)
		contacts[i] = c->contacts[i].id;
	for (int i = 0; i < no; i++)
		outputs[i] =
		    (struct rules_site_output){.id = c->outputs[i].id,
		                               .kind = config_output_kind_name(c->outputs[i].kind),
		                               .zone = c->outputs[i].zone};
	*site = (struct rules_site){.sensors = sensors,
	                            .nsensors = ns,
	                            .zones = zones,
	                            .nzones = nz,
	                            .contacts = contacts,
	                            .ncontacts = nc,
	                            .outputs = outputs,
	                            .noutputs = no,
	                            .zone_kinds = zone_kinds,
	                            .output_kinds = output_kind_names,
	                            .neighbours = c ? (const char *const *)c->neighbours : NULL,
	                            .nneighbours = c ? c->nneighbours : 0};
	return site;
}

const char *config_output_kind_name(enum output_kind k)
{
	return (unsigned)k <= OUTPUT_VALVE ? output_kind_names[k] : "?";
}

const char *config_via_name(enum contact_via v)
{
	return (unsigned)v <= VIA_WEBHOOK ? via_names[v] : "?";
}

int config_has_via(const struct config *c, enum contact_via v)
{
	for (int i = 0; i < c->ncontacts; i++)
		for (int k = 0; k < c->contacts[i].nsteps; k++)
			if (c->contacts[i].steps[k].via == v)
				return 1;
	return 0;
}
