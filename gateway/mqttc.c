/*
 * mqttc.c: libmosquitto in non-threaded mode on our poll loop.
 */
#include "mqttc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
/* A store that does not confirm a commit within this time (a hung disk)
 * must not make the broker think we are dead: the acks go out anyway. */
#define HOLD_MAX_MS 5000
/* Packets read per burst before the acks of the burst are made durable:
 * bounds the latency a burst adds to the next read. */
#define READ_BURST_MAX 512
/* At most one forced commit per this interval for the acks: a steady
 * stream of QoS 1 reports must not turn into an fsync per message (on an
 * SD card that would starve the alarms' own commits). Short, because held
 * acks let the broker's window (max_inflight_messages, 1000 in the shipped
 * configs) fill and then release its queue as one burst that delays what
 * comes after it; tests/bench (BENCH_LOAD_QOS=1) measured 20 ms at p99
 * 15 ms, 5 ms at p99 7.5 ms, under 20,000 QoS 1 msg/s. */
#define BARRIER_SPACING_MS 5
/* The next node of a cluster is tried this soon after the previous one
 * failed: long enough not to spin on a refusing broker, short enough that
 * the failover costs nothing next to the cluster's own election. */
#define FAILOVER_MS 100
/* With several brokers, a link lost sooner than this after the broker
 * accepted us counts as a failed attempt, not a fresh start: a cluster node
 * in its election accepts the CONNECT and drops us seconds later, and two
 * clients fighting over one client id kick each other at once; either must
 * meet the backoff after a round, not go round the nodes ten times a
 * second. (With one broker a lost link is retried at backoff_min as it
 * always was: the local broker's blink must not delay a siren.) */
#define STABLE_MS 10000

/* A SUBSCRIBE waiting for its SUBACK (mid: its message id; the topic is
 * what the log names if the broker refuses it), or one the broker granted
 * in this run (mid unused). */
struct sub_pending {
	struct sub_pending *next;
	int mid, qos;
	char topic[];
};

struct mqttc_addr_own {
	char *host;
	int port;
	int numeric; /* an IP address: connect_async cannot block on DNS */
};

/* A connect to a host name, on a thread of its own (see connect_job_run).
 * Shared by the thread and the loop; the last of the two frees it. */
struct connect_job {
	pthread_mutex_t lock;
	int refs;
	int done;      /* the thread has returned from connect_async */
	int abandoned; /* the client was freed meanwhile: the thread cleans up */
	int efd;       /* eventfd the loop polls for the outcome */
	struct mosquitto *mosq;
	char *host;
	int port, keepalive_s;
	int rc, err;
	char log[160]; /* libmosquitto's last error line, said on the thread */
};

struct mqttc {
	struct loop *loop;
	struct mosquitto *mosq;
	int fd;
	int connected;
	int dead;    /* connection lost: tear down after the current callback */
	int closing; /* we asked for the disconnect */
	int refused; /* the broker refused the CONNECT (logged already) */
	int in_cb;   /* inside a libmosquitto callback: it holds its locks */
	int backoff_ms;
	int retry_timer;
	int misc_timer;
	int teardown_timer;
	struct mqttc_callbacks cb;
	void *ctx;
	char *name, *username, *password, *client_id, *cafile, *certfile, *keyfile;
	char *will_topic, *will_payload;
	/* The brokers; host, port and numeric_host are the current one's. */
	struct mqttc_addr_own addr[MQTTC_ADDRS_MAX];
	int naddrs, cur;
	int failed; /* attempts failed in a row in this round */
	/* Saved at CONNACK: a refused subscription, or (several brokers) a
	 * link lost within STABLE_MS, counts as a failed attempt, not as a
	 * fresh start (else a standing refusal retries at full speed). */
	int failed_saved, backoff_saved;
	int64_t connected_at;
	int sub_refused; /* a SUBACK said 0x80: the link is dropped */
	const char *host;
	int port, keepalive_s, tls;
	int numeric_host;
	const char *lost_why; /* why an established link went (static text) */
	char peer[MQTTC_PEER_MAX];
	struct sub_pending *subs;
	/* What the broker granted us in this run, and whether the link resumed
	 * a session the broker kept (CONNACK's session present): then these
	 * subscriptions are in it and are not sent again. On a cluster every
	 * SUBSCRIBE is a JetStream consumer to create through its leaders;
	 * right after a node died that is the slow and failing part, while the
	 * session itself resumes at once, queue and all. */
	struct sub_pending *granted;
	int resumed;
	struct connect_job *resolving; /* a connect running on its thread */
	/* Why the last attempt failed, as libmosquitto or OpenSSL said it
	 * ("" while connected): for the log (once per change) and status. */
	char error[160];
	char logged[160];
	int persistent, backoff_min_ms, defer;
	/* Deferred acks: QoS>0 messages read since the last barrier was asked
	 * for; a barrier in flight (and since when); completions still to come
	 * for barriers given up on (a lost connection or HOLD_MAX_MS). The
	 * store completes commits in order, so counting them is enough. */
	int unbarriered, barrier_out, stale;
	int in_barrier; /* messages the barrier in flight covers */
	int64_t last_barrier;
	int barrier_timer;
	int64_t barrier_since;
};

/* Writes wait while a message read is not yet durable. */
static int held(const struct mqttc *c)
{
	return c->defer && (c->unbarriered || c->barrier_out);
}

static void write_queued(struct mqttc *c)
{
	if (c->mosq && !c->dead && !held(c) && mosquitto_want_write(c->mosq) &&
	    mosquitto_loop_write(c->mosq, 1) != MOSQ_ERR_SUCCESS)
		c->dead = 1;
}

static void barrier_done(void *arg, int rc);
static void barrier_due(void *arg);

/* Ask for a barrier covering what was read, now or once the spacing has
 * passed. */
static void want_barrier(struct mqttc *c)
{
	int64_t wait;
	if (!c->unbarriered || c->barrier_out || c->barrier_timer)
		return;
	wait = c->last_barrier + BARRIER_SPACING_MS - loop_mono_ms();
	if (wait > 0)
		c->barrier_timer = loop_timer_add(c->loop, wait, barrier_due, c);
	else
		barrier_due(c);
}

static void ask_barrier(struct mqttc *c)
{
	c->last_barrier = loop_mono_ms();
	c->barrier_out = 1;
	c->in_barrier = c->unbarriered;
	c->unbarriered = 0;
	c->barrier_since = loop_mono_ms();
	if (c->cb.barrier)
		c->cb.barrier(c->ctx, barrier_done, c);
	else
		barrier_done(c, 0);
}

static void barrier_done(void *arg, int rc)
{
	struct mqttc *c = arg;
	if (c->stale > 0) {
		c->stale--;
		return;
	}
	c->barrier_out = 0;
	c->in_barrier = 0;
	if (rc < 0)
		log_warn("mqtt %s: the store could not commit; acknowledging the broker anyway",
		         c->name);
	/* Messages read meanwhile share libmosquitto's one output queue with
	 * the acks now due: those go out when a barrier covers them too. */
	if (c->unbarriered)
		want_barrier(c);
	else
		write_queued(c);
}

static void barrier_due(void *arg)
{
	struct mqttc *c = arg;
	c->barrier_timer = 0;
	if (c->mosq && !c->dead && c->unbarriered && !c->barrier_out)
		ask_barrier(c);
}

static int lib_refs;

static void set_error(struct mqttc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct mqttc *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

/* A read failed before the broker's CONNACK, or the TLS handshake inside
 * connect_async did (which of the two sees the close is a race). With no
 * word from OpenSSL (on_log_cb would have set one) under TLS, the broker
 * closed the session (libmosquitto: EPROTO, or a lost connection): under
 * TLS 1.3 a broker that wants a client certificate says so by an alert
 * OpenSSL may not have read when the socket closes. */
static void set_read_error(struct mqttc *c, int rc, int err)
{
	if (c->tls && ((rc == MOSQ_ERR_ERRNO && err == EPROTO) || rc == MOSQ_ERR_CONN_LOST))
		set_error(c, "TLS: closed by the broker before it accepted us%s",
		          c->certfile ? "" : " (does it require a client certificate?)");
	else
		set_error(c, "%s", rc == MOSQ_ERR_ERRNO ? strerror(err) : mosquitto_strerror(rc));
}

/* libmosquitto tells why a TLS connect failed only through its log:
 * "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify
 * failed", "Error: host name verification failed.". Keep the reason, in
 * the words OpenSSL used, for the log and the status; once per change, as
 * the same failure repeats at every retry. */
static void on_log_cb(struct mosquitto *m, void *arg, int level, const char *str)
{
	struct mqttc *c = arg;
	const char *why = str, *p;
	(void)m;
	if (level != MOSQ_LOG_ERR || !str)
		return;
	if (strncmp(str, "OpenSSL Error", 13) == 0) {
		/* error:CODE:LIB:FUNC:REASON: the reason is after the last ':' */
		p = strrchr(str, ':');
		why = p && p[1] ? p + 1 : str;
		set_error(c, "TLS: %s", why);
	} else if (strstr(str, "host name verification failed")) {
		set_error(c, "TLS: host name verification failed (the certificate is not for %s)",
		          c->host);
	} else {
		if (strncmp(why, "Error: ", 7) == 0)
			why += 7;
		set_error(c, "%s", why);
	}
	if (strcmp(c->error, c->logged) != 0) {
		log_warn("mqtt %s: %s:%d: %s", c->name, c->host, c->port, c->error);
		snprintf(c->logged, sizeof(c->logged), "%s", c->error);
	}
}

/* A passphrase-protected key cannot be used unattended: fail at once
 * rather than let OpenSSL prompt on a terminal nobody watches. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void start_connect(void *arg);

static void subs_free(struct sub_pending **list)
{
	while (*list) {
		struct sub_pending *s = *list;
		*list = s->next;
		free(s);
	}
}

static struct sub_pending **sub_find(struct sub_pending **list, const char *topic)
{
	while (*list && strcmp((*list)->topic, topic) != 0)
		list = &(*list)->next;
	return list;
}

static void on_connect_cb(struct mosquitto *m, void *arg, int rc, int flags)
{
	struct mqttc *c = arg;
	(void)m;
	if (rc != 0) {
		set_error(c, "%s", mosquitto_connack_string(rc));
		log_warn("mqtt %s: connection refused by %s:%d: %s", c->name, c->host, c->port,
		         c->error);
		c->refused = 1;
		c->dead = 1;
		return;
	}
	log_notice("mqtt %s: connected to %s:%d%s", c->name, c->host, c->port,
	           c->tls ? " (TLS)" : "");
	c->error[0] = c->logged[0] = '\0';
	c->connected = 1;
	/* A broker that lost our session (restarted without persistence, or
	 * a first connect) gets every subscription again. */
	c->resumed = c->persistent && (flags & 1);
	if (!c->resumed)
		subs_free(&c->granted);
	c->lost_why = NULL;
	c->failed_saved = c->failed;
	c->backoff_saved = c->backoff_ms;
	c->connected_at = loop_mono_ms();
	c->failed = 0;
	/* With a log callback set, libmosquitto formats (malloc, vsnprintf,
	 * a mutex) a debug line for every packet it reads, whatever the
	 * callback keeps; ours keeps only errors, which over plain TCP come
	 * from the connect (a lost connection is said by on_disconnect_cb).
	 * Under TLS it stays: OpenSSL's reasons come only through it. The
	 * next connect makes a new client with the callback set again. */
	if (!c->tls)
		mosquitto_log_callback_set(c->mosq, NULL);
	c->backoff_ms = c->backoff_min_ms;
	c->in_cb++;
	if (c->cb.on_connect)
		c->cb.on_connect(c->ctx);
	c->in_cb--;
}

static void on_disconnect_cb(struct mosquitto *m, void *arg, int rc)
{
	struct mqttc *c = arg;
	(void)m;
	if (c->connected && !c->lost_why)
		c->lost_why = rc ? mosquitto_strerror(rc) : "closed";
	if (!c->connected && !c->refused && !c->error[0])
		set_read_error(c, MOSQ_ERR_CONN_LOST, 0);
	c->dead = 1;
}

static void on_message_cb(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	struct mqttc *c = arg;
	(void)m;
	if (c->defer && msg->qos > 0)
		c->unbarriered++;
	c->in_cb++;
	if (c->cb.on_message)
		c->cb.on_message(c->ctx, msg);
	c->in_cb--;
}

/* A refused subscription must never go unnoticed: a station not subscribed
 * to the alarms shows a calm board while houses burn. Drop the link; the
 * next connect subscribes again (on a cluster, possibly at another node). */
static void on_subscribe_cb(struct mosquitto *m, void *arg, int mid, int n, const int *granted)
{
	struct mqttc *c = arg;
	struct sub_pending **pp = &c->subs, *s;
	(void)m;
	while (*pp && (*pp)->mid != mid)
		pp = &(*pp)->next;
	s = *pp;
	if (s)
		*pp = s->next;
	for (int i = 0; i < n; i++) {
		if (granted[i] >= 0 && granted[i] <= 2) {
			struct sub_pending *g = s ? *sub_find(&c->granted, s->topic) : NULL;
			if (g) {
				g->qos = s->qos;
			} else if (s) {
				s->next = c->granted;
				c->granted = s;
				s = NULL;
			}
		} else {
			if (s) {
				struct sub_pending **g = sub_find(&c->granted, s->topic), *old = *g;
				if (old) {
					*g = old->next;
					free(old);
				}
			}
			log_err("mqtt %s: %s:%d refused the subscription to %s (granted 0x%02x); "
			        "dropping the link to subscribe again",
			        c->name, c->host, c->port, s ? s->topic : "?", granted[i] & 0xff);
			set_error(c, "the broker refused the subscription to %.100s",
			          s ? s->topic : "?");
			if (c->connected && !c->dead)
				c->lost_why = "subscription refused";
			c->sub_refused = 1;
			c->dead = 1;
			break;
		}
	}
	free(s);
}

static void on_publish_cb(struct mosquitto *m, void *arg, int mid)
{
	struct mqttc *c = arg;
	(void)m;
	c->in_cb++;
	if (c->cb.on_publish)
		c->cb.on_publish(c->ctx, mid);
	c->in_cb--;
}

static void teardown(struct mqttc *c)
{
	int was = c->connected;
	if (c->fd >= 0)
		loop_fd_del(c->loop, c->fd);
	c->fd = -1;
	if (c->mosq)
		mosquitto_destroy(c->mosq);
	c->mosq = NULL;
	c->connected = 0;
	c->dead = 0;
	c->closing = 0;
	subs_free(&c->subs);
	/* Unacked messages die with the connection; the broker sends them again
	 * to the resumed session. A barrier still in flight is void. */
	if (c->barrier_out)
		c->stale++;
	c->barrier_out = 0;
	c->unbarriered = 0;
	loop_timer_cancel(c->loop, c->barrier_timer);
	c->barrier_timer = 0;
	if (was && c->cb.on_disconnect)
		c->cb.on_disconnect(c->ctx);
}

static void use_addr(struct mqttc *c, int i)
{
	c->cur = i;
	c->host = c->addr[i].host;
	c->port = c->addr[i].port;
	c->numeric_host = c->addr[i].numeric;
}

const char *mqttc_format_addr(char *buf, size_t size, const char *host, int port)
{
	snprintf(buf, size, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	return buf;
}

/* What the next attempt is. */
enum attempt_end {
	END_QUIET,  /* said already (a refused CONNECT) */
	END_CLOSED, /* our own disconnect: nothing to say, no other broker */
	END_NOCONN, /* the attempt failed before the broker accepted us */
	END_LOST,   /* an established link went */
};

/* After a failed attempt or a lost link: the next broker at once, or after
 * a whole round failed (or with one broker), the backoff. Says once what
 * happened and what comes next. */
static void schedule_retry(struct mqttc *c, enum attempt_end end, const char *why)
{
	char from[MQTTC_PEER_MAX], to[MQTTC_PEER_MAX], what[MQTTC_PEER_MAX + 200];
	int delay, round_over;

	mqttc_format_addr(from, sizeof(from), c->host, c->port);
	if (c->naddrs > 1 && end != END_CLOSED)
		use_addr(c, (c->cur + 1) % c->naddrs);
	round_over = c->naddrs <= 1 || ++c->failed >= c->naddrs;
	if (round_over) {
		c->failed = 0;
		delay = c->backoff_ms;
		c->backoff_ms *= 2;
		if (c->backoff_ms > BACKOFF_MAX_MS)
			c->backoff_ms = BACKOFF_MAX_MS;
	} else {
		delay = FAILOVER_MS;
	}
	loop_timer_cancel(c->loop, c->retry_timer);
	c->retry_timer = loop_timer_add(c->loop, delay, start_connect, c);
	if (end == END_CLOSED)
		return;
	if (c->naddrs <= 1) {
		/* The one-broker wording, as it always was. */
		if (end == END_LOST)
			log_warn("mqtt %s: connection to %s:%d lost (%s)", c->name, c->host,
			         c->port, why);
		else if (end == END_NOCONN)
			log_warn("mqtt %s: cannot connect to %s:%d; retrying in %d ms (%s)",
			         c->name, c->host, c->port, delay, why);
		return;
	}
	/* "A lost (why)" / "cannot connect to A (why)", then what comes next. */
	mqttc_format_addr(to, sizeof(to), c->host, c->port);
	if (end == END_QUIET)
		snprintf(what, sizeof(what), "%s", from);
	else
		snprintf(what, sizeof(what),
		         end == END_LOST ? "%s lost (%s)" : "cannot connect to %s (%s)", from, why);
	if (round_over)
		log_warn("mqtt %s: %s; none of the %d brokers took us, trying %s in %d ms", c->name,
		         what, c->naddrs, to, delay);
	else
		log_warn("mqtt %s: %s; trying %s", c->name, what, to);
}

static void check_dead(struct mqttc *c)
{
	enum attempt_end end = END_QUIET;
	const char *why = "";

	if (c->dead && c->mosq) {
		/* A connect that failed after connect_async returned (the
		 * deferred-ack client writes its CONNECT only from the loop). */
		if (!c->connected && !c->refused) {
			if (!c->error[0])
				set_error(c, "cannot connect");
			end = END_NOCONN;
			why = c->error;
		} else if (c->closing) {
			end = END_CLOSED;
		} else if (c->connected) {
			end = END_LOST;
			why = c->lost_why ? c->lost_why : "closed";
			/* Not a working link after all: as if the attempt failed. */
			if (c->sub_refused ||
			    (c->naddrs > 1 && loop_mono_ms() - c->connected_at < STABLE_MS)) {
				c->failed = c->failed_saved;
				c->backoff_ms = c->backoff_saved;
			}
		}
		c->lost_why = NULL;
		c->sub_refused = 0;
		teardown(c);
		schedule_retry(c, end, why);
	}
}

static void on_fd(void *arg, int fd, short revents)
{
	struct mqttc *c = arg;
	(void)fd;
	if (!c->mosq)
		return;
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		struct loop_span sp, d;
		int rc, i = 1;
		if (loop_trace_us() > 0)
			loop_span_begin(&sp);
		errno = 0;
		rc = mosquitto_loop_read(c->mosq, 1);
		/* One packet per loop_read: with deferred acks, read the whole
		 * burst the socket holds so it costs one commit, not one each.
		 * The socket is drained when libmosquitto's read said EAGAIN
		 * (it returns success then, with errno left as the read set
		 * it): one read too many per burst rather than a FIONREAD per
		 * packet. An EAGAIN from a callback's own I/O only ends the
		 * burst early; poll is level-triggered and comes back. */
		for (; c->defer && rc == MOSQ_ERR_SUCCESS && !c->dead && i < READ_BURST_MAX &&
		       errno != EAGAIN && errno != EWOULDBLOCK;
		     i++) {
			errno = 0;
			rc = mosquitto_loop_read(c->mosq, 1);
		}
		if (loop_trace_us() > 0 && loop_span_end(&sp, &d))
			log_notice(
			    "trace: mqtt %s: read burst of %d packet(s) %lld us (cpu %lld us, "
			    "vcsw %ld, ivcsw %ld)%s",
			    c->name, i, (long long)d.wall_us, (long long)d.cpu_us, d.vcsw, d.ivcsw,
			    i >= READ_BURST_MAX ? ", more to read" : "");
		if (rc != MOSQ_ERR_SUCCESS) {
			if (!c->connected && !c->error[0])
				set_read_error(c, rc, errno);
			c->dead = 1;
		}
		if (c->mosq && !c->dead)
			want_barrier(c);
	}
	if (c->mosq && !c->dead && !held(c) && (revents & POLLOUT)) {
		int rc = mosquitto_loop_write(c->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			c->dead = 1;
	}
	/* Callbacks run inside loop_read queue their packets; send them now
	 * rather than on the next poll round. */
	write_queued(c);
	check_dead(c);
}

static void prepare(void *arg)
{
	struct mqttc *c = arg;
	check_dead(c);
	if (c->mosq && c->fd >= 0)
		loop_fd_events(c->loop, c->fd,
		               POLLIN | (!held(c) && mosquitto_want_write(c->mosq) ? POLLOUT : 0));
}

static void misc_tick(void *arg)
{
	struct mqttc *c = arg;
	if (c->mosq && mosquitto_loop_misc(c->mosq) != MOSQ_ERR_SUCCESS && c->connected)
		c->dead = 1;
	if (c->barrier_out && loop_mono_ms() - c->barrier_since > HOLD_MAX_MS) {
		log_warn("mqtt %s: the store has not confirmed a commit in %d s; acknowledging "
		         "the broker without waiting",
		         c->name, HOLD_MAX_MS / 1000);
		c->stale++;
		c->barrier_out = 0;
		c->unbarriered = 0;
	}
	/* A PINGREQ queued by loop_misc (deferred mode queues everything). */
	write_queued(c);
	check_dead(c);
	c->misc_timer = loop_timer_add(c->loop, 1000, misc_tick, c);
}

static void connect_job_unref(struct connect_job *j)
{
	int last;
	pthread_mutex_lock(&j->lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&j->lock);
	close(j->efd);
	free(j->host);
	free(j);
}

/* libmosquitto's connect_async calls getaddrinfo() itself, and that blocks
 * for as long as the DNS server takes: seconds when it is unreachable, the
 * very outage the outbox rides through. Resolving first and connecting to
 * the address would not do: libmosquitto checks the server's certificate
 * against, and sends SNI for, the host it was given. So the whole
 * connect_async runs here, and the loop does not touch the client until
 * the eventfd says it is back. Detached: a client freed while its lookup
 * hangs (the stop) does not wait for it; whoever comes second of the
 * thread and mqttc_free destroys the client. */
/* On the thread the client's log goes to the job, not to the mqttc, which
 * the loop owns (and may free meanwhile). */
static void connect_job_log(struct mosquitto *m, void *arg, int level, const char *str)
{
	struct connect_job *j = arg;
	(void)m;
	if (level == MOSQ_LOG_ERR && str)
		snprintf(j->log, sizeof(j->log), "%s", str);
}

static void *connect_job_run(void *arg)
{
	struct connect_job *j = arg;
	uint64_t one = 1;
	int rc = mosquitto_connect_async(j->mosq, j->host, j->port, j->keepalive_s), abandoned;

	pthread_mutex_lock(&j->lock);
	j->rc = rc;
	j->err = errno;
	j->done = 1;
	abandoned = j->abandoned;
	pthread_mutex_unlock(&j->lock);
	if (abandoned)
		mosquitto_destroy(j->mosq);
	else if (write(j->efd, &one, sizeof(one)) < 0)
		abort(); /* an eventfd write fails only on overflow */
	connect_job_unref(j);
	return NULL;
}

static void connect_started(struct mqttc *c, int rc, int err);

static void on_connect_job(void *arg, int fd, short revents)
{
	struct mqttc *c = arg;
	struct connect_job *j = c->resolving;
	uint64_t n;
	(void)revents;
	if (read(fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	loop_fd_del(c->loop, fd);
	c->resolving = NULL;
	c->mosq = j->mosq;
	mosquitto_user_data_set(c->mosq, c);
	mosquitto_log_callback_set(c->mosq, on_log_cb);
	if (j->log[0])
		on_log_cb(c->mosq, c, MOSQ_LOG_ERR, j->log);
	connect_started(c, j->rc, j->err);
	connect_job_unref(j);
}

/* 0 when the connect runs on its thread; -1: do it here. */
static int connect_in_thread(struct mqttc *c)
{
	struct connect_job *j = calloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (!j)
		return -1;
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	j->host = strdup(c->host);
	if (j->efd < 0 || !j->host || pthread_mutex_init(&j->lock, NULL) != 0) {
		if (j->efd >= 0)
			close(j->efd);
		free(j->host);
		free(j);
		return -1;
	}
	j->refs = 2;
	j->mosq = c->mosq;
	j->port = c->port;
	j->keepalive_s = c->keepalive_s;
	mosquitto_user_data_set(j->mosq, j);
	mosquitto_log_callback_set(j->mosq, connect_job_log);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, connect_job_run, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		mosquitto_user_data_set(c->mosq, c);
		mosquitto_log_callback_set(c->mosq, on_log_cb);
		j->refs = 1;
		connect_job_unref(j);
		return -1;
	}
	c->mosq = NULL;
	c->resolving = j;
	loop_fd_add(c->loop, j->efd, POLLIN, on_connect_job, c);
	return 0;
}

/* mqttc_free while the thread connects: leave the client to it, or
 * destroy it here when the thread is already done. */
static void connect_job_abandon(struct mqttc *c)
{
	struct connect_job *j = c->resolving;
	int done;
	if (!j)
		return;
	loop_fd_del(c->loop, j->efd);
	pthread_mutex_lock(&j->lock);
	j->abandoned = 1;
	done = j->done;
	pthread_mutex_unlock(&j->lock);
	if (done)
		mosquitto_destroy(j->mosq);
	c->resolving = NULL;
	connect_job_unref(j);
}

static void start_connect(void *arg)
{
	struct mqttc *c = arg;
	int rc;

	c->retry_timer = 0;
	c->refused = 0;
	c->error[0] = '\0';
	/* A persistent session needs a client id; the daemon always gives one. */
	c->mosq = mosquitto_new(c->client_id, !(c->persistent && c->client_id), c);
	if (!c->mosq) {
		log_err("mqtt %s: cannot create client", c->name);
		schedule_retry(c, END_QUIET, "");
		return;
	}
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	/* A siren command must not wait for Nagle behind the previous one. */
	mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	/* "Threaded" only in name: nobody else runs it, but libmosquitto then
	 * queues packets instead of writing them at once, which lets us hold
	 * the acks (see mqttc.h). */
	if (c->defer)
		mosquitto_threaded_set(c->mosq, true);
	mosquitto_connect_with_flags_callback_set(c->mosq, on_connect_cb);
	mosquitto_disconnect_callback_set(c->mosq, on_disconnect_cb);
	mosquitto_message_callback_set(c->mosq, on_message_cb);
	mosquitto_publish_callback_set(c->mosq, on_publish_cb);
	mosquitto_subscribe_callback_set(c->mosq, on_subscribe_cb);
	mosquitto_log_callback_set(c->mosq, on_log_cb);
	if (c->username)
		mosquitto_username_pw_set(c->mosq, c->username, c->password);
	if (c->tls) {
		rc = mosquitto_tls_set(c->mosq, c->cafile, c->cafile ? NULL : "/etc/ssl/certs",
		                       c->certfile, c->keyfile, no_passphrase);
		if (rc != MOSQ_ERR_SUCCESS)
			log_err("mqtt %s: TLS setup: %s", c->name, mosquitto_strerror(rc));
	}
	if (c->will_topic)
		mosquitto_will_set(c->mosq, c->will_topic, (int)strlen(c->will_payload),
		                   c->will_payload, 1, true);
	if (c->numeric_host || connect_in_thread(c) < 0) {
		rc = mosquitto_connect_async(c->mosq, c->host, c->port, c->keepalive_s);
		connect_started(c, rc, errno);
	}
}

/* After connect_async, here or on its thread. */
static void connect_started(struct mqttc *c, int rc, int err)
{
	if (rc != MOSQ_ERR_SUCCESS) {
		if (!c->error[0]) {
			if (rc == MOSQ_ERR_EAI)
				set_error(c, "cannot resolve the host name");
			else
				set_read_error(c, rc, err);
		}
		mosquitto_destroy(c->mosq);
		c->mosq = NULL;
		schedule_retry(c, END_NOCONN, c->error);
		return;
	}
	c->fd = mosquitto_socket(c->mosq);
	loop_fd_add(c->loop, c->fd, POLLIN | POLLOUT, on_fd, c);
}

struct mqttc *mqttc_new(struct loop *l, const struct mqttc_params *p,
                        const struct mqttc_callbacks *cb, void *ctx)
{
	struct mqttc *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (lib_refs++ == 0)
		mosquitto_lib_init();
	c->loop = l;
	c->fd = -1;
	c->cb = *cb;
	c->ctx = ctx;
	c->name = strdup(p->name ? p->name : "mqtt");
	if (p->addrs && p->naddrs > 0) {
		c->naddrs = p->naddrs < MQTTC_ADDRS_MAX ? p->naddrs : MQTTC_ADDRS_MAX;
		for (int i = 0; i < c->naddrs; i++) {
			c->addr[i].host = dup_or_null(p->addrs[i].host);
			c->addr[i].port = p->addrs[i].port;
		}
	} else {
		c->naddrs = 1;
		c->addr[0].host = dup_or_null(p->host);
		c->addr[0].port = p->port;
	}
	for (int i = 0; i < c->naddrs; i++) {
		unsigned char a[16];
		if (!c->addr[i].host)
			c->addr[i].host = strdup("127.0.0.1");
		if (!c->addr[i].host) {
			mqttc_free(c);
			return NULL;
		}
		if (!c->addr[i].port)
			c->addr[i].port = 1883;
		c->addr[i].numeric = inet_pton(AF_INET, c->addr[i].host, a) == 1 ||
		                     inet_pton(AF_INET6, c->addr[i].host, a) == 1;
	}
	use_addr(c, 0);
	c->username = dup_or_null(p->username);
	c->password = dup_or_null(p->password);
	c->client_id = dup_or_null(p->client_id);
	c->cafile = dup_or_null(p->cafile);
	c->certfile = dup_or_null(p->certfile);
	c->keyfile = dup_or_null(p->keyfile);
	c->will_topic = dup_or_null(p->will_topic);
	c->will_payload = dup_or_null(p->will_topic ? p->will_payload : NULL);
	c->keepalive_s = p->keepalive_s > 0 ? p->keepalive_s : 30;
	c->tls = p->tls;
	c->persistent = p->persistent;
	c->defer = p->defer_acks;
	c->backoff_min_ms = p->backoff_min_ms > 0 ? p->backoff_min_ms : BACKOFF_MIN_MS;
	c->backoff_ms = c->backoff_min_ms;
	if (!c->name) {
		mqttc_free(c);
		return NULL;
	}
	loop_prepare_add(l, prepare, c);
	c->misc_timer = loop_timer_add(l, 1000, misc_tick, c);
	start_connect(c);
	return c;
}

void mqttc_disconnect(struct mqttc *c)
{
	if (c && c->mosq && c->connected) {
		c->closing = 1;
		/* Acks still held stay unsent: the broker redelivers those
		 * messages to the next run, which is what we want. */
		if (held(c))
			return;
		mosquitto_disconnect(c->mosq);
		mosquitto_loop_write(c->mosq, 1);
	}
}

void mqttc_free(struct mqttc *c)
{
	if (!c)
		return;
	loop_prepare_del(c->loop, prepare, c);
	loop_timer_cancel(c->loop, c->retry_timer);
	loop_timer_cancel(c->loop, c->misc_timer);
	loop_timer_cancel(c->loop, c->barrier_timer);
	connect_job_abandon(c);
	if (c->fd >= 0)
		loop_fd_del(c->loop, c->fd);
	if (c->mosq)
		mosquitto_destroy(c->mosq);
	free(c->name);
	for (int i = 0; i < c->naddrs; i++)
		free(c->addr[i].host);
	subs_free(&c->subs);
	subs_free(&c->granted);
	free(c->username);
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	free(c->client_id);
	free(c->cafile);
	free(c->certfile);
	free(c->keyfile);
	free(c->will_topic);
	free(c->will_payload);
	free(c);
	if (--lib_refs == 0)
		mosquitto_lib_cleanup();
}

int mqttc_connected(const struct mqttc *c)
{
	return c && c->connected && !c->dead;
}

int mqttc_publish(struct mqttc *c, const char *topic, const void *payload, size_t len, int qos,
                  int retain, int *mid)
{
	int rc;
	if (!mqttc_connected(c))
		return -1;
	rc = mosquitto_publish(c->mosq, mid, topic, (int)len, payload, qos, retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warn("mqtt %s: publish %s: %s", c->name, topic, mosquitto_strerror(rc));
		if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
			c->dead = 1;
		return -1;
	}
	/* Outside a libmosquitto callback the packet is already written.
	 * Inside one, libmosquitto holds its callback lock, and writing a QoS 0
	 * packet would call on_publish and deadlock on it; on_fd writes the
	 * queue as soon as the callback returns, before the next poll. */
	if (!c->in_cb)
		write_queued(c);
	return 0;
}

int mqttc_subscribe(struct mqttc *c, const char *topic)
{
	return mqttc_subscribe_qos(c, topic, 1);
}

int mqttc_subscribe_qos(struct mqttc *c, const char *topic, int qos)
{
	struct sub_pending *s;
	int mid = 0, rc;

	if (!c || !c->mosq)
		return -1;
	s = *sub_find(&c->granted, topic);
	if (c->resumed && s && s->qos == qos)
		return 0; /* in the session the broker kept */
	rc = mosquitto_subscribe(c->mosq, &mid, topic, qos);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warn("mqtt %s: subscribe %s: %s", c->name, topic, mosquitto_strerror(rc));
		return -1;
	}
	/* Without memory the SUBACK is still checked; only the topic is not
	 * named then. */
	s = malloc(sizeof(*s) + strlen(topic) + 1);
	if (s) {
		s->mid = mid;
		s->qos = qos;
		strcpy(s->topic, topic);
		s->next = c->subs;
		c->subs = s;
	}
	return 0;
}

int mqttc_unsubscribe(struct mqttc *c, const char *topic)
{
	struct sub_pending **g, *old;

	if (!c || !c->mosq)
		return -1;
	g = sub_find(&c->granted, topic);
	old = *g;
	if (old) {
		*g = old->next;
		free(old);
	}
	return mosquitto_unsubscribe(c->mosq, NULL, topic) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

const char *mqttc_peer(const struct mqttc *c)
{
	struct mqttc *w = (struct mqttc *)c; /* the buffer is a cache */
	if (!mqttc_connected(c))
		return NULL;
	return mqttc_format_addr(w->peer, sizeof(w->peer), c->host, c->port);
}

const char *mqttc_error(const struct mqttc *c)
{
	return c && !mqttc_connected(c) && c->error[0] ? c->error : NULL;
}

int mqttc_unacked(const struct mqttc *c)
{
	return c && c->defer ? c->unbarriered + (c->barrier_out ? c->in_barrier : 0) : 0;
}

void mqttc_acks_durable(struct mqttc *c)
{
	if (!c || !c->defer)
		return;
	if (c->barrier_out)
		c->stale++;
	c->barrier_out = 0;
	c->in_barrier = 0;
	c->unbarriered = 0;
	write_queued(c);
}

void mqttc_flush(struct mqttc *c)
{
	if (c)
		write_queued(c);
}
