/*
 * bench_probe.c: the latency probe of the alarm-latency benchmark.
 *
 * Subscribes to the siren command topic, then publishes the probe sensor's
 * state on its topic, alternating {"smoke":true} and {"smoke":false} (QoS 0),
 * and waits for the matching siren command: a payload containing "stop"
 * answers a clear, any other payload containing "warning" answers a
 * detected. Latency is CLOCK_MONOTONIC from just before mosquitto_publish()
 * (which writes to the socket at once: the loop is not threaded and
 * TCP_NODELAY is set) to the moment the answer is parsed. No answer within
 * the timeout counts as lost; the next probe goes out an interval after
 * the answer (or the timeout).
 *
 * Before measuring, a sync phase sends alternating probes with a short
 * timeout until one is answered (up to -W seconds): this is how a script
 * waits for a forwarder to be ready, and it leaves the forwarder's probe
 * state known. With -d 0 -c 0 the probe only syncs. The first probe sent is
 * -s STATE (1 detected, the default, or 0 clear); the final line's `last`
 * is the state the forwarder was last told, so the next run can start with
 * the opposite and not spend a sync timeout on a state that is no change.
 *
 * Final line, machine-readable (latencies in microseconds):
 *   PROBE ready=1 probes=N answered=A lost=L p50_us=.. p99_us=.. max_us=..
 *         min_us=.. mean_us=.. stray=S last=STATE
 * stray counts siren commands that answered nothing (late answers to lost
 * probes, repeats).
 * Exit status: 0, or 3 when the sync phase got no answer.
 */
#include <errno.h>
#include <math.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static int connected = -1;
static int subscribed;
static int waiting = -1; /* -1: not waiting; 1: want "on"; 0: want "off" */
static int64_t answered_at;
static long stray;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
	(void)m;
	(void)ctx;
	connected = rc;
}

static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *qos)
{
	(void)m;
	(void)ctx;
	(void)mid;
	(void)n;
	(void)qos;
	subscribed = 1;
}

/* bounded substring search: payloads are not NUL-terminated */
static int contains(const char *p, int len, const char *needle)
{
	size_t n = strlen(needle);

	for (int i = 0; i + (int)n <= len; i++) {
		if (memcmp(p + i, needle, n) == 0)
			return 1;
	}
	return 0;
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
	int64_t t = now_ns();
	const char *p = msg->payload;
	int kind = -1;

	(void)m;
	(void)ctx;
	if (contains(p, msg->payloadlen, "stop"))
		kind = 0;
	else if (contains(p, msg->payloadlen, "warning"))
		kind = 1;
	if (waiting >= 0 && kind == waiting) {
		answered_at = t;
		waiting = -1;
	} else {
		stray++;
	}
}

enum until { UNTIL_TIME, UNTIL_ANSWER, UNTIL_CONNACK, UNTIL_SUBACK };

/* Service the connection until until_ns, or earlier when the condition is
 * met. Returns -1 when the connection is gone. */
static int pump(struct mosquitto *m, int64_t until_ns, enum until cond)
{
	for (;;) {
		int64_t t = now_ns();
		if (stop || t >= until_ns || (cond == UNTIL_ANSWER && waiting < 0) ||
		    (cond == UNTIL_CONNACK && connected >= 0) ||
		    (cond == UNTIL_SUBACK && subscribed))
			return 0;
		struct pollfd p = {.fd = mosquitto_socket(m), .events = POLLIN};
		if (p.fd < 0)
			return -1;
		if (mosquitto_want_write(m))
			p.events |= POLLOUT;
		int ms = (int)((until_ns - t + 999999) / 1000000);
		if (ms > 100)
			ms = 100;
		if (poll(&p, 1, ms) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS)
				return -1;
		}
		if (mosquitto_want_write(m)) {
			if (mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS)
				return -1;
		}
		mosquitto_loop_misc(m);
	}
}

static const char *const probe_payload[2] = {"{\"smoke\":false}", "{\"smoke\":true}"};

/* Publish one probe of the given state and wait for its answer. Returns the
 * latency in ns, 0 when lost (timeout), -1 on a connection error. */
static int64_t probe_once(struct mosquitto *m, const char *topic, int state, int64_t timeout_ns)
{
	const char *pl = probe_payload[state];

	waiting = state;
	int64_t t0 = now_ns();
	if (mosquitto_publish(m, NULL, topic, (int)strlen(pl), pl, 0, false) != MOSQ_ERR_SUCCESS)
		return -1;
	if (pump(m, t0 + timeout_ns, UNTIL_ANSWER) < 0)
		return -1;
	if (waiting >= 0) {
		waiting = -1;
		return 0;
	}
	int64_t d = answered_at - t0;
	return d > 0 ? d : 1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
static double pct_us(const int64_t *v, int n, double p)
{
	if (n == 0)
		return 0;
	int i = (int)ceil(p / 100.0 * n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1000.0;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_probe [-H host] [-p port] [-t probe_topic] [-T siren_topic]\n"
	        "                   [-i interval_ms] [-w timeout_ms] [-d seconds] [-c count]\n"
	        "                   [-W sync_seconds] [-s first_state] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *ptopic = "bench/probe", *stopic = "bench/siren/set";
	int port = 1883, interval_ms = 20, timeout_ms = 2000, count = 0, verbose = 0, state = 1,
	    opt;
	double seconds = 10, sync_s = 10;

	while ((opt = getopt(argc, argv, "H:p:t:T:i:w:d:c:W:s:v")) != -1) {
		switch (opt) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 't':
			ptopic = optarg;
			break;
		case 'T':
			stopic = optarg;
			break;
		case 'i':
			interval_ms = atoi(optarg);
			break;
		case 'w':
			timeout_ms = atoi(optarg);
			break;
		case 'd':
			seconds = atof(optarg);
			break;
		case 'c':
			count = atoi(optarg);
			break;
		case 'W':
			sync_s = atof(optarg);
			break;
		case 's':
			state = atoi(optarg) != 0;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (interval_ms < 0 || timeout_ms <= 0 || count < 0 || seconds < 0)
		usage();

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	mosquitto_lib_init();
	char id[64];
	snprintf(id, sizeof(id), "bench-probe-%d", (int)getpid());
	struct mosquitto *m = mosquitto_new(id, true, NULL);
	if (!m)
		return 1;
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_message_callback_set(m, on_message);
	if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "bench_probe: cannot connect to %s:%d\n", host, port);
		return 1;
	}
	int64_t deadline = now_ns() + 5000000000LL;
	pump(m, deadline, UNTIL_CONNACK);
	if (connected != 0) {
		fprintf(stderr, "bench_probe: no CONNACK from %s:%d\n", host, port);
		return 1;
	}
	mosquitto_subscribe(m, NULL, stopic, 1);
	pump(m, deadline, UNTIL_SUBACK);
	if (!subscribed) {
		fprintf(stderr, "bench_probe: no SUBACK\n");
		return 1;
	}

	/* Sync: alternate until one probe is answered. */
	int ready = 0;
	int64_t sync_end = now_ns() + (int64_t)(sync_s * 1e9);
	while (!stop && now_ns() < sync_end) {
		int64_t r = probe_once(m, ptopic, state, 300000000LL);
		if (r < 0)
			break;
		state = !state;
		if (r > 0) {
			ready = 1;
			break;
		}
	}
	if (!ready) {
		printf("PROBE ready=0 probes=0 answered=0 lost=0 p50_us=0 p99_us=0 max_us=0 "
		       "min_us=0 mean_us=0 stray=%ld last=%d\n",
		       stray, !state);
		return 3;
	}
	/* Let a late duplicate of the sync answer land before counting strays. */
	pump(m, now_ns() + (int64_t)interval_ms * 1000000LL, UNTIL_TIME);
	stray = 0;

	int cap = count > 0 ? count : 1024, n = 0, probes = 0, lost = 0, err = 0;
	int64_t *lat = malloc(sizeof(*lat) * (size_t)cap);
	int64_t end = seconds > 0 ? now_ns() + (int64_t)(seconds * 1e9) : INT64_MAX;
	if (!lat)
		return 1;
	while (!stop && (count == 0 || probes < count) && (seconds > 0 || count > 0)) {
		if (now_ns() >= end)
			break;
		int64_t r = probe_once(m, ptopic, state, (int64_t)timeout_ms * 1000000LL);
		if (r < 0) {
			fprintf(stderr, "bench_probe: connection lost\n");
			err = 1;
			break;
		}
		probes++;
		state = !state;
		if (r == 0) {
			lost++;
			if (verbose)
				fprintf(stderr, "bench_probe: probe %d lost\n", probes);
		} else {
			if (n == cap) {
				int64_t *bigger = realloc(lat, sizeof(*lat) * (size_t)cap * 2);
				if (!bigger)
					return 1;
				lat = bigger;
				cap *= 2;
			}
			lat[n++] = r;
		}
		if (pump(m, now_ns() + (int64_t)interval_ms * 1000000LL, UNTIL_TIME) < 0) {
			err = 1;
			break;
		}
	}

	qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += (double)lat[i];
	printf("PROBE ready=1 probes=%d answered=%d lost=%d p50_us=%.0f p99_us=%.0f max_us=%.0f "
	       "min_us=%.0f mean_us=%.0f stray=%ld last=%d%s\n",
	       probes, n, lost, pct_us(lat, n, 50), pct_us(lat, n, 99), pct_us(lat, n, 100),
	       pct_us(lat, n, 0), n ? sum / n / 1000.0 : 0.0, stray, !state, err ? " error=1" : "");
	fflush(stdout);
	free(lat);
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return err;
}
