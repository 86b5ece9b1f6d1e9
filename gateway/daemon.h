/*
 * daemon.h: safehoused's state, shared by its own files only (main.c:
 * start-up, signals, reload; daemon_readings.c: the reading path;
 * daemon_links.c: the MQTT connections and the control socket). Nothing
 * outside the daemon includes it; modules get their handles, never this.
 */
#ifndef SH_DAEMON_H
#define SH_DAEMON_H

#include <stdint.h>

#include "cmd.h"
#include "config.h"
#include "mqttc.h"
#include "status.h"

struct outbox;
struct webhook;
struct webhook_plugin;
struct wpanel_plugin;
struct modem;
struct mosquitto_message;
struct cJSON;
struct sh_point_value;

/* How often the sensors' changed rows are saved. */
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
	struct outbox *outbox; /* sms, call, webhook: the dispatcher (outbox.h) */
	/* The webhook channel (libcurl), from the plugin safehouse-webhook.so
	 * (plugin.h): NULL until a contact has a webhook step, or when the
	 * plugin cannot be loaded or libcurl cannot start. */
	struct webhook *webhook;
	const struct webhook_plugin *webhook_ops;
	struct modem *modem;     /* the GSM modem's sms and call channels; NULL: none configured */
	int64_t modem_bad_since; /* monotonic ms the modem has had a fault since, 0: fine */
	int modem_fault;         /* the "modem" fault alarm is raised */
	struct panel *panel;
	struct ctl *ctl;
	struct engine *engine;
	struct buses *buses;
	struct users *users;
	struct hass *hass;
	struct neighbours *neighbours;          /* the neighbour group's feeds */
	struct wpanel *wpanel;                  /* the owner's web panel; NULL: off */
	const struct wpanel_plugin *wpanel_ops; /* safehouse-web.so, when loaded */
	struct selfcheck *selfcheck; /* reports and the daily self-check; NULL if it cannot start */
	/* What the status, the faults and the commands work on: refreshed by
	 * daemon_bind() whenever one of the pointers above changes. */
	struct status_deps status;
	struct status_faults faults;
	struct cmd_ctx cmd;
	int sigfd;
	int stop;
	int64_t started_mono;
	int flush_timer, snapshot_timer, hb_timer, status_timer, supervise_timer;
	/* Sensor rows saved at once with a state change in the current
	 * second (daemon_report_at): past SAVE_NOW_PER_S, the snapshot. */
	int64_t save_now_second;
	int save_now_count;
	int tick_timer;
	/* A report since the last loop iteration: the rules' next deadline
	 * may have moved (daemon_prepare). */
	int tick_dirty;
	/* The store's writer held its queue: hand telemetry over again soon. */
	int handoff_timer;
	/* The clocks as read for the reports of the current read burst, and
	 * how many reports have used them (daemon_on_local_message). */
	int64_t clock_mono, clock_wall;
	int clock_uses;
	/* systemd's watchdog ping (common/svc.h); 0 when there is none. */
	int watchdog_timer;
	int64_t tick_due;
	char ack_topic[SH_TOPIC_MAX];
	char command_topic[SH_TOPIC_MAX];
	int nrestored;
};

/* main.c */
void daemon_bind(struct daemon *dm);
void daemon_status_changed(void *arg);

/* daemon_config.c: config and rules together, --check, --test. */
struct diag_count {
	int errors, warnings;
	int to_log; /* 1: log (reload), 0: print to stderr (--check) */
};
void daemon_diag_print(void *ctx, int severity, const char *msg);
/* Load config and rules together: both must be valid, or neither is used. */
int daemon_load_all(const char *path, int to_log, struct config **cfg_out,
                    struct ruleset **rules_out, struct diag_count *d);
/* --check and --test; both free dm. */
int daemon_check_all(struct daemon *dm, const char *path);
int daemon_test_all(struct daemon *dm, const char *path, const char *const *files, int nfiles);
void daemon_set_timezone(const struct config *c);
/* --report: the compliance report from a database file (the daemon's or a
 * copy), read-only, without starting anything. */
struct daemon_report_opts {
	const char *from, *to, *format, *lang, *db, *out;
};
int daemon_report_offline(const char *path, const struct daemon_report_opts *o);
/* The one-daemon-per-database lock: its descriptor, or negative (logged). */
int daemon_lock_database(const char *database);

/* daemon_readings.c */
void daemon_report(struct daemon *dm, int sensor, const struct sh_point_value *vals, int n,
                   const char *origin);
/* The same at a time the caller read (mono and wall ms). */
void daemon_report_at(struct daemon *dm, int sensor, const struct sh_point_value *vals, int n,
                      const char *origin, int64_t mono_ms, int64_t wall_ms);
void daemon_on_local_message(void *ctx, const struct mosquitto_message *m);
void daemon_local_barrier(void *ctx, mqttc_done_fn done, void *dctx);
void daemon_after_command(void *arg);
void daemon_schedule_flush(struct daemon *dm);
void daemon_schedule_tick(struct daemon *dm);
void daemon_prepare(void *arg);
void daemon_on_store(void *arg, int fd, short revents);
void daemon_snapshot(void *arg);
void daemon_save_sensor(void *arg, int sensor);
void daemon_restore_sensors(struct daemon *dm);
int daemon_write_coil(void *ctx, int output, int on);
int daemon_start_buses(struct daemon *dm);
void daemon_stop_buses(struct daemon *dm);

/* daemon_links.c */
struct mqttc *daemon_connect_out(struct daemon *dm);
struct mqttc *daemon_connect_remote(struct daemon *dm);
struct mqttc *daemon_connect_reports(struct daemon *dm);
void daemon_subscribe_reports(struct daemon *dm);
void daemon_local_status(struct daemon *dm);
void daemon_local_goodbye(struct daemon *dm);
/* Follow the feeds a reloaded config lists (call before dm->cfg changes). */
void daemon_neighbours_rebind(struct daemon *dm, const struct config *ncfg);
void daemon_hass_publish(void *ctx, const char *topic, const char *payload, int qos);
void daemon_hass_subscribe(void *ctx, const char *topic);
struct cJSON *daemon_ctl_handle(void *ctx, const struct cJSON *req);

#endif
