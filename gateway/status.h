/*
 * status.h: the gateway's own state, as JSON and as faults.
 *
 * status_build() is the snapshot safehousectl status shows and, shorter,
 * the retained status message upstream. The faults are the ones the
 * gateway raises about itself: the upstream link down for too long, and
 * a store that cannot write.
 */
#ifndef SH_STATUS_H
#define SH_STATUS_H

#include <stdint.h>

#define SH_VERSION "0.1.0"

struct config;
struct ruleset;
struct panel;
struct outputs;
struct store;
struct registry;
struct ingest;
struct upstream;
struct mqttc;
struct buses;
struct cJSON;

/* What the status reads; owned by the daemon, which keeps the pointers
 * current across a reload. Any of buses may be NULL. */
struct status_deps {
	const struct config *cfg;
	const struct ruleset *rules;
	struct panel *panel;
	struct outputs *outputs;
	struct store *store;
	struct registry *reg;
	struct ingest *ingest;
	struct upstream *up;
	struct outbox *outbox;           /* NULL: none (the outbox's status is left out) */
	struct mqttc *local, *local_out; /* the reports' and the output connection */
	struct buses *buses;
	struct selfcheck *selfcheck; /* NULL: none ("compliance" is left out) */
	int64_t started_mono;
	const struct neighbours *neighbours; /* NULL: no neighbour group */
};

/* for_ctl: the full reply of the status command ({"ok":true,...});
 * otherwise the upstream status message. The caller frees it. */
struct cJSON *status_build(const struct status_deps *d, int for_ctl);

/* The upstream heartbeat: uptime, alarm and fault counts, outbox, and the
 * event log's head {"log": {"row", "hash"}} (store_chain_head). */
struct cJSON *status_heartbeat(const struct status_deps *d);

/* The gateway's faults about itself, and since when the link is down. */
struct status_faults {
	int64_t up_down_since; /* monotonic ms, 0 while connected */
	int link_fault;
	int store_fault;
};

/* The upstream link down longer than down_fault_s is a fault. Returns 1
 * when the panel changed (the caller settles the rules). */
int status_supervise_upstream(struct status_faults *f, const struct status_deps *d, int64_t now);

/* The store started or stopped taking writes: a fault at once. Returns 1
 * when the panel changed. */
int status_store_health(struct status_faults *f, const struct status_deps *d);

#endif
