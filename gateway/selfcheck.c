/*
 * selfcheck.c: compliance reports on a worker thread, and the daily
 * self-check (see selfcheck.h).
 */
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "compliance.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "selfcheck.h"
#include "store.h"
#include "upstream.h"
#include "worker.h"

#define DAY_MS 86400000LL
#define SELFCHECK_DAYS 31
/* Reports queued at once: each holds a thread's attention for up to a
 * second or two; more than this is somebody scripting in a loop. */
#define QUEUE_MAX 4
#define STATE_KEY "compliance_failing"
/* After start: the links have had a moment (the link "up" event is in). */
#define START_DELAY_MS 2000

struct sc_job {
	struct worker_job job; /* first */
	int64_t from, to, now;
	int lang, auto_only;
	char *config_path;
	cJSON *report;
	char err[256];
	selfcheck_done_fn fn;
	void *ctx;
};

struct selfcheck {
	struct loop *loop;
	struct store *store;
	struct upstream *up;
	const struct config *cfg;
	char *config_path;
	struct worker_done *done;
	struct worker *w;
	int queued;
	int timer, start_timer;
	/* the last self-check */
	int64_t last_at;
	int passed, failed, not_checked;
	cJSON *failing; /* [ids] */
};

static void job_free(struct sc_job *j)
{
	if (!j)
		return;
	cJSON_Delete(j->report);
	free(j->config_path);
	free(j);
}

static void run_one(struct sc_job *j)
{
	int nerr = 0;
	struct config *c = config_load(j->config_path, NULL, NULL, &nerr);
	struct compliance_criteria *cr = NULL;
	if (!c) {
		snprintf(j->err, sizeof(j->err), "%s: %d error(s) in the config", j->config_path,
		         nerr);
		return;
	}
	cr = compliance_criteria_load(c->criteria_file, NULL, NULL, &nerr);
	if (!cr)
		snprintf(j->err, sizeof(j->err),
		         "%s: the criteria file cannot be used (%d error(s); safehoused --check "
		         "says which)",
		         c->criteria_file, nerr);
	else
		j->report = compliance_report(c, cr, c->database, j->from, j->to, j->now, j->lang,
		                              j->auto_only, j->err, sizeof(j->err));
	compliance_criteria_free(cr);
	config_free(c);
}

static void thread_main(struct worker *w, void *ctx)
{
	struct worker_job *jobs;
	(void)ctx;
	for (;;) {
		int stop = worker_next(w, INT64_MAX, &jobs);
		while (jobs) {
			struct worker_job *next = jobs->next;
			if (!stop)
				run_one((struct sc_job *)jobs);
			else
				snprintf(((struct sc_job *)jobs)->err,
				         sizeof(((struct sc_job *)jobs)->err), "stopping");
			worker_reply(w, jobs);
			jobs = next;
		}
		if (stop)
			return;
	}
}

static void deliver(struct selfcheck *sc, struct sc_job *j)
{
	cJSON *r = j->report;
	j->report = NULL;
	sc->queued--;
	j->fn(j->ctx, r, r ? NULL : (j->err[0] ? j->err : "failed"));
	job_free(j);
}

static void on_done(void *ctx, int fd, short revents)
{
	struct selfcheck *sc = ctx;
	struct worker_job *j = worker_done_take(sc->done);
	(void)fd;
	(void)revents;
	while (j) {
		struct worker_job *next = j->next;
		deliver(sc, (struct sc_job *)j);
		j = next;
	}
	/* The check re-read the whole config and built a report: half a
	 * megabyte with 500 sensors, free now but resident until given back
	 * (glibc returns only the heap's top by itself). */
	malloc_trim(0);
}

static int post(struct selfcheck *sc, int64_t from, int64_t to, int lang, int auto_only,
                selfcheck_done_fn fn, void *ctx)
{
	struct sc_job *j;
	if (sc->queued >= QUEUE_MAX)
		return -1;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->config_path = strdup(sc->config_path))) {
		free(j);
		return -1;
	}
	j->from = from;
	j->to = to;
	j->now = loop_wall_ms();
	j->lang = lang;
	j->auto_only = auto_only;
	j->fn = fn;
	j->ctx = ctx;
	sc->queued++;
	worker_post(sc->w, &j->job, 1);
	return 0;
}

int selfcheck_report(struct selfcheck *sc, int64_t from_ms, int64_t to_ms, int lang,
                     selfcheck_done_fn fn, void *ctx)
{
	return post(sc, from_ms, to_ms, lang, 0, fn, ctx);
}

/* ---- the daily self-check --------------------------------------------------- */

static int was_failing(const char *list, const char *id)
{
	size_t n = strlen(id);
	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && !strncmp(p, id, n))
			return 1;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

static void committed(void *ctx, int rc)
{
	struct selfcheck *sc = ctx;
	(void)rc; /* rows the disk refused are sent from memory */
	upstream_kick(sc->up);
}

static void check_done(void *ctx, cJSON *report, const char *err)
{
	struct selfcheck *sc = ctx;
	const cJSON *e, *sum;
	char prev[2048] = "", now_list[2048] = "";
	size_t used = 0;
	if (!report) {
		if (strcmp(err, "stopping"))
			log_notice("self-check: not done: %s", err);
		return;
	}
	sum = cJSON_GetObjectItem(report, "summary");
	sc->last_at = loop_wall_ms();
	sc->passed = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "passed"));
	sc->failed = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "failed"));
	sc->not_checked = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "not_checked"));
	cJSON_Delete(sc->failing);
	sc->failing = cJSON_CreateArray();
	store_state_get(sc->store, STATE_KEY, prev, sizeof(prev));
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(report, "criteria"))
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(e, "id"));
		const char *res = cJSON_GetStringValue(cJSON_GetObjectItem(e, "result"));
		const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));
		const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "evidence"), 0);
		char text[600];
		if (!id || !res || !kind || strcmp(kind, "auto") || strcmp(res, "fail"))
			continue;
		cJSON_AddItemToArray(sc->failing, cJSON_CreateString(id));
		if (used + strlen(id) + 2 < sizeof(now_list))
			used += (size_t)snprintf(now_list + used, sizeof(now_list) - used, "%s%s",
			                         used ? "," : "", id);
		if (was_failing(prev, id))
			continue;
		/* Newly failed: tell the owner, once (until it passes again). */
		snprintf(text, sizeof(text), "%s: %s%s%s",
		         sc->cfg->site.language == LANG_EN ? "Self-check failed"
		                                           : "Tự kiểm tra PCCC không đạt",
		         cJSON_GetStringValue(cJSON_GetObjectItem(e, "text")),
		         cJSON_IsString(ev) ? " — " : "",
		         cJSON_IsString(ev) ? ev->valuestring : "");
		log_notice("self-check: %s newly failed", id);
		for (int i = 0; i < sc->cfg->ncriteria_notify; i++) {
			int c = config_contact_index(sc->cfg, sc->cfg->criteria_notify[i]);
			if (c >= 0)
				upstream_queue_notify(sc->up, c, text, NULL, loop_wall_ms());
		}
	}
	if (strcmp(prev, now_list))
		store_state_set(sc->store, STATE_KEY, now_list, loop_wall_ms());
	store_event(sc->store, loop_wall_ms(), "self-check", "self_check", NULL, NULL, 1,
	            sc->failed, now_list[0] ? now_list : "all automatic criteria pass");
	/* The notices go once they are on the disk (as the panel's do). */
	if (store_commit_then(sc->store, committed, sc) < 0)
		log_err("self-check: cannot queue the commit; notices delayed");
	cJSON_Delete(report);
}

void selfcheck_run_now(struct selfcheck *sc)
{
	int64_t now = loop_wall_ms();
	if (post(sc, now - SELFCHECK_DAYS * DAY_MS, now, sc->cfg->site.language, 1, check_done,
	         sc) < 0)
		log_warn("self-check: not run now (reports queued or out of memory)");
}

static void schedule(struct selfcheck *sc);

static void on_start_timer(void *ctx)
{
	struct selfcheck *sc = ctx;
	sc->start_timer = 0;
	selfcheck_run_now(sc);
}

static void on_timer(void *ctx)
{
	struct selfcheck *sc = ctx;
	sc->timer = 0;
	selfcheck_run_now(sc);
	schedule(sc);
}

/* The next self_check_min of the site's day (the process's TZ). */
static void schedule(struct selfcheck *sc)
{
	time_t now = time(NULL), at;
	struct tm tm;
	localtime_r(&now, &tm);
	tm.tm_hour = sc->cfg->self_check_min / 60;
	tm.tm_min = sc->cfg->self_check_min % 60;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	at = mktime(&tm);
	if (at <= now) {
		tm.tm_mday++;
		tm.tm_isdst = -1;
		at = mktime(&tm);
	}
	loop_timer_cancel(sc->loop, sc->timer);
	sc->timer = loop_timer_add(sc->loop, (int64_t)(at - now) * 1000, on_timer, sc);
}

void selfcheck_set_config(struct selfcheck *sc, const struct config *c)
{
	sc->cfg = c;
	schedule(sc);
}

cJSON *selfcheck_status(const struct selfcheck *sc)
{
	cJSON *o = cJSON_CreateObject();
	char ts[32];
	if (!sc || !sc->last_at) {
		cJSON_AddNullToObject(o, "at");
		return o;
	}
	store_format_time(sc->last_at, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "at", ts);
	cJSON_AddNumberToObject(o, "passed", sc->passed);
	cJSON_AddNumberToObject(o, "failed", sc->failed);
	cJSON_AddNumberToObject(o, "not_checked", sc->not_checked);
	cJSON_AddItemToObject(o, "failing", cJSON_Duplicate(sc->failing, 1));
	return o;
}

struct selfcheck *selfcheck_new(struct loop *loop, struct store *store, struct upstream *up,
                                const char *config_path, const struct config *c, char *err,
                                size_t errlen)
{
	struct selfcheck *sc = calloc(1, sizeof(*sc));
	err[0] = 0;
	if (!sc || !(sc->config_path = strdup(config_path)))
		goto fail;
	sc->loop = loop;
	sc->store = store;
	sc->up = up;
	sc->cfg = c;
	sc->failing = cJSON_CreateArray();
	if (!(sc->done = worker_done_new(err, errlen)))
		goto fail;
	if (!(sc->w = worker_new(sc->done, 0, 0)) || worker_start(sc->w, thread_main, sc) < 0 ||
	    loop_fd_add(loop, worker_done_fd(sc->done), POLLIN, on_done, sc) < 0) {
		snprintf(err, errlen, "self-check: cannot start its thread");
		goto fail;
	}
	schedule(sc);
	/* Once at start too: the status has a summary from the first minute,
	 * and what broke while the gateway was off is told (only what is
	 * newly failing: a restart repeats nothing). */
	sc->start_timer = loop_timer_add(loop, START_DELAY_MS, on_start_timer, sc);
	return sc;
fail:
	if (sc && !err[0])
		snprintf(err, errlen, "self-check: out of memory");
	selfcheck_free(sc);
	return NULL;
}

void selfcheck_free(struct selfcheck *sc)
{
	struct worker_job *j;
	if (!sc)
		return;
	loop_timer_cancel(sc->loop, sc->timer);
	loop_timer_cancel(sc->loop, sc->start_timer);
	/* Never taken: their callers still get an answer. */
	j = worker_stop(sc->w);
	while (j) {
		struct worker_job *next = j->next;
		snprintf(((struct sc_job *)j)->err, sizeof(((struct sc_job *)j)->err), "stopping");
		deliver(sc, (struct sc_job *)j);
		j = next;
	}
	if (sc->done) {
		loop_fd_del(sc->loop, worker_done_fd(sc->done));
		j = worker_done_take(sc->done);
		while (j) {
			struct worker_job *next = j->next;
			deliver(sc, (struct sc_job *)j);
			j = next;
		}
		worker_done_free(sc->done, NULL);
	}
	cJSON_Delete(sc->failing);
	free(sc->config_path);
	free(sc);
}
