/*
 * store.h: the SQLite store: events, alarms, the outbox of remote messages
 * and the last state of each sensor.
 *
 * The store keeps one write transaction open while writes accumulate, so a
 * burst of telemetry costs one fsync per store_commit() instead of one per
 * message. Callers commit on a short timer for telemetry and at once for
 * anything that must survive a power cut before it is acted upon (an alarm
 * transition and its outbox rows). The database runs in WAL mode with
 * synchronous=FULL, so a committed transaction is durable.
 *
 * Strings passed in are copied by SQLite; strings handed to callbacks are
 * valid only during the callback.
 */
#ifndef SH_STORE_H
#define SH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../sensors/point.h"

struct store;

/* The schema version this build writes. */
#define STORE_SCHEMA_VERSION 6

/* STORE_THREADED: every write goes to a writer thread with its own
 * connection, so that no fsync ever runs on the caller's thread (the event
 * loop that sounds the sirens); reads use a second connection. Without it
 * everything runs inline (tests, the scenario runner). */
#define STORE_THREADED 1
/* STORE_DEGRADED_OK: when the file cannot be opened for a storage reason
 * (a full disk, an I/O error, a corrupt file), run from an in-memory
 * database seeded from what can be read of the file, failing (see
 * store_health) until the file opens; every write is kept and written to
 * it then. A read-only file or a newer schema is still refused. */
#define STORE_DEGRADED_OK 2

/* Open (creating if needed) and migrate the database at path. On failure
 * returns NULL and writes a reason into err. */
struct store *store_open(const char *path, int flags, char *err, size_t errlen);

/* Commit what is pending and close. Accepts NULL. Pending store_commit_then
 * callbacks are dropped, not called. */
void store_close(struct store *s);

/* Make every write so far durable, and wait for it. Returns 0 or -1. It
 * blocks: for a clean stop and for inline use. */
int store_commit(struct store *s);

typedef void (*store_done_fn)(void *ctx, int rc);
/* Make every write so far durable, then call fn(ctx, rc) on the caller's
 * thread (from store_dispatch; at once when inline). rc is 0, or -1 when
 * the disk refused them (they are kept and written later; see
 * store_health). */
int store_commit_then(struct store *s, store_done_fn fn, void *ctx);

/* Threaded: an fd that becomes readable when commits have completed; call
 * store_dispatch() then. -1 when inline. */
int store_fd(const struct store *s);
void store_dispatch(struct store *s);

/* Whether the store can write. When the disk refuses writes (full, I/O
 * error, read-only remount), nothing is lost: every write is kept in memory
 * in order and written when the disk takes writes again (retried every 1 to
 * 5 s); telemetry past 50,000 held writes is dropped and counted. Outbox
 * rows the disk refused are sent from memory, with "durable":false added to
 * their payload. */
struct store_health {
	int failing;      /* 1 while writes fail */
	char error[256];  /* SQLite's reason, e.g. "database or disk is full" */
	int64_t since_ms; /* wall clock of the start of the current failure */
	int64_t held;     /* writes kept in memory, waiting for the disk */
	int64_t shed;     /* telemetry writes dropped to bound that memory */
	int64_t failures; /* times the store went from writing to failing */
};
void store_health(struct store *s, struct store_health *h);

/* fn(ctx) is called on the caller's thread (from store_dispatch, or inline
 * from the write that changed it) when the store starts or stops failing. */
typedef void (*store_health_fn)(void *ctx);
void store_set_health_cb(struct store *s, store_health_fn fn, void *ctx);

/* Writes not yet committed (inline mode; 0 when threaded: the writer
 * commits its batches by itself). */
int store_uncommitted(const struct store *s);

/* Threaded: telemetry (readings, sensor snapshots) is handed to the writer
 * in batches, by this call, which the loop makes once per iteration; any
 * other write takes what is pending with it at once. It does not wait
 * for the writer's thread: returns how many writes are still pending
 * (call again soon), 0 when none (and always 0 when inline). */
int store_flush(struct store *s);

/* Append one event. sensor, point, detail may be NULL; has_value says
 * whether value means anything. */
int store_event(struct store *s, int64_t at_ms, const char *origin, const char *type,
                const char *sensor, const char *point, int has_value, double value,
                const char *detail);

struct store_alarm {
	int64_t id;
	enum sh_alarm_class cls;
	const char *zone;
	const char *sensor;
	const char *rule;
	const char *message;
	enum sh_alarm_state state;
	int active;       /* 0 once reset (or a fault has cleared) */
	int cause_active; /* the condition that raised it still holds */
	int64_t raised_ms;
	int64_t updated_ms;
	const char *acked_by;
	const char *reset_by;
	enum sh_siren siren; /* pattern it sounds, SIREN_OFF when silent */
};

/* Insert a new alarm; sets a->id (given by the store, known at once). */
int store_alarm_insert(struct store *s, struct store_alarm *a);
/* Update state, active, cause_active, updated_ms, acked_by, reset_by,
 * sensor and siren. */
int store_alarm_update(struct store *s, const struct store_alarm *a);

typedef void (*store_alarm_fn)(void *ctx, const struct store_alarm *a);
/* Visit alarms, newest first; only active ones when active_only. The class,
 * state and siren columns hold their names (sh_class_name, ...); a row whose
 * class is unknown is skipped (logged), an unknown state reads as raised, so
 * that a damaged row never silences an alarm. */
int store_alarm_foreach(struct store *s, int active_only, int limit, store_alarm_fn fn, void *ctx);

/* The next outbox sequence number: per site, only grows, survives restarts.
 * It is also the message's "seq". */
int64_t store_outbox_next_seq(struct store *s);

/* Queue a remote message. kind: "alarm" (feed), "alert", "notify",
 * "reply"; channel: "upstream", "sms", ... It may go at once. */
int store_outbox_add(struct store *s, int64_t seq, const char *kind, const char *channel,
                     const char *contact, int64_t alarm, const char *topic, const char *payload,
                     int qos, int retain, int64_t at_ms);
/* The same, for a step of an escalation chain: it may go from due_ms (wall
 * clock) on; step is the contact's step index. */
int store_outbox_add_step(struct store *s, int64_t seq, const char *kind, const char *channel,
                          const char *contact, int64_t alarm, const char *topic,
                          const char *payload, int qos, int retain, int64_t at_ms, int64_t due_ms,
                          int step);

/* A row's life: pending until its channel confirms it (delivered), says it
 * never will (failed), an acknowledgment stops its chain (cancelled), or a
 * full outbox drops it (dropped; only notices and replies). */
enum store_outbox_state {
	OUTBOX_PENDING,
	OUTBOX_DELIVERED,
	OUTBOX_FAILED,
	OUTBOX_CANCELLED,
	OUTBOX_DROPPED,
};
const char *store_outbox_state_name(enum store_outbox_state st);

/* One outbox row as the loop sees it: what is on the disk, with the loop's
 * own changes not yet written applied (a try's result, a cancellation), so
 * that no caller sends a row twice or a cancelled one at all. Strings are
 * valid during the callback only. */
struct store_outbox_row {
	int64_t seq;
	const char *kind, *channel, *contact;
	int64_t alarm; /* 0 for none */
	const char *topic, *payload;
	int qos, retain;
	int64_t due_ms; /* wall clock; 0: at once */
	int step;
	int tries;
	int64_t next_try_ms; /* wall clock; 0: now */
	const char *last_error;
	enum store_outbox_state state;
	const char *created_at, *delivered_at; /* RFC 3339; delivered_at NULL */
	int durable;                           /* 0: the disk refused it; it is sent from memory */
};
typedef int (*store_outbox_row_fn)(void *ctx, const struct store_outbox_row *r);

/* Visit the pending rows of channel that are due at now_ms (wall), in seq
 * order, including those the disk refused (kept in memory, their payload
 * marked "durable":false). Stops when fn returns non-zero. Returns the
 * number visited, or -1. */
int store_outbox_foreach_due(struct store *s, const char *channel, int64_t now_ms,
                             store_outbox_row_fn fn, void *ctx);
/* The earliest due time after now_ms of a pending row of channel, or 0. */
int64_t store_outbox_next_due(struct store *s, const char *channel, int64_t now_ms);
/* Rows for `safehousectl outbox`: pending ones, or (all) every state, the
 * newest limit of them, newest first. */
int store_outbox_list(struct store *s, int all, int limit, store_outbox_row_fn fn, void *ctx);

/* A try ended: state (delivered, failed) or still pending after a failed try
 * (then tries and next_try_ms say when again). error may be NULL. */
int store_outbox_mark(struct store *s, int64_t seq, enum store_outbox_state st, int tries,
                      int64_t next_try_ms, const char *error, int64_t at_ms);
/* An acknowledgment or a reset stops the chain: cancel the alarm's alert rows
 * not yet due at now_ms (a step that is due or in flight finishes). Returns
 * how many were cancelled. */
int store_outbox_cancel_alarm(struct store *s, int64_t alarm, int64_t now_ms, const char *why);
/* Keep at most max pending rows: drop the oldest notices and replies first
 * (never an alarm or alert row) until there is room for one more. Returns
 * how many were dropped. */
int store_outbox_make_room(struct store *s, int max, int64_t now_ms);

typedef void (*store_row_fn)(void *ctx, int64_t seq, const char *kind, const char *contact,
                             const char *payload);
/* Visit every outbox row (delivered or not, any channel) with seq > after,
 * in seq order. For reports and the scenario runner. */
int store_outbox_foreach(struct store *s, int64_t after, store_row_fn fn, void *ctx);

typedef void (*store_contact_fn)(void *ctx, const char *contact);
/* Visit the contacts an alert for this alarm was ever queued for. */
int store_outbox_alerted(struct store *s, int64_t alarm, store_contact_fn fn, void *ctx);

/* Small persistent panel state (e.g. "mode"). get returns 0 and copies the
 * value, or -1 when the key is not set. set is batched like events. */
int store_state_get(struct store *s, const char *key, char *buf, size_t size);
int store_state_set(struct store *s, const char *key, const char *value, int64_t at_ms);

int store_outbox_delivered(struct store *s, int64_t seq, int64_t at_ms);

typedef int (*store_outbox_fn)(void *ctx, int64_t seq, const char *topic, const char *payload,
                               int qos, int retain);
/* Visit undelivered messages of a channel that are due now, in seq order,
 * seq > after, at most limit: those on the disk, and those the disk refused (kept in
 * memory, their payload marked "durable":false). Stops early when fn
 * returns non-zero. */
int store_outbox_foreach_pending(struct store *s, const char *channel, int64_t after, int limit,
                                 store_outbox_fn fn, void *ctx);
/* Rows of channel not yet finished on the disk (a delivery not yet written
 * still counts), due or not. */
int store_outbox_pending_count(struct store *s, const char *channel);

/* Save a sensor's last state (one row per sensor). */
int store_sensor_save(struct store *s, const char *id, int64_t last_seen_ms, int online,
                      int has_battery, double battery, const char *values_json);
/* The same for a detector whose state changed (a door, smoke): not slow
 * telemetry, committed within the batch time (250 ms) like the reading
 * itself, so that a restart after a crash knows the state the event log
 * shows. */
int store_sensor_save_state(struct store *s, const char *id, int64_t last_seen_ms, int online,
                            int has_battery, double battery, const char *values_json);
typedef void (*store_sensor_fn)(void *ctx, const char *id, const char *values_json);
/* Visit every saved sensor row (what was committed), in id order. Read-only:
 * for the restore at start. */
int store_sensor_foreach(struct store *s, store_sensor_fn fn, void *ctx);

/* Disablements: a sensor or zone out of service (kind "sensor" or "zone")
 * until until_ms (wall clock), and the end of one (expired or enabled). */
int store_disable_add(struct store *s, const char *target, const char *kind, const char *reason,
                      const char *by, int64_t from_ms, int64_t until_ms);
int store_disable_end(struct store *s, const char *target, const char *by, int64_t at_ms);
typedef void (*store_disable_fn)(void *ctx, const char *target, const char *kind,
                                 const char *reason, const char *by, int64_t until_ms);
int store_disable_foreach_active(struct store *s, store_disable_fn fn, void *ctx);

typedef void (*store_event_fn)(void *ctx, const char *at, const char *origin, const char *type,
                               const char *sensor, const char *point, int has_value, double value,
                               const char *detail);
/* Events at or after since_ms (wall), newest first, at most limit. */
int store_events_foreach(struct store *s, int64_t since_ms, int limit, store_event_fn fn,
                         void *ctx);

/* Users: name, role and the salted hashes of their codes. */
int store_user_put(struct store *s, const char *name, const char *role, const char *pin_hash,
                   const char *duress_hash, int64_t at_ms);
int store_user_del(struct store *s, const char *name, int64_t at_ms);
typedef void (*store_user_fn)(void *ctx, const char *name, const char *role, const char *pin_hash,
                              const char *duress_hash);
int store_users_foreach(struct store *s, store_user_fn fn, void *ctx);

/* One detector activation during a walk test. */
int store_test_add(struct store *s, int64_t at_ms, const char *sensor, const char *zone,
                   const char *point, double value, const char *started_by);

/* ---- the event log's hash chain (chain.h) ------------------------------- */

#define STORE_HASH_HEX 65 /* a SHA-256 in hex and its NUL */

/* The chain's head as far as it is on the disk: the last event row's id
 * (0: none yet) and its hash in hex ("" when none). For the heartbeat, so
 * that the station holds a copy the owner cannot change. */
void store_chain_head(struct store *s, int64_t *row, char hash[STORE_HASH_HEX]);

/* What a verification of the event log found. */
struct store_verify_result {
	int ok;            /* 1: every chained row is as written, none missing */
	int64_t rows;      /* chained rows checked */
	int64_t unchained; /* rows from before the chain (an upgraded database) */
	int64_t head_row;  /* the last row checked (0: none) */
	char head_hash[STORE_HASH_HEX];
	/* The log starts at a retention anchor: the time of the last row it
	 * stands for (0: none). Rows up to then are gone; anyone could cut the
	 * log there the same way, so a report checks it is older than the
	 * retention. */
	int64_t pruned_ms;
	int64_t first_bad_row; /* when !ok: the first row that breaks the chain */
	char reason[192];      /* when !ok: why (changed, deleted, ...) */
};

/* Verify the event log of the database file at db_path, opened read-only
 * (the daemon may be running, or not: for the report and for
 * `safehoused --verify DB`). Returns 0 when the log could be read (r->ok
 * is the verdict), -1 when it could not (r->reason says why, r->ok is 0).
 * It reads every row: about 1.5 s per million rows. */
int store_verify_file(const char *db_path, struct store_verify_result *r);

/* The daemon's verification: on a thread of its own, reading the file
 * through its own connection, so that neither the loop nor the writer
 * waits; fn(ctx, rc) is called from store_dispatch when *r is filled (r
 * must live until then; at once when inline, where the store's own
 * connection is read). Returns 0, or -1 when it could not start. */
int store_verify(struct store *s, struct store_verify_result *r, store_done_fn fn, void *ctx);

/* Retention: keep events for days days (0: for ever). Once a day (first a
 * minute after the start) the writer removes older ones from the start of
 * the log, PRUNE_STEP rows at a time, and leaves in their place an anchor
 * row holding the hash of the last one removed, so that the log still
 * verifies. Only events: never alarms, the outbox or anything else. */
void store_set_retention(struct store *s, int days);
/* Run the retention now instead of at its time (its steps follow as
 * above): for tests and tools. Returns 0 or -1. */
int store_retention_run(struct store *s);
/* Remove events older than before_ms (wall) now, as above. Inline stores
 * only (tests, tools). Returns the rows removed, or -1. */
int store_prune(struct store *s, int64_t before_ms);

/* The database's size in bytes (page_count * page_size) and the time of the
 * oldest event (wall ms; 0: none). Returns 0 or -1. */
int store_db_info(struct store *s, int64_t *bytes, int64_t *oldest_ms);

/* Whether alarm id is in the store: 1, 0, or -1 on a read error. */
int store_alarm_known(struct store *s, int64_t id);

/* Format a UTC epoch-milliseconds time as RFC 3339 with milliseconds
 * ("2026-11-29T03:04:05.123Z") into buf (at least 32 bytes). */
void store_format_time(int64_t ms, char *buf, size_t size);

#endif
