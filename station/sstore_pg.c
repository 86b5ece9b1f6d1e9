/*
 * sstore_pg.c: the station's store in PostgreSQL (sstore.h), for a district
 * whose stations share one database server.
 *
 * libpq, synchronous: every call blocks the loop until the server answers.
 * Connecting is bounded by connect_timeout (5 s unless the URL says
 * otherwise) and a server that vanishes mid-query by TCP keepalives and
 * tcp_user_timeout (about 10 s), so the loop stalls at most that long.
 * A commit returns once the server has it durable (synchronous_commit is
 * left at the server's default, on; with a synchronous standby, once the
 * standby has it too): the ingest acknowledges the broker only after it.
 * A commit that does not answer within COMMIT_WAIT_MS (a primary waiting
 * for a dead synchronous standby) counts as a lost server, and a write
 * waits for another session's row at most lock_timeout.
 *
 * Statements are prepared once per connection (PQprepare) and run with
 * text parameters. Times are int8 epoch milliseconds, as in SQLite, so both
 * backends hold the same values. The schema is created and migrated by the
 * station inside one transaction that holds an advisory lock, so two
 * stations starting at once never race on it.
 *
 * A lost connection: the statement fails (the transaction with it), the
 * handle says so (lost), and the next begin reconnects, at most once per
 * RECONNECT_MS, with a fresh PQconnectdbParams of the whole URL: with
 * several hosts and target_session_attrs=read-write libpq tries them all
 * again and keeps the one that accepts writes, so after a failover
 * (a standby promoted) the station finds the new primary by itself, and
 * never writes to a standby (docs/station.md, "PostgreSQL on two
 * machines"). The password never leaves this file: messages name the
 * server as user@host:port/dbname, and libpq's own messages are scrubbed of
 * it before they are logged.
 */
#include "sstore.h"
#include "gateway/log.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* pg_advisory_xact_lock's key for the schema's migration ("SHST"), and
 * the session lock the timekeeper holds ("SHTK"). */
#define MIGRATE_LOCK_KEY "1397248852"
#define TIMEKEEPER_LOCK_KEY "1397249099"
/* The stations' channel (LISTEN/NOTIFY). */
#define CHANNEL "safehouse_station"
/* A failed reconnect is not retried sooner: each attempt may block the
 * loop for connect_timeout. */
#define RECONNECT_MS 3000
/* A commit gives up after this long. With synchronous replication a
 * COMMIT waits for the standby: if the standby is gone it waits until an
 * operator clears synchronous_standby_names, and the station's loop (its
 * console) must not wait with it. A commit given up is treated as a lost
 * server: the broker is not acknowledged and delivers the messages again.
 * Shorter than mqttc's hold on the acks (HOLD_MAX_MS, 5 s), which
 * acknowledges the broker anyway once a commit takes longer. */
#define COMMIT_WAIT_MS 3000
/* A write waits this long for a row that another session holds: a commit
 * given up above may still hold its rows on the server. */
#define LOCK_TIMEOUT "3s"
#define MAX_PARAMS 24

/* Each entry takes the schema from version i to i + 1; append, never edit.
 * Text compares and sorts as in SQLite (COLLATE "C" where it sorts). */
static const char *const migrations[] = {
    /* 1: the first schema, the same tables as sstore_sqlite.c */
    "CREATE TABLE feed(site text NOT NULL, seq int8 NOT NULL, topic text NOT NULL,"
    " at_ms int8 NOT NULL, recv_ms int8 NOT NULL, payload text NOT NULL,"
    " PRIMARY KEY(site, seq));"
    "CREATE TABLE alarms(site text NOT NULL, id int8 NOT NULL, cls text NOT NULL,"
    " state text NOT NULL, zone text NOT NULL, zone_name text NOT NULL,"
    " sensor text NOT NULL, rule text NOT NULL, message text NOT NULL,"
    " acked_by text NOT NULL, raised_ms int8 NOT NULL, acked_ms int8 NOT NULL,"
    " silenced_ms int8 NOT NULL, cleared_ms int8 NOT NULL, reset_ms int8 NOT NULL,"
    " updated_ms int8 NOT NULL, seq int8 NOT NULL, PRIMARY KEY(site, id));"
    "CREATE INDEX alarms_site_newest ON alarms(site, raised_ms DESC, id DESC);"
    "CREATE INDEX alarms_open ON alarms(raised_ms, site, id) WHERE reset_ms = 0;"
    "CREATE TABLE sites(id text PRIMARY KEY, name text NOT NULL, address text NOT NULL,"
    " phone text NOT NULL, grp text NOT NULL, has_geo boolean NOT NULL,"
    " lat float8 NOT NULL, lon float8 NOT NULL, known boolean NOT NULL,"
    " online boolean NOT NULL, lost_contact boolean NOT NULL, heartbeat_s int4 NOT NULL,"
    " first_seen_ms int8 NOT NULL, last_heartbeat_ms int8 NOT NULL,"
    " last_message_ms int8 NOT NULL, lost_since_ms int8 NOT NULL, mode text NOT NULL,"
    " active_alarms int4 NOT NULL, faults int4 NOT NULL, disablements int4 NOT NULL,"
    " log_row int8 NOT NULL, log_hash text NOT NULL, status_json text);"
    "CREATE TABLE events(id bigserial PRIMARY KEY, at_ms int8 NOT NULL,"
    " site text NOT NULL, what text NOT NULL, by_user text NOT NULL, detail text NOT NULL);"
    "CREATE INDEX events_at ON events(at_ms);"
    "CREATE INDEX events_site_at ON events(site, at_ms);"
    "CREATE TABLE users(name text PRIMARY KEY, role text NOT NULL"
    " CHECK(role IN ('officer', 'viewer')), hash text NOT NULL, created_ms int8 NOT NULL);",
    /* 2: who sends the ack of a gateway's alarm, when stations share */
    "CREATE TABLE acks(site text NOT NULL, alarm int8 NOT NULL, by_user text NOT NULL,"
    " at_ms int8 NOT NULL, PRIMARY KEY(site, alarm));",
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
	ST_NOTIFY,
	ST_ALARM_GET,
	ST_ACK_CLAIM,
	ST_ACK_HOLDER,
	ST_TIMEKEEPER,
	ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_FEED_PUT] = "INSERT INTO feed(site, seq, topic, at_ms, recv_ms, payload) "
                    "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT(site, seq) DO NOTHING",
    [ST_FEED_COUNT] = "SELECT count(*) FROM feed",
    /* Two stations may write the same alarm: a change never overwrites
     * a newer one (a higher feed seq; for the station's own alarms, seq
     * 0, a later update). */
    [ST_ALARM_PUT] =
        "INSERT INTO alarms AS a(" ALARM_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11, $12, $13, $14, $15, $16, $17) ON CONFLICT(site, id) DO UPDATE SET"
        " cls = excluded.cls, state = excluded.state, zone = excluded.zone,"
        " zone_name = excluded.zone_name, sensor = excluded.sensor, rule = excluded.rule,"
        " message = excluded.message, acked_by = excluded.acked_by,"
        " raised_ms = excluded.raised_ms, acked_ms = excluded.acked_ms,"
        " silenced_ms = excluded.silenced_ms, cleared_ms = excluded.cleared_ms,"
        " reset_ms = excluded.reset_ms, updated_ms = excluded.updated_ms, seq = excluded.seq"
        " WHERE excluded.seq > a.seq OR (excluded.seq = a.seq AND"
        " excluded.updated_ms >= a.updated_ms)",
    [ST_SITE_PUT] =
        "INSERT INTO sites(" SITE_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) ON CONFLICT(id) DO UPDATE"
        " SET name = excluded.name, address = excluded.address, phone = excluded.phone,"
        " grp = excluded.grp, has_geo = excluded.has_geo, lat = excluded.lat,"
        " lon = excluded.lon, known = excluded.known, online = excluded.online,"
        " lost_contact = excluded.lost_contact, heartbeat_s = excluded.heartbeat_s,"
        " first_seen_ms = excluded.first_seen_ms,"
        " last_heartbeat_ms = excluded.last_heartbeat_ms,"
        " last_message_ms = excluded.last_message_ms, lost_since_ms = excluded.lost_since_ms,"
        " mode = excluded.mode, active_alarms = excluded.active_alarms,"
        " faults = excluded.faults, disablements = excluded.disablements,"
        " log_row = excluded.log_row, log_hash = excluded.log_hash,"
        " status_json = excluded.status_json",
    [ST_EVENT_PUT] = "INSERT INTO events(at_ms, site, what, by_user, detail) "
                     "VALUES($1, $2, $3, $4, $5)",
    [ST_SITES] = "SELECT " SITE_COLS " FROM sites ORDER BY id COLLATE \"C\"",
    [ST_OPEN_ALARMS] = "SELECT " ALARM_COLS " FROM alarms WHERE reset_ms = 0 "
                       "ORDER BY raised_ms, site COLLATE \"C\", id",
    [ST_SITE_ALARMS] = "SELECT " ALARM_COLS " FROM alarms WHERE site = $1 "
                       "ORDER BY raised_ms DESC, id DESC LIMIT $2",
    [ST_EVENTS_ALL] = "SELECT at_ms, site, what, by_user, detail FROM events "
                      "ORDER BY at_ms DESC, id DESC LIMIT $1",
    [ST_EVENTS_SITE] = "SELECT at_ms, site, what, by_user, detail FROM events WHERE site = $1 "
                       "ORDER BY at_ms DESC, id DESC LIMIT $2",
    [ST_USER_PUT] = "INSERT INTO users(name, role, hash, created_ms) VALUES($1, $2, $3, $4) "
                    "ON CONFLICT(name) DO UPDATE SET role = excluded.role, hash = excluded.hash",
    [ST_USER_GET] = "SELECT role, hash FROM users WHERE name = $1",
    [ST_USER_DEL] = "DELETE FROM users WHERE name = $1",
    [ST_USERS] = "SELECT name, role FROM users ORDER BY name COLLATE \"C\"",
    [ST_NOTIFY] = "SELECT pg_notify('" CHANNEL "', $1)",
    [ST_ALARM_GET] = "SELECT " ALARM_COLS " FROM alarms WHERE site = $1 AND id = $2",
    /* A claim older than $5 (no confirmation came) may be taken over. */
    [ST_ACK_CLAIM] = "INSERT INTO acks AS k(site, alarm, by_user, at_ms) VALUES($1, $2, $3, $4)"
                     " ON CONFLICT(site, alarm) DO UPDATE SET by_user = excluded.by_user,"
                     " at_ms = excluded.at_ms WHERE k.at_ms < $5 RETURNING by_user",
    [ST_ACK_HOLDER] = "SELECT by_user FROM acks WHERE site = $1 AND alarm = $2",
    [ST_TIMEKEEPER] = "SELECT pg_try_advisory_lock(" TIMEKEEPER_LOCK_KEY ")",
};

struct pg {
	PGconn *conn;
	char *target;     /* with the password: for reconnecting only, never shown */
	char *secret;     /* the password as written in the target, to scrub; or NULL */
	char where[256];  /* user@host:port/dbname, what messages say */
	char server[160]; /* host:port of the connection, of the URL's hosts */
	int prepared;     /* the statements exist on this connection, LISTEN is on */
	int timekeeper;   /* this session holds the timekeeper's lock */
	int lost;         /* the connection broke; the next begin reconnects */
	int transient;    /* the transaction was lost (deadlock): do it again */
	int64_t last_attempt_mono;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copy msg into out with every occurrence of the password replaced and the
 * trailing newline libpq adds removed. libpq does not echo passwords, but a
 * message that quotes a malformed URL could: this is the belt. */
static void scrub(const struct pg *q, const char *msg, char *out, size_t size)
{
	size_t n = 0, sl = q->secret ? strlen(q->secret) : 0;

	for (const char *p = msg ? msg : ""; *p && n + 1 < size;) {
		if (sl && strncmp(p, q->secret, sl) == 0) {
			n += (size_t)snprintf(out + n, size - n, "***");
			if (n >= size)
				n = size - 1;
			p += sl;
			continue;
		}
		out[n++] = *p == '\n' || *p == '\t' ? ' ' : *p;
		p++;
	}
	out[n] = '\0';
	while (n && out[n - 1] == ' ')
		out[--n] = '\0';
}

/* The password as written in the URL (userinfo after ':', or a password=
 * query parameter), for scrub(). */
static char *find_secret(const char *target)
{
	const char *u = strstr(target, "://"), *end, *at = NULL, *colon, *p;

	if (u) {
		u += 3;
		end = u + strcspn(u, "/?");
		for (p = u; p < end; p++)
			if (*p == '@')
				at = p;
		if (at && (colon = memchr(u, ':', (size_t)(at - u))) && at > colon + 1)
			return strndup(colon + 1, (size_t)(at - colon - 1));
	}
	if ((p = strstr(target, "password=")) && p[9])
		return strndup(p + 9, strcspn(p + 9, "&"));
	return NULL;
}

static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("sstore: postgresql: %s", message);
}

static int connect_db(struct pg *q, char *err, size_t errlen)
{
	/* Ours first: the URL's own settings come later and win (expand_dbname). */
	static const char *const keys[] = {"client_encoding",
	                                   "connect_timeout",
	                                   "application_name",
	                                   "keepalives_idle",
	                                   "keepalives_interval",
	                                   "keepalives_count",
	                                   "tcp_user_timeout",
	                                   "dbname",
	                                   NULL};
	const char *vals[] = {"UTF8", "5",     "safehouse-station", "10", "5",
	                      "2",    "10000", q->target,           NULL};
	char why[512];

	if (q->conn)
		PQfinish(q->conn);
	q->prepared = 0;
	q->timekeeper = 0; /* a session lock ends with its session */
	q->last_attempt_mono = mono_ms();
	q->conn = PQconnectdbParams(keys, vals, 1);
	if (!q->conn) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (PQstatus(q->conn) != CONNECTION_OK) {
		scrub(q, PQerrorMessage(q->conn), why, sizeof(why));
		snprintf(err, errlen, "cannot connect to PostgreSQL %s: %s", q->where, why);
		return -1;
	}
	PQsetNoticeProcessor(q->conn, quiet_notice, NULL);
	/* With several hosts, which one libpq chose (target_session_attrs=
	 * read-write: the primary) is what an operator asks after a failover. */
	snprintf(q->server, sizeof(q->server), "%s:%s", PQhost(q->conn), PQport(q->conn));
	q->lost = 0;
	return 0;
}

/* One command without parameters; err gets the server's word. */
static int exec(struct pg *q, const char *sql, PGresult **out, char *err, size_t errlen)
{
	PGresult *r = PQexec(q->conn, sql);
	ExecStatusType s = PQresultStatus(r);

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		scrub(q, PQerrorMessage(q->conn), err, errlen);
		PQclear(r);
		if (PQstatus(q->conn) == CONNECTION_BAD)
			q->lost = 1;
		return -1;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

/* Bring the schema to NMIGRATIONS, all steps in one transaction under an
 * advisory lock: a second station starting at once waits, then finds the
 * schema done. A newer schema is refused, never "fixed"; a database that
 * already has a feed table but no version is someone else's. */
static int migrate(struct pg *q, char *err, size_t errlen)
{
	PGresult *r = NULL;
	char sql[96], ignore[8];
	int version = 0, foreign = 0;

	if (exec(q, "BEGIN", NULL, err, errlen) < 0)
		return -1;
	if (exec(q, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", NULL, err, errlen) < 0 ||
	    exec(q, "CREATE TABLE IF NOT EXISTS station_schema(version int4 NOT NULL)", NULL, err,
	         errlen) < 0 ||
	    exec(q,
	         "SELECT (SELECT max(version) FROM station_schema),"
	         " to_regclass('feed') IS NOT NULL",
	         &r, err, errlen) < 0)
		goto fail;
	if (!PQgetisnull(r, 0, 0))
		version = atoi(PQgetvalue(r, 0, 0));
	foreign = PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	if (version == 0 && foreign) {
		snprintf(err, errlen,
		         "it has a table \"feed\" but no station schema version: another "
		         "program's database? give the station a database of its own");
		goto fail;
	}
	if (version > NMIGRATIONS) {
		snprintf(err, errlen,
		         "schema version %d is newer than this station knows (%d); refusing to "
		         "touch it",
		         version, NMIGRATIONS);
		goto fail;
	}
	for (int v = version; v < NMIGRATIONS; v++)
		if (exec(q, migrations[v], NULL, err, errlen) < 0)
			goto fail;
	if (version < NMIGRATIONS) {
		snprintf(sql, sizeof(sql),
		         "DELETE FROM station_schema; INSERT INTO station_schema VALUES(%d)",
		         NMIGRATIONS);
		if (exec(q, sql, NULL, err, errlen) < 0)
			goto fail;
	}
	if (exec(q, "COMMIT", NULL, err, errlen) < 0)
		return -1;
	if (version > 0 && version < NMIGRATIONS)
		log_notice("sstore: %s upgraded to schema version %d", q->where, NMIGRATIONS);
	return 0;
fail:
	exec(q, "ROLLBACK", NULL, ignore, sizeof(ignore));
	return -1;
}

static int prepare_all(struct pg *q, char *err, size_t errlen)
{
	char name[8], why[256];

	for (int i = 0; i < ST__COUNT; i++) {
		PGresult *r;
		snprintf(name, sizeof(name), "s%d", i);
		r = PQprepare(q->conn, name, stmt_sql[i], 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			scrub(q, PQerrorMessage(q->conn), why, sizeof(why));
			snprintf(err, errlen, "cannot prepare statement %d: %s", i, why);
			PQclear(r);
			return -1;
		}
		PQclear(r);
	}
	/* A row held by a commit that waits for a missing standby (see
	 * COMMIT_WAIT_MS) would block the next write to it without end. */
	if (exec(q, "SET lock_timeout = '" LOCK_TIMEOUT "'", NULL, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "SET lock_timeout: %s", why);
		return -1;
	}
	if (exec(q, "LISTEN " CHANNEL, NULL, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "LISTEN: %s", why);
		return -1;
	}
	q->prepared = 1;
	return 0;
}

static void pg_close(void *b)
{
	struct pg *q = b;

	if (!q)
		return;
	if (q->conn)
		PQfinish(q->conn);
	if (q->target)
		explicit_bzero(q->target, strlen(q->target));
	if (q->secret)
		explicit_bzero(q->secret, strlen(q->secret));
	free(q->target);
	free(q->secret);
	free(q);
}

/* "host:port" for each of libpq's comma-separated hosts (a multi-host URL:
 * a primary and its standby, docs/station.md), into out. One port applies
 * to every host, as libpq reads it. */
static void host_list(const char *hosts, const char *ports, char *out, size_t size)
{
	size_t n = 0, nports = 1;
	const char *h = *hosts ? hosts : "localhost", *p = ports;

	for (const char *c = ports; *c; c++)
		nports += *c == ',';
	out[0] = '\0';
	for (int i = 0; n + 1 < size; i++) {
		size_t hl = strcspn(h, ","), pl = strcspn(p, ",");
		n += (size_t)snprintf(out + n, size - n, "%s%.*s%s%.*s", i ? "," : "", (int)hl,
		                      hl ? h : "localhost", pl ? ":" : "", (int)pl, p);
		if (n >= size || !h[hl])
			break;
		h += hl + 1;
		if (nports > 1 && p[pl])
			p += pl + 1;
	}
}

/* user@host:port/dbname from libpq's own reading of the target, every host
 * of a multi-host URL (host1:port1,host2:port2); never the password. */
static int describe(struct pg *q, char *err, size_t errlen)
{
	char *msg = NULL, why[256], hosts[192];
	const char *user = "", *host = "", *port = "", *db = "";
	PQconninfoOption *o = PQconninfoParse(q->target, &msg), *p;

	if (!o) {
		scrub(q, msg, why, sizeof(why));
		PQfreemem(msg);
		snprintf(err, errlen, "not a valid PostgreSQL URL: %s", why);
		return -1;
	}
	for (p = o; p->keyword; p++) {
		if (!p->val)
			continue;
		if (strcmp(p->keyword, "user") == 0)
			user = p->val;
		else if (strcmp(p->keyword, "host") == 0)
			host = p->val;
		else if (strcmp(p->keyword, "port") == 0)
			port = p->val;
		else if (strcmp(p->keyword, "dbname") == 0)
			db = p->val;
	}
	host_list(host, port, hosts, sizeof(hosts));
	snprintf(q->where, sizeof(q->where), "%s%s%s/%s", user, *user ? "@" : "", hosts,
	         *db ? db : user);
	PQconninfoFree(o);
	return 0;
}

static int pg_check(const char *target, char *err, size_t errlen)
{
	struct pg q = {0};
	int rc;

	q.target = (char *)target;
	q.secret = find_secret(target);
	rc = describe(&q, err, errlen);
	free(q.secret);
	return rc;
}

static int pg_open(const char *target, void **bp, char *err, size_t errlen)
{
	struct pg *q = calloc(1, sizeof(*q));
	char why[512] = "";

	*bp = NULL;
	if (!q || !(q->target = strdup(target))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	q->secret = find_secret(target);
	if (describe(q, err, errlen) < 0 || connect_db(q, err, errlen) < 0)
		goto fail;
	if (migrate(q, why, sizeof(why)) < 0 || prepare_all(q, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot use PostgreSQL %s as the station's database: %s",
		         q->where, why);
		goto fail;
	}
	log_notice("sstore: connected to PostgreSQL %s, server %s", q->where, q->server);
	*bp = q;
	return 0;
fail:
	pg_close(q);
	return -1;
}

/* Parameters as text, the way libpq sends them without type OIDs. */
struct params {
	const char *v[MAX_PARAMS];
	char num[MAX_PARAMS][32];
	char *own[MAX_PARAMS]; /* cleaned copies, freed by run() */
	int n;
};

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0. Overlong forms,
 * surrogates and code points past U+10FFFF are invalid, as for the server. */
static int utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80 ||
		    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* The server refuses a text that is not UTF-8, and one bad field would
 * abort the whole burst's transaction. The station's fixed-size fields may
 * cut a Vietnamese character in half, and a gateway may send anything:
 * each invalid byte becomes U+FFFD. NULL: s is valid as it is. */
static char *utf8_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out, *o;
	int k;

	while (*p && (k = utf8_len(p)) > 0)
		p += k;
	if (!*p || !(out = malloc(strlen(s) * 3 + 1)))
		return NULL;
	o = out;
	for (p = (const unsigned char *)s; *p;) {
		if ((k = utf8_len(p)) > 0) {
			memcpy(o, p, (size_t)k);
			o += k;
			p += k;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	*o = '\0';
	return out;
}

static void p_text(struct params *p, const char *s)
{
	p->own[p->n] = s ? utf8_clean(s) : NULL;
	p->v[p->n] = p->own[p->n] ? p->own[p->n] : s ? s : "";
	p->n++;
}

static void p_i64(struct params *p, int64_t x)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, x);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

static void p_bool(struct params *p, int x)
{
	p->v[p->n++] = x ? "t" : "f";
}

static void p_f64(struct params *p, double x)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%.17g", x);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

/* Map a failed result: logs it, notes a lost connection. */
static int failed(struct pg *q, PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char why[512];

	scrub(q,
	      r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(q->conn),
	      why, sizeof(why));
	if (PQstatus(q->conn) == CONNECTION_BAD)
		q->lost = 1;
	log_err("sstore: postgresql %s: %s: %s", q->where, what, why);
	if (q->lost)
		return -ENOTCONN;
	/* 40P01 deadlock_detected, 40001 serialization_failure: two stations
	 * wrote the same rows in another order; the same writes will work
	 * when done again (lost() says so until the next begin). */
	/* 55P03 lock_not_available: lock_timeout, a row held by a commit
	 * that waits for a synchronous standby; again later, too. */
	if (state && (strncmp(state, "40", 2) == 0 || strcmp(state, "55P03") == 0)) {
		q->transient = 1;
		return -EAGAIN;
	}
	/* 53100 disk_full, 53xxx insufficient resources */
	if (state && strncmp(state, "53", 2) == 0)
		return -ENOSPC;
	return -EIO;
}

/* Run prepared statement i. *out gets the rows (caller PQclear()s) when
 * out is given. */
static int run(struct pg *q, int i, struct params *p, PGresult **out, const char *what)
{
	char name[8];
	PGresult *r;
	ExecStatusType s;
	int rc;

	/* Said once, when it was lost; /healthz asks every few seconds. */
	if (q->lost || !q->prepared) {
		for (int k = 0; p && k < p->n; k++)
			free(p->own[k]);
		return -ENOTCONN;
	}
	snprintf(name, sizeof(name), "s%d", i);
	r = PQexecPrepared(q->conn, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
	for (int k = 0; p && k < p->n; k++)
		free(p->own[k]);
	s = PQresultStatus(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		rc = failed(q, r, what);
		PQclear(r);
		return rc;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

static int simple(struct pg *q, const char *sql, const char *what)
{
	PGresult *r = PQexec(q->conn, sql);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = failed(q, r, what);
	PQclear(r);
	return rc;
}

static int pg_begin(void *b)
{
	struct pg *q = b;
	char err[512];

	if (q->lost || PQstatus(q->conn) != CONNECTION_OK || !q->prepared) {
		if (mono_ms() - q->last_attempt_mono < RECONNECT_MS)
			return -ENOTCONN;
		if (connect_db(q, err, sizeof(err)) < 0 || prepare_all(q, err, sizeof(err)) < 0) {
			q->lost = 1;
			log_err("sstore: %s", err);
			return -ENOTCONN;
		}
		log_notice("sstore: connected to PostgreSQL %s again, server %s", q->where,
		           q->server);
	}
	q->transient = 0;
	return simple(q, "BEGIN", "begin");
}

/* Close a connection that does not answer: the server may still be
 * waiting (a synchronous standby), but the station does not wait with it;
 * the next begin reconnects. */
static void drop_conn(struct pg *q)
{
	PQfinish(q->conn);
	q->conn = NULL;
	q->prepared = 0;
	q->timekeeper = 0;
	q->lost = 1;
}

/* COMMIT, waiting at most COMMIT_WAIT_MS for the answer. Not PQcancel on
 * a timeout: a cancelled wait for a synchronous standby reports success
 * for a commit that is on one machine only, and the broker would then be
 * acknowledged. The connection is dropped instead and the commit counts as
 * failed: the messages come again and land once ((site, seq) key), whether
 * the server kept the abandoned commit or not. */
static PGresult *commit_bounded(struct pg *q)
{
	int64_t deadline = mono_ms() + COMMIT_WAIT_MS;
	PGresult *r = NULL, *more;

	if (!PQsendQuery(q->conn, "COMMIT"))
		return NULL;
	while (PQisBusy(q->conn)) {
		struct pollfd pfd = {.fd = PQsocket(q->conn), .events = POLLIN};
		int64_t left = deadline - mono_ms();
		int n;

		if (left <= 0) {
			log_err("sstore: postgresql %s: commit: no answer from %s within %d s (a "
			        "synchronous standby that does not confirm? see "
			        "synchronous_standby_names); connection dropped, the broker keeps "
			        "the messages",
			        q->where, q->server, COMMIT_WAIT_MS / 1000);
			drop_conn(q);
			return NULL;
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return NULL;
		if (n > 0 && !PQconsumeInput(q->conn))
			return NULL;
	}
	/* One result for one command; read to the end so the connection is
	 * ready for the next. */
	r = PQgetResult(q->conn);
	while ((more = PQgetResult(q->conn)))
		PQclear(more);
	return r;
}

static int pg_commit(void *b)
{
	struct pg *q = b;
	PGresult *r;
	int rc = 0;

	if (q->lost)
		return -ENOTCONN;
	/* COMMIT of a transaction a failed statement aborted "succeeds" as
	 * a ROLLBACK: that is a failed commit. */
	if (PQtransactionStatus(q->conn) == PQTRANS_INERROR) {
		log_err("sstore: postgresql %s: commit: the transaction failed earlier; rolled "
		        "back",
		        q->where);
		simple(q, "ROLLBACK", "rollback");
		return -EIO;
	}
	r = commit_bounded(q);
	if (!r && !q->lost) {
		/* Sent or read only in part: the connection is in no state to
		 * reuse. */
		failed(q, NULL, "commit");
		drop_conn(q);
	}
	if (q->lost) {
		PQclear(r);
		return -ENOTCONN;
	}
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = failed(q, r, "commit");
	else if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
		rc = -EIO;
	PQclear(r);
	return rc;
}

static int pg_rollback(void *b)
{
	struct pg *q = b;
	char ignore[8];

	/* Nothing to roll back on a lost connection (the server did) or
	 * outside a transaction. */
	if (q->lost || PQtransactionStatus(q->conn) == PQTRANS_IDLE)
		return 0;
	return exec(q, "ROLLBACK", NULL, ignore, sizeof(ignore)) < 0 ? -EIO : 0;
}

static int pg_lost(void *b)
{
	struct pg *q = b;

	return q->lost || q->transient;
}

static const char *pg_where(void *b)
{
	return ((struct pg *)b)->where;
}

static int pg_feed_put(void *b, const char *site, int64_t seq, const char *topic, int64_t at_ms,
                       int64_t recv_ms, const char *payload)
{
	struct pg *q = b;
	struct params p = {0};
	PGresult *r = NULL;
	int rc;

	p_text(&p, site);
	p_i64(&p, seq);
	p_text(&p, topic);
	p_i64(&p, at_ms);
	p_i64(&p, recv_ms);
	p_text(&p, payload);
	rc = run(q, ST_FEED_PUT, &p, &r, "feed insert");
	if (rc < 0)
		return rc;
	rc = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	return rc;
}

static int64_t pg_feed_count(void *b)
{
	struct pg *q = b;
	PGresult *r = NULL;
	int64_t n;
	int rc = run(q, ST_FEED_COUNT, NULL, &r, "feed count");

	if (rc < 0)
		return rc;
	n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

static int pg_alarm_put(void *b, const struct salarm *a)
{
	struct pg *q = b;
	struct params p = {0};

	p_text(&p, a->site);
	p_i64(&p, a->id);
	p_text(&p, a->cls);
	p_text(&p, a->state);
	p_text(&p, a->zone);
	p_text(&p, a->zone_name);
	p_text(&p, a->sensor);
	p_text(&p, a->rule);
	p_text(&p, a->message);
	p_text(&p, a->acked_by);
	p_i64(&p, a->raised_ms);
	p_i64(&p, a->acked_ms);
	p_i64(&p, a->silenced_ms);
	p_i64(&p, a->cleared_ms);
	p_i64(&p, a->reset_ms);
	p_i64(&p, a->updated_ms);
	p_i64(&p, a->seq);
	return run(q, ST_ALARM_PUT, &p, NULL, "alarm write");
}

static int pg_site_put(void *b, const struct ssite *s)
{
	struct pg *q = b;
	struct params p = {0};

	p_text(&p, s->id);
	p_text(&p, s->name);
	p_text(&p, s->address);
	p_text(&p, s->phone);
	p_text(&p, s->group);
	p_bool(&p, s->has_geo);
	p_f64(&p, s->lat);
	p_f64(&p, s->lon);
	p_bool(&p, s->known);
	p_bool(&p, s->online);
	p_bool(&p, s->lost_contact);
	p_i64(&p, s->heartbeat_s);
	p_i64(&p, s->first_seen_ms);
	p_i64(&p, s->last_heartbeat_ms);
	p_i64(&p, s->last_message_ms);
	p_i64(&p, s->lost_since_ms);
	p_text(&p, s->mode);
	p_i64(&p, s->active_alarms);
	p_i64(&p, s->faults);
	p_i64(&p, s->disablements);
	p_i64(&p, s->log_row);
	p_text(&p, s->log_hash);
	if (s->status_json)
		p_text(&p, s->status_json);
	else
		p.v[p.n++] = NULL; /* SQL NULL */
	return run(q, ST_SITE_PUT, &p, NULL, "site write");
}

static int pg_event_put(void *b, const struct sevent *e)
{
	struct pg *q = b;
	struct params p = {0};

	p_i64(&p, e->at_ms);
	p_text(&p, e->site);
	p_text(&p, e->what);
	p_text(&p, e->by);
	p_text(&p, e->detail);
	return run(q, ST_EVENT_PUT, &p, NULL, "event write");
}

/* A column into a fixed buffer, truncated to fit, always terminated. */
static void col(const PGresult *r, int row, int i, char *out, size_t size)
{
	snprintf(out, size, "%s", PQgetvalue(r, row, i));
}

static int64_t i64(const PGresult *r, int row, int i)
{
	return strtoll(PQgetvalue(r, row, i), NULL, 10);
}

static int flag(const PGresult *r, int row, int i)
{
	return PQgetvalue(r, row, i)[0] == 't';
}

static void alarm_row(const PGresult *r, int row, struct salarm *a)
{
	int i = 0;

	memset(a, 0, sizeof(*a));
	col(r, row, i++, a->site, sizeof(a->site));
	a->id = i64(r, row, i++);
	col(r, row, i++, a->cls, sizeof(a->cls));
	col(r, row, i++, a->state, sizeof(a->state));
	col(r, row, i++, a->zone, sizeof(a->zone));
	col(r, row, i++, a->zone_name, sizeof(a->zone_name));
	col(r, row, i++, a->sensor, sizeof(a->sensor));
	col(r, row, i++, a->rule, sizeof(a->rule));
	col(r, row, i++, a->message, sizeof(a->message));
	col(r, row, i++, a->acked_by, sizeof(a->acked_by));
	a->raised_ms = i64(r, row, i++);
	a->acked_ms = i64(r, row, i++);
	a->silenced_ms = i64(r, row, i++);
	a->cleared_ms = i64(r, row, i++);
	a->reset_ms = i64(r, row, i++);
	a->updated_ms = i64(r, row, i++);
	a->seq = i64(r, row, i++);
}

/* status_json points into libpq's result: valid during the callback only. */
static void site_row(const PGresult *r, int row, struct ssite *s)
{
	int i = 0;

	memset(s, 0, sizeof(*s));
	col(r, row, i++, s->id, sizeof(s->id));
	col(r, row, i++, s->name, sizeof(s->name));
	col(r, row, i++, s->address, sizeof(s->address));
	col(r, row, i++, s->phone, sizeof(s->phone));
	col(r, row, i++, s->group, sizeof(s->group));
	s->has_geo = flag(r, row, i++);
	s->lat = strtod(PQgetvalue(r, row, i++), NULL);
	s->lon = strtod(PQgetvalue(r, row, i++), NULL);
	s->known = flag(r, row, i++);
	s->online = flag(r, row, i++);
	s->lost_contact = flag(r, row, i++);
	s->heartbeat_s = (int)i64(r, row, i++);
	s->first_seen_ms = i64(r, row, i++);
	s->last_heartbeat_ms = i64(r, row, i++);
	s->last_message_ms = i64(r, row, i++);
	s->lost_since_ms = i64(r, row, i++);
	col(r, row, i++, s->mode, sizeof(s->mode));
	s->active_alarms = (int)i64(r, row, i++);
	s->faults = (int)i64(r, row, i++);
	s->disablements = (int)i64(r, row, i++);
	s->log_row = i64(r, row, i++);
	col(r, row, i++, s->log_hash, sizeof(s->log_hash));
	s->status_json = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
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

static int row(const PGresult *r, int k, const struct cb *cb)
{
	if (cb->site) {
		struct ssite s;
		site_row(r, k, &s);
		return cb->site(cb->ctx, &s);
	}
	if (cb->alarm) {
		struct salarm a;
		alarm_row(r, k, &a);
		return cb->alarm(cb->ctx, &a);
	}
	if (cb->event) {
		struct sevent e;
		memset(&e, 0, sizeof(e));
		e.at_ms = i64(r, k, 0);
		col(r, k, 1, e.site, sizeof(e.site));
		col(r, k, 2, e.what, sizeof(e.what));
		col(r, k, 3, e.by, sizeof(e.by));
		col(r, k, 4, e.detail, sizeof(e.detail));
		return cb->event(cb->ctx, &e);
	}
	return cb->user(cb->ctx, PQgetvalue(r, k, 0), PQgetvalue(r, k, 1));
}

/* Run statement i and hand each row to cb: 0, the callback's negative
 * value, or a store error. */
static int rows(struct pg *q, int i, struct params *p, const char *what, const struct cb *cb)
{
	PGresult *r = NULL;
	int rc = run(q, i, p, &r, what);

	for (int k = 0; rc >= 0 && k < PQntuples(r); k++)
		rc = row(r, k, cb);
	PQclear(r);
	return rc < 0 ? rc : 0;
}

static int pg_load(void *b, int (*site_fn)(void *ctx, const struct ssite *s),
                   int (*alarm_fn)(void *ctx, const struct salarm *a), void *ctx)
{
	struct pg *q = b;
	int rc = 0;

	if (site_fn)
		rc = rows(q, ST_SITES, NULL, "loading sites",
		          &(struct cb){.site = site_fn, .ctx = ctx});
	if (rc < 0 || !alarm_fn)
		return rc;
	return rows(q, ST_OPEN_ALARMS, NULL, "loading alarms",
	            &(struct cb){.alarm = alarm_fn, .ctx = ctx});
}

static int pg_site_alarms(void *b, const char *site, int limit,
                          int (*fn)(void *ctx, const struct salarm *a), void *ctx)
{
	struct pg *q = b;
	struct params p = {0};

	p_text(&p, site);
	p_i64(&p, limit);
	return rows(q, ST_SITE_ALARMS, &p, "reading alarms", &(struct cb){.alarm = fn, .ctx = ctx});
}

static int pg_events(void *b, const char *site, int limit,
                     int (*fn)(void *ctx, const struct sevent *e), void *ctx)
{
	struct pg *q = b;
	struct params p = {0};

	if (site)
		p_text(&p, site);
	p_i64(&p, limit);
	return rows(q, site ? ST_EVENTS_SITE : ST_EVENTS_ALL, &p, "reading events",
	            &(struct cb){.event = fn, .ctx = ctx});
}

static int pg_user_put(void *b, const char *name, const char *role, const char *hash)
{
	struct pg *q = b;
	struct params p = {0};
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	p_text(&p, name);
	p_text(&p, role);
	p_text(&p, hash);
	p_i64(&p, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	return run(q, ST_USER_PUT, &p, NULL, "user write");
}

static int pg_user_get(void *b, const char *name, char *role, size_t rolelen, char *hash,
                       size_t hashlen)
{
	struct pg *q = b;
	struct params p = {0};
	PGresult *r = NULL;
	int rc;

	p_text(&p, name);
	rc = run(q, ST_USER_GET, &p, &r, "reading user");
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0) {
		rc = -ENOENT;
	} else {
		if (role)
			col(r, 0, 0, role, rolelen);
		if (hash)
			col(r, 0, 1, hash, hashlen);
	}
	PQclear(r);
	return rc;
}

static int pg_user_del(void *b, const char *name)
{
	struct pg *q = b;
	struct params p = {0};
	PGresult *r = NULL;
	int rc;

	p_text(&p, name);
	rc = run(q, ST_USER_DEL, &p, &r, "user delete");
	if (rc < 0)
		return rc;
	rc = strcmp(PQcmdTuples(r), "0") != 0 ? 0 : -ENOENT;
	PQclear(r);
	return rc;
}

static int pg_users(void *b, int (*fn)(void *ctx, const char *name, const char *role), void *ctx)
{
	return rows(b, ST_USERS, NULL, "listing users", &(struct cb){.user = fn, .ctx = ctx});
}

static int pg_notify(void *b, const char *payload)
{
	struct pg *q = b;
	struct params p = {0};

	p_text(&p, payload);
	return run(q, ST_NOTIFY, &p, NULL, "notify");
}

static int pg_listen_fd(void *b)
{
	struct pg *q = b;

	return q->lost || !q->prepared ? -1 : PQsocket(q->conn);
}

static int pg_listen_drain(void *b, int (*fn)(void *ctx, const char *payload), void *ctx)
{
	struct pg *q = b;
	PGnotify *n;
	int self;

	if (q->lost || !q->prepared)
		return -ENOTCONN;
	/* Reads what the socket has, without blocking; notifications that
	 * came with the answer of another query are already queued. */
	if (!PQconsumeInput(q->conn))
		return failed(q, NULL, "reading notifications");
	self = PQbackendPID(q->conn);
	while ((n = PQnotifies(q->conn))) {
		if (n->be_pid != self)
			fn(ctx, n->extra);
		PQfreemem(n);
	}
	return 0;
}

static int pg_alarm_get(void *b, const char *site, int64_t id, struct salarm *out)
{
	struct pg *q = b;
	struct params p = {0};
	PGresult *r = NULL;
	int rc;

	p_text(&p, site);
	p_i64(&p, id);
	rc = run(q, ST_ALARM_GET, &p, &r, "reading an alarm");
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0)
		rc = -ENOENT;
	else
		alarm_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int pg_ack_claim(void *b, const char *site, int64_t id, const char *by, int64_t now_ms,
                        int64_t stale_ms, char *holder, size_t holderlen)
{
	struct pg *q = b;
	struct params p = {0};
	PGresult *r = NULL;
	int rc;

	p_text(&p, site);
	p_i64(&p, id);
	p_text(&p, by);
	p_i64(&p, now_ms);
	p_i64(&p, now_ms - stale_ms);
	/* A second station's insert waits for the first's commit, then finds
	 * its row: one claim wins. */
	rc = run(q, ST_ACK_CLAIM, &p, &r, "claiming an ack");
	if (rc < 0)
		return rc;
	rc = PQntuples(r) > 0;
	PQclear(r);
	if (rc || !holder)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, site);
	p_i64(&p, id);
	holder[0] = '\0';
	if (run(q, ST_ACK_HOLDER, &p, &r, "reading an ack claim") == 0) {
		if (PQntuples(r) > 0)
			col(r, 0, 0, holder, holderlen);
		PQclear(r);
	}
	return 0;
}

static int pg_timekeeper(void *b)
{
	struct pg *q = b;
	PGresult *r = NULL;
	int rc;

	if (q->timekeeper && !q->lost)
		return 1;
	rc = run(q, ST_TIMEKEEPER, NULL, &r, "timekeeper lock");
	if (rc < 0)
		return rc;
	q->timekeeper = flag(r, 0, 0);
	PQclear(r);
	return q->timekeeper;
}

const struct sstore_backend sstore_pg = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .feed_put = pg_feed_put,
    .alarm_put = pg_alarm_put,
    .site_put = pg_site_put,
    .event_put = pg_event_put,
    .load = pg_load,
    .site_alarms = pg_site_alarms,
    .events = pg_events,
    .feed_count = pg_feed_count,
    .user_put = pg_user_put,
    .user_get = pg_user_get,
    .user_del = pg_user_del,
    .users = pg_users,
    .lost = pg_lost,
    .where = pg_where,
    .check = pg_check,
    .notify = pg_notify,
    .listen_fd = pg_listen_fd,
    .listen_drain = pg_listen_drain,
    .alarm_get = pg_alarm_get,
    .ack_claim = pg_ack_claim,
    .timekeeper = pg_timekeeper,
};
