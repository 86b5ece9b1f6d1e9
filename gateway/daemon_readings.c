/*
 * daemon_readings.c: safehoused's reading path. A report (from MQTT after
 * ingest, or from a Modbus bus worker) goes through the engine (registry,
 * rules, panel, outputs); the store commits in batches; the sensors'
 * states are saved and restored across a restart; timed work runs when
 * due.
 */
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "engine.h"
#include "hass.h"
#include "ingest.h"
#include "log.h"
#include "messages.h"
#include "loop.h"
#include "bus.h"
#include "panel.h"
#include "registry.h"
#include "store.h"

#define FLUSH_INTERVAL_MS 250
/* State changes a second whose sensor rows are saved with them (see
 * daemon_report_at). */
#define SAVE_NOW_PER_S 20
/* Reports of a read burst that share one reading of the clocks. */
#define REPORT_CLOCK_EVERY 32

/* ---- storage timers ----------------------------------------------------- */

static void flush(void *arg)
{
	struct daemon *dm = arg;
	dm->flush_timer = 0;
	store_commit(dm->store);
}

/* The store's writer finished commits: announce what they made durable. */
void daemon_on_store(void *arg, int fd, short revents)
{
	struct daemon *dm = arg;
	(void)fd;
	(void)revents;
	store_dispatch(dm->store);
}

void daemon_schedule_flush(struct daemon *dm)
{
	if (!dm->flush_timer && store_uncommitted(dm->store))
		dm->flush_timer = loop_timer_add(dm->loop, FLUSH_INTERVAL_MS, flush, dm);
}

static void save_sensor(struct daemon *dm, int s, int state)
{
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
	(state ? store_sensor_save_state : store_sensor_save)(dm->store, dm->cfg->sensors[s].id,
	                                                      registry_last_seen(dm->reg, s),
	                                                      (int)online, has_batt, batt, values);
}

void daemon_save_sensor(void *arg, int s)
{
	save_sensor(arg, s, 0);
}

/* A detector's changed state: see registry_mark_urgent. */
static void save_sensor_state(void *arg, int s)
{
	save_sensor(arg, s, 1);
}

/* The detectors whose state changed in this burst go to the store now:
 * before the iteration's hand-over, and before a QoS 1 report's
 * acknowledgment waits for the commit (the broker will not deliver that
 * report again, so after a crash only the saved state says smoke). */
static void save_changed_states(struct daemon *dm)
{
	if (dm->reg)
		registry_take_urgent(dm->reg, save_sensor_state, dm);
}

void daemon_snapshot(void *arg)
{
	struct daemon *dm = arg;
	registry_take_dirty(dm->reg, daemon_save_sensor, dm);
	daemon_schedule_flush(dm);
	dm->snapshot_timer = loop_timer_add(dm->loop, SENSOR_SNAPSHOT_MS, daemon_snapshot, dm);
}

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

void daemon_restore_sensors(struct daemon *dm)
{
	if (store_sensor_foreach(dm->store, restore_row, dm) < 0)
		log_err("restore: cannot read the saved sensor states; they start unknown");
	if (dm->nrestored)
		log_notice("restore: last known state of %d sensor(s) restored", dm->nrestored);
	daemon_schedule_flush(dm);
	daemon_schedule_tick(dm);
}

/* ---- the reading path --------------------------------------------------- */

/* Run the rules' and the panel's timed work when it is due, and at least
 * once a minute so that calendar rules notice a wall-clock jump. */
static void tick(void *arg);

void daemon_schedule_tick(struct daemon *dm)
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
	/* A panic button's press has returned to "released" (engine.h). */
	hass_sync_sensors(dm->hass);
	daemon_schedule_flush(dm);
	daemon_schedule_tick(dm);
}

/* Kinds whose primary point is an alarm state (smoke, heat, gas, CO,
 * water detected): what a restart must never forget, saved at once
 * whatever the rate. */
static int kind_is_detector(enum sh_kind k)
{
	return k == KIND_SMOKE || k == KIND_HEAT || k == KIND_GAS || k == KIND_CO ||
	       k == KIND_WATER;
}

/* One report through the engine. When a state point changed (smoke
 * detected or clear again, a door opened, a sensor came back online), the
 * sensor's row is saved at once, in the same batch as the reading, so that
 * it is on the disk with the reading's own commit and a restart restores
 * what the sensor said last; saved later, in the 10 s snapshot, it would
 * be a commit of its own (README, "Writes and the SD card"). Past
 * SAVE_NOW_PER_S changes a second the rows wait for the snapshot. A recorded
 * temperature or battery level waits for the snapshot: it commits with the
 * telemetry anyway. */
void daemon_report(struct daemon *dm, int sensor, const struct sh_point_value *vals, int n,
                   const char *origin)
{
	daemon_report_at(dm, sensor, vals, n, origin, loop_mono_ms(), loop_wall_ms());
}

void daemon_report_at(struct daemon *dm, int sensor, const struct sh_point_value *vals, int n,
                      const char *origin, int64_t mono_ms, int64_t wall_ms)
{
	engine_report(dm->engine, sensor, vals, n, origin, mono_ms, wall_ms);
	if (!(registry_dirty(dm->reg, sensor) & REGISTRY_DIRTY_STATE))
		goto out;
	/* A house changes a few states a minute; a flood of them (a sensor
	 * gone mad, a load test toggling doors thousands of times a second)
	 * must not cost a row's formatting and write each: past
	 * SAVE_NOW_PER_S a second, the rows of doors, windows and motion
	 * follow in the snapshot. A detector's is always saved. Either way
	 * once per loop iteration however often it changed in the burst
	 * (registry_mark_urgent; saved in daemon_prepare or before a QoS 1
	 * acknowledgment's commit). */
	if (mono_ms / 1000 != dm->save_now_second) {
		dm->save_now_second = mono_ms / 1000;
		dm->save_now_count = 0;
	}
	if (dm->save_now_count < SAVE_NOW_PER_S || kind_is_detector(dm->cfg->sensors[sensor].kind))
		dm->save_now_count += registry_mark_urgent(dm->reg, sensor);
out:
	hass_sync_sensor(dm->hass, sensor, 0);
}

/* The sensors' connection: reports only. */
void daemon_on_local_message(void *ctx, const struct mosquitto_message *m)
{
	struct daemon *dm = ctx;
	struct sh_point_value vals[FAMILY_MAX_VALUES];
	int sensor, n;

	/* The clocks, once per REPORT_CLOCK_EVERY messages of a read burst
	 * (daemon_prepare starts each burst afresh): a burst handles a
	 * message in microseconds, so a report's time is at most a fraction
	 * of a millisecond early, and the stored times stay in order. */
	if (dm->clock_uses == 0) {
		dm->clock_mono = loop_mono_ms();
		dm->clock_wall = loop_wall_ms();
	}
	if (++dm->clock_uses >= REPORT_CLOCK_EVERY)
		dm->clock_uses = 0;
	if (ingest_message(dm->ingest, m->topic, m->payload, (size_t)m->payloadlen, dm->clock_mono,
	                   &sensor, vals, &n) < 0)
		return;
	daemon_report_at(dm, sensor, vals, n, dm->cfg->sensors[sensor].id, dm->clock_mono,
	                 dm->clock_wall);
	daemon_schedule_flush(dm);
	/* Once per read burst, in daemon_prepare: timers only run after the
	 * burst anyway, and the deadline is an absolute time. */
	dm->tick_dirty = 1;
}

static void handoff_retry(void *arg)
{
	struct daemon *dm = arg;
	dm->handoff_timer = 0; /* daemon_prepare tries again */
}

/* Before every poll: what is per loop iteration rather than per message.
 * The rules' next deadline after a burst of reports, and the burst's
 * telemetry to the store's writer in one hand-over; if the writer holds
 * its queue, the loop does not wait for it but tries again within 1 ms. */
void daemon_prepare(void *arg)
{
	struct daemon *dm = arg;
	dm->clock_uses = 0;
	if (dm->tick_dirty && dm->engine) {
		dm->tick_dirty = 0;
		daemon_schedule_tick(dm);
	}
	save_changed_states(dm);
	if (store_flush(dm->store) > 0 && !dm->handoff_timer)
		dm->handoff_timer = loop_timer_add(dm->loop, 1, handoff_retry, dm);
}

/* Everything read on the sensors' connection so far goes to the store: the
 * broker's acks wait for that commit (mqttc.h, deferred acknowledgment). */
void daemon_local_barrier(void *ctx, mqttc_done_fn done, void *dctx)
{
	struct daemon *dm = ctx;
	save_changed_states(dm);
	if (store_commit_then(dm->store, done, dctx) < 0)
		done(dctx, -1);
}

/* ---- Modbus -------------------------------------------------------------- */

int daemon_write_coil(void *ctx, int output, int on)
{
	struct daemon *dm = ctx;
	return buses_write(dm->buses, output, on);
}

/* Readings, device faults and coil results from the bus workers. */
static void on_buses(void *arg, int fd, short revents)
{
	struct daemon *dm = arg;
	struct bus_event ev;
	char key[96], text[320];
	(void)fd;
	(void)revents;
	while (buses_take(dm->buses, &ev)) {
		int64_t mono = loop_mono_ms(), wall = loop_wall_ms();
		switch (ev.type) {
		case BUS_READING: {
			const struct sh_point_value v = {ev.point, ev.value};
			if (ev.sensor < 0 || ev.sensor >= dm->cfg->nsensors)
				break;
			daemon_report(dm, ev.sensor, &v, 1, "modbus");
			break;
		}
		case BUS_DEVICE:
			snprintf(key, sizeof(key), "modbus %s/%d", dm->cfg->buses[ev.bus].id,
			         ev.unit);
			snprintf(text, sizeof(text), messages_get(dm->cfg, MSG_FAULT_MODBUS),
			         dm->cfg->buses[ev.bus].id, ev.unit, ev.msg[0] ? ": " : "", ev.msg);
			panel_system_fault(dm->panel, key, !ev.ok, text, mono, wall);
			break;
		case BUS_WRITE:
			snprintf(key, sizeof(key), "output %s", dm->cfg->outputs[ev.output].id);
			panel_system_fault(dm->panel, key, !ev.ok, ev.msg, mono, wall);
			break;
		case BUS_TOOL: {
			cJSON *r = ev.text ? cJSON_Parse(ev.text) : NULL;
			free(ev.text);
			ctl_reply(dm->ctl, ev.token, r ? r : cmd_error("modbus: no answer", NULL));
			break;
		}
		}
	}
	daemon_schedule_flush(dm);
	daemon_after_command(dm);
}

int daemon_start_buses(struct daemon *dm)
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
	daemon_bind(dm);
	return 0;
}

void daemon_stop_buses(struct daemon *dm)
{
	if (!dm->buses)
		return;
	loop_fd_del(dm->loop, buses_fd(dm->buses));
	buses_stop(dm->buses);
	dm->buses = NULL;
	daemon_bind(dm);
}

/* ---- after a change ------------------------------------------------------ */

/* After a command changed the panel: let the rules hear about it, then
 * write and schedule what follows. */
void daemon_after_command(void *arg)
{
	struct daemon *dm = arg;
	engine_settle(dm->engine, loop_mono_ms(), loop_wall_ms());
	daemon_schedule_flush(dm);
	daemon_schedule_tick(dm);
}