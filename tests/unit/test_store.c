/*
 * test_store.c: the SQLite store on real files in a temp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/store.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/sh-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int64_t scalar(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

struct sent {
	int n;
	int64_t seq[8];
	char payload[8][128];
};

static int collect_sent(void *ctx, int64_t seq, const char *topic, const char *payload, int qos,
                        int retain)
{
	struct sent *x = ctx;
	(void)topic;
	(void)qos;
	(void)retain;
	if (x->n < 8) {
		x->seq[x->n] = seq;
		snprintf(x->payload[x->n], sizeof(x->payload[0]), "%s", payload);
	}
	x->n++;
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The disk refuses writes (here: a file-size limit, so that no write may
 * grow the database or its WAL; the kernel answers EFBIG as a full disk
 * answers ENOSPC). Nothing is lost: the failed commit is kept in memory,
 * the outbox row is offered from memory marked "durable":false, the
 * store says it is failing, and once writes are possible again everything
 * lands on the disk with its own seq. */
static void test_a_disk_that_refuses_writes_loses_nothing_and_skips_no_seq(void **state)
{
	struct fixture *f = *state;
	char err[256], wal[160];
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	struct store_health h;
	struct store_alarm a = {.cls = ALARM_FIRE,
	                        .zone = "room-101",
	                        .sensor = "smoke-101",
	                        .state = ALARM_RAISED,
	                        .active = 1,
	                        .cause_active = 1,
	                        .raised_ms = 1000,
	                        .updated_ms = 1000};
	struct sent x = {0};
	struct rlimit old, lim;
	int64_t seq1, seq2;
	off_t cap;

	assert_non_null(s);
	seq1 = store_outbox_next_seq(s);
	assert_int_equal(store_outbox_add(s, seq1, "alarm", "upstream", NULL, 0, "t/alarm",
	                                  "{\"n\":1}", 1, 0, 1),
	                 0);
	assert_int_equal(store_commit(s), 0);

	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	cap = file_size(f->path) > file_size(wal) ? file_size(f->path) : file_size(wal);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)cap;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	/* Enough rows that the WAL must grow past what it holds. */
	assert_int_equal(store_alarm_insert(s, &a), 0);
	for (int i = 0; i < 200; i++)
		store_event(s, 2000 + i, "test", "reading", "smoke-101", "smoke", 1, i,
		            "a reading that must not be lost while the disk is full");
	seq2 = store_outbox_next_seq(s);
	assert_int_equal(store_outbox_add(s, seq2, "alarm", "upstream", NULL, a.id, "t/alarm",
	                                  "{\"n\":2}", 1, 0, 2),
	                 0);
	assert_int_equal(store_commit(s), -1);
	store_health(s, &h);
	assert_true(h.failing);
	assert_true(h.error[0] != 0);
	assert_true(h.held > 200);

	/* Offered from memory, after the durable row, each once. */
	assert_int_equal(store_outbox_foreach_pending(s, "upstream", 0, 10, collect_sent, &x), 2);
	assert_int_equal(x.seq[0], seq1);
	assert_string_equal(x.payload[0], "{\"n\":1}");
	assert_int_equal(x.seq[1], seq2);
	assert_string_equal(x.payload[1], "{\"n\":2,\"durable\":false}");

	/* Space again: the next commit after the retry delay writes it all. */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	for (int i = 0; i < 100 && store_commit(s) != 0; i++)
		usleep(50 * 1000);
	store_health(s, &h);
	assert_false(h.failing);
	assert_int_equal(h.failures, 1);
	store_close(s);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(scalar(f->path, "SELECT count(*) FROM outbox"), 2);
	assert_int_equal(scalar(f->path, "SELECT max(seq) - min(seq) + 1 FROM outbox"), 2);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM alarms WHERE class='fire'"), 1);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events WHERE type='reading'"), 200);
}

static void test_new_database_gets_the_current_schema_in_wal_mode(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	store_close(s);
	assert_int_equal(scalar(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM sqlite_master WHERE name IN "
	                                 "('events','alarms','outbox','sensors')"),
	                 4);
	{
		sqlite3 *db;
		sqlite3_stmt *st;
		sqlite3_open(f->path, &db);
		sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

static void test_database_from_a_newer_daemon_is_refused_untouched(void **state)
{
	struct fixture *f = *state;
	char err[256];
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(f->path, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(scalar(f->path, "PRAGMA user_version"), 99);
}

static void test_uncommitted_events_become_visible_only_after_commit(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	for (int i = 0; i < 100; i++)
		assert_int_equal(store_event(s, 1700000000000LL + i, "door-main", "reading",
		                             "door-main", "contact", 1, i & 1, NULL),
		                 0);
	assert_int_equal(store_uncommitted(s), 100);
	/* Another connection (an inspector's report) sees nothing yet. */
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events"), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_uncommitted(s), 0);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events"), 100);
	store_close(s);
}

static void test_outbox_seq_only_grows_across_restarts(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	int64_t a, b, c;
	assert_non_null(s);
	a = store_outbox_next_seq(s);
	assert_int_equal(
	    store_outbox_add(s, a, "alarm", "upstream", NULL, 1, "t/alarm", "{}", 1, 0, 1), 0);
	b = store_outbox_next_seq(s);
	assert_int_equal(
	    store_outbox_add(s, b, "alert", "upstream", NULL, 1, "t/alert", "{}", 1, 0, 1), 0);
	assert_true(b > a);
	store_close(s);
	s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	c = store_outbox_next_seq(s);
	assert_true(c > b);
	store_close(s);
}

static int collect(void *ctx, int64_t seq, const char *topic, const char *payload, int qos,
                   int retain)
{
	int64_t *seen = ctx;
	(void)topic;
	(void)payload;
	(void)qos;
	(void)retain;
	seen[seen[0] + 1] = seq;
	seen[0]++;
	return 0;
}

static void test_outbox_keeps_undelivered_messages_in_order_until_acknowledged(void **state)
{
	struct fixture *f = *state;
	char err[256];
	int64_t seen[8] = {0};
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	for (int i = 0; i < 3; i++) {
		int64_t q = store_outbox_next_seq(s);
		assert_int_equal(
		    store_outbox_add(s, q, "alarm", "upstream", NULL, 1, "t", "{}", 1, 0, 1), 0);
	}
	assert_int_equal(store_outbox_add(s, store_outbox_next_seq(s), "alert", "sms", "owner", 1,
	                                  "t", "{}", 1, 0, 1),
	                 0);
	assert_int_equal(store_outbox_delivered(s, 2, 5), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	/* A power cut later: what was not acknowledged is still there. */
	s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_outbox_pending_count(s, "upstream"), 2);
	assert_int_equal(store_outbox_pending_count(s, "sms"), 1);
	assert_int_equal(store_outbox_foreach_pending(s, "upstream", 0, 10, collect, seen), 2);
	assert_int_equal(seen[1], 1);
	assert_int_equal(seen[2], 3);
	store_close(s);
}

static void note_contact(void *ctx, const char *contact)
{
	strcat((char *)ctx, contact);
	strcat((char *)ctx, ";");
}

static int note_state(void *ctx, const struct store_outbox_row *r)
{
	int *states = ctx;
	if (r->seq >= 0 && r->seq < 4 && r->due_ms == 0)
		states[r->seq] = (int)r->state;
	return 0;
}

/* A database written by the first release: schema 1, one alarm alerted to
 * the militia. The upgrade must keep its rows and know whom it alerted. */
static void test_version_1_database_is_upgraded_in_place_keeping_its_rows(void **state)
{
	struct fixture *f = *state;
	char err[256], seen[64] = "";
	sqlite3 *db;
	struct store *s;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(
	        db,
	        "CREATE TABLE events(id INTEGER PRIMARY KEY, at TEXT NOT NULL, at_ms INTEGER "
	        "NOT NULL, origin TEXT NOT NULL, type TEXT NOT NULL, sensor TEXT, point TEXT, "
	        "value REAL, detail TEXT);"
	        "CREATE TABLE alarms(id INTEGER PRIMARY KEY AUTOINCREMENT, class TEXT NOT "
	        "NULL, zone TEXT, sensor TEXT, rule TEXT, message TEXT, state TEXT NOT NULL, "
	        "active INTEGER NOT NULL, cause_active INTEGER NOT NULL, raised_at TEXT NOT "
	        "NULL, raised_ms INTEGER NOT NULL, updated_at TEXT NOT NULL, updated_ms "
	        "INTEGER NOT NULL, acked_by TEXT, reset_by TEXT, siren TEXT);"
	        "CREATE TABLE outbox(seq INTEGER PRIMARY KEY, channel TEXT NOT NULL, contact "
	        "TEXT, alarm INTEGER, topic TEXT NOT NULL, payload TEXT NOT NULL, qos INTEGER "
	        "NOT NULL, retain INTEGER NOT NULL, created_at TEXT NOT NULL, delivered_at "
	        "TEXT);"
	        "CREATE TABLE sensors(id TEXT PRIMARY KEY, last_seen TEXT, online INTEGER, "
	        "battery REAL, last_values TEXT);"
	        "INSERT INTO outbox VALUES(1,'upstream',NULL,7,'s/t/alarm','{}',1,0,'x',NULL);"
	        "INSERT INTO outbox VALUES(2,'upstream','militia',7,'s/t/alert','{}',1,0,'x',"
	        "NULL);"
	        "INSERT INTO outbox VALUES(3,'upstream','owner',7,'s/t/alert','{}',1,0,'x','y');"
	        "PRAGMA user_version=1;",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_outbox_pending_count(s, "upstream"), 2);
	assert_int_equal(store_outbox_alerted(s, 7, note_contact, seen), 0);
	assert_string_equal(seen, "militia;owner;");
	assert_int_equal(store_outbox_next_seq(s), 4);
	/* Schema 5: the pending rows are pending and due, the delivered one is
	 * delivered. */
	{
		int states[4] = {-1, -1, -1, -1};
		assert_int_equal(store_outbox_list(s, 1, 10, note_state, states), 3);
		assert_int_equal(states[1], OUTBOX_PENDING);
		assert_int_equal(states[2], OUTBOX_PENDING);
		assert_int_equal(states[3], OUTBOX_DELIVERED);
	}
	store_close(s);
	assert_int_equal(scalar(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

static void test_panel_state_survives_a_reopen(void **state)
{
	struct fixture *f = *state;
	char err[256], v[32];
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_state_get(s, "mode", v, sizeof(v)), -1);
	assert_int_equal(store_state_set(s, "mode", "armed_night", 1), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_state_get(s, "mode", v, sizeof(v)), 0);
	assert_string_equal(v, "armed_night");
	store_close(s);
}

struct sensor_rows {
	int n;
	char ids[4][16];
	char values[4][64];
};

static void collect_sensor(void *ctx, const char *id, const char *values_json)
{
	struct sensor_rows *r = ctx;
	if (r->n < 4) {
		snprintf(r->ids[r->n], sizeof(r->ids[0]), "%s", id);
		snprintf(r->values[r->n], sizeof(r->values[0]), "%s", values_json);
	}
	r->n++;
}

/* What the daemon restores at start: the last saved row of each sensor. */
static void test_saved_sensor_states_are_read_back_after_a_reopen(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct sensor_rows r = {0};
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_sensor_foreach(s, collect_sensor, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(store_sensor_save(s, "smoke-101", 1000, 1, 1, 90, "{\"smoke\":0}"), 0);
	assert_int_equal(store_sensor_save(s, "door-main", 1000, 1, 0, 0, "{\"contact\":1}"), 0);
	assert_int_equal(store_sensor_save(s, "smoke-101", 2000, 1, 1, 90, "{\"smoke\":1}"), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_sensor_foreach(s, collect_sensor, &r), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.ids[0], "door-main");
	assert_string_equal(r.values[0], "{\"contact\":1}");
	assert_string_equal(r.ids[1], "smoke-101");
	assert_string_equal(r.values[1], "{\"smoke\":1}");
	store_close(s);
}

static void on_committed(void *ctx, int rc)
{
	int *flag = ctx;
	*flag = rc == 0 ? 1 : -1;
}

/* Threaded: the caller never waits for the disk; the commit is reported
 * through the fd, and only then are the rows there for readers. */
static void test_threaded_commit_is_reported_through_the_fd_once_durable(void **state)
{
	struct fixture *f = *state;
	char err[256];
	int done = 0;
	struct pollfd pfd;
	struct store_alarm a = {.cls = ALARM_FIRE,
	                        .zone = "room-101",
	                        .state = ALARM_RAISED,
	                        .active = 1,
	                        .raised_ms = 1,
	                        .updated_ms = 1};
	struct store *s = store_open(f->path, STORE_THREADED, err, sizeof(err));
	assert_non_null(s);
	assert_true(store_fd(s) >= 0);
	assert_int_equal(store_alarm_insert(s, &a), 0);
	assert_int_equal(a.id, 1); /* known at once, before the disk has it */
	assert_int_equal(store_outbox_add(s, store_outbox_next_seq(s), "alarm", "upstream", NULL,
	                                  a.id, "t/alarm", "{}", 1, 0, 1),
	                 0);
	assert_int_equal(store_commit_then(s, on_committed, &done), 0);
	pfd = (struct pollfd){store_fd(s), POLLIN, 0};
	while (!done) {
		assert_true(poll(&pfd, 1, 10000) == 1);
		store_dispatch(s);
	}
	assert_int_equal(done, 1);
	assert_int_equal(store_outbox_pending_count(s, "upstream"), 1);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM alarms"), 1);
	/* a burst of events is committed by the writer on its own */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(store_event(s, i, "door-main", "reading", "door-main", "contact",
		                             1, i & 1, NULL),
		                 0);
	store_close(s);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events"), 1000);
}

/* A lone write (a delivery mark) is committed by the writer's own batch
 * timer, without any barrier to wake it. */
static void test_threaded_lone_write_is_committed_without_a_barrier(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *s = store_open(f->path, STORE_THREADED, err, sizeof(err));
	int pending = -1;
	assert_non_null(s);
	assert_int_equal(store_outbox_add(s, store_outbox_next_seq(s), "alarm", "upstream", NULL, 1,
	                                  "t/alarm", "{}", 1, 0, 1),
	                 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_outbox_pending_count(s, "upstream"), 1);
	assert_int_equal(store_outbox_delivered(s, 1, 2), 0);
	/* wait for the condition, up to 10 s: a noisy machine is no failure */
	for (int i = 0; i < 1000 && pending != 0; i++) {
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
		pending = store_outbox_pending_count(s, "upstream");
	}
	assert_int_equal(pending, 0);
	store_close(s);
}

static void test_time_format_is_rfc3339_utc_with_milliseconds(void **state)
{
	char buf[32];
	(void)state;
	store_format_time(1764374645123LL, buf, sizeof(buf));
	assert_string_equal(buf, "2025-11-29T00:04:05.123Z");
}

/* Every event row's time is formatted by hand (not gmtime and strftime):
 * the same text as they give, at the calendar's edges too, and for times
 * outside 1970..9999 (which still go through them). */
static void test_time_format_matches_gmtime_at_calendar_edges(void **state)
{
	static const int64_t ms[] = {0,
	                             999,
	                             86399999,
	                             86400000,
	                             951782399999LL,  /* 2000-02-28T23:59:59.999 */
	                             951782400000LL,  /* 2000-02-29, a leap century */
	                             4107542399999LL, /* 2100-02-28T23:59:59.999 */
	                             4107542400000LL, /* 2100-03-01: no leap day */
	                             1735689599999LL, /* 2024-12-31T23:59:59.999 */
	                             1764374645123LL,
	                             253402300799999LL, /* 9999-12-31T23:59:59.999 */
	                             253402300800000LL, /* year 10000 */
	                             -1,
	                             -86400001};
	(void)state;
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		char got[40], want[40], tmp[32];
		time_t sec = (time_t)(ms[i] / 1000);
		struct tm tm;
		gmtime_r(&sec, &tm);
		strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want, sizeof(want), "%s.%03dZ", tmp, (int)(ms[i] % 1000));
		store_format_time(ms[i], got, sizeof(got));
		assert_string_equal(got, want);
	}
	/* every millisecond of a day and a year's days, spot by spot */
	for (int64_t t = 1700000000000LL; t < 1700000000000LL + 400LL * 86400000; t += 86399937) {
		char got[40], want[40], tmp[32];
		time_t sec = (time_t)(t / 1000);
		struct tm tm;
		gmtime_r(&sec, &tm);
		strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want, sizeof(want), "%s.%03dZ", tmp, (int)(t % 1000));
		store_format_time(t, got, sizeof(got));
		assert_string_equal(got, want);
	}
}

/* Readings go to the writer in batches (store_flush) and their ops are
 * used again after each commit; an alarm in the middle goes at once with
 * the readings before it. Every row lands once, in order, chained and
 * verifiable, long ones (whose strings do not fit a reused op, and whose
 * hash is taken piece by piece) included. */
static void test_threaded_batched_readings_land_in_order_with_an_alarm_between(void **state)
{
	struct fixture *f = *state;
	char err[256], detail[1500];
	struct store_verify_result r;
	struct store_alarm a = {.cls = ALARM_FIRE,
	                        .zone = "room-101",
	                        .state = ALARM_RAISED,
	                        .active = 1,
	                        .raised_ms = 1,
	                        .updated_ms = 1};
	struct store *s = store_open(f->path, STORE_THREADED, err, sizeof(err));
	assert_non_null(s);
	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = 0;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 3000; i++) {
			int64_t at = 1700000000000LL + round * 3000 + i;
			assert_int_equal(store_event(s, at, "door-main", "reading", "door-main",
			                             "contact", 1, i & 1, i == 7 ? detail : NULL),
			                 0);
			if (round == 1 && i == 1500)
				assert_int_equal(store_alarm_insert(s, &a), 0);
			if (i % 100 == 99)
				store_flush(s); /* as the loop does once per iteration */
		}
		/* the writer commits them and hands the ops back */
		assert_int_equal(store_commit(s), 0);
		store_flush(s);
	}
	store_close(s);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events WHERE type='reading'"), 9000);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM alarms"), 1);
	/* ids follow the times: nothing overtook anything */
	assert_int_equal(scalar(f->path,
	                        "SELECT count(*) FROM events a JOIN events b ON b.id = a.id "
	                        "+ 1 WHERE a.type='reading' AND b.type='reading' AND b.at_ms "
	                        "<= a.at_ms"),
	                 0);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events WHERE length(detail) = 1499"),
	                 3);
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.first_bad_row, 0);
}

struct seen_alarm {
	int n;
	struct store_alarm a;
};

static void keep_alarm(void *ctx, const struct store_alarm *a)
{
	struct seen_alarm *s = ctx;
	s->n++;
	s->a = *a;
	s->a.zone = s->a.sensor = s->a.rule = s->a.message = NULL; /* valid only here */
	s->a.acked_by = s->a.reset_by = NULL;
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* The class, state and siren columns hold the same words as ever: the
 * database stays readable by older tools and reports. */
static void test_alarm_class_state_and_siren_are_stored_by_name(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct seen_alarm seen = {0};
	struct store_alarm a = {.cls = ALARM_FIRE,
	                        .zone = "room-101",
	                        .state = ALARM_RAISED,
	                        .active = 1,
	                        .siren = SIREN_BURGLAR};
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_alarm_insert(s, &a), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM alarms WHERE class='fire' AND "
	                                 "state='raised' AND siren='burglar'"),
	                 1);
	a.state = ALARM_SILENCED;
	a.siren = SIREN_OFF;
	assert_int_equal(store_alarm_update(s, &a), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM alarms WHERE state='silenced' AND "
	                                 "siren IS NULL"),
	                 1);
	assert_int_equal(store_alarm_foreach(s, 1, 0, keep_alarm, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.a.cls, ALARM_FIRE);
	assert_int_equal(seen.a.state, ALARM_SILENCED);
	assert_int_equal(seen.a.siren, SIREN_OFF);
	store_close(s);
}

static void test_damaged_alarm_state_reads_as_raised_and_unknown_class_is_skipped(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct seen_alarm seen = {0};
	struct store_alarm a = {.cls = ALARM_FIRE, .state = ALARM_CLEARED, .active = 1};
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_alarm_insert(s, &a), 0);
	assert_int_equal(store_commit(s), 0);
	exec_sql(f->path, "UPDATE alarms SET state='bogus', siren='klaxon'");
	assert_int_equal(store_alarm_foreach(s, 1, 0, keep_alarm, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.a.state, ALARM_RAISED);
	assert_int_equal(seen.a.siren, SIREN_FIRE); /* an unknown pattern still sounds */
	exec_sql(f->path, "UPDATE alarms SET class='meteor'");
	seen.n = 0;
	assert_int_equal(store_alarm_foreach(s, 1, 0, keep_alarm, &seen), 0);
	assert_int_equal(seen.n, 0);
	store_close(s);
}

/* ---- the event log's hash chain ---------------------------------------------- */

/* n events a minute apart from t0, in an inline store, committed. */
static struct store *log_of(const char *path, int n, int64_t t0)
{
	char err[256], detail[64];
	struct store *s = store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	for (int i = 0; i < n; i++) {
		snprintf(detail, sizeof(detail), "event %d", i + 1);
		assert_int_equal(store_event(s, t0 + (int64_t)i * 60000, "test", "reading",
		                             "smoke1", "smoke", 1, i * 0.5, detail),
		                 0);
	}
	assert_int_equal(store_commit(s), 0);
	return s;
}

static void test_event_rows_are_hash_chained_and_verify(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	char head[STORE_HASH_HEX];
	int64_t row;
	struct store *s = log_of(f->path, 20, 1700000000000);
	store_chain_head(s, &row, head);
	store_close(s);
	assert_int_equal(row, 20);
	assert_int_equal(strlen(head), 64);
	assert_int_equal(scalar(f->path, "SELECT count(DISTINCT hash) FROM events"), 20);
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.rows, 20);
	assert_int_equal(r.head_row, 20);
	assert_string_equal(r.head_hash, head);
	assert_int_equal(r.first_bad_row, 0);
}

static void test_a_reopened_log_chains_on_from_its_last_row(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	char err[256];
	struct store *s = log_of(f->path, 3, 1700000000000);
	store_close(s);
	s = store_open(f->path, STORE_THREADED, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_event(s, 1700000300000, "test", "mode", NULL, NULL, 0, 0, "away"),
	                 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.rows, 4);
}

static void test_an_edited_event_row_fails_verify_at_that_row(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	store_close(log_of(f->path, 10, 1700000000000));
	exec_sql(f->path, "UPDATE events SET detail='nothing happened' WHERE id=6");
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.first_bad_row, 6);
	assert_non_null(strstr(r.reason, "row 6"));
	assert_int_equal(r.head_row, 5); /* what verified before it */
}

static void test_an_edited_value_or_time_fails_verify_at_that_row(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	store_close(log_of(f->path, 10, 1700000000000));
	exec_sql(f->path, "UPDATE events SET value=0 WHERE id=9");
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.first_bad_row, 9);
	exec_sql(f->path, "UPDATE events SET at_ms=at_ms+1 WHERE id=3");
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_int_equal(r.first_bad_row, 3);
}

static void test_a_deleted_event_row_fails_verify_naming_the_gap(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	store_close(log_of(f->path, 10, 1700000000000));
	exec_sql(f->path, "DELETE FROM events WHERE id=4");
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.first_bad_row, 4);
	assert_non_null(strstr(r.reason, "missing"));
}

static void test_deleting_the_first_rows_fails_verify(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	store_close(log_of(f->path, 10, 1700000000000));
	exec_sql(f->path, "DELETE FROM events WHERE id<=2");
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.first_bad_row, 1);
}

static void test_pruning_keeps_the_log_verifiable(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	int64_t t0 = 1700000000000;
	/* 5000 rows a minute apart: more than one retention step. */
	struct store *s = log_of(f->path, 5000, t0);
	assert_int_equal(store_prune(s, t0 + 4000 * 60000), 4000);
	assert_int_equal(store_event(s, t0 + 5000 * 60000, "test", "mode", NULL, NULL, 0, 0, "x"),
	                 0);
	assert_int_equal(store_commit(s), 0);
	{
		int64_t bytes, oldest;
		assert_int_equal(store_db_info(s, &bytes, &oldest), 0);
		assert_true(bytes > 0);
		assert_int_equal(oldest, t0 + 4000 * 60000); /* the anchor is not an event */
	}
	/* Pruning again (nothing left to prune, then more) still verifies. */
	assert_int_equal(store_prune(s, t0 + 4000 * 60000), 0);
	assert_int_equal(store_prune(s, t0 + 4500 * 60000), 500);
	store_close(s);
	assert_int_equal(scalar(f->path, "SELECT min(id) FROM events"), 4500);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events"), 502);
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.head_row, 5001);
	assert_int_equal(r.pruned_ms, t0 + 4499 * 60000);
	/* The anchor's recorded hash is what it stands for: change it and
	 * verify says so. */
	exec_sql(f->path, "UPDATE events SET detail=replace(detail, '\"hash\":\"', "
	                  "'\"hash\":\"0') WHERE id=4500");
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.first_bad_row, 4500);
}

static void test_pruning_never_removes_the_last_row_or_other_tables(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	struct store_alarm a = {.cls = ALARM_FIRE,
	                        .state = ALARM_RAISED,
	                        .active = 1,
	                        .raised_ms = 1,
	                        .updated_ms = 1,
	                        .siren = SIREN_FIRE};
	struct store *s = log_of(f->path, 5, 1700000000000);
	assert_int_equal(store_alarm_insert(s, &a), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_prune(s, INT64_MAX), 4);
	store_close(s);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM alarms"), 1);
	assert_int_equal(scalar(f->path, "SELECT max(id) FROM events"), 5);
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_true(r.ok);
}

/* A schema 5 database with events: the upgrade starts the chain after
 * them, and verify checks from there on. */
static void test_an_upgraded_log_is_chained_from_a_chain_start_row(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	char err[256];
	struct store *s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	store_close(s);
	exec_sql(f->path, "ALTER TABLE events DROP COLUMN hash; PRAGMA user_version=5;"
	                  "INSERT INTO events(at, at_ms, origin, type) VALUES('a',1,'o','t'),"
	                  "('b',2,'o','t'),('c',3,'o','t');");
	s = store_open(f->path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_event(s, 4, "test", "mode", NULL, NULL, 0, 0, "away"), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	assert_int_equal(scalar(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(scalar(f->path, "SELECT id FROM events WHERE type='log_chain_start'"), 4);
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.unchained, 3);
	assert_int_equal(r.rows, 2);
	assert_int_equal(r.head_row, 5);
	/* From the chain-start row on, an edit is found. */
	exec_sql(f->path, "UPDATE events SET detail='home' WHERE id=5");
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_int_equal(r.first_bad_row, 5);
}

static void test_verify_of_a_missing_file_says_why(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	char path[160];
	snprintf(path, sizeof(path), "%s/nope.db", f->dir);
	assert_int_equal(store_verify_file(path, &r), -1);
	assert_false(r.ok);
	assert_non_null(strstr(r.reason, "nope.db"));
}

static void verified(void *ctx, int rc)
{
	*(int *)ctx = rc == 0 ? 1 : -1;
}

static void test_threaded_verify_answers_through_the_fd(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	char err[256];
	int done = 0;
	struct store *s = store_open(f->path, STORE_THREADED, err, sizeof(err));
	assert_non_null(s);
	for (int i = 0; i < 50; i++)
		assert_int_equal(
		    store_event(s, 1700000000000 + i, "t", "reading", "x", "smoke", 1, i, NULL), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_verify(s, &r, verified, &done), 0);
	for (int i = 0; i < 500 && !done; i++) {
		struct pollfd p = {.fd = store_fd(s), .events = POLLIN};
		if (poll(&p, 1, 10) > 0)
			store_dispatch(s);
	}
	assert_int_equal(done, 1);
	assert_true(r.ok);
	assert_int_equal(r.rows, 50);
	store_close(s);
}

/* The daemon's retention runs on the writer thread, in steps: old events
 * go, recent ones stay, and the log still verifies. */
static void test_threaded_retention_prunes_old_events_in_steps(void **state)
{
	struct fixture *f = *state;
	struct store_verify_result r;
	char err[256];
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3 * 86400000LL;
	struct store *s = store_open(f->path, STORE_THREADED, err, sizeof(err));
	assert_non_null(s);
	for (int i = 0; i < 4500; i++) /* more than two steps */
		assert_int_equal(store_event(s, old + i, "t", "reading", "x", "smoke", 1, i, NULL),
		                 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(store_event(s, now + i, "t", "reading", "x", "smoke", 1, i, NULL),
		                 0);
	assert_int_equal(store_commit(s), 0);
	store_set_retention(s, 1);
	assert_int_equal(store_retention_run(s), 0);
	for (int i = 0; i < 500 && scalar(f->path, "SELECT count(*) FROM events") != 6; i++) {
		struct pollfd p = {.fd = store_fd(s), .events = POLLIN};
		if (poll(&p, 1, 10) > 0)
			store_dispatch(s);
	}
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events"), 6);
	assert_int_equal(scalar(f->path, "SELECT count(*) FROM events WHERE type='log_pruned'"), 1);
	store_close(s);
	assert_int_equal(store_verify_file(f->path, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.head_row, 4505);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_database_gets_the_current_schema_in_wal_mode,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_database_from_a_newer_daemon_is_refused_untouched,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_uncommitted_events_become_visible_only_after_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_disk_that_refuses_writes_loses_nothing_and_skips_no_seq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_seq_only_grows_across_restarts, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_outbox_keeps_undelivered_messages_in_order_until_acknowledged, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_version_1_database_is_upgraded_in_place_keeping_its_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_panel_state_survives_a_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_saved_sensor_states_are_read_back_after_a_reopen,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_threaded_commit_is_reported_through_the_fd_once_durable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threaded_lone_write_is_committed_without_a_barrier,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alarm_class_state_and_siren_are_stored_by_name,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_damaged_alarm_state_reads_as_raised_and_unknown_class_is_skipped, setup,
	        teardown),
	    cmocka_unit_test(test_time_format_is_rfc3339_utc_with_milliseconds),
	    cmocka_unit_test(test_time_format_matches_gmtime_at_calendar_edges),
	    cmocka_unit_test_setup_teardown(
	        test_threaded_batched_readings_land_in_order_with_an_alarm_between, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_threaded_retention_prunes_old_events_in_steps,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_rows_are_hash_chained_and_verify, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_a_reopened_log_chains_on_from_its_last_row, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_an_edited_event_row_fails_verify_at_that_row,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_edited_value_or_time_fails_verify_at_that_row,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_deleted_event_row_fails_verify_naming_the_gap,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deleting_the_first_rows_fails_verify, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_pruning_keeps_the_log_verifiable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pruning_never_removes_the_last_row_or_other_tables,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_upgraded_log_is_chained_from_a_chain_start_row,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_of_a_missing_file_says_why, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_threaded_verify_answers_through_the_fd, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
