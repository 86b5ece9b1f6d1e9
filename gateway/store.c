/*
 * store.c: SQLite store with numbered migrations and batched commits.
 */
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <unistd.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "log.h"
#include "loop.h"
#include "../sensors/point.h"
#include "worker.h"

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
    /* 3: disablements (who took what out of service, why, until when) and
     * walk-test activations, for the panel and for inspections. */
    "CREATE TABLE disablements("
    " id INTEGER PRIMARY KEY,"
    " target TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, by TEXT,"
    " from_at TEXT NOT NULL, until_at TEXT NOT NULL, until_ms INTEGER NOT NULL,"
    " ended_at TEXT, ended_by TEXT);"
    "CREATE INDEX disablements_active ON disablements(target) WHERE ended_at IS NULL;"
    "CREATE TABLE tests("
    " id INTEGER PRIMARY KEY,"
    " at TEXT NOT NULL, at_ms INTEGER NOT NULL,"
    " sensor TEXT NOT NULL, zone TEXT, point TEXT, value REAL, started_by TEXT);",
    /* 4: the people who may use the panel, with salted hashes of their
     * codes (libsodium crypto_pwhash), never the codes themselves. */
    "CREATE TABLE users("
    " name TEXT PRIMARY KEY, role TEXT NOT NULL,"
    " pin_hash TEXT NOT NULL, duress_hash TEXT,"
    " updated_at TEXT NOT NULL);",
    /* 5: every channel through the outbox: when a row may go (due_at, an
     * escalation step's time), its tries and last error, and its state
     * (pending, delivered, failed, cancelled, dropped), so that a chain
     * survives a restart and a cancelled step stays cancelled. */
    "ALTER TABLE outbox ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outbox ADD COLUMN step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outbox ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outbox ADD COLUMN next_try_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outbox ADD COLUMN last_error TEXT;"
    "ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';"
    "UPDATE outbox SET state='delivered' WHERE delivered_at IS NOT NULL;"
    "CREATE INDEX outbox_live ON outbox(channel, seq) WHERE state='pending';",
    /* 6: the event log's hash chain (chain.h). Rows written before it have
     * no hash; open_file starts the chain after them with a chain-start
     * row, so that everything from then on can be verified. */
    "ALTER TABLE events ADD COLUMN hash TEXT;",
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
	ST_DISABLE_ADD,
	ST_DISABLE_END,
	ST_DISABLE_ACTIVE,
	ST_TEST_ADD,
	ST_EVENTS_SINCE,
	ST_USER_PUT,
	ST_USER_DEL,
	ST_USERS_ALL,
	ST_SENSORS_ALL,
	ST_OUTBOX_MARK,
	ST_OUTBOX_DUE,
	ST_OUTBOX_NEXT_DUE,
	ST_OUTBOX_LIST,
	ST_OUTBOX_EVICTABLE,
	ST_OUTBOX_LIVE,
	ST_OUTBOX_CANCELABLE,
	ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_EVENT] = "INSERT INTO events(at, at_ms, origin, type, sensor, point, value, detail, id,"
                 " hash) VALUES(?,?,?,?,?,?,?,?,?,?)",
    [ST_ALARM_INSERT] = "INSERT INTO alarms(class, zone, sensor, rule, message, state, active,"
                        " cause_active, raised_at, raised_ms, updated_at, updated_ms, acked_by,"
                        " reset_by, siren, id) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                      " retain, created_at, kind, due_at, step) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_OUTBOX_DELIVERED] = "UPDATE outbox SET delivered_at=?, state='delivered', tries=tries+1"
                            " WHERE seq=? AND state='pending'",
    [ST_OUTBOX_PENDING] = "SELECT seq, topic, payload, qos, retain FROM outbox"
                          " WHERE channel=? AND state='pending' AND seq>? ORDER BY seq"
                          " LIMIT ?",
    [ST_OUTBOX_COUNT] = "SELECT count(*) FROM outbox WHERE channel=? AND state='pending'",
    [ST_SENSOR_SAVE] = "INSERT INTO sensors(id, last_seen, online, battery, last_values)"
                       " VALUES(?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                       " last_seen=excluded.last_seen, online=excluded.online,"
                       " battery=excluded.battery, last_values=excluded.last_values",
    [ST_OUTBOX_ALERTED] = "SELECT DISTINCT contact FROM outbox WHERE alarm=? AND kind='alert'",
    [ST_STATE_GET] = "SELECT value FROM state WHERE key=?",
    [ST_OUTBOX_ALL] = "SELECT seq, kind, contact, payload FROM outbox WHERE seq>? ORDER BY seq",
    [ST_DISABLE_ADD] = "INSERT INTO disablements(target, kind, reason, by, from_at, until_at,"
                       " until_ms) VALUES(?,?,?,?,?,?,?)",
    [ST_DISABLE_END] = "UPDATE disablements SET ended_at=?, ended_by=? WHERE target=? AND"
                       " ended_at IS NULL",
    [ST_DISABLE_ACTIVE] = "SELECT target, kind, reason, by, until_ms FROM disablements"
                          " WHERE ended_at IS NULL ORDER BY id",
    [ST_EVENTS_SINCE] = "SELECT at, origin, type, sensor, point, value, detail FROM events"
                        " WHERE at_ms >= ? ORDER BY id DESC LIMIT ?",
    [ST_USER_PUT] = "INSERT INTO users(name, role, pin_hash, duress_hash, updated_at)"
                    " VALUES(?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET role=excluded.role,"
                    " pin_hash=excluded.pin_hash, duress_hash=excluded.duress_hash,"
                    " updated_at=excluded.updated_at",
    [ST_USER_DEL] = "DELETE FROM users WHERE name=?",
    [ST_USERS_ALL] = "SELECT name, role, pin_hash, duress_hash FROM users ORDER BY name",
    [ST_SENSORS_ALL] = "SELECT id, last_values FROM sensors ORDER BY id",
    [ST_TEST_ADD] = "INSERT INTO tests(at, at_ms, sensor, zone, point, value, started_by)"
                    " VALUES(?,?,?,?,?,?,?)",
    [ST_OUTBOX_MARK] =
        "UPDATE outbox SET state=?1, tries=?2, next_try_at=?3,"
        " last_error=coalesce(?4, last_error), delivered_at=coalesce(?5, delivered_at)"
        " WHERE seq=?6 AND state='pending'",
    [ST_OUTBOX_DUE] = "SELECT seq, kind, channel, contact, alarm, topic, payload, qos, retain,"
                      " due_at, step, tries, next_try_at, last_error, state, created_at,"
                      " delivered_at FROM outbox WHERE channel=?1 AND state='pending' AND"
                      " due_at<=?2 ORDER BY seq",
    [ST_OUTBOX_NEXT_DUE] = "SELECT seq, due_at FROM outbox WHERE channel=?1 AND state='pending'"
                           " AND due_at>?2 ORDER BY due_at",
    [ST_OUTBOX_LIST] = "SELECT seq, kind, channel, contact, alarm, topic, payload, qos, retain,"
                       " due_at, step, tries, next_try_at, last_error, state, created_at,"
                       " delivered_at FROM outbox WHERE ?1 OR state='pending'"
                       " ORDER BY seq DESC LIMIT ?2",
    [ST_OUTBOX_EVICTABLE] = "SELECT seq FROM outbox WHERE state='pending' AND kind IN"
                            " ('notify','reply') ORDER BY seq",
    [ST_OUTBOX_LIVE] = "SELECT count(*) FROM outbox WHERE state='pending'",
    [ST_OUTBOX_CANCELABLE] = "SELECT seq FROM outbox WHERE alarm=?1 AND state='pending' AND"
                             " kind='alert' AND due_at>?2",
    [ST_STATE_SET] = "INSERT INTO state(key, value, updated_at) VALUES(?,?,?) ON CONFLICT(key)"
                     " DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
};

/* A write queued for the writer thread; strings are owned copies. */
enum op_type {
	OP_EVENT,
	OP_ALARM_INSERT,
	OP_ALARM_UPDATE,
	OP_OUTBOX_ADD,
	OP_OUTBOX_DELIVERED,
	OP_SENSOR_SAVE,
	OP_STATE_SET,
	OP_DISABLE_ADD,
	OP_DISABLE_END,
	OP_TEST_ADD,
	OP_USER_PUT,
	OP_USER_DEL,
	OP_OUTBOX_MARK,
	OP_BARRIER, /* commit everything before it, then report */
	OP_VERIFY,  /* store_verify, on its own thread; never written */
};

#define OP_STRS 9

struct op {
	struct worker_job job; /* first: the writer's queue and the done list */
	struct op *next;       /* the writer's transaction and backlog lists */
	enum op_type type;
	int64_t serial; /* submission order: durable_serial says what is on disk */
	int64_t i[4];
	int n[4];
	double d;
	char *str[OP_STRS];
	/* OP_ALARM_*: the alarm, in the same allocation after the op (not a
	 * member: every reading's op would carry its 104 bytes, and a flood
	 * holds thousands of them until the commit). */
	struct store_alarm *a;
	store_done_fn fn;
	void *ctx;
	int rc;
	struct store_verify_result *vr; /* OP_VERIFY: the caller's */
	/* An event's strings live in the same allocation, after the op
	 * (store_event): 1, or 2 when that allocation is EV_ALLOC bytes and
	 * goes back to the loop for the next event (ev_recycle). */
	int inline_strs;
	/* What op_is_telemetry and op_is_slow say, worked out once on the
	 * loop's side for events (-1: not yet). */
	signed char telemetry, slow;
};

_Static_assert(sizeof(struct op) % _Alignof(struct store_alarm) == 0,
               "an alarm op's alarm follows the op in the same allocation");

static struct op *op_of(struct worker_job *j)
{
	return (struct op *)j;
}

/* The event log's last row: its id (0: none) and hash. */
struct chain_head {
	int64_t id;
	unsigned char hash[CHAIN_HASH_LEN];
};

struct store {
	sqlite3 *db;  /* writes: the writer thread's (the caller's when inline) */
	sqlite3 *rdb; /* reads, on the caller's thread; == db when inline */
	sqlite3_stmt *st[ST__COUNT];
	sqlite3_stmt *rst[ST__COUNT];
	int in_txn;
	int uncommitted;
	int64_t txn_start; /* monotonic ms of the first write of the batch */
	/* Monotonic ms of the batch's first write that is not slow telemetry
	 * (op_is_slow); 0: nothing but slow telemetry so far. */
	int64_t txn_urgent;
	int64_t next_seq;
	int64_t next_alarm;

	/* Threaded mode: ops go to the writer's queue; done barriers come
	 * back on the done list. mu guards what the writer and the loop share
	 * (below). */
	int threaded;
	int sync_init;
	struct worker *w;
	struct worker_done *done;
	pthread_mutex_t mu;

	/* Writer side: the writer thread's (the caller's when inline). */
	struct op *txn_head, *txn_tail;   /* applied in the open transaction */
	struct op *back_head, *back_tail; /* not on disk: waiting for the disk */
	int64_t nback;
	int failing;
	int64_t retry_at, retry_ms;
	char werr[256]; /* SQLite's reason for the last failed step */
	/* Running from memory (the file could not be opened): its name, and
	 * the memory database's URI. */
	char *path, *mem_uri;
	/* The file opened at last: the reader's connection for the loop to
	 * take in (under mu when threaded). */
	sqlite3 *next_rdb;
	sqlite3_stmt *next_rst[ST__COUNT];
	int w_notify; /* health changed: wake the loop */
	/* The hash chain: ch is the head in the open transaction, ch_ok the
	 * committed one, that a rollback returns to (the backlog's rows are
	 * hashed again, in order, when they are written). */
	struct chain_head ch, ch_ok;
	int64_t prune_at; /* monotonic ms of the next retention step */
	int64_t pruned;   /* events removed by the steps of this run so far */

	/* Shared between the writer and the loop (under mu when threaded). */
	struct store_health health;
	int health_dirty;
	int64_t durable_seq;    /* highest outbox seq known to be on disk */
	int64_t durable_serial; /* every op up to this serial is on disk */
	struct chain_head head; /* the committed head, for the heartbeat */
	int64_t retention_ms;   /* events older than this are pruned; 0: never */
	int prune_kick;         /* store_retention_run: a step at the writer's next wake */
	char *file;             /* the database's path, for store_verify */
	struct worker *vw;      /* store_verify's thread, started when first needed */

	/* Loop side: outbox rows not yet known to be on disk, so that they can
	 * be sent from memory when the disk refuses them. */
	struct memrow *mem_head, *mem_tail;
	/* Loop side: outbox changes (a try's result, a cancellation) not yet
	 * known to be on disk, laid over what the reader sees. */
	struct mark *marks;
	int nmarks, capmarks;
	int64_t next_serial;
	/* Loop side (threaded): telemetry written since the last hand-over to
	 * the writer, oldest first, linked through job.next. It goes over in
	 * one take of the writer's queue lock per loop iteration (store_flush)
	 * instead of one per reading, and before any other write, in order. */
	struct op *pend_head, *pend_tail;
	int npend;
	/* Loop side: event ops to use again (linked through next), so that a
	 * reading costs no malloc; and, under mu, those the writer is done
	 * with, handed back whole at each commit, so that they are freed or
	 * used again on the thread that allocated them rather than freed one
	 * by one on the writer's, into the loop's malloc arena under its
	 * lock. */
	struct op *ev_free;
	int nev_free;
	struct op *recycled;
	store_health_fn health_fn;
	void *health_ctx;
};

/* An outbox row as queued, kept on the loop's side until it is durable. */
struct memrow {
	struct memrow *next;
	int64_t seq;
	char *channel, *topic, *payload, *kind, *contact;
	int64_t alarm, due_ms;
	int step;
	int qos, retain;
	int sendable;  /* its commit failed: send it from memory */
	int delivered; /* the broker has it */
};

/* A change to an outbox row, kept until the op that writes it is on disk. */
struct mark {
	int64_t seq, serial;
	enum store_outbox_state state;
	int tries;
	int64_t next_try_ms;
	char error[160];
	char at[32]; /* delivered_at, for a delivered row */
};

static void memrow_free(struct memrow *m)
{
	free(m->channel);
	free(m->topic);
	free(m->payload);
	free(m->kind);
	free(m->contact);
	free(m);
}

/* A storage failure (the disk, not the row, is the problem): the write is
 * kept and tried again. Any other failure drops that one row, logged. */
#define STORE_ESTORAGE (-2)
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 5000
/* While the disk refuses writes, telemetry beyond this many held writes is
 * dropped (counted) to bound memory; alarms, outbox rows and panel state
 * are always kept. */
#define BACKLOG_SHED 50000
/* Inline mode (tests, the scenario runner) commits by itself past this many
 * writes, so that a long run does not hold every write in memory. */
#define INLINE_TXN_MAX 4096
/* Queued writes that wake the writer before BATCH_MS is up. */
#define QUEUE_WAKE 1024
/* A batch this many rows long is committed before BATCH_MS is up: every op
 * applied in the open transaction is held (for a rollback's replay) until
 * the commit, so under a flood (25,000 rows/s in tests/bench) a 250 ms
 * batch held 6,000 ops, 3 MB of the daemon's peak memory; 1,024 rows are
 * 40 ms of that flood (512 cost the writer 15 % more CPU in commits for
 * 0.2 MB). A house's ordinary load never comes near it: it changes
 * nothing there. */
#define TXN_ROWS_MAX 1024
/* An event op with room for its strings (a reading's are a few dozen
 * bytes), and how many the loop keeps for the next readings. */
#define EV_STR_ROOM 128
#define EV_ALLOC (sizeof(struct op) + EV_STR_ROOM)
#define EV_KEEP 512
/* Retention runs in steps of PRUNE_STEP rows, PRUNE_PAUSE_MS apart, so that
 * a big first prune (after an upgrade) never holds up an alarm's write for
 * long; once caught up, once a day. */
#define PRUNE_STEP 2000
#define PRUNE_PAUSE_MS 200
#define PRUNE_FIRST_MS 60000
#define PRUNE_EVERY_MS (24 * 3600 * 1000)

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static char *put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

void store_format_time(int64_t ms, char *buf, size_t size)
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;
	char tmp[24];
	/* Every event row takes one: without gmtime_r, strftime and
	 * snprintf (and their locale look-ups), for the years 1970..9999 and
	 * a buffer that holds it all, the same text. */
	if (ms >= 0 && ms < INT64_C(253402300800000) && size >= 25) {
		int64_t days = ms / 86400000, in_day = ms % 86400000;
		int y, mo, d;
		char *p = buf;
		civil_from_days(days, &y, &mo, &d);
		p = put_digits(p, y, 4);
		*p++ = '-';
		p = put_digits(p, mo, 2);
		*p++ = '-';
		p = put_digits(p, d, 2);
		*p++ = 'T';
		p = put_digits(p, (int)(in_day / 3600000), 2);
		*p++ = ':';
		p = put_digits(p, (int)(in_day / 60000 % 60), 2);
		*p++ = ':';
		p = put_digits(p, (int)(in_day / 1000 % 60), 2);
		*p++ = '.';
		p = put_digits(p, (int)(in_day % 1000), 3);
		*p++ = 'Z';
		*p = 0;
		return;
	}
	gmtime_r(&sec, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", tmp, (int)(ms % 1000));
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int version = 0, rc = -1;
	char sql[64];

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(db));
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
		if (exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
			goto out;
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
		if (exec(db, migrations[v], err, errlen) < 0 || exec(db, sql, err, errlen) < 0) {
			char ignore[8];
			exec(db, "ROLLBACK", ignore, sizeof(ignore));
			goto out;
		}
		if (exec(db, "COMMIT", err, errlen) < 0)
			goto out;
		if (version > 0)
			log_notice("store: database upgraded to schema version %d", v + 1);
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

#define BATCH_MS 250
/* A batch of nothing but slow telemetry (see op_is_slow) is committed after
 * TELEMETRY_MS rather than BATCH_MS: every commit writes whole 4 KiB pages
 * to the WAL (the events table's last leaf, its index's last leaf, the
 * sensors' rows) plus an fsync, whatever the few rows it adds, and the
 * checkpoint writes those pages again into the main file. A minute of a
 * house's temperatures in one commit instead of one commit each is most of
 * the SD card's daily writes (README, "Database"). What a power cut may
 * take is at most this much temperature and battery history and the
 * sensors' last values for the restore; anything else that joins the batch
 * (an alarm, an outbox row, a state change, a person's action) commits it
 * within BATCH_MS as before, and a barrier at once. */
#define TELEMETRY_MS 60000

static void writer(struct worker *w, void *arg);
static int w_commit(struct store *s);

static int prepare_all(sqlite3 *db, sqlite3_stmt **st, char *err, size_t errlen)
{
	for (int i = 0; i < ST__COUNT; i++) {
		if (sqlite3_prepare_v3(db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st[i],
		                       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot prepare statement %d: %s", i,
			         sqlite3_errmsg(db));
			return -1;
		}
	}
	return 0;
}

static int64_t max_of(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		snprintf(err, errlen, "cannot read the store: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

static int is_storage_error(int rc);
static void set_health(struct store *s, int failing);

/* Open path for writing: the file must be writable (SQLite quietly opens a
 * write-protected file read-only, and the daemon would look healthy while
 * recording and sending nothing), in WAL mode and at the current schema.
 * Returns 0 with *dbp and st[] ready, -1 when it must be refused (read-only,
 * a newer schema), or STORE_ESTORAGE when the disk is the problem (full, an
 * I/O error, a corrupt file): then the daemon may run from memory. */
static int chain_load(sqlite3 *db, sqlite3_stmt *ins, struct chain_head *h, char *err,
                      size_t errlen);

static int open_file(const char *path, sqlite3 **dbp, sqlite3_stmt **st, int64_t *next_seq,
                     int64_t *next_alarm, struct chain_head *head, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = -1;

	/* NOMUTEX: the writer's connection is used by one thread at a time
	 * (the caller's until the writer starts, then the writer's), so the
	 * lock SQLite takes around every call on it (a dozen per event row)
	 * protects nothing. */
	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		         db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	if (sqlite3_db_readonly(db, "main") == 1) {
		snprintf(err, errlen,
		         "cannot write %s: the file, its directory or its filesystem is read-only "
		         "(file mode, chattr +i or a read-only mount); safehoused must write it: "
		         "give it to the daemon's user (chown safehouse %s; chmod 600 %s)",
		         path, path, path);
		goto refuse;
	}
	/* Another process (sqlite3 CLI, a report) may hold a read lock. */
	sqlite3_busy_timeout(db, 2000);
	/* WAL: readers never block the writer. synchronous=FULL: a commit is
	 * on the disk when it returns, which is what "committed before it is
	 * announced" means. A small page cache keeps RSS low on a 1 GB board. */
	if (exec(db,
	         "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-256;"
	         "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=1000;",
	         err, errlen) < 0 ||
	    migrate(db, err, errlen) < 0 || prepare_all(db, st, err, errlen) < 0 ||
	    (*next_seq = max_of(db, "SELECT coalesce(max(seq),0) FROM outbox", err, errlen)) < 0 ||
	    (*next_alarm = max_of(db, "SELECT coalesce(max(id),0) FROM alarms", err, errlen)) < 0 ||
	    chain_load(db, st[ST_EVENT], head, err, errlen) < 0)
		goto fail;
	*dbp = db;
	return 0;
fail:
	if (db && is_storage_error(sqlite3_extended_errcode(db)))
		rc = STORE_ESTORAGE;
refuse:
	for (int i = 0; i < ST__COUNT; i++) {
		sqlite3_finalize(st[i]);
		st[i] = NULL;
	}
	sqlite3_close(db);
	return rc;
}

/* The tables a store running from memory starts from (the events log is
 * left on the disk: it is history, not state). */
static const char *const seed_tables[] = {"alarms", "outbox",  "state", "disablements",
                                          "users",  "sensors", "tests"};

/* Copy what can be read of the file into the memory database: active
 * alarms, the mode, users, disablements and the outbox (so that seq and
 * alarm ids go on from where they were). immutable=1 reads the file without
 * its -shm and -wal files (which a full disk may not let SQLite create), so
 * transactions still in the WAL after a crash are not seen. Best effort. */
static void seed_from_file(sqlite3 *mem, const char *path)
{
	char uri[PATH_MAX * 3 + 32], *o = uri, sql[160];
	int version = -1;
	sqlite3_stmt *st = NULL;

	o += snprintf(uri, sizeof(uri), "file:");
	for (const char *p = path; *p && o < uri + sizeof(uri) - 20; p++) {
		if (*p == '?' || *p == '#' || *p == '%')
			o += sprintf(o, "%%%02X", (unsigned char)*p);
		else
			*o++ = *p;
	}
	snprintf(o, (size_t)(uri + sizeof(uri) - o), "?immutable=1");
	if (sqlite3_prepare_v2(mem, "ATTACH DATABASE ? AS disk", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(mem, "PRAGMA disk.user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	if (version != NMIGRATIONS) {
		log_warn("store: %s has schema %d, not %d: starting from an empty memory store",
		         path, version, NMIGRATIONS);
		goto detach;
	}
	for (size_t i = 0; i < sizeof(seed_tables) / sizeof(seed_tables[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO main.%s SELECT * FROM disk.%s",
		         seed_tables[i], seed_tables[i]);
		if (sqlite3_exec(mem, sql, NULL, NULL, NULL) != SQLITE_OK)
			log_warn("store: %s: cannot read %s: %s", path, seed_tables[i],
			         sqlite3_errmsg(mem));
	}
detach:
	sqlite3_exec(mem, "DETACH DATABASE disk", NULL, NULL, NULL);
out:
	sqlite3_finalize(st);
}

/* The file cannot be opened for a storage reason: run from an in-memory
 * database seeded from what can be read of the file, with every write kept
 * for the file; w_retry opens the file when the disk lets it. */
static int open_memory(struct store *s, const char *path, char *err, size_t errlen)
{
	static int counter;
	char uri[96];

	snprintf(uri, sizeof(uri), "file:safehouse-memory-%ld-%d?mode=memory&cache=shared",
	         (long)getpid(), ++counter);
	if (sqlite3_open_v2(uri, &s->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open a memory store: %s",
		         s->db ? sqlite3_errmsg(s->db) : "out of memory");
		return -1;
	}
	if (migrate(s->db, err, errlen) < 0)
		return -1;
	seed_from_file(s->db, path);
	if (prepare_all(s->db, s->st, err, errlen) < 0 ||
	    (s->next_seq = max_of(s->db, "SELECT coalesce(max(seq),0) FROM outbox", err, errlen)) <
	        0 ||
	    (s->next_alarm = max_of(s->db, "SELECT coalesce(max(id),0) FROM alarms", err, errlen)) <
	        0)
		return -1;
	s->mem_uri = strdup(uri);
	s->path = strdup(path);
	return s->mem_uri && s->path ? 0 : -1;
}

struct store *store_open(const char *path, int flags, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sodium_init() < 0 || !(s->file = strdup(path))) {
		snprintf(err, errlen, "out of memory (or libsodium cannot start)");
		goto fail;
	}
	chain_genesis(s->ch.hash);
	rc = open_file(path, &s->db, s->st, &s->next_seq, &s->next_alarm, &s->ch, err, errlen);
	if (rc == STORE_ESTORAGE && (flags & STORE_DEGRADED_OK)) {
		/* Sirens matter more than the record: start, say why, keep
		 * everything in memory and write it when the disk takes it. */
		log_err("store: %s; running from memory until the database can be opened (alarms "
		        "are still sent, from memory)",
		        err);
		snprintf(s->werr, sizeof(s->werr), "%s", err);
		if (open_memory(s, path, err, errlen) < 0)
			goto fail;
		s->failing = 1;
		s->retry_ms = RETRY_MIN_MS;
		s->retry_at = loop_mono_ms() + s->retry_ms;
		set_health(s, 1);
	} else if (rc < 0) {
		goto fail;
	}
	s->next_seq++;
	s->next_alarm++;
	s->ch_ok = s->head = s->ch;
	/* The first retention step a minute after the start: not in the
	 * middle of a restart's burst of writes. */
	s->prune_at = loop_mono_ms() + PRUNE_FIRST_MS;
	s->rdb = s->db;
	memcpy(s->rst, s->st, sizeof(s->st));
	if (!(flags & STORE_THREADED))
		return s;

	/* Threaded: the writer thread owns s->db from here on; the caller
	 * reads through a connection of its own (WAL lets both run). */
	if (sqlite3_open_v2(s->mem_uri ? s->mem_uri : path, &s->rdb,
	                    SQLITE_OPEN_READWRITE | (s->mem_uri ? SQLITE_OPEN_URI : 0),
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s for reading: %s", path,
		         s->rdb ? sqlite3_errmsg(s->rdb) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->rdb, 2000);
	sqlite3_exec(s->rdb, "PRAGMA cache_size=-256", NULL, NULL, NULL);
	memset(s->rst, 0, sizeof(s->rst));
	if (prepare_all(s->rdb, s->rst, err, errlen) < 0)
		goto fail;
	if (!(s->done = worker_done_new(err, errlen)))
		goto fail;
	pthread_mutex_init(&s->mu, NULL);
	s->sync_init = 1;
	/* Telemetry does not wake the writer: it collects for BATCH_MS and is
	 * written in one go. A barrier (an alarm waiting to be announced), a
	 * stop, or a long queue wakes it at once. */
	if (!(s->w = worker_new(s->done, BATCH_MS, QUEUE_WAKE))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (worker_start(s->w, writer, s) < 0) {
		snprintf(err, errlen, "cannot start the store's writer thread");
		goto fail;
	}
	s->threaded = 1;
	return s;
fail:
	store_close(s);
	return NULL;
}

static void w_durable(struct store *s, struct op *list);
static void w_retry(struct store *s);
static int w_reopen(struct store *s);
static int run_op(struct store *s, struct op *o);
static void hand_over(struct store *s, int wait, int urgent);
static void ev_free_all(struct op *list);

static void op_free(struct op *o)
{
	if (!o->inline_strs)
		for (int i = 0; i < OP_STRS; i++)
			free(o->str[i]);
	free(o);
}

static void job_free(struct worker_job *j)
{
	op_free(op_of(j));
}

static void jobs_free(struct worker_job *j)
{
	while (j) {
		struct worker_job *next = j->next;
		job_free(j);
		j = next;
	}
}

void store_close(struct store *s)
{
	if (!s)
		return;
	/* A verification under way is abandoned; its reply is dropped. */
	jobs_free(worker_stop(s->vw));
	s->vw = NULL;
	if (s->threaded) {
		/* The writer drains the queue and commits before it stops. */
		hand_over(s, 1, 0);
		jobs_free(worker_stop(s->w));
		s->w = NULL;
	} else if (s->w) {
		jobs_free(worker_stop(s->w)); /* made, but its thread never ran */
		s->w = NULL;
	} else {
		if (s->failing)
			w_retry(s);
		w_commit(s);
	}
	if (s->nback > 0)
		log_err("store: stopping with %lld write(s) the disk never took (%s); they are "
		        "lost",
		        (long long)s->nback, s->werr);
	w_durable(s, s->back_head);
	w_durable(s, s->txn_head);
	ev_free_all(s->recycled);
	ev_free_all(s->ev_free);
	while (s->mem_head) {
		struct memrow *m = s->mem_head;
		s->mem_head = m->next;
		memrow_free(m);
	}
	free(s->marks);
	/* Nobody is left to call back: the daemon is going away. */
	worker_done_free(s->done, job_free);
	if (s->sync_init)
		pthread_mutex_destroy(&s->mu);
	if (s->next_rdb) {
		for (int i = 0; i < ST__COUNT; i++)
			sqlite3_finalize(s->next_rst[i]);
		sqlite3_close(s->next_rdb);
	}
	free(s->path);
	free(s->file);
	free(s->mem_uri);
	if (s->rdb && s->rdb != s->db) {
		for (int i = 0; i < ST__COUNT; i++)
			sqlite3_finalize(s->rst[i]);
		sqlite3_close(s->rdb);
	}
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_err("store: close: %s", sqlite3_errmsg(s->db));
	free(s);
}

static int is_storage_error(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_NOMEM:
	case SQLITE_PROTOCOL:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_PERM:
		return 1;
	}
	return 0;
}

/* Returns 0, -1 for a row SQLite refused (logged; the row is dropped), or
 * STORE_ESTORAGE when the disk or the database refused the write. */
static int step_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		int ext = sqlite3_extended_errcode(s->db);
		snprintf(s->werr, sizeof(s->werr), "%s", sqlite3_errmsg(s->db));
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (is_storage_error(ext))
			return STORE_ESTORAGE;
		log_err("store: %s; that row is dropped", s->werr);
		return -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

/* Open the batch transaction on the first write after a commit. */
static int begin(struct store *s)
{
	if (s->in_txn)
		return 0;
	/* BEGIN itself fails only for the store's reasons (busy, disk). */
	if (step_done(s, s->st[ST_BEGIN]) < 0)
		return STORE_ESTORAGE;
	s->in_txn = 1;
	s->txn_start = loop_mono_ms();
	return 0;
}

static void lock(struct store *s)
{
	if (s->threaded)
		pthread_mutex_lock(&s->mu);
}

static void unlock(struct store *s)
{
	if (s->threaded)
		pthread_mutex_unlock(&s->mu);
}

static void op_free(struct op *o);

static void w_rollback(struct store *s)
{
	/* SQLite may already have rolled back by itself (SQLITE_FULL, IOERR). */
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = 0;
	s->txn_urgent = 0;
	s->uncommitted = 0;
	s->ch = s->ch_ok;
}

/* The open transaction is on the disk: so is its part of the chain. */
static void chain_committed(struct store *s)
{
	s->ch_ok = s->ch;
	lock(s);
	s->head = s->ch;
	unlock(s);
}

/* Telemetry is what may be shed while the disk refuses writes: a reading
 * event or a sensor snapshot. Everything else is an alarm, an outbox row or
 * a person's action, and is never dropped. */
static int op_is_telemetry(const struct op *o)
{
	if (o->telemetry >= 0)
		return o->telemetry;
	return o->type == OP_SENSOR_SAVE ||
	       (o->type == OP_EVENT && o->str[1] && strcmp(o->str[1], "reading") == 0);
}

/* Slow telemetry may wait TELEMETRY_MS for its commit: a sensor snapshot
 * (only read back at start) and a numeric reading (temperature, battery:
 * history for the inspection report). A reading of a state (door, smoke,
 * online) is news and commits within BATCH_MS. */
static int op_is_slow(const struct op *o)
{
	int p;
	if (o->slow >= 0)
		return o->slow;
	if (o->type == OP_SENSOR_SAVE)
		return 1;
	if (o->type != OP_EVENT || !o->str[1] || strcmp(o->str[1], "reading") != 0 || !o->str[3])
		return 0;
	p = sh_point_from_name(o->str[3]);
	return p >= 0 && sh_point_is_numeric((enum sh_point)p);
}

static void back_add(struct store *s, struct op *o)
{
	if (s->nback >= BACKLOG_SHED && op_is_telemetry(o)) {
		op_free(o);
		lock(s);
		s->health.shed++;
		unlock(s);
		return;
	}
	o->next = NULL;
	if (s->back_tail)
		s->back_tail->next = o;
	else
		s->back_head = o;
	s->back_tail = o;
	s->nback++;
}

static void set_health(struct store *s, int failing)
{
	lock(s);
	if (failing && !s->health.failing) {
		s->health.since_ms = loop_wall_ms();
		s->health.failures++;
	}
	s->health.failing = failing;
	snprintf(s->health.error, sizeof(s->health.error), "%s", failing ? s->werr : "");
	s->health.held = s->nback;
	s->health_dirty = 1;
	unlock(s);
	s->w_notify = 1;
}

/* The disk refused a write: roll back, and keep every write of the
 * transaction (and o, the one that failed) in order, to be written again
 * when the disk takes them. Nothing is lost and no seq is skipped; until
 * then the loop sends alarms from memory. */
static void w_fail(struct store *s, struct op *o)
{
	struct op *t = s->txn_head;
	w_rollback(s);
	s->txn_head = s->txn_tail = NULL;
	while (t) {
		struct op *next = t->next;
		back_add(s, t);
		t = next;
	}
	if (o)
		back_add(s, o);
	if (!s->failing) {
		s->failing = 1;
		s->retry_ms = RETRY_MIN_MS;
		log_err("store: cannot write the database: %s; %lld write(s) kept in memory, "
		        "alarms are sent from memory, retrying every few seconds",
		        s->werr, (long long)s->nback);
		set_health(s, 1);
	}
	s->retry_at = loop_mono_ms() + s->retry_ms;
}

/* A transaction is on the disk: its writes are done with. */
static void w_durable(struct store *s, struct op *list)
{
	int64_t seq = 0, serial = 0;
	struct op *back = NULL, *back_tail = NULL;
	while (list) {
		struct op *next = list->next;
		if (list->type == OP_OUTBOX_ADD && list->i[0] > seq)
			seq = list->i[0];
		if (list->serial > serial)
			serial = list->serial;
		if (list->inline_strs == 2 && s->threaded) {
			list->next = NULL;
			if (back_tail)
				back_tail->next = list;
			else
				back = list;
			back_tail = list;
		} else {
			op_free(list);
		}
		list = next;
	}
	if (seq || serial || back) {
		lock(s);
		if (seq > s->durable_seq)
			s->durable_seq = seq;
		if (serial > s->durable_serial)
			s->durable_serial = serial;
		if (back) {
			back_tail->next = s->recycled;
			s->recycled = back;
		}
		unlock(s);
	}
}

/* Loop side: take the event ops the writer is done with (not waiting for
 * its lock), keep EV_KEEP of them for the next readings, free the rest. */
static void ev_recycle(struct store *s)
{
	struct op *list;
	if (pthread_mutex_trylock(&s->mu) != 0)
		return;
	list = s->recycled;
	s->recycled = NULL;
	pthread_mutex_unlock(&s->mu);
	while (list) {
		struct op *next = list->next;
		if (s->nev_free < EV_KEEP) {
			list->next = s->ev_free;
			s->ev_free = list;
			s->nev_free++;
		} else {
			free(list);
		}
		list = next;
	}
}

static void ev_free_all(struct op *list)
{
	while (list) {
		struct op *next = list->next;
		free(list);
		list = next;
	}
}

/* Commit the open transaction. Returns 0 when everything written so far is
 * on the disk, -1 when it is not (the writes are kept in the backlog). */
static int w_commit(struct store *s)
{
	struct op *list;
	if (!s->in_txn)
		return s->failing ? -1 : 0;
	if (step_done(s, s->st[ST_COMMIT]) < 0) {
		w_fail(s, NULL);
		return -1;
	}
	s->in_txn = 0;
	s->txn_urgent = 0;
	s->uncommitted = 0;
	chain_committed(s);
	list = s->txn_head;
	s->txn_head = s->txn_tail = NULL;
	w_durable(s, list);
	return 0;
}

/* Running from memory: try to open the file. On success the writer works
 * on it from now on, and the loop is handed a reader for it (loop_sync). */
static int w_reopen(struct store *s)
{
	sqlite3 *db = NULL, *rdb = NULL;
	sqlite3_stmt *st[ST__COUNT] = {0}, *rst[ST__COUNT] = {0};
	int64_t seq, alarm;
	struct chain_head head;
	char err[256];

	chain_genesis(head.hash);
	if (open_file(s->path, &db, st, &seq, &alarm, &head, err, sizeof(err)) < 0) {
		snprintf(s->werr, sizeof(s->werr), "%s", err);
		return -1;
	}
	if (s->threaded) {
		if (sqlite3_open_v2(s->path, &rdb, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
		    prepare_all(rdb, rst, err, sizeof(err)) < 0) {
			snprintf(s->werr, sizeof(s->werr), "%s", err);
			for (int i = 0; i < ST__COUNT; i++) {
				sqlite3_finalize(st[i]);
				sqlite3_finalize(rst[i]);
			}
			sqlite3_close(rdb);
			sqlite3_close(db);
			return -1;
		}
		sqlite3_busy_timeout(rdb, 2000);
		sqlite3_exec(rdb, "PRAGMA cache_size=-256", NULL, NULL, NULL);
	}
	if (seq >= s->next_seq || alarm >= s->next_alarm)
		log_warn("store: %s holds rows the memory store did not see (seq %lld, alarm "
		         "%lld); rows held in memory that collide are dropped",
		         s->path, (long long)seq, (long long)alarm);
	/* The memory database lives on while the loop's reader is open. */
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	s->db = db;
	memcpy(s->st, st, sizeof(st));
	/* The backlog's events chain on from the file's last row. */
	s->ch = head;
	chain_committed(s);
	if (s->threaded) {
		lock(s);
		s->next_rdb = rdb;
		memcpy(s->next_rst, rst, sizeof(rst));
		unlock(s);
	} else {
		s->rdb = s->db;
		memcpy(s->rst, s->st, sizeof(s->st));
	}
	free(s->mem_uri);
	s->mem_uri = NULL;
	log_notice("store: %s is open again", s->path);
	return 0;
}

/* Try to write the backlog in one transaction. */
static void w_retry(struct store *s)
{
	struct op *o;

	if (s->mem_uri && w_reopen(s) < 0)
		goto failed;
	if (begin(s) < 0)
		goto failed;
	for (o = s->back_head; o; o = o->next)
		if (run_op(s, o) == STORE_ESTORAGE)
			goto failed;
	if (step_done(s, s->st[ST_COMMIT]) < 0)
		goto failed;
	s->in_txn = 0;
	s->txn_urgent = 0;
	s->uncommitted = 0;
	chain_committed(s);
	log_notice("store: writing again; %lld held write(s) are on the disk", (long long)s->nback);
	/* Rows SQLite refused on their own (-1) were logged and go with the
	 * rest. */
	o = s->back_head;
	s->back_head = s->back_tail = NULL;
	s->nback = 0;
	s->failing = 0;
	w_durable(s, o);
	set_health(s, 0);
	return;
failed:
	w_rollback(s);
	s->retry_ms = s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2;
	s->retry_at = loop_mono_ms() + s->retry_ms;
	lock(s);
	snprintf(s->health.error, sizeof(s->health.error), "%s", s->werr);
	s->health.held = s->nback;
	unlock(s);
}

int store_uncommitted(const struct store *s)
{
	/* Threaded: the writer commits batches by itself. */
	return s && !s->threaded ? s->uncommitted : 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* ---- the event log's hash chain (chain.h) ---------------------------------- */

static int col_is(sqlite3_stmt *st, int i, const char *v)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t && strcmp(t, v) == 0;
}

/* Bind an event row and its hash (hex; NULL for none) to ST_EVENT. */
static void bind_event(sqlite3_stmt *st, const struct chain_row *r, const char *hash)
{
	bind_text(st, 1, r->at);
	sqlite3_bind_int64(st, 2, r->at_ms);
	bind_text(st, 3, r->origin);
	bind_text(st, 4, r->type);
	bind_text(st, 5, r->sensor);
	bind_text(st, 6, r->point);
	if (r->has_value)
		sqlite3_bind_double(st, 7, r->value);
	else
		sqlite3_bind_null(st, 7);
	bind_text(st, 8, r->detail);
	sqlite3_bind_int64(st, 9, r->id);
	bind_text(st, 10, hash);
}

/* An event row as it is read back, columns in ST_EVENT's order (at,
 * at_ms, origin, type, sensor, point, value, detail, id, hash) from col. */
static void row_of(sqlite3_stmt *st, int col, struct chain_row *r)
{
	r->at = (const char *)sqlite3_column_text(st, col);
	r->at_ms = sqlite3_column_int64(st, col + 1);
	r->origin = (const char *)sqlite3_column_text(st, col + 2);
	r->type = (const char *)sqlite3_column_text(st, col + 3);
	r->sensor = (const char *)sqlite3_column_text(st, col + 4);
	r->point = (const char *)sqlite3_column_text(st, col + 5);
	r->has_value = sqlite3_column_type(st, col + 6) != SQLITE_NULL;
	r->value = sqlite3_column_double(st, col + 6);
	r->detail = (const char *)sqlite3_column_text(st, col + 7);
	r->id = sqlite3_column_int64(st, col + 8);
}

/* The log holds rows from before the chain (an upgraded database): the
 * chain starts with a row that says how many came before it unchained. */
static int chain_start(sqlite3 *db, sqlite3_stmt *ins, struct chain_head *h, char *err,
                       size_t errlen)
{
	int64_t n = max_of(db, "SELECT count(*) FROM events WHERE hash IS NULL", err, errlen);
	int64_t now = loop_wall_ms();
	char at[32], detail[128], hex[CHAIN_HEX_LEN];
	struct chain_row r = {.id = h->id + 1,
	                      .at = at,
	                      .at_ms = now,
	                      .origin = "store",
	                      .type = CHAIN_TYPE_START,
	                      .detail = detail};
	int rc;

	if (n < 0)
		return -1;
	store_format_time(now, at, sizeof(at));
	snprintf(detail, sizeof(detail), "{\"unchained\":%lld,\"through\":%lld}", (long long)n,
	         (long long)h->id);
	chain_genesis(h->hash);
	chain_hash(h->hash, &r, h->hash);
	chain_hex(h->hash, hex);
	bind_event(ins, &r, hex);
	if (exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	rc = sqlite3_step(ins);
	sqlite3_reset(ins);
	sqlite3_clear_bindings(ins);
	if (rc != SQLITE_DONE || exec(db, "COMMIT", err, errlen) < 0) {
		snprintf(err, errlen, "cannot start the event log's hash chain: %s",
		         sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	h->id = r.id;
	log_notice("store: the event log is hash-chained from row %lld on (%lld earlier rows "
	           "are not chained)",
	           (long long)r.id, (long long)n);
	return 0;
}

/* Read the chain's head (the last event row) into h; start the chain when
 * the log has rows from before it. */
static int chain_load(sqlite3 *db, sqlite3_stmt *ins, struct chain_head *h, char *err,
                      size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, legacy = 0;

	h->id = 0;
	chain_genesis(h->hash);
	if (sqlite3_prepare_v2(db, "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1", -1, &st,
	                       NULL) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = -1;
		goto fail;
	}
	h->id = sqlite3_column_int64(st, 0);
	if (sqlite3_column_type(st, 1) == SQLITE_NULL)
		legacy = 1;
	else if (chain_unhex((const char *)sqlite3_column_text(st, 1), h->hash) < 0)
		/* New rows chain on all the same: verify names this one. */
		log_warn("store: the last event row (%lld) has no valid hash; the log does not "
		         "verify (safehousectl verify)",
		         (long long)h->id);
	sqlite3_finalize(st);
	st = NULL;
	rc = legacy ? chain_start(db, ins, h, err, errlen) : 0;
	goto out;
fail:
	snprintf(err, errlen, "cannot read the event log: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	return rc;
}

/* The hash is computed here, on the writer's thread, so that the chain
 * costs the event loop nothing. */
static int w_event(struct store *s, int64_t at_ms, const char *origin, const char *type,
                   const char *sensor, const char *point, int has_value, double value,
                   const char *detail)
{
	sqlite3_stmt *st = s->st[ST_EVENT];
	char at[32], hex[CHAIN_HEX_LEN];
	unsigned char h[CHAIN_HASH_LEN];
	struct chain_row r = {.id = s->ch.id + 1,
	                      .at = at,
	                      .at_ms = at_ms,
	                      .origin = origin,
	                      .type = type,
	                      .sensor = sensor,
	                      .point = point,
	                      .has_value = has_value,
	                      .value = value,
	                      .detail = detail};
	int rc;
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	store_format_time(at_ms, at, sizeof(at));
	chain_hash(s->ch.hash, &r, h);
	chain_hex(h, hex);
	bind_event(st, &r, hex);
	s->uncommitted++;
	rc = step_done(s, st);
	if (rc == 0) {
		s->ch.id = r.id;
		memcpy(s->ch.hash, h, sizeof(h));
	}
	return rc;
}

/* One step of retention: remove at most max rows from the start of the log
 * that are older than before_ms (never the last row, the chain's head),
 * and put in the last one's place an anchor row holding that row's hash.
 * The next row was chained on that hash, so the log still verifies from
 * the anchor on. Sets *more when rows older than before_ms remain. Returns
 * the rows removed, -1, or STORE_ESTORAGE. */
static int w_prune_step(struct store *s, int64_t before_ms, int max, int *more)
{
	sqlite3_stmt *st = NULL;
	int64_t k = 0, k_ms = 0, n = 0, seen = 0;
	char hash[CHAIN_HEX_LEN] = "", detail[256], at[32], before[32];
	struct chain_row r = {
	    .at = at, .origin = "store", .type = CHAIN_TYPE_PRUNED, .detail = detail};
	int rc = -1, has_hash = 0;

	*more = 0;
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT id, at_ms, hash, type FROM events WHERE id < ?1 ORDER BY id"
	                       " LIMIT ?2",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, s->ch.id);
	sqlite3_bind_int(st, 2, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 1) >= before_ms)
			break;
		seen++;
		k = sqlite3_column_int64(st, 0);
		k_ms = sqlite3_column_int64(st, 1);
		has_hash = sqlite3_column_type(st, 2) != SQLITE_NULL;
		snprintf(hash, sizeof(hash), "%s",
		         has_hash ? (const char *)sqlite3_column_text(st, 2) : "");
		/* An earlier anchor goes too, but it was no event. */
		if (!col_is(st, 3, CHAIN_TYPE_PRUNED))
			n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	*more = rc == SQLITE_DONE && seen == max;
	sqlite3_finalize(st);
	st = NULL;
	if (!k)
		return 0;
	if (sqlite3_prepare_v2(s->db, "DELETE FROM events WHERE id <= ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, k);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	store_format_time(k_ms, at, sizeof(at));
	store_format_time(before_ms, before, sizeof(before));
	snprintf(detail, sizeof(detail),
	         "{\"through\":%lld,\"rows\":%lld,\"before\":\"%s\",\"hash\":%s%s%s}", (long long)k,
	         (long long)n, before, has_hash ? "\"" : "", has_hash ? hash : "null",
	         has_hash ? "\"" : "");
	r.id = k;
	r.at_ms = k_ms;
	bind_event(s->st[ST_EVENT], &r, has_hash ? hash : NULL);
	s->uncommitted++;
	if ((rc = step_done(s, s->st[ST_EVENT])) < 0)
		return rc;
	return (int)n;
fail:
	snprintf(s->werr, sizeof(s->werr), "%s", sqlite3_errmsg(s->db));
	rc = is_storage_error(sqlite3_extended_errcode(s->db)) ? STORE_ESTORAGE : -1;
	sqlite3_finalize(st);
	if (rc == -1)
		log_err("store: retention: %s", s->werr);
	return rc;
}

/* Prune everything older than before_ms, step by step. */
static int w_prune(struct store *s, int64_t before_ms)
{
	int more = 1, rc, total = 0;
	while (more) {
		if ((rc = w_prune_step(s, before_ms, PRUNE_STEP, &more)) < 0)
			return rc;
		total += rc;
	}
	if (total > 0) {
		char at[32];
		store_format_time(before_ms, at, sizeof(at));
		log_notice("store: retention: %d event(s) from before %s removed", total, at);
	}
	return total;
}

/* The writer's daily retention, one step at a time (see PRUNE_STEP). */
static void w_retention(struct store *s, int64_t keep_ms)
{
	int more = 0, rc = w_prune_step(s, loop_wall_ms() - keep_ms, PRUNE_STEP, &more);
	if (rc == STORE_ESTORAGE)
		w_fail(s, NULL);
	if (rc > 0)
		s->pruned += rc;
	/* Deletes are not telemetry: the batch goes within BATCH_MS. */
	if (s->in_txn && !s->txn_urgent)
		s->txn_urgent = loop_mono_ms();
	/* One line per run, not per step. */
	if (s->pruned && !(more && rc > 0)) {
		log_notice("store: retention: %lld event(s) older than %lld days removed",
		           (long long)s->pruned, (long long)(keep_ms / 86400000));
		s->pruned = 0;
	}
	/* A step the disk refused is tried again soon after it takes writes. */
	s->prune_at = loop_mono_ms() + (more && rc > 0         ? PRUNE_PAUSE_MS
	                                : rc == STORE_ESTORAGE ? PRUNE_FIRST_MS
	                                                       : PRUNE_EVERY_MS);
}

void store_set_retention(struct store *s, int days)
{
	static int warned = -1;
	if (days > 0 && days < 400 && warned != days) {
		warned = days;
		log_warn("store: events are kept only %d days (retention_days); inspections "
		         "expect 400 (until the next inspection and a year after)",
		         days);
	}
	lock(s);
	s->retention_ms = days > 0 ? (int64_t)days * 86400000 : 0;
	unlock(s);
}

int store_prune(struct store *s, int64_t before_ms)
{
	int rc;
	if (s->threaded || s->failing)
		return -1;
	rc = w_prune(s, before_ms);
	if (rc < 0) {
		if (rc == STORE_ESTORAGE)
			w_fail(s, NULL);
		return -1;
	}
	return w_commit(s) < 0 ? -1 : rc;
}

void store_chain_head(struct store *s, int64_t *row, char hash[STORE_HASH_HEX])
{
	struct chain_head h;
	lock(s);
	h = s->head;
	unlock(s);
	*row = h.id;
	if (h.id)
		chain_hex(h.hash, hash);
	else
		hash[0] = '\0';
}

static void verify_fail(struct store_verify_result *r, int64_t row, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verify_fail(struct store_verify_result *r, int64_t row, const char *fmt, ...)
{
	va_list ap;
	r->ok = 0;
	r->first_bad_row = row;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

/* The anchor's own record of the hash it stands for: the pruned row's. */
static int anchor_hash_ok(const char *detail, const char *hash)
{
	const char *p = detail ? strstr(detail, "\"hash\":\"") : NULL;
	return p && strncmp(p + 8, hash, 2 * CHAIN_HASH_LEN) == 0 &&
	       p[8 + 2 * CHAIN_HASH_LEN] == '"';
}

/* Walk the log in id order. Rows with no hash before the chain starts are
 * from before it (counted as unchained); the chain starts at row 1, at a
 * chain-start row, or at a retention anchor; from there on every row must
 * follow the one before it (no gap in the ids) and hash to what it holds. */
static int verify_db(sqlite3 *db, struct store_verify_result *r)
{
	sqlite3_stmt *st = NULL;
	unsigned char prev[CHAIN_HASH_LEN], h[CHAIN_HASH_LEN], held[CHAIN_HASH_LEN];
	int64_t expect = 0, first_unchained = 0;
	int started = 0, rc;

	memset(r, 0, sizeof(*r));
	r->ok = 1;
	chain_genesis(prev);
	/* One read transaction: a consistent picture while the writer goes on. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "SELECT at, at_ms, origin, type, sensor, point, value, detail, id,"
	                       " hash FROM events ORDER BY id",
	                       -1, &st, NULL) != SQLITE_OK) {
		snprintf(r->reason, sizeof(r->reason), "cannot read the event log: %s",
		         sqlite3_errmsg(db));
		r->ok = 0;
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct chain_row row;
		const char *hash = (const char *)sqlite3_column_text(st, 9);
		row_of(st, 0, &row);
		if (!hash) {
			if (!started) {
				if (!r->unchained++)
					first_unchained = row.id;
				continue;
			}
			verify_fail(r, row.id,
			            "row %lld has no hash (written or changed outside "
			            "safehoused)",
			            (long long)row.id);
			break;
		}
		if (chain_unhex(hash, held) < 0) {
			verify_fail(r, row.id, "row %lld: its hash is not a SHA-256 (changed)",
			            (long long)row.id);
			break;
		}
		if (started && row.id != expect) {
			verify_fail(r, expect,
			            "row %lld is missing (deleted): row %lld follows row %lld",
			            (long long)expect, (long long)row.id, (long long)expect - 1);
			break;
		}
		if (!started && row.type && strcmp(row.type, CHAIN_TYPE_PRUNED) == 0) {
			/* A retention anchor starts what is left: it holds the
			 * hash of the last row it stands for. */
			if (!anchor_hash_ok(row.detail, hash)) {
				verify_fail(r, row.id,
				            "row %lld: the retention anchor does not match the "
				            "hash it records (changed)",
				            (long long)row.id);
				break;
			}
			memcpy(prev, held, sizeof(prev));
			r->pruned_ms = row.at_ms;
			goto next;
		}
		if (!started && (!row.type || strcmp(row.type, CHAIN_TYPE_START) != 0)) {
			if (r->unchained) {
				verify_fail(r, first_unchained,
				            "rows %lld to %lld have no hash and no chain-start row "
				            "follows them (changed)",
				            (long long)first_unchained, (long long)row.id - 1);
				break;
			}
			if (row.id != 1) {
				verify_fail(r, 1, "rows 1 to %lld are missing (deleted)",
				            (long long)row.id - 1);
				break;
			}
		}
		chain_hash(prev, &row, h);
		if (memcmp(h, held, sizeof(h)) != 0) {
			verify_fail(r, row.id,
			            "row %lld does not match its hash (changed, or a row before it "
			            "was replaced)",
			            (long long)row.id);
			break;
		}
		memcpy(prev, h, sizeof(prev));
	next:
		started = 1;
		r->rows++;
		r->head_row = row.id;
		chain_hex(held, r->head_hash);
		expect = row.id + 1;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(r->reason, sizeof(r->reason), "cannot read the event log: %s",
		         sqlite3_errmsg(db));
		r->ok = 0;
		r->first_bad_row = 0;
		rc = -1;
	} else {
		rc = 0;
	}
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int store_verify_file(const char *db_path, struct store_verify_result *r)
{
	sqlite3 *db = NULL;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (sodium_init() < 0) {
		snprintf(r->reason, sizeof(r->reason), "libsodium cannot start");
		return -1;
	}
	/* Read-only: verifying never changes what it checks. */
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(r->reason, sizeof(r->reason), "cannot open %s: %s", db_path,
		         db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 2000);
	/* One pass over the log: a big page cache would only hold it. */
	sqlite3_exec(db, "PRAGMA cache_size=-256", NULL, NULL, NULL);
	rc = verify_db(db, r);
out:
	sqlite3_close(db);
	return rc;
}

/* store_verify's thread: one verification after another, each on a
 * connection of its own. */
static void verifier(struct worker *w, void *arg)
{
	struct store *s = arg;
	struct worker_job *list;
	while (!worker_next(w, INT64_MAX, &list) || list) {
		while (list) {
			struct op *o = op_of(list);
			list = list->next;
			store_verify_file(s->file, o->vr);
			o->rc = 0; /* not a write: store_dispatch must not see a failure */
			worker_reply(w, &o->job);
		}
	}
}

int store_verify(struct store *s, struct store_verify_result *r, store_done_fn fn, void *ctx)
{
	struct op *o;
	if (!s->threaded) {
		int rc = verify_db(s->db, r);
		if (fn)
			fn(ctx, rc);
		return 0;
	}
	if (!s->vw) {
		if (!(s->vw = worker_new(s->done, 0, 0)))
			return -1;
		if (worker_start(s->vw, verifier, s) < 0) {
			jobs_free(worker_stop(s->vw));
			s->vw = NULL;
			return -1;
		}
	}
	if (!(o = calloc(1, sizeof(*o))))
		return -1;
	o->type = OP_VERIFY;
	o->vr = r;
	o->fn = fn;
	o->ctx = ctx;
	worker_post(s->vw, &o->job, 1);
	return 0;
}

int store_db_info(struct store *s, int64_t *bytes, int64_t *oldest_ms)
{
	char err[160];
	*bytes = max_of(s->rdb,
	                "SELECT page_count * page_size FROM pragma_page_count(),"
	                " pragma_page_size()",
	                err, sizeof(err));
	*oldest_ms = 0;
	/* A retention anchor stands for rows that are gone: not an event. */
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->rdb,
	                       "SELECT at_ms FROM events WHERE type != '" CHAIN_TYPE_PRUNED
	                       "' ORDER BY at_ms LIMIT 1",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		*oldest_ms = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return *bytes < 0 ? -1 : 0;
}

int store_alarm_known(struct store *s, int64_t id)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(s->rdb, "SELECT 1 FROM alarms WHERE id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The siren column: the pattern's name, NULL for a silent alarm. */
static const char *siren_column(enum sh_siren sp)
{
	return sp == SIREN_OFF ? NULL : sh_siren_name(sp);
}

static int w_alarm_insert(struct store *s, const struct store_alarm *a)
{
	sqlite3_stmt *st = s->st[ST_ALARM_INSERT];
	char raised[32], updated[32];
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	store_format_time(a->raised_ms, raised, sizeof(raised));
	store_format_time(a->updated_ms, updated, sizeof(updated));
	bind_text(st, 1, sh_class_name(a->cls));
	bind_text(st, 2, a->zone);
	bind_text(st, 3, a->sensor);
	bind_text(st, 4, a->rule);
	bind_text(st, 5, a->message);
	bind_text(st, 6, sh_alarm_state_name(a->state));
	sqlite3_bind_int(st, 7, a->active);
	sqlite3_bind_int(st, 8, a->cause_active);
	bind_text(st, 9, raised);
	sqlite3_bind_int64(st, 10, a->raised_ms);
	bind_text(st, 11, updated);
	sqlite3_bind_int64(st, 12, a->updated_ms);
	bind_text(st, 13, a->acked_by);
	bind_text(st, 14, a->reset_by);
	bind_text(st, 15, siren_column(a->siren));
	sqlite3_bind_int64(st, 16, a->id);
	s->uncommitted++;
	return step_done(s, st);
}

static int w_alarm_update(struct store *s, const struct store_alarm *a)
{
	sqlite3_stmt *st = s->st[ST_ALARM_UPDATE];
	char updated[32];
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	store_format_time(a->updated_ms, updated, sizeof(updated));
	bind_text(st, 1, sh_alarm_state_name(a->state));
	sqlite3_bind_int(st, 2, a->active);
	sqlite3_bind_int(st, 3, a->cause_active);
	bind_text(st, 4, updated);
	sqlite3_bind_int64(st, 5, a->updated_ms);
	bind_text(st, 6, a->acked_by);
	bind_text(st, 7, a->reset_by);
	bind_text(st, 8, a->sensor);
	bind_text(st, 9, siren_column(a->siren));
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
	sqlite3_stmt *st = s->rst[active_only ? ST_ALARM_ACTIVE : ST_ALARM_ALL];
	int rc;
	sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int cls = sh_class_from_name(col_text(st, 1));
		int state = sh_alarm_state_from_name(col_text(st, 6));
		int siren = sh_siren_from_name(col_text(st, 13));
		struct store_alarm a = {
		    .id = sqlite3_column_int64(st, 0),
		    .zone = col_text(st, 2),
		    .sensor = col_text(st, 3),
		    .rule = col_text(st, 4),
		    .message = col_text(st, 5),
		    .active = sqlite3_column_int(st, 7),
		    .cause_active = sqlite3_column_int(st, 8),
		    .raised_ms = sqlite3_column_int64(st, 9),
		    .updated_ms = sqlite3_column_int64(st, 10),
		    .acked_by = col_text(st, 11),
		    .reset_by = col_text(st, 12),
		};
		if (cls < 0) {
			log_err("store: alarm %lld has an unknown class \"%s\"; skipped",
			        (long long)a.id, col_text(st, 1) ? col_text(st, 1) : "");
			continue;
		}
		if (state < 0)
			log_warn("store: alarm %lld has an unknown state \"%s\"; read as raised",
			         (long long)a.id, col_text(st, 6) ? col_text(st, 6) : "");
		a.cls = (enum sh_alarm_class)cls;
		a.state = state < 0 ? ALARM_RAISED : (enum sh_alarm_state)state;
		/* A pattern this build does not know still sounds: as fire. */
		a.siren = !col_text(st, 13) ? SIREN_OFF
		          : siren < 0       ? SIREN_FIRE
		                            : (enum sh_siren)siren;
		fn(ctx, &a);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_err("store: alarms: %s", sqlite3_errmsg(s->rdb));
		return -1;
	}
	return 0;
}

int64_t store_outbox_next_seq(struct store *s)
{
	return s->next_seq++;
}

/* ---- the write path: inline, or queued for the writer thread ------------- */

static char *dup_or_null(const char *v)
{
	return v ? strdup(v) : NULL;
}

static int w_event(struct store *s, int64_t at_ms, const char *origin, const char *type,
                   const char *sensor, const char *point, int has_value, double value,
                   const char *detail);
static int w_alarm_insert(struct store *s, const struct store_alarm *a);
static int w_alarm_update(struct store *s, const struct store_alarm *a);
static int w_outbox_add(struct store *s, const struct op *o);
static int w_outbox_mark(struct store *s, const struct op *o);
static int w_outbox_delivered(struct store *s, int64_t seq, int64_t at_ms);
static int w_sensor_save(struct store *s, const char *id, int64_t last_seen_ms, int online,
                         int has_battery, double battery, const char *values_json);
static int w_state_set(struct store *s, const char *key, const char *value, int64_t at_ms);
static int w_generic(struct store *s, const struct op *o);

/* Execute one op on the writer connection. */
static int run_op(struct store *s, struct op *o)
{
	switch (o->type) {
	case OP_EVENT:
		return w_event(s, o->i[0], o->str[0], o->str[1], o->str[2], o->str[3], o->n[0],
		               o->d, o->str[4]);
	case OP_ALARM_INSERT:
		return w_alarm_insert(s, o->a);
	case OP_ALARM_UPDATE:
		return w_alarm_update(s, o->a);
	case OP_OUTBOX_ADD:
		return w_outbox_add(s, o);
	case OP_OUTBOX_MARK:
		return w_outbox_mark(s, o);
	case OP_OUTBOX_DELIVERED:
		return w_outbox_delivered(s, o->i[0], o->i[1]);
	case OP_SENSOR_SAVE:
		return w_sensor_save(s, o->str[0], o->i[0], o->n[0], o->n[1], o->d, o->str[1]);
	case OP_STATE_SET:
		return w_state_set(s, o->str[0], o->str[1], o->i[0]);
	case OP_DISABLE_ADD:
	case OP_DISABLE_END:
	case OP_TEST_ADD:
	case OP_USER_PUT:
	case OP_USER_DEL:
		return w_generic(s, o);
	case OP_BARRIER:
		break; /* w_apply commits at a barrier */
	case OP_VERIFY:
		break; /* never given to the writer */
	}
	return -1;
}

static void loop_sync(struct store *s, int barrier_failed);

/* A barrier is done: hand it back to the loop (threaded), or call it now. */
static void deliver(struct store *s, struct op *o)
{
	if (!s->threaded) {
		loop_sync(s, o->rc < 0);
		if (o->fn)
			o->fn(o->ctx, o->rc);
		op_free(o);
		return;
	}
	worker_reply(s->w, &o->job);
}

/* Run one op on the writer connection: a write joins the open transaction
 * (kept until the commit, so that a failed commit loses nothing), a barrier
 * commits. While the disk refuses writes, writes go straight to the
 * backlog. */
static void w_apply(struct store *s, struct op *o)
{
	int rc;
	o->next = NULL;
	if (o->type == OP_BARRIER) {
		o->rc = w_commit(s);
		deliver(s, o);
		return;
	}
	if (s->failing) {
		back_add(s, o);
		return;
	}
	rc = run_op(s, o);
	if (rc == STORE_ESTORAGE) {
		w_fail(s, o);
		return;
	}
	if (rc < 0) {
		op_free(o);
		return;
	}
	if (!s->txn_urgent && !op_is_slow(o))
		s->txn_urgent = loop_mono_ms();
	if (s->txn_tail)
		s->txn_tail->next = o;
	else
		s->txn_head = o;
	s->txn_tail = o;
}

/* The pending writes to the writer's queue. wait 0: not when that means
 * waiting for the writer's thread (see worker_post_list). */
static void hand_over(struct store *s, int wait, int urgent)
{
	if (!s->pend_head)
		return;
	if (worker_post_list(s->w, &s->pend_head->job, &s->pend_tail->job, s->npend, urgent, wait) <
	    0)
		return;
	s->pend_head = s->pend_tail = NULL;
	s->npend = 0;
}

/* Hand an op to the writer (threaded), or run it now (inline): one path for
 * both, so that the tests and the scenario runner exercise the same code as
 * the daemon. Takes ownership. */
static int submit(struct store *s, struct op *o)
{
	if (!o)
		return -1;
	if (!s->threaded) {
		int barrier = o->type == OP_BARRIER;
		if (s->failing && loop_mono_ms() >= s->retry_at)
			w_retry(s);
		w_apply(s, o);
		if (!barrier && s->uncommitted >= INLINE_TXN_MAX)
			w_commit(s);
		if (s->health_dirty)
			loop_sync(s, 0);
		return 0;
	}
	o->job.next = NULL;
	if (s->pend_tail)
		s->pend_tail->job.next = &o->job;
	else
		s->pend_head = o;
	s->pend_tail = o;
	s->npend++;
	/* Telemetry waits for store_flush (or a full batch); anything else
	 * (an alarm, an outbox row, a barrier) goes at once, as it always did,
	 * with what was written before it. */
	if (op_is_telemetry(o) && s->npend < QUEUE_WAKE)
		return 0;
	hand_over(s, 1, o->type == OP_BARRIER);
	return 0;
}

int store_flush(struct store *s)
{
	if (!s || !s->threaded)
		return 0;
	hand_over(s, 0, 0);
	ev_recycle(s);
	return s->npend;
}

/* Loop thread only: the serial orders the ops as they are submitted. */
static struct op *op_new_s(struct store *s, enum op_type t)
{
	struct op *o = calloc(1, sizeof(*o));
	if (o) {
		o->type = t;
		o->serial = ++s->next_serial;
		o->telemetry = o->slow = -1;
	}
	return o;
}
#define op_new(t) op_new_s(s, t)

/* Copy the alarm's strings into the op, so it outlives the caller's. */
static struct op *alarm_op(struct store *s, enum op_type t, const struct store_alarm *a)
{
	struct op *o = calloc(1, sizeof(*o) + sizeof(*a));
	if (!o)
		return NULL;
	o->type = t;
	o->serial = ++s->next_serial;
	o->telemetry = o->slow = -1;
	o->a = (struct store_alarm *)(o + 1);
	*o->a = *a;
	o->a->zone = o->str[1] = dup_or_null(a->zone);
	o->a->sensor = o->str[2] = dup_or_null(a->sensor);
	o->a->rule = o->str[3] = dup_or_null(a->rule);
	o->a->message = o->str[4] = dup_or_null(a->message);
	o->a->acked_by = o->str[6] = dup_or_null(a->acked_by);
	o->a->reset_by = o->str[7] = dup_or_null(a->reset_by);
	return o;
}

int store_event(struct store *s, int64_t at_ms, const char *origin, const char *type,
                const char *sensor, const char *point, int has_value, double value,
                const char *detail)
{
	const char *v[5] = {origin, type, sensor, point, detail};
	size_t len[5], total = 0;
	struct op *o;
	char *p;
	int pt;
	for (int i = 0; i < 5; i++)
		total += len[i] = v[i] ? strlen(v[i]) + 1 : 0;
	if (total <= EV_STR_ROOM && s->threaded) {
		if ((o = s->ev_free)) {
			s->ev_free = o->next;
			s->nev_free--;
		} else if (!(o = malloc(EV_ALLOC))) {
			return -1;
		}
		memset(o, 0, sizeof(*o));
		o->inline_strs = 2;
	} else {
		if (!(o = calloc(1, sizeof(*o) + total)))
			return -1;
		o->inline_strs = 1;
	}
	o->type = OP_EVENT;
	o->serial = ++s->next_serial;
	p = (char *)(o + 1);
	for (int i = 0; i < 5; i++)
		if (v[i]) {
			memcpy(p, v[i], len[i]);
			o->str[i] = p;
			p += len[i];
		}
	o->i[0] = at_ms;
	o->n[0] = has_value;
	o->d = value;
	/* op_is_telemetry and op_is_slow, once, here. */
	o->telemetry = type && strcmp(type, "reading") == 0;
	pt = o->telemetry && point ? sh_point_from_name(point) : -1;
	o->slow = pt >= 0 && sh_point_is_numeric((enum sh_point)pt);
	return submit(s, o);
}

int store_alarm_insert(struct store *s, struct store_alarm *a)
{
	/* Ids are given here, not by SQLite, so that the caller has one at
	 * once while the row is still on its way to the disk. */
	a->id = s->next_alarm++;
	return submit(s, alarm_op(s, OP_ALARM_INSERT, a));
}

int store_alarm_update(struct store *s, const struct store_alarm *a)
{
	return submit(s, alarm_op(s, OP_ALARM_UPDATE, a));
}

int store_outbox_add(struct store *s, int64_t seq, const char *kind, const char *channel,
                     const char *contact, int64_t alarm, const char *topic, const char *payload,
                     int qos, int retain, int64_t at_ms)
{
	return store_outbox_add_step(s, seq, kind, channel, contact, alarm, topic, payload, qos,
	                             retain, at_ms, 0, 0);
}

int store_outbox_add_step(struct store *s, int64_t seq, const char *kind, const char *channel,
                          const char *contact, int64_t alarm, const char *topic,
                          const char *payload, int qos, int retain, int64_t at_ms, int64_t due_ms,
                          int step)
{
	struct op *o;
	struct memrow *m;
	if (!(o = op_new(OP_OUTBOX_ADD)))
		return -1;
	o->i[0] = seq;
	o->i[1] = alarm;
	o->i[2] = at_ms;
	o->i[3] = due_ms;
	o->n[0] = qos;
	o->n[1] = retain;
	o->n[2] = step;
	o->str[0] = dup_or_null(kind);
	o->str[1] = dup_or_null(channel);
	o->str[2] = dup_or_null(contact);
	o->str[3] = dup_or_null(topic);
	o->str[4] = dup_or_null(payload);
	/* A copy stays with the loop until the row is on the disk, so that a
	 * disk that refuses it cannot keep the message from being sent. */
	m = calloc(1, sizeof(*m));
	if (m && channel && topic && payload) {
		m->seq = seq;
		m->qos = qos;
		m->retain = retain;
		m->alarm = alarm;
		m->due_ms = due_ms;
		m->step = step;
		m->channel = strdup(channel);
		m->topic = strdup(topic);
		m->payload = strdup(payload);
		m->kind = dup_or_null(kind);
		m->contact = dup_or_null(contact);
		lock(s);
		m->sendable = s->health.failing;
		unlock(s);
		if (m->channel && m->topic && m->payload) {
			if (s->mem_tail)
				s->mem_tail->next = m;
			else
				s->mem_head = m;
			s->mem_tail = m;
			m = NULL;
		}
	}
	if (m) {
		memrow_free(m);
		log_err("store: out of memory keeping outbox row %lld; it is sent once on the disk",
		        (long long)seq);
	}
	return submit(s, o);
}

/* The loop learns what the writer did: rows now on the disk are dropped
 * from memory; if the disk refused writes, every row still in memory may
 * be sent from there. Loop thread only. */
static void loop_sync(struct store *s, int barrier_failed)
{
	int64_t durable;
	int failing, dirty;
	struct memrow *m;

	sqlite3 *rdb;
	sqlite3_stmt *rst[ST__COUNT];

	lock(s);
	durable = s->durable_seq;
	failing = s->health.failing;
	dirty = s->health_dirty;
	s->health_dirty = 0;
	rdb = s->next_rdb;
	s->next_rdb = NULL;
	memcpy(rst, s->next_rst, sizeof(rst));
	unlock(s);
	if (rdb) {
		/* The file opened after a start from memory: read it from now on
		 * (this closes the memory database). */
		for (int i = 0; i < ST__COUNT; i++)
			sqlite3_finalize(s->rst[i]);
		sqlite3_close(s->rdb);
		s->rdb = rdb;
		memcpy(s->rst, rst, sizeof(rst));
	}
	while ((m = s->mem_head) && m->seq <= durable) {
		s->mem_head = m->next;
		if (!s->mem_head)
			s->mem_tail = NULL;
		memrow_free(m);
	}
	if (failing || barrier_failed)
		for (m = s->mem_head; m; m = m->next)
			m->sendable = 1;
	if (dirty && s->health_fn)
		s->health_fn(s->health_ctx);
}

void store_health(struct store *s, struct store_health *h)
{
	lock(s);
	*h = s->health;
	unlock(s);
}

void store_set_health_cb(struct store *s, store_health_fn fn, void *ctx)
{
	s->health_fn = fn;
	s->health_ctx = ctx;
}

static void mark_set(struct store *s, int64_t seq, int64_t serial, enum store_outbox_state st,
                     int tries, int64_t next_try_ms, const char *error, int64_t at_ms);

int store_outbox_delivered(struct store *s, int64_t seq, int64_t at_ms)
{
	struct op *o;
	for (struct memrow *m = s->mem_head; m; m = m->next)
		if (m->seq == seq)
			m->delivered = 1;
	if (!(o = op_new(OP_OUTBOX_DELIVERED)))
		return -1;
	o->i[0] = seq;
	o->i[1] = at_ms;
	/* Until the mark is on the disk, the reader still sees the row as
	 * pending: the overlay keeps it from being sent again. */
	mark_set(s, seq, o->serial, OUTBOX_DELIVERED, 0, 0, NULL, at_ms);
	return submit(s, o);
}

static int sensor_save(struct store *s, const char *id, int64_t last_seen_ms, int online,
                       int has_battery, double battery, const char *values_json, int slow)
{
	struct op *o;
	if (!(o = op_new(OP_SENSOR_SAVE)))
		return -1;
	o->str[0] = dup_or_null(id);
	o->str[1] = dup_or_null(values_json);
	o->i[0] = last_seen_ms;
	o->n[0] = online;
	o->n[1] = has_battery;
	o->d = battery;
	o->slow = (signed char)slow;
	return submit(s, o);
}

int store_sensor_save(struct store *s, const char *id, int64_t last_seen_ms, int online,
                      int has_battery, double battery, const char *values_json)
{
	return sensor_save(s, id, last_seen_ms, online, has_battery, battery, values_json, 1);
}

int store_sensor_save_state(struct store *s, const char *id, int64_t last_seen_ms, int online,
                            int has_battery, double battery, const char *values_json)
{
	return sensor_save(s, id, last_seen_ms, online, has_battery, battery, values_json, 0);
}

int store_state_set(struct store *s, const char *key, const char *value, int64_t at_ms)
{
	struct op *o;
	if (!(o = op_new(OP_STATE_SET)))
		return -1;
	o->str[0] = dup_or_null(key);
	o->str[1] = dup_or_null(value);
	o->i[0] = at_ms;
	return submit(s, o);
}

/* Disablements and tests: rows with a few strings, an int and times. */
static int w_generic(struct store *s, const struct op *o)
{
	sqlite3_stmt *st;
	char a[32], b[32];
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	store_format_time(o->i[0], a, sizeof(a));
	switch (o->type) {
	case OP_DISABLE_ADD:
		st = s->st[ST_DISABLE_ADD];
		store_format_time(o->i[1], b, sizeof(b));
		bind_text(st, 1, o->str[0]);
		bind_text(st, 2, o->str[1]);
		bind_text(st, 3, o->str[2]);
		bind_text(st, 4, o->str[3]);
		bind_text(st, 5, a);
		bind_text(st, 6, b);
		sqlite3_bind_int64(st, 7, o->i[1]);
		break;
	case OP_DISABLE_END:
		st = s->st[ST_DISABLE_END];
		bind_text(st, 1, a);
		bind_text(st, 2, o->str[1]);
		bind_text(st, 3, o->str[0]);
		break;
	case OP_TEST_ADD:
		st = s->st[ST_TEST_ADD];
		bind_text(st, 1, a);
		sqlite3_bind_int64(st, 2, o->i[0]);
		bind_text(st, 3, o->str[0]);
		bind_text(st, 4, o->str[1]);
		bind_text(st, 5, o->str[2]);
		sqlite3_bind_double(st, 6, o->d);
		bind_text(st, 7, o->str[3]);
		break;
	case OP_USER_PUT:
		st = s->st[ST_USER_PUT];
		bind_text(st, 1, o->str[0]);
		bind_text(st, 2, o->str[1]);
		bind_text(st, 3, o->str[2]);
		bind_text(st, 4, o->str[3]);
		bind_text(st, 5, a);
		break;
	case OP_USER_DEL:
		st = s->st[ST_USER_DEL];
		bind_text(st, 1, o->str[0]);
		break;
	default:
		return -1;
	}
	s->uncommitted++;
	return step_done(s, st);
}

static int generic(struct store *s, enum op_type t, int64_t t0, int64_t t1, double d,
                   const char *s0, const char *s1, const char *s2, const char *s3)
{
	struct op *o = op_new(t);
	if (!o)
		return -1;
	o->i[0] = t0;
	o->i[1] = t1;
	o->d = d;
	o->str[0] = dup_or_null(s0);
	o->str[1] = dup_or_null(s1);
	o->str[2] = dup_or_null(s2);
	o->str[3] = dup_or_null(s3);
	return submit(s, o);
}

int store_disable_add(struct store *s, const char *target, const char *kind, const char *reason,
                      const char *by, int64_t from_ms, int64_t until_ms)
{
	return generic(s, OP_DISABLE_ADD, from_ms, until_ms, 0, target, kind, reason, by);
}

int store_disable_end(struct store *s, const char *target, const char *by, int64_t at_ms)
{
	return generic(s, OP_DISABLE_END, at_ms, 0, 0, target, by, NULL, NULL);
}

int store_user_put(struct store *s, const char *name, const char *role, const char *pin_hash,
                   const char *duress_hash, int64_t at_ms)
{
	return generic(s, OP_USER_PUT, at_ms, 0, 0, name, role, pin_hash, duress_hash);
}

int store_user_del(struct store *s, const char *name, int64_t at_ms)
{
	return generic(s, OP_USER_DEL, at_ms, 0, 0, name, NULL, NULL, NULL);
}

int store_users_foreach(struct store *s, store_user_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->rst[ST_USERS_ALL];
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, col_text(st, 0), col_text(st, 1), col_text(st, 2), col_text(st, 3));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_test_add(struct store *s, int64_t at_ms, const char *sensor, const char *zone,
                   const char *point, double value, const char *started_by)
{
	return generic(s, OP_TEST_ADD, at_ms, 0, value, sensor, zone, point, started_by);
}

int store_events_foreach(struct store *s, int64_t since_ms, int limit, store_event_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->rst[ST_EVENTS_SINCE];
	int rc;
	sqlite3_bind_int64(st, 1, since_ms);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, col_text(st, 0), col_text(st, 1), col_text(st, 2), col_text(st, 3),
		   col_text(st, 4), sqlite3_column_type(st, 5) != SQLITE_NULL,
		   sqlite3_column_double(st, 5), col_text(st, 6));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_sensor_foreach(struct store *s, store_sensor_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->rst[ST_SENSORS_ALL];
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, col_text(st, 0), col_text(st, 1));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_disable_foreach_active(struct store *s, store_disable_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->rst[ST_DISABLE_ACTIVE];
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, col_text(st, 0), col_text(st, 1), col_text(st, 2), col_text(st, 3),
		   sqlite3_column_int64(st, 4));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_commit_then(struct store *s, store_done_fn fn, void *ctx)
{
	struct op *o = op_new(OP_BARRIER);
	if (!o)
		return -1;
	o->fn = fn;
	o->ctx = ctx;
	return submit(s, o);
}

int store_retention_run(struct store *s)
{
	struct op *o;
	int64_t keep;
	if (!s->threaded) {
		lock(s);
		keep = s->retention_ms;
		unlock(s);
		return keep ? (store_prune(s, loop_wall_ms() - keep) < 0 ? -1 : 0) : 0;
	}
	lock(s);
	s->prune_kick = 1;
	unlock(s);
	/* A barrier nobody waits for wakes the writer. */
	if (!(o = op_new(OP_BARRIER)))
		return -1;
	return submit(s, o);
}

int store_commit(struct store *s)
{
	struct op *o;
	int rc;
	if (!s)
		return 0;
	if (!s->threaded) {
		if (s->failing && loop_mono_ms() >= s->retry_at)
			w_retry(s);
		rc = w_commit(s);
		loop_sync(s, rc < 0);
		return rc;
	}
	/* Wait for the writer: for a clean stop only, never on the loop's
	 * normal path. */
	if (!(o = op_new(OP_BARRIER)))
		return -1;
	hand_over(s, 1, 0);
	worker_call(s->w, &o->job);
	rc = o->rc;
	op_free(o);
	return rc;
}

int store_fd(const struct store *s)
{
	return s && s->threaded ? worker_done_fd(s->done) : -1;
}

void store_dispatch(struct store *s)
{
	struct worker_job *list, *j;
	int failed = 0;
	if (!s || !s->threaded)
		return;
	list = worker_done_take(s->done);
	for (j = list; j; j = j->next)
		if (op_of(j)->rc < 0)
			failed = 1;
	/* Before the callbacks: they send what is durable, or what must now
	 * go from memory. */
	loop_sync(s, failed);
	while ((j = list)) {
		struct op *o = op_of(j);
		list = j->next;
		if (o->fn)
			o->fn(o->ctx, o->rc);
		op_free(o);
	}
}

/* When the open batch is to be committed: BATCH_MS after its first write
 * that matters now, or TELEMETRY_MS after its first write when it holds
 * nothing but slow telemetry. */
static int64_t w_commit_due(const struct store *s)
{
	return s->txn_urgent ? s->txn_urgent + BATCH_MS : s->txn_start + TELEMETRY_MS;
}

/* The writer thread: runs ops in order inside one transaction, commits at a
 * barrier at once and otherwise BATCH_MS after the batch's first write that
 * is not slow telemetry (TELEMETRY_MS after its first write when it holds
 * only that), so that telemetry costs an fsync a minute however busy the
 * house is, and an alarm costs one fsync that nobody on the event loop
 * waits for. The worker wakes it for
 * queued writes (see store_open); its own deadlines are the open
 * transaction's age and, while the disk refuses writes, the next retry. */
static void writer(struct worker *w, void *arg)
{
	struct store *s = arg;
	for (;;) {
		struct worker_job *list;
		int64_t due = INT64_MAX, keep;
		int stop, nops;
		struct loop_span sp, d;
		lock(s);
		keep = s->retention_ms;
		if (s->prune_kick) {
			s->prune_kick = 0;
			s->prune_at = loop_mono_ms();
		}
		unlock(s);
		if (s->in_txn)
			due = w_commit_due(s);
		if (s->failing && s->retry_at < due)
			due = s->retry_at;
		if (keep && !s->failing && s->prune_at < due)
			due = s->prune_at;
		stop = worker_next(w, due, &list);
		if (loop_trace_us() > 0)
			loop_span_begin(&sp);
		nops = 0;
		while (list) {
			struct op *o = op_of(list);
			list = list->next;
			w_apply(s, o);
			nops++;
		}
		if (loop_trace_us() > 0 && loop_span_end(&sp, &d))
			log_notice("trace: store writer: %d op(s) applied in %lld us (cpu %lld us, "
			           "vcsw %ld, ivcsw %ld)",
			           nops, (long long)d.wall_us, (long long)d.cpu_us, d.vcsw,
			           d.ivcsw);
		if (s->failing && (stop || loop_mono_ms() >= s->retry_at))
			w_retry(s);
		/* Retention joins the open batch, after the writes queued. */
		if (keep && !s->failing && !stop && loop_mono_ms() >= s->prune_at)
			w_retention(s, keep);
		if (s->in_txn &&
		    (stop || s->uncommitted >= TXN_ROWS_MAX || loop_mono_ms() >= w_commit_due(s))) {
			int rows = s->uncommitted;
			if (loop_trace_us() > 0)
				loop_span_begin(&sp);
			w_commit(s);
			if (loop_trace_us() > 0 && loop_span_end(&sp, &d))
				log_notice("trace: store writer: commit of %d row(s) %lld us (cpu "
				           "%lld us, vcsw %ld, ivcsw %ld)",
				           rows, (long long)d.wall_us, (long long)d.cpu_us, d.vcsw,
				           d.ivcsw);
		}
		if (s->w_notify) {
			/* The store started or stopped failing: the loop
			 * raises or clears the fault. */
			s->w_notify = 0;
			worker_notify(w);
		}
		/* Only the loop posts, and it is in store_close by now. */
		if (stop)
			break;
	}
}

static int w_outbox_add(struct store *s, const struct op *o)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_ADD];
	char at[32];
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	store_format_time(o->i[2], at, sizeof(at));
	sqlite3_bind_int64(st, 1, o->i[0]);
	bind_text(st, 2, o->str[1]);
	bind_text(st, 3, o->str[2]);
	if (o->i[1] > 0)
		sqlite3_bind_int64(st, 4, o->i[1]);
	else
		sqlite3_bind_null(st, 4);
	bind_text(st, 5, o->str[3]);
	bind_text(st, 6, o->str[4]);
	sqlite3_bind_int(st, 7, o->n[0]);
	sqlite3_bind_int(st, 8, o->n[1]);
	bind_text(st, 9, at);
	bind_text(st, 10, o->str[0]);
	sqlite3_bind_int64(st, 11, o->i[3]);
	sqlite3_bind_int(st, 12, o->n[2]);
	s->uncommitted++;
	return step_done(s, st);
}

static int w_outbox_mark(struct store *s, const struct op *o)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_MARK];
	char at[32];
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	store_format_time(o->i[1], at, sizeof(at));
	bind_text(st, 1, store_outbox_state_name((enum store_outbox_state)o->n[0]));
	sqlite3_bind_int(st, 2, o->n[1]);
	sqlite3_bind_int64(st, 3, o->i[2]);
	bind_text(st, 4, o->str[0]);
	bind_text(st, 5, o->n[0] == OUTBOX_DELIVERED ? at : NULL);
	sqlite3_bind_int64(st, 6, o->i[0]);
	s->uncommitted++;
	return step_done(s, st);
}

int store_outbox_alerted(struct store *s, int64_t alarm, store_contact_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->rst[ST_OUTBOX_ALERTED];
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
	sqlite3_stmt *st = s->rst[ST_OUTBOX_ALL];
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
	sqlite3_stmt *st = s->rst[ST_STATE_GET];
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

static int w_state_set(struct store *s, const char *key, const char *value, int64_t at_ms)
{
	sqlite3_stmt *st = s->st[ST_STATE_SET];
	char at[32];
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	store_format_time(at_ms, at, sizeof(at));
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	bind_text(st, 3, at);
	s->uncommitted++;
	return step_done(s, st);
}

static int w_outbox_delivered(struct store *s, int64_t seq, int64_t at_ms)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_DELIVERED];
	char at[32];
	if (begin(s) < 0)
		return STORE_ESTORAGE;
	store_format_time(at_ms, at, sizeof(at));
	bind_text(st, 1, at);
	sqlite3_bind_int64(st, 2, seq);
	s->uncommitted++;
	return step_done(s, st);
}

/* A row sent from memory says so: the militia has it, but a power cut now
 * would lose the gateway's own record of it. */
static char *mark_not_durable(const char *payload)
{
	size_t len = strlen(payload);
	static const char flag[] = ",\"durable\":false}";
	const char *f = flag;
	char *p;
	if (len < 2 || payload[len - 1] != '}' || !(p = malloc(len + sizeof(flag))))
		return NULL;
	if (payload[len - 2] == '{')
		f++; /* an empty object takes no comma */
	memcpy(p, payload, len - 1);
	memcpy(p + len - 1, f, strlen(f) + 1);
	return p;
}

static const char *const outbox_state_names[] = {
    [OUTBOX_PENDING] = "pending",     [OUTBOX_DELIVERED] = "delivered", [OUTBOX_FAILED] = "failed",
    [OUTBOX_CANCELLED] = "cancelled", [OUTBOX_DROPPED] = "dropped",
};

const char *store_outbox_state_name(enum store_outbox_state st)
{
	return (unsigned)st < sizeof(outbox_state_names) / sizeof(outbox_state_names[0])
	           ? outbox_state_names[st]
	           : "pending";
}

static enum store_outbox_state outbox_state_of(const char *name)
{
	for (size_t i = 0; name && i < sizeof(outbox_state_names) / sizeof(outbox_state_names[0]);
	     i++)
		if (strcmp(name, outbox_state_names[i]) == 0)
			return (enum store_outbox_state)i;
	return OUTBOX_PENDING;
}

/* Drop the marks whose ops are on the disk: the reader sees them now. */
static void marks_prune(struct store *s)
{
	int64_t durable;
	int j = 0;
	lock(s);
	durable = s->durable_serial;
	unlock(s);
	for (int i = 0; i < s->nmarks; i++)
		if (s->marks[i].serial > durable)
			s->marks[j++] = s->marks[i];
	s->nmarks = j;
}

static struct mark *mark_find(struct store *s, int64_t seq)
{
	/* Newest first: a later try's result wins. */
	for (int i = s->nmarks - 1; i >= 0; i--)
		if (s->marks[i].seq == seq)
			return &s->marks[i];
	return NULL;
}

static void mark_set(struct store *s, int64_t seq, int64_t serial, enum store_outbox_state st,
                     int tries, int64_t next_try_ms, const char *error, int64_t at_ms)
{
	struct mark *m;
	marks_prune(s);
	if (s->nmarks == s->capmarks) {
		int nc = s->capmarks ? s->capmarks * 2 : 32;
		struct mark *nm = realloc(s->marks, (size_t)nc * sizeof(*nm));
		if (!nm) {
			/* The op still goes to the disk; only the loop's view
			 * lags (a try may run once more). */
			log_err("store: out of memory keeping the state of outbox row %lld",
			        (long long)seq);
			return;
		}
		s->marks = nm;
		s->capmarks = nc;
	}
	m = &s->marks[s->nmarks++];
	memset(m, 0, sizeof(*m));
	m->seq = seq;
	m->serial = serial;
	m->state = st;
	m->tries = tries;
	m->next_try_ms = next_try_ms;
	if (error)
		snprintf(m->error, sizeof(m->error), "%s", error);
	if (st == OUTBOX_DELIVERED)
		store_format_time(at_ms, m->at, sizeof(m->at));
}

static void row_from_stmt(sqlite3_stmt *st, struct store_outbox_row *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = sqlite3_column_int64(st, 0);
	r->kind = col_text(st, 1);
	r->channel = col_text(st, 2);
	r->contact = col_text(st, 3);
	r->alarm = sqlite3_column_int64(st, 4);
	r->topic = col_text(st, 5);
	r->payload = col_text(st, 6);
	r->qos = sqlite3_column_int(st, 7);
	r->retain = sqlite3_column_int(st, 8);
	r->due_ms = sqlite3_column_int64(st, 9);
	r->step = sqlite3_column_int(st, 10);
	r->tries = sqlite3_column_int(st, 11);
	r->next_try_ms = sqlite3_column_int64(st, 12);
	r->last_error = col_text(st, 13);
	r->state = outbox_state_of(col_text(st, 14));
	r->created_at = col_text(st, 15);
	r->delivered_at = col_text(st, 16);
	r->durable = 1;
}

static void row_from_mem(const struct memrow *m, struct store_outbox_row *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = m->seq;
	r->kind = m->kind;
	r->channel = m->channel;
	r->contact = m->contact;
	r->alarm = m->alarm;
	r->topic = m->topic;
	r->payload = m->payload;
	r->qos = m->qos;
	r->retain = m->retain;
	r->due_ms = m->due_ms;
	r->step = m->step;
	r->state = m->delivered ? OUTBOX_DELIVERED : OUTBOX_PENDING;
}

/* Lay the loop's own changes over r. */
static void overlay(struct store *s, struct store_outbox_row *r)
{
	const struct mark *m = mark_find(s, r->seq);
	if (!m)
		return;
	r->state = m->state;
	if (m->tries > r->tries)
		r->tries = m->tries;
	if (m->state == OUTBOX_PENDING)
		r->next_try_ms = m->next_try_ms;
	if (m->error[0])
		r->last_error = m->error;
	if (m->at[0])
		r->delivered_at = m->at;
	/* The disk counts the try that delivered it (tries+1) when the mark
	 * is written; until then, at least that one. */
	if (m->state == OUTBOX_DELIVERED && r->tries < 1)
		r->tries = 1;
}

static int mem_due(const struct memrow *m, const char *channel, int64_t now_ms)
{
	return m->sendable && !m->delivered && m->due_ms <= now_ms &&
	       strcmp(m->channel, channel) == 0;
}

/* raw: what is on the disk (and refused by it), without the loop's marks. */
static int scan_due(struct store *s, const char *channel, int64_t now_ms, int raw,
                    store_outbox_row_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->rst[ST_OUTBOX_DUE];
	struct memrow *m = s->mem_head;
	struct store_outbox_row r;
	int rc, n = 0, stop = 0;

	marks_prune(s);
	bind_text(st, 1, channel);
	sqlite3_bind_int64(st, 2, now_ms);
	rc = sqlite3_step(st);
	/* Merge, in seq order, the rows on the disk with those the disk
	 * refused (kept in memory); a row in both is visited once. */
	while (!stop) {
		int64_t dseq = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : INT64_MAX;
		char *p = NULL;
		while (m && (!mem_due(m, channel, now_ms) || m->seq == dseq))
			m = m->next;
		if (m && m->seq < dseq) {
			row_from_mem(m, &r);
			p = mark_not_durable(m->payload);
			if (p)
				r.payload = p;
			m = m->next;
		} else if (rc == SQLITE_ROW) {
			row_from_stmt(st, &r);
		} else {
			break;
		}
		if (!raw)
			overlay(s, &r);
		if (r.state == OUTBOX_PENDING) {
			stop = fn(ctx, &r);
			n++;
		}
		free(p);
		if (r.durable)
			rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_err("store: outbox: %s", sqlite3_errmsg(s->rdb));
		return -1;
	}
	return n;
}

int store_outbox_foreach_due(struct store *s, const char *channel, int64_t now_ms,
                             store_outbox_row_fn fn, void *ctx)
{
	return scan_due(s, channel, now_ms, 0, fn, ctx);
}

int64_t store_outbox_next_due(struct store *s, const char *channel, int64_t now_ms)
{
	sqlite3_stmt *st = s->rst[ST_OUTBOX_NEXT_DUE];
	int64_t best = 0;
	marks_prune(s);
	bind_text(st, 1, channel);
	sqlite3_bind_int64(st, 2, now_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const struct mark *mk = mark_find(s, sqlite3_column_int64(st, 0));
		if (mk && mk->state != OUTBOX_PENDING)
			continue;
		best = sqlite3_column_int64(st, 1);
		break;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (const struct memrow *m = s->mem_head; m; m = m->next) {
		const struct mark *mk = mark_find(s, m->seq);
		if (m->delivered || m->due_ms <= now_ms || strcmp(m->channel, channel) != 0 ||
		    (mk && mk->state != OUTBOX_PENDING))
			continue;
		if (!best || m->due_ms < best)
			best = m->due_ms;
	}
	return best;
}

static int mem_has(const struct store *s, int64_t seq)
{
	for (const struct memrow *m = s->mem_head; m; m = m->next)
		if (m->seq == seq)
			return 1;
	return 0;
}

int store_outbox_list(struct store *s, int all, int limit, store_outbox_row_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->rst[ST_OUTBOX_LIST];
	struct store_outbox_row r;
	const struct memrow **mem = NULL;
	int nmem = 0, n = 0, rc;

	marks_prune(s);
	/* Rows not yet on the disk first (the newest), newest first. */
	for (const struct memrow *m = s->mem_head; m; m = m->next)
		nmem++;
	if (nmem && (mem = malloc((size_t)nmem * sizeof(*mem)))) {
		int i = 0;
		for (const struct memrow *m = s->mem_head; m; m = m->next)
			mem[i++] = m;
		for (i = nmem - 1; i >= 0 && n < limit; i--) {
			row_from_mem(mem[i], &r);
			overlay(s, &r);
			if (!all && r.state != OUTBOX_PENDING)
				continue;
			fn(ctx, &r);
			n++;
		}
		free(mem);
	}
	sqlite3_bind_int(st, 1, all);
	sqlite3_bind_int(st, 2, limit + nmem);
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_from_stmt(st, &r);
		if (mem_has(s, r.seq))
			continue;
		overlay(s, &r);
		if (!all && r.state != OUTBOX_PENDING)
			continue;
		fn(ctx, &r);
		n++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

int store_outbox_mark(struct store *s, int64_t seq, enum store_outbox_state st, int tries,
                      int64_t next_try_ms, const char *error, int64_t at_ms)
{
	struct op *o;
	if (st == OUTBOX_DELIVERED)
		for (struct memrow *m = s->mem_head; m; m = m->next)
			if (m->seq == seq)
				m->delivered = 1;
	if (!(o = op_new(OP_OUTBOX_MARK)))
		return -1;
	o->i[0] = seq;
	o->i[1] = at_ms;
	o->i[2] = next_try_ms;
	o->n[0] = (int)st;
	o->n[1] = tries;
	o->str[0] = dup_or_null(error);
	mark_set(s, seq, o->serial, st, tries, next_try_ms, error, at_ms);
	return submit(s, o);
}

/* A row that is still pending for the loop. */
static int live(struct store *s, int64_t seq)
{
	const struct mark *mk = mark_find(s, seq);
	return !mk || mk->state == OUTBOX_PENDING;
}

int store_outbox_cancel_alarm(struct store *s, int64_t alarm, int64_t now_ms, const char *why)
{
	sqlite3_stmt *st = s->rst[ST_OUTBOX_CANCELABLE];
	int64_t seqs[256];
	int n = 0, done = 0;

	marks_prune(s);
	sqlite3_bind_int64(st, 1, alarm);
	sqlite3_bind_int64(st, 2, now_ms);
	while (n < 256 && sqlite3_step(st) == SQLITE_ROW) {
		int64_t q = sqlite3_column_int64(st, 0);
		if (live(s, q))
			seqs[n++] = q;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	/* Rows not yet committed are in memory only. */
	for (const struct memrow *m = s->mem_head; m && n < 256; m = m->next) {
		int dup = 0;
		if (m->alarm != alarm || m->due_ms <= now_ms || !m->kind ||
		    strcmp(m->kind, "alert") != 0 || m->delivered || !live(s, m->seq))
			continue;
		for (int i = 0; i < n; i++)
			dup |= seqs[i] == m->seq;
		if (!dup)
			seqs[n++] = m->seq;
	}
	for (int i = 0; i < n; i++)
		if (store_outbox_mark(s, seqs[i], OUTBOX_CANCELLED, 0, 0, why, now_ms) == 0)
			done++;
	return done;
}

int store_outbox_make_room(struct store *s, int max, int64_t now_ms)
{
	sqlite3_stmt *st;
	int64_t durable;
	int live_rows = 0, need, dropped = 0;

	if (max <= 0)
		return 0;
	marks_prune(s);
	st = s->rst[ST_OUTBOX_LIVE];
	if (sqlite3_step(st) == SQLITE_ROW)
		live_rows = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	lock(s);
	durable = s->durable_seq;
	unlock(s);
	for (const struct memrow *m = s->mem_head; m; m = m->next)
		if (m->seq > durable && !m->delivered)
			live_rows++;
	for (int i = 0; i < s->nmarks; i++)
		if (s->marks[i].state != OUTBOX_PENDING)
			live_rows--;
	need = live_rows - max + 1;
	if (need <= 0)
		return 0;
	/* Oldest low-priority rows on the disk, then those in memory. */
	st = s->rst[ST_OUTBOX_EVICTABLE];
	{
		int64_t seqs[64];
		int n = 0;
		while (n < need && n < 64 && sqlite3_step(st) == SQLITE_ROW) {
			int64_t q = sqlite3_column_int64(st, 0);
			if (live(s, q))
				seqs[n++] = q;
		}
		sqlite3_reset(st);
		for (int i = 0; i < n; i++)
			if (store_outbox_mark(s, seqs[i], OUTBOX_DROPPED, 0, 0,
			                      "dropped: the outbox is full", now_ms) == 0)
				dropped++;
	}
	for (const struct memrow *m = s->mem_head; m && dropped < need; m = m->next) {
		if (m->seq <= durable || m->delivered || !m->kind || !live(s, m->seq) ||
		    (strcmp(m->kind, "notify") != 0 && strcmp(m->kind, "reply") != 0))
			continue;
		if (store_outbox_mark(s, m->seq, OUTBOX_DROPPED, 0, 0,
		                      "dropped: the outbox is full", now_ms) == 0)
			dropped++;
	}
	return dropped;
}

struct pending_adapter {
	int64_t after;
	int limit, n;
	store_outbox_fn fn;
	void *ctx;
};

static int pending_adapt(void *ctx, const struct store_outbox_row *r)
{
	struct pending_adapter *a = ctx;
	int stop;
	if (r->seq <= a->after)
		return 0;
	stop = a->fn(a->ctx, r->seq, r->topic, r->payload, r->qos, r->retain);
	a->n++;
	return stop || (a->limit > 0 && a->n >= a->limit);
}

int store_outbox_foreach_pending(struct store *s, const char *channel, int64_t after, int limit,
                                 store_outbox_fn fn, void *ctx)
{
	struct pending_adapter a = {after, limit, 0, fn, ctx};
	if (store_outbox_foreach_due(s, channel, loop_wall_ms(), pending_adapt, &a) < 0)
		return -1;
	return a.n;
}

static int count_row(void *ctx, const struct store_outbox_row *r)
{
	(void)r;
	(*(int *)ctx)++;
	return 0;
}

int store_outbox_pending_count(struct store *s, const char *channel)
{
	/* Every pending row, due or not, whose end is not yet on the disk: 0
	 * means a power cut now sends nothing twice. */
	int n = 0;
	if (scan_due(s, channel, INT64_MAX, 1, count_row, &n) < 0)
		return -1;
	return n;
}

static int w_sensor_save(struct store *s, const char *id, int64_t last_seen_ms, int online,
                         int has_battery, double battery, const char *values_json)
{
	sqlite3_stmt *st = s->st[ST_SENSOR_SAVE];
	char at[32];
	if (begin(s) < 0)
		return STORE_ESTORAGE;
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
