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
#include "cmd.h"
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
#include "status.h"
#include "store.h"
#include "upstream.h"
#include "users.h"

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
	struct engine *engine;
	struct buses *buses;
	struct users *users;
	struct hass *hass;
	/* What the status, the faults and the commands work on: refreshed by
	 * bind() whenever one of the pointers above changes. */
	struct status_deps status;
	struct status_faults faults;
	struct cmd_ctx cmd;
	int sigfd;
	int stop;
	int64_t started_mono;
	int flush_timer, snapshot_timer, hb_timer, status_timer, supervise_timer;
	int tick_timer;
	int64_t tick_due;
	char ack_topic[SH_TOPIC_MAX];
	char command_topic[SH_TOPIC_MAX];
	int nrestored;
};

static void after_command(void *arg);

/* The handles the status and the commands see, after any of them changed
 * (start, reload, the buses restarted, the control socket opened). */
static void bind(struct daemon *dm)
{
	dm->status = (struct status_deps){
	    .cfg = dm->cfg,
	    .rules = dm->rules,
	    .panel = dm->panel,
	    .outputs = dm->outputs,
	    .store = dm->store,
	    .reg = dm->reg,
	    .ingest = dm->ingest,
	    .up = dm->up,
	    .local = dm->local,
	    .local_out = dm->local_out,
	    .buses = dm->buses,
	    .started_mono = dm->started_mono,
	};
	dm->cmd = (struct cmd_ctx){
	    .cfg = dm->cfg,
	    .panel = dm->panel,
	    .store = dm->store,
	    .reg = dm->reg,
	    .users = dm->users,
	    .buses = dm->buses,
	    .ctl = dm->ctl,
	    .status = &dm->status,
	    .after = after_command,
	    .arg = dm,
	};
}

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

static void publish_status(void *arg)
{
	struct daemon *dm = arg;
	dm->status_timer = 0;
	upstream_publish_status(dm->up, status_build(&dm->status, 0));
	hass_sync_panel(dm->hass, 0);
	hass_sync_gateway(dm->hass, 0);
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
	upstream_publish_heartbeat(dm->up, status_heartbeat(&dm->status));
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

/* The store started or stopped taking writes (status.c). */
static void on_store_health(void *arg)
{
	struct daemon *dm = arg;
	if (status_store_health(&dm->faults, &dm->status))
		after_command(dm);
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
	hass_sync_sensor(dm->hass, sensor, 0);
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
	else if (hass_is_command_topic(dm->hass, m->topic))
		on_hass_command(dm, m);
}

static void supervise(void *arg)
{
	struct daemon *dm = arg;
	if (status_supervise_upstream(&dm->faults, &dm->status, loop_mono_ms()))
		after_command(dm);
	engine_supervise(dm->engine, loop_mono_ms(), loop_wall_ms());
	hass_sync_sensors(dm->hass);
	schedule_flush(dm);
	schedule_tick(dm);
	dm->supervise_timer = loop_timer_add(dm->loop, 1000, supervise, dm);
}

/* ---- Modbus -------------------------------------------------------------- */

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
			ctl_reply(dm->ctl, ev.token, r ? r : cmd_error("modbus: no answer", NULL));
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
	bind(dm);
	return 0;
}

static void stop_buses(struct daemon *dm)
{
	if (!dm->buses)
		return;
	loop_fd_del(dm->loop, buses_fd(dm->buses));
	buses_stop(dm->buses);
	dm->buses = NULL;
	bind(dm);
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
	hass_announce(dm->hass);
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

/* Home Assistant's states and discovery go out on the output connection,
 * retained. */
static void hass_publish(void *ctx, const char *topic, const char *payload, int qos)
{
	struct daemon *dm = ctx;
	mqttc_publish(dm->local_out, topic, payload, strlen(payload), qos, 1, NULL);
}

static void hass_subscribe(void *ctx, const char *topic)
{
	struct daemon *dm = ctx;
	mqttc_subscribe(dm->local_out, topic);
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

/* ---- commands ----------------------------------------------------------- */

/* After a command changed the panel: let the rules hear about it, then
 * write and schedule what follows. */
static void after_command(void *arg)
{
	struct daemon *dm = arg;
	engine_settle(dm->engine, loop_mono_ms(), loop_wall_ms());
	schedule_flush(dm);
	schedule_tick(dm);
}

static cJSON *ctl_handle(void *ctx, const cJSON *req)
{
	struct daemon *dm = ctx;
	return cmd_run(&dm->cmd, req, 0);
}

/* Home Assistant's panel: {"action":"ARM_AWAY","code":"1234"}; the code is
 * checked like any other. */
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
	r = cmd_run(&dm->cmd, req, 1);
	if (!cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")))
		log_notice("homeassistant: %s",
		           cJSON_GetStringValue(cJSON_GetObjectItem(r, "error")));
	/* Home Assistant shows the state it reads back: republish it even when
	 * the command was refused. */
	hass_sync_panel(dm->hass, 1);
	cJSON_Delete(r);
	cJSON_Delete(req);
}

/* PREFIX/SITE/command: the reply goes to PREFIX/SITE/command/result. */
static void on_command_message(struct daemon *dm, const struct mosquitto_message *m)
{
	cJSON *r = cmd_mqtt_request(&dm->cmd, m->payload, m->payloadlen);
	char topic[SH_TOPIC_MAX + 16];
	char *text = cJSON_PrintUnformatted(r);
	snprintf(topic, sizeof(topic), "%s/result", dm->command_topic);
	if (text)
		mqttc_publish(dm->remote ? dm->remote : dm->local_out, topic, text, strlen(text), 1,
		              0, NULL);
	free(text);
	cJSON_Delete(r);
}

static void on_ack_message(struct daemon *dm, const struct mosquitto_message *m)
{
	cmd_militia_ack(&dm->cmd, m->topic, m->payload, m->payloadlen);
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
	bind(dm);
	if (mqttc_connected(dm->local))
		subscribe_all(dm);
	if (start_buses(dm) < 0)
		log_err("reload: the Modbus buses could not start again; see above");
	if (hass_rebind(dm->hass, ncfg) == 0 && mqttc_connected(dm->local_out))
		hass_announce(dm->hass);
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
	struct hass_deps hd;

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
	bind(dm);
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
	hd = (struct hass_deps){dm->cfg,    dm->panel,    dm->reg,        dm->store,
	                        SH_VERSION, hass_publish, hass_subscribe, dm};
	dm->hass = hass_new(&hd);
	if (!dm->hass) {
		log_err("out of memory");
		goto out;
	}
	bind(dm);
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
	bind(dm);
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
	hass_free(dm->hass);
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
