/*
 * history_gen: write a simulated history of a site into a database, through
 * the daemon's own store code (gateway/store.c, inline mode) at injected
 * times, for the compliance report's tests and benchmark.
 *
 *   history_gen CONFIG DB --end RFC3339 --days N [--busy] [--break WHAT]...
 *               [--cut-days N]
 *
 * The history is a well-run house: every sensor online with healthy
 * batteries, walk tests of every detector and a siren test every 25 days,
 * one fire alarm acknowledged in 40 s and reset in 10 min (then marked a
 * false alarm), a 2-hour sensor outage with its fault, a 2-day
 * disablement, a 1-hour upstream outage, alerts delivered in seconds, and
 * an inspection on the last day. Each --break spoils one automatic
 * criterion (by its id in rules/model/criteria.json):
 *
 *   walk-tested       one detector's last walk test 40 days before the end
 *   offline           a sensor offline for 30 hours
 *   disablements      a disablement of 8 days
 *   fire-response     a fire alarm acknowledged after 200 s, reset after 40 min
 *   siren-test        no siren test at all
 *   batteries         a battery at 15 %
 *   upstream          the upstream link down for 2 days
 *   alerts-delivered  an alert still undelivered 2 hours before the end
 *
 * --busy adds an hourly reading per sensor (the benchmark's load).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/compliance.h"
#include "gateway/config.h"
#include "gateway/store.h"

#define DAY 86400000LL
#define HOUR 3600000LL
#define MIN 60000LL

static void diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s%s\n", msg, severity ? " (warning)" : "");
}

static int broken(char **brk, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(brk[i], what))
			return 1;
	return 0;
}

static int is_detector(enum sh_kind k)
{
	return k == KIND_SMOKE || k == KIND_HEAT || k == KIND_GAS || k == KIND_CO;
}

/* One alarm through its life, written as panel.c writes it: the row, and
 * an "alarm ID CLASS STATE in ZONE" event at each step. */
static int64_t alarm(struct store *s, const struct config *c, int sensor, enum sh_alarm_class cls,
                     int64_t at, int64_t ack_after, int64_t reset_after, const char *by,
                     const char *msg)
{
	const char *zone = c->zones[c->sensors[sensor].zone].id;
	struct store_alarm a = {.cls = cls,
	                        .zone = zone,
	                        .sensor = c->sensors[sensor].id,
	                        .rule = cls == ALARM_FAULT ? "sensor offline is a fault"
	                                                   : "smoke raises the fire alarm",
	                        .message = msg,
	                        .state = ALARM_RAISED,
	                        .active = 1,
	                        .cause_active = 1,
	                        .raised_ms = at,
	                        .updated_ms = at,
	                        .siren = cls == ALARM_FAULT ? SIREN_OFF : SIREN_FIRE};
	char d[256];
	store_alarm_insert(s, &a);
	snprintf(d, sizeof(d), "alarm %lld %s raised in %s", (long long)a.id, sh_class_name(cls),
	         zone);
	store_event(s, at, "panel", "alarm", a.sensor, NULL, 0, 0, d);
	if (cls == ALARM_FAULT) {
		a.state = ALARM_CLEARED;
		a.active = 0;
		a.updated_ms = at + reset_after;
		store_alarm_update(s, &a);
		snprintf(d, sizeof(d), "alarm %lld fault cleared in %s", (long long)a.id, zone);
		store_event(s, at + reset_after, "panel", "alarm", a.sensor, NULL, 0, 0, d);
		return a.id;
	}
	a.state = ALARM_ACKNOWLEDGED;
	a.acked_by = by;
	a.updated_ms = at + ack_after;
	store_alarm_update(s, &a);
	snprintf(d, sizeof(d), "alarm %lld %s acknowledged in %s by %s", (long long)a.id,
	         sh_class_name(cls), zone, by);
	store_event(s, at + ack_after, by, "command", a.sensor, NULL, 0, 0, d);
	a.state = ALARM_RESET;
	a.active = 0;
	a.reset_by = by;
	a.updated_ms = at + reset_after;
	store_alarm_update(s, &a);
	snprintf(d, sizeof(d), "alarm %lld %s reset in %s by %s", (long long)a.id,
	         sh_class_name(cls), zone, by);
	store_event(s, at + reset_after, by, "command", a.sensor, NULL, 0, 0, d);
	return a.id;
}

static void outbox(struct store *s, int64_t at, int64_t delivered_after, const char *kind,
                   const char *contact, int64_t alarm_id)
{
	int64_t seq = store_outbox_next_seq(s);
	store_outbox_add(s, seq, kind, "upstream", contact, alarm_id, "safehouse/test-site/alert",
	                 "{}", 1, 0, at);
	if (delivered_after >= 0)
		store_outbox_mark(s, seq, OUTBOX_DELIVERED, 1, 0, NULL, at + delivered_after);
}

static void link(struct store *s, int64_t at, const char *state)
{
	store_event(s, at, "upstream", "link", NULL, NULL, 0, 0, state);
}

int main(int argc, char **argv)
{
	struct config *c;
	struct store *s;
	char err[256], d[256];
	char *brk[16];
	int nbrk = 0, busy = 0, days = 31, cut_days = -1;
	int64_t end = 0, start;
	const char *end_s = NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: history_gen CONFIG DB --end RFC3339 --days N [--busy] "
		                "[--break CRITERION]... [--cut-days N]\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--end") && i + 1 < argc)
			end_s = argv[++i];
		else if (!strcmp(argv[i], "--days") && i + 1 < argc)
			days = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--busy"))
			busy = 1;
		else if (!strcmp(argv[i], "--cut-days") && i + 1 < argc)
			cut_days = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--break") && i + 1 < argc && nbrk < 16)
			brk[nbrk++] = argv[++i];
		else {
			fprintf(stderr, "history_gen: unexpected %s\n", argv[i]);
			return 2;
		}
	}
	for (int i = 0; i < nbrk; i++) {
		static const char *const known[] = {
		    "walk-tested",   "offline",          "disablements",
		    "fire-response", "siren-test",       "batteries",
		    "upstream",      "alerts-delivered", NULL};
		int ok = 0;
		for (int k = 0; known[k]; k++)
			ok |= !strcmp(known[k], brk[i]);
		if (!ok) {
			fprintf(stderr, "history_gen: --break %s: not a criterion it can break\n",
			        brk[i]);
			return 2;
		}
	}
	if (!end_s || compliance_parse_time(end_s, &end) < 0 || days < 2) {
		fprintf(stderr, "history_gen: --end RFC3339 and --days N (>= 2) are needed\n");
		return 2;
	}
	c = config_load(argv[1], diag, NULL, NULL);
	if (!c)
		return 1;
	s = store_open(argv[2], 0, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "history_gen: %s: %s\n", argv[2], err);
		config_free(c);
		return 1;
	}
	start = end - days * DAY;

	/* The gateway starts before the period and connects upstream. */
	store_event(s, start - 30 * DAY, "daemon", "start", NULL, NULL, 0, 0, "safehoused");
	link(s, start - 30 * DAY + 2000, "up");
	for (int i = 0; i < c->nsensors; i++) {
		store_event(s, start - 30 * DAY + 5000, "zigbee2mqtt", "reading", c->sensors[i].id,
		            "online", 1, 1, "online");
		store_event(s, start - 30 * DAY + 6000, "zigbee2mqtt", "reading", c->sensors[i].id,
		            "battery", 1, 100, NULL);
	}
	/* Every 25 days from 20 days before the period: a walk test of every
	 * detector, with the sirens. */
	for (int64_t t = start - 20 * DAY; t < end; t += 25 * DAY) {
		if (!broken(brk, nbrk, "siren-test"))
			store_event(
			    s, t, "installer", "command", NULL, NULL, 0, 0,
			    "walk test started in the whole site by installer (with sirens)");
		for (int i = 0; i < c->nsensors; i++) {
			if (!is_detector(c->sensors[i].kind))
				continue;
			/* walk-tested broken: the first detector's tests stop 40
			 * days before the end. */
			if (broken(brk, nbrk, "walk-tested") && i == 0 && t > end - 40 * DAY)
				continue;
			store_test_add(s, t + (i + 1) * 10000, c->sensors[i].id,
			               c->zones[c->sensors[i].zone].id, "test", 1, "installer");
		}
	}
	/* Daily: batteries slowly going down; hourly readings when busy. */
	for (int day = 0; day < days; day++) {
		int64_t t = start + day * DAY;
		for (int i = 0; i < c->nsensors; i++) {
			double b = 100 - day * 0.05 - i % 7;
			if (broken(brk, nbrk, "batteries") && i == 0 && day == days - 2)
				b = 15;
			else if (broken(brk, nbrk, "batteries") && i == 0 && day == days - 1)
				continue;
			store_event(s, t + 3 * HOUR + i * 1000, "zigbee2mqtt", "reading",
			            c->sensors[i].id, "battery", 1, b, NULL);
			for (int h = 0; busy && h < 24; h++)
				store_event(s, t + h * HOUR + i * 1000 + 500, "zigbee2mqtt",
				            "reading", c->sensors[i].id, "linkquality", 1, 100 + h,
				            NULL);
		}
		if (busy)
			store_commit(s);
	}
	/* A fire alarm on day 2, handled well (or not) and marked false. */
	{
		int f = 0;
		int64_t id, t = start + 2 * DAY + 20 * HOUR;
		int bad = broken(brk, nbrk, "fire-response");
		while (f < c->nsensors && c->sensors[f].kind != KIND_SMOKE)
			f++;
		if (f == c->nsensors)
			f = 0;
		id = alarm(s, c, f, ALARM_FIRE, t, bad ? 200000 : 40000, bad ? 40 * MIN : 10 * MIN,
		           "an", "BÁO CHÁY");
		outbox(s, t + 10, 1500, "alarm", NULL, id);
		outbox(s, t + 20, 2500, "alert", "owner", id);
		snprintf(d, sizeof(d), "{\"alarm\": %lld, \"by\": \"an\", \"reason\": \"nấu ăn\"}",
		         (long long)id);
		store_event(s, t + 20 * MIN, "an", "false_alarm", NULL, NULL, 1, (double)id, d);
	}
	/* A sensor outage of 2 hours on day 12 (30 hours when broken), with
	 * its fault. */
	{
		int sensor = c->nsensors > 1 ? 1 : 0;
		int64_t t = start + (days > 14 ? 12 : 1) * DAY;
		int64_t len = broken(brk, nbrk, "offline") ? 30 * HOUR : 2 * HOUR;
		store_event(s, t, "zigbee2mqtt", "reading", c->sensors[sensor].id, "online", 1, 0,
		            "offline");
		store_event(s, t + len, "zigbee2mqtt", "reading", c->sensors[sensor].id, "online",
		            1, 1, "online");
		alarm(s, c, sensor, ALARM_FAULT, t, 0, len, NULL, "Mất kết nối");
		outbox(s, t + 5, 800, "notify", "owner", 0);
	}
	/* A disablement on day 15 for 2 days (8 when broken). */
	{
		int64_t t = start + (days > 20 ? 15 : 1) * DAY;
		int64_t len = broken(brk, nbrk, "disablements") ? 8 * DAY : 2 * DAY;
		store_disable_add(s, c->sensors[0].id, "sensor", "thay pin", "owner", t,
		                  t + 7 * DAY);
		store_disable_end(s, c->sensors[0].id, "owner", t + len);
	}
	/* The upstream link down 1 hour on day 20 (2 days when broken). */
	{
		int64_t t = start + (days > 25 ? 20 : 1) * DAY + 5 * HOUR;
		link(s, t, "down");
		link(s, t + (broken(brk, nbrk, "upstream") ? 2 * DAY : HOUR), "up");
	}
	/* An alert undelivered since 2 hours before the end. */
	if (broken(brk, nbrk, "alerts-delivered"))
		outbox(s, end - 2 * HOUR, -1, "notify", "owner", 0);
	/* The inspection on the last day. */
	{
		int64_t t = end - 5 * HOUR;
		store_event(s, t, "kiem-tra", "inspect", NULL, NULL, 0, 0, "start");
		store_event(s, t + 10 * MIN, "kiem-tra", "inspect", NULL, "extinguishers", 1, 1,
		            "2 bình, hạn 2027-06");
		store_event(s, t + 15 * MIN, "kiem-tra", "inspect", NULL, "exits-clear", 1, 0,
		            "xe máy chắn lối thoát tầng 2");
		store_event(s, t + 30 * MIN, "kiem-tra", "inspect", NULL, NULL, 0, 0, "finish");
	}
	if (store_commit(s) < 0) {
		fprintf(stderr, "history_gen: commit failed\n");
		store_close(s);
		config_free(c);
		return 1;
	}
	/* --cut-days N: the start of the log cut as retention does, through
	 * N days before the end (an owner hiding old rows would do this). */
	if (cut_days >= 0 &&
	    (store_prune(s, end - (int64_t)cut_days * 24 * HOUR) < 0 || store_commit(s) < 0)) {
		fprintf(stderr, "history_gen: prune failed\n");
		store_close(s);
		config_free(c);
		return 1;
	}
	store_close(s);
	config_free(c);
	return 0;
}
