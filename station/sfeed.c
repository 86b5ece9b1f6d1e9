/*
 * sfeed.c: parse and check the upstream messages of a gateway.
 */
#include "station/sfeed.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *const sfeed_kind_names[SFEED__COUNT] = {"alarm",  "alert",     "notify",
                                                    "status", "heartbeat", "bridge"};

static const char *const classes[] = {"fire",         "gas",         "panic", "intrusion", "tamper",
                                      "lost_contact", "supervisory", "fault", NULL};
static const char *const states[] = {"raised",  "acknowledged", "silenced",
                                     "cleared", "reset",        NULL};

/* The largest payload a gateway sends is a status with its alarm list; a
 * bigger one is not from a gateway. */
#define PAYLOAD_MAX (256 * 1024)

static int in_list(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return i;
	return -1;
}

int sfeed_class_rank(const char *cls)
{
	int i = in_list(classes, cls);
	return i < 0 ? 99 : i;
}

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Site ids as the gateway allows them, so that a topic level can never
 * smuggle a wildcard or an empty level into a reply topic. */
static int site_ok(const char *s, size_t n)
{
	if (n == 0 || n >= SSTORE_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

int sfeed_topic(const char *prefix, const char *topic, char site[SSTORE_ID_MAX],
                enum sfeed_kind *kind, char *why, size_t whylen)
{
	size_t pl = strlen(prefix);
	const char *s, *slash;
	if (strncmp(topic, prefix, pl) != 0 || topic[pl] != '/')
		return fail(why, whylen, "not under the prefix \"%s\"", prefix);
	s = topic + pl + 1;
	slash = strchr(s, '/');
	if (!slash || !site_ok(s, (size_t)(slash - s)))
		return fail(why, whylen, "the site level is not a site id");
	for (int k = 0; k < SFEED__COUNT; k++) {
		if (strcmp(slash + 1, sfeed_kind_names[k]) == 0) {
			memcpy(site, s, (size_t)(slash - s));
			site[slash - s] = '\0';
			*kind = (enum sfeed_kind)k;
			return 0;
		}
	}
	return fail(why, whylen, "not a topic the station reads");
}

static int two(const char *p)
{
	return isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])
	           ? (p[0] - '0') * 10 + (p[1] - '0')
	           : -1;
}

int sfeed_parse_time(const char *s, int64_t *ms)
{
	struct tm tm;
	int y, mo, d, h, mi, se, frac = 0, digits = 0;
	int64_t t, off = 0;
	const char *p;
	if (!s || strlen(s) < 20)
		return -1;
	for (int i = 0; i < 4; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	mo = two(s + 5);
	d = two(s + 8);
	h = two(s + 11);
	mi = two(s + 14);
	se = two(s + 17);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (digits < 3) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		if (digits == 0)
			return -1;
		while (digits < 3) {
			frac *= 10;
			digits++;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && two(p + 1) >= 0 && p[3] == ':' && two(p + 4) >= 0) {
		int oh = two(p + 1), om = two(p + 4);
		if (oh > 23 || om > 59)
			return -1;
		off = (int64_t)(oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = (int64_t)timegm(&tm);
	*ms = (t - off) * 1000 + frac;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 (overlong forms,
 * surrogates and code points past U+10FFFF are invalid). */
static int utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef)
		return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
		               !(s[0] == 0xe0 && s[1] < 0xa0) && !(s[0] == 0xed && s[1] > 0x9f)
		           ? 3
		           : 0;
	if (s[0] >= 0xf0 && s[0] <= 0xf4)
		return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 &&
		               !(s[0] == 0xf0 && s[1] < 0x90) && !(s[0] == 0xf4 && s[1] > 0x8f)
		           ? 4
		           : 0;
	return 0;
}

/* A gateway's text into a fixed field: always valid UTF-8 (the console's
 * JSON and PostgreSQL need it), so never cut inside a character, and a
 * byte that is not UTF-8 becomes U+FFFD. */
static void copy(char *dst, size_t size, const char *src)
{
	const unsigned char *p = (const unsigned char *)(src ? src : "");
	size_t n = 0;
	int k;

	while (*p) {
		k = utf8_len(p);
		if (n + (size_t)(k ? k : 3) >= size)
			break;
		if (k) {
			memcpy(dst + n, p, (size_t)k);
			p += k;
			n += (size_t)k;
		} else {
			memcpy(dst + n, "\xef\xbf\xbd", 3);
			p++;
			n += 3;
		}
	}
	dst[n] = '\0';
}

/* A string field: absent or null gives "", anything else but a string is
 * an error. */
static int get_str(const cJSON *o, const char *key, char *dst, size_t size, char *why,
                   size_t whylen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	dst[0] = '\0';
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return fail(why, whylen, "%s: must be a string", key);
	copy(dst, size, v->valuestring);
	return 0;
}

/* A whole number in [min, max]; absent: *out = dflt (required: error). */
static int get_int(const cJSON *o, const char *key, int required, int64_t min, int64_t max,
                   int64_t dflt, int64_t *out, char *why, size_t whylen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = dflt;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return fail(why, whylen, "%s: missing", key);
		return 0;
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < (double)min ||
	    v->valuedouble > (double)max || v->valuedouble != floor(v->valuedouble))
		return fail(why, whylen, "%s: must be a whole number from %lld to %lld", key,
		            (long long)min, (long long)max);
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int get_geo(const cJSON *o, struct sfeed_msg *m, char *why, size_t whylen)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "geo"), *la, *lo;
	if (!g || cJSON_IsNull(g))
		return 0;
	la = cJSON_GetObjectItemCaseSensitive(g, "lat");
	lo = cJSON_GetObjectItemCaseSensitive(g, "lon");
	if (!cJSON_IsObject(g) || !cJSON_IsNumber(la) || !cJSON_IsNumber(lo) ||
	    !(la->valuedouble >= -90 && la->valuedouble <= 90) ||
	    !(lo->valuedouble >= -180 && lo->valuedouble <= 180))
		return fail(why, whylen,
		            "geo: must be {\"lat\": -90..90, \"lon\": -180..180} or null");
	m->has_geo = 1;
	m->lat = la->valuedouble;
	m->lon = lo->valuedouble;
	return 0;
}

static int get_at(const cJSON *o, int required, int64_t *ms, char *why, size_t whylen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "at");
	*ms = 0;
	if (!v && !required)
		return 0;
	if (!cJSON_IsString(v) || sfeed_parse_time(v->valuestring, ms) < 0)
		return fail(why, whylen, "at: must be an RFC 3339 time (2026-11-29T00:16:12.828Z)");
	return 0;
}

/* A count, or a list whose length is the count (status.disablements). */
static int get_count(const cJSON *o, const char *key, int *out, char *why, size_t whylen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	int64_t n;
	*out = -1;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsArray(v)) {
		*out = cJSON_GetArraySize(v);
		return 0;
	}
	if (get_int(o, key, 0, 0, 1000000, -1, &n, why, whylen) < 0)
		return -1;
	*out = (int)n;
	return 0;
}

static int parse_alarm(const cJSON *o, struct sfeed_msg *m, char *why, size_t whylen)
{
	struct salarm *a = &m->alarm;
	int64_t id;
	if (get_int(o, "id", 1, 1, INT64_C(1) << 52, 0, &id, why, whylen) < 0 ||
	    get_str(o, "class", a->cls, sizeof(a->cls), why, whylen) < 0 ||
	    get_str(o, "state", a->state, sizeof(a->state), why, whylen) < 0)
		return -1;
	a->id = id;
	if (in_list(classes, a->cls) < 0 || strcmp(a->cls, "lost_contact") == 0)
		return fail(why, whylen, "class: \"%s\" is not an alarm class", a->cls);
	if (in_list(states, a->state) < 0)
		return fail(why, whylen, "state: \"%s\" is not an alarm state", a->state);
	if (get_str(o, "zone", a->zone, sizeof(a->zone), why, whylen) < 0 ||
	    get_str(o, "zone_name", a->zone_name, sizeof(a->zone_name), why, whylen) < 0 ||
	    get_str(o, "sensor", a->sensor, sizeof(a->sensor), why, whylen) < 0 ||
	    get_str(o, "rule", a->rule, sizeof(a->rule), why, whylen) < 0 ||
	    get_str(o, "message", a->message, sizeof(a->message), why, whylen) < 0 ||
	    get_str(o, "by", m->by, sizeof(m->by), why, whylen) < 0)
		return -1;
	a->seq = m->seq;
	a->updated_ms = m->at_ms;
	return 0;
}

static int parse_alert(const cJSON *o, struct sfeed_msg *m, char *why, size_t whylen)
{
	int64_t alarm;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "alarm");
	if (v && !cJSON_IsNull(v)) {
		if (get_int(o, "alarm", 1, 1, INT64_C(1) << 52, 0, &alarm, why, whylen) < 0)
			return -1;
		m->alarm.id = alarm;
	}
	if (get_str(o, "to", m->to, sizeof(m->to), why, whylen) < 0 ||
	    get_str(o, "priority", m->priority, sizeof(m->priority), why, whylen) < 0 ||
	    get_str(o, "message", m->text, sizeof(m->text), why, whylen) < 0 ||
	    get_str(o, "class", m->alarm.cls, sizeof(m->alarm.cls), why, whylen) < 0 ||
	    get_str(o, "zone", m->alarm.zone, sizeof(m->alarm.zone), why, whylen) < 0 ||
	    get_str(o, "zone_name", m->alarm.zone_name, sizeof(m->alarm.zone_name), why, whylen) <
	        0)
		return -1;
	return 0;
}

static int parse_status(const cJSON *o, struct sfeed_msg *m, char *why, size_t whylen)
{
	const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "online");
	if (!cJSON_IsBool(on))
		return fail(why, whylen, "online: must be true or false");
	m->online = cJSON_IsTrue(on);
	if (get_str(o, "mode", m->mode, sizeof(m->mode), why, whylen) < 0 ||
	    get_count(o, "active_alarms", &m->active_alarms, why, whylen) < 0 ||
	    get_count(o, "faults", &m->faults, why, whylen) < 0 ||
	    get_count(o, "disablements", &m->disablements, why, whylen) < 0)
		return -1;
	return 0;
}

static int parse_heartbeat(const cJSON *o, struct sfeed_msg *m, char *why, size_t whylen)
{
	int64_t hb, row;
	const cJSON *lg = cJSON_GetObjectItemCaseSensitive(o, "log");
	if (get_int(o, "heartbeat_s", 0, 1, 86400, 0, &hb, why, whylen) < 0 ||
	    get_count(o, "active_alarms", &m->active_alarms, why, whylen) < 0 ||
	    get_count(o, "faults", &m->faults, why, whylen) < 0)
		return -1;
	m->heartbeat_s = (int)hb;
	m->log_row = -1;
	if (lg && !cJSON_IsNull(lg)) {
		if (!cJSON_IsObject(lg) ||
		    get_int(lg, "row", 1, 0, INT64_C(1) << 52, 0, &row, why, whylen) < 0 ||
		    get_str(lg, "hash", m->log_hash, sizeof(m->log_hash), why, whylen) < 0)
			return fail(why, whylen, "log: must be {\"row\": N, \"hash\": \"64 hex\"}");
		m->log_row = row;
	}
	return 0;
}

int sfeed_parse(enum sfeed_kind kind, const char *site, const char *payload, size_t len,
                struct sfeed_msg *m, char *why, size_t whylen)
{
	cJSON *o = NULL;
	const cJSON *s;
	int rc = -1, seqd = kind == SFEED_ALARM || kind == SFEED_ALERT || kind == SFEED_NOTIFY;
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->active_alarms = m->faults = m->disablements = -1;
	m->log_row = -1;
	if ((unsigned)kind >= SFEED__COUNT)
		return fail(why, whylen, "unknown kind");
	if (kind == SFEED_BRIDGE) {
		/* mosquitto's bridge notification: a bare 1 or 0, no JSON. */
		if (len == 1 && (payload[0] == '0' || payload[0] == '1')) {
			snprintf(m->alarm.site, sizeof(m->alarm.site), "%s", site);
			m->online = payload[0] == '1';
			return 0;
		}
		return fail(why, whylen, "a bridge notification is 1 or 0");
	}
	if (len == 0 || len > PAYLOAD_MAX) {
		fail(why, whylen, "payload of %zu bytes (expected a JSON object, at most %d)", len,
		     PAYLOAD_MAX);
		goto out;
	}
	o = cJSON_ParseWithLength(payload, len);
	if (!cJSON_IsObject(o)) {
		fail(why, whylen, "not a JSON object");
		goto out;
	}
	s = cJSON_GetObjectItemCaseSensitive(o, "site");
	if (!cJSON_IsString(s) || strcmp(s->valuestring, site) != 0) {
		fail(why, whylen, "site: %s%s%s does not match the topic's \"%s\"",
		     cJSON_IsString(s) ? "\"" : "", cJSON_IsString(s) ? s->valuestring : "missing",
		     cJSON_IsString(s) ? "\"" : "", site);
		goto out;
	}
	copy(m->alarm.site, sizeof(m->alarm.site), site);
	if (seqd && get_int(o, "seq", 1, 1, INT64_C(1) << 52, 0, &m->seq, why, whylen) < 0)
		goto out;
	/* The will is {"site","online":false}: no time. */
	if (get_at(o, kind != SFEED_STATUS, &m->at_ms, why, whylen) < 0)
		goto out;
	if (get_str(o, "name", m->name, sizeof(m->name), why, whylen) < 0 ||
	    get_str(o, "address", m->address, sizeof(m->address), why, whylen) < 0 ||
	    get_str(o, "phone", m->phone, sizeof(m->phone), why, whylen) < 0 ||
	    get_geo(o, m, why, whylen) < 0)
		goto out;
	switch (kind) {
	case SFEED_ALARM:
		rc = parse_alarm(o, m, why, whylen);
		break;
	case SFEED_ALERT:
	case SFEED_NOTIFY:
		rc = parse_alert(o, m, why, whylen);
		break;
	case SFEED_STATUS:
		rc = parse_status(o, m, why, whylen);
		break;
	case SFEED_HEARTBEAT:
		rc = parse_heartbeat(o, m, why, whylen);
		break;
	default:
		break;
	}
out:
	cJSON_Delete(o);
	return rc;
}
