/*
 * sstore.c: the station's store, dispatching to one backend (sstore.h).
 *
 * The backend is chosen once, from the target string, and every call goes
 * through its const vtable, so the ingest and the console never know which
 * database they talk to.
 */
#include "sstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct sstore_backend sstore_sqlite;
#ifdef SH_WITH_POSTGRESQL
extern const struct sstore_backend sstore_pg;
#define PG_BACKEND (&sstore_pg)
#else
/* Built without libpq (WITH_POSTGRESQL=OFF): a URL is refused, never
 * taken for a file name. */
static int nopg_open(const char *target, void **b, char *err, size_t errlen)
{
	(void)target;
	(void)b;
	snprintf(err, errlen, "this safehouse-station was built without PostgreSQL "
	                      "(cmake -DWITH_POSTGRESQL=OFF); use a SQLite file or a build with it");
	return -ENOTSUP;
}
static int nopg_check(const char *target, char *err, size_t errlen)
{
	return nopg_open(target, NULL, err, errlen);
}
static const struct sstore_backend sstore_nopg = {
    .name = "postgresql",
    .open = nopg_open,
    .check = nopg_check,
};
#define PG_BACKEND (&sstore_nopg)
#endif

struct sstore {
	const struct sstore_backend *be;
	void *b;
	char *target; /* SQLite's path (a URL is not kept here) */
};

static int is_postgres(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

struct sstore *sstore_open(const char *target, char *err, size_t errlen)
{
	struct sstore *s = NULL;

	if (!target || !*target) {
		snprintf(err, errlen, "no database given");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	/* A PostgreSQL URL may hold a password: only the backend keeps it. */
	if (!s || !(s->target = strdup(is_postgres(target) ? "postgresql" : target))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Never a fallback from one to the other: a district that asked for
	 * a shared database must not silently get a local file. */
	s->be = is_postgres(target) ? PG_BACKEND : &sstore_sqlite;
	if (s->be->open(target, &s->b, err, errlen) < 0) {
		free(s->target);
		free(s);
		return NULL;
	}
	return s;
}

int sstore_check(const char *target, char *err, size_t errlen)
{
	const struct sstore_backend *be = is_postgres(target) ? PG_BACKEND : &sstore_sqlite;

	if (be->check && be->check(target, err, errlen) < 0)
		return -EINVAL;
	return 0;
}

const char *sstore_where(const struct sstore *s)
{
	return s->be->where ? s->be->where(s->b) : s->target;
}

int sstore_lost(const struct sstore *s)
{
	return s->be->lost ? s->be->lost(s->b) : 0;
}

void sstore_close(struct sstore *s)
{
	if (!s)
		return;
	s->be->close(s->b);
	free(s->target);
	free(s);
}

const char *sstore_backend_name(const struct sstore *s)
{
	return s->be->name;
}

int sstore_begin(struct sstore *s)
{
	return s->be->begin(s->b);
}

int sstore_commit(struct sstore *s)
{
	return s->be->commit(s->b);
}

int sstore_rollback(struct sstore *s)
{
	return s->be->rollback(s->b);
}

int sstore_feed_put(struct sstore *s, const char *site, int64_t seq, const char *topic,
                    int64_t at_ms, int64_t recv_ms, const char *payload)
{
	return s->be->feed_put(s->b, site, seq, topic, at_ms, recv_ms, payload);
}

int sstore_alarm_put(struct sstore *s, const struct salarm *a)
{
	return s->be->alarm_put(s->b, a);
}

int sstore_site_put(struct sstore *s, const struct ssite *site)
{
	return s->be->site_put(s->b, site);
}

int sstore_event_put(struct sstore *s, const struct sevent *e)
{
	return s->be->event_put(s->b, e);
}

int sstore_load(struct sstore *s, int (*site_fn)(void *ctx, const struct ssite *site),
                int (*alarm_fn)(void *ctx, const struct salarm *a), void *ctx)
{
	return s->be->load(s->b, site_fn, alarm_fn, ctx);
}

int sstore_site_alarms(struct sstore *s, const char *site, int limit,
                       int (*fn)(void *ctx, const struct salarm *a), void *ctx)
{
	return s->be->site_alarms(s->b, site, limit, fn, ctx);
}

int sstore_events(struct sstore *s, const char *site, int limit,
                  int (*fn)(void *ctx, const struct sevent *e), void *ctx)
{
	return s->be->events(s->b, site, limit, fn, ctx);
}

int64_t sstore_feed_count(struct sstore *s)
{
	return s->be->feed_count(s->b);
}

int sstore_user_put(struct sstore *s, const char *name, const char *role, const char *hash)
{
	return s->be->user_put(s->b, name, role, hash);
}

int sstore_user_get(struct sstore *s, const char *name, char *role, size_t rolelen, char *hash,
                    size_t hashlen)
{
	return s->be->user_get(s->b, name, role, rolelen, hash, hashlen);
}

int sstore_user_del(struct sstore *s, const char *name)
{
	return s->be->user_del(s->b, name);
}

int sstore_users(struct sstore *s, int (*fn)(void *ctx, const char *name, const char *role),
                 void *ctx)
{
	return s->be->users(s->b, fn, ctx);
}

int sstore_shared(const struct sstore *s)
{
	return s->be->notify != NULL;
}

int sstore_notify(struct sstore *s, const char *payload)
{
	return s->be->notify ? s->be->notify(s->b, payload) : 0;
}

int sstore_listen_fd(struct sstore *s)
{
	return s->be->listen_fd ? s->be->listen_fd(s->b) : -1;
}

int sstore_listen_drain(struct sstore *s, int (*fn)(void *ctx, const char *payload), void *ctx)
{
	return s->be->listen_drain ? s->be->listen_drain(s->b, fn, ctx) : 0;
}

int sstore_alarm_get(struct sstore *s, const char *site, int64_t id, struct salarm *out)
{
	return s->be->alarm_get ? s->be->alarm_get(s->b, site, id, out) : -ENOTSUP;
}

int sstore_ack_claim(struct sstore *s, const char *site, int64_t id, const char *by, int64_t now_ms,
                     int64_t stale_ms, char *holder, size_t holderlen)
{
	if (!s->be->ack_claim)
		return 1;
	return s->be->ack_claim(s->b, site, id, by, now_ms, stale_ms, holder, holderlen);
}

int sstore_timekeeper(struct sstore *s)
{
	return s->be->timekeeper ? s->be->timekeeper(s->b) : 1;
}
