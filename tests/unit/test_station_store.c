/*
 * test_station_store.c: the station's store (station/sstore.h) on a real
 * SQLite file in a temp directory: the feed is idempotent, alarms and sites
 * survive a reopen, the journal and a site's alarms come newest first, and
 * a file that is not a database is refused with a message that says so.
 *
 * With a PostgreSQL URL as its argument (tests/blackbox/test_station_pg.py
 * starts a private server and passes it), the tests that are not about
 * SQLite files run against that server instead, plus PostgreSQL's own: the
 * schema version table, two writers of one alarm, a lost connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#ifdef SH_WITH_POSTGRESQL
#include <libpq-fe.h>
#endif
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/log.h"
#include "station/sstore.h"

struct fx {
	char dir[64], path[128];
	const char *target; /* path, or the PostgreSQL URL */
	struct sstore *s;
};

/* The PostgreSQL URL given on the command line, or NULL (SQLite). */
static const char *pg_url;

#ifdef SH_WITH_POSTGRESQL
/* SQL on the test's own connection, to look behind the store's back. */
static PGresult *pg_sql(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	PGresult *r;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(c));
	PQfinish(c);
	return r;
}
#endif

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];

	log_init("test_station_store", 1, LOG_CRIT);
	strcpy(f->dir, "/tmp/sh-sstore-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/station.db", f->dir);
	f->target = pg_url ? pg_url : f->path;
	f->s = sstore_open(f->target, err, sizeof(err));
	*state = f;
	if (!f->s)
		fprintf(stderr, "%s\n", err);
	return f->s ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	sstore_close(f->s);
	/* Each test starts from an empty database, as with a new file. */
#ifdef SH_WITH_POSTGRESQL
	if (pg_url)
		PQclear(pg_sql("DROP TABLE IF EXISTS feed, alarms, sites, events, users, acks, "
		               "station_schema"));
#endif
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	char err[512];

	sstore_close(f->s);
	f->s = sstore_open(f->target, err, sizeof(err));
	if (!f->s)
		fprintf(stderr, "%s\n", err);
	assert_non_null(f->s);
}

static void test_the_same_feed_message_twice_is_kept_once(void **state)
{
	struct fx *f = *state;

	assert_int_equal(sstore_begin(f->s), 0);
	assert_int_equal(
	    sstore_feed_put(f->s, "nt-a", 7, "safehouse/nt-a/alarm", 1000, 1001, "{\"seq\":7}"), 1);
	assert_int_equal(
	    sstore_feed_put(f->s, "nt-a", 7, "safehouse/nt-a/alarm", 1000, 1002, "{\"seq\":7}"), 0);
	/* the same seq of another site is another message */
	assert_int_equal(
	    sstore_feed_put(f->s, "nt-b", 7, "safehouse/nt-b/alarm", 1000, 1001, "{\"seq\":7}"), 1);
	assert_int_equal(sstore_commit(f->s), 0);
	assert_int_equal(sstore_feed_count(f->s), 2);
	reopen(f);
	assert_int_equal(sstore_feed_put(f->s, "nt-a", 7, "t", 1, 1, "{}"), 0);
	assert_int_equal(sstore_feed_count(f->s), 2);
}

struct seen {
	struct ssite sites[8];
	char status[8][128];
	int nsites;
	struct salarm alarms[16];
	int nalarms;
	struct sevent events[16];
	int nevents;
};

static int on_site(void *ctx, const struct ssite *s)
{
	struct seen *v = ctx;

	v->sites[v->nsites] = *s;
	snprintf(v->status[v->nsites], sizeof(v->status[0]), "%s",
	         s->status_json ? s->status_json : "(null)");
	v->sites[v->nsites].status_json = v->status[v->nsites];
	v->nsites++;
	return 0;
}

static int on_alarm(void *ctx, const struct salarm *a)
{
	struct seen *v = ctx;

	v->alarms[v->nalarms++] = *a;
	return 0;
}

static int on_event(void *ctx, const struct sevent *e)
{
	struct seen *v = ctx;

	v->events[v->nevents++] = *e;
	return 0;
}

static struct salarm alarm_of(const char *site, int64_t id, int64_t raised_ms, int64_t reset_ms)
{
	struct salarm a = {0};

	snprintf(a.site, sizeof(a.site), "%s", site);
	a.id = id;
	strcpy(a.cls, "fire");
	strcpy(a.state, reset_ms ? "reset" : "raised");
	strcpy(a.zone, "p101");
	strcpy(a.zone_name, "Phòng 101");
	strcpy(a.sensor, "smoke-101");
	strcpy(a.rule, "fire.smoke");
	strcpy(a.message, "Cháy phòng 101");
	a.raised_ms = raised_ms;
	a.reset_ms = reset_ms;
	a.updated_ms = reset_ms ? reset_ms : raised_ms;
	a.seq = id + 100;
	return a;
}

static void test_alarms_not_yet_reset_come_back_after_a_reopen_oldest_first(void **state)
{
	struct fx *f = *state;
	struct salarm a = alarm_of("nt-a", 3, 3000, 0), b = alarm_of("nt-b", 1, 2000, 0),
	              done = alarm_of("nt-a", 2, 1000, 5000), st = alarm_of("nt-a", -1, 4000, 0);
	struct seen *v = calloc(1, sizeof(*v));

	strcpy(st.cls, "lost_contact");
	assert_int_equal(sstore_begin(f->s), 0);
	assert_int_equal(sstore_alarm_put(f->s, &a), 0);
	assert_int_equal(sstore_alarm_put(f->s, &b), 0);
	assert_int_equal(sstore_alarm_put(f->s, &done), 0);
	assert_int_equal(sstore_alarm_put(f->s, &st), 0);
	/* an update replaces the row (upsert on (site, id)) */
	strcpy(a.state, "acknowledged");
	strcpy(a.acked_by, "officer:lan");
	a.acked_ms = 3500;
	assert_int_equal(sstore_alarm_put(f->s, &a), 0);
	assert_int_equal(sstore_commit(f->s), 0);
	reopen(f);
	assert_int_equal(sstore_load(f->s, on_site, on_alarm, v), 0);
	assert_int_equal(v->nalarms, 3);
	assert_string_equal(v->alarms[0].site, "nt-b");
	assert_int_equal(v->alarms[1].id, 3);
	assert_string_equal(v->alarms[1].state, "acknowledged");
	assert_string_equal(v->alarms[1].acked_by, "officer:lan");
	assert_int_equal(v->alarms[1].acked_ms, 3500);
	assert_string_equal(v->alarms[1].zone_name, "Phòng 101");
	assert_int_equal(v->alarms[1].seq, 103);
	assert_int_equal(v->alarms[2].id, -1);
	assert_string_equal(v->alarms[2].cls, "lost_contact");
	free(v);
}

static void test_a_site_comes_back_whole_with_its_status_and_geo(void **state)
{
	struct fx *f = *state;
	struct ssite s = {0}, bare = {0};
	struct seen *v = calloc(1, sizeof(*v));

	strcpy(s.id, "nt-minhson-ap3");
	strcpy(s.name, "Nhà trọ Minh Sơn");
	strcpy(s.address, "Ấp 3, Phước Kiển");
	strcpy(s.phone, "+84901234567");
	strcpy(s.group, "to-1");
	s.has_geo = 1;
	s.lat = 10.64;
	s.lon = 106.72;
	s.known = 1;
	s.online = 1;
	s.heartbeat_s = 60;
	s.first_seen_ms = 1000;
	s.last_heartbeat_ms = 2000;
	s.last_message_ms = 2500;
	strcpy(s.mode, "normal");
	s.active_alarms = 1;
	s.faults = 2;
	s.disablements = 3;
	s.log_row = 42;
	strcpy(s.log_hash, "ab12");
	s.status_json = "{\"online\":true}";
	strcpy(bare.id, "nt-unknown");
	bare.lost_contact = 1;
	bare.lost_since_ms = 9000;
	assert_int_equal(sstore_site_put(f->s, &s), 0);
	assert_int_equal(sstore_site_put(f->s, &bare), 0);
	reopen(f);
	assert_int_equal(sstore_load(f->s, on_site, on_alarm, v), 0);
	assert_int_equal(v->nsites, 2);
	assert_string_equal(v->sites[0].id, "nt-minhson-ap3");
	assert_string_equal(v->sites[0].name, "Nhà trọ Minh Sơn");
	assert_string_equal(v->sites[0].address, "Ấp 3, Phước Kiển");
	assert_string_equal(v->sites[0].phone, "+84901234567");
	assert_string_equal(v->sites[0].group, "to-1");
	assert_int_equal(v->sites[0].has_geo, 1);
	assert_true(v->sites[0].lat == 10.64 && v->sites[0].lon == 106.72);
	assert_int_equal(v->sites[0].known, 1);
	assert_int_equal(v->sites[0].online, 1);
	assert_int_equal(v->sites[0].heartbeat_s, 60);
	assert_int_equal(v->sites[0].last_message_ms, 2500);
	assert_string_equal(v->sites[0].mode, "normal");
	assert_int_equal(v->sites[0].faults, 2);
	assert_int_equal(v->sites[0].log_row, 42);
	assert_string_equal(v->sites[0].log_hash, "ab12");
	assert_string_equal(v->sites[0].status_json, "{\"online\":true}");
	assert_string_equal(v->sites[1].id, "nt-unknown");
	assert_int_equal(v->sites[1].lost_contact, 1);
	assert_int_equal(v->sites[1].lost_since_ms, 9000);
	assert_string_equal(v->sites[1].status_json, "(null)");
	free(v);
}

static void test_the_journal_reads_newest_first_per_site_or_all(void **state)
{
	struct fx *f = *state;
	struct seen *v = calloc(1, sizeof(*v));
	struct sevent e = {0};

	for (int i = 0; i < 5; i++) {
		e.at_ms = 1000 + i;
		strcpy(e.site, i % 2 ? "nt-a" : "");
		snprintf(e.what, sizeof(e.what), "w%d", i);
		strcpy(e.by, "lan");
		assert_int_equal(sstore_event_put(f->s, &e), 0);
	}
	assert_int_equal(sstore_events(f->s, NULL, 3, on_event, v), 0);
	assert_int_equal(v->nevents, 3);
	assert_string_equal(v->events[0].what, "w4");
	assert_string_equal(v->events[2].what, "w2");
	v->nevents = 0;
	assert_int_equal(sstore_events(f->s, "nt-a", 10, on_event, v), 0);
	assert_int_equal(v->nevents, 2);
	assert_string_equal(v->events[0].what, "w3");
	assert_string_equal(v->events[1].what, "w1");
	assert_string_equal(v->events[1].by, "lan");
	free(v);
}

static void test_a_sites_alarms_come_newest_first_and_at_most_limit(void **state)
{
	struct fx *f = *state;
	struct seen *v = calloc(1, sizeof(*v));

	for (int i = 1; i <= 6; i++) {
		struct salarm a = alarm_of(i == 6 ? "nt-b" : "nt-a", i, 1000 * i, i % 2 ? 0 : 9000);
		assert_int_equal(sstore_alarm_put(f->s, &a), 0);
	}
	assert_int_equal(sstore_site_alarms(f->s, "nt-a", 3, on_alarm, v), 0);
	assert_int_equal(v->nalarms, 3);
	assert_int_equal(v->alarms[0].id, 5);
	assert_int_equal(v->alarms[1].id, 4);
	assert_int_equal(v->alarms[2].id, 3);
	free(v);
}

static void test_a_file_that_is_not_a_database_is_refused_saying_so(void **state)
{
	struct fx *f = *state;
	char path[160], err[512] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/notes.txt", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is a shopping list, not a database\n", fp);
	fclose(fp);
	assert_null(sstore_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not a database"));
	/* and a directory */
	assert_null(sstore_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, f->dir));
	assert_non_null(strstr(err, "directory"));
}

static void test_another_programs_sqlite_file_is_refused_and_left_alone(void **state)
{
	struct fx *f = *state;
	char path[160], err[512] = "";
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	snprintf(path, sizeof(path), "%s/safehouse.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE outbox(seq INTEGER); PRAGMA user_version=7",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_null(sstore_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "another program's"));
	/* nothing of the station's was added */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

#ifdef SH_WITH_POSTGRESQL
static void test_an_unreachable_postgresql_server_is_named_without_its_password(void **state)
{
	char err[512] = "";

	(void)state;
	/* port 1 on loopback: refused at once */
	assert_null(
	    sstore_open("postgresql://station:s3cr3t-pw@127.0.0.1:1/militia", err, sizeof(err)));
	assert_non_null(strstr(err, "cannot connect to PostgreSQL station@127.0.0.1:1/militia"));
	assert_null(strstr(err, "s3cr3t-pw"));
	/* not SQLite either: no file of that name appears */
	assert_int_equal(access("postgresql:", F_OK), -1);
}

static void test_a_malformed_postgresql_url_is_refused_without_its_password(void **state)
{
	char err[512] = "";

	(void)state;
	assert_int_equal(sstore_check("postgresql://station:s3cr3t-pw@127.0.0.1:5432/db?bogus=1",
	                              err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "not a valid PostgreSQL URL"));
	assert_null(strstr(err, "s3cr3t-pw"));
	assert_int_equal(sstore_check("postgres://station:pw@db.example/station", err, sizeof(err)),
	                 0);
	assert_int_equal(sstore_check("/var/lib/safehouse-station/station.db", err, sizeof(err)),
	                 0);
}

/* ---- PostgreSQL only ---- */

/* Two stations write the same two rows in opposite orders: PostgreSQL
 * kills one transaction (a deadlock). Its store says so as "lost" (the
 * writes will work again), and the next begin works. */
static void test_pg_a_deadlock_with_another_station_is_said_and_passes(void **state)
{
	struct fx *f = *state;
	char err[512];
	int status, mine;
	pid_t child;

	assert_int_equal(sstore_begin(f->s), 0);
	assert_int_equal(sstore_feed_put(f->s, "nt-a", 2, "t", 1, 1, "{}"), 1);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct sstore *o = sstore_open(f->target, err, sizeof(err));
		int rc;
		if (!o || sstore_begin(o) < 0 ||
		    sstore_feed_put(o, "nt-a", 1, "t", 1, 1, "{}") != 1)
			_exit(3);
		usleep(300 * 1000);
		rc = sstore_feed_put(o, "nt-a", 2, "t", 1, 1, "{}");
		if (rc < 0)
			_exit(sstore_lost(o) ? 1 : 4);
		_exit(sstore_commit(o) == 0 ? 0 : sstore_lost(o) ? 1 : 5);
	}
	usleep(150 * 1000);
	/* waits for the child's row 1, while the child waits for our row 2 */
	mine = sstore_feed_put(f->s, "nt-a", 1, "t", 1, 1, "{}");
	if (mine < 0) {
		assert_int_equal(sstore_lost(f->s), 1);
		sstore_rollback(f->s);
	} else {
		assert_int_equal(sstore_commit(f->s), 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	/* exactly one of the two lost its transaction, and said so */
	assert_int_equal((mine < 0) + (WEXITSTATUS(status) == 1), 1);
	assert_true(WEXITSTATUS(status) <= 1);
	/* and the loser's next begin works */
	assert_int_equal(sstore_begin(f->s), 0);
	assert_int_equal(sstore_lost(f->s), 0);
	assert_true(sstore_feed_put(f->s, "nt-a", 3, "t", 1, 1, "{}") == 1);
	assert_int_equal(sstore_commit(f->s), 0);
}

static void test_pg_the_schema_has_a_version_table(void **state)
{
	struct fx *f = *state;
	PGresult *r = pg_sql("SELECT version FROM station_schema");

	assert_string_equal(sstore_backend_name(f->s), "postgresql");
	assert_int_equal(PQntuples(r), 1);
	assert_true(atoi(PQgetvalue(r, 0, 0)) >= 1);
	PQclear(r);
	/* a second open finds it done and leaves one row */
	reopen(f);
	r = pg_sql("SELECT count(*) FROM station_schema");
	assert_string_equal(PQgetvalue(r, 0, 0), "1");
	PQclear(r);
}

static void test_pg_an_older_change_never_overwrites_a_newer_one(void **state)
{
	struct fx *f = *state;
	struct salarm newer = alarm_of("nt-a", 4, 1000, 0), older = newer;
	struct seen *v = calloc(1, sizeof(*v));

	/* another station stored the acknowledgment (seq 110) first */
	strcpy(newer.state, "acknowledged");
	newer.seq = 110;
	newer.acked_ms = 2000;
	older.seq = 104;
	assert_int_equal(sstore_alarm_put(f->s, &newer), 0);
	assert_int_equal(sstore_alarm_put(f->s, &older), 0);
	assert_int_equal(sstore_site_alarms(f->s, "nt-a", 10, on_alarm, v), 0);
	assert_int_equal(v->nalarms, 1);
	assert_string_equal(v->alarms[0].state, "acknowledged");
	assert_int_equal(v->alarms[0].seq, 110);
	/* a station alarm (seq 0): the later update wins */
	newer = alarm_of("nt-a", -5, 1000, 0);
	newer.seq = 0;
	newer.updated_ms = 3000;
	strcpy(newer.state, "cleared");
	older = newer;
	older.updated_ms = 1000;
	strcpy(older.state, "raised");
	assert_int_equal(sstore_alarm_put(f->s, &newer), 0);
	assert_int_equal(sstore_alarm_put(f->s, &older), 0);
	v->nalarms = 0;
	assert_int_equal(sstore_site_alarms(f->s, "nt-a", 10, on_alarm, v), 0);
	assert_int_equal(v->nalarms, 2);
	/* newest first: same raised time, higher id first */
	assert_int_equal(v->alarms[1].id, -5);
	assert_string_equal(v->alarms[1].state, "cleared");
	free(v);
}

static void test_pg_a_killed_connection_fails_the_commit_and_the_next_begin_reconnects(void **state)
{
	struct fx *f = *state;

	assert_int_equal(sstore_begin(f->s), 0);
	assert_int_equal(sstore_feed_put(f->s, "nt-a", 1, "t", 1, 1, "{}"), 1);
	/* the server ends the store's session, as a restart would */
	PQclear(pg_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	               "WHERE application_name = 'safehouse-station'"));
	assert_true(sstore_feed_put(f->s, "nt-a", 2, "t", 1, 1, "{}") < 0 ||
	            sstore_commit(f->s) < 0);
	assert_int_equal(sstore_lost(f->s), 1);
	sstore_rollback(f->s);
	/* reconnects are spaced (a few seconds); wait for one */
	for (int i = 0; i < 100 && sstore_begin(f->s) < 0; i++)
		usleep(100 * 1000);
	assert_int_equal(sstore_lost(f->s), 0);
	/* nothing of the lost transaction was stored */
	assert_int_equal(sstore_feed_put(f->s, "nt-a", 1, "t", 1, 1, "{}"), 1);
	assert_int_equal(sstore_commit(f->s), 0);
	assert_int_equal(sstore_feed_count(f->s), 1);
}

#else
static void test_a_postgresql_url_is_refused_by_a_build_without_it(void **state)
{
	char err[512] = "";

	(void)state;
	assert_null(
	    sstore_open("postgresql://station:s3cr3t-pw@127.0.0.1:1/militia", err, sizeof(err)));
	assert_non_null(strstr(err, "built without PostgreSQL"));
	assert_null(strstr(err, "s3cr3t-pw"));
	assert_int_equal(access("postgresql:", F_OK), -1);
	assert_int_equal(sstore_check("postgres://station:pw@db/station", err, sizeof(err)),
	                 -EINVAL);
}
#endif

static void test_a_new_file_is_private_and_has_a_schema_version(void **state)
{
	struct fx *f = *state;
	struct stat st;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	char mode[16];

	assert_string_equal(sstore_backend_name(f->s), "sqlite");
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_true(sqlite3_column_int(q, 0) >= 1);
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 0x53485354);
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(q, 0));
	assert_string_equal(mode, "wal");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static int on_user(void *ctx, const char *name, const char *role)
{
	char *out = ctx;

	strcat(out, name);
	strcat(out, ":");
	strcat(out, role);
	strcat(out, " ");
	return 0;
}

static void test_users_are_written_read_listed_and_deleted(void **state)
{
	struct fx *f = *state;
	char role[16], hash[160], list[256] = "";

	assert_int_equal(sstore_user_get(f->s, "lan", role, sizeof(role), hash, sizeof(hash)),
	                 -ENOENT);
	assert_int_equal(sstore_user_put(f->s, "lan", "officer", "$argon2id$x"), 0);
	assert_int_equal(sstore_user_put(f->s, "binh", "viewer", "$argon2id$y"), 0);
	assert_int_equal(sstore_user_put(f->s, "lan", "officer", "$argon2id$z"), 0);
	assert_int_equal(sstore_user_get(f->s, "lan", role, sizeof(role), hash, sizeof(hash)), 0);
	assert_string_equal(role, "officer");
	assert_string_equal(hash, "$argon2id$z");
	assert_int_equal(sstore_users(f->s, on_user, list), 0);
	assert_string_equal(list, "binh:viewer lan:officer ");
	assert_int_equal(sstore_user_del(f->s, "lan"), 0);
	assert_int_equal(sstore_user_del(f->s, "lan"), -ENOENT);
	/* the schema refuses a role that is neither */
	assert_true(sstore_user_put(f->s, "x", "admin", "h") < 0);
}

int main(int argc, char **argv)
{
#ifdef SH_WITH_POSTGRESQL
	const struct CMUnitTest pg_tests[] = {
	    cmocka_unit_test_setup_teardown(test_the_same_feed_message_twice_is_kept_once, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_alarms_not_yet_reset_come_back_after_a_reopen_oldest_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_site_comes_back_whole_with_its_status_and_geo,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_journal_reads_newest_first_per_site_or_all,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_sites_alarms_come_newest_first_and_at_most_limit,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_users_are_written_read_listed_and_deleted, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_pg_the_schema_has_a_version_table, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pg_a_deadlock_with_another_station_is_said_and_passes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pg_an_older_change_never_overwrites_a_newer_one,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pg_a_killed_connection_fails_the_commit_and_the_next_begin_reconnects, setup,
	        teardown),
	};
#endif
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_the_same_feed_message_twice_is_kept_once, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_alarms_not_yet_reset_come_back_after_a_reopen_oldest_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_site_comes_back_whole_with_its_status_and_geo,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_journal_reads_newest_first_per_site_or_all,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_sites_alarms_come_newest_first_and_at_most_limit,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_file_that_is_not_a_database_is_refused_saying_so,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_another_programs_sqlite_file_is_refused_and_left_alone, setup, teardown),
#ifdef SH_WITH_POSTGRESQL
	    cmocka_unit_test(test_an_unreachable_postgresql_server_is_named_without_its_password),
	    cmocka_unit_test(test_a_malformed_postgresql_url_is_refused_without_its_password),
#else
	    cmocka_unit_test(test_a_postgresql_url_is_refused_by_a_build_without_it),
#endif
	    cmocka_unit_test_setup_teardown(test_a_new_file_is_private_and_has_a_schema_version,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_users_are_written_read_listed_and_deleted, setup,
	                                    teardown),
	};
#ifdef SH_WITH_POSTGRESQL
	if (argc > 1) {
		pg_url = argv[1];
		return cmocka_run_group_tests_name("postgresql", pg_tests, NULL, NULL);
	}
#else
	(void)argc;
	(void)argv;
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
