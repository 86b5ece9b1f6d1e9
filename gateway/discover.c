/*
 * discover.c: safehousectl discover and check-devices (discover.h).
 *
 * zigbee2mqtt keeps BASE/bridge/devices retained: a JSON array with, per
 * paired device, its friendly name, power source and definition.exposes.
 * The classification is sensors/z2m_discover.c's; this file fetches the
 * message, compares it with the config and writes.
 */
#include "discover.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <mosquitto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../sensors/z2m_discover.h"
#include "../sensors/z2m_siren.h"
#include "config.h"
#include "jsonpos.h"

/* A house of a hundred devices is about 1 MB of bridge/devices. */
#define DEVICES_MAX (16 * 1024 * 1024)
#define ID_MAX 63
/* The zone of a device whose name gives none and no --zone. */
#define ZONE_UNASSIGNED "unassigned"

/* ---- the broker ------------------------------------------------------------ */

struct fetch {
	const char *topic;
	char *buf;
	size_t len;
	int got, too_big, refused;
};

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct fetch *f = arg;
	if (rc != 0) {
		f->refused = rc;
		return;
	}
	mosquitto_subscribe(m, NULL, f->topic, 0);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	struct fetch *f = arg;
	(void)m;
	if (f->got || strcmp(msg->topic, f->topic) != 0)
		return;
	f->got = 1;
	if (msg->payloadlen > DEVICES_MAX) {
		f->too_big = msg->payloadlen;
		return;
	}
	f->buf = malloc((size_t)msg->payloadlen + 1);
	if (!f->buf)
		return;
	memcpy(f->buf, msg->payload, (size_t)msg->payloadlen);
	f->buf[msg->payloadlen] = 0;
	f->len = (size_t)msg->payloadlen;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The retained BASE/bridge/devices, parsed: a JSON array (the caller frees
 * it), or NULL with the reason printed. */
static cJSON *fetch_devices(const char *host, int port, const char *user, const char *pass,
                            const char *base, int timeout_ms)
{
	char topic[256];
	struct fetch f = {.topic = topic};
	struct mosquitto *m = NULL;
	cJSON *root = NULL;
	int64_t deadline;
	int rc;

	snprintf(topic, sizeof(topic), "%s/bridge/devices", base);
	mosquitto_lib_init();
	m = mosquitto_new(NULL, 1, &f);
	if (!m) {
		fprintf(stderr, "safehousectl: out of memory\n");
		goto out;
	}
	if (user)
		mosquitto_username_pw_set(m, user, pass);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_message_callback_set(m, on_message);
	rc = mosquitto_connect(m, host, port, 30);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "safehousectl: cannot reach the broker at %s:%d: %s\n", host, port,
		        rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		goto out;
	}
	deadline = now_ms() + timeout_ms;
	while (!f.got && !f.refused && now_ms() < deadline) {
		rc = mosquitto_loop(m, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
			fprintf(stderr, "safehousectl: the broker at %s:%d: %s\n", host, port,
			        rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
			goto out;
		}
	}
	if (f.refused) {
		fprintf(stderr, "safehousectl: the broker at %s:%d refused the connection: %s\n",
		        host, port, mosquitto_connack_string(f.refused));
		goto out;
	}
	if (!f.got) {
		fprintf(
		    stderr,
		    "safehousectl: no %s on %s:%d within %d s: is zigbee2mqtt running with this "
		    "base topic?\n",
		    topic, host, port, (timeout_ms + 999) / 1000);
		goto out;
	}
	if (f.too_big) {
		fprintf(stderr, "safehousectl: %s is %d bytes, more than the %d this tool reads\n",
		        topic, f.too_big, DEVICES_MAX);
		goto out;
	}
	if (!f.buf) {
		fprintf(stderr, "safehousectl: out of memory\n");
		goto out;
	}
	root = cJSON_ParseWithLength(f.buf, f.len);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		fprintf(stderr, "safehousectl: %s is not JSON (near byte %ld): %s\n", topic,
		        at && at >= f.buf && at <= f.buf + f.len ? (long)(at - f.buf) : 0L,
		        "is it zigbee2mqtt's device list?");
		goto out;
	}
	if (!cJSON_IsArray(root)) {
		fprintf(stderr, "safehousectl: %s is not a list of devices (a JSON %s)\n", topic,
		        cJSON_IsObject(root) ? "object" : "value");
		cJSON_Delete(root);
		root = NULL;
	}
out:
	if (m) {
		mosquitto_disconnect(m);
		mosquitto_destroy(m);
	}
	mosquitto_lib_cleanup();
	free(f.buf);
	return root;
}

/* ---- the config ------------------------------------------------------------ */

static void diag_print(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s%s\n", msg, severity ? " (warning)" : "");
}

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= 4 * 1024 * 1024 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = 0;
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Write text to path through a temporary file in its directory and a
 * rename, with mode (the config may hold secrets: 0600 stays 0600) and,
 * unless uid is (uid_t)-1, that owner: a config the daemon's user owns
 * must stay readable by it after root merged into it. */
static int write_atomic(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, rc = -1, owner = 0;
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0 || fchmod(fd, mode) < 0)
		goto out;
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0) {
		owner = 1;
		goto out;
	}
	if (!(f = fdopen(fd, "w")))
		goto out;
	fd = -1;
	if (fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0)
		goto out;
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) < 0)
		goto out;
	rc = 0;
out:
	if (owner)
		fprintf(stderr,
		        "safehousectl: %s: cannot keep its owner (%ld:%ld): run as root or as its "
		        "owner; nothing written\n",
		        path, (long)uid, (long)gid);
	else if (rc < 0)
		fprintf(stderr, "safehousectl: cannot write %s: %s\n", path, strerror(errno));
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* Host and port from --broker, else the config's mqtt, else the default. */
static int broker_of(const struct discover_opts *o, const struct config *cfg, char *host,
                     size_t hostlen, int *port)
{
	snprintf(host, hostlen, "127.0.0.1");
	*port = 1883;
	if (o->broker) {
		const char *colon = strrchr(o->broker, ':');
		char *end;
		long p;
		if (!colon) {
			snprintf(host, hostlen, "%s", o->broker);
			return 0;
		}
		p = strtol(colon + 1, &end, 10);
		if (colon == o->broker || *end || p < 1 || p > 65535 ||
		    (size_t)(colon - o->broker) >= hostlen) {
			fprintf(stderr, "safehousectl: --broker %s: expected HOST:PORT\n",
			        o->broker);
			return -1;
		}
		snprintf(host, hostlen, "%.*s", (int)(colon - o->broker), o->broker);
		*port = (int)p;
	} else if (cfg && cfg->mqtt.host) {
		snprintf(host, hostlen, "%s", cfg->mqtt.host);
		*port = cfg->mqtt.port ? cfg->mqtt.port : 1883;
	}
	return 0;
}

static const char *sget(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* The device of a friendly name, or NULL. */
static const cJSON *device_named(const cJSON *devices, const char *friendly)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, devices)
	{
		const char *n = sget(d, "friendly_name");
		if (n && strcmp(n, friendly) == 0)
			return d;
	}
	return NULL;
}

/* "TS0601 _TZE204_t1blo2bj (NEO NAS-AB02B2)": what the installer reads on
 * the box and in the zigbee2mqtt frontend. */
static void device_words(const cJSON *d, char *buf, size_t len)
{
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(d, "definition");
	const char *mid = sget(d, "model_id"), *man = sget(d, "manufacturer");
	const char *vendor = sget(def, "vendor"), *model = sget(def, "model");
	snprintf(buf, len, "%s%s%s%s%s%s%s%s", mid ? mid : "", mid && man ? " " : "",
	         man ? man : "", vendor || model ? (mid || man ? " (" : "") : "",
	         vendor ? vendor : "", vendor && model ? " " : "", model ? model : "",
	         (vendor || model) && (mid || man) ? ")" : "");
	if (!buf[0])
		snprintf(buf, len, "(unknown model)");
}

/* ---- ids and zones from friendly names ------------------------------------------ */

/* Vietnamese letters and the ASCII letter an id keeps of them, so that
 * "phòng-101/khói" becomes phong-101-khoi, not ph-ng-101-kh-i. */
static const struct {
	const char *letters; /* UTF-8 */
	char ascii;
} fold[] = {
    {"àáảãạăằắẳẵặâầấẩẫậ", 'a'},
    {"ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ", 'A'},
    {"èéẻẽẹêềếểễệ", 'e'},
    {"ÈÉẺẼẸÊỀẾỂỄỆ", 'E'},
    {"ìíỉĩị", 'i'},
    {"ÌÍỈĨỊ", 'I'},
    {"òóỏõọôồốổỗộơờớởỡợ", 'o'},
    {"ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ", 'O'},
    {"ùúủũụưừứửữự", 'u'},
    {"ÙÚỦŨỤƯỪỨỬỮỰ", 'U'},
    {"ỳýỷỹỵ", 'y'},
    {"ỲÝỶỸỴ", 'Y'},
    {"đ", 'd'},
    {"Đ", 'D'},
};

/* The ASCII letter of the UTF-8 letter at s (its length in *n), or 0. */
static char fold_letter(const char *s, size_t *n)
{
	for (size_t g = 0; g < sizeof(fold) / sizeof(fold[0]); g++) {
		const char *l = fold[g].letters;
		while (*l) {
			size_t len = 1;
			while ((l[len] & 0xC0) == 0x80)
				len++;
			if (strncmp(s, l, len) == 0) {
				*n = len;
				return fold[g].ascii;
			}
			l += len;
		}
	}
	return 0;
}

/* An id from s: letters (Vietnamese ones without their marks), digits,
 * '-' and '_' kept, anything else one '-'. */
static void make_id(const char *s, char *out, size_t outlen)
{
	size_t n = 0, len;
	char a;
	while (*s && n + 1 < outlen && n < ID_MAX) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '_' || c == '-') {
			out[n++] = (char)c;
			s++;
		} else if (c >= 0x80 && (a = fold_letter(s, &len))) {
			out[n++] = a;
			s += len;
		} else {
			if (n && out[n - 1] != '-')
				out[n++] = '-';
			s++;
		}
	}
	while (n && out[n - 1] == '-')
		n--;
	out[n] = 0;
}

/* The zone hinted by "ROOM/DEVICE": ROOM as an id, and ROOM itself in room
 * (its name, when it is not the id); "" when none. */
static void zone_hint(const char *friendly, char *out, size_t outlen, char *room, size_t roomlen)
{
	const char *slash = strchr(friendly, '/');
	out[0] = room[0] = 0;
	if (!slash || slash == friendly || (size_t)(slash - friendly) >= roomlen)
		return;
	snprintf(room, roomlen, "%.*s", (int)(slash - friendly), friendly);
	make_id(room, out, outlen);
}

struct idset {
	char **v;
	int n, cap;
};

static int idset_has(const struct idset *s, const char *id)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i], id) == 0)
			return 1;
	return 0;
}

static int idset_add(struct idset *s, const char *id)
{
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 32;
		char **nv = realloc(s->v, sizeof(*nv) * (size_t)cap);
		if (!nv)
			return -1;
		s->v = nv;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(id)))
		return -1;
	s->n++;
	return 0;
}

static void idset_free(struct idset *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* base id, else base-2, base-3...: unique among used. */
static void unique_id(const struct idset *used, const char *base, char *out, size_t len)
{
	snprintf(out, len, "%s", base);
	for (int k = 2; idset_has(used, out) && k < 1000; k++)
		snprintf(out, len, "%.*s-%d", ID_MAX - 5, base, k);
}

/* ---- proposals --------------------------------------------------------------- */

struct proposal {
	cJSON *sensors, *outputs, *new_zones; /* entries, as written */
	cJSON *zones_used;                    /* every zone id the entries name */
	cJSON *zone_names;                    /* new zone id -> the room as written */
	int known, unclassified, unzoned;
};

static int config_has_topic(const struct config *cfg, const char *topic)
{
	if (!cfg)
		return 0;
	for (int i = 0; i < cfg->nsensors; i++)
		if (cfg->sensors[i].mqtt.topic && strcmp(cfg->sensors[i].mqtt.topic, topic) == 0)
			return 1;
	for (int i = 0; i < cfg->noutputs; i++)
		if (cfg->outputs[i].mqtt.topic && strcmp(cfg->outputs[i].mqtt.topic, topic) == 0)
			return 1;
	return 0;
}

static void add_string_once(cJSON *arr, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (strcmp(it->valuestring, s) == 0)
			return;
	}
	cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

static const char *power_name(enum z2m_power p)
{
	return p == Z2M_POWER_BATTERY ? "battery" : p == Z2M_POWER_MAINS ? "mains" : NULL;
}

/* Classify every device, print what is proposed and why, fill p. */
static int propose(const cJSON *devices, const struct config *cfg, const struct discover_opts *o,
                   const char *base, struct proposal *p)
{
	struct idset used = {0};
	const cJSON *d;
	int idx = -1, rc = -1;

	p->sensors = cJSON_CreateArray();
	p->outputs = cJSON_CreateArray();
	p->new_zones = cJSON_CreateArray();
	p->zones_used = cJSON_CreateArray();
	p->zone_names = cJSON_CreateObject();
	if (!p->sensors || !p->outputs || !p->new_zones || !p->zones_used || !p->zone_names)
		goto out;
	for (int i = 0; cfg && i < cfg->nsensors; i++)
		idset_add(&used, cfg->sensors[i].id);
	for (int i = 0; cfg && i < cfg->noutputs; i++)
		idset_add(&used, cfg->outputs[i].id);
	cJSON_ArrayForEach(d, devices)
	{
		struct z2m_discover_class c;
		const char *friendly = sget(d, "friendly_name");
		char topic[300], idbase[ID_MAX + 1], id[ID_MAX + 1], zone[ID_MAX + 1], words[200];
		char room[128];
		cJSON *e, *mq;
		idx++;
		if (z2m_discover_classify(d, &c) < 0) {
			if (!cJSON_IsObject(d))
				printf("  entry %d of bridge/devices is not an object: skipped\n",
				       idx);
			continue;
		}
		device_words(d, words, sizeof(words));
		if (!friendly || !*friendly) {
			printf("  entry %d (%s) has no friendly_name: skipped\n", idx, words);
			continue;
		}
		if (snprintf(topic, sizeof(topic), "%s/%s%s", base, friendly,
		             c.what == Z2M_DISCOVER_SIREN ? "/set" : "") >= (int)sizeof(topic)) {
			printf("  entry %d (%s): its friendly name is too long for a topic: "
			       "skipped\n",
			       idx, words);
			continue;
		}
		if (config_has_topic(cfg, topic)) {
			p->known++;
			continue;
		}
		if (c.what == Z2M_DISCOVER_NONE) {
			if (!p->unclassified++)
				printf("not classified (declare them by hand if they belong to the "
				       "house):\n");
			printf("  %s: %s: %s\n", friendly, words, c.why);
			continue;
		}
		make_id(friendly, idbase, sizeof(idbase));
		if (!idbase[0])
			make_id(sget(d, "ieee_address") ? sget(d, "ieee_address") : "device",
			        idbase, sizeof(idbase));
		unique_id(&used, idbase, id, sizeof(id));
		idset_add(&used, id);
		zone_hint(friendly, zone, sizeof(zone), room, sizeof(room));
		if (zone[0] && strcmp(room, zone) != 0 &&
		    !cJSON_GetObjectItemCaseSensitive(p->zone_names, zone))
			cJSON_AddStringToObject(p->zone_names, zone, room);
		if (!zone[0] && o->zone)
			snprintf(zone, sizeof(zone), "%s", o->zone);
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "id", id);
		if (c.what == Z2M_DISCOVER_SENSOR) {
			if (!zone[0]) {
				snprintf(zone, sizeof(zone), ZONE_UNASSIGNED);
				p->unzoned++;
			}
			if (strcmp(friendly, id) != 0)
				cJSON_AddStringToObject(e, "name", friendly);
			cJSON_AddStringToObject(e, "kind", sh_kind_name(c.kind));
			cJSON_AddStringToObject(e, "zone", zone);
			if (power_name(c.power))
				cJSON_AddStringToObject(e, "power", power_name(c.power));
		} else {
			cJSON_AddStringToObject(e, "kind", "siren");
			if (zone[0])
				cJSON_AddStringToObject(e, "zone", zone);
		}
		mq = cJSON_AddObjectToObject(e, "mqtt");
		cJSON_AddStringToObject(mq, "topic", topic);
		cJSON_AddStringToObject(mq, "format", "zigbee2mqtt");
		if (c.what == Z2M_DISCOVER_SIREN)
			cJSON_AddStringToObject(mq, "siren", c.siren);
		if (zone[0]) {
			add_string_once(p->zones_used, zone);
			if (!cfg || config_zone_index(cfg, zone) < 0)
				add_string_once(p->new_zones, zone);
		}
		{
			char *text = cJSON_PrintUnformatted(e);
			printf("  %-7s %-22s %-8s zone %-14s %-8s %s: %s\n",
			       c.what == Z2M_DISCOVER_SENSOR ? "sensor" : "output", id,
			       c.what == Z2M_DISCOVER_SENSOR ? sh_kind_name(c.kind) : "siren",
			       zone[0] ? zone : "-",
			       power_name(c.power) ? power_name(c.power) : "-", words, c.why);
			printf("          %s\n", text ? text : "");
			free(text);
		}
		cJSON_AddItemToArray(c.what == Z2M_DISCOVER_SENSOR ? p->sensors : p->outputs, e);
	}
	rc = 0;
out:
	idset_free(&used);
	return rc;
}

static void proposal_free(struct proposal *p)
{
	cJSON_Delete(p->sensors);
	cJSON_Delete(p->outputs);
	cJSON_Delete(p->new_zones);
	cJSON_Delete(p->zones_used);
	cJSON_Delete(p->zone_names);
}

/* A new zone's entry: its id, and the room as written when that differs. */
static cJSON *zone_entry(const struct proposal *p, const char *id)
{
	cJSON *z = cJSON_CreateObject();
	const char *name =
	    p ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p->zone_names, id)) : NULL;
	cJSON_AddStringToObject(z, "id", id);
	if (name)
		cJSON_AddStringToObject(z, "name", name);
	return z;
}

/* Validate text as a config with the real loader (errors printed, named
 * as name). Returns 0 when it loads. */
static int validate(const char *text, const char *name, const char *dir)
{
	int nerr = 0;
	struct config *c = config_load_string(text, name, dir, diag_print, NULL, &nerr);
	if (!c)
		return -1;
	config_free(c);
	return 0;
}

/* ---- --merge: into the config's own text ---------------------------------------- */

static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n'))
		i++;
	return i;
}

/* i at an opening quote: the index after the closing one. */
static size_t skip_string(const char *t, size_t len, size_t i)
{
	for (i++; i < len && t[i] != '"'; i++)
		if (t[i] == '\\')
			i++;
	return i + 1;
}

/* i at '[' or '{': the index of its closing bracket. */
static size_t match_close(const char *t, size_t len, size_t i)
{
	int depth = 0;
	for (; i < len; i++) {
		if (t[i] == '"') {
			i = skip_string(t, len, i) - 1;
		} else if (t[i] == '[' || t[i] == '{') {
			depth++;
		} else if (t[i] == ']' || t[i] == '}') {
			if (--depth == 0)
				return i;
		}
	}
	return len;
}

/* In the text of a valid config: where the top-level key's value starts
 * and ends (*vs, *ve: its first and last character; 0 when the key is
 * absent) and where the top-level object closes (*objend). */
static int top_level(const char *t, size_t len, const char *key, size_t *vs, size_t *ve,
                     size_t *objend)
{
	size_t i = 0, klen = strlen(key);
	*vs = *ve = 0;
	if (len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	i = skip_ws(t, len, i);
	if (i >= len || t[i] != '{')
		return -1;
	i++;
	for (;;) {
		size_t ks, ke, s;
		i = skip_ws(t, len, i);
		if (i >= len)
			return -1;
		if (t[i] == '}') {
			*objend = i;
			return 0;
		}
		if (t[i] != '"')
			return -1;
		ks = i + 1;
		i = skip_string(t, len, i);
		ke = i - 1;
		i = skip_ws(t, len, i);
		if (i >= len || t[i] != ':')
			return -1;
		i = skip_ws(t, len, i + 1);
		s = i;
		if (i < len && (t[i] == '[' || t[i] == '{'))
			i = match_close(t, len, i) + 1;
		else if (i < len && t[i] == '"')
			i = skip_string(t, len, i);
		else
			while (i < len && t[i] != ',' && t[i] != '}' &&
			       !isspace((unsigned char)t[i]))
				i++;
		if (i > len)
			return -1;
		if (ke - ks == klen && memcmp(t + ks, key, klen) == 0) {
			*vs = s;
			*ve = i - 1;
		}
		i = skip_ws(t, len, i);
		if (i < len && t[i] == ',')
			i++;
	}
}

struct insert {
	size_t at;
	char *text;
};

static int insert_cmp(const void *a, const void *b)
{
	const struct insert *x = a, *y = b;
	return x->at < y->at ? 1 : x->at > y->at ? -1 : 0;
}

/* The entries of arr, one a line, each preceded by sep and an indent. */
static char *entries_text(const cJSON *arr, int first_comma)
{
	char *out = NULL;
	size_t n = 0;
	const cJSON *it;
	int k = 0;
	FILE *f = open_memstream(&out, &n);
	if (!f)
		return NULL;
	cJSON_ArrayForEach(it, arr)
	{
		char *t = cJSON_PrintUnformatted(it);
		fprintf(f, "%s\n    %s", k || first_comma ? "," : "", t ? t : "{}");
		free(t);
		k++;
	}
	fclose(f);
	return out;
}

/* The text of cfg_text with the arrays' entries added; NULL on failure. */
static char *merged_text(const char *t, size_t len, const struct proposal *p)
{
	struct insert ins[3];
	const char *keys[3] = {"zones", "sensors", "outputs"};
	const cJSON *arrs[3];
	cJSON *zones = cJSON_CreateArray();
	const cJSON *it;
	int nins = 0;
	char *out = NULL;
	size_t olen = len;

	cJSON_ArrayForEach(it, p->new_zones)
	{
		cJSON_AddItemToArray(zones, zone_entry(p, it->valuestring));
	}
	arrs[0] = zones;
	arrs[1] = p->sensors;
	arrs[2] = p->outputs;
	for (int k = 0; k < 3; k++) {
		size_t vs, ve, objend, j;
		char *body;
		if (!cJSON_GetArraySize(arrs[k]))
			continue;
		if (top_level(t, len, keys[k], &vs, &ve, &objend) < 0)
			goto out;
		if (vs && t[vs] != '[')
			goto out;
		if (vs) {
			for (j = ve; j > vs && isspace((unsigned char)t[j - 1]); j--)
				;
			/* j: after the last character before ']' */
			body = entries_text(arrs[k], j - 1 != vs);
			if (body && j - 1 == vs) {
				char *b2 = NULL;
				if (asprintf(&b2, "%s\n  ", body) < 0)
					b2 = NULL;
				free(body);
				body = b2;
			}
			ins[nins].at = j;
		} else {
			char *inner = entries_text(arrs[k], 0);
			for (j = objend; j > 0 && isspace((unsigned char)t[j - 1]); j--)
				;
			body = NULL;
			if (inner && asprintf(&body, ",\n  \"%s\": [%s\n  ]", keys[k], inner) < 0)
				body = NULL;
			free(inner);
			ins[nins].at = j;
		}
		if (!body)
			goto out;
		ins[nins++].text = body;
	}
	qsort(ins, (size_t)nins, sizeof(ins[0]), insert_cmp);
	for (int k = 0; k < nins; k++)
		olen += strlen(ins[k].text);
	out = malloc(olen + 1);
	if (!out)
		goto out;
	{
		/* Apply from the start: ins is sorted by descending position. */
		size_t from = 0, o = 0;
		for (int k = nins - 1; k >= 0; k--) {
			memcpy(out + o, t + from, ins[k].at - from);
			o += ins[k].at - from;
			from = ins[k].at;
			memcpy(out + o, ins[k].text, strlen(ins[k].text));
			o += strlen(ins[k].text);
		}
		memcpy(out + o, t + from, len - from);
		o += len - from;
		out[o] = 0;
	}
out:
	for (int k = 0; k < nins; k++)
		free(ins[k].text);
	cJSON_Delete(zones);
	return out;
}

static int write_merged(const struct discover_opts *o, const struct proposal *p)
{
	/* A config reached through a symbolic link is written where it is. */
	char *real = o->output ? NULL : realpath(o->config, NULL);
	const char *dest = o->output ? o->output : real ? real : o->config;
	char *text = NULL, *merged = NULL, *tmp = NULL, *dir = NULL;
	struct stat st;
	size_t len;
	int rc = 1;

	if (!cJSON_GetArraySize(p->sensors) && !cJSON_GetArraySize(p->outputs)) {
		printf("nothing to merge: %s unchanged\n", dest);
		free(real);
		return 0;
	}
	text = read_text(o->config, &len);
	if (!text || stat(o->config, &st) < 0) {
		fprintf(stderr, "safehousectl: cannot read %s: %s\n", o->config, strerror(errno));
		goto out;
	}
	merged = merged_text(text, len, p);
	if (!merged) {
		fprintf(stderr, "safehousectl: %s: cannot find where to add the entries\n",
		        o->config);
		goto out;
	}
	tmp = strdup(o->config);
	if (!tmp || !(dir = strdup(dirname(tmp))))
		goto out;
	if (validate(merged, dest, dir) < 0) {
		fprintf(stderr,
		        "safehousectl: %s not written: the merged config would not be valid "
		        "(above)\n",
		        dest);
		goto out;
	}
	if (write_atomic(dest, merged, st.st_mode & 07777, o->output ? (uid_t)-1 : st.st_uid,
	                 o->output ? (gid_t)-1 : st.st_gid) < 0)
		goto out;
	printf("merged into %s: %d sensor(s), %d output(s), %d new zone(s); the entries that "
	       "were there are unchanged\n",
	       dest, cJSON_GetArraySize(p->sensors), cJSON_GetArraySize(p->outputs),
	       cJSON_GetArraySize(p->new_zones));
	rc = 0;
out:
	free(text);
	free(merged);
	free(tmp);
	free(dir);
	free(real);
	return rc;
}

/* -o without --merge: the new zones, sensors and outputs as a fragment
 * ({"zones", "sensors", "outputs"}) to paste into the house's config. It
 * is checked before it is written: merged into -c CONFIG when given,
 * else under a placeholder site. */
static int write_fragment(const struct discover_opts *o, const struct proposal *p)
{
	cJSON *root = cJSON_CreateObject(), *zones, *check = NULL;
	const cJSON *it;
	char *text = NULL, *ctext = NULL, *tmp = NULL, *dir = NULL, *merged = NULL;
	size_t clen;
	int rc = 1, bad;

	zones = cJSON_AddArrayToObject(root, "zones");
	cJSON_ArrayForEach(it, p->new_zones)
	{
		cJSON_AddItemToArray(zones, zone_entry(p, it->valuestring));
	}
	cJSON_AddItemReferenceToObject(root, "sensors", p->sensors);
	cJSON_AddItemReferenceToObject(root, "outputs", p->outputs);
	text = cJSON_Print(root);
	tmp = strdup(o->config ? o->config : o->output);
	if (!text || !tmp || !(dir = strdup(dirname(tmp))))
		goto out;
	if (o->config) {
		ctext = read_text(o->config, &clen);
		merged = ctext ? merged_text(ctext, clen, p) : NULL;
		bad = !merged || validate(merged, o->config, dir) < 0;
	} else {
		char *wtext;
		check = cJSON_Duplicate(root, 1);
		cJSON_AddItemToObject(check, "site",
		                      cJSON_CreateRaw("{\"id\": \"discover-check\"}"));
		if (!cJSON_GetArraySize(zones))
			cJSON_AddItemToArray(cJSON_GetObjectItem(check, "zones"),
			                     zone_entry(NULL, ZONE_UNASSIGNED));
		wtext = cJSON_Print(check);
		bad = !wtext || validate(wtext, o->output, dir) < 0;
		free(wtext);
	}
	if (bad) {
		fprintf(stderr,
		        "safehousectl: %s not written: its entries would not make a valid config "
		        "(above)\n",
		        o->output);
		goto out;
	}
	{
		size_t n = strlen(text);
		char *t2 = realloc(text, n + 2);
		if (!t2)
			goto out;
		text = t2;
		memcpy(text + n, "\n", 2);
	}
	if (write_atomic(o->output, text, 0644, (uid_t)-1, (gid_t)-1) < 0)
		goto out;
	printf("written to %s: %d sensor(s), %d output(s), %d zone(s) to add to the config\n",
	       o->output, cJSON_GetArraySize(p->sensors), cJSON_GetArraySize(p->outputs),
	       cJSON_GetArraySize(zones));
	rc = 0;
out:
	cJSON_Delete(root);
	cJSON_Delete(check);
	free(text);
	free(ctext);
	free(merged);
	free(tmp);
	free(dir);
	return rc;
}

/* ---- the commands ------------------------------------------------------------ */

static struct config *load_config(const char *path)
{
	int nerr = 0;
	struct config *c = config_load(path, diag_print, NULL, &nerr);
	if (!c)
		fprintf(stderr, "safehousectl: %s has %d error(s) (above): fix them first\n", path,
		        nerr);
	return c;
}

int discover_run(const struct discover_opts *o)
{
	const char *base = o->base ? o->base : "zigbee2mqtt";
	struct config *cfg = NULL;
	struct proposal p = {0};
	cJSON *devices = NULL;
	char host[256];
	int port, rc = 2;

	if (o->merge && !o->config) {
		fprintf(stderr, "safehousectl: discover --merge needs -c CONFIG\n");
		return 2;
	}
	if (o->config && !(cfg = load_config(o->config)))
		goto out;
	if (broker_of(o, cfg, host, sizeof(host), &port) < 0)
		goto out;
	devices = fetch_devices(host, port, !o->broker && cfg ? cfg->mqtt.username : NULL,
	                        !o->broker && cfg ? cfg->mqtt.password : NULL, base, o->timeout_ms);
	if (!devices)
		goto out;
	printf("%s/bridge/devices on %s:%d: %d device(s)\n", base, host, port,
	       cJSON_GetArraySize(devices));
	if (propose(devices, cfg, o, base, &p) < 0) {
		fprintf(stderr, "safehousectl: out of memory\n");
		goto out;
	}
	printf("%d new sensor(s), %d new output(s), %d not classified%s",
	       cJSON_GetArraySize(p.sensors), cJSON_GetArraySize(p.outputs), p.unclassified,
	       cfg ? "" : "\n");
	if (cfg)
		printf(", %d already in %s\n", p.known, o->config);
	if (cJSON_GetArraySize(p.new_zones)) {
		const cJSON *z;
		printf("zones to create:");
		cJSON_ArrayForEach(z, p.new_zones)
		{
			printf(" %s", z->valuestring);
		}
		printf("\n");
	}
	if (p.unzoned)
		printf("%d sensor(s) have no room in their name (ROOM/NAME) and no --zone: they go "
		       "to zone \"%s\"; move them to their room before the walk test\n",
		       p.unzoned, ZONE_UNASSIGNED);
	rc = 0;
	if (o->merge)
		rc = write_merged(o, &p);
	else if (o->output)
		rc = write_fragment(o, &p);
out:
	proposal_free(&p);
	cJSON_Delete(devices);
	config_free(cfg);
	return rc;
}

/* A warning at node's position in the config text. */
static void warn_at(const char *file, const struct jsonpos *jp, const cJSON *node, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void warn_at(const char *file, const struct jsonpos *jp, const cJSON *node, const char *path,
                    const char *fmt, ...)
{
	const struct jsonpos_node *pos = node ? jsonpos_find(jp, node) : NULL;
	va_list ap;
	if (pos)
		printf("%s:%d:%d: %s: ", file, pos->line, pos->col, path);
	else
		printf("%s: %s: ", file, path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (warning)\n");
}

/* A settable "state" at the top level or in a switch's or light's
 * features: what a relay or valve output is sent. */
static int switchable(const cJSON *exposes)
{
	const cJSON *e, *f;
	if ((e = z2m_expose_find(exposes, "state")) && z2m_expose_settable(e))
		return 1;
	cJSON_ArrayForEach(e, exposes)
	{
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(e, "features"))
		{
			const char *p = sget(f, "property");
			if (p && strcmp(p, "state") == 0 && z2m_expose_settable(f))
				return 1;
		}
	}
	return 0;
}

/* The device a configured topic names (BASE/NAME, or BASE/NAME/set for an
 * output), or NULL with *friendly set to the name looked for ("" when the
 * topic is not under BASE). */
static const cJSON *configured_device(const cJSON *devices, const char *base, const char *topic,
                                      int output, char *friendly, size_t len)
{
	size_t bl = strlen(base), tl;
	friendly[0] = 0;
	if (!topic || strncmp(topic, base, bl) != 0 || topic[bl] != '/')
		return NULL;
	snprintf(friendly, len, "%s", topic + bl + 1);
	tl = strlen(friendly);
	if (output && tl > 4 && strcmp(friendly + tl - 4, "/set") == 0)
		friendly[tl - 4] = 0;
	return device_named(devices, friendly);
}

int discover_check_devices(const struct discover_opts *o)
{
	const char *base = o->base ? o->base : "zigbee2mqtt";
	struct config *cfg = NULL;
	struct jsonpos jp = {0};
	cJSON *devices = NULL, *root = NULL;
	const cJSON *it;
	char host[256], *text = NULL;
	size_t len;
	int port, rc = 2, warnings = 0, checked = 0, idx;

	if (!o->config) {
		fprintf(stderr, "safehousectl: check-devices needs -c CONFIG\n");
		return 2;
	}
	if (!(cfg = load_config(o->config)))
		goto out;
	text = read_text(o->config, &len);
	root = text ? cJSON_ParseWithLength(text, len) : NULL;
	if (!root) {
		fprintf(stderr, "safehousectl: cannot read %s again\n", o->config);
		goto out;
	}
	jsonpos_index(&jp, text, root);
	if (broker_of(o, cfg, host, sizeof(host), &port) < 0)
		goto out;
	devices = fetch_devices(host, port, o->broker ? NULL : cfg->mqtt.username,
	                        o->broker ? NULL : cfg->mqtt.password, base, o->timeout_ms);
	if (!devices)
		goto out;

	idx = -1;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "sensors"))
	{
		int si = config_sensor_index(cfg, sget(it, "id") ? sget(it, "id") : "");
		const struct config_sensor *s;
		const cJSON *dev, *exposes;
		char friendly[256], words[200], why[160], path[64];
		idx++;
		if (si < 0)
			continue;
		s = &cfg->sensors[si];
		if (!s->mqtt.format || strcmp(s->mqtt.format, "zigbee2mqtt") != 0)
			continue;
		checked++;
		dev =
		    configured_device(devices, base, s->mqtt.topic, 0, friendly, sizeof(friendly));
		snprintf(path, sizeof(path), "sensors[%d]", idx);
		if (!dev) {
			snprintf(path, sizeof(path), "sensors[%d].mqtt.topic", idx);
			warn_at(o->config, &jp,
			        cJSON_GetObjectItemCaseSensitive(
			            cJSON_GetObjectItemCaseSensitive(it, "mqtt"), "topic"),
			        path,
			        "%s: no device \"%s\" is paired in zigbee2mqtt (%s/bridge/devices)",
			        s->id, friendly, base);
			warnings++;
			continue;
		}
		device_words(dev, words, sizeof(words));
		exposes = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(dev, "definition"), "exposes");
		if (z2m_discover_kind_ok(exposes, s->kind, why, sizeof(why)) < 0) {
			struct z2m_discover_class c;
			char hint[80] = "";
			if (z2m_discover_classify(dev, &c) == 0 && c.what == Z2M_DISCOVER_SENSOR)
				snprintf(hint, sizeof(hint), "; its exposes make it %s",
				         sh_kind_name(c.kind));
			else if (z2m_discover_classify(dev, &c) == 0 &&
			         c.what == Z2M_DISCOVER_SIREN)
				snprintf(hint, sizeof(hint), "; it is a siren (an output)");
			snprintf(path, sizeof(path), "sensors[%d].kind", idx);
			warn_at(o->config, &jp, cJSON_GetObjectItemCaseSensitive(it, "kind"), path,
			        "%s: device %s %s, which a %s sensor reads%s", s->id, words, why,
			        sh_kind_name(s->kind), hint);
			warnings++;
		}
	}
	idx = -1;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "outputs"))
	{
		int oi = config_output_index(cfg, sget(it, "id") ? sget(it, "id") : "");
		const struct config_output *out;
		const cJSON *dev, *exposes, *mq, *form_node;
		const char *form, *accepts;
		char friendly[256], words[200], path[64];
		idx++;
		if (oi < 0)
			continue;
		out = &cfg->outputs[oi];
		if (!out->mqtt.format || strcmp(out->mqtt.format, "zigbee2mqtt") != 0)
			continue;
		checked++;
		mq = cJSON_GetObjectItemCaseSensitive(it, "mqtt");
		dev = configured_device(devices, base, out->mqtt.topic, 1, friendly,
		                        sizeof(friendly));
		if (!dev) {
			snprintf(path, sizeof(path), "outputs[%d].mqtt.topic", idx);
			warn_at(o->config, &jp, cJSON_GetObjectItemCaseSensitive(mq, "topic"), path,
			        "%s: no device \"%s\" is paired in zigbee2mqtt (%s/bridge/devices)",
			        out->id, friendly, base);
			warnings++;
			continue;
		}
		device_words(dev, words, sizeof(words));
		exposes = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(dev, "definition"), "exposes");
		if (out->kind != OUTPUT_SIREN && out->kind != OUTPUT_STROBE) {
			/* A relay or valve is sent {"state": "ON"/"OFF"}. */
			if (switchable(exposes))
				continue;
			snprintf(path, sizeof(path), "outputs[%d].kind", idx);
			warn_at(o->config, &jp, cJSON_GetObjectItemCaseSensitive(it, "kind"), path,
			        "%s: device %s exposes no switchable \"state\", which a %s is sent",
			        out->id, words, config_output_kind_name(out->kind));
			warnings++;
			continue;
		}
		form_node = cJSON_GetObjectItemCaseSensitive(mq, "siren");
		form = cJSON_IsString(form_node) ? form_node->valuestring : "warning";
		accepts = z2m_siren_form_of(exposes);
		if (accepts && strcmp(accepts, form) == 0)
			continue;
		snprintf(path, sizeof(path),
		         form_node ? "outputs[%d].mqtt.siren" : "outputs[%d].mqtt", idx);
		if (accepts)
			warn_at(o->config, &jp, form_node ? form_node : mq, path,
			        "%s: device %s accepts %s (\"siren\": \"%s\"), not %s%s", out->id,
			        words, z2m_siren_form_looks(accepts), accepts, form,
			        form_node ? "" : " (the default)");
		else
			warn_at(o->config, &jp, form_node ? form_node : mq, path,
			        "%s: device %s accepts none of this version's siren forms, not %s",
			        out->id, words, form);
		warnings++;
	}
	printf("%d zigbee2mqtt sensor(s) and output(s) of %s checked against %d paired device(s) "
	       "on %s:%d: %d warning(s)\n",
	       checked, o->config, cJSON_GetArraySize(devices), host, port, warnings);
	rc = warnings ? 1 : 0;
out:
	jsonpos_free(&jp);
	cJSON_Delete(root);
	cJSON_Delete(devices);
	free(text);
	config_free(cfg);
	return rc;
}
