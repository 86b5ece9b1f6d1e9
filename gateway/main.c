/*
 * main.c: safehoused, the gateway daemon.
 *
 * One process, one event loop that owns all state. Data flows one way:
 * MQTT message -> ingest (decode) -> registry (last state) -> rules ->
 * panel (alarms) -> outputs (sirens, at once) and store + upstream (after
 * the commit).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "../rules/rules.h"
#include "config.h"
#include "ctl.h"
#include "engine.h"
#include "hass.h"
#include "ingest.h"
#include "log.h"
#include "loop.h"
#include "modbus.h"
#include "mqttc.h"
#include "outputs.h"
#include "panel.h"
#include "pidlock.h"
#include "registry.h"
#include "scenario.h"
#include "store.h"
#include "upstream.h"
#include "users.h"

#define SH_VERSION "0.1.0"
#define FLUSH_INTERVAL_MS 250
#define SENSOR_SNAPSHOT_MS 10000

struct daemon {
	char *config_path;
	struct config *cfg;
	struct ruleset *rules;
	struct loop *loop;
	struct store *store;
	struct registry *reg;
	struct ingest *ingest;
	/* local: the sensors' reports (persistent session, deferred acks);
	 * local_out: sirens, Home Assistant, commands and, without an upstream
	 * broker, the upstream feed: never held behind the acks. */
	struct mqttc *local, *local_out, *remote;
	struct outputs *outputs;
	struct upstream *up;
	struct panel *panel;
	struct ctl *ctl;
	int sigfd;
	int stop;
	int64_t started_mono;
	int flush_timer, snapshot_timer, hb_timer, status_timer, supervise_timer;
	struct engine *engine;
	int tick_timer;
	int64_t tick_due;
	/* Home Assistant: what was last published, to publish changes only. */
	signed char *hass_state, *hass_link; /* -1 unknown */
	char hass_panel[16];
	char hass_gateway[256];
	char hass_cmd_topic[SH_TOPIC_MAX];
	struct buses *buses;
	int64_t up_down_since;
	int link_fault;
	int store_fault;
	char ack_topic[SH_TOPIC_MAX];
	char command_topic[SH_TOPIC_MAX];
	struct users *users;
	int nrestored;
};

/* ---- diagnostics -------------------------------------------------------- */

struct diag_count {
	int errors, warnings;
	int to_log; /* 1: log (reload), 0: print to stderr (--check) */
};

static void diag_print(void *ctx, int severity, const char *msg)
{
	struct diag_count *d = ctx;
	if (severity == 0)
		d->errors++;
	else
		d->warnings++;
	if (d->to_log)
		log_msg(severity ? LOG_WARNING : LOG_ERR, "%s", msg);
	else
		fprintf(stderr, "%s%s\n", msg, severity ? " (warning)" : "");
}

/* Load config and rules together: both must be valid, or neither is used. */
static int load_all(const char *path, int to_log, struct config **cfg_out,
                    struct ruleset **rules_out, struct diag_count *d)
{
	struct config *cfg;
	struct ruleset *rs = NULL;
	struct rules_site site;
	int nerr = 0, nwarn = 0;

	memset(d, 0, sizeof(*d));
	d->to_log = to_log;
	cfg = config_load(path, diag_print, d, &nerr);
	if (!cfg)
		return -1;
	site.config = cfg;
	rs = rules_compile_files((const char *const *)cfg->rule_files, cfg->nrule_files, &site,
	                         diag_print, d, &nerr, &nwarn);
	if (!rs) {
		config_free(cfg);
		return -1;
	}
	*cfg_out = cfg;
	*rules_out = rs;
	return 0;
}

/* ---- status ------------------------------------------------------------- */

/* "store": whether the database takes writes; when it does not, why, since
 * when, and how much is held in memory for it. */
static void add_store_health(struct daemon *dm, cJSON *o)
{
	struct store_health h;
	cJSON *st = cJSON_AddObjectToObject(o, "store");
	char at[32];
	store_health(dm->store, &h);
	cJSON_AddBoolToObject(st, "ok", !h.failing);
	if (h.failing) {
		store_format_time(h.since_ms, at, sizeof(at));
		cJSON_AddStringToObject(st, "error", h.error);
		cJSON_AddStringToObject(st, "since", at);
	}
	cJSON_AddNumberToObject(st, "held", (double)h.held);
	cJSON_AddNumberToObject(st, "shed", (double)h.shed);
	cJSON_AddNumberToObject(st, "failures", (double)h.failures);
}

/* Sensors whose state (smoke detected, door open) is the one saved before
 * a restart and not reported since: shown as such, not as unknown. */
static void add_last_known(struct daemon *dm, cJSON *o)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "last_known");
	for (int s = 0; s < dm->cfg->nsensors; s++) {
		enum sh_point pp = sh_kind_primary_point(dm->cfg->sensors[s].kind);
		double v;
		cJSON *it;
		if (pp == POINT__COUNT || !registry_restored(dm->reg, s, pp) ||
		    registry_get(dm->reg, s, pp, &v) < 0)
			continue;
		it = cJSON_CreateObject();
		cJSON_AddStringToObject(it, "sensor", dm->cfg->sensors[s].id);
		cJSON_AddStringToObject(it, "kind", sh_kind_name(dm->cfg->sensors[s].kind));
		cJSON_AddStringToObject(it, "zone", dm->cfg->zones[dm->cfg->sensors[s].zone].id);
		cJSON_AddStringToObject(it, "state", sh_state_name(pp, v));
		cJSON_AddItemToArray(arr, it);
	}
}

static cJSON *build_status(struct daemon *dm, int for_ctl)
{
	cJSON *o = cJSON_CreateObject(), *s, *rej;
	int alarms, faults, on, off, unk;
	const uint64_t *r = ingest_rejects(dm->ingest);

	if (for_ctl) {
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddStringToObject(o, "site", dm->cfg->site.id);
	}
	if (dm->cfg->site.name)
		cJSON_AddStringToObject(o, "name", dm->cfg->site.name);
	cJSON_AddStringToObject(o, "mode", sh_mode_name(panel_mode(dm->panel)));
	panel_counts(dm->panel, &alarms, &faults);
	cJSON_AddItemToObject(o, "alarms", panel_alarms_json(dm->panel));
	cJSON_AddNumberToObject(o, "active_alarms", alarms);
	cJSON_AddNumberToObject(o, "faults", faults);
	panel_service_json(dm->panel, o);
	cJSON_AddStringToObject(o, "sirens",
	                        outputs_sirens_on(dm->outputs) ? outputs_siren_pattern(dm->outputs)
	                                                       : "off");
	add_store_health(dm, o);
	registry_counts(dm->reg, &on, &off, &unk);
	s = cJSON_AddObjectToObject(o, "sensors");
	cJSON_AddNumberToObject(s, "total", dm->cfg->nsensors);
	cJSON_AddNumberToObject(s, "online", on);
	cJSON_AddNumberToObject(s, "offline", off);
	cJSON_AddNumberToObject(s, "unknown", unk);
	if (for_ctl) {
		cJSON *m;
		rej = cJSON_AddObjectToObject(o, "rejected");
		for (int i = REJECT_NONE + 1; i < REJECT__COUNT; i++)
			cJSON_AddNumberToObject(rej, family_reject_name((enum family_reject)i),
			                        (double)r[i]);
		cJSON_AddNumberToObject(o, "accepted", (double)ingest_accepted(dm->ingest));
		cJSON_AddNumberToObject(o, "bad_fields", (double)ingest_bad_fields(dm->ingest));
		cJSON_AddNumberToObject(o, "outbox_pending", upstream_pending(dm->up));
		m = cJSON_AddObjectToObject(o, "mqtt");
		cJSON_AddBoolToObject(m, "local",
		                      mqttc_connected(dm->local) && mqttc_connected(dm->local_out));
		cJSON_AddBoolToObject(m, "local_reports", mqttc_connected(dm->local));
		cJSON_AddBoolToObject(m, "local_out", mqttc_connected(dm->local_out));
		cJSON_AddNumberToObject(m, "reports_unacked", mqttc_unacked(dm->local));
		cJSON_AddBoolToObject(m, "upstream", upstream_connected(dm->up));
		cJSON_AddNumberToObject(o, "rules", rules_count(dm->rules));
		add_last_known(dm, o);
		cJSON_AddItemToObject(o, "modbus", buses_status(dm->buses));
		cJSON_AddNumberToObject(o, "uptime_s",
		                        (double)((loop_mono_ms() - dm->started_mono) / 1000));
		cJSON_AddStringToObject(o, "version", SH_VERSION);
	}
	return o;
}

static void hass_sync_panel(struct daemon *dm, int force);
static void hass_sync_gateway(struct daemon *dm, int force);

static void publish_status(void *arg)
{
	struct daemon *dm = arg;
	dm->status_timer = 0;
	upstream_publish_status(dm->up, build_status(dm, 0));
	hass_sync_panel(dm, 0);
	hass_sync_gateway(dm, 0);
}

/* Coalesce: a burst of alarm changes gives one status message. */
static void status_changed(void *arg)
{
	struct daemon *dm = arg;
	if (!dm->status_timer)
		dm->status_timer = loop_timer_add(dm->loop, 0, publish_status, dm);
}

static void heartbeat(void *arg)
{
	struct daemon *dm = arg;
	cJSON *hb = cJSON_CreateObject();
	int alarms, faults;
	panel_counts(dm->panel, &alarms, &faults);
	cJSON_AddNumberToObject(hb, "uptime_s",
	                        (double)((loop_mono_ms() - dm->started_mono) / 1000));
	cJSON_AddNumberToObject(hb, "active_alarms", alarms);
	cJSON_AddNumberToObject(hb, "faults", faults);
	cJSON_AddNumberToObject(hb, "outbox_pending", upstream_pending(dm->up));
	upstream_publish_heartbeat(dm->up, hb);
	dm->hb_timer =
	    loop_timer_add(dm->loop, (int64_t)dm->cfg->heartbeat_s * 1000, heartbeat, dm);
}

/* ---- storage timers ----------------------------------------------------- */

static void flush(void *arg)
{
	struct daemon *dm = arg;
	dm->flush_timer = 0;
	store_commit(dm->store);
}

/* The store's writer finished commits: announce what they made durable. */
static void on_store(void *arg, int fd, short revents)
{
	struct daemon *dm = arg;
	(void)fd;
	(void)revents;
	store_dispatch(dm->store);
}

static void after_command(struct daemon *dm);

/* The store started or stopped taking writes. A store that cannot write is
 * a fault at once: in status, upstream (from memory), Home Assistant and,
 * through the model's rules, to the owner. */
static void on_store_health(void *arg)
{
	struct daemon *dm = arg;
	struct store_health h;
	char msg[256];
	store_health(dm->store, &h);
	if (h.failing != dm->store_fault && dm->panel) {
		dm->store_fault = h.failing;
		snprintf(msg, sizeof(msg),
		         "Lỗi lưu trữ: không ghi được dữ liệu (%s); báo động vẫn được gửi đi",
		         h.error);
		panel_system_fault(dm->panel, "store", h.failing, msg, loop_mono_ms(),
		                   loop_wall_ms());
		after_command(dm);
	}
	status_changed(dm);
}

static void schedule_flush(struct daemon *dm)
{
	if (!dm->flush_timer && store_uncommitted(dm->store))
		dm->flush_timer = loop_timer_add(dm->loop, FLUSH_INTERVAL_MS, flush, dm);
}

static void save_sensor(void *arg, int s)
{
	struct daemon *dm = arg;
	char values[1024];
	size_t off = 0;
	double v, batt = 0, online = -1;
	int has_batt = registry_get(dm->reg, s, POINT_BATTERY, &batt) == 0;
	if (registry_get(dm->reg, s, POINT_ONLINE, &v) == 0)
		online = v;
	off += (size_t)snprintf(values, sizeof(values), "{");
	for (int p = 0; p < POINT__COUNT && off < sizeof(values) - 64; p++)
		if (registry_get(dm->reg, s, (enum sh_point)p, &v) == 0)
			off += (size_t)snprintf(values + off, sizeof(values) - off, "%s\"%s\":%g",
			                        off > 1 ? "," : "", sh_point_name((enum sh_point)p),
			                        v);
	snprintf(values + off, sizeof(values) - off, "}");
	store_sensor_save(dm->store, dm->cfg->sensors[s].id, registry_last_seen(dm->reg, s),
	                  (int)online, has_batt, batt, values);
}

static void snapshot(void *arg)
{
	struct daemon *dm = arg;
	registry_take_dirty(dm->reg, save_sensor, dm);
	schedule_flush(dm);
	dm->snapshot_timer = loop_timer_add(dm->loop, SENSOR_SNAPSHOT_MS, snapshot, dm);
}

static void schedule_tick(struct daemon *dm);

/* The sensors' last saved states, back into the registry at start (see
 * engine_restore). A row that cannot be read is logged and skipped. */
static void restore_row(void *ctx, const char *id, const char *values_json)
{
	struct daemon *dm = ctx;
	struct sh_point_value vals[POINT__COUNT];
	int s = id ? config_sensor_index(dm->cfg, id) : -1, n = 0;
	cJSON *j, *it;
	if (s < 0 || !values_json)
		return; /* a sensor no longer in the config */
	j = cJSON_Parse(values_json);
	if (!cJSON_IsObject(j)) {
		log_warn("restore: sensor %s: saved state is not a JSON object; ignored", id);
		cJSON_Delete(j);
		return;
	}
	cJSON_ArrayForEach(it, j)
	{
		int p = it->string ? sh_point_from_name(it->string) : -1;
		if (p >= 0 && cJSON_IsNumber(it) && n < POINT__COUNT)
			vals[n++] = (struct sh_point_value){(enum sh_point)p, it->valuedouble};
	}
	cJSON_Delete(j);
	engine_restore(dm->engine, s, vals, n, loop_mono_ms(), loop_wall_ms());
	dm->nrestored++;
}

static void restore_sensors(struct daemon *dm)
{
	if (store_sensor_foreach(dm->store, restore_row, dm) < 0)
		log_err("restore: cannot read the saved sensor states; they start unknown");
	if (dm->nrestored)
		log_notice("restore: last known state of %d sensor(s) restored", dm->nrestored);
	schedule_flush(dm);
	schedule_tick(dm);
}

/* ---- Home Assistant ------------------------------------------------------ */

static void hass_pub(void *ctx, const char *topic, const char *payload)
{
	struct daemon *dm = ctx;
	mqttc_publish(dm->local_out, topic, payload, strlen(payload), 1, 1, NULL);
}

/* Publish a sensor's HA state and availability when they changed. */
static void hass_sync_sensor(struct daemon *dm, int s, int force)
{
	char t[SH_TOPIC_MAX + 64];
	enum sh_point pp;
	double v;
	signed char state = -1, link = -1;
	if (!dm->cfg->hass_enabled || !dm->hass_state || s < 0 || s >= dm->cfg->nsensors)
		return;
	pp = sh_kind_primary_point(dm->cfg->sensors[s].kind);
	if (pp != POINT__COUNT && registry_get(dm->reg, s, pp, &v) == 0)
		state = v != 0;
	if (registry_get(dm->reg, s, POINT_ONLINE, &v) == 0)
		link = v != 0;
	else if (registry_last_seen(dm->reg, s))
		link = 1;
	if (state >= 0 && (force || state != dm->hass_state[s])) {
		hass_sensor_topic(dm->cfg, s, "state", t, sizeof(t));
		mqttc_publish(dm->local_out, t, state ? "ON" : "OFF", state ? 2 : 3, 0, 1, NULL);
	}
	if (link >= 0 && (force || link != dm->hass_link[s])) {
		hass_sensor_topic(dm->cfg, s, "availability", t, sizeof(t));
		mqttc_publish(dm->local_out, t, link ? "online" : "offline", link ? 6 : 7, 0, 1,
		              NULL);
	}
	dm->hass_state[s] = state;
	dm->hass_link[s] = link;
}

static void hass_sync_gateway(struct daemon *dm, int force)
{
	char t[SH_TOPIC_MAX], payload[sizeof(dm->hass_gateway)];
	struct store_health h;
	int alarms, faults;
	cJSON *o;
	char *text;
	if (!dm->cfg->hass_enabled)
		return;
	panel_counts(dm->panel, &alarms, &faults);
	store_health(dm->store, &h);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "fault", faults > 0 || h.failing ? "ON" : "OFF");
	cJSON_AddNumberToObject(o, "faults", faults);
	cJSON_AddStringToObject(o, "store", h.failing ? h.error : "ok");
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return;
	snprintf(payload, sizeof(payload), "%s", text);
	free(text);
	if (!force && strcmp(payload, dm->hass_gateway) == 0)
		return;
	snprintf(dm->hass_gateway, sizeof(dm->hass_gateway), "%s", payload);
	hass_gateway_state_topic(dm->cfg, t, sizeof(t));
	mqttc_publish(dm->local_out, t, payload, strlen(payload), 1, 1, NULL);
}

static void hass_sync_panel(struct daemon *dm, int force)
{
	char t[SH_TOPIC_MAX];
	const char *st = hass_panel_state(panel_mode(dm->panel), panel_triggered(dm->panel));
	if (!dm->cfg->hass_enabled || (!force && strcmp(st, dm->hass_panel) == 0))
		return;
	snprintf(dm->hass_panel, sizeof(dm->hass_panel), "%s", st);
	hass_panel_state_topic(dm->cfg, t, sizeof(t));
	mqttc_publish(dm->local_out, t, st, strlen(st), 1, 1, NULL);
}

/* (Re)size the caches for the config in use. */
static int hass_rebind(struct daemon *dm)
{
	int n = dm->cfg->nsensors ? dm->cfg->nsensors : 1;
	signed char *a = malloc((size_t)n), *b = malloc((size_t)n);
	if (!a || !b) {
		free(a);
		free(b);
		return -1;
	}
	memset(a, -1, (size_t)n);
	memset(b, -1, (size_t)n);
	free(dm->hass_state);
	free(dm->hass_link);
	dm->hass_state = a;
	dm->hass_link = b;
	dm->hass_panel[0] = 0;
	hass_panel_command_topic(dm->cfg, dm->hass_cmd_topic, sizeof(dm->hass_cmd_topic));
	return 0;
}

static void hass_announce(struct daemon *dm)
{
	if (!dm->cfg->hass_enabled || !mqttc_connected(dm->local_out))
		return;
	hass_discovery(dm->cfg, SH_VERSION, hass_pub, dm);
	mqttc_subscribe(dm->local_out, dm->hass_cmd_topic);
	hass_sync_panel(dm, 1);
	hass_sync_gateway(dm, 1);
	for (int s = 0; s < dm->cfg->nsensors; s++)
		hass_sync_sensor(dm, s, 1);
}

/* ---- the reading path --------------------------------------------------- */

/* Run the rules' and the panel's timed work when it is due, and at least
 * once a minute so that calendar rules notice a wall-clock jump. */
static void tick(void *arg);

static void schedule_tick(struct daemon *dm)
{
	int64_t now = loop_mono_ms();
	int64_t due = engine_next_deadline(dm->engine, now, loop_wall_ms());
	if (due > now + 60000)
		due = now + 60000;
	if (dm->tick_timer && dm->tick_due <= due)
		return;
	loop_timer_cancel(dm->loop, dm->tick_timer);
	dm->tick_due = due;
	dm->tick_timer = loop_timer_add(dm->loop, due - now, tick, dm);
}

static void tick(void *arg)
{
	struct daemon *dm = arg;
	dm->tick_timer = 0;
	engine_tick(dm->engine, loop_mono_ms(), loop_wall_ms());
	schedule_flush(dm);
	schedule_tick(dm);
}

static void on_ack_message(struct daemon *dm, const struct mosquitto_message *m);
static void on_command_message(struct daemon *dm, const struct mosquitto_message *m);
static void on_hass_command(struct daemon *dm, const struct mosquitto_message *m);

/* One report through the engine. When its primary point (smoke detected,
 * door open, ...) changed, the sensor's row is saved at once, in the same
 * batch as the reading, so that a restart restores what it said last. */
static void report(struct daemon *dm, int sensor, const struct sh_point_value *vals, int n,
                   const char *origin)
{
	enum sh_point pp = sh_kind_primary_point(dm->cfg->sensors[sensor].kind);
	double before = 0, after = 0;
	int had = pp != POINT__COUNT && registry_get(dm->reg, sensor, pp, &before) == 0;
	engine_report(dm->engine, sensor, vals, n, origin, loop_mono_ms(), loop_wall_ms());
	if (pp != POINT__COUNT && registry_get(dm->reg, sensor, pp, &after) == 0 &&
	    (!had || before != after))
		save_sensor(dm, sensor);
	hass_sync_sensor(dm, sensor, 0);
}

/* The sensors' connection: reports only. */
static void on_local_message(void *ctx, const struct mosquitto_message *m)
{
	struct daemon *dm = ctx;
	struct sh_point_value vals[FAMILY_MAX_VALUES];
	int sensor, n;

	if (ingest_message(dm->ingest, m->topic, m->payload, (size_t)m->payloadlen, loop_mono_ms(),
	                   &sensor, vals, &n) < 0)
		return;
	report(dm, sensor, vals, n, dm->cfg->sensors[sensor].id);
	schedule_flush(dm);
	schedule_tick(dm);
}

/* Everything read on the sensors' connection so far goes to the store: the
 * broker's acks wait for that commit (mqttc.h, deferred acknowledgment). */
static void local_barrier(void *ctx, mqttc_done_fn done, void *dctx)
{
	struct daemon *dm = ctx;
	if (store_commit_then(dm->store, done, dctx) < 0)
		done(dctx, -1);
}

/* The output connection: commands, acks and Home Assistant's panel. */
static void on_out_message(void *ctx, const struct mosquitto_message *m)
{
	struct daemon *dm = ctx;
	if (!dm->remote && strcmp(m->topic, dm->ack_topic) == 0)
		on_ack_message(dm, m);
	else if (!dm->remote && strcmp(m->topic, dm->command_topic) == 0)
		on_command_message(dm, m);
	else if (dm->cfg->hass_enabled && strcmp(m->topic, dm->hass_cmd_topic) == 0)
		on_hass_command(dm, m);
}


/* The upstream link down longer than down_fault_s is a fault; it is shown
 * locally at once and reaches the militia through the outbox when the link
 * is back. */
static void supervise_upstream(struct daemon *dm, int64_t now)
{
	int64_t limit =
	    (int64_t)(dm->cfg->upstream.host ? dm->cfg->upstream.down_fault_s : 300) * 1000;
	if (upstream_connected(dm->up)) {
		dm->up_down_since = 0;
		if (dm->link_fault) {
			dm->link_fault = 0;
			panel_system_fault(dm->panel, "upstream link", 0, NULL, now,
			                   loop_wall_ms());
			after_command(dm);
		}
		return;
	}
	if (!dm->up_down_since)
		dm->up_down_since = now;
	if (!dm->link_fault && now - dm->up_down_since >= limit) {
		dm->link_fault = 1;
		log_warn("upstream: link down for %lld s; raising a fault",
		         (long long)((now - dm->up_down_since) / 1000));
		panel_system_fault(dm->panel, "upstream link", 1,
		                   "Mất kết nối tới trung tâm (dân quân)", now, loop_wall_ms());
		after_command(dm);
	}
}

static void supervise(void *arg)
{
	struct daemon *dm = arg;
	supervise_upstream(dm, loop_mono_ms());
	engine_supervise(dm->engine, loop_mono_ms(), loop_wall_ms());
	for (int s = 0; s < dm->cfg->nsensors; s++)
		hass_sync_sensor(dm, s, 0);
	schedule_flush(dm);
	schedule_tick(dm);
	dm->supervise_timer = loop_timer_add(dm->loop, 1000, supervise, dm);
}

/* ---- Modbus -------------------------------------------------------------- */

static cJSON *ctl_error(const char *fmt, const char *arg);

static int write_coil(void *ctx, int output, int on)
{
	struct daemon *dm = ctx;
	return buses_write(dm->buses, output, on);
}

/* Readings, device faults and coil results from the bus workers. */
static void on_buses(void *arg, int fd, short revents)
{
	struct daemon *dm = arg;
	struct mb_event ev;
	char key[96];
	(void)fd;
	(void)revents;
	while (buses_take(dm->buses, &ev)) {
		int64_t mono = loop_mono_ms(), wall = loop_wall_ms();
		switch (ev.type) {
		case MBE_READING: {
			const struct sh_point_value v = {ev.point, ev.value};
			if (ev.sensor < 0 || ev.sensor >= dm->cfg->nsensors)
				break;
			report(dm, ev.sensor, &v, 1, "modbus");
			break;
		}
		case MBE_DEVICE:
			snprintf(key, sizeof(key), "modbus %s/%d", dm->cfg->buses[ev.bus].id,
			         ev.unit);
			panel_system_fault(dm->panel, key, !ev.ok, ev.msg, mono, wall);
			break;
		case MBE_WRITE:
			snprintf(key, sizeof(key), "output %s", dm->cfg->outputs[ev.output].id);
			panel_system_fault(dm->panel, key, !ev.ok, ev.msg, mono, wall);
			break;
		case MBE_TOOL: {
			cJSON *r = ev.text ? cJSON_Parse(ev.text) : NULL;
			free(ev.text);
			ctl_reply(dm->ctl, ev.token, r ? r : ctl_error("modbus: no answer", NULL));
			break;
		}
		}
	}
	schedule_flush(dm);
	after_command(dm);
}

static int start_buses(struct daemon *dm)
{
	char err[256];
	if (!dm->cfg->nbuses)
		return 0;
	dm->buses = buses_start(dm->cfg, err, sizeof(err));
	if (!dm->buses) {
		log_err("modbus: %s", err);
		return -1;
	}
	loop_fd_add(dm->loop, buses_fd(dm->buses), POLLIN, on_buses, dm);
	return 0;
}

static void stop_buses(struct daemon *dm)
{
	if (!dm->buses)
		return;
	loop_fd_del(dm->loop, buses_fd(dm->buses));
	buses_stop(dm->buses);
	dm->buses = NULL;
}

/* ---- MQTT connection events --------------------------------------------- */

static void subscribe_all(struct daemon *dm)
{
	for (int i = 0; i < ingest_topic_count(dm->ingest); i++)
		mqttc_subscribe(dm->local, ingest_topic(dm->ingest, i));
}

static void on_local_connect(void *ctx)
{
	/* A resumed session has the subscriptions already; subscribing again
	 * is harmless and covers a broker that lost them (no persistence). */
	subscribe_all(ctx);
}

static void on_out_connect(void *ctx)
{
	struct daemon *dm = ctx;
	outputs_resync(dm->outputs);
	hass_announce(dm);
	if (!dm->remote) {
		mqttc_subscribe(dm->local_out, dm->ack_topic);
		mqttc_subscribe(dm->local_out, dm->command_topic);
		upstream_on_connect(dm->up);
		status_changed(dm);
	}
}

static void on_out_disconnect(void *ctx)
{
	struct daemon *dm = ctx;
	if (!dm->remote)
		upstream_on_disconnect(dm->up);
}

static void on_out_publish(void *ctx, int mid)
{
	struct daemon *dm = ctx;
	if (!dm->remote)
		upstream_on_publish(dm->up, mid);
}

static void on_remote_message(void *ctx, const struct mosquitto_message *m)
{
	struct daemon *dm = ctx;
	if (strcmp(m->topic, dm->ack_topic) == 0)
		on_ack_message(dm, m);
	else if (strcmp(m->topic, dm->command_topic) == 0)
		on_command_message(dm, m);
}

static void on_remote_connect(void *ctx)
{
	struct daemon *dm = ctx;
	mqttc_subscribe(dm->remote, dm->ack_topic);
	mqttc_subscribe(dm->remote, dm->command_topic);
	upstream_on_connect(dm->up);
	status_changed(dm);
}

static void on_remote_disconnect(void *ctx)
{
	struct daemon *dm = ctx;
	upstream_on_disconnect(dm->up);
}

static void on_remote_publish(void *ctx, int mid)
{
	struct daemon *dm = ctx;
	upstream_on_publish(dm->up, mid);
}

/* The local broker's first reconnect comes quickly: a blink of the broker
 * must not keep the sensors' reports (or the sirens) waiting for seconds. */
#define LOCAL_BACKOFF_MIN_MS 200

static struct mqttc *connect_broker(struct daemon *dm, const char *name,
                                    const struct config_broker *b, int with_will,
                                    const struct mqttc_callbacks *cb)
{
	char cid[192], def[128];
	int reports = strcmp(name, "local") == 0, out = strcmp(name, "local-out") == 0;
	int upstream = !reports && !out;
	struct mqttc_params p = {
	    .name = name,
	    .host = b->host,
	    .port = b->port,
	    .username = b->username,
	    .password = b->password,
	    .client_id = b->client_id,
	    .keepalive_s = b->keepalive_s,
	    .tls = b->tls,
	    .cafile = b->cafile,
	};
	snprintf(def, sizeof(def), "safehoused-%s", dm->cfg->site.id);
	/* The local connections need ids of their own: the default one is the
	 * upstream connection's, and the local and the upstream broker may be
	 * the same broker. */
	if (!p.client_id || (!upstream && strcmp(p.client_id, def) == 0)) {
		snprintf(cid, sizeof(cid), "%s-%s", def, name);
		p.client_id = cid;
	} else if (out) {
		snprintf(cid, sizeof(cid), "%s-out", b->client_id);
		p.client_id = cid;
	}
	/* The reports' session outlives us: what the sensors say while we are
	 * down or reconnecting is queued by the broker and delivered after. */
	p.persistent = reports;
	p.defer_acks = reports;
	p.backoff_min_ms = reports || out ? LOCAL_BACKOFF_MIN_MS : 0;
	if (with_will) {
		p.will_topic = upstream_status_topic(dm->up);
		p.will_payload = upstream_will_payload(dm->up);
	}
	return mqttc_new(dm->loop, &p, cb, dm);
}

/* ---- control commands --------------------------------------------------- */

static cJSON *ctl_error(const char *fmt, const char *arg)
{
	char msg[512];
	cJSON *r = cJSON_CreateObject();
	snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
	cJSON_AddBoolToObject(r, "ok", 0);
	cJSON_AddStringToObject(r, "error", msg);
	return r;
}

struct alarm_list {
	cJSON *arr;
	const struct config *cfg;
};

static void add_alarm_row(void *ctx, const struct store_alarm *a)
{
	struct alarm_list *l = ctx;
	cJSON *o = cJSON_CreateObject();
	char at[32];
	int z = a->zone ? config_zone_index(l->cfg, a->zone) : -1;
	cJSON_AddNumberToObject(o, "id", (double)a->id);
	cJSON_AddStringToObject(o, "class", a->cls);
	cJSON_AddStringToObject(o, "state", a->state);
	cJSON_AddBoolToObject(o, "active", a->active);
	cJSON_AddStringToObject(o, "zone", a->zone ? a->zone : "");
	cJSON_AddStringToObject(o, "zone_name", z >= 0 ? l->cfg->zones[z].name : "");
	cJSON_AddStringToObject(o, "sensor", a->sensor && a->sensor[0] != '-' ? a->sensor : "");
	cJSON_AddStringToObject(o, "rule", a->rule ? a->rule : "");
	if (a->message)
		cJSON_AddStringToObject(o, "message", a->message);
	store_format_time(a->raised_ms, at, sizeof(at));
	cJSON_AddStringToObject(o, "raised_at", at);
	store_format_time(a->updated_ms, at, sizeof(at));
	cJSON_AddStringToObject(o, "updated_at", at);
	if (a->reset_by)
		cJSON_AddStringToObject(o, "reset_by", a->reset_by);
	cJSON_AddItemToArray(l->arr, o);
}

/* After a command changed the panel: let the rules hear about it, then
 * write and schedule what follows. */
static void after_command(struct daemon *dm)
{
	engine_settle(dm->engine, loop_mono_ms(), loop_wall_ms());
	schedule_flush(dm);
	schedule_tick(dm);
}

static cJSON *ctl_ok(void)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddBoolToObject(r, "ok", 1);
	return r;
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

/* modbus scan BUS [from to] | modbus read BUS UNIT TABLE ADDRESS [COUNT]:
 * done by the bus's worker; the reply comes when it has the answer. */
static cJSON *modbus_command(struct daemon *dm, const cJSON *req)
{
	const char *action = cJSON_GetStringValue(cJSON_GetObjectItem(req, "action"));
	const char *bus = cJSON_GetStringValue(cJSON_GetObjectItem(req, "bus"));
	const cJSON *n;
	char why[160];
	int v[5] = {1, 247, 0, 0, 1}, rc;
	static const char *const keys[] = {"from", "to", "unit", "address", "count"};
	uint64_t token;
	if (!action || !bus)
		return ctl_error("modbus: \"action\" (scan, read) and \"bus\" are needed", NULL);
	for (int i = 0; i < 5; i++) {
		n = cJSON_GetObjectItem(req, keys[i]);
		if (n && (!cJSON_IsNumber(n) || n->valuedouble != (int)n->valuedouble))
			return ctl_error("modbus: \"%s\" must be a whole number", keys[i]);
		if (n)
			v[i] = (int)n->valuedouble;
	}
	token = ctl_defer(dm->ctl);
	if (strcmp(action, "scan") == 0) {
		rc = buses_scan(dm->buses, bus, v[0], v[1], token, why, sizeof(why));
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
			rc = buses_read(dm->buses, bus, v[2], t, v[3], v[4], token, why,
			                sizeof(why));
		}
	} else {
		snprintf(why, sizeof(why), "unknown action \"%s\" (scan, read)", action);
		rc = -1;
	}
	if (rc < 0)
		ctl_reply(dm->ctl, token, ctl_error("modbus: %s", why));
	return CTL_DEFERRED;
}

/* users list|add|del|passwd. */
static cJSON *users_command(struct daemon *dm, const cJSON *req, const char *by)
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
		return ctl_error("users: \"action\" must be list, add, del or passwd", NULL);
	if (strcmp(action->valuestring, "list") == 0) {
		r = ctl_ok();
		cJSON_AddItemToObject(r, "users", users_json(dm->users));
		return r;
	}
	if (strcmp(action->valuestring, "add") == 0)
		rc =
		    users_add(dm->users, name, role, pin, duress, loop_wall_ms(), why, sizeof(why));
	else if (strcmp(action->valuestring, "del") == 0)
		rc = users_del(dm->users, name, loop_wall_ms(), why, sizeof(why));
	else if (strcmp(action->valuestring, "passwd") == 0)
		rc = users_passwd(dm->users, name, pin, duress, loop_wall_ms(), why, sizeof(why));
	else
		return ctl_error("users: unknown action \"%s\" (list, add, del, passwd)",
		                 action->valuestring);
	if (rc < 0)
		return ctl_error("users: %s", why);
	snprintf(msg, sizeof(msg), "user %s: %s by %s", name, action->valuestring, by);
	store_event(dm->store, loop_wall_ms(), by, "command", NULL, NULL, 0, 0, msg);
	log_notice("%s", msg);
	return ctl_ok();
}

/* sensors [--zone Z]: what the registry knows of each sensor. */
static cJSON *sensors_reply(struct daemon *dm, const cJSON *zone)
{
	const struct config *c = dm->cfg;
	cJSON *r, *arr;
	int zf = -1;
	if (zone) {
		if (!cJSON_IsString(zone) || (zf = config_zone_index(c, zone->valuestring)) < 0)
			return ctl_error("sensors: unknown zone \"%s\"",
			                 cJSON_IsString(zone) ? zone->valuestring : "?");
	}
	r = ctl_ok();
	arr = cJSON_AddArrayToObject(r, "sensors");
	for (int s = 0; s < c->nsensors; s++) {
		const struct config_sensor *cs = &c->sensors[s];
		enum sh_point pp = sh_kind_primary_point(cs->kind);
		cJSON *o, *vals;
		double v;
		int64_t seen = registry_last_seen(dm->reg, s);
		char at[32];
		if (zf >= 0 && cs->zone != zf)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", cs->id);
		cJSON_AddStringToObject(o, "name", cs->name);
		cJSON_AddStringToObject(o, "kind", sh_kind_name(cs->kind));
		cJSON_AddStringToObject(o, "zone", c->zones[cs->zone].id);
		cJSON_AddStringToObject(o, "zone_name", c->zones[cs->zone].name);
		if (registry_get(dm->reg, s, POINT_ONLINE, &v) == 0)
			cJSON_AddStringToObject(o, "link", v ? "online" : "offline");
		else
			cJSON_AddStringToObject(o, "link", seen ? "online" : "unknown");
		if (pp != POINT__COUNT && registry_get(dm->reg, s, pp, &v) == 0)
			cJSON_AddStringToObject(o, "state", sh_state_name(pp, v));
		else
			cJSON_AddStringToObject(o, "state", "unknown");
		/* The state is the one saved before the restart: not heard since. */
		cJSON_AddBoolToObject(o, "state_restored",
		                      pp != POINT__COUNT && registry_restored(dm->reg, s, pp));
		if (seen) {
			store_format_time(seen, at, sizeof(at));
			cJSON_AddStringToObject(o, "last_seen", at);
		} else {
			cJSON_AddNullToObject(o, "last_seen");
		}
		if (registry_get(dm->reg, s, POINT_BATTERY, &v) == 0)
			cJSON_AddNumberToObject(o, "battery", v);
		cJSON_AddBoolToObject(o, "disabled", panel_sensor_disabled(dm->panel, s));
		vals = cJSON_AddObjectToObject(o, "values");
		for (int p = 0; p < POINT__COUNT; p++)
			if (registry_get(dm->reg, s, (enum sh_point)p, &v) == 0)
				cJSON_AddNumberToObject(vals, sh_point_name((enum sh_point)p), v);
		cJSON_AddItemToArray(arr, o);
	}
	return r;
}

static void add_event_row(void *ctx, const char *at, const char *origin, const char *type,
                          const char *sensor, const char *point, int has_value, double value,
                          const char *detail)
{
	cJSON *arr = ctx, *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "at", at ? at : "");
	cJSON_AddStringToObject(o, "origin", origin ? origin : "");
	cJSON_AddStringToObject(o, "type", type ? type : "");
	if (sensor)
		cJSON_AddStringToObject(o, "sensor", sensor);
	if (point)
		cJSON_AddStringToObject(o, "point", point);
	if (has_value)
		cJSON_AddNumberToObject(o, "value", value);
	if (detail)
		cJSON_AddStringToObject(o, "detail", detail);
	cJSON_AddItemToArray(arr, o);
}

/* events [--since]: "since_ms" (UTC epoch ms), "limit" (1..5000). */
static cJSON *events_reply(struct daemon *dm, const cJSON *req)
{
	const cJSON *since = cJSON_GetObjectItem(req, "since_ms");
	const cJSON *limit = cJSON_GetObjectItem(req, "limit");
	int64_t from = loop_wall_ms() - 3600 * 1000;
	int n = 200;
	cJSON *r;
	if (since) {
		if (!cJSON_IsNumber(since) || since->valuedouble < 0)
			return ctl_error("events: \"since_ms\" must be a time in ms", NULL);
		from = (int64_t)since->valuedouble;
	}
	if (limit) {
		if (!cJSON_IsNumber(limit) || limit->valuedouble < 1 || limit->valuedouble > 5000)
			return ctl_error("events: \"limit\" must be 1 to 5000", NULL);
		n = (int)limit->valuedouble;
	}
	r = ctl_ok();
	store_events_foreach(dm->store, from, n, add_event_row,
	                     cJSON_AddArrayToObject(r, "events"));
	return r;
}

/* Run one command (from the control socket or MQTT) as user "by". */
static cJSON *run_command(struct daemon *dm, const cJSON *req, const char *by)
{
	const char *cmd = cJSON_GetObjectItem(req, "cmd")->valuestring;
	char why[256];
	int64_t id;
	int rc;
	cJSON *r;

	if (strcmp(cmd, "users") == 0)
		return users_command(dm, req, by);
	if (strcmp(cmd, "modbus") == 0)
		return modbus_command(dm, req);
	if (strcmp(cmd, "status") == 0)
		return build_status(dm, 1);
	if (strcmp(cmd, "alarms") == 0) {
		const cJSON *all = cJSON_GetObjectItem(req, "all");
		r = ctl_ok();
		if (cJSON_IsTrue(all)) {
			struct alarm_list l = {cJSON_AddArrayToObject(r, "alarms"), dm->cfg};
			store_alarm_foreach(dm->store, 0, 200, add_alarm_row, &l);
		} else {
			cJSON_AddItemToObject(r, "alarms", panel_alarms_json(dm->panel));
		}
		return r;
	}
	if (strcmp(cmd, "reset") == 0) {
		if (get_alarm_id(req, 0, &id) < 0)
			return ctl_error("reset: \"id\" must be a positive alarm number", NULL);
		rc = panel_reset(dm->panel, id, by, loop_mono_ms(), loop_wall_ms(), why,
		                 sizeof(why));
		after_command(dm);
		if (rc < 0)
			return ctl_error("reset refused: %s", why);
		r = ctl_ok();
		cJSON_AddNumberToObject(r, "id", (double)id);
		cJSON_AddStringToObject(r, "state", "reset");
		return r;
	}
	if (strcmp(cmd, "ack") == 0) {
		if (get_alarm_id(req, 1, &id) < 0)
			return ctl_error("ack: \"id\" must be a positive alarm number", NULL);
		rc = panel_ack(dm->panel, id, by, loop_mono_ms(), loop_wall_ms(), why, sizeof(why));
		after_command(dm);
		if (rc < 0)
			return ctl_error("ack refused: %s", why);
		r = ctl_ok();
		cJSON_AddNumberToObject(r, "acknowledged", rc);
		return r;
	}
	if (strcmp(cmd, "silence") == 0) {
		rc = panel_silence(dm->panel, by, loop_mono_ms(), loop_wall_ms());
		after_command(dm);
		r = ctl_ok();
		cJSON_AddNumberToObject(r, "silenced", rc);
		return r;
	}
	if (strcmp(cmd, "arm") == 0 || strcmp(cmd, "disarm") == 0) {
		const cJSON *mode = cJSON_GetObjectItem(req, "mode");
		char name[32];
		int m = MODE_DISARMED;
		if (strcmp(cmd, "arm") == 0) {
			if (!cJSON_IsString(mode) || strlen(mode->valuestring) > 20)
				return ctl_error("arm: \"mode\" must be home, night or away", NULL);
			snprintf(name, sizeof(name), "armed_%s", mode->valuestring);
			m = sh_mode_from_name(name);
			if (m < 0 || m == MODE_DISARMED)
				return ctl_error("arm: unknown mode \"%s\" (home, night or away)",
				                 mode->valuestring);
		}
		rc = panel_arm(dm->panel, (enum sh_mode)m,
		               cJSON_IsTrue(cJSON_GetObjectItem(req, "force")), by, loop_wall_ms(),
		               why, sizeof(why));
		after_command(dm);
		if (rc < 0)
			return ctl_error("arming refused: %s", why);
		r = ctl_ok();
		cJSON_AddStringToObject(r, "mode", sh_mode_name(panel_mode(dm->panel)));
		return r;
	}
	if (strcmp(cmd, "disable") == 0 || strcmp(cmd, "enable") == 0) {
		const cJSON *target = cJSON_GetObjectItem(req, "target");
		if (!cJSON_IsString(target) || !target->valuestring[0] ||
		    strlen(target->valuestring) >= SH_ID_MAX)
			return ctl_error("%s: \"target\" must be a sensor or zone id", cmd);
		if (strcmp(cmd, "disable") == 0) {
			const cJSON *f = cJSON_GetObjectItem(req, "for_s");
			const cJSON *reason = cJSON_GetObjectItem(req, "reason");
			if (!cJSON_IsNumber(f) || f->valuedouble < 1 || f->valuedouble > 7 * 86400)
				return ctl_error("disable: \"for_s\" must be 1 s to 7 days", NULL);
			if (!cJSON_IsString(reason) || !reason->valuestring[0] ||
			    strlen(reason->valuestring) > 120)
				return ctl_error("disable: a \"reason\" (1 to 120 characters) is "
				                 "required",
				                 NULL);
			rc = panel_disable(dm->panel, target->valuestring,
			                   (int64_t)f->valuedouble * 1000, reason->valuestring, by,
			                   loop_wall_ms(), why, sizeof(why));
		} else {
			rc = panel_enable(dm->panel, target->valuestring, by, loop_wall_ms(), why,
			                  sizeof(why));
		}
		after_command(dm);
		if (rc < 0)
			return ctl_error("%s", why);
		return ctl_ok();
	}
	if (strcmp(cmd, "test") == 0) {
		const cJSON *action = cJSON_GetObjectItem(req, "action");
		const cJSON *zone = cJSON_GetObjectItem(req, "zone");
		if (cJSON_IsString(action) && strcmp(action->valuestring, "start") == 0) {
			if (zone &&
			    (!cJSON_IsString(zone) || strlen(zone->valuestring) >= SH_ID_MAX))
				return ctl_error("test: \"zone\" must be a zone id", NULL);
			rc = panel_test_start(dm->panel, zone ? zone->valuestring : NULL,
			                      cJSON_IsTrue(cJSON_GetObjectItem(req, "sirens")), by,
			                      loop_mono_ms(), loop_wall_ms(), why, sizeof(why));
		} else if (cJSON_IsString(action) && strcmp(action->valuestring, "stop") == 0) {
			rc = panel_test_stop(dm->panel, by, loop_wall_ms());
			snprintf(why, sizeof(why), "no walk test is running");
		} else {
			return ctl_error("test: \"action\" must be start or stop", NULL);
		}
		after_command(dm);
		if (rc < 0)
			return ctl_error("test: %s", why);
		return ctl_ok();
	}
	if (strcmp(cmd, "sensors") == 0)
		return sensors_reply(dm, cJSON_GetObjectItem(req, "zone"));
	if (strcmp(cmd, "events") == 0)
		return events_reply(dm, req);
	return ctl_error("unknown command \"%s\" (known: status, sensors, alarms, events, ack, "
	                 "silence, reset, arm, disarm, disable, enable, test, users)",
	                 cmd);
}

static int is_read_only(const char *cmd)
{
	return strcmp(cmd, "status") == 0 || strcmp(cmd, "alarms") == 0 ||
	       strcmp(cmd, "modbus") == 0 || strcmp(cmd, "sensors") == 0 ||
	       strcmp(cmd, "events") == 0;
}

/* A command with a code: the code names the actor. Wrong codes count
 * towards the lock-out (a tamper alarm); a duress code does what was asked
 * and raises a silent panic alarm that calls the militia. require_code:
 * MQTT always, the control socket never (its file mode decides who may
 * talk to it), but a code given there is checked all the same. */
static cJSON *coded_command(struct daemon *dm, const cJSON *req, int require_code)
{
	const char *cmd = cJSON_GetObjectItem(req, "cmd")->valuestring;
	const cJSON *code = cJSON_GetObjectItem(req, "code");
	const char *user = NULL;
	char why[256], who[80], msg[320];
	int bad, duress = 0, lock = 0, rc;
	const char *by = get_by(req, &bad);
	cJSON *r;

	if (bad)
		return ctl_error("\"by\" must be a name of 1 to 63 characters", NULL);
	if (code && !cJSON_IsString(code))
		return ctl_error("\"code\" must be a string of digits", NULL);
	if (!code && require_code && !is_read_only(cmd))
		return ctl_error("%s: a user code is required", cmd);
	if (require_code && strcmp(cmd, "users") == 0)
		return ctl_error("users are managed on the gateway itself, with safehousectl",
		                 NULL);
	if (code) {
		rc = users_check(dm->users, code->valuestring, loop_mono_ms(), &user, &duress,
		                 &lock, why, sizeof(why));
		if (rc < 0) {
			snprintf(msg, sizeof(msg), "%s refused: %s", cmd, why);
			store_event(dm->store, loop_wall_ms(), by, "command", NULL, NULL, 0, 0,
			            msg);
			log_warn("command: %s (claimed by %s)", msg, by);
			if (lock) {
				panel_raise(dm->panel, ALARM_TAMPER,
				            "Khóa nhập mã sau 5 lần nhập sai", loop_mono_ms(),
				            loop_wall_ms());
				after_command(dm);
			}
			return ctl_error("%s", msg);
		}
		snprintf(who, sizeof(who), "%s", user);
		by = who;
	}
	r = run_command(dm, req, by);
	if (duress) {
		/* Nothing in the reply or the log line the person at the keypad
		 * sees tells it apart from a normal command. */
		panel_raise(dm->panel, ALARM_PANIC, "Mã cưỡng ép (duress): cần hỗ trợ khẩn cấp",
		            loop_mono_ms(), loop_wall_ms());
		after_command(dm);
	}
	return r;
}

static cJSON *ctl_handle(void *ctx, const cJSON *req)
{
	return coded_command(ctx, req, 0);
}

static cJSON *coded_command(struct daemon *dm, const cJSON *req, int require_code);

/* Home Assistant's panel: {"action":"ARM_AWAY","code":"1234"}; the code is
 * checked here like any other. */
static void on_hass_command(struct daemon *dm, const struct mosquitto_message *m)
{
	const char *why = NULL;
	cJSON *req =
	    hass_command(m->payload, (size_t)(m->payloadlen > 0 ? m->payloadlen : 0), &why);
	cJSON *r;
	if (!req) {
		log_warn("homeassistant: %s: %s; ignored", m->topic, why);
		return;
	}
	r = coded_command(dm, req, 1);
	if (!cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")))
		log_notice("homeassistant: %s",
		           cJSON_GetStringValue(cJSON_GetObjectItem(r, "error")));
	/* Home Assistant shows the state it reads back: republish it even when
	 * the command was refused. */
	hass_sync_panel(dm, 1);
	cJSON_Delete(r);
	cJSON_Delete(req);
}

/* PREFIX/SITE/command: the same commands, a code required for any change;
 * the reply goes to PREFIX/SITE/command/result with the request's "id". */
static void on_command_message(struct daemon *dm, const struct mosquitto_message *m)
{
	cJSON *req = m->payloadlen > 0 && m->payloadlen < 8192
	                 ? cJSON_ParseWithLength(m->payload, (size_t)m->payloadlen)
	                 : NULL;
	cJSON *r, *rid;
	char topic[SH_TOPIC_MAX + 16];
	char *text;
	if (!req || !cJSON_IsObject(req) || !cJSON_IsString(cJSON_GetObjectItem(req, "cmd")))
		r = ctl_error("a command is a JSON object with a string \"cmd\"", NULL);
	else
		r = coded_command(dm, req, 1);
	rid = req ? cJSON_GetObjectItem(req, "id") : NULL;
	if (rid && (cJSON_IsString(rid) || cJSON_IsNumber(rid)))
		cJSON_AddItemToObject(r, "request", cJSON_Duplicate(rid, 0));
	snprintf(topic, sizeof(topic), "%s/result", dm->command_topic);
	text = cJSON_PrintUnformatted(r);
	if (text)
		mqttc_publish(dm->remote ? dm->remote : dm->local_out, topic, text, strlen(text), 1,
		              0, NULL);
	free(text);
	cJSON_Delete(r);
	cJSON_Delete(req);
}

/* The militia acknowledges on PREFIX/SITE/ack: {"alarm": ID, "by": "who"}.
 * Anything else there is logged and changes nothing. */
static void on_ack_message(struct daemon *dm, const struct mosquitto_message *m)
{
	cJSON *j = m->payloadlen > 0 && m->payloadlen < 4096
	               ? cJSON_ParseWithLength(m->payload, (size_t)m->payloadlen)
	               : NULL;
	const cJSON *al = j ? cJSON_GetObjectItem(j, "alarm") : NULL;
	const cJSON *by = j ? cJSON_GetObjectItem(j, "by") : NULL;
	char why[256], who[80];
	if (!cJSON_IsNumber(al) || al->valuedouble < 1 ||
	    al->valuedouble != (double)(int64_t)al->valuedouble ||
	    (by && (!cJSON_IsString(by) || strlen(by->valuestring) > 63))) {
		log_warn("upstream: %s: expected {\"alarm\": ID, \"by\": \"name\"}; ignored",
		         m->topic);
		goto out;
	}
	snprintf(who, sizeof(who), "militia:%s", cJSON_IsString(by) ? by->valuestring : "?");
	if (panel_ack(dm->panel, (int64_t)al->valuedouble, who, loop_mono_ms(), loop_wall_ms(), why,
	              sizeof(why)) < 0)
		log_notice("upstream: ack from %s not applied: %s", who, why);
	after_command(dm);
out:
	cJSON_Delete(j);
}

/* ---- reload ------------------------------------------------------------- */

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static int broker_differs(const struct config_broker *a, const struct config_broker *b)
{
	return str_differs(a->host, b->host) || a->port != b->port ||
	       str_differs(a->username, b->username) || str_differs(a->password, b->password) ||
	       a->tls != b->tls;
}

static void reload(struct daemon *dm)
{
	struct config *ncfg;
	struct ruleset *nrs;
	struct ingest *nin;
	struct diag_count d;

	log_notice("reload: reading %s", dm->config_path);
	if (load_all(dm->config_path, 1, &ncfg, &nrs, &d) < 0) {
		log_err("reload: %d error(s); the running configuration and rules stay in use",
		        d.errors);
		return;
	}
	nin = ingest_new(ncfg);
	if (!nin) {
		log_err("reload: out of memory; keeping the running configuration");
		rules_free(nrs);
		config_free(ncfg);
		return;
	}
	if (broker_differs(&dm->cfg->mqtt, &ncfg->mqtt) ||
	    broker_differs(&dm->cfg->upstream, &ncfg->upstream) ||
	    str_differs(dm->cfg->database, ncfg->database) ||
	    str_differs(dm->cfg->control_socket, ncfg->control_socket) ||
	    str_differs(dm->cfg->site.id, ncfg->site.id))
		log_warn("reload: site id, broker, database and control socket changes take "
		         "effect at the next restart");
	/* Swap. From here on nothing can fail. The bus workers read the old
	 * config: stop them first, start them again on the new one. */
	stop_buses(dm);
	for (int i = 0; i < ingest_topic_count(dm->ingest); i++)
		mqttc_unsubscribe(dm->local, ingest_topic(dm->ingest, i));
	ingest_take_counters(nin, dm->ingest);
	ingest_free(dm->ingest);
	dm->ingest = nin;
	registry_rebind(dm->reg, ncfg);
	outputs_rebind(dm->outputs, ncfg);
	upstream_rebind(dm->up, ncfg);
	panel_rebind(dm->panel, ncfg);
	engine_rebind(dm->engine, ncfg, nrs);
	ctl_set_idle_timeout(dm->ctl, ncfg->control_idle_s);
	rules_free(dm->rules);
	dm->rules = nrs;
	config_free(dm->cfg);
	dm->cfg = ncfg;
	if (mqttc_connected(dm->local))
		subscribe_all(dm);
	if (start_buses(dm) < 0)
		log_err("reload: the Modbus buses could not start again; see above");
	if (hass_rebind(dm) == 0)
		hass_announce(dm);
	/* The new rule set has no waiting delays: tell it what is active. */
	panel_replay(dm->panel);
	after_command(dm);
	log_set_level(log_level_from_name(ncfg->log_level) >= 0
	                  ? log_level_from_name(ncfg->log_level)
	                  : LOG_INFO);
	store_event(dm->store, loop_wall_ms(), "daemon", "reload", NULL, NULL, 0, 0,
	            "configuration and rules reloaded");
	schedule_flush(dm);
	status_changed(dm);
	log_notice("reload: done: %d sensors, %d rules%s", ncfg->nsensors, rules_count(nrs),
	           d.warnings ? " (with warnings)" : "");
}

/* ---- signals ------------------------------------------------------------ */

static void on_signal(void *arg, int fd, short revents)
{
	struct daemon *dm = arg;
	struct signalfd_siginfo si;
	(void)revents;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(dm);
		else
			dm->stop = 1;
	}
}

static int setup_signals(struct daemon *dm)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	dm->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (dm->sigfd < 0)
		return -1;
	return loop_fd_add(dm->loop, dm->sigfd, POLLIN, on_signal, dm);
}

/* ---- main --------------------------------------------------------------- */

static void set_timezone(const struct config *c);

/* --test: scenarios on a virtual clock against the config's own rules. */
static int test_all(struct daemon *dm, const char *path, const char *const *files, int nfiles)
{
	struct diag_count d;
	int failed;
	if (load_all(dm->config_path, 0, &dm->cfg, &dm->rules, &d) < 0) {
		fprintf(stderr, "%s: %d error(s); fix them first (--check)\n", path, d.errors);
		free(dm->config_path);
		free(dm);
		return 1;
	}
	log_init("safehoused", 1, LOG_ERR);
	set_timezone(dm->cfg);
	failed = scenario_run_files(dm->cfg, files, nfiles, stdout, stderr);
	rules_free(dm->rules);
	config_free(dm->cfg);
	free(dm->config_path);
	free(dm);
	return failed ? 1 : 0;
}

/* Calendar rules run in the site's time zone; stored times stay UTC. */
static void set_timezone(const struct config *c)
{
	char path[256];
	const char *tz = c->site.timezone ? c->site.timezone : SH_DEFAULT_TIMEZONE;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	if (access(path, R_OK) != 0)
		log_warn("time zone %s: %s not found (install tzdata); calendar rules use UTC", tz,
		         path);
	setenv("TZ", tz, 1);
	tzset();
}

/* --check: every error of the config and of every rule file, in one pass.
 * The rule files are checked even when the config has errors, against what
 * of the config could be read, so an installer fixes everything at once. */
static int check_all(struct daemon *dm, const char *path)
{
	struct diag_count d = {0};
	struct rules_site site;
	int cerr = 0, rerr = 0, rwarn = 0;

	dm->cfg = config_load_partial(dm->config_path, diag_print, &d, &cerr);
	if (dm->cfg && dm->cfg->nrule_files > 0) {
		site.config = dm->cfg;
		dm->rules =
		    rules_compile_files((const char *const *)dm->cfg->rule_files,
		                        dm->cfg->nrule_files, &site, diag_print, &d, &rerr, &rwarn);
	}
	if (d.errors == 0 && dm->cfg && dm->rules)
		printf("%s: OK: %d zones, %d sensors, %d outputs, %d contacts, %d rules in %d "
		       "file(s)%s\n",
		       path, dm->cfg->nzones, dm->cfg->nsensors, dm->cfg->noutputs,
		       dm->cfg->ncontacts, rules_count(dm->rules), dm->cfg->nrule_files,
		       d.warnings ? ", with warnings" : "");
	else
		fprintf(stderr, "%s: %d error(s)\n", path, d.errors ? d.errors : 1);
	rules_free(dm->rules);
	config_free(dm->cfg);
	free(dm->config_path);
	free(dm);
	return d.errors == 0 && cerr == 0 ? 0 : 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: safehoused -c FILE [-f] [--check]\n"
	           "       safehoused -c FILE --test SCENARIO...\n"
	           "  -c, --config FILE  site configuration (JSON)\n"
	           "  -f, --foreground   log to stderr instead of syslog\n"
	           "      --check        validate the config and every rule file, then exit\n"
	           "      --test         run scenario files against the config's rules on a\n"
	           "                     virtual clock; exit 1 if any scenario fails\n"
	           "  -V, --version      print the version\n");
}

static int run(struct daemon *dm)
{
	char err[512];
	int rc = 1;
	struct mqttc_callbacks local_cb = {.on_connect = on_local_connect,
	                                   .on_message = on_local_message,
	                                   .barrier = local_barrier};
	struct mqttc_callbacks out_cb = {on_out_connect, on_out_disconnect, on_out_message,
	                                 on_out_publish, NULL};
	struct mqttc_callbacks remote_cb = {on_remote_connect, on_remote_disconnect,
	                                    on_remote_message, on_remote_publish, NULL};
	struct panel_deps deps;

	dm->loop = loop_new();
	if (!dm->loop || setup_signals(dm) < 0) {
		log_err("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}
	dm->store = store_open(dm->cfg->database, STORE_THREADED, err, sizeof(err));
	if (!dm->store) {
		log_err("store: %s", err);
		goto out;
	}
	loop_fd_add(dm->loop, store_fd(dm->store), POLLIN, on_store, dm);
	store_set_health_cb(dm->store, on_store_health, dm);
	dm->reg = registry_new(dm->cfg);
	dm->ingest = ingest_new(dm->cfg);
	dm->up = upstream_new(dm->loop, dm->store, dm->cfg);
	snprintf(dm->ack_topic, sizeof(dm->ack_topic), "%s/%s/ack", dm->cfg->upstream_prefix,
	         dm->cfg->site.id);
	snprintf(dm->command_topic, sizeof(dm->command_topic), "%s/%s/command",
	         dm->cfg->upstream_prefix, dm->cfg->site.id);
	dm->users = users_new(dm->store);
	if (!dm->users) {
		log_err("users: cannot start (libsodium)");
		goto out;
	}
	if (!dm->reg || !dm->ingest || !dm->up) {
		log_err("out of memory");
		goto out;
	}
	/* The will marks the site offline on whichever connection carries
	 * upstream traffic. */
	dm->local_out = connect_broker(dm, "local-out", &dm->cfg->mqtt,
	                               dm->cfg->upstream.host == NULL, &out_cb);
	if (dm->cfg->upstream.host)
		dm->remote = connect_broker(dm, "upstream", &dm->cfg->upstream, 1, &remote_cb);
	if (!dm->local_out || (dm->cfg->upstream.host && !dm->remote)) {
		log_err("cannot create MQTT clients");
		goto out;
	}
	upstream_set_client(dm->up, dm->remote ? dm->remote : dm->local_out);
	if (hass_rebind(dm) < 0) {
		log_err("out of memory");
		goto out;
	}
	dm->outputs = outputs_new(dm->loop, dm->cfg, dm->local_out);
	deps = (struct panel_deps){dm->cfg, dm->store, dm->outputs, dm->up, dm->reg};
	dm->panel = dm->outputs ? panel_new(&deps, loop_mono_ms()) : NULL;
	dm->engine = dm->panel ? engine_new(dm->cfg, dm->rules, dm->reg, dm->panel, dm->store,
	                                    dm->started_mono)
	                       : NULL;
	if (!dm->outputs || !dm->panel || !dm->engine) {
		log_err("cannot start the panel");
		goto out;
	}
	panel_set_changed_cb(dm->panel, status_changed, dm);
	outputs_set_coil_writer(dm->outputs, write_coil, dm);
	if (start_buses(dm) < 0)
		goto out;
	/* Alarms restored from the store: their escalation delays start again. */
	panel_replay(dm->panel);
	engine_settle(dm->engine, loop_mono_ms(), loop_wall_ms());
	restore_sensors(dm);
	/* The reports' connection last: nothing arrives before the panel, the
	 * engine and the restored states are in place. */
	dm->local = connect_broker(dm, "local", &dm->cfg->mqtt, 0, &local_cb);
	if (!dm->local) {
		log_err("cannot create MQTT clients");
		goto out;
	}
	dm->ctl = ctl_new(dm->loop, dm->cfg->control_socket, dm->cfg->control_group, ctl_handle, dm,
	                  err, sizeof(err));
	if (!dm->ctl) {
		log_err("control socket: %s", err);
		goto out;
	}
	ctl_set_idle_timeout(dm->ctl, dm->cfg->control_idle_s);
	store_event(dm->store, loop_wall_ms(), "daemon", "start", NULL, NULL, 0, 0,
	            "safehoused " SH_VERSION " started");
	store_commit(dm->store);
	dm->snapshot_timer = loop_timer_add(dm->loop, SENSOR_SNAPSHOT_MS, snapshot, dm);
	dm->supervise_timer = loop_timer_add(dm->loop, 1000, supervise, dm);
	dm->hb_timer =
	    loop_timer_add(dm->loop, (int64_t)dm->cfg->heartbeat_s * 1000, heartbeat, dm);
	log_notice("safehoused %s: site %s, %d zones, %d sensors, %d outputs, %d rules", SH_VERSION,
	           dm->cfg->site.id, dm->cfg->nzones, dm->cfg->nsensors, dm->cfg->noutputs,
	           rules_count(dm->rules));
	for (int i = 0; i < dm->cfg->ncontacts; i++)
		if (dm->cfg->contacts[i].via != VIA_UPSTREAM)
			log_warn("contact %s: %s delivery is not available in this version; its "
			         "alerts are kept in the outbox until it is",
			         dm->cfg->contacts[i].id,
			         config_via_name(dm->cfg->contacts[i].via));

	while (!dm->stop)
		if (loop_run_once(dm->loop, -1) < 0) {
			log_err("event loop: %s", strerror(errno));
			goto out;
		}
	log_notice("stopping");
	rc = 0;
out:
	if (dm->store) {
		registry_take_dirty(dm->reg, save_sensor, dm);
		store_event(dm->store, loop_wall_ms(), "daemon", "stop", NULL, NULL, 0, 0,
		            rc ? "safehoused stopped on an error" : "safehoused stopped");
		/* Durable now: the held acks can go before we say goodbye. */
		if (store_commit(dm->store) == 0)
			mqttc_acks_durable(dm->local);
	}
	/* Say goodbye on purpose: a clean stop is not a lost site, but the
	 * militia must still see that nobody is watching. */
	if (dm->up && upstream_connected(dm->up)) {
		const char *w = upstream_will_payload(dm->up);
		mqttc_publish(dm->remote ? dm->remote : dm->local_out,
		              upstream_status_topic(dm->up), w, strlen(w), 1, 1, NULL);
	}
	stop_buses(dm);
	mqttc_disconnect(dm->remote);
	mqttc_disconnect(dm->local_out);
	mqttc_disconnect(dm->local);
	ctl_free(dm->ctl);
	engine_free(dm->engine);
	panel_free(dm->panel);
	outputs_free(dm->outputs);
	mqttc_free(dm->remote);
	mqttc_free(dm->local);
	mqttc_free(dm->local_out);
	upstream_free(dm->up);
	ingest_free(dm->ingest);
	users_free(dm->users);
	free(dm->hass_state);
	free(dm->hass_link);
	registry_free(dm->reg);
	store_close(dm->store);
	if (dm->sigfd > 0)
		close(dm->sigfd);
	loop_free(dm->loop);
	return rc;
}

/* One daemon per database, decided before anything is opened or connected:
 * returns the lock's descriptor (held until exit), or negative after saying
 * why. */
static int lock_database(const char *database)
{
	char *path = NULL, err[512];
	pid_t holder = 0;
	int fd;

	if (asprintf(&path, "%s.lock", database) < 0) {
		log_err("out of memory");
		return -1;
	}
	fd = pidlock_take(path, &holder, err, sizeof(err));
	if (fd == -EAGAIN && holder > 0)
		log_err("another safehoused (pid %ld) is already running with database %s; not "
		        "starting",
		        (long)holder, database);
	else if (fd == -EAGAIN)
		log_err("another safehoused is already running with database %s (%s); not starting",
		        database, err);
	else if (fd < 0)
		log_err("%s; not starting", err);
	free(path);
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
	                                     {"foreground", no_argument, NULL, 'f'},
	                                     {"check", no_argument, NULL, 'k'},
	                                     {"test", no_argument, NULL, 't'},
	                                     {"version", no_argument, NULL, 'V'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	struct daemon *dm;
	struct diag_count d;
	int foreground = 0, check = 0, test = 0, c, rc = 1, lockfd;
	const char *path = NULL;

	while ((c = getopt_long(argc, argv, "c:fVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'k':
			check = 1;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("safehoused %s\n", SH_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || (optind != argc && !test) || (test && optind == argc)) {
		usage(stderr);
		return 2;
	}
	dm = calloc(1, sizeof(*dm));
	if (!dm)
		return 1;
	dm->sigfd = -1;
	dm->started_mono = loop_mono_ms();
	dm->config_path = realpath(path, NULL);
	if (!dm->config_path) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
		free(dm);
		return 1;
	}

	if (check)
		return check_all(dm, path);
	if (test)
		return test_all(dm, path, (const char *const *)&argv[optind], argc - optind);

	log_init("safehoused", foreground, LOG_INFO);
	d.to_log = 1;
	if (load_all(dm->config_path, 1, &dm->cfg, &dm->rules, &d) < 0) {
		log_err("%s: %d error(s); not starting", path, d.errors);
		free(dm->config_path);
		free(dm);
		return 1;
	}
	if (log_level_from_name(dm->cfg->log_level) >= 0)
		log_set_level(log_level_from_name(dm->cfg->log_level));
	set_timezone(dm->cfg);
	lockfd = lock_database(dm->cfg->database);
	if (lockfd >= 0) {
		rc = run(dm);
		close(lockfd);
	}
	rules_free(dm->rules);
	config_free(dm->cfg);
	free(dm->config_path);
	free(dm);
	return rc;
}
