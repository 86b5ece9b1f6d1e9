/*
 * status.c: the status snapshot and the gateway's faults about itself.
 */
#include "status.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include "../rules/rules.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "loop.h"
#include "messages.h"
#include "bus.h"
#include "mqttc.h"
#include "neighbours.h"
#include "selfcheck.h"
#include "outbox.h"
#include "outputs.h"
#include "panel.h"
#include "registry.h"
#include "store.h"
#include "upstream.h"

/* "store": whether the database takes writes; when it does not, why, since
 * when, and how much is held in memory for it. */
static void add_store_health(const struct status_deps *d, cJSON *o)
{
	struct store_health h;
	cJSON *st = cJSON_AddObjectToObject(o, "store");
	char at[32];
	store_health(d->store, &h);
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
static void add_last_known(const struct status_deps *d, cJSON *o)
{
	const struct config *c = d->cfg;
	cJSON *arr = cJSON_AddArrayToObject(o, "last_known");
	for (int s = 0; s < c->nsensors; s++) {
		enum sh_point pp = sh_kind_primary_point(c->sensors[s].kind);
		double v;
		cJSON *it;
		if (pp == POINT__COUNT || !registry_restored(d->reg, s, pp) ||
		    registry_get(d->reg, s, pp, &v) < 0)
			continue;
		it = cJSON_CreateObject();
		cJSON_AddStringToObject(it, "sensor", c->sensors[s].id);
		cJSON_AddStringToObject(it, "kind", sh_kind_name(c->sensors[s].kind));
		cJSON_AddStringToObject(it, "zone", c->zones[c->sensors[s].zone].id);
		cJSON_AddStringToObject(it, "state", sh_state_name(pp, v));
		cJSON_AddItemToArray(arr, it);
	}
}

/* "latency": alarm raised -> PUBACK from the upstream broker (upstream.h),
 * in ms with microsecond precision. */
static void add_latency(const struct status_deps *d, cJSON *o)
{
	struct upstream_latency lt;
	cJSON *a, *l = cJSON_AddObjectToObject(o, "latency");
	upstream_latency(d->up, &lt);
	a = cJSON_AddObjectToObject(l, "alarm_to_puback_ms");
	cJSON_AddNumberToObject(a, "n", lt.n);
	cJSON_AddNumberToObject(a, "total", (double)lt.total);
	cJSON_AddNumberToObject(a, "p50", (double)lt.p50_us / 1000.0);
	cJSON_AddNumberToObject(a, "p99", (double)lt.p99_us / 1000.0);
	cJSON_AddNumberToObject(a, "max", (double)lt.max_us / 1000.0);
}

/* "database": its size, the oldest event kept and how long events are
 * kept (retention_days), for an inspector who asks whether the records go
 * back far enough; "log": the event log's chain head. */
static void add_database(const struct status_deps *d, cJSON *o)
{
	int64_t bytes = -1, oldest = 0, row;
	char at[32], hash[STORE_HASH_HEX];
	cJSON *db = cJSON_AddObjectToObject(o, "database"), *lg;
	store_db_info(d->store, &bytes, &oldest);
	cJSON_AddNumberToObject(db, "bytes", (double)bytes);
	if (oldest) {
		store_format_time(oldest, at, sizeof(at));
		cJSON_AddStringToObject(db, "oldest_event", at);
	} else {
		cJSON_AddNullToObject(db, "oldest_event");
	}
	cJSON_AddNumberToObject(db, "retention_days", d->cfg->retention_days);
	store_chain_head(d->store, &row, hash);
	lg = cJSON_AddObjectToObject(o, "log");
	cJSON_AddNumberToObject(lg, "row", (double)row);
	cJSON_AddStringToObject(lg, "hash", hash);
}

/* What only safehousectl status shows: payload counters, links, rules,
 * restored states, buses, uptime. */
static void add_ctl_fields(const struct status_deps *d, cJSON *o)
{
	const uint64_t *r = ingest_rejects(d->ingest);
	cJSON *m, *rej = cJSON_AddObjectToObject(o, "rejected");
	for (int i = REJECT_NONE + 1; i < REJECT__COUNT; i++)
		cJSON_AddNumberToObject(rej, family_reject_name((enum family_reject)i),
		                        (double)r[i]);
	cJSON_AddNumberToObject(o, "accepted", (double)ingest_accepted(d->ingest));
	cJSON_AddNumberToObject(o, "bad_fields", (double)ingest_bad_fields(d->ingest));
	cJSON_AddNumberToObject(o, "outbox_pending", upstream_pending(d->up));
	add_latency(d, o);
	m = cJSON_AddObjectToObject(o, "mqtt");
	cJSON_AddBoolToObject(m, "local",
	                      mqttc_connected(d->local) && mqttc_connected(d->local_out));
	cJSON_AddBoolToObject(m, "local_reports", mqttc_connected(d->local));
	cJSON_AddBoolToObject(m, "local_out", mqttc_connected(d->local_out));
	cJSON_AddNumberToObject(m, "reports_unacked", mqttc_unacked(d->local));
	cJSON_AddBoolToObject(m, "upstream", upstream_connected(d->up));
	if (upstream_peer(d->up))
		cJSON_AddStringToObject(m, "upstream_peer", upstream_peer(d->up));
	if (d->outbox)
		outbox_status_json(d->outbox, o);
	if (upstream_error(d->up))
		cJSON_AddStringToObject(m, "upstream_error", upstream_error(d->up));
	cJSON_AddNumberToObject(o, "rules", rules_count(d->rules));
	add_last_known(d, o);
	cJSON_AddItemToObject(o, "modbus", buses_status(d->buses));
	cJSON_AddNumberToObject(o, "uptime_s", (double)((loop_mono_ms() - d->started_mono) / 1000));
	cJSON_AddStringToObject(o, "version", SH_VERSION);
	add_database(d, o);
}

/* "neighbours": the group's feeds come over the upstream link (the local
 * broker without one); while it is down nothing can arrive. */
static void add_neighbours(const struct status_deps *d, cJSON *o)
{
	struct neighbours_stats st;
	cJSON *n;

	if (d->cfg->nneighbours <= 0)
		return;
	neighbours_stats(d->neighbours, &st);
	n = cJSON_AddObjectToObject(o, "neighbours");
	cJSON_AddNumberToObject(n, "sites", d->cfg->nneighbours);
	cJSON_AddBoolToObject(n, "watched", upstream_connected(d->up));
	cJSON_AddStringToObject(n, "via", d->cfg->upstream.host ? "upstream" : "local");
	cJSON_AddNumberToObject(n, "events", (double)st.events);
	cJSON_AddNumberToObject(n, "duplicates", (double)st.duplicates);
	cJSON_AddNumberToObject(n, "ignored", (double)st.ignored);
	cJSON_AddNumberToObject(n, "bad", (double)st.bad);
}

cJSON *status_build(const struct status_deps *d, int for_ctl)
{
	cJSON *o = cJSON_CreateObject(), *s;
	int alarms, faults, on, off, unk;

	if (for_ctl) {
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddStringToObject(o, "site", d->cfg->site.id);
	}
	if (d->cfg->site.name)
		cJSON_AddStringToObject(o, "name", d->cfg->site.name);
	cJSON_AddStringToObject(o, "mode", sh_mode_name(panel_mode(d->panel)));
	panel_counts(d->panel, &alarms, &faults);
	cJSON_AddItemToObject(o, "alarms", panel_alarms_json(d->panel));
	cJSON_AddNumberToObject(o, "active_alarms", alarms);
	cJSON_AddNumberToObject(o, "faults", faults);
	panel_service_json(d->panel, o);
	cJSON_AddStringToObject(o, "sirens", sh_siren_name(outputs_siren_pattern(d->outputs)));
	add_store_health(d, o);
	registry_counts(d->reg, &on, &off, &unk);
	s = cJSON_AddObjectToObject(o, "sensors");
	cJSON_AddNumberToObject(s, "total", d->cfg->nsensors);
	cJSON_AddNumberToObject(s, "online", on);
	cJSON_AddNumberToObject(s, "offline", off);
	cJSON_AddNumberToObject(s, "unknown", unk);
	add_neighbours(d, o);
	/* The daily self-check's summary: also in the retained upstream
	 * status, so the station sees a house drifting out of compliance. */
	if (d->selfcheck)
		cJSON_AddItemToObject(o, "compliance", selfcheck_status(d->selfcheck));
	if (for_ctl)
		add_ctl_fields(d, o);
	return o;
}

cJSON *status_heartbeat(const struct status_deps *d)
{
	cJSON *hb = cJSON_CreateObject();
	int alarms, faults;
	panel_counts(d->panel, &alarms, &faults);
	cJSON_AddNumberToObject(hb, "uptime_s",
	                        (double)((loop_mono_ms() - d->started_mono) / 1000));
	cJSON_AddNumberToObject(hb, "active_alarms", alarms);
	cJSON_AddNumberToObject(hb, "faults", faults);
	cJSON_AddNumberToObject(hb, "outbox_pending", upstream_pending(d->up));
	/* The event log's head: the station keeps the copy the owner cannot
	 * change, for an inspector to compare with the report's. */
	{
		int64_t row;
		char hash[STORE_HASH_HEX];
		cJSON *lg = cJSON_AddObjectToObject(hb, "log");
		store_chain_head(d->store, &row, hash);
		cJSON_AddNumberToObject(lg, "row", (double)row);
		cJSON_AddStringToObject(lg, "hash", hash);
	}
	return hb;
}

/* It is shown locally at once and reaches the militia through the outbox
 * when the link is back. */
int status_supervise_upstream(struct status_faults *f, const struct status_deps *d, int64_t now)
{
	int64_t limit =
	    (int64_t)(d->cfg->upstream.host ? d->cfg->upstream.down_fault_s : 300) * 1000;
	const char *why;
	char msg[256];
	if (upstream_connected(d->up)) {
		f->up_down_since = 0;
		if (!f->link_fault)
			return 0;
		f->link_fault = 0;
		panel_system_fault(d->panel, "upstream link", 0, NULL, now, loop_wall_ms());
		return 1;
	}
	if (!f->up_down_since)
		f->up_down_since = now;
	if (f->link_fault || now - f->up_down_since < limit)
		return 0;
	f->link_fault = 1;
	why = upstream_error(d->up);
	log_warn("upstream: link down for %lld s%s%s; raising a fault",
	         (long long)((now - f->up_down_since) / 1000), why ? ": " : "", why ? why : "");
	/* The reason (a certificate that does not verify, a refused login)
	 * tells the installer what to fix; the words are libmosquitto's. */
	snprintf(msg, sizeof(msg), "%s%s%s%s", messages_get(d->cfg, MSG_FAULT_UPSTREAM),
	         why ? " (" : "", why ? why : "", why ? ")" : "");
	panel_system_fault(d->panel, "upstream link", 1, msg, now, loop_wall_ms());
	return 1;
}

/* A store that cannot write is a fault at once: in status, upstream (from
 * memory), Home Assistant and, through the model's rules, to the owner. */
int status_store_health(struct status_faults *f, const struct status_deps *d)
{
	struct store_health h;
	char msg[512];
	store_health(d->store, &h);
	if (h.failing == f->store_fault || !d->panel)
		return 0;
	f->store_fault = h.failing;
	snprintf(msg, sizeof(msg), messages_get(d->cfg, MSG_FAULT_STORE), h.error);
	panel_system_fault(d->panel, "store", h.failing, msg, loop_mono_ms(), loop_wall_ms());
	return 1;
}
