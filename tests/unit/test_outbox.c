/*
 * test_outbox.c: escalation chains and the dispatcher of the sms, call and
 * webhook channels, with the real panel, rules, upstream and store (a SQLite
 * file in a temp dir), a fake channel and an injected clock: nothing sleeps.
 * Also the SMS replies and calls that acknowledge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/alerts.h"
#include "gateway/channel.h"
#include "gateway/config.h"
#include "gateway/engine.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/outbox.h"
#include "gateway/outputs.h"
#include "gateway/panel.h"
#include "gateway/registry.h"
#include "gateway/store.h"
#include "gateway/upstream.h"
#include "rules/rules.h"

#define WALL0 1764374645000LL

static const char *const site_json =
    "{\"site\":{\"id\":\"t\",\"name\":\"Test\",\"address\":\"1 Test St\"},"
    "\"zones\":[{\"id\":\"room-101\"}],"
    "\"sensors\":[{\"id\":\"smoke-101\",\"kind\":\"smoke\",\"zone\":\"room-101\","
    "\"mqtt\":{\"topic\":\"z/a\",\"format\":\"zigbee2mqtt\"}}],"
    "\"contacts\":["
    "{\"id\":\"militia\",\"steps\":[{\"via\":\"upstream\"},"
    "{\"via\":\"sms\",\"phone\":\"+84912345678\",\"after_s\":60},"
    "{\"via\":\"call\",\"phone\":\"+84912345678\",\"after_s\":120,\"repeat_s\":300,"
    "\"repeat_max\":3}]},"
    "{\"id\":\"owner\",\"via\":\"sms\",\"phone\":\"0909123456\"},"
    "{\"id\":\"landlord\",\"via\":\"sms\",\"phone\":\"0909000222\",\"ack_by_reply\":false,"
    "\"ack_by_call\":true}]}";

static const char *const rules_text =
    "rule \"smoke\" when smoke becomes detected then alarm fire; alert militia owner end\n";

/* A channel that records what it is given and answers when told. */
struct fake {
	struct channel ch;
	int nsent;
	int64_t seq[64];
	char text[64][512];
	char kind[64][16];
	int busy; /* send() says -EAGAIN */
};

static int fake_send(void *impl, const struct channel_msg *m)
{
	struct fake *f = impl;
	if (f->busy)
		return -EAGAIN;
	assert_true(f->nsent < 64);
	assert_non_null(m->contact);
	assert_non_null(m->step);
	f->seq[f->nsent] = m->seq;
	snprintf(f->text[f->nsent], sizeof(f->text[0]), "%s", m->text);
	snprintf(f->kind[f->nsent], sizeof(f->kind[0]), "%s", m->kind);
	f->nsent++;
	return 0;
}

static void fake_init(struct fake *f, const char *name)
{
	memset(f, 0, sizeof(*f));
	f->ch.name = name;
	f->ch.impl = f;
	f->ch.send = fake_send;
}

static void fake_done(struct fake *f, int i, enum channel_result r, const char *detail)
{
	f->ch.done(f->ch.done_ctx, f->seq[i], r, detail);
}

struct world {
	char dir[64], db[128];
	struct config *cfg;
	struct ruleset *rs;
	struct loop *loop;
	struct store *store;
	struct registry *reg;
	struct outputs *out;
	struct upstream *up;
	struct panel *panel;
	struct engine *engine;
	struct outbox *ob;
	int64_t now;
	struct fake sms, call;
};

static void quiet(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	if (severity == 0)
		fail_msg("unexpected diagnostic: %s", msg);
}

static int64_t clock_now(void *ctx)
{
	return ((struct world *)ctx)->now;
}

static double clock_rnd(void *ctx)
{
	(void)ctx;
	return 0.5; /* jitter factor 1.0: the backoff is exact */
}

static void kick(void *ctx)
{
	outbox_kick(ctx);
}

static void start(struct world *w)
{
	char err[256];
	struct panel_deps d;
	struct rules_site *site = config_rules_site(w->cfg);
	int nerr = 0, nwarn = 0;
	assert_non_null(site);
	w->rs = rules_compile_string(rules_text, "t.rules", site, quiet, NULL, &nerr, &nwarn);
	free(site);
	assert_non_null(w->rs);
	w->store = store_open(w->db, 0, err, sizeof(err));
	assert_non_null(w->store);
	w->reg = registry_new(w->cfg);
	w->out = outputs_new(w->loop, w->cfg, NULL);
	w->up = upstream_new(w->loop, w->store, w->cfg);
	w->ob = outbox_new(NULL, w->store, w->cfg);
	assert_non_null(w->ob);
	outbox_set_clock(w->ob, clock_now, clock_rnd, w);
	upstream_set_kick_hook(w->up, kick, w->ob);
	d = (struct panel_deps){w->cfg, w->store, w->out, w->up, w->reg};
	w->panel = panel_new(&d, 0);
	assert_non_null(w->panel);
	w->engine = engine_new(w->cfg, w->rs, w->reg, w->panel, w->store, 0);
	assert_non_null(w->engine);
}

static void stop(struct world *w)
{
	rules_free(w->rs);
	engine_free(w->engine);
	panel_free(w->panel);
	outbox_free(w->ob);
	upstream_free(w->up);
	outputs_free(w->out);
	registry_free(w->reg);
	store_close(w->store);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	int nerr = 0;
	log_init("test_outbox", 1, LOG_CRIT);
	strcpy(w->dir, "/tmp/sh-outbox-XXXXXX");
	if (!mkdtemp(w->dir))
		return -1;
	snprintf(w->db, sizeof(w->db), "%s/o.db", w->dir);
	w->cfg = config_load_string(site_json, "site.json", w->dir, quiet, NULL, &nerr);
	assert_non_null(w->cfg);
	w->loop = loop_new();
	w->now = WALL0;
	fake_init(&w->sms, "sms");
	fake_init(&w->call, "call");
	start(w);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];
	stop(w);
	loop_free(w->loop);
	config_free(w->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	if (system(cmd) != 0)
		return -1;
	free(w);
	return 0;
}

static void smoke(struct world *w)
{
	const struct sh_point_value v = {POINT_SMOKE, 1};
	engine_report(w->engine, config_sensor_index(w->cfg, "smoke-101"), &v, 1, "test", 1000,
	              WALL0);
}

/* The outbox as safehousectl outbox --all sees it, oldest first. */
struct row {
	int64_t seq, alarm, due, next_try;
	char channel[16], contact[32], kind[16], error[200], payload[1024];
	enum store_outbox_state state;
	int step, tries;
};
struct rows {
	int n;
	struct row r[64];
};

static int take(void *ctx, const struct store_outbox_row *r)
{
	struct rows *rs = ctx;
	struct row *o;
	assert_true(rs->n < 64);
	memmove(&rs->r[1], &rs->r[0], sizeof(rs->r[0]) * (size_t)rs->n);
	o = &rs->r[0];
	rs->n++;
	memset(o, 0, sizeof(*o));
	o->seq = r->seq;
	o->alarm = r->alarm;
	o->due = r->due_ms;
	o->next_try = r->next_try_ms;
	o->state = r->state;
	o->step = r->step;
	o->tries = r->tries;
	snprintf(o->channel, sizeof(o->channel), "%s", r->channel ? r->channel : "");
	snprintf(o->contact, sizeof(o->contact), "%s", r->contact ? r->contact : "");
	snprintf(o->kind, sizeof(o->kind), "%s", r->kind ? r->kind : "");
	snprintf(o->error, sizeof(o->error), "%s", r->last_error ? r->last_error : "");
	snprintf(o->payload, sizeof(o->payload), "%s", r->payload ? r->payload : "");
	return 0;
}

static void list(struct world *w, struct rows *rs)
{
	rs->n = 0;
	store_outbox_list(w->store, 1, 64, take, rs);
}

static const struct row *find(const struct rows *rs, const char *channel, const char *contact,
                              const char *kind, int nth)
{
	for (int i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].channel, channel) == 0 &&
		    strcmp(rs->r[i].contact, contact) == 0 && strcmp(rs->r[i].kind, kind) == 0 &&
		    nth-- == 0)
			return &rs->r[i];
	return NULL;
}

static const struct row *by_seq(const struct rows *rs, int64_t seq)
{
	for (int i = 0; i < rs->n; i++)
		if (rs->r[i].seq == seq)
			return &rs->r[i];
	return NULL;
}

static void test_an_alert_queues_every_step_and_repeat_at_its_time(void **state)
{
	struct world *w = *state;
	struct rows rs;
	const struct row *r;
	smoke(w);
	list(w, &rs);
	r = find(&rs, "upstream", "militia", "alert", 0);
	assert_non_null(r);
	assert_int_equal(r->due, 0);
	r = find(&rs, "sms", "militia", "alert", 0);
	assert_non_null(r);
	assert_int_equal(r->due, WALL0 + 60000);
	assert_int_equal(r->step, 1);
	for (int k = 0; k < 3; k++) {
		r = find(&rs, "call", "militia", "alert", k);
		assert_non_null(r);
		assert_int_equal(r->due, WALL0 + 120000 + k * 300000LL);
		assert_int_equal(r->state, OUTBOX_PENDING);
	}
	assert_null(find(&rs, "call", "militia", "alert", 3));
	r = find(&rs, "sms", "owner", "alert", 0);
	assert_non_null(r);
	assert_int_equal(r->due, 0);
}

static void test_a_step_goes_to_its_channel_only_when_due(void **state)
{
	struct world *w = *state;
	struct rows rs;
	outbox_add_channel(w->ob, VIA_SMS, &w->sms.ch);
	smoke(w); /* the commit kicks the dispatcher */
	assert_int_equal(w->sms.nsent, 1);
	list(w, &rs);
	assert_int_equal(w->sms.seq[0], find(&rs, "sms", "owner", "alert", 0)->seq);
	assert_string_equal(w->sms.kind[0], "alert");
	/* The human text, the same as the feed's "message". */
	assert_true(strlen(w->sms.text[0]) > 10);
	assert_non_null(strstr(find(&rs, "sms", "owner", "alert", 0)->payload, w->sms.text[0]));
	w->now = WALL0 + 59999;
	outbox_kick(w->ob);
	assert_int_equal(w->sms.nsent, 1);
	w->now = WALL0 + 60000;
	outbox_kick(w->ob);
	assert_int_equal(w->sms.nsent, 2);
	assert_int_equal(w->sms.seq[1], find(&rs, "sms", "militia", "alert", 0)->seq);
}

static void test_ack_cancels_the_steps_not_yet_due_and_a_due_one_still_goes(void **state)
{
	struct world *w = *state;
	struct rows rs;
	char why[128];
	smoke(w);
	w->now = WALL0 + 61000; /* the sms step is due, the calls are not */
	assert_int_equal(panel_ack(w->panel, 0, "militia-app", 61000, w->now, why, sizeof(why)), 1);
	list(w, &rs);
	assert_int_equal(find(&rs, "sms", "militia", "alert", 0)->state, OUTBOX_PENDING);
	for (int k = 0; k < 3; k++) {
		const struct row *r = find(&rs, "call", "militia", "alert", k);
		assert_int_equal(r->state, OUTBOX_CANCELLED);
		assert_non_null(strstr(r->error, "escalation stopped by militia-app"));
	}
	/* Nothing cancelled runs, however late, and after a restart too. */
	outbox_add_channel(w->ob, VIA_SMS, &w->sms.ch);
	outbox_add_channel(w->ob, VIA_CALL, &w->call.ch);
	w->now = WALL0 + 3600 * 1000;
	outbox_kick(w->ob);
	assert_int_equal(w->call.nsent, 0);
	assert_int_equal(w->sms.nsent, 2); /* owner's, and the militia's due one */
	stop(w);
	start(w);
	outbox_add_channel(w->ob, VIA_CALL, &w->call.ch);
	outbox_kick(w->ob);
	assert_int_equal(w->call.nsent, 0);
	list(w, &rs);
	assert_int_equal(find(&rs, "call", "militia", "alert", 2)->state, OUTBOX_CANCELLED);
}

static void test_a_reset_stops_the_chain_too(void **state)
{
	struct world *w = *state;
	struct rows rs;
	char why[128];
	const struct sh_point_value clear = {POINT_SMOKE, 0};
	smoke(w);
	engine_report(w->engine, config_sensor_index(w->cfg, "smoke-101"), &clear, 1, "test", 2000,
	              WALL0 + 1000);
	assert_int_equal(panel_reset(w->panel, panel_newest_alarm(w->panel), "owner", 3000,
	                             WALL0 + 2000, why, sizeof(why)),
	                 0);
	list(w, &rs);
	assert_int_equal(find(&rs, "sms", "militia", "alert", 0)->state, OUTBOX_CANCELLED);
	assert_int_equal(find(&rs, "call", "militia", "alert", 0)->state, OUTBOX_CANCELLED);
}

static void test_restart_keeps_the_steps_not_yet_run(void **state)
{
	struct world *w = *state;
	smoke(w);
	stop(w);
	start(w);
	outbox_add_channel(w->ob, VIA_CALL, &w->call.ch);
	w->now = WALL0 + 120000;
	outbox_kick(w->ob);
	assert_int_equal(w->call.nsent, 1);
}

static void queue_notices(struct world *w, int contact, int n)
{
	for (int i = 0; i < n; i++) {
		char text[32];
		snprintf(text, sizeof(text), "notice %d", i);
		assert_int_equal(upstream_queue_notify(w->up, contact, text, NULL, WALL0), 0);
	}
	assert_int_equal(store_commit(w->store), 0);
}

static void test_one_message_at_a_time_per_contact_keeps_the_order(void **state)
{
	struct world *w = *state;
	outbox_add_channel(w->ob, VIA_SMS, &w->sms.ch);
	queue_notices(w, config_contact_index(w->cfg, "owner"), 3);
	queue_notices(w, config_contact_index(w->cfg, "landlord"), 1);
	outbox_kick(w->ob);
	/* owner's first, and landlord's in parallel; owner's second waits. */
	assert_int_equal(w->sms.nsent, 2);
	assert_string_equal(w->sms.text[0], "notice 0");
	outbox_kick(w->ob);
	assert_int_equal(w->sms.nsent, 2);
	fake_done(&w->sms, 0, CHANNEL_DELIVERED, NULL);
	assert_int_equal(w->sms.nsent, 3);
	assert_string_equal(w->sms.text[2], "notice 1");
	fake_done(&w->sms, 2, CHANNEL_DELIVERED, NULL);
	assert_string_equal(w->sms.text[3], "notice 2");
	assert_true(w->sms.seq[0] < w->sms.seq[2] && w->sms.seq[2] < w->sms.seq[3]);
}

static void test_retries_back_off_exponentially_to_the_cap_and_keep_the_order(void **state)
{
	struct world *w = *state;
	static const int64_t waits[] = {5000, 10000, 20000, 40000, 80000, 160000, 300000, 300000};
	struct rows rs;
	int64_t first;
	outbox_add_channel(w->ob, VIA_SMS, &w->sms.ch);
	queue_notices(w, config_contact_index(w->cfg, "owner"), 2);
	outbox_kick(w->ob);
	assert_int_equal(w->sms.nsent, 1);
	first = w->sms.seq[0];
	for (int k = 0; k < 8; k++) {
		const struct row *r;
		fake_done(&w->sms, w->sms.nsent - 1, CHANNEL_RETRY, "no network");
		list(w, &rs);
		r = by_seq(&rs, first);
		assert_int_equal(r->state, OUTBOX_PENDING);
		assert_int_equal(r->tries, k + 1);
		assert_string_equal(r->error, "no network");
		assert_int_equal(r->next_try - w->now, waits[k]);
		/* Not before its time, and the next message waits behind it. */
		w->now = r->next_try - 1;
		outbox_kick(w->ob);
		assert_int_equal(w->sms.nsent, k + 1);
		w->now = r->next_try;
		outbox_kick(w->ob);
		assert_int_equal(w->sms.nsent, k + 2);
		assert_int_equal(w->sms.seq[k + 1], first);
	}
	fake_done(&w->sms, w->sms.nsent - 1, CHANNEL_DELIVERED, NULL);
	assert_true(w->sms.seq[w->sms.nsent - 1] > first);
	list(w, &rs);
	assert_int_equal(by_seq(&rs, first)->state, OUTBOX_DELIVERED);
	assert_int_equal(by_seq(&rs, first)->tries, 9);
}

static void test_backoff_jitter_stays_within_twenty_percent(void **state)
{
	(void)state;
	assert_int_equal(outbox_backoff_ms(1, 0.0), 4000);
	assert_true(outbox_backoff_ms(1, 0.9999) <= 6000 && outbox_backoff_ms(1, 0.9999) > 5900);
	assert_int_equal(outbox_backoff_ms(3, 0.5), 20000);
	assert_int_equal(outbox_backoff_ms(30, 0.5), OUTBOX_BACKOFF_MAX_MS);
	assert_int_equal(outbox_backoff_ms(1000, 0.0), OUTBOX_BACKOFF_MAX_MS * 8 / 10);
}

static void test_a_failed_message_is_shown_and_never_tried_again(void **state)
{
	struct world *w = *state;
	struct rows rs;
	int64_t seq;
	outbox_add_channel(w->ob, VIA_SMS, &w->sms.ch);
	queue_notices(w, config_contact_index(w->cfg, "owner"), 2);
	outbox_kick(w->ob);
	seq = w->sms.seq[0];
	fake_done(&w->sms, 0, CHANNEL_FAILED, "+CMS ERROR: 21 (rejected)");
	assert_int_equal(w->sms.nsent, 2); /* the next one goes */
	fake_done(&w->sms, 1, CHANNEL_DELIVERED, NULL);
	w->now += 24 * 3600 * 1000LL;
	outbox_kick(w->ob);
	assert_int_equal(w->sms.nsent, 2);
	list(w, &rs);
	assert_int_equal(by_seq(&rs, seq)->state, OUTBOX_FAILED);
	assert_string_equal(by_seq(&rs, seq)->error, "+CMS ERROR: 21 (rejected)");
}

static void test_a_busy_channel_gets_the_message_again_without_a_try_counted(void **state)
{
	struct world *w = *state;
	struct rows rs;
	outbox_add_channel(w->ob, VIA_SMS, &w->sms.ch);
	w->sms.busy = 1;
	queue_notices(w, config_contact_index(w->cfg, "owner"), 1);
	outbox_kick(w->ob);
	assert_int_equal(w->sms.nsent, 0);
	w->sms.busy = 0;
	outbox_kick(w->ob);
	assert_int_equal(w->sms.nsent, 1);
	list(w, &rs);
	assert_int_equal(by_seq(&rs, w->sms.seq[0])->tries, 0);
}

static void test_without_a_channel_rows_wait_and_say_why(void **state)
{
	struct world *w = *state;
	struct rows rs;
	smoke(w);
	outbox_kick(w->ob);
	list(w, &rs);
	assert_int_equal(find(&rs, "sms", "owner", "alert", 0)->state, OUTBOX_PENDING);
	assert_string_equal(outbox_why(w->ob, "sms"), "no modem configured");
	assert_string_equal(outbox_why(w->ob, "webhook"), "no webhook channel configured");
	outbox_add_channel(w->ob, VIA_SMS, &w->sms.ch);
	assert_null(outbox_why(w->ob, "sms"));
	outbox_kick(w->ob);
	assert_int_equal(w->sms.nsent, 1);
}

static void test_a_full_outbox_drops_the_oldest_notices_never_alarms_or_alerts(void **state)
{
	struct world *w = *state;
	struct rows rs;
	int owner = config_contact_index(w->cfg, "owner");
	queue_notices(w, owner, 3);
	for (int i = 0; i < 7; i++)
		assert_int_equal(store_outbox_add(w->store, store_outbox_next_seq(w->store),
		                                  "alert", "sms", "owner", 1, "t", "{}", 1, 0,
		                                  WALL0),
		                 0);
	assert_int_equal(store_commit(w->store), 0);
	/* 10 pending, room for 10: one must go, the oldest notice. */
	assert_int_equal(store_outbox_make_room(w->store, 10, WALL0), 1);
	list(w, &rs);
	assert_int_equal(rs.r[0].state, OUTBOX_DROPPED);
	assert_string_equal(rs.r[0].kind, "notify");
	assert_int_equal(rs.r[1].state, OUTBOX_PENDING);
	/* Only alerts left beyond the notices: those two go, no alert does. */
	assert_int_equal(store_outbox_make_room(w->store, 5, WALL0), 2);
	assert_int_equal(store_outbox_make_room(w->store, 5, WALL0), 0);
	list(w, &rs);
	for (int i = 0; i < rs.n; i++)
		if (strcmp(rs.r[i].kind, "alert") == 0)
			assert_int_equal(rs.r[i].state, OUTBOX_PENDING);
		else
			assert_int_equal(rs.r[i].state, OUTBOX_DROPPED);
}

static void test_reply_words_that_acknowledge(void **state)
{
	int64_t id;
	(void)state;
	assert_int_equal(alerts_parse_reply("OK", &id), 1);
	assert_int_equal(id, 0);
	assert_int_equal(alerts_parse_reply("ok 12", &id), 1);
	assert_int_equal(id, 12);
	assert_int_equal(alerts_parse_reply(" Ok.\n", &id), 1);
	assert_int_equal(alerts_parse_reply("1", &id), 1);
	assert_int_equal(id, 0);
	assert_int_equal(alerts_parse_reply("NHẬN", &id), 1);
	assert_int_equal(alerts_parse_reply("nhận", &id), 1);
	assert_int_equal(alerts_parse_reply("Nhận 7", &id), 1);
	assert_int_equal(id, 7);
	assert_int_equal(alerts_parse_reply("nhan", &id), 1);
	/* Anything else changes nothing. */
	assert_int_equal(alerts_parse_reply("", &id), 0);
	assert_int_equal(alerts_parse_reply("ok thanks", &id), 0);
	assert_int_equal(alerts_parse_reply("ok -3", &id), 0);
	assert_int_equal(alerts_parse_reply("12", &id), 0);
	assert_int_equal(alerts_parse_reply("không", &id), 0);
	assert_int_equal(alerts_parse_reply("okk", &id), 0);
	assert_int_equal(alerts_parse_reply(NULL, &id), 0);
}

static void test_phone_numbers_match_in_national_and_international_form(void **state)
{
	(void)state;
	assert_true(alerts_same_phone("+84912345678", "0912345678"));
	assert_true(alerts_same_phone("84912345678", "0912 345 678"));
	assert_true(alerts_same_phone("0084912345678", "+84 912-345-678"));
	assert_false(alerts_same_phone("+84912345678", "0912345679"));
	assert_false(alerts_same_phone("", ""));
	assert_false(alerts_same_phone(NULL, "0912345678"));
}

static void got_ack(void *ctx, const struct store_alarm *a)
{
	snprintf(ctx, 64, "%s", a->acked_by ? a->acked_by : "");
}

static void alarm_acked_by(struct world *w, char *by)
{
	by[0] = 0;
	store_commit(w->store);
	store_alarm_foreach(w->store, 1, 1, got_ack, by);
}

static void test_an_sms_ok_from_a_contact_acknowledges_and_is_answered(void **state)
{
	struct world *w = *state;
	struct alerts_deps d = {w->cfg, w->panel, w->store, w->up, NULL, NULL};
	struct rows rs;
	char by[64];
	const struct row *r;
	smoke(w);
	assert_int_equal(alerts_on_reply(&d, "0912 345 678", "ok", 5000, WALL0 + 5000), 1);
	alarm_acked_by(w, by);
	assert_string_equal(by, "militia");
	list(w, &rs);
	r = find(&rs, "sms", "militia", "reply", 0);
	assert_non_null(r);
	assert_non_null(strstr(r->payload, "Đã nhận"));
	assert_non_null(strstr(r->payload, "+84912345678"));
	/* and the chain stopped */
	assert_int_equal(find(&rs, "call", "militia", "alert", 0)->state, OUTBOX_CANCELLED);
}

static void test_an_sms_from_an_unknown_number_changes_nothing(void **state)
{
	struct world *w = *state;
	struct alerts_deps d = {w->cfg, w->panel, w->store, w->up, NULL, NULL};
	struct rows rs;
	char by[64];
	smoke(w);
	assert_int_equal(alerts_on_reply(&d, "+84999999999", "OK", 5000, WALL0 + 5000), 0);
	assert_int_equal(alerts_on_reply(&d, "0912345678", "thanks", 5000, WALL0 + 5000), 0);
	/* landlord may not acknowledge by reply */
	assert_int_equal(alerts_on_reply(&d, "0909000222", "ok", 5000, WALL0 + 5000), 0);
	alarm_acked_by(w, by);
	assert_string_equal(by, "");
	list(w, &rs);
	assert_null(find(&rs, "sms", "militia", "reply", 0));
	assert_null(find(&rs, "sms", "landlord", "reply", 0));
	assert_int_equal(find(&rs, "call", "militia", "alert", 0)->state, OUTBOX_PENDING);
}

static void test_an_sms_naming_no_active_alarm_is_answered_and_changes_nothing(void **state)
{
	struct world *w = *state;
	struct alerts_deps d = {w->cfg, w->panel, w->store, w->up, NULL, NULL};
	struct rows rs;
	char by[64];
	smoke(w);
	assert_int_equal(alerts_on_reply(&d, "0909123456", "OK 999", 5000, WALL0 + 5000), 0);
	alarm_acked_by(w, by);
	assert_string_equal(by, "");
	list(w, &rs);
	assert_non_null(find(&rs, "sms", "owner", "reply", 0));
}

static void test_a_call_acknowledges_only_when_the_contact_allows_it(void **state)
{
	struct world *w = *state;
	struct alerts_deps d = {w->cfg, w->panel, w->store, w->up, NULL, NULL};
	char by[64];
	smoke(w);
	assert_int_equal(alerts_on_call(&d, "0909123456", 5000, WALL0 + 5000), 0);
	alarm_acked_by(w, by);
	assert_string_equal(by, "");
	assert_int_equal(alerts_on_call(&d, "+84909000222", 5000, WALL0 + 5000), 1);
	alarm_acked_by(w, by);
	assert_string_equal(by, "landlord");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_an_alert_queues_every_step_and_repeat_at_its_time),
	    T(test_a_step_goes_to_its_channel_only_when_due),
	    T(test_ack_cancels_the_steps_not_yet_due_and_a_due_one_still_goes),
	    T(test_a_reset_stops_the_chain_too),
	    T(test_restart_keeps_the_steps_not_yet_run),
	    T(test_one_message_at_a_time_per_contact_keeps_the_order),
	    T(test_retries_back_off_exponentially_to_the_cap_and_keep_the_order),
	    cmocka_unit_test(test_backoff_jitter_stays_within_twenty_percent),
	    T(test_a_failed_message_is_shown_and_never_tried_again),
	    T(test_a_busy_channel_gets_the_message_again_without_a_try_counted),
	    T(test_without_a_channel_rows_wait_and_say_why),
	    T(test_a_full_outbox_drops_the_oldest_notices_never_alarms_or_alerts),
	    cmocka_unit_test(test_reply_words_that_acknowledge),
	    cmocka_unit_test(test_phone_numbers_match_in_national_and_international_form),
	    T(test_an_sms_ok_from_a_contact_acknowledges_and_is_answered),
	    T(test_an_sms_from_an_unknown_number_changes_nothing),
	    T(test_an_sms_naming_no_active_alarm_is_answered_and_changes_nothing),
	    T(test_a_call_acknowledges_only_when_the_contact_allows_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
