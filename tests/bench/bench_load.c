/*
 * bench_load.c: zigbee2mqtt telemetry load for the alarm-latency benchmark.
 *
 * Publishes state messages for N sensors (half smoke detectors reporting
 * smoke:false on bench/smoke_NNN, half door contacts on bench/door_NNN whose
 * contact toggles on every publish of that door) at R messages/s, QoS 0,
 * round-robin over the sensors, so every sensor reports at R/N per second.
 *
 * Pacing: an absolute CLOCK_MONOTONIC schedule in ticks of a millisecond;
 * each tick publishes what the schedule says is due, then sleeps with
 * clock_nanosleep(TIMER_ABSTIME). The libmosquitto loop is not threaded:
 * mosquitto_publish() writes at once, and when the socket is full the tick
 * stops publishing and waits for POLLOUT (mosquitto_loop_write), so the
 * generator never queues more than the broker accepts. Slots missed while
 * blocked are dropped beyond a small catch-up window and reported, so the
 * printed "achieved" rate is what the broker really took.
 *
 * Several processes can share the sensors (-s SHARD -S NSHARDS); each one
 * publishes only the sensors whose index % NSHARDS == SHARD.
 *
 * Runs for -d seconds, or until SIGINT/SIGTERM, then prints one line:
 *   LOAD target=R sent=N seconds=S rate=A missed=M
 * With -P SECONDS it also prints, every SECONDS while it runs, the running
 * totals (for soak.sh's per-minute rate; keys distinct from the last line's):
 *   PROGRESS total_sent=N at_s=S total_missed=M
 */
#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS 1000000LL
/* How far behind the schedule the generator may catch up, in ticks. */
#define CATCHUP_TICKS 10

struct sensor {
	char topic[64];
	int door;
	int contact;
};

static volatile sig_atomic_t stop;
static int connected = -1;

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

static void sleep_until(int64_t t)
{
	struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
}

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
	(void)m;
	(void)ctx;
	connected = rc;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_load [-H host] [-p port] [-n sensors] [-r rate] [-d seconds]\n"
	        "                  [-s shard -S nshards] [-R readyfile] [-P seconds] [-q] [-Q qos (0, 1)]\n");
	exit(2);
}

/* Service the socket for up to timeout_ms: read (keepalive answers) and
 * flush what is queued. Returns -1 when the connection is gone. */
static int service(struct mosquitto *m, int timeout_ms)
{
	struct pollfd p = {.fd = mosquitto_socket(m), .events = POLLIN};

	if (p.fd < 0)
		return -1;
	if (mosquitto_want_write(m))
		p.events |= POLLOUT;
	if (poll(&p, 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
		if (mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS)
			return -1;
	}
	if ((p.revents & POLLOUT) && mosquitto_want_write(m)) {
		if (mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *ready = NULL;
	int port = 1883, nsensors = 500, shard = 0, nshards = 1, quiet = 0, qos = 0, opt;
	double rate = 1000, seconds = 10, progress = 0;

	while ((opt = getopt(argc, argv, "H:p:n:r:d:s:S:R:P:qQ:")) != -1) {
		switch (opt) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'n':
			nsensors = atoi(optarg);
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 'd':
			seconds = atof(optarg);
			break;
		case 's':
			shard = atoi(optarg);
			break;
		case 'S':
			nshards = atoi(optarg);
			break;
		case 'R':
			ready = optarg;
			break;
		case 'P':
			progress = atof(optarg);
			break;
		case 'q':
			quiet = 1;
			break;
		case 'Q':
			qos = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (qos < 0 || qos > 1 || nsensors < 2 || nshards < 1 || shard < 0 || shard >= nshards ||
	    rate < 0 || progress < 0)
		usage();

	/* Sensor j: even j are smoke detectors, odd j door contacts, so that a
	 * shard or a short run still sees both kinds. */
	struct sensor *all = calloc((size_t)nsensors, sizeof(*all));
	int nmine = 0;
	if (!all)
		return 1;
	for (int j = 0; j < nsensors; j++) {
		if (j % nshards != shard)
			continue;
		struct sensor *s = &all[nmine++];
		s->door = j % 2;
		snprintf(s->topic, sizeof(s->topic), "bench/%s_%03d", s->door ? "door" : "smoke",
		         j / 2 + 1);
	}
	if (nmine == 0)
		usage();

	static const char smoke_payload[] =
	    "{\"smoke\":false,\"battery\":93,\"battery_low\":false,"
	    "\"tamper\":false,\"linkquality\":120,\"voltage\":3000}";
	static const char *const door_payload[2] = {
	    "{\"contact\":false,\"battery\":88,\"battery_low\":false,\"tamper\":false,"
	    "\"linkquality\":99}",
	    "{\"contact\":true,\"battery\":88,\"battery_low\":false,\"tamper\":false,"
	    "\"linkquality\":99}",
	};

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	mosquitto_lib_init();
	char id[64];
	snprintf(id, sizeof(id), "bench-load-%d-%d", shard, (int)getpid());
	struct mosquitto *m = mosquitto_new(id, true, NULL);
	if (!m)
		return 1;
	/* One message is one TCP segment, as a real zigbee2mqtt would send it;
	 * Nagle would turn the stream into bursts. */
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	/* QoS 1 (-Q 1, zigbee2mqtt with qos: 1): no client-side window, the
	 * broker's acks are read as they come. */
	mosquitto_max_inflight_messages_set(m, 0);
	mosquitto_connect_callback_set(m, on_connect);
	if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "bench_load: cannot connect to %s:%d\n", host, port);
		return 1;
	}
	int64_t deadline = now_ns() + 5000000000LL;
	while (connected < 0 && !stop && now_ns() < deadline) {
		if (service(m, 100) < 0)
			break;
	}
	if (connected != 0) {
		fprintf(stderr, "bench_load: no CONNACK from %s:%d\n", host, port);
		return 1;
	}
	if (ready) {
		FILE *f = fopen(ready, "w");
		if (f)
			fclose(f);
	}

	const int64_t start = now_ns();
	const int64_t end = seconds > 0 ? start + (int64_t)(seconds * 1e9) : INT64_MAX;
	const uint64_t catchup = (uint64_t)(rate * CATCHUP_TICKS * TICK_NS / 1e9) + 1;
	uint64_t slot = 0, sent = 0, missed = 0;
	int64_t tick = start, last = start;
	const int64_t every = (int64_t)(progress * 1e9);
	int64_t next_progress = every > 0 ? start + every : INT64_MAX;
	int cursor = 0, err = 0;

	while (!stop && !err) {
		int64_t t = now_ns();
		if (t >= end)
			break;
		if (t >= next_progress) {
			printf("PROGRESS total_sent=%llu at_s=%.3f total_missed=%llu\n",
			       (unsigned long long)sent, (double)(t - start) / 1e9,
			       (unsigned long long)missed);
			fflush(stdout);
			next_progress += every;
		}
		uint64_t due = (uint64_t)((double)(t - start) * rate / 1e9);
		if (due > slot + catchup) {
			missed += due - slot - catchup;
			slot = due - catchup;
		}
		while (slot < due && !mosquitto_want_write(m)) {
			struct sensor *s = &all[cursor];
			const char *payload = smoke_payload;
			if (s->door) {
				s->contact = !s->contact;
				payload = door_payload[s->contact];
			}
			int rc = mosquitto_publish(m, NULL, s->topic, (int)strlen(payload), payload,
			                           qos, false);
			if (rc != MOSQ_ERR_SUCCESS) {
				fprintf(stderr, "bench_load: publish: %s\n",
				        mosquitto_strerror(rc));
				err = 1;
				break;
			}
			slot++;
			sent++;
			last = now_ns();
			if (++cursor == nmine)
				cursor = 0;
		}
		tick += TICK_NS;
		if (tick < t)
			tick = t + TICK_NS;
		/* Blocked by the broker: wait for room, up to the next tick. */
		if (mosquitto_want_write(m)) {
			int ms = (int)((tick - now_ns()) / 1000000);
			if (service(m, ms > 0 ? ms : 0) < 0)
				err = 1;
			continue;
		}
		if (service(m, 0) < 0) {
			err = 1;
			break;
		}
		mosquitto_loop_misc(m);
		sleep_until(tick < end ? tick : end);
	}
	/* Flush what is still queued, briefly. */
	for (int i = 0; i < 100 && mosquitto_want_write(m); i++) {
		if (service(m, 10) < 0)
			break;
	}

	double secs = (double)(last - start) / 1e9;
	printf("LOAD target=%.0f sent=%llu seconds=%.3f rate=%.0f missed=%llu%s\n", rate,
	       (unsigned long long)sent, secs, secs > 0 ? (double)sent / secs : 0.0,
	       (unsigned long long)missed, err ? " error=1" : "");
	if (!quiet)
		fprintf(stderr, "bench_load: %d sensors in this shard\n", nmine);
	fflush(stdout);
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	free(all);
	return err;
}
