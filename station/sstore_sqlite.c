/*
 * sstore_sqlite.c: the station's store in one SQLite file (the default
 * backend of sstore.h).
 *
 * WAL, so the console's reads never block the ingest's writes;
 * synchronous=FULL, so a commit is on the disk when it returns: the ingest
 * acknowledges the broker only after it (one commit per MQTT read burst, so
 * the fsync cost is paid per burst, not per message). The file holds
 * password hashes and is created 0600. Statements are prepared once and
 * kept for the life of the handle.
 */
#include "sstore.h"
#include "gateway/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Each entry takes the schema from version i to i + 1; append, never
 * edit, so that an old file is brought forward step by step. */
/* In the file's header, so that the station knows its own database from
 * another program's SQLite file ("SHST"). */
#define SSTORE_APP_ID 0x53485354

static const char *const migrations[] = {
    /* 1: the first schema */
    "PRAGMA application_id=1397248852;"
    "CREATE TABLE feed(site TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL, recv_ms INTEGER NOT NULL, payload TEXT NOT NULL,"
    " PRIMARY KEY(site, seq));"
    "CREATE TABLE alarms(site TEXT NOT NULL, id INTEGER NOT NULL, cls TEXT NOT NULL,"
    " state TEXT NOT NULL, zone TEXT NOT NULL, zone_name TEXT NOT NULL,"
    " sensor TEXT NOT NULL, rule TEXT NOT NULL, message TEXT NOT NULL,"
    " acked_by TEXT NOT NULL, raised_ms INTEGER NOT NULL, acked_ms INTEGER NOT NULL,"
    " silenced_ms INTEGER NOT NULL, cleared_ms INTEGER NOT NULL, reset_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(site, id));"
    "CREATE INDEX alarms_site_newest ON alarms(site, raised_ms DESC, id DESC);"
    "CREATE INDEX alarms_open ON alarms(raised_ms, site, id) WHERE reset_ms = 0;"
    "CREATE TABLE sites(id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,"
    " phone TEXT NOT NULL, grp TEXT NOT NULL, has_geo INTEGER NOT NULL, lat REAL NOT NULL,"
    " lon REAL NOT NULL, known INTEGER NOT NULL, online INTEGER NOT NULL,"
    " lost_contact INTEGER NOT NULL, heartbeat_s INTEGER NOT NULL,"
    " first_seen_ms INTEGER NOT NULL, last_heartbeat_ms INTEGER NOT NULL,"
    " last_message_ms INTEGER NOT NULL, lost_since_ms INTEGER NOT NULL, mode TEXT NOT NULL,"
    " active_alarms INTEGER NOT NULL, faults INTEGER NOT NULL,"
    " disablements INTEGER NOT NULL, log_row INTEGER NOT NULL, log_hash TEXT NOT NULL,"
    " status_json TEXT);"
    "CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,"
    " site TEXT NOT NULL, what TEXT NOT NULL, by_user TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE INDEX events_at ON events(at_ms);"
    "CREATE INDEX events_site_at ON events(site, at_ms);"
    "CREATE TABLE users(name TEXT PRIMARY KEY, role TEXT NOT NULL"
    " CHECK(role IN ('officer', 'viewer')), hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);",
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define ALARM_COLS                                                                                 \
	"site, id, cls, state, zone, zone_name, sensor, rule, message, acked_by, raised_ms, "      \
	"acked_ms, silenced_ms, cleared_ms, reset_ms, updated_ms, seq"
#define SITE_COLS                                                                                  \
	"id, name, address, phone, grp, has_geo, lat, lon, known, online, lost_contact, "          \
	"heartbeat_s, first_seen_ms, last_heartbeat_ms, last_message_ms, lost_since_ms, mode, "    \
	"active_alarms, faults, disablements, log_row, log_hash, status_json"

enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_FEED_PUT,
	ST_FEED_COUNT,
	ST_ALARM_PUT,
	ST_SITE_PUT,
	ST_EVENT_PUT,
	ST_SITES,
	ST_OPEN_ALARMS,
	ST_SITE_ALARMS,
	ST_EVENTS_ALL,
	ST_EVENTS_SITE,
	ST_USER_PUT,
	ST_USER_GET,
	ST_USER_DEL,
	ST_USERS,
	ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_FEED_PUT] = "INSERT INTO feed(site, seq, topic, at_ms, recv_ms, payload) "
                    "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(site, seq) DO NOTHING",
    [ST_FEED_COUNT] = "SELECT count(*) FROM feed",
    [ST_ALARM_PUT] =
        "INSERT OR REPLACE INTO alarms(" ALARM_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_SITE_PUT] = "INSERT OR REPLACE INTO sites(" SITE_COLS
                    ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_EVENT_PUT] = "INSERT INTO events(at_ms, site, what, by_user, detail) VALUES(?,?,?,?,?)",
    [ST_SITES] = "SELECT " SITE_COLS " FROM sites ORDER BY id",
    [ST_OPEN_ALARMS] =
        "SELECT " ALARM_COLS " FROM alarms WHERE reset_ms = 0 ORDER BY raised_ms, site, id",
    [ST_SITE_ALARMS] = "SELECT " ALARM_COLS " FROM alarms WHERE site = ? "
                       "ORDER BY raised_ms DESC, id DESC LIMIT ?",
    [ST_EVENTS_ALL] = "SELECT at_ms, site, what, by_user, detail FROM events "
                      "ORDER BY at_ms DESC, id DESC LIMIT ?",
    [ST_EVENTS_SITE] = "SELECT at_ms, site, what, by_user, detail FROM events WHERE site = ? "
                       "ORDER BY at_ms DESC, id DESC LIMIT ?",
    [ST_USER_PUT] = "INSERT INTO users(name, role, hash, created_ms) VALUES(?, ?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET role = excluded.role, hash = excluded.hash",
    [ST_USER_GET] = "SELECT role, hash FROM users WHERE name = ?",
    [ST_USER_DEL] = "DELETE FROM users WHERE name = ?",
    [ST_USERS] = "SELECT name, role FROM users ORDER BY name",
};

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char *path;
};

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

static int pragma_int(sqlite3 *db, const char *sql, int *v, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*v = sqlite3_column_int(st, 0);
		rc = 0;
	} else {
		snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return rc;
}

static int user_version(sqlite3 *db, int *v, char *err, size_t errlen)
{
	return pragma_int(db, "PRAGMA user_version", v, err, errlen);
}

/* Bring the schema to NMIGRATIONS. Each step and its version bump commit
 * together, so a power cut mid-upgrade leaves the previous schema whole. A
 * newer file is refused, never "fixed": an older station must not write
 * into a schema it does not know. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	char sql[64], ignore[8];
	int version, app_id, tables;

	if (user_version(db, &version, err, errlen) < 0 ||
	    pragma_int(db, "PRAGMA application_id", &app_id, err, errlen) < 0 ||
	    pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables, err, errlen) < 0)
		return -1;
	/* A database of another program (the gateway's safehouse.db, given
	 * by mistake) must be refused, not have the station's tables added. */
	if ((version > 0 && app_id != SSTORE_APP_ID) || (version == 0 && tables > 0)) {
		snprintf(err, errlen,
		         "it is another program's SQLite database (application_id %d, schema "
		         "version %d), not the station's; give the station a file of its own",
		         app_id, version);
		return -1;
	}
	if (version > NMIGRATIONS) {
		snprintf(err, errlen,
		         "schema version %d is newer than this station knows (%d); refusing to "
		         "touch it",
		         version, NMIGRATIONS);
		return -1;
	}
	for (int v = version; v < NMIGRATIONS; v++) {
		if (exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
		if (exec(db, migrations[v], err, errlen) < 0 || exec(db, sql, err, errlen) < 0) {
			exec(db, "ROLLBACK", ignore, sizeof(ignore));
			return -1;
		}
		if (exec(db, "COMMIT", err, errlen) < 0)
			return -1;
		if (version > 0)
			log_notice("sstore: %s upgraded to schema version %d",
			           sqlite3_db_filename(db, "main"), v + 1);
	}
	return 0;
}

/* Create the file 0600 before SQLite does (SQLite would use 0644 less the
 * umask, and the file holds password hashes; its -wal and -shm files take
 * the database file's mode). An existing file is left as the administrator
 * made it. This is also where a directory or an unwritable path is said
 * plainly, rather than as SQLite's "unable to open database file". */
static int precreate(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (strcmp(path, ":memory:") == 0)
		return 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == ELOOP)
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600); /* a symlink the admin made */
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot open %s: not a regular file", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void sq_close(void *b)
{
	struct sq *q = b;

	if (!q)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	free(q->path);
	free(q);
}

static int sq_open(const char *target, void **bp, char *err, size_t errlen)
{
	struct sq *q = calloc(1, sizeof(*q));
	sqlite3_stmt *st = NULL;
	char why[256] = "";
	int memory = strcmp(target, ":memory:") == 0;

	*bp = NULL;
	if (!q || !(q->path = strdup(target))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (precreate(target, err, errlen) < 0)
		goto fail;
	if (sqlite3_open_v2(target, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", target,
		         q->db ? sqlite3_errmsg(q->db) : "out of memory");
		goto fail;
	}
	if (sqlite3_db_readonly(q->db, "main") == 1) {
		snprintf(err, errlen,
		         "cannot write %s: the file, its directory or its filesystem is read-only; "
		         "the station must write it (chown it to the station's user, chmod 600)",
		         target);
		goto fail;
	}
	/* The console's reader or an sqlite3 shell may hold a lock briefly. */
	sqlite3_busy_timeout(q->db, 2000);
	/* The first statement is what reads the file: a file that is not a
	 * database fails here ("file is not a database"). */
	if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(q->db));
		goto bad;
	}
	if (!memory && strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		snprintf(why, sizeof(why),
		         "cannot switch to WAL journal mode (is its directory writable?)");
		goto bad;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (exec(q->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-2048;",
	         why, sizeof(why)) < 0 ||
	    migrate(q->db, why, sizeof(why)) < 0)
		goto bad;
	for (int i = 0; i < ST__COUNT; i++)
		if (sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i],
		                       NULL) != SQLITE_OK) {
			snprintf(why, sizeof(why), "cannot prepare statement %d: %s", i,
			         sqlite3_errmsg(q->db));
			goto bad;
		}
	*bp = q;
	return 0;
bad:
	snprintf(err, errlen, "cannot use %s as the station's database: %s", target, why);
fail:
	sqlite3_finalize(st);
	sq_close(q);
	return -1;
}

/* Run a statement that returns no rows; logs and maps a failure. */
static int done(struct sq *q, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	log_err("sstore: %s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
	return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : (rc & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
}

static int sq_begin(void *b)
{
	struct sq *q = b;
	return done(q, q->st[ST_BEGIN], "begin");
}

static int sq_commit(void *b)
{
	struct sq *q = b;
	return done(q, q->st[ST_COMMIT], "commit");
}

static int sq_rollback(void *b)
{
	struct sq *q = b;

	/* Nothing to roll back (SQLite already did, after an I/O error): not
	 * a failure of the caller's. */
	if (sqlite3_get_autocommit(q->db))
		return 0;
	return done(q, q->st[ST_ROLLBACK], "rollback");
}

static void text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static int sq_feed_put(void *b, const char *site, int64_t seq, const char *topic, int64_t at_ms,
                       int64_t recv_ms, const char *payload)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_FEED_PUT];
	int r;

	text(st, 1, site);
	sqlite3_bind_int64(st, 2, seq);
	text(st, 3, topic);
	sqlite3_bind_int64(st, 4, at_ms);
	sqlite3_bind_int64(st, 5, recv_ms);
	text(st, 6, payload);
	r = done(q, st, "feed insert");
	return r < 0 ? r : sqlite3_changes(q->db) > 0;
}

static int64_t sq_feed_count(void *b)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_FEED_COUNT];
	int64_t n = -EIO;

	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		log_err("sstore: %s: feed count: %s", q->path, sqlite3_errmsg(q->db));
	sqlite3_reset(st);
	return n;
}

static int sq_alarm_put(void *b, const struct salarm *a)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_ALARM_PUT];
	int i = 1;

	text(st, i++, a->site);
	sqlite3_bind_int64(st, i++, a->id);
	text(st, i++, a->cls);
	text(st, i++, a->state);
	text(st, i++, a->zone);
	text(st, i++, a->zone_name);
	text(st, i++, a->sensor);
	text(st, i++, a->rule);
	text(st, i++, a->message);
	text(st, i++, a->acked_by);
	sqlite3_bind_int64(st, i++, a->raised_ms);
	sqlite3_bind_int64(st, i++, a->acked_ms);
	sqlite3_bind_int64(st, i++, a->silenced_ms);
	sqlite3_bind_int64(st, i++, a->cleared_ms);
	sqlite3_bind_int64(st, i++, a->reset_ms);
	sqlite3_bind_int64(st, i++, a->updated_ms);
	sqlite3_bind_int64(st, i++, a->seq);
	return done(q, st, "alarm write");
}

static int sq_site_put(void *b, const struct ssite *s)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_SITE_PUT];
	int i = 1;

	text(st, i++, s->id);
	text(st, i++, s->name);
	text(st, i++, s->address);
	text(st, i++, s->phone);
	text(st, i++, s->group);
	sqlite3_bind_int(st, i++, !!s->has_geo);
	sqlite3_bind_double(st, i++, s->lat);
	sqlite3_bind_double(st, i++, s->lon);
	sqlite3_bind_int(st, i++, !!s->known);
	sqlite3_bind_int(st, i++, !!s->online);
	sqlite3_bind_int(st, i++, !!s->lost_contact);
	sqlite3_bind_int(st, i++, s->heartbeat_s);
	sqlite3_bind_int64(st, i++, s->first_seen_ms);
	sqlite3_bind_int64(st, i++, s->last_heartbeat_ms);
	sqlite3_bind_int64(st, i++, s->last_message_ms);
	sqlite3_bind_int64(st, i++, s->lost_since_ms);
	text(st, i++, s->mode);
	sqlite3_bind_int(st, i++, s->active_alarms);
	sqlite3_bind_int(st, i++, s->faults);
	sqlite3_bind_int(st, i++, s->disablements);
	sqlite3_bind_int64(st, i++, s->log_row);
	text(st, i++, s->log_hash);
	if (s->status_json)
		sqlite3_bind_text(st, i++, s->status_json, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i++);
	return done(q, st, "site write");
}

static int sq_event_put(void *b, const struct sevent *e)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_EVENT_PUT];

	sqlite3_bind_int64(st, 1, e->at_ms);
	text(st, 2, e->site);
	text(st, 3, e->what);
	text(st, 4, e->by);
	text(st, 5, e->detail);
	return done(q, st, "event write");
}

/* A column into a fixed buffer, truncated to fit, always terminated. */
static void col(sqlite3_stmt *st, int i, char *out, size_t size)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(out, size, "%s", s ? (const char *)s : "");
}

static void alarm_row(sqlite3_stmt *st, struct salarm *a)
{
	int i = 0;

	memset(a, 0, sizeof(*a));
	col(st, i++, a->site, sizeof(a->site));
	a->id = sqlite3_column_int64(st, i++);
	col(st, i++, a->cls, sizeof(a->cls));
	col(st, i++, a->state, sizeof(a->state));
	col(st, i++, a->zone, sizeof(a->zone));
	col(st, i++, a->zone_name, sizeof(a->zone_name));
	col(st, i++, a->sensor, sizeof(a->sensor));
	col(st, i++, a->rule, sizeof(a->rule));
	col(st, i++, a->message, sizeof(a->message));
	col(st, i++, a->acked_by, sizeof(a->acked_by));
	a->raised_ms = sqlite3_column_int64(st, i++);
	a->acked_ms = sqlite3_column_int64(st, i++);
	a->silenced_ms = sqlite3_column_int64(st, i++);
	a->cleared_ms = sqlite3_column_int64(st, i++);
	a->reset_ms = sqlite3_column_int64(st, i++);
	a->updated_ms = sqlite3_column_int64(st, i++);
	a->seq = sqlite3_column_int64(st, i++);
}

/* status_json points into SQLite's row: valid during the callback only. */
static void site_row(sqlite3_stmt *st, struct ssite *s)
{
	int i = 0;

	memset(s, 0, sizeof(*s));
	col(st, i++, s->id, sizeof(s->id));
	col(st, i++, s->name, sizeof(s->name));
	col(st, i++, s->address, sizeof(s->address));
	col(st, i++, s->phone, sizeof(s->phone));
	col(st, i++, s->group, sizeof(s->group));
	s->has_geo = sqlite3_column_int(st, i++);
	s->lat = sqlite3_column_double(st, i++);
	s->lon = sqlite3_column_double(st, i++);
	s->known = sqlite3_column_int(st, i++);
	s->online = sqlite3_column_int(st, i++);
	s->lost_contact = sqlite3_column_int(st, i++);
	s->heartbeat_s = sqlite3_column_int(st, i++);
	s->first_seen_ms = sqlite3_column_int64(st, i++);
	s->last_heartbeat_ms = sqlite3_column_int64(st, i++);
	s->last_message_ms = sqlite3_column_int64(st, i++);
	s->lost_since_ms = sqlite3_column_int64(st, i++);
	col(st, i++, s->mode, sizeof(s->mode));
	s->active_alarms = sqlite3_column_int(st, i++);
	s->faults = sqlite3_column_int(st, i++);
	s->disablements = sqlite3_column_int(st, i++);
	s->log_row = sqlite3_column_int64(st, i++);
	col(st, i++, s->log_hash, sizeof(s->log_hash));
	s->status_json = (char *)sqlite3_column_text(st, i++);
}

/* The caller's callback for one kind of row (ISO C has no conversion
 * between function and object pointers, so no void * for them). */
struct cb {
	int (*site)(void *ctx, const struct ssite *s);
	int (*alarm)(void *ctx, const struct salarm *a);
	int (*event)(void *ctx, const struct sevent *e);
	int (*user)(void *ctx, const char *name, const char *role);
	void *ctx;
};

static int row(sqlite3_stmt *st, const struct cb *cb)
{
	if (cb->site) {
		struct ssite s;
		site_row(st, &s);
		return cb->site(cb->ctx, &s);
	}
	if (cb->alarm) {
		struct salarm a;
		alarm_row(st, &a);
		return cb->alarm(cb->ctx, &a);
	}
	if (cb->event) {
		struct sevent e;
		memset(&e, 0, sizeof(e));
		e.at_ms = sqlite3_column_int64(st, 0);
		col(st, 1, e.site, sizeof(e.site));
		col(st, 2, e.what, sizeof(e.what));
		col(st, 3, e.by, sizeof(e.by));
		col(st, 4, e.detail, sizeof(e.detail));
		return cb->event(cb->ctx, &e);
	}
	return cb->user(cb->ctx, (const char *)sqlite3_column_text(st, 0),
	                (const char *)sqlite3_column_text(st, 1));
}

/* Step st to the end, handing each row to cb. Returns 0, the callback's
 * negative value, or -EIO. The statement is reset either way. */
static int rows(struct sq *q, sqlite3_stmt *st, const char *what, const struct cb *cb)
{
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = row(st, cb)) < 0)
			break;
	if (r >= 0 && rc != SQLITE_DONE) {
		log_err("sstore: %s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
		r = -EIO;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r < 0 ? r : 0;
}

static int sq_load(void *b, int (*site_fn)(void *ctx, const struct ssite *s),
                   int (*alarm_fn)(void *ctx, const struct salarm *a), void *ctx)
{
	struct sq *q = b;
	int r = 0;

	/* Either callback may be NULL: that half is skipped. */
	if (site_fn)
		r = rows(q, q->st[ST_SITES], "loading sites",
		         &(struct cb){.site = site_fn, .ctx = ctx});
	if (r < 0 || !alarm_fn)
		return r;
	return rows(q, q->st[ST_OPEN_ALARMS], "loading alarms",
	            &(struct cb){.alarm = alarm_fn, .ctx = ctx});
}

static int sq_site_alarms(void *b, const char *site, int limit,
                          int (*fn)(void *ctx, const struct salarm *a), void *ctx)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_SITE_ALARMS];

	text(st, 1, site);
	sqlite3_bind_int(st, 2, limit);
	return rows(q, st, "reading alarms", &(struct cb){.alarm = fn, .ctx = ctx});
}

static int sq_events(void *b, const char *site, int limit,
                     int (*fn)(void *ctx, const struct sevent *e), void *ctx)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[site ? ST_EVENTS_SITE : ST_EVENTS_ALL];
	int i = 1;

	if (site)
		text(st, i++, site);
	sqlite3_bind_int(st, i, limit);
	return rows(q, st, "reading events", &(struct cb){.event = fn, .ctx = ctx});
}

static int sq_user_put(void *b, const char *name, const char *role, const char *hash)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_USER_PUT];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	text(st, 1, name);
	text(st, 2, role);
	text(st, 3, hash);
	sqlite3_bind_int64(st, 4, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	return done(q, st, "user write");
}

static int sq_user_get(void *b, const char *name, char *role, size_t rolelen, char *hash,
                       size_t hashlen)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_USER_GET];
	int rc, r = -ENOENT;

	text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (role)
			col(st, 0, role, rolelen);
		if (hash)
			col(st, 1, hash, hashlen);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		log_err("sstore: %s: reading user: %s", q->path, sqlite3_errmsg(q->db));
		r = -EIO;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

static int sq_user_del(void *b, const char *name)
{
	struct sq *q = b;
	sqlite3_stmt *st = q->st[ST_USER_DEL];
	int r;

	text(st, 1, name);
	r = done(q, st, "user delete");
	if (r < 0)
		return r;
	return sqlite3_changes(q->db) > 0 ? 0 : -ENOENT;
}

static int sq_users(void *b, int (*fn)(void *ctx, const char *name, const char *role), void *ctx)
{
	struct sq *q = b;
	return rows(q, q->st[ST_USERS], "listing users", &(struct cb){.user = fn, .ctx = ctx});
}

const struct sstore_backend sstore_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .feed_put = sq_feed_put,
    .alarm_put = sq_alarm_put,
    .site_put = sq_site_put,
    .event_put = sq_event_put,
    .load = sq_load,
    .site_alarms = sq_site_alarms,
    .events = sq_events,
    .feed_count = sq_feed_count,
    .user_put = sq_user_put,
    .user_get = sq_user_get,
    .user_del = sq_user_del,
    .users = sq_users,
};
