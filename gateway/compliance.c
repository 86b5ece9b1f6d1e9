/*
 * compliance.c: the inspection criteria file and the compliance report.
 *
 * The report is computed from what the store wrote, never from the
 * daemon's memory, so that a copy of the database taken away gives the
 * same answer as the running gateway. What each automatic check reads:
 *
 *   zone_has_sensor, floor_has_output  the config (the site as installed)
 *   walk_tested                        the tests table (walk-test activations)
 *   offline_max, battery_min           "reading" events of the points
 *                                      "online" and "battery"
 *   disablement_max                    the disablements table
 *   alarm_response                     the alarms table, and the "alarm N
 *                                      CLASS STATE" events (who, when)
 *   siren_test                         "walk test started ... (with sirens)"
 *   upstream_availability              "link" events of origin "upstream"
 *                                      (up/down) and the daemon's start/stop
 *   outbox_delivery                    the outbox table
 *   log_verifies                       the hash chain (log_verified())
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "compliance.h"
#include "jsonpos.h"
#include "report_html.h"
#include "store.h"

/* ---- the criteria file --------------------------------------------------- */

enum check_type {
	CK_MANUAL,
	CK_ZONE_HAS_SENSOR,
	CK_FLOOR_HAS_OUTPUT,
	CK_WALK_TESTED,
	CK_OFFLINE_MAX,
	CK_DISABLEMENT_MAX,
	CK_ALARM_RESPONSE,
	CK_SIREN_TEST,
	CK_BATTERY_MIN,
	CK_UPSTREAM,
	CK_OUTBOX,
	CK_LOG,
	CK__COUNT
};

static const char *const check_names[] = {
    "manual",      "zone_has_sensor",       "floor_has_output", "walk_tested",
    "offline_max", "disablement_max",       "alarm_response",   "siren_test",
    "battery_min", "upstream_availability", "outbox_delivery",  "log_verifies",
    NULL};

/* A parameter's kind: a positive number, or a list of names of one set. */
enum param_kind { P_NUM, P_ZONE_KINDS, P_SENSOR_KINDS, P_OUTPUT_KINDS, P_CLASSES };

struct param_spec {
	const char *name;
	enum param_kind kind;
};

/* Each check's parameters, all required, numbers in order into n[]. */
static const struct param_spec check_params[CK__COUNT][3] = {
    [CK_ZONE_HAS_SENSOR] = {{"zone_kinds", P_ZONE_KINDS}, {"sensor_kinds", P_SENSOR_KINDS}},
    [CK_FLOOR_HAS_OUTPUT] = {{"output_kinds", P_OUTPUT_KINDS}},
    [CK_WALK_TESTED] = {{"sensor_kinds", P_SENSOR_KINDS}, {"within_days", P_NUM}},
    [CK_OFFLINE_MAX] = {{"max_hours", P_NUM}},
    [CK_DISABLEMENT_MAX] = {{"max_days", P_NUM}},
    [CK_ALARM_RESPONSE] = {{"classes", P_CLASSES}, {"ack_s", P_NUM}, {"reset_s", P_NUM}},
    [CK_SIREN_TEST] = {{"max_gap_days", P_NUM}},
    [CK_BATTERY_MIN] = {{"min_percent", P_NUM}},
    [CK_UPSTREAM] = {{"min_percent", P_NUM}},
    [CK_OUTBOX] = {{"max_minutes", P_NUM}},
};

static const char *const zone_kind_names[] = {"room",   "exit",    "kitchen", "corridor",
                                              "stairs", "parking", "shop",    NULL};
static const char *const output_names[] = {"siren", "strobe", "relay", "valve", NULL};

struct criterion {
	char *id, *vi, *en;
	enum check_type type;
	unsigned zone_kinds;   /* bits of zone_kind_names */
	unsigned sensor_kinds; /* bits of enum sh_kind */
	unsigned output_kinds; /* bits of enum output_kind */
	unsigned classes;      /* bits of enum sh_alarm_class */
	double n[2];
};

struct compliance_criteria {
	struct criterion *v;
	int n;
	const char **ids; /* NULL-terminated, for sh_suggest; point into v */
};

struct cload {
	const char *path;
	struct jsonpos jp;
	config_diag_fn diag;
	void *ctx;
	int nerrors;
};

static void cerr_at(struct cload *l, const cJSON *node, int at_key, const char *where,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void cerr_at(struct cload *l, const cJSON *node, int at_key, const char *where,
                    const char *fmt, ...)
{
	char msg[768], text[1024];
	const struct jsonpos_node *p = node ? jsonpos_find(&l->jp, node) : NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p && at_key && p->kline)
		snprintf(text, sizeof(text), "%s:%d:%d: %s: %s", l->path, p->kline, p->kcol, where,
		         msg);
	else if (p)
		snprintf(text, sizeof(text), "%s:%d:%d: %s: %s", l->path, p->line, p->col, where,
		         msg);
	else
		snprintf(text, sizeof(text), "%s: %s: %s", l->path, where, msg);
	l->nerrors++;
	if (l->diag)
		l->diag(l->ctx, 0, text);
}

static int name_index(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static const char *hint(const char *s, const char *const *names, char *buf, size_t size)
{
	const char *h = sh_suggest(s, names);
	if (h)
		snprintf(buf, size, " (did you mean \"%s\"?)", h);
	else
		buf[0] = 0;
	return buf;
}

static void parse_name_list(struct cload *l, const cJSON *v, const char *where,
                            const char *const *names, const char *what, unsigned *bits)
{
	const cJSON *e;
	char h[96];
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
		cerr_at(l, v, 0, where, "expected a non-empty list of %s names", what);
		return;
	}
	cJSON_ArrayForEach(e, v)
	{
		int i = cJSON_IsString(e) ? name_index(names, e->valuestring) : -1;
		if (!cJSON_IsString(e))
			cerr_at(l, e, 0, where, "expected a %s name (a string)", what);
		else if (i < 0)
			cerr_at(l, e, 0, where, "unknown %s \"%s\"%s", what, e->valuestring,
			        hint(e->valuestring, names, h, sizeof(h)));
		else
			*bits |= 1u << i;
	}
}

static char *dup_str(struct cload *l, const cJSON *o, const char *key, const char *where)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char *s;
	if (!v) {
		cerr_at(l, o, 0, where, "missing \"%s\"", key);
		return NULL;
	}
	if (!cJSON_IsString(v) || !v->valuestring[0]) {
		cerr_at(l, v, 0, where, "\"%s\" must be a non-empty string", key);
		return NULL;
	}
	s = strdup(v->valuestring);
	if (!s)
		cerr_at(l, v, 0, where, "out of memory");
	return s;
}

static void parse_criterion(struct cload *l, const cJSON *o, struct criterion *c, int idx)
{
	char where[64], kw[128], h[96];
	const cJSON *v, *m;
	int t, nn = 0;

	snprintf(where, sizeof(where), "criteria[%d]", idx);
	if (!cJSON_IsObject(o)) {
		cerr_at(l, o, 0, where, "expected an object");
		return;
	}
	c->id = dup_str(l, o, "id", where);
	c->vi = dup_str(l, o, "vi", where);
	c->en = dup_str(l, o, "en", where);
	if (c->id)
		snprintf(where, sizeof(where), "criteria[%d] (%s)", idx, c->id);
	v = cJSON_GetObjectItemCaseSensitive(o, "check");
	if (!v) {
		cerr_at(l, o, 0, where, "missing \"check\" (a check type, or \"manual\")");
		return;
	}
	if (!cJSON_IsString(v)) {
		cerr_at(l, v, 0, where, "\"check\" must be a string");
		return;
	}
	t = name_index(check_names, v->valuestring);
	if (t < 0) {
		cerr_at(l, v, 0, where, "unknown check type \"%s\"%s", v->valuestring,
		        hint(v->valuestring, check_names, h, sizeof(h)));
		return;
	}
	c->type = (enum check_type)t;
	/* Every key must be one this check knows: a misspelt parameter would
	 * otherwise be silently ignored and the check run with nothing. */
	cJSON_ArrayForEach(m, o)
	{
		const char *names[6] = {"id", "vi", "en", "check", NULL, NULL};
		const char *all[8];
		int k = 0, found = 0;
		for (int i = 0; i < 4; i++)
			all[k++] = names[i];
		for (int i = 0; i < 3 && check_params[t][i].name; i++)
			all[k++] = check_params[t][i].name;
		all[k] = NULL;
		for (int i = 0; all[i]; i++)
			if (strcmp(all[i], m->string) == 0)
				found = 1;
		if (!found)
			cerr_at(l, m, 1, where, "unknown key \"%s\" for check \"%s\"%s", m->string,
			        check_names[t], hint(m->string, all, h, sizeof(h)));
	}
	for (int i = 0; i < 3 && check_params[t][i].name; i++) {
		const struct param_spec *ps = &check_params[t][i];
		v = cJSON_GetObjectItemCaseSensitive(o, ps->name);
		snprintf(kw, sizeof(kw), "%s.%s", where, ps->name);
		if (!v) {
			cerr_at(l, o, 0, where, "check \"%s\" needs \"%s\"", check_names[t],
			        ps->name);
			continue;
		}
		switch (ps->kind) {
		case P_NUM:
			if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) ||
			    !isfinite(v->valuedouble))
				cerr_at(l, v, 0, kw, "expected a number above 0");
			else
				c->n[nn] = v->valuedouble;
			nn++;
			break;
		case P_ZONE_KINDS:
			parse_name_list(l, v, kw, zone_kind_names, "zone kind", &c->zone_kinds);
			break;
		case P_SENSOR_KINDS:
			parse_name_list(l, v, kw, sh_kind_names, "sensor kind", &c->sensor_kinds);
			break;
		case P_OUTPUT_KINDS:
			parse_name_list(l, v, kw, output_names, "output kind", &c->output_kinds);
			break;
		case P_CLASSES:
			parse_name_list(l, v, kw, sh_class_names, "alarm class", &c->classes);
			break;
		}
	}
	if (c->type == CK_UPSTREAM || c->type == CK_BATTERY_MIN) {
		v = cJSON_GetObjectItemCaseSensitive(o, "min_percent");
		if (c->n[0] > 100)
			cerr_at(l, v, 0, where, "min_percent must be at most 100");
	}
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) < 0) {
		snprintf(err, errlen, "cannot read (or larger than 1 MiB)");
		goto out;
	}
	buf = malloc((size_t)n + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		snprintf(err, errlen, "read error");
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = 0;
out:
	fclose(f);
	return buf;
}

struct compliance_criteria *compliance_criteria_load(const char *path, config_diag_fn diag,
                                                     void *ctx, int *nerrors)
{
	struct cload l = {.path = path, .diag = diag, .ctx = ctx};
	struct compliance_criteria *cr = NULL;
	cJSON *root = NULL;
	const cJSON *arr, *e;
	char err[256], msg[512];
	char *text = read_file(path, err, sizeof(err));
	int i = 0;

	if (!text) {
		snprintf(msg, sizeof(msg), "%s: cannot read the criteria file: %s", path, err);
		l.nerrors++;
		if (diag)
			diag(ctx, 0, msg);
		goto out;
	}
	root = cJSON_ParseWithOpts(text, NULL, 1);
	if (!root) {
		int line, col;
		jsonpos_text_pos(text, cJSON_GetErrorPtr(), &line, &col);
		snprintf(msg, sizeof(msg), "%s:%d:%d: not valid JSON", path, line, col);
		l.nerrors++;
		if (diag)
			diag(ctx, 0, msg);
		goto out;
	}
	jsonpos_index(&l.jp, text, root);
	arr = cJSON_GetObjectItemCaseSensitive(root, "criteria");
	if (!cJSON_IsArray(arr)) {
		cerr_at(&l, arr ? arr : root, 0, "criteria", "expected a list of criteria");
		goto out;
	}
	cr = calloc(1, sizeof(*cr));
	if (!cr)
		goto out;
	cr->v = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*cr->v));
	cr->ids = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*cr->ids));
	if (!cr->v || !cr->ids) {
		l.nerrors++;
		goto out;
	}
	cJSON_ArrayForEach(e, arr)
	{
		struct criterion *c = &cr->v[cr->n];
		parse_criterion(&l, e, c, i++);
		cr->n++;
		if (!c->id)
			continue;
		for (int j = 0; j < cr->n - 1; j++)
			if (cr->v[j].id && strcmp(cr->v[j].id, c->id) == 0)
				cerr_at(&l, cJSON_GetObjectItemCaseSensitive(e, "id"), 0,
				        "criteria", "id \"%s\" given twice", c->id);
	}
	for (int j = 0, k = 0; j < cr->n; j++)
		if (cr->v[j].id)
			cr->ids[k++] = cr->v[j].id;
out:
	cJSON_Delete(root);
	jsonpos_free(&l.jp);
	free(text);
	if (nerrors)
		*nerrors = l.nerrors;
	if (l.nerrors) {
		compliance_criteria_free(cr);
		return NULL;
	}
	return cr;
}

void compliance_criteria_free(struct compliance_criteria *cr)
{
	if (!cr)
		return;
	for (int i = 0; cr->v && i < cr->n; i++) {
		free(cr->v[i].id);
		free(cr->v[i].vi);
		free(cr->v[i].en);
	}
	free(cr->v);
	free(cr->ids);
	free(cr);
}

int compliance_criteria_count(const struct compliance_criteria *cr)
{
	return cr ? cr->n : 0;
}

const char *compliance_criterion_id(const struct compliance_criteria *cr, int i)
{
	return cr->v[i].id;
}

int compliance_criterion_find(const struct compliance_criteria *cr, const char *id)
{
	for (int i = 0; cr && i < cr->n; i++)
		if (strcmp(cr->v[i].id, id) == 0)
			return i;
	return -1;
}

const char *compliance_criterion_suggest(const struct compliance_criteria *cr, const char *id)
{
	return cr ? sh_suggest(id, cr->ids) : NULL;
}

int compliance_criterion_manual(const struct compliance_criteria *cr, int i)
{
	return cr->v[i].type == CK_MANUAL;
}

/* ---- times ---------------------------------------------------------------- */

static int64_t tm_to_ms_utc(struct tm *tm)
{
	return (int64_t)timegm(tm) * 1000;
}

/* RFC 3339 as the store writes it ("2026-11-29T03:04:05.123Z"), or with an
 * offset or no fraction; -1 when it is not one. */
static int64_t parse_rfc3339(const char *s)
{
	struct tm tm = {0};
	const char *p;
	int64_t ms = 0;
	int sign, oh, om;

	if (!s)
		return -1;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		int digits = 0, frac = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		for (; digits < 3; digits++)
			frac *= 10;
		ms = frac;
	}
	if (*p == 'Z' && !p[1])
		return tm_to_ms_utc(&tm) + ms;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && strlen(p) == 6) {
		sign = *p == '+' ? 1 : -1;
		return tm_to_ms_utc(&tm) + ms - sign * ((int64_t)oh * 3600 + om * 60) * 1000;
	}
	return -1;
}

int compliance_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *p;
	int64_t v = parse_rfc3339(s);
	if (v >= 0) {
		*ms = v;
		return 0;
	}
	p = strptime(s, "%Y-%m-%d", &tm);
	if (!p || *p)
		return -1;
	tm.tm_isdst = -1;
	*ms = (int64_t)mktime(&tm) * 1000;
	return 0;
}

static const char *fmt_time(int64_t ms, char *buf)
{
	store_format_time(ms, buf, 32);
	return buf;
}

/* The site's day of a time (the process's TZ is the site's). */
static void day_of(int64_t ms, char *buf)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, 11, "%Y-%m-%d", &tm);
}

/* ---- the report ---------------------------------------------------------- */

struct alarm_row {
	int64_t id;
	int cls;
	char zone[64], sensor[64], rule[128], message[256];
	int64_t raised, acked, cleared, reset;
	char acked_by[64], reset_by[64];
	int active;
	cJSON *false_alarm; /* owned here until moved into the report */
};

struct sensor_hist {
	int online;           /* -1 unknown */
	int64_t offline_from; /* when it went offline (clipped to from) */
	int64_t max_off, max_off_at;
	double battery; /* NAN unknown */
	cJSON *points;  /* [{"day","percent"}] */
	char last_day[11];
	cJSON *last_point; /* in points */
	double last_percent;
	int64_t last_at;
	int64_t last_test; /* 0: never */
};

struct rep {
	const struct config *c;
	const struct compliance_criteria *cr;
	sqlite3 *db;
	int64_t from, to, end;
	int lang;
	char from_s[32], to_s[32];
	int *sorted; /* sensor indices by id */
	struct sensor_hist *sh;
	struct alarm_row *al;
	int nal;
	/* upstream link */
	int link, link_known;
	int64_t link_since, down_ms;
	/* siren tests, oldest first */
	int64_t *siren;
	int nsiren;
	/* the inspection (the last one started in the period) */
	cJSON *inspection;
	cJSON *insp_results; /* borrowed from inspection */
	int outbox_late;     /* rows undelivered past the limit */
	cJSON *late_ev;      /* evidence of outbox_delivery, built while reading */
	cJSON *outbox;
	cJSON *disabl;
	cJSON *walk;
	/* the hash chain, checked once per report (store_verify_file) */
	struct store_verify_result vr;
	int vr_rc; /* 0: read (vr.ok the verdict), -1: could not read; 1: not yet */
	int64_t now;
};

#define TR(r, vi, en) ((r)->lang == LANG_EN ? (en) : (vi))

static int sensor_cmp_ctx(const void *a, const void *b, void *ctx)
{
	const struct config *c = ctx;
	return strcmp(c->sensors[*(const int *)a].id, c->sensors[*(const int *)b].id);
}

static int sensor_of(const struct rep *r, const char *id)
{
	int lo = 0, hi = r->c->nsensors - 1;
	if (!id)
		return -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2, k = r->sorted[mid];
		int d = strcmp(id, r->c->sensors[k].id);
		if (d == 0)
			return k;
		if (d < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : "";
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static int prep(struct rep *r, sqlite3_stmt **st, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "database: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}

static int finish(struct rep *r, sqlite3_stmt *st, int rc, char *err, size_t errlen)
{
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "database: %s", sqlite3_errmsg(r->db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static const char *zone_name(const struct config *c, const char *zone)
{
	int z = zone && zone[0] ? config_zone_index(c, zone) : -1;
	return z >= 0 ? c->zones[z].name : (zone ? zone : "");
}

static int read_alarms(struct rep *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc, n = 0, cap = 0;
	if (prep(r, &st,
	         "SELECT id, class, zone, sensor, rule, message, raised_ms, active, acked_by, "
	         "reset_by FROM alarms WHERE raised_ms >= ?1 AND raised_ms < ?2 ORDER BY id",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, r->from);
	sqlite3_bind_int64(st, 2, r->to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct alarm_row *a;
		int cls = sh_class_from_name(col_text(st, 1));
		if (cls < 0)
			continue; /* a damaged row: not ours to guess */
		if (n == cap) {
			struct alarm_row *v;
			cap = cap ? cap * 2 : 64;
			v = realloc(r->al, (size_t)cap * sizeof(*v));
			if (!v) {
				snprintf(err, errlen, "out of memory");
				sqlite3_finalize(st);
				return -1;
			}
			r->al = v;
		}
		a = &r->al[n++];
		r->nal = n;
		memset(a, 0, sizeof(*a));
		a->id = sqlite3_column_int64(st, 0);
		a->cls = cls;
		copy(a->zone, sizeof(a->zone), col_text(st, 2));
		copy(a->sensor, sizeof(a->sensor), col_text(st, 3));
		copy(a->rule, sizeof(a->rule), col_text(st, 4));
		copy(a->message, sizeof(a->message), col_text(st, 5));
		a->raised = sqlite3_column_int64(st, 6);
		a->active = sqlite3_column_int(st, 7);
		copy(a->acked_by, sizeof(a->acked_by), col_text(st, 8));
		copy(a->reset_by, sizeof(a->reset_by), col_text(st, 9));
	}
	return finish(r, st, rc, err, errlen);
}

static struct alarm_row *alarm_by_id(struct rep *r, int64_t id)
{
	int lo = 0, hi = r->nal - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (r->al[mid].id == id)
			return &r->al[mid];
		if (r->al[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* "alarm 12 fire acknowledged in room-1 by an" (panel.c's record()). */
static void alarm_event(struct rep *r, int64_t at, const char *type, const char *origin,
                        const char *detail)
{
	long long id;
	char cls[32], state[32];
	struct alarm_row *a;
	if (sscanf(detail, "alarm %lld %31s %31s", &id, cls, state) != 3)
		return;
	a = alarm_by_id(r, id);
	if (!a)
		return;
	if (!a->acked && (!strcmp(state, "acknowledged") || !strcmp(state, "silenced") ||
	                  !strcmp(state, "reset"))) {
		a->acked = at;
		if (!a->acked_by[0] && !strcmp(type, "command"))
			copy(a->acked_by, sizeof(a->acked_by), origin);
		if (!strcmp(type, "command") && strcmp(state, "reset"))
			copy(a->acked_by, sizeof(a->acked_by), origin);
	}
	if (!strcmp(state, "cleared") && !a->cleared)
		a->cleared = at;
	if (!strcmp(state, "reset") && !a->reset) {
		a->reset = at;
		if (!a->reset_by[0] && !strcmp(type, "command"))
			copy(a->reset_by, sizeof(a->reset_by), origin);
	}
}

/* A false-alarm mark (the tamper-evident log's work writes them): value is
 * the alarm id, origin who marked it, detail the reason; or a JSON detail
 * {"alarm","by","reason"}. */
static void false_alarm_event(struct rep *r, int64_t at, const char *origin, int has_value,
                              double value, const char *detail)
{
	int64_t id = has_value ? (int64_t)value : 0;
	const char *by = origin, *reason = detail;
	cJSON *j = NULL, *o;
	struct alarm_row *a;
	char ts[32];
	if (detail && detail[0] == '{' && (j = cJSON_Parse(detail))) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "alarm");
		if (cJSON_IsNumber(v))
			id = (int64_t)v->valuedouble;
		v = cJSON_GetObjectItemCaseSensitive(j, "by");
		if (cJSON_IsString(v))
			by = v->valuestring;
		v = cJSON_GetObjectItemCaseSensitive(j, "reason");
		if (cJSON_IsString(v))
			reason = v->valuestring;
	}
	a = alarm_by_id(r, id);
	if (a) {
		cJSON_Delete(a->false_alarm);
		a->false_alarm = o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "by", by ? by : "");
		cJSON_AddStringToObject(o, "reason", reason ? reason : "");
		cJSON_AddStringToObject(o, "at", fmt_time(at, ts));
	}
	cJSON_Delete(j);
}

static void set_online(struct rep *r, int s, int64_t at, int online)
{
	struct sensor_hist *h = &r->sh[s];
	if (online == h->online)
		return;
	if (!online) {
		h->offline_from = at < r->from ? r->from : at;
	} else if (h->online == 0) {
		int64_t d = at - h->offline_from;
		if (d > h->max_off) {
			h->max_off = d;
			h->max_off_at = h->offline_from;
		}
	}
	h->online = online;
}

/* The battery trend: the day's last value, a point only when the whole
 * percent changed (a chart draws steps), and over a long period at most
 * one a week, so that a year's report of a big house stays small enough
 * for the control socket. */
static void set_battery(struct rep *r, int s, int64_t at, double v)
{
	struct sensor_hist *h = &r->sh[s];
	char day[11];
	int64_t spacing = r->to - r->from > 92 * 86400000LL ? 7 * 86400000LL : 0;
	cJSON *p;
	h->battery = v;
	if (at < r->from)
		return;
	day_of(at, day);
	if (!h->points)
		h->points = cJSON_CreateArray();
	if (h->last_point && strcmp(day, h->last_day) == 0) {
		cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(h->last_point, "percent"), v);
		return;
	}
	if (h->last_point && (lround(v) == lround(h->last_percent) || at - h->last_at < spacing))
		return;
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "day", day);
	cJSON_AddNumberToObject(p, "percent", v);
	cJSON_AddItemToArray(h->points, p);
	memcpy(h->last_day, day, sizeof(day));
	h->last_point = p;
	h->last_percent = v;
	h->last_at = at;
}

static void set_link(struct rep *r, int64_t at, int up)
{
	int64_t t = at < r->from ? r->from : at;
	r->link_known = 1;
	if (r->link == 0 && up)
		r->down_ms += t - r->link_since;
	if (r->link != 0 && !up)
		r->link_since = t;
	r->link = up;
}

static void inspect_event(struct rep *r, int64_t at, const char *origin, const char *point,
                          int has_value, double value, const char *detail)
{
	char ts[32];
	if (!point && detail && !strcmp(detail, "start")) {
		cJSON_Delete(r->inspection);
		r->inspection = cJSON_CreateObject();
		cJSON_AddStringToObject(r->inspection, "by", origin);
		cJSON_AddStringToObject(r->inspection, "started_at", fmt_time(at, ts));
		cJSON_AddNullToObject(r->inspection, "finished_at");
		r->insp_results = cJSON_AddArrayToObject(r->inspection, "results");
	} else if (!point && detail && !strcmp(detail, "finish") && r->inspection) {
		cJSON_ReplaceItemInObject(r->inspection, "finished_at",
		                          cJSON_CreateString(fmt_time(at, ts)));
	} else if (point && has_value && r->inspection) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "criterion", point);
		cJSON_AddStringToObject(o, "result", value != 0 ? "pass" : "fail");
		cJSON_AddStringToObject(o, "note", detail ? detail : "");
		cJSON_AddStringToObject(o, "at", fmt_time(at, ts));
		cJSON_AddStringToObject(o, "by", origin);
		cJSON_AddItemToArray(r->insp_results, o);
	}
}

/* The state before the period: each sensor's last online and battery
 * reading, and the link's last word. SQLite's bare columns with max()
 * take the values of the row holding the maximum. */
static int read_prior(struct rep *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;
	if (prep(r, &st,
	         "SELECT sensor, point, value, max(at_ms) FROM events WHERE at_ms < ?1 AND "
	         "type = 'reading' AND point IN ('online', 'battery') GROUP BY sensor, point",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, r->from);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int s = sensor_of(r, col_text(st, 0));
		if (s < 0)
			continue;
		if (!strcmp(col_text(st, 1), "online"))
			set_online(r, s, r->from, sqlite3_column_double(st, 2) != 0);
		else
			set_battery(r, s, sqlite3_column_int64(st, 3),
			            sqlite3_column_double(st, 2));
	}
	if (finish(r, st, rc, err, errlen) < 0)
		return -1;
	/* The link's last word before the period, and whether the daemon
	 * (re)started after it (then the link was down until its next "up").
	 * A start or stop with no link event before it says nothing: the
	 * build that wrote it did not record the link (an upgraded gateway). */
	if (prep(r, &st,
	         "SELECT (SELECT detail || ' ' || max(at_ms) FROM events WHERE at_ms < ?1 AND "
	         "origin = 'upstream' AND type = 'link'), (SELECT max(at_ms) FROM events WHERE "
	         "at_ms < ?1 AND origin = 'daemon' AND type IN ('start', 'stop'))",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, r->from);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		char state[16] = "";
		long long link_at = 0;
		sscanf(col_text(st, 0), "%15s %lld", state, &link_at);
		set_link(r, r->from, !strcmp(state, "up"));
		if (sqlite3_column_int64(st, 1) > link_at)
			set_link(r, r->from, 0);
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	return finish(r, st, rc, err, errlen);
}

/* One pass over the period's events (and the alarm events after it, for
 * acknowledgments and resets that came after the period's end). */
static int read_events(struct rep *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;
	if (prep(r, &st,
	         "SELECT at_ms, origin, type, sensor, point, value, detail FROM events "
	         "WHERE at_ms >= ?1 AND (at_ms < ?2 OR type IN ('alarm', 'command', "
	         "'false_alarm')) ORDER BY at_ms, id",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, r->from);
	sqlite3_bind_int64(st, 2, r->to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t at = sqlite3_column_int64(st, 0);
		const char *origin = col_text(st, 1), *type = col_text(st, 2);
		const char *point = (const char *)sqlite3_column_text(st, 4);
		const char *detail = (const char *)sqlite3_column_text(st, 6);
		int has_value = sqlite3_column_type(st, 5) != SQLITE_NULL;
		double value = sqlite3_column_double(st, 5);
		if (!strcmp(type, "reading") && point) {
			int s = sensor_of(r, (const char *)sqlite3_column_text(st, 3));
			if (s < 0)
				continue;
			if (!strcmp(point, "online"))
				set_online(r, s, at, value != 0);
			else if (!strcmp(point, "battery"))
				set_battery(r, s, at, value);
		} else if ((!strcmp(type, "alarm") || !strcmp(type, "command")) && detail &&
		           !strncmp(detail, "alarm ", 6)) {
			alarm_event(r, at, type, origin, detail);
		} else if (!strcmp(type, "false_alarm")) {
			false_alarm_event(r, at, origin, has_value, value, detail);
		} else if (at >= r->to) {
			continue;
		} else if (!strcmp(type, "link") && !strcmp(origin, "upstream")) {
			set_link(r, at, detail && !strcmp(detail, "up"));
		} else if (!strcmp(origin, "daemon") &&
		           (!strcmp(type, "start") || !strcmp(type, "stop"))) {
			if (r->link_known) /* see read_prior */
				set_link(r, at, 0);
		} else if (!strcmp(type, "inspect")) {
			inspect_event(r, at, origin, point, has_value, value, detail);
		}
	}
	if (finish(r, st, rc, err, errlen) < 0)
		return -1;
	/* Close what is still open at the end of the period. */
	for (int s = 0; s < r->c->nsensors; s++)
		if (r->sh[s].online == 0) {
			int64_t d = r->end - r->sh[s].offline_from;
			if (d > r->sh[s].max_off) {
				r->sh[s].max_off = d;
				r->sh[s].max_off_at = r->sh[s].offline_from;
			}
		}
	if (r->link_known && r->link == 0 && r->end > r->link_since)
		r->down_ms += r->end - r->link_since;
	return 0;
}

static int read_siren_tests(struct rep *r, int64_t since, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc, cap = 0;
	if (prep(r, &st,
	         "SELECT at_ms FROM events WHERE at_ms >= ?1 AND at_ms < ?2 AND type = 'command' "
	         "AND detail LIKE 'walk test started %(with sirens)' ORDER BY at_ms",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, r->to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nsiren == cap) {
			int64_t *v;
			cap = cap ? cap * 2 : 16;
			v = realloc(r->siren, (size_t)cap * sizeof(*v));
			if (!v)
				break;
			r->siren = v;
		}
		r->siren[r->nsiren++] = sqlite3_column_int64(st, 0);
	}
	return finish(r, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, err, errlen);
}

static int read_walk_tests(struct rep *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;
	char ts[32];
	if (prep(r, &st, "SELECT sensor, max(at_ms) FROM tests WHERE at_ms < ?1 GROUP BY sensor",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, r->to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int s = sensor_of(r, col_text(st, 0));
		if (s >= 0)
			r->sh[s].last_test = sqlite3_column_int64(st, 1);
	}
	if (finish(r, st, rc, err, errlen) < 0)
		return -1;
	if (prep(r, &st,
	         "SELECT sensor, at_ms, started_by FROM tests WHERE at_ms >= ?1 AND at_ms < ?2 "
	         "ORDER BY at_ms",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, r->from);
	sqlite3_bind_int64(st, 2, r->to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "sensor", col_text(st, 0));
		cJSON_AddStringToObject(o, "at", fmt_time(sqlite3_column_int64(st, 1), ts));
		cJSON_AddStringToObject(o, "by", col_text(st, 2));
		cJSON_AddItemToArray(r->walk, o);
	}
	return finish(r, st, rc, err, errlen);
}

/* ---- the criteria's verdicts --------------------------------------------- */

struct verdict {
	int result; /* 0 pass, 1 fail, 2 not checked */
	cJSON *evidence;
};

static const char *const result_names[] = {"pass", "fail", "not_checked"};

static void ev(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ev(struct verdict *v, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* A long list of evidence helps nobody; the report's sections hold
	 * the rest. */
	if (cJSON_GetArraySize(v->evidence) < 20)
		cJSON_AddItemToArray(v->evidence, cJSON_CreateString(buf));
}

static void fail(struct verdict *v)
{
	v->result = 1;
}

static int zone_kind_bit(const char *kind)
{
	int i = kind ? name_index(zone_kind_names, kind) : -1;
	return i < 0 ? 0 : (int)(1u << i);
}

static void check_zone_has_sensor(struct rep *r, const struct criterion *k, struct verdict *v)
{
	const struct config *c = r->c;
	int nz = 0;
	for (int z = 0; z < c->nzones; z++) {
		int found = -1;
		if (!(zone_kind_bit(c->zones[z].kind) & (int)k->zone_kinds))
			continue;
		nz++;
		for (int s = 0; s < c->nsensors && found < 0; s++)
			if (c->sensors[s].zone == z &&
			    (k->sensor_kinds & (1u << c->sensors[s].kind)))
				found = s;
		if (found < 0) {
			fail(v);
			ev(v,
			   TR(r, "%s (%s): không có đầu báo phù hợp",
			      "%s (%s): no matching detector"),
			   c->zones[z].name, c->zones[z].id);
		} else {
			ev(v, "%s: %s (%s)", c->zones[z].name, c->sensors[found].id,
			   sh_kind_name(c->sensors[found].kind));
		}
	}
	if (nz == 0)
		ev(v, TR(r, "không có khu vực loại này", "no zone of this kind"));
}

static void check_floor_has_output(struct rep *r, const struct criterion *k, struct verdict *v)
{
	const struct config *c = r->c;
	for (int z = 0; z < c->nzones; z++) {
		int floor = c->zones[z].floor, seen = 0, found = -1;
		for (int y = 0; y < z; y++)
			if (c->zones[y].floor == floor)
				seen = 1;
		if (seen)
			continue;
		for (int o = 0; o < c->noutputs && found < 0; o++) {
			int oz = c->outputs[o].zone;
			if ((k->output_kinds & (1u << c->outputs[o].kind)) && oz >= 0 &&
			    c->zones[oz].floor == floor)
				found = o;
		}
		if (found < 0) {
			fail(v);
			ev(v, TR(r, "tầng %d: không có còi", "floor %d: no siren"), floor);
		} else {
			ev(v, TR(r, "tầng %d: %s", "floor %d: %s"), floor, c->outputs[found].id);
		}
	}
}

static void check_walk_tested(struct rep *r, const struct criterion *k, struct verdict *v)
{
	const struct config *c = r->c;
	int64_t limit = r->end - (int64_t)(k->n[0] * 86400000.0);
	char ts[32];
	int n = 0;
	for (int s = 0; s < c->nsensors; s++) {
		if (!(k->sensor_kinds & (1u << c->sensors[s].kind)))
			continue;
		n++;
		if (!r->sh[s].last_test) {
			fail(v);
			ev(v, TR(r, "%s: chưa từng được thử", "%s: never walk-tested"),
			   c->sensors[s].id);
		} else if (r->sh[s].last_test < limit) {
			fail(v);
			ev(v, TR(r, "%s: lần thử cuối %s", "%s: last walk test %s"),
			   c->sensors[s].id, fmt_time(r->sh[s].last_test, ts));
		}
	}
	if (v->result == 0)
		ev(v, TR(r, "%d đầu báo đã được thử", "%d detector(s) walk-tested"), n);
}

static void check_offline_max(struct rep *r, const struct criterion *k, struct verdict *v)
{
	int64_t limit = (int64_t)(k->n[0] * 3600000.0);
	char ts[32];
	for (int s = 0; s < r->c->nsensors; s++)
		if (r->sh[s].max_off > limit) {
			fail(v);
			ev(v, TR(r, "%s: mất kết nối %.1f giờ từ %s", "%s: offline %.1f h from %s"),
			   r->c->sensors[s].id, (double)r->sh[s].max_off / 3600000.0,
			   fmt_time(r->sh[s].max_off_at, ts));
		}
	if (v->result == 0)
		ev(v, TR(r, "không thiết bị nào mất kết nối quá hạn",
		         "no sensor offline past the limit"));
}

static void check_disablement_max(struct rep *r, const struct criterion *k, struct verdict *v)
{
	int64_t limit = (int64_t)(k->n[0] * 86400000.0);
	const cJSON *d;
	cJSON_ArrayForEach(d, r->disabl)
	{
		double dur = cJSON_GetObjectItemCaseSensitive(d, "duration_s")->valuedouble;
		if (dur * 1000 > (double)limit) {
			fail(v);
			ev(v,
			   TR(r, "%s: tạm ngắt %.1f ngày từ %s (%s)",
			      "%s: disabled %.1f days from %s (%s)"),
			   cJSON_GetObjectItemCaseSensitive(d, "sensor")->valuestring,
			   dur / 86400.0, cJSON_GetObjectItemCaseSensitive(d, "from")->valuestring,
			   cJSON_GetObjectItemCaseSensitive(d, "by")->valuestring);
		}
	}
	if (v->result == 0)
		ev(v,
		   TR(r, "%d lần tạm ngắt, không lần nào quá hạn",
		      "%d disablement(s), none too long"),
		   cJSON_GetArraySize(r->disabl));
}

static void check_alarm_response(struct rep *r, const struct criterion *k, struct verdict *v)
{
	int64_t ack = (int64_t)(k->n[0] * 1000), reset = (int64_t)(k->n[1] * 1000);
	char ts[32];
	int n = 0;
	for (int i = 0; i < r->nal; i++) {
		const struct alarm_row *a = &r->al[i];
		int64_t ack_end, reset_end;
		if (!(k->classes & (1u << a->cls)))
			continue;
		n++;
		ack_end = a->acked ? a->acked : r->end;
		reset_end = a->reset ? a->reset : r->end;
		if (ack_end - a->raised > ack || (!a->acked && r->end - a->raised > ack)) {
			fail(v);
			if (a->acked)
				ev(v,
				   TR(r, "báo động %lld (%s): xác nhận sau %lld giây",
				      "alarm %lld (%s): acknowledged after %lld s"),
				   (long long)a->id, fmt_time(a->raised, ts),
				   (long long)((a->acked - a->raised) / 1000));
			else
				ev(v,
				   TR(r, "báo động %lld (%s): không được xác nhận",
				      "alarm %lld (%s): never acknowledged"),
				   (long long)a->id, fmt_time(a->raised, ts));
		}
		if (reset_end - a->raised > reset) {
			fail(v);
			if (a->reset)
				ev(v,
				   TR(r, "báo động %lld (%s): đặt lại sau %lld phút",
				      "alarm %lld (%s): reset after %lld min"),
				   (long long)a->id, fmt_time(a->raised, ts),
				   (long long)((a->reset - a->raised) / 60000));
			else
				ev(v,
				   TR(r, "báo động %lld (%s): chưa được đặt lại",
				      "alarm %lld (%s): not reset"),
				   (long long)a->id, fmt_time(a->raised, ts));
		}
	}
	if (v->result == 0)
		ev(v, TR(r, "%d báo động, đều xử lý đúng hạn", "%d alarm(s), all handled in time"),
		   n);
}

static void check_siren_test(struct rep *r, const struct criterion *k, struct verdict *v)
{
	int64_t gap = (int64_t)(k->n[0] * 86400000.0), covered = r->from;
	char ts[32], ts2[32];
	/* Every moment of the period must lie within gap after a siren test. */
	for (int i = 0; i < r->nsiren && covered < r->end; i++) {
		if (r->siren[i] > covered) {
			fail(v);
			ev(v, TR(r, "không thử còi từ %s đến %s", "no siren test from %s to %s"),
			   fmt_time(covered - gap, ts), fmt_time(r->siren[i], ts2));
		}
		if (r->siren[i] + gap > covered)
			covered = r->siren[i] + gap;
	}
	if (covered < r->end) {
		fail(v);
		if (r->nsiren)
			ev(v, TR(r, "lần thử còi cuối %s", "last siren test %s"),
			   fmt_time(r->siren[r->nsiren - 1], ts));
		else
			ev(v, TR(r, "không có lần thử còi nào", "no siren test at all"));
	}
	for (int i = 0; i < r->nsiren; i++)
		if (r->siren[i] >= r->from)
			ev(v, TR(r, "thử còi %s", "siren test %s"), fmt_time(r->siren[i], ts));
}

static void check_battery_min(struct rep *r, const struct criterion *k, struct verdict *v)
{
	int n = 0;
	for (int s = 0; s < r->c->nsensors; s++) {
		double b = r->sh[s].battery;
		if (isnan(b))
			continue;
		n++;
		if (b < k->n[0]) {
			fail(v);
			ev(v, TR(r, "%s: pin %.0f %%", "%s: battery %.0f %%"), r->c->sensors[s].id,
			   b);
		}
	}
	if (n == 0) {
		v->result = 2;
		ev(v, TR(r, "không thiết bị nào báo mức pin", "no battery level reported"));
	} else if (v->result == 0) {
		ev(v,
		   TR(r, "%d thiết bị báo mức pin, đều đủ",
		      "%d battery level(s) reported, all above"),
		   n);
	}
}

static double availability(const struct rep *r)
{
	int64_t len = r->end - r->from;
	return len > 0 ? 100.0 * (double)(len - r->down_ms) / (double)len : 100.0;
}

static void check_upstream(struct rep *r, const struct criterion *k, struct verdict *v)
{
	double a = availability(r);
	if (!r->link_known) {
		v->result = 2;
		ev(v, TR(r, "không có ghi nhận về kết nối trung tâm",
		         "no record of the upstream link"));
		return;
	}
	if (a < k->n[0])
		fail(v);
	ev(v,
	   TR(r, "hoạt động %.2f %% thời gian (mất %lld phút)",
	      "up %.2f %% of the period (down %lld min)"),
	   a, (long long)(r->down_ms / 60000));
}

/* Until the tamper-evident log is merged: the lead wires this to
 * store_verify_file(db_path, ...). */
/* The hash chain of the event log (store.c): checked once per report, on
 * the report's own thread, from the file (a copy works the same). */
static void rep_verify(struct rep *r, const char *db_path)
{
	if (r->vr_rc != 1)
		return;
	memset(&r->vr, 0, sizeof(r->vr));
	r->vr_rc = store_verify_file(db_path, &r->vr);
}

static int log_verified(struct rep *r, const char *db_path, cJSON *evidence)
{
	char buf[320];

	rep_verify(r, db_path);
	if (r->vr_rc < 0) {
		snprintf(buf, sizeof(buf), "%s: %s",
		         TR(r, "không đọc được nhật ký", "the log cannot be read"), r->vr.reason);
		cJSON_AddItemToArray(evidence, cJSON_CreateString(buf));
		return 2; /* not checked */
	}
	if (!r->vr.ok) {
		snprintf(
		    buf, sizeof(buf), "%s %lld: %s",
		    TR(r, "nhật ký bị sửa hoặc xoá từ dòng", "the log was changed or cut at row"),
		    (long long)r->vr.first_bad_row, r->vr.reason);
		cJSON_AddItemToArray(evidence, cJSON_CreateString(buf));
		return 1; /* fail */
	}
	/* Retention cuts the start of the log and leaves an anchor; anyone
	 * could do the same to hide old rows. A cut is honest only when what
	 * it removed is older than the retention (a minute of clock slack). */
	if (r->vr.pruned_ms && r->c &&
	    r->vr.pruned_ms > r->now - (int64_t)r->c->retention_days * 86400000 + 60000) {
		char at[32];
		store_format_time(r->vr.pruned_ms, at, sizeof(at));
		snprintf(buf, sizeof(buf), "%s %s, %s %d %s",
		         TR(r, "nhật ký bị cắt đến", "the log was cut through"), at,
		         TR(r, "mới hơn thời hạn lưu", "newer than the retention of"),
		         r->c->retention_days, TR(r, "ngày", "days"));
		cJSON_AddItemToArray(evidence, cJSON_CreateString(buf));
		return 1; /* fail */
	}
	snprintf(buf, sizeof(buf), "%s: %lld %s, %s %lld %s",
	         TR(r, "chuỗi băm toàn vẹn", "hash chain verified"), (long long)r->vr.rows,
	         TR(r, "dòng", "rows"), TR(r, "đầu chuỗi: dòng", "head: row"),
	         (long long)r->vr.head_row, r->vr.head_hash);
	cJSON_AddItemToArray(evidence, cJSON_CreateString(buf));
	return 0; /* pass */
}

static void check_outbox(struct rep *r, struct verdict *v)
{
	const cJSON *e;
	if (r->outbox_late)
		fail(v);
	cJSON_ArrayForEach(e, r->late_ev)
	{
		if (cJSON_GetArraySize(v->evidence) < 20)
			cJSON_AddItemToArray(v->evidence, cJSON_CreateString(e->valuestring));
	}
	if (!r->outbox_late)
		ev(v,
		   TR(r, "%d tin đã gửi, không tin nào chậm", "%d message(s) delivered, none late"),
		   (int)cJSON_GetObjectItemCaseSensitive(r->outbox, "delivered")->valuedouble);
}

/* The inspector's verdict: sets a manual criterion's result; for an
 * automatic one, a "fail" overrides and either is added as evidence. */
static void apply_inspection(struct rep *r, const char *id, int manual, struct verdict *v)
{
	const cJSON *e, *found = NULL;
	cJSON_ArrayForEach(e, r->insp_results)
	{
		if (!strcmp(cJSON_GetObjectItemCaseSensitive(e, "criterion")->valuestring, id))
			found = e;
	}
	if (!found)
		return;
	{
		const char *res = cJSON_GetObjectItemCaseSensitive(found, "result")->valuestring;
		const char *note = cJSON_GetObjectItemCaseSensitive(found, "note")->valuestring;
		const char *by = cJSON_GetObjectItemCaseSensitive(found, "by")->valuestring;
		const char *at = cJSON_GetObjectItemCaseSensitive(found, "at")->valuestring;
		int pass = !strcmp(res, "pass");
		if (manual || !pass)
			v->result = pass ? 0 : 1;
		ev(v, TR(r, "cán bộ kiểm tra %s: %s (%s)%s%s", "inspector %s: %s (%s)%s%s"), by,
		   pass ? TR(r, "đạt", "pass") : TR(r, "không đạt", "fail"), at,
		   note[0] ? ": " : "", note);
	}
}

static void add_criteria(struct rep *r, cJSON *root, const char *db_path)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "criteria");
	int count[3] = {0, 0, 0};
	cJSON *sum;
	for (int i = 0; i < r->cr->n; i++) {
		const struct criterion *k = &r->cr->v[i];
		struct verdict v = {.result = 0, .evidence = cJSON_CreateArray()};
		cJSON *o = cJSON_CreateObject();
		switch (k->type) {
		case CK_MANUAL:
			v.result = 2;
			break;
		case CK_ZONE_HAS_SENSOR:
			check_zone_has_sensor(r, k, &v);
			break;
		case CK_FLOOR_HAS_OUTPUT:
			check_floor_has_output(r, k, &v);
			break;
		case CK_WALK_TESTED:
			check_walk_tested(r, k, &v);
			break;
		case CK_OFFLINE_MAX:
			check_offline_max(r, k, &v);
			break;
		case CK_DISABLEMENT_MAX:
			check_disablement_max(r, k, &v);
			break;
		case CK_ALARM_RESPONSE:
			check_alarm_response(r, k, &v);
			break;
		case CK_SIREN_TEST:
			check_siren_test(r, k, &v);
			break;
		case CK_BATTERY_MIN:
			check_battery_min(r, k, &v);
			break;
		case CK_UPSTREAM:
			check_upstream(r, k, &v);
			break;
		case CK_OUTBOX:
			check_outbox(r, &v);
			break;
		case CK_LOG:
			v.result = log_verified(r, db_path, v.evidence);
			break;
		case CK__COUNT:
			break;
		}
		apply_inspection(r, k->id, k->type == CK_MANUAL, &v);
		count[v.result]++;
		cJSON_AddStringToObject(o, "id", k->id);
		cJSON_AddStringToObject(o, "text", r->lang == LANG_EN ? k->en : k->vi);
		cJSON_AddStringToObject(o, "kind", k->type == CK_MANUAL ? "manual" : "auto");
		cJSON_AddStringToObject(o, "check", check_names[k->type]);
		cJSON_AddStringToObject(o, "result", result_names[v.result]);
		cJSON_AddItemToObject(o, "evidence", v.evidence);
		cJSON_AddItemToArray(arr, o);
	}
	sum = cJSON_AddObjectToObject(root, "summary");
	cJSON_AddNumberToObject(sum, "passed", count[0]);
	cJSON_AddNumberToObject(sum, "failed", count[1]);
	cJSON_AddNumberToObject(sum, "not_checked", count[2]);
}

/* ---- the report's sections ------------------------------------------------ */

static int read_disablements(struct rep *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;
	char ts[32];
	if (prep(r, &st,
	         "SELECT target, kind, reason, by, from_at, until_ms, ended_at FROM disablements "
	         "WHERE from_at < ?2 AND (ended_at IS NULL OR ended_at >= ?1) ORDER BY from_at",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->from_s, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->to_s, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t from = parse_rfc3339(col_text(st, 4));
		int64_t until = sqlite3_column_int64(st, 5);
		int64_t ended = parse_rfc3339((const char *)sqlite3_column_text(st, 6));
		int64_t end = ended >= 0 ? ended : (until < r->end ? until : r->end);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "sensor", col_text(st, 0));
		cJSON_AddStringToObject(o, "target_kind", col_text(st, 1));
		cJSON_AddStringToObject(o, "by", col_text(st, 3));
		cJSON_AddStringToObject(o, "from", col_text(st, 4));
		if (ended >= 0 || until <= r->end)
			cJSON_AddStringToObject(o, "to", fmt_time(end, ts));
		else
			cJSON_AddNullToObject(o, "to");
		cJSON_AddStringToObject(o, "reason", col_text(st, 2));
		cJSON_AddNumberToObject(o, "duration_s",
		                        from >= 0 && end > from ? (end - from) / 1000 : 0);
		cJSON_AddItemToArray(r->disabl, o);
	}
	return finish(r, st, rc, err, errlen);
}

/* Outbox rows created in the period: counts, and the delivery verdict.
 * A row is late when it waited more than the limit after it became due
 * (its escalation step's time), delivered late or never; cancelled rows
 * (an acknowledgment stopped the chain) are not late. */
static int read_outbox(struct rep *r, double max_minutes, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc, delivered = 0, pending = 0, failed = 0;
	int64_t oldest = 0, limit = (int64_t)(max_minutes * 60000.0);
	char ts[32];
	if (prep(r, &st,
	         "SELECT seq, kind, channel, contact, created_at, delivered_at, state, due_at "
	         "FROM outbox WHERE created_at >= ?1 AND created_at < ?2 ORDER BY seq",
	         err, errlen) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->from_s, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->to_s, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t created = parse_rfc3339(col_text(st, 4));
		int64_t done = parse_rfc3339((const char *)sqlite3_column_text(st, 5));
		int64_t due = sqlite3_column_int64(st, 7);
		const char *state = col_text(st, 6);
		int64_t start = due > created ? due : created, waited;
		if (!strcmp(state, "cancelled"))
			continue;
		if (!strcmp(state, "delivered")) {
			delivered++;
			waited = done >= 0 ? done - start : 0;
		} else {
			if (!strcmp(state, "pending")) {
				pending++;
				if (start < r->end && (!oldest || start < oldest))
					oldest = start;
			} else {
				failed++;
			}
			waited = r->end - start;
		}
		if (waited > limit) {
			char msg[256];
			r->outbox_late++;
			snprintf(msg, sizeof(msg),
			         TR(r, "tin %lld (%s, %s%s%s) tạo %s: %s sau %lld phút",
			            "message %lld (%s, %s%s%s) created %s: %s after %lld min"),
			         (long long)sqlite3_column_int64(st, 0), col_text(st, 1),
			         col_text(st, 2), sqlite3_column_text(st, 3) ? " " : "",
			         col_text(st, 3), fmt_time(created, ts),
			         !strcmp(state, "delivered")
			             ? TR(r, "gửi được", "delivered")
			             : TR(r, "chưa gửi được", "not delivered"),
			         (long long)(waited / 60000));
			cJSON_AddItemToArray(r->late_ev, cJSON_CreateString(msg));
		}
	}
	if (finish(r, st, rc, err, errlen) < 0)
		return -1;
	cJSON_AddNumberToObject(r->outbox, "delivered", delivered);
	cJSON_AddNumberToObject(r->outbox, "pending", pending);
	cJSON_AddNumberToObject(r->outbox, "failed", failed);
	if (oldest)
		cJSON_AddNumberToObject(r->outbox, "oldest_pending_s",
		                        (double)((r->end - oldest) / 1000));
	else
		cJSON_AddNullToObject(r->outbox, "oldest_pending_s");
	return 0;
}

static void add_site(struct rep *r, cJSON *root, int64_t now_ms)
{
	const struct config *c = r->c;
	cJSON *site = cJSON_AddObjectToObject(root, "site"), *p;
	char ts[32];
	cJSON_AddStringToObject(site, "id", c->site.id ? c->site.id : "");
	cJSON_AddStringToObject(site, "name", c->site.name ? c->site.name : "");
	cJSON_AddStringToObject(site, "address", c->site.address ? c->site.address : "");
	cJSON_AddStringToObject(site, "phone", c->site.phone ? c->site.phone : "");
	cJSON_AddStringToObject(site, "timezone", c->site.timezone ? c->site.timezone : "");
	p = cJSON_AddObjectToObject(root, "period");
	cJSON_AddStringToObject(p, "from", r->from_s);
	cJSON_AddStringToObject(p, "to", r->to_s);
	cJSON_AddStringToObject(root, "generated_at", fmt_time(now_ms, ts));
	cJSON_AddStringToObject(root, "language", r->lang == LANG_EN ? "en" : "vi");
}

static void add_inventory(struct rep *r, cJSON *root)
{
	const struct config *c = r->c;
	cJSON *inv = cJSON_AddArrayToObject(root, "inventory");
	for (int z = 0; z < c->nzones; z++) {
		cJSON *o = cJSON_CreateObject(), *ss, *os;
		cJSON_AddStringToObject(o, "zone", c->zones[z].id);
		cJSON_AddStringToObject(o, "zone_name", c->zones[z].name);
		cJSON_AddNumberToObject(o, "floor", c->zones[z].floor);
		cJSON_AddStringToObject(o, "kind", c->zones[z].kind ? c->zones[z].kind : "");
		ss = cJSON_AddArrayToObject(o, "sensors");
		for (int s = 0; s < c->nsensors; s++) {
			cJSON *e;
			if (c->sensors[s].zone != z)
				continue;
			e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "id", c->sensors[s].id);
			cJSON_AddStringToObject(e, "name", c->sensors[s].name);
			cJSON_AddStringToObject(e, "kind", sh_kind_name(c->sensors[s].kind));
			if (isnan(r->sh[s].battery))
				cJSON_AddNullToObject(e, "battery");
			else
				cJSON_AddNumberToObject(e, "battery", r->sh[s].battery);
			if (r->sh[s].online < 0)
				cJSON_AddNullToObject(e, "online");
			else
				cJSON_AddBoolToObject(e, "online", r->sh[s].online);
			cJSON_AddItemToArray(ss, e);
		}
		os = cJSON_AddArrayToObject(o, "outputs");
		for (int k = 0; k < c->noutputs; k++) {
			cJSON *e;
			if (c->outputs[k].zone != z)
				continue;
			e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "id", c->outputs[k].id);
			cJSON_AddStringToObject(e, "kind",
			                        config_output_kind_name(c->outputs[k].kind));
			cJSON_AddItemToArray(os, e);
		}
		cJSON_AddItemToArray(inv, o);
	}
}

static void add_time_or_null(cJSON *o, const char *key, int64_t ms)
{
	char ts[32];
	if (ms)
		cJSON_AddStringToObject(o, key, fmt_time(ms, ts));
	else
		cJSON_AddNullToObject(o, key);
}

static void add_secs_or_null(cJSON *o, const char *key, int64_t from, int64_t to)
{
	if (to)
		cJSON_AddNumberToObject(o, key, (double)((to - from) / 1000));
	else
		cJSON_AddNullToObject(o, key);
}

static void add_str_or_null(cJSON *o, const char *key, const char *s)
{
	if (s && s[0])
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

struct day_count {
	char day[11];
	int alarms, faults;
};

static void add_history(struct rep *r, cJSON *root)
{
	cJSON *alarms = cJSON_AddArrayToObject(root, "alarms");
	cJSON *faults = cJSON_AddArrayToObject(root, "faults");
	cJSON *days, *bat;
	struct day_count *dc = NULL;
	int ndays = 0;
	char ts[32];

	/* Every day of the period, so the chart has its empty days too. */
	for (int64_t t = r->from; t < r->to && ndays < 800; t += 86400000) {
		char d[11];
		struct day_count *v;
		day_of(t, d);
		if (ndays && !strcmp(dc[ndays - 1].day, d))
			continue;
		v = realloc(dc, (size_t)(ndays + 2) * sizeof(*dc));
		if (!v)
			break;
		dc = v;
		memset(&dc[ndays], 0, sizeof(*dc));
		memcpy(dc[ndays++].day, d, 11);
	}
	for (int i = 0; i < r->nal; i++) {
		struct alarm_row *a = &r->al[i];
		cJSON *o = cJSON_CreateObject();
		char d[11];
		day_of(a->raised, d);
		for (int k = 0; k < ndays; k++)
			if (!strcmp(dc[k].day, d)) {
				if (a->cls == ALARM_FAULT)
					dc[k].faults++;
				else
					dc[k].alarms++;
			}
		if (a->cls == ALARM_FAULT) {
			int64_t end = a->cleared ? a->cleared : a->reset;
			cJSON_AddStringToObject(o, "rule", a->rule);
			cJSON_AddStringToObject(o, "sensor", a->sensor);
			cJSON_AddStringToObject(o, "message", a->message);
			cJSON_AddStringToObject(o, "from", fmt_time(a->raised, ts));
			add_time_or_null(o, "to", end);
			cJSON_AddNumberToObject(
			    o, "duration_s", (double)(((end ? end : r->end) - a->raised) / 1000));
			cJSON_AddItemToArray(faults, o);
			continue;
		}
		cJSON_AddNumberToObject(o, "id", (double)a->id);
		cJSON_AddStringToObject(o, "class", sh_class_name(a->cls));
		cJSON_AddStringToObject(o, "zone", a->zone);
		cJSON_AddStringToObject(o, "zone_name", zone_name(r->c, a->zone));
		cJSON_AddStringToObject(o, "sensor", a->sensor);
		cJSON_AddStringToObject(o, "raised_at", fmt_time(a->raised, ts));
		add_time_or_null(o, "acked_at", a->acked);
		add_str_or_null(o, "acked_by", a->acked ? a->acked_by : NULL);
		add_secs_or_null(o, "ack_s", a->raised, a->acked);
		add_time_or_null(o, "reset_at", a->reset);
		add_str_or_null(o, "reset_by", a->reset ? a->reset_by : NULL);
		add_secs_or_null(o, "reset_s", a->raised, a->reset);
		if (a->false_alarm) {
			cJSON_AddItemToObject(o, "false_alarm", a->false_alarm);
			a->false_alarm = NULL;
		} else {
			cJSON_AddNullToObject(o, "false_alarm");
		}
		cJSON_AddItemToArray(alarms, o);
	}
	cJSON_AddItemReferenceToObject(root, "disablements", r->disabl);
	cJSON_AddItemReferenceToObject(root, "walk_tests", r->walk);
	bat = cJSON_AddArrayToObject(root, "batteries");
	for (int s = 0; s < r->c->nsensors; s++) {
		cJSON *o;
		if (!r->sh[s].points)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "sensor", r->c->sensors[s].id);
		cJSON_AddItemToObject(o, "points", r->sh[s].points);
		r->sh[s].points = NULL;
		cJSON_AddItemToArray(bat, o);
	}
	{
		cJSON *up = cJSON_AddObjectToObject(root, "upstream");
		if (r->link_known)
			cJSON_AddNumberToObject(up, "availability",
			                        round(availability(r) * 100) / 100);
		else
			cJSON_AddNullToObject(up, "availability");
		cJSON_AddNumberToObject(up, "down_s", (double)(r->down_ms / 1000));
	}
	cJSON_AddItemReferenceToObject(root, "outbox", r->outbox);
	days = cJSON_AddArrayToObject(root, "per_day");
	for (int k = 0; k < ndays; k++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "day", dc[k].day);
		cJSON_AddNumberToObject(o, "alarms", dc[k].alarms);
		cJSON_AddNumberToObject(o, "faults", dc[k].faults);
		cJSON_AddItemToArray(days, o);
	}
	free(dc);
}

cJSON *compliance_report(const struct config *c, const struct compliance_criteria *cr,
                         const char *db_path, int64_t from_ms, int64_t to_ms, int64_t now_ms,
                         int lang, int auto_only, char *err, size_t errlen)
{
	struct rep r = {.vr_rc = 1};
	cJSON *root = NULL, *out = NULL, *log;
	double max_minutes = 10;

	if (to_ms <= from_ms) {
		snprintf(err, errlen, "the period is empty (--to must be after --from)");
		return NULL;
	}
	r.c = c;
	r.cr = cr;
	r.from = from_ms;
	r.to = to_ms;
	r.end = now_ms < to_ms ? (now_ms > from_ms ? now_ms : from_ms) : to_ms;
	r.now = now_ms;
	r.lang = lang;
	r.link = -1;
	fmt_time(from_ms, r.from_s);
	fmt_time(to_ms, r.to_s);
	r.sorted = calloc((size_t)c->nsensors + 1, sizeof(*r.sorted));
	r.sh = calloc((size_t)c->nsensors + 1, sizeof(*r.sh));
	r.disabl = cJSON_CreateArray();
	r.walk = cJSON_CreateArray();
	r.outbox = cJSON_CreateObject();
	r.late_ev = cJSON_CreateArray();
	root = cJSON_CreateObject();
	if (!r.sorted || !r.sh || !r.disabl || !r.walk || !r.outbox || !r.late_ev || !root) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (int s = 0; s < c->nsensors; s++) {
		r.sorted[s] = s;
		r.sh[s].online = -1;
		r.sh[s].battery = NAN;
	}
	qsort_r(r.sorted, (size_t)c->nsensors, sizeof(int), sensor_cmp_ctx, (void *)c);
	/* Read-only and never creating: a report must not change the file it
	 * reports on (nor make an empty one from a mistyped path). */
	if (sqlite3_open_v2(db_path, &r.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open the database: %s", db_path,
		         r.db ? sqlite3_errmsg(r.db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(r.db, 5000);
	/* The report reads each page once, in order: SQLite's default 2 MB
	 * page cache would only hold a year of events in the daemon's memory
	 * while the daily self-check runs (the kernel caches the file anyway). */
	sqlite3_exec(r.db, "PRAGMA cache_size=-256", NULL, NULL, NULL);
	/* One read transaction: every section sees the same moment. */
	if (sqlite3_exec(r.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db_path, sqlite3_errmsg(r.db));
		goto out;
	}
	for (int i = 0; i < cr->n; i++)
		if (cr->v[i].type == CK_OUTBOX)
			max_minutes = cr->v[i].n[0];
	for (int i = 0; i < cr->n; i++)
		if (cr->v[i].type == CK_SIREN_TEST &&
		    read_siren_tests(&r, from_ms - (int64_t)(cr->v[i].n[0] * 86400000.0), err,
		                     errlen) < 0)
			goto out;
	if (read_alarms(&r, err, errlen) < 0 || read_prior(&r, err, errlen) < 0 ||
	    read_events(&r, err, errlen) < 0 || read_walk_tests(&r, err, errlen) < 0 ||
	    read_disablements(&r, err, errlen) < 0 || read_outbox(&r, max_minutes, err, errlen) < 0)
		goto out;
	add_site(&r, root, now_ms);
	if (!auto_only)
		add_inventory(&r, root);
	add_criteria(&r, root, db_path);
	if (!auto_only)
		add_history(&r, root);
	if (r.inspection) {
		cJSON_AddItemToObject(root, "inspection", r.inspection);
		r.inspection = NULL;
	} else {
		cJSON_AddNullToObject(root, "inspection");
	}
	log = cJSON_AddObjectToObject(root, "log");
	rep_verify(&r, db_path);
	if (r.vr_rc < 0) {
		cJSON_AddNullToObject(log, "verified");
		cJSON_AddNullToObject(log, "head");
	} else {
		cJSON *h;
		cJSON_AddBoolToObject(log, "verified", r.vr.ok);
		h = cJSON_AddObjectToObject(log, "head");
		cJSON_AddNumberToObject(h, "row", (double)r.vr.head_row);
		cJSON_AddStringToObject(h, "hash", r.vr.head_hash);
		if (!r.vr.ok) {
			cJSON_AddNumberToObject(log, "first_bad_row", (double)r.vr.first_bad_row);
			cJSON_AddStringToObject(log, "reason", r.vr.reason);
		}
	}
	out = root;
	root = NULL;
out:
	if (r.db) {
		sqlite3_exec(r.db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(r.db);
	}
	if (out) {
		/* The sections added by reference become copies the report owns. */
		const char *refs[] = {"disablements", "walk_tests", "outbox", NULL};
		for (int i = 0; refs[i]; i++) {
			cJSON *ref = cJSON_GetObjectItemCaseSensitive(out, refs[i]);
			if (ref && (ref->type & cJSON_IsReference))
				cJSON_ReplaceItemInObject(out, refs[i], cJSON_Duplicate(ref, 1));
		}
	}
	cJSON_Delete(root);
	for (int i = 0; i < r.nal; i++)
		cJSON_Delete(r.al[i].false_alarm);
	for (int s = 0; r.sh && s < c->nsensors; s++)
		cJSON_Delete(r.sh[s].points);
	free(r.al);
	free(r.siren);
	free(r.sh);
	free(r.sorted);
	cJSON_Delete(r.inspection);
	cJSON_Delete(r.disabl);
	cJSON_Delete(r.walk);
	cJSON_Delete(r.outbox);
	cJSON_Delete(r.late_ev);
	return out;
}

/* ---- text ------------------------------------------------------------------ */

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "-";
}

static double jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int compliance_render_text(const cJSON *rp, FILE *f)
{
	const cJSON *site = cJSON_GetObjectItemCaseSensitive(rp, "site");
	const cJSON *period = cJSON_GetObjectItemCaseSensitive(rp, "period");
	const cJSON *sum = cJSON_GetObjectItemCaseSensitive(rp, "summary"), *e, *x;
	int en = !strcmp(jstr(rp, "language"), "en");
#define T(vi, en_) (en ? (en_) : (vi))
	static const char *const res_vi[] = {"ĐẠT", "KHÔNG ĐẠT", "CHƯA KIỂM TRA"};
	static const char *const res_en[] = {"PASS", "FAIL", "NOT CHECKED"};

	fprintf(f, "%s\n",
	        T("BÁO CÁO AN TOÀN PHÒNG CHÁY CHỮA CHÁY", "FIRE SAFETY COMPLIANCE REPORT"));
	fprintf(f, "%s: %s (%s)\n", T("Cơ sở", "Site"), jstr(site, "name"), jstr(site, "id"));
	fprintf(f, "%s: %s\n", T("Địa chỉ", "Address"), jstr(site, "address"));
	fprintf(f, "%s: %s\n", T("Điện thoại", "Phone"), jstr(site, "phone"));
	fprintf(f, "%s: %s .. %s\n", T("Kỳ báo cáo", "Period"), jstr(period, "from"),
	        jstr(period, "to"));
	fprintf(f, "%s: %s\n\n", T("Lập lúc", "Generated"), jstr(rp, "generated_at"));
	fprintf(f, "%s: %.0f %s, %.0f %s, %.0f %s\n\n", T("Tổng kết", "Summary"),
	        jnum(sum, "passed"), T("đạt", "passed"), jnum(sum, "failed"),
	        T("không đạt", "failed"), jnum(sum, "not_checked"),
	        T("chưa kiểm tra", "not checked"));
	fprintf(f, "%s\n", T("TIÊU CHÍ", "CRITERIA"));
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rp, "criteria"))
	{
		const char *res = jstr(e, "result");
		int k = !strcmp(res, "pass") ? 0 : !strcmp(res, "fail") ? 1 : 2;
		fprintf(f, "  [%s] %s: %s%s\n", en ? res_en[k] : res_vi[k], jstr(e, "id"),
		        jstr(e, "text"),
		        !strcmp(jstr(e, "kind"), "manual") ? T(" (kiểm tra tại chỗ)", " (on site)")
		                                           : "");
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(e, "evidence"))
		{
			if (cJSON_IsString(x))
				fprintf(f, "      - %s\n", x->valuestring);
		}
	}
	if (cJSON_GetObjectItemCaseSensitive(rp, "inventory")) {
		fprintf(f, "\n%s\n", T("THIẾT BỊ THEO KHU VỰC", "INVENTORY BY ZONE"));
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rp, "inventory"))
		{
			fprintf(f, "  %s (%s), %s %.0f, %s\n", jstr(e, "zone_name"),
			        jstr(e, "zone"), T("tầng", "floor"), jnum(e, "floor"),
			        jstr(e, "kind"));
			cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(e, "sensors"))
			{
				const cJSON *on = cJSON_GetObjectItemCaseSensitive(x, "online");
				fprintf(f, "      %s %s (%s)", jstr(x, "kind"), jstr(x, "id"),
				        jstr(x, "name"));
				if (jnum(x, "battery") >= 0)
					fprintf(f, T(", pin %.0f %%", ", battery %.0f %%"),
					        jnum(x, "battery"));
				if (cJSON_IsBool(on))
					fprintf(f, ", %s",
					        cJSON_IsTrue(on) ? T("kết nối", "online")
					                         : T("mất kết nối", "offline"));
				fputc('\n', f);
			}
			cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(e, "outputs"))
			{
				fprintf(f, "      %s %s\n", jstr(x, "kind"), jstr(x, "id"));
			}
		}
	}
	if (cJSON_GetObjectItemCaseSensitive(rp, "alarms")) {
		fprintf(f, "\n%s\n", T("BÁO ĐỘNG", "ALARMS"));
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rp, "alarms"))
		{
			const cJSON *fa = cJSON_GetObjectItemCaseSensitive(e, "false_alarm");
			fprintf(f, "  #%.0f %s %s %s: %s", jnum(e, "id"), jstr(e, "raised_at"),
			        jstr(e, "class"), jstr(e, "zone_name"), T("xác nhận", "acked"));
			if (jnum(e, "ack_s") >= 0)
				fprintf(f, " %.0f s (%s)", jnum(e, "ack_s"), jstr(e, "acked_by"));
			else
				fprintf(f, " -");
			fprintf(f, ", %s", T("đặt lại", "reset"));
			if (jnum(e, "reset_s") >= 0)
				fprintf(f, " %.0f s (%s)\n", jnum(e, "reset_s"),
				        jstr(e, "reset_by"));
			else
				fprintf(f, " -\n");
			if (cJSON_IsObject(fa))
				fprintf(f, "      %s %s: %s\n",
				        T("báo nhầm, theo", "false alarm, marked by"),
				        jstr(fa, "by"), jstr(fa, "reason"));
		}
		fprintf(f, "\n%s\n", T("SỰ CỐ", "FAULTS"));
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rp, "faults"))
		{
			fprintf(f, "  %s %s: %s (%.0f s)\n", jstr(e, "from"), jstr(e, "sensor"),
			        jstr(e, "message"), jnum(e, "duration_s"));
		}
		fprintf(f, "\n%s\n", T("TẠM NGẮT", "DISABLEMENTS"));
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rp, "disablements"))
		{
			fprintf(f, "  %s %s .. %s %s %s: %s\n", jstr(e, "sensor"), jstr(e, "from"),
			        jstr(e, "to"), T("bởi", "by"), jstr(e, "by"), jstr(e, "reason"));
		}
		fprintf(f, "\n%s\n", T("THỬ THIẾT BỊ", "WALK TESTS"));
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rp, "walk_tests"))
		{
			fprintf(f, "  %s %s (%s)\n", jstr(e, "at"), jstr(e, "sensor"),
			        jstr(e, "by"));
		}
		x = cJSON_GetObjectItemCaseSensitive(rp, "upstream");
		fprintf(f, "\n%s: ", T("KẾT NỐI TRUNG TÂM", "UPSTREAM LINK"));
		if (jnum(x, "availability") >= 0)
			fprintf(f, "%.2f %%, %s %.0f s\n", jnum(x, "availability"),
			        T("mất", "down"), jnum(x, "down_s"));
		else
			fprintf(f, "%s\n", T("không có ghi nhận", "no record"));
		x = cJSON_GetObjectItemCaseSensitive(rp, "outbox");
		fprintf(f, "%s: %.0f %s, %.0f %s, %.0f %s\n", T("TIN GỬI ĐI", "OUTBOX"),
		        jnum(x, "delivered"), T("đã gửi", "delivered"), jnum(x, "pending"),
		        T("đang chờ", "pending"), jnum(x, "failed"), T("lỗi", "failed"));
	}
	x = cJSON_GetObjectItemCaseSensitive(rp, "inspection");
	if (cJSON_IsObject(x)) {
		fprintf(f, "\n%s: %s, %s .. %s\n", T("KIỂM TRA TẠI CHỖ", "INSPECTION"),
		        jstr(x, "by"), jstr(x, "started_at"), jstr(x, "finished_at"));
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(x, "results"))
		{
			fprintf(f, "  %s %s %s%s%s\n", jstr(e, "at"), jstr(e, "criterion"),
			        jstr(e, "result"), strcmp(jstr(e, "note"), "") ? ": " : "",
			        jstr(e, "note"));
		}
	}
	x = cJSON_GetObjectItemCaseSensitive(rp, "log");
	{
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, "verified");
		fprintf(f, "\n%s: %s\n", T("NHẬT KÝ SỰ KIỆN", "EVENT LOG"),
		        cJSON_IsTrue(v)    ? T("toàn vẹn", "verified")
		        : cJSON_IsFalse(v) ? T("BỊ SỬA ĐỔI", "DOES NOT VERIFY")
		                           : T("chưa kiểm tra", "not checked"));
	}
#undef T
	return ferror(f) ? -1 : 0;
}

int compliance_write(const cJSON *report, const char *format, FILE *out)
{
	if (!strcmp(format, "text"))
		return compliance_render_text(report, out);
	if (!strcmp(format, "html"))
		return report_html(report, out);
	if (!strcmp(format, "json")) {
		char *s = cJSON_Print(report);
		if (!s)
			return -1;
		fputs(s, out);
		fputc('\n', out);
		free(s);
		return ferror(out) ? -1 : 0;
	}
	return -2;
}
