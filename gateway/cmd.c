/*
 * cmd.c: the daemon's command handlers, one per row of commands.def.
 */
#include "cmd.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "compliance.h"
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "messages.h"
#include "outbox.h"
#include "loop.h"
#include "bus.h"
#include "shape.h"
#include "panel.h"
#include "registry.h"
#include "selfcheck.h"
#include "status.h"
#include "store.h"
#include "users.h"

typedef cJSON *(*cmd_handler)(struct cmd_ctx *c, const cJSON *req, const char *by);

#define CMD(name, ...)                                                                             \
	static cJSON *cmd_##name(struct cmd_ctx *c, const cJSON *req, const char *by);
#include "commands.def"
#undef CMD

static const cmd_handler handlers[CMD__COUNT] = {
#define CMD(name, ...) cmd_##name,
#include "commands.def"
#undef CMD
};

cJSON *cmd_error(const char *fmt, const char *arg)
{
	char msg[512];
	cJSON *r = cJSON_CreateObject();
	snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
	cJSON_AddBoolToObject(r, "ok", 0);
	cJSON_AddStringToObject(r, "error", msg);
	return r;
}

static cJSON *ok_reply(void)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddBoolToObject(r, "ok", 1);
	return r;
}

static void after(struct cmd_ctx *c)
{
	if (c->after)
		c->after(c->arg);
}

/* "id": a positive integer, or absent when optional. */
static int get_alarm_id(const cJSON *req, int optional, int64_t *id)
{
	const cJSON *v = cJSON_GetObjectItem(req, "id");
	if (!v && optional) {
		*id = 0;
		return 0;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 9e15 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	*id = (int64_t)v->valuedouble;
	return 0;
}

static const char *get_by(const cJSON *req, int *bad)
{
	const cJSON *by = cJSON_GetObjectItem(req, "by");
	*bad = by && (!cJSON_IsString(by) || !by->valuestring[0] || strlen(by->valuestring) > 63);
	return cJSON_IsString(by) && !*bad ? by->valuestring : "safehousectl";
}

/* ---- reading -------------------------------------------------------------- */

static cJSON *cmd_status(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	(void)req;
	(void)by;
	return status_build(c->status, 1);
}

struct alarm_list {
	cJSON *arr;
	const struct config *cfg;
	const struct panel *panel;
};

static void add_alarm_row(void *ctx, const struct store_alarm *a)
{
	struct alarm_list *l = ctx;
	struct shape_alarm_live live;
	panel_alarm_live(l->panel, a->id, &live);
	cJSON_AddItemToArray(l->arr, shape_alarm(a, l->cfg, &live));
}

/* alarms [--all]: the panel's active alarms, or the store's recent ones. */
static cJSON *cmd_alarms(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	cJSON *r = ok_reply();
	(void)by;
	if (cJSON_IsTrue(cJSON_GetObjectItem(req, "all"))) {
		struct alarm_list l = {cJSON_AddArrayToObject(r, "alarms"), c->cfg, c->panel};
		store_alarm_foreach(c->store, 0, 200, add_alarm_row, &l);
	} else {
		cJSON_AddItemToObject(r, "alarms", panel_alarms_json(c->panel));
	}
	return r;
}

/* sensors [--zone Z]: what the registry knows of each sensor. */
static cJSON *cmd_sensors(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const cJSON *zone = cJSON_GetObjectItem(req, "zone");
	cJSON *r, *arr;
	int zf = -1;
	(void)by;
	if (zone) {
		if (!cJSON_IsString(zone) ||
		    (zf = config_zone_index(c->cfg, zone->valuestring)) < 0)
			return cmd_error("sensors: unknown zone \"%s\"",
			                 cJSON_IsString(zone) ? zone->valuestring : "?");
	}
	r = ok_reply();
	arr = cJSON_AddArrayToObject(r, "sensors");
	for (int s = 0; s < c->cfg->nsensors; s++)
		if (zf < 0 || c->cfg->sensors[s].zone == zf)
			cJSON_AddItemToArray(arr, shape_sensor(c->cfg, c->reg, s,
			                                       panel_sensor_disabled(c->panel, s)));
	return r;
}

static void add_event_row(void *ctx, const char *at, const char *origin, const char *type,
                          const char *sensor, const char *point, int has_value, double value,
                          const char *detail)
{
	cJSON_AddItemToArray(
	    ctx, shape_event(at, origin, type, sensor, point, has_value, value, detail));
}

/* events [--since]: "since_ms" (UTC epoch ms), "limit" (1..5000). */
static cJSON *cmd_events(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const cJSON *since = cJSON_GetObjectItem(req, "since_ms");
	const cJSON *limit = cJSON_GetObjectItem(req, "limit");
	int64_t from = loop_wall_ms() - 3600 * 1000;
	int n = 200;
	cJSON *r;
	(void)by;
	if (since) {
		if (!cJSON_IsNumber(since) || since->valuedouble < 0)
			return cmd_error("events: \"since_ms\" must be a time in ms", NULL);
		from = (int64_t)since->valuedouble;
	}
	if (limit) {
		if (!cJSON_IsNumber(limit) || limit->valuedouble < 1 || limit->valuedouble > 5000)
			return cmd_error("events: \"limit\" must be 1 to 5000", NULL);
		n = (int)limit->valuedouble;
	}
	r = ok_reply();
	store_events_foreach(c->store, from, n, add_event_row, cJSON_AddArrayToObject(r, "events"));
	return r;
}

struct outbox_list {
	cJSON *arr;
	const struct cmd_ctx *c;
};

static void add_time(cJSON *o, const char *k, int64_t ms)
{
	char at[32];
	if (ms <= 0) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	store_format_time(ms, at, sizeof(at));
	cJSON_AddStringToObject(o, k, at);
}

static int add_outbox_row(void *ctx, const struct store_outbox_row *r)
{
	struct outbox_list *l = ctx;
	cJSON *o = cJSON_CreateObject();
	const char *why = NULL;
	cJSON_AddNumberToObject(o, "seq", (double)r->seq);
	cJSON_AddStringToObject(o, "channel", r->channel ? r->channel : "");
	if (r->contact)
		cJSON_AddStringToObject(o, "contact", r->contact);
	else
		cJSON_AddNullToObject(o, "contact");
	cJSON_AddStringToObject(o, "kind", r->kind ? r->kind : "");
	if (r->alarm > 0)
		cJSON_AddNumberToObject(o, "alarm", (double)r->alarm);
	else
		cJSON_AddNullToObject(o, "alarm");
	cJSON_AddNumberToObject(o, "step", r->step + 1);
	cJSON_AddStringToObject(o, "state", store_outbox_state_name(r->state));
	if (r->created_at)
		cJSON_AddStringToObject(o, "created_at", r->created_at);
	add_time(o, "due", r->due_ms);
	cJSON_AddNumberToObject(o, "tries", r->tries);
	add_time(o, "next_try", r->state == OUTBOX_PENDING ? r->next_try_ms : 0);
	if (r->last_error)
		cJSON_AddStringToObject(o, "last_error", r->last_error);
	else
		cJSON_AddNullToObject(o, "last_error");
	if (r->delivered_at)
		cJSON_AddStringToObject(o, "delivered_at", r->delivered_at);
	else
		cJSON_AddNullToObject(o, "delivered_at");
	cJSON_AddBoolToObject(o, "durable", r->durable);
	/* Why a row waits: its channel is missing or at fault. */
	if (r->state == OUTBOX_PENDING && r->channel && strcmp(r->channel, "upstream") != 0 &&
	    l->c->status && l->c->status->outbox)
		why = outbox_why(l->c->status->outbox, r->channel);
	if (why)
		cJSON_AddStringToObject(o, "waiting", why);
	/* Newest first from the store; people read them oldest first. */
	cJSON_InsertItemInArray(l->arr, 0, o);
	return 0;
}

/* outbox [--all]: every pending message (and recent finished ones). */
static cJSON *cmd_outbox(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	int all = cJSON_IsTrue(cJSON_GetObjectItem(req, "all"));
	cJSON *r = ok_reply();
	struct outbox_list l = {cJSON_AddArrayToObject(r, "outbox"), c};
	(void)by;
	store_outbox_list(c->store, all, all ? 200 : 1000, add_outbox_row, &l);
	return r;
}

/* ---- alarms ----------------------------------------------------------------- */

static cJSON *cmd_reset(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	char why[256];
	int64_t id;
	int rc;
	cJSON *r;
	if (get_alarm_id(req, 0, &id) < 0)
		return cmd_error("reset: \"id\" must be a positive alarm number", NULL);
	rc = panel_reset(c->panel, id, by, loop_mono_ms(), loop_wall_ms(), why, sizeof(why));
	after(c);
	if (rc < 0)
		return cmd_error("reset refused: %s", why);
	r = ok_reply();
	cJSON_AddNumberToObject(r, "id", (double)id);
	cJSON_AddStringToObject(r, "state", "reset");
	return r;
}

static cJSON *cmd_ack(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	char why[256];
	int64_t id;
	int rc;
	cJSON *r;
	if (get_alarm_id(req, 1, &id) < 0)
		return cmd_error("ack: \"id\" must be a positive alarm number", NULL);
	rc = panel_ack(c->panel, id, by, loop_mono_ms(), loop_wall_ms(), why, sizeof(why));
	after(c);
	if (rc < 0)
		return cmd_error("ack refused: %s", why);
	r = ok_reply();
	cJSON_AddNumberToObject(r, "acknowledged", rc);
	return r;
}

static cJSON *cmd_silence(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	int rc;
	cJSON *r;
	(void)req;
	rc = panel_silence(c->panel, by, loop_mono_ms(), loop_wall_ms());
	after(c);
	r = ok_reply();
	cJSON_AddNumberToObject(r, "silenced", rc);
	return r;
}

/* ---- modes and service ------------------------------------------------------ */

static cJSON *set_mode(struct cmd_ctx *c, enum sh_mode m, const cJSON *req, const char *by)
{
	char why[256];
	int rc;
	cJSON *r;
	rc = panel_arm(c->panel, m, cJSON_IsTrue(cJSON_GetObjectItem(req, "force")), by,
	               loop_wall_ms(), why, sizeof(why));
	after(c);
	if (rc < 0)
		return cmd_error("arming refused: %s", why);
	r = ok_reply();
	cJSON_AddStringToObject(r, "mode", sh_mode_name(panel_mode(c->panel)));
	return r;
}

static cJSON *cmd_arm(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const cJSON *mode = cJSON_GetObjectItem(req, "mode");
	char name[32];
	int m;
	if (!cJSON_IsString(mode) || strlen(mode->valuestring) > 20)
		return cmd_error("arm: \"mode\" must be home, night or away", NULL);
	snprintf(name, sizeof(name), "armed_%s", mode->valuestring);
	m = sh_mode_from_name(name);
	if (m < 0 || m == MODE_DISARMED)
		return cmd_error("arm: unknown mode \"%s\" (home, night or away)",
		                 mode->valuestring);
	return set_mode(c, (enum sh_mode)m, req, by);
}

static cJSON *cmd_disarm(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	return set_mode(c, MODE_DISARMED, req, by);
}

/* "target": a sensor or zone id. */
static const char *get_target(const cJSON *req)
{
	const cJSON *target = cJSON_GetObjectItem(req, "target");
	if (!cJSON_IsString(target) || !target->valuestring[0] ||
	    strlen(target->valuestring) >= SH_ID_MAX)
		return NULL;
	return target->valuestring;
}

static cJSON *cmd_disable(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const char *target = get_target(req);
	const cJSON *f = cJSON_GetObjectItem(req, "for_s");
	const cJSON *reason = cJSON_GetObjectItem(req, "reason");
	char why[256];
	int rc;
	if (!target)
		return cmd_error("%s: \"target\" must be a sensor or zone id", "disable");
	if (!cJSON_IsNumber(f) || f->valuedouble < 1 || f->valuedouble > 7 * 86400)
		return cmd_error("disable: \"for_s\" must be 1 s to 7 days", NULL);
	if (!cJSON_IsString(reason) || !reason->valuestring[0] || strlen(reason->valuestring) > 120)
		return cmd_error("disable: a \"reason\" (1 to 120 characters) is required", NULL);
	rc = panel_disable(c->panel, target, (int64_t)f->valuedouble * 1000, reason->valuestring,
	                   by, loop_wall_ms(), why, sizeof(why));
	after(c);
	return rc < 0 ? cmd_error("%s", why) : ok_reply();
}

static cJSON *cmd_enable(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const char *target = get_target(req);
	char why[256];
	int rc;
	if (!target)
		return cmd_error("%s: \"target\" must be a sensor or zone id", "enable");
	rc = panel_enable(c->panel, target, by, loop_wall_ms(), why, sizeof(why));
	after(c);
	return rc < 0 ? cmd_error("%s", why) : ok_reply();
}

/* test start [zone] [sirens] | test stop: the walk test. */
static cJSON *cmd_test(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const cJSON *action = cJSON_GetObjectItem(req, "action");
	const cJSON *zone = cJSON_GetObjectItem(req, "zone");
	char why[256];
	int rc;
	if (cJSON_IsString(action) && strcmp(action->valuestring, "start") == 0) {
		if (zone && (!cJSON_IsString(zone) || strlen(zone->valuestring) >= SH_ID_MAX))
			return cmd_error("test: \"zone\" must be a zone id", NULL);
		rc = panel_test_start(c->panel, zone ? zone->valuestring : NULL,
		                      cJSON_IsTrue(cJSON_GetObjectItem(req, "sirens")), by,
		                      loop_mono_ms(), loop_wall_ms(), why, sizeof(why));
	} else if (cJSON_IsString(action) && strcmp(action->valuestring, "stop") == 0) {
		rc = panel_test_stop(c->panel, by, loop_wall_ms());
		snprintf(why, sizeof(why), "no walk test is running");
	} else if (cJSON_IsString(action) && strcmp(action->valuestring, "output") == 0) {
		const cJSON *out = cJSON_GetObjectItem(req, "output");
		const cJSON *secs = cJSON_GetObjectItem(req, "seconds");
		int s = 3;
		if (!cJSON_IsString(out) || !out->valuestring[0] ||
		    strlen(out->valuestring) >= SH_ID_MAX)
			return cmd_error("test: \"output\" must be an output id", NULL);
		if (secs && (!cJSON_IsNumber(secs) || secs->valuedouble < 1 ||
		             secs->valuedouble > 30 || secs->valuedouble != (int)secs->valuedouble))
			return cmd_error("test: \"seconds\" must be a whole number from 1 to 30",
			                 NULL);
		if (secs)
			s = (int)secs->valuedouble;
		rc = panel_test_output(c->panel, out->valuestring, s, by, loop_wall_ms(), why,
		                       sizeof(why));
	} else {
		return cmd_error("test: \"action\" must be start, stop or output", NULL);
	}
	after(c);
	if (rc < 0)
		return cmd_error("test: %s", why);
	return ok_reply();
}

/* ---- installer tools -------------------------------------------------------- */

/* modbus scan BUS [from to] | modbus read BUS UNIT TABLE ADDRESS [COUNT]:
 * done by the bus's worker; the reply comes when it has the answer. */
static cJSON *cmd_modbus(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const char *action = cJSON_GetStringValue(cJSON_GetObjectItem(req, "action"));
	const char *bus = cJSON_GetStringValue(cJSON_GetObjectItem(req, "bus"));
	const cJSON *n;
	char why[160];
	int v[5] = {1, 247, 0, 0, 1}, rc;
	static const char *const keys[] = {"from", "to", "unit", "address", "count"};
	uint64_t token;
	(void)by;
	if (!action || !bus)
		return cmd_error("modbus: \"action\" (scan, read) and \"bus\" are needed", NULL);
	for (int i = 0; i < 5; i++) {
		n = cJSON_GetObjectItem(req, keys[i]);
		if (n && (!cJSON_IsNumber(n) || n->valuedouble != (int)n->valuedouble))
			return cmd_error("modbus: \"%s\" must be a whole number", keys[i]);
		if (n)
			v[i] = (int)n->valuedouble;
	}
	token = ctl_defer(c->ctl);
	if (strcmp(action, "scan") == 0) {
		rc = buses_scan(c->buses, bus, v[0], v[1], token, why, sizeof(why));
	} else if (strcmp(action, "read") == 0) {
		const char *table = cJSON_GetStringValue(cJSON_GetObjectItem(req, "table"));
		static const char *const tables[] = {"discrete_input", "coil", "input_register",
		                                     "holding_register"};
		int t = -1;
		for (int i = 0; table && i < 4; i++)
			if (strcmp(tables[i], table) == 0)
				t = i;
		if (t < 0) {
			snprintf(why, sizeof(why),
			         "table is discrete_input, coil, input_register or "
			         "holding_register");
			rc = -1;
		} else {
			rc =
			    buses_read(c->buses, bus, v[2], t, v[3], v[4], token, why, sizeof(why));
		}
	} else {
		snprintf(why, sizeof(why), "unknown action \"%s\" (scan, read)", action);
		rc = -1;
	}
	if (rc < 0)
		ctl_reply(c->ctl, token, cmd_error("modbus: %s", why));
	return CTL_DEFERRED;
}

/* users list|add|del|passwd. */
static cJSON *cmd_users(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const cJSON *action = cJSON_GetObjectItem(req, "action");
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(req, "name"));
	const char *role = cJSON_GetStringValue(cJSON_GetObjectItem(req, "role"));
	const char *pin = cJSON_GetStringValue(cJSON_GetObjectItem(req, "pin"));
	const char *duress = cJSON_GetStringValue(cJSON_GetObjectItem(req, "duress_pin"));
	char why[256], msg[160];
	int rc;
	cJSON *r;
	if (!cJSON_IsString(action))
		return cmd_error("users: \"action\" must be list, add, del or passwd", NULL);
	if (strcmp(action->valuestring, "list") == 0) {
		r = ok_reply();
		cJSON_AddItemToObject(r, "users", users_json(c->users));
		return r;
	}
	if (strcmp(action->valuestring, "add") == 0)
		rc = users_add(c->users, name, role, pin, duress, loop_wall_ms(), why, sizeof(why));
	else if (strcmp(action->valuestring, "del") == 0)
		rc = users_del(c->users, name, loop_wall_ms(), why, sizeof(why));
	else if (strcmp(action->valuestring, "passwd") == 0)
		rc = users_passwd(c->users, name, pin, duress, loop_wall_ms(), why, sizeof(why));
	else
		return cmd_error("users: unknown action \"%s\" (list, add, del, passwd)",
		                 action->valuestring);
	if (rc < 0)
		return cmd_error("users: %s", why);
	snprintf(msg, sizeof(msg), "user %s: %s by %s", name, action->valuestring, by);
	store_event(c->store, loop_wall_ms(), by, "command", NULL, NULL, 0, 0, msg);
	log_notice("%s", msg);
	return ok_reply();
}

/* ---- compliance -------------------------------------------------------------- */

struct report_wait {
	struct ctl *ctl;
	struct selfcheck *sc;
	uint64_t token;
	int64_t from, to;
	int lang;
};

static void report_done(void *ctx, cJSON *report, const char *err)
{
	struct report_wait *w = ctx;
	cJSON *r;
	if (report) {
		r = ok_reply();
		cJSON_AddItemToObject(r, "report", report);
	} else {
		r = cmd_error("report: %s", err);
	}
	ctl_reply(w->ctl, w->token, r);
	free(w);
}

/* Everything written before the request is committed: now the report's
 * own connection sees it. */
static void report_committed(void *ctx, int rc)
{
	struct report_wait *w = ctx;
	(void)rc; /* a refused write is reported by the status; read what is there */
	if (selfcheck_report(w->sc, w->from, w->to, w->lang, report_done, w) < 0) {
		ctl_reply(w->ctl, w->token,
		          cmd_error("report: %s", "busy (reports already running); try again"));
		free(w);
	}
}

/* report: read on the self-check's thread, never on the loop's (it reads
 * months of history); the reply comes when it is done. */
static cJSON *cmd_report(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const cJSON *from = cJSON_GetObjectItem(req, "from_ms"),
	            *to = cJSON_GetObjectItem(req, "to_ms");
	const char *lang = cJSON_GetStringValue(cJSON_GetObjectItem(req, "lang"));
	struct report_wait *w;
	(void)by;
	if (!cJSON_IsNumber(from) || !cJSON_IsNumber(to) || to->valuedouble <= from->valuedouble)
		return cmd_error("report: \"from_ms\" and \"to_ms\" (UTC ms, to after from) are "
		                 "needed",
		                 NULL);
	if (lang && strcmp(lang, "vi") && strcmp(lang, "en"))
		return cmd_error("report: \"lang\" is vi or en, not \"%s\"", lang);
	if (!c->selfcheck)
		return cmd_error("report: unavailable (the report thread could not start; see the "
		                 "log)",
		                 NULL);
	w = calloc(1, sizeof(*w));
	if (!w)
		return cmd_error("report: out of memory", NULL);
	w->ctl = c->ctl;
	w->sc = c->selfcheck;
	w->from = (int64_t)from->valuedouble;
	w->to = (int64_t)to->valuedouble;
	w->lang = lang ? (strcmp(lang, "en") ? LANG_VI : LANG_EN) : c->cfg->site.language;
	w->token = ctl_defer(c->ctl);
	if (store_commit_then(c->store, report_committed, w) < 0)
		report_committed(w, -1);
	return CTL_DEFERRED;
}

#define INSPECT_KEY "inspection"
/* The inspector of the inspection in progress ("": none). One daemon per
 * process, so one inspection per process. */
static char inspecting[64];
static int inspecting_loaded;

/* inspect start|result|finish: the inspector's checklist. The inspection
 * in progress (its inspector) is kept in the store's state, so a restart
 * does not lose it; each step is an "inspect" event, which the report
 * reads. Any criterion may be judged: a manual one takes the verdict, an
 * automatic one gets it as evidence (a "fail" overrides its own). */
static cJSON *cmd_inspect(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const char *action = cJSON_GetStringValue(cJSON_GetObjectItem(req, "action"));
	const char *crit = cJSON_GetStringValue(cJSON_GetObjectItem(req, "criterion"));
	const char *result = cJSON_GetStringValue(cJSON_GetObjectItem(req, "result"));
	const cJSON *note = cJSON_GetObjectItem(req, "note");
	char *cur = inspecting, msg[512];
	cJSON *r;
	/* The store's state is what a restart reads back; this copy is what
	 * was written since (the writer thread may not have committed it). */
	if (!inspecting_loaded &&
	    store_state_get(c->store, INSPECT_KEY, inspecting, sizeof(inspecting)) < 0)
		inspecting[0] = 0;
	inspecting_loaded = 1;
	if (!action)
		return cmd_error("inspect: \"action\" must be start, result or finish", NULL);
	if (!strcmp(action, "start")) {
		const char *role = users_role(c->users, by);
		/* Only a code names the inspector: "by" alone is whatever the
		 * caller typed. */
		if (!cJSON_IsString(cJSON_GetObjectItem(req, "code")))
			return cmd_error(
			    "inspect start: the inspector's code is needed (--code PIN)", NULL);
		if (!role || strcmp(role, "inspector")) {
			snprintf(
			    msg, sizeof(msg),
			    "inspect start: %s is not an inspector (role %s); an inspector is a "
			    "user added with --role inspector",
			    by, role ? role : "none");
			return cmd_error("%s", msg);
		}
		if (cur[0]) {
			snprintf(
			    msg, sizeof(msg),
			    "inspect start: an inspection by %s is in progress (inspect finish "
			    "first)",
			    cur);
			return cmd_error("%s", msg);
		}
		store_state_set(c->store, INSPECT_KEY, by, loop_wall_ms());
		snprintf(inspecting, sizeof(inspecting), "%s", by);
		store_event(c->store, loop_wall_ms(), by, "inspect", NULL, NULL, 0, 0, "start");
		snprintf(msg, sizeof(msg), "inspection started by %s", by);
	} else if (!cur[0]) {
		return cmd_error("inspect: no inspection in progress (inspect start --by NAME "
		                 "--code PIN)",
		                 NULL);
	} else if (!strcmp(action, "finish")) {
		store_event(c->store, loop_wall_ms(), cur, "inspect", NULL, NULL, 0, 0, "finish");
		snprintf(msg, sizeof(msg), "inspection by %s finished", cur);
		store_state_set(c->store, INSPECT_KEY, "", loop_wall_ms());
		inspecting[0] = 0;
	} else if (!strcmp(action, "result")) {
		int nerr = 0, k;
		struct compliance_criteria *cr;
		if (!crit || !result || (strcmp(result, "pass") && strcmp(result, "fail")))
			return cmd_error("inspect: a criterion and pass or fail are needed", NULL);
		if (note && (!cJSON_IsString(note) || strlen(note->valuestring) > 400))
			return cmd_error("inspect: --note is a text of at most 400 bytes", NULL);
		/* A small file, read each time: what the report will judge by. */
		cr = compliance_criteria_load(c->cfg->criteria_file, NULL, NULL, &nerr);
		if (!cr)
			return cmd_error("inspect: the criteria file %s cannot be used (safehoused "
			                 "--check says why)",
			                 c->cfg->criteria_file);
		k = compliance_criterion_find(cr, crit);
		if (k < 0) {
			const char *hint = compliance_criterion_suggest(cr, crit);
			snprintf(msg, sizeof(msg), "inspect: unknown criterion \"%s\"%s%s%s", crit,
			         hint ? " (did you mean \"" : " (see the report for the ids)",
			         hint ? hint : "", hint ? "\"?)" : "");
			compliance_criteria_free(cr);
			return cmd_error("%s", msg);
		}
		compliance_criteria_free(cr);
		store_event(c->store, loop_wall_ms(), cur, "inspect", NULL, crit, 1,
		            !strcmp(result, "pass"), note ? note->valuestring : NULL);
		snprintf(msg, sizeof(msg), "%s: %s (by %s)", crit, result, cur);
	} else {
		return cmd_error("inspect: unknown action \"%s\" (start, result, finish)", action);
	}
	log_notice("inspect: %s", msg);
	/* An inspection's record goes to the disk now, not with the next
	 * batch of telemetry. */
	store_commit_then(c->store, NULL, NULL);
	r = ok_reply();
	cJSON_AddStringToObject(r, "message", msg);
	return r;
}

/* ---- the event log ------------------------------------------------------------ */

struct verify_job {
	struct store_verify_result r;
	struct ctl *ctl;
	uint64_t token;
};

/* The verification is done (on the store's thread): answer the client. A
 * log that does not verify is a refusal, so that safehousectl exits 1;
 * the reply says which row and why either way. */
static void verify_done(void *ctx, int rc)
{
	struct verify_job *v = ctx;
	cJSON *r = cJSON_CreateObject(), *h;
	char msg[320];
	int ok = rc == 0 && v->r.ok;
	cJSON_AddBoolToObject(r, "ok", ok);
	if (!ok) {
		snprintf(
		    msg, sizeof(msg), "%s%s",
		    rc == 0 ? "the event log does not verify: " : "cannot verify: ", v->r.reason);
		cJSON_AddStringToObject(r, "error", msg);
		log_warn("verify: %s", msg);
	}
	cJSON_AddBoolToObject(r, "verified", ok);
	cJSON_AddNumberToObject(r, "rows", (double)v->r.rows);
	cJSON_AddNumberToObject(r, "unchained", (double)v->r.unchained);
	if (v->r.pruned_ms) {
		char at[32];
		store_format_time(v->r.pruned_ms, at, sizeof(at));
		cJSON_AddStringToObject(r, "pruned_through", at);
	}
	h = cJSON_AddObjectToObject(r, "head");
	cJSON_AddNumberToObject(h, "row", (double)v->r.head_row);
	cJSON_AddStringToObject(h, "hash", v->r.head_hash);
	if (ok) {
		cJSON_AddNullToObject(r, "first_bad_row");
		cJSON_AddNullToObject(r, "reason");
	} else {
		cJSON_AddNumberToObject(r, "first_bad_row", (double)v->r.first_bad_row);
		cJSON_AddStringToObject(r, "reason", v->r.reason);
	}
	ctl_reply(v->ctl, v->token, r);
	free(v);
}

/* verify: the whole log is read on the store's own thread (a year of events
 * takes a while); the loop goes on meanwhile. */
static cJSON *cmd_verify(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	struct verify_job *v = calloc(1, sizeof(*v));
	(void)req;
	(void)by;
	if (!v)
		return cmd_error("verify: out of memory", NULL);
	v->ctl = c->ctl;
	v->token = ctl_defer(c->ctl);
	if (store_verify(c->store, &v->r, verify_done, v) < 0) {
		ctl_reply(c->ctl, v->token, cmd_error("verify: cannot start a thread", NULL));
		free(v);
	}
	return CTL_DEFERRED;
}

/* false-alarm ID --reason TEXT: an event that marks the alarm; the alarm's
 * row is never changed (the record shows what happened, and then what
 * people said about it). */
static cJSON *cmd_false_alarm(struct cmd_ctx *c, const cJSON *req, const char *by)
{
	const cJSON *reason = cJSON_GetObjectItem(req, "reason");
	struct shape_alarm_live live;
	char idbuf[24], *detail;
	int64_t id;
	cJSON *d, *r;
	if (get_alarm_id(req, 0, &id) < 0)
		return cmd_error("false-alarm: \"id\" must be an alarm id", NULL);
	/* A code names the user: only the owner or the installer speaks for
	 * the house (a tenant's code opens the panel, not the record). Without
	 * a code the caller is on the gateway itself, in the control group. */
	if (c->code_user) {
		const char *role = users_role(c->users, by);
		char msg[200];
		if (!role || (strcmp(role, "owner") && strcmp(role, "installer"))) {
			snprintf(
			    msg, sizeof(msg),
			    "false-alarm: %s may not mark a false alarm (role %s); only an owner "
			    "or an installer may",
			    by, role ? role : "none");
			return cmd_error("%s", msg);
		}
	}
	if (!cJSON_IsString(reason) || !reason->valuestring[0] || strlen(reason->valuestring) > 500)
		return cmd_error("false-alarm: \"reason\" must be a text of 1 to 500 characters",
		                 NULL);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	/* The store has every alarm once written; the panel has one raised
	 * a moment ago whose row may still be on its way to the disk. */
	if (store_alarm_known(c->store, id) != 1 && panel_alarm_live(c->panel, id, &live) != 0)
		return cmd_error("false-alarm: there is no alarm %s (see 'safehousectl alarms "
		                 "--all')",
		                 idbuf);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "alarm", (double)id);
	cJSON_AddStringToObject(d, "by", by);
	cJSON_AddStringToObject(d, "reason", reason->valuestring);
	detail = cJSON_PrintUnformatted(d);
	cJSON_Delete(d);
	if (!detail)
		return cmd_error("false-alarm: out of memory", NULL);
	store_event(c->store, loop_wall_ms(), by, "false_alarm", NULL, NULL, 1, (double)id, detail);
	log_notice("alarm %s marked as a false alarm by %s: %s", idbuf, by, reason->valuestring);
	free(detail);
	r = ok_reply();
	cJSON_AddNumberToObject(r, "alarm", (double)id);
	return r;
}

/* ---- dispatch ---------------------------------------------------------------- */

int cmd_check_code(struct cmd_ctx *c, const char *name, const char *code, const char *by,
                   const char **user, int *duress, char *msg, size_t msglen)
{
	char why[256];
	int lock = 0;
	int rc = users_check(c->users, code, loop_mono_ms(), user, duress, &lock, why, sizeof(why));
	if (rc == 0)
		return 0;
	snprintf(msg, msglen, "%s refused: %s", name, why);
	store_event(c->store, loop_wall_ms(), by, "command", NULL, NULL, 0, 0, msg);
	log_warn("command: %s (claimed by %s)", msg, by);
	if (lock) {
		panel_raise(c->panel, ALARM_TAMPER, messages_get(c->cfg, MSG_KEYPAD_LOCKOUT),
		            loop_mono_ms(), loop_wall_ms());
		after(c);
	}
	return rc;
}

void cmd_duress(struct cmd_ctx *c)
{
	/* Nothing in the reply or the log line the person at the keypad
	 * sees tells it apart from a normal command. */
	panel_raise(c->panel, ALARM_PANIC, messages_get(c->cfg, MSG_DURESS), loop_mono_ms(),
	            loop_wall_ms());
	after(c);
}

/* One handler, as a user whose code was checked (cmd_run, the web panel's
 * session): the handlers that care about the role (false-alarm) ask it. */
static cJSON *run_checked(struct cmd_ctx *c, const struct command *cmd, const cJSON *req,
                          const char *user)
{
	cJSON *r;
	int was = c->code_user;
	c->code_user = 1;
	r = handlers[commands_id(cmd)](c, req, user);
	c->code_user = was;
	return r;
}

/* The code names the actor. Wrong codes count towards the lock-out (a
 * tamper alarm); a duress code does what was asked and raises a silent
 * panic alarm that calls the militia. */
cJSON *cmd_run(struct cmd_ctx *c, const cJSON *req, int from_mqtt)
{
	const char *name = cJSON_GetObjectItem(req, "cmd")->valuestring;
	const struct command *cmd = commands_lookup(name);
	const cJSON *code = cJSON_GetObjectItem(req, "code");
	const char *user = NULL;
	char who[80], msg[320];
	int bad, duress = 0;
	unsigned flags = cmd ? cmd->flags : 0; /* unknown: checked as a change */
	const char *by = get_by(req, &bad);
	cJSON *r;

	if (bad)
		return cmd_error("\"by\" must be a name of 1 to 63 characters", NULL);
	if (code && !cJSON_IsString(code))
		return cmd_error("\"code\" must be a string of digits", NULL);
	if (!code && from_mqtt && !(flags & CMD_READONLY))
		return cmd_error("%s: a user code is required", name);
	if (from_mqtt && cmd && !(flags & CMD_MQTT))
		return cmd_error("%s: only on the gateway itself, with safehousectl", name);
	if (code) {
		if (cmd_check_code(c, name, code->valuestring, by, &user, &duress, msg,
		                   sizeof(msg)) < 0)
			return cmd_error("%s", msg);
		snprintf(who, sizeof(who), "%s", user);
		by = who;
	}
	if (cmd && code) {
		r = run_checked(c, cmd, req, by);
	} else if (cmd) {
		r = handlers[commands_id(cmd)](c, req, by);
	} else {
		commands_unknown(name, msg, sizeof(msg));
		r = cmd_error("%s", msg);
	}
	if (duress)
		cmd_duress(c);
	return r;
}

cJSON *cmd_run_user(struct cmd_ctx *c, const cJSON *req, const char *user)
{
	const cJSON *name = cJSON_GetObjectItem(req, "cmd");
	const struct command *cmd =
	    cJSON_IsString(name) ? commands_lookup(name->valuestring) : NULL;
	char who[80];
	if (!cmd)
		return cmd_error("unknown command", NULL);
	/* The user may be deleted by the handler (users del): a copy. */
	snprintf(who, sizeof(who), "%s", user);
	return run_checked(c, cmd, req, who);
}

cJSON *cmd_mqtt_request(struct cmd_ctx *c, const void *payload, int len)
{
	cJSON *req = len > 0 && len < 8192 ? cJSON_ParseWithLength(payload, (size_t)len) : NULL;
	cJSON *r, *rid;
	if (!req || !cJSON_IsObject(req) || !cJSON_IsString(cJSON_GetObjectItem(req, "cmd")))
		r = cmd_error("a command is a JSON object with a string \"cmd\"", NULL);
	else
		r = cmd_run(c, req, 1);
	rid = req ? cJSON_GetObjectItem(req, "id") : NULL;
	if (rid && (cJSON_IsString(rid) || cJSON_IsNumber(rid)))
		cJSON_AddItemToObject(r, "request", cJSON_Duplicate(rid, 0));
	cJSON_Delete(req);
	return r;
}

void cmd_militia_ack(struct cmd_ctx *c, const char *topic, const void *payload, int len)
{
	cJSON *j = len > 0 && len < 4096 ? cJSON_ParseWithLength(payload, (size_t)len) : NULL;
	const cJSON *al = j ? cJSON_GetObjectItem(j, "alarm") : NULL;
	const cJSON *by = j ? cJSON_GetObjectItem(j, "by") : NULL;
	char why[256], who[80];
	if (!cJSON_IsNumber(al) || al->valuedouble < 1 ||
	    al->valuedouble != (double)(int64_t)al->valuedouble ||
	    (by && (!cJSON_IsString(by) || strlen(by->valuestring) > 63))) {
		log_warn("upstream: %s: expected {\"alarm\": ID, \"by\": \"name\"}; ignored",
		         topic);
		goto out;
	}
	snprintf(who, sizeof(who), "militia:%s", cJSON_IsString(by) ? by->valuestring : "?");
	if (panel_ack(c->panel, (int64_t)al->valuedouble, who, loop_mono_ms(), loop_wall_ms(), why,
	              sizeof(why)) < 0)
		log_notice("upstream: ack from %s not applied: %s", who, why);
	after(c);
out:
	cJSON_Delete(j);
}
