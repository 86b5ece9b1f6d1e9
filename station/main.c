/*
 * main.c: safehouse-station, the militia's duty console.
 *
 * One process, one event loop: the commune broker's feed (every site's
 * alarm, alert, notify, status and heartbeat) -> checked (sfeed) -> the
 * board (live picture, lost contact) and the store -> the console's open
 * browsers (server-sent events). Acknowledgments clicked on the console go
 * back to the gateway on PREFIX/SITE/ack.
 *
 * Nothing the broker believes delivered is lost: the subscription is a
 * persistent session (clean session off, stable client id), and the broker
 * is acknowledged only after the store has committed what the messages
 * changed (mqttc defer_acks). A station stopped or restarted finds what
 * was published meanwhile waiting in its session.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <mosquitto.h>

#include "common/cfgload.h"
#include "common/svc.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/mqttc.h"
#include "station/board.h"
#include "station/console.h"
#include "station/sconfig.h"
#include "station/sfeed.h"
#include "station/sstore.h"
#include "station/susers.h"

/* Lost contact is checked this often: EN 50136 asks that a missing report
 * be seen within the reporting window; 5 s keeps the error small. */
#define CHECK_MS 5000
/* At most this many malformed messages are logged per minute (all are
 * counted): a broken gateway must not flood the log. */
#define MALFORMED_LOG_PER_MIN 20

struct station {
	struct sconfig *cfg;
	struct loop *loop;
	struct sstore *store;
	struct board *board;
	struct susers *users;
	struct console *console;
	struct mqttc *mq;
	int in_txn;
	int txn_failed;
	int store_failing; /* the last commit failed: /healthz says so */
	/* A begin or commit failed since the last barrier: the messages it
	 * covers are not all stored. */
	int unsafe;
	/* The database server was lost (PostgreSQL) since the last barrier,
	 * noted when the failure happened (the next begin may reconnect
	 * before the barrier asks). */
	int lost_seen;
	/* The database server is lost: the broker connection is dropped with
	 * its acks held, and made again once a commit works. */
	int drop_broker, broker_dropped, restart_broker;
	/* Stations sharing the database: whether this one is the timekeeper
	 * (-1 not yet known), and the notification descriptor the loop
	 * watches (-1 none). */
	int timekeeper;
	int listen_fd;
	int sigfd;
	int stop, reload;
	int check_timer;
	int watchdog_timer;
	int64_t malformed;
	int64_t malformed_window, malformed_logged;
};

/* Something of this transaction failed: it will be rolled back. */
static void store_failed(struct station *st)
{
	st->txn_failed = 1;
	if (sstore_lost(st->store))
		st->lost_seen = 1;
}

static void timekeeping(struct station *st);

static int txn(void *ctx)
{
	struct station *st = ctx;
	if (st->in_txn)
		return 0;
	if (sstore_begin(st->store) < 0) {
		if (sstore_lost(st->store))
			st->lost_seen = 1;
		return -EIO;
	}
	st->in_txn = 1;
	/* A reconnect ended the session that held the timekeeper's lock
	 * (another station may hold it now): known before anything this
	 * transaction does could raise lost contact. Free while it holds. */
	if (st->timekeeper == 1 && sstore_shared(st->store))
		timekeeping(st);
	return 0;
}

/* Before the loop waits: commit what this iteration wrote. */
static int commit(struct station *st)
{
	int rc = 0;
	if (!st->in_txn && !st->txn_failed)
		return 0;
	if (!st->in_txn) {
		/* The begin failed (a lost database server): nothing of this
		 * iteration was stored. */
		rc = -EIO;
	} else if (st->txn_failed || sstore_commit(st->store) < 0) {
		sstore_rollback(st->store);
		rc = -EIO;
	}
	st->in_txn = 0;
	st->txn_failed = 0;
	if (rc < 0)
		st->unsafe = 1;
	if (rc < 0 && sstore_lost(st->store))
		st->lost_seen = 1;
	else if (st->broker_dropped)
		st->restart_broker = 1;
	if ((rc < 0) != st->store_failing) {
		st->store_failing = rc < 0;
		if (rc < 0 && sstore_lost(st->store))
			svc_status(
			    "DATABASE UNREACHABLE: %s; the broker keeps the messages until it "
			    "is back",
			    sstore_where(st->store));
		else if (rc < 0)
			svc_status("DATABASE FAILING: %s cannot commit (disk full?)",
			           sstore_where(st->store));
		else
			svc_status("database %s writable again", sstore_where(st->store));
	}
	return rc;
}

static void on_prepare(void *ctx)
{
	struct station *st = ctx;
	if (commit(st) < 0)
		log_err("station: a store commit failed; the broker will deliver those messages "
		        "again");
}

static void malformed(struct station *st, const char *topic, const char *why)
{
	int64_t now = loop_mono_ms();
	st->malformed++;
	if (now - st->malformed_window > 60000) {
		if (st->malformed_logged > MALFORMED_LOG_PER_MIN)
			log_warn("station: %lld more malformed messages in the last minute",
			         (long long)(st->malformed_logged - MALFORMED_LOG_PER_MIN));
		st->malformed_window = now;
		st->malformed_logged = 0;
	}
	if (++st->malformed_logged <= MALFORMED_LOG_PER_MIN)
		log_warn("station: malformed message on %s: %s; ignored", topic, why);
}

static void on_message(void *ctx, const struct mosquitto_message *m)
{
	struct station *st = ctx;
	char site[SSTORE_ID_MAX], why[256];
	enum sfeed_kind kind;
	struct sfeed_msg *msg;
	int rc;
	if (sfeed_topic(st->cfg->broker.prefix, m->topic, site, &kind, why, sizeof(why)) < 0) {
		/* Our own acks come back on PREFIX/+/... only if someone
		 * subscribes wider; anything else is not for us. */
		log_debug("station: %s: %s", m->topic, why);
		return;
	}
	msg = malloc(sizeof(*msg));
	if (!msg) {
		st->txn_failed = 1;
		return;
	}
	if (sfeed_parse(kind, site, m->payload, (size_t)(m->payloadlen > 0 ? m->payloadlen : 0),
	                msg, why, sizeof(why)) < 0) {
		malformed(st, m->topic, why);
		goto out;
	}
	if (txn(st) < 0) {
		store_failed(st);
		goto out;
	}
	rc = board_apply(st->board, msg, m->payload, (size_t)m->payloadlen, m->retain,
	                 loop_wall_ms(), loop_mono_ms());
	if (rc < 0) {
		log_err("station: %s: could not record it (store error)", m->topic);
		store_failed(st);
	}
out:
	free(msg);
}

static void on_barrier(void *ctx, mqttc_done_fn done, void *dctx)
{
	struct station *st = ctx;
	int rc = commit(st) < 0 || st->unsafe ? -EIO : 0;
	int lost = st->lost_seen;
	st->unsafe = 0;
	st->lost_seen = 0;
	if (rc < 0 && lost) {
		/* mqttc would acknowledge anyway (a full disk must not stop
		 * the feed), and the broker would forget messages no database
		 * holds. Drop the connection instead, acks unsent (after this
		 * loop turn: not from inside mqttc); the broker redelivers
		 * them to the resumed session once the database is back. */
		st->drop_broker = 1;
		return;
	}
	done(dctx, rc);
}

static void on_connect(void *ctx)
{
	struct station *st = ctx;
	static const char *const leaves[] = {"alarm",  "alert",     "notify",
	                                     "status", "heartbeat", "bridge"};
	char topic[256];
	/* The node of a cluster it is on: which one is what an operator asks. */
	const char *peer = mqttc_peer(st->mq);
	log_notice("station: connected to the broker %s", peer ? peer : "?");
	svc_status("console on %s, %zu site(s); broker %s connected", st->cfg->http.listen,
	           board_site_count(st->board), peer ? peer : "?");
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		snprintf(topic, sizeof(topic), "%s/+/%s", st->cfg->broker.prefix, leaves[i]);
		mqttc_subscribe(st->mq, topic);
	}
}

static void on_disconnect(void *ctx)
{
	struct station *st = ctx;
	log_warn("station: broker connection lost%s%s; reconnecting",
	         mqttc_error(st->mq) ? ": " : "", mqttc_error(st->mq) ? mqttc_error(st->mq) : "");
	svc_status("console on %s; broker DOWN%s%s: no alarms arrive", st->cfg->http.listen,
	           mqttc_error(st->mq) ? ": " : "", mqttc_error(st->mq) ? mqttc_error(st->mq) : "");
}

static struct mqttc *broker(void *ctx)
{
	return ((struct station *)ctx)->mq;
}

static int64_t malformed_count(void *ctx)
{
	return ((struct station *)ctx)->malformed;
}

static int store_ok(void *ctx)
{
	return !((struct station *)ctx)->store_failing;
}

static int is_timekeeper(void *ctx)
{
	return ((struct station *)ctx)->timekeeper == 1;
}

static void hook_alarm(void *ctx, struct board *b, const char *site, int64_t id)
{
	struct station *st = ctx;
	(void)b;
	console_alarm_changed(st->console, site, id);
}

static void hook_site(void *ctx, struct board *b, const char *site)
{
	struct station *st = ctx;
	(void)b;
	console_site_changed(st->console, site);
}

/* The commune broker, persistent session, acks deferred to our commits. */
static int broker_start(struct station *st)
{
	static const struct mqttc_callbacks cb = {.on_connect = on_connect,
	                                          .on_disconnect = on_disconnect,
	                                          .on_message = on_message,
	                                          .barrier = on_barrier};
	struct mqttc_params p = {0};
	struct mqttc_addr addrs[MQTTC_ADDRS_MAX];
	p.name = "commune";
	p.host = st->cfg->broker.host;
	p.port = st->cfg->broker.port;
	for (int i = 0; i < st->cfg->broker.nhosts && i < MQTTC_ADDRS_MAX; i++) {
		addrs[i].host = st->cfg->broker.hosts[i].host;
		addrs[i].port = st->cfg->broker.hosts[i].port;
		p.addrs = addrs;
		p.naddrs = i + 1;
	}
	p.username = st->cfg->broker.username;
	p.password = st->cfg->broker.password;
	p.client_id = st->cfg->broker.client_id;
	p.keepalive_s = st->cfg->broker.keepalive_s;
	p.tls = st->cfg->broker.tls;
	p.cafile = st->cfg->broker.cafile;
	p.certfile = st->cfg->broker.certfile;
	p.keyfile = st->cfg->broker.keyfile;
	p.persistent = 1;
	p.defer_acks = 1;
	st->mq = mqttc_new(st->loop, &p, &cb, st);
	return st->mq ? 0 : -ENOMEM;
}

/* Between loop turns: the database server was lost while messages were
 * not yet stored, or is back. */
static void broker_cycle(struct station *st)
{
	if (st->drop_broker) {
		st->drop_broker = 0;
		if (st->mq) {
			log_err("station: the database %s did not store the last messages "
			        "(unreachable, or a deadlock with another station: see above); "
			        "disconnected from the broker, which keeps them and delivers them "
			        "again once a commit works",
			        sstore_where(st->store));
			svc_status(
			    "DATABASE UNREACHABLE: %s; broker disconnected until it is back: "
			    "NO ALARMS ARRIVE",
			    sstore_where(st->store));
			mqttc_free(st->mq);
			st->mq = NULL;
			st->broker_dropped = 1;
			st->restart_broker = 0;
		}
	}
	if (st->restart_broker) {
		st->restart_broker = 0;
		if (!st->broker_dropped)
			return;
		log_notice("station: the database %s is back; connecting to the broker again",
		           sstore_where(st->store));
		/* The silence was ours: no house is called lost for it. */
		board_grace(st->board, loop_mono_ms());
		if (broker_start(st) == 0)
			st->broker_dropped = 0;
	}
}

/* ---- stations sharing one database (docs/station.md, "Two stations") ---- */

static int resync_alarm(void *ctx, const struct salarm *a)
{
	struct station *st = ctx;
	if (a->id < 0)
		board_station_alarm(st->board, a, loop_mono_ms());
	return 0;
}

/* Take or leave the timekeeper's role (a PostgreSQL session lock: when the
 * timekeeper's process or connection dies, its session ends and another
 * station's next try gets it). A station alone always has it. */
static void timekeeping(struct station *st)
{
	int tk = sstore_timekeeper(st->store);
	if (tk < 0)
		tk = 0; /* not connected: whoever holds the lock now, not us */
	if (tk == st->timekeeper)
		return;
	st->timekeeper = tk;
	board_set_timekeeper(st->board, tk);
	if (!sstore_shared(st->store))
		return;
	if (tk) {
		/* What the previous timekeeper raised is the starting point:
		 * a loss it raised is not raised again. */
		sstore_load(st->store, NULL, resync_alarm, st);
		log_notice("station: this station is the timekeeper now: it raises lost contact "
		           "for every station on %s",
		           sstore_where(st->store));
		svc_status("console on %s; timekeeper (raises lost contact)", st->cfg->http.listen);
	} else {
		log_notice("station: another station is the timekeeper; this one takes over if it "
		           "stops");
		svc_status("console on %s; standby timekeeper (another station raises lost "
		           "contact)",
		           st->cfg->http.listen);
	}
}

/* A notification from another station: "alarm SITE ID" (a station alarm
 * changed: read it), "galarm SITE ID" (it stored a change of a gateway's
 * alarm), "ack SITE ID USER AT" (an ack was sent). */
static int on_peer(void *ctx, const char *payload)
{
	struct station *st = ctx;
	char buf[256], *save = NULL, *what, *site, *id, *user, *at;
	struct salarm a;
	snprintf(buf, sizeof(buf), "%s", payload);
	what = strtok_r(buf, "\t", &save);
	site = strtok_r(NULL, "\t", &save);
	id = strtok_r(NULL, "\t", &save);
	if (!what || !site || !id) {
		log_warn("station: a notification not understood: \"%.60s\"", payload);
		return 0;
	}
	if (strcmp(what, "alarm") == 0) {
		if (sstore_alarm_get(st->store, site, strtoll(id, NULL, 10), &a) == 0)
			board_station_alarm(st->board, &a, loop_mono_ms());
	} else if (strcmp(what, "galarm") == 0) {
		board_gateway_alarm(st->board, site, strtoll(id, NULL, 10), loop_mono_ms());
	} else if (strcmp(what, "ack") == 0 && (user = strtok_r(NULL, "\t", &save)) &&
	           (at = strtok_r(NULL, "\t", &save))) {
		board_ack_sent(st->board, site, strtoll(id, NULL, 10), user, strtoll(at, NULL, 10));
	}
	return 0;
}

static void on_listen(void *ctx, int fd, short revents)
{
	struct station *st = ctx;
	(void)fd;
	(void)revents;
	sstore_listen_drain(st->store, on_peer, st);
}

/* Between loop turns: watch the current notification descriptor (it
 * changes on a reconnect, and is gone while the server is), and take what
 * came with other queries' answers. */
static void listen_sync(struct station *st)
{
	int fd = sstore_listen_fd(st->store);
	if (fd != st->listen_fd) {
		if (st->listen_fd >= 0)
			loop_fd_del(st->loop, st->listen_fd);
		st->listen_fd = -1;
		if (fd >= 0 && loop_fd_add(st->loop, fd, POLLIN, on_listen, st) == 0)
			st->listen_fd = fd;
	}
	if (fd >= 0)
		sstore_listen_drain(st->store, on_peer, st);
}

static void check_timer(void *ctx)
{
	struct station *st = ctx;
	if (txn(st) < 0) {
		store_failed(st);
	} else {
		timekeeping(st);
		if (board_check(st->board, loop_wall_ms(), loop_mono_ms()) < 0)
			store_failed(st);
	}
	st->check_timer = loop_timer_add(st->loop, CHECK_MS, check_timer, st);
}

/* systemd's watchdog (common/svc.h): pinged from this loop's timers, so a
 * loop that stops turning stops the pings and systemd restarts us. */
static void watchdog_ping(void *ctx)
{
	struct station *st = ctx;
	svc_watchdog_ping();
	st->watchdog_timer = loop_timer_add(st->loop, svc_watchdog_ms(), watchdog_ping, st);
}

static void say_ready(struct station *st)
{
	char s[256];
	snprintf(s, sizeof(s), "console on %s, %zu site(s) known", st->cfg->http.listen,
	         board_site_count(st->board));
	svc_ready(s);
}

static void on_signal(void *ctx, int fd, short revents)
{
	struct station *st = ctx;
	struct signalfd_siginfo si;
	(void)revents;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			st->reload = 1;
		else
			st->stop = 1;
	}
}

static int setup_signals(struct station *st)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	st->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (st->sigfd < 0)
		return -errno;
	return loop_fd_add(st->loop, st->sigfd, POLLIN, on_signal, st);
}

/* The directory (sites, groups, windows) changes on SIGHUP; the broker, the
 * database and the listener are read at start. */
static void reload(struct station *st)
{
	struct sconfig *nc = NULL;
	int rc = sconfig_load(st->cfg->path, stderr, &nc);
	if (rc != 0 || !nc) {
		log_err("station: reload: %s has errors (above); keeping the running configuration",
		        st->cfg->path);
		return;
	}
	log_notice("station: reload: the site directory and reporting windows are from %s now; "
	           "broker, database and http settings need a restart",
	           nc->path);
	board_set_config(st->board, nc);
	console_set_config(st->console, nc);
	sconfig_free(st->cfg);
	st->cfg = nc;
}

static int run(struct station *st)
{
	static const struct board_hooks hooks = {hook_alarm, hook_site};
	struct console_deps cd = {0};
	char err[512];
	int rc = 1;

	st->loop = loop_new();
	if (!st->loop)
		goto out;
	st->store = sstore_open(st->cfg->database, err, sizeof(err));
	if (!st->store) {
		log_err("station: %s", err);
		goto out;
	}
	st->users = susers_new(st->store);
	st->board = board_new(st->cfg, st->store, &hooks, st);
	if (!st->users || !st->board)
		goto out;
	if (sstore_begin(st->store) < 0 ||
	    board_load(st->board, loop_wall_ms(), loop_mono_ms()) < 0 ||
	    sstore_commit(st->store) < 0) {
		log_err("station: could not load the sites and alarms from %s",
		        sstore_where(st->store));
		goto out;
	}
	cd.cfg = st->cfg;
	cd.board = st->board;
	cd.users = st->users;
	cd.store = st->store;
	cd.broker = broker;
	cd.txn = txn;
	cd.malformed = malformed_count;
	cd.store_ok = store_ok;
	cd.timekeeper = is_timekeeper;
	cd.ctx = st;
	cd.started_wall_ms = loop_wall_ms();
	st->console = console_new(st->loop, &cd, err, sizeof(err));
	if (!st->console) {
		log_err("station: %s", err);
		goto out;
	}
	st->timekeeper = -1;
	timekeeping(st);
	listen_sync(st);
	if (broker_start(st) < 0 || setup_signals(st) < 0 ||
	    loop_prepare_add(st->loop, on_prepare, st) < 0)
		goto out;
	st->check_timer = loop_timer_add(st->loop, CHECK_MS, check_timer, st);
	if (svc_watchdog_ms() > 0)
		watchdog_ping(st);
	log_notice("station: serving the console on %s (port %d), %zu site(s) known, database %s "
	           "(%s)",
	           st->cfg->http.listen, console_port(st->console), board_site_count(st->board),
	           sstore_where(st->store), sstore_backend_name(st->store));
	/* The console answers and the broker connection is under way. */
	say_ready(st);
	while (!st->stop) {
		loop_run_once(st->loop, 1000);
		broker_cycle(st);
		listen_sync(st);
		if (st->reload) {
			st->reload = 0;
			/* READY=1 again also after a failed reload: the running
			 * configuration stays in service. */
			svc_reloading();
			reload(st);
			say_ready(st);
		}
	}
	log_notice("station: stopping");
	svc_stopping();
	/* Whatever was applied is committed, so the held acks may go. */
	if (commit(st) == 0 && !st->unsafe && st->mq)
		mqttc_acks_durable(st->mq);
	if (st->mq) {
		mqttc_flush(st->mq);
		mqttc_disconnect(st->mq);
	}
	rc = 0;
out:
	if (st->mq)
		mqttc_free(st->mq);
	console_free(st->console);
	board_free(st->board);
	if (st->users)
		susers_free(st->users);
	if (st->store)
		sstore_close(st->store);
	if (st->loop)
		loop_free(st->loop);
	if (st->sigfd > 0)
		close(st->sigfd);
	return rc;
}

/* ---- users ---- */

/* A password from stdin (one line), or typed on the terminal without echo. */
static int read_password(int from_stdin, const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	int tty = !from_stdin && isatty(STDIN_FILENO);
	size_t n;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (!fgets(buf, (int)size, stdin))
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return n ? 0 : -1;
}

static int print_user(void *ctx, const char *name, const char *role)
{
	(void)ctx;
	printf("%s\t%s\n", name, role);
	return 0;
}

static int users_cmd(struct sconfig *cfg, int argc, char **argv)
{
	char err[512], why[256], pw[256], pw2[256];
	const char *role = NULL, *name = NULL;
	int from_stdin = 0, rc = 1;
	struct sstore *s = NULL;
	struct susers *u = NULL;
	const char *verb = argc > 0 ? argv[0] : "";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
			role = argv[++i];
		else if (strcmp(argv[i], "--password-stdin") == 0)
			from_stdin = 1;
		else if (!name && argv[i][0] != '-')
			name = argv[i];
		else {
			fprintf(stderr, "safehouse-station users: unexpected argument \"%s\"\n",
			        argv[i]);
			return 2;
		}
	}
	if (strcmp(verb, "list") != 0 && !name) {
		fprintf(stderr,
		        "usage: safehouse-station -c FILE users add NAME --role "
		        "officer|viewer [--password-stdin]\n"
		        "       safehouse-station -c FILE users passwd NAME [--password-stdin]\n"
		        "       safehouse-station -c FILE users del NAME\n"
		        "       safehouse-station -c FILE users list\n");
		return 2;
	}
	s = sstore_open(cfg->database, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "safehouse-station: %s\n", err);
		return 1;
	}
	u = susers_new(s);
	if (!u)
		goto out;
	if (strcmp(verb, "list") == 0) {
		rc = susers_list(u, print_user, NULL) < 0;
		goto out;
	}
	if (strcmp(verb, "del") == 0) {
		if (sstore_begin(s) < 0 || susers_del(u, name, why, sizeof(why)) < 0 ||
		    sstore_commit(s) < 0) {
			fprintf(stderr, "safehouse-station: users del %s: %s\n", name, why);
			goto out;
		}
		printf("user %s deleted\n", name);
		rc = 0;
		goto out;
	}
	if (strcmp(verb, "add") != 0 && strcmp(verb, "passwd") != 0) {
		fprintf(stderr,
		        "safehouse-station users: unknown command \"%s\" (add, passwd, del, "
		        "list)\n",
		        verb);
		rc = 2;
		goto out;
	}
	if (strcmp(verb, "add") == 0 && !role) {
		fprintf(stderr, "safehouse-station users add: --role officer|viewer is required\n");
		rc = 2;
		goto out;
	}
	if (read_password(from_stdin, "Password: ", pw, sizeof(pw)) < 0) {
		fprintf(stderr, "safehouse-station: no password given\n");
		goto out;
	}
	if (!from_stdin && isatty(STDIN_FILENO) &&
	    (read_password(0, "Again: ", pw2, sizeof(pw2)) < 0 || strcmp(pw, pw2) != 0)) {
		fprintf(stderr, "safehouse-station: the two passwords differ\n");
		goto out;
	}
	why[0] = '\0';
	if (sstore_begin(s) < 0 ||
	    (strcmp(verb, "add") == 0 ? susers_add(u, name, role, pw, why, sizeof(why))
	                              : susers_passwd(u, name, pw, why, sizeof(why))) < 0) {
		sstore_rollback(s);
		fprintf(stderr, "safehouse-station: users %s %s: %s\n", verb, name, why);
		goto out;
	}
	if (sstore_commit(s) < 0)
		goto out;
	printf("user %s %s\n", name, strcmp(verb, "add") == 0 ? "added" : "password changed");
	rc = 0;
out:
	memset(pw, 0, sizeof(pw));
	memset(pw2, 0, sizeof(pw2));
	if (u)
		susers_free(u);
	sstore_close(s);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: safehouse-station -c station.json [--check]\n"
	           "       safehouse-station -c station.json users add NAME --role "
	           "officer|viewer [--password-stdin]\n"
	           "       safehouse-station -c station.json users passwd|del NAME | users list\n");
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int check = 0, i, rc;
	struct station st;
	struct sconfig *cfg = NULL;
	memset(&st, 0, sizeof(st));
	st.sigfd = -1;
	st.listen_fd = -1;
	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
		    i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--check") == 0)
			check = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else
			break;
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	rc = sconfig_load(path, stderr, &cfg);
	if (rc != 0 || !cfg) {
		fprintf(stderr, "safehouse-station: %s: %d error(s); nothing started\n", path,
		        rc > 0 ? rc : 1);
		return 1;
	}
	if (check) {
		printf("%s: OK (%zu site(s), %zu group(s))\n", path, cfg->nsites, cfg->ngroups);
		sconfig_free(cfg);
		return 0;
	}
	log_init("safehouse-station", 1, cfg->log_level);
	if (i < argc) {
		if (strcmp(argv[i], "users") == 0) {
			rc = users_cmd(cfg, argc - i - 1, argv + i + 1);
			sconfig_free(cfg);
			return rc;
		}
		fprintf(stderr, "safehouse-station: unknown argument \"%s\"\n", argv[i]);
		usage(stderr);
		sconfig_free(cfg);
		return 2;
	}
	st.cfg = cfg;
	rc = run(&st);
	sconfig_free(st.cfg);
	return rc;
}
