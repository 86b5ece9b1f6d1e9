/*
 * store.c: SQLite store with numbered migrations and batched commits.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Migration N takes the schema from version N-1 to N. Append only: a newer
 * daemon opens an older database and runs what is missing. */
static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE events("
    " id INTEGER PRIMARY KEY,"
    " at TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL,"
    " origin TEXT NOT NULL,"
    " type TEXT NOT NULL,"
    " sensor TEXT, point TEXT, value REAL, detail TEXT);"
    "CREATE INDEX events_at ON events(at_ms);"
    "CREATE TABLE alarms("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " class TEXT NOT NULL, zone TEXT, sensor TEXT, rule TEXT, message TEXT,"
    " state TEXT NOT NULL,"
    " active INTEGER NOT NULL,"
    " cause_active INTEGER NOT NULL,"
    " raised_at TEXT NOT NULL, raised_ms INTEGER NOT NULL,"
    " updated_at TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
    " acked_by TEXT, reset_by TEXT, siren TEXT);"
    "CREATE INDEX alarms_active ON alarms(active);"
    "CREATE TABLE outbox("
    " seq INTEGER PRIMARY KEY,"
    " channel TEXT NOT NULL, contact TEXT, alarm INTEGER,"
    " topic TEXT NOT NULL, payload TEXT NOT NULL,"
    " qos INTEGER NOT NULL, retain INTEGER NOT NULL,"
    " created_at TEXT NOT NULL,"
    " delivered_at TEXT);"
    "CREATE INDEX outbox_pending ON outbox(channel, seq) WHERE delivered_at IS NULL;"
    "CREATE TABLE sensors("
    " id TEXT PRIMARY KEY,"
    " last_seen TEXT, online INTEGER, battery REAL, last_values TEXT);",
    /* 2: what each outbox row is (alarm feed, alert, notify), so that a
     * restarted panel knows whom it already alerted; and a small key/value
     * table for panel state that must survive a restart (the mode). */
    "ALTER TABLE outbox ADD COLUMN kind TEXT;"
    "UPDATE outbox SET kind = CASE WHEN contact IS NULL THEN 'alarm' ELSE 'alert' END;"
    "CREATE INDEX outbox_alarm ON outbox(alarm) WHERE alarm IS NOT NULL;"
    "CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_EVENT,
	ST_ALARM_INSERT,
	ST_ALARM_UPDATE,
	ST_ALARM_ALL,
	ST_ALARM_ACTIVE,
	ST_OUTBOX_ADD,
	ST_OUTBOX_DELIVERED,
	ST_OUTBOX_PENDING,
	ST_OUTBOX_COUNT,
	ST_SENSOR_SAVE,
	ST_OUTBOX_ALERTED,
	ST_STATE_GET,
	ST_STATE_SET,
	ST_OUTBOX_ALL,
	ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_EVENT] = "INSERT INTO events(at, at_ms, origin, type, sensor, point, value, detail)"
                 " VALUES(?,?,?,?,?,?,?,?)",
    [ST_ALARM_INSERT] = "INSERT INTO alarms(class, zone, sensor, rule, message, state, active,"
                        " cause_active, raised_at, raised_ms, updated_at, updated_ms, acked_by,"
                        " reset_by, siren) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_ALARM_UPDATE] = "UPDATE alarms SET state=?, active=?, cause_active=?, updated_at=?,"
                        " updated_ms=?, acked_by=?, reset_by=?, sensor=?, siren=? WHERE id=?",
    [ST_ALARM_ALL] = "SELECT id, class, zone, sensor, rule, message, state, active, cause_active,"
                     " raised_ms, updated_ms, acked_by, reset_by, siren FROM alarms"
                     " ORDER BY id DESC LIMIT ?",
    [ST_ALARM_ACTIVE] =
        "SELECT id, class, zone, sensor, rule, message, state, active,"
        " cause_active, raised_ms, updated_ms, acked_by, reset_by, siren FROM alarms"
        " WHERE active=1 ORDER BY id DESC LIMIT ?",
    [ST_OUTBOX_ADD] = "INSERT INTO outbox(seq, channel, contact, alarm, topic, payload, qos,"
                      " retain, created_at, kind) VALUES(?,?,?,?,?,?,?,?,?,?)",
    [ST_OUTBOX_DELIVERED] = "UPDATE outbox SET delivered_at=? WHERE seq=? AND delivered_at IS NULL",
    [ST_OUTBOX_PENDING] = "SELECT seq, topic, payload, qos, retain FROM outbox"
                          " WHERE channel=? AND delivered_at IS NULL AND seq>? ORDER BY seq"
                          " LIMIT ?",
    [ST_OUTBOX_COUNT] = "SELECT count(*) FROM outbox WHERE channel=? AND delivered_at IS NULL",
    [ST_SENSOR_SAVE] = "INSERT INTO sensors(id, last_seen, online, battery, last_values)"
                       " VALUES(?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                       " last_seen=excluded.last_seen, online=excluded.online,"
                       " battery=excluded.battery, last_values=excluded.last_values",
    [ST_OUTBOX_ALERTED] = "SELECT DISTINCT contact FROM outbox WHERE alarm=? AND kind='alert'",
    [ST_STATE_GET] = "SELECT value FROM state WHERE key=?",
    [ST_OUTBOX_ALL] = "SELECT seq, kind, contact, payload FROM outbox WHERE seq>? ORDER BY seq",
    [ST_STATE_SET] = "INSERT INTO state(key, value, updated_at) VALUES(?,?,?) ON CONFLICT(key)"
                     " DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	int in_txn;
	int uncommitted;
	int64_t next_seq;
};

void store_format_time(int64_t ms, char *buf, size_t size)
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;
	char tmp[24];
	gmtime_r(&sec, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", tmp, (int)(ms % 1000));
}

static int exec(struct store *s, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int migrate(struct store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int version = 0, rc = -1;
	char sql[64];

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	if (version > NMIGRATIONS) {
		snprintf(err, errlen,
		         "database schema version %d is newer than this daemon knows (%d); "
		         "refusing to touch it",
		         version, NMIGRATIONS);
		goto out;
	}
	for (int v = version; v < NMIGRATIONS; v++) {
		/* Each migration and its version bump commit together, so a
		 * power cut mid-upgrade leaves the old schema intact. */
		if (exec(s, "BEGIN IMMEDIATE", err, errlen) < 0)
			goto out;
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
		if (exec(s, migrations[v], err, errlen) < 0 || exec(s, sql, err, errlen) < 0) {
			char ignore[8];
			exec(s, "ROLLBACK", ignore, sizeof(ignore));
			goto out;
		}
		if (exec(s, "COMMIT", err, errlen) < 0)
			goto out;
		if (version > 0)
			log_notice("store: database upgraded to schema version %d", v + 1);
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

struct store *store_open(const char *path, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	sqlite3_stmt *st = NULL;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		         s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	/* Another process (sqlite3 CLI, a report) may hold a read lock. */
	sqlite3_busy_timeout(s->db, 2000);
	/* WAL: readers never block the daemon. synchronous=FULL: a commit is
	 * on the disk when it returns, which is what "committed before it is
	 * announced" means. A small page cache keeps RSS low on a 1 GB board. */
	if (exec(s,
	         "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-512;"
	         "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=1000;",
	         err, errlen) < 0)
		goto fail;
	if (migrate(s, err, errlen) < 0)
		goto fail;
	for (int i = 0; i < ST__COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
		                       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot prepare statement %d: %s", i,
			         sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(seq),0) FROM outbox", -1, &st, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "cannot read outbox: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
	s->next_seq = sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	return s;
fail:
	sqlite3_finalize(st);
	store_close(s);
	return NULL;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_commit(s);
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_err("store: close: %s", sqlite3_errmsg(s->db));
	free(s);
}

static int step_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_err("store: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/* Open the batch transaction on the first write after a commit. */
static int begin(struct store *s)
{
	if (s->in_txn)
		return 0;
	if (step_done(s, s->st[ST_BEGIN]) < 0)
		return -1;
	s->in_txn = 1;
	return 0;
}

int store_commit(struct store *s)
{
	if (!s || !s->in_txn)
		return 0;
	if (step_done(s, s->st[ST_COMMIT]) < 0) {
		/* A failed COMMIT (disk full, I/O error) leaves the
		 * transaction open; roll back so the next batch can start and
		 * the failure is visible in the log rather than silent. */
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		s->in_txn = 0;
		s->uncommitted = 0;
		return -1;
	}
	s->in_txn = 0;
	s->uncommitted = 0;
	return 0;
}

int store_uncommitted(const struct store *s)
{
	return s ? s->uncommitted : 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int store_event(struct store *s, int64_t at_ms, const char *origin, const char *type,
                const char *sensor, const char *point, int has_value, double value,
                const char *detail)
{
	sqlite3_stmt *st = s->st[ST_EVENT];
	char at[32];
	if (begin(s) < 0)
		return -1;
	store_format_time(at_ms, at, sizeof(at));
	bind_text(st, 1, at);
	sqlite3_bind_int64(st, 2, at_ms);
	bind_text(st, 3, origin);
	bind_text(st, 4, type);
	bind_text(st, 5, sensor);
	bind_text(st, 6, point);
	if (has_value)
		sqlite3_bind_double(st, 7, value);
	else
		sqlite3_bind_null(st, 7);
	bind_text(st, 8, detail);
	s->uncommitted++;
	return step_done(s, st);
}

int store_alarm_insert(struct store *s, struct store_alarm *a)
{
	sqlite3_stmt *st = s->st[ST_ALARM_INSERT];
	char raised[32], updated[32];
	if (begin(s) < 0)
		return -1;
	store_format_time(a->raised_ms, raised, sizeof(raised));
	store_format_time(a->updated_ms, updated, sizeof(updated));
	bind_text(st, 1, a->cls);
	bind_text(st, 2, a->zone);
	bind_text(st, 3, a->sensor);
	bind_text(st, 4, a->rule);
	bind_text(st, 5, a->message);
	bind_text(st, 6, a->state);
	sqlite3_bind_int(st, 7, a->active);
	sqlite3_bind_int(st, 8, a->cause_active);
	bind_text(st, 9, raised);
	sqlite3_bind_int64(st, 10, a->raised_ms);
	bind_text(st, 11, updated);
	sqlite3_bind_int64(st, 12, a->updated_ms);
	bind_text(st, 13, a->acked_by);
	bind_text(st, 14, a->reset_by);
	bind_text(st, 15, a->siren);
	s->uncommitted++;
	if (step_done(s, st) < 0)
		return -1;
	a->id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int store_alarm_update(struct store *s, const struct store_alarm *a)
{
	sqlite3_stmt *st = s->st[ST_ALARM_UPDATE];
	char updated[32];
	if (begin(s) < 0)
		return -1;
	store_format_time(a->updated_ms, updated, sizeof(updated));
	bind_text(st, 1, a->state);
	sqlite3_bind_int(st, 2, a->active);
	sqlite3_bind_int(st, 3, a->cause_active);
	bind_text(st, 4, updated);
	sqlite3_bind_int64(st, 5, a->updated_ms);
	bind_text(st, 6, a->acked_by);
	bind_text(st, 7, a->reset_by);
	bind_text(st, 8, a->sensor);
	bind_text(st, 9, a->siren);
	sqlite3_bind_int64(st, 10, a->id);
	s->uncommitted++;
	return step_done(s, st);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int store_alarm_foreach(struct store *s, int active_only, int limit, store_alarm_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->st[active_only ? ST_ALARM_ACTIVE : ST_ALARM_ALL];
	int rc;
	sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_alarm a = {
		    .id = sqlite3_column_int64(st, 0),
		    .cls = col_text(st, 1),
		    .zone = col_text(st, 2),
		    .sensor = col_text(st, 3),
		    .rule = col_text(st, 4),
		    .message = col_text(st, 5),
		    .state = col_text(st, 6),
		    .active = sqlite3_column_int(st, 7),
		    .cause_active = sqlite3_column_int(st, 8),
		    .raised_ms = sqlite3_column_int64(st, 9),
		    .updated_ms = sqlite3_column_int64(st, 10),
		    .acked_by = col_text(st, 11),
		    .reset_by = col_text(st, 12),
		    .siren = col_text(st, 13),
		};
		fn(ctx, &a);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_err("store: alarms: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

int64_t store_outbox_next_seq(struct store *s)
{
	return s->next_seq++;
}

int store_outbox_add(struct store *s, int64_t seq, const char *kind, const char *channel,
                     const char *contact, int64_t alarm, const char *topic, const char *payload,
                     int qos, int retain, int64_t at_ms)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_ADD];
	char at[32];
	if (begin(s) < 0)
		return -1;
	store_format_time(at_ms, at, sizeof(at));
	sqlite3_bind_int64(st, 1, seq);
	bind_text(st, 2, channel);
	bind_text(st, 3, contact);
	if (alarm > 0)
		sqlite3_bind_int64(st, 4, alarm);
	else
		sqlite3_bind_null(st, 4);
	bind_text(st, 5, topic);
	bind_text(st, 6, payload);
	sqlite3_bind_int(st, 7, qos);
	sqlite3_bind_int(st, 8, retain);
	bind_text(st, 9, at);
	bind_text(st, 10, kind);
	s->uncommitted++;
	return step_done(s, st);
}

int store_outbox_alerted(struct store *s, int64_t alarm, store_contact_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_ALERTED];
	int rc;
	sqlite3_bind_int64(st, 1, alarm);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (col_text(st, 0))
			fn(ctx, col_text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_outbox_foreach(struct store *s, int64_t after, store_row_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_ALL];
	int rc;
	sqlite3_bind_int64(st, 1, after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, sqlite3_column_int64(st, 0), col_text(st, 1), col_text(st, 2),
		   col_text(st, 3));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_state_get(struct store *s, const char *key, char *buf, size_t size)
{
	sqlite3_stmt *st = s->st[ST_STATE_GET];
	int rc = -1;
	bind_text(st, 1, key);
	if (sqlite3_step(st) == SQLITE_ROW && col_text(st, 0)) {
		snprintf(buf, size, "%s", col_text(st, 0));
		rc = 0;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int store_state_set(struct store *s, const char *key, const char *value, int64_t at_ms)
{
	sqlite3_stmt *st = s->st[ST_STATE_SET];
	char at[32];
	if (begin(s) < 0)
		return -1;
	store_format_time(at_ms, at, sizeof(at));
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	bind_text(st, 3, at);
	s->uncommitted++;
	return step_done(s, st);
}

int store_outbox_delivered(struct store *s, int64_t seq, int64_t at_ms)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_DELIVERED];
	char at[32];
	if (begin(s) < 0)
		return -1;
	store_format_time(at_ms, at, sizeof(at));
	bind_text(st, 1, at);
	sqlite3_bind_int64(st, 2, seq);
	s->uncommitted++;
	return step_done(s, st);
}

int store_outbox_foreach_pending(struct store *s, const char *channel, int64_t after, int limit,
                                 store_outbox_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_PENDING];
	int rc, n = 0;
	bind_text(st, 1, channel);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (fn(ctx, sqlite3_column_int64(st, 0), col_text(st, 1), col_text(st, 2),
		       sqlite3_column_int(st, 3), sqlite3_column_int(st, 4)))
			break;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_err("store: outbox: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return n;
}

int store_outbox_pending_count(struct store *s, const char *channel)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_COUNT];
	int n = -1;
	bind_text(st, 1, channel);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

int store_sensor_save(struct store *s, const char *id, int64_t last_seen_ms, int online,
                      int has_battery, double battery, const char *values_json)
{
	sqlite3_stmt *st = s->st[ST_SENSOR_SAVE];
	char at[32];
	if (begin(s) < 0)
		return -1;
	bind_text(st, 1, id);
	if (last_seen_ms > 0) {
		store_format_time(last_seen_ms, at, sizeof(at));
		bind_text(st, 2, at);
	} else {
		sqlite3_bind_null(st, 2);
	}
	if (online >= 0)
		sqlite3_bind_int(st, 3, online);
	else
		sqlite3_bind_null(st, 3);
	if (has_battery)
		sqlite3_bind_double(st, 4, battery);
	else
		sqlite3_bind_null(st, 4);
	bind_text(st, 5, values_json);
	s->uncommitted++;
	return step_done(s, st);
}
