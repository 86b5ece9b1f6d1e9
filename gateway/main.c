/*
 * main.c: safehoused, the gateway daemon.
 *
 * One process, one event loop that owns all state. Data flows one way:
 * MQTT message -> ingest (decode) -> registry (last state) -> rules ->
 * panel (alarms) -> outputs (sirens, at once) and store + upstream (after
 * the commit).
 *
 * This file: start-up and shut-down, the status and supervision timers,
 * signals and reload. Loading config and rules, --check and --test are in
 * daemon_config.c; the reading path is in daemon_readings.c, the MQTT
 * connections and the control socket in daemon_links.c, the commands in
 * cmd.c (table: commands.def).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/cfgload.h"
#include "../common/svc.h"
#include "../rules/rules.h"
#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "engine.h"
#include "hass.h"
#include "ingest.h"
#include "log.h"
#include "loop.h"
#include "bus.h"
#include "mqttc.h"
#include "neighbours.h"
#include "outbox.h"
#include "plugin.h"
#include "webhook.h"
#include "wpanel.h"
#include "modem.h"
#include "alerts.h"
#include "outputs.h"
#include "panel.h"
#include "registry.h"
#include "selfcheck.h"
#include "status.h"
#include "store.h"
#include "upstream.h"
#include "users.h"

/* ---- binding ------------------------------------------------------------ */

static void kick_outbox(void *ctx)
{
	outbox_kick(ctx);
}

/* The handles the status and the commands see, after any of them changed
 * (start, reload, the buses restarted, the control socket opened). */
void daemon_bind(struct daemon *dm)
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
	    .outbox = dm->outbox,
	    .local = dm->local,
	    .local_out = dm->local_out,
	    .buses = dm->buses,
	    .started_mono = dm->started_mono,
	    .neighbours = dm->neighbours,
	    .selfcheck = dm->selfcheck,
	};
	dm->cmd = (struct cmd_ctx){
	    .cfg = dm->cfg,
	    .panel = dm->panel,
	    .store = dm->store,
	    .reg = dm->reg,
	    .users = dm->users,
	    .buses = dm->buses,
	    .ctl = dm->ctl,
	    .selfcheck = dm->selfcheck,
	    .status = &dm->status,
	    .after = daemon_after_command,
	    .arg = dm,
	};
	if (dm->store && dm->cfg)
		store_set_retention(dm->store, dm->cfg->retention_days);
}

/* ---- the plugins (plugin.h) ----------------------------------------------- */

static void wpanel_changed_if(struct daemon *dm)
{
	if (dm->wpanel)
		dm->wpanel_ops->changed(dm->wpanel);
}

/* The webhook channel, once a contact has a webhook step (at the start, or
 * a reload that adds one): libcurl is loaded then, not before. When it
 * cannot be had, the webhook rows wait in the outbox (never lost) and the
 * outbox says why (safehousectl status, outbox), as for a modem that is
 * missing; a restart with the plugin in place sends them. */
static void webhook_start(struct daemon *dm)
{
	char err[512], why[700];

	if (dm->webhook || !config_has_via(dm->cfg, VIA_WEBHOOK))
		return;
	dm->webhook_ops = plugin_load(PLUGIN_WEBHOOK, "webhook_plugin", err, sizeof(err));
	if (!dm->webhook_ops) {
		snprintf(why, sizeof(why), "webhook contacts need %s: %s", PLUGIN_WEBHOOK, err);
		log_err("%s; their messages wait in the outbox", why);
		outbox_set_why(dm->outbox, VIA_WEBHOOK, why);
		return;
	}
	dm->webhook = dm->webhook_ops->create(dm->loop, dm->cfg);
	if (!dm->webhook) {
		log_err("webhook: libcurl cannot start; webhook alerts wait in the outbox");
		outbox_set_why(dm->outbox, VIA_WEBHOOK, "libcurl cannot start");
		return;
	}
	log_info("webhook: %s loaded", PLUGIN_WEBHOOK);
	outbox_set_why(dm->outbox, VIA_WEBHOOK, NULL);
	outbox_add_channel(dm->outbox, VIA_WEBHOOK, dm->webhook_ops->channel(dm->webhook));
}

/* ---- status and supervision --------------------------------------------- */

static void publish_status(void *arg)
{
	struct daemon *dm = arg;
	dm->status_timer = 0;
	upstream_publish_status(dm->up, status_build(&dm->status, 0));
	daemon_local_status(dm);
	hass_sync_panel(dm->hass, 0);
	hass_sync_gateway(dm->hass, 0);
	wpanel_changed_if(dm);
}

/* Coalesce: a burst of alarm changes gives one status message. */
void daemon_status_changed(void *arg)
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

/* The store started or stopped taking writes (status.c). */
static void on_store_health(void *arg)
{
	struct daemon *dm = arg;
	if (status_store_health(&dm->faults, &dm->status))
		daemon_after_command(dm);
	daemon_status_changed(dm);
}

/* ---- the GSM modem ------------------------------------------------------- */

static struct alerts_deps alerts_deps(struct daemon *dm)
{
	return (struct alerts_deps){.cfg = dm->cfg,
	                            .panel = dm->panel,
	                            .store = dm->store,
	                            .up = dm->up,
	                            .after = daemon_after_command,
	                            .arg = dm};
}

/* An SMS to the gateway: a reply that acknowledges, or nothing. */
static void on_modem_sms(void *ctx, const char *from, const char *text)
{
	struct daemon *dm = ctx;
	struct alerts_deps d = alerts_deps(dm);
	alerts_on_reply(&d, from, text, loop_mono_ms(), loop_wall_ms());
	daemon_schedule_flush(dm);
	daemon_status_changed(dm);
}

/* A call to the gateway (the modem rejected it). */
static void on_modem_call(void *ctx, const char *from)
{
	struct daemon *dm = ctx;
	struct alerts_deps d = alerts_deps(dm);
	alerts_on_call(&d, from, loop_mono_ms(), loop_wall_ms());
	daemon_schedule_flush(dm);
	daemon_status_changed(dm);
}

static void modem_stop(struct daemon *dm)
{
	if (!dm->modem)
		return;
	/* Forget its tries first: their rows are tried again by the next
	 * modem. */
	outbox_add_channel(dm->outbox, VIA_SMS, NULL);
	outbox_add_channel(dm->outbox, VIA_CALL, NULL);
	modem_free(dm->modem);
	dm->modem = NULL;
}

/* Start the modem of the config, if it has one. A modem that cannot start
 * (no such device yet) is not an error: the module reopens it until it
 * appears, and its fault says so meanwhile. */
static void modem_start(struct daemon *dm)
{
	char err[256] = "";
	if (!dm->cfg->modem.device)
		return;
	dm->modem = modem_new(dm->loop, &dm->cfg->modem, err, sizeof(err));
	if (!dm->modem) {
		log_err("modem: cannot start: %s; SMS and calls wait in the outbox", err);
		return;
	}
	modem_set_incoming(dm->modem, on_modem_sms, on_modem_call, dm);
	outbox_add_channel(dm->outbox, VIA_SMS, modem_channel(dm->modem, VIA_SMS));
	outbox_add_channel(dm->outbox, VIA_CALL, modem_channel(dm->modem, VIA_CALL));
}

static int str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int modem_config_same(const struct config_modem *a, const struct config_modem *b)
{
	return str_same(a->device, b->device) && str_same(a->pin_file, b->pin_file) &&
	       a->baud == b->baud && a->ring_s == b->ring_s && a->check_s == b->check_s;
	/* fault_s is read from the config at each check: no restart needed */
}

/* A modem fault that lasts is a fault alarm (to the militia upstream, to
 * the owner by the model), cleared when the modem is fine again. */
static int supervise_modem(struct daemon *dm, int64_t now)
{
	const char *why = dm->modem ? modem_fault(dm->modem) : NULL;
	if (!why) {
		dm->modem_bad_since = 0;
		if (!dm->modem_fault)
			return 0;
		dm->modem_fault = 0;
		panel_system_fault(dm->panel, "modem", 0, NULL, now, loop_wall_ms());
		return 1;
	}
	if (!dm->modem_bad_since)
		dm->modem_bad_since = now;
	/* modem.fault_s (2 min by default): a modem takes up to a minute to
	 * find the network after a power-up. */
	if (dm->modem_fault || now - dm->modem_bad_since < (int64_t)dm->cfg->modem.fault_s * 1000)
		return 0;
	dm->modem_fault = 1;
	panel_system_fault(dm->panel, "modem", 1, why, now, loop_wall_ms());
	return 1;
}

static void supervise(void *arg)
{
	struct daemon *dm = arg;
	if (status_supervise_upstream(&dm->faults, &dm->status, loop_mono_ms()))
		daemon_after_command(dm);
	if (supervise_modem(dm, loop_mono_ms())) {
		daemon_after_command(dm);
		daemon_status_changed(dm);
	}
	engine_supervise(dm->engine, loop_mono_ms(), loop_wall_ms());
	hass_sync_sensors(dm->hass);
	/* Sensors' states and links change without a panel change. */
	wpanel_changed_if(dm);
	daemon_schedule_flush(dm);
	daemon_schedule_tick(dm);
	dm->supervise_timer = loop_timer_add(dm->loop, 1000, supervise, dm);
}

/* The service manager's watchdog: pinged from this loop's timers, so a loop
 * that stops turning stops the pings and systemd restarts the daemon. */
static void watchdog_ping(void *arg)
{
	struct daemon *dm = arg;
	svc_watchdog_ping();
	dm->watchdog_timer = loop_timer_add(dm->loop, svc_watchdog_ms(), watchdog_ping, dm);
}

/* What `systemctl status safehoused` shows under "Status:". */
static void say_ready(struct daemon *dm)
{
	char s[256];
	snprintf(s, sizeof(s), "site %s: %d sensors, %d outputs, %d rules", dm->cfg->site.id,
	         dm->cfg->nsensors, dm->cfg->noutputs, rules_count(dm->rules));
	svc_ready(s);
}

/* ---- reload ------------------------------------------------------------- */

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static int hosts_differ(const struct config_broker *a, const struct config_broker *b)
{
	if (a->nhosts != b->nhosts)
		return 1;
	for (int i = 0; i < a->nhosts; i++)
		if (strcmp(a->hosts[i].host, b->hosts[i].host) != 0 ||
		    a->hosts[i].port != b->hosts[i].port)
			return 1;
	return 0;
}

static int broker_differs(const struct config_broker *a, const struct config_broker *b)
{
	return str_differs(a->host, b->host) || a->port != b->port || hosts_differ(a, b) ||
	       str_differs(a->username, b->username) || str_differs(a->password, b->password) ||
	       a->tls != b->tls || str_differs(a->cafile, b->cafile) ||
	       str_differs(a->certfile, b->certfile) || str_differs(a->keyfile, b->keyfile);
}

static void reload(struct daemon *dm)
{
	struct config *ncfg;
	struct ruleset *nrs;
	struct ingest *nin;
	struct diag_count d;
	int reload_modem = 0;

	log_notice("reload: reading %s", dm->config_path);
	if (daemon_load_all(dm->config_path, 1, &ncfg, &nrs, &d) < 0) {
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
	    str_differs(dm->cfg->site.id, ncfg->site.id) ||
	    str_differs(dm->cfg->web.listen, ncfg->web.listen) ||
	    str_differs(dm->cfg->web.cert, ncfg->web.cert) ||
	    dm->cfg->web.https != ncfg->web.https ||
	    dm->cfg->web.public_view != ncfg->web.public_view)
		log_warn("reload: site id, broker, database, control socket and web panel "
		         "address, https and public changes take effect at the next restart");
	/* Swap. From here on nothing can fail. The bus workers read the old
	 * config: stop them first, start them again on the new one. */
	daemon_stop_buses(dm);
	/* Only the topics that change: a topic unsubscribed and subscribed
	 * again is deaf in between, and the broker drops (does not queue) a
	 * smoke report published then. Messages are handled in this loop, so
	 * none is decoded against the wrong table. */
	for (int i = 0; i < ingest_topic_count(dm->ingest); i++)
		if (!ingest_has_topic(nin, ingest_topic(dm->ingest, i)))
			mqttc_unsubscribe(dm->local, ingest_topic(dm->ingest, i));
	if (mqttc_connected(dm->local))
		for (int i = 0; i < ingest_topic_count(nin); i++)
			if (!ingest_has_topic(dm->ingest, ingest_topic(nin, i)))
				mqttc_subscribe(dm->local, ingest_topic(nin, i));
	ingest_take_counters(nin, dm->ingest);
	ingest_free(dm->ingest);
	dm->ingest = nin;
	registry_rebind(dm->reg, ncfg);
	outputs_rebind(dm->outputs, ncfg);
	upstream_rebind(dm->up, ncfg);
	daemon_neighbours_rebind(dm, ncfg);
	outbox_rebind(dm->outbox, ncfg);
	if (dm->webhook)
		dm->webhook_ops->rebind(dm->webhook, ncfg);
	/* The modem holds the old config's strings: a changed modem is a new
	 * one, an unchanged one keeps running (its tries too) on the new. */
	if (!modem_config_same(&dm->cfg->modem, &ncfg->modem)) {
		modem_stop(dm);
		reload_modem = 1;
	}
	panel_rebind(dm->panel, ncfg);
	engine_rebind(dm->engine, ncfg, nrs);
	ctl_set_idle_timeout(dm->ctl, ncfg->control_idle_s);
	rules_free(dm->rules);
	dm->rules = nrs;
	config_free(dm->cfg);
	dm->cfg = ncfg;
	if (dm->selfcheck)
		selfcheck_set_config(dm->selfcheck, ncfg);
	daemon_bind(dm);
	if (reload_modem)
		modem_start(dm);
	/* A webhook contact added: its channel (and libcurl) now. */
	webhook_start(dm);
	if (daemon_start_buses(dm) < 0)
		log_err("reload: the Modbus buses could not start again; see above");
	if (hass_rebind(dm->hass, ncfg) == 0 && mqttc_connected(dm->local_out))
		hass_announce(dm->hass);
	/* The new rule set has no waiting delays: tell it what is active. */
	panel_replay(dm->panel);
	daemon_after_command(dm);
	log_set_level(log_level_from_name(ncfg->log_level) >= 0
	                  ? log_level_from_name(ncfg->log_level)
	                  : LOG_INFO);
	store_event(dm->store, loop_wall_ms(), "daemon", "reload", NULL, NULL, 0, 0,
	            "configuration and rules reloaded");
	daemon_schedule_flush(dm);
	daemon_status_changed(dm);
	log_notice("reload: done: %d sensors, %d rules%s", ncfg->nsensors, rules_count(nrs),
	           d.warnings ? " (with warnings)" : "");
	/* The old configuration and the parse's scratch are free now: give
	 * their pages back (see run). */
	malloc_trim(0);
}

/* ---- signals ------------------------------------------------------------ */

static void on_signal(void *arg, int fd, short revents)
{
	struct daemon *dm = arg;
	struct signalfd_siginfo si;
	(void)revents;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			/* READY=1 again also after a failed reload: the running
			 * configuration is still in service. */
			svc_reloading();
			reload(dm);
			say_ready(dm);
		} else
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

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: safehoused -c FILE [-f] [--check]\n"
	    "       safehoused -c FILE --test SCENARIO...\n"
	    "       safehoused -c FILE --report --from DATE --to DATE [--format text|json|html]\n"
	    "                  [--lang vi|en] [--db FILE] [-o FILE]\n"
	    "       safehoused --verify DATABASE\n"
	    "  -c, --config FILE  site configuration (JSON)\n"
	    "  -f, --foreground   log to stderr instead of syslog\n"
	    "      --check        validate the config and every rule file, then exit\n"
	    "      --test         run scenario files against the config's rules on a\n"
	    "                     virtual clock; exit 1 if any scenario fails\n"
	    "      --report       the compliance report of [--from, --to) from the\n"
	    "                     database (--db: a copy of it), read-only\n"
	    "      --verify DB    check the event log's hash chain in the database\n"
	    "                     file DB (read-only); exit 1 if a row was changed\n"
	    "                     or deleted\n"
	    "  -V, --version      print the version\n");
}

/* Open, create and connect everything, in an order where nothing is used
 * before it exists: the store, the modules, the output and upstream
 * connections, the panel and the engine, the buses, the restored states,
 * then the sensors' connection and the control socket. Returns 0, or -1
 * after saying why (stop_all() frees what was made). */
static int start_all(struct daemon *dm)
{
	char err[512];
	struct panel_deps deps;
	struct hass_deps hd;

	dm->loop = loop_new();
	if (!dm->loop || setup_signals(dm) < 0) {
		log_err("cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	/* A database the disk will not let us open (full, I/O errors) still
	 * gives a running gateway, from memory, with a fault; a read-only one
	 * or a newer schema is refused. */
	dm->store =
	    store_open(dm->cfg->database, STORE_THREADED | STORE_DEGRADED_OK, err, sizeof(err));
	if (!dm->store) {
		log_err("store: %s", err);
		return -1;
	}
	loop_fd_add(dm->loop, store_fd(dm->store), POLLIN, daemon_on_store, dm);
	loop_prepare_add(dm->loop, daemon_prepare, dm);
	store_set_health_cb(dm->store, on_store_health, dm);
	daemon_bind(dm);
	dm->reg = registry_new(dm->cfg);
	dm->ingest = ingest_new(dm->cfg);
	dm->up = upstream_new(dm->loop, dm->store, dm->cfg);
	dm->neighbours = neighbours_new();
	dm->outbox = outbox_new(dm->loop, dm->store, dm->cfg);
	if (!dm->up || !dm->outbox) {
		log_err("out of memory");
		return -1;
	}
	/* Every commit that queued messages kicks upstream, and upstream
	 * kicks the other channels. Channels (the modem's sms and call, the
	 * webhooks) register with outbox_add_channel. */
	upstream_set_kick_hook(dm->up, kick_outbox, dm->outbox);
	/* Reports run on their own thread; without it the gateway still
	 * guards the house, it only cannot report. */
	dm->selfcheck =
	    selfcheck_new(dm->loop, dm->store, dm->up, dm->config_path, dm->cfg, err, sizeof(err));
	if (!dm->selfcheck)
		log_err("%s; reports and the daily self-check are unavailable", err);
	webhook_start(dm);
	modem_start(dm);
	snprintf(dm->ack_topic, sizeof(dm->ack_topic), "%s/%s/ack", dm->cfg->upstream_prefix,
	         dm->cfg->site.id);
	snprintf(dm->command_topic, sizeof(dm->command_topic), "%s/%s/command",
	         dm->cfg->upstream_prefix, dm->cfg->site.id);
	dm->users = users_new(dm->store);
	if (!dm->users) {
		log_err("users: cannot start (libsodium)");
		return -1;
	}
	if (!dm->reg || !dm->ingest || !dm->up || !dm->neighbours) {
		log_err("out of memory");
		return -1;
	}
	dm->local_out = daemon_connect_out(dm);
	if (dm->cfg->upstream.host)
		dm->remote = daemon_connect_remote(dm);
	if (!dm->local_out || (dm->cfg->upstream.host && !dm->remote)) {
		log_err("cannot create MQTT clients");
		return -1;
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
		return -1;
	}
	panel_set_changed_cb(dm->panel, daemon_status_changed, dm);
	hd = (struct hass_deps){dm->cfg,
	                        dm->panel,
	                        dm->reg,
	                        dm->store,
	                        SH_VERSION,
	                        daemon_hass_publish,
	                        daemon_hass_subscribe,
	                        dm};
	dm->hass = hass_new(&hd);
	if (!dm->hass) {
		log_err("out of memory");
		return -1;
	}
	daemon_bind(dm);
	outputs_set_coil_writer(dm->outputs, daemon_write_coil, dm);
	if (daemon_start_buses(dm) < 0)
		return -1;
	/* Alarms restored from the store: their escalation delays start again. */
	panel_replay(dm->panel);
	/* A store that started from memory is a fault from the first second. */
	on_store_health(dm);
	engine_settle(dm->engine, loop_mono_ms(), loop_wall_ms());
	daemon_restore_sensors(dm);
	/* The reports' connection last: nothing arrives before the panel, the
	 * engine and the restored states are in place. */
	dm->local = daemon_connect_reports(dm);
	if (!dm->local) {
		log_err("cannot create MQTT clients");
		return -1;
	}
	dm->ctl = ctl_new(dm->loop, dm->cfg->control_socket, dm->cfg->control_group,
	                  daemon_ctl_handle, dm, err, sizeof(err));
	if (!dm->ctl) {
		log_err("control socket: %s", err);
		return -1;
	}
	ctl_set_idle_timeout(dm->ctl, dm->cfg->control_idle_s);
	daemon_bind(dm);
	if (dm->cfg->web.listen) {
		struct wpanel_deps wd = {&dm->cmd, &dm->status};
		/* The house is guarded without its web page: a missing plugin,
		 * a port in use or a certificate that cannot be made is said,
		 * not fatal. */
		dm->wpanel_ops = plugin_load(PLUGIN_WEB, "wpanel_plugin", err, sizeof(err));
		if (!dm->wpanel_ops)
			log_err("the owner's panel needs %s: %s; the owner's web panel is off",
			        PLUGIN_WEB, err);
		else if (!(dm->wpanel = dm->wpanel_ops->create(dm->loop, &wd, err, sizeof(err))))
			log_err("%s; the owner's web panel is off", err);
	}
	store_event(dm->store, loop_wall_ms(), "daemon", "start", NULL, NULL, 0, 0,
	            "safehoused " SH_VERSION " started");
	store_commit(dm->store);
	dm->snapshot_timer = loop_timer_add(dm->loop, SENSOR_SNAPSHOT_MS, daemon_snapshot, dm);
	dm->supervise_timer = loop_timer_add(dm->loop, 1000, supervise, dm);
	dm->hb_timer =
	    loop_timer_add(dm->loop, (int64_t)dm->cfg->heartbeat_s * 1000, heartbeat, dm);
	if (svc_watchdog_ms() > 0)
		watchdog_ping(dm);
	log_notice("safehoused %s: site %s, %d zones, %d sensors, %d outputs, %d rules", SH_VERSION,
	           dm->cfg->site.id, dm->cfg->nzones, dm->cfg->nsensors, dm->cfg->noutputs,
	           rules_count(dm->rules));
	for (int i = 0; i < dm->cfg->ncontacts; i++)
		for (int k = 0; k < dm->cfg->contacts[i].nsteps; k++) {
			const char *via = config_via_name(dm->cfg->contacts[i].steps[k].via);
			const char *why;
			if (dm->cfg->contacts[i].steps[k].via == VIA_UPSTREAM ||
			    !(why = outbox_why(dm->outbox, via)))
				continue;
			log_warn("contact %s, step %d (%s): %s; its messages wait in the outbox "
			         "(safehousectl outbox)",
			         dm->cfg->contacts[i].id, k + 1, via, why);
		}
	/* Rows due while the daemon was down (the next step of a chain). */
	outbox_kick(dm->outbox);
	return 0;
}

/* Save what is pending, say goodbye upstream, free everything. */
static void stop_all(struct daemon *dm, int rc)
{
	if (dm->store) {
		registry_take_dirty(dm->reg, daemon_save_sensor, dm);
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
	daemon_local_goodbye(dm);
	daemon_stop_buses(dm);
	mqttc_disconnect(dm->remote);
	mqttc_disconnect(dm->local_out);
	mqttc_disconnect(dm->local);
	/* Before the control socket: a report in progress still gets its
	 * answer ("stopping"). */
	selfcheck_free(dm->selfcheck);
	dm->selfcheck = NULL;
	if (dm->wpanel)
		dm->wpanel_ops->free(dm->wpanel);
	ctl_free(dm->ctl);
	engine_free(dm->engine);
	panel_free(dm->panel);
	outputs_free(dm->outputs);
	mqttc_free(dm->remote);
	mqttc_free(dm->local);
	mqttc_free(dm->local_out);
	modem_stop(dm);
	outbox_free(dm->outbox);
	if (dm->webhook)
		dm->webhook_ops->free(dm->webhook);
	upstream_free(dm->up);
	neighbours_free(dm->neighbours);
	ingest_free(dm->ingest);
	users_free(dm->users);
	hass_free(dm->hass);
	registry_free(dm->reg);
	store_close(dm->store);
	if (dm->sigfd > 0)
		close(dm->sigfd);
	loop_free(dm->loop);
}

static int run(struct daemon *dm)
{
	int rc = 1;
	if (start_all(dm) < 0)
		goto out;
	/* Loading the config and the rules left free chunks scattered through
	 * the heap (the JSON tree, the checks' scratch tables): glibc returns
	 * only the heap's top by itself. Resident memory is what a small
	 * board counts (issue 16). */
	malloc_trim(0);
	/* Everything is open and listening, the broker connection is under
	 * way: from here on a report can sound a siren. */
	say_ready(dm);
	while (!dm->stop)
		if (loop_run_once(dm->loop, -1) < 0) {
			log_err("event loop: %s", strerror(errno));
			goto out;
		}
	log_notice("stopping");
	rc = 0;
out:
	svc_stopping();
	stop_all(dm, rc);
	return rc;
}

/* --verify DB: the same check as `safehousectl verify`, on a file, with no
 * daemon (an inspector's copy of the database, a stopped gateway). */
static int verify_file(const char *db)
{
	struct store_verify_result r;
	if (store_verify_file(db, &r) < 0) {
		fprintf(stderr, "safehoused: %s\n", r.reason);
		return 2;
	}
	if (!r.ok) {
		printf("%s: the event log does not verify: %s\n", db, r.reason);
		return 1;
	}
	printf("%s: event log verified: %lld row(s) chained", db, (long long)r.rows);
	if (r.unchained)
		printf(" (%lld earlier row(s) from before the chain are not)",
		       (long long)r.unchained);
	printf("\nhead: row %lld, hash %s\n", (long long)r.head_row, r.head_hash);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
	                                     {"foreground", no_argument, NULL, 'f'},
	                                     {"check", no_argument, NULL, 'k'},
	                                     {"test", no_argument, NULL, 't'},
	                                     {"version", no_argument, NULL, 'V'},
	                                     {"report", no_argument, NULL, 'R'},
	                                     {"from", required_argument, NULL, 1},
	                                     {"to", required_argument, NULL, 2},
	                                     {"format", required_argument, NULL, 3},
	                                     {"lang", required_argument, NULL, 4},
	                                     {"db", required_argument, NULL, 5},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"verify", required_argument, NULL, 'v'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	struct daemon *dm;
	struct diag_count d;
	int foreground = 0, check = 0, test = 0, report = 0, c, rc = 1, lockfd;
	struct daemon_report_opts ro = {.format = "text"};
	const char *path = NULL;

	/* One malloc arena for every thread. glibc gives each thread that
	 * allocates an arena of its own, which keeps what it once held: the
	 * store's writer, the self-check and the Modbus workers held 1.3 MB
	 * at idle, and a flood of readings (allocated by the loop, freed by
	 * the writer) fragmented two arenas instead of one. Per-thread caches
	 * (tcache) still take most small allocations without the lock; the
	 * writer's SQLite uses its own lookaside. (issue 16, "Memory" in
	 * tests/bench/README.md.) */
	mallopt(M_ARENA_MAX, 1);

	while ((c = getopt_long(argc, argv, "c:fVho:", opts, NULL)) != -1) {
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
		case 'R':
			report = 1;
			break;
		case 1:
			ro.from = optarg;
			break;
		case 2:
			ro.to = optarg;
			break;
		case 3:
			ro.format = optarg;
			break;
		case 4:
			ro.lang = optarg;
			break;
		case 5:
			ro.db = optarg;
			break;
		case 'o':
			ro.out = optarg;
			break;
		case 'v':
			return verify_file(optarg);
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
	if (report)
		return daemon_report_offline(path, &ro);
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
		return daemon_check_all(dm, path);
	if (test)
		return daemon_test_all(dm, path, (const char *const *)&argv[optind], argc - optind);

	log_init("safehoused", foreground, LOG_INFO);
	d.to_log = 1;
	if (daemon_load_all(dm->config_path, 1, &dm->cfg, &dm->rules, &d) < 0) {
		log_err("%s: %d error(s); not starting", path, d.errors);
		free(dm->config_path);
		free(dm);
		return 1;
	}
	if (log_level_from_name(dm->cfg->log_level) >= 0)
		log_set_level(log_level_from_name(dm->cfg->log_level));
	daemon_set_timezone(dm->cfg);
	lockfd = daemon_lock_database(dm->cfg->database);
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
