/*
 * sstore.h: what the station keeps, behind one small interface.
 *
 * One backend per kind of database, each a const vtable (struct
 * sstore_backend): SQLite (sstore_sqlite.c, the default: one file, WAL) and
 * PostgreSQL (sstore_pg.c, libpq) for a district whose stations share a
 * server. sstore_open() picks the backend from the target: a libpq URL,
 * "postgresql://..." or "postgres://...", for PostgreSQL, anything else is
 * a SQLite file path. PostgreSQL calls are blocking: the loop stalls while
 * the server answers (at most connect_timeout, 5 s, on a reconnect).
 *
 * What is kept:
 *  - feed: every upstream message with a seq (alarm, alert, notify), once:
 *    the primary key is (site, seq), and an insert of a (site, seq) already
 *    there changes nothing and says so (the feed is at-least-once);
 *  - alarms: the latest state of each alarm of each site, (site, id);
 *    station-made alarms (lost contact) have negative ids;
 *  - sites: the directory plus what each site last said (status, heartbeat,
 *    first seen, lost contact);
 *  - events: the station's own journal (log-ins, acks sent, lost contact
 *    raised and cleared), append-only;
 *  - users: officers and viewers with Argon2id password hashes.
 *
 * Writes happen inside sstore_begin()/sstore_commit(): the ingest opens a
 * transaction on the first message of a read burst and commits it before
 * the broker is acknowledged (mqttc defer_acks), so a crash never loses a
 * message the broker believes delivered. All calls are made from the loop
 * thread. Every function returns 0 (or the documented positive value), or
 * a negative errno-style code after logging what failed.
 */
#ifndef SH_SSTORE_H
#define SH_SSTORE_H

#include <stddef.h>
#include <stdint.h>

#define SSTORE_ID_MAX 64

/* One alarm of one site, its latest state. Times are UTC epoch ms; 0 means
 * "not yet". Strings are always NUL-terminated (truncated to fit). */
struct salarm {
	char site[SSTORE_ID_MAX];
	int64_t id;     /* the gateway's alarm id; < 0: made by the station */
	char cls[16];   /* fire gas panic intrusion tamper supervisory fault lost_contact */
	char state[16]; /* raised acknowledged silenced cleared reset */
	char zone[SSTORE_ID_MAX];
	char zone_name[128];
	char sensor[SSTORE_ID_MAX];
	char rule[160];
	char message[384];
	char acked_by[96];
	int64_t raised_ms, acked_ms, silenced_ms, cleared_ms, reset_ms;
	int64_t updated_ms; /* the `at` of the latest change */
	int64_t seq;        /* feed seq of the latest change applied; 0 for station alarms */
};

/* One site. */
struct ssite {
	char id[SSTORE_ID_MAX];
	char name[128];
	char address[256];
	char phone[32];
	char group[SSTORE_ID_MAX];
	int has_geo;
	double lat, lon;
	int known;  /* in the station's directory (config), not only seen */
	int online; /* the retained status says online (0 after the will) */
	int lost_contact;
	int heartbeat_s;           /* from its heartbeats; 0 unknown */
	int64_t first_seen_ms;     /* first message of any kind */
	int64_t last_heartbeat_ms; /* station's clock at the last heartbeat */
	int64_t last_message_ms;   /* station's clock at the last message */
	int64_t lost_since_ms;
	char mode[16];
	int active_alarms, faults, disablements;
	int64_t log_row; /* the head of its event log, from heartbeats */
	char log_hash[65];
	char
	    *status_json; /* the last retained status, or NULL; owned by whoever holds the struct */
};

/* One line of the station's journal. */
struct sevent {
	int64_t at_ms;
	char site[SSTORE_ID_MAX]; /* "" when not about a site */
	char what[32]; /* login, login_failed, ack_sent, lost_contact, contact_back, ... */
	char by[64];   /* user, or "" */
	char detail[256];
};

struct sstore;

/* What a backend implements; b is the backend's own handle. */
struct sstore_backend {
	const char *name; /* "sqlite", "postgresql" */
	int (*open)(const char *target, void **b, char *err, size_t errlen);
	void (*close)(void *b);
	int (*begin)(void *b);
	int (*commit)(void *b);
	int (*rollback)(void *b);
	/* 1: inserted, 0: (site, seq) was already there. */
	int (*feed_put)(void *b, const char *site, int64_t seq, const char *topic, int64_t at_ms,
	                int64_t recv_ms, const char *payload);
	int (*alarm_put)(void *b, const struct salarm *a);
	int (*site_put)(void *b, const struct ssite *s);
	int (*event_put)(void *b, const struct sevent *e);
	/* At start: every site, then every alarm not yet reset (and station
	 * alarms not yet closed), oldest first. fn returning < 0 stops. The
	 * structs handed to a callback (and a site's status_json) are the
	 * backend's, valid during the call only: copy what is kept. Either
	 * callback may be NULL to skip that half. */
	int (*load)(void *b, int (*site_fn)(void *ctx, const struct ssite *s),
	            int (*alarm_fn)(void *ctx, const struct salarm *a), void *ctx);
	/* One site's alarms, newest first, at most limit. */
	int (*site_alarms)(void *b, const char *site, int limit,
	                   int (*fn)(void *ctx, const struct salarm *a), void *ctx);
	/* The journal, newest first; site NULL: all. */
	int (*events)(void *b, const char *site, int limit,
	              int (*fn)(void *ctx, const struct sevent *e), void *ctx);
	/* Rows in feed (stats, tests). */
	int64_t (*feed_count)(void *b);
	/* Users. role: "officer" or "viewer". user_get: 0, or -ENOENT. */
	int (*user_put)(void *b, const char *name, const char *role, const char *hash);
	int (*user_get)(void *b, const char *name, char *role, size_t rolelen, char *hash,
	                size_t hashlen);
	int (*user_del)(void *b, const char *name);
	int (*users)(void *b, int (*fn)(void *ctx, const char *name, const char *role), void *ctx);
	/* Optional (NULL: never). 1 while the connection to a database
	 * server is lost (the next begin reconnects), or the transaction was
	 * lost to another writer (a deadlock: until the next begin): what
	 * failed was not stored but will work when done again. */
	int (*lost)(void *b);
	/* Optional (NULL: the target). The database as messages name it,
	 * never with a password; owned by the backend. */
	const char *(*where)(void *b);
	/* Optional (NULL: any target will do). 0 when target is well-formed,
	 * without connecting; else err says why (never the password). */
	int (*check)(const char *target, char *err, size_t errlen);

	/* Several stations on one database (PostgreSQL; all NULL for SQLite,
	 * where a station is alone). See docs/station.md, "Two stations". */
	/* Tell the other stations (payload <= 7999 bytes), inside the
	 * current transaction: delivered when it commits, dropped if not. */
	int (*notify)(void *b, const char *payload);
	/* The descriptor to watch for the others' notifications; -1 while
	 * there is none (not connected). It changes on a reconnect. */
	int (*listen_fd)(void *b);
	/* Hand each notification of another station to fn, without
	 * blocking. 0 or negative (the connection is lost). */
	int (*listen_drain)(void *b, int (*fn)(void *ctx, const char *payload), void *ctx);
	/* One alarm as stored: 0, or -ENOENT. */
	int (*alarm_get)(void *b, const char *site, int64_t id, struct salarm *out);
	/* Claim the sending of the ack of (site, id) for by: 1 claimed (the
	 * caller publishes it), 0 another claim younger than stale_ms holds it
	 * (holder gets its user). Inside the caller's transaction. */
	int (*ack_claim)(void *b, const char *site, int64_t id, const char *by, int64_t now_ms,
	                 int64_t stale_ms, char *holder, size_t holderlen);
	/* 1 while this station is the timekeeper (the one that raises lost
	 * contact), taking the role when it is free; 0 another station holds
	 * it; negative: cannot tell (not connected). */
	int (*timekeeper)(void *b);
};

/* Whether target is well-formed (a PostgreSQL URL libpq can read), without
 * opening anything (--check). 0, or -EINVAL with err set. */
int sstore_check(const char *target, char *err, size_t errlen);
/* Open (creating or migrating the schema). NULL with err set. */
struct sstore *sstore_open(const char *target, char *err, size_t errlen);
void sstore_close(struct sstore *s);
const char *sstore_backend_name(const struct sstore *s);
/* The database as logs and status may show it: a file path, or
 * user@host:port/dbname for PostgreSQL (never the password). Owned by s. */
const char *sstore_where(const struct sstore *s);
/* 1 while the connection to a database server is lost, or after a
 * transaction lost to another station's (PostgreSQL): a commit that failed
 * then did not store what it covered, the same writes will work later, and
 * the caller must keep the broker from forgetting those messages. 0 for
 * SQLite. */
int sstore_lost(const struct sstore *s);

int sstore_begin(struct sstore *s);
int sstore_commit(struct sstore *s);
int sstore_rollback(struct sstore *s);
int sstore_feed_put(struct sstore *s, const char *site, int64_t seq, const char *topic,
                    int64_t at_ms, int64_t recv_ms, const char *payload);
int sstore_alarm_put(struct sstore *s, const struct salarm *a);
int sstore_site_put(struct sstore *s, const struct ssite *site);
int sstore_event_put(struct sstore *s, const struct sevent *e);
int sstore_load(struct sstore *s, int (*site_fn)(void *ctx, const struct ssite *site),
                int (*alarm_fn)(void *ctx, const struct salarm *a), void *ctx);
int sstore_site_alarms(struct sstore *s, const char *site, int limit,
                       int (*fn)(void *ctx, const struct salarm *a), void *ctx);
int sstore_events(struct sstore *s, const char *site, int limit,
                  int (*fn)(void *ctx, const struct sevent *e), void *ctx);
int64_t sstore_feed_count(struct sstore *s);
int sstore_user_put(struct sstore *s, const char *name, const char *role, const char *hash);
int sstore_user_get(struct sstore *s, const char *name, char *role, size_t rolelen, char *hash,
                    size_t hashlen);
int sstore_user_del(struct sstore *s, const char *name);
int sstore_users(struct sstore *s, int (*fn)(void *ctx, const char *name, const char *role),
                 void *ctx);

/* Several stations on one database (the optional members above). For a
 * backend without them: shared 0, notify and drain do nothing (0),
 * listen_fd -1, alarm_get -ENOTSUP, ack_claim 1 (always ours), timekeeper
 * 1 (a station alone keeps its own time). */
int sstore_shared(const struct sstore *s);
int sstore_notify(struct sstore *s, const char *payload);
int sstore_listen_fd(struct sstore *s);
int sstore_listen_drain(struct sstore *s, int (*fn)(void *ctx, const char *payload), void *ctx);
int sstore_alarm_get(struct sstore *s, const char *site, int64_t id, struct salarm *out);
int sstore_ack_claim(struct sstore *s, const char *site, int64_t id, const char *by, int64_t now_ms,
                     int64_t stale_ms, char *holder, size_t holderlen);
int sstore_timekeeper(struct sstore *s);

#endif
