/*
 * bench_floor.c: the floor of the alarm-latency benchmark.
 *
 * The least a gateway can do and still answer the probe: one libmosquitto
 * connection in a non-threaded poll loop, every message on bench/+ (the
 * probe and all the telemetry) parsed with cJSON, and for bench/probe the
 * same zigbee2mqtt siren commands safehoused sends, on bench/siren/set at
 * QoS 1, when the probe's smoke state changes. No rules, no registry, no
 * storage. Whatever safehoused spends beyond this is the price of its
 * rules, its store and its bookkeeping.
 *
 * bench/+ matches bench/probe and bench/smoke_NNN, bench/door_NNN but not
 * bench/siren/set, so the floor does not hear its own commands.
 *
 * Runs until SIGINT/SIGTERM, then prints one line:
 *   FLOOR messages=N probes=P sirens=S bad=B
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static const char siren_on[] =
    "{\"warning\":{\"mode\":\"fire\",\"level\":\"very_high\",\"strobe\":true,\"duration\":300}}";
static const char siren_off[] = "{\"warning\":{\"mode\":\"stop\"}}";

struct floor {
	const char *probe_topic;
	const char *siren_topic;
	int qos;
	int probe_state; /* -1 unknown, 0 clear, 1 detected */
	long messages, probes, sirens, bad;
	long smoke, open;       /* telemetry values seen, so the parse is used */
	const char *ready_file; /* -R: created once subscribed */
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
	(void)ctx;
	if (rc != 0) {
		fprintf(stderr, "bench_floor: connect refused: %s\n", mosquitto_connack_string(rc));
		stop = 1;
		return;
	}
	/* Subscribe on every (re)connect: the session is clean. */
	mosquitto_subscribe(m, NULL, "bench/+", 0);
}

/* -R: say when the subscription is in place, for a bench that must know the
 * floor hears the load before it starts (run.sh's side-by-side phase). */
static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *granted)
{
	struct floor *f = ctx;
	FILE *fp;
	(void)m;
	(void)mid;
	(void)n;
	(void)granted;
	if (f->ready_file && (fp = fopen(f->ready_file, "w")))
		fclose(fp);
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
	struct floor *f = ctx;

	f->messages++;
	cJSON *j = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
	if (!cJSON_IsObject(j)) {
		f->bad++;
		cJSON_Delete(j);
		return;
	}
	if (strcmp(msg->topic, f->probe_topic) == 0) {
		const cJSON *smoke = cJSON_GetObjectItemCaseSensitive(j, "smoke");
		f->probes++;
		if (cJSON_IsBool(smoke)) {
			int s = cJSON_IsTrue(smoke);
			if (s != f->probe_state) {
				const char *pl = s ? siren_on : siren_off;
				f->probe_state = s;
				if (mosquitto_publish(m, NULL, f->siren_topic, (int)strlen(pl), pl,
				                      f->qos, false) == MOSQ_ERR_SUCCESS)
					f->sirens++;
			}
		} else {
			f->bad++;
		}
	} else {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "smoke");
		if (cJSON_IsTrue(v))
			f->smoke++;
		v = cJSON_GetObjectItemCaseSensitive(j, "contact");
		if (cJSON_IsFalse(v))
			f->open++;
	}
	cJSON_Delete(j);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 1883, opt;
	struct floor f = {.probe_topic = "bench/probe",
	                  .siren_topic = "bench/siren/set",
	                  .qos = 1,
	                  .probe_state = -1};

	while ((opt = getopt(argc, argv, "H:p:q:R:")) != -1) {
		switch (opt) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'q':
			f.qos = atoi(optarg);
			break;
		case 'R':
			f.ready_file = optarg;
			break;
		default:
			fprintf(stderr, "usage: bench_floor [-H host] [-p port] [-q siren_qos] [-R "
			                "readyfile]\n");
			return 2;
		}
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	mosquitto_lib_init();
	char id[64];
	snprintf(id, sizeof(id), "bench-floor-%d", (int)getpid());
	struct mosquitto *m = mosquitto_new(id, true, &f);
	if (!m)
		return 1;
	/* The siren command must not wait behind Nagle. */
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "bench_floor: cannot connect to %s:%d\n", host, port);
		return 1;
	}

	int rc = 0;
	while (!stop) {
		struct pollfd p = {.fd = mosquitto_socket(m), .events = POLLIN};
		if (p.fd < 0) {
			rc = 1;
			break;
		}
		if (mosquitto_want_write(m))
			p.events |= POLLOUT;
		if (poll(&p, 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			rc = 1;
			break;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS) {
				fprintf(stderr, "bench_floor: connection lost\n");
				rc = 1;
				break;
			}
		}
		/* A siren command queued by on_message goes out now, not after
		 * the next poll. */
		if (mosquitto_want_write(m) && mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS) {
			rc = 1;
			break;
		}
		mosquitto_loop_misc(m);
	}

	printf("FLOOR messages=%ld probes=%ld sirens=%ld bad=%ld\n", f.messages, f.probes, f.sirens,
	       f.bad);
	fflush(stdout);
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return rc;
}
