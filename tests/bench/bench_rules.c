/*
 * bench_rules.c: how the rule engine scales with the size of the rule set.
 *
 * A site of 1,000 smoke sensors in 100 zones, and rule sets of 10, 100,
 * 1,000 and 10,000 rules. Two probed sensors have exactly 5 rules each
 * filed under their smoke point; every other rule selects one of the 998
 * other sensors (with every kind of sensor trigger: becomes, above, rises,
 * is ... for), so a probe reading visits 5 rules whatever the size. The
 * readings alternate between the two probed sensors and between detected
 * and clear, through a view that answers point, mode, alarm and clock
 * questions, with a message template on the hot path.
 *
 * Prints ns per reading, readings per second and the compile time of each
 * rule set (generated in memory, compiled with rules_compile_string), then
 * the ratio of 10,000 to 10 rules. Asserts nothing: the machines are
 * shared and noisy (DESIGN.md section 5).
 *
 *   bench_rules [-n READINGS] [-r REPEATS]
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/config.h"
#include "rules/rules.h"

#define NSENSORS 1000
#define NZONES 100
#define NPROBES 2
#define PER_PROBE 5

struct site {
	struct config cfg;
	struct config_zone zones[NZONES];
	struct config_sensor sensors[NSENSORS];
	struct config_contact contacts[2];
	char zone_ids[NZONES][16], sensor_ids[NSENSORS][16];
};

static void site_init(struct site *s)
{
	memset(s, 0, sizeof(*s));
	for (int z = 0; z < NZONES; z++) {
		snprintf(s->zone_ids[z], sizeof(s->zone_ids[z]), "z-%02d", z);
		s->zones[z] = (struct config_zone){.id = s->zone_ids[z], .name = s->zone_ids[z]};
	}
	for (int i = 0; i < NSENSORS; i++) {
		snprintf(s->sensor_ids[i], sizeof(s->sensor_ids[i]), "s-%04d", i);
		s->sensors[i] = (struct config_sensor){
		    .id = s->sensor_ids[i], .kind = KIND_SMOKE, .zone = i % NZONES};
	}
	s->contacts[0] = (struct config_contact){.id = "militia", .via = VIA_UPSTREAM};
	s->contacts[1] = (struct config_contact){.id = "owner", .via = VIA_SMS};
	s->cfg.zones = s->zones;
	s->cfg.nzones = NZONES;
	s->cfg.sensors = s->sensors;
	s->cfg.nsensors = NSENSORS;
	s->cfg.contacts = s->contacts;
	s->cfg.ncontacts = 2;
}

struct text {
	char *p;
	size_t n, cap;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->n)
			break;
		t->cap = t->cap ? t->cap * 2 : 1 << 16;
		t->p = realloc(t->p, t->cap);
		if (!t->p) {
			perror("bench_rules");
			exit(1);
		}
	}
	t->n += (size_t)n;
}

/* The 5 rules of a probed sensor: what a real site files under a smoke
 * detector, with conditions of every sort and one message template. */
static void probe_rules(struct text *t, int s)
{
	add(t,
	    "rule \"p%d fire\"\nwhen sensor \"s-%04d\" becomes detected\n"
	    "then alarm fire \"Khói ở ${zone_name} (${sensor})\"; siren on fire; alert militia "
	    "owner\nend\n",
	    s, s);
	add(t,
	    "rule \"p%d night\"\nwhen sensor \"s-%04d\" becomes detected\n"
	    "if (mode is armed_away or mode is armed_night) and time between 22:00 and 06:00\n"
	    "then alarm intrusion; siren on burglar for 3m\nend\n",
	    s, s);
	add(t,
	    "rule \"p%d unconfirmed\"\nwhen sensor \"s-%04d\" becomes detected\n"
	    "if not alarm fire is active and not sensor \"s-0500\" is detected\n"
	    "then supervisory \"unconfirmed\"\nend\n",
	    s, s);
	add(t,
	    "rule \"p%d zone\"\nwhen sensor \"s-%04d\" becomes detected\n"
	    "if zone \"z-%02d\" is detected\nthen alert owner priority low\nend\n",
	    s, s, s % NZONES);
	add(t, "rule \"p%d clear\"\nwhen sensor \"s-%04d\" becomes clear\nthen siren off\nend\n", s,
	    s);
}

/* A rule that selects sensor s, never a probed one. */
static void other_rule(struct text *t, int i, int s)
{
	switch (i % 5) {
	case 0:
		add(t,
		    "rule \"o%d\"\nwhen sensor \"s-%04d\" becomes detected\nthen alarm fire\nend\n",
		    i, s);
		break;
	case 1:
		add(t,
		    "rule \"o%d\"\nwhen sensor \"s-%04d\" temperature above 57 clear below 50\n"
		    "then alarm fire \"hot\"\nend\n",
		    i, s);
		break;
	case 2:
		add(t,
		    "rule \"o%d\"\nwhen sensor \"s-%04d\" rises 8 per 1m\nthen supervisory\nend\n",
		    i, s);
		break;
	case 3:
		add(t,
		    "rule \"o%d\"\nwhen sensor \"s-%04d\" is detected for 5m\n"
		    "after 30s unless mode is disarmed\nthen alert militia\nend\n",
		    i, s);
		break;
	default:
		add(t, "rule \"o%d\"\nwhen sensor \"s-%04d\" offline for 1h\nthen fault\nend\n", i,
		    s);
		break;
	}
}

static char *rules_text(int nrules)
{
	struct text t = {0};
	int others = nrules - NPROBES * PER_PROBE;

	for (int p = 0; p < NPROBES; p++)
		probe_rules(&t, p);
	for (int i = 0; i < others; i++)
		other_rule(&t, i, NPROBES + i % (NSENSORS - NPROBES));
	return t.p;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The daemon's view, answered from arrays. */
static double values[NSENSORS];

static int view_point(void *ctx, int sensor, enum sh_point p, double *value)
{
	(void)ctx;
	if (p != POINT_SMOKE)
		return -1;
	*value = values[sensor];
	return 0;
}

static enum sh_mode view_mode(void *ctx)
{
	(void)ctx;
	return MODE_ARMED_NIGHT;
}

static unsigned view_alarm(void *ctx, enum sh_alarm_class cls, int zone)
{
	(void)ctx;
	(void)cls;
	(void)zone;
	return 0;
}

static int64_t view_local(void *ctx)
{
	(void)ctx;
	return 1773183600000LL; /* 2026-03-10 23:00 local */
}

static volatile uint64_t sink;

static void on_action(void *ctx, const struct rules_action *a)
{
	(void)ctx;
	sink += (uint64_t)a->type + (a->message ? (unsigned char)a->message[0] : 0);
}

static void on_diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	if (severity == 0)
		fprintf(stderr, "bench_rules: %s\n", msg);
}

struct row {
	int nrules;
	double compile_ms, ns_per_reading, visited_per_reading;
};

static int run(struct site *site, int nrules, long nreadings, int repeats, struct row *row)
{
	const struct rules_view view = {
	    .point = view_point, .mode = view_mode, .alarm = view_alarm, .local_ms = view_local};
	struct rules_stats before, after;
	struct ruleset *rs = NULL;
	char *text = rules_text(nrules);
	int nerr = 0;

	row->nrules = nrules;
	row->compile_ms = 1e300;
	row->ns_per_reading = 1e300;
	for (int r = 0; r < repeats; r++) {
		/* the daemon's path: the site description from the config, then
		 * the compile (the description's cost is timed too) */
		int64_t t0 = mono_ns();
		struct rules_site *rsite = config_rules_site(&site->cfg);
		struct ruleset *c = rsite ? rules_compile_string(text, "bench.rules", rsite,
		                                                 on_diag, NULL, &nerr, NULL)
		                          : NULL;
		double ms = (double)(mono_ns() - t0) / 1e6;
		free(rsite);
		if (!c) {
			fprintf(stderr, "bench_rules: %d rules do not compile (%d errors)\n",
			        nrules, nerr);
			free(text);
			return -1;
		}
		if (ms < row->compile_ms)
			row->compile_ms = ms;
		rules_free(rs);
		rs = c;
	}
	free(text);
	if (rules_count(rs) != nrules) {
		fprintf(stderr, "bench_rules: %d rules compiled, %d wanted\n", rules_count(rs),
		        nrules);
		rules_free(rs);
		return -1;
	}

	/* warm up: the message arena, the caches */
	for (long i = 0; i < 1000; i++)
		rules_eval(rs, (int)(i % NPROBES), POINT_SMOKE, 1, (i / NPROBES) % 2 == 0,
		           (i / NPROBES) % 2, i, &view, on_action, NULL);
	rules_get_stats(rs, &before);
	for (int r = 0; r < repeats; r++) {
		int64_t t0 = mono_ns();
		for (long i = 0; i < nreadings; i++) {
			int s = (int)(i % NPROBES), v = (int)((i / NPROBES) % 2);
			values[s] = v;
			rules_eval(rs, s, POINT_SMOKE, 1, !v, v, 1000 + i, &view, on_action, NULL);
		}
		double ns = (double)(mono_ns() - t0) / (double)nreadings;
		if (ns < row->ns_per_reading)
			row->ns_per_reading = ns;
	}
	rules_get_stats(rs, &after);
	row->visited_per_reading =
	    (double)(after.visited - before.visited) / (double)(after.evals - before.evals);
	rules_free(rs);
	return 0;
}

int main(int argc, char **argv)
{
	static const int sizes[] = {10, 100, 1000, 10000};
	struct row rows[4];
	long nreadings = 1000000;
	int repeats = 5, opt, n = (int)(sizeof(sizes) / sizeof(sizes[0]));
	struct site *site = malloc(sizeof(*site));

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		switch (opt) {
		case 'n':
			nreadings = atol(optarg);
			break;
		case 'r':
			repeats = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench_rules [-n READINGS] [-r REPEATS]\n");
			return 2;
		}
	}
	if (!site || nreadings < 1 || repeats < 1)
		return 2;
	site_init(site);

	printf("rule engine: %d sensors, %d probed sensors with %d rules each; %ld readings, "
	       "best of %d\n\n",
	       NSENSORS, NPROBES, PER_PROBE, nreadings, repeats);
	printf("%8s %10s %12s %14s %12s\n", "rules", "visited", "ns/reading", "readings/s",
	       "compile ms");
	for (int i = 0; i < n; i++) {
		if (run(site, sizes[i], nreadings, repeats, &rows[i]) < 0)
			return 1;
		printf("%8d %10.1f %12.1f %14.0f %12.2f\n", rows[i].nrules,
		       rows[i].visited_per_reading, rows[i].ns_per_reading,
		       1e9 / rows[i].ns_per_reading, rows[i].compile_ms);
		fflush(stdout);
	}
	printf("\nns per reading, %d rules vs %d: %.2fx (target: within 2x)\n", sizes[n - 1],
	       sizes[0], rows[n - 1].ns_per_reading / rows[0].ns_per_reading);
	printf("compile time of %d rules: %.1f ms\n", sizes[n - 1], rows[n - 1].compile_ms);
	free(site);
	return 0;
}
