/*
 * console.h: the duty console's HTTP API and live stream (station-api in
 * docs/station.md), on the shared web module (common/web.h).
 *
 * Routes answer from the board (memory) and the store; an acknowledgment is
 * published to PREFIX/SITE/ack and shown as sent until the gateway's feed
 * says acknowledged. Every change of an alarm or a site is pushed to open
 * consoles as a server-sent event.
 */
#ifndef SH_CONSOLE_H
#define SH_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct sconfig;
struct board;
struct susers;
struct sstore;
struct mqttc;
struct console;

struct console_deps {
	const struct sconfig *cfg;
	struct board *board;
	struct susers *users;
	struct sstore *store;
	/* The commune broker's connection (may change while running). */
	struct mqttc *(*broker)(void *ctx);
	/* Make sure a store transaction is open; the owner commits it before
	 * the loop next waits. 0 or negative. */
	int (*txn)(void *ctx);
	/* Counters for /api/stats. */
	int64_t (*malformed)(void *ctx);
	/* 0 while the last store commit failed (a full or failing disk). */
	int (*store_ok)(void *ctx);
	/* 1 while this station raises lost contact (always, alone). */
	int (*timekeeper)(void *ctx);
	void *ctx;
	int64_t started_wall_ms;
};

/* Serve on cfg->http. NULL with err set. deps is copied. */
struct console *console_new(struct loop *l, const struct console_deps *deps, char *err,
                            size_t errlen);
void console_free(struct console *c);
int console_port(const struct console *c);

/* Push a change to the open consoles (board hooks). */
void console_alarm_changed(struct console *c, const char *site, int64_t id);
void console_site_changed(struct console *c, const char *site);
int console_streams(const struct console *c);
/* A reloaded config (valid); c must outlive the console. */
void console_set_config(struct console *c, const struct sconfig *cfg);

#endif
